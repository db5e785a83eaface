/* cmd-append.c: APPEND (RFC 3501 6.3.11) with flags, date-time, literals
 * and LITERAL+, answering APPENDUID (RFC 4315), and MULTIAPPEND (RFC
 * 3502): several messages in one command, stored all or nothing.
 *
 * The one idea: each message is normalised to CRLF, parsed once into the
 * cache blob (src/mail) and all are stored with store_append_multi in one
 * transaction, all on a worker; an APPEND to the selected mailbox then
 * syncs, so the client hears EXISTS before the tagged OK. */
#include "imap/imap-common.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mail/cache.h"
#include "mail/date.h"
#include "mail/mime.h"
#include "net/conn.h"

struct append_msg {
	uint32_t flags;
	struct mm_strlist kw;
	time_t idate;
	char *data;
	size_t len;
	bool literal8;            /* ~{n} (RFC 3516 4.4) */
	struct mm_buf cache;
};

struct append_job {
	struct imap_session *s;
	char mbox[STORE_MBOX_NAME_MAX];
	struct append_msg *msgs;
	size_t n;
	uint32_t *uids;
	uint32_t uidvalidity;
	int err;
	bool sync;
	struct imap_sync sy;
};

static void
append_work(void *arg)
{
	struct append_job *j = arg;
	struct imap_session *s = j->s;
	struct store_append *sa = xcalloc(j->n, sizeof(*sa));

	for (size_t i = 0; i < j->n; i++) {
		struct append_msg *m = &j->msgs[i];
		size_t nlen;
		if (m->literal8) {
			/* binary parts are kept as base64 (src/mail/binary.c),
			 * before line ends are normalised inside them */
			struct mm_buf enc;
			mm_buf_init(&enc);
			if (mail_binary_encode_parts(m->data, m->len, &enc)) {
				free(m->data);
				m->len = enc.len;
				m->data = mm_buf_cstr(&enc);
			} else {
				mm_buf_free(&enc);
			}
		}
		char *norm = mail_crlf_normalize(m->data, m->len, &nlen);
		free(m->data);
		m->data = norm;
		m->len = nlen;
		mail_cache_build(m->data, m->len, &m->cache);
		sa[i] = (struct store_append){ .data = m->data, .len = m->len,
		    .internal_date = m->idate, .cache = m->cache.data,
		    .cachelen = m->cache.len, .flags = m->flags,
		    .keywords = (const char *const *)m->kw.v, .nkeywords = m->kw.n };
	}
	/* RFC 3502 6.3.11: all of them or none */
	j->err = store_append_multi(imap_store(s), s->user, j->mbox, sa, j->n,
	    &j->uidvalidity);
	for (size_t i = 0; i < j->n; i++)
		j->uids[i] = sa[i].uid_r;
	free(sa);
	if (j->sync)
		imap_sync_work(s, &j->sy);
}

static void
append_job_free(struct append_job *j)
{
	for (size_t i = 0; i < j->n; i++) {
		mm_strlist_clear(&j->msgs[i].kw);
		free(j->msgs[i].data);
		mm_buf_free(&j->msgs[i].cache);
	}
	imap_sync_free(&j->sy);
	free(j->msgs);
	free(j->uids);
	free(j);
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
	else {
		/* RFC 4315 3: a uid-set for a MULTIAPPEND */
		struct mm_buf b;
		mm_buf_init(&b);
		imap_append_uid_set(&b, j->uids, j->n);
		imap_ok(s, "[APPENDUID %u %s] Append completed", j->uidvalidity,
		    mm_buf_cstr(&b));
		mm_buf_free(&b);
	}
out:
	append_job_free(j);
}

/* One message: [flag-list] [date-time] literal at args[*i]. NULL when
 * fine, else the BAD text. */
static const char *
append_one(const struct imap_arg *args, size_t n, size_t *i, struct append_msg *m)
{
	const char *err = "Invalid APPEND arguments";
	const char *msg, *date;
	size_t mlen, dlen;
	int tz;

	m->idate = time(NULL);
	if (*i < n && args[*i].type == IMAP_ARG_LIST) {
		if (!imap_parse_flags(args[*i].list, args[*i].count, &m->flags, &m->kw, &err))
			return err;
		(*i)++;
	}
	if (*i < n && args[*i].type == IMAP_ARG_STRING) {
		if (!imap_arg_string(&args[*i], &date, &dlen) ||
		    !mail_date_parse_imap_datetime(date, dlen, &m->idate, &tz))
			return "Invalid date-time";
		(*i)++;
	}
	if (*i >= n || args[*i].type != IMAP_ARG_LITERAL ||
	    !imap_arg_string(&args[*i], &msg, &mlen))
		return "APPEND needs the message as a literal";
	m->literal8 = args[*i].literal8;
	(*i)++;
	m->data = xmalloc(mlen ? mlen : 1);
	memcpy(m->data, msg, mlen);
	m->len = mlen;
	return NULL;
}

void
cmd_append(struct imap_session *s, const struct imap_arg *args, size_t n)
{
	struct append_job *j = xcalloc(1, sizeof(*j));
	const char *err = "Invalid APPEND arguments";
	size_t i = 1;

	j->s = s;
	if (n < 2)
		goto bad;
	if (!imap_mailbox_arg_reply(s, &args[0], j->mbox, sizeof(j->mbox))) {
		append_job_free(j);
		return;
	}
	/* MULTIAPPEND (RFC 3502): one or more messages; the parser bounds
	 * their number (IMAP_ARGS_MAX) and bytes (the literal limit) */
	j->msgs = xcalloc(n, sizeof(*j->msgs));
	while (i < n) {
		struct append_msg *m = &j->msgs[j->n++];
		mm_strlist_init(&m->kw);
		mm_buf_init(&m->cache);
		if ((err = append_one(args, n, &i, m)) != NULL)
			goto bad;
	}
	for (size_t k = 0; k < j->n; k++) {
		if (j->msgs[k].len == 0) {
			append_job_free(j);
			imap_no(s, "Can't save a zero byte message");
			return;
		}
	}
	j->uids = xcalloc(j->n, sizeof(*j->uids));
	if (s->state == IMAP_STATE_SELECTED) {
		j->sync = true;
		imap_sync_prepare(s, &j->sy, strcmp(s->mbox, j->mbox) == 0);
	}
	imap_run_job(s, append_work, append_done, j);
	return;
bad:
	append_job_free(j);
	imap_bad(s, "%s", err);
}
