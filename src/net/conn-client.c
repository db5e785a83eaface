/* conn-client.c: an outbound connection on the connection layer (the
 * relay's SMTP client): socket bufferevent, client TLS through
 * tls_filter_new() (the filter conn's STARTTLS uses), conn's line reader
 * (conn_evbuffer_getline), output and timeouts.
 *
 * The one idea: the owner may free the conn-client from inside any of
 * its callbacks, so the trampolines call the owner last and touch
 * nothing after; bufferevent_free() itself is safe there (libevent
 * counts references across its callbacks). */
#include "net/conn-client.h"
#include "net/conn-int.h"
#include "net/tls.h"
#include "lib/util.h"
#include "lib/limits.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/util.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

struct conn_client {
	struct event_base *base;
	struct bufferevent *bev;    /* the socket, or the TLS filter over it */
	struct conn_client_cbs cbs;
	void *arg;
	bool discarding;            /* the line reader swallows an overlong line */
	char *line;
	size_t linecap;
	/* conn_client_want_drained: watches the socket's output, under any
	 * TLS filter, where bulk output waits */
	struct evbuffer_cb_entry *outcb;
	struct event *drained_ev;
	bool want_drained;
};

static void
cc_drainedcb(evutil_socket_t fd, short what, void *arg)
{
	struct conn_client *cc = arg;
	(void)fd;
	(void)what;
	if (cc->cbs.on_drained != NULL)
		cc->cbs.on_drained(cc->arg);
}

static void
cc_outcb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct conn_client *cc = arg;
	(void)buf;
	if (cc->want_drained && info->n_deleted > 0 &&
	    conn_client_output_len(cc) <= CONN_OUTPUT_LOW_BYTES) {
		cc->want_drained = false;
		event_active(cc->drained_ev, 0, 0);
	}
}

void
conn_client_want_drained(struct conn_client *cc)
{
	if (conn_client_output_len(cc) <= CONN_OUTPUT_LOW_BYTES) {
		cc->want_drained = false;
		event_active(cc->drained_ev, 0, 0);
	} else {
		cc->want_drained = true;
	}
}

static void
cc_readcb(struct bufferevent *bev, void *arg)
{
	struct conn_client *cc = arg;
	(void)bev;
	cc->cbs.on_input(cc->arg);
}

static void
cc_eventcb(struct bufferevent *bev, short what, void *arg)
{
	struct conn_client *cc = arg;
	unsigned w = 0;
	(void)bev;
	if (what & BEV_EVENT_CONNECTED)
		w |= CONN_CLIENT_CONNECTED;
	if (what & BEV_EVENT_EOF)
		w |= CONN_CLIENT_EOF;
	if (what & BEV_EVENT_ERROR)
		w |= CONN_CLIENT_ERROR;
	if (what & BEV_EVENT_TIMEOUT)
		w |= CONN_CLIENT_TIMEOUT;
	cc->cbs.on_event(cc->arg, w);
}

struct conn_client *
conn_client_new(struct event_base *base, const struct conn_client_cbs *cbs, void *arg)
{
	struct bufferevent *bev = bufferevent_socket_new(base, -1,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (bev == NULL)
		return NULL;
	struct conn_client *cc = xcalloc(1, sizeof(*cc));
	cc->base = base;
	cc->bev = bev;
	cc->cbs = *cbs;
	cc->arg = arg;
	bufferevent_setcb(bev, cc_readcb, NULL, cc_eventcb, cc);
	cc->drained_ev = event_new(base, -1, 0, cc_drainedcb, cc);
	cc->outcb = evbuffer_add_cb(bufferevent_get_output(bev), cc_outcb, cc);
	if (cc->drained_ev == NULL || cc->outcb == NULL) {
		conn_client_free(cc);
		return NULL;
	}
	return cc;
}

bool
conn_client_connect(struct conn_client *cc, const struct sockaddr *sa, socklen_t len)
{
	if (bufferevent_socket_connect(cc->bev, sa, (int)len) < 0)
		return false;
	bufferevent_enable(cc->bev, EV_READ | EV_WRITE);
	return true;
}

void
conn_client_free(struct conn_client *cc)
{
	if (cc == NULL)
		return;
	if (cc->outcb != NULL) {
		struct bufferevent *sock = cc->bev;
		while (bufferevent_get_underlying(sock) != NULL)
			sock = bufferevent_get_underlying(sock);
		evbuffer_remove_cb_entry(bufferevent_get_output(sock), cc->outcb);
	}
	if (cc->drained_ev != NULL)
		event_free(cc->drained_ev);
	bufferevent_free(cc->bev);
	free(cc->line);
	free(cc);
}

const char *
conn_client_socket_error(void)
{
	return evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR());
}

void
conn_client_set_timeouts(struct conn_client *cc, unsigned read_secs, unsigned write_secs)
{
	struct timeval r = { (time_t)read_secs, 0 }, w = { (time_t)write_secs, 0 };
	bufferevent_set_timeouts(cc->bev, read_secs ? &r : NULL, write_secs ? &w : NULL);
}

enum conn_line
conn_client_getline(struct conn_client *cc, size_t maxlen, char **line_r, size_t *len_r)
{
	return conn_evbuffer_getline(bufferevent_get_input(cc->bev), maxlen, &cc->discarding,
	    &cc->line, &cc->linecap, line_r, len_r, NULL);
}

size_t
conn_client_input_len(struct conn_client *cc)
{
	return evbuffer_get_length(bufferevent_get_input(cc->bev));
}

void
conn_client_write(struct conn_client *cc, const void *data, size_t len)
{
	evbuffer_add(bufferevent_get_output(cc->bev), data, len);
}

void
conn_client_vprintf(struct conn_client *cc, const char *fmt, va_list ap)
{
	evbuffer_add_vprintf(bufferevent_get_output(cc->bev), fmt, ap);
}

void
conn_client_printf(struct conn_client *cc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	conn_client_vprintf(cc, fmt, ap);
	va_end(ap);
}

size_t
conn_client_output_len(struct conn_client *cc)
{
	size_t n = 0;
	for (struct bufferevent *b = cc->bev; b != NULL; b = bufferevent_get_underlying(b))
		n += evbuffer_get_length(bufferevent_get_output(b));
	return n;
}

/* ---- TLS ---- */

static bool
is_ip(const char *s)
{
	unsigned char buf[sizeof(struct in6_addr)];
	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

enum conn_client_tls
conn_client_starttls(struct conn_client *cc, SSL_CTX *ctx, const char *host,
    bool verify_name, conn_client_tls_setup_fn *setup, void *setup_arg, char *err,
    size_t errlen)
{
	SSL *ssl;

	if (ctx == NULL || (ssl = SSL_new(ctx)) == NULL)
		return CONN_CLIENT_TLS_NO_SSL;
	if (!is_ip(host))
		SSL_set_tlsext_host_name(ssl, host);
	if (setup != NULL && !setup(setup_arg, ssl, err, errlen)) {
		SSL_free(ssl);
		return CONN_CLIENT_TLS_SETUP;
	}
	if (verify_name) {
		if (is_ip(host))
			X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host);
		else
			SSL_set1_host(ssl, host);
	}
	/* no plaintext that came before the handshake survives it */
	struct evbuffer *in = bufferevent_get_input(cc->bev);
	evbuffer_drain(in, evbuffer_get_length(in));
	cc->discarding = false;
	struct bufferevent *nb = tls_filter_new(cc->base, cc->bev, ssl, true);
	if (nb == NULL) {
		SSL_free(ssl);
		return CONN_CLIENT_TLS_FILTER;
	}
	cc->bev = nb;
	bufferevent_setcb(nb, cc_readcb, NULL, cc_eventcb, cc);
	bufferevent_enable(nb, EV_READ | EV_WRITE);
	return CONN_CLIENT_TLS_OK;
}

void
conn_client_tls_error(struct conn_client *cc, char *buf, size_t len)
{
	tls_bev_error(cc->bev, buf, len);
}

const char *
conn_client_verify_error(struct conn_client *cc)
{
	SSL *ssl = bufferevent_openssl_get_ssl(cc->bev);
	long vr = ssl != NULL ? SSL_get_verify_result(ssl) : X509_V_OK;
	return vr != X509_V_OK ? X509_verify_cert_error_string(vr) : NULL;
}
