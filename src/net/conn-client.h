/* conn-client.h: an outbound connection (the relay's SMTP client) on the
 * connection layer: a socket bufferevent, client TLS (STARTTLS or
 * implicit) through the same OpenSSL filter conn uses, conn's bounded
 * line reader, output, and timeouts.
 *
 * Unlike a conn it has no session module and no deferred lifetime: its
 * owner drives it from two callbacks and frees it with conn_client_free(),
 * which may be called from inside either callback (the conn-client is not
 * touched after a callback returns). Callbacks are deferred, so a write
 * never re-enters the owner. */
#ifndef MM_CONN_CLIENT_H
#define MM_CONN_CLIENT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "net/conn.h"

struct conn_client;
struct event_base;
typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;

/* What on_event reports (several may be set together). */
#define CONN_CLIENT_CONNECTED 0x1   /* TCP connected, or the TLS handshake done */
#define CONN_CLIENT_EOF       0x2   /* the server closed */
#define CONN_CLIENT_ERROR     0x4   /* a socket or TLS error */
#define CONN_CLIENT_TIMEOUT   0x8   /* a read or write timeout ran out */

struct conn_client_cbs {
	void (*on_input)(void *arg);               /* input is buffered */
	void (*on_event)(void *arg, unsigned what); /* CONN_CLIENT_* */
	/* after conn_client_want_drained: output at CONN_OUTPUT_LOW_BYTES
	 * or below (may be NULL when never asked for) */
	void (*on_drained)(void *arg);
};

/* A new, unconnected client; NULL if no socket bufferevent can be made. */
struct conn_client *conn_client_new(struct event_base *base,
    const struct conn_client_cbs *cbs, void *arg);
/* Connects (non-blocking; CONNECTED or ERROR/TIMEOUT follow). False if
 * the connect failed at once: conn_client_socket_error() says why. */
bool conn_client_connect(struct conn_client *cc, const struct sockaddr *sa, socklen_t len);
/* Closes the socket at once (no flush) and frees. NULL is fine. */
void conn_client_free(struct conn_client *cc);
/* The text of the last socket error (errno). */
const char *conn_client_socket_error(void);

/* Seconds the server may stay silent (read) and may take no output
 * (write) before TIMEOUT; 0: none. Setting them restarts both clocks. */
void conn_client_set_timeouts(struct conn_client *cc, unsigned read_secs,
    unsigned write_secs);

/* conn_getline's reader: a line of at most maxlen bytes (CRLF or a bare
 * LF, without it); valid until the next call. */
enum conn_line conn_client_getline(struct conn_client *cc, size_t maxlen, char **line_r,
    size_t *len_r);
size_t conn_client_input_len(struct conn_client *cc);

/* Output: buffered, never blocks. */
void conn_client_write(struct conn_client *cc, const void *data, size_t len);
void conn_client_printf(struct conn_client *cc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void conn_client_vprintf(struct conn_client *cc, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* Output not yet on the wire, every level (TLS) counted. */
size_t conn_client_output_len(struct conn_client *cc);
/* Ask for on_drained once output, every level counted, is at
 * CONN_OUTPUT_LOW_BYTES or below (at once, deferred, if it is already):
 * a producer of bulk output (the relay's streamed body) waits for it. */
void conn_client_want_drained(struct conn_client *cc);

/* Client TLS. */
enum conn_client_tls {
	CONN_CLIENT_TLS_OK = 0,
	CONN_CLIENT_TLS_NO_SSL,     /* no context, or SSL_new failed */
	CONN_CLIENT_TLS_SETUP,      /* the setup hook refused (err says why) */
	CONN_CLIENT_TLS_FILTER,     /* the TLS layer could not be made */
};
/* Called on the new SSL before the handshake: what the certificate must
 * match (MTA-STS, DANE); false with a reason in err. */
typedef bool conn_client_tls_setup_fn(void *arg, SSL *ssl, char *err, size_t errlen);
/* Starts the handshake (CONNECTED follows, or ERROR/EOF): an SSL from
 * ctx, SNI for host unless it is an IP address, setup(setup_arg, ssl)
 * when given, and with verify_name the certificate must name host (DNS
 * name or IP address). Input buffered in plain text is discarded (no
 * injection across the TLS boundary). */
enum conn_client_tls conn_client_starttls(struct conn_client *cc, SSL_CTX *ctx,
    const char *host, bool verify_name, conn_client_tls_setup_fn *setup, void *setup_arg,
    char *err, size_t errlen);
/* After a failed event: OpenSSL's error text ("" if none; the oldest
 * queued error, taken off the queue) and the certificate verification's
 * failure (NULL when it passed or there is no TLS layer). */
void conn_client_tls_error(struct conn_client *cc, char *buf, size_t len);
const char *conn_client_verify_error(struct conn_client *cc);

#endif
