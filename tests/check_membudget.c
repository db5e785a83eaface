/* check_membudget.c: lib/membudget.c, the [limits] max_memory budget:
 * reservations up to the limit and not beyond, refusals counted and
 * taking nothing, charges over the limit, release, the peak, no limit at
 * 0, and concurrent reservers never overshooting; lib/spool.c: a spool
 * file is nameless and holds what was written; imap/imap-bodycache.c:
 * the FETCH body cache is bounded, drops the least recently used first,
 * and is counted against the budget. */
#include "imap/imap-bodycache.h"
#include "lib/limits.h"
#include "lib/membudget.h"
#include "lib/spool.h"

#include <check.h>
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

START_TEST(test_reserve)
{
	membudget_reset();
	membudget_set_limit(1000);
	ck_assert(membudget_reserve(400));
	ck_assert(membudget_reserve(600));
	ck_assert_uint_eq(membudget_used(), 1000);
	ck_assert(!membudget_reserve(1));
	ck_assert_uint_eq(membudget_used(), 1000);
	ck_assert_uint_eq(membudget_refusals(), 1);
	membudget_release(400);
	ck_assert(!membudget_reserve(401));
	ck_assert(membudget_reserve(400));
	ck_assert(!membudget_reserve(UINT64_MAX));
	/* bytes already in are charged over the limit */
	membudget_charge(500);
	ck_assert_uint_eq(membudget_used(), 1500);
	ck_assert_uint_eq(membudget_peak(), 1500);
	ck_assert(!membudget_reserve(1));
	membudget_release(1500);
	ck_assert_uint_eq(membudget_used(), 0);
	/* never below zero */
	membudget_release(10);
	ck_assert_uint_eq(membudget_used(), 0);
	ck_assert_uint_eq(membudget_peak(), 1500);
	/* 0: no limit */
	membudget_set_limit(0);
	ck_assert(membudget_reserve(UINT64_MAX / 2));
	ck_assert_uint_eq(membudget_refusals(), 4);
}
END_TEST

static void *
reserver(void *arg)
{
	unsigned *got = arg;
	for (int i = 0; i < 100000; i++)
		if (membudget_reserve(1))
			(*got)++;
	return NULL;
}

START_TEST(test_threads)
{
	pthread_t t[4];
	unsigned got[4] = { 0 };

	membudget_reset();
	membudget_set_limit(150000);
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, reserver, &got[i]);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	ck_assert_uint_eq(got[0] + got[1] + got[2] + got[3], 150000);
	ck_assert_uint_eq(membudget_used(), 150000);
	ck_assert_uint_eq(membudget_refusals(), 400000 - 150000);
}
END_TEST

START_TEST(test_spool)
{
	char dir[] = "/tmp/check_spool.XXXXXX", path[256], err[256], buf[16];
	size_t stale;
	FILE *f;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/spool", dir);
	ck_assert(spool_init(dir, &stale, err, sizeof(err)));
	ck_assert_uint_eq(stale, 0);
	/* a stale file is removed at the next start */
	snprintf(path, sizeof(path), "%s/spool/msg.old", dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	ck_assert(spool_init(dir, &stale, err, sizeof(err)));
	ck_assert_uint_eq(stale, 1);
	ck_assert_int_ne(access(path, F_OK), 0);
	int fd = spool_open();
	ck_assert_int_ge(fd, 0);
	ck_assert(spool_pwrite(fd, "hello", 5, 1 << 20));
	ck_assert(spool_pread(fd, buf, 5, 1 << 20));
	ck_assert(memcmp(buf, "hello", 5) == 0);
	ck_assert(!spool_pread(fd, buf, 6, 1 << 20));   /* short */
	/* nameless: the directory is empty while it is open */
	snprintf(path, sizeof(path), "%s/spool", dir);
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	ck_assert_int_eq(n, 0);
	close(fd);
	rmdir(path);
	rmdir(dir);
}
END_TEST

static char *
body_of(size_t len, char c)
{
	char *p = malloc(len);
	ck_assert_ptr_nonnull(p);
	memset(p, c, len);
	return p;
}

START_TEST(test_bodycache)
{
	const char *d;
	size_t len, each = 60 * 1024, fit = IMAP_BODY_CACHE_BYTES / each;

	membudget_reset();
	imap_bodycache_put(1, body_of(100, 'a'), 100);
	ck_assert(imap_bodycache_get(1, &d, &len));
	ck_assert_uint_eq(len, 100);
	ck_assert_int_eq(d[99], 'a');
	ck_assert_uint_eq(membudget_used(), 100);
	ck_assert(!imap_bodycache_get(2, &d, &len));
	/* too big for an entry: not kept */
	imap_bodycache_put(2, body_of(IMAP_BODY_CACHE_MSG_BYTES + 1, 'b'),
	    IMAP_BODY_CACHE_MSG_BYTES + 1);
	ck_assert(!imap_bodycache_get(2, &d, &len));
	/* filled past its bound: the least recently used go, 1 stays (used) */
	for (uint64_t id = 10; id <= 10 + fit; id++) {
		imap_bodycache_put(id, body_of(each, 'c'), each);
		ck_assert(imap_bodycache_get(1, &d, &len));
	}
	ck_assert(imap_bodycache_bytes() <= IMAP_BODY_CACHE_BYTES);
	ck_assert(imap_bodycache_get(1, &d, &len));
	ck_assert(!imap_bodycache_get(10, &d, &len));
	ck_assert(imap_bodycache_get(10 + fit, &d, &len));
	ck_assert_uint_eq(membudget_used(), imap_bodycache_bytes());
	imap_bodycache_clear();
	ck_assert_uint_eq(imap_bodycache_bytes(), 0);
	ck_assert_uint_eq(membudget_used(), 0);
	/* not while the budget is more than half used */
	membudget_set_limit(1000);
	membudget_charge(450);
	imap_bodycache_put(3, body_of(100, 'd'), 100);
	ck_assert(!imap_bodycache_get(3, &d, &len));
	imap_bodycache_put(4, body_of(50, 'e'), 50);
	ck_assert(imap_bodycache_get(4, &d, &len));
	ck_assert_uint_eq(membudget_used(), 500);
	imap_bodycache_clear();
	membudget_release(450);
	ck_assert_uint_eq(membudget_used(), 0);
	membudget_reset();
}
END_TEST

static Suite *
membudget_suite(void)
{
	Suite *s = suite_create("membudget");
	TCase *tc = tcase_create("membudget");
	tcase_add_test(tc, test_reserve);
	tcase_add_test(tc, test_threads);
	tcase_add_test(tc, test_spool);
	tcase_add_test(tc, test_bodycache);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(membudget_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
