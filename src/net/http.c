/* http.c: the [listen] http listener: mail client autoconfiguration
 * (Thunderbird autoconfig, Outlook autodiscover) over plain HTTP with
 * libevent's evhttp, for a reverse proxy to put HTTPS in front of.
 *
 * The one idea: this file only routes and bounds requests; what is said
 * comes from lib/clientcfg.c, built from srv->cfg at each request (so a
 * SIGHUP that turns a listener off takes it out of the answers at once).
 * It also serves our MTA-STS policy (RFC 8461, lib/mtasts.c).
 * To serve another path, add it to http_request_cb(). Limits (headers,
 * body, timeout) are in lib/limits.h. */
#include "net/http.h"
#include "net/listener.h"
#include "net/server.h"
#include "lib/clientcfg.h"
#include "lib/config.h"
#include "lib/limits.h"
#include "lib/log.h"
#include "lib/pidfile.h"
#include "lib/mtasts.h"
#include "lib/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>


#define PATH_AUTOCONFIG          "/mail/config-v1.1.xml"
#define PATH_AUTOCONFIG_WK       "/.well-known/autoconfig/mail/config-v1.1.xml"
#define PATH_AUTODISCOVER        "/autodiscover/autodiscover.xml"
#define PATH_MTA_STS             "/.well-known/mta-sts.txt"   /* RFC 8461 3.3 */

#define CT_AUTOCONFIG   "application/xml; charset=utf-8"
#define CT_AUTODISCOVER "text/xml; charset=utf-8"
#define CT_TEXT         "text/plain; charset=utf-8"

static struct evhttp *http;
static struct mm_server *server;

static void http_request_cb(struct evhttp_request *req, void *arg);

/* Each HTTP connection counts in max_connections like any other, from its
 * first request until it closes (evhttp has no hook at accept: one that
 * never sends a request is not counted and is dropped after
 * HTTP_TIMEOUT_SECS). A request over the limit gets 503 and the connection
 * is closed. evhttp tells the close through the connection's close
 * callback; the set of counted connections is a small hash of pointers. */
#define HTTP_CONN_BUCKETS 256

struct http_counted {
	struct evhttp_connection *evcon;
	struct http_counted *next;
};

static struct http_counted *counted[HTTP_CONN_BUCKETS];

static unsigned
http_conn_hash(const struct evhttp_connection *evcon)
{
	return (unsigned)(((uintptr_t)evcon >> 4) % HTTP_CONN_BUCKETS);
}

static void
http_conn_closed(struct evhttp_connection *evcon, void *arg)
{
	for (struct http_counted **pp = &counted[http_conn_hash(evcon)]; *pp; pp = &(*pp)->next) {
		if ((*pp)->evcon == evcon) {
			struct http_counted *d = *pp;
			*pp = d->next;
			free(d);
			listener_conn_extra(-1);
			return;
		}
	}
}

/* False: over max_connections (the caller answers 503). */
static bool
http_conn_count(struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	if (evcon == NULL)
		return true;
	unsigned h = http_conn_hash(evcon);
	for (struct http_counted *c = counted[h]; c; c = c->next)
		if (c->evcon == evcon)
			return true;
	if (listener_conn_count() >= server->cfg->max_connections)
		return false;
	struct http_counted *c = xcalloc(1, sizeof(*c));
	c->evcon = evcon;
	c->next = counted[h];
	counted[h] = c;
	listener_conn_extra(1);
	evhttp_connection_set_closecb(evcon, http_conn_closed, NULL);
	return true;
}

bool
http_accept_all(struct evhttp *h, const struct config_listen *l,
    const char *name, char *err, size_t errlen)
{
	for (size_t i = 0; i < l->naddrs; i++) {
		char desc[96];
		int fd = listener_bind_socket(&l->addrs[i]);
		listener_addr_desc(&l->addrs[i], desc, sizeof(desc));
		if (fd < 0) {
			int e = errno;
			snprintf(err, errlen, "cannot listen on %s for %s: %s%s",
			    desc, name, strerror(e), listener_bind_hint(e));
			return false;
		}
		if (evhttp_accept_socket_with_handle(h, fd) == NULL) {
			close(fd);
			snprintf(err, errlen, "cannot listen on %s for %s", desc, name);
			return false;
		}
		log_info("listener=%s addr=%s event=listening", name, desc);
	}
	return true;
}

static void
http_free(struct evhttp **h)
{
	if (*h != NULL) {
		evhttp_free(*h);
		*h = NULL;
	}
}

bool
http_rebind(struct evhttp **cur, http_new_fn *mk, struct event_base *base,
    const struct config_listen *old_l, const struct config_listen *new_l,
    const char *name, char *err, size_t errlen)
{
	if (listener_listen_equal(old_l, new_l))
		return true;
	if (new_l->naddrs == 0) {
		http_free(cur);
		log_info("listener=%s event=closed", name);
		return true;
	}
	/* New sockets first, so that a bad address leaves the old ones up;
	 * if an address is still held by the old listener (the same port
	 * written another way), release the old ones and try once more. */
	struct evhttp *h = mk(base, new_l, err, errlen);
	if (h == NULL && *cur != NULL) {
		http_free(cur);
		h = mk(base, new_l, err, errlen);
		if (h == NULL) {
			char err2[256];
			*cur = mk(base, old_l, err2, sizeof(err2));
			if (*cur == NULL)
				log_error("%s: cannot restore the old listener: %s", name,
				    err2);
			return false;
		}
	}
	if (h == NULL)
		return false;
	http_free(cur);
	*cur = h;
	log_info("listener=%s event=rebound addrs=%zu", name, new_l->naddrs);
	return true;
}

/* A new evhttp serving every address of l, or NULL with err set. */
static struct evhttp *
http_new(struct event_base *base, const struct config_listen *l, char *err,
    size_t errlen)
{
	struct evhttp *h = evhttp_new(base);
	if (h == NULL) {
		snprintf(err, errlen, "http: evhttp_new failed");
		return NULL;
	}
	evhttp_set_max_headers_size(h, HTTP_HEADERS_MAX_BYTES);
	evhttp_set_max_body_size(h, HTTP_BODY_MAX_BYTES);
	evhttp_set_timeout(h, HTTP_TIMEOUT_SECS);
	/* the rest (TRACE, CONNECT, PATCH) get 501 from evhttp itself */
	evhttp_set_allowed_methods(h, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD |
	    EVHTTP_REQ_POST | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	    EVHTTP_REQ_OPTIONS);
	evhttp_set_gencb(h, http_request_cb, NULL);
	if (!http_accept_all(h, l, "http", err, errlen)) {
		evhttp_free(h);
		return NULL;
	}
	return h;
}

bool
http_start(struct mm_server *srv, const struct config *cfg, char *err,
    size_t errlen)
{
	server = srv;
	if (cfg->http_listen.naddrs == 0)
		return true;
	http = http_new(srv->base, &cfg->http_listen, err, errlen);
	return http != NULL;
}

bool
http_reload(struct mm_server *srv, const struct config *oldcfg,
    const struct config *newcfg, char *err, size_t errlen)
{
	server = srv;
	return http_rebind(&http, http_new, srv->base, &oldcfg->http_listen,
	    &newcfg->http_listen, "http", err, errlen);
}

void
http_stop(void)
{
	if (http != NULL) {
		evhttp_free(http);
		http = NULL;
	}
}

void
http_check_listen(const struct config *cfg, const struct config_listen *l,
    const char *name, struct config_errors *errs)
{
	for (size_t i = 0; i < l->naddrs; i++) {
		int fd = listener_bind_socket(&l->addrs[i]);
		if (fd >= 0) {
			close(fd);
			continue;
		}
		int e = errno;
		if (e == EADDRINUSE && pidfile_lists(cfg->data_dir, &l->addrs[i]))
			continue;  /* our own running daemon (lib/pidfile.h) */
		char desc[96], msg[512];
		listener_addr_desc(&l->addrs[i], desc, sizeof(desc));
		snprintf(msg, sizeof(msg), "%s: warning: cannot listen on %s for "
		    "%s: %s%s", cfg->path, desc, name, strerror(e),
		    listener_bind_hint(e));
		mm_strlist_add(&errs->warnings, msg);
	}
}

void
http_check(const struct config *cfg, struct config_errors *errs)
{
	http_check_listen(cfg, &cfg->http_listen, "http", errs);
}

/* ---- answering ---- */

static const char *
method_name(enum evhttp_cmd_type m)
{
	switch (m) {
	case EVHTTP_REQ_GET: return "GET";
	case EVHTTP_REQ_HEAD: return "HEAD";
	case EVHTTP_REQ_POST: return "POST";
	case EVHTTP_REQ_PUT: return "PUT";
	case EVHTTP_REQ_DELETE: return "DELETE";
	case EVHTTP_REQ_OPTIONS: return "OPTIONS";
	default: return "OTHER";
	}
}

/* Sends body (may be NULL) with status code and logs one line. */
static void
reply(struct evhttp_request *req, int code, const char *reason,
    const char *ctype, const char *body, const char *allow, const char *note)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	struct evbuffer *buf = evbuffer_new();
	const char *uri = evhttp_request_get_uri(req);
	char *peer = NULL;
	ev_uint16_t port = 0;
	char quri[160];

	if (buf == NULL)
		fatal("out of memory (evbuffer)");
	evhttp_add_header(out, "Content-Type", ctype);
	evhttp_add_header(out, "Cache-Control", "no-cache");
	evhttp_add_header(out, "X-Content-Type-Options", "nosniff");
	if (allow != NULL)
		evhttp_add_header(out, "Allow", allow);
	/* evhttp 2.1 would send a body to HEAD too */
	if (body != NULL && evhttp_request_get_command(req) != EVHTTP_REQ_HEAD)
		evbuffer_add(buf, body, strlen(body));
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	if (evcon != NULL)
		evhttp_connection_get_peer(evcon, &peer, &port);
	log_escape(quri, sizeof(quri), uri ? uri : "", uri ? strlen(uri) : 0);
	log_info("http client=%s method=%s uri=\"%s\" status=%d%s%s",
	    peer ? peer : "?", method_name(evhttp_request_get_command(req)),
	    quri, code, note ? " " : "", note ? note : "");
	evhttp_send_reply(req, code, reason, buf);
	evbuffer_free(buf);
}

static void
reply_text(struct evhttp_request *req, int code, const char *reason,
    const char *text, const char *allow)
{
	char *body = xasprintf("%s\n", text);
	reply(req, code, reason, CT_TEXT, body, allow, NULL);
	free(body);
}

/* "Autoconfig.Example.ORG:8080" -> "example.org" in domain_r (at least
 * ADDRESS_MAX_BYTES + 1 bytes); false when it is not a host name. */
static bool
host_domain(const char *host, char *domain_r)
{
	char tmp[ADDRESS_MAX_BYTES + 1];
	size_t n = strcspn(host, ":");

	if (host[0] == '[' || n == 0 || n > ADDRESS_MAX_BYTES - 2)
		return false;
	/* check it through the address checker: "x@" + host */
	tmp[0] = 'x';
	tmp[1] = '@';
	memcpy(tmp + 2, host, n);
	tmp[n + 2] = '\0';
	if (!clientcfg_address(tmp, n + 2, NULL, domain_r))
		return false;
	if (strncmp(domain_r, "autoconfig.", 11) == 0)
		memmove(domain_r, domain_r + 11, strlen(domain_r + 11) + 1);
	return true;
}

static void
serve_autoconfig(struct evhttp_request *req)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
	char domain[ADDRESS_MAX_BYTES + 1];
	struct evkeyvalq params;
	bool have = false;

	TAILQ_INIT(&params);
	if (query != NULL) {
		if (evhttp_parse_query_str(query, &params) != 0) {
			evhttp_clear_headers(&params);
			reply_text(req, 400, "Bad Request", "bad query string", NULL);
			return;
		}
		const char *email = evhttp_find_header(&params, "emailaddress");
		if (email != NULL) {
			/* a raw '+' of "user+tag@..." arrives decoded as a space,
			 * which no address holds: take it back */
			char *e = xstrdup(email);
			for (char *c = e; *c != '\0'; c++)
				if (*c == ' ')
					*c = '+';
			bool ok = clientcfg_address(e, strlen(e), NULL, domain);
			free(e);
			if (!ok) {
				evhttp_clear_headers(&params);
				reply_text(req, 400, "Bad Request",
				    "emailaddress is not a mail address", NULL);
				return;
			}
			have = true;
		}
		evhttp_clear_headers(&params);
	}
	if (!have) {
		const char *host = evhttp_find_header(
		    evhttp_request_get_input_headers(req), "Host");
		if (host == NULL || !host_domain(host, domain)) {
			reply_text(req, 404, "Not Found", "unknown domain "
			    "(add ?emailaddress=USER@DOMAIN)", NULL);
			return;
		}
	}
	char *xml = clientcfg_autoconfig(server->cfg, domain);
	if (xml == NULL) {
		reply_text(req, 404, "Not Found", "unknown domain", NULL);
		return;
	}
	char note[ADDRESS_MAX_BYTES + 16];
	snprintf(note, sizeof(note), "domain=%s", domain);
	reply(req, 200, "OK", CT_AUTOCONFIG, xml, NULL, note);
	free(xml);
}

static void
serve_autodiscover(struct evhttp_request *req)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	char addr[ADDRESS_MAX_BYTES + 1];
	char note[ADDRESS_MAX_BYTES + 64];
	char *body;
	enum clientcfg_req r;

	if (len > HTTP_BODY_MAX_BYTES) {     /* evhttp refuses it first */
		reply_text(req, 413, "Payload Too Large", "request too large", NULL);
		return;
	}
	const char *data = len ? (const char *)evbuffer_pullup(in, (ev_ssize_t)len) : "";
	r = clientcfg_autodiscover_parse(data, len, addr);
	switch (r) {
	case CLIENTCFG_REQ_OK:
		break;
	case CLIENTCFG_REQ_TOO_LARGE:
		reply_text(req, 413, "Payload Too Large", "request too large", NULL);
		return;
	case CLIENTCFG_REQ_SCHEMA:
		/* e.g. ActiveSync (mobilesync): not offered here */
		body = clientcfg_autodiscover_error(601, "Provider is not available");
		reply(req, 200, "OK", CT_AUTODISCOVER, body, NULL,
		    "error=\"unsupported AcceptableResponseSchema\"");
		free(body);
		return;
	default:
		body = clientcfg_autodiscover_error(600, "Invalid Request");
		snprintf(note, sizeof(note), "error=\"%s\"", clientcfg_req_str(r));
		reply(req, 400, "Bad Request", CT_AUTODISCOVER, body, NULL, note);
		free(body);
		return;
	}
	body = clientcfg_autodiscover(server->cfg, addr);
	if (body == NULL) {
		reply_text(req, 404, "Not Found", "unknown domain", NULL);
		return;
	}
	snprintf(note, sizeof(note), "address=%s", addr);
	reply(req, 200, "OK", CT_AUTODISCOVER, body, NULL, note);
	free(body);
}

/* ---- Autodiscover v2 and the Apple profile ---- */

#define PATH_AUTODISCOVER_JSON   "/autodiscover/autodiscover.json"
#define PATH_MOBILECONFIG        "/apple/mobileconfig"
#define CT_JSON         "application/json; charset=utf-8"
#define CT_MOBILECONFIG "application/x-apple-aspen-config"

/* The query parameter key (first match, any case of the key) into val_r
 * (ADDRESS_MAX_BYTES + 1 bytes), '+' and spaces taken as '+': true if
 * present and it fits; *bad_r when the query does not parse. */
static bool
query_param(struct evhttp_request *req, const char *key, char *val_r, bool *bad_r)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
	struct evkeyvalq params;
	struct evkeyval *kv;
	bool found = false;

	*bad_r = false;
	if (query == NULL)
		return false;
	TAILQ_INIT(&params);
	if (evhttp_parse_query_str(query, &params) != 0) {
		evhttp_clear_headers(&params);
		*bad_r = true;
		return false;
	}
	TAILQ_FOREACH(kv, &params, next) {
		if (!mm_strcaseeq(kv->key, key))
			continue;
		if (strlen(kv->value) > ADDRESS_MAX_BYTES) {
			*bad_r = true;
			break;
		}
		mm_strlcpy(val_r, kv->value, ADDRESS_MAX_BYTES + 1);
		for (char *c = val_r; *c != '\0'; c++)
			if (*c == ' ')
				*c = '+';
		found = true;
		break;
	}
	evhttp_clear_headers(&params);
	return found;
}

/* The checked, lower-cased address of the query's key, or a 400 sent. */
static bool
query_address(struct evhttp_request *req, const char *key, char *addr_r)
{
	char raw[ADDRESS_MAX_BYTES + 1];
	bool bad;

	if (!query_param(req, key, raw, &bad) || bad ||
	    !clientcfg_address(raw, strlen(raw), addr_r, NULL)) {
		char msg[64];
		snprintf(msg, sizeof(msg), "%s is missing or not a mail address", key);
		reply_text(req, 400, "Bad Request", msg, NULL);
		return false;
	}
	return true;
}

/* GET /autodiscover/autodiscover.json?Email=A&Protocol=AutodiscoverV1 and
 * the path form /autodiscover/autodiscover.json/v1.0/A?Protocol=... */
static void
serve_autodiscover_json(struct evhttp_request *req, const char *path)
{
	char addr[ADDRESS_MAX_BYTES + 1], proto[ADDRESS_MAX_BYTES + 1];
	char note[ADDRESS_MAX_BYTES + 16];
	const char *rest = path + strlen(PATH_AUTODISCOVER_JSON);
	bool bad;

	if (rest[0] == '\0') {
		if (!query_address(req, "Email", addr))
			return;
	} else {
		/* "/v1.0/ADDRESS" (the address decoded: %40 for '@') */
		char *dec = strncmp(rest, "/v1.0/", 6) == 0 ?
		    evhttp_uridecode(rest + 6, 0, NULL) : NULL;
		bool ok = dec != NULL && clientcfg_address(dec, strlen(dec), addr, NULL);
		free(dec);
		if (!ok) {
			reply_text(req, 400, "Bad Request", "expected /v1.0/ADDRESS", NULL);
			return;
		}
	}
	if (!query_param(req, "Protocol", proto, &bad))
		proto[0] = '\0';
	int status = 0;
	char *body = clientcfg_autodiscover_json(server->cfg, addr, proto, &status);
	if (body == NULL) {
		reply_text(req, 404, "Not Found", "unknown domain", NULL);
		return;
	}
	snprintf(note, sizeof(note), "address=%s", addr);
	reply(req, status, status == 200 ? "OK" : "Bad Request", CT_JSON, body, NULL, note);
	free(body);
}

static void
serve_mobileconfig(struct evhttp_request *req)
{
	char addr[ADDRESS_MAX_BYTES + 1], note[ADDRESS_MAX_BYTES + 16];
	char domain[ADDRESS_MAX_BYTES + 1], disp[ADDRESS_MAX_BYTES + 64];

	if (!query_address(req, "emailaddress", addr))
		return;
	char *body = clientcfg_mobileconfig(server->cfg, addr);
	if (body == NULL) {
		reply_text(req, 404, "Not Found", "unknown domain, or no secure "
		    "incoming and outgoing listener", NULL);
		return;
	}
	(void)clientcfg_address(addr, strlen(addr), NULL, domain);
	snprintf(disp, sizeof(disp), "attachment; filename=\"%s.mobileconfig\"", domain);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Disposition", disp);
	snprintf(note, sizeof(note), "address=%s", addr);
	reply(req, 200, "OK", CT_MOBILECONFIG, body, NULL, note);
	free(body);
}

/* The documents added after the first two; true if path was one. */
static bool
serve_more(struct evhttp_request *req, const char *path, enum evhttp_cmd_type m)
{
	size_t n = strlen(PATH_AUTODISCOVER_JSON);
	bool json = mm_strncaseeq(path, PATH_AUTODISCOVER_JSON, n) &&
	    (path[n] == '\0' || path[n] == '/');
	bool apple = strcmp(path, PATH_MOBILECONFIG) == 0;

	if (!json && !apple)
		return false;
	if (m != EVHTTP_REQ_GET && m != EVHTTP_REQ_HEAD) {
		reply_text(req, 405, "Method Not Allowed", "method not allowed", "GET, HEAD");
		return true;
	}
	if (json)
		serve_autodiscover_json(req, path);
	else
		serve_mobileconfig(req);
	return true;
}

/* Our MTA-STS policy (RFC 8461 3.3) for Host mta-sts.DOMAIN, DOMAIN one
 * of ours. The RFC wants HTTPS: a reverse proxy with a certificate for
 * mta-sts.DOMAIN puts it in front of this listener. */
static void
serve_mta_sts(struct evhttp_request *req)
{
	const char *host = evhttp_find_header(evhttp_request_get_input_headers(req),
	    "Host");
	char domain[ADDRESS_MAX_BYTES + 1];

	if (host == NULL || !host_domain(host, domain) ||
	    strncmp(domain, "mta-sts.", 8) != 0 ||
	    !config_is_local_domain(server->cfg, domain + 8)) {
		reply_text(req, 404, "Not Found", "no MTA-STS policy for this host "
		    "(ask for mta-sts.DOMAIN)", NULL);
		return;
	}
	char *policy = mtasts_policy_text(server->cfg);
	char note[ADDRESS_MAX_BYTES + 16];
	snprintf(note, sizeof(note), "domain=%s", domain + 8);
	reply(req, 200, "OK", CT_TEXT, policy, NULL, note);
	free(policy);
}

static void
http_request_cb(struct evhttp_request *req, void *arg)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	enum evhttp_cmd_type m = evhttp_request_get_command(req);

	if (server == NULL || server->shutting_down) {
		reply_text(req, 503, "Service Unavailable", "shutting down", NULL);
		return;
	}
	if (!http_conn_count(req)) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
		reply_text(req, 503, "Service Unavailable", "too many connections", NULL);
		return;
	}
	if (path == NULL) {
		reply_text(req, 404, "Not Found", "not found", NULL);
		return;
	}
	if (strcmp(path, PATH_AUTOCONFIG) == 0 ||
	    strcmp(path, PATH_AUTOCONFIG_WK) == 0) {
		if (m != EVHTTP_REQ_GET && m != EVHTTP_REQ_HEAD) {
			reply_text(req, 405, "Method Not Allowed",
			    "method not allowed", "GET, HEAD");
			return;
		}
		serve_autoconfig(req);
		return;
	}
	/* "/autodiscover/autodiscover.xml" and "/Autodiscover/Autodiscover.xml"
	 * (clients use both) */
	if (mm_strcaseeq(path, PATH_AUTODISCOVER)) {
		if (m != EVHTTP_REQ_POST) {
			reply_text(req, 405, "Method Not Allowed",
			    "method not allowed", "POST");
			return;
		}
		serve_autodiscover(req);
		return;
	}
	if (serve_more(req, path, m))
		return;
	if (strcmp(path, PATH_MTA_STS) == 0) {
		if (m != EVHTTP_REQ_GET && m != EVHTTP_REQ_HEAD) {
			reply_text(req, 405, "Method Not Allowed",
			    "method not allowed", "GET, HEAD");
			return;
		}
		serve_mta_sts(req);
		return;
	}
	reply_text(req, 404, "Not Found", "not found", NULL);
}
