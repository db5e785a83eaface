/* metrics-http.h: the optional [listen] metrics listener (evhttp): GET
 * /metrics in the Prometheus text format (lib/metrics.h). Off by default;
 * plain HTTP without authentication, so keep it on loopback or a private
 * network. */
#ifndef MM_METRICS_HTTP_H
#define MM_METRICS_HTTP_H

#include <stdbool.h>
#include <stddef.h>

struct mm_server;
struct config;
struct config_errors;
struct bufferevent;

/* Binds cfg->metrics_listen (nothing when off); false with err on failure. */
bool metrics_http_start(struct mm_server *srv, const struct config *cfg, char *err,
    size_t errlen);
/* SIGHUP: rebinds when the addresses changed; on failure the old ones stay. */
bool metrics_http_reload(struct mm_server *srv, const struct config *oldcfg,
    const struct config *newcfg, char *err, size_t errlen);
void metrics_http_stop(void);
/* For -t: "cannot listen on ADDR for metrics" warnings. */
void metrics_http_check(const struct config *cfg, struct config_errors *errs);

/* Counts the bytes into bev's input buffer into the received counter
 * (conn.c calls it for every bufferevent it reads through), and stops
 * counting on one that is wrapped by a TLS filter. What is sent conn.c
 * counts itself (metrics_bytes_out) in the output callback it has anyway:
 * one callback less a connection. */
void metrics_watch_bev(struct bufferevent *bev);
void metrics_unwatch_bev(struct bufferevent *bev);

#endif
