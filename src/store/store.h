/* store.h: the mailstore, and the only way into it.
 *
 * One transactional Berkeley DB environment in data_dir holds users,
 * aliases, mailboxes, the message index and message bodies. Every function
 * here is synchronous and may block on disk: the daemon calls them only
 * from worker threads (src/net/worker.h), minimailctl and tests call them
 * directly. A struct store is safe to use from many threads at once.
 *
 * Durability: a function that changes the store returns STORE_OK only
 * after its transaction has committed durably (log flushed to disk).
 * Concurrent commits share log flushes (group commit).
 *
 * Names: user addresses are compared case-insensitively and stored
 * lower-cased. Mailbox names are UTF-8 (the IMAP layer converts from
 * modified UTF-7), hierarchy separator '/', and "INBOX" is
 * case-insensitive. Every change to a mailbox calls the change hook
 * (store_set_change_hook) after commit. */
#ifndef MM_STORE_H
#define MM_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct store;

enum store_err {
	STORE_OK = 0,
	STORE_NOTFOUND,      /* no such user / alias / mailbox / message */
	STORE_EXISTS,        /* already exists */
	STORE_INVALID,       /* bad argument (address, name syntax, ...) */
	STORE_QUOTA,         /* would exceed quota */
	STORE_DENIED,        /* not allowed (delete INBOX, bad password, ...) */
	STORE_LIMIT,         /* a fixed bound was reached (keywords, nesting) */
	STORE_LOCKED,        /* environment in use in an incompatible way */
	STORE_CORRUPT,       /* data on disk is damaged */
	STORE_IO,            /* any other failure; logged with detail */
};
const char *store_strerror(int err);

/* ---- environment ---- */

#define STORE_OPEN_RECOVER  0x1   /* the daemon: recover the store when another
                                     process dies with it open (others wait
                                     for it a moment, then recover it) */
#define STORE_OPEN_CREATE   0x2   /* create data_dir and databases if missing */
/* Commit with the log flush inside DB_TXN->commit (locks held across the
 * fsync). Only for the benchmark's comparison: the default commits with
 * DB_TXN_NOSYNC and then waits for DB_ENV->log_flush, which is as durable
 * and lets concurrent commits share one fsync (see store-bdb.c). */
#define STORE_OPEN_SYNC_COMMIT 0x4

/* Opens (and with STORE_OPEN_CREATE creates) the environment. On failure
 * returns an error and writes a one-line reason into err. */
int store_open(const char *data_dir, int flags, struct store **st_r,
    char *err, size_t errlen);
void store_close(struct store **st);
/* Checkpoint and remove log files no longer needed. Call on a timer. */
int store_checkpoint(struct store *st);
/* Counters for benchmarks: commits and log flushes (fsyncs) so far. */
void store_stats(struct store *st, uint64_t *commits_r, uint64_t *log_flushes_r);
/* Group delivery: transactions that held concurrent deliveries, and the
 * deliveries they held (deliveries / batches is the mean batch). */
void store_delivery_stats(struct store *st, uint64_t *batches_r, uint64_t *deliveries_r);
/* True once a log flush failed after a commit: the disk is failing. The
 * store then refuses every write (STORE_IO) until the process restarts,
 * and the delivery whose flush failed was reported as STORE_IO, never as
 * done (it may or may not be on disk: it is never stored again by us). */
bool store_failed(struct store *st);

/* Called after every committed change to a mailbox, from the thread that
 * made it. user is the owner, mailbox_id the mailbox's id, kind what the
 * transaction did to it (STORE_CHANGE_* bits): STORE_CHANGE_FLAGS alone
 * means no message was added or removed (flags, keywords, modseqs only),
 * so a reader that still has a message knows it is still there. */
#define STORE_CHANGE_FLAGS    0x1u   /* flags or keywords of messages */
#define STORE_CHANGE_MESSAGES 0x2u   /* messages added or expunged, or the mailbox */
typedef void store_change_fn(void *arg, const char *user, uint32_t mailbox_id,
    unsigned kind);
void store_set_change_hook(struct store *st, store_change_fn *fn, void *arg);

/* ---- users ---- */

struct store_user {
	char address[321];
	char hash[256];          /* crypt(3) hash */
	uint64_t quota_bytes;    /* 0 = unlimited */
	uint64_t quota_messages; /* 0 = unlimited */
};

/* Is address a syntactically valid "local@domain" (local part at most 64
 * bytes, domain at most 255, whole at most ADDRESS_MAX_BYTES)? The store
 * refuses anything else with STORE_INVALID. */
bool store_address_valid(const char *address);

/* Creates the user with INBOX, Drafts, Sent, Trash, Junk and Archive
 * (with their SPECIAL-USE attributes), subscribed. hash is a crypt(3)
 * hash; a "{SHA512-CRYPT}" / "{BLF-CRYPT}" / "{CRYPT}" prefix is stripped. */
int store_user_add(struct store *st, const char *address, const char *hash);
int store_user_set_hash(struct store *st, const char *address, const char *hash);
int store_user_set_quota(struct store *st, const char *address,
    uint64_t bytes, uint64_t messages);
/* Removes the user, all their mailboxes and messages (bodies released). */
int store_user_del(struct store *st, const char *address);
int store_user_get(struct store *st, const char *address, struct store_user *u_r);
typedef int store_user_cb(void *arg, const struct store_user *u);
int store_user_list(struct store *st, store_user_cb *cb, void *arg);

#define STORE_PASSWORD_MAX_BYTES 1024

/* Checks address/password with crypt_r (slow on purpose: worker thread).
 * STORE_OK, STORE_NOTFOUND (no such user: still costs one hash) or
 * STORE_DENIED (wrong password). */
int store_authenticate(struct store *st, const char *address, const char *password);
/* The authentication cache ([auth] cache_ttl, like Dovecot's auth_cache):
 * store_authenticate remembers a successful check for ttl_secs (at most
 * AUTH_CACHE_TTL_MAX_SECS, else false), process-wide, keyed by an HMAC
 * with a random per-process secret of address, stored hash and password,
 * so the plaintext is never kept and a changed or deleted user (by any
 * process) never matches an old entry. Failures are never cached. 0 (the
 * default) turns it off and forgets every entry. False also when no random
 * secret could be made (the cache stays off). */
bool store_auth_cache_set_ttl(unsigned ttl_secs);
/* Lookups that skipped crypt(3), and lookups that did not (for tests). */
void store_auth_cache_stats(uint64_t *hits_r, uint64_t *misses_r);
/* Makes a yescrypt hash (falls back to SHA-512-crypt) of password. */
int store_hash_password(const char *password, char *hash_r, size_t hashlen);

/* ---- aliases ---- */

/* alias is "name@domain" or "@domain" (catch-all). Targets are addresses
 * (local users or other aliases, resolved at delivery, depth-bounded). */
#define STORE_ALIAS_TARGETS_MAX 64
int store_alias_add(struct store *st, const char *alias,
    const char *const *targets, size_t ntargets);
int store_alias_del(struct store *st, const char *alias);
typedef int store_alias_cb(void *arg, const char *alias,
    const char *const *targets, size_t ntargets);
int store_alias_list(struct store *st, store_alias_cb *cb, void *arg);

/* Resolves a recipient address to local users: exact user, alias (several
 * targets, recursively, bounded), plus-address "user+tag@dom" -> user,
 * then catch-all "@dom". Targets outside local users are returned in
 * remote_r (for the outbound queue). Fills users_r with up to maxusers
 * distinct user addresses (each char[321]); *nusers_r, *nremote_r set.
 * STORE_NOTFOUND when nothing matches. */
int store_resolve(struct store *st, const char *rcpt,
    char (*users_r)[321], size_t maxusers, size_t *nusers_r,
    char (*remote_r)[321], size_t maxremote, size_t *nremote_r);
/* The RCPT cache (store-rcptcache.c): store_resolve's answers for
 * recipients whose users all have no quota, for RCPT_CACHE_TTL_MSECS, and
 * only until the next change of any user or alias by any process (a
 * generation counter shared through data_dir). A caller reads
 * store_rcpt_cache_gen before its store_resolve and gives it to
 * store_rcpt_cache_put with the answer; store_rcpt_cache_get (cheap: no
 * Berkeley DB, fine on the event loop) fills the same arrays as
 * store_resolve and is true on a hit. */
uint64_t store_rcpt_cache_gen(struct store *st);
void store_rcpt_cache_put(struct store *st, uint64_t gen, const char *rcpt,
    const char (*users)[321], size_t nusers, const char (*remote)[321], size_t nremote);
bool store_rcpt_cache_get(struct store *st, const char *rcpt,
    char (*users_r)[321], size_t maxusers, size_t *nusers_r,
    char (*remote_r)[321], size_t maxremote, size_t *nremote_r);
/* Hits and misses of store_rcpt_cache_get (for tests). */
void store_rcpt_cache_stats(struct store *st, uint64_t *hits_r, uint64_t *misses_r);
/* Is address (any case) the user itself or an alias whose targets resolve
 * to that user? For "MAIL FROM must be yours" on submission. */
bool store_address_belongs_to(struct store *st, const char *address, const char *user);

/* ---- mailboxes ---- */

#define STORE_MBOX_NAME_MAX 512
#define STORE_MAILBOXES_MAX 10000 /* per user; one more is STORE_LIMIT */

/* SPECIAL-USE and other attributes */
#define MBOX_ATTR_DRAFTS     0x01
#define MBOX_ATTR_SENT       0x02
#define MBOX_ATTR_TRASH      0x04
#define MBOX_ATTR_JUNK       0x08
#define MBOX_ATTR_ARCHIVE    0x10
#define MBOX_ATTR_NOSELECT   0x20   /* a parent kept for its children */
/* A deleted mailbox kept only as a subscription (always with NOSELECT):
 * RFC 3501 6.3.6 "The server MUST NOT unilaterally remove an existing
 * mailbox name from the subscription list even if a mailbox by that name
 * no longer exists". LIST-EXTENDED shows it \NonExistent; CREATE makes it
 * a mailbox again; UNSUBSCRIBE removes it; DELETE, RENAME, STATUS and
 * SELECT find no mailbox there. */
#define MBOX_ATTR_NONEXISTENT 0x40

struct store_mailbox {
	uint32_t id;               /* unique within the user, never reused */
	char name[STORE_MBOX_NAME_MAX];
	unsigned attrs;
	bool subscribed;
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint64_t highestmodseq;
	uint32_t messages;
	uint32_t unseen;           /* messages without \Seen */
	uint32_t recent;           /* messages with \Recent */
	uint64_t bytes;
};

typedef int store_mailbox_cb(void *arg, const struct store_mailbox *mb);
/* All of the user's mailboxes, by name. */
int store_mailbox_list(struct store *st, const char *user, store_mailbox_cb *cb, void *arg);
int store_mailbox_get(struct store *st, const char *user, const char *name,
    struct store_mailbox *mb_r);
int store_mailbox_create(struct store *st, const char *user, const char *name,
    unsigned attrs);
/* Deleting a mailbox with children leaves it \Noselect (RFC 3501 6.3.4);
 * a subscribed one without children stays as MBOX_ATTR_NONEXISTENT;
 * INBOX cannot be deleted (STORE_DENIED). */
int store_mailbox_delete(struct store *st, const char *user, const char *name);
/* Renames name and its children. Renaming INBOX moves all its messages to
 * the new mailbox and leaves INBOX empty (RFC 3501 6.3.5). */
int store_mailbox_rename(struct store *st, const char *user, const char *from,
    const char *to);
int store_mailbox_subscribe(struct store *st, const char *user, const char *name,
    bool subscribe);

/* ---- messages ---- */

/* System flags */
#define MSG_SEEN      0x01
#define MSG_ANSWERED  0x02
#define MSG_FLAGGED   0x04
#define MSG_DELETED   0x08
#define MSG_DRAFT     0x10
#define MSG_RECENT    0x20

#define STORE_KEYWORDS_MAX 64       /* per mailbox */
#define STORE_KEYWORD_MAX_BYTES 128

/* Is k a keyword the store takes (an IMAP flag-keyword atom, at most
 * STORE_KEYWORD_MAX_BYTES)? Deliveries with any other are refused. */
bool store_keyword_valid(const char *k);

struct store_msg {
	uint32_t uid;
	uint32_t flags;          /* MSG_* */
	uint64_t keywords;       /* bit i = keyword i of the mailbox's table */
	time_t internal_date;
	uint64_t size;           /* RFC 822 size in bytes (CRLF line ends) */
	uint64_t modseq;
	uint64_t body_id;        /* shared body, see store_body_read */
};

/* The message index of a mailbox in UID order, plus its keyword table.
 * Free with store_index_free. */
struct store_index {
	struct store_mailbox mailbox;
	struct store_msg *msgs;
	size_t nmsgs;
	char **keywords;         /* keyword i's name */
	size_t nkeywords;
};
int store_index_read(struct store *st, const char *user, const char *mailbox,
    struct store_index **idx_r);
/* Only messages with modseq > since (CONDSTORE/QRESYNC, IMAP resync after
 * a change notification). Same shape; mailbox counters are current. With
 * since > 0 it reads only what changed, not the mailbox (the change log,
 * store-modseq.c): the messages after the last one unchanged since, and
 * the logged flag changes below it. since = 0 is a whole read. */
int store_index_read_changed(struct store *st, const char *user, const char *mailbox,
    uint64_t since_modseq, struct store_index **idx_r);
void store_index_free(struct store_index **idx);

/* One delivery target. */
struct store_rcpt {
	const char *user;
	const char *mailbox;     /* NULL means INBOX */
	uint32_t flags;          /* initial flags (APPEND); MSG_RECENT added */
	uint32_t uid_r;          /* out: the UID it got */
	uint32_t uidvalidity_r;  /* out */
	int result_r;            /* out: STORE_OK, STORE_QUOTA, STORE_NOTFOUND */
};

/* The body of this thread's next store_deliver / store_deliver_queue
 * calls (passed as data NULL with its len) is len bytes at off in the
 * spool file fd (lib/spool.h), read in chunks inside the commit instead
 * of held in memory. store_body_file(-1, 0) after the call. */
void store_body_file(int fd, uint64_t off);

/* Stores the message body once and adds it to every target mailbox, in
 * one transaction: all or nothing. cache/cachelen is the parsed-structure
 * blob kept beside the body (src/mail produces it), may be NULL. Quota is
 * checked per target; with all_or_nothing false, targets over quota get
 * result_r = STORE_QUOTA and the others are delivered (SMTP); with true the
 * whole call fails with STORE_QUOTA (APPEND). keywords are names to set
 * (APPEND), may be NULL. */
int store_deliver(struct store *st, struct store_rcpt *rcpts, size_t nrcpts,
    const void *data, size_t len, time_t internal_date,
    const void *cache, size_t cachelen,
    const char *const *keywords, size_t nkeywords, bool all_or_nothing);

/* One message of store_append_multi. */
struct store_append {
	const void *data;
	size_t len;
	time_t internal_date;
	const void *cache;       /* parsed-structure blob, may be NULL */
	size_t cachelen;
	uint32_t flags;          /* MSG_* (MSG_RECENT added) */
	const char *const *keywords;
	size_t nkeywords;
	uint32_t uid_r;          /* out */
	/* spooled (issue 18): data is NULL and the body is len bytes at 0
	 * in the spool file spool_fd, read in chunks (store_body_file) */
	bool spooled;
	int spool_fd;
};

/* MULTIAPPEND (RFC 3502 6.3.11): the messages into one mailbox of user
 * in one transaction, all or nothing (quota counted over all of them);
 * their UIDs ascend in the given order. *uidvalidity_r: the mailbox's. */
int store_append_multi(struct store *st, const char *user, const char *mailbox,
    struct store_append *msgs, size_t n, uint32_t *uidvalidity_r);

enum store_flag_op { STORE_FLAGS_SET, STORE_FLAGS_ADD, STORE_FLAGS_DEL };

/* Changes flags/keywords of the given UIDs (missing UIDs are skipped).
 * unchangedsince != 0: messages whose modseq is above it are not changed
 * and their UIDs are returned in failed_r (CONDSTORE); may be NULL. */
int store_flags_update(struct store *st, const char *user, const char *mailbox,
    const uint32_t *uids, size_t nuids, enum store_flag_op op,
    uint32_t flags, const char *const *keywords, size_t nkeywords,
    uint64_t unchangedsince, uint32_t *failed_r, size_t *nfailed_r);

/* Takes \Recent (RFC 3501 2.3.2: a message is recent in exactly one
 * session): clears MSG_RECENT on those of the given UIDs that still have
 * it, in one transaction (read-modify-write under the records' write
 * locks), and writes the UIDs it cleared, the ones the caller now owns,
 * to claimed_r (room for nuids, ascending when uids is), their count to
 * *nclaimed_r. Of two callers racing for a message exactly one gets it.
 * No modseq changes (RFC 7162 3.1) and no change hook: no one else sees
 * a difference. */
int store_recent_claim(struct store *st, const char *user, const char *mailbox,
    const uint32_t *uids, size_t nuids, uint32_t *claimed_r, size_t *nclaimed_r);

/* Copies UIDs into dst; the new UIDs are written to new_uids_r (in the
 * order of uids; 0 for a missing source) and dst's uidvalidity to
 * *dst_uidvalidity_r. Bodies are shared (reference counted). */
int store_copy(struct store *st, const char *user, const char *src,
    const uint32_t *uids, size_t nuids, const char *dst,
    uint32_t *new_uids_r, uint32_t *dst_uidvalidity_r);
/* Same, and removes the sources, in one transaction. dst may be src
 * (RFC 6851 3.3: MOVE is copy + expunge): the messages get new UIDs. */
int store_move(struct store *st, const char *user, const char *src,
    const uint32_t *uids, size_t nuids, const char *dst,
    uint32_t *new_uids_r, uint32_t *dst_uidvalidity_r);
/* Removes the given UIDs (the caller chooses: \Deleted ones, UID EXPUNGE
 * subsets, POP3 DELE). Bodies whose last reference goes are freed. */
int store_expunge(struct store *st, const char *user, const char *mailbox,
    const uint32_t *uids, size_t nuids);

/* Reads up to len bytes of a body from offset into buf; *got_r is the
 * number read (0 at or past the end). Does not load the whole body. */
int store_body_read(struct store *st, uint64_t body_id, uint64_t offset,
    void *buf, size_t len, size_t *got_r);
/* Reads exactly len bytes of a body from offset into buf: STORE_CORRUPT
 * when the body ends before them. */
int store_body_read_exact(struct store *st, uint64_t body_id, uint64_t offset,
    void *buf, size_t len);
/* The whole body, malloc'd (caller frees). */
int store_body_get(struct store *st, uint64_t body_id, char **data_r, size_t *len_r);
/* The cache blob stored at delivery (malloc'd and NUL-terminated, caller
 * frees; 0 bytes if an empty one was stored), or STORE_NOTFOUND when none
 * was: store_body_cache_many of one. */
int store_body_cache(struct store *st, uint64_t body_id, char **data_r, size_t *len_r);
/* The cache blobs of n bodies in one read transaction (SEARCH asks for
 * a batch at a time): data[i] malloc'd (caller frees; not NUL-terminated;
 * non-NULL also for an empty blob) or NULL when body_ids[i] has none. On an error every data[i] is NULL. */
int store_body_cache_many(struct store *st, const uint64_t *body_ids, size_t n,
    char **data, size_t *lens);

/* The full-text index (store-fts.c, mail/fts.h): the UIDs up to last_uid
 * of mailbox mailbox_id that may contain every trigram terms[0..nterms) (ascending,
 * malloc'd into *uids_r: the indexed messages holding them all and the
 * messages not indexed), and *from_r: every UID below it is a candidate
 * too (stored before the index). STORE_NOTFOUND: the index does not cover
 * the mailbox (scan it). */
int store_fts_candidates(struct store *st, uint32_t mailbox_id, uint32_t last_uid,
    const uint32_t *terms, size_t nterms, uint32_t **uids_r, size_t *n_r, uint32_t *from_r);

/* The body's reference count (STORE_NOTFOUND once it is freed). For
 * tests and consistency checks. */
int store_body_refs(struct store *st, uint64_t body_id, uint32_t *refs_r);

/* Bytes and messages the user stores, across all mailboxes. */
int store_quota_usage(struct store *st, const char *user, uint64_t *bytes_r,
    uint64_t *messages_r);

/* ---- the expunge log (src/store/store-expunge.c) ---- */

/* UIDs that left mailbox mailbox_id (struct store_mailbox.id) by expunge
 * or move with a modseq in (since_modseq, upto_modseq], ascending, malloc'd
 * into *uids_r (caller frees; NULL when none). Pass the highestmodseq of
 * an index read as upto_modseq to get exactly what that read no longer
 * shows. Messages removed with their whole mailbox, or by renaming INBOX,
 * are not in the log (QRESYNC VANISHED (EARLIER), IMAP resync). */
int store_expunged_since(struct store *st, uint32_t mailbox_id,
    uint64_t since_modseq, uint64_t upto_modseq, uint32_t **uids_r, size_t *n_r);

/* ---- outbound queue (src/store/store-queue.c) ---- */

/* Mail for remote recipients waits in the queue until the relay engine
 * (src/relay) has handed it on or given up. One entry per (message,
 * destination domain); its body is the message's one body, shared by
 * reference count with the local copies. A recipient is marked done only
 * after the remote server's 250, so a crash at most repeats a delivery. */
#define STORE_QUEUE_REPLY_MAX   512     /* last reply/error kept per recipient */
#define STORE_QUEUE_DOMAIN_MAX  256
#define STORE_QUEUE_RCPTS_MAX   100000  /* per entry (= the largest max_recipients) */

enum store_qstate {
	STORE_Q_PENDING = 0,     /* still to be delivered */
	STORE_Q_DONE,            /* the remote server took it (250) */
	STORE_Q_FAILED,          /* permanent failure or expired; bounced */
};

struct store_qrcpt {
	char address[321];
	int state;               /* enum store_qstate */
	char reply[STORE_QUEUE_REPLY_MAX];  /* last reply or error, "" if none */
};

#define STORE_QF_8BIT      0x01  /* the body has 8-bit bytes (needs 8BITMIME) */
#define STORE_QF_SMTPUTF8  0x02  /* needs SMTPUTF8 (RFC 6531) */
#define STORE_QF_WARNED    0x04  /* the delay warning was sent */

struct store_qentry {
	uint64_t id;
	char sender[321];        /* "" is the null sender <> */
	char domain[STORE_QUEUE_DOMAIN_MAX];  /* destination, lower-case */
	time_t created;
	time_t next_attempt;
	time_t last_attempt;     /* 0: never tried */
	uint32_t attempts;
	uint32_t flags;          /* STORE_QF_* */
	uint64_t body_id;
	uint64_t skip;           /* leading body bytes not sent (our Return-Path:) */
	uint64_t size;           /* bytes sent: body length - skip */
	char error[STORE_QUEUE_REPLY_MAX];    /* last error of the entry */
	char mta[STORE_QUEUE_DOMAIN_MAX];     /* last host talked to, "" if none */
	struct store_qrcpt *rcpts;
	size_t nrcpts;
};

/* What store_deliver_queue() queues beside the local deliveries. */
struct store_qnew {
	const char *sender;      /* "" or NULL: the null sender */
	const char *const *rcpts;   /* remote addresses (local@domain) */
	size_t nrcpts;
	uint32_t flags;          /* STORE_QF_8BIT | STORE_QF_SMTPUTF8 */
	uint64_t skip;           /* see struct store_qentry */
	const char *const *keywords;  /* IMAP keywords of the local copies */
	size_t nkeywords;             /* (Sieve imap4flags), as store_deliver */
	const struct store_qextra *extra;  /* other messages queued in the */
	size_t nextra;                /* same transaction (Sieve reject bounces) */
};

/* A message of its own, queued for one remote recipient in the same
 * transaction as a delivery (struct store_qnew's extra). */
struct store_qextra {
	const void *data;
	size_t len;
	const char *sender;      /* "" or NULL: the null sender */
	const char *rcpt;        /* the remote address */
	uint32_t flags;          /* STORE_QF_8BIT | STORE_QF_SMTPUTF8 */
	uint64_t skip;           /* see struct store_qentry */
};

/* store_deliver() (never all-or-nothing) plus queue entries for q's
 * remote recipients, one per domain, in the same transaction and sharing
 * the one body, and one entry with its own body for each of q's extra
 * messages (stored only when the delivery is: something was delivered or
 * queued). nrcpts may be 0 (remote only). Queue ids are written to
 * qids_r (up to maxqids; may be NULL), their count to *nqids_r. STORE_OK
 * when something was stored: local targets may still carry their own
 * result_r (STORE_QUOTA...). */
int store_deliver_queue(struct store *st, struct store_rcpt *rcpts, size_t nrcpts,
    const void *data, size_t len, time_t internal_date,
    const void *cache, size_t cachelen, const struct store_qnew *q,
    uint64_t *qids_r, size_t maxqids, size_t *nqids_r);

/* One entry with its recipients; free with store_qentry_free. */
int store_queue_get(struct store *st, uint64_t id, struct store_qentry **e_r);
void store_qentry_free(struct store_qentry **e);
/* Every entry in id order (cb's return value != 0 stops the walk). */
typedef int store_queue_cb(void *arg, const struct store_qentry *e);
int store_queue_list(struct store *st, store_queue_cb *cb, void *arg);
/* Cheap walk for the scheduler: only id and next attempt of each entry. */
typedef int store_queue_sched_cb(void *arg, uint64_t id, time_t next_attempt);
int store_queue_schedule(struct store *st, store_queue_sched_cb *cb, void *arg);
/* Writes back the entry's attempt bookkeeping (attempts, times, flags,
 * error, mta, recipient states and replies). An entry with no pending
 * recipient left is removed and its body released. STORE_NOTFOUND when
 * the entry was deleted meanwhile. */
int store_queue_update(struct store *st, const struct store_qentry *e);
/* Removes an entry (minimailctl queue delete): no bounce. */
int store_queue_delete(struct store *st, uint64_t id);
/* Makes the entry (id 0: every entry) due now; *n_r entries changed. */
int store_queue_flush(struct store *st, uint64_t id, time_t now, size_t *n_r);

/* ---- backup and restore (src/store/store-backup.c) ---- */

/* Progress of a long operation: phase ("copying", "recovering", ...),
 * done of total units (bytes for copies). Called from another thread. */
typedef void store_progress_fn(void *arg, const char *phase, uint64_t done,
    uint64_t total);

struct store_backup_stats {
	bool incremental;        /* only log files were copied */
	const char *reason;      /* why a full backup (static text), or NULL */
	uint64_t copied_bytes;
	uint64_t copied_files;
	uint64_t backup_bytes;   /* the backup (or restored data_dir) now */
	unsigned log_last;       /* its last log file number */
	uint64_t msecs;
};

/* A hot backup of the open store into dir while others keep working on
 * it (DB_ENV->backup, then catastrophic recovery of the copy): it holds
 * every transaction committed before it started. A complete earlier
 * backup in dir is brought up to date with the new log files only, unless
 * full or the live store no longer has the log files it needs; a full one
 * is built in dir.partial and then replaces dir. dir must be missing,
 * empty, or an earlier backup (else STORE_EXISTS). fn may be NULL. */
int store_backup(struct store *st, const char *dir, bool full,
    store_progress_fn *fn, void *arg, struct store_backup_stats *stats_r,
    char *err, size_t errlen);
/* Copies a complete backup into data_dir, which must be missing or empty
 * (else STORE_EXISTS), runs catastrophic recovery there and checks that
 * the result opens. */
int store_restore(const char *backup_dir, const char *data_dir,
    store_progress_fn *fn, void *arg, struct store_backup_stats *stats_r,
    char *err, size_t errlen);

/* ---- verify (src/store/store-verify.c) ---- */

/* One problem found, as a line of text. */
typedef void store_problem_fn(void *arg, const char *problem);

struct store_verify_stats {
	uint64_t files, users, mailboxes, messages, bodies;
	uint64_t problems;       /* left after repairs */
	uint64_t repaired;
	uint64_t msecs;
};

/* Checks the store end to end on a consistent snapshot taken into a new
 * directory under tmpdir (removed afterwards; it needs as much room as
 * the store): Berkeley DB's verify of each database, then reference
 * counts, bodies and their chunks, UIDs, modseqs, mailbox counters and
 * quota usage. Each problem goes to fn. With repair, wrong counters and
 * reference counts are fixed in the live store. STORE_OK when the check
 * ran (s->problems says what it found). Safe while the daemon runs. */
int store_verify(struct store *st, const char *tmpdir, bool repair,
    store_problem_fn *fn, void *arg, store_progress_fn *pfn, void *parg,
    struct store_verify_stats *s, char *err, size_t errlen);

/* ---- import (src/store/store-import.c) ---- */

/* Another server's UIDs in mailbox name: uidvalidity != 0 sets its
 * UIDVALIDITY, only while it holds no message and has never held one
 * (else STORE_EXISTS); uidnext raises its UIDNEXT (never lowers it), so
 * that the next delivery gets that UID. */
int store_mailbox_import_uids(struct store *st, const char *user, const char *name,
    uint32_t uidvalidity, uint32_t uidnext);
/* ---- Sieve scripts (src/store/store-sieve.c) ---- */

/* Each user has named scripts, at most one of them active (run at
 * delivery), and vacation records (one reply per sender and handle per
 * period). Scripts are bytes here: compiling them is the caller's. */
#define STORE_SIEVE_NAME_MAX     128     /* bytes of a script name */
#define STORE_SIEVE_SCRIPTS_MAX  64      /* per user; one more is STORE_LIMIT */

/* A name: 1..STORE_SIEVE_NAME_MAX bytes, no control character or '/'. */
bool store_sieve_name_valid(const char *name);
/* Creates or replaces a script (STORE_NOTFOUND: no such user). */
int store_sieve_put(struct store *st, const char *user, const char *name,
    const char *text, size_t len);
/* The script's text, malloc'd and NUL-terminated (caller frees). */
int store_sieve_get(struct store *st, const char *user, const char *name,
    char **text_r, size_t *len_r);
/* STORE_DENIED for the active script (RFC 5804 2.10). */
int store_sieve_del(struct store *st, const char *user, const char *name);
/* STORE_EXISTS when to exists; the active script stays active. */
int store_sieve_rename(struct store *st, const char *user, const char *from,
    const char *to);
/* Makes name the active script; NULL or "" deactivates. */
int store_sieve_activate(struct store *st, const char *user, const char *name);
/* Every script of the user by name; cb's non-zero return stops. */
typedef int store_sieve_cb(void *arg, const char *name, bool active);
int store_sieve_list(struct store *st, const char *user, store_sieve_cb *cb, void *arg);
/* The active script (name and text malloc'd, text NUL-terminated; name_r
 * may be NULL), or STORE_NOTFOUND when none is active. Cached (the
 * answer, for SIEVE_ACTIVE_CACHE_TTL_MSECS at most, and only until the
 * next change of any user's scripts by any process: store-sieve.c), so a
 * delivery seldom needs a transaction for it. */
int store_sieve_active(struct store *st, const char *user, char **name_r,
    char **text_r, size_t *len_r);
/* Hits and misses of that cache (for tests). */
void store_sieve_cache_stats(struct store *st, uint64_t *hits_r, uint64_t *misses_r);
/* The generation of every user's scripts (data_dir/sieve-generation):
 * moved before and after any change of any script by any process, so
 * whatever was read of the scripts since a value was read is still what
 * the store has while the value stays. false: not known (the counter
 * could not be mapped). */
bool store_sieve_generation(struct store *st, uint64_t *gen_r);
/* Vacation (RFC 5230 4.2): *send_r is true, and now is recorded, when no
 * reply for (user, handle, sender) was recorded within seconds of now. */
int store_sieve_vacation(struct store *st, const char *user, const char *handle,
    const char *sender, time_t now, unsigned long seconds, bool *send_r);
/* ---- URLAUTH mailbox access keys (RFC 4467 7), store-urlauth.c ---- */

#define STORE_URLAUTH_KEY_BYTES 32
/* The mailbox's key into key_r. Without one: with fresh (random bytes of
 * STORE_URLAUTH_KEY_BYTES) stores and returns that, else STORE_NOTFOUND. */
int store_urlauth_key(struct store *st, uint32_t mailbox_id, const unsigned char *fresh,
    unsigned char key_r[STORE_URLAUTH_KEY_BYTES]);
/* Forgets the mailbox's key (RESETKEY): the URLs signed with it fail. */
int store_urlauth_reset(struct store *st, uint32_t mailbox_id);

#endif
