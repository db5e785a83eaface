/* store-queue.c: the outbound queue in queue.db: entries added together
 * with a message's local deliveries, read, updated after each attempt
 * and removed when no recipient is pending any more.
 *
 * The one idea: an entry is one record, keyed by its id (big-endian, so
 * ids walk in arrival order), holding a fixed header (struct sdb_qhdr)
 * and then its strings; the scheduler reads only the header (a partial
 * get), everything else reads the whole record. Each entry holds one
 * reference on the message body, released in the transaction that
 * removes it. */
#include "store/store-int.h"
#include "lib/log.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>

#define SDB_QUEUE_VERSION 1

struct sdb_qhdr {
	uint32_t version;
	uint32_t flags;
	uint32_t attempts;
	uint32_t nrcpts;
	int64_t created;
	int64_t next_attempt;
	int64_t last_attempt;
	uint64_t body_id;
	uint64_t skip;
	uint64_t size;
	/* then: sender NUL domain NUL error NUL mta NUL, and per recipient
	 * one state byte, address NUL, reply NUL */
};

/* ---- records ---- */

static void
put_str(struct mm_buf *b, const char *s, size_t max)
{
	size_t n = strnlen(s, max - 1);
	mm_buf_append(b, s, n);
	mm_buf_appendc(b, '\0');
}

static void
qentry_encode(const struct store_qentry *e, struct mm_buf *b)
{
	struct sdb_qhdr h = {
		.version = SDB_QUEUE_VERSION, .flags = e->flags,
		.attempts = e->attempts, .nrcpts = (uint32_t)e->nrcpts,
		.created = e->created, .next_attempt = e->next_attempt,
		.last_attempt = e->last_attempt, .body_id = e->body_id,
		.skip = e->skip, .size = e->size,
	};
	mm_buf_append(b, &h, sizeof(h));
	put_str(b, e->sender, sizeof(e->sender));
	put_str(b, e->domain, sizeof(e->domain));
	put_str(b, e->error, sizeof(e->error));
	put_str(b, e->mta, sizeof(e->mta));
	for (size_t i = 0; i < e->nrcpts; i++) {
		mm_buf_appendc(b, (char)e->rcpts[i].state);
		put_str(b, e->rcpts[i].address, sizeof(e->rcpts[i].address));
		put_str(b, e->rcpts[i].reply, sizeof(e->rcpts[i].reply));
	}
}

/* Copies the NUL-terminated string at *p (before end) into dst. */
static bool
get_str(const char **p, const char *end, char *dst, size_t dstlen)
{
	const char *z = memchr(*p, '\0', (size_t)(end - *p));
	if (z == NULL || (size_t)(z - *p) >= dstlen)
		return false;
	memcpy(dst, *p, (size_t)(z - *p) + 1);
	*p = z + 1;
	return true;
}

static int
qentry_decode(uint64_t id, const void *data, size_t len, struct store_qentry **e_r)
{
	struct sdb_qhdr h;
	struct store_qentry *e;
	const char *p = (const char *)data + sizeof(h), *end = (const char *)data + len;

	*e_r = NULL;
	if (len < sizeof(h))
		return STORE_CORRUPT;
	memcpy(&h, data, sizeof(h));
	if (h.version != SDB_QUEUE_VERSION || h.nrcpts > STORE_QUEUE_RCPTS_MAX)
		return STORE_CORRUPT;
	e = xcalloc(1, sizeof(*e));
	e->id = id;
	e->flags = h.flags;
	e->attempts = h.attempts;
	e->created = (time_t)h.created;
	e->next_attempt = (time_t)h.next_attempt;
	e->last_attempt = (time_t)h.last_attempt;
	e->body_id = h.body_id;
	e->skip = h.skip;
	e->size = h.size;
	e->nrcpts = h.nrcpts;
	e->rcpts = xcalloc(h.nrcpts ? h.nrcpts : 1, sizeof(*e->rcpts));
	bool ok = get_str(&p, end, e->sender, sizeof(e->sender)) &&
	    get_str(&p, end, e->domain, sizeof(e->domain)) &&
	    get_str(&p, end, e->error, sizeof(e->error)) &&
	    get_str(&p, end, e->mta, sizeof(e->mta));
	for (size_t i = 0; ok && i < e->nrcpts; i++) {
		if (p >= end || (unsigned char)*p > STORE_Q_FAILED) {
			ok = false;
			break;
		}
		e->rcpts[i].state = (unsigned char)*p++;
		ok = get_str(&p, end, e->rcpts[i].address, sizeof(e->rcpts[i].address)) &&
		    get_str(&p, end, e->rcpts[i].reply, sizeof(e->rcpts[i].reply));
	}
	if (!ok) {
		store_qentry_free(&e);
		return STORE_CORRUPT;
	}
	*e_r = e;
	return STORE_OK;
}

void
store_qentry_free(struct store_qentry **ep)
{
	struct store_qentry *e = *ep;
	if (e == NULL)
		return;
	free(e->rcpts);
	free(e);
	*ep = NULL;
}

static int
qentry_load(struct sdb_tx *tx, uint64_t id, struct store_qentry **e_r, bool rmw)
{
	unsigned char key[8];
	void *data;
	size_t len;
	int r;

	sdb_be64(key, id);
	r = sdb_get_alloc(tx->st->queue, tx->txn, key, 8, &data, &len, rmw ? DB_RMW : 0);
	if (r != STORE_OK)
		return r;
	r = qentry_decode(id, data, len, e_r);
	free(data);
	return r;
}

static int
qentry_save(struct sdb_tx *tx, const struct store_qentry *e)
{
	unsigned char key[8];
	struct mm_buf b;
	int r;

	sdb_be64(key, e->id);
	mm_buf_init(&b);
	qentry_encode(e, &b);
	r = sdb_put(tx->st->queue, tx->txn, key, 8, b.data, b.len);
	mm_buf_free(&b);
	return r;
}

static int
qentry_remove(struct sdb_tx *tx, uint64_t id, uint64_t body_id)
{
	unsigned char key[8];
	int r;

	sdb_be64(key, id);
	if ((r = sdb_del(tx->st->queue, tx->txn, key, 8)) != STORE_OK)
		return r;
	return sdb_body_ref(tx, body_id, -1);
}

/* ---- adding ---- */

struct qadd_arg {
	const struct store_qnew *q;
	size_t len;
	time_t now;
	char (*addrs)[ADDRESS_MAX_BYTES + 1];   /* normalised, grouped by domain */
	size_t *group;          /* entry index of each address */
	size_t ngroups;
	uint64_t *ids;
	char (*xaddrs)[ADDRESS_MAX_BYTES + 1];  /* the extras' recipients, normalised */
};

static const char *
addr_domain(const char *a)
{
	const char *at = strrchr(a, '@');
	return at != NULL ? at + 1 : "";
}

/* A remote address is kept as given (its local part is the remote
 * server's business, RFC 5321 2.4) but for a lower-cased domain; it must
 * be local@domain within the RFC 5321 lengths, without control bytes. */
static bool
remote_addr_norm(const char *in, char out[ADDRESS_MAX_BYTES + 1])
{
	size_t n = strnlen(in, ADDRESS_MAX_BYTES + 1);
	const char *at = strrchr(in, '@');

	if (n > ADDRESS_MAX_BYTES || at == NULL || at == in ||
	    (size_t)(at - in) > SDB_ADDR_LOCAL_MAX || at[1] == '\0' ||
	    n - (size_t)(at - in) - 1 > SDB_ADDR_DOMAIN_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)in[i] < 0x20 || in[i] == 0x7f)
			return false;
	memcpy(out, in, n + 1);
	mm_strlower(out + (at - in));
	return true;
}

/* Runs inside the delivery's transaction (sdb_deliver's hook). */
static int
qadd_tx(struct sdb_tx *tx, uint64_t body_id, void *varg)
{
	struct qadd_arg *a = varg;
	const struct store_qnew *q = a->q;
	int r = STORE_OK;

	for (size_t g = 0; g < a->ngroups && r == STORE_OK; g++) {
		struct store_qentry e;
		size_t n = 0;

		memset(&e, 0, sizeof(e));
		if ((r = sdb_seq_next(tx->st->seq_queue, &e.id)) != STORE_OK)
			break;
		a->ids[g] = e.id;
		mm_strlcpy(e.sender, q->sender != NULL ? q->sender : "", sizeof(e.sender));
		e.created = e.next_attempt = a->now;
		e.flags = q->flags & (STORE_QF_8BIT | STORE_QF_SMTPUTF8);
		e.body_id = body_id;
		e.skip = q->skip <= a->len ? q->skip : 0;
		e.size = a->len - e.skip;
		for (size_t i = 0; i < q->nrcpts; i++)
			n += a->group[i] == g;
		e.rcpts = xcalloc(n, sizeof(*e.rcpts));
		for (size_t i = 0; i < q->nrcpts; i++) {
			if (a->group[i] != g)
				continue;
			if (e.nrcpts == 0)
				mm_strlcpy(e.domain, addr_domain(a->addrs[i]), sizeof(e.domain));
			mm_strlcpy(e.rcpts[e.nrcpts++].address, a->addrs[i],
			    sizeof(e.rcpts[0].address));
		}
		r = qentry_save(tx, &e);
		free(e.rcpts);
	}
	/* the extra messages: a body and an entry each */
	for (size_t i = 0; i < q->nextra && r == STORE_OK; i++) {
		const struct store_qextra *x = &q->extra[i];
		struct store_qentry e;
		struct store_qrcpt rc;

		memset(&e, 0, sizeof(e));
		memset(&rc, 0, sizeof(rc));
		if ((r = sdb_seq_next(tx->st->seq_body, &e.body_id)) != STORE_OK ||
		    (r = sdb_body_put(tx, e.body_id, x->data, x->len, NULL, 0, 1)) != STORE_OK ||
		    (r = sdb_seq_next(tx->st->seq_queue, &e.id)) != STORE_OK)
			break;
		mm_strlcpy(e.sender, x->sender != NULL ? x->sender : "", sizeof(e.sender));
		mm_strlcpy(e.domain, addr_domain(a->xaddrs[i]), sizeof(e.domain));
		e.created = e.next_attempt = a->now;
		e.flags = x->flags & (STORE_QF_8BIT | STORE_QF_SMTPUTF8);
		e.skip = x->skip <= x->len ? x->skip : 0;
		e.size = x->len - e.skip;
		mm_strlcpy(rc.address, a->xaddrs[i], sizeof(rc.address));
		e.rcpts = &rc;
		e.nrcpts = 1;
		r = qentry_save(tx, &e);
	}
	return r;
}

int
store_deliver_queue(struct store *st, struct store_rcpt *rcpts, size_t nrcpts,
    const void *data, size_t len, time_t internal_date,
    const void *cache, size_t cachelen, const struct store_qnew *q,
    uint64_t *qids_r, size_t maxqids, size_t *nqids_r)
{
	struct qadd_arg a = { .q = q, .len = len, .now = time(NULL) };
	int r = STORE_OK;

	if (nqids_r != NULL)
		*nqids_r = 0;
	if (q == NULL || (q->nrcpts == 0 && q->nextra == 0))
		return store_deliver(st, rcpts, nrcpts, data, len, internal_date,
		    cache, cachelen, q ? q->keywords : NULL, q ? q->nkeywords : 0, false);
	if (q->nrcpts > STORE_QUEUE_RCPTS_MAX || q->nextra > STORE_QUEUE_RCPTS_MAX)
		return STORE_LIMIT;
	if (q->nrcpts == 0 && nrcpts == 0)
		return STORE_INVALID;      /* extras ride on a delivery */
	a.addrs = xcalloc(q->nrcpts ? q->nrcpts : 1, sizeof(*a.addrs));
	a.group = xcalloc(q->nrcpts ? q->nrcpts : 1, sizeof(*a.group));
	a.xaddrs = xcalloc(q->nextra ? q->nextra : 1, sizeof(*a.xaddrs));
	for (size_t i = 0; i < q->nextra; i++) {
		if (q->extra[i].rcpt == NULL || !remote_addr_norm(q->extra[i].rcpt, a.xaddrs[i]) ||
		    strlen(addr_domain(a.xaddrs[i])) == 0 ||
		    strlen(addr_domain(a.xaddrs[i])) >= STORE_QUEUE_DOMAIN_MAX) {
			r = STORE_INVALID;
			goto out;
		}
	}
	for (size_t i = 0; i < q->nrcpts; i++) {
		size_t dl;
		if (q->rcpts[i] == NULL || !remote_addr_norm(q->rcpts[i], a.addrs[i]) ||
		    (dl = strlen(addr_domain(a.addrs[i]))) == 0 ||
		    dl >= STORE_QUEUE_DOMAIN_MAX) {
			r = STORE_INVALID;
			goto out;
		}
		/* the domain's group: the first earlier address of that domain */
		a.group[i] = a.ngroups;
		for (size_t j = 0; j < i; j++)
			if (strcmp(addr_domain(a.addrs[j]), addr_domain(a.addrs[i])) == 0) {
				a.group[i] = a.group[j];
				break;
			}
		if (a.group[i] == a.ngroups)
			a.ngroups++;
	}
	a.ids = xcalloc(a.ngroups ? a.ngroups : 1, sizeof(*a.ids));
	r = sdb_deliver(st, rcpts, nrcpts, data, len, internal_date, cache, cachelen,
	    nrcpts > 0 ? q->keywords : NULL, nrcpts > 0 ? q->nkeywords : 0, false,
	    (uint32_t)a.ngroups, qadd_tx, &a, a.ids, a.ngroups);
	if (r == STORE_OK) {
		for (size_t g = 0; g < a.ngroups && qids_r != NULL && g < maxqids; g++)
			qids_r[g] = a.ids[g];
		if (nqids_r != NULL)
			*nqids_r = a.ngroups;
	}
	free(a.ids);
out:
	free(a.addrs);
	free(a.group);
	free(a.xaddrs);
	return r;
}

/* ---- reading ---- */

struct qget_arg {
	uint64_t id;
	struct store_qentry *e;
};

static int
qget_tx(struct sdb_tx *tx, void *varg)
{
	struct qget_arg *a = varg;
	store_qentry_free(&a->e);
	return qentry_load(tx, a->id, &a->e, false);
}

int
store_queue_get(struct store *st, uint64_t id, struct store_qentry **e_r)
{
	struct qget_arg a = { .id = id };
	int r = sdb_run(st, false, qget_tx, &a);
	if (r != STORE_OK)
		store_qentry_free(&a.e);
	*e_r = a.e;
	return r;
}

/* Walks queue.db; with whole false only the headers are read. Entries are
 * collected first and handed to the callbacks after the transaction, so a
 * callback may call the store. */
struct qwalk_arg {
	bool whole;
	struct store_qentry **v;
	uint64_t *ids;
	time_t *next;
	size_t n, cap;
};

static void
qwalk_reset(struct qwalk_arg *a)
{
	for (size_t i = 0; i < a->n && a->v != NULL; i++)
		store_qentry_free(&a->v[i]);
	a->n = 0;
}

static int
qwalk_tx(struct sdb_tx *tx, void *varg)
{
	struct qwalk_arg *a = varg;
	struct store *st = tx->st;
	unsigned char key[8];
	struct sdb_qhdr h;
	DBC *cur;
	int r = STORE_OK, e;

	qwalk_reset(a);
	if ((r = sdb_map(st->queue->cursor(st->queue, tx->txn, &cur, 0))) != STORE_OK)
		return r;
	for (;;) {
		DBT k = { .data = key, .ulen = 8, .flags = DB_DBT_USERMEM };
		DBT d;
		memset(&d, 0, sizeof(d));
		if (a->whole)
			d.flags = DB_DBT_MALLOC;
		else {
			d.data = &h;
			d.ulen = d.dlen = sizeof(h);
			d.flags = DB_DBT_USERMEM | DB_DBT_PARTIAL;
		}
		e = cur->get(cur, &k, &d, DB_NEXT);
		if (e != 0) {
			if (e != DB_NOTFOUND)
				r = sdb_map(e);
			break;
		}
		if (k.size != 8) {
			if (a->whole)
				free(d.data);
			r = STORE_CORRUPT;
			break;
		}
		uint64_t id = (uint64_t)sdb_get_be32(key) << 32 | sdb_get_be32(key + 4);
		if (a->n == a->cap) {
			a->cap = a->cap ? a->cap * 2 : 32;
			a->ids = xrealloc(a->ids, a->cap * sizeof(*a->ids));
			a->next = xrealloc(a->next, a->cap * sizeof(*a->next));
			if (a->whole)
				a->v = xrealloc(a->v, a->cap * sizeof(*a->v));
		}
		a->ids[a->n] = id;
		if (a->whole) {
			r = qentry_decode(id, d.data, d.size, &a->v[a->n]);
			free(d.data);
			if (r != STORE_OK)
				break;
			a->next[a->n] = a->v[a->n]->next_attempt;
		} else {
			if (d.size != sizeof(h) || h.version != SDB_QUEUE_VERSION) {
				r = STORE_CORRUPT;
				break;
			}
			a->next[a->n] = (time_t)h.next_attempt;
		}
		a->n++;
	}
	(void)cur->close(cur);
	return r;
}

static void
qwalk_free(struct qwalk_arg *a)
{
	qwalk_reset(a);
	free(a->v);
	free(a->ids);
	free(a->next);
}

int
store_queue_list(struct store *st, store_queue_cb *cb, void *arg)
{
	struct qwalk_arg a = { .whole = true };
	int r = sdb_run(st, false, qwalk_tx, &a);
	for (size_t i = 0; r == STORE_OK && i < a.n; i++)
		if (cb(arg, a.v[i]) != 0)
			break;
	qwalk_free(&a);
	return r;
}

int
store_queue_schedule(struct store *st, store_queue_sched_cb *cb, void *arg)
{
	struct qwalk_arg a = { .whole = false };
	int r = sdb_run(st, false, qwalk_tx, &a);
	for (size_t i = 0; r == STORE_OK && i < a.n; i++)
		if (cb(arg, a.ids[i], a.next[i]) != 0)
			break;
	qwalk_free(&a);
	return r;
}

/* ---- changing ---- */

static int
qupdate_tx(struct sdb_tx *tx, void *varg)
{
	const struct store_qentry *e = varg;
	struct store_qentry *old = NULL;
	bool pending = false;
	int r;

	if ((r = qentry_load(tx, e->id, &old, true)) != STORE_OK)
		return r;
	if (old->body_id != e->body_id || old->nrcpts != e->nrcpts) {
		store_qentry_free(&old);
		return STORE_INVALID;
	}
	store_qentry_free(&old);
	for (size_t i = 0; i < e->nrcpts; i++)
		pending |= e->rcpts[i].state == STORE_Q_PENDING;
	if (!pending)
		return qentry_remove(tx, e->id, e->body_id);
	return qentry_save(tx, e);
}

int
store_queue_update(struct store *st, const struct store_qentry *e)
{
	return sdb_run_once(st, qupdate_tx, (void *)e);
}

static int
qdelete_tx(struct sdb_tx *tx, void *varg)
{
	const uint64_t *id = varg;
	struct store_qentry *e = NULL;
	int r;

	if ((r = qentry_load(tx, *id, &e, true)) != STORE_OK)
		return r;
	r = qentry_remove(tx, e->id, e->body_id);
	store_qentry_free(&e);
	return r;
}

int
store_queue_delete(struct store *st, uint64_t id)
{
	return sdb_run_once(st, qdelete_tx, &id);
}

struct qflush_arg {
	uint64_t id;
	time_t now;
	size_t n;
	struct qwalk_arg walk;
};

static int
qflush_one(struct sdb_tx *tx, struct qflush_arg *a, uint64_t id)
{
	struct store_qentry *e = NULL;
	int r;

	if ((r = qentry_load(tx, id, &e, true)) != STORE_OK)
		return r;
	if (e->next_attempt > a->now) {
		e->next_attempt = a->now;
		r = qentry_save(tx, e);
	}
	store_qentry_free(&e);
	if (r == STORE_OK)
		a->n++;
	return r;
}

static int
qflush_tx(struct sdb_tx *tx, void *varg)
{
	struct qflush_arg *a = varg;
	int r;

	a->n = 0;
	if (a->id != 0)
		return qflush_one(tx, a, a->id);
	if ((r = qwalk_tx(tx, &a->walk)) != STORE_OK)
		return r;
	for (size_t i = 0; i < a->walk.n; i++) {
		r = qflush_one(tx, a, a->walk.ids[i]);
		if (r == STORE_NOTFOUND)
			continue;
		if (r != STORE_OK)
			return r;
	}
	return STORE_OK;
}

int
store_queue_flush(struct store *st, uint64_t id, time_t now, size_t *n_r)
{
	struct qflush_arg a = { .id = id, .now = now };
	int r = sdb_run_once(st, qflush_tx, &a);
	qwalk_free(&a.walk);
	if (n_r != NULL)
		*n_r = r == STORE_OK ? a.n : 0;
	return r;
}

/* For store-verify.c: the body a queue record holds a reference on, or 0
 * when the record is too short to say. */
uint64_t
sdb_queue_body(const void *data, size_t len)
{
	struct sdb_qhdr h;
	if (len < sizeof(h))
		return 0;
	memcpy(&h, data, sizeof(h));
	return h.body_id;
}
