/* metrics.c: counters as relaxed atomics, rendered on demand (metrics.h).
 *
 * The one idea: a metric is a fixed slot in a static array, known at
 * compile time, so an increment is one atomic add and the renderer walks
 * the same tables that name the slots. To add a family, add its slots and
 * one render block; labels are fixed enums, never client text, so the
 * output is bounded and needs no escaping. */
#include "lib/metrics.h"
#include "lib/membudget.h"
#include "lib/config.h"
#include "lib/util.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

typedef _Atomic uint64_t counter;

static counter conns[LSN_COUNT];
static counter tls_ok, tls_failed;
static counter auth[MP_COUNT][2];           /* [proto][ok] */
static counter auth_cache[2];               /* [hit] */
static counter sieve_cache[2];              /* [hit] */
static counter pop3_ahead[2];               /* [used] */
static counter search_rec[2];               /* [used] */
static counter search_fts[2];               /* [used] */
static counter sort_keys[3];                /* memory, blob, header */
static counter accepted;
static counter refused[MR_COUNT];
static counter deliveries[MD_COUNT];
static counter relay_conn_failed;
static counter view_refresh;
static counter limited[2];                  /* [rcpts] */
static _Atomic int64_t idle_sessions;
static _Atomic int64_t search_memory;
static counter bytes_in, bytes_out;

/* Upper bounds in microseconds; the last bucket is +Inf. */
static const uint64_t bounds_us[] = {
	500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 5000000, 10000000,
};
#define NBOUNDS (sizeof(bounds_us) / sizeof(bounds_us[0]))

struct hist {
	counter buckets[NBOUNDS + 1];           /* not cumulative; [NBOUNDS] is +Inf */
	counter sum_us, count;
};
static struct hist hists[MH_COUNT];

static inline void
inc(counter *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static inline uint64_t
get(counter *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

void
metrics_connection(int lsn)
{
	if (lsn >= 0 && lsn < LSN_COUNT)
		inc(&conns[lsn], 1);
}

void
metrics_tls_handshake(bool ok)
{
	inc(ok ? &tls_ok : &tls_failed, 1);
}

void
metrics_auth(enum metrics_proto p, bool ok)
{
	if (p < MP_COUNT)
		inc(&auth[p][ok ? 1 : 0], 1);
}

void
metrics_auth_cache(bool hit)
{
	inc(&auth_cache[hit ? 1 : 0], 1);
}

void
metrics_sieve_cache(bool hit)
{
	inc(&sieve_cache[hit ? 1 : 0], 1);
}

void
metrics_pop3_read_ahead(bool used)
{
	inc(&pop3_ahead[used ? 1 : 0], 1);
}

void
metrics_search_records(uint64_t used, uint64_t read)
{
	if (used > 0)
		inc(&search_rec[1], used);
	if (read > 0)
		inc(&search_rec[0], read);
}

void
metrics_sort_keys(uint64_t memory, uint64_t blob, uint64_t header)
{
	if (memory > 0)
		inc(&sort_keys[0], memory);
	if (blob > 0)
		inc(&sort_keys[1], blob);
	if (header > 0)
		inc(&sort_keys[2], header);
}

void
metrics_search_fts(bool used)
{
	inc(&search_fts[used ? 1 : 0], 1);
}

void
metrics_search_memory(int64_t delta)
{
	atomic_fetch_add_explicit(&search_memory, delta, memory_order_relaxed);
}

void
metrics_auth_listener(int lsn, bool ok)
{
	metrics_auth(lsn == LSN_IMAP || lsn == LSN_IMAPS ? MP_IMAP :
	    lsn == LSN_POP3 || lsn == LSN_POP3S ? MP_POP3 : MP_SMTP, ok);
}

void
metrics_message_accepted(void)
{
	inc(&accepted, 1);
}

void
metrics_refused(enum metrics_refusal why)
{
	if (why < MR_COUNT)
		inc(&refused[why], 1);
}

void
metrics_delivery(enum metrics_delivery result)
{
	if (result < MD_COUNT)
		inc(&deliveries[result], 1);
}

void
metrics_submission_limited(bool rcpts)
{
	inc(&limited[rcpts ? 1 : 0], 1);
	inc(&refused[MR_RATE_LIMITED], 1);
}

void
metrics_relay_connection_failed(void)
{
	inc(&relay_conn_failed, 1);
}

void
metrics_imap_view_refresh(void)
{
	inc(&view_refresh, 1);
}

void
metrics_idle(int delta)
{
	atomic_fetch_add_explicit(&idle_sessions, delta, memory_order_relaxed);
}

void
metrics_bytes_in(uint64_t n)
{
	inc(&bytes_in, n);
}

void
metrics_bytes_out(uint64_t n)
{
	inc(&bytes_out, n);
}

void
metrics_observe(enum metrics_hist h, uint64_t usec)
{
	if (h >= MH_COUNT)
		return;
	size_t i = 0;
	while (i < NBOUNDS && usec > bounds_us[i])
		i++;
	inc(&hists[h].buckets[i], 1);
	inc(&hists[h].sum_us, usec);
	inc(&hists[h].count, 1);
}

uint64_t
metrics_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- rendering ---- */

static void
family(struct mm_buf *b, const char *name, const char *type, const char *help)
{
	mm_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
sample(struct mm_buf *b, const char *name, const char *labels, uint64_t v)
{
	if (labels != NULL)
		mm_buf_printf(b, "%s{%s} %llu\n", name, labels, (unsigned long long)v);
	else
		mm_buf_printf(b, "%s %llu\n", name, (unsigned long long)v);
}

static void
render_hist(struct mm_buf *b, const char *name, const char *label, struct hist *h)
{
	uint64_t cum = 0;
	char lb[128];

	for (size_t i = 0; i <= NBOUNDS; i++) {
		cum += get(&h->buckets[i]);
		if (i < NBOUNDS)
			snprintf(lb, sizeof(lb), "%s%sle=\"%g\"", label ? label : "",
			    label ? "," : "", (double)bounds_us[i] / 1e6);
		else
			snprintf(lb, sizeof(lb), "%s%sle=\"+Inf\"", label ? label : "",
			    label ? "," : "");
		mm_buf_printf(b, "%s_bucket{%s} %llu\n", name, lb, (unsigned long long)cum);
	}
	/* the count is the +Inf bucket's, so that the two always agree */
	uint64_t sum = get(&h->sum_us);
	if (label)
		mm_buf_printf(b, "%s_sum{%s} %llu.%06llu\n%s_count{%s} %llu\n", name, label,
		    (unsigned long long)(sum / 1000000), (unsigned long long)(sum % 1000000),
		    name, label, (unsigned long long)cum);
	else
		mm_buf_printf(b, "%s_sum %llu.%06llu\n%s_count %llu\n", name,
		    (unsigned long long)(sum / 1000000), (unsigned long long)(sum % 1000000),
		    name, (unsigned long long)cum);
}

void
metrics_render(struct mm_buf *b, const struct metrics_snapshot *snap)
{
	static const char *const protos[MP_COUNT] = { "smtp", "imap", "pop3" };
	static const char *const reasons[MR_COUNT] = {
		"unknown_user", "relay_denied", "too_many_recipients", "quota",
		"rate_limited", "too_large", "bad_message", "local_error",
	};
	static const char *const results[MD_COUNT] = { "sent", "bounced", "deferred", "expired" };
	char lb[96];

	family(b, "minimaild_connections_total", "counter",
	    "Connections accepted, by listener.");
	for (int i = 0; i < LSN_COUNT; i++) {
		snprintf(lb, sizeof(lb), "listener=\"%s\"", config_listener_names[i]);
		sample(b, "minimaild_connections_total", lb, get(&conns[i]));
	}
	family(b, "minimaild_connections_open", "gauge",
	    "Client connections open now.");
	sample(b, "minimaild_connections_open", NULL, snap->connections_open);

	family(b, "minimaild_tls_handshakes_total", "counter",
	    "TLS handshakes (implicit TLS and STARTTLS), by result.");
	sample(b, "minimaild_tls_handshakes_total", "result=\"ok\"", get(&tls_ok));
	sample(b, "minimaild_tls_handshakes_total", "result=\"failed\"", get(&tls_failed));

	family(b, "minimaild_auth_total", "counter",
	    "Logins, by protocol and result.");
	for (int p = 0; p < MP_COUNT; p++)
		for (int ok = 1; ok >= 0; ok--) {
			snprintf(lb, sizeof(lb), "protocol=\"%s\",result=\"%s\"", protos[p],
			    ok ? "success" : "failure");
			sample(b, "minimaild_auth_total", lb, get(&auth[p][ok]));
		}

	family(b, "minimaild_auth_cache_total", "counter",
	    "Password checks with the auth cache on, by result: hit (no crypt(3)) or miss.");
	sample(b, "minimaild_auth_cache_total", "result=\"hit\"", get(&auth_cache[1]));
	sample(b, "minimaild_auth_cache_total", "result=\"miss\"", get(&auth_cache[0]));
	family(b, "minimaild_sieve_cache_total", "counter",
	    "Sieve scripts at delivery: found compiled (hit) or compiled (miss).");
	sample(b, "minimaild_sieve_cache_total", "result=\"hit\"", get(&sieve_cache[1]));
	sample(b, "minimaild_sieve_cache_total", "result=\"miss\"", get(&sieve_cache[0]));

	family(b, "minimaild_pop3_read_ahead_total", "counter",
	    "POP3 first chunks read ahead, by whether the next RETR used them.");
	sample(b, "minimaild_pop3_read_ahead_total", "result=\"used\"", get(&pop3_ahead[1]));
	sample(b, "minimaild_pop3_read_ahead_total", "result=\"unused\"", get(&pop3_ahead[0]));

	family(b, "minimaild_imap_search_record_total", "counter",
	    "Messages whose SEARCH header and date keys were answered by the search record (used) or by reading the message (read).");
	sample(b, "minimaild_imap_search_record_total", "result=\"used\"", get(&search_rec[1]));
	sample(b, "minimaild_imap_search_record_total", "result=\"read\"", get(&search_rec[0]));

	family(b, "minimaild_imap_sort_keys_total", "counter",
	    "Messages SORT and THREAD ordered by sort keys from the search records in memory, from their cache blobs, or by reading their header.");
	sample(b, "minimaild_imap_sort_keys_total", "source=\"memory\"", get(&sort_keys[0]));
	sample(b, "minimaild_imap_sort_keys_total", "source=\"blob\"", get(&sort_keys[1]));
	sample(b, "minimaild_imap_sort_keys_total", "source=\"header\"", get(&sort_keys[2]));

	family(b, "minimaild_imap_search_fts_total", "counter",
	    "SEARCHes with BODY or TEXT keys whose candidates the full-text index gave (used) or that read every message (scan).");
	sample(b, "minimaild_imap_search_fts_total", "result=\"used\"", get(&search_fts[1]));
	sample(b, "minimaild_imap_search_fts_total", "result=\"scan\"", get(&search_fts[0]));

	family(b, "minimaild_messages_accepted_total", "counter",
	    "Messages accepted by SMTP (250 after the data).");
	sample(b, "minimaild_messages_accepted_total", NULL, get(&accepted));
	family(b, "minimaild_smtp_refused_total", "counter",
	    "Recipients and messages SMTP refused, by reason.");
	for (int r = 0; r < MR_COUNT; r++) {
		snprintf(lb, sizeof(lb), "reason=\"%s\"", reasons[r]);
		sample(b, "minimaild_smtp_refused_total", lb, get(&refused[r]));
	}
	family(b, "minimaild_submission_limited_total", "counter",
	    "Submissions refused by the per-user hourly limits, by limit.");
	sample(b, "minimaild_submission_limited_total", "limit=\"messages\"", get(&limited[0]));
	sample(b, "minimaild_submission_limited_total", "limit=\"recipients\"", get(&limited[1]));

	if (snap->have_queue) {
		family(b, "minimaild_queue_entries", "gauge",
		    "Entries in the outbound queue.");
		sample(b, "minimaild_queue_entries", NULL, snap->queue_entries);
	}
	family(b, "minimaild_relay_deliveries_total", "counter",
	    "Outbound delivery attempts, per recipient, by result.");
	for (int r = 0; r < MD_COUNT; r++) {
		snprintf(lb, sizeof(lb), "result=\"%s\"", results[r]);
		sample(b, "minimaild_relay_deliveries_total", lb, get(&deliveries[r]));
	}
	family(b, "minimaild_relay_connection_failures_total", "counter",
	    "Outbound connections that reached no server.");
	sample(b, "minimaild_relay_connection_failures_total", NULL, get(&relay_conn_failed));

	if (snap->have_store) {
		family(b, "minimaild_store_commits_total", "counter",
		    "Write transactions committed in the store.");
		sample(b, "minimaild_store_commits_total", NULL, snap->store_commits);
		family(b, "minimaild_store_log_flushes_total", "counter",
		    "Log writes to disk (fsync) of the store's environment.");
		sample(b, "minimaild_store_log_flushes_total", NULL, snap->store_log_flushes);
		family(b, "minimaild_store_delivery_batches_total", "counter",
		    "Delivery transactions, each holding the deliveries that came "
		    "together (group delivery).");
		sample(b, "minimaild_store_delivery_batches_total", NULL,
		    snap->store_delivery_batches);
		family(b, "minimaild_store_batched_deliveries_total", "counter",
		    "Deliveries those transactions held.");
		sample(b, "minimaild_store_batched_deliveries_total", NULL,
		    snap->store_batched_deliveries);
	}
	family(b, "minimaild_store_log_flush_duration_seconds", "histogram",
	    "Time a commit waited for its log flush (group commit).");
	render_hist(b, "minimaild_store_log_flush_duration_seconds", NULL, &hists[MH_LOG_FLUSH]);

	family(b, "minimaild_worker_jobs", "gauge",
	    "Worker pool jobs queued, running or waiting for the loop.");
	sample(b, "minimaild_worker_jobs", NULL, snap->worker_jobs);
	family(b, "minimaild_worker_job_duration_seconds", "histogram",
	    "Time from a job's submission to the end of its work.");
	render_hist(b, "minimaild_worker_job_duration_seconds", NULL, &hists[MH_JOB]);

	family(b, "minimaild_command_duration_seconds", "histogram",
	    "Time from a command to its reply, by protocol.");
	for (int p = 0; p < MP_COUNT; p++) {
		snprintf(lb, sizeof(lb), "protocol=\"%s\"", protos[p]);
		render_hist(b, "minimaild_command_duration_seconds", lb, &hists[MH_CMD_SMTP + p]);
	}

	family(b, "minimaild_imap_idle_sessions", "gauge", "IMAP sessions in IDLE now.");
	int64_t idle = atomic_load_explicit(&idle_sessions, memory_order_relaxed);
	sample(b, "minimaild_imap_idle_sessions", NULL, idle > 0 ? (uint64_t)idle : 0);
	family(b, "minimaild_imap_search_memory_bytes", "gauge",
	    "Search records held in memory beside the selected mailboxes' shared views.");
	int64_t smem = atomic_load_explicit(&search_memory, memory_order_relaxed);
	sample(b, "minimaild_imap_search_memory_bytes", NULL, smem > 0 ? (uint64_t)smem : 0);
	family(b, "minimaild_imap_view_refresh_total", "counter",
	    "Index reads that bring selected mailboxes up to date: one per change for "
	    "all the sessions that share its view, one per session that reads for itself.");
	sample(b, "minimaild_imap_view_refresh_total", NULL, get(&view_refresh));

	family(b, "minimaild_received_bytes_total", "counter",
	    "Bytes read from client connections (after TLS).");
	sample(b, "minimaild_received_bytes_total", NULL, get(&bytes_in));
	family(b, "minimaild_sent_bytes_total", "counter",
	    "Bytes written to client connections (before TLS).");
	sample(b, "minimaild_sent_bytes_total", NULL, get(&bytes_out));

	/* [limits] max_memory (lib/membudget.c) */
	family(b, "minimaild_message_memory_bytes", "gauge",
	    "Message bytes held in RAM across sessions (counted against max_memory).");
	sample(b, "minimaild_message_memory_bytes", NULL, membudget_used());
	family(b, "minimaild_message_memory_limit_bytes", "gauge",
	    "[limits] max_memory (0: no limit).");
	sample(b, "minimaild_message_memory_limit_bytes", NULL, membudget_limit());
	family(b, "minimaild_message_memory_refused_total", "counter",
	    "Transfers refused for now because max_memory was reached.");
	sample(b, "minimaild_message_memory_refused_total", NULL, membudget_refusals());
}

void
metrics_reset(void)
{
	for (int i = 0; i < LSN_COUNT; i++)
		atomic_store(&conns[i], 0);
	atomic_store(&tls_ok, 0);
	atomic_store(&tls_failed, 0);
	memset(auth, 0, sizeof(auth));
	memset(auth_cache, 0, sizeof(auth_cache));
	memset(sieve_cache, 0, sizeof(sieve_cache));
	memset(pop3_ahead, 0, sizeof(pop3_ahead));
	memset(search_rec, 0, sizeof(search_rec));
	memset(sort_keys, 0, sizeof(sort_keys));
	atomic_store(&accepted, 0);
	memset(refused, 0, sizeof(refused));
	memset(deliveries, 0, sizeof(deliveries));
	memset(limited, 0, sizeof(limited));
	atomic_store(&relay_conn_failed, 0);
	atomic_store(&view_refresh, 0);
	atomic_store(&idle_sessions, 0);
	atomic_store(&bytes_in, 0);
	atomic_store(&bytes_out, 0);
	memset(hists, 0, sizeof(hists));
}
