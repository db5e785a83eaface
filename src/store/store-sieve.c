/* store-sieve.c: each user's Sieve scripts (named, at most one active)
 * and the vacation reply records, in sieve.db. The one idea: three key
 * spaces in one btree, all starting with a kind byte and the user's
 * lower-case address, so that a user's scripts are one range scan and a
 * user's removal drops everything with one prefix walk:
 *
 *   'S' user NUL name            -> the script's text
 *   'A' user                     -> the active script's name
 *   'V' user NUL handle NUL from -> the time (int64) of the last reply
 *
 * The store keeps bytes; checking that a script compiles is the caller's
 * (minimailctl, ManageSieve), since the compiler lives in src/sieve.
 *
 * Every delivery asks for its user's active script (store_sieve_active),
 * and most users have none: the answer is cached as the RCPT cache does
 * it (store-rcptcache.c), under a generation counter of its own shared
 * with every process (SIEVE_GEN_FILE), which every change of scripts
 * (put, delete, rename, activate, a user's removal) moves before its
 * transaction and again after it commits. An entry holds the generation
 * read before its lookup and is used only while the counter still has
 * it, so no delivery after a change commits, in any process, runs what
 * was active before it; a delivery costs an atomic load and a copy, not
 * a read transaction. */
#include "store/store-int.h"

#include <stdlib.h>
#include <string.h>

#include "lib/limits.h"
#include "lib/util.h"

struct sdb_sieve_entry {
	char user[ADDRESS_MAX_BYTES + 1];  /* normalised; "" empty */
	uint64_t gen;
	uint64_t expires_ms;
	bool found;                        /* else: no active script */
	char *name, *text;                 /* if found */
	size_t len;                        /* of text */
};

#define SV_KEY_MAX (1 + ADDRESS_MAX_BYTES + 1 + STORE_SIEVE_NAME_MAX + 1 + ADDRESS_MAX_BYTES + 1)

static size_t
sv_key(unsigned char *key, char kind, const char *user, const char *a, const char *b)
{
	size_t n = 0;
	key[n++] = (unsigned char)kind;
	size_t l = strlen(user);
	memcpy(key + n, user, l);
	n += l;
	if (a) {
		key[n++] = '\0';
		l = strlen(a);
		memcpy(key + n, a, l);
		n += l;
	}
	if (b) {
		key[n++] = '\0';
		l = strlen(b);
		memcpy(key + n, b, l);
		n += l;
	}
	return n;
}

bool
store_sieve_name_valid(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > STORE_SIEVE_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];
		/* RFC 5804 1.6: no control characters; '/' kept out for files */
		if (c < 0x20 || c == 0x7f || c == '/')
			return false;
	}
	return true;
}

struct sv_arg {
	char user[ADDRESS_MAX_BYTES + 1];
	const char *name, *name2;
	const char *text;
	size_t len;
	/* out */
	char *text_r;
	size_t len_r;
	char *active_r;
	store_sieve_cb *cb;
	void *cbarg;
	/* vacation */
	const char *handle, *sender;
	time_t now;
	unsigned long seconds;
	bool send_r;
};

static int
need_user(struct sdb_tx *tx, const char *user)
{
	struct sdb_user u;
	return sdb_user_load(tx, user, &u, false);
}

static int
active_get(struct sdb_tx *tx, const char *user, char **name_r, bool rmw)
{
	unsigned char key[SV_KEY_MAX];
	size_t kl = sv_key(key, 'A', user, NULL, NULL);
	void *d;
	size_t dl;
	int r = sdb_get_alloc(tx->st->sieve, tx->txn, key, kl, &d, &dl, rmw ? DB_RMW : 0);
	if (r != STORE_OK)
		return r;
	*name_r = xstrndup(d, dl);
	free(d);
	return STORE_OK;
}

static int
put_tx(struct sdb_tx *tx, void *varg)
{
	struct sv_arg *a = varg;
	int r;
	if ((r = need_user(tx, a->user)) != STORE_OK)
		return r;
	unsigned char key[SV_KEY_MAX];
	size_t kl = sv_key(key, 'S', a->user, a->name, NULL);
	/* a new name counts against STORE_SIEVE_SCRIPTS_MAX */
	void *old;
	size_t ol;
	r = sdb_get_alloc(tx->st->sieve, tx->txn, key, kl, &old, &ol, DB_RMW);
	if (r == STORE_OK) {
		free(old);
	} else if (r == STORE_NOTFOUND) {
		size_t n = 0;
		DBC *c;
		unsigned char pfx[SV_KEY_MAX];
		size_t pl = sv_key(pfx, 'S', a->user, "", NULL);
		if ((r = sdb_map(tx->st->sieve->cursor(tx->st->sieve, tx->txn, &c, 0))) != STORE_OK)
			return r;
		unsigned char kb[SV_KEY_MAX];
		memcpy(kb, pfx, pl);
		DBT k = { .data = kb, .size = (u_int32_t)pl, .ulen = sizeof(kb), .flags = DB_DBT_USERMEM };
		DBT d = { .flags = DB_DBT_USERMEM | DB_DBT_PARTIAL };
		for (int f = DB_SET_RANGE; ; f = DB_NEXT) {
			int e = c->get(c, &k, &d, f);
			if (e != 0 || k.size < pl || memcmp(kb, pfx, pl) != 0) {
				if (e != 0 && e != DB_NOTFOUND && e != DB_BUFFER_SMALL)
					r = sdb_map(e);
				break;
			}
			n++;
		}
		(void)c->close(c);
		if (r != STORE_OK && r != STORE_NOTFOUND)
			return r;
		if (n >= STORE_SIEVE_SCRIPTS_MAX)
			return STORE_LIMIT;
	} else {
		return r;
	}
	return sdb_put(tx->st->sieve, tx->txn, key, kl, a->text, a->len);
}

static int
get_tx(struct sdb_tx *tx, void *varg)
{
	struct sv_arg *a = varg;
	unsigned char key[SV_KEY_MAX];
	size_t kl = sv_key(key, 'S', a->user, a->name, NULL);
	void *d;
	int r = sdb_get_alloc(tx->st->sieve, tx->txn, key, kl, &d, &a->len_r, 0);
	if (r != STORE_OK)
		return r;
	a->text_r = xmalloc(a->len_r + 1);
	memcpy(a->text_r, d, a->len_r);
	a->text_r[a->len_r] = '\0';
	free(d);
	return STORE_OK;
}

static int
del_tx(struct sdb_tx *tx, void *varg)
{
	struct sv_arg *a = varg;
	char *act = NULL;
	int r = active_get(tx, a->user, &act, true);
	if (r == STORE_OK && strcmp(act, a->name) == 0) {
		free(act);
		return STORE_DENIED;	/* RFC 5804 2.10: the active script stays */
	}
	free(act);
	if (r != STORE_OK && r != STORE_NOTFOUND)
		return r;
	unsigned char key[SV_KEY_MAX];
	size_t kl = sv_key(key, 'S', a->user, a->name, NULL);
	r = sdb_del(tx->st->sieve, tx->txn, key, kl);
	return r == STORE_NOTFOUND && tx->redo ? STORE_OK : r;
}

static int
rename_tx(struct sdb_tx *tx, void *varg)
{
	struct sv_arg *a = varg;
	unsigned char key[SV_KEY_MAX], key2[SV_KEY_MAX];
	size_t kl = sv_key(key, 'S', a->user, a->name, NULL);
	size_t kl2 = sv_key(key2, 'S', a->user, a->name2, NULL);
	void *d, *d2;
	size_t dl, dl2;
	int r = sdb_get_alloc(tx->st->sieve, tx->txn, key2, kl2, &d2, &dl2, DB_RMW);
	if (r == STORE_OK) {
		free(d2);
		return STORE_EXISTS;
	}
	if (r != STORE_NOTFOUND)
		return r;
	if ((r = sdb_get_alloc(tx->st->sieve, tx->txn, key, kl, &d, &dl, DB_RMW)) != STORE_OK)
		return r;
	r = sdb_put(tx->st->sieve, tx->txn, key2, kl2, d, dl);
	free(d);
	if (r == STORE_OK)
		r = sdb_del(tx->st->sieve, tx->txn, key, kl);
	char *act = NULL;
	if (r == STORE_OK && active_get(tx, a->user, &act, true) == STORE_OK &&
	    strcmp(act, a->name) == 0) {
		unsigned char ak[SV_KEY_MAX];
		size_t al = sv_key(ak, 'A', a->user, NULL, NULL);
		r = sdb_put(tx->st->sieve, tx->txn, ak, al, a->name2, strlen(a->name2));
	}
	free(act);
	return r;
}

static int
activate_tx(struct sdb_tx *tx, void *varg)
{
	struct sv_arg *a = varg;
	unsigned char ak[SV_KEY_MAX];
	size_t al = sv_key(ak, 'A', a->user, NULL, NULL);
	int r;
	if ((r = need_user(tx, a->user)) != STORE_OK)
		return r;
	if (a->name == NULL || a->name[0] == '\0') {
		r = sdb_del(tx->st->sieve, tx->txn, ak, al);
		return r == STORE_NOTFOUND ? STORE_OK : r;
	}
	unsigned char key[SV_KEY_MAX];
	size_t kl = sv_key(key, 'S', a->user, a->name, NULL);
	void *d;
	size_t dl;
	if ((r = sdb_get_alloc(tx->st->sieve, tx->txn, key, kl, &d, &dl, DB_RMW)) != STORE_OK)
		return r;
	free(d);
	return sdb_put(tx->st->sieve, tx->txn, ak, al, a->name, strlen(a->name));
}

static int
list_tx(struct sdb_tx *tx, void *varg)
{
	struct sv_arg *a = varg;
	char *act = NULL;
	int r = active_get(tx, a->user, &act, false);
	if (r != STORE_OK && r != STORE_NOTFOUND)
		return r;
	if ((r = need_user(tx, a->user)) != STORE_OK) {
		free(act);
		return r;
	}
	DBC *c;
	unsigned char pfx[SV_KEY_MAX];
	size_t pl = sv_key(pfx, 'S', a->user, "", NULL);
	if ((r = sdb_map(tx->st->sieve->cursor(tx->st->sieve, tx->txn, &c, 0))) != STORE_OK) {
		free(act);
		return r;
	}
	unsigned char kb[SV_KEY_MAX + 1];
	memcpy(kb, pfx, pl);
	DBT k = { .data = kb, .size = (u_int32_t)pl, .ulen = SV_KEY_MAX, .flags = DB_DBT_USERMEM };
	DBT d = { .flags = DB_DBT_USERMEM | DB_DBT_PARTIAL };
	r = STORE_OK;
	for (int f = DB_SET_RANGE; ; f = DB_NEXT) {
		int e = c->get(c, &k, &d, f);
		if (e != 0 || k.size < pl || memcmp(kb, pfx, pl) != 0) {
			if (e != 0 && e != DB_NOTFOUND)
				r = sdb_map(e);
			break;
		}
		kb[k.size] = '\0';
		const char *name = (const char *)kb + pl;
		if ((r = a->cb(a->cbarg, name, act && strcmp(act, name) == 0)) != 0)
			break;
	}
	(void)c->close(c);
	free(act);
	return r;
}

static int
active_tx(struct sdb_tx *tx, void *varg)
{
	struct sv_arg *a = varg;
	int r = active_get(tx, a->user, &a->active_r, false);
	if (r != STORE_OK)
		return r;
	struct sv_arg g = *a;
	g.name = a->active_r;
	r = get_tx(tx, &g);
	a->text_r = g.text_r;
	a->len_r = g.len_r;
	if (r != STORE_OK) {
		free(a->active_r);
		a->active_r = NULL;
	}
	return r;
}

static int
vacation_tx(struct sdb_tx *tx, void *varg)
{
	struct sv_arg *a = varg;
	unsigned char key[SV_KEY_MAX];
	size_t kl = sv_key(key, 'V', a->user, a->handle, a->sender);
	int64_t last;
	int r = sdb_get(tx->st->sieve, tx->txn, key, kl, &last, sizeof(last), DB_RMW);
	if (r == STORE_OK && (uint64_t)(a->now - last) < a->seconds && a->now >= last) {
		a->send_r = false;
		return STORE_OK;
	}
	if (r != STORE_OK && r != STORE_NOTFOUND)
		return r;
	last = (int64_t)a->now;
	a->send_r = true;
	return sdb_put(tx->st->sieve, tx->txn, key, kl, &last, sizeof(last));
}

int
sdb_sieve_forget(struct sdb_tx *tx, const char *user)
{
	static const char kinds[] = { 'S', 'A', 'V' };
	int r = STORE_OK;
	for (size_t i = 0; i < sizeof(kinds) && r == STORE_OK; i++) {
		unsigned char pfx[SV_KEY_MAX];
		size_t pl = sv_key(pfx, kinds[i], user, kinds[i] == 'A' ? NULL : "", NULL);
		DBC *c;
		if ((r = sdb_map(tx->st->sieve->cursor(tx->st->sieve, tx->txn, &c, 0))) != STORE_OK)
			return r;
		unsigned char kb[SV_KEY_MAX];
		memcpy(kb, pfx, pl);
		DBT k = { .data = kb, .size = (u_int32_t)pl, .ulen = sizeof(kb), .flags = DB_DBT_USERMEM };
		DBT d = { .flags = DB_DBT_USERMEM | DB_DBT_PARTIAL };
		for (int f = DB_SET_RANGE; ; f = DB_NEXT) {
			int e = c->get(c, &k, &d, f | DB_RMW);
			if (e != 0 || k.size < pl || memcmp(kb, pfx, pl) != 0) {
				if (e != 0 && e != DB_NOTFOUND)
					r = sdb_map(e);
				break;
			}
			if (kinds[i] == 'A' && k.size != pl)
				continue;	/* another user's address that starts alike */
			if ((e = c->del(c, 0)) != 0) {
				r = sdb_map(e);
				break;
			}
		}
		(void)c->close(c);
	}
	return r;
}

static int
prepare(struct sv_arg *a, const char *user, const char *name)
{
	memset(a, 0, sizeof(*a));
	if (!sdb_address_norm(user, a->user))
		return STORE_INVALID;
	if (name && !store_sieve_name_valid(name))
		return STORE_INVALID;
	a->name = name;
	return STORE_OK;
}

/* ---- the active-script cache ---- */

void
sdb_sieve_cache_open(struct store *st)
{
	pthread_mutex_init(&st->sv_mu, NULL);
	st->sv_bytes = 0;
	st->sv_gen = sdb_gen_map(st, SIEVE_GEN_FILE, "active Sieve script cache");
	if (st->sv_gen != NULL)
		st->sv_table = xcalloc(SIEVE_ACTIVE_CACHE_ENTRIES, sizeof(*st->sv_table));
}

static void
sv_entry_clear(struct store *st, struct sdb_sieve_entry *e)
{
	if (e->found)
		st->sv_bytes -= strlen(e->name) + e->len;
	free(e->name);
	free(e->text);
	e->name = e->text = NULL;
	e->found = false;
	e->user[0] = '\0';
}

void
sdb_sieve_cache_close(struct store *st)
{
	if (st->sv_table != NULL) {
		for (size_t i = 0; i < SIEVE_ACTIVE_CACHE_ENTRIES; i++)
			sv_entry_clear(st, &st->sv_table[i]);
		free(st->sv_table);
		st->sv_table = NULL;
	}
	sdb_gen_unmap(&st->sv_gen);
	pthread_mutex_destroy(&st->sv_mu);
}

void
sdb_sieve_gen_bump(struct store *st)
{
	sdb_gen_bump(st->sv_gen);
}

bool
store_sieve_generation(struct store *st, uint64_t *gen_r)
{
	if (st->sv_gen == NULL)
		return false;
	*gen_r = sdb_gen_get(st->sv_gen);
	return true;
}

static struct sdb_sieve_entry *
sv_slot(struct store *st, const char *user)
{
	return &st->sv_table[mm_fnv1a(MM_FNV_BASIS, user) % SIEVE_ACTIVE_CACHE_ENTRIES];
}

/* A hit: *r is STORE_OK (copies in the _r arguments) or STORE_NOTFOUND. */
static bool
sv_cache_get(struct store *st, const char *user, char **name_r, char **text_r,
    size_t *len_r, int *r)
{
	bool hit = false;
	if (st->sv_table == NULL)
		return false;
	pthread_mutex_lock(&st->sv_mu);
	struct sdb_sieve_entry *e = sv_slot(st, user);
	if (e->user[0] != '\0' && strcmp(e->user, user) == 0 &&
	    e->gen == atomic_load(st->sv_gen) && mm_now_ms() < e->expires_ms) {
		hit = true;
		*r = e->found ? STORE_OK : STORE_NOTFOUND;
		if (e->found) {
			if (name_r)
				*name_r = xstrdup(e->name);
			*text_r = xmalloc(e->len + 1);
			memcpy(*text_r, e->text, e->len + 1);
			*len_r = e->len;
		}
	}
	pthread_mutex_unlock(&st->sv_mu);
	atomic_fetch_add(hit ? &st->sv_hits : &st->sv_misses, 1);
	return hit;
}

/* The answer of a lookup that began at generation gen: entered only if
 * nothing changed since (and if it fits). */
static void
sv_cache_put(struct store *st, uint64_t gen, const char *user, bool found,
    const char *name, const char *text, size_t len)
{
	if (st->sv_table == NULL)
		return;
	size_t bytes = found ? strlen(name) + len : 0;
	uint64_t expires = mm_now_ms() + SIEVE_ACTIVE_CACHE_TTL_MSECS;
	pthread_mutex_lock(&st->sv_mu);
	struct sdb_sieve_entry *e = sv_slot(st, user);
	sv_entry_clear(st, e);
	if (gen == atomic_load(st->sv_gen) && st->sv_bytes + bytes <= SIEVE_ACTIVE_CACHE_BYTES) {
		mm_strlcpy(e->user, user, sizeof(e->user));
		e->gen = gen;
		e->expires_ms = expires;
		e->found = found;
		if (found) {
			e->name = xstrdup(name);
			e->text = xmalloc(len + 1);
			memcpy(e->text, text, len);
			e->text[len] = '\0';
			e->len = len;
			st->sv_bytes += bytes;
		}
	}
	pthread_mutex_unlock(&st->sv_mu);
}

void
store_sieve_cache_stats(struct store *st, uint64_t *hits_r, uint64_t *misses_r)
{
	*hits_r = atomic_load(&st->sv_hits);
	*misses_r = atomic_load(&st->sv_misses);
}

/* A change of scripts: every process's cache stops using what it looked
 * up before (the first move) or during (the second) the transaction. */
static int
sv_run_change(struct store *st, sdb_txn_fn *fn, struct sv_arg *a)
{
	sdb_sieve_gen_bump(st);
	int r = sdb_run(st, true, fn, a);
	sdb_sieve_gen_bump(st);
	return r;
}

int
store_sieve_put(struct store *st, const char *user, const char *name, const char *text,
    size_t len)
{
	struct sv_arg a;
	int r = prepare(&a, user, name);
	if (r != STORE_OK)
		return r;
	a.text = text;
	a.len = len;
	return sv_run_change(st, put_tx, &a);
}

int
store_sieve_get(struct store *st, const char *user, const char *name, char **text_r,
    size_t *len_r)
{
	struct sv_arg a;
	int r = prepare(&a, user, name);
	if (r != STORE_OK)
		return r;
	if ((r = sdb_run(st, false, get_tx, &a)) != STORE_OK)
		return r;
	*text_r = a.text_r;
	*len_r = a.len_r;
	return STORE_OK;
}

int
store_sieve_del(struct store *st, const char *user, const char *name)
{
	struct sv_arg a;
	int r = prepare(&a, user, name);
	return r != STORE_OK ? r : sv_run_change(st, del_tx, &a);
}

int
store_sieve_rename(struct store *st, const char *user, const char *from, const char *to)
{
	struct sv_arg a;
	int r = prepare(&a, user, from);
	if (r != STORE_OK || !store_sieve_name_valid(to))
		return r != STORE_OK ? r : STORE_INVALID;
	a.name2 = to;
	return sv_run_change(st, rename_tx, &a);
}

int
store_sieve_activate(struct store *st, const char *user, const char *name)
{
	struct sv_arg a;
	int r = prepare(&a, user, name && *name ? name : NULL);
	return r != STORE_OK ? r : sv_run_change(st, activate_tx, &a);
}

int
store_sieve_list(struct store *st, const char *user, store_sieve_cb *cb, void *arg)
{
	struct sv_arg a;
	int r = prepare(&a, user, NULL);
	if (r != STORE_OK)
		return r;
	a.cb = cb;
	a.cbarg = arg;
	return sdb_run(st, false, list_tx, &a);
}

int
store_sieve_active(struct store *st, const char *user, char **name_r, char **text_r,
    size_t *len_r)
{
	struct sv_arg a;
	int r = prepare(&a, user, NULL);
	if (r != STORE_OK)
		return r;
	if (sv_cache_get(st, a.user, name_r, text_r, len_r, &r))
		return r;
	uint64_t gen = sdb_gen_get(st->sv_gen);
	r = sdb_run(st, false, active_tx, &a);
	if (r == STORE_OK || r == STORE_NOTFOUND)
		sv_cache_put(st, gen, a.user, r == STORE_OK, a.active_r, a.text_r, a.len_r);
	if (r != STORE_OK)
		return r;
	if (name_r)
		*name_r = a.active_r;
	else
		free(a.active_r);
	*text_r = a.text_r;
	*len_r = a.len_r;
	return STORE_OK;
}

int
store_sieve_vacation(struct store *st, const char *user, const char *handle,
    const char *sender, time_t now, unsigned long seconds, bool *send_r)
{
	struct sv_arg a;
	int r = prepare(&a, user, NULL);
	if (r != STORE_OK)
		return r;
	char h[STORE_SIEVE_NAME_MAX + 1];
	mm_strlcpy(h, handle, sizeof(h));	/* long handles are cut: still one key */
	char s[ADDRESS_MAX_BYTES + 1];
	mm_strlcpy(s, sender, sizeof(s));
	mm_strlower(s);
	a.handle = h;
	a.sender = s;
	a.now = now;
	a.seconds = seconds;
	if ((r = sdb_run(st, true, vacation_tx, &a)) != STORE_OK)
		return r;
	*send_r = a.send_r;
	return STORE_OK;
}
