/* inbound.h: judging a message that arrives on port 25 (DESIGN round two,
 * [inbound]): SPF for the MAIL FROM (or HELO) identity, DMARC for the
 * From: domain, and the Authentication-Results header that reports them;
 * and the DNSBL check of a connecting address. Both run on the loop:
 * every DNS question goes through the daemon's one resolver (net/dns.h)
 * and the pure evaluators (mail/spf.h, mail/dmarc.h) decide.
 *
 * The same code serves port 25 (smtp-data.c), `minimailctl auth-check`
 * and `minimailctl spf-check`, so what an admin sees is what the server
 * does. */
#ifndef MM_INBOUND_H
#define MM_INBOUND_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/util.h"
#include "mail/dmarc.h"
#include "mail/spf.h"

struct dns;
struct event_base;

/* Every DNS question of one check, at most (RFC 7208 allows about 120
 * for SPF alone; a message's checks together are cut here), and the time
 * one check may take in all; past either, what is still unknown is a
 * temporary error. */
#define INBOUND_DNS_QUERIES_MAX 160
#define INBOUND_CHECK_MAX_SECS 30

enum inbound_action {
	INBOUND_ACCEPT = 0,
	INBOUND_JUNK,          /* DMARC p=quarantine: file into Junk */
	INBOUND_REJECT,        /* DMARC p=reject: 550 5.7.1 */
	INBOUND_TEMPFAIL,      /* p=reject, but a check could not finish: 451 */
};

struct inbound_req {
	const char *ip;            /* client address */
	const char *helo;
	const char *mail_from;     /* "" for the null sender */
	const char *authserv_id;   /* our hostname */
	const char *msg;           /* the message as received (header and body) */
	size_t len;
	bool spf, dkim, dmarc;     /* [inbound] switches */
	bool dmarc_reject;         /* [inbound] dmarc_reject */
	/* [inbound] dkim: a verifier that has seen the header block and the
	 * whole body (src/dkim); the check owns and frees it. NULL: no DKIM. */
	struct dkim_verify *dkim_verifier;
};

struct inbound_verdict {
	enum inbound_action action;
	char reply[512];           /* for REJECT / TEMPFAIL: the whole reply line */
	enum spf_result spf;
	char spf_explanation[SPF_EXPLANATION_MAX_BYTES];
	size_t ndkim, dkim_pass;   /* signatures checked, and how many passed */
	enum dmarc_result dmarc;
	char from_domain[SPF_NAME_MAX_BYTES];
	/* "Authentication-Results: ...\r\n" to put at the top */
	struct mm_buf header;
};

typedef void inbound_cb(void *arg, struct inbound_verdict *v);

struct inbound_check;

/* Starts the checks of one message; cb(arg, verdict) runs later, on the
 * loop, exactly once, unless inbound_cancel() came first. The verdict is
 * valid during the call only. req's strings and message are copied. */
struct inbound_check *inbound_start(struct event_base *base, struct dns *dns,
    const struct inbound_req *req, inbound_cb *cb, void *arg);
/* cb will not run; *c becomes NULL (NULL is fine). */
void inbound_cancel(struct inbound_check **c);

/* The SPF check alone (minimailctl spf-check): cb gets the outcome. */
typedef void inbound_spf_cb(void *arg, const struct spf_outcome *o);
struct inbound_check *inbound_spf_start(struct event_base *base, struct dns *dns,
    const char *ip, const char *mail_from, const char *helo, const char *receiver,
    inbound_spf_cb *cb, void *arg);

/* ---- DNSBL / DNSWL ([inbound] dnsbl) ---- */

#define INBOUND_DNSBL_MAX 8

enum dnsbl_answer {
	DNSBL_NOT_LISTED = 0,
	DNSBL_LISTED,
	DNSBL_ERROR,           /* no answer, or a code meaning "query refused" */
};

/* RFC 5782 2.3 answers 127.0.0.2 and up; 127.255.255.x is Spamhaus's
 * "your query was refused" family, never a listing; anything outside
 * 127/8 is an error too (a wildcarding resolver). */
enum dnsbl_answer dnsbl_interpret(const char *zone, const char *const *addrs, size_t n);
/* The query name for ip in zone ("4.3.2.1.zen.example"), false if ip is
 * not an address. */
bool dnsbl_query_name(const char *ip, const char *zone, char *buf, size_t size);

struct dnsbl_check;
/* listed: the zone and its TXT text (may be ""), or NULL when none
 * lists the address. dnsbl_start() returns NULL, and cb never runs, when
 * there is nothing to ask (no zone, or ip is not an address). */
typedef void dnsbl_cb(void *arg, const char *listed_zone, const char *text);
struct dnsbl_check *dnsbl_start(struct dns *dns, const char *ip,
    const char *const *zones, size_t nzones, dnsbl_cb *cb, void *arg);
void dnsbl_cancel(struct dnsbl_check **c);

#endif
