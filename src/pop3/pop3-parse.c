/* pop3-parse.c: turns one POP3 command line into a verb and validated
 * arguments. The idea: a static table gives each verb its argument shape
 * (none, a message number, an optional one, a name, the rest of the line,
 * ...); the parser splits the line on spaces, checks the shape and bounds,
 * and either fills struct pop3_cmd or returns the reason and the exact
 * "-ERR" text. It never allocates and never reads past len. */
#include "pop3/pop3-parse.h"

#include <ctype.h>
#include <strings.h>
#include <string.h>

enum arg_shape {
	ARGS_NONE,        /* STAT NOOP RSET QUIT CAPA STLS */
	ARGS_MSG,         /* RETR DELE: one message number */
	ARGS_OPT_MSG,     /* LIST UIDL: optional message number */
	ARGS_MSG_LINES,   /* TOP: message number and line count */
	ARGS_NAME,        /* USER: one word */
	ARGS_REST,        /* PASS: the rest of the line */
	ARGS_SASL,        /* AUTH: [mechanism [initial-response]] */
};

static const struct {
	const char *name;
	enum pop3_verb verb;
	enum arg_shape shape;
} verbs[] = {
	{ "USER", POP3_VERB_USER, ARGS_NAME },
	{ "PASS", POP3_VERB_PASS, ARGS_REST },
	{ "AUTH", POP3_VERB_AUTH, ARGS_SASL },
	{ "STAT", POP3_VERB_STAT, ARGS_NONE },
	{ "LIST", POP3_VERB_LIST, ARGS_OPT_MSG },
	{ "RETR", POP3_VERB_RETR, ARGS_MSG },
	{ "DELE", POP3_VERB_DELE, ARGS_MSG },
	{ "NOOP", POP3_VERB_NOOP, ARGS_NONE },
	{ "RSET", POP3_VERB_RSET, ARGS_NONE },
	{ "QUIT", POP3_VERB_QUIT, ARGS_NONE },
	{ "TOP",  POP3_VERB_TOP,  ARGS_MSG_LINES },
	{ "UIDL", POP3_VERB_UIDL, ARGS_OPT_MSG },
	{ "CAPA", POP3_VERB_CAPA, ARGS_NONE },
	{ "STLS", POP3_VERB_STLS, ARGS_NONE },
};

#define MAX_TOKENS 4

struct token {
	const char *p;
	size_t len;
};

const char *
pop3_verb_name(enum pop3_verb verb)
{
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (verbs[i].verb == verb)
			return verbs[i].name;
	return "?";
}

/* Splits s on runs of spaces; returns the number of tokens, or
 * MAX_TOKENS + 1 when there are more. */
static size_t
split(const char *s, size_t len, struct token *tok)
{
	size_t n = 0, i = 0;

	while (i < len) {
		while (i < len && s[i] == ' ')
			i++;
		if (i == len)
			break;
		size_t start = i;
		while (i < len && s[i] != ' ')
			i++;
		if (n == MAX_TOKENS)
			return MAX_TOKENS + 1;
		tok[n].p = s + start;
		tok[n].len = i - start;
		n++;
	}
	return n;
}

/* A decimal number of 1..10 digits that fits in uint32_t. */
static bool
parse_u32(const struct token *t, uint32_t *v_r)
{
	uint64_t v = 0;

	if (t->len == 0 || t->len > 10)
		return false;
	for (size_t i = 0; i < t->len; i++) {
		if (t->p[i] < '0' || t->p[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(t->p[i] - '0');
	}
	if (v > UINT32_MAX)
		return false;
	*v_r = (uint32_t)v;
	return true;
}

static bool
printable(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f)
			return false;
	}
	return true;
}

static enum pop3_parse_result
bad(struct pop3_cmd *cmd, const char *why)
{
	cmd->error = why;
	return POP3_PARSE_BAD_ARGS;
}

static void
set_arg(char *dst, size_t *len_r, const char *src, size_t len)
{
	memcpy(dst, src, len);
	dst[len] = '\0';
	*len_r = len;
}

enum pop3_parse_result
pop3_parse(const char *line, size_t len, struct pop3_cmd *cmd)
{
	struct token tok[MAX_TOKENS];
	size_t vlen, i, ntok;
	enum arg_shape shape = ARGS_NONE;

	cmd->verb = POP3_VERB_NONE;
	cmd->has_msg = false;
	cmd->msg = 0;
	cmd->lines = 0;
	cmd->arg[0] = cmd->arg2[0] = '\0';
	cmd->arglen = cmd->arg2len = 0;
	cmd->has_arg2 = false;
	cmd->error = NULL;

	if (memchr(line, '\0', len) != NULL) {
		cmd->error = "Invalid command (NUL byte)";
		return POP3_PARSE_NUL;
	}
	if (len > POP3_SASL_LINE_MAX_BYTES) {
		cmd->error = "Line too long";
		return POP3_PARSE_TOO_LONG;
	}
	/* the keyword: 3 or 4 characters up to a space or the end */
	for (vlen = 0; vlen < len && line[vlen] != ' '; vlen++)
		;
	if (vlen == 0) {
		for (i = 0; i < len && line[i] == ' '; i++)
			;
		if (i == len) {
			cmd->error = "Empty command";
			return POP3_PARSE_EMPTY;
		}
		cmd->error = "Unknown command";
		return POP3_PARSE_UNKNOWN;
	}
	if (vlen <= 4) {
		for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
			if (strlen(verbs[i].name) == vlen &&
			    strncasecmp(verbs[i].name, line, vlen) == 0) {
				cmd->verb = verbs[i].verb;
				shape = verbs[i].shape;
				break;
			}
		}
	}
	/* Only AUTH (initial response) may exceed the RFC 2449 limit. */
	if (len > POP3_CMD_MAX_BYTES && cmd->verb != POP3_VERB_AUTH) {
		cmd->verb = POP3_VERB_NONE;
		cmd->error = "Line too long";
		return POP3_PARSE_TOO_LONG;
	}
	if (cmd->verb == POP3_VERB_NONE) {
		cmd->error = "Unknown command";
		return POP3_PARSE_UNKNOWN;
	}

	const char *rest = line + vlen;
	size_t restlen = len - vlen;

	if (shape == ARGS_REST) {
		/* PASS: exactly one separating space; the password is
		 * everything after it, spaces included (RFC 1939 7). */
		if (restlen < 2)
			return bad(cmd, "Missing argument");
		set_arg(cmd->arg, &cmd->arglen, rest + 1, restlen - 1);
		return POP3_PARSE_OK;
	}

	if (!printable(rest, restlen))
		return bad(cmd, "Invalid characters in command");
	ntok = split(rest, restlen, tok);

	switch (shape) {
	case ARGS_NONE:
		if (ntok != 0)
			return bad(cmd, "Too many arguments");
		break;
	case ARGS_MSG:
	case ARGS_OPT_MSG:
		if (ntok == 0) {
			if (shape == ARGS_MSG)
				return bad(cmd, "Missing message number");
			break;
		}
		if (ntok > 1)
			return bad(cmd, "Too many arguments");
		if (!parse_u32(&tok[0], &cmd->msg))
			return bad(cmd, "Invalid message number");
		cmd->has_msg = true;
		break;
	case ARGS_MSG_LINES:
		if (ntok < 2)
			return bad(cmd, "Usage: TOP msg lines");
		if (ntok > 2)
			return bad(cmd, "Too many arguments");
		if (!parse_u32(&tok[0], &cmd->msg))
			return bad(cmd, "Invalid message number");
		if (!parse_u32(&tok[1], &cmd->lines))
			return bad(cmd, "Invalid number of lines");
		cmd->has_msg = true;
		break;
	case ARGS_NAME:
		if (ntok == 0)
			return bad(cmd, "Missing user name");
		if (ntok > 1)
			return bad(cmd, "Too many arguments");
		if (tok[0].len > ADDRESS_MAX_BYTES)
			return bad(cmd, "User name too long");
		set_arg(cmd->arg, &cmd->arglen, tok[0].p, tok[0].len);
		break;
	case ARGS_SASL:
		if (ntok > 2)
			return bad(cmd, "Too many arguments");
		if (ntok >= 1) {
			if (tok[0].len > POP3_SASL_MECH_MAX_BYTES)
				return bad(cmd, "Invalid mechanism");
			set_arg(cmd->arg, &cmd->arglen, tok[0].p, tok[0].len);
			for (i = 0; i < cmd->arglen; i++)
				cmd->arg[i] = (char)toupper((unsigned char)cmd->arg[i]);
		} else if (len > POP3_CMD_MAX_BYTES) {
			cmd->verb = POP3_VERB_NONE;
			cmd->error = "Line too long";
			return POP3_PARSE_TOO_LONG;
		}
		if (ntok == 2) {
			set_arg(cmd->arg2, &cmd->arg2len, tok[1].p, tok[1].len);
			cmd->has_arg2 = true;
		}
		break;
	case ARGS_REST:
		break;
	}
	return POP3_PARSE_OK;
}
