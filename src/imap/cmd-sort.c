/* cmd-sort.c: SORT and UID SORT (RFC 5256 3: ARRIVAL CC DATE FROM
 * REVERSE SIZE SUBJECT TO), SORT=DISPLAY (RFC 5957: DISPLAYFROM
 * DISPLAYTO), ESORT (RFC 5267 3: SORT RETURN (MIN MAX ALL COUNT SAVE)
 * answered with ESEARCH, MIN and MAX being the first and last in sort
 * order) and CONTEXT=SORT (RFC 5267 4: PARTIAL, and UPDATE, whose context
 * cmd-search.c keeps with the sort keys of its messages).
 *
 * The one idea: one job on a worker runs the search program (shared with
 * SEARCH), takes each hit's sort keys (nothing when the criteria are
 * ARRIVAL and SIZE) and sorts; the loop only writes the answer. The keys
 * were computed at delivery by src/mail/sort.c into the cache blob's
 * search record (mail/cache.h) and are kept in memory with the search
 * records (imap-searchmem.h), so a SORT reads nothing from the store
 * once they are there; a message without them has its header read and
 * turned into the same keys by the same code. The key and header readers
 * here serve THREAD too (cmd-thread.c). */
#include "imap/imap-search.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "imap/imap-searchmem.h"
#include "lib/metrics.h"
#include "lib/util.h"
#include "mail/cache.h"
#include "mail/header.h"
#include "mail/sort.h"

#define KEYS_BATCH 256            /* cache blobs read in one transaction */

static bool
sort_headers_only(void)
{
	static _Atomic int v = -1;
	return mm_env_flag(&v, "MINIMAILD_SORT_HEADERS");
}

/* each() of a record's keys, or NULL when it has none. */
static void
keys_of(const struct mail_cache_search *rec, size_t i,
    void (*each)(void *, size_t, const struct mail_cache_sort *), void *arg)
{
	struct mail_cache_sort k;
	bool ok = rec != NULL && mail_cache_sort_get(rec->sort, rec->sort_len, &k);
	each(arg, i, ok ? &k : NULL);
}

void
imap_sort_keys(struct imap_session *s, struct imap_searchmem *sm, const size_t *vidx,
    size_t n, void (*each)(void *arg, size_t i, const struct mail_cache_sort *keys), void *arg)
{
	uint64_t mem = 0, blob = 0, none = 0;
	if (sort_headers_only()) {
		for (size_t i = 0; i < n; i++)
			each(arg, i, NULL);
		metrics_sort_keys(0, 0, n);
		return;
	}
	struct imap_searchmem_ver *v = sm != NULL ? imap_searchmem_get(sm) : NULL;
	struct imap_searchmem_pos pos = { 0, 0 };
	struct mail_cache_search *rec = xmalloc(sizeof(*rec));
	for (size_t b = 0; b < n; b += KEYS_BATCH) {
		size_t nb = n - b < KEYS_BATCH ? n - b : KEYS_BATCH, nu = 0;
		uint64_t ids[KEYS_BATCH];
		uint32_t uids[KEYS_BATCH];
		size_t at[KEYS_BATCH];
		char *blobs[KEYS_BATCH];
		size_t lens[KEYS_BATCH];
		for (size_t k = 0; k < nb; k++) {
			const struct imap_msg *m = &s->msgs[vidx[b + k]];
			int r = imap_searchmem_find_at(v, s->uidvalidity, m->uid, &pos, rec);
			if (r < 0) {
				ids[nu] = m->body_id;
				uids[nu] = m->uid;
				at[nu++] = b + k;
				continue;
			}
			bool has = r > 0 && rec->sort != NULL;
			mem += has;
			none += !has;
			keys_of(has ? rec : NULL, b + k, each, arg);
		}
		if (nu == 0)
			continue;
		if (store_body_cache_many(imap_store(s), ids, nu, blobs, lens) != STORE_OK) {
			for (size_t k = 0; k < nu; k++)
				each(arg, at[k], NULL);
			none += nu;
			continue;
		}
		if (sm != NULL) {
			/* what the view has between the one before and the last */
			size_t first = vidx[at[0]];
			uint32_t lo = first > 0 ? s->msgs[first - 1].uid : 0;
			imap_searchmem_add(sm, s->uidvalidity, lo, uids[nu - 1], uids, blobs, lens, nu);
		}
		for (size_t k = 0; k < nu; k++) {
			bool has = blobs[k] != NULL &&
			    mail_cache_search_get(blobs[k], lens[k], rec) == 0 && rec->sort != NULL;
			blob += has;
			none += !has;
			keys_of(has ? rec : NULL, at[k], each, arg);
			free(blobs[k]);
		}
	}
	free(rec);
	imap_searchmem_ver_unref(&v);
	metrics_sort_keys(mem, blob, none);
}

static int
uid_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

struct sort_job {
	struct imap_session *s;
	struct imap_search *q;
	struct mail_sort_crit crit[IMAP_SORT_CRITERIA_MAX];
	size_t ncrit;
	bool ret;
	struct imap_searchret r;
	size_t *vidx;             /* hits in sort order: view indexes */
	size_t nhits;
	struct mail_sort_rec **recs;  /* RETURN (UPDATE): the keys, in sort order */
	struct mail_sort_rec **fill;  /* sort_work: in view order */
	struct imap_searchmem *smem;  /* the mailbox's records in memory, or NULL */
	struct imap_sync sy;
};

bool
imap_msg_header(struct imap_session *s, const struct imap_msg *m, char **buf_r,
    struct mail_header *h)
{
	size_t want = IMAP_SORT_HEADER_READ_BYTES, got = 0;
	char *buf = NULL;

	for (;;) {
		if (want > m->size)
			want = (size_t)m->size;
		buf = xrealloc(buf, want + 1);
		if (store_body_read(imap_store(s), m->body_id, 0, buf, want, &got) != STORE_OK) {
			free(buf);
			*buf_r = NULL;
			return false;
		}
		buf[got] = '\0';
		mail_header_parse(buf, 0, got, h);
		/* the whole header read, or all we will read of it */
		if (!h->no_blank || got < want || want >= MIME_HEADER_MAX_BYTES ||
		    want >= m->size)
			break;
		mail_header_free(h);
		want = MIME_HEADER_MAX_BYTES;
	}
	*buf_r = buf;
	return true;
}

/* A sort record's keys from the blob's, as mail_sort_rec_fill makes
 * them from the header. */
static void
rec_from_keys(struct mail_sort_rec *r, const struct mail_cache_sort *k,
    const struct mail_sort_crit *crit, size_t ncrit)
{
	static const int text[MAIL_SORT_KEY_COUNT] = {
		[MAIL_SORT_ARRIVAL] = -1, [MAIL_SORT_SIZE] = -1, [MAIL_SORT_DATE] = -1,
		[MAIL_SORT_CC] = MAIL_CST_CC, [MAIL_SORT_FROM] = MAIL_CST_FROM,
		[MAIL_SORT_SUBJECT] = MAIL_CST_SUBJECT, [MAIL_SORT_TO] = MAIL_CST_TO,
		[MAIL_SORT_DISPLAYFROM] = MAIL_CST_DISPLAYFROM,
		[MAIL_SORT_DISPLAYTO] = MAIL_CST_DISPLAYTO,
	};
	for (size_t i = 0; i < ncrit; i++) {
		enum mail_sort_key key = crit[i].key;
		if (key == MAIL_SORT_ARRIVAL || key == MAIL_SORT_SIZE || r->text[key] != NULL)
			continue;
		if (key == MAIL_SORT_DATE) {
			r->date = k->has_date ? k->date : r->arrival;
			r->text[key] = xstrdup("");      /* marks it done */
		} else {
			const struct mail_cache_sort_str *t = &k->text[text[key]];
			r->text[key] = xstrndup(t->v, t->len);
		}
	}
}

static void
sort_each(void *arg, size_t i, const struct mail_cache_sort *keys)
{
	struct sort_job *j = arg;
	struct mail_sort_rec *r = j->fill[i];
	if (keys != NULL) {
		rec_from_keys(r, keys, j->crit, j->ncrit);
		return;
	}
	char *buf;
	struct mail_header h;
	if (imap_msg_header(j->s, &j->s->msgs[r->seq], &buf, &h)) {
		mail_sort_rec_fill(r, &h, j->crit, j->ncrit, IMAP_SORT_KEY_MAX_BYTES);
		mail_header_free(&h);
		free(buf);
	}
}

static void
sort_work(void *arg)
{
	struct sort_job *j = arg;
	struct imap_session *s = j->s;
	bool header = mail_sort_needs_header(j->crit, j->ncrit);

	j->vidx = xmalloc((s->nmsgs + 1) * sizeof(*j->vidx));
	j->nhits = imap_search_run(s, j->q, j->vidx);
	struct mail_sort_rec **v = xmalloc((j->nhits + 1) * sizeof(*v));
	for (size_t i = 0; i < j->nhits; i++) {
		const struct imap_msg *m = &s->msgs[j->vidx[i]];
		struct mail_sort_rec *r = xcalloc(1, sizeof(*r));
		r->seq = (uint32_t)j->vidx[i];
		r->size = m->size;
		r->arrival = m->idate;
		r->date = m->idate;
		v[i] = r;
	}
	if (header) {
		j->fill = v;
		imap_sort_keys(s, j->smem, j->vidx, j->nhits, sort_each, j);
		j->fill = NULL;
	}
	mail_sort(v, j->nhits, j->crit, j->ncrit);
	for (size_t i = 0; i < j->nhits; i++)
		j->vidx[i] = v[i]->seq;
	if (j->ret && (j->r.opts & IMAP_SR_UPDATE)) {
		j->recs = v;            /* the context's, if the loop makes one */
		imap_sync_work(s, &j->sy);
		uint32_t *uids = xmalloc((j->nhits + 1) * sizeof(*uids));
		for (size_t i = 0; i < j->nhits; i++)
			uids[i] = s->msgs[j->vidx[i]].uid;
		qsort(uids, j->nhits, sizeof(*uids), uid_cmp);
		imap_search_update_pending(s, &j->sy, j->q, j->crit, j->ncrit, uids, j->nhits);
		free(uids);
		return;
	} else {
		for (size_t i = 0; i < j->nhits; i++) {
			mail_sort_rec_free(v[i]);
			free(v[i]);
		}
		free(v);
	}
	imap_sync_work(s, &j->sy);
}

static void
sort_done(void *arg, bool alive)
{
	struct sort_job *j = arg;
	struct imap_session *s = j->s;

	if (alive) {
		uint32_t *nums = xmalloc((j->nhits + 1) * sizeof(*nums));
		uint32_t *uids = xmalloc((j->nhits + 1) * sizeof(*uids));
		uint64_t *ms = xmalloc((j->nhits + 1) * sizeof(*ms));
		uint64_t maxmodseq = 0;
		bool modseq = imap_search_has_modseq(j->q);
		for (size_t i = 0; i < j->nhits; i++) {
			const struct imap_msg *m = &s->msgs[j->vidx[i]];
			uids[i] = m->uid;
			nums[i] = s->uid ? m->uid : (uint32_t)(j->vidx[i] + 1);
			ms[i] = m->modseq;
			if (m->modseq > maxmodseq)
				maxmodseq = m->modseq;
		}
		if (j->ret) {
			imap_search_return(s, &j->r, nums, uids, j->nhits, modseq ? ms : NULL);
		} else {
			struct mm_buf b;
			mm_buf_init(&b);
			mm_buf_append(&b, "* SORT", 6);
			for (size_t i = 0; i < j->nhits; i++)
				mm_buf_printf(&b, " %u", nums[i]);
			if (modseq && j->nhits > 0)       /* RFC 7162 3.1.5 */
				mm_buf_printf(&b, " (MODSEQ %llu)", (unsigned long long)maxmodseq);
			mm_buf_append(&b, "\r\n", 2);
			imap_write(s, b.data, b.len);
			mm_buf_free(&b);
		}
		bool noupdate = false;
		if (j->recs != NULL) {
			/* the context keeps UIDs: the view moves on */
			for (size_t i = 0; i < j->nhits; i++)
				j->recs[i]->seq = uids[i];
			noupdate = !imap_sort_ctx_add(s, &j->q, j->crit, j->ncrit, &j->recs,
			    j->nhits);
		}
		free(nums);
		free(uids);
		free(ms);
		if (imap_sync_finish(s, &j->sy, imap_expunge_allowed(s))) {
			if (noupdate)      /* RFC 5267 4.3 */
				imap_ok(s, "[NOUPDATE \"%s\"] Sort completed, no updates", s->tag);
			else
				imap_ok(s, "Sort completed");
		}
	}
	if (j->recs != NULL) {
		for (size_t i = 0; i < j->nhits; i++) {
			mail_sort_rec_free(j->recs[i]);
			free(j->recs[i]);
		}
		free(j->recs);
	}
	imap_sync_free(&j->sy);
	imap_search_free(&j->q);
	imap_searchmem_unref(&j->smem);
	free(j->vidx);
	free(j);
}

/* "(REVERSE DATE SUBJECT)" */
static bool
parse_criteria(const struct imap_arg *a, struct sort_job *j)
{
	bool reverse = false;
	if (a->type != IMAP_ARG_LIST || a->count == 0)
		return false;
	for (size_t i = 0; i < a->count; i++) {
		const char *w;
		enum mail_sort_key k;
		if (!imap_arg_atom(&a->list[i], &w))
			return false;
		if (mm_strcaseeq(w, "REVERSE")) {
			if (reverse)
				return false;
			reverse = true;
			continue;
		}
		if (!mail_sort_key_parse(w, &k) || j->ncrit >= IMAP_SORT_CRITERIA_MAX)
			return false;
		j->crit[j->ncrit].key = k;
		j->crit[j->ncrit].reverse = reverse;
		j->ncrit++;
		reverse = false;
	}
	return !reverse;
}

void
cmd_sort(struct imap_session *s, const struct imap_arg *args, size_t n)
{
	struct sort_job *j = xcalloc(1, sizeof(*j));
	size_t i = 0;

	j->s = s;
	if (n >= 2 && imap_arg_atom_eq(&args[0], "RETURN")) {
		if (args[1].type != IMAP_ARG_LIST ||
		    !imap_searchret_parse(args[1].list, args[1].count, &j->r)) {
			free(j);
			imap_bad(s, "Invalid SORT RETURN options");
			return;
		}
		j->ret = true;
		i = 2;
	}
	if (i >= n || !parse_criteria(&args[i], j)) {
		free(j);
		imap_bad(s, "Invalid SORT criteria");
		return;
	}
	i++;
	if (i >= n) {
		free(j);
		imap_bad(s, "Missing SORT charset");
		return;
	}
	if (!imap_search_charset(s, &args[i])) {
		if (j->ret && (j->r.opts & IMAP_SR_SAVE))
			imap_searchres_set(s, NULL, 0);      /* RFC 5182 2.1 */
		free(j);
		return;
	}
	i++;
	j->q = imap_search_parse(args + i, n - i);
	if (j->q != NULL && imap_rev2(s) && imap_search_uses_recent(j->q))
		imap_search_free(&j->q);   /* not IMAP4rev2 syntax: BAD */
	if (j->q == NULL) {
		if (j->ret && (j->r.opts & IMAP_SR_SAVE))
			imap_searchres_set(s, NULL, 0);      /* RFC 5182 2.1 */
		free(j);
		imap_bad(s, "Invalid SORT search keys");
		return;
	}
	if (imap_search_has_seq(j->q) && s->uidonly) {
		imap_search_free(&j->q);
		free(j);
		imap_uid_required(s);
		return;
	}
	if (imap_search_has_modseq(j->q))
		imap_condstore_enable(s);
	imap_sync_prepare(s, &j->sy, false);
	if (mail_sort_needs_header(j->crit, j->ncrit))
		j->smem = imap_view_searchmem(s);
	/* every message's keys are read: in a big mailbox that is slow work
	 * (until they are in memory), which commits and FETCH must not wait
	 * behind */
	imap_run_job(s, s->nmsgs >= IMAP_SEARCH_SLOW_MSGS ? WORKER_LANE_SLOW : WORKER_LANE_READ,
	    sort_work, sort_done, j);
}
