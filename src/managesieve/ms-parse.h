/* ms-parse.h: ManageSieve (RFC 5804) command parsing, pure: a command is
 * a name followed by strings (quoted, or literals {n+} / {n}) and numbers.
 * The session joins the command's lines and literal bytes into one buffer
 * (exactly as they came, CRLF included) and parses it here. */
#ifndef MM_MS_PARSE_H
#define MM_MS_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MS_ARGS_MAX          4
#define MS_VERB_MAX_BYTES    32
#define MS_LINE_MAX_BYTES    8192     /* one line outside literals */
#define MS_QUOTED_MAX_BYTES  1024     /* RFC 5804 4: quoted strings are short */

enum ms_argk { MS_ARG_STRING = 0, MS_ARG_NUMBER };

struct ms_arg {
	enum ms_argk k;
	char *s;		/* NUL-terminated (may hold NULs: use len) */
	size_t len;
	uint64_t num;
};

struct ms_cmd {
	char verb[MS_VERB_MAX_BYTES + 1];	/* upper case */
	struct ms_arg args[MS_ARGS_MAX];
	size_t nargs;
};

/* Does the line (without its CRLF) end in a literal marker? Sets the
 * literal's size and whether it is synchronizing ({n}, no '+'). */
bool ms_literal_marker(const char *line, size_t len, uint64_t *n_r, bool *sync_r);
/* Parses one whole command. false with a message in err. */
bool ms_parse(const char *buf, size_t len, struct ms_cmd *cmd, char *err, size_t errlen);
void ms_cmd_free(struct ms_cmd *cmd);
/* Appends s as a ManageSieve string: quoted when short and plain, else a
 * literal {n}CRLF... */
struct mm_buf;
void ms_append_string(struct mm_buf *b, const char *s, size_t len);

#endif
