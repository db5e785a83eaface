/* check_dnscheck.c: "minimailctl dns check" (src/ctl/ctl-dnscheck.c)
 * against a table of DNS answers: everything right; a missing DMARC
 * record and a DKIM record with another key; SPF that does and does not
 * cover the server's address (mx, ip4 networks, include); a PTR naming
 * another host; a lookup that fails. Each report line exactly. */
#include "ctl/ctl-dnscheck.h"
#include "lib/config.h"

#include <check.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dkim/dkim.h"

#define DATA ABS_TOP_SRCDIR "/tests/data/dkim/"

struct rr {
	enum ctl_rr type;
	const char *name, *value;
};

struct zone {
	struct rr rr[32];
	size_t n;
	const char *temp;         /* this name fails */
};

static enum ctl_dns_answer
lookup(void *arg, enum ctl_rr type, const char *name, struct mm_strlist *out)
{
	struct zone *z = arg;
	size_t found = 0;
	if (z->temp != NULL && strcmp(z->temp, name) == 0)
		return CTL_DNS_TEMP;
	for (size_t i = 0; i < z->n; i++)
		if (z->rr[i].type == type && strcmp(z->rr[i].name, name) == 0) {
			mm_strlist_add(out, z->rr[i].value);
			found++;
		}
	return found ? CTL_DNS_OK : CTL_DNS_NONE;
}

static void
add(struct zone *z, enum ctl_rr t, const char *name, const char *value)
{
	z->rr[z->n].type = t;
	z->rr[z->n].name = name;
	z->rr[z->n].value = value;
	z->n++;
}

static char datadir[] = "/tmp/check_dnscheck_XXXXXX";
static struct config *cfg;
static char rsa_rec[1024], ed_rec[256];

static void
copy(const char *from, const char *to)
{
	FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
	char buf[4096];
	size_t n;
	ck_assert(a != NULL && b != NULL);
	while ((n = fread(buf, 1, sizeof(buf), a)) > 0)
		fwrite(buf, 1, n, b);
	fclose(a);
	fclose(b);
	chmod(to, 0600);
}

static void
record(const char *path, enum dkim_alg alg, char *out, size_t len)
{
	char err[512];
	unsigned char pub[DKIM_PUBKEY_MAX_BYTES];
	size_t plen;
	struct mm_buf b;
	EVP_PKEY *k = dkim_key_load(path, alg, NULL, err, sizeof(err));
	ck_assert_msg(k != NULL, "%s", err);
	ck_assert(dkim_key_public(k, alg, pub, sizeof(pub), &plen));
	EVP_PKEY_free(k);
	mm_buf_init(&b);
	dkim_keyrec_format(&b, alg, pub, plen);
	mm_strlcpy(out, mm_buf_cstr(&b), len);
	mm_buf_free(&b);
}

static void
setup(void)
{
	char path[600], text[1200];
	struct config_errors errs;

	ck_assert_ptr_nonnull(mkdtemp(datadir));
	snprintf(path, sizeof(path), "%s/dkim", datadir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/dkim/example.org.t-rsa.key", datadir);
	copy(DATA "rsa2048.key", path);
	record(path, DKIM_ALG_RSA_SHA256, rsa_rec, sizeof(rsa_rec));
	snprintf(path, sizeof(path), "%s/dkim/example.org.t-ed25519.key", datadir);
	copy(DATA "ed25519.key", path);
	record(path, DKIM_ALG_ED25519_SHA256, ed_rec, sizeof(ed_rec));
	snprintf(text, sizeof(text), "hostname = mail.example.org\ndomains = example.org\n"
	    "data_dir = %s\n[dkim]\nselector = t\n", datadir);
	config_errors_init(&errs);
	cfg = config_parse("t.conf", text, strlen(text), &errs);
	ck_assert_ptr_nonnull(cfg);
	config_errors_clear(&errs);
}

static void
teardown(void)
{
	char cmd[700];
	config_free(&cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", datadir);
	ck_assert_int_eq(system(cmd), 0);
	strcpy(datadir, "/tmp/check_dnscheck_XXXXXX");
}

static void
good_zone(struct zone *z)
{
	memset(z, 0, sizeof(*z));
	add(z, CTL_RR_MX, "example.org", "10 mail.example.org");
	add(z, CTL_RR_A, "mail.example.org", "192.0.2.1");
	add(z, CTL_RR_AAAA, "mail.example.org", "2001:db8::25");
	add(z, CTL_RR_PTR, "1.2.0.192.in-addr.arpa", "MAIL.example.org.");
	add(z, CTL_RR_PTR, "5.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa",
	    "mail.example.org");
	add(z, CTL_RR_TXT, "example.org", "google-site-verification=xyz");
	add(z, CTL_RR_TXT, "example.org", "v=spf1 mx -all");
	add(z, CTL_RR_TXT, "t-rsa._domainkey.example.org", rsa_rec);
	add(z, CTL_RR_TXT, "t-ed25519._domainkey.example.org", ed_rec);
	add(z, CTL_RR_TXT, "_dmarc.example.org", "v=DMARC1; p=quarantine");
	add(z, CTL_RR_TXT, "_mta-sts.example.org", "v=STSv1; id=1");
	add(z, CTL_RR_TXT, "_smtp._tls.example.org", "v=TLSRPTv1; rua=mailto:x@example.org");
}

static char *
run(struct zone *z, int *rc)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	*rc = ctl_dns_check(cfg, "example.org", "t", lookup, z, f);
	fclose(f);
	return buf;
}

START_TEST(test_all_present)
{
	struct zone z;
	int rc;
	good_zone(&z);
	char *out = run(&z, &rc);
	ck_assert_str_eq(out,
	    "present example.org MX\n"
	    "present mail.example.org A/AAAA\n"
	    "present 1.2.0.192.in-addr.arpa PTR\n"
	    "present 5.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa PTR\n"
	    "present example.org TXT: SPF covers 192.0.2.1\n"
	    "present t-rsa._domainkey.example.org TXT\n"
	    "present t-ed25519._domainkey.example.org TXT\n"
	    "present _dmarc.example.org TXT\n"
	    "present _mta-sts.example.org TXT\n"
	    "present _smtp._tls.example.org TXT\n");
	ck_assert_int_eq(rc, 0);
	free(out);
}
END_TEST

START_TEST(test_missing_dmarc_wrong_dkim)
{
	struct zone z;
	int rc;
	good_zone(&z);
	z.n -= 3;                       /* no DMARC, MTA-STS, TLS-RPT */
	z.rr[z.n - 1].value = "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
	add(&z, CTL_RR_TXT, "_mta-sts.example.org", "v=STSv1; id=1");
	add(&z, CTL_RR_TXT, "_smtp._tls.example.org", "v=TLSRPTv1; rua=mailto:x@example.org");
	char *out = run(&z, &rc);
	ck_assert_int_eq(rc, 1);
	char want[700];
	snprintf(want, sizeof(want), "wrong t-ed25519._domainkey.example.org TXT: the key does "
	    "not match %s/dkim/example.org.t-ed25519.key\n", datadir);
	ck_assert_msg(strstr(out, want) != NULL, "%s", out);
	ck_assert_msg(strstr(out, "missing _dmarc.example.org TXT: \"v=DMARC1; p=quarantine; "
	    "rua=mailto:postmaster@example.org\"\n") != NULL, "%s", out);
	ck_assert(strstr(out, "present t-rsa._domainkey.example.org TXT\n") != NULL);
	free(out);
}
END_TEST

static const struct {
	const char *spf, *line;
	int rc;
} spfs[] = {
	{ "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 -all",
	  "present example.org TXT: SPF covers 192.0.2.1", 0 },
	{ "v=spf1 ip4:198.51.100.0/24 -all", "wrong example.org TXT: SPF does not cover 192.0.2.1", 1 },
	{ "v=spf1 ip4:192.0.2.1 -all", "wrong example.org TXT: SPF does not cover 2001:db8::25", 1 },
	{ "v=spf1 -mx -all", "wrong example.org TXT: SPF does not cover 192.0.2.1", 1 },
	{ "v=spf1 include:_spf.provider.example -all",
	  "present example.org TXT: SPF (include/redirect not followed: check that they cover "
	  "192.0.2.1)", 0 },
	{ "v=spf2.0/pra mx", "missing example.org TXT: no SPF record (publish \"v=spf1 mx -all\")", 1 },
};

START_TEST(test_spf)
{
	struct zone z;
	int rc;
	good_zone(&z);
	z.rr[6].value = spfs[_i].spf;
	char *out = run(&z, &rc);
	ck_assert_msg(strstr(out, spfs[_i].line) != NULL, "%s", out);
	ck_assert_int_eq(rc, spfs[_i].rc);
	free(out);
}
END_TEST

START_TEST(test_ptr_and_errors)
{
	struct zone z;
	int rc;
	good_zone(&z);
	z.rr[3].value = "host-192-0-2-1.isp.example";
	z.temp = "_mta-sts.example.org";
	z.rr[0].value = "10 mx.provider.example";
	char *out = run(&z, &rc);
	ck_assert_int_eq(rc, 1);
	ck_assert_msg(strstr(out, "wrong 1.2.0.192.in-addr.arpa PTR: names "
	    "host-192-0-2-1.isp.example, not mail.example.org\n") != NULL, "%s", out);
	ck_assert(strstr(out, "error _mta-sts.example.org TXT: the lookup failed\n") != NULL);
	ck_assert(strstr(out, "wrong example.org MX: no MX names mail.example.org (found 10 "
	    "mx.provider.example)\n") != NULL);
	/* mx no longer covers us: SPF "mx" does not either */
	ck_assert(strstr(out, "wrong example.org TXT: SPF does not cover 192.0.2.1\n") != NULL);
	free(out);

	memset(&z, 0, sizeof(z));
	out = run(&z, &rc);
	ck_assert_int_eq(rc, 1);
	ck_assert(strstr(out, "missing example.org MX: example.org. IN MX 10 mail.example.org.\n")
	    != NULL);
	ck_assert(strstr(out, "missing mail.example.org A/AAAA") != NULL);
	free(out);
}
END_TEST

static Suite *
dnscheck_suite(void)
{
	Suite *s = suite_create("dnscheck");
	TCase *tc = tcase_create("check");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_all_present);
	tcase_add_test(tc, test_missing_dmarc_wrong_dkim);
	tcase_add_loop_test(tc, test_spf, 0, (int)(sizeof(spfs) / sizeof(spfs[0])));
	tcase_add_test(tc, test_ptr_and_errors);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(dnscheck_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
