/* ctl-dnscheck.c: "minimailctl dns check DOMAIN": each record that
 * "minimailctl dns" prints, looked up through the caller's function and
 * judged: MX names hostname; hostname has addresses whose PTR names it
 * back; the SPF record covers those addresses (mx, a, ip4, ip6; include
 * and redirect are noted, not followed: the SPF evaluator is issue 14's);
 * each DKIM key record carries exactly our public key; DMARC, MTA-STS and
 * TLS-RPT records exist and say what they are.
 *
 * The one idea: the expected values come from the same places as the
 * "dns" output (the config and the key files), so what "dns" says to
 * publish and what "dns check" accepts cannot drift apart. */
#include "ctl/ctl-dnscheck.h"

#include <arpa/inet.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "dkim/dkim.h"
#include "lib/config.h"

struct check {
	const struct config *cfg;
	ctl_dns_lookup_fn *lookup;
	void *arg;
	FILE *out;
	int bad;
};

static void __attribute__((format(printf, 5, 6)))
report(struct check *c, const char *status, const char *name, const char *type,
    const char *fmt, ...)
{
	va_list ap;

	fprintf(c->out, "%s %s %s", status, name, type);
	if (fmt != NULL && fmt[0] != '\0') {
		fputs(": ", c->out);
		va_start(ap, fmt);
		vfprintf(c->out, fmt, ap);
		va_end(ap);
	}
	fputc('\n', c->out);
	if (strcmp(status, "present") != 0)
		c->bad = 1;
}

/* Looks up; on NONE or TEMP reports (missing: want) and returns false. */
static bool
get(struct check *c, enum ctl_rr type, const char *tname, const char *name,
    struct mm_strlist *l, const char *want)
{
	mm_strlist_init(l);
	switch (c->lookup(c->arg, type, name, l)) {
	case CTL_DNS_OK:
		if (l->n > 0)
			return true;
		/* fall through */
	case CTL_DNS_NONE:
		report(c, "missing", name, tname, "%s", want);
		break;
	default:
		report(c, "error", name, tname, "the lookup failed");
		break;
	}
	mm_strlist_clear(l);
	return false;
}

static bool
host_eq(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 0 && a[la - 1] == '.')
		la--;
	if (lb > 0 && b[lb - 1] == '.')
		lb--;
	return la == lb && mm_strncaseeq(a, b, la);
}

/* The TXT records at name that start with prefix (any case). */
static size_t
txt_with(const struct mm_strlist *l, const char *prefix, size_t *first_r)
{
	size_t n = 0, pl = strlen(prefix);
	for (size_t i = 0; i < l->n; i++) {
		const char *s = l->v[i];
		if (mm_strncaseeq(s, prefix, pl) && (s[pl] == '\0' || s[pl] == ' ' ||
		    s[pl] == ';')) {
			if (n++ == 0)
				*first_r = i;
		}
	}
	return n;
}

static void
one_txt(struct check *c, const char *name, const char *prefix, const char *want)
{
	struct mm_strlist l;
	size_t first = 0, n;

	if (!get(c, CTL_RR_TXT, "TXT", name, &l, want))
		return;
	n = txt_with(&l, prefix, &first);
	if (n == 0)
		report(c, "missing", name, "TXT", "no %s record (publish %s)", prefix, want);
	else if (n > 1)
		report(c, "wrong", name, "TXT", "%zu %s records (there must be one)", n, prefix);
	else
		report(c, "present", name, "TXT", NULL);
	mm_strlist_clear(&l);
}

/* ---- addresses and SPF ---- */

struct addr {
	int af;
	unsigned char b[16];
	char text[64];
};

static bool
addr_parse(const char *s, struct addr *a)
{
	memset(a, 0, sizeof(*a));
	mm_strlcpy(a->text, s, sizeof(a->text));
	if (inet_pton(AF_INET, s, a->b) == 1)
		a->af = AF_INET;
	else if (inet_pton(AF_INET6, s, a->b) == 1)
		a->af = AF_INET6;
	else
		return false;
	return true;
}

static bool
prefix_match(const struct addr *a, const struct addr *net, unsigned bits)
{
	unsigned max = a->af == AF_INET ? 32 : 128;
	if (a->af != net->af || bits > max)
		return false;
	for (unsigned i = 0; i < bits; i++) {
		unsigned char m = (unsigned char)(0x80 >> (i % 8));
		if ((a->b[i / 8] & m) != (net->b[i / 8] & m))
			return false;
	}
	return true;
}

/* The reverse name of a (in-addr.arpa / ip6.arpa). */
static void
reverse_name(const struct addr *a, char *buf, size_t len)
{
	size_t off = 0;
	if (a->af == AF_INET) {
		snprintf(buf, len, "%u.%u.%u.%u.in-addr.arpa", a->b[3], a->b[2], a->b[1],
		    a->b[0]);
		return;
	}
	for (int i = 15; i >= 0 && off + 4 < len; i--)
		off += (size_t)snprintf(buf + off, len - off, "%x.%x.", a->b[i] & 15, a->b[i] >> 4);
	snprintf(buf + off, len - off, "ip6.arpa");
}

/* Does the SPF record cover every address? *unsure_r: it has include,
 * redirect or exists terms, not followed here. */
static bool
spf_covers(const char *rec, const struct addr *addrs, size_t n, bool mx_ok,
    const struct mm_strlist *domain_addrs, bool *unsure_r, char *which, size_t wlen)
{
	bool *cov = xcalloc(n + 1, sizeof(*cov));
	char *copy = xstrdup(rec), *save = NULL;
	bool all = true;

	*unsure_r = false;
	for (char *t = strtok_r(copy, " ", &save); t != NULL; t = strtok_r(NULL, " ", &save)) {
		char q = *t;
		if (q == '+' || q == '-' || q == '~' || q == '?')
			t++;
		else
			q = '+';
		if (q != '+')
			continue;
		if (mm_strncaseeq(t, "include:", 8) || mm_strncaseeq(t, "redirect=", 9) ||
		    mm_strncaseeq(t, "exists:", 7)) {
			*unsure_r = true;
			continue;
		}
		for (size_t i = 0; i < n; i++) {
			if (mm_strcaseeq(t, "mx") && mx_ok)
				cov[i] = true;
			else if (mm_strcaseeq(t, "all"))
				cov[i] = true;
			else if (mm_strcaseeq(t, "a")) {
				for (size_t k = 0; k < domain_addrs->n; k++) {
					struct addr d;
					if (addr_parse(domain_addrs->v[k], &d) &&
					    prefix_match(&addrs[i], &d, addrs[i].af == AF_INET ? 32 : 128))
						cov[i] = true;
				}
			} else if (mm_strncaseeq(t, "ip4:", 4) || mm_strncaseeq(t, "ip6:", 4)) {
				char net[80];
				struct addr na;
				mm_strlcpy(net, t + 4, sizeof(net));
				char *slash = strchr(net, '/');
				unsigned bits = addrs[i].af == AF_INET ? 32 : 128;
				if (slash != NULL) {
					*slash = '\0';
					bits = (unsigned)strtoul(slash + 1, NULL, 10);
				}
				if (addr_parse(net, &na) && prefix_match(&addrs[i], &na, bits))
					cov[i] = true;
			}
		}
	}
	which[0] = '\0';
	for (size_t i = 0; i < n; i++)
		if (!cov[i]) {
			all = false;
			mm_strlcpy(which, addrs[i].text, wlen);
			break;
		}
	free(cov);
	free(copy);
	return all;
}

/* ---- the checks ---- */

int
ctl_dns_check(const struct config *cfg, const char *domain, const char *selector,
    ctl_dns_lookup_fn *lookup, void *arg, FILE *out)
{
	static const enum dkim_alg algs[] = { DKIM_ALG_RSA_SHA256, DKIM_ALG_ED25519_SHA256 };
	struct check c = { cfg, lookup, arg, out, 0 };
	const char *host = cfg->hostname;
	struct mm_strlist l, mine, domain_addrs;
	struct addr *addrs = NULL;
	size_t naddrs = 0;
	bool mx_ok = false;
	char name[600], want[700];

	/* MX */
	snprintf(want, sizeof(want), "%s. IN MX 10 %s.", domain, host);
	if (get(&c, CTL_RR_MX, "MX", domain, &l, want)) {
		for (size_t i = 0; i < l.n; i++) {
			const char *sp = strchr(l.v[i], ' ');
			mx_ok |= sp != NULL && host_eq(sp + 1, host);
		}
		if (mx_ok)
			report(&c, "present", domain, "MX", NULL);
		else
			report(&c, "wrong", domain, "MX", "no MX names %s (found %s)", host, l.v[0]);
		mm_strlist_clear(&l);
	}

	/* hostname's addresses and their PTR */
	mm_strlist_init(&mine);
	for (int t = CTL_RR_A; t <= CTL_RR_AAAA; t++) {
		mm_strlist_init(&l);
		if (lookup(arg, (enum ctl_rr)t, host, &l) == CTL_DNS_OK)
			for (size_t i = 0; i < l.n; i++)
				mm_strlist_add(&mine, l.v[i]);
		mm_strlist_clear(&l);
	}
	if (mine.n == 0) {
		report(&c, "missing", host, "A/AAAA", "%s. IN A <this server's address>", host);
	} else {
		report(&c, "present", host, "A/AAAA", NULL);
		addrs = xcalloc(mine.n, sizeof(*addrs));
		for (size_t i = 0; i < mine.n; i++) {
			if (!addr_parse(mine.v[i], &addrs[naddrs]))
				continue;
			char rev[128];
			reverse_name(&addrs[naddrs], rev, sizeof(rev));
			snprintf(want, sizeof(want), "%s. IN PTR %s. (ask whoever gives you the "
			    "address)", rev, host);
			if (get(&c, CTL_RR_PTR, "PTR", rev, &l, want)) {
				bool ok = false;
				for (size_t k = 0; k < l.n; k++)
					ok |= host_eq(l.v[k], host);
				if (ok)
					report(&c, "present", rev, "PTR", NULL);
				else
					report(&c, "wrong", rev, "PTR", "names %s, not %s", l.v[0], host);
				mm_strlist_clear(&l);
			}
			naddrs++;
		}
	}
	mm_strlist_clear(&mine);

	/* SPF */
	if (get(&c, CTL_RR_TXT, "TXT", domain, &l, "\"v=spf1 mx -all\"")) {
		size_t first = 0, n = txt_with(&l, "v=spf1", &first);
		if (n == 0) {
			report(&c, "missing", domain, "TXT", "no SPF record (publish \"v=spf1 mx -all\")");
		} else if (n > 1) {
			report(&c, "wrong", domain, "TXT", "%zu SPF records (RFC 7208 3.2: one)", n);
		} else if (naddrs == 0) {
			report(&c, "present", domain, "TXT", "SPF (not checked: %s has no address)",
			    host);
		} else {
			bool unsure;
			char which[64];
			mm_strlist_init(&domain_addrs);
			for (int t = CTL_RR_A; t <= CTL_RR_AAAA; t++)
				lookup(arg, (enum ctl_rr)t, domain, &domain_addrs);
			if (spf_covers(l.v[first], addrs, naddrs, mx_ok, &domain_addrs, &unsure,
			    which, sizeof(which)))
				report(&c, "present", domain, "TXT", "SPF covers %s", addrs[0].text);
			else if (unsure)
				report(&c, "present", domain, "TXT", "SPF (include/redirect not "
				    "followed: check that they cover %s)", which);
			else
				report(&c, "wrong", domain, "TXT", "SPF does not cover %s", which);
			mm_strlist_clear(&domain_addrs);
		}
		mm_strlist_clear(&l);
	}
	free(addrs);

	/* DKIM: our public keys, exactly */
	for (int a = 0; a < 2; a++) {
		char sel[DKIM_SELECTOR_MAX_BYTES + 16], path[2048], err[1400];
		unsigned char pub[DKIM_PUBKEY_MAX_BYTES];
		size_t plen = 0;
		bool missing;
		dkim_selector_name(selector, algs[a], sel, sizeof(sel));
		snprintf(name, sizeof(name), "%s._domainkey.%s", sel, domain);
		dkim_key_path(cfg->data_dir, domain, selector, algs[a], path, sizeof(path));
		EVP_PKEY *k = dkim_key_load(path, algs[a], &missing, err, sizeof(err));
		if (k == NULL) {
			report(&c, "error", name, "TXT", "%s", missing ? "no local key (minimailctl "
			    "dkim keygen)" : err);
			continue;
		}
		bool ok = dkim_key_public(k, algs[a], pub, sizeof(pub), &plen);
		EVP_PKEY_free(k);
		if (!ok) {
			report(&c, "error", name, "TXT", "cannot encode %s", path);
			continue;
		}
		if (!get(&c, CTL_RR_TXT, "TXT", name, &l, "see minimailctl dns"))
			continue;
		struct dkim_keyrec *rec = xmalloc(sizeof(*rec));
		enum dkim_err e = DKIM_ERR_SYNTAX;
		bool match = false;
		for (size_t i = 0; i < l.n && !match; i++) {
			e = dkim_keyrec_parse(l.v[i], strlen(l.v[i]), rec);
			match = e == DKIM_OK && rec->keytype == algs[a] && rec->plen == plen &&
			    memcmp(rec->p, pub, plen) == 0;
		}
		if (match)
			report(&c, "present", name, "TXT", NULL);
		else if (l.n > 1)
			report(&c, "wrong", name, "TXT", "%zu records (RFC 6376 3.6.2.2: one)", l.n);
		else if (e != DKIM_OK)
			report(&c, "wrong", name, "TXT", "not a key record: %s", dkim_strerror(e));
		else
			report(&c, "wrong", name, "TXT", "the key does not match %s", path);
		free(rec);
		mm_strlist_clear(&l);
	}

	snprintf(name, sizeof(name), "_dmarc.%s", domain);
	snprintf(want, sizeof(want), "\"v=DMARC1; p=quarantine; rua=mailto:postmaster@%s\"",
	    domain);
	one_txt(&c, name, "v=DMARC1", want);
	snprintf(name, sizeof(name), "_mta-sts.%s", domain);
	one_txt(&c, name, "v=STSv1", "see minimailctl dns");
	snprintf(name, sizeof(name), "_smtp._tls.%s", domain);
	snprintf(want, sizeof(want), "\"v=TLSRPTv1; rua=mailto:postmaster@%s\"", domain);
	one_txt(&c, name, "v=TLSRPTv1", want);
	return c.bad;
}
