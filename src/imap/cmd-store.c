/* cmd-store.c: changing messages of the selected mailbox: STORE
 * (FLAGS/+FLAGS/-FLAGS, .SILENT, and UNCHANGEDSINCE with [MODIFIED] from
 * RFC 7162), COPY and MOVE (RFC 6851), and their UID forms, answering
 * COPYUID (RFC 4315).
 *
 * The one idea: the store call and a fresh index read run in one job;
 * the done function reports flag changes through the view sync (so a
 * flag change is told once, with UID), and for .SILENT first takes the
 * new flags into the view so that only other sessions' changes show. */
#include "imap/imap-common.h"

#include <stdlib.h>
#include <string.h>

#include "net/conn.h"

/* ---- STORE ---- */

struct store_job {
	struct imap_session *s;
	size_t *idx;              /* view indexes */
	size_t n;
	uint32_t *uids;
	enum store_flag_op op;
	uint32_t flags;
	struct mm_strlist kw;
	bool silent;
	bool conditional;         /* UNCHANGEDSINCE given */
	uint64_t unchangedsince;
	uint32_t *failed;         /* UIDs that failed UNCHANGEDSINCE */
	size_t nfailed;
	int err;
	struct imap_sync sy;
};

static bool
uid_failed(const struct store_job *j, uint32_t uid)
{
	for (size_t i = 0; i < j->nfailed; i++)
		if (j->failed[i] == uid)
			return true;
	return false;
}

static void
store_work(void *arg)
{
	struct store_job *j = arg;
	struct imap_session *s = j->s;
	if (j->conditional && j->unchangedsince == 0) {
		/* RFC 7162 3.1.3: every message has a modseq above 0 */
		memcpy(j->failed, j->uids, j->n * sizeof(*j->uids));
		j->nfailed = j->n;
	} else if (j->n > 0) {
		j->err = store_flags_update(imap_store(s), s->user, s->mbox, j->uids, j->n,
		    j->op, j->flags, (const char *const *)j->kw.v, j->kw.n,
		    j->unchangedsince, j->failed, &j->nfailed);
	}
	imap_sync_work(s, &j->sy);
}

/* OK [MODIFIED set]: sequence numbers, or UIDs for UID STORE. */
static void
modified_reply(struct store_job *j)
{
	struct imap_session *s = j->s;
	uint32_t *v = xmalloc(j->nfailed * sizeof(*v));
	size_t k = 0;
	struct mm_buf b;

	for (size_t i = 0; i < j->nfailed; i++) {
		size_t vi = imap_view_find(s, j->failed[i]);
		if (vi != (size_t)-1)
			v[k++] = s->uid ? j->failed[i] : (uint32_t)(vi + 1);
	}
	/* the store reports them in the order asked: ascending here too */
	for (size_t i = 1; i < k; i++)
		for (size_t x = i; x > 0 && v[x - 1] > v[x]; x--) {
			uint32_t t = v[x];
			v[x] = v[x - 1];
			v[x - 1] = t;
		}
	mm_buf_init(&b);
	imap_append_uid_set(&b, v, k);
	imap_ok(s, "[MODIFIED %s] Conditional store failed", mm_buf_cstr(&b));
	mm_buf_free(&b);
	free(v);
}

static void
store_done(void *arg, bool alive)
{
	struct store_job *j = arg;
	struct imap_session *s = j->s;

	if (!alive)
		goto out;
	imap_view_own(s);        /* the flags below are written into the view */
	if (j->err == STORE_OK && j->sy.idx != NULL) {
		const struct store_index *idx = j->sy.idx;
		size_t k = 0;
		for (size_t i = 0; i < j->n; i++) {
			struct imap_msg *m = &s->msgs[j->idx[i]];
			if (m->expunged || uid_failed(j, m->uid))
				continue;
			if (!j->silent) {
				imap_view_mark_report(s, m);
				continue;
			}
			while (k < idx->nmsgs && idx->msgs[k].uid < m->uid)
				k++;
			if (k < idx->nmsgs && idx->msgs[k].uid == m->uid) {
				m->flags = idx->msgs[k].flags & ~(uint32_t)MSG_RECENT;
				m->keywords = idx->msgs[k].keywords;
				/* RFC 7162 3.1.3: .SILENT still tells the new MODSEQ */
				if (s->condstore && idx->msgs[k].modseq > m->modseq && s->uidonly)
					imap_printf(s, "* %u UIDFETCH (MODSEQ (%llu))\r\n", m->uid,
					    (unsigned long long)idx->msgs[k].modseq);
				else if (s->condstore && idx->msgs[k].modseq > m->modseq)
					imap_printf(s, "* %zu FETCH (UID %u MODSEQ (%llu))\r\n",
					    j->idx[i] + 1, m->uid,
					    (unsigned long long)idx->msgs[k].modseq);
			}
		}
	}
	if (!imap_sync_finish(s, &j->sy, imap_expunge_allowed(s)))
		goto out;
	if (j->err == STORE_LIMIT)
		imap_no(s, "[LIMIT] Too many keywords");
	else if (j->err != STORE_OK)
		imap_no_store(s, j->err, NULL);
	else if (j->nfailed > 0)
		modified_reply(j);
	else
		imap_ok(s, "Store completed");
out:
	free(j->failed);
	imap_sync_free(&j->sy);
	mm_strlist_clear(&j->kw);
	free(j->idx);
	free(j->uids);
	free(j);
}

void
cmd_store(struct imap_session *s, const struct imap_arg *args, size_t n)
{
	const char *set, *item, *err = "Invalid STORE arguments";
	struct store_job *j;

	if (n < 3 || !imap_arg_atom(&args[0], &set) ||
	    (args[1].type != IMAP_ARG_LIST && !imap_arg_atom(&args[1], &item))) {
		imap_bad(s, "%s", err);
		return;
	}
	j = xcalloc(1, sizeof(*j));
	j->s = s;
	mm_strlist_init(&j->kw);
	if (args[1].type == IMAP_ARG_LIST) {
		/* (UNCHANGEDSINCE modseq), RFC 7162 3.1.3 */
		const struct imap_arg *mod = &args[1];
		if (mod->count != 2 || !imap_arg_atom_eq(&mod->list[0], "UNCHANGEDSINCE") ||
		    !imap_arg_number64(&mod->list[1], &j->unchangedsince) ||
		    n < 4 || !imap_arg_atom(&args[2], &item))
			goto bad;
		j->conditional = true;
		args++;
		n--;
	}
	const char *p = item;
	if (*p == '+') {
		j->op = STORE_FLAGS_ADD;
		p++;
	} else if (*p == '-') {
		j->op = STORE_FLAGS_DEL;
		p++;
	} else {
		j->op = STORE_FLAGS_SET;
	}
	if (mm_strcaseeq(p, "FLAGS.SILENT"))
		j->silent = true;
	else if (!mm_strcaseeq(p, "FLAGS"))
		goto bad;
	if (args[2].type == IMAP_ARG_LIST) {
		if (n != 3 || !imap_parse_flags(args[2].list, args[2].count, &j->flags, &j->kw, &err))
			goto bad;
	} else if (!imap_parse_flags(&args[2], n - 2, &j->flags, &j->kw, &err)) {
		goto bad;
	}
	if (!imap_view_resolve(s, set, s->uid, &j->idx, &j->n)) {
		err = "Invalid message set";
		goto bad;
	}
	if (s->readonly) {
		mm_strlist_clear(&j->kw);
		free(j->idx);
		free(j);
		imap_no(s, "[READ-ONLY] Mailbox is read-only");
		return;
	}
	j->uids = xmalloc((j->n + 1) * sizeof(*j->uids));
	for (size_t i = 0; i < j->n; i++)
		j->uids[i] = s->msgs[j->idx[i]].uid;
	if (j->conditional) {
		j->failed = xmalloc((j->n + 1) * sizeof(*j->failed));
		imap_condstore_enable(s);
	}
	imap_sync_prepare(s, &j->sy, true);
	imap_run_job(s, WORKER_LANE_COMMIT, store_work, store_done, j);
	return;
bad:
	mm_strlist_clear(&j->kw);
	free(j->idx);
	free(j);
	imap_bad(s, "%s", err);
}

/* ---- COPY / MOVE ---- */

struct copy_job {
	struct imap_session *s;
	bool move;
	char dst[STORE_MBOX_NAME_MAX];
	uint32_t *uids;
	uint32_t *new_uids;
	size_t n;
	uint32_t uidvalidity;
	int err;
	struct imap_sync sy;
};

static void
copy_work(void *arg)
{
	struct copy_job *j = arg;
	struct imap_session *s = j->s;
	if (j->n > 0) {
		if (j->move)
			j->err = store_move(imap_store(s), s->user, s->mbox, j->uids, j->n,
			    j->dst, j->new_uids, &j->uidvalidity);
		else
			j->err = store_copy(imap_store(s), s->user, s->mbox, j->uids, j->n,
			    j->dst, j->new_uids, &j->uidvalidity);
	}
	imap_sync_work(s, &j->sy);
}

/* "COPYUID v src dst" for the pairs that were copied. */
static void
copyuid(struct copy_job *j, struct mm_buf *b)
{
	uint32_t *src = xmalloc((j->n + 1) * sizeof(uint32_t));
	uint32_t *dst = xmalloc((j->n + 1) * sizeof(uint32_t));
	size_t k = 0;
	for (size_t i = 0; i < j->n; i++) {
		if (j->new_uids[i] == 0)
			continue;
		src[k] = j->uids[i];
		dst[k++] = j->new_uids[i];
	}
	if (k > 0) {
		mm_buf_printf(b, "[COPYUID %u ", j->uidvalidity);
		/* ranges only where both sides run consecutively */
		for (size_t i = 0; i < k;) {
			size_t e = i;
			while (e + 1 < k && src[e + 1] == src[e] + 1 && dst[e + 1] == dst[e] + 1)
				e++;
			mm_buf_printf(b, i ? ",%u" : "%u", src[i]);
			if (e > i)
				mm_buf_printf(b, ":%u", src[e]);
			i = e + 1;
		}
		mm_buf_appendc(b, ' ');
		for (size_t i = 0; i < k;) {
			size_t e = i;
			while (e + 1 < k && src[e + 1] == src[e] + 1 && dst[e + 1] == dst[e] + 1)
				e++;
			mm_buf_printf(b, i ? ",%u" : "%u", dst[i]);
			if (e > i)
				mm_buf_printf(b, ":%u", dst[e]);
			i = e + 1;
		}
		mm_buf_append(b, "] ", 2);
	}
	free(src);
	free(dst);
}

static void
copy_done(void *arg, bool alive)
{
	struct copy_job *j = arg;
	struct imap_session *s = j->s;
	struct mm_buf b;

	mm_buf_init(&b);
	if (!alive)
		goto out;
	if (j->err == STORE_OK && j->move && j->n > 0) {
		/* RFC 6851 3.3: COPYUID in an untagged OK before the EXPUNGEs */
		copyuid(j, &b);
		if (b.len > 0)
			imap_printf(s, "* OK %.*s Moved UIDs.\r\n", (int)(b.len - 1), b.data);
		b.len = 0;
	}
	if (!imap_sync_finish(s, &j->sy, true))
		goto out;
	if (j->err == STORE_NOTFOUND) {
		imap_no(s, "[TRYCREATE] Mailbox doesn't exist");
	} else if (j->err != STORE_OK) {
		imap_no_store(s, j->err, NULL);
	} else if (j->move) {
		imap_ok(s, "Move completed");
	} else {
		copyuid(j, &b);
		imap_ok(s, "%sCopy completed", mm_buf_cstr(&b));
	}
out:
	mm_buf_free(&b);
	imap_sync_free(&j->sy);
	free(j->uids);
	free(j->new_uids);
	free(j);
}

static void
do_copy(struct imap_session *s, const struct imap_arg *args, size_t n, bool move)
{
	const char *set;
	size_t *idx = NULL, nidx = 0;
	struct copy_job *j;

	if (n != 2 || !imap_arg_atom(&args[0], &set)) {
		imap_bad(s, "Invalid %s arguments", move ? "MOVE" : "COPY");
		return;
	}
	j = xcalloc(1, sizeof(*j));
	j->s = s;
	j->move = move;
	if (!imap_mailbox_arg_reply(s, &args[1], j->dst, sizeof(j->dst))) {
		free(j);
		return;
	}
	if (!imap_view_resolve(s, set, s->uid, &idx, &nidx)) {
		free(j);
		imap_bad(s, "Invalid message set");
		return;
	}
	if (move && s->readonly) {
		free(idx);
		free(j);
		imap_no(s, "[READ-ONLY] Mailbox is read-only");
		return;
	}
	j->uids = xmalloc((nidx + 1) * sizeof(uint32_t));
	j->new_uids = xcalloc(nidx + 1, sizeof(uint32_t));
	for (size_t i = 0; i < nidx; i++)
		if (!s->msgs[idx[i]].expunged)
			j->uids[j->n++] = s->msgs[idx[i]].uid;
	free(idx);
	imap_sync_prepare(s, &j->sy, move || strcmp(j->dst, s->mbox) == 0);
	imap_run_job(s, WORKER_LANE_COMMIT, copy_work, copy_done, j);
}

void
cmd_copy(struct imap_session *s, const struct imap_arg *args, size_t n)
{
	do_copy(s, args, n, false);
}

void
cmd_move(struct imap_session *s, const struct imap_arg *args, size_t n)
{
	do_copy(s, args, n, true);
}
