/* fetch-stream.c: a FETCH literal of a large body, read from the store in
 * FETCH_STREAM_BYTES chunks (see fetch-stream.h). cmd-fetch.c decides
 * which items of which messages go this way and writes each chunk as a
 * batch of its own, so one FETCH holds at most a chunk of the body plus
 * the output high watermark, whatever the message's size. */
#include "imap/fetch-stream.h"

#include <stdlib.h>

#include "lib/util.h"

struct fetch_stream {
	uint64_t body_id;
	uint64_t off;             /* the next byte to read */
	uint64_t left;            /* bytes of the literal still to send */
};

bool
fetch_stream_wanted(uint64_t size)
{
	return size > FETCH_STREAM_BYTES;
}

/* Reads n bytes at off onto the end of b. */
static bool
read_into(struct store *st, struct mm_buf *b, uint64_t body_id, uint64_t off, size_t n)
{
	mm_buf_reserve(b, n);
	if (store_body_read_exact(st, body_id, off, b->data + b->len, n) != STORE_OK)
		return false;
	b->len += n;
	return true;
}

bool
fetch_stream_literal(struct store *st, struct mm_buf *b, uint64_t body_id,
    uint64_t off, uint64_t len, struct fetch_stream **hole_r)
{
	*hole_r = NULL;
	mm_buf_printf(b, "{%llu}\r\n", (unsigned long long)len);
	if (len <= FETCH_STREAM_BYTES)
		return read_into(st, b, body_id, off, (size_t)len);
	struct fetch_stream *fs = xcalloc(1, sizeof(*fs));
	fs->body_id = body_id;
	fs->off = off;
	fs->left = len;
	*hole_r = fs;
	return true;
}

bool
fetch_stream_chunk(struct store *st, struct fetch_stream *fs, struct mm_buf *b,
    bool *done_r)
{
	size_t n = fs->left < FETCH_STREAM_BYTES ? (size_t)fs->left : FETCH_STREAM_BYTES;

	*done_r = false;
	if (!read_into(st, b, fs->body_id, fs->off, n))
		return false;
	fs->off += n;
	fs->left -= n;
	*done_r = fs->left == 0;
	return true;
}

bool
fetch_stream_header_fields(const struct mail_section *sec)
{
	return sec->kind == MAIL_SECTION_HEADER_FIELDS ||
	    sec->kind == MAIL_SECTION_HEADER_FIELDS_NOT;
}

bool
fetch_stream_fields(struct store *st, uint64_t body_id, const struct mail_section *sec,
    struct mail_section_result *r)
{
	struct mm_buf hdr;
	bool ok;

	mm_buf_init(&hdr);
	ok = read_into(st, &hdr, body_id, r->off, r->len);
	mail_section_result_free(r);
	if (ok)
		mail_section_header_fields(hdr.data != NULL ? hdr.data : "", hdr.len, sec, r);
	mm_buf_free(&hdr);
	return ok;
}

void
fetch_stream_free(struct fetch_stream **fs)
{
	free(*fs);
	*fs = NULL;
}
