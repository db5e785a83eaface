/* check_util.c: unit tests of the UTF-8 helpers of src/lib/util.c, which
 * the MIME decoder, the IMAP mailbox name codec and the SMTPUTF8 check all
 * use: every scalar value both ways, the boundaries of each length, and
 * each kind of ill-formed sequence (RFC 3629 3 and 10); and
 * mm_nofile_raise, the daemon's open-file limit at start. */
#include "lib/util.h"

#include <check.h>
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
	TCase *tn = tcase_create("nofile");
	tcase_add_test(tn, test_nofile_raise);
	suite_add_tcase(s, tn);
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
