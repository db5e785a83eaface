/* pop3-stuff.c: byte-stuffing and the TOP cut for RETR/TOP answers. The
 * one idea: the only state carried across chunks is "at the beginning of
 * a line" (plus, for TOP, "in the header" and "is this line empty so
 * far"), so a message may be cut into chunks anywhere. RETR takes the fast
 * path: copy runs between line feeds with memchr, adding a '.' before each
 * line that starts with one. A line ends at LF (the store holds CRLF; a
 * stray bare LF still ends a line, so stuffing can never be bypassed). */
#include "pop3/pop3-stuff.h"

#include <string.h>

void
pop3_stuff_init(struct pop3_stuff *st, bool top, uint32_t lines)
{
	st->bol = true;
	st->top = top;
	st->in_header = top;
	st->line_empty = true;
	st->lines_left = lines;
	st->done = false;
}

static void
chunk_retr(struct pop3_stuff *st, const char *in, size_t len, struct mm_buf *out)
{
	const char *p = in, *end = in + len;

	mm_buf_reserve(out, len + len / 64 + 8);
	while (p < end) {
		if (st->bol && *p == '.')
			mm_buf_appendc(out, '.');
		const char *lf = memchr(p, '\n', (size_t)(end - p));
		if (lf == NULL) {
			mm_buf_append(out, p, (size_t)(end - p));
			st->bol = false;
			return;
		}
		mm_buf_append(out, p, (size_t)(lf + 1 - p));
		st->bol = true;
		p = lf + 1;
	}
}

static void
chunk_top(struct pop3_stuff *st, const char *in, size_t len, struct mm_buf *out)
{
	if (!st->in_header && st->lines_left == 0)
		st->done = true;
	for (size_t i = 0; i < len && !st->done; i++) {
		char ch = in[i];
		if (st->bol && ch == '.')
			mm_buf_appendc(out, '.');
		mm_buf_appendc(out, ch);
		st->bol = false;
		if (ch == '\n') {
			st->bol = true;
			if (st->in_header) {
				if (st->line_empty)
					st->in_header = false;  /* the blank line */
			} else {
				st->lines_left--;
			}
			st->line_empty = true;
			if (!st->in_header && st->lines_left == 0)
				st->done = true;
		} else if (ch != '\r') {
			st->line_empty = false;
		}
	}
}

void
pop3_stuff_chunk(struct pop3_stuff *st, const char *in, size_t len,
    struct mm_buf *out)
{
	if (st->done || len == 0)
		return;
	if (st->top)
		chunk_top(st, in, len, out);
	else
		chunk_retr(st, in, len, out);
}

void
pop3_stuff_finish(struct pop3_stuff *st, struct mm_buf *out)
{
	if (!st->bol)
		mm_buf_append(out, "\r\n", 2);
	mm_buf_append(out, ".\r\n", 3);
	st->done = true;
}
