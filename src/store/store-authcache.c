/* store-authcache.c: the authentication cache (like Dovecot's auth_cache):
 * a successful password check is remembered for [auth] cache_ttl, so a
 * client that logs in again and again pays crypt(3) once per TTL.
 *
 * The one idea: an entry is only HMAC-SHA256(per-process random secret,
 * address NUL stored-hash NUL password) and an expiry time. The plaintext
 * is never kept, and since the user's stored hash is part of the key, the
 * cheap user-record read that every login does anyway decides whether an
 * entry still applies: `user passwd` (new hash, new salt) or `user del`
 * (no record) in any process, minimailctl included, makes the old entry
 * unreachable at once, with no message between processes. Failed checks
 * are never entered, so the failure delays are unchanged. The table is
 * fixed: AUTH_CACHE_ENTRIES in sets of AUTH_CACHE_WAYS, the oldest entry of
 * a full set is replaced. It is process-wide (not per struct store): an
 * entry says "this password matches this hash", true in any store. */
#include "store/store-int.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/util.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define AUTH_CACHE_WAYS 4
#define AUTH_CACHE_SETS (AUTH_CACHE_ENTRIES / AUTH_CACHE_WAYS)

struct ac_entry {
	unsigned char key[32];
	uint64_t expires_ms;       /* 0: empty */
};

static pthread_mutex_t ac_mu = PTHREAD_MUTEX_INITIALIZER;
static struct ac_entry *ac_table;  /* AUTH_CACHE_ENTRIES, or NULL: off */
static uint64_t ac_ttl_ms;
static unsigned char ac_secret[32];
static atomic_uint_fast64_t ac_hits, ac_misses;

bool
store_auth_cache_set_ttl(unsigned ttl_secs)
{
	bool ok = true;

	if (ttl_secs > AUTH_CACHE_TTL_MAX_SECS)
		return false;
	pthread_mutex_lock(&ac_mu);
	if (ttl_secs == 0) {
		if (ac_table) {
			explicit_bzero(ac_table, AUTH_CACHE_ENTRIES * sizeof(*ac_table));
			free(ac_table);
			ac_table = NULL;
		}
	} else if (ac_table == NULL) {
		if (RAND_bytes(ac_secret, sizeof(ac_secret)) != 1) {
			log_error("store: auth cache: no random secret; the cache stays off");
			ok = false;
		} else {
			ac_table = xcalloc(AUTH_CACHE_ENTRIES, sizeof(*ac_table));
		}
	}
	ac_ttl_ms = ok ? (uint64_t)ttl_secs * 1000 : 0;
	pthread_mutex_unlock(&ac_mu);
	return ok;
}

void
store_auth_cache_stats(uint64_t *hits_r, uint64_t *misses_r)
{
	*hits_r = atomic_load(&ac_hits);
	*misses_r = atomic_load(&ac_misses);
}

/* key = HMAC-SHA256(secret, addr NUL hash NUL password). */
static void
ac_key(const char *addr, const char *hash, const char *password,
    unsigned char key[32])
{
	unsigned char msg[ADDRESS_MAX_BYTES + 1 + 256 + STORE_PASSWORD_MAX_BYTES + 1];
	size_t al = strnlen(addr, ADDRESS_MAX_BYTES), hl = strnlen(hash, 255);
	size_t pl = strnlen(password, STORE_PASSWORD_MAX_BYTES), n = 0;
	unsigned int kl = 32;

	memcpy(msg, addr, al); n += al; msg[n++] = '\0';
	memcpy(msg + n, hash, hl); n += hl; msg[n++] = '\0';
	memcpy(msg + n, password, pl); n += pl;
	if (HMAC(EVP_sha256(), ac_secret, sizeof(ac_secret), msg, n, key, &kl) == NULL)
		memset(key, 0, 32);   /* all zeros never matches: see ac_valid */
	explicit_bzero(msg, n);
}

static bool
ac_valid(const unsigned char key[32])
{
	unsigned char z = 0;
	for (int i = 0; i < 32; i++)
		z |= key[i];
	return z != 0;
}

static struct ac_entry *
ac_set(const unsigned char key[32])
{
	uint32_t h = (uint32_t)key[0] | (uint32_t)key[1] << 8 |
	    (uint32_t)key[2] << 16 | (uint32_t)key[3] << 24;
	return ac_table + (size_t)(h % AUTH_CACHE_SETS) * AUTH_CACHE_WAYS;
}

bool
sdb_auth_cache_lookup(const char *addr, const char *hash, const char *password)
{
	unsigned char key[32];
	bool hit = false;

	pthread_mutex_lock(&ac_mu);
	bool on = ac_table != NULL;
	pthread_mutex_unlock(&ac_mu);
	if (!on)
		return false;
	ac_key(addr, hash, password, key);
	if (!ac_valid(key))
		return false;
	uint64_t now = mm_now_ms();
	pthread_mutex_lock(&ac_mu);
	if (ac_table != NULL) {
		struct ac_entry *e = ac_set(key);
		for (int i = 0; i < AUTH_CACHE_WAYS; i++)
			/* a TTL shortened by a reload applies to old entries too */
			if (e[i].expires_ms > now && e[i].expires_ms <= now + ac_ttl_ms &&
			    CRYPTO_memcmp(e[i].key, key, sizeof(key)) == 0) {
				hit = true;
				break;
			}
	}
	pthread_mutex_unlock(&ac_mu);
	explicit_bzero(key, sizeof(key));
	atomic_fetch_add(hit ? &ac_hits : &ac_misses, 1);
	metrics_auth_cache(hit);
	if (hit && log_get_level() >= LOG_LVL_DEBUG) {
		char esc[2 * ADDRESS_MAX_BYTES];
		log_escape(esc, sizeof(esc), addr, strlen(addr));
		log_debug("auth cache hit user=%s", esc);
	}
	return hit;
}

void
sdb_auth_cache_insert(const char *addr, const char *hash, const char *password)
{
	unsigned char key[32];

	pthread_mutex_lock(&ac_mu);
	bool on = ac_table != NULL;
	pthread_mutex_unlock(&ac_mu);
	if (!on)
		return;
	ac_key(addr, hash, password, key);
	if (!ac_valid(key))
		return;
	uint64_t now = mm_now_ms();
	pthread_mutex_lock(&ac_mu);
	if (ac_table != NULL && ac_ttl_ms > 0) {
		struct ac_entry *e = ac_set(key), *victim = &e[0];
		for (int i = 0; i < AUTH_CACHE_WAYS; i++) {
			if (CRYPTO_memcmp(e[i].key, key, sizeof(key)) == 0) {
				victim = &e[i];
				break;
			}
			if (e[i].expires_ms < victim->expires_ms)
				victim = &e[i];
		}
		memcpy(victim->key, key, sizeof(key));
		victim->expires_ms = now + ac_ttl_ms;
	}
	pthread_mutex_unlock(&ac_mu);
	explicit_bzero(key, sizeof(key));
}
