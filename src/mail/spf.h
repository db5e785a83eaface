/* spf.h: the Sender Policy Framework (RFC 7208) check_host() function,
 * pure: it never asks the network itself. It evaluates against a cache of
 * DNS answers the caller owns; when an answer it needs is not in the
 * cache, spf_check() stops with SPF_NEED_DNS and names the query. The
 * caller asks its resolver (asynchronously, on the loop), adds the answer
 * with spf_dns_add() and calls spf_check() again, which evaluates from the
 * start with one more answer known. A check needs a few dozen answers at
 * most (10 lookup terms, 10 MX or PTR names each), so re-evaluating is
 * cheaper than the bookkeeping a resumable evaluator would need, and the
 * evaluator stays one readable recursive function of the RFC's text.
 *
 * Unit tests and the RFC 7208 test suite drive it with a table instead of
 * a resolver (tests/spf_driver.c). */
#ifndef MM_MAIL_SPF_H
#define MM_MAIL_SPF_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

enum spf_result {
	SPF_NONE = 0,
	SPF_NEUTRAL,
	SPF_PASS,
	SPF_FAIL,
	SPF_SOFTFAIL,
	SPF_TEMPERROR,
	SPF_PERMERROR,
};

/* "none", "neutral", "pass", ... (RFC 7208 2.6, RFC 8601 2.7.2). */
const char *spf_result_name(enum spf_result r);

enum spf_qtype {
	SPF_Q_A = 0,
	SPF_Q_AAAA,
	SPF_Q_MX,      /* answers: exchange host names, most preferred first */
	SPF_Q_TXT,     /* answers: one string per record, its strings joined */
	SPF_Q_PTR,     /* answers: host names */
};
const char *spf_qtype_name(enum spf_qtype t);

enum spf_rcode {
	SPF_DNS_NOERROR = 0,  /* zero or more answers */
	SPF_DNS_NXDOMAIN,
	SPF_DNS_TEMPFAIL,     /* timeout, SERVFAIL, ... */
};

/* The answers known so far. Names are compared without case and without
 * a trailing dot. */
struct spf_dns;
struct spf_dns *spf_dns_new(void);
void spf_dns_free(struct spf_dns **d);
/* rr: A/AAAA as text addresses, MX/PTR as host names, TXT as record text
 * (bytes; a NUL byte of a TXT record given as 0x7f, DEL: neither may
 * stand in a valid record). Copies everything. */
void spf_dns_add(struct spf_dns *d, const char *name, enum spf_qtype type,
    enum spf_rcode rcode, const char *const *rr, size_t nrr);
/* The answer for name/type if known (DMARC and DKIM key lookups share
 * the cache). */
bool spf_dns_get(const struct spf_dns *d, const char *name, enum spf_qtype type,
    enum spf_rcode *rcode_r, char *const **rr_r, size_t *nrr_r);

struct spf_request {
	const char *ip;         /* client address, IPv4 or IPv6 text */
	const char *mail_from;  /* reverse-path without <>; "" for the null sender */
	const char *helo;       /* HELO/EHLO argument */
	const char *receiver;   /* our host name, for %{r}; NULL: "unknown" */
	time_t now;             /* for %{t} */
};

enum spf_status {
	SPF_DONE = 0,
	SPF_NEED_DNS,
};

#define SPF_EXPLANATION_MAX_BYTES 512
#define SPF_NAME_MAX_BYTES 256

struct spf_outcome {
	enum spf_result result;
	/* For fail: the expanded exp= text, or "" (the caller's default). */
	char explanation[SPF_EXPLANATION_MAX_BYTES];
	/* For permerror/temperror: what went wrong, for logs. */
	char problem[SPF_EXPLANATION_MAX_BYTES];
	/* The identity checked: "mailfrom" or "helo", and its domain. */
	const char *identity;
	char domain[SPF_NAME_MAX_BYTES];
	/* With SPF_NEED_DNS: the query to answer. */
	char need_name[SPF_NAME_MAX_BYTES];
	enum spf_qtype need_type;
	/* Lookup terms and void lookups of this evaluation (for tests). */
	int lookups, voids;
};

/* RFC 7208 4.6.4 */
#define SPF_LOOKUP_TERMS_MAX 10
#define SPF_VOID_LOOKUPS_MAX 2
#define SPF_MX_NAMES_MAX 10
#define SPF_PTR_NAMES_MAX 10

/* check_host() for the request's identity: MAIL FROM, or the HELO name
 * (postmaster@HELO) when MAIL FROM is empty (RFC 7208 2.4). */
enum spf_status spf_check(const struct spf_request *req, struct spf_dns *dns,
    struct spf_outcome *out);

#endif
