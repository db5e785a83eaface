/* fuzz_inbound.c: libFuzzer harness for the inbound evaluators (src/mail):
 * SPF records and macros (spf.c), DMARC records (dmarc.c) and
 * Authentication-Results (authres.c).
 * Input: the bytes up to the first NUL are the SPF record of the checked
 * domain (and the text of a TXT record that exp= and include: targets
 * find), the rest is a DMARC record and an Authentication-Results value.
 * The DNS answers are a fixed table that every name misses except those;
 * the evaluator runs until it stops asking, which it must (every query it
 * names is answered, and its limits bound how many it can name).
 * Properties: a result word exists; the lookup and void counts stay within
 * one past their limits; the written header is printable ASCII with CRLF
 * line ends and no line break inside a value. */
#include "fuzz/fuzz.h"

#include "mail/authres.h"
#include "mail/dmarc.h"
#include "mail/spf.h"

static void
check_spf(const char *rec, const char *ip)
{
	struct spf_request req = { ip, "user@fuzz.example", "helo.fuzz.example",
	    "mx.fuzz.example", 1000000000 };
	struct spf_dns *dns = spf_dns_new();
	struct spf_outcome out;
	int rounds = 0;

	while (spf_check(&req, dns, &out) == SPF_NEED_DNS) {
		FUZZ_CHECK(++rounds < 1000);
		FUZZ_CHECK(out.need_name[0] != '\0');
		const char *answer = rec;
		if (out.need_type == SPF_Q_TXT)
			spf_dns_add(dns, out.need_name, SPF_Q_TXT, SPF_DNS_NOERROR, &answer, 1);
		else if (out.need_type == SPF_Q_A) {
			const char *a = "192.0.2.1";
			spf_dns_add(dns, out.need_name, out.need_type, SPF_DNS_NOERROR, &a, 1);
		} else if (out.need_type == SPF_Q_MX) {
			const char *mx[] = { "mx1.fuzz.example", "mx2.fuzz.example" };
			spf_dns_add(dns, out.need_name, out.need_type, SPF_DNS_NOERROR, mx, 2);
		} else
			spf_dns_add(dns, out.need_name, out.need_type, SPF_DNS_NXDOMAIN, NULL, 0);
	}
	FUZZ_CHECK(spf_result_name(out.result) != NULL);
	FUZZ_CHECK(out.lookups <= SPF_LOOKUP_TERMS_MAX + 1);
	FUZZ_CHECK(out.voids <= SPF_VOID_LOOKUPS_MAX + 1);
	for (const char *p = out.explanation; *p; p++)
		FUZZ_CHECK((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f);
	spf_dns_free(&dns);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';
	size_t first = strlen(s);
	const char *rest = first < size ? s + first + 1 : "";

	check_spf(s, "192.0.2.1");
	check_spf(s, "2001:db8::1");

	struct dmarc_record r;
	char err[64];
	if (dmarc_parse_record(rest, &r, err, sizeof(err)))
		FUZZ_CHECK(r.pct <= 100 && r.p != DMARC_P_UNSET && r.sp != DMARC_P_UNSET);

	char id[256];
	(void)authres_authserv_id(rest, strlen(rest), id, sizeof(id));
	struct authres_item it = { "spf", "pass", rest, { "smtp" }, { "mailfrom" }, { s } };
	struct mm_buf out;
	mm_buf_init(&out);
	authres_format(&out, rest, &it, 1);
	for (size_t i = 0; i < out.len; i++) {
		unsigned char c = (unsigned char)out.data[i];
		if (c == '\r')
			FUZZ_CHECK(i + 1 < out.len && out.data[i + 1] == '\n');
		else if (c == '\n')
			FUZZ_CHECK(i > 0 && out.data[i - 1] == '\r' &&
			    (i + 1 == out.len || out.data[i + 1] == '\t'));
		else
			FUZZ_CHECK(c == '\t' || (c >= 0x20 && c < 0x7f));
	}
	mm_buf_free(&out);
	free(s);
	return 0;
}
