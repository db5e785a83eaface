/* worker.h: a small pool of threads for everything that may block (Berkeley
 * DB, fsync, DNS, crypt(3)). A job's work function runs on a worker
 * thread; its done function runs afterwards on the event loop thread. The
 * loop never waits for a job. */
#ifndef MM_WORKER_H
#define MM_WORKER_H

#include <stddef.h>

struct event_base;
struct worker_pool;

typedef void worker_work_fn(void *arg);   /* on a worker thread */
typedef void worker_done_fn(void *arg);   /* on the loop thread, after work */

/* Requires evthread_use_pthreads() to have been called. */
struct worker_pool *worker_pool_new(struct event_base *base, unsigned nthreads);
/* Queues a job. done may be NULL. Never blocks. */
void worker_submit(struct worker_pool *pool, worker_work_fn *work,
    worker_done_fn *done, void *arg);
/* Jobs queued or running (for tests and shutdown). */
size_t worker_pending(struct worker_pool *pool);
/* Waits for every queued job to finish and runs their done functions on
 * the calling (loop) thread, then stops the threads and frees the pool. */
void worker_pool_free(struct worker_pool **pool);

#endif
