/* cmd-select.c: entering and leaving a mailbox, and what happens to it as
 * a whole: SELECT, EXAMINE, CLOSE, UNSELECT, CHECK, EXPUNGE (and UID
 * EXPUNGE, RFC 4315) and IDLE (RFC 2177).
 *
 * The one idea: SELECT loads the view from one index read and registers
 * a notify watch; from then on imap-sync.c keeps the view current. IDLE
 * is a command that stays in progress: each notification runs a sync job
 * whose untagged responses go out at once, until the client sends DONE. */
#include "imap/imap-common.h"

#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/metrics.h"
#include "net/conn.h"

/* ---- SELECT / EXAMINE ---- */

struct select_job {
	struct imap_session *s;
	char name[STORE_MBOX_NAME_MAX];
	bool readonly;
	struct store_index *idx;
	int err;
	/* QRESYNC (RFC 7162 3.2.5) */
	bool qresync;
	uint32_t q_uidvalidity;
	uint64_t q_modseq;
	struct imap_seqset q_known;       /* known-uids; none: all */
	bool has_known;
	uint32_t *vanished;
	size_t nvanished;
};

static void
select_work(void *arg)
{
	struct select_job *j = arg;
	struct imap_session *s = j->s;

	j->err = store_index_read(imap_store(s), s->user, j->name, &j->idx);
	if (j->err != STORE_OK || (j->idx->mailbox.attrs & MBOX_ATTR_NOSELECT))
		return;
	if (j->qresync && j->q_uidvalidity == j->idx->mailbox.uidvalidity &&
	    store_expunged_since(imap_store(s), j->idx->mailbox.id, j->q_modseq,
	    j->idx->mailbox.highestmodseq, &j->vanished, &j->nvanished) != STORE_OK)
		j->nvanished = 0;
	if (!j->readonly && !imap_rev2(s))
		imap_recent_claim(s, j->name, j->idx, 0);
}

/* RFC 7162 3.2.5.1: what vanished and what changed since the client's
 * modseq, among the UIDs it says it knows. */
static void
qresync_responses(struct select_job *j, struct mm_buf *b)
{
	struct imap_session *s = j->s;
	uint32_t star = s->uidnext > 0 ? s->uidnext - 1 : 0;
	size_t k = 0;

	for (size_t i = 0; i < j->nvanished; i++)
		if (!j->has_known || imap_seqset_contains(&j->q_known, j->vanished[i], star))
			j->vanished[k++] = j->vanished[i];
	if (k > 0) {
		mm_buf_append(b, "* VANISHED (EARLIER) ", 21);
		imap_append_uid_set(b, j->vanished, k);
		mm_buf_append(b, "\r\n", 2);
	}
	for (size_t i = 0; i < s->nmsgs; i++) {
		const struct imap_msg *m = &s->msgs[i];
		if (m->modseq <= j->q_modseq ||
		    (j->has_known && !imap_seqset_contains(&j->q_known, m->uid, star)))
			continue;
		imap_append_fetch_open(s, b, i);
		if (!s->uidonly)
			mm_buf_printf(b, "UID %u ", m->uid);
		mm_buf_append(b, "FLAGS ", 6);
		imap_append_flags(s, b, m);
		mm_buf_printf(b, " MODSEQ (%llu))\r\n", (unsigned long long)m->modseq);
	}
}

/* RFC 3501 6.3.1: EXISTS, RECENT and the first unseen message. */
static void
select_rev1_responses(struct imap_session *s, struct mm_buf *b)
{
	mm_buf_printf(b, "* %zu EXISTS\r\n* %zu RECENT\r\n", s->nmsgs, s->nrecent);
	/* UIDONLY: [UNSEEN n] is a sequence number, left out */
	for (size_t i = 0; i < s->nmsgs && !s->uidonly; i++) {
		if (!(s->msgs[i].flags & MSG_SEEN)) {
			mm_buf_printf(b, "* OK [UNSEEN %zu] First unseen.\r\n", i + 1);
			break;
		}
	}
}

/* RFC 9051 6.3.2: EXISTS and a LIST response for the mailbox; no RECENT
 * and no UNSEEN code (the client searches for unseen messages). */
static void
select_rev2_responses(struct imap_session *s, const struct select_job *j, struct mm_buf *b)
{
	static const struct { unsigned bit; const char *name; } uses[] = {
		{ MBOX_ATTR_ARCHIVE, "\\Archive" }, { MBOX_ATTR_DRAFTS, "\\Drafts" },
		{ MBOX_ATTR_JUNK, "\\Junk" }, { MBOX_ATTR_SENT, "\\Sent" },
		{ MBOX_ATTR_TRASH, "\\Trash" },
	};
	unsigned a = j->idx->mailbox.attrs;
	const char *sep = "";

	/* the special-use attributes are all that is known without a
	 * mailbox list; \HasChildren is only due with CHILDREN (7.3.1) */
	mm_buf_printf(b, "* %zu EXISTS\r\n* LIST (", s->nmsgs);
	for (size_t i = 0; i < sizeof(uses) / sizeof(uses[0]); i++) {
		if (a & uses[i].bit) {
			mm_buf_printf(b, "%s%s", sep, uses[i].name);
			sep = " ";
		}
	}
	mm_buf_append(b, ") \"/\" ", 6);
	imap_append_mailbox(s, b, s->mbox);
	mm_buf_append(b, "\r\n", 2);
}

static void
select_done(void *arg, bool alive)
{
	struct select_job *j = arg;
	struct imap_session *s = j->s;

	if (!alive)
		goto out;
	if (j->err != STORE_OK) {
		imap_no_store(s, j->err, "Mailbox doesn't exist");
		goto out;
	}
	if (j->idx->mailbox.attrs & MBOX_ATTR_NOSELECT) {
		imap_no(s, "[CANNOT] Mailbox can't be selected");
		goto out;
	}
	imap_set_mbox(s, j->name);
	s->readonly = j->readonly;
	imap_view_load(s, j->idx);
	imap_enter_state(s, IMAP_STATE_SELECTED);
	imap_watch(s);

	struct mm_buf b;
	mm_buf_init(&b);
	imap_append_flags_responses(s, &b);
	if (imap_rev2(s))
		select_rev2_responses(s, j, &b);
	else
		select_rev1_responses(s, &b);
	mm_buf_printf(&b, "* OK [UIDVALIDITY %u] UIDs valid\r\n"
	    "* OK [UIDNEXT %u] Predicted next UID\r\n"
	    "* OK [HIGHESTMODSEQ %llu] Highest\r\n", s->uidvalidity, s->uidnext,
	    (unsigned long long)s->modseq);
	if (j->qresync && j->q_uidvalidity == s->uidvalidity)
		qresync_responses(j, &b);
	imap_write(s, b.data, b.len);
	mm_buf_free(&b);
	imap_ok(s, "[%s] %s completed", s->readonly ? "READ-ONLY" : "READ-WRITE",
	    s->readonly ? "Examine" : "Select");
out:
	if (j->idx != NULL)
		store_index_free(&j->idx);
	imap_seqset_free(&j->q_known);
	free(j->vanished);
	free(j);
}

/* "(CONDSTORE)" or "(QRESYNC (uidvalidity modseq [known-uids
 * [(seq-match-data)]]))" (RFC 7162 3.1.8, 3.2.5). False: BAD. */
static bool
select_params(struct imap_session *s, struct select_job *j, const struct imap_arg *a,
    const char **err_r)
{
	*err_r = "Invalid SELECT parameters";
	if (a->type != IMAP_ARG_LIST)
		return false;
	for (size_t i = 0; i < a->count; i++) {
		const struct imap_arg *p = &a->list[i];
		if (imap_arg_atom_eq(p, "CONDSTORE")) {
			/* the SELECT reply carries HIGHESTMODSEQ itself */
			s->condstore = true;
			continue;
		}
		if (!imap_arg_atom_eq(p, "QRESYNC") || i + 1 >= a->count ||
		    a->list[i + 1].type != IMAP_ARG_LIST)
			return false;
		if (!s->qresync) {
			*err_r = "QRESYNC is not enabled";
			return false;
		}
		const struct imap_arg *q = a->list[++i].list;
		size_t nq = a->list[i].count;
		uint64_t v;
		const char *set;
		if (nq < 2 || nq > 4 || !imap_arg_number64(&q[0], &v) || v == 0 ||
		    v > UINT32_MAX || !imap_arg_number64(&q[1], &j->q_modseq) ||
		    j->q_modseq == 0)
			return false;
		j->q_uidvalidity = (uint32_t)v;
		if (nq >= 3) {
			if (q[2].type == IMAP_ARG_LIST) {
				/* only the seq-match-data: known-uids omitted */
				if (nq != 3)
					return false;
			} else {
				if (!imap_arg_atom(&q[2], &set) ||
				    !imap_seqset_parse(&j->q_known, set))
					return false;
				j->has_known = true;
			}
		}
		/* seq-match-data: the expunge log is exact, so the
		 * client's hint is not needed; only its syntax is checked */
		const struct imap_arg *m = nq == 4 ? &q[3] : nq == 3 &&
		    q[2].type == IMAP_ARG_LIST ? &q[2] : NULL;
		if (m != NULL && (m->type != IMAP_ARG_LIST || m->count != 2 ||
		    m->list[0].type != IMAP_ARG_ATOM || m->list[1].type != IMAP_ARG_ATOM))
			return false;
		if (m != NULL && s->uidonly) {
			/* RFC 9586 3: seq-match-data is sequence numbers */
			*err_r = "[UIDREQUIRED] No sequence numbers after ENABLE UIDONLY";
			return false;
		}
		j->qresync = true;
	}
	return true;
}

static void
do_select(struct imap_session *s, const struct imap_arg *args, size_t n, bool readonly)
{
	struct select_job *j;

	const char *err;

	if (n != 1 && n != 2) {
		imap_bad(s, "%s needs a mailbox name", readonly ? "EXAMINE" : "SELECT");
		return;
	}
	j = xcalloc(1, sizeof(*j));
	if (!imap_mailbox_arg_reply(s, &args[0], j->name, sizeof(j->name))) {
		free(j);
		return;
	}
	if (n == 2 && !select_params(s, j, &args[1], &err)) {
		imap_seqset_free(&j->q_known);
		free(j);
		imap_bad(s, "%s", err);
		return;
	}
	/* RFC 3501 6.3.1: the current mailbox is closed first, even when the
	 * new SELECT fails; no expunge happens. RFC 7162 3.2.11: with QRESYNC
	 * the client is told where the old mailbox's responses end. */
	if (s->state == IMAP_STATE_SELECTED) {
		imap_enter_state(s, IMAP_STATE_AUTH);
		if (s->qresync || imap_rev2(s))   /* RFC 9051 7.1: CLOSED is base */
			imap_untagged(s, "OK [CLOSED] Previous mailbox closed");
	}
	j->s = s;
	j->readonly = readonly;
	imap_run_job(s, WORKER_LANE_READ, select_work, select_done, j);
}

void
cmd_select(struct imap_session *s, const struct imap_arg *args, size_t n)
{
	do_select(s, args, n, false);
}

void
cmd_examine(struct imap_session *s, const struct imap_arg *args, size_t n)
{
	do_select(s, args, n, true);
}

/* ---- EXPUNGE / UID EXPUNGE / CLOSE ---- */

struct expunge_job {
	struct imap_session *s;
	struct imap_sync sy;
	struct imap_seqset set;   /* UID EXPUNGE */
	bool has_set;
	bool close;               /* CLOSE: no responses, then unselect */
	int err;
};

static void
expunge_work(void *arg)
{
	struct expunge_job *j = arg;
	struct imap_session *s = j->s;
	struct store_index *idx = NULL;

	j->err = store_index_read(imap_store(s), s->user, s->mbox, &idx);
	if (j->err == STORE_OK) {
		uint32_t *uids = xmalloc((idx->nmsgs + 1) * sizeof(*uids));
		size_t n = 0;
		uint32_t star = idx->nmsgs ? idx->msgs[idx->nmsgs - 1].uid : 0;
		for (size_t i = 0; i < idx->nmsgs; i++) {
			const struct store_msg *m = &idx->msgs[i];
			if (!(m->flags & MSG_DELETED))
				continue;
			if (j->has_set && !imap_seqset_contains(&j->set, m->uid, star))
				continue;
			uids[n++] = m->uid;
		}
		if (n > 0)
			j->err = store_expunge(imap_store(s), s->user, s->mbox, uids, n);
		free(uids);
		store_index_free(&idx);
	}
	if (!j->close)
		imap_sync_work(s, &j->sy);
}

static void
expunge_done(void *arg, bool alive)
{
	struct expunge_job *j = arg;
	struct imap_session *s = j->s;

	if (!alive)
		goto out;
	if (j->close) {
		imap_enter_state(s, IMAP_STATE_AUTH);
		if (j->err != STORE_OK && j->err != STORE_NOTFOUND)
			imap_no_store(s, j->err, NULL);
		else
			imap_ok(s, "Close completed");
		goto out;
	}
	if (!imap_sync_finish(s, &j->sy, true))
		goto out;
	if (j->err != STORE_OK)
		imap_no_store(s, j->err, NULL);
	else
		imap_ok(s, "Expunge completed");
out:
	imap_sync_free(&j->sy);
	imap_seqset_free(&j->set);
	free(j);
}

void
cmd_expunge(struct imap_session *s, const struct imap_arg *args, size_t n)
{
	struct expunge_job *j;
	const char *set = NULL;

	if (s->uid ? (n != 1 || !imap_arg_atom(&args[0], &set)) : n != 0) {
		imap_bad(s, s->uid ? "UID EXPUNGE needs a UID set" : "EXPUNGE takes no arguments");
		return;
	}
	if (s->readonly) {
		imap_no(s, "[READ-ONLY] Mailbox is read-only");
		return;
	}
	j = xcalloc(1, sizeof(*j));
	j->s = s;
	if (set != NULL) {
		if (!imap_seqset_parse(&j->set, set)) {
			imap_seqset_free(&j->set);
			free(j);
			imap_bad(s, "Invalid UID set");
			return;
		}
		j->has_set = true;
	}
	imap_sync_prepare(s, &j->sy, true);
	imap_run_job(s, WORKER_LANE_COMMIT, expunge_work, expunge_done, j);
}

void
cmd_close(struct imap_session *s, const struct imap_arg *args, size_t n)
{
	if (s->readonly) {
		imap_enter_state(s, IMAP_STATE_AUTH);
		imap_ok(s, "Close completed");
		return;
	}
	struct expunge_job *j = xcalloc(1, sizeof(*j));
	j->s = s;
	j->close = true;
	imap_run_job(s, WORKER_LANE_COMMIT, expunge_work, expunge_done, j);
}

void
cmd_unselect(struct imap_session *s, const struct imap_arg *args, size_t n)
{
	imap_enter_state(s, IMAP_STATE_AUTH);
	imap_ok(s, "Unselect completed");
}

static void
check_then(struct imap_session *s)
{
	imap_ok(s, "Check completed");
}

void
cmd_check(struct imap_session *s, const struct imap_arg *args, size_t n)
{
	imap_sync_command(s, check_then);
}

/* ---- IDLE ---- */

static void
idle_start(struct imap_session *s)
{
	if (conn_is_closed(s->c))
		return;
	s->input = IMAP_INPUT_IDLE;
	metrics_idle(1);
	conn_set_timeout(s->c, IMAP_IDLE_TIMEOUT_SECS);
	imap_printf(s, "+ idling\r\n");
	imap_view_share(s);      /* an idle view costs no copy of the mailbox */
	/* a change that came while we were getting here */
	if (s->dirty)
		imap_idle_wake(s);
	imap_notify_kick(s);
}

void
cmd_idle(struct imap_session *s, const struct imap_arg *args, size_t n)
{
	if (s->state == IMAP_STATE_SELECTED)
		imap_sync_command(s, idle_start);
	else
		idle_start(s);
}

static void
idle_synced(struct imap_session *s)
{
	s->idle_sync_running = false;
	if (s->dirty && s->input == IMAP_INPUT_IDLE)
		imap_idle_wake(s);
	imap_notify_kick(s);
}

void
imap_idle_wake(struct imap_session *s)
{
	if (s->state != IMAP_STATE_SELECTED || s->idle_sync_running ||
	    conn_job_running(s->c) || conn_is_closed(s->c) ||
	    imap_view_wait(s))       /* the mailbox's group reads it for us */
		return;
	s->idle_sync_running = true;
	imap_sync_command(s, idle_synced);
}

void
imap_idle_line(struct imap_session *s, const char *line, size_t len)
{
	if (s->input == IMAP_INPUT_IDLE)
		metrics_idle(-1);
	s->input = IMAP_INPUT_COMMAND;
	s->idle_sync_running = false;
	conn_set_timeout(s->c, IMAP_AUTOLOGOUT_SECS);
	if (line != NULL && len == 4 && mm_strncaseeq(line, "DONE", 4))
		imap_ok(s, "Idle completed");
	else
		imap_bad(s, "Expected DONE");
}
