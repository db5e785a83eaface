/* inbound.c: the checks of a message arriving on port 25, on the loop.
 *
 * The one idea: a check is a pump. It runs the pure evaluators (SPF,
 * then DMARC) against its answer cache; when one names a question it
 * lacks, the pump asks the resolver and waits; the answer goes into the
 * cache and the pump runs again. Nothing here blocks and nothing is
 * unbounded: INBOUND_DNS_QUERIES_MAX questions and INBOUND_CHECK_MAX_SECS
 * in all, after which every missing answer counts as a temporary error
 * (so the evaluators finish at once with temperror where it mattered).
 * The DNSBL check is separate because it runs at connect time. */
#include <arpa/inet.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dkim/dkim.h"
#include "inbound/inbound.h"
#include "lib/limits.h"
#include "lib/log.h"
#include "mail/address.h"
#include "mail/authres.h"
#include "mail/header.h"
#include "net/dns.h"

enum stage { ST_SPF, ST_DKIM, ST_DMARC, ST_DONE };

struct inbound_check {
	struct event_base *base;
	struct dns *dns;
	struct dns_query *q;
	struct event *kick, *deadline;
	bool expired;
	unsigned queries;
	struct spf_dns *cache;
	char need_name[SPF_NAME_MAX_BYTES];
	enum spf_qtype need_type;

	enum stage stage;
	char *ip, *helo, *mail_from, *authserv;
	char *msg;
	size_t len;
	bool do_spf, do_dmarc, dmarc_reject;
	struct spf_request sreq;
	struct spf_outcome sout;
	struct dmarc_outcome dout;
	struct dkim_verify *dkim;
	const struct dkim_sig_result *dres;
	size_t ndres;
	bool spf_only;

	inbound_cb *cb;
	inbound_spf_cb *spf_cb;
	void *arg;
};

static int
dns_type_of(enum spf_qtype t)
{
	switch (t) {
	case SPF_Q_A: return DNS_T_A;
	case SPF_Q_AAAA: return DNS_T_AAAA;
	case SPF_Q_MX: return DNS_T_MX;
	case SPF_Q_TXT: return DNS_T_TXT;
	default: return DNS_T_PTR;
	}
}

/* Puts a resolver answer into the evaluators' cache. */
static void
cache_result(struct spf_dns *cache, const char *name, enum spf_qtype type,
    const struct dns_result *r)
{
	enum spf_rcode rc = r->rcode == DNS_NOERROR ? SPF_DNS_NOERROR :
	    r->rcode == DNS_NXDOMAIN ? SPF_DNS_NXDOMAIN : SPF_DNS_TEMPFAIL;
	char **rr = r->n ? xcalloc(r->n, sizeof(char *)) : NULL;
	size_t n = 0;

	for (size_t i = 0; rc == SPF_DNS_NOERROR && i < r->n; i++) {
		const struct dns_rr *x = &r->rr[i];
		if (x->type != dns_type_of(type))
			continue;
		switch (type) {
		case SPF_Q_A:
		case SPF_Q_AAAA:
			rr[n++] = xstrdup(x->ip);
			break;
		case SPF_Q_MX:
		case SPF_Q_PTR:
			rr[n++] = xstrdup(x->name);
			break;
		case SPF_Q_TXT: {
			/* a NUL inside a TXT record goes in as DEL (spf.h) */
			char *t = xmalloc(x->len + 1);
			for (size_t k = 0; k < x->len; k++)
				t[k] = x->data[k] ? (char)x->data[k] : 0x7f;
			t[x->len] = '\0';
			rr[n++] = t;
			break;
		}
		}
	}
	spf_dns_add(cache, name, type, rc, (const char *const *)rr, n);
	for (size_t i = 0; i < n; i++)
		free(rr[i]);
	free(rr);
}

static void pump(struct inbound_check *c);

/* dkim_verify_finish() asks for the key records the pump fetched. */
static enum dkim_lookup
key_from_cache(void *arg, const char *name, char *txt, size_t max, size_t *len_r)
{
	struct inbound_check *c = arg;
	enum spf_rcode rc;
	char *const *rr;
	size_t nrr;

	if (!spf_dns_get(c->cache, name, SPF_Q_TXT, &rc, &rr, &nrr))
		return DKIM_LOOKUP_TEMP;
	if (rc == SPF_DNS_TEMPFAIL)
		return DKIM_LOOKUP_TEMP;
	if (rc != SPF_DNS_NOERROR || nrr == 0)
		return DKIM_LOOKUP_NONE;
	/* several TXT records at one name: the first that looks like a key */
	size_t pick = 0;
	for (size_t i = 0; i < nrr; i++)
		if (strncmp(rr[i], "v=DKIM1", 7) == 0 || strstr(rr[i], "p=") != NULL) {
			pick = i;
			break;
		}
	size_t n = strlen(rr[pick]);
	if (n > max)
		n = max;
	memcpy(txt, rr[pick], n);
	*len_r = n;
	return DKIM_LOOKUP_OK;
}

static void
on_answer(void *arg, const struct dns_result *r)
{
	struct inbound_check *c = arg;

	c->q = NULL;
	cache_result(c->cache, c->need_name, c->need_type, r);
	pump(c);
}

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct inbound_check *c = arg;

	(void)fd;
	(void)what;
	c->expired = true;
	if (c->q != NULL) {
		dns_cancel(&c->q);
		spf_dns_add(c->cache, c->need_name, c->need_type, SPF_DNS_TEMPFAIL, NULL, 0);
		pump(c);
	}
}

static void
on_kick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	pump(arg);
}

static void
check_free(struct inbound_check *c)
{
	dns_cancel(&c->q);
	if (c->kick)
		event_free(c->kick);
	if (c->deadline)
		event_free(c->deadline);
	spf_dns_free(&c->cache);
	free(c->ip);
	free(c->helo);
	free(c->mail_from);
	free(c->authserv);
	free(c->msg);
	dkim_verify_free(&c->dkim);
	free(c);
}

void
inbound_cancel(struct inbound_check **cp)
{
	if (*cp == NULL)
		return;
	check_free(*cp);
	*cp = NULL;
}

/* The From: domain DMARC judges (RFC 7489 6.6.1): exactly one From:
 * field with exactly one address that has a domain. */
static bool
from_domain(const char *msg, size_t len, char *buf, size_t size)
{
	struct mail_header h;
	const struct mail_hdr_field *from = NULL;
	unsigned nfrom = 0;
	bool ok = false;

	mail_header_parse(msg, 0, len, &h);
	for (size_t i = 0; i < h.n; i++)
		if (h.f[i].name_len == 4 && mm_strncaseeq(h.f[i].name, "From", 4)) {
			from = &h.f[i];
			nfrom++;
		}
	if (nfrom == 1) {
		struct mail_addr_list l = { 0 };
		mail_addr_parse(from->value, from->value_len, 4, &l);
		size_t mailboxes = 0;
		const char *host = NULL;
		for (size_t i = 0; i < l.n; i++)
			if (l.a[i].kind == MAIL_ADDR_MAILBOX) {
				mailboxes++;
				host = l.a[i].host;
			}
		if (mailboxes == 1 && host != NULL && *host != '\0' && strlen(host) < size) {
			mm_strlcpy(buf, host, size);
			mm_strlower(buf);
			ok = true;
		}
		mail_addr_list_free(&l);
	}
	mail_header_free(&h);
	return ok;
}

static void
finish_spf_only(struct inbound_check *c)
{
	c->spf_cb(c->arg, &c->sout);
	check_free(c);
}

static void
finish(struct inbound_check *c)
{
	struct inbound_verdict v;
	struct authres_item it[2 + DKIM_SIGS_MAX];
	char reasons[DKIM_SIGS_MAX][256];
	size_t n = 0;
	char mailfrom[ADDRESS_MAX_BYTES + 16];

	memset(&v, 0, sizeof(v));
	mm_buf_init(&v.header);
	memset(it, 0, sizeof(it));
	v.spf = c->do_spf ? c->sout.result : SPF_NONE;
	mm_strlcpy(v.spf_explanation, c->sout.explanation, sizeof(v.spf_explanation));
	if (c->do_spf) {
		it[n].method = "spf";
		it[n].result = spf_result_name(c->sout.result);
		it[n].ptype[0] = "smtp";
		if (c->mail_from[0] != '\0') {
			it[n].prop[0] = "mailfrom";
			snprintf(mailfrom, sizeof(mailfrom), "%s", c->mail_from);
		} else {
			it[n].prop[0] = "helo";
			snprintf(mailfrom, sizeof(mailfrom), "%s", c->helo);
		}
		it[n].pvalue[0] = mailfrom;
		n++;
	}
	if (c->dkim != NULL) {
		v.ndkim = c->ndres;
		if (c->ndres == 0) {
			it[n].method = "dkim";
			it[n].result = "none";
			n++;
		}
		for (size_t i = 0; i < c->ndres; i++) {
			const struct dkim_sig_result *d = &c->dres[i];
			it[n].method = "dkim";
			it[n].result = dkim_result_name(d->result);
			if (d->result == DKIM_RES_PASS)
				v.dkim_pass++;
			/* l= is honoured, and said (RFC 6376 8.2) */
			if (d->has_l && d->l < d->body_len)
				snprintf(reasons[i], sizeof(reasons[i]), "%s%sl=%llu of %llu body bytes signed",
				    d->reason, d->reason[0] ? "; " : "", (unsigned long long)d->l,
				    (unsigned long long)d->body_len);
			else
				mm_strlcpy(reasons[i], d->reason, sizeof(reasons[i]));
			it[n].reason = reasons[i][0] ? reasons[i] : NULL;
			size_t k = 0;
			if (d->domain[0]) {
				it[n].ptype[k] = "header";
				it[n].prop[k] = "d";
				it[n].pvalue[k++] = d->domain;
			}
			if (d->selector[0]) {
				it[n].ptype[k] = "header";
				it[n].prop[k] = "s";
				it[n].pvalue[k++] = d->selector;
			}
			if (d->b_prefix[0]) {
				it[n].ptype[k] = "header";
				it[n].prop[k] = "b";
				it[n].pvalue[k++] = d->b_prefix;
			}
			n++;
		}
	}
	if (c->do_dmarc) {
		v.dmarc = c->dout.result;
		mm_strlcpy(v.from_domain, c->dout.from_domain, sizeof(v.from_domain));
		it[n].method = "dmarc";
		it[n].result = dmarc_result_name(c->dout.result);
		if (c->dout.from_domain[0] != '\0') {
			it[n].ptype[0] = "header";
			it[n].prop[0] = "from";
			it[n].pvalue[0] = c->dout.from_domain;
		}
		n++;
		if (c->dout.result == DMARC_FAIL) {
			enum dmarc_policy d = c->dout.disposition;
			if (d == DMARC_P_REJECT && !c->dmarc_reject)
				d = DMARC_P_QUARANTINE;
			if (d == DMARC_P_REJECT) {
				/* a check that could not finish might have passed */
				bool dkim_temp = false;
				for (size_t i = 0; i < c->ndres; i++)
					dkim_temp |= c->dres[i].result == DKIM_RES_TEMPERROR;
				if ((c->do_spf && c->sout.result == SPF_TEMPERROR) || dkim_temp) {
					v.action = INBOUND_TEMPFAIL;
					snprintf(v.reply, sizeof(v.reply),
					    "451 4.7.1 DMARC policy of %s cannot be checked now, try again later",
					    c->dout.from_domain);
				} else {
					v.action = INBOUND_REJECT;
					snprintf(v.reply, sizeof(v.reply),
					    "550 5.7.1 Message rejected per the DMARC policy of %s",
					    c->dout.from_domain);
				}
			} else if (d == DMARC_P_QUARANTINE) {
				v.action = INBOUND_JUNK;
			}
		}
	}
	authres_format(&v.header, c->authserv, it, n);
	c->cb(c->arg, &v);
	mm_buf_free(&v.header);
	check_free(c);
}

static void
pump(struct inbound_check *c)
{
	for (;;) {
		enum spf_status st = SPF_DONE;
		const char *need = NULL;
		enum spf_qtype type = SPF_Q_TXT;

		if (c->stage == ST_SPF) {
			if (c->do_spf)
				st = spf_check(&c->sreq, c->cache, &c->sout);
			if (st == SPF_NEED_DNS) {
				need = c->sout.need_name;
				type = c->sout.need_type;
			} else if (c->spf_only) {
				finish_spf_only(c);
				return;
			} else {
				c->stage = ST_DKIM;
				continue;
			}
		} else if (c->stage == ST_DKIM) {
			/* every key record first (the cache), then the verification */
			size_t ns = c->dkim ? dkim_verify_count(c->dkim) : 0;
			for (size_t i = 0; i < ns && need == NULL; i++) {
				const char *kn = dkim_verify_key_name(c->dkim, i);
				enum spf_rcode rc;
				char *const *rr;
				size_t nrr;
				if (kn != NULL && !spf_dns_get(c->cache, kn, SPF_Q_TXT, &rc, &rr, &nrr))
					need = kn;
			}
			if (need == NULL) {
				if (c->dkim != NULL)
					c->ndres = dkim_verify_finish(c->dkim, key_from_cache, c, &c->dres);
				c->stage = ST_DMARC;
				continue;
			}
			type = SPF_Q_TXT;
		} else if (c->stage == ST_DMARC) {
			if (c->do_dmarc) {
				struct dmarc_input in = { 0 };
				char fd[SPF_NAME_MAX_BYTES];
				bool have = from_domain(c->msg, c->len, fd, sizeof(fd));
				in.from_domain = have ? fd : NULL;
				in.spf = c->do_spf ? c->sout.result : SPF_NONE;
				in.spf_domain = c->sout.domain;
				struct dmarc_dkim_pass pass[DKIM_SIGS_MAX];
				for (size_t i = 0; i < c->ndres; i++)
					if (c->dres[i].result == DKIM_RES_PASS)
						pass[in.ndkim++].d = c->dres[i].domain;
				in.dkim = pass;
				in.sample = (unsigned)(random() % 100);
				st = dmarc_check(&in, c->cache, &c->dout);
			}
			if (st == SPF_NEED_DNS) {
				need = c->dout.need_name;
				type = SPF_Q_TXT;
			} else {
				c->stage = ST_DONE;
				continue;
			}
		} else {
			finish(c);
			return;
		}
		/* an answer is missing */
		mm_strlcpy(c->need_name, need, sizeof(c->need_name));
		c->need_type = type;
		if (c->expired || c->queries >= INBOUND_DNS_QUERIES_MAX) {
			spf_dns_add(c->cache, need, type, SPF_DNS_TEMPFAIL, NULL, 0);
			continue;
		}
		c->queries++;
		c->q = dns_query(c->dns, need, dns_type_of(type), on_answer, c);
		return;
	}
}

static struct inbound_check *
check_new(struct event_base *base, struct dns *dns, void *arg)
{
	struct inbound_check *c = xcalloc(1, sizeof(*c));
	struct timeval tv = { INBOUND_CHECK_MAX_SECS, 0 };

	c->base = base;
	c->dns = dns;
	c->arg = arg;
	c->cache = spf_dns_new();
	c->kick = evtimer_new(base, on_kick, c);
	c->deadline = evtimer_new(base, on_deadline, c);
	if (c->kick == NULL || c->deadline == NULL)
		fatal("out of memory (inbound check events)");
	evtimer_add(c->deadline, &tv);
	/* the first run is from the loop, never inside the start call */
	event_active(c->kick, EV_TIMEOUT, 0);
	return c;
}

struct inbound_check *
inbound_start(struct event_base *base, struct dns *dns, const struct inbound_req *req,
    inbound_cb *cb, void *arg)
{
	struct inbound_check *c = check_new(base, dns, arg);

	c->cb = cb;
	c->ip = xstrdup(req->ip);
	c->helo = xstrdup(req->helo ? req->helo : "");
	c->mail_from = xstrdup(req->mail_from ? req->mail_from : "");
	c->authserv = xstrdup(req->authserv_id);
	c->msg = xmalloc(req->len + 1);
	memcpy(c->msg, req->msg, req->len);
	c->msg[req->len] = '\0';
	c->len = req->len;
	c->do_spf = req->spf;
	c->do_dmarc = req->dmarc;
	c->dkim = req->dkim_verifier;         /* ours now (inbound.h) */
	c->dmarc_reject = req->dmarc_reject;
	c->sreq.ip = c->ip;
	c->sreq.mail_from = c->mail_from;
	c->sreq.helo = c->helo;
	c->sreq.receiver = c->authserv;
	c->sreq.now = time(NULL);
	c->sout.result = SPF_NONE;
	return c;
}

struct inbound_check *
inbound_spf_start(struct event_base *base, struct dns *dns, const char *ip,
    const char *mail_from, const char *helo, const char *receiver,
    inbound_spf_cb *cb, void *arg)
{
	struct inbound_check *c = check_new(base, dns, arg);

	c->spf_only = true;
	c->do_spf = true;
	c->spf_cb = cb;
	c->ip = xstrdup(ip);
	c->helo = xstrdup(helo ? helo : "");
	c->mail_from = xstrdup(mail_from ? mail_from : "");
	c->authserv = xstrdup(receiver ? receiver : "unknown");
	c->sreq.ip = c->ip;
	c->sreq.mail_from = c->mail_from;
	c->sreq.helo = c->helo;
	c->sreq.receiver = c->authserv;
	c->sreq.now = time(NULL);
	return c;
}

/* ---- DNSBL ---- */

bool
dnsbl_query_name(const char *ip, const char *zone, char *buf, size_t size)
{
	char rev[DNS_NAME_MAX_BYTES];
	char *suffix;

	if (!dns_ptr_name(ip, rev, sizeof(rev)))
		return false;
	if ((suffix = strstr(rev, ".in-addr.arpa")) == NULL)
		suffix = strstr(rev, ".ip6.arpa");
	if (suffix == NULL)
		return false;
	*suffix = '\0';
	return (size_t)snprintf(buf, size, "%s.%s", rev, zone) < size;
}

enum dnsbl_answer
dnsbl_interpret(const char *zone, const char *const *addrs, size_t n)
{
	bool error = false;

	(void)zone;
	for (size_t i = 0; i < n; i++) {
		unsigned char a[4];
		if (inet_pton(AF_INET, addrs[i], a) != 1 || a[0] != 127) {
			error = true;           /* not a DNSBL answer at all */
			continue;
		}
		if (a[1] == 255 && a[2] == 255) {
			error = true;           /* 127.255.255.x: query refused (Spamhaus) */
			continue;
		}
		if (a[1] == 0 && a[2] == 0 && a[3] < 2) {
			error = true;           /* 127.0.0.0/31 is no listing (RFC 5782 2.3) */
			continue;
		}
		return DNSBL_LISTED;
	}
	return error ? DNSBL_ERROR : DNSBL_NOT_LISTED;
}

struct dnsbl_zone {
	struct dnsbl_check *owner;
	char zone[DNS_NAME_MAX_BYTES];
	char qname[DNS_NAME_MAX_BYTES];
	struct dns_query *q;
	enum dnsbl_answer answer;
	bool done;
	char text[256];
};

struct dnsbl_check {
	struct dns *dns;
	struct dnsbl_zone z[INBOUND_DNSBL_MAX];
	size_t n, pending;
	dnsbl_cb *cb;
	void *arg;
};

void
dnsbl_cancel(struct dnsbl_check **cp)
{
	struct dnsbl_check *c = *cp;

	if (c == NULL)
		return;
	for (size_t i = 0; i < c->n; i++)
		dns_cancel(&c->z[i].q);
	free(c);
	*cp = NULL;
}

static void
dnsbl_maybe_done(struct dnsbl_check *c)
{
	if (c->pending > 0)
		return;
	for (size_t i = 0; i < c->n; i++)
		if (c->z[i].answer == DNSBL_LISTED) {
			c->cb(c->arg, c->z[i].zone, c->z[i].text);
			free(c);
			return;
		}
	c->cb(c->arg, NULL, NULL);
	free(c);
}

static void
on_dnsbl_txt(void *arg, const struct dns_result *r)
{
	struct dnsbl_zone *z = arg;
	struct dnsbl_check *c = z->owner;

	z->q = NULL;
	if (r->rcode == DNS_NOERROR && r->n > 0 && r->rr[0].type == DNS_T_TXT) {
		size_t o = 0;
		for (size_t k = 0; k < r->rr[0].len && o + 1 < sizeof(z->text); k++)
			if (r->rr[0].data[k] >= 0x20 && r->rr[0].data[k] < 0x7f)
				z->text[o++] = (char)r->rr[0].data[k];
		z->text[o] = '\0';
	}
	c->pending--;
	dnsbl_maybe_done(c);
}

static void
on_dnsbl_a(void *arg, const struct dns_result *r)
{
	struct dnsbl_zone *z = arg;
	struct dnsbl_check *c = z->owner;
	const char *addrs[16];
	size_t n = 0;

	z->q = NULL;
	if (r->rcode == DNS_NOERROR) {
		for (size_t i = 0; i < r->n && n < 16; i++)
			if (r->rr[i].type == DNS_T_A)
				addrs[n++] = r->rr[i].ip;
		z->answer = dnsbl_interpret(z->zone, addrs, n);
	} else {
		z->answer = r->rcode == DNS_NXDOMAIN ? DNSBL_NOT_LISTED : DNSBL_ERROR;
	}
	if (z->answer == DNSBL_ERROR)
		log_warn("dnsbl zone=%s query=%s event=error rcode=%d answers=%zu "
		    "(treated as not listed)", z->zone, z->qname, (int)r->rcode, n);
	if (z->answer == DNSBL_LISTED) {
		z->q = dns_query(c->dns, z->qname, DNS_T_TXT, on_dnsbl_txt, z);
		return;
	}
	c->pending--;
	dnsbl_maybe_done(c);
}

struct dnsbl_check *
dnsbl_start(struct dns *dns, const char *ip, const char *const *zones, size_t nzones,
    dnsbl_cb *cb, void *arg)
{
	struct dnsbl_check *c = xcalloc(1, sizeof(*c));

	c->dns = dns;
	c->cb = cb;
	c->arg = arg;
	for (size_t i = 0; i < nzones && c->n < INBOUND_DNSBL_MAX; i++) {
		struct dnsbl_zone *z = &c->z[c->n];
		if (!dnsbl_query_name(ip, zones[i], z->qname, sizeof(z->qname)))
			continue;
		z->owner = c;
		mm_strlcpy(z->zone, zones[i], sizeof(z->zone));
		c->n++;
	}
	if (c->n == 0) {
		free(c);
		return NULL;
	}
	c->pending = c->n;
	for (size_t i = 0; i < c->n; i++)
		c->z[i].q = dns_query(dns, c->z[i].qname, DNS_T_A, on_dnsbl_a, &c->z[i]);
	return c;
}
