/* imap-mutf7.c: modified UTF-7 (RFC 3501 5.1.3), the mailbox name
 * encoding, to and from UTF-8, strictly: only the canonical form is
 * accepted (no direct ASCII inside a base64 run, no adjacent runs, no
 * control characters). Split from imap-parser.c; declared in
 * imap-parser.h. */
#include "imap/imap-parser.h"
#include "lib/base64.h"
#include "lib/util.h"

#include <stdint.h>

static const char mb64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/* Modified base64 is RFC 4648 base64 with ',' in place of '/'. */
static int
mb64_value(unsigned char c)
{
	if (c == ',')
		return 63;
	if (c == '/')
		return -1;
	return base64_char_value(c);
}

bool
imap_mutf7_to_utf8(const char *in, size_t len, struct mm_buf *out)
{
	size_t i = 0;
	while (i < len) {
		unsigned char c = (unsigned char)in[i];
		if (c < 0x20 || c >= 0x7f)
			return false;
		if (c != '&') {
			mm_buf_appendc(out, (char)c);
			i++;
			continue;
		}
		i++;
		if (i < len && in[i] == '-') {
			mm_buf_appendc(out, '&');
			i++;
			continue;
		}
		/* base64 run of UTF-16BE up to '-' */
		uint32_t bits = 0;
		unsigned nbits = 0;
		uint32_t high = 0;      /* pending high surrogate */
		size_t units = 0;
		for (;;) {
			if (i >= len)
				return false;           /* unterminated */
			c = (unsigned char)in[i++];
			if (c == '-')
				break;
			int v = mb64_value(c);
			if (v < 0)
				return false;
			bits = (bits << 6) | (uint32_t)v;
			nbits += 6;
			if (nbits >= 16) {
				nbits -= 16;
				uint32_t u = (bits >> nbits) & 0xffff;
				bits &= (1u << nbits) - 1;
				units++;
				if (high != 0) {
					if (u < 0xdc00 || u > 0xdfff)
						return false;
					mm_buf_append_utf8(out, 0x10000 + ((high - 0xd800) << 10) + (u - 0xdc00));
					high = 0;
				} else if (u >= 0xd800 && u <= 0xdbff) {
					high = u;
				} else if (u >= 0xdc00 && u <= 0xdfff) {
					return false;
				} else if (u >= 0x20 && u < 0x7f) {
					return false;   /* must be written directly */
				} else if (u < 0x20 || u == 0x7f) {
					return false;   /* control characters (NUL too)
					                 * have no place in names */
				} else {
					mm_buf_append_utf8(out, u);
				}
			}
		}
		/* leftover bits must be zero padding of fewer than 6 bits */
		if (units == 0 || high != 0 || nbits >= 6 || bits != 0)
			return false;
		/* "&...-&" is non-canonical (two adjacent runs) */
		if (i < len && in[i] == '&' && !(i + 1 < len && in[i + 1] == '-'))
			return false;
	}
	return true;
}

bool
imap_utf8_to_mutf7(const char *in, size_t len, struct mm_buf *out)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t i = 0;
	while (i < len) {
		if (s[i] >= 0x20 && s[i] < 0x7f) {
			if (s[i] == '&')
				mm_buf_append(out, "&-", 2);
			else
				mm_buf_appendc(out, (char)s[i]);
			i++;
			continue;
		}
		if (s[i] < 0x80)
			return false;   /* control characters have no place in names */
		/* a run of non-ASCII (and control) characters */
		uint32_t bits = 0;
		unsigned nbits = 0;
		mm_buf_appendc(out, '&');
		while (i < len && !(s[i] >= 0x20 && s[i] < 0x7f)) {
			uint32_t cp;
			size_t k = mm_utf8_decode(s + i, len - i, &cp);
			if (k == 0 || cp < 0x20 || cp == 0x7f)
				return false;
			i += k;
			uint32_t units[2];
			int nu = 1;
			if (cp >= 0x10000) {
				cp -= 0x10000;
				units[0] = 0xd800 + (cp >> 10);
				units[1] = 0xdc00 + (cp & 0x3ff);
				nu = 2;
			} else {
				units[0] = cp;
			}
			for (int u = 0; u < nu; u++) {
				bits = (bits << 16) | units[u];
				nbits += 16;
				while (nbits >= 6) {
					nbits -= 6;
					mm_buf_appendc(out, mb64[(bits >> nbits) & 0x3f]);
				}
				bits &= (1u << nbits) - 1;
			}
		}
		if (nbits > 0)
			mm_buf_appendc(out, mb64[(bits << (6 - nbits)) & 0x3f]);
		mm_buf_appendc(out, '-');
	}
	return true;
}
