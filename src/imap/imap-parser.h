/* imap-parser.h: the incremental IMAP command parser (pure: no libevent,
 * OpenSSL or db.h), the sequence-set parser and the modified UTF-7 mailbox
 * name converter.
 *
 * The caller pushes whatever bytes it has; the parser consumes what it can
 * and says "a command is ready", "need more bytes", "a synchronizing
 * literal was announced: send a continuation and push more", or "error".
 * A command is `tag SP name [SP args] CRLF` where args are atoms, quoted
 * strings, literals ({n}, {n+}, ~{n}), NIL and parenthesised lists. After
 * an error the parser swallows the rest of the line (and the literals a
 * LITERAL+ client sends anyway) so the session can answer BAD and go on. */
#ifndef MM_IMAP_PARSER_H
#define MM_IMAP_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/util.h"

enum imap_arg_type {
	IMAP_ARG_ATOM = 0,     /* includes BODY[...]<..> and \Flag atoms */
	IMAP_ARG_STRING,       /* quoted string */
	IMAP_ARG_LITERAL,      /* {n} / {n+} / ~{n} */
	IMAP_ARG_NIL,
	IMAP_ARG_LIST,
};

struct imap_arg {
	enum imap_arg_type type;
	bool literal8;            /* ~{n} */
	char *str;                /* atoms and strings: NUL-terminated; NULL for lists */
	size_t len;               /* bytes in str (literals may hold NULs) */
	struct imap_arg *list;    /* IMAP_ARG_LIST: its members */
	size_t count;             /* IMAP_ARG_LIST: number of members */
	/* a literal handed to the literal sink (imap_parser_set_sink): str
	 * is empty, len 0; its bytes are the sink's */
	bool spooled;
	unsigned spool_idx;       /* its ordinal among the command's spooled literals */
	uint64_t spool_len;       /* its size */
};

enum imap_parse_result {
	IMAP_PARSE_DONE = 0,      /* a complete command: see imap_parser_tag/name/args */
	IMAP_PARSE_NEED_MORE,     /* every pushed byte was consumed; push more */
	IMAP_PARSE_CONTINUE,      /* a synchronizing literal of
	                             imap_parser_literal_size() bytes was accepted:
	                             send "+ ..." and push more */
	IMAP_PARSE_ERROR,         /* see imap_parser_error(); the offending line
	                             has been (or is being) swallowed */
};

enum imap_parse_error {
	IMAP_PERR_NONE = 0,
	IMAP_PERR_LINE_TOO_LONG,    /* line (without literals) over line_max */
	IMAP_PERR_LITERAL_TOO_BIG,  /* literal over literal_max */
	IMAP_PERR_NESTING,          /* lists nested deeper than nesting_max */
	IMAP_PERR_TOO_MANY_ARGS,    /* more than args_max arguments */
	IMAP_PERR_BAD_TAG,          /* missing or invalid tag */
	IMAP_PERR_NO_COMMAND,       /* tag without command name */
	IMAP_PERR_BAD_CHAR,         /* unexpected character */
	IMAP_PERR_BAD_QUOTED,       /* bad escape, CR/LF/NUL in a quoted string */
	IMAP_PERR_BAD_LITERAL,      /* malformed {n}, or {n} not at the end of the line */
	IMAP_PERR_UNCLOSED_LIST,    /* end of line inside ( ... */
	IMAP_PERR_UNEXPECTED_PAREN, /* ')' without '(' */
	IMAP_PERR_BAD_LINE_END,     /* CR not followed by LF */
};

struct imap_parser_limits {
	size_t line_max;          /* bytes per line, literals not counted */
	uint64_t literal_max;     /* bytes per literal */
	unsigned args_max;        /* arguments in all lists together */
	unsigned nesting_max;     /* list depth */
};

struct imap_parser;

struct imap_parser *imap_parser_new(const struct imap_parser_limits *lim);
void imap_parser_free(struct imap_parser **p);
/* Limits may change between commands (APPENDLIMIT after login). */
void imap_parser_set_limits(struct imap_parser *p, const struct imap_parser_limits *lim);
/* UTF8=ACCEPT (RFC 6855 3) enabled: a quoted string must be valid UTF-8
 * (else "Invalid quoted string"). Off (the default), its 8-bit bytes are
 * taken as they are, for lenient clients. */
void imap_parser_set_utf8(struct imap_parser *p, bool on);
/* Chunked literal mode (issue 18): an APPEND literal outside any list
 * announced with at least min bytes is not buffered; its bytes go to
 * sink as they arrive (last: they end it), and the argument is marked
 * spooled. sink returns how many of the n bytes it took; after each call
 * push returns NEED_MORE with the bytes up to those consumed, so the
 * caller may pause (a write in flight) before pushing the rest. */
typedef size_t imap_literal_sink_fn(void *ctx, const char *data, size_t n, bool last);
void imap_parser_set_sink(struct imap_parser *p, uint64_t min,
    imap_literal_sink_fn *sink, void *ctx);
/* After CONTINUE: the announced literal goes to the sink. */
bool imap_parser_literal_spooled(const struct imap_parser *p);
/* Drops the current command (after DONE, to start the next one). */
void imap_parser_reset(struct imap_parser *p);

/* Pushes len bytes; *consumed_r is how many were used. After DONE the
 * bytes past the command are not consumed: push them again after handling
 * the command (and imap_parser_reset). After ERROR the session answers
 * BAD (with imap_parser_tag() when it is known), calls
 * imap_parser_reset(), and keeps pushing: the parser swallows the rest of
 * the bad line on its own. */
enum imap_parse_result imap_parser_push(struct imap_parser *p, const char *data,
    size_t len, size_t *consumed_r);

/* True between commands: no partial command buffered. */
bool imap_parser_idle(const struct imap_parser *p);
/* While swallowing the tail of a bad line. */
bool imap_parser_skipping(const struct imap_parser *p);

/* After DONE: the tag, the command name (as sent) and the arguments, valid
 * until the next reset/push. After ERROR the tag may be NULL. */
const char *imap_parser_tag(const struct imap_parser *p);
const char *imap_parser_name(const struct imap_parser *p);
const struct imap_arg *imap_parser_args(const struct imap_parser *p, size_t *count_r);

/* After CONTINUE (or an error about a literal): the literal's size. */
uint64_t imap_parser_literal_size(const struct imap_parser *p);
enum imap_parse_error imap_parser_error(const struct imap_parser *p);
/* After ERROR: the parser cannot find the next command (a LITERAL+
 * literal over the limit): say BYE and close. */
bool imap_parser_fatal(const struct imap_parser *p);
const char *imap_parser_strerror(enum imap_parse_error e);

/* ---- argument helpers ---- */

/* Takes a's bytes (NUL-terminated, *len_r of them) from the parser: the
 * caller frees them; a is left an empty string. For APPEND's literals,
 * so that a message is held once (issue 18). */
char *imap_arg_take(struct imap_arg *a, size_t *len_r);

/* astring: atom, quoted string, literal (NIL counts as the atom "NIL"). */
bool imap_arg_astring(const struct imap_arg *a, const char **s_r, size_t *len_r);
/* string: quoted or literal only. */
bool imap_arg_string(const struct imap_arg *a, const char **s_r, size_t *len_r);
bool imap_arg_atom(const struct imap_arg *a, const char **s_r);
bool imap_arg_atom_eq(const struct imap_arg *a, const char *word);  /* case-insensitive */
/* nstring: NIL -> *s_r NULL. */
bool imap_arg_nstring(const struct imap_arg *a, const char **s_r, size_t *len_r);
bool imap_arg_number(const struct imap_arg *a, uint32_t *n_r);
bool imap_arg_number64(const struct imap_arg *a, uint64_t *n_r);
/* Renders args back into IMAP syntax (for tests and debug logs). */
void imap_args_write(struct mm_buf *b, const struct imap_arg *args, size_t count);

/* ---- sequence sets (RFC 3501 9: sequence-set) ---- */

/* "*" before it is resolved: 0, which no client can send (seq-number is
 * nz-number / "*", RFC 3501 9), so every number up to 4294967295 stays
 * representable. */
#define IMAP_SEQ_STAR 0

struct imap_seq_range {
	uint32_t lo, hi;          /* as written; either may be IMAP_SEQ_STAR */
};

struct imap_seqset {
	struct imap_seq_range *r;
	size_t n, cap;
};

/* Parses "1,3:5,7:*". Returns false on syntax errors (zero, numbers
 * above 4294967295, empty items). The set is emptied first. */
bool imap_seqset_parse(struct imap_seqset *set, const char *s);
void imap_seqset_free(struct imap_seqset *set);
/* Is n in the set when "*" means star (the last sequence number, or the
 * highest UID; 0 for an empty mailbox)? Ranges are unordered: 5:2 = 2:5. */
bool imap_seqset_contains(const struct imap_seqset *set, uint32_t n, uint32_t star);
/* Highest number mentioned, "*" resolved to star (to check sequence
 * numbers against EXISTS). */
uint32_t imap_seqset_max(const struct imap_seqset *set, uint32_t star);
/* Appends a compact rendering of sorted unique numbers ("1:3,7") to b. */
void imap_seqset_write_numbers(struct mm_buf *b, const uint32_t *nums, size_t n);

/* ---- IMAP URLs (RFC 5092) ---- */

#define IMAP_URL_MBOX_MAX 512

struct imap_url {
	char mbox[IMAP_URL_MBOX_MAX];     /* percent-decoded: the wire name
	                                     (modified UTF-7), NUL-free */
	uint32_t uidvalidity;             /* 0: not given */
	uint32_t uid;
	char section[256];                /* percent-decoded; "" for the whole message */
	bool partial;
	uint32_t poff, plen;              /* plen 0: to the end */
};
/* A relative URL "/mailbox[;UIDVALIDITY=n]/;UID=n[/;SECTION=s]
 * [/;PARTIAL=o[.l]]" (what CATENATE takes, RFC 4469 5), at most
 * IMAP_URL_MAX_BYTES; the section must be one BODY[] takes. False when it
 * is not one. */
bool imap_url_parse(const char *s, size_t len, struct imap_url *u);

/* ---- URLAUTH URLs (RFC 4467) ---- */

#define IMAP_URLAUTH_USER_MAX 321         /* ADDRESS_MAX_BYTES + 1 */
enum imap_urlauth_access {
	IMAP_URLAUTH_ANONYMOUS = 0,
	IMAP_URLAUTH_AUTHUSER,
	IMAP_URLAUTH_USER,                /* "user+" access_user */
	IMAP_URLAUTH_SUBMIT,              /* "submit+" access_user */
};
struct imap_urlauth {
	char owner[IMAP_URLAUTH_USER_MAX];   /* "user@host", or the decoded
	                                        user when it has an '@'; lower case */
	struct imap_url url;
	bool expire;                      /* ";EXPIRE=" given */
	enum imap_urlauth_access access;
	char access_user[IMAP_URLAUTH_USER_MAX];  /* lower case */
	size_t rump_len;                  /* bytes up to and including the access */
	bool has_token;                   /* ":mechanism:token" follows */
	char mech[32];
	char token[257];                  /* 32..256 hex digits */
};
/* An absolute URL "imap://user@host/mailbox/;UID=n...[;EXPIRE=..]
 * ;URLAUTH=access[:mech:token]" (RFC 4467 2), at most IMAP_URL_MAX_BYTES.
 * The path part is what imap_url_parse takes. False when it is not one. */
bool imap_urlauth_parse(const char *s, size_t len, struct imap_urlauth *ua);

/* ---- modified UTF-7 (RFC 3501 5.1.3) ---- */

/* Mailbox name from the wire to UTF-8. False on invalid modified UTF-7
 * (bad base64, unterminated shift, directly encodable ASCII encoded, bad
 * UTF-16). Appends to out. */
bool imap_mutf7_to_utf8(const char *in, size_t len, struct mm_buf *out);
/* UTF-8 to the wire. False on invalid UTF-8. Appends to out. */
bool imap_utf8_to_mutf7(const char *in, size_t len, struct mm_buf *out);

#endif
