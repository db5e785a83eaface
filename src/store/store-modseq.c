/* store-modseq.c: the change log, so that "what changed since modseq M"
 * reads what changed and not the mailbox (store_index_read_changed, the
 * IMAP sync after every change notification).
 *
 * The one idea: a message's modseq only rises, and a new message gets the
 * next UID and the next modseq together, so in UID order the messages that
 * were never changed after delivery have ascending modseqs. What changed
 * since M is then (1) the tail of the mailbox above the highest UID whose
 * modseq is at most M, read backwards from the end until that message, and
 * (2) the messages below it whose flags or keywords changed after M: those
 * are in this log, one entry per changed message under its current modseq,
 * read as one range from (id, M + 1). The log lives in msgs.db under keys
 * (0 BE32, 0 BE32, mailbox id BE32, modseq BE64, uid BE32), empty data:
 * they sort before the expunge log ((0, id >= 1, ...), store-expunge.c)
 * and every mailbox's 8-byte (id, uid) keys, so no other scan meets them.
 * store_flags_update moves an entry when it raises a modseq, msg_remove
 * drops it, INBOX rename moves it with the messages, purge drops a
 * mailbox's log, all in the same transaction as the change. */
#include "store/store-int.h"

#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

#define MS_KEY_BYTES 24

static void
ms_key(unsigned char key[MS_KEY_BYTES], uint32_t id, uint64_t modseq, uint32_t uid)
{
	sdb_be32(key, SDB_EXPUNGE_PREFIX);
	sdb_be32(key + 4, 0);
	sdb_be32(key + 8, id);
	sdb_be64(key + 12, modseq);
	sdb_be32(key + 20, uid);
}

int
sdb_modseq_unlog(struct sdb_tx *tx, uint32_t id, uint64_t modseq, uint32_t uid)
{
	unsigned char key[MS_KEY_BYTES];
	ms_key(key, id, modseq, uid);
	int r = sdb_del(tx->st->msgs, tx->txn, key, sizeof(key));
	return r == STORE_NOTFOUND ? STORE_OK : r;
}

int
sdb_modseq_move(struct sdb_tx *tx, uint32_t from_id, uint32_t to_id,
    uint64_t modseq, uint32_t uid)
{
	unsigned char key[MS_KEY_BYTES];
	ms_key(key, from_id, modseq, uid);
	int r = sdb_del(tx->st->msgs, tx->txn, key, sizeof(key));
	if (r != STORE_OK)
		return r == STORE_NOTFOUND ? STORE_OK : r;
	ms_key(key, to_id, modseq, uid);
	return sdb_put(tx->st->msgs, tx->txn, key, sizeof(key), "", 0);
}

int
sdb_modseq_log(struct sdb_tx *tx, uint32_t id, uint64_t old_modseq,
    uint64_t new_modseq, uint32_t uid)
{
	unsigned char key[MS_KEY_BYTES];
	int r = sdb_modseq_unlog(tx, id, old_modseq, uid);
	if (r != STORE_OK)
		return r;
	ms_key(key, id, new_modseq, uid);
	return sdb_put(tx->st->msgs, tx->txn, key, sizeof(key), "", 0);
}

/* Walks the log of mailbox id above modseq since; with del removes what it
 * walks, else appends the UIDs below below_uid to *uids_r. */
int
sdb_modseq_walk(struct sdb_tx *tx, uint32_t id, uint64_t since, bool del,
    uint32_t below_uid, uint32_t **uids_r, size_t *n_r, size_t *cap_r)
{
	struct store *st = tx->st;
	unsigned char key[MS_KEY_BYTES];
	DBC *cur;
	int r, e;

	if (since == UINT64_MAX)
		return STORE_OK;
	if ((r = sdb_map(st->msgs->cursor(st->msgs, tx->txn, &cur, 0))) != STORE_OK)
		return r;
	ms_key(key, id, since + 1, 0);
	DBT k = { .data = key, .size = sizeof(key), .ulen = sizeof(key),
	    .flags = DB_DBT_USERMEM };
	DBT d = { .flags = DB_DBT_USERMEM | DB_DBT_PARTIAL };
	for (int f = DB_SET_RANGE; ; f = DB_NEXT) {
		e = cur->get(cur, &k, &d, f | (del ? DB_RMW : 0));
		if (e != 0 || k.size != MS_KEY_BYTES ||
		    sdb_get_be32(key) != SDB_EXPUNGE_PREFIX || sdb_get_be32(key + 4) != 0 ||
		    sdb_get_be32(key + 8) != id)
			break;
		if (del) {
			if ((e = cur->del(cur, 0)) != 0)
				break;
			continue;
		}
		uint32_t uid = sdb_get_be32(key + 20);
		if (uid >= below_uid)
			continue;
		if (*n_r == *cap_r) {
			*cap_r = *cap_r ? *cap_r * 2 : 64;
			*uids_r = xrealloc(*uids_r, *cap_r * sizeof(**uids_r));
		}
		(*uids_r)[(*n_r)++] = uid;
	}
	(void)cur->close(cur);
	if (e != 0 && e != DB_NOTFOUND)
		return sdb_map(e);
	return STORE_OK;
}

int
sdb_modseq_forget(struct sdb_tx *tx, uint32_t id)
{
	return sdb_modseq_walk(tx, id, 0, true, 0, NULL, NULL, NULL);
}
