/* relay-dkim.c: the bytes that go on the wire. After a message's body is
 * loaded for a transaction (on the worker, relay-engine.c load_work) and
 * before a byte of it is sent, an 8-bit MIME message is made 7-bit for a
 * server without 8BITMIME (src/mail/downgrade.c), then the DKIM-Signature
 * fields of its domain (src/dkim) are put in front of its header.
 *
 * The one idea: sign the exact bytes that go on the wire, once the
 * destination is known (after EHLO): anything that changes them for a
 * destination (an 8BITMIME downgrade) must happen before this hook, and
 * only dot-stuffing, which the receiver undoes, after it. The signing
 * domain is that of the From: address when it is local (what DMARC
 * aligns with), else that of the envelope sender when it is local (mail
 * a local user sends with a foreign From:); mail from anyone else (a
 * forwarding alias relaying outside mail, a bounce from <>) goes
 * unsigned. */
#include "relay/relay-int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dkim/dkim.h"
#include "lib/config.h"
#include "lib/log.h"
#include "mail/address.h"
#include "mail/downgrade.h"
#include "mail/header.h"

/* The local domain to sign as, into dom (DKIM_DOMAIN_MAX_BYTES + 1). */
static bool
sign_domain(const struct config *cfg, const struct store_qentry *e, const char *msg,
    size_t len, char *dom, size_t domlen)
{
	struct mail_header h;
	const struct mail_hdr_field *f;
	bool ok = false;

	mail_header_parse(msg, 0, len, &h);
	if ((f = mail_header_find(&h, "From")) != NULL) {
		char *spec = mail_addr_first_spec(f->value, f->value_len);
		const char *at = spec != NULL ? strrchr(spec, '@') : NULL;
		if (at != NULL && config_is_local_domain(cfg, at + 1)) {
			mm_strlcpy(dom, at + 1, domlen);
			ok = true;
		}
		free(spec);
	}
	mail_header_free(&h);
	if (!ok) {
		const char *at = strrchr(e->sender, '@');
		if (at != NULL && config_is_local_domain(cfg, at + 1)) {
			mm_strlcpy(dom, at + 1, domlen);
			ok = true;
		}
	}
	if (ok)
		mm_strlower(dom);
	return ok;
}

void
relay_downgrade(struct relay_delivery *d, struct relay_msg *m)
{
	struct store_qentry *e = m->e;
	struct mm_buf out;
	const char *why;
	size_t skip;

	if (!(e->flags & STORE_QF_8BIT) || d->ext_8bitmime || m->body == NULL)
		return;
	skip = e->skip <= m->len ? (size_t)e->skip : 0;
	mm_buf_init(&out);
	mm_buf_append(&out, m->body, skip);
	if (!mail_downgrade_7bit(m->body + skip, m->len - skip, &out, &why)) {
		log_info("relay id=%llx event=no-downgrade reason=\"%s\"",
		    (unsigned long long)e->id, why);
		mm_buf_free(&out);
		return;
	}
	log_info("relay id=%llx event=downgraded bytes=%zu->%zu", (unsigned long long)e->id,
	    m->len - skip, out.len - skip);
	free(m->body);
	m->len = out.len;
	m->body = mm_buf_cstr(&out);
	m->downgraded = true;
}

bool
relay_dkim_may_sign(const struct relay_delivery *d)
{
	return d->cfg->dkim_sign && d->dkim != NULL && d->dkim->n > 0;
}

void
relay_dkim_sign(struct relay_delivery *d, struct relay_msg *m)
{
	const struct config *cfg = d->cfg;
	struct store_qentry *e = m->e;
	char dom[DKIM_DOMAIN_MAX_BYTES + 1], err[256];
	size_t skip, slen = 0, nsig = 0;

	if (!relay_dkim_may_sign(d) || m->body == NULL)
		return;
	skip = e->skip <= m->len ? (size_t)e->skip : 0;
	if (!sign_domain(cfg, e, m->body + skip, m->len - skip, dom, sizeof(dom))) {
		log_debug("relay id=%llx event=dkim-skip reason=\"sender not local\"",
		    (unsigned long long)e->id);
		return;
	}
	char *sigs = dkim_sign(d->dkim, dom, m->body + skip, m->len - skip, time(NULL),
	    &slen, &nsig, err, sizeof(err));
	if (sigs == NULL) {
		if (err[0] != '\0')
			log_warn("relay id=%llx event=dkim-error d=%s error=\"%s\" (sent unsigned)",
			    (unsigned long long)e->id, dom, err);
		else
			log_debug("relay id=%llx event=dkim-skip d=%s reason=\"no key\"",
			    (unsigned long long)e->id, dom);
		return;
	}
	char *body = xmalloc(m->len + slen);
	memcpy(body, m->body, skip);
	memcpy(body + skip, sigs, slen);
	memcpy(body + skip + slen, m->body + skip, m->len - skip);
	free(sigs);
	free(m->body);
	m->body = body;
	m->len += slen;
	log_info("relay id=%llx event=dkim-signed d=%s signatures=%zu",
	    (unsigned long long)e->id, dom, nsig);
}
