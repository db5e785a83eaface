/* check_net.c: the worker pool and the conn layer without a daemon: jobs
 * run off the loop and complete on it, the pool drains at shutdown, the
 * line reader bounds lines and resynchronises, and a session whose
 * connection dies while its job runs is freed only after the job. */
#include "lib/config.h"
#include "lib/limits.h"
#include "lib/util.h"
#include "net/conn.h"
#include "net/listener.h"
#include "net/proto.h"
#include "net/server.h"
#include "net/worker.h"

#include <check.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct event_base *base;

static void
setup(void)
{
	evthread_use_pthreads();
	base = event_base_new();
}

static void
teardown(void)
{
	event_base_free(base);
}

/* Runs the loop until *flag is set or ms pass. */
static void
loop_until(volatile int *flag, int ms)
{
	uint64_t end = mm_now_ms() + (uint64_t)ms;
	while (!*flag && mm_now_ms() < end) {
		struct timeval tv = { 0, 5000 };
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
}

/* ---- worker pool ---- */

static atomic_int work_ran;
static int done_ran;
static pthread_t loop_thread;
static int done_wrong_thread;
static int work_on_loop_thread;

static void
count_work(void *arg)
{
	if (pthread_equal(pthread_self(), loop_thread))
		work_on_loop_thread++;
	usleep((useconds_t)(uintptr_t)arg);
	atomic_fetch_add(&work_ran, 1);
}

static void
count_done(void *arg)
{
	if (!pthread_equal(pthread_self(), loop_thread))
		done_wrong_thread++;
	done_ran++;
}

START_TEST(test_worker_jobs)
{
	struct worker_pool *pool = worker_pool_new(base, 4);
	loop_thread = pthread_self();
	atomic_store(&work_ran, 0);
	done_ran = done_wrong_thread = work_on_loop_thread = 0;
	for (int i = 0; i < 1000; i++)
		worker_submit(pool, count_work, count_done, (void *)(uintptr_t)(i % 7));
	uint64_t end = mm_now_ms() + 10000;
	while (done_ran < 1000 && mm_now_ms() < end)
		event_base_loop(base, EVLOOP_ONCE);
	ck_assert_int_eq(done_ran, 1000);
	ck_assert_int_eq(atomic_load(&work_ran), 1000);
	ck_assert_int_eq(done_wrong_thread, 0);
	ck_assert_int_eq(work_on_loop_thread, 0);
	ck_assert_uint_eq(worker_pending(pool), 0);
	worker_pool_free(&pool);
	ck_assert_ptr_null(pool);
}
END_TEST

static struct worker_pool *chain_pool;
static int chain_left;

static void
chain_done(void *arg)
{
	done_ran++;
	if (--chain_left > 0)
		worker_submit(chain_pool, count_work, chain_done, (void *)(uintptr_t)1000);
}

START_TEST(test_worker_free_drains)
{
	/* Jobs still queued at shutdown run, and their done functions run on
	 * the caller's thread, including jobs submitted by done functions. */
	loop_thread = pthread_self();
	chain_pool = worker_pool_new(base, 2);
	atomic_store(&work_ran, 0);
	done_ran = done_wrong_thread = 0;
	for (int i = 0; i < 50; i++)
		worker_submit(chain_pool, count_work, count_done, (void *)(uintptr_t)2000);
	chain_left = 5;
	worker_submit(chain_pool, count_work, chain_done, (void *)(uintptr_t)1000);
	worker_pool_free(&chain_pool);
	ck_assert_int_eq(atomic_load(&work_ran), 55);
	ck_assert_int_eq(done_ran, 55);
	ck_assert_int_eq(done_wrong_thread, 0);
}
END_TEST

/* ---- conn with a test protocol module ---- */

struct tsess {
	struct conn *c;
	struct mm_strlist lines;
	int too_long;
	int bare_lf;
	int freed_flag;
	int job_started;
};

static struct tsess *last_sess;
static int sess_freed;
static int job_done_calls;
static int job_done_alive;
static int job_done_before_free;
static volatile int job_gate;   /* the worker waits until this is set */
static size_t test_maxlen = 100;

static void
slow_work(void *arg)
{
	while (!job_gate)
		usleep(1000);
}

static void
slow_done(void *arg, bool alive)
{
	job_done_calls++;
	job_done_alive = alive;
	if (!sess_freed)
		job_done_before_free = 1;
}

static void *
t_start(struct conn *c)
{
	struct tsess *s = xcalloc(1, sizeof(*s));
	s->c = c;
	mm_strlist_init(&s->lines);
	last_sess = s;
	conn_puts(c, "hello\r\n");
	return s;
}

static void
t_input(void *arg)
{
	struct tsess *s = arg;
	char *line;
	size_t len;
	unsigned ending;
	for (;;) {
		if (conn_job_running(s->c) || conn_is_closed(s->c))
			return;
		enum conn_line r = conn_getline(s->c, test_maxlen, &line, &len, &ending);
		if (r == CONN_LINE_NEED_MORE)
			return;
		if (r == CONN_LINE_TOO_LONG) {
			s->too_long++;
			conn_puts(s->c, "ERR too long\r\n");
			continue;
		}
		if (ending == CONN_LINE_BARE_LF)
			s->bare_lf++;
		mm_strlist_addn(&s->lines, line, len);
		if (len == 3 && memcmp(line, "JOB", 3) == 0) {
			s->job_started = 1;
			conn_run_job(s->c, slow_work, slow_done, NULL);
		} else if (len == 5 && memcmp(line, "SHORT", 5) == 0) {
			conn_set_timeout(s->c, 1);
			conn_puts(s->c, "short\r\n");
		} else if (len == 4 && memcmp(line, "QUIT", 4) == 0) {
			conn_puts(s->c, "bye\r\n");
			conn_close(s->c);
		} else {
			conn_printf(s->c, "OK %zu\r\n", len);
		}
	}
}

static void
t_free(void *arg)
{
	struct tsess *s = arg;
	mm_strlist_clear(&s->lines);
	free(s);
	sess_freed = 1;
	last_sess = NULL;
}

static int timeouts;

static void
t_timeout(void *arg)
{
	struct tsess *s = arg;
	timeouts++;
	conn_puts(s->c, "idle too long\r\n");
}

static const char *
t_busy(bool per_ip)
{
	return per_ip ? "BUSY per-ip\r\n" : "BUSY total\r\n";
}

static const struct proto_module test_module = {
	.name = "test", .start = t_start, .on_input = t_input, .free = t_free,
	.busy_reply = t_busy, .on_timeout = t_timeout,
};

static struct mm_server tsrv;
static int peer_fd;

static void
conn_setup(void)
{
	setup();
	struct config_errors errs;
	config_errors_init(&errs);
	static const char text[] = "domains = example.org\n[limits]\nmax_connections_per_ip = 2\n";
	tsrv.cfg = config_parse("test.conf", text, sizeof(text) - 1, &errs);
	ck_assert_ptr_nonnull(tsrv.cfg);
	config_errors_clear(&errs);
	tsrv.base = base;
	tsrv.pool = worker_pool_new(base, 2);
	listener_set_modules(&test_module, &test_module, &test_module);
	sess_freed = job_done_calls = job_done_alive = job_done_before_free = 0;
	job_gate = 0;
	test_maxlen = 100;
}

static void
conn_teardown(void)
{
	job_gate = 1;
	conn_abort_all();
	worker_pool_free(&tsrv.pool);
	config_free(&tsrv.cfg);
	teardown();
}

/* A connected socketpair; the server side goes to conn_accept. */
static void
open_conn(void)
{
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	struct sockaddr_in sin = { .sin_family = AF_INET };
	sin.sin_addr.s_addr = htonl(0x7f000001);
	conn_accept(&tsrv, sv[0], (struct sockaddr *)&sin, sizeof(sin), LSN_SMTP);
	peer_fd = sv[1];
}

static void
peer_send(const char *s, size_t n)
{
	ck_assert_int_eq(write(peer_fd, s, n), (ssize_t)n);
}

/* Reads what the server sent so far (runs the loop a little first). */
static char *
peer_read(int ms)
{
	static char buf[65536];
	size_t off = 0;
	uint64_t end = mm_now_ms() + (uint64_t)ms;
	while (mm_now_ms() < end) {
		struct timeval tv = { 0, 2000 };
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
		ssize_t n = read(peer_fd, buf + off, sizeof(buf) - 1 - off);
		if (n > 0)
			off += (size_t)n;
	}
	buf[off] = '\0';
	return buf;
}

START_TEST(test_conn_lines)
{
	conn_setup();
	open_conn();
	ck_assert_str_eq(peer_read(50), "hello\r\n");
	peer_send("ab", 2);
	peer_read(20);
	peer_send("c\r\nbare\nnul\0x\r\n", 15);
	ck_assert_str_eq(peer_read(50), "OK 3\r\nOK 4\r\nOK 5\r\n");
	struct tsess *s = last_sess;
	ck_assert_uint_eq(s->lines.n, 3);
	ck_assert_str_eq(s->lines.v[0], "abc");
	ck_assert_int_eq(s->bare_lf, 1);
	ck_assert_int_eq(memcmp(s->lines.v[2], "nul\0x", 5), 0);
	close(peer_fd);
	conn_teardown();
}
END_TEST

START_TEST(test_conn_too_long)
{
	/* An overlong line is answered once, swallowed to its LF, and the next
	 * line is read normally; the buffer never holds more than its bound. */
	conn_setup();
	open_conn();
	peer_read(20);
	char big[8192];
	memset(big, 'x', sizeof(big));
	peer_send(big, sizeof(big));
	ck_assert_str_eq(peer_read(50), "ERR too long\r\n");
	peer_send(big, sizeof(big));
	peer_send("\r\nNEXT\r\n", 8);
	ck_assert_str_eq(peer_read(50), "OK 4\r\n");
	/* exactly maxlen is fine, maxlen + 1 is not */
	peer_send(big, 100);
	peer_send("\r\n", 2);
	peer_send(big, 101);
	peer_send("\r\n", 2);
	ck_assert_str_eq(peer_read(50), "OK 100\r\nERR too long\r\n");
	ck_assert_int_eq(last_sess->too_long, 2);
	close(peer_fd);
	conn_teardown();
}
END_TEST

START_TEST(test_conn_pipelined_job)
{
	/* Lines after a job wait for it and are then processed in order. */
	conn_setup();
	open_conn();
	peer_read(20);
	peer_send("JOB\r\nA\r\nBB\r\n", 12);
	ck_assert_str_eq(peer_read(50), "");
	job_gate = 1;
	ck_assert_str_eq(peer_read(100), "OK 1\r\nOK 2\r\n");
	ck_assert_int_eq(job_done_calls, 1);
	ck_assert_int_eq(job_done_alive, 1);
	close(peer_fd);
	conn_teardown();
}
END_TEST

START_TEST(test_conn_freed_after_job)
{
	/* The connection is dropped (shutdown's conn_abort_all) while a job
	 * runs: the session stays allocated until the job's done ran (with
	 * alive = false), then it is freed. */
	conn_setup();
	open_conn();
	peer_read(20);
	peer_send("JOB\r\n", 5);
	peer_read(30);
	ck_assert_ptr_nonnull(last_sess);
	ck_assert_int_eq(last_sess->job_started, 1);
	conn_abort_all();
	peer_read(30);
	ck_assert_int_eq(sess_freed, 0);
	ck_assert_int_eq(job_done_calls, 0);
	job_gate = 1;
	loop_until(&sess_freed, 2000);
	ck_assert_int_eq(job_done_calls, 1);
	ck_assert_int_eq(job_done_alive, 0);
	ck_assert_int_eq(job_done_before_free, 1);
	ck_assert_int_eq(sess_freed, 1);
	ck_assert_uint_eq(conn_live_count(), 0);
	close(peer_fd);
	conn_teardown();
}
END_TEST

START_TEST(test_conn_eof_during_job)
{
	/* The client sends a command, a pipelined line, and half-closes while
	 * the job runs: the job completes alive, the pipelined line is served,
	 * the answers are flushed, then the connection closes. */
	conn_setup();
	open_conn();
	peer_read(20);
	peer_send("JOB\r\nAFTER\r\n", 12);
	shutdown(peer_fd, SHUT_WR);
	ck_assert_str_eq(peer_read(50), "");
	ck_assert_int_eq(sess_freed, 0);
	job_gate = 1;
	ck_assert_str_eq(peer_read(100), "OK 5\r\n");
	ck_assert_int_eq(job_done_alive, 1);
	loop_until(&sess_freed, 1000);
	ck_assert_int_eq(sess_freed, 1);
	close(peer_fd);
	conn_teardown();
}
END_TEST

START_TEST(test_conn_close_flushes)
{
	conn_setup();
	open_conn();
	peer_read(20);
	peer_send("QUIT\r\nIGNORED\r\n", 15);
	ck_assert_str_eq(peer_read(50), "bye\r\n");
	loop_until(&sess_freed, 1000);
	ck_assert_int_eq(sess_freed, 1);
	char b;
	ck_assert_int_eq(read(peer_fd, &b, 1), 0);   /* EOF */
	close(peer_fd);
	conn_teardown();
}
END_TEST

START_TEST(test_conn_limit_per_ip)
{
	conn_setup();
	int fds[3];
	for (int i = 0; i < 3; i++) {
		open_conn();
		fds[i] = peer_fd;
	}
	peer_fd = fds[2];
	ck_assert_str_eq(peer_read(50), "BUSY per-ip\r\n");
	peer_fd = fds[0];
	ck_assert_str_eq(peer_read(20), "hello\r\n");
	ck_assert_uint_eq(listener_conn_count(), 2);
	for (int i = 0; i < 3; i++)
		close(fds[i]);
	peer_read(30);
	ck_assert_uint_eq(listener_conn_count(), 0);
	conn_teardown();
}
END_TEST

START_TEST(test_conn_idle_timeout)
{
	/* A session's idle timeout: on_timeout says goodbye, the conn closes
	 * after flushing it, and the session is freed. */
	conn_setup();
	timeouts = 0;
	open_conn();
	peer_read(20);
	peer_send("SHORT\r\n", 7);
	ck_assert_str_eq(peer_read(50), "short\r\n");
	ck_assert_int_eq(timeouts, 0);
	ck_assert_str_eq(peer_read(1500), "idle too long\r\n");
	ck_assert_int_eq(timeouts, 1);
	loop_until(&sess_freed, 1000);
	ck_assert_int_eq(sess_freed, 1);
	char b;
	ck_assert_int_eq(read(peer_fd, &b, 1), 0);
	close(peer_fd);
	conn_teardown();
}
END_TEST

static Suite *
net_suite(void)
{
	Suite *s = suite_create("net");
	TCase *tc = tcase_create("worker");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_worker_jobs);
	tcase_add_test(tc, test_worker_free_drains);
	suite_add_tcase(s, tc);
	tc = tcase_create("conn");
	tcase_add_test(tc, test_conn_lines);
	tcase_add_test(tc, test_conn_too_long);
	tcase_add_test(tc, test_conn_pipelined_job);
	tcase_add_test(tc, test_conn_freed_after_job);
	tcase_add_test(tc, test_conn_eof_during_job);
	tcase_add_test(tc, test_conn_close_flushes);
	tcase_add_test(tc, test_conn_limit_per_ip);
	tcase_add_test(tc, test_conn_idle_timeout);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(net_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
