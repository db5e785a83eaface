/* imap-view.c: one view per mailbox, shared by the sessions that have it
 * selected, and one index read per change for all of them (issue 19).
 *
 * The one idea: the sessions that have the same mailbox selected are one
 * group (struct imap_group, per user and mailbox, loop thread only). The
 * group holds the only notify watch of the mailbox and an immutable,
 * reference-counted snapshot of its index (struct imap_snap). A change
 * starts one refresh job that reads what changed since that snapshot (the
 * modseq change log), builds the next snapshot and the delta between the
 * two, once; then every member is told, and brings its view up to date on
 * the loop from the delta, without a job of its own (imap-sync.c).
 *
 * A member either shares the snapshot (s->snap: s->msgs points into it,
 * read only; the session keeps only its \Recent UIDs) or has a private
 * copy of its view (s->snap NULL), as every session had before: it takes
 * one (imap_view_own) before it writes its view (STORE, FETCH setting
 * \Seen, an EXPUNGE it may not tell yet), applies the deltas to it, and
 * shares again (imap_view_share) in IDLE once its copy equals the group's
 * snapshot. A member whose view is not where the delta starts (it read the
 * index itself meanwhile) reads its own changes, as before.
 *
 * The hub's post says whether a change was flags only (STORE) or may have
 * added or removed messages: while only flag changes are being read, a
 * cached body is still served on the loop (imap_view_current), and a
 * command's sync waits for that refresh instead of reading for itself.
 *
 * Lifetimes: a snapshot or delta is never changed once published; its
 * count is atomic (a worker may read a session's snapshot through s->msgs
 * while the session holds its reference). The refresh job touches only
 * its own struct, the snapshot it started from (referenced) and the store,
 * never a session; the group outlives its job (g->job).
 *
 * The group also holds the mailbox's search records in memory
 * (imap-searchmem.h), made by the first SEARCH that uses them: the
 * refresh job brings them up to date with the snapshot it builds (the new
 * messages' records read, the vanished dropped), a failed refresh forgets
 * them, and they go with the group. Jobs hold their own references. */
#include "imap/imap-common.h"
#include "imap/imap-searchmem.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/htab.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/util.h"
#include "net/conn.h"
#include "net/notify.h"
#include "net/server.h"

struct imap_snap {
	atomic_uint refs;
	uint64_t gen;             /* set when published (loop) */
	uint32_t mbox_id, uidvalidity, uidnext;
	uint32_t last_uid;        /* as imap_session.last_uid */
	uint64_t modseq;
	char **keywords;
	size_t nkeywords;
	size_t nmsgs;
	struct imap_msg *msgs;    /* recent, expunged, report all false */
};

/* What turned the snapshot with gen from_gen into the next one. */
struct imap_delta {
	atomic_uint refs;
	uint64_t from_gen;
	uint64_t since;           /* the modseq of that snapshot */
	uint32_t since_last_uid;
	bool full;                /* idx is the whole index */
	struct store_index *idx;  /* the changes; MSG_RECENT cleared */
	uint32_t *vanished;       /* expunged since (ascending) */
	size_t nvanished;
	uint64_t owner;           /* conn_id the claimed \Recent belong to */
	uint64_t seq;             /* the group's refresh_seq of the refresh that made it */
	uint32_t *claimed;        /* ascending */
	size_t nclaimed;
	bool unclaimed;           /* new \Recent with no owner: claim by reading */
};

struct imap_group {
	struct mm_server *srv;
	char *user;
	char mbox[STORE_MBOX_NAME_MAX];
	uint32_t mbox_id;
	struct imap_session *members;     /* via s->gnext/gprev */
	size_t nmembers;
	struct notify_watch *watch;
	struct imap_snap *cur;            /* may be NULL after a failed refresh */
	struct imap_delta *delta;         /* cur's, or NULL */
	bool refreshing;                  /* a refresh job runs */
	uint64_t refresh_seq;             /* of the last refresh started (from 1) */
	bool again;                       /* changed again meanwhile */
	/* What the changes not yet in cur did (STORE_CHANGE_* bits from the
	 * hub): those the running refresh reads, and those told since it
	 * started (again). STORE_CHANGE_FLAGS alone: no message came or went,
	 * so every message of cur is still in the store (imap_view_current). */
	unsigned run_kind, again_kind;
	uint64_t owner;                   /* the running refresh claims \Recent for it */
	struct imap_searchmem *smem;      /* search records, or NULL before a SEARCH */
	struct mm_hnode node;             /* in groups */
};

/* Loop thread only; grows with the groups (lib/htab.h): 100,000
 * sessions in as many mailboxes find theirs in a chain of one or two. */
static struct mm_htab groups;
static uint64_t snap_gen;

/* ---- snapshots and deltas ---- */

static void
snap_unref(struct imap_snap **sp)
{
	struct imap_snap *sn = *sp;
	*sp = NULL;
	if (sn == NULL || atomic_fetch_sub(&sn->refs, 1) != 1)
		return;
	for (size_t i = 0; i < sn->nkeywords; i++)
		free(sn->keywords[i]);
	free(sn->keywords);
	free(sn->msgs);
	free(sn);
}

static struct imap_snap *
snap_ref(struct imap_snap *sn)
{
	atomic_fetch_add(&sn->refs, 1);
	return sn;
}

static void
delta_unref(struct imap_delta **dp)
{
	struct imap_delta *d = *dp;
	*dp = NULL;
	if (d == NULL || atomic_fetch_sub(&d->refs, 1) != 1)
		return;
	if (d->idx != NULL)
		store_index_free(&d->idx);
	free(d->vanished);
	free(d->claimed);
	free(d);
}

/* A snapshot's message: \Recent is per session, never in the snapshot. */
static void
snap_msg(struct imap_msg *m, const struct store_msg *sm)
{
	imap_msg_from_store(m, sm);
	m->recent = false;
}

static struct imap_snap *
snap_new(const struct store_index *idx, size_t cap)
{
	struct imap_snap *sn = xcalloc(1, sizeof(*sn));
	atomic_init(&sn->refs, 1);
	sn->mbox_id = idx->mailbox.id;
	sn->uidvalidity = idx->mailbox.uidvalidity;
	sn->uidnext = idx->mailbox.uidnext;
	sn->modseq = idx->mailbox.highestmodseq;
	sn->keywords = xcalloc(idx->nkeywords ? idx->nkeywords : 1, sizeof(char *));
	for (size_t i = 0; i < idx->nkeywords; i++)
		sn->keywords[i] = xstrdup(idx->keywords[i]);
	sn->nkeywords = idx->nkeywords;
	sn->msgs = xmalloc((cap ? cap : 1) * sizeof(*sn->msgs));
	return sn;
}

/* The whole index as a snapshot. */
static struct imap_snap *
snap_from_index(const struct store_index *idx)
{
	struct imap_snap *sn = snap_new(idx, idx->nmsgs);
	for (size_t i = 0; i < idx->nmsgs; i++) {
		snap_msg(&sn->msgs[i], &idx->msgs[i]);
		if (idx->msgs[i].uid > sn->last_uid)
			sn->last_uid = idx->msgs[i].uid;
	}
	sn->nmsgs = idx->nmsgs;
	return sn;
}

static bool
uid_in(const uint32_t *uids, size_t n, uint32_t uid)
{
	size_t l = mm_u32_lower(uids, n, uid);
	return l < n && uids[l] == uid;
}

/* base with the changes in idx and without the vanished UIDs: what a
 * session whose view is base gets from imap-sync.c's apply_changes. */
static struct imap_snap *
snap_apply(const struct imap_snap *base, const struct store_index *idx,
    const uint32_t *vanished, size_t nvanished)
{
	size_t fresh = 0;
	for (size_t k = 0; k < idx->nmsgs; k++)
		fresh += idx->msgs[k].uid > base->last_uid;
	struct imap_snap *sn = snap_new(idx, base->nmsgs + fresh);
	size_t n = 0, k = 0;
	for (size_t i = 0; i < base->nmsgs; i++) {
		const struct imap_msg *m = &base->msgs[i];
		if (uid_in(vanished, nvanished, m->uid))
			continue;
		sn->msgs[n] = *m;
		while (k < idx->nmsgs && idx->msgs[k].uid < m->uid)
			k++;
		if (k < idx->nmsgs && idx->msgs[k].uid == m->uid) {
			sn->msgs[n].flags = idx->msgs[k].flags & ~(uint32_t)MSG_RECENT;
			sn->msgs[n].keywords = idx->msgs[k].keywords;
			sn->msgs[n].modseq = idx->msgs[k].modseq;
		}
		n++;
	}
	sn->last_uid = base->last_uid;
	for (k = 0; k < idx->nmsgs; k++) {
		if (idx->msgs[k].uid <= sn->last_uid)
			continue;
		snap_msg(&sn->msgs[n++], &idx->msgs[k]);
		sn->last_uid = idx->msgs[k].uid;
	}
	sn->nmsgs = n;
	return sn;
}

static bool
keywords_same(char *const *a, size_t na, char *const *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (strcmp(a[i], b[i]) != 0)
			return false;
	return true;
}

static bool
msg_same(const struct imap_msg *a, const struct imap_msg *b)
{
	return a->uid == b->uid && a->flags == b->flags && a->keywords == b->keywords &&
	    a->size == b->size && a->idate == b->idate && a->body_id == b->body_id &&
	    a->modseq == b->modseq;
}

/* ---- groups ---- */

static uint32_t
group_hash(const char *user, uint32_t id)
{
	return mm_fnv1a(MM_FNV_BASIS ^ id, user);
}

static void group_refresh(struct imap_group *g, unsigned kind);

static void
group_tell(struct imap_group *g)
{
	for (struct imap_session *s = g->members; s != NULL; s = s->gnext)
		imap_sync_notify(s);
}

/* From the hub: the mailbox changed. One refresh for the whole group;
 * the members hear of it now (a command reads for itself, IDLE waits for
 * the refresh: imap_view_wait) and again when it is published. */
static void
group_notify_cb(void *arg, const char *user, uint32_t mailbox_id, unsigned kind)
{
	struct imap_group *g = arg;
	if (kind == 0)
		kind = STORE_CHANGE_MESSAGES;   /* unknown: anything */
	if (g->refreshing) {
		g->again = true;
		g->again_kind |= kind;
	} else {
		group_refresh(g, kind);
	}
	group_tell(g);
}

/* Only flag changes between cur and every change told. */
static bool
group_flags_only(const struct imap_group *g)
{
	unsigned k = g->refreshing ? g->run_kind | (g->again ? g->again_kind : 0) : 0;
	return (k & ~STORE_CHANGE_FLAGS) == 0;
}

static struct imap_group *
group_get(struct imap_session *s, uint32_t mbox_id)
{
	uint32_t h = group_hash(s->user, mbox_id);
	for (struct mm_hnode *n = mm_htab_first(&groups, h); n != NULL; n = n->next) {
		struct imap_group *g = mm_hentry(n, struct imap_group, node);
		if (g->mbox_id == mbox_id && g->srv == s->srv && strcmp(g->user, s->user) == 0 &&
		    strcmp(g->mbox, s->mbox) == 0)
			return g;
	}
	struct imap_group *g = xcalloc(1, sizeof(*g));
	g->srv = s->srv;
	g->user = xstrdup(s->user);
	mm_strlcpy(g->mbox, s->mbox, sizeof(g->mbox));
	g->mbox_id = mbox_id;
	mm_htab_add(&groups, &g->node, h);
	return g;
}

static void
group_free(struct imap_group *g)
{
	mm_htab_del(&groups, &g->node);
	if (g->smem != NULL)
		imap_searchmem_close(g->smem);
	imap_searchmem_unref(&g->smem);
	snap_unref(&g->cur);
	delta_unref(&g->delta);
	free(g->user);
	free(g);
}

static void
group_join(struct imap_session *s, struct imap_group *g)
{
	s->group = g;
	s->gprev = NULL;
	s->gnext = g->members;
	if (g->members != NULL)
		g->members->gprev = s;
	g->members = s;
	g->nmembers++;
	if (g->watch == NULL && g->srv->hub != NULL)
		g->watch = notify_watch_add(g->srv->hub, g->user, g->mbox_id, group_notify_cb, g);
}

static void
group_leave(struct imap_session *s)
{
	struct imap_group *g = s->group;
	if (g == NULL)
		return;
	if (s->gprev != NULL)
		s->gprev->gnext = s->gnext;
	else
		g->members = s->gnext;
	if (s->gnext != NULL)
		s->gnext->gprev = s->gprev;
	s->group = NULL;
	s->gnext = s->gprev = NULL;
	if (--g->nmembers > 0)
		return;
	if (g->watch != NULL)
		notify_watch_del(g->srv->hub, &g->watch);
	if (!g->refreshing)
		group_free(g);
}

static void
group_publish(struct imap_group *g, struct imap_snap *sn, struct imap_delta *d)
{
	sn->gen = ++snap_gen;
	snap_unref(&g->cur);
	delta_unref(&g->delta);
	g->cur = sn;
	g->delta = d;
}

/* ---- the refresh job ---- */

struct refresh_job {
	struct imap_group *g;
	struct store *st;
	char user[ADDRESS_MAX_BYTES + 1];
	char mbox[STORE_MBOX_NAME_MAX];
	struct imap_snap *base;
	struct imap_searchmem *smem;      /* the group's, referenced, or NULL */
	uint64_t owner;           /* claims \Recent for this conn; 0: none */
	uint64_t seq;             /* g->refresh_seq when it started */
	int err;
	struct imap_snap *snap;
	struct imap_delta *delta;
};

/* Worker: do the changes account for every message (imap-sync.c's
 * changes_complete, against the base snapshot)? */
static bool
refresh_complete(struct refresh_job *j, const struct store_index *idx,
    uint32_t **vanished_r, size_t *nvanished_r)
{
	const struct imap_snap *b = j->base;
	size_t fresh = 0, gone = 0;

	if (idx->mailbox.uidvalidity != b->uidvalidity || idx->mailbox.id != b->mbox_id)
		return false;
	for (size_t i = 0; i < idx->nmsgs; i++)
		fresh += idx->msgs[i].uid > b->last_uid;
	if (b->nmsgs + fresh == idx->mailbox.messages)
		return true;
	if (store_expunged_since(j->st, b->mbox_id, b->modseq, idx->mailbox.highestmodseq,
	    vanished_r, nvanished_r) != STORE_OK)
		return false;
	for (size_t i = 0; i < *nvanished_r; i++)
		gone += imap_msgs_find(b->msgs, b->nmsgs, (*vanished_r)[i]) != (size_t)-1;
	return b->nmsgs - gone + fresh == idx->mailbox.messages;
}

/* Worker: claims \Recent of the new messages for the owner (one
 * store_recent_claim for the group, not one per session). */
static void
refresh_claim(struct refresh_job *j, struct store_index *idx, struct imap_delta *d)
{
	uint32_t *uids = NULL;
	size_t n = 0;

	for (size_t i = 0; i < idx->nmsgs; i++) {
		struct store_msg *m = &idx->msgs[i];
		if ((m->flags & MSG_RECENT) && m->uid > j->base->last_uid && j->owner == 0)
			d->unclaimed = true;
		if ((m->flags & MSG_RECENT) && m->uid > j->base->last_uid && j->owner != 0) {
			if (uids == NULL)
				uids = xmalloc(idx->nmsgs * sizeof(*uids));
			uids[n++] = m->uid;
		}
		m->flags &= ~(uint32_t)MSG_RECENT;
	}
	if (n == 0)
		return;
	d->claimed = xmalloc(n * sizeof(*d->claimed));
	if (store_recent_claim(j->st, j->user, j->mbox, uids, n, d->claimed,
	    &d->nclaimed) != STORE_OK)
		d->nclaimed = 0;   /* unknown who has it: better none than two */
	d->owner = j->owner;
	free(uids);
}

/* MINIMAILD_TEST_REFRESH_DELAY_MS=n: every refresh job first sleeps n
 * ms (tests: a command that comes while a refresh runs, every time). */
static unsigned
refresh_test_delay_ms(void)
{
	static _Atomic int v = -1;
	return mm_env_uint(&v, "MINIMAILD_TEST_REFRESH_DELAY_MS", 10000);
}

static void
refresh_work(void *arg)
{
	struct refresh_job *j = arg;
	struct store_index *idx = NULL;
	uint32_t *vanished = NULL;
	size_t nvanished = 0;
	bool full = false;
	unsigned delay = refresh_test_delay_ms();

	if (delay > 0)
		usleep(delay * 1000);

	j->err = store_index_read_changed(j->st, j->user, j->mbox, j->base->modseq, &idx);
	if (j->err == STORE_OK && !refresh_complete(j, idx, &vanished, &nvanished)) {
		store_index_free(&idx);
		free(vanished);
		vanished = NULL;
		nvanished = 0;
		full = true;
		j->err = store_index_read(j->st, j->user, j->mbox, &idx);
	}
	if (j->err != STORE_OK)
		return;
	if (idx->mailbox.uidvalidity != j->base->uidvalidity ||
	    idx->mailbox.id != j->base->mbox_id) {
		/* the members read for themselves and say BYE */
		j->err = STORE_NOTFOUND;
		store_index_free(&idx);
		free(vanished);
		return;
	}
	struct imap_delta *d = xcalloc(1, sizeof(*d));
	atomic_init(&d->refs, 1);
	d->from_gen = j->base->gen;
	d->seq = j->seq;
	d->since = j->base->modseq;
	d->since_last_uid = j->base->last_uid;
	d->full = full;
	refresh_claim(j, idx, d);
	d->idx = idx;
	d->vanished = vanished;
	d->nvanished = nvanished;
	j->snap = full ? snap_from_index(idx) : snap_apply(j->base, idx, vanished, nvanished);
	if (j->smem != NULL)
		imap_searchmem_refresh(j->smem, j->st, idx, j->base->last_uid, vanished, nvanished,
		    full);
	if (full)
		j->snap->last_uid = j->snap->last_uid > j->base->last_uid ?
		    j->snap->last_uid : j->base->last_uid;
	j->delta = d;
}

static void
refresh_done(void *arg)
{
	struct refresh_job *j = arg;
	struct imap_group *g = j->g;

	g->refreshing = false;
	g->owner = 0;
	snap_unref(&j->base);
	if (j->err != STORE_OK && j->smem != NULL)
		imap_searchmem_reset(j->smem);
	imap_searchmem_unref(&j->smem);
	if (g->nmembers == 0) {
		snap_unref(&j->snap);
		delta_unref(&j->delta);
		group_free(g);
		free(j);
		return;
	}
	if (j->err == STORE_OK) {
		group_publish(g, j->snap, j->delta);
	} else {
		/* no snapshot to build on: every member reads for itself
		 * until one that has read shares its view again */
		snap_unref(&g->cur);
		delta_unref(&g->delta);
		delta_unref(&j->delta);
		snap_unref(&j->snap);
	}
	free(j);
	if (g->again) {
		unsigned kind = g->again_kind;
		g->again = false;
		g->again_kind = 0;
		group_refresh(g, kind);
	}
	group_tell(g);
}

static void
group_refresh(struct imap_group *g, unsigned kind)
{
	if (g->cur == NULL || g->srv->pool == NULL)
		return;
	g->run_kind = kind;
	g->refresh_seq++;
	struct refresh_job *j = xcalloc(1, sizeof(*j));
	j->g = g;
	j->st = g->srv->store;
	mm_strlcpy(j->user, g->user, sizeof(j->user));
	mm_strlcpy(j->mbox, g->mbox, sizeof(j->mbox));
	j->base = snap_ref(g->cur);
	j->seq = g->refresh_seq;
	if (g->smem != NULL)
		j->smem = imap_searchmem_ref(g->smem);
	/* \Recent of the new messages goes to a session that waits for this
	 * refresh (in IDLE, it does not read for itself); with none, the
	 * sessions claim for themselves as they read. Never an IMAP4rev2
	 * session: it shows no \Recent, so it takes none (imap_sync_prepare) */
	for (struct imap_session *s = g->members; s != NULL; s = s->gnext)
		if (!s->readonly && !imap_rev2(s) && s->input == IMAP_INPUT_IDLE) {
			j->owner = conn_id(s->c);
			break;
		}
	g->owner = j->owner;
	g->refreshing = true;
	metrics_imap_view_refresh();
	worker_submit(g->srv->pool, WORKER_LANE_READ, refresh_work, refresh_done, j);
}

/* ---- a session's view ---- */

bool
imap_msg_recent(const struct imap_session *s, const struct imap_msg *m)
{
	return m->recent || uid_in(s->recent_uids, s->nrecent_uids, m->uid);
}

static void
view_take_snap(struct imap_session *s, struct imap_snap *sn)
{
	s->snap = snap_ref(sn);
	s->msgs = sn->msgs;
	s->nmsgs = sn->nmsgs;
	s->capmsgs = 0;
	s->last_uid = sn->last_uid;
	s->nexpunged = s->nreport = 0;    /* a snapshot has no marks */
}

void
imap_view_own(struct imap_session *s)
{
	struct imap_snap *sn = s->snap;
	if (sn == NULL)
		return;
	s->msgs = xmalloc((sn->nmsgs ? sn->nmsgs : 1) * sizeof(*s->msgs));
	memcpy(s->msgs, sn->msgs, sn->nmsgs * sizeof(*s->msgs));
	s->capmsgs = sn->nmsgs ? sn->nmsgs : 1;
	for (size_t k = 0, i = 0; k < s->nrecent_uids; k++) {
		while (i < s->nmsgs && s->msgs[i].uid < s->recent_uids[k])
			i++;
		if (i < s->nmsgs && s->msgs[i].uid == s->recent_uids[k])
			s->msgs[i].recent = true;
	}
	free(s->recent_uids);
	s->recent_uids = NULL;
	s->nrecent_uids = 0;
	snap_unref(&s->snap);
}

/* Is the session's view the group's snapshot (shared, or an equal
 * private copy as far as its counters tell)? */
static bool
view_at_cur(const struct imap_session *s, const struct imap_group *g)
{
	if (g->cur == NULL)
		return false;
	if (s->snap != NULL)
		return s->snap == g->cur;
	return s->modseq == g->cur->modseq && s->uidvalidity == g->cur->uidvalidity;
}

static bool
delta_applies(const struct imap_session *s, const struct imap_group *g)
{
	const struct imap_delta *d = g->delta;
	if (d == NULL || g->cur == NULL || s->nsctx > 0 || s->uidvalidity != g->cur->uidvalidity)
		return false;
	if (d->unclaimed)
		return false;    /* it reads (and claims, or shows) \Recent itself, as before */
	if (s->snap != NULL)
		return s->snap->gen == d->from_gen;
	return s->modseq == d->since && s->last_uid == d->since_last_uid;
}

void
imap_watch(struct imap_session *s)
{
	struct imap_group *g = s->group;
	if (g != NULL && g->watch == NULL && g->srv->hub != NULL)
		g->watch = notify_watch_add(g->srv->hub, g->user, g->mbox_id, group_notify_cb, g);
}

bool
imap_view_wait(const struct imap_session *s)
{
	const struct imap_group *g = s->group;
	return g != NULL && g->refreshing && view_at_cur(s, g);
}

/* Will the view need no read of its own once the refresh now running (of
 * flag changes only: no message new, none unclaimed) is published? Yes
 * when the view is the group's snapshot (shared, or a private copy as far
 * as its counters tell): the delta applies to it. Also, most likely, when
 * it is a private copy ahead of the snapshot by a STORE of its own, which
 * read its change after the commit whose post started this refresh: the
 * refresh then reads the same state, and the published snapshot is the
 * view (view_at_cur); if not, the session reads for itself after all. */
static bool
view_at_refresh(const struct imap_session *s, const struct imap_group *g)
{
	if (g->cur == NULL || s->nsctx > 0 || g->run_kind != STORE_CHANGE_FLAGS)
		return false;
	if (s->snap != NULL)
		return s->snap == g->cur;
	return s->modseq >= g->cur->modseq && s->last_uid == g->cur->last_uid &&
	    s->uidvalidity == g->cur->uidvalidity;
}

static void
take_delta(struct imap_session *s, struct imap_group *g, struct imap_sync *sy)
{
	sy->want = true;
	sy->full = g->delta->full;
	sy->delta = g->delta;
	atomic_fetch_add(&g->delta->refs, 1);
	sy->snap = snap_ref(g->cur);
	sy->idx = g->delta->idx;
	sy->vanished = g->delta->vanished;
	sy->nvanished = g->delta->nvanished;
	sy->claimed = g->delta->owner == conn_id(s->c) ? g->delta->claimed : NULL;
	sy->nclaimed = sy->claimed != NULL ? g->delta->nclaimed : 0;
}

static void
park(struct imap_session *s, struct imap_group *g, struct imap_sync *sy, bool may_wait)
{
	sy->want = false;
	sy->wait = true;
	/* the running refresh has every change told before the command
	 * only if none came after it started; only imap_sync_command's
	 * parked sync comes back for it (may_wait) */
	s->wait_seq = may_wait && !g->again ? g->refresh_seq : 0;
}

bool
imap_view_prepare(struct imap_session *s, struct imap_sync *sy, bool may_wait)
{
	struct imap_group *g = s->group;
	uint64_t waited = s->wait_seq;
	s->wait_seq = 0;
	if (g == NULL || !s->dirty)
		return false;
	bool idle = s->input == IMAP_INPUT_IDLE;
	if (!idle && waited != 0 && g->delta != NULL && g->delta->seq == waited) {
		/* parked for that refresh, which had every change told before
		 * the command: its delta is enough, or nothing when the view
		 * already is its snapshot (a STORE of our own); a newer one
		 * may run */
		if (delta_applies(s, g)) {
			take_delta(s, g, sy);
			s->dirty = g->refreshing;
			return true;
		}
		if (view_at_cur(s, g)) {
			sy->want = false;
			s->dirty = g->refreshing;
			return true;
		}
	}
	if (!idle && g->refreshing) {
		/* A command shows every change the hub told of before it:
		 * one still being read is read by the session itself, as
		 * before, unless the refresh claims \Recent for this session
		 * (it was in IDLE when the refresh started), or the session's
		 * sync may wait (imap_sync_command) for a refresh of flag
		 * changes only, whose delta then applies to the view: then it
		 * waits for the refresh (sy->wait; s->dirty stays). Woken by
		 * a newer post before the publish, it waits again. */
		if (may_wait && waited != 0 && waited == g->refresh_seq) {
			sy->want = false;
			sy->wait = true;
			s->wait_seq = waited;
			return true;
		}
		if ((g->owner != 0 && g->owner == conn_id(s->c)) ||
		    (may_wait && !g->again && view_at_refresh(s, g))) {
			park(s, g, sy, may_wait);
			return true;
		}
		return false;
	}
	if (delta_applies(s, g)) {
		take_delta(s, g, sy);
		s->dirty = g->refreshing;   /* IDLE: the next one comes */
		return true;
	}
	if (view_at_cur(s, g)) {
		/* the change is in the snapshot the view already is (or, in
		 * IDLE, is being read: the refresh's publish wakes us) */
		sy->want = false;
		s->dirty = g->refreshing;
		return true;
	}
	return false;
}

/* Worker or loop: the delta a sync borrowed from the group. */
void
imap_view_sync_release(struct imap_sync *sy)
{
	if (sy->delta == NULL)
		return;
	sy->idx = NULL;
	sy->vanished = NULL;
	sy->nvanished = 0;
	sy->claimed = NULL;
	sy->nclaimed = 0;
	delta_unref(&sy->delta);
	snap_unref(&sy->snap);
}

static void
recent_drop(struct imap_session *s, const uint32_t *uids, size_t n)
{
	size_t k = 0;
	for (size_t i = 0; i < s->nrecent_uids; i++)
		if (!uid_in(uids, n, s->recent_uids[i]))
			s->recent_uids[k++] = s->recent_uids[i];
	s->nrecent_uids = k;
	s->nrecent = k;
}

static void
recent_add(struct imap_session *s, const uint32_t *uids, size_t n)
{
	if (n == 0)
		return;
	s->recent_uids = xrealloc(s->recent_uids, (s->nrecent_uids + n) * sizeof(uint32_t));
	memcpy(s->recent_uids + s->nrecent_uids, uids, n * sizeof(uint32_t));
	s->nrecent_uids += n;
	s->nrecent = s->nrecent_uids;
}

/* What a push to every member of a group needs for its own, without an
 * allocation each in the common case: a delivery or a few changes (the
 * arrays of imap_view_advance) and the lines told (one buffer for the
 * loop, kept while it stays small). */
#define ADVANCE_SMALL 16
#define PUSH_OUT_KEEP (64 * 1024)
static struct mm_buf push_out;

static void *
advance_array(void *small, size_t n, size_t size)
{
	return n <= ADVANCE_SMALL ? small : xmalloc(n * size);
}

static void
advance_array_free(void *p, void *small)
{
	if (p != small)
		free(p);
}

/* Loop: a shared view moves to the delta's snapshot, telling the client
 * what imap-sync.c's apply_changes/apply_full would tell for a private
 * copy, in the same order. False (nothing done) when something vanished
 * that may not be told now: the caller then takes a private copy. */
bool
imap_view_advance(struct imap_session *s, struct imap_sync *sy, bool allow_expunge)
{
	const struct imap_snap *old = s->snap, *nw = sy->snap;
	const struct imap_delta *d = sy->delta;
	size_t *gone = NULL, ngone = 0, *chg = NULL, nchg = 0;
	const struct imap_msg **chg_new = NULL;
	size_t gone_s[ADVANCE_SMALL], chg_s[ADVANCE_SMALL];
	const struct imap_msg *chg_new_s[ADVANCE_SMALL];
	bool ok = true;

	if (old == NULL || d == NULL || old->gen != d->from_gen)
		return false;
	if (d->full) {
		/* both in UID order: a merge */
		gone = advance_array(gone_s, old->nmsgs + 1, sizeof(*gone));
		chg = advance_array(chg_s, old->nmsgs + 1, sizeof(*chg));
		chg_new = advance_array(chg_new_s, old->nmsgs + 1, sizeof(*chg_new));
		size_t j = 0;
		for (size_t i = 0; i < old->nmsgs; i++) {
			const struct imap_msg *m = &old->msgs[i];
			while (j < nw->nmsgs && nw->msgs[j].uid < m->uid) {
				ok = false;   /* one the view never had below last_uid */
				j++;
			}
			if (j >= nw->nmsgs || nw->msgs[j].uid != m->uid) {
				gone[ngone++] = i;
				continue;
			}
			if (nw->msgs[j].flags != m->flags || nw->msgs[j].keywords != m->keywords) {
				chg[nchg] = i;
				chg_new[nchg++] = &nw->msgs[j];
			}
			j++;
		}
		for (; j < nw->nmsgs; j++)
			if (nw->msgs[j].uid <= old->last_uid)
				ok = false;
	} else {
		gone = advance_array(gone_s, d->nvanished + 1, sizeof(*gone));
		chg = advance_array(chg_s, d->idx->nmsgs + 1, sizeof(*chg));
		chg_new = advance_array(chg_new_s, d->idx->nmsgs + 1, sizeof(*chg_new));
		for (size_t i = 0; i < d->nvanished; i++) {
			size_t vi = imap_view_find(s, d->vanished[i]);
			if (vi != (size_t)-1)
				gone[ngone++] = vi;
		}
		/* vanished ascends, so gone does */
		size_t j = 0;
		for (size_t k = 0; k < d->idx->nmsgs && d->idx->msgs[k].uid <= old->last_uid; k++) {
			const struct store_msg *sm = &d->idx->msgs[k];
			size_t vi = imap_view_find(s, sm->uid);
			if (vi == (size_t)-1 || uid_in(d->vanished, d->nvanished, sm->uid))
				continue;
			const struct imap_msg *m = &old->msgs[vi];
			if ((sm->flags & ~(uint32_t)MSG_RECENT) == m->flags && sm->keywords == m->keywords)
				continue;
			/* the message as the new snapshot has it */
			while (j < nw->nmsgs && nw->msgs[j].uid < sm->uid)
				j++;
			if (j >= nw->nmsgs || nw->msgs[j].uid != sm->uid) {
				ok = false;
				break;
			}
			chg[nchg] = vi;
			chg_new[nchg++] = &nw->msgs[j];
		}
	}
	if (!ok || (ngone > 0 && !allow_expunge)) {
		advance_array_free(gone, gone_s);
		advance_array_free(chg, chg_s);
		advance_array_free(chg_new, chg_new_s);
		return false;
	}

	imap_view_keywords(s, nw->keywords, nw->nkeywords);
	/* changed flags, in view order, with the sequence numbers the client
	 * has (the index walk ascends by UID, so chg does) */
	struct mm_buf *b = &push_out;
	b->len = 0;
	for (size_t k = 0; k < nchg; k++) {
		mm_buf_printf(b, "* %zu FETCH (UID %u FLAGS ", chg[k] + 1, chg_new[k]->uid);
		imap_append_flags(s, b, chg_new[k]);
		if (s->condstore)
			mm_buf_printf(b, " MODSEQ (%llu)", (unsigned long long)chg_new[k]->modseq);
		mm_buf_append(b, ")\r\n", 3);
	}
	if (ngone > 0) {
		uint32_t *uids = xmalloc(ngone * sizeof(*uids));
		for (size_t k = 0; k < ngone; k++)
			uids[k] = old->msgs[gone[k]].uid;
		if (s->qresync) {
			mm_buf_append(b, "* VANISHED ", 11);
			imap_append_uid_set(b, uids, ngone);
			mm_buf_append(b, "\r\n", 2);
		} else {
			for (size_t k = ngone; k-- > 0;)
				mm_buf_printf(b, "* %zu EXPUNGE\r\n", gone[k] + 1);
		}
		recent_drop(s, uids, ngone);
		free(uids);
	}
	size_t before = old->nmsgs - ngone;
	if (sy->nclaimed > 0) {
		/* ours among the new ones (all above old->last_uid) */
		uint32_t *mine = xmalloc(sy->nclaimed * sizeof(*mine));
		size_t nmine = 0;
		for (size_t k = 0; k < sy->nclaimed; k++)
			if (sy->claimed[k] > old->last_uid)
				mine[nmine++] = sy->claimed[k];
		recent_add(s, mine, nmine);
		free(mine);
	}
	struct imap_snap *hold = s->snap;
	view_take_snap(s, sy->snap);
	snap_unref(&hold);
	s->uidnext = nw->uidnext;
	s->modseq = nw->modseq;
	if (s->nmsgs != before)
		mm_buf_printf(b, "* %zu EXISTS\r\n* %zu RECENT\r\n", s->nmsgs, s->nrecent);
	/* in IDLE nothing follows: to the socket as the fan-out goes */
	if (b->len > 0 && s->input == IMAP_INPUT_IDLE)
		conn_write_now(s->c, b->data, b->len);
	else if (b->len > 0)
		imap_write(s, b->data, b->len);
	if (b->cap > PUSH_OUT_KEEP)
		mm_buf_free(b);
	advance_array_free(gone, gone_s);
	advance_array_free(chg, chg_s);
	advance_array_free(chg_new, chg_new_s);
	return true;
}

/* A private copy equal to the group's snapshot becomes a share of it. */
void
imap_view_share(struct imap_session *s)
{
	struct imap_group *g = s->group;
	if (g == NULL || s->snap != NULL || s->dirty)
		return;
	if (g->cur == NULL) {
		if (g->refreshing)
			return;
		/* seed the group with this view (after a failed refresh) */
		for (size_t i = 0; i < s->nmsgs; i++)
			if (s->msgs[i].expunged || s->msgs[i].report)
				return;
		struct imap_snap *sn = xcalloc(1, sizeof(*sn));
		atomic_init(&sn->refs, 1);
		sn->mbox_id = s->mbox_id;
		sn->uidvalidity = s->uidvalidity;
		sn->uidnext = s->uidnext;
		sn->last_uid = s->last_uid;
		sn->modseq = s->modseq;
		sn->keywords = xcalloc(s->nkeywords ? s->nkeywords : 1, sizeof(char *));
		for (size_t i = 0; i < s->nkeywords; i++)
			sn->keywords[i] = xstrdup(s->keywords[i]);
		sn->nkeywords = s->nkeywords;
		sn->msgs = xmalloc((s->nmsgs ? s->nmsgs : 1) * sizeof(*sn->msgs));
		for (size_t i = 0; i < s->nmsgs; i++) {
			sn->msgs[i] = s->msgs[i];
			sn->msgs[i].recent = false;
		}
		sn->nmsgs = s->nmsgs;
		group_publish(g, sn, NULL);
	}
	const struct imap_snap *cur = g->cur;
	if (cur->modseq != s->modseq || cur->uidvalidity != s->uidvalidity ||
	    cur->nmsgs != s->nmsgs || cur->uidnext != s->uidnext || cur->mbox_id != s->mbox_id ||
	    !keywords_same(cur->keywords, cur->nkeywords, s->keywords, s->nkeywords))
		return;
	size_t nrec = 0;
	for (size_t i = 0; i < s->nmsgs; i++) {
		const struct imap_msg *m = &s->msgs[i];
		if (m->expunged || m->report || !msg_same(m, &cur->msgs[i]))
			return;
		nrec += m->recent;
	}
	uint32_t *rec = nrec ? xmalloc(nrec * sizeof(*rec)) : NULL;
	size_t k = 0;
	for (size_t i = 0; i < s->nmsgs; i++)
		if (s->msgs[i].recent)
			rec[k++] = s->msgs[i].uid;
	free(s->msgs);
	s->recent_uids = rec;
	s->nrecent_uids = nrec;
	s->nrecent = nrec;
	view_take_snap(s, g->cur);
}

/* SELECT: joins the mailbox's group; the view shares the group's
 * snapshot when it is what the SELECT read, else starts it. False: the
 * caller loads a private copy (the group's snapshot is another state). */
bool
imap_view_join(struct imap_session *s, const struct store_index *idx)
{
	struct imap_group *g = group_get(s, idx->mailbox.id);
	group_join(s, g);
	if (g->cur == NULL) {
		if (g->refreshing)
			return false;
		group_publish(g, snap_from_index(idx), NULL);
	}
	const struct imap_snap *cur = g->cur;
	if (cur->modseq != idx->mailbox.highestmodseq || cur->uidvalidity != idx->mailbox.uidvalidity ||
	    cur->uidnext != idx->mailbox.uidnext || cur->nmsgs != idx->nmsgs ||
	    !keywords_same(cur->keywords, cur->nkeywords, idx->keywords, idx->nkeywords))
		return false;
	size_t nrec = 0;
	for (size_t i = 0; i < idx->nmsgs; i++) {
		struct imap_msg m;
		snap_msg(&m, &idx->msgs[i]);
		if (!msg_same(&m, &cur->msgs[i]))
			return false;
		nrec += (idx->msgs[i].flags & MSG_RECENT) != 0;
	}
	s->recent_uids = nrec ? xmalloc(nrec * sizeof(uint32_t)) : NULL;
	s->nrecent_uids = 0;
	for (size_t i = 0; i < idx->nmsgs; i++)
		if (idx->msgs[i].flags & MSG_RECENT)
			s->recent_uids[s->nrecent_uids++] = idx->msgs[i].uid;
	s->nrecent = nrec;
	view_take_snap(s, g->cur);
	return true;
}

/* Leaving the mailbox: drops the share and the membership. */
void
imap_view_leave(struct imap_session *s)
{
	if (s->snap != NULL) {
		snap_unref(&s->snap);
		s->msgs = NULL;
		s->nmsgs = s->capmsgs = 0;
	}
	free(s->recent_uids);
	s->recent_uids = NULL;
	s->nrecent_uids = 0;
	group_leave(s);
}

bool
imap_view_current(const struct imap_session *s, uint32_t uid)
{
	const struct imap_group *g = s->group;
	if (g == NULL || g->watch == NULL || !group_flags_only(g) || g->cur == NULL ||
	    g->cur->uidvalidity != s->uidvalidity || g->cur->mbox_id != s->mbox_id)
		return false;
	return imap_msgs_find(g->cur->msgs, g->cur->nmsgs, uid) != (size_t)-1;
}

struct imap_searchmem *
imap_view_searchmem(struct imap_session *s)
{
	struct imap_group *g = s->group;
	if (g == NULL)
		return NULL;
	if (g->smem == NULL)
		g->smem = imap_searchmem_new();
	return imap_searchmem_ref(g->smem);
}
