/* cmd-quota.c: QUOTA (RFC 9208, replies that RFC 2087 clients such as
 * Thunderbird read): GETQUOTA, GETQUOTAROOT, and SETQUOTA refused.
 *
 * The one idea: every user has one quota root, "", covering all their
 * mailboxes, with the limits the admin set (minimailctl user quota) and
 * the usage the store keeps (store_quota_usage). Only limited resources
 * are listed (STORAGE in KiB, MESSAGE in messages); a user without any
 * limit has no quota root at all, since a QUOTA response cannot say
 * "unlimited". Over-quota APPEND and COPY answer NO [OVERQUOTA]
 * (imap_no_store). */
#include "imap/imap-common.h"

#include <stdlib.h>
#include <string.h>

#include "net/conn.h"

enum quota_op { Q_GETQUOTA, Q_GETQUOTAROOT };

struct quota_job {
	struct imap_session *s;
	enum quota_op op;
	char mbox[STORE_MBOX_NAME_MAX];   /* GETQUOTAROOT */
	struct store_user u;
	uint64_t bytes, messages;
	int err;
};

static void
quota_work(void *arg)
{
	struct quota_job *j = arg;
	struct store *st = imap_store(j->s);

	if (j->op == Q_GETQUOTAROOT) {
		struct store_mailbox *mb = xmalloc(sizeof(*mb));
		j->err = store_mailbox_get(st, j->s->user, j->mbox, mb);
		free(mb);
		if (j->err != STORE_OK)
			return;
	}
	j->err = store_user_get(st, j->s->user, &j->u);
	if (j->err == STORE_OK)
		j->err = store_quota_usage(st, j->s->user, &j->bytes, &j->messages);
}

static bool
has_root(const struct quota_job *j)
{
	return j->u.quota_bytes != 0 || j->u.quota_messages != 0;
}

/* "* QUOTA "" (STORAGE used limit MESSAGE used limit)" */
static void
quota_response(struct quota_job *j, struct mm_buf *b)
{
	const char *sep = "";
	mm_buf_append(b, "* QUOTA \"\" (", 12);
	if (j->u.quota_bytes != 0) {
		mm_buf_printf(b, "STORAGE %llu %llu",
		    (unsigned long long)((j->bytes + 1023) / 1024),
		    (unsigned long long)((j->u.quota_bytes + 1023) / 1024));
		sep = " ";
	}
	if (j->u.quota_messages != 0)
		mm_buf_printf(b, "%sMESSAGE %llu %llu", sep,
		    (unsigned long long)j->messages,
		    (unsigned long long)j->u.quota_messages);
	mm_buf_append(b, ")\r\n", 3);
}

static void
quota_done(void *arg, bool alive)
{
	struct quota_job *j = arg;
	struct imap_session *s = j->s;
	struct mm_buf b;

	if (!alive)
		goto out;
	if (j->err != STORE_OK) {
		imap_no_store(s, j->err, "Mailbox doesn't exist");
		goto out;
	}
	mm_buf_init(&b);
	if (j->op == Q_GETQUOTAROOT) {
		mm_buf_append(&b, "* QUOTAROOT ", 12);
		imap_append_mailbox(s, &b, j->mbox);
		if (has_root(j))
			mm_buf_append(&b, " \"\"", 3);
		mm_buf_append(&b, "\r\n", 2);
		if (has_root(j))
			quota_response(j, &b);
		imap_write(s, b.data, b.len);
		mm_buf_free(&b);
		imap_ok(s, "Getquotaroot completed");
		goto out;
	}
	if (!has_root(j)) {
		mm_buf_free(&b);
		imap_no(s, "[NONEXISTENT] No such quota root");
		goto out;
	}
	quota_response(j, &b);
	imap_write(s, b.data, b.len);
	mm_buf_free(&b);
	imap_ok(s, "Getquota completed");
out:
	free(j);
}

void
cmd_getquota(struct imap_session *s, const struct imap_arg *args, size_t n)
{
	const char *root;
	size_t len;

	if (n != 1 || !imap_arg_astring(&args[0], &root, &len)) {
		imap_bad(s, "GETQUOTA needs a quota root");
		return;
	}
	if (len != 0) {
		imap_no(s, "[NONEXISTENT] No such quota root");
		return;
	}
	struct quota_job *j = xcalloc(1, sizeof(*j));
	j->s = s;
	j->op = Q_GETQUOTA;
	imap_run_job(s, WORKER_LANE_READ, quota_work, quota_done, j);
}

void
cmd_getquotaroot(struct imap_session *s, const struct imap_arg *args, size_t n)
{
	struct quota_job *j = xcalloc(1, sizeof(*j));

	if (n != 1) {
		free(j);
		imap_bad(s, "GETQUOTAROOT needs a mailbox name");
		return;
	}
	if (!imap_mailbox_arg_reply(s, &args[0], j->mbox, sizeof(j->mbox))) {
		free(j);
		return;
	}
	j->s = s;
	j->op = Q_GETQUOTAROOT;
	imap_run_job(s, WORKER_LANE_READ, quota_work, quota_done, j);
}

void
cmd_setquota(struct imap_session *s, const struct imap_arg *args, size_t n)
{
	if (n != 2 || args[1].type != IMAP_ARG_LIST) {
		imap_bad(s, "SETQUOTA needs a quota root and a resource list");
		return;
	}
	imap_no(s, "[NOPERM] Quotas are set by the administrator");
}
