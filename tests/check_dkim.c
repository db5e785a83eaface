/* check_dkim.c: unit tests of the pure DKIM layer (src/mail/dkim.c):
 * header and body canonicalization on the RFC 6376 3.4.5 example and on
 * edge cases (WSP runs, empty body, missing final CRLF, trailing blank
 * lines, bare CR and LF, l=), every split point of the incremental body
 * canonicalizer, header selection and over-signing, tag-lists, and
 * DKIM-Signature and key record parsing with bad input. Links libmmmail
 * and libmmlib only: the layer stays pure. */
#include "mail/dkim.h"
#include "mail/header.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static void
collect(void *arg, const char *p, size_t n)
{
	mm_buf_append(arg, p, n);
}

/* The canonical body of s, pushed in pieces of k bytes (0: all at once). */
static char *
canon_body(enum dkim_canon c, const char *s, size_t len, size_t k, uint64_t limit,
    uint64_t *total_r)
{
	struct dkim_body b;
	struct mm_buf out;

	mm_buf_init(&out);
	dkim_body_init(&b, c, limit, collect, &out);
	if (k == 0)
		k = len > 0 ? len : 1;
	for (size_t i = 0; i < len; i += k)
		dkim_body_update(&b, s + i, len - i < k ? len - i : k);
	dkim_body_final(&b);
	if (total_r != NULL)
		*total_r = b.total;
	return mm_buf_cstr(&out);
}

/* ---- the RFC 6376 3.4.5 example ---- */

static const char rfc_msg[] =
    "A: X\r\n"
    "B : Y\t\r\n"
    "\tZ  \r\n"
    "\r\n"
    " C \r\n"
    "D \t E\r\n"
    "\r\n"
    "\r\n";

START_TEST(test_rfc6376_example)
{
	struct mail_header h;
	struct mm_buf rel, sim;
	size_t len = strlen(rfc_msg);

	mail_header_parse(rfc_msg, 0, len, &h);
	ck_assert_uint_eq(h.n, 2);
	mm_buf_init(&rel);
	mm_buf_init(&sim);
	for (size_t i = 0; i < h.n; i++) {
		size_t n = h.f[i].len - 2;      /* without the final CRLF */
		dkim_canon_header(DKIM_CANON_RELAXED, rfc_msg + h.f[i].off, n, &rel);
		dkim_canon_header(DKIM_CANON_SIMPLE, rfc_msg + h.f[i].off, n, &sim);
	}
	ck_assert_str_eq(mm_buf_cstr(&rel), "a:X\r\nb:Y Z\r\n");
	ck_assert_str_eq(mm_buf_cstr(&sim), "A: X\r\nB : Y\t\r\n\tZ  \r\n");

	char *b = canon_body(DKIM_CANON_RELAXED, rfc_msg + h.body_off, len - h.body_off,
	    0, UINT64_MAX, NULL);
	ck_assert_str_eq(b, " C\r\nD E\r\n");
	free(b);
	b = canon_body(DKIM_CANON_SIMPLE, rfc_msg + h.body_off, len - h.body_off, 0,
	    UINT64_MAX, NULL);
	ck_assert_str_eq(b, " C \r\nD \t E\r\n");
	free(b);
	mm_buf_free(&rel);
	mm_buf_free(&sim);
	mail_header_free(&h);
}
END_TEST

/* ---- bodies ---- */

static const struct {
	const char *in, *simple, *relaxed;
} bodies[] = {
	{ "", "\r\n", "" },                                  /* empty body */
	{ "\r\n", "\r\n", "" },
	{ "\r\n\r\n\r\n", "\r\n", "" },                      /* only blank lines */
	{ "abc", "abc\r\n", "abc\r\n" },                     /* no final CRLF */
	{ "abc\r\n", "abc\r\n", "abc\r\n" },
	{ "abc\r\n\r\n\r\n", "abc\r\n", "abc\r\n" },         /* trailing blank lines */
	{ "abc\r\n\r\ndef\r\n", "abc\r\n\r\ndef\r\n", "abc\r\n\r\ndef\r\n" },
	{ "a  \t b\t\r\n", "a  \t b\t\r\n", "a b\r\n" },     /* WSP runs */
	{ "  a\r\n", "  a\r\n", " a\r\n" },                  /* leading WSP: one SP */
	{ "abc\r\n   \r\n\t\r\n", "abc\r\n   \r\n\t\r\n", "abc\r\n" }, /* WSP-only lines */
	{ "abc\r\n \r\nx\r\n", "abc\r\n \r\nx\r\n", "abc\r\n\r\nx\r\n" },
	{ "a\rb\nc\r\n", "a\rb\nc\r\n", "a\rb\nc\r\n" },     /* bare CR, bare LF */
	{ "abc\r", "abc\r\r\n", "abc\r\r\n" },               /* a CR at the very end */
	{ "abc \r\n\r\n", "abc \r\n", "abc\r\n" },
	{ "abc  ", "abc  \r\n", "abc\r\n" },                 /* WSP, then no CRLF */
	{ "\r\n\r\nabc", "\r\n\r\nabc\r\n", "\r\n\r\nabc\r\n" },
};

START_TEST(test_body)
{
	const char *in = bodies[_i].in;
	size_t len = strlen(in);

	for (size_t k = 0; k <= len; k++) {
		char *s = canon_body(DKIM_CANON_SIMPLE, in, len, k, UINT64_MAX, NULL);
		char *r = canon_body(DKIM_CANON_RELAXED, in, len, k, UINT64_MAX, NULL);
		ck_assert_str_eq(s, bodies[_i].simple);
		ck_assert_str_eq(r, bodies[_i].relaxed);
		free(s);
		free(r);
	}
}
END_TEST

/* Every split point of a larger body: two pieces give the one-shot bytes. */
START_TEST(test_body_split)
{
	const char *in = "Hello  \t world \r\n\r\n \r\n line\twith tabs\t \r\n"
	    "bare\rcr and bare\nlf\r\n\r\n\r\n";
	size_t len = strlen(in);

	for (int c = 0; c < 2; c++) {
		char *whole = canon_body((enum dkim_canon)c, in, len, 0, UINT64_MAX, NULL);
		for (size_t cut = 0; cut <= len; cut++) {
			struct dkim_body b;
			struct mm_buf out;
			mm_buf_init(&out);
			dkim_body_init(&b, (enum dkim_canon)c, UINT64_MAX, collect, &out);
			dkim_body_update(&b, in, cut);
			dkim_body_update(&b, in + cut, len - cut);
			dkim_body_final(&b);
			ck_assert_str_eq(mm_buf_cstr(&out), whole);
			mm_buf_free(&out);
		}
		free(whole);
	}
}
END_TEST

/* l=: at most that many canonical bytes are written; total counts all. */
START_TEST(test_body_limit)
{
	uint64_t total = 0;
	char *s = canon_body(DKIM_CANON_RELAXED, "ab  c\r\ndef\r\n", 12, 1, 5, &total);
	ck_assert_str_eq(s, "ab c\r");
	ck_assert_uint_eq(total, 11);
	free(s);
	s = canon_body(DKIM_CANON_SIMPLE, "", 0, 0, 0, &total);
	ck_assert_str_eq(s, "");
	ck_assert_uint_eq(total, 2);
	free(s);
}
END_TEST

/* A large body in 1 MB, pushed in odd-sized chunks, equals the one-shot. */
START_TEST(test_body_large)
{
	size_t len = 1024 * 1024;
	char *in = xmalloc(len);
	for (size_t i = 0; i < len; i++)
		in[i] = i % 77 == 75 ? '\r' : i % 77 == 76 ? '\n' : " \tabc"[i % 5];
	for (int c = 0; c < 2; c++) {
		char *a = canon_body((enum dkim_canon)c, in, len, 0, UINT64_MAX, NULL);
		char *b = canon_body((enum dkim_canon)c, in, len, 4093, UINT64_MAX, NULL);
		ck_assert_str_eq(a, b);
		free(a);
		free(b);
	}
	free(in);
}
END_TEST

/* ---- headers ---- */

static const struct {
	const char *raw, *relaxed;
} fields[] = {
	{ "Subject: hello", "subject:hello\r\n" },
	{ "SUBJECT:hello", "subject:hello\r\n" },
	{ "Subject  :   hello   world  ", "subject:hello world\r\n" },
	{ "Subject: a\r\n\tb\r\n  c", "subject:a b c\r\n" },     /* unfolded */
	{ "Subject:", "subject:\r\n" },
	{ "Subject: \t ", "subject:\r\n" },
	{ "To: a@b,\r\n c@d", "to:a@b, c@d\r\n" },
	{ "X-Bare: a\rb", "x-bare:a\rb\r\n" },                  /* a bare CR stays */
};

START_TEST(test_header_relaxed)
{
	struct mm_buf out;
	mm_buf_init(&out);
	dkim_canon_header(DKIM_CANON_RELAXED, fields[_i].raw, strlen(fields[_i].raw), &out);
	ck_assert_str_eq(mm_buf_cstr(&out), fields[_i].relaxed);
	mm_buf_free(&out);
}
END_TEST

static const char sel_msg[] =
    "Received: x\r\n"
    "From: a@example.org\r\n"
    "To: b@example.net\r\n"
    "Subject: one\r\n"
    "Subject: two\r\n"
    "Date: today\r\n"
    "\r\n"
    "body\r\n";

START_TEST(test_select)
{
	struct mail_header h;
	const char *names[] = { "subject", "from", "SUBJECT", "subject", "cc", "from" };
	int idx[6];

	mail_header_parse(sel_msg, 0, strlen(sel_msg), &h);
	dkim_select_fields(&h, names, 6, idx);
	/* bottom-up: the second Subject first, then the first, then none */
	ck_assert_int_eq(idx[0], 4);
	ck_assert_int_eq(idx[1], 1);
	ck_assert_int_eq(idx[2], 3);
	ck_assert_int_eq(idx[3], -1);
	ck_assert_int_eq(idx[4], -1);
	ck_assert_int_eq(idx[5], -1);          /* the over-signed From: nothing */
	mail_header_free(&h);
}
END_TEST

START_TEST(test_sign_names)
{
	struct mail_header h;
	struct mm_buf out;
	const char *want[] = { "From", "Reply-To", "To", "Cc", "Subject", "Date" };
	const char *over[] = { "From" };

	mail_header_parse(sel_msg, 0, strlen(sel_msg), &h);
	mm_buf_init(&out);
	ck_assert(dkim_sign_names(&h, want, N(want), over, N(over), &out));
	ck_assert_str_eq(mm_buf_cstr(&out), "from:from:to:subject:subject:date");
	mm_buf_free(&out);
	mail_header_free(&h);

	/* more fields than DKIM_SIGNED_FIELDS_MAX: refused */
	struct mm_buf m;
	mm_buf_init(&m);
	for (int i = 0; i < DKIM_SIGNED_FIELDS_MAX + 1; i++)
		mm_buf_printf(&m, "To: x%d\r\n", i);
	mm_buf_printf(&m, "\r\n");
	mail_header_parse(m.data, 0, m.len, &h);
	mm_buf_init(&out);
	ck_assert(!dkim_sign_names(&h, want, N(want), over, N(over), &out));
	mm_buf_free(&out);
	mail_header_free(&h);
	mm_buf_free(&m);
}
END_TEST

/* ---- tag-lists ---- */

static const struct {
	const char *in;
	enum dkim_err err;
	size_t n;
	const char *first_value;
} tags[] = {
	{ "v=1; a=rsa-sha256", DKIM_OK, 2, "1" },
	{ "v=1; a=rsa-sha256;", DKIM_OK, 2, "1" },
	{ "  v = 1 ;a=x ; ", DKIM_OK, 2, "1" },
	{ "", DKIM_OK, 0, NULL },
	{ " \r\n ", DKIM_OK, 0, NULL },
	{ "b=abc\r\n def ;", DKIM_OK, 1, "abc\r\n def" },
	{ "x=", DKIM_OK, 1, "" },
	{ "a_1=v", DKIM_OK, 1, "v" },
	{ "v=1; v=1", DKIM_ERR_DUP_TAG, 0, NULL },
	{ "=1", DKIM_ERR_SYNTAX, 0, NULL },
	{ "1v=1", DKIM_ERR_SYNTAX, 0, NULL },
	{ "v", DKIM_ERR_SYNTAX, 0, NULL },
	{ "v=1;;a=2", DKIM_ERR_SYNTAX, 0, NULL },
	{ "v=a\x01" "b", DKIM_ERR_SYNTAX, 0, NULL },
	{ "v=a\rb", DKIM_ERR_SYNTAX, 0, NULL },
	{ "v=\xc3\xa9", DKIM_ERR_SYNTAX, 0, NULL },
	{ "v=a\r\nb", DKIM_ERR_SYNTAX, 0, NULL },       /* CRLF without WSP after */
	{ "a b=1", DKIM_ERR_SYNTAX, 0, NULL },
};

START_TEST(test_tags)
{
	struct dkim_tag t[DKIM_TAGS_MAX];
	size_t n = 99;
	enum dkim_err e = dkim_tags_parse(tags[_i].in, strlen(tags[_i].in), t,
	    DKIM_TAGS_MAX, &n);
	ck_assert_int_eq(e, tags[_i].err);
	if (e != DKIM_OK)
		return;
	ck_assert_uint_eq(n, tags[_i].n);
	if (n > 0) {
		ck_assert_uint_eq(t[0].value_len, strlen(tags[_i].first_value));
		ck_assert(memcmp(t[0].value, tags[_i].first_value, t[0].value_len) == 0);
	}
}
END_TEST

START_TEST(test_tags_too_many)
{
	struct mm_buf b;
	struct dkim_tag t[DKIM_TAGS_MAX];
	size_t n;

	mm_buf_init(&b);
	for (int i = 0; i < DKIM_TAGS_MAX; i++)
		mm_buf_printf(&b, "t%d=x;", i);
	ck_assert_int_eq(dkim_tags_parse(b.data, b.len, t, DKIM_TAGS_MAX, &n), DKIM_OK);
	ck_assert_uint_eq(n, DKIM_TAGS_MAX);
	mm_buf_printf(&b, "z=1");
	ck_assert_int_eq(dkim_tags_parse(b.data, b.len, t, DKIM_TAGS_MAX, &n),
	    DKIM_ERR_TOO_MANY_TAGS);
	mm_buf_free(&b);
}
END_TEST

/* ---- DKIM-Signature ---- */

#define BH "bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;"
#define B  "b=AuUoFEfDxTDkHlLXSZEpZj79LICEps6eda7W3deTVFOk4yAUoqOB\r\n" \
	   "\t4nujc7YopdG5dWLSdNg6xNAZpOPr+kHxt1IrE+NahM6L/LbvaHut\r\n" \
	   "\tKVdkLLkpVaVVQPzeRDI009SO2Il5Lu7rDNH6mZckBdrIx0orEtZV\r\n" \
	   "\t4bmp/YzhwvcubU4=;"

START_TEST(test_sig_rfc)
{
	/* RFC 6376 A.2 */
	static const char v[] = " v=1; a=rsa-sha256; s=brisbane; d=example.com;\r\n"
	    "      c=simple/simple; q=dns/txt; i=joe@football.example.com;\r\n"
	    "      h=Received : From : To : Subject : Date : Message-ID;\r\n"
	    "      " BH "\r\n      " B;
	struct dkim_sig s;
	ck_assert_int_eq(dkim_sig_parse(v, strlen(v), &s), DKIM_OK);
	ck_assert_str_eq(s.auid, "joe@football.example.com");
	ck_assert_int_eq(s.hcanon, DKIM_CANON_SIMPLE);

	static const char v2[] = " v=1; a=rsa-sha256; s=brisbane; d=example.com;\r\n"
	    "      c=relaxed; q=dns/txt; i=joe@example.com;\r\n"
	    "      h=Received : From : To : Subject : Date : Message-ID;\r\n"
	    "      " BH "\r\n      " B;
	ck_assert_int_eq(dkim_sig_parse(v2, strlen(v2), &s), DKIM_OK);
	ck_assert_str_eq(s.domain, "example.com");
	ck_assert_str_eq(s.selector, "brisbane");
	ck_assert_str_eq(s.auid, "joe@example.com");
	ck_assert_int_eq(s.alg, DKIM_ALG_RSA_SHA256);
	ck_assert_int_eq(s.hcanon, DKIM_CANON_RELAXED);
	ck_assert_int_eq(s.bcanon, DKIM_CANON_SIMPLE);
	ck_assert_uint_eq(s.nnames, 6);
	ck_assert_str_eq(s.names[0], "received");
	ck_assert_str_eq(s.names[5], "message-id");
	ck_assert_uint_eq(s.bhlen, 32);
	ck_assert_uint_eq(s.blen, 128);
	ck_assert(!s.has_l && !s.has_t && !s.has_x);
}
END_TEST

#define GOOD "v=1; a=ed25519-sha256; c=relaxed/relaxed; d=football.example.com; " \
	"i=@football.example.com; q=dns/txt; s=brisbane; t=1528637909; h=from : to : " \
	"subject : date : message-id : from : subject : date; " \
	"bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=; " \
	"b=/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11BusFa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw=="

static const struct {
	const char *from, *to;      /* a substitution in GOOD */
	enum dkim_err err;
} sigs[] = {
	{ NULL, NULL, DKIM_OK },
	{ "v=1;", "v=2;", DKIM_ERR_VERSION },
	{ "v=1; ", "", DKIM_ERR_MISSING_TAG },
	{ "a=ed25519-sha256", "a=rsa-sha1", DKIM_ERR_ALG },
	{ "a=ed25519-sha256", "a=foo", DKIM_ERR_ALG },
	{ "c=relaxed/relaxed", "c=relaxed/fancy", DKIM_ERR_CANON },
	{ "d=football.example.com", "d=foot..example.com", DKIM_ERR_DOMAIN },
	{ "d=football.example.com", "d=foot ball.example.com", DKIM_ERR_DOMAIN },
	{ "s=brisbane", "s=bris/bane", DKIM_ERR_DOMAIN },
	{ "s=brisbane", "s=", DKIM_ERR_DOMAIN },
	{ "i=@football.example.com", "i=@example.com", DKIM_ERR_AUID },
	{ "i=@football.example.com", "i=joe@sub.football.example.com", DKIM_OK },
	{ "i=@football.example.com", "i=joe", DKIM_ERR_AUID },
	{ "q=dns/txt", "q=http", DKIM_ERR_QUERY },
	{ "t=1528637909", "t=15286x", DKIM_ERR_NUMBER },
	{ "t=1528637909", "t=1528637909; x=1528637908", DKIM_ERR_NUMBER },
	{ "t=1528637909", "t=1528637909; l=123456789012345678901", DKIM_ERR_NUMBER },
	{ "t=1528637909", "t=1528637909; l=99999999999999999999", DKIM_ERR_NUMBER },
	{ "t=1528637909", "t=1528637909; l=0", DKIM_OK },
	{ "from : to : subject : date : message-id : from : subject : date", "to : subject", DKIM_ERR_NO_FROM },
	{ "h=from : to : ", "h=from : : ", DKIM_ERR_HEADERS },
	{ "h=from : to : ", "h=from : t\x7fo : ", DKIM_ERR_SYNTAX },
	{ "bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=",
	  "bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8", DKIM_ERR_BASE64 },
	{ "bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=", "bh=AAAA", DKIM_ERR_BASE64 },
	{ "b=/gCr", "b=!gCr", DKIM_ERR_BASE64 },
	{ "b=/gCr", "b= /gC r\r\n\t", DKIM_OK },
	{ "; s=brisbane", "; s=brisbane; s=b", DKIM_ERR_DUP_TAG },
};

START_TEST(test_sig_parse)
{
	struct mm_buf b;
	struct dkim_sig s;

	mm_buf_init(&b);
	if (sigs[_i].from == NULL) {
		mm_buf_printf(&b, "%s", GOOD);
	} else {
		const char *p = strstr(GOOD, sigs[_i].from);
		ck_assert_ptr_nonnull(p);
		mm_buf_append(&b, GOOD, (size_t)(p - GOOD));
		mm_buf_printf(&b, "%s%s", sigs[_i].to, p + strlen(sigs[_i].from));
	}
	ck_assert_int_eq(dkim_sig_parse(b.data, b.len, &s), sigs[_i].err);
	if (sigs[_i].from == NULL) {
		ck_assert_int_eq(s.alg, DKIM_ALG_ED25519_SHA256);
		ck_assert_uint_eq(s.nnames, 8);
		ck_assert_uint_eq(s.blen, 64);
		ck_assert(s.has_t && s.t == 1528637909);
	}
	mm_buf_free(&b);
}
END_TEST

START_TEST(test_sig_too_long)
{
	struct mm_buf b;
	struct dkim_sig s;
	mm_buf_init(&b);
	mm_buf_printf(&b, "%s; z=", GOOD);
	while (b.len <= DKIM_SIG_FIELD_MAX_BYTES)
		mm_buf_appendc(&b, 'x');
	ck_assert_int_eq(dkim_sig_parse(b.data, b.len, &s), DKIM_ERR_TOO_LONG);
	/* b= longer than DKIM_SIG_MAX_BYTES */
	b.len = 0;
	mm_buf_printf(&b, "%s", GOOD);
	for (int i = 0; i < DKIM_SIG_MAX_BYTES / 3 + 4; i++)
		mm_buf_printf(&b, "AAAA");
	ck_assert_int_eq(dkim_sig_parse(b.data, b.len, &s), DKIM_ERR_TOO_LONG);
	mm_buf_free(&b);
}
END_TEST

START_TEST(test_strip_b)
{
	static const struct { const char *in, *out; } c[] = {
		{ "DKIM-Signature: a=1; b=abc\r\n def; bh=xyz",
		  "DKIM-Signature: a=1; b=; bh=xyz" },
		{ "DKIM-Signature: a=1; bh=xyz; b = abc \r\n\t", "DKIM-Signature: a=1; bh=xyz; b =" },
		{ "DKIM-Signature: a=1; bh=xyz", "DKIM-Signature: a=1; bh=xyz" },
		{ "DKIM-Signature: b=", "DKIM-Signature: b=" },
	};
	for (int i = 0; i < N(c); i++) {
		struct mm_buf out;
		mm_buf_init(&out);
		dkim_sig_strip_b(c[i].in, strlen(c[i].in), &out);
		ck_assert_str_eq(mm_buf_cstr(&out), c[i].out);
		mm_buf_free(&out);
	}
}
END_TEST

/* What dkim_sig_format() writes parses back, lines stay within 78. */
START_TEST(test_sig_format)
{
	struct mm_buf b;
	struct dkim_sig s;
	const char *h = "from:from:reply-to:to:cc:subject:date:message-id:in-reply-to:"
	    "references:mime-version:content-type:content-transfer-encoding";
	mm_buf_init(&b);
	dkim_sig_format(&b, DKIM_ALG_RSA_SHA256, "example.org", "mm2026-rsa", 1700000000,
	    h, "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
	ck_assert(b.len > 3 && memcmp(b.data + b.len - 3, " b=", 3) == 0);
	char sig[345];
	memset(sig, 'A', 342);
	sig[342] = sig[343] = '=';
	sig[344] = '\0';
	dkim_sig_append_b(&b, sig);
	const char *p = mm_buf_cstr(&b);
	for (const char *l = p; *l;) {
		const char *e = strstr(l, "\r\n");
		ck_assert_ptr_nonnull(e);
		ck_assert_int_le(e - l, 78);
		l = e + 2;
	}
	size_t hl = strlen("DKIM-Signature:");
	ck_assert_int_eq(dkim_sig_parse(p + hl, b.len - hl - 2, &s), DKIM_OK);
	ck_assert_str_eq(s.domain, "example.org");
	ck_assert_str_eq(s.selector, "mm2026-rsa");
	ck_assert_uint_eq(s.nnames, 13);
	ck_assert_str_eq(s.names[12], "content-transfer-encoding");
	ck_assert_uint_eq(s.blen, 256);
	ck_assert(s.has_t && s.t == 1700000000);
	ck_assert_int_eq(s.hcanon, DKIM_CANON_RELAXED);
	ck_assert_int_eq(s.bcanon, DKIM_CANON_RELAXED);
	mm_buf_free(&b);
}
END_TEST

/* ---- key records ---- */

static const struct {
	const char *in;
	enum dkim_err err;
	enum dkim_alg k;
	size_t plen;
} keys[] = {
	/* RFC 8463 A.2 */
	{ "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
	  DKIM_OK, DKIM_ALG_ED25519_SHA256, 32 },
	{ "k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=", DKIM_OK,
	  DKIM_ALG_ED25519_SHA256, 32 },
	{ "p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=", DKIM_OK, DKIM_ALG_RSA_SHA256, 32 },
	{ "v=DKIM1; h=sha1:sha256; s=email; t=y:s; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
	  DKIM_OK, DKIM_ALG_RSA_SHA256, 32 },
	{ "v=DKIM1; p=", DKIM_ERR_REVOKED, 0, 0 },
	{ "v=DKIM1; k=rsa", DKIM_ERR_MISSING_TAG, 0, 0 },
	{ "v=DKIM2; p=AAAA", DKIM_ERR_VERSION, 0, 0 },
	{ "p=AAAA; v=DKIM1", DKIM_ERR_VERSION, 0, 0 },
	{ "k=dsa; p=AAAA", DKIM_ERR_ALG, 0, 0 },
	{ "h=sha1; p=AAAA", DKIM_ERR_HASH, 0, 0 },
	{ "s=xmpp; p=AAAA", DKIM_ERR_SERVICE, 0, 0 },
	{ "p=AA*A", DKIM_ERR_BASE64, 0, 0 },
	{ "p=AAAA; p=AAAA", DKIM_ERR_DUP_TAG, 0, 0 },
	{ "v=DKIM1 p=AAAA", DKIM_ERR_VERSION, 0, 0 },     /* one tag: v is "DKIM1 p=AAAA" */
	{ "v=DKIM1; p=AAAA; k", DKIM_ERR_SYNTAX, 0, 0 },
};

START_TEST(test_keyrec)
{
	struct dkim_keyrec k;
	enum dkim_err e = dkim_keyrec_parse(keys[_i].in, strlen(keys[_i].in), &k);
	ck_assert_int_eq(e, keys[_i].err);
	if (e == DKIM_OK) {
		ck_assert_int_eq(k.keytype, keys[_i].k);
		ck_assert_uint_eq(k.plen, keys[_i].plen);
	}
}
END_TEST

START_TEST(test_keyrec_format)
{
	struct mm_buf b;
	struct dkim_keyrec k;
	unsigned char pub[32];
	for (int i = 0; i < 32; i++)
		pub[i] = (unsigned char)i;
	mm_buf_init(&b);
	dkim_keyrec_format(&b, DKIM_ALG_ED25519_SHA256, pub, 32);
	ck_assert_str_eq(mm_buf_cstr(&b),
	    "v=DKIM1; k=ed25519; p=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
	ck_assert_int_eq(dkim_keyrec_parse(b.data, b.len, &k), DKIM_OK);
	ck_assert(memcmp(k.p, pub, 32) == 0);
	mm_buf_free(&b);
}
END_TEST

static Suite *
dkim_suite(void)
{
	Suite *s = suite_create("dkim");
	TCase *tc;

	tc = tcase_create("canon");
	tcase_add_test(tc, test_rfc6376_example);
	tcase_add_loop_test(tc, test_body, 0, N(bodies));
	tcase_add_test(tc, test_body_split);
	tcase_add_test(tc, test_body_limit);
	tcase_add_test(tc, test_body_large);
	tcase_add_loop_test(tc, test_header_relaxed, 0, N(fields));
	suite_add_tcase(s, tc);

	tc = tcase_create("select");
	tcase_add_test(tc, test_select);
	tcase_add_test(tc, test_sign_names);
	suite_add_tcase(s, tc);

	tc = tcase_create("tags");
	tcase_add_loop_test(tc, test_tags, 0, N(tags));
	tcase_add_test(tc, test_tags_too_many);
	suite_add_tcase(s, tc);

	tc = tcase_create("signature");
	tcase_add_test(tc, test_sig_rfc);
	tcase_add_loop_test(tc, test_sig_parse, 0, N(sigs));
	tcase_add_test(tc, test_sig_too_long);
	tcase_add_test(tc, test_strip_b);
	tcase_add_test(tc, test_sig_format);
	suite_add_tcase(s, tc);

	tc = tcase_create("keyrec");
	tcase_add_loop_test(tc, test_keyrec, 0, N(keys));
	tcase_add_test(tc, test_keyrec_format);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(dkim_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
