/* check_inbound.c: DMARC records, alignment, policy discovery and
 * disposition (RFC 7489), and Authentication-Results (RFC 8601) written
 * and stripped. The SPF evaluator has its own suite (tests/spf_suite.py:
 * the RFC 7208 test suite). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"
#include "inbound/inbound.h"
#include "mail/authres.h"
#include "mail/dmarc.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const struct {
	const char *txt;
	bool ok;
	enum dmarc_policy p, sp;
	unsigned pct;
	bool adkim_s, aspf_s;
} records[] = {
	{ "v=DMARC1; p=reject", true, DMARC_P_REJECT, DMARC_P_REJECT, 100, false, false },
	{ "v=DMARC1;p=quarantine;sp=none;pct=20;adkim=s;aspf=r", true,
	  DMARC_P_QUARANTINE, DMARC_P_NONE, 20, true, false },
	{ "v=DMARC1 ; p = none ; rua=mailto:d@example.com", true, DMARC_P_NONE, DMARC_P_NONE, 100, false, false },
	{ "v=DMARC1; p=bogus; rua=mailto:d@example.com", true, DMARC_P_NONE, DMARC_P_NONE, 100, false, false },
	{ "v=DMARC1; p=bogus", false, 0, 0, 0, false, false },
	{ "v=DMARC1; rua=mailto:x@example.com", true, DMARC_P_NONE, DMARC_P_NONE, 100, false, false },
	{ "v=DMARC1", false, 0, 0, 0, false, false },
	{ "p=reject; v=DMARC1", false, 0, 0, 0, false, false },
	{ "v=dmarc1; p=reject", false, 0, 0, 0, false, false },
	{ "v=spf1 -all", false, 0, 0, 0, false, false },
	{ "", false, 0, 0, 0, false, false },
	{ "v=DMARC1; p=reject; pct=150", true, DMARC_P_REJECT, DMARC_P_REJECT, 100, false, false },
	{ "v=DMARC1; p=reject; pct=0", true, DMARC_P_REJECT, DMARC_P_REJECT, 0, false, false },
	{ "v=DMARC1; p=reject; unknown=tag; fo=1", true, DMARC_P_REJECT, DMARC_P_REJECT, 100, false, false },
};

START_TEST(test_record)
{
	struct dmarc_record r;
	char err[64];
	bool ok = dmarc_parse_record(records[_i].txt, &r, err, sizeof(err));

	ck_assert_msg(ok == records[_i].ok, "case %d '%s': %s", _i, records[_i].txt, err);
	if (!ok) {
		ck_assert(err[0] != '\0');
		return;
	}
	ck_assert_int_eq(r.p, records[_i].p);
	ck_assert_int_eq(r.sp, records[_i].sp);
	ck_assert_uint_eq(r.pct, records[_i].pct);
	ck_assert(r.adkim_strict == records[_i].adkim_s);
	ck_assert(r.aspf_strict == records[_i].aspf_s);
}
END_TEST

START_TEST(test_org_domain)
{
	char buf[256];

	dmarc_org_domain("mail.example.co.uk", buf, sizeof(buf));
	ck_assert_str_eq(buf, "example.co.uk");
	dmarc_org_domain("a.b.example.com", buf, sizeof(buf));
	ck_assert_str_eq(buf, "example.com");
	dmarc_org_domain("example.com", buf, sizeof(buf));
	ck_assert_str_eq(buf, "example.com");
	ck_assert(dmarc_aligned("mail.example.com", "example.com", false));
	ck_assert(!dmarc_aligned("mail.example.com", "example.com", true));
	ck_assert(dmarc_aligned("EXAMPLE.com", "example.COM", true));
	ck_assert(!dmarc_aligned("example.co.uk", "other.co.uk", false));
	ck_assert(!dmarc_aligned("", "example.com", false));
}
END_TEST

static void
txt(struct spf_dns *d, const char *name, const char *rec)
{
	if (rec == NULL)
		spf_dns_add(d, name, SPF_Q_TXT, SPF_DNS_NXDOMAIN, NULL, 0);
	else
		spf_dns_add(d, name, SPF_Q_TXT, SPF_DNS_NOERROR, &rec, 1);
}

START_TEST(test_check)
{
	struct spf_dns *d = spf_dns_new();
	struct dmarc_outcome o;
	struct dmarc_dkim_pass sig = { "sub.example.com" };
	struct dmarc_input in = { "news.example.com", SPF_FAIL, "bounce.other.net", NULL, 0, 0 };

	/* first the From: domain is asked, then the organizational domain */
	ck_assert_int_eq(dmarc_check(&in, d, &o), SPF_NEED_DNS);
	ck_assert_str_eq(o.need_name, "_dmarc.news.example.com");
	txt(d, "_dmarc.news.example.com", NULL);
	ck_assert_int_eq(dmarc_check(&in, d, &o), SPF_NEED_DNS);
	ck_assert_str_eq(o.need_name, "_dmarc.example.com");
	txt(d, "_dmarc.example.com", "v=DMARC1; p=reject; sp=quarantine");
	ck_assert_int_eq(dmarc_check(&in, d, &o), SPF_DONE);
	ck_assert_int_eq(o.result, DMARC_FAIL);
	ck_assert_int_eq(o.policy, DMARC_P_QUARANTINE);       /* sp= for a subdomain */
	ck_assert_int_eq(o.disposition, DMARC_P_QUARANTINE);
	ck_assert_str_eq(o.record_domain, "example.com");

	/* a relaxed-aligned DKIM pass */
	in.dkim = &sig;
	in.ndkim = 1;
	ck_assert_int_eq(dmarc_check(&in, d, &o), SPF_DONE);
	ck_assert_int_eq(o.result, DMARC_PASS);
	ck_assert(o.dkim_aligned && !o.spf_aligned);

	/* an aligned SPF pass */
	in.ndkim = 0;
	in.spf = SPF_PASS;
	in.spf_domain = "example.com";
	ck_assert_int_eq(dmarc_check(&in, d, &o), SPF_DONE);
	ck_assert_int_eq(o.result, DMARC_PASS);
	ck_assert(o.spf_aligned);

	/* the From: domain's own record: p=, and pct= sampling */
	in.from_domain = "example.com";
	in.spf = SPF_SOFTFAIL;
	ck_assert_int_eq(dmarc_check(&in, d, &o), SPF_DONE);
	ck_assert_int_eq(o.result, DMARC_FAIL);
	ck_assert_int_eq(o.disposition, DMARC_P_REJECT);
	spf_dns_free(&d);

	d = spf_dns_new();
	txt(d, "_dmarc.example.org", "v=DMARC1; p=reject; pct=10");
	in.from_domain = "example.org";
	in.sample = 50;
	ck_assert_int_eq(dmarc_check(&in, d, &o), SPF_DONE);
	ck_assert_int_eq(o.disposition, DMARC_P_QUARANTINE);
	in.sample = 5;
	ck_assert_int_eq(dmarc_check(&in, d, &o), SPF_DONE);
	ck_assert_int_eq(o.disposition, DMARC_P_REJECT);

	/* no record anywhere, a DNS failure, two records */
	in.from_domain = "nothing.example.net";
	txt(d, "_dmarc.nothing.example.net", NULL);
	txt(d, "_dmarc.example.net", NULL);
	ck_assert_int_eq(dmarc_check(&in, d, &o), SPF_DONE);
	ck_assert_int_eq(o.result, DMARC_NONE);
	spf_dns_add(d, "_dmarc.broken.example", SPF_Q_TXT, SPF_DNS_TEMPFAIL, NULL, 0);
	in.from_domain = "broken.example";
	ck_assert_int_eq(dmarc_check(&in, d, &o), SPF_DONE);
	ck_assert_int_eq(o.result, DMARC_TEMPERROR);
	const char *two[] = { "v=DMARC1; p=reject", "v=DMARC1; p=none" };
	spf_dns_add(d, "_dmarc.two.example", SPF_Q_TXT, SPF_DNS_NOERROR, two, 2);
	in.from_domain = "two.example";
	ck_assert_int_eq(dmarc_check(&in, d, &o), SPF_DONE);
	ck_assert_int_eq(o.result, DMARC_NONE);
	in.from_domain = NULL;
	ck_assert_int_eq(dmarc_check(&in, d, &o), SPF_DONE);
	ck_assert_int_eq(o.result, DMARC_PERMERROR);
	spf_dns_free(&d);
}
END_TEST

START_TEST(test_authserv_id)
{
	char id[64];

	ck_assert(authres_authserv_id(" mx.example.org; spf=pass", 25, id, sizeof(id)));
	ck_assert_str_eq(id, "mx.example.org");
	ck_assert(authres_authserv_id("(comment (nested)) mx.example.org 1; none", 41, id, sizeof(id)));
	ck_assert_str_eq(id, "mx.example.org");
	ck_assert(authres_authserv_id("\"mx.example.org\";none", 21, id, sizeof(id)));
	ck_assert_str_eq(id, "mx.example.org");
	ck_assert(!authres_authserv_id("  ; none", 8, id, sizeof(id)));
}
END_TEST

START_TEST(test_strip)
{
	const char *msg =
	    "Authentication-Results: MX.example.org;\r\n\tdkim=pass header.d=paypal.com\r\n"
	    "Received: from x\r\n"
	    "Authentication-Results: other.example; spf=pass\r\n"
	    "authentication-results: (forged) mx.example.org; dmarc=pass\r\n"
	    "Subject: hi\r\n"
	    "\r\n"
	    "Authentication-Results: mx.example.org; body text stays\r\n";
	const char *want =
	    "Received: from x\r\n"
	    "Authentication-Results: other.example; spf=pass\r\n"
	    "Subject: hi\r\n"
	    "\r\n";
	struct mm_buf out;
	size_t hdr_end = (size_t)(strstr(msg, "\r\n\r\n") - msg) + 4;

	mm_buf_init(&out);
	ck_assert_uint_eq(authres_strip(msg, hdr_end, "mx.example.org", &out), 2);
	ck_assert_str_eq(mm_buf_cstr(&out), want);
	mm_buf_free(&out);
}
END_TEST

START_TEST(test_format)
{
	struct authres_item it[3] = {
		{ "spf", "pass", NULL, { "smtp" }, { "mailfrom" }, { "user@example.com" } },
		{ "dkim", "fail", "body hash did not verify", { "header", "header" }, { "d", "s" },
		  { "example.com", "sel;\r\nX-Evil: 1" } },
		{ "dmarc", "pass", NULL, { "header" }, { "from" }, { "example.com" } },
	};
	struct mm_buf out;

	mm_buf_init(&out);
	authres_format(&out, "mx.example.org", it, 3);
	ck_assert_str_eq(mm_buf_cstr(&out),
	    "Authentication-Results: mx.example.org;\r\n"
	    "\tspf=pass smtp.mailfrom=user@example.com;\r\n"
	    "\tdkim=fail reason=\"body hash did not verify\" header.d=example.com header.s=\"sel;X-Evil: 1\";\r\n"
	    "\tdmarc=pass header.from=example.com\r\n");
	mm_buf_free(&out);
	mm_buf_init(&out);
	authres_format(&out, "mx.example.org", NULL, 0);
	ck_assert_str_eq(mm_buf_cstr(&out), "Authentication-Results: mx.example.org; none\r\n");
	mm_buf_free(&out);
}
END_TEST

START_TEST(test_dnsbl)
{
	const char *listed[] = { "127.0.0.2" }, *refused[] = { "127.255.255.254" },
	    *wild[] = { "192.0.2.7" }, *test[] = { "127.0.0.1" },
	    *mixed[] = { "127.255.255.255", "127.0.0.10" };
	char buf[256];

	ck_assert_int_eq(dnsbl_interpret("zen.example", listed, 1), DNSBL_LISTED);
	ck_assert_int_eq(dnsbl_interpret("zen.example", refused, 1), DNSBL_ERROR);
	ck_assert_int_eq(dnsbl_interpret("zen.example", wild, 1), DNSBL_ERROR);
	ck_assert_int_eq(dnsbl_interpret("zen.example", test, 1), DNSBL_ERROR);
	ck_assert_int_eq(dnsbl_interpret("zen.example", mixed, 2), DNSBL_LISTED);
	ck_assert_int_eq(dnsbl_interpret("zen.example", NULL, 0), DNSBL_NOT_LISTED);
	ck_assert(dnsbl_query_name("192.0.2.99", "bl.example", buf, sizeof(buf)));
	ck_assert_str_eq(buf, "99.2.0.192.bl.example");
	ck_assert(dnsbl_query_name("2001:db8::1", "bl.example", buf, sizeof(buf)));
	ck_assert_str_eq(buf, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.example");
	ck_assert(!dnsbl_query_name("not-an-ip", "bl.example", buf, sizeof(buf)));
}
END_TEST

static Suite *
inbound_suite(void)
{
	Suite *s = suite_create("inbound");
	TCase *tc = tcase_create("dmarc");
	tcase_add_loop_test(tc, test_record, 0, N(records));
	tcase_add_test(tc, test_org_domain);
	tcase_add_test(tc, test_check);
	suite_add_tcase(s, tc);
	tc = tcase_create("authres");
	tcase_add_test(tc, test_authserv_id);
	tcase_add_test(tc, test_strip);
	tcase_add_test(tc, test_format);
	suite_add_tcase(s, tc);
	tc = tcase_create("dnsbl");
	tcase_add_test(tc, test_dnsbl);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(inbound_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
