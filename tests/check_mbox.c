/* check_mbox.c: unit tests for the mbox splitter and the Maildir/Dovecot
 * metadata readers (src/mail/mbox.c). Every mbox case is fed whole, one
 * byte at a time and split at every point, and must give the same
 * messages, byte for byte. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"
#include "mail/mbox.h"

struct out {
	struct mm_buf all;    /* "[FROMLINE]\n" DATA "<END>\n" ... */
};

static void
cb_begin(void *arg, const char *line, size_t len)
{
	struct out *o = arg;
	mm_buf_append(&o->all, "[", 1);
	mm_buf_append(&o->all, line, len);
	mm_buf_append(&o->all, "]\n", 2);
}

static void
cb_data(void *arg, const char *p, size_t n)
{
	struct out *o = arg;
	mm_buf_append(&o->all, p, n);
}

static void
cb_end(void *arg)
{
	struct out *o = arg;
	mm_buf_append(&o->all, "<END>\n", 6);
}

static const struct mbox_cb cbs = { cb_begin, cb_data, cb_end };

static const struct {
	enum mbox_quoting q;
	const char *in;
	int err;
	const char *want;
} cases[] = {
	/* two messages, the separator line dropped, mboxrd quoting undone,
	 * the last one without a final newline */
	{ MBOX_MBOXRD,
	  "From a@b Mon Jan  1 10:00:00 2024\nSubject: 1\n\nbody\n>From me\n>>From you\n\n"
	  "From c@d Tue Jan  2 11:00:00 2024\nSubject: 2\n\nlast",
	  MBOX_OK,
	  "[From a@b Mon Jan  1 10:00:00 2024]\nSubject: 1\n\nbody\nFrom me\n>From you\n<END>\n"
	  "[From c@d Tue Jan  2 11:00:00 2024]\nSubject: 2\n\nlast<END>\n" },
	/* mboxo: only ">From " is unquoted */
	{ MBOX_MBOXO,
	  "From a@b Mon Jan  1 10:00:00 2024\n\n>From me\n>>From you\n",
	  MBOX_OK,
	  "[From a@b Mon Jan  1 10:00:00 2024]\n\nFrom me\n>>From you\n<END>\n" },
	/* a message that ends with an empty line keeps it; "From " text
	 * after a non-empty line without a date is body */
	{ MBOX_MBOXRD,
	  "From a Mon Jan  1 10:00:00 2024\nS: x\n\nhi\nFrom here on\n\n\n"
	  "From b Mon Jan  1 10:00:00 2024\n\nx\n\n",
	  MBOX_OK,
	  "[From a Mon Jan  1 10:00:00 2024]\nS: x\n\nhi\nFrom here on\n\n<END>\n"
	  "[From b Mon Jan  1 10:00:00 2024]\n\nx\n<END>\n" },
	/* a writer that leaves out the empty line: the date decides */
	{ MBOX_MBOXRD,
	  "From a Mon Jan  1 10:00:00 2024\n\nx\nFrom b Tue Feb 13 01:02:03 +0100 2024\n\ny\n",
	  MBOX_OK,
	  "[From a Mon Jan  1 10:00:00 2024]\n\nx\n<END>\n"
	  "[From b Tue Feb 13 01:02:03 +0100 2024]\n\ny\n<END>\n" },
	/* CRLF files */
	{ MBOX_MBOXRD,
	  "From a Mon Jan  1 10:00:00 2024\r\nS: x\r\n\r\nhi\r\n",
	  MBOX_OK,
	  "[From a Mon Jan  1 10:00:00 2024\r]\nS: x\r\n\r\nhi\r\n<END>\n" },
	{ MBOX_MBOXRD, "Subject: not an mbox\n\nhello\n", MBOX_ERR_NOT_MBOX, "" },
	{ MBOX_MBOXRD, "\nFrom a Mon Jan  1 10:00:00 2024\n", MBOX_ERR_NOT_MBOX, "" },
	{ MBOX_MBOXRD, "", MBOX_ERR_EMPTY, "" },
	{ MBOX_MBOXRD, "From", MBOX_ERR_NOT_MBOX, "" },
	{ MBOX_MBOXRD, "\x89PNG\r\n\x1a\n", MBOX_ERR_NOT_MBOX, "" },
};

static int
run(int i, size_t step, size_t split, struct mm_buf *got)
{
	struct mbox_parser p;
	struct out o;
	const char *in = cases[i].in;
	size_t n = strlen(in);
	int r = MBOX_OK;

	mm_buf_init(&o.all);
	mbox_parser_init(&p, cases[i].q, &cbs, &o);
	if (split != (size_t)-1) {
		r = mbox_push(&p, in, split);
		if (r == MBOX_OK)
			r = mbox_push(&p, in + split, n - split);
	} else {
		for (size_t off = 0; off < n && r == MBOX_OK; off += step)
			r = mbox_push(&p, in + off, n - off < step ? n - off : step);
	}
	if (r == MBOX_OK)
		r = mbox_finish(&p);
	*got = o.all;
	return r;
}

START_TEST(test_split)
{
	size_t n = strlen(cases[_i].in);
	for (size_t mode = 0; mode <= n + 1; mode++) {
		struct mm_buf got;
		int r = mode == 0 ? run(_i, n ? n : 1, (size_t)-1, &got) :
		    mode == 1 ? run(_i, 1, (size_t)-1, &got) : run(_i, 0, mode - 2, &got);
		ck_assert_int_eq(r, cases[_i].err);
		if (r == MBOX_OK)
			ck_assert_str_eq(mm_buf_cstr(&got), cases[_i].want);
		mm_buf_free(&got);
	}
}
END_TEST

/* A line far longer than anything held streams through. */
START_TEST(test_long_line)
{
	struct mm_buf in, got;
	struct mbox_parser p;
	struct out o;
	mm_buf_init(&in);
	mm_buf_init(&o.all);
	mm_buf_printf(&in, "From a Mon Jan  1 10:00:00 2024\n\n");
	for (int i = 0; i < 100000; i++)
		mm_buf_appendc(&in, i == 0 ? '>' : 'x');
	mm_buf_appendc(&in, '\n');
	mbox_parser_init(&p, MBOX_MBOXRD, &cbs, &o);
	ck_assert_int_eq(mbox_push(&p, in.data, in.len), MBOX_OK);
	ck_assert_int_eq(mbox_finish(&p), MBOX_OK);
	got = o.all;
	ck_assert_uint_eq(got.len, in.len - 32 + 34 + 6);   /* From_ line -> [line]\n, <END>\n */
	mm_buf_free(&in);
	mm_buf_free(&got);
}
END_TEST

START_TEST(test_from_date)
{
	time_t t;
	const char *l = "From someone@example.org Thu Feb  1 12:34:56 2024";
	ck_assert(mbox_from_line_date(l, strlen(l), &t));
	ck_assert_int_eq((long)t, 1706790896L);
	l = "From MAILER-DAEMON Fri Jul  8 12:08:34 +0000 2011";
	ck_assert(mbox_from_line_date(l, strlen(l), &t));
	ck_assert_int_eq((long)t, 1310126914L);
	l = "From x Fri Jul  8 12:08 2011";
	ck_assert(mbox_from_line_date(l, strlen(l), &t));
	l = "From here on it is text";
	ck_assert(!mbox_from_line_date(l, strlen(l), &t));
	l = "From x Fri Jul 48 12:08:00 2011";
	ck_assert(!mbox_from_line_date(l, strlen(l), &t));
}
END_TEST

START_TEST(test_meta)
{
	char msg[] = "Subject: hi\nStatus: RO\nX-Status: AF\nX-Keywords: $Label1, work\n"
	    "X-Mozilla-Status: 0004\nX-UID: 17\nContent-Length: 3\n  folded\nTo: a\n\nStatus: body\n";
	struct mbox_meta m;
	size_t n = mbox_meta_strip(msg, strlen(msg), &m);
	msg[n] = '\0';
	ck_assert_str_eq(msg, "Subject: hi\nX-Mozilla-Status: 0004\nTo: a\n\nStatus: body\n");
	ck_assert_uint_eq(m.flags, 0x01 | 0x02 | 0x04);
	ck_assert_uint_eq(m.nkeywords, 2);
	ck_assert_str_eq(m.keywords[0], "$Label1");
	ck_assert_str_eq(m.keywords[1], "work");
	char m2[] = "X-Mozilla-Status: 0009\r\nX-Mozilla-Keys: junk\r\n\r\nx";
	n = mbox_meta_strip(m2, strlen(m2), &m);
	ck_assert_uint_eq(n, strlen(m2));
	ck_assert_uint_eq(m.flags, 0x01 | 0x08);
	ck_assert_uint_eq(m.nkeywords, 1);
	char m3[] = "Status: R";   /* cut short: no newline, no body */
	n = mbox_meta_strip(m3, strlen(m3), &m);
	ck_assert_uint_eq(n, 0);
	ck_assert_uint_eq(m.flags, 0x01);
}
END_TEST

START_TEST(test_maildir)
{
	uint32_t f, kw, uv, nu, uid;
	const char *base;
	size_t blen;
	unsigned ix;
	const char *name;
	size_t nlen;

	ck_assert_uint_eq(maildir_name_flags("1700000000.M1P2.host,S=12,W=14:2,FRSac", &f, &kw),
	    strlen("1700000000.M1P2.host,S=12,W=14"));
	ck_assert_uint_eq(f, 0x01 | 0x02 | 0x04);
	ck_assert_uint_eq(kw, 0x5);
	ck_assert_uint_eq(maildir_name_flags("123.abc", &f, &kw), 7);
	ck_assert_uint_eq(f, 0);
	maildir_name_flags("x:2,DT", &f, &kw);
	ck_assert_uint_eq(f, 0x08 | 0x10);

	ck_assert(maildir_uidlist_header("3 V1700000001 N42 G0123abc\n", 27, &uv, &nu));
	ck_assert_uint_eq(uv, 1700000001u);
	ck_assert_uint_eq(nu, 42);
	ck_assert(maildir_uidlist_header("1 99 7", 6, &uv, &nu));
	ck_assert_uint_eq(uv, 99);
	ck_assert(!maildir_uidlist_header("3 N42", 5, &uv, &nu));
	ck_assert(!maildir_uidlist_header("x", 1, &uv, &nu));
	const char *l = "17 W1234 S1200 :1700000000.M1P2.host,S=12\n";
	ck_assert(maildir_uidlist_line(l, strlen(l), &uid, &base, &blen));
	ck_assert_uint_eq(uid, 17);
	ck_assert_uint_eq(blen, strlen("1700000000.M1P2.host,S=12"));
	ck_assert(memcmp(base, "1700000000.M1P2.host,S=12", blen) == 0);
	l = "5 oldname";
	ck_assert(maildir_uidlist_line(l, strlen(l), &uid, &base, &blen));
	ck_assert_uint_eq(blen, 7);
	ck_assert(!maildir_uidlist_line("0 :x", 4, &uid, &base, &blen));
	ck_assert(!maildir_uidlist_line("abc", 3, &uid, &base, &blen));

	ck_assert(maildir_keywords_line("2 $Label1\n", 10, &ix, &name, &nlen));
	ck_assert_uint_eq(ix, 2);
	ck_assert_uint_eq(nlen, 7);
	ck_assert(!maildir_keywords_line("26 x", 4, &ix, &name, &nlen));
	ck_assert(!maildir_keywords_line("1 ", 2, &ix, &name, &nlen));
}
END_TEST

START_TEST(test_crlf)
{
	struct mm_buf b;
	mm_buf_init(&b);
	mbox_to_crlf("a\nb\r\nc\n\nd", 10, &b);
	ck_assert_str_eq(mm_buf_cstr(&b), "a\r\nb\r\nc\r\n\r\nd");
	mm_buf_free(&b);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("mbox");
	TCase *tc = tcase_create("split");
	tcase_add_loop_test(tc, test_split, 0, sizeof(cases) / sizeof(cases[0]));
	tcase_add_test(tc, test_long_line);
	suite_add_tcase(s, tc);
	tc = tcase_create("meta");
	tcase_add_test(tc, test_from_date);
	tcase_add_test(tc, test_meta);
	tcase_add_test(tc, test_maildir);
	tcase_add_test(tc, test_crlf);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
