/* store-bdb.c: the Berkeley DB environment under store.h: open/recover,
 * the transaction runner, small record helpers and message bodies.
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
 * what was flushed before the recovery is in the recovered store. */
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

static __thread char sdb_lasterr[256];

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

static void
sdb_errcall(const DB_ENV *env, const char *pfx, const char *msg)
{
	struct store *st = env->app_private;
	mm_strlcpy(sdb_lasterr, msg, sizeof(sdb_lasterr));
	/* a panicked handle says so on every call until it is reopened */
	if (st != NULL && atomic_load(&st->panicked))
		return;
	log_warn("store: bdb: %s", msg);
}

/* Another process ran recovery (DB_EVENT_REG_PANIC) or the environment
 * failed (DB_EVENT_PANIC): the next operation reopens it. */
static void
sdb_event(DB_ENV *env, u_int32_t event, void *info)
{
	struct store *st = env->app_private;
	(void)info;
	if (st != NULL && (event == DB_EVENT_PANIC || event == DB_EVENT_REG_PANIC)) {
		if (!atomic_exchange(&st->panicked, true))
			log_warn("store: environment panicked (%s); reopening it",
			    event == DB_EVENT_REG_PANIC ?
			    "another process died with it open and it was recovered" :
			    "fatal error");
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

void
sdb_changed(struct sdb_tx *tx, const char *user, uint32_t id)
{
	for (size_t i = 0; i < tx->nchanges; i++)
		if (tx->changes[i].id == id && strcmp(tx->changes[i].user, user) == 0)
			return;
	if (tx->nchanges == tx->capchanges) {
		tx->capchanges = tx->capchanges ? tx->capchanges * 2 : 4;
		tx->changes = xrealloc(tx->changes,
		    tx->capchanges * sizeof(*tx->changes));
	}
	mm_strlcpy(tx->changes[tx->nchanges].user, user,
	    sizeof(tx->changes[0].user));
	tx->changes[tx->nchanges].id = id;
	tx->nchanges++;
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

static int
sdb_flush(struct store *st)
{
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
	return sdb_flush(st);
}

void
sdb_read_flush_stats(struct store *st, uint64_t *flushed_r, uint64_t *skipped_r)
{
	*flushed_r = atomic_load(&st->read_flushes);
	*skipped_r = atomic_load(&st->read_flushes_skipped);
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
		} else if ((r = fn(tx, arg)) == STORE_OK) {
			int flags = write && st->sync_commit ? 0 : DB_TXN_NOSYNC;
			committing = true;
			r = sdb_map(tx->txn->commit(tx->txn, flags));
			tx->txn = NULL;
			if (r == STORE_OK && write)
				atomic_fetch_add(&st->commits, 1);
			if (r == STORE_OK && !write)
				r = sdb_read_flush(st);
			else if (r == STORE_OK && !st->sync_commit)
				r = sdb_flush(st);
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
		if (r == SDB_RECOVER && write && committing)
			tx->redo = true;
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

static int sdb_reopen(struct store *, uint64_t);
static int sdb_reopen_excl(struct store *);

int
sdb_run(struct store *st, bool write, sdb_txn_fn *fn, void *arg)
{
	struct sdb_tx tx = { .st = st };
	uint64_t gen;
	int r;

	for (int reopens = 0; ; reopens++) {
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
			st->hook(st->hook_arg, tx.changes[i].user, tx.changes[i].id);
	free(tx.changes);
	return r;
}

/* ---- environment ---- */

static int
sdb_open_db(struct store *st, DB **db_r, const char *file, DBTYPE type,
    bool create)
{
	DB *db;
	int r = db_create(&db, st->env, 0);
	if (r != 0)
		return r;
	if (type == DB_QUEUE)
		(void)db->set_re_len(db, sizeof(struct sdb_counters));
	if (strcmp(file, "bodies.db") == 0)
		(void)db->set_pagesize(db, 16 * 1024);
	r = db->open(db, NULL, file, NULL, type,
	    DB_THREAD | DB_AUTO_COMMIT | (create ? DB_CREATE : 0), 0600);
	if (r != 0) {
		(void)db->close(db, 0);
		return r;
	}
	*db_r = db;
	return 0;
}

static int
sdb_open_seq(struct store *st, DB_SEQUENCE **seq_r, const char *name,
    db_seq_t init, db_seq_t min, db_seq_t max, int32_t cache, bool wrap)
{
	DB_SEQUENCE *seq;
	DBT k = { .data = (void *)name, .size = (u_int32_t)strlen(name) };
	int r = db_sequence_create(&seq, st->seqdb, 0);
	if (r != 0)
		return r;
	(void)seq->initial_value(seq, init);
	(void)seq->set_range(seq, min, max);
	(void)seq->set_cachesize(seq, cache);
	if (wrap)
		(void)seq->set_flags(seq, DB_SEQ_WRAP);
	r = seq->open(seq, NULL, &k, DB_CREATE | DB_THREAD);
	if (r != 0) {
		(void)seq->close(seq, 0);
		return r;
	}
	*seq_r = seq;
	return 0;
}

/* Closes every handle. nosync: do not write the cache's dirty pages
 * (reopen: they are in the log, and a panicked handle must not write). A
 * panicked environment's handles are only partly freed by Berkeley DB. */
static void
sdb_close_all(struct store *st, bool nosync)
{
	DB_SEQUENCE **seqs[] = { &st->seq_body, &st->seq_recno, &st->seq_uidvalidity,
	    &st->seq_queue };
	for (size_t i = 0; i < sizeof(seqs) / sizeof(seqs[0]); i++)
		if (*seqs[i] != NULL) {
			(void)(*seqs[i])->close(*seqs[i], 0);
			*seqs[i] = NULL;
		}
	DB **dbs[] = { &st->users, &st->aliases, &st->mailboxes, &st->msgs,
	    &st->counters, &st->bodymeta, &st->bodies, &st->cache, &st->queue,
	    &st->seqdb };
	for (size_t i = 0; i < sizeof(dbs) / sizeof(dbs[0]); i++)
		if (*dbs[i] != NULL) {
			(void)(*dbs[i])->close(*dbs[i], nosync ? DB_NOSYNC : 0);
			*dbs[i] = NULL;
		}
	if (st->env != NULL) {
		(void)st->env->close(st->env, 0);
		st->env = NULL;
	}
}

/* Internal codes that reach a public function become public ones. */
static int
sdb_public(int r)
{
	switch (r) {
	case SDB_RETRY:
	case SDB_TIMEOUT:
	case SDB_PROBE:
		return STORE_LOCKED;
	case SDB_RECOVER:
		return STORE_CORRUPT;
	}
	return r;
}

/* ---- the DB_REGISTER registry ----
 *
 * __db.register has one slot of SDB_REG_SLOT bytes per process that opened
 * the environment: its pid as "%24lu\n" ("X...0\n" once it closed), and the
 * process holds a one-byte fcntl lock at the slot's offset while it lives.
 * A slot with a pid and no lock is a process that died with the
 * environment open: the next DB_REGISTER|DB_RECOVER open recovers it,
 * which panics every other process's handle. So that the daemon is not
 * panicked in the middle of its work (a thread already waiting for a lock
 * of the dead process could never be woken), the daemon notices the dead
 * slot itself (its watchdog looks through Berkeley DB's own descriptor:
 * closing any descriptor of the file would drop our own lock) and
 * recovers between two transactions, while a new opener that sees a live
 * process beside the dead one waits a little for it to do so.
 *
 * Why not DB_ENV->failchk (set_isalive, DB_FAILCHK at open), Berkeley
 * DB's own way (tried, see git log): in 5.3 it stops with EBUSY once per
 * database the dead process had open (and inside DB_ENV->open it then
 * recovers anyway); it must not run alone after a machine crash; and
 * above all it blocks for ever itself when the process died holding a
 * region mutex (the log's, in its fsync), where this scan never calls
 * into Berkeley DB. Left open either way: a thread that asks for such a
 * mutex between the death and the recovery blocks for ever (5.3 has no
 * failchk broadcast). */
#define SDB_REG_SLOT           25
#define SDB_REG_MAX_BYTES      (256 * 1024)
#define SDB_RECOVERY_WAIT_MSECS 3000
#define SDB_RECOVERY_POLL_MSECS 50

int sdb_test_flags;

/* Counts the other processes registered alive and dead in the registry
 * open as fd (which this process holds no lock through). */
static void
sdb_registry_scan(int fd, int *live_r, int *dead_r)
{
	char slot[SDB_REG_SLOT + 1];
	pid_t me = getpid();

	*live_r = *dead_r = 0;
	for (off_t off = 0; off < SDB_REG_MAX_BYTES; off += SDB_REG_SLOT) {
		ssize_t n = pread(fd, slot, SDB_REG_SLOT, off);
		if (n != SDB_REG_SLOT)
			break;
		slot[SDB_REG_SLOT] = '\0';
		char *end;
		unsigned long pid = strtoul(slot, &end, 10);
		if (slot[0] == 'X' || pid == 0 || *end != '\n' || (pid_t)pid == me)
			continue;
		struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET,
		    .l_start = off, .l_len = 1 };
		if (fcntl(fd, F_GETLK, &fl) != 0)
			continue;
		if (fl.l_type == F_UNLCK)
			(*dead_r)++;
		else
			(*live_r)++;
	}
}

/* Before we open (and hold no lock on the registry): if a process died
 * with the environment open while another still has it, give the live
 * one a moment to recover it cleanly. */
static void
sdb_wait_for_recovery(const char *data_dir)
{
	char path[PATH_MAX];
	int live, dead;

	if (sdb_test_flags & SDB_TEST_NO_RECOVERY_WAIT)
		return;
	if ((size_t)snprintf(path, sizeof(path), "%s/__db.register", data_dir) >=
	    sizeof(path))
		return;
	for (int waited = 0; waited < SDB_RECOVERY_WAIT_MSECS;
	    waited += SDB_RECOVERY_POLL_MSECS) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return;
		sdb_registry_scan(fd, &live, &dead);
		close(fd);
		if (dead == 0 || live == 0)
			return;
		if (waited == 0)
			log_info("store: a process died with the store open; waiting "
			    "for the running one to recover it");
		usleep(SDB_RECOVERY_POLL_MSECS * 1000);
	}
}

/* Berkeley DB's own descriptor of the registry, or -1. */
static int
sdb_registry_fd(const char *data_dir)
{
	char want[PATH_MAX], link[PATH_MAX], got[PATH_MAX];
	int fd = -1;
	DIR *d;
	struct dirent *de;

	if (realpath(data_dir, got) == NULL ||
	    (size_t)snprintf(want, sizeof(want), "%s/__db.register", got) >= sizeof(want))
		return -1;
	if ((d = opendir("/proc/self/fd")) == NULL)
		return -1;
	while (fd < 0 && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(link, sizeof(link), "/proc/self/fd/%s", de->d_name);
		ssize_t n = readlink(link, got, sizeof(got) - 1);
		if (n <= 0)
			continue;
		got[n] = '\0';
		if (strcmp(got, want) == 0)
			fd = atoi(de->d_name);
	}
	closedir(d);
	return fd;
}

/* Opens the environment, databases and sequences of st->data_dir into st
 * (whose handles are all NULL); on failure closes what it opened. */
static int
sdb_env_open(struct store *st, char *err, size_t errlen)
{
	const char *what = "open environment";
	int r;

	sdb_lasterr[0] = '\0';
	st->regfd = -1;
	if (!st->watch_registry)
		sdb_wait_for_recovery(st->data_dir);
	r = db_env_create(&st->env, 0);
	if (r != 0) {
		st->env = NULL;
		goto fail;
	}
	st->env->app_private = st;
	st->env->set_errcall(st->env, sdb_errcall);
	(void)st->env->set_event_notify(st->env, sdb_event);
	(void)st->env->set_lk_detect(st->env, DB_LOCK_DEFAULT);
	/* A lock wait ends after this and the transaction runs again: a
	 * waiter must not sleep for ever on a lock of a process that died. */
	(void)st->env->set_timeout(st->env, SDB_LOCK_TIMEOUT_USECS,
	    DB_SET_LOCK_TIMEOUT);
	(void)st->env->set_flags(st->env, DB_TIME_NOTGRANTED, 1);
	(void)st->env->set_cachesize(st->env, 0, 32 * 1024 * 1024, 1);
	(void)st->env->set_lg_bsize(st->env, 4 * 1024 * 1024);
	(void)st->env->set_lg_max(st->env, 16 * 1024 * 1024);
	(void)st->env->set_lk_max_locks(st->env, 200000);
	(void)st->env->set_lk_max_objects(st->env, 200000);
	(void)st->env->set_lk_max_lockers(st->env, 20000);
	(void)st->env->set_tx_max(st->env, 2000);
	/* DB_REGISTER + DB_RECOVER: recovery runs only when no other process
	 * has the environment open, or one of them died holding it; with the
	 * daemon running, minimailctl just joins. */
	r = st->env->open(st->env, st->data_dir,
	    DB_CREATE | DB_INIT_TXN | DB_INIT_LOCK | DB_INIT_LOG |
	    DB_INIT_MPOOL | DB_THREAD | DB_REGISTER | DB_RECOVER, 0600);
	if (r != 0)
		goto fail;

	static const struct { size_t off; const char *file; DBTYPE type; } dbs[] = {
		{ offsetof(struct store, users), "users.db", DB_BTREE },
		{ offsetof(struct store, aliases), "aliases.db", DB_BTREE },
		{ offsetof(struct store, mailboxes), "mailboxes.db", DB_BTREE },
		{ offsetof(struct store, msgs), "msgs.db", DB_BTREE },
		{ offsetof(struct store, counters), "counters.db", DB_QUEUE },
		{ offsetof(struct store, bodymeta), "bodymeta.db", DB_BTREE },
		{ offsetof(struct store, bodies), "bodies.db", DB_BTREE },
		{ offsetof(struct store, cache), "cache.db", DB_BTREE },
		{ offsetof(struct store, seqdb), "seq.db", DB_BTREE },
		{ offsetof(struct store, queue), "queue.db", DB_BTREE },
	};
	for (size_t i = 0; i < sizeof(dbs) / sizeof(dbs[0]); i++) {
		what = dbs[i].file;
		r = sdb_open_db(st, (DB **)((char *)st + dbs[i].off), dbs[i].file,
		    dbs[i].type, st->create ||
		    /* the outbound queue came later: older stores get it now */
		    dbs[i].off == offsetof(struct store, queue));
		if (r != 0)
			goto fail;
	}
	what = "sequences";
	r = sdb_open_seq(st, &st->seq_body, "body", 1, 1, INT64_MAX, 256, false);
	if (r == 0)
		r = sdb_open_seq(st, &st->seq_recno, "recno", 1, 1,
		    (db_seq_t)UINT32_MAX - 1, 16, false);
	if (r == 0)
		r = sdb_open_seq(st, &st->seq_uidvalidity, "uidvalidity",
		    (db_seq_t)time(NULL), 1, (db_seq_t)UINT32_MAX, 8, true);
	if (r == 0)
		r = sdb_open_seq(st, &st->seq_queue, "queue", 1, 1, INT64_MAX, 16, false);
	if (r != 0)
		goto fail;
	st->regfd = sdb_registry_fd(st->data_dir);
	return STORE_OK;

fail:
	if (sdb_lasterr[0] != '\0')
		snprintf(err, errlen, "%s: %s: %s", st->data_dir, what, sdb_lasterr);
	else
		snprintf(err, errlen, "%s: %s: %s", st->data_dir, what, db_strerror(r));
	sdb_close_all(st, true);
	return sdb_public(sdb_map(r));
}

/* Closes and reopens the environment (recovering it when a process died
 * with it open), unless another thread already did since generation gen
 * was seen. Waits until no operation runs. */
static int
sdb_reopen_excl(struct store *st)
{
	char err[512];
	int r;

	log_warn("store: reopening the environment (%s)",
	    atomic_load(&st->panicked) ? "it panicked" :
	    st->env == NULL ? "the last reopen failed" :
	    atomic_load(&st->need_reopen) ?
	    "to recover a process that died with it open" :
	    "lock waits keep timing out");
	pthread_mutex_lock(&st->envmu);
	/* The dead process may have died holding a mutex of the region (the
	 * log's, in its fsync): closing the databases would log and wait for
	 * it for ever. The environment is recovered next anyway (which panics
	 * it for every process): panic it now, and closing writes nothing. */
	if (st->env != NULL && atomic_load(&st->need_reopen) &&
	    !atomic_load(&st->panicked))
		(void)st->env->set_flags(st->env, DB_PANIC_ENVIRONMENT, 1);
	sdb_close_all(st, true);
	atomic_store(&st->panicked, false);
	atomic_store(&st->need_reopen, false);
	r = sdb_env_open(st, err, sizeof(err));
	/* opening a panicked region reports the panic once more */
	atomic_store(&st->panicked, false);
	pthread_mutex_unlock(&st->envmu);
	st->generation++;
	atomic_fetch_add(&st->reopens, 1);
	if (r != STORE_OK)
		log_error("store: cannot reopen the environment: %s", err);
	else
		log_info("store: environment reopened");
	return r;
}

static int
sdb_reopen(struct store *st, uint64_t gen)
{
	int r = STORE_OK;

	pthread_rwlock_wrlock(&st->lock);
	if (st->generation == gen)
		r = sdb_reopen_excl(st);
	pthread_rwlock_unlock(&st->lock);
	return r;
}

static void
sdb_free(struct store *st)
{
	pthread_cond_destroy(&st->wdcond);
	pthread_mutex_destroy(&st->envmu);
	pthread_rwlock_destroy(&st->lock);
	free(st->data_dir);
	free(st);
}

/* The environment panicked (another process recovered it) while some of
 * our threads wait for locks that will never be released: their holders
 * are dead, or our own threads whose aborts the panic refuses. Berkeley
 * DB ends a lock wait only from its deadlock detector, which refuses to
 * run in a panicked environment too. So once the reopen has waited longer
 * than any running thread can take to notice the panic (new operations
 * queue behind the reopen), every thread still inside is blocked there:
 * run the detector with DB_NOPANIC for that one call to end the expired
 * lock waits. A woken thread returns an error and writes nothing (sdb_run
 * does not abort in a panicked environment). A thread blocked on a mutex
 * of a dead process stays blocked (Berkeley DB 5.3 has no way out). */
static void
sdb_wake_waiters(struct store *st)
{
	if (st->env->set_flags(st->env, DB_NOPANIC, 1) != 0)
		return;
	int n = 0;
	(void)st->env->lock_detect(st->env, 0, DB_LOCK_EXPIRE, &n);
	(void)st->env->set_flags(st->env, DB_NOPANIC, 0);
	if (n > 0)
		log_warn("store: ended %d lock wait(s) in the panicked environment", n);
}

static void *
sdb_watchdog(void *arg)
{
	struct store *st = arg;
	struct timespec ts;
	int panicked_ticks = 0;

	pthread_mutex_lock(&st->envmu);
	while (!st->wdstop) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += SDB_WATCHDOG_MSECS * 1000000L;
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		(void)pthread_cond_timedwait(&st->wdcond, &st->envmu, &ts);
		if (st->wdstop || st->env == NULL)
			continue;
		if (atomic_load(&st->panicked)) {
			if (++panicked_ticks * SDB_WATCHDOG_MSECS * 1000 <=
			    SDB_LOCK_TIMEOUT_USECS + SDB_WATCHDOG_MSECS * 1000)
				continue;
			pthread_mutex_unlock(&st->envmu);
			bool busy = pthread_rwlock_trywrlock(&st->lock) != 0;
			if (!busy)
				pthread_rwlock_unlock(&st->lock);
			pthread_mutex_lock(&st->envmu);
			if (busy && st->env != NULL && atomic_load(&st->panicked))
				sdb_wake_waiters(st);
			continue;
		}
		panicked_ticks = 0;
		(void)st->env->lock_detect(st->env, 0, DB_LOCK_EXPIRE, NULL);
		int live, dead;
		if (st->regfd < 0 || !st->watch_registry ||
		    (sdb_test_flags & SDB_TEST_NO_REGISTRY_WATCH))
			continue;
		sdb_registry_scan(st->regfd, &live, &dead);
		if (dead > 0 && !atomic_exchange(&st->need_reopen, true))
			log_warn("store: a process died with the store open; recovering it");
		if (!atomic_load(&st->need_reopen))
			continue;
		/* no operation runs: reopen now, else the next one will */
		pthread_mutex_unlock(&st->envmu);
		if (pthread_rwlock_trywrlock(&st->lock) == 0) {
			if (atomic_load(&st->need_reopen))
				(void)sdb_reopen_excl(st);
			pthread_rwlock_unlock(&st->lock);
		}
		pthread_mutex_lock(&st->envmu);
	}
	pthread_mutex_unlock(&st->envmu);
	return NULL;
}

int
store_open(const char *data_dir, int flags, struct store **st_r,
    char *err, size_t errlen)
{
	struct store *st;
	struct stat sb;
	pthread_rwlockattr_t attr;
	bool create = (flags & STORE_OPEN_CREATE) != 0;
	int r;

	*st_r = NULL;
	if (stat(data_dir, &sb) != 0) {
		if (errno != ENOENT || !create || mkdir(data_dir, 0700) != 0) {
			snprintf(err, errlen, "%s: %s", data_dir, strerror(errno));
			return errno == ENOENT ? STORE_NOTFOUND : sdb_map(errno);
		}
	} else if (!S_ISDIR(sb.st_mode)) {
		snprintf(err, errlen, "%s: not a directory", data_dir);
		return STORE_INVALID;
	}

	st = xcalloc(1, sizeof(*st));
	st->sync_commit = (flags & STORE_OPEN_SYNC_COMMIT) != 0;
	st->create = create;
	st->watch_registry = (flags & STORE_OPEN_RECOVER) != 0;
	st->data_dir = xstrdup(data_dir);
	/* writers first: a reopen must not wait behind a stream of operations */
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr,
	    PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&st->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	pthread_mutex_init(&st->envmu, NULL);
	pthread_cond_init(&st->wdcond, NULL);
	if ((r = sdb_env_open(st, err, errlen)) != STORE_OK) {
		sdb_free(st);
		return r;
	}
	if ((r = pthread_create(&st->watchdog, NULL, sdb_watchdog, st)) != 0)
		fatal("store: cannot start a thread: %s", strerror(r));
	*st_r = st;
	return STORE_OK;
}

void
store_close(struct store **stp)
{
	struct store *st = *stp;
	if (st == NULL)
		return;
	pthread_mutex_lock(&st->envmu);
	st->wdstop = true;
	pthread_cond_signal(&st->wdcond);
	pthread_mutex_unlock(&st->envmu);
	pthread_join(st->watchdog, NULL);
	bool usable = st->env != NULL && !atomic_load(&st->panicked);
	if (usable)
		(void)store_checkpoint(st);
	sdb_close_all(st, !usable);
	sdb_free(st);
	*stp = NULL;
}

int
store_checkpoint(struct store *st)
{
	uint64_t gen;
	int r;

	for (int reopens = 0; ; reopens++) {
		pthread_rwlock_rdlock(&st->lock);
		gen = st->generation;
		if (st->env == NULL || atomic_load(&st->panicked)) {
			r = DB_RUNRECOVERY;
		} else {
			r = st->env->txn_checkpoint(st->env, 0, 0, 0);
			if (r == 0)
				r = st->env->log_archive(st->env, NULL, DB_ARCH_REMOVE);
			if (r != 0 && atomic_load(&st->panicked))
				r = DB_RUNRECOVERY;
		}
		pthread_rwlock_unlock(&st->lock);
		if (r != DB_RUNRECOVERY || reopens >= SDB_REOPEN_RETRIES)
			break;
		if (sdb_reopen(st, gen) != STORE_OK)
			break;
	}
	if (r != 0)
		log_warn("store: checkpoint: %s", db_strerror(r));
	return sdb_public(sdb_map(r));
}

void
store_stats(struct store *st, uint64_t *commits_r, uint64_t *log_flushes_r)
{
	DB_LOG_STAT *ls = NULL;
	*commits_r = atomic_load(&st->commits);
	*log_flushes_r = 0;
	pthread_rwlock_rdlock(&st->lock);
	if (st->env != NULL && st->env->log_stat(st->env, &ls, 0) == 0 && ls != NULL) {
		*log_flushes_r = ls->st_scount;
		free(ls);
	}
	pthread_rwlock_unlock(&st->lock);
}

void
store_set_change_hook(struct store *st, store_change_fn *fn, void *arg)
{
	st->hook = fn;
	st->hook_arg = arg;
}

uint64_t
sdb_reopens(struct store *st)
{
	return atomic_load(&st->reopens);
}

/* ---- bodies ---- */

static size_t
sdb_chunk_key(unsigned char key[12], uint64_t id, uint32_t chunk)
{
	sdb_be64(key, id);
	sdb_be32(key + 8, chunk);
	return 12;
}

int
sdb_body_put(struct sdb_tx *tx, uint64_t id, const void *data, size_t len,
    const void *cache, size_t cachelen, uint32_t refs)
{
	struct store *st = tx->st;
	unsigned char key[12];
	struct sdb_bodymeta m = { .len = len, .refs = refs,
	    .has_cache = cache != NULL };
	int r;

	sdb_be64(key, id);
	r = sdb_put(st->bodymeta, tx->txn, key, 8, &m, sizeof(m));
	for (size_t off = 0, c = 0; r == STORE_OK && off < len;
	    off += SDB_CHUNK_BYTES, c++) {
		size_t n = len - off < SDB_CHUNK_BYTES ? len - off : SDB_CHUNK_BYTES;
		sdb_chunk_key(key, id, (uint32_t)c);
		r = sdb_put(st->bodies, tx->txn, key, 12, (const char *)data + off, n);
	}
	if (r == STORE_OK && cache != NULL) {
		sdb_be64(key, id);
		r = sdb_put(st->cache, tx->txn, key, 8, cache, cachelen);
	}
	return r;
}

int
sdb_body_ref(struct sdb_tx *tx, uint64_t id, int delta)
{
	struct store *st = tx->st;
	struct sdb_bodymeta m;
	unsigned char key[12];
	int r;

	sdb_be64(key, id);
	r = sdb_get(st->bodymeta, tx->txn, key, 8, &m, sizeof(m), DB_RMW);
	if (r != STORE_OK)
		return r;
	if (delta < 0 && m.refs < (uint32_t)-delta)
		return STORE_CORRUPT;
	m.refs += delta;
	if (m.refs > 0)
		return sdb_put(st->bodymeta, tx->txn, key, 8, &m, sizeof(m));
	r = sdb_del(st->bodymeta, tx->txn, key, 8);
	for (uint64_t off = 0, c = 0; r == STORE_OK && off < m.len;
	    off += SDB_CHUNK_BYTES, c++) {
		sdb_chunk_key(key, id, (uint32_t)c);
		r = sdb_del(st->bodies, tx->txn, key, 12);
	}
	if (r == STORE_OK && m.has_cache) {
		sdb_be64(key, id);
		r = sdb_del(st->cache, tx->txn, key, 8);
		if (r == STORE_NOTFOUND)
			r = STORE_OK;
	}
	return r;
}

struct body_read_arg {
	uint64_t id;
	uint64_t offset;
	char *buf;
	size_t len;
	size_t got;
	bool whole;          /* store_body_get: allocate and read all */
	size_t total;
	uint32_t refs;
};

static int
body_read_tx(struct sdb_tx *tx, void *varg)
{
	struct body_read_arg *a = varg;
	struct store *st = tx->st;
	struct sdb_bodymeta m;
	unsigned char key[12];
	int r;

	a->got = 0;
	sdb_be64(key, a->id);
	r = sdb_get(st->bodymeta, tx->txn, key, 8, &m, sizeof(m), 0);
	if (r != STORE_OK)
		return r;
	a->refs = m.refs;
	a->total = m.len;
	if (a->whole) {
		free(a->buf);
		a->buf = xmalloc(m.len + 1);
		a->offset = 0;
		a->len = m.len;
	}
	while (a->got < a->len && a->offset + a->got < m.len) {
		uint64_t pos = a->offset + a->got;
		uint32_t chunk = (uint32_t)(pos / SDB_CHUNK_BYTES);
		uint32_t coff = (uint32_t)(pos % SDB_CHUNK_BYTES);
		size_t want = a->len - a->got;
		if (want > SDB_CHUNK_BYTES - coff)
			want = SDB_CHUNK_BYTES - coff;
		if (want > m.len - pos)
			want = m.len - pos;
		DBT k = { .data = key, .size = 12 };
		DBT d = { .data = a->buf + a->got, .ulen = (u_int32_t)want,
		    .dlen = (u_int32_t)want, .doff = coff,
		    .flags = DB_DBT_USERMEM | DB_DBT_PARTIAL };
		sdb_chunk_key(key, a->id, chunk);
		r = st->bodies->get(st->bodies, tx->txn, &k, &d, 0);
		if (r != 0)
			return r == DB_NOTFOUND ? STORE_CORRUPT : sdb_map(r);
		if (d.size != want)
			return STORE_CORRUPT;
		a->got += want;
	}
	return STORE_OK;
}

int
store_body_read(struct store *st, uint64_t body_id, uint64_t offset,
    void *buf, size_t len, size_t *got_r)
{
	struct body_read_arg a = { .id = body_id, .offset = offset, .buf = buf,
	    .len = len };
	int r = sdb_run(st, false, body_read_tx, &a);
	*got_r = r == STORE_OK ? a.got : 0;
	return r;
}

int
store_body_get(struct store *st, uint64_t body_id, char **data_r, size_t *len_r)
{
	struct body_read_arg a = { .id = body_id, .whole = true };
	int r = sdb_run(st, false, body_read_tx, &a);
	if (r != STORE_OK) {
		free(a.buf);
		*data_r = NULL;
		*len_r = 0;
		return r;
	}
	a.buf[a.got] = '\0';
	*data_r = a.buf;
	*len_r = a.got;
	return STORE_OK;
}

int
store_body_refs(struct store *st, uint64_t body_id, uint32_t *refs_r)
{
	struct body_read_arg a = { .id = body_id, .len = 0 };
	int r = sdb_run(st, false, body_read_tx, &a);
	*refs_r = r == STORE_OK ? a.refs : 0;
	return r;
}

struct cache_arg {
	uint64_t id;
	void *data;
	size_t len;
};

static int
cache_tx(struct sdb_tx *tx, void *varg)
{
	struct cache_arg *a = varg;
	unsigned char key[8];
	free(a->data);
	a->data = NULL;
	sdb_be64(key, a->id);
	return sdb_get_alloc(tx->st->cache, tx->txn, key, 8, &a->data, &a->len, 0);
}

int
store_body_cache(struct store *st, uint64_t body_id, char **data_r, size_t *len_r)
{
	struct cache_arg a = { .id = body_id };
	int r = sdb_run(st, false, cache_tx, &a);
	if (r != STORE_OK) {
		free(a.data);
		*data_r = NULL;
		*len_r = 0;
		return r;
	}
	/* BDB's malloc'd buffer; give the caller a NUL-terminated xmalloc copy */
	char *p = xmalloc(a.len + 1);
	memcpy(p, a.data, a.len);
	p[a.len] = '\0';
	free(a.data);
	*data_r = p;
	*len_r = a.len;
	return STORE_OK;
}
