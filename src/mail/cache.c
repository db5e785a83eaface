/* cache.c: the cache blob. Layout: "MMC" version(1) payload_len(u32 LE)
 * crc32(u32 LE, of the payload) payload. The payload is varints and
 * length-prefixed strings: message size, parts in preorder (parent index,
 * flags, offsets, lines, type, subtype), then the ENVELOPE, BODYSTRUCTURE
 * and BODY strings and the sent date. To change the layout, bump
 * MAIL_CACHE_VERSION: old blobs then fail to parse and get rebuilt. */
#include "mail/cache.h"
#include "mail/date.h"
#include "mail/header.h"
#include "lib/limits.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define HDR_BYTES 12

uint32_t
mail_cache_crc32(const unsigned char *p, size_t n)
{
	uint32_t c = 0xffffffffu;
	for (size_t i = 0; i < n; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
	}
	return ~c;
}

static void
put_varint(struct mm_buf *b, uint64_t v)
{
	while (v >= 0x80) {
		mm_buf_appendc(b, (char)(v | 0x80));
		v >>= 7;
	}
	mm_buf_appendc(b, (char)v);
}

static void
put_str(struct mm_buf *b, const char *s, size_t n)
{
	put_varint(b, n);
	mm_buf_append(b, s, n);
}

static void
put_u32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static uint32_t
get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void
mail_cache_build_tree(const struct mail_msg *m, const char *msg, size_t len, struct mm_buf *out)
{
	struct mm_buf p, s;
	const struct mail_part *part;
	size_t start = out->len, idx = 0;
	time_t t = 0;
	int tz = 0;
	bool has_date = false;

	mm_buf_init(&p);
	mm_buf_init(&s);
	put_varint(&p, len);
	put_varint(&p, m->nparts);
	put_varint(&p, m->parts_truncated);
	/* preorder; a part's parent index is found by walking back */
	const struct mail_part **order = xcalloc(m->nparts ? m->nparts : 1, sizeof(*order));
	for (part = m->root; part && idx < m->nparts; part = mail_part_next(part)) {
		size_t pi = 0;
		if (part->parent)
			for (size_t j = idx; j-- > 0;)
				if (order[j] == part->parent) {
					pi = j + 1;
					break;
				}
		order[idx++] = part;
		put_varint(&p, pi);
		put_varint(&p, part->flags);
		put_varint(&p, part->hdr_off);
		put_varint(&p, part->body_off);
		put_varint(&p, part->body_end);
		put_varint(&p, part->body_lines);
		put_str(&p, part->type, strlen(part->type));
		put_str(&p, part->subtype, strlen(part->subtype));
	}
	free(order);
	mail_imap_envelope(&s, m->root->env);
	put_str(&p, s.data, s.len);
	s.len = 0;
	mail_imap_bodystructure(&s, m->root, true);
	put_str(&p, s.data, s.len);
	s.len = 0;
	mail_imap_bodystructure(&s, m->root, false);
	put_str(&p, s.data, s.len);
	const char *date = m->root->env ? m->root->env->v[MAIL_ENV_DATE] : NULL;
	if (date)
		has_date = mail_date_parse_rfc5322(date, strlen(date), &t, &tz);
	put_varint(&p, has_date);
	put_varint(&p, has_date ? (uint64_t)(int64_t)t : 0);
	put_varint(&p, (uint64_t)(int64_t)tz);
	(void)msg;

	mm_buf_reserve(out, HDR_BYTES + p.len);
	unsigned char *h = (unsigned char *)out->data + start;
	memcpy(h, "MMC", 3);
	h[3] = MAIL_CACHE_VERSION;
	put_u32(h + 4, (uint32_t)p.len);
	put_u32(h + 8, mail_cache_crc32((const unsigned char *)p.data, p.len));
	out->len += HDR_BYTES;
	mm_buf_append(out, p.data, p.len);
	mm_buf_free(&p);
	mm_buf_free(&s);
}

void
mail_cache_build(const char *msg, size_t len, struct mm_buf *out)
{
	struct mail_msg *m = mail_mime_parse(msg, len);
	mail_cache_build_tree(m, msg, len, out);
	mail_msg_free(&m);
}

struct rd {
	const unsigned char *p, *e;
	bool bad;
};

static uint64_t
get_varint(struct rd *r)
{
	uint64_t v = 0;
	for (int shift = 0; shift < 64; shift += 7) {
		if (r->p >= r->e) {
			r->bad = true;
			return 0;
		}
		unsigned char c = *r->p++;
		v |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80))
			return v;
	}
	r->bad = true;
	return 0;
}

static char *
get_str(struct rd *r)
{
	uint64_t n = get_varint(r);
	if (r->bad || n > (uint64_t)(r->e - r->p)) {
		r->bad = true;
		return NULL;
	}
	char *s = xstrndup((const char *)r->p, (size_t)n);
	r->p += n;
	return s;
}

int
mail_cache_parse(const void *blob, size_t len, struct mail_cache **c_r)
{
	const unsigned char *b = blob;
	struct mail_cache *c;
	struct mail_part **parts = NULL;
	struct rd r;
	uint64_t nparts;

	*c_r = NULL;
	if (len < HDR_BYTES || memcmp(b, "MMC", 3) != 0 || b[3] != MAIL_CACHE_VERSION)
		return -1;
	if (get_u32(b + 4) != len - HDR_BYTES || get_u32(b + 8) != mail_cache_crc32(b + HDR_BYTES, len - HDR_BYTES))
		return -1;
	r.p = b + HDR_BYTES;
	r.e = b + len;
	r.bad = false;
	c = xcalloc(1, sizeof(*c));
	c->tree = xcalloc(1, sizeof(*c->tree));
	c->msg_size = c->tree->size = (size_t)get_varint(&r);
	nparts = get_varint(&r);
	c->tree->parts_truncated = get_varint(&r) != 0;
	if (r.bad || nparts == 0 || nparts > MIME_PARTS_MAX)
		goto bad;
	parts = xcalloc((size_t)nparts, sizeof(*parts));
	for (uint64_t i = 0; i < nparts; i++) {
		uint64_t pi = get_varint(&r);
		struct mail_part *p = xcalloc(1, sizeof(*p));
		mm_strlist_init(&p->languages);
		parts[i] = p;
		p->flags = (unsigned)get_varint(&r);
		p->hdr_off = (size_t)get_varint(&r);
		p->body_off = (size_t)get_varint(&r);
		p->body_end = (size_t)get_varint(&r);
		p->body_lines = (size_t)get_varint(&r);
		p->type = get_str(&r);
		p->subtype = get_str(&r);
		if (r.bad || p->type == NULL || p->subtype == NULL || pi > i ||
		    (i == 0) != (pi == 0) || p->hdr_off > p->body_off ||
		    p->body_off > p->body_end || p->body_end > c->msg_size) {
			if (i == 0)
				c->tree->root = p;
			goto bad;
		}
		c->tree->nparts++;
		if (i == 0) {
			c->tree->root = p;
			continue;
		}
		struct mail_part *parent = parts[pi - 1], **pp = &parent->child;
		p->parent = parent;
		while (*pp)
			pp = &(*pp)->next;
		*pp = p;
		parent->nchildren++;
	}
	c->envelope = get_str(&r);
	c->bodystructure = get_str(&r);
	c->body = get_str(&r);
	c->has_date = get_varint(&r) != 0;
	c->date = (time_t)(int64_t)get_varint(&r);
	c->date_tz_min = (int)(int64_t)get_varint(&r);
	if (r.bad || r.p != r.e || c->date_tz_min < -24 * 60 || c->date_tz_min > 24 * 60)
		goto bad;
	/* a MESSAGE part has exactly one child */
	for (uint64_t i = 0; i < nparts; i++)
		if ((parts[i]->flags & MAIL_PART_MESSAGE) && parts[i]->nchildren != 1)
			goto bad;
	c->header_size = c->tree->root->body_off;
	free(parts);
	*c_r = c;
	return 0;
bad:
	if (parts) {
		/* parts not yet linked into the tree are freed here */
		for (uint64_t i = 0; i < nparts; i++)
			if (parts[i] && parts[i]->parent == NULL && parts[i] != c->tree->root) {
				free(parts[i]->type);
				free(parts[i]->subtype);
				free(parts[i]);
			}
	}
	free(parts);
	mail_cache_free(&c);
	return -1;
}

void
mail_cache_free(struct mail_cache **cp)
{
	struct mail_cache *c = *cp;
	if (c == NULL)
		return;
	mail_msg_free(&c->tree);
	free(c->envelope);
	free(c->bodystructure);
	free(c->body);
	free(c);
	*cp = NULL;
}
