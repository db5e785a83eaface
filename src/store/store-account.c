/* store-account.c: users, passwords, aliases and recipient resolution.
 *
 * The one idea: addresses are validated and lower-cased once, by
 * sdb_address_norm(), and every key in users.db and aliases.db is such a
 * normalised address (a catch-all alias is "@domain"), so lookups are
 * plain exact-key gets. A user and an alias never share an address. */
#include "store/store-int.h"
#include "lib/log.h"
#include "lib/util.h"

#include <crypt.h>
#include <stdlib.h>
#include <string.h>

#define SDB_RESOLVE_VISITED_MAX 64

/* ---- addresses ---- */

static bool
local_char_ok(unsigned char c)
{
	return c > 0x20 && c != 0x7f && strchr("()<>[]\\,;:@\"", c) == NULL;
}

static bool
domain_ok(const char *d, size_t n)
{
	if (n == 0 || n > SDB_ADDR_DOMAIN_MAX || d[0] == '.' || d[0] == '-' ||
	    d[n - 1] == '.' || d[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)d[i];
		if (c == '.' && d[i + 1] == '.')
			return false;
		if (!(c >= 0x80 || c == '.' || c == '-' || (c >= '0' && c <= '9') ||
		    (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
			return false;
	}
	return true;
}

/* local@domain (allow_empty_local: also "@domain") -> lower-case copy. */
static bool
address_norm2(const char *in, char out[ADDRESS_MAX_BYTES + 1],
    bool allow_empty_local)
{
	size_t n = strnlen(in, ADDRESS_MAX_BYTES + 1);
	const char *at;

	if (n > ADDRESS_MAX_BYTES)
		return false;
	at = strrchr(in, '@');
	if (at == NULL)
		return false;
	size_t llen = (size_t)(at - in);
	if (llen > SDB_ADDR_LOCAL_MAX || (llen == 0 && !allow_empty_local))
		return false;
	for (size_t i = 0; i < llen; i++)
		if (!local_char_ok((unsigned char)in[i]))
			return false;
	if (llen > 0 && (in[0] == '.' || in[llen - 1] == '.'))
		return false;
	if (!domain_ok(at + 1, n - llen - 1))
		return false;
	memcpy(out, in, n + 1);
	mm_strlower(out);
	return true;
}

bool
sdb_address_norm(const char *in, char out[ADDRESS_MAX_BYTES + 1])
{
	return address_norm2(in, out, false);
}

bool
store_address_valid(const char *address)
{
	char tmp[ADDRESS_MAX_BYTES + 1];
	return sdb_address_norm(address, tmp);
}

/* ---- passwords ---- */

static bool
crypt_once(const char *password, const char *setting, char *out, size_t outlen)
{
	struct crypt_data *cd = xcalloc(1, sizeof(*cd));
	const char *h = crypt_r(password, setting, cd);
	bool ok = h != NULL && h[0] == '$' && strlen(h) < outlen;
	if (ok)
		mm_strlcpy(out, h, outlen);
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return ok;
}

int
store_hash_password(const char *password, char *hash_r, size_t hashlen)
{
	static const char *const prefixes[] = { "$y$", "$6$" };
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];

	if (strnlen(password, STORE_PASSWORD_MAX_BYTES + 1) > STORE_PASSWORD_MAX_BYTES)
		return STORE_INVALID;
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		if (crypt_gensalt_rn(prefixes[i], 0, NULL, 0, salt, sizeof(salt)) == NULL)
			continue;
		if (crypt_once(password, salt, hash_r, hashlen))
			return STORE_OK;
	}
	log_error("store: crypt(3) supports neither yescrypt nor SHA-512-crypt");
	return STORE_IO;
}

/* Strips a Dovecot scheme prefix and checks that crypt(3) understands the
 * hash: hashing anything with it as setting must give a hash of the same
 * length and the same "$id$" prefix. */
static int
hash_norm(const char *in, char out[256])
{
	static const char *const schemes[] = { "{SHA512-CRYPT}", "{SHA256-CRYPT}",
	    "{BLF-CRYPT}", "{CRYPT}" };
	char test[CRYPT_OUTPUT_SIZE];
	size_t n;

	if (in[0] == '{') {
		size_t i;
		for (i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
			if (strncmp(in, schemes[i], strlen(schemes[i])) == 0)
				break;
		if (i == sizeof(schemes) / sizeof(schemes[0]))
			return STORE_INVALID;
		in += strlen(schemes[i]);
	}
	n = strnlen(in, 256);
	if (n < 4 || n > 255 || in[0] != '$')
		return STORE_INVALID;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)in[i] <= 0x20 || (unsigned char)in[i] >= 0x7f ||
		    in[i] == ':')
			return STORE_INVALID;
	if (!crypt_once("sanity-check", in, test, sizeof(test)))
		return STORE_INVALID;
	const char *d = strchr(in + 1, '$');
	if (d == NULL || strlen(test) != n || strncmp(test, in, (size_t)(d - in) + 1) != 0)
		return STORE_INVALID;
	memcpy(out, in, n + 1);
	return STORE_OK;
}

static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;
static char dummy_hash[256];

static void
dummy_init(void)
{
	if (store_hash_password("no such user; this only costs time", dummy_hash,
	    sizeof(dummy_hash)) != STORE_OK)
		mm_strlcpy(dummy_hash, "$6$saltsaltsalt$", sizeof(dummy_hash));
}

/* Constant-time: does crypt(password, hash) reproduce hash? */
static bool
password_matches(const char *password, const char *hash)
{
	char out[CRYPT_OUTPUT_SIZE];
	if (!crypt_once(password, hash, out, sizeof(out)))
		return false;
	size_t n = strlen(hash);
	if (strlen(out) != n)
		return false;
	unsigned char diff = 0;
	for (size_t i = 0; i < n; i++)
		diff |= (unsigned char)(out[i] ^ hash[i]);
	explicit_bzero(out, sizeof(out));
	return diff == 0;
}

/* ---- users ---- */

int
sdb_user_load(struct sdb_tx *tx, const char *addr, struct sdb_user *u_r, bool rmw)
{
	int r = sdb_get(tx->st->users, tx->txn, addr, strlen(addr), u_r,
	    sizeof(*u_r), rmw ? DB_RMW : 0);
	if (r == STORE_OK && (u_r->version != SDB_USER_VERSION ||
	    memchr(u_r->hash, '\0', sizeof(u_r->hash)) == NULL))
		return STORE_CORRUPT;
	return r;
}

struct user_arg {
	char addr[ADDRESS_MAX_BYTES + 1];
	char hash[256];
	uint64_t quota_bytes;
	uint64_t quota_messages;
	struct sdb_user u;
	int what;
	uint64_t bytes, messages;
};

static const struct {
	const char *name;
	unsigned attrs;
} default_mailboxes[] = {
	{ "INBOX", 0 },
	{ "Drafts", MBOX_ATTR_DRAFTS },
	{ "Sent", MBOX_ATTR_SENT },
	{ "Trash", MBOX_ATTR_TRASH },
	{ "Junk", MBOX_ATTR_JUNK },
	{ "Archive", MBOX_ATTR_ARCHIVE },
};

static int
user_add_tx(struct sdb_tx *tx, void *varg)
{
	struct user_arg *a = varg;
	struct store *st = tx->st;
	struct sdb_user u;
	struct sdb_counters c = { 0 };
	uint64_t no;
	void *data;
	size_t len;
	int r;

	r = sdb_user_load(tx, a->addr, &u, true);
	if (r == STORE_OK && tx->redo && strcmp(u.hash, a->hash) == 0)
		return STORE_OK;         /* our own first run committed */
	if (r != STORE_NOTFOUND)
		return r == STORE_OK ? STORE_EXISTS : r;
	r = sdb_get_alloc(st->aliases, tx->txn, a->addr, strlen(a->addr), &data, &len, 0);
	if (r == STORE_OK) {
		free(data);
		return STORE_EXISTS;
	}
	if (r != STORE_NOTFOUND)
		return r;
	if ((r = sdb_seq_next(st->seq_recno, &no)) != STORE_OK)
		return r;
	memset(&u, 0, sizeof(u));
	u.version = SDB_USER_VERSION;
	u.no = (uint32_t)no;
	mm_strlcpy(u.hash, a->hash, sizeof(u.hash));
	r = sdb_put(st->users, tx->txn, a->addr, strlen(a->addr), &u, sizeof(u));
	if (r == STORE_OK)
		r = sdb_counters_put(tx, u.no, &c);
	for (size_t i = 0; r == STORE_OK &&
	    i < sizeof(default_mailboxes) / sizeof(default_mailboxes[0]); i++)
		r = sdb_mailbox_create_tx(tx, a->addr, default_mailboxes[i].name,
		    default_mailboxes[i].attrs, true, false);
	return r;
}

/* A change of users or aliases: the RCPT caches of every process stop
 * using what they looked up before it (store-rcptcache.c), and so do the
 * active-Sieve-script caches (a removed user's scripts go with it). */
static int
sdb_run_account(struct store *st, sdb_txn_fn *fn, void *arg)
{
	sdb_rcpt_gen_bump(st);
	sdb_sieve_gen_bump(st);
	int r = sdb_run(st, true, fn, arg);
	sdb_rcpt_gen_bump(st);
	sdb_sieve_gen_bump(st);
	return r;
}

int
store_user_add(struct store *st, const char *address, const char *hash)
{
	struct user_arg a;
	if (!sdb_address_norm(address, a.addr) || hash_norm(hash, a.hash) != STORE_OK)
		return STORE_INVALID;
	return sdb_run_account(st, user_add_tx, &a);
}

enum { USER_SET_HASH, USER_SET_QUOTA };

static int
user_set_tx(struct sdb_tx *tx, void *varg)
{
	struct user_arg *a = varg;
	struct sdb_user u;
	int r = sdb_user_load(tx, a->addr, &u, true);
	if (r != STORE_OK)
		return r;
	if (a->what == USER_SET_HASH) {
		mm_strlcpy(u.hash, a->hash, sizeof(u.hash));
	} else {
		u.quota_bytes = a->quota_bytes;
		u.quota_messages = a->quota_messages;
	}
	return sdb_put(tx->st->users, tx->txn, a->addr, strlen(a->addr), &u, sizeof(u));
}

int
store_user_set_hash(struct store *st, const char *address, const char *hash)
{
	struct user_arg a = { .what = USER_SET_HASH };
	if (!sdb_address_norm(address, a.addr) || hash_norm(hash, a.hash) != STORE_OK)
		return STORE_INVALID;
	return sdb_run(st, true, user_set_tx, &a);
}

int
store_user_set_quota(struct store *st, const char *address,
    uint64_t bytes, uint64_t messages)
{
	struct user_arg a = { .what = USER_SET_QUOTA, .quota_bytes = bytes,
	    .quota_messages = messages };
	if (!sdb_address_norm(address, a.addr))
		return STORE_INVALID;
	return sdb_run_account(st, user_set_tx, &a);
}

static size_t split_targets(const char *data, size_t len, const char **v);

/* Takes addr out of every alias's targets; an alias left with none goes. */
static int
aliases_forget(struct sdb_tx *tx, const char *addr)
{
	DB *db = tx->st->aliases;
	const char *v[STORE_ALIAS_TARGETS_MAX];
	DBT k = { .flags = DB_DBT_REALLOC }, d = { .flags = DB_DBT_REALLOC };
	struct mm_buf keep;
	DBC *c;
	int r = STORE_OK, e;

	if ((r = sdb_map(db->cursor(db, tx->txn, &c, 0))) != STORE_OK)
		return r;
	mm_buf_init(&keep);
	while ((e = c->get(c, &k, &d, DB_NEXT | DB_RMW)) == 0) {
		size_t n = split_targets(d.data, d.size, v), left = 0;
		keep.len = 0;
		for (size_t i = 0; i < n; i++)
			if (strcmp(v[i], addr) != 0) {
				mm_buf_append(&keep, v[i], strlen(v[i]) + 1);
				left++;
			}
		if (left == n)
			continue;
		if (left == 0) {
			e = c->del(c, 0);
		} else {
			DBT nd = { .data = keep.data, .size = (u_int32_t)keep.len };
			e = c->put(c, &k, &nd, DB_CURRENT);
		}
		if (e != 0)
			break;
	}
	if (e != DB_NOTFOUND)
		r = sdb_map(e);
	(void)c->close(c);
	mm_buf_free(&keep);
	free(k.data);
	free(d.data);
	return r;
}

/* Refuses a new mailbox for user past sdb_mailboxes_max (a cursor count:
 * creating a mailbox is rare, and the count is then exact). */
int sdb_mailboxes_max = STORE_MAILBOXES_MAX;

int
sdb_mailbox_room(struct sdb_tx *tx, const char *user)
{
	DB *db = tx->st->mailboxes;
	unsigned char key[SDB_KEY_MAX];
	size_t plen = strlen(user) + 1;
	int n = 0, r = STORE_OK, e;
	DBC *c;

	if ((r = sdb_map(db->cursor(db, tx->txn, &c, 0))) != STORE_OK)
		return r;
	memcpy(key, user, plen);
	DBT k = { .data = key, .size = (u_int32_t)plen, .ulen = sizeof(key),
	    .flags = DB_DBT_USERMEM };
	DBT d = { .dlen = 0, .flags = DB_DBT_PARTIAL };
	for (int f = DB_SET_RANGE; ; f = DB_NEXT) {
		e = c->get(c, &k, &d, f);
		if (e != 0 || k.size < plen || memcmp(key, user, plen) != 0)
			break;
		if (++n >= sdb_mailboxes_max) {
			r = STORE_LIMIT;
			break;
		}
	}
	if (r == STORE_OK && e != 0 && e != DB_NOTFOUND)
		r = sdb_map(e);
	(void)c->close(c);
	return r;
}

static int
user_del_tx(struct sdb_tx *tx, void *varg)
{
	struct user_arg *a = varg;
	struct store *st = tx->st;
	unsigned char prefix[SDB_KEY_MAX];
	size_t plen = strlen(a->addr) + 1;
	uint32_t *ids = NULL;
	size_t nids = 0, cap = 0;
	struct sdb_user u;
	DBC *c = NULL;
	int r;

	if ((r = sdb_user_load(tx, a->addr, &u, true)) != STORE_OK)
		return r == STORE_NOTFOUND && tx->redo ? STORE_OK : r;
	memcpy(prefix, a->addr, plen);
	if ((r = sdb_map(st->mailboxes->cursor(st->mailboxes, tx->txn, &c, 0))) != STORE_OK)
		return r;
	DBT k = { .data = prefix, .size = (u_int32_t)plen, .ulen = sizeof(prefix),
	    .flags = DB_DBT_USERMEM };
	struct sdb_mbox_rec rec;
	DBT d = { .data = &rec, .ulen = sizeof(rec), .dlen = sizeof(rec),
	    .flags = DB_DBT_USERMEM | DB_DBT_PARTIAL };
	/* k's buffer is prefix: after each get it holds the current key */
	for (int f = DB_SET_RANGE; ; f = DB_NEXT) {
		int e = c->get(c, &k, &d, f | DB_RMW);
		if (e == DB_NOTFOUND)
			break;
		if (e != 0) {
			r = sdb_map(e);
			break;
		}
		if (k.size < plen || memcmp(prefix, a->addr, plen) != 0)
			break;
		if (nids == cap) {
			cap = cap ? cap * 2 : 16;
			ids = xrealloc(ids, cap * sizeof(*ids));
		}
		ids[nids++] = rec.id;
		if ((e = c->del(c, 0)) != 0) {
			r = sdb_map(e);
			break;
		}
	}
	(void)c->close(c);
	for (size_t i = 0; r == STORE_OK && i < nids; i++)
		r = sdb_mailbox_purge_tx(tx, a->addr, &u, ids[i], true);
	free(ids);
	if (r == STORE_OK)
		r = sdb_counters_del(tx, u.no);
	if (r == STORE_OK)
		r = sdb_del(st->users, tx->txn, a->addr, strlen(a->addr));
	if (r == STORE_OK)
		r = aliases_forget(tx, a->addr);
	if (r == STORE_OK)
		r = sdb_sieve_forget(tx, a->addr);
	return r;
}

int
store_user_del(struct store *st, const char *address)
{
	struct user_arg a;
	if (!sdb_address_norm(address, a.addr))
		return STORE_INVALID;
	return sdb_run_account(st, user_del_tx, &a);
}

static int
user_get_tx(struct sdb_tx *tx, void *varg)
{
	struct user_arg *a = varg;
	struct sdb_counters c;
	int r = sdb_user_load(tx, a->addr, &a->u, false);
	if (r == STORE_OK && a->what == 1) {
		r = sdb_counters_get(tx, a->u.no, &c, false);
		a->bytes = c.bytes;
		a->messages = c.messages;
	}
	return r;
}

int
store_user_get(struct store *st, const char *address, struct store_user *u_r)
{
	struct user_arg a = { .what = 0 };
	int r;
	memset(u_r, 0, sizeof(*u_r));
	if (!sdb_address_norm(address, a.addr))
		return STORE_INVALID;
	if ((r = sdb_run(st, false, user_get_tx, &a)) != STORE_OK)
		return r;
	mm_strlcpy(u_r->address, a.addr, sizeof(u_r->address));
	mm_strlcpy(u_r->hash, a.u.hash, sizeof(u_r->hash));
	u_r->quota_bytes = a.u.quota_bytes;
	u_r->quota_messages = a.u.quota_messages;
	return STORE_OK;
}

int
store_quota_usage(struct store *st, const char *address, uint64_t *bytes_r,
    uint64_t *messages_r)
{
	struct user_arg a = { .what = 1 };
	int r;
	*bytes_r = *messages_r = 0;
	if (!sdb_address_norm(address, a.addr))
		return STORE_INVALID;
	if ((r = sdb_run(st, false, user_get_tx, &a)) != STORE_OK)
		return r;
	*bytes_r = a.bytes;
	*messages_r = a.messages;
	return STORE_OK;
}

/* Collects every key/value of a btree (users, aliases) for a list call;
 * callbacks run after the transaction, so they may be slow. */
struct list_arg {
	DB *db;
	struct mm_strlist keys;
	struct mm_buf vals;        /* values back to back */
	size_t *voff;              /* offset, length pairs */
	size_t nv, capv;
};

static int
list_tx(struct sdb_tx *tx, void *varg)
{
	struct list_arg *a = varg;
	DBC *c;
	DBT k = { .flags = DB_DBT_REALLOC }, d = { .flags = DB_DBT_REALLOC };
	int r = STORE_OK, e;

	mm_strlist_clear(&a->keys);
	a->vals.len = 0;
	a->nv = 0;
	if ((r = sdb_map(a->db->cursor(a->db, tx->txn, &c, 0))) != STORE_OK)
		return r;
	while ((e = c->get(c, &k, &d, DB_NEXT)) == 0) {
		mm_strlist_addn(&a->keys, k.data, k.size);
		if (a->nv == a->capv) {
			a->capv = a->capv ? a->capv * 2 : 64;
			a->voff = xrealloc(a->voff, a->capv * 2 * sizeof(size_t));
		}
		a->voff[2 * a->nv] = a->vals.len;
		a->voff[2 * a->nv + 1] = d.size;
		a->nv++;
		mm_buf_append(&a->vals, d.data, d.size);
	}
	if (e != DB_NOTFOUND)
		r = sdb_map(e);
	(void)c->close(c);
	free(k.data);
	free(d.data);
	return r;
}

static void
list_free(struct list_arg *a)
{
	mm_strlist_clear(&a->keys);
	mm_buf_free(&a->vals);
	free(a->voff);
}

int
store_user_list(struct store *st, store_user_cb *cb, void *arg)
{
	struct list_arg a = { .db = st->users };
	int r;
	mm_strlist_init(&a.keys);
	mm_buf_init(&a.vals);
	r = sdb_run(st, false, list_tx, &a);
	for (size_t i = 0; r == STORE_OK && i < a.nv; i++) {
		struct store_user u = { 0 };
		struct sdb_user su;
		if (a.voff[2 * i + 1] != sizeof(su)) {
			r = STORE_CORRUPT;
			break;
		}
		memcpy(&su, a.vals.data + a.voff[2 * i], sizeof(su));
		su.hash[sizeof(su.hash) - 1] = '\0';
		mm_strlcpy(u.address, a.keys.v[i], sizeof(u.address));
		mm_strlcpy(u.hash, su.hash, sizeof(u.hash));
		u.quota_bytes = su.quota_bytes;
		u.quota_messages = su.quota_messages;
		r = cb(arg, &u);
	}
	list_free(&a);
	return r;
}

int
store_authenticate(struct store *st, const char *address, const char *password)
{
	struct user_arg a = { .what = 0 };
	int r;

	pthread_once(&dummy_once, dummy_init);
	if (strnlen(password, STORE_PASSWORD_MAX_BYTES + 1) > STORE_PASSWORD_MAX_BYTES) {
		(void)password_matches("x", dummy_hash);
		return STORE_DENIED;
	}
	if (!sdb_address_norm(address, a.addr)) {
		(void)password_matches(password, dummy_hash);
		return STORE_NOTFOUND;
	}
	r = sdb_run(st, false, user_get_tx, &a);
	if (r != STORE_OK) {
		(void)password_matches(password, dummy_hash);
		return r;
	}
	/* The cache is keyed with the stored hash: a changed password (or a
	 * deleted user, NOTFOUND above) never hits an old entry. */
	if (sdb_auth_cache_lookup(a.addr, a.u.hash, password)) {
		r = STORE_OK;
	} else {
		r = password_matches(password, a.u.hash) ? STORE_OK : STORE_DENIED;
		if (r == STORE_OK)
			sdb_auth_cache_insert(a.addr, a.u.hash, password);
	}
	explicit_bzero(&a.u, sizeof(a.u));
	return r;
}

/* ---- aliases ---- */

struct alias_arg {
	char alias[ADDRESS_MAX_BYTES + 1];
	struct mm_buf targets;     /* NUL-separated */
};

static int
alias_add_tx(struct sdb_tx *tx, void *varg)
{
	struct alias_arg *a = varg;
	struct sdb_user u;
	void *data;
	size_t len;
	int r;

	r = sdb_user_load(tx, a->alias, &u, false);
	if (r != STORE_NOTFOUND)
		return r == STORE_OK ? STORE_EXISTS : r;
	r = sdb_get_alloc(tx->st->aliases, tx->txn, a->alias, strlen(a->alias),
	    &data, &len, DB_RMW);
	if (r == STORE_OK) {
		bool same = tx->redo && len == a->targets.len &&
		    memcmp(data, a->targets.data, len) == 0;
		free(data);
		return same ? STORE_OK : STORE_EXISTS;
	}
	if (r != STORE_NOTFOUND)
		return r;
	return sdb_put(tx->st->aliases, tx->txn, a->alias, strlen(a->alias),
	    a->targets.data, a->targets.len);
}

int
store_alias_add(struct store *st, const char *alias,
    const char *const *targets, size_t ntargets)
{
	struct alias_arg a;
	char t[ADDRESS_MAX_BYTES + 1];
	int r;

	if (ntargets == 0 || ntargets > STORE_ALIAS_TARGETS_MAX ||
	    !address_norm2(alias, a.alias, true))
		return STORE_INVALID;
	mm_buf_init(&a.targets);
	for (size_t i = 0; i < ntargets; i++) {
		if (!sdb_address_norm(targets[i], t) || strcmp(t, a.alias) == 0) {
			mm_buf_free(&a.targets);
			return STORE_INVALID;
		}
		mm_buf_append(&a.targets, t, strlen(t) + 1);
	}
	r = sdb_run_account(st, alias_add_tx, &a);
	mm_buf_free(&a.targets);
	return r;
}

static int
alias_del_tx(struct sdb_tx *tx, void *varg)
{
	struct alias_arg *a = varg;
	int r = sdb_del(tx->st->aliases, tx->txn, a->alias, strlen(a->alias));
	return r == STORE_NOTFOUND && tx->redo ? STORE_OK : r;
}

int
store_alias_del(struct store *st, const char *alias)
{
	struct alias_arg a;
	if (!address_norm2(alias, a.alias, true))
		return STORE_INVALID;
	return sdb_run_account(st, alias_del_tx, &a);
}

/* Splits a NUL-separated target list into at most STORE_ALIAS_TARGETS_MAX
 * pointers into data. */
static size_t
split_targets(const char *data, size_t len, const char **v)
{
	size_t n = 0, off = 0;
	while (off < len && n < STORE_ALIAS_TARGETS_MAX) {
		const char *e = memchr(data + off, '\0', len - off);
		if (e == NULL)
			break;
		v[n++] = data + off;
		off = (size_t)(e - data) + 1;
	}
	return n;
}

int
store_alias_list(struct store *st, store_alias_cb *cb, void *arg)
{
	struct list_arg a = { .db = st->aliases };
	const char *v[STORE_ALIAS_TARGETS_MAX];
	int r;

	mm_strlist_init(&a.keys);
	mm_buf_init(&a.vals);
	r = sdb_run(st, false, list_tx, &a);
	for (size_t i = 0; r == STORE_OK && i < a.nv; i++) {
		size_t n = split_targets(a.vals.data + a.voff[2 * i],
		    a.voff[2 * i + 1], v);
		r = cb(arg, a.keys.v[i], v, n);
	}
	list_free(&a);
	return r;
}

/* ---- resolution ---- */

struct resolve_arg {
	char rcpt[ADDRESS_MAX_BYTES + 1];
	char (*users)[ADDRESS_MAX_BYTES + 1];
	size_t maxusers, nusers;
	char (*remote)[ADDRESS_MAX_BYTES + 1];
	size_t maxremote, nremote;
	char visited[SDB_RESOLVE_VISITED_MAX][ADDRESS_MAX_BYTES + 1];
	size_t nvisited;
	bool catchall;
	bool overflow;
};

static void
resolve_add(char (*list)[ADDRESS_MAX_BYTES + 1], size_t max, size_t *n,
    const char *addr, bool *overflow)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp(list[i], addr) == 0)
			return;
	if (*n >= max) {
		*overflow = true;
		return;
	}
	mm_strlcpy(list[(*n)++], addr, ADDRESS_MAX_BYTES + 1);
}

static bool
resolve_visit(struct resolve_arg *a, const char *key)
{
	for (size_t i = 0; i < a->nvisited; i++)
		if (strcmp(a->visited[i], key) == 0)
			return false;
	if (a->nvisited >= SDB_RESOLVE_VISITED_MAX)
		return false;
	mm_strlcpy(a->visited[a->nvisited++], key, ADDRESS_MAX_BYTES + 1);
	return true;
}

static int resolve_addr(struct sdb_tx *, struct resolve_arg *, const char *,
    int, bool *);

static int
resolve_alias(struct sdb_tx *tx, struct resolve_arg *a, const char *key,
    int depth, bool *found_r)
{
	const char *v[STORE_ALIAS_TARGETS_MAX];
	void *data;
	size_t len, n;
	int r;

	r = sdb_get_alloc(tx->st->aliases, tx->txn, key, strlen(key), &data, &len, 0);
	if (r == STORE_NOTFOUND)
		return STORE_OK;
	if (r != STORE_OK)
		return r;
	*found_r = true;
	n = split_targets(data, len, v);
	for (size_t i = 0; r == STORE_OK && i < n; i++) {
		bool found = false;
		if (depth + 1 > SDB_RESOLVE_DEPTH_MAX)
			break;
		r = resolve_addr(tx, a, v[i], depth + 1, &found);
		if (r == STORE_OK && !found)
			resolve_add(a->remote, a->maxremote, &a->nremote, v[i],
			    &a->overflow);
	}
	free(data);
	return r;
}

/* addr is normalised. *found_r: it resolved to something (or is a loop
 * already being resolved), so it is not a remote address. */
static int
resolve_addr(struct sdb_tx *tx, struct resolve_arg *a, const char *addr,
    int depth, bool *found_r)
{
	struct sdb_user u;
	int r;

	*found_r = false;
	if (!resolve_visit(a, addr)) {
		*found_r = true;
		return STORE_OK;
	}
	r = sdb_user_load(tx, addr, &u, false);
	if (r == STORE_OK) {
		resolve_add(a->users, a->maxusers, &a->nusers, addr, &a->overflow);
		*found_r = true;
		return STORE_OK;
	}
	if (r != STORE_NOTFOUND)
		return r;
	if ((r = resolve_alias(tx, a, addr, depth, found_r)) != STORE_OK || *found_r)
		return r;
	const char *at = strrchr(addr, '@');
	const char *plus = memchr(addr, '+', (size_t)(at - addr));
	if (plus != NULL && plus > addr && depth + 1 <= SDB_RESOLVE_DEPTH_MAX) {
		char base[ADDRESS_MAX_BYTES + 1];
		size_t l = (size_t)(plus - addr);
		memcpy(base, addr, l);
		mm_strlcpy(base + l, at, sizeof(base) - l);
		if ((r = resolve_addr(tx, a, base, depth + 1, found_r)) != STORE_OK ||
		    *found_r)
			return r;
	}
	if (a->catchall) {
		if (!resolve_visit(a, at)) {
			*found_r = true;
			return STORE_OK;
		}
		return resolve_alias(tx, a, at, depth, found_r);
	}
	return STORE_OK;
}

static int
resolve_tx(struct sdb_tx *tx, void *varg)
{
	struct resolve_arg *a = varg;
	bool found;
	a->nusers = a->nremote = a->nvisited = 0;
	a->overflow = false;
	return resolve_addr(tx, a, a->rcpt, 0, &found);
}

int
store_resolve(struct store *st, const char *rcpt,
    char (*users_r)[321], size_t maxusers, size_t *nusers_r,
    char (*remote_r)[321], size_t maxremote, size_t *nremote_r)
{
	struct resolve_arg *a = xcalloc(1, sizeof(*a));
	int r;

	*nusers_r = *nremote_r = 0;
	if (!sdb_address_norm(rcpt, a->rcpt)) {
		free(a);
		return STORE_INVALID;
	}
	a->users = users_r;
	a->maxusers = maxusers;
	a->remote = remote_r;
	a->maxremote = maxremote;
	a->catchall = true;
	r = sdb_run(st, false, resolve_tx, a);
	if (r == STORE_OK) {
		*nusers_r = a->nusers;
		*nremote_r = a->nremote;
		if (a->overflow)
			r = STORE_LIMIT;
		else if (a->nusers == 0 && a->nremote == 0)
			r = STORE_NOTFOUND;
	}
	free(a);
	return r;
}

bool
store_address_belongs_to(struct store *st, const char *address, const char *user)
{
	char u[ADDRESS_MAX_BYTES + 1];
	char users[16][ADDRESS_MAX_BYTES + 1];
	struct resolve_arg *a;
	bool yes = false;

	if (!sdb_address_norm(user, u))
		return false;
	a = xcalloc(1, sizeof(*a));
	if (!sdb_address_norm(address, a->rcpt)) {
		free(a);
		return false;
	}
	if (strcmp(a->rcpt, u) == 0) {
		free(a);
		return true;
	}
	a->users = users;
	a->maxusers = 16;
	a->remote = NULL;
	a->maxremote = 0;
	a->catchall = false;          /* a catch-all does not make every address yours */
	if (sdb_run(st, false, resolve_tx, a) == STORE_OK)
		for (size_t i = 0; i < a->nusers; i++)
			if (strcmp(a->users[i], u) == 0)
				yes = true;
	free(a);
	return yes;
}
