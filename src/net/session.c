/* session.c: the STARTTLS preamble, the bad-command counter and the
 * meaning of a login's result, once for SMTP, IMAP, POP3 and ManageSieve
 * (the SASL step machine is lib/sasl-session.c; the plaintext policy and
 * the auth-failure delay are server.c's).
 *
 * The one idea: the decisions live here and the words live in the
 * protocol; a policy change (when STARTTLS is refused, how many mistakes
 * a client gets, which login failures close) is made in this file. */
#include "net/session.h"

#include "lib/limits.h"
#include "lib/log.h"
#include "net/conn.h"
#include "net/server.h"
#include "store/store.h"

void
session_starttls(struct conn *c, const struct session_starttls_ops *ops, void *sess)
{
	if (conn_is_tls(c)) {
		ops->refuse(sess, SESSION_TLS_ACTIVE);
		return;
	}
	if (!server_tls_available(conn_server(c))) {
		ops->refuse(sess, SESSION_TLS_UNAVAILABLE);
		return;
	}
	ops->go_ahead(sess);
	bool ok = conn_starttls(c);
	if (!ok)
		log_warn("conn=%llx event=starttls-failed", (unsigned long long)conn_id(c));
	ops->started(sess, ok);
}

bool
session_bad_command(unsigned *count)
{
	return ++*count >= SESSION_MAX_BAD_COMMANDS;
}

enum session_auth_outcome
session_auth_outcome(bool ok, int err, unsigned fails)
{
	if (ok)
		return SESSION_AUTH_OK;
	if (err != STORE_DENIED && err != STORE_NOTFOUND && err != STORE_INVALID)
		return SESSION_AUTH_TEMPFAIL;
	return fails >= AUTH_FAILS_BEFORE_CLOSE ? SESSION_AUTH_FAILED_CLOSE : SESSION_AUTH_FAILED;
}
