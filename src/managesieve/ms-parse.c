/* ms-parse.c: the ManageSieve command grammar (RFC 5804 4): command name
 * (an atom), then arguments separated by one space: quoted strings
 * ("..." with \" and \\), literals ({n+} or {n} CRLF and n bytes) and
 * numbers, then CRLF. The one idea: the session hands over the command
 * exactly as received, literals inline, so this parser sees every byte
 * once and a literal's length is checked against what follows it. */
#include "managesieve/ms-parse.h"
#include "lib/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool
ms_literal_marker(const char *line, size_t len, uint64_t *n_r, bool *sync_r)
{
	if (len < 3 || line[len - 1] != '}')
		return false;
	size_t i = len - 1;
	bool plus = line[i - 1] == '+';
	if (plus)
		i--;
	size_t end = i;
	while (i > 0 && line[i - 1] >= '0' && line[i - 1] <= '9')
		i--;
	if (i == end || i == 0 || line[i - 1] != '{' || end - i > 10)
		return false;
	uint64_t n = 0;
	for (size_t k = i; k < end; k++)
		n = n * 10 + (uint64_t)(line[k] - '0');
	*n_r = n;
	*sync_r = !plus;
	return true;
}

void
ms_cmd_free(struct ms_cmd *cmd)
{
	for (size_t i = 0; i < cmd->nargs; i++) {
		if (cmd->args[i].s) {
			explicit_bzero(cmd->args[i].s, cmd->args[i].len);
			free(cmd->args[i].s);
		}
	}
	memset(cmd, 0, sizeof(*cmd));
}

static bool
fail(char *err, size_t errlen, const char *msg)
{
	snprintf(err, errlen, "%s", msg);
	return false;
}

bool
ms_parse(const char *buf, size_t len, struct ms_cmd *cmd, char *err, size_t errlen)
{
	memset(cmd, 0, sizeof(*cmd));
	size_t i = 0;
	/* the command name */
	while (i < len && ((buf[i] >= 'A' && buf[i] <= 'Z') || (buf[i] >= 'a' && buf[i] <= 'z'))) {
		if (i >= MS_VERB_MAX_BYTES)
			return fail(err, errlen, "Command name too long");
		cmd->verb[i] = (char)(buf[i] >= 'a' ? buf[i] - 32 : buf[i]);
		i++;
	}
	if (i == 0)
		return fail(err, errlen, "Expected a command name");
	for (;;) {
		if (i + 2 == len && buf[i] == '\r' && buf[i + 1] == '\n')
			return true;
		if (i >= len) {
			ms_cmd_free(cmd);
			return fail(err, errlen, "Missing CRLF");
		}
		if (buf[i] != ' ')
			goto bad;
		i++;
		if (cmd->nargs >= MS_ARGS_MAX) {
			ms_cmd_free(cmd);
			return fail(err, errlen, "Too many arguments");
		}
		struct ms_arg *a = &cmd->args[cmd->nargs];
		if (i < len && buf[i] == '"') {
			struct mm_buf b;
			mm_buf_init(&b);
			i++;
			for (;;) {
				if (i >= len || buf[i] == '\r' || buf[i] == '\n' || b.len > MS_QUOTED_MAX_BYTES) {
					mm_buf_free(&b);
					ms_cmd_free(cmd);
					return fail(err, errlen, "Bad quoted string");
				}
				if (buf[i] == '"')
					break;
				if (buf[i] == '\\') {
					if (i + 1 >= len || (buf[i + 1] != '"' && buf[i + 1] != '\\')) {
						mm_buf_free(&b);
						ms_cmd_free(cmd);
						return fail(err, errlen, "Bad escape in quoted string");
					}
					i++;
				}
				mm_buf_appendc(&b, buf[i++]);
			}
			i++;
			a->k = MS_ARG_STRING;
			a->len = b.len;
			mm_buf_cstr(&b);
			a->s = b.data;
			cmd->nargs++;
		} else if (i < len && buf[i] == '{') {
			const char *crlf = memmem(buf + i, len - i, "}\r\n", 3);
			uint64_t n;
			bool sync;
			if (crlf == NULL || !ms_literal_marker(buf + i, (size_t)(crlf - buf - i) + 1, &n, &sync)) {
				ms_cmd_free(cmd);
				return fail(err, errlen, "Bad literal");
			}
			i = (size_t)(crlf - buf) + 3;
			if (n > len - i) {
				ms_cmd_free(cmd);
				return fail(err, errlen, "Literal longer than the data");
			}
			a->k = MS_ARG_STRING;
			a->len = (size_t)n;
			a->s = xmalloc((size_t)n + 1);
			memcpy(a->s, buf + i, (size_t)n);
			a->s[n] = '\0';
			i += (size_t)n;
			cmd->nargs++;
		} else if (i < len && buf[i] >= '0' && buf[i] <= '9') {
			uint64_t n = 0;
			size_t d = 0;
			while (i < len && buf[i] >= '0' && buf[i] <= '9') {
				if (++d > 10) {
					ms_cmd_free(cmd);
					return fail(err, errlen, "Number too large");
				}
				n = n * 10 + (uint64_t)(buf[i++] - '0');
			}
			a->k = MS_ARG_NUMBER;
			a->num = n;
			cmd->nargs++;
		} else {
			goto bad;
		}
	}
bad:
	ms_cmd_free(cmd);
	return fail(err, errlen, "Syntax error in arguments");
}

void
ms_append_string(struct mm_buf *b, const char *s, size_t len)
{
	bool quote = len <= MS_QUOTED_MAX_BYTES;
	for (size_t i = 0; i < len && quote; i++)
		if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0')
			quote = false;
	if (!quote) {
		mm_buf_printf(b, "{%zu}\r\n", len);
		mm_buf_append(b, s, len);
		return;
	}
	mm_buf_appendc(b, '"');
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '"' || s[i] == '\\')
			mm_buf_appendc(b, '\\');
		mm_buf_appendc(b, s[i]);
	}
	mm_buf_appendc(b, '"');
}
