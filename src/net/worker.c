/* worker.c: the pool of threads that run blocking work (Berkeley DB,
 * fsync, DNS, crypt) off the event loop.
 *
 * The one idea: jobs go in through mutex-protected FIFOs, one per lane
 * (worker.h), and come back through a second FIFO that the loop drains in
 * a single event callback; a worker thread never touches libevent except
 * for event_active() on that one event, which libevent's pthreads support
 * makes thread-safe.
 *
 * Lanes: a free thread takes the commit lane's first job if there is one;
 * else, while the read and slow lanes together run fewer than nthreads - 1
 * jobs (one thread stays for commits), the slow lane's job if the slow
 * lane runs none, else a read job, else a slow job while the slow lane
 * runs fewer than its share. So four big SEARCHes or a stuck checkpoint
 * never put a 250 or a login behind them, and reads never starve the slow
 * lane. Any thread runs any lane: nothing is idle by reservation when
 * only commits come.
 *
 * Besides those, WORKER_COMMIT_THREADS threads run only commit-lane jobs
 * (woken first for them, on a condition of their own): a durable commit
 * spends most of its time waiting for the log's fdatasync, and the more
 * commits wait together, the more one fdatasync makes durable (Berkeley
 * DB's group commit). With four threads at most four messages shared a
 * flush, which bounded SMTP intake at about four per fdatasync time. */
#include "net/worker.h"
#include "lib/limits.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/util.h"

#include <event2/event.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

struct worker_job {
	enum worker_lane lane;
	worker_work_fn *work;
	worker_done_fn *done;
	void *arg;
	uint64_t submitted_us;        /* metrics: job latency */
	struct worker_job *next;
};

struct job_fifo {
	struct worker_job *head, *tail;
};

struct worker_pool {
	struct event_base *base;
	struct event *ev_done;
	pthread_mutex_t lock;
	pthread_cond_t cond_work;   /* jobs queued, or stopping */
	pthread_cond_t cond_idle;   /* a job finished */
	pthread_cond_t cond_commit; /* a commit job queued (commit-only threads) */
	unsigned idle_commit;       /* commit-only threads waiting on it */
	struct job_fifo queue[WORKER_LANES];   /* waiting for a thread */
	unsigned running[WORKER_LANES];
	unsigned other_max;         /* read + slow at most (nthreads - 1) */
	unsigned slow_max;
	struct job_fifo done;       /* finished, waiting for the loop */
	size_t pending;             /* queued + running + done-not-yet-called */
	uint64_t empty_wakeups;     /* worker_empty_wakeups */
	bool stopping;
	unsigned nthreads;          /* threads for every lane */
	unsigned ncommit;           /* ... and threads for the commit lane only */
	pthread_t *threads;         /* nthreads + ncommit */
	struct worker_thread *targs;
};

struct worker_thread {
	struct worker_pool *pool;
	bool commit_only;
};

static void
fifo_push(struct job_fifo *f, struct worker_job *j)
{
	j->next = NULL;
	if (f->tail)
		f->tail->next = j;
	else
		f->head = j;
	f->tail = j;
}

static struct worker_job *
fifo_pop(struct job_fifo *f)
{
	struct worker_job *j = f->head;
	if (j) {
		f->head = j->next;
		if (f->head == NULL)
			f->tail = NULL;
	}
	return j;
}

/* The next job a free thread may take (pool->lock held), or NULL. */
static struct worker_job *
worker_pick(struct worker_pool *pool)
{
	struct job_fifo *q = pool->queue;
	unsigned other = pool->running[WORKER_LANE_READ] + pool->running[WORKER_LANE_SLOW];

	if (q[WORKER_LANE_COMMIT].head != NULL)
		return fifo_pop(&q[WORKER_LANE_COMMIT]);
	if (other >= pool->other_max)
		return NULL;
	if (q[WORKER_LANE_SLOW].head != NULL && pool->running[WORKER_LANE_SLOW] == 0)
		return fifo_pop(&q[WORKER_LANE_SLOW]);
	/* reads leave the slow lane its one thread while it has work */
	if (q[WORKER_LANE_READ].head != NULL &&
	    (pool->running[WORKER_LANE_SLOW] > 0 || q[WORKER_LANE_SLOW].head == NULL ||
	    other + 1 < pool->other_max))
		return fifo_pop(&q[WORKER_LANE_READ]);
	if (q[WORKER_LANE_SLOW].head != NULL &&
	    pool->running[WORKER_LANE_SLOW] < pool->slow_max)
		return fifo_pop(&q[WORKER_LANE_SLOW]);
	return NULL;
}

static void *
worker_main(void *arg)
{
	struct worker_thread *t = arg;
	struct worker_pool *pool = t->pool;

	pthread_mutex_lock(&pool->lock);
	for (;;) {
		struct worker_job *j;
		bool woken = false;
		for (;;) {
			j = t->commit_only ? fifo_pop(&pool->queue[WORKER_LANE_COMMIT]) :
			    worker_pick(pool);
			if (j != NULL || pool->stopping)
				break;
			if (t->commit_only) {
				pool->idle_commit++;
				pthread_cond_wait(&pool->cond_commit, &pool->lock);
				pool->idle_commit--;
			} else {
				pool->empty_wakeups += woken;
				pthread_cond_wait(&pool->cond_work, &pool->lock);
				woken = true;
			}
		}
		if (j == NULL)
			break;
		pool->running[j->lane]++;
		pthread_mutex_unlock(&pool->lock);
		j->work(j->arg);
		metrics_observe(MH_JOB, metrics_now_us() - j->submitted_us);
		pthread_mutex_lock(&pool->lock);
		pool->running[j->lane]--;
		/* the lane's slot is free: a thread waiting for it may go, if
		 * a job waits for one (a wake-up for nothing is two switches) */
		bool slot = j->lane != WORKER_LANE_COMMIT &&
		    (pool->queue[WORKER_LANE_READ].head != NULL ||
		    pool->queue[WORKER_LANE_SLOW].head != NULL);
		bool was_empty = pool->done.head == NULL;
		fifo_push(&pool->done, j);
		pthread_cond_broadcast(&pool->cond_idle);
		if (slot || was_empty) {
			/* woken and told outside the lock: the thread woken does
			 * not block on it at once, and the loop's wake-up (a
			 * write to its notification descriptor) does not hold
			 * it. The done list was empty, so this worker's
			 * event_active is due; another's meanwhile, or a drain
			 * before it, costs one empty run of worker_run_done. */
			pthread_mutex_unlock(&pool->lock);
			if (slot)
				pthread_cond_signal(&pool->cond_work);
			if (was_empty)
				event_active(pool->ev_done, EV_READ, 0);
			pthread_mutex_lock(&pool->lock);
		}
	}
	pthread_mutex_unlock(&pool->lock);
	return NULL;
}

/* Loop thread: run the done functions of every finished job. */
static void
worker_run_done(struct worker_pool *pool)
{
	struct job_fifo batch;

	pthread_mutex_lock(&pool->lock);
	batch = pool->done;
	pool->done.head = pool->done.tail = NULL;
	pthread_mutex_unlock(&pool->lock);

	struct worker_job *j;
	size_t n = 0;
	while ((j = fifo_pop(&batch)) != NULL) {
		if (j->done)
			j->done(j->arg);
		free(j);
		n++;
	}
	if (n) {
		pthread_mutex_lock(&pool->lock);
		pool->pending -= n;
		pthread_mutex_unlock(&pool->lock);
	}
}

static void
worker_done_cb(evutil_socket_t fd, short what, void *arg)
{
	worker_run_done(arg);
}

struct worker_pool *
worker_pool_new(struct event_base *base, unsigned nthreads)
{
	struct worker_pool *pool = xcalloc(1, sizeof(*pool));

	pool->base = base;
	pool->nthreads = nthreads ? nthreads : 1;
	/* with one thread there is nothing to keep back */
	pool->other_max = pool->nthreads > 1 ? pool->nthreads - 1 : 1;
	pool->slow_max = pool->other_max * WORKER_SLOW_SHARE_PERCENT / 100;
	if (pool->slow_max == 0)
		pool->slow_max = 1;
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->cond_work, NULL);
	pthread_cond_init(&pool->cond_idle, NULL);
	pthread_cond_init(&pool->cond_commit, NULL);
	pool->ncommit = WORKER_COMMIT_THREADS;
	pool->ev_done = event_new(base, -1, 0, worker_done_cb, pool);
	if (pool->ev_done == NULL)
		fatal("worker: event_new failed");
	unsigned all = pool->nthreads + pool->ncommit;
	pool->threads = xcalloc(all, sizeof(pthread_t));
	pool->targs = xcalloc(all, sizeof(*pool->targs));
	for (unsigned i = 0; i < all; i++) {
		pool->targs[i].pool = pool;
		pool->targs[i].commit_only = i >= pool->nthreads;
		if (pthread_create(&pool->threads[i], NULL, worker_main, &pool->targs[i]) != 0)
			fatal("worker: pthread_create failed");
	}
	return pool;
}

void
worker_submit(struct worker_pool *pool, enum worker_lane lane,
    worker_work_fn *work, worker_done_fn *done, void *arg)
{
	struct worker_job *j = xmalloc(sizeof(*j));
	if ((unsigned)lane >= WORKER_LANES)
		fatal("worker: no lane %d", (int)lane);
	j->lane = lane;
	j->work = work;
	j->done = done;
	j->arg = arg;
	j->submitted_us = metrics_now_us();
	pthread_mutex_lock(&pool->lock);
	fifo_push(&pool->queue[lane], j);
	pool->pending++;
	/* a commit wakes a commit-only thread if one waits: the others stay
	 * for the other lanes */
	bool commit = lane == WORKER_LANE_COMMIT && pool->idle_commit > 0;
	pthread_mutex_unlock(&pool->lock);
	/* after the unlock, so that the thread woken does not block on the
	 * lock the loop still holds (the conditions live as long as the
	 * pool; a thread that took the job meanwhile makes this one find
	 * nothing and wait again) */
	pthread_cond_signal(commit ? &pool->cond_commit : &pool->cond_work);
}

size_t
worker_pending(struct worker_pool *pool)
{
	pthread_mutex_lock(&pool->lock);
	size_t n = pool->pending;
	pthread_mutex_unlock(&pool->lock);
	return n;
}

uint64_t
worker_empty_wakeups(struct worker_pool *pool)
{
	pthread_mutex_lock(&pool->lock);
	uint64_t n = pool->empty_wakeups;
	pthread_mutex_unlock(&pool->lock);
	return n;
}

void
worker_pool_free(struct worker_pool **poolp)
{
	struct worker_pool *pool = *poolp;
	if (pool == NULL)
		return;
	/* Drain: done functions may submit more jobs; run until none remain. */
	for (;;) {
		pthread_mutex_lock(&pool->lock);
		while (pool->done.head == NULL && pool->pending > 0)
			pthread_cond_wait(&pool->cond_idle, &pool->lock);
		bool idle = pool->pending == 0;
		pthread_mutex_unlock(&pool->lock);
		if (idle)
			break;
		worker_run_done(pool);
	}
	pthread_mutex_lock(&pool->lock);
	pool->stopping = true;
	pthread_cond_broadcast(&pool->cond_work);
	pthread_cond_broadcast(&pool->cond_commit);
	pthread_mutex_unlock(&pool->lock);
	for (unsigned i = 0; i < pool->nthreads + pool->ncommit; i++)
		pthread_join(pool->threads[i], NULL);
	event_free(pool->ev_done);
	pthread_cond_destroy(&pool->cond_work);
	pthread_cond_destroy(&pool->cond_idle);
	pthread_cond_destroy(&pool->cond_commit);
	pthread_mutex_destroy(&pool->lock);
	free(pool->threads);
	free(pool->targs);
	free(pool);
	*poolp = NULL;
}
