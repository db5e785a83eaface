/* smtp-parse.h: SMTP command syntax (RFC 5321 4.1, with the ESMTP
 * parameters of RFC 1870, 3030, 4954, 6152, 6531), as pure functions over
 * one command line. No libevent, OpenSSL or db.h: unit tests and fuzzers
 * call these directly.
 *
 * Every failure is an enum smtp_perr, and each value has exactly one reply
 * line (smtp_perr_reply) so that the session never invents its own wording
 * for a syntax error. */
#ifndef MM_SMTP_PARSE_H
#define MM_SMTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/limits.h"

enum smtp_verb {
	SMTP_CMD_UNKNOWN = 0,
	SMTP_CMD_HELO,
	SMTP_CMD_EHLO,
	SMTP_CMD_MAIL,
	SMTP_CMD_RCPT,
	SMTP_CMD_DATA,
	SMTP_CMD_BDAT,
	SMTP_CMD_RSET,
	SMTP_CMD_NOOP,
	SMTP_CMD_QUIT,
	SMTP_CMD_VRFY,
	SMTP_CMD_EXPN,
	SMTP_CMD_HELP,
	SMTP_CMD_STARTTLS,
	SMTP_CMD_AUTH,
	SMTP_CMD_COUNT
};

enum smtp_perr {
	SMTP_PERR_OK = 0,
	SMTP_PERR_NUL,              /* 500 5.5.2 NUL byte in the command */
	SMTP_PERR_UNKNOWN_CMD,      /* 500 5.5.2 command not recognized */
	SMTP_PERR_NO_ARGS,          /* 501 5.5.4 the command takes no arguments */
	SMTP_PERR_MAIL_SYNTAX,      /* 501 5.5.2 not "FROM:<path>" */
	SMTP_PERR_RCPT_SYNTAX,      /* 501 5.5.2 not "TO:<path>" */
	SMTP_PERR_BAD_SENDER,       /* 501 5.1.7 bad reverse-path syntax */
	SMTP_PERR_BAD_RCPT,         /* 501 5.1.3 bad forward-path syntax */
	SMTP_PERR_SENDER_TOO_LONG,  /* 501 5.1.7 local part, domain or path too long */
	SMTP_PERR_RCPT_TOO_LONG,    /* 501 5.1.3 */
	SMTP_PERR_SENDER_UTF8,      /* 553 5.6.7 UTF-8 without SMTPUTF8 (RFC 6531 3.5) */
	SMTP_PERR_RCPT_UTF8,        /* 553 5.6.7 */
	SMTP_PERR_PARAM_SYNTAX,     /* 501 5.5.4 malformed esmtp-param */
	SMTP_PERR_PARAM_UNKNOWN,    /* 555 5.5.4 parameter not recognized (RFC 5321 4.1.1.11) */
	SMTP_PERR_PARAM_DUP,        /* 501 5.5.4 parameter given twice */
	SMTP_PERR_PARAM_VALUE,      /* 501 5.5.4 bad value for a known parameter */
	SMTP_PERR_BODY_UNSUPPORTED, /* 555 5.5.4 BODY=BINARYMIME or unknown body type */
	SMTP_PERR_BDAT_SYNTAX,      /* 501 5.5.4 not "BDAT size [LAST]" */
	SMTP_PERR_AUTH_SYNTAX,      /* 501 5.5.4 not "AUTH mech [initial-response]" */
	SMTP_PERR_HELO_SYNTAX,      /* 501 5.5.4 no name given */
	SMTP_PERR_HELO_DOMAIN,      /* 501 5.5.4 not a domain or address literal */
	SMTP_PERR_COUNT
};

/* The one reply line for each error, without CRLF. */
const char *smtp_perr_reply(enum smtp_perr err);
/* "OK", "NUL", ... for logs and tests. */
const char *smtp_perr_name(enum smtp_perr err);

/* Bounds from RFC 5321 4.5.3.1 (octets, without brackets where noted). */
#define SMTP_LOCAL_PART_MAX_BYTES  64   /* 4.5.3.1.1 */
#define SMTP_DOMAIN_MAX_BYTES      255  /* 4.5.3.1.2 */
#define SMTP_PATH_MAX_BYTES        256  /* 4.5.3.1.3, including "<" and ">" */
#define SMTP_AUTH_MECH_MAX_BYTES   20   /* RFC 4422 3.1 */

struct smtp_cmdline {
	enum smtp_verb verb;
	const char *verb_str;    /* canonical upper-case name, "" if unknown */
	const char *args;        /* after the verb and its single space; "" if none */
	size_t argslen;
};

/* Splits "VERB[ args]" (the line without its CRLF). The verb is matched
 * case-insensitively and must end at SP or the end of the line. Commands
 * that take no arguments (DATA, RSET, QUIT, STARTTLS) refuse them. A NUL
 * anywhere is SMTP_PERR_NUL. */
enum smtp_perr smtp_parse_command(const char *line, size_t len, struct smtp_cmdline *cmd_r);

/* A parsed path. addr is "local@domain" ("" for the null reverse-path
 * "<>", "postmaster" alone for RCPT TO:<Postmaster>); a quoted local part
 * whose content is a valid dot-string is unquoted, otherwise it is kept
 * quoted exactly as sent. A source route is dropped. */
struct smtp_path {
	char addr[ADDRESS_MAX_BYTES + 1];
	char local[SMTP_LOCAL_PART_MAX_BYTES + 1];     /* as in addr (maybe quoted) */
	char domain[SMTP_DOMAIN_MAX_BYTES + 1];       /* "" for null / postmaster */
	bool null_path;          /* "<>" */
	bool postmaster;         /* RCPT TO:<Postmaster> without domain */
	bool literal;            /* domain is an address literal "[...]" */
	bool utf8;               /* contains non-ASCII */
};

enum smtp_body { SMTP_BODY_NONE = 0, SMTP_BODY_7BIT, SMTP_BODY_8BITMIME };

struct smtp_mail_params {
	bool has_size;
	uint64_t size;           /* SIZE=, RFC 1870 */
	enum smtp_body body;     /* BODY=, RFC 6152 */
	bool smtputf8;           /* SMTPUTF8, RFC 6531 */
	bool has_auth;           /* AUTH=, RFC 4954 5: accepted, not trusted */
};

/* args is what follows "MAIL " ("FROM:<path> params"). One space after
 * the colon is tolerated. RET/ENVID (DSN, not offered) get 555. */
enum smtp_perr smtp_parse_mail(const char *args, size_t len,
    struct smtp_path *path_r, struct smtp_mail_params *params_r);
/* args is what follows "RCPT ". smtputf8: the MAIL command had SMTPUTF8.
 * NOTIFY/ORCPT (DSN, not offered) and anything else get 555. */
enum smtp_perr smtp_parse_rcpt(const char *args, size_t len, bool smtputf8,
    struct smtp_path *path_r);
/* "size [LAST]" (RFC 3030 2). size is at most 20 digits. */
enum smtp_perr smtp_parse_bdat(const char *args, size_t len, uint64_t *size_r,
    bool *last_r);
/* "mech [initial-response]". mech_r gets the upper-cased mechanism;
 * *ir_r points into args (NULL when absent; "=" means empty, RFC 4954 4). */
enum smtp_perr smtp_parse_auth(const char *args, size_t len,
    char mech_r[SMTP_AUTH_MECH_MAX_BYTES + 1], const char **ir_r, size_t *irlen_r);
/* EHLO/HELO argument: a domain (underscores tolerated: Windows hosts send
 * them) or an address literal. Anything after the name is ignored. */
enum smtp_perr smtp_parse_helo(const char *args, size_t len,
    char name_r[SMTP_DOMAIN_MAX_BYTES + 1]);

/* Helpers shared with the session. */
/* Is s[0..len) well-formed UTF-8 (no overlongs, surrogates, > U+10FFFF)? */
bool smtp_utf8_valid(const char *s, size_t len);
/* Is s a syntactically valid domain (sub-domains of letters, digits and
 * hyphens; UTF-8 labels when utf8 is true)? */
bool smtp_domain_valid(const char *s, size_t len, bool utf8);

#endif
