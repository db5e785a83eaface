/* dkim-sign.c: signing one message with the keys of its domain (RFC 6376
 * 5, RFC 8463): one body hash (relaxed, SHA-256) shared by every
 * signature, one h= list, then per key the header hash and its
 * signature: RSASSA-PKCS1-v1_5 over SHA-256, or PureEd25519 over the
 * SHA-256 digest (RFC 8463 3).
 *
 * The one idea: the caller hands in the exact bytes that go on the wire
 * and prepends what comes back, so what a receiver hashes is what was
 * signed. It runs on a worker (the relay's body load): RSA signing is a
 * millisecond, far too long for the event loop. */
#include "dkim/dkim.h"

#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base64.h"
#include "lib/util.h"
#include "mail/header.h"

const char *const dkim_sign_fields[] = {
	"From", "Reply-To", "To", "Cc", "Subject", "Date", "Message-ID",
	"In-Reply-To", "References", "MIME-Version", "Content-Type",
	"Content-Transfer-Encoding",
};
const size_t dkim_sign_nfields = sizeof(dkim_sign_fields) / sizeof(dkim_sign_fields[0]);

static const char *const oversign[] = { "From" };

static void
md_update(void *arg, const char *p, size_t n)
{
	EVP_DigestUpdate(arg, p, n);
}

bool
dkim_sign_data(EVP_PKEY *pkey, enum dkim_alg alg, const char *data, size_t len,
    unsigned char *sig, size_t *siglen_r)
{
	unsigned char h[EVP_MAX_MD_SIZE];
	unsigned hlen = 0;
	size_t n = DKIM_SIG_MAX_BYTES;
	bool ok = false;

	if (EVP_Digest(data, len, h, &hlen, EVP_sha256(), NULL) != 1)
		return false;
	if (alg == DKIM_ALG_RSA_SHA256) {
		EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new(pkey, NULL);
		ok = pc != NULL && EVP_PKEY_sign_init(pc) == 1 &&
		    EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PADDING) == 1 &&
		    EVP_PKEY_CTX_set_signature_md(pc, EVP_sha256()) == 1 &&
		    EVP_PKEY_sign(pc, NULL, &n, h, hlen) == 1 && n <= DKIM_SIG_MAX_BYTES &&
		    EVP_PKEY_sign(pc, sig, &n, h, hlen) == 1;
		EVP_PKEY_CTX_free(pc);
	} else {
		EVP_MD_CTX *mc = EVP_MD_CTX_new();
		ok = mc != NULL && EVP_DigestSignInit(mc, NULL, NULL, NULL, pkey) == 1 &&
		    EVP_DigestSign(mc, sig, &n, h, hlen) == 1;
		EVP_MD_CTX_free(mc);
	}
	if (ok)
		*siglen_r = n;
	return ok;
}

/* The field at f without its final line end. */
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

/* The body hash: relaxed, all of it, SHA-256. */
struct dkim_sign_body {
	EVP_MD_CTX *mc;
	struct dkim_body body;
};

struct dkim_sign_body *
dkim_sign_body_new(void)
{
	EVP_MD_CTX *mc = EVP_MD_CTX_new();
	if (mc == NULL || EVP_DigestInit_ex(mc, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(mc);
		return NULL;
	}
	struct dkim_sign_body *sb = xcalloc(1, sizeof(*sb));
	sb->mc = mc;
	dkim_body_init(&sb->body, DKIM_CANON_RELAXED, UINT64_MAX, md_update, mc);
	return sb;
}

void
dkim_sign_body_update(struct dkim_sign_body *sb, const char *p, size_t n)
{
	dkim_body_update(&sb->body, p, n);
}

void
dkim_sign_body_free(struct dkim_sign_body **sb)
{
	if (*sb == NULL)
		return;
	EVP_MD_CTX_free((*sb)->mc);
	free(*sb);
	*sb = NULL;
}

char *
dkim_sign(const struct dkim_keyset *ks, const char *domain, const char *msg,
    size_t len, time_t now, size_t *len_r, size_t *nsig_r, char *err, size_t errlen)
{
	struct mail_header h;
	struct dkim_sign_body *sb;

	*nsig_r = 0;
	*len_r = 0;
	err[0] = '\0';
	if ((sb = dkim_sign_body_new()) == NULL) {
		snprintf(err, errlen, "SHA-256 unavailable");
		return NULL;
	}
	mail_header_parse(msg, 0, len, &h);
	size_t body_off = h.body_off <= len ? h.body_off : len;
	mail_header_free(&h);
	dkim_sign_body_update(sb, msg + body_off, len - body_off);
	return dkim_sign_header(ks, domain, msg, body_off, sb, now, len_r, nsig_r, err, errlen);
}

char *
dkim_sign_header(const struct dkim_keyset *ks, const char *domain, const char *msg,
    size_t len, struct dkim_sign_body *sb, time_t now, size_t *len_r, size_t *nsig_r,
    char *err, size_t errlen)
{
	struct mail_header h;
	struct mm_buf names, hin, out;
	char bh[BASE64_ENCODED_LEN(DKIM_HASH_MAX_BYTES) + 1];
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned dlen = 0;
	size_t nkeys = 0, n;
	char *ret = NULL;

	*nsig_r = 0;
	*len_r = 0;
	err[0] = '\0';
	for (size_t i = 0; ks != NULL && i < ks->n; i++)
		nkeys += mm_strcaseeq(ks->keys[i].domain, domain);
	if (nkeys == 0) {
		dkim_sign_body_free(&sb);
		return NULL;
	}

	mail_header_parse(msg, 0, len, &h);
	mm_buf_init(&names);
	mm_buf_init(&hin);
	mm_buf_init(&out);
	if (h.truncated) {
		snprintf(err, errlen, "header block larger than %d bytes", MIME_HEADER_MAX_BYTES);
		goto out;
	}

	/* the body hash: relaxed, all of it */
	dkim_body_final(&sb->body);
	EVP_DigestFinal_ex(sb->mc, digest, &dlen);
	base64_encode(digest, dlen, bh, sizeof(bh), &n);

	/* the fields: the h= list, and their canonical form once for all keys */
	if (!dkim_sign_names(&h, dkim_sign_fields, dkim_sign_nfields, oversign, 1, &names)) {
		snprintf(err, errlen, "more than %d header fields to sign",
		    DKIM_SIGNED_FIELDS_MAX);
		goto out;
	}
	{
		const char *list[DKIM_SIGNED_FIELDS_MAX];
		char *copy = xstrdup(mm_buf_cstr(&names)), *save = NULL;
		int idx[DKIM_SIGNED_FIELDS_MAX];
		size_t nn = 0;
		for (char *t = strtok_r(copy, ":", &save); t != NULL && nn < DKIM_SIGNED_FIELDS_MAX;
		    t = strtok_r(NULL, ":", &save))
			list[nn++] = t;
		dkim_select_fields(&h, list, nn, idx);
		for (size_t i = 0; i < nn; i++)
			if (idx[i] >= 0)
				dkim_canon_header(DKIM_CANON_RELAXED, msg + h.f[idx[i]].off,
				    field_len(&h.f[idx[i]], msg), &hin);
		free(copy);
	}

	for (size_t i = 0; i < ks->n; i++) {
		const struct dkim_key *k = &ks->keys[i];
		struct mm_buf field, data;
		unsigned char sig[DKIM_SIG_MAX_BYTES];
		char b64[BASE64_ENCODED_LEN(DKIM_SIG_MAX_BYTES) + 1];
		size_t siglen = 0;

		if (!mm_strcaseeq(k->domain, domain))
			continue;
		mm_buf_init(&field);
		mm_buf_init(&data);
		dkim_sig_format(&field, k->alg, k->domain, k->selector, (uint64_t)now,
		    mm_buf_cstr(&names), bh);
		mm_buf_append(&data, hin.data, hin.len);
		dkim_canon_header(DKIM_CANON_RELAXED, field.data, field.len, &data);
		data.len -= 2;          /* the signature's own field: no CRLF */
		bool ok = dkim_sign_data(k->pkey, k->alg, data.data, data.len, sig, &siglen);
		mm_buf_free(&data);
		if (!ok) {
			snprintf(err, errlen, "%s signing with %s failed", dkim_alg_name(k->alg),
			    k->selector);
			mm_buf_free(&field);
			goto out;
		}
		base64_encode(sig, siglen, b64, sizeof(b64), &n);
		dkim_sig_append_b(&field, b64);
		mm_buf_append(&out, field.data, field.len);
		mm_buf_free(&field);
		(*nsig_r)++;
	}
	*len_r = out.len;
	ret = mm_buf_cstr(&out);
	out.data = NULL;
out:
	if (ret == NULL)
		*nsig_r = 0;
	mm_buf_free(&out);
	mm_buf_free(&names);
	mm_buf_free(&hin);
	mail_header_free(&h);
	dkim_sign_body_free(&sb);
	return ret;
}
