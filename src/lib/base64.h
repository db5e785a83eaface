/* base64.h: RFC 4648 section 4 base64, as SASL (RFC 4422) uses it: encode
 * with '=' padding, and a strict decoder that refuses anything but the
 * canonical form (no white space, no line breaks, correct padding, zero
 * pad bits), so that one credential has exactly one encoding. MIME bodies,
 * which are lenient, have their own decoder in src/mail/decode.c, and IMAP
 * mailbox names their modified base64 (RFC 3501 5.1.3) in
 * src/imap/imap-mutf7.c; both share base64_char_value(). */
#ifndef MM_BASE64_H
#define MM_BASE64_H

#include <stddef.h>

/* Encoded length of n bytes, without the terminating NUL. */
#define BASE64_ENCODED_LEN(n)   ((((n) + 2) / 3) * 4)
/* The most bytes len characters of base64 can decode to. */
#define BASE64_DECODED_MAX(len) (((len) / 4) * 3)

enum base64_result {
	BASE64_OK = 0,
	BASE64_BAD_LENGTH,      /* not a multiple of 4 characters */
	BASE64_BAD_CHAR,        /* a character outside A-Z a-z 0-9 + / = */
	BASE64_BAD_PADDING,     /* '=' other than 1 or 2 at the very end, or
	                         * non-zero bits in the last character */
	BASE64_TOO_LONG,        /* the result does not fit in dst */
};

/* Encodes n bytes of src into dst (dstsize bytes, NUL-terminated).
 * Returns BASE64_OK and the length in *len_r, or BASE64_TOO_LONG (dst
 * then holds ""): dstsize must be at least BASE64_ENCODED_LEN(n) + 1. */
enum base64_result base64_encode(const void *src, size_t n, char *dst,
    size_t dstsize, size_t *len_r);

/* Decodes len characters of src into dst (dstsize bytes; the result is
 * binary and not NUL-terminated). Returns BASE64_OK with the decoded
 * length in *len_r, or the first problem found (dst contents are then
 * unspecified). The empty string decodes to 0 bytes. */
enum base64_result base64_decode(const char *src, size_t len, void *dst,
    size_t dstsize, size_t *len_r);

/* Value of c in the RFC 4648 alphabet (A-Z a-z 0-9 + /: 0 to 63), or -1
 * ('=' too). The lenient MIME decoder (src/mail/decode.c) and modified
 * base64 of IMAP mailbox names (src/imap/imap-parser.c) read with it. */
int base64_char_value(unsigned char c);

/* A short English name of r, for logs and test messages. */
const char *base64_result_str(enum base64_result r);

#endif
