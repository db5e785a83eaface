/* section.c: BODY[section] addressing (RFC 3501 6.4.5). A spec is parsed
 * once into numbers plus a kind; fetching walks the part tree (a number
 * selects a child of a multipart, or "1" of a single part; after the first
 * number, a message/rfc822 part (or message/global, in a tree parsed
 * with MAIL_PARSE_GLOBAL) is entered first, and one that was not
 * parsed holds no parts) and answers with a byte range of the message, or
 * with produced bytes for HEADER.FIELDS[.NOT]. */
#include "mail/mime.h"
#include "mail/header.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static bool
kw(const char **pp, const char *e, const char *word)
{
	size_t n = strlen(word);
	if ((size_t)(e - *pp) < n || !mm_strncaseeq(*pp, word, n))
		return false;
	*pp += n;
	return true;
}

static bool
atom_char(char c)
{
	return (unsigned char)c > ' ' && (unsigned char)c < 0x7f &&
	    strchr("(){%*\"\\]", c) == NULL;
}

static int
parse_fields(const char *p, const char *e, struct mm_strlist *l)
{
	while (p < e && *p == ' ')
		p++;
	if (p >= e || *p != '(')
		return MAIL_SECTION_ESYNTAX;
	p++;
	for (;;) {
		while (p < e && *p == ' ')
			p++;
		if (p >= e)
			return MAIL_SECTION_ESYNTAX;
		if (*p == ')') {
			p++;
			break;
		}
		if (l->n >= 256)
			return MAIL_SECTION_ESYNTAX;
		if (*p == '"') {
			struct mm_buf b;
			mm_buf_init(&b);
			p++;
			while (p < e && *p != '"') {
				if (*p == '\\' && p + 1 < e)
					p++;
				mm_buf_appendc(&b, *p++);
			}
			if (p >= e) {
				mm_buf_free(&b);
				return MAIL_SECTION_ESYNTAX;
			}
			p++;
			mm_strlist_addn(l, b.data ? b.data : "", b.len);
			mm_buf_free(&b);
		} else {
			const char *s = p;
			while (p < e && atom_char(*p))
				p++;
			if (p == s)
				return MAIL_SECTION_ESYNTAX;
			mm_strlist_addn(l, s, (size_t)(p - s));
		}
	}
	if (l->n == 0 || p != e)
		return MAIL_SECTION_ESYNTAX;
	return MAIL_SECTION_OK;
}

int
mail_section_parse(const char *s, size_t len, struct mail_section *sec)
{
	const char *p = s, *e = s + len;

	memset(sec, 0, sizeof(*sec));
	mm_strlist_init(&sec->fields);
	sec->kind = MAIL_SECTION_ALL;
	while (p < e && isdigit((unsigned char)*p)) {
		unsigned long v = 0;
		if (*p == '0')
			return MAIL_SECTION_ESYNTAX;	/* nz-number */
		while (p < e && isdigit((unsigned char)*p)) {
			v = v * 10 + (unsigned long)(*p++ - '0');
			if (v > 1000000)
				return MAIL_SECTION_ESYNTAX;
		}
		if (sec->nparts >= sizeof(sec->part) / sizeof(sec->part[0]))
			return MAIL_SECTION_ESYNTAX;
		sec->part[sec->nparts++] = (unsigned)v;
		if (p == e)
			return MAIL_SECTION_OK;
		if (*p != '.')
			return MAIL_SECTION_ESYNTAX;
		p++;
		if (p == e)
			return MAIL_SECTION_ESYNTAX;
	}
	if (p == e)
		return MAIL_SECTION_OK;	/* "" */
	if (kw(&p, e, "HEADER.FIELDS.NOT")) {
		sec->kind = MAIL_SECTION_HEADER_FIELDS_NOT;
		return parse_fields(p, e, &sec->fields);
	}
	if (kw(&p, e, "HEADER.FIELDS")) {
		sec->kind = MAIL_SECTION_HEADER_FIELDS;
		return parse_fields(p, e, &sec->fields);
	}
	if (kw(&p, e, "HEADER"))
		sec->kind = MAIL_SECTION_HEADER;
	else if (kw(&p, e, "TEXT"))
		sec->kind = MAIL_SECTION_TEXT;
	else if (sec->nparts > 0 && kw(&p, e, "MIME"))
		sec->kind = MAIL_SECTION_MIME;
	else
		return MAIL_SECTION_ESYNTAX;
	return p == e ? MAIL_SECTION_OK : MAIL_SECTION_ESYNTAX;
}

void
mail_section_free(struct mail_section *sec)
{
	mm_strlist_clear(&sec->fields);
}

char *
mail_section_format(const struct mail_section *sec)
{
	static const char *const names[] = {
		[MAIL_SECTION_ALL] = "", [MAIL_SECTION_HEADER] = "HEADER",
		[MAIL_SECTION_HEADER_FIELDS] = "HEADER.FIELDS",
		[MAIL_SECTION_HEADER_FIELDS_NOT] = "HEADER.FIELDS.NOT",
		[MAIL_SECTION_TEXT] = "TEXT", [MAIL_SECTION_MIME] = "MIME",
	};
	struct mm_buf b;
	mm_buf_init(&b);
	for (unsigned i = 0; i < sec->nparts; i++)
		mm_buf_printf(&b, "%s%u", i ? "." : "", sec->part[i]);
	if (sec->kind != MAIL_SECTION_ALL) {
		if (sec->nparts)
			mm_buf_appendc(&b, '.');
		mm_buf_printf(&b, "%s", names[sec->kind]);
	}
	if (sec->kind == MAIL_SECTION_HEADER_FIELDS || sec->kind == MAIL_SECTION_HEADER_FIELDS_NOT) {
		mm_buf_append(&b, " (", 2);
		for (size_t i = 0; i < sec->fields.n; i++) {
			const char *f = sec->fields.v[i];
			bool atom = *f != '\0';
			if (i)
				mm_buf_appendc(&b, ' ');
			for (const char *q = f; *q; q++)
				atom = atom && atom_char(*q);
			if (atom) {
				for (const char *q = f; *q; q++)
					mm_buf_appendc(&b, (char)toupper((unsigned char)*q));
			} else
				mail_imap_append_string(&b, f);
		}
		mm_buf_appendc(&b, ')');
	}
	return mm_buf_cstr(&b);
}

const struct mail_part *
mail_section_part(const struct mail_msg *m, const unsigned *nums, unsigned n)
{
	const struct mail_part *cur = m->root;
	bool self = false;	/* a single part already stood for its own "1" */
	for (unsigned i = 0; i < n && cur; i++) {
		unsigned k = nums[i];
		if (i > 0 && (cur->flags & MAIL_PART_MESSAGE)) {
			cur = cur->child;
			self = false;
		} else if (i > 0 && mail_part_is_message(cur)) {
			/* not parsed (encoded, or too deep): BODYSTRUCTURE
			 * shows an empty message inside, so every part in
			 * it is empty (its header too), never this part */
			return NULL;
		}
		if (cur == NULL)
			return NULL;
		if (cur->flags & MAIL_PART_MULTIPART) {
			const struct mail_part *c = cur->child;
			for (unsigned j = 1; c && j < k; j++)
				c = c->next;
			cur = c;
			self = false;
		} else if (k == 1 && !self) {
			self = true;	/* "1" of a one-part message, or "n.1"
					 * of a leaf: the part itself (Dovecot) */
		} else
			return NULL;
	}
	return cur;
}

static void
set_range(struct mail_section_result *r, size_t off, size_t end)
{
	r->off = off;
	r->len = end > off ? end - off : 0;
}

/* HEADER.FIELDS[.NOT]: the matching fields of the header block at
 * [off, end) of msg, and the empty line. */
static void
header_fields(const char *msg, size_t off, size_t end, const struct mail_section *sec,
    struct mail_section_result *r)
{
	struct mail_header h;
	bool want = sec->kind == MAIL_SECTION_HEADER_FIELDS;
	mail_header_parse(msg, off, end, &h);
	for (size_t i = 0; i < h.n; i++) {
		const struct mail_hdr_field *f = &h.f[i];
		if (mail_header_name_in(f->name, f->name_len,
		    (const char *const *)sec->fields.v, sec->fields.n) != want)
			continue;
		if (f->name_len == 0 && f->len <= 2)
			continue;
		mm_buf_append(&r->data, msg + f->off, f->len);
		if (f->len == 0 || msg[f->off + f->len - 1] != '\n')
			mm_buf_append(&r->data, "\r\n", 2);
	}
	/* the empty line, unless there was none and nothing matched */
	if (!h.no_blank || r->data.len > 0)
		mm_buf_append(&r->data, "\r\n", 2);
	mail_header_free(&h);
	r->produced = true;
	r->off = 0;
	r->len = r->data.len;
}

int
mail_section_header_fields(const char *hdr, size_t len, const struct mail_section *sec,
    struct mail_section_result *r)
{
	memset(r, 0, sizeof(*r));
	mm_buf_init(&r->data);
	if (sec->kind != MAIL_SECTION_HEADER_FIELDS && sec->kind != MAIL_SECTION_HEADER_FIELDS_NOT)
		return MAIL_SECTION_ESYNTAX;
	header_fields(hdr, 0, len, sec, r);
	return MAIL_SECTION_OK;
}

int
mail_section_fetch(const struct mail_msg *m, const char *msg, size_t len,
    const struct mail_section *sec, struct mail_section_result *r)
{
	const struct mail_part *p, *target;

	memset(r, 0, sizeof(*r));
	mm_buf_init(&r->data);
	p = mail_section_part(m, sec->part, sec->nparts);
	if (p == NULL)
		return MAIL_SECTION_ENOENT;
	if (p->body_end > len || m->size != len)
		return MAIL_SECTION_ENOENT;	/* not this message's tree */
	switch (sec->kind) {
	case MAIL_SECTION_ALL:
		if (sec->nparts == 0)
			set_range(r, 0, len);
		else
			set_range(r, p->body_off, p->body_end);
		return MAIL_SECTION_OK;
	case MAIL_SECTION_MIME:
		set_range(r, p->hdr_off, p->body_off);
		return MAIL_SECTION_OK;
	default:
		break;
	}
	if (sec->nparts == 0)
		target = m->root;
	else if ((p->flags & MAIL_PART_MESSAGE) && p->child)
		target = p->child;
	else
		return MAIL_SECTION_ENOTMSG;
	if (sec->kind == MAIL_SECTION_HEADER) {
		set_range(r, target->hdr_off, target->body_off);
		return MAIL_SECTION_OK;
	}
	if (sec->kind == MAIL_SECTION_TEXT) {
		set_range(r, target->body_off, target->body_end);
		return MAIL_SECTION_OK;
	}
	header_fields(msg, target->hdr_off, target->body_off, sec, r);
	return MAIL_SECTION_OK;
}

void
mail_section_result_free(struct mail_section_result *r)
{
	mm_buf_free(&r->data);
	r->len = 0;
}
