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
	DB_SEQUENCE *seq_body;
	DB_SEQUENCE *seq_queue;
	DB_SEQUENCE *seq_recno;
	DB_SEQUENCE *seq_uidvalidity;
	bool sync_commit;
	store_change_fn *hook;
	void *hook_arg;
	atomic_uint_fast64_t commits;
	atomic_uint_fast64_t own_flushes;
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
};

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
};

typedef int sdb_txn_fn(struct sdb_tx *tx, void *arg);

/* store-bdb.c: environment, transactions, records, bodies */
int sdb_run(struct store *st, bool write, sdb_txn_fn *fn, void *arg);
/* How often the environment was reopened after a recovery (for tests). */
uint64_t sdb_reopens(struct store *st);
/* Test knobs: the watchdog ignores dead processes in the registry; an
 * opener does not wait for a live process to recover a dead one. */
#define SDB_TEST_NO_REGISTRY_WATCH 0x1
#define SDB_TEST_NO_RECOVERY_WAIT  0x2
extern int sdb_test_flags;
void sdb_changed(struct sdb_tx *tx, const char *user, uint32_t id);
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

/* store-mail.c: mailboxes and messages */
int sdb_mailbox_create_tx(struct sdb_tx *tx, const char *user, const char *name,
    unsigned attrs, bool subscribed, bool parents);
int sdb_mailbox_purge_tx(struct sdb_tx *tx, const char *user, struct sdb_user *u,
    uint32_t id, bool remove);
size_t sdb_mbox_key(const char *user, const char *name, unsigned char *key);

/* store-expunge.c: the expunge log in msgs.db, keys (SDB_EXPUNGE_PREFIX
 * BE32, mailbox id BE32, modseq BE64, uid BE32). Mailbox ids start at 1,
 * so the log sorts before every mailbox and forward scans from (id, 0)
 * never meet its longer keys. */
#define SDB_EXPUNGE_PREFIX 0u
int sdb_expunge_log(struct sdb_tx *tx, uint32_t id, uint64_t modseq, uint32_t uid);
/* Drops the log of a mailbox that is removed. */
int sdb_expunge_forget(struct sdb_tx *tx, uint32_t id);
/* store-urlauth.c: drops the URLAUTH key of a mailbox that is removed. */
int sdb_urlauth_forget(struct sdb_tx *tx, uint32_t id);
/* Delivery with extra body references: fn (may be NULL) runs inside the
 * delivery's transaction with the new body's id, and the body is stored
 * with extra_refs references beyond the local copies (the queue's). With
 * extra_refs > 0 the call succeeds even when no local target took it. */
typedef int sdb_deliver_extra_fn(struct sdb_tx *tx, uint64_t body_id, void *arg);
int sdb_deliver(struct store *st, struct store_rcpt *rcpts, size_t nrcpts,
    const void *data, size_t len, time_t internal_date,
    const void *cache, size_t cachelen, const char *const *keywords,
    size_t nkeywords, bool all_or_nothing, uint32_t extra_refs,
    sdb_deliver_extra_fn *fn, void *fnarg);

#endif
