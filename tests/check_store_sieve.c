/* check_store_sieve.c: unit tests of the store's Sieve scripts and
 * vacation records (src/store/store-sieve.c): put/get/list/rename/del,
 * the active one (refused by del, kept by rename), name checks, the
 * per-user limit, records per (user, handle, sender) and period, and
 * everything gone with the user (and not another user's with the same
 * prefix). Every test opens a fresh environment in a mkdtemp() dir. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/util.h"
#include "store/store.h"

const char *__lsan_default_suppressions(void);
const char *
__lsan_default_suppressions(void)
{
	return "leak:libdb-5.3.so\n";
}

static char tmpdir[64];
static struct store *st;
static char hash[256];


static void
setup(void)
{
	char err[256];
	strcpy(tmpdir, "/tmp/check_store_sieve.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	ck_assert_int_eq(store_open(tmpdir, STORE_OPEN_CREATE, &st, err, sizeof(err)), STORE_OK);
	if (hash[0] == '\0')
		ck_assert_int_eq(store_hash_password("secret", hash, sizeof(hash)), STORE_OK);
	ck_assert_int_eq(store_user_add(st, "Alice@Example.org", hash), STORE_OK);
	ck_assert_int_eq(store_user_add(st, "alice@example.org.uk", hash), STORE_OK);
}

static void
teardown(void)
{
	store_close(&st);
	mm_rmtree(tmpdir);
}

static int
collect(void *arg, const char *name, bool active)
{
	struct mm_buf *b = arg;
	mm_buf_printf(b, "%s%s;", name, active ? "*" : "");
	return 0;
}

static char *
list(const char *user)
{
	struct mm_buf b;
	mm_buf_init(&b);
	ck_assert_int_eq(store_sieve_list(st, user, collect, &b), STORE_OK);
	char *s = xstrdup(mm_buf_cstr(&b));
	mm_buf_free(&b);
	return s;
}

#define LIST_IS(user, want) do { \
	char *l_ = list(user); \
	ck_assert_str_eq(l_, want); \
	free(l_); \
} while (0)

START_TEST(test_scripts)
{
	const char *u = "alice@EXAMPLE.org";
	char *t, *n;
	size_t len;
	ck_assert_int_eq(store_sieve_put(st, u, "b", "keep;", 5), STORE_OK);
	ck_assert_int_eq(store_sieve_put(st, u, "a", "discard;", 8), STORE_OK);
	ck_assert_int_eq(store_sieve_put(st, u, "a", "stop;", 5), STORE_OK);	/* replaced */
	LIST_IS(u, "a;b;");
	ck_assert_int_eq(store_sieve_get(st, u, "a", &t, &len), STORE_OK);
	ck_assert_uint_eq(len, 5);
	ck_assert_str_eq(t, "stop;");
	free(t);
	ck_assert_int_eq(store_sieve_active(st, u, &n, &t, &len), STORE_NOTFOUND);
	ck_assert_int_eq(store_sieve_activate(st, u, "zz"), STORE_NOTFOUND);
	ck_assert_int_eq(store_sieve_activate(st, u, "b"), STORE_OK);
	LIST_IS(u, "a;b*;");
	ck_assert_int_eq(store_sieve_active(st, u, &n, &t, &len), STORE_OK);
	ck_assert_str_eq(n, "b");
	ck_assert_str_eq(t, "keep;");
	free(n);
	free(t);
	ck_assert_int_eq(store_sieve_del(st, u, "b"), STORE_DENIED);
	ck_assert_int_eq(store_sieve_rename(st, u, "b", "a"), STORE_EXISTS);
	ck_assert_int_eq(store_sieve_rename(st, u, "b", "c"), STORE_OK);
	LIST_IS(u, "a;c*;");
	ck_assert_int_eq(store_sieve_del(st, u, "a"), STORE_OK);
	ck_assert_int_eq(store_sieve_del(st, u, "a"), STORE_NOTFOUND);
	ck_assert_int_eq(store_sieve_activate(st, u, NULL), STORE_OK);
	LIST_IS(u, "c;");
	/* the other user with the same prefix is untouched */
	LIST_IS("alice@example.org.uk", "");
	ck_assert_int_eq(store_sieve_put(st, "nobody@example.org", "a", "", 0), STORE_NOTFOUND);
}
END_TEST

static void
active_is(struct store *s, const char *user, const char *want_name, const char *want_text)
{
	char *n = NULL, *t = NULL;
	size_t len = 0;
	int r = store_sieve_active(s, user, &n, &t, &len);
	if (want_name == NULL) {
		ck_assert_int_eq(r, STORE_NOTFOUND);
		return;
	}
	ck_assert_int_eq(r, STORE_OK);
	ck_assert_str_eq(n, want_name);
	ck_assert_uint_eq(len, strlen(want_text));
	ck_assert_str_eq(t, want_text);
	free(n);
	free(t);
}

/* Another process's change of alice's scripts: step 0 renames a to b,
 * 1 deactivates, 2 puts and activates c, 3 removes the user. */
static void
in_child(int step)
{
	const char *u = "alice@example.org";
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct store *s2;
		char err[256];
		int r = store_open(tmpdir, 0, &s2, err, sizeof(err));
		if (r == STORE_OK && step == 0)
			r = store_sieve_rename(s2, u, "a", "b");
		else if (r == STORE_OK && step == 1)
			r = store_sieve_activate(s2, u, NULL);
		else if (r == STORE_OK && step == 2 &&
		    (r = store_sieve_put(s2, u, "c", "stop;", 5)) == STORE_OK)
			r = store_sieve_activate(s2, u, "c");
		else if (r == STORE_OK && step == 3)
			r = store_user_del(s2, u);
		if (r == STORE_OK)
			store_close(&s2);
		_exit(r == STORE_OK ? 0 : 1);
	}
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* The active script is cached: a second delivery's lookup is a hit, and
 * any change, by this process or another one, is seen by the very next
 * lookup. */
START_TEST(test_active_cache)
{
	const char *u = "alice@example.org";
	uint64_t h0, m0, h, m;

	store_sieve_cache_stats(st, &h0, &m0);
	active_is(st, u, NULL, NULL);
	active_is(st, "ALICE@example.org", NULL, NULL);   /* the same user: a hit */
	store_sieve_cache_stats(st, &h, &m);
	ck_assert_uint_eq(m - m0, 1);
	ck_assert_uint_eq(h - h0, 1);

	/* this process's own changes, each moving the generation (what a
	 * compiled script that includes is kept under) */
	uint64_t g0, g1;
	ck_assert(store_sieve_generation(st, &g0));
	ck_assert_int_eq(store_sieve_put(st, u, "a", "keep;", 5), STORE_OK);
	ck_assert(store_sieve_generation(st, &g1));
	ck_assert_uint_gt(g1, g0);
	ck_assert_int_eq(store_sieve_activate(st, u, "a"), STORE_OK);
	active_is(st, u, "a", "keep;");
	ck_assert(store_sieve_generation(st, &g0));
	ck_assert_uint_gt(g0, g1);
	ck_assert_int_eq(store_sieve_put(st, u, "a", "discard;", 8), STORE_OK);
	active_is(st, u, "a", "discard;");
	ck_assert(store_sieve_generation(st, &g1));
	ck_assert_uint_gt(g1, g0);
	store_sieve_cache_stats(st, &h0, &m0);
	active_is(st, u, "a", "discard;");
	store_sieve_cache_stats(st, &h, &m);
	ck_assert_uint_eq(h - h0, 1);

	/* another process's, each after this one has the answer cached */
	in_child(0);
	active_is(st, u, "b", "discard;");
	active_is(st, u, "b", "discard;");
	in_child(1);
	active_is(st, u, NULL, NULL);
	active_is(st, u, NULL, NULL);
	in_child(2);
	active_is(st, u, "c", "stop;");
	in_child(3);           /* the user's removal takes the scripts */
	active_is(st, u, NULL, NULL);
	ck_assert(store_sieve_generation(st, &g0));
	ck_assert_uint_gt(g0, g1);      /* moved by the other processes too */
	store_sieve_cache_stats(st, &h, &m);
	ck_assert_uint_ge(h - h0, 3);
}
END_TEST

static const char *const bad_names[] = { "", "a/b", "tab\there", "nl\n", "\x7f" };

START_TEST(test_bad_names)
{
	ck_assert(!store_sieve_name_valid(bad_names[_i]));
	ck_assert_int_eq(store_sieve_put(st, "alice@example.org", bad_names[_i], "", 0), STORE_INVALID);
}
END_TEST

START_TEST(test_limits)
{
	char name[STORE_SIEVE_NAME_MAX + 2];
	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	ck_assert(!store_sieve_name_valid(name));
	name[STORE_SIEVE_NAME_MAX] = '\0';
	ck_assert(store_sieve_name_valid(name));
	for (int i = 0; i < STORE_SIEVE_SCRIPTS_MAX; i++) {
		snprintf(name, sizeof(name), "s%d", i);
		ck_assert_int_eq(store_sieve_put(st, "alice@example.org", name, "keep;", 5), STORE_OK);
	}
	ck_assert_int_eq(store_sieve_put(st, "alice@example.org", "one-more", "keep;", 5), STORE_LIMIT);
	ck_assert_int_eq(store_sieve_put(st, "alice@example.org", "s0", "discard;", 8), STORE_OK);
}
END_TEST

START_TEST(test_vacation)
{
	const char *u = "alice@example.org";
	bool send;
	ck_assert_int_eq(store_sieve_vacation(st, u, "h", "bob@x.org", 1000, 86400, &send), STORE_OK);
	ck_assert(send);
	ck_assert_int_eq(store_sieve_vacation(st, u, "h", "BOB@x.org", 1000 + 86399, 86400, &send), STORE_OK);
	ck_assert(!send);
	ck_assert_int_eq(store_sieve_vacation(st, u, "other", "bob@x.org", 2000, 86400, &send), STORE_OK);
	ck_assert(send);	/* another handle */
	ck_assert_int_eq(store_sieve_vacation(st, u, "h", "carol@x.org", 2000, 86400, &send), STORE_OK);
	ck_assert(send);	/* another sender */
	ck_assert_int_eq(store_sieve_vacation(st, u, "h", "bob@x.org", 1000 + 86400, 86400, &send), STORE_OK);
	ck_assert(send);	/* the period is over */
	/* gone with the user */
	ck_assert_int_eq(store_sieve_put(st, u, "a", "keep;", 5), STORE_OK);
	ck_assert_int_eq(store_sieve_activate(st, u, "a"), STORE_OK);
	ck_assert_int_eq(store_user_del(st, u), STORE_OK);
	ck_assert_int_eq(store_user_add(st, u, hash), STORE_OK);
	LIST_IS(u, "");
	char *n, *t;
	size_t len;
	ck_assert_int_eq(store_sieve_active(st, u, &n, &t, &len), STORE_NOTFOUND);
	ck_assert_int_eq(store_sieve_vacation(st, u, "h", "bob@x.org", 1000 + 86401, 86400, &send), STORE_OK);
	ck_assert(send);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("store_sieve");
	TCase *tc = tcase_create("scripts");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_scripts);
	tcase_add_test(tc, test_active_cache);
	tcase_add_loop_test(tc, test_bad_names, 0, (int)(sizeof(bad_names) / sizeof(bad_names[0])));
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_vacation);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
