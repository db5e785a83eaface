/* relay-policy.c: the TLS policy of outbound delivery per destination:
 * MTA-STS (RFC 8461) for the recipient domain and DANE (RFC 7672) for
 * each MX host, decided after the MX resolution and before the first
 * connection, all on the loop.
 *
 * The one idea: one struct relay_policy per delivery runs two lookups at
 * once, the _mta-sts TXT record (then, when its id is not the cached
 * one, the HTTPS policy fetch) and the TLSA records of every MX host
 * whose MX and address records were DNSSEC-secure; when both are in,
 * decide() gives each address one enum relay_tls_policy, or drops it
 * with the reason in d->error, and hands the delivery to the SMTP
 * client, which enforces the policy on the connection
 * (relay_policy_setup_ssl). The rules, in order, per host:
 *   - secure TLSA with usable records (DANE-TA(2), DANE-EE(3)): TLS that
 *     matches them, whatever MTA-STS says (RFC 8461 2);
 *   - secure TLSA, none usable: TLS without authentication (RFC 7672 3.1.3);
 *   - a TLSA lookup that failed (not a denial) for a secure host: skip the
 *     host (RFC 7672 2.2);
 *   - an MTA-STS enforce policy: only MX hosts it lists, over TLS with a
 *     certificate valid for the MX name (system CAs or [relay] mta_sts_ca);
 *     testing mode logs what enforce would refuse and delivers;
 *   - otherwise opportunistic STARTTLS as before.
 * A policy that cannot be fetched or parsed counts as none (RFC 8461 5)
 * unless an unexpired cached one exists. The cache (at most
 * MTA_STS_CACHE_MAX domains, in memory: a restart fetches again) keeps
 * each policy for its max_age. The fetch is evhttp over
 * bufferevent_openssl to the address our resolver found, bounded in size
 * (MTA_STS_POLICY_MAX_BYTES) and time ([relay] mta_sts_timeout). */
#include "relay/relay-int.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/config.h"
#include "lib/log.h"
#include "lib/mtasts.h"
#include "net/dns.h"
#include "net/server.h"
#include "net/tls.h"

/* ---- the MTA-STS cache ---- */

struct sts_cached {
	char domain[256];
	char id[33];
	struct mtasts_policy pol;
	time_t expires;
};

static struct sts_cached *sts_cache;
static size_t sts_ncache;
static SSL_CTX *policy_ctx;
static const struct config *policy_ctx_cfg;

static struct sts_cached *
cache_find(const char *domain, time_t now)
{
	for (size_t i = 0; i < sts_ncache; i++)
		if (strcmp(sts_cache[i].domain, domain) == 0)
			return sts_cache[i].expires > now ? &sts_cache[i] : NULL;
	return NULL;
}

static void
cache_put(const char *domain, const char *id, const struct mtasts_policy *p, time_t now)
{
	struct sts_cached *e = NULL;

	if (p->max_age == 0)
		return;                  /* use once, keep not */
	for (size_t i = 0; i < sts_ncache && e == NULL; i++)
		if (strcmp(sts_cache[i].domain, domain) == 0)
			e = &sts_cache[i];
	if (e == NULL && sts_ncache < MTA_STS_CACHE_MAX) {
		if (sts_cache == NULL)
			sts_cache = xcalloc(MTA_STS_CACHE_MAX, sizeof(*sts_cache));
		e = &sts_cache[sts_ncache++];
	}
	if (e == NULL) {
		/* full: replace the one that expires first */
		e = &sts_cache[0];
		for (size_t i = 1; i < sts_ncache; i++)
			if (sts_cache[i].expires < e->expires)
				e = &sts_cache[i];
	}
	mm_strlcpy(e->domain, domain, sizeof(e->domain));
	mm_strlcpy(e->id, id, sizeof(e->id));
	e->pol = *p;
	e->expires = now + (time_t)p->max_age;
}

void
relay_policy_shutdown(void)
{
	free(sts_cache);
	sts_cache = NULL;
	sts_ncache = 0;
	SSL_CTX_free(policy_ctx);
	policy_ctx = NULL;
	policy_ctx_cfg = NULL;
}

/* ---- per delivery ---- */

struct pol_host {
	struct relay_policy *p;
	char name[256];
	uint16_t port;
	struct dns_query *q;
	bool done;
	enum relay_tls_policy tls;   /* from TLSA */
	bool failed;                 /* the lookup failed: skip the host */
	char why[400];
	size_t ntlsa;
	uint8_t usage[RELAY_TLSA_MAX], selector[RELAY_TLSA_MAX], mtype[RELAY_TLSA_MAX];
	unsigned char *data[RELAY_TLSA_MAX];
	size_t len[RELAY_TLSA_MAX];
};

struct relay_policy {
	struct relay_delivery *d;
	struct dns *dns;
	struct event_base *base;
	char domain[256];
	unsigned out;                /* lookups still out */
	/* MTA-STS */
	bool sts_have;
	struct mtasts_policy sts;
	struct dns_query *txtq;
	struct dns_query *aq;
	char sts_id[33];
	char sts_note[400];          /* why no policy, for the log */
	struct evhttp_connection *evcon;
	struct event *ev_fetch_timeout;
	struct event *ev_reap;       /* frees evcon outside its callbacks */
	/* DANE */
	struct pol_host hosts[RELAY_ADDRS_MAX];
	size_t nhosts;
	struct event *ev_done;
};

static void lookup_done(struct relay_policy *p);

static void
fetch_stop(struct relay_policy *p)
{
	if (p->evcon != NULL) {
		evhttp_connection_free(p->evcon);
		p->evcon = NULL;
	}
	if (p->ev_fetch_timeout != NULL)
		evtimer_del(p->ev_fetch_timeout);
}

static void
pol_free(struct relay_policy *p)
{
	dns_cancel(&p->txtq);
	dns_cancel(&p->aq);
	fetch_stop(p);
	for (size_t i = 0; i < p->nhosts; i++) {
		dns_cancel(&p->hosts[i].q);
		for (size_t k = 0; k < p->hosts[i].ntlsa; k++)
			free(p->hosts[i].data[k]);
	}
	if (p->ev_fetch_timeout != NULL)
		event_free(p->ev_fetch_timeout);
	if (p->ev_reap != NULL)
		event_free(p->ev_reap);
	if (p->ev_done != NULL)
		event_free(p->ev_done);
	free(p);
}

void
relay_policy_free(struct relay_delivery *d)
{
	if (d->pol != NULL) {
		pol_free(d->pol);
		d->pol = NULL;
	}
	for (size_t i = 0; i < RELAY_ADDRS_MAX; i++) {
		for (size_t k = 0; k < d->ntlsa[i]; k++)
			free(d->tlsa[i][k].data);
		free(d->tlsa[i]);
		d->tlsa[i] = NULL;
		d->ntlsa[i] = 0;
	}
}

enum relay_tls_policy
relay_policy_of(const struct relay_delivery *d)
{
	return d->addr < d->naddrs ? d->tls_policy[d->addr] : RELAY_TLS_OPPORTUNISTIC;
}

const char *
relay_policy_name(enum relay_tls_policy p)
{
	switch (p) {
	case RELAY_TLS_MTA_STS: return "MTA-STS";
	case RELAY_TLS_DANE: return "DANE";
	case RELAY_TLS_DANE_NOAUTH: return "DANE (no usable TLSA)";
	default: return "opportunistic";
	}
}

static struct pol_host *
host_of(struct relay_policy *p, const struct relay_addr *a)
{
	for (size_t i = 0; i < p->nhosts; i++)
		if (strcmp(p->hosts[i].name, a->host) == 0 && p->hosts[i].port == a->port)
			return &p->hosts[i];
	return NULL;
}

/* ---- MTA-STS: the policy fetch ---- */

static void
sts_use_cache_or_none(struct relay_policy *p, const char *why)
{
	struct sts_cached *c = cache_find(p->domain, time(NULL));
	if (c != NULL) {
		p->sts = c->pol;
		p->sts_have = true;
		snprintf(p->sts_note, sizeof(p->sts_note), "%s; using the cached policy", why);
	} else {
		snprintf(p->sts_note, sizeof(p->sts_note), "%s", why);
	}
}

static void
reap_cb(evutil_socket_t fd, short what, void *arg)
{
	struct relay_policy *p = arg;
	fetch_stop(p);
	lookup_done(p);
}

/* The fetch ended (policy or not): free the connection from the loop. */
static void
fetch_end(struct relay_policy *p)
{
	struct timeval now = { 0, 0 };
	if (p->ev_fetch_timeout != NULL)
		evtimer_del(p->ev_fetch_timeout);
	evtimer_add(p->ev_reap, &now);
}

static void
fetch_error_cb(enum evhttp_request_error e, void *arg)
{
	struct relay_policy *p = arg;
	const char *why = e == EVREQ_HTTP_TIMEOUT ? "timeout" :
	    e == EVREQ_HTTP_EOF ? "connection closed (or TLS failure)" :
	    e == EVREQ_HTTP_INVALID_HEADER ? "bad HTTP header" :
	    e == EVREQ_HTTP_DATA_TOO_LONG ? "policy larger than 64 KiB" :
	    e == EVREQ_HTTP_BUFFER_ERROR ? "connection failed" : "cancelled";
	char msg[160];
	unsigned long ssl_err = 0;

	if (p->evcon != NULL) {
		struct bufferevent *bev = evhttp_connection_get_bufferevent(p->evcon);
		if (bev != NULL)
			ssl_err = bufferevent_get_openssl_error(bev);
	}
	if (ssl_err != 0) {
		char es[120];
		ERR_error_string_n(ssl_err, es, sizeof(es));
		snprintf(msg, sizeof(msg), "policy fetch failed: TLS: %s", es);
	} else {
		snprintf(msg, sizeof(msg), "policy fetch failed: %s", why);
	}
	if (!p->sts_have && p->sts_note[0] == '\0')
		sts_use_cache_or_none(p, msg);
}

static void
fetch_done_cb(struct evhttp_request *req, void *arg)
{
	struct relay_policy *p = arg;
	char msg[400];

	if (req == NULL || evhttp_request_get_response_code(req) == 0) {
		if (p->sts_note[0] == '\0')
			sts_use_cache_or_none(p, "policy fetch failed");
		fetch_end(p);
		return;
	}
	int code = evhttp_request_get_response_code(req);
	const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req),
	    "Content-Type");
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	struct mtasts_policy pol;
	char err[160];

	if (code != 200) {
		/* RFC 8461 3.3: 3xx are not followed; anything but 200 is no policy */
		snprintf(msg, sizeof(msg), "policy fetch: HTTP status %d", code);
		sts_use_cache_or_none(p, msg);
	} else if (ct == NULL || !mm_strncaseeq(ct, "text/plain", 10)) {
		snprintf(msg, sizeof(msg), "policy fetch: Content-Type is not text/plain");
		sts_use_cache_or_none(p, msg);
	} else if (len > MTA_STS_POLICY_MAX_BYTES) {
		sts_use_cache_or_none(p, "policy larger than 64 KiB");
	} else {
		const char *body = len ? (const char *)evbuffer_pullup(in, (ev_ssize_t)len) : "";
		if (!mtasts_policy_parse(body, len, &pol, err, sizeof(err))) {
			snprintf(msg, sizeof(msg), "policy does not parse: %s", err);
			sts_use_cache_or_none(p, msg);
		} else {
			p->sts = pol;
			p->sts_have = true;
			cache_put(p->domain, p->sts_id, &pol, time(NULL));
			log_info("relay dest=%s event=mta-sts-policy mode=%s max_age=%llu mx=%zu "
			    "id=%s", p->d->dest, mtasts_mode_name(pol.mode),
			    (unsigned long long)pol.max_age, pol.nmx, p->sts_id);
		}
	}
	fetch_end(p);
}

static void
fetch_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct relay_policy *p = arg;
	char msg[120];

	snprintf(msg, sizeof(msg), "policy fetch took more than %llus",
	    (unsigned long long)p->d->cfg->mta_sts_timeout);
	if (!p->sts_have)
		sts_use_cache_or_none(p, msg);
	/* from a timer, not an evhttp callback: free it now */
	fetch_stop(p);
	lookup_done(p);
}

static void
fetch_start(struct relay_policy *p, const char *ip)
{
	const struct config *cfg = p->d->cfg;
	char host[300], err[200];
	SSL_CTX *ctx = relay_policy_ssl_ctx(err, sizeof(err), cfg);
	SSL *ssl;

	snprintf(host, sizeof(host), "mta-sts.%s", p->domain);
	if (ctx == NULL || (ssl = SSL_new(ctx)) == NULL) {
		sts_use_cache_or_none(p, ctx == NULL ? err : "SSL_new failed");
		lookup_done(p);
		return;
	}
	SSL_set_tlsext_host_name(ssl, host);
	SSL_set1_host(ssl, host);
	SSL_set_verify(ssl, SSL_VERIFY_PEER, NULL);
	struct bufferevent *bev = bufferevent_openssl_socket_new(p->base, -1, ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (bev == NULL) {
		SSL_free(ssl);
		sts_use_cache_or_none(p, "cannot create a TLS connection");
		lookup_done(p);
		return;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	/* ip is a literal: evhttp's own lookup of it does not block */
	p->evcon = evhttp_connection_base_bufferevent_new(p->base, NULL, bev, ip,
	    cfg->mta_sts_port);
	if (p->evcon == NULL) {
		bufferevent_free(bev);
		sts_use_cache_or_none(p, "cannot create an HTTP connection");
		lookup_done(p);
		return;
	}
	evhttp_connection_set_max_body_size(p->evcon, MTA_STS_POLICY_MAX_BYTES);
	evhttp_connection_set_max_headers_size(p->evcon, HTTP_HEADERS_MAX_BYTES);
	evhttp_connection_set_timeout(p->evcon, (int)cfg->mta_sts_timeout);
	evhttp_connection_set_retries(p->evcon, 0);
	struct evhttp_request *req = evhttp_request_new(fetch_done_cb, p);
	evhttp_request_set_error_cb(req, fetch_error_cb);
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	evhttp_add_header(h, "Host", host);
	evhttp_add_header(h, "User-Agent", "minimaild/" PACKAGE_VERSION);
	evhttp_add_header(h, "Connection", "close");
	struct timeval tv = { (time_t)cfg->mta_sts_timeout, 0 };
	evtimer_add(p->ev_fetch_timeout, &tv);
	if (evhttp_make_request(p->evcon, req, EVHTTP_REQ_GET, "/.well-known/mta-sts.txt") != 0) {
		/* the request is freed by evhttp on failure */
		sts_use_cache_or_none(p, "cannot send the policy request");
		fetch_end(p);
	}
}

static void
sts_addr_cb(void *arg, const struct dns_result *r)
{
	struct relay_policy *p = arg;
	char msg[400];

	p->aq = NULL;
	if (r->rcode != DNS_NOERROR || r->n == 0) {
		snprintf(msg, sizeof(msg), "mta-sts.%s has no address (%s)", p->domain,
		    r->error ? r->error : "no A record");
		sts_use_cache_or_none(p, msg);
		lookup_done(p);
		return;
	}
	fetch_start(p, r->rr[0].ip);
}

static void
sts_txt_cb(void *arg, const struct dns_result *r)
{
	struct relay_policy *p = arg;
	char id[33] = "", err[160], msg[480];
	int nsts = 0;

	p->txtq = NULL;
	if (r->rcode == DNS_NOERROR) {
		for (size_t i = 0; i < r->n; i++) {
			char one[33];
			int k = mtasts_txt_parse((const char *)r->rr[i].data, r->rr[i].len, one,
			    err, sizeof(err));
			if (k == 0)
				continue;
			nsts++;
			if (k < 0) {
				snprintf(msg, sizeof(msg), "_mta-sts.%s: %s", p->domain, err);
				nsts = -100;
				break;
			}
			mm_strlcpy(id, one, sizeof(id));
		}
	}
	if (r->rcode != DNS_NOERROR && r->rcode != DNS_NXDOMAIN) {
		snprintf(msg, sizeof(msg), "_mta-sts.%s lookup failed (%s)", p->domain,
		    r->error ? r->error : "?");
		sts_use_cache_or_none(p, msg);
	} else if (nsts == 0) {
		/* no record: a cached policy still holds (RFC 8461 5.1) */
		sts_use_cache_or_none(p, "no _mta-sts record");
	} else if (nsts < 0) {
		sts_use_cache_or_none(p, msg);
	} else if (nsts > 1) {
		snprintf(msg, sizeof(msg), "_mta-sts.%s: %d STSv1 records (RFC 8461 3.1: "
		    "no policy)", p->domain, nsts);
		sts_use_cache_or_none(p, msg);
	} else {
		struct sts_cached *c = cache_find(p->domain, time(NULL));
		if (c != NULL && strcmp(c->id, id) == 0) {
			p->sts = c->pol;
			p->sts_have = true;
		} else {
			char name[300];
			mm_strlcpy(p->sts_id, id, sizeof(p->sts_id));
			snprintf(name, sizeof(name), "mta-sts.%s", p->domain);
			p->aq = dns_query(p->dns, name, DNS_T_A, sts_addr_cb, p);
			return;
		}
	}
	lookup_done(p);
}

/* ---- DANE: TLSA ---- */

static void
tlsa_cb(void *arg, const struct dns_result *r)
{
	struct pol_host *h = arg;

	h->q = NULL;
	h->done = true;
	if (r->rcode == DNS_NXDOMAIN || (r->rcode == DNS_NOERROR && r->n == 0)) {
		/* no TLSA: no DANE for this host */
		h->tls = RELAY_TLS_OPPORTUNISTIC;
	} else if (r->rcode != DNS_NOERROR) {
		h->failed = true;
		snprintf(h->why, sizeof(h->why), "TLSA lookup for %s failed (%s)", h->name,
		    r->error ? r->error : "?");
	} else if (!r->secure) {
		h->tls = RELAY_TLS_OPPORTUNISTIC;   /* not DNSSEC-signed: ignored */
		log_debug("relay host=%s event=tlsa-insecure: ignored", h->name);
	} else {
		for (size_t i = 0; i < r->n && h->ntlsa < RELAY_TLSA_MAX; i++) {
			const struct dns_rr *rr = &r->rr[i];
			/* RFC 7672 3.1.3: only DANE-TA(2) and DANE-EE(3) are usable;
			 * selector 0/1, matching type 0/1/2 (RFC 6698 2.1) */
			if ((rr->usage != 2 && rr->usage != 3) || rr->selector > 1 ||
			    rr->mtype > 2 || rr->len == 0 || rr->len > RELAY_TLSA_DATA_MAX_BYTES)
				continue;
			if ((rr->mtype == 1 && rr->len != 32) || (rr->mtype == 2 && rr->len != 64))
				continue;
			size_t k = h->ntlsa++;
			h->usage[k] = rr->usage;
			h->selector[k] = rr->selector;
			h->mtype[k] = rr->mtype;
			h->data[k] = xmalloc(rr->len);
			memcpy(h->data[k], rr->data, rr->len);
			h->len[k] = rr->len;
		}
		h->tls = h->ntlsa > 0 ? RELAY_TLS_DANE : RELAY_TLS_DANE_NOAUTH;
		log_info("relay host=%s event=dane tlsa=%zu usable=%zu", h->name, r->n,
		    h->ntlsa);
	}
	lookup_done(h->p);
}

/* ---- deciding ---- */

static void
done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct relay_policy *p = arg;
	struct relay_delivery *d = p->d;
	struct relay_addr kept[RELAY_ADDRS_MAX];
	enum relay_tls_policy pol[RELAY_ADDRS_MAX];
	struct relay_tlsa *tlsa[RELAY_ADDRS_MAX] = { 0 };
	size_t ntlsa[RELAY_ADDRS_MAX] = { 0 };
	size_t n = 0;
	char why[STORE_QUEUE_REPLY_MAX] = "";
	bool enforce = p->sts_have && p->sts.mode == MTASTS_ENFORCE;
	bool testing = p->sts_have && p->sts.mode == MTASTS_TESTING;

	if (p->sts_note[0] != '\0' && d->cfg->relay_mta_sts)
		log_debug("relay dest=%s event=mta-sts-none reason=\"%s\"", d->dest,
		    p->sts_note);
	for (size_t i = 0; i < d->naddrs; i++) {
		const struct relay_addr *a = &d->addrs[i];
		struct pol_host *h = host_of(p, a);
		enum relay_tls_policy t = RELAY_TLS_OPPORTUNISTIC;

		if (h != NULL && h->failed) {
			snprintf(why, sizeof(why), "451 4.7.5 DANE: %s: not used", h->why);
			log_info("relay dest=%s host=%s event=dane-skip reason=\"%s\"", d->dest,
			    a->host, h->why);
			continue;
		}
		if (h != NULL && h->tls != RELAY_TLS_OPPORTUNISTIC) {
			t = h->tls;
		} else if (enforce || testing) {
			if (!mtasts_mx_match(&p->sts, a->host)) {
				if (testing) {
					log_info("relay dest=%s host=%s event=mta-sts-testing "
					    "reason=\"MX host not in the policy (testing mode: "
					    "delivering)\"", d->dest, a->host);
				} else {
					snprintf(why, sizeof(why), "451 4.7.5 MTA-STS: MX host %s "
					    "is not in the enforced policy of %s", a->host, p->domain);
					log_info("relay dest=%s host=%s event=mta-sts-skip reason="
					    "\"not in the policy\"", d->dest, a->host);
					continue;
				}
			} else if (enforce) {
				t = RELAY_TLS_MTA_STS;
			}
		}
		kept[n] = *a;
		pol[n] = t;
		if (t == RELAY_TLS_DANE) {
			tlsa[n] = xcalloc(h->ntlsa, sizeof(*tlsa[n]));
			for (size_t k = 0; k < h->ntlsa; k++) {
				tlsa[n][k].usage = h->usage[k];
				tlsa[n][k].selector = h->selector[k];
				tlsa[n][k].mtype = h->mtype[k];
				tlsa[n][k].data = xmalloc(h->len[k]);
				memcpy(tlsa[n][k].data, h->data[k], h->len[k]);
				tlsa[n][k].len = h->len[k];
			}
			ntlsa[n] = h->ntlsa;
		}
		n++;
	}
	memcpy(d->addrs, kept, n * sizeof(kept[0]));
	memcpy(d->tls_policy, pol, n * sizeof(pol[0]));
	memcpy(d->tlsa, tlsa, sizeof(tlsa));
	memcpy(d->ntlsa, ntlsa, sizeof(ntlsa));
	d->naddrs = n;
	d->addr = 0;
	if (n == 0) {
		d->res = RELAY_RES_TEMP;
		mm_strlcpy(d->error, why[0] ? why : "451 4.7.5 no MX host allowed by policy",
		    sizeof(d->error));
		log_info("relay dest=%s event=policy-refused error=\"%s\"", d->dest, d->error);
	}
	d->pol = NULL;
	pol_free(p);
	relay_client_start(d);
}

static void
lookup_done(struct relay_policy *p)
{
	struct timeval now = { 0, 0 };
	if (--p->out == 0)
		evtimer_add(p->ev_done, &now);
}

void
relay_policy_start(struct relay_delivery *d)
{
	struct mm_server *srv = relay_engine_server(d->eng);
	const struct config *cfg = d->cfg;
	struct relay_policy *p = xcalloc(1, sizeof(*p));

	p->d = d;
	p->dns = srv->dns;
	p->base = relay_engine_base(d->eng);
	p->ev_done = evtimer_new(p->base, done_cb, p);
	p->ev_reap = evtimer_new(p->base, reap_cb, p);
	p->ev_fetch_timeout = evtimer_new(p->base, fetch_timeout_cb, p);
	mm_strlcpy(p->domain, d->msgs[0].e->domain, sizeof(p->domain));
	mm_strlower(p->domain);
	d->pol = p;
	/* one count for this function, so that nothing ends before all is out */
	p->out = 1;
	if (cfg->relay_dane && cfg->dns_dnssec != CONFIG_DNSSEC_OFF) {
		for (size_t i = 0; i < d->naddrs; i++) {
			const struct relay_addr *a = &d->addrs[i];
			if (!a->dnssec || host_of(p, a) != NULL || p->nhosts == RELAY_ADDRS_MAX)
				continue;
			struct pol_host *h = &p->hosts[p->nhosts++];
			char name[300];
			mm_strlcpy(h->name, a->host, sizeof(h->name));
			h->port = a->port;
			snprintf(name, sizeof(name), "_%u._tcp.%s", a->port, a->host);
			p->out++;
			h->p = p;
			h->q = dns_query(p->dns, name, DNS_T_TLSA, tlsa_cb, h);
		}
	}
	if (cfg->relay_mta_sts) {
		char name[300];
		snprintf(name, sizeof(name), "_mta-sts.%s", p->domain);
		p->out++;
		p->txtq = dns_query(p->dns, name, DNS_T_TXT, sts_txt_cb, p);
	}
	lookup_done(p);
}

/* ---- the connection ---- */

SSL_CTX *
relay_policy_ssl_ctx(char *err, size_t errlen, const struct config *cfg)
{
	SSL_CTX *ctx;

	if (policy_ctx != NULL && policy_ctx_cfg == cfg)
		return policy_ctx;
	ctx = tls_client_ctx_new(TLS_CLIENT_DANE, cfg->mta_sts_ca, err, errlen);
	if (ctx == NULL)
		return NULL;
	SSL_CTX_free(policy_ctx);
	policy_ctx = ctx;
	policy_ctx_cfg = cfg;
	return ctx;
}

/* The TLSA records of d's current host, from the delivery's copy. */
bool
relay_policy_setup_ssl(struct relay_delivery *d, SSL *ssl, char *err, size_t errlen)
{
	const struct relay_addr *a = &d->addrs[d->addr];
	enum relay_tls_policy t = relay_policy_of(d);

	switch (t) {
	case RELAY_TLS_MTA_STS:
		/* RFC 8461 4.2: PKIX-valid for the MX host name */
		SSL_set1_host(ssl, a->host);
		SSL_set_verify(ssl, SSL_VERIFY_PEER, NULL);
		return true;
	case RELAY_TLS_DANE: {
		if (SSL_dane_enable(ssl, a->host) <= 0) {
			snprintf(err, errlen, "SSL_dane_enable failed");
			return false;
		}
		/* RFC 7672 3.1.1: DANE-EE(3) names are not checked */
		SSL_dane_set_flags(ssl, DANE_FLAG_NO_DANE_EE_NAMECHECKS);
		size_t usable = 0;
		for (size_t k = 0; k < d->ntlsa[d->addr]; k++) {
			const struct relay_tlsa *r = &d->tlsa[d->addr][k];
			if (SSL_dane_tlsa_add(ssl, r->usage, r->selector, r->mtype, r->data,
			    r->len) > 0)
				usable++;
		}
		if (usable == 0) {
			snprintf(err, errlen, "no TLSA record OpenSSL can use");
			return false;
		}
		SSL_set_verify(ssl, SSL_VERIFY_PEER, NULL);
		return true;
	}
	default:
		return true;
	}
}
