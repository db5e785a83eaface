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

struct mm_server {
	struct event_base *base;
	struct config *cfg;
	struct store *store;
	struct worker_pool *pool;
	struct notify_hub *hub;
	struct tls_ctx *tls;
	bool shutting_down;
};

/* Authentication failures per client address: the delay (ms) to wait
 * before answering a failed attempt, growing with each failure. */
unsigned server_auth_fail(struct mm_server *srv, const char *addr);
void server_auth_ok(struct mm_server *srv, const char *addr);

#endif
