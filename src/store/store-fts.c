/* store-fts.c: the full-text index for SEARCH BODY and TEXT (mail/fts.h
 * says what a term is and why trigrams).
 *
 * The one idea: the index is written by the same transactions that add
 * and remove messages, so it and the mailbox never disagree after a
 * crash; and a delivery writes one record, not one per trigram. A
 * mailbox's UIDs are taken in blocks of FTS_BLOCK_UIDS: the messages of
 * the newest, incomplete block are "pending", each with its trigram list
 * (a lookup reads those lists); the append that completes a block turns
 * the block's lists into one bitmap per trigram (which of the block's
 * UIDs hold it). Writing a posting per trigram at each delivery (tried
 * first) made APPEND ten times slower (233 against 2,419-3,820 msg/s on a
 * 50,000-message INBOX): a few hundred Berkeley DB puts per message.
 *
 *   fts.db: (mailbox id BE32, block BE32, trigram 3 bytes) -> the block's
 *     bitmap, FTS_BLOCK_UIDS bits, bit i for UID block * FTS_BLOCK_UIDS + i.
 *   ftsmeta.db, keys led by a letter:
 *     'T' body id BE64 -> the body's trigrams (3 bytes each, ascending),
 *       written with the body and freed with it (COPY and MOVE give the
 *       new message the list; EXPUNGE clears its bits with it);
 *     'P' mailbox id BE32, UID BE32 -> a pending message's trigrams;
 *     'U' mailbox id BE32, UID BE32 -> (empty) a message not indexed (too
 *       much text or too many trigrams, a spooled body, or a copy of a
 *       body stored before the index): a candidate of every lookup;
 *     'C' mailbox id BE32 -> the first UID from which every message is
 *       indexed, pending or listed as not indexed (messages below it were
 *       stored before the index: always candidates). A mailbox without it
 *       (an older store's that received nothing since) is scanned;
 *     'N' mailbox id BE32 -> the next block to build (blocks below it
 *       and at or above C's have bitmaps). */
#include "store/store-int.h"

#include <stdlib.h>
#include <string.h>

#include "lib/util.h"
#include "mail/fts.h"

#define FTS_BLOCK_SHIFT 8       /* 256 UIDs: (trigram << 8 | bit) fits in 32 bits */
#define FTS_BLOCK_UIDS  (1u << FTS_BLOCK_SHIFT)
#define FTS_MAP_BYTES   (FTS_BLOCK_UIDS / 8)
#define FTS_MAP_KEY     11
#define FTS_META_KEY    9

static void
map_key(unsigned char k[FTS_MAP_KEY], uint32_t id, uint32_t block, uint32_t term)
{
	sdb_be32(k, id);
	sdb_be32(k + 4, block);
	k[8] = (unsigned char)(term >> 16);
	k[9] = (unsigned char)(term >> 8);
	k[10] = (unsigned char)term;
}

/* An ftsmeta key: the letter, then a (BE32) and b (BE32, if len 9). */
static size_t
meta_key(unsigned char k[FTS_META_KEY], char kind, uint32_t a, uint32_t b)
{
	k[0] = (unsigned char)kind;
	sdb_be32(k + 1, a);
	sdb_be32(k + 5, b);
	return kind == 'C' || kind == 'N' ? 5 : 9;
}

static size_t
body_key(unsigned char k[FTS_META_KEY], uint64_t body_id)
{
	k[0] = 'T';
	sdb_be64(k + 1, body_id);
	return 9;
}

int
sdb_fts_body_put(struct sdb_tx *tx, uint64_t body_id, const uint32_t *terms, size_t n)
{
	unsigned char key[FTS_META_KEY];
	unsigned char *v = xmalloc(n ? 3 * n : 1);
	for (size_t i = 0; i < n; i++) {
		v[3 * i] = (unsigned char)(terms[i] >> 16);
		v[3 * i + 1] = (unsigned char)(terms[i] >> 8);
		v[3 * i + 2] = (unsigned char)terms[i];
	}
	int r = sdb_put(tx->st->ftsmeta, tx->txn, key, body_key(key, body_id), v, 3 * n);
	free(v);
	return r;
}

static int
del_ok(int r)
{
	return r == STORE_NOTFOUND ? STORE_OK : r;
}

int
sdb_fts_body_forget(struct sdb_tx *tx, uint64_t body_id)
{
	unsigned char key[FTS_META_KEY];
	return del_ok(sdb_del(tx->st->ftsmeta, tx->txn, key, body_key(key, body_id)));
}

static int
get_u32(struct sdb_tx *tx, char kind, uint32_t id, uint32_t *v_r)
{
	unsigned char key[FTS_META_KEY];
	return sdb_get(tx->st->ftsmeta, tx->txn, key, meta_key(key, kind, id, 0),
	    v_r, sizeof(*v_r), 0);
}

static int
put_u32(struct sdb_tx *tx, char kind, uint32_t id, uint32_t v)
{
	unsigned char key[FTS_META_KEY];
	return sdb_put(tx->st->ftsmeta, tx->txn, key, meta_key(key, kind, id, 0),
	    &v, sizeof(v));
}

static int
u32_cmp(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
	return a < b ? -1 : a > b;
}

/* Builds block b of mailbox id from its pending lists, which go. Memory:
 * one (trigram << 8 | bit) per trigram of each of the block's messages,
 * at most FTS_BLOCK_UIDS * MAIL_FTS_TERMS_MAX * 4 bytes (4 MiB). */
static int
block_build(struct sdb_tx *tx, uint32_t id, uint32_t b)
{
	unsigned char key[FTS_META_KEY], mk[FTS_MAP_KEY], map[FTS_MAP_BYTES];
	uint32_t *pairs = NULL;
	size_t n = 0, cap = 0;
	DBC *cur;
	int r, e;

	if ((r = sdb_map(tx->st->ftsmeta->cursor(tx->st->ftsmeta, tx->txn, &cur, 0))) != STORE_OK)
		return r;
	meta_key(key, 'P', id, b << FTS_BLOCK_SHIFT);
	DBT k = { .data = key, .size = 9, .ulen = sizeof(key), .flags = DB_DBT_USERMEM };
	DBT d = { .flags = DB_DBT_MALLOC };
	for (int f = DB_SET_RANGE; ; f = DB_NEXT) {
		d.data = NULL;
		e = cur->get(cur, &k, &d, f | DB_RMW);
		if (e != 0)
			break;
		uint32_t uid = sdb_get_be32(key + 5);
		if (k.size != 9 || key[0] != 'P' || sdb_get_be32(key + 1) != id ||
		    uid >> FTS_BLOCK_SHIFT != b) {
			free(d.data);
			break;
		}
		const unsigned char *v = d.data;
		for (size_t i = 0; i + 3 <= d.size; i += 3) {
			if (n == cap) {
				cap = cap ? 2 * cap : 4096;
				pairs = xrealloc(pairs, cap * sizeof(*pairs));
			}
			pairs[n++] = (mail_fts_term(v + i) << FTS_BLOCK_SHIFT) |
			    (uid & (FTS_BLOCK_UIDS - 1));
		}
		free(d.data);
		if ((e = cur->del(cur, 0)) != 0)
			break;
	}
	(void)cur->close(cur);
	if (e != 0 && e != DB_NOTFOUND) {
		free(pairs);
		return sdb_map(e);
	}
	if (n > 1)
		qsort(pairs, n, sizeof(*pairs), u32_cmp);
	r = STORE_OK;
	for (size_t i = 0; r == STORE_OK && i < n;) {
		uint32_t term = pairs[i] >> FTS_BLOCK_SHIFT;
		memset(map, 0, sizeof(map));
		for (; i < n && pairs[i] >> FTS_BLOCK_SHIFT == term; i++) {
			uint32_t bit = pairs[i] & (FTS_BLOCK_UIDS - 1);
			map[bit / 8] |= (unsigned char)(1u << (bit % 8));
		}
		map_key(mk, id, b, term);
		r = sdb_put(tx->st->fts, tx->txn, mk, FTS_MAP_KEY, map, sizeof(map));
	}
	free(pairs);
	if (r == STORE_OK)
		r = put_u32(tx, 'N', id, b + 1);
	return r;
}

int
sdb_fts_add(struct sdb_tx *tx, uint32_t id, uint32_t uid, uint64_t body_id, bool fresh)
{
	unsigned char key[FTS_META_KEY];
	uint32_t from;
	void *v = NULL;
	size_t len = 0;
	int r;

	r = get_u32(tx, 'C', id, &from);
	if (r == STORE_NOTFOUND) {
		/* the first message since the index: those before it are not
		 * indexed, unless the mailbox never had any */
		from = fresh ? 1 : uid;
		if ((r = put_u32(tx, 'C', id, from)) == STORE_OK)
			r = put_u32(tx, 'N', id, from >> FTS_BLOCK_SHIFT);
	}
	if (r != STORE_OK)
		return r;
	r = sdb_get_alloc(tx->st->ftsmeta, tx->txn, key, body_key(key, body_id), &v, &len, 0);
	if (r == STORE_NOTFOUND)
		r = sdb_put(tx->st->ftsmeta, tx->txn, key, meta_key(key, 'U', id, uid), "", 0);
	else if (r == STORE_OK)
		r = sdb_put(tx->st->ftsmeta, tx->txn, key, meta_key(key, 'P', id, uid), v, len);
	free(v);
	/* the block's last UID: its lists become bitmaps */
	if (r == STORE_OK && (uid & (FTS_BLOCK_UIDS - 1)) == FTS_BLOCK_UIDS - 1)
		r = block_build(tx, id, uid >> FTS_BLOCK_SHIFT);
	return r;
}

/* Clears uid's bit in the bitmap of each of the body's trigrams. */
static int
bits_clear(struct sdb_tx *tx, uint32_t id, uint32_t uid, uint64_t body_id)
{
	unsigned char key[FTS_META_KEY], mk[FTS_MAP_KEY], map[FTS_MAP_BYTES];
	static const unsigned char zero[FTS_MAP_BYTES];
	uint32_t bit = uid & (FTS_BLOCK_UIDS - 1);
	unsigned char *v = NULL;
	size_t len = 0;
	int r = sdb_get_alloc(tx->st->ftsmeta, tx->txn, key, body_key(key, body_id),
	    (void **)&v, &len, 0);
	if (r != STORE_OK)
		return del_ok(r);
	for (size_t i = 0; r == STORE_OK && i + 3 <= len; i += 3) {
		map_key(mk, id, uid >> FTS_BLOCK_SHIFT, mail_fts_term(v + i));
		r = sdb_get(tx->st->fts, tx->txn, mk, FTS_MAP_KEY, map, sizeof(map), DB_RMW);
		if (r == STORE_NOTFOUND) {
			r = STORE_OK;
			continue;
		}
		if (r != STORE_OK)
			break;
		map[bit / 8] &= (unsigned char)~(1u << (bit % 8));
		r = memcmp(map, zero, sizeof(map)) == 0 ?
		    sdb_del(tx->st->fts, tx->txn, mk, FTS_MAP_KEY) :
		    sdb_put(tx->st->fts, tx->txn, mk, FTS_MAP_KEY, map, sizeof(map));
	}
	free(v);
	return r;
}

int
sdb_fts_remove(struct sdb_tx *tx, uint32_t id, uint32_t uid, uint64_t body_id)
{
	unsigned char key[FTS_META_KEY];
	int r = sdb_del(tx->st->ftsmeta, tx->txn, key, meta_key(key, 'P', id, uid));
	if (r == STORE_NOTFOUND)
		r = sdb_del(tx->st->ftsmeta, tx->txn, key, meta_key(key, 'U', id, uid));
	if (r == STORE_NOTFOUND)
		r = bits_clear(tx, id, uid, body_id);
	return r;
}

/* Deletes every key of db that starts with prefix[0..plen). */
static int
range_del(struct sdb_tx *tx, DB *db, const unsigned char *prefix, size_t plen)
{
	unsigned char key[FTS_MAP_KEY + 4];
	DBC *cur;
	int r, e;

	if ((r = sdb_map(db->cursor(db, tx->txn, &cur, 0))) != STORE_OK)
		return r;
	memcpy(key, prefix, plen);
	DBT k = { .data = key, .size = (u_int32_t)plen, .ulen = sizeof(key),
	    .flags = DB_DBT_USERMEM };
	DBT d = { .flags = DB_DBT_PARTIAL, .dlen = 0 };
	for (int f = DB_SET_RANGE; ; f = DB_NEXT) {
		e = cur->get(cur, &k, &d, f | DB_RMW);
		if (e != 0 || k.size < plen || memcmp(key, prefix, plen) != 0)
			break;
		if ((e = cur->del(cur, 0)) != 0)
			break;
	}
	(void)cur->close(cur);
	if (e != 0 && e != DB_NOTFOUND && e != DB_BUFFER_SMALL)
		return sdb_map(e);
	return STORE_OK;
}

int
sdb_fts_forget(struct sdb_tx *tx, uint32_t id, bool remove)
{
	unsigned char key[FTS_META_KEY];
	int r;

	sdb_be32(key, id);
	if ((r = range_del(tx, tx->st->fts, key, 4)) != STORE_OK)
		return r;
	(void)meta_key(key, 'P', id, 0);
	if ((r = range_del(tx, tx->st->ftsmeta, key, 5)) != STORE_OK)
		return r;
	(void)meta_key(key, 'U', id, 0);
	if ((r = range_del(tx, tx->st->ftsmeta, key, 5)) != STORE_OK)
		return r;
	if (!remove)
		return STORE_OK;
	if ((r = del_ok(sdb_del(tx->st->ftsmeta, tx->txn, key, meta_key(key, 'C', id, 0)))) != STORE_OK)
		return r;
	return del_ok(sdb_del(tx->st->ftsmeta, tx->txn, key, meta_key(key, 'N', id, 0)));
}

/* ---- the lookup (SEARCH) ---- */

struct cand_arg {
	uint32_t id;
	uint32_t last_uid;
	const uint32_t *terms;
	size_t nterms;
	uint32_t *uids;
	size_t n, cap;
	uint32_t from;
};

static void
cand_add(struct cand_arg *a, uint32_t uid)
{
	if (a->n == a->cap) {
		a->cap = a->cap ? 2 * a->cap : 64;
		a->uids = xrealloc(a->uids, a->cap * sizeof(*a->uids));
	}
	a->uids[a->n++] = uid;
}

/* The candidates of built block b: the AND of its trigrams' bitmaps. */
static int
cand_block(struct sdb_tx *tx, struct cand_arg *a, uint32_t b)
{
	unsigned char mk[FTS_MAP_KEY], map[FTS_MAP_BYTES], acc[FTS_MAP_BYTES];
	memset(acc, 0xff, sizeof(acc));
	for (size_t i = 0; i < a->nterms; i++) {
		map_key(mk, a->id, b, a->terms[i]);
		int r = sdb_get(tx->st->fts, tx->txn, mk, FTS_MAP_KEY, map, sizeof(map), 0);
		if (r == STORE_NOTFOUND)
			return STORE_OK;
		if (r != STORE_OK)
			return r;
		bool any = false;
		for (size_t k = 0; k < sizeof(acc); k++)
			any |= (acc[k] &= map[k]) != 0;
		if (!any)
			return STORE_OK;
	}
	for (uint32_t bit = 0; bit < FTS_BLOCK_UIDS; bit++)
		if (acc[bit / 8] & (1u << (bit % 8)))
			cand_add(a, (b << FTS_BLOCK_SHIFT) | bit);
	return STORE_OK;
}

/* Does the sorted 3-byte list v[0..len) hold term? */
static bool
list_has(const unsigned char *v, size_t len, uint32_t term)
{
	size_t lo = 0, hi = len / 3;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		uint32_t t = mail_fts_term(v + 3 * mid);
		if (t == term)
			return true;
		if (t < term)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* The pending messages (with pending) holding every term, or the
 * messages not indexed. */
static int
cand_meta(struct sdb_tx *tx, struct cand_arg *a, char kind)
{
	unsigned char key[FTS_META_KEY], prefix[FTS_META_KEY];
	DBC *cur;
	int r, e;

	if ((r = sdb_map(tx->st->ftsmeta->cursor(tx->st->ftsmeta, tx->txn, &cur, 0))) != STORE_OK)
		return r;
	(void)meta_key(prefix, kind, a->id, 0);
	memcpy(key, prefix, sizeof(key));
	DBT k = { .data = key, .size = 9, .ulen = sizeof(key), .flags = DB_DBT_USERMEM };
	DBT d = { .flags = DB_DBT_MALLOC };
	for (int f = DB_SET_RANGE; ; f = DB_NEXT) {
		d.data = NULL;
		e = cur->get(cur, &k, &d, f);
		if (e != 0)
			break;
		if (k.size != 9 || memcmp(key, prefix, 5) != 0) {
			free(d.data);
			break;
		}
		bool all = true;
		for (size_t i = 0; kind == 'P' && all && i < a->nterms; i++)
			all = list_has(d.data, d.size, a->terms[i]);
		if (all)
			cand_add(a, sdb_get_be32(key + 5));
		free(d.data);
	}
	(void)cur->close(cur);
	return e == DB_NOTFOUND || e == 0 ? STORE_OK : sdb_map(e);
}

static int
cand_tx(struct sdb_tx *tx, void *varg)
{
	struct cand_arg *a = varg;
	uint32_t next;
	int r;

	a->n = 0;
	if ((r = get_u32(tx, 'C', a->id, &a->from)) != STORE_OK ||
	    (r = get_u32(tx, 'N', a->id, &next)) != STORE_OK)
		return r;
	for (uint32_t b = a->from >> FTS_BLOCK_SHIFT;
	    r == STORE_OK && b < next && b <= a->last_uid >> FTS_BLOCK_SHIFT; b++)
		r = cand_block(tx, a, b);
	if (r == STORE_OK)
		r = cand_meta(tx, a, 'P');
	if (r == STORE_OK)
		r = cand_meta(tx, a, 'U');
	return r;
}

int
store_fts_candidates(struct store *st, uint32_t mailbox_id, uint32_t last_uid,
    const uint32_t *terms, size_t nterms, uint32_t **uids_r, size_t *n_r, uint32_t *from_r)
{
	struct cand_arg a = { .id = mailbox_id, .last_uid = last_uid, .terms = terms,
	    .nterms = nterms };
	int r = nterms == 0 ? STORE_INVALID : sdb_run(st, false, cand_tx, &a);

	*uids_r = NULL;
	*n_r = 0;
	*from_r = 0;
	if (r != STORE_OK) {
		free(a.uids);
		return r;
	}
	if (a.n > 1)
		qsort(a.uids, a.n, sizeof(*a.uids), u32_cmp);
	*uids_r = a.uids;
	*n_r = a.n;
	*from_r = a.from;
	return STORE_OK;
}
