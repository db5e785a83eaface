/* server.h: the daemon's shared context, handed to every session through
 * conn_server(): the current config, the store, the worker pool, the
 * notify hub and the TLS context. The config pointer changes on SIGHUP;
 * a session reads it when it needs it and does not keep it across jobs. */
#ifndef MM_SERVER_H
#define MM_SERVER_H

#include <stdbool.h>

struct config;
struct store;
struct worker_pool;
struct notify_hub;
struct event_base;
struct tls_ctx;
struct dns;
struct dkim_keyset;

struct mm_server {
	struct event_base *base;
	struct config *cfg;
	struct store *store;
	struct worker_pool *pool;
	struct notify_hub *hub;
	struct tls_ctx *tls;
	struct dns *dns;            /* the one resolver (net/dns.h) */
	struct dkim_keyset *dkim;   /* [dkim] signing keys (src/dkim); swapped on SIGHUP */
	bool shutting_down;
};

struct conn;

/* Checks user/password against the store on a worker thread (crypt is
 * slow), as a conn job (input paused). On failure the answer is delayed by
 * a time that grows with the client address's recent failures
 * (AUTH_FAIL_DELAY_*). cb runs on the loop only if the conn is still open:
 * ok true/false, and err is STORE_OK, STORE_DENIED, STORE_NOTFOUND or a
 * store failure (STORE_IO...: answer with a temporary error). user is
 * lower-cased into the canonical address in canon (char[321]).
 * fails_r: this address's failure count so far (close the connection at
 * AUTH_FAILS_BEFORE_CLOSE). */
typedef void server_auth_cb(void *sess, bool ok, int err, const char *canon,
    unsigned fails);
void server_auth(struct conn *c, const char *user, const char *password,
    server_auth_cb *cb);

/* Is TLS available (certificate loaded)? */
bool server_tls_available(struct mm_server *srv);

/* The plaintext policy, for every protocol: may this connection log in
 * (IMAP LOGIN/AUTHENTICATE, POP3 USER/PASS/AUTH, SMTP AUTH)? Under TLS,
 * or when [auth] allow_plaintext_auth says so (loopback is not trusted
 * more than any other address). */
bool server_plaintext_auth_ok(struct conn *c);

#endif
