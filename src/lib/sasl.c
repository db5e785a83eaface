/* sasl.c: decoding of SASL PLAIN and LOGIN client responses. Each
 * response is base64-decoded into one stack buffer of
 * BASE64_DECODED_MAX(SASL_RESPONSE_MAX_BYTES) bytes, split and copied
 * into the caller's bounded buffers, and the stack buffer is wiped, since
 * it held a password. The order of the checks fixes which error a bad
 * response gets; keep it when adding a mechanism. */
#include "lib/sasl.h"
#include "lib/base64.h"
#include "lib/util.h"

#include <string.h>

#define SASL_DECODED_MAX_BYTES BASE64_DECODED_MAX(SASL_RESPONSE_MAX_BYTES)

enum sasl_mech
sasl_mech_parse(const char *name)
{
	if (mm_strcaseeq(name, "PLAIN"))
		return SASL_MECH_PLAIN;
	if (mm_strcaseeq(name, "LOGIN"))
		return SASL_MECH_LOGIN;
	return SASL_MECH_UNKNOWN;
}

bool
sasl_is_cancel(const char *line, size_t len)
{
	return len == 1 && line[0] == '*';
}

/* Base64 of at most SASL_RESPONSE_MAX_BYTES into buf; "=" is empty. */
static enum sasl_result
sasl_decode(const char *b64, size_t len, unsigned char *buf, size_t *n_r)
{
	if (len > SASL_RESPONSE_MAX_BYTES)
		return SASL_TOO_LONG;
	if (len == 1 && b64[0] == '=') {
		*n_r = 0;
		return SASL_OK;
	}
	if (base64_decode(b64, len, buf, SASL_DECODED_MAX_BYTES, n_r) != BASE64_OK)
		return SASL_BAD_BASE64;
	return SASL_OK;
}

/* Copy n bytes into a NUL-terminated buffer of size dstsize. */
static bool
sasl_copy(char *dst, size_t dstsize, const unsigned char *src, size_t n)
{
	if (n >= dstsize)
		return false;
	memcpy(dst, src, n);
	dst[n] = '\0';
	return true;
}

static void
sasl_clear(char *s, size_t size)
{
	if (s != NULL && size > 0)
		explicit_bzero(s, size);
}

/* authcid equals authzid, ASCII case-insensitive, n bytes each. */
static bool
sasl_same_user(const unsigned char *a, size_t an, const unsigned char *b,
    size_t bn)
{
	if (an != bn)
		return false;
	for (size_t i = 0; i < an; i++) {
		unsigned char x = a[i], y = b[i];
		if (x >= 'A' && x <= 'Z')
			x = (unsigned char)(x + 32);
		if (y >= 'A' && y <= 'Z')
			y = (unsigned char)(y + 32);
		if (x != y)
			return false;
	}
	return true;
}

enum sasl_result
sasl_plain_decode(const char *b64, size_t len, char *authzid,
    size_t authzidsize, char *authcid, size_t authcidsize, char *passwd,
    size_t passwdsize)
{
	unsigned char buf[SASL_DECODED_MAX_BYTES];
	size_t n = 0;
	enum sasl_result r;

	sasl_clear(authzid, authzidsize);
	sasl_clear(authcid, authcidsize);
	sasl_clear(passwd, passwdsize);
	r = sasl_decode(b64, len, buf, &n);
	if (r != SASL_OK)
		goto out;

	/* message = [authzid] UTF8NUL authcid UTF8NUL passwd (RFC 4616 2) */
	unsigned char *nul1 = memchr(buf, '\0', n);
	unsigned char *nul2 = nul1 ? memchr(nul1 + 1, '\0', n - (size_t)(nul1 + 1 - buf)) : NULL;
	if (nul1 == NULL || nul2 == NULL ||
	    memchr(nul2 + 1, '\0', n - (size_t)(nul2 + 1 - buf)) != NULL) {
		r = SASL_MALFORMED;
		goto out;
	}
	const unsigned char *zid = buf, *cid = nul1 + 1, *pw = nul2 + 1;
	size_t zidlen = (size_t)(nul1 - buf), cidlen = (size_t)(nul2 - cid);
	size_t pwlen = n - (size_t)(pw - buf);

	if (cidlen == 0) {
		r = SASL_EMPTY_AUTHCID;
		goto out;
	}
	if (pwlen == 0) {
		r = SASL_EMPTY_PASSWORD;
		goto out;
	}
	if (zidlen > 0 && !sasl_same_user(zid, zidlen, cid, cidlen)) {
		r = SASL_AUTHZID_MISMATCH;
		goto out;
	}
	if ((authzid != NULL && !sasl_copy(authzid, authzidsize, zid, zidlen)) ||
	    !sasl_copy(authcid, authcidsize, cid, cidlen) ||
	    !sasl_copy(passwd, passwdsize, pw, pwlen)) {
		r = SASL_TOO_LONG;
		goto out;
	}
	r = SASL_OK;
out:
	explicit_bzero(buf, sizeof(buf));
	if (r != SASL_OK) {
		sasl_clear(authzid, authzidsize);
		sasl_clear(authcid, authcidsize);
		sasl_clear(passwd, passwdsize);
	}
	return r;
}

static enum sasl_result
sasl_login_value(const char *b64, size_t len, char *out, size_t outsize,
    enum sasl_result empty)
{
	unsigned char buf[SASL_DECODED_MAX_BYTES];
	size_t n = 0;
	enum sasl_result r;

	sasl_clear(out, outsize);
	r = sasl_decode(b64, len, buf, &n);
	if (r != SASL_OK)
		;
	else if (memchr(buf, '\0', n) != NULL)
		r = SASL_MALFORMED;
	else if (n == 0)
		r = empty;
	else if (!sasl_copy(out, outsize, buf, n))
		r = SASL_TOO_LONG;
	explicit_bzero(buf, sizeof(buf));
	if (r != SASL_OK)
		sasl_clear(out, outsize);
	return r;
}

enum sasl_result
sasl_login_username(const char *b64, size_t len, char *out, size_t outsize)
{
	return sasl_login_value(b64, len, out, outsize, SASL_EMPTY_AUTHCID);
}

enum sasl_result
sasl_login_password(const char *b64, size_t len, char *out, size_t outsize)
{
	return sasl_login_value(b64, len, out, outsize, SASL_EMPTY_PASSWORD);
}

const char *
sasl_result_str(enum sasl_result r)
{
	switch (r) {
	case SASL_OK:
		return "ok";
	case SASL_BAD_BASE64:
		return "bad base64";
	case SASL_TOO_LONG:
		return "too long";
	case SASL_MALFORMED:
		return "malformed response";
	case SASL_EMPTY_AUTHCID:
		return "empty user name";
	case SASL_EMPTY_PASSWORD:
		return "empty password";
	case SASL_AUTHZID_MISMATCH:
		return "authorization identity differs from user name";
	}
	return "unknown SASL error";
}
