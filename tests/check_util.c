/* check_util.c: unit tests of the UTF-8 helpers of src/lib/util.c, which
 * the MIME decoder, the IMAP mailbox name codec and the SMTPUTF8 check all
 * use: every scalar value both ways, the boundaries of each length, and
 * each kind of ill-formed sequence (RFC 3629 3 and 10); and
 * mm_nofile_raise, the daemon's open-file limit at start; and the growing
 * hash table of src/lib/htab.c; and mm_put_u64 / mm_buf_append_u64, the
 * decimal numbers of FETCH lines, against printf. */
#include "lib/htab.h"
#include "lib/util.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* Every scalar value: appended, then decoded, with the length its range
 * gives it. */
START_TEST(test_utf8_every_scalar)
{
	struct mm_buf b;
	mm_buf_init(&b);
	for (uint32_t cp = 0; cp <= 0x10ffff; cp++) {
		if (cp >= 0xd800 && cp <= 0xdfff)
			continue;
		size_t want = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
		uint32_t got = 0xffffffff;
		b.len = 0;
		mm_buf_append_utf8(&b, cp);
		ck_assert_uint_eq(b.len, want);
		ck_assert_uint_eq(mm_utf8_decode((const unsigned char *)b.data, b.len,
		    &got), want);
		ck_assert_uint_eq(got, cp);
		/* one byte short is never a character */
		if (want > 1)
			ck_assert_uint_eq(mm_utf8_decode((const unsigned char *)b.data,
			    want - 1, &got), 0);
	}
	mm_buf_free(&b);
}
END_TEST

/* Every power of ten and its neighbours, and the extremes: the same
 * digits as printf's, nothing written past them. */
START_TEST(test_put_u64)
{
	struct mm_buf b;
	mm_buf_init(&b);
	uint64_t vals[3 * 20 + 2];
	size_t nv = 0;
	vals[nv++] = 0;
	vals[nv++] = UINT64_MAX;
	for (uint64_t pow = 1, k = 0; k < 20; k++, pow *= 10) {
		vals[nv++] = pow;
		vals[nv++] = pow - 1;
		vals[nv++] = pow + 7;
	}
	for (size_t i = 0; i < nv; i++) {
		char want[32], got[MM_U64_DIGITS_MAX + 8];
		int n = snprintf(want, sizeof(want), "%llu", (unsigned long long)vals[i]);
		memset(got, '#', sizeof(got));
		char *end = mm_put_u64(got, vals[i]);
		ck_assert_int_eq(end - got, n);
		ck_assert_mem_eq(got, want, (size_t)n);
		ck_assert_int_eq(got[n], '#');
		b.len = 0;
		mm_buf_append(&b, "x", 1);
		mm_buf_append_u64(&b, vals[i]);
		ck_assert_uint_eq(b.len, (size_t)n + 1);
		ck_assert_mem_eq(b.data + 1, want, (size_t)n);
	}
	mm_buf_free(&b);
}
END_TEST

static const struct {
	const char *s;
	uint32_t cp;
} good[] = {
	{ "\x7f", 0x7f }, { "\xc2\x80", 0x80 }, { "\xdf\xbf", 0x7ff },
	{ "\xe0\xa0\x80", 0x800 }, { "\xed\x9f\xbf", 0xd7ff },
	{ "\xee\x80\x80", 0xe000 }, { "\xef\xbf\xbf", 0xffff },
	{ "\xf0\x90\x80\x80", 0x10000 }, { "\xf4\x8f\xbf\xbf", 0x10ffff },
	{ "\xc3\xa9z", 0xe9 },          /* what follows is not read */
};

START_TEST(test_utf8_good)
{
	uint32_t cp = 0;
	size_t len = strlen(good[_i].s);
	size_t want = good[_i].cp < 0x80 ? 1 : good[_i].cp < 0x800 ? 2 :
	    good[_i].cp < 0x10000 ? 3 : 4;
	ck_assert_uint_eq(mm_utf8_decode((const unsigned char *)good[_i].s, len, &cp),
	    want);
	ck_assert_uint_eq(cp, good[_i].cp);
}
END_TEST

static const char *const bad[] = {
	"\x80", "\xbf",                         /* continuation first */
	"\xc0\x80", "\xc1\xbf",                 /* overlong 2 */
	"\xe0\x80\xaf", "\xe0\x9f\xbf",         /* overlong 3 */
	"\xf0\x80\x80\xaf", "\xf0\x8f\xbf\xbf", /* overlong 4 */
	"\xed\xa0\x80", "\xed\xbf\xbf",         /* surrogates */
	"\xf4\x90\x80\x80", "\xf5\x80\x80\x80", /* above U+10FFFF */
	"\xf8\x88\x80\x80\x80", "\xfe", "\xff",
	"\xc3", "\xe2\x82", "\xf0\x9f\x98",     /* cut short */
	"\xc3\x28", "\xe2\x28\xa1", "\xf0\x9f\x28\x80", /* not a continuation */
};

START_TEST(test_utf8_bad)
{
	uint32_t cp = 0x1234;
	ck_assert_msg(mm_utf8_decode((const unsigned char *)bad[_i], strlen(bad[_i]),
	    &cp) == 0, "accepted case %d", _i);
	ck_assert_uint_eq(cp, 0x1234);  /* untouched */
}
END_TEST

/* The daemon's start: a soft open-file limit below the hard one is raised
 * to it (every connection is a descriptor). */
START_TEST(test_nofile_raise)
{
	struct rlimit rl;
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	rlim_t hard = rl.rlim_max == RLIM_INFINITY ? (rlim_t)1048576 : rl.rlim_max;
	if (hard <= 64)
		return;
	struct rlimit low = { 64, rl.rlim_max };
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	uint64_t got = mm_nofile_raise();
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	ck_assert_uint_eq(rl.rlim_cur, hard);
	ck_assert_uint_eq(got, (uint64_t)hard);
	/* already at the hard limit: unchanged */
	ck_assert_uint_eq(mm_nofile_raise(), (uint64_t)hard);
}
END_TEST

/* ---- htab ---- */

struct hkey {
	char key[24];
	struct mm_hnode node;
};

static struct hkey *
hkey_find(const struct mm_htab *t, const char *key)
{
	uint32_t h = mm_fnv1a(MM_FNV_BASIS, key);
	for (struct mm_hnode *n = mm_htab_first(t, h); n; n = n->next) {
		struct hkey *k = mm_hentry(n, struct hkey, node);
		if (n->hash == h && strcmp(k->key, key) == 0)
			return k;
	}
	return NULL;
}

#define HTAB_KEYS 50000

/* 50,000 keys in, every other one out, the rest out: each lookup right,
 * the count right, the buckets following the keys both ways (a table
 * that stayed at its first size would have chains of hundreds). */
START_TEST(test_htab_grows_and_shrinks)
{
	struct mm_htab t = { 0 };
	ck_assert_ptr_null(mm_htab_first(&t, 1));
	struct hkey *keys = calloc(HTAB_KEYS, sizeof(*keys));
	ck_assert_ptr_nonnull(keys);
	for (int i = 0; i < HTAB_KEYS; i++) {
		snprintf(keys[i].key, sizeof(keys[i].key), "10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
		ck_assert_ptr_null(hkey_find(&t, keys[i].key));
		mm_htab_add(&t, &keys[i].node, mm_fnv1a(MM_FNV_BASIS, keys[i].key));
		ck_assert_uint_eq(t.n, (size_t)i + 1);
		ck_assert_uint_le(t.n, 2 * t.nbuckets);
	}
	ck_assert_uint_ge(t.nbuckets, HTAB_KEYS / 2);
	ck_assert_uint_le(mm_htab_longest_chain(&t), 16);
	for (int i = 0; i < HTAB_KEYS; i++)
		ck_assert_ptr_eq(hkey_find(&t, keys[i].key), &keys[i]);
	ck_assert_ptr_null(hkey_find(&t, "10.255.0.0"));
	for (int i = 0; i < HTAB_KEYS; i += 2)
		mm_htab_del(&t, &keys[i].node);
	ck_assert_uint_eq(t.n, HTAB_KEYS / 2);
	for (int i = 0; i < HTAB_KEYS; i++)
		ck_assert_ptr_eq(hkey_find(&t, keys[i].key), i % 2 ? &keys[i] : NULL);
	size_t big = t.nbuckets;
	for (int i = 1; i < HTAB_KEYS - 100; i += 2) {
		mm_htab_del(&t, &keys[i].node);
		ck_assert(t.nbuckets <= 8 * t.n || t.nbuckets == MM_HTAB_MIN_BUCKETS);
	}
	ck_assert_uint_eq(t.n, 50);
	ck_assert_uint_le(t.nbuckets, 256);
	ck_assert_uint_lt(t.nbuckets, big);
	for (int i = 0; i < HTAB_KEYS; i++)
		ck_assert_ptr_eq(hkey_find(&t, keys[i].key),
		    i % 2 && i >= HTAB_KEYS - 100 ? &keys[i] : NULL);
	for (int i = HTAB_KEYS - 99; i < HTAB_KEYS; i += 2)
		mm_htab_del(&t, &keys[i].node);
	ck_assert_uint_eq(t.n, 0);
	ck_assert_uint_eq(t.nbuckets, 0);       /* the last one out frees them */
	ck_assert_ptr_null(t.tab);
	free(keys);
}
END_TEST

/* Keys of one hash share a chain; deleting one in the middle of it keeps
 * the others. */
START_TEST(test_htab_same_hash)
{
	struct mm_htab t = { 0 };
	struct hkey k[3] = { { .key = "a" }, { .key = "b" }, { .key = "c" } };
	for (int i = 0; i < 3; i++)
		mm_htab_add(&t, &k[i].node, 7);
	ck_assert_uint_eq(mm_htab_longest_chain(&t), 3);
	mm_htab_del(&t, &k[1].node);
	size_t seen = 0;
	for (struct mm_hnode *n = mm_htab_first(&t, 7); n; n = n->next) {
		ck_assert_ptr_ne(n, &k[1].node);
		seen++;
	}
	ck_assert_uint_eq(seen, 2);
	mm_htab_del(&t, &k[0].node);
	mm_htab_del(&t, &k[2].node);
	ck_assert_ptr_null(mm_htab_first(&t, 7));
}
END_TEST

/* The environment switches: read once, then the cached answer. */
START_TEST(test_env_once)
{
	static _Atomic int flag = -1, empty = -1, unset = -1, num = -1, big = -1, neg = -1;
	setenv("MM_TEST_FLAG", "0", 1);
	setenv("MM_TEST_EMPTY", "", 1);
	unsetenv("MM_TEST_UNSET");
	setenv("MM_TEST_NUM", "250", 1);
	setenv("MM_TEST_BIG", "99999999999", 1);
	setenv("MM_TEST_NEG", "-5", 1);
	ck_assert(mm_env_flag(&flag, "MM_TEST_FLAG"));     /* set, whatever it says */
	ck_assert(mm_env_flag(&empty, "MM_TEST_EMPTY"));
	ck_assert(!mm_env_flag(&unset, "MM_TEST_UNSET"));
	ck_assert_uint_eq(mm_env_uint(&num, "MM_TEST_NUM", 10000), 250);
	ck_assert_uint_eq(mm_env_uint(&big, "MM_TEST_BIG", 10000), 10000);
	ck_assert_uint_eq(mm_env_uint(&neg, "MM_TEST_NEG", 10000), 0);
	/* read once: a later change is not seen */
	unsetenv("MM_TEST_FLAG");
	setenv("MM_TEST_NUM", "7", 1);
	ck_assert(mm_env_flag(&flag, "MM_TEST_FLAG"));
	ck_assert_uint_eq(mm_env_uint(&num, "MM_TEST_NUM", 10000), 250);
}
END_TEST

static Suite *
util_suite(void)
{
	Suite *s = suite_create("util");
	TCase *tc = tcase_create("utf8");
	/* every scalar value both ways: seconds when the machine is quiet,
	 * over 30 s under ASan at a load of 12 (CI runs beside nothing, but
	 * a developer's make check may not) */
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_utf8_every_scalar);
	tcase_add_loop_test(tc, test_utf8_good, 0, N(good));
	tcase_add_loop_test(tc, test_utf8_bad, 0, N(bad));
	suite_add_tcase(s, tc);
	TCase *tu = tcase_create("u64");
	tcase_add_test(tu, test_put_u64);
	suite_add_tcase(s, tu);
	TCase *te = tcase_create("env");
	tcase_add_test(te, test_env_once);
	suite_add_tcase(s, te);
	TCase *tn = tcase_create("nofile");
	tcase_add_test(tn, test_nofile_raise);
	suite_add_tcase(s, tn);
	TCase *th = tcase_create("htab");
	tcase_add_test(th, test_htab_grows_and_shrinks);
	tcase_add_test(th, test_htab_same_hash);
	suite_add_tcase(s, th);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(util_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
