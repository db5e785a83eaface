/* worker.h: a small pool of threads for everything that may block (Berkeley
 * DB, fsync, DNS, crypt(3)). A job's work function runs on a worker
 * thread; its done function runs afterwards on the event loop thread. The
 * loop never waits for a job. */
#ifndef MM_WORKER_H
#define MM_WORKER_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct worker_pool;

/* Lanes: each has its own queue, and no lane can take every thread. The
 * commit lane (durable commits, logins, SMTP's lookups) always has a
 * thread: the other lanes together hold at most nthreads - 1; the slow
 * lane (big SEARCH, checkpoints, relay, reloads) holds at most
 * WORKER_SLOW_SHARE of them and is never starved by reads (while it has
 * work, one thread is kept for it). FIFO within a lane. */
enum worker_lane {
	WORKER_LANE_COMMIT = 0,   /* SMTP delivery and lookups, AUTH, IMAP/POP3 writes */
	WORKER_LANE_READ,         /* FETCH, SEARCH, SELECT and sync, POP3 RETR */
	WORKER_LANE_SLOW,         /* big SEARCH, import, checkpoints, relay */
	WORKER_LANES
};

typedef void worker_work_fn(void *arg);   /* on a worker thread */
typedef void worker_done_fn(void *arg);   /* on the loop thread, after work */

/* Requires evthread_use_pthreads() to have been called. */
struct worker_pool *worker_pool_new(struct event_base *base, unsigned nthreads);
/* Queues a job on a lane. done may be NULL. Never blocks. */
void worker_submit(struct worker_pool *pool, enum worker_lane lane,
    worker_work_fn *work, worker_done_fn *done, void *arg);
/* Jobs queued or running (for tests and shutdown). */
size_t worker_pending(struct worker_pool *pool);
/* Times a thread was woken for the other lanes and found no job it may
 * take (for tests: each is two context switches for nothing). */
uint64_t worker_empty_wakeups(struct worker_pool *pool);
/* Waits for every queued job to finish and runs their done functions on
 * the calling (loop) thread, then stops the threads and frees the pool. */
void worker_pool_free(struct worker_pool **pool);

#endif
