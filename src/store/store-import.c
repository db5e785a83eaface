/* store-import.c: what minimailctl import needs beyond store_deliver():
 * keeping another server's UIDs and UIDVALIDITY in a mailbox that is new,
 * so that clients do not download everything again after a move.
 *
 * The one idea: a UID is never chosen here, only UIDNEXT raised before a
 * delivery (which then takes UIDNEXT as usual) and UIDVALIDITY set while
 * the mailbox is still empty and unused, all under the counters' write
 * lock that every delivery takes: UIDs stay ascending and unique however
 * the import and the daemon interleave. */
#include "store/store-int.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>

struct import_uids_arg {
	const char *user;
	const char *name;
	uint32_t uidvalidity;
	uint32_t uidnext;
	char norm[ADDRESS_MAX_BYTES + 1];
};

static int
import_uids_tx(struct sdb_tx *tx, void *varg)
{
	struct import_uids_arg *a = varg;
	unsigned char key[SDB_KEY_MAX];
	size_t klen = sdb_mbox_key(a->norm, a->name, key), len;
	struct sdb_mbox_rec rec;
	struct sdb_counters c;
	void *data;
	int r;

	r = sdb_get_alloc(tx->st->mailboxes, tx->txn, key, klen, &data, &len, DB_RMW);
	if (r != STORE_OK)
		return r;
	if (len < sizeof(rec)) {
		free(data);
		return STORE_CORRUPT;
	}
	memcpy(&rec, data, sizeof(rec));
	if ((r = sdb_counters_get(tx, rec.id, &c, true)) != STORE_OK)
		goto out;
	if (a->uidvalidity != 0 && rec.uidvalidity != a->uidvalidity) {
		if (c.messages != 0 || c.uidnext != 1) {
			r = STORE_EXISTS;
			goto out;
		}
		rec.uidvalidity = a->uidvalidity;
		memcpy(data, &rec, sizeof(rec));
		if ((r = sdb_put(tx->st->mailboxes, tx->txn, key, klen, data, len)) != STORE_OK)
			goto out;
	}
	if (a->uidnext > c.uidnext) {
		c.uidnext = a->uidnext;
		c.highestmodseq++;
		if ((r = sdb_counters_put(tx, rec.id, &c)) != STORE_OK)
			goto out;
	}
	sdb_changed(tx, a->norm, rec.id);
out:
	free(data);
	return r;
}

int
store_mailbox_import_uids(struct store *st, const char *user, const char *name,
    uint32_t uidvalidity, uint32_t uidnext)
{
	struct import_uids_arg a = { .user = user, .name = name,
	    .uidvalidity = uidvalidity, .uidnext = uidnext };
	if (!sdb_address_norm(user, a.norm) || strlen(name) >= STORE_MBOX_NAME_MAX ||
	    uidnext == UINT32_MAX)
		return STORE_INVALID;
	return sdb_run_once(st, import_uids_tx, &a);
}
