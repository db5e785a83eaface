/* store-body.c: message bodies, stored once per delivery in chunks of
 * SDB_CHUNK_BYTES and reference-counted across the mailboxes (and queue
 * entries) that hold them, and their parsed-structure cache.
 *
 * The one idea: a body is (bodymeta: length, refs) plus chunks keyed (id
 * BE64, chunk BE32), so a range read touches only the chunks it needs and
 * the last reference frees them all in the same transaction. */
#include "store/store-int.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/spool.h"
#include "lib/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>


/* ---- bodies ---- */

static size_t
sdb_chunk_key(unsigned char key[12], uint64_t id, uint32_t chunk)
{
	sdb_be64(key, id);
	sdb_be32(key + 8, chunk);
	return 12;
}

/* store_body_file: the spooled body of this thread's next delivery */
static _Thread_local int body_fd = -1;
static _Thread_local uint64_t body_off;

void
store_body_file(int fd, uint64_t off)
{
	body_fd = fd;
	body_off = off;
}

void
sdb_body_file_get(int *fd_r, uint64_t *off_r)
{
	*fd_r = body_fd;
	*off_r = body_off;
}

int
sdb_body_put(struct sdb_tx *tx, uint64_t id, const void *data, size_t len,
    const void *cache, size_t cachelen, uint32_t refs)
{
	struct store *st = tx->st;
	unsigned char key[12];
	struct sdb_bodymeta m = { .len = len, .refs = refs,
	    .has_cache = cache != NULL };
	char *chunk = NULL;
	int r;

	if (data == NULL && len > 0) {
		/* from the spool, one chunk at a time (a rerun reads it again) */
		if (body_fd < 0)
			return STORE_INVALID;
		chunk = xmalloc(SDB_CHUNK_BYTES);
	}
	sdb_be64(key, id);
	r = sdb_put(st->bodymeta, tx->txn, key, 8, &m, sizeof(m));
	for (size_t off = 0, c = 0; r == STORE_OK && off < len;
	    off += SDB_CHUNK_BYTES, c++) {
		size_t n = len - off < SDB_CHUNK_BYTES ? len - off : SDB_CHUNK_BYTES;
		const char *p = (const char *)data + off;
		if (chunk != NULL) {
			if (!spool_pread(body_fd, chunk, n, body_off + off)) {
				log_error("store: cannot read the spooled body: %s", strerror(errno));
				r = STORE_IO;
				break;
			}
			p = chunk;
		}
		sdb_chunk_key(key, id, (uint32_t)c);
		r = sdb_put(st->bodies, tx->txn, key, 12, p, n);
	}
	free(chunk);
	if (r == STORE_OK && cache != NULL) {
		sdb_be64(key, id);
		r = sdb_put(st->cache, tx->txn, key, 8, cache, cachelen);
	}
	return r;
}

int
sdb_body_ref(struct sdb_tx *tx, uint64_t id, int delta)
{
	struct store *st = tx->st;
	struct sdb_bodymeta m;
	unsigned char key[12];
	int r;

	sdb_be64(key, id);
	r = sdb_get(st->bodymeta, tx->txn, key, 8, &m, sizeof(m), DB_RMW);
	if (r != STORE_OK)
		return r;
	if (delta < 0 && m.refs < (uint32_t)-delta)
		return STORE_CORRUPT;
	m.refs += delta;
	if (m.refs > 0)
		return sdb_put(st->bodymeta, tx->txn, key, 8, &m, sizeof(m));
	r = sdb_del(st->bodymeta, tx->txn, key, 8);
	for (uint64_t off = 0, c = 0; r == STORE_OK && off < m.len;
	    off += SDB_CHUNK_BYTES, c++) {
		sdb_chunk_key(key, id, (uint32_t)c);
		r = sdb_del(st->bodies, tx->txn, key, 12);
	}
	if (r == STORE_OK && m.has_cache) {
		sdb_be64(key, id);
		r = sdb_del(st->cache, tx->txn, key, 8);
		if (r == STORE_NOTFOUND)
			r = STORE_OK;
	}
	if (r == STORE_OK)
		r = sdb_fts_body_forget(tx, id);
	return r;
}

struct body_read_arg {
	uint64_t id;
	uint64_t offset;
	char *buf;
	size_t len;
	size_t got;
	bool whole;          /* store_body_get: allocate and read all */
	size_t total;
	uint32_t refs;
};

static int
body_read_tx(struct sdb_tx *tx, void *varg)
{
	struct body_read_arg *a = varg;
	struct store *st = tx->st;
	struct sdb_bodymeta m;
	unsigned char key[12];
	int r;

	a->got = 0;
	sdb_be64(key, a->id);
	r = sdb_get(st->bodymeta, tx->txn, key, 8, &m, sizeof(m), 0);
	if (r != STORE_OK)
		return r;
	a->refs = m.refs;
	a->total = m.len;
	if (a->whole) {
		free(a->buf);
		a->buf = xmalloc(m.len + 1);
		a->offset = 0;
		a->len = m.len;
	}
	while (a->got < a->len && a->offset + a->got < m.len) {
		uint64_t pos = a->offset + a->got;
		uint32_t chunk = (uint32_t)(pos / SDB_CHUNK_BYTES);
		uint32_t coff = (uint32_t)(pos % SDB_CHUNK_BYTES);
		size_t want = a->len - a->got;
		if (want > SDB_CHUNK_BYTES - coff)
			want = SDB_CHUNK_BYTES - coff;
		if (want > m.len - pos)
			want = m.len - pos;
		DBT k = { .data = key, .size = 12 };
		DBT d = { .data = a->buf + a->got, .ulen = (u_int32_t)want,
		    .dlen = (u_int32_t)want, .doff = coff,
		    .flags = DB_DBT_USERMEM | DB_DBT_PARTIAL };
		sdb_chunk_key(key, a->id, chunk);
		r = st->bodies->get(st->bodies, tx->txn, &k, &d, 0);
		if (r != 0)
			return r == DB_NOTFOUND ? STORE_CORRUPT : sdb_map(r);
		if (d.size != want)
			return STORE_CORRUPT;
		a->got += want;
	}
	return STORE_OK;
}

int
store_body_read(struct store *st, uint64_t body_id, uint64_t offset,
    void *buf, size_t len, size_t *got_r)
{
	struct body_read_arg a = { .id = body_id, .offset = offset, .buf = buf,
	    .len = len };
	int r = sdb_run(st, false, body_read_tx, &a);
	*got_r = r == STORE_OK ? a.got : 0;
	return r;
}

int
store_body_read_exact(struct store *st, uint64_t body_id, uint64_t offset,
    void *buf, size_t len)
{
	for (size_t got = 0, g; got < len; got += g) {
		int r = store_body_read(st, body_id, offset + got, (char *)buf + got, len - got, &g);
		if (r != STORE_OK)
			return r;
		if (g == 0)
			return STORE_CORRUPT;
	}
	return STORE_OK;
}

int
store_body_get(struct store *st, uint64_t body_id, char **data_r, size_t *len_r)
{
	struct body_read_arg a = { .id = body_id, .whole = true };
	int r = sdb_run(st, false, body_read_tx, &a);
	if (r != STORE_OK) {
		free(a.buf);
		*data_r = NULL;
		*len_r = 0;
		return r;
	}
	a.buf[a.got] = '\0';
	*data_r = a.buf;
	*len_r = a.got;
	return STORE_OK;
}

int
store_body_refs(struct store *st, uint64_t body_id, uint32_t *refs_r)
{
	struct body_read_arg a = { .id = body_id, .len = 0 };
	int r = sdb_run(st, false, body_read_tx, &a);
	*refs_r = r == STORE_OK ? a.refs : 0;
	return r;
}

struct cache_many_arg {
	const uint64_t *ids;
	size_t n;
	char **data;
	size_t *lens;
};

static int
cache_many_tx(struct sdb_tx *tx, void *varg)
{
	struct cache_many_arg *a = varg;
	unsigned char key[8];

	for (size_t i = 0; i < a->n; i++) {
		free(a->data[i]);
		a->data[i] = NULL;
		a->lens[i] = 0;
	}
	for (size_t i = 0; i < a->n; i++) {
		void *d;
		size_t l;
		sdb_be64(key, a->ids[i]);
		int r = sdb_get_alloc(tx->st->cache, tx->txn, key, 8, &d, &l, 0);
		if (r == STORE_NOTFOUND)
			continue;
		if (r != STORE_OK)
			return r;
		a->data[i] = d != NULL ? d : xmalloc(1);   /* empty is not none */
		a->lens[i] = l;
	}
	return STORE_OK;
}

int
store_body_cache_many(struct store *st, const uint64_t *body_ids, size_t n,
    char **data, size_t *lens)
{
	struct cache_many_arg a = { body_ids, n, data, lens };

	for (size_t i = 0; i < n; i++) {
		data[i] = NULL;
		lens[i] = 0;
	}
	int r = sdb_run(st, false, cache_many_tx, &a);
	if (r != STORE_OK) {
		for (size_t i = 0; i < n; i++) {
			free(data[i]);
			data[i] = NULL;
			lens[i] = 0;
		}
	}
	return r;
}

int
store_body_cache(struct store *st, uint64_t body_id, char **data_r, size_t *len_r)
{
	char *d;
	size_t len;
	int r = store_body_cache_many(st, &body_id, 1, &d, &len);
	if (r == STORE_OK && d == NULL)
		r = STORE_NOTFOUND;
	if (r != STORE_OK) {
		*data_r = NULL;
		*len_r = 0;
		return r;
	}
	d = xrealloc(d, len + 1);         /* NUL-terminated for the caller */
	d[len] = '\0';
	*data_r = d;
	*len_r = len;
	return STORE_OK;
}
