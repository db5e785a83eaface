/* check_store_verify.c: unit tests for store_verify() (store-verify.c)
 * and store_backup()/store_restore() (store-backup.c). A store gets a few
 * deliveries and copies, then its counters and reference counts are made
 * wrong through the raw handles; verify must name each problem, --repair
 * must fix them, and a second verify must be clean. Backups: full, then
 * incremental, also across log files removed by checkpoints. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/util.h"
#include "store/store.h"
#include "store/store-int.h"

const char *__lsan_default_suppressions(void);
const char *
__lsan_default_suppressions(void)
{
	return "leak:libdb-5.3.so\n";
}

static char tmpdir[64];
static char datadir[128];
static struct store *st;


static void
setup(void)
{
	char err[256];
	strcpy(tmpdir, "/tmp/check_verify.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(datadir, sizeof(datadir), "%s/data", tmpdir);
	ck_assert_int_eq(store_open(datadir, STORE_OPEN_CREATE | STORE_OPEN_RECOVER,
	    &st, err, sizeof(err)), STORE_OK);
	static char hash[256];
	if (hash[0] == '\0')
		ck_assert_int_eq(store_hash_password("secret", hash, sizeof(hash)), STORE_OK);
	ck_assert_int_eq(store_user_add(st, "alice@example.org", hash), STORE_OK);
	for (int i = 0; i < 5; i++) {
		char msg[128];
		int n = snprintf(msg, sizeof(msg), "Subject: %d\r\n\r\nbody %d\r\n", i, i);
		struct store_rcpt rc = { .user = "alice@example.org" };
		ck_assert_int_eq(store_deliver(st, &rc, 1, msg, (size_t)n, 1000 + i,
		    NULL, 0, NULL, 0, false), STORE_OK);
	}
	uint32_t uids[] = { 1, 2 }, nu[2], uv;
	ck_assert_int_eq(store_copy(st, "alice@example.org", "INBOX", uids, 2,
	    "Archive", nu, &uv), STORE_OK);
}

static void
teardown(void)
{
	store_close(&st);
	mm_rmtree(tmpdir);
}

struct problems {
	char text[16][256];
	size_t n;
};

static void
collect(void *arg, const char *text)
{
	struct problems *p = arg;
	if (p->n < 16)
		mm_strlcpy(p->text[p->n++], text, sizeof(p->text[0]));
}

static bool
has(const struct problems *p, const char *needle)
{
	for (size_t i = 0; i < p->n; i++)
		if (strstr(p->text[i], needle) != NULL)
			return true;
	return false;
}

static void
run_verify(bool repair, struct problems *p, struct store_verify_stats *s)
{
	char err[512];
	memset(p, 0, sizeof(*p));
	ck_assert_int_eq(store_verify(st, tmpdir, repair, collect, p, NULL, NULL, s,
	    err, sizeof(err)), STORE_OK);
}

START_TEST(test_clean)
{
	struct problems p;
	struct store_verify_stats s;
	run_verify(false, &p, &s);
	ck_assert_uint_eq(s.problems, 0);
	ck_assert_uint_eq(s.users, 1);
	ck_assert_uint_eq(s.mailboxes, 6);
	ck_assert_uint_eq(s.messages, 7);
	ck_assert_uint_eq(s.bodies, 5);
	ck_assert_uint_eq(s.files, 10);
}
END_TEST

/* Sets body 1's reference count to refs. */
struct damage_arg {
	uint32_t refs;
	uint32_t mailbox;
};

static int
damage_refs_tx(struct sdb_tx *tx, void *varg)
{
	struct damage_arg *a = varg;
	unsigned char key[8];
	struct sdb_bodymeta m;
	sdb_be64(key, 1);
	int r = sdb_get(tx->st->bodymeta, tx->txn, key, 8, &m, sizeof(m), DB_RMW);
	if (r != STORE_OK)
		return r;
	m.refs = a->refs;
	return sdb_put(tx->st->bodymeta, tx->txn, key, 8, &m, sizeof(m));
}

static int
damage_counters_tx(struct sdb_tx *tx, void *varg)
{
	struct damage_arg *a = varg;
	struct sdb_counters c;
	int r = sdb_counters_get(tx, a->mailbox, &c, true);
	if (r != STORE_OK)
		return r;
	c.messages += 3;
	c.unseen = 0;
	return sdb_counters_put(tx, a->mailbox, &c);
}

START_TEST(test_refcount_and_counters_repaired)
{
	struct problems p;
	struct store_verify_stats s;
	struct store_mailbox mb;
	ck_assert_int_eq(store_mailbox_get(st, "alice@example.org", "INBOX", &mb), STORE_OK);
	struct damage_arg a = { .refs = 7, .mailbox = mb.id };
	ck_assert_int_eq(sdb_run(st, true, damage_refs_tx, &a), STORE_OK);
	ck_assert_int_eq(sdb_run(st, true, damage_counters_tx, &a), STORE_OK);

	run_verify(false, &p, &s);
	ck_assert_uint_eq(s.problems, 2);
	ck_assert_msg(has(&p, "body 1: reference count 7, referenced 2 times"), "%s", p.text[0]);
	ck_assert_msg(has(&p, "alice@example.org/INBOX: counters say 8 messages"),
	    "%s", p.text[0]);

	run_verify(true, &p, &s);
	ck_assert_uint_eq(s.repaired, 2);
	ck_assert_uint_eq(s.problems, 0);
	uint32_t refs;
	ck_assert_int_eq(store_body_refs(st, 1, &refs), STORE_OK);
	ck_assert_uint_eq(refs, 2);
	ck_assert_int_eq(store_mailbox_get(st, "alice@example.org", "INBOX", &mb), STORE_OK);
	ck_assert_uint_eq(mb.messages, 5);
	ck_assert_uint_eq(mb.unseen, 5);

	run_verify(false, &p, &s);
	ck_assert_uint_eq(s.problems, 0);
}
END_TEST

/* An index entry removed behind the store's back: its body has a
 * reference nothing holds (the repair frees it) and the counters are off. */
static int
drop_entry_tx(struct sdb_tx *tx, void *varg)
{
	struct damage_arg *a = varg;
	unsigned char key[8];
	sdb_be32(key, a->mailbox);
	sdb_be32(key + 4, 3);
	return sdb_del(tx->st->msgs, tx->txn, key, 8);
}

START_TEST(test_unreferenced_body_freed)
{
	struct problems p;
	struct store_verify_stats s;
	struct store_mailbox mb;
	uint32_t refs;
	ck_assert_int_eq(store_mailbox_get(st, "alice@example.org", "INBOX", &mb), STORE_OK);
	struct damage_arg a = { .mailbox = mb.id };
	ck_assert_int_eq(sdb_run(st, true, drop_entry_tx, &a), STORE_OK);
	run_verify(false, &p, &s);
	ck_assert_uint_eq(s.problems, 3);
	ck_assert(has(&p, "body 3: reference count 1, referenced 0 times"));
	ck_assert(has(&p, "user alice@example.org: quota usage says"));
	run_verify(true, &p, &s);
	ck_assert_uint_eq(s.problems, 0);
	ck_assert_int_eq(store_body_refs(st, 3, &refs), STORE_NOTFOUND);
	ck_assert_int_eq(store_mailbox_get(st, "alice@example.org", "INBOX", &mb), STORE_OK);
	ck_assert_uint_eq(mb.messages, 4);
	uint64_t bytes, msgs;
	ck_assert_int_eq(store_quota_usage(st, "alice@example.org", &bytes, &msgs), STORE_OK);
	ck_assert_uint_eq(msgs, 6);
	run_verify(false, &p, &s);
	ck_assert_uint_eq(s.problems, 0);
	ck_assert_uint_eq(s.bodies, 4);
}
END_TEST

START_TEST(test_backup_restore)
{
	char bdir[160], rdir[160], err[512];
	struct store_backup_stats bs;
	snprintf(bdir, sizeof(bdir), "%s/backup", tmpdir);
	snprintf(rdir, sizeof(rdir), "%s/restored", tmpdir);
	ck_assert_int_eq(store_backup(st, bdir, false, NULL, NULL, &bs, err,
	    sizeof(err)), STORE_OK);
	ck_assert(!bs.incremental);
	struct store_rcpt rc = { .user = "alice@example.org" };
	ck_assert_int_eq(store_deliver(st, &rc, 1, "x\r\n", 3, 5, NULL, 0, NULL, 0,
	    false), STORE_OK);
	ck_assert_int_eq(store_backup(st, bdir, false, NULL, NULL, &bs, err,
	    sizeof(err)), STORE_OK);
	ck_assert(bs.incremental);
	ck_assert_int_eq(store_restore(bdir, rdir, NULL, NULL, &bs, err, sizeof(err)),
	    STORE_OK);
	/* into a non-empty one: refused */
	ck_assert_int_eq(store_restore(bdir, rdir, NULL, NULL, &bs, err, sizeof(err)),
	    STORE_EXISTS);
	struct store *r2;
	struct store_mailbox mb;
	ck_assert_int_eq(store_open(rdir, 0, &r2, err, sizeof(err)), STORE_OK);
	ck_assert_int_eq(store_mailbox_get(r2, "alice@example.org", "INBOX", &mb), STORE_OK);
	ck_assert_uint_eq(mb.messages, 6);
	store_close(&r2);
}
END_TEST

/* Checkpoints between two backups remove the log files the second one
 * needs unless the store keeps them for it: it must stay incremental
 * across several log files and a checkpoint. */
START_TEST(test_incremental_across_checkpoints)
{
	char bdir[160], rdir[160], err[512];
	struct store_backup_stats bs;
	snprintf(bdir, sizeof(bdir), "%s/backup", tmpdir);
	snprintf(rdir, sizeof(rdir), "%s/restored", tmpdir);
	size_t len = 1024 * 1024;
	char *big = xmalloc(len);
	/* log file 1 gone before the first backup (Berkeley DB's own overlap
	 * check once refused every update that did not start at log 1) */
	for (int i = 0; i < 40; i++) {
		int n = snprintf(big, len, "Subject: early %d\r\n\r\n", i);
		memset(big + n, 'a' + i % 26, len - (size_t)n);
		struct store_rcpt rc = { .user = "alice@example.org" };
		ck_assert_int_eq(store_deliver(st, &rc, 1, big, len, 7, NULL, 0, NULL, 0,
		    false), STORE_OK);
		rc.mailbox = NULL;
	}
	uint32_t all[40];
	for (int i = 0; i < 40; i++)
		all[i] = 6 + (uint32_t)i;
	ck_assert_int_eq(store_expunge(st, "alice@example.org", "INBOX", all, 40), STORE_OK);
	ck_assert_int_eq(store_checkpoint(st), STORE_OK);
	ck_assert_int_eq(store_backup(st, bdir, false, NULL, NULL, &bs, err,
	    sizeof(err)), STORE_OK);
	ck_assert_uint_gt(bs.log_last, 1);
	unsigned first = bs.log_last;
	for (int i = 0; i < 40; i++) {
		int n = snprintf(big, len, "Subject: big %d\r\n\r\n", i);
		memset(big + n, 'a' + i % 26, len - (size_t)n);
		struct store_rcpt rc = { .user = "alice@example.org" };
		ck_assert_int_eq(store_deliver(st, &rc, 1, big, len, 7, NULL, 0, NULL, 0,
		    false), STORE_OK);
		if (i % 10 == 9)
			ck_assert_int_eq(store_checkpoint(st), STORE_OK);
	}
	free(big);
	ck_assert_int_eq(store_backup(st, bdir, false, NULL, NULL, &bs, err,
	    sizeof(err)), STORE_OK);
	ck_assert_msg(bs.incremental, "full backup: %s", bs.reason ? bs.reason : "?");
	ck_assert_uint_gt(bs.log_last, first + 1);
	ck_assert_int_eq(store_restore(bdir, rdir, NULL, NULL, &bs, err, sizeof(err)),
	    STORE_OK);
	struct store *r2;
	struct store_mailbox mb;
	ck_assert_int_eq(store_open(rdir, 0, &r2, err, sizeof(err)), STORE_OK);
	ck_assert_int_eq(store_mailbox_get(r2, "alice@example.org", "INBOX", &mb), STORE_OK);
	ck_assert_uint_eq(mb.messages, 45);
	store_close(&r2);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("store_verify");
	TCase *tc = tcase_create("verify");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_clean);
	tcase_add_test(tc, test_refcount_and_counters_repaired);
	tcase_add_test(tc, test_unreferenced_body_freed);
	suite_add_tcase(s, tc);
	tc = tcase_create("backup");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_backup_restore);
	tcase_add_test(tc, test_incremental_across_checkpoints);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
