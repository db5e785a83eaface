/* fuzz_pop3.c: libFuzzer harness for the POP3 command parser
 * (pop3/pop3-parse.c) and the RETR/TOP byte-stuffer (pop3/pop3-stuff.c).
 *
 * Input: byte 0 holds k (low 4 bits) and TOP (bit 4); byte 1 is TOP's
 * line count; then k chunk sizes (1..256); the rest is both a series of
 * command lines (split at LF, CR stripped) and a stored message. The
 * stuffer runs on the whole message and on the chunks: the two outputs
 * must be equal, no line but the last may be the terminator ".", and
 * undoing the stuffing gives the message back (RETR) or exactly the
 * header, the blank line and n body lines (TOP, computed here
 * independently). */
#include "fuzz/fuzz.h"

#include "pop3/pop3-parse.h"
#include "pop3/pop3-stuff.h"

static void
check_line(const char *line, size_t len)
{
	struct pop3_cmd *cmd = malloc(sizeof(*cmd));
	enum pop3_parse_result r = pop3_parse(line, len, cmd);
	FUZZ_CHECK(pop3_verb_name(cmd->verb) != NULL);
	if (r == POP3_PARSE_OK) {
		FUZZ_CHECK(cmd->error == NULL);
		FUZZ_CHECK(cmd->verb != POP3_VERB_NONE && cmd->verb < POP3_VERB_COUNT);
		FUZZ_CHECK(cmd->arglen == strlen(cmd->arg));
		FUZZ_CHECK(cmd->arg2len == strlen(cmd->arg2));
		FUZZ_CHECK(cmd->has_arg2 == (cmd->arg2len > 0));
		FUZZ_CHECK(cmd->arglen <= len && cmd->arg2len <= len);
		if (cmd->verb != POP3_VERB_AUTH)
			FUZZ_CHECK(len <= POP3_CMD_MAX_BYTES);
		if (cmd->verb == POP3_VERB_USER)
			FUZZ_CHECK(cmd->arglen > 0 && cmd->arglen <= ADDRESS_MAX_BYTES);
	} else {
		FUZZ_CHECK(cmd->error != NULL && cmd->error[0] != '\0');
	}
	free(cmd);
}

/* End (exclusive) of what TOP n sends of msg: the header up to and with
 * the first line holding nothing but CRs, then n lines (a line ends at
 * LF). */
static size_t
top_cut(const char *msg, size_t len, uint32_t n)
{
	size_t i = 0;
	bool in_header = true;
	while (i < len) {
		if (!in_header && n == 0)
			return i;
		const char *lf = memchr(msg + i, '\n', len - i);
		if (lf == NULL)
			return len;
		size_t end = (size_t)(lf - msg) + 1;
		if (in_header) {
			bool empty = true;
			for (size_t j = i; j < end - 1; j++)
				empty = empty && msg[j] == '\r';
			if (empty)
				in_header = false;
		} else {
			n--;
		}
		i = end;
	}
	return len;
}

static void
stuff(const char *msg, size_t len, bool top, uint32_t lines,
    const uint8_t *sizes, size_t nsizes, struct mm_buf *out)
{
	struct pop3_stuff st;
	size_t off = 0, k = 0;
	pop3_stuff_init(&st, top, lines);
	while (off < len) {
		size_t n = len - off;
		if (sizes != NULL) {
			size_t want = nsizes ? (size_t)sizes[k++ % nsizes] + 1 : 1;
			if (want < n)
				n = want;
		}
		pop3_stuff_chunk(&st, msg + off, n, out);
		off += n;
	}
	pop3_stuff_finish(&st, out);
}

static void
check_stuff(const char *msg, size_t len, bool top, uint32_t lines,
    const uint8_t *sizes, size_t nsizes)
{
	struct mm_buf a, b;
	mm_buf_init(&a);
	mm_buf_init(&b);
	stuff(msg, len, top, lines, NULL, 0, &a);
	stuff(msg, len, top, lines, sizes, nsizes, &b);
	FUZZ_CHECK(fuzz_memeq(a.data, a.len, b.data, b.len));

	/* ends with the terminator; no earlier line is one; unstuff */
	FUZZ_CHECK(a.len >= 3 && memcmp(a.data + a.len - 3, ".\r\n", 3) == 0);
	FUZZ_CHECK(a.len == 3 || a.data[a.len - 4] == '\n');
	struct mm_buf u;
	mm_buf_init(&u);
	size_t i = 0, body = a.len - 3;
	while (i < body) {
		const char *lf = memchr(a.data + i, '\n', body - i);
		size_t end = lf ? (size_t)(lf - a.data) + 1 : body;
		if (a.data[i] == '.') {
			FUZZ_CHECK(end - i >= 2 && a.data[i + 1] == '.');
			i++;
		}
		mm_buf_append(&u, a.data + i, end - i);
		i = end;
	}
	size_t want = top ? top_cut(msg, len, lines) : len;
	size_t got = u.len;
	/* a CRLF is added when the sent part did not end with LF */
	if (want > 0 && msg[want - 1] != '\n') {
		FUZZ_CHECK(got >= 2 && memcmp(u.data + got - 2, "\r\n", 2) == 0);
		got -= 2;
	}
	if (got != want)
		fprintf(stderr, "unstuffed %zu bytes, want %zu\n", got, want);
	FUZZ_CHECK(fuzz_memeq(u.data, got, msg, want));
	mm_buf_free(&u);
	mm_buf_free(&a);
	mm_buf_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	size_t k = data[0] & 0x0f;
	bool top = (data[0] & 0x10) != 0;
	uint32_t lines = data[1];
	if (size < 2 + k)
		return 0;
	const uint8_t *sizes = data + 2;
	size_t len = size - 2 - k;
	char *msg = fuzz_dup(data + 2 + k, len);

	for (size_t i = 0; i < len;) {
		const char *lf = memchr(msg + i, '\n', len - i);
		size_t end = lf ? (size_t)(lf - msg) : len;
		size_t n = end - i;
		if (n > 0 && msg[end - 1] == '\r')
			n--;
		char *line = fuzz_dup(msg + i, n);
		check_line(line, n);
		free(line);
		i = end + 1;
	}
	check_stuff(msg, len, top, lines, sizes, k);
	free(msg);
	return 0;
}
