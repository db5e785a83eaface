/* authres.h: the Authentication-Results header field (RFC 8601): written
 * for the checks port 25 made, and removed where a message arrives with
 * one that claims to come from us (RFC 8601 5: a forged one would tell
 * the user's filters that a check passed). */
#ifndef MM_MAIL_AUTHRES_H
#define MM_MAIL_AUTHRES_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/util.h"

/* The authserv-id of an Authentication-Results value (comments and
 * white space skipped, a quoted-string unquoted) into buf; false if the
 * value has none. */
bool authres_authserv_id(const char *value, size_t len, char *buf, size_t size);

/* Copies the header block of msg (msg[0, hdr_end)) to out without the
 * Authentication-Results fields whose authserv-id is authserv_id (ASCII
 * case-insensitive). Returns how many were removed. */
size_t authres_strip(const char *msg, size_t hdr_end, const char *authserv_id, struct mm_buf *out);

/* One result for the header: method=result, then properties. */
struct authres_item {
	const char *method;      /* "spf", "dkim", "dmarc" */
	const char *result;      /* "pass", "fail", ... */
	const char *reason;      /* or NULL: written as reason="..." */
	const char *ptype[4];    /* "smtp", "header", NULL-terminated */
	const char *prop[4];     /* "mailfrom", "d", ... */
	const char *pvalue[4];
};

/* "Authentication-Results: ID;\r\n\tspf=pass smtp.mailfrom=...;\r\n\t..."
 * ending in CRLF; "ID; none" without items. Values that are not RFC 2045
 * tokens are quoted; bytes outside printable ASCII are dropped, since a
 * value comes from the message or DNS. */
void authres_format(struct mm_buf *out, const char *authserv_id,
    const struct authres_item *items, size_t n);

#endif
