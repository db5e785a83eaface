/* store-verify.c: minimailctl verify, the store checked end to end:
 * Berkeley DB's own DB->verify of every database file, then the logical
 * checks (every body's reference count equals the index entries and queue
 * entries that hold it, every index entry's body and all its chunks
 * exist, UIDs ascending and below UIDNEXT, modseqs at most HIGHESTMODSEQ,
 * every mailbox's and user's counters equal what their messages add up
 * to), and with repair the counters and reference counts set right.
 *
 * The one idea: DB->verify takes no locks and must not read files that
 * others write, and logical checks over a store that changes meanwhile
 * would see deliveries half counted. So verify checks a snapshot: a hot
 * backup of the live store (store-backup.c) into a temporary directory,
 * recovered, consistent as of one moment, and read without locks; the
 * live store is only read through DB_ENV->backup. Repairs go to the live
 * store, each one transaction that takes the write lock every concurrent
 * change of the same counter or reference count takes too, and recounts
 * under it. */
#include "store/store-int.h"
#include "lib/log.h"
#include "lib/util.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define VERIFY_DB_MESSAGES_MAX  5     /* Berkeley DB messages kept per file */
#define VERIFY_REPAIR_BATCH     256   /* bodies recounted per transaction */

static const char *const verify_files[] = {
	"users.db", "aliases.db", "mailboxes.db", "msgs.db", "counters.db",
	"bodymeta.db", "bodies.db", "cache.db", "seq.db", "queue.db",
};

struct vctx {
	store_problem_fn *fn;
	void *arg;
	struct store_verify_stats *s;
	const char *file;              /* DB->verify: the file being checked */
	unsigned dbmsgs;
};

/* A repair done: said, not counted as a problem. */
static void __attribute__((format(printf, 2, 3)))
note(struct vctx *v, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (v->fn != NULL)
		v->fn(v->arg, buf);
}

static void __attribute__((format(printf, 2, 3)))
problem(struct vctx *v, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	v->s->problems++;
	if (v->fn != NULL)
		v->fn(v->arg, buf);
}

/* ---- Berkeley DB's verify ---- */

static __thread struct vctx *verify_cur;

static void
verify_errcall(const DB_ENV *env, const char *pfx, const char *msg)
{
	(void)env;
	(void)pfx;
	struct vctx *v = verify_cur;
	if (v == NULL || ++v->dbmsgs > VERIFY_DB_MESSAGES_MAX)
		return;
	problem(v, "%s: %s", v->file, msg);
}

static void
verify_files_bdb(struct vctx *v, const char *dir, bool *damaged_r)
{
	*damaged_r = false;
	for (size_t i = 0; i < sizeof(verify_files) / sizeof(verify_files[0]); i++) {
		char path[PATH_MAX];
		DB *db;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, verify_files[i]) >=
		    sizeof(path))
			continue;
		if (access(path, F_OK) != 0) {
			problem(v, "%s: missing", verify_files[i]);
			*damaged_r = true;
			continue;
		}
		if (db_create(&db, NULL, 0) != 0) {
			problem(v, "%s: cannot verify: out of memory", verify_files[i]);
			*damaged_r = true;
			continue;
		}
		v->file = verify_files[i];
		v->dbmsgs = 0;
		verify_cur = v;
		db->set_errcall(db, verify_errcall);
		uint64_t before = v->s->problems;
		/* the handle is gone after verify, whatever it returns */
		int r = db->verify(db, path, NULL, NULL, 0);
		verify_cur = NULL;
		if (r != 0) {
			if (v->s->problems == before)
				problem(v, "%s: %s", verify_files[i], db_strerror(r));
			else if (v->dbmsgs > VERIFY_DB_MESSAGES_MAX)
				problem(v, "%s: and %u more messages from Berkeley DB",
				    verify_files[i], v->dbmsgs - VERIFY_DB_MESSAGES_MAX);
			*damaged_r = true;
		}
		v->s->files++;
	}
}

/* ---- logical checks on the snapshot ---- */

struct vmbox {
	uint32_t id;
	char *user;
	char *name;
	struct sdb_counters want;      /* what its messages add up to */
	struct sdb_counters have;      /* its counters record */
	bool have_ok;
	uint32_t last_uid;
	bool bad_counts;
};

struct vuser {
	char *address;
	uint32_t no;
	struct sdb_counters have;
	bool have_ok;
	uint64_t bytes, messages;
};

struct vref {
	uint64_t body_id;
	uint32_t mailbox;              /* 0: the outbound queue */
	uint32_t uid;
};

struct vbody {
	uint64_t id;
	uint64_t len;
	uint32_t refs;
	uint32_t counted;
	uint32_t chunks;
};

struct vstate {
	struct vmbox *mb;
	size_t nmb, capmb;
	struct vuser *users;
	size_t nusers, capusers;
	struct vref *refs;
	size_t nrefs, caprefs;
	struct vbody *bodies;
	size_t nbodies, capbodies;
	uint64_t *bad_bodies;          /* ids whose reference count is wrong */
	size_t nbad, capbad;
};

#define GROW(arr, n, cap) do { \
	if ((n) == (cap)) { \
		(cap) = (cap) ? (cap) * 2 : 64; \
		(arr) = xrealloc((arr), (cap) * sizeof(*(arr))); \
	} \
} while (0)

static int
cmp_mb(const void *a, const void *b)
{
	uint32_t x = ((const struct vmbox *)a)->id, y = ((const struct vmbox *)b)->id;
	return x < y ? -1 : x > y;
}

static int
cmp_ref(const void *a, const void *b)
{
	uint64_t x = ((const struct vref *)a)->body_id, y = ((const struct vref *)b)->body_id;
	return x < y ? -1 : x > y;
}

static struct vmbox *
find_mb(struct vstate *vs, uint32_t id)
{
	struct vmbox key = { .id = id };
	if (vs->nmb == 0)
		return NULL;
	return bsearch(&key, vs->mb, vs->nmb, sizeof(*vs->mb), cmp_mb);
}

static struct vbody *
find_body(struct vstate *vs, uint64_t id)
{
	size_t lo = 0, hi = vs->nbodies;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (vs->bodies[mid].id == id)
			return &vs->bodies[mid];
		if (vs->bodies[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static struct vuser *
find_user(struct vstate *vs, const char *address)
{
	for (size_t i = 0; i < vs->nusers; i++)
		if (strcmp(vs->users[i].address, address) == 0)
			return &vs->users[i];
	return NULL;
}

static uint64_t
get_be64(const unsigned char *p)
{
	return (uint64_t)sdb_get_be32(p) << 32 | sdb_get_be32(p + 4);
}

static int
counters_read(DB *db, uint32_t recno, struct sdb_counters *c)
{
	db_recno_t rn = recno;
	int r = sdb_get(db, NULL, &rn, sizeof(rn), c, sizeof(*c), 0);
	if (r == STORE_OK && c->flags != 1)
		r = STORE_NOTFOUND;
	return r;
}

static int
scan_users(struct vctx *v, struct store *st, struct vstate *vs)
{
	DBC *cur;
	DBT k = { .flags = DB_DBT_MALLOC }, d = { .flags = DB_DBT_MALLOC };
	int e;

	if ((e = st->users->cursor(st->users, NULL, &cur, 0)) != 0)
		return sdb_map(e);
	while ((e = cur->get(cur, &k, &d, DB_NEXT)) == 0) {
		struct sdb_user u;
		GROW(vs->users, vs->nusers, vs->capusers);
		struct vuser *vu = &vs->users[vs->nusers++];
		memset(vu, 0, sizeof(*vu));
		vu->address = xstrndup(k.data, k.size);
		if (d.size != sizeof(u)) {
			problem(v, "user %s: record of %u bytes", vu->address, d.size);
		} else {
			memcpy(&u, d.data, sizeof(u));
			vu->no = u.no;
			vu->have_ok = counters_read(st->counters, u.no, &vu->have) == STORE_OK;
			if (!vu->have_ok)
				problem(v, "user %s: usage counters (record %u) missing",
				    vu->address, u.no);
		}
		free(k.data);
		free(d.data);
		k.data = d.data = NULL;
		v->s->users++;
	}
	(void)cur->close(cur);
	return e == DB_NOTFOUND ? STORE_OK : sdb_map(e);
}

static int
scan_mailboxes(struct vctx *v, struct store *st, struct vstate *vs)
{
	DBC *cur;
	DBT k = { .flags = DB_DBT_MALLOC }, d = { .flags = DB_DBT_MALLOC };
	int e;

	if ((e = st->mailboxes->cursor(st->mailboxes, NULL, &cur, 0)) != 0)
		return sdb_map(e);
	while ((e = cur->get(cur, &k, &d, DB_NEXT)) == 0) {
		const char *key = k.data;
		size_t ulen = strnlen(key, k.size);
		struct sdb_mbox_rec rec;
		if (ulen >= k.size || d.size < sizeof(rec)) {
			problem(v, "mailboxes.db: a record with a bad key or size");
		} else {
			memcpy(&rec, d.data, sizeof(rec));
			GROW(vs->mb, vs->nmb, vs->capmb);
			struct vmbox *m = &vs->mb[vs->nmb++];
			memset(m, 0, sizeof(*m));
			m->id = rec.id;
			m->user = xstrndup(key, ulen);
			m->name = xstrndup(key + ulen + 1, k.size - ulen - 1);
			m->have_ok = counters_read(st->counters, rec.id, &m->have) == STORE_OK;
			if (!m->have_ok)
				problem(v, "mailbox %s of %s: counters (record %u) missing",
				    m->name, m->user, rec.id);
			if (find_user(vs, m->user) == NULL)
				problem(v, "mailbox %s: its user %s does not exist", m->name,
				    m->user);
			v->s->mailboxes++;
		}
		free(k.data);
		free(d.data);
		k.data = d.data = NULL;
	}
	(void)cur->close(cur);
	if (e != DB_NOTFOUND)
		return sdb_map(e);
	if (vs->nmb > 0)
		qsort(vs->mb, vs->nmb, sizeof(*vs->mb), cmp_mb);
	for (size_t i = 1; i < vs->nmb; i++)
		if (vs->mb[i].id == vs->mb[i - 1].id)
			problem(v, "mailboxes %s and %s share the id %u", vs->mb[i].name,
			    vs->mb[i - 1].name, vs->mb[i].id);
	return STORE_OK;
}

static int
scan_msgs(struct vctx *v, struct store *st, struct vstate *vs)
{
	DBC *cur;
	unsigned char kb[64];
	struct sdb_msg m;
	DBT k = { .data = kb, .ulen = sizeof(kb), .flags = DB_DBT_USERMEM };
	DBT d = { .data = &m, .ulen = sizeof(m), .flags = DB_DBT_USERMEM };
	int e;

	if ((e = st->msgs->cursor(st->msgs, NULL, &cur, 0)) != 0)
		return sdb_map(e);
	while ((e = cur->get(cur, &k, &d, DB_NEXT)) == 0) {
		if (k.size != 8 && sdb_get_be32(kb) == SDB_EXPUNGE_PREFIX)
			continue;  /* the expunge log */
		uint32_t id = sdb_get_be32(kb), uid = k.size >= 8 ? sdb_get_be32(kb + 4) : 0;
		if (k.size != 8 || d.size != sizeof(m)) {
			problem(v, "msgs.db: a record with a bad key or size (mailbox %u)", id);
			continue;
		}
		v->s->messages++;
		struct vmbox *mb = find_mb(vs, id);
		if (mb == NULL) {
			problem(v, "message %u of mailbox id %u: no such mailbox", uid, id);
			continue;
		}
		if (uid == 0 || uid <= mb->last_uid)
			problem(v, "%s/%s: UID %u out of order (after %u)", mb->user,
			    mb->name, uid, mb->last_uid);
		mb->last_uid = uid;
		if (mb->have_ok && uid >= mb->have.uidnext)
			problem(v, "%s/%s: UID %u not below UIDNEXT %u", mb->user, mb->name,
			    uid, mb->have.uidnext);
		if (mb->have_ok && (m.modseq == 0 || m.modseq > mb->have.highestmodseq))
			problem(v, "%s/%s: UID %u has modseq %llu, HIGHESTMODSEQ is %llu",
			    mb->user, mb->name, uid, (unsigned long long)m.modseq,
			    (unsigned long long)mb->have.highestmodseq);
		mb->want.messages++;
		mb->want.bytes += m.size;
		mb->want.unseen += !(m.flags & MSG_SEEN);
		mb->want.recent += (m.flags & MSG_RECENT) != 0;
		if (m.modseq > mb->want.highestmodseq)
			mb->want.highestmodseq = m.modseq;
		GROW(vs->refs, vs->nrefs, vs->caprefs);
		vs->refs[vs->nrefs++] = (struct vref){ m.body_id, id, uid };
	}
	(void)cur->close(cur);
	return e == DB_NOTFOUND ? STORE_OK : sdb_map(e);
}

static int
scan_queue(struct vctx *v, struct store *st, struct vstate *vs)
{
	DBC *cur;
	DBT k = { .flags = DB_DBT_MALLOC }, d = { .flags = DB_DBT_MALLOC };
	int e;

	if ((e = st->queue->cursor(st->queue, NULL, &cur, 0)) != 0)
		return sdb_map(e);
	while ((e = cur->get(cur, &k, &d, DB_NEXT)) == 0) {
		uint64_t body = sdb_queue_body(d.data, d.size);
		if (body == 0)
			problem(v, "queue.db: an entry too short to hold a message");
		else {
			GROW(vs->refs, vs->nrefs, vs->caprefs);
			vs->refs[vs->nrefs++] = (struct vref){ body, 0,
			    k.size == 8 ? (uint32_t)get_be64(k.data) : 0 };
		}
		free(k.data);
		free(d.data);
		k.data = d.data = NULL;
	}
	(void)cur->close(cur);
	return e == DB_NOTFOUND ? STORE_OK : sdb_map(e);
}

static int
scan_bodies(struct vctx *v, struct store *st, struct vstate *vs)
{
	DBC *cur;
	unsigned char kb[16];
	struct sdb_bodymeta bm;
	DBT k = { .data = kb, .ulen = sizeof(kb), .flags = DB_DBT_USERMEM };
	DBT d = { .data = &bm, .ulen = sizeof(bm), .flags = DB_DBT_USERMEM };
	int e;

	if ((e = st->bodymeta->cursor(st->bodymeta, NULL, &cur, 0)) != 0)
		return sdb_map(e);
	while ((e = cur->get(cur, &k, &d, DB_NEXT)) == 0) {
		if (k.size != 8 || d.size != sizeof(bm)) {
			problem(v, "bodymeta.db: a record with a bad key or size");
			continue;
		}
		GROW(vs->bodies, vs->nbodies, vs->capbodies);
		vs->bodies[vs->nbodies++] = (struct vbody){ .id = get_be64(kb),
		    .len = bm.len, .refs = bm.refs };
		v->s->bodies++;
	}
	(void)cur->close(cur);
	if (e != DB_NOTFOUND)
		return sdb_map(e);

	/* the chunks: (body id BE64, chunk BE32) -> up to SDB_CHUNK_BYTES */
	char *chunkbuf = xmalloc(SDB_CHUNK_BYTES);
	DBT cd = { .data = chunkbuf, .ulen = SDB_CHUNK_BYTES, .flags = DB_DBT_USERMEM };
	if ((e = st->bodies->cursor(st->bodies, NULL, &cur, 0)) != 0) {
		free(chunkbuf);
		return sdb_map(e);
	}
	uint64_t last_orphan = 0;
	while ((e = cur->get(cur, &k, &cd, DB_NEXT)) == 0) {
		uint64_t id = k.size == 12 ? get_be64(kb) : 0;
		uint32_t chunk = k.size == 12 ? sdb_get_be32(kb + 8) : 0;
		struct vbody *b = find_body(vs, id);
		if (b == NULL) {
			if (id != last_orphan)
				problem(v, "body %llu: chunks without a body record",
				    (unsigned long long)id);
			last_orphan = id;
			continue;
		}
		uint64_t off = (uint64_t)chunk * SDB_CHUNK_BYTES;
		uint64_t want = off >= b->len ? 0 : b->len - off > SDB_CHUNK_BYTES ?
		    SDB_CHUNK_BYTES : b->len - off;
		if (want == 0 || cd.size != want)
			problem(v, "body %llu: chunk %u has %u bytes, expected %llu",
			    (unsigned long long)id, chunk, cd.size,
			    (unsigned long long)want);
		else
			b->chunks++;
	}
	(void)cur->close(cur);
	free(chunkbuf);
	if (e == DB_BUFFER_SMALL) {
		problem(v, "bodies.db: a chunk longer than %d bytes", SDB_CHUNK_BYTES);
		return STORE_OK;
	}
	return e == DB_NOTFOUND ? STORE_OK : sdb_map(e);
}

static void
check_counts(struct vctx *v, struct vstate *vs)
{
	for (size_t i = 0; i < vs->nmb; i++) {
		struct vmbox *m = &vs->mb[i];
		struct vuser *u = find_user(vs, m->user);
		if (u != NULL) {
			u->bytes += m->want.bytes;
			u->messages += m->want.messages;
		}
		if (!m->have_ok)
			continue;
		if (m->have.messages != m->want.messages || m->have.bytes != m->want.bytes ||
		    m->have.unseen != m->want.unseen || m->have.recent != m->want.recent) {
			problem(v, "%s/%s: counters say %llu messages, %llu bytes, %u unseen, "
			    "%u recent; its messages add up to %llu, %llu, %u, %u", m->user,
			    m->name, (unsigned long long)m->have.messages,
			    (unsigned long long)m->have.bytes, m->have.unseen, m->have.recent,
			    (unsigned long long)m->want.messages,
			    (unsigned long long)m->want.bytes, m->want.unseen, m->want.recent);
			m->bad_counts = true;
		}
	}
	for (size_t i = 0; i < vs->nusers; i++) {
		struct vuser *u = &vs->users[i];
		if (u->have_ok && (u->have.bytes != u->bytes || u->have.messages != u->messages))
			problem(v, "user %s: quota usage says %llu bytes in %llu messages; "
			    "the mailboxes hold %llu in %llu", u->address,
			    (unsigned long long)u->have.bytes,
			    (unsigned long long)u->have.messages,
			    (unsigned long long)u->bytes, (unsigned long long)u->messages);
	}
}

static void
check_refs(struct vctx *v, struct vstate *vs)
{
	if (vs->nrefs > 0)
		qsort(vs->refs, vs->nrefs, sizeof(*vs->refs), cmp_ref);
	for (size_t i = 0; i < vs->nrefs; i++) {
		const struct vref *r = &vs->refs[i];
		struct vbody *b = find_body(vs, r->body_id);
		if (b == NULL) {
			struct vmbox *m = r->mailbox ? find_mb(vs, r->mailbox) : NULL;
			if (m != NULL)
				problem(v, "%s/%s: UID %u: its body %llu is missing", m->user,
				    m->name, r->uid, (unsigned long long)r->body_id);
			else
				problem(v, "queue entry %x: its body %llu is missing", r->uid,
				    (unsigned long long)r->body_id);
			continue;
		}
		b->counted++;
	}
	for (size_t i = 0; i < vs->nbodies; i++) {
		struct vbody *b = &vs->bodies[i];
		uint32_t want_chunks = (uint32_t)((b->len + SDB_CHUNK_BYTES - 1) / SDB_CHUNK_BYTES);
		if (b->chunks != want_chunks)
			problem(v, "body %llu: %u of its %u chunks are there",
			    (unsigned long long)b->id, b->chunks, want_chunks);
		if (b->refs != b->counted) {
			problem(v, "body %llu: reference count %u, referenced %u times",
			    (unsigned long long)b->id, b->refs, b->counted);
			GROW(vs->bad_bodies, vs->nbad, vs->capbad);
			vs->bad_bodies[vs->nbad++] = b->id;
		}
	}
}

static void
vstate_free(struct vstate *vs)
{
	for (size_t i = 0; i < vs->nmb; i++) {
		free(vs->mb[i].user);
		free(vs->mb[i].name);
	}
	for (size_t i = 0; i < vs->nusers; i++)
		free(vs->users[i].address);
	free(vs->mb);
	free(vs->users);
	free(vs->refs);
	free(vs->bodies);
	free(vs->bad_bodies);
}

/* ---- repairs on the live store ---- */

struct repair_mb_arg {
	uint32_t id;
	uint32_t no;                   /* the user's usage record */
	const char *user;
	const uint32_t *ids;           /* all the user's mailboxes */
	size_t nids;
};

/* Recounts one mailbox's counters from its messages, under the counters'
 * write lock (every change to the mailbox takes it). */
static int
repair_mailbox_tx(struct sdb_tx *tx, void *varg)
{
	struct repair_mb_arg *a = varg;
	struct sdb_counters c, n;
	unsigned char kb[64];
	struct sdb_msg m;
	DBC *cur;
	int r, e;

	if ((r = sdb_counters_get(tx, a->id, &c, true)) != STORE_OK)
		return r;
	n = c;
	n.messages = n.bytes = 0;
	n.unseen = n.recent = 0;
	if ((r = sdb_map(tx->st->msgs->cursor(tx->st->msgs, tx->txn, &cur, 0))) != STORE_OK)
		return r;
	sdb_be32(kb, a->id);
	sdb_be32(kb + 4, 0);
	DBT k = { .data = kb, .size = 8, .ulen = sizeof(kb), .flags = DB_DBT_USERMEM };
	DBT d = { .data = &m, .ulen = sizeof(m), .flags = DB_DBT_USERMEM };
	for (int f = DB_SET_RANGE; (e = cur->get(cur, &k, &d, f)) == 0; f = DB_NEXT) {
		if (k.size != 8 || sdb_get_be32(kb) != a->id)
			break;
		if (d.size != sizeof(m))
			continue;
		uint32_t uid = sdb_get_be32(kb + 4);
		n.messages++;
		n.bytes += m.size;
		n.unseen += !(m.flags & MSG_SEEN);
		n.recent += (m.flags & MSG_RECENT) != 0;
		if (uid >= n.uidnext)
			n.uidnext = uid + 1;
		if (m.modseq > n.highestmodseq)
			n.highestmodseq = m.modseq;
	}
	(void)cur->close(cur);
	if (e != 0 && e != DB_NOTFOUND)
		return sdb_map(e);
	return sdb_counters_put(tx, a->id, &n);
}

/* The user's usage from their mailboxes' counters, under its write lock. */
static int
repair_usage_tx(struct sdb_tx *tx, void *varg)
{
	struct repair_mb_arg *a = varg;
	struct sdb_counters u, c;
	int r;

	if ((r = sdb_counters_get(tx, a->no, &u, true)) != STORE_OK)
		return r;
	u.bytes = u.messages = 0;
	for (size_t i = 0; i < a->nids; i++) {
		if ((r = sdb_counters_get(tx, a->ids[i], &c, false)) != STORE_OK)
			return r;
		u.bytes += c.bytes;
		u.messages += c.messages;
	}
	return sdb_counters_put(tx, a->no, &u);
}

struct repair_refs_arg {
	const uint64_t *ids;           /* sorted */
	size_t n;
	uint32_t *counts;
	size_t fixed;
};

static ssize_t
ref_index(const struct repair_refs_arg *a, uint64_t id)
{
	size_t lo = 0, hi = a->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (a->ids[mid] == id)
			return (ssize_t)mid;
		if (a->ids[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* Write-locks the bodies' records (every change of a reference count
 * takes that lock), counts their references with read-committed cursors,
 * and writes the counts; a body nothing references is freed. */
static int
repair_refs_tx(struct sdb_tx *tx, void *varg)
{
	struct repair_refs_arg *a = varg;
	struct store *st = tx->st;
	struct sdb_bodymeta bm;
	unsigned char kb[64];
	DBC *cur;
	int r, e;

	a->fixed = 0;
	memset(a->counts, 0, a->n * sizeof(*a->counts));
	for (size_t i = 0; i < a->n; i++) {
		sdb_be64(kb, a->ids[i]);
		r = sdb_get(st->bodymeta, tx->txn, kb, 8, &bm, sizeof(bm), DB_RMW);
		if (r != STORE_OK && r != STORE_NOTFOUND)
			return r;
	}
	struct sdb_msg m;
	if ((r = sdb_map(st->msgs->cursor(st->msgs, tx->txn, &cur, DB_READ_COMMITTED))) != STORE_OK)
		return r;
	DBT k = { .data = kb, .ulen = sizeof(kb), .flags = DB_DBT_USERMEM };
	DBT d = { .data = &m, .ulen = sizeof(m), .flags = DB_DBT_USERMEM };
	while ((e = cur->get(cur, &k, &d, DB_NEXT)) == 0) {
		ssize_t ix;
		if (k.size == 8 && d.size == sizeof(m) && (ix = ref_index(a, m.body_id)) >= 0)
			a->counts[ix]++;
	}
	(void)cur->close(cur);
	if (e != DB_NOTFOUND)
		return sdb_map(e);
	if ((r = sdb_map(st->queue->cursor(st->queue, tx->txn, &cur, DB_READ_COMMITTED))) != STORE_OK)
		return r;
	DBT qk = { .flags = DB_DBT_MALLOC }, qd = { .flags = DB_DBT_MALLOC };
	while ((e = cur->get(cur, &qk, &qd, DB_NEXT)) == 0) {
		ssize_t ix = ref_index(a, sdb_queue_body(qd.data, qd.size));
		if (ix >= 0)
			a->counts[ix]++;
		free(qk.data);
		free(qd.data);
		qk.data = qd.data = NULL;
	}
	(void)cur->close(cur);
	if (e != DB_NOTFOUND)
		return sdb_map(e);
	for (size_t i = 0; i < a->n; i++) {
		sdb_be64(kb, a->ids[i]);
		r = sdb_get(st->bodymeta, tx->txn, kb, 8, &bm, sizeof(bm), DB_RMW);
		if (r == STORE_NOTFOUND)
			continue;
		if (r != STORE_OK)
			return r;
		if (bm.refs == a->counts[i])
			continue;
		a->fixed++;
		if (a->counts[i] == 0) {
			/* free it the normal way: from one reference to none */
			bm.refs = 1;
			if ((r = sdb_put(st->bodymeta, tx->txn, kb, 8, &bm, sizeof(bm))) != STORE_OK ||
			    (r = sdb_body_ref(tx, a->ids[i], -1)) != STORE_OK)
				return r;
			continue;
		}
		bm.refs = a->counts[i];
		if ((r = sdb_put(st->bodymeta, tx->txn, kb, 8, &bm, sizeof(bm))) != STORE_OK)
			return r;
	}
	return STORE_OK;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int
repair(struct vctx *v, struct store *st, struct vstate *vs)
{
	int r;

	/* mailboxes, then every user's usage from them */
	for (size_t i = 0; i < vs->nmb; i++) {
		if (!vs->mb[i].bad_counts)
			continue;
		struct repair_mb_arg a = { .id = vs->mb[i].id };
		if ((r = sdb_run(st, true, repair_mailbox_tx, &a)) != STORE_OK &&
		    r != STORE_NOTFOUND)
			return r;
		if (r == STORE_OK) {
			v->s->repaired++;
			note(v, "repaired: counters of %s/%s", vs->mb[i].user, vs->mb[i].name);
		}
	}
	for (size_t i = 0; i < vs->nusers; i++) {
		struct vuser *u = &vs->users[i];
		if (!u->have_ok)
			continue;
		uint32_t *ids = NULL;
		size_t n = 0, cap = 0;
		for (size_t j = 0; j < vs->nmb; j++)
			if (strcmp(vs->mb[j].user, u->address) == 0 && vs->mb[j].have_ok) {
				GROW(ids, n, cap);
				ids[n++] = vs->mb[j].id;
			}
		if (u->have.bytes == u->bytes && u->have.messages == u->messages) {
			free(ids);
			continue;
		}
		struct repair_mb_arg a = { .no = u->no, .user = u->address, .ids = ids, .nids = n };
		r = sdb_run(st, true, repair_usage_tx, &a);
		free(ids);
		if (r != STORE_OK && r != STORE_NOTFOUND)
			return r;
		if (r == STORE_OK) {
			v->s->repaired++;
			note(v, "repaired: quota usage of %s", u->address);
		}
	}
	if (vs->nbad > 0)
		qsort(vs->bad_bodies, vs->nbad, sizeof(*vs->bad_bodies), cmp_u64);
	for (size_t off = 0; off < vs->nbad; off += VERIFY_REPAIR_BATCH) {
		struct repair_refs_arg a = { .ids = vs->bad_bodies + off,
		    .n = vs->nbad - off < VERIFY_REPAIR_BATCH ? vs->nbad - off :
		    VERIFY_REPAIR_BATCH };
		a.counts = xcalloc(a.n, sizeof(*a.counts));
		r = sdb_run(st, true, repair_refs_tx, &a);
		free(a.counts);
		if (r != STORE_OK)
			return r;
		v->s->repaired += a.fixed;
		if (a.fixed > 0) {
			note(v, "repaired: reference counts of %zu bodies", a.fixed);
		}
	}
	return STORE_OK;
}

/* ---- the whole run ---- */

static void
remove_tree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char path[PATH_MAX];
	while (d != NULL && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) <
		    sizeof(path))
			(void)unlink(path);
	}
	if (d != NULL)
		closedir(d);
	(void)rmdir(dir);
}

int
store_verify(struct store *st, const char *tmpdir, bool do_repair,
    store_problem_fn *fn, void *arg, store_progress_fn *pfn, void *parg,
    struct store_verify_stats *s, char *err, size_t errlen)
{
	char snap[PATH_MAX];
	struct vctx v = { .fn = fn, .arg = arg, .s = s };
	struct vstate vs;
	uint64_t start = mm_now_ms();
	bool damaged;
	int r;

	memset(s, 0, sizeof(*s));
	memset(&vs, 0, sizeof(vs));
	if ((size_t)snprintf(snap, sizeof(snap), "%s/minimaild-verify.XXXXXX", tmpdir) >=
	    sizeof(snap)) {
		snprintf(err, errlen, "%s: path too long", tmpdir);
		return STORE_INVALID;
	}
	if (mkdtemp(snap) == NULL) {
		snprintf(err, errlen, "%s: %s", tmpdir, strerror(errno));
		return STORE_IO;
	}
	if (pfn != NULL)
		pfn(parg, "snapshot", 0, 1);
	r = sdb_snapshot(st, snap, err, errlen);
	if (r == STORE_CORRUPT) {
		/* the copy does not recover: that is the finding */
		problem(&v, "%s", err);
		r = STORE_OK;
		goto done;
	}
	if (r != STORE_OK)
		goto done;
	if (pfn != NULL) {
		pfn(parg, "snapshot", 1, 1);
		pfn(parg, "verifying", 0, 1);
	}
	verify_files_bdb(&v, snap, &damaged);
	if (damaged) {
		problem(&v, "logical checks skipped: the database files are damaged");
		goto done;
	}
	if (pfn != NULL)
		pfn(parg, "checking", 0, 1);
	struct store *ss;
	if ((r = store_open(snap, 0, &ss, err, errlen)) != STORE_OK) {
		problem(&v, "the snapshot does not open: %s", err);
		r = STORE_OK;
		goto done;
	}
	if ((r = scan_users(&v, ss, &vs)) == STORE_OK &&
	    (r = scan_mailboxes(&v, ss, &vs)) == STORE_OK &&
	    (r = scan_msgs(&v, ss, &vs)) == STORE_OK &&
	    (r = scan_queue(&v, ss, &vs)) == STORE_OK)
		r = scan_bodies(&v, ss, &vs);
	store_close(&ss);
	if (r != STORE_OK) {
		problem(&v, "a scan of the snapshot failed: %s", store_strerror(r));
		r = STORE_OK;
		goto done;
	}
	check_counts(&v, &vs);
	check_refs(&v, &vs);
	if (pfn != NULL)
		pfn(parg, "checking", 1, 1);
	if (do_repair && s->problems > 0) {
		uint64_t before = s->problems;
		if ((r = repair(&v, st, &vs)) != STORE_OK)
			snprintf(err, errlen, "repair failed: %s", store_strerror(r));
		s->problems = before > s->repaired ? before - s->repaired : 0;
	}
done:
	vstate_free(&vs);
	remove_tree(snap);
	s->msecs = mm_now_ms() - start;
	return r;
}
