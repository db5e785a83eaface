/* fuzz_mailcache.c: libFuzzer harness for the cache blob reader
 * (mail/cache.c) on damaged blobs. The input is a blob payload; the
 * harness puts the header in front (magic, version, length and the CRC-32
 * of the payload) so that the fuzzer reaches the payload reader instead
 * of stopping at the checksum. A blob that loads is then used as
 * cmd-fetch.c uses it: BODY[section] against a message of the size it
 * names, and its sort keys are read as cmd-sort.c reads them (also the
 * raw input as keys). Properties: a loaded tree has sane offsets and
 * links, using it stays inside the message, and the keys point inside
 * what they were read from. */
#include "fuzz/fuzz.h"

#include "mail/cache.h"
#include "mail/mime.h"

static void
put_u32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

/* Sort keys read from p..p+len point inside it. */
static void
check_keys(const void *p, size_t len)
{
	struct mail_cache_sort k;
	const unsigned char *lo = p, *hi = lo + len;
	if (!mail_cache_sort_get(p, len, &k))
		return;
	FUZZ_CHECK(k.nrefs <= IMAP_THREAD_REFS_MAX);
	for (int i = 0; i < MAIL_CST_COUNT; i++)
		FUZZ_CHECK((const unsigned char *)k.text[i].v >= lo &&
		    (const unsigned char *)k.text[i].v + k.text[i].len <= hi);
	if (k.has_msgid)
		FUZZ_CHECK((const unsigned char *)k.msgid.v >= lo &&
		    (const unsigned char *)k.msgid.v + k.msgid.len <= hi);
	for (size_t i = 0; i < k.nrefs; i++)
		FUZZ_CHECK((const unsigned char *)k.refs[i].v >= lo &&
		    (const unsigned char *)k.refs[i].v + k.refs[i].len <= hi);
}

static const char *const specs[] = {
	"", "1", "2", "1.1", "1.2", "2.1", "1.1.1", "1.MIME", "2.MIME",
	"1.1.MIME", "TEXT", "HEADER", "1.TEXT", "1.HEADER", "2.HEADER",
	"HEADER.FIELDS (From To)", "1.HEADER.FIELDS.NOT (Received)",
};

static void
use_cache(const struct mail_cache *c)
{
	const struct mail_msg *m = c->tree;
	unsigned n = 0;
	FUZZ_CHECK(m->root != NULL && m->root->parent == NULL);
	FUZZ_CHECK(c->envelope && c->bodystructure && c->body);
	for (const struct mail_part *p = m->root; p; p = mail_part_next(p)) {
		FUZZ_CHECK(p->hdr_off <= p->body_off && p->body_off <= p->body_end);
		FUZZ_CHECK(p->body_end <= c->msg_size);
		FUZZ_CHECK(p->type != NULL && p->subtype != NULL);
		(void)mail_part_param(p, "charset");
		FUZZ_CHECK(++n <= m->nparts);
	}
	FUZZ_CHECK(n == m->nparts);
	if (c->msg_size > 1 << 20)
		return;
	/* a message of the size the blob names */
	char *msg = malloc(c->msg_size ? c->msg_size : 1);
	for (size_t i = 0; i < c->msg_size; i++)
		msg[i] = "From: a@b\r\n\r\nbody\r\n"[i % 20];
	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		struct mail_section sec;
		struct mail_section_result r;
		FUZZ_CHECK(mail_section_parse(specs[i], strlen(specs[i]), &sec) == MAIL_SECTION_OK);
		if (mail_section_fetch(m, msg, c->msg_size, &sec, &r) == MAIL_SECTION_OK &&
		    !r.produced)
			FUZZ_CHECK(r.off <= c->msg_size && r.len <= c->msg_size - r.off);
		mail_section_result_free(&r);
		mail_section_free(&sec);
	}
	struct mm_buf text;
	mm_buf_init(&text);
	mail_text_body(m, msg, c->msg_size, 4096, &text);
	mm_buf_free(&text);
	free(msg);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *blob = malloc(12 + size);
	memcpy(blob, "MMC", 3);
	blob[3] = MAIL_CACHE_VERSION;
	put_u32(blob + 4, (uint32_t)size);
	put_u32(blob + 8, mail_cache_crc32(data, size));
	if (size > 0)
		memcpy(blob + 12, data, size);

	struct mail_cache_search sr;
	if (mail_cache_search_get(blob, 12 + size, &sr) == 0) {
		FUZZ_CHECK(sr.n <= MAIL_CACHE_SEARCH_MAX);
		for (size_t i = 0; i < sr.n; i++) {
			FUZZ_CHECK(sr.e[i].field < MAIL_SF_COUNT);
			FUZZ_CHECK((const unsigned char *)sr.e[i].v >= blob + 12 &&
			    (const unsigned char *)sr.e[i].v + sr.e[i].len <= blob + 12 + size);
		}
		if (sr.sort != NULL) {
			FUZZ_CHECK((const unsigned char *)sr.sort >= blob + 12 &&
			    (const unsigned char *)sr.sort + sr.sort_len <= blob + 12 + size);
			check_keys(sr.sort, sr.sort_len);
		}
	}
	check_keys(data, size);

	struct mail_cache *c = NULL;
	if (mail_cache_parse(blob, 12 + size, &c) == 0) {
		FUZZ_CHECK(c != NULL);
		use_cache(c);
		mail_cache_free(&c);
		FUZZ_CHECK(c == NULL);
	} else {
		FUZZ_CHECK(c == NULL);
	}
	/* the raw input as a whole blob (almost always refused) */
	char *raw = fuzz_dup(data, size);
	if (mail_cache_parse(raw, size, &c) == 0) {
		use_cache(c);
		mail_cache_free(&c);
	}
	free(raw);
	free(blob);
	return 0;
}
