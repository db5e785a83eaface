/* smtp-session.c: the SMTP protocol module (RFC 5321, 6409, 8314, 3207):
 * session states, the command table, EHLO, STARTTLS, MAIL and RCPT with
 * the per-listener policy, and the one log line per transaction. DATA and
 * BDAT live in smtp-data.c, AUTH in smtp-auth.c.
 *
 * The one idea: commands are taken from the input buffer one at a time,
 * in order, and the loop stops as soon as a command started a worker job
 * (store lookups, delivery, password checks). The conn keeps the rest of
 * the pipelined input buffered and offers it again when the job's done
 * function has written its reply, so replies always come out in command
 * order (PIPELINING, RFC 2920) without any queue of our own. Two things
 * keep a pipelined transaction to few worker round trips and few writes:
 * the RCPTs already buffered behind a MAIL or RCPT that takes a job are
 * looked up in that same job (they are still taken as commands one by
 * one, below), and the conn holds the replies written so far while a job
 * runs with input buffered (conn_coalesce_output), so 250 250 354 leave
 * in one write. */
#include "smtp/smtp-private.h"

#include "dkim/dkim.h"
#include "inbound/inbound.h"
#include "inbound/milter.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/config.h"
#include "lib/log.h"
#include "lib/membudget.h"
#include "lib/metrics.h"
#include "net/conn.h"
#include "net/proto.h"
#include "net/server.h"
#include "net/session.h"
#include "store/store.h"

static const char *const state_names[SMTP_STATE_COUNT] = {
	[SMTP_STATE_NEW] = "NEW",
	[SMTP_STATE_CONNECTED] = "CONNECTED",
	[SMTP_STATE_TLS] = "TLS",
	[SMTP_STATE_HELO] = "HELO",
	[SMTP_STATE_AUTH_INIT] = "AUTH_INIT",
	[SMTP_STATE_AUTH_USERNAME] = "AUTH_USERNAME",
	[SMTP_STATE_AUTH_PASSWORD] = "AUTH_PASSWORD",
	[SMTP_STATE_BODY] = "BODY",
	[SMTP_STATE_BDAT] = "BDAT",
	[SMTP_STATE_QUIT] = "QUIT",
};

const struct config *
smtp_cfg(const struct smtp_session *s)
{
	return s->srv->cfg;
}

const char *
smtp_hostname(const struct smtp_session *s)
{
	return s->srv->cfg->hostname;
}

void
smtp_enter_state(struct smtp_session *s, enum smtp_state st)
{
	enum smtp_state old = s->state;

	if (old != st)
		log_debug("smtp session=%llx state %s -> %s", s->id, state_names[old],
		    state_names[st]);
	s->state = st;
	if (st == SMTP_STATE_BODY || st == SMTP_STATE_BDAT) {
		if (old != SMTP_STATE_BODY && old != SMTP_STATE_BDAT)
			conn_set_timeout(s->c, SMTP_DATA_TIMEOUT_SECS);
	} else if (old == SMTP_STATE_BODY || old == SMTP_STATE_BDAT || old == SMTP_STATE_NEW)
		conn_set_timeout(s->c, SMTP_CMD_TIMEOUT_SECS);
}

void
smtp_enter_ready(struct smtp_session *s)
{
	smtp_enter_state(s, s->helo[0] ? SMTP_STATE_HELO : SMTP_STATE_CONNECTED);
}

static void
smtp_vreply(struct smtp_session *s, bool now, const char *fmt, va_list ap)
{
	char buf[1024];
	int n = vsnprintf(buf, sizeof(buf) - 2, fmt, ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(buf) - 3)
		n = sizeof(buf) - 3;
	if (log_get_level() >= LOG_LVL_DEBUG) {
		char esc[1100];
		log_escape(esc, sizeof(esc), buf, n);
		log_debug("smtp session=%llx > %s", s->id, esc);
	}
	buf[n++] = '\r';
	buf[n++] = '\n';
	if (s->cmd_start_us != 0) {
		metrics_observe(MH_CMD_SMTP, metrics_now_us() - s->cmd_start_us);
		s->cmd_start_us = 0;
	}
	if (now)
		conn_write_now(s->c, buf, n);
	else
		conn_write(s->c, buf, n);
}

void
smtp_reply(struct smtp_session *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	smtp_vreply(s, false, fmt, ap);
	va_end(ap);
}

void
smtp_reply_now(struct smtp_session *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	smtp_vreply(s, true, fmt, ap);
	va_end(ap);
}

bool
smtp_bad_command(struct smtp_session *s)
{
	if (!session_bad_command(&s->bad_cmds))
		return false;
	log_info("smtp session=%llx event=too-many-errors addr=%s", s->id, conn_peer_addr(s->c));
	smtp_reply(s, "421 4.7.0 %s Error: too many errors", smtp_hostname(s));
	smtp_tx_end(s, "aborted: too many errors");
	smtp_enter_state(s, SMTP_STATE_QUIT);
	conn_close(s->c);
	return true;
}

bool
smtp_store_failing(struct smtp_session *s)
{
	if (s->srv->store == NULL || !store_failed(s->srv->store))
		return false;
	log_error("smtp session=%llx event=refused reason=store-failed addr=%s", s->id,
	    conn_peer_addr(s->c));
	smtp_reply(s, "421 4.3.0 %s Error: mail storage is failing, try again later",
	    smtp_hostname(s));
	smtp_tx_end(s, "aborted: store failed");
	smtp_enter_state(s, SMTP_STATE_QUIT);
	conn_close(s->c);
	return true;
}

static void ahead_clear(struct smtp_session *s);

/* ---- transaction log ---- */

static void
tx_log(struct smtp_session *s, const char *result)
{
	struct smtp_tx *tx = s->tx;
	char from[ADDRESS_MAX_BYTES * 2], user[ADDRESS_MAX_BYTES * 2], res[300];
	struct mm_buf to;

	mm_buf_init(&to);
	for (size_t i = 0; i < tx->rcpts.n; i++) {
		char esc[ADDRESS_MAX_BYTES * 2];
		if (to.len > 2000) {
			mm_buf_printf(&to, ",...");
			break;
		}
		log_escape(esc, sizeof(esc), tx->rcpts.v[i], strlen(tx->rcpts.v[i]));
		mm_buf_printf(&to, "%s<%s>", i ? "," : "", esc);
	}
	log_escape(from, sizeof(from), tx->from, strlen(tx->from));
	log_escape(user, sizeof(user), s->user, strlen(s->user));
	log_escape(res, sizeof(res), result, strlen(result));
	log_info("smtp session=%llx event=tx id=%s addr=%s tls=%s user=\"%s\" from=<%s> "
	    "to=\"%s\" rcpts=%zu rejected=%u size=%llu result=\"%s\"",
	    s->id, tx->id, conn_peer_addr(s->c),
	    conn_is_tls(s->c) ? conn_tls_version(s->c) : "no", user, from,
	    to.len ? mm_buf_cstr(&to) : "", tx->rcpts.n, tx->rejected,
	    (unsigned long long)tx->datalen, res);
	mm_buf_free(&to);
}

void
smtp_tx_end(struct smtp_session *s, const char *result)
{
	struct smtp_tx *tx = s->tx;

	ahead_clear(s);
	if (tx == NULL)
		return;
	if (result)
		tx_log(s, result);
	mm_strlist_clear(&tx->rcpts);
	mm_strlist_clear(&tx->users);
	mm_strlist_clear(&tx->remote);
	mm_buf_free(&tx->msg);
	mm_buf_free(&tx->spill);
	if (tx->spool_fd >= 0)
		(void)close(tx->spool_fd);   /* nameless: this removes it */
	membudget_release(tx->mem_held);
	dkim_verify_free(&tx->dkim);
	free(tx);
	s->tx = NULL;
}

/* ---- simple commands ---- */

static void
cmd_helo(struct smtp_session *s, const struct smtp_cmdline *cmd)
{
	char name[SMTP_DOMAIN_MAX_BYTES + 1];
	const char *caps[12];
	size_t n = 0;
	char size[48];
	enum smtp_perr err;

	err = smtp_parse_helo(cmd->args, cmd->argslen, name);
	if (err != SMTP_PERR_OK) {
		if (err == SMTP_PERR_HELO_SYNTAX)
			smtp_reply(s, "501 5.5.4 Syntax: %s hostname", cmd->verb_str);
		else
			smtp_reply(s, "%s", smtp_perr_reply(err));
		smtp_bad_command(s);
		return;
	}
	smtp_tx_end(s, "aborted: new EHLO");
	mm_strlcpy(s->helo, name, sizeof(s->helo));
	s->esmtp = cmd->verb == SMTP_CMD_EHLO;
	smtp_enter_state(s, SMTP_STATE_HELO);
	if (!s->esmtp) {
		smtp_reply(s, "250 %s", smtp_hostname(s));
		return;
	}

	snprintf(size, sizeof(size), "SIZE %llu", (unsigned long long)smtp_cfg(s)->max_message_size);
	caps[n++] = "PIPELINING";
	caps[n++] = size;
	if (!conn_is_tls(s->c) && server_tls_available(s->srv))
		caps[n++] = "STARTTLS";
	if (smtp_auth_offered(s) && s->user[0] == '\0')
		caps[n++] = "AUTH PLAIN LOGIN";
	caps[n++] = "ENHANCEDSTATUSCODES";
	caps[n++] = "8BITMIME";
	caps[n++] = "SMTPUTF8";
	caps[n++] = "CHUNKING";
	smtp_reply(s, "250-%s", smtp_hostname(s));
	for (size_t i = 0; i < n; i++)
		smtp_reply(s, "250%c%s", i + 1 == n ? ' ' : '-', caps[i]);
}

static void
cmd_rset(struct smtp_session *s, const struct smtp_cmdline *cmd)
{
	smtp_tx_end(s, "aborted: RSET");
	smtp_enter_ready(s);
	smtp_reply(s, "250 2.0.0 Ok");
}

static void
cmd_noop(struct smtp_session *s, const struct smtp_cmdline *cmd)
{
	smtp_reply(s, "250 2.0.0 Ok");
}

static void
cmd_quit(struct smtp_session *s, const struct smtp_cmdline *cmd)
{
	smtp_reply(s, "221 2.0.0 Bye");
	smtp_tx_end(s, "aborted: QUIT");
	smtp_enter_state(s, SMTP_STATE_QUIT);
	conn_close(s->c);
}

static void
cmd_vrfy(struct smtp_session *s, const struct smtp_cmdline *cmd)
{
	/* RFC 5321 3.5.3: 252 reveals nothing about who exists. */
	smtp_reply(s, "252 2.0.0 Cannot %s user; send mail and delivery will be attempted",
	    cmd->verb_str);
}

static void
cmd_help(struct smtp_session *s, const struct smtp_cmdline *cmd)
{
	smtp_reply(s, "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT "
	    "VRFY HELP STARTTLS AUTH");
}

/* SMTP's wording of the shared STARTTLS preamble (net/session.c) */
static void
starttls_refuse(void *sess, enum session_tls_refusal why)
{
	struct smtp_session *s = sess;

	if (why == SESSION_TLS_ACTIVE) {
		smtp_reply(s, "503 5.5.1 Error: TLS already active");
		smtp_bad_command(s);
	} else {
		smtp_reply(s, "454 4.7.0 TLS not available");
	}
}

static void
starttls_go_ahead(void *sess)
{
	struct smtp_session *s = sess;

	smtp_reply(s, "220 2.0.0 Ready to start TLS");
	smtp_tx_end(s, "aborted: STARTTLS");
}

static void
starttls_started(void *sess, bool ok)
{
	struct smtp_session *s = sess;

	if (!ok) {
		smtp_enter_state(s, SMTP_STATE_QUIT);
		conn_close(s->c);
		return;
	}
	smtp_enter_state(s, SMTP_STATE_TLS);
}

static const struct session_starttls_ops smtp_starttls_ops = {
	.refuse = starttls_refuse,
	.go_ahead = starttls_go_ahead,
	.started = starttls_started,
};

static void
cmd_starttls(struct smtp_session *s, const struct smtp_cmdline *cmd)
{
	session_starttls(s->c, &smtp_starttls_ops, s);
}

/* ---- recipient checks, looked up ahead ----
 *
 * A local recipient needs the store (who it resolves to, their quota): a
 * worker job. The RCPTs a client pipelined behind a MAIL or RCPT that
 * takes a job are already in the input buffer; they are parsed there
 * (not consumed) and looked up in the same job. Each is then still taken
 * as a command in order, through every check cmd_rcpt makes, and uses its
 * looked-up answer instead of a job of its own; the first RCPT that does
 * not match the next answer drops them all (and takes its own job). So the
 * replies, the limits and the bad-command count are those of one job per
 * RCPT, in fewer worker round trips. */

struct smtp_rcpt_check {
	char rcpt[ADDRESS_MAX_BYTES + 1];      /* as given (for the reply) */
	char lookup[ADDRESS_MAX_BYTES + 1];    /* what we resolve */
	uint64_t declared_size;
	int err;
	struct mm_strlist users, remote;
	bool full[SMTP_RCPT_USERS_MAX];        /* over quota now */
	bool never[SMTP_RCPT_USERS_MAX];       /* the declared size can never fit */
};

static void
rcpt_check_free(struct smtp_rcpt_check *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		mm_strlist_clear(&v[i].users);
		mm_strlist_clear(&v[i].remote);
	}
	free(v);
}

static void
ahead_clear(struct smtp_session *s)
{
	rcpt_check_free(s->ahead, s->nahead);
	s->ahead = NULL;
	s->nahead = s->iahead = 0;
}

/* Worker thread. */
static void
rcpt_check_run(struct store *st, struct smtp_rcpt_check *k)
{
	char users[SMTP_RCPT_USERS_MAX][321], remote[SMTP_RCPT_USERS_MAX][321];
	size_t nusers = 0, nremote = 0;
	/* before the lookup: a change from here on keeps it out of the cache */
	uint64_t gen = store_rcpt_cache_gen(st);
	bool cacheable = true;

	k->err = store_resolve(st, k->lookup, users, SMTP_RCPT_USERS_MAX, &nusers,
	    remote, SMTP_RCPT_USERS_MAX, &nremote);
	if (k->err != STORE_OK)
		return;
	for (size_t i = 0; i < nusers; i++)
		mm_strlist_add(&k->users, users[i]);
	for (size_t i = 0; i < nremote; i++)
		mm_strlist_add(&k->remote, remote[i]);
	for (size_t i = 0; i < nusers; i++) {
		struct store_user u;
		uint64_t bytes, msgs;

		if (store_user_get(st, users[i], &u) != STORE_OK) {
			cacheable = false;
			continue;
		}
		if (u.quota_bytes == 0 && u.quota_messages == 0)
			continue;
		cacheable = false;      /* its usage changes with every delivery */
		if (store_quota_usage(st, users[i], &bytes, &msgs) != STORE_OK)
			continue;
		if (u.quota_bytes && k->declared_size > u.quota_bytes)
			k->never[i] = k->full[i] = true;
		else if ((u.quota_bytes && (bytes >= u.quota_bytes ||
		    bytes + k->declared_size > u.quota_bytes)) ||
		    (u.quota_messages && msgs >= u.quota_messages))
			k->full[i] = true;
	}
	if (cacheable)
		store_rcpt_cache_put(st, gen, k->lookup, (const char (*)[321])users, nusers,
		    (const char (*)[321])remote, nremote);
}

/* Loop thread: k answered from the RCPT cache without a job (the same
 * answer rcpt_check_run gives for users without quota), or false. */
static bool
rcpt_check_cached(struct store *st, struct smtp_rcpt_check *k)
{
	char users[SMTP_RCPT_USERS_MAX][321], remote[SMTP_RCPT_USERS_MAX][321];
	size_t nusers, nremote;

	if (!store_rcpt_cache_get(st, k->lookup, users, SMTP_RCPT_USERS_MAX, &nusers,
	    remote, SMTP_RCPT_USERS_MAX, &nremote))
		return false;
	k->err = STORE_OK;
	for (size_t i = 0; i < nusers; i++)
		mm_strlist_add(&k->users, users[i]);
	for (size_t i = 0; i < nremote; i++)
		mm_strlist_add(&k->remote, remote[i]);
	return true;
}

/* The lookup of one RCPT: false when it needs no store (refused here,
 * or a remote recipient, which cmd_rcpt handles itself). */
static bool
rcpt_local_lookup(const struct config *cfg, const struct smtp_path *path, char *lookup,
    size_t len)
{
	if (!path->postmaster && (path->literal || !config_is_local_domain(cfg, path->domain)))
		return false;
	if (path->postmaster && cfg->domains.n > 0)
		snprintf(lookup, len, "postmaster@%s", cfg->domains.v[0]);
	else
		mm_strlcpy(lookup, path->addr, len);
	return true;
}

/* Appends to v (from *n, at most max) the local RCPTs pipelined in the
 * buffered input, up to the first other command or incomplete line. */
static void
rcpt_peek(struct smtp_session *s, bool smtputf8, uint64_t declared,
    struct smtp_rcpt_check *v, size_t *n, size_t max)
{
	char buf[SMTP_RCPT_PEEK_BYTES];
	size_t len = conn_input_peek(s->c, buf, sizeof(buf)), off = 0;

	while (*n < max && off < len) {
		const char *line = buf + off, *lf = memchr(line, '\n', len - off);
		struct smtp_cmdline cmd;
		struct smtp_path path;
		char lookup[ADDRESS_MAX_BYTES + 1];

		if (lf == NULL || lf == line || lf[-1] != '\r')
			return;
		size_t ll = (size_t)(lf - line) - 1;
		off += ll + 2;
		if (ll > SMTP_CMD_LINE_MAX_BYTES ||
		    smtp_parse_command(line, ll, &cmd) != SMTP_PERR_OK || cmd.verb != SMTP_CMD_RCPT)
			return;
		if (smtp_parse_rcpt(cmd.args, cmd.argslen, smtputf8, &path) != SMTP_PERR_OK)
			continue;        /* refused without the store */
		if (!rcpt_local_lookup(smtp_cfg(s), &path, lookup, sizeof(lookup)))
			continue;
		struct smtp_rcpt_check *k = &v[(*n)++];
		mm_strlcpy(k->rcpt, path.addr, sizeof(k->rcpt));
		mm_strlcpy(k->lookup, lookup, sizeof(k->lookup));
		k->declared_size = declared;
		mm_strlist_init(&k->users);
		mm_strlist_init(&k->remote);
	}
}

/* The answers a job looked up beyond its own command: for the RCPTs to
 * come. */
static void
ahead_keep(struct smtp_session *s, struct smtp_rcpt_check *v, size_t n)
{
	ahead_clear(s);
	if (n == 0) {
		free(v);
		return;
	}
	s->ahead = v;
	s->nahead = n;
	s->iahead = 0;
}

/* ---- MAIL ---- */

static unsigned tx_counter;

static void
mail_accept(struct smtp_session *s, const struct smtp_path *path,
    const struct smtp_mail_params *params)
{
	struct smtp_tx *tx = xcalloc(1, sizeof(*tx));

	if (tx_counter == 0)
		tx_counter = (unsigned)getpid() << 12;
	snprintf(tx->id, sizeof(tx->id), "%08llX%06X",
	    (unsigned long long)time(NULL) & 0xffffffffULL, ++tx_counter & 0xffffff);
	mm_strlcpy(tx->from, path->addr, sizeof(tx->from));
	tx->null_sender = path->null_path;
	tx->params = *params;
	tx->max_size = smtp_cfg(s)->max_message_size;
	mm_strlist_init(&tx->rcpts);
	mm_strlist_init(&tx->users);
	mm_strlist_init(&tx->remote);
	mm_buf_init(&tx->msg);
	mm_buf_init(&tx->spill);
	tx->spool_fd = -1;
	s->tx = tx;
	s->ntx++;
	smtp_reply(s, "250 2.1.0 Ok");
}

struct mail_job {
	struct smtp_session *s;
	struct store *st;
	struct smtp_path path;
	struct smtp_mail_params params;
	char user[ADDRESS_MAX_BYTES + 1];
	bool ok;
	struct smtp_rcpt_check *ahead;     /* the RCPTs pipelined behind it */
	size_t nahead;
};

static void
mail_job_work(void *arg)
{
	struct mail_job *j = arg;

	j->ok = store_address_belongs_to(j->st, j->path.addr, j->user);
	for (size_t i = 0; j->ok && i < j->nahead; i++)
		rcpt_check_run(j->st, &j->ahead[i]);
}

static void
mail_job_done(void *arg, bool alive)
{
	struct mail_job *j = arg;
	struct smtp_session *s = j->s;

	if (alive) {
		if (j->ok) {
			mail_accept(s, &j->path, &j->params);
			ahead_keep(s, j->ahead, j->nahead);
			j->ahead = NULL;
			j->nahead = 0;
		} else {
			char from[ADDRESS_MAX_BYTES * 2], user[ADDRESS_MAX_BYTES * 2];
			log_escape(from, sizeof(from), j->path.addr, strlen(j->path.addr));
			log_escape(user, sizeof(user), j->user, strlen(j->user));
			log_info("smtp session=%llx event=sender-rejected addr=%s user=\"%s\" from=<%s>",
			    s->id, conn_peer_addr(s->c), user, from);
			smtp_reply(s, "553 5.7.1 <%s>: Sender address rejected: not owned by user %s",
			    j->path.addr, s->user);
		}
	}
	rcpt_check_free(j->ahead, j->nahead);
	free(j);
}

static bool
auth_required(const struct smtp_session *s)
{
	return s->listener == LSN_SUBMISSION || s->listener == LSN_SUBMISSIONS;
}

static void
cmd_mail(struct smtp_session *s, const struct smtp_cmdline *cmd)
{
	struct smtp_path path;
	struct smtp_mail_params params;
	enum smtp_perr err;

	if (s->helo[0] == '\0') {
		smtp_reply(s, "503 5.5.1 Error: send HELO/EHLO first");
		smtp_bad_command(s);
		return;
	}
	if (s->tx != NULL) {
		smtp_reply(s, "503 5.5.1 Error: nested MAIL command");
		smtp_bad_command(s);
		return;
	}
	if (auth_required(s) && s->user[0] == '\0') {
		if (!smtp_auth_offered(s))
			smtp_reply(s, "530 5.7.0 Must issue a STARTTLS command first");
		else
			smtp_reply(s, "530 5.7.0 Authentication required");
		return;
	}
	err = smtp_parse_mail(cmd->args, cmd->argslen, &path, &params);
	if (err != SMTP_PERR_OK) {
		smtp_reply(s, "%s", smtp_perr_reply(err));
		smtp_bad_command(s);
		return;
	}
	if (params.has_size && params.size > smtp_cfg(s)->max_message_size) {
		smtp_reply(s, "552 5.3.4 Message size exceeds fixed maximum message size");
		return;
	}
	if (s->user[0] != '\0' && !path.null_path) {
		/* RFC 6409 6.1: an authenticated sender sends as themselves. */
		struct mail_job *j = xcalloc(1, sizeof(*j));
		j->s = s;
		j->st = s->srv->store;
		j->path = path;
		j->params = params;
		mm_strlcpy(j->user, s->user, sizeof(j->user));
		size_t max = smtp_cfg(s)->max_recipients < SMTP_RCPT_BATCH_MAX ?
		    smtp_cfg(s)->max_recipients : SMTP_RCPT_BATCH_MAX;
		j->ahead = xcalloc(SMTP_RCPT_BATCH_MAX, sizeof(*j->ahead));
		rcpt_peek(s, params.smtputf8, params.has_size ? params.size : 0, j->ahead,
		    &j->nahead, max);
		conn_run_job(s->c, WORKER_LANE_COMMIT, mail_job_work, mail_job_done, j);
		return;
	}
	mail_accept(s, &path, &params);
}

/* ---- RCPT ---- */

struct rcpt_job {
	struct smtp_session *s;
	struct store *st;
	struct smtp_rcpt_check *v;      /* [0] this command, then the pipelined ones */
	size_t n;
};

static void
rcpt_job_work(void *arg)
{
	struct rcpt_job *j = arg;

	for (size_t i = 0; i < j->n; i++)
		rcpt_check_run(j->st, &j->v[i]);
}

/* One RCPT's answer: the reply, and the transaction's recipients. */
static void
rcpt_apply(struct smtp_session *s, const struct smtp_rcpt_check *k)
{
	struct smtp_tx *tx = s->tx;
	size_t ok = 0, never = 0;

	if (k->err == STORE_NOTFOUND || (k->err == STORE_OK && k->users.n == 0 &&
	    k->remote.n == 0)) {
		smtp_reply(s, "550 5.1.1 <%s>: Recipient address rejected: User unknown", k->rcpt);
		metrics_refused(MR_UNKNOWN_USER);
		tx->rejected++;
		/* counts as a bad command: directory harvesting is throttled */
		smtp_bad_command(s);
		return;
	}
	if (k->err != STORE_OK) {
		smtp_reply(s, "451 4.3.0 <%s>: Temporary lookup failure", k->rcpt);
		metrics_refused(MR_LOCAL_ERROR);
		tx->rejected++;
		return;
	}
	for (size_t i = 0; i < k->users.n; i++) {
		if (k->never[i])
			never++;
		if (!k->full[i])
			ok++;
	}
	if (ok == 0 && k->remote.n == 0) {
		if (never == k->users.n)
			smtp_reply(s, "552 5.2.2 <%s>: Mailbox full", k->rcpt);
		else
			smtp_reply(s, "452 4.2.2 <%s>: Mailbox full", k->rcpt);
		metrics_refused(MR_QUOTA);
		tx->rejected++;
		return;
	}
	for (size_t i = 0; i < k->users.n; i++) {
		if (k->full[i]) {
			log_info("smtp session=%llx event=rcpt-over-quota user=%s", s->id,
			    k->users.v[i]);
			continue;
		}
		if (!mm_strlist_contains_case(&tx->users, k->users.v[i]))
			mm_strlist_add(&tx->users, k->users.v[i]);
	}
	/* An alias that forwards elsewhere: its remote targets are queued
	 * (src/relay) with the message's own sender. */
	for (size_t i = 0; i < k->remote.n; i++)
		if (!mm_strlist_contains_case(&tx->remote, k->remote.v[i]))
			mm_strlist_add(&tx->remote, k->remote.v[i]);
	mm_strlist_add(&tx->rcpts, k->rcpt);
	smtp_reply(s, "250 2.1.5 Ok");
}

static void
rcpt_job_done(void *arg, bool alive)
{
	struct rcpt_job *j = arg;
	struct smtp_session *s = j->s;

	if (alive && s->tx != NULL) {
		rcpt_apply(s, &j->v[0]);
		if (s->tx != NULL && !conn_is_closed(s->c) && j->n > 1) {
			/* the rest go to the RCPTs still in the input */
			struct smtp_rcpt_check *rest = xcalloc(j->n - 1, sizeof(*rest));
			memcpy(rest, j->v + 1, (j->n - 1) * sizeof(*rest));
			ahead_keep(s, rest, j->n - 1);
			j->n = 1;
		}
	}
	rcpt_check_free(j->v, j->n);
	free(j);
}

static void
cmd_rcpt(struct smtp_session *s, const struct smtp_cmdline *cmd)
{
	const struct config *cfg = smtp_cfg(s);
	struct smtp_tx *tx = s->tx;
	struct smtp_path path;
	struct rcpt_job *j;
	enum smtp_perr err;
	char lookup[ADDRESS_MAX_BYTES + 1];

	if (tx == NULL) {
		smtp_reply(s, "503 5.5.1 Error: need MAIL command");
		smtp_bad_command(s);
		return;
	}
	err = smtp_parse_rcpt(cmd->args, cmd->argslen, tx->params.smtputf8, &path);
	if (err != SMTP_PERR_OK) {
		smtp_reply(s, "%s", smtp_perr_reply(err));
		tx->rejected++;
		smtp_bad_command(s);
		return;
	}
	if (tx->rcpts.n >= cfg->max_recipients) {
		smtp_reply(s, "452 4.5.3 Error: too many recipients");
		metrics_refused(MR_TOO_MANY_RCPTS);
		tx->rejected++;
		return;
	}
	if (!rcpt_local_lookup(cfg, &path, lookup, sizeof(lookup))) {
		char esc[ADDRESS_MAX_BYTES * 2];
		log_escape(esc, sizeof(esc), path.addr, strlen(path.addr));
		if (s->user[0] != '\0' && !path.literal) {
			/* An authenticated user's mail for another domain: it
			 * goes into the outbound queue with the message. */
			if (!smtp_limits_allow(s, path.addr))
				return;
			if (!mm_strlist_contains_case(&tx->remote, path.addr))
				mm_strlist_add(&tx->remote, path.addr);
			mm_strlist_add(&tx->rcpts, path.addr);
			log_debug("smtp session=%llx event=rcpt-remote rcpt=<%s>", s->id, esc);
			smtp_reply(s, "250 2.1.5 Ok");
			return;
		}
		tx->rejected++;
		metrics_refused(MR_RELAY_DENIED);
		if (s->user[0] != '\0') {
			log_info("smtp session=%llx event=relay-literal addr=%s rcpt=<%s>",
			    s->id, conn_peer_addr(s->c), esc);
			smtp_reply(s, "550 5.1.2 <%s>: Address literals are not relayed",
			    path.addr);
		} else {
			log_info("smtp session=%llx event=relay-denied addr=%s rcpt=<%s>",
			    s->id, conn_peer_addr(s->c), esc);
			smtp_reply(s, "554 5.7.1 <%s>: Relay access denied", path.addr);
		}
		return;
	}
	uint64_t declared = tx->params.has_size ? tx->params.size : 0;
	if (s->iahead < s->nahead) {
		struct smtp_rcpt_check *k = &s->ahead[s->iahead];
		if (strcmp(k->lookup, lookup) == 0 && strcmp(k->rcpt, path.addr) == 0 &&
		    k->declared_size == declared) {
			s->iahead++;
			rcpt_apply(s, k);
			if (s->iahead == s->nahead)
				ahead_clear(s);
			return;
		}
	}
	ahead_clear(s);
	{
		struct smtp_rcpt_check k = { .declared_size = declared };
		mm_strlcpy(k.rcpt, path.addr, sizeof(k.rcpt));
		mm_strlcpy(k.lookup, lookup, sizeof(k.lookup));
		mm_strlist_init(&k.users);
		mm_strlist_init(&k.remote);
		bool hit = rcpt_check_cached(s->srv->store, &k);
		if (hit) {
			log_debug("smtp session=%llx event=rcpt-cached users=%zu remote=%zu",
			    s->id, k.users.n, k.remote.n);
			rcpt_apply(s, &k);
		}
		mm_strlist_clear(&k.users);
		mm_strlist_clear(&k.remote);
		if (hit)
			return;
	}
	j = xcalloc(1, sizeof(*j));
	j->s = s;
	j->st = s->srv->store;
	j->v = xcalloc(SMTP_RCPT_BATCH_MAX, sizeof(*j->v));
	j->n = 1;
	mm_strlcpy(j->v[0].rcpt, path.addr, sizeof(j->v[0].rcpt));
	mm_strlcpy(j->v[0].lookup, lookup, sizeof(j->v[0].lookup));
	j->v[0].declared_size = declared;
	mm_strlist_init(&j->v[0].users);
	mm_strlist_init(&j->v[0].remote);
	/* room left under max_recipients, counting this one */
	size_t room = cfg->max_recipients - tx->rcpts.n;
	rcpt_peek(s, tx->params.smtputf8, declared, j->v, &j->n,
	    room < SMTP_RCPT_BATCH_MAX ? room : SMTP_RCPT_BATCH_MAX);
	conn_run_job(s->c, WORKER_LANE_COMMIT, rcpt_job_work, rcpt_job_done, j);
}

/* ---- dispatch ---- */

static const struct {
	enum smtp_verb verb;
	void (*fn)(struct smtp_session *, const struct smtp_cmdline *);
} cmd_table[] = {
	{ SMTP_CMD_HELO, cmd_helo },
	{ SMTP_CMD_EHLO, cmd_helo },
	{ SMTP_CMD_MAIL, cmd_mail },
	{ SMTP_CMD_RCPT, cmd_rcpt },
	{ SMTP_CMD_DATA, smtp_cmd_data },
	{ SMTP_CMD_BDAT, smtp_cmd_bdat },
	{ SMTP_CMD_RSET, cmd_rset },
	{ SMTP_CMD_NOOP, cmd_noop },
	{ SMTP_CMD_QUIT, cmd_quit },
	{ SMTP_CMD_VRFY, cmd_vrfy },
	{ SMTP_CMD_EXPN, cmd_vrfy },
	{ SMTP_CMD_HELP, cmd_help },
	{ SMTP_CMD_STARTTLS, cmd_starttls },
	{ SMTP_CMD_AUTH, smtp_cmd_auth },
};

static void
smtp_command(struct smtp_session *s, const char *line, size_t len)
{
	struct smtp_cmdline cmd;
	enum smtp_perr err;

	err = smtp_parse_command(line, len, &cmd);
	s->cmd_start_us = metrics_now_us();
	if (smtp_store_failing(s))
		return;
	if (log_get_level() >= LOG_LVL_DEBUG) {
		char esc[600];
		/* never log credentials */
		log_escape(esc, sizeof(esc), line, cmd.verb == SMTP_CMD_AUTH && len > 10 ? 10 : len);
		log_debug("smtp session=%llx < %s", s->id, esc);
	}
	if (err != SMTP_PERR_OK) {
		smtp_reply(s, "%s", smtp_perr_reply(err));
		smtp_bad_command(s);
		return;
	}
	if (cmd.verb != SMTP_CMD_AUTH && len > SMTP_CMD_LINE_MAX_BYTES) {
		smtp_reply(s, "500 5.5.2 Error: line too long");
		smtp_bad_command(s);
		return;
	}
	for (size_t i = 0; i < sizeof(cmd_table) / sizeof(cmd_table[0]); i++) {
		if (cmd_table[i].verb == cmd.verb) {
			cmd_table[i].fn(s, &cmd);
			return;
		}
	}
	smtp_reply(s, "%s", smtp_perr_reply(SMTP_PERR_UNKNOWN_CMD));
	smtp_bad_command(s);
}

static bool
smtp_line_input(struct smtp_session *s)
{
	char *line;
	size_t len;
	unsigned ending;

	switch (conn_getline(s->c, SMTP_AUTH_LINE_MAX_BYTES, &line, &len, &ending)) {
	case CONN_LINE_NEED_MORE:
		return false;
	case CONN_LINE_TOO_LONG:
		if (s->state == SMTP_STATE_AUTH_INIT || s->state == SMTP_STATE_AUTH_USERNAME ||
		    s->state == SMTP_STATE_AUTH_PASSWORD) {
			smtp_auth_line(s, NULL, 0);
			return true;
		}
		smtp_reply(s, "500 5.5.2 Error: line too long");
		smtp_bad_command(s);
		return true;
	case CONN_LINE_OK:
		break;
	}
	switch (s->state) {
	case SMTP_STATE_AUTH_INIT:
	case SMTP_STATE_AUTH_USERNAME:
	case SMTP_STATE_AUTH_PASSWORD:
		smtp_auth_line(s, line, len);
		break;
	default:
		smtp_command(s, line, len);
		break;
	}
	return true;
}

/* ---- module callbacks ---- */

static void
smtp_on_input(void *arg)
{
	struct smtp_session *s = arg;
	struct conn *c = s->c;

	for (;;) {
		bool more;

		/* closed, a job, or backpressure (a client that pipelines
		 * without reading replies): the conn offers the input again */
		if (!conn_can_input(c))
			return;
		if (s->state == SMTP_STATE_TLS || s->state == SMTP_STATE_QUIT)
			return;
		switch (s->state) {
		case SMTP_STATE_BODY:
			more = smtp_data_input(s);
			break;
		case SMTP_STATE_BDAT:
			more = smtp_bdat_input(s);
			break;
		default:
			more = smtp_line_input(s);
			break;
		}
		if (!more)
			return;
	}
}

static void
smtp_on_drained(void *arg)
{
	smtp_on_input(arg);
}

/* Both lists answered (or there was one): greet, or refuse. */
static void
dnsbl_decide(struct smtp_session *s)
{
	if (s->dnsbl != NULL || s->dnswl != NULL)
		return;
	conn_resume(s->c);
	if (s->dnsbl_zone[0] != '\0' && !s->dnswl_listed) {
		log_info("smtp session=%llx event=dnsbl-refused addr=%s zone=%s", s->id,
		    conn_peer_addr(s->c), s->dnsbl_zone);
		smtp_reply(s, "554 5.7.1 Service unavailable; client [%s] blocked using %s%s%s",
		    conn_peer_addr(s->c), s->dnsbl_zone, s->dnsbl_text[0] ? ": " : "",
		    s->dnsbl_text);
		smtp_enter_state(s, SMTP_STATE_QUIT);
		return;
	}
	smtp_reply(s, "220 %s ESMTP minimaild", smtp_hostname(s));
}

static void
dnsbl_done(void *arg, const char *zone, const char *text)
{
	struct smtp_session *s = arg;

	s->dnsbl = NULL;
	mm_strlcpy(s->dnsbl_zone, zone ? zone : "", sizeof(s->dnsbl_zone));
	mm_strlcpy(s->dnsbl_text, text ? text : "", sizeof(s->dnsbl_text));
	dnsbl_decide(s);
}

static void
dnswl_done(void *arg, const char *zone, const char *text)
{
	struct smtp_session *s = arg;

	(void)text;
	s->dnswl = NULL;
	s->dnswl_listed = zone != NULL;
	dnsbl_decide(s);
}

static void *
smtp_start(struct conn *c)
{
	struct smtp_session *s = xcalloc(1, sizeof(*s));

	s->c = c;
	s->srv = conn_server(c);
	s->id = (unsigned long long)conn_id(c);
	s->listener = conn_listener(c);
	s->state = SMTP_STATE_NEW;
	conn_coalesce_output(c);
	log_info("smtp session=%llx event=connect addr=%s port=%u listener=%s tls=%s",
	    s->id, conn_peer_addr(c), conn_peer_port(c), config_listener_names[s->listener],
	    conn_is_tls(c) ? conn_tls_version(c) : "no");
	smtp_enter_state(s, SMTP_STATE_CONNECTED);
	const struct config *cfg = smtp_cfg(s);
	if (s->listener == LSN_SMTP && cfg->inbound_dnsbl.n > 0 && s->srv->dns != NULL) {
		s->dnsbl = dnsbl_start(s->srv->dns, conn_peer_addr(c),
		    (const char *const *)cfg->inbound_dnsbl.v, cfg->inbound_dnsbl.n, dnsbl_done, s);
		if (s->dnsbl != NULL && cfg->inbound_dnswl.n > 0)
			s->dnswl = dnsbl_start(s->srv->dns, conn_peer_addr(c),
			    (const char *const *)cfg->inbound_dnswl.v, cfg->inbound_dnswl.n,
			    dnswl_done, s);
		if (s->dnsbl != NULL) {
			conn_pause(c);        /* the greeting waits for the lists */
			return s;
		}
	}
	if (smtp_store_failing(s))
		return s;
	smtp_reply(s, "220 %s ESMTP minimaild", smtp_hostname(s));
	return s;
}

static void
smtp_on_tls(void *arg)
{
	struct smtp_session *s = arg;

	/* RFC 3207 4.2: forget everything learnt before TLS. */
	s->helo[0] = '\0';
	s->esmtp = false;
	s->user[0] = '\0';
	sasl_session_reset(&s->sasl);
	smtp_tx_end(s, NULL);
	log_info("smtp session=%llx event=starttls version=%s cipher=%s", s->id,
	    conn_tls_version(s->c), conn_tls_cipher(s->c));
	smtp_enter_state(s, SMTP_STATE_CONNECTED);
}

static void
smtp_on_timeout(void *arg)
{
	struct smtp_session *s = arg;

	smtp_reply(s, "421 4.4.2 %s Error: timeout exceeded", smtp_hostname(s));
	smtp_tx_end(s, "aborted: timeout");
	smtp_enter_state(s, SMTP_STATE_QUIT);
}

static const char *
smtp_busy_reply(bool per_ip)
{
	return per_ip ?
	    "421 4.7.0 Too many connections from your address, try again later\r\n" :
	    "421 4.7.0 Too many connections, try again later\r\n";
}

static void
smtp_on_shutdown(void *arg)
{
	struct smtp_session *s = arg;

	smtp_reply(s, "421 4.3.2 %s Service shutting down", smtp_hostname(s));
	/* A job in flight still uses its transaction; its done logs it. */
	if (!conn_job_running(s->c))
		smtp_tx_end(s, "aborted: shutdown");
	smtp_enter_state(s, SMTP_STATE_QUIT);
}

static void
smtp_free(void *arg)
{
	struct smtp_session *s = arg;

	if (s == NULL)
		return;
	inbound_cancel(&s->inbound);
	milter_cancel(&s->milter);
	dnsbl_cancel(&s->dnsbl);
	dnsbl_cancel(&s->dnswl);
	smtp_tx_end(s, "aborted: connection closed");
	log_debug("smtp session=%llx event=free transactions=%u", s->id, s->ntx);
	sasl_session_reset(&s->sasl);
	free(s);
}

const struct proto_module smtp_module = {
	.name = "smtp",
	.start = smtp_start,
	.on_input = smtp_on_input,
	.on_drained = smtp_on_drained,
	.on_tls = smtp_on_tls,
	.on_timeout = smtp_on_timeout,
	.busy_reply = smtp_busy_reply,
	.free = smtp_free,
	.on_shutdown = smtp_on_shutdown,
};
