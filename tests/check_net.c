/* check_net.c: the worker pool and the conn layer without a daemon: jobs
 * run off the loop and complete on it, the pool drains at shutdown, the
 * line reader bounds lines and resynchronises, and a session whose
 * connection dies while its job runs is freed only after the job. While a
 * job runs, no callback reaches the session (timeout, hang-up, shutdown,
 * notification): the test module counts any that does, and its job reads
 * memory that on_timeout frees, so AddressSanitizer sees a slip too.
 * Backpressure: a peer that never reads stops the input, output stays
 * under its bound, a runaway answer hits the hard cap. */
#include "lib/config.h"
#include "lib/limits.h"
#include "lib/metrics.h"
#include "lib/util.h"
#include "net/conn.h"
#include "net/hostname.h"
#include "net/listener.h"
#include "net/notify.h"
#include "net/proto.h"
#include "net/server.h"
#include "store/store.h"
#include "net/worker.h"

#include <check.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
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
		worker_submit(pool, (enum worker_lane)(i % WORKER_LANES), count_work, count_done,
		    (void *)(uintptr_t)(i % 7));
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
		worker_submit(chain_pool, WORKER_LANE_SLOW, count_work, chain_done,
		    (void *)(uintptr_t)1000);
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
		worker_submit(chain_pool, (enum worker_lane)(i % WORKER_LANES), count_work,
		    count_done, (void *)(uintptr_t)2000);
	chain_left = 5;
	worker_submit(chain_pool, WORKER_LANE_READ, count_work, chain_done, (void *)(uintptr_t)1000);
	worker_pool_free(&chain_pool);
	ck_assert_int_eq(atomic_load(&work_ran), 55);
	ck_assert_int_eq(done_ran, 55);
	ck_assert_int_eq(done_wrong_thread, 0);
}
END_TEST

/* ---- lanes ---- */

static volatile int lane_gate;           /* blocked jobs wait until set */
static atomic_int lane_running[WORKER_LANES], lane_max[WORKER_LANES];
static int lane_done[WORKER_LANES];

static void
lane_block_work(void *arg)
{
	int lane = (int)(intptr_t)arg;
	int now = atomic_fetch_add(&lane_running[lane], 1) + 1;
	int m = atomic_load(&lane_max[lane]);
	while (now > m && !atomic_compare_exchange_weak(&lane_max[lane], &m, now))
		;
	while (!lane_gate)
		usleep(1000);
	atomic_fetch_sub(&lane_running[lane], 1);
}

static void
lane_work(void *arg)
{
	(void)arg;
}

static void
lane_done_cb(void *arg)
{
	lane_done[(intptr_t)arg]++;
}

static int
loop_for(int *flag, int want, int ms)
{
	uint64_t end = mm_now_ms() + (uint64_t)ms;
	while (*flag < want && mm_now_ms() < end) {
		struct timeval tv = { 0, 5000 };
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
	return *flag;
}

static int
wait_running(int lane, int want, int ms)
{
	uint64_t end = mm_now_ms() + (uint64_t)ms;
	while (atomic_load(&lane_running[lane]) < want && mm_now_ms() < end)
		usleep(1000);
	return atomic_load(&lane_running[lane]);
}

/* A saturated read lane (and a stuck slow lane) never delays a commit:
 * with 4 threads, reads and slow work hold at most 3, the slow lane 1,
 * and the slow lane gets its thread even though reads came first and
 * keep coming. Deterministic: the blocked jobs never finish before the
 * commit-lane job has (the gate opens after), so no timing is asserted;
 * the commit job's latency is printed. */
START_TEST(test_worker_lanes)
{
	struct worker_pool *pool = worker_pool_new(base, 4);
	lane_gate = 0;
	for (int l = 0; l < WORKER_LANES; l++) {
		atomic_store(&lane_running[l], 0);
		atomic_store(&lane_max[l], 0);
		lane_done[l] = 0;
	}
	for (int i = 0; i < 20; i++)
		worker_submit(pool, WORKER_LANE_READ, lane_block_work, lane_done_cb,
		    (void *)(intptr_t)WORKER_LANE_READ);
	ck_assert_int_eq(wait_running(WORKER_LANE_READ, 3, 5000), 3);
	for (int i = 0; i < 3; i++)
		worker_submit(pool, WORKER_LANE_SLOW, lane_block_work, lane_done_cb,
		    (void *)(intptr_t)WORKER_LANE_SLOW);
	/* one commit-lane job: runs at once on the thread kept for it */
	uint64_t t0 = metrics_now_us();
	worker_submit(pool, WORKER_LANE_COMMIT, lane_work, lane_done_cb,
	    (void *)(intptr_t)WORKER_LANE_COMMIT);
	ck_assert_int_eq(loop_for(&lane_done[WORKER_LANE_COMMIT], 1, 10000), 1);
	printf("worker lanes: a commit job behind 20 blocked reads and 3 blocked "
	    "slow jobs took %.1f ms\n", (double)(metrics_now_us() - t0) / 1000.0);
	ck_assert_int_eq(lane_done[WORKER_LANE_READ], 0);
	ck_assert_int_eq(atomic_load(&lane_running[WORKER_LANE_SLOW]), 0);
	/* many commits while everything else is stuck */
	for (int i = 0; i < 200; i++)
		worker_submit(pool, WORKER_LANE_COMMIT, lane_work, lane_done_cb,
		    (void *)(intptr_t)WORKER_LANE_COMMIT);
	ck_assert_int_eq(loop_for(&lane_done[WORKER_LANE_COMMIT], 201, 10000), 201);
	ck_assert_int_eq(lane_done[WORKER_LANE_READ], 0);
	ck_assert_int_le(atomic_load(&lane_max[WORKER_LANE_READ]), 3);
	lane_gate = 1;
	ck_assert_int_eq(loop_for(&lane_done[WORKER_LANE_READ], 20, 10000), 20);
	ck_assert_int_eq(loop_for(&lane_done[WORKER_LANE_SLOW], 3, 10000), 3);
	ck_assert_int_le(atomic_load(&lane_max[WORKER_LANE_SLOW]), 1);
	ck_assert_int_le(atomic_load(&lane_max[WORKER_LANE_READ]), 3);
	worker_pool_free(&pool);

	/* slow work first, then a flood of reads: the slow lane keeps one
	 * thread, the reads get the other two, a commit still runs */
	pool = worker_pool_new(base, 4);
	lane_gate = 0;
	for (int l = 0; l < WORKER_LANES; l++) {
		atomic_store(&lane_running[l], 0);
		atomic_store(&lane_max[l], 0);
		lane_done[l] = 0;
	}
	for (int i = 0; i < 3; i++)
		worker_submit(pool, WORKER_LANE_SLOW, lane_block_work, lane_done_cb,
		    (void *)(intptr_t)WORKER_LANE_SLOW);
	ck_assert_int_eq(wait_running(WORKER_LANE_SLOW, 1, 5000), 1);
	for (int i = 0; i < 20; i++)
		worker_submit(pool, WORKER_LANE_READ, lane_block_work, lane_done_cb,
		    (void *)(intptr_t)WORKER_LANE_READ);
	ck_assert_int_eq(wait_running(WORKER_LANE_READ, 2, 5000), 2);
	worker_submit(pool, WORKER_LANE_COMMIT, lane_work, lane_done_cb,
	    (void *)(intptr_t)WORKER_LANE_COMMIT);
	ck_assert_int_eq(loop_for(&lane_done[WORKER_LANE_COMMIT], 1, 10000), 1);
	ck_assert_int_eq(atomic_load(&lane_running[WORKER_LANE_SLOW]), 1);
	ck_assert_int_eq(atomic_load(&lane_running[WORKER_LANE_READ]), 2);
	lane_gate = 1;
	worker_pool_free(&pool);
	ck_assert_int_eq(lane_done[WORKER_LANE_READ], 20);
	ck_assert_int_eq(lane_done[WORKER_LANE_SLOW], 3);
	ck_assert_int_le(atomic_load(&lane_max[WORKER_LANE_SLOW]), 1);
}
END_TEST

/* Reads one at a time, each submitted after the last one's done ran:
 * the thread that takes each is woken once, and a job's end wakes no
 * other thread (it used to wake one per job, to find nothing). */
START_TEST(test_worker_no_empty_wakeups)
{
	struct worker_pool *pool = worker_pool_new(base, 4);
	lane_done[WORKER_LANE_READ] = 0;
	for (int i = 0; i < 50; i++) {
		worker_submit(pool, WORKER_LANE_READ, lane_work, lane_done_cb,
		    (void *)(intptr_t)WORKER_LANE_READ);
		ck_assert_int_eq(loop_for(&lane_done[WORKER_LANE_READ], i + 1, 5000), i + 1);
	}
	uint64_t empty = worker_empty_wakeups(pool);
	printf("worker: 50 reads one at a time, %llu empty wake-ups\n",
	    (unsigned long long)empty);
	ck_assert_uint_le(empty, 10);
	worker_pool_free(&pool);
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
	char *view;          /* read by view_work, freed by on_timeout */
	size_t nview;
};

static int in_job;       /* a job of the test session is running */
static int violations;   /* callbacks that reached the session meanwhile */
static int shutdowns, notifies, drained_calls;
static char event_order[64];   /* "D" job done, "T" timeout, "S" shutdown, "N" notify */

static void
order_add(char e)
{
	size_t n = strlen(event_order);
	if (n + 1 < sizeof(event_order)) {
		event_order[n] = e;
		event_order[n + 1] = '\0';
	}
}

static void
check_not_in_job(void)
{
	if (in_job)
		violations++;
}

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

static atomic_long view_sum;

/* Reads the session's view for as long as the gate is closed, as IMAP's
 * FETCH renders from s->msgs on a worker. */
static void
view_work(void *arg)
{
	struct tsess *s = arg;
	do {
		long sum = 0;
		for (size_t i = 0; i < s->nview; i++)
			sum += s->view[i];
		atomic_store(&view_sum, sum);
		usleep(1000);
	} while (!job_gate);
}

static void
view_done(void *arg, bool alive)
{
	struct tsess *s = arg;
	in_job = 0;
	order_add('D');
	job_done_calls++;
	job_done_alive = alive;
	if (alive)
		conn_puts(s->c, "done\r\n");
}

static void
slow_done(void *arg, bool alive)
{
	in_job = 0;
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
	s->nview = 4096;
	s->view = xcalloc(1, s->nview);
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
	check_not_in_job();
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
			in_job = 1;
			conn_run_job(s->c, WORKER_LANE_COMMIT, slow_work, slow_done, NULL);
		} else if (len == 8 && memcmp(line, "SHORTJOB", 8) == 0) {
			/* a 1 s idle timeout, then a job longer than that */
			conn_set_timeout(s->c, 1);
			s->job_started = 1;
			in_job = 1;
			conn_run_job(s->c, WORKER_LANE_READ, view_work, view_done, s);
		} else if (len == 3 && memcmp(line, "BIG", 3) == 0) {
			/* 10 KiB of answer per line */
			static char big[10240];
			memset(big, 'b', sizeof(big) - 2);
			memcpy(big + sizeof(big) - 2, "\r\n", 2);
			conn_write(s->c, big, sizeof(big));
		} else if (len == 4 && memcmp(line, "HUGE", 4) == 0) {
			/* one answer past the hard cap, written in one go */
			static char chunk[65536];
			memset(chunk, 'h', sizeof(chunk));
			for (size_t k = 0; k < CONN_OUTPUT_PREAUTH_MAX_BYTES / sizeof(chunk) + 2; k++)
				conn_write(s->c, chunk, sizeof(chunk));
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
	check_not_in_job();
	free(s->view);
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
	check_not_in_job();
	order_add('T');
	timeouts++;
	/* as imap_view_clear: what a job may be reading goes */
	free(s->view);
	s->view = NULL;
	s->nview = 0;
	conn_puts(s->c, "idle too long\r\n");
}

static void
t_shutdown(void *arg)
{
	struct tsess *s = arg;
	check_not_in_job();
	order_add('S');
	shutdowns++;
	conn_puts(s->c, "shutting down\r\n");
}

static void
t_drained(void *arg)
{
	check_not_in_job();
	drained_calls++;
}

static void
t_notify(void *arg)
{
	check_not_in_job();
	order_add('N');
	notifies++;
}

static const char *
t_busy(bool per_ip)
{
	return per_ip ? "BUSY per-ip\r\n" : "BUSY total\r\n";
}

static const struct proto_module test_module = {
	.name = "test", .start = t_start, .on_input = t_input, .free = t_free,
	.busy_reply = t_busy, .on_timeout = t_timeout, .on_shutdown = t_shutdown,
	.on_drained = t_drained,
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
	in_job = violations = shutdowns = notifies = drained_calls = timeouts = 0;
	event_order[0] = '\0';
	signal(SIGPIPE, SIG_IGN);
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

/* conn_accept sets neither TCP_NODELAY nor TCP_NOTSENT_LOWAT per socket:
 * the listener's are inherited by what accept(2) returns (if a kernel
 * stopped copying them, this fails); and the local address is asked of
 * the kernel only when a session wants it. */
START_TEST(test_conn_tcp_accept)
{
	conn_setup();
	struct config_addr a = { "127.0.0.1", 0 };
	int lfd = listener_conn_socket(&a);
	ck_assert_int_ge(lfd, 0);
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&sin, &len), 0);
	int cfd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(cfd, 0);
	ck_assert_int_eq(connect(cfd, (struct sockaddr *)&sin, len), 0);
	ck_assert_int_eq(fcntl(cfd, F_SETFL, O_NONBLOCK), 0);   /* for peer_read */
	struct sockaddr_in peer;
	socklen_t plen = sizeof(peer);
	int afd = -1;
	for (int i = 0; i < 1000 && afd < 0; i++) {
		afd = accept4(lfd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (afd < 0)
			usleep(1000);
	}
	ck_assert_int_ge(afd, 0);
	int v = 0;
	len = sizeof(v);
	ck_assert_int_eq(getsockopt(afd, IPPROTO_TCP, TCP_NODELAY, &v, &len), 0);
	ck_assert_int_ne(v, 0);
	v = 0;
	len = sizeof(v);
	ck_assert_int_eq(getsockopt(afd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &v, &len), 0);
	ck_assert_int_eq(v, CONN_NOTSENT_LOWAT_BYTES);

	last_sess = NULL;
	conn_accept(&tsrv, afd, (struct sockaddr *)&peer, plen, LSN_SMTP);
	peer_fd = cfd;
	ck_assert_str_eq(peer_read(50), "hello\r\n");
	ck_assert_ptr_nonnull(last_sess);
	ck_assert_str_eq(conn_local_addr(last_sess->c), "127.0.0.1");
	ck_assert_uint_eq(conn_local_port(last_sess->c), ntohs(sin.sin_port));
	ck_assert_str_eq(conn_peer_addr(last_sess->c), "127.0.0.1");
	close(cfd);
	close(lfd);
	conn_teardown();
}
END_TEST

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

/* ---- nothing reaches the session while its job runs ---- */

START_TEST(test_conn_timeout_during_job)
{
	/* The idle timeout runs out while a job reads the session's view: it
	 * never fires while the job runs; the idle time counts again from the
	 * job's done (the client was waiting for us), then the timeout says
	 * goodbye and closes. */
	conn_setup();
	open_conn();
	peer_read(20);
	peer_send("SHORTJOB\r\n", 10);
	ck_assert_str_eq(peer_read(1800), "");
	ck_assert_int_eq(timeouts, 0);
	ck_assert_int_eq(job_done_calls, 0);
	job_gate = 1;
	ck_assert_str_eq(peer_read(300), "done\r\n");
	ck_assert_int_eq(timeouts, 0);
	ck_assert_str_eq(peer_read(1500), "idle too long\r\n");
	ck_assert_str_eq(event_order, "DT");
	ck_assert_int_eq(job_done_alive, 1);
	loop_until(&sess_freed, 1000);
	ck_assert_int_eq(sess_freed, 1);
	ck_assert_int_eq(violations, 0);
	close(peer_fd);
	conn_teardown();
}
END_TEST

/* Same while the job waits in the queue behind others that hold every
 * thread: the timeout waits for it too (issue 18: SMTP's command timeout
 * never fires while the session's job is queued or running). */
START_TEST(test_conn_timeout_while_queued)
{
	conn_setup();
	for (int i = 0; i < 2; i++)          /* the pool has 2 threads */
		worker_submit(tsrv.pool, WORKER_LANE_COMMIT, slow_work, NULL, NULL);
	open_conn();
	peer_read(20);
	peer_send("SHORTJOB\r\n", 10);
	ck_assert_str_eq(peer_read(2500), "");
	ck_assert_int_eq(timeouts, 0);
	ck_assert_int_eq(job_done_calls, 0);
	job_gate = 1;
	ck_assert_str_eq(peer_read(300), "done\r\n");
	ck_assert_int_eq(timeouts, 0);
	ck_assert_int_eq(job_done_alive, 1);
	ck_assert_str_eq(peer_read(1500), "idle too long\r\n");
	ck_assert_int_eq(violations, 0);
	close(peer_fd);
	conn_teardown();
}
END_TEST

START_TEST(test_conn_close_during_job)
{
	/* The client closes its socket while the job runs: nothing is called
	 * in the session until the job's done; then the session is freed. */
	conn_setup();
	open_conn();
	peer_read(20);
	peer_send("SHORTJOB\r\n", 10);
	peer_read(30);
	close(peer_fd);
	struct timeval tv = { 0, 300000 };
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
	ck_assert_int_eq(sess_freed, 0);
	ck_assert_int_eq(job_done_calls, 0);
	job_gate = 1;
	loop_until(&sess_freed, 2000);
	ck_assert_int_eq(job_done_calls, 1);
	ck_assert_int_eq(sess_freed, 1);
	ck_assert_int_eq(violations, 0);
	ck_assert_uint_eq(conn_live_count(), 0);
	conn_teardown();
}
END_TEST

static void
count_notify_calls(void *sess)
{
	t_notify(sess);
}

START_TEST(test_conn_notify_during_job)
{
	/* A notification (the hub, through conn_notify) while the job runs
	 * waits for the done; two of them are delivered once. Without a job
	 * it is delivered at once. */
	conn_setup();
	open_conn();
	peer_read(20);
	conn_notify(last_sess->c, count_notify_calls);
	ck_assert_int_eq(notifies, 1);
	peer_send("SHORTJOB\r\n", 10);
	peer_read(30);
	ck_assert_int_eq(in_job, 1);
	conn_notify(last_sess->c, count_notify_calls);
	conn_notify(last_sess->c, count_notify_calls);
	peer_read(30);
	ck_assert_int_eq(notifies, 1);
	job_gate = 1;
	ck_assert_str_eq(peer_read(100), "done\r\n");
	ck_assert_int_eq(notifies, 2);
	ck_assert_str_eq(event_order, "NDN");
	ck_assert_int_eq(violations, 0);
	close(peer_fd);
	conn_teardown();
}
END_TEST

START_TEST(test_conn_shutdown_during_job)
{
	/* SIGTERM's conn_shutdown_all while the job runs: the goodbye comes
	 * after the job's answer, then the connection closes. */
	conn_setup();
	open_conn();
	peer_read(20);
	peer_send("SHORTJOB\r\n", 10);
	peer_read(30);
	conn_shutdown_all();
	ck_assert_str_eq(peer_read(50), "");
	ck_assert_int_eq(shutdowns, 0);
	job_gate = 1;
	ck_assert_str_eq(peer_read(100), "done\r\nshutting down\r\n");
	ck_assert_str_eq(event_order, "DS");
	loop_until(&sess_freed, 1000);
	ck_assert_int_eq(sess_freed, 1);
	ck_assert_int_eq(violations, 0);
	char b;
	ck_assert_int_eq(read(peer_fd, &b, 1), 0);
	close(peer_fd);
	conn_teardown();
}
END_TEST

/* ---- backpressure ---- */

/* Run the loop, writing the rest of cmds from *off to the peer and
 * reading what the daemon answers, until want bytes came or ms passed;
 * returns the bytes read. */
static size_t
pump_peer(const char *cmds, size_t len, size_t *off, size_t want, uint64_t ms)
{
	static char buf[65536];
	size_t got = 0;
	uint64_t end = mm_now_ms() + ms;
	while (got < want && mm_now_ms() < end) {
		if (*off < len) {
			ssize_t n = write(peer_fd, cmds + *off, len - *off);
			if (n > 0)
				*off += (size_t)n;
		}
		struct timeval tv = { 0, 2000 };
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
		ssize_t n;
		while ((n = read(peer_fd, buf, sizeof(buf))) > 0)
			got += (size_t)n;
	}
	return got;
}

START_TEST(test_conn_backpressure)
{
	/* A peer pipelines 2000 commands of 10 KiB answers each and reads
	 * nothing: the conn stops taking input once the output is above the
	 * high watermark, and most commands stay unread in the socket. When
	 * the peer reads, every command is answered, in order. */
	conn_setup();
	open_conn();
	peer_read(20);
	int small = 16384;
	setsockopt(peer_fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	static char cmds[2000 * 5];
	for (int i = 0; i < 2000; i++)
		memcpy(cmds + i * 5, "BIG\r\n", 5);
	size_t off = 0;
	uint64_t end = mm_now_ms() + 3000;
	while (off < sizeof(cmds) && mm_now_ms() < end) {
		ssize_t n = write(peer_fd, cmds + off, sizeof(cmds) - off);
		if (n > 0)
			off += (size_t)n;
		struct timeval tv = { 0, 5000 };
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
	struct tsess *s = last_sess;
	size_t answered = s->lines.n;
	size_t pending = conn_output_len(s->c);
	ck_assert_uint_lt(answered, 200);
	ck_assert_uint_le(pending, CONN_OUTPUT_PREAUTH_HIGH_BYTES + 10240);
	ck_assert_int_eq(sess_freed, 0);
	/* now read: everything arrives */
	size_t want = 2000 * 10240 + 0;
	ck_assert_uint_eq(pump_peer(cmds, sizeof(cmds), &off, want, 20000), want);
	ck_assert_uint_eq(last_sess->lines.n, 2000);
	close(peer_fd);
	conn_teardown();
}
END_TEST

/* Every ioctl(FIONREAD) of the process (libevent's evbuffer_read asks one
 * before each read it makes); the rest passes through. */
static atomic_int fionread_calls;

int
ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	va_start(ap, req);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	if (req == FIONREAD)
		atomic_fetch_add(&fionread_calls, 1);
	return (int)syscall(SYS_ioctl, fd, req, arg);
}

START_TEST(test_conn_direct_read)
{
	/* A plain socket is read by conn itself: no FIONREAD per read; while
	 * a job holds the session, reading stops at the read watermark, and
	 * goes on as the session consumes the input, to the last line. */
	conn_setup();
	open_conn();
	peer_read(20);
	atomic_store(&fionread_calls, 0);
	enum { NLINES = 2000, LINE = 50 };
	static char cmds[5 + NLINES * LINE];
	memcpy(cmds, "JOB\r\n", 5);
	for (int i = 0; i < NLINES; i++) {
		memset(cmds + 5 + i * LINE, 'a' + i % 26, LINE - 2);
		memcpy(cmds + 5 + i * LINE + LINE - 2, "\r\n", 2);
	}
	size_t off = 0;
	struct tsess *s = last_sess;
	uint64_t end = mm_now_ms() + 3000;
	while (mm_now_ms() < end && conn_input_len(s->c) < CONN_INPUT_PREAUTH_MAX_BYTES) {
		ssize_t n = write(peer_fd, cmds + off, sizeof(cmds) - off);
		if (n > 0)
			off += (size_t)n;
		struct timeval tv = { 0, 2000 };
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
	peer_read(50);
	ck_assert_uint_eq(conn_input_len(s->c), CONN_INPUT_PREAUTH_MAX_BYTES);
	ck_assert_uint_eq(s->lines.n, 1);
	job_gate = 1;
	size_t want = NLINES * strlen("OK 48\r\n");
	ck_assert_uint_eq(pump_peer(cmds, sizeof(cmds), &off, want, 10000), want);
	ck_assert_uint_eq(last_sess->lines.n, 1 + NLINES);
	int fionreads = atomic_load(&fionread_calls);
	ck_assert_int_eq(fionreads, 0);
	/* the end of file is seen by our read, too */
	close(peer_fd);
	loop_until(&sess_freed, 1000);
	ck_assert_int_eq(sess_freed, 1);
	conn_teardown();
}
END_TEST

START_TEST(test_conn_eof_after_pipelined)
{
	/* 300 pipelined commands of 10 KiB answers, then the client's EOF:
	 * the session takes them in fair turns and under backpressure, and
	 * every one is answered before the connection closes. */
	conn_setup();
	open_conn();
	peer_read(20);
	static char cmds[300 * 5];
	for (int i = 0; i < 300; i++)
		memcpy(cmds + i * 5, "BIG\r\n", 5);
	peer_send(cmds, sizeof(cmds));
	shutdown(peer_fd, SHUT_WR);
	size_t got = 0, want = 300 * 10240;
	static char buf[65536];
	uint64_t end = mm_now_ms() + 20000;
	for (;;) {
		struct timeval tv = { 0, 2000 };
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
		ssize_t n = read(peer_fd, buf, sizeof(buf));
		if (n > 0)
			got += (size_t)n;
		if (n == 0 || mm_now_ms() > end)
			break;
	}
	ck_assert_uint_eq(got, want);
	loop_until(&sess_freed, 1000);
	ck_assert_int_eq(sess_freed, 1);
	close(peer_fd);
	conn_teardown();
}
END_TEST

START_TEST(test_conn_output_cap)
{
	/* One answer past the hard cap before authentication: the output is
	 * dropped and the connection closed, the session freed. */
	conn_setup();
	open_conn();
	peer_read(20);
	peer_send("HUGE\r\n", 6);
	loop_until(&sess_freed, 2000);
	ck_assert_int_eq(sess_freed, 1);
	ck_assert_uint_eq(conn_live_count(), 0);
	/* what reached the socket before the cap is far below it */
	size_t got = 0;
	char buf[65536];
	ssize_t n;
	while ((n = read(peer_fd, buf, sizeof(buf))) > 0)
		got += (size_t)n;
	ck_assert_int_eq(n, 0);
	ck_assert_uint_lt(got, CONN_OUTPUT_PREAUTH_MAX_BYTES);
	close(peer_fd);
	conn_teardown();
}
END_TEST

START_TEST(test_conn_timeout_output_progress)
{
	/* The idle clock is reset by output the client takes: a client
	 * reading a long answer slowly for 2.5 s with a 1 s timeout is not cut
	 * off; once it has everything and stays idle, the timeout comes. */
	conn_setup();
	open_conn();
	peer_read(20);
	int small = 16384;
	setsockopt(peer_fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	peer_send("SHORT\r\n", 7);
	peer_read(30);
	/* 300 lines of 10 KiB: 3 MB, read at about 1.2 MB/s */
	static char cmds[300 * 5];
	for (int i = 0; i < 300; i++)
		memcpy(cmds + i * 5, "BIG\r\n", 5);
	peer_send(cmds, sizeof(cmds));
	size_t got = 0, want = 300 * 10240;
	static char buf[4096];
	uint64_t start = mm_now_ms(), end = start + 10000;
	while (got < want && mm_now_ms() < end && timeouts == 0) {
		struct timeval tv = { 0, 3000 };
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
		ssize_t n = read(peer_fd, buf, sizeof(buf));
		if (n > 0)
			got += (size_t)n;
	}
	uint64_t took = mm_now_ms() - start;
	ck_assert_int_eq(timeouts, 0);
	ck_assert_uint_eq(got, want);
	ck_assert_uint_gt(took, 1200);
	ck_assert_str_eq(peer_read(1600), "idle too long\r\n");
	ck_assert_int_eq(timeouts, 1);
	close(peer_fd);
	conn_teardown();
}
END_TEST

/* ---- limit keys: IPv6 clients grouped by [limits] ipv6_prefix ---- */

static const struct {
	const char *addr;
	unsigned prefix;
	const char *key;
} limit_keys[] = {
	{ "192.0.2.7", 64, "192.0.2.7" },
	{ "2001:db8:1:2:3:4:5:6", 64, "2001:db8:1:2::/64" },
	{ "2001:db8:1:2:ffff::1", 64, "2001:db8:1:2::/64" },
	{ "2001:db8:1:3::1", 64, "2001:db8:1:3::/64" },
	{ "2001:db8:1:2:3:4:5:6", 48, "2001:db8:1::/48" },
	{ "2001:db8:1:2:3:4:5:6", 56, "2001:db8:1::/56" },
	{ "2001:db8:1:2ff:3:4:5:6", 56, "2001:db8:1:200::/56" },
	{ "2001:db8::1", 128, "2001:db8::1" },
	{ "::1", 64, "::/64" },
	{ "2001:db8::1", 1, "::/1" },
	{ "unknown", 64, "unknown" },
};

START_TEST(test_limit_key)
{
	struct config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.ipv6_prefix = limit_keys[_i].prefix;
	char key[80];
	listener_limit_key(&cfg, limit_keys[_i].addr, key, sizeof(key));
	ck_assert_str_eq(key, limit_keys[_i].key);
}
END_TEST

START_TEST(test_user_limit)
{
	struct config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.max_connections_per_user = 2;
	ck_assert(listener_user_admit(&cfg, "a@example.org"));
	ck_assert(listener_user_admit(&cfg, "a@example.org"));
	ck_assert(!listener_user_admit(&cfg, "a@example.org"));
	ck_assert(listener_user_admit(&cfg, "b@example.org"));
	listener_user_gone("a@example.org");
	ck_assert(listener_user_admit(&cfg, "a@example.org"));
	listener_user_gone("a@example.org");
	listener_user_gone("a@example.org");
	listener_user_gone("b@example.org");
	/* the users' counts are apart from the addresses' */
	ck_assert_uint_eq(listener_conn_count(), 0);
}
END_TEST

/* 50,000 addresses and 50,000 users (100,000 sessions): each count is
 * its own, the limits hold for each, the table grows so that a lookup
 * walks a short chain (4,096 fixed buckets before: chains of ~25), and
 * every key is gone once its connections are. */
START_TEST(test_limit_table_grows)
{
	struct config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.max_connections = 1000000;
	cfg.max_connections_per_ip = 2;
	cfg.max_connections_per_user = 1;
	enum { N = 50000 };
	char key[64];
	bool per_ip;
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
		ck_assert(listener_conn_admit(&cfg, key, &per_ip));
		if (i % 2)
			ck_assert(listener_conn_admit(&cfg, key, &per_ip));
		snprintf(key, sizeof(key), "user%d@example.org", i);
		ck_assert(listener_user_admit(&cfg, key));
	}
	size_t longest;
	ck_assert_uint_eq(listener_limit_keys(&longest), 2 * N);
	ck_assert_uint_le(longest, 16);
	ck_assert_uint_eq(listener_conn_count(), N + N / 2);
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
		/* the odd ones are at their limit, the even ones one short */
		ck_assert(listener_conn_admit(&cfg, key, &per_ip) == (i % 2 == 0));
		ck_assert(per_ip == (i % 2 == 1));
		snprintf(key, sizeof(key), "user%d@example.org", i);
		ck_assert(!listener_user_admit(&cfg, key));
	}
	ck_assert_uint_eq(listener_conn_count(), 2 * N);
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
		listener_conn_gone(key);
		listener_conn_gone(key);
		snprintf(key, sizeof(key), "user%d@example.org", i);
		listener_user_gone(key);
	}
	ck_assert_uint_eq(listener_conn_count(), 0);
	ck_assert_uint_eq(listener_limit_keys(&longest), 0);
	ck_assert_uint_eq(longest, 0);
}
END_TEST

/* The default hostname: config_parse() gives gethostname() (no DNS),
 * hostname_config() makes it the FQDN, and leaves a set one alone. */
START_TEST(test_hostname_default)
{
	static const char conf[] = "domains = example.org\n";
	static const char conf_set[] = "hostname = mx.example.org\ndomains = example.org\n";
	struct config_errors errs;
	config_errors_init(&errs);
	struct config *cfg = config_parse("t.conf", conf, sizeof(conf) - 1, &errs);
	ck_assert_ptr_nonnull(cfg);
	ck_assert(cfg->hostname_default);
	hostname_config(cfg);
	char *h = hostname_default();
	ck_assert_str_eq(cfg->hostname, h);
	ck_assert(config_hostname_valid(h));
	free(h);
	config_free(&cfg);
	cfg = config_parse("t.conf", conf_set, sizeof(conf_set) - 1, &errs);
	ck_assert_ptr_nonnull(cfg);
	ck_assert(!cfg->hostname_default);
	hostname_config(cfg);
	ck_assert_str_eq(cfg->hostname, "mx.example.org");
	config_free(&cfg);
	config_errors_clear(&errs);
}
END_TEST

/* ---- the notify hub ---- */

static int hub_calls[64];
static unsigned hub_kind;

static void
hub_count_cb(void *arg, const char *user, uint32_t mailbox_id, unsigned kind)
{
	hub_calls[(intptr_t)arg]++;
	hub_kind = kind;
}

/* Posts of one mailbox coalesced before the loop runs are one call with
 * the kinds of all: "flags only" only if each was. */
START_TEST(test_notify_hub_kinds)
{
	struct event_base *ebase = event_base_new();
	struct notify_hub *hub = notify_hub_new(ebase);
	struct notify_watch *w = notify_watch_add(hub, "a@example.org", 7, hub_count_cb,
	    (void *)(intptr_t)0);
	memset(hub_calls, 0, sizeof(hub_calls));
	notify_hub_post(hub, "a@example.org", 7, STORE_CHANGE_FLAGS);
	notify_hub_post(hub, "a@example.org", 7, STORE_CHANGE_FLAGS);
	event_base_loop(ebase, EVLOOP_NONBLOCK);
	ck_assert_int_eq(hub_calls[0], 1);
	ck_assert_uint_eq(hub_kind, STORE_CHANGE_FLAGS);
	notify_hub_post(hub, "a@example.org", 7, STORE_CHANGE_FLAGS);
	notify_hub_post(hub, "a@example.org", 7, STORE_CHANGE_MESSAGES);
	event_base_loop(ebase, EVLOOP_NONBLOCK);
	ck_assert_int_eq(hub_calls[0], 2);
	ck_assert_uint_eq(hub_kind, STORE_CHANGE_FLAGS | STORE_CHANGE_MESSAGES);
	notify_watch_del(hub, &w);
	notify_hub_free(&hub);
	event_base_free(ebase);
}
END_TEST

/* 20,000 watches, each user its own (100,000 IDLE sessions of as many
 * users): the table grows, so a post walks a short chain instead of a
 * twentieth of all the watches (1,024 fixed buckets before); and after the
 * growth every post still reaches exactly its watches, also once some are
 * gone. */
START_TEST(test_notify_hub_grows)
{
	struct event_base *ebase = event_base_new();
	struct notify_hub *hub = notify_hub_new(ebase);
	enum { N = 20000 };
	struct notify_watch **w = xcalloc(N, sizeof(*w));
	char user[64];
	for (int i = 0; i < N; i++) {
		snprintf(user, sizeof(user), "user%d@example.org", i);
		w[i] = notify_watch_add(hub, user, 1 + (uint32_t)(i % 3), hub_count_cb,
		    (void *)(intptr_t)(i % 64));
	}
	ck_assert_uint_le(notify_hub_longest_chain(hub), 16);
	memset(hub_calls, 0, sizeof(hub_calls));
	notify_hub_post(hub, "user130@example.org", 1 + 130 % 3, STORE_CHANGE_MESSAGES);
	/* not its mailbox */
	notify_hub_post(hub, "user131@example.org", 1, STORE_CHANGE_MESSAGES);
	notify_hub_post(hub, "nobody@example.org", 1, STORE_CHANGE_MESSAGES);
	event_base_loop(ebase, EVLOOP_NONBLOCK);
	for (int k = 0; k < 64; k++)
		ck_assert_int_eq(hub_calls[k], k == 130 % 64 ? 1 : 0);
	for (int i = 0; i < N; i += 2)
		notify_watch_del(hub, &w[i]);
	memset(hub_calls, 0, sizeof(hub_calls));
	/* deleted */
	notify_hub_post(hub, "user130@example.org", 1 + 130 % 3, STORE_CHANGE_MESSAGES);
	notify_hub_post(hub, "user19999@example.org", 1 + 19999 % 3, STORE_CHANGE_MESSAGES);
	event_base_loop(ebase, EVLOOP_NONBLOCK);
	for (int k = 0; k < 64; k++)
		ck_assert_int_eq(hub_calls[k], k == 19999 % 64 ? 1 : 0);
	for (int i = 1; i < N; i += 2)
		notify_watch_del(hub, &w[i]);
	free(w);
	notify_hub_free(&hub);
	event_base_free(ebase);
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
	tcase_add_test(tc, test_worker_lanes);
	tcase_add_test(tc, test_worker_no_empty_wakeups);
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
	tcase_add_test(tc, test_conn_tcp_accept);
	suite_add_tcase(s, tc);
	tc = tcase_create("job_isolation");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_conn_timeout_during_job);
	tcase_add_test(tc, test_conn_timeout_while_queued);
	tcase_add_test(tc, test_conn_close_during_job);
	tcase_add_test(tc, test_conn_notify_during_job);
	tcase_add_test(tc, test_conn_shutdown_during_job);
	suite_add_tcase(s, tc);
	tc = tcase_create("limits");
	tcase_add_loop_test(tc, test_limit_key, 0, (int)(sizeof(limit_keys) / sizeof(limit_keys[0])));
	tcase_add_test(tc, test_user_limit);
	tcase_add_test(tc, test_limit_table_grows);
	tcase_add_test(tc, test_hostname_default);
	suite_add_tcase(s, tc);
	tc = tcase_create("notify");
	tcase_add_test(tc, test_notify_hub_grows);
	tcase_add_test(tc, test_notify_hub_kinds);
	suite_add_tcase(s, tc);
	tc = tcase_create("backpressure");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_conn_backpressure);
	tcase_add_test(tc, test_conn_output_cap);
	tcase_add_test(tc, test_conn_eof_after_pipelined);
	tcase_add_test(tc, test_conn_direct_read);
	tcase_add_test(tc, test_conn_timeout_output_progress);
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
