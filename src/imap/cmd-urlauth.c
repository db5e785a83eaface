/* cmd-urlauth.c: GENURLAUTH, URLFETCH and RESETKEY (URLAUTH, RFC 4467)
 * with the "INTERNAL" mechanism.
 *
 * The one idea: a URL's token is HMAC-SHA256, keyed with the owner's
 * mailbox access key (store_urlauth_key: random, kept in the store, never
 * sent), over the URL's "rump" (everything up to and including the access
 * identifier), in lower-case hex. URLFETCH recomputes it and compares in
 * constant time, then checks the access identifier against the session's
 * user; any failure is the same NIL, so a client learns nothing about why.
 * All store work runs on the worker; the loop only parses and writes. */
#include "imap/imap-common.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#define URLAUTH_MECH "INTERNAL"
#define URLAUTH_TOKEN_HEX (2 * 32)    /* SHA-256 */

struct ua_item {
	char *url;                /* as the client sent it (NUL-free) */
	size_t len;
	struct imap_urlauth ua;
	char mbox[STORE_MBOX_NAME_MAX];
	bool bad;                 /* URLFETCH: answer NIL */
	struct mm_buf out;        /* GENURLAUTH: the URL; URLFETCH: the data */
	/* URLFETCH (url param...) of RFC 5524 */
	bool ext;                 /* answer "(...)" metadata, not a bare string */
	unsigned opts;            /* IMAP_URL_BINARY, IMAP_URL_BPS */
	bool body;                /* BODY or BINARY: the data is wanted */
	bool undecodable;         /* BINARY NIL */
	struct mm_buf bps;        /* BODYPARTSTRUCTURE */
};

enum ua_op { UA_GEN, UA_FETCH, UA_RESET };

struct ua_job {
	struct imap_session *s;
	enum ua_op op;
	struct ua_item *items;
	size_t n;
	bool all;                 /* RESETKEY without a mailbox */
	char mbox[STORE_MBOX_NAME_MAX];
	int err;
};

static void
ua_job_free(struct ua_job **jp)
{
	struct ua_job *j = *jp;
	for (size_t i = 0; i < j->n; i++) {
		free(j->items[i].url);
		mm_buf_free(&j->items[i].out);
		mm_buf_free(&j->items[i].bps);
	}
	free(j->items);
	free(j);
	*jp = NULL;
}

/* Worker: the token of rump under user's key for mailbox name; fresh
 * creates a key when there is none. */
static int
ua_token(struct store *st, const char *user, const char *name, const char *rump,
    size_t rlen, bool create, char hex_r[URLAUTH_TOKEN_HEX + 1])
{
	struct store_mailbox mb;
	unsigned char key[STORE_URLAUTH_KEY_BYTES], fresh[STORE_URLAUTH_KEY_BYTES];
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	int r = store_mailbox_get(st, user, name, &mb);

	if (r != STORE_OK)
		return r;
	if ((mb.attrs & (MBOX_ATTR_NOSELECT | MBOX_ATTR_NONEXISTENT)) != 0)
		return STORE_NOTFOUND;
	if (create && RAND_bytes(fresh, sizeof(fresh)) != 1)
		return STORE_IO;
	r = store_urlauth_key(st, mb.id, create ? fresh : NULL, key);
	OPENSSL_cleanse(fresh, sizeof(fresh));
	if (r != STORE_OK)
		return r;
	if (HMAC(EVP_sha256(), key, sizeof(key), (const unsigned char *)rump, rlen,
	    mac, &maclen) == NULL || maclen * 2 != URLAUTH_TOKEN_HEX) {
		OPENSSL_cleanse(key, sizeof(key));
		return STORE_IO;
	}
	OPENSSL_cleanse(key, sizeof(key));
	static const char hx[] = "0123456789abcdef";
	for (unsigned i = 0; i < maclen; i++) {
		hex_r[2 * i] = hx[mac[i] >> 4];
		hex_r[2 * i + 1] = hx[mac[i] & 15];
	}
	hex_r[URLAUTH_TOKEN_HEX] = '\0';
	return STORE_OK;
}

static bool
ua_access_ok(struct imap_session *s, const struct imap_urlauth *ua)
{
	switch (ua->access) {
	case IMAP_URLAUTH_ANONYMOUS:
	case IMAP_URLAUTH_AUTHUSER:
		return true;          /* every session here is authenticated */
	case IMAP_URLAUTH_USER:
		return mm_strcaseeq(ua->access_user, s->user);
	case IMAP_URLAUTH_SUBMIT:
		return false;         /* no submission server fetches through us */
	}
	return false;
}

static void
ua_work(void *arg)
{
	struct ua_job *j = arg;
	struct imap_session *s = j->s;
	struct store *st = imap_store(s);
	char hex[URLAUTH_TOKEN_HEX + 1];
	uint64_t total = 0;

	if (j->op == UA_RESET) {
		struct store_mailbox mb;
		if (!j->all) {
			j->err = store_mailbox_get(st, s->user, j->mbox, &mb);
			if (j->err == STORE_OK)
				j->err = store_urlauth_reset(st, mb.id);
			return;
		}
		for (size_t i = 0; i < j->n; i++) {
			j->err = store_mailbox_get(st, s->user, j->items[i].mbox, &mb);
			if (j->err == STORE_NOTFOUND)
				continue;       /* gone meanwhile: its key went with it */
			if (j->err == STORE_OK)
				j->err = store_urlauth_reset(st, mb.id);
			if (j->err != STORE_OK)
				return;
		}
		j->err = STORE_OK;
		return;
	}
	for (size_t i = 0; i < j->n; i++) {
		struct ua_item *it = &j->items[i];
		if (j->op == UA_GEN) {
			j->err = ua_token(st, s->user, it->mbox, it->url, it->ua.rump_len,
			    true, hex);
			if (j->err != STORE_OK)
				return;
			mm_buf_append(&it->out, it->url, it->ua.rump_len);
			mm_buf_printf(&it->out, ":%s:%s", URLAUTH_MECH, hex);
			continue;
		}
		if (it->bad)
			continue;
		it->bad = true;
		if (ua_token(st, it->ua.owner, it->mbox, it->url, it->ua.rump_len, false,
		    hex) != STORE_OK)
			continue;
		char given[sizeof(it->ua.token)];
		size_t gl = strlen(it->ua.token);
		for (size_t k = 0; k <= gl; k++)
			given[k] = (char)(it->ua.token[k] >= 'A' && it->ua.token[k] <= 'F' ?
			    it->ua.token[k] - 'A' + 'a' : it->ua.token[k]);
		if (gl != URLAUTH_TOKEN_HEX || CRYPTO_memcmp(given, hex, gl) != 0)
			continue;
		int r = imap_url_fetch_opts(st, it->ua.owner, it->mbox, &it->ua.url, it->opts,
		    &it->out, &it->bps, &it->undecodable);
		if (r == STORE_NOTFOUND) {
			mm_buf_free(&it->out);
			mm_buf_free(&it->bps);
			continue;
		}
		if (r != STORE_OK) {
			j->err = r;
			return;
		}
		total += it->out.len + it->bps.len;
		if (total > IMAP_URLFETCH_MAX_BYTES) {
			j->err = STORE_LIMIT;
			return;
		}
		it->bad = false;
	}
	j->err = STORE_OK;
}

static void
ua_done(void *arg, bool alive)
{
	struct ua_job *j = arg;
	struct imap_session *s = j->s;
	struct mm_buf b;

	if (!alive)
		goto out;
	if (j->op == UA_RESET) {
		if (j->err != STORE_OK)
			imap_no_store(s, j->err, "Mailbox doesn't exist");
		else
			imap_ok(s, "Resetkey completed");
		goto out;
	}
	if (j->err == STORE_LIMIT && j->op == UA_FETCH) {
		imap_no(s, "[LIMIT] URLFETCH would return too much data");
		goto out;
	}
	if (j->err != STORE_OK) {
		imap_no_store(s, j->err, "Mailbox doesn't exist");
		goto out;
	}
	mm_buf_init(&b);
	if (j->op == UA_GEN) {
		mm_buf_append(&b, "* GENURLAUTH", 12);
		for (size_t i = 0; i < j->n; i++) {
			mm_buf_append(&b, " ", 1);
			imap_append_astring(&b, j->items[i].out.data, j->items[i].out.len);
		}
		mm_buf_append(&b, "\r\n", 2);
		imap_write(s, b.data, b.len);
		mm_buf_free(&b);
		imap_ok(s, "Genurlauth completed");
		goto out;
	}
	for (size_t i = 0; i < j->n; i++) {
		struct ua_item *it = &j->items[i];
		b.len = 0;
		mm_buf_append(&b, "* URLFETCH ", 11);
		imap_append_astring(&b, it->url, it->len);
		if (it->bad) {
			mm_buf_append(&b, " NIL\r\n", 6);
			imap_write(s, b.data, b.len);
			continue;
		}
		if (!it->ext) {
			mm_buf_printf(&b, " {%zu}\r\n", it->out.len);
			imap_write(s, b.data, b.len);
			imap_write(s, it->out.data, it->out.len);
			imap_write(s, "\r\n", 2);
			continue;
		}
		/* RFC 5524 5: "(" the metadata asked for, then the data ")" */
		mm_buf_append(&b, " (", 2);
		if (it->opts & IMAP_URL_BPS) {
			mm_buf_append(&b, "BODYPARTSTRUCTURE ", 18);
			if (it->bps.len == 0)
				mm_buf_append(&b, "NIL", 3);
			else
				mm_buf_append(&b, it->bps.data, it->bps.len);
		}
		if (it->body) {
			if (it->opts & IMAP_URL_BPS)
				mm_buf_append(&b, " ", 1);
			mm_buf_printf(&b, "%s ", (it->opts & IMAP_URL_BINARY) ? "BINARY" : "BODY");
			if (it->undecodable) {
				mm_buf_append(&b, "NIL)\r\n", 6);
				imap_write(s, b.data, b.len);
				continue;
			}
			/* decoded data may hold NULs: a literal8 then */
			bool nul = (it->opts & IMAP_URL_BINARY) && it->out.len > 0 &&
			    memchr(it->out.data, '\0', it->out.len) != NULL;
			mm_buf_printf(&b, "%s{%zu}\r\n", nul ? "~" : "", it->out.len);
			imap_write(s, b.data, b.len);
			imap_write(s, it->out.data, it->out.len);
			imap_write(s, ")\r\n", 3);
			continue;
		}
		mm_buf_append(&b, ")\r\n", 3);
		imap_write(s, b.data, b.len);
	}
	mm_buf_free(&b);
	imap_ok(s, "Urlfetch completed");
out:
	ua_job_free(&j);
}

/* The URL argument i into the job's item: false when it is no astring. */
static bool
ua_item_set(struct ua_item *it, const struct imap_arg *a)
{
	const char *str;
	size_t len;

	if (!imap_arg_astring(a, &str, &len) || memchr(str, '\0', len) != NULL)
		return false;
	it->url = xmalloc(len + 1);
	memcpy(it->url, str, len);
	it->url[len] = '\0';
	it->len = len;
	mm_buf_init(&it->out);
	mm_buf_init(&it->bps);
	return true;
}

/* URLFETCH's "(url param...)" (RFC 5524 3.1): the URL into it, the
 * parameters into its options. False (with the BAD text) when a
 * parameter is unknown or BODY and BINARY are both given. */
static bool
ua_item_set_ext(struct ua_item *it, const struct imap_arg *a, const char **err_r)
{
	*err_r = "URLFETCH needs URLs";
	if (a->count == 0 || !ua_item_set(it, &a->list[0]))
		return false;
	it->ext = a->count > 1;
	for (size_t k = 1; k < a->count; k++) {
		const struct imap_arg *p = &a->list[k];
		*err_r = "Unknown URLFETCH parameter";
		if (imap_arg_atom_eq(p, "BODYPARTSTRUCTURE")) {
			it->opts |= IMAP_URL_BPS;
		} else if (imap_arg_atom_eq(p, "BINARY") || imap_arg_atom_eq(p, "BODY")) {
			bool bin = imap_arg_atom_eq(p, "BINARY");
			if (it->body && bin != ((it->opts & IMAP_URL_BINARY) != 0)) {
				*err_r = "URLFETCH BODY and BINARY exclude each other";
				return false;
			}
			it->body = true;
			if (bin)
				it->opts |= IMAP_URL_BINARY;
		} else
			return false;
	}
	return true;
}

/* The URL's mailbox (modified UTF-7 in the URL) as a store name. */
static bool
ua_item_mbox(struct ua_item *it)
{
	struct imap_arg a = { .type = IMAP_ARG_STRING, .str = it->ua.url.mbox,
	    .len = strlen(it->ua.url.mbox) };
	return imap_mailbox_arg(&a, it->mbox, sizeof(it->mbox));
}

void
cmd_genurlauth(struct imap_session *s, const struct imap_arg *args, size_t n)
{
	if (n == 0 || n % 2 != 0) {
		imap_bad(s, "GENURLAUTH needs URL and mechanism pairs");
		return;
	}
	struct ua_job *j = xcalloc(1, sizeof(*j));
	j->s = s;
	j->op = UA_GEN;
	j->items = xcalloc(n / 2, sizeof(*j->items));
	for (size_t i = 0; i < n; i += 2) {
		struct ua_item *it = &j->items[j->n];
		const char *mech;
		size_t ml;
		if (!ua_item_set(it, &args[i])) {
			imap_bad(s, "GENURLAUTH needs URL and mechanism pairs");
			goto fail;
		}
		j->n++;
		if (!imap_arg_astring(&args[i + 1], &mech, &ml) ||
		    !imap_urlauth_parse(it->url, it->len, &it->ua) || it->ua.has_token) {
			imap_bad(s, "Invalid URLAUTH URL");
			goto fail;
		}
		if (ml != strlen(URLAUTH_MECH) || !mm_strncaseeq(mech, URLAUTH_MECH, ml)) {
			imap_no(s, "Unknown URLAUTH mechanism");
			goto fail;
		}
		if (!mm_strcaseeq(it->ua.owner, s->user)) {
			imap_no(s, "[NOPERM] URLAUTH only for the user's own mailboxes");
			goto fail;
		}
		if (it->ua.expire) {
			imap_no(s, "URLAUTH with EXPIRE is not supported");
			goto fail;
		}
		if (!ua_item_mbox(it)) {
			imap_no(s, "[CANNOT] Invalid mailbox name in URL");
			goto fail;
		}
	}
	imap_run_job(s, WORKER_LANE_COMMIT, ua_work, ua_done, j);
	return;
fail:
	ua_job_free(&j);
}

void
cmd_urlfetch(struct imap_session *s, const struct imap_arg *args, size_t n)
{
	if (n == 0) {
		imap_bad(s, "URLFETCH needs URLs");
		return;
	}
	struct ua_job *j = xcalloc(1, sizeof(*j));
	j->s = s;
	j->op = UA_FETCH;
	j->items = xcalloc(n, sizeof(*j->items));
	for (size_t i = 0; i < n; i++) {
		struct ua_item *it = &j->items[j->n];
		const char *err = "URLFETCH needs URLs";
		bool ok = args[i].type == IMAP_ARG_LIST ? ua_item_set_ext(it, &args[i], &err) :
		    ua_item_set(it, &args[i]);
		if (it->url != NULL)
			j->n++;
		if (!ok) {
			imap_bad(s, "%s", err);
			ua_job_free(&j);
			return;
		}
		/* RFC 4467 6: a URL that cannot be fetched is NIL, not an error */
		it->bad = !imap_urlauth_parse(it->url, it->len, &it->ua) ||
		    !it->ua.has_token || it->ua.expire ||
		    !mm_strcaseeq(it->ua.mech, URLAUTH_MECH) ||
		    !ua_access_ok(s, &it->ua) || !ua_item_mbox(it);
	}
	imap_run_job(s, WORKER_LANE_READ, ua_work, ua_done, j);
}

static int
ua_list_cb(void *arg, const struct store_mailbox *mb)
{
	struct ua_job *j = arg;
	if (j->n % 64 == 0)
		j->items = xrealloc(j->items, (j->n + 64) * sizeof(*j->items));
	memset(&j->items[j->n], 0, sizeof(j->items[j->n]));
	mm_strlcpy(j->items[j->n].mbox, mb->name, sizeof(j->items[j->n].mbox));
	mm_buf_init(&j->items[j->n].out);
	j->n++;
	return STORE_OK;
}

static void
ua_reset_all_work(void *arg)
{
	struct ua_job *j = arg;
	j->err = store_mailbox_list(imap_store(j->s), j->s->user, ua_list_cb, j);
	if (j->err == STORE_OK)
		ua_work(j);
}

void
cmd_resetkey(struct imap_session *s, const struct imap_arg *args, size_t n)
{
	struct ua_job *j = xcalloc(1, sizeof(*j));
	j->s = s;
	j->op = UA_RESET;
	for (size_t i = 1; i < n; i++) {
		const char *mech;
		size_t ml;
		if (!imap_arg_astring(&args[i], &mech, &ml)) {
			imap_bad(s, "RESETKEY [mailbox [mechanism ...]]");
			goto fail;
		}
		if (ml != strlen(URLAUTH_MECH) || !mm_strncaseeq(mech, URLAUTH_MECH, ml)) {
			imap_no(s, "Unknown URLAUTH mechanism");
			goto fail;
		}
	}
	if (n == 0) {
		j->all = true;
		imap_run_job(s, WORKER_LANE_COMMIT, ua_reset_all_work, ua_done, j);
		return;
	}
	if (!imap_mailbox_arg_reply(s, &args[0], j->mbox, sizeof(j->mbox)))
		goto fail;
	imap_run_job(s, WORKER_LANE_COMMIT, ua_work, ua_done, j);
	return;
fail:
	ua_job_free(&j);
}
