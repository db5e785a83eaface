/* store-env.c: the Berkeley DB environment: open and recover, close,
 * reopen after a panic (sdb_reopen, for sdb_run in store-bdb.c), the
 * DB_REGISTER registry watch, the lock watchdog and checkpoints.
 *
 * The one idea: every handle in struct store changes only under st->lock
 * taken exclusively, which every operation holds shared; a panicked
 * environment is closed without writing and opened again with recovery,
 * and the operation that found it panicked runs again (store-bdb.c). */
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
	/* a body's trigram list (up to 12 KiB) stays on its leaf page */
	if (strcmp(file, "ftsmeta.db") == 0)
		(void)db->set_pagesize(db, 64 * 1024);
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
	DBT k = { .data = (void *)name, .size = (u_int32_t)strlen(name) };
	int r;
	/* A sequence's record is created by the first opener; when two
	 * processes open a new store at once (minimailctl beside the daemon),
	 * the second one's create finds the record just written (DB_KEYEXIST)
	 * and opens it on the next try. */
	for (int attempt = 0;; attempt++) {
		DB_SEQUENCE *seq;
		r = db_sequence_create(&seq, st->seqdb, 0);
		if (r != 0)
			return r;
		(void)seq->initial_value(seq, init);
		(void)seq->set_range(seq, min, max);
		(void)seq->set_cachesize(seq, cache);
		if (wrap)
			(void)seq->set_flags(seq, DB_SEQ_WRAP);
		r = seq->open(seq, NULL, &k, DB_CREATE | DB_THREAD);
		if (r == 0) {
			*seq_r = seq;
			return 0;
		}
		(void)seq->close(seq, 0);
		if ((r != DB_KEYEXIST && r != DB_LOCK_DEADLOCK) || attempt == 3)
			return r;
		sdb_lasterr[0] = '\0';
	}
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
	    &st->tokens, &st->sieve, &st->fts, &st->ftsmeta, &st->seqdb };
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
		{ offsetof(struct store, tokens), "tokens.db", DB_BTREE },
		{ offsetof(struct store, sieve), "sieve.db", DB_BTREE },
		{ offsetof(struct store, fts), "fts.db", DB_BTREE },
		{ offsetof(struct store, ftsmeta), "ftsmeta.db", DB_BTREE },
	};
	for (size_t i = 0; i < sizeof(dbs) / sizeof(dbs[0]); i++) {
		what = dbs[i].file;
		r = sdb_open_db(st, (DB **)((char *)st + dbs[i].off), dbs[i].file,
		    dbs[i].type, st->create ||
		    /* the outbound queue, the tokens and the Sieve scripts came
		     * later: older stores get them now */
		    dbs[i].off == offsetof(struct store, queue) ||
		    dbs[i].off == offsetof(struct store, tokens) ||
		    dbs[i].off == offsetof(struct store, sieve) ||
		    /* the full-text index too */
		    dbs[i].off == offsetof(struct store, fts) ||
		    dbs[i].off == offsetof(struct store, ftsmeta));
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

int
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
	sdb_rcpt_cache_close(st);
	sdb_sieve_cache_close(st);
	pthread_mutex_destroy(&st->dq_mu);
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
		/* EEXIST: another process created it in the meantime */
		if (errno != ENOENT || !create ||
		    (mkdir(data_dir, 0700) != 0 && errno != EEXIST)) {
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
	pthread_mutex_init(&st->dq_mu, NULL);
	sdb_rcpt_cache_open(st);
	sdb_sieve_cache_open(st);
	sdb_fsync_install();
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

	(void)sdb_tokens_prune(st);
	for (int reopens = 0; ; reopens++) {
		pthread_rwlock_rdlock(&st->lock);
		gen = st->generation;
		if (st->env == NULL || atomic_load(&st->panicked)) {
			r = DB_RUNRECOVERY;
		} else {
			r = st->env->txn_checkpoint(st->env, 0, 0, 0);
			if (r == 0)
				r = sdb_archive_logs(st);   /* store-backup.c */
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

/* ---- for store-backup.c and store-verify.c ---- */

const char *
sdb_last_error(void)
{
	return sdb_lasterr;
}

void
sdb_last_error_clear(void)
{
	sdb_lasterr[0] = '\0';
}

int
sdb_reopen_gen(struct store *st, uint64_t gen)
{
	return sdb_reopen(st, gen);
}
