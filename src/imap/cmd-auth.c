/* cmd-auth.c: the commands of any state and of NOT AUTHENTICATED:
 * CAPABILITY, NOOP, LOGOUT, ID, STARTTLS, LOGIN, AUTHENTICATE (PLAIN and
 * LOGIN, SASL-IR), and ENABLE, NAMESPACE and COMPRESS (RFC 4978).
 *
 * The one idea: credentials are only accepted when imap_plaintext_ok()
 * (TLS, or allow_plaintext_auth), and they are checked by server_auth()
 * on a worker with a growing delay; its callback enters AUTHENTICATED.
 * The SASL steps and the STARTTLS preamble are the shared session core's
 * (lib/sasl-session.c, net/session.c); this file has IMAP's replies. */
#include "imap/imap-common.h"

#include <stdlib.h>
#include <string.h>

#include "lib/config.h"
#include "lib/log.h"
#include "lib/sasl-session.h"
#include "net/conn.h"
#include "net/server.h"
#include "net/session.h"

void
cmd_capability(struct imap_session *s, const struct imap_arg *args, size_t n)
{
	struct mm_buf b;
	mm_buf_init(&b);
	imap_capability_string(s, &b);
	imap_untagged(s, "CAPABILITY %s", mm_buf_cstr(&b));
	mm_buf_free(&b);
	imap_ok(s, "Capability completed");
}

static void
noop_then(struct imap_session *s)
{
	imap_ok(s, "NOOP completed");
}

void
cmd_noop(struct imap_session *s, const struct imap_arg *args, size_t n)
{
	if (s->state == IMAP_STATE_SELECTED)
		imap_sync_command(s, noop_then);
	else
		imap_ok(s, "NOOP completed");
}

void
cmd_logout(struct imap_session *s, const struct imap_arg *args, size_t n)
{
	imap_untagged(s, "BYE Logging out");
	imap_enter_state(s, IMAP_STATE_LOGOUT);
	imap_ok(s, "Logout completed");
	s->busy = true;       /* nothing more is read */
	conn_close(s->c);
}

void
cmd_id(struct imap_session *s, const struct imap_arg *args, size_t n)
{
	/* RFC 2971: ID ( "key" "value" ... ) or ID NIL */
	if (n != 1 || (args[0].type != IMAP_ARG_NIL && args[0].type != IMAP_ARG_LIST) ||
	    (args[0].type == IMAP_ARG_LIST && (args[0].count % 2 != 0 || args[0].count > 60))) {
		imap_bad(s, "Invalid ID arguments");
		return;
	}
	imap_untagged(s, "ID (\"name\" \"minimaild\" \"version\" \"%s\")", PACKAGE_VERSION);
	imap_ok(s, "ID completed");
}

/* IMAP's wording of the shared STARTTLS preamble (net/session.c) */
static void
starttls_refuse(void *sess, enum session_tls_refusal why)
{
	struct imap_session *s = sess;

	if (why == SESSION_TLS_ACTIVE)
		imap_bad(s, "TLS is already active");
	else
		imap_no(s, "TLS is not available");
}

static void
starttls_go_ahead(void *sess)
{
	struct imap_session *s = sess;

	imap_ok(s, "Begin TLS negotiation now");
	s->tls_pending = true;
}

static void
starttls_started(void *sess, bool ok)
{
	struct imap_session *s = sess;

	if (!ok) {
		s->tls_pending = false;
		imap_bye(s, "TLS negotiation failed");
	}
}

static const struct session_starttls_ops imap_starttls_ops = {
	.refuse = starttls_refuse,
	.go_ahead = starttls_go_ahead,
	.started = starttls_started,
};

void
cmd_starttls(struct imap_session *s, const struct imap_arg *args, size_t n)
{
	session_starttls(s->c, &imap_starttls_ops, s);
}

static void
auth_cb(void *sess, bool ok, int err, const char *canon, unsigned fails)
{
	struct imap_session *s = sess;
	struct mm_buf b;

	switch (session_auth_outcome(ok, err, fails)) {
	case SESSION_AUTH_OK:
		free(s->user);
		s->user = xstrdup(canon);
		imap_enter_state(s, IMAP_STATE_AUTH);
		mm_buf_init(&b);
		imap_capability_string(s, &b);
		imap_ok(s, "[CAPABILITY %s] Logged in", mm_buf_cstr(&b));
		mm_buf_free(&b);
		return;
	case SESSION_AUTH_TEMPFAIL:
		imap_no(s, "[UNAVAILABLE] Temporary authentication failure");
		return;
	case SESSION_AUTH_FAILED:
		imap_no(s, "[AUTHENTICATIONFAILED] Authentication failed.");
		return;
	case SESSION_AUTH_FAILED_CLOSE:
		imap_no(s, "[AUTHENTICATIONFAILED] Authentication failed.");
		imap_bye(s, "Too many authentication failures");
		return;
	}
}

static bool
refuse_plaintext(struct imap_session *s)
{
	if (imap_plaintext_ok(s))
		return false;
	imap_no(s, "[PRIVACYREQUIRED] Plaintext authentication disallowed on non-secure connections, use STARTTLS");
	return true;
}

void
cmd_login(struct imap_session *s, const struct imap_arg *args, size_t n)
{
	const char *user, *pass;
	size_t ulen, plen;

	if (n != 2 || !imap_arg_astring(&args[0], &user, &ulen) ||
	    !imap_arg_astring(&args[1], &pass, &plen)) {
		imap_bad(s, "LOGIN needs user name and password");
		return;
	}
	if (refuse_plaintext(s))
		return;
	if (ulen == 0 || ulen > ADDRESS_MAX_BYTES || memchr(user, '\0', ulen) ||
	    memchr(pass, '\0', plen) || plen == 0) {
		imap_no(s, "[AUTHENTICATIONFAILED] Authentication failed.");
		return;
	}
	server_auth(s->c, user, pass, auth_cb);
}

/* ---- IMAP's wording of the shared SASL step machine ---- */

static void
sasl_challenge(void *sess, enum sasl_session_step next, const char *b64)
{
	struct imap_session *s = sess;

	s->input = IMAP_INPUT_SASL;
	imap_printf(s, "+ %s\r\n", b64);
}

/* BAD for malformed base64 or an oversized response, NO for the rest. */
static void
sasl_failed(void *sess, enum sasl_session_end why, enum sasl_result r)
{
	struct imap_session *s = sess;

	switch (why) {
	case SASL_SESSION_TOO_LONG:
		imap_bad(s, "SASL response too long");
		return;
	case SASL_SESSION_CANCELLED:
		imap_bad(s, "Authentication cancelled");
		return;
	case SASL_SESSION_UNDECODABLE:
		break;
	}
	if (r == SASL_BAD_BASE64 || r == SASL_TOO_LONG)
		imap_bad(s, "Invalid SASL response: %s", sasl_result_str(r));
	else
		imap_no(s, "[AUTHENTICATIONFAILED] Authentication failed.");
}

static void
sasl_check(void *sess, const char *user, const char *password)
{
	struct imap_session *s = sess;

	server_auth(s->c, user, password, auth_cb);
}

static const struct sasl_session_ops imap_sasl_ops = {
	.challenge = sasl_challenge,
	.failed = sasl_failed,
	.check = sasl_check,
	.password_max_bytes = 1023,
};

/* The step machine is kept only while it waits for a line (an IDLE
 * session does not carry its 330 bytes): freed once a step returns with
 * the exchange over, never from inside one (the check may answer at once). */
void
imap_sasl_free(struct imap_session *s)
{
	if (s->sasl == NULL)
		return;
	sasl_session_reset(s->sasl);
	free(s->sasl);
	s->sasl = NULL;
}

static void
imap_sasl_done(struct imap_session *s)
{
	if (s->sasl != NULL && !sasl_session_active(s->sasl))
		imap_sasl_free(s);
}

void
imap_sasl_line(struct imap_session *s, const char *line, size_t len)
{
	s->input = IMAP_INPUT_COMMAND;
	sasl_session_line(s->sasl, &imap_sasl_ops, s, line, len);
	imap_sasl_done(s);
}

void
cmd_authenticate(struct imap_session *s, const struct imap_arg *args, size_t n)
{
	const char *mech, *ir = NULL;
	size_t irlen = 0;

	if (n < 1 || n > 2 || !imap_arg_atom(&args[0], &mech) ||
	    (n == 2 && !imap_arg_atom(&args[1], &ir))) {
		imap_bad(s, "AUTHENTICATE needs a mechanism");
		return;
	}
	if (ir != NULL)
		irlen = args[1].len;
	enum sasl_mech m = sasl_mech_parse(mech);
	if (m == SASL_MECH_UNKNOWN) {
		imap_no(s, "Unsupported authentication mechanism");
		return;
	}
	if (refuse_plaintext(s))
		return;
	if (s->sasl == NULL)
		s->sasl = xcalloc(1, sizeof(*s->sasl));
	sasl_session_begin(s->sasl, &imap_sasl_ops, s, m, ir, irlen);
	imap_sasl_done(s);
}

void
cmd_enable(struct imap_session *s, const struct imap_arg *args, size_t n)
{
	/* RFC 5161: the ENABLED response names what this command enabled;
	 * unknown capabilities are ignored. QRESYNC implies CONDSTORE. */
	struct mm_buf b;
	if (n == 0) {
		imap_bad(s, "ENABLE needs capability names");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (args[i].type != IMAP_ARG_ATOM) {
			imap_bad(s, "Invalid capability name");
			return;
		}
	}
	mm_buf_init(&b);
	mm_buf_append(&b, "ENABLED", 7);
	for (size_t i = 0; i < n; i++) {
		if (imap_arg_atom_eq(&args[i], "CONDSTORE") && !s->condstore) {
			mm_buf_append(&b, " CONDSTORE", 10);
			imap_condstore_enable(s);
		} else if (imap_arg_atom_eq(&args[i], "QRESYNC") && !s->qresync) {
			mm_buf_append(&b, " QRESYNC", 8);
			imap_condstore_enable(s);
			s->qresync = true;
		} else if (imap_arg_atom_eq(&args[i], "IMAP4rev2") && !s->rev2) {
			/* RFC 9051 6.3.1: the session speaks IMAP4rev2 from here on */
			mm_buf_append(&b, " IMAP4rev2", 10);
			s->rev2 = true;
		} else if (imap_arg_atom_eq(&args[i], "UIDONLY") && !s->uidonly &&
		    s->state == IMAP_STATE_AUTH) {
			/* RFC 9586: from now on UIDs only. Not in the selected
			 * state (RFC 5161 3.1: ENABLE comes before SELECT):
			 * the client was given sequence numbers there already
			 * (EXISTS, SEARCH contexts), so it is not enabled and
			 * not named in ENABLED; the client goes on with
			 * sequence numbers, in step with the server */
			mm_buf_append(&b, " UIDONLY", 8);
			s->uidonly = true;
		} else if (imap_arg_atom_eq(&args[i], "UTF8=ACCEPT") && !s->enabled_utf8 &&
		    s->state == IMAP_STATE_AUTH) {
			/* RFC 6855 3: only in the authenticated state (the
			 * selected mailbox's name was given in modified UTF-7) */
			mm_buf_append(&b, " UTF8=ACCEPT", 12);
			s->enabled_utf8 = true;
			imap_parser_set_utf8(s->parser, true);
		}
	}
	imap_untagged(s, "%s", mm_buf_cstr(&b));
	mm_buf_free(&b);
	imap_ok(s, "Enabled");
}

/* COMPRESS DEFLATE (RFC 4978): the OK goes out uncompressed, then the
 * conn puts a deflate filter on both directions. */
void
cmd_compress(struct imap_session *s, const struct imap_arg *args, size_t n)
{
	if (n != 1 || args[0].type != IMAP_ARG_ATOM) {
		imap_bad(s, "COMPRESS needs a mechanism");
		return;
	}
	if (!imap_arg_atom_eq(&args[0], "DEFLATE")) {
		imap_bad(s, "Unknown compression mechanism");
		return;
	}
	if (conn_is_compressed(s->c)) {
		imap_no(s, "[COMPRESSIONACTIVE] DEFLATE active already");
		return;
	}
	imap_ok(s, "DEFLATE active");
	if (!conn_compress_start(s->c))
		imap_bye(s, "Compression failed");
}

void
cmd_namespace(struct imap_session *s, const struct imap_arg *args, size_t n)
{
	imap_untagged(s, "NAMESPACE ((\"\" \"/\")) NIL NIL");
	imap_ok(s, "Namespace completed");
}
