/* dkim-verify.c: checking every DKIM-Signature of one message (RFC 6376
 * 6, RFC 8463, RFC 8301): the header hashes as soon as the header block
 * is known, the body hashes while the body streams in (one canonicalizer
 * and SHA-256 per signature: each may have its own c= and l=), and at the
 * end one key lookup per signature through the caller's function, so any
 * DNS source (the daemon's resolver, a test's table, a file) works.
 *
 * The one idea: a signature never makes anything fail but itself. Every
 * problem (a tag that does not parse, no key, a key too short, a hash
 * that differs) becomes that signature's result with a reason, as
 * Authentication-Results reports it; at most DKIM_SIGS_MAX are looked
 * at, the rest are counted. */
#include "dkim/dkim.h"

#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base64.h"
#include "lib/util.h"
#include "mail/header.h"

struct vsig {
	struct dkim_sig sig;
	enum dkim_err perr;                /* DKIM_OK: parsed */
	char keyname[2 * DKIM_DOMAIN_MAX_BYTES + 16];
	unsigned char hh[DKIM_HASH_MAX_BYTES];   /* the header hash */
	EVP_MD_CTX *bctx;
	struct dkim_body body;
	struct dkim_sig_result *res;       /* in dkim_verify.res */
};

struct dkim_verify {
	time_t now;
	struct vsig *sigs;
	struct dkim_sig_result res[DKIM_SIGS_MAX];
	size_t n;
	size_t ignored;
	bool have_header;
	bool finished;
};

const char *
dkim_result_name(enum dkim_result r)
{
	switch (r) {
	case DKIM_RES_PASS: return "pass";
	case DKIM_RES_FAIL: return "fail";
	case DKIM_RES_NEUTRAL: return "neutral";
	case DKIM_RES_TEMPERROR: return "temperror";
	case DKIM_RES_PERMERROR: return "permerror";
	}
	return "neutral";
}

struct dkim_verify *
dkim_verify_new(time_t now)
{
	struct dkim_verify *v = xcalloc(1, sizeof(*v));
	v->now = now;
	return v;
}

void
dkim_verify_free(struct dkim_verify **vp)
{
	struct dkim_verify *v = *vp;
	if (v == NULL)
		return;
	for (size_t i = 0; i < v->n; i++)
		EVP_MD_CTX_free(v->sigs[i].bctx);
	free(v->sigs);
	free(v);
	*vp = NULL;
}

static void
md_update(void *arg, const char *p, size_t n)
{
	EVP_DigestUpdate(arg, p, n);
}

static size_t
field_len(const struct mail_hdr_field *f, const char *msg)
{
	size_t n = f->len;
	if (n > 0 && msg[f->off + n - 1] == '\n')
		n--;
	if (n > 0 && msg[f->off + n - 1] == '\r')
		n--;
	return n;
}

/* The header hash of s over the fields of h (RFC 6376 3.7). */
static bool
header_hash(struct vsig *s, const struct mail_header *h, const char *hdr,
    const struct mail_hdr_field *self)
{
	const char *names[DKIM_SIGNED_FIELDS_MAX];
	int idx[DKIM_SIGNED_FIELDS_MAX];
	struct mm_buf in, tmp;
	unsigned dlen = 0;
	bool ok;

	for (size_t i = 0; i < s->sig.nnames; i++)
		names[i] = s->sig.names[i];
	dkim_select_fields(h, names, s->sig.nnames, idx);
	mm_buf_init(&in);
	mm_buf_init(&tmp);
	for (size_t i = 0; i < s->sig.nnames; i++)
		if (idx[i] >= 0)
			dkim_canon_header(s->sig.hcanon, hdr + h->f[idx[i]].off,
			    field_len(&h->f[idx[i]], hdr), &in);
	dkim_sig_strip_b(hdr + self->off, field_len(self, hdr), &tmp);
	dkim_canon_header(s->sig.hcanon, tmp.data, tmp.len, &in);
	in.len -= 2;
	ok = EVP_Digest(in.data, in.len, s->hh, &dlen, EVP_sha256(), NULL) == 1;
	mm_buf_free(&in);
	mm_buf_free(&tmp);
	return ok;
}

void
dkim_verify_header(struct dkim_verify *v, const char *hdr, size_t len)
{
	struct mail_header h;

	if (v->have_header)
		return;
	v->have_header = true;
	mail_header_parse(hdr, 0, len, &h);
	/* a signature costs about 10 KB: only as many as there are */
	size_t want = 0;
	for (size_t i = 0; i < h.n; i++)
		want += h.f[i].name_len == 14 && mm_strncaseeq(h.f[i].name, "DKIM-Signature", 14);
	if (want > DKIM_SIGS_MAX)
		want = DKIM_SIGS_MAX;
	v->sigs = want > 0 ? xcalloc(want, sizeof(*v->sigs)) : NULL;
	for (size_t i = 0; i < h.n; i++) {
		const struct mail_hdr_field *f = &h.f[i];
		if (f->name_len != 14 || !mm_strncaseeq(f->name, "DKIM-Signature", 14))
			continue;
		if (v->n == DKIM_SIGS_MAX) {
			v->ignored++;
			continue;
		}
		struct vsig *s = &v->sigs[v->n];
		s->res = &v->res[v->n++];
		size_t vlen = f->value_len;
		while (vlen > 0 && (f->value[vlen - 1] == '\r' || f->value[vlen - 1] == '\n'))
			vlen--;
		s->perr = dkim_sig_parse(f->value, vlen, &s->sig);
		mm_strlcpy(s->res->domain, s->sig.domain, sizeof(s->res->domain));
		mm_strlcpy(s->res->selector, s->sig.selector, sizeof(s->res->selector));
		mm_strlcpy(s->res->auid, s->sig.auid, sizeof(s->res->auid));
		s->res->alg = s->sig.alg;
		if (s->perr != DKIM_OK)
			continue;
		size_t n;
		base64_encode(s->sig.b, s->sig.blen < 6 ? s->sig.blen : 6, s->res->b_prefix,
		    sizeof(s->res->b_prefix), &n);
		s->res->has_l = s->sig.has_l;
		s->res->l = s->sig.l;
		snprintf(s->keyname, sizeof(s->keyname), "%s._domainkey.%s", s->sig.selector,
		    s->sig.domain);
		s->bctx = EVP_MD_CTX_new();
		if (s->bctx == NULL || EVP_DigestInit_ex(s->bctx, EVP_sha256(), NULL) != 1 ||
		    !header_hash(s, &h, hdr, f)) {
			s->perr = DKIM_ERR_ALG;
			continue;
		}
		dkim_body_init(&s->body, s->sig.bcanon, s->sig.has_l ? s->sig.l : UINT64_MAX,
		    md_update, s->bctx);
	}
	mail_header_free(&h);
}

void
dkim_verify_body(struct dkim_verify *v, const char *p, size_t n)
{
	for (size_t i = 0; i < v->n; i++)
		if (v->sigs[i].perr == DKIM_OK)
			dkim_body_update(&v->sigs[i].body, p, n);
}

size_t
dkim_verify_count(const struct dkim_verify *v)
{
	return v->n;
}

size_t
dkim_verify_ignored(const struct dkim_verify *v)
{
	return v->ignored;
}

const char *
dkim_verify_key_name(const struct dkim_verify *v, size_t i)
{
	return i < v->n && v->sigs[i].perr == DKIM_OK ? v->sigs[i].keyname : NULL;
}

static void __attribute__((format(printf, 3, 4)))
result(struct vsig *s, enum dkim_result r, const char *fmt, ...)
{
	va_list ap;
	s->res->result = r;
	va_start(ap, fmt);
	vsnprintf(s->res->reason, sizeof(s->res->reason), fmt, ap);
	va_end(ap);
}

/* The public key of a key record, or NULL with the result set. */
static EVP_PKEY *
record_key(struct vsig *s, const struct dkim_keyrec *k)
{
	const unsigned char *p = k->p;
	EVP_PKEY *pkey;

	if (k->keytype != s->sig.alg) {
		result(s, DKIM_RES_NEUTRAL, "key is %s, signature %s",
		    dkim_alg_keytype(k->keytype), dkim_alg_name(s->sig.alg));
		return NULL;
	}
	if (k->keytype == DKIM_ALG_ED25519_SHA256) {
		if (k->plen != 32) {
			result(s, DKIM_RES_NEUTRAL, "Ed25519 key of %zu bytes", k->plen);
			return NULL;
		}
		pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, k->p, 32);
		if (pkey == NULL)
			result(s, DKIM_RES_NEUTRAL, "bad Ed25519 key");
		return pkey;
	}
	/* SubjectPublicKeyInfo, as everyone publishes; RSAPublicKey too */
	pkey = d2i_PUBKEY(NULL, &p, (long)k->plen);
	if (pkey == NULL) {
		p = k->p;
		pkey = d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, (long)k->plen);
	}
	if (pkey == NULL || EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA) {
		EVP_PKEY_free(pkey);
		result(s, DKIM_RES_NEUTRAL, "bad RSA key");
		return NULL;
	}
	int bits = EVP_PKEY_get_bits(pkey);
	if (bits < DKIM_RSA_MIN_BITS) {
		EVP_PKEY_free(pkey);
		result(s, DKIM_RES_FAIL, "key too short (%d bits)", bits);
		return NULL;
	}
	if (bits > DKIM_RSA_MAX_BITS) {
		EVP_PKEY_free(pkey);
		result(s, DKIM_RES_NEUTRAL, "key too long (%d bits)", bits);
		return NULL;
	}
	return pkey;
}

static bool
sig_ok(struct vsig *s, EVP_PKEY *pkey)
{
	bool ok = false;

	if (s->sig.alg == DKIM_ALG_RSA_SHA256) {
		EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new(pkey, NULL);
		ok = pc != NULL && EVP_PKEY_verify_init(pc) == 1 &&
		    EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PADDING) == 1 &&
		    EVP_PKEY_CTX_set_signature_md(pc, EVP_sha256()) == 1 &&
		    EVP_PKEY_verify(pc, s->sig.b, s->sig.blen, s->hh, sizeof(s->hh)) == 1;
		EVP_PKEY_CTX_free(pc);
	} else {
		EVP_MD_CTX *mc = EVP_MD_CTX_new();
		ok = mc != NULL && EVP_DigestVerifyInit(mc, NULL, NULL, NULL, pkey) == 1 &&
		    EVP_DigestVerify(mc, s->sig.b, s->sig.blen, s->hh, sizeof(s->hh)) == 1;
		EVP_MD_CTX_free(mc);
	}
	return ok;
}

static void
check_one(struct dkim_verify *v, struct vsig *s, dkim_lookup_fn *lookup, void *arg)
{
	unsigned char bh[EVP_MAX_MD_SIZE];
	unsigned bhlen = 0;
	char *txt;
	size_t tlen = 0;
	struct dkim_keyrec *k;

	if (s->perr != DKIM_OK) {
		result(s, s->perr == DKIM_ERR_NO_FROM || s->perr == DKIM_ERR_AUID ?
		    DKIM_RES_PERMERROR : DKIM_RES_NEUTRAL, "signature: %s",
		    dkim_strerror(s->perr));
		return;
	}
	dkim_body_final(&s->body);
	s->res->body_len = s->body.total;
	EVP_DigestFinal_ex(s->bctx, bh, &bhlen);
	if (s->sig.has_l && s->sig.l > s->body.total) {
		result(s, DKIM_RES_FAIL, "l=%llu is longer than the body (%llu)",
		    (unsigned long long)s->sig.l, (unsigned long long)s->body.total);
		return;
	}
	if (s->sig.has_x && (uint64_t)v->now > s->sig.x) {
		result(s, DKIM_RES_FAIL, "signature expired");
		return;
	}

	txt = xmalloc(DKIM_KEY_RECORD_MAX_BYTES + 1);
	switch (lookup(arg, s->keyname, txt, DKIM_KEY_RECORD_MAX_BYTES + 1, &tlen)) {
	case DKIM_LOOKUP_OK:
		break;
	case DKIM_LOOKUP_TEMP:
		result(s, DKIM_RES_TEMPERROR, "key lookup failed");
		free(txt);
		return;
	default:
		result(s, DKIM_RES_NEUTRAL, "no key for signature");
		free(txt);
		return;
	}
	k = xmalloc(sizeof(*k));
	enum dkim_err e = dkim_keyrec_parse(txt, tlen, k);
	free(txt);
	if (e != DKIM_OK) {
		result(s, DKIM_RES_NEUTRAL, "key record: %s", dkim_strerror(e));
		free(k);
		return;
	}
	s->res->testing = k->testing;
	if (k->strict) {
		const char *at = strchr(s->sig.auid, '@');
		if (at == NULL || !mm_strcaseeq(at + 1, s->sig.domain)) {
			result(s, DKIM_RES_FAIL, "i= is a subdomain and the key says t=s");
			free(k);
			return;
		}
	}
	EVP_PKEY *pkey = record_key(s, k);
	free(k);
	if (pkey == NULL)
		return;
	if (bhlen != s->sig.bhlen || memcmp(bh, s->sig.bh, bhlen) != 0)
		result(s, DKIM_RES_FAIL, "body hash did not verify");
	else if (!sig_ok(s, pkey))
		result(s, DKIM_RES_FAIL, "signature did not verify");
	else
		result(s, DKIM_RES_PASS, "%s", "");
	EVP_PKEY_free(pkey);
}

void
dkim_result_format(const struct dkim_sig_result *r, struct mm_buf *out)
{
	mm_buf_printf(out, "dkim=%s", dkim_result_name(r->result));
	if (r->reason[0] != '\0') {
		mm_buf_printf(out, " reason=\"");
		for (const char *p = r->reason; *p; p++)
			if (*p != '"' && *p != '\\' && (unsigned char)*p >= 0x20 &&
			    (unsigned char)*p < 0x7f)
				mm_buf_appendc(out, *p);
		mm_buf_appendc(out, '"');
	}
	if (r->has_l)
		mm_buf_printf(out, " (l=%llu of %llu bytes signed)", (unsigned long long)r->l,
		    (unsigned long long)r->body_len);
	if (r->testing)
		mm_buf_printf(out, " (test key)");
	if (r->domain[0] != '\0')
		mm_buf_printf(out, " header.d=%s", r->domain);
	if (r->selector[0] != '\0')
		mm_buf_printf(out, " header.s=%s", r->selector);
	if (r->b_prefix[0] != '\0')
		mm_buf_printf(out, " header.b=%s", r->b_prefix);
}

size_t
dkim_verify_finish(struct dkim_verify *v, dkim_lookup_fn *lookup, void *arg,
    const struct dkim_sig_result **res_r)
{
	static struct dkim_sig_result none;

	if (!v->finished) {
		v->finished = true;
		for (size_t i = 0; i < v->n; i++)
			check_one(v, &v->sigs[i], lookup, arg);
	}
	*res_r = v->n > 0 ? v->res : &none;
	return v->n;
}
