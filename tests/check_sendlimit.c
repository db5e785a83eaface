/* check_sendlimit.c: lib/sendlimit.c, the hourly per-user submission
 * counts: the limit that refuses, nothing counted when refused, the
 * window sliding by the minute, users apart, no limit at 0, and the
 * bounded table. */
#include "lib/limits.h"
#include "lib/sendlimit.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#define T0 ((time_t)1700000000 / 60 * 60)   /* on a minute boundary */

START_TEST(test_messages)
{
	unsigned used;
	sendlimit_reset();
	for (unsigned i = 0; i < 20; i++) {
		ck_assert_int_eq(sendlimit_take("a@x", true, T0 + i, 20, 0, &used), SENDLIMIT_OK);
		ck_assert_uint_eq(used, i);
	}
	/* the 21st message is refused, and refusing counts nothing */
	for (int k = 0; k < 3; k++) {
		ck_assert_int_eq(sendlimit_take("a@x", true, T0 + 30, 20, 0, &used),
		    SENDLIMIT_MESSAGES);
		ck_assert_uint_eq(used, 20);
	}
	/* more recipients of a message already counted pass */
	ck_assert_int_eq(sendlimit_take("a@x", false, T0 + 30, 20, 0, &used), SENDLIMIT_OK);
	/* another user is not affected */
	ck_assert_int_eq(sendlimit_take("b@x", true, T0 + 30, 20, 0, &used), SENDLIMIT_OK);
	ck_assert_uint_eq(used, 0);
	/* 59 minutes later the first minute's 20 still count; at 60 they are gone */
	ck_assert_int_eq(sendlimit_take("a@x", true, T0 + 59 * 60, 20, 0, &used),
	    SENDLIMIT_MESSAGES);
	ck_assert_int_eq(sendlimit_take("a@x", true, T0 + 60 * 60, 20, 0, &used), SENDLIMIT_OK);
	ck_assert_uint_eq(used, 0);
	/* days later: all gone */
	ck_assert_int_eq(sendlimit_take("b@x", true, T0 + 86400 * 3, 1, 0, &used), SENDLIMIT_OK);
	ck_assert_uint_eq(used, 0);
}
END_TEST

START_TEST(test_recipients)
{
	unsigned used;
	sendlimit_reset();
	ck_assert_int_eq(sendlimit_take("a@x", true, T0, 0, 3, &used), SENDLIMIT_OK);
	ck_assert_int_eq(sendlimit_take("a@x", false, T0, 0, 3, &used), SENDLIMIT_OK);
	ck_assert_int_eq(sendlimit_take("a@x", false, T0 + 61, 0, 3, &used), SENDLIMIT_OK);
	ck_assert_int_eq(sendlimit_take("a@x", false, T0 + 62, 0, 3, &used), SENDLIMIT_RECIPIENTS);
	ck_assert_uint_eq(used, 3);
	/* a new message is refused by the recipient limit too, and not counted */
	ck_assert_int_eq(sendlimit_take("a@x", true, T0 + 62, 5, 3, &used), SENDLIMIT_RECIPIENTS);
	/* the first two leave the window after an hour, the third stays */
	ck_assert_int_eq(sendlimit_take("a@x", false, T0 + 3600, 0, 3, &used), SENDLIMIT_OK);
	ck_assert_int_eq(sendlimit_take("a@x", false, T0 + 3600, 0, 3, &used), SENDLIMIT_OK);
	ck_assert_int_eq(sendlimit_take("a@x", false, T0 + 3600, 0, 3, &used), SENDLIMIT_RECIPIENTS);
}
END_TEST

START_TEST(test_no_limit)
{
	unsigned used;
	sendlimit_reset();
	for (int i = 0; i < 1000; i++)
		ck_assert_int_eq(sendlimit_take("a@x", true, T0, 0, 0, &used), SENDLIMIT_OK);
	ck_assert_uint_eq(used, 999);
}
END_TEST

/* More users than the table holds: the idlest goes, the table stays
 * bounded, and the newest users keep their counts. */
START_TEST(test_bounded)
{
	unsigned used;
	char name[32];
	sendlimit_reset();
	for (int i = 0; i < SUBMIT_USERS_TRACKED_MAX + 100; i++) {
		snprintf(name, sizeof(name), "u%d@x", i);
		ck_assert_int_eq(sendlimit_take(name, true, T0 + i * 60, 1, 0, &used),
		    SENDLIMIT_OK);
	}
	ck_assert_uint_eq(sendlimit_users(), SUBMIT_USERS_TRACKED_MAX);
	time_t end = T0 + (SUBMIT_USERS_TRACKED_MAX + 99) * 60;
	snprintf(name, sizeof(name), "u%d@x", SUBMIT_USERS_TRACKED_MAX + 99);
	ck_assert_int_eq(sendlimit_take(name, true, end, 1, 0, &used), SENDLIMIT_MESSAGES);
	/* the user idle longest was dropped: counted from zero again */
	ck_assert_int_eq(sendlimit_take("u0@x", true, end, 1, 0, &used), SENDLIMIT_OK);
	ck_assert_uint_eq(used, 0);
	sendlimit_reset();
}
END_TEST

static Suite *
sendlimit_suite(void)
{
	Suite *s = suite_create("sendlimit");
	TCase *tc = tcase_create("sendlimit_take");
	tcase_add_test(tc, test_messages);
	tcase_add_test(tc, test_recipients);
	tcase_add_test(tc, test_no_limit);
	tcase_add_test(tc, test_bounded);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(sendlimit_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
