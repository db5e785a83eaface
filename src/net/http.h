/* http.h: the optional [listen] http listener (libevent evhttp) that
 * serves mail client autoconfiguration: Thunderbird autoconfig at
 * GET /mail/config-v1.1.xml and /.well-known/autoconfig/mail/config-v1.1.xml,
 * Outlook POX autodiscover at POST /autodiscover/autodiscover.xml. Plain
 * HTTP, meant to sit behind a reverse proxy that adds TLS. Answers are
 * generated per request from the server's current config (lib/clientcfg.h),
 * so a reload changes them at once. */
#ifndef MM_HTTP_H
#define MM_HTTP_H

#include <stdbool.h>
#include <stddef.h>

struct mm_server;
struct config;
struct config_errors;
struct config_listen;
struct evhttp;
struct event_base;

/* Binds cfg->http_listen (nothing to do when it is off). On failure
 * returns false with the reason in err and nothing stays bound. */
bool http_start(struct mm_server *srv, const struct config *cfg, char *err,
    size_t errlen);
/* SIGHUP: rebinds when the http addresses changed between oldcfg and
 * newcfg. On failure the old listener stays and err says why. */
bool http_reload(struct mm_server *srv, const struct config *oldcfg,
    const struct config *newcfg, char *err, size_t errlen);
/* Closes the listener and its connections (shutdown); safe to repeat. */
void http_stop(void);

/* For -t: tries to bind each http address (and releases it at once);
 * appends "cannot listen on ADDR:PORT for http: reason" warnings. */
void http_check(const struct config *cfg, struct config_errors *errs);

/* Binds every address of l and has h accept on it, logging
 * "listener=NAME addr=... event=listening"; false with "cannot listen on
 * ADDR for NAME..." in err at the first that fails (h keeps the ones
 * bound so far: the caller frees it). Shared by http.c and
 * metrics-http.c. */
bool http_accept_all(struct evhttp *h, const struct config_listen *l,
    const char *name, char *err, size_t errlen);

/* A listener's constructor: a new evhttp serving every address of l, or
 * NULL with err set. */
typedef struct evhttp *http_new_fn(struct event_base *base,
    const struct config_listen *l, char *err, size_t errlen);
/* SIGHUP for an evhttp listener *cur: nothing when old_l and new_l are
 * equal; closed when new_l is empty; else new sockets first (the old ones
 * released and the new tried once more when that fails, then the old
 * restored); false with err set when the new addresses cannot be bound.
 * Logs "listener=NAME event=closed|rebound". */
bool http_rebind(struct evhttp **cur, http_new_fn *mk, struct event_base *base,
    const struct config_listen *old_l, const struct config_listen *new_l,
    const char *name, char *err, size_t errlen);

/* For -t: http_check for any evhttp listener: "cannot listen on ADDR for
 * NAME: reason" warnings for the addresses of l that cannot be bound. */
void http_check_listen(const struct config *cfg, const struct config_listen *l,
    const char *name, struct config_errors *errs);

#endif
