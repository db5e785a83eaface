/* imap-searchmem.c: a mailbox's search records in memory (see
 * imap-searchmem.h for the contract).
 *
 * The one idea: records live in chunks, each the records of the messages
 * with lo < uid <= hi packed in one allocation (the UIDs, the offsets,
 * then the records), built once and never changed. A version is a sorted
 * array of chunk references, built once and never changed; the table
 * holds the current one under its mutex, which is taken only to take a
 * reference to it or to replace it (a pointer swap: nothing is built
 * under it but the list of a new version); the loop takes it only to close
 * the table. Dropping expunged records replaces the chunks that held them
 * by smaller copies, made outside the lock.
 *
 * A record: u8 has_sent, u8 n, i32 sent_day, u16 sort_len, then n times
 * (u8 field, u16 length, bytes), then the blob's sort keys (sort_len
 * bytes as the blob has them, for SORT and THREAD: mail_cache_sort_get
 * reads them; 0 when it has none): 8 + 3 per entry + the text, kept
 * folded (mail_text_fold: what mail_text_contains_folded does to it at
 * every comparison, done once), + the sort keys. A message whose record is
 * absent from its blob, or has a field over 65,535 bytes, is kept as "no
 * record" (it is read, as it was before). Every byte a chunk takes is
 * counted in one global total that may not go over
 * IMAP_SEARCHMEM_MAX_BYTES, nor a quarter of [limits] max_memory when
 * that is set, nor what the messages in memory (lib/membudget.h) leave
 * of max_memory. A chunk that does not fit first drops the whole tables
 * of other mailboxes, least recently searched first, that no SEARCH holds
 * now (they are built again by their next SEARCH); what still does not fit
 * is not kept and is read from the store. A SEARCH that starts while the
 * records are over the bound (max_memory is taken by messages) drops
 * tables the same way. */
#include "imap/imap-searchmem.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "lib/limits.h"
#include "lib/membudget.h"
#include "lib/metrics.h"
#include "lib/util.h"
#include "mail/decode.h"

#define NOREC       UINT32_MAX    /* offset of a message without a record */
#define REC_HEAD    8
#define REC_ENTRY   3
#define FETCH_BATCH 256           /* blobs read in one transaction */

struct chunk {
	atomic_uint refs;
	uint32_t lo, hi;          /* lo < uid <= hi */
	size_t n;
	size_t bytes;             /* counted in total_bytes */
	uint32_t *uids;           /* n, ascending */
	uint32_t *off;            /* n, into arena; NOREC: none */
	char *arena;
};

struct imap_searchmem_ver {
	atomic_uint refs;
	uint32_t uidvalidity;     /* 0 while empty */
	size_t n;
	struct chunk *c[];        /* ascending by lo, not overlapping */
};

struct imap_searchmem {
	atomic_uint refs;
	pthread_mutex_t mu;
	struct imap_searchmem_ver *cur;   /* under mu; NULL once closed */
	struct imap_searchmem *lru_prev, *lru_next;   /* under lru_mu */
	bool in_lru;
};

static _Atomic uint64_t total_bytes;

/* Every open table, the most recently searched first. Taken before a
 * table's mu, never while holding one. */
static pthread_mutex_t lru_mu = PTHREAD_MUTEX_INITIALIZER;
static struct imap_searchmem *lru_head, *lru_tail;

uint64_t
imap_searchmem_bytes(void)
{
	return atomic_load_explicit(&total_bytes, memory_order_relaxed);
}

/* ---- chunks ---- */

static void
chunk_unref(struct chunk *c)
{
	if (atomic_fetch_sub(&c->refs, 1) != 1)
		return;
	atomic_fetch_sub(&total_bytes, c->bytes);
	metrics_search_memory(-(int64_t)c->bytes);
	free(c);
}

/* What all tables may hold now. */
static uint64_t
bytes_cap(void)
{
	uint64_t cap = IMAP_SEARCHMEM_MAX_BYTES, lim = membudget_limit();
	if (lim > 0) {
		uint64_t used = membudget_used();
		if (lim / 4 < cap)
			cap = lim / 4;
		/* the messages in memory come first */
		if (used >= lim)
			cap = 0;
		else if (lim - used < cap)
			cap = lim - used;
	}
	return cap;
}

static struct imap_searchmem_ver *ver_new(uint32_t uidvalidity, size_t n);

/* Drops the records of other tables than keep, least recently searched
 * first, until need more bytes fit under the cap or none is left to
 * drop. A table whose current version a SEARCH holds is left alone (its
 * records are in use; what the job holds goes with it anyway). */
static void
evict(const struct imap_searchmem *keep, size_t need)
{
	pthread_mutex_lock(&lru_mu);
	for (struct imap_searchmem *sm = lru_tail; sm != NULL; sm = sm->lru_prev) {
		if (atomic_load(&total_bytes) + need <= bytes_cap())
			break;
		if (sm == keep)
			continue;
		struct imap_searchmem_ver *old = NULL;
		pthread_mutex_lock(&sm->mu);
		if (sm->cur != NULL && sm->cur->n > 0 && atomic_load(&sm->cur->refs) == 1) {
			old = sm->cur;
			sm->cur = ver_new(0, 0);
		}
		pthread_mutex_unlock(&sm->mu);
		imap_searchmem_ver_unref(&old);
	}
	pthread_mutex_unlock(&lru_mu);
}

/* Room for bytes more in all tables? Taken if so; the tables of other
 * mailboxes than sm's give way if need be. */
static bool
bytes_take(const struct imap_searchmem *sm, size_t bytes)
{
	uint64_t now = atomic_load(&total_bytes);
	bool evicted = false;
	do {
		if (now + bytes > bytes_cap()) {
			if (evicted)
				return false;
			evict(sm, bytes);
			evicted = true;
			now = atomic_load(&total_bytes);
			if (now + bytes > bytes_cap())
				return false;
		}
	} while (!atomic_compare_exchange_weak(&total_bytes, &now, now + bytes));
	metrics_search_memory((int64_t)bytes);
	return true;
}

/* One allocation for n records whose text takes alen bytes, for sm; NULL
 * when it does not fit in the limit. */
static struct chunk *
chunk_alloc(const struct imap_searchmem *sm, uint32_t lo, uint32_t hi, size_t n, size_t alen)
{
	size_t bytes = sizeof(struct chunk) + n * 2 * sizeof(uint32_t) + alen;
	if (!bytes_take(sm, bytes))
		return NULL;
	struct chunk *c = xmalloc(bytes);
	atomic_init(&c->refs, 1);
	c->lo = lo;
	c->hi = hi;
	c->n = n;
	c->bytes = bytes;
	c->uids = (uint32_t *)(c + 1);
	c->off = c->uids + n;
	c->arena = (char *)(c->off + n);
	return c;
}

/* The length of the record at p. */
static size_t
rec_len(const unsigned char *p)
{
	uint16_t sl;
	size_t len = REC_HEAD;
	for (unsigned i = 0; i < p[1]; i++) {
		uint16_t l;
		memcpy(&l, p + len + 1, sizeof(l));
		len += REC_ENTRY + l;
	}
	memcpy(&sl, p + 6, sizeof(sl));
	return len + sl;           /* the sort keys follow the entries */
}

/* Appends mail_text_fold(v) to b: ASCII (the usual header) lowercased
 * in place, which is what mail_text_fold does to it. */
static void
fold_append(struct mm_buf *b, const char *v, size_t len)
{
	size_t i = 0;
	while (i < len && (unsigned char)v[i] < 0x80)
		i++;
	if (i < len) {
		mail_text_fold(v, len, b);
		return;
	}
	mm_buf_reserve(b, len);
	char *o = b->data + b->len;
	for (i = 0; i < len; i++)
		o[i] = v[i] >= 'A' && v[i] <= 'Z' ? (char)(v[i] + 32) : v[i];
	b->len += len;
}

/* The record of a blob appended to b; false (nothing appended): none. */
static bool
rec_encode(const char *blob, size_t len, struct mm_buf *b)
{
	struct mail_cache_search r;
	size_t start = b->len;
	if (blob == NULL || mail_cache_search_get(blob, len, &r) != 0 || r.n > UINT8_MAX)
		return false;
	unsigned char head[REC_HEAD];
	int32_t day = (int32_t)r.sent_day;
	uint16_t sl = r.sort_len <= UINT16_MAX ? (uint16_t)r.sort_len : 0;
	head[0] = r.has_sent;
	head[1] = (unsigned char)r.n;
	memcpy(head + 2, &day, sizeof(day));
	memcpy(head + 6, &sl, sizeof(sl));
	mm_buf_append(b, head, sizeof(head));
	for (size_t i = 0; i < r.n; i++) {
		unsigned char e[REC_ENTRY] = { (unsigned char)r.e[i].field, 0, 0 };
		size_t at = b->len + 1;
		mm_buf_append(b, e, sizeof(e));
		fold_append(b, r.e[i].v, r.e[i].len);
		size_t fl = b->len - at - 2;
		if (fl > UINT16_MAX) {
			b->len = start;
			return false;
		}
		uint16_t l = (uint16_t)fl;
		memcpy(b->data + at, &l, sizeof(l));
	}
	if (sl > 0)
		mm_buf_append(b, r.sort, sl);
	return true;
}

static struct chunk *
chunk_build(const struct imap_searchmem *sm, uint32_t lo, uint32_t hi, const uint32_t *uids,
    char *const *blobs, const size_t *lens, size_t n)
{
	struct mm_buf b;
	uint32_t *off = xmalloc((n ? n : 1) * sizeof(*off));
	mm_buf_init(&b);
	for (size_t k = 0; k < n; k++) {
		size_t at = b.len;
		off[k] = at <= UINT32_MAX - 1 && rec_encode(blobs[k], lens[k], &b) ?
		    (uint32_t)at : NOREC;
	}
	struct chunk *c = chunk_alloc(sm, lo, hi, n, b.len);
	if (c != NULL) {
		memcpy(c->uids, uids, n * sizeof(*uids));
		memcpy(c->off, off, n * sizeof(*off));
		if (b.len > 0)
			memcpy(c->arena, b.data, b.len);
	}
	free(off);
	mm_buf_free(&b);
	return c;
}

/* c without the UIDs in gone (ascending); NULL if that does not fit (the
 * caller keeps c). */
static struct chunk *
chunk_without(const struct imap_searchmem *sm, const struct chunk *c, const uint32_t *gone,
    size_t ngone)
{
	size_t keep = 0, alen = 0, g = 0;
	bool *drop = xcalloc(c->n ? c->n : 1, sizeof(*drop));
	for (size_t k = 0; k < c->n; k++) {
		while (g < ngone && gone[g] < c->uids[k])
			g++;
		drop[k] = g < ngone && gone[g] == c->uids[k];
		if (drop[k])
			continue;
		keep++;
		if (c->off[k] != NOREC)
			alen += rec_len((const unsigned char *)c->arena + c->off[k]);
	}
	struct chunk *nc = chunk_alloc(sm, c->lo, c->hi, keep, alen);
	if (nc != NULL) {
		size_t j = 0, at = 0;
		for (size_t k = 0; k < c->n; k++) {
			if (drop[k])
				continue;
			nc->uids[j] = c->uids[k];
			nc->off[j] = NOREC;
			if (c->off[k] != NOREC) {
				size_t l = rec_len((const unsigned char *)c->arena + c->off[k]);
				memcpy(nc->arena + at, c->arena + c->off[k], l);
				nc->off[j] = (uint32_t)at;
				at += l;
			}
			j++;
		}
	}
	free(drop);
	return nc;
}

/* ---- versions ---- */

static struct imap_searchmem_ver *
ver_new(uint32_t uidvalidity, size_t n)
{
	struct imap_searchmem_ver *v = xcalloc(1, sizeof(*v) + n * sizeof(v->c[0]));
	atomic_init(&v->refs, 1);
	v->uidvalidity = uidvalidity;
	v->n = n;
	return v;
}

void
imap_searchmem_ver_unref(struct imap_searchmem_ver **vp)
{
	struct imap_searchmem_ver *v = *vp;
	*vp = NULL;
	if (v == NULL || atomic_fetch_sub(&v->refs, 1) != 1)
		return;
	for (size_t i = 0; i < v->n; i++)
		chunk_unref(v->c[i]);
	free(v);
}

/* The first chunk with hi >= uid (v->n if none). */
static size_t
ver_seek(const struct imap_searchmem_ver *v, uint32_t uid)
{
	size_t l = 0, h = v->n;
	while (l < h) {
		size_t mid = l + (h - l) / 2;
		if (v->c[mid]->hi < uid)
			l = mid + 1;
		else
			h = mid;
	}
	return l;
}

int
imap_searchmem_find(const struct imap_searchmem_ver *v, uint32_t uidvalidity, uint32_t uid,
    struct mail_cache_search *out)
{
	struct imap_searchmem_pos pos = { 0, 0 };
	return imap_searchmem_find_at(v, uidvalidity, uid, &pos, out);
}

int
imap_searchmem_find_at(const struct imap_searchmem_ver *v, uint32_t uidvalidity, uint32_t uid,
    struct imap_searchmem_pos *pos, struct mail_cache_search *out)
{
	if (v == NULL || v->uidvalidity != uidvalidity)
		return -1;
	/* ascending UIDs walk the chunks and their UIDs once; a step back
	 * (or a first call) seeks */
	if (pos->ci >= v->n || v->c[pos->ci]->lo >= uid) {
		pos->ci = ver_seek(v, uid);
		pos->k = 0;
	}
	while (pos->ci < v->n && v->c[pos->ci]->hi < uid) {
		pos->ci++;
		pos->k = 0;
	}
	if (pos->ci >= v->n || v->c[pos->ci]->lo >= uid)
		return -1;
	const struct chunk *c = v->c[pos->ci];
	if (pos->k > c->n || (pos->k > 0 && c->uids[pos->k - 1] >= uid))
		pos->k = mm_u32_lower(c->uids, c->n, uid);
	while (pos->k < c->n && c->uids[pos->k] < uid)
		pos->k++;
	size_t l = pos->k;
	if (l >= c->n || c->uids[l] != uid)
		return -1;         /* gone before the chunk was built: read */
	if (c->off[l] == NOREC)
		return 0;
	if (out == NULL)
		return 1;
	const unsigned char *p = (const unsigned char *)c->arena + c->off[l];
	int32_t day;
	uint16_t sl;
	size_t at = REC_HEAD;
	memcpy(&day, p + 2, sizeof(day));
	memcpy(&sl, p + 6, sizeof(sl));
	out->has_sent = p[0] != 0;
	out->sent_day = day;
	out->n = p[1];
	for (size_t i = 0; i < out->n; i++) {
		uint16_t len;
		memcpy(&len, p + at + 1, sizeof(len));
		out->e[i].field = (enum mail_search_field)p[at];
		out->e[i].v = (const char *)p + at + REC_ENTRY;
		out->e[i].len = len;
		at += REC_ENTRY + len;
	}
	out->sort = sl > 0 ? p + at : NULL;
	out->sort_len = sl;
	return 1;
}

/* ---- the table ---- */

struct imap_searchmem *
imap_searchmem_new(void)
{
	struct imap_searchmem *sm = xcalloc(1, sizeof(*sm));
	atomic_init(&sm->refs, 1);
	pthread_mutex_init(&sm->mu, NULL);
	sm->cur = ver_new(0, 0);
	pthread_mutex_lock(&lru_mu);
	sm->lru_next = lru_head;
	if (lru_head != NULL)
		lru_head->lru_prev = sm;
	else
		lru_tail = sm;
	lru_head = sm;
	sm->in_lru = true;
	pthread_mutex_unlock(&lru_mu);
	return sm;
}

static void
lru_unlink(struct imap_searchmem *sm)
{
	if (!sm->in_lru)
		return;
	if (sm->lru_prev != NULL)
		sm->lru_prev->lru_next = sm->lru_next;
	else
		lru_head = sm->lru_next;
	if (sm->lru_next != NULL)
		sm->lru_next->lru_prev = sm->lru_prev;
	else
		lru_tail = sm->lru_prev;
	sm->lru_prev = sm->lru_next = NULL;
	sm->in_lru = false;
}

/* A SEARCH uses sm: it goes to the head of the list. */
static void
lru_touch(struct imap_searchmem *sm)
{
	pthread_mutex_lock(&lru_mu);
	if (sm->in_lru && lru_head != sm) {
		lru_unlink(sm);
		sm->lru_next = lru_head;
		lru_head->lru_prev = sm;
		lru_head = sm;
		sm->in_lru = true;
	}
	pthread_mutex_unlock(&lru_mu);
}

static void
lru_remove(struct imap_searchmem *sm)
{
	pthread_mutex_lock(&lru_mu);
	lru_unlink(sm);
	pthread_mutex_unlock(&lru_mu);
}

struct imap_searchmem *
imap_searchmem_ref(struct imap_searchmem *sm)
{
	atomic_fetch_add(&sm->refs, 1);
	return sm;
}

void
imap_searchmem_unref(struct imap_searchmem **smp)
{
	struct imap_searchmem *sm = *smp;
	*smp = NULL;
	if (sm == NULL || atomic_fetch_sub(&sm->refs, 1) != 1)
		return;
	lru_remove(sm);
	imap_searchmem_ver_unref(&sm->cur);
	pthread_mutex_destroy(&sm->mu);
	free(sm);
}

/* Replaces the current version by v (taken over); with close, by
 * nothing. The old one is dropped outside the lock. */
static void
publish(struct imap_searchmem *sm, struct imap_searchmem_ver *v, bool close)
{
	struct imap_searchmem_ver *old;
	pthread_mutex_lock(&sm->mu);
	old = sm->cur;
	if (old == NULL && !close) {       /* closed meanwhile */
		old = v;
	} else {
		sm->cur = v;
	}
	pthread_mutex_unlock(&sm->mu);
	imap_searchmem_ver_unref(&old);
}

void
imap_searchmem_close(struct imap_searchmem *sm)
{
	lru_remove(sm);
	publish(sm, NULL, true);
}

void
imap_searchmem_reset(struct imap_searchmem *sm)
{
	publish(sm, ver_new(0, 0), false);
}

static struct imap_searchmem_ver *
ver_get(struct imap_searchmem *sm)
{
	struct imap_searchmem_ver *v;
	pthread_mutex_lock(&sm->mu);
	v = sm->cur;
	if (v != NULL)
		atomic_fetch_add(&v->refs, 1);
	pthread_mutex_unlock(&sm->mu);
	return v;
}

struct imap_searchmem_ver *
imap_searchmem_get(struct imap_searchmem *sm)
{
	lru_touch(sm);
	if (atomic_load(&total_bytes) > bytes_cap())
		evict(sm, 0);      /* max_memory went to messages meanwhile */
	return ver_get(sm);
}

/* v with c inserted (taken over), or NULL (c dropped) when it overlaps a
 * chunk of v or belongs to another UIDVALIDITY than v's records. */
static struct imap_searchmem_ver *
ver_insert(const struct imap_searchmem_ver *v, uint32_t uidvalidity, struct chunk *c)
{
	bool other = v->n > 0 && v->uidvalidity != uidvalidity;
	size_t at = other ? 0 : ver_seek(v, c->lo + 1);
	if ((at < v->n && !other && v->c[at]->lo < c->hi)) {
		chunk_unref(c);
		return NULL;
	}
	/* another UIDVALIDITY: the old records are of other messages */
	struct imap_searchmem_ver *nv = ver_new(uidvalidity, other ? 1 : v->n + 1);
	if (other) {
		nv->c[0] = c;
		return nv;
	}
	for (size_t i = 0; i < at; i++) {
		nv->c[i] = v->c[i];
		atomic_fetch_add(&nv->c[i]->refs, 1);
	}
	nv->c[at] = c;
	for (size_t i = at; i < v->n; i++) {
		nv->c[i + 1] = v->c[i];
		atomic_fetch_add(&nv->c[i + 1]->refs, 1);
	}
	return nv;
}

void
imap_searchmem_add(struct imap_searchmem *sm, uint32_t uidvalidity, uint32_t lo, uint32_t hi,
    const uint32_t *uids, char *const *blobs, const size_t *lens, size_t n)
{
	if (n == 0 || hi <= lo)
		return;
	struct chunk *c = chunk_build(sm, lo, hi, uids, blobs, lens, n);
	if (c == NULL)
		return;            /* over the limit: the store answers */
	pthread_mutex_lock(&sm->mu);
	struct imap_searchmem_ver *old = sm->cur, *nv = NULL;
	if (old != NULL)
		nv = ver_insert(old, uidvalidity, c);
	else
		chunk_unref(c);
	if (nv != NULL)
		sm->cur = nv;
	else
		old = NULL;        /* unchanged */
	pthread_mutex_unlock(&sm->mu);
	imap_searchmem_ver_unref(&old);
}

/* v without the records of the vanished UIDs (ascending): the chunks
 * holding any replaced by copies without them; NULL when none has any. */
static struct imap_searchmem_ver *
ver_without(const struct imap_searchmem *sm, const struct imap_searchmem_ver *v,
    const uint32_t *vanished, size_t nvanished)
{
	struct imap_searchmem_ver *nv = ver_new(v->uidvalidity, v->n);
	size_t g = 0;
	bool changed = false;
	for (size_t i = 0; i < v->n; i++) {
		struct chunk *c = v->c[i], *nc = NULL;
		size_t g0;
		while (g < nvanished && vanished[g] <= c->lo)
			g++;
		g0 = g;
		while (g < nvanished && vanished[g] <= c->hi)
			g++;
		if (g > g0)
			nc = chunk_without(sm, c, vanished + g0, g - g0);
		if (nc != NULL && nc->n < c->n) {
			nv->c[i] = nc;
			changed = true;
		} else {
			if (nc != NULL)
				chunk_unref(nc);
			nv->c[i] = c;
			atomic_fetch_add(&c->refs, 1);
		}
	}
	if (!changed)
		imap_searchmem_ver_unref(&nv);
	return nv;
}

/* Drops the records of the vanished UIDs. The copies are made outside the
 * lock, from the version current then; if a chunk was added meanwhile,
 * again (a few times at most: what stays is only memory, the UIDs are no
 * longer in any view that asks). */
static void
drop_vanished(struct imap_searchmem *sm, const uint32_t *vanished, size_t nvanished)
{
	for (int tries = 0; tries < 4; tries++) {
		struct imap_searchmem_ver *v = ver_get(sm), *nv;
		if (v == NULL)
			return;
		nv = ver_without(sm, v, vanished, nvanished);
		if (nv == NULL) {
			imap_searchmem_ver_unref(&v);
			return;
		}
		pthread_mutex_lock(&sm->mu);
		bool same = sm->cur == v;
		if (same) {
			sm->cur = nv;      /* the table's reference to v is ours now */
			nv = v;
		}
		pthread_mutex_unlock(&sm->mu);
		imap_searchmem_ver_unref(&nv);
		imap_searchmem_ver_unref(&v);
		if (same)
			return;
	}
}

void
imap_searchmem_refresh(struct imap_searchmem *sm, struct store *st,
    const struct store_index *idx, uint32_t since_last_uid, const uint32_t *vanished,
    size_t nvanished, bool full)
{
	if (full) {
		imap_searchmem_reset(sm);
		return;
	}
	if (nvanished > 0)
		drop_vanished(sm, vanished, nvanished);
	/* the new messages, FETCH_BATCH to a transaction and a chunk */
	uint64_t ids[FETCH_BATCH];
	uint32_t uids[FETCH_BATCH];
	char *blobs[FETCH_BATCH];
	size_t lens[FETCH_BATCH];
	uint32_t lo = since_last_uid;
	size_t k = 0;
	while (k < idx->nmsgs && idx->msgs[k].uid <= since_last_uid)
		k++;
	while (k < idx->nmsgs) {
		size_t n = 0;
		for (; k < idx->nmsgs && n < FETCH_BATCH; k++) {
			if (idx->msgs[k].uid <= lo)
				continue;
			ids[n] = idx->msgs[k].body_id;
			uids[n++] = idx->msgs[k].uid;
		}
		if (n == 0)
			break;
		if (store_body_cache_many(st, ids, n, blobs, lens) == STORE_OK)
			imap_searchmem_add(sm, idx->mailbox.uidvalidity, lo, uids[n - 1], uids,
			    blobs, lens, n);
		for (size_t i = 0; i < n; i++)
			free(blobs[i]);
		lo = uids[n - 1];
	}
}
