/* store-rcptcache.c: the RCPT cache: store_resolve's answer for a
 * recipient whose users have no quota, remembered for RCPT_CACHE_TTL_MSECS,
 * so that SMTP answers a known recipient on the event loop, without a
 * worker job (two thread switches and a wake-up of the loop).
 *
 * The one idea: a generation counter shared by every process that opens
 * the store, in the file data_dir/RCPT_GEN_FILE mapped MAP_SHARED. Every
 * change of a user or an alias (store_user_add, _set_quota, _del,
 * store_alias_add, _del, in any process, minimailctl included) adds one to
 * it before its transaction and again after it commits. An entry records
 * the generation read before its lookup began and is used only while the
 * counter still has that value; so a lookup that ran before or during a
 * change is never used after the change commits (the second increment),
 * with no message between processes and nothing on the loop but an
 * atomic load. A process that dies between its commit and the second
 * increment leaves entries from during its transaction usable for at most
 * the TTL: that bound is why there is one at all. Users with a quota are
 * never entered (their usage changes with every delivery), nor failures,
 * nor unknown recipients. When the file cannot be mapped the cache is off
 * in that process (a warning says so). */
#include "store/store-int.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct sdb_rcpt_entry {
	char key[ADDRESS_MAX_BYTES + 1];   /* normalised; "" empty */
	uint64_t gen;
	uint64_t expires_ms;
	char *names;                       /* users then remotes, NUL-separated */
	size_t nusers, nremote;
};

_Atomic uint64_t *
sdb_gen_map(struct store *st, const char *file, const char *what)
{
	char path[PATH_MAX];
	int fd;
	void *p;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", st->data_dir, file) >= sizeof(path))
		return NULL;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		log_warn("store: %s: %s; the %s is off", path, strerror(errno), what);
		return NULL;
	}
	struct stat sb;
	/* a fresh file is zeros: generation 0 */
	if (fstat(fd, &sb) != 0 ||
	    (sb.st_size < (off_t)sizeof(uint64_t) && ftruncate(fd, sizeof(uint64_t)) != 0) ||
	    (p = mmap(NULL, sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) ==
	    MAP_FAILED) {
		log_warn("store: %s: %s; the %s is off", path, strerror(errno), what);
		close(fd);
		return NULL;
	}
	close(fd);
	return p;
}

void
sdb_gen_unmap(_Atomic uint64_t **gen)
{
	if (*gen != NULL) {
		(void)munmap((void *)*gen, sizeof(uint64_t));
		*gen = NULL;
	}
}

void
sdb_gen_bump(_Atomic uint64_t *gen)
{
	if (gen != NULL)
		atomic_fetch_add(gen, 1);
}

uint64_t
sdb_gen_get(_Atomic uint64_t *gen)
{
	return gen != NULL ? atomic_load(gen) : 0;
}

void
sdb_rcpt_cache_open(struct store *st)
{
	pthread_mutex_init(&st->rc_mu, NULL);
	st->rc_gen = sdb_gen_map(st, RCPT_GEN_FILE, "RCPT cache");
	if (st->rc_gen != NULL)
		st->rc_table = xcalloc(RCPT_CACHE_ENTRIES, sizeof(*st->rc_table));
}

void
sdb_rcpt_cache_close(struct store *st)
{
	if (st->rc_table != NULL) {
		for (size_t i = 0; i < RCPT_CACHE_ENTRIES; i++)
			free(st->rc_table[i].names);
		free(st->rc_table);
		st->rc_table = NULL;
	}
	sdb_gen_unmap(&st->rc_gen);
	pthread_mutex_destroy(&st->rc_mu);
}

void
sdb_rcpt_gen_bump(struct store *st)
{
	sdb_gen_bump(st->rc_gen);
}

uint64_t
store_rcpt_cache_gen(struct store *st)
{
	return sdb_gen_get(st->rc_gen);
}

static struct sdb_rcpt_entry *
rc_slot(struct store *st, const char *key)
{
	return &st->rc_table[mm_fnv1a(MM_FNV_BASIS, key) % RCPT_CACHE_ENTRIES];
}

void
store_rcpt_cache_put(struct store *st, uint64_t gen, const char *rcpt,
    const char (*users)[321], size_t nusers, const char (*remote)[321], size_t nremote)
{
	char key[ADDRESS_MAX_BYTES + 1];
	struct mm_buf names;

	if (st->rc_table == NULL || nusers + nremote == 0 || !sdb_address_norm(rcpt, key))
		return;
	mm_buf_init(&names);
	for (size_t i = 0; i < nusers; i++)
		mm_buf_append(&names, users[i], strlen(users[i]) + 1);
	for (size_t i = 0; i < nremote; i++)
		mm_buf_append(&names, remote[i], strlen(remote[i]) + 1);
	uint64_t expires = mm_now_ms() + RCPT_CACHE_TTL_MSECS;
	pthread_mutex_lock(&st->rc_mu);
	/* a lookup older than the latest change is not entered at all */
	if (gen == atomic_load(st->rc_gen)) {
		struct sdb_rcpt_entry *e = rc_slot(st, key);
		free(e->names);
		mm_strlcpy(e->key, key, sizeof(e->key));
		e->gen = gen;
		e->expires_ms = expires;
		e->names = names.data;
		e->nusers = nusers;
		e->nremote = nremote;
		names.data = NULL;
	}
	pthread_mutex_unlock(&st->rc_mu);
	mm_buf_free(&names);
}

bool
store_rcpt_cache_get(struct store *st, const char *rcpt,
    char (*users_r)[321], size_t maxusers, size_t *nusers_r,
    char (*remote_r)[321], size_t maxremote, size_t *nremote_r)
{
	char key[ADDRESS_MAX_BYTES + 1];
	bool hit = false;

	*nusers_r = *nremote_r = 0;
	if (st->rc_table == NULL || !sdb_address_norm(rcpt, key))
		return false;
	uint64_t now = mm_now_ms(), gen = atomic_load(st->rc_gen);
	pthread_mutex_lock(&st->rc_mu);
	struct sdb_rcpt_entry *e = rc_slot(st, key);
	if (e->names != NULL && e->gen == gen && e->expires_ms > now &&
	    e->nusers <= maxusers && e->nremote <= maxremote && strcmp(e->key, key) == 0) {
		const char *p = e->names;
		for (size_t i = 0; i < e->nusers; i++, p += strlen(p) + 1)
			mm_strlcpy(users_r[i], p, 321);
		for (size_t i = 0; i < e->nremote; i++, p += strlen(p) + 1)
			mm_strlcpy(remote_r[i], p, 321);
		*nusers_r = e->nusers;
		*nremote_r = e->nremote;
		hit = true;
	}
	pthread_mutex_unlock(&st->rc_mu);
	atomic_fetch_add(hit ? &st->rc_hits : &st->rc_misses, 1);
	return hit;
}

void
store_rcpt_cache_stats(struct store *st, uint64_t *hits_r, uint64_t *misses_r)
{
	*hits_r = atomic_load(&st->rc_hits);
	*misses_r = atomic_load(&st->rc_misses);
}
