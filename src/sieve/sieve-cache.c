/* sieve-cache.c: compiled scripts shared by the delivery threads
 * (sieve.h: sieve_cache_compile).
 *
 * The one idea: an entry is keyed by its owner (a user) and holds the
 * exact text it was compiled from and the limits it was compiled under; a
 * lookup whose text or limits differ compiles again and replaces it, so a
 * changed script is never run from its old form, with no invalidation
 * message from the store or from minimailctl. A script whose compile
 * looked up an include (found or not) depends on other scripts' texts,
 * which this key does not see: it is kept only with the include
 * interface's stamp read before the compile (the store's sieve
 * generation, moved by every change of any script), and used again only
 * while the stamp is the same and for at most
 * SIEVE_CACHE_INCLUDE_TTL_MSECS; without a stamp it is compiled at every
 * use. Compiled scripts are
 * immutable once made (a run keeps its state apart) and counted, so an
 * entry replaced or evicted while a delivery runs it is freed by the last
 * one to let it go. Bounded by SIEVE_CACHE_ENTRIES entries and
 * SIEVE_CACHE_BYTES of kept text (the least recently used goes first);
 * a text over an eighth of that is compiled every time. */
#include "sieve/sieve-int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "lib/limits.h"
#include "lib/util.h"

struct sc_entry {
	char *key;                   /* NULL: free */
	char *text;
	size_t len;
	struct sieve_limits lim;
	bool includes;               /* looked up an include: stamp, expires_ms */
	uint64_t stamp;
	uint64_t expires_ms;
	struct sieve_script *s;      /* one reference is the entry's */
	uint64_t used;               /* LRU tick */
};

struct sieve_cache {
	pthread_mutex_t mu;
	struct sc_entry e[SIEVE_CACHE_ENTRIES];
	size_t bytes;                /* text kept */
	uint64_t tick;
	uint64_t hits, misses;
};

struct sieve_cache *
sieve_cache_new(void)
{
	struct sieve_cache *c = xcalloc(1, sizeof(*c));
	pthread_mutex_init(&c->mu, NULL);
	return c;
}

/* Under mu. */
static void
unref(struct sieve_script *s)
{
	if (s != NULL && --s->refs == 0)
		sieve_script_free(&s);
}

static void
entry_clear(struct sieve_cache *c, struct sc_entry *e)
{
	if (e->key == NULL)
		return;
	c->bytes -= e->len;
	free(e->key);
	free(e->text);
	unref(e->s);
	memset(e, 0, sizeof(*e));
}

void
sieve_cache_free(struct sieve_cache **cp)
{
	struct sieve_cache *c = *cp;
	if (c == NULL)
		return;
	for (size_t i = 0; i < SIEVE_CACHE_ENTRIES; i++)
		entry_clear(c, &c->e[i]);
	pthread_mutex_destroy(&c->mu);
	free(c);
	*cp = NULL;
}

static bool
lim_eq(const struct sieve_limits *a, const struct sieve_limits *b)
{
	return a->max_script_bytes == b->max_script_bytes && a->max_actions == b->max_actions &&
	    a->max_redirects == b->max_redirects && a->vacation_min_days == b->vacation_min_days &&
	    a->max_steps == b->max_steps && a->max_header_bytes == b->max_header_bytes &&
	    a->max_body_bytes == b->max_body_bytes;
}

/* The compile's include lookups go through here: any one makes the
 * result unfit to keep. */
struct inc_watch {
	const struct sieve_include_if *inc;
	bool looked;
};

static bool
watch_lookup(void *ctx, bool global, const char *name, char **text_r, size_t *len_r)
{
	struct inc_watch *w = ctx;
	w->looked = true;
	return w->inc != NULL && w->inc->lookup != NULL &&
	    w->inc->lookup(w->inc->ctx, global, name, text_r, len_r);
}

/* The includes' stamp now; false: inc has none. */
static bool
inc_stamp(const struct sieve_include_if *inc, uint64_t *stamp_r)
{
	return inc != NULL && inc->stamp != NULL && inc->stamp(inc->ctx, stamp_r);
}

/* Under mu: may e (same key, text, limits) be run? */
static bool
entry_fresh(const struct sc_entry *e, bool have_stamp, uint64_t stamp)
{
	return !e->includes || (have_stamp && stamp == e->stamp && mm_now_ms() < e->expires_ms);
}

struct sieve_script *
sieve_cache_compile(struct sieve_cache *c, const char *key, const char *text, size_t len,
    const struct sieve_limits *lim, const struct sieve_include_if *inc,
    struct sieve_error *err_r, bool *hit_r)
{
	struct sieve_limits dl;
	if (lim == NULL) {
		sieve_limits_default(&dl);
		lim = &dl;
	}
	*hit_r = false;
	/* read before the compile's lookups: a change meanwhile moves it */
	uint64_t stamp = 0;
	bool have_stamp = inc_stamp(inc, &stamp);
	pthread_mutex_lock(&c->mu);
	for (size_t i = 0; i < SIEVE_CACHE_ENTRIES; i++) {
		struct sc_entry *e = &c->e[i];
		if (e->key != NULL && strcmp(e->key, key) == 0 && e->len == len &&
		    memcmp(e->text, text, len) == 0 && lim_eq(&e->lim, lim) &&
		    entry_fresh(e, have_stamp, stamp)) {
			e->used = ++c->tick;
			e->s->refs++;
			c->hits++;
			struct sieve_script *s = e->s;
			pthread_mutex_unlock(&c->mu);
			*hit_r = true;
			return s;
		}
	}
	c->misses++;
	pthread_mutex_unlock(&c->mu);

	/* compiled outside the lock: other deliveries go on meanwhile */
	struct inc_watch w = { inc, false };
	struct sieve_include_if winc = { &w, watch_lookup, NULL };
	struct sieve_script *s;
	if (!sieve_compile(text, len, lim, &winc, &s, err_r))
		return NULL;
	s->refs = 1;
	if ((w.looked && !have_stamp) || len > SIEVE_CACHE_BYTES / 8)
		return s;

	pthread_mutex_lock(&c->mu);
	struct sc_entry *slot = NULL;
	for (size_t i = 0; i < SIEVE_CACHE_ENTRIES; i++)
		if (c->e[i].key != NULL && strcmp(c->e[i].key, key) == 0) {
			entry_clear(c, &c->e[i]);	/* the owner's older text */
			slot = &c->e[i];
		}
	for (;;) {
		struct sc_entry *lru = NULL;
		for (size_t i = 0; i < SIEVE_CACHE_ENTRIES && slot == NULL; i++)
			if (c->e[i].key == NULL)
				slot = &c->e[i];
		if (slot != NULL && c->bytes + len <= SIEVE_CACHE_BYTES)
			break;
		for (size_t i = 0; i < SIEVE_CACHE_ENTRIES; i++)
			if (c->e[i].key != NULL && (lru == NULL || c->e[i].used < lru->used))
				lru = &c->e[i];
		if (lru == NULL)
			break;	/* empty: the text fits (len <= SIEVE_CACHE_BYTES / 8) */
		entry_clear(c, lru);
		if (slot == NULL)
			slot = lru;
	}
	slot->key = xstrdup(key);
	slot->text = xmalloc(len ? len : 1);
	memcpy(slot->text, text, len);
	slot->len = len;
	slot->lim = *lim;
	slot->includes = w.looked;
	slot->stamp = stamp;
	slot->expires_ms = mm_now_ms() + SIEVE_CACHE_INCLUDE_TTL_MSECS;
	slot->s = s;
	slot->used = ++c->tick;
	s->refs++;
	c->bytes += len;
	pthread_mutex_unlock(&c->mu);
	return s;
}

void
sieve_cache_release(struct sieve_cache *c, struct sieve_script **sp)
{
	if (*sp == NULL)
		return;
	pthread_mutex_lock(&c->mu);
	unref(*sp);
	pthread_mutex_unlock(&c->mu);
	*sp = NULL;
}

void
sieve_cache_stats(struct sieve_cache *c, uint64_t *hits_r, uint64_t *misses_r,
    size_t *entries_r)
{
	size_t n = 0;
	pthread_mutex_lock(&c->mu);
	for (size_t i = 0; i < SIEVE_CACHE_ENTRIES; i++)
		n += c->e[i].key != NULL;
	*hits_r = c->hits;
	*misses_r = c->misses;
	*entries_r = n;
	pthread_mutex_unlock(&c->mu);
}
