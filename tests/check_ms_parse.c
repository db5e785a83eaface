/* check_ms_parse.c: unit tests of the ManageSieve command parser
 * (src/managesieve/ms-parse.c, pure): commands with quoted strings,
 * literals ({n+} and {n}), numbers; every malformed shape with its error;
 * the literal marker reader; string write-back (quoted or literal). */
#include "managesieve/ms-parse.h"
#include "lib/util.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const struct {
	const char *in;
	size_t len;		/* 0: strlen */
	const char *verb;
	size_t nargs;
	const char *arg0, *arg1;	/* strings (NULL: a number or none) */
	uint64_t num1;
} good[] = {
	{ "CAPABILITY\r\n", 0, "CAPABILITY", 0, NULL, NULL, 0 },
	{ "logout\r\n", 0, "LOGOUT", 0, NULL, NULL, 0 },
	{ "AUTHENTICATE \"PLAIN\" \"AGEAYg==\"\r\n", 0, "AUTHENTICATE", 2, "PLAIN", "AGEAYg==", 0 },
	{ "PUTSCRIPT \"my script\" {7+}\r\nkeep;\r\n\r\n", 0, "PUTSCRIPT", 2, "my script", "keep;\r\n", 0 },
	{ "PUTSCRIPT \"a\" {3}\r\nabc\r\n", 0, "PUTSCRIPT", 2, "a", "abc", 0 },
	{ "CHECKSCRIPT {0+}\r\n\r\n", 0, "CHECKSCRIPT", 1, "", NULL, 0 },
	{ "HAVESPACE \"x\" 12345\r\n", 0, "HAVESPACE", 2, "x", NULL, 12345 },
	{ "RENAMESCRIPT \"a\\\"b\" \"c\\\\d\"\r\n", 0, "RENAMESCRIPT", 2, "a\"b", "c\\d", 0 },
	{ "SETACTIVE \"\"\r\n", 0, "SETACTIVE", 1, "", NULL, 0 },
};

START_TEST(test_good)
{
	struct ms_cmd cmd;
	char err[128];
	const char *in = good[_i].in;
	size_t len = good[_i].len ? good[_i].len : strlen(in);
	ck_assert_msg(ms_parse(in, len, &cmd, err, sizeof(err)), "%s: %s", in, err);
	ck_assert_str_eq(cmd.verb, good[_i].verb);
	ck_assert_uint_eq(cmd.nargs, good[_i].nargs);
	if (good[_i].arg0) {
		ck_assert_int_eq(cmd.args[0].k, MS_ARG_STRING);
		ck_assert_str_eq(cmd.args[0].s, good[_i].arg0);
	}
	if (good[_i].arg1) {
		ck_assert_int_eq(cmd.args[1].k, MS_ARG_STRING);
		ck_assert_str_eq(cmd.args[1].s, good[_i].arg1);
	} else if (good[_i].nargs == 2) {
		ck_assert_int_eq(cmd.args[1].k, MS_ARG_NUMBER);
		ck_assert_uint_eq(cmd.args[1].num, good[_i].num1);
	}
	ms_cmd_free(&cmd);
	/* every cut of the command fails cleanly (exact-size copies) */
	for (size_t n = 0; n < len; n++) {
		char *cp = xmalloc(n ? n : 1);
		memcpy(cp, in, n);
		if (ms_parse(cp, n, &cmd, err, sizeof(err)))
			ms_cmd_free(&cmd);
		else
			ck_assert(err[0] != '\0');
		free(cp);
	}
}
END_TEST

static const struct {
	const char *in, *err;
} bad[] = {
	{ "\r\n", "Expected a command name" },
	{ "CAPABILITY", "Missing CRLF" },
	{ "NOOP  \"x\"\r\n", "Syntax error in arguments" },
	{ "NOOP x\r\n", "Syntax error in arguments" },
	{ "NOOP \"x\r\n", "Bad quoted string" },
	{ "NOOP \"a\\b\"\r\n", "Bad escape in quoted string" },
	{ "NOOP {5+}\r\nab\r\n", "Literal longer than the data" },
	{ "NOOP {x+}\r\n", "Bad literal" },
	{ "NOOP 12345678901\r\n", "Number too large" },
	{ "NOOP \"a\" \"b\" \"c\" \"d\" \"e\"\r\n", "Too many arguments" },
	{ "ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJ\r\n", "Command name too long" },
	{ "NOOP \"a\"", "Missing CRLF" },
};

START_TEST(test_bad)
{
	struct ms_cmd cmd;
	char err[128];
	ck_assert(!ms_parse(bad[_i].in, strlen(bad[_i].in), &cmd, err, sizeof(err)));
	ck_assert_str_eq(err, bad[_i].err);
}
END_TEST

START_TEST(test_marker)
{
	uint64_t n;
	bool sync;
	ck_assert(ms_literal_marker("PUTSCRIPT \"a\" {12+}", 19, &n, &sync));
	ck_assert_uint_eq(n, 12);
	ck_assert(!sync);
	ck_assert(ms_literal_marker("X {0}", 5, &n, &sync));
	ck_assert_uint_eq(n, 0);
	ck_assert(sync);
	ck_assert(!ms_literal_marker("X {}", 4, &n, &sync));
	ck_assert(!ms_literal_marker("X {+}", 5, &n, &sync));
	ck_assert(!ms_literal_marker("X 12}", 5, &n, &sync));
	ck_assert(!ms_literal_marker("X {12345678901+}", 16, &n, &sync));
}
END_TEST

START_TEST(test_write_back)
{
	static const char *const vals[] = { "", "plain", "with \"quote\" and \\", "two\r\nlines" };
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		struct mm_buf b;
		mm_buf_init(&b);
		mm_buf_printf(&b, "X ");
		ms_append_string(&b, vals[i], strlen(vals[i]));
		mm_buf_append(&b, "\r\n", 2);
		struct ms_cmd cmd;
		char err[128];
		ck_assert_msg(ms_parse(b.data, b.len, &cmd, err, sizeof(err)), "%s", err);
		ck_assert_str_eq(cmd.args[0].s, vals[i]);
		ms_cmd_free(&cmd);
		mm_buf_free(&b);
	}
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("ms_parse");
	TCase *tc = tcase_create("parse");
	tcase_add_loop_test(tc, test_good, 0, N(good));
	tcase_add_loop_test(tc, test_bad, 0, N(bad));
	tcase_add_test(tc, test_marker);
	tcase_add_test(tc, test_write_back);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
