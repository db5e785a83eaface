/* metrics-http.c: [listen] metrics, GET /metrics (see metrics-http.h).
 *
 * The one idea: the counters are atomics any thread bumps (lib/metrics.c);
 * what only the store knows (commits, log flushes, queue length) is read
 * by a worker job, because it takes store locks and may wait on the disk,
 * and the reply is sent from that job's done function on the loop. A
 * request whose connection closes meanwhile is forgotten through the
 * connection's close callback (evhttp handles one request at a time per
 * connection, so there is at most one). */
#include "net/metrics-http.h"
#include "lib/config.h"
#include "lib/limits.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/pidfile.h"
#include "lib/util.h"
#include "net/conn.h"
#include "net/http.h"
#include "net/listener.h"
#include "net/server.h"
#include "net/worker.h"
#include "store/store.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CT_PROMETHEUS "text/plain; version=0.0.4; charset=utf-8"

static struct evhttp *mhttp;
static struct mm_server *server;

struct scrape {
	struct evhttp_request *req;     /* NULL: the client went away */
	struct evhttp_connection *evcon;
	struct store *st;
	struct metrics_snapshot snap;
	bool head;
};

static void metrics_request_cb(struct evhttp_request *req, void *arg);

/* ---- byte counting on bufferevents ---- */

static void
count_in_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	if (info->n_added)
		metrics_bytes_in(info->n_added);
}

void
metrics_watch_bev(struct bufferevent *bev)
{
	evbuffer_add_cb(bufferevent_get_input(bev), count_in_cb, NULL);
}

void
metrics_unwatch_bev(struct bufferevent *bev)
{
	evbuffer_remove_cb(bufferevent_get_input(bev), count_in_cb, NULL);
}

/* ---- the listener ---- */

static struct evhttp *
metrics_new(struct event_base *base, const struct config_listen *l, char *err,
    size_t errlen)
{
	struct evhttp *h = evhttp_new(base);
	if (h == NULL) {
		snprintf(err, errlen, "metrics: evhttp_new failed");
		return NULL;
	}
	evhttp_set_max_headers_size(h, METRICS_REQUEST_MAX_BYTES);
	evhttp_set_max_body_size(h, 0);
	evhttp_set_timeout(h, METRICS_TIMEOUT_SECS);
	evhttp_set_allowed_methods(h, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
	    EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS);
	evhttp_set_gencb(h, metrics_request_cb, NULL);
	if (!http_accept_all(h, l, "metrics", err, errlen)) {
		evhttp_free(h);
		return NULL;
	}
	return h;
}

bool
metrics_http_start(struct mm_server *srv, const struct config *cfg, char *err,
    size_t errlen)
{
	server = srv;
	if (cfg->metrics_listen.naddrs == 0)
		return true;
	mhttp = metrics_new(srv->base, &cfg->metrics_listen, err, errlen);
	return mhttp != NULL;
}

bool
metrics_http_reload(struct mm_server *srv, const struct config *oldcfg,
    const struct config *newcfg, char *err, size_t errlen)
{
	server = srv;
	return http_rebind(&mhttp, metrics_new, srv->base, &oldcfg->metrics_listen,
	    &newcfg->metrics_listen, "metrics", err, errlen);
}

void
metrics_http_stop(void)
{
	if (mhttp != NULL) {
		evhttp_free(mhttp);
		mhttp = NULL;
	}
}

void
metrics_http_check(const struct config *cfg, struct config_errors *errs)
{
	http_check_listen(cfg, &cfg->metrics_listen, "metrics", errs);
}

/* ---- answering ---- */

static void
reply(struct evhttp_request *req, int code, const char *reason, const char *ctype,
    const char *body, size_t len, bool head)
{
	struct evbuffer *buf = evbuffer_new();
	if (buf == NULL)
		fatal("out of memory (evbuffer)");
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	evhttp_add_header(out, "Content-Type", ctype);
	evhttp_add_header(out, "Cache-Control", "no-cache");
	if (!head)
		evbuffer_add(buf, body, len);
	log_debug("metrics status=%d bytes=%zu", code, len);
	evhttp_send_reply(req, code, reason, buf);
	evbuffer_free(buf);
}

static void
reply_text(struct evhttp_request *req, int code, const char *reason, const char *text)
{
	reply(req, code, reason, "text/plain; charset=utf-8", text, strlen(text), false);
}

static void
scrape_gone_cb(struct evhttp_connection *evcon, void *arg)
{
	struct scrape *sc = arg;
	sc->req = NULL;
	sc->evcon = NULL;
}

static int
count_queue_cb(void *arg, uint64_t id, time_t next_attempt)
{
	struct scrape *sc = arg;
	sc->snap.queue_entries++;
	return 0;
}

static void
scrape_work(void *arg)
{
	struct scrape *sc = arg;
	if (sc->st == NULL)
		return;
	store_stats(sc->st, &sc->snap.store_commits, &sc->snap.store_log_flushes);
	store_delivery_stats(sc->st, &sc->snap.store_delivery_batches,
	    &sc->snap.store_batched_deliveries);
	sc->snap.have_store = true;
	sc->snap.have_queue = store_queue_schedule(sc->st, count_queue_cb, sc) == STORE_OK;
}

static void
scrape_done(void *arg)
{
	struct scrape *sc = arg;
	struct mm_buf b;

	if (sc->evcon != NULL)
		evhttp_connection_set_closecb(sc->evcon, NULL, NULL);
	if (sc->req != NULL) {
		if (server != NULL && server->pool != NULL)
			sc->snap.worker_jobs = worker_pending(server->pool);
		sc->snap.connections_open = conn_live_count();
		mm_buf_init(&b);
		metrics_render(&b, &sc->snap);
		reply(sc->req, 200, "OK", CT_PROMETHEUS, b.data, b.len, sc->head);
		mm_buf_free(&b);
	}
	free(sc);
}

static void
metrics_request_cb(struct evhttp_request *req, void *arg)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	enum evhttp_cmd_type m = evhttp_request_get_command(req);

	if (server == NULL || server->shutting_down || server->pool == NULL) {
		reply_text(req, 503, "Service Unavailable", "shutting down\n");
		return;
	}
	if (path == NULL || strcmp(path, "/metrics") != 0) {
		reply_text(req, 404, "Not Found", "not found (try /metrics)\n");
		return;
	}
	if (m != EVHTTP_REQ_GET && m != EVHTTP_REQ_HEAD) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
		reply_text(req, 405, "Method Not Allowed", "method not allowed\n");
		return;
	}
	struct scrape *sc = xcalloc(1, sizeof(*sc));
	sc->req = req;
	sc->head = m == EVHTTP_REQ_HEAD;
	sc->st = server->store;
	sc->evcon = evhttp_request_get_connection(req);
	if (sc->evcon != NULL)
		evhttp_connection_set_closecb(sc->evcon, scrape_gone_cb, sc);
	worker_submit(server->pool, WORKER_LANE_READ, scrape_work, scrape_done, sc);
}
