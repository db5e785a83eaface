/* pop3-parse.h: the POP3 command parser (RFC 1939, 2449, 2595, 5034).
 * Pure: no libevent, OpenSSL or Berkeley DB, so unit tests and fuzzers
 * feed it lines directly. One call parses one line (without its CRLF)
 * into a verb and validated arguments, or says exactly what is wrong. */
#ifndef MM_POP3_PARSE_H
#define MM_POP3_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/limits.h"

/* A command line is at most POP3_LINE_MAX_BYTES including CRLF (RFC 2449
 * 4). AUTH with an initial response and SASL continuation lines may be
 * longer (RFC 5034 4: a PLAIN response for a 320-byte address and a long
 * password does not fit in 255); we accept up to this. */
#define POP3_CMD_MAX_BYTES           (POP3_LINE_MAX_BYTES - 2)
#define POP3_SASL_LINE_MAX_BYTES     2048
/* RFC 2449 4: arguments up to 40 octets; USER takes a full address and
 * PASS a passphrase, so those two get more room. */
#define POP3_ARG_MAX_BYTES           40
#define POP3_SASL_MECH_MAX_BYTES     20    /* RFC 4422 3.1 */

enum pop3_verb {
	POP3_VERB_NONE = 0,
	POP3_VERB_USER,
	POP3_VERB_PASS,
	POP3_VERB_AUTH,
	POP3_VERB_STAT,
	POP3_VERB_LIST,
	POP3_VERB_RETR,
	POP3_VERB_DELE,
	POP3_VERB_NOOP,
	POP3_VERB_RSET,
	POP3_VERB_QUIT,
	POP3_VERB_TOP,
	POP3_VERB_UIDL,
	POP3_VERB_CAPA,
	POP3_VERB_STLS,
	POP3_VERB_COUNT
};

enum pop3_parse_result {
	POP3_PARSE_OK = 0,
	POP3_PARSE_EMPTY,        /* empty or blank line */
	POP3_PARSE_UNKNOWN,      /* not a command we know (APOP included) */
	POP3_PARSE_BAD_ARGS,     /* known verb, wrong number/shape of arguments */
	POP3_PARSE_TOO_LONG,     /* line over the limit for its verb */
	POP3_PARSE_NUL,          /* a NUL byte in the line */
};

struct pop3_cmd {
	enum pop3_verb verb;
	bool has_msg;            /* LIST/UIDL with an argument; always for RETR/DELE/TOP */
	uint32_t msg;            /* message number as given (0 is possible: "no such message") */
	uint32_t lines;          /* TOP: body lines */
	/* USER: the name; PASS: the rest of the line (spaces kept);
	 * AUTH: the mechanism (upper-cased). "" when absent. */
	char arg[POP3_SASL_LINE_MAX_BYTES + 1];
	size_t arglen;
	/* AUTH: the initial response ("=" kept as is), or "" when absent. */
	char arg2[POP3_SASL_LINE_MAX_BYTES + 1];
	size_t arg2len;
	bool has_arg2;
	/* On error: the text after "-ERR " to answer with. */
	const char *error;
};

/* Parses one command line (len bytes, no CRLF, need not be NUL-terminated). */
enum pop3_parse_result pop3_parse(const char *line, size_t len, struct pop3_cmd *cmd_r);

/* "USER", "RETR", ... for logs; "?" for POP3_VERB_NONE. */
const char *pop3_verb_name(enum pop3_verb verb);

#endif
