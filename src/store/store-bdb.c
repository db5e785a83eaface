/* store-bdb.c: the transaction runner under store.h (the environment is
 * store-env.c, bodies store-body.c) and small record helpers.
 *
 * The one idea: a write transaction commits with DB_TXN_NOSYNC, which
 * releases its page locks at once, and then the caller waits in
 * DB_ENV->log_flush() until the log is on disk before it returns STORE_OK.
 * Nothing is acknowledged before it is durable, but locks are never held
 * across an fsync, so concurrent writers that touch the same pages (the
 * right edge of the body btree, a shared mailbox) do not queue behind each
 * other's fsyncs, and one fsync makes many commits durable (group commit).
 * Readers flush too before they return when the log is not synced to its
 * end (sdb_read_flush), so nothing a caller is shown can vanish in a crash
 * (no UID is ever shown twice); when it is, they skip the flush.
 * STORE_OPEN_SYNC_COMMIT switches to plain synchronous commits, for the
 * benchmark's comparison.
 *
 * Several processes share the environment (DB_REGISTER): when one dies
 * with it open, the next opener runs recovery and every other process's
 * handle is panicked (DB_RUNRECOVERY on every call). sdb_run() then closes
 * and reopens the environment under st->lock taken exclusively (every
 * operation holds it shared) and runs the whole transaction again, a
 * bounded number of times, so a long-running daemon survives a killed
 * minimailctl. Only a flushed commit is ever reported as success, and
 * what was flushed before the recovery is in the recovered store; a rerun
 * whose first run may have committed (tx->redo) must not apply it twice
 * (a delivery finds its token: store-mail.c; COPY, MOVE, STORE, mailbox
 * and queue changes run through sdb_run_once, which writes and looks up a
 * token for them: sdb_once_tx). A flush that fails after a
 * commit is a failing disk: STORE_IO, no rerun, no writes until restart. */
#include "store/store-int.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

__thread char sdb_lasterr[256];

const char *
store_strerror(int err)
{
	switch (err) {
	case STORE_OK:       return "success";
	case STORE_NOTFOUND: return "not found";
	case STORE_EXISTS:   return "already exists";
	case STORE_INVALID:  return "invalid argument";
	case STORE_QUOTA:    return "quota exceeded";
	case STORE_DENIED:   return "not allowed";
	case STORE_LIMIT:    return "limit reached";
	case STORE_LOCKED:   return "store is locked or busy";
	case STORE_CORRUPT:  return "store is damaged (needs recovery)";
	case STORE_IO:       return "store I/O error";
	}
	return "unknown error";
}

void
sdb_be32(unsigned char *p, uint32_t v)
{
	p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v;
}

void
sdb_be64(unsigned char *p, uint64_t v)
{
	sdb_be32(p, (uint32_t)(v >> 32));
	sdb_be32(p + 4, (uint32_t)v);
}

uint32_t
sdb_get_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

int
sdb_map(int dberr)
{
	switch (dberr) {
	case 0:
		return STORE_OK;
	case DB_NOTFOUND:
	case DB_KEYEMPTY:
	case ENOENT:
		return STORE_NOTFOUND;
	case DB_KEYEXIST:
		return STORE_EXISTS;
	case DB_LOCK_DEADLOCK:
		return SDB_RETRY;
	case DB_LOCK_NOTGRANTED:
		return SDB_TIMEOUT;
	case DB_RUNRECOVERY:
		return SDB_RECOVER;
	case DB_VERIFY_BAD:
	case DB_PAGE_NOTFOUND:
	case DB_SECONDARY_BAD:
		return STORE_CORRUPT;
	case DB_VERSION_MISMATCH:
	case EAGAIN:
	case EBUSY:
		return STORE_LOCKED;
	case EACCES:
	case EPERM:
		return STORE_DENIED;
	default:
		return STORE_IO;
	}
}

/* ---- records ---- */

int
sdb_get(DB *db, DB_TXN *txn, const void *key, size_t klen, void *buf,
    size_t buflen, uint32_t flags)
{
	DBT k = { .data = (void *)key, .size = (u_int32_t)klen };
	DBT d = { .data = buf, .ulen = (u_int32_t)buflen, .flags = DB_DBT_USERMEM };
	int r = db->get(db, txn, &k, &d, flags);
	if (r == DB_BUFFER_SMALL)
		return STORE_CORRUPT;
	if (r != 0)
		return sdb_map(r);
	if (d.size != buflen)
		return STORE_CORRUPT;
	return STORE_OK;
}

int
sdb_get_alloc(DB *db, DB_TXN *txn, const void *key, size_t klen,
    void **data_r, size_t *len_r, uint32_t flags)
{
	DBT k = { .data = (void *)key, .size = (u_int32_t)klen };
	DBT d = { .flags = DB_DBT_MALLOC };
	int r = db->get(db, txn, &k, &d, flags);
	if (r != 0)
		return sdb_map(r);
	*data_r = d.data;
	*len_r = d.size;
	return STORE_OK;
}

int
sdb_put(DB *db, DB_TXN *txn, const void *key, size_t klen,
    const void *data, size_t dlen)
{
	DBT k = { .data = (void *)key, .size = (u_int32_t)klen };
	DBT d = { .data = (void *)data, .size = (u_int32_t)dlen };
	return sdb_map(db->put(db, txn, &k, &d, 0));
}

int
sdb_del(DB *db, DB_TXN *txn, const void *key, size_t klen)
{
	DBT k = { .data = (void *)key, .size = (u_int32_t)klen };
	return sdb_map(db->del(db, txn, &k, 0));
}

int
sdb_seq_next(DB_SEQUENCE *seq, uint64_t *val_r)
{
	db_seq_t v;
	int r = seq->get(seq, NULL, 1, &v, DB_TXN_NOSYNC);
	if (r != 0)
		return sdb_map(r);
	*val_r = (uint64_t)v;
	return STORE_OK;
}

int
sdb_counters_get(struct sdb_tx *tx, uint32_t recno, struct sdb_counters *c_r,
    bool rmw)
{
	db_recno_t rn = recno;
	int r = sdb_get(tx->st->counters, tx->txn, &rn, sizeof(rn), c_r,
	    sizeof(*c_r), rmw ? DB_RMW : 0);
	if (r == STORE_OK && c_r->flags != 1)
		return STORE_CORRUPT;
	return r;
}

int
sdb_counters_put(struct sdb_tx *tx, uint32_t recno, const struct sdb_counters *c)
{
	db_recno_t rn = recno;
	struct sdb_counters cc = *c;
	cc.flags = 1;
	return sdb_put(tx->st->counters, tx->txn, &rn, sizeof(rn), &cc, sizeof(cc));
}

int
sdb_counters_del(struct sdb_tx *tx, uint32_t recno)
{
	db_recno_t rn = recno;
	int r = sdb_del(tx->st->counters, tx->txn, &rn, sizeof(rn));
	return r == STORE_NOTFOUND ? STORE_OK : r;
}

/* ---- transactions ---- */

static void
sdb_changed_kind(struct sdb_tx *tx, const char *user, uint32_t id, unsigned kind)
{
	for (size_t i = 0; i < tx->nchanges; i++)
		if (tx->changes[i].id == id && strcmp(tx->changes[i].user, user) == 0) {
			tx->changes[i].kind |= kind;
			return;
		}
	if (tx->nchanges == tx->capchanges) {
		tx->capchanges = tx->capchanges ? tx->capchanges * 2 : 4;
		tx->changes = xrealloc(tx->changes,
		    tx->capchanges * sizeof(*tx->changes));
	}
	mm_strlcpy(tx->changes[tx->nchanges].user, user,
	    sizeof(tx->changes[0].user));
	tx->changes[tx->nchanges].id = id;
	tx->changes[tx->nchanges].kind = kind;
	tx->nchanges++;
}

void
sdb_changed(struct sdb_tx *tx, const char *user, uint32_t id)
{
	sdb_changed_kind(tx, user, id, STORE_CHANGE_MESSAGES);
}

void
sdb_changed_flags(struct sdb_tx *tx, const char *user, uint32_t id)
{
	sdb_changed_kind(tx, user, id, STORE_CHANGE_FLAGS);
}

static void
sdb_backoff(int attempt)
{
	static __thread unsigned seed;
	if (seed == 0)
		seed = (unsigned)(uintptr_t)&seed ^ (unsigned)time(NULL);
	if (attempt < 3) {
		sched_yield();
		return;
	}
	int cap = attempt < 10 ? 200 * attempt : 5000;
	usleep(50 + rand_r(&seed) % cap);
}

sdb_commit_hook_fn *sdb_test_commit_hook;

static void
sdb_disk_failed(struct store *st, const char *why)
{
	if (atomic_exchange(&st->failed, true))
		return;
	log_error("store: DISK FAILURE: a log flush failed (%s%s%s): the commits "
	    "it held are not acknowledged, and every write is refused until "
	    "minimaild is restarted; check the disk under %s",
	    why, sdb_lasterr[0] ? ": " : "", sdb_lasterr, st->data_dir);
}

bool
store_failed(struct store *st)
{
	return atomic_load(&st->failed);
}

/* Every fsync Berkeley DB does in this process (db_env_set_func_fsync:
 * the log's flushes, a checkpoint's), and whether one failed. Linux
 * reports a write-back error to one fsync only, so one that succeeds
 * after one that failed says nothing of the records before it: a commit
 * that followed the failed one in the log would be acknowledged on the
 * strength of it. The failure is remembered before this returns, so
 * before Berkeley DB lets the next log flush start (its flush mutex),
 * and every later fsync fails too, until the store is opened again. */
static atomic_bool sdb_fsync_failed;

static int
sdb_fsync(int fd)
{
	int r;

	/* Berkeley DB takes what a replaced fsync returns as the errno */
	if (atomic_load(&sdb_fsync_failed))
		return EIO;
	do
		r = fdatasync(fd) == 0 ? 0 : errno;
	while (r == EINTR);
	if (r != 0)
		atomic_store(&sdb_fsync_failed, true);
	return r;
}

void
sdb_fsync_install(void)
{
	atomic_store(&sdb_fsync_failed, false);
	(void)db_env_set_func_fsync(sdb_fsync);
}

/* After a commit or a read: flushes the log. A read after the disk
 * failed does not flush (reads go on until the restart). */
static int
sdb_flush(struct store *st, bool read)
{
	if (read && atomic_load(&sdb_fsync_failed))
		return STORE_OK;
	atomic_fetch_add(&st->own_flushes, 1);
	uint64_t t0 = metrics_now_us();
	int r = st->env->log_flush(st->env, NULL);
	metrics_observe(MH_LOG_FLUSH, metrics_now_us() - t0);
	return sdb_map(r);
}

/* After a read-only transaction: could it have seen a commit that is not
 * yet on disk? Writers commit with DB_TXN_NOSYNC (the commit record is in
 * the log, the locks are released) and only then wait in log_flush, so a
 * reader can see data whose commit a crash would still lose, show a UID,
 * and after recovery the same UID would be given to another message. Every
 * commit a reader can have seen has its record before the end of the log
 * at the moment the reader checks; so when the log is synced up to its
 * end (DB_LOG_STAT: st_disk, the synced LSN, is not behind st_cur, the
 * end), everything it saw is durable and it needs no flush. That holds for
 * commits of every process (minimailctl too): the log is shared. Else it
 * flushes, waiting at most for the group commit already in flight. This
 * skips log_flush's flush mutex, which a reader would otherwise queue on
 * behind every writer's fsync. */
static int
sdb_read_flush(struct store *st)
{
	DB_LOG_STAT *ls = NULL;
	if (st->env->log_stat(st->env, &ls, 0) == 0 && ls != NULL) {
		bool synced = ls->st_disk_file > ls->st_cur_file ||
		    (ls->st_disk_file == ls->st_cur_file &&
		    ls->st_disk_offset >= ls->st_cur_offset);
		free(ls);
		if (synced) {
			atomic_fetch_add(&st->read_flushes_skipped, 1);
			return STORE_OK;
		}
	}
	atomic_fetch_add(&st->read_flushes, 1);
	return sdb_flush(st, true);
}

void
sdb_read_flush_stats(struct store *st, uint64_t *flushed_r, uint64_t *skipped_r)
{
	*flushed_r = atomic_load(&st->read_flushes);
	*skipped_r = atomic_load(&st->read_flushes_skipped);
}

void
sdb_token_make(struct sdb_token_key *k, time_t *when_r)
{
	static atomic_uint seq;
	time_t now = time(NULL);
	sdb_be64(k->when, (uint64_t)now);
	sdb_be32(k->pid, (uint32_t)getpid());
	sdb_be32(k->seq, atomic_fetch_add(&seq, 1));
	*when_r = now;
}

/* sdb_run_once()'s transaction around fn. On a rerun after a recovery
 * that cut the commit short, the token answers whether that commit is
 * durable: found, it is, and nothing is applied again (the first run's
 * results are still in arg, its changes are given back for the hook);
 * absent, the first run is lost and this is a first run. Else fn runs
 * and the token is written last, beside fn's records. */
static int
sdb_once_tx(struct sdb_tx *tx, sdb_txn_fn *fn, void *arg)
{
	int r;

	if (tx->redo) {
		void *data = NULL;
		size_t len;
		r = sdb_get_alloc(tx->st->tokens, tx->txn, &tx->token, sizeof(tx->token),
		    &data, &len, 0);
		free(data);
		if (r == STORE_OK) {
			tx->nchanges = tx->redo_nchanges;
			log_warn("store: a transaction cut short by a recovery was already "
			    "durable: not applied again");
			return STORE_OK;
		}
		if (r != STORE_NOTFOUND)
			return r;
		if (time(NULL) - tx->token_time > SDB_TOKEN_KEEP_SECS) {
			/* its token may be pruned already: outcome unknown */
			log_error("store: a transaction rerun after %lld s cannot tell "
			    "whether its first run is stored; not applying it again",
			    (long long)(time(NULL) - tx->token_time));
			return STORE_IO;
		}
		tx->redo = false;
	}
	if ((r = fn(tx, arg)) != STORE_OK)
		return r;
	return sdb_put(tx->st->tokens, tx->txn, &tx->token, sizeof(tx->token), "", 0);
}

/* Runs fn in transactions until it commits (durably) or fails, retrying
 * deadlocks; called with st->lock held shared. SDB_RECOVER means the
 * environment must be reopened first (a lock wait that keeps timing out
 * asks for it too: the holder may be a dead process that nobody has
 * recovered yet, and a reopen with DB_REGISTER recovers it). */
static int
sdb_run_locked(struct store *st, bool write, sdb_txn_fn *fn, void *arg,
    struct sdb_tx *tx)
{
	int r, timeouts = 0;

	if (st->env == NULL || atomic_load(&st->panicked))
		return SDB_RECOVER;
	for (int attempt = 0; ; attempt++) {
		if (atomic_load(&st->need_reopen))
			return SDB_PROBE;
		bool committing = false;
		tx->nchanges = 0;
		r = st->env->txn_begin(st->env, NULL, &tx->txn, 0);
		if (r != 0) {
			tx->txn = NULL;
			r = sdb_map(r);
		} else if ((r = tx->once ? sdb_once_tx(tx, fn, arg) :
		    fn(tx, arg)) == STORE_OK) {
			int flags = write && st->sync_commit ? 0 : DB_TXN_NOSYNC;
			int hr = 0;
			committing = true;
			r = sdb_map(tx->txn->commit(tx->txn, flags));
			tx->txn = NULL;
			if (r == STORE_OK && tx->committed != NULL)
				tx->committed(tx->committed_arg);
			if (r == STORE_OK && write)
				atomic_fetch_add(&st->commits, 1);
			if (r == STORE_OK && write && sdb_test_commit_hook != NULL)
				hr = sdb_test_commit_hook(st);
			/* a read flushes only when it may have seen something not
			 * yet durable (sdb_read_flush) */
			if (r == STORE_OK && !write)
				r = sdb_read_flush(st);
			else if (r == STORE_OK && !st->sync_commit)
				r = hr != 0 ? sdb_map(hr) : sdb_flush(st, false);
			if (hr != 0)    /* a test's failed flush: as sdb_fsync's */
				atomic_store(&sdb_fsync_failed, true);
			/* The commit is visible but its log did not reach the
			 * disk, and a later flush that succeeds proves nothing
			 * (the kernel may have dropped the pages it could not
			 * write): the disk is failing. Not acknowledged, not run
			 * again, and no more writes until a restart. */
			if (r != STORE_OK && r != SDB_RECOVER &&
			    !atomic_load(&st->panicked)) {
				sdb_disk_failed(st, hr != 0 ? db_strerror(hr) :
				    store_strerror(r));
				return STORE_IO;
			}
		} else {
			/* a panicked environment is recovered elsewhere: write
			 * nothing more into it (see sdb_wake_waiters) */
			if (!atomic_load(&st->panicked))
				(void)tx->txn->abort(tx->txn);
			tx->txn = NULL;
		}
		if (r != STORE_OK && atomic_load(&st->panicked))
			r = SDB_RECOVER;
		/* The commit record may or may not have reached the disk
		 * before the recovery: the caller was told nothing yet, and
		 * running the transaction again cannot lose it. */
		if (r == SDB_RECOVER && write && committing) {
			tx->redo = true;
			tx->redo_nchanges = tx->nchanges;
		}
		if (r == SDB_TIMEOUT && ++timeouts >= 2)
			return SDB_PROBE;
		if (r != SDB_RETRY && r != SDB_TIMEOUT)
			return r;
		if (attempt >= SDB_DEADLOCK_RETRIES) {
			log_warn("store: transaction still deadlocked after %d tries",
			    attempt + 1);
			return STORE_LOCKED;
		}
		sdb_backoff(attempt);
	}
}

static int
sdb_run_tx(struct store *st, bool write, bool once, sdb_txn_fn *fn, void *arg,
    void (*committed)(void *), void *carg)
{
	struct sdb_tx tx = { .st = st, .once = once, .committed = committed,
	    .committed_arg = carg };
	uint64_t gen;
	int r;

	if (once)
		sdb_token_make(&tx.token, &tx.token_time);

	for (int reopens = 0; ; reopens++) {
		if (write && atomic_load(&st->failed)) {
			r = STORE_IO;
			break;
		}
		pthread_rwlock_rdlock(&st->lock);
		gen = st->generation;
		r = sdb_run_locked(st, write, fn, arg, &tx);
		pthread_rwlock_unlock(&st->lock);
		if (r != SDB_RECOVER && r != SDB_PROBE)
			break;
		if (reopens >= SDB_REOPEN_RETRIES) {
			log_error("store: %s after %d reopens of the environment",
			    r == SDB_PROBE ? "lock waits still time out" :
			    "still needs recovery", reopens);
			r = r == SDB_PROBE ? STORE_LOCKED : STORE_CORRUPT;
			break;
		}
		if ((r = sdb_reopen(st, gen)) != STORE_OK)
			break;
	}
	if (r == STORE_OK && st->hook != NULL)
		for (size_t i = 0; i < tx.nchanges; i++)
			st->hook(st->hook_arg, tx.changes[i].user, tx.changes[i].id,
			    tx.changes[i].kind);
	free(tx.changes);
	return r;
}

int
sdb_run(struct store *st, bool write, sdb_txn_fn *fn, void *arg)
{
	return sdb_run_tx(st, write, false, fn, arg, NULL, NULL);
}

int
sdb_run_committed(struct store *st, sdb_txn_fn *fn, void *arg,
    void (*committed)(void *), void *carg)
{
	return sdb_run_tx(st, true, false, fn, arg, committed, carg);
}

int
sdb_run_once(struct store *st, sdb_txn_fn *fn, void *arg)
{
	return sdb_run_tx(st, true, true, fn, arg, NULL, NULL);
}
