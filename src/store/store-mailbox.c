/* store-mailbox.c: mailboxes: create (with their parents), delete (its
 * messages expunged and their bodies released), rename (INBOX: its
 * messages move to the new mailbox and INBOX stays), list, get and
 * subscribe.
 *
 * The one idea: a mailbox is a record in mailboxes.db keyed by (user,
 * name) holding its permanent id; its messages and counters are keyed by
 * that id, so a rename rewrites only mailboxes.db records (store-mail.c
 * has the message side and the record helpers). */
#include "store/store-int.h"
#include "lib/log.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>

/* ---- mailboxes ---- */

int
sdb_mailbox_create_tx(struct sdb_tx *tx, const char *user, const char *name,
    unsigned attrs, bool subscribed, bool parents)
{
	struct sdb_mbox mb;
	struct sdb_counters c = { .uidnext = 1, .highestmodseq = 1 };
	uint64_t id, uidv;
	int r;

	if (parents) {
		char parent[STORE_MBOX_NAME_MAX];
		for (const char *s = strchr(name, '/'); s != NULL; s = strchr(s + 1, '/')) {
			memcpy(parent, name, (size_t)(s - name));
			parent[s - name] = '\0';
			r = mbox_load(tx, user, parent, &mb, false);
			if (r == STORE_NOTFOUND)
				r = sdb_mailbox_create_tx(tx, user, parent, 0, false, false);
			if (r != STORE_OK)
				return r;
		}
	}
	r = mbox_load(tx, user, name, &mb, true);
	if (r == STORE_OK) {
		if (!(mb.rec.attrs & MBOX_ATTR_NOSELECT))
			return STORE_EXISTS;
		if (!(mb.rec.attrs & MBOX_ATTR_NONEXISTENT)) {
			/* a parent kept for its children becomes selectable */
			mb.rec.attrs &= ~MBOX_ATTR_NOSELECT;
			mb.rec.attrs |= attrs & ~(MBOX_ATTR_NOSELECT | MBOX_ATTR_NONEXISTENT);
			return mbox_save(tx, user, name, &mb);
		}
		/* only a subscription was left: a new mailbox (new id and
		 * UIDVALIDITY) in its place, keeping the subscription */
		if ((r = sdb_counters_del(tx, mb.rec.id)) != STORE_OK)
			return r;
		subscribed = subscribed || mb.rec.subscribed;
	} else if (r != STORE_NOTFOUND) {
		return r;
	} else if ((r = sdb_mailbox_room(tx, user)) != STORE_OK) {
		return r;
	}
	if ((r = sdb_seq_next(tx->st->seq_recno, &id)) != STORE_OK ||
	    (r = sdb_seq_next(tx->st->seq_uidvalidity, &uidv)) != STORE_OK)
		return r;
	memset(&mb.rec, 0, sizeof(mb.rec));
	mb.rec.id = (uint32_t)id;
	mb.rec.attrs = attrs & ~(MBOX_ATTR_NOSELECT | MBOX_ATTR_NONEXISTENT);
	mb.rec.subscribed = subscribed;
	mb.rec.uidvalidity = (uint32_t)uidv;
	if ((r = mbox_save(tx, user, name, &mb)) != STORE_OK)
		return r;
	return sdb_counters_put(tx, mb.rec.id, &c);
}

/* Removes every message of mailbox id (bodies released, usage reduced);
 * remove: also its counters, else they are reset keeping uidnext. */
int
sdb_mailbox_purge_tx(struct sdb_tx *tx, const char *user, struct sdb_user *u,
    uint32_t id, bool remove)
{
	struct store *st = tx->st;
	unsigned char key[8];
	struct sdb_msg m;
	struct sdb_counters c;
	int64_t bytes = 0, msgs = 0;
	DBC *cur;
	int r, e;

	if ((r = sdb_map(st->msgs->cursor(st->msgs, tx->txn, &cur, 0))) != STORE_OK)
		return r;
	msg_key(key, id, 0);
	DBT k = { .data = key, .size = 8, .ulen = 8, .flags = DB_DBT_USERMEM };
	DBT d = { .data = &m, .ulen = sizeof(m), .flags = DB_DBT_USERMEM };
	for (int f = DB_SET_RANGE; ; f = DB_NEXT) {
		e = cur->get(cur, &k, &d, f | DB_RMW);
		if (e != 0 || k.size != 8 || sdb_get_be32(key) != id)
			break;
		if (d.size != sizeof(m)) {
			e = DB_VERIFY_BAD;
			break;
		}
		if ((e = cur->del(cur, 0)) != 0)
			break;
		if ((r = sdb_body_ref(tx, m.body_id, -1)) != STORE_OK)
			break;
		bytes += (int64_t)m.size;
		msgs++;
	}
	(void)cur->close(cur);
	if (r != STORE_OK)
		return r;
	if (e != 0 && e != DB_NOTFOUND)
		return sdb_map(e);
	if (msgs > 0 && (r = usage_add(tx, u, -bytes, -msgs)) != STORE_OK)
		return r;
	if ((r = sdb_modseq_forget(tx, id)) != STORE_OK ||
	    (r = sdb_fts_forget(tx, id, remove)) != STORE_OK)
		return r;
	if (remove) {
		if ((r = sdb_expunge_forget(tx, id)) != STORE_OK)
			return r;
		if ((r = sdb_urlauth_forget(tx, id)) != STORE_OK)
			return r;
		return sdb_counters_del(tx, id);
	}
	if ((r = sdb_counters_get(tx, id, &c, true)) != STORE_OK)
		return r;
	c.messages = c.bytes = 0;
	c.unseen = c.recent = 0;
	c.highestmodseq++;
	return sdb_counters_put(tx, id, &c);
}

static int
mbox_list_tx(struct sdb_tx *tx, void *varg)
{
	struct mb_arg *a = varg;
	struct store *st = tx->st;
	unsigned char prefix[SDB_KEY_MAX];
	size_t plen = strlen(a->user) + 1;
	struct sdb_user u;
	DBC *cur;
	int r, e;

	a->nlist = 0;
	if ((r = user_exists(tx, a->user, &u, false)) != STORE_OK)
		return r;
	memcpy(prefix, a->user, plen);
	if ((r = sdb_map(st->mailboxes->cursor(st->mailboxes, tx->txn, &cur, 0))) != STORE_OK)
		return r;
	struct sdb_mbox_rec rec;
	DBT k = { .data = prefix, .size = (u_int32_t)plen, .ulen = sizeof(prefix) - 1,
	    .flags = DB_DBT_USERMEM };
	DBT d = { .data = &rec, .ulen = sizeof(rec), .dlen = sizeof(rec),
	    .flags = DB_DBT_USERMEM | DB_DBT_PARTIAL };
	for (int f = DB_SET_RANGE; ; f = DB_NEXT) {
		struct sdb_counters c;
		e = cur->get(cur, &k, &d, f);
		if (e != 0)
			break;
		if (k.size <= plen || memcmp(prefix, a->user, plen) != 0)
			break;
		prefix[k.size] = '\0';
		if ((r = sdb_counters_get(tx, rec.id, &c, false)) != STORE_OK)
			break;
		if (a->nlist == a->caplist) {
			a->caplist = a->caplist ? a->caplist * 2 : 16;
			a->list = xrealloc(a->list, a->caplist * sizeof(*a->list));
		}
		mbox_fill(&a->list[a->nlist++], (char *)prefix + plen, &rec, &c);
	}
	(void)cur->close(cur);
	if (r == STORE_OK && e != 0 && e != DB_NOTFOUND)
		r = sdb_map(e);
	return r;
}

int
store_mailbox_list(struct store *st, const char *user, store_mailbox_cb *cb, void *arg)
{
	struct mb_arg *a = xmalloc(sizeof(*a));
	int r = mb_arg_init(a, user, NULL);
	if (r == STORE_OK)
		r = sdb_run(st, false, mbox_list_tx, a);
	for (size_t i = 0; r == STORE_OK && i < a->nlist; i++)
		r = cb(arg, &a->list[i]);
	free(a->list);
	free(a);
	return r;
}

static int
mbox_get_tx(struct sdb_tx *tx, void *varg)
{
	struct mb_arg *a = varg;
	struct sdb_mbox mb;
	struct sdb_counters c;
	int r = mbox_load(tx, a->user, a->name, &mb, false);
	if (r == STORE_OK)
		r = sdb_counters_get(tx, mb.rec.id, &c, false);
	if (r == STORE_OK)
		mbox_fill(&a->mb, a->name, &mb.rec, &c);
	return r;
}

int
store_mailbox_get(struct store *st, const char *user, const char *name,
    struct store_mailbox *mb_r)
{
	struct mb_arg *a = xmalloc(sizeof(*a));
	int r = mb_arg_init(a, user, name);
	if (r == STORE_OK)
		r = sdb_run(st, false, mbox_get_tx, a);
	if (r == STORE_OK)
		*mb_r = a->mb;
	else
		memset(mb_r, 0, sizeof(*mb_r));
	free(a);
	return r;
}

static int
mbox_create_tx(struct sdb_tx *tx, void *varg)
{
	struct mb_arg *a = varg;
	struct sdb_user u;
	int r = user_exists(tx, a->user, &u, false);
	if (r == STORE_OK)
		r = sdb_mailbox_create_tx(tx, a->user, a->name, a->attrs, false, true);
	return r;
}

int
store_mailbox_create(struct store *st, const char *user, const char *name,
    unsigned attrs)
{
	struct mb_arg *a = xmalloc(sizeof(*a));
	int r = mb_arg_init(a, user, name);
	a->attrs = attrs;
	if (r == STORE_OK)
		r = sdb_run_once(st, mbox_create_tx, a);
	free(a);
	return r;
}

/* Is there any mailbox below name? */
static int
has_children(struct sdb_tx *tx, const char *user, const char *name, bool *yes)
{
	unsigned char key[SDB_KEY_MAX + 1];
	size_t klen = sdb_mbox_key(user, name, key);
	DBC *cur;
	int e, r;

	key[klen++] = '/';
	*yes = false;
	if ((r = sdb_map(tx->st->mailboxes->cursor(tx->st->mailboxes, tx->txn, &cur, 0))) != STORE_OK)
		return r;
	unsigned char found[SDB_KEY_MAX + 1];
	memcpy(found, key, klen);
	DBT k = { .data = found, .size = (u_int32_t)klen, .ulen = sizeof(found),
	    .flags = DB_DBT_USERMEM };
	DBT d = { .flags = DB_DBT_USERMEM | DB_DBT_PARTIAL };
	e = cur->get(cur, &k, &d, DB_SET_RANGE);
	if (e == 0)
		*yes = k.size > klen && memcmp(found, key, klen) == 0;
	(void)cur->close(cur);
	return e == 0 || e == DB_NOTFOUND ? STORE_OK : sdb_map(e);
}

static int
mbox_delete_tx(struct sdb_tx *tx, void *varg)
{
	struct mb_arg *a = varg;
	struct sdb_user u;
	struct sdb_mbox mb;
	bool children;
	int r;

	if ((r = user_exists(tx, a->user, &u, false)) != STORE_OK ||
	    (r = mbox_load(tx, a->user, a->name, &mb, true)) != STORE_OK ||
	    (r = has_children(tx, a->user, a->name, &children)) != STORE_OK)
		return r;
	if (mb.rec.attrs & MBOX_ATTR_NONEXISTENT)
		return STORE_NOTFOUND;
	if (children && (mb.rec.attrs & MBOX_ATTR_NOSELECT))
		return STORE_DENIED;
	/* a subscription outlives its mailbox (RFC 3501 6.3.6) */
	bool keep = children || mb.rec.subscribed;
	if ((r = sdb_mailbox_purge_tx(tx, a->user, &u, mb.rec.id, !keep)) != STORE_OK)
		return r;
	sdb_changed(tx, a->user, mb.rec.id);
	if (keep) {
		mb.rec.attrs |= MBOX_ATTR_NOSELECT;
		if (!children)
			mb.rec.attrs |= MBOX_ATTR_NONEXISTENT;
		return mbox_save(tx, a->user, a->name, &mb);
	}
	unsigned char key[SDB_KEY_MAX];
	size_t klen = sdb_mbox_key(a->user, a->name, key);
	return sdb_del(tx->st->mailboxes, tx->txn, key, klen);
}

int
store_mailbox_delete(struct store *st, const char *user, const char *name)
{
	struct mb_arg *a = xmalloc(sizeof(*a));
	int r = mb_arg_init(a, user, name);
	if (r == STORE_OK && strcmp(a->name, "INBOX") == 0)
		r = STORE_DENIED;
	if (r == STORE_OK)
		r = sdb_run_once(st, mbox_delete_tx, a);
	free(a);
	return r;
}

/* Moves every message of mailbox from_id to to_id (same UIDs). */
static int
move_all(struct sdb_tx *tx, uint32_t from_id, uint32_t to_id)
{
	struct store *st = tx->st;
	unsigned char key[8], nkey[8];
	struct sdb_msg m;
	DBC *cur;
	int r, e;

	if ((r = sdb_map(st->msgs->cursor(st->msgs, tx->txn, &cur, 0))) != STORE_OK)
		return r;
	msg_key(key, from_id, 0);
	DBT k = { .data = key, .size = 8, .ulen = 8, .flags = DB_DBT_USERMEM };
	DBT d = { .data = &m, .ulen = sizeof(m), .flags = DB_DBT_USERMEM };
	for (int f = DB_SET_RANGE; ; f = DB_NEXT) {
		e = cur->get(cur, &k, &d, f | DB_RMW);
		if (e != 0 || k.size != 8 || sdb_get_be32(key) != from_id)
			break;
		msg_key(nkey, to_id, sdb_get_be32(key + 4));
		if ((e = cur->del(cur, 0)) != 0)
			break;
		if ((r = sdb_put(st->msgs, tx->txn, nkey, 8, &m, sizeof(m))) != STORE_OK ||
		    (r = sdb_modseq_move(tx, from_id, to_id, m.modseq,
		    sdb_get_be32(key + 4))) != STORE_OK)
			break;
	}
	(void)cur->close(cur);
	if (r == STORE_OK && e != 0 && e != DB_NOTFOUND)
		r = sdb_map(e);
	return r;
}

static int
rename_inbox(struct sdb_tx *tx, struct mb_arg *a, struct sdb_mbox *inbox)
{
	struct sdb_mbox nb;
	struct sdb_counters ci, cn;
	int r;

	if ((r = sdb_mailbox_create_tx(tx, a->user, a->name2, 0, false, true)) != STORE_OK ||
	    (r = mbox_load(tx, a->user, a->name2, &nb, true)) != STORE_OK ||
	    (r = sdb_counters_get(tx, inbox->rec.id, &ci, true)) != STORE_OK ||
	    (r = sdb_counters_get(tx, nb.rec.id, &cn, true)) != STORE_OK ||
	    (r = move_all(tx, inbox->rec.id, nb.rec.id)) != STORE_OK ||
	    (r = sdb_modseq_forget(tx, inbox->rec.id)) != STORE_OK)
		return r;
	/* the messages keep their UIDs, flags and keywords */
	nb.rec.nkeywords = inbox->rec.nkeywords;
	memcpy(nb.kw, inbox->kw, sizeof(nb.kw));
	cn = ci;
	cn.highestmodseq++;
	ci.messages = ci.bytes = 0;
	ci.unseen = ci.recent = 0;
	ci.highestmodseq++;
	if ((r = mbox_save(tx, a->user, a->name2, &nb)) != STORE_OK ||
	    (r = sdb_counters_put(tx, inbox->rec.id, &ci)) != STORE_OK ||
	    (r = sdb_counters_put(tx, nb.rec.id, &cn)) != STORE_OK)
		return r;
	sdb_changed(tx, a->user, inbox->rec.id);
	sdb_changed(tx, a->user, nb.rec.id);
	return STORE_OK;
}

static int
mbox_rename_tx(struct sdb_tx *tx, void *varg)
{
	struct mb_arg *a = varg;
	struct store *st = tx->st;
	struct sdb_user u;
	struct sdb_mbox from, to;
	unsigned char key[SDB_KEY_MAX + 1];
	size_t flen = strlen(a->name), ulen = strlen(a->user) + 1;
	struct mm_strlist names;
	DBC *cur;
	int r, e;

	if ((r = user_exists(tx, a->user, &u, false)) != STORE_OK ||
	    (r = mbox_load(tx, a->user, a->name, &from, true)) != STORE_OK)
		return r;
	if (from.rec.attrs & MBOX_ATTR_NONEXISTENT)
		return STORE_NOTFOUND;
	r = mbox_load(tx, a->user, a->name2, &to, false);
	if (r == STORE_OK && (to.rec.attrs & MBOX_ATTR_NONEXISTENT)) {
		/* only a subscription there: the renamed mailbox takes its
		 * place (and the subscription stays with the name) */
		bool kids;
		if ((r = has_children(tx, a->user, a->name2, &kids)) != STORE_OK)
			return r;
		if (!kids) {
			if ((r = sdb_counters_del(tx, to.rec.id)) != STORE_OK)
				return r;
			size_t tk = sdb_mbox_key(a->user, a->name2, key);
			if ((r = sdb_del(st->mailboxes, tx->txn, key, tk)) != STORE_OK)
				return r;
			from.rec.subscribed = true;
			if ((r = mbox_save(tx, a->user, a->name, &from)) != STORE_OK)
				return r;
			r = STORE_NOTFOUND;
		}
	}
	if (r != STORE_NOTFOUND)
		return r == STORE_OK ? STORE_EXISTS : r;
	if (strcmp(a->name, "INBOX") == 0)
		return rename_inbox(tx, a, &from);

	/* collect the names to move: name itself and name/... */
	mm_strlist_init(&names);
	mm_strlist_add(&names, a->name);
	if ((r = sdb_map(st->mailboxes->cursor(st->mailboxes, tx->txn, &cur, 0))) != STORE_OK)
		return r;
	size_t plen = sdb_mbox_key(a->user, a->name, key);
	key[plen++] = '/';
	unsigned char prefix[SDB_KEY_MAX + 1];
	memcpy(prefix, key, plen);
	DBT k = { .data = key, .size = (u_int32_t)plen, .ulen = sizeof(key) - 1,
	    .flags = DB_DBT_USERMEM };
	DBT d = { .flags = DB_DBT_USERMEM | DB_DBT_PARTIAL };
	for (int f = DB_SET_RANGE; ; f = DB_NEXT) {
		e = cur->get(cur, &k, &d, f);
		if (e != 0 || k.size <= plen || memcmp(key, prefix, plen) != 0)
			break;
		mm_strlist_addn(&names, (char *)key + ulen, k.size - ulen);
	}
	(void)cur->close(cur);
	if (e != 0 && e != DB_NOTFOUND) {
		mm_strlist_clear(&names);
		return sdb_map(e);
	}
	/* superiors of the new name, then each record under its new key */
	char *slash = strrchr(a->name2, '/');
	if (slash != NULL) {
		*slash = '\0';
		r = mbox_load(tx, a->user, a->name2, &to, false);
		if (r == STORE_NOTFOUND)
			r = sdb_mailbox_create_tx(tx, a->user, a->name2, 0, false, true);
		*slash = '/';
	}
	for (size_t i = 0; r == STORE_OK && i < names.n; i++) {
		char nn[STORE_MBOX_NAME_MAX];
		struct sdb_mbox mb;
		size_t tl = strlen(a->name2), rest = strlen(names.v[i]) - flen;
		if (tl + rest >= sizeof(nn)) {
			r = STORE_INVALID;
			break;
		}
		memcpy(nn, a->name2, tl);
		memcpy(nn + tl, names.v[i] + flen, rest + 1);
		if ((r = mbox_load(tx, a->user, names.v[i], &mb, true)) != STORE_OK)
			break;
		size_t klen = sdb_mbox_key(a->user, names.v[i], key);
		if ((r = sdb_del(st->mailboxes, tx->txn, key, klen)) != STORE_OK)
			break;
		r = mbox_load(tx, a->user, nn, &to, false);
		if (r != STORE_NOTFOUND) {
			r = r == STORE_OK ? STORE_EXISTS : r;
			break;
		}
		if ((r = mbox_save(tx, a->user, nn, &mb)) != STORE_OK)
			break;
		sdb_changed(tx, a->user, mb.rec.id);
	}
	mm_strlist_clear(&names);
	return r;
}

int
store_mailbox_rename(struct store *st, const char *user, const char *from,
    const char *to)
{
	struct mb_arg *a = xmalloc(sizeof(*a));
	int r = mb_arg_init(a, user, from);
	if (r == STORE_OK)
		r = mbox_name_norm(to, a->name2);
	if (r == STORE_OK) {
		size_t fl = strlen(a->name);
		if (strcmp(a->name2, "INBOX") == 0 || strcmp(a->name, a->name2) == 0)
			r = STORE_EXISTS;
		else if (strncmp(a->name2, a->name, fl) == 0 && a->name2[fl] == '/')
			r = STORE_INVALID;
	}
	if (r == STORE_OK)
		r = sdb_run_once(st, mbox_rename_tx, a);
	free(a);
	return r;
}

static int
mbox_subscribe_tx(struct sdb_tx *tx, void *varg)
{
	struct mb_arg *a = varg;
	struct sdb_mbox mb;
	bool kids;
	int r = mbox_load(tx, a->user, a->name, &mb, true);
	if (r != STORE_OK)
		return r;
	if (!a->flag && (mb.rec.attrs & MBOX_ATTR_NONEXISTENT)) {
		/* the last trace of a deleted mailbox */
		if ((r = has_children(tx, a->user, a->name, &kids)) != STORE_OK)
			return r;
		if (!kids) {
			unsigned char key[SDB_KEY_MAX];
			size_t klen = sdb_mbox_key(a->user, a->name, key);
			if ((r = sdb_counters_del(tx, mb.rec.id)) != STORE_OK)
				return r;
			return sdb_del(tx->st->mailboxes, tx->txn, key, klen);
		}
	}
	mb.rec.subscribed = a->flag;
	return mbox_save(tx, a->user, a->name, &mb);
}

int
store_mailbox_subscribe(struct store *st, const char *user, const char *name,
    bool subscribe)
{
	struct mb_arg *a = xmalloc(sizeof(*a));
	int r = mb_arg_init(a, user, name);
	a->flag = subscribe;
	if (r == STORE_OK)
		r = sdb_run_once(st, mbox_subscribe_tx, a);
	free(a);
	return r;
}
