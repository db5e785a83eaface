/* cmd-append.c: APPEND (RFC 3501 6.3.11) with flags, date-time, literals
 * and LITERAL+, answering APPENDUID (RFC 4315).
 *
 * The one idea: the message is normalised to CRLF, parsed once into the
 * cache blob (src/mail) and stored with store_deliver in one transaction,
 * all on a worker; an APPEND to the selected mailbox then syncs, so the
 * client hears EXISTS before the tagged OK. */
#include "imap/imap-common.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mail/cache.h"
#include "mail/date.h"
#include "mail/mime.h"
#include "net/conn.h"

struct append_job {
	struct imap_session *s;
	char mbox[STORE_MBOX_NAME_MAX];
	uint32_t flags;
	struct mm_strlist kw;
	time_t idate;
	char *data;
	size_t len;
	uint32_t uid, uidvalidity;
	int err;
	bool sync;
	struct imap_sync sy;
};

static void
append_work(void *arg)
{
	struct append_job *j = arg;
	struct imap_session *s = j->s;
	struct mm_buf cache;
	size_t nlen;
	char *norm = mail_crlf_normalize(j->data, j->len, &nlen);

	free(j->data);
	j->data = norm;
	j->len = nlen;
	mm_buf_init(&cache);
	mail_cache_build(j->data, j->len, &cache);
	struct store_rcpt r = {
		.user = s->user,
		.mailbox = j->mbox,
		.flags = j->flags,
	};
	j->err = store_deliver(imap_store(s), &r, 1, j->data, j->len, j->idate,
	    cache.data, cache.len, (const char *const *)j->kw.v, j->kw.n, true);
	if (j->err == STORE_OK && r.result_r != STORE_OK)
		j->err = r.result_r;
	j->uid = r.uid_r;
	j->uidvalidity = r.uidvalidity_r;
	mm_buf_free(&cache);
	if (j->sync)
		imap_sync_work(s, &j->sy);
}

static void
append_done(void *arg, bool alive)
{
	struct append_job *j = arg;
	struct imap_session *s = j->s;

	if (!alive)
		goto out;
	if (j->sync && !imap_sync_finish(s, &j->sy, true))
		goto out;
	if (j->err == STORE_NOTFOUND)
		imap_no(s, "[TRYCREATE] Mailbox doesn't exist");
	else if (j->err == STORE_LIMIT)
		imap_no(s, "[LIMIT] Too many keywords");
	else if (j->err != STORE_OK)
		imap_no_store(s, j->err, NULL);
	else
		imap_ok(s, "[APPENDUID %u %u] Append completed", j->uidvalidity, j->uid);
out:
	imap_sync_free(&j->sy);
	mm_strlist_clear(&j->kw);
	free(j->data);
	free(j);
}

void
cmd_append(struct imap_session *s, const struct imap_arg *args, size_t n)
{
	struct append_job *j = xcalloc(1, sizeof(*j));
	const char *err = "Invalid APPEND arguments";
	const char *msg, *date;
	size_t mlen, dlen, i = 1;
	int tz;

	j->s = s;
	mm_strlist_init(&j->kw);
	j->idate = time(NULL);
	if (n < 2 || !imap_mailbox_arg(&args[0], j->mbox, sizeof(j->mbox)))
		goto bad;
	if (args[i].type == IMAP_ARG_LIST) {
		if (!imap_parse_flags(args[i].list, args[i].count, &j->flags, &j->kw, &err))
			goto bad;
		i++;
	}
	if (i + 1 < n) {
		if (args[i].type != IMAP_ARG_STRING ||
		    !imap_arg_string(&args[i], &date, &dlen) ||
		    !mail_date_parse_imap_datetime(date, dlen, &j->idate, &tz)) {
			err = "Invalid date-time";
			goto bad;
		}
		i++;
	}
	if (i + 1 != n || args[i].type != IMAP_ARG_LITERAL ||
	    !imap_arg_string(&args[i], &msg, &mlen)) {
		err = "APPEND needs the message as a literal";
		goto bad;
	}
	if (mlen == 0) {
		mm_strlist_clear(&j->kw);
		free(j);
		imap_no(s, "Can't save a zero byte message");
		return;
	}
	j->data = xmalloc(mlen);
	memcpy(j->data, msg, mlen);
	j->len = mlen;
	if (s->state == IMAP_STATE_SELECTED) {
		j->sync = true;
		imap_sync_prepare(s, &j->sy, strcmp(s->mbox, j->mbox) == 0);
	}
	imap_run_job(s, WORKER_LANE_COMMIT, append_work, append_done, j);
	return;
bad:
	mm_strlist_clear(&j->kw);
	free(j);
	imap_bad(s, "%s", err);
}
