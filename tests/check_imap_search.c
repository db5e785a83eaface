/* check_imap_search.c: unit tests for the SEARCH/SORT RETURN options and
 * the ESEARCH response (RFC 4731, RFC 5182, RFC 5267). Each case is a
 * command line pushed through the IMAP parser one byte at a time and
 * whole (both must give the same arguments); its RETURN list is parsed
 * and, when valid, the ESEARCH response for a fixed result is compared
 * byte for byte. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap/imap-parser.h"
#include "imap/imap-searchret.h"

static const struct imap_parser_limits lim = {
	.line_max = 1000, .literal_max = 1024, .args_max = 100, .nesting_max = 8,
};

/* Parses line with the given chunk size; the RETURN list's parse result
 * and the response for nums/modseqs go to out. */
static void
run(const char *line, size_t chunk, const uint32_t *nums, size_t n,
    const uint64_t *ms, bool uid, struct mm_buf *out)
{
	struct imap_parser *p = imap_parser_new(&lim);
	size_t len = strlen(line), pos = 0;
	enum imap_parse_result r = IMAP_PARSE_NEED_MORE;
	while (pos < len && r == IMAP_PARSE_NEED_MORE) {
		size_t want = chunk < len - pos ? chunk : len - pos, used = 0;
		r = imap_parser_push(p, line + pos, want, &used);
		pos += used;
	}
	ck_assert_int_eq(r, IMAP_PARSE_DONE);
	size_t na;
	const struct imap_arg *a = imap_parser_args(p, &na);
	ck_assert_uint_ge(na, 2);
	ck_assert(imap_arg_atom_eq(&a[0], "RETURN"));
	ck_assert_int_eq(a[1].type, IMAP_ARG_LIST);
	struct imap_searchret sr;
	if (!imap_searchret_parse(a[1].list, a[1].count, &sr)) {
		mm_buf_printf(out, "BAD");
	} else {
		bool keep[16];
		imap_esearch_write(out, "t1", uid, &sr, nums, n, ms);
		if (!imap_searchret_answers(&sr))
			mm_buf_printf(out, "silent ");
		if (sr.opts & IMAP_SR_SAVE) {
			ck_assert_uint_le(n, 16);
			imap_searchret_saved(&sr, n, keep);
			mm_buf_printf(out, "saved");
			for (size_t i = 0; i < n; i++)
				if (keep[i])
					mm_buf_printf(out, " %u", nums[i]);
		}
	}
	imap_parser_free(&p);
}

struct rcase {
	const char *line;
	bool uid;
	const uint32_t *nums;
	size_t n;
	const uint64_t *ms;
	const char *want;
};

static const uint32_t asc[] = { 1, 2, 3, 5, 7, 8, 9 };
static const uint64_t asc_ms[] = { 10, 20, 5, 40, 3, 2, 1 };
static const uint32_t sorted[] = { 5, 3, 4, 2, 1 };   /* sort order */
static const uint32_t one[] = { 42 };

#define N(a) a, sizeof(a) / sizeof(a[0])

static const struct rcase rcases[] = {
	/* RFC 4731 3.1: RETURN () is ALL */
	{ "a SEARCH RETURN () ALL\r\n", false, N(asc), NULL,
	    "* ESEARCH (TAG \"t1\") ALL 1:3,5,7:9\r\n" },
	{ "a SEARCH RETURN (ALL) ALL\r\n", true, N(asc), NULL,
	    "* ESEARCH (TAG \"t1\") UID ALL 1:3,5,7:9\r\n" },
	{ "a SEARCH RETURN (min max count) ALL\r\n", false, N(asc), NULL,
	    "* ESEARCH (TAG \"t1\") MIN 1 MAX 9 COUNT 7\r\n" },
	{ "a SEARCH RETURN (COUNT MIN) ALL\r\n", false, N(asc), NULL,
	    "* ESEARCH (TAG \"t1\") MIN 1 COUNT 7\r\n" },
	/* nothing found: only COUNT 0 is said */
	{ "a SEARCH RETURN (MIN MAX ALL COUNT) ALL\r\n", false, NULL, 0, NULL,
	    "* ESEARCH (TAG \"t1\") COUNT 0\r\n" },
	{ "a SEARCH RETURN (MIN) ALL\r\n", true, NULL, 0, NULL,
	    "* ESEARCH (TAG \"t1\") UID\r\n" },
	{ "a SEARCH RETURN (MIN MAX) ALL\r\n", false, N(one), NULL,
	    "* ESEARCH (TAG \"t1\") MIN 42 MAX 42\r\n" },
	/* RFC 7162 3.1.5: MODSEQ of what is returned */
	{ "a SEARCH RETURN (MIN) ALL\r\n", false, N(asc), asc_ms,
	    "* ESEARCH (TAG \"t1\") MIN 1 MODSEQ 10\r\n" },
	{ "a SEARCH RETURN (MAX) ALL\r\n", false, N(asc), asc_ms,
	    "* ESEARCH (TAG \"t1\") MAX 9 MODSEQ 1\r\n" },
	{ "a SEARCH RETURN (MIN MAX) ALL\r\n", false, N(asc), asc_ms,
	    "* ESEARCH (TAG \"t1\") MIN 1 MAX 9 MODSEQ 10\r\n" },
	{ "a SEARCH RETURN (COUNT) ALL\r\n", false, N(asc), asc_ms,
	    "* ESEARCH (TAG \"t1\") COUNT 7 MODSEQ 40\r\n" },
	{ "a SEARCH RETURN (PARTIAL 5:7) ALL\r\n", false, N(asc), asc_ms,
	    "* ESEARCH (TAG \"t1\") PARTIAL (5:7 7:9) MODSEQ 3\r\n" },
	/* SORT order: MIN/MAX are first/last, sets keep the order */
	{ "a SORT RETURN (MIN MAX ALL) (REVERSE ARRIVAL)\r\n", false, N(sorted), NULL,
	    "* ESEARCH (TAG \"t1\") MIN 5 MAX 1 ALL 5,3:4,2,1\r\n" },
	/* RFC 5267 4.4 PARTIAL */
	{ "a SEARCH RETURN (PARTIAL 1:1) ALL\r\n", false, N(asc), NULL,
	    "* ESEARCH (TAG \"t1\") PARTIAL (1:1 1)\r\n" },
	{ "a SEARCH RETURN (PARTIAL 4:2) ALL\r\n", false, N(asc), NULL,
	    "* ESEARCH (TAG \"t1\") PARTIAL (2:4 2:3,5)\r\n" },
	{ "a SEARCH RETURN (PARTIAL 6:100) ALL\r\n", false, N(asc), NULL,
	    "* ESEARCH (TAG \"t1\") PARTIAL (6:100 8:9)\r\n" },
	{ "a SEARCH RETURN (PARTIAL 8:8) ALL\r\n", true, N(asc), NULL,
	    "* ESEARCH (TAG \"t1\") UID PARTIAL (8:8 NIL)\r\n" },
	{ "a SEARCH RETURN (PARTIAL 4294967295:1) ALL\r\n", false, N(sorted), NULL,
	    "* ESEARCH (TAG \"t1\") PARTIAL (1:4294967295 5,3:4,2,1)\r\n" },
	{ "a SEARCH RETURN (PARTIAL 1:2 COUNT) ALL\r\n", false, N(asc), NULL,
	    "* ESEARCH (TAG \"t1\") PARTIAL (1:2 1:2) COUNT 7\r\n" },
	/* RFC 5182 SAVE: alone it is silent; with MIN/MAX only those are kept */
	{ "a SEARCH RETURN (SAVE) ALL\r\n", false, N(sorted), NULL,
	    "* ESEARCH (TAG \"t1\")\r\nsilent saved 5 3 4 2 1" },
	{ "a SEARCH RETURN (SAVE MIN) ALL\r\n", false, N(sorted), NULL,
	    "* ESEARCH (TAG \"t1\") MIN 5\r\nsaved 5" },
	{ "a SEARCH RETURN (SAVE MIN MAX) ALL\r\n", false, N(sorted), NULL,
	    "* ESEARCH (TAG \"t1\") MIN 5 MAX 1\r\nsaved 5 1" },
	{ "a SEARCH RETURN (SAVE MIN COUNT) ALL\r\n", false, N(sorted), NULL,
	    "* ESEARCH (TAG \"t1\") MIN 5 COUNT 5\r\nsaved 5 3 4 2 1" },
	{ "a SEARCH RETURN (SAVE MAX) ALL\r\n", false, NULL, 0, NULL,
	    "* ESEARCH (TAG \"t1\")\r\nsaved" },
	/* RFC 5267: UPDATE and CONTEXT alone answer ALL */
	{ "a SEARCH RETURN (UPDATE) ALL\r\n", false, N(asc), NULL,
	    "* ESEARCH (TAG \"t1\") ALL 1:3,5,7:9\r\n" },
	{ "a SEARCH RETURN (CONTEXT UPDATE) ALL\r\n", false, N(asc), NULL,
	    "* ESEARCH (TAG \"t1\") ALL 1:3,5,7:9\r\n" },
	{ "a SEARCH RETURN (UPDATE COUNT) ALL\r\n", false, N(asc), NULL,
	    "* ESEARCH (TAG \"t1\") COUNT 7\r\n" },
	{ "a SEARCH RETURN (CONTEXT PARTIAL 1:2) ALL\r\n", false, N(asc), NULL,
	    "* ESEARCH (TAG \"t1\") PARTIAL (1:2 1:2)\r\n" },
	{ "a SEARCH RETURN (UPDATE SAVE) ALL\r\n", false, NULL, 0, NULL, "BAD" },
	/* bad input */
	{ "a SEARCH RETURN (FOO) ALL\r\n", false, NULL, 0, NULL, "BAD" },
	{ "a SEARCH RETURN (MIN \"MAX\") ALL\r\n", false, NULL, 0, NULL, "BAD" },
	{ "a SEARCH RETURN ((MIN)) ALL\r\n", false, NULL, 0, NULL, "BAD" },
	{ "a SEARCH RETURN (PARTIAL) ALL\r\n", false, NULL, 0, NULL, "BAD" },
	{ "a SEARCH RETURN (PARTIAL 1) ALL\r\n", false, NULL, 0, NULL, "BAD" },
	{ "a SEARCH RETURN (PARTIAL 1:*) ALL\r\n", false, NULL, 0, NULL, "BAD" },
	{ "a SEARCH RETURN (PARTIAL *:1) ALL\r\n", false, NULL, 0, NULL, "BAD" },
	{ "a SEARCH RETURN (PARTIAL 0:5) ALL\r\n", false, NULL, 0, NULL, "BAD" },
	{ "a SEARCH RETURN (PARTIAL 1:4294967296) ALL\r\n", false, NULL, 0, NULL, "BAD" },
	{ "a SEARCH RETURN (PARTIAL 1:2,5:6) ALL\r\n", false, NULL, 0, NULL, "BAD" },
	{ "a SEARCH RETURN (PARTIAL 1:2 PARTIAL 3:4) ALL\r\n", false, NULL, 0, NULL, "BAD" },
	{ "a SEARCH RETURN (PARTIAL -1:-5) ALL\r\n", false, NULL, 0, NULL, "BAD" },
	{ "a SEARCH RETURN (PARTIAL 01:5) ALL\r\n", false, NULL, 0, NULL, "BAD" },
};

START_TEST(test_return)
{
	const struct rcase *c = &rcases[_i];
	struct mm_buf whole, bytes;
	mm_buf_init(&whole);
	mm_buf_init(&bytes);
	run(c->line, strlen(c->line), c->nums, c->n, c->ms, c->uid, &whole);
	run(c->line, 1, c->nums, c->n, c->ms, c->uid, &bytes);
	ck_assert_str_eq(mm_buf_cstr(&whole), c->want);
	ck_assert_str_eq(mm_buf_cstr(&bytes), c->want);
	mm_buf_free(&whole);
	mm_buf_free(&bytes);
}
END_TEST

/* The tag is quoted as a string, whatever ASTRING-CHARs it holds. */
START_TEST(test_tag)
{
	struct imap_searchret r = { .opts = IMAP_SR_COUNT };
	struct mm_buf b;
	mm_buf_init(&b);
	imap_esearch_write(&b, "A]1.x", false, &r, NULL, 0, NULL);
	ck_assert_str_eq(mm_buf_cstr(&b), "* ESEARCH (TAG \"A]1.x\") COUNT 0\r\n");
	mm_buf_free(&b);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("imap_search");
	TCase *tc = tcase_create("return");
	tcase_add_loop_test(tc, test_return, 0, sizeof(rcases) / sizeof(rcases[0]));
	tcase_add_test(tc, test_tag);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
