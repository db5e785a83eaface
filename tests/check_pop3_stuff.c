/* check_pop3_stuff.c: unit tests for RETR/TOP byte-stuffing: exact output
 * for each case, fed in one piece, one byte at a time, and split at every
 * point (the result must not depend on chunk boundaries). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "pop3/pop3-stuff.h"

static const struct {
	const char *in;
	int top;          /* 0: RETR, 1: TOP */
	uint32_t lines;
	const char *out;
} cases[] = {
	/* RETR */
	{ "", 0, 0, ".\r\n" },
	{ "a\r\n", 0, 0, "a\r\n.\r\n" },
	{ "a", 0, 0, "a\r\n.\r\n" },
	{ ".\r\n", 0, 0, "..\r\n.\r\n" },
	{ "S: x\r\n\r\n.hidden\r\n..two\r\nend.\r\n.", 0, 0,
	  "S: x\r\n\r\n..hidden\r\n...two\r\nend.\r\n..\r\n.\r\n" },
	{ "a\r\n.\r\nb\r\n", 0, 0, "a\r\n..\r\nb\r\n.\r\n" },
	{ "x\n.y\n", 0, 0, "x\n..y\n.\r\n" },                 /* bare LF still ends lines */
	{ "\xe4\xf6\xfc\r\n.\xff\r\n", 0, 0, "\xe4\xf6\xfc\r\n..\xff\r\n.\r\n" },
	/* TOP */
	{ "A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\nl3\r\n", 1, 0, "A: 1\r\nB: 2\r\n\r\n.\r\n" },
	{ "A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\nl3\r\n", 1, 2, "A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\n.\r\n" },
	{ "A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\nl3\r\n", 1, 3, "A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\nl3\r\n.\r\n" },
	{ "A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\nl3\r\n", 1, 99, "A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\nl3\r\n.\r\n" },
	{ "A: 1\r\n\r\n.l1\r\n\r\n.\r\nl4", 1, 3, "A: 1\r\n\r\n..l1\r\n\r\n..\r\n.\r\n" },
	{ "A: 1\r\n\r\nl1\r\nl2", 1, 5, "A: 1\r\n\r\nl1\r\nl2\r\n.\r\n" },
	{ "A: 1\r\nB: 2\r\n", 1, 5, "A: 1\r\nB: 2\r\n.\r\n" },       /* no body */
	{ "A: 1", 1, 0, "A: 1\r\n.\r\n" },
	{ ".A: 1\r\n\r\nb\r\n", 1, 1, "..A: 1\r\n\r\nb\r\n.\r\n" },
	{ "A: 1\r\n \r\n\r\nb\r\n", 1, 0, "A: 1\r\n \r\n\r\n.\r\n" }, /* a space line is not blank */
	{ "\r\nbody\r\n", 1, 0, "\r\n.\r\n" },                         /* empty header */
};

static char *
run(int i, size_t step, size_t split, size_t *len_r)
{
	struct pop3_stuff st;
	struct mm_buf out;
	const char *in = cases[i].in;
	size_t len = strlen(in);

	mm_buf_init(&out);
	pop3_stuff_init(&st, cases[i].top, cases[i].lines);
	if (step) {
		for (size_t off = 0; off < len; off += step) {
			size_t n = len - off < step ? len - off : step;
			/* the chunk is copied so reading past it would show */
			char *c = malloc(n);
			memcpy(c, in + off, n);
			pop3_stuff_chunk(&st, c, n, &out);
			free(c);
		}
	} else {
		pop3_stuff_chunk(&st, in, split, &out);
		pop3_stuff_chunk(&st, in + split, len - split, &out);
	}
	pop3_stuff_finish(&st, &out);
	*len_r = out.len;
	return mm_buf_cstr(&out);
}

START_TEST(test_whole)
{
	size_t len;
	char *s = run(_i, 1u << 20, 0, &len);
	ck_assert_uint_eq(len, strlen(cases[_i].out));
	ck_assert_mem_eq(s, cases[_i].out, len);
	free(s);
}
END_TEST

START_TEST(test_bytewise)
{
	size_t len;
	char *s = run(_i, 1, 0, &len);
	ck_assert_uint_eq(len, strlen(cases[_i].out));
	ck_assert_mem_eq(s, cases[_i].out, len);
	free(s);
}
END_TEST

START_TEST(test_every_split)
{
	size_t inlen = strlen(cases[_i].in);
	for (size_t split = 0; split <= inlen; split++) {
		size_t len;
		char *s = run(_i, 0, split, &len);
		ck_assert_uint_eq(len, strlen(cases[_i].out));
		ck_assert_mem_eq(s, cases[_i].out, len);
		free(s);
	}
}
END_TEST

/* TOP sets done once the cut is reached so the reader can stop. */
START_TEST(test_top_done)
{
	struct pop3_stuff st;
	struct mm_buf out;

	mm_buf_init(&out);
	pop3_stuff_init(&st, true, 1);
	pop3_stuff_chunk(&st, "H: v\r\n\r\n", 8, &out);
	ck_assert(!st.done);
	pop3_stuff_chunk(&st, "one\r\ntwo\r\n", 10, &out);
	ck_assert(st.done);
	pop3_stuff_chunk(&st, "three\r\n", 7, &out);
	ck_assert_uint_eq(out.len, 13);
	ck_assert_mem_eq(out.data, "H: v\r\n\r\none\r\n", 13);
	mm_buf_free(&out);

	/* RETR never sets done before finish */
	mm_buf_init(&out);
	pop3_stuff_init(&st, false, 0);
	pop3_stuff_chunk(&st, "a\r\n\r\nb\r\n", 8, &out);
	ck_assert(!st.done);
	mm_buf_free(&out);
}
END_TEST

/* A large body with dots at the start of many lines: output size is
 * input + one byte per dot line + terminator. */
START_TEST(test_large)
{
	struct pop3_stuff st;
	struct mm_buf out;
	size_t n = 100000, dots = 0;
	char *in = malloc(n * 10);
	size_t len = 0;

	for (size_t i = 0; i < n; i++) {
		if (i % 3 == 0) {
			memcpy(in + len, ".dotted\r\n", 9);
			len += 9;
			dots++;
		} else {
			memcpy(in + len, "plain..\r\n", 9);
			len += 9;
		}
	}
	mm_buf_init(&out);
	pop3_stuff_init(&st, false, 0);
	for (size_t off = 0; off < len; off += 65536)
		pop3_stuff_chunk(&st, in + off, len - off < 65536 ? len - off : 65536, &out);
	pop3_stuff_finish(&st, &out);
	ck_assert_uint_eq(out.len, len + dots + 3);
	ck_assert_mem_eq(out.data + out.len - 5, "\r\n.\r\n", 5);
	mm_buf_free(&out);
	free(in);
}
END_TEST

static Suite *
pop3_stuff_suite(void)
{
	Suite *s = suite_create("pop3_stuff");
	TCase *tc = tcase_create("stuff");
	size_t n = sizeof(cases) / sizeof(cases[0]);

	tcase_add_loop_test(tc, test_whole, 0, n);
	tcase_add_loop_test(tc, test_bytewise, 0, n);
	tcase_add_loop_test(tc, test_every_split, 0, n);
	tcase_add_test(tc, test_top_done);
	tcase_add_test(tc, test_large);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(pop3_stuff_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
