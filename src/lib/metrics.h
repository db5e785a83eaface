/* metrics.h: the daemon's counters, gauges and histograms, served by
 * [listen] metrics as GET /metrics in the Prometheus text format
 * (net/metrics-http.c). Every call is a relaxed C11 atomic add on a
 * fixed slot: no lock, no allocation, callable from any thread (workers
 * included), so the protocol modules call them inline, one line each.
 * Pure (no libevent, OpenSSL or db.h): the store and the unit tests link
 * it. The families and their names are DESIGN round two "Operations". */
#ifndef MM_METRICS_H
#define MM_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mm_buf;

enum metrics_proto { MP_SMTP = 0, MP_IMAP, MP_POP3, MP_COUNT };

/* Why SMTP refused a recipient or a message (minimaild_smtp_refused_total). */
enum metrics_refusal {
	MR_UNKNOWN_USER = 0,     /* RCPT: no such local user (550 5.1.1) */
	MR_RELAY_DENIED,         /* RCPT: remote domain without AUTH (554 5.7.1) */
	MR_TOO_MANY_RCPTS,       /* RCPT: over max_recipients */
	MR_QUOTA,                /* RCPT or message: mailbox full */
	MR_RATE_LIMITED,         /* [limits] max_sent/rcpts_per_hour (451 4.7.1) */
	MR_TOO_LARGE,            /* message over max_message_size */
	MR_BAD_MESSAGE,          /* message refused for its content (8-bit, lines) */
	MR_LOCAL_ERROR,          /* the store failed (451 4.3.0) */
	MR_COUNT
};

/* Outbound delivery results, per recipient (minimaild_relay_deliveries_total). */
enum metrics_delivery { MD_SENT = 0, MD_BOUNCED, MD_DEFERRED, MD_EXPIRED, MD_COUNT };

/* Histograms (seconds in the output, microseconds in). */
enum metrics_hist { MH_JOB = 0, MH_LOG_FLUSH, MH_CMD_SMTP, MH_CMD_IMAP, MH_CMD_POP3, MH_COUNT };

/* A connection accepted on listener lsn (enum listener_id). */
void metrics_connection(int lsn);
/* A TLS handshake (implicit or STARTTLS) finished or failed. */
void metrics_tls_handshake(bool ok);
/* A login (LOGIN, AUTHENTICATE, AUTH, USER/PASS, APOP) succeeded or failed. */
void metrics_auth(enum metrics_proto p, bool ok);
/* The same, the protocol taken from the listener (enum listener_id). */
void metrics_auth_listener(int lsn, bool ok);
/* A password check answered from the auth cache (hit) or by crypt(3). */
void metrics_auth_cache(bool hit);
/* A Sieve script at delivery found compiled (hit) or compiled (smtp-sieve.c). */
void metrics_sieve_cache(bool hit);
/* A POP3 read-ahead chunk, used by the RETR that followed or dropped. */
void metrics_pop3_read_ahead(bool used);
/* IMAP SEARCH, one batch: how many messages' header/date keys were
 * answered by their search records (used) and how many by reading the
 * message (read). */
void metrics_search_records(uint64_t used, uint64_t read);
/* IMAP SEARCH with BODY/TEXT keys: candidates from the full-text index
 * (used) or every message read (false). */
void metrics_search_fts(bool used);
/* SORT and THREAD (cmd-sort.c): messages whose sort keys came from the
 * search records in memory, from their cache blobs, or from reading the
 * header (none in the record). */
void metrics_sort_keys(uint64_t memory, uint64_t blob, uint64_t header);
/* Bytes of search records held in memory (imap-searchmem.c): +/- delta. */
void metrics_search_memory(int64_t delta);
/* A message accepted by SMTP (the 250 after its data). */
void metrics_message_accepted(void);
void metrics_refused(enum metrics_refusal why);
void metrics_delivery(enum metrics_delivery result);
/* A submission refused by [limits] max_sent_per_hour (rcpts false) or
 * max_rcpts_per_hour (rcpts true); also counted as MR_RATE_LIMITED. */
void metrics_submission_limited(bool rcpts);
/* An outbound connection that reached no server (every address failed). */
void metrics_relay_connection_failed(void);
/* An index read to bring IMAP views up to date (imap-view.c's one
 * refresh per change of a mailbox, or a session's own sync read). */
void metrics_imap_view_refresh(void);
/* IMAP sessions in IDLE: +1 when one starts, -1 when it ends. */
void metrics_idle(int delta);
/* Application bytes read from and written to clients and servers. */
void metrics_bytes_in(uint64_t n);
void metrics_bytes_out(uint64_t n);
void metrics_observe(enum metrics_hist h, uint64_t usec);
/* Monotonic microseconds, for the observations above. */
uint64_t metrics_now_us(void);

/* What only the server knows at scrape time (read on the loop thread or
 * a worker, not counted by the calls above). */
struct metrics_snapshot {
	uint64_t store_commits, store_log_flushes;
	uint64_t store_delivery_batches, store_batched_deliveries;
	uint64_t queue_entries;          /* outbound queue length */
	uint64_t worker_jobs;            /* queued + running + done not yet called */
	uint64_t connections_open;
	bool have_store, have_queue;     /* false: the family is left out */
};

/* Appends every family in the Prometheus text exposition format 0.0.4. */
void metrics_render(struct mm_buf *b, const struct metrics_snapshot *snap);

/* Tests: zero every counter. */
void metrics_reset(void);

#endif
