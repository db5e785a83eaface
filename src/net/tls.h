/* tls.h: the server's one OpenSSL context, built from [tls]. When [tls]
 * names no certificate, a self-signed one for hostname is made in
 * data_dir/tls/ on first start (with a loud warning). */
#ifndef MM_TLS_H
#define MM_TLS_H

#include <stdbool.h>
#include <stddef.h>

struct config;
struct config_errors;
typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;
struct bufferevent;
struct event_base;

struct tls_ctx {
	SSL_CTX *ctx;
	bool self_signed;
};

/* Builds the context (creating the self-signed pair when needed). On
 * failure returns NULL with a one-line reason in err. */
struct tls_ctx *tls_ctx_new(const struct config *cfg, char *err, size_t errlen);
void tls_ctx_free(struct tls_ctx **t);

/* For -t: loads certificate and key and checks that they match (error),
 * that the certificate covers hostname and does not expire within 14
 * days (warnings), appending to errs. Does not create anything. */
void tls_check(const struct config *cfg, struct config_errors *errs);

/* The paths of the self-signed pair in data_dir. */
void tls_selfsigned_paths(const struct config *cfg, char *cert, char *key, size_t len);

/* The TLS layer of a connection, shared by conn (server side) and
 * conn-client (the relay's outbound client): an OpenSSL filter over
 * under (which it frees with itself; deferred callbacks, a dirty
 * shutdown allowed). NULL on failure (ssl is then not taken). */
struct bufferevent *tls_filter_new(struct event_base *base, struct bufferevent *under,
    SSL *ssl, bool client);
/* A client context (outbound TLS, the relay): TLS_CLIENT_NOVERIFY takes
 * any certificate (opportunistic, RFC 7435); TLS_CLIENT_PKIX verifies
 * against ca (a PEM file; NULL: the system's CAs), TLS 1.2 or newer;
 * TLS_CLIENT_DANE loads the same CAs and enables DANE, each SSL setting
 * its own verification. NULL with a reason in err. */
enum tls_client_verify {
	TLS_CLIENT_NOVERIFY = 0,
	TLS_CLIENT_PKIX,
	TLS_CLIENT_DANE,
};
SSL_CTX *tls_client_ctx_new(enum tls_client_verify v, const char *ca, char *err,
    size_t errlen);
/* OpenSSL's error for bev (the oldest queued), as text; "" if none. */
void tls_bev_error(struct bufferevent *bev, char *buf, size_t len);

#endif
