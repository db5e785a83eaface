/* store-mail.c: messages: delivery, the index in UID order, flags, copy,
 * move and expunge, and the mailbox record helpers store-mailbox.c shares
 * (mailbox create/delete/rename/list/subscribe live there).
 *
 * The one idea: a mailbox is a record in mailboxes.db keyed by
 * (user, name) that holds its permanent id, and everything that changes on
 * every delivery (uidnext, modseq, message/unseen/byte counts) lives in a
 * queue record numbered by that id (record locks, not page locks, so
 * deliveries to different mailboxes never wait for each other there).
 * Messages are keyed (id BE32, uid BE32), so a cursor walks a mailbox in
 * UID order and a rename only rewrites mailboxes.db. Per-user quota usage is
 * a queue record too, numbered by the user's own number. */
#include "store/store-int.h"
#include "lib/log.h"
#include "lib/util.h"
#include "mail/fts.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SDB_BULK_BYTES (256 * 1024)

/* ---- names and records ---- */

/* Validates a mailbox name and writes the canonical form ("INBOX" prefix
 * upper-cased). */
int
mbox_name_norm(const char *in, char out[STORE_MBOX_NAME_MAX])
{
	size_t n = strnlen(in, STORE_MBOX_NAME_MAX);
	int depth = 0;

	if (n == 0 || n >= STORE_MBOX_NAME_MAX || in[0] == '/' || in[n - 1] == '/')
		return STORE_INVALID;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c < 0x20 || c == 0x7f || c == '*' || c == '%')
			return STORE_INVALID;
		if (c == '/') {
			if (in[i + 1] == '/')
				return STORE_INVALID;
			depth++;
		}
	}
	if (depth >= SDB_MBOX_DEPTH_MAX)
		return STORE_LIMIT;
	memcpy(out, in, n + 1);
	if (mm_strncaseeq(out, "INBOX", 5) && (out[5] == '\0' || out[5] == '/'))
		memcpy(out, "INBOX", 5);
	return STORE_OK;
}

size_t
sdb_mbox_key(const char *user, const char *name, unsigned char *key)
{
	size_t ul = strlen(user), nl = strlen(name);
	memcpy(key, user, ul + 1);
	memcpy(key + ul + 1, name, nl);
	return ul + 1 + nl;
}

int
mbox_load(struct sdb_tx *tx, const char *user, const char *name,
    struct sdb_mbox *mb, bool rmw)
{
	unsigned char key[SDB_KEY_MAX];
	size_t klen = sdb_mbox_key(user, name, key), len;
	void *data;
	int r;

	r = sdb_get_alloc(tx->st->mailboxes, tx->txn, key, klen, &data, &len,
	    rmw ? DB_RMW : 0);
	if (r != STORE_OK)
		return r;
	if (len < sizeof(mb->rec)) {
		free(data);
		return STORE_CORRUPT;
	}
	memcpy(&mb->rec, data, sizeof(mb->rec));
	const char *p = (const char *)data + sizeof(mb->rec);
	const char *end = (const char *)data + len;
	if (mb->rec.nkeywords > STORE_KEYWORDS_MAX)
		r = STORE_CORRUPT;
	for (uint32_t i = 0; r == STORE_OK && i < mb->rec.nkeywords; i++) {
		const char *z = memchr(p, '\0', (size_t)(end - p));
		if (z == NULL || (size_t)(z - p) > STORE_KEYWORD_MAX_BYTES) {
			r = STORE_CORRUPT;
			break;
		}
		memcpy(mb->kw[i], p, (size_t)(z - p) + 1);
		p = z + 1;
	}
	free(data);
	return r;
}

int
mbox_save(struct sdb_tx *tx, const char *user, const char *name,
    const struct sdb_mbox *mb)
{
	unsigned char key[SDB_KEY_MAX];
	size_t klen = sdb_mbox_key(user, name, key);
	struct mm_buf b;
	int r;

	mm_buf_init(&b);
	mm_buf_append(&b, &mb->rec, sizeof(mb->rec));
	for (uint32_t i = 0; i < mb->rec.nkeywords; i++)
		mm_buf_append(&b, mb->kw[i], strlen(mb->kw[i]) + 1);
	r = sdb_put(tx->st->mailboxes, tx->txn, key, klen, b.data, b.len);
	mm_buf_free(&b);
	return r;
}

static bool
keyword_ok(const char *k)
{
	size_t n = strnlen(k, STORE_KEYWORD_MAX_BYTES + 1);
	if (n == 0 || n > STORE_KEYWORD_MAX_BYTES || k[0] == '\\')
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)k[i];
		if (c <= 0x20 || c >= 0x7f || strchr("(){%*\"\\]", c) != NULL)
			return false;
	}
	return true;
}

bool
store_keyword_valid(const char *k)
{
	return keyword_ok(k);
}

/* Keyword names -> bits of mb's table; add: missing names are added
 * (*dirty set), else ignored. */
static int
keywords_bits(struct sdb_mbox *mb, const char *const *kw, size_t nkw, bool add,
    uint64_t *bits_r, bool *dirty)
{
	*bits_r = 0;
	for (size_t i = 0; i < nkw; i++) {
		uint32_t j;
		for (j = 0; j < mb->rec.nkeywords; j++)
			if (mm_strcaseeq(mb->kw[j], kw[i]))
				break;
		if (j == mb->rec.nkeywords) {
			if (!add)
				continue;
			if (j >= STORE_KEYWORDS_MAX)
				return STORE_LIMIT;
			mm_strlcpy(mb->kw[j], kw[i], sizeof(mb->kw[j]));
			mb->rec.nkeywords++;
			*dirty = true;
		}
		*bits_r |= (uint64_t)1 << j;
	}
	return STORE_OK;
}

static int
keywords_check(const char *const *kw, size_t nkw)
{
	if (nkw > STORE_KEYWORDS_MAX)
		return STORE_LIMIT;
	for (size_t i = 0; i < nkw; i++)
		if (!keyword_ok(kw[i]))
			return STORE_INVALID;
	return STORE_OK;
}

void
msg_key(unsigned char key[8], uint32_t id, uint32_t uid)
{
	sdb_be32(key, id);
	sdb_be32(key + 4, uid);
}

static void
count_add(struct sdb_counters *c, const struct sdb_msg *m, int sign)
{
	if (sign > 0) {
		c->messages++;
		c->bytes += m->size;
		c->unseen += !(m->flags & MSG_SEEN);
		c->recent += (m->flags & MSG_RECENT) != 0;
	} else {
		c->messages--;
		c->bytes -= m->size;
		c->unseen -= !(m->flags & MSG_SEEN);
		c->recent -= (m->flags & MSG_RECENT) != 0;
	}
}

static int
msg_append(struct sdb_tx *tx, uint32_t id, struct sdb_counters *c,
    struct sdb_msg *m, uint32_t uid, uint32_t *uid_r)
{
	unsigned char key[8];
	bool fresh = c->uidnext == 1;
	int r;
	if (uid == 0) {
		if (c->uidnext == 0 || c->uidnext == UINT32_MAX)
			return STORE_LIMIT;
		uid = c->uidnext++;
	}
	m->modseq = ++c->highestmodseq;
	msg_key(key, id, uid);
	count_add(c, m, 1);
	*uid_r = uid;
	if ((r = sdb_put(tx->st->msgs, tx->txn, key, 8, m, sizeof(*m))) != STORE_OK)
		return r;
	return sdb_fts_add(tx, id, uid, m->body_id, fresh);
}

static int
msg_get(struct sdb_tx *tx, uint32_t id, uint32_t uid, struct sdb_msg *m, bool rmw)
{
	unsigned char key[8];
	msg_key(key, id, uid);
	return sdb_get(tx->st->msgs, tx->txn, key, 8, m, sizeof(*m), rmw ? DB_RMW : 0);
}

static int
msg_remove(struct sdb_tx *tx, uint32_t id, struct sdb_counters *c,
    uint32_t uid, const struct sdb_msg *m)
{
	unsigned char key[8];
	int r;
	msg_key(key, id, uid);
	count_add(c, m, -1);
	c->highestmodseq++;
	if ((r = sdb_expunge_log(tx, id, c->highestmodseq, uid)) != STORE_OK ||
	    (r = sdb_modseq_unlog(tx, id, m->modseq, uid)) != STORE_OK ||
	    (r = sdb_fts_remove(tx, id, uid, m->body_id)) != STORE_OK)
		return r;
	return sdb_del(tx->st->msgs, tx->txn, key, 8);
}

int
usage_add(struct sdb_tx *tx, const struct sdb_user *u, int64_t bytes, int64_t msgs)
{
	struct sdb_counters c;
	int r = sdb_counters_get(tx, u->no, &c, true);
	if (r != STORE_OK)
		return r;
	c.bytes += (uint64_t)bytes;
	c.messages += (uint64_t)msgs;
	return sdb_counters_put(tx, u->no, &c);
}

static bool
over_quota(const struct sdb_user *u, const struct sdb_counters *usage,
    uint64_t bytes, uint64_t msgs)
{
	return (u->quota_bytes != 0 && usage->bytes + bytes > u->quota_bytes) ||
	    (u->quota_messages != 0 && usage->messages + msgs > u->quota_messages);
}

void
mbox_fill(struct store_mailbox *out, const char *name,
    const struct sdb_mbox_rec *rec, const struct sdb_counters *c)
{
	memset(out, 0, sizeof(*out));
	out->id = rec->id;
	mm_strlcpy(out->name, name, sizeof(out->name));
	out->attrs = rec->attrs;
	out->subscribed = rec->subscribed != 0;
	out->uidvalidity = rec->uidvalidity;
	out->uidnext = c->uidnext;
	out->highestmodseq = c->highestmodseq;
	out->messages = (uint32_t)c->messages;
	out->unseen = c->unseen;
	out->recent = c->recent;
	out->bytes = c->bytes;
}

int
mb_arg_init(struct mb_arg *a, const char *user, const char *name)
{
	memset(a, 0, sizeof(*a));
	if (!sdb_address_norm(user, a->user))
		return STORE_INVALID;
	if (name != NULL)
		return mbox_name_norm(name, a->name);
	return STORE_OK;
}

int
user_exists(struct sdb_tx *tx, const char *user, struct sdb_user *u, bool rmw)
{
	return sdb_user_load(tx, user, u, rmw);
}

/* ---- the index ---- */

struct index_arg {
	struct mb_arg mb;
	uint64_t since;
	struct store_index *idx;
	char *bulk;
};

/* The mailbox part of an index read: its record, counters, keywords. */
static int
index_head(struct sdb_tx *tx, struct index_arg *a, struct sdb_mbox *mb,
    struct sdb_counters *c)
{
	struct store_index *idx = a->idx;
	int r;

	idx->nmsgs = 0;
	for (size_t i = 0; i < idx->nkeywords; i++)
		free(idx->keywords[i]);
	idx->nkeywords = 0;
	if ((r = mbox_load(tx, a->mb.user, a->mb.name, mb, false)) != STORE_OK ||
	    (r = sdb_counters_get(tx, mb->rec.id, c, false)) != STORE_OK)
		return r;
	if (mb->rec.attrs & MBOX_ATTR_NOSELECT)
		return STORE_NOTFOUND;
	mbox_fill(&idx->mailbox, a->mb.name, &mb->rec, c);
	idx->keywords = xrealloc(idx->keywords, (mb->rec.nkeywords + 1) * sizeof(char *));
	for (uint32_t i = 0; i < mb->rec.nkeywords; i++)
		idx->keywords[i] = xstrdup(mb->kw[i]);
	idx->nkeywords = mb->rec.nkeywords;
	return STORE_OK;
}

static void
index_add(struct store_index *idx, size_t *cap, uint32_t uid, const struct sdb_msg *m)
{
	if (idx->nmsgs == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		idx->msgs = xrealloc(idx->msgs, *cap * sizeof(*idx->msgs));
	}
	struct store_msg *sm = &idx->msgs[idx->nmsgs++];
	sm->uid = uid;
	sm->flags = m->flags;
	sm->keywords = m->keywords;
	sm->internal_date = (time_t)m->internal_date;
	sm->size = m->size;
	sm->modseq = m->modseq;
	sm->body_id = m->body_id;
}

static int
index_msg_uid_cmp(const void *x, const void *y)
{
	const struct store_msg *a = x, *b = y;
	return a->uid < b->uid ? -1 : a->uid > b->uid;
}

/* What changed since a->since (store-modseq.c has the reasoning): the tail
 * of the mailbox read backwards until a message at or below since, then
 * the change log's entries below that message. */
static int
index_changed_tx(struct sdb_tx *tx, void *varg)
{
	struct index_arg *a = varg;
	struct store_index *idx = a->idx;
	struct store *st = tx->st;
	struct sdb_mbox mb;
	struct sdb_counters c;
	struct sdb_msg m;
	unsigned char key[8];
	uint32_t stop_uid = 0, *uids = NULL;
	size_t cap = 0, nuids = 0, capuids = 0;
	DBC *cur;
	int r, e;

	if ((r = index_head(tx, a, &mb, &c)) != STORE_OK)
		return r;
	free(idx->msgs);
	idx->msgs = NULL;
	if (c.highestmodseq <= a->since)
		return STORE_OK;
	if ((r = sdb_map(st->msgs->cursor(st->msgs, tx->txn, &cur, 0))) != STORE_OK)
		return r;
	msg_key(key, mb.rec.id + 1, 0);
	DBT k = { .data = key, .size = 8, .ulen = 8, .flags = DB_DBT_USERMEM };
	DBT d = { .data = &m, .ulen = sizeof(m), .flags = DB_DBT_USERMEM };
	e = cur->get(cur, &k, &d, DB_SET_RANGE);
	e = e == 0 ? cur->get(cur, &k, &d, DB_PREV) :
	    e == DB_NOTFOUND ? cur->get(cur, &k, &d, DB_LAST) : e;
	for (; e == 0; e = cur->get(cur, &k, &d, DB_PREV)) {
		if (k.size != 8 || sdb_get_be32(key) != mb.rec.id)
			break;
		if (d.size != sizeof(m)) {
			(void)cur->close(cur);
			return STORE_CORRUPT;
		}
		uint32_t uid = sdb_get_be32(key + 4);
		if (m.modseq <= a->since) {
			stop_uid = uid;
			break;
		}
		index_add(idx, &cap, uid, &m);
	}
	(void)cur->close(cur);
	/* before the first mailbox come the logs' longer keys: the start */
	if (e == DB_BUFFER_SMALL && k.size <= 8)
		return STORE_CORRUPT;
	if (e != 0 && e != DB_NOTFOUND && e != DB_BUFFER_SMALL)
		return sdb_map(e);
	if (stop_uid > 0) {
		r = sdb_modseq_walk(tx, mb.rec.id, a->since, false, stop_uid, &uids,
		    &nuids, &capuids);
		for (size_t i = 0; r == STORE_OK && i < nuids; i++) {
			r = msg_get(tx, mb.rec.id, uids[i], &m, false);
			if (r == STORE_NOTFOUND) {
				r = STORE_OK;
				continue;
			}
			if (r == STORE_OK && m.modseq > a->since)
				index_add(idx, &cap, uids[i], &m);
		}
		free(uids);
		if (r != STORE_OK)
			return r;
	}
	if (idx->nmsgs > 1)
		qsort(idx->msgs, idx->nmsgs, sizeof(*idx->msgs), index_msg_uid_cmp);
	size_t n = 0;
	for (size_t i = 0; i < idx->nmsgs; i++)
		if (n == 0 || idx->msgs[n - 1].uid != idx->msgs[i].uid)
			idx->msgs[n++] = idx->msgs[i];
	idx->nmsgs = n;
	return STORE_OK;
}

static int
index_tx(struct sdb_tx *tx, void *varg)
{
	struct index_arg *a = varg;
	struct store_index *idx = a->idx;
	struct store *st = tx->st;
	struct sdb_mbox mb;
	struct sdb_counters c;
	unsigned char key[8];
	size_t cap = 0;
	DBC *cur;
	int r, e;

	if ((r = index_head(tx, a, &mb, &c)) != STORE_OK)
		return r;
	cap = c.messages + 1;
	free(idx->msgs);
	idx->msgs = xmalloc(cap * sizeof(*idx->msgs));

	if ((r = sdb_map(st->msgs->cursor(st->msgs, tx->txn, &cur, 0))) != STORE_OK)
		return r;
	msg_key(key, mb.rec.id, 0);
	DBT k = { .data = key, .size = 8, .ulen = 8, .flags = DB_DBT_USERMEM };
	DBT d = { .data = a->bulk, .ulen = SDB_BULK_BYTES, .flags = DB_DBT_USERMEM };
	bool done = false;
	for (int f = DB_SET_RANGE; !done; f = DB_NEXT) {
		void *p, *kp, *dp;
		u_int32_t ks, ds;
		e = cur->get(cur, &k, &d, f | DB_MULTIPLE_KEY);
		if (e != 0)
			break;
		DB_MULTIPLE_INIT(p, &d);
		for (;;) {
			DB_MULTIPLE_KEY_NEXT(p, &d, kp, ks, dp, ds);
			if (p == NULL)
				break;
			if (ks != 8 || sdb_get_be32(kp) != mb.rec.id) {
				done = true;
				break;
			}
			if (ds != sizeof(struct sdb_msg)) {
				(void)cur->close(cur);
				return STORE_CORRUPT;
			}
			struct sdb_msg m;
			memcpy(&m, dp, sizeof(m));
			if (m.modseq <= a->since)
				continue;
			if (idx->nmsgs == cap) {
				cap *= 2;
				idx->msgs = xrealloc(idx->msgs, cap * sizeof(*idx->msgs));
			}
			struct store_msg *sm = &idx->msgs[idx->nmsgs++];
			sm->uid = sdb_get_be32((unsigned char *)kp + 4);
			sm->flags = m.flags;
			sm->keywords = m.keywords;
			sm->internal_date = (time_t)m.internal_date;
			sm->size = m.size;
			sm->modseq = m.modseq;
			sm->body_id = m.body_id;
		}
	}
	(void)cur->close(cur);
	if (e != 0 && e != DB_NOTFOUND)
		return sdb_map(e);
	return STORE_OK;
}

static int
index_read(struct store *st, const char *user, const char *mailbox,
    uint64_t since, struct store_index **idx_r)
{
	struct index_arg *a = xcalloc(1, sizeof(*a));
	int r = mb_arg_init(&a->mb, user, mailbox);

	*idx_r = NULL;
	a->since = since;
	a->idx = xcalloc(1, sizeof(*a->idx));
	a->bulk = xmalloc(SDB_BULK_BYTES);
	if (r == STORE_OK)
		r = sdb_run(st, false, since > 0 ? index_changed_tx : index_tx, a);
	if (r == STORE_OK)
		*idx_r = a->idx;
	else
		store_index_free(&a->idx);
	free(a->bulk);
	free(a);
	return r;
}

int
store_index_read(struct store *st, const char *user, const char *mailbox,
    struct store_index **idx_r)
{
	return index_read(st, user, mailbox, 0, idx_r);
}

int
store_index_read_changed(struct store *st, const char *user, const char *mailbox,
    uint64_t since_modseq, struct store_index **idx_r)
{
	return index_read(st, user, mailbox, since_modseq, idx_r);
}

void
store_index_free(struct store_index **idxp)
{
	struct store_index *idx = *idxp;
	if (idx == NULL)
		return;
	for (size_t i = 0; i < idx->nkeywords; i++)
		free(idx->keywords[i]);
	free(idx->keywords);
	free(idx->msgs);
	free(idx);
	*idxp = NULL;
}

/* ---- delivery ----
 *
 * Exactly once: each sdb_deliver() call has a token (time, pid, counter),
 * and its transaction writes, beside the message, a record in tokens.db
 * under that token with what it stored (each recipient's result, UID,
 * UIDVALIDITY and mailbox, the queue ids). When sdb_run() runs the
 * transaction again because a recovery cut its commit short (tx->redo),
 * the rerun first looks for its token: found, the first run is durable
 * and its results are given back without storing a second copy; absent,
 * the first run was lost with the log it had not flushed and the rerun
 * stores the message. Tokens are pruned at checkpoints once older than
 * SDB_TOKEN_KEEP_SECS. */

struct sdb_token_rec {
	uint64_t body_id;
	uint32_t nrcpts;
	uint32_t nmemo;
	/* followed by nrcpts struct sdb_token_rcpt, then nmemo uint64_t */
};

struct sdb_token_rcpt {
	int32_t result;
	uint32_t uid;
	uint32_t uidvalidity;
	uint32_t mbox_id;
};

struct deliver_arg {
	struct store_rcpt *rcpts;
	size_t nrcpts;
	char (*users)[ADDRESS_MAX_BYTES + 1];
	char (*names)[STORE_MBOX_NAME_MAX];
	int *valid;
	const void *data;
	size_t len;
	time_t date;
	const void *cache;
	size_t cachelen;
	const char *const *keywords;
	size_t nkeywords;
	bool aon;
	uint32_t extra_refs;
	sdb_deliver_extra_fn *extra;
	void *extra_arg;
	uint64_t *memo;
	size_t nmemo;
	struct sdb_token_key token;
	time_t token_time;
	uint32_t *mbox_ids;        /* per recipient, for the token */
	bool indexed;              /* terms are the body's trigrams (mail/fts.h) */
	uint32_t *terms;
	size_t nterms;
};

/* Before the transaction: the body's trigrams, when it can be indexed. */
static void
deliver_terms(struct deliver_arg *a)
{
	a->indexed = a->data != NULL && a->nrcpts > 0 &&
	    mail_fts_terms(a->data, a->len, &a->terms, &a->nterms);
}

static int
token_save(struct sdb_tx *tx, struct deliver_arg *a, uint64_t body_id)
{
	size_t len = sizeof(struct sdb_token_rec) +
	    a->nrcpts * sizeof(struct sdb_token_rcpt) + a->nmemo * sizeof(uint64_t);
	unsigned char *buf = xcalloc(1, len);
	struct sdb_token_rec rec = { .body_id = body_id,
	    .nrcpts = (uint32_t)a->nrcpts, .nmemo = (uint32_t)a->nmemo };
	unsigned char *p = buf;

	memcpy(p, &rec, sizeof(rec));
	p += sizeof(rec);
	for (size_t i = 0; i < a->nrcpts; i++) {
		struct sdb_token_rcpt tr = { .result = a->rcpts[i].result_r,
		    .uid = a->rcpts[i].uid_r, .uidvalidity = a->rcpts[i].uidvalidity_r,
		    .mbox_id = a->mbox_ids[i] };
		memcpy(p, &tr, sizeof(tr));
		p += sizeof(tr);
	}
	if (a->nmemo > 0)
		memcpy(p, a->memo, a->nmemo * sizeof(uint64_t));
	int r = sdb_put(tx->st->tokens, tx->txn, &a->token, sizeof(a->token), buf, len);
	free(buf);
	return r;
}

/* The rerun's question: did the first run commit durably? STORE_OK (and
 * its results given back), STORE_NOTFOUND (run again), or an error. */
static int
token_replay(struct sdb_tx *tx, struct deliver_arg *a)
{
	void *data;
	size_t len;
	struct sdb_token_rec rec;
	int r = sdb_get_alloc(tx->st->tokens, tx->txn, &a->token, sizeof(a->token),
	    &data, &len, 0);

	if (r != STORE_OK)
		return r;
	memcpy(&rec, data, len < sizeof(rec) ? len : sizeof(rec));
	if (len < sizeof(rec) || rec.nrcpts != a->nrcpts || rec.nmemo != a->nmemo ||
	    len != sizeof(rec) + a->nrcpts * sizeof(struct sdb_token_rcpt) +
	    a->nmemo * sizeof(uint64_t)) {
		free(data);
		return STORE_CORRUPT;
	}
	const unsigned char *p = (const unsigned char *)data + sizeof(rec);
	for (size_t i = 0; i < a->nrcpts; i++) {
		struct sdb_token_rcpt tr;
		memcpy(&tr, p, sizeof(tr));
		p += sizeof(tr);
		a->rcpts[i].result_r = tr.result;
		a->rcpts[i].uid_r = tr.uid;
		a->rcpts[i].uidvalidity_r = tr.uidvalidity;
		if (tr.result == STORE_OK)
			sdb_changed(tx, a->users[i], tr.mbox_id);
	}
	if (a->nmemo > 0)
		memcpy(a->memo, p, a->nmemo * sizeof(uint64_t));
	free(data);
	log_warn("store: a delivery cut short by a recovery was already durable "
	    "(body %llu): not stored again", (unsigned long long)rec.body_id);
	return STORE_OK;
}

static void
token_make(struct deliver_arg *a)
{
	sdb_token_make(&a->token, &a->token_time);
}

struct prune_arg {
	uint64_t cutoff;
	size_t deleted;
};

#define SDB_PRUNE_BATCH 2000

static int
prune_tx(struct sdb_tx *tx, void *varg)
{
	struct prune_arg *a = varg;
	DBC *dbc;
	int r;

	a->deleted = 0;
	if ((r = tx->st->tokens->cursor(tx->st->tokens, tx->txn, &dbc, 0)) != 0)
		return sdb_map(r);
	for (;;) {
		DBT k = { .flags = DB_DBT_MALLOC }, d = { .flags = DB_DBT_MALLOC };
		r = dbc->get(dbc, &k, &d, DB_NEXT | DB_RMW);
		if (r != 0)
			break;
		bool old = k.size == sizeof(struct sdb_token_key) &&
		    ((uint64_t)sdb_get_be32(k.data) << 32 |
		    sdb_get_be32((unsigned char *)k.data + 4)) < a->cutoff;
		free(k.data);
		free(d.data);
		if (!old || a->deleted >= SDB_PRUNE_BATCH)
			break;
		if ((r = dbc->del(dbc, 0)) != 0)
			break;
		a->deleted++;
	}
	(void)dbc->close(dbc);
	return r == 0 || r == DB_NOTFOUND ? STORE_OK : sdb_map(r);
}

int
sdb_tokens_prune(struct store *st)
{
	time_t now = time(NULL);
	struct prune_arg a = { .cutoff = now > SDB_TOKEN_KEEP_SECS ?
	    (uint64_t)(now - SDB_TOKEN_KEEP_SECS) : 0 };
	int r;

	do
		r = sdb_run(st, true, prune_tx, &a);
	while (r == STORE_OK && a.deleted >= SDB_PRUNE_BATCH);
	return r;
}

static int
deliver_one(struct sdb_tx *tx, struct deliver_arg *a, size_t i, uint64_t body_id,
    struct sdb_mbox *mb)
{
	struct store_rcpt *rc = &a->rcpts[i];
	struct sdb_user u;
	struct sdb_counters usage, c;
	struct sdb_msg m = { 0 };
	bool dirty = false;
	int r;

	if (a->valid[i] != STORE_OK)
		return STORE_NOTFOUND;
	if ((r = user_exists(tx, a->users[i], &u, false)) != STORE_OK ||
	    (r = mbox_load(tx, a->users[i], a->names[i], mb, a->nkeywords > 0)) != STORE_OK)
		return r;
	if (mb->rec.attrs & MBOX_ATTR_NOSELECT)
		return STORE_NOTFOUND;
	if ((r = sdb_counters_get(tx, u.no, &usage, true)) != STORE_OK)
		return r;
	if (over_quota(&u, &usage, a->len, 1))
		return STORE_QUOTA;
	if ((r = keywords_bits(mb, a->keywords, a->nkeywords, true, &m.keywords,
	    &dirty)) != STORE_OK)
		return r;
	if (dirty && (r = mbox_save(tx, a->users[i], a->names[i], mb)) != STORE_OK)
		return r;
	if ((r = sdb_counters_get(tx, mb->rec.id, &c, true)) != STORE_OK)
		return r;
	m.flags = (rc->flags & (MSG_SEEN | MSG_ANSWERED | MSG_FLAGGED | MSG_DELETED |
	    MSG_DRAFT)) | MSG_RECENT;
	m.internal_date = (int64_t)a->date;
	m.size = a->len;
	m.body_id = body_id;
	if ((r = msg_append(tx, mb->rec.id, &c, &m, 0, &rc->uid_r)) != STORE_OK ||
	    (r = sdb_counters_put(tx, mb->rec.id, &c)) != STORE_OK)
		return r;
	usage.bytes += a->len;
	usage.messages++;
	if ((r = sdb_counters_put(tx, u.no, &usage)) != STORE_OK)
		return r;
	rc->uidvalidity_r = mb->rec.uidvalidity;
	a->mbox_ids[i] = mb->rec.id;
	sdb_changed(tx, a->users[i], mb->rec.id);
	return STORE_OK;
}

static int
deliver_tx(struct sdb_tx *tx, void *varg)
{
	struct deliver_arg *a = varg;
	struct sdb_mbox *mb = xmalloc(sizeof(*mb));
	uint64_t body_id;
	uint32_t delivered = 0;
	int r, first = STORE_NOTFOUND;

	if (tx->redo) {
		/* the first run's commit was cut short: is it durable? */
		r = token_replay(tx, a);
		if (r != STORE_NOTFOUND)
			goto out;
		if (time(NULL) - a->token_time > SDB_TOKEN_KEEP_SECS) {
			/* its token may be pruned already: outcome unknown */
			log_error("store: a delivery rerun after %lld s cannot tell "
			    "whether its first run is stored; not storing it again",
			    (long long)(time(NULL) - a->token_time));
			r = STORE_IO;
			goto out;
		}
	}
	if ((r = sdb_seq_next(tx->st->seq_body, &body_id)) != STORE_OK)
		goto out;
	/* before the messages: sdb_fts_add reads them */
	if (a->indexed && (r = sdb_fts_body_put(tx, body_id, a->terms, a->nterms)) != STORE_OK)
		goto out;
	for (size_t i = 0; i < a->nrcpts; i++) {
		struct store_rcpt *rc = &a->rcpts[i];
		rc->uid_r = rc->uidvalidity_r = 0;
		a->mbox_ids[i] = 0;
		r = deliver_one(tx, a, i, body_id, mb);
		rc->result_r = r;
		if (r == STORE_OK) {
			delivered++;
			continue;
		}
		if (r != STORE_NOTFOUND && r != STORE_QUOTA)
			goto out;          /* deadlock, I/O: the whole call */
		if (a->aon)
			goto out;
		if (delivered == 0 && first == STORE_NOTFOUND)
			first = r;
	}
	if (delivered == 0 && a->extra_refs == 0) {
		r = first;
		goto out;
	}
	if (a->extra != NULL && (r = a->extra(tx, body_id, a->extra_arg)) != STORE_OK)
		goto out;
	r = sdb_body_put(tx, body_id, a->data, a->len, a->cache, a->cachelen,
	    delivered + a->extra_refs);
	if (r == STORE_OK)
		r = token_save(tx, a, body_id);
out:
	free(mb);
	return r;
}

/* ---- group delivery ----
 *
 * Concurrent deliveries commit together: the first caller that finds no
 * batch running leads one. It takes every delivery waiting (itself first,
 * at most SDB_DQ_BATCH_MAX), runs them all in one transaction, and as soon
 * as that is committed (not yet flushed) hands the lead to the first
 * delivery that queued meanwhile; then it waits for the log flush and
 * wakes its batch, each with its own result. So N concurrent messages
 * cost one transaction and one log flush instead of N of each, and they
 * no longer queue one behind another on the same records (the mailbox's
 * counters, the right edge of msgs.db and bodies.db) or on Berkeley DB's
 * flush and region mutexes: with 50 SMTP clients those waits were most of
 * the daemon's context switches. Nothing waits for a batch to fill: a
 * delivery that comes alone is a batch of one.
 *
 * Each delivery keeps its own token, so a rerun after a recovery stores
 * none twice (deliver_tx). Each runs in a child transaction: one that
 * fails on its own (unknown mailbox, quota) is aborted alone, leaves
 * nothing, and gets the result it would have had alone, after the
 * deliveries ahead of it. Errors of the transaction (deadlock: the whole
 * batch runs again; I/O) are every member's. */

#define SDB_DQ_BATCH_MAX 32

struct sdb_dq_ent {
	struct deliver_arg *a;
	int body_fd;               /* the caller's store_body_file() */
	uint64_t body_off;
	int result;
	bool done;                 /* result set, by the batch's leader */
	bool lead;                 /* handed the lead: take the next batch */
	bool alone;                /* failed on its own: out of the batch */
	pthread_cond_t cond;
	struct sdb_dq_ent *next;
};

struct sdb_dq_batch {
	struct store *st;
	struct sdb_dq_ent *ents[SDB_DQ_BATCH_MAX];
	size_t n;
	bool handed;
};

/* Under dq_mu: the lead goes to the first delivery waiting, or nobody. */
static void
dq_pass_lead(struct store *st)
{
	if (st->dq_head != NULL) {
		st->dq_head->lead = true;
		pthread_cond_signal(&st->dq_head->cond);
	} else
		st->dq_leading = false;
}

static void
dq_committed(void *arg)
{
	struct sdb_dq_batch *b = arg;
	if (b->handed)
		return;
	b->handed = true;
	pthread_mutex_lock(&b->st->dq_mu);
	dq_pass_lead(b->st);
	pthread_mutex_unlock(&b->st->dq_mu);
}

/* A delivery's own failure (it leaves the batch), or the transaction's. */
static bool
dq_own_error(int r)
{
	return r != SDB_RETRY && r != SDB_TIMEOUT && r != SDB_RECOVER && r != SDB_PROBE &&
	    r != STORE_IO && r != STORE_CORRUPT && r != STORE_LOCKED;
}

/* Each delivery in a child transaction of the batch's: one that fails
 * on its own is aborted alone and leaves nothing, the others go on. */
static int
dq_batch_tx(struct sdb_tx *tx, void *varg)
{
	struct sdb_dq_batch *b = varg;
	DB_TXN *parent = tx->txn;

	for (size_t i = 0; i < b->n; i++) {
		struct sdb_dq_ent *e = b->ents[i];
		size_t nchanges = tx->nchanges;
		DB_TXN *child;
		int r = sdb_map(tx->st->env->txn_begin(tx->st->env, parent, &child, 0));

		if (r != STORE_OK)
			return r;
		e->alone = false;      /* an earlier attempt's result is not this one's */
		tx->txn = child;
		store_body_file(e->body_fd, e->body_off);
		r = deliver_tx(tx, e->a);
		store_body_file(-1, 0);
		tx->txn = parent;
		if (r == STORE_OK)
			r = sdb_map(child->commit(child, 0));
		else if (!atomic_load(&tx->st->panicked)) {
			(void)child->abort(child);
			tx->nchanges = nchanges;
		}
		if (r == STORE_OK)
			continue;
		if (!dq_own_error(r))
			return r;        /* the whole batch's: runs again or fails */
		e->alone = true;
		e->result = r;
	}
	return STORE_OK;
}

/* Runs e's delivery in a batch (led by this thread or another). */
static int
deliver_grouped(struct store *st, struct deliver_arg *a)
{
	struct sdb_dq_ent me = { .a = a };
	struct sdb_dq_batch b = { .st = st };
	int r;

	sdb_body_file_get(&me.body_fd, &me.body_off);
	pthread_cond_init(&me.cond, NULL);
	pthread_mutex_lock(&st->dq_mu);
	if (st->dq_tail != NULL)
		st->dq_tail->next = &me;
	else
		st->dq_head = &me;
	st->dq_tail = &me;
	if (!st->dq_leading) {
		st->dq_leading = true;
		me.lead = true;
	}
	while (!me.done && !me.lead)
		pthread_cond_wait(&me.cond, &st->dq_mu);
	if (me.done) {
		pthread_mutex_unlock(&st->dq_mu);
		pthread_cond_destroy(&me.cond);
		return me.result;
	}
	/* the lead: this batch is the queue's head, this delivery first */
	while (st->dq_head != NULL && b.n < SDB_DQ_BATCH_MAX) {
		b.ents[b.n++] = st->dq_head;
		st->dq_head = st->dq_head->next;
	}
	if (st->dq_head == NULL)
		st->dq_tail = NULL;
	pthread_mutex_unlock(&st->dq_mu);
	atomic_fetch_add(&st->dq_batches, 1);
	atomic_fetch_add(&st->dq_batched, b.n);

	r = sdb_run_committed(st, dq_batch_tx, &b, dq_committed, &b);
	dq_committed(&b);       /* nothing committed (an error): pass it now */
	store_body_file(me.body_fd, me.body_off);

	pthread_mutex_lock(&st->dq_mu);
	for (size_t i = 0; i < b.n; i++) {
		struct sdb_dq_ent *e = b.ents[i];
		if (!e->alone)
			e->result = r;
		e->done = true;
		if (e != &me)
			pthread_cond_signal(&e->cond);
	}
	pthread_mutex_unlock(&st->dq_mu);
	pthread_cond_destroy(&me.cond);
	return me.result;
}

void
store_delivery_stats(struct store *st, uint64_t *batches_r, uint64_t *deliveries_r)
{
	*batches_r = atomic_load(&st->dq_batches);
	*deliveries_r = atomic_load(&st->dq_batched);
}

void
sdb_dq_test_hold(struct store *st, bool hold)
{
	pthread_mutex_lock(&st->dq_mu);
	if (hold)
		st->dq_leading = true;
	else
		dq_pass_lead(st);
	pthread_mutex_unlock(&st->dq_mu);
}

size_t
sdb_dq_waiting(struct store *st)
{
	size_t n = 0;
	pthread_mutex_lock(&st->dq_mu);
	for (struct sdb_dq_ent *e = st->dq_head; e != NULL; e = e->next)
		n++;
	pthread_mutex_unlock(&st->dq_mu);
	return n;
}

int
store_deliver(struct store *st, struct store_rcpt *rcpts, size_t nrcpts,
    const void *data, size_t len, time_t internal_date,
    const void *cache, size_t cachelen,
    const char *const *keywords, size_t nkeywords, bool all_or_nothing)
{
	return sdb_deliver(st, rcpts, nrcpts, data, len, internal_date, cache,
	    cachelen, keywords, nkeywords, all_or_nothing, 0, NULL, NULL, NULL, 0);
}

int
sdb_deliver(struct store *st, struct store_rcpt *rcpts, size_t nrcpts,
    const void *data, size_t len, time_t internal_date,
    const void *cache, size_t cachelen, const char *const *keywords,
    size_t nkeywords, bool all_or_nothing, uint32_t extra_refs,
    sdb_deliver_extra_fn *fn, void *fnarg, uint64_t *memo, size_t nmemo)
{
	struct deliver_arg a = { .rcpts = rcpts, .nrcpts = nrcpts, .data = data,
	    .len = len, .date = internal_date, .cache = cache, .cachelen = cachelen,
	    .keywords = keywords, .nkeywords = nkeywords, .aon = all_or_nothing,
	    .extra_refs = extra_refs, .extra = fn, .extra_arg = fnarg,
	    .memo = memo, .nmemo = memo != NULL ? nmemo : 0 };
	int r;

	if ((nrcpts == 0 && extra_refs == 0) ||
	    len > UINT32_MAX * (uint64_t)SDB_CHUNK_BYTES)
		return STORE_INVALID;
	if ((r = keywords_check(keywords, nkeywords)) != STORE_OK)
		return r;
	a.users = xmalloc(nrcpts * sizeof(*a.users));
	a.names = xmalloc(nrcpts * sizeof(*a.names));
	a.valid = xmalloc(nrcpts * sizeof(*a.valid));
	a.mbox_ids = xcalloc(nrcpts ? nrcpts : 1, sizeof(*a.mbox_ids));
	token_make(&a);
	for (size_t i = 0; i < nrcpts; i++) {
		a.valid[i] = STORE_INVALID;
		rcpts[i].result_r = STORE_NOTFOUND;
		rcpts[i].uid_r = rcpts[i].uidvalidity_r = 0;
		if (rcpts[i].user == NULL || !sdb_address_norm(rcpts[i].user, a.users[i]))
			continue;
		a.valid[i] = mbox_name_norm(rcpts[i].mailbox != NULL ?
		    rcpts[i].mailbox : "INBOX", a.names[i]);
	}
	deliver_terms(&a);
	r = fn == NULL && memo == NULL ?
	    deliver_grouped(st, &a) : sdb_run(st, true, deliver_tx, &a);
	free(a.terms);
	if (r != STORE_OK)
		for (size_t i = 0; i < nrcpts; i++)
			if (rcpts[i].result_r == STORE_OK) {
				rcpts[i].result_r = r;
				rcpts[i].uid_r = rcpts[i].uidvalidity_r = 0;
			}
	free(a.users);
	free(a.names);
	free(a.valid);
	free(a.mbox_ids);
	return r;
}

/* ---- MULTIAPPEND: several deliveries in one transaction ---- */

struct multi_arg {
	struct deliver_arg *a;    /* one per message, one recipient each */
	size_t n;
	const struct store_append *msgs;  /* spooled bodies */
};

static int
multi_tx(struct sdb_tx *tx, void *varg)
{
	struct multi_arg *m = varg;
	for (size_t i = 0; i < m->n; i++) {
		if (m->msgs[i].spooled)
			store_body_file(m->msgs[i].spool_fd, 0);
		int r = deliver_tx(tx, &m->a[i]);
		store_body_file(-1, 0);
		if (r != STORE_OK)
			return r;
		if (m->a[i].rcpts[0].result_r != STORE_OK)
			return m->a[i].rcpts[0].result_r;
	}
	return STORE_OK;
}

int
store_append_multi(struct store *st, const char *user, const char *mailbox,
    struct store_append *msgs, size_t n, uint32_t *uidvalidity_r)
{
	struct multi_arg m = { .n = n, .msgs = msgs };
	char (*users)[ADDRESS_MAX_BYTES + 1] = xmalloc(sizeof(*users));
	char (*names)[STORE_MBOX_NAME_MAX] = xmalloc(sizeof(*names));
	struct store_rcpt *rc = xcalloc(n ? n : 1, sizeof(*rc));
	uint32_t *mbox_ids = xcalloc(n ? n : 1, sizeof(*mbox_ids));
	int valid = STORE_INVALID, r = STORE_OK;

	*uidvalidity_r = 0;
	if (n == 0 || !sdb_address_norm(user, users[0]))
		r = STORE_INVALID;
	if (r == STORE_OK)
		valid = mbox_name_norm(mailbox ? mailbox : "INBOX", names[0]);
	m.a = xcalloc(n ? n : 1, sizeof(*m.a));
	for (size_t i = 0; r == STORE_OK && i < n; i++) {
		msgs[i].uid_r = 0;
		if (msgs[i].len > UINT32_MAX * (uint64_t)SDB_CHUNK_BYTES)
			r = STORE_INVALID;
		else
			r = keywords_check(msgs[i].keywords, msgs[i].nkeywords);
		rc[i].user = user;
		rc[i].mailbox = mailbox;
		rc[i].flags = msgs[i].flags;
		m.a[i] = (struct deliver_arg){ .rcpts = &rc[i], .nrcpts = 1,
		    .users = users, .names = names, .valid = &valid,
		    .data = msgs[i].spooled ? NULL : msgs[i].data, .len = msgs[i].len,
		    .date = msgs[i].internal_date,
		    .cache = msgs[i].cache, .cachelen = msgs[i].cachelen,
		    .keywords = msgs[i].keywords, .nkeywords = msgs[i].nkeywords,
		    .aon = true, .mbox_ids = &mbox_ids[i] };
		/* each message its own token: a rerun stores none twice */
		token_make(&m.a[i]);
		deliver_terms(&m.a[i]);
	}
	if (r == STORE_OK)
		r = sdb_run(st, true, multi_tx, &m);
	for (size_t i = 0; i < n; i++)
		free(m.a[i].terms);
	if (r == STORE_OK) {
		for (size_t i = 0; i < n; i++)
			msgs[i].uid_r = rc[i].uid_r;
		*uidvalidity_r = rc[0].uidvalidity_r;
	}
	free(m.a);
	free(rc);
	free(mbox_ids);
	free(users);
	free(names);
	return r;
}

/* ---- flags ---- */

struct flags_arg {
	struct mb_arg mb;
	const uint32_t *uids;
	size_t nuids;
	enum store_flag_op op;
	uint32_t flags;
	const char *const *keywords;
	size_t nkeywords;
	uint64_t unchangedsince;
	uint32_t *failed;
	size_t nfailed;
};

static int
flags_tx(struct sdb_tx *tx, void *varg)
{
	struct flags_arg *a = varg;
	struct sdb_mbox *mb = xmalloc(sizeof(*mb));
	struct sdb_counters c;
	uint64_t kw;
	bool dirty = false, changed = false;
	int r;

	a->nfailed = 0;
	if ((r = mbox_load(tx, a->mb.user, a->mb.name, mb, a->op != STORE_FLAGS_DEL &&
	    a->nkeywords > 0)) != STORE_OK)
		goto out;
	if (mb->rec.attrs & MBOX_ATTR_NOSELECT) {
		r = STORE_NOTFOUND;
		goto out;
	}
	if ((r = keywords_bits(mb, a->keywords, a->nkeywords, a->op != STORE_FLAGS_DEL,
	    &kw, &dirty)) != STORE_OK)
		goto out;
	if (dirty && (r = mbox_save(tx, a->mb.user, a->mb.name, mb)) != STORE_OK)
		goto out;
	if ((r = sdb_counters_get(tx, mb->rec.id, &c, true)) != STORE_OK)
		goto out;
	for (size_t i = 0; i < a->nuids; i++) {
		struct sdb_msg m;
		unsigned char key[8];
		uint32_t nf;
		uint64_t nk;

		r = msg_get(tx, mb->rec.id, a->uids[i], &m, true);
		if (r == STORE_NOTFOUND)
			continue;
		if (r != STORE_OK)
			goto out;
		if (a->unchangedsince != 0 && m.modseq > a->unchangedsince) {
			if (a->failed != NULL)
				a->failed[a->nfailed] = a->uids[i];
			a->nfailed++;
			continue;
		}
		switch (a->op) {
		case STORE_FLAGS_SET:
			nf = (a->flags & ~MSG_RECENT) | (m.flags & MSG_RECENT);
			nk = kw;
			break;
		case STORE_FLAGS_ADD:
			nf = m.flags | a->flags;
			nk = m.keywords | kw;
			break;
		default:
			nf = m.flags & ~a->flags;
			nk = m.keywords & ~kw;
			break;
		}
		if (nf == m.flags && nk == m.keywords)
			continue;
		count_add(&c, &m, -1);
		/* \Recent is no metadata change: a session taking it must not
		 * make the message look changed to CONDSTORE (RFC 7162 3.1) */
		if (((nf ^ m.flags) & ~(uint32_t)MSG_RECENT) != 0 || nk != m.keywords) {
			uint64_t old = m.modseq;
			m.modseq = ++c.highestmodseq;
			if ((r = sdb_modseq_log(tx, mb->rec.id, old, m.modseq,
			    a->uids[i])) != STORE_OK)
				goto out;
		}
		m.flags = nf;
		m.keywords = nk;
		count_add(&c, &m, 1);
		msg_key(key, mb->rec.id, a->uids[i]);
		if ((r = sdb_put(tx->st->msgs, tx->txn, key, 8, &m, sizeof(m))) != STORE_OK)
			goto out;
		changed = true;
	}
	r = STORE_OK;
	if (changed) {
		r = sdb_counters_put(tx, mb->rec.id, &c);
		sdb_changed_flags(tx, a->mb.user, mb->rec.id);
	}
out:
	free(mb);
	return r;
}

int
store_flags_update(struct store *st, const char *user, const char *mailbox,
    const uint32_t *uids, size_t nuids, enum store_flag_op op,
    uint32_t flags, const char *const *keywords, size_t nkeywords,
    uint64_t unchangedsince, uint32_t *failed_r, size_t *nfailed_r)
{
	struct flags_arg *a = xcalloc(1, sizeof(*a));
	int r = mb_arg_init(&a->mb, user, mailbox);

	if (nfailed_r != NULL)
		*nfailed_r = 0;
	if (r == STORE_OK)
		r = keywords_check(keywords, nkeywords);
	a->uids = uids;
	a->nuids = nuids;
	a->op = op;
	a->flags = flags & (MSG_SEEN | MSG_ANSWERED | MSG_FLAGGED | MSG_DELETED |
	    MSG_DRAFT | MSG_RECENT);
	a->keywords = keywords;
	a->nkeywords = nkeywords;
	a->unchangedsince = unchangedsince;
	a->failed = failed_r;
	if (r == STORE_OK)
		r = sdb_run_once(st, flags_tx, a);
	if (r == STORE_OK && nfailed_r != NULL)
		*nfailed_r = a->nfailed;
	free(a);
	return r;
}

/* ---- \Recent ---- */

struct recent_arg {
	struct mb_arg mb;
	const uint32_t *uids;
	size_t nuids;
	uint32_t *claimed;
	size_t nclaimed;
};

static int
recent_tx(struct sdb_tx *tx, void *varg)
{
	struct recent_arg *a = varg;
	struct sdb_mbox *mb = xmalloc(sizeof(*mb));
	struct sdb_counters c;
	int r;

	a->nclaimed = 0;   /* a deadlock retry starts again */
	if ((r = mbox_load(tx, a->mb.user, a->mb.name, mb, false)) != STORE_OK)
		goto out;
	if ((r = sdb_counters_get(tx, mb->rec.id, &c, true)) != STORE_OK)
		goto out;
	for (size_t i = 0; i < a->nuids; i++) {
		struct sdb_msg m;
		unsigned char key[8];

		r = msg_get(tx, mb->rec.id, a->uids[i], &m, true);
		if (r == STORE_NOTFOUND)
			continue;
		if (r != STORE_OK)
			goto out;
		if (!(m.flags & MSG_RECENT))
			continue;
		count_add(&c, &m, -1);
		m.flags &= ~(uint32_t)MSG_RECENT;
		count_add(&c, &m, 1);
		msg_key(key, mb->rec.id, a->uids[i]);
		if ((r = sdb_put(tx->st->msgs, tx->txn, key, 8, &m, sizeof(m))) != STORE_OK)
			goto out;
		a->claimed[a->nclaimed++] = a->uids[i];
	}
	r = a->nclaimed > 0 ? sdb_counters_put(tx, mb->rec.id, &c) : STORE_OK;
out:
	free(mb);
	return r;
}

int
store_recent_claim(struct store *st, const char *user, const char *mailbox,
    const uint32_t *uids, size_t nuids, uint32_t *claimed_r, size_t *nclaimed_r)
{
	struct recent_arg *a = xcalloc(1, sizeof(*a));
	int r = mb_arg_init(&a->mb, user, mailbox);

	*nclaimed_r = 0;
	a->uids = uids;
	a->nuids = nuids;
	a->claimed = claimed_r;
	if (r == STORE_OK && nuids > 0)
		r = sdb_run_once(st, recent_tx, a);
	if (r == STORE_OK)
		*nclaimed_r = a->nclaimed;
	free(a);
	return r;
}

/* ---- copy, move, expunge ---- */

struct copy_arg {
	struct mb_arg mb;          /* name: source, name2: destination */
	const uint32_t *uids;
	size_t nuids;
	uint32_t *new_uids;
	uint32_t uidvalidity;
	bool move;
};

static int
copy_tx(struct sdb_tx *tx, void *varg)
{
	struct copy_arg *a = varg;
	struct sdb_mbox *src = xmalloc(sizeof(*src)), *dst = xmalloc(sizeof(*dst));
	struct sdb_counters cs, cd_own, *cd, usage;
	struct sdb_user u;
	bool same = strcmp(a->mb.name, a->mb.name2) == 0, dirty = false, any = false;
	int r;

	if ((r = user_exists(tx, a->mb.user, &u, false)) != STORE_OK ||
	    (r = mbox_load(tx, a->mb.user, a->mb.name, src, false)) != STORE_OK ||
	    (r = mbox_load(tx, a->mb.user, a->mb.name2, dst, true)) != STORE_OK)
		goto out;
	if ((src->rec.attrs | dst->rec.attrs) & MBOX_ATTR_NOSELECT) {
		r = STORE_NOTFOUND;
		goto out;
	}
	if ((r = sdb_counters_get(tx, src->rec.id, &cs, true)) != STORE_OK ||
	    (r = sdb_counters_get(tx, u.no, &usage, true)) != STORE_OK)
		goto out;
	cd = &cs;
	if (!same) {
		if ((r = sdb_counters_get(tx, dst->rec.id, &cd_own, true)) != STORE_OK)
			goto out;
		cd = &cd_own;
	}
	for (size_t i = 0; i < a->nuids; i++) {
		struct sdb_msg m;
		const char *names[STORE_KEYWORDS_MAX];
		size_t nn = 0;
		uint32_t uid = a->uids[i];

		if (a->new_uids != NULL)
			a->new_uids[i] = 0;
		r = msg_get(tx, src->rec.id, uid, &m, a->move);
		if (r == STORE_NOTFOUND)
			continue;
		if (r != STORE_OK)
			goto out;
		if (!a->move && over_quota(&u, &usage, m.size, 1)) {
			r = STORE_QUOTA;
			goto out;
		}
		for (uint32_t j = 0; j < src->rec.nkeywords; j++)
			if (m.keywords & ((uint64_t)1 << j))
				names[nn++] = src->kw[j];
		if (a->move && (r = msg_remove(tx, src->rec.id, &cs, uid, &m)) != STORE_OK)
			goto out;
		if ((r = keywords_bits(dst, names, nn, true, &m.keywords, &dirty)) != STORE_OK)
			goto out;
		m.flags |= MSG_RECENT;
		uint32_t nuid;
		if ((r = msg_append(tx, dst->rec.id, cd, &m, 0, &nuid)) != STORE_OK)
			goto out;
		if (a->new_uids != NULL)
			a->new_uids[i] = nuid;
		if (!a->move) {
			if ((r = sdb_body_ref(tx, m.body_id, 1)) != STORE_OK)
				goto out;
			usage.bytes += m.size;
			usage.messages++;
		}
		any = true;
	}
	a->uidvalidity = dst->rec.uidvalidity;
	r = STORE_OK;
	if (!any)
		goto out;
	if (dirty && (r = mbox_save(tx, a->mb.user, a->mb.name2, dst)) != STORE_OK)
		goto out;
	if ((r = sdb_counters_put(tx, src->rec.id, &cs)) != STORE_OK ||
	    (!same && (r = sdb_counters_put(tx, dst->rec.id, cd)) != STORE_OK) ||
	    (r = sdb_counters_put(tx, u.no, &usage)) != STORE_OK)
		goto out;
	if (a->move)
		sdb_changed(tx, a->mb.user, src->rec.id);
	sdb_changed(tx, a->mb.user, dst->rec.id);
out:
	free(src);
	free(dst);
	return r;
}

static int
copy_move(struct store *st, const char *user, const char *src,
    const uint32_t *uids, size_t nuids, const char *dst,
    uint32_t *new_uids_r, uint32_t *dst_uidvalidity_r, bool move)
{
	struct copy_arg *a = xcalloc(1, sizeof(*a));
	int r = mb_arg_init(&a->mb, user, src);

	if (r == STORE_OK)
		r = mbox_name_norm(dst, a->mb.name2);
	a->uids = uids;
	a->nuids = nuids;
	a->new_uids = new_uids_r;
	a->move = move;
	if (r == STORE_OK)
		r = sdb_run_once(st, copy_tx, a);
	if (dst_uidvalidity_r != NULL)
		*dst_uidvalidity_r = r == STORE_OK ? a->uidvalidity : 0;
	if (r != STORE_OK && new_uids_r != NULL)
		memset(new_uids_r, 0, nuids * sizeof(*new_uids_r));
	free(a);
	return r;
}

int
store_copy(struct store *st, const char *user, const char *src,
    const uint32_t *uids, size_t nuids, const char *dst,
    uint32_t *new_uids_r, uint32_t *dst_uidvalidity_r)
{
	return copy_move(st, user, src, uids, nuids, dst, new_uids_r,
	    dst_uidvalidity_r, false);
}

int
store_move(struct store *st, const char *user, const char *src,
    const uint32_t *uids, size_t nuids, const char *dst,
    uint32_t *new_uids_r, uint32_t *dst_uidvalidity_r)
{
	return copy_move(st, user, src, uids, nuids, dst, new_uids_r,
	    dst_uidvalidity_r, true);
}

struct expunge_arg {
	struct mb_arg mb;
	const uint32_t *uids;
	size_t nuids;
};

static int
expunge_tx(struct sdb_tx *tx, void *varg)
{
	struct expunge_arg *a = varg;
	struct sdb_mbox *mb = xmalloc(sizeof(*mb));
	struct sdb_counters c;
	struct sdb_user u;
	int64_t bytes = 0, msgs = 0;
	int r;

	if ((r = user_exists(tx, a->mb.user, &u, false)) != STORE_OK ||
	    (r = mbox_load(tx, a->mb.user, a->mb.name, mb, false)) != STORE_OK ||
	    (r = sdb_counters_get(tx, mb->rec.id, &c, true)) != STORE_OK)
		goto out;
	for (size_t i = 0; i < a->nuids; i++) {
		struct sdb_msg m;
		r = msg_get(tx, mb->rec.id, a->uids[i], &m, true);
		if (r == STORE_NOTFOUND)
			continue;
		if (r != STORE_OK ||
		    (r = msg_remove(tx, mb->rec.id, &c, a->uids[i], &m)) != STORE_OK ||
		    (r = sdb_body_ref(tx, m.body_id, -1)) != STORE_OK)
			goto out;
		bytes += (int64_t)m.size;
		msgs++;
	}
	r = STORE_OK;
	if (msgs == 0)
		goto out;
	if ((r = sdb_counters_put(tx, mb->rec.id, &c)) != STORE_OK ||
	    (r = usage_add(tx, &u, -bytes, -msgs)) != STORE_OK)
		goto out;
	sdb_changed(tx, a->mb.user, mb->rec.id);
out:
	free(mb);
	return r;
}

int
store_expunge(struct store *st, const char *user, const char *mailbox,
    const uint32_t *uids, size_t nuids)
{
	struct expunge_arg *a = xcalloc(1, sizeof(*a));
	int r = mb_arg_init(&a->mb, user, mailbox);
	a->uids = uids;
	a->nuids = nuids;
	if (r == STORE_OK)
		r = sdb_run_once(st, expunge_tx, a);
	free(a);
	return r;
}
