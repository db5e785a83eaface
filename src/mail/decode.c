/* decode.c: bytes to searchable UTF-8. Everything here appends to a
 * struct mm_buf and never fails: junk is skipped or read as windows-1252,
 * so the output is always valid UTF-8. The one idea: charset conversion
 * works on whole runs (all adjacent encoded words of one charset are
 * joined before conversion, so a character split across words survives). */
#include "mail/decode.h"
#include "mail/header.h"
#include "lib/base64.h"

#include <errno.h>
#include <iconv.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const uint16_t cp1252_80[32] = {
	0x20ac, 0x0081, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021,
	0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008d, 0x017d, 0x008f,
	0x0090, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014,
	0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0x009d, 0x017e, 0x0178,
};

static uint32_t
cp1252(unsigned char c)
{
	return c >= 0x80 && c < 0xa0 ? cp1252_80[c - 0x80] : c;
}

/* The character at s[*i] (len bytes in all): a UTF-8 sequence, or else
 * one byte read as windows-1252. Moves *i past it. */
static uint32_t
next_char(const unsigned char *s, size_t len, size_t *i)
{
	uint32_t c;
	size_t n = mm_utf8_decode(s + *i, len - *i, &c);
	if (n == 0) {
		c = cp1252(s[*i]);
		n = 1;
	}
	*i += n;
	return c;
}

/* Eight bytes at a time (SWAR) for the ASCII runs that are most of any
 * mail text: a word whose bytes all lack the high bit is ASCII. */
#define ASCII_HIGH UINT64_C(0x8080808080808080)
#define ASCII_ONES UINT64_C(0x0101010101010101)

static uint64_t
load64(const unsigned char *p)
{
	uint64_t w;
	memcpy(&w, p, sizeof(w));
	return w;
}

/* How many bytes from s[i] on are ASCII, up to len. */
static size_t
ascii_run(const unsigned char *s, size_t i, size_t len)
{
	size_t k = i;
	while (k + 8 <= len && (load64(s + k) & ASCII_HIGH) == 0)
		k += 8;
	while (k < len && s[k] < 0x80)
		k++;
	return k - i;
}

/* If in[*i] starts a run of ASCII, appends the run (it is itself in
 * UTF-8 and in every 8-bit charset here), moves *i past it and is true. */
static bool
ascii_copy(const char *in, size_t *i, size_t len, struct mm_buf *out)
{
	size_t run = ascii_run((const unsigned char *)in, *i, len);
	if (run == 0)
		return false;
	mm_buf_append(out, in + *i, run);
	*i += run;
	return true;
}

/* w's eight ASCII bytes with A-Z made a-z: a byte's high bit, after
 * adding 0x80 - 'A' (no carry: every byte is below 0x80), says it is >=
 * 'A'; after adding 0x80 - 'Z' - 1, that it is > 'Z'. */
static uint64_t
ascii_lower8(uint64_t w)
{
	uint64_t ge_a = w + ASCII_ONES * (0x80 - 'A');
	uint64_t gt_z = w + ASCII_ONES * (0x80 - 'Z' - 1);
	uint64_t upper = (ge_a & ~gt_z) & ASCII_HIGH;
	return w | (upper >> 2);
}

/* Valid UTF-8 is copied, invalid bytes are read as windows-1252. */
static void
utf8_sanitize(const char *in, size_t len, struct mm_buf *out)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t i = 0;
	mm_buf_reserve(out, len);
	while (i < len) {
		/* a run of ASCII is itself: one copy, not a byte at a time */
		if (!ascii_copy(in, &i, len, out))
			mm_buf_append_utf8(out, next_char(s, len, &i));
	}
}

enum cs_kind { CS_UTF8, CS_LATIN1, CS_LATIN9, CS_CP1252, CS_OTHER };

static enum cs_kind
cs_kind(const char *cs)
{
	static const struct { const char *name; enum cs_kind k; } t[] = {
		{ "utf-8", CS_UTF8 }, { "utf8", CS_UTF8 }, { "us-ascii", CS_UTF8 },
		{ "ascii", CS_UTF8 }, { "iso-8859-1", CS_LATIN1 },
		{ "iso8859-1", CS_LATIN1 }, { "iso_8859-1", CS_LATIN1 },
		{ "latin1", CS_LATIN1 }, { "iso-8859-15", CS_LATIN9 },
		{ "iso8859-15", CS_LATIN9 }, { "latin-9", CS_LATIN9 },
		{ "windows-1252", CS_CP1252 }, { "cp1252", CS_CP1252 },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (mm_strcaseeq(cs, t[i].name))
			return t[i].k;
	return CS_OTHER;
}

static uint32_t
latin9(unsigned char c)
{
	switch (c) {
	case 0xa4: return 0x20ac;
	case 0xa6: return 0x0160;
	case 0xa8: return 0x0161;
	case 0xb4: return 0x017d;
	case 0xb8: return 0x017e;
	case 0xbc: return 0x0152;
	case 0xbd: return 0x0153;
	case 0xbe: return 0x0178;
	default: return c;
	}
}

/* The output a converter still holds, and back to its initial state:
 * stateful and combining decoders (ISO-2022-JP, windows-1255, TCVN)
 * keep the last character until they know what follows it. */
static void
iconv_flush(iconv_t cd, struct mm_buf *tmp)
{
	char obuf[64], *op = obuf;
	size_t ol = sizeof(obuf);
	(void)iconv(cd, NULL, NULL, &op, &ol);
	mm_buf_append(tmp, obuf, (size_t)(op - obuf));
}

static bool
iconv_convert(const char *cs, const char *in, size_t len, struct mm_buf *out)
{
	iconv_t cd = iconv_open("UTF-8", cs);
	if (cd == (iconv_t)-1)
		return false;
	char *ip = (char *)in;
	size_t il = len;
	struct mm_buf tmp;
	mm_buf_init(&tmp);
	while (il > 0) {
		char obuf[1024], *op = obuf;
		size_t ol = sizeof(obuf);
		size_t r = iconv(cd, &ip, &il, &op, &ol);
		mm_buf_append(&tmp, obuf, (size_t)(op - obuf));
		if (r == (size_t)-1) {
			if (errno == E2BIG)
				continue;
			/* invalid or incomplete input: U+FFFD and skip a byte */
			iconv_flush(cd, &tmp);
			mm_buf_append_utf8(&tmp, 0xfffd);
			ip++;
			il--;
		}
	}
	iconv_flush(cd, &tmp);
	iconv_close(cd);
	/* the converter's output is trusted only after a check */
	utf8_sanitize(tmp.data, tmp.len, out);
	mm_buf_free(&tmp);
	return true;
}

bool
mail_charset_known(const char *cs)
{
	if (cs_kind(cs) != CS_OTHER)
		return true;
	iconv_t cd = iconv_open("UTF-8", cs);
	if (cd == (iconv_t)-1)
		return false;
	iconv_close(cd);
	return true;
}

bool
mail_charset_to_utf8(const char *cs, const char *in, size_t len, struct mm_buf *out)
{
	const unsigned char *s = (const unsigned char *)in;
	enum cs_kind k = cs == NULL ? CS_UTF8 : cs_kind(cs);
	switch (k) {
	case CS_UTF8:
		utf8_sanitize(in, len, out);
		return true;
	case CS_LATIN1:
	case CS_LATIN9:
	case CS_CP1252:
		mm_buf_reserve(out, len);
		for (size_t i = 0; i < len;) {
			if (ascii_copy(in, &i, len, out))
				continue;
			mm_buf_append_utf8(out, k == CS_LATIN1 ? s[i] :
			    k == CS_LATIN9 ? latin9(s[i]) : cp1252(s[i]));
			i++;
		}
		return true;
	case CS_OTHER:
		break;
	}
	if (iconv_convert(cs, in, len, out))
		return true;
	utf8_sanitize(in, len, out);
	return false;
}

void
mail_decode_base64(const char *in, size_t len, struct mm_buf *out)
{
	uint32_t acc = 0;
	int bits = 0;
	mm_buf_reserve(out, len / 4 * 3 + 3);
	for (size_t i = 0; i < len; i++) {
		int v = base64_char_value((unsigned char)in[i]);
		if (v < 0)
			continue;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			mm_buf_appendc(out, (char)((acc >> bits) & 0xff));
		}
	}
}

static int
hexval(unsigned char c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	return -1;
}

void
mail_decode_qp(const char *in, size_t len, bool underscore_is_space, struct mm_buf *out)
{
	mm_buf_reserve(out, len);
	for (size_t i = 0; i < len; i++) {
		char c = in[i];
		if (c == '_' && underscore_is_space) {
			mm_buf_appendc(out, ' ');
			continue;
		}
		if (c != '=') {
			/* literal bytes, and white space that is not padding, up
			 * to the next byte that means something: one copy */
			size_t j = i, padding_end = 0;
			while (j < len && in[j] != '=' && !(in[j] == '_' && underscore_is_space)) {
				if (in[j] != ' ' && in[j] != '\t') {
					j++;
					continue;
				}
				size_t k = j;
				while (k < len && (in[k] == ' ' || in[k] == '\t'))
					k++;
				/* RFC 2045 6.7 (3): white space at the end of an
				 * encoded line is padding, deleted by the decoder */
				if (k >= len || in[k] == '\n' || (in[k] == '\r' && k + 1 < len &&
				    in[k + 1] == '\n')) {
					padding_end = k;
					break;
				}
				j = k;
			}
			mm_buf_append(out, in + i, j - i);
			i = (padding_end > 0 ? padding_end : j) - 1;
			continue;
		}
		if (i + 2 < len && hexval((unsigned char)in[i + 1]) >= 0 &&
		    hexval((unsigned char)in[i + 2]) >= 0) {
			mm_buf_appendc(out, (char)(hexval((unsigned char)in[i + 1]) * 16 +
			    hexval((unsigned char)in[i + 2])));
			i += 2;
			continue;
		}
		/* soft line break: '=' then optional padding then line end */
		size_t j = i + 1;
		while (j < len && (in[j] == ' ' || in[j] == '\t'))
			j++;
		if (j < len && in[j] == '\r')
			j++;
		if (j < len && in[j] == '\n') {
			i = j;
			continue;
		}
		if (j >= len) {
			i = len;	/* '=' at the very end */
			continue;
		}
		mm_buf_appendc(out, '=');	/* a stray '=' stays */
	}
}

/* Try to read an encoded word at s[0..n). On success returns its length,
 * sets the charset (copied into cs, at most cslen) and appends the decoded
 * raw bytes to out. */
static size_t
encoded_word(const char *s, size_t n, char *cs, size_t cslen, struct mm_buf *out)
{
	size_t i = 2, c0, e, t0;
	if (n < 8 || s[0] != '=' || s[1] != '?')
		return 0;
	c0 = i;
	while (i < n && s[i] != '?' && s[i] != ' ' && s[i] != '\t')
		i++;
	if (i >= n || s[i] != '?' || i == c0 || i - c0 >= cslen)
		return 0;
	memcpy(cs, s + c0, i - c0);
	cs[i - c0] = '\0';
	char *star = strchr(cs, '*');	/* RFC 2231 language suffix */
	if (star)
		*star = '\0';
	i++;
	if (i + 1 >= n || s[i + 1] != '?')
		return 0;
	e = (unsigned char)s[i] | 0x20;
	if (e != 'b' && e != 'q')
		return 0;
	i += 2;
	t0 = i;
	while (i + 1 < n && !(s[i] == '?' && s[i + 1] == '=')) {
		if (s[i] == ' ' || s[i] == '\t')
			return 0;
		i++;
	}
	if (i + 1 >= n)
		return 0;
	if (e == 'b')
		mail_decode_base64(s + t0, i - t0, out);
	else
		mail_decode_qp(s + t0, i - t0, true, out);
	return i + 2;
}

struct hdr_dec {
	struct mm_buf *out;
	struct mm_buf pend;	/* decoded bytes of adjacent words, one charset */
	char pend_cs[64];
};

static void
pend_flush(struct hdr_dec *d)
{
	if (d->pend.len > 0)
		mail_charset_to_utf8(d->pend_cs, d->pend.data, d->pend.len, d->out);
	d->pend.len = 0;
}

char *
mail_decode_header(const char *raw, size_t len)
{
	struct mm_buf out, word;
	struct hdr_dec d;
	char cs[64];
	size_t i = 0, raw0 = 0;
	bool last_word = false;	/* an encoded word, then only white space */
	char *u = mail_header_unfold(raw, len);

	len = strlen(u);
	mm_buf_init(&out);
	mm_buf_init(&word);
	d.out = &out;
	mm_buf_init(&d.pend);
	d.pend_cs[0] = '\0';
	while (i < len) {
		if (u[i] == '=' && i + 1 < len && u[i + 1] == '?') {
			word.len = 0;
			size_t n = encoded_word(u + i, len - i, cs, sizeof(cs), &word);
			if (n > 0 && mail_charset_known(cs)) {
				if (!last_word) {
					pend_flush(&d);
					utf8_sanitize(u + raw0, i - raw0, &out);
				} /* else: white space between two words is dropped */
				if (d.pend.len > 0 && !mm_strcaseeq(cs, d.pend_cs))
					pend_flush(&d);
				mm_strlcpy(d.pend_cs, cs, sizeof(d.pend_cs));
				mm_buf_append(&d.pend, word.data, word.len);
				i += n;
				raw0 = i;
				last_word = true;
				continue;
			}
		}
		if (u[i] != ' ' && u[i] != '\t')
			last_word = false;
		i++;
	}
	pend_flush(&d);
	utf8_sanitize(u + raw0, len - raw0, &out);
	mm_buf_free(&word);
	mm_buf_free(&d.pend);
	free(u);
	char *r = xstrndup(out.data ? out.data : "", out.len);
	mm_buf_free(&out);
	return r;
}

char *
mail_decode_param(const char *value, bool extended)
{
	struct mm_buf raw, out;
	const char *q1, *q2;
	char cs[64] = "utf-8";

	if (!extended)
		return mail_decode_header(value, strlen(value));
	mm_buf_init(&raw);
	mm_buf_init(&out);
	q1 = strchr(value, '\'');
	q2 = q1 ? strchr(q1 + 1, '\'') : NULL;
	if (q1 && q2) {
		if (q1 > value && (size_t)(q1 - value) < sizeof(cs)) {
			memcpy(cs, value, (size_t)(q1 - value));
			cs[q1 - value] = '\0';
		}
		value = q2 + 1;
	}
	for (const char *p = value; *p; p++) {
		if (*p == '%' && hexval((unsigned char)p[1]) >= 0 &&
		    hexval((unsigned char)p[2]) >= 0) {
			mm_buf_appendc(&raw, (char)(hexval((unsigned char)p[1]) * 16 +
			    hexval((unsigned char)p[2])));
			p += 2;
		} else
			mm_buf_appendc(&raw, *p);
	}
	mail_charset_to_utf8(cs, raw.data ? raw.data : "", raw.len, &out);
	char *r = xstrndup(out.data ? out.data : "", out.len);
	mm_buf_free(&raw);
	mm_buf_free(&out);
	return r;
}

static uint32_t
fold_cp(uint32_t c)
{
	if (c < 0x80)
		return c >= 'A' && c <= 'Z' ? c + 32 : c;
	if (c >= 0xc0 && c <= 0xde && c != 0xd7)
		return c + 32;
	if (c >= 0x100 && c <= 0x17f) {
		if (c == 0x130)
			return 'i';
		if (c == 0x178)
			return 0xff;
		if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17e))
			return (c & 1) ? c + 1 : c;
		if (c == 0x138 || c == 0x149 || c == 0x17f)
			return c;
		return (c & 1) ? c : c + 1;
	}
	if (c >= 0x391 && c <= 0x3a9 && c != 0x3a2)
		return c + 32;
	if (c == 0x3c2)
		return 0x3c3;
	if (c >= 0x410 && c <= 0x42f)
		return c + 32;
	if (c >= 0x400 && c <= 0x40f)
		return c + 80;
	return c;
}

void
mail_text_fold(const char *s, size_t len, struct mm_buf *out)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;
	mm_buf_reserve(out, len);
	while (i < len) {
		if (u[i] < 0x80) {
			/* an ASCII run folds byte for byte, straight into the room */
			mm_buf_reserve(out, len - i);
			char *d = out->data + out->len;
			size_t k = i;
			uint64_t w;
			for (; k + 8 <= len && ((w = load64(u + k)) & ASCII_HIGH) == 0; k += 8, d += 8) {
				w = ascii_lower8(w);
				memcpy(d, &w, sizeof(w));
			}
			for (; k < len && u[k] < 0x80; k++)
				*d++ = (char)(u[k] >= 'A' && u[k] <= 'Z' ? u[k] + 32 : u[k]);
			out->len += k - i;
			i = k;
			continue;
		}
		mm_buf_append_utf8(out, fold_cp(next_char(u, len, &i)));
	}
}

bool
mail_text_contains_folded(const char *hay, size_t hlen, const char *fneedle, size_t fnlen)
{
	struct mm_buf f;
	bool r;
	if (fnlen == 0)
		return true;
	mm_buf_init(&f);
	mail_text_fold(hay, hlen, &f);
	r = f.len >= fnlen && memmem(f.data, f.len, fneedle, fnlen) != NULL;
	mm_buf_free(&f);
	return r;
}

bool
mail_text_contains(const char *hay, size_t hlen, const char *needle, size_t nlen)
{
	struct mm_buf n;
	bool r;
	mm_buf_init(&n);
	mail_text_fold(needle, nlen, &n);
	r = mail_text_contains_folded(hay, hlen, n.data ? n.data : "", n.len);
	mm_buf_free(&n);
	return r;
}
