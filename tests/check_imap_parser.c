/* check_imap_parser.c: unit tests for the IMAP command parser, sequence
 * sets and modified UTF-7. Every command case is pushed whole, one byte
 * at a time and split at every point; all must give the same transcript,
 * which must equal the expected one exactly. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap/imap-notify.h"
#include "imap/imap-parser.h"
#include "lib/limits.h"

static const struct imap_parser_limits test_limits = {
	.line_max = 100, .literal_max = 1024, .args_max = 10, .nesting_max = 3,
};

/* Pushes in[0..len) in chunks ending at the given cut points and writes
 * one line per event: "+" (continuation), "DONE tag name args",
 * "ERR message [tag]", "FATAL". */
/* The parser's UTF8=ACCEPT mode for the next drive() (test_utf8_commands). */
static bool drive_utf8;

static void
drive(const char *in, size_t len, const size_t *cuts, size_t ncuts, struct mm_buf *out)
{
	struct imap_parser *p = imap_parser_new(&test_limits);
	size_t start = 0;
	bool fatal = false;

	imap_parser_set_utf8(p, drive_utf8);

	for (size_t c = 0; c <= ncuts && !fatal; c++) {
		size_t end = c < ncuts ? cuts[c] : len;
		const char *d = in + start;
		size_t left = end - start;
		while (left > 0) {
			size_t used = 0;
			enum imap_parse_result r = imap_parser_push(p, d, left, &used);
			ck_assert_uint_le(used, left);
			d += used;
			left -= used;
			if (r == IMAP_PARSE_NEED_MORE) {
				ck_assert_uint_eq(left, 0);
				break;
			}
			if (r == IMAP_PARSE_CONTINUE) {
				mm_buf_append(out, "+\n", 2);
			} else if (r == IMAP_PARSE_DONE) {
				size_t n;
				const struct imap_arg *a = imap_parser_args(p, &n);
				mm_buf_printf(out, "DONE %s %s [", imap_parser_tag(p),
				    imap_parser_name(p));
				imap_args_write(out, a, n);
				mm_buf_append(out, "]\n", 2);
				imap_parser_reset(p);
			} else {
				const char *tag = imap_parser_tag(p);
				mm_buf_printf(out, "ERR %s%s%s\n",
				    imap_parser_strerror(imap_parser_error(p)),
				    tag ? " " : "", tag ? tag : "");
				if (imap_parser_fatal(p)) {
					mm_buf_append(out, "FATAL\n", 6);
					fatal = true;
					break;
				}
				imap_parser_reset(p);
			}
		}
		start = end;
	}
	if (!fatal && !imap_parser_idle(p))
		mm_buf_append(out, "PARTIAL\n", 8);
	imap_parser_free(&p);
	ck_assert_ptr_null(p);
}

struct pcase {
	const char *in;
	size_t len;        /* 0: strlen(in) */
	const char *want;
};

#define LONG_LINE "a1 X aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

static const struct pcase pcases[] = {
	{ "a1 NOOP\r\n", 0, "DONE a1 NOOP []\n" },
	{ "a1 noop\n", 0, "DONE a1 noop []\n" },
	{ "\r\n\r\nA.b NOOP\r\n", 0, "DONE A.b NOOP []\n" },
	{ "a1 NOOP\r\na2 CAPABILITY\r\n", 0,
	  "DONE a1 NOOP []\nDONE a2 CAPABILITY []\n" },
	{ "a1 LOGIN alice \"se\\\"c\\\\ret\"\r\n", 0,
	  "DONE a1 LOGIN [alice \"se\\\"c\\\\ret\"]\n" },
	{ "a1 LOGIN {5}\r\nalice {6+}\r\nsecret\r\n", 0,
	  "+\nDONE a1 LOGIN [{5}\r\nalice {6}\r\nsecret]\n" },
	{ "a1 FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (From To)]<0.100> UID)\r\n", 0,
	  "DONE a1 FETCH [1:* (FLAGS BODY.PEEK[HEADER.FIELDS (From To)]<0.100> UID)]\n" },
	{ "a1 X NIL nil (NIL) \"NIL\"\r\n", 0, "DONE a1 X [NIL NIL (NIL) \"NIL\"]\n" },
	{ "a1 X () ((a) b)\r\n", 0, "DONE a1 X [() ((a) b)]\n" },
	{ "a1 X  a   b \r\n", 0, "DONE a1 X [a b]\n" },
	{ "a1 STORE 1 +FLAGS (\\Seen \\Deleted $Junk)\r\n", 0,
	  "DONE a1 STORE [1 +FLAGS (\\Seen \\Deleted $Junk)]\n" },
	{ "a1 APPEND INBOX ~{3}\r\na\001b\r\n", 0, "+\nDONE a1 APPEND [INBOX ~{3}\r\na\001b]\n" },
	{ "a1 SELECT ~abc ~\r\n", 0, "DONE a1 SELECT [~abc ~]\n" },
	{ "a1 X {0}\r\n\r\n", 0, "+\nDONE a1 X [{0}\r\n]\n" },
	{ "a1 X {0+}\r\n y\r\n", 0, "DONE a1 X [{0}\r\n y]\n" },
	{ "a1 X {3}\r\na\r\n (b)\r\n", 0, "+\nDONE a1 X [{3}\r\na\r\n (b)]\n" },
	{ "a1 SELECT Entw\xc3\xbcrfe\r\n", 0, "DONE a1 SELECT [Entw\xc3\xbcrfe]\n" },
	{ "a1 LIST \"\" *\r\n", 0, "DONE a1 LIST [\"\" *]\n" },
	/* '[' is an ATOM-CHAR; only a section after BODY/BINARY... is bracketed */
	{ "a1 X [a b]c d\r\n", 0, "DONE a1 X [[a b]c d]\n" },
	{ "a1 SELECT a[b\r\n", 0, "DONE a1 SELECT [a[b]\n" },
	{ "a1 LIST \"\" !#$&'+,-.0123456789:;<=>?@^_`|[}%*\r\n", 0,
	  "DONE a1 LIST [\"\" !#$&'+,-.0123456789:;<=>?@^_`|[}%*]\n" },
	{ "a1 CREATE x[ (y)\r\n", 0, "DONE a1 CREATE [x[ (y)]\n" },
	{ "a1 FETCH 1 (body[header.fields (A B)] BINARY.PEEK[1]<0.5>)\r\n", 0,
	  "DONE a1 FETCH [1 (body[header.fields (A B)] BINARY.PEEK[1]<0.5>)]\n" },
	{ "a1 FETCH 1 BODY[HEADER\r\na2 NOOP\r\n", 0,
	  "ERR Unexpected character a1\nDONE a2 NOOP []\n" },
	/* errors, each followed by a good command to show resynchronisation */
	{ "* NOOP\r\na2 NOOP\r\n", 0, "ERR Missing or invalid tag\nDONE a2 NOOP []\n" },
	{ "+ NOOP\r\na2 NOOP\r\n", 0, "ERR Missing or invalid tag\nDONE a2 NOOP []\n" },
	{ "a1\r\na2 NOOP\r\n", 0, "ERR Missing command a1\nDONE a2 NOOP []\n" },
	{ "a1 \r\n", 0, "ERR Missing command a1\n" },
	{ "a1  NOOP\r\na2 NOOP\r\n", 0, "ERR Missing command a1\nDONE a2 NOOP []\n" },
	{ "a1 NO[OP\r\n", 0, "ERR Unexpected character a1\n" },
	{ "a1 X \"ab\\c\" d\r\na2 NOOP\r\n", 0,
	  "ERR Invalid quoted string a1\nDONE a2 NOOP []\n" },
	{ "a1 X \"ab\r\na2 NOOP\r\n", 0, "ERR Invalid quoted string a1\nDONE a2 NOOP []\n" },
	{ "a1 X \"ab\na2 NOOP\r\n", 0, "ERR Invalid quoted string a1\nDONE a2 NOOP []\n" },
	{ "a1 X \"a\0b\"\r\na2 NOOP\r\n", 21, "ERR Invalid quoted string a1\nDONE a2 NOOP []\n" },
	{ "a1 X (a b\r\na2 NOOP\r\n", 0, "ERR Missing ')' a1\nDONE a2 NOOP []\n" },
	{ "a1 X a)\r\na2 NOOP\r\n", 0, "ERR Unexpected ')' a1\nDONE a2 NOOP []\n" },
	{ "a1 X (a)b\r\n", 0, "ERR Unexpected character a1\n" },
	{ "a1 X a\"b\r\n", 0, "ERR Unexpected character a1\n" },
	{ "a1 X a\rb\r\na2 NOOP\r\n", 0, "ERR CR without LF a1\nDONE a2 NOOP []\n" },
	{ "a1 X {5}x\r\na2 NOOP\r\n", 0, "ERR Invalid literal a1\nDONE a2 NOOP []\n" },
	{ "a1 X {}\r\n", 0, "ERR Invalid literal a1\n" },
	{ "a1 X {+}\r\n", 0, "ERR Invalid literal a1\n" },
	{ "a1 X {5\r\n", 0, "ERR Invalid literal a1\n" },
	{ "a1 X {1025}\r\na2 NOOP\r\n", 0, "ERR Literal too big a1\nDONE a2 NOOP []\n" },
	{ "a1 X {99999999999999999999999}\r\n", 0, "ERR Literal too big a1\n" },
	{ "a1 X {1025+}\r\na2 NOOP\r\n", 0, "ERR Literal too big a1\nFATAL\n" },
	{ "a1 X ((((a))))\r\na2 NOOP\r\n", 0,
	  "ERR Lists nested too deeply a1\nDONE a2 NOOP []\n" },
	{ "a1 X (((a)))\r\n", 0, "DONE a1 X [(((a)))]\n" },
	{ "a1 X 1 2 3 4 5 6 7 8 9 10\r\n", 0, "DONE a1 X [1 2 3 4 5 6 7 8 9 10]\n" },
	{ "a1 X 1 2 3 4 5 6 7 8 9 10 11\r\na2 NOOP\r\n", 0,
	  "ERR Too many arguments a1\nDONE a2 NOOP []\n" },
	{ "a1 X (1 2 3 4) (5 6 7) 8 9\r\n", 0, "ERR Too many arguments a1\n" },
	{ "a1 X 1 2 3 4 5 6 7 8 9 10 {3+}\r\nabc\r\na2 NOOP\r\n", 0,
	  "ERR Too many arguments a1\nDONE a2 NOOP []\n" },
	{ LONG_LINE "\r\na2 NOOP\r\n", 0, "ERR Line too long a1\nDONE a2 NOOP []\n" },
	{ "a1 X {3+}\r\nabc " LONG_LINE LONG_LINE "\r\n", 0,
	  "ERR Line too long a1\n" },
	/* a bad line announcing a LITERAL+ literal: the literal is swallowed */
	{ "a1 X \"\\q\" {3+}\r\na\r\n\r\na2 NOOP\r\n", 0,
	  "ERR Invalid quoted string a1\nDONE a2 NOOP []\n" },
	{ "a1 X \"\\q\" {2000+}\r\n", 0, "ERR Invalid quoted string a1\nERR Literal too big\nFATAL\n" },
	/* literal bytes of one command together are bounded */
	{ "a1 X {600+}\r\n"
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	  " {600}\r\na2 NOOP\r\n", 0, "ERR Literal too big a1\nDONE a2 NOOP []\n" },
	{ "a1 NOOP", 0, "PARTIAL\n" },
};

static void
run_case(const struct pcase *pc, struct mm_buf *whole)
{
	size_t len = pc->len ? pc->len : strlen(pc->in);
	struct mm_buf b;

	mm_buf_init(whole);
	drive(pc->in, len, NULL, 0, whole);
	ck_assert_msg(whole->len == strlen(pc->want) &&
	    memcmp(whole->data, pc->want, whole->len) == 0,
	    "case %s: got '%s' want '%s'", pc->in, mm_buf_cstr(whole), pc->want);

	/* one byte at a time */
	size_t *cuts = malloc((len + 1) * sizeof(*cuts));
	for (size_t i = 0; i < len; i++)
		cuts[i] = i + 1;
	mm_buf_init(&b);
	drive(pc->in, len, cuts, len, &b);
	ck_assert_msg(b.len == whole->len && memcmp(b.data, whole->data, b.len) == 0,
	    "case %s byte-at-a-time: got '%s'", pc->in, mm_buf_cstr(&b));
	mm_buf_free(&b);

	/* every split point */
	for (size_t k = 0; k <= len; k++) {
		cuts[0] = k;
		mm_buf_init(&b);
		drive(pc->in, len, cuts, 1, &b);
		ck_assert_msg(b.len == whole->len && memcmp(b.data, whole->data, b.len) == 0,
		    "case %s split at %zu: got '%s'", pc->in, k, mm_buf_cstr(&b));
		mm_buf_free(&b);
	}
	free(cuts);
}

START_TEST(test_commands)
{
	struct mm_buf whole;
	run_case(&pcases[_i], &whole);
	mm_buf_free(&whole);
}
END_TEST

/* UTF8=ACCEPT (RFC 6855): with the mode on, quoted strings carry UTF-8
 * and only valid UTF-8; off, their 8-bit bytes pass as before. APPEND's
 * UTF8 (~{n}) data item parses in both. */
static const struct {
	bool utf8;
	struct pcase c;
} u8cases[] = {
	{ true, { "a1 SELECT \"Entw\xc3\xbcrfe\"\r\n", 0,
	  "DONE a1 SELECT [\"Entw\xc3\xbcrfe\"]\n" } },
	{ true, { "a1 CREATE \"\xe2\x82\xac/\xf0\x9f\x93\xa7 &-\"\r\n", 0,
	  "DONE a1 CREATE [\"\xe2\x82\xac/\xf0\x9f\x93\xa7 &-\"]\n" } },
	{ true, { "a1 X \"a\\\"\xc3\xa4\\\\\"\r\n", 0, "DONE a1 X [\"a\\\"\xc3\xa4\\\\\"]\n" } },
	{ true, { "a1 SELECT Entw\xc3\xbcrfe\r\n", 0, "DONE a1 SELECT [Entw\xc3\xbcrfe]\n" } },
	{ true, { "a1 SELECT \"\xff\"\r\na2 NOOP\r\n", 0,
	  "ERR Invalid quoted string a1\nDONE a2 NOOP []\n" } },
	{ true, { "a1 SELECT \"a\xc0\xaf" "b\"\r\na2 NOOP\r\n", 0,        /* overlong '/' */
	  "ERR Invalid quoted string a1\nDONE a2 NOOP []\n" } },
	{ true, { "a1 SELECT \"a\xc3\"\r\na2 NOOP\r\n", 0,            /* cut short */
	  "ERR Invalid quoted string a1\nDONE a2 NOOP []\n" } },
	{ true, { "a1 SELECT \"\xed\xa0\x80\"\r\na2 NOOP\r\n", 0,      /* a surrogate */
	  "ERR Invalid quoted string a1\nDONE a2 NOOP []\n" } },
	{ true, { "a1 SELECT \"\xf4\x90\x80\x80\"\r\na2 NOOP\r\n", 0, /* above U+10FFFF */
	  "ERR Invalid quoted string a1\nDONE a2 NOOP []\n" } },
	{ false, { "a1 SELECT \"\xff\"\r\n", 0, "DONE a1 SELECT [\"\xff\"]\n" } },
	{ true, { "a1 APPEND INBOX (\\Seen) UTF8 (~{4}\r\n\xc3\xa4\r\n)\r\n", 0,
	  "+\nDONE a1 APPEND [INBOX (\\Seen) UTF8 (~{4}\r\n\xc3\xa4\r\n)]\n" } },
	{ false, { "a1 APPEND INBOX UTF8 (~{2+}\r\n\xff\x01)\r\n", 0,
	  "DONE a1 APPEND [INBOX UTF8 (~{2}\r\n\xff\x01)]\n" } },
};

START_TEST(test_utf8_commands)
{
	struct mm_buf whole;
	drive_utf8 = u8cases[_i].utf8;
	run_case(&u8cases[_i].c, &whole);
	drive_utf8 = false;
	mm_buf_free(&whole);
}
END_TEST

/* The arguments' types and exact bytes, not only their rendering. */
START_TEST(test_arg_types)
{
	static const char in[] = "t1 APPEND \"Sent\" (\\Seen) \"01-Jan-2024 10:00:00 +0000\" {4}\r\nab\0c\r\n";
	struct imap_parser *p = imap_parser_new(&test_limits);
	size_t used, n;
	ck_assert_int_eq(imap_parser_push(p, in, sizeof(in) - 1, &used), IMAP_PARSE_CONTINUE);
	size_t first = used;
	ck_assert_uint_eq(imap_parser_literal_size(p), 4);
	ck_assert_int_eq(imap_parser_push(p, in + first, sizeof(in) - 1 - first, &used),
	    IMAP_PARSE_DONE);
	ck_assert_uint_eq(first + used, sizeof(in) - 1);
	const struct imap_arg *a = imap_parser_args(p, &n);
	ck_assert_uint_eq(n, 4);
	ck_assert_int_eq(a[0].type, IMAP_ARG_STRING);
	ck_assert_str_eq(a[0].str, "Sent");
	ck_assert_int_eq(a[1].type, IMAP_ARG_LIST);
	ck_assert_uint_eq(a[1].count, 1);
	ck_assert_int_eq(a[1].list[0].type, IMAP_ARG_ATOM);
	ck_assert_str_eq(a[1].list[0].str, "\\Seen");
	ck_assert_int_eq(a[3].type, IMAP_ARG_LITERAL);
	ck_assert_uint_eq(a[3].len, 4);
	ck_assert(memcmp(a[3].str, "ab\0c", 4) == 0);

	const char *s;
	size_t sl;
	uint32_t num;
	ck_assert(imap_arg_astring(&a[0], &s, &sl) && sl == 4);
	ck_assert(!imap_arg_astring(&a[1], &s, &sl));
	ck_assert(imap_arg_string(&a[3], &s, &sl) && sl == 4);
	ck_assert(!imap_arg_atom(&a[0], &s));
	ck_assert(imap_arg_atom_eq(&a[1].list[0], "\\SEEN"));
	ck_assert(!imap_arg_number(&a[0], &num));
	imap_parser_free(&p);
}
END_TEST

START_TEST(test_numbers)
{
	struct imap_parser *p = imap_parser_new(&test_limits);
	static const char in[] = "t NUM 0 4294967295 4294967296 12a 18446744073709551615 18446744073709551616\r\n";
	size_t used, n;
	ck_assert_int_eq(imap_parser_push(p, in, sizeof(in) - 1, &used), IMAP_PARSE_DONE);
	const struct imap_arg *a = imap_parser_args(p, &n);
	uint32_t v;
	uint64_t v64;
	ck_assert(imap_arg_number(&a[0], &v) && v == 0);
	ck_assert(imap_arg_number(&a[1], &v) && v == 4294967295u);
	ck_assert(!imap_arg_number(&a[2], &v));
	ck_assert(imap_arg_number64(&a[2], &v64) && v64 == 4294967296ull);
	ck_assert(!imap_arg_number(&a[3], &v));
	ck_assert(imap_arg_number64(&a[4], &v64) && v64 == UINT64_MAX);
	ck_assert(!imap_arg_number64(&a[5], &v64));
	imap_parser_free(&p);
}
END_TEST

/* Limits may be raised after login (APPENDLIMIT). */
START_TEST(test_set_limits)
{
	struct imap_parser *p = imap_parser_new(&test_limits);
	struct imap_parser_limits big = test_limits;
	size_t used;
	ck_assert_int_eq(imap_parser_push(p, "a X {2000}\r\n", 12, &used), IMAP_PARSE_ERROR);
	ck_assert_int_eq(imap_parser_error(p), IMAP_PERR_LITERAL_TOO_BIG);
	ck_assert_uint_eq(imap_parser_literal_size(p), 2000);
	imap_parser_reset(p);
	big.literal_max = 4096;
	big.nesting_max = 5;
	imap_parser_set_limits(p, &big);
	ck_assert_int_eq(imap_parser_push(p, "a X {2000}\r\n", 12, &used), IMAP_PARSE_CONTINUE);
	imap_parser_free(&p);
}
END_TEST

/* ---- sequence sets ---- */

struct seqcase {
	const char *s;
	bool ok;
	uint32_t star;
	const char *members;   /* numbers 1..20 in the set, "1,2,..." */
	uint32_t max;
};

static const struct seqcase seqcases[] = {
	{ "1", true, 10, "1", 1 },
	{ "1:3,5", true, 10, "1,2,3,5", 5 },
	{ "3:1", true, 10, "1,2,3", 3 },
	{ "*", true, 10, "10", 10 },
	{ "8:*", true, 10, "8,9,10", 10 },
	{ "*:8", true, 10, "8,9,10", 10 },
	{ "15:*", true, 10, "10,11,12,13,14,15", 15 },   /* UID semantics */
	{ "1,1,2:2", true, 10, "1,2", 2 },
	{ "*", true, 0, "", 0 },
	{ "4294967294", true, 10, "", 4294967294u },
	/* RFC 9051 9: numbers go up to 4294967295; '*' is not one of them */
	{ "4294967295", true, 10, "", 4294967295u },
	{ "1:4294967295", true, 10, "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20",
	  4294967295u },
	{ "4294967295:*", true, 10, "10,11,12,13,14,15,16,17,18,19,20", 4294967295u },
	{ "", false, 0, "", 0 },
	{ "0", false, 0, "", 0 },
	{ "1:0", false, 0, "", 0 },
	{ "01", false, 0, "", 0 },
	{ "1,", false, 0, "", 0 },
	{ ",1", false, 0, "", 0 },
	{ "1::2", false, 0, "", 0 },
	{ "1:", false, 0, "", 0 },
	{ "a", false, 0, "", 0 },
	{ "1 2", false, 0, "", 0 },
	{ "4294967296", false, 0, "", 0 },
	{ "99999999999", false, 0, "", 0 },
	{ "$", false, 0, "", 0 },
};

START_TEST(test_seqset)
{
	const struct seqcase *sc = &seqcases[_i];
	struct imap_seqset set = { 0 };
	ck_assert_msg(imap_seqset_parse(&set, sc->s) == sc->ok, "seqset '%s'", sc->s);
	if (sc->ok) {
		struct mm_buf b;
		mm_buf_init(&b);
		for (uint32_t n = 1; n <= 20; n++) {
			if (imap_seqset_contains(&set, n, sc->star))
				mm_buf_printf(&b, "%s%u", b.len ? "," : "", n);
		}
		ck_assert_str_eq(mm_buf_cstr(&b), sc->members);
		ck_assert_uint_eq(imap_seqset_max(&set, sc->star), sc->max);
		mm_buf_free(&b);
	}
	imap_seqset_free(&set);
}
END_TEST

START_TEST(test_seqset_write)
{
	static const uint32_t nums[] = { 1, 2, 3, 5, 7, 8, 100 };
	struct mm_buf b;
	mm_buf_init(&b);
	imap_seqset_write_numbers(&b, nums, 7);
	ck_assert_str_eq(mm_buf_cstr(&b), "1:3,5,7:8,100");
	b.len = 0;
	imap_seqset_write_numbers(&b, nums, 0);
	ck_assert_str_eq(mm_buf_cstr(&b), "");
	b.len = 0;
	imap_seqset_write_numbers(&b, nums + 6, 1);
	ck_assert_str_eq(mm_buf_cstr(&b), "100");
	mm_buf_free(&b);
}
END_TEST

/* ---- modified UTF-7 ---- */

struct u7case {
	const char *utf7;
	const char *utf8;
};

static const struct u7case u7cases[] = {
	{ "INBOX", "INBOX" },
	{ "Entw&APw-rfe", "Entw\xc3\xbcrfe" },
	{ "&-", "&" },
	{ "Tom &- Jerry", "Tom & Jerry" },
	/* RFC 3501 5.1.3 example */
	{ "~peter/mail/&U,BTFw-/&ZeVnLIqe-", "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e" },
	{ "&2D3eAA-", "\xf0\x9f\x98\x80" },     /* U+1F600, a surrogate pair */
	{ "&AOQA9gD8-", "\xc3\xa4\xc3\xb6\xc3\xbc" },
	{ "", "" },
};

START_TEST(test_mutf7_roundtrip)
{
	const struct u7case *uc = &u7cases[_i];
	struct mm_buf b;
	mm_buf_init(&b);
	ck_assert(imap_mutf7_to_utf8(uc->utf7, strlen(uc->utf7), &b));
	ck_assert_str_eq(mm_buf_cstr(&b), uc->utf8);
	b.len = 0;
	ck_assert(imap_utf8_to_mutf7(uc->utf8, strlen(uc->utf8), &b));
	ck_assert_str_eq(mm_buf_cstr(&b), uc->utf7);
	mm_buf_free(&b);
}
END_TEST

static const char *const bad_utf7[] = {
	"&",            /* unterminated */
	"&U,BTFw",      /* unterminated */
	"&U,BTFw!-",    /* bad base64 */
	"&U/BTFw-",     /* '/' is ',' in modified base64 */
	"&APw=-",       /* no '=' padding in modified base64 */
	"&AGE-",        /* 'a' must not be encoded */
	"&2D0-",        /* lone high surrogate */
	"&3gA-",        /* lone low surrogate */
	"&APw-&APw-",   /* two adjacent runs */
	"&APy-",        /* non-zero padding bits */
	"&AP-",         /* too few bits for a unit */
	"&ABk-",        /* encoded control character (found by fuzz_imap) */
	"a&AAA-b",      /* encoded NUL */
	"&AH8-",        /* encoded DEL */
	"a\x7f",        /* control */
	"a\xc3\xbc",    /* 8-bit */
	"a\tb",
};

START_TEST(test_mutf7_bad)
{
	struct mm_buf b;
	mm_buf_init(&b);
	ck_assert_msg(!imap_mutf7_to_utf8(bad_utf7[_i], strlen(bad_utf7[_i]), &b),
	    "accepted '%s'", bad_utf7[_i]);
	mm_buf_free(&b);
}
END_TEST

static const char *const bad_utf8[] = {
	"\xff", "a\xc3", "\xc0\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "a\tb",
	"\xe0\x80\x80",
};

START_TEST(test_utf8_bad)
{
	struct mm_buf b;
	mm_buf_init(&b);
	ck_assert(!imap_utf8_to_mutf7(bad_utf8[_i], strlen(bad_utf8[_i]), &b));
	mm_buf_free(&b);
}
END_TEST

/* ---- IMAP URLs (RFC 5092, the CATENATE form) ---- */

static const struct urlcase {
	const char *url;
	bool ok;
	const char *mbox;
	uint32_t uidvalidity, uid;
	const char *section;
	bool partial;
	uint32_t poff, plen;
} urlcases[] = {
	{ "/INBOX/;UID=5", true, "INBOX", 0, 5, "", false, 0, 0 },
	{ "/INBOX;UIDVALIDITY=1234/;UID=7/;SECTION=HEADER", true, "INBOX", 1234, 7, "HEADER",
	  false, 0, 0 },
	{ "/Sent/;uid=1/;section=1.2.MIME", true, "Sent", 0, 1, "1.2.MIME", false, 0, 0 },
	{ "/a%20b/c/;UID=3/;SECTION=HEADER.FIELDS%20(From%20To)/;PARTIAL=0.10", true, "a b/c",
	  0, 3, "HEADER.FIELDS (From To)", true, 0, 10 },
	{ "/Entw&APw-rfe/;UID=9/;PARTIAL=100000.1", true, "Entw&APw-rfe", 0, 9, "", true,
	  100000, 1 },
	{ "/X/;UID=2/;PARTIAL=5", true, "X", 0, 2, "", true, 5, 0 },
	{ "/X/;UID=4294967295", true, "X", 0, 4294967295u, "", false, 0, 0 },
	{ "", false, NULL, 0, 0, NULL, false, 0, 0 },
	{ "INBOX/;UID=5", false, NULL, 0, 0, NULL, false, 0, 0 },
	{ "imap://u@h/INBOX/;UID=5", false, NULL, 0, 0, NULL, false, 0, 0 },
	{ "/INBOX", false, NULL, 0, 0, NULL, false, 0, 0 },
	{ "//;UID=5", false, NULL, 0, 0, NULL, false, 0, 0 },
	{ "/INBOX/;UID=0", false, NULL, 0, 0, NULL, false, 0, 0 },
	{ "/INBOX/;UID=4294967296", false, NULL, 0, 0, NULL, false, 0, 0 },
	{ "/INBOX/;UID=5x", false, NULL, 0, 0, NULL, false, 0, 0 },
	{ "/INBOX;UIDVALIDITY=/;UID=5", false, NULL, 0, 0, NULL, false, 0, 0 },
	{ "/INBOX/;UID=5/;SECTION=", false, NULL, 0, 0, NULL, false, 0, 0 },
	{ "/INBOX/;UID=5/;SECTION=BOGUS", false, NULL, 0, 0, NULL, false, 0, 0 },
	{ "/INBOX/;UID=5/;PARTIAL=1.0", false, NULL, 0, 0, NULL, false, 0, 0 },
	{ "/INBOX/;UID=5/;PARTIAL=", false, NULL, 0, 0, NULL, false, 0, 0 },
	{ "/IN%0BOX/;UID=5", false, NULL, 0, 0, NULL, false, 0, 0 },
	{ "/IN%00BOX/;UID=5", false, NULL, 0, 0, NULL, false, 0, 0 },
	{ "/IN%4/;UID=5", false, NULL, 0, 0, NULL, false, 0, 0 },
	{ "/INBOX/;UID=5/;URLAUTH=anonymous", false, NULL, 0, 0, NULL, false, 0, 0 },
};

START_TEST(test_url)
{
	const struct urlcase *c = &urlcases[_i];
	struct imap_url u;
	bool ok = imap_url_parse(c->url, strlen(c->url), &u);
	ck_assert_msg(ok == c->ok, "url '%s'", c->url);
	if (!ok)
		return;
	ck_assert_str_eq(u.mbox, c->mbox);
	ck_assert_uint_eq(u.uidvalidity, c->uidvalidity);
	ck_assert_uint_eq(u.uid, c->uid);
	ck_assert_str_eq(u.section, c->section);
	ck_assert_int_eq(u.partial, c->partial);
	ck_assert_uint_eq(u.poff, c->poff);
	ck_assert_uint_eq(u.plen, c->plen);
}
END_TEST

START_TEST(test_url_oversized)
{
	struct imap_url u;
	char *big = malloc(IMAP_URL_MAX_BYTES + 20);
	memset(big, 'a', IMAP_URL_MAX_BYTES + 20);
	big[0] = '/';
	memcpy(big + IMAP_URL_MAX_BYTES + 20 - 7, "/;UID=1", 7);
	ck_assert(!imap_url_parse(big, IMAP_URL_MAX_BYTES + 20, &u));
	/* a mailbox name longer than the buffer, within the URL limit */
	ck_assert(!imap_url_parse(big + IMAP_URL_MAX_BYTES + 20 - 1200, 1200, &u) ||
	    strlen(u.mbox) < IMAP_URL_MBOX_MAX);
	free(big);
}
END_TEST

/* URLAUTH URLs (RFC 4467 2): owner, path, access, rump and token. */
static const struct {
	const char *in;
	bool ok;
	const char *owner, *mbox;
	uint32_t uid;
	const char *section;
	int access;
	const char *access_user;
	int unused;
	bool token, expire;
} uacases[] = {
	{ "imap://joe@example.com/INBOX/;uid=20;urlauth=user+fred", true,
	  "joe@example.com", "INBOX", 20, "", IMAP_URLAUTH_USER, "fred", 55, false, false },
	{ "imap://joe@example.com/INBOX/;UID=20/;section=1.2;URLAUTH=anonymous:INTERNAL:"
	  "91354a473744909de610943775f92038", true,
	  "joe@example.com", "INBOX", 20, "1.2", IMAP_URLAUTH_ANONYMOUS, "", 73, true, false },
	{ "imap://Joe%40Example.COM@imap.example.net:143/a%20b/;uid=1;urlauth=authuser", true,
	  "joe@example.com", "a b", 1, "", IMAP_URLAUTH_AUTHUSER, "", 75, false, false },
	{ "imap://joe;AUTH=*@example.com/x/;uid=1;urlauth=submit+Joe%40example.com", true,
	  "joe@example.com", "x", 1, "", IMAP_URLAUTH_SUBMIT, "joe@example.com", 70, false, false },
	{ "imap://joe@example.com/x/;uid=1;expire=2030-01-01T00:00:00Z;urlauth=authuser", true,
	  "joe@example.com", "x", 1, "", IMAP_URLAUTH_AUTHUSER, "", 76, false, true },
	/* bad */
	{ "imap://joe@example.com/INBOX/;uid=20", false, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
	{ "imap://example.com/INBOX/;uid=20;urlauth=authuser", false, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
	{ "imap://joe@/INBOX/;uid=20;urlauth=authuser", false, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
	{ "http://joe@h/INBOX/;uid=20;urlauth=authuser", false, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
	{ "imap://joe@h/INBOX/;uid=0;urlauth=authuser", false, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
	{ "imap://joe@h/INBOX/;uid=1;urlauth=nobody", false, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
	{ "imap://joe@h/INBOX/;uid=1;urlauth=user+", false, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
	{ "imap://joe@h/INBOX/;uid=1;urlauth=authuser:INTERNAL", false, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
	{ "imap://joe@h/INBOX/;uid=1;urlauth=authuser:INTERNAL:abc", false, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
	{ "imap://joe@h/INBOX/;uid=1;urlauth=authuser::91354a473744909de610943775f92038",
	  false, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
	{ "imap://joe@h/INBOX/;uid=1;urlauth=authuser:INTERNAL:91354a473744909de610943775f9203x",
	  false, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
	{ "imap://joe@h/IN BOX/;uid=1;urlauth=authuser", false, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
	{ "imap://joe@h/%00/;uid=1;urlauth=authuser", false, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
	{ "imap://jo%4@h/x/;uid=1;urlauth=authuser", false, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
};

START_TEST(test_urlauth)
{
	struct imap_urlauth ua;
	const char *in = uacases[_i].in;
	bool ok = imap_urlauth_parse(in, strlen(in), &ua);

	ck_assert_msg(ok == uacases[_i].ok, "%s", in);
	if (!ok)
		return;
	ck_assert_str_eq(ua.owner, uacases[_i].owner);
	ck_assert_str_eq(ua.url.mbox, uacases[_i].mbox);
	ck_assert_uint_eq(ua.url.uid, uacases[_i].uid);
	ck_assert_str_eq(ua.url.section, uacases[_i].section);
	ck_assert_int_eq(ua.access, uacases[_i].access);
	ck_assert_str_eq(ua.access_user, uacases[_i].access_user);
	/* the rump: all but ":mechanism:token" */
	const char *mt = strstr(in, ":INTERNAL:");
	ck_assert_uint_eq(ua.rump_len, mt != NULL ? (size_t)(mt - in) : strlen(in));
	ck_assert(ua.has_token == uacases[_i].token);
	ck_assert(ua.expire == uacases[_i].expire);
	/* every prefix of a URL without a token is no URL or a shorter one */
	for (size_t n = 0; n < strlen(in); n++) {
		struct imap_urlauth p;
		if (imap_urlauth_parse(in, n, &p))
			ck_assert_uint_le(p.rump_len, n);
	}
}
END_TEST

START_TEST(test_urlauth_oversized)
{
	char big[IMAP_URL_MAX_BYTES + 64];
	struct imap_urlauth ua;
	const char *pre = "imap://joe@h/", *post = "/;uid=1;urlauth=authuser";
	size_t n = strlen(pre);
	memcpy(big, pre, n);
	memset(big + n, 'a', IMAP_URL_MAX_BYTES - n);
	memcpy(big + IMAP_URL_MAX_BYTES, post, strlen(post));
	ck_assert(!imap_urlauth_parse(big, IMAP_URL_MAX_BYTES + strlen(post), &ua));
}
END_TEST

/* ---- NOTIFY's arguments (RFC 5465 8) ----
 * Each line goes through the command parser whole, one byte at a time
 * and split at every point, then imap_notify_parse; the result is rendered as "BAD", "NONE"
 * or "SET[ STATUS] filter:events[/mN][/fN]... =all" (hex event bits,
 * mN mailbox names, fN fetch-att items). */

static const struct imap_parser_limits notify_limits = {
	.line_max = 4096, .literal_max = 1024, .args_max = 1000, .nesting_max = 8,
};

/* split: 0 whole, 1 one byte at a time, k > 1 in two pieces cut at k - 1 */
static void
notify_drive(const char *in, size_t split, struct mm_buf *out)
{
	struct imap_parser *p = imap_parser_new(&notify_limits);
	size_t len = strlen(in), off = 0;
	enum imap_parse_result r = IMAP_PARSE_NEED_MORE;

	while (off < len) {
		size_t used = 0, chunk = len - off;
		if (split == 1)
			chunk = 1;
		else if (split > 1 && off < split - 1)
			chunk = split - 1 - off;
		r = imap_parser_push(p, in + off, chunk, &used);
		off += used;
		if (r == IMAP_PARSE_DONE || r == IMAP_PARSE_ERROR)
			break;
		ck_assert_uint_eq(used, chunk);
	}
	if (r != IMAP_PARSE_DONE) {
		mm_buf_printf(out, "PARSE-ERROR");
		imap_parser_free(&p);
		return;
	}
	size_t n;
	const struct imap_arg *a = imap_parser_args(p, &n);
	struct imap_notify_spec spec;
	const char *err = NULL;
	if (!imap_notify_parse(a, n, &spec, &err)) {
		ck_assert_ptr_nonnull(err);
		mm_buf_printf(out, "BAD");
	} else if (spec.none) {
		mm_buf_printf(out, "NONE");
	} else {
		mm_buf_printf(out, "SET%s", spec.status ? " STATUS" : "");
		for (size_t i = 0; i < spec.ngroups; i++) {
			const struct imap_notify_group *g = &spec.groups[i];
			mm_buf_printf(out, " %d:%x", (int)g->filter, g->events);
			if (g->nmboxes)
				mm_buf_printf(out, "/m%zu", g->nmboxes);
			if (g->nfetch)
				mm_buf_printf(out, "/f%zu", g->nfetch);
		}
		mm_buf_printf(out, " =%x", spec.events);
	}
	imap_parser_free(&p);
}

static const struct {
	const char *in, *want;
} notify_cases[] = {
	{ "a NOTIFY NONE\r\n", "NONE" },
	{ "a NOTIFY none\r\n", "NONE" },
	{ "a NOTIFY SET (selected (MessageNew MessageExpunge FlagChange)) "
	  "(personal (MessageNew MessageExpunge MailboxName SubscriptionChange))\r\n",
	  "SET 0:7 3:33 =37" },
	{ "a NOTIFY SET STATUS (mailboxes \"x y\" (MessageExpunge))\r\n", "SET STATUS 6:2/m1 =2" },
	{ "a NOTIFY SET status (subtree (Lists \"Other\" {3+}\r\nabc) (MessageNew))\r\n",
	  "SET STATUS 5:1/m3 =1" },
	{ "a NOTIFY SET (selected-delayed (MessageNew (UID BODY.PEEK[HEADER.FIELDS (FROM)] "
	  "FLAGS) MessageExpunge)) (inboxes NONE) (subscribed (FlagChange))\r\n",
	  "SET 1:3/f3 2:0 4:4 =7" },
	{ "a NOTIFY SET (personal (AnnotationChange MailboxMetadataChange "
	  "ServerMetadataChange))\r\n", "SET 3:c8 =c8" },
	{ "a NOTIFY SET (personal (MessageNew FutureEvent))\r\n", "SET 3:101 =101" },
	{ "a NOTIFY SET (mailboxes INBOX (MessageNew)) (mailboxes (a b) (MessageNew))\r\n",
	  "SET 6:1/m1 6:1/m2 =1" },
	/* bad */
	{ "a NOTIFY\r\n", "BAD" },
	{ "a NOTIFY SET\r\n", "BAD" },
	{ "a NOTIFY SET STATUS\r\n", "BAD" },
	{ "a NOTIFY GET (personal (MessageNew))\r\n", "BAD" },
	{ "a NOTIFY NONE (personal (MessageNew))\r\n", "BAD" },
	{ "a NOTIFY SET personal\r\n", "BAD" },
	{ "a NOTIFY SET (personal)\r\n", "BAD" },
	{ "a NOTIFY SET (personal ())\r\n", "BAD" },
	{ "a NOTIFY SET (personal MessageNew)\r\n", "BAD" },
	{ "a NOTIFY SET (personal (MessageNew) extra)\r\n", "BAD" },
	{ "a NOTIFY SET (everything (MessageNew))\r\n", "BAD" },
	{ "a NOTIFY SET (subtree (MessageNew))\r\n", "BAD" },
	{ "a NOTIFY SET (mailboxes () (MessageNew))\r\n", "BAD" },
	{ "a NOTIFY SET (mailboxes NIL (MessageNew))\r\n", "BAD" },
	{ "a NOTIFY SET (mailboxes (a (b)) (MessageNew))\r\n", "BAD" },
	{ "a NOTIFY SET (personal (\"MessageNew\"))\r\n", "BAD" },
	{ "a NOTIFY SET (personal ((MessageNew)))\r\n", "BAD" },
	{ "a NOTIFY SET (personal (MessageNew (UID)))\r\n", "BAD" },
	{ "a NOTIFY SET (selected (MessageNew (NOSUCHATT) MessageExpunge))\r\n", "BAD" },
	{ "a NOTIFY SET (selected (MessageNew () MessageExpunge))\r\n", "BAD" },
	{ "a NOTIFY SET (selected (MessageNew))\r\n", "BAD" },
	{ "a NOTIFY SET (selected (MessageExpunge))\r\n", "BAD" },
	{ "a NOTIFY SET (selected (FlagChange))\r\n", "BAD" },
	{ "a NOTIFY SET (selected NONE) (selected-delayed NONE)\r\n", "BAD" },
	{ "a NOTIFY SET (personal NONE) NONE\r\n", "BAD" },
	{ "a NOTIFY SET (personal (MessageNew)\r\n", "PARSE-ERROR" },
};

START_TEST(test_notify_args)
{
	struct mm_buf whole, bytes;
	mm_buf_init(&whole);
	mm_buf_init(&bytes);
	notify_drive(notify_cases[_i].in, 0, &whole);
	notify_drive(notify_cases[_i].in, 1, &bytes);
	ck_assert_msg(strcmp(mm_buf_cstr(&whole), notify_cases[_i].want) == 0,
	    "%s: got '%s' want '%s'", notify_cases[_i].in, mm_buf_cstr(&whole),
	    notify_cases[_i].want);
	ck_assert_str_eq(mm_buf_cstr(&bytes), mm_buf_cstr(&whole));
	for (size_t k = 2; k <= strlen(notify_cases[_i].in); k++) {
		bytes.len = 0;
		notify_drive(notify_cases[_i].in, k, &bytes);
		ck_assert_msg(strcmp(mm_buf_cstr(&bytes), mm_buf_cstr(&whole)) == 0,
		    "%s split at %zu: got '%s'", notify_cases[_i].in, k - 1, mm_buf_cstr(&bytes));
	}
	mm_buf_free(&whole);
	mm_buf_free(&bytes);
}
END_TEST

START_TEST(test_notify_limits)
{
	struct mm_buf in, out;
	mm_buf_init(&in);
	mm_buf_init(&out);
	/* IMAP_NOTIFY_GROUPS_MAX groups pass, one more is BAD */
	mm_buf_printf(&in, "a NOTIFY SET");
	for (int i = 0; i < IMAP_NOTIFY_GROUPS_MAX; i++)
		mm_buf_printf(&in, " (mailboxes m%d (MessageNew))", i);
	mm_buf_printf(&in, "\r\n");
	notify_drive(mm_buf_cstr(&in), 0, &out);
	ck_assert_str_ne(mm_buf_cstr(&out), "BAD");
	in.len -= 2;
	mm_buf_printf(&in, " (inboxes NONE)\r\n");
	out.len = 0;
	notify_drive(mm_buf_cstr(&in), 0, &out);
	ck_assert_str_eq(mm_buf_cstr(&out), "BAD");
	/* IMAP_NOTIFY_NAMES_MAX names pass, one more is BAD */
	in.len = 0;
	mm_buf_printf(&in, "a NOTIFY SET (subtree (");
	for (int i = 0; i < IMAP_NOTIFY_NAMES_MAX; i++)
		mm_buf_printf(&in, "%sn%d", i ? " " : "", i);
	mm_buf_printf(&in, ") (MessageNew))\r\n");
	out.len = 0;
	notify_drive(mm_buf_cstr(&in), 0, &out);
	ck_assert_str_eq(mm_buf_cstr(&out), "SET 5:1/m100 =1");
	in.len = 0;
	mm_buf_printf(&in, "a NOTIFY SET (subtree (");
	for (int i = 0; i <= IMAP_NOTIFY_NAMES_MAX; i++)
		mm_buf_printf(&in, "%sn%d", i ? " " : "", i);
	mm_buf_printf(&in, ") (MessageNew))\r\n");
	out.len = 0;
	notify_drive(mm_buf_cstr(&in), 0, &out);
	ck_assert_str_eq(mm_buf_cstr(&out), "BAD");
	mm_buf_free(&in);
	mm_buf_free(&out);
}
END_TEST

START_TEST(test_notify_event_names)
{
	struct mm_buf b;
	mm_buf_init(&b);
	imap_notify_append_events(&b, IMAP_NEV_SUPPORTED);
	ck_assert_str_eq(mm_buf_cstr(&b),
	    " (MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange)");
	mm_buf_free(&b);
}
END_TEST

/* Chunked literal mode (imap_parser_set_sink): APPEND literals of at
 * least SINK_MIN bytes outside a list go to the sink, which takes at
 * most SINK_TAKE bytes a call; the transcript shows the sink's bytes
 * ("|" where it was told last) and each spooled argument as
 * "<spool idx len>". Pushed whole and one byte at a time: the same. */
#define SINK_MIN 5
#define SINK_TAKE 4

static size_t
test_sink(void *ctx, const char *data, size_t n, bool last)
{
	struct mm_buf *b = ctx;

	if (n > SINK_TAKE) {
		n = SINK_TAKE;
		last = false;
	}
	mm_buf_append(b, data, n);
	if (last)
		mm_buf_appendc(b, '|');
	return n;
}

static void
sink_args_write(struct mm_buf *out, const struct imap_arg *a, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			mm_buf_appendc(out, ' ');
		if (a[i].spooled)
			mm_buf_printf(out, "<spool %u %llu>", a[i].spool_idx,
			    (unsigned long long)a[i].spool_len);
		else
			imap_args_write(out, &a[i], 1);
	}
}

static void
sink_drive(const char *in, size_t len, size_t step, struct mm_buf *out)
{
	struct imap_parser *p = imap_parser_new(&test_limits);
	struct mm_buf sunk;

	mm_buf_init(&sunk);
	imap_parser_set_sink(p, SINK_MIN, test_sink, &sunk);
	for (size_t start = 0; start < len; start += step) {
		const char *d = in + start;
		size_t left = len - start < step ? len - start : step;
		while (left > 0) {
			size_t used = 0;
			enum imap_parse_result r = imap_parser_push(p, d, left, &used);
			d += used;
			left -= used;
			if (r == IMAP_PARSE_NEED_MORE)
				continue;
			if (r == IMAP_PARSE_CONTINUE) {
				mm_buf_printf(out, "+%s\n", imap_parser_literal_spooled(p) ?
				    " spooled" : "");
			} else if (r == IMAP_PARSE_DONE) {
				size_t n;
				const struct imap_arg *a = imap_parser_args(p, &n);
				mm_buf_printf(out, "DONE %s [", imap_parser_name(p));
				sink_args_write(out, a, n);
				mm_buf_append(out, "]\n", 2);
				imap_parser_reset(p);
			} else {
				mm_buf_printf(out, "ERR %s\n",
				    imap_parser_strerror(imap_parser_error(p)));
				imap_parser_reset(p);
			}
		}
	}
	mm_buf_printf(out, "SUNK %s\n", mm_buf_cstr(&sunk));
	mm_buf_free(&sunk);
	imap_parser_free(&p);
}

static const struct pcase sinkcases[] = {
	/* a synchronizing literal: the continuation, then the sink */
	{ "a1 APPEND INBOX {10}\r\n0123456789\r\n", 0,
	  "+ spooled\nDONE APPEND [INBOX <spool 0 10>]\nSUNK 0123456789|\n" },
	/* MULTIAPPEND, LITERAL+: each big one spooled, a small one kept */
	{ "a1 APPEND INBOX {6+}\r\nabcdef (\\Seen) {3+}\r\nxyz {7+}\r\n1234567\r\n", 0,
	  "DONE APPEND [INBOX <spool 0 6> (\\Seen) {3}\r\nxyz <spool 1 7>]\n"
	  "SUNK abcdef|1234567|\n" },
	/* CATENATE's TEXT and UTF8's literal8 are in a list: buffered */
	{ "a1 APPEND INBOX CATENATE (TEXT {6+}\r\nabcdef)\r\n", 0,
	  "DONE APPEND [INBOX CATENATE (TEXT {6}\r\nabcdef)]\nSUNK \n" },
	/* not APPEND: buffered */
	{ "a1 X {6+}\r\nabcdef\r\n", 0, "DONE X [{6}\r\nabcdef]\nSUNK \n" },
	/* a bad command after the literal: the error, then the next one */
	{ "a1 APPEND INBOX {5+}\r\nhello)\r\na2 NOOP\r\n", 0,
	  "ERR Unexpected ')'\nDONE NOOP []\nSUNK hello|\n" },
	/* still over literal_max: refused before the data */
	{ "a1 APPEND INBOX {2000}\r\na2 NOOP\r\n", 0,
	  "ERR Literal too big\nDONE NOOP []\nSUNK \n" },
};

START_TEST(test_sink_commands)
{
	const struct pcase *pc = &sinkcases[_i];
	size_t len = pc->len ? pc->len : strlen(pc->in);
	struct mm_buf whole, bytes;

	mm_buf_init(&whole);
	mm_buf_init(&bytes);
	sink_drive(pc->in, len, len, &whole);
	ck_assert_msg(strcmp(mm_buf_cstr(&whole), pc->want) == 0,
	    "case %s: got '%s' want '%s'", pc->in, mm_buf_cstr(&whole), pc->want);
	sink_drive(pc->in, len, 1, &bytes);
	ck_assert_msg(strcmp(mm_buf_cstr(&bytes), pc->want) == 0,
	    "case %s byte-at-a-time: got '%s'", pc->in, mm_buf_cstr(&bytes));
	mm_buf_free(&whole);
	mm_buf_free(&bytes);
}
END_TEST

static Suite *
imap_parser_suite(void)
{
	Suite *s = suite_create("imap_parser");
	TCase *tc;

	tc = tcase_create("commands");
	tcase_add_loop_test(tc, test_commands, 0, sizeof(pcases) / sizeof(pcases[0]));
	tcase_add_test(tc, test_arg_types);
	tcase_add_test(tc, test_numbers);
	tcase_add_test(tc, test_set_limits);
	tcase_add_loop_test(tc, test_utf8_commands, 0, sizeof(u8cases) / sizeof(u8cases[0]));
	tcase_add_loop_test(tc, test_sink_commands, 0,
	    sizeof(sinkcases) / sizeof(sinkcases[0]));
	suite_add_tcase(s, tc);

	tc = tcase_create("seqset");
	tcase_add_loop_test(tc, test_seqset, 0, sizeof(seqcases) / sizeof(seqcases[0]));
	tcase_add_test(tc, test_seqset_write);
	suite_add_tcase(s, tc);

	tc = tcase_create("mutf7");
	tcase_add_loop_test(tc, test_mutf7_roundtrip, 0, sizeof(u7cases) / sizeof(u7cases[0]));
	tcase_add_loop_test(tc, test_mutf7_bad, 0, sizeof(bad_utf7) / sizeof(bad_utf7[0]));
	tcase_add_loop_test(tc, test_utf8_bad, 0, sizeof(bad_utf8) / sizeof(bad_utf8[0]));
	suite_add_tcase(s, tc);

	tc = tcase_create("url");
	tcase_add_loop_test(tc, test_url, 0, sizeof(urlcases) / sizeof(urlcases[0]));
	tcase_add_test(tc, test_url_oversized);
	tcase_add_loop_test(tc, test_urlauth, 0, sizeof(uacases) / sizeof(uacases[0]));
	tcase_add_test(tc, test_urlauth_oversized);
	suite_add_tcase(s, tc);

	tc = tcase_create("notify");
	tcase_add_loop_test(tc, test_notify_args, 0, sizeof(notify_cases) / sizeof(notify_cases[0]));
	tcase_add_test(tc, test_notify_limits);
	tcase_add_test(tc, test_notify_event_names);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(imap_parser_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
