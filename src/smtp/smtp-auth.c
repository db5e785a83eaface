/* smtp-auth.c: SMTP AUTH (RFC 4954) with PLAIN (RFC 4616) and LOGIN, with
 * or without an initial response. The steps (initial response,
 * continuations, cancel) are the shared lib/sasl-session.c's and decoding
 * is src/lib/sasl.c; this file has SMTP's replies. The password check
 * (crypt(3), slow on purpose) and the growing delay after failures are
 * server_auth()'s, on a worker thread.
 *
 * The one idea: AUTH is never offered or accepted in clear text unless
 * allow_plaintext_auth says so, and a password never outlives the call
 * that hands it to server_auth() (wiped from the stack right after). */
#include "smtp/smtp-private.h"

#include <string.h>

#include "lib/config.h"
#include "lib/log.h"
#include "lib/sasl-session.h"
#include "net/conn.h"
#include "net/server.h"
#include "net/session.h"
#include "store/store.h"

#define SMTP_PASSWORD_MAX_BYTES 1024

bool
smtp_auth_offered(const struct smtp_session *s)
{
	return server_plaintext_auth_ok(s->c);
}

static void
auth_cb(void *sess, bool ok, int err, const char *canon, unsigned fails)
{
	struct smtp_session *s = sess;
	enum session_auth_outcome o = session_auth_outcome(ok, err, fails);

	if (o == SESSION_AUTH_OK) {
		mm_strlcpy(s->user, canon, sizeof(s->user));
		smtp_reply(s, "235 2.7.0 Authentication successful");
		return;
	}
	if (o == SESSION_AUTH_TEMPFAIL) {
		smtp_reply(s, "454 4.7.0 Temporary authentication failure");
		return;
	}
	s->auth_fails++;
	smtp_reply(s, "535 5.7.8 Authentication credentials invalid");
	if (o == SESSION_AUTH_FAILED_CLOSE || s->auth_fails >= AUTH_FAILS_BEFORE_CLOSE) {
		log_info("smtp session=%llx event=auth-close addr=%s fails=%u", s->id,
		    conn_peer_addr(s->c), fails);
		smtp_reply(s, "421 4.7.0 %s Error: too many authentication failures",
		    smtp_hostname(s));
		smtp_enter_state(s, SMTP_STATE_QUIT);
		conn_close(s->c);
	}
}

/* ---- SMTP's wording of the shared SASL step machine ---- */

static void
sasl_challenge(void *sess, enum sasl_session_step next, const char *b64)
{
	struct smtp_session *s = sess;

	smtp_reply(s, "334 %s", b64);
	switch (next) {
	case SASL_SESSION_PLAIN:
		smtp_enter_state(s, SMTP_STATE_AUTH_INIT);
		break;
	case SASL_SESSION_LOGIN_USER:
		smtp_enter_state(s, SMTP_STATE_AUTH_USERNAME);
		break;
	default:
		smtp_enter_state(s, SMTP_STATE_AUTH_PASSWORD);
		break;
	}
}

/* A response that could not be decoded: RFC 4954 4 says 501. */
static void
sasl_failed(void *sess, enum sasl_session_end why, enum sasl_result r)
{
	struct smtp_session *s = sess;

	smtp_enter_ready(s);
	switch (why) {
	case SASL_SESSION_CANCELLED:
		smtp_reply(s, "501 5.7.0 Authentication cancelled");
		return;
	case SASL_SESSION_TOO_LONG:
		smtp_reply(s, "500 5.5.2 Error: line too long");
		smtp_bad_command(s);
		return;
	case SASL_SESSION_UNDECODABLE:
		break;
	}
	if (r == SASL_AUTHZID_MISMATCH) {
		smtp_reply(s, "535 5.7.8 Authentication credentials invalid");
		return;
	}
	log_info("smtp session=%llx event=auth-bad-response addr=%s error=\"%s\"", s->id,
	    conn_peer_addr(s->c), sasl_result_str(r));
	smtp_reply(s, "501 5.5.2 Error: cannot decode response");
	smtp_bad_command(s);
}

static void
sasl_check(void *sess, const char *user, const char *password)
{
	struct smtp_session *s = sess;

	smtp_enter_ready(s);
	server_auth(s->c, user, password, auth_cb);
}

static const struct sasl_session_ops smtp_sasl_ops = {
	.challenge = sasl_challenge,
	.failed = sasl_failed,
	.check = sasl_check,
	.password_max_bytes = SMTP_PASSWORD_MAX_BYTES,
};

void
smtp_cmd_auth(struct smtp_session *s, const struct smtp_cmdline *cmd)
{
	char mech[SMTP_AUTH_MECH_MAX_BYTES + 1];
	const char *ir;
	size_t irlen;
	enum smtp_perr err;

	if (!s->esmtp) {
		smtp_reply(s, "503 5.5.1 Error: send EHLO first");
		smtp_bad_command(s);
		return;
	}
	if (s->user[0] != '\0') {
		smtp_reply(s, "503 5.5.1 Error: already authenticated");
		smtp_bad_command(s);
		return;
	}
	if (s->tx != NULL) {
		smtp_reply(s, "503 5.5.1 Error: AUTH not allowed during a mail transaction");
		smtp_bad_command(s);
		return;
	}
	if (!smtp_auth_offered(s)) {
		/* RFC 4954 6 */
		smtp_reply(s, "538 5.7.11 Encryption required for requested authentication mechanism");
		return;
	}
	err = smtp_parse_auth(cmd->args, cmd->argslen, mech, &ir, &irlen);
	if (err != SMTP_PERR_OK) {
		smtp_reply(s, "%s", smtp_perr_reply(err));
		smtp_bad_command(s);
		return;
	}
	enum sasl_mech m = sasl_mech_parse(mech);
	if (m == SASL_MECH_UNKNOWN) {
		smtp_reply(s, "504 5.5.4 Unrecognized authentication type");
		return;
	}
	sasl_session_begin(&s->sasl, &smtp_sasl_ops, s, m, ir, irlen);
}

void
smtp_auth_line(struct smtp_session *s, const char *line, size_t len)
{
	sasl_session_line(&s->sasl, &smtp_sasl_ops, s, line, len);
}
