/* dns.c: the daemon's one asynchronous resolver (net/dns.h), on the
 * event loop.
 *
 * The one idea: a query is a small object on one of two lists, running
 * (at most DNS_QUERIES_INFLIGHT_MAX) or waiting (at most
 * DNS_QUERIES_WAITING_MAX, started in order as running ones end), with
 * one timer that bounds each attempt ([dns] timeout, DNS_ATTEMPTS
 * attempts). Whatever ends it (the answer, the last timeout, an error)
 * goes through finish(), the only place that calls the asker back and
 * frees the query; dns_cancel() unlinks it so that finish() never runs.
 *
 * Two transports share that machinery, chosen by [dns] dnssec:
 * - off, validate: libunbound in threaded async mode. Its ub_fd() sits in
 *   the loop (EV_READ -> ub_process -> ub_done), it caches by TTL, falls
 *   back to TCP, speaks EDNS0, forwards to [dns] nameservers (or those of
 *   /etc/resolv.conf) and, for validate, checks DNSSEC itself from the
 *   root trust anchor: result->secure / ->bogus.
 * - trust-ad: libunbound rebuilds its answer and clears the AD bit it got
 *   from the forwarder (it reports only its own validation), so a small
 *   stub here sends the query itself to the loopback name servers (RD,
 *   AD and EDNS0 DO set, RFC 6840 5.7), over UDP, over TCP when the answer
 *   is truncated, and takes AD from the header: what Postfix does with
 *   smtp_dns_support_level = dnssec. The loopback resolver does the
 *   caching.
 * Both hand the answer's wire form to dns_parse_answer() (dns-parse.c).
 * SIGHUP builds a new backend; queries in flight keep theirs (refs) and
 * the old one goes when its last query ends. */
#include "net/dns.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unbound.h>
#include <unistd.h>

#include "lib/config.h"
#include "lib/limits.h"
#include "lib/log.h"
#include "lib/util.h"

#define NS_QUERY_BYTES_MAX 512     /* a question with EDNS0: 12 + 255 + 4 + 11 */

struct dns_backend {
	struct dns *dns;
	unsigned refs;                     /* queries on it, +1 while current */
	char sig[1024];                    /* the settings, to see a change */
	uint64_t timeout_ms;
	int dnssec;                        /* enum config_dnssec */
	/* libunbound (off, validate) */
	struct ub_ctx *ub;
	struct event *ev_ub;
	/* stub (trust-ad) */
	struct sockaddr_storage ns[CONFIG_NAMESERVERS_MAX];
	socklen_t nslen[CONFIG_NAMESERVERS_MAX];
	size_t nns;
};

enum qstate { Q_WAITING, Q_RUNNING, Q_DONE };

struct dns_query {
	struct dns *dns;
	struct dns_backend *be;
	struct dns_query *prev, *next;
	enum qstate state;
	char name[DNS_NAME_MAX_BYTES];
	int type;
	dns_cb *cb;
	void *arg;
	unsigned attempt;
	struct event *ev_timer;            /* attempt timeout, or deferred finish */
	/* a result made before the callback may run (errors in dns_query) */
	enum dns_rcode early_rcode;
	const char *early_error;
	/* libunbound */
	int ub_id;
	bool ub_active;
	/* stub */
	size_t ns_idx;
	uint16_t id;
	evutil_socket_t fd;
	struct event *ev_io;
	struct bufferevent *bev;           /* TCP after a truncated answer */
	unsigned char qbuf[NS_QUERY_BYTES_MAX];
	size_t qlen;
};

struct qlist {
	struct dns_query *head, *tail;
	size_t n;
};

struct dns {
	struct event_base *base;
	struct dns_backend *cur;
	struct qlist running, waiting;
};

static void start(struct dns_query *q);
static void stub_stop(struct dns_query *q);
static void defer_error(struct dns_query *q, enum dns_rcode rc, const char *why);

/* ---- lists ---- */

static void
ql_push(struct qlist *l, struct dns_query *q)
{
	q->prev = l->tail;
	q->next = NULL;
	if (l->tail != NULL)
		l->tail->next = q;
	else
		l->head = q;
	l->tail = q;
	l->n++;
}

static void
ql_remove(struct qlist *l, struct dns_query *q)
{
	if (q->prev != NULL)
		q->prev->next = q->next;
	else
		l->head = q->next;
	if (q->next != NULL)
		q->next->prev = q->prev;
	else
		l->tail = q->prev;
	q->prev = q->next = NULL;
	l->n--;
}

/* ---- backends ---- */

static void
be_release(struct dns_backend *be)
{
	if (be == NULL || --be->refs > 0)
		return;
	if (be->ev_ub != NULL)
		event_free(be->ev_ub);
	if (be->ub != NULL)
		ub_ctx_delete(be->ub);
	free(be);
}

static void
ub_readable(evutil_socket_t fd, short what, void *arg)
{
	struct dns_backend *be = arg;
	/* ub_process may end the last query of an old backend: hold it */
	be->refs++;
	if (ub_process(be->ub) != 0)
		log_warn("dns: ub_process failed");
	be_release(be);
}

static void
settings_sig(const struct config *cfg, char *sig, size_t len)
{
	struct mm_buf b;
	mm_buf_init(&b);
	mm_buf_printf(&b, "%d %llu %s", cfg->dns_dnssec,
	    (unsigned long long)cfg->dns_timeout, cfg->dns_trust_anchor);
	for (size_t i = 0; i < cfg->dns_nameservers.n; i++)
		mm_buf_printf(&b, " %s", cfg->dns_nameservers.v[i]);
	mm_strlcpy(sig, mm_buf_cstr(&b), len);
	mm_buf_free(&b);
}

/* A libunbound context for cfg's [dns] (not trust-ad); NULL with err. */
static struct ub_ctx *
ub_make(const struct config *cfg, char *err, size_t errlen)
{
	struct ub_ctx *ub = ub_ctx_create();
	int r;

	if (ub == NULL) {
		snprintf(err, errlen, "libunbound: cannot create a context");
		return NULL;
	}
	if ((r = ub_ctx_async(ub, 1)) != 0)
		goto fail;
	/* a forwarder on loopback (a local resolver, the tests' server) */
	if ((r = ub_ctx_set_option(ub, "do-not-query-localhost:", "no")) != 0)
		goto fail;
	if (cfg->dns_nameservers.n > 0) {
		for (size_t i = 0; i < cfg->dns_nameservers.n; i++)
			if ((r = ub_ctx_set_fwd(ub, cfg->dns_nameservers.v[i])) != 0)
				goto fail;
	} else if ((r = ub_ctx_resolvconf(ub, NULL)) != 0) {
		/* no resolv.conf: libunbound recurses from the root itself */
		log_warn("dns: /etc/resolv.conf: %s; resolving from the root servers",
		    ub_strerror(r));
	}
	/* The name servers answer every name: libunbound's built-in RFC 6761
	 * and private reverse zones (test., 10.in-addr.arpa., ...) would hide
	 * what a local resolver serves. */
	(void)ub_ctx_set_option(ub, "unblock-lan-zones:", "yes");
	(void)ub_ctx_set_option(ub, "insecure-lan-zones:", "yes");
	if (cfg->dns_dnssec == CONFIG_DNSSEC_VALIDATE) {
		if (access(cfg->dns_trust_anchor, R_OK) != 0) {
			snprintf(err, errlen, "dnssec = validate: cannot read trust anchor "
			    "%s: %s (apt-get install dns-root-data)", cfg->dns_trust_anchor,
			    strerror(errno));
			ub_ctx_delete(ub);
			return NULL;
		}
		if ((r = ub_ctx_add_ta_file(ub, cfg->dns_trust_anchor)) != 0)
			goto fail_ta;
	} else if ((r = ub_ctx_set_option(ub, "module-config:", "iterator")) != 0) {
		goto fail;
	}
	/* ub_ctx_zone_add() also finalizes the context: the trust anchor is
	 * read here, so a bad one is an error at start-up, not per query */
	if ((r = ub_ctx_zone_add(ub, "test.", "transparent")) != 0 ||
	    (r = ub_ctx_zone_add(ub, "invalid.", "transparent")) != 0) {
		if (cfg->dns_dnssec == CONFIG_DNSSEC_VALIDATE)
			goto fail_ta;
		goto fail;
	}
	return ub;
fail_ta:
	snprintf(err, errlen, "dnssec = validate: trust anchor %s does not load: %s",
	    cfg->dns_trust_anchor, ub_strerror(r));
	ub_ctx_delete(ub);
	return NULL;
fail:
	snprintf(err, errlen, "libunbound: %s", ub_strerror(r));
	ub_ctx_delete(ub);
	return NULL;
}

bool
dns_check(const struct config *cfg, struct config_errors *errs)
{
	char err[512];

	if (cfg->dns_dnssec == CONFIG_DNSSEC_TRUST_AD)
		return true;
	struct ub_ctx *ub = ub_make(cfg, err, sizeof(err));
	if (ub == NULL) {
		char *m = xasprintf("%s: dns: %s", cfg->path, err);
		mm_strlist_add(&errs->errors, m);
		free(m);
		return false;
	}
	ub_ctx_delete(ub);
	return true;
}

static struct dns_backend *
be_new(struct dns *dns, const struct config *cfg, char *err, size_t errlen)
{
	struct dns_backend *be = xcalloc(1, sizeof(*be));

	be->dns = dns;
	be->refs = 1;
	be->dnssec = cfg->dns_dnssec;
	be->timeout_ms = cfg->dns_timeout * 1000;
	settings_sig(cfg, be->sig, sizeof(be->sig));

	if (cfg->dns_dnssec == CONFIG_DNSSEC_TRUST_AD) {
		for (size_t i = 0; i < cfg->dns_nameservers.n &&
		    be->nns < CONFIG_NAMESERVERS_MAX; i++) {
			char host[64];
			const char *ns = cfg->dns_nameservers.v[i];
			const char *at = strrchr(ns, '@');
			size_t hl = at != NULL ? (size_t)(at - ns) : strlen(ns);
			unsigned port = at != NULL ? (unsigned)atoi(at + 1) : 53;
			struct sockaddr_in *s4 = (struct sockaddr_in *)&be->ns[be->nns];
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&be->ns[be->nns];

			if (hl >= sizeof(host))
				continue;
			memcpy(host, ns, hl);
			host[hl] = '\0';
			if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
				s4->sin_family = AF_INET;
				s4->sin_port = htons((uint16_t)port);
				be->nslen[be->nns++] = sizeof(*s4);
			} else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
				s6->sin6_family = AF_INET6;
				s6->sin6_port = htons((uint16_t)port);
				be->nslen[be->nns++] = sizeof(*s6);
			}
		}
		if (be->nns == 0) {
			snprintf(err, errlen, "dnssec = trust-ad: no usable name server");
			free(be);
			return NULL;
		}
		return be;
	}

	be->ub = ub_make(cfg, err, errlen);
	if (be->ub == NULL) {
		free(be);
		return NULL;
	}
	int fd = ub_fd(be->ub);
	if (fd < 0) {
		snprintf(err, errlen, "libunbound: no file descriptor");
		ub_ctx_delete(be->ub);
		free(be);
		return NULL;
	}
	be->ev_ub = event_new(dns->base, fd, EV_READ | EV_PERSIST, ub_readable, be);
	event_add(be->ev_ub, NULL);
	return be;
}

/* ---- finishing ---- */

static void
query_free(struct dns_query *q)
{
	if (q->ub_active) {
		(void)ub_cancel(q->be->ub, q->ub_id);
		q->ub_active = false;
	}
	stub_stop(q);
	if (q->ev_timer != NULL)
		event_free(q->ev_timer);
	be_release(q->be);
	free(q);
}

static void
unlink_query(struct dns_query *q)
{
	struct dns *dns = q->dns;

	if (q->state == Q_RUNNING)
		ql_remove(&dns->running, q);
	else if (q->state == Q_WAITING)
		ql_remove(&dns->waiting, q);
	q->state = Q_DONE;
}

static void
kick(struct dns *dns)
{
	while (dns->waiting.head != NULL && dns->running.n < DNS_QUERIES_INFLIGHT_MAX) {
		struct dns_query *w = dns->waiting.head;
		ql_remove(&dns->waiting, w);
		w->state = Q_RUNNING;
		ql_push(&dns->running, w);
		start(w);
	}
}

/* The one end of a query: r to the asker, then free. */
static void
finish(struct dns_query *q, struct dns_result *r)
{
	struct dns *dns = q->dns;
	char tb[16];

	unlink_query(q);
	if (r->rcode != DNS_NOERROR)
		log_debug("dns query=%s type=%s result=\"%s\"", q->name,
		    dns_type_name(q->type, tb, sizeof(tb)), r->error ? r->error : "?");
	q->cb(q->arg, r);
	query_free(q);
	kick(dns);
}

static void
finish_error(struct dns_query *q, enum dns_rcode rc, const char *why)
{
	struct dns_result r;
	memset(&r, 0, sizeof(r));
	r.rcode = rc;
	r.error = why;
	r.qtype = q->type;
	mm_strlcpy(r.qname, q->name, sizeof(r.qname));
	mm_strlcpy(r.canon, q->name, sizeof(r.canon));
	finish(q, &r);
}

static void
finish_packet(struct dns_query *q, const unsigned char *pkt, size_t len,
    bool trust_ad)
{
	struct dns_result r;
	(void)dns_parse_answer(pkt, len, q->name, q->type, trust_ad, &r);
	finish(q, &r);
	dns_result_clear(&r);
}

/* ---- libunbound ---- */

static void
ub_done(void *arg, int err, struct ub_result *res)
{
	struct dns_query *q = arg;

	q->ub_active = false;
	if (err != 0) {
		char why[160];
		snprintf(why, sizeof(why), "resolver error: %s", ub_strerror(err));
		/* the string must live through the callback only */
		struct dns_result r;
		memset(&r, 0, sizeof(r));
		r.rcode = DNS_ERROR;
		r.error = why;
		r.qtype = q->type;
		mm_strlcpy(r.qname, q->name, sizeof(r.qname));
		mm_strlcpy(r.canon, q->name, sizeof(r.canon));
		finish(q, &r);
		return;
	}
	struct dns_result r;
	char why[200];
	if (res->answer_packet != NULL && res->answer_len > 0) {
		(void)dns_parse_answer(res->answer_packet, (size_t)res->answer_len,
		    q->name, q->type, false, &r);
	} else {
		memset(&r, 0, sizeof(r));
		r.qtype = q->type;
		mm_strlcpy(r.qname, q->name, sizeof(r.qname));
		mm_strlcpy(r.canon, q->name, sizeof(r.canon));
		r.rcode = res->nxdomain ? DNS_NXDOMAIN : res->rcode == 0 ? DNS_NOERROR :
		    DNS_SERVFAIL;
		r.error = res->nxdomain ? "no such domain" : "server failure";
	}
	if (r.rcode != DNS_ERROR) {
		r.secure = res->secure != 0;
		r.bogus = res->bogus != 0;
		if (r.bogus) {
			dns_result_clear(&r);
			r.rcode = DNS_SERVFAIL;
			snprintf(why, sizeof(why), "DNSSEC validation failed: %s",
			    res->why_bogus ? res->why_bogus : "bogus");
			r.error = why;
		}
	}
	ub_resolve_free(res);
	finish(q, &r);
	dns_result_clear(&r);
}

/* ---- the trust-ad stub ---- */

static void
stub_stop(struct dns_query *q)
{
	if (q->ev_io != NULL) {
		event_free(q->ev_io);
		q->ev_io = NULL;
	}
	if (q->fd >= 0) {
		evutil_closesocket(q->fd);
		q->fd = -1;
	}
	if (q->bev != NULL) {
		bufferevent_free(q->bev);
		q->bev = NULL;
	}
}

static void
tcp_read(struct bufferevent *bev, void *arg)
{
	struct dns_query *q = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	unsigned char hdr[2];

	if (evbuffer_get_length(in) < 2)
		return;
	evbuffer_copyout(in, hdr, 2);
	size_t n = ((size_t)hdr[0] << 8) | hdr[1];
	if (evbuffer_get_length(in) < n + 2)
		return;
	unsigned char *pkt = xmalloc(n + 2);
	evbuffer_remove(in, pkt, n + 2);
	if (n < 2 || pkt[2] != (q->id >> 8) || pkt[3] != (q->id & 0xff)) {
		free(pkt);
		stub_stop(q);
		finish_error(q, DNS_SERVFAIL, "bad answer over TCP");
		return;
	}
	stub_stop(q);
	finish_packet(q, pkt + 2, n, true);
	free(pkt);
}

static void
tcp_event(struct bufferevent *bev, short what, void *arg)
{
	struct dns_query *q = arg;

	if (what & BEV_EVENT_CONNECTED)
		return;
	stub_stop(q);
	finish_error(q, DNS_SERVFAIL, "name server closed the TCP connection");
}

static void
stub_tcp(struct dns_query *q)
{
	struct dns_backend *be = q->be;
	unsigned char len[2] = { (unsigned char)(q->qlen >> 8), (unsigned char)q->qlen };

	stub_stop(q);
	q->bev = bufferevent_socket_new(q->dns->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (q->bev == NULL) {
		finish_error(q, DNS_ERROR, "cannot create a socket");
		return;
	}
	bufferevent_setcb(q->bev, tcp_read, NULL, tcp_event, q);
	bufferevent_setwatermark(q->bev, EV_READ, 0, DNS_ANSWER_MAX_BYTES + 2);
	if (bufferevent_socket_connect(q->bev, (struct sockaddr *)&be->ns[q->ns_idx],
	    (int)be->nslen[q->ns_idx]) < 0) {
		stub_stop(q);
		finish_error(q, DNS_SERVFAIL, "cannot connect to the name server");
		return;
	}
	bufferevent_write(q->bev, len, 2);
	bufferevent_write(q->bev, q->qbuf, q->qlen);
	bufferevent_enable(q->bev, EV_READ | EV_WRITE);
}

static void
udp_read(evutil_socket_t fd, short what, void *arg)
{
	struct dns_query *q = arg;
	/* the loop's own buffer: a datagram can be up to 64 KiB */
	static unsigned char pkt[DNS_ANSWER_MAX_BYTES + 1];

	ssize_t n = recv(fd, pkt, sizeof(pkt), 0);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		/* ECONNREFUSED: nobody there; the timer tries the next one */
		return;
	}
	if (n < 12 || pkt[0] != (q->id >> 8) || pkt[1] != (q->id & 0xff))
		return;                 /* not ours: keep waiting (RFC 5452 9.1) */
	if (pkt[2] & 0x02) {        /* TC: again over TCP (RFC 7766 5) */
		stub_tcp(q);
		return;
	}
	stub_stop(q);
	finish_packet(q, pkt, (size_t)n, true);
}

static void
stub_send(struct dns_query *q)
{
	struct dns_backend *be = q->be;
	const struct sockaddr *sa = (const struct sockaddr *)&be->ns[q->ns_idx];

	stub_stop(q);
	if (RAND_bytes((unsigned char *)&q->id, sizeof(q->id)) != 1)
		q->id = (uint16_t)mm_now_ms();
	q->qlen = dns_build_query(q->name, q->type, q->id, true, q->qbuf, sizeof(q->qbuf));
	if (q->qlen == 0) {
		defer_error(q, DNS_ERROR, "bad name");
		return;
	}
	q->fd = socket(sa->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (q->fd < 0 || connect(q->fd, sa, be->nslen[q->ns_idx]) < 0 ||
	    send(q->fd, q->qbuf, q->qlen, 0) < 0) {
		/* the timer moves on */
		log_debug("dns query=%s event=send-failed error=\"%s\"", q->name,
		    strerror(errno));
		return;
	}
	q->ev_io = event_new(q->dns->base, q->fd, EV_READ | EV_PERSIST, udp_read, q);
	event_add(q->ev_io, NULL);
}

/* ---- attempts ---- */

/* An error found while starting: answered from the loop, never from
 * inside dns_query(). */
static void
defer_error(struct dns_query *q, enum dns_rcode rc, const char *why)
{
	struct timeval now = { 0, 0 };
	q->early_rcode = rc;
	q->early_error = why;
	evtimer_add(q->ev_timer, &now);
}

static void
attempt(struct dns_query *q)
{
	struct timeval tv = { (time_t)(q->be->timeout_ms / 1000),
	    (suseconds_t)(q->be->timeout_ms % 1000) * 1000 };

	q->attempt++;
	evtimer_add(q->ev_timer, &tv);
	if (q->be->ub != NULL) {
		int r = ub_resolve_async(q->be->ub, q->name, q->type, 1, q, ub_done,
		    &q->ub_id);
		if (r != 0) {
			defer_error(q, DNS_ERROR, ub_strerror(r));
			return;
		}
		q->ub_active = true;
	} else {
		q->ns_idx = (q->attempt - 1) % q->be->nns;
		stub_send(q);
	}
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dns_query *q = arg;

	if (q->early_error != NULL) {
		finish_error(q, q->early_rcode, q->early_error);
		return;
	}
	if (q->ub_active) {
		(void)ub_cancel(q->be->ub, q->ub_id);
		q->ub_active = false;
	}
	stub_stop(q);
	if (q->attempt < DNS_ATTEMPTS) {
		log_debug("dns query=%s event=retry attempt=%u", q->name, q->attempt + 1);
		attempt(q);
		return;
	}
	finish_error(q, DNS_TIMEOUT, "timed out");
}

static void
start(struct dns_query *q)
{
	attempt(q);
}

/* ---- public ---- */

struct dns *
dns_new(struct event_base *base, const struct config *cfg, char *err, size_t errlen)
{
	struct dns *dns = xcalloc(1, sizeof(*dns));

	dns->base = base;
	dns->cur = be_new(dns, cfg, err, errlen);
	if (dns->cur == NULL) {
		free(dns);
		return NULL;
	}
	log_info("dns: %s%s, timeout %llus, dnssec %s", cfg->dns_nameservers.n ?
	    "forwarding to " : "name servers of /etc/resolv.conf",
	    cfg->dns_nameservers.n ? cfg->dns_nameservers.v[0] : "",
	    (unsigned long long)cfg->dns_timeout,
	    cfg->dns_dnssec == CONFIG_DNSSEC_VALIDATE ? "validate" :
	    cfg->dns_dnssec == CONFIG_DNSSEC_TRUST_AD ? "trust-ad" : "off");
	return dns;
}

bool
dns_reconfigure(struct dns *dns, const struct config *cfg, char *err, size_t errlen)
{
	char sig[sizeof(dns->cur->sig)];

	settings_sig(cfg, sig, sizeof(sig));
	if (strcmp(sig, dns->cur->sig) == 0)
		return true;
	struct dns_backend *be = be_new(dns, cfg, err, errlen);
	if (be == NULL)
		return false;
	be_release(dns->cur);
	dns->cur = be;
	log_info("dns: new settings for new queries");
	return true;
}

void
dns_free(struct dns **dnsp)
{
	struct dns *dns = *dnsp;

	if (dns == NULL)
		return;
	while (dns->running.head != NULL) {
		struct dns_query *q = dns->running.head;
		unlink_query(q);
		query_free(q);
	}
	while (dns->waiting.head != NULL) {
		struct dns_query *q = dns->waiting.head;
		unlink_query(q);
		query_free(q);
	}
	be_release(dns->cur);
	free(dns);
	*dnsp = NULL;
}

/* A name as callers write it (raw bytes, '.' between labels: SPF macros
 * can make labels with spaces or '%') into the presentation format that
 * libunbound and ns_name_pton read, escaped exactly as ns_name_ntop
 * writes answers (RFC 1035 5.1: "\\X" for the special characters,
 * "\\DDD" outside printable ASCII), so that the question in the answer
 * compares equal. False for an empty label, a label over 63 bytes, a name
 * over 253, or one whose escaped form does not fit. */
static bool
name_escape(const char *s, char *out, size_t size)
{
	size_t n = strlen(s), label = 0, o = 0;

	if (n > 1 && s[n - 1] == '.')
		n--;
	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (++label > 63) {
			return false;
		}
		if (o + 5 >= size)
			return false;
		if (c == '.')
			out[o++] = '.';
		else if (strchr("\"();\\@$", c) != NULL) {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c <= 0x20 || c >= 0x7f) {
			o += (size_t)snprintf(out + o, size - o, "\\%03u", c);
		} else {
			out[o++] = (char)c;
		}
	}
	if (label == 0)
		return false;
	out[o] = '\0';
	return true;
}

struct dns_query *
dns_query(struct dns *dns, const char *name, int type, dns_cb *cb, void *arg)
{
	struct dns_query *q = xcalloc(1, sizeof(*q));

	q->dns = dns;
	q->be = dns->cur;
	q->be->refs++;
	q->type = type;
	q->cb = cb;
	q->arg = arg;
	q->fd = -1;
	q->ev_timer = evtimer_new(dns->base, timer_cb, q);
	if (!name_escape(name, q->name, sizeof(q->name))) {
		mm_strlcpy(q->name, "(bad name)", sizeof(q->name));
		q->early_rcode = DNS_ERROR;
		q->early_error = "bad name";
	} else {
		mm_strlower(q->name);
		if (type <= 0 || type > 65535) {
			q->early_rcode = DNS_ERROR;
			q->early_error = "bad type";
		} else if (dns->running.n >= DNS_QUERIES_INFLIGHT_MAX &&
		    dns->waiting.n >= DNS_QUERIES_WAITING_MAX) {
			q->early_rcode = DNS_ERROR;
			q->early_error = "resolver overloaded";
			log_warn("dns: %zu queries running and %zu waiting: refusing %s",
			    dns->running.n, dns->waiting.n, q->name);
		}
	}
	if (q->early_error != NULL) {
		q->state = Q_RUNNING;
		ql_push(&dns->running, q);
		defer_error(q, q->early_rcode, q->early_error);
		return q;
	}
	if (dns->running.n < DNS_QUERIES_INFLIGHT_MAX) {
		q->state = Q_RUNNING;
		ql_push(&dns->running, q);
		start(q);
	} else {
		q->state = Q_WAITING;
		ql_push(&dns->waiting, q);
	}
	return q;
}

void
dns_cancel(struct dns_query **qp)
{
	struct dns_query *q = *qp;

	if (q == NULL)
		return;
	*qp = NULL;
	struct dns *dns = q->dns;
	unlink_query(q);
	query_free(q);
	kick(dns);
}

size_t
dns_pending(const struct dns *dns)
{
	return dns->running.n + dns->waiting.n;
}
