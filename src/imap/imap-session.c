/* imap-session.c: the IMAP protocol module: one session per connection,
 * its state (NOT AUTHENTICATED, AUTHENTICATED, SELECTED, LOGOUT, changed
 * only by imap_enter_state), the input loop and the command table.
 *
 * The one idea: input goes through the incremental parser, which stops at
 * each complete command; the command then runs, usually as one conn job
 * (the loop never touches the store), and input stays paused until its
 * tagged reply is written (s->busy). Continuation lines (AUTHENTICATE
 * responses, IDLE's DONE) are read as plain lines instead, selected by
 * s->input. Client mistakes get BAD and the session goes on; too many of
 * them, or a literal the parser cannot skip, get "* BYE" and a close. */
#include "imap/imap-common.h"

#include <assert.h>
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/config.h"
#include "lib/log.h"
#include "lib/membudget.h"
#include "lib/metrics.h"
#include "lib/sasl.h"
#include "mail/mime.h"
#include "net/conn.h"
#include "net/notify.h"
#include "net/proto.h"
#include "net/server.h"
#include "net/session.h"

static const char *const state_names[] = {
	"NOT_AUTH", "AUTH", "SELECTED", "LOGOUT"
};

static const struct imap_cmd imap_cmds[] = {
	{ "CAPABILITY",   cmd_capability,   IMAP_S_ANY, IMAP_CMD_NOARGS },
	{ "NOOP",         cmd_noop,         IMAP_S_ANY, IMAP_CMD_NOARGS },
	{ "LOGOUT",       cmd_logout,       IMAP_S_ANY, IMAP_CMD_NOARGS },
	{ "ID",           cmd_id,           IMAP_S_ANY, 0 },
	{ "STARTTLS",     cmd_starttls,     IMAP_S_NOT_AUTH, IMAP_CMD_NOARGS },
	{ "LOGIN",        cmd_login,        IMAP_S_NOT_AUTH, 0 },
	{ "AUTHENTICATE", cmd_authenticate, IMAP_S_NOT_AUTH, 0 },
	{ "ENABLE",       cmd_enable,       IMAP_S_AUTHED, 0 },
	{ "NAMESPACE",    cmd_namespace,    IMAP_S_AUTHED, IMAP_CMD_NOARGS },
	{ "LIST",         cmd_list,         IMAP_S_AUTHED, 0 },
	{ "LSUB",         cmd_lsub,         IMAP_S_AUTHED, 0 },
	{ "CREATE",       cmd_create,       IMAP_S_AUTHED, 0 },
	{ "DELETE",       cmd_delete,       IMAP_S_AUTHED, 0 },
	{ "RENAME",       cmd_rename,       IMAP_S_AUTHED, 0 },
	{ "SUBSCRIBE",    cmd_subscribe,    IMAP_S_AUTHED, 0 },
	{ "UNSUBSCRIBE",  cmd_unsubscribe,  IMAP_S_AUTHED, 0 },
	{ "STATUS",       cmd_status,       IMAP_S_AUTHED, 0 },
	{ "SELECT",       cmd_select,       IMAP_S_AUTHED, 0 },
	{ "EXAMINE",      cmd_examine,      IMAP_S_AUTHED, 0 },
	{ "APPEND",       cmd_append,       IMAP_S_AUTHED, 0 },
	{ "IDLE",         cmd_idle,         IMAP_S_AUTHED, IMAP_CMD_NOARGS },
	{ "COMPRESS",     cmd_compress,     IMAP_S_AUTHED, 0 },
	{ "GETQUOTA",     cmd_getquota,     IMAP_S_AUTHED, 0 },
	{ "GETQUOTAROOT", cmd_getquotaroot, IMAP_S_AUTHED, 0 },
	{ "SETQUOTA",     cmd_setquota,     IMAP_S_AUTHED, 0 },
	{ "GENURLAUTH",   cmd_genurlauth,   IMAP_S_AUTHED, 0 },
	{ "URLFETCH",     cmd_urlfetch,     IMAP_S_AUTHED, 0 },
	{ "RESETKEY",     cmd_resetkey,     IMAP_S_AUTHED, 0 },
	{ "NOTIFY",       cmd_notify,       IMAP_S_AUTHED, 0 },
	{ "CLOSE",        cmd_close,        IMAP_S_SELECTED, IMAP_CMD_NOARGS },
	{ "UNSELECT",     cmd_unselect,     IMAP_S_SELECTED, IMAP_CMD_NOARGS },
	{ "CHECK",        cmd_check,        IMAP_S_SELECTED, IMAP_CMD_NOARGS },
	{ "EXPUNGE",      cmd_expunge,      IMAP_S_SELECTED, IMAP_CMD_UID },
	{ "FETCH",        cmd_fetch,        IMAP_S_SELECTED, IMAP_CMD_UID | IMAP_CMD_NOEXPUNGE },
	{ "STORE",        cmd_store,        IMAP_S_SELECTED, IMAP_CMD_UID | IMAP_CMD_NOEXPUNGE },
	{ "SEARCH",       cmd_search,       IMAP_S_SELECTED, IMAP_CMD_UID | IMAP_CMD_NOEXPUNGE },
	{ "SORT",         cmd_sort,         IMAP_S_SELECTED, IMAP_CMD_UID | IMAP_CMD_NOEXPUNGE },
	{ "THREAD",       cmd_thread,       IMAP_S_SELECTED, IMAP_CMD_UID | IMAP_CMD_NOEXPUNGE },
	{ "CANCELUPDATE", cmd_cancelupdate, IMAP_S_SELECTED, 0 },
	{ "COPY",         cmd_copy,         IMAP_S_SELECTED, IMAP_CMD_UID },
	{ "MOVE",         cmd_move,         IMAP_S_SELECTED, IMAP_CMD_UID },
};

static void imap_on_input(void *arg);

/* ---- output ---- */

void
imap_write(struct imap_session *s, const void *data, size_t len)
{
	conn_write(s->c, data, len);
}

struct imap_pace {
	struct mm_buf b;
	size_t off;
	imap_paced_fn *then;
	void *arg;
};

/* Writes what fits under the high watermark while the output is at the
 * low one; true when all of it is written. */
static bool
pace_write(struct imap_session *s, struct imap_pace *p)
{
	while (p->off < p->b.len) {
		size_t out = conn_output_len(s->c);
		if (out > CONN_OUTPUT_LOW_BYTES)
			return false;
		size_t n = p->b.len - p->off;
		if (n > CONN_OUTPUT_HIGH_BYTES - out)
			n = CONN_OUTPUT_HIGH_BYTES - out;
		imap_write(s, p->b.data + p->off, n);
		p->off += n;
	}
	return true;
}

static void
pace_end(struct imap_session *s, bool alive)
{
	struct imap_pace *p = s->pace;

	s->pace = NULL;
	mm_buf_free(&p->b);
	p->then(s, p->arg, alive);
	free(p);
}

void
imap_write_paced(struct imap_session *s, struct mm_buf *b, imap_paced_fn *then, void *arg)
{
	struct imap_pace *p = xcalloc(1, sizeof(*p));

	assert(s->pace == NULL);
	p->b = *b;
	mm_buf_init(b);
	p->then = then;
	p->arg = arg;
	s->pace = p;
	if (pace_write(s, p)) {
		pace_end(s, true);
		return;
	}
	conn_pause(s->c);
	conn_want_drained(s->c);
}

static void
imap_pace_drained(struct imap_session *s)
{
	if (s->pace == NULL || conn_is_closed(s->c))
		return;
	if (!pace_write(s, s->pace)) {
		conn_want_drained(s->c);
		return;
	}
	conn_resume(s->c);
	pace_end(s, true);
}

/* ---- answers produced in batches (imap_run_batched) ---- */

struct imap_batch {
	struct imap_session *s;
	enum worker_lane lane;
	imap_batch_fn *work;
	imap_paced_fn *then;
	void *arg;
	struct mm_buf out;        /* the batch the last job produced */
	bool more;                /* the last job said more is to come */
	bool waiting;             /* for on_drained, out not yet written */
};

static void
batch_work(void *arg)
{
	struct imap_batch *b = arg;
	b->more = b->work(b->s, b->arg, &b->out);
}

static void
batch_end(struct imap_session *s, bool alive)
{
	struct imap_batch *b = s->batch;

	s->batch = NULL;
	mm_buf_free(&b->out);
	b->then(s, b->arg, alive);
	free(b);
}

static void batch_done(void *arg, bool alive);

/* The batch of the last job goes out now that the output is at the low
 * watermark; then the next job, or the end. */
static void
batch_write(struct imap_session *s, struct imap_batch *b)
{
	if (b->out.len > 0)
		imap_write(s, b->out.data, b->out.len);
	/* a client that does not read keeps us waiting: hold no buffer meanwhile */
	mm_buf_free(&b->out);
	mm_buf_init(&b->out);
	if (!b->more) {
		batch_end(s, true);
		return;
	}
	if (conn_output_len(s->c) > CONN_OUTPUT_LOW_BYTES) {
		b->waiting = true;
		conn_pause(s->c);
		conn_want_drained(s->c);
		return;
	}
	imap_run_job(s, b->lane, batch_work, batch_done, b);
}

static void
batch_done(void *arg, bool alive)
{
	struct imap_batch *b = arg;
	struct imap_session *s = b->s;

	if (!alive)
		return;     /* imap_free ends the batch */
	if (conn_output_len(s->c) > CONN_OUTPUT_LOW_BYTES) {
		/* what an earlier answer left still waits: this batch too */
		b->waiting = true;
		conn_pause(s->c);
		conn_want_drained(s->c);
		return;
	}
	batch_write(s, b);
}

void
imap_run_batched(struct imap_session *s, enum worker_lane lane, imap_batch_fn *work,
    imap_paced_fn *then, void *arg)
{
	struct imap_batch *b = xcalloc(1, sizeof(*b));

	assert(s->batch == NULL);
	b->s = s;
	b->lane = lane;
	b->work = work;
	b->then = then;
	b->arg = arg;
	mm_buf_init(&b->out);
	s->batch = b;
	imap_run_job(s, lane, batch_work, batch_done, b);
}

static void
imap_batch_drained(struct imap_session *s)
{
	struct imap_batch *b = s->batch;

	if (b == NULL || !b->waiting || conn_is_closed(s->c) || conn_job_running(s->c))
		return;
	if (conn_output_len(s->c) > CONN_OUTPUT_LOW_BYTES) {
		conn_want_drained(s->c);
		return;
	}
	b->waiting = false;
	conn_resume(s->c);
	batch_write(s, b);
}

void
imap_printf(struct imap_session *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	conn_vprintf(s->c, fmt, ap);
	va_end(ap);
}

/* At debug level the status replies (tagged, and untagged lines written
 * with imap_untagged: OK, NO, BAD, BYE, CAPABILITY...) are logged, escaped
 * and cut at IMAP_LOG_REPLY_BYTES, so that a failing client can be
 * understood from the log; FETCH data is not. */
#define IMAP_LOG_REPLY_BYTES 300

static void __attribute__((format(printf, 3, 0)))
log_reply(struct imap_session *s, const char *prefix, const char *fmt, va_list ap)
{
	char text[IMAP_LOG_REPLY_BYTES + 1], esc[IMAP_LOG_REPLY_BYTES * 4 + 8];
	char pesc[IMAP_LOG_REPLY_BYTES * 4 + 8];
	int n = vsnprintf(text, sizeof(text), fmt, ap);

	if (n < 0)
		return;
	log_debug("conn=%llx event=imap-reply reply=\"%s %s%s\"",
	    (unsigned long long)conn_id(s->c),
	    log_escape(pesc, sizeof(pesc), prefix, strlen(prefix)),
	    log_escape(esc, sizeof(esc), text, strlen(text)),
	    (size_t)n >= sizeof(text) ? "..." : "");
}

void
imap_untagged(struct imap_session *s, const char *fmt, ...)
{
	va_list ap;
	conn_write(s->c, "* ", 2);
	if (log_get_level() >= LOG_LVL_DEBUG) {
		va_start(ap, fmt);
		log_reply(s, "*", fmt, ap);
		va_end(ap);
	}
	va_start(ap, fmt);
	conn_vprintf(s->c, fmt, ap);
	va_end(ap);
	conn_write(s->c, "\r\n", 2);
}

static void __attribute__((format(printf, 3, 0)))
tagged(struct imap_session *s, const char *what, const char *fmt, va_list ap)
{
	if (s->server_cmd)
		return;
	conn_printf(s->c, "%s %s ", s->tag ? s->tag : "*", what);
	if (log_get_level() >= LOG_LVL_DEBUG) {
		char prefix[IMAP_LOG_REPLY_BYTES];
		va_list cp;
		snprintf(prefix, sizeof(prefix), "%s %s", s->tag ? s->tag : "*", what);
		va_copy(cp, ap);
		log_reply(s, prefix, fmt, cp);
		va_end(cp);
	}
	conn_vprintf(s->c, fmt, ap);
	conn_write(s->c, "\r\n", 2);
}

void
imap_cmd_done(struct imap_session *s)
{
	if (s->cmd_start_us != 0)
		metrics_observe(MH_CMD_IMAP, metrics_now_us() - s->cmd_start_us);
	s->cmd_start_us = 0;
	free(s->tag);
	s->tag = NULL;
	s->cmd = NULL;
	s->uid = false;
	s->busy = false;
	s->server_cmd = false;
	imap_notify_boundary(s);
}

void
imap_ok(struct imap_session *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	tagged(s, "OK", fmt, ap);
	va_end(ap);
	imap_cmd_done(s);
}

void
imap_no(struct imap_session *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	tagged(s, "NO", fmt, ap);
	va_end(ap);
	imap_cmd_done(s);
}

static void
count_bad(struct imap_session *s)
{
	if (session_bad_command(&s->bad_cmds))
		imap_bye(s, "Too many invalid commands");
}

static void __attribute__((format(printf, 2, 3)))
imap_bad_nocount(struct imap_session *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	tagged(s, "BAD", fmt, ap);
	va_end(ap);
	imap_cmd_done(s);
}

void
imap_bad(struct imap_session *s, const char *fmt, ...)
{
	va_list ap;
	bool server = s->server_cmd;   /* not the client's mistake */
	va_start(ap, fmt);
	tagged(s, "BAD", fmt, ap);
	va_end(ap);
	imap_cmd_done(s);
	if (!server)
		count_bad(s);
}

/* Not counted as a bad command: a client that enabled UIDONLY and still
 * sends sequence numbers (Microsoft 365's sync does) is told so each
 * time, but not disconnected for it. */
bool
imap_uid_required(struct imap_session *s)
{
	if (!s->uidonly)
		return false;
	imap_bad_nocount(s, "[UIDREQUIRED] Message sequence numbers are not used after ENABLE UIDONLY");
	return true;
}

void
imap_no_store(struct imap_session *s, int err, const char *what)
{
	switch (err) {
	case STORE_NOTFOUND:
		imap_no(s, "[NONEXISTENT] %s", what ? what : "No such mailbox");
		break;
	case STORE_EXISTS:
		imap_no(s, "[ALREADYEXISTS] Mailbox already exists");
		break;
	case STORE_INVALID:
		imap_no(s, "[CANNOT] Invalid mailbox name");
		break;
	case STORE_QUOTA:
		imap_no(s, "[OVERQUOTA] Quota exceeded");
		break;
	case STORE_DENIED:
		imap_no(s, "[CANNOT] Operation not permitted");
		break;
	case STORE_LIMIT:
		imap_no(s, "[LIMIT] Too many keywords or mailboxes");
		break;
	default:
		log_error("conn=%llx event=store-error error=\"%s\"",
		    (unsigned long long)conn_id(s->c), store_strerror(err));
		imap_no(s, "[SERVERBUG] Internal error occurred, try again later");
		break;
	}
}

void
imap_bye(struct imap_session *s, const char *text)
{
	if (conn_is_closed(s->c))
		return;
	conn_printf(s->c, "* BYE %s\r\n", text);
	imap_enter_state(s, IMAP_STATE_LOGOUT);
	conn_close(s->c);
}

/* ---- state ---- */

void
imap_set_mbox(struct imap_session *s, const char *name)
{
	char *copy = name != NULL ? xstrdup(name) : NULL;
	free(s->mbox);
	s->mbox = copy;
}

void
imap_enter_state(struct imap_session *s, enum imap_state st)
{
	if (s->state != st)
		log_debug("conn=%llx event=imap-state from=%s to=%s",
		    (unsigned long long)conn_id(s->c), state_names[s->state],
		    state_names[st]);
	if (s->state == IMAP_STATE_SELECTED && st != IMAP_STATE_SELECTED)
		imap_view_clear(s);
	s->state = st;
	switch (st) {
	case IMAP_STATE_NOT_AUTH:
		conn_set_timeout(s->c, IMAP_PREAUTH_TIMEOUT_SECS);
		break;
	case IMAP_STATE_AUTH:
	case IMAP_STATE_SELECTED: {
		conn_set_timeout(s->c, IMAP_AUTOLOGOUT_SECS);
		struct imap_parser_limits lim = {
			.line_max = IMAP_LINE_MAX_BYTES,
			.literal_max = imap_append_limit(s),
			.args_max = IMAP_ARGS_MAX,
			.nesting_max = IMAP_NESTING_MAX,
		};
		imap_parser_set_limits(s->parser, &lim);
		break;
	}
	case IMAP_STATE_LOGOUT:
		break;
	}
}

void
imap_condstore_enable(struct imap_session *s)
{
	/* RFC 7162 3.1: a CONDSTORE-enabling command on a selected mailbox
	 * tells the client the HIGHESTMODSEQ it starts from */
	if (!s->condstore && s->state == IMAP_STATE_SELECTED)
		imap_untagged(s, "OK [HIGHESTMODSEQ %llu] Highest",
		    (unsigned long long)s->modseq);
	s->condstore = true;
}

char *
imap_put_fetch_open(const struct imap_session *s, char *p, size_t vi)
{
	*p++ = '*';
	*p++ = ' ';
	if (s->uidonly) {
		p = mm_put_u64(p, s->msgs[vi].uid);
		memcpy(p, " UIDFETCH (", 11);
		return p + 11;
	}
	p = mm_put_u64(p, vi + 1);
	memcpy(p, " FETCH (", 8);
	return p + 8;
}

void
imap_append_fetch_open(struct imap_session *s, struct mm_buf *b, size_t vi)
{
	mm_buf_reserve(b, IMAP_FETCH_OPEN_MAX_BYTES);
	b->len = (size_t)(imap_put_fetch_open(s, b->data + b->len, vi) - b->data);
}


bool
imap_rev2(const struct imap_session *s)
{
	return s->rev2;
}

bool
imap_utf8_names(const struct imap_session *s)
{
	/* IMAP4rev2 (RFC 9051) and UTF8=ACCEPT (RFC 6855 3) */
	return s->rev2 || s->enabled_utf8;
}

bool
imap_plaintext_ok(struct imap_session *s)
{
	return server_plaintext_auth_ok(s->c);
}

struct store *
imap_store(struct imap_session *s)
{
	return s->srv->store;
}

uint64_t
imap_append_limit(struct imap_session *s)
{
	uint64_t max = s->srv->cfg->max_message_size;
	if (max == 0 || max > UINT32_MAX)
		max = UINT32_MAX;
	return max;
}

void
imap_capability_string(struct imap_session *s, struct mm_buf *b)
{
	mm_buf_printf(b, "IMAP4rev1 IMAP4rev2 SASL-IR LITERAL+ ID ENABLE IDLE NAMESPACE");
	if (s->state == IMAP_STATE_NOT_AUTH) {
		if (!conn_is_tls(s->c) && server_tls_available(s->srv))
			mm_buf_printf(b, " STARTTLS");
		if (imap_plaintext_ok(s))
			mm_buf_printf(b, " AUTH=PLAIN AUTH=LOGIN");
		else
			mm_buf_printf(b, " LOGINDISABLED");
		return;
	}
	mm_buf_printf(b, " UIDPLUS MOVE UNSELECT SPECIAL-USE CHILDREN APPENDLIMIT=%llu"
	    " QUOTA QUOTA=RES-STORAGE QUOTA=RES-MESSAGE CONDSTORE QRESYNC COMPRESS=DEFLATE",
	    (unsigned long long)imap_append_limit(s));
	/* issue 11, part A: each only once complete and tested */
	mm_buf_printf(b, " LIST-EXTENDED LIST-STATUS CREATE-SPECIAL-USE STATUS=SIZE MULTIAPPEND"
	    " BINARY CATENATE");
	mm_buf_printf(b, " ESEARCH SEARCHRES SORT SORT=DISPLAY ESORT"
	    " THREAD=ORDEREDSUBJECT THREAD=REFERENCES WITHIN CONTEXT=SEARCH CONTEXT=SORT");
	mm_buf_printf(b, " URLAUTH URLAUTH=BINARY");
	mm_buf_printf(b, " UIDONLY UTF8=ACCEPT");
	mm_buf_printf(b, " NOTIFY");
}

void
imap_run_job(struct imap_session *s, enum worker_lane lane,
    void (*work)(void *arg), void (*done)(void *arg, bool alive), void *arg)
{
	conn_run_job(s->c, lane, work, done, arg);
}

/* ---- wire strings ---- */

/* Are all len bytes ATOM-CHARs (RFC 3501 9), '[' and ']' excluded too?
 * What we write as an atom, and what a flag keyword may be made of. */
static bool
atom_chars_only(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= 0x20 || c >= 0x7f)
			return false;
		switch (c) {
		case '(': case ')': case '{': case '"': case '%': case '*':
		case '\\': case ']': case '[':
			return false;
		}
	}
	return true;
}

static bool
is_atom_safe(const char *s, size_t len)
{
	if (len == 0 || (len == 3 && mm_strncaseeq(s, "NIL", 3)))
		return false;
	return atom_chars_only(s, len);
}

void
imap_append_astring(struct mm_buf *b, const char *s, size_t len)
{
	if (is_atom_safe(s, len))
		mm_buf_append(b, s, len);
	else
		mail_imap_append_stringn(b, s, len);
}

/* A UTF-8 name as it is (RFC 9051 5.1): an atom, a quoted string (UTF-8
 * is a QUOTED-CHAR in RFC 9051 9), or a literal when long. */
#define IMAP_QUOTED_NAME_MAX_BYTES 1024

static void
append_utf8_mailbox(struct mm_buf *b, const char *name)
{
	size_t len = strlen(name);

	if (is_atom_safe(name, len))
		mm_buf_append(b, name, len);
	else if (len <= IMAP_QUOTED_NAME_MAX_BYTES && strpbrk(name, "\r\n") == NULL)
		mail_imap_append_quoted(b, name, len);
	else
		mail_imap_append_stringn(b, name, len);
}

void
imap_append_mailbox(struct imap_session *s, struct mm_buf *b, const char *name)
{
	struct mm_buf w;

	if (imap_utf8_names(s)) {
		append_utf8_mailbox(b, name);
		return;
	}
	mm_buf_init(&w);
	if (!imap_utf8_to_mutf7(name, strlen(name), &w)) {
		/* not valid UTF-8 in the store: show it as it is */
		w.len = 0;
		mm_buf_append(&w, name, strlen(name));
	}
	imap_append_astring(b, w.data ? w.data : "", w.len);
	mm_buf_free(&w);
}

enum mbox_arg { MBOX_ARG_OK, MBOX_ARG_SYNTAX, MBOX_ARG_NAME };

/* Is str[0..len) UTF-8 without control characters? */
static bool
utf8_name_ok(const char *str, size_t len)
{
	struct mm_buf chk;
	bool ok;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)str[i];
		if (c < 0x20 || c == 0x7f)
			return false;
	}
	mm_buf_init(&chk);
	ok = imap_utf8_to_mutf7(str, len, &chk);   /* false for bad UTF-8 */
	mm_buf_free(&chk);
	return ok;
}

/* utf8: the name is UTF-8 as it is (RFC 9051 5.1), not modified UTF-7. */
static enum mbox_arg
mailbox_arg(const struct imap_arg *a, char *out, size_t outlen, bool utf8)
{
	const char *str;
	size_t len;
	struct mm_buf w;
	bool ok = true;

	if (!imap_arg_astring(a, &str, &len) || memchr(str, '\0', len))
		return MBOX_ARG_SYNTAX;
	if (len == 0)
		return MBOX_ARG_NAME;
	mm_buf_init(&w);
	if (utf8) {
		ok = utf8_name_ok(str, len);
		mm_buf_append(&w, str, len);
	} else if (!imap_mutf7_to_utf8(str, len, &w)) {
		/* lenient: a client sending raw UTF-8 */
		bool eight = false;
		for (size_t i = 0; i < len; i++) {
			unsigned char c = (unsigned char)str[i];
			if (c < 0x20 || c == 0x7f)
				eight = false, ok = false;
			else if (c >= 0x80)
				eight = true;
		}
		struct mm_buf chk;
		mm_buf_init(&chk);
		if (!ok || !eight || !imap_utf8_to_mutf7(str, len, &chk))
			ok = false;
		mm_buf_free(&chk);
		w.len = 0;
		mm_buf_append(&w, str, len);
	}
	char *n = mm_buf_cstr(&w);
	size_t nl = w.len;
	while (ok && nl > 1 && n[nl - 1] == '/')
		n[--nl] = '\0';
	if (ok && (nl == 0 || nl >= outlen || strstr(n, "//") != NULL || n[0] == '/'))
		ok = false;
	if (ok) {
		if (nl >= 5 && mm_strncaseeq(n, "INBOX", 5) && (n[5] == '\0' || n[5] == '/'))
			memcpy(n, "INBOX", 5);
		memcpy(out, n, nl + 1);
	}
	mm_buf_free(&w);
	return ok ? MBOX_ARG_OK : MBOX_ARG_NAME;
}

bool
imap_mailbox_arg(const struct imap_arg *a, char *out, size_t outlen)
{
	return mailbox_arg(a, out, outlen, false) == MBOX_ARG_OK;
}

bool
imap_mailbox_arg_reply(struct imap_session *s, const struct imap_arg *a,
    char *out, size_t outlen)
{
	switch (mailbox_arg(a, out, outlen, imap_utf8_names(s))) {
	case MBOX_ARG_OK:
		return true;
	case MBOX_ARG_SYNTAX:
		imap_bad(s, "Invalid mailbox name");
		return false;
	case MBOX_ARG_NAME:
		break;
	}
	imap_no(s, "[CANNOT] Invalid mailbox name");
	return false;
}

/* ---- flags ---- */

static const struct {
	const char *name;
	size_t len;
	uint32_t bit;
} sysflags[] = {
	{ "\\Answered", 9, MSG_ANSWERED },
	{ "\\Flagged", 8, MSG_FLAGGED },
	{ "\\Deleted", 8, MSG_DELETED },
	{ "\\Seen", 5, MSG_SEEN },
	{ "\\Draft", 6, MSG_DRAFT },
};

size_t
imap_flags_max(const struct imap_session *s)
{
	/* "(", each name and a space, "\Recent", ")" */
	size_t n = 2 + 7;
	for (size_t i = 0; i < sizeof(sysflags) / sizeof(sysflags[0]); i++)
		n += sysflags[i].len + 1;
	for (size_t i = 0; i < s->nkeywords && i < 64; i++)
		n += strlen(s->keywords[i]) + 1;
	return n;
}

char *
imap_put_flags(const struct imap_session *s, char *p, const struct imap_msg *m)
{
	char *start = p + 1;
	*p++ = '(';
	for (size_t i = 0; i < sizeof(sysflags) / sizeof(sysflags[0]); i++) {
		if (m->flags & sysflags[i].bit) {
			if (p != start)
				*p++ = ' ';
			memcpy(p, sysflags[i].name, sysflags[i].len);
			p += sysflags[i].len;
		}
	}
	for (size_t i = 0; m->keywords != 0 && i < s->nkeywords && i < 64; i++) {
		if (m->keywords & (1ULL << i)) {
			size_t n = strlen(s->keywords[i]);
			if (p != start)
				*p++ = ' ';
			memcpy(p, s->keywords[i], n);
			p += n;
		}
	}
	if (imap_msg_recent(s, m) && !imap_rev2(s)) {
		/* RFC 9051 2.3.2: IMAP4rev2 has no \Recent flag */
		if (p != start)
			*p++ = ' ';
		memcpy(p, "\\Recent", 7);
		p += 7;
	}
	*p++ = ')';
	return p;
}

void
imap_append_flags(struct imap_session *s, struct mm_buf *b, const struct imap_msg *m)
{
	mm_buf_reserve(b, imap_flags_max(s));
	b->len = (size_t)(imap_put_flags(s, b->data + b->len, m) - b->data);
}

void
imap_append_flag_names(struct imap_session *s, struct mm_buf *b, bool permanent)
{
	mm_buf_appendc(b, '(');
	for (size_t i = 0; i < sizeof(sysflags) / sizeof(sysflags[0]); i++)
		mm_buf_printf(b, "%s%s", i ? " " : "", sysflags[i].name);
	for (size_t i = 0; i < s->nkeywords; i++)
		mm_buf_printf(b, " %s", s->keywords[i]);
	if (permanent && s->nkeywords < STORE_KEYWORDS_MAX)
		mm_buf_printf(b, " \\*");
	mm_buf_appendc(b, ')');
}

void
imap_append_flags_responses(struct imap_session *s, struct mm_buf *b)
{
	mm_buf_append(b, "* FLAGS ", 8);
	imap_append_flag_names(s, b, false);
	mm_buf_append(b, "\r\n* OK [PERMANENTFLAGS ", 23);
	if (s->readonly)
		mm_buf_append(b, "()", 2);
	else
		imap_append_flag_names(s, b, true);
	mm_buf_append(b, "] Flags permitted.\r\n", 20);
}

static bool
keyword_ok(const char *k, size_t len)
{
	if (len == 0 || len > STORE_KEYWORD_MAX_BYTES)
		return false;
	return atom_chars_only(k, len);
}

bool
imap_parse_flags(const struct imap_arg *a, size_t n, uint32_t *flags_r,
    struct mm_strlist *kw, const char **err_r)
{
	*flags_r = 0;
	for (size_t i = 0; i < n; i++) {
		const char *f;
		if (!imap_arg_atom(&a[i], &f)) {
			*err_r = "Flags must be atoms";
			return false;
		}
		if (f[0] == '\\') {
			size_t k;
			for (k = 0; k < sizeof(sysflags) / sizeof(sysflags[0]); k++) {
				if (mm_strcaseeq(f, sysflags[k].name)) {
					*flags_r |= sysflags[k].bit;
					break;
				}
			}
			if (k < sizeof(sysflags) / sizeof(sysflags[0]))
				continue;
			if (mm_strcaseeq(f, "\\Recent")) {
				*err_r = "\\Recent cannot be changed";
				return false;
			}
			*err_r = "Invalid system flag";
			return false;
		}
		if (!keyword_ok(f, a[i].len)) {
			*err_r = "Invalid keyword";
			return false;
		}
		if (!mm_strlist_contains_case(kw, f))
			mm_strlist_add(kw, f);
	}
	return true;
}

/* ---- input ---- */

static const struct imap_cmd *
find_cmd(const char *name)
{
	for (size_t i = 0; i < sizeof(imap_cmds) / sizeof(imap_cmds[0]); i++)
		if (mm_strcaseeq(name, imap_cmds[i].name))
			return &imap_cmds[i];
	return NULL;
}

static void
dispatch(struct imap_session *s)
{
	size_t n;
	const struct imap_arg *args = imap_parser_args(s->parser, &n);
	const char *name = imap_parser_name(s->parser);
	const struct imap_cmd *cmd;

	s->tag = xstrdup(imap_parser_tag(s->parser));
	s->busy = true;
	s->uid = false;
	if (mm_strcaseeq(name, "UID")) {
		if (n == 0 || !imap_arg_atom(&args[0], &name)) {
			imap_bad(s, "Missing UID command");
			return;
		}
		args++;
		n--;
		s->uid = true;
	}
	cmd = find_cmd(name);
	if (cmd == NULL || (s->uid && !(cmd->flags & IMAP_CMD_UID))) {
		imap_bad(s, "Unknown command");
		return;
	}
	if (!(cmd->states & (1u << s->state))) {
		if (s->state == IMAP_STATE_NOT_AUTH)
			imap_bad(s, "Command not valid before login");
		else if (s->state == IMAP_STATE_AUTH && cmd->states == IMAP_S_SELECTED)
			imap_bad(s, "No mailbox selected");
		else
			imap_bad(s, "Command not valid in this state");
		return;
	}
	s->cmd = cmd;
	s->cmd_start_us = metrics_now_us();
	if (log_get_level() >= LOG_LVL_DEBUG) {
		char esc[64];
		log_debug("conn=%llx event=imap-cmd cmd=%s%s tag=\"%s\"",
		    (unsigned long long)conn_id(s->c), s->uid ? "UID " : "", cmd->name,
		    log_escape(esc, sizeof(esc), s->tag, strlen(s->tag)));
	}
	if ((cmd->flags & IMAP_CMD_NOARGS) && n != 0) {
		imap_bad(s, "%s takes no arguments", cmd->name);
		return;
	}
	/* UIDONLY (RFC 9586 3): the commands with a UID form take sequence
	 * numbers without it (plain EXPUNGE takes none) */
	if (!s->uid && (cmd->flags & IMAP_CMD_UID) && cmd->fn != cmd_expunge &&
	    imap_uid_required(s))
		return;
	cmd->fn(s, args, n);
}

static void
parse_error(struct imap_session *s)
{
	enum imap_parse_error e = imap_parser_error(s->parser);
	const char *tag = imap_parser_tag(s->parser);

	if (imap_parser_fatal(s->parser)) {
		imap_bye(s, "Literal too big");
		return;
	}
	if (e == IMAP_PERR_LITERAL_TOO_BIG && tag != NULL) {
		/* a synchronizing literal we refused: not a syntax error */
		conn_printf(s->c, "%s NO [TOOBIG] Literal too big (limit %llu bytes)\r\n",
		    tag, (unsigned long long)(s->state == IMAP_STATE_NOT_AUTH ?
		    IMAP_LITERAL_PREAUTH_MAX : imap_append_limit(s)));
		imap_parser_reset(s->parser);
		return;
	}
	if (tag != NULL)
		conn_printf(s->c, "%s BAD Error in IMAP command: %s\r\n", tag,
		    imap_parser_strerror(e));
	else
		conn_printf(s->c, "* BAD Error in IMAP command: %s\r\n",
		    imap_parser_strerror(e));
	imap_parser_reset(s->parser);
	count_bad(s);
}

/* [limits] max_memory (issue 18): a synchronizing literal is taken
 * only if the budget has room for it; else NO [LIMIT] (RFC 5530), the
 * command dropped, and the transfers under way complete. */
static void literal_release(struct imap_session *s);

static bool
literal_reserve(struct imap_session *s)
{
	uint64_t n = imap_parser_literal_size(s->parser);
	const char *tag = imap_parser_tag(s->parser);

	if (imap_parser_literal_spooled(s->parser)) {
		/* to a spool file: one chunk in RAM */
		if (imap_spool_reserve(s))
			return true;
	} else if (membudget_reserve(n)) {
		s->lit_held += n;
		return true;
	}
	log_warn("conn=%llx event=memory-refused literal=%llu used=%llu limit=%llu",
	    (unsigned long long)conn_id(s->c), (unsigned long long)n,
	    (unsigned long long)membudget_used(), (unsigned long long)membudget_limit());
	conn_printf(s->c, "%s NO [LIMIT] Too much mail data in transit, try again later\r\n",
	    tag != NULL ? tag : "*");
	literal_release(s);
	imap_spool_reset(s);
	imap_parser_reset(s->parser);
	return false;
}

static void
literal_release(struct imap_session *s)
{
	membudget_release(s->lit_held);
	s->lit_held = 0;
}

/* A continuation line (AUTHENTICATE, IDLE). False: wait for more input. */
static bool
line_input(struct imap_session *s)
{
	char *line;
	size_t len;
	unsigned ending;
	size_t max = s->input == IMAP_INPUT_SASL ? SASL_RESPONSE_MAX_BYTES : 64;

	switch (conn_getline(s->c, max, &line, &len, &ending)) {
	case CONN_LINE_NEED_MORE:
		return false;
	case CONN_LINE_TOO_LONG:
		line = NULL;
		len = 0;
		break;
	case CONN_LINE_OK:
		break;
	}
	if (s->input == IMAP_INPUT_SASL)
		imap_sasl_line(s, line, len);
	else
		imap_idle_line(s, line, len);
	return true;
}

static void
imap_on_input(void *arg)
{
	struct imap_session *s = arg;

	/* conn_can_input: not closed, no job, output not above the high
	 * watermark (backpressure: pipelined commands wait in the socket) */
	while (conn_can_input(s->c) && !s->tls_pending) {
		/* looked up each time: COMPRESS puts a new buffer on top */
		struct evbuffer *in = conn_input(s->c);
		if (s->input != IMAP_INPUT_COMMAND) {
			if (!line_input(s))
				break;
			continue;
		}
		if (s->busy)
			break;
		struct evbuffer_iovec v;
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0)
			break;
		size_t used = 0;
		enum imap_parse_result r = imap_parser_push(s->parser, v.iov_base,
		    v.iov_len, &used);
		evbuffer_drain(in, used);
		switch (r) {
		case IMAP_PARSE_NEED_MORE:
			break;
		case IMAP_PARSE_CONTINUE:
			if (!literal_reserve(s))
				break;
			conn_puts(s->c, "+ OK\r\n");
			break;
		case IMAP_PARSE_ERROR:
			literal_release(s);
			imap_spool_reset(s);
			parse_error(s);
			break;
		case IMAP_PARSE_DONE:
			dispatch(s);
			literal_release(s);    /* unless APPEND took it */
			imap_spool_reset(s);   /* the spool files APPEND did not take */
			imap_parser_reset(s->parser);
			break;
		}
	}
}

/* ---- module ---- */

static void *
imap_start(struct conn *c)
{
	struct imap_session *s = xcalloc(1, sizeof(*s));
	struct imap_parser_limits lim = {
		.line_max = IMAP_LINE_MAX_BYTES,
		.literal_max = IMAP_LITERAL_PREAUTH_MAX,
		.args_max = IMAP_ARGS_MAX,
		.nesting_max = IMAP_NESTING_MAX,
	};
	struct mm_buf b;

	s->c = c;
	s->srv = conn_server(c);
	s->parser = imap_parser_new(&lim);
	imap_spool_init(s);
	imap_parser_set_sink(s->parser, MSG_SPOOL_THRESHOLD_BYTES, imap_spool_sink, s);
	s->state = IMAP_STATE_NOT_AUTH;
	conn_set_timeout(c, IMAP_PREAUTH_TIMEOUT_SECS);
	mm_buf_init(&b);
	imap_capability_string(s, &b);
	conn_printf(c, "* OK [CAPABILITY %s] minimaild ready\r\n", mm_buf_cstr(&b));
	mm_buf_free(&b);
	return s;
}

static void
imap_on_tls(void *arg)
{
	struct imap_session *s = arg;
	s->tls_pending = false;
	imap_parser_reset(s->parser);
}

static void
imap_on_drained(void *arg)
{
	imap_fetch_drained(arg);
	imap_pace_drained(arg);
	imap_batch_drained(arg);
}

static void
imap_on_timeout(void *arg)
{
	struct imap_session *s = arg;
	conn_puts(s->c, "* BYE Autologout; idle for too long\r\n");
	imap_enter_state(s, IMAP_STATE_LOGOUT);
}

static const char *
imap_busy_reply(bool per_ip)
{
	return per_ip ? "* BYE Too many connections from your address\r\n" :
	    "* BYE Too many connections\r\n";
}

static void
imap_on_shutdown(void *arg)
{
	struct imap_session *s = arg;
	conn_puts(s->c, "* BYE Server shutting down\r\n");
}

static void
imap_free(void *arg)
{
	struct imap_session *s = arg;
	if (s == NULL)
		return;
	if (s->input == IMAP_INPUT_IDLE)
		metrics_idle(-1);
	imap_fetch_free(s);
	if (s->pace != NULL)
		pace_end(s, false);
	if (s->batch != NULL)
		batch_end(s, false);
	imap_view_clear(s);
	imap_notify_free(s);
	literal_release(s);
	imap_parser_free(&s->parser);
	imap_spool_reset(s);
	imap_sasl_free(s);
	free(s->tag);
	free(s->user);
	free(s->mbox);
	free(s);
}

const struct proto_module imap_module = {
	.name = "imap",
	.start = imap_start,
	.on_input = imap_on_input,
	.on_drained = imap_on_drained,
	.on_tls = imap_on_tls,
	.on_timeout = imap_on_timeout,
	.busy_reply = imap_busy_reply,
	.free = imap_free,
	.on_shutdown = imap_on_shutdown,
};
