/* ctl-dkim.c: "minimailctl dkim keygen" makes a domain's two DKIM keys
 * (RSA 2048 and Ed25519) for a selector, and "minimailctl dns" prints
 * every DNS record a domain needs, zone-file style, the DKIM ones from
 * those keys.
 *
 * The one idea for rotation: a key is never replaced. keygen with a new
 * selector makes new files while the daemon goes on signing with the
 * selector in [dkim]; "dns DOMAIN --selector NEW" prints the records to
 * publish first; then [dkim] selector = NEW and a SIGHUP switch over, and
 * the old records stay published until mail signed with them has been
 * read. */
#include "ctl/ctl-dkim.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl/ctl-inbound.h"
#include "dkim/dkim.h"
#include "lib/config.h"
#include "lib/util.h"

#define DNS_TTL_SECS 3600

static int __attribute__((format(printf, 1, 2)))
fail(const char *fmt, ...)
{
	va_list ap;
	fputs("minimailctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

/* DOMAIN [--selector S]: the domain (lower-cased into dom) and selector. */
static int
args(const struct config *cfg, int argc, char **argv, const char *usage,
    char *dom, size_t domlen, const char **sel_r)
{
	const char *d = NULL;

	*sel_r = cfg->dkim_selector;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--selector") == 0 && i + 1 < argc)
			*sel_r = argv[++i];
		else if (argv[i][0] == '-' || d != NULL)
			return fail("usage: minimailctl %s", usage);
		else
			d = argv[i];
	}
	if (d == NULL)
		return fail("usage: minimailctl %s", usage);
	if (!config_dkim_selector_valid(*sel_r))
		return fail("bad selector '%s' (letters, digits, '-' and dots, at most %d "
		    "characters)", *sel_r, DKIM_SELECTOR_MAX_BYTES);
	if (strlen(d) >= domlen || !config_is_local_domain(cfg, d))
		return fail("'%s' is not one of the local domains in %s", d, cfg->path);
	mm_strlcpy(dom, d, domlen);
	mm_strlower(dom);
	return 0;
}

static int
mkdir_0700(const char *path)
{
	if (mkdir(path, 0700) == 0 || errno == EEXIST)
		return 0;
	return fail("%s: %s", path, strerror(errno));
}

int
ctl_dkim_keygen(const struct config *cfg, int argc, char **argv)
{
	static const enum dkim_alg algs[] = { DKIM_ALG_RSA_SHA256, DKIM_ALG_ED25519_SHA256 };
	char dom[DKIM_DOMAIN_MAX_BYTES + 1], path[2][2048], dir[2048], err[1400];
	const char *sel;
	struct stat sb;

	if (args(cfg, argc, argv, "dkim keygen DOMAIN [--selector S]", dom, sizeof(dom),
	    &sel) != 0)
		return 1;
	snprintf(dir, sizeof(dir), "%s/dkim", cfg->data_dir);
	if (mkdir_0700(cfg->data_dir) != 0 || mkdir_0700(dir) != 0)
		return 1;
	/* both or neither: refuse before making anything */
	for (int a = 0; a < 2; a++) {
		dkim_key_path(cfg->data_dir, dom, sel, algs[a], path[a], sizeof(path[a]));
		if (lstat(path[a], &sb) == 0)
			return fail("%s exists (a key is never replaced: choose a new selector "
			    "with --selector)", path[a]);
	}
	for (int a = 0; a < 2; a++) {
		EVP_PKEY *k = dkim_key_generate(algs[a], err, sizeof(err));
		if (k == NULL || !dkim_key_write(path[a], k, err, sizeof(err))) {
			EVP_PKEY_free(k);
			if (a == 1)
				unlink(path[0]);
			return fail("%s", err);
		}
		EVP_PKEY_free(k);
		char name[DKIM_SELECTOR_MAX_BYTES + 16];
		dkim_selector_name(sel, algs[a], name, sizeof(name));
		printf("%s: %s key for selector %s\n", path[a],
		    algs[a] == DKIM_ALG_RSA_SHA256 ? "RSA 2048-bit" : "Ed25519", name);
	}
	if (strcmp(sel, cfg->dkim_selector) != 0)
		printf("publish the records of \"minimailctl dns %s --selector %s\", then set "
		    "[dkim] selector = %s and reload\n", dom, sel, sel);
	else
		printf("publish the records of \"minimailctl dns %s\"; the daemon signs with "
		    "them after a reload\n", dom);
	return 0;
}

/* One TXT record: data in quoted strings of at most 255 bytes. */
static void
txt(const char *name, const char *data)
{
	size_t n = strlen(data);

	printf("%s. %d IN TXT", name, DNS_TTL_SECS);
	for (size_t i = 0; i < n || i == 0; i += DKIM_TXT_STRING_MAX_BYTES) {
		size_t k = n - i < DKIM_TXT_STRING_MAX_BYTES ? n - i : DKIM_TXT_STRING_MAX_BYTES;
		printf(" \"%.*s\"", (int)k, data + i);
		if (n == 0)
			break;
	}
	putchar('\n');
}

/* RFC 6186 / 8314 SRV: the listener's first port, or "no service" (". 0"). */
static void
srv(const struct config *cfg, const char *dom, const char *svc, enum listener_id l,
    unsigned prio)
{
	const struct config_listen *ls = &cfg->listen[l];

	if (ls->naddrs == 0)
		printf("_%s._tcp.%s. %d IN SRV 0 0 0 .\n", svc, dom, DNS_TTL_SECS);
	else
		printf("_%s._tcp.%s. %d IN SRV %u 1 %u %s.\n", svc, dom, DNS_TTL_SECS, prio,
		    ls->addrs[0].port, cfg->hostname);
}

/* FNV-1a of s, for an MTA-STS id that changes when hostname does. */
static unsigned long long
fnv1a(const char *s)
{
	unsigned long long h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

int
ctl_dns(const struct config *cfg, int argc, char **argv)
{
	static const enum dkim_alg algs[] = { DKIM_ALG_RSA_SHA256, DKIM_ALG_ED25519_SHA256 };
	char dom[DKIM_DOMAIN_MAX_BYTES + 1], path[2048], err[1400], rec[2048];
	const char *sel, *host = cfg->hostname;
	int rc = 0;

	if (argc >= 2 && strcmp(argv[1], "check") == 0) {
		if (args(cfg, argc - 1, argv + 1, "dns check DOMAIN [--selector S]", dom,
		    sizeof(dom), &sel) != 0)
			return 1;
		return ctl_dns_check_resolver(cfg, dom, sel);
	}
	if (args(cfg, argc, argv, "dns DOMAIN [--selector S]", dom, sizeof(dom), &sel) != 0)
		return 1;

	printf("; DNS records for %s (minimaild on %s); TTLs are a suggestion\n", dom, host);
	printf("%s. %d IN MX 10 %s.\n", dom, DNS_TTL_SECS, host);
	printf("; %s. %d IN A <this server's IPv4 address>  (its PTR must be %s.)\n",
	    host, DNS_TTL_SECS, host);
	printf("; %s. %d IN AAAA <this server's IPv6 address>  (its PTR must be %s.)\n",
	    host, DNS_TTL_SECS, host);
	txt(dom, "v=spf1 mx -all");
	for (int a = 0; a < 2; a++) {
		char name[DKIM_SELECTOR_MAX_BYTES + 16], owner[DKIM_DOMAIN_MAX_BYTES + 96];
		unsigned char pub[DKIM_PUBKEY_MAX_BYTES];
		size_t plen;
		bool missing;
		dkim_selector_name(sel, algs[a], name, sizeof(name));
		snprintf(owner, sizeof(owner), "%s._domainkey.%s", name, dom);
		dkim_key_path(cfg->data_dir, dom, sel, algs[a], path, sizeof(path));
		EVP_PKEY *k = dkim_key_load(path, algs[a], &missing, err, sizeof(err));
		if (k == NULL && missing) {
			bool other = strcmp(sel, cfg->dkim_selector) != 0;
			printf("; %s: no key yet (minimailctl dkim keygen %s%s%s)\n", owner, dom,
			    other ? " --selector " : "", other ? sel : "");
			continue;
		}
		if (k == NULL) {
			fail("%s", err);
			rc = 1;
			continue;
		}
		bool ok = dkim_key_public(k, algs[a], pub, sizeof(pub), &plen);
		EVP_PKEY_free(k);
		if (!ok) {
			rc = fail("%s: cannot encode the public key", path);
			continue;
		}
		struct mm_buf b;
		mm_buf_init(&b);
		dkim_keyrec_format(&b, algs[a], pub, plen);
		txt(owner, mm_buf_cstr(&b));
		mm_buf_free(&b);
	}
	snprintf(rec, sizeof(rec), "v=DMARC1; p=quarantine; rua=mailto:postmaster@%s", dom);
	printf("_dmarc.");
	txt(dom, rec);
	snprintf(rec, sizeof(rec), "v=STSv1; id=%016llx", fnv1a(host));
	printf("_mta-sts.");
	txt(dom, rec);
	printf("mta-sts.%s. %d IN CNAME %s.\n", dom, DNS_TTL_SECS, host);
	snprintf(rec, sizeof(rec), "v=TLSRPTv1; rua=mailto:postmaster@%s", dom);
	printf("_smtp._tls.");
	txt(dom, rec);
	srv(cfg, dom, "submissions", LSN_SUBMISSIONS, 0);
	srv(cfg, dom, "submission", LSN_SUBMISSION, 1);
	srv(cfg, dom, "imaps", LSN_IMAPS, 0);
	srv(cfg, dom, "imap", LSN_IMAP, 1);
	srv(cfg, dom, "pop3s", LSN_POP3S, 10);
	srv(cfg, dom, "pop3", LSN_POP3, 11);
	printf("autoconfig.%s. %d IN CNAME %s.\n", dom, DNS_TTL_SECS, host);
	printf("autodiscover.%s. %d IN CNAME %s.\n", dom, DNS_TTL_SECS, host);
	printf("_autodiscover._tcp.%s. %d IN SRV 0 1 443 %s.\n", dom, DNS_TTL_SECS, host);
	return rc;
}
