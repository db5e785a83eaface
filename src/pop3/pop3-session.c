/* pop3-session.c: the POP3 protocol module (RFC 1939, 2449, 2595, 3206,
 * 5034): one session per connection, in AUTHORIZATION, SASL (an AUTH
 * exchange waiting for the client's next line), TRANSACTION or UPDATE;
 * pop3_enter_state() is the only place the state changes.
 *
 * The idea to keep in mind when changing it: the loop never touches the
 * store. Login (server_auth, then store_index_read of INBOX), every RETR/
 * TOP chunk and the QUIT expunge run as conn jobs; while one runs, input
 * is paused, so pipelined commands are answered strictly in order. A RETR
 * streams: a job reads 64 KiB with store_body_read and byte-stuffs it on
 * the worker, the loop writes it, and the next job starts only once the
 * output has drained below the low watermark, so a 20 MB message never
 * sits in memory. When a RETR's answer is complete, one more job reads
 * ahead the next message in the maildrop while the client reads, if it
 * fits in one chunk, so the RETR that usually follows is answered on the
 * loop at once: a RETR loop without pipelining costs no worker round trip
 * per message. Only whole messages are read ahead, so an answer never
 * starts from the read-ahead and then fails half-way (an expunge by IMAP
 * in between); one is held, until the next RETR or TOP (a DELE in between
 * keeps it). The maildrop is the INBOX index as read at login; DELE
 * only marks, QUIT in TRANSACTION expunges the marked UIDs in one store
 * call, and a connection that goes away any other way deletes nothing.
 * One POP3 session per user holds the maildrop (an in-process table on
 * the loop thread); a second gets [IN-USE]. */
#include "pop3/pop3-parse.h"
#include "pop3/pop3-stuff.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/config.h"
#include "lib/limits.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/sasl-session.h"
#include "lib/util.h"
#include "net/conn.h"
#include "net/proto.h"
#include "net/server.h"
#include "net/session.h"
#include "store/store.h"

#define POP3_CHUNK_BYTES     (64 * 1024)   /* one store_body_read per job */
#define POP3_DROP_BUCKETS    256

#define GREETING             "+OK minimaild POP3 ready\r\n"
#define ERR_PLAINTEXT        "-ERR [AUTH] Plaintext authentication disallowed, use STLS\r\n"

enum pop3_state {
	POP3_STATE_AUTHORIZATION = 0,
	POP3_STATE_SASL,          /* AUTH: waiting for a response line */
	POP3_STATE_TRANSACTION,
	POP3_STATE_UPDATE,
};

static const char *const state_names[] = {
	"AUTHORIZATION", "SASL", "TRANSACTION", "UPDATE"
};

struct pop3_msg {
	uint32_t uid;
	bool deleted;
	uint64_t size;
	uint64_t body_id;
};

/* One RETR/TOP in progress. The worker fills out; the loop writes it. */
struct pop3_xfer {
	struct store *st;
	uint32_t msgno;
	uint64_t body_id;
	uint64_t size;
	uint64_t offset;
	struct pop3_stuff stuff;
	char *chunk;
	struct mm_buf out;
	int err;
	bool eof;
	bool started;             /* "+OK" sent */
};

struct pop3_session {
	struct conn *c;
	struct mm_server *srv;
	enum pop3_state state;
	uint64_t cmd_start_us;    /* metrics: command to status reply */
	unsigned bad_cmds;
	bool tls_pending;         /* STLS answered, handshake not done */
	bool paused;              /* waiting for output to drain */

	/* AUTHORIZATION */
	char user[ADDRESS_MAX_BYTES + 1];      /* from USER */
	bool have_user;
	struct sasl_session sasl;              /* AUTH: the shared step machine */

	/* TRANSACTION */
	char canon[ADDRESS_MAX_BYTES + 1];     /* the logged-in user */
	bool holds_drop;
	uint32_t uidvalidity;
	struct pop3_msg *msgs;
	size_t nmsgs;
	size_t ndeleted;
	uint64_t total_bytes;
	uint64_t deleted_bytes;

	/* job state (one job at a time) */
	struct store *job_st;
	struct store_index *job_idx;
	uint32_t *job_uids;
	size_t job_nuids;
	int job_err;
	struct pop3_xfer *xfer;
	struct pop3_xfer *ahead;  /* the next message, read ahead whole */
};

static void pop3_on_input(void *arg);

/* ---- the maildrop lock table (loop thread only) ---- */

struct drop_lock {
	struct drop_lock *next;
	char user[ADDRESS_MAX_BYTES + 1];
};

static struct drop_lock *drop_table[POP3_DROP_BUCKETS];

static unsigned
drop_hash(const char *user)
{
	return mm_fnv1a(MM_FNV_BASIS, user) % POP3_DROP_BUCKETS;
}

static bool
drop_acquire(const char *user)
{
	unsigned b = drop_hash(user);
	for (struct drop_lock *l = drop_table[b]; l; l = l->next)
		if (strcmp(l->user, user) == 0)
			return false;
	struct drop_lock *l = xcalloc(1, sizeof(*l));
	mm_strlcpy(l->user, user, sizeof(l->user));
	l->next = drop_table[b];
	drop_table[b] = l;
	return true;
}

static void
drop_release(const char *user)
{
	for (struct drop_lock **lp = &drop_table[drop_hash(user)]; *lp; lp = &(*lp)->next) {
		if (strcmp((*lp)->user, user) == 0) {
			struct drop_lock *l = *lp;
			*lp = l->next;
			free(l);
			return;
		}
	}
}

/* ---- helpers ---- */

static void
pop3_enter_state(struct pop3_session *s, enum pop3_state st)
{
	log_debug("pop3 conn=%llx state=%s->%s", (unsigned long long)conn_id(s->c),
	    state_names[s->state], state_names[st]);
	s->state = st;
}

static void
reply(struct pop3_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
reply(struct pop3_session *s, const char *fmt, ...)
{
	va_list ap;
	if (s->cmd_start_us != 0)
		metrics_observe(MH_CMD_POP3, metrics_now_us() - s->cmd_start_us);
	s->cmd_start_us = 0;
	va_start(ap, fmt);
	conn_vprintf(s->c, fmt, ap);
	va_end(ap);
	conn_write(s->c, "\r\n", 2);
}

/* A client mistake: answered, counted, and too many close the session. */
static void
bad_command(struct pop3_session *s, const char *why)
{
	reply(s, "-ERR %s", why);
	if (session_bad_command(&s->bad_cmds)) {
		log_info("pop3 conn=%llx event=too-many-bad-commands", (unsigned long long)conn_id(s->c));
		conn_puts(s->c, "-ERR Too many invalid commands, closing connection\r\n");
		conn_close(s->c);
	}
}

static bool
plaintext_ok(struct pop3_session *s)
{
	return server_plaintext_auth_ok(s->c);
}

static bool
stls_offered(struct pop3_session *s)
{
	return !conn_is_tls(s->c) && server_tls_available(s->srv);
}

/* The UIDL of a message: unique and stable across sessions and restarts,
 * as long as the store keeps UIDVALIDITY (RFC 1939 7: 1..70 characters
 * in 0x21..0x7e). */
static void
uidl_format(char *buf, size_t len, uint32_t uidvalidity, uint32_t uid)
{
	snprintf(buf, len, "%08" PRIx32 "%08" PRIx32, uidvalidity, uid);
}

/* ---- login ---- */

static void
index_work(void *arg)
{
	struct pop3_session *s = arg;
	s->job_err = store_index_read(s->job_st, s->canon, "INBOX", &s->job_idx);
}

/* The maildrop is free once QUIT has done its work, before the answer
 * goes out: a client that reconnects the moment it reads +OK must not
 * find its own old session still holding the lock ([IN-USE]). */
static void
drop_unlock(struct pop3_session *s)
{
	if (s->holds_drop) {
		drop_release(s->canon);
		s->holds_drop = false;
	}
}

static void
drop_forget(struct pop3_session *s)
{
	drop_unlock(s);
	s->canon[0] = '\0';
}

static void
index_done(void *arg, bool alive)
{
	struct pop3_session *s = arg;
	struct store_index *idx = s->job_idx;

	s->job_idx = NULL;
	if (!alive) {
		store_index_free(&idx);
		return;
	}
	if (s->job_err != STORE_OK) {
		log_warn("pop3 conn=%llx event=maildrop-failed user=%s error=\"%s\"",
		    (unsigned long long)conn_id(s->c), s->canon, store_strerror(s->job_err));
		store_index_free(&idx);
		drop_forget(s);
		reply(s, "-ERR [SYS/TEMP] Unable to open the maildrop, try again later");
		return;
	}
	s->uidvalidity = idx->mailbox.uidvalidity;
	s->nmsgs = idx->nmsgs;
	s->msgs = xcalloc(idx->nmsgs ? idx->nmsgs : 1, sizeof(*s->msgs));
	s->total_bytes = 0;
	for (size_t i = 0; i < idx->nmsgs; i++) {
		s->msgs[i].uid = idx->msgs[i].uid;
		s->msgs[i].size = idx->msgs[i].size;
		s->msgs[i].body_id = idx->msgs[i].body_id;
		s->total_bytes += idx->msgs[i].size;
	}
	store_index_free(&idx);
	s->ndeleted = 0;
	s->deleted_bytes = 0;
	pop3_enter_state(s, POP3_STATE_TRANSACTION);
	log_info("pop3 conn=%llx event=login user=%s messages=%zu bytes=%" PRIu64 " tls=%d",
	    (unsigned long long)conn_id(s->c), s->canon, s->nmsgs, s->total_bytes,
	    conn_is_tls(s->c));
	reply(s, "+OK Logged in, %zu messages (%" PRIu64 " octets)", s->nmsgs, s->total_bytes);
}

static void
auth_done(void *arg, bool ok, int err, const char *canon, unsigned fails)
{
	struct pop3_session *s = arg;

	enum session_auth_outcome o = session_auth_outcome(ok, err, fails);

	if (o != SESSION_AUTH_OK) {
		if (o == SESSION_AUTH_TEMPFAIL)
			reply(s, "-ERR [SYS/TEMP] Authentication temporarily unavailable");
		else
			reply(s, "-ERR [AUTH] Authentication failed");
		if (o == SESSION_AUTH_FAILED_CLOSE) {
			conn_puts(s->c, "-ERR Too many authentication failures, closing connection\r\n");
			conn_close(s->c);
		}
		return;
	}
	if (!drop_acquire(canon)) {
		log_info("pop3 conn=%llx event=in-use user=%s", (unsigned long long)conn_id(s->c), canon);
		reply(s, "-ERR [IN-USE] Mailbox is locked by another POP3 session");
		return;
	}
	mm_strlcpy(s->canon, canon, sizeof(s->canon));
	s->holds_drop = true;
	s->job_st = s->srv->store;
	conn_run_job(s->c, WORKER_LANE_READ, index_work, index_done, s);
}

static void
start_auth(struct pop3_session *s, const char *user, const char *pass)
{
	s->have_user = false;
	server_auth(s->c, user, pass, auth_done);
}

/* ---- SASL (RFC 5034): POP3's wording of the shared step machine ---- */

static void
sasl_challenge(void *sess, enum sasl_session_step next, const char *b64)
{
	struct pop3_session *s = sess;

	pop3_enter_state(s, POP3_STATE_SASL);
	reply(s, "+ %s", b64);
}

/* A SASL decoding error, as the client hears it. */
static const char *
sasl_error(enum sasl_result r)
{
	switch (r) {
	case SASL_BAD_BASE64:
		return "Invalid base64 data";
	case SASL_TOO_LONG:
		return "[AUTH] Response too long";
	case SASL_AUTHZID_MISMATCH:
		return "[AUTH] Authorization identity must be empty or the user";
	default:
		return "[AUTH] Invalid response";
	}
}

static void
sasl_failed(void *sess, enum sasl_session_end why, enum sasl_result r)
{
	struct pop3_session *s = sess;

	pop3_enter_state(s, POP3_STATE_AUTHORIZATION);
	switch (why) {
	case SASL_SESSION_CANCELLED:
		reply(s, "-ERR Authentication cancelled");
		break;
	case SASL_SESSION_TOO_LONG:
		reply(s, "-ERR Line too long");
		break;
	case SASL_SESSION_UNDECODABLE:
		reply(s, "-ERR %s", sasl_error(r));
		break;
	}
}

static void
sasl_check(void *sess, const char *user, const char *password)
{
	struct pop3_session *s = sess;

	pop3_enter_state(s, POP3_STATE_AUTHORIZATION);
	start_auth(s, user, password);
}

static const struct sasl_session_ops pop3_sasl_ops = {
	.challenge = sasl_challenge,
	.failed = sasl_failed,
	.check = sasl_check,
	.password_max_bytes = POP3_SASL_LINE_MAX_BYTES - 1,
	.cancel_in_initial_response = true,
};

static void
cmd_auth(struct pop3_session *s, struct pop3_cmd *cmd)
{
	if (cmd->arglen == 0) {
		/* The pre-RFC 5034 mechanism list some clients ask for. */
		conn_puts(s->c, "+OK\r\nPLAIN\r\nLOGIN\r\n.\r\n");
		return;
	}
	enum sasl_mech m = sasl_mech_parse(cmd->arg);
	if (m == SASL_MECH_UNKNOWN) {
		reply(s, "-ERR Unsupported authentication mechanism");
		return;
	}
	sasl_session_begin(&s->sasl, &pop3_sasl_ops, s, m,
	    cmd->has_arg2 ? cmd->arg2 : NULL, cmd->has_arg2 ? cmd->arg2len : 0);
}

/* ---- RETR / TOP streaming ---- */

static void
xfer_release(struct pop3_xfer **xp)
{
	struct pop3_xfer *x = *xp;
	if (x == NULL)
		return;
	free(x->chunk);
	mm_buf_free(&x->out);
	free(x);
	*xp = NULL;
}

static void
xfer_free(struct pop3_session *s)
{
	xfer_release(&s->xfer);
}

/* On the worker: the next chunk of x, read and byte-stuffed into x->out. */
static void
xfer_read_chunk(struct pop3_xfer *x)
{
	size_t got = 0;

	x->out.len = 0;
	if (x->chunk == NULL)
		x->chunk = xmalloc(POP3_CHUNK_BYTES);
	x->err = store_body_read(x->st, x->body_id, x->offset, x->chunk,
	    POP3_CHUNK_BYTES, &got);
	if (x->err != STORE_OK)
		return;
	x->offset += got;
	pop3_stuff_chunk(&x->stuff, x->chunk, got, &x->out);
	if (got == 0 || x->offset >= x->size || x->stuff.done) {
		pop3_stuff_finish(&x->stuff, &x->out);
		x->eof = true;
	}
}

static void
xfer_work(void *arg)
{
	struct pop3_session *s = arg;
	xfer_read_chunk(s->xfer);
}

static void xfer_done(void *arg, bool alive);
static void ahead_start(struct pop3_session *s, uint32_t after);

static void
xfer_next(struct pop3_session *s)
{
	conn_run_job(s->c, WORKER_LANE_READ, xfer_work, xfer_done, s);
}

static void
xfer_done(void *arg, bool alive)
{
	struct pop3_session *s = arg;
	struct pop3_xfer *x = s->xfer;

	if (!alive) {
		xfer_free(s);
		return;
	}
	if (x->err != STORE_OK) {
		log_warn("pop3 conn=%llx event=read-failed user=%s msg=%" PRIu32 " error=\"%s\"",
		    (unsigned long long)conn_id(s->c), s->canon, x->msgno, store_strerror(x->err));
		if (!x->started) {
			if (x->err == STORE_NOTFOUND)
				reply(s, "-ERR Message %" PRIu32 " was removed by another session", x->msgno);
			else
				reply(s, "-ERR [SYS/TEMP] Unable to read message %" PRIu32, x->msgno);
		} else {
			/* Mid-answer: the only honest signal left is to hang up. */
			conn_close(s->c);
		}
		xfer_free(s);
		return;
	}
	if (!x->started) {
		if (x->stuff.top)
			reply(s, "+OK Top of message follows");
		else
			reply(s, "+OK %" PRIu64 " octets", x->size);
		x->started = true;
	}
	conn_write(s->c, x->out.data, x->out.len);
	/* A client busy receiving a big message is not idle. */
	conn_set_timeout(s->c, POP3_AUTOLOGOUT_SECS);
	if (x->eof) {
		bool top = x->stuff.top;
		uint32_t msgno = x->msgno;
		xfer_free(s);
		if (s->paused) {
			s->paused = false;
			conn_resume(s->c);
		}
		if (!top)
			ahead_start(s, msgno);
		return;
	}
	if (conn_output_len(s->c) <= CONN_OUTPUT_LOW_BYTES) {
		xfer_next(s);
	} else {
		if (!s->paused) {
			s->paused = true;
			conn_pause(s->c);
		}
		conn_want_drained(s->c);
	}
}

static void
pop3_on_drained(void *arg)
{
	struct pop3_session *s = arg;

	if (s->xfer != NULL && !conn_job_running(s->c) && !conn_is_closed(s->c))
		xfer_next(s);
}

static struct pop3_xfer *
xfer_new(struct pop3_session *s, uint32_t msgno, bool top, uint32_t lines)
{
	struct pop3_msg *m = &s->msgs[msgno - 1];
	struct pop3_xfer *x = xcalloc(1, sizeof(*x));

	x->st = s->srv->store;
	x->msgno = msgno;
	x->body_id = m->body_id;
	x->size = m->size;
	pop3_stuff_init(&x->stuff, top, lines);
	mm_buf_init(&x->out);
	return x;
}

static void
start_xfer(struct pop3_session *s, uint32_t msgno, bool top, uint32_t lines)
{
	struct pop3_xfer *x = s->ahead;

	s->ahead = NULL;
	if (x != NULL && !top && x->msgno == msgno) {
		/* Read ahead: the whole answer is here; write it now. */
		metrics_pop3_read_ahead(true);
		s->xfer = x;
		xfer_done(s, true);
		return;
	}
	if (x != NULL)
		metrics_pop3_read_ahead(false);
	xfer_release(&x);
	s->xfer = xfer_new(s, msgno, top, lines);
	xfer_next(s);
}

/* ---- read-ahead of the next message ---- */

static void
ahead_work(void *arg)
{
	struct pop3_session *s = arg;
	xfer_read_chunk(s->ahead);
}

static void
ahead_done(void *arg, bool alive)
{
	struct pop3_session *s = arg;
	struct pop3_xfer *x = s->ahead;

	/* A failed read is forgotten: the RETR itself will meet it again. */
	if (!alive || x->err != STORE_OK) {
		xfer_release(&s->ahead);
		return;
	}
	/* Only the stuffed bytes wait; the read buffer goes now. */
	free(x->chunk);
	x->chunk = NULL;
}

/* After the answer to RETR `after`, read the next undeleted message if it
 * fits in one chunk. Never while another job or transfer runs (one job
 * per conn). */
static void
ahead_start(struct pop3_session *s, uint32_t after)
{
	uint32_t next = after + 1;

	if (s->ahead != NULL || s->xfer != NULL || conn_job_running(s->c) ||
	    conn_is_closed(s->c) || s->state != POP3_STATE_TRANSACTION)
		return;
	while (next <= s->nmsgs && s->msgs[next - 1].deleted)
		next++;
	if (next > s->nmsgs || s->msgs[next - 1].size > POP3_CHUNK_BYTES)
		return;
	s->ahead = xfer_new(s, next, false, 0);
	conn_run_job(s->c, WORKER_LANE_READ, ahead_work, ahead_done, s);
}

/* ---- QUIT in TRANSACTION: the UPDATE state ---- */

static void
expunge_work(void *arg)
{
	struct pop3_session *s = arg;
	s->job_err = store_expunge(s->job_st, s->canon, "INBOX", s->job_uids, s->job_nuids);
}

static void
expunge_done(void *arg, bool alive)
{
	struct pop3_session *s = arg;
	size_t n = s->job_nuids;

	drop_unlock(s);

	free(s->job_uids);
	s->job_uids = NULL;
	s->job_nuids = 0;
	if (s->job_err != STORE_OK) {
		log_warn("pop3 conn=%llx event=expunge-failed user=%s error=\"%s\"",
		    (unsigned long long)conn_id(s->c), s->canon, store_strerror(s->job_err));
		if (alive)
			reply(s, "-ERR [SYS/TEMP] Unable to remove deleted messages, none were removed");
	} else {
		log_info("pop3 conn=%llx event=logout user=%s deleted=%zu",
		    (unsigned long long)conn_id(s->c), s->canon, n);
		if (alive)
			reply(s, "+OK minimaild POP3 server signing off (%zu messages deleted)", n);
	}
	if (alive)
		conn_close(s->c);
}

static void
cmd_quit(struct pop3_session *s)
{
	if (s->state != POP3_STATE_TRANSACTION || s->ndeleted == 0) {
		if (s->state == POP3_STATE_TRANSACTION)
			log_info("pop3 conn=%llx event=logout user=%s deleted=0",
			    (unsigned long long)conn_id(s->c), s->canon);
		drop_unlock(s);
		reply(s, "+OK minimaild POP3 server signing off");
		conn_close(s->c);
		return;
	}
	pop3_enter_state(s, POP3_STATE_UPDATE);
	s->job_uids = xcalloc(s->ndeleted, sizeof(*s->job_uids));
	s->job_nuids = 0;
	for (size_t i = 0; i < s->nmsgs; i++)
		if (s->msgs[i].deleted)
			s->job_uids[s->job_nuids++] = s->msgs[i].uid;
	s->job_st = s->srv->store;
	conn_run_job(s->c, WORKER_LANE_COMMIT, expunge_work, expunge_done, s);
}

/* ---- TRANSACTION commands ---- */

/* The message a command names, or NULL after answering -ERR. */
static struct pop3_msg *
find_msg(struct pop3_session *s, uint32_t msgno)
{
	if (msgno == 0 || msgno > s->nmsgs) {
		reply(s, "-ERR No such message");
		return NULL;
	}
	struct pop3_msg *m = &s->msgs[msgno - 1];
	if (m->deleted) {
		reply(s, "-ERR Message %" PRIu32 " already deleted", msgno);
		return NULL;
	}
	return m;
}

static void
cmd_list(struct pop3_session *s, struct pop3_cmd *cmd, bool uidl)
{
	char id[32];

	if (cmd->has_msg) {
		struct pop3_msg *m = find_msg(s, cmd->msg);
		if (m == NULL)
			return;
		if (uidl) {
			uidl_format(id, sizeof(id), s->uidvalidity, m->uid);
			reply(s, "+OK %" PRIu32 " %s", cmd->msg, id);
		} else {
			reply(s, "+OK %" PRIu32 " %" PRIu64, cmd->msg, m->size);
		}
		return;
	}
	struct mm_buf b;
	mm_buf_init(&b);
	if (uidl)
		mm_buf_printf(&b, "+OK Unique-ID listing follows\r\n");
	else
		mm_buf_printf(&b, "+OK %zu messages (%" PRIu64 " octets)\r\n",
		    s->nmsgs - s->ndeleted, s->total_bytes - s->deleted_bytes);
	for (size_t i = 0; i < s->nmsgs; i++) {
		struct pop3_msg *m = &s->msgs[i];
		if (m->deleted)
			continue;
		if (uidl) {
			uidl_format(id, sizeof(id), s->uidvalidity, m->uid);
			mm_buf_printf(&b, "%zu %s\r\n", i + 1, id);
		} else {
			mm_buf_printf(&b, "%zu %" PRIu64 "\r\n", i + 1, m->size);
		}
	}
	mm_buf_append(&b, ".\r\n", 3);
	conn_write(s->c, b.data, b.len);
	mm_buf_free(&b);
}

static void
cmd_transaction(struct pop3_session *s, struct pop3_cmd *cmd)
{
	struct pop3_msg *m;

	switch (cmd->verb) {
	case POP3_VERB_STAT:
		reply(s, "+OK %zu %" PRIu64, s->nmsgs - s->ndeleted,
		    s->total_bytes - s->deleted_bytes);
		break;
	case POP3_VERB_LIST:
		cmd_list(s, cmd, false);
		break;
	case POP3_VERB_UIDL:
		cmd_list(s, cmd, true);
		break;
	case POP3_VERB_RETR:
		if (find_msg(s, cmd->msg) != NULL)
			start_xfer(s, cmd->msg, false, 0);
		break;
	case POP3_VERB_TOP:
		if (find_msg(s, cmd->msg) != NULL)
			start_xfer(s, cmd->msg, true, cmd->lines);
		break;
	case POP3_VERB_DELE:
		if ((m = find_msg(s, cmd->msg)) == NULL)
			break;
		m->deleted = true;
		s->ndeleted++;
		s->deleted_bytes += m->size;
		reply(s, "+OK Message %" PRIu32 " deleted", cmd->msg);
		break;
	case POP3_VERB_RSET:
		for (size_t i = 0; i < s->nmsgs; i++)
			s->msgs[i].deleted = false;
		s->ndeleted = 0;
		s->deleted_bytes = 0;
		reply(s, "+OK Maildrop has %zu messages (%" PRIu64 " octets)",
		    s->nmsgs, s->total_bytes);
		break;
	case POP3_VERB_NOOP:
		reply(s, "+OK");
		break;
	case POP3_VERB_USER:
	case POP3_VERB_PASS:
	case POP3_VERB_AUTH:
		bad_command(s, "Already logged in");
		break;
	case POP3_VERB_STLS:
		bad_command(s, "Command not permitted in TRANSACTION state");
		break;
	default:
		bad_command(s, "Unknown command");
		break;
	}
}

/* ---- AUTHORIZATION commands ---- */

/* POP3's wording of the shared STARTTLS preamble (net/session.c) */
static void
stls_refuse(void *sess, enum session_tls_refusal why)
{
	struct pop3_session *s = sess;

	if (why == SESSION_TLS_ACTIVE)
		bad_command(s, "Command not permitted when TLS active");
	else
		reply(s, "-ERR TLS not available");
}

static void
stls_go_ahead(void *sess)
{
	struct pop3_session *s = sess;

	reply(s, "+OK Begin TLS negotiation");
	s->have_user = false;
}

static void
stls_started(void *sess, bool ok)
{
	struct pop3_session *s = sess;

	if (!ok) {
		conn_close(s->c);
		return;
	}
	s->tls_pending = true;
}

static const struct session_starttls_ops pop3_stls_ops = {
	.refuse = stls_refuse,
	.go_ahead = stls_go_ahead,
	.started = stls_started,
};

static void
cmd_stls(struct pop3_session *s)
{
	session_starttls(s->c, &pop3_stls_ops, s);
}

static void
cmd_authorization(struct pop3_session *s, struct pop3_cmd *cmd)
{
	switch (cmd->verb) {
	case POP3_VERB_USER:
		if (!plaintext_ok(s)) {
			bad_command(s, "[AUTH] Plaintext authentication disallowed, use STLS");
			return;
		}
		mm_strlcpy(s->user, cmd->arg, sizeof(s->user));
		s->have_user = true;
		reply(s, "+OK");
		break;
	case POP3_VERB_PASS:
		if (!plaintext_ok(s)) {
			bad_command(s, "[AUTH] Plaintext authentication disallowed, use STLS");
			return;
		}
		if (!s->have_user) {
			bad_command(s, "USER first");
			return;
		}
		start_auth(s, s->user, cmd->arg);
		break;
	case POP3_VERB_AUTH:
		if (!plaintext_ok(s)) {
			bad_command(s, "[AUTH] Plaintext authentication disallowed, use STLS");
			return;
		}
		s->have_user = false;
		cmd_auth(s, cmd);
		break;
	case POP3_VERB_STLS:
		cmd_stls(s);
		break;
	case POP3_VERB_NOOP:
		/* RFC 1939 has NOOP in TRANSACTION only; answering it before
		 * login too is harmless and keeps probes simple. */
		reply(s, "+OK");
		break;
	default:
		bad_command(s, "Not logged in");
		break;
	}
}

static void
cmd_capa(struct pop3_session *s)
{
	struct mm_buf b;

	mm_buf_init(&b);
	mm_buf_printf(&b, "+OK Capability list follows\r\n"
	    "TOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n");
	if (s->state == POP3_STATE_AUTHORIZATION) {
		if (plaintext_ok(s))
			mm_buf_printf(&b, "USER\r\nSASL PLAIN LOGIN\r\n");
		if (stls_offered(s))
			mm_buf_printf(&b, "STLS\r\n");
	}
	mm_buf_printf(&b, "IMPLEMENTATION minimaild\r\n.\r\n");
	conn_write(s->c, b.data, b.len);
	mm_buf_free(&b);
}

/* ---- input ---- */

static void
pop3_command(struct pop3_session *s, char *line, size_t len)
{
	struct pop3_cmd cmd;
	enum pop3_parse_result r = pop3_parse(line, len, &cmd);
	s->cmd_start_us = metrics_now_us();

	if (cmd.verb == POP3_VERB_PASS || cmd.verb == POP3_VERB_AUTH)
		explicit_bzero(line, len);
	if (r != POP3_PARSE_OK) {
		if (r == POP3_PARSE_BAD_ARGS && cmd.verb == POP3_VERB_PASS &&
		    !plaintext_ok(s))
			bad_command(s, "[AUTH] Plaintext authentication disallowed, use STLS");
		else
			bad_command(s, cmd.error);
		goto out;
	}
	log_debug("pop3 conn=%llx cmd=%s", (unsigned long long)conn_id(s->c),
	    pop3_verb_name(cmd.verb));
	switch (cmd.verb) {
	case POP3_VERB_CAPA:
		cmd_capa(s);
		break;
	case POP3_VERB_QUIT:
		cmd_quit(s);
		break;
	default:
		if (s->state == POP3_STATE_TRANSACTION)
			cmd_transaction(s, &cmd);
		else
			cmd_authorization(s, &cmd);
		break;
	}
out:
	if (cmd.verb == POP3_VERB_PASS || cmd.verb == POP3_VERB_AUTH)
		explicit_bzero(&cmd, sizeof(cmd));
}

static void
pop3_on_input(void *arg)
{
	struct pop3_session *s = arg;
	char *line;
	size_t len;
	unsigned ending;

	while (!conn_is_closed(s->c) && !conn_job_running(s->c) && s->xfer == NULL &&
	    !s->tls_pending && s->state != POP3_STATE_UPDATE) {
		/* The parser enforces RFC 2449's 255 on all but AUTH. */
		enum conn_line r = conn_getline(s->c, POP3_SASL_LINE_MAX_BYTES,
		    &line, &len, &ending);
		if (r == CONN_LINE_NEED_MORE)
			return;
		if (r == CONN_LINE_TOO_LONG) {
			if (s->state == POP3_STATE_SASL)
				sasl_session_line(&s->sasl, &pop3_sasl_ops, s, NULL, 0);
			else
				bad_command(s, "Line too long");
			continue;
		}
		if (s->state == POP3_STATE_SASL) {
			sasl_session_line(&s->sasl, &pop3_sasl_ops, s, line, len);
			explicit_bzero(line, len);
			continue;
		}
		pop3_command(s, line, len);
	}
}

/* ---- module ---- */

static void *
pop3_start(struct conn *c)
{
	struct pop3_session *s = xcalloc(1, sizeof(*s));

	s->c = c;
	s->srv = conn_server(c);
	s->state = POP3_STATE_AUTHORIZATION;
	conn_set_timeout(c, POP3_AUTOLOGOUT_SECS);
	conn_puts(c, GREETING);
	return s;
}

static void
pop3_on_tls(void *arg)
{
	struct pop3_session *s = arg;
	s->tls_pending = false;
	/* RFC 2595 4: the client forgets what it knew; so do we. */
	s->have_user = false;
}

static void
pop3_on_timeout(void *arg)
{
	struct pop3_session *s = arg;
	/* Never inside a multi-line answer; nothing is deleted (RFC 1939 3). */
	if (s->xfer == NULL)
		conn_puts(s->c, "-ERR Autologout; idle for too long\r\n");
}

static const char *
pop3_busy_reply(bool per_ip)
{
	return per_ip ? "-ERR [SYS/TEMP] Too many connections from your address\r\n" :
	    "-ERR [SYS/TEMP] Too many connections\r\n";
}

static void
pop3_on_shutdown(void *arg)
{
	struct pop3_session *s = arg;
	if (s->xfer == NULL)
		conn_puts(s->c, "-ERR [SYS/TEMP] Server shutting down\r\n");
}

static void
pop3_free(void *arg)
{
	struct pop3_session *s = arg;

	if (s == NULL)
		return;
	drop_forget(s);
	xfer_free(s);
	if (s->ahead != NULL)
		metrics_pop3_read_ahead(false);
	xfer_release(&s->ahead);
	if (s->job_idx != NULL)
		store_index_free(&s->job_idx);
	free(s->job_uids);
	free(s->msgs);
	explicit_bzero(s, sizeof(*s));
	free(s);
}

const struct proto_module pop3_module = {
	.name = "pop3",
	.start = pop3_start,
	.on_input = pop3_on_input,
	.on_drained = pop3_on_drained,
	.on_tls = pop3_on_tls,
	.on_timeout = pop3_on_timeout,
	.busy_reply = pop3_busy_reply,
	.free = pop3_free,
	.on_shutdown = pop3_on_shutdown,
};
