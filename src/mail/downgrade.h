/* downgrade.h: the 8BITMIME downgrade of RFC 6152 3 / RFC 1652 6: a MIME
 * message with 8-bit bodies made 7-bit for a server that does not offer
 * 8BITMIME, by re-encoding each 8-bit leaf part as quoted-printable
 * (RFC 2045 6.7) and saying so in its Content-Transfer-Encoding. Pure. */
#ifndef MM_MAIL_DOWNGRADE_H
#define MM_MAIL_DOWNGRADE_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/util.h"

/* Appends the 7-bit form of msg to out. false (out unspecified, reason
 * in *why_r) when it cannot be done without changing what the message
 * says: no MIME-Version, 8-bit bytes in a header (that is SMTPUTF8's
 * business), or in a base64 or quoted-printable body. A message with
 * nothing 8-bit is copied unchanged. */
bool mail_downgrade_7bit(const char *msg, size_t len, struct mm_buf *out,
    const char **why_r);

/* Quoted-printable (RFC 2045 6.7) of len bytes: CRLF stays a line break,
 * lines at most 76 characters with soft breaks, '=', 8-bit bytes,
 * control characters and WSP before a line break encoded. */
void mail_qp_encode(const char *s, size_t len, struct mm_buf *out);

#endif
