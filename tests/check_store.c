/* check_store.c: unit tests for the Berkeley DB mailstore (store.h).
 * Every test opens a fresh environment in its own mkdtemp() directory
 * and removes it afterwards; results are asserted exactly (error enums,
 * UIDs, counters, body bytes). */
#include <check.h>
#include <crypt.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/util.h"
#include "store/store.h"
#include "store/store-int.h"      /* sdb_reopens(), raw handles for the lock test */

/* Built with --enable-sanitizers: Berkeley DB frees only part of a
 * panicked environment's handles when they are closed (every reopen after
 * a recovery does that), which LeakSanitizer would report at exit. */
const char *__lsan_default_suppressions(void);
const char *
__lsan_default_suppressions(void)
{
	return "leak:libdb-5.3.so\n";
}

/* The fdatasync the store's fsync (sdb_fsync) calls, linked in here
 * instead of libc's: it fails the next fdatasync_fail calls with EIO. */
static atomic_int fdatasync_fail, fdatasync_calls;

int
fdatasync(int fd)
{
	atomic_fetch_add(&fdatasync_calls, 1);
	if (atomic_load(&fdatasync_fail) > 0) {
		atomic_fetch_sub(&fdatasync_fail, 1);
		errno = EIO;
		return -1;
	}
	return (int)syscall(SYS_fdatasync, fd);
}

static char tmpdir[64];
static struct store *st;
static char hash[256];


static void
open_store(void)
{
	char err[256];
	int r = store_open(tmpdir, STORE_OPEN_CREATE | STORE_OPEN_RECOVER, &st,
	    err, sizeof(err));
	ck_assert_msg(r == STORE_OK, "store_open: %s", err);
}

static void
reopen(void)
{
	store_close(&st);
	ck_assert_ptr_null(st);
	open_store();
}

static void
setup(void)
{
	strcpy(tmpdir, "/tmp/check_store.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	open_store();
	if (hash[0] == '\0')
		ck_assert_int_eq(store_hash_password("secret", hash, sizeof(hash)), STORE_OK);
	ck_assert_int_eq(store_user_add(st, "Alice@Example.org", hash), STORE_OK);
	ck_assert_int_eq(store_user_add(st, "bob@example.org", hash), STORE_OK);
}

static void
teardown(void)
{
	store_close(&st);
	mm_rmtree(tmpdir);
}

/* Delivers text to user's mailbox (NULL = INBOX); returns the UID. */
static uint32_t
deliver1(const char *user, const char *mbox, const char *text)
{
	struct store_rcpt rc = { .user = user, .mailbox = mbox };
	int r = store_deliver(st, &rc, 1, text, strlen(text), 1700000000, NULL, 0,
	    NULL, 0, false);
	ck_assert_int_eq(r, STORE_OK);
	ck_assert_int_eq(rc.result_r, STORE_OK);
	ck_assert_uint_gt(rc.uid_r, 0);
	return rc.uid_r;
}

static struct store_index *
index_of(const char *user, const char *mbox)
{
	struct store_index *idx = NULL;
	ck_assert_int_eq(store_index_read(st, user, mbox, &idx), STORE_OK);
	ck_assert_ptr_nonnull(idx);
	return idx;
}

static void
assert_body(uint64_t id, const char *text)
{
	char *data;
	size_t len;
	ck_assert_int_eq(store_body_get(st, id, &data, &len), STORE_OK);
	ck_assert_uint_eq(len, strlen(text));
	ck_assert_mem_eq(data, text, len);
	free(data);
}

static uint32_t
refs_of(uint64_t id)
{
	uint32_t refs = 0;
	int r = store_body_refs(st, id, &refs);
	if (r == STORE_NOTFOUND)
		return 0;
	ck_assert_int_eq(r, STORE_OK);
	return refs;
}

/* ---- environment ---- */

START_TEST(test_open_errors)
{
	struct store *s2 = NULL;
	char err[256], path[128];

	snprintf(path, sizeof(path), "%s/nope", tmpdir);
	ck_assert_int_eq(store_open(path, 0, &s2, err, sizeof(err)), STORE_NOTFOUND);
	ck_assert_ptr_null(s2);
	ck_assert_ptr_nonnull(strstr(err, "nope"));
	snprintf(path, sizeof(path), "%s/users.db", tmpdir);
	ck_assert_int_eq(store_open(path, STORE_OPEN_CREATE, &s2, err, sizeof(err)),
	    STORE_INVALID);
	ck_assert_str_eq(store_strerror(STORE_QUOTA), "quota exceeded");
}
END_TEST

START_TEST(test_checkpoint_stats)
{
	uint64_t c0, f0, c1, f1;
	store_stats(st, &c0, &f0);
	deliver1("alice@example.org", NULL, "Subject: x\r\n\r\nbody\r\n");
	store_stats(st, &c1, &f1);
	ck_assert_uint_eq(c1, c0 + 1);
	ck_assert_uint_ge(f1, f0 + 1);
	ck_assert_int_eq(store_checkpoint(st), STORE_OK);
}
END_TEST

/* ---- users ---- */

static int
count_user(void *arg, const struct store_user *u)
{
	struct mm_strlist *l = arg;
	mm_strlist_add(l, u->address);
	return 0;
}

START_TEST(test_users)
{
	struct store_user u;
	struct mm_strlist l;
	struct store_mailbox mb;

	ck_assert_int_eq(store_user_add(st, "alice@example.org", hash), STORE_EXISTS);
	ck_assert_int_eq(store_user_add(st, "no-at-sign", hash), STORE_INVALID);
	ck_assert_int_eq(store_user_add(st, "a b@example.org", hash), STORE_INVALID);
	ck_assert_int_eq(store_user_add(st, "x@exa..mple.org", hash), STORE_INVALID);
	ck_assert_int_eq(store_user_add(st, "x@example.org", "plain"), STORE_INVALID);
	ck_assert_int_eq(store_user_add(st, "x@example.org", "$6$broken"), STORE_INVALID);
	ck_assert_int_eq(store_user_add(st, "x@example.org", "{MD5}$1$abc"), STORE_INVALID);

	ck_assert_int_eq(store_user_get(st, "ALICE@example.ORG", &u), STORE_OK);
	ck_assert_str_eq(u.address, "alice@example.org");
	ck_assert_str_eq(u.hash, hash);
	ck_assert_int_eq(store_user_get(st, "carol@example.org", &u), STORE_NOTFOUND);

	/* Dovecot-style prefix stripped */
	char h6[256], pref[300];
	struct crypt_data cd = { 0 };
	mm_strlcpy(h6, crypt_r("pw", "$6$abcdefgh$", &cd), sizeof(h6));
	ck_assert_int_eq(strncmp(h6, "$6$abcdefgh$", 12), 0);
	snprintf(pref, sizeof(pref), "{SHA512-CRYPT}%s", h6);
	ck_assert_int_eq(store_user_add(st, "carol@example.org", pref), STORE_OK);
	ck_assert_int_eq(store_user_get(st, "carol@example.org", &u), STORE_OK);
	ck_assert_str_eq(u.hash, h6);
	ck_assert_int_eq(store_authenticate(st, "carol@example.org", "pw"), STORE_OK);

	/* passwords */
	ck_assert_int_eq(strncmp(hash, "$y$", 3) == 0 || strncmp(hash, "$6$", 3) == 0, 1);
	ck_assert_int_eq(store_authenticate(st, "alice@example.org", "secret"), STORE_OK);
	ck_assert_int_eq(store_authenticate(st, "Alice@Example.org", "secret"), STORE_OK);
	ck_assert_int_eq(store_authenticate(st, "alice@example.org", "Secret"), STORE_DENIED);
	ck_assert_int_eq(store_authenticate(st, "nobody@example.org", "secret"), STORE_NOTFOUND);
	ck_assert_int_eq(store_user_set_hash(st, "alice@example.org", h6), STORE_OK);
	ck_assert_int_eq(store_authenticate(st, "alice@example.org", "pw"), STORE_OK);
	ck_assert_int_eq(store_authenticate(st, "alice@example.org", "secret"), STORE_DENIED);
	ck_assert_int_eq(store_user_set_hash(st, "nobody@example.org", h6), STORE_NOTFOUND);

	/* list, sorted */
	mm_strlist_init(&l);
	ck_assert_int_eq(store_user_list(st, count_user, &l), STORE_OK);
	ck_assert_uint_eq(l.n, 3);
	ck_assert_str_eq(l.v[0], "alice@example.org");
	ck_assert_str_eq(l.v[1], "bob@example.org");
	ck_assert_str_eq(l.v[2], "carol@example.org");
	mm_strlist_clear(&l);

	/* default mailboxes */
	ck_assert_int_eq(store_mailbox_get(st, "alice@example.org", "inbox", &mb), STORE_OK);
	ck_assert_str_eq(mb.name, "INBOX");
	ck_assert(mb.subscribed);
	ck_assert_uint_eq(mb.uidnext, 1);
	ck_assert_uint_gt(mb.uidvalidity, 0);
	ck_assert_int_eq(store_mailbox_get(st, "alice@example.org", "Sent", &mb), STORE_OK);
	ck_assert_uint_eq(mb.attrs, MBOX_ATTR_SENT);
	ck_assert_int_eq(store_mailbox_get(st, "alice@example.org", "Junk", &mb), STORE_OK);
	ck_assert_uint_eq(mb.attrs, MBOX_ATTR_JUNK);
	ck_assert_int_eq(store_mailbox_get(st, "alice@example.org", "Archive", &mb), STORE_OK);
	ck_assert_uint_eq(mb.attrs, MBOX_ATTR_ARCHIVE);

	/* delete frees mail */
	uint32_t uid = deliver1("carol@example.org", NULL, "hello");
	struct store_index *idx = index_of("carol@example.org", "INBOX");
	ck_assert_uint_eq(idx->msgs[0].uid, uid);
	uint64_t body = idx->msgs[0].body_id;
	store_index_free(&idx);
	ck_assert_uint_eq(refs_of(body), 1);
	ck_assert_int_eq(store_user_del(st, "carol@example.org"), STORE_OK);
	ck_assert_uint_eq(refs_of(body), 0);
	ck_assert_int_eq(store_user_del(st, "carol@example.org"), STORE_NOTFOUND);
	ck_assert_int_eq(store_mailbox_get(st, "carol@example.org", "INBOX", &mb), STORE_NOTFOUND);
	ck_assert_int_eq(store_authenticate(st, "carol@example.org", "pw"), STORE_NOTFOUND);
	/* and the address can be used again, with fresh mailboxes */
	ck_assert_int_eq(store_user_add(st, "carol@example.org", hash), STORE_OK);
	ck_assert_int_eq(store_mailbox_get(st, "carol@example.org", "INBOX", &mb), STORE_OK);
	ck_assert_uint_eq(mb.messages, 0);
}
END_TEST

/* ---- delivery and the index ---- */

START_TEST(test_uid_order_reopen)
{
	char text[64];
	struct store_mailbox mb0, mb1;
	struct store_index *idx;

	ck_assert_int_eq(store_mailbox_get(st, "alice@example.org", "INBOX", &mb0), STORE_OK);
	for (int i = 1; i <= 5; i++) {
		snprintf(text, sizeof(text), "Subject: %d\r\n\r\nmessage %d\r\n", i, i);
		ck_assert_uint_eq(deliver1("alice@example.org", NULL, text), (uint32_t)i);
	}
	reopen();
	for (int i = 6; i <= 8; i++) {
		snprintf(text, sizeof(text), "Subject: %d\r\n\r\nmessage %d\r\n", i, i);
		ck_assert_uint_eq(deliver1("alice@example.org", NULL, text), (uint32_t)i);
	}
	reopen();
	ck_assert_int_eq(store_mailbox_get(st, "alice@example.org", "INBOX", &mb1), STORE_OK);
	ck_assert_uint_eq(mb1.uidvalidity, mb0.uidvalidity);
	ck_assert_uint_eq(mb1.uidnext, 9);
	ck_assert_uint_eq(mb1.messages, 8);
	ck_assert_uint_eq(mb1.unseen, 8);
	ck_assert_uint_eq(mb1.recent, 8);
	idx = index_of("alice@example.org", "INBOX");
	ck_assert_uint_eq(idx->nmsgs, 8);
	uint64_t bytes = 0, lastmod = 0;
	for (size_t i = 0; i < idx->nmsgs; i++) {
		ck_assert_uint_eq(idx->msgs[i].uid, i + 1);
		ck_assert_uint_eq(idx->msgs[i].flags, MSG_RECENT);
		ck_assert_int_eq(idx->msgs[i].internal_date, 1700000000);
		ck_assert_uint_gt(idx->msgs[i].modseq, lastmod);
		lastmod = idx->msgs[i].modseq;
		snprintf(text, sizeof(text), "Subject: %zu\r\n\r\nmessage %zu\r\n", i + 1, i + 1);
		ck_assert_uint_eq(idx->msgs[i].size, strlen(text));
		assert_body(idx->msgs[i].body_id, text);
		bytes += strlen(text);
	}
	ck_assert_uint_eq(idx->mailbox.bytes, bytes);
	ck_assert_uint_le(lastmod, idx->mailbox.highestmodseq);
	store_index_free(&idx);
	ck_assert_ptr_null(idx);
	/* other users' mailboxes have their own UIDs and UIDVALIDITY */
	ck_assert_uint_eq(deliver1("bob@example.org", NULL, "x"), 1);
	ck_assert_int_eq(store_mailbox_get(st, "bob@example.org", "INBOX", &mb1), STORE_OK);
	ck_assert_uint_ne(mb1.uidvalidity, mb0.uidvalidity);
}
END_TEST

START_TEST(test_deliver_errors)
{
	struct store_rcpt rc[3] = {
		{ .user = "alice@example.org" },
		{ .user = "nobody@example.org" },
		{ .user = "bob@example.org", .mailbox = "NoSuchBox" },
	};
	ck_assert_int_eq(store_deliver(st, rc, 3, "m", 1, 0, NULL, 0, NULL, 0, false),
	    STORE_OK);
	ck_assert_int_eq(rc[0].result_r, STORE_OK);
	ck_assert_uint_eq(rc[0].uid_r, 1);
	ck_assert_int_eq(rc[1].result_r, STORE_NOTFOUND);
	ck_assert_uint_eq(rc[1].uid_r, 0);
	ck_assert_int_eq(rc[2].result_r, STORE_NOTFOUND);
	/* all or nothing: nothing */
	ck_assert_int_eq(store_deliver(st, rc, 3, "m", 1, 0, NULL, 0, NULL, 0, true),
	    STORE_NOTFOUND);
	ck_assert_uint_eq(rc[0].uid_r, 0);
	struct store_mailbox mb;
	ck_assert_int_eq(store_mailbox_get(st, "alice@example.org", "INBOX", &mb), STORE_OK);
	ck_assert_uint_eq(mb.messages, 1);
	ck_assert_uint_eq(mb.uidnext, 2);
	/* nobody at all */
	ck_assert_int_eq(store_deliver(st, &rc[1], 1, "m", 1, 0, NULL, 0, NULL, 0, false),
	    STORE_NOTFOUND);
	/* bad keyword */
	const char *bad[] = { "has space" };
	ck_assert_int_eq(store_deliver(st, rc, 1, "m", 1, 0, NULL, 0, bad, 1, true),
	    STORE_INVALID);
	ck_assert_int_eq(store_deliver(st, rc, 0, "m", 1, 0, NULL, 0, NULL, 0, true),
	    STORE_INVALID);
}
END_TEST

START_TEST(test_append_flags_keywords)
{
	const char *kw[] = { "$Forwarded", "Work" };
	struct store_rcpt rc = { .user = "alice@example.org", .mailbox = "Drafts",
	    .flags = MSG_SEEN | MSG_DRAFT };
	struct store_index *idx;
	ck_assert_int_eq(store_deliver(st, &rc, 1, "draft", 5, 42, "CACHE", 5, kw, 2, true),
	    STORE_OK);
	ck_assert_uint_eq(rc.uid_r, 1);
	idx = index_of("alice@example.org", "Drafts");
	ck_assert_uint_eq(idx->nmsgs, 1);
	ck_assert_uint_eq(idx->msgs[0].flags, MSG_SEEN | MSG_DRAFT | MSG_RECENT);
	ck_assert_uint_eq(idx->msgs[0].keywords, 3);
	ck_assert_uint_eq(idx->nkeywords, 2);
	ck_assert_str_eq(idx->keywords[0], "$Forwarded");
	ck_assert_str_eq(idx->keywords[1], "Work");
	ck_assert_int_eq(idx->msgs[0].internal_date, 42);
	ck_assert_uint_eq(idx->mailbox.unseen, 0);
	char *c;
	size_t cl;
	ck_assert_int_eq(store_body_cache(st, idx->msgs[0].body_id, &c, &cl), STORE_OK);
	ck_assert_uint_eq(cl, 5);
	ck_assert_str_eq(c, "CACHE");
	free(c);
	store_index_free(&idx);

	/* flags: add, del, set; keywords; modseq; unchangedsince */
	uint32_t u2 = deliver1("alice@example.org", "Drafts", "two");
	uint32_t uids[] = { 1, u2, 99 };
	const char *kw2[] = { "work", "New" };
	ck_assert_int_eq(store_flags_update(st, "alice@example.org", "Drafts", uids, 3,
	    STORE_FLAGS_ADD, MSG_FLAGGED | MSG_SEEN, kw2, 2, 0, NULL, NULL), STORE_OK);
	idx = index_of("alice@example.org", "Drafts");
	ck_assert_uint_eq(idx->nmsgs, 2);
	ck_assert_uint_eq(idx->msgs[0].flags, MSG_SEEN | MSG_DRAFT | MSG_RECENT | MSG_FLAGGED);
	ck_assert_uint_eq(idx->msgs[0].keywords, 1 | 2 | 4);
	ck_assert_uint_eq(idx->msgs[1].flags, MSG_SEEN | MSG_RECENT | MSG_FLAGGED);
	ck_assert_uint_eq(idx->msgs[1].keywords, 2 | 4);
	ck_assert_uint_eq(idx->nkeywords, 3);
	ck_assert_str_eq(idx->keywords[2], "New");
	ck_assert_uint_eq(idx->mailbox.unseen, 0);
	uint64_t m1 = idx->msgs[0].modseq, m2 = idx->msgs[1].modseq;
	uint64_t hms = idx->mailbox.highestmodseq;
	store_index_free(&idx);

	ck_assert_int_eq(store_flags_update(st, "alice@example.org", "Drafts", uids, 1,
	    STORE_FLAGS_DEL, MSG_SEEN | MSG_RECENT, kw, 1, 0, NULL, NULL), STORE_OK);
	uint32_t failed[3];
	size_t nfailed = 7;
	ck_assert_int_eq(store_flags_update(st, "alice@example.org", "Drafts", uids, 2,
	    STORE_FLAGS_SET, MSG_ANSWERED, NULL, 0, m2, failed, &nfailed), STORE_OK);
	ck_assert_uint_eq(nfailed, 1);
	ck_assert_uint_eq(failed[0], 1);
	idx = index_of("alice@example.org", "Drafts");
	ck_assert_uint_eq(idx->msgs[0].flags, MSG_DRAFT | MSG_FLAGGED);
	ck_assert_uint_eq(idx->msgs[0].keywords, 2 | 4);
	ck_assert_uint_gt(idx->msgs[0].modseq, m1);
	ck_assert_uint_eq(idx->msgs[1].flags, MSG_ANSWERED | MSG_RECENT);
	ck_assert_uint_eq(idx->msgs[1].keywords, 0);
	ck_assert_uint_eq(idx->mailbox.unseen, 2);
	ck_assert_uint_eq(idx->mailbox.recent, 1);
	store_index_free(&idx);

	ck_assert_int_eq(store_index_read_changed(st, "alice@example.org", "Drafts", hms,
	    &idx), STORE_OK);
	ck_assert_uint_eq(idx->nmsgs, 2);
	uint64_t top = idx->mailbox.highestmodseq;
	store_index_free(&idx);
	ck_assert_int_eq(store_index_read_changed(st, "alice@example.org", "Drafts", top,
	    &idx), STORE_OK);
	ck_assert_uint_eq(idx->nmsgs, 0);
	store_index_free(&idx);
}
END_TEST

START_TEST(test_keyword_limit)
{
	char names[STORE_KEYWORDS_MAX + 1][16];
	const char *p[1];
	uint32_t uid = deliver1("alice@example.org", NULL, "k");
	for (int i = 0; i <= STORE_KEYWORDS_MAX; i++) {
		snprintf(names[i], sizeof(names[i]), "kw%d", i);
		p[0] = names[i];
		ck_assert_int_eq(store_flags_update(st, "alice@example.org", "INBOX", &uid, 1,
		    STORE_FLAGS_ADD, 0, p, 1, 0, NULL, NULL),
		    i < STORE_KEYWORDS_MAX ? STORE_OK : STORE_LIMIT);
	}
}
END_TEST

/* ---- expunge, copy, move, reference counts ---- */

START_TEST(test_expunge)
{
	struct store_index *idx;
	uint64_t bodies[6];
	for (int i = 1; i <= 5; i++)
		deliver1("alice@example.org", NULL, "expunge me");
	idx = index_of("alice@example.org", "INBOX");
	for (int i = 0; i < 5; i++)
		bodies[i + 1] = idx->msgs[i].body_id;
	store_index_free(&idx);

	uint32_t del[] = { 2, 4, 77 };
	ck_assert_int_eq(store_expunge(st, "alice@example.org", "INBOX", del, 3), STORE_OK);
	ck_assert_uint_eq(refs_of(bodies[2]), 0);
	ck_assert_uint_eq(refs_of(bodies[4]), 0);
	ck_assert_uint_eq(refs_of(bodies[3]), 1);
	idx = index_of("alice@example.org", "INBOX");
	ck_assert_uint_eq(idx->nmsgs, 3);
	ck_assert_uint_eq(idx->msgs[0].uid, 1);
	ck_assert_uint_eq(idx->msgs[1].uid, 3);
	ck_assert_uint_eq(idx->msgs[2].uid, 5);
	ck_assert_uint_eq(idx->mailbox.messages, 3);
	ck_assert_uint_eq(idx->mailbox.bytes, 30);
	ck_assert_uint_eq(idx->mailbox.uidnext, 6);
	store_index_free(&idx);
	/* UIDs are never reused */
	ck_assert_uint_eq(deliver1("alice@example.org", NULL, "after"), 6);
	reopen();
	ck_assert_uint_eq(deliver1("alice@example.org", NULL, "after"), 7);
	uint64_t b, m;
	ck_assert_int_eq(store_quota_usage(st, "alice@example.org", &b, &m), STORE_OK);
	ck_assert_uint_eq(b, 40);
	ck_assert_uint_eq(m, 5);
}
END_TEST

START_TEST(test_copy_move_refcount)
{
	struct store_rcpt rc[2] = { { .user = "alice@example.org" },
	    { .user = "bob@example.org" } };
	struct store_index *idx;
	const char *text = "Subject: shared\r\n\r\nonce\r\n";
	uint32_t uid, nu[2], uidv;

	ck_assert_int_eq(store_deliver(st, rc, 2, text, strlen(text), 0, NULL, 0, NULL, 0,
	    false), STORE_OK);
	idx = index_of("alice@example.org", "INBOX");
	uint64_t body = idx->msgs[0].body_id;
	uid = idx->msgs[0].uid;
	store_index_free(&idx);
	idx = index_of("bob@example.org", "INBOX");
	ck_assert_uint_eq(idx->msgs[0].body_id, body);        /* stored once */
	store_index_free(&idx);
	ck_assert_uint_eq(refs_of(body), 2);

	uint32_t two[] = { uid, 1234 };
	ck_assert_int_eq(store_copy(st, "alice@example.org", "INBOX", two, 2, "Archive",
	    nu, &uidv), STORE_OK);
	ck_assert_uint_eq(nu[0], 1);
	ck_assert_uint_eq(nu[1], 0);
	struct store_mailbox mb;
	ck_assert_int_eq(store_mailbox_get(st, "alice@example.org", "Archive", &mb), STORE_OK);
	ck_assert_uint_eq(uidv, mb.uidvalidity);
	ck_assert_uint_eq(mb.messages, 1);
	ck_assert_uint_eq(refs_of(body), 3);
	/* copy into the same mailbox */
	ck_assert_int_eq(store_copy(st, "alice@example.org", "Archive", nu, 1, "Archive",
	    &nu[1], NULL), STORE_OK);
	ck_assert_uint_eq(nu[1], 2);
	ck_assert_uint_eq(refs_of(body), 4);

	/* move INBOX -> Trash keeps the count, moves the message */
	ck_assert_int_eq(store_move(st, "alice@example.org", "INBOX", &uid, 1, "Trash",
	    nu, &uidv), STORE_OK);
	ck_assert_uint_eq(nu[0], 1);
	ck_assert_uint_eq(refs_of(body), 4);
	ck_assert_int_eq(store_mailbox_get(st, "alice@example.org", "INBOX", &mb), STORE_OK);
	ck_assert_uint_eq(mb.messages, 0);
	ck_assert_uint_eq(mb.bytes, 0);
	ck_assert_int_eq(store_mailbox_get(st, "alice@example.org", "Trash", &mb), STORE_OK);
	ck_assert_uint_eq(mb.messages, 1);
	ck_assert_uint_eq(mb.bytes, strlen(text));
	/* move into the same mailbox (RFC 6851 3.3: copy + expunge, no
	 * exception): a new UID, the old one gone and in the expunge log */
	uint64_t before = mb.highestmodseq;
	uint32_t old_uid = nu[0];
	ck_assert_int_eq(store_move(st, "alice@example.org", "Trash", nu, 1, "Trash",
	    nu, &uidv), STORE_OK);
	ck_assert_uint_eq(nu[0], old_uid + 1);
	ck_assert_uint_eq(refs_of(body), 4);
	ck_assert_int_eq(store_mailbox_get(st, "alice@example.org", "Trash", &mb), STORE_OK);
	ck_assert_uint_eq(mb.messages, 1);
	ck_assert_uint_eq(mb.bytes, strlen(text));
	ck_assert_uint_eq(mb.uidnext, old_uid + 2);
	idx = index_of("alice@example.org", "Trash");
	ck_assert_uint_eq(idx->nmsgs, 1);
	ck_assert_uint_eq(idx->msgs[0].uid, old_uid + 1);
	ck_assert_uint_eq(idx->msgs[0].flags & MSG_RECENT, MSG_RECENT);
	store_index_free(&idx);
	uint32_t *gone;
	size_t ngone;
	ck_assert_int_eq(store_expunged_since(st, mb.id, before, mb.highestmodseq, &gone,
	    &ngone), STORE_OK);
	ck_assert_uint_eq(ngone, 1);
	ck_assert_uint_eq(gone[0], old_uid);
	free(gone);

	uint64_t b, m;
	ck_assert_int_eq(store_quota_usage(st, "alice@example.org", &b, &m), STORE_OK);
	ck_assert_uint_eq(m, 3);
	ck_assert_uint_eq(b, 3 * strlen(text));

	/* the body goes exactly with its last reference */
	uint32_t one = 1, both[] = { 1, 2 };
	ck_assert_int_eq(store_expunge(st, "alice@example.org", "Trash", &one, 1), STORE_OK);
	ck_assert_uint_eq(refs_of(body), 4);     /* UID 1 moved to UID 2 above */
	ck_assert_int_eq(store_expunge(st, "alice@example.org", "Trash", nu, 1), STORE_OK);
	ck_assert_uint_eq(refs_of(body), 3);
	ck_assert_int_eq(store_expunge(st, "alice@example.org", "Archive", both, 2), STORE_OK);
	ck_assert_uint_eq(refs_of(body), 1);
	assert_body(body, text);
	ck_assert_int_eq(store_expunge(st, "bob@example.org", "INBOX", &one, 1), STORE_OK);
	ck_assert_uint_eq(refs_of(body), 0);
	char *data;
	size_t len;
	ck_assert_int_eq(store_body_get(st, body, &data, &len), STORE_NOTFOUND);
	ck_assert_int_eq(store_quota_usage(st, "alice@example.org", &b, &m), STORE_OK);
	ck_assert_uint_eq(m, 0);
	ck_assert_uint_eq(b, 0);
}
END_TEST

START_TEST(test_quota)
{
	char msg[61];
	memset(msg, 'q', 60);
	msg[60] = '\0';
	ck_assert_int_eq(store_user_set_quota(st, "alice@example.org", 100, 0), STORE_OK);
	ck_assert_int_eq(store_user_set_quota(st, "nobody@example.org", 1, 1), STORE_NOTFOUND);
	struct store_user u;
	ck_assert_int_eq(store_user_get(st, "alice@example.org", &u), STORE_OK);
	ck_assert_uint_eq(u.quota_bytes, 100);

	deliver1("alice@example.org", NULL, msg);
	struct store_rcpt rc[2] = { { .user = "alice@example.org" },
	    { .user = "bob@example.org" } };
	ck_assert_int_eq(store_deliver(st, rc, 1, msg, 60, 0, NULL, 0, NULL, 0, false),
	    STORE_QUOTA);
	ck_assert_int_eq(rc[0].result_r, STORE_QUOTA);
	/* SMTP: the others get it */
	ck_assert_int_eq(store_deliver(st, rc, 2, msg, 60, 0, NULL, 0, NULL, 0, false),
	    STORE_OK);
	ck_assert_int_eq(rc[0].result_r, STORE_QUOTA);
	ck_assert_int_eq(rc[1].result_r, STORE_OK);
	/* APPEND: all or nothing */
	ck_assert_int_eq(store_deliver(st, rc, 2, msg, 60, 0, NULL, 0, NULL, 0, true),
	    STORE_QUOTA);
	uint64_t b, m;
	ck_assert_int_eq(store_quota_usage(st, "bob@example.org", &b, &m), STORE_OK);
	ck_assert_uint_eq(b, 60);
	ck_assert_uint_eq(m, 1);
	ck_assert_int_eq(store_quota_usage(st, "alice@example.org", &b, &m), STORE_OK);
	ck_assert_uint_eq(b, 60);
	ck_assert_uint_eq(m, 1);
	/* copy over quota */
	uint32_t uid = 1;
	ck_assert_int_eq(store_copy(st, "alice@example.org", "INBOX", &uid, 1, "Archive",
	    NULL, NULL), STORE_QUOTA);
	/* move is fine (usage does not change) */
	ck_assert_int_eq(store_move(st, "alice@example.org", "INBOX", &uid, 1, "Archive",
	    NULL, NULL), STORE_OK);
	/* message quota */
	ck_assert_int_eq(store_user_set_quota(st, "alice@example.org", 0, 1), STORE_OK);
	ck_assert_int_eq(store_deliver(st, rc, 1, "x", 1, 0, NULL, 0, NULL, 0, false),
	    STORE_QUOTA);
	ck_assert_int_eq(store_user_set_quota(st, "alice@example.org", 0, 0), STORE_OK);
	deliver1("alice@example.org", NULL, "x");
	ck_assert_int_eq(store_quota_usage(st, "alice@example.org", &b, &m), STORE_OK);
	ck_assert_uint_eq(b, 61);
	ck_assert_uint_eq(m, 2);
}
END_TEST

START_TEST(test_big_body_ranges)
{
	size_t len = 3 * 65536 + 1234;
	char *big = xmalloc(len + 1), buf[70000];
	for (size_t i = 0; i < len; i++)
		big[i] = (char)('a' + (i * 7 + i / 65536) % 26);
	big[len] = '\0';
	struct store_rcpt rc = { .user = "alice@example.org" };
	ck_assert_int_eq(store_deliver(st, &rc, 1, big, len, 0, NULL, 0, NULL, 0, false),
	    STORE_OK);
	struct store_index *idx = index_of("alice@example.org", "INBOX");
	uint64_t id = idx->msgs[0].body_id;
	ck_assert_uint_eq(idx->msgs[0].size, len);
	store_index_free(&idx);

	static const struct { uint64_t off; size_t n; size_t want; } cases[] = {
		{ 0, 10, 10 }, { 65530, 20, 20 }, { 65536, 65536, 65536 },
		{ 100, 70000, 70000 }, { 3 * 65536, 70000, 1234 },
		{ 3 * 65536 + 1233, 5, 1 }, { 3 * 65536 + 1234, 5, 0 }, { 1u << 30, 5, 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t got = 99;
		ck_assert_int_eq(store_body_read(st, id, cases[i].off, buf, cases[i].n, &got),
		    STORE_OK);
		ck_assert_uint_eq(got, cases[i].want);
		if (got > 0)
			ck_assert_mem_eq(buf, big + cases[i].off, got);
	}
	char *all;
	size_t alen;
	ck_assert_int_eq(store_body_get(st, id, &all, &alen), STORE_OK);
	ck_assert_uint_eq(alen, len);
	ck_assert_mem_eq(all, big, len);
	free(all);
	ck_assert_int_eq(store_body_cache(st, id, &all, &alen), STORE_NOTFOUND);
	size_t got;
	ck_assert_int_eq(store_body_read(st, 999999, 0, buf, 10, &got), STORE_NOTFOUND);
	free(big);
}
END_TEST

/* The cache blob of a body, one at a time and by batch: a blob, an empty
 * one (stored, 0 bytes) and none. Berkeley DB 5.3 hands back a
 * DB_DBT_MALLOC value of 0 bytes as a pointer, not NULL (checked here on
 * the raw handle), so the batch read tells an empty blob (data non-NULL,
 * length 0) from none (NULL) as store_body_cache does (STORE_OK and "",
 * STORE_NOTFOUND), and store_body_cache is one call of it. */
START_TEST(test_body_cache_empty)
{
	struct store_rcpt rc[3] = { { .user = "alice@example.org" },
	    { .user = "alice@example.org" }, { .user = "alice@example.org" } };
	ck_assert_int_eq(store_deliver(st, &rc[0], 1, "a", 1, 0, "CACHE", 5, NULL, 0, false),
	    STORE_OK);
	ck_assert_int_eq(store_deliver(st, &rc[1], 1, "b", 1, 0, "", 0, NULL, 0, false),
	    STORE_OK);
	ck_assert_int_eq(store_deliver(st, &rc[2], 1, "c", 1, 0, NULL, 0, NULL, 0, false),
	    STORE_OK);
	struct store_index *idx = index_of("alice@example.org", "INBOX");
	ck_assert_uint_eq(idx->nmsgs, 3);
	uint64_t ids[3] = { idx->msgs[0].body_id, idx->msgs[1].body_id, idx->msgs[2].body_id };
	store_index_free(&idx);

	/* the raw read of the empty value */
	DB_TXN *txn;
	ck_assert_int_eq(st->env->txn_begin(st->env, NULL, &txn, 0), 0);
	unsigned char key[8];
	void *d = (void *)1;
	size_t l = 99;
	sdb_be64(key, ids[1]);
	ck_assert_int_eq(sdb_get_alloc(st->cache, txn, key, 8, &d, &l, 0), STORE_OK);
	ck_assert_uint_eq(l, 0);
	ck_assert_ptr_nonnull(d);
	free(d);
	sdb_be64(key, ids[2]);
	ck_assert_int_eq(sdb_get_alloc(st->cache, txn, key, 8, &d, &l, 0), STORE_NOTFOUND);
	ck_assert_int_eq(txn->commit(txn, 0), 0);

	char *data[3];
	size_t lens[3];
	ck_assert_int_eq(store_body_cache_many(st, ids, 3, data, lens), STORE_OK);
	ck_assert_uint_eq(lens[0], 5);
	ck_assert_mem_eq(data[0], "CACHE", 5);
	ck_assert_ptr_nonnull(data[1]);            /* empty, not none */
	ck_assert_uint_eq(lens[1], 0);
	ck_assert_ptr_null(data[2]);
	ck_assert_uint_eq(lens[2], 0);
	free(data[0]);
	free(data[1]);

	char *c = NULL;
	size_t cl = 99;
	ck_assert_int_eq(store_body_cache(st, ids[0], &c, &cl), STORE_OK);
	ck_assert_uint_eq(cl, 5);
	ck_assert_str_eq(c, "CACHE");              /* NUL-terminated */
	free(c);
	ck_assert_int_eq(store_body_cache(st, ids[1], &c, &cl), STORE_OK);
	ck_assert_uint_eq(cl, 0);
	ck_assert_str_eq(c, "");
	free(c);
	c = (char *)1;
	cl = 99;
	ck_assert_int_eq(store_body_cache(st, ids[2], &c, &cl), STORE_NOTFOUND);
	ck_assert_ptr_null(c);
	ck_assert_uint_eq(cl, 0);
	c = (char *)1;
	ck_assert_int_eq(store_body_cache(st, 999999, &c, &cl), STORE_NOTFOUND);
	ck_assert_ptr_null(c);
}
END_TEST

/* ---- aliases and resolution ---- */

static int
count_alias(void *arg, const char *alias, const char *const *t, size_t n)
{
	struct mm_buf *b = arg;
	mm_buf_printf(b, "%s:", alias);
	for (size_t i = 0; i < n; i++)
		mm_buf_printf(b, " %s", t[i]);
	mm_buf_appendc(b, ';');
	return 0;
}

static void
assert_resolve(const char *rcpt, int want, const char *users, const char *remote)
{
	char u[8][321], rm[8][321];
	struct mm_buf got, gotr;
	size_t nu, nr;
	mm_buf_init(&got);
	mm_buf_init(&gotr);
	ck_assert_int_eq(store_resolve(st, rcpt, u, 8, &nu, rm, 8, &nr), want);
	for (size_t i = 0; i < nu; i++)
		mm_buf_printf(&got, "%s%s", i ? " " : "", u[i]);
	for (size_t i = 0; i < nr; i++)
		mm_buf_printf(&gotr, "%s%s", i ? " " : "", rm[i]);
	ck_assert_str_eq(mm_buf_cstr(&got), users);
	ck_assert_str_eq(mm_buf_cstr(&gotr), remote);
	mm_buf_free(&got);
	mm_buf_free(&gotr);
}

START_TEST(test_resolve)
{
	const char *t1[] = { "alice@example.org", "Bob@Example.org", "ext@remote.test" };
	const char *t2[] = { "team@example.org", "carol@example.org" };
	const char *loop1[] = { "loop2@example.org", "alice@example.org" };
	const char *loop2[] = { "loop1@example.org" };
	const char *catch[] = { "postmaster@example.org" };
	const char *pm[] = { "bob@example.org" };

	ck_assert_int_eq(store_alias_add(st, "team@example.org", t1, 3), STORE_OK);
	ck_assert_int_eq(store_alias_add(st, "team@example.org", t1, 3), STORE_EXISTS);
	ck_assert_int_eq(store_alias_add(st, "alice@example.org", t1 + 1, 1), STORE_EXISTS);
	ck_assert_int_eq(store_alias_add(st, "bad", t1, 1), STORE_INVALID);
	ck_assert_int_eq(store_alias_add(st, "x@example.org", t1, 0), STORE_INVALID);
	ck_assert_int_eq(store_alias_add(st, "self@example.org", (const char *[]){ "self@example.org" }, 1),
	    STORE_INVALID);
	ck_assert_int_eq(store_user_add(st, "team@example.org", hash), STORE_EXISTS);
	ck_assert_int_eq(store_alias_add(st, "all@example.org", t2, 2), STORE_OK);
	ck_assert_int_eq(store_alias_add(st, "loop1@example.org", loop1, 2), STORE_OK);
	ck_assert_int_eq(store_alias_add(st, "loop2@example.org", loop2, 1), STORE_OK);

	assert_resolve("alice@example.org", STORE_OK, "alice@example.org", "");
	assert_resolve("ALICE@EXAMPLE.ORG", STORE_OK, "alice@example.org", "");
	assert_resolve("team@example.org", STORE_OK, "alice@example.org bob@example.org",
	    "ext@remote.test");
	/* nested, and carol is not a user: remote */
	assert_resolve("all@example.org", STORE_OK, "alice@example.org bob@example.org",
	    "ext@remote.test carol@example.org");
	assert_resolve("loop1@example.org", STORE_OK, "alice@example.org", "");
	assert_resolve("alice+lists@example.org", STORE_OK, "alice@example.org", "");
	assert_resolve("team+x@example.org", STORE_OK, "alice@example.org bob@example.org",
	    "ext@remote.test");
	assert_resolve("nobody@example.org", STORE_NOTFOUND, "", "");
	assert_resolve("+@example.org", STORE_NOTFOUND, "", "");
	assert_resolve("not an address", STORE_INVALID, "", "");

	/* catch-all */
	ck_assert_int_eq(store_alias_add(st, "@example.org", catch, 1), STORE_OK);
	ck_assert_int_eq(store_alias_add(st, "postmaster@example.org", pm, 1), STORE_OK);
	assert_resolve("nobody@example.org", STORE_OK, "bob@example.org", "");
	assert_resolve("nobody@example.net", STORE_NOTFOUND, "", "");
	assert_resolve("alice@example.org", STORE_OK, "alice@example.org", "");

	/* output bound */
	char u[1][321], rm[1][321];
	size_t nu, nr;
	ck_assert_int_eq(store_resolve(st, "team@example.org", u, 1, &nu, rm, 1, &nr),
	    STORE_LIMIT);

	/* belongs_to */
	ck_assert(store_address_belongs_to(st, "Alice@example.org", "alice@example.org"));
	ck_assert(store_address_belongs_to(st, "alice+tag@example.org", "alice@example.org"));
	ck_assert(store_address_belongs_to(st, "team@example.org", "alice@example.org"));
	ck_assert(!store_address_belongs_to(st, "bob@example.org", "alice@example.org"));
	ck_assert(!store_address_belongs_to(st, "random@example.org", "bob@example.org"));
	ck_assert(!store_address_belongs_to(st, "random@example.org", "alice@example.org"));

	/* list and delete */
	struct mm_buf b;
	mm_buf_init(&b);
	ck_assert_int_eq(store_alias_del(st, "loop2@example.org"), STORE_OK);
	ck_assert_int_eq(store_alias_del(st, "loop2@example.org"), STORE_NOTFOUND);
	ck_assert_int_eq(store_alias_del(st, "loop1@example.org"), STORE_OK);
	ck_assert_int_eq(store_alias_list(st, count_alias, &b), STORE_OK);
	ck_assert_str_eq(mm_buf_cstr(&b), "@example.org: postmaster@example.org;"
	    "all@example.org: team@example.org carol@example.org;"
	    "postmaster@example.org: bob@example.org;"
	    "team@example.org: alice@example.org bob@example.org ext@remote.test;");
	mm_buf_free(&b);
}
END_TEST

/* ---- mailboxes ---- */

static int
collect_mb(void *arg, const struct store_mailbox *mb)
{
	struct mm_buf *b = arg;
	mm_buf_printf(b, "%s%s%s,", mb->name, mb->attrs & MBOX_ATTR_NOSELECT ? "(ns)" : "",
	    mb->subscribed ? "*" : "");
	return 0;
}

static const char *
list_of(const char *user, struct mm_buf *b)
{
	b->len = 0;
	ck_assert_int_eq(store_mailbox_list(st, user, collect_mb, b), STORE_OK);
	return mm_buf_cstr(b);
}

START_TEST(test_mailboxes)
{
	const char *a = "alice@example.org";
	struct mm_buf b;
	struct store_mailbox mb, mb2;
	mm_buf_init(&b);

	ck_assert_str_eq(list_of(a, &b), "Archive*,Drafts*,INBOX*,Junk*,Sent*,Trash*,");
	ck_assert_int_eq(store_mailbox_create(st, a, "Work/2024/Q1", 0), STORE_OK);
	ck_assert_int_eq(store_mailbox_create(st, a, "Work", 0), STORE_EXISTS);
	ck_assert_int_eq(store_mailbox_create(st, a, "inbox", 0), STORE_EXISTS);
	ck_assert_int_eq(store_mailbox_create(st, a, "/abs", 0), STORE_INVALID);
	ck_assert_int_eq(store_mailbox_create(st, a, "a//b", 0), STORE_INVALID);
	ck_assert_int_eq(store_mailbox_create(st, a, "trail/", 0), STORE_INVALID);
	ck_assert_int_eq(store_mailbox_create(st, a, "", 0), STORE_INVALID);
	ck_assert_int_eq(store_mailbox_create(st, a, "wild*", 0), STORE_INVALID);
	ck_assert_int_eq(store_mailbox_create(st, a, "a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q", 0),
	    STORE_LIMIT);
	ck_assert_int_eq(store_mailbox_create(st, "nobody@example.org", "X", 0), STORE_NOTFOUND);
	ck_assert_str_eq(list_of(a, &b), "Archive*,Drafts*,INBOX*,Junk*,Sent*,Trash*,"
	    "Work,Work/2024,Work/2024/Q1,");
	ck_assert_int_eq(store_mailbox_subscribe(st, a, "Work/2024", true), STORE_OK);
	ck_assert_int_eq(store_mailbox_subscribe(st, a, "Trash", false), STORE_OK);
	ck_assert_int_eq(store_mailbox_subscribe(st, a, "Nope", true), STORE_NOTFOUND);

	/* delete with children -> \Noselect, messages gone */
	deliver1(a, "Work", "work mail");
	ck_assert_int_eq(store_mailbox_delete(st, a, "Work"), STORE_OK);
	ck_assert_int_eq(store_mailbox_get(st, a, "Work", &mb), STORE_OK);
	ck_assert_uint_eq(mb.attrs & MBOX_ATTR_NOSELECT, MBOX_ATTR_NOSELECT);
	ck_assert_uint_eq(mb.messages, 0);
	ck_assert_int_eq(store_mailbox_delete(st, a, "Work"), STORE_DENIED);
	struct store_index *idx;
	ck_assert_int_eq(store_index_read(st, a, "Work", &idx), STORE_NOTFOUND);
	struct store_rcpt rc = { .user = a, .mailbox = "Work" };
	ck_assert_int_eq(store_deliver(st, &rc, 1, "x", 1, 0, NULL, 0, NULL, 0, false),
	    STORE_NOTFOUND);
	ck_assert_int_eq(store_mailbox_delete(st, a, "INBOX"), STORE_DENIED);
	ck_assert_int_eq(store_mailbox_delete(st, a, "Inbox"), STORE_DENIED);
	ck_assert_int_eq(store_mailbox_delete(st, a, "Nope"), STORE_NOTFOUND);
	uint64_t bb, mm;
	ck_assert_int_eq(store_quota_usage(st, a, &bb, &mm), STORE_OK);
	ck_assert_uint_eq(mm, 0);
	/* creating it again makes it selectable */
	ck_assert_int_eq(store_mailbox_create(st, a, "Work", 0), STORE_OK);
	ck_assert_int_eq(store_mailbox_get(st, a, "Work", &mb), STORE_OK);
	ck_assert_uint_eq(mb.attrs & MBOX_ATTR_NOSELECT, 0);

	/* rename with children keeps ids and messages */
	deliver1(a, "Work/2024", "in 2024");
	ck_assert_int_eq(store_mailbox_get(st, a, "Work/2024", &mb), STORE_OK);
	ck_assert_int_eq(store_mailbox_rename(st, a, "Work", "Jobs/Old"), STORE_OK);
	ck_assert_str_eq(list_of(a, &b), "Archive*,Drafts*,INBOX*,Jobs,Jobs/Old,"
	    "Jobs/Old/2024*,Jobs/Old/2024/Q1,Junk*,Sent*,Trash,");
	ck_assert_int_eq(store_mailbox_get(st, a, "Jobs/Old/2024", &mb2), STORE_OK);
	ck_assert_uint_eq(mb2.id, mb.id);
	ck_assert_uint_eq(mb2.uidvalidity, mb.uidvalidity);
	ck_assert_uint_eq(mb2.messages, 1);
	ck_assert_int_eq(store_mailbox_rename(st, a, "Jobs", "Sent"), STORE_EXISTS);
	ck_assert_int_eq(store_mailbox_rename(st, a, "Jobs", "Jobs/Sub"), STORE_INVALID);
	ck_assert_int_eq(store_mailbox_rename(st, a, "Nope", "Nope2"), STORE_NOTFOUND);
	ck_assert_int_eq(store_mailbox_rename(st, a, "Jobs", "inbox"), STORE_EXISTS);

	/* rename INBOX: messages move, INBOX stays, empty, UIDs not reused */
	deliver1(a, NULL, "one");
	deliver1(a, NULL, "two");
	struct store_mailbox inbox0;
	ck_assert_int_eq(store_mailbox_get(st, a, "INBOX", &inbox0), STORE_OK);
	ck_assert_int_eq(store_mailbox_rename(st, a, "INBOX", "Old Inbox"), STORE_OK);
	ck_assert_int_eq(store_mailbox_get(st, a, "INBOX", &mb), STORE_OK);
	ck_assert_uint_eq(mb.messages, 0);
	ck_assert_uint_eq(mb.bytes, 0);
	ck_assert_uint_eq(mb.id, inbox0.id);
	ck_assert_uint_eq(mb.uidvalidity, inbox0.uidvalidity);
	ck_assert_uint_eq(mb.uidnext, 3);
	idx = index_of(a, "Old Inbox");
	ck_assert_uint_eq(idx->nmsgs, 2);
	ck_assert_uint_eq(idx->msgs[0].uid, 1);
	ck_assert_uint_eq(idx->msgs[1].uid, 2);
	ck_assert_uint_eq(idx->mailbox.messages, 2);
	ck_assert_uint_eq(idx->mailbox.uidnext, 3);
	ck_assert_uint_ne(idx->mailbox.uidvalidity, inbox0.uidvalidity);
	assert_body(idx->msgs[1].body_id, "two");
	store_index_free(&idx);
	ck_assert_uint_eq(deliver1(a, NULL, "three"), 3);

	/* delete a leaf */
	ck_assert_int_eq(store_mailbox_delete(st, a, "Old Inbox"), STORE_OK);
	ck_assert_int_eq(store_mailbox_get(st, a, "Old Inbox", &mb), STORE_NOTFOUND);
	ck_assert_int_eq(store_quota_usage(st, a, &bb, &mm), STORE_OK);
	ck_assert_uint_eq(mm, 2);   /* "in 2024" and "three" */
	/* a re-created mailbox gets a new UIDVALIDITY */
	ck_assert_int_eq(store_mailbox_get(st, a, "Junk", &mb), STORE_OK);
	ck_assert_int_eq(store_mailbox_delete(st, a, "Junk"), STORE_OK);
	ck_assert_int_eq(store_mailbox_create(st, a, "Junk", MBOX_ATTR_JUNK), STORE_OK);
	ck_assert_int_eq(store_mailbox_get(st, a, "Junk", &mb2), STORE_OK);
	ck_assert_uint_ne(mb.uidvalidity, mb2.uidvalidity);
	ck_assert_uint_ne(mb.id, mb2.id);
	ck_assert_uint_eq(mb2.attrs, MBOX_ATTR_JUNK);
	mm_buf_free(&b);
}
END_TEST

/* ---- change hook ---- */

static uint32_t hook_ids[16];
static int hook_n;

static unsigned hook_kinds[16];

static void
hook(void *arg, const char *user, uint32_t id, unsigned kind)
{
	ck_assert_str_eq(user, (const char *)arg);
	if (hook_n < 16) {
		hook_ids[hook_n] = id;
		hook_kinds[hook_n] = kind;
	}
	hook_n++;
}

START_TEST(test_change_hook)
{
	struct store_mailbox mb;
	ck_assert_int_eq(store_mailbox_get(st, "alice@example.org", "INBOX", &mb), STORE_OK);
	store_set_change_hook(st, hook, "alice@example.org");
	uint32_t uid = deliver1("alice@example.org", NULL, "x");
	ck_assert_int_eq(hook_n, 1);
	ck_assert_uint_eq(hook_ids[0], mb.id);
	ck_assert_uint_eq(hook_kinds[0], STORE_CHANGE_MESSAGES);
	ck_assert_int_eq(store_flags_update(st, "alice@example.org", "INBOX", &uid, 1,
	    STORE_FLAGS_ADD, MSG_SEEN, NULL, 0, 0, NULL, NULL), STORE_OK);
	ck_assert_int_eq(hook_n, 2);
	/* a flag change says so: a watcher knows no message came or went */
	ck_assert_uint_eq(hook_kinds[1], STORE_CHANGE_FLAGS);
	/* no change, no call */
	ck_assert_int_eq(store_flags_update(st, "alice@example.org", "INBOX", &uid, 1,
	    STORE_FLAGS_ADD, MSG_SEEN, NULL, 0, 0, NULL, NULL), STORE_OK);
	ck_assert_int_eq(hook_n, 2);
	ck_assert_int_eq(store_expunge(st, "alice@example.org", "INBOX", &uid, 1), STORE_OK);
	ck_assert_int_eq(hook_n, 3);
	ck_assert_uint_eq(hook_ids[2], mb.id);
	ck_assert_uint_eq(hook_kinds[2], STORE_CHANGE_MESSAGES);
	/* a failed call does not notify */
	struct store_rcpt rc = { .user = "alice@example.org", .mailbox = "Nope" };
	ck_assert_int_eq(store_deliver(st, &rc, 1, "x", 1, 0, NULL, 0, NULL, 0, false),
	    STORE_NOTFOUND);
	ck_assert_int_eq(hook_n, 3);
	store_set_change_hook(st, NULL, NULL);
}
END_TEST

/* ---- MULTIAPPEND: all or nothing ---- */

START_TEST(test_append_multi)
{
	const char *a = "alice@example.org";
	const char *kw[] = { "$Work" };
	struct store_append m[3] = {
		{ .data = "Subject: 1\r\n\r\none\r\n", .len = 19, .internal_date = 1000,
		  .flags = MSG_SEEN },
		{ .data = "Subject: 2\r\n\r\ntwo\r\n", .len = 19, .internal_date = 2000,
		  .keywords = kw, .nkeywords = 1 },
		{ .data = "Subject: 3\r\n\r\nthree\r\n", .len = 21, .internal_date = 3000 },
	};
	uint32_t uidv;
	ck_assert_int_eq(store_append_multi(st, a, "Drafts", m, 3, &uidv), STORE_OK);
	ck_assert_uint_eq(m[0].uid_r, 1);
	ck_assert_uint_eq(m[1].uid_r, 2);
	ck_assert_uint_eq(m[2].uid_r, 3);
	struct store_index *idx = index_of(a, "Drafts");
	ck_assert_uint_eq(uidv, idx->mailbox.uidvalidity);
	ck_assert_uint_eq(idx->nmsgs, 3);
	ck_assert_uint_eq(idx->msgs[0].flags, MSG_SEEN | MSG_RECENT);
	ck_assert_uint_eq(idx->msgs[1].keywords, 1);
	ck_assert_int_eq(idx->msgs[2].internal_date, 3000);
	assert_body(idx->msgs[2].body_id, "Subject: 3\r\n\r\nthree\r\n");
	store_index_free(&idx);
	/* over quota on the third: none stored */
	ck_assert_int_eq(store_user_set_quota(st, a, 0, 5), STORE_OK);
	ck_assert_int_eq(store_append_multi(st, a, "Drafts", m, 3, &uidv), STORE_QUOTA);
	ck_assert_uint_eq(m[0].uid_r, 0);
	idx = index_of(a, "Drafts");
	ck_assert_uint_eq(idx->nmsgs, 3);
	store_index_free(&idx);
	ck_assert_int_eq(store_append_multi(st, a, "Drafts", m, 2, &uidv), STORE_OK);
	ck_assert_uint_eq(m[1].uid_r, 5);
	ck_assert_int_eq(store_append_multi(st, a, "Nope", m, 1, &uidv), STORE_NOTFOUND);
	ck_assert_int_eq(store_append_multi(st, a, "Drafts", m, 0, &uidv), STORE_INVALID);
}
END_TEST

/* ---- a subscription outlives its mailbox (RFC 3501 6.3.6) ---- */

START_TEST(test_subscription_ghost)
{
	const char *a = "alice@example.org";
	struct store_mailbox mb;
	uint32_t old_uidv, old_id;

	ck_assert_int_eq(store_mailbox_create(st, a, "Gone", 0), STORE_OK);
	ck_assert_int_eq(store_mailbox_subscribe(st, a, "Gone", true), STORE_OK);
	(void)deliver1(a, "Gone", "x");
	ck_assert_int_eq(store_mailbox_get(st, a, "Gone", &mb), STORE_OK);
	old_uidv = mb.uidvalidity;
	old_id = mb.id;
	ck_assert_int_eq(store_mailbox_delete(st, a, "Gone"), STORE_OK);
	ck_assert_int_eq(store_mailbox_get(st, a, "Gone", &mb), STORE_OK);
	ck_assert_uint_eq(mb.attrs, MBOX_ATTR_NOSELECT | MBOX_ATTR_NONEXISTENT);
	ck_assert(mb.subscribed);
	ck_assert_uint_eq(mb.messages, 0);
	struct store_index *idx;
	ck_assert_int_eq(store_index_read(st, a, "Gone", &idx), STORE_NOTFOUND);
	ck_assert_int_eq(store_mailbox_delete(st, a, "Gone"), STORE_NOTFOUND);
	ck_assert_int_eq(store_mailbox_rename(st, a, "Gone", "Other"), STORE_NOTFOUND);
	struct store_rcpt rc = { .user = a, .mailbox = "Gone" };
	ck_assert_int_eq(store_deliver(st, &rc, 1, "y", 1, 0, NULL, 0, NULL, 0, true),
	    STORE_NOTFOUND);
	/* CREATE makes it a mailbox again; UIDs never go back */
	ck_assert_int_eq(store_mailbox_create(st, a, "Gone", MBOX_ATTR_JUNK), STORE_OK);
	ck_assert_int_eq(store_mailbox_get(st, a, "Gone", &mb), STORE_OK);
	ck_assert_uint_eq(mb.attrs, MBOX_ATTR_JUNK);
	ck_assert(mb.subscribed);
	ck_assert_uint_ne(mb.uidvalidity, old_uidv);
	ck_assert_uint_ne(mb.id, old_id);
	/* UNSUBSCRIBE of a ghost removes it */
	ck_assert_int_eq(store_mailbox_delete(st, a, "Gone"), STORE_OK);
	ck_assert_int_eq(store_mailbox_subscribe(st, a, "Gone", false), STORE_OK);
	ck_assert_int_eq(store_mailbox_get(st, a, "Gone", &mb), STORE_NOTFOUND);
	/* unsubscribed: no ghost */
	ck_assert_int_eq(store_mailbox_create(st, a, "Plain", 0), STORE_OK);
	ck_assert_int_eq(store_mailbox_delete(st, a, "Plain"), STORE_OK);
	ck_assert_int_eq(store_mailbox_get(st, a, "Plain", &mb), STORE_NOTFOUND);
	/* RENAME onto a ghost takes its place and its subscription */
	ck_assert_int_eq(store_mailbox_create(st, a, "G2", 0), STORE_OK);
	ck_assert_int_eq(store_mailbox_subscribe(st, a, "G2", true), STORE_OK);
	ck_assert_int_eq(store_mailbox_delete(st, a, "G2"), STORE_OK);
	ck_assert_int_eq(store_mailbox_create(st, a, "Src", 0), STORE_OK);
	ck_assert_int_eq(store_mailbox_rename(st, a, "Src", "G2"), STORE_OK);
	ck_assert_int_eq(store_mailbox_get(st, a, "G2", &mb), STORE_OK);
	ck_assert_uint_eq(mb.attrs, 0);
	ck_assert(mb.subscribed);
	ck_assert_int_eq(store_mailbox_get(st, a, "Src", &mb), STORE_NOTFOUND);
}
END_TEST

/* ---- \Recent: taken once, by exactly one caller ---- */

START_TEST(test_recent_claim)
{
	const char *a = "alice@example.org";
	uint32_t uids[3], got[4];
	size_t n;
	struct store_mailbox mb;

	for (int i = 0; i < 3; i++)
		uids[i] = deliver1(a, NULL, "recent");
	ck_assert_int_eq(store_mailbox_get(st, a, "INBOX", &mb), STORE_OK);
	ck_assert_uint_eq(mb.recent, 3);
	uint64_t modseq = mb.highestmodseq;
	/* the first two, and a UID that does not exist */
	uint32_t some[] = { uids[0], uids[1], 999 };
	ck_assert_int_eq(store_recent_claim(st, a, "INBOX", some, 3, got, &n), STORE_OK);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(got[0], uids[0]);
	ck_assert_uint_eq(got[1], uids[1]);
	/* a second claim gets only what is left */
	ck_assert_int_eq(store_recent_claim(st, a, "INBOX", uids, 3, got, &n), STORE_OK);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(got[0], uids[2]);
	ck_assert_int_eq(store_recent_claim(st, a, "INBOX", uids, 3, got, &n), STORE_OK);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(store_mailbox_get(st, a, "INBOX", &mb), STORE_OK);
	ck_assert_uint_eq(mb.recent, 0);
	ck_assert_uint_eq(mb.highestmodseq, modseq);      /* no CONDSTORE change */
	struct store_index *idx = index_of(a, "INBOX");
	for (size_t i = 0; i < idx->nmsgs; i++)
		ck_assert_uint_eq(idx->msgs[i].flags & MSG_RECENT, 0);
	store_index_free(&idx);
	ck_assert_int_eq(store_recent_claim(st, a, "Nope", uids, 3, got, &n), STORE_NOTFOUND);
	ck_assert_uint_eq(n, 0);
}
END_TEST

#define R_THREADS 4
#define R_MSGS 60

static uint32_t race_uids[R_MSGS];

static void *
claimer(void *arg)
{
	uint32_t *owned = arg;   /* owned[i]: 1 if this thread took race_uids[i] */
	uint32_t got[R_MSGS];
	size_t n;
	/* one message at a time, in the order the threads race for them */
	for (int i = 0; i < R_MSGS; i++) {
		if (store_recent_claim(st, "alice@example.org", "INBOX", &race_uids[i], 1,
		    got, &n) != STORE_OK)
			return (void *)1;
		owned[i] = (uint32_t)n;
	}
	return NULL;
}

START_TEST(test_recent_claim_threads)
{
	pthread_t t[R_THREADS];
	uint32_t owned[R_THREADS][R_MSGS];
	for (int i = 0; i < R_MSGS; i++)
		race_uids[i] = deliver1("alice@example.org", NULL, "race");
	for (int i = 0; i < R_THREADS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, claimer, owned[i]), 0);
	for (int i = 0; i < R_THREADS; i++) {
		void *ret;
		pthread_join(t[i], &ret);
		ck_assert_ptr_null(ret);
	}
	for (int m = 0; m < R_MSGS; m++) {
		uint32_t owners = 0;
		for (int i = 0; i < R_THREADS; i++)
			owners += owned[i][m];
		ck_assert_uint_eq(owners, 1);
	}
}
END_TEST

/* ---- concurrency: deadlocks are retried, nothing is lost ---- */

#define T_THREADS 6
#define T_PER_THREAD 40

static void *
writer(void *arg)
{
	long n = (long)arg;
	char text[64];
	for (int i = 0; i < T_PER_THREAD; i++) {
		/* everyone to alice's INBOX and bob's INBOX in one call, in
		 * opposite orders half the time: lock order conflicts */
		struct store_rcpt rc[2] = { { .user = "alice@example.org" },
		    { .user = "bob@example.org" } };
		if ((n + i) % 2) {
			rc[0].user = "bob@example.org";
			rc[1].user = "alice@example.org";
		}
		snprintf(text, sizeof(text), "thread %ld message %d", n, i);
		if (store_deliver(st, rc, 2, text, strlen(text), 0, NULL, 0, NULL, 0,
		    false) != STORE_OK || rc[0].result_r || rc[1].result_r)
			return (void *)1;
		uint32_t uid = rc[0].uid_r;
		if (store_flags_update(st, rc[0].user, "INBOX", &uid, 1, STORE_FLAGS_ADD,
		    MSG_SEEN, NULL, 0, 0, NULL, NULL) != STORE_OK)
			return (void *)2;
	}
	return NULL;
}

START_TEST(test_threads)
{
	pthread_t t[T_THREADS];
	for (long i = 0; i < T_THREADS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, writer, (void *)i), 0);
	for (int i = 0; i < T_THREADS; i++) {
		void *ret;
		pthread_join(t[i], &ret);
		ck_assert_ptr_null(ret);
	}
	const char *users[] = { "alice@example.org", "bob@example.org" };
	for (int u = 0; u < 2; u++) {
		struct store_index *idx = index_of(users[u], "INBOX");
		ck_assert_uint_eq(idx->nmsgs, T_THREADS * T_PER_THREAD);
		ck_assert_uint_eq(idx->mailbox.messages, T_THREADS * T_PER_THREAD);
		ck_assert_uint_eq(idx->mailbox.uidnext, T_THREADS * T_PER_THREAD + 1);
		uint32_t seen = 0;
		for (size_t i = 0; i < idx->nmsgs; i++) {
			ck_assert_uint_eq(idx->msgs[i].uid, i + 1);
			ck_assert_uint_eq(refs_of(idx->msgs[i].body_id), 2);
			seen += (idx->msgs[i].flags & MSG_SEEN) != 0;
		}
		ck_assert_uint_eq(idx->mailbox.unseen, idx->nmsgs - seen);
		store_index_free(&idx);
	}
}
END_TEST

/* ---- user del and aliases, the mailbox cap ---- */

struct alias_seen {
	char text[1024];
};

static int
alias_collect(void *arg, const char *alias, const char *const *t, size_t n)
{
	struct alias_seen *a = arg;
	size_t len = strlen(a->text);
	len += snprintf(a->text + len, sizeof(a->text) - len, "%s:", alias);
	for (size_t i = 0; i < n; i++)
		len += snprintf(a->text + len, sizeof(a->text) - len, "%s%s", i ? "," : "",
		    t[i]);
	snprintf(a->text + len, sizeof(a->text) - len, ";");
	return 0;
}

START_TEST(test_user_del_aliases)
{
	const char *team[] = { "alice@example.org", "bob@example.org" };
	const char *solo[] = { "Alice@example.org" };
	const char *ext[] = { "alice@example.org", "someone@remote.net" };
	const char *all[] = { "alice@example.org" };
	char users[4][321], remote[4][321];
	size_t nu, nr;
	struct alias_seen seen = { "" };

	ck_assert_int_eq(store_alias_add(st, "team@example.org", team, 2), STORE_OK);
	ck_assert_int_eq(store_alias_add(st, "solo@example.org", solo, 1), STORE_OK);
	ck_assert_int_eq(store_alias_add(st, "ext@example.org", ext, 2), STORE_OK);
	ck_assert_int_eq(store_alias_add(st, "@example.net", all, 1), STORE_OK);
	ck_assert_int_eq(store_alias_add(st, "bobby@example.org", team + 1, 1), STORE_OK);
	ck_assert_int_eq(store_user_del(st, "ALICE@example.org"), STORE_OK);
	ck_assert_int_eq(store_alias_list(st, alias_collect, &seen), STORE_OK);
	ck_assert_str_eq(seen.text, "bobby@example.org:bob@example.org;"
	    "ext@example.org:someone@remote.net;"
	    "team@example.org:bob@example.org;");
	ck_assert_int_eq(store_resolve(st, "solo@example.org", users, 4, &nu, remote, 4,
	    &nr), STORE_NOTFOUND);
	ck_assert_int_eq(store_resolve(st, "team@example.org", users, 4, &nu, remote, 4,
	    &nr), STORE_OK);
	ck_assert_uint_eq(nu, 1);
	ck_assert_str_eq(users[0], "bob@example.org");
	/* the catch-all that only pointed to alice went with her */
	ck_assert_int_eq(store_resolve(st, "x@example.net", users, 4, &nu, remote, 4,
	    &nr), STORE_NOTFOUND);
	/* the name is free again, as a user or an alias */
	ck_assert_int_eq(store_alias_add(st, "alice@example.org", team + 1, 1), STORE_OK);
	ck_assert_int_eq(store_user_del(st, "alice@example.org"), STORE_NOTFOUND);
}
END_TEST

START_TEST(test_mailbox_cap)
{
	struct store_mailbox mb;
	char name[32];
	sdb_mailboxes_max = 10;          /* alice has her 6 already */
	for (int i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "box%d", i);
		ck_assert_int_eq(store_mailbox_create(st, "alice@example.org", name, 0),
		    STORE_OK);
	}
	/* a missing parent counts too: "deep/child" needs 2 */
	ck_assert_int_eq(store_mailbox_create(st, "alice@example.org", "deep/child", 0),
	    STORE_LIMIT);
	ck_assert_int_eq(store_mailbox_get(st, "alice@example.org", "deep", &mb),
	    STORE_NOTFOUND);
	ck_assert_int_eq(store_mailbox_create(st, "alice@example.org", "box3", 0), STORE_OK);
	ck_assert_int_eq(store_mailbox_create(st, "alice@example.org", "box4", 0),
	    STORE_LIMIT);
	/* another user's count is their own; a delete makes room */
	ck_assert_int_eq(store_mailbox_create(st, "bob@example.org", "box4", 0), STORE_OK);
	ck_assert_int_eq(store_mailbox_delete(st, "alice@example.org", "box0"), STORE_OK);
	ck_assert_int_eq(store_mailbox_create(st, "alice@example.org", "box4", 0), STORE_OK);
	ck_assert_int_eq(store_mailbox_rename(st, "alice@example.org", "box4", "box5"),
	    STORE_OK);
	sdb_mailboxes_max = STORE_MAILBOXES_MAX;
}
END_TEST

/* ---- reopen after a recovery by another process ---- */

/* The children below run in a new image (this program again, exec'd
 * with a role as argv[1]), not in a copy of the forking test: a fork of a
 * process whose threads are delivering may copy a lock one of them held
 * (AddressSanitizer's allocator's, say), and the child then waits on it
 * for ever. child_main runs the role. */
static pid_t
spawn_child(const char *role, const char *arg, int fd)
{
	char fdstr[16], flags[16];
	char *argv[] = { "check_store", (char *)role, tmpdir, (char *)arg, fdstr, flags, NULL };
	snprintf(fdstr, sizeof(fdstr), "%d", fd);
	snprintf(flags, sizeof(flags), "%u", (unsigned)sdb_test_flags);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	return pid;
}

/* A holder: opens the store (with arg "1" starts a transaction that
 * write-locks users.db's page), says so on fd and waits to be killed. */
static int
holder_main(const char *dir, bool hold_lock, int fd)
{
	struct store *s2;
	char err[256];
	if (store_open(dir, 0, &s2, err, sizeof(err)) != STORE_OK)
		return 2;
	if (hold_lock) {
		DB_TXN *txn;
		struct sdb_user u = { .version = SDB_USER_VERSION };
		DBT k = { .data = "carol@example.org", .size = 17 };
		DBT d = { .data = &u, .size = sizeof(u) };
		if (s2->env->txn_begin(s2->env, NULL, &txn, 0) != 0 ||
		    s2->users->put(s2->users, txn, &k, &d, 0) != 0)
			return 3;
	}
	if (write(fd, "r", 1) != 1)
		return 4;
	for (;;)
		pause();
}

/* A recoverer: opens the store (recovery runs if nobody did: the holder
 * died with it open), delivers text to bob and closes it. */
static int
recoverer_main(const char *dir, const char *text)
{
	struct store *s2;
	char err[256];
	struct store_rcpt rc = { .user = "bob@example.org" };
	if (store_open(dir, 0, &s2, err, sizeof(err)) != STORE_OK)
		return 2;
	if (store_deliver(s2, &rc, 1, text, strlen(text), 0, NULL, 0, NULL, 0,
	    false) != STORE_OK)
		return 3;
	store_close(&s2);
	return 0;
}

/* argv: role, data_dir, arg, fd, sdb_test_flags */
static int
child_main(char **argv)
{
	sdb_test_flags = (unsigned)strtoul(argv[5], NULL, 10);
	if (strcmp(argv[1], "--holder") == 0)
		return holder_main(argv[2], strcmp(argv[3], "1") == 0, atoi(argv[4]));
	return recoverer_main(argv[2], argv[3]);
}

/* A child process that holds the store (see holder_main). Returns its
 * pid once it holds it. */
static pid_t
spawn_holder(bool hold_lock)
{
	int p[2];
	char c;
	ck_assert_int_eq(pipe(p), 0);
	pid_t pid = spawn_child("--holder", hold_lock ? "1" : "0", p[1]);
	close(p[1]);
	ck_assert_int_eq(read(p[0], &c, 1), 1);
	close(p[0]);
	return pid;
}

static void
kill_holder(pid_t pid)
{
	int status;
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFSIGNALED(status));
}

/* Another process opens the store (recovery runs if nobody did: the
 * holder died with it open), delivers one message to bob and exits
 * cleanly. nowait: it recovers at once instead of giving us the time to. */
static void
run_recoverer(const char *text, bool nowait)
{
	int status;
	unsigned saved = sdb_test_flags;
	if (nowait)
		sdb_test_flags |= SDB_TEST_NO_RECOVERY_WAIT;
	pid_t pid = spawn_child("--recoverer", text, -1);
	sdb_test_flags = saved;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
}

/* Another process recovers the store at once: our handle is panicked,
 * and the next call reopens it and succeeds. */
START_TEST(test_reopen_after_recovery)
{
	sdb_test_flags = SDB_TEST_NO_REGISTRY_WATCH;
	for (int i = 0; i < 3; i++)
		ck_assert_uint_eq(deliver1("alice@example.org", NULL, "before"), i + 1);
	kill_holder(spawn_holder(false));
	run_recoverer("from the recoverer", true);
	ck_assert_uint_eq(sdb_reopens(st), 0);
	/* our handle is panicked now: the next call reopens and succeeds */
	ck_assert_uint_eq(deliver1("alice@example.org", NULL, "after"), 4);
	ck_assert_uint_eq(sdb_reopens(st), 1);
	struct store_index *idx = index_of("alice@example.org", "INBOX");
	ck_assert_uint_eq(idx->nmsgs, 4);
	assert_body(idx->msgs[0].body_id, "before");
	assert_body(idx->msgs[3].body_id, "after");
	store_index_free(&idx);
	idx = index_of("bob@example.org", "INBOX");
	ck_assert_uint_eq(idx->nmsgs, 1);
	assert_body(idx->msgs[0].body_id, "from the recoverer");
	store_index_free(&idx);
	/* a second round, and the checkpoint path reopens too */
	kill_holder(spawn_holder(false));
	run_recoverer("again", true);
	ck_assert_int_eq(store_checkpoint(st), STORE_OK);
	ck_assert_uint_eq(sdb_reopens(st), 2);
	ck_assert_uint_eq(deliver1("alice@example.org", NULL, "last"), 5);
	reopen();
	idx = index_of("alice@example.org", "INBOX");
	ck_assert_uint_eq(idx->nmsgs, 5);
	store_index_free(&idx);
	sdb_test_flags = 0;
}
END_TEST

/* The daemon's case: our watchdog sees the dead holder in the registry
 * and recovers the store itself, while idle, before anyone else opens. */
START_TEST(test_reopen_by_watchdog)
{
	deliver1("alice@example.org", NULL, "before");
	kill_holder(spawn_holder(false));
	for (int i = 0; i < 100 && sdb_reopens(st) == 0; i++)
		usleep(20000);
	ck_assert_uint_eq(sdb_reopens(st), 1);
	/* a new opener finds nothing to recover: our handle stays good */
	run_recoverer("recoverer", false);
	ck_assert_uint_eq(deliver1("alice@example.org", NULL, "after"), 2);
	ck_assert_uint_eq(sdb_reopens(st), 1);
}
END_TEST

/* A process killed inside a write transaction leaves its lock behind and
 * nobody else opens the store: our lock waits time out, and the reopen
 * they trigger recovers the environment (the dead writer's change rolls
 * back). Without the registry watch, only the timeouts find it. */
START_TEST(test_reopen_dead_lock_holder)
{
	struct store_user u;
	sdb_test_flags = SDB_TEST_NO_REGISTRY_WATCH;
	deliver1("alice@example.org", NULL, "before");
	kill_holder(spawn_holder(true));
	ck_assert_int_eq(store_user_get(st, "alice@example.org", &u), STORE_OK);
	ck_assert_uint_eq(sdb_reopens(st), 1);
	ck_assert_int_eq(store_user_get(st, "carol@example.org", &u), STORE_NOTFOUND);
	ck_assert_uint_eq(deliver1("alice@example.org", NULL, "after"), 2);
}
END_TEST

static void *
user_get_thread(void *arg)
{
	struct store_user u;
	return (void *)(intptr_t)store_user_get(st, "alice@example.org", &u);
}

/* Same, but another process recovers the store while our thread waits for
 * the dead writer's lock: the wait still ends and the call succeeds. */
START_TEST(test_reopen_waiter_during_recovery)
{
	pthread_t t;
	void *ret;
	deliver1("alice@example.org", NULL, "before");
	kill_holder(spawn_holder(true));
	ck_assert_int_eq(pthread_create(&t, NULL, user_get_thread, NULL), 0);
	usleep(300000);
	run_recoverer("recoverer", false);
	pthread_join(t, &ret);
	ck_assert_int_eq((int)(intptr_t)ret, STORE_OK);
	ck_assert_uint_eq(sdb_reopens(st), 1);
	ck_assert_uint_eq(deliver1("alice@example.org", NULL, "after"), 2);
}
END_TEST

/* A panic in our own process (any fatal error) is reopened the same way. */
START_TEST(test_reopen_after_panic)
{
	struct store_user u;
	deliver1("alice@example.org", NULL, "before");
	ck_assert_int_eq(st->env->set_flags(st->env, DB_PANIC_ENVIRONMENT, 1), 0);
	ck_assert_int_eq(store_user_get(st, "alice@example.org", &u), STORE_OK);
	ck_assert_uint_eq(sdb_reopens(st), 1);
	ck_assert_uint_eq(deliver1("alice@example.org", NULL, "after"), 2);
}
END_TEST

/* ---- exactly once (issue 18 item 4) ---- */

static int hook_mode;        /* 0: flush, then panic; 1: panic; 2: fail the flush */
static int hook_calls;

/* Fires once, after the no-sync commit of the next write transaction. */
static int
commit_hook(struct store *s)
{
	if (hook_calls++ > 0)
		return 0;
	if (hook_mode == 2)
		return EIO;
	if (hook_mode == 0)
		ck_assert_int_eq(s->env->log_flush(s->env, NULL), 0);
	ck_assert_int_eq(s->env->set_flags(s->env, DB_PANIC_ENVIRONMENT, 1), 0);
	return 0;
}

static int
count_queue(void *arg, const struct store_qentry *e)
{
	uint64_t *v = arg;
	v[0]++;
	v[1] = e->id;
	return 0;
}

/* A panic cuts the delivery's commit short, sdb_run reopens the
 * environment and runs it again: whether the first run reached the disk
 * (loop 0: its log was flushed before the panic) or not (loop 1), the
 * message is stored once, with its queue entry once, and the caller gets
 * the UID and queue id that are in the store. */
START_TEST(test_exactly_once_panic)
{
	static const char *const remote[] = { "far@remote.example" };
	struct store_qnew q = { .sender = "alice@example.org", .rcpts = remote, .nrcpts = 1 };
	struct store_rcpt rc = { .user = "alice@example.org" };
	uint64_t qid = 0, qcount[2] = { 0, 0 };
	size_t nq = 0;
	const char *text = "Subject: once\r\n\r\nexactly once\r\n";

	sdb_test_flags = SDB_TEST_NO_REGISTRY_WATCH;
	hook_mode = _i;
	hook_calls = 0;
	sdb_test_commit_hook = commit_hook;
	int r = store_deliver_queue(st, &rc, 1, text, strlen(text), 1700000000, NULL, 0,
	    &q, &qid, 1, &nq);
	sdb_test_commit_hook = NULL;
	sdb_test_flags = 0;
	ck_assert_int_eq(r, STORE_OK);
	ck_assert_int_ge(hook_calls, 2);            /* it ran again */
	ck_assert_uint_eq(sdb_reopens(st), 1);
	ck_assert_int_eq(rc.result_r, STORE_OK);
	ck_assert_uint_eq(rc.uid_r, 1);
	ck_assert_uint_eq(nq, 1);
	for (int round = 0; round < 2; round++) {
		struct store_index *idx = index_of("alice@example.org", "INBOX");
		ck_assert_uint_eq(idx->nmsgs, 1);
		ck_assert_uint_eq(idx->msgs[0].uid, 1);
		assert_body(idx->msgs[0].body_id, text);
		uint32_t refs;
		ck_assert_int_eq(store_body_refs(st, idx->msgs[0].body_id, &refs), STORE_OK);
		ck_assert_uint_eq(refs, 2);               /* INBOX and the queue */
		store_index_free(&idx);
		qcount[0] = 0;
		ck_assert_int_eq(store_queue_list(st, count_queue, qcount), STORE_OK);
		ck_assert_uint_eq(qcount[0], 1);
		ck_assert_uint_eq(qcount[1], qid);
		reopen();                                  /* and after a restart */
	}
	ck_assert_uint_eq(deliver1("alice@example.org", NULL, "next"), 2);
}
END_TEST

/* ---- group delivery: concurrent deliveries share one transaction ---- */

struct gd_job {
	struct store_rcpt rc[2];
	size_t n;
	bool aon;
	const char *text;
	int r;
};

static void *
gd_deliver(void *arg)
{
	struct gd_job *j = arg;
	j->r = store_deliver(st, j->rc, j->n, j->text, strlen(j->text), 1700000000,
	    NULL, 0, NULL, 0, j->aon);
	return NULL;
}

static void
gd_verify_clean(void)
{
	struct store_verify_stats vs;
	char err[256];
	ck_assert_int_eq(store_verify(st, tmpdir, false, NULL, NULL, NULL, NULL, &vs,
	    err, sizeof(err)), STORE_OK);
	ck_assert_uint_eq(vs.problems, 0);
}

/* Runs the jobs as one batch: held until every one is waiting for it. */
static void
gd_run_batch(struct gd_job *jobs, size_t n)
{
	pthread_t t[8];
	uint64_t b0, d0, b1, d1;

	ck_assert_uint_le(n, 8);
	store_delivery_stats(st, &b0, &d0);
	sdb_dq_test_hold(st, true);
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, gd_deliver, &jobs[i]), 0);
	for (int w = 0; sdb_dq_waiting(st) < n; w++) {
		ck_assert_int_lt(w, 10000);
		usleep(1000);
	}
	sdb_dq_test_hold(st, false);
	for (size_t i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	store_delivery_stats(st, &b1, &d1);
	ck_assert_uint_eq(b1 - b0, 1);              /* one transaction */
	ck_assert_uint_eq(d1 - d0, n);
}

/* Each delivery of a batch gets what it would have got alone: the ones
 * that fail (unknown user, over quota, all-or-nothing with an unknown
 * recipient) leave nothing behind, the others are stored once each, and
 * the store checks clean. */
START_TEST(test_group_deliver)
{
	ck_assert_int_eq(store_user_add(st, "carol@example.org", hash), STORE_OK);
	ck_assert_int_eq(store_user_set_quota(st, "carol@example.org", 0, 1), STORE_OK);
	deliver1("carol@example.org", NULL, "carol's one");
	struct gd_job jobs[] = {
		{ .rc = { { .user = "alice@example.org" } }, .n = 1, .text = "to alice" },
		{ .rc = { { .user = "nobody@example.org" } }, .n = 1, .text = "to nobody" },
		{ .rc = { { .user = "carol@example.org" } }, .n = 1, .text = "carol over" },
		{ .rc = { { .user = "alice@example.org" }, { .user = "nobody@example.org" } },
		    .n = 2, .aon = true, .text = "all or nothing" },
		{ .rc = { { .user = "bob@example.org" }, { .user = "nobody@example.org" } },
		    .n = 2, .text = "bob of two" },
		{ .rc = { { .user = "bob@example.org", .mailbox = "Nowhere" } }, .n = 1,
		    .text = "no such mailbox" },
		{ .rc = { { .user = "bob@example.org" } }, .n = 1, .text = "to bob" },
	};
	size_t n = sizeof(jobs) / sizeof(jobs[0]);
	gd_run_batch(jobs, n);

	ck_assert_int_eq(jobs[0].r, STORE_OK);
	ck_assert_int_eq(jobs[0].rc[0].result_r, STORE_OK);
	ck_assert_uint_eq(jobs[0].rc[0].uid_r, 1);
	ck_assert_int_eq(jobs[1].r, STORE_NOTFOUND);
	ck_assert_int_eq(jobs[1].rc[0].result_r, STORE_NOTFOUND);
	ck_assert_int_eq(jobs[2].r, STORE_QUOTA);
	ck_assert_int_eq(jobs[2].rc[0].result_r, STORE_QUOTA);
	ck_assert_int_eq(jobs[3].r, STORE_NOTFOUND);
	ck_assert_int_ne(jobs[3].rc[0].result_r, STORE_OK);
	ck_assert_uint_eq(jobs[3].rc[0].uid_r, 0);
	ck_assert_int_eq(jobs[4].r, STORE_OK);
	ck_assert_int_eq(jobs[4].rc[0].result_r, STORE_OK);
	ck_assert_int_eq(jobs[4].rc[1].result_r, STORE_NOTFOUND);
	ck_assert_int_eq(jobs[5].r, STORE_NOTFOUND);
	ck_assert_int_eq(jobs[6].r, STORE_OK);

	struct store_index *idx = index_of("alice@example.org", "INBOX");
	ck_assert_uint_eq(idx->nmsgs, 1);                 /* not the aon one */
	ck_assert_uint_eq(idx->mailbox.uidnext, 2);
	assert_body(idx->msgs[0].body_id, "to alice");
	ck_assert_uint_eq(refs_of(idx->msgs[0].body_id), 1);
	store_index_free(&idx);
	idx = index_of("bob@example.org", "INBOX");
	ck_assert_uint_eq(idx->nmsgs, 2);
	ck_assert_uint_eq(idx->mailbox.uidnext, 3);
	uint32_t uids = 0;
	for (size_t i = 0; i < 2; i++) {
		bool two = idx->msgs[i].uid == jobs[4].rc[0].uid_r;
		ck_assert(two || idx->msgs[i].uid == jobs[6].rc[0].uid_r);
		assert_body(idx->msgs[i].body_id, two ? "bob of two" : "to bob");
		uids |= 1u << idx->msgs[i].uid;
	}
	ck_assert_uint_eq(uids, 6);
	store_index_free(&idx);
	uint64_t bytes, msgs;
	ck_assert_int_eq(store_quota_usage(st, "carol@example.org", &bytes, &msgs), STORE_OK);
	ck_assert_uint_eq(msgs, 1);
	gd_verify_clean();
	reopen();
	ck_assert_uint_eq(deliver1("alice@example.org", NULL, "next"), 2);
	gd_verify_clean();
}
END_TEST

#define GD_THREADS 8
#define GD_PER_THREAD 40

static void *
gd_flood(void *arg)
{
	long n = (long)arg;
	char text[64];
	for (int i = 0; i < GD_PER_THREAD; i++) {
		struct store_rcpt rc = { .user = i % 5 == 4 ? "nobody@example.org" :
		    "alice@example.org" };
		snprintf(text, sizeof(text), "%ld %d", n, i);
		int r = store_deliver(st, &rc, 1, text, strlen(text), 0, NULL, 0, NULL, 0,
		    false);
		if (r != (i % 5 == 4 ? STORE_NOTFOUND : STORE_OK))
			return (void *)1;
	}
	return NULL;
}

/* Free-running deliveries from many threads: every message that was
 * acknowledged is there once, and nothing else. */
START_TEST(test_group_deliver_flood)
{
	pthread_t t[GD_THREADS];
	bool seen[GD_THREADS][GD_PER_THREAD] = { { false } };
	uint64_t b0, d0, b1, d1;

	store_delivery_stats(st, &b0, &d0);
	for (long i = 0; i < GD_THREADS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, gd_flood, (void *)i), 0);
	for (int i = 0; i < GD_THREADS; i++) {
		void *ret;
		pthread_join(t[i], &ret);
		ck_assert_ptr_null(ret);
	}
	store_delivery_stats(st, &b1, &d1);
	ck_assert_uint_eq(d1 - d0, GD_THREADS * GD_PER_THREAD);
	ck_assert_uint_le(b1 - b0, d1 - d0);
	struct store_index *idx = index_of("alice@example.org", "INBOX");
	ck_assert_uint_eq(idx->nmsgs, GD_THREADS * GD_PER_THREAD * 4 / 5);
	ck_assert_uint_eq(idx->mailbox.uidnext, idx->nmsgs + 1);
	for (size_t i = 0; i < idx->nmsgs; i++) {
		char *data;
		size_t len;
		long tn;
		int mn;
		char text[64];
		ck_assert_int_eq(store_body_get(st, idx->msgs[i].body_id, &data, &len), STORE_OK);
		ck_assert_uint_lt(len, sizeof(text));
		memcpy(text, data, len);
		text[len] = '\0';
		free(data);
		ck_assert_int_eq(sscanf(text, "%ld %d", &tn, &mn), 2);
		ck_assert(tn >= 0 && tn < GD_THREADS && mn >= 0 && mn < GD_PER_THREAD);
		ck_assert(mn % 5 != 4);
		ck_assert_msg(!seen[tn][mn], "\"%s\" stored twice", text);
		seen[tn][mn] = true;
	}
	store_index_free(&idx);
	gd_verify_clean();
}
END_TEST

/* A recovery cuts a batch's commit short (loop 0: its log had reached
 * the disk; loop 1: it had not): the rerun stores each delivery of the
 * batch once, and each caller gets the UID that is in the store. */
START_TEST(test_group_deliver_panic)
{
	struct gd_job jobs[] = {
		{ .rc = { { .user = "alice@example.org" } }, .n = 1, .text = "a1" },
		{ .rc = { { .user = "bob@example.org" } }, .n = 1, .text = "b1" },
		{ .rc = { { .user = "nobody@example.org" } }, .n = 1, .text = "n1" },
		{ .rc = { { .user = "alice@example.org" }, { .user = "bob@example.org" } },
		    .n = 2, .text = "ab" },
	};
	sdb_test_flags = SDB_TEST_NO_REGISTRY_WATCH;
	hook_mode = _i;
	hook_calls = 0;
	sdb_test_commit_hook = commit_hook;
	gd_run_batch(jobs, 4);
	sdb_test_commit_hook = NULL;
	sdb_test_flags = 0;
	ck_assert_int_ge(hook_calls, 2);
	ck_assert_uint_eq(sdb_reopens(st), 1);
	ck_assert_int_eq(jobs[0].r, STORE_OK);
	ck_assert_int_eq(jobs[1].r, STORE_OK);
	ck_assert_int_eq(jobs[2].r, STORE_NOTFOUND);
	ck_assert_int_eq(jobs[3].r, STORE_OK);
	const char *users[] = { "alice@example.org", "bob@example.org" };
	for (int u = 0; u < 2; u++) {
		struct store_index *idx = index_of(users[u], "INBOX");
		ck_assert_uint_eq(idx->nmsgs, 2);
		ck_assert_uint_eq(idx->mailbox.uidnext, 3);
		for (size_t i = 0; i < 2; i++) {
			bool own = idx->msgs[i].uid == jobs[u].rc[0].uid_r;
			ck_assert(own || idx->msgs[i].uid == jobs[3].rc[u].uid_r);
			assert_body(idx->msgs[i].body_id, own ? jobs[u].text : "ab");
			ck_assert_uint_eq(refs_of(idx->msgs[i].body_id), own ? 1 : 2);
		}
		ck_assert_uint_ne(jobs[u].rc[0].uid_r, jobs[3].rc[u].uid_r);
		store_index_free(&idx);
	}
	gd_verify_clean();
}
END_TEST

/* Keywords (Sieve imap4flags) with a queued copy in the same transaction:
 * the local copies carry them, the queue entry is made as well. */
START_TEST(test_deliver_queue_keywords)
{
	static const char *const remote[] = { "far@remote.example" };
	static const char *const kw[] = { "$Work", "Later" };
	struct store_qnew q = { .sender = "alice@example.org", .rcpts = remote, .nrcpts = 1,
	    .keywords = kw, .nkeywords = 2 };
	struct store_rcpt rc[2] = { { .user = "alice@example.org" },
	    { .user = "alice@example.org", .mailbox = "Work" } };
	uint64_t qid = 0, qcount[2] = { 0, 0 };
	size_t nq = 0;
	const char *text = "Subject: kw\r\n\r\nkeywords and a queued copy\r\n";

	ck_assert_int_eq(store_mailbox_create(st, "alice@example.org", "Work", 0), STORE_OK);
	ck_assert_int_eq(store_deliver_queue(st, rc, 2, text, strlen(text), 1700000000, NULL, 0,
	    &q, &qid, 1, &nq), STORE_OK);
	ck_assert_uint_eq(nq, 1);
	for (int i = 0; i < 2; i++) {
		struct store_index *idx = index_of("alice@example.org", i ? "Work" : "INBOX");
		ck_assert_uint_eq(idx->nmsgs, 1);
		ck_assert_uint_eq(idx->nkeywords, 2);
		ck_assert_str_eq(idx->keywords[0], "$Work");
		ck_assert_str_eq(idx->keywords[1], "Later");
		ck_assert_uint_eq(idx->msgs[0].keywords, 3);
		store_index_free(&idx);
	}
	ck_assert_int_eq(store_queue_list(st, count_queue, qcount), STORE_OK);
	ck_assert_uint_eq(qcount[0], 1);
	/* a bad keyword refuses the whole call, as store_deliver does */
	static const char *const bad[] = { "bad keyword" };
	q.keywords = bad;
	q.nkeywords = 1;
	ck_assert_int_ne(store_deliver_queue(st, rc, 1, text, strlen(text), 1700000000, NULL, 0,
	    &q, NULL, 0, NULL), STORE_OK);
}
END_TEST

/* Extra messages (Sieve reject bounces) ride on a delivery's transaction:
 * each gets its own body and queue entry; a delivery that stores nothing
 * queues none of them. */
static int
last_queue_entry(void *arg, const struct store_qentry *e)
{
	struct store_qentry *out = arg;
	*out = *e;
	out->rcpts = NULL;
	ck_assert_uint_eq(e->nrcpts, 1);
	mm_strlcpy(out->error, e->rcpts[0].address, sizeof(out->error));
	return 0;
}

START_TEST(test_deliver_queue_extra)
{
	const char *bounce = "Return-Path: <>\r\nSubject: rejected\r\n\r\nno\r\n";
	struct store_qextra x = { .data = bounce, .len = strlen(bounce), .sender = "",
	    .rcpt = "Carol@Remote.Example", .skip = 17 };
	struct store_qnew q = { .extra = &x, .nextra = 1 };
	struct store_rcpt rc = { .user = "alice@example.org" };
	const char *text = "Subject: kept\r\n\r\nfor alice\r\n";
	uint64_t qcount[2] = { 0, 0 };
	struct store_qentry e;

	ck_assert_int_eq(store_deliver_queue(st, &rc, 1, text, strlen(text), 1700000000, NULL, 0,
	    &q, NULL, 0, NULL), STORE_OK);
	ck_assert_int_eq(rc.result_r, STORE_OK);
	struct store_index *idx = index_of("alice@example.org", "INBOX");
	ck_assert_uint_eq(idx->nmsgs, 1);
	assert_body(idx->msgs[0].body_id, text);
	ck_assert_uint_eq(refs_of(idx->msgs[0].body_id), 1);
	store_index_free(&idx);
	ck_assert_int_eq(store_queue_list(st, last_queue_entry, &e), STORE_OK);
	ck_assert_str_eq(e.sender, "");
	ck_assert_str_eq(e.domain, "remote.example");
	ck_assert_str_eq(e.error, "Carol@remote.example");
	ck_assert_uint_eq(e.skip, 17);
	ck_assert_uint_eq(e.size, strlen(bounce) - 17);
	assert_body(e.body_id, bounce);
	ck_assert_uint_eq(refs_of(e.body_id), 1);

	/* nobody to deliver to: nothing stored, no bounce queued */
	struct store_rcpt nobody = { .user = "nobody@example.org" };
	ck_assert_int_ne(store_deliver_queue(st, &nobody, 1, text, strlen(text), 1700000000,
	    NULL, 0, &q, NULL, 0, NULL), STORE_OK);
	ck_assert_int_eq(store_queue_list(st, count_queue, qcount), STORE_OK);
	ck_assert_uint_eq(qcount[0], 1);
	/* extras alone are refused, and so is a bad recipient */
	ck_assert_int_eq(store_deliver_queue(st, NULL, 0, text, strlen(text), 1700000000,
	    NULL, 0, &q, NULL, 0, NULL), STORE_INVALID);
	x.rcpt = "no-at-sign";
	ck_assert_int_eq(store_deliver_queue(st, &rc, 1, text, strlen(text), 1700000000,
	    NULL, 0, &q, NULL, 0, NULL), STORE_INVALID);
}
END_TEST

/* The log flush after the commit fails: the delivery is not acknowledged,
 * not stored again, and the store refuses every write until it is
 * reopened (the daemon restarted); reads go on. */
START_TEST(test_flush_failure)
{
	struct store_rcpt rc = { .user = "alice@example.org" };
	const char *text = "Subject: lost?\r\n\r\nthe disk failed\r\n";

	hook_mode = 2;
	hook_calls = 0;
	sdb_test_commit_hook = commit_hook;
	int r = store_deliver(st, &rc, 1, text, strlen(text), 1700000000, NULL, 0,
	    NULL, 0, false);
	ck_assert_int_eq(hook_calls, 1);             /* never run again */
	ck_assert_int_eq(r, STORE_IO);
	ck_assert_int_ne(rc.result_r, STORE_OK);
	ck_assert_uint_eq(rc.uid_r, 0);
	ck_assert(store_failed(st));
	/* every write is refused now, without reaching the disk */
	struct store_rcpt rc2 = { .user = "bob@example.org" };
	ck_assert_int_eq(store_deliver(st, &rc2, 1, "x", 1, 0, NULL, 0, NULL, 0, false),
	    STORE_IO);
	ck_assert_int_eq(store_user_add(st, "carol@example.org", hash), STORE_IO);
	ck_assert_int_eq(hook_calls, 1);
	sdb_test_commit_hook = NULL;
	struct store_user u;
	ck_assert_int_eq(store_user_get(st, "bob@example.org", &u), STORE_OK);
	/* restarted: the message is there at most once, writes work again */
	reopen();
	ck_assert(!store_failed(st));
	struct store_index *idx = index_of("alice@example.org", "INBOX");
	ck_assert_uint_le(idx->nmsgs, 1);
	uint32_t next = idx->nmsgs + 1;
	store_index_free(&idx);
	idx = index_of("bob@example.org", "INBOX");
	ck_assert_uint_eq(idx->nmsgs, 0);
	store_index_free(&idx);
	ck_assert_uint_eq(deliver1("alice@example.org", NULL, "after"), next);
}
END_TEST

/* Runs op with the commit hook armed in hook mode mode: the panic (or
 * the failed flush) hits op's own commit. */
#define WITH_HOOK(mode, op) do { \
	sdb_test_flags = SDB_TEST_NO_REGISTRY_WATCH; \
	hook_mode = (mode); \
	hook_calls = 0; \
	sdb_test_commit_hook = commit_hook; \
	op; \
	sdb_test_commit_hook = NULL; \
	sdb_test_flags = 0; \
} while (0)

static const char *const once_text[3] = {
	"Subject: one\r\n\r\nfirst\r\n",
	"Subject: two\r\n\r\nsecond\r\n",
	"Subject: three\r\n\r\nthird\r\n",
};

/* mailbox holds exactly the three once_text messages, UIDs first..first+2 */
static void
assert_three(const char *mbox, uint32_t first, uint32_t refs)
{
	struct store_index *idx = index_of("alice@example.org", mbox);
	ck_assert_uint_eq(idx->nmsgs, 3);
	for (size_t i = 0; i < 3; i++) {
		ck_assert_uint_eq(idx->msgs[i].uid, first + i);
		assert_body(idx->msgs[i].body_id, once_text[i]);
		ck_assert_uint_eq(refs_of(idx->msgs[i].body_id), refs);
	}
	store_index_free(&idx);
}

static uint64_t
usage_messages(void)
{
	uint64_t bytes, msgs;
	ck_assert_int_eq(store_quota_usage(st, "alice@example.org", &bytes, &msgs),
	    STORE_OK);
	return msgs;
}

/* COPY (loop 0, 1) and MOVE (loop 2, 3) cut short by a panic after their
 * commit, whether their log reached the disk first (even loops) or not
 * (odd loops): sdb_run reopens and runs them again, and the messages are
 * in the target exactly once (MOVE: gone from the source), the caller
 * gets the UIDs that are in the store, the counters count them once, and
 * the next UIDs follow on. */
/* Two commits in flight when the first one's log flush fails: the second
 * committed after it (its records follow the first's in the log) and its
 * own flush comes later. A later flush that succeeds proves nothing of
 * the first's records (the kernel reports a write-back error once), so
 * the second is not acknowledged either. */
static pthread_mutex_t ff_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ff_cond = PTHREAD_COND_INITIALIZER;
static int ff_calls, ff_stage;

/* Under ff_mu: until *v is at least n (20 s at most). */
static void
ff_wait(const int *v, int n)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 20;
	while (*v < n)
		ck_assert_int_eq(pthread_cond_timedwait(&ff_cond, &ff_mu, &until), 0);
}

static int
ff_hook(struct store *s)
{
	int r = 0;
	(void)s;
	pthread_mutex_lock(&ff_mu);
	int call = ff_calls++;
	pthread_cond_broadcast(&ff_cond);
	if (call == 0) {               /* the delivery: fails once the other committed */
		ff_wait(&ff_stage, 1);
		r = EIO;
	} else if (call == 1) {        /* the user add: flushes after that failure */
		ff_stage = 1;
		pthread_cond_broadcast(&ff_cond);
		ff_wait(&ff_stage, 2);
	}
	pthread_mutex_unlock(&ff_mu);
	return r;
}

static void *
ff_deliver(void *arg)
{
	struct store_rcpt rc = { .user = "alice@example.org" };
	*(int *)arg = store_deliver(st, &rc, 1, "lost?", 5, 0, NULL, 0, NULL, 0, false);
	return NULL;
}

static void *
ff_user_add(void *arg)
{
	*(int *)arg = store_user_add(st, "carol@example.org", hash);
	return NULL;
}

START_TEST(test_flush_failure_later_flush)
{
	pthread_t a, b;
	int ra = -1, rb = -1;

	ff_calls = ff_stage = 0;
	sdb_test_commit_hook = ff_hook;
	ck_assert_int_eq(pthread_create(&a, NULL, ff_deliver, &ra), 0);
	pthread_mutex_lock(&ff_mu);
	ff_wait(&ff_calls, 1);
	pthread_mutex_unlock(&ff_mu);
	ck_assert_int_eq(pthread_create(&b, NULL, ff_user_add, &rb), 0);
	pthread_join(a, NULL);
	ck_assert_int_eq(ra, STORE_IO);
	pthread_mutex_lock(&ff_mu);
	ff_stage = 2;
	pthread_cond_broadcast(&ff_cond);
	pthread_mutex_unlock(&ff_mu);
	pthread_join(b, NULL);
	sdb_test_commit_hook = NULL;
	ck_assert_int_eq(ff_calls, 2);
	ck_assert_int_eq(rb, STORE_IO);             /* not acknowledged */
	ck_assert(store_failed(st));
	reopen();
	ck_assert(!store_failed(st));
	ck_assert_uint_ge(deliver1("alice@example.org", NULL, "after"), 1);
}
END_TEST

/* A real fsync failure (fdatasync above): the delivery whose flush it
 * was is not acknowledged, the store refuses writes, and every later
 * fsync of the process fails without reaching the disk (a checkpoint's
 * too), since one that succeeded would prove nothing; a new open starts
 * again. */
START_TEST(test_fsync_failure)
{
	struct store_rcpt rc = { .user = "alice@example.org" };
	atomic_store(&fdatasync_fail, 1);
	ck_assert_int_eq(store_deliver(st, &rc, 1, "lost?", 5, 0, NULL, 0, NULL, 0,
	    false), STORE_IO);
	ck_assert_int_eq(atomic_load(&fdatasync_fail), 0);   /* it was called */
	ck_assert(store_failed(st));
	int calls = atomic_load(&fdatasync_calls);
	ck_assert_int_ne(st->env->txn_checkpoint(st->env, 0, 0, DB_FORCE), 0);
	ck_assert_int_eq(atomic_load(&fdatasync_calls), calls);
	struct store_user u;
	ck_assert_int_eq(store_user_get(st, "alice@example.org", &u), STORE_OK);
	reopen();
	ck_assert(!store_failed(st));
	ck_assert_uint_ge(deliver1("alice@example.org", NULL, "after"), 1);
	ck_assert_int_gt(atomic_load(&fdatasync_calls), calls);
	ck_assert_int_eq(store_checkpoint(st), STORE_OK);
}
END_TEST

START_TEST(test_exactly_once_copy_move)
{
	bool move = _i >= 2;
	uint32_t uids[3] = { 1, 2, 3 }, new_uids[3] = { 0 }, uidv = 0;
	struct store_mailbox mb;
	int r;

	for (size_t i = 0; i < 3; i++)
		ck_assert_uint_eq(deliver1("alice@example.org", NULL, once_text[i]), i + 1);
	ck_assert_int_eq(store_mailbox_get(st, "alice@example.org", "Archive", &mb), STORE_OK);
	WITH_HOOK(_i % 2, r = (move ? store_move : store_copy)(st, "alice@example.org",
	    "INBOX", uids, 3, "Archive", new_uids, &uidv));
	ck_assert_int_eq(r, STORE_OK);
	ck_assert_int_ge(hook_calls, 2);            /* it ran again */
	ck_assert_uint_eq(sdb_reopens(st), 1);
	ck_assert_uint_eq(uidv, mb.uidvalidity);
	for (size_t i = 0; i < 3; i++)
		ck_assert_uint_eq(new_uids[i], i + 1);
	for (int round = 0; round < 2; round++) {
		assert_three("Archive", 1, move ? 1 : 2);
		struct store_index *idx = index_of("alice@example.org", "INBOX");
		ck_assert_uint_eq(idx->nmsgs, move ? 0 : 3);
		store_index_free(&idx);
		ck_assert_uint_eq(usage_messages(), move ? 3 : 6);
		reopen();                                  /* and after a restart */
	}
	ck_assert_uint_eq(deliver1("alice@example.org", "Archive", "next"), 4);
	ck_assert_uint_eq(deliver1("alice@example.org", NULL, "next"), 4);
}
END_TEST

/* The log flush after a COPY's or MOVE's commit fails: not acknowledged
 * (STORE_IO, no UIDs), not run again; after the restart the target holds
 * the messages at most once and MOVE either moved them all or none. */
START_TEST(test_copy_move_flush_failure)
{
	bool move = _i == 1;
	uint32_t uids[3] = { 1, 2, 3 }, new_uids[3] = { 9, 9, 9 }, uidv = 9;
	int r;

	for (size_t i = 0; i < 3; i++)
		deliver1("alice@example.org", NULL, once_text[i]);
	WITH_HOOK(2, r = (move ? store_move : store_copy)(st, "alice@example.org",
	    "INBOX", uids, 3, "Archive", new_uids, &uidv));
	ck_assert_int_eq(r, STORE_IO);
	ck_assert_int_eq(hook_calls, 1);
	ck_assert_uint_eq(uidv, 0);
	for (size_t i = 0; i < 3; i++)
		ck_assert_uint_eq(new_uids[i], 0);
	ck_assert(store_failed(st));
	reopen();
	struct store_index *a = index_of("alice@example.org", "Archive");
	struct store_index *in = index_of("alice@example.org", "INBOX");
	ck_assert(a->nmsgs == 0 || a->nmsgs == 3);
	ck_assert_uint_eq(in->nmsgs, move && a->nmsgs == 3 ? 0 : 3);
	uint32_t next = a->nmsgs + 1;
	store_index_free(&a);
	store_index_free(&in);
	ck_assert_uint_eq(deliver1("alice@example.org", "Archive", "after"), next);
}
END_TEST

/* APPEND (store_append_multi, loops 0, 1) and a Sieve fileinto (a
 * delivery to another mailbox, loops 2, 3) carry their tokens: cut short
 * by a panic they are stored once; so is a CREATE (it does not answer
 * EXISTS for its own first run). */
START_TEST(test_exactly_once_append_fileinto)
{
	int r;

	if (_i < 2) {
		struct store_append sa[3];
		uint32_t uidv = 0;
		for (size_t i = 0; i < 3; i++)
			sa[i] = (struct store_append){ .data = once_text[i],
			    .len = strlen(once_text[i]), .internal_date = 1700000000 };
		WITH_HOOK(_i % 2, r = store_append_multi(st, "alice@example.org", "Archive",
		    sa, 3, &uidv));
		ck_assert_int_eq(r, STORE_OK);
		for (size_t i = 0; i < 3; i++)
			ck_assert_uint_eq(sa[i].uid_r, i + 1);
	} else {
		for (size_t i = 0; i < 3; i++) {
			struct store_rcpt rc = { .user = "alice@example.org", .mailbox = "Archive" };
			if (i == 1) {
				WITH_HOOK(_i % 2, r = store_deliver(st, &rc, 1, once_text[i],
				    strlen(once_text[i]), 1700000000, NULL, 0, NULL, 0, false));
			} else {
				r = store_deliver(st, &rc, 1, once_text[i], strlen(once_text[i]),
				    1700000000, NULL, 0, NULL, 0, false);
			}
			ck_assert_int_eq(r, STORE_OK);
			ck_assert_int_eq(rc.result_r, STORE_OK);
			ck_assert_uint_eq(rc.uid_r, i + 1);
		}
	}
	ck_assert_int_ge(hook_calls, 2);
	ck_assert_uint_eq(sdb_reopens(st), 1);
	assert_three("Archive", 1, 1);
	reopen();
	assert_three("Archive", 1, 1);

	WITH_HOOK(_i % 2, r = store_mailbox_create(st, "alice@example.org", "Projects", 0));
	ck_assert_int_eq(r, STORE_OK);
	ck_assert_int_ge(hook_calls, 2);
	struct store_mailbox mb;
	ck_assert_int_eq(store_mailbox_get(st, "alice@example.org", "Projects", &mb), STORE_OK);
}
END_TEST

static size_t
count_tokens(void)
{
	DBC *dbc;
	DBT k = { 0 }, d = { 0 };
	size_t n = 0;
	ck_assert_int_eq(st->tokens->cursor(st->tokens, NULL, &dbc, 0), 0);
	while (dbc->get(dbc, &k, &d, DB_NEXT) == 0)
		n++;
	dbc->close(dbc);
	return n;
}

/* Every delivery leaves a token; checkpoints drop the old ones only. */
START_TEST(test_tokens_pruned)
{
	unsigned char key[16] = { 0, 0, 0, 0, 0, 0, 0, 1 };   /* 1970 */
	DBT k = { .data = key, .size = sizeof(key) }, d = { .data = "", .size = 0 };
	size_t before = count_tokens();
	deliver1("alice@example.org", NULL, "one");
	deliver1("bob@example.org", NULL, "two");
	ck_assert_uint_eq(count_tokens(), before + 2);
	ck_assert_int_eq(st->tokens->put(st->tokens, NULL, &k, &d, DB_AUTO_COMMIT), 0);
	ck_assert_uint_eq(count_tokens(), before + 3);
	ck_assert_int_eq(store_checkpoint(st), STORE_OK);
	ck_assert_uint_eq(count_tokens(), before + 2);
}
END_TEST

#define R_THREADS 4
#define R_PER_THREAD 300

static atomic_int r_failures;

static void *
reopen_writer(void *arg)
{
	long n = (long)arg;
	char text[64];
	for (int i = 0; i < R_PER_THREAD; i++) {
		struct store_rcpt rc = { .user = "alice@example.org" };
		snprintf(text, sizeof(text), "thread %ld message %d", n, i);
		if (store_deliver(st, &rc, 1, text, strlen(text), 0, NULL, 0, NULL, 0,
		    false) != STORE_OK || rc.result_r != STORE_OK)
			atomic_fetch_add(&r_failures, 1);
	}
	return NULL;
}

/* Deliveries from several threads while other processes die and recover
 * the store twice: every call succeeds and every message is there. */
START_TEST(test_reopen_concurrent)
{
	pthread_t t[R_THREADS];
	for (long i = 0; i < R_THREADS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, reopen_writer, (void *)i), 0);
	for (int round = 0; round < 3; round++) {
		usleep(20000);
		kill_holder(spawn_holder(false));
		run_recoverer("recoverer", round % 2 == 0);
	}
	for (int i = 0; i < R_THREADS; i++)
		pthread_join(t[i], NULL);
	ck_assert_int_eq(atomic_load(&r_failures), 0);
	ck_assert_uint_ge(sdb_reopens(st), 1);
	struct store_index *idx = index_of("alice@example.org", "INBOX");
	/* a commit cut short by the recovery runs again: at least once each */
	ck_assert_uint_ge(idx->nmsgs, R_THREADS * R_PER_THREAD);
	ck_assert_uint_le(idx->nmsgs, R_THREADS * R_PER_THREAD + 3 * R_THREADS);
	bool seen[R_THREADS][R_PER_THREAD] = { { false } };
	for (size_t i = 0; i < idx->nmsgs; i++) {
		char *data;
		size_t len;
		long n;
		int m;
		ck_assert_uint_eq(idx->msgs[i].uid, i + 1);
		ck_assert_int_eq(store_body_get(st, idx->msgs[i].body_id, &data, &len),
		    STORE_OK);
		ck_assert_int_eq(sscanf(data, "thread %ld message %d", &n, &m), 2);
		seen[n][m] = true;
		free(data);
	}
	for (int n = 0; n < R_THREADS; n++)
		for (int m = 0; m < R_PER_THREAD; m++)
			ck_assert_msg(seen[n][m], "thread %d message %d lost", n, m);
	store_index_free(&idx);
}
END_TEST

static double
now_secs(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- a process killed inside Berkeley DB ---- */

#define K_ROUNDS        40
#define K_BUDGET_SECS   25.0
#define K_OP_MAX_SECS   8.0    /* nothing may take longer */
#define K_MAX_ACKS      200000

/* A child delivers small messages to bob as fast as it can and writes the
 * number of each one acknowledged to fd. */
static void __attribute__((noreturn))
tight_loop_child(int fd, int round)
{
	struct store *s2;
	char err[256], text[64];
	sdb_test_flags = 0;
	if (store_open(tmpdir, 0, &s2, err, sizeof(err)) != STORE_OK)
		_exit(2);
	for (uint32_t i = 0; ; i++) {
		struct store_rcpt rc = { .user = "bob@example.org" };
		snprintf(text, sizeof(text), "k%d-%u", round, i);
		if (store_deliver(s2, &rc, 1, text, strlen(text), 0, NULL, 0, NULL, 0,
		    false) != STORE_OK || rc.result_r != STORE_OK)
			_exit(3);
		uint32_t rec[2] = { (uint32_t)round, i };
		if (write(fd, rec, sizeof(rec)) != sizeof(rec))
			_exit(4);
	}
}

/* Children in a tight loop of small transactions are SIGKILLed at random
 * moments, often inside Berkeley DB holding its mutexes. Our watchdog
 * sees the dead child in the registry within a tick and recovers the
 * store while idle. We wait for that (bounded), then every call succeeds
 * at once, and every delivery a child had acknowledged is in the store.
 * Not tested because it cannot work with Berkeley DB 5.3: a call of ours
 * made in the moment between the death and the recovery that needs a
 * mutex the child held (most often the log flush mutex: the child dies
 * in its fsync) blocks for ever. */
START_TEST(test_kill_inside_bdb)
{
	static uint32_t acks[K_MAX_ACKS][2];
	size_t nacks = 0;
	unsigned seed = (unsigned)getpid();
	double start = now_secs(), worst = 0, worst_notice = 0, notice_sum = 0;
	int rounds, recovered = 0;

	for (rounds = 0; rounds < K_ROUNDS && now_secs() - start < K_BUDGET_SECS;
	    rounds++) {
		int p[2], status;
		ck_assert_int_eq(pipe(p), 0);
		pid_t pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			close(p[0]);
			tight_loop_child(p[1], rounds);
		}
		close(p[1]);
		/* once it delivers, let it run a random while and kill it */
		uint32_t rec[2];
		ck_assert_int_eq(read(p[0], rec, sizeof(rec)), sizeof(rec));
		ck_assert_uint_lt(nacks, K_MAX_ACKS);
		memcpy(acks[nacks++], rec, sizeof(rec));
		usleep(rand_r(&seed) % 30000);
		uint64_t reopens = sdb_reopens(st);
		ck_assert_int_eq(kill(pid, SIGKILL), 0);
		double killed = now_secs();
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert_msg(WIFSIGNALED(status), "child exited with %d",
		    WEXITSTATUS(status));
		ssize_t n;
		while ((n = read(p[0], rec, sizeof(rec))) == sizeof(rec)) {
			ck_assert_uint_lt(nacks, K_MAX_ACKS);
			memcpy(acks[nacks++], rec, sizeof(rec));
		}
		close(p[0]);
		/* the watchdog recovers the store */
		while (sdb_reopens(st) == reopens) {
			ck_assert_msg(now_secs() - killed < K_OP_MAX_SECS,
			    "the dead child was not noticed");
			usleep(1000);
		}
		double notice = now_secs() - killed;
		notice_sum += notice;
		if (notice > worst_notice)
			worst_notice = notice;
		if (sdb_reopens(st) != reopens)
			recovered++;
		/* and we go on at once */
		double t0 = now_secs();
		deliver1("alice@example.org", NULL, "after a kill");
		double dt = now_secs() - t0;
		if (dt > worst)
			worst = dt;
		ck_assert_msg(dt < K_OP_MAX_SECS, "a delivery took %.1f s", dt);
	}
	fprintf(stderr, "kill_inside_bdb: %d kills, %d recoveries, %zu deliveries "
	    "acknowledged; kill to recovered store: mean %.3f s, max %.3f s; "
	    "slowest next delivery %.3f s\n", rounds, recovered, nacks,
	    notice_sum / rounds, worst_notice, worst);
	ck_assert_int_ge(rounds, 10);

	/* every acknowledged delivery is there (a commit cut short by a
	 * recovery may be there twice: the child was told nothing) */
	struct store_index *idx = index_of("bob@example.org", "INBOX");
	ck_assert_uint_ge(idx->nmsgs, nacks);
	static bool seen[K_ROUNDS][K_MAX_ACKS / K_ROUNDS * 4];
	memset(seen, 0, sizeof(seen));
	for (size_t i = 0; i < idx->nmsgs; i++) {
		char *data;
		size_t len;
		int r;
		unsigned m;
		if (i > 0)
			ck_assert_uint_gt(idx->msgs[i].uid, idx->msgs[i - 1].uid);
		ck_assert_int_eq(store_body_get(st, idx->msgs[i].body_id, &data, &len),
		    STORE_OK);
		ck_assert_int_eq(sscanf(data, "k%d-%u", &r, &m), 2);
		if (r < K_ROUNDS && m < sizeof(seen[0]))
			seen[r][m] = true;
		free(data);
	}
	store_index_free(&idx);
	for (size_t i = 0; i < nacks; i++)
		ck_assert_msg(acks[i][1] < sizeof(seen[0]) && seen[acks[i][0]][acks[i][1]],
		    "round %u message %u acknowledged and lost", acks[i][0], acks[i][1]);
}
END_TEST

/* ---- the change log: read_changed reads what changed ---- */

/* read_changed(since) must give exactly the messages of a whole read whose
 * modseq is above since, in UID order, for every since. */
static void
changed_matches_scan(const char *user, const char *mbox)
{
	struct store_index *all = index_of(user, mbox);
	for (uint64_t since = 0; since <= all->mailbox.highestmodseq + 1; since++) {
		struct store_index *ch = NULL;
		ck_assert_int_eq(store_index_read_changed(st, user, mbox, since, &ch), STORE_OK);
		ck_assert_uint_eq(ch->mailbox.highestmodseq, all->mailbox.highestmodseq);
		size_t k = 0;
		for (size_t i = 0; i < all->nmsgs; i++) {
			if (all->msgs[i].modseq <= since)
				continue;
			ck_assert_msg(k < ch->nmsgs, "since %llu: uid %u missing",
			    (unsigned long long)since, all->msgs[i].uid);
			ck_assert_msg(ch->msgs[k].uid == all->msgs[i].uid, "since %llu of %llu: uid %u, want %u", (unsigned long long)since, (unsigned long long)all->mailbox.highestmodseq, ch->msgs[k].uid, all->msgs[i].uid);
			ck_assert_uint_eq(ch->msgs[k].modseq, all->msgs[i].modseq);
			ck_assert_uint_eq(ch->msgs[k].flags, all->msgs[i].flags);
			ck_assert_uint_eq(ch->msgs[k].keywords, all->msgs[i].keywords);
			ck_assert_uint_eq(ch->msgs[k].body_id, all->msgs[i].body_id);
			k++;
		}
		ck_assert_msg(k == ch->nmsgs, "since %llu: %zu extra messages",
		    (unsigned long long)since, ch->nmsgs - k);
		store_index_free(&ch);
	}
	store_index_free(&all);
}

START_TEST(test_read_changed)
{
	const char *u = "alice@example.org";
	const char *kw[] = { "$Label1" };
	uint32_t uids[40], nu[4], uv;

	changed_matches_scan(u, "INBOX");           /* empty */
	for (int i = 0; i < 40; i++)
		uids[i] = deliver1(u, NULL, "Subject: x\r\n\r\nbody\r\n");
	deliver1("bob@example.org", NULL, "Subject: y\r\n\r\nbody\r\n");
	changed_matches_scan(u, "INBOX");
	/* flags on old and new messages, twice on some, keywords, \Recent off */
	for (int i = 0; i < 40; i += 3)
		ck_assert_int_eq(store_flags_update(st, u, "INBOX", &uids[i], 1,
		    STORE_FLAGS_ADD, MSG_SEEN, NULL, 0, 0, NULL, NULL), STORE_OK);
	changed_matches_scan(u, "INBOX");
	ck_assert_int_eq(store_flags_update(st, u, "INBOX", &uids[3], 10,
	    STORE_FLAGS_ADD, MSG_FLAGGED, kw, 1, 0, NULL, NULL), STORE_OK);
	ck_assert_int_eq(store_flags_update(st, u, "INBOX", &uids[0], 1,
	    STORE_FLAGS_DEL, MSG_SEEN, NULL, 0, 0, NULL, NULL), STORE_OK);
	changed_matches_scan(u, "INBOX");
	/* expunge a changed one, an unchanged one, the last one */
	uint32_t gone[3] = { uids[6], uids[7], uids[39] };
	ck_assert_int_eq(store_expunge(st, u, "INBOX", gone, 3), STORE_OK);
	changed_matches_scan(u, "INBOX");
	/* move and copy out and in */
	ck_assert_int_eq(store_move(st, u, "INBOX", &uids[9], 2, "Archive", nu, &uv), STORE_OK);
	ck_assert_int_eq(store_copy(st, u, "Archive", nu, 2, "INBOX", nu + 2, &uv), STORE_OK);
	ck_assert_int_eq(store_flags_update(st, u, "Archive", nu, 1,
	    STORE_FLAGS_ADD, MSG_ANSWERED, NULL, 0, 0, NULL, NULL), STORE_OK);
	changed_matches_scan(u, "INBOX");
	changed_matches_scan(u, "Archive");
	for (int i = 0; i < 5; i++)
		deliver1(u, NULL, "Subject: z\r\n\r\nbody\r\n");
	ck_assert_int_eq(store_flags_update(st, u, "INBOX", &uids[1], 1,
	    STORE_FLAGS_ADD, MSG_DELETED, NULL, 0, 0, NULL, NULL), STORE_OK);
	changed_matches_scan(u, "INBOX");
	/* a renamed INBOX and a deleted-and-made-again mailbox start clean */
	ck_assert_int_eq(store_mailbox_rename(st, u, "INBOX", "Old"), STORE_OK);
	changed_matches_scan(u, "INBOX");
	changed_matches_scan(u, "Old");
	deliver1(u, NULL, "Subject: n\r\n\r\nbody\r\n");
	changed_matches_scan(u, "INBOX");
	ck_assert_int_eq(store_mailbox_delete(st, u, "Archive"), STORE_OK);
	ck_assert_int_eq(store_mailbox_create(st, u, "Archive", MBOX_ATTR_ARCHIVE), STORE_OK);
	deliver1(u, "Archive", "Subject: a\r\n\r\nbody\r\n");
	changed_matches_scan(u, "Archive");
	changed_matches_scan("bob@example.org", "INBOX");
}
END_TEST

/* A read-only transaction on a log synced to its end needs no flush. */
START_TEST(test_read_no_flush)
{
	uint64_t f0, s0, f1, s1, c0, l0, c1, l1;
	struct store_index *idx;
	deliver1("alice@example.org", NULL, "Subject: x\r\n\r\nbody\r\n");
	sdb_read_flush_stats(st, &f0, &s0);
	store_stats(st, &c0, &l0);
	for (int i = 0; i < 20; i++) {
		idx = index_of("alice@example.org", "INBOX");
		store_index_free(&idx);
	}
	sdb_read_flush_stats(st, &f1, &s1);
	store_stats(st, &c1, &l1);
	ck_assert_uint_eq(f1, f0);
	ck_assert_uint_ge(s1, s0 + 20);
	ck_assert_uint_eq(l1, l0);
}
END_TEST

/* ---- the auth cache ---- */

START_TEST(test_auth_cache)
{
	uint64_t h0, m0, h, m;
	char h2[256];

	ck_assert(!store_auth_cache_set_ttl(AUTH_CACHE_TTL_MAX_SECS + 1));
	/* off (the default): no lookups at all */
	store_auth_cache_stats(&h0, &m0);
	ck_assert_int_eq(store_authenticate(st, "alice@example.org", "secret"), STORE_OK);
	ck_assert_int_eq(store_authenticate(st, "alice@example.org", "secret"), STORE_OK);
	store_auth_cache_stats(&h, &m);
	ck_assert_uint_eq(h, h0);
	ck_assert_uint_eq(m, m0);

	ck_assert(store_auth_cache_set_ttl(60));
	ck_assert_int_eq(store_authenticate(st, "alice@example.org", "secret"), STORE_OK);
	store_auth_cache_stats(&h, &m);
	ck_assert_uint_eq(h, h0);
	ck_assert_uint_eq(m, m0 + 1);
	ck_assert_int_eq(store_authenticate(st, "ALICE@example.org", "secret"), STORE_OK);
	store_auth_cache_stats(&h, &m);
	ck_assert_uint_eq(h, h0 + 1);
	/* a wrong password is a miss, and is not remembered */
	ck_assert_int_eq(store_authenticate(st, "alice@example.org", "Secret"), STORE_DENIED);
	ck_assert_int_eq(store_authenticate(st, "alice@example.org", "Secret"), STORE_DENIED);
	ck_assert_int_eq(store_authenticate(st, "bob@example.org", "nope"), STORE_DENIED);
	store_auth_cache_stats(&h, &m);
	ck_assert_uint_eq(h, h0 + 1);

	/* a new password (even the same one: a new salt) makes the old entry
	 * unreachable at once */
	ck_assert_int_eq(store_hash_password("secret2", h2, sizeof(h2)), STORE_OK);
	ck_assert_int_eq(store_user_set_hash(st, "alice@example.org", h2), STORE_OK);
	ck_assert_int_eq(store_authenticate(st, "alice@example.org", "secret"), STORE_DENIED);
	ck_assert_int_eq(store_authenticate(st, "alice@example.org", "secret2"), STORE_OK);
	ck_assert_int_eq(store_authenticate(st, "alice@example.org", "secret2"), STORE_OK);
	store_auth_cache_stats(&h, &m);
	ck_assert_uint_eq(h, h0 + 2);
	ck_assert_int_eq(store_hash_password("secret2", h2, sizeof(h2)), STORE_OK);
	ck_assert_int_eq(store_user_set_hash(st, "alice@example.org", h2), STORE_OK);
	ck_assert_int_eq(store_authenticate(st, "alice@example.org", "secret2"), STORE_OK);
	store_auth_cache_stats(&h, &m);
	ck_assert_uint_eq(h, h0 + 2);

	/* a deleted user is not found, cached or not */
	ck_assert_int_eq(store_user_del(st, "alice@example.org"), STORE_OK);
	ck_assert_int_eq(store_authenticate(st, "alice@example.org", "secret2"), STORE_NOTFOUND);

	/* 0 turns it off and forgets */
	ck_assert_int_eq(store_authenticate(st, "bob@example.org", "secret"), STORE_OK);
	ck_assert(store_auth_cache_set_ttl(0));
	ck_assert(store_auth_cache_set_ttl(60));
	store_auth_cache_stats(&h0, &m0);
	ck_assert_int_eq(store_authenticate(st, "bob@example.org", "secret"), STORE_OK);
	store_auth_cache_stats(&h, &m);
	ck_assert_uint_eq(h, h0);
	ck_assert_uint_eq(m, m0 + 1);
	ck_assert(store_auth_cache_set_ttl(0));
}
END_TEST

/* Processes that open a new store at the same moment (the daemon starting
 * and minimailctl beside it) all succeed: a sequence record created by one
 * of them while another was creating it is opened, not an error. */
START_TEST(test_open_race)
{
	enum { ROUNDS = 12, PROCS = 4 };
	for (int round = 0; round < ROUNDS; round++) {
		char dir[sizeof(tmpdir) + 16];
		int go[2];
		pid_t pids[PROCS];
		snprintf(dir, sizeof(dir), "%s/race%d", tmpdir, round);
		ck_assert_int_eq(pipe(go), 0);
		for (int i = 0; i < PROCS; i++) {
			pids[i] = fork();
			ck_assert_int_ge(pids[i], 0);
			if (pids[i] == 0) {
				struct store *s2;
				char err[256], c;
				close(go[1]);
				if (read(go[0], &c, 1) != 0)
					_exit(3);
				int r = store_open(dir, STORE_OPEN_CREATE |
				    (i == 0 ? STORE_OPEN_RECOVER : 0), &s2, err, sizeof(err));
				if (r != STORE_OK) {
					fprintf(stderr, "open %d: %s\n", i, err);
					_exit(2);
				}
				store_close(&s2);
				_exit(0);
			}
		}
		close(go[0]);
		close(go[1]); /* all start together */
		for (int i = 0; i < PROCS; i++) {
			int status;
			ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
			ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
			    "round %d: opener %d failed (status %d)", round, i, status);
		}
	}
}
END_TEST

static Suite *
store_suite(void)
{
	Suite *s = suite_create("store");
	struct { const char *name; const TTest *t; } cases[] = {
		{ "open", test_open_errors },
		{ "open_race", test_open_race },
		{ "stats", test_checkpoint_stats },
		{ "users", test_users },
		{ "auth_cache", test_auth_cache },
		{ "read_changed", test_read_changed },
		{ "read_no_flush", test_read_no_flush },
		{ "uid_order_reopen", test_uid_order_reopen },
		{ "deliver_errors", test_deliver_errors },
		{ "append_flags", test_append_flags_keywords },
		{ "keyword_limit", test_keyword_limit },
		{ "expunge", test_expunge },
		{ "copy_move_refcount", test_copy_move_refcount },
		{ "quota", test_quota },
		{ "body_ranges", test_big_body_ranges },
		{ "body_cache_empty", test_body_cache_empty },
		{ "resolve", test_resolve },
		{ "mailboxes", test_mailboxes },
		{ "change_hook", test_change_hook },
		{ "threads", test_threads },
		{ "group_deliver", test_group_deliver },
		{ "group_deliver_flood", test_group_deliver_flood },
		{ "recent_claim", test_recent_claim },
		{ "subscription_ghost", test_subscription_ghost },
		{ "append_multi", test_append_multi },
		{ "recent_claim_threads", test_recent_claim_threads },
		{ "user_del_aliases", test_user_del_aliases },
		{ "mailbox_cap", test_mailbox_cap },
		{ "reopen_after_recovery", test_reopen_after_recovery },
		{ "reopen_dead_lock_holder", test_reopen_dead_lock_holder },
		{ "reopen_by_watchdog", test_reopen_by_watchdog },
		{ "reopen_waiter_during_recovery", test_reopen_waiter_during_recovery },
		{ "reopen_after_panic", test_reopen_after_panic },
		{ "reopen_concurrent", test_reopen_concurrent },
		{ "kill_inside_bdb", test_kill_inside_bdb },
		{ "flush_failure", test_flush_failure },
		{ "flush_failure_later_flush", test_flush_failure_later_flush },
		{ "fsync_failure", test_fsync_failure },
		{ "tokens_pruned", test_tokens_pruned },
		{ "deliver_queue_keywords", test_deliver_queue_keywords },
		{ "deliver_queue_extra", test_deliver_queue_extra },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		TCase *tc = tcase_create(cases[i].name);
		tcase_add_checked_fixture(tc, setup, teardown);
		tcase_set_timeout(tc, 60);
		tcase_add_test(tc, cases[i].t);
		suite_add_tcase(s, tc);
	}
	TCase *tc = tcase_create("exactly_once_panic");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_exactly_once_panic, 0, 2);
	tcase_add_loop_test(tc, test_group_deliver_panic, 0, 2);
	suite_add_tcase(s, tc);
	tc = tcase_create("exactly_once_copy_move");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_exactly_once_copy_move, 0, 4);
	tcase_add_loop_test(tc, test_copy_move_flush_failure, 0, 2);
	tcase_add_loop_test(tc, test_exactly_once_append_fileinto, 0, 4);
	suite_add_tcase(s, tc);
	return s;
}

int
main(int argc, char **argv)
{
	if (argc == 6 && (strcmp(argv[1], "--holder") == 0 || strcmp(argv[1], "--recoverer") == 0))
		_exit(child_main(argv));
	SRunner *sr = srunner_create(store_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
