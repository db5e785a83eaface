/* sasl-session.h: the SASL PLAIN/LOGIN step machine that SMTP AUTH
 * (RFC 4954), IMAP AUTHENTICATE (RFC 3501 6.2.2, SASL-IR RFC 4959), POP3
 * AUTH (RFC 5034) and ManageSieve AUTHENTICATE (RFC 5804 2.1) share: the
 * initial response, the continuations, the cancel "*", and the hand-over
 * of decoded credentials. Pure: each
 * protocol gives its wording and its login (server_auth) as a table of
 * callbacks; the machine sends nothing and reads nothing itself.
 *
 * The caller decides before sasl_session_begin() whether the mechanism is
 * known and whether the plaintext policy (server_plaintext_auth_ok)
 * allows a login, because the protocols answer those in different
 * orders. */
#ifndef MM_SASL_SESSION_H
#define MM_SASL_SESSION_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/limits.h"
#include "lib/sasl.h"

enum sasl_session_step {
	SASL_SESSION_NONE = 0,      /* no exchange in progress */
	SASL_SESSION_PLAIN,         /* PLAIN: waiting for the response */
	SASL_SESSION_LOGIN_USER,    /* LOGIN: waiting for the user name */
	SASL_SESSION_LOGIN_PASS,    /* LOGIN: waiting for the password */
};

/* Why an exchange ended without credentials. */
enum sasl_session_end {
	SASL_SESSION_CANCELLED = 1, /* the client sent "*" */
	SASL_SESSION_TOO_LONG,      /* the response line was over the line limit */
	SASL_SESSION_UNDECODABLE,   /* the decoder refused it: see the sasl_result */
};

struct sasl_session_ops {
	/* Send a continuation carrying this base64 challenge ("" for PLAIN's
	 * empty one); next is the step that now waits for a line. */
	void (*challenge)(void *sess, enum sasl_session_step next, const char *b64);
	/* The exchange is over without credentials (r: the decoder's result
	 * for SASL_SESSION_UNDECODABLE, else SASL_OK). */
	void (*failed)(void *sess, enum sasl_session_end why, enum sasl_result r);
	/* Credentials decoded: check them (server_auth on a worker). The
	 * password is wiped as soon as this returns. */
	void (*check)(void *sess, const char *user, const char *password);
	/* The longest password accepted, in bytes (longer: SASL_TOO_LONG). */
	size_t password_max_bytes;
	/* "*" as the initial response cancels (POP3); else it is decoded
	 * (and refused as bad base64). */
	bool cancel_in_initial_response;
};

#define SASL_SESSION_PASSWORD_MAX_BYTES 4096   /* the largest password_max_bytes */

struct sasl_session {
	enum sasl_session_step step;
	char user[ADDRESS_MAX_BYTES + 1];   /* LOGIN: the name, until the password */
};

/* Starts an exchange for mech (PLAIN or LOGIN; anything else is an
 * assertion failure), with the initial response ir (irlen bytes, "=" for
 * empty) or, when ir is NULL, the first challenge. */
void sasl_session_begin(struct sasl_session *ss, const struct sasl_session_ops *ops,
    void *sess, enum sasl_mech mech, const char *ir, size_t irlen);
/* One client response line (without its CRLF) to the step waiting;
 * line NULL: the line was too long and has been swallowed. */
void sasl_session_line(struct sasl_session *ss, const struct sasl_session_ops *ops,
    void *sess, const char *line, size_t len);
/* Is an exchange waiting for a line? */
bool sasl_session_active(const struct sasl_session *ss);
/* Forgets the exchange (and wipes the LOGIN name) without a callback. */
void sasl_session_reset(struct sasl_session *ss);

#endif
