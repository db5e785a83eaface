/* spf_driver.c: runs spf_check() against a table of DNS answers read from
 * standard input, for tests/spf_suite.py (the RFC 7208 test suite). It
 * plays the resolver: when the evaluator asks for an answer, the driver
 * looks it up in the table (a name it does not list is NXDOMAIN) and
 * runs the evaluator again, as the daemon does with real DNS answers.
 *
 * Input, one item a line, fields separated by single spaces, every
 * string hex-encoded so that any byte can pass:
 *   D NAME TYPE RCODE [RR...]    TYPE A|AAAA|MX|TXT|PTR, RCODE ok|nx|temp
 *   C IP MAILFROM HELO           check; prints "RESULT EXPLANATION-HEX"
 *   R                            forget the table (next scenario)
 * An empty string is written as "-". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"
#include "mail/spf.h"

#define DRIVER_ROUNDS_MAX 400
#define DRIVER_FIELDS_MAX 64

struct row {
	char *name;
	int type, rcode;
	char **rr;
	size_t nrr;
};

static struct row *rows;
static size_t nrows;

static char *
unhex(const char *s)
{
	size_t n = strlen(s);
	char *out = xmalloc(n / 2 + 1);
	size_t o = 0;

	if (strcmp(s, "-") == 0)
		n = 0;
	for (size_t i = 0; i + 1 < n; i += 2) {
		unsigned v;
		sscanf(s + i, "%2x", &v);
		out[o++] = (char)v;
	}
	out[o] = '\0';
	return out;
}

static int
type_of(const char *s)
{
	static const char *const t[] = { "A", "AAAA", "MX", "TXT", "PTR" };
	for (int i = 0; i < 5; i++)
		if (strcmp(s, t[i]) == 0)
			return i;
	return -1;
}

static void
reset(void)
{
	for (size_t i = 0; i < nrows; i++) {
		for (size_t j = 0; j < rows[i].nrr; j++)
			free(rows[i].rr[j]);
		free(rows[i].rr);
		free(rows[i].name);
	}
	free(rows);
	rows = NULL;
	nrows = 0;
}

static void
check(char **f, size_t nf)
{
	struct spf_request req = { 0 };
	struct spf_outcome out;
	struct spf_dns *dns = spf_dns_new();
	char *ip, *from, *helo;
	int rounds = 0;

	if (nf < 4) {
		puts("usage");
		return;
	}
	ip = unhex(f[1]);
	from = unhex(f[2]);
	helo = unhex(f[3]);
	req.ip = ip;
	req.mail_from = from;
	req.helo = helo;
	req.receiver = "receiver.example";
	req.now = 1000000000;
	while (spf_check(&req, dns, &out) == SPF_NEED_DNS && ++rounds < DRIVER_ROUNDS_MAX) {
		const struct row *r = NULL;
		for (size_t i = 0; i < nrows && r == NULL; i++)
			if ((int)out.need_type == rows[i].type && mm_strcaseeq(rows[i].name, out.need_name))
				r = &rows[i];
		if (r == NULL)
			spf_dns_add(dns, out.need_name, out.need_type, SPF_DNS_NXDOMAIN, NULL, 0);
		else
			spf_dns_add(dns, out.need_name, out.need_type, (enum spf_rcode)r->rcode,
			    (const char *const *)r->rr, r->nrr);
	}
	printf("%s ", rounds >= DRIVER_ROUNDS_MAX ? "loop" : spf_result_name(out.result));
	if (out.explanation[0] == '\0')
		putchar('-');
	for (const char *p = out.explanation; *p; p++)
		printf("%02x", (unsigned char)*p);
	printf(" %d %d\n", out.lookups, out.voids);
	fflush(stdout);
	spf_dns_free(&dns);
	free(ip);
	free(from);
	free(helo);
}

int
main(void)
{
	static char line[1 << 20];

	while (fgets(line, sizeof(line), stdin) != NULL) {
		char *f[DRIVER_FIELDS_MAX];
		size_t nf = 0;
		line[strcspn(line, "\n")] = '\0';
		for (char *tok = strtok(line, " "); tok && nf < DRIVER_FIELDS_MAX; tok = strtok(NULL, " "))
			f[nf++] = tok;
		if (nf == 0)
			continue;
		if (strcmp(f[0], "R") == 0) {
			reset();
		} else if (strcmp(f[0], "D") == 0 && nf >= 4) {
			rows = xrealloc(rows, (nrows + 1) * sizeof(*rows));
			struct row *r = &rows[nrows++];
			r->name = unhex(f[1]);
			r->type = type_of(f[2]);
			r->rcode = strcmp(f[3], "ok") == 0 ? SPF_DNS_NOERROR :
			    strcmp(f[3], "nx") == 0 ? SPF_DNS_NXDOMAIN : SPF_DNS_TEMPFAIL;
			r->nrr = nf - 4;
			r->rr = xcalloc(r->nrr ? r->nrr : 1, sizeof(char *));
			for (size_t i = 0; i < r->nrr; i++)
				r->rr[i] = unhex(f[4 + i]);
		} else if (strcmp(f[0], "C") == 0) {
			check(f, nf);
		}
	}
	reset();
	return 0;
}
