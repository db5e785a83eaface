/* store-int.h: what the store's .c files share, and nothing outside
 * src/store may include. The one idea: every operation is a function
 * (struct sdb_tx *, void *arg) run by sdb_run(), which owns the
 * transaction, retries it whole on deadlock, makes the commit durable and
 * then calls the change hook for the mailboxes the operation marked. */
#ifndef MM_STORE_INT_H
#define MM_STORE_INT_H

#include <db.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "lib/limits.h"
#include "store/store.h"

#define SDB_RETRY               1000     /* internal: deadlock, run the txn again */
#define SDB_RECOVER             1001     /* internal: DB_RUNRECOVERY, reopen and run again */
#define SDB_TIMEOUT             1002     /* internal: a lock wait timed out, run again */
#define SDB_PROBE               1003     /* internal: lock waits keep timing out: reopen */
#define SDB_DEADLOCK_RETRIES    200
#define SDB_REOPEN_RETRIES      3        /* reopens one operation may trigger */
#define SDB_LOCK_TIMEOUT_USECS  (2 * 1000 * 1000)  /* a lock wait ends (and is retried) */
#define SDB_WATCHDOG_MSECS      250      /* how often expired lock waits are ended */
#define SDB_CHUNK_BYTES         (64 * 1024)  /* bodies are kept in chunks of this */
#define SDB_MBOX_DEPTH_MAX      16       /* '/' levels in a mailbox name */
#define SDB_RESOLVE_DEPTH_MAX   8        /* alias -> alias -> ... */
#define SDB_ADDR_LOCAL_MAX      64       /* RFC 5321 4.5.3.1.1 */
#define SDB_ADDR_DOMAIN_MAX     255      /* RFC 5321 4.5.3.1.2 */
/* How long a delivery's token is kept: far longer than one sdb_run can
 * take (a few reopens of a few seconds); a rerun older than this whose
 * token is gone fails instead of guessing. */
#define SDB_TOKEN_KEEP_SECS     600
#define SDB_KEY_MAX             (ADDRESS_MAX_BYTES + 1 + STORE_MBOX_NAME_MAX)

struct store {
	/* Taken shared by every operation, exclusive by sdb_reopen(): the
	 * handles below change only under the exclusive lock. */
	pthread_rwlock_t lock;
	uint64_t generation;       /* bumped by each reopen (under the lock) */
	atomic_bool panicked;      /* DB_EVENT_PANIC / DB_EVENT_REG_PANIC seen */
	atomic_uint_fast64_t reopens;
	char *data_dir;
	bool create;
	/* The lock watchdog: ends lock waits past SDB_LOCK_TIMEOUT_USECS
	 * (Berkeley DB checks timeouts only when some thread runs the
	 * detector). envmu guards env against a reopen for it, since it
	 * must not wait for st->lock behind a reopen. */
	pthread_t watchdog;
	pthread_mutex_t envmu;
	pthread_cond_t wdcond;
	bool wdstop;
	int regfd;                 /* Berkeley DB's descriptor of __db.register */
	bool watch_registry;       /* STORE_OPEN_RECOVER: we recover dead openers */
	atomic_bool need_reopen;   /* a registered process died: recover */
	DB_ENV *env;
	DB *users;       /* lower(address) -> struct sdb_user */
	DB *aliases;     /* lower(alias) -> targets, NUL-separated */
	DB *mailboxes;   /* user NUL name -> struct sdb_mbox + keyword names */
	DB *msgs;        /* (mailbox id BE32, uid BE32) -> struct sdb_msg, and
	                    the expunge log (SDB_EXPUNGE_PREFIX ...): store-expunge.c */
	DB *counters;    /* queue: recno -> struct sdb_counters (mailbox or user usage) */
	DB *bodymeta;    /* body id BE64 -> struct sdb_bodymeta */
	DB *bodies;      /* (body id BE64, chunk BE32) -> up to SDB_CHUNK_BYTES */
	DB *cache;       /* body id BE64 -> cache blob */
	DB *seqdb;       /* sequences */
	DB *queue;       /* outbound queue: entry id BE64 -> struct sdb_qhdr + strings */
	DB *sieve;       /* Sieve scripts and vacation records: store-sieve.c */
	DB *tokens;      /* delivery tokens (struct sdb_token_key) -> what the
	                    delivery stored: store-mail.c, "exactly once" */
	DB *fts;         /* full-text bitmaps per (mailbox, UID block, trigram): store-fts.c */
	DB *ftsmeta;     /* trigram lists of bodies and pending messages, coverage: store-fts.c */
	DB_SEQUENCE *seq_body;
	DB_SEQUENCE *seq_queue;
	DB_SEQUENCE *seq_recno;
	DB_SEQUENCE *seq_uidvalidity;
	bool sync_commit;
	store_change_fn *hook;
	void *hook_arg;
	atomic_uint_fast64_t commits;
	atomic_uint_fast64_t own_flushes;
	/* A log flush failed after a commit: the disk is failing. Writes are
	 * refused until the process restarts (store_failed). */
	atomic_bool failed;
	atomic_uint_fast64_t read_flushes;         /* read-only txns that flushed */
	atomic_uint_fast64_t read_flushes_skipped; /* ... that saw a synced log */
	/* The RCPT cache (store-rcptcache.c): rc_gen is the generation shared
	 * with every process (mapped RCPT_GEN_FILE), or NULL: cache off. */
	_Atomic uint64_t *rc_gen;
	pthread_mutex_t rc_mu;
	struct sdb_rcpt_entry *rc_table;    /* RCPT_CACHE_ENTRIES, under rc_mu */
	atomic_uint_fast64_t rc_hits, rc_misses;
	/* The active-Sieve-script cache (store-sieve.c), the same way: sv_gen
	 * mapped from SIEVE_GEN_FILE (NULL: off), the table under sv_mu. */
	_Atomic uint64_t *sv_gen;
	pthread_mutex_t sv_mu;
	struct sdb_sieve_entry *sv_table;  /* SIEVE_ACTIVE_CACHE_ENTRIES */
	size_t sv_bytes;                   /* text and names held, under sv_mu */
	atomic_uint_fast64_t sv_hits, sv_misses;
	/* Deliveries waiting for a batch (store-mail.c, "group delivery"),
	 * FIFO, and whether a thread is leading one; under dq_mu. */
	pthread_mutex_t dq_mu;
	struct sdb_dq_ent *dq_head, *dq_tail;
	bool dq_leading;
	atomic_uint_fast64_t dq_batches, dq_batched;
};

/* On-disk records (host byte order: the environment is not portable
 * across architectures anyway). Keys that must sort are big-endian. */
#define SDB_USER_VERSION 1
struct sdb_user {
	uint32_t version;
	uint32_t no;               /* recno of the usage record in counters */
	uint64_t quota_bytes;
	uint64_t quota_messages;
	char hash[256];
};

struct sdb_counters {
	uint64_t bytes;
	uint64_t messages;
	uint64_t highestmodseq;
	uint32_t uidnext;
	uint32_t unseen;
	uint32_t recent;
	uint32_t flags;            /* 1 = in use */
};

struct sdb_mbox_rec {
	uint32_t id;               /* also the recno of its counters */
	uint32_t attrs;
	uint32_t subscribed;
	uint32_t uidvalidity;
	uint32_t nkeywords;
	uint32_t pad;
	/* followed by nkeywords NUL-terminated names */
};

struct sdb_mbox {
	struct sdb_mbox_rec rec;
	char kw[STORE_KEYWORDS_MAX][STORE_KEYWORD_MAX_BYTES + 1];
};

struct sdb_msg {
	uint32_t flags;
	uint32_t pad;
	uint64_t keywords;
	int64_t internal_date;
	uint64_t size;
	uint64_t modseq;
	uint64_t body_id;
};

struct sdb_bodymeta {
	uint64_t len;
	uint32_t refs;
	uint32_t has_cache;
};

struct sdb_change {
	char user[ADDRESS_MAX_BYTES + 1];
	uint32_t id;
	unsigned kind;            /* STORE_CHANGE_* bits */
};

/* A token in tokens.db: one per transaction that must not be applied
 * twice (a delivery, sdb_run_once). Its key orders by time, so that
 * checkpoints prune the old ones from the start (sdb_tokens_prune). */
struct sdb_token_key {
	unsigned char when[8];     /* BE64 seconds: pruning walks from the oldest */
	unsigned char pid[4];
	unsigned char seq[4];
};
/* A new token (time, pid, a process-wide counter) and its time. */
void sdb_token_make(struct sdb_token_key *k, time_t *when_r);

struct sdb_tx {
	struct store *st;
	DB_TXN *txn;
	/* An earlier attempt of this transaction may have committed: its
	 * commit was cut short by a recovery (another process died), so the
	 * outcome is unknown and it runs again. A function whose second run
	 * would fail on its own first run's effect (EXISTS, NOTFOUND) may
	 * treat that as done. */
	bool redo;
	struct sdb_change *changes;
	size_t nchanges;
	size_t capchanges;
	/* sdb_run_once(): the transaction's token, when it was made, and the
	 * changes of the run whose commit was cut short (given back when
	 * its token shows it durable). */
	bool once;
	struct sdb_token_key token;
	time_t token_time;
	size_t redo_nchanges;
	/* sdb_run_committed(): called once the commit is in the log, before
	 * its flush (each attempt that gets that far). */
	void (*committed)(void *arg);
	void *committed_arg;
};

typedef int sdb_txn_fn(struct sdb_tx *tx, void *arg);

/* store-bdb.c: transactions, records */
int sdb_run(struct store *st, bool write, sdb_txn_fn *fn, void *arg);
/* A write transaction whose second run would apply it twice (COPY adds
 * the messages again) or answer differently (MOVE finds no messages,
 * CREATE finds the mailbox): it also writes a token in tokens.db, and a
 * rerun after a recovery (tx->redo) that finds the token knows the first
 * run is durable and returns STORE_OK without running fn again; fn's
 * results in arg and its changes are those of that first run. Without
 * the token the first run is lost and fn runs as a first run (redo
 * false). */
int sdb_run_once(struct store *st, sdb_txn_fn *fn, void *arg);
/* sdb_run(st, true, fn, arg) that calls committed(carg) after the commit
 * and before it waits for the log flush (so the next group of writes can
 * start while this one's is on its way to the disk). */
int sdb_run_committed(struct store *st, sdb_txn_fn *fn, void *arg,
    void (*committed)(void *), void *carg);
/* Installs the fsync every environment of this process uses (store-bdb.c:
 * a failure is remembered and every later fsync fails), its failure
 * forgotten: store_open() calls it before the environment opens. */
void sdb_fsync_install(void);
/* Berkeley DB's last error message on this thread (its errcall). */
extern __thread char sdb_lasterr[256];
/* store-env.c: reopens the environment (recovering it) unless another
 * thread did since generation gen; takes st->lock exclusively. */
int sdb_reopen(struct store *st, uint64_t gen);
/* Read-only transactions that flushed the log, and that did not need to
 * (the log was synced to its end: sdb_read_flush). For tests. */
void sdb_read_flush_stats(struct store *st, uint64_t *flushed_r, uint64_t *skipped_r);
/* Test knobs: with hold, no batch starts while nobody leads one (the
 * deliveries queue up); released, the first waiting takes the lead; and
 * how many are waiting. */
void sdb_dq_test_hold(struct store *st, bool hold);
size_t sdb_dq_waiting(struct store *st);
/* How often the environment was reopened after a recovery (for tests). */
uint64_t sdb_reopens(struct store *st);
/* Test knobs: the watchdog ignores dead processes in the registry; an
 * opener does not wait for a live process to recover a dead one. */
#define SDB_TEST_NO_REGISTRY_WATCH 0x1
#define SDB_TEST_NO_RECOVERY_WAIT  0x2
extern int sdb_test_flags;
/* Fault injection for the check programs, NULL in the daemon (nothing
 * sets it but a test's own code): called after a write transaction's
 * no-sync commit and before its log flush. A non-zero return is taken as
 * the flush's result (a Berkeley DB error: the flush failed) and the real
 * flush is skipped; 0 flushes as usual. The hook may panic the
 * environment to force the reopen-and-rerun path. */
typedef int sdb_commit_hook_fn(struct store *st);
extern sdb_commit_hook_fn *sdb_test_commit_hook;
void sdb_changed(struct sdb_tx *tx, const char *user, uint32_t id);
/* As sdb_changed, for a change of flags or keywords only (no message
 * added or removed): STORE_CHANGE_FLAGS for the hook. */
void sdb_changed_flags(struct sdb_tx *tx, const char *user, uint32_t id);
int sdb_map(int dberr);
int sdb_get(DB *db, DB_TXN *txn, const void *key, size_t klen, void *buf,
    size_t buflen, uint32_t flags);
int sdb_get_alloc(DB *db, DB_TXN *txn, const void *key, size_t klen,
    void **data_r, size_t *len_r, uint32_t flags);
int sdb_put(DB *db, DB_TXN *txn, const void *key, size_t klen,
    const void *data, size_t dlen);
int sdb_del(DB *db, DB_TXN *txn, const void *key, size_t klen);
int sdb_seq_next(DB_SEQUENCE *seq, uint64_t *val_r);
int sdb_counters_get(struct sdb_tx *tx, uint32_t recno, struct sdb_counters *c_r,
    bool rmw);
int sdb_counters_put(struct sdb_tx *tx, uint32_t recno, const struct sdb_counters *c);
int sdb_counters_del(struct sdb_tx *tx, uint32_t recno);
/* store-body.c */
/* This thread's store_body_file() setting. */
void sdb_body_file_get(int *fd_r, uint64_t *off_r);
int sdb_body_put(struct sdb_tx *tx, uint64_t id, const void *data, size_t len,
    const void *cache, size_t cachelen, uint32_t refs);
/* Adds delta to the body's reference count; frees it when it reaches 0. */
int sdb_body_ref(struct sdb_tx *tx, uint64_t id, int delta);
void sdb_be32(unsigned char *p, uint32_t v);
void sdb_be64(unsigned char *p, uint64_t v);
uint32_t sdb_get_be32(const unsigned char *p);

/* store-account.c: users, aliases, addresses */
bool sdb_address_norm(const char *in, char out[ADDRESS_MAX_BYTES + 1]);
int sdb_user_load(struct sdb_tx *tx, const char *addr, struct sdb_user *u_r, bool rmw);
/* STORE_LIMIT when user already has sdb_mailboxes_max mailboxes (a
 * variable so that tests can lower it; STORE_MAILBOXES_MAX). */
int sdb_mailbox_room(struct sdb_tx *tx, const char *user);
extern int sdb_mailboxes_max;

/* store-sieve.c: drops a removed user's scripts and vacation records. */
int sdb_sieve_forget(struct sdb_tx *tx, const char *user);
/* store-authcache.c: successful password checks, keyed by an HMAC of
 * address, stored hash and password (store_auth_cache_set_ttl). */
bool sdb_auth_cache_lookup(const char *addr, const char *hash, const char *password);
void sdb_auth_cache_insert(const char *addr, const char *hash, const char *password);

/* store-rcptcache.c: the RCPT cache's generation file and table, set up
 * by store_open and freed with the store; sdb_rcpt_gen_bump before and
 * after every change of a user or an alias. */
#define RCPT_GEN_FILE "rcpt-generation"
/* A generation counter shared by every process that opens the store: the
 * file data_dir/file (created, zeros: 0) mapped MAP_SHARED; NULL, with a
 * warning naming what is off, when it cannot be mapped. */
_Atomic uint64_t *sdb_gen_map(struct store *st, const char *file, const char *what);
void sdb_gen_unmap(_Atomic uint64_t **gen);
/* Moves it by one / reads it; a NULL counter (off) stays 0. */
void sdb_gen_bump(_Atomic uint64_t *gen);
uint64_t sdb_gen_get(_Atomic uint64_t *gen);
void sdb_rcpt_cache_open(struct store *st);
void sdb_rcpt_cache_close(struct store *st);
void sdb_rcpt_gen_bump(struct store *st);

/* store-sieve.c: the active-script cache, set up by store_open and freed
 * with the store; sdb_sieve_gen_bump before and after every change of a
 * user's scripts (a user's removal too). */
#define SIEVE_GEN_FILE "sieve-generation"
void sdb_sieve_cache_open(struct store *st);
void sdb_sieve_cache_close(struct store *st);
void sdb_sieve_gen_bump(struct store *st);

/* store-mail.c: mailboxes and messages */
int sdb_mailbox_create_tx(struct sdb_tx *tx, const char *user, const char *name,
    unsigned attrs, bool subscribed, bool parents);
int sdb_mailbox_purge_tx(struct sdb_tx *tx, const char *user, struct sdb_user *u,
    uint32_t id, bool remove);
size_t sdb_mbox_key(const char *user, const char *name, unsigned char *key);
/* store-mail.c: the record helpers store-mailbox.c shares (their names
 * predate the split; nothing outside src/store sees them). */
/* Common arguments: the normalised user and mailbox names. */
struct mb_arg {
	char user[ADDRESS_MAX_BYTES + 1];
	char name[STORE_MBOX_NAME_MAX];
	char name2[STORE_MBOX_NAME_MAX];
	unsigned attrs;
	bool flag;
	struct store_mailbox mb;
	/* list */
	struct store_mailbox *list;
	size_t nlist, caplist;
};
int mbox_name_norm(const char *in, char out[STORE_MBOX_NAME_MAX]);
int mbox_load(struct sdb_tx *tx, const char *user, const char *name,
    struct sdb_mbox *mb, bool rmw);
int mbox_save(struct sdb_tx *tx, const char *user, const char *name,
    const struct sdb_mbox *mb);
void msg_key(unsigned char key[8], uint32_t id, uint32_t uid);
int usage_add(struct sdb_tx *tx, const struct sdb_user *u, int64_t bytes, int64_t msgs);
void mbox_fill(struct store_mailbox *out, const char *name,
    const struct sdb_mbox_rec *rec, const struct sdb_counters *c);
int mb_arg_init(struct mb_arg *a, const char *user, const char *name);
int user_exists(struct sdb_tx *tx, const char *user, struct sdb_user *u, bool rmw);

/* store-expunge.c: the expunge log in msgs.db, keys (SDB_EXPUNGE_PREFIX
 * BE32, mailbox id BE32, modseq BE64, uid BE32). Mailbox ids start at 1,
 * so the log sorts before every mailbox and forward scans from (id, 0)
 * never meet its longer keys. */
#define SDB_EXPUNGE_PREFIX 0u
int sdb_expunge_log(struct sdb_tx *tx, uint32_t id, uint64_t modseq, uint32_t uid);
/* Drops the log of a mailbox that is removed. */
int sdb_expunge_forget(struct sdb_tx *tx, uint32_t id);
/* store-modseq.c: the change log in msgs.db, keys (0 BE32, 0 BE32,
 * mailbox id BE32, modseq BE64, uid BE32): one entry per message whose
 * flags or keywords changed, under its current modseq. */
int sdb_modseq_log(struct sdb_tx *tx, uint32_t id, uint64_t old_modseq,
    uint64_t new_modseq, uint32_t uid);
int sdb_modseq_unlog(struct sdb_tx *tx, uint32_t id, uint64_t modseq, uint32_t uid);
int sdb_modseq_forget(struct sdb_tx *tx, uint32_t id);
/* Moves a message's entry, if it has one, to another mailbox (same UID). */
int sdb_modseq_move(struct sdb_tx *tx, uint32_t from_id, uint32_t to_id,
    uint64_t modseq, uint32_t uid);
/* Appends the UIDs below below_uid logged above since to *uids_r (or, with
 * del, removes the entries walked). */
int sdb_modseq_walk(struct sdb_tx *tx, uint32_t id, uint64_t since, bool del,
    uint32_t below_uid, uint32_t **uids_r, size_t *n_r, size_t *cap_r);
/* store-fts.c: the full-text index, written in the transactions that add
 * and remove messages. A body's trigrams (mail_fts_terms) are stored with
 * it; a body without them (not indexable) makes its messages candidates
 * of every lookup. */
int sdb_fts_body_put(struct sdb_tx *tx, uint64_t body_id, const uint32_t *terms, size_t n);
int sdb_fts_body_forget(struct sdb_tx *tx, uint64_t body_id);
/* Message uid of mailbox id, body body_id, was added / removed. fresh:
 * the mailbox never had a message before it (its uidnext was 1). */
int sdb_fts_add(struct sdb_tx *tx, uint32_t id, uint32_t uid, uint64_t body_id, bool fresh);
int sdb_fts_remove(struct sdb_tx *tx, uint32_t id, uint32_t uid, uint64_t body_id);
/* Drops every posting of mailbox id (remove: and its coverage mark). */
int sdb_fts_forget(struct sdb_tx *tx, uint32_t id, bool remove);
/* store-urlauth.c: drops the URLAUTH key of a mailbox that is removed. */
int sdb_urlauth_forget(struct sdb_tx *tx, uint32_t id);
/* Delivery with extra body references: fn (may be NULL) runs inside the
 * delivery's transaction with the new body's id, and the body is stored
 * with extra_refs references beyond the local copies (the queue's). With
 * extra_refs > 0 the call succeeds even when no local target took it. */
typedef int sdb_deliver_extra_fn(struct sdb_tx *tx, uint64_t body_id, void *arg);
/* memo[0..nmemo): ids fn writes (the queue entries'), kept in the
 * delivery's token so that a rerun that finds the first run durable
 * gives them back without running fn again. */
int sdb_deliver(struct store *st, struct store_rcpt *rcpts, size_t nrcpts,
    const void *data, size_t len, time_t internal_date,
    const void *cache, size_t cachelen, const char *const *keywords,
    size_t nkeywords, bool all_or_nothing, uint32_t extra_refs,
    sdb_deliver_extra_fn *fn, void *fnarg, uint64_t *memo, size_t nmemo);
/* Deletes delivery tokens older than SDB_TOKEN_KEEP_SECS (checkpoints). */
int sdb_tokens_prune(struct store *st);

/* store-bdb.c, for the files below: the thread's last Berkeley DB error
 * message; a reopen unless another thread did one since generation gen. */
const char *sdb_last_error(void);
void sdb_last_error_clear(void);
int sdb_reopen_gen(struct store *st, uint64_t gen);

/* store-backup.c: catastrophic recovery of the environment files in dir
 * (a private environment nothing else has open), then a checkpoint and
 * the log files no longer needed removed. */
int sdb_recover_fatal(const char *dir, char *err, size_t errlen);
/* Removes the log files no longer needed (store_checkpoint), except
 * those the next incremental backup needs (from the last backup's last
 * log file on), up to SDB_BACKUP_KEEP_LOGS_MAX of them. Returns a Berkeley
 * DB error code. Called with st->lock held shared. */
#define SDB_BACKUP_KEEP_LOGS_MAX 64      /* 1 GB of 16 MB log files */
int sdb_archive_logs(struct store *st);
/* A consistent copy of the live store in dir (which must exist, empty):
 * DB_ENV->backup, then sdb_recover_fatal(). */
int sdb_snapshot(struct store *st, const char *dir, char *err, size_t errlen);

/* store-queue.c: the body a queue record references (0: record too short). */
uint64_t sdb_queue_body(const void *data, size_t len);

#endif
