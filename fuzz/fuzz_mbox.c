/* fuzz_mbox.c: libFuzzer harness for the mbox splitter and the Maildir /
 * Dovecot metadata readers (src/mail/mbox.c). Input: byte 0 picks the
 * quoting and a split point; the rest is the file. Properties: one-shot
 * and split feeding give the same messages byte for byte; no message is
 * longer than the input; header stripping never grows a message; the
 * metadata line parsers stay inside their line. */
#include "fuzz/fuzz.h"

#include "lib/util.h"
#include "mail/mbox.h"

struct out {
	struct mm_buf b;
	size_t begins, ends;
};

static void
f_begin(void *arg, const char *line, size_t len)
{
	struct out *o = arg;
	o->begins++;
	mm_buf_append(&o->b, "\0B", 2);
	mm_buf_append(&o->b, line, len);
}

static void
f_data(void *arg, const char *p, size_t n)
{
	struct out *o = arg;
	mm_buf_append(&o->b, p, n);
}

static void
f_end(void *arg)
{
	struct out *o = arg;
	o->ends++;
	mm_buf_append(&o->b, "\0E", 2);
}

static const struct mbox_cb fcb = { f_begin, f_data, f_end };

static int
feed(const char *s, size_t len, enum mbox_quoting q, size_t split, struct out *o)
{
	struct mbox_parser p;
	mm_buf_init(&o->b);
	o->begins = o->ends = 0;
	mbox_parser_init(&p, q, &fcb, o);
	int r = mbox_push(&p, s, split);
	if (r == MBOX_OK)
		r = mbox_push(&p, s + split, len - split);
	if (r == MBOX_OK)
		r = mbox_finish(&p);
	return r;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	enum mbox_quoting q = data[0] & 1 ? MBOX_MBOXO : MBOX_MBOXRD;
	const char *s = (const char *)data + 1;
	size_t len = size - 1;
	size_t split = len ? (data[0] >> 1) % (len + 1) : 0;
	struct out a, b;
	int ra = feed(s, len, q, 0, &a), rb = feed(s, len, q, split, &b);
	FUZZ_CHECK(ra == rb);
	if (ra == MBOX_OK) {
		FUZZ_CHECK(a.b.len == b.b.len && memcmp(a.b.data, b.b.data, a.b.len) == 0);
		FUZZ_CHECK(a.begins == a.ends);
	}
	mm_buf_free(&a.b);
	mm_buf_free(&b.b);

	char *copy = xmalloc(len + 1);
	memcpy(copy, s, len);
	struct mbox_meta m;
	size_t n = mbox_meta_strip(copy, len, &m);
	FUZZ_CHECK(n <= len);
	FUZZ_CHECK(m.nkeywords <= MBOX_META_KEYWORDS_MAX);
	copy[len] = '\0';
	uint32_t f, kw, uv, nu, uid;
	FUZZ_CHECK(maildir_name_flags(copy, &f, &kw) <= strlen(copy));
	const char *base;
	size_t blen;
	if (maildir_uidlist_line(s, len, &uid, &base, &blen))
		FUZZ_CHECK(base >= s && base + blen <= s + len);
	(void)maildir_uidlist_header(s, len, &uv, &nu);
	unsigned ix;
	if (maildir_keywords_line(s, len, &ix, &base, &blen))
		FUZZ_CHECK(ix < 26 && base >= s && base + blen <= s + len);
	time_t t;
	(void)mbox_from_line_date(s, len, &t);
	free(copy);
	return 0;
}
