/* pop3-stuff.h: the body of a RETR or TOP answer, produced chunk by chunk:
 * byte-stuffing of lines that start with '.', TOP's "headers, blank line,
 * n body lines" cut, and the final CRLF.CRLF (RFC 1939 3, 7). Pure, so the
 * chunk-boundary cases are unit tested at every split point; RETR runs it
 * on a worker thread on each 64 KiB chunk read from the store. */
#ifndef MM_POP3_STUFF_H
#define MM_POP3_STUFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/util.h"

struct pop3_stuff {
	bool bol;            /* the next byte starts a line */
	bool top;            /* TOP: cut after the header and n body lines */
	bool in_header;      /* TOP: still in the header */
	bool line_empty;     /* the current line has no bytes but CR so far */
	uint32_t lines_left; /* TOP: body lines still to send */
	bool done;           /* TOP: the cut was reached; the rest is ignored */
};

/* RETR: top false. TOP msg n: top true, lines n. */
void pop3_stuff_init(struct pop3_stuff *st, bool top, uint32_t lines);
/* Appends the stuffed form of in[0..len) to out. After done is set the
 * input is ignored (the caller may stop reading). */
void pop3_stuff_chunk(struct pop3_stuff *st, const char *in, size_t len,
    struct mm_buf *out);
/* Ends the answer: a CRLF if the message did not end with a line end,
 * then ".\r\n". */
void pop3_stuff_finish(struct pop3_stuff *st, struct mm_buf *out);

#endif
