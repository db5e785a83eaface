/* ms-session.c: the ManageSieve protocol module (RFC 5804) on the
 * [listen] managesieve listener (STARTTLS): mail clients upload, list,
 * activate, fetch, check and delete a user's Sieve scripts. One session
 * per connection, NONAUTH, SASL (an AUTHENTICATE waiting for the client's
 * response) or AUTH; ms_enter_state() is the only place the state changes.
 *
 * The idea to keep in mind: a command is collected whole before it runs.
 * Lines are read, and a line ending in a literal marker {n+} is followed
 * by exactly n bytes and the rest of the command, all into one buffer
 * (bounded by max_script_size plus a line), which ms-parse.c parses. A
 * literal too large is swallowed and refused once. The store and password
 * checks run as conn jobs (input paused meanwhile, so commands are
 * answered in order); scripts are compiled (src/sieve) on the worker too.
 * The session core is the other protocols': the SASL PLAIN/LOGIN step
 * machine (lib/sasl-session.c), the STARTTLS preamble, the bad-command
 * limit and the meaning of a login's result (net/session.c), the
 * plaintext policy and the growing delay after failed logins (server.c);
 * this file gives them ManageSieve's wording (RFC 5804 quoted strings). */
#include "managesieve/ms-parse.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/config.h"
#include "lib/limits.h"
#include "lib/log.h"
#include "lib/sasl-session.h"
#include "lib/sasl.h"
#include "lib/util.h"
#include "net/conn.h"
#include "net/proto.h"
#include "net/server.h"
#include "net/session.h"
#include "sieve/sieve.h"
#include "store/store.h"

#define MS_AUTOLOGOUT_SECS   1800  /* RFC 5804 has none; as IMAP */
#define MS_PREAUTH_SECS      60

enum ms_state { MS_STATE_NONAUTH = 0, MS_STATE_SASL, MS_STATE_AUTH, MS_STATE_LOGOUT };
static const char *const state_names[] = { "NONAUTH", "SASL", "AUTH", "LOGOUT" };

enum ms_op {
	MS_OP_PUT, MS_OP_CHECK, MS_OP_LIST, MS_OP_SETACTIVE, MS_OP_GET, MS_OP_DELETE,
	MS_OP_RENAME, MS_OP_HAVESPACE,
};

struct ms_session;

struct ms_job {
	struct ms_session *s;
	enum ms_op op;
	struct store *st;
	struct sieve_limits lim;
	char user[ADDRESS_MAX_BYTES + 1];
	char *a, *b;		/* names */
	char *text;		/* script */
	size_t len;
	uint64_t size;
	int err;
	struct mm_buf out;	/* the full answer */
};

struct ms_session {
	struct conn *c;
	struct mm_server *srv;
	enum ms_state state;
	char user[ADDRESS_MAX_BYTES + 1];
	unsigned bad_cmds;
	bool tls_pending;
	/* the command being collected */
	struct mm_buf cmd;
	uint64_t literal_left;	/* literal bytes still to read */
	bool swallow;		/* a literal too large: drop it, then refuse */
	struct sasl_session sasl;	/* AUTHENTICATE: the shared step machine */
	struct ms_job *job;
};

static void
ms_enter_state(struct ms_session *s, enum ms_state st)
{
	log_debug("managesieve conn=%llx state %s -> %s", (unsigned long long)conn_id(s->c),
	    state_names[s->state], state_names[st]);
	s->state = st;
}

static const struct config *
cfg_of(const struct ms_session *s)
{
	return s->srv->cfg;
}

static size_t
max_script(const struct ms_session *s)
{
	return (size_t)cfg_of(s)->sieve_max_script_size;
}

static void
limits_of(const struct ms_session *s, struct sieve_limits *l)
{
	sieve_limits_default(l);
	l->max_script_bytes = max_script(s);
	l->max_actions = cfg_of(s)->sieve_max_actions;
	l->max_redirects = cfg_of(s)->sieve_max_redirects;
	l->vacation_min_days = cfg_of(s)->sieve_vacation_min_days;
}

static bool
plaintext_ok(const struct ms_session *s)
{
	return server_plaintext_auth_ok(s->c);
}

/* A reply line: OK / NO / BYE with an optional response code and text. */
static void
respond(struct ms_session *s, const char *word, const char *code, const char *text)
{
	struct mm_buf b;
	mm_buf_init(&b);
	mm_buf_printf(&b, "%s", word);
	if (code)
		mm_buf_printf(&b, " (%s)", code);
	if (text) {
		mm_buf_appendc(&b, ' ');
		ms_append_string(&b, text, strlen(text));
	}
	mm_buf_append(&b, "\r\n", 2);
	conn_write(s->c, b.data, b.len);
	mm_buf_free(&b);
}

static void
bad_command(struct ms_session *s, const char *why)
{
	respond(s, "NO", NULL, why);
	if (session_bad_command(&s->bad_cmds)) {
		log_info("managesieve conn=%llx event=too-many-bad-commands",
		    (unsigned long long)conn_id(s->c));
		respond(s, "BYE", NULL, "Too many invalid commands");
		conn_close(s->c);
	}
}

static void
capabilities(struct ms_session *s)
{
	struct mm_buf b;
	mm_buf_init(&b);
	mm_buf_printf(&b, "\"IMPLEMENTATION\" \"minimaild\"\r\n");
	mm_buf_printf(&b, "\"SASL\" \"%s\"\r\n", plaintext_ok(s) ? "PLAIN LOGIN" : "");
	mm_buf_printf(&b, "\"SIEVE\" \"%s\"\r\n", sieve_extensions());
	if (!conn_is_tls(s->c) && server_tls_available(s->srv))
		mm_buf_printf(&b, "\"STARTTLS\"\r\n");
	mm_buf_printf(&b, "\"MAXREDIRECTS\" \"%u\"\r\n", cfg_of(s)->sieve_max_redirects);
	mm_buf_printf(&b, "\"VERSION\" \"1.0\"\r\n");
	if (s->state == MS_STATE_AUTH)
		mm_buf_printf(&b, "\"OWNER\" ");
	if (s->state == MS_STATE_AUTH) {
		ms_append_string(&b, s->user, strlen(s->user));
		mm_buf_append(&b, "\r\n", 2);
	}
	mm_buf_printf(&b, "OK\r\n");
	conn_write(s->c, b.data, b.len);
	mm_buf_free(&b);
}

/* ---- store jobs ---- */

static int
list_cb(void *arg, const char *name, bool active)
{
	struct mm_buf *b = arg;
	ms_append_string(b, name, strlen(name));
	mm_buf_printf(b, "%s\r\n", active ? " ACTIVE" : "");
	return 0;
}

struct inc_ctx {
	struct store *st;
	const char *user;
};

static bool
inc_lookup(void *ctx, bool global, const char *name, char **text_r, size_t *len_r)
{
	struct inc_ctx *c = ctx;
	if (global || !store_sieve_name_valid(name))
		return false;
	return store_sieve_get(c->st, c->user, name, text_r, len_r) == STORE_OK;
}

static void
out_reply(struct mm_buf *b, const char *word, const char *code, const char *text)
{
	mm_buf_printf(b, "%s", word);
	if (code)
		mm_buf_printf(b, " (%s)", code);
	if (text) {
		mm_buf_appendc(b, ' ');
		ms_append_string(b, text, strlen(text));
	}
	mm_buf_append(b, "\r\n", 2);
}

static void
store_reply(struct mm_buf *b, int r, const char *what)
{
	if (r == STORE_OK)
		out_reply(b, "OK", NULL, what);
	else if (r == STORE_NOTFOUND)
		out_reply(b, "NO", "NONEXISTENT", "There is no script by that name");
	else if (r == STORE_EXISTS)
		out_reply(b, "NO", "ALREADYEXISTS", "A script by that name exists");
	else if (r == STORE_DENIED)
		out_reply(b, "NO", "ACTIVE", "The active script cannot be deleted");
	else if (r == STORE_LIMIT)
		out_reply(b, "NO", "QUOTA/MAXSCRIPTS", "Too many scripts");
	else if (r == STORE_INVALID)
		out_reply(b, "NO", NULL, "Bad script name");
	else
		out_reply(b, "NO", "TRYLATER", store_strerror(r));
}

static void
job_work(void *arg)
{
	struct ms_job *j = arg;
	struct sieve_script *sc;
	struct sieve_error err;
	struct inc_ctx ic = { j->st, j->user };
	struct sieve_include_if inc = { &ic, inc_lookup, NULL };
	char *t;
	size_t len;
	int r;

	switch (j->op) {
	case MS_OP_PUT:
	case MS_OP_CHECK:
		if (j->len > j->lim.max_script_bytes) {
			out_reply(&j->out, "NO", "QUOTA/MAXSIZE", "Script too large");
			return;
		}
		if (!sieve_compile(j->text, j->len, &j->lim, &inc, &sc, &err)) {
			char msg[400];
			snprintf(msg, sizeof(msg), "line %u: %s", err.line, err.msg);
			out_reply(&j->out, "NO", NULL, msg);
			return;
		}
		sieve_script_free(&sc);
		if (j->op == MS_OP_CHECK) {
			out_reply(&j->out, "OK", NULL, NULL);
			return;
		}
		store_reply(&j->out, store_sieve_put(j->st, j->user, j->a, j->text, j->len), NULL);
		return;
	case MS_OP_LIST:
		r = store_sieve_list(j->st, j->user, list_cb, &j->out);
		if (r != STORE_OK) {
			j->out.len = 0;
			store_reply(&j->out, r, NULL);
		} else {
			out_reply(&j->out, "OK", NULL, NULL);
		}
		return;
	case MS_OP_SETACTIVE:
		store_reply(&j->out, store_sieve_activate(j->st, j->user, j->a), NULL);
		return;
	case MS_OP_GET:
		r = store_sieve_get(j->st, j->user, j->a, &t, &len);
		if (r != STORE_OK) {
			store_reply(&j->out, r, NULL);
			return;
		}
		mm_buf_printf(&j->out, "{%zu}\r\n", len);
		mm_buf_append(&j->out, t, len);
		mm_buf_append(&j->out, "\r\n", 2);
		out_reply(&j->out, "OK", NULL, NULL);
		free(t);
		return;
	case MS_OP_DELETE:
		store_reply(&j->out, store_sieve_del(j->st, j->user, j->a), NULL);
		return;
	case MS_OP_RENAME:
		store_reply(&j->out, store_sieve_rename(j->st, j->user, j->a, j->b), NULL);
		return;
	case MS_OP_HAVESPACE:
		if (j->size > j->lim.max_script_bytes)
			out_reply(&j->out, "NO", "QUOTA/MAXSIZE", "Script too large");
		else
			out_reply(&j->out, "OK", NULL, NULL);
		return;
	}
}

static void
job_free(struct ms_job **j)
{
	if (*j == NULL)
		return;
	free((*j)->a);
	free((*j)->b);
	free((*j)->text);
	mm_buf_free(&(*j)->out);
	free(*j);
	*j = NULL;
}

static void
job_done(void *arg, bool alive)
{
	struct ms_job *j = arg;
	struct ms_session *s = j->s;
	s->job = NULL;
	if (alive)
		conn_write(s->c, j->out.data, j->out.len);
	job_free(&j);
}

/* A job for op; the caller fills its arguments, then start_job(). */
static struct ms_job *
new_job(struct ms_session *s, enum ms_op op)
{
	struct ms_job *j = xcalloc(1, sizeof(*j));
	j->s = s;
	j->op = op;
	j->st = s->srv->store;
	limits_of(s, &j->lim);
	mm_strlcpy(j->user, s->user, sizeof(j->user));
	mm_buf_init(&j->out);
	return j;
}

static void
start_job(struct ms_session *s, struct ms_job *j)
{
	s->job = j;
	/* scripts are small; PUTSCRIPT and SETACTIVE write: the commit lane */
	conn_run_job(s->c, WORKER_LANE_COMMIT, job_work, job_done, j);
}

/* ---- authentication ---- */

static void
auth_done(void *arg, bool ok, int err, const char *canon, unsigned fails)
{
	struct ms_session *s = arg;
	enum session_auth_outcome o = session_auth_outcome(ok, err, fails);
	if (o != SESSION_AUTH_OK) {
		if (o == SESSION_AUTH_TEMPFAIL)
			respond(s, "NO", "TRYLATER", "Authentication temporarily unavailable");
		else
			respond(s, "NO", NULL, "Authentication failed");
		ms_enter_state(s, MS_STATE_NONAUTH);
		if (o == SESSION_AUTH_FAILED_CLOSE) {
			respond(s, "BYE", NULL, "Too many authentication failures");
			conn_close(s->c);
		}
		return;
	}
	mm_strlcpy(s->user, canon, sizeof(s->user));
	ms_enter_state(s, MS_STATE_AUTH);
	conn_set_timeout(s->c, MS_AUTOLOGOUT_SECS);
	log_info("managesieve conn=%llx event=login user=%s tls=%d", (unsigned long long)conn_id(s->c),
	    canon, conn_is_tls(s->c));
	respond(s, "OK", NULL, "Logged in");
}

/* ---- SASL (RFC 5804 2.1): ManageSieve's wording of the shared step
 * machine: challenges and responses are strings ---- */

static void
sasl_challenge(void *sess, enum sasl_session_step next, const char *b64)
{
	struct ms_session *s = sess;
	(void)next;
	ms_enter_state(s, MS_STATE_SASL);
	struct mm_buf b;
	mm_buf_init(&b);
	ms_append_string(&b, b64, strlen(b64));
	mm_buf_append(&b, "\r\n", 2);
	conn_write(s->c, b.data, b.len);
	mm_buf_free(&b);
}

static void
sasl_failed(void *sess, enum sasl_session_end why, enum sasl_result r)
{
	struct ms_session *s = sess;
	ms_enter_state(s, MS_STATE_NONAUTH);
	switch (why) {
	case SASL_SESSION_CANCELLED:
		bad_command(s, "Authentication cancelled");
		return;
	case SASL_SESSION_TOO_LONG:
		bad_command(s, "SASL response too long");
		return;
	case SASL_SESSION_UNDECODABLE:
		break;
	}
	if (r == SASL_AUTHZID_MISMATCH)
		bad_command(s, "Authorization identity must be empty or the user");
	else
		bad_command(s, "Invalid SASL response");
}

static void
sasl_check(void *sess, const char *user, const char *password)
{
	struct ms_session *s = sess;
	ms_enter_state(s, MS_STATE_NONAUTH);
	server_auth(s->c, user, password, auth_done);
}

static const struct sasl_session_ops ms_sasl_ops = {
	.challenge = sasl_challenge,
	.failed = sasl_failed,
	.check = sasl_check,
	.password_max_bytes = STORE_PASSWORD_MAX_BYTES,
	/* RFC 5804 2.1: only a continuation "*" cancels; an initial
	 * response "*" is decoded (and refused), as in IMAP */
	.cancel_in_initial_response = false,
};

static void
cmd_authenticate(struct ms_session *s, const struct ms_cmd *cmd)
{
	if (s->state != MS_STATE_NONAUTH) {
		bad_command(s, "Already authenticated");
		return;
	}
	if (cmd->nargs < 1 || cmd->nargs > 2 || cmd->args[0].k != MS_ARG_STRING ||
	    (cmd->nargs == 2 && cmd->args[1].k != MS_ARG_STRING)) {
		bad_command(s, "Usage: AUTHENTICATE \"MECHANISM\" [\"initial response\"]");
		return;
	}
	if (!plaintext_ok(s)) {
		respond(s, "NO", "ENCRYPT-NEEDED", "Plaintext authentication disallowed, use STARTTLS");
		return;
	}
	enum sasl_mech m = sasl_mech_parse(cmd->args[0].s);
	if (m == SASL_MECH_UNKNOWN) {
		bad_command(s, "Unsupported SASL mechanism");
		return;
	}
	sasl_session_begin(&s->sasl, &ms_sasl_ops, s, m,
	    cmd->nargs == 2 ? cmd->args[1].s : NULL, cmd->nargs == 2 ? cmd->args[1].len : 0);
}

/* ---- STARTTLS (RFC 5804 2.2): the shared preamble ---- */

static void
stls_refuse(void *sess, enum session_tls_refusal why)
{
	struct ms_session *s = sess;
	if (why == SESSION_TLS_ACTIVE)
		bad_command(s, "TLS is active already");
	else
		respond(s, "NO", NULL, "TLS not available");
}

static void
stls_go_ahead(void *sess)
{
	struct ms_session *s = sess;
	respond(s, "OK", NULL, "Begin TLS negotiation now");
	/* nothing said before the handshake counts after it */
	s->cmd.len = 0;
	s->literal_left = 0;
	s->swallow = false;
}

static void
stls_started(void *sess, bool ok)
{
	struct ms_session *s = sess;
	if (!ok) {
		conn_close(s->c);
		return;
	}
	s->tls_pending = true;
}

static const struct session_starttls_ops ms_stls_ops = {
	.refuse = stls_refuse,
	.go_ahead = stls_go_ahead,
	.started = stls_started,
};

/* ---- commands ---- */

static bool
want_args(struct ms_session *s, const struct ms_cmd *cmd, size_t n, const char *usage)
{
	if (cmd->nargs != n) {
		bad_command(s, usage);
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		if (cmd->args[i].k != MS_ARG_STRING && !(i == 1 && strcmp(cmd->verb, "HAVESPACE") == 0)) {
			bad_command(s, usage);
			return false;
		}
	}
	return true;
}

static bool
name_ok(struct ms_session *s, const struct ms_arg *a, bool empty_ok)
{
	if ((empty_ok && a->len == 0) || (strlen(a->s) == a->len && store_sieve_name_valid(a->s)))
		return true;
	respond(s, "NO", NULL, "Bad script name");
	return false;
}

static void
ms_command(struct ms_session *s, const struct ms_cmd *cmd)
{
	const char *v = cmd->verb;
	log_debug("managesieve conn=%llx cmd=%s", (unsigned long long)conn_id(s->c), v);
	if (strcmp(v, "CAPABILITY") == 0) {
		capabilities(s);
		return;
	}
	if (strcmp(v, "LOGOUT") == 0) {
		respond(s, "OK", NULL, "Logout completed");
		ms_enter_state(s, MS_STATE_LOGOUT);
		conn_close(s->c);
		return;
	}
	if (strcmp(v, "NOOP") == 0) {
		if (cmd->nargs == 1 && cmd->args[0].k == MS_ARG_STRING) {
			struct mm_buf b;
			mm_buf_init(&b);
			mm_buf_printf(&b, "OK (TAG ");
			ms_append_string(&b, cmd->args[0].s, cmd->args[0].len);
			mm_buf_printf(&b, ") \"Done\"\r\n");
			conn_write(s->c, b.data, b.len);
			mm_buf_free(&b);
		} else {
			respond(s, "OK", NULL, "Done");
		}
		return;
	}
	if (strcmp(v, "STARTTLS") == 0) {
		if (s->state != MS_STATE_NONAUTH) {
			bad_command(s, "STARTTLS not allowed now");
			return;
		}
		session_starttls(s->c, &ms_stls_ops, s);
		return;
	}
	if (strcmp(v, "AUTHENTICATE") == 0) {
		cmd_authenticate(s, cmd);
		return;
	}
	if (s->state != MS_STATE_AUTH) {
		bad_command(s, "Authenticate first");
		return;
	}
	if (strcmp(v, "UNAUTHENTICATE") == 0) {
		s->user[0] = '\0';
		ms_enter_state(s, MS_STATE_NONAUTH);
		respond(s, "OK", NULL, NULL);
		return;
	}
	if (strcmp(v, "LISTSCRIPTS") == 0) {
		if (want_args(s, cmd, 0, "Usage: LISTSCRIPTS"))
			start_job(s, new_job(s, MS_OP_LIST));
		return;
	}
	if (strcmp(v, "PUTSCRIPT") == 0 || strcmp(v, "CHECKSCRIPT") == 0) {
		bool put = v[0] == 'P';
		if (!want_args(s, cmd, put ? 2 : 1, put ? "Usage: PUTSCRIPT \"name\" {n+} script" :
		    "Usage: CHECKSCRIPT {n+} script"))
			return;
		if (put && !name_ok(s, &cmd->args[0], false))
			return;
		const struct ms_arg *t = &cmd->args[put ? 1 : 0];
		struct ms_job *j = new_job(s, put ? MS_OP_PUT : MS_OP_CHECK);
		if (put)
			j->a = xstrdup(cmd->args[0].s);
		j->text = xmalloc(t->len + 1);
		memcpy(j->text, t->s, t->len);
		j->len = t->len;
		start_job(s, j);
		return;
	}
	enum ms_op op;
	size_t n;
	const char *usage;
	if (strcmp(v, "SETACTIVE") == 0) {
		op = MS_OP_SETACTIVE; n = 1; usage = "Usage: SETACTIVE \"name\"";
	} else if (strcmp(v, "GETSCRIPT") == 0) {
		op = MS_OP_GET; n = 1; usage = "Usage: GETSCRIPT \"name\"";
	} else if (strcmp(v, "DELETESCRIPT") == 0) {
		op = MS_OP_DELETE; n = 1; usage = "Usage: DELETESCRIPT \"name\"";
	} else if (strcmp(v, "RENAMESCRIPT") == 0) {
		op = MS_OP_RENAME; n = 2; usage = "Usage: RENAMESCRIPT \"old\" \"new\"";
	} else if (strcmp(v, "HAVESPACE") == 0) {
		op = MS_OP_HAVESPACE; n = 2; usage = "Usage: HAVESPACE \"name\" size";
	} else {
		bad_command(s, "Unknown command");
		return;
	}
	if (!want_args(s, cmd, n, usage))
		return;
	if (op == MS_OP_HAVESPACE && cmd->args[1].k != MS_ARG_NUMBER) {
		bad_command(s, usage);
		return;
	}
	if (!name_ok(s, &cmd->args[0], op == MS_OP_SETACTIVE) ||
	    (op == MS_OP_RENAME && !name_ok(s, &cmd->args[1], false)))
		return;
	struct ms_job *j = new_job(s, op);
	j->a = xstrdup(cmd->args[0].s);
	if (op == MS_OP_RENAME)
		j->b = xstrdup(cmd->args[1].s);
	if (op == MS_OP_HAVESPACE)
		j->size = cmd->args[1].num;
	start_job(s, j);
}

/* ---- input ---- */

static void
command_end(struct ms_session *s)
{
	struct ms_cmd cmd;
	char err[128];
	bool sasl = s->state == MS_STATE_SASL;
	if (s->swallow) {
		s->swallow = false;
		s->cmd.len = 0;
		if (sasl)
			sasl_session_line(&s->sasl, &ms_sasl_ops, s, NULL, 0);
		else
			respond(s, "NO", "QUOTA/MAXSIZE", "Literal too large");
		return;
	}
	if (sasl) {
		/* a SASL response is one string */
		char *line = s->cmd.data;
		size_t len = s->cmd.len;
		struct ms_cmd c2;
		struct mm_buf wrap;
		mm_buf_init(&wrap);
		mm_buf_printf(&wrap, "X ");
		mm_buf_append(&wrap, line, len);
		bool ok = ms_parse(wrap.data, wrap.len, &c2, err, sizeof(err));
		explicit_bzero(wrap.data, wrap.len);
		mm_buf_free(&wrap);
		explicit_bzero(s->cmd.data, s->cmd.len);
		s->cmd.len = 0;
		if (!ok || c2.nargs != 1 || c2.args[0].k != MS_ARG_STRING) {
			if (ok)
				ms_cmd_free(&c2);
			sasl_session_reset(&s->sasl);
			ms_enter_state(s, MS_STATE_NONAUTH);
			bad_command(s, "Expected a SASL response string");
			return;
		}
		sasl_session_line(&s->sasl, &ms_sasl_ops, s, c2.args[0].s, c2.args[0].len);
		explicit_bzero(c2.args[0].s, c2.args[0].len);
		ms_cmd_free(&c2);
		return;
	}
	bool ok = ms_parse(s->cmd.data, s->cmd.len, &cmd, err, sizeof(err));
	s->cmd.len = 0;
	if (!ok) {
		bad_command(s, err);
		return;
	}
	ms_command(s, &cmd);
	ms_cmd_free(&cmd);
}

static void
ms_on_input(void *arg)
{
	struct ms_session *s = arg;
	while (!conn_is_closed(s->c) && !conn_job_running(s->c) && s->job == NULL &&
	    !s->tls_pending && s->state != MS_STATE_LOGOUT) {
		if (s->literal_left > 0) {
			size_t avail = conn_input_len(s->c);
			if (avail == 0)
				return;
			size_t n = avail < s->literal_left ? avail : (size_t)s->literal_left;
			if (s->swallow) {
				conn_read_bytes(s->c, NULL, n);
			} else {
				mm_buf_reserve(&s->cmd, n);
				conn_read_bytes(s->c, s->cmd.data + s->cmd.len, n);
				s->cmd.len += n;
			}
			s->literal_left -= n;
			continue;
		}
		char *line;
		size_t len;
		unsigned ending;
		enum conn_line r = conn_getline(s->c, MS_LINE_MAX_BYTES, &line, &len, &ending);
		if (r == CONN_LINE_NEED_MORE)
			return;
		if (r == CONN_LINE_TOO_LONG) {
			s->cmd.len = 0;
			s->swallow = false;
			if (s->state == MS_STATE_SASL)
				sasl_session_line(&s->sasl, &ms_sasl_ops, s, NULL, 0);
			else
				bad_command(s, "Line too long");
			continue;
		}
		uint64_t n;
		bool sync;
		if (!s->swallow) {
			mm_buf_append(&s->cmd, line, len);
			mm_buf_append(&s->cmd, "\r\n", 2);
		}
		if (ms_literal_marker(line, len, &n, &sync)) {
			if (n > max_script(s) + MS_LINE_MAX_BYTES || s->cmd.len + n > max_script(s) + 2 * MS_LINE_MAX_BYTES) {
				s->swallow = true;
				s->cmd.len = 0;
			}
			if (sync && !s->swallow)
				conn_puts(s->c, "OK\r\n");	/* not in RFC 5804; harmless */
			s->literal_left = n;
			if (n == 0)
				continue;
			continue;
		}
		command_end(s);
	}
}

/* ---- module ---- */

static void *
ms_start(struct conn *c)
{
	struct ms_session *s = xcalloc(1, sizeof(*s));
	s->c = c;
	s->srv = conn_server(c);
	s->state = MS_STATE_NONAUTH;
	mm_buf_init(&s->cmd);
	conn_set_timeout(c, MS_PREAUTH_SECS);
	capabilities(s);
	return s;
}

static void
ms_on_tls(void *arg)
{
	struct ms_session *s = arg;
	s->tls_pending = false;
	/* RFC 5804 2.2: the capabilities again, after the handshake */
	capabilities(s);
}

static void
ms_on_timeout(void *arg)
{
	struct ms_session *s = arg;
	respond(s, "BYE", NULL, "Idle for too long");
}

static const char *
ms_busy_reply(bool per_ip)
{
	return per_ip ? "BYE \"Too many connections from your address\"\r\n" :
	    "BYE \"Too many connections\"\r\n";
}

static void
ms_on_shutdown(void *arg)
{
	struct ms_session *s = arg;
	respond(s, "BYE", NULL, "Server shutting down");
}

static void
ms_on_drained(void *arg)
{
	(void)arg;
}

static void
ms_free(void *arg)
{
	struct ms_session *s = arg;
	if (s == NULL)
		return;
	job_free(&s->job);
	sasl_session_reset(&s->sasl);
	if (s->cmd.data)
		explicit_bzero(s->cmd.data, s->cmd.cap);
	mm_buf_free(&s->cmd);
	explicit_bzero(s, sizeof(*s));
	free(s);
}

const struct proto_module managesieve_module = {
	.name = "managesieve",
	.start = ms_start,
	.on_input = ms_on_input,
	.on_drained = ms_on_drained,
	.on_tls = ms_on_tls,
	.on_timeout = ms_on_timeout,
	.busy_reply = ms_busy_reply,
	.free = ms_free,
	.on_shutdown = ms_on_shutdown,
};
