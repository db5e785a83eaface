/* session.h: the session core SMTP, IMAP, POP3 and ManageSieve share
 * beside the SASL step machine (lib/sasl-session.h): the STARTTLS
 * preamble, the bad-command counter with its one limit, and what a
 * login's result means. A protocol keeps only its wording, given as callbacks. */
#ifndef MM_SESSION_H
#define MM_SESSION_H

#include <stdbool.h>

struct conn;

/* ---- STARTTLS (RFC 3207, RFC 3501 6.2.1, RFC 2595 4) ---- */

enum session_tls_refusal {
	SESSION_TLS_ACTIVE = 1,      /* TLS is on already */
	SESSION_TLS_UNAVAILABLE,     /* no certificate configured */
};

struct session_starttls_ops {
	/* Refuse the command (and count it as a mistake where the protocol
	 * does). */
	void (*refuse)(void *sess, enum session_tls_refusal why);
	/* Send the plaintext "go ahead" and forget what the client said
	 * before (RFC 3207 4.2: EHLO, a transaction; RFC 2595: USER). */
	void (*go_ahead)(void *sess);
	/* After the handshake was started (ok: on_tls comes later) or could
	 * not be (say goodbye and close). */
	void (*started)(void *sess, bool ok);
};

/* The preamble of every STARTTLS: refuses when TLS is active or not
 * configured; else the go-ahead, then conn_starttls (which discards
 * input pipelined behind the command) and started(). */
void session_starttls(struct conn *c, const struct session_starttls_ops *ops, void *sess);

/* ---- client mistakes ---- */

/* Counts one client mistake in *count; true when this one reached
 * SESSION_MAX_BAD_COMMANDS: the caller says goodbye and closes. */
bool session_bad_command(unsigned *count);

/* ---- a login's result (server_auth's callback arguments) ---- */

enum session_auth_outcome {
	SESSION_AUTH_OK = 0,
	SESSION_AUTH_FAILED,         /* wrong credentials */
	SESSION_AUTH_FAILED_CLOSE,   /* and this address failed too often: close */
	SESSION_AUTH_TEMPFAIL,       /* the store (or a limit) failed: try later */
};

enum session_auth_outcome session_auth_outcome(bool ok, int err, unsigned fails);

#endif
