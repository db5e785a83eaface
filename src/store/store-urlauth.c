/* store-urlauth.c: the mailbox access keys of URLAUTH (RFC 4467 7). Each
 * mailbox may have one secret key of STORE_URLAUTH_KEY_BYTES; GENURLAUTH
 * signs URLs with it, URLFETCH checks them, RESETKEY forgets it (so every
 * URL issued for the mailbox stops working). Keys never leave the server.
 *
 * The one idea: a key lives in msgs.db under the 8-byte key
 * (SDB_EXPUNGE_PREFIX = 0 BE32, mailbox id BE32). No mailbox has id 0, so
 * no message key (id, uid) is ever that; the expunge log's keys with the
 * same prefix are 20 bytes, and its scans stop at a key of another size.
 * The key is dropped with its mailbox (sdb_mailbox_purge_tx). The caller
 * supplies fresh random bytes, so the store needs no random source. */
#include "store/store-int.h"

#include <stdlib.h>
#include <string.h>

static void
key_key(unsigned char k[8], uint32_t id)
{
	sdb_be32(k, SDB_EXPUNGE_PREFIX);
	sdb_be32(k + 4, id);
}

struct uk_arg {
	uint32_t id;
	const unsigned char *fresh;
	unsigned char key[STORE_URLAUTH_KEY_BYTES];
};

static int
uk_get_tx(struct sdb_tx *tx, void *varg)
{
	struct uk_arg *a = varg;
	unsigned char k[8];
	size_t len;
	void *data;

	key_key(k, a->id);
	int r = sdb_get_alloc(tx->st->msgs, tx->txn, k, sizeof(k), &data, &len,
	    a->fresh != NULL ? DB_RMW : 0);
	if (r == STORE_OK) {
		if (len != STORE_URLAUTH_KEY_BYTES)
			r = STORE_CORRUPT;
		else
			memcpy(a->key, data, len);
		free(data);
		return r;
	}
	if (r != STORE_NOTFOUND || a->fresh == NULL)
		return r;
	memcpy(a->key, a->fresh, STORE_URLAUTH_KEY_BYTES);
	return sdb_put(tx->st->msgs, tx->txn, k, sizeof(k), a->key, sizeof(a->key));
}

int
store_urlauth_key(struct store *st, uint32_t mailbox_id, const unsigned char *fresh,
    unsigned char key_r[STORE_URLAUTH_KEY_BYTES])
{
	struct uk_arg a = { .id = mailbox_id, .fresh = fresh };

	if (mailbox_id == SDB_EXPUNGE_PREFIX)
		return STORE_INVALID;
	int r = sdb_run(st, fresh != NULL, uk_get_tx, &a);
	if (r == STORE_OK)
		memcpy(key_r, a.key, sizeof(a.key));
	memset(a.key, 0, sizeof(a.key));
	return r;
}

int
sdb_urlauth_forget(struct sdb_tx *tx, uint32_t id)
{
	unsigned char k[8];
	key_key(k, id);
	int r = sdb_del(tx->st->msgs, tx->txn, k, sizeof(k));
	return r == STORE_NOTFOUND ? STORE_OK : r;
}

static int
uk_reset_tx(struct sdb_tx *tx, void *varg)
{
	struct uk_arg *a = varg;
	return sdb_urlauth_forget(tx, a->id);
}

int
store_urlauth_reset(struct store *st, uint32_t mailbox_id)
{
	struct uk_arg a = { .id = mailbox_id };

	if (mailbox_id == SDB_EXPUNGE_PREFIX)
		return STORE_INVALID;
	return sdb_run(st, true, uk_reset_tx, &a);
}
