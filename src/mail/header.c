/* header.c: splitting an RFC 5322 header block into fields. One pass over
 * the lines: a line starting with WSP continues the previous field, an
 * empty line (CRLF or bare LF) ends the block. Broken lines (no colon,
 * 8-bit junk, a continuation before any field) become fields too, so the
 * block boundary is the same one Dovecot and most parsers find. */
#include "mail/header.h"
#include "lib/limits.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>

static void
field_add(struct mail_header *h, const char *msg, size_t off, size_t end)
{
	/* end is just past the field's last line end (or the range end) */
	struct mail_hdr_field *f;
	const char *p = msg + off;
	size_t n = end - off;
	if (h->n == h->cap) {
		h->cap = h->cap ? h->cap * 2 : 16;
		h->f = xrealloc(h->f, h->cap * sizeof(*h->f));
	}
	f = &h->f[h->n++];
	f->off = off;
	f->len = n;
	/* strip the final line end */
	if (n > 0 && p[n - 1] == '\n')
		n--;
	if (n > 0 && p[n - 1] == '\r')
		n--;
	const char *colon = memchr(p, ':', n);
	if (colon == NULL) {
		/* no colon: the whole line is a name with an empty value */
		f->name = p;
		f->name_len = n;
		f->value = p + n;
		f->value_len = 0;
		return;
	}
	size_t nl = (size_t)(colon - p);
	while (nl > 0 && (p[nl - 1] == ' ' || p[nl - 1] == '\t'))
		nl--;	/* obsolete "Name :" form */
	f->name = p;
	f->name_len = nl;
	const char *v = colon + 1, *ve = p + n;
	while (v < ve && (*v == ' ' || *v == '\t'))
		v++;
	f->value = v;
	f->value_len = (size_t)(ve - v);
}

void
mail_header_parse(const char *msg, size_t start, size_t end, struct mail_header *h)
{
	size_t pos = start, field = (size_t)-1;
	size_t limit = end;

	memset(h, 0, sizeof(*h));
	h->off = start;
	if (limit - start > MIME_HEADER_MAX_BYTES)
		limit = start + MIME_HEADER_MAX_BYTES;
	while (pos < limit) {
		const char *nl = memchr(msg + pos, '\n', limit - pos);
		size_t lend = nl ? (size_t)(nl - msg) + 1 : limit;
		size_t clen = lend - pos;
		if (nl == NULL && limit < end) {
			/* a line crossing the size limit: cut before it */
			h->truncated = true;
			break;
		}
		h->lines++;
		if ((clen == 1 && msg[pos] == '\n') ||
		    (clen == 2 && msg[pos] == '\r' && msg[pos + 1] == '\n')) {
			if (field != (size_t)-1)
				field_add(h, msg, field, pos);
			h->body_off = lend;
			return;
		}
		if (msg[pos] == ' ' || msg[pos] == '\t') {
			if (field == (size_t)-1)
				field = pos;	/* continuation without a field */
		} else {
			if (field != (size_t)-1)
				field_add(h, msg, field, pos);
			field = pos;
		}
		pos = lend;
	}
	if (pos >= limit && limit < end)
		h->truncated = true;
	if (field != (size_t)-1)
		field_add(h, msg, field, pos);
	h->no_blank = true;
	h->body_off = pos;
}

void
mail_header_free(struct mail_header *h)
{
	free(h->f);
	memset(h, 0, sizeof(*h));
}

const struct mail_hdr_field *
mail_header_find(const struct mail_header *h, const char *name)
{
	size_t len = strlen(name);
	for (size_t i = 0; i < h->n; i++)
		if (h->f[i].name_len == len &&
		    mm_strncaseeq(h->f[i].name, name, len))
			return &h->f[i];
	return NULL;
}

char *
mail_header_unfold(const char *v, size_t len)
{
	char *s = xmalloc(len + 1), *d = s;
	for (size_t i = 0; i < len; i++) {
		if (v[i] == '\r' || v[i] == '\n')
			continue;
		/* the TAB that folded a line reads as a space (as Dovecot) */
		*d++ = v[i] == '\t' && i > 0 && v[i - 1] == '\n' ? ' ' : v[i];
	}
	while (d > s && (d[-1] == ' ' || d[-1] == '\t'))
		d--;
	*d = '\0';
	return s;
}

char *
mail_header_get(const struct mail_header *h, const char *name)
{
	const struct mail_hdr_field *f = mail_header_find(h, name);
	return f ? mail_header_unfold(f->value, f->value_len) : NULL;
}

static bool
blank(const char *s)
{
	for (; *s; s++)
		if (*s != ' ' && *s != '\t')
			return false;
	return true;
}

char *
mail_header_get_all(const struct mail_header *h, const char *name)
{
	size_t nl = strlen(name);
	char *first = NULL;
	struct mm_buf b;

	mm_buf_init(&b);
	for (size_t i = 0; i < h->n; i++) {
		const struct mail_hdr_field *f = &h->f[i];
		if (f->name_len != nl || !mm_strncaseeq(f->name, name, nl))
			continue;
		char *v = mail_header_unfold(f->value, f->value_len);
		if (first == NULL)
			first = xstrdup(v);
		if (!blank(v)) {
			if (b.len > 0)
				mm_buf_append(&b, ", ", 2);
			mm_buf_append(&b, v, strlen(v));
		}
		free(v);
	}
	if (first == NULL || b.len == 0) {
		mm_buf_free(&b);
		return first;
	}
	free(first);
	return mm_buf_cstr(&b);
}

bool
mail_header_name_in(const char *name, size_t len, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(names[i]) == len && mm_strncaseeq(name, names[i], len))
			return true;
	return false;
}

void
mail_header_append_block(struct mm_buf *b, const char *msg, size_t len, size_t max)
{
	size_t n = len;

	if (len >= 2 && msg[0] == '\r' && msg[1] == '\n')
		n = 0;
	else
		for (size_t i = 0; i + 3 < len; i++)
			if (msg[i] == '\r' && msg[i + 1] == '\n' && msg[i + 2] == '\r' &&
			    msg[i + 3] == '\n') {
				n = i + 2;
				break;
			}
	if (n > max)
		n = max;
	for (size_t i = 0; i < n; i++) {
		char c = msg[i];
		if (c == '\r' && i + 1 < n && msg[i + 1] == '\n') {
			mm_buf_append(b, "\r\n", 2);
			i++;
		} else if (c != '\r' && c != '\n') {
			mm_buf_appendc(b, c);
		}
	}
	if (b->len < 2 || b->data[b->len - 1] != '\n')
		mm_buf_append(b, "\r\n", 2);
}
