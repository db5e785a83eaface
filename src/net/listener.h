/* listener.h: the listener table. Each of the seven [listen] entries is a
 * protocol module plus a TLS mode; each address it names is one
 * evconnlistener. Also the connection limits (total and per client
 * address across all listeners) and the list of live connections. */
#ifndef MM_LISTENER_H
#define MM_LISTENER_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/config.h"
#include "net/proto.h"

struct mm_server;
struct config_errors;

struct listener_def {
	const struct proto_module *module;
	enum tls_mode tls;
};

/* Set once at start: which module serves which listener. */
void listener_set_modules(const struct proto_module *smtp,
    const struct proto_module *imap, const struct proto_module *pop3);
/* The ManageSieve module for [listen] managesieve (STARTTLS). */
void listener_set_managesieve(const struct proto_module *m);
const struct listener_def *listener_def(enum listener_id id);

/* Binds every listener of cfg; on failure returns false with the reason
 * in err (nothing stays bound). */
bool listeners_bind(struct mm_server *srv, const struct config *cfg,
    char *err, size_t errlen);
/* SIGHUP: rebinds only the listeners whose addresses changed between the
 * running config and newcfg. On failure the old ones stay. */
bool listeners_rebind(struct mm_server *srv, const struct config *oldcfg,
    const struct config *newcfg, char *err, size_t errlen);
/* Stops accepting (shutdown). */
void listeners_close(void);

/* For -t: tries to bind each listener (and releases it at once); appends
 * "cannot listen on ADDR:PORT for NAME: reason (fix)" warnings. */
void listeners_check(const struct config *cfg, struct config_errors *errs);

/* Shared with the http listener (src/net/http.c). */
/* A bound, listening, non-blocking socket for a (a bare port: IPv6 any with
 * v6only off, or IPv4 any where there is no IPv6), or -1 with errno set. */
int listener_bind_socket(const struct config_addr *a);
/* listener_bind_socket with TCP_NODELAY and TCP_NOTSENT_LOWAT set, which
 * the sockets it accepts inherit: the mail listeners' socket. */
int listener_conn_socket(const struct config_addr *a);
/* "127.0.0.1:25", "[::1]:143", "*:993" */
void listener_addr_desc(const struct config_addr *a, char *buf, size_t len);
/* The fix to suggest for a bind(2) errno, with a leading space, or "". */
const char *listener_bind_hint(int e);
bool listener_listen_equal(const struct config_listen *a, const struct config_listen *b);

/* The key a client address is counted under (max_connections_per_ip,
 * the auth-failure delay): the address itself for IPv4, the network of
 * its first cfg->ipv6_prefix bits for IPv6 ("2001:db8:1:2::/64"). */
void listener_limit_key(const struct config *cfg, const char *addr, char *key,
    size_t keylen);
/* Logged-in connections of one user (max_connections_per_user). */
bool listener_user_admit(const struct config *cfg, const char *user);
void listener_user_gone(const char *user);

/* Connection accounting, called by conn.c (addr: a listener_limit_key). */
bool listener_conn_admit(const struct config *cfg, const char *addr, bool *per_ip_r);
/* Connections counted in the total only (the http listener: +1, -1). */
void listener_conn_extra(int delta);
void listener_conn_gone(const char *addr);
size_t listener_conn_count(void);
/* The address and user keys counted now, and (for tests) the longest
 * chain of their table in *longest_chain_r if not NULL. */
size_t listener_limit_keys(size_t *longest_chain_r);

#endif
