/* fuzz_config.c: libFuzzer harness for the configuration file parser
 * (lib/config.c). The input is the file's text. Properties: every error
 * and warning names the file; a file that parses dumps (config_dump) to a
 * text that parses again, without errors, to the same dump; the value
 * parsers (sizes, durations, listen lists) never crash on any text.
 * getaddrinfo is wrapped (-Wl,--wrap) so a missing 'hostname' costs no
 * DNS look-up per input. */
#include "fuzz/fuzz.h"

#include <netdb.h>

#include "lib/config.h"

int __wrap_getaddrinfo(const char *node, const char *service,
    const struct addrinfo *hints, struct addrinfo **res);

int
__wrap_getaddrinfo(const char *node, const char *service,
    const struct addrinfo *hints, struct addrinfo **res)
{
	*res = NULL;
	return EAI_FAIL;
}

#define PATH "fuzz.conf"

static void
check_errors(const struct config_errors *e)
{
	for (size_t i = 0; i < e->errors.n; i++)
		FUZZ_CHECK(strncmp(e->errors.v[i], PATH ":", strlen(PATH) + 1) == 0);
	for (size_t i = 0; i < e->warnings.n; i++)
		FUZZ_CHECK(strncmp(e->warnings.v[i], PATH ":", strlen(PATH) + 1) == 0);
}

static void
check_values(const char *s)
{
	uint64_t v;
	struct config_listen l;
	char err[256];

	(void)config_parse_size(s, &v);
	(void)config_parse_duration(s, &v);
	if (config_parse_listen(s, &l, err, sizeof(err))) {
		FUZZ_CHECK(l.naddrs <= CONFIG_LISTEN_ADDRS_MAX);
		for (size_t i = 0; i < l.naddrs; i++)
			FUZZ_CHECK(memchr(l.addrs[i].host, '\0',
			    sizeof(l.addrs[i].host)) != NULL);
	} else {
		FUZZ_CHECK(err[0] != '\0');
		FUZZ_CHECK(l.naddrs == 0);
	}
	free(l.addrs);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_dup(data, size);
	struct config_errors errs;

	config_errors_init(&errs);
	struct config *cfg = config_parse(PATH, text, size, &errs);
	check_errors(&errs);
	if (cfg == NULL) {
		FUZZ_CHECK(errs.errors.n > 0);
	} else {
		FUZZ_CHECK(errs.errors.n == 0);
		FUZZ_CHECK(cfg->domains.n > 0);
		FUZZ_CHECK(cfg->hostname != NULL);
		for (size_t i = 0; i < cfg->domains.n; i++)
			FUZZ_CHECK(config_is_local_domain(cfg, cfg->domains.v[i]));
		char *dump = config_dump(cfg);
		struct config_errors errs2;
		config_errors_init(&errs2);
		struct config *cfg2 = config_parse(PATH, dump, strlen(dump), &errs2);
		if (cfg2 == NULL) {
			for (size_t i = 0; i < errs2.errors.n; i++)
				fprintf(stderr, "%s\n", errs2.errors.v[i]);
			fprintf(stderr, "dump:\n%s", dump);
		}
		FUZZ_CHECK(cfg2 != NULL);
		char *dump2 = config_dump(cfg2);
		if (strcmp(dump, dump2) != 0)
			fprintf(stderr, "dump:\n%s\ndump again:\n%s", dump, dump2);
		FUZZ_CHECK(strcmp(dump, dump2) == 0);
		free(dump2);
		config_free(&cfg2);
		config_errors_clear(&errs2);
		free(dump);
		config_free(&cfg);
		FUZZ_CHECK(cfg == NULL);
	}
	config_errors_clear(&errs);

	/* the value parsers on the first line */
	size_t n = 0;
	while (n < size && n < 4096 && data[n] != '\n' && data[n] != '\0')
		n++;
	char *line = fuzz_strdup(data, n);
	check_values(line);
	free(line);
	free(text);
	return 0;
}
