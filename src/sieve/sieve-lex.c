/* sieve-lex.c: the Sieve lexer (RFC 5228 8.1). It turns script bytes into
 * tokens one at a time for the parser: identifiers, tags, numbers with
 * their K/M/G quantifiers, quoted strings (backslash escapes removed) and
 * multi-line "text:" strings (dot-unstuffed), brackets and separators.
 * Comments ('#' to the end of the line, and bracketed) are skipped.
 * Lines are counted so that every error names one. The whole script is
 * in memory (it is bounded by max_script_size), so a token never spans
 * a read. */
#include "sieve/sieve-int.h"

#include <stdio.h>
#include <string.h>

void
sv_lex_init(struct sv_lexer *lx, const char *text, size_t len)
{
	memset(lx, 0, sizeof(*lx));
	lx->p = text;
	lx->end = text + len;
	lx->line = 1;
	mm_buf_init(&lx->text);
}

void
sv_lex_free(struct sv_lexer *lx)
{
	mm_buf_free(&lx->text);
}

static enum sv_tok
lex_error(struct sv_lexer *lx, const char *msg)
{
	snprintf(lx->err, sizeof(lx->err), "%s", msg);
	if (lx->p >= lx->end && lx->line != lx->tok_line) {
		/* cut off by the end of the script: the error is there (as
		 * Pigeonhole reports it), and the message says where it began */
		snprintf(lx->err, sizeof(lx->err), "%s (started at line %u)", msg, lx->tok_line);
		lx->tok_line = lx->line;
	}
	lx->tok = SV_T_ERROR;
	return SV_T_ERROR;
}

static bool
is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool
is_digit(int c)
{
	return c >= '0' && c <= '9';
}

/* Skips white space and comments; false on an unterminated comment. */
static bool
skip_space(struct sv_lexer *lx)
{
	while (lx->p < lx->end) {
		char c = *lx->p;
		if (c == '\n') {
			lx->line++;
			lx->p++;
		} else if (c == ' ' || c == '\t' || c == '\r') {
			lx->p++;
		} else if (c == '#') {
			while (lx->p < lx->end && *lx->p != '\n')
				lx->p++;
		} else if (c == '/' && lx->p + 1 < lx->end && lx->p[1] == '*') {
			lx->p += 2;
			for (;;) {
				if (lx->p + 1 >= lx->end) {
					lx->p = lx->end;
					return false;
				}
				if (lx->p[0] == '*' && lx->p[1] == '/') {
					lx->p += 2;
					break;
				}
				if (*lx->p == '\n')
					lx->line++;
				lx->p++;
			}
		} else {
			break;
		}
	}
	return true;
}

static enum sv_tok
lex_quoted(struct sv_lexer *lx)
{
	lx->p++;	/* the opening quote */
	for (;;) {
		if (lx->p >= lx->end)
			return lex_error(lx, "unterminated quoted string");
		char c = *lx->p++;
		if (c == '"')
			break;
		if (c == '\\') {
			if (lx->p >= lx->end)
				return lex_error(lx, "unterminated quoted string");
			c = *lx->p++;
		}
		if (c == '\n')
			lx->line++;
		mm_buf_appendc(&lx->text, c);
	}
	lx->tok = SV_T_STR;
	return SV_T_STR;
}

/* After "text:": optional white space and a comment, a line end, then
 * lines up to a line holding only ".". */
static enum sv_tok
lex_multiline(struct sv_lexer *lx)
{
	while (lx->p < lx->end && (*lx->p == ' ' || *lx->p == '\t'))
		lx->p++;
	if (lx->p < lx->end && *lx->p == '#')
		while (lx->p < lx->end && *lx->p != '\n')
			lx->p++;
	if (lx->p < lx->end && *lx->p == '\r')
		lx->p++;
	if (lx->p >= lx->end || *lx->p != '\n')
		return lex_error(lx, "text: must be followed by a line end");
	lx->p++;
	lx->line++;
	for (;;) {
		const char *eol = memchr(lx->p, '\n', (size_t)(lx->end - lx->p));
		if (eol == NULL)
			return lex_error(lx, "unterminated multi-line string (no line with a single '.')");
		const char *s = lx->p;
		size_t n = (size_t)(eol - s);
		size_t content = n > 0 && s[n - 1] == '\r' ? n - 1 : n;
		lx->p = eol + 1;
		lx->line++;
		if (content == 1 && s[0] == '.')
			break;
		if (content > 0 && s[0] == '.') {
			s++;	/* dot-unstuffing: ".." starts the line with "." */
			n--;
		}
		/* lines keep their line end, as CRLF */
		size_t body = n > 0 && s[n - 1] == '\r' ? n - 1 : n;
		mm_buf_append(&lx->text, s, body);
		mm_buf_append(&lx->text, "\r\n", 2);
	}
	lx->tok = SV_T_STR;
	return SV_T_STR;
}

static enum sv_tok
lex_number(struct sv_lexer *lx)
{
	uint64_t v = 0;
	while (lx->p < lx->end && is_digit(*lx->p)) {
		unsigned d = (unsigned)(*lx->p++ - '0');
		if (v > (UINT64_MAX - d) / 10)
			return lex_error(lx, "number too large");
		v = v * 10 + d;
	}
	uint64_t mul = 1;
	if (lx->p < lx->end) {
		switch (*lx->p) {
		case 'K': case 'k': mul = 1024; break;
		case 'M': case 'm': mul = 1024 * 1024; break;
		case 'G': case 'g': mul = 1024 * 1024 * 1024; break;
		}
		if (mul != 1)
			lx->p++;
	}
	if (lx->p < lx->end && (is_alpha(*lx->p) || is_digit(*lx->p)))
		return lex_error(lx, "bad number (digits and one of K, M, G)");
	if (v > UINT64_MAX / mul)
		return lex_error(lx, "number too large");
	lx->num = v * mul;
	lx->tok = SV_T_NUM;
	return SV_T_NUM;
}

enum sv_tok
sv_lex_next(struct sv_lexer *lx)
{
	lx->text.len = 0;
	lx->tok_line = lx->line;
	if (!skip_space(lx))
		return lex_error(lx, "unterminated comment");
	lx->tok_line = lx->line;
	if (lx->p >= lx->end) {
		lx->tok = SV_T_EOF;
		return SV_T_EOF;
	}
	char c = *lx->p;
	static const struct { char c; enum sv_tok t; } punct[] = {
		{ '[', SV_T_LBRACKET }, { ']', SV_T_RBRACKET }, { '(', SV_T_LPAREN },
		{ ')', SV_T_RPAREN }, { '{', SV_T_LBRACE }, { '}', SV_T_RBRACE },
		{ ',', SV_T_COMMA }, { ';', SV_T_SEMI },
	};
	for (size_t i = 0; i < sizeof(punct) / sizeof(punct[0]); i++) {
		if (punct[i].c == c) {
			lx->p++;
			lx->tok = punct[i].t;
			return lx->tok;
		}
	}
	if (c == '"')
		return lex_quoted(lx);
	if (is_digit(c))
		return lex_number(lx);
	if (c == ':') {
		lx->p++;
		if (lx->p >= lx->end || !is_alpha(*lx->p))
			return lex_error(lx, "':' must start a tag (':' followed by a name)");
		while (lx->p < lx->end && (is_alpha(*lx->p) || is_digit(*lx->p)))
			mm_buf_appendc(&lx->text, *lx->p++);
		lx->tok = SV_T_TAG;
		return SV_T_TAG;
	}
	if (is_alpha(c)) {
		while (lx->p < lx->end && (is_alpha(*lx->p) || is_digit(*lx->p)))
			mm_buf_appendc(&lx->text, *lx->p++);
		if (lx->text.len == 4 && mm_strncaseeq(lx->text.data, "text", 4) &&
		    lx->p < lx->end && *lx->p == ':') {
			lx->p++;
			lx->text.len = 0;
			return lex_multiline(lx);
		}
		lx->tok = SV_T_IDENT;
		return SV_T_IDENT;
	}
	if ((unsigned char)c < 0x20 || (unsigned char)c >= 0x7f)
		return lex_error(lx, "unexpected byte outside a string");
	snprintf(lx->err, sizeof(lx->err), "unexpected character '%c'", c);
	lx->tok = SV_T_ERROR;
	return SV_T_ERROR;
}
