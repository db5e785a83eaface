/* tls.c: OpenSSL context for implicit TLS and STARTTLS, and the checks that
 * answer the seed's "SSL/TLS certificate errors" before a client sees them.
 *
 * The one idea: every connection takes its SSL from the current context;
 * SIGHUP builds a new context and swaps it in, and SSL objects already made
 * keep the old one alive through OpenSSL's reference counting. */
#include "net/tls.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TLS_EXPIRY_WARN_DAYS 14
#define TLS_SELFSIGNED_DAYS  825
#define TLS13_CIPHERSUITES \
	"TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"

/* Set while tls_check() builds a context: its warnings are the check's. */
static bool tls_quiet;

void
tls_selfsigned_paths(const struct config *cfg, char *cert, char *key, size_t len)
{
	snprintf(cert, len, "%s/tls/selfsigned-cert.pem", cfg->data_dir);
	snprintf(key, len, "%s/tls/selfsigned-key.pem", cfg->data_dir);
}

static void
ssl_error_string(char *err, size_t errlen, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256] = "";
	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	snprintf(err, errlen, "%s%s%s", what, e ? ": " : "", buf);
	ERR_clear_error();
}

/* "DNS:hostname" and "IP:a" for every IP address a listener is bound to
 * (the demo tells clients to type 127.0.0.1), each once; malloc'd. */
static char *
selfsigned_san(const struct config *cfg)
{
	struct mm_buf b;
	struct mm_strlist seen;
	unsigned char bin[16];

	mm_buf_init(&b);
	mm_strlist_init(&seen);
	mm_buf_printf(&b, "DNS:%s", cfg->hostname);
	for (int i = 0; i < LSN_COUNT; i++) {
		for (size_t k = 0; k < cfg->listen[i].naddrs; k++) {
			const char *h = cfg->listen[i].addrs[k].host;
			if (h[0] == '\0' || mm_strlist_contains(&seen, h) ||
			    (inet_pton(AF_INET, h, bin) != 1 && inet_pton(AF_INET6, h, bin) != 1))
				continue;
			mm_strlist_add(&seen, h);
			mm_buf_printf(&b, ",IP:%s", h);
		}
	}
	mm_strlist_clear(&seen);
	return mm_buf_cstr(&b);
}

/* Makes a P-256 key and a self-signed certificate for hostname. */
static bool
tls_make_selfsigned(const struct config *cfg, const char *certpath,
    const char *keypath, char *err, size_t errlen)
{
	EVP_PKEY *pkey = NULL;
	X509 *x = NULL;
	FILE *f = NULL;
	bool ok = false;
	char dir[1024];

	snprintf(dir, sizeof(dir), "%s/tls", cfg->data_dir);
	if (mkdir(cfg->data_dir, 0750) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", cfg->data_dir, strerror(errno));
		return false;
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
		return false;
	}
	pkey = EVP_EC_gen("P-256");
	if (pkey == NULL) {
		ssl_error_string(err, errlen, "key generation failed");
		goto out;
	}
	x = X509_new();
	X509_set_version(x, 2);
	unsigned char serial[16];
	FILE *ur = fopen("/dev/urandom", "rb");
	if (ur == NULL || fread(serial, 1, sizeof(serial), ur) != sizeof(serial)) {
		if (ur)
			fclose(ur);
		snprintf(err, errlen, "cannot read /dev/urandom");
		goto out;
	}
	fclose(ur);
	serial[0] &= 0x7f;
	BIGNUM *bn = BN_bin2bn(serial, sizeof(serial), NULL);
	BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
	BN_free(bn);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 60L * 60 * 24 * TLS_SELFSIGNED_DAYS);
	X509_set_pubkey(x, pkey);
	X509_NAME *name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)cfg->hostname, -1, -1, 0);
	X509_set_issuer_name(x, name);
	X509V3_CTX v3;
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	char *san = selfsigned_san(cfg);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san);
	free(san);
	if (ext) {
		X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
	}
	if (!X509_sign(x, pkey, EVP_sha256())) {
		ssl_error_string(err, errlen, "signing the certificate failed");
		goto out;
	}
	mode_t old = umask(077);
	f = fopen(keypath, "w");
	umask(old);
	if (f == NULL || !PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL) ||
	    fclose(f) != 0) {
		f = NULL;
		snprintf(err, errlen, "cannot write %s: %s", keypath, strerror(errno));
		goto out;
	}
	f = fopen(certpath, "w");
	if (f == NULL || !PEM_write_X509(f, x) || fclose(f) != 0) {
		f = NULL;
		snprintf(err, errlen, "cannot write %s: %s", certpath, strerror(errno));
		goto out;
	}
	f = NULL;
	ok = true;
out:
	if (f)
		fclose(f);
	X509_free(x);
	EVP_PKEY_free(pkey);
	return ok;
}

struct tls_ctx *
tls_ctx_new(const struct config *cfg, char *err, size_t errlen)
{
	char certbuf[1100], keybuf[1100];
	const char *cert = cfg->tls_cert, *key = cfg->tls_key;
	bool self = false;

	if (cert == NULL) {
		tls_selfsigned_paths(cfg, certbuf, keybuf, sizeof(certbuf));
		cert = certbuf;
		key = keybuf;
		self = true;
		if (access(cert, R_OK) != 0 || access(key, R_OK) != 0) {
			if (!tls_make_selfsigned(cfg, cert, key, err, errlen))
				return NULL;
			log_warn("tls: no certificate configured: created a SELF-SIGNED certificate "
			    "for %s in %s; mail clients will warn about it. Set [tls] cert and key "
			    "for real use", cfg->hostname, cert);
		} else if (!tls_quiet) {
			log_warn("tls: no certificate configured: using the SELF-SIGNED certificate %s; "
			    "mail clients will warn about it", cert);
		}
	}

	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL) {
		ssl_error_string(err, errlen, "SSL_CTX_new failed");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, cfg->tls_min_version ? cfg->tls_min_version : TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
	/* TLS 1.3: the same three suites as OpenSSL's default, AES-128-GCM
	 * first (Mozilla's recommended order; OpenSSL puts AES-256 first).
	 * A session keeps its two transcript digests for the whole
	 * connection: SHA-256 ones are about 200 bytes smaller than SHA-384's
	 * (README, Benchmarks). */
	SSL_CTX_set_ciphersuites(ctx, TLS13_CIPHERSUITES);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		char what[1200];
		snprintf(what, sizeof(what), "cannot load certificate %s", cert);
		ssl_error_string(err, errlen, what);
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		char what[1200];
		if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
			snprintf(err, errlen, "certificate %s and key %s do not match", cert, key);
			ERR_clear_error();
			SSL_CTX_free(ctx);
			return NULL;
		}
		snprintf(what, sizeof(what), "cannot load key %s", key);
		ssl_error_string(err, errlen, what);
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen, "certificate %s and key %s do not match", cert, key);
		ERR_clear_error();
		SSL_CTX_free(ctx);
		return NULL;
	}
	struct tls_ctx *t = xcalloc(1, sizeof(*t));
	t->ctx = ctx;
	t->self_signed = self;
	return t;
}

void
tls_ctx_free(struct tls_ctx **t)
{
	if (*t == NULL)
		return;
	SSL_CTX_free((*t)->ctx);
	free(*t);
	*t = NULL;
}

void
tls_check(const struct config *cfg, struct config_errors *errs)
{
	char certbuf[1100], keybuf[1100], msg[1600];
	const char *cert = cfg->tls_cert, *key = cfg->tls_key;

	/* No cert and key: the config parser has warned about the self-signed
	 * certificate already (once is enough). */
	if (cert == NULL) {
		tls_selfsigned_paths(cfg, certbuf, keybuf, sizeof(certbuf));
		if (access(certbuf, R_OK) != 0)
			return;
		cert = certbuf;
		key = keybuf;
	}
	char err[1500];
	tls_quiet = true;
	struct tls_ctx *t = tls_ctx_new(cfg, err, sizeof(err));
	tls_quiet = false;
	if (t == NULL) {
		snprintf(msg, sizeof(msg), "%s: [tls] %s", cfg->path, err);
		mm_strlist_add(&errs->errors, msg);
		return;
	}
	X509 *x = SSL_CTX_get0_certificate(t->ctx);
	if (x != NULL) {
		if (X509_check_host(x, cfg->hostname, 0, 0, NULL) != 1) {
			snprintf(msg, sizeof(msg), "%s: warning: certificate %s does not cover "
			    "hostname %s: clients connecting to %s will show a certificate error; "
			    "get a certificate for that name or set hostname to a name it covers",
			    cfg->path, cert, cfg->hostname, cfg->hostname);
			mm_strlist_add(&errs->warnings, msg);
		}
		int days = 0, secs = 0;
		if (ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(x))) {
			if (days < 0 || (days == 0 && secs <= 0)) {
				snprintf(msg, sizeof(msg), "%s: warning: certificate %s has EXPIRED; "
				    "renew it (e.g. certbot renew) and reload with SIGHUP",
				    cfg->path, cert);
				mm_strlist_add(&errs->warnings, msg);
			} else if (days < TLS_EXPIRY_WARN_DAYS) {
				snprintf(msg, sizeof(msg), "%s: warning: certificate %s expires in %d "
				    "days; renew it and reload with SIGHUP", cfg->path, cert, days);
				mm_strlist_add(&errs->warnings, msg);
			}
		}
	}
	(void)key;
	tls_ctx_free(&t);
}

/* ---- the TLS layer of a connection (conn.c, conn-client.c) ---- */

SSL_CTX *
tls_client_ctx_new(enum tls_client_verify v, const char *ca, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL) {
		snprintf(err, errlen, "SSL_CTX_new failed");
		return NULL;
	}
	if (v == TLS_CLIENT_NOVERIFY) {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
		return ctx;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	if (v == TLS_CLIENT_PKIX)
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	else if (SSL_CTX_dane_enable(ctx) <= 0) {
		snprintf(err, errlen, "SSL_CTX_dane_enable failed");
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (ca != NULL ? SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1 :
	    SSL_CTX_set_default_verify_paths(ctx) != 1) {
		snprintf(err, errlen, "cannot load CA certificates%s%s", ca ? " from " : "",
		    ca ? ca : "");
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

struct bufferevent *
tls_filter_new(struct event_base *base, struct bufferevent *under, SSL *ssl, bool client)
{
	struct bufferevent *nb = bufferevent_openssl_filter_new(base, under, ssl,
	    client ? BUFFEREVENT_SSL_CONNECTING : BUFFEREVENT_SSL_ACCEPTING,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (nb != NULL)
		bufferevent_openssl_set_allow_dirty_shutdown(nb, 1);
	return nb;
}

void
tls_bev_error(struct bufferevent *bev, char *buf, size_t len)
{
	unsigned long e = bufferevent_get_openssl_error(bev);
	if (len > 0)
		buf[0] = '\0';
	if (e != 0 && len > 0)
		ERR_error_string_n(e, buf, len);
}
