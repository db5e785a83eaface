/* smtp-auth.c: SMTP AUTH (RFC 4954) with PLAIN (RFC 4616) and LOGIN, with
 * or without an initial response. Decoding is src/lib/sasl.c; the password
 * check (crypt(3), slow on purpose) and the growing delay after failures
 * are server_auth()'s, on a worker thread.
 *
 * The one idea: AUTH is never offered or accepted in clear text unless
 * allow_plaintext_auth says so, and a password never outlives the call
 * that hands it to server_auth() (wiped from the stack right after). */
#include "smtp/smtp-private.h"

#include <string.h>

#include "lib/config.h"
#include "lib/log.h"
#include "lib/sasl.h"
#include "net/conn.h"
#include "net/server.h"
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

	if (ok) {
		mm_strlcpy(s->user, canon, sizeof(s->user));
		smtp_reply(s, "235 2.7.0 Authentication successful");
		return;
	}
	if (err != STORE_DENIED && err != STORE_NOTFOUND && err != STORE_INVALID) {
		smtp_reply(s, "454 4.7.0 Temporary authentication failure");
		return;
	}
	s->auth_fails++;
	smtp_reply(s, "535 5.7.8 Authentication credentials invalid");
	if (fails >= AUTH_FAILS_BEFORE_CLOSE || s->auth_fails >= AUTH_FAILS_BEFORE_CLOSE) {
		log_info("smtp session=%llx event=auth-close addr=%s fails=%u", s->id,
		    conn_peer_addr(s->c), fails);
		smtp_reply(s, "421 4.7.0 %s Error: too many authentication failures",
		    smtp_hostname(s));
		smtp_enter_state(s, SMTP_STATE_QUIT);
		conn_close(s->c);
	}
}

static void
auth_check(struct smtp_session *s, const char *user, const char *password)
{
	smtp_enter_ready(s);
	server_auth(s->c, user, password, auth_cb);
}

/* A response that could not be decoded: RFC 4954 4 says 501. */
static void
auth_bad_response(struct smtp_session *s, enum sasl_result r)
{
	smtp_enter_ready(s);
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
auth_plain(struct smtp_session *s, const char *b64, size_t len)
{
	char authcid[ADDRESS_MAX_BYTES + 1], passwd[SMTP_PASSWORD_MAX_BYTES + 1];
	enum sasl_result r;

	r = sasl_plain_decode(b64, len, NULL, 0, authcid, sizeof(authcid), passwd, sizeof(passwd));
	if (r != SASL_OK) {
		auth_bad_response(s, r);
		return;
	}
	auth_check(s, authcid, passwd);
	explicit_bzero(passwd, sizeof(passwd));
}

static void
auth_login_user(struct smtp_session *s, const char *b64, size_t len)
{
	enum sasl_result r;

	r = sasl_login_username(b64, len, s->auth_login_user, sizeof(s->auth_login_user));
	if (r != SASL_OK) {
		auth_bad_response(s, r);
		return;
	}
	smtp_reply(s, "334 " SASL_LOGIN_PASSWORD_PROMPT);
	smtp_enter_state(s, SMTP_STATE_AUTH_PASSWORD);
}

static void
auth_login_pass(struct smtp_session *s, const char *b64, size_t len)
{
	char passwd[SMTP_PASSWORD_MAX_BYTES + 1];
	enum sasl_result r;

	r = sasl_login_password(b64, len, passwd, sizeof(passwd));
	if (r != SASL_OK) {
		auth_bad_response(s, r);
		return;
	}
	auth_check(s, s->auth_login_user, passwd);
	explicit_bzero(passwd, sizeof(passwd));
	explicit_bzero(s->auth_login_user, sizeof(s->auth_login_user));
}

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
	switch (sasl_mech_parse(mech)) {
	case SASL_MECH_PLAIN:
		if (ir != NULL) {
			auth_plain(s, ir, irlen);
			return;
		}
		smtp_reply(s, "334 ");
		smtp_enter_state(s, SMTP_STATE_AUTH_INIT);
		return;
	case SASL_MECH_LOGIN:
		if (ir != NULL) {
			auth_login_user(s, ir, irlen);
			return;
		}
		smtp_reply(s, "334 " SASL_LOGIN_USERNAME_PROMPT);
		smtp_enter_state(s, SMTP_STATE_AUTH_USERNAME);
		return;
	default:
		smtp_reply(s, "504 5.5.4 Unrecognized authentication type");
		return;
	}
}

void
smtp_auth_line(struct smtp_session *s, const char *line, size_t len)
{
	if (sasl_is_cancel(line, len)) {
		smtp_enter_ready(s);
		explicit_bzero(s->auth_login_user, sizeof(s->auth_login_user));
		smtp_reply(s, "501 5.7.0 Authentication cancelled");
		return;
	}
	switch (s->state) {
	case SMTP_STATE_AUTH_INIT:
		auth_plain(s, line, len);
		break;
	case SMTP_STATE_AUTH_USERNAME:
		auth_login_user(s, line, len);
		break;
	case SMTP_STATE_AUTH_PASSWORD:
		auth_login_pass(s, line, len);
		break;
	default:
		break;
	}
}
