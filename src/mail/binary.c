/* binary.c: the BINARY extension's view of a message (RFC 3516): a part's
 * content with its Content-Transfer-Encoding undone (FETCH BINARY[n],
 * BINARY.SIZE[n]), and the other way round for APPEND of a literal8:
 * leaf parts sent as Content-Transfer-Encoding: binary are stored
 * base64-encoded, so that BODY[n] stays 7-bit text for clients that did
 * not ask for binary (RFC 3516 4.4 leaves the stored form to the server).
 *
 * The one idea: both work on the part tree of src/mail/mime.c and its
 * byte offsets, never on a copy of the structure: decoding reads
 * [body_off, body_end) of one part; encoding rebuilds the message from
 * the bytes between the binary parts, rewriting only their CTE field and
 * body. */
#include "mail/mime.h"
#include "mail/decode.h"
#include "mail/header.h"
#include "lib/base64.h"

#include <stdlib.h>
#include <string.h>

static bool
identity_cte(const char *cte)
{
	return cte == NULL || mm_strcaseeq(cte, "7bit") || mm_strcaseeq(cte, "8bit") ||
	    mm_strcaseeq(cte, "binary");
}

int
mail_binary_fetch(const struct mail_msg *m, const char *msg, size_t len,
    const struct mail_section *sec, struct mm_buf *out)
{
	const struct mail_part *p;

	if (sec->kind != MAIL_SECTION_ALL)
		return MAIL_SECTION_ESYNTAX;     /* section-binary: part numbers only */
	if (sec->nparts == 0) {
		mm_buf_append(out, msg, len);    /* the whole message, as it is */
		return MAIL_SECTION_OK;
	}
	p = mail_section_part(m, sec->part, sec->nparts);
	if (p == NULL || p->body_end > len || p->body_off > p->body_end)
		return MAIL_SECTION_ENOENT;
	const char *body = msg + p->body_off;
	size_t blen = p->body_end - p->body_off;
	/* a multipart or message has no encoding of its own (RFC 2045 6.4:
	 * only identity encodings are allowed there): its bytes as they are */
	if ((p->flags & (MAIL_PART_MULTIPART | MAIL_PART_MESSAGE)) || identity_cte(p->encoding)) {
		mm_buf_append(out, body, blen);
		return MAIL_SECTION_OK;
	}
	if (mm_strcaseeq(p->encoding, "base64")) {
		mail_decode_base64(body, blen, out);
		return MAIL_SECTION_OK;
	}
	if (mm_strcaseeq(p->encoding, "quoted-printable")) {
		mail_decode_qp(body, blen, false, out);
		return MAIL_SECTION_OK;
	}
	return MAIL_BINARY_EUNKNOWN_CTE;
}

/* base64 of len bytes, in lines of 76 characters (RFC 2045 6.8). */
static void
append_base64_lines(struct mm_buf *b, const char *s, size_t len)
{
	char line[80];
	for (size_t i = 0; i < len; i += 57) {
		size_t n = len - i < 57 ? len - i : 57, got;
		if (base64_encode(s + i, n, line, sizeof(line), &got) == BASE64_OK)
			mm_buf_append(b, line, got);
		mm_buf_append(b, "\r\n", 2);
	}
}

bool
mail_binary_encode_parts(const char *msg, size_t len, struct mm_buf *out)
{
	struct mail_msg *m = mail_mime_parse(msg, len);
	size_t pos = 0;
	bool changed = false;

	for (const struct mail_part *p = m->root; p != NULL; p = mail_part_next(p)) {
		if ((p->flags & (MAIL_PART_MULTIPART | MAIL_PART_MESSAGE)) ||
		    p->encoding == NULL || !mm_strcaseeq(p->encoding, "binary") ||
		    p->hdr_off < pos || p->body_end > len)
			continue;
		struct mail_header h;
		mail_header_parse(msg, p->hdr_off, p->body_off, &h);
		const struct mail_hdr_field *f = mail_header_find(&h, "Content-Transfer-Encoding");
		if (f == NULL || f->off < pos || f->off + f->len > p->body_off) {
			mail_header_free(&h);
			continue;
		}
		/* up to the field, the field anew, the rest of the header */
		mm_buf_append(out, msg + pos, f->off - pos);
		mm_buf_append(out, "Content-Transfer-Encoding: base64\r\n", 35);
		size_t after = f->off + f->len;
		mm_buf_append(out, msg + after, p->body_off - after);
		mail_header_free(&h);
		append_base64_lines(out, msg + p->body_off, p->body_end - p->body_off);
		/* the line end before the next delimiter is the delimiter's,
		 * and base64 ended with one: drop the doubled one */
		pos = p->body_end;
		if (pos + 1 < len && msg[pos] == '\r' && msg[pos + 1] == '\n')
			pos += 2;
		else if (pos < len && msg[pos] == '\n')
			pos++;
		changed = true;
	}
	if (changed)
		mm_buf_append(out, msg + pos, len - pos);
	mail_msg_free(&m);
	return changed;
}

/* Is q inside the subtree of p (q != p)? */
static bool
part_below(const struct mail_part *q, const struct mail_part *p)
{
	for (q = q->parent; q != NULL; q = q->parent)
		if (q == p)
			return true;
	return false;
}

/* A leaf's body with its encoding undone. */
static int
decode_leaf(const struct mail_part *p, const char *body, size_t blen, struct mm_buf *out)
{
	if (identity_cte(p->encoding)) {
		mm_buf_append(out, body, blen);
		return MAIL_SECTION_OK;
	}
	if (mm_strcaseeq(p->encoding, "base64")) {
		mail_decode_base64(body, blen, out);
		return MAIL_SECTION_OK;
	}
	if (mm_strcaseeq(p->encoding, "quoted-printable")) {
		mail_decode_qp(body, blen, false, out);
		return MAIL_SECTION_OK;
	}
	return MAIL_BINARY_EUNKNOWN_CTE;
}

int
mail_binary_convert(const char *msg, size_t len, const struct mail_part *p, bool mark,
    struct mm_buf *out)
{
	if (p->body_end > len || p->body_off > p->body_end)
		return MAIL_SECTION_ENOENT;
	if (!(p->flags & (MAIL_PART_MULTIPART | MAIL_PART_MESSAGE)))
		return decode_leaf(p, msg + p->body_off, p->body_end - p->body_off, out);
	size_t pos = p->body_off;
	for (const struct mail_part *q = mail_part_next(p); q != NULL && part_below(q, p);
	    q = mail_part_next(q)) {
		if ((q->flags & (MAIL_PART_MULTIPART | MAIL_PART_MESSAGE)) ||
		    identity_cte(q->encoding) || q->hdr_off < pos || q->body_end > p->body_end ||
		    q->body_off > q->body_end)
			continue;
		size_t start = out->len;
		if (mark) {
			struct mail_header h;
			mail_header_parse(msg, q->hdr_off, q->body_off, &h);
			const struct mail_hdr_field *f =
			    mail_header_find(&h, "Content-Transfer-Encoding");
			if (f != NULL && f->off >= pos && f->off + f->len <= q->body_off) {
				mm_buf_append(out, msg + pos, f->off - pos);
				mm_buf_append(out, "Content-Transfer-Encoding: binary\r\n", 35);
				size_t after = f->off + f->len;
				mm_buf_append(out, msg + after, q->body_off - after);
			} else
				mm_buf_append(out, msg + pos, q->body_off - pos);
			mail_header_free(&h);
		} else
			mm_buf_append(out, msg + pos, q->body_off - pos);
		int r = decode_leaf(q, msg + q->body_off, q->body_end - q->body_off, out);
		if (r != MAIL_SECTION_OK) {
			out->len = start;
			return r;
		}
		pos = q->body_end;
	}
	mm_buf_append(out, msg + pos, p->body_end - pos);
	return MAIL_SECTION_OK;
}
