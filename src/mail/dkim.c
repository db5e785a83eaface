/* dkim.c: the pure parts of DKIM (RFC 6376, RFC 8463): canonicalization,
 * header selection, tag-lists, DKIM-Signature fields and key records.
 *
 * The one idea: the body canonicalizer is a byte-at-a-time state machine
 * (a CR waiting for its LF, a run of WSP not yet written, empty lines held
 * back until text follows them), so a body pushed in chunks of any size
 * gives the same bytes as the whole body at once; the signer and the
 * verifier (src/dkim/) hash what it writes. Everything that is parsed
 * (tags, names, base64) is bounded and refused, never cut, above its
 * bound. */
#include "mail/dkim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base64.h"
#include "mail/header.h"

static bool
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

static bool
is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static char
lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

const char *
dkim_alg_name(enum dkim_alg a)
{
	return a == DKIM_ALG_ED25519_SHA256 ? "ed25519-sha256" : "rsa-sha256";
}

const char *
dkim_alg_keytype(enum dkim_alg a)
{
	return a == DKIM_ALG_ED25519_SHA256 ? "ed25519" : "rsa";
}

/* ---- header canonicalization ---- */

void
dkim_canon_header(enum dkim_canon c, const char *raw, size_t len, struct mm_buf *out)
{
	if (c == DKIM_CANON_SIMPLE) {
		mm_buf_append(out, raw, len);
		mm_buf_append(out, "\r\n", 2);
		return;
	}
	const char *colon = memchr(raw, ':', len);
	size_t nlen = colon != NULL ? (size_t)(colon - raw) : len;
	size_t i;

	while (nlen > 0 && is_wsp(raw[nlen - 1]))
		nlen--;
	for (i = 0; i < nlen; i++)
		mm_buf_appendc(out, lower(raw[i]));
	if (colon != NULL) {
		bool wsp = false, any = false;
		mm_buf_appendc(out, ':');
		for (i = (size_t)(colon - raw) + 1; i < len; i++) {
			char ch = raw[i];
			if (ch == '\r' && i + 1 < len && raw[i + 1] == '\n') {
				i++;            /* unfold: the CRLF goes, the WSP after it counts */
				continue;
			}
			if (is_wsp(ch)) {
				wsp = true;
				continue;
			}
			if (wsp && any)
				mm_buf_appendc(out, ' ');
			wsp = false;
			any = true;
			mm_buf_appendc(out, ch);
		}
	}
	mm_buf_append(out, "\r\n", 2);
}

/* ---- body canonicalization ---- */

void
dkim_body_init(struct dkim_body *b, enum dkim_canon c, uint64_t limit,
    dkim_body_out *out, void *arg)
{
	memset(b, 0, sizeof(*b));
	b->canon = c;
	b->limit = limit;
	b->out = out;
	b->arg = arg;
}

static void
body_flush(struct dkim_body *b)
{
	if (b->nbuf > 0)
		b->out(b->arg, b->buf, b->nbuf);
	b->nbuf = 0;
}

static void
body_emit(struct dkim_body *b, const char *p, size_t n)
{
	b->total += n;
	if (b->emitted >= b->limit)
		return;
	if ((uint64_t)n > b->limit - b->emitted)
		n = (size_t)(b->limit - b->emitted);
	b->emitted += n;
	while (n > 0) {
		size_t k = sizeof(b->buf) - b->nbuf;
		if (k > n)
			k = n;
		memcpy(b->buf + b->nbuf, p, k);
		b->nbuf += k;
		p += k;
		n -= k;
		if (b->nbuf == sizeof(b->buf))
			body_flush(b);
	}
}

/* A character that is not a line end. */
static void
body_char(struct dkim_body *b, char c)
{
	if (b->canon == DKIM_CANON_RELAXED && is_wsp(c)) {
		b->wsp = true;
		return;
	}
	for (; b->empty_lines > 0; b->empty_lines--)
		body_emit(b, "\r\n", 2);
	if (b->wsp) {
		body_emit(b, " ", 1);
		b->wsp = false;
	}
	body_emit(b, &c, 1);
	b->text = true;
}

static void
body_eol(struct dkim_body *b)
{
	b->wsp = false;                 /* relaxed: WSP at the end of a line goes */
	if (!b->text) {
		b->empty_lines++;
		return;
	}
	body_emit(b, "\r\n", 2);
	b->text = false;
}

void
dkim_body_update(struct dkim_body *b, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (b->cr) {
			b->cr = false;
			if (c == '\n') {
				body_eol(b);
				continue;
			}
			body_char(b, '\r');
		}
		if (c == '\r')
			b->cr = true;
		else
			body_char(b, c);
	}
}

void
dkim_body_final(struct dkim_body *b)
{
	if (b->cr) {
		b->cr = false;
		body_char(b, '\r');
	}
	/* a last line without CRLF is read as if it had one */
	if (b->text || b->wsp)
		body_eol(b);
	if (b->total == 0 && b->canon == DKIM_CANON_SIMPLE)
		body_emit(b, "\r\n", 2);
	body_flush(b);
}

/* ---- header selection ---- */

static bool
name_eq(const struct mail_hdr_field *f, const char *name)
{
	size_t n = strlen(name);
	return f->name_len == n && mm_strncaseeq(f->name, name, n);
}

void
dkim_select_fields(const struct mail_header *hdr, const char *const *names,
    size_t nnames, int *idx_r)
{
	bool *used = xcalloc(hdr->n + 1, sizeof(*used));

	for (size_t i = 0; i < nnames; i++) {
		idx_r[i] = -1;
		for (size_t j = hdr->n; j-- > 0;) {
			if (!used[j] && name_eq(&hdr->f[j], names[i])) {
				used[j] = true;
				idx_r[i] = (int)j;
				break;
			}
		}
	}
	free(used);
}

static bool
names_add(struct mm_buf *out, size_t *n, const char *name)
{
	if (*n == DKIM_SIGNED_FIELDS_MAX)
		return false;
	if ((*n)++ > 0)
		mm_buf_appendc(out, ':');
	for (const char *p = name; *p; p++)
		mm_buf_appendc(out, lower(*p));
	return true;
}

bool
dkim_sign_names(const struct mail_header *hdr, const char *const *want,
    size_t nwant, const char *const *over, size_t nover, struct mm_buf *out)
{
	size_t n = 0;

	for (size_t i = 0; i < nwant; i++) {
		for (size_t j = 0; j < hdr->n; j++)
			if (name_eq(&hdr->f[j], want[i]) && !names_add(out, &n, want[i]))
				return false;
		for (size_t k = 0; k < nover; k++)
			if (mm_strcaseeq(over[k], want[i]) && !names_add(out, &n, want[i]))
				return false;
	}
	return true;
}

/* ---- tag-lists ---- */

const char *
dkim_strerror(enum dkim_err e)
{
	switch (e) {
	case DKIM_OK: return "ok";
	case DKIM_ERR_SYNTAX: return "malformed tag-list";
	case DKIM_ERR_DUP_TAG: return "duplicate tag";
	case DKIM_ERR_TOO_MANY_TAGS: return "too many tags";
	case DKIM_ERR_TOO_LONG: return "value too long";
	case DKIM_ERR_MISSING_TAG: return "required tag missing";
	case DKIM_ERR_VERSION: return "unsupported version";
	case DKIM_ERR_ALG: return "unsupported algorithm";
	case DKIM_ERR_CANON: return "unsupported canonicalization";
	case DKIM_ERR_BASE64: return "bad base64";
	case DKIM_ERR_DOMAIN: return "bad domain or selector";
	case DKIM_ERR_AUID: return "i= not in d= domain";
	case DKIM_ERR_NO_FROM: return "From not signed";
	case DKIM_ERR_HEADERS: return "bad h= list";
	case DKIM_ERR_NUMBER: return "bad number in l=, t= or x=";
	case DKIM_ERR_QUERY: return "unsupported query method";
	case DKIM_ERR_HASH: return "key does not allow sha256";
	case DKIM_ERR_SERVICE: return "key not for email";
	case DKIM_ERR_REVOKED: return "key revoked";
	}
	return "unknown error";
}

/* Skips FWS ([*WSP CRLF] 1*WSP, leniently any mix of WSP and CRLF WSP)
 * from s[i]; returns the new index. */
static size_t
skip_fws(const char *s, size_t len, size_t i)
{
	for (;;) {
		if (i < len && is_wsp(s[i]))
			i++;
		else if (i + 2 < len && s[i] == '\r' && s[i + 1] == '\n' && is_wsp(s[i + 2]))
			i += 3;
		else
			return i;
	}
}

enum dkim_err
dkim_tags_parse(const char *s, size_t len, struct dkim_tag *t, size_t max, size_t *n_r)
{
	size_t i = 0, n = 0;

	*n_r = 0;
	for (;;) {
		i = skip_fws(s, len, i);
		if (i == len)
			break;                  /* empty list, or after a final ';' */
		if (!is_alpha(s[i]))
			return DKIM_ERR_SYNTAX;
		size_t ns = i;
		while (i < len && (is_alpha(s[i]) || is_digit(s[i]) || s[i] == '_'))
			i++;
		size_t ne = i;
		i = skip_fws(s, len, i);
		if (i == len || s[i] != '=')
			return DKIM_ERR_SYNTAX;
		i = skip_fws(s, len, i + 1);
		size_t vs = i, ve = i;
		while (i < len && s[i] != ';') {
			unsigned char c = (unsigned char)s[i];
			if (c >= 0x21 && c <= 0x7e) {
				i++;
				ve = i;
				continue;
			}
			size_t j = skip_fws(s, len, i);
			if (j == i)
				return DKIM_ERR_SYNTAX;   /* a control character, 8-bit, a bare CR */
			i = j;
		}
		if (n == max)
			return DKIM_ERR_TOO_MANY_TAGS;
		for (size_t k = 0; k < n; k++)
			if (t[k].name_len == ne - ns && memcmp(t[k].name, s + ns, ne - ns) == 0)
				return DKIM_ERR_DUP_TAG;
		t[n].name = s + ns;
		t[n].name_len = ne - ns;
		t[n].value = s + vs;
		t[n].value_len = ve - vs;
		n++;
		if (i == len)
			break;
		i++;                            /* the ';' */
	}
	*n_r = n;
	return DKIM_OK;
}

const struct dkim_tag *
dkim_tag_find(const struct dkim_tag *t, size_t n, const char *name)
{
	size_t len = strlen(name);
	for (size_t i = 0; i < n; i++)
		if (t[i].name_len == len && memcmp(t[i].name, name, len) == 0)
			return &t[i];
	return NULL;
}

static bool
val_eq(const struct dkim_tag *t, const char *s)
{
	return t->value_len == strlen(s) && memcmp(t->value, s, t->value_len) == 0;
}

/* The base64 of a value with its white space removed, decoded. */
static enum dkim_err
val_base64(const struct dkim_tag *t, unsigned char *dst, size_t max, size_t *len_r)
{
	char tmp[BASE64_ENCODED_LEN(DKIM_PUBKEY_MAX_BYTES > DKIM_SIG_MAX_BYTES ?
	    DKIM_PUBKEY_MAX_BYTES : DKIM_SIG_MAX_BYTES) + 8];
	size_t n = 0;

	for (size_t i = 0; i < t->value_len; i++) {
		char c = t->value[i];
		if (is_wsp(c) || c == '\r' || c == '\n')
			continue;
		if (n == sizeof(tmp) - 1)
			return DKIM_ERR_TOO_LONG;
		tmp[n++] = c;
	}
	if (BASE64_DECODED_MAX(n) > max + 2)
		return DKIM_ERR_TOO_LONG;
	unsigned char out[sizeof(tmp)];
	if (base64_decode(tmp, n, out, sizeof(out), len_r) != BASE64_OK)
		return DKIM_ERR_BASE64;
	if (*len_r > max)
		return DKIM_ERR_TOO_LONG;
	memcpy(dst, out, *len_r);
	return DKIM_OK;
}

/* A domain name (d=, s=, the domain of i=): LDH labels (and '_', which
 * selectors in the wild use) of 1 to 63, lower-cased into dst. */
static bool
val_domain(const char *s, size_t len, char *dst, size_t dstsize)
{
	size_t label = 0;

	if (len == 0 || len >= dstsize)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (is_alpha(c) || is_digit(c) || c == '-' || c == '_') {
			if (++label > 63)
				return false;
		} else {
			return false;
		}
		dst[i] = lower(c);
	}
	dst[len] = '\0';
	return label > 0;
}

/* 1 to 20 digits (l= allows 76, but more than fit 64 bits are refused). */
static bool
val_number(const struct dkim_tag *t, uint64_t *r)
{
	uint64_t v = 0;

	if (t->value_len == 0 || t->value_len > 20)
		return false;
	for (size_t i = 0; i < t->value_len; i++) {
		unsigned d;
		if (!is_digit(t->value[i]))
			return false;
		d = (unsigned)(t->value[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*r = v;
	return true;
}

/* Does the colon-separated list (FWS allowed around items) hold item? */
static bool
list_has(const struct dkim_tag *t, const char *item)
{
	size_t i = 0, len = t->value_len, ilen = strlen(item);
	const char *s = t->value;

	while (i <= len) {
		size_t e = i;
		while (e < len && s[e] != ':')
			e++;
		size_t a = skip_fws(s, e, i), b = e;
		while (b > a && (is_wsp(s[b - 1]) || s[b - 1] == '\n' || s[b - 1] == '\r'))
			b--;
		if (b - a == ilen && mm_strncaseeq(s + a, item, ilen))
			return true;
		i = e + 1;
	}
	return false;
}

static enum dkim_err
sig_names(const struct dkim_tag *t, struct dkim_sig *sig)
{
	size_t i = 0, len = t->value_len;
	const char *s = t->value;
	bool from = false;

	while (i <= len) {
		size_t e = i;
		while (e < len && s[e] != ':')
			e++;
		size_t a = skip_fws(s, e, i), b = e;
		while (b > a && (is_wsp(s[b - 1]) || s[b - 1] == '\n' || s[b - 1] == '\r'))
			b--;
		if (b == a || b - a > DKIM_FIELD_NAME_MAX_BYTES)
			return DKIM_ERR_HEADERS;
		if (sig->nnames == DKIM_SIGNED_FIELDS_MAX)
			return DKIM_ERR_HEADERS;
		char *name = sig->names[sig->nnames++];
		for (size_t k = a; k < b; k++) {
			unsigned char c = (unsigned char)s[k];
			if (c <= 0x20 || c >= 0x7f || c == ':')
				return DKIM_ERR_HEADERS;
			*name++ = lower((char)c);
		}
		*name = '\0';
		from |= b - a == 4 && mm_strncaseeq(s + a, "from", 4);
		i = e + 1;
	}
	return from ? DKIM_OK : DKIM_ERR_NO_FROM;
}

enum dkim_err
dkim_sig_parse(const char *value, size_t len, struct dkim_sig *sig)
{
	struct dkim_tag t[DKIM_TAGS_MAX];
	const struct dkim_tag *v;
	size_t n;
	enum dkim_err e;

	memset(sig, 0, sizeof(*sig));
	if (len > DKIM_SIG_FIELD_MAX_BYTES)
		return DKIM_ERR_TOO_LONG;
	if ((e = dkim_tags_parse(value, len, t, DKIM_TAGS_MAX, &n)) != DKIM_OK)
		return e;
	static const char *const required[] = { "v", "a", "b", "bh", "d", "h", "s" };
	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++)
		if (dkim_tag_find(t, n, required[i]) == NULL)
			return DKIM_ERR_MISSING_TAG;
	if (!val_eq(dkim_tag_find(t, n, "v"), "1"))
		return DKIM_ERR_VERSION;
	v = dkim_tag_find(t, n, "a");
	if (val_eq(v, "rsa-sha256"))
		sig->alg = DKIM_ALG_RSA_SHA256;
	else if (val_eq(v, "ed25519-sha256"))
		sig->alg = DKIM_ALG_ED25519_SHA256;
	else
		return DKIM_ERR_ALG;
	if ((v = dkim_tag_find(t, n, "c")) != NULL) {
		static const struct { const char *s; enum dkim_canon h, b; } cs[] = {
			{ "simple", DKIM_CANON_SIMPLE, DKIM_CANON_SIMPLE },
			{ "relaxed", DKIM_CANON_RELAXED, DKIM_CANON_SIMPLE },
			{ "simple/simple", DKIM_CANON_SIMPLE, DKIM_CANON_SIMPLE },
			{ "simple/relaxed", DKIM_CANON_SIMPLE, DKIM_CANON_RELAXED },
			{ "relaxed/simple", DKIM_CANON_RELAXED, DKIM_CANON_SIMPLE },
			{ "relaxed/relaxed", DKIM_CANON_RELAXED, DKIM_CANON_RELAXED },
		};
		size_t i;
		for (i = 0; i < sizeof(cs) / sizeof(cs[0]); i++)
			if (val_eq(v, cs[i].s))
				break;
		if (i == sizeof(cs) / sizeof(cs[0]))
			return DKIM_ERR_CANON;
		sig->hcanon = cs[i].h;
		sig->bcanon = cs[i].b;
	}
	v = dkim_tag_find(t, n, "d");
	if (!val_domain(v->value, v->value_len, sig->domain, sizeof(sig->domain)))
		return DKIM_ERR_DOMAIN;
	v = dkim_tag_find(t, n, "s");
	if (!val_domain(v->value, v->value_len, sig->selector, sizeof(sig->selector)))
		return DKIM_ERR_DOMAIN;
	if ((v = dkim_tag_find(t, n, "i")) != NULL) {
		char dom[DKIM_DOMAIN_MAX_BYTES + 1];
		const char *at = memchr(v->value, '@', v->value_len);
		size_t dl, ddl = strlen(sig->domain);
		if (at == NULL || v->value_len > DKIM_AUID_MAX_BYTES)
			return DKIM_ERR_AUID;
		dl = v->value_len - (size_t)(at + 1 - v->value);
		if (!val_domain(at + 1, dl, dom, sizeof(dom)))
			return DKIM_ERR_AUID;
		if (!(dl == ddl && strcmp(dom, sig->domain) == 0) &&
		    !(dl > ddl && dom[dl - ddl - 1] == '.' &&
		    strcmp(dom + dl - ddl, sig->domain) == 0))
			return DKIM_ERR_AUID;
		memcpy(sig->auid, v->value, v->value_len);
		sig->auid[v->value_len] = '\0';
	} else {
		snprintf(sig->auid, sizeof(sig->auid), "@%s", sig->domain);
	}
	if ((e = sig_names(dkim_tag_find(t, n, "h"), sig)) != DKIM_OK)
		return e;
	if ((v = dkim_tag_find(t, n, "l")) != NULL) {
		if (!val_number(v, &sig->l))
			return DKIM_ERR_NUMBER;
		sig->has_l = true;
	}
	if ((v = dkim_tag_find(t, n, "t")) != NULL) {
		if (!val_number(v, &sig->t))
			return DKIM_ERR_NUMBER;
		sig->has_t = true;
	}
	if ((v = dkim_tag_find(t, n, "x")) != NULL) {
		if (!val_number(v, &sig->x) || (sig->has_t && sig->x < sig->t))
			return DKIM_ERR_NUMBER;
		sig->has_x = true;
	}
	if ((v = dkim_tag_find(t, n, "q")) != NULL && !list_has(v, "dns/txt"))
		return DKIM_ERR_QUERY;
	if ((e = val_base64(dkim_tag_find(t, n, "bh"), sig->bh, sizeof(sig->bh),
	    &sig->bhlen)) != DKIM_OK)
		return e;
	if (sig->bhlen != DKIM_HASH_MAX_BYTES)
		return DKIM_ERR_BASE64;
	if ((e = val_base64(dkim_tag_find(t, n, "b"), sig->b, sizeof(sig->b),
	    &sig->blen)) != DKIM_OK)
		return e;
	if (sig->blen == 0)
		return DKIM_ERR_BASE64;
	return DKIM_OK;
}

void
dkim_sig_strip_b(const char *raw, size_t len, struct mm_buf *out)
{
	const char *colon = memchr(raw, ':', len);
	struct dkim_tag t[DKIM_TAGS_MAX];
	size_t n, vstart;
	const struct dkim_tag *b;

	if (colon == NULL) {
		mm_buf_append(out, raw, len);
		return;
	}
	vstart = (size_t)(colon + 1 - raw);
	if (dkim_tags_parse(raw + vstart, len - vstart, t, DKIM_TAGS_MAX, &n) != DKIM_OK ||
	    (b = dkim_tag_find(t, n, "b")) == NULL) {
		mm_buf_append(out, raw, len);
		return;
	}
	/* from just after '=' to the ';' (or the end): the value and the
	 * white space around it */
	const char *eq = b->name + b->name_len;
	while (*eq != '=')
		eq++;
	const char *vs = eq + 1;
	const char *ve = b->value + b->value_len;
	while (ve < raw + len && *ve != ';')
		ve++;
	mm_buf_append(out, raw, (size_t)(vs - raw));
	mm_buf_append(out, ve, (size_t)(raw + len - ve));
}

/* Appends s to a field being folded at 78 columns: a fold (CRLF SP)
 * before s when it would not fit on the current line. col is the column. */
static void
fold_add(struct mm_buf *out, size_t *col, const char *s, size_t n, bool space)
{
	if (*col + n + (space ? 1 : 0) > 78 && *col > 1) {
		mm_buf_append(out, "\r\n ", 3);
		*col = 1;
	} else if (space) {
		mm_buf_appendc(out, ' ');
		(*col)++;
	}
	mm_buf_append(out, s, n);
	*col += n;
}

void
dkim_sig_format(struct mm_buf *out, enum dkim_alg alg, const char *domain,
    const char *selector, uint64_t t, const char *h, const char *bh)
{
	char tmp[DKIM_DOMAIN_MAX_BYTES + 32];
	size_t col;

	mm_buf_printf(out, "DKIM-Signature: v=1; a=%s; c=relaxed/relaxed;",
	    dkim_alg_name(alg));
	col = strlen("DKIM-Signature: v=1; a=; c=relaxed/relaxed;") +
	    strlen(dkim_alg_name(alg));
	snprintf(tmp, sizeof(tmp), "d=%s;", domain);
	fold_add(out, &col, tmp, strlen(tmp), true);
	snprintf(tmp, sizeof(tmp), "s=%s;", selector);
	fold_add(out, &col, tmp, strlen(tmp), true);
	snprintf(tmp, sizeof(tmp), "t=%llu;", (unsigned long long)t);
	fold_add(out, &col, tmp, strlen(tmp), true);
	/* h= folded after its colons */
	const char *p = h;
	bool first = true;
	while (*p) {
		const char *e = strchr(p, ':');
		size_t n = e != NULL ? (size_t)(e - p) + 1 : strlen(p);
		char piece[DKIM_FIELD_NAME_MAX_BYTES + 8];
		size_t k = 0;
		if (first)
			piece[k++] = 'h', piece[k++] = '=';
		if (n > DKIM_FIELD_NAME_MAX_BYTES + 1)
			n = DKIM_FIELD_NAME_MAX_BYTES + 1;
		memcpy(piece + k, p, n);
		k += n;
		if (e == NULL)
			piece[k++] = ';';
		fold_add(out, &col, piece, k, first);
		first = false;
		p += e != NULL ? (size_t)(e - p) + 1 : strlen(p);
	}
	mm_buf_append(out, "\r\n bh=", 6);
	mm_buf_append(out, bh, strlen(bh));
	mm_buf_append(out, ";\r\n b=", 6);
}

void
dkim_sig_append_b(struct mm_buf *out, const char *b64)
{
	size_t n = strlen(b64), col = 3;

	for (size_t i = 0; i < n;) {
		size_t k = n - i < 75 - col ? n - i : 75 - col;
		mm_buf_append(out, b64 + i, k);
		i += k;
		if (i < n) {
			mm_buf_append(out, "\r\n ", 3);
			col = 1;
		}
	}
	mm_buf_append(out, "\r\n", 2);
}

/* ---- key records ---- */

enum dkim_err
dkim_keyrec_parse(const char *txt, size_t len, struct dkim_keyrec *k)
{
	struct dkim_tag t[DKIM_TAGS_MAX];
	const struct dkim_tag *v;
	size_t n;
	enum dkim_err e;

	memset(k, 0, sizeof(*k));
	if (len > DKIM_KEY_RECORD_MAX_BYTES)
		return DKIM_ERR_TOO_LONG;
	if ((e = dkim_tags_parse(txt, len, t, DKIM_TAGS_MAX, &n)) != DKIM_OK)
		return e;
	/* v=, when present, is first and DKIM1 (RFC 6376 3.6.1) */
	if ((v = dkim_tag_find(t, n, "v")) != NULL && (v != &t[0] || !val_eq(v, "DKIM1")))
		return DKIM_ERR_VERSION;
	if ((v = dkim_tag_find(t, n, "h")) != NULL && !list_has(v, "sha256"))
		return DKIM_ERR_HASH;
	k->keytype = DKIM_ALG_RSA_SHA256;
	if ((v = dkim_tag_find(t, n, "k")) != NULL) {
		if (val_eq(v, "ed25519"))
			k->keytype = DKIM_ALG_ED25519_SHA256;
		else if (!val_eq(v, "rsa"))
			return DKIM_ERR_ALG;
	}
	if ((v = dkim_tag_find(t, n, "s")) != NULL && !list_has(v, "email") &&
	    !list_has(v, "*"))
		return DKIM_ERR_SERVICE;
	if ((v = dkim_tag_find(t, n, "t")) != NULL) {
		k->testing = list_has(v, "y");
		k->strict = list_has(v, "s");
	}
	if ((v = dkim_tag_find(t, n, "p")) == NULL)
		return DKIM_ERR_MISSING_TAG;
	if (v->value_len == 0)
		return DKIM_ERR_REVOKED;
	if ((e = val_base64(v, k->p, sizeof(k->p), &k->plen)) != DKIM_OK)
		return e;
	return k->plen == 0 ? DKIM_ERR_REVOKED : DKIM_OK;
}

void
dkim_keyrec_format(struct mm_buf *out, enum dkim_alg keytype,
    const unsigned char *pub, size_t publen)
{
	size_t cap = BASE64_ENCODED_LEN(publen) + 1, len;
	char *b64 = xmalloc(cap);

	base64_encode(pub, publen, b64, cap, &len);
	mm_buf_printf(out, "v=DKIM1; k=%s; p=%s", dkim_alg_keytype(keytype), b64);
	free(b64);
}
