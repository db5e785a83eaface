/* relay.h: outbound delivery. The engine (relay-engine.c) takes entries
 * from the store's queue (store.h "outbound queue"), resolves where they
 * go (relay-mx.c), talks SMTP to the destination on the event loop
 * (relay-client.c) and writes the per-recipient results back, with
 * retries and RFC 3464 bounces (relay-dsn.c). minimaild owns one engine;
 * the pure functions below are here for the unit tests. */
#ifndef MM_RELAY_H
#define MM_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct mm_server;
struct relay_engine;
struct store_qentry;

/* ---- the engine (minimaild) ---- */

/* Starts polling the queue once a second (the queue is the only channel:
 * SMTP sessions and "minimailctl queue flush", in another process, only
 * change next-attempt times in the store, and the next poll sees them). */
struct relay_engine *relay_engine_new(struct mm_server *srv);
/* Shutdown: stop polling, drop connections (unsaved results are retried
 * after the restart: a delivery may repeat, never get lost). */
void relay_engine_stop(struct relay_engine *eng);
/* After the worker pool has drained. */
void relay_engine_free(struct relay_engine **eng);

/* ---- MX records (relay-mx.c) ---- */

#define RELAY_MX_MAX 32

struct relay_mx {
	char host[256];          /* lower-case, no trailing dot */
	unsigned pref;
};

enum relay_mx_result {
	RELAY_MX_OK = 0,         /* mx_r holds the hosts, best first */
	RELAY_MX_NONE,           /* no MX for the name: use its A/AAAA (RFC 5321 5.1) */
	RELAY_MX_NULL,           /* null MX (RFC 7505): the domain takes no mail */
	RELAY_MX_BAD,            /* malformed answer */
};

/* Orders hosts of equal preference in mx[0..n) (already sorted by
 * preference) by seed: 0 keeps them; else a shuffle that seed determines
 * (RFC 5321 5.1 asks for randomisation). */
void relay_mx_shuffle(struct relay_mx *mx, size_t n, unsigned seed);

/* Parses a DNS answer (wire format) to an MX query for domain: follows
 * CNAMEs inside the answer, sorts by preference, and orders hosts of equal
 * preference by seed (0: as in the answer; else a shuffle that seed
 * determines, RFC 5321 5.1 asks for randomisation). */
enum relay_mx_result relay_mx_parse(const unsigned char *msg, size_t len,
    const char *domain, unsigned seed, struct relay_mx *mx_r, size_t max,
    size_t *n_r);

/* ---- replies and the retry schedule (relay-client.c) ---- */

/* The enhanced status code of an SMTP reply text ("550 5.1.1 ...") into
 * status (at least 16 bytes), or one derived from its basic code
 * ("5.0.0", "4.0.0"). */
void relay_reply_status(const char *reply, char *status, size_t len);
/* Seconds to wait after the n-th failed attempt (n >= 1): base doubled
 * n-1 times, at most max. */
uint64_t relay_retry_delay(uint32_t attempts, uint64_t base, uint64_t max);

/* ---- delivery status notifications (relay-dsn.c) ---- */

enum relay_dsn_kind {
	RELAY_DSN_FAILED = 0,    /* Action: failed */
	RELAY_DSN_DELAYED,       /* Action: delayed (the delay warning) */
};

/* The RFC 3464 report (multipart/report; report-type=delivery-status)
 * to e->sender about the recipients with which[i] true: a text part,
 * message/delivery-status with each recipient's status and the remote
 * reply as Diagnostic-Code, and the original headers (text/rfc822-headers)
 * taken from msg. CRLF line ends; malloc'd, length in *len_r. expired:
 * the failure is the queue lifetime running out (status 4.4.7). */
char *relay_dsn_build(const char *hostname, const struct store_qentry *e,
    const bool *which, enum relay_dsn_kind kind, bool expired,
    const char *msg, size_t msglen, time_t now, size_t *len_r);

#endif
