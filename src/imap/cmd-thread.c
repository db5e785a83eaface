/* cmd-thread.c: THREAD and UID THREAD (RFC 5256 3), the ORDEREDSUBJECT
 * and REFERENCES algorithms.
 *
 * The one idea: as for SORT, one worker job runs the search program,
 * reads the header of each hit (Message-ID, References, In-Reply-To,
 * Subject, Date) into a record, and hands the records to the pure
 * threading code in src/mail/thread.c, which writes the answer; the loop
 * only sends it. */
#include "imap/imap-search.h"

#include <stdlib.h>
#include <string.h>

#include "mail/header.h"
#include "mail/thread.h"

struct thread_job {
	struct imap_session *s;
	struct imap_search *q;
	bool references;          /* else ORDEREDSUBJECT */
	struct mm_buf out;
	struct imap_sync sy;
};

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
		char *buf;
		struct mail_header h;
		msgs[i].num = s->uid ? m->uid : (uint32_t)(vidx[i] + 1);
		msgs[i].date = m->idate;
		if (imap_msg_header(s, m, &buf, &h)) {
			mail_thread_msg_fill(&msgs[i], &h, IMAP_THREAD_REFS_MAX,
			    IMAP_MSGID_MAX_BYTES, IMAP_SORT_KEY_MAX_BYTES);
			mail_header_free(&h);
			free(buf);
		}
	}
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
	/* every message's header fields are read: in a big mailbox that is
	 * slow work, which commits and FETCH must not wait behind */
	imap_run_job(s, s->nmsgs >= IMAP_SEARCH_SLOW_MSGS ? WORKER_LANE_SLOW : WORKER_LANE_READ,
	    thread_work, thread_done, j);
}
