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
 * Readers flush too before they return, so nothing a caller is shown can
 * vanish in a crash (no UID is ever shown twice). STORE_OPEN_SYNC_COMMIT
 * switches to plain synchronous commits, for the benchmark's comparison.
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
#include "lib/util.h"

#include <errno.h>
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
	int r = st->env->log_flush(st->env, NULL);
	return sdb_map(r);
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
			if (r == STORE_OK && !(write && st->sync_commit))
				r = sdb_flush(st);
		} else {
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

static void
sdb_close_all(struct store *st)
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
			(void)(*dbs[i])->close(*dbs[i], 0);
			*dbs[i] = NULL;
		}
	if (st->env != NULL) {
		(void)st->env->close(st->env, 0);
		st->env = NULL;
	}
}

int
store_open(const char *data_dir, int flags, struct store **st_r,
    char *err, size_t errlen)
{
	struct store *st;
	struct stat sb;
	bool create = (flags & STORE_OPEN_CREATE) != 0;
	const char *what = "open environment";
	int r;

	*st_r = NULL;
	sdb_lasterr[0] = '\0';
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
	r = db_env_create(&st->env, 0);
	if (r != 0)
		goto fail;
	st->env->set_errcall(st->env, sdb_errcall);
	(void)st->env->set_lk_detect(st->env, DB_LOCK_DEFAULT);
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
	r = st->env->open(st->env, data_dir,
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
		/* queue.db came later than the others: a store made before it
		 * gets it on the first open */
		r = sdb_open_db(st, (DB **)((char *)st + dbs[i].off), dbs[i].file,
		    dbs[i].type, create || dbs[i].off == offsetof(struct store, queue));
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
	*st_r = st;
	return STORE_OK;

fail:
	if (sdb_lasterr[0] != '\0')
		snprintf(err, errlen, "%s: %s: %s", data_dir, what, sdb_lasterr);
	else
		snprintf(err, errlen, "%s: %s: %s", data_dir, what, db_strerror(r));
	sdb_close_all(st);
	free(st);
	r = sdb_map(r);
	return r == SDB_RETRY ? STORE_LOCKED : r;
}

void
store_close(struct store **stp)
{
	struct store *st = *stp;
	if (st == NULL)
		return;
	(void)store_checkpoint(st);
	sdb_close_all(st);
	free(st);
	*stp = NULL;
}

int
store_checkpoint(struct store *st)
{
	int r = st->env->txn_checkpoint(st->env, 0, 0, 0);
	if (r == 0)
		r = st->env->log_archive(st->env, NULL, DB_ARCH_REMOVE);
	if (r != 0)
		log_warn("store: checkpoint: %s", db_strerror(r));
	return sdb_map(r) == SDB_RETRY ? STORE_LOCKED : sdb_map(r);
}

void
store_stats(struct store *st, uint64_t *commits_r, uint64_t *log_flushes_r)
{
	DB_LOG_STAT *ls = NULL;
	*commits_r = atomic_load(&st->commits);
	*log_flushes_r = 0;
	if (st->env->log_stat(st->env, &ls, 0) == 0 && ls != NULL) {
		*log_flushes_r = ls->st_scount;
		free(ls);
	}
}

void
store_set_change_hook(struct store *st, store_change_fn *fn, void *arg)
{
	st->hook = fn;
	st->hook_arg = arg;
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
