/* dkim/dkim.h: the crypto half of DKIM (RFC 6376, RFC 8463) on OpenSSL:
 * the signing keys of the local domains (load, make, check, publish),
 * signing a message, and verifying every signature of one. The pure
 * half (canonicalization, tags, selection) is src/mail/dkim.h.
 *
 * Keys: data_dir/dkim/DOMAIN.SELECTOR-rsa.key and -ed25519.key, PEM
 * (PKCS#8), mode 0600, one pair per [dkim] selector; the DNS selectors
 * are SELECTOR-rsa and SELECTOR-ed25519 (DESIGN round two). */
#ifndef MM_DKIM_DKIM_H
#define MM_DKIM_DKIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "mail/dkim.h"

struct config;
struct config_errors;
typedef struct evp_pkey_st EVP_PKEY;

/* ---- keys (dkim-key.c) ---- */

/* "SELECTOR-rsa" / "SELECTOR-ed25519" into buf. */
void dkim_selector_name(const char *selector, enum dkim_alg alg, char *buf, size_t len);
/* data_dir/dkim/DOMAIN.SELECTOR-rsa.key into buf. */
void dkim_key_path(const char *data_dir, const char *domain, const char *selector,
    enum dkim_alg alg, char *buf, size_t len);

/* Reads a PEM private key of type alg (RSA of DKIM_RSA_MIN_BITS to
 * DKIM_RSA_MAX_BITS, or Ed25519) from path. Missing file: *missing_r
 * true (if not NULL). Else a one-line reason in err. */
EVP_PKEY *dkim_key_load(const char *path, enum dkim_alg alg, bool *missing_r,
    char *err, size_t errlen);
/* A new key: RSA DKIM_RSA_SIGN_BITS, or Ed25519. */
EVP_PKEY *dkim_key_generate(enum dkim_alg alg, char *err, size_t errlen);
/* Writes pkey to path (PKCS#8 PEM, mode 0600); never replaces a file. */
bool dkim_key_write(const char *path, EVP_PKEY *pkey, char *err, size_t errlen);
/* The p= bytes: SubjectPublicKeyInfo DER for RSA, the raw 32 bytes for
 * Ed25519 (RFC 8463 4.2). */
bool dkim_key_public(EVP_PKEY *pkey, enum dkim_alg alg, unsigned char *out,
    size_t max, size_t *len_r);

struct dkim_key {
	enum dkim_alg alg;
	char domain[DKIM_DOMAIN_MAX_BYTES + 1];
	char selector[DKIM_SELECTOR_MAX_BYTES + 16];   /* S-rsa, S-ed25519 */
	EVP_PKEY *pkey;
};

/* The signing keys of every local domain for [dkim] selector and
 * algorithms. */
struct dkim_keyset {
	struct dkim_key *keys;
	size_t n;
};

/* Loads the keyset of cfg ([dkim] sign = no: an empty set). A key file
 * that is missing is a warning (that domain's mail is not signed); one
 * that cannot be read or does not parse is an error "PATH: reason".
 * Returns NULL when there were errors. */
struct dkim_keyset *dkim_keyset_load(const struct config *cfg,
    struct config_errors *errs);
void dkim_keyset_free(struct dkim_keyset **ks);
/* For -t and minimailctl check: dkim_keyset_load, then freed. */
void dkim_check(const struct config *cfg, struct config_errors *errs);

/* ---- signing (dkim-sign.c) ---- */

/* The header fields a signer covers (issue 13: the ones a reply or a
 * display depends on), and those over-signed (From: a second one added
 * later breaks the signature). */
extern const char *const dkim_sign_fields[];
extern const size_t dkim_sign_nfields;

/* Signs msg (the header block, the empty line, the body: the bytes that
 * go on the wire) with each key of ks for domain: relaxed/relaxed, t=now.
 * Returns the DKIM-Signature fields to put before the header (CRLF line
 * ends), malloc'd, with the number of signatures in *nsig_r; NULL with
 * *nsig_r 0 and err "" when ks has no key for domain, or NULL with a
 * reason in err. */
char *dkim_sign(const struct dkim_keyset *ks, const char *domain, const char *msg,
    size_t len, time_t now, size_t *len_r, size_t *nsig_r, char *err, size_t errlen);
/* dkim_sign in two steps, for a body read in chunks (the relay's
 * streamed messages): the body hash fed the body's bytes (after the
 * header's empty line) cut anywhere, then the signatures over hdr, the
 * header block through its empty line (hlen bytes). dkim_sign_body_new
 * is NULL when SHA-256 is unavailable; dkim_sign_header frees sb and
 * answers as dkim_sign. */
struct dkim_sign_body;
struct dkim_sign_body *dkim_sign_body_new(void);
void dkim_sign_body_update(struct dkim_sign_body *sb, const char *p, size_t n);
void dkim_sign_body_free(struct dkim_sign_body **sb);
char *dkim_sign_header(const struct dkim_keyset *ks, const char *domain, const char *hdr,
    size_t hlen, struct dkim_sign_body *sb, time_t now, size_t *len_r, size_t *nsig_r,
    char *err, size_t errlen);

/* The signature of one key over one header hash input (for the unit
 * tests and dkim_sign): b= bytes into sig (DKIM_SIG_MAX_BYTES). */
bool dkim_sign_data(EVP_PKEY *pkey, enum dkim_alg alg, const char *data, size_t len,
    unsigned char *sig, size_t *siglen_r);

/* ---- verifying (dkim-verify.c) ---- */

enum dkim_result {
	DKIM_RES_PASS = 0,
	DKIM_RES_FAIL,           /* signature or body hash wrong, key too short, expired */
	DKIM_RES_NEUTRAL,        /* could not be checked: syntax, no key, bad key record */
	DKIM_RES_TEMPERROR,      /* the key lookup failed for now */
	DKIM_RES_PERMERROR,      /* From not signed, i= outside d= */
};

/* "pass", "fail", ... as Authentication-Results writes them (RFC 8601). */
const char *dkim_result_name(enum dkim_result r);

enum dkim_lookup {
	DKIM_LOOKUP_OK = 0,      /* txt holds the record (its strings concatenated) */
	DKIM_LOOKUP_NONE,        /* NXDOMAIN, or no TXT record */
	DKIM_LOOKUP_TEMP,        /* timeout, SERVFAIL */
};

/* The key record at name ("SELECTOR._domainkey.DOMAIN"): up to max bytes
 * into txt, the length in *len_r. Called from dkim_verify_finish() for
 * each signature: a caller with asynchronous DNS fetches the names of
 * dkim_verify_key_name() first and answers from what it fetched. */
typedef enum dkim_lookup dkim_lookup_fn(void *arg, const char *name, char *txt,
    size_t max, size_t *len_r);

struct dkim_sig_result {
	enum dkim_result result;
	char reason[128];        /* "" for pass */
	char domain[DKIM_DOMAIN_MAX_BYTES + 1];     /* header.d ("" if unparsable) */
	char selector[DKIM_DOMAIN_MAX_BYTES + 1];   /* header.s */
	char auid[DKIM_AUID_MAX_BYTES + 1];         /* header.i */
	enum dkim_alg alg;
	char b_prefix[16];       /* the first characters of b= (header.b, RFC 6008) */
	bool has_l;              /* l= given: only l of body_len bytes were signed */
	uint64_t l, body_len;
	bool testing;            /* the key says t=y */
};

struct dkim_verify;

/* A verifier for one message; now: for x= (expiry). */
struct dkim_verify *dkim_verify_new(time_t now);
/* The header block (up to and including the empty line, or the whole
 * message: only the header part is read). Finds the DKIM-Signature fields
 * (the first DKIM_SIGS_MAX; more are counted in ignored), parses them and
 * hashes the header fields each covers. Call once, before the body. */
void dkim_verify_header(struct dkim_verify *v, const char *hdr, size_t len);
/* The body, in chunks as it streams in. */
void dkim_verify_body(struct dkim_verify *v, const char *p, size_t n);
/* The signatures found (parsable or not) and the key name of each
 * (NULL for one that did not parse). */
size_t dkim_verify_count(const struct dkim_verify *v);
const char *dkim_verify_key_name(const struct dkim_verify *v, size_t i);
/* After the whole body: looks the keys up and checks each signature.
 * Returns the number of results (dkim_verify_count), *res_r points into v. */
size_t dkim_verify_finish(struct dkim_verify *v, dkim_lookup_fn *lookup, void *arg,
    const struct dkim_sig_result **res_r);
/* One result as an Authentication-Results method (RFC 8601 2.2, RFC 6008):
 * 'dkim=pass header.d=D header.s=S header.b=PREFIX', with 'reason="..."'
 * after the result when there is one and a '(l=N of M bytes signed)' or
 * '(test key)' comment, appended to out. Values are already restricted to
 * what a header may hold (domains, base64). */
void dkim_result_format(const struct dkim_sig_result *r, struct mm_buf *out);
/* Signatures past DKIM_SIGS_MAX, not looked at. */
size_t dkim_verify_ignored(const struct dkim_verify *v);
void dkim_verify_free(struct dkim_verify **v);

#endif
