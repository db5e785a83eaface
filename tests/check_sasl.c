/* check_sasl.c: unit tests of base64 (src/lib/base64.c) and the SASL
 * PLAIN/LOGIN decoders (src/lib/sasl.c). Every case asserts the exact
 * result enum and the exact output strings; PLAIN cases are written as raw
 * bytes and base64-encoded by the test, so that the NULs are visible. */
#include "lib/base64.h"
#include "lib/sasl.h"
#include "lib/util.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

/* ---- base64 ---- */

struct b64_vec {
	const char *raw;
	const char *enc;
};

/* RFC 4648 10 */
static const struct b64_vec vectors[] = {
	{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
	{ "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" },
	{ "foobar", "Zm9vYmFy" },
	{ "\xff\xfe\xfd", "//79" }, { "\xfb\xef", "++8=" },
};

START_TEST(test_b64_vectors)
{
	const struct b64_vec *v = &vectors[_i];
	size_t rawlen = strlen(v->raw), n = 99;
	char enc[64], dec[64];

	ck_assert_int_eq(base64_encode(v->raw, rawlen, enc, sizeof(enc), &n),
	    BASE64_OK);
	ck_assert_str_eq(enc, v->enc);
	ck_assert_uint_eq(n, strlen(v->enc));
	ck_assert_uint_eq(BASE64_ENCODED_LEN(rawlen), strlen(v->enc));

	n = 99;
	ck_assert_int_eq(base64_decode(v->enc, strlen(v->enc), dec, sizeof(dec),
	    &n), BASE64_OK);
	ck_assert_uint_eq(n, rawlen);
	ck_assert(memcmp(dec, v->raw, rawlen) == 0);

	/* exactly big enough, and one too small */
	if (rawlen > 0) {
		ck_assert_int_eq(base64_decode(v->enc, strlen(v->enc), dec, rawlen,
		    &n), BASE64_OK);
		ck_assert_int_eq(base64_decode(v->enc, strlen(v->enc), dec,
		    rawlen - 1, &n), BASE64_TOO_LONG);
	}
	ck_assert_int_eq(base64_encode(v->raw, rawlen, enc,
	    strlen(v->enc) + 1, &n), BASE64_OK);
	ck_assert_int_eq(base64_encode(v->raw, rawlen, enc, strlen(v->enc),
	    &n), BASE64_TOO_LONG);
	ck_assert_str_eq(enc, "");
}
END_TEST

struct b64_bad {
	const char *enc;
	enum base64_result want;
};

static const struct b64_bad b64_bad[] = {
	{ "Z", BASE64_BAD_LENGTH },
	{ "Zg", BASE64_BAD_LENGTH },
	{ "Zg=", BASE64_BAD_LENGTH },
	{ "Zm9vY", BASE64_BAD_LENGTH },
	{ "Zm9v!", BASE64_BAD_CHAR },       /* the alphabet is checked first */
	{ "Zm 9v", BASE64_BAD_CHAR },
	{ "Zm9v\r\n", BASE64_BAD_CHAR },
	{ "Zm9v\n", BASE64_BAD_CHAR },
	{ "Zm-v", BASE64_BAD_CHAR },        /* base64url is not base64 */
	{ "Zm_v", BASE64_BAD_CHAR },
	{ "Zm9\x80", BASE64_BAD_CHAR },
	{ "Zh==", BASE64_BAD_PADDING },     /* pad bits not zero */
	{ "Zm9=", BASE64_BAD_PADDING },
	{ "Z===", BASE64_BAD_PADDING },
	{ "====", BASE64_BAD_PADDING },
	{ "=Zg=", BASE64_BAD_PADDING },
	{ "Zg=A", BASE64_BAD_PADDING },
	{ "Zg==Zg==", BASE64_BAD_PADDING },
	{ "Zm8=Zm9v", BASE64_BAD_PADDING },
};

START_TEST(test_b64_bad)
{
	const struct b64_bad *c = &b64_bad[_i];
	char dec[64];
	size_t n = 99;

	ck_assert_msg(base64_decode(c->enc, strlen(c->enc), dec, sizeof(dec), &n)
	    == c->want, "'%s': want %s", c->enc, base64_result_str(c->want));
	ck_assert_uint_eq(n, 99);           /* untouched on error */
}
END_TEST

/* Every byte value, every length up to 300, through both directions. */
START_TEST(test_b64_roundtrip)
{
	unsigned char raw[300], dec[300];
	char enc[BASE64_ENCODED_LEN(300) + 1];

	for (size_t i = 0; i < sizeof(raw); i++)
		raw[i] = (unsigned char)(i * 7 + 3);
	for (size_t len = 0; len <= sizeof(raw); len++) {
		size_t n, m;
		ck_assert_int_eq(base64_encode(raw, len, enc, sizeof(enc), &n),
		    BASE64_OK);
		ck_assert_uint_eq(n, BASE64_ENCODED_LEN(len));
		ck_assert_uint_eq(strlen(enc), n);
		ck_assert_int_eq(base64_decode(enc, n, dec, sizeof(dec), &m),
		    BASE64_OK);
		ck_assert_uint_eq(m, len);
		ck_assert(memcmp(raw, dec, len) == 0);
		ck_assert_uint_le(m, BASE64_DECODED_MAX(n));
	}
	/* the NULL-safe length pointer of encode */
	ck_assert_int_eq(base64_encode("a", 1, enc, sizeof(enc), NULL), BASE64_OK);
	ck_assert_str_eq(enc, "YQ==");
	for (int r = BASE64_OK; r <= BASE64_TOO_LONG; r++)
		ck_assert_ptr_nonnull(base64_result_str((enum base64_result)r));
	ck_assert_str_eq(base64_result_str(BASE64_BAD_PADDING), "bad padding");
}
END_TEST

/* Every byte value: the 64 alphabet characters map to their index, all
 * else (padding '=', base64url's '-' and '_', mUTF-7's ',') to -1. */
START_TEST(test_b64_char_value)
{
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

	for (int c = 0; c < 256; c++) {
		const char *p = c == 0 ? NULL : strchr(alphabet, c);
		int want = p != NULL ? (int)(p - alphabet) : -1;
		ck_assert_msg(base64_char_value((unsigned char)c) == want,
		    "byte %d: want %d", c, want);
	}
	ck_assert_int_eq(base64_char_value('/'), 63);
	ck_assert_int_eq(base64_char_value('='), -1);
	ck_assert_int_eq(base64_char_value(','), -1);
}
END_TEST

/* ---- SASL PLAIN ---- */

struct plain_case {
	const char *raw;            /* the decoded message, NULs and all */
	size_t rawlen;
	const char *b64;            /* or given as base64 text */
	enum sasl_result want;
	const char *authzid, *authcid, *passwd;
};

#define RAW(s) s, sizeof(s) - 1, NULL
#define B64(s) NULL, 0, s

static const struct plain_case plain[] = {
	/* RFC 4616 4 examples */
	{ B64("AHRpbQB0YW5zdGFhZnRhbnN0YWFm"), SASL_OK,
	  "", "tim", "tanstaaftanstaaf" },
	{ B64("VXJzZWwAS3VydAB4aXBqM3BsbXE="), SASL_AUTHZID_MISMATCH,
	  "", "", "" },
	{ RAW("\0tim@example.org\0secret"), SASL_OK,
	  "", "tim@example.org", "secret" },
	{ RAW("tim@example.org\0tim@example.org\0secret"), SASL_OK,
	  "tim@example.org", "tim@example.org", "secret" },
	{ RAW("Tim@Example.ORG\0tim@example.org\0secret"), SASL_OK,
	  "Tim@Example.ORG", "tim@example.org", "secret" },
	{ RAW("\0tim\0pass word with spaces \xc3\xa9"), SASL_OK,
	  "", "tim", "pass word with spaces \xc3\xa9" },
	{ RAW("bob\0tim\0secret"), SASL_AUTHZID_MISMATCH, "", "", "" },
	{ RAW("tim2\0tim\0secret"), SASL_AUTHZID_MISMATCH, "", "", "" },
	{ RAW("\0\0secret"), SASL_EMPTY_AUTHCID, "", "", "" },
	{ RAW("tim\0\0secret"), SASL_EMPTY_AUTHCID, "", "", "" },
	{ RAW("\0tim\0"), SASL_EMPTY_PASSWORD, "", "", "" },
	{ RAW("\0\0"), SASL_EMPTY_AUTHCID, "", "", "" },
	{ RAW("tim\0secret"), SASL_MALFORMED, "", "", "" },
	{ RAW("timsecret"), SASL_MALFORMED, "", "", "" },
	{ RAW("\0"), SASL_MALFORMED, "", "", "" },
	{ RAW("\0tim\0sec\0ret"), SASL_MALFORMED, "", "", "" },
	{ RAW("\0tim\0secret\0"), SASL_MALFORMED, "", "", "" },
	{ RAW("\0\0\0"), SASL_MALFORMED, "", "", "" },
	{ B64(""), SASL_MALFORMED, "", "", "" },
	{ B64("="), SASL_MALFORMED, "", "", "" },
	{ B64("*"), SASL_BAD_BASE64, "", "", "" },
	{ B64("AHRpbQB0YW5zdGFhZnRhbnN0YWFm\r\n"), SASL_BAD_BASE64, "", "", "" },
	{ B64("AHRpbQB0YW5zdGFhZnRhbnN0YWF"), SASL_BAD_BASE64, "", "", "" },
	{ B64("AHRpbQB0YW5zdGFhZnRhbnN0YWFm===="), SASL_BAD_BASE64, "", "", "" },
	/* the bounds: authcid 31 bytes fits char[32], 32 does not; the
	 * password buffer is char[64] */
	{ RAW("\0aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\0p"), SASL_OK,
	  "", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "p" },
	{ RAW("\0aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\0p"), SASL_TOO_LONG, "", "", "" },
	{ RAW("\0u\0ppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp"),
	  SASL_OK, "", "u",
	  "ppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp" },
	{ RAW("\0u\0pppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp"),
	  SASL_TOO_LONG, "", "", "" },
	/* authzid equal to an over-long authcid: too long, not a mismatch */
	{ RAW("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\0aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\0p"),
	  SASL_TOO_LONG, "", "", "" },
};

START_TEST(test_plain)
{
	const struct plain_case *c = &plain[_i];
	char zid[32], cid[32], pw[64];
	char *b64;

	if (c->b64 != NULL) {
		b64 = xstrdup(c->b64);
	} else {
		b64 = xmalloc(BASE64_ENCODED_LEN(c->rawlen) + 1);
		ck_assert_int_eq(base64_encode(c->raw, c->rawlen, b64,
		    BASE64_ENCODED_LEN(c->rawlen) + 1, NULL), BASE64_OK);
	}
	memset(zid, 'x', sizeof(zid));
	memset(cid, 'x', sizeof(cid));
	memset(pw, 'x', sizeof(pw));
	enum sasl_result r = sasl_plain_decode(b64, strlen(b64), zid, sizeof(zid),
	    cid, sizeof(cid), pw, sizeof(pw));
	ck_assert_msg(r == c->want, "case %d: got %s, want %s", _i,
	    sasl_result_str(r), sasl_result_str(c->want));
	ck_assert_str_eq(zid, c->authzid);
	ck_assert_str_eq(cid, c->authcid);
	ck_assert_str_eq(pw, c->passwd);

	/* without an authzid buffer: same result */
	memset(cid, 'x', sizeof(cid));
	r = sasl_plain_decode(b64, strlen(b64), NULL, 0, cid, sizeof(cid), pw,
	    sizeof(pw));
	ck_assert_int_eq(r, c->want);
	ck_assert_str_eq(cid, c->authcid);
	free(b64);
}
END_TEST

/* A response longer than SASL_RESPONSE_MAX_BYTES is refused before
 * decoding; one of exactly that length is decoded. */
START_TEST(test_plain_long)
{
	size_t rawlen = BASE64_DECODED_MAX(SASL_RESPONSE_MAX_BYTES);
	char *raw = xmalloc(rawlen + 3);
	char *b64 = xmalloc(BASE64_ENCODED_LEN(rawlen + 3) + 1);
	char *pw = xmalloc(rawlen);
	char cid[8];
	size_t n;

	memset(raw, 'p', rawlen + 3);
	memcpy(raw, "\0u\0", 3);
	ck_assert_int_eq(base64_encode(raw, rawlen, b64,
	    BASE64_ENCODED_LEN(rawlen) + 1, &n), BASE64_OK);
	ck_assert_uint_eq(n, SASL_RESPONSE_MAX_BYTES);
	ck_assert_int_eq(sasl_plain_decode(b64, n, NULL, 0, cid, sizeof(cid),
	    pw, rawlen), SASL_OK);
	ck_assert_str_eq(cid, "u");
	ck_assert_uint_eq(strlen(pw), rawlen - 3);

	ck_assert_int_eq(base64_encode(raw, rawlen + 1, b64,
	    BASE64_ENCODED_LEN(rawlen + 3) + 1, &n), BASE64_OK);
	ck_assert_uint_eq(n, SASL_RESPONSE_MAX_BYTES + 4);
	ck_assert_int_eq(sasl_plain_decode(b64, n, NULL, 0, cid, sizeof(cid),
	    pw, rawlen), SASL_TOO_LONG);
	ck_assert_str_eq(cid, "");
	ck_assert_int_eq(sasl_login_password(b64, n, pw, rawlen), SASL_TOO_LONG);
	free(raw);
	free(b64);
	free(pw);
}
END_TEST

/* ---- SASL LOGIN ---- */

struct login_case {
	bool password;              /* sasl_login_password, else _username */
	const char *b64;
	enum sasl_result want;
	const char *out;
};

static const struct login_case login[] = {
	{ false, "dGltQGV4YW1wbGUub3Jn", SASL_OK, "tim@example.org" },
	{ true, "c2VjcmV0", SASL_OK, "secret" },
	{ true, "cGFzcyB3b3Jk", SASL_OK, "pass word" },
	{ false, "", SASL_EMPTY_AUTHCID, "" },
	{ false, "=", SASL_EMPTY_AUTHCID, "" },
	{ true, "", SASL_EMPTY_PASSWORD, "" },
	{ true, "=", SASL_EMPTY_PASSWORD, "" },
	{ false, "AA==", SASL_MALFORMED, "" },          /* "\0" */
	{ true, "YQBi", SASL_MALFORMED, "" },           /* "a\0b" */
	{ false, "dGlt AA", SASL_BAD_BASE64, "" },
	{ false, "dGlt\r\n", SASL_BAD_BASE64, "" },
	{ true, "c2VjcmV0=", SASL_BAD_BASE64, "" },
	{ false, "*", SASL_BAD_BASE64, "" },            /* cancel: caller's job */
	/* out is char[16]: 15 bytes fit, 16 do not */
	{ false, "YWFhYWFhYWFhYWFhYWFh", SASL_OK, "aaaaaaaaaaaaaaa" },
	{ false, "YWFhYWFhYWFhYWFhYWFhYQ==", SASL_TOO_LONG, "" },
	{ true, "YWFhYWFhYWFhYWFhYWFhYQ==", SASL_TOO_LONG, "" },
};

START_TEST(test_login)
{
	const struct login_case *c = &login[_i];
	char out[16];
	enum sasl_result r;

	memset(out, 'x', sizeof(out));
	if (c->password)
		r = sasl_login_password(c->b64, strlen(c->b64), out, sizeof(out));
	else
		r = sasl_login_username(c->b64, strlen(c->b64), out, sizeof(out));
	ck_assert_msg(r == c->want, "case %d: got %s, want %s", _i,
	    sasl_result_str(r), sasl_result_str(c->want));
	ck_assert_str_eq(out, c->out);
}
END_TEST

START_TEST(test_login_prompts)
{
	char dec[32];
	size_t n;

	ck_assert_int_eq(base64_decode(SASL_LOGIN_USERNAME_PROMPT,
	    strlen(SASL_LOGIN_USERNAME_PROMPT), dec, sizeof(dec), &n), BASE64_OK);
	ck_assert_uint_eq(n, 9);
	ck_assert(memcmp(dec, "Username:", 9) == 0);
	ck_assert_int_eq(base64_decode(SASL_LOGIN_PASSWORD_PROMPT,
	    strlen(SASL_LOGIN_PASSWORD_PROMPT), dec, sizeof(dec), &n), BASE64_OK);
	ck_assert_uint_eq(n, 9);
	ck_assert(memcmp(dec, "Password:", 9) == 0);
}
END_TEST

/* ---- small helpers ---- */

START_TEST(test_helpers)
{
	ck_assert_int_eq(sasl_mech_parse("PLAIN"), SASL_MECH_PLAIN);
	ck_assert_int_eq(sasl_mech_parse("plain"), SASL_MECH_PLAIN);
	ck_assert_int_eq(sasl_mech_parse("Login"), SASL_MECH_LOGIN);
	ck_assert_int_eq(sasl_mech_parse("CRAM-MD5"), SASL_MECH_UNKNOWN);
	ck_assert_int_eq(sasl_mech_parse("PLAINX"), SASL_MECH_UNKNOWN);
	ck_assert_int_eq(sasl_mech_parse(""), SASL_MECH_UNKNOWN);

	ck_assert(sasl_is_cancel("*", 1));
	ck_assert(!sasl_is_cancel("*", 0));
	ck_assert(!sasl_is_cancel("**", 2));
	ck_assert(!sasl_is_cancel(" *", 2));
	ck_assert(!sasl_is_cancel("", 0));

	for (int r = SASL_OK; r <= SASL_AUTHZID_MISMATCH; r++)
		ck_assert_ptr_nonnull(sasl_result_str((enum sasl_result)r));
	ck_assert_str_eq(sasl_result_str(SASL_BAD_BASE64), "bad base64");
	ck_assert_str_eq(sasl_result_str(SASL_EMPTY_PASSWORD), "empty password");
}
END_TEST

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static Suite *
sasl_suite(void)
{
	Suite *s = suite_create("sasl");
	TCase *tc;

	tc = tcase_create("base64");
	tcase_add_loop_test(tc, test_b64_vectors, 0, N(vectors));
	tcase_add_loop_test(tc, test_b64_bad, 0, N(b64_bad));
	tcase_add_test(tc, test_b64_roundtrip);
	tcase_add_test(tc, test_b64_char_value);
	suite_add_tcase(s, tc);

	tc = tcase_create("sasl_plain_decode");
	tcase_add_loop_test(tc, test_plain, 0, N(plain));
	tcase_add_test(tc, test_plain_long);
	suite_add_tcase(s, tc);

	tc = tcase_create("sasl_login");
	tcase_add_loop_test(tc, test_login, 0, N(login));
	tcase_add_test(tc, test_login_prompts);
	suite_add_tcase(s, tc);

	tc = tcase_create("sasl helpers");
	tcase_add_test(tc, test_helpers);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(sasl_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
