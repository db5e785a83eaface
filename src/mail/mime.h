/* mime.h: the MIME structure of a message (RFC 2045-2049) as a tree of
 * parts with byte offsets into the original message, and what IMAP makes
 * of it: BODYSTRUCTURE, BODY, ENVELOPE (RFC 3501 7.4.2) and BODY[section]
 * ranges. Parsing never fails: broken mail gets the best tree it allows.
 * The tree holds copies of the strings it needs, not pointers into the
 * message, but offsets are only meaningful with the same message bytes.
 *
 * Part tree: the root is the whole message (its header is the message
 * header). A multipart part has its body parts as children; a parsed
 * message/rfc822 part (and, with MAIL_PARSE_GLOBAL, message/global) has
 * exactly one child, the encapsulated message (a root-like part with its
 * own header and envelope). */
#ifndef MM_MAIL_MIME_H
#define MM_MAIL_MIME_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "lib/limits.h"
#include "lib/util.h"

struct mail_param {
	char *name;		/* as written, continuations joined; ends in
				 * '*' when the value is RFC 2231 encoded */
	char *value;		/* unquoted; "charset'lang'%XX.." if encoded */
};

/* The ten ENVELOPE header values, unfolded but otherwise raw, or NULL. */
enum mail_env_field {
	MAIL_ENV_DATE = 0, MAIL_ENV_SUBJECT, MAIL_ENV_FROM, MAIL_ENV_SENDER,
	MAIL_ENV_REPLY_TO, MAIL_ENV_TO, MAIL_ENV_CC, MAIL_ENV_BCC,
	MAIL_ENV_IN_REPLY_TO, MAIL_ENV_MESSAGE_ID, MAIL_ENV_COUNT
};
struct mail_envelope {
	char *v[MAIL_ENV_COUNT];
};

#define MAIL_PART_MULTIPART	0x01	/* children are body parts */
#define MAIL_PART_MESSAGE	0x02	/* message/rfc822 (or global) with a parsed child */
#define MAIL_PART_TEXT		0x04	/* type text: BODYSTRUCTURE has lines */
#define MAIL_PART_CT_DEFAULT	0x08	/* no usable Content-Type header */
#define MAIL_PART_BROKEN	0x10	/* missing boundary, truncated header... */
#define MAIL_PART_CLOSED	0x20	/* body ends with a close delimiter line */
#define MAIL_PART_GLOBAL	0x40	/* message/global described as a message
					 * (only with MAIL_PARSE_GLOBAL) */

struct mail_part {
	struct mail_part *parent, *child, *next;
	unsigned nchildren;
	unsigned flags;
	size_t hdr_off;		/* start of this part's header */
	size_t body_off;	/* start of the body (after the empty line) */
	size_t body_end;	/* end of the body (before CRLF--boundary) */
	size_t body_lines;	/* LF count of the body (RFC 3501
				 * body-fld-lines, counted as Dovecot does) */
	char *type, *subtype;	/* lower case, never NULL */
	struct mail_param *params;
	size_t nparams;
	char *id, *description, *encoding, *md5, *location; /* raw or NULL */
	char *disposition;	/* disposition type, or NULL */
	struct mail_param *disp_params;
	size_t ndisp_params;
	struct mm_strlist languages;
	struct mail_envelope *env; /* for the root and encapsulated messages */
};

struct mail_msg {
	struct mail_part *root;
	size_t size;		/* message size in bytes */
	unsigned nparts;
	bool parts_truncated;	/* MIME_PARTS_MAX reached */
};

/* Parse msg (len bytes) into a tree. Never fails. */
struct mail_msg *mail_mime_parse(const char *msg, size_t len);
/* MAIL_PARSE_GLOBAL: a message/global part (RFC 6532 3.5) is an
 * encapsulated message like message/rfc822 (flagged MAIL_PART_GLOBAL;
 * parsed when its encoding is an identity one), as IMAP4rev2 describes it
 * (RFC 9051 7.5.2). Without it, message/global is a leaf part, as
 * IMAP4rev1 clients and Dovecot 2.3 see it; the cache blob and SEARCH use
 * that tree, only FETCH in an IMAP4rev2 session parses with this. */
#define MAIL_PARSE_GLOBAL	0x01
struct mail_msg *mail_mime_parse_opts(const char *msg, size_t len, unsigned opts);
void mail_msg_free(struct mail_msg **m);
/* A parameter's raw value (NULL if absent); names compare case-insensitively
 * and match "name" or "name*". */
const char *mail_part_param(const struct mail_part *p, const char *name);
/* A parameter's value decoded to UTF-8 (RFC 2231 and RFC 2047), malloc'd,
 * or NULL. Looks in Content-Type, then Content-Disposition parameters. */
char *mail_part_param_utf8(const struct mail_part *p, const char *name);
/* The part's charset, malloc'd, or NULL: the charset parameter, else an
 * RFC 2231 charset*= decoded (charset*=utf-8''utf-8 is "utf-8"), if that
 * is a token. */
char *mail_part_charset(const struct mail_part *p);
/* Is p of a type IMAP describes as an encapsulated message (envelope,
 * body, lines): message/rfc822, or message/global in a tree parsed with
 * MAIL_PARSE_GLOBAL? Parsed or not (MAIL_PART_MESSAGE says that). */
bool mail_part_is_message(const struct mail_part *p);
/* The preorder next part (for walking the whole tree), or NULL. */
struct mail_part *mail_part_next(const struct mail_part *p);

/* IMAP strings (RFC 3501 4.3, 4.5): NIL for NULL, a quoted string when it
 * can hold the value (at most 1024 bytes, no CR, LF, NUL or 8-bit), else
 * a literal {n}\r\n... . These are the only writers of IMAP strings:
 * src/imap uses them too. */
void mail_imap_append_nstring(struct mm_buf *b, const char *s);
void mail_imap_append_string(struct mm_buf *b, const char *s);
/* The same for len bytes at s. */
void mail_imap_append_stringn(struct mm_buf *b, const char *s, size_t len);
/* Always a quoted string, '"' and '\\' escaped: for a caller that knows
 * the value can be quoted (one the parser read as a quoted string). */
void mail_imap_append_quoted(struct mm_buf *b, const char *s, size_t len);
/* FETCH ENVELOPE / BODYSTRUCTURE (extended) / BODY (not extended) of a
 * message tree, the parenthesised value only ("(...)"). */
void mail_imap_envelope(struct mm_buf *b, const struct mail_envelope *env);
void mail_imap_bodystructure(struct mm_buf *b, const struct mail_part *root, bool extended);

/* Bring line ends to CRLF (bare LF and bare CR become CRLF). Returns a
 * malloc'd copy and its length; IMAP sizes are only right on CRLF text, so
 * call this at delivery before storing and parsing. */
char *mail_crlf_normalize(const char *msg, size_t len, size_t *len_r);

/*
 * BODY[section] addressing (RFC 3501 6.4.5).
 *
 * mail_section_parse() reads a section spec (the text between '[' and ']',
 * e.g. "", "1.2", "1.2.MIME", "TEXT", "3.HEADER", "HEADER.FIELDS (From To)",
 * "2.HEADER.FIELDS.NOT (Received)") into a struct mail_section.
 * mail_section_fetch() resolves it against a parsed tree and the message
 * bytes: the answer is either a byte range of the message (off, len) or,
 * for HEADER.FIELDS[.NOT], produced bytes (the matching fields followed by
 * an empty line). The IMAP layer then applies <partial> to that.
 */
enum mail_section_kind {
	MAIL_SECTION_ALL = 0,	/* "" or "n.m": the whole message / part body */
	MAIL_SECTION_HEADER,
	MAIL_SECTION_HEADER_FIELDS,
	MAIL_SECTION_HEADER_FIELDS_NOT,
	MAIL_SECTION_TEXT,
	MAIL_SECTION_MIME,
};

struct mail_section {
	unsigned part[MIME_NESTING_MAX + 2]; /* part numbers, each >= 1 */
	unsigned nparts;
	enum mail_section_kind kind;
	struct mm_strlist fields; /* for HEADER.FIELDS[.NOT], as given */
};

enum mail_section_err {
	MAIL_SECTION_OK = 0,
	MAIL_SECTION_ESYNTAX = -1,	/* bad spec: IMAP BAD */
	MAIL_SECTION_ENOENT = -2,	/* no such part: IMAP answers "" */
	MAIL_SECTION_ENOTMSG = -3,	/* HEADER/TEXT on a part that is not
					 * message/rfc822: IMAP answers "" */
};

struct mail_section_result {
	bool produced;		/* true: data/len hold produced bytes */
	size_t off, len;	/* the range in the message (produced: len) */
	struct mm_buf data;	/* produced bytes, freed with _result_free */
};

/* s/len is the spec text; returns MAIL_SECTION_OK or _ESYNTAX.
 * Field names are kept as given (atoms or strings already unquoted by the
 * caller are also accepted here: "HEADER.FIELDS (From \"To\")"). */
int mail_section_parse(const char *s, size_t len, struct mail_section *sec);
void mail_section_free(struct mail_section *sec);
/* Canonical upper-case spec for the FETCH response ("1.HEADER.FIELDS (FROM TO)"),
 * malloc'd. */
char *mail_section_format(const struct mail_section *sec);
int mail_section_fetch(const struct mail_msg *m, const char *msg, size_t len,
    const struct mail_section *sec, struct mail_section_result *r);
void mail_section_result_free(struct mail_section_result *r);
/* HEADER.FIELDS[.NOT] of sec cut from its header block alone (hdr, len:
 * the range mail_section_fetch gives for the same part's HEADER), for a
 * message too big to read whole (FETCH streaming). */
int mail_section_header_fields(const char *hdr, size_t len, const struct mail_section *sec,
    struct mail_section_result *r);
/*
 * BINARY (RFC 3516, src/mail/binary.c).
 */
#define MAIL_BINARY_EUNKNOWN_CTE (-4)	/* IMAP: NO [UNKNOWN-CTE] */
/* BINARY[section]: the part's content with its transfer encoding undone
 * (base64, quoted-printable; identity encodings, multiparts, messages and
 * "" as they are), appended to out. MAIL_SECTION_OK, _ENOENT, _ESYNTAX
 * (not a plain part number), or MAIL_BINARY_EUNKNOWN_CTE. */
int mail_binary_fetch(const struct mail_msg *m, const char *msg, size_t len,
    const struct mail_section *sec, struct mm_buf *out);
/* APPEND of a literal8: rewrites every leaf part with
 * Content-Transfer-Encoding: binary as base64 into out. False (out
 * untouched) when there was none. */
bool mail_binary_encode_parts(const char *msg, size_t len, struct mm_buf *out);
/* URLFETCH BINARY (RFC 5524): the body of part p (of the tree of msg)
 * with the transfer encoding of it, or of every leaf below it, undone;
 * with mark, each decoded leaf's Content-Transfer-Encoding field says
 * "binary" (the converted entity stays valid MIME). MAIL_SECTION_OK,
 * _ENOENT or MAIL_BINARY_EUNKNOWN_CTE (out then holds a partial result). */
int mail_binary_convert(const char *msg, size_t len, const struct mail_part *p, bool mark,
    struct mm_buf *out);

/* The part a list of numbers points to, or NULL. */
const struct mail_part *mail_section_part(const struct mail_msg *m,
    const unsigned *nums, unsigned n);

/*
 * Text for SEARCH BODY / TEXT: the decoded (transfer encoding and charset)
 * UTF-8 text of every leaf part of type text or message (not attachments),
 * and of the headers of encapsulated messages, separated by "\n", at most
 * max_bytes appended to out.
 */
void mail_text_body(const struct mail_msg *m, const char *msg, size_t len,
    size_t max_bytes, struct mm_buf *out);
/* Decoded headers (RFC 2047, unfolded) of the top-level message as
 * "Name: value\n" lines, at most max_bytes, for SEARCH TEXT / HEADER. */
void mail_text_headers(const char *msg, size_t len, size_t max_bytes, struct mm_buf *out);
/* For SEARCH TEXT: the same lines for the top-level header and for the
 * MIME header of every body part (RFC 3501 6.4.4 "header or body": the
 * body holds them), in part order. The headers of encapsulated messages
 * are left out: mail_text_body() has them. */
void mail_text_all_headers(const struct mail_msg *m, const char *msg, size_t len,
    size_t max_bytes, struct mm_buf *out);

#endif
