/* fts.c: the trigrams of a message and of a needle (mail/fts.h). The
 * text is built by the same calls, on the same bytes, with the same
 * folding as cmd-search.c's match_text(), so that the index never lacks
 * a trigram of what the scan would search. Memory is bounded: at most
 * MAIL_FTS_TEXT_MAX bytes of text (a few times that folded) and a hash
 * set of 4 * MAIL_FTS_TERMS_MAX slots. */
#include "mail/fts.h"

#include <stdlib.h>
#include <string.h>

#include "lib/util.h"
#include "mail/decode.h"
#include "mail/mime.h"

#define SET_BITS  14                         /* 4 * MAIL_FTS_TERMS_MAX slots */
#define SET_SLOTS ((size_t)1 << SET_BITS)
#if (1 << SET_BITS) != 4 * MAIL_FTS_TERMS_MAX
#error "SET_BITS must give 4 * MAIL_FTS_TERMS_MAX slots"
#endif
#define SET_EMPTY UINT32_MAX                 /* trigrams fit in 24 bits */

struct tset {
	uint32_t slot[SET_SLOTS];
	size_t n;
	bool full;                /* more than MAIL_FTS_TERMS_MAX */
};

static void
tset_add_text(struct tset *t, const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	for (size_t i = 0; i + 3 <= len && !t->full; i++) {
		uint32_t v = mail_fts_term(u + i);
		/* the product's top bits: its low ones depend only on the
		 * trigram's low bits (the last byte and a half), which left
		 * text of a small alphabet in a few hundred slots, probed
		 * linearly through clusters of thousands */
		size_t h = (uint32_t)(v * 2654435761u) >> (32 - SET_BITS);
		while (t->slot[h] != SET_EMPTY && t->slot[h] != v)
			h = (h + 1) & (SET_SLOTS - 1);
		if (t->slot[h] == v)
			continue;
		if (t->n == MAIL_FTS_TERMS_MAX) {
			t->full = true;
			break;
		}
		t->slot[h] = v;
		t->n++;
	}
}

static int
term_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* Folds in as the scan does before its memmem: in is folded text (or
 * raw header lines) and the scan folds it (once more) in
 * mail_text_contains_folded(). */
static void
add_folded(struct tset *t, const struct mm_buf *in)
{
	struct mm_buf f;
	mm_buf_init(&f);
	mail_text_fold(in->data ? in->data : "", in->len, &f);
	tset_add_text(t, f.data ? f.data : "", f.len);
	mm_buf_free(&f);
}

bool
mail_fts_terms(const char *msg, size_t len, uint32_t **terms_r, size_t *n_r)
{
	struct mm_buf raw, text;
	struct mail_msg *tree;
	struct tset *t;
	bool whole = false;

	*terms_r = NULL;
	*n_r = 0;
	t = xmalloc(sizeof(*t));
	memset(t->slot, 0xff, sizeof(t->slot));
	t->n = 0;
	t->full = false;
	mm_buf_init(&raw);
	mm_buf_init(&text);
	tree = mail_mime_parse(msg, len);
	/* one byte more than indexed: a longer text is not indexed at all */
	mail_text_body(tree, msg, len, MAIL_FTS_TEXT_MAX + 1, &raw);
	if (raw.len > MAIL_FTS_TEXT_MAX)
		goto out;
	/* BODY: match_text() folds the body text, and the match folds it
	 * again; folding is idempotent (check_fts: fold_idempotent), so
	 * once gives the same trigrams */
	mail_text_fold(raw.data ? raw.data : "", raw.len, &text);
	tset_add_text(t, text.data ? text.data : "", text.len);
	/* TEXT: the header lines, folded by mail_text_contains() */
	raw.len = 0;
	mail_text_all_headers(tree, msg, len, MAIL_FTS_TEXT_MAX + 1, &raw);
	if (raw.len > MAIL_FTS_TEXT_MAX)
		goto out;
	add_folded(t, &raw);
	if (t->full)
		goto out;
	whole = true;
	uint32_t *v = xmalloc((t->n ? t->n : 1) * sizeof(*v));
	size_t n = 0;
	for (size_t i = 0; i < SET_SLOTS; i++)
		if (t->slot[i] != SET_EMPTY)
			v[n++] = t->slot[i];
	qsort(v, n, sizeof(*v), term_cmp);
	*terms_r = v;
	*n_r = n;
out:
	mail_msg_free(&tree);
	mm_buf_free(&raw);
	mm_buf_free(&text);
	free(t);
	return whole;
}

size_t
mail_fts_needle(const char *fneedle, size_t len, uint32_t *out, size_t max)
{
	const unsigned char *u = (const unsigned char *)fneedle;
	size_t n = 0;
	if (len < 3)
		return 0;
	/* the whole needle's trigrams would do; any subset is still sound,
	 * and the ends and middle of a long needle differ the most */
	for (size_t i = 0; i + 3 <= len && n < max; i++) {
		uint32_t v = mail_fts_term(u + i);
		bool seen = false;
		for (size_t k = 0; k < n && !seen; k++)
			seen = out[k] == v;
		if (!seen)
			out[n++] = v;
	}
	return n;
}

bool
mail_fts_fold_stable(const char *fneedle, size_t len)
{
	struct mm_buf f;
	mm_buf_init(&f);
	mail_text_fold(fneedle, len, &f);
	bool same = f.len == len && (len == 0 || memcmp(f.data, fneedle, len) == 0);
	mm_buf_free(&f);
	return same;
}
