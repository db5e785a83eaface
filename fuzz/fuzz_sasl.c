/* fuzz_sasl.c: libFuzzer harness for the strict base64 codec (base64.c)
 * and the SASL PLAIN / LOGIN response decoders (sasl.c). The input is a
 * client response line. Properties: base64 is canonical (what decodes
 * re-encodes to the same text), encode/decode round-trips any bytes, a
 * decoded PLAIN triple re-encodes to the input, and every error leaves
 * the output buffers empty. */
#include "fuzz/fuzz.h"

#include "lib/base64.h"
#include "lib/sasl.h"

static void
check_base64(const char *in, size_t len)
{
	size_t cap = BASE64_DECODED_MAX(len);
	unsigned char *dec = malloc(cap ? cap : 1);
	size_t n = 0;
	enum base64_result r = base64_decode(in, len, dec, cap, &n);

	FUZZ_CHECK(base64_result_str(r) != NULL);
	if (r == BASE64_OK) {
		FUZZ_CHECK(n <= cap);
		/* canonical: one encoding per byte string */
		size_t elen = BASE64_ENCODED_LEN(n);
		char *enc = malloc(elen + 1);
		size_t outlen = 0;
		FUZZ_CHECK(base64_encode(dec, n, enc, elen + 1, &outlen) == BASE64_OK);
		FUZZ_CHECK(outlen == len && memcmp(enc, in, len) == 0);
		/* one byte short of room is refused */
		if (n > 0) {
			size_t m = 0;
			FUZZ_CHECK(base64_decode(in, len, dec, n - 1, &m) == BASE64_TOO_LONG);
		}
		free(enc);
	}
	free(dec);

	/* any bytes: encode, then decode gives them back */
	size_t elen = BASE64_ENCODED_LEN(len);
	char *enc = malloc(elen + 1);
	size_t outlen = 0;
	FUZZ_CHECK(base64_encode(in, len, enc, elen + 1, &outlen) == BASE64_OK);
	FUZZ_CHECK(outlen == elen && enc[elen] == '\0');
	if (elen > 0) {
		/* no room for the NUL: refused, dst is "" */
		FUZZ_CHECK(base64_encode(in, len, enc, elen, &outlen) == BASE64_TOO_LONG);
		FUZZ_CHECK(enc[0] == '\0');
		FUZZ_CHECK(base64_encode(in, len, enc, elen + 1, &outlen) == BASE64_OK);
	}
	char *back = malloc(len ? len : 1);
	size_t blen = 0;
	FUZZ_CHECK(base64_decode(enc, elen, back, len, &blen) == BASE64_OK);
	FUZZ_CHECK(blen == len && memcmp(back, in, len) == 0);
	free(back);
	free(enc);
}

static bool
all_empty(const char *a, const char *b, const char *c)
{
	return (a == NULL || a[0] == '\0') && b[0] == '\0' && c[0] == '\0';
}

static void
check_plain(const char *in, size_t len, size_t bufsize)
{
	char *zid = malloc(bufsize), *cid = malloc(bufsize), *pw = malloc(bufsize);
	memset(zid, 'x', bufsize);
	memset(cid, 'x', bufsize);
	memset(pw, 'x', bufsize);
	enum sasl_result r = sasl_plain_decode(in, len, zid, bufsize, cid,
	    bufsize, pw, bufsize);
	FUZZ_CHECK(sasl_result_str(r) != NULL);
	if (r != SASL_OK) {
		FUZZ_CHECK(all_empty(zid, cid, pw));
	} else {
		size_t zl = strlen(zid), cl = strlen(cid), pl = strlen(pw);
		FUZZ_CHECK(zl < bufsize && cl < bufsize && pl < bufsize);
		FUZZ_CHECK(cl > 0 && pl > 0);
		FUZZ_CHECK(zl == 0 || (zl == cl && strncasecmp(zid, cid, cl) == 0));
		/* the triple is what was sent */
		size_t rawlen = zl + 1 + cl + 1 + pl;
		char *raw = malloc(rawlen);
		memcpy(raw, zid, zl);
		raw[zl] = '\0';
		memcpy(raw + zl + 1, cid, cl);
		raw[zl + 1 + cl] = '\0';
		memcpy(raw + zl + 2 + cl, pw, pl);
		char *enc = malloc(BASE64_ENCODED_LEN(rawlen) + 1);
		size_t elen = 0;
		FUZZ_CHECK(base64_encode(raw, rawlen, enc,
		    BASE64_ENCODED_LEN(rawlen) + 1, &elen) == BASE64_OK);
		FUZZ_CHECK(elen == len && memcmp(enc, in, len) == 0);
		free(enc);
		free(raw);
	}
	/* without the authzid buffer: same verdict */
	enum sasl_result r2 = sasl_plain_decode(in, len, NULL, 0, cid, bufsize,
	    pw, bufsize);
	FUZZ_CHECK(r2 == r);
	free(zid);
	free(cid);
	free(pw);
}

static void
check_login(const char *in, size_t len, size_t bufsize)
{
	char *out = malloc(bufsize);
	memset(out, 'x', bufsize);
	enum sasl_result r = sasl_login_username(in, len, out, bufsize);
	if (r == SASL_OK) {
		size_t n = strlen(out);
		FUZZ_CHECK(n > 0 && n < bufsize);
	} else {
		FUZZ_CHECK(out[0] == '\0');
		FUZZ_CHECK(r != SASL_EMPTY_PASSWORD && r != SASL_AUTHZID_MISMATCH);
	}
	enum sasl_result r2 = sasl_login_password(in, len, out, bufsize);
	if (r == SASL_EMPTY_AUTHCID)
		FUZZ_CHECK(r2 == SASL_EMPTY_PASSWORD);
	else
		FUZZ_CHECK(r2 == r);
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = fuzz_dup(data, size);
	char *cstr = fuzz_strdup(data, size);

	check_base64(in, size);
	/* the buffer sizes the protocols use, and a tiny one */
	check_plain(in, size, 321);
	check_plain(in, size, 4);
	check_login(in, size, 321);
	check_login(in, size, 3);

	FUZZ_CHECK(sasl_is_cancel(in, size) == (size == 1 && in[0] == '*'));
	enum sasl_mech m = sasl_mech_parse(cstr);
	FUZZ_CHECK(m == SASL_MECH_UNKNOWN || strlen(cstr) == 5);

	free(cstr);
	free(in);
	return 0;
}
