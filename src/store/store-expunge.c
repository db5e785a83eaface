/* store-expunge.c: the expunge log. Every message that leaves a mailbox
 * (EXPUNGE, MOVE, POP3 DELE) is remembered as (mailbox id, modseq, UID),
 * so that an IMAP session can learn what vanished since the modseq it last
 * saw without reading the whole index (its sync after a change), and so
 * that QRESYNC (RFC 7162) can answer VANISHED (EARLIER).
 *
 * The one idea: the log lives in msgs.db under a key space no mailbox can
 * have: (SDB_EXPUNGE_PREFIX = 0 BE32, mailbox id BE32, modseq BE64, uid
 * BE32) with empty data. Mailbox ids are recnos from 1, so the log sorts
 * before every mailbox's (id, uid) keys of 8 bytes, and the scans of a
 * mailbox (forward from (id, 0)) never see its 20-byte keys; and
 * "what vanished after modseq M" is one range read from (id, M + 1). The
 * record is written by msg_remove() in store-mail.c in the transaction
 * that removes the message, with the modseq that removal gave the
 * mailbox. Records of a removed mailbox are dropped with it. */
#include "store/store-int.h"

#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

#define EXP_KEY_BYTES 20

static void
exp_key(unsigned char key[EXP_KEY_BYTES], uint32_t id, uint64_t modseq, uint32_t uid)
{
	sdb_be32(key, SDB_EXPUNGE_PREFIX);
	sdb_be32(key + 4, id);
	sdb_be64(key + 8, modseq);
	sdb_be32(key + 16, uid);
}

static uint64_t
get_be64(const unsigned char *p)
{
	return ((uint64_t)sdb_get_be32(p) << 32) | sdb_get_be32(p + 4);
}

int
sdb_expunge_log(struct sdb_tx *tx, uint32_t id, uint64_t modseq, uint32_t uid)
{
	unsigned char key[EXP_KEY_BYTES];
	exp_key(key, id, modseq, uid);
	return sdb_put(tx->st->msgs, tx->txn, key, sizeof(key), "", 0);
}

/* Walks the log of mailbox id from modseq since + 1 up to upto; with del,
 * removes what it walks, else collects the UIDs. */
static int
exp_walk(struct sdb_tx *tx, uint32_t id, uint64_t since, uint64_t upto, bool del,
    uint32_t **uids_r, size_t *n_r, size_t *cap_r)
{
	struct store *st = tx->st;
	unsigned char key[EXP_KEY_BYTES];
	DBC *cur;
	int r, e;

	if ((r = sdb_map(st->msgs->cursor(st->msgs, tx->txn, &cur, 0))) != STORE_OK)
		return r;
	exp_key(key, id, since + 1, 0);
	DBT k = { .data = key, .size = sizeof(key), .ulen = sizeof(key),
	    .flags = DB_DBT_USERMEM };
	DBT d = { .flags = DB_DBT_USERMEM | DB_DBT_PARTIAL };
	for (int f = DB_SET_RANGE; ; f = DB_NEXT) {
		e = cur->get(cur, &k, &d, f | (del ? DB_RMW : 0));
		if (e != 0 || k.size != EXP_KEY_BYTES ||
		    sdb_get_be32(key) != SDB_EXPUNGE_PREFIX || sdb_get_be32(key + 4) != id ||
		    get_be64(key + 8) > upto)
			break;
		if (del) {
			if ((e = cur->del(cur, 0)) != 0)
				break;
			continue;
		}
		if (*n_r == *cap_r) {
			*cap_r = *cap_r ? *cap_r * 2 : 64;
			*uids_r = xrealloc(*uids_r, *cap_r * sizeof(**uids_r));
		}
		(*uids_r)[(*n_r)++] = sdb_get_be32(key + 16);
	}
	(void)cur->close(cur);
	if (e != 0 && e != DB_NOTFOUND)
		return sdb_map(e);
	return STORE_OK;
}

int
sdb_expunge_forget(struct sdb_tx *tx, uint32_t id)
{
	return exp_walk(tx, id, 0, UINT64_MAX, true, NULL, NULL, NULL);
}

struct exp_arg {
	uint32_t id;
	uint64_t since, upto;
	uint32_t *uids;
	size_t n, cap;
};

static int
exp_read_tx(struct sdb_tx *tx, void *varg)
{
	struct exp_arg *a = varg;
	a->n = 0;
	return exp_walk(tx, a->id, a->since, a->upto, false, &a->uids, &a->n, &a->cap);
}

static int
uid_cmp(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
	return a < b ? -1 : a > b;
}

int
store_expunged_since(struct store *st, uint32_t mailbox_id, uint64_t since_modseq,
    uint64_t upto_modseq, uint32_t **uids_r, size_t *n_r)
{
	struct exp_arg a = { .id = mailbox_id, .since = since_modseq, .upto = upto_modseq };
	int r;

	*uids_r = NULL;
	*n_r = 0;
	if (mailbox_id == SDB_EXPUNGE_PREFIX)
		return STORE_INVALID;
	if (since_modseq >= upto_modseq)
		return STORE_OK;
	r = sdb_run(st, false, exp_read_tx, &a);
	if (r != STORE_OK) {
		free(a.uids);
		return r;
	}
	/* in modseq order; the caller wants UIDs ascending, once each */
	if (a.n > 1)             /* qsort(NULL, 0, ...) is undefined */
		qsort(a.uids, a.n, sizeof(*a.uids), uid_cmp);
	size_t k = 0;
	for (size_t i = 0; i < a.n; i++)
		if (k == 0 || a.uids[k - 1] != a.uids[i])
			a.uids[k++] = a.uids[i];
	*uids_r = a.uids;
	*n_r = k;
	return STORE_OK;
}
