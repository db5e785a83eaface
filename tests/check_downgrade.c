/* check_downgrade.c: unit tests of the 8BITMIME downgrade (src/mail/
 * downgrade.c): quoted-printable output byte for byte (soft breaks at 76,
 * WSP before a line end, '=' and control characters), a single-part and
 * a multipart message converted with only the 8-bit parts touched, and
 * the messages it refuses (not MIME, 8-bit headers, 8-bit base64). */
#include "mail/downgrade.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const struct {
	const char *in, *out;
} qp[] = {
	{ "", "" },
	{ "abc\r\n", "abc\r\n" },
	{ "a=b\r\n", "a=3Db\r\n" },
	{ "Gr\xc3\xbc\xc3\x9f" "e\r\n", "Gr=C3=BC=C3=9Fe\r\n" },
	{ "trailing \r\ntab\t\r\nend ", "trailing=20\r\ntab=09\r\nend=20" },
	{ "in the middle \t ok\r\n", "in the middle \t ok\r\n" },
	{ "bare\rcr\nlf\x01", "bare=0Dcr=0Alf=01" },
	/* 80 x: 75, a soft break, 5 */
	{ "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n",
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx=\r\n"
	  "xxxxx\r\n" },
	/* exactly 76: fits, no soft break */
	{ "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n",
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n" },
	/* an encoded byte is never split */
	{ "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\xff" "y\r\n",
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx=\r\n"
	  "=FFy\r\n" },
};

START_TEST(test_qp)
{
	struct mm_buf b;
	mm_buf_init(&b);
	mail_qp_encode(qp[_i].in, strlen(qp[_i].in), &b);
	ck_assert_str_eq(mm_buf_cstr(&b), qp[_i].out);
	/* no line over 76 */
	for (const char *l = b.data; l && *l;) {
		const char *e = strstr(l, "\r\n");
		ck_assert_int_le(e ? e - l : (long)strlen(l), 76);
		l = e ? e + 2 : NULL;
	}
	mm_buf_free(&b);
}
END_TEST

static const struct {
	const char *in, *out, *why;
} msgs[] = {
	/* nothing 8-bit: unchanged, MIME or not */
	{ "Subject: x\r\n\r\nplain\r\n", "Subject: x\r\n\r\nplain\r\n", NULL },
	{ "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
	  "Content-Transfer-Encoding: 8bit\r\n\r\nGr\xc3\xbc\xc3\x9f" "e = hi \r\n",
	  "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
	  "Content-Transfer-Encoding: quoted-printable\r\n\r\nGr=C3=BC=C3=9Fe =3D hi=20\r\n", NULL },
	/* no Content-Transfer-Encoding at all: one is added */
	{ "From: a@b\r\nMIME-Version: 1.0\r\n\r\n\xe4\r\n",
	  "From: a@b\r\nMIME-Version: 1.0\r\nContent-Transfer-Encoding: quoted-printable\r\n"
	  "\r\n=E4\r\n", NULL },
	/* multipart: only the 8-bit part changes; the 8bit claim of the
	 * multipart becomes 7bit */
	{ "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n"
	  "Content-Transfer-Encoding: 8bit\r\n\r\n"
	  "preamble\r\n--b\r\nContent-Type: text/plain\r\n\r\nascii\r\n"
	  "--b\r\nContent-Type: text/plain; charset=latin1\r\nContent-Transfer-Encoding: 8bit\r\n"
	  "\r\ncaf\xe9\r\n"
	  "--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
	  "\r\nAAAA\r\n--b--\r\n",
	  "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n"
	  "Content-Transfer-Encoding: 7bit\r\n\r\n"
	  "preamble\r\n--b\r\nContent-Type: text/plain\r\n\r\nascii\r\n"
	  "--b\r\nContent-Type: text/plain; charset=latin1\r\n"
	  "Content-Transfer-Encoding: quoted-printable\r\n"
	  "\r\ncaf=E9\r\n"
	  "--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
	  "\r\nAAAA\r\n--b--\r\n", NULL },
	{ "Subject: x\r\n\r\n\xe4\r\n", NULL, "not a MIME message" },
	{ "MIME-Version: 1.0\r\nSubject: \xe4\r\n\r\n\xe4\r\n", NULL, "8-bit header" },
	{ "MIME-Version: 1.0\r\nContent-Transfer-Encoding: base64\r\n\r\n\xe4\r\n", NULL,
	  "8-bit bytes in an encoded body" },
	{ "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
	  "pre\xe4mble\r\n--b\r\n\r\nx\r\n--b--\r\n", NULL, "8-bit text outside the MIME parts" },
};

START_TEST(test_downgrade)
{
	struct mm_buf b;
	const char *why = "unset";
	mm_buf_init(&b);
	mm_buf_append(&b, "KEEP", 4);
	bool ok = mail_downgrade_7bit(msgs[_i].in, strlen(msgs[_i].in), &b, &why);
	if (msgs[_i].out != NULL) {
		ck_assert_msg(ok, "%s", why);
		ck_assert_ptr_null(why);
		ck_assert_str_eq(mm_buf_cstr(&b) + 4, msgs[_i].out);
	} else {
		ck_assert(!ok);
		ck_assert_str_eq(why, msgs[_i].why);
		ck_assert_uint_eq(b.len, 4);
	}
	mm_buf_free(&b);
}
END_TEST

static Suite *
downgrade_suite(void)
{
	Suite *s = suite_create("downgrade");
	TCase *tc = tcase_create("qp");
	tcase_add_loop_test(tc, test_qp, 0, N(qp));
	suite_add_tcase(s, tc);
	tc = tcase_create("downgrade");
	tcase_add_loop_test(tc, test_downgrade, 0, N(msgs));
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(downgrade_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
