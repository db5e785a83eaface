/* cache.c: the cache blob. Layout: "MMC" version(1) payload_len(u32 LE)
 * crc32(u32 LE, of the payload) payload. The payload is varints and
 * length-prefixed strings: message size, parts in preorder (parent index,
 * flags, offsets, lines, type, subtype), then the ENVELOPE, BODYSTRUCTURE
 * and BODY strings and the sent date; since version 2 then the search
 * record: flags (1: present, 2: has_sent), the sent day, the entry count,
 * and per entry its field and string. To change the layout, bump
 * MAIL_CACHE_VERSION: blobs of an unknown version fail to parse and the
 * message is parsed again. */
#include "mail/cache.h"
#include "mail/address.h"
#include "mail/date.h"
#include "mail/decode.h"
#include "mail/header.h"
#include "lib/limits.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define HDR_BYTES 12

/* CRC-32 (reflected 0xedb88320) a byte at a time from a table: SEARCH
 * checks a blob per message, so this is on the path of every header key. */
static const uint32_t crc_table[256] = {
	0x00000000u, 0x77073096u, 0xee0e612cu, 0x990951bau, 0x076dc419u, 0x706af48fu,
	0xe963a535u, 0x9e6495a3u, 0x0edb8832u, 0x79dcb8a4u, 0xe0d5e91eu, 0x97d2d988u,
	0x09b64c2bu, 0x7eb17cbdu, 0xe7b82d07u, 0x90bf1d91u, 0x1db71064u, 0x6ab020f2u,
	0xf3b97148u, 0x84be41deu, 0x1adad47du, 0x6ddde4ebu, 0xf4d4b551u, 0x83d385c7u,
	0x136c9856u, 0x646ba8c0u, 0xfd62f97au, 0x8a65c9ecu, 0x14015c4fu, 0x63066cd9u,
	0xfa0f3d63u, 0x8d080df5u, 0x3b6e20c8u, 0x4c69105eu, 0xd56041e4u, 0xa2677172u,
	0x3c03e4d1u, 0x4b04d447u, 0xd20d85fdu, 0xa50ab56bu, 0x35b5a8fau, 0x42b2986cu,
	0xdbbbc9d6u, 0xacbcf940u, 0x32d86ce3u, 0x45df5c75u, 0xdcd60dcfu, 0xabd13d59u,
	0x26d930acu, 0x51de003au, 0xc8d75180u, 0xbfd06116u, 0x21b4f4b5u, 0x56b3c423u,
	0xcfba9599u, 0xb8bda50fu, 0x2802b89eu, 0x5f058808u, 0xc60cd9b2u, 0xb10be924u,
	0x2f6f7c87u, 0x58684c11u, 0xc1611dabu, 0xb6662d3du, 0x76dc4190u, 0x01db7106u,
	0x98d220bcu, 0xefd5102au, 0x71b18589u, 0x06b6b51fu, 0x9fbfe4a5u, 0xe8b8d433u,
	0x7807c9a2u, 0x0f00f934u, 0x9609a88eu, 0xe10e9818u, 0x7f6a0dbbu, 0x086d3d2du,
	0x91646c97u, 0xe6635c01u, 0x6b6b51f4u, 0x1c6c6162u, 0x856530d8u, 0xf262004eu,
	0x6c0695edu, 0x1b01a57bu, 0x8208f4c1u, 0xf50fc457u, 0x65b0d9c6u, 0x12b7e950u,
	0x8bbeb8eau, 0xfcb9887cu, 0x62dd1ddfu, 0x15da2d49u, 0x8cd37cf3u, 0xfbd44c65u,
	0x4db26158u, 0x3ab551ceu, 0xa3bc0074u, 0xd4bb30e2u, 0x4adfa541u, 0x3dd895d7u,
	0xa4d1c46du, 0xd3d6f4fbu, 0x4369e96au, 0x346ed9fcu, 0xad678846u, 0xda60b8d0u,
	0x44042d73u, 0x33031de5u, 0xaa0a4c5fu, 0xdd0d7cc9u, 0x5005713cu, 0x270241aau,
	0xbe0b1010u, 0xc90c2086u, 0x5768b525u, 0x206f85b3u, 0xb966d409u, 0xce61e49fu,
	0x5edef90eu, 0x29d9c998u, 0xb0d09822u, 0xc7d7a8b4u, 0x59b33d17u, 0x2eb40d81u,
	0xb7bd5c3bu, 0xc0ba6cadu, 0xedb88320u, 0x9abfb3b6u, 0x03b6e20cu, 0x74b1d29au,
	0xead54739u, 0x9dd277afu, 0x04db2615u, 0x73dc1683u, 0xe3630b12u, 0x94643b84u,
	0x0d6d6a3eu, 0x7a6a5aa8u, 0xe40ecf0bu, 0x9309ff9du, 0x0a00ae27u, 0x7d079eb1u,
	0xf00f9344u, 0x8708a3d2u, 0x1e01f268u, 0x6906c2feu, 0xf762575du, 0x806567cbu,
	0x196c3671u, 0x6e6b06e7u, 0xfed41b76u, 0x89d32be0u, 0x10da7a5au, 0x67dd4accu,
	0xf9b9df6fu, 0x8ebeeff9u, 0x17b7be43u, 0x60b08ed5u, 0xd6d6a3e8u, 0xa1d1937eu,
	0x38d8c2c4u, 0x4fdff252u, 0xd1bb67f1u, 0xa6bc5767u, 0x3fb506ddu, 0x48b2364bu,
	0xd80d2bdau, 0xaf0a1b4cu, 0x36034af6u, 0x41047a60u, 0xdf60efc3u, 0xa867df55u,
	0x316e8eefu, 0x4669be79u, 0xcb61b38cu, 0xbc66831au, 0x256fd2a0u, 0x5268e236u,
	0xcc0c7795u, 0xbb0b4703u, 0x220216b9u, 0x5505262fu, 0xc5ba3bbeu, 0xb2bd0b28u,
	0x2bb45a92u, 0x5cb36a04u, 0xc2d7ffa7u, 0xb5d0cf31u, 0x2cd99e8bu, 0x5bdeae1du,
	0x9b64c2b0u, 0xec63f226u, 0x756aa39cu, 0x026d930au, 0x9c0906a9u, 0xeb0e363fu,
	0x72076785u, 0x05005713u, 0x95bf4a82u, 0xe2b87a14u, 0x7bb12baeu, 0x0cb61b38u,
	0x92d28e9bu, 0xe5d5be0du, 0x7cdcefb7u, 0x0bdbdf21u, 0x86d3d2d4u, 0xf1d4e242u,
	0x68ddb3f8u, 0x1fda836eu, 0x81be16cdu, 0xf6b9265bu, 0x6fb077e1u, 0x18b74777u,
	0x88085ae6u, 0xff0f6a70u, 0x66063bcau, 0x11010b5cu, 0x8f659effu, 0xf862ae69u,
	0x616bffd3u, 0x166ccf45u, 0xa00ae278u, 0xd70dd2eeu, 0x4e048354u, 0x3903b3c2u,
	0xa7672661u, 0xd06016f7u, 0x4969474du, 0x3e6e77dbu, 0xaed16a4au, 0xd9d65adcu,
	0x40df0b66u, 0x37d83bf0u, 0xa9bcae53u, 0xdebb9ec5u, 0x47b2cf7fu, 0x30b5ffe9u,
	0xbdbdf21cu, 0xcabac28au, 0x53b39330u, 0x24b4a3a6u, 0xbad03605u, 0xcdd70693u,
	0x54de5729u, 0x23d967bfu, 0xb3667a2eu, 0xc4614ab8u, 0x5d681b02u, 0x2a6f2b94u,
	0xb40bbe37u, 0xc30c8ea1u, 0x5a05df1bu, 0x2d02ef8du,
};

uint32_t
mail_cache_crc32(const unsigned char *p, size_t n)
{
	uint32_t c = 0xffffffffu;
	for (size_t i = 0; i < n; i++)
		c = crc_table[(c ^ p[i]) & 0xff] ^ (c >> 8);
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
static void
put_search(struct mm_buf *p, const char *msg, size_t len)
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
	mail_header_free(&h);
	if (too_many) {
		put_varint(p, 0);
	} else {
		put_varint(p, 1u | (has_sent ? 2u : 0u));
		put_varint(p, (uint64_t)(int64_t)day);
		put_varint(p, n);
		mm_buf_append(p, e.data, e.len);
	}
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

/* The search record at r: checked, and kept in out if out is not NULL.
 * false for a bad record; an absent one (flags 0) is fine, out->n then
 * says nothing and the caller sees present == false. */
static bool
search_skip(struct rd *r, bool *present_r)
{
	uint64_t flags = get_varint(r);
	bool dummy;
	if (present_r == NULL)
		present_r = &dummy;
	*present_r = false;
	if (r->bad || flags > 3)
		return false;
	if (flags == 0)
		return true;
	get_varint(r);
	uint64_t n = get_varint(r);
	if (r->bad || n > MAIL_CACHE_SEARCH_MAX)
		return false;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t f = get_varint(r);
		if (r->bad || f >= MAIL_SF_COUNT || !skip_str(r, NULL, NULL))
			return false;
	}
	*present_r = true;
	return !r->bad;
}

int
mail_cache_search_get(const void *blob, size_t len, struct mail_cache_search *out)
{
	const unsigned char *b = blob;
	struct rd r;

	memset(out, 0, sizeof(*out));
	if (len < HDR_BYTES || memcmp(b, "MMC", 3) != 0 || b[3] < 2 || b[3] > MAIL_CACHE_VERSION)
		return -1;
	if (get_u32(b + 4) != len - HDR_BYTES || get_u32(b + 8) != mail_cache_crc32(b + HDR_BYTES, len - HDR_BYTES))
		return -1;
	r.p = b + HDR_BYTES;
	r.e = b + len;
	r.bad = false;
	get_varint(&r);                          /* message size */
	uint64_t nparts = get_varint(&r);
	get_varint(&r);                          /* parts truncated */
	if (r.bad || nparts == 0 || nparts > MIME_PARTS_MAX)
		return -1;
	for (uint64_t i = 0; i < nparts; i++) {
		for (int k = 0; k < 6; k++)
			get_varint(&r);
		if (!skip_str(&r, NULL, NULL) || !skip_str(&r, NULL, NULL))
			return -1;
	}
	for (int k = 0; k < 3; k++)
		if (!skip_str(&r, NULL, NULL))
			return -1;
	for (int k = 0; k < 3; k++)
		get_varint(&r);
	uint64_t flags = get_varint(&r);
	if (r.bad || flags == 0 || flags > 3)
		return -1;
	out->has_sent = (flags & 2) != 0;
	out->sent_day = (long)(int64_t)get_varint(&r);
	uint64_t n = get_varint(&r);
	if (r.bad || n > MAIL_CACHE_SEARCH_MAX)
		return -1;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t f = get_varint(&r);
		if (r.bad || f >= MAIL_SF_COUNT ||
		    !skip_str(&r, &out->e[i].v, &out->e[i].len))
			return -1;
		out->e[i].field = (enum mail_search_field)f;
	}
	out->n = (size_t)n;
	return r.p == r.e ? 0 : -1;
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
	if (b[3] >= 2 && !search_skip(&r, NULL))
		goto bad;
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
