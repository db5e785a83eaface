/* store-fts.c: the full-text index for SEARCH BODY and TEXT (mail/fts.h
 * says what a term is and why trigrams).
 *
 * The one idea: the index is written by the same transactions that add
 * and remove messages, so it and the mailbox never disagree after a
 * crash. Two files:
 *   fts.db (sorted duplicates): (mailbox id BE32, UID block BE32, trigram
 *     3 bytes) -> the UIDs (BE32) of the block's messages holding it, and
 *     (mailbox id BE32) -> the
 *     UIDs of the messages that are not indexed (too much text, too many
 *     trigrams, a spooled body, or copied from a body stored before the
 *     index): always candidates.
 *   ftsmeta.db: body id BE64 -> the body's trigrams (3 bytes each,
 *     ascending), written with the body (sdb_fts_body_put) and freed with
 *     it, so that COPY, MOVE and EXPUNGE add and remove postings without
 *     reading the message; and mailbox id BE32 -> the first UID from
 *     which every message of the mailbox is either indexed or listed as
 *     not indexed (messages below it were stored before the index
 *     existed: always candidates). A mailbox without it (an older store's
 *     that received nothing since) is scanned.
 * The UID block (FTS_BLOCK_UIDS consecutive UIDs) keeps a delivery's
 * writes together: a mailbox's new messages touch the pages of its last
 * block only, which stay in the cache, where keys of (mailbox, trigram)
 * alone sent each delivery to a few hundred pages all over the file (10x
 * slower APPENDs on a 50,000-message INBOX). A lookup costs a few
 * cursor positionings per block. */
#include "store/store-int.h"

#include <stdlib.h>
#include <string.h>

#include "lib/util.h"
#include "mail/fts.h"

#define FTS_POST_KEY 11
#define FTS_BLOCK_SHIFT 9
#define FTS_BLOCK_UIDS (1u << FTS_BLOCK_SHIFT)

static void
post_key(unsigned char k[FTS_POST_KEY], uint32_t id, uint32_t block, uint32_t term)
{
	sdb_be32(k, id);
	sdb_be32(k + 4, block);
	k[8] = (unsigned char)(term >> 16);
	k[9] = (unsigned char)(term >> 8);
	k[10] = (unsigned char)term;
}

/* One (key, uid) pair added (an existing pair is kept) or removed. */
static int
pair_put(struct sdb_tx *tx, const unsigned char *key, size_t klen, uint32_t uid)
{
	unsigned char v[4];
	sdb_be32(v, uid);
	DBT k = { .data = (void *)key, .size = (u_int32_t)klen };
	DBT d = { .data = v, .size = 4 };
	int e = tx->st->fts->put(tx->st->fts, tx->txn, &k, &d, DB_NODUPDATA);
	return e == DB_KEYEXIST ? STORE_OK : sdb_map(e);
}

static int
pair_del(DBC *cur, const unsigned char *key, size_t klen, uint32_t uid)
{
	unsigned char v[4];
	sdb_be32(v, uid);
	DBT k = { .data = (void *)key, .size = (u_int32_t)klen };
	DBT d = { .data = v, .size = 4 };
	int e = cur->get(cur, &k, &d, DB_GET_BOTH | DB_RMW);
	if (e == 0)
		e = cur->del(cur, 0);
	return e == DB_NOTFOUND ? STORE_OK : sdb_map(e);
}

int
sdb_fts_body_put(struct sdb_tx *tx, uint64_t body_id, const uint32_t *terms, size_t n)
{
	unsigned char key[8];
	unsigned char *v = xmalloc(n ? 3 * n : 1);
	for (size_t i = 0; i < n; i++) {
		v[3 * i] = (unsigned char)(terms[i] >> 16);
		v[3 * i + 1] = (unsigned char)(terms[i] >> 8);
		v[3 * i + 2] = (unsigned char)terms[i];
	}
	sdb_be64(key, body_id);
	int r = sdb_put(tx->st->ftsmeta, tx->txn, key, 8, v, 3 * n);
	free(v);
	return r;
}

int
sdb_fts_body_forget(struct sdb_tx *tx, uint64_t body_id)
{
	unsigned char key[8];
	sdb_be64(key, body_id);
	int r = sdb_del(tx->st->ftsmeta, tx->txn, key, 8);
	return r == STORE_NOTFOUND ? STORE_OK : r;
}

/* The body's trigrams (3 bytes each): STORE_NOTFOUND when it has none. */
static int
body_terms(struct sdb_tx *tx, uint64_t body_id, unsigned char **v_r, size_t *n_r)
{
	unsigned char key[8];
	void *v;
	size_t len;
	sdb_be64(key, body_id);
	int r = sdb_get_alloc(tx->st->ftsmeta, tx->txn, key, 8, &v, &len, 0);
	if (r != STORE_OK)
		return r;
	*v_r = v;
	*n_r = len / 3;
	return STORE_OK;
}

int
sdb_fts_add(struct sdb_tx *tx, uint32_t id, uint32_t uid, uint64_t body_id, bool fresh)
{
	unsigned char key[FTS_POST_KEY], *v = NULL;
	uint32_t from;
	size_t n;
	int r;

	sdb_be32(key, id);
	r = sdb_get(tx->st->ftsmeta, tx->txn, key, 4, &from, sizeof(from), 0);
	if (r == STORE_NOTFOUND) {
		/* the first message since the index: those before it are not
		 * indexed, unless the mailbox never had any */
		from = fresh ? 1 : uid;
		r = sdb_put(tx->st->ftsmeta, tx->txn, key, 4, &from, sizeof(from));
	}
	if (r != STORE_OK)
		return r;
	r = body_terms(tx, body_id, &v, &n);
	if (r == STORE_NOTFOUND)
		return pair_put(tx, key, 4, uid);
	for (size_t i = 0; r == STORE_OK && i < n; i++) {
		post_key(key, id, uid >> FTS_BLOCK_SHIFT, mail_fts_term(v + 3 * i));
		r = pair_put(tx, key, FTS_POST_KEY, uid);
	}
	free(v);
	return r;
}

int
sdb_fts_remove(struct sdb_tx *tx, uint32_t id, uint32_t uid, uint64_t body_id)
{
	unsigned char key[FTS_POST_KEY], *v = NULL;
	size_t n = 0;
	DBC *cur;
	int r = body_terms(tx, body_id, &v, &n);

	if (r != STORE_OK && r != STORE_NOTFOUND)
		return r;
	if ((r = sdb_map(tx->st->fts->cursor(tx->st->fts, tx->txn, &cur, 0))) != STORE_OK) {
		free(v);
		return r;
	}
	sdb_be32(key, id);
	r = pair_del(cur, key, 4, uid);
	for (size_t i = 0; r == STORE_OK && i < n; i++) {
		post_key(key, id, uid >> FTS_BLOCK_SHIFT, mail_fts_term(v + 3 * i));
		r = pair_del(cur, key, FTS_POST_KEY, uid);
	}
	(void)cur->close(cur);
	free(v);
	return r;
}

int
sdb_fts_forget(struct sdb_tx *tx, uint32_t id, bool remove)
{
	unsigned char key[FTS_POST_KEY];
	DBC *cur;
	int r, e;

	if ((r = sdb_map(tx->st->fts->cursor(tx->st->fts, tx->txn, &cur, 0))) != STORE_OK)
		return r;
	sdb_be32(key, id);
	DBT k = { .data = key, .size = 4, .ulen = sizeof(key), .flags = DB_DBT_USERMEM };
	DBT d = { .flags = DB_DBT_PARTIAL, .dlen = 0 };
	for (int f = DB_SET_RANGE; ; f = DB_NEXT) {
		e = cur->get(cur, &k, &d, f | DB_RMW);
		if (e != 0 || k.size < 4 || sdb_get_be32(key) != id)
			break;
		if ((e = cur->del(cur, 0)) != 0)
			break;
	}
	(void)cur->close(cur);
	if (e != 0 && e != DB_NOTFOUND && e != DB_BUFFER_SMALL)
		return sdb_map(e);
	if (!remove)
		return STORE_OK;
	sdb_be32(key, id);
	r = sdb_del(tx->st->ftsmeta, tx->txn, key, 4);
	return r == STORE_NOTFOUND ? STORE_OK : r;
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

/* Appends every UID under key. */
static int
read_dups(DBC *cur, unsigned char *key, size_t klen, struct cand_arg *a)
{
	unsigned char v[4];
	DBT k = { .data = key, .size = (u_int32_t)klen };
	DBT d = { .data = v, .ulen = 4, .flags = DB_DBT_USERMEM };
	int e;
	for (int f = DB_SET; (e = cur->get(cur, &k, &d, f)) == 0; f = DB_NEXT_DUP)
		if (d.size == 4)
			cand_add(a, sdb_get_be32(v));
	return e == DB_NOTFOUND ? STORE_OK : sdb_map(e);
}

static int
uid_cmp(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
	return a < b ? -1 : a > b;
}

/* The candidates of one UID block, appended. */
static int
cand_block(DBC *cur, struct cand_arg *a, uint32_t block)
{
	unsigned char key[FTS_POST_KEY], v[4];
	size_t rare = 0, nrare = SIZE_MAX, first = a->n;
	int e = 0, r;

	/* the rarest trigram's list, then each of its UIDs checked against
	 * the others' (a few lookups, not the common trigrams' long lists) */
	for (size_t i = 0; i < a->nterms; i++) {
		db_recno_t cnt = 0;
		post_key(key, a->id, block, a->terms[i]);
		DBT k = { .data = key, .size = FTS_POST_KEY };
		DBT d = { .flags = DB_DBT_PARTIAL, .dlen = 0 };
		e = cur->get(cur, &k, &d, DB_SET);
		if (e == DB_NOTFOUND)
			return STORE_OK;
		if (e != 0 || (e = cur->count(cur, &cnt, 0)) != 0)
			return sdb_map(e);
		if (cnt < nrare) {
			nrare = cnt;
			rare = i;
		}
	}
	post_key(key, a->id, block, a->terms[rare]);
	if ((r = read_dups(cur, key, FTS_POST_KEY, a)) != STORE_OK)
		return r;
	for (size_t i = 0; i < a->nterms && a->n > first; i++) {
		if (i == rare)
			continue;
		size_t kept = first;
		post_key(key, a->id, block, a->terms[i]);
		for (size_t c = first; c < a->n; c++) {
			sdb_be32(v, a->uids[c]);
			DBT k = { .data = key, .size = FTS_POST_KEY };
			DBT d = { .data = v, .size = 4, .ulen = 4, .flags = DB_DBT_USERMEM };
			e = cur->get(cur, &k, &d, DB_GET_BOTH);
			if (e == DB_NOTFOUND)
				continue;
			if (e != 0)
				return sdb_map(e);
			a->uids[kept++] = a->uids[c];
		}
		a->n = kept;
	}
	return STORE_OK;
}

static int
cand_tx(struct sdb_tx *tx, void *varg)
{
	struct cand_arg *a = varg;
	unsigned char key[4];
	DBC *cur;
	int r;

	a->n = 0;
	sdb_be32(key, a->id);
	if ((r = sdb_get(tx->st->ftsmeta, tx->txn, key, 4, &a->from, sizeof(a->from), 0)) != STORE_OK)
		return r;
	if ((r = sdb_map(tx->st->fts->cursor(tx->st->fts, tx->txn, &cur, 0))) != STORE_OK)
		return r;
	for (uint32_t b = a->from >> FTS_BLOCK_SHIFT;
	    r == STORE_OK && b <= a->last_uid >> FTS_BLOCK_SHIFT; b++)
		r = cand_block(cur, a, b);
	/* and the messages that are not indexed */
	if (r == STORE_OK)
		r = read_dups(cur, key, 4, a);
	(void)cur->close(cur);
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
	qsort(a.uids, a.n, sizeof(*a.uids), uid_cmp);
	*uids_r = a.uids;
	*n_r = a.n;
	*from_r = a.from;
	return STORE_OK;
}
