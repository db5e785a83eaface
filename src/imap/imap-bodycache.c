/* imap-bodycache.c: the FETCH body cache (imap-bodycache.h).
 *
 * The one idea: a hash of body_id to body with an LRU list through the
 * entries; a put past IMAP_BODY_CACHE_BYTES drops the least recently
 * used. The bytes held are charged to membudget, and a put is refused
 * while the budget is more than half used, so the cache never takes
 * room a transfer needs. Everything runs on the loop: no lock. */
#include "imap/imap-bodycache.h"

#include <stdlib.h>

#include "lib/limits.h"
#include "lib/membudget.h"
#include "lib/util.h"

#define BODYCACHE_BUCKETS 4096    /* a power of two */

struct bc_entry {
	uint64_t id;
	char *data;
	size_t len;
	struct bc_entry *hnext;           /* bucket chain */
	struct bc_entry *newer, *older;   /* LRU list */
};

static struct bc_entry *buckets[BODYCACHE_BUCKETS];
static struct bc_entry *newest, *oldest;
static size_t held;

static struct bc_entry **
bucket(uint64_t id)
{
	return &buckets[(id * 0x9e3779b97f4a7c15ULL) >> 52 & (BODYCACHE_BUCKETS - 1)];
}

static void
lru_unlink(struct bc_entry *e)
{
	if (e->newer != NULL)
		e->newer->older = e->older;
	else
		newest = e->older;
	if (e->older != NULL)
		e->older->newer = e->newer;
	else
		oldest = e->newer;
	e->newer = e->older = NULL;
}

static void
lru_push(struct bc_entry *e)
{
	e->older = newest;
	e->newer = NULL;
	if (newest != NULL)
		newest->newer = e;
	newest = e;
	if (oldest == NULL)
		oldest = e;
}

static void
entry_drop(struct bc_entry *e)
{
	struct bc_entry **pp = bucket(e->id);
	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	lru_unlink(e);
	held -= e->len;
	membudget_release(e->len);
	free(e->data);
	free(e);
}

bool
imap_bodycache_get(uint64_t body_id, const char **data_r, size_t *len_r)
{
	for (struct bc_entry *e = *bucket(body_id); e != NULL; e = e->hnext) {
		if (e->id != body_id)
			continue;
		if (e != newest) {
			lru_unlink(e);
			lru_push(e);
		}
		*data_r = e->data;
		*len_r = e->len;
		return true;
	}
	return false;
}

void
imap_bodycache_put(uint64_t body_id, char *data, size_t len)
{
	const char *old;
	size_t oldlen;
	uint64_t limit = membudget_limit();

	if (len > IMAP_BODY_CACHE_MSG_BYTES || imap_bodycache_get(body_id, &old, &oldlen) ||
	    (limit != 0 && membudget_used() + len > limit / 2)) {
		free(data);
		return;
	}
	while (oldest != NULL && held + len > IMAP_BODY_CACHE_BYTES)
		entry_drop(oldest);
	struct bc_entry *e = xcalloc(1, sizeof(*e));
	e->id = body_id;
	e->data = data;
	e->len = len;
	struct bc_entry **b = bucket(body_id);
	e->hnext = *b;
	*b = e;
	lru_push(e);
	held += len;
	membudget_charge(len);
}

void
imap_bodycache_clear(void)
{
	while (oldest != NULL)
		entry_drop(oldest);
}

size_t
imap_bodycache_bytes(void)
{
	return held;
}
