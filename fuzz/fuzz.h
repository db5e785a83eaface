/* fuzz.h: what every libFuzzer harness in fuzz/ shares: the entry point's
 * prototype, FUZZ_CHECK (a broken property aborts, so libFuzzer keeps the
 * input), an exact-size copy of the input (so ASan sees a read one byte
 * past the end), and an independent UTF-8 validator for cross-checks.
 * The one idea: a harness asserts properties the header promises, not
 * only "does not crash". */
#ifndef MM_FUZZ_H
#define MM_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: property failed: %s\n", \
		    __FILE__, __LINE__, #cond); \
		abort(); \
	} \
} while (0)

/* A malloc'd copy of exactly n bytes (1 if n is 0). */
static inline char *
fuzz_dup(const void *p, size_t n)
{
	char *s = malloc(n ? n : 1);
	if (s == NULL)
		abort();
	if (n > 0)
		memcpy(s, p, n);
	return s;
}

/* A malloc'd NUL-terminated copy of n bytes (NULs inside are kept). */
static inline char *
fuzz_strdup(const void *p, size_t n)
{
	char *s = malloc(n + 1);
	if (s == NULL)
		abort();
	if (n > 0)
		memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

/* Are a[0..alen) and b[0..blen) the same bytes? (NULL is fine when
 * the length is 0.) */
static inline bool
fuzz_memeq(const void *a, size_t alen, const void *b, size_t blen)
{
	return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

/* RFC 3629 well-formed UTF-8 (no overlongs, surrogates or > U+10FFFF),
 * written from the table in RFC 3629 4, independently of the code under
 * test. */
static inline bool
fuzz_utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		unsigned char c = s[i];
		size_t k;
		unsigned char lo = 0x80, hi = 0xbf;
		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			k = 1;
		} else if (c == 0xe0) {
			k = 2; lo = 0xa0;
		} else if ((c >= 0xe1 && c <= 0xec) || c == 0xee || c == 0xef) {
			k = 2;
		} else if (c == 0xed) {
			k = 2; hi = 0x9f;
		} else if (c == 0xf0) {
			k = 3; lo = 0x90;
		} else if (c >= 0xf1 && c <= 0xf3) {
			k = 3;
		} else if (c == 0xf4) {
			k = 3; hi = 0x8f;
		} else {
			return false;
		}
		if (n - i - 1 < k)
			return false;
		if (s[i + 1] < lo || s[i + 1] > hi)
			return false;
		for (size_t j = 2; j <= k; j++)
			if (s[i + j] < 0x80 || s[i + j] > 0xbf)
				return false;
		i += k + 1;
	}
	return true;
}

#endif
