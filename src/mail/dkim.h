/* dkim.h: the pure half of DKIM (RFC 6376, RFC 8463): canonicalization of
 * header fields and of the body (incremental: the body is pushed in
 * chunks of any size), the choice of header fields a signature covers
 * (bottom-up, over-signing), and the tag-lists of DKIM-Signature fields
 * and of key records. No OpenSSL here: the hashes and signatures are in
 * src/dkim/ (dkim.h there), which feeds these functions.
 *
 * Every input is bounded (lib/limits.h DKIM_*): a value over a bound is
 * an error with a reason, never a truncation that could verify. */
#ifndef MM_MAIL_DKIM_H
#define MM_MAIL_DKIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/limits.h"
#include "lib/util.h"

struct mail_header;

enum dkim_canon {
	DKIM_CANON_SIMPLE = 0,   /* RFC 6376 3.4.1 and 3.4.3 (the default) */
	DKIM_CANON_RELAXED,      /* RFC 6376 3.4.2 and 3.4.4 */
};

enum dkim_alg {
	DKIM_ALG_RSA_SHA256 = 0, /* RFC 6376 3.3.1 */
	DKIM_ALG_ED25519_SHA256, /* RFC 8463 */
};

/* "rsa-sha256", "ed25519-sha256" */
const char *dkim_alg_name(enum dkim_alg a);
/* The key type of a: "rsa", "ed25519" (k= of the key record). */
const char *dkim_alg_keytype(enum dkim_alg a);

/* ---- canonicalization ---- */

/* Appends the canonical form of one header field (raw: the field as in
 * the message, name to the end of its last line, its final line end
 * excluded) and CRLF to out. relaxed: name lower-cased, unfolded, runs of
 * WSP made one SP, WSP around the colon and at the end removed. */
void dkim_canon_header(enum dkim_canon c, const char *raw, size_t len,
    struct mm_buf *out);

/* The body canonicalizer. Push the body (everything after the empty line
 * that ends the header) in chunks; the canonical bytes come out through
 * out(arg, ...) in pieces, at most limit of them (l=; UINT64_MAX: all).
 * Line ends are CRLF only; a bare CR or LF is an ordinary character.
 * Empty lines at the end are dropped, a last line without CRLF gets one,
 * and an empty body is CRLF (simple) or nothing (relaxed). */
typedef void dkim_body_out(void *arg, const char *p, size_t n);

struct dkim_body {
	enum dkim_canon canon;
	uint64_t limit;
	uint64_t total;          /* canonical bytes of the whole body */
	uint64_t emitted;        /* those passed to out (at most limit) */
	uint64_t empty_lines;    /* held back: they count only if text follows */
	bool cr;                 /* a CR, waiting for its LF */
	bool wsp;                /* relaxed: a run of WSP not yet written */
	bool text;               /* the current line has text */
	dkim_body_out *out;
	void *arg;
	char buf[4096];
	size_t nbuf;
};

void dkim_body_init(struct dkim_body *b, enum dkim_canon c, uint64_t limit,
    dkim_body_out *out, void *arg);
void dkim_body_update(struct dkim_body *b, const char *p, size_t n);
/* The end of the body: writes what is still held. After it, b->total is
 * the canonical length of the whole body (for reporting l= against it). */
void dkim_body_final(struct dkim_body *b);

/* ---- header selection ---- */

/* For each name of h= (in order), the index of the field it covers in
 * hdr: bottom-up, each field used once; -1 when there is none left (a
 * name that covers nothing: RFC 6376 5.4.2). idx_r holds nnames ints. */
void dkim_select_fields(const struct mail_header *hdr, const char *const *names,
    size_t nnames, int *idx_r);

/* The h= list a signer writes: each name of want (any case, written
 * lower-case) once for every field of that name in hdr, and once more for
 * each name in over (over-signing: a field added later breaks the
 * signature). Names separated by ':'. Returns false (and nothing useful
 * in out) if the list would pass DKIM_SIGNED_FIELDS_MAX names. */
bool dkim_sign_names(const struct mail_header *hdr, const char *const *want,
    size_t nwant, const char *const *over, size_t nover, struct mm_buf *out);

/* ---- tag-lists (RFC 6376 3.2) ---- */

struct dkim_tag {
	const char *name;
	size_t name_len;
	const char *value;       /* folding white space inside kept, at the ends not */
	size_t value_len;
};

enum dkim_err {
	DKIM_OK = 0,
	DKIM_ERR_SYNTAX,         /* not a tag-list */
	DKIM_ERR_DUP_TAG,        /* a tag twice (RFC 6376 3.2) */
	DKIM_ERR_TOO_MANY_TAGS,  /* more than DKIM_TAGS_MAX */
	DKIM_ERR_TOO_LONG,       /* the field or a value over its bound */
	DKIM_ERR_MISSING_TAG,    /* a required tag absent */
	DKIM_ERR_VERSION,        /* v= not 1 (DKIM1 in a key) */
	DKIM_ERR_ALG,            /* a= or k= we do not verify (rsa-sha1 too, RFC 8301) */
	DKIM_ERR_CANON,          /* c= not simple or relaxed */
	DKIM_ERR_BASE64,         /* b=, bh= or p= not base64 */
	DKIM_ERR_DOMAIN,         /* d= or s= not a domain name */
	DKIM_ERR_AUID,           /* i= not in d= (RFC 6376 3.5) */
	DKIM_ERR_NO_FROM,        /* h= without From (RFC 6376 5.4) */
	DKIM_ERR_HEADERS,        /* h= malformed or over DKIM_SIGNED_FIELDS_MAX */
	DKIM_ERR_NUMBER,         /* l=, t= or x= not a number, or x= before t= */
	DKIM_ERR_QUERY,          /* q= without dns/txt */
	DKIM_ERR_HASH,           /* the key's h= excludes sha256 */
	DKIM_ERR_SERVICE,        /* the key's s= excludes email */
	DKIM_ERR_REVOKED,        /* p= empty */
};

/* A short English reason, for Authentication-Results and logs. */
const char *dkim_strerror(enum dkim_err e);

/* Splits s into at most max tags (the tags point into s). Errors:
 * SYNTAX, DUP_TAG, TOO_MANY_TAGS. An empty list (white space only) is 0
 * tags. */
enum dkim_err dkim_tags_parse(const char *s, size_t len, struct dkim_tag *t,
    size_t max, size_t *n_r);

/* The tag named name, or NULL. */
const struct dkim_tag *dkim_tag_find(const struct dkim_tag *t, size_t n,
    const char *name);

/* ---- DKIM-Signature (RFC 6376 3.5) ---- */

struct dkim_sig {
	enum dkim_alg alg;
	enum dkim_canon hcanon, bcanon;
	char domain[DKIM_DOMAIN_MAX_BYTES + 1];     /* d=, lower-case */
	char selector[DKIM_DOMAIN_MAX_BYTES + 1];   /* s=, lower-case */
	char auid[DKIM_AUID_MAX_BYTES + 1];         /* i=, default "@d" */
	char names[DKIM_SIGNED_FIELDS_MAX][DKIM_FIELD_NAME_MAX_BYTES + 1]; /* h= */
	size_t nnames;
	unsigned char b[DKIM_SIG_MAX_BYTES];
	size_t blen;
	unsigned char bh[DKIM_HASH_MAX_BYTES];
	size_t bhlen;
	bool has_l, has_t, has_x;
	uint64_t l, t, x;
};

/* Parses the value of a DKIM-Signature field (after the colon, folds
 * included). DKIM_OK or the first problem; sig is zeroed first. */
enum dkim_err dkim_sig_parse(const char *value, size_t len, struct dkim_sig *sig);

/* The field raw (name, colon, value; its final line end excluded) with
 * the value of its b= tag deleted (RFC 6376 3.7), appended to out. A
 * field without b= is copied unchanged. */
void dkim_sig_strip_b(const char *raw, size_t len, struct mm_buf *out);

/* Writes a DKIM-Signature field for a signer, up to and including "b="
 * (the value comes after signing, dkim_sig_append_b): folded at 78
 * columns with CRLF SP, relaxed/relaxed. h: dkim_sign_names()'s list;
 * bh: the body hash in base64. */
void dkim_sig_format(struct mm_buf *out, enum dkim_alg alg, const char *domain,
    const char *selector, uint64_t t, const char *h, const char *bh);
/* Appends the signature in base64 to a field from dkim_sig_format(),
 * folded, then CRLF. */
void dkim_sig_append_b(struct mm_buf *out, const char *b64);

/* ---- key records (RFC 6376 3.6.1, RFC 8463 4) ---- */

struct dkim_keyrec {
	enum dkim_alg keytype;   /* k=: DKIM_ALG_RSA_SHA256 for "rsa" */
	unsigned char p[DKIM_PUBKEY_MAX_BYTES];
	size_t plen;
	bool testing;            /* t=y */
	bool strict;             /* t=s: i= must be d= exactly */
};

/* Parses a TXT record (its strings concatenated). Errors include
 * REVOKED for an empty p=, and ALG for an unknown k=. */
enum dkim_err dkim_keyrec_parse(const char *txt, size_t len, struct dkim_keyrec *k);

/* The TXT data of a key record for publishing: "v=DKIM1; k=rsa; p=..." */
void dkim_keyrec_format(struct mm_buf *out, enum dkim_alg keytype,
    const unsigned char *pub, size_t publen);

#endif
