/* sasl.h: the byte-level half of SASL PLAIN (RFC 4616) and LOGIN
 * (draft-murchison-sasl-login), shared by SMTP AUTH (RFC 4954), IMAP
 * AUTHENTICATE (RFC 3501 6.2.2, SASL-IR RFC 4959) and POP3 AUTH (RFC 5034).
 * Pure functions: the protocol sends the challenges and reads the lines;
 * these decode a client response into bounded, NUL-terminated strings. The
 * credentials are then checked on a worker thread (server_auth()). */
#ifndef MM_SASL_H
#define MM_SASL_H

#include <stdbool.h>
#include <stddef.h>

/* The longest client response (base64 text, without CRLF) we decode. */
#define SASL_RESPONSE_MAX_BYTES     4096

/* LOGIN challenges, already base64: "Username:" and "Password:". */
#define SASL_LOGIN_USERNAME_PROMPT  "VXNlcm5hbWU6"
#define SASL_LOGIN_PASSWORD_PROMPT  "UGFzc3dvcmQ6"

enum sasl_mech {
	SASL_MECH_UNKNOWN = 0,
	SASL_MECH_PLAIN,
	SASL_MECH_LOGIN,
};

enum sasl_result {
	SASL_OK = 0,
	SASL_BAD_BASE64,        /* not strict RFC 4648 base64 */
	SASL_TOO_LONG,          /* the response, or one part, does not fit */
	SASL_MALFORMED,         /* PLAIN: not authzid NUL authcid NUL passwd
	                         * (a NUL too many or too few); LOGIN: a NUL */
	SASL_EMPTY_AUTHCID,     /* no user name */
	SASL_EMPTY_PASSWORD,    /* no password */
	SASL_AUTHZID_MISMATCH,  /* PLAIN authzid names another user: acting
	                         * for someone else is not supported */
};

/* "PLAIN" / "LOGIN" in any case; anything else is SASL_MECH_UNKNOWN. */
enum sasl_mech sasl_mech_parse(const char *name);

/* Is this client response the cancel "*" (RFC 4954 4, RFC 3501 6.2.2,
 * RFC 5034 4)? */
bool sasl_is_cancel(const char *line, size_t len);

/* Decodes a PLAIN response: len bytes of base64 (not NUL-terminated; "="
 * is the empty response) into authzid, authcid and passwd, each
 * NUL-terminated in a buffer of the given size. authzid may be NULL (size
 * 0) when the caller does not want it; it is still checked: it must be
 * empty or equal authcid (ASCII case-insensitive). On any error every
 * output is "" and the password is wiped from temporary memory. */
enum sasl_result sasl_plain_decode(const char *b64, size_t len,
    char *authzid, size_t authzidsize, char *authcid, size_t authcidsize,
    char *passwd, size_t passwdsize);

/* LOGIN: decodes one response line (the answer to the Username: or the
 * Password: prompt) into out (outsize bytes, NUL-terminated; "" on error).
 * Errors: SASL_BAD_BASE64, SASL_TOO_LONG, SASL_MALFORMED (a NUL inside),
 * SASL_EMPTY_AUTHCID / SASL_EMPTY_PASSWORD for an empty value. */
enum sasl_result sasl_login_username(const char *b64, size_t len, char *out,
    size_t outsize);
enum sasl_result sasl_login_password(const char *b64, size_t len, char *out,
    size_t outsize);

/* A short English name of r, for logs ("bad base64", ...). */
const char *sasl_result_str(enum sasl_result r);

#endif
