/* fuzz_clientcfg.c: libFuzzer harness for the Outlook autodiscover
 * request reader and the address check of lib/clientcfg.c, and for the
 * XML it writes around what a client sent. The input is a request body
 * (and, NUL-terminated, an address, a domain and a string to escape).
 * Properties: an accepted address is a lower-case address that
 * clientcfg_address() accepts; nothing a client sends adds markup to a
 * response (the number of '<' does not change); escaped text holds no
 * markup character and no '&' but the five entities. */
#include "fuzz/fuzz.h"

#include "lib/clientcfg.h"
#include "lib/config.h"
#include "lib/limits.h"

static const char conf[] =
    "hostname = mail.example.org\n"
    "domains = example.org example.net\n"
    "[listen]\nsubmission = 587\nsubmissions = 465\nimaps = 993\npop3s = 995\n"
    "[tls]\ncert = /c.pem\nkey = /k.pem\n";

static struct config *cfg;

static size_t
count_lt(const char *s)
{
	size_t n = 0;
	for (; *s != '\0'; s++)
		n += *s == '<';
	return n;
}

static void
check_escaped(const char *s)
{
	static const char *const ents[] = { "&amp;", "&lt;", "&gt;", "&quot;", "&apos;" };
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		FUZZ_CHECK(c != '<' && c != '>' && c != '"' && c != '\'' && c != 0x7f);
		FUZZ_CHECK(c >= 0x20 || c == '\t' || c == '\n' || c == '\r');
		if (c == '&') {
			bool ok = false;
			for (size_t i = 0; i < 5; i++)
				ok = ok || strncmp(s, ents[i], strlen(ents[i])) == 0;
			FUZZ_CHECK(ok);
		}
	}
}

/* The response for addr has exactly the markup of the response for a
 * plain address in the same domain. */
static void
check_response(const char *addr)
{
	char *resp = clientcfg_autodiscover(cfg, addr);
	const char *at = strchr(addr, '@');
	FUZZ_CHECK(at != NULL);
	FUZZ_CHECK((resp != NULL) == config_is_local_domain(cfg, at + 1));
	if (resp == NULL)
		return;
	char *plain = xasprintf("a@%s", at + 1);
	char *ref = clientcfg_autodiscover(cfg, plain);
	FUZZ_CHECK(ref != NULL);
	FUZZ_CHECK(count_lt(resp) == count_lt(ref));
	free(ref);
	free(plain);
	free(resp);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (cfg == NULL) {
		struct config_errors errs;
		config_errors_init(&errs);
		cfg = config_parse("fuzz.conf", conf, sizeof(conf) - 1, &errs);
		FUZZ_CHECK(cfg != NULL);
		config_errors_clear(&errs);
	}
	char *in = fuzz_dup(data, size);
	char addr[ADDRESS_MAX_BYTES + 1], dom[ADDRESS_MAX_BYTES + 1];

	/* the request body */
	memset(addr, 'x', sizeof(addr));
	enum clientcfg_req r = clientcfg_autodiscover_parse(in, size, addr);
	FUZZ_CHECK(clientcfg_req_str(r) != NULL);
	if (r == CLIENTCFG_REQ_OK) {
		size_t n = strnlen(addr, sizeof(addr));
		FUZZ_CHECK(n > 0 && n <= ADDRESS_MAX_BYTES);
		for (size_t i = 0; i < n; i++)
			FUZZ_CHECK(addr[i] < 'A' || addr[i] > 'Z');
		FUZZ_CHECK(clientcfg_address(addr, n, NULL, NULL));
		check_response(addr);
	}

	/* the input as an address */
	if (clientcfg_address(in, size, addr, dom)) {
		FUZZ_CHECK(strlen(addr) == size);
		FUZZ_CHECK(mm_strncaseeq(addr, in, size));
		const char *at = strchr(addr, '@');
		FUZZ_CHECK(at != NULL && strcmp(at + 1, dom) == 0);
		check_response(addr);
	}

	/* the input as text: escaping, a domain, an address for the table */
	char *s = fuzz_strdup(data, size);
	struct mm_buf b;
	mm_buf_init(&b);
	clientcfg_xml_escape(&b, s);
	check_escaped(mm_buf_cstr(&b));
	mm_buf_free(&b);
	char *ac = clientcfg_autoconfig(cfg, s);
	FUZZ_CHECK(ac == NULL || config_is_local_domain(cfg, s));
	if (ac != NULL)
		FUZZ_CHECK(count_lt(ac) > 0);
	free(ac);
	char err[256];
	char *table = clientcfg_table(cfg, s, err, sizeof(err));
	FUZZ_CHECK(table != NULL || err[0] != '\0');
	free(table);
	char *e = clientcfg_autodiscover_error(600, s);
	char *e0 = clientcfg_autodiscover_error(600, "x");
	FUZZ_CHECK(count_lt(e) == count_lt(e0));
	free(e0);
	free(e);

	free(s);
	free(in);
	return 0;
}
