/* sieve-parse.c: the Sieve compiler. Two passes over one script: the
 * parser builds a generic tree from the lexer's tokens (RFC 5228 8.2:
 * commands, arguments, tests, test lists, blocks), then the checker walks
 * it in order, looks every command and test up in one table (its
 * extension, the tag groups it takes, its positional arguments) and
 * fills the node's compiled fields, so that the interpreter never sees a
 * tag it has to check. The one idea: every error is found here, with the
 * line it is on, and a script that compiles only fails at run time on
 * values it cannot know (variables, the message) or on a limit.
 *
 * Strings are decoded (encoded-character, RFC 5228 2.4.2.4) and marked for
 * variable expansion (RFC 5229 3) as each command is checked, after the
 * requires before it. Constant :regex keys are compiled here (regcomp,
 * POSIX ERE as Pigeonhole) so a bad expression is a compile error; include
 * (RFC 6609) compiles the included script through the caller's lookup. */
#include "sieve/sieve-int.h"
#include "mail/address.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct parser {
	struct sv_lexer lx;
	struct sieve_error *err;
	bool failed;
	size_t nodes;
	unsigned depth;
	const struct sieve_limits *lim;
	const struct sieve_include_if *inc;
	unsigned inc_depth;
	struct mm_strlist *inc_stack;	/* scripts being included, for loops */
	struct sieve_script *sc;
};

static void __attribute__((format(printf, 3, 4)))
perr(struct parser *p, unsigned line, const char *fmt, ...)
{
	if (p->failed)
		return;
	p->failed = true;
	p->err->line = line;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->err->msg, sizeof(p->err->msg), fmt, ap);
	va_end(ap);
}

/* ---- tree ---- */

static void
slist_free(struct sv_slist *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].s);
		if (l->v[i].re) {
			regfree(l->v[i].re);
			free(l->v[i].re);
		}
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static void node_free(struct sv_node *n);

static void
nodes_free(struct sv_node **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		node_free(v[i]);
	free(v);
}

static void
node_free(struct sv_node *n)
{
	if (n == NULL)
		return;
	free(n->name);
	for (size_t i = 0; i < n->nargs; i++) {
		free(n->args[i].tag);
		slist_free(&n->args[i].l);
	}
	free(n->args);
	nodes_free(n->tests, n->ntests);
	nodes_free(n->block, n->nblock);
	/* ctypes, flags, addresses, pos and the strings point into args */
	if (n->inc)
		sieve_script_free(&n->inc);
	free(n);
}

void
sieve_script_free(struct sieve_script **s)
{
	if (*s == NULL)
		return;
	nodes_free((*s)->cmds, (*s)->ncmds);
	free((*s)->name);
	mm_strlist_clear(&(*s)->globals);
	free(*s);
	*s = NULL;
}

/* ---- parser ---- */

static void
next(struct parser *p)
{
	if (sv_lex_next(&p->lx) == SV_T_ERROR)
		perr(p, p->lx.tok_line, "%s", p->lx.err);
}

static void
push_node(struct sv_node ***v, size_t *n, struct sv_node *x)
{
	*v = xrealloc(*v, (*n + 1) * sizeof(**v));
	(*v)[(*n)++] = x;
}

static struct sv_arg *
push_arg(struct sv_node *n)
{
	n->args = xrealloc(n->args, (n->nargs + 1) * sizeof(*n->args));
	struct sv_arg *a = &n->args[n->nargs++];
	memset(a, 0, sizeof(*a));
	return a;
}

static void
slist_add(struct sv_slist *l, const char *s, size_t len)
{
	l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
	struct sv_str *x = &l->v[l->n++];
	memset(x, 0, sizeof(*x));
	x->s = xstrndup(s, len);
	x->len = len;
}

static struct sv_node *parse_test(struct parser *p);

static struct sv_node *
new_node(struct parser *p)
{
	if (++p->nodes > SIEVE_NODES_MAX) {
		perr(p, p->lx.tok_line, "too many commands and tests (at most %d)", SIEVE_NODES_MAX);
		return NULL;
	}
	struct sv_node *n = xcalloc(1, sizeof(*n));
	n->name = xstrndup(p->lx.text.data ? p->lx.text.data : "", p->lx.text.len);
	mm_strlower(n->name);
	n->line = p->lx.tok_line;
	return n;
}

/* arguments = *argument [ test / test-list ] */
static void
parse_arguments(struct parser *p, struct sv_node *n)
{
	while (!p->failed) {
		enum sv_tok t = p->lx.tok;
		if (t == SV_T_TAG) {
			struct sv_arg *a = push_arg(n);
			a->k = SV_ARG_TAG;
			a->line = p->lx.tok_line;
			a->tag = xstrndup(p->lx.text.data, p->lx.text.len);
			mm_strlower(a->tag);
			next(p);
		} else if (t == SV_T_NUM) {
			struct sv_arg *a = push_arg(n);
			a->k = SV_ARG_NUM;
			a->line = p->lx.tok_line;
			a->num = p->lx.num;
			next(p);
		} else if (t == SV_T_STR) {
			struct sv_arg *a = push_arg(n);
			a->k = SV_ARG_LIST;
			a->line = p->lx.tok_line;
			slist_add(&a->l, p->lx.text.data ? p->lx.text.data : "", p->lx.text.len);
			next(p);
		} else if (t == SV_T_LBRACKET) {
			struct sv_arg *a = push_arg(n);
			a->k = SV_ARG_LIST;
			a->line = p->lx.tok_line;
			a->bracketed = true;
			next(p);
			for (;;) {
				if (p->failed)
					return;
				if (p->lx.tok != SV_T_STR) {
					perr(p, p->lx.tok_line, "a string list holds strings: "
					    "expected a string after '%s'", a->l.n ? "," : "[");
					return;
				}
				if (a->l.n >= SIEVE_LIST_MAX) {
					perr(p, p->lx.tok_line, "string list too long (at most %d)", SIEVE_LIST_MAX);
					return;
				}
				slist_add(&a->l, p->lx.text.data ? p->lx.text.data : "", p->lx.text.len);
				next(p);
				if (p->lx.tok == SV_T_COMMA) {
					next(p);
					continue;
				}
				if (p->lx.tok == SV_T_RBRACKET) {
					next(p);
					break;
				}
				perr(p, p->lx.tok_line, "expected ',' or ']' in a string list");
				return;
			}
		} else if (t == SV_T_IDENT) {
			struct sv_node *x = parse_test(p);
			if (x)
				push_node(&n->tests, &n->ntests, x);
			return;
		} else if (t == SV_T_LPAREN) {
			n->test_list = true;
			next(p);
			for (;;) {
				if (p->failed)
					return;
				if (p->lx.tok != SV_T_IDENT) {
					perr(p, p->lx.tok_line, "expected a test in the test list");
					return;
				}
				struct sv_node *x = parse_test(p);
				if (x == NULL)
					return;
				push_node(&n->tests, &n->ntests, x);
				if (p->lx.tok == SV_T_COMMA) {
					next(p);
					continue;
				}
				if (p->lx.tok == SV_T_RPAREN) {
					next(p);
					break;
				}
				if (!p->failed)
					perr(p, p->lx.tok_line, "expected ',' or ')' in a test list");
				return;
			}
			return;
		} else {
			return;
		}
	}
}

static struct sv_node *
parse_test(struct parser *p)
{
	if (++p->depth > SIEVE_NESTING_MAX) {
		perr(p, p->lx.tok_line, "tests nested too deeply (at most %d)", SIEVE_NESTING_MAX);
		return NULL;
	}
	struct sv_node *n = new_node(p);
	if (n == NULL)
		return NULL;
	next(p);
	parse_arguments(p, n);
	p->depth--;
	return n;
}

static void parse_commands(struct parser *p, struct sv_node ***v, size_t *nv, bool top);

static struct sv_node *
parse_command(struct parser *p)
{
	struct sv_node *n = new_node(p);
	if (n == NULL)
		return NULL;
	next(p);
	parse_arguments(p, n);
	if (p->failed)
		return n;
	if (p->lx.tok == SV_T_SEMI) {
		next(p);
	} else if (p->lx.tok == SV_T_LBRACE) {
		if (++p->depth > SIEVE_NESTING_MAX) {
			perr(p, p->lx.tok_line, "blocks nested too deeply (at most %d)", SIEVE_NESTING_MAX);
			return n;
		}
		n->has_block = true;
		next(p);
		parse_commands(p, &n->block, &n->nblock, false);
		if (p->failed)
			return n;
		if (p->lx.tok != SV_T_RBRACE) {
			perr(p, p->lx.tok_line, "missing '}' to close the block of '%s' (line %u)",
			    n->name, n->line);
			return n;
		}
		p->depth--;
		next(p);
	} else if (p->lx.tok == SV_T_EOF) {
		perr(p, p->lx.tok_line, "missing ';' after '%s' at the end of the script", n->name);
	} else {
		perr(p, p->lx.tok_line, "expected ';' or '{' after the arguments of '%s'", n->name);
	}
	return n;
}

static void
parse_commands(struct parser *p, struct sv_node ***v, size_t *nv, bool top)
{
	while (!p->failed) {
		if (p->lx.tok == SV_T_EOF) {
			if (!top)
				perr(p, p->lx.tok_line, "missing '}' at the end of the script");
			return;
		}
		if (p->lx.tok == SV_T_RBRACE) {
			if (top)
				perr(p, p->lx.tok_line, "'}' without a block to close");
			return;
		}
		if (p->lx.tok != SV_T_IDENT) {
			perr(p, p->lx.tok_line, "expected a command name");
			return;
		}
		struct sv_node *n = parse_command(p);
		if (n)
			push_node(v, nv, n);
	}
}

/* ---- checker ---- */

enum {
	T_CMP = 1u << 0, T_MATCH = 1u << 1, T_APART = 1u << 2, T_INDEX = 1u << 3,
	T_ZONE = 1u << 4, T_OZONE = 1u << 5, T_BODY = 1u << 6, T_COPY = 1u << 7,
	T_CREATE = 1u << 8, T_FLAGS = 1u << 9, T_SIZE = 1u << 10, T_VAC = 1u << 11,
	T_SETMOD = 1u << 12, T_INC = 1u << 13,
};

struct spec {
	const char *name;
	enum sv_op op;
	bool test;
	unsigned ext;		/* extension needed (0: core) */
	unsigned tags;
	const char *pos;	/* S string, L string list, N number; o: the
				 * first is optional */
	int tests;		/* 0 none, 1 one test, 2 a test list */
	bool block;
};

static const struct spec specs[] = {
	{ "require", SV_OP_REQUIRE, false, 0, 0, "L", 0, false },
	{ "if", SV_OP_IF, false, 0, 0, "", 1, true },
	{ "elsif", SV_OP_ELSIF, false, 0, 0, "", 1, true },
	{ "else", SV_OP_ELSE, false, 0, 0, "", 0, true },
	{ "stop", SV_OP_STOP, false, 0, 0, "", 0, false },
	{ "keep", SV_OP_KEEP, false, 0, T_FLAGS, "", 0, false },
	{ "discard", SV_OP_DISCARD, false, 0, 0, "", 0, false },
	{ "redirect", SV_OP_REDIRECT, false, 0, T_COPY, "S", 0, false },
	{ "fileinto", SV_OP_FILEINTO, false, SV_EXT_FILEINTO, T_COPY | T_CREATE | T_FLAGS, "S", 0, false },
	{ "reject", SV_OP_REJECT, false, SV_EXT_REJECT, 0, "S", 0, false },
	{ "ereject", SV_OP_EREJECT, false, SV_EXT_EREJECT, 0, "S", 0, false },
	{ "vacation", SV_OP_VACATION, false, SV_EXT_VACATION, T_VAC, "S", 0, false },
	{ "setflag", SV_OP_SETFLAG, false, SV_EXT_IMAP4FLAGS, 0, "oL", 0, false },
	{ "addflag", SV_OP_ADDFLAG, false, SV_EXT_IMAP4FLAGS, 0, "oL", 0, false },
	{ "removeflag", SV_OP_REMOVEFLAG, false, SV_EXT_IMAP4FLAGS, 0, "oL", 0, false },
	{ "set", SV_OP_SET, false, SV_EXT_VARIABLES, T_SETMOD, "SS", 0, false },
	{ "include", SV_OP_INCLUDE, false, SV_EXT_INCLUDE, T_INC, "S", 0, false },
	{ "return", SV_OP_RETURN, false, SV_EXT_INCLUDE, 0, "", 0, false },
	{ "global", SV_OP_GLOBAL, false, SV_EXT_INCLUDE, 0, "L", 0, false },
	{ "address", SV_OP_ADDRESS, true, 0, T_CMP | T_MATCH | T_APART | T_INDEX, "LL", 0, false },
	{ "allof", SV_OP_ALLOF, true, 0, 0, "", 2, false },
	{ "anyof", SV_OP_ANYOF, true, 0, 0, "", 2, false },
	{ "envelope", SV_OP_ENVELOPE, true, SV_EXT_ENVELOPE, T_CMP | T_MATCH | T_APART, "LL", 0, false },
	{ "exists", SV_OP_EXISTS, true, 0, 0, "L", 0, false },
	{ "false", SV_OP_FALSE, true, 0, 0, "", 0, false },
	{ "true", SV_OP_TRUE, true, 0, 0, "", 0, false },
	{ "header", SV_OP_HEADER, true, 0, T_CMP | T_MATCH | T_INDEX, "LL", 0, false },
	{ "not", SV_OP_NOT, true, 0, 0, "", 1, false },
	{ "size", SV_OP_SIZE, true, 0, T_SIZE, "", 0, false },
	{ "body", SV_OP_BODY, true, SV_EXT_BODY, T_CMP | T_MATCH | T_BODY, "L", 0, false },
	{ "date", SV_OP_DATE, true, SV_EXT_DATE, T_CMP | T_MATCH | T_INDEX | T_ZONE | T_OZONE, "SSL", 0, false },
	{ "currentdate", SV_OP_CURRENTDATE, true, SV_EXT_DATE, T_CMP | T_MATCH | T_ZONE, "SL", 0, false },
	{ "hasflag", SV_OP_HASFLAG, true, SV_EXT_IMAP4FLAGS, T_CMP | T_MATCH, "oL", 0, false },
	{ "string", SV_OP_STRING, true, SV_EXT_VARIABLES, T_CMP | T_MATCH, "LL", 0, false },
	{ "mailboxexists", SV_OP_MAILBOXEXISTS, true, SV_EXT_MAILBOX, 0, "L", 0, false },
};

static const struct { const char *name; unsigned bit; } ext_names[] = {
	{ "fileinto", SV_EXT_FILEINTO }, { "copy", SV_EXT_COPY },
	{ "reject", SV_EXT_REJECT }, { "ereject", SV_EXT_EREJECT },
	{ "envelope", SV_EXT_ENVELOPE }, { "imap4flags", SV_EXT_IMAP4FLAGS },
	{ "variables", SV_EXT_VARIABLES }, { "relational", SV_EXT_RELATIONAL },
	{ "subaddress", SV_EXT_SUBADDRESS }, { "body", SV_EXT_BODY },
	{ "date", SV_EXT_DATE }, { "index", SV_EXT_INDEX },
	{ "mailbox", SV_EXT_MAILBOX }, { "vacation", SV_EXT_VACATION },
	{ "encoded-character", SV_EXT_ENCODED }, { "include", SV_EXT_INCLUDE },
	{ "regex", SV_EXT_REGEX }, { "comparator-i;ascii-numeric", SV_EXT_NUMERIC },
	{ "comparator-i;ascii-casemap", SV_EXT_CASEMAP },
	{ "comparator-i;octet", SV_EXT_OCTET },
};

const char *
sieve_extensions(void)
{
	return "fileinto copy reject ereject envelope imap4flags variables "
	    "relational subaddress body date index mailbox vacation "
	    "encoded-character include regex comparator-i;ascii-numeric";
}

static const char *
ext_name(unsigned bit)
{
	for (size_t i = 0; i < sizeof(ext_names) / sizeof(ext_names[0]); i++)
		if (ext_names[i].bit == bit)
			return ext_names[i].name;
	return "?";
}

static int
hexdig(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* One "${hex:...}" or "${unicode:...}" at s (n bytes, s[0] == '$'):
 * its length, with the decoded bytes appended to out; 0 when it is not a
 * valid encoding (it is then kept as it is, RFC 5228 2.4.2.4). */
static size_t
encoded_one(const char *s, size_t n, struct mm_buf *out)
{
	bool hex;
	size_t i;
	if (n > 6 && mm_strncaseeq(s, "${hex:", 6)) {
		hex = true;
		i = 6;
	} else if (n > 10 && mm_strncaseeq(s, "${unicode:", 10)) {
		hex = false;
		i = 10;
	} else {
		return 0;
	}
	struct mm_buf tmp;
	mm_buf_init(&tmp);
	bool any = false;
	for (;;) {
		while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
			i++;
		if (i >= n)
			goto bad;
		if (s[i] == '}') {
			i++;
			break;
		}
		uint32_t v = 0;
		size_t d = 0;
		while (i < n && hexdig(s[i]) >= 0) {
			if (d >= (hex ? 2u : 8u))
				goto bad;
			v = v * 16 + (uint32_t)hexdig(s[i]);
			d++;
			i++;
		}
		if (d == 0)
			goto bad;
		if (hex) {
			mm_buf_appendc(&tmp, (char)v);
		} else {
			if (v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
				goto bad;
			mm_buf_append_utf8(&tmp, v);
		}
		any = true;
	}
	(void)any;
	mm_buf_append(out, tmp.data ? tmp.data : "", tmp.len);
	mm_buf_free(&tmp);
	return i;
bad:
	mm_buf_free(&tmp);
	return 0;
}

static void
decode_encoded(struct sv_str *x)
{
	if (memmem(x->s, x->len, "${", 2) == NULL)
		return;
	struct mm_buf b;
	mm_buf_init(&b);
	for (size_t i = 0; i < x->len;) {
		size_t k = x->s[i] == '$' ? encoded_one(x->s + i, x->len - i, &b) : 0;
		if (k > 0) {
			i += k;
		} else {
			mm_buf_appendc(&b, x->s[i]);
			i++;
		}
	}
	free(x->s);
	x->len = b.len;
	x->s = xstrndup(b.data ? b.data : "", b.len);
	mm_buf_free(&b);
}

/* UTF-8 well-formed? */
static bool
utf8_ok(const char *s, size_t n)
{
	uint32_t cp;
	for (size_t i = 0; i < n;) {
		size_t k = mm_utf8_decode((const unsigned char *)s + i, n - i, &cp);
		if (k == 0)
			return false;
		i += k;
	}
	return true;
}

/* An RFC 5321 path address: local@domain, no spaces or brackets. */
static bool
address_ok(const char *s, size_t n)
{
	const char *at = memrchr(s, '@', n);
	if (at == NULL || at == s || at == s + n - 1 || n > ADDRESS_MAX_BYTES)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= ' ' || c == '<' || c == '>' || c == '(' || c == ')' || c == ',' || c == 0x7f)
			return false;
	}
	return true;
}

static const char *const date_parts[] = {
	"year", "month", "day", "date", "julian", "hour", "minute", "second",
	"time", "iso8601", "std11", "zone", "weekday",
};

static bool
zone_ok(const char *s, size_t n)
{
	if (n != 5 || (s[0] != '+' && s[0] != '-'))
		return false;
	for (size_t i = 1; i < 5; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return (s[1] - '0') * 10 + (s[2] - '0') <= 23 && (s[3] - '0') * 10 + (s[4] - '0') <= 59;
}

struct chk {
	unsigned exts;
	bool requires_done;
	struct sv_node *prev;	/* the command before, at this level */
};

static bool need_ext(struct parser *p, struct chk *c, unsigned line, unsigned bit,
    const char *what)
{
	if (c->exts & bit)
		return true;
	perr(p, line, "%s needs require \"%s\"", what, ext_name(bit));
	return false;
}

/* The string argument after a tag at args[*i]. */
static struct sv_slist *
tag_value(struct parser *p, struct sv_node *n, size_t *i, bool single)
{
	const struct sv_arg *t = &n->args[*i];
	if (*i + 1 >= n->nargs || n->args[*i + 1].k != SV_ARG_LIST) {
		perr(p, t->line, ":%s needs a %s after it", t->tag, single ? "string" : "string list");
		return NULL;
	}
	(*i)++;
	struct sv_arg *a = &n->args[*i];
	if (single && (a->l.n != 1 || a->bracketed)) {
		perr(p, a->line, ":%s takes one string, not a list", t->tag);
		return NULL;
	}
	return &a->l;
}

static bool
tag_number(struct parser *p, struct sv_node *n, size_t *i, uint64_t *v_r)
{
	const struct sv_arg *t = &n->args[*i];
	if (*i + 1 >= n->nargs || n->args[*i + 1].k != SV_ARG_NUM) {
		perr(p, t->line, ":%s needs a number after it", t->tag);
		return false;
	}
	(*i)++;
	*v_r = n->args[*i].num;
	return true;
}

/* Tags of one node. seen: bits of the groups already given. */
static bool
check_tag(struct parser *p, struct chk *c, const struct spec *sp, struct sv_node *n,
    size_t *i, unsigned *seen)
{
	const char *tag = n->args[*i].tag;
	unsigned line = n->args[*i].line;
	unsigned g = 0;
	struct sv_slist *l;
	uint64_t v;

#define GROUP(bit) do { \
	g = (bit); \
	if (!(sp->tags & g)) \
		goto unknown; \
	if (*seen & g) { \
		perr(p, line, "'%s' takes one %s tag", n->name, \
		    g == T_MATCH ? "match type" : g == T_CMP ? ":comparator" : \
		    g == T_APART ? "address part" : g == T_BODY ? "body transform" : \
		    g == T_SIZE ? ":over or :under" : g == T_ZONE ? "zone" : "such"); \
		return false; \
	} \
	*seen |= g; \
} while (0)

	if (strcmp(tag, "comparator") == 0) {
		GROUP(T_CMP);
		if ((l = tag_value(p, n, i, true)) == NULL)
			return false;
		const char *cn = l->v[0].s;
		if (strcmp(cn, "i;ascii-casemap") == 0) {
			n->cmp = SV_CMP_CASEMAP;
		} else if (strcmp(cn, "i;octet") == 0) {
			n->cmp = SV_CMP_OCTET;
		} else if (strcmp(cn, "i;ascii-numeric") == 0) {
			if (!need_ext(p, c, line, SV_EXT_NUMERIC, "comparator i;ascii-numeric"))
				return false;
			n->cmp = SV_CMP_NUMERIC;
		} else {
			perr(p, line, "unknown comparator \"%.64s\"", cn);
			return false;
		}
		return true;
	}
	static const struct { const char *t; enum sv_match m; unsigned ext; } mt[] = {
		{ "is", SV_M_IS, 0 }, { "contains", SV_M_CONTAINS, 0 },
		{ "matches", SV_M_MATCHES, 0 }, { "regex", SV_M_REGEX, SV_EXT_REGEX },
		{ "count", SV_M_COUNT, SV_EXT_RELATIONAL }, { "value", SV_M_VALUE, SV_EXT_RELATIONAL },
	};
	for (size_t k = 0; k < sizeof(mt) / sizeof(mt[0]); k++) {
		if (strcmp(tag, mt[k].t) != 0)
			continue;
		GROUP(T_MATCH);
		if (mt[k].ext) {
			char what[32];
			snprintf(what, sizeof(what), "match type :%s", tag);
			if (!need_ext(p, c, line, mt[k].ext, what))
				return false;
		}
		n->match = mt[k].m;
		if (n->match == SV_M_COUNT || n->match == SV_M_VALUE) {
			if ((l = tag_value(p, n, i, true)) == NULL)
				return false;
			static const char *const rels[] = { "gt", "ge", "lt", "le", "eq", "ne" };
			size_t r;
			for (r = 0; r < 6; r++)
				if (mm_strcaseeq(l->v[0].s, rels[r]))
					break;
			if (r == 6) {
				perr(p, line, "unknown relation \"%.16s\" (gt, ge, lt, le, eq or ne)",
				    l->v[0].s);
				return false;
			}
			n->rel = (enum sv_rel)r;
		}
		return true;
	}
	static const struct { const char *t; enum sv_apart a; unsigned ext; } ap[] = {
		{ "all", SV_AP_ALL, 0 }, { "localpart", SV_AP_LOCAL, 0 },
		{ "domain", SV_AP_DOMAIN, 0 }, { "user", SV_AP_USER, SV_EXT_SUBADDRESS },
		{ "detail", SV_AP_DETAIL, SV_EXT_SUBADDRESS },
	};
	for (size_t k = 0; k < sizeof(ap) / sizeof(ap[0]); k++) {
		if (strcmp(tag, ap[k].t) != 0)
			continue;
		GROUP(T_APART);
		if (ap[k].ext && !need_ext(p, c, line, ap[k].ext, "address part :user/:detail"))
			return false;
		n->apart = ap[k].a;
		return true;
	}
	if (strcmp(tag, "index") == 0) {
		GROUP(T_INDEX);
		if (!need_ext(p, c, line, SV_EXT_INDEX, ":index") || !tag_number(p, n, i, &v))
			return false;
		if (v < 1 || v > 100000) {
			perr(p, line, ":index must be between 1 and 100000");
			return false;
		}
		n->index = (unsigned)v;
		return true;
	}
	if (strcmp(tag, "last") == 0) {
		if (!(sp->tags & T_INDEX))
			goto unknown;
		if (!need_ext(p, c, line, SV_EXT_INDEX, ":last"))
			return false;
		n->last = true;
		return true;
	}
	if (strcmp(tag, "zone") == 0 || strcmp(tag, "originalzone") == 0) {
		bool orig = tag[0] == 'o';
		if (!(sp->tags & (orig ? T_OZONE : T_ZONE)))
			goto unknown;
		GROUP(T_ZONE);
		if (orig) {
			n->zone = SV_Z_ORIGINAL;
			return true;
		}
		if ((l = tag_value(p, n, i, true)) == NULL)
			return false;
		n->zone = SV_Z_GIVEN;
		n->zone_s = l->v[0];
		if (!zone_ok(l->v[0].s, l->v[0].len) && memchr(l->v[0].s, '$', l->v[0].len) == NULL) {
			perr(p, line, "bad :zone \"%.16s\" (+hhmm or -hhmm)", l->v[0].s);
			return false;
		}
		return true;
	}
	if (strcmp(tag, "raw") == 0 || strcmp(tag, "text") == 0 || strcmp(tag, "content") == 0) {
		GROUP(T_BODY);
		if (tag[0] == 'r') {
			n->transform = SIEVE_BODY_RAW;
		} else if (tag[0] == 't') {
			n->transform = SIEVE_BODY_TEXT;
		} else {
			n->transform = SIEVE_BODY_CONTENT;
			if ((l = tag_value(p, n, i, false)) == NULL)
				return false;
			n->ctypes = *l;
		}
		return true;
	}
	if (strcmp(tag, "copy") == 0) {
		if (!(sp->tags & T_COPY))
			goto unknown;
		if (!need_ext(p, c, line, SV_EXT_COPY, ":copy"))
			return false;
		n->copy = true;
		return true;
	}
	if (strcmp(tag, "create") == 0) {
		if (!(sp->tags & T_CREATE))
			goto unknown;
		if (!need_ext(p, c, line, SV_EXT_MAILBOX, ":create"))
			return false;
		n->create = true;
		return true;
	}
	if (strcmp(tag, "flags") == 0) {
		if (!(sp->tags & T_FLAGS))
			goto unknown;
		if (!need_ext(p, c, line, SV_EXT_IMAP4FLAGS, ":flags"))
			return false;
		if ((l = tag_value(p, n, i, false)) == NULL)
			return false;
		n->has_flags = true;
		n->flags = *l;
		return true;
	}
	if (strcmp(tag, "over") == 0 || strcmp(tag, "under") == 0) {
		GROUP(T_SIZE);
		n->over = tag[0] == 'o';
		return tag_number(p, n, i, &n->num);
	}
	if (sp->tags & T_VAC) {
		if (strcmp(tag, "days") == 0) {
			if (n->has_days) {
				perr(p, line, "vacation takes one :days");
				return false;
			}
			if (!tag_number(p, n, i, &v))
				return false;
			n->has_days = true;
			n->seconds = (unsigned long)(v > SIEVE_VACATION_MAX_DAYS ? SIEVE_VACATION_MAX_DAYS : v) * 86400ul;
			return true;
		}
		struct sv_str *dst = strcmp(tag, "subject") == 0 ? &n->subject :
		    strcmp(tag, "from") == 0 ? &n->from : strcmp(tag, "handle") == 0 ? &n->handle : NULL;
		if (dst) {
			if (dst->s) {
				perr(p, line, "vacation takes one :%s", tag);
				return false;
			}
			if ((l = tag_value(p, n, i, true)) == NULL)
				return false;
			*dst = l->v[0];
			dst->s = l->v[0].s;	/* shared with the argument */
			if (dst == &n->from && memchr(dst->s, '$', dst->len) == NULL) {
				char *spec = mail_addr_first_spec(dst->s, dst->len);
				bool ok = spec != NULL && address_ok(spec, strlen(spec));
				free(spec);
				if (!ok) {
					perr(p, line, "vacation :from \"%.64s\" is not an address", dst->s);
					return false;
				}
			}
			return true;
		}
		if (strcmp(tag, "addresses") == 0) {
			if ((l = tag_value(p, n, i, false)) == NULL)
				return false;
			n->addresses = *l;
			return true;
		}
		if (strcmp(tag, "mime") == 0) {
			n->mime = true;
			return true;
		}
	}
	if (sp->tags & T_SETMOD) {
		static const struct { const char *t; unsigned m; } mods[] = {
			{ "lower", SV_MOD_LOWER }, { "upper", SV_MOD_UPPER },
			{ "lowerfirst", SV_MOD_LOWERFIRST }, { "upperfirst", SV_MOD_UPPERFIRST },
			{ "quotewildcard", SV_MOD_QUOTEWILDCARD }, { "length", SV_MOD_LENGTH },
		};
		for (size_t k = 0; k < sizeof(mods) / sizeof(mods[0]); k++) {
			if (strcmp(tag, mods[k].t) != 0)
				continue;
			unsigned same = (mods[k].m & (SV_MOD_LOWER | SV_MOD_UPPER)) ? (SV_MOD_LOWER | SV_MOD_UPPER) :
			    (mods[k].m & (SV_MOD_LOWERFIRST | SV_MOD_UPPERFIRST)) ? (SV_MOD_LOWERFIRST | SV_MOD_UPPERFIRST) :
			    mods[k].m;
			if (n->mods & same) {
				perr(p, line, "set takes one modifier of each precedence (:%s)", tag);
				return false;
			}
			n->mods |= mods[k].m;
			return true;
		}
	}
	if (sp->tags & T_INC) {
		if (strcmp(tag, "personal") == 0 || strcmp(tag, "global") == 0) {
			if (*seen & T_INC) {
				perr(p, line, "include takes one of :personal and :global");
				return false;
			}
			*seen |= T_INC;
			n->global = tag[0] == 'g';
			return true;
		}
		if (strcmp(tag, "once") == 0) {
			n->once = true;
			return true;
		}
		if (strcmp(tag, "optional") == 0) {
			n->optional = true;
			return true;
		}
	}
unknown:
	perr(p, line, "unknown tag :%.32s for '%s'", tag, n->name);
	return false;
#undef GROUP
}

static void check_block(struct parser *p, struct chk *c, struct sv_node **v, size_t nv, bool top);

static void
mark_strings(struct chk *c, struct sv_node *n)
{
	for (size_t i = 0; i < n->nargs; i++) {
		struct sv_arg *a = &n->args[i];
		if (a->k != SV_ARG_LIST)
			continue;
		for (size_t k = 0; k < a->l.n; k++) {
			struct sv_str *x = &a->l.v[k];
			if (c->exts & SV_EXT_ENCODED)
				decode_encoded(x);
			x->vars = (c->exts & SV_EXT_VARIABLES) && memmem(x->s, x->len, "${", 2) != NULL;
		}
	}
}

static const struct spec *
find_spec(const char *name, bool test)
{
	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++)
		if (specs[i].test == test && strcmp(specs[i].name, name) == 0)
			return &specs[i];
	return NULL;
}

/* A script name for include: no '/', not empty, no control bytes. */
static bool
script_name_ok(const char *s, size_t n)
{
	if (n == 0 || n > 255 || !utf8_ok(s, n))
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == '/' || s[i] == 0x7f)
			return false;
	return true;
}

static struct sieve_script *compile_one(struct parser *parent, const char *text, size_t len,
    const char *name, bool global, struct sieve_error *err);

static void
check_include(struct parser *p, struct sv_node *n)
{
	const struct sv_str *nm = &n->pos[0]->v[0];
	if (nm->vars || !script_name_ok(nm->s, nm->len)) {
		perr(p, n->line, "include: bad script name \"%.64s\"", nm->s);
		return;
	}
	if (p->inc_depth + 1 > SIEVE_INCLUDE_DEPTH_MAX) {
		perr(p, n->line, "include nested too deeply (at most %d)", SIEVE_INCLUDE_DEPTH_MAX);
		return;
	}
	char key[300];
	snprintf(key, sizeof(key), "%c%s", n->global ? 'g' : 'p', nm->s);
	if (mm_strlist_contains(p->inc_stack, key)) {
		perr(p, n->line, "include: script \"%.64s\" includes itself", nm->s);
		return;
	}
	char *text = NULL;
	size_t len = 0;
	if (p->inc == NULL || p->inc->lookup == NULL ||
	    !p->inc->lookup(p->inc->ctx, n->global, nm->s, &text, &len)) {
		if (!n->optional)
			perr(p, n->line, "include: %s script \"%.64s\" does not exist",
			    n->global ? "global" : "personal", nm->s);
		return;
	}
	if (len > p->lim->max_script_bytes) {
		free(text);
		perr(p, n->line, "include: script \"%.64s\" is too large", nm->s);
		return;
	}
	struct sieve_error e;
	mm_strlist_add(p->inc_stack, key);
	p->inc_depth++;
	n->inc = compile_one(p, text, len, key, n->global, &e);
	p->inc_depth--;
	p->inc_stack->n--;
	free(p->inc_stack->v[p->inc_stack->n]);
	free(text);
	if (n->inc == NULL)
		perr(p, n->line, "include \"%.64s\": line %u: %.150s", nm->s, e.line, e.msg);
}

static void
check_node(struct parser *p, struct chk *c, struct sv_node *n, bool test, bool top)
{
	const struct spec *sp = find_spec(n->name, test);
	if (sp == NULL) {
		if (find_spec(n->name, !test))
			perr(p, n->line, "'%s' is a %s, not a %s", n->name,
			    test ? "command" : "test", test ? "test" : "command");
		else
			perr(p, n->line, "unknown %s '%.64s'", test ? "test" : "command", n->name);
		return;
	}
	n->op = sp->op;
	if (sp->ext && !(c->exts & sp->ext)) {
		perr(p, n->line, "'%s' needs require \"%s\"", n->name, ext_name(sp->ext));
		return;
	}
	if (n->op == SV_OP_REQUIRE) {
		if (!top || c->requires_done) {
			perr(p, n->line, "require must come before every other command");
			return;
		}
	} else if (!test) {
		c->requires_done = true;
	}
	mark_strings(c, n);

	/* tags, then positional arguments */
	unsigned seen = 0;
	size_t i = 0;
	for (; i < n->nargs && n->args[i].k == SV_ARG_TAG; i++)
		if (!check_tag(p, c, sp, n, &i, &seen))
			return;
	if (sp->op == SV_OP_SIZE && !(seen & T_SIZE)) {
		perr(p, n->line, "size needs :over or :under");
		return;
	}
	const char *pos = sp->pos;
	bool optional_first = pos[0] == 'o';
	if (optional_first)
		pos++;
	size_t want = strlen(pos), have = 0;
	struct sv_arg *pa[4];
	for (; i < n->nargs; i++) {
		if (n->args[i].k == SV_ARG_TAG) {
			perr(p, n->args[i].line, "tag :%.32s must come before the other arguments of '%s'",
			    n->args[i].tag, n->name);
			return;
		}
		if (have >= 3) {
			perr(p, n->args[i].line, "too many arguments for '%s'", n->name);
			return;
		}
		pa[have++] = &n->args[i];
	}
	size_t skip = 0;
	if (optional_first && have == want + 1) {
		if (pa[0]->k != SV_ARG_LIST || pa[0]->l.n != 1 || pa[0]->bracketed) {
			perr(p, pa[0]->line, "the first argument of '%s' is a variable name", n->name);
			return;
		}
		if (!(c->exts & SV_EXT_VARIABLES)) {
			perr(p, pa[0]->line, "a variable name for '%s' needs require \"variables\"", n->name);
			return;
		}
		if (!sv_var_name_ok(pa[0]->l.v[0].s, pa[0]->l.v[0].len, false)) {
			perr(p, pa[0]->line, "bad variable name \"%.64s\"", pa[0]->l.v[0].s);
			return;
		}
		n->pos[n->npos++] = &pa[0]->l;
		skip = 1;
	} else if (have != want) {
		perr(p, n->line, "'%s' takes %zu argument%s%s, not %zu", n->name, want,
		    want == 1 ? "" : "s", optional_first ? " (and a variable name before them)" : "", have);
		return;
	}
	for (size_t k = 0; k < want; k++) {
		struct sv_arg *a = pa[k + skip];
		char t = pos[k];
		if (t == 'N') {
			if (a->k != SV_ARG_NUM) {
				perr(p, a->line, "argument %zu of '%s' must be a number", k + 1, n->name);
				return;
			}
			n->num = a->num;
		} else {
			if (a->k != SV_ARG_LIST) {
				perr(p, a->line, "argument %zu of '%s' must be a %s, not a number", k + 1,
				    n->name, t == 'S' ? "string" : "string list");
				return;
			}
			if (t == 'S' && (a->l.n != 1 || a->bracketed)) {
				perr(p, a->line, "argument %zu of '%s' must be one string, not a list",
				    k + 1, n->name);
				return;
			}
			n->pos[n->npos++] = &a->l;
		}
	}

	/* tests and blocks */
	if (sp->tests == 0 && n->ntests > 0) {
		perr(p, n->line, "'%s' takes no test", n->name);
		return;
	}
	if (sp->tests == 1 && (n->ntests != 1 || n->test_list)) {
		perr(p, n->line, "'%s' needs one test%s", n->name, n->test_list ? ", not a test list" : "");
		return;
	}
	if (sp->tests == 2 && !n->test_list) {
		perr(p, n->line, "'%s' needs a test list: ( test, test ... )", n->name);
		return;
	}
	if (sp->block && !n->has_block) {
		perr(p, n->line, "'%s' needs a block { ... }", n->name);
		return;
	}
	if (!sp->block && n->has_block) {
		perr(p, n->line, "'%s' takes no block", n->name);
		return;
	}
	for (size_t k = 0; k < n->ntests && !p->failed; k++)
		check_node(p, c, n->tests[k], true, false);
	if (p->failed)
		return;

	/* per command */
	if (n->last && n->index == 0) {
		perr(p, n->line, ":last needs :index");
		return;
	}
	if (n->cmp == SV_CMP_NUMERIC && (n->match == SV_M_CONTAINS || n->match == SV_M_MATCHES ||
	    n->match == SV_M_REGEX)) {
		perr(p, n->line, "comparator i;ascii-numeric cannot be used with :%s",
		    n->match == SV_M_CONTAINS ? "contains" : n->match == SV_M_MATCHES ? "matches" : "regex");
		return;
	}
	if (sp->test && n->match == SV_M_REGEX && n->npos > 0) {
		struct sv_slist *keys = n->pos[n->npos - 1];
		for (size_t k = 0; k < keys->n; k++) {
			struct sv_str *x = &keys->v[k];
			if (x->len > SIEVE_REGEX_MAX_BYTES) {
				perr(p, n->line, "regular expression too long (at most %d bytes)",
				    SIEVE_REGEX_MAX_BYTES);
				return;
			}
			if (x->vars)
				continue;
			const char *why = NULL;
			if ((x->re_cost = sv_regex_check(x->s, x->len, &why)) < 0) {
				perr(p, n->line, "%s: \"%.64s\"", why, x->s);
				return;
			}
			x->re = xmalloc(sizeof(*x->re));
			int rc = regcomp(x->re, x->s, sv_regex_flags(n->cmp));
			if (rc != 0) {
				char eb[100];
				regerror(rc, x->re, eb, sizeof(eb));
				free(x->re);
				x->re = NULL;
				perr(p, n->line, "invalid regular expression \"%.64s\": %s", x->s, eb);
				return;
			}
		}
	}
	switch (sp->op) {
	case SV_OP_REQUIRE:
		for (size_t k = 0; k < n->pos[0]->n; k++) {
			const char *e = n->pos[0]->v[k].s;
			size_t j;
			for (j = 0; j < sizeof(ext_names) / sizeof(ext_names[0]); j++)
				if (strcmp(ext_names[j].name, e) == 0)
					break;
			if (j == sizeof(ext_names) / sizeof(ext_names[0])) {
				perr(p, n->line, "unsupported extension \"%.64s\"", e);
				return;
			}
			c->exts |= ext_names[j].bit;
			if (ext_names[j].bit == SV_EXT_EREJECT)
				c->exts |= SV_EXT_EREJECT;
		}
		break;
	case SV_OP_ELSIF:
	case SV_OP_ELSE:
		if (c->prev == NULL || (c->prev->op != SV_OP_IF && c->prev->op != SV_OP_ELSIF)) {
			perr(p, n->line, "'%s' must follow 'if' or 'elsif'", n->name);
			return;
		}
		c->prev->next_branch = n;
		break;
	case SV_OP_REDIRECT: {
		const struct sv_str *x = &n->pos[0]->v[0];
		if (!x->vars && !address_ok(x->s, x->len)) {
			perr(p, n->line, "redirect: \"%.64s\" is not an address", x->s);
			return;
		}
		break;
	}
	case SV_OP_FILEINTO: {
		const struct sv_str *x = &n->pos[0]->v[0];
		if (!x->vars && (x->len == 0 || !utf8_ok(x->s, x->len))) {
			perr(p, n->line, "fileinto: bad mailbox name \"%.64s\"", x->s);
			return;
		}
		break;
	}
	case SV_OP_VACATION:
		if (!n->has_days)
			n->seconds = SIEVE_VACATION_DEFAULT_DAYS * 86400ul;
		break;
	case SV_OP_SET:
		if (!sv_var_name_ok(n->pos[0]->v[0].s, n->pos[0]->v[0].len, false)) {
			perr(p, n->line, "set: bad variable name \"%.64s\"", n->pos[0]->v[0].s);
			return;
		}
		n->pos[0]->v[0].vars = false;
		break;
	case SV_OP_GLOBAL:
		if (!(c->exts & SV_EXT_VARIABLES)) {
			perr(p, n->line, "'global' needs require \"variables\"");
			return;
		}
		for (size_t k = 0; k < n->pos[0]->n; k++) {
			struct sv_str *x = &n->pos[0]->v[k];
			if (!sv_var_name_ok(x->s, x->len, false)) {
				perr(p, n->line, "global: bad variable name \"%.64s\"", x->s);
				return;
			}
			char *low = mm_strlower(xstrdup(x->s));
			if (!mm_strlist_contains(&p->sc->globals, low))
				mm_strlist_add(&p->sc->globals, low);
			free(low);
		}
		break;
	case SV_OP_INCLUDE:
		check_include(p, n);
		break;
	case SV_OP_ENVELOPE:
		for (size_t k = 0; k < n->pos[0]->n; k++) {
			const struct sv_str *x = &n->pos[0]->v[k];
			if (!x->vars && !mm_strcaseeq(x->s, "from") && !mm_strcaseeq(x->s, "to") &&
			    !mm_strcaseeq(x->s, "auth")) {
				perr(p, n->line, "envelope: unknown envelope part \"%.32s\"", x->s);
				return;
			}
		}
		break;
	case SV_OP_DATE:
	case SV_OP_CURRENTDATE: {
		const struct sv_str *x = &n->pos[n->op == SV_OP_DATE ? 1 : 0]->v[0];
		if (!x->vars) {
			size_t k;
			for (k = 0; k < sizeof(date_parts) / sizeof(date_parts[0]); k++)
				if (mm_strcaseeq(x->s, date_parts[k]))
					break;
			if (k == sizeof(date_parts) / sizeof(date_parts[0])) {
				perr(p, n->line, "%s: unknown date part \"%.32s\"", n->name, x->s);
				return;
			}
		}
		break;
	}
	default:
		break;
	}
	if (n->has_block) {
		struct chk inner = *c;
		inner.prev = NULL;
		check_block(p, &inner, n->block, n->nblock, false);
		c->exts = inner.exts;
	}
}

static void
check_block(struct parser *p, struct chk *c, struct sv_node **v, size_t nv, bool top)
{
	c->prev = NULL;
	for (size_t i = 0; i < nv && !p->failed; i++) {
		check_node(p, c, v[i], false, top);
		c->prev = v[i];
	}
}

static struct sieve_script *
compile_one(struct parser *parent, const char *text, size_t len, const char *name,
    bool global, struct sieve_error *err)
{
	struct parser p;
	memset(&p, 0, sizeof(p));
	memset(err, 0, sizeof(*err));
	p.err = err;
	p.lim = parent->lim;
	p.inc = parent->inc;
	p.inc_depth = parent->inc_depth;
	p.inc_stack = parent->inc_stack;
	struct sieve_script *sc = xcalloc(1, sizeof(*sc));
	sc->name = xstrdup(name);
	sc->global_src = global;
	mm_strlist_init(&sc->globals);
	p.sc = sc;
	if (len > p.lim->max_script_bytes) {
		perr(&p, 0, "script too large (%zu bytes, at most %zu)", len, p.lim->max_script_bytes);
		goto fail;
	}
	if (memchr(text, '\0', len) != NULL) {
		const char *z = memchr(text, '\0', len);
		unsigned line = 1;
		for (const char *q = text; q < z; q++)
			line += *q == '\n';
		perr(&p, line, "NUL byte in the script");
		goto fail;
	}
	if (!utf8_ok(text, len)) {
		size_t i = 0;
		unsigned line = 1;
		uint32_t cp;
		while (i < len) {
			size_t k = mm_utf8_decode((const unsigned char *)text + i, len - i, &cp);
			if (k == 0)
				break;
			line += text[i] == '\n';
			i += k;
		}
		perr(&p, line, "the script is not valid UTF-8");
		goto fail;
	}
	sv_lex_init(&p.lx, text, len);
	next(&p);
	parse_commands(&p, &sc->cmds, &sc->ncmds, true);
	sv_lex_free(&p.lx);
	if (!p.failed) {
		struct chk c;
		memset(&c, 0, sizeof(c));
		check_block(&p, &c, sc->cmds, sc->ncmds, true);
		sc->exts = c.exts;
	}
	if (!p.failed)
		return sc;
fail:
	sieve_script_free(&sc);
	return NULL;
}

bool
sieve_compile(const char *text, size_t len, const struct sieve_limits *lim,
    const struct sieve_include_if *inc, struct sieve_script **s_r, struct sieve_error *err_r)
{
	struct sieve_limits def;
	if (lim == NULL) {
		sieve_limits_default(&def);
		lim = &def;
	}
	struct mm_strlist stack;
	mm_strlist_init(&stack);
	struct parser top;
	memset(&top, 0, sizeof(top));
	top.lim = lim;
	top.inc = inc;
	top.inc_stack = &stack;
	mm_strlist_add(&stack, "p");	/* the main script */
	*s_r = compile_one(&top, text ? text : "", len, "", false, err_r);
	mm_strlist_clear(&stack);
	return *s_r != NULL;
}

void
sieve_limits_default(struct sieve_limits *l)
{
	l->max_script_bytes = SIEVE_SCRIPT_MAX_BYTES;
	l->max_actions = SIEVE_ACTIONS_MAX;
	l->max_redirects = SIEVE_REDIRECTS_MAX;
	l->vacation_min_days = SIEVE_VACATION_MIN_DAYS;
	l->max_steps = SIEVE_STEPS_MAX;
	l->max_header_bytes = SIEVE_TEST_HEADER_MAX_BYTES;
	l->max_body_bytes = SIEVE_TEST_BODY_MAX_BYTES;
}
