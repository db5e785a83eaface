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

/* Logs what signing did; false when sigs is NULL (sent unsigned). */
static bool
signed_log(const struct store_qentry *e, const char *dom, const char *sigs, size_t nsig,
    const char *err)
{
	if (sigs == NULL) {
		if (err[0] != '\0')
			log_warn("relay id=%llx event=dkim-error d=%s error=\"%s\" (sent unsigned)",
			    (unsigned long long)e->id, dom, err);
		else
			log_debug("relay id=%llx event=dkim-skip d=%s reason=\"no key\"",
			    (unsigned long long)e->id, dom);
		return false;
	}
	log_info("relay id=%llx event=dkim-signed d=%s signatures=%zu",
	    (unsigned long long)e->id, dom, nsig);
	return true;
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
	if (!signed_log(e, dom, sigs, nsig, err))
		return;
	char *body = xmalloc(m->len + slen);
	memcpy(body, m->body, skip);
	memcpy(body + skip, sigs, slen);
	memcpy(body + skip + slen, m->body + skip, m->len - skip);
	free(sigs);
	free(m->body);
	m->body = body;
	m->len += slen;
}

int
relay_dkim_sign_streamed(struct relay_delivery *d, struct relay_msg *m, struct store *st)
{
	struct store_qentry *e = m->e;
	char dom[DKIM_DOMAIN_MAX_BYTES + 1], err[256];
	size_t slen = 0, nsig = 0;
	uint64_t end = m->len;
	size_t hn = end - e->skip < MIME_HEADER_MAX_BYTES + 4 ? (size_t)(end - e->skip) :
	    MIME_HEADER_MAX_BYTES + 4;
	struct mail_header h;
	int r;

	/* the header block, then the body hashed a chunk at a time */
	char *hdr = xmalloc(hn);
	if ((r = store_body_read_exact(st, e->body_id, e->skip, hdr, hn)) != STORE_OK) {
		free(hdr);
		return r;
	}
	mail_header_parse(hdr, 0, hn, &h);
	size_t hlen = h.body_off <= hn ? h.body_off : hn;
	bool whole = !h.truncated;
	mail_header_free(&h);
	if (!whole) {
		log_warn("relay id=%llx event=dkim-error error=\"header block larger than %d "
		    "bytes\" (sent unsigned)", (unsigned long long)e->id, MIME_HEADER_MAX_BYTES);
		free(hdr);
		return STORE_OK;
	}
	if (!sign_domain(d->cfg, e, hdr, hlen, dom, sizeof(dom))) {
		log_debug("relay id=%llx event=dkim-skip reason=\"sender not local\"",
		    (unsigned long long)e->id);
		free(hdr);
		return STORE_OK;
	}
	struct dkim_sign_body *sb = dkim_sign_body_new();
	if (sb == NULL) {
		free(hdr);
		return STORE_OK;
	}
	dkim_sign_body_update(sb, hdr + hlen, hn - hlen);
	for (uint64_t off = e->skip + hn; off < end; ) {
		size_t n = end - off < RELAY_STREAM_BYTES ? (size_t)(end - off) : RELAY_STREAM_BYTES;
		if ((r = store_body_read_exact(st, e->body_id, off, m->body, n)) != STORE_OK) {
			dkim_sign_body_free(&sb);
			free(hdr);
			return r;
		}
		dkim_sign_body_update(sb, m->body, n);
		off += n;
	}
	char *sigs = dkim_sign_header(d->dkim, dom, hdr, hlen, sb, time(NULL), &slen, &nsig,
	    err, sizeof(err));
	free(hdr);
	if (!signed_log(e, dom, sigs, nsig, err))
		return STORE_OK;
	/* the signatures go out first: kept after the chunk buffer */
	m->body = xrealloc(m->body, RELAY_STREAM_BYTES + slen);
	memcpy(m->body + RELAY_STREAM_BYTES, sigs, slen);
	free(sigs);
	m->slen = slen;
	m->len += slen;
	return STORE_OK;
}
