/* imap-parser.c: the incremental IMAP command parser.
 *
 * One byte-driven state machine reads `tag SP name [SP args] CRLF` with
 * literals in between; the caller pushes whatever bytes arrived and the
 * machine stops at the three points where the caller must act (command
 * ready, synchronizing literal announced, error). Because every state
 * transition looks at one byte only, pushing a command one byte at a time
 * and pushing it whole give the same result; the unit tests check that at
 * every split point. To add a syntax, add a state and make sure it counts
 * its bytes against line_max.
 *
 * Limits: line_max bounds each physical line (literal data excluded),
 * literal_max bounds the literal bytes of one command together, args_max
 * the arguments (list members included) and nesting_max the list depth.
 * Errors put the machine into "skip" mode, which swallows the rest of the
 * line; a LITERAL+ literal announced at the end of a skipped line is
 * swallowed too (the client sends it without waiting), so that its bytes
 * are never taken for commands. */
#include "imap/imap-parser.h"
#include "lib/base64.h"
#include "lib/limits.h"
#include "mail/mime.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

enum pstate {
	ST_START = 0,       /* before the tag */
	ST_TAG,
	ST_NAME_START,      /* after "tag SP" */
	ST_NAME,
	ST_ARG_START,       /* an argument, ')' or end of line may follow */
	ST_AFTER_ARG,       /* SP, ')' or end of line must follow */
	ST_ATOM,
	ST_ATOM_BRACKET,    /* inside [...] of an atom: spaces and parens allowed */
	ST_QUOTED,
	ST_QUOTED_ESC,
	ST_LIT8_TILDE,      /* saw '~', expect '{' */
	ST_LIT_SIZE,        /* in {digits */
	ST_LIT_PLUS,        /* saw '+' in {n+ */
	ST_LIT_CLOSE,       /* saw '}', expect CR or LF */
	ST_LIT_DATA,        /* reading literal bytes */
	ST_LIT_SINK,        /* handing literal bytes to the sink */
	ST_CR,              /* saw CR at an end of line, expect LF */
	ST_DONE,            /* command complete */
	ST_SKIP,            /* swallowing the rest of a bad line */
	ST_SKIP_LITERAL,    /* swallowing a LITERAL+ literal of a bad command */
	ST_FATAL,           /* cannot resynchronise: the session must close */
};

struct frame {
	struct imap_arg *v;
	size_t n, cap;
};

struct imap_parser {
	struct imap_parser_limits lim;
	enum pstate st;
	enum pstate cr_from;        /* state that saw the CR (ST_CR) */
	enum imap_parse_error err;

	size_t line_len;            /* bytes of the current physical line */
	struct mm_buf tok;          /* the token being read */
	char *tag;
	char *name;

	struct frame *frames;       /* frames[0] is the command's arguments */
	unsigned nframes;           /* made so far: grown as lists nest */
	unsigned depth;
	unsigned nargs;

	uint64_t lit_size;          /* the announced literal */
	uint64_t lit_left;
	uint64_t lit_total;         /* literal bytes in this command */
	bool lit_nonsync;
	bool lit8;
	bool utf8;                  /* UTF8=ACCEPT: quoted strings must be UTF-8 */

	/* chunked literal mode (imap_parser_set_sink) */
	imap_literal_sink_fn *sink;
	void *sink_ctx;
	uint64_t sink_min;
	unsigned nspooled;          /* spooled literals in this command */

	/* skip mode: recognises "{n+}" at the end of the swallowed line */
	int sk;                     /* 0 none, 1 in digits, 2 '+', 3 "{n}", 4 "{n+}" */
	uint64_t sk_n;
};

#define DIGIT(c) ((c) >= '0' && (c) <= '9')

/* ATOM-CHAR of RFC 3501 9 (we also allow 8-bit bytes, for lenient
 * clients sending UTF-8 mailbox names, and '%' '*' which list-mailbox and
 * sequence-set need, and '\\' which flags need). ']' is ASTRING-CHAR;
 * '[' is an ATOM-CHAR (only ']' is resp-special). */
static bool
is_atom_char(unsigned char c)
{
	if (c <= 0x20 || c == 0x7f)
		return false;
	switch (c) {
	case '(': case ')': case '{': case '"':
		return false;
	default:
		return true;
	}
}

/* Does the atom so far name a FETCH item with a section (RFC 3501 6.4.5,
 * RFC 3516 4.2)? Only there does '[' open a bracket that may hold spaces
 * and parentheses (BODY[HEADER.FIELDS (From To)]); anywhere else '[' is
 * an ATOM-CHAR like any other (a mailbox "a[b" is one atom). */
static bool
section_prefix(const struct mm_buf *tok)
{
	static const char *const items[] = {
		"BODY", "BODY.PEEK", "BINARY", "BINARY.PEEK", "BINARY.SIZE",
	};
	for (size_t i = 0; i < sizeof(items) / sizeof(items[0]); i++)
		if (tok->len == strlen(items[i]) &&
		    mm_strncaseeq(tok->data, items[i], tok->len))
			return true;
	return false;
}

static bool
is_tag_char(unsigned char c)
{
	if (c <= 0x20 || c >= 0x7f)
		return false;
	switch (c) {
	case '(': case ')': case '{': case '"': case '%': case '*': case '\\':
	case '+':
		return false;
	default:
		return true;
	}
}

static void
args_free(struct imap_arg *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].str);
		if (v[i].type == IMAP_ARG_LIST)
			args_free(v[i].list, v[i].count);
	}
	free(v);
}

struct imap_parser *
imap_parser_new(const struct imap_parser_limits *lim)
{
	struct imap_parser *p = xcalloc(1, sizeof(*p));
	mm_buf_init(&p->tok);
	imap_parser_set_limits(p, lim);
	return p;
}

void
imap_parser_set_limits(struct imap_parser *p, const struct imap_parser_limits *lim)
{
	assert(p->depth == 0);
	if (p->frames != NULL && lim->nesting_max != p->lim.nesting_max) {
		args_free(p->frames[0].v, p->frames[0].n);
		free(p->frames);
		p->frames = NULL;
	}
	p->lim = *lim;
	/* one frame until a list opens: most commands (and every session
	 * waiting in IDLE) need no more, nesting_max + 1 would be ~400 bytes */
	if (p->frames == NULL) {
		p->frames = xcalloc(1, sizeof(*p->frames));
		p->nframes = 1;
	}
}

static void
command_clear(struct imap_parser *p)
{
	for (unsigned d = 0; d <= p->depth; d++) {
		args_free(p->frames[d].v, p->frames[d].n);
		p->frames[d].v = NULL;
		p->frames[d].n = p->frames[d].cap = 0;
	}
	p->depth = 0;
	p->nargs = 0;
	free(p->tag);
	free(p->name);
	p->tag = p->name = NULL;
	p->tok.len = 0;
	p->lit_total = 0;
	p->line_len = 0;
	p->nspooled = 0;
}

void
imap_parser_reset(struct imap_parser *p)
{
	command_clear(p);
	p->err = IMAP_PERR_NONE;
	if (p->st != ST_SKIP && p->st != ST_SKIP_LITERAL && p->st != ST_FATAL)
		p->st = ST_START;
	/* between commands the token buffer holds nothing: an IDLE session
	 * does not keep it (nor a buffer a big command left behind) */
	if (p->tok.cap > 4096 || (p->tok.cap > 0 && p->tok.len == 0)) {
		mm_buf_free(&p->tok);
		mm_buf_init(&p->tok);
	}
}

void
imap_parser_free(struct imap_parser **pp)
{
	struct imap_parser *p = *pp;
	if (p == NULL)
		return;
	command_clear(p);
	free(p->frames);
	mm_buf_free(&p->tok);
	free(p);
	*pp = NULL;
}

bool
imap_parser_idle(const struct imap_parser *p)
{
	return p->st == ST_START && p->line_len == 0;
}

bool
imap_parser_skipping(const struct imap_parser *p)
{
	return p->st == ST_SKIP || p->st == ST_SKIP_LITERAL;
}

const char *
imap_parser_tag(const struct imap_parser *p)
{
	return p->tag;
}

const char *
imap_parser_name(const struct imap_parser *p)
{
	return p->name;
}

const struct imap_arg *
imap_parser_args(const struct imap_parser *p, size_t *count_r)
{
	*count_r = p->frames[0].n;
	return p->frames[0].v;
}

uint64_t
imap_parser_literal_size(const struct imap_parser *p)
{
	return p->lit_size;
}

enum imap_parse_error
imap_parser_error(const struct imap_parser *p)
{
	return p->err;
}

bool
imap_parser_fatal(const struct imap_parser *p)
{
	return p->st == ST_FATAL;
}

const char *
imap_parser_strerror(enum imap_parse_error e)
{
	switch (e) {
	case IMAP_PERR_NONE:             return "No error";
	case IMAP_PERR_LINE_TOO_LONG:    return "Line too long";
	case IMAP_PERR_LITERAL_TOO_BIG:  return "Literal too big";
	case IMAP_PERR_NESTING:          return "Lists nested too deeply";
	case IMAP_PERR_TOO_MANY_ARGS:    return "Too many arguments";
	case IMAP_PERR_BAD_TAG:          return "Missing or invalid tag";
	case IMAP_PERR_NO_COMMAND:       return "Missing command";
	case IMAP_PERR_BAD_CHAR:         return "Unexpected character";
	case IMAP_PERR_BAD_QUOTED:       return "Invalid quoted string";
	case IMAP_PERR_BAD_LITERAL:      return "Invalid literal";
	case IMAP_PERR_UNCLOSED_LIST:    return "Missing ')'";
	case IMAP_PERR_UNEXPECTED_PAREN: return "Unexpected ')'";
	case IMAP_PERR_BAD_LINE_END:     return "CR without LF";
	}
	return "Unknown error";
}

/* ---- building arguments ---- */

static struct imap_arg *
arg_new(struct imap_parser *p, enum imap_arg_type type)
{
	struct frame *f = &p->frames[p->depth];
	if (p->nargs >= p->lim.args_max) {
		p->err = IMAP_PERR_TOO_MANY_ARGS;
		return NULL;
	}
	p->nargs++;
	if (f->n == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 8;
		f->v = xrealloc(f->v, f->cap * sizeof(*f->v));
	}
	struct imap_arg *a = &f->v[f->n++];
	memset(a, 0, sizeof(*a));
	a->type = type;
	return a;
}

/* Is the token valid UTF-8 (RFC 6855 3: uQUOTED-CHAR is a QUOTED-CHAR
 * or a UTF8-2/3/4 sequence; mm_utf8_decode refuses overlong forms and
 * surrogates)? */
static bool
tok_utf8_ok(const struct mm_buf *tok)
{
	const unsigned char *s = (const unsigned char *)tok->data;
	for (size_t i = 0; i < tok->len;) {
		uint32_t cp;
		size_t k = s[i] < 0x80 ? 1 : mm_utf8_decode(s + i, tok->len - i, &cp);
		if (k == 0)
			return false;
		i += k;
	}
	return true;
}

void
imap_parser_set_utf8(struct imap_parser *p, bool on)
{
	p->utf8 = on;
}

/* Ends the token in p->tok as an argument of type type. */
static bool
arg_from_tok(struct imap_parser *p, enum imap_arg_type type)
{
	if (type == IMAP_ARG_ATOM && p->tok.len == 3 &&
	    mm_strncaseeq(p->tok.data, "NIL", 3))
		type = IMAP_ARG_NIL;
	struct imap_arg *a = arg_new(p, type);
	if (a == NULL)
		return false;
	if (type == IMAP_ARG_LITERAL) {
		/* moved, not copied: a literal may be a whole message */
		a->str = mm_buf_cstr(&p->tok);
		a->len = p->tok.len;
		a->literal8 = p->lit8;
		mm_buf_init(&p->tok);
		return true;
	}
	a->str = xmalloc(p->tok.len + 1);
	if (p->tok.len > 0)
		memcpy(a->str, p->tok.data, p->tok.len);
	a->str[p->tok.len] = '\0';
	a->len = p->tok.len;
	a->literal8 = type == IMAP_ARG_LITERAL && p->lit8;
	p->tok.len = 0;
	return true;
}

static bool
list_open(struct imap_parser *p)
{
	if (p->depth >= p->lim.nesting_max) {
		p->err = IMAP_PERR_NESTING;
		return false;
	}
	if (p->depth + 1 >= p->nframes) {
		p->frames = xrealloc(p->frames, (p->depth + 2) * sizeof(*p->frames));
		memset(&p->frames[p->nframes], 0, (p->depth + 2 - p->nframes) * sizeof(*p->frames));
		p->nframes = p->depth + 2;
	}
	p->depth++;
	return true;
}

static bool
list_close(struct imap_parser *p)
{
	if (p->depth == 0) {
		p->err = IMAP_PERR_UNEXPECTED_PAREN;
		return false;
	}
	struct frame child = p->frames[p->depth];
	memset(&p->frames[p->depth], 0, sizeof(child));
	p->depth--;
	/* the list itself does not count again: its '(' was counted */
	p->nargs--;
	struct imap_arg *a = arg_new(p, IMAP_ARG_LIST);
	assert(a != NULL);
	a->list = child.v;
	a->count = child.n;
	return true;
}

/* ---- the state machine ---- */

void
imap_parser_set_sink(struct imap_parser *p, uint64_t min, imap_literal_sink_fn *sink,
    void *ctx)
{
	p->sink = sink;
	p->sink_min = min > 0 ? min : 1;
	p->sink_ctx = ctx;
}

/* Does the literal just announced go to the sink? An APPEND message:
 * outside any list (CATENATE's TEXT and UTF8's literal stay buffered). */
static bool
literal_to_sink(const struct imap_parser *p)
{
	return p->sink != NULL && p->lit_size >= p->sink_min && p->depth == 0 &&
	    p->name != NULL && strlen(p->name) == 6 && mm_strncaseeq(p->name, "APPEND", 6);
}

bool
imap_parser_literal_spooled(const struct imap_parser *p)
{
	return p->st == ST_LIT_SINK;
}

/* The sink's literal is complete: its argument. */
static bool
arg_spooled(struct imap_parser *p)
{
	struct imap_arg *a = arg_new(p, IMAP_ARG_LITERAL);

	if (a == NULL)
		return false;
	a->str = xcalloc(1, 1);
	a->len = 0;
	a->literal8 = p->lit8;
	a->spooled = true;
	a->spool_idx = p->nspooled++;
	a->spool_len = p->lit_size;
	return true;
}

/* An end of line in state st. Returns the next state. */
static enum pstate
on_eol(struct imap_parser *p, enum pstate st)
{
	switch (st) {
	case ST_START:
		p->line_len = 0;
		return ST_START;            /* empty lines are ignored */
	case ST_TAG:
		/* "tag CRLF": the tag is known, the command is missing */
		p->tag = xstrndup(p->tok.data, p->tok.len);
		p->tok.len = 0;
		p->err = IMAP_PERR_NO_COMMAND;
		return ST_START;
	case ST_NAME_START:
		p->err = IMAP_PERR_NO_COMMAND;
		return ST_START;
	case ST_NAME:
		p->name = xstrndup(p->tok.data, p->tok.len);
		p->tok.len = 0;
		return ST_DONE;
	case ST_ATOM:
		if (!arg_from_tok(p, IMAP_ARG_ATOM))
			return ST_START;
		/* FALLTHROUGH */
	case ST_ARG_START:
	case ST_AFTER_ARG:
		if (p->depth > 0) {
			p->err = IMAP_PERR_UNCLOSED_LIST;
			return ST_START;
		}
		return ST_DONE;
	case ST_LIT_CLOSE:
		p->line_len = 0;
		if (p->lit_size > p->lim.literal_max ||
		    p->lit_total + p->lit_size > p->lim.literal_max) {
			p->err = IMAP_PERR_LITERAL_TOO_BIG;
			if (p->lit_nonsync)
				return ST_FATAL;
			return ST_START;
		}
		if (p->nargs >= p->lim.args_max) {
			/* refuse before the client sends the data */
			p->err = IMAP_PERR_TOO_MANY_ARGS;
			if (p->lit_nonsync) {
				p->lit_left = p->lit_size;
				return ST_SKIP_LITERAL;
			}
			return ST_START;
		}
		p->lit_total += p->lit_size;
		p->lit_left = p->lit_size;
		p->tok.len = 0;
		if (literal_to_sink(p))
			return ST_LIT_SINK;
		/* its bytes go into one buffer of the announced size (within
		 * literal_max): never doubled and copied while they arrive */
		mm_buf_reserve(&p->tok, (size_t)p->lit_size + 1);
		return ST_LIT_DATA;
	default:
		assert(!"end of line in unexpected state");
		return ST_START;
	}
}

/* Error in the middle of a line: swallow the rest of it. */
static enum pstate
fail(struct imap_parser *p, enum imap_parse_error e)
{
	if (p->err == IMAP_PERR_NONE)
		p->err = e;
	p->sk = 0;
	p->sk_n = 0;
	return ST_SKIP;
}

/* Skip mode: one byte of a bad line. Returns true at its end. */
static bool
skip_byte(struct imap_parser *p, unsigned char c)
{
	if (c == '\n') {
		if (p->sk == 4) {
			p->lit_left = p->sk_n;
			p->st = p->sk_n > p->lim.literal_max ? ST_FATAL : ST_SKIP_LITERAL;
			if (p->st == ST_FATAL)
				p->err = IMAP_PERR_LITERAL_TOO_BIG;
			if (p->st == ST_SKIP_LITERAL && p->lit_left == 0)
				p->st = ST_SKIP;
			p->sk = 0;
			return p->st == ST_FATAL;
		}
		p->sk = 0;
		return true;
	}
	if (c == '\r')
		return false;
	if (c == '{') {
		p->sk = 1;
		p->sk_n = 0;
	} else if (p->sk == 1 && DIGIT(c)) {
		if (p->sk_n > (UINT64_MAX - (uint64_t)(c - '0')) / 10)
			p->sk = 0;
		else
			p->sk_n = p->sk_n * 10 + (uint64_t)(c - '0');
	} else if (p->sk == 1 && c == '+') {
		p->sk = 2;
	} else if ((p->sk == 1 || p->sk == 2) && c == '}') {
		p->sk = p->sk == 1 ? 3 : 4;
	} else {
		p->sk = 0;
	}
	return false;
}

enum imap_parse_result
imap_parser_push(struct imap_parser *p, const char *data, size_t len,
    size_t *consumed_r)
{
	size_t i = 0;

	if (p->st == ST_DONE)
		imap_parser_reset(p);
	if (p->st == ST_FATAL) {
		*consumed_r = 0;
		return IMAP_PARSE_ERROR;
	}

	while (i < len) {
		unsigned char c = (unsigned char)data[i];
		enum pstate st = p->st;

		/* bulk states first */
		if (st == ST_LIT_SINK) {
			size_t n = len - i;
			if (n > p->lit_left)
				n = (size_t)p->lit_left;
			n = p->sink(p->sink_ctx, data + i, n, n == p->lit_left);
			i += n;
			p->lit_left -= n;
			if (p->lit_left == 0) {
				if (!arg_spooled(p)) {
					p->st = fail(p, p->err);
					*consumed_r = i;
					return IMAP_PARSE_ERROR;
				}
				p->st = ST_AFTER_ARG;
			}
			/* the caller may pause here (a write in flight) */
			*consumed_r = i;
			return IMAP_PARSE_NEED_MORE;
		}
		if (st == ST_LIT_DATA || st == ST_SKIP_LITERAL) {
			size_t n = len - i;
			if (n > p->lit_left)
				n = (size_t)p->lit_left;
			if (st == ST_LIT_DATA)
				mm_buf_append(&p->tok, data + i, n);
			i += n;
			p->lit_left -= n;
			if (p->lit_left == 0) {
				if (st == ST_SKIP_LITERAL) {
					p->st = fail(p, p->err);
				} else if (!arg_from_tok(p, IMAP_ARG_LITERAL)) {
					p->st = fail(p, p->err);
					*consumed_r = i;
					return IMAP_PARSE_ERROR;
				} else {
					p->st = ST_AFTER_ARG;
				}
			}
			continue;
		}
		if (st == ST_SKIP) {
			i++;
			if (skip_byte(p, c)) {
				if (p->st == ST_FATAL) {
					*consumed_r = i;
					return IMAP_PARSE_ERROR;
				}
				p->st = ST_START;
				p->line_len = 0;
			}
			continue;
		}

		i++;
		if (st == ST_LIT8_TILDE && c != '{') {
			/* not ~{n}: an atom starting with '~' */
			mm_buf_appendc(&p->tok, '~');
			p->st = st = ST_ATOM;
		}
		/* end of line */
		if (c == '\n' || (c == '\r' && st != ST_QUOTED && st != ST_QUOTED_ESC &&
		    st != ST_CR && st != ST_ATOM_BRACKET && st != ST_LIT_SIZE &&
		    st != ST_LIT_PLUS)) {
			if (c == '\r') {
				p->cr_from = st;
				p->st = ST_CR;
				continue;
			}
			if (st == ST_QUOTED || st == ST_QUOTED_ESC) {
				p->st = ST_START;
				p->err = IMAP_PERR_BAD_QUOTED;
				*consumed_r = i;
				return IMAP_PARSE_ERROR;
			}
			if (st == ST_ATOM_BRACKET || st == ST_LIT_SIZE ||
			    st == ST_LIT_PLUS) {
				p->st = ST_START;
				p->err = st == ST_ATOM_BRACKET ? IMAP_PERR_BAD_CHAR :
				    IMAP_PERR_BAD_LITERAL;
				*consumed_r = i;
				return IMAP_PARSE_ERROR;
			}
			if (st == ST_CR)
				st = p->cr_from;
			p->st = on_eol(p, st);
			p->line_len = 0;
			if (p->st == ST_DONE) {
				*consumed_r = i;
				return IMAP_PARSE_DONE;
			}
			if (p->err != IMAP_PERR_NONE) {
				*consumed_r = i;
				return IMAP_PARSE_ERROR;
			}
			if ((p->st == ST_LIT_DATA || p->st == ST_LIT_SINK) && !p->lit_nonsync) {
				*consumed_r = i;
				return IMAP_PARSE_CONTINUE;
			}
			if (p->st == ST_LIT_DATA && p->lit_left == 0) {
				/* {0+} */
				if (!arg_from_tok(p, IMAP_ARG_LITERAL)) {
					p->st = fail(p, p->err);
					*consumed_r = i;
					return IMAP_PARSE_ERROR;
				}
				p->st = ST_AFTER_ARG;
			}
			continue;
		}
		if (st == ST_CR) {
			/* CR not followed by LF */
			p->st = fail(p, IMAP_PERR_BAD_LINE_END);
			skip_byte(p, c);
			*consumed_r = i;
			return IMAP_PARSE_ERROR;
		}

		if (++p->line_len > p->lim.line_max) {
			p->st = fail(p, IMAP_PERR_LINE_TOO_LONG);
			skip_byte(p, c);
			*consumed_r = i;
			return IMAP_PARSE_ERROR;
		}

		enum imap_parse_error e = IMAP_PERR_NONE;
		switch (st) {
		case ST_START:
			if (!is_tag_char(c)) {
				e = IMAP_PERR_BAD_TAG;
				break;
			}
			mm_buf_appendc(&p->tok, (char)c);
			p->st = ST_TAG;
			break;
		case ST_TAG:
			if (c == ' ') {
				p->tag = xstrndup(p->tok.data, p->tok.len);
				p->tok.len = 0;
				p->st = ST_NAME_START;
			} else if (is_tag_char(c)) {
				mm_buf_appendc(&p->tok, (char)c);
			} else {
				e = IMAP_PERR_BAD_TAG;
			}
			break;
		case ST_NAME_START:
		case ST_NAME:
			if (c == ' ' && st == ST_NAME) {
				p->name = xstrndup(p->tok.data, p->tok.len);
				p->tok.len = 0;
				p->st = ST_ARG_START;
			} else if (is_atom_char(c) && c != '[' && c != ']') {
				mm_buf_appendc(&p->tok, (char)c);
				p->st = ST_NAME;
			} else {
				e = st == ST_NAME_START ? IMAP_PERR_NO_COMMAND :
				    IMAP_PERR_BAD_CHAR;
			}
			break;
		case ST_ARG_START:
		case ST_AFTER_ARG:
			if (c == ' ') {
				p->st = ST_ARG_START;
			} else if (c == ')') {
				if (!list_close(p))
					e = p->err;
				else
					p->st = ST_AFTER_ARG;
			} else if (st == ST_AFTER_ARG) {
				e = IMAP_PERR_BAD_CHAR;
			} else if (c == '(') {
				if (!list_open(p))
					e = p->err;
				else if (p->nargs >= p->lim.args_max)
					e = p->err = IMAP_PERR_TOO_MANY_ARGS;
				else
					p->nargs++;   /* the list, counted at its '(' */
			} else if (c == '"') {
				p->tok.len = 0;
				p->st = ST_QUOTED;
			} else if (c == '{') {
				p->lit_size = 0;
				p->lit_nonsync = false;
				p->lit8 = false;
				p->tok.len = 0;
				p->st = ST_LIT_SIZE;
			} else if (c == '~') {
				p->tok.len = 0;
				p->st = ST_LIT8_TILDE;
			} else if (is_atom_char(c)) {
				p->tok.len = 0;
				mm_buf_appendc(&p->tok, (char)c);
				p->st = ST_ATOM;
			} else {
				e = IMAP_PERR_BAD_CHAR;
			}
			break;
		case ST_ATOM:
			if (c == ' ' || c == ')') {
				if (!arg_from_tok(p, IMAP_ARG_ATOM)) {
					e = p->err;
					break;
				}
				if (c == ')') {
					if (!list_close(p)) {
						e = p->err;
						break;
					}
				}
				p->st = c == ' ' ? ST_ARG_START : ST_AFTER_ARG;
			} else if (c == '[' && section_prefix(&p->tok)) {
				mm_buf_appendc(&p->tok, (char)c);
				p->st = ST_ATOM_BRACKET;
			} else if (is_atom_char(c)) {
				mm_buf_appendc(&p->tok, (char)c);
			} else {
				e = IMAP_PERR_BAD_CHAR;
			}
			break;
		case ST_ATOM_BRACKET:
			if (c < 0x20 || c == 0x7f) {
				e = IMAP_PERR_BAD_CHAR;
				break;
			}
			mm_buf_appendc(&p->tok, (char)c);
			if (c == ']')
				p->st = ST_ATOM;
			break;
		case ST_QUOTED:
			if (c == '\\') {
				p->st = ST_QUOTED_ESC;
			} else if (c == '"') {
				if (p->utf8 && !tok_utf8_ok(&p->tok))
					e = IMAP_PERR_BAD_QUOTED;
				else if (!arg_from_tok(p, IMAP_ARG_STRING))
					e = p->err;
				else
					p->st = ST_AFTER_ARG;
			} else if (c == '\0' || c == '\r') {
				e = IMAP_PERR_BAD_QUOTED;
			} else {
				mm_buf_appendc(&p->tok, (char)c);
			}
			break;
		case ST_QUOTED_ESC:
			if (c == '\\' || c == '"') {
				mm_buf_appendc(&p->tok, (char)c);
				p->st = ST_QUOTED;
			} else {
				e = IMAP_PERR_BAD_QUOTED;
			}
			break;
		case ST_LIT8_TILDE:
			/* c is '{' (anything else became an atom above) */
			p->lit_size = 0;
			p->lit_nonsync = false;
			p->lit8 = true;
			p->tok.len = 0;     /* a digit must follow */
			p->st = ST_LIT_SIZE;
			break;
		case ST_LIT_SIZE:
			if (DIGIT(c)) {
				if (p->lit_size > (UINT64_MAX - (uint64_t)(c - '0')) / 10) {
					e = IMAP_PERR_LITERAL_TOO_BIG;
					break;
				}
				p->lit_size = p->lit_size * 10 + (uint64_t)(c - '0');
				p->tok.len = 1;     /* "saw a digit" */
			} else if (p->tok.len == 0) {
				e = IMAP_PERR_BAD_LITERAL;
			} else if (c == '+') {
				p->lit_nonsync = true;
				p->st = ST_LIT_PLUS;
			} else if (c == '}') {
				p->st = ST_LIT_CLOSE;
			} else {
				e = IMAP_PERR_BAD_LITERAL;
			}
			break;
		case ST_LIT_PLUS:
			if (c == '}')
				p->st = ST_LIT_CLOSE;
			else
				e = IMAP_PERR_BAD_LITERAL;
			break;
		case ST_LIT_CLOSE:
			e = IMAP_PERR_BAD_LITERAL;  /* {n} must end the line */
			break;
		default:
			assert(!"unreachable parser state");
			e = IMAP_PERR_BAD_CHAR;
		}
		if (e != IMAP_PERR_NONE) {
			p->st = fail(p, e);
			skip_byte(p, c);
			*consumed_r = i;
			return IMAP_PARSE_ERROR;
		}
	}
	*consumed_r = i;
	return IMAP_PARSE_NEED_MORE;
}

/* ---- argument helpers ---- */

char *
imap_arg_take(struct imap_arg *a, size_t *len_r)
{
	char *str = a->str;

	*len_r = a->len;
	a->str = xcalloc(1, 1);
	a->len = 0;
	return str;
}

bool
imap_arg_astring(const struct imap_arg *a, const char **s_r, size_t *len_r)
{
	if (a->type == IMAP_ARG_LIST)
		return false;
	*s_r = a->str;
	if (len_r != NULL)
		*len_r = a->len;
	return true;
}

bool
imap_arg_string(const struct imap_arg *a, const char **s_r, size_t *len_r)
{
	if (a->type != IMAP_ARG_STRING && a->type != IMAP_ARG_LITERAL)
		return false;
	*s_r = a->str;
	if (len_r != NULL)
		*len_r = a->len;
	return true;
}

bool
imap_arg_nstring(const struct imap_arg *a, const char **s_r, size_t *len_r)
{
	if (a->type == IMAP_ARG_NIL) {
		*s_r = NULL;
		if (len_r != NULL)
			*len_r = 0;
		return true;
	}
	return imap_arg_string(a, s_r, len_r);
}

bool
imap_arg_atom(const struct imap_arg *a, const char **s_r)
{
	if (a->type != IMAP_ARG_ATOM && a->type != IMAP_ARG_NIL)
		return false;
	*s_r = a->str;
	return true;
}

bool
imap_arg_atom_eq(const struct imap_arg *a, const char *word)
{
	return (a->type == IMAP_ARG_ATOM || a->type == IMAP_ARG_NIL) &&
	    mm_strcaseeq(a->str, word);
}

bool
imap_arg_number64(const struct imap_arg *a, uint64_t *n_r)
{
	uint64_t n = 0;
	if (a->type != IMAP_ARG_ATOM || a->len == 0)
		return false;
	for (size_t i = 0; i < a->len; i++) {
		if (!DIGIT(a->str[i]) ||
		    n > (UINT64_MAX - (uint64_t)(a->str[i] - '0')) / 10)
			return false;
		n = n * 10 + (uint64_t)(a->str[i] - '0');
	}
	*n_r = n;
	return true;
}

bool
imap_arg_number(const struct imap_arg *a, uint32_t *n_r)
{
	uint64_t n;
	if (!imap_arg_number64(a, &n) || n > UINT32_MAX)
		return false;
	*n_r = (uint32_t)n;
	return true;
}

void
imap_args_write(struct mm_buf *b, const struct imap_arg *args, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		const struct imap_arg *a = &args[i];
		if (i > 0)
			mm_buf_appendc(b, ' ');
		switch (a->type) {
		case IMAP_ARG_ATOM:
			mm_buf_append(b, a->str, a->len);
			break;
		case IMAP_ARG_NIL:
			mm_buf_append(b, "NIL", 3);
			break;
		case IMAP_ARG_STRING:
			mail_imap_append_quoted(b, a->str, a->len);
			break;
		case IMAP_ARG_LITERAL:
			mm_buf_printf(b, "%s{%zu}\r\n", a->literal8 ? "~" : "", a->len);
			mm_buf_append(b, a->str, a->len);
			break;
		case IMAP_ARG_LIST:
			mm_buf_appendc(b, '(');
			imap_args_write(b, a->list, a->count);
			mm_buf_appendc(b, ')');
			break;
		}
	}
}

/* ---- IMAP URLs (RFC 5092), the relative form CATENATE takes ---- */

static int
url_hexv(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decodes s[0..len) into out (room for outlen - 1 bytes). */
static bool
pct_decode(const char *s, size_t len, char *out, size_t outlen, size_t *outlen_r)
{
	size_t k = 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '%') {
			if (i + 2 >= len || url_hexv(s[i + 1]) < 0 || url_hexv(s[i + 2]) < 0)
				return false;
			c = (char)(url_hexv(s[i + 1]) * 16 + url_hexv(s[i + 2]));
			i += 2;
		}
		/* no control characters in names or sections */
		if ((unsigned char)c < 0x20 || c == 0x7f || k + 1 >= outlen)
			return false;
		out[k++] = c;
	}
	out[k] = '\0';
	*outlen_r = k;
	return true;
}

static bool
number32(const char *s, size_t len, uint32_t *n_r)
{
	uint64_t n = 0;
	if (len == 0 || len > 10 || s[0] == '0')
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		n = n * 10 + (uint64_t)(s[i] - '0');
	}
	if (n == 0 || n > UINT32_MAX)
		return false;
	*n_r = (uint32_t)n;
	return true;
}

/* Does s (len) start with the word (case-insensitive)? */
static bool
starts(const char *s, size_t len, const char *word)
{
	size_t n = strlen(word);
	return len >= n && mm_strncaseeq(s, word, n);
}

bool
imap_url_parse(const char *s, size_t len, struct imap_url *u)
{
	char name[IMAP_URL_MBOX_MAX];
	size_t nlen;
	const char *e = s + len, *p;

	memset(u, 0, sizeof(*u));
	if (len == 0 || len > IMAP_URL_MAX_BYTES || s[0] != '/' || memchr(s, '\0', len))
		return false;
	s++;
	/* enc-mailbox up to ";UIDVALIDITY=" or "/;UID=" */
	for (p = s; p < e; p++)
		if ((*p == ';' && starts(p, (size_t)(e - p), ";UIDVALIDITY=")) ||
		    (*p == '/' && starts(p, (size_t)(e - p), "/;UID=")))
			break;
	if (p == s || p == e || !pct_decode(s, (size_t)(p - s), name, sizeof(name), &nlen))
		return false;
	memcpy(u->mbox, name, nlen + 1);
	if (*p == ';') {
		const char *v = p + 13, *ve = v;
		while (ve < e && *ve != '/')
			ve++;
		if (!number32(v, (size_t)(ve - v), &u->uidvalidity))
			return false;
		p = ve;
	}
	if (!starts(p, (size_t)(e - p), "/;UID="))
		return false;
	const char *v = p + 6, *ve = v;
	while (ve < e && *ve != '/')
		ve++;
	if (!number32(v, (size_t)(ve - v), &u->uid))
		return false;
	p = ve;
	if (starts(p, (size_t)(e - p), "/;SECTION=")) {
		v = p + 10;
		for (ve = v; ve < e && !starts(ve, (size_t)(e - ve), "/;PARTIAL="); ve++)
			;
		if (ve == v || !pct_decode(v, (size_t)(ve - v), u->section, sizeof(u->section),
		    &nlen))
			return false;
		struct mail_section sec;
		int r = mail_section_parse(u->section, nlen, &sec);
		mail_section_free(&sec);
		if (r != MAIL_SECTION_OK)
			return false;
		p = ve;
	}
	if (starts(p, (size_t)(e - p), "/;PARTIAL=")) {
		uint32_t o = 0, l = 0;
		v = p + 10;
		for (ve = v; ve < e && *ve != '.'; ve++)
			;
		/* partial-range = number ["." nz-number]; 0 is a fine offset */
		if (ve - v == 1 && *v == '0')
			o = 0;
		else if (!number32(v, (size_t)(ve - v), &o))
			return false;
		if (ve < e && !number32(ve + 1, (size_t)(e - ve - 1), &l))
			return false;
		u->partial = true;
		u->poff = o;
		u->plen = l;
		p = e;
	}
	return p == e;
}

/* ---- URLAUTH URLs (RFC 4467) ---- */

/* Case-insensitive search for word in s[0..len); NULL when absent. */
static const char *
find_word(const char *s, size_t len, const char *word)
{
	for (size_t i = 0; i < len; i++)
		if (starts(s + i, len - i, word))
			return s + i;
	return NULL;
}

static bool
url_hexdig(char c)
{
	return url_hexv(c) >= 0;
}

bool
imap_urlauth_parse(const char *s, size_t len, struct imap_urlauth *ua)
{
	const char *e = s + len, *p, *at = NULL, *slash;
	size_t n;

	memset(ua, 0, sizeof(*ua));
	if (len == 0 || len > IMAP_URL_MAX_BYTES || !starts(s, len, "imap://"))
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f)
			return false;
	p = s + 7;
	slash = memchr(p, '/', (size_t)(e - p));
	if (slash == NULL)
		return false;
	for (const char *q = p; q < slash; q++)
		if (*q == '@')
			at = q;
	if (at == NULL || at == p || at + 1 == slash)
		return false;
	/* iuserinfo = enc-user [iauth]: the owner is the decoded user */
	const char *ue = memchr(p, ';', (size_t)(at - p));
	if (ue == NULL)
		ue = at;
	char user[IMAP_URLAUTH_USER_MAX];
	if (ue == p || !pct_decode(p, (size_t)(ue - p), user, sizeof(user), &n))
		return false;
	const char *he = memchr(at + 1, ':', (size_t)(slash - at - 1));
	if (he == NULL)
		he = slash;
	size_t hl = (size_t)(he - at - 1);
	if (hl == 0)
		return false;
	if (memchr(user, '@', n) == NULL) {
		/* "imap://user@host/": the user of domain host */
		if (n + 1 + hl >= sizeof(ua->owner))
			return false;
		memcpy(ua->owner, user, n);
		ua->owner[n] = '@';
		memcpy(ua->owner + n + 1, at + 1, hl);
		ua->owner[n + 1 + hl] = '\0';
	} else {
		memcpy(ua->owner, user, n + 1);
	}
	for (char *q = ua->owner; *q != '\0'; q++)
		if (*q >= 'A' && *q <= 'Z')
			*q = (char)(*q - 'A' + 'a');

	/* the path up to ";EXPIRE=" or ";URLAUTH=" */
	const char *au = find_word(slash, (size_t)(e - slash), ";URLAUTH=");
	if (au == NULL)
		return false;
	const char *pe = au;
	const char *ex = find_word(slash, (size_t)(au - slash), ";EXPIRE=");
	if (ex != NULL) {
		ua->expire = true;
		pe = ex;
	}
	if (!imap_url_parse(slash, (size_t)(pe - slash), &ua->url))
		return false;
	/* access = ("submit+" / "user+") enc-user / "authuser" / "anonymous" */
	const char *a = au + 9, *ae = memchr(a, ':', (size_t)(e - a));
	if (ae == NULL)
		ae = e;
	ua->rump_len = (size_t)(ae - s);
	size_t al = (size_t)(ae - a);
	if (al == 8 && starts(a, al, "authuser")) {
		ua->access = IMAP_URLAUTH_AUTHUSER;
	} else if (al == 9 && starts(a, al, "anonymous")) {
		ua->access = IMAP_URLAUTH_ANONYMOUS;
	} else if (starts(a, al, "user+") || starts(a, al, "submit+")) {
		size_t pl = (*a == 'u' || *a == 'U') ? 5 : 7;
		ua->access = pl == 5 ? IMAP_URLAUTH_USER : IMAP_URLAUTH_SUBMIT;
		if (al == pl || !pct_decode(a + pl, al - pl, ua->access_user,
		    sizeof(ua->access_user), &n))
			return false;
		for (char *q = ua->access_user; *q != '\0'; q++)
			if (*q >= 'A' && *q <= 'Z')
				*q = (char)(*q - 'A' + 'a');
	} else {
		return false;
	}
	if (ae == e)
		return true;
	/* ":" mechanism ":" 32*HEXDIG */
	const char *m = ae + 1, *me = memchr(m, ':', (size_t)(e - m));
	if (me == NULL || me == m || (size_t)(me - m) >= sizeof(ua->mech))
		return false;
	for (const char *q = m; q < me; q++)
		if (!((*q >= 'A' && *q <= 'Z') || (*q >= 'a' && *q <= 'z') ||
		    (*q >= '0' && *q <= '9') || *q == '-' || *q == '.'))
			return false;
	memcpy(ua->mech, m, (size_t)(me - m));
	const char *t = me + 1;
	size_t tl = (size_t)(e - t);
	if (tl < 32 || tl >= sizeof(ua->token))
		return false;
	for (size_t i = 0; i < tl; i++)
		if (!url_hexdig(t[i]))
			return false;
	memcpy(ua->token, t, tl);
	ua->has_token = true;
	return true;
}
