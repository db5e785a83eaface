/* imap-common.h: what the IMAP session (imap-session.c), the selected
 * mailbox view (imap-sync.c) and the command files (cmd-*.c) share.
 * Internal to src/imap.
 *
 * A command function gets the parsed arguments (valid only during the
 * call: copy what a job needs), and either answers at once with
 * imap_ok/imap_no/imap_bad, which ends the command, or starts one conn job
 * whose done function answers later. One command runs at a time. */
#ifndef MM_IMAP_COMMON_H
#define MM_IMAP_COMMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "imap/imap-parser.h"
#include "lib/limits.h"
#include "lib/sasl-session.h"
#include "lib/util.h"
#include "net/notify.h"
#include "net/worker.h"
#include "store/store.h"

struct conn;
struct imap_notify;
struct mm_server;
struct notify_watch;
struct imap_snap;
struct imap_delta;
struct imap_group;

enum imap_state {
	IMAP_STATE_NOT_AUTH = 0,
	IMAP_STATE_AUTH,
	IMAP_STATE_SELECTED,
	IMAP_STATE_LOGOUT,
};
#define IMAP_S_NOT_AUTH  (1u << IMAP_STATE_NOT_AUTH)
#define IMAP_S_AUTH      (1u << IMAP_STATE_AUTH)
#define IMAP_S_SELECTED  (1u << IMAP_STATE_SELECTED)
#define IMAP_S_ANY       (IMAP_S_NOT_AUTH | IMAP_S_AUTH | IMAP_S_SELECTED)
#define IMAP_S_AUTHED    (IMAP_S_AUTH | IMAP_S_SELECTED)

/* What the next input line is. */
enum imap_input {
	IMAP_INPUT_COMMAND = 0,
	IMAP_INPUT_SASL,          /* AUTHENTICATE: a client response line */
	IMAP_INPUT_IDLE,          /* IDLE: waiting for DONE */
};

/* One message as this session has told the client about it. */
struct imap_msg {
	uint32_t uid;
	uint32_t flags;           /* MSG_* except MSG_RECENT */
	uint64_t keywords;
	uint64_t size;
	time_t idate;
	uint64_t body_id;
	uint64_t modseq;
	bool recent;              /* \Recent in this session */
	bool expunged;            /* gone from the store, EXPUNGE not yet sent */
	bool report;              /* send its FLAGS at the next sync */
};

struct imap_session;
typedef void imap_cmd_fn(struct imap_session *s, const struct imap_arg *args,
    size_t nargs);

#define IMAP_CMD_UID       0x1   /* has a UID form */
#define IMAP_CMD_NOEXPUNGE 0x2   /* no EXPUNGE responses (FETCH, STORE, SEARCH) */
#define IMAP_CMD_NOARGS    0x4   /* takes no arguments: the dispatcher says BAD */

struct imap_cmd {
	const char *name;
	imap_cmd_fn *fn;
	unsigned states;          /* IMAP_S_* where it is valid */
	unsigned flags;
};

struct imap_session {
	struct conn *c;
	struct mm_server *srv;
	enum imap_state state;
	uint64_t cmd_start_us;    /* metrics: command to tagged reply */
	uint64_t lit_held;        /* [limits] max_memory reserved for the
	                             literals of the command being read */
	/* APPEND literals over MSG_SPOOL_THRESHOLD_BYTES (imap-spool.c) */
	struct mm_buf spool_buf;  /* the chunk not written yet */
	int spool_fd;             /* the literal being read; -1 before its first write */
	uint64_t spool_off;       /* its bytes written */
	uint64_t spool_mem;       /* [limits] max_memory held for spool_buf */
	unsigned spool_gen;       /* a write done after a reset is dropped */
	bool spool_pending;       /* a write in flight */
	bool spool_failed;        /* a write failed: the literal is dropped */
	int *spool_fds;           /* the command's spooled literals, in order */
	size_t nspool;
	enum imap_input input;
	struct imap_parser *parser;
	unsigned bad_cmds;
	bool busy;                /* a command is in progress */
	bool tls_pending;         /* STARTTLS answered, handshake running */

	/* the command in progress */
	char *tag;
	const struct imap_cmd *cmd;
	bool uid;                 /* "UID " prefix */

	/* authentication */
	char *user;               /* the canonical name once logged in; NULL before */
	struct sasl_session *sasl;  /* AUTHENTICATE: the shared step machine,
	                               only while an exchange waits for a line */

	/* ENABLE */
	bool enabled_utf8;
	bool condstore;           /* RFC 7162: MODSEQ in FETCH responses */
	bool qresync;             /* RFC 7162: VANISHED instead of EXPUNGE */
	bool rev2;                /* RFC 9051: ENABLE IMAP4rev2; test with imap_rev2() */
	bool uidonly;             /* RFC 9586: no sequence numbers either way */

	/* the selected mailbox */
	char *mbox;                       /* UTF-8 store name; NULL unless selected */
	uint32_t mbox_id;
	bool readonly;
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint32_t last_uid;                /* highest UID the client knows */
	uint64_t modseq;                  /* the store's highestmodseq the view reflects */
	struct imap_msg *msgs;            /* sequence number i+1 */
	size_t nmsgs, capmsgs;
	/* imap-sync.c: messages of the view marked expunged (exact) and
	 * marked to report (at least; 0: none), and the first of the latter
	 * (their view indexes; more than IMAP_REPORT_AT: a walk), so that a
	 * sync after a command costs what changed, not a walk over the view */
	size_t nexpunged, nreport;
#define IMAP_REPORT_AT 8
	uint32_t report_at[IMAP_REPORT_AT];
	size_t nrecent;
	char **keywords;                  /* the mailbox's keyword table */
	size_t nkeywords;
	/* imap-view.c: msgs is either the session's own copy (snap NULL) or
	 * points into the shared, read-only snapshot snap, \Recent then in
	 * recent_uids (ascending) */
	struct imap_snap *snap;
	uint32_t *recent_uids;
	size_t nrecent_uids;
	struct imap_group *group;         /* the sessions with this mailbox selected */
	struct imap_session *gnext, *gprev;
	void (*sync_parked)(struct imap_session *s);  /* imap_sync_command waiting for it */
	uint64_t wait_seq;                /* the group's refresh it waits for (imap-view.c) */
	bool dirty;                       /* the hub said the mailbox changed */
	bool idle_sync_running;

	struct imap_fetch *fetch;         /* a FETCH between batches */
	struct imap_pace *pace;           /* a LIST/SEARCH answer between pieces */
	struct imap_batch *batch;         /* an answer between batches (imap_run_batched) */

	/* SEARCHRES (RFC 5182): the saved result "$", UIDs ascending */
	uint32_t *searchres;
	size_t nsearchres;
	/* CONTEXT=SEARCH (RFC 5267): SEARCH RETURN (UPDATE) results kept live */
	struct imap_search_ctx *sctx;     /* a list, cmd-search.c */
	size_t nsctx;

	struct imap_notify *notify;       /* NOTIFY (RFC 5465): cmd-notify.c */
	bool server_cmd;                  /* a command no client sent (NOTIFY's
	                                     MessageNew fetch-att): no tagged reply */
};

/* ---- imap-session.c ---- */

/* Has the client switched this session to IMAP4rev2 (RFC 9051 6.3.1,
 * ENABLE IMAP4rev2)? Every rev2 difference tests this, so that a session
 * that never enables it behaves as IMAP4rev1, byte for byte. */
bool imap_rev2(const struct imap_session *s);

/* Are mailbox names on the wire UTF-8 (RFC 9051 5.1, and RFC 6855 3 once
 * UTF8=ACCEPT is enabled) rather than modified UTF-7? The one hook the
 * name conversions (imap_append_mailbox, imap_mailbox_arg_reply, LIST
 * patterns) ask. */
bool imap_utf8_names(const struct imap_session *s);

/* Output. imap_printf adds nothing; the rest add CRLF. */
void imap_printf(struct imap_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void imap_write(struct imap_session *s, const void *data, size_t len);
/* A large answer (LIST, SEARCH): writes b (taken over, left empty) in
 * pieces that never lift the output above CONN_OUTPUT_HIGH_BYTES, each
 * (the last too) only once the output has drained to the low watermark,
 * input paused meanwhile; then then(s, arg, true) continues the command.
 * If the session goes away first, then(s, arg, false) only frees arg. */
typedef void imap_paced_fn(struct imap_session *s, void *arg, bool alive);
void imap_write_paced(struct imap_session *s, struct mm_buf *b, imap_paced_fn *then, void *arg);
/* A large answer produced in batches (LIST, SEARCH; like FETCH): work
 * runs as a conn job on lane and appends one bounded batch to out (at
 * most IMAP_BATCH_BYTES and a bounded number of items; it may append
 * nothing, a SEARCH batch that only evaluated messages), returning true
 * while more is to come. The loop writes each batch only once the output
 * is at CONN_OUTPUT_LOW_BYTES or below, and asks for the next only then,
 * input paused while it waits; so the answer is never held whole. After
 * the last batch, then(s, arg, true) continues the command; if the
 * session goes away first, then(s, arg, false) only frees arg. work may
 * read the session, which the loop leaves alone while a job runs, but
 * keeps what lasts from one batch to the next in arg. */
#define IMAP_BATCH_BYTES (128 * 1024)
typedef bool imap_batch_fn(struct imap_session *s, void *arg, struct mm_buf *out);
void imap_run_batched(struct imap_session *s, enum worker_lane lane, imap_batch_fn *work,
    imap_paced_fn *then, void *arg);
void imap_untagged(struct imap_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Tagged replies: the command is over. */
void imap_ok(struct imap_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void imap_no(struct imap_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void imap_bad(struct imap_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "NO [code] text" for a store error. */
void imap_no_store(struct imap_session *s, int err, const char *what);
/* Ends the command without a reply (the caller wrote it). */
void imap_cmd_done(struct imap_session *s);

void imap_enter_state(struct imap_session *s, enum imap_state st);
/* The selected mailbox's name becomes a copy of name (NULL: none). */
void imap_set_mbox(struct imap_session *s, const char *name);
/* "* BYE text", then close. */
void imap_bye(struct imap_session *s, const char *text);
/* The CAPABILITY list for the current state, without "* CAPABILITY ". */
void imap_capability_string(struct imap_session *s, struct mm_buf *b);
bool imap_plaintext_ok(struct imap_session *s);
/* UIDONLY (RFC 9586): the start of an untagged FETCH response for view
 * index vi, "* n FETCH (" or, with UIDONLY, "* uid UIDFETCH (". */
void imap_append_fetch_open(struct imap_session *s, struct mm_buf *b, size_t vi);
/* The same at p, which has IMAP_FETCH_OPEN_MAX_BYTES of room; returns
 * the end. */
#define IMAP_FETCH_OPEN_MAX_BYTES (2 + MM_U64_DIGITS_MAX + 11)
char *imap_put_fetch_open(const struct imap_session *s, char *p, size_t vi);
/* With UIDONLY, a command that takes sequence numbers answers
 * "BAD [UIDREQUIRED]" (RFC 9586 3): true when it did. */
bool imap_uid_required(struct imap_session *s);
/* Turns CONDSTORE on (ENABLE, or a CONDSTORE-enabling command). */
void imap_condstore_enable(struct imap_session *s);
struct store *imap_store(struct imap_session *s);
uint64_t imap_append_limit(struct imap_session *s);
/* Starts a conn job for the current command. */
/* imap-spool.c: the parser's literal sink, writing an APPEND literal to
 * data_dir/spool on a worker in MSG_SPOOL_CHUNK_BYTES pieces (the input
 * pauses meanwhile). */
void imap_spool_init(struct imap_session *s);
size_t imap_spool_sink(void *ctx, const char *data, size_t n, bool last);
/* A synchronizing literal announced for the sink: its buffer's share of
 * [limits] max_memory; false when the budget has no room. */
bool imap_spool_reserve(struct imap_session *s);
/* The command is over (or dropped, or the session ends): every spool
 * file not taken is closed. */
void imap_spool_reset(struct imap_session *s);
/* The fd of the command's idx-th spooled literal, now the caller's; -1
 * when its writing failed. */
int imap_spool_take(struct imap_session *s, unsigned idx);
void imap_run_job(struct imap_session *s, enum worker_lane lane,
    void (*work)(void *arg), void (*done)(void *arg, bool alive), void *arg);

/* Strings on the wire: atom when possible, else quoted, else literal. */
void imap_append_astring(struct mm_buf *b, const char *s, size_t len);
/* A mailbox name (UTF-8 store name) as an astring in modified UTF-7. */
void imap_append_mailbox(struct imap_session *s, struct mm_buf *b, const char *name);
/* Mailbox argument (modified UTF-7 astring) to a UTF-8 store name in
 * out (STORE_MBOX_NAME_MAX). "inbox" in any case becomes "INBOX"; a
 * trailing '/' is removed. False on bad syntax. */
bool imap_mailbox_arg(const struct imap_arg *a, char *out, size_t outlen);
/* The same, answering the command when it fails: BAD when the argument
 * is no astring (a list, a NUL byte), NO [CANNOT] when it is one but no
 * valid name (invalid modified UTF-7 or UTF-8, empty, "//", too long):
 * RFC 3501 6.3.3 / 9051 6.3.4 make a bad name a NO, not a syntax error. */
bool imap_mailbox_arg_reply(struct imap_session *s, const struct imap_arg *a,
    char *out, size_t outlen);

/* Flag lists. */
void imap_append_flags(struct imap_session *s, struct mm_buf *b, const struct imap_msg *m);
/* The same at p, which has imap_flags_max(s) bytes of room (the longest
 * list with this session's keywords); returns the end. For FETCH lines by
 * thousands, formatted into room reserved once. */
size_t imap_flags_max(const struct imap_session *s);
char *imap_put_flags(const struct imap_session *s, char *p, const struct imap_msg *m);
void imap_append_flag_names(struct imap_session *s, struct mm_buf *b, bool permanent);
/* The "* FLAGS" and "* OK [PERMANENTFLAGS]" untagged responses, CRLFs
 * included: after SELECT, and when the keyword list grows. */
void imap_append_flags_responses(struct imap_session *s, struct mm_buf *b);
/* Parses a flag list (or one flag atom): system flags into *flags_r,
 * keywords into kw (names as given). False with a BAD message set. */
bool imap_parse_flags(const struct imap_arg *a, size_t n, uint32_t *flags_r,
    struct mm_strlist *kw, const char **err_r);

/* ---- imap-sync.c: the selected mailbox view ---- */

struct imap_sync {
	bool want;                /* read the index in the job */
	bool claim_recent;
	bool full;                /* idx is the whole index, not the changes */
	uint64_t since;           /* the view's modseq when the job started */
	struct store_index *idx;
	uint32_t *vanished;       /* UIDs expunged since (ascending) */
	size_t nvanished;
	int err;
	struct imap_search_upd *upd;  /* the update contexts judged on the worker */
	/* imap-view.c: the group's delta taken instead of a read (idx and
	 * vanished then point into it) and the snapshot it leads to */
	struct imap_delta *delta;
	struct imap_snap *snap;
	const uint32_t *claimed;  /* \Recent the refresh took for this session */
	size_t nclaimed;
	bool wait;                /* wait for the group's refresh, then sync */
};

/* Loop, before the job: decides whether the index must be read. */
void imap_sync_prepare(struct imap_session *s, struct imap_sync *sy, bool force);
/* Worker: reads the index, claims \Recent. */
void imap_sync_work(struct imap_session *s, struct imap_sync *sy);
/* Loop, after the job: sends EXPUNGE (if allowed), FETCH FLAGS, EXISTS,
 * RECENT, FLAGS for what changed; frees the index. False when the
 * mailbox is gone (the session then says BYE). */
bool imap_sync_finish(struct imap_session *s, struct imap_sync *sy, bool allow_expunge);
void imap_sync_free(struct imap_sync *sy);
/* Worker: takes \Recent for the messages of idx above after_uid that
 * have it (store_recent_claim: atomic, so exactly one session gets each)
 * and clears MSG_RECENT in idx on those another session took first. */
void imap_recent_claim(struct imap_session *s, const char *mbox,
    struct store_index *idx, uint32_t after_uid);
/* SELECT: take the index as the new view. */
void imap_view_load(struct imap_session *s, struct store_index *idx);
void imap_view_clear(struct imap_session *s);
/* The view index of uid, or (size_t)-1. */
/* m from the store's message, \Recent included (imap-sync.c). */
void imap_msg_from_store(struct imap_msg *m, const struct store_msg *sm);
size_t imap_view_find(struct imap_session *s, uint32_t uid);
/* Index of uid in n messages in UID order (a view, a snapshot), or
 * (size_t)-1. */
size_t imap_msgs_find(const struct imap_msg *msgs, size_t n, uint32_t uid);
/* "1:3,7" for ascending UIDs. */
void imap_append_uid_set(struct mm_buf *b, const uint32_t *uids, size_t n);
/* The command's sequence set (or UID set for UID commands) to view
 * indexes (sorted, unique). Returns false for a bad set (BAD); sequence
 * numbers above EXISTS are an error, UIDs are not. */
bool imap_view_resolve(struct imap_session *s, const char *set, bool uid,
    size_t **idx_r, size_t *n_r);
/* A sync as a command of its own: NOOP, CHECK, IDLE wake-ups. */
void imap_sync_command(struct imap_session *s, void (*then)(struct imap_session *s));
/* May this command's responses include EXPUNGE (RFC 3501 7.4.1)? */
bool imap_expunge_allowed(struct imap_session *s);
/* The session's group watches the mailbox (imap-view.c). */
void imap_watch(struct imap_session *s);
/* Loop: the mailbox changed, or the group has a new snapshot: the
 * session is dirty; in IDLE it syncs (through conn_notify). */
void imap_sync_notify(struct imap_session *s);
/* Takes the keyword table kw; sends FLAGS and PERMANENTFLAGS when it
 * differs from the view's. */
void imap_view_keywords(struct imap_session *s, char *const *kw, size_t n);
/* Marks m (in s's own view) to have its flags told at the next sync. */
void imap_view_mark_report(struct imap_session *s, struct imap_msg *m);

/* ---- imap-view.c: one shared view per mailbox ---- */

/* Is message m \Recent in this session (its own copy, or recent_uids)? */
bool imap_msg_recent(const struct imap_session *s, const struct imap_msg *m);
/* SELECT: joins the mailbox's group and shares its snapshot if it is
 * what idx is (else the caller loads a private copy: false). */
bool imap_view_join(struct imap_session *s, const struct store_index *idx);
/* Leaves the group, drops the share (imap_view_clear). */
void imap_view_leave(struct imap_session *s);
/* Before writing s->msgs: a shared view becomes a private copy. */
void imap_view_own(struct imap_session *s);
/* A private copy equal to the group's snapshot shares it again (IDLE). */
void imap_view_share(struct imap_session *s);
/* The search records kept in memory for the session's mailbox (created
 * empty on first use; imap-searchmem.h), a reference; NULL without a group. */
struct imap_searchmem;
struct imap_searchmem *imap_view_searchmem(struct imap_session *s);
/* Loop: is uid still a message of the mailbox after every change the
 * hub has told of? True when the group's snapshot has it and the changes
 * not yet in that snapshot (being read by a refresh, or told since it
 * started; group_notify_cb starts one at once, before the members hear
 * of it) are flag changes only, as the hub's post says; false when
 * unknown. A message body never changes, so FETCH may serve a cached
 * body of such a message while the session has flag changes to take. */
bool imap_view_current(const struct imap_session *s, uint32_t uid);
/* True while the group reads a change and the view has nothing newer to
 * take: an IDLE session then waits instead of reading for itself. */
bool imap_view_wait(const struct imap_session *s);
/* imap_sync_prepare: takes the group's delta when it starts where the view
 * is (or nothing when the view is the group's snapshot); false: read.
 * may_wait: the caller can park the sync until the group's refresh is
 * published (sy->wait; imap_sync_command), which it is then asked for
 * when a refresh of flag changes runs that the view is where it starts. */
bool imap_view_prepare(struct imap_session *s, struct imap_sync *sy, bool may_wait);
/* imap_sync_finish, shared view: tells the client the delta and moves to
 * its snapshot; false when it cannot (then: imap_view_own, apply). */
bool imap_view_advance(struct imap_session *s, struct imap_sync *sy, bool allow_expunge);
/* Drops what a sync borrowed from the group. */
void imap_view_sync_release(struct imap_sync *sy);

/* ---- imap-url.c: IMAP URLs of the user's own messages (RFC 5092) ---- */

/* Worker: appends the bytes u names in mailbox mbox (its UTF-8 store
 * name) to out; STORE_NOTFOUND when its mailbox, UIDVALIDITY, UID or
 * section is not there. */
int imap_url_fetch(struct imap_session *s, const char *mbox, const struct imap_url *u,
    struct mm_buf *out);
/* The same in another user's mailbox (URLFETCH, RFC 4467). */
int imap_url_fetch_user(struct store *st, const char *user, const char *mbox,
    const struct imap_url *u, struct mm_buf *out);
/* URLFETCH with RFC 5524 options: IMAP_URL_BINARY decodes the named
 * part (and the leaves below it; undecodable: *undecodable_r, out
 * empty), IMAP_URL_BPS puts its BODYPARTSTRUCTURE into bps (of the
 * decoded form with BINARY); STORE_NOTFOUND when the URL names no
 * body part (HEADER, TEXT...) and a structure was asked for. */
#define IMAP_URL_BINARY 0x1
#define IMAP_URL_BPS    0x2
int imap_url_fetch_opts(struct store *st, const char *user, const char *mbox,
    const struct imap_url *u, unsigned opts, struct mm_buf *out, struct mm_buf *bps,
    bool *undecodable_r);

/* ---- command files ---- */

/* cmd-auth.c */
void cmd_capability(struct imap_session *, const struct imap_arg *, size_t);
void cmd_noop(struct imap_session *, const struct imap_arg *, size_t);
void cmd_logout(struct imap_session *, const struct imap_arg *, size_t);
void cmd_starttls(struct imap_session *, const struct imap_arg *, size_t);
void cmd_login(struct imap_session *, const struct imap_arg *, size_t);
void cmd_authenticate(struct imap_session *, const struct imap_arg *, size_t);
void cmd_id(struct imap_session *, const struct imap_arg *, size_t);
void cmd_enable(struct imap_session *, const struct imap_arg *, size_t);
void cmd_namespace(struct imap_session *, const struct imap_arg *, size_t);
void cmd_compress(struct imap_session *, const struct imap_arg *, size_t);
void imap_sasl_line(struct imap_session *s, const char *line, size_t len);
/* Ends an AUTHENTICATE exchange without a callback (the session goes). */
void imap_sasl_free(struct imap_session *s);

/* cmd-mailbox.c */
void cmd_list(struct imap_session *, const struct imap_arg *, size_t);
void cmd_lsub(struct imap_session *, const struct imap_arg *, size_t);
void cmd_create(struct imap_session *, const struct imap_arg *, size_t);
void cmd_delete(struct imap_session *, const struct imap_arg *, size_t);
void cmd_rename(struct imap_session *, const struct imap_arg *, size_t);
void cmd_subscribe(struct imap_session *, const struct imap_arg *, size_t);
void cmd_unsubscribe(struct imap_session *, const struct imap_arg *, size_t);
void cmd_status(struct imap_session *, const struct imap_arg *, size_t);

/* cmd-select.c */
void cmd_select(struct imap_session *, const struct imap_arg *, size_t);
void cmd_examine(struct imap_session *, const struct imap_arg *, size_t);
void cmd_close(struct imap_session *, const struct imap_arg *, size_t);
void cmd_unselect(struct imap_session *, const struct imap_arg *, size_t);
void cmd_check(struct imap_session *, const struct imap_arg *, size_t);
void cmd_expunge(struct imap_session *, const struct imap_arg *, size_t);
void cmd_idle(struct imap_session *, const struct imap_arg *, size_t);
void imap_idle_line(struct imap_session *s, const char *line, size_t len);
void imap_idle_wake(struct imap_session *s);

/* cmd-append.c */
void cmd_append(struct imap_session *, const struct imap_arg *, size_t);

/* cmd-fetch.c */
void cmd_fetch(struct imap_session *, const struct imap_arg *, size_t);
void imap_fetch_drained(struct imap_session *s);
void imap_fetch_free(struct imap_session *s);

/* cmd-store.c */
void cmd_store(struct imap_session *, const struct imap_arg *, size_t);
void cmd_copy(struct imap_session *, const struct imap_arg *, size_t);
void cmd_move(struct imap_session *, const struct imap_arg *, size_t);

/* cmd-search.c */
void cmd_search(struct imap_session *, const struct imap_arg *, size_t);
/* Forgets the saved result "$" and the update contexts (SELECT,
 * EXAMINE, leaving the mailbox). */
void imap_search_state_clear(struct imap_session *s);
void cmd_cancelupdate(struct imap_session *, const struct imap_arg *, size_t);
/* CONTEXT=SEARCH updates, called by imap-sync.c: on the worker after the
 * index was read (which changed messages match each context), then on
 * the loop before the view takes the changes (REMOVEFROM, ADDTO for
 * known messages, with the sequence numbers the client still has) and
 * after (ADDTO for new ones, after EXISTS). */
void imap_search_update_work(struct imap_session *s, struct imap_sync *sy);
void imap_search_update_notify(struct imap_session *s, struct imap_sync *sy, bool after);
void imap_search_update_free(struct imap_sync *sy);

/* cmd-sort.c, cmd-thread.c */
void cmd_sort(struct imap_session *, const struct imap_arg *, size_t);
void cmd_thread(struct imap_session *, const struct imap_arg *, size_t);

/* cmd-quota.c */
void cmd_getquota(struct imap_session *, const struct imap_arg *, size_t);
void cmd_getquotaroot(struct imap_session *, const struct imap_arg *, size_t);
void cmd_setquota(struct imap_session *, const struct imap_arg *, size_t);

/* cmd-notify.c: NOTIFY (RFC 5465) */
void cmd_notify(struct imap_session *, const struct imap_arg *, size_t);
void imap_notify_free(struct imap_session *s);
/* Something may be waiting: flush it at the next loop turn if no command
 * runs (or IDLE does). The hub's watches and the command's end call it. */
void imap_notify_kick(struct imap_session *s);
/* A command ended (imap_cmd_done). */
void imap_notify_boundary(struct imap_session *s);
/* SELECT loaded a view: MessageNew's fetch-att counts from here. */
void imap_notify_view_loaded(struct imap_session *s);
/* NOTIFY SET (selected-delayed ...): EXPUNGE only in a command's reply. */
bool imap_notify_expunge_delayed(struct imap_session *s);
/* A mailbox list change this session made (loop, after the commit): the
 * user's other NOTIFY sessions get their LIST response. */
void imap_notify_post_mbox(struct imap_session *s, enum notify_name_kind kind,
    const char *name, const char *oldname);

/* cmd-urlauth.c */
void cmd_genurlauth(struct imap_session *, const struct imap_arg *, size_t);
void cmd_urlfetch(struct imap_session *, const struct imap_arg *, size_t);
void cmd_resetkey(struct imap_session *, const struct imap_arg *, size_t);

#endif
