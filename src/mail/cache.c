/* cache.c: the cache blob. Layout: "MMC" version(1) payload_len(u32 LE)
 * crc32(u32 LE, of the payload) payload. The payload is varints and
 * length-prefixed strings: message size, parts in preorder (parent index,
 * flags, offsets, lines, type, subtype), then the ENVELOPE, BODYSTRUCTURE
 * and BODY strings and the sent date; since version 2 then the search
 * record: flags (1: present, 2: has_sent, 4: sort keys follow), the sent
 * day, the entry count, and per entry its field and string, since version
 * 3 then the sort keys as one string (put_sort: MAIL_SORT_KEYS_VERSION
 * and the three limits they were cut with, flags, the sent date, the six
 * text keys, the Message-ID and the references), followed by the
 * record's length and
 * its own CRC-32 (u32 LE each), so that SEARCH finds and checks the record
 * from the end without walking or checksumming the rest. To change the
 * layout, bump
 * MAIL_CACHE_VERSION: blobs of an unknown version fail to parse and the
 * message is parsed again. */
#include "mail/cache.h"
#include "mail/address.h"
#include "mail/date.h"
#include "mail/decode.h"
#include "mail/header.h"
#include "mail/sort.h"
#include "mail/thread.h"
#include "lib/limits.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define HDR_BYTES 12

/* zlib's crc32 (the same CRC-32): SEARCH checks a blob per message, so
 * this is on the path of every header key, and zlib's is several times
 * faster than a table a byte at a time. */
uint32_t
mail_cache_crc32(const unsigned char *p, size_t n)
{
	uLong c = crc32(0L, Z_NULL, 0);
	while (n > 0) {
		uInt chunk = n > 0x40000000u ? 0x40000000u : (uInt)n;
		c = crc32(c, p, chunk);
		p += chunk;
		n -= chunk;
	}
	return (uint32_t)c;
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

static const struct {
	const char *name;
	bool addr;
} search_fields[MAIL_SF_COUNT] = {
	[MAIL_SF_SUBJECT] = { "Subject", false },
	[MAIL_SF_MESSAGE_ID] = { "Message-ID", false },
	[MAIL_SF_FROM] = { "From", true },
	[MAIL_SF_TO] = { "To", true },
	[MAIL_SF_CC] = { "Cc", true },
	[MAIL_SF_BCC] = { "Bcc", true },
};

int
mail_cache_search_field(const char *name, bool addr)
{
	for (int i = 0; i < MAIL_SF_COUNT; i++)
		if (search_fields[i].addr == addr && mm_strcaseeq(name, search_fields[i].name))
			return i;
	return -1;
}

/* The search record of msg, as cmd-search.c's match_header and sent_day
 * compute it (the same calls on the same bytes, so the answers agree). */
static void put_record(struct mm_buf *p, const char *msg, size_t len);

static void
put_search(struct mm_buf *p, const char *msg, size_t len)
{
	size_t start = p->len;
	unsigned char t[8];

	put_record(p, msg, len);
	put_u32(t, (uint32_t)(p->len - start));
	put_u32(t + 4, mail_cache_crc32((const unsigned char *)p->data + start, p->len - start));
	mm_buf_append(p, (const char *)t, sizeof(t));
}

/* The sort keys of a parsed header appended to p as one string, as
 * mail_sort_rec_fill and mail_thread_msg_fill compute them (cmd-sort.c
 * and cmd-thread.c pass the same limits); false (nothing appended) when
 * they take more than IMAP_SORT_RECORD_MAX_BYTES. */
static bool
put_sort(struct mm_buf *p, const struct mail_header *h)
{
	static const char *const hdr[MAIL_CST_COUNT] = {
		[MAIL_CST_SUBJECT] = "Subject", [MAIL_CST_FROM] = "From", [MAIL_CST_TO] = "To",
		[MAIL_CST_CC] = "Cc", [MAIL_CST_DISPLAYFROM] = "From", [MAIL_CST_DISPLAYTO] = "To",
	};
	struct mm_buf e;
	struct mm_strlist l;
	const struct mail_hdr_field *f;
	bool reply = false, ok;
	time_t t = 0;
	bool has_date = mail_sort_sent_date_get(h, &t);
	char *text[MAIL_CST_COUNT];

	for (int k = 0; k < MAIL_CST_COUNT; k++) {
		f = mail_header_find(h, hdr[k]);
		const char *v = f != NULL ? f->value : "";
		size_t vl = f != NULL ? f->value_len : 0;
		if (k == MAIL_CST_SUBJECT) {
			char *b = mail_base_subject(v, vl, &reply);
			text[k] = mail_sort_text(b, strlen(b), IMAP_SORT_KEY_MAX_BYTES);
			free(b);
		} else if (k == MAIL_CST_DISPLAYFROM || k == MAIL_CST_DISPLAYTO) {
			text[k] = mail_sort_addr_display(v, vl, IMAP_SORT_KEY_MAX_BYTES);
		} else {
			text[k] = mail_sort_addr_mailbox(v, vl, IMAP_SORT_KEY_MAX_BYTES);
		}
	}
	mm_buf_init(&e);
	mm_strlist_init(&l);
	if ((f = mail_header_find(h, "Message-ID")) != NULL)
		mail_thread_ids(f->value, f->value_len, 1, false, IMAP_MSGID_MAX_BYTES, &l);
	put_varint(&e, MAIL_SORT_KEYS_VERSION);
	put_varint(&e, IMAP_SORT_KEY_MAX_BYTES);
	put_varint(&e, IMAP_THREAD_REFS_MAX);
	put_varint(&e, IMAP_MSGID_MAX_BYTES);
	put_varint(&e, (has_date ? 1u : 0u) | (reply ? 2u : 0u) | (l.n > 0 ? 4u : 0u));
	put_varint(&e, has_date ? (uint64_t)(int64_t)t : 0);
	for (int k = 0; k < MAIL_CST_COUNT; k++) {
		put_str(&e, text[k], strlen(text[k]));
		free(text[k]);
	}
	if (l.n > 0)
		put_str(&e, l.v[0], strlen(l.v[0]));
	mm_strlist_clear(&l);
	if ((f = mail_header_find(h, "References")) != NULL)
		mail_thread_ids(f->value, f->value_len, IMAP_THREAD_REFS_MAX, true,
		    IMAP_MSGID_MAX_BYTES, &l);
	if (l.n == 0 && (f = mail_header_find(h, "In-Reply-To")) != NULL)
		mail_thread_ids(f->value, f->value_len, 1, false, IMAP_MSGID_MAX_BYTES, &l);
	put_varint(&e, l.n);
	for (size_t i = 0; i < l.n; i++)
		put_str(&e, l.v[i], strlen(l.v[i]));
	mm_strlist_clear(&l);
	ok = e.len <= IMAP_SORT_RECORD_MAX_BYTES;
	if (ok)
		put_str(p, e.data, e.len);
	mm_buf_free(&e);
	return ok;
}

static void
put_record(struct mm_buf *p, const char *msg, size_t len)
{
	struct mail_header h;
	struct mm_buf e;
	size_t n = 0;
	bool too_many = false, has_sent = false;
	long day = 0;

	if (msg == NULL) {
		put_varint(p, 0);
		return;
	}
	mm_buf_init(&e);
	mail_header_parse(msg, 0, len, &h);
	for (size_t i = 0; i < h.n && !too_many; i++) {
		const struct mail_hdr_field *f = &h.f[i];
		for (int k = 0; k < MAIL_SF_COUNT; k++) {
			size_t nl = strlen(search_fields[k].name);
			if (f->name_len != nl || !mm_strncaseeq(f->name, search_fields[k].name, nl))
				continue;
			if (n == MAIL_CACHE_SEARCH_MAX) {
				too_many = true;
				break;
			}
			char *v = search_fields[k].addr ? mail_addr_search_text(f->value, f->value_len) :
			    mail_decode_header(f->value, f->value_len);
			put_varint(&e, (uint64_t)k);
			put_str(&e, v, strlen(v));
			free(v);
			n++;
		}
	}
	char *d = mail_header_get(&h, "Date");
	time_t t;
	int tz;
	if (d != NULL && mail_date_parse_rfc5322(d, strlen(d), &t, &tz)) {
		has_sent = true;
		day = mail_date_day(t, tz);
	}
	free(d);
	if (too_many) {
		put_varint(p, 0);
	} else {
		struct mm_buf srt;
		mm_buf_init(&srt);
		bool sort = put_sort(&srt, &h);
		put_varint(p, 1u | (has_sent ? 2u : 0u) | (sort ? 4u : 0u));
		put_varint(p, (uint64_t)(int64_t)day);
		put_varint(p, n);
		mm_buf_append(p, e.data, e.len);
		mm_buf_append(p, srt.data, srt.len);
		mm_buf_free(&srt);
	}
	mail_header_free(&h);
	mm_buf_free(&e);
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
	put_search(&p, msg, len);

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

/* Walks a string without copying it. */
static bool
skip_str(struct rd *r, const char **v_r, size_t *len_r)
{
	uint64_t n = get_varint(r);
	if (r->bad || n > (uint64_t)(r->e - r->p)) {
		r->bad = true;
		return false;
	}
	if (v_r != NULL) {
		*v_r = (const char *)r->p;
		*len_r = (size_t)n;
	}
	r->p += n;
	return true;
}

/* The search record at r (up to r->e) into out, pointing into the blob:
 * 1 present, 0 absent (flags 0: built without the message, or with more
 * fields than fit), -1 bad (flag 4, the sort keys, only since version 3).
 * The one reader of the record's layout, for
 * mail_cache_parse and mail_cache_search_get alike. */
static int
record_read(struct rd *r, unsigned version, struct mail_cache_search *out)
{
	memset(out, 0, sizeof(*out));
	uint64_t flags = get_varint(r);
	if (r->bad || flags > (version >= 3 ? 7u : 3u))
		return -1;
	if (flags == 0)
		return 0;
	out->has_sent = (flags & 2) != 0;
	out->sent_day = (long)(int64_t)get_varint(r);
	uint64_t n = get_varint(r);
	if (r->bad || n > MAIL_CACHE_SEARCH_MAX)
		return -1;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t f = get_varint(r);
		if (r->bad || f >= MAIL_SF_COUNT || !skip_str(r, &out->e[i].v, &out->e[i].len))
			return -1;
		out->e[i].field = (enum mail_search_field)f;
	}
	out->n = (size_t)n;
	const char *sv = NULL;
	if ((flags & 4) && !skip_str(r, &sv, &out->sort_len))
		return -1;
	out->sort = sv;
	return r->bad ? -1 : 1;
}

bool
mail_cache_sort_get(const void *p, size_t len, struct mail_cache_sort *out)
{
	struct rd r = { p, (const unsigned char *)p + len, false };

	memset(out, 0, sizeof(*out));
	if (p == NULL)
		return false;
	/* computed by other code or with other limits: the header says */
	if (get_varint(&r) != MAIL_SORT_KEYS_VERSION || get_varint(&r) != IMAP_SORT_KEY_MAX_BYTES ||
	    get_varint(&r) != IMAP_THREAD_REFS_MAX || get_varint(&r) != IMAP_MSGID_MAX_BYTES)
		return false;
	uint64_t flags = get_varint(&r);
	if (r.bad || flags > 7)
		return false;
	out->has_date = (flags & 1) != 0;
	out->reply = (flags & 2) != 0;
	out->has_msgid = (flags & 4) != 0;
	out->date = (time_t)(int64_t)get_varint(&r);
	for (int k = 0; k < MAIL_CST_COUNT; k++)
		if (!skip_str(&r, &out->text[k].v, &out->text[k].len))
			return false;
	if (out->has_msgid && !skip_str(&r, &out->msgid.v, &out->msgid.len))
		return false;
	uint64_t n = get_varint(&r);
	if (r.bad || n > IMAP_THREAD_REFS_MAX)
		return false;
	for (uint64_t i = 0; i < n; i++)
		if (!skip_str(&r, &out->refs[i].v, &out->refs[i].len))
			return false;
	out->nrefs = (size_t)n;
	return !r.bad && r.p == r.e;
}

int
mail_cache_search_get(const void *blob, size_t len, struct mail_cache_search *out)
{
	const unsigned char *b = blob;
	struct rd r;

	memset(out, 0, sizeof(*out));
	if (len < HDR_BYTES + 8 || memcmp(b, "MMC", 3) != 0 || b[3] < 2 ||
	    b[3] > MAIL_CACHE_VERSION || get_u32(b + 4) != len - HDR_BYTES)
		return -1;
	uint32_t rlen = get_u32(b + len - 8);
	if (rlen > len - HDR_BYTES - 8)
		return -1;
	r.p = b + len - 8 - rlen;
	r.e = b + len - 8;
	r.bad = false;
	if (get_u32(b + len - 4) != mail_cache_crc32(r.p, rlen))
		return -1;
	if (record_read(&r, b[3], out) != 1 || r.p != r.e) {
		memset(out, 0, sizeof(*out));
		return -1;
	}
	return 0;
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
	if (len < HDR_BYTES || memcmp(b, "MMC", 3) != 0 || b[3] < 1 || b[3] > MAIL_CACHE_VERSION)
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
	if (b[3] >= 2) {
		const unsigned char *rs = r.p;
		struct mail_cache_search rec;
		if (record_read(&r, b[3], &rec) < 0 || r.e - r.p != 8 ||
		    get_u32(r.p) != (uint32_t)(r.p - rs))
			goto bad;
		r.p += 8;
	}
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
