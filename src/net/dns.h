/* dns.h: the daemon's one asynchronous resolver (DESIGN.md round two,
 * [dns]). Any module asks for a name and a type and gets, later and on
 * the event loop, a parsed answer; nothing blocks.
 *
 *     struct dns_query *q = dns_query(srv->dns, "example.org", DNS_T_MX,
 *         on_mx, sess);
 *     ...
 *     static void on_mx(void *sess, const struct dns_result *r)
 *     {   r->rcode, r->secure, r->rr[0..r->n) (valid only during the call) }
 *
 * The callback runs exactly once per query, never from inside
 * dns_query() itself, unless the query is cancelled first with
 * dns_cancel() (do that when the asking session goes away: afterwards the
 * callback never runs). Once the callback starts, the query is gone:
 * the asker forgets its struct dns_query pointer there. Backends: libunbound (ub_fd in the loop, its
 * cache honours TTLs, TCP fallback, EDNS0, DNSSEC validation for
 * dnssec = validate); with dnssec = trust-ad a small stub on the loop
 * asks the (loopback) nameservers directly, sets AD in the query (RFC
 * 6840 5.7) and reads AD from the answer, because libunbound's answer
 * carries only its own validation result. */
#ifndef MM_DNS_H
#define MM_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config;
struct config_errors;
struct event_base;
struct dns;
struct dns_query;

/* Query types (RFC 1035 3.2.2, RFC 3596, RFC 6698); any other number
 * works too (its records come back as raw rdata). */
enum {
	DNS_T_A = 1,
	DNS_T_CNAME = 5,
	DNS_T_PTR = 12,
	DNS_T_MX = 15,
	DNS_T_TXT = 16,
	DNS_T_AAAA = 28,
	DNS_T_TLSA = 52,
};

enum dns_rcode {
	DNS_NOERROR = 0,    /* n == 0: the name exists but has no such record (NODATA) */
	DNS_NXDOMAIN,       /* the name does not exist */
	DNS_SERVFAIL,       /* the server failed (or answered REFUSED, FORMERR...) */
	DNS_TIMEOUT,        /* no answer in [dns] timeout, twice */
	DNS_ERROR,          /* local: bad name, malformed answer, overload, no resolver */
};

#define DNS_NAME_MAX_BYTES 256     /* RFC 1035 3.1: 255 octets, as text without the dot */

/* One record of the answer for the (canonical) name. */
struct dns_rr {
	int type;
	uint32_t ttl;
	/* MX (host: "" for a null MX, RFC 7505), PTR, CNAME: the target name,
	 * lower-case, no trailing dot */
	char name[DNS_NAME_MAX_BYTES];
	unsigned pref;                  /* MX preference */
	/* A, AAAA */
	int family;                     /* AF_INET or AF_INET6 */
	unsigned char addr[16];
	char ip[46];                    /* text form */
	/* TLSA (RFC 6698 2.1) */
	uint8_t usage, selector, mtype;
	/* TXT: the record's character-strings joined (RFC 7208 3.3) and
	 * NUL-terminated; TLSA: the association data; other types: the rdata */
	unsigned char *data;
	size_t len;
};

struct dns_result {
	enum dns_rcode rcode;
	const char *error;              /* a short reason when rcode != DNS_NOERROR */
	char qname[DNS_NAME_MAX_BYTES]; /* as asked, lower-case, no trailing dot */
	char canon[DNS_NAME_MAX_BYTES]; /* after CNAMEs in the answer */
	int qtype;
	bool secure;                    /* DNSSEC: validated (validate), AD (trust-ad) */
	bool bogus;                     /* DNSSEC validation failed (validate only) */
	uint32_t ttl;                   /* the smallest TTL of the records */
	struct dns_rr *rr;              /* MX sorted by preference (stable) */
	size_t n;
};

typedef void dns_cb(void *arg, const struct dns_result *res);

/* The resolver for cfg's [dns] (nameservers, timeout, dnssec). NULL with
 * a reason in err when libunbound refuses the settings (a trust anchor
 * that does not load). */
struct dns *dns_new(struct event_base *base, const struct config *cfg,
    char *err, size_t errlen);
/* minimaild -t, minimailctl check: would dns_new() accept cfg (the trust
 * anchor loads)? If not, false and "FILE: dns: message" in errs. */
bool dns_check(const struct config *cfg, struct config_errors *errs);
/* SIGHUP: new queries use cfg's [dns]; those in flight finish on the old
 * settings. False (and the old settings kept) on error. */
bool dns_reconfigure(struct dns *dns, const struct config *cfg, char *err,
    size_t errlen);
/* Cancels every query (no callbacks) and frees. */
void dns_free(struct dns **dns);

/* Asks for name (a trailing dot is fine) and type; cb(arg, result) later
 * on the loop. At most DNS_QUERIES_INFLIGHT_MAX queries run at a time;
 * the next DNS_QUERIES_WAITING_MAX wait in order; beyond that the query
 * completes with DNS_ERROR "resolver overloaded". Never NULL. */
struct dns_query *dns_query(struct dns *dns, const char *name, int type,
    dns_cb *cb, void *arg);
/* Forgets a query: cb will not run. *q becomes NULL; NULL is fine. */
void dns_cancel(struct dns_query **q);
/* Queries running or waiting (for tests and metrics). */
size_t dns_pending(const struct dns *dns);

/* ---- pure helpers (unit tests, minimailctl) ---- */

/* Parses a wire-format answer to (qname, qtype) into r: rcode, the CNAME
 * chain inside the answer (r->canon), the records of qtype for the
 * canonical name (at most DNS_RECORDS_MAX, TXT at most
 * DNS_TXT_MAX_BYTES each), MX sorted. r->secure is set from the AD bit
 * when trust_ad. False (r->rcode DNS_ERROR, r->error) for a malformed
 * answer or one to another question. Free with dns_result_clear(). */
bool dns_parse_answer(const unsigned char *pkt, size_t len, const char *qname,
    int qtype, bool trust_ad, struct dns_result *r);
void dns_result_clear(struct dns_result *r);
/* "192.0.2.1" -> "1.2.0.192.in-addr.arpa", IPv6 nibbles -> ip6.arpa
 * (RFC 3596 2.5). False for something that is not an address. */
bool dns_ptr_name(const char *ip, char *out, size_t outlen);
/* A wire-format query for (name, type) with id, RD, and AD when ad
 * (RFC 6840 5.7), plus an EDNS0 OPT (RFC 6891) advertising
 * DNS_UDP_PAYLOAD_BYTES. Returns its length, 0 for a bad name. */
size_t dns_build_query(const char *name, int type, uint16_t id, bool ad,
    unsigned char *buf, size_t buflen);
/* "A", "MX", "TLSA", ... or "TYPE99". */
const char *dns_type_name(int type, char *buf, size_t len);

#endif
