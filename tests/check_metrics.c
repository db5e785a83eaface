/* check_metrics.c: lib/metrics.c and lib/pidfile.c. Metrics: each call
 * moves exactly its sample; histogram buckets are cumulative, +Inf equals
 * the count, boundaries fall into their own bucket; the optional families
 * appear only with their data; counters from many threads add up.
 * Pid file: written and read back, a stale or foreign pid never counts. */
#include "lib/config.h"
#include "lib/metrics.h"
#include "lib/pidfile.h"
#include "lib/util.h"

#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *
render(const struct metrics_snapshot *snap)
{
	struct mm_buf b;
	mm_buf_init(&b);
	metrics_render(&b, snap);
	return mm_buf_cstr(&b);
}

/* The value of the sample line "name{labels} V" (exact match), or -1. */
static long long
value(const char *text, const char *sample)
{
	size_t n = strlen(sample);
	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (strncmp(p, sample, n) == 0 && p[n] == ' ')
			return atoll(p + n + 1);
	}
	return -1;
}

START_TEST(test_counters)
{
	struct metrics_snapshot snap = { 0 };
	metrics_reset();
	metrics_connection(LSN_IMAPS);
	metrics_connection(LSN_IMAPS);
	metrics_connection(LSN_COUNT);          /* out of range: ignored */
	metrics_tls_handshake(true);
	metrics_tls_handshake(false);
	metrics_auth(MP_POP3, false);
	metrics_auth_listener(LSN_SUBMISSIONS, true);
	metrics_auth_listener(LSN_IMAP, false);
	metrics_message_accepted();
	metrics_refused(MR_UNKNOWN_USER);
	metrics_submission_limited(true);
	metrics_delivery(MD_DEFERRED);
	metrics_idle(1);
	metrics_idle(1);
	metrics_idle(-1);
	metrics_bytes_in(10);
	metrics_bytes_out(7);
	char *t = render(&snap);
	ck_assert_int_eq(value(t, "minimaild_connections_total{listener=\"imaps\"}"), 2);
	ck_assert_int_eq(value(t, "minimaild_connections_total{listener=\"smtp\"}"), 0);
	ck_assert_int_eq(value(t, "minimaild_tls_handshakes_total{result=\"ok\"}"), 1);
	ck_assert_int_eq(value(t, "minimaild_tls_handshakes_total{result=\"failed\"}"), 1);
	ck_assert_int_eq(value(t, "minimaild_auth_total{protocol=\"pop3\",result=\"failure\"}"), 1);
	ck_assert_int_eq(value(t, "minimaild_auth_total{protocol=\"smtp\",result=\"success\"}"), 1);
	ck_assert_int_eq(value(t, "minimaild_auth_total{protocol=\"imap\",result=\"failure\"}"), 1);
	ck_assert_int_eq(value(t, "minimaild_auth_total{protocol=\"imap\",result=\"success\"}"), 0);
	ck_assert_int_eq(value(t, "minimaild_messages_accepted_total"), 1);
	ck_assert_int_eq(value(t, "minimaild_smtp_refused_total{reason=\"unknown_user\"}"), 1);
	ck_assert_int_eq(value(t, "minimaild_smtp_refused_total{reason=\"rate_limited\"}"), 1);
	ck_assert_int_eq(value(t, "minimaild_submission_limited_total{limit=\"recipients\"}"), 1);
	ck_assert_int_eq(value(t, "minimaild_submission_limited_total{limit=\"messages\"}"), 0);
	ck_assert_int_eq(value(t, "minimaild_relay_deliveries_total{result=\"deferred\"}"), 1);
	ck_assert_int_eq(value(t, "minimaild_imap_idle_sessions"), 1);
	ck_assert_int_eq(value(t, "minimaild_received_bytes_total"), 10);
	ck_assert_int_eq(value(t, "minimaild_sent_bytes_total"), 7);
	/* without a store snapshot those families are left out */
	ck_assert_ptr_null(strstr(t, "minimaild_store_commits_total"));
	ck_assert_ptr_null(strstr(t, "minimaild_queue_entries"));
	free(t);
	snap.have_store = snap.have_queue = true;
	snap.store_commits = 5;
	snap.store_log_flushes = 3;
	snap.store_delivery_batches = 2;
	snap.store_batched_deliveries = 7;
	snap.queue_entries = 9;
	snap.worker_jobs = 4;
	t = render(&snap);
	ck_assert_int_eq(value(t, "minimaild_store_commits_total"), 5);
	ck_assert_int_eq(value(t, "minimaild_store_log_flushes_total"), 3);
	ck_assert_int_eq(value(t, "minimaild_store_delivery_batches_total"), 2);
	ck_assert_int_eq(value(t, "minimaild_store_batched_deliveries_total"), 7);
	ck_assert_int_eq(value(t, "minimaild_queue_entries"), 9);
	ck_assert_int_eq(value(t, "minimaild_worker_jobs"), 4);
	/* every family has HELP and TYPE before its samples */
	ck_assert_ptr_nonnull(strstr(t, "# HELP minimaild_auth_total "));
	ck_assert_ptr_nonnull(strstr(t, "# TYPE minimaild_auth_total counter\n"));
	free(t);
}
END_TEST

START_TEST(test_histogram)
{
	struct metrics_snapshot snap = { 0 };
	metrics_reset();
	metrics_observe(MH_LOG_FLUSH, 500);       /* exactly on the first bound */
	metrics_observe(MH_LOG_FLUSH, 501);
	metrics_observe(MH_LOG_FLUSH, 20000000);  /* above the last bound: +Inf */
	metrics_observe(MH_CMD_IMAP, 1);
	metrics_observe(MH_COUNT, 1);             /* ignored */
	char *t = render(&snap);
	const char *h = "minimaild_store_log_flush_duration_seconds";
	char s[200];
	snprintf(s, sizeof(s), "%s_bucket{le=\"0.0005\"}", h);
	ck_assert_int_eq(value(t, s), 1);
	snprintf(s, sizeof(s), "%s_bucket{le=\"0.001\"}", h);
	ck_assert_int_eq(value(t, s), 2);
	snprintf(s, sizeof(s), "%s_bucket{le=\"10\"}", h);
	ck_assert_int_eq(value(t, s), 2);
	snprintf(s, sizeof(s), "%s_bucket{le=\"+Inf\"}", h);
	ck_assert_int_eq(value(t, s), 3);
	snprintf(s, sizeof(s), "%s_count", h);
	ck_assert_int_eq(value(t, s), 3);
	ck_assert_ptr_nonnull(strstr(t, "minimaild_store_log_flush_duration_seconds_sum 20.001001\n"));
	ck_assert_int_eq(value(t, "minimaild_command_duration_seconds_count{protocol=\"imap\"}"), 1);
	ck_assert_int_eq(value(t, "minimaild_command_duration_seconds_count{protocol=\"smtp\"}"), 0);
	ck_assert_int_eq(value(t, "minimaild_command_duration_seconds_bucket{protocol=\"imap\","
	    "le=\"0.0005\"}"), 1);
	free(t);
}
END_TEST

#define THREADS 4
#define PER_THREAD 100000

static void *
bump(void *arg)
{
	for (int i = 0; i < PER_THREAD; i++) {
		metrics_message_accepted();
		metrics_observe(MH_JOB, 100);
	}
	return NULL;
}

START_TEST(test_threads)
{
	pthread_t t[THREADS];
	struct metrics_snapshot snap = { 0 };
	metrics_reset();
	for (int i = 0; i < THREADS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, bump, NULL), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	char *s = render(&snap);
	ck_assert_int_eq(value(s, "minimaild_messages_accepted_total"), THREADS * PER_THREAD);
	ck_assert_int_eq(value(s, "minimaild_worker_job_duration_seconds_count"),
	    THREADS * PER_THREAD);
	free(s);
}
END_TEST

START_TEST(test_pidfile)
{
	char dir[] = "/tmp/check_pidfile-XXXXXX", path[300];
	ck_assert_ptr_nonnull(mkdtemp(dir));
	struct config cfg;
	struct config_addr a[2] = { { "127.0.0.1", 2525 }, { "", 993 } };
	memset(&cfg, 0, sizeof(cfg));
	cfg.data_dir = dir;
	cfg.listen[LSN_SMTP].addrs = &a[0];
	cfg.listen[LSN_SMTP].naddrs = 1;
	cfg.listen[LSN_IMAPS].addrs = &a[1];
	cfg.listen[LSN_IMAPS].naddrs = 1;
	char err[512];
	ck_assert(pidfile_write(&cfg, err, sizeof(err)));
	snprintf(path, sizeof(path), "%s/minimaild.pid", dir);
	FILE *f = fopen(path, "r");
	char text[512] = "";
	ck_assert_ptr_nonnull(f);
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	char want[512];
	snprintf(want, sizeof(want), "%ld\nlisten smtp 127.0.0.1 2525\nlisten imaps * 993\n",
	    (long)getpid());
	ck_assert_str_eq(text, want);
	/* alive, but this test is not a minimaild: it does not count */
	ck_assert_int_eq(pidfile_running(dir), 0);
	ck_assert(!pidfile_lists(dir, &a[0]));
	/* a dead pid, garbage, an empty file: nothing */
	static const char *const bad[] = { "999999999\n", "abc\n", "", "-5\n", "12" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		f = fopen(path, "w");
		fputs(bad[i], f);
		fclose(f);
		ck_assert_int_eq(pidfile_running(dir), 0);
		ck_assert(!pidfile_lists(dir, &a[0]));
	}
	/* removing a file that another process wrote leaves it */
	pidfile_remove();
	ck_assert_int_eq(access(path, F_OK), 0);
	ck_assert(pidfile_write(&cfg, err, sizeof(err)));
	pidfile_remove();
	ck_assert_int_ne(access(path, F_OK), 0);
	ck_assert_int_eq(pidfile_running("/nonexistent-dir"), 0);
	rmdir(dir);
}
END_TEST

static Suite *
metrics_suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("metrics_render");
	tcase_add_test(tc, test_counters);
	tcase_add_test(tc, test_histogram);
	tcase_add_test(tc, test_threads);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	tc = tcase_create("pidfile");
	tcase_add_test(tc, test_pidfile);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(metrics_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
