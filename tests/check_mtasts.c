/* check_mtasts.c: lib/mtasts.c: the policy we publish parses back with
 * our own parser; _mta-sts TXT records (RFC 8461 3.1) good, foreign and
 * broken; policy files (3.2) with CRLF and LF, unknown keys, repeated
 * keys, every missing or bad field, the 64 KiB bound, too many mx lines;
 * the MX pattern match (4.1), wildcards matching one label only. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/config.h"
#include "lib/mtasts.h"

START_TEST(test_ours)
{
	struct config_errors e;
	const char *conf = "hostname = mail.example.org\ndomains = example.org\n"
	    "[tls]\nmta_sts_mode = enforce\n";
	struct config *c;
	struct mtasts_policy p;
	char err[128];

	config_errors_init(&e);
	c = config_parse("t.conf", conf, strlen(conf), &e);
	ck_assert_ptr_nonnull(c);
	char *t = mtasts_policy_text(c);
	ck_assert_str_eq(t, "version: STSv1\r\nmode: enforce\r\nmx: mail.example.org\r\n"
	    "max_age: 604800\r\n");
	ck_assert(mtasts_policy_parse(t, strlen(t), &p, err, sizeof(err)));
	ck_assert_int_eq(p.mode, MTASTS_ENFORCE);
	ck_assert(mtasts_mx_match(&p, "MAIL.example.org."));
	free(t);
	config_free(&c);
	config_errors_clear(&e);
}
END_TEST

static const struct {
	const char *txt;
	int want;
	const char *id;
} txts[] = {
	{ "v=STSv1; id=20160831085700Z;", 1, "20160831085700Z" },
	{ "v=STSv1;id=abc", 1, "abc" },
	{ "v=STSv1; id=abc ; ext=1", 1, "abc" },
	{ "v=STSv1; ext=1; id=x1", 1, "x1" },
	{ "v=spf1 -all", 0, "" },
	{ "v=STSv10; id=1", 0, "" },
	{ "", 0, "" },
	{ "v=STSv1", -1, "" },                 /* no id */
	{ "v=STSv1; id=", -1, "" },
	{ "v=STSv1; id=a-b", -1, "" },
	{ "v=STSv1; id=123456789012345678901234567890123", -1, "" },  /* 33 */
	{ "v=STSv1; id=1 junk", -1, "" },
	{ "v=STSv1; =1", -1, "" },
};

START_TEST(test_txt)
{
	char id[64], err[128];
	int r = mtasts_txt_parse(txts[_i].txt, strlen(txts[_i].txt), id, err, sizeof(err));
	ck_assert_msg(r == txts[_i].want, "%s: got %d", txts[_i].txt, r);
	if (r == 1)
		ck_assert_str_eq(id, txts[_i].id);
}
END_TEST

static const struct {
	const char *text;
	bool ok;
	const char *err;
} policies[] = {
	{ "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\n"
	  "mx: backupmx.example.com\r\nmax_age: 604800\r\n", true, NULL },
	{ "version: STSv1\nmode: testing\nmx: mx.example.com\nmax_age: 0\nfuture: x\n", true, NULL },
	{ "version: STSv1\nmode: none\nmax_age: 86400\n", true, NULL },
	{ "version:STSv1\nmode:enforce\nmode: none\nmx:a.b\nmax_age:1", true, NULL },
	{ "mode: enforce\nmx: a.b\nmax_age: 1\n", false, "version" },
	{ "version: STSv2\nmode: enforce\nmx: a.b\nmax_age: 1\n", false, "version" },
	{ "version: STSv1\nmode: strict\nmx: a.b\nmax_age: 1\n", false, "mode" },
	{ "version: STSv1\nmx: a.b\nmax_age: 1\n", false, "mode" },
	{ "version: STSv1\nmode: enforce\nmx: a.b\n", false, "max_age" },
	{ "version: STSv1\nmode: enforce\nmx: a.b\nmax_age: 31557601\n", false, "max_age" },
	{ "version: STSv1\nmode: enforce\nmx: a.b\nmax_age: -1\n", false, "max_age" },
	{ "version: STSv1\nmode: enforce\nmx: a.b\nmax_age: 12345678901\n", false, "max_age" },
	{ "version: STSv1\nmode: enforce\nmax_age: 1\n", false, "no mx" },
	{ "version: STSv1\nmode: enforce\nmx: a..b\nmax_age: 1\n", false, "mx pattern" },
	{ "version: STSv1\nmode: enforce\nmx: *a.b\nmax_age: 1\n", false, "mx pattern" },
	{ "version: STSv1\nmode: enforce\nmx: a.*.b\nmax_age: 1\n", false, "mx pattern" },
	{ "version: STSv1\nmode: enforce\nmx a.b\nmax_age: 1\n", false, "key: value" },
	{ "<html>not found</html>", false, "key: value" },
};

START_TEST(test_policy)
{
	struct mtasts_policy p;
	char err[128] = "";
	bool ok = mtasts_policy_parse(policies[_i].text, strlen(policies[_i].text), &p,
	    err, sizeof(err));
	ck_assert_msg(ok == policies[_i].ok, "case %d: %s", _i, err);
	if (!ok)
		ck_assert_msg(strstr(err, policies[_i].err) != NULL, "case %d: %s", _i, err);
}
END_TEST

START_TEST(test_policy_bounds)
{
	struct mtasts_policy p;
	char err[128];
	size_t n = MTA_STS_POLICY_MAX_BYTES + 1;
	char *big = malloc(n + 1);

	memset(big, '\n', n);
	memcpy(big, "version: STSv1\nmode: none\nmax_age: 1\n", 37);
	big[n] = '\0';
	ck_assert(!mtasts_policy_parse(big, n, &p, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "larger"));
	ck_assert(mtasts_policy_parse(big, n - 1, &p, err, sizeof(err)));
	free(big);

	char buf[8192];
	size_t o = (size_t)snprintf(buf, sizeof(buf), "version: STSv1\nmode: enforce\nmax_age: 1\n");
	for (int i = 0; i <= MTA_STS_MX_MAX; i++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "mx: mx%d.example.org\n", i);
	ck_assert(!mtasts_policy_parse(buf, o, &p, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "more than"));
	/* a NUL inside */
	ck_assert(!mtasts_policy_parse("version: STSv1\n\0mode: none\n", 27, &p, err,
	    sizeof(err)));
}
END_TEST

START_TEST(test_match)
{
	struct mtasts_policy p;
	char err[128];
	const char *t = "version: STSv1\nmode: enforce\nmx: mail.example.com\n"
	    "mx: *.example.net\nmax_age: 1\n";

	ck_assert(mtasts_policy_parse(t, strlen(t), &p, err, sizeof(err)));
	ck_assert(mtasts_mx_match(&p, "mail.example.com"));
	ck_assert(mtasts_mx_match(&p, "Mail.Example.COM."));
	ck_assert(!mtasts_mx_match(&p, "mail.example.com.evil.org"));
	ck_assert(!mtasts_mx_match(&p, "xmail.example.com"));
	ck_assert(mtasts_mx_match(&p, "mx1.example.net"));
	ck_assert(!mtasts_mx_match(&p, "a.b.example.net"));   /* one label only */
	ck_assert(!mtasts_mx_match(&p, "example.net"));
	ck_assert(!mtasts_mx_match(&p, ".example.net"));
}
END_TEST

static Suite *
mtasts_suite(void)
{
	Suite *s = suite_create("mtasts");
	TCase *tc = tcase_create("mtasts");
	tcase_add_test(tc, test_ours);
	tcase_add_loop_test(tc, test_txt, 0, sizeof(txts) / sizeof(txts[0]));
	tcase_add_loop_test(tc, test_policy, 0, sizeof(policies) / sizeof(policies[0]));
	tcase_add_test(tc, test_policy_bounds);
	tcase_add_test(tc, test_match);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(mtasts_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
