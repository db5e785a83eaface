/* decode.h: turning mail bytes into searchable UTF-8: content-transfer
 * decoding (base64, quoted-printable), charset conversion, RFC 2047
 * encoded words and RFC 2231 parameter values, and a case-insensitive
 * substring search over UTF-8 (ASCII, Latin, Greek and Cyrillic folding). */
#ifndef MM_MAIL_DECODE_H
#define MM_MAIL_DECODE_H

#include <stddef.h>
#include <stdbool.h>
#include "lib/util.h"

/* Append the decoded bytes of in to out. Junk is skipped, never an error. */
void mail_decode_base64(const char *in, size_t len, struct mm_buf *out);
void mail_decode_qp(const char *in, size_t len, bool underscore_is_space, struct mm_buf *out);

/* Append in (len bytes in charset cs) to out as UTF-8. utf-8, us-ascii,
 * iso-8859-1, iso-8859-15 and windows-1252 are built in; others go through
 * iconv. Invalid UTF-8 in "utf-8"/"us-ascii"/unknown text is read as
 * windows-1252, so out is always valid UTF-8. Returns false when the
 * charset is unknown (the bytes were still appended, as windows-1252). */
bool mail_charset_to_utf8(const char *cs, const char *in, size_t len, struct mm_buf *out);
/* Does the charset name something we can convert? */
bool mail_charset_known(const char *cs);

/* Decode RFC 2047 encoded words in a raw header value into UTF-8: folds
 * are removed, white space between adjacent encoded words is dropped,
 * words in unknown charsets are kept as they are. malloc'd. */
char *mail_decode_header(const char *raw, size_t len);

/* Decode an RFC 2231 extended value "charset'lang'%XX..." (or a plain one,
 * in which RFC 2047 words are decoded too, as mailers send them) to UTF-8.
 * extended: the parameter name ended in '*'. malloc'd. */
char *mail_decode_param(const char *value, bool extended);

/* Case-fold UTF-8 text for searching: ASCII, Latin-1, Latin Extended-A,
 * Greek and Cyrillic letters go to lower case; invalid bytes are read as
 * windows-1252. Appends to out. */
void mail_text_fold(const char *s, size_t len, struct mm_buf *out);
/* Case-insensitive substring test (both sides folded). An empty needle
 * matches everything. */
bool mail_text_contains(const char *hay, size_t hlen, const char *needle, size_t nlen);
/* Same, with the needle already folded by mail_text_fold. */
bool mail_text_contains_folded(const char *hay, size_t hlen, const char *fneedle, size_t fnlen);

#endif
