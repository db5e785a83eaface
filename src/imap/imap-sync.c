/* imap-sync.c: the selected mailbox as this session has described it to
 * the client (the view: sequence number i+1 is s->msgs[i]), and bringing
 * it up to date with the store.
 *
 * The one idea: the view only changes here, on the loop, and every change
 * is told to the client in the same step (EXPUNGE, FETCH FLAGS, EXISTS,
 * RECENT, FLAGS), so sequence numbers always mean what the client was
 * told. A command's job reads what changed (imap_sync_work) when the
 * notify hub said the mailbox changed: the messages whose modseq is above
 * the view's (store_index_read_changed) and, only when the counts say
 * something went away, the expunge log since then (store_expunged_since);
 * a whole index read is the fallback when the two do not add up. So a
 * change costs what the change is, not what the mailbox is. The command's
 * done function calls imap_sync_finish before its tagged reply. When
 * EXPUNGE responses are
 * not allowed (during FETCH, STORE, SEARCH: RFC 3501 7.4.1) a vanished
 * message stays in the view, marked expunged, until a command that allows
 * them. SEARCH/SORT RETURN (UPDATE) contexts (cmd-search.c) ride on the
 * same sync: the worker judges the changed messages for them, and the
 * loop tells ADDTO/REMOVEFROM around the view's update.
 *
 * The view may be shared (imap-view.c): the sessions with one mailbox
 * selected are a group with one watch, and one change is read once for
 * all of them; imap_sync_prepare then takes the group's delta instead of
 * a read, and imap_sync_finish either moves a shared view to the group's
 * next snapshot (imap_view_advance) or applies the delta to the session's
 * own copy like a read of its own. */
#include "imap/imap-common.h"
#include "imap/imap-search.h"

#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/metrics.h"
#include "net/conn.h"
#include "net/notify.h"
#include "net/server.h"

static void
view_reserve(struct imap_session *s, size_t extra)
{
	if (s->nmsgs + extra <= s->capmsgs)
		return;
	size_t cap = s->capmsgs ? s->capmsgs : 64;
	while (cap < s->nmsgs + extra)
		cap *= 2;
	s->msgs = xrealloc(s->msgs, cap * sizeof(*s->msgs));
	s->capmsgs = cap;
}

void
imap_msg_from_store(struct imap_msg *m, const struct store_msg *sm)
{
	memset(m, 0, sizeof(*m));
	m->uid = sm->uid;
	m->flags = sm->flags & ~(uint32_t)MSG_RECENT;
	m->keywords = sm->keywords;
	m->size = sm->size;
	m->idate = sm->internal_date;
	m->body_id = sm->body_id;
	m->modseq = sm->modseq;
	m->recent = (sm->flags & MSG_RECENT) != 0;
}

static void
keywords_free(struct imap_session *s)
{
	for (size_t i = 0; i < s->nkeywords; i++)
		free(s->keywords[i]);
	free(s->keywords);
	s->keywords = NULL;
	s->nkeywords = 0;
}

/* Takes a keyword table; true when it differs from ours. */
static bool
keywords_take(struct imap_session *s, char *const *kw, size_t n)
{
	bool same = n == s->nkeywords;
	for (size_t i = 0; same && i < n; i++)
		same = strcmp(kw[i], s->keywords[i]) == 0;
	if (same)
		return false;
	keywords_free(s);
	s->keywords = xcalloc(n ? n : 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		s->keywords[i] = xstrdup(kw[i]);
	s->nkeywords = n;
	return true;
}

static void
notify_now(void *arg)
{
	struct imap_session *s = arg;
	s->dirty = true;
	if (s->sync_parked != NULL) {
		/* the group's refresh came: the parked sync goes on */
		void (*then)(struct imap_session *) = s->sync_parked;
		s->sync_parked = NULL;
		conn_resume(s->c);
		imap_sync_command(s, then);
		return;
	}
	if (s->input == IMAP_INPUT_IDLE)
		imap_idle_wake(s);
	imap_notify_kick(s);
}

/* From the mailbox's group, on the loop: through the conn, which holds it
 * back while a job (that may be reading the view) runs. */
void
imap_sync_notify(struct imap_session *s)
{
	conn_notify(s->c, notify_now);
}

void
imap_view_clear(struct imap_session *s)
{
	imap_view_leave(s);
	free(s->msgs);
	s->msgs = NULL;
	s->nmsgs = s->capmsgs = 0;
	s->nexpunged = s->nreport = 0;
	keywords_free(s);
	imap_set_mbox(s, NULL);
	s->mbox_id = 0;
	s->last_uid = 0;
	s->uidvalidity = s->uidnext = 0;
	s->modseq = 0;
	s->dirty = false;
	s->nrecent = 0;
	imap_search_state_clear(s);
}

void
imap_view_load(struct imap_session *s, struct store_index *idx)
{
	imap_view_leave(s);
	free(s->msgs);
	s->msgs = NULL;
	s->nmsgs = s->capmsgs = 0;
	s->nexpunged = s->nreport = 0;
	keywords_take(s, idx->keywords, idx->nkeywords);
	s->mbox_id = idx->mailbox.id;
	s->uidvalidity = idx->mailbox.uidvalidity;
	s->uidnext = idx->mailbox.uidnext;
	s->modseq = idx->mailbox.highestmodseq;
	s->dirty = false;
	imap_search_state_clear(s);
	if (imap_view_join(s, idx)) {
		imap_notify_view_loaded(s);
		return;
	}
	view_reserve(s, idx->nmsgs);
	s->nrecent = 0;
	s->last_uid = 0;
	for (size_t i = 0; i < idx->nmsgs; i++) {
		imap_msg_from_store(&s->msgs[i], &idx->msgs[i]);
		if (s->msgs[i].recent)
			s->nrecent++;
		if (idx->msgs[i].uid > s->last_uid)
			s->last_uid = idx->msgs[i].uid;
	}
	s->nmsgs = idx->nmsgs;
	imap_notify_view_loaded(s);
}

size_t
imap_msgs_find(const struct imap_msg *msgs, size_t n, uint32_t uid)
{
	size_t l = 0, h = n;
	while (l < h) {
		size_t mid = l + (h - l) / 2;
		if (msgs[mid].uid < uid)
			l = mid + 1;
		else
			h = mid;
	}
	return l < n && msgs[l].uid == uid ? l : (size_t)-1;
}

/* View index of uid, or (size_t)-1. The view is in UID order. */
size_t
imap_view_find(struct imap_session *s, uint32_t uid)
{
	return imap_msgs_find(s->msgs, s->nmsgs, uid);
}

static void
sync_prepare(struct imap_session *s, struct imap_sync *sy, bool force, bool may_wait)
{
	memset(sy, 0, sizeof(*sy));
	/* an IMAP4rev2 session shows no \Recent, so it takes none: the
	 * messages stay recent for the next IMAP4rev1 session */
	sy->claim_recent = !s->readonly && !imap_rev2(s);
	sy->since = s->modseq;
	sy->full = s->modseq == 0;
	/* the group read it already (imap-view.c) */
	if (!force && imap_view_prepare(s, sy, may_wait))
		return;
	sy->want = force || s->dirty;
	if (sy->want)
		s->dirty = false;
}

void
imap_sync_prepare(struct imap_session *s, struct imap_sync *sy, bool force)
{
	sync_prepare(s, sy, force, false);
}

/* Worker: do the changes in sy->idx (and the expunge log) account for
 * every message the store has? Reads the view, which the loop leaves
 * alone while a job runs. */
static bool
changes_complete(struct imap_session *s, struct imap_sync *sy)
{
	const struct store_index *idx = sy->idx;
	size_t live = s->nmsgs - s->nexpunged, fresh = 0, gone = 0;

	if (idx->mailbox.uidvalidity != s->uidvalidity || idx->mailbox.id != s->mbox_id)
		return false;
	for (size_t i = 0; i < idx->nmsgs; i++)
		fresh += idx->msgs[i].uid > s->last_uid;
	if (live + fresh == idx->mailbox.messages)
		return true;
	if (store_expunged_since(imap_store(s), s->mbox_id, sy->since,
	    idx->mailbox.highestmodseq, &sy->vanished, &sy->nvanished) != STORE_OK)
		return false;
	for (size_t i = 0; i < sy->nvanished; i++) {
		size_t vi = imap_view_find(s, sy->vanished[i]);
		if (vi != (size_t)-1 && !s->msgs[vi].expunged)
			gone++;
	}
	return live - gone + fresh == idx->mailbox.messages;
}

static void
sync_reset(struct imap_sync *sy)
{
	imap_view_sync_release(sy);
	imap_search_update_free(sy);
	if (sy->idx != NULL)
		store_index_free(&sy->idx);
	free(sy->vanished);
	sy->vanished = NULL;
	sy->nvanished = 0;
}

void
imap_sync_work(struct imap_session *s, struct imap_sync *sy)
{
	if (!sy->want || sy->delta != NULL)
		return;
	metrics_imap_view_refresh();
	if (!sy->full) {
		sy->err = store_index_read_changed(imap_store(s), s->user, s->mbox,
		    sy->since, &sy->idx);
		if (sy->err == STORE_OK && !changes_complete(s, sy)) {
			sync_reset(sy);
			sy->full = true;
		}
	}
	if (sy->full)
		sy->err = store_index_read(imap_store(s), s->user, s->mbox, &sy->idx);
	if (sy->err == STORE_OK)
		imap_search_update_work(s, sy);
	if (sy->err != STORE_OK || !sy->claim_recent)
		return;
	imap_recent_claim(s, s->mbox, sy->idx, s->last_uid);
}

void
imap_recent_claim(struct imap_session *s, const char *mbox, struct store_index *idx,
    uint32_t after_uid)
{
	uint32_t *uids = NULL, *claimed = NULL;
	size_t n = 0, nclaimed = 0;

	for (size_t i = 0; i < idx->nmsgs; i++) {
		const struct store_msg *m = &idx->msgs[i];
		if ((m->flags & MSG_RECENT) && m->uid > after_uid) {
			if (uids == NULL)
				uids = xmalloc(idx->nmsgs * sizeof(*uids));
			uids[n++] = m->uid;
		}
	}
	if (n == 0)
		return;
	claimed = xmalloc(n * sizeof(*claimed));
	if (store_recent_claim(imap_store(s), s->user, mbox, uids, n, claimed,
	    &nclaimed) != STORE_OK)
		nclaimed = 0;   /* unknown who has it: better none than two */
	/* the index read showed \Recent; it is ours only where we took it
	 * (both lists ascend with the index) */
	size_t k = 0;
	for (size_t i = 0; i < idx->nmsgs; i++) {
		struct store_msg *m = &idx->msgs[i];
		if (!(m->flags & MSG_RECENT) || m->uid <= after_uid)
			continue;
		while (k < nclaimed && claimed[k] < m->uid)
			k++;
		if (k >= nclaimed || claimed[k] != m->uid)
			m->flags &= ~(uint32_t)MSG_RECENT;
	}
	free(uids);
	free(claimed);
}

void
imap_sync_free(struct imap_sync *sy)
{
	sync_reset(sy);
}

static void
report_flags(struct imap_session *s, size_t i)
{
	struct mm_buf b;
	mm_buf_init(&b);
	imap_append_fetch_open(s, &b, i);
	if (!s->uidonly)
		mm_buf_printf(&b, "UID %u ", s->msgs[i].uid);
	mm_buf_append(&b, "FLAGS ", 6);
	imap_append_flags(s, &b, &s->msgs[i]);
	if (s->condstore)
		mm_buf_printf(&b, " MODSEQ (%llu)", (unsigned long long)s->msgs[i].modseq);
	mm_buf_append(&b, ")\r\n", 3);
	imap_write(s, b.data, b.len);
	mm_buf_free(&b);
	s->msgs[i].report = false;
}

void
imap_view_mark_report(struct imap_session *s, struct imap_msg *m)
{
	if (m->report)
		return;
	m->report = true;
	if (s->nreport < IMAP_REPORT_AT)
		s->report_at[s->nreport] = (uint32_t)(m - s->msgs);
	s->nreport++;
}

/* FETCH FLAGS for the marked messages, in view order: the few marked, or
 * a walk when more were (one left marked on an expunged message is never
 * reported, so none is left to report after it). */
static void
report_marked(struct imap_session *s)
{
	size_t n = s->nreport;
	if (n == 0)
		return;
	s->nreport = 0;
	if (n > IMAP_REPORT_AT || s->nmsgs > UINT32_MAX) {
		for (size_t i = 0; i < s->nmsgs; i++)
			if (s->msgs[i].report && !s->msgs[i].expunged)
				report_flags(s, i);
		return;
	}
	uint32_t *at = s->report_at;
	for (size_t i = 1; i < n; i++)
		for (size_t k = i; k > 0 && at[k - 1] > at[k]; k--) {
			uint32_t t = at[k];
			at[k] = at[k - 1];
			at[k - 1] = t;
		}
	for (size_t i = 0; i < n; i++)
		if (at[i] < s->nmsgs && s->msgs[at[i]].report && !s->msgs[at[i]].expunged)
			report_flags(s, at[i]);
}

void
imap_append_uid_set(struct mm_buf *b, const uint32_t *uids, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t e = i;
		while (e + 1 < n && uids[e + 1] == uids[e] + 1)
			e++;
		mm_buf_printf(b, i ? ",%u" : "%u", uids[i]);
		if (e > i)
			mm_buf_printf(b, ":%u", uids[e]);
		i = e + 1;
	}
}

static void
flush_expunges(struct imap_session *s)
{
	size_t n = s->nmsgs, k = 0, ngone = s->nexpunged;
	if (ngone == 0)
		return;
	if (s->qresync || s->uidonly) {
		/* RFC 7162 3.2.10: one VANISHED with the UIDs instead; RFC
		 * 9586 3: UIDONLY has no EXPUNGE (a sequence number) either */
		uint32_t *uids = xmalloc(ngone * sizeof(*uids));
		struct mm_buf b;
		for (size_t i = 0; i < n; i++)
			if (s->msgs[i].expunged)
				uids[k++] = s->msgs[i].uid;
		mm_buf_init(&b);
		mm_buf_append(&b, "* VANISHED ", 11);
		imap_append_uid_set(&b, uids, k);
		mm_buf_append(&b, "\r\n", 2);
		imap_write(s, b.data, b.len);
		mm_buf_free(&b);
		free(uids);
		k = 0;
	} else {
		for (size_t i = n; i-- > 0;)
			if (s->msgs[i].expunged)
				imap_printf(s, "* %zu EXPUNGE\r\n", i + 1);
	}
	s->nrecent = 0;
	for (size_t i = 0; i < n; i++) {
		if (s->msgs[i].expunged)
			continue;
		if (s->msgs[i].recent)
			s->nrecent++;
		s->msgs[k++] = s->msgs[i];
	}
	s->nmsgs = k;
	s->nexpunged = 0;
}

void
imap_view_keywords(struct imap_session *s, char *const *kw, size_t n)
{
	if (!keywords_take(s, kw, n))
		return;
	struct mm_buf b;
	mm_buf_init(&b);
	imap_append_flags_responses(s, &b);
	imap_write(s, b.data, b.len);
	mm_buf_free(&b);
}

/* A message of the view as the store has it now. */
static void
update_msg(struct imap_session *s, struct imap_msg *m, const struct store_msg *sm)
{
	uint32_t flags = sm->flags & ~(uint32_t)MSG_RECENT;
	if (flags != m->flags || sm->keywords != m->keywords) {
		m->flags = flags;
		m->keywords = sm->keywords;
		imap_view_mark_report(s, m);
	}
	m->modseq = sm->modseq;
}

static bool
claimed_has(const struct imap_sync *sy, uint32_t uid)
{
	size_t l = 0, h = sy->nclaimed;
	while (l < h) {
		size_t mid = l + (h - l) / 2;
		if (sy->claimed[mid] < uid)
			l = mid + 1;
		else
			h = mid;
	}
	return l < sy->nclaimed && sy->claimed[l] == uid;
}

static void
add_new(struct imap_session *s, const struct imap_sync *sy)
{
	const struct store_index *idx = sy->idx;
	size_t before = s->nmsgs;
	for (size_t k = 0; k < idx->nmsgs; k++) {
		const struct store_msg *sm = &idx->msgs[k];
		if (sm->uid <= s->last_uid)
			continue;
		view_reserve(s, 1);
		imap_msg_from_store(&s->msgs[s->nmsgs], sm);
		if (sy->claimed != NULL)      /* the group's refresh took it for us */
			s->msgs[s->nmsgs].recent = claimed_has(sy, sm->uid);
		if (s->msgs[s->nmsgs].recent)
			s->nrecent++;
		s->nmsgs++;
		s->last_uid = sm->uid;
	}
	s->uidnext = idx->mailbox.uidnext;
	s->modseq = idx->mailbox.highestmodseq;
	if (s->nmsgs != before && imap_rev2(s))
		imap_printf(s, "* %zu EXISTS\r\n", s->nmsgs);   /* RFC 9051: no RECENT */
	else if (s->nmsgs != before)
		imap_printf(s, "* %zu EXISTS\r\n* %zu RECENT\r\n", s->nmsgs, s->nrecent);
}

/* The whole index: every message of the view is checked. */
static void
apply_full(struct imap_session *s, const struct imap_sync *sy, bool allow_expunge)
{
	const struct store_index *idx = sy->idx;
	size_t j = 0;
	for (size_t i = 0; i < s->nmsgs; i++) {
		struct imap_msg *m = &s->msgs[i];
		if (m->expunged)
			continue;
		while (j < idx->nmsgs && idx->msgs[j].uid < m->uid)
			j++;
		if (j >= idx->nmsgs || idx->msgs[j].uid != m->uid) {
			m->expunged = true;
			s->nexpunged++;
			continue;
		}
		update_msg(s, m, &idx->msgs[j]);
		if (m->report)
			report_flags(s, i);
	}
	s->nreport = 0;
	if (allow_expunge)
		flush_expunges(s);
	add_new(s, sy);
}

/* Only what changed since sy->since: the changed messages and the
 * vanished UIDs, each found in the view by UID. */
static void
apply_changes(struct imap_session *s, const struct imap_sync *sy, bool allow_expunge)
{
	const struct store_index *idx = sy->idx;
	for (size_t i = 0; i < sy->nvanished; i++) {
		size_t vi = imap_view_find(s, sy->vanished[i]);
		if (vi != (size_t)-1 && !s->msgs[vi].expunged) {
			s->msgs[vi].expunged = true;
			s->nexpunged++;
		}
	}
	for (size_t k = 0; k < idx->nmsgs && idx->msgs[k].uid <= s->last_uid; k++) {
		size_t vi = imap_view_find(s, idx->msgs[k].uid);
		if (vi != (size_t)-1 && !s->msgs[vi].expunged)
			update_msg(s, &s->msgs[vi], &idx->msgs[k]);
	}
	report_marked(s);
	if (allow_expunge)
		flush_expunges(s);
	add_new(s, sy);
}

bool
imap_sync_finish(struct imap_session *s, struct imap_sync *sy, bool allow_expunge)
{
	bool ok = true;

	if (s->state != IMAP_STATE_SELECTED) {
		imap_sync_free(sy);
		return true;
	}
	if (!sy->want) {
		report_marked(s);
		if (allow_expunge)
			flush_expunges(s);
	} else if (sy->err == STORE_NOTFOUND) {
		imap_bye(s, "Selected mailbox was deleted, have to disconnect.");
		ok = false;
	} else if (sy->err != STORE_OK) {
		log_error("conn=%llx event=imap-sync error=\"%s\"",
		    (unsigned long long)conn_id(s->c), store_strerror(sy->err));
		s->dirty = true;
	} else if (sy->idx->mailbox.uidvalidity != s->uidvalidity) {
		imap_bye(s, "Mailbox UIDVALIDITY changed, have to disconnect.");
		ok = false;
	} else if (sy->delta != NULL && s->snap != NULL && sy->upd == NULL &&
	    imap_view_advance(s, sy, allow_expunge)) {
		/* a shared view moved to the group's next snapshot */
	} else {
		imap_view_own(s);
		imap_search_update_notify(s, sy, false);
		imap_view_keywords(s, sy->idx->keywords, sy->idx->nkeywords);
		if (sy->full)
			apply_full(s, sy, allow_expunge);
		else
			apply_changes(s, sy, allow_expunge);
		imap_search_update_notify(s, sy, true);
	}
	imap_sync_free(sy);
	if (ok && s->input == IMAP_INPUT_IDLE)
		imap_view_share(s);
	return ok;
}

/* ---- sequence sets against the view ---- */

static int
range_cmp(const void *a, const void *b)
{
	const struct imap_seq_range *x = a, *y = b;
	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

bool
imap_view_resolve(struct imap_session *s, const char *set, bool uid,
    size_t **idx_r, size_t *n_r)
{
	struct imap_seqset ss = { 0 };
	uint32_t star;
	size_t *out = NULL, n = 0, cap = 0;

	*idx_r = NULL;
	*n_r = 0;
	if (strcmp(set, "$") == 0)       /* SEARCHRES (RFC 5182) */
		return imap_searchres_resolve(s, idx_r, n_r);
	if (!imap_seqset_parse(&ss, set)) {
		imap_seqset_free(&ss);
		return false;
	}
	if (uid)
		star = s->nmsgs ? s->msgs[s->nmsgs - 1].uid : 0;
	else
		star = (uint32_t)s->nmsgs;
	if (!uid && (star == 0 || imap_seqset_max(&ss, star) > s->nmsgs)) {
		imap_seqset_free(&ss);
		return false;
	}
	/* resolve '*', order each range, sort, then walk the view once */
	for (size_t i = 0; i < ss.n; i++) {
		struct imap_seq_range *r = &ss.r[i];
		if (r->lo == IMAP_SEQ_STAR)
			r->lo = star;
		if (r->hi == IMAP_SEQ_STAR)
			r->hi = star;
		if (r->lo > r->hi) {
			uint32_t t = r->lo;
			r->lo = r->hi;
			r->hi = t;
		}
	}
	qsort(ss.r, ss.n, sizeof(*ss.r), range_cmp);
	size_t pos = 0;          /* next view index that may be added */
	for (size_t i = 0; i < ss.n; i++) {
		uint32_t lo = ss.r[i].lo, hi = ss.r[i].hi;
		size_t a, b;
		if (uid) {
			/* first message with uid >= lo (binary search) */
			size_t l = 0, h = s->nmsgs;
			while (l < h) {
				size_t mid = (l + h) / 2;
				if (s->msgs[mid].uid < lo)
					l = mid + 1;
				else
					h = mid;
			}
			a = l;
			b = a;
			while (b < s->nmsgs && s->msgs[b].uid <= hi)
				b++;
		} else {
			a = lo - 1;
			b = hi;
		}
		if (a < pos)
			a = pos;
		if (b <= a)
			continue;
		if (n + (b - a) > cap) {
			cap = (n + (b - a)) * 2;
			out = xrealloc(out, cap * sizeof(*out));
		}
		for (size_t k = a; k < b; k++)
			out[n++] = k;
		pos = b;
	}
	imap_seqset_free(&ss);
	*idx_r = out;
	*n_r = n;
	return true;
}

/* ---- a sync on its own (NOOP, CHECK, IDLE) ---- */

bool
imap_expunge_allowed(struct imap_session *s)
{
	if (s->cmd == NULL && imap_notify_expunge_delayed(s))
		return false;     /* NOTIFY selected-delayed, between commands */
	return s->uid || s->cmd == NULL || !(s->cmd->flags & IMAP_CMD_NOEXPUNGE);
}

struct sync_job {
	struct imap_session *s;
	struct imap_sync sy;
	void (*then)(struct imap_session *s);
};

static void
sync_job_work(void *arg)
{
	struct sync_job *j = arg;
	imap_sync_work(j->s, &j->sy);
}

static void
sync_job_done(void *arg, bool alive)
{
	struct sync_job *j = arg;
	if (alive && imap_sync_finish(j->s, &j->sy, imap_expunge_allowed(j->s)) &&
	    j->then != NULL)
		j->then(j->s);
	imap_sync_free(&j->sy);
	free(j);
}

void
imap_sync_command(struct imap_session *s, void (*then)(struct imap_session *s))
{
	/* on the stack until a job needs it: a push to every IDLE member
	 * of a group allocates nothing here */
	struct imap_sync sy;
	sync_prepare(s, &sy, false, true);
	if (sy.wait) {
		/* the group reads it for this session (imap-view.c): the
		 * command goes on when the refresh is published */
		imap_sync_free(&sy);
		s->sync_parked = then;
		conn_pause(s->c);
		return;
	}
	if (!sy.want || sy.delta != NULL) {
		/* nothing new: answer without a round trip to a worker */
		imap_sync_finish(s, &sy, imap_expunge_allowed(s));
		if (then != NULL)
			then(s);
		return;
	}
	struct sync_job *j = xcalloc(1, sizeof(*j));
	j->s = s;
	j->then = then;
	j->sy = sy;
	imap_run_job(s, WORKER_LANE_READ, sync_job_work, sync_job_done, j);
}
