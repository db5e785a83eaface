/* base64.c: strict RFC 4648 base64 for SASL exchanges. The decoder checks
 * the whole input (alphabet, length, padding, pad bits) before it writes a
 * byte, in that order, so each input has one well-defined error; to relax
 * a rule, change base64_check() alone. */
#include "lib/base64.h"

#include <stdint.h>
#include <string.h>

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int
base64_char_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

enum base64_result
base64_encode(const void *src, size_t n, char *dst, size_t dstsize,
    size_t *len_r)
{
	const unsigned char *s = src;
	size_t o = 0;

	if (n > (SIZE_MAX - 1) / 4 * 3 - 2 || dstsize < BASE64_ENCODED_LEN(n) + 1) {
		if (dstsize > 0)
			dst[0] = '\0';
		return BASE64_TOO_LONG;
	}
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)s[i + 1] << 8;
		if (i + 2 < n)
			v |= s[i + 2];
		dst[o++] = b64_alphabet[(v >> 18) & 63];
		dst[o++] = b64_alphabet[(v >> 12) & 63];
		dst[o++] = i + 1 < n ? b64_alphabet[(v >> 6) & 63] : '=';
		dst[o++] = i + 2 < n ? b64_alphabet[v & 63] : '=';
	}
	dst[o] = '\0';
	if (len_r != NULL)
		*len_r = o;
	return BASE64_OK;
}

/* Is src canonical base64? Sets *out_r to its decoded length. */
static enum base64_result
base64_check(const char *src, size_t len, size_t *out_r)
{
	size_t pad = 0;

	for (size_t i = 0; i < len; i++)
		if (src[i] != '=' && base64_char_value((unsigned char)src[i]) < 0)
			return BASE64_BAD_CHAR;
	if (len % 4 != 0)
		return BASE64_BAD_LENGTH;
	if (len > 0 && src[len - 1] == '=')
		pad = len > 1 && src[len - 2] == '=' ? 2 : 1;
	/* no other '=' anywhere */
	if (memchr(src, '=', len - pad) != NULL)
		return BASE64_BAD_PADDING;
	/* the bits the padding stands for must be zero */
	if (pad == 2 && (base64_char_value((unsigned char)src[len - 3]) & 0x0f) != 0)
		return BASE64_BAD_PADDING;
	if (pad == 1 && (base64_char_value((unsigned char)src[len - 2]) & 0x03) != 0)
		return BASE64_BAD_PADDING;
	*out_r = len / 4 * 3 - pad;
	return BASE64_OK;
}

enum base64_result
base64_decode(const char *src, size_t len, void *dst, size_t dstsize,
    size_t *len_r)
{
	unsigned char *d = dst;
	size_t outlen = 0, o = 0;
	enum base64_result r = base64_check(src, len, &outlen);

	if (r != BASE64_OK)
		return r;
	if (outlen > dstsize)
		return BASE64_TOO_LONG;
	for (size_t i = 0; i < len; i += 4) {
		uint32_t v = 0;
		for (size_t j = 0; j < 4; j++) {
			int c = base64_char_value((unsigned char)src[i + j]);
			v = v << 6 | (uint32_t)(c < 0 ? 0 : c);
		}
		if (o < outlen)
			d[o++] = (unsigned char)(v >> 16);
		if (o < outlen)
			d[o++] = (unsigned char)(v >> 8);
		if (o < outlen)
			d[o++] = (unsigned char)v;
	}
	*len_r = outlen;
	return BASE64_OK;
}

const char *
base64_result_str(enum base64_result r)
{
	switch (r) {
	case BASE64_OK:
		return "ok";
	case BASE64_BAD_LENGTH:
		return "length not a multiple of 4";
	case BASE64_BAD_CHAR:
		return "character outside the base64 alphabet";
	case BASE64_BAD_PADDING:
		return "bad padding";
	case BASE64_TOO_LONG:
		return "result too long";
	}
	return "unknown base64 error";
}
