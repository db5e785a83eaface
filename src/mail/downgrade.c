/* downgrade.c: the 8BITMIME downgrade (RFC 6152 3, RFC 1652 6) the relay
 * does before it signs a message for a server without 8BITMIME.
 *
 * The one idea: nothing but what has to change changes. The MIME tree
 * (mime.c) gives each part's header and body ranges; an 8-bit leaf body
 * becomes quoted-printable and its header says so, a multipart or
 * message part that claimed 8bit now says 7bit, and every other byte is
 * copied as it was. What cannot be converted without changing what the
 * message says (8-bit headers, 8-bit bytes in base64, a message that is
 * not MIME) is refused, and the relay bounces it as before. */
#include "mail/downgrade.h"

#include <stdlib.h>
#include <string.h>

#include "mail/header.h"
#include "mail/mime.h"

struct edit {
	size_t start, end;
	struct mm_buf text;
};

static bool
has_8bit(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] >= 0x80)
			return true;
	return false;
}

void
mail_qp_encode(const char *s, size_t len, struct mm_buf *out)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t col = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		char tok[4];
		size_t n;
		if (c == '\r' && i + 1 < len && s[i + 1] == '\n') {
			mm_buf_append(out, "\r\n", 2);
			col = 0;
			i++;
			continue;
		}
		bool eol = i + 1 == len || (s[i + 1] == '\r' && i + 2 < len && s[i + 2] == '\n');
		if ((c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !eol)) {
			tok[0] = (char)c;
			n = 1;
		} else {
			tok[0] = '=';
			tok[1] = hex[c >> 4];
			tok[2] = hex[c & 15];
			n = 3;
		}
		/* 76 characters per line, the soft break's '=' included */
		if (col + n > 75 && !(eol && col + n <= 76)) {
			mm_buf_append(out, "=\r\n", 3);
			col = 0;
		}
		mm_buf_append(out, tok, n);
		col += n;
	}
}

static bool
cte_is(const char *enc, const char *what)
{
	return enc != NULL && mm_strcaseeq(enc, what);
}

/* The header [start, end) (end: just after its empty line) with its
 * Content-Transfer-Encoding fields replaced by one saying cte. */
static void
header_with_cte(const char *msg, size_t start, size_t end, const char *cte,
    struct mm_buf *out)
{
	struct mail_header h;

	mail_header_parse(msg, start, end, &h);
	for (size_t i = 0; i < h.n; i++) {
		const struct mail_hdr_field *f = &h.f[i];
		if (f->name_len == 25 && mm_strncaseeq(f->name, "Content-Transfer-Encoding", 25))
			continue;
		mm_buf_append(out, msg + f->off, f->len);
	}
	mm_buf_printf(out, "Content-Transfer-Encoding: %s\r\n\r\n", cte);
	mail_header_free(&h);
}

static struct edit *
edit_add(struct edit **v, size_t *n, size_t start, size_t end)
{
	*v = xrealloc(*v, (*n + 1) * sizeof(**v));
	struct edit *e = &(*v)[(*n)++];
	e->start = start;
	e->end = end;
	mm_buf_init(&e->text);
	return e;
}

static int
edit_cmp(const void *a, const void *b)
{
	const struct edit *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

bool
mail_downgrade_7bit(const char *msg, size_t len, struct mm_buf *out, const char **why_r)
{
	struct mail_msg *m;
	struct mail_header h;
	struct edit *ed = NULL;
	size_t ned = 0, start = out->len;
	bool ok = false;

	*why_r = NULL;
	if (!has_8bit(msg, len)) {
		mm_buf_append(out, msg, len);
		return true;
	}
	mail_header_parse(msg, 0, len, &h);
	bool mime = mail_header_find(&h, "MIME-Version") != NULL;
	bool hdr8 = has_8bit(msg, h.body_off);
	mail_header_free(&h);
	if (!mime) {
		*why_r = "not a MIME message";
		return false;
	}
	if (hdr8) {
		*why_r = "8-bit header";
		return false;
	}
	m = mail_mime_parse(msg, len);
	if (m->parts_truncated) {
		*why_r = "too many MIME parts";
		goto out;
	}
	for (const struct mail_part *p = m->root; p != NULL; p = mail_part_next(p)) {
		bool leaf = !(p->flags & (MAIL_PART_MULTIPART | MAIL_PART_MESSAGE));
		if (has_8bit(msg + p->hdr_off, p->body_off - p->hdr_off)) {
			*why_r = "8-bit header";
			goto out;
		}
		if (!leaf) {
			if (cte_is(p->encoding, "8bit") || cte_is(p->encoding, "binary"))
				header_with_cte(msg, p->hdr_off, p->body_off, "7bit",
				    &edit_add(&ed, &ned, p->hdr_off, p->body_off)->text);
			continue;
		}
		if (p->body_end <= p->body_off ||
		    !has_8bit(msg + p->body_off, p->body_end - p->body_off))
			continue;
		if (p->encoding != NULL && !cte_is(p->encoding, "7bit") &&
		    !cte_is(p->encoding, "8bit") && !cte_is(p->encoding, "binary")) {
			*why_r = "8-bit bytes in an encoded body";
			goto out;
		}
		if (p->body_off == p->hdr_off || msg[p->body_off - 1] != '\n') {
			*why_r = "a MIME part without a header";
			goto out;
		}
		header_with_cte(msg, p->hdr_off, p->body_off, "quoted-printable",
		    &edit_add(&ed, &ned, p->hdr_off, p->body_off)->text);
		mail_qp_encode(msg + p->body_off, p->body_end - p->body_off,
		    &edit_add(&ed, &ned, p->body_off, p->body_end)->text);
	}
	if (ned > 1)
		qsort(ed, ned, sizeof(*ed), edit_cmp);
	size_t pos = 0;
	for (size_t i = 0; i < ned; i++) {
		if (ed[i].start < pos) {
			*why_r = "overlapping MIME parts";
			goto out;
		}
		mm_buf_append(out, msg + pos, ed[i].start - pos);
		mm_buf_append(out, ed[i].text.data, ed[i].text.len);
		pos = ed[i].end;
	}
	mm_buf_append(out, msg + pos, len - pos);
	if (has_8bit(out->data + start, out->len - start)) {
		*why_r = "8-bit text outside the MIME parts";
		goto out;
	}
	ok = true;
out:
	for (size_t i = 0; i < ned; i++)
		mm_buf_free(&ed[i].text);
	free(ed);
	mail_msg_free(&m);
	if (!ok)
		out->len = start;
	return ok;
}
