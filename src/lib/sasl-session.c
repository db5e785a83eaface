/* sasl-session.c: the one SASL PLAIN/LOGIN step machine of SMTP, IMAP,
 * POP3 and ManageSieve (see sasl-session.h). Decoding is sasl.c's; this file only walks
 * the steps and calls the protocol's callbacks.
 *
 * The one idea: every way out of a step (credentials, cancel, a bad or
 * overlong line) first returns the machine to SASL_SESSION_NONE and wipes
 * what it held, then calls exactly one callback, so a callback may start
 * a new exchange or close the session. */
#include "lib/sasl-session.h"

#include <assert.h>
#include <string.h>

static void
end(struct sasl_session *ss, const struct sasl_session_ops *ops, void *sess,
    enum sasl_session_end why, enum sasl_result r)
{
	sasl_session_reset(ss);
	ops->failed(sess, why, r);
}

static void
step_plain(struct sasl_session *ss, const struct sasl_session_ops *ops, void *sess,
    const char *b64, size_t len)
{
	char authcid[ADDRESS_MAX_BYTES + 1], passwd[SASL_SESSION_PASSWORD_MAX_BYTES + 1];
	size_t pmax = ops->password_max_bytes + 1;
	enum sasl_result r;

	assert(pmax <= sizeof(passwd));
	r = sasl_plain_decode(b64, len, NULL, 0, authcid, sizeof(authcid), passwd, pmax);
	if (r != SASL_OK) {
		end(ss, ops, sess, SASL_SESSION_UNDECODABLE, r);
		return;
	}
	sasl_session_reset(ss);
	ops->check(sess, authcid, passwd);
	explicit_bzero(passwd, sizeof(passwd));
}

static void
step_login_user(struct sasl_session *ss, const struct sasl_session_ops *ops, void *sess,
    const char *b64, size_t len)
{
	enum sasl_result r = sasl_login_username(b64, len, ss->user, sizeof(ss->user));
	if (r != SASL_OK) {
		end(ss, ops, sess, SASL_SESSION_UNDECODABLE, r);
		return;
	}
	ss->step = SASL_SESSION_LOGIN_PASS;
	ops->challenge(sess, SASL_SESSION_LOGIN_PASS, SASL_LOGIN_PASSWORD_PROMPT);
}

static void
step_login_pass(struct sasl_session *ss, const struct sasl_session_ops *ops, void *sess,
    const char *b64, size_t len)
{
	char user[ADDRESS_MAX_BYTES + 1], passwd[SASL_SESSION_PASSWORD_MAX_BYTES + 1];
	size_t pmax = ops->password_max_bytes + 1;
	enum sasl_result r;

	assert(pmax <= sizeof(passwd));
	r = sasl_login_password(b64, len, passwd, pmax);
	if (r != SASL_OK) {
		end(ss, ops, sess, SASL_SESSION_UNDECODABLE, r);
		return;
	}
	memcpy(user, ss->user, sizeof(user));
	sasl_session_reset(ss);
	ops->check(sess, user, passwd);
	explicit_bzero(passwd, sizeof(passwd));
	explicit_bzero(user, sizeof(user));
}

static void
respond(struct sasl_session *ss, const struct sasl_session_ops *ops, void *sess,
    const char *b64, size_t len)
{
	switch (ss->step) {
	case SASL_SESSION_PLAIN:
		step_plain(ss, ops, sess, b64, len);
		break;
	case SASL_SESSION_LOGIN_USER:
		step_login_user(ss, ops, sess, b64, len);
		break;
	case SASL_SESSION_LOGIN_PASS:
		step_login_pass(ss, ops, sess, b64, len);
		break;
	case SASL_SESSION_NONE:
		assert(!"a SASL line without an exchange");
		break;
	}
}

void
sasl_session_begin(struct sasl_session *ss, const struct sasl_session_ops *ops,
    void *sess, enum sasl_mech mech, const char *ir, size_t irlen)
{
	assert(mech == SASL_MECH_PLAIN || mech == SASL_MECH_LOGIN);
	sasl_session_reset(ss);
	ss->step = mech == SASL_MECH_PLAIN ? SASL_SESSION_PLAIN : SASL_SESSION_LOGIN_USER;
	if (ir == NULL) {
		ops->challenge(sess, ss->step,
		    mech == SASL_MECH_PLAIN ? "" : SASL_LOGIN_USERNAME_PROMPT);
		return;
	}
	if (ops->cancel_in_initial_response && sasl_is_cancel(ir, irlen)) {
		end(ss, ops, sess, SASL_SESSION_CANCELLED, SASL_OK);
		return;
	}
	respond(ss, ops, sess, ir, irlen);
}

void
sasl_session_line(struct sasl_session *ss, const struct sasl_session_ops *ops,
    void *sess, const char *line, size_t len)
{
	if (line == NULL) {
		end(ss, ops, sess, SASL_SESSION_TOO_LONG, SASL_OK);
		return;
	}
	if (sasl_is_cancel(line, len)) {
		end(ss, ops, sess, SASL_SESSION_CANCELLED, SASL_OK);
		return;
	}
	respond(ss, ops, sess, line, len);
}

bool
sasl_session_active(const struct sasl_session *ss)
{
	return ss->step != SASL_SESSION_NONE;
}

void
sasl_session_reset(struct sasl_session *ss)
{
	ss->step = SASL_SESSION_NONE;
	explicit_bzero(ss->user, sizeof(ss->user));
}
