/* cmd-thread.c: THREAD and UID THREAD (RFC 5256 3), the ORDEREDSUBJECT
 * and REFERENCES algorithms.
 *
 * The one idea: as for SORT, one worker job runs the search program,
 * takes each hit's sort keys (imap_sort_keys: Message-ID, references,
 * base subject, sent date, computed at delivery; the header read and
 * parsed when a message has none) into a record, and hands the records
 * to the pure threading code in src/mail/thread.c, which writes the
 * answer; the loop only sends it. */
#include "imap/imap-search.h"

#include <stdlib.h>
#include <string.h>

#include "imap/imap-searchmem.h"
#include "mail/cache.h"
#include "mail/header.h"
#include "mail/thread.h"

struct thread_job {
	struct imap_session *s;
	struct imap_search *q;
	bool references;          /* else ORDEREDSUBJECT */
	struct imap_searchmem *smem;  /* the mailbox's records in memory, or NULL */
	struct mail_thread_msg *msgs; /* thread_work: the hits' */
	const size_t *vidx;
	struct mm_buf out;
	struct imap_sync sy;
};

/* A thread record from the blob's keys, as mail_thread_msg_fill makes
 * it from the header with the limits cmd-thread.c passes (the blob's were
 * computed with the same). */
static void
msg_from_keys(struct mail_thread_msg *m, const struct mail_cache_sort *k)
{
	if (k->has_date)
		m->date = k->date;
	m->msgid = k->has_msgid ? xstrndup(k->msgid.v, k->msgid.len) : NULL;
	m->nrefs = k->nrefs;
	m->refs = k->nrefs > 0 ? xmalloc(k->nrefs * sizeof(*m->refs)) : NULL;
	for (size_t i = 0; i < k->nrefs; i++)
		m->refs[i] = xstrndup(k->refs[i].v, k->refs[i].len);
	m->subject = xstrndup(k->text[MAIL_CST_SUBJECT].v, k->text[MAIL_CST_SUBJECT].len);
	m->reply = k->reply;
}

static void
thread_each(void *arg, size_t i, const struct mail_cache_sort *keys)
{
	struct thread_job *j = arg;
	struct mail_thread_msg *tm = &j->msgs[i];
	if (keys != NULL) {
		msg_from_keys(tm, keys);
		return;
	}
	char *buf;
	struct mail_header h;
	if (imap_msg_header(j->s, &j->s->msgs[j->vidx[i]], &buf, &h)) {
		mail_thread_msg_fill(tm, &h, IMAP_THREAD_REFS_MAX, IMAP_MSGID_MAX_BYTES,
		    IMAP_SORT_KEY_MAX_BYTES);
		mail_header_free(&h);
		free(buf);
	}
}

static void
thread_work(void *arg)
{
	struct thread_job *j = arg;
	struct imap_session *s = j->s;
	size_t *vidx = xmalloc((s->nmsgs + 1) * sizeof(*vidx));
	size_t n = imap_search_run(s, j->q, vidx);
	struct mail_thread_msg *msgs = xcalloc(n + 1, sizeof(*msgs));

	for (size_t i = 0; i < n; i++) {
		const struct imap_msg *m = &s->msgs[vidx[i]];
		msgs[i].num = s->uid ? m->uid : (uint32_t)(vidx[i] + 1);
		msgs[i].date = m->idate;
	}
	j->msgs = msgs;
	j->vidx = vidx;
	imap_sort_keys(s, j->smem, vidx, n, thread_each, j);
	j->msgs = NULL;
	j->vidx = NULL;
	mm_buf_append(&j->out, "* THREAD", 8);
	if (n > 0)
		mm_buf_appendc(&j->out, ' ');
	if (j->references)
		mail_thread_references(msgs, n, IMAP_THREAD_DEPTH_MAX, &j->out);
	else
		mail_thread_orderedsubject(msgs, n, &j->out);
	mm_buf_append(&j->out, "\r\n", 2);
	for (size_t i = 0; i < n; i++)
		mail_thread_msg_free(&msgs[i]);
	free(msgs);
	free(vidx);
	imap_sync_work(s, &j->sy);
}

static void
thread_done(void *arg, bool alive)
{
	struct thread_job *j = arg;
	struct imap_session *s = j->s;

	if (alive) {
		imap_write(s, j->out.data, j->out.len);
		if (imap_sync_finish(s, &j->sy, imap_expunge_allowed(s)))
			imap_ok(s, "Thread completed");
	}
	imap_sync_free(&j->sy);
	imap_search_free(&j->q);
	imap_searchmem_unref(&j->smem);
	mm_buf_free(&j->out);
	free(j);
}

void
cmd_thread(struct imap_session *s, const struct imap_arg *args, size_t n)
{
	struct thread_job *j;
	bool references;

	if (n < 3) {
		imap_bad(s, "THREAD needs an algorithm, a charset and search keys");
		return;
	}
	if (imap_arg_atom_eq(&args[0], "REFERENCES"))
		references = true;
	else if (imap_arg_atom_eq(&args[0], "ORDEREDSUBJECT"))
		references = false;
	else {
		imap_bad(s, "Unknown THREAD algorithm");
		return;
	}
	if (!imap_search_charset(s, &args[1]))
		return;
	j = xcalloc(1, sizeof(*j));
	j->s = s;
	j->references = references;
	mm_buf_init(&j->out);
	j->q = imap_search_parse(args + 2, n - 2);
	if (j->q != NULL && imap_rev2(s) && imap_search_uses_recent(j->q))
		imap_search_free(&j->q);   /* not IMAP4rev2 syntax: BAD */
	if (j->q == NULL) {
		free(j);
		imap_bad(s, "Invalid THREAD search keys");
		return;
	}
	if (imap_search_has_seq(j->q) && s->uidonly) {
		imap_search_free(&j->q);
		mm_buf_free(&j->out);
		free(j);
		imap_uid_required(s);
		return;
	}
	imap_sync_prepare(s, &j->sy, false);
	j->smem = imap_view_searchmem(s);
	/* every message's keys are read: in a big mailbox that is slow work
	 * (until they are in memory), which commits and FETCH must not wait
	 * behind */
	imap_run_job(s, s->nmsgs >= IMAP_SEARCH_SLOW_MSGS ? WORKER_LANE_SLOW : WORKER_LANE_READ,
	    thread_work, thread_done, j);
}
