/* check_pop3_parse.c: unit tests for the POP3 command parser: every verb
 * with exact results, malformed arguments with their exact -ERR text,
 * oversized lines and NUL bytes. Add a row to a table to add a case. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pop3/pop3-parse.h"

static struct pop3_cmd cmd;

static enum pop3_parse_result
parse(const char *s)
{
	return pop3_parse(s, strlen(s), &cmd);
}

/* ---- good commands ---- */

static const struct {
	const char *line;
	enum pop3_verb verb;
	int has_msg;
	uint32_t msg;
	uint32_t lines;
	const char *arg;
	const char *arg2;   /* NULL: none */
} good[] = {
	{ "STAT", POP3_VERB_STAT, 0, 0, 0, "", NULL },
	{ "stat", POP3_VERB_STAT, 0, 0, 0, "", NULL },
	{ "StAt ", POP3_VERB_STAT, 0, 0, 0, "", NULL },
	{ "NOOP", POP3_VERB_NOOP, 0, 0, 0, "", NULL },
	{ "RSET", POP3_VERB_RSET, 0, 0, 0, "", NULL },
	{ "QUIT", POP3_VERB_QUIT, 0, 0, 0, "", NULL },
	{ "CAPA", POP3_VERB_CAPA, 0, 0, 0, "", NULL },
	{ "stls", POP3_VERB_STLS, 0, 0, 0, "", NULL },
	{ "LIST", POP3_VERB_LIST, 0, 0, 0, "", NULL },
	{ "LIST 1", POP3_VERB_LIST, 1, 1, 0, "", NULL },
	{ "list  42", POP3_VERB_LIST, 1, 42, 0, "", NULL },
	{ "LIST 0", POP3_VERB_LIST, 1, 0, 0, "", NULL },
	{ "LIST 4294967295", POP3_VERB_LIST, 1, 4294967295u, 0, "", NULL },
	{ "UIDL", POP3_VERB_UIDL, 0, 0, 0, "", NULL },
	{ "UIDL 7", POP3_VERB_UIDL, 1, 7, 0, "", NULL },
	{ "RETR 3", POP3_VERB_RETR, 1, 3, 0, "", NULL },
	{ "retr 007", POP3_VERB_RETR, 1, 7, 0, "", NULL },
	{ "DELE 12", POP3_VERB_DELE, 1, 12, 0, "", NULL },
	{ "TOP 1 0", POP3_VERB_TOP, 1, 1, 0, "", NULL },
	{ "top 2 10", POP3_VERB_TOP, 1, 2, 10, "", NULL },
	{ "USER alice@example.org", POP3_VERB_USER, 0, 0, 0, "alice@example.org", NULL },
	{ "user Alice@Example.ORG", POP3_VERB_USER, 0, 0, 0, "Alice@Example.ORG", NULL },
	{ "PASS secret", POP3_VERB_PASS, 0, 0, 0, "secret", NULL },
	{ "PASS two words ", POP3_VERB_PASS, 0, 0, 0, "two words ", NULL },
	{ "PASS  lead", POP3_VERB_PASS, 0, 0, 0, " lead", NULL },
	{ "PASS p\xc3\xa4ss", POP3_VERB_PASS, 0, 0, 0, "p\xc3\xa4ss", NULL },
	{ "AUTH", POP3_VERB_AUTH, 0, 0, 0, "", NULL },
	{ "AUTH plain", POP3_VERB_AUTH, 0, 0, 0, "PLAIN", NULL },
	{ "AUTH PLAIN AGFsaWNlAHNlY3JldA==", POP3_VERB_AUTH, 0, 0, 0, "PLAIN", "AGFsaWNlAHNlY3JldA==" },
	{ "AUTH PLAIN =", POP3_VERB_AUTH, 0, 0, 0, "PLAIN", "=" },
	{ "auth login", POP3_VERB_AUTH, 0, 0, 0, "LOGIN", NULL },
};

START_TEST(test_good)
{
	ck_assert_int_eq(parse(good[_i].line), POP3_PARSE_OK);
	ck_assert_int_eq(cmd.verb, good[_i].verb);
	ck_assert_int_eq(cmd.has_msg, good[_i].has_msg);
	ck_assert_uint_eq(cmd.msg, good[_i].msg);
	ck_assert_uint_eq(cmd.lines, good[_i].lines);
	ck_assert_str_eq(cmd.arg, good[_i].arg);
	ck_assert_uint_eq(cmd.arglen, strlen(good[_i].arg));
	if (good[_i].arg2 == NULL) {
		ck_assert(!cmd.has_arg2);
		ck_assert_str_eq(cmd.arg2, "");
	} else {
		ck_assert(cmd.has_arg2);
		ck_assert_str_eq(cmd.arg2, good[_i].arg2);
	}
	ck_assert_ptr_null(cmd.error);
}
END_TEST

/* ---- malformed commands ---- */

static const struct {
	const char *line;
	enum pop3_parse_result res;
	const char *error;
} badcmds[] = {
	{ "", POP3_PARSE_EMPTY, "Empty command" },
	{ "   ", POP3_PARSE_EMPTY, "Empty command" },
	{ " STAT", POP3_PARSE_UNKNOWN, "Unknown command" },
	{ "FOO", POP3_PARSE_UNKNOWN, "Unknown command" },
	{ "APOP alice 1234567890abcdef1234567890abcdef", POP3_PARSE_UNKNOWN, "Unknown command" },
	{ "STATS", POP3_PARSE_UNKNOWN, "Unknown command" },
	{ "STA", POP3_PARSE_UNKNOWN, "Unknown command" },
	{ "RETRIEVE 1", POP3_PARSE_UNKNOWN, "Unknown command" },
	{ "STAT 1", POP3_PARSE_BAD_ARGS, "Too many arguments" },
	{ "QUIT now", POP3_PARSE_BAD_ARGS, "Too many arguments" },
	{ "RETR", POP3_PARSE_BAD_ARGS, "Missing message number" },
	{ "RETR ", POP3_PARSE_BAD_ARGS, "Missing message number" },
	{ "DELE", POP3_PARSE_BAD_ARGS, "Missing message number" },
	{ "RETR x", POP3_PARSE_BAD_ARGS, "Invalid message number" },
	{ "RETR -1", POP3_PARSE_BAD_ARGS, "Invalid message number" },
	{ "RETR +1", POP3_PARSE_BAD_ARGS, "Invalid message number" },
	{ "RETR 1x", POP3_PARSE_BAD_ARGS, "Invalid message number" },
	{ "RETR 4294967296", POP3_PARSE_BAD_ARGS, "Invalid message number" },
	{ "RETR 12345678901", POP3_PARSE_BAD_ARGS, "Invalid message number" },
	{ "RETR 1 2", POP3_PARSE_BAD_ARGS, "Too many arguments" },
	{ "LIST 1 2", POP3_PARSE_BAD_ARGS, "Too many arguments" },
	{ "UIDL abc", POP3_PARSE_BAD_ARGS, "Invalid message number" },
	{ "TOP", POP3_PARSE_BAD_ARGS, "Usage: TOP msg lines" },
	{ "TOP 1", POP3_PARSE_BAD_ARGS, "Usage: TOP msg lines" },
	{ "TOP 1 2 3", POP3_PARSE_BAD_ARGS, "Too many arguments" },
	{ "TOP a 2", POP3_PARSE_BAD_ARGS, "Invalid message number" },
	{ "TOP 1 -2", POP3_PARSE_BAD_ARGS, "Invalid number of lines" },
	{ "TOP 1 99999999999", POP3_PARSE_BAD_ARGS, "Invalid number of lines" },
	{ "USER", POP3_PARSE_BAD_ARGS, "Missing user name" },
	{ "USER a b", POP3_PARSE_BAD_ARGS, "Too many arguments" },
	{ "PASS", POP3_PARSE_BAD_ARGS, "Missing argument" },
	{ "PASS ", POP3_PARSE_BAD_ARGS, "Missing argument" },
	{ "AUTH PLAIN a b", POP3_PARSE_BAD_ARGS, "Too many arguments" },
	{ "AUTH ABCDEFGHIJKLMNOPQRSTUVWXYZ", POP3_PARSE_BAD_ARGS, "Invalid mechanism" },
	{ "LIST \x01", POP3_PARSE_BAD_ARGS, "Invalid characters in command" },
	{ "USER al\tice", POP3_PARSE_BAD_ARGS, "Invalid characters in command" },
	{ "NOOP \x7f", POP3_PARSE_BAD_ARGS, "Invalid characters in command" },
};

START_TEST(test_bad)
{
	ck_assert_int_eq(parse(badcmds[_i].line), badcmds[_i].res);
	ck_assert_ptr_nonnull(cmd.error);
	ck_assert_str_eq(cmd.error, badcmds[_i].error);
}
END_TEST

/* The verb is still reported for BAD_ARGS (the session needs it to know
 * which state rules apply), and cleared for UNKNOWN. */
START_TEST(test_verb_on_error)
{
	ck_assert_int_eq(parse("RETR x"), POP3_PARSE_BAD_ARGS);
	ck_assert_int_eq(cmd.verb, POP3_VERB_RETR);
	ck_assert_int_eq(parse("XYZZY"), POP3_PARSE_UNKNOWN);
	ck_assert_int_eq(cmd.verb, POP3_VERB_NONE);
}
END_TEST

/* ---- NUL bytes: len is authoritative ---- */

START_TEST(test_nul)
{
	static const char l1[] = "STAT\0";
	static const char l2[] = "USER al\0ice";
	static const char l3[] = "\0";
	static const char l4[] = "PASS sec\0ret";

	ck_assert_int_eq(pop3_parse(l1, sizeof(l1) - 1, &cmd), POP3_PARSE_NUL);
	ck_assert_str_eq(cmd.error, "Invalid command (NUL byte)");
	ck_assert_int_eq(pop3_parse(l2, sizeof(l2) - 1, &cmd), POP3_PARSE_NUL);
	ck_assert_int_eq(pop3_parse(l3, sizeof(l3) - 1, &cmd), POP3_PARSE_NUL);
	ck_assert_int_eq(pop3_parse(l4, sizeof(l4) - 1, &cmd), POP3_PARSE_NUL);
	/* Without the NUL in len, the same bytes parse. */
	ck_assert_int_eq(pop3_parse(l1, 4, &cmd), POP3_PARSE_OK);
	ck_assert_int_eq(cmd.verb, POP3_VERB_STAT);
}
END_TEST

/* The parser must not need a terminating NUL. */
START_TEST(test_not_terminated)
{
	char buf[16];

	memcpy(buf, "RETR 12XXXXXXXXX", 16);
	ck_assert_int_eq(pop3_parse(buf, 7, &cmd), POP3_PARSE_OK);
	ck_assert_uint_eq(cmd.msg, 12);
	ck_assert_int_eq(pop3_parse(buf, 4, &cmd), POP3_PARSE_BAD_ARGS);
}
END_TEST

/* ---- oversized ---- */

static char *
make_line(const char *prefix, size_t total, char fill)
{
	char *s = malloc(total + 1);
	size_t plen = strlen(prefix);
	memcpy(s, prefix, plen);
	memset(s + plen, fill, total - plen);
	s[total] = '\0';
	return s;
}

START_TEST(test_too_long)
{
	char *s;

	/* 253 bytes + CRLF = 255: the RFC 2449 maximum, accepted */
	s = make_line("PASS ", POP3_CMD_MAX_BYTES, 'x');
	ck_assert_int_eq(parse(s), POP3_PARSE_OK);
	ck_assert_uint_eq(cmd.arglen, POP3_CMD_MAX_BYTES - 5);
	free(s);
	/* one more: refused */
	s = make_line("PASS ", POP3_CMD_MAX_BYTES + 1, 'x');
	ck_assert_int_eq(parse(s), POP3_PARSE_TOO_LONG);
	ck_assert_str_eq(cmd.error, "Line too long");
	ck_assert_int_eq(cmd.verb, POP3_VERB_NONE);
	free(s);
	s = make_line("NOOP", 8192, ' ');
	ck_assert_int_eq(parse(s), POP3_PARSE_TOO_LONG);
	free(s);
	s = make_line("X", 300, 'Y');
	ck_assert_int_eq(parse(s), POP3_PARSE_TOO_LONG);
	free(s);
	/* USER with a name over 320 bytes but in a short enough line
	 * cannot happen (320 > 253): the line limit answers first */
	s = make_line("USER ", 330, 'a');
	ck_assert_int_eq(parse(s), POP3_PARSE_TOO_LONG);
	free(s);
	/* a 41-byte USER name is fine (addresses exceed RFC 2449's 40) */
	s = make_line("USER ", 5 + 41, 'a');
	ck_assert_int_eq(parse(s), POP3_PARSE_OK);
	ck_assert_uint_eq(cmd.arglen, 41);
	free(s);
}
END_TEST

START_TEST(test_auth_long)
{
	char *s;

	/* AUTH with a long initial response may exceed 255 (RFC 5034) */
	s = make_line("AUTH PLAIN ", 1000, 'A');
	ck_assert_int_eq(parse(s), POP3_PARSE_OK);
	ck_assert_int_eq(cmd.verb, POP3_VERB_AUTH);
	ck_assert_str_eq(cmd.arg, "PLAIN");
	ck_assert_uint_eq(cmd.arg2len, 1000 - 11);
	free(s);
	s = make_line("AUTH PLAIN ", POP3_SASL_LINE_MAX_BYTES, 'A');
	ck_assert_int_eq(parse(s), POP3_PARSE_OK);
	ck_assert_uint_eq(cmd.arg2len, POP3_SASL_LINE_MAX_BYTES - 11);
	free(s);
	s = make_line("AUTH PLAIN ", POP3_SASL_LINE_MAX_BYTES + 1, 'A');
	ck_assert_int_eq(parse(s), POP3_PARSE_TOO_LONG);
	free(s);
	/* but a long AUTH line of spaces (no mechanism) is too long */
	s = make_line("AUTH", 600, ' ');
	ck_assert_int_eq(parse(s), POP3_PARSE_TOO_LONG);
	free(s);
}
END_TEST

START_TEST(test_verb_names)
{
	ck_assert_str_eq(pop3_verb_name(POP3_VERB_RETR), "RETR");
	ck_assert_str_eq(pop3_verb_name(POP3_VERB_TOP), "TOP");
	ck_assert_str_eq(pop3_verb_name(POP3_VERB_NONE), "?");
	for (int v = POP3_VERB_NONE + 1; v < POP3_VERB_COUNT; v++) {
		char line[16];
		snprintf(line, sizeof(line), "%s", pop3_verb_name(v));
		ck_assert_str_ne(line, "?");
		/* every verb name parses back to itself (args may be wrong) */
		enum pop3_parse_result r = parse(line);
		ck_assert(r == POP3_PARSE_OK || r == POP3_PARSE_BAD_ARGS);
		ck_assert_int_eq(cmd.verb, v);
	}
}
END_TEST

static Suite *
pop3_parse_suite(void)
{
	Suite *s = suite_create("pop3_parse");
	TCase *tc;

	tc = tcase_create("good");
	tcase_add_loop_test(tc, test_good, 0, sizeof(good) / sizeof(good[0]));
	suite_add_tcase(s, tc);
	tc = tcase_create("bad");
	tcase_add_loop_test(tc, test_bad, 0, sizeof(badcmds) / sizeof(badcmds[0]));
	tcase_add_test(tc, test_verb_on_error);
	suite_add_tcase(s, tc);
	tc = tcase_create("bytes");
	tcase_add_test(tc, test_nul);
	tcase_add_test(tc, test_not_terminated);
	tcase_add_test(tc, test_too_long);
	tcase_add_test(tc, test_auth_long);
	tcase_add_test(tc, test_verb_names);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(pop3_parse_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
