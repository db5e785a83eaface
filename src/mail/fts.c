/* fts.c: the trigrams of a message and of a needle (mail/fts.h). The
 * text is built by the same calls, on the same bytes, with the same
 * folding as cmd-search.c's match_text(), so that the index never lacks
 * a trigram of what the scan would search. Memory is bounded: at most
 * MAIL_FTS_TEXT_MAX bytes of text (a few times that folded) and a hash
 * set of 4 * MAIL_FTS_TERMS_MAX slots (88 KiB with its lists). */
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
	uint16_t used[MAIL_FTS_TERMS_MAX];   /* the slots filled, in order */
	uint32_t sort_tmp[MAIL_FTS_TERMS_MAX];
	size_t n;
	bool full;                /* more than MAIL_FTS_TERMS_MAX */
};

/* A fresh set for each message: cleared in one sequential pass, which
 * also brings it into the cache. (A set kept per thread and emptied slot
 * by slot was tried: with a score of delivery threads on two cores each
 * message then found its set evicted, and the random probes into it
 * missed the cache: tset_add_text went from 6% to 14% of the daemon's
 * CPU at SMTP intake.) */
static struct tset *
tset_new(void)
{
	struct tset *t = xmalloc(sizeof(*t));
	memset(t->slot, 0xff, sizeof(t->slot));
	t->n = 0;
	t->full = false;
	return t;
}

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
		t->used[t->n++] = (uint16_t)h;
	}
}

/* Sorts v[0..n) (trigrams: 24 bits) ascending, n at most
 * MAIL_FTS_TERMS_MAX: three byte-wide counting passes through tmp, no
 * comparisons (qsort's were a fifth of a message's indexing). */
static void
terms_sort(uint32_t *v, size_t n, uint32_t *tmp)
{
	size_t count[3][257];
	memset(count, 0, sizeof(count));
	for (size_t i = 0; i < n; i++)
		for (int p = 0; p < 3; p++)
			count[p][((v[i] >> (8 * p)) & 0xff) + 1]++;
	uint32_t *from = v, *to = tmp;
	for (int p = 0; p < 3; p++) {
		for (size_t b = 1; b < 257; b++)
			count[p][b] += count[p][b - 1];
		for (size_t i = 0; i < n; i++)
			to[count[p][(from[i] >> (8 * p)) & 0xff]++] = from[i];
		uint32_t *t = from;
		from = to;
		to = t;
	}
	memcpy(v, from, n * sizeof(*v));      /* three passes: it is in tmp */
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
	t = tset_new();
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
	for (size_t i = 0; i < t->n; i++)
		v[i] = t->slot[t->used[i]];
	terms_sort(v, t->n, t->sort_tmp);
	*terms_r = v;
	*n_r = t->n;
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
