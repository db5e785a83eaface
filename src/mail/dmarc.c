/* dmarc.c: RFC 7489 for one message: find the policy (_dmarc.FROM, then
 * _dmarc.ORG), decide alignment of the DKIM and SPF results the caller
 * computed, and say what the receiver should do.
 *
 * The one idea: like spf.c, dmarc_check() is a pure function of the
 * answers known so far; a missing one is named in the outcome and the
 * caller calls again once it is in the cache. The Public Suffix List is
 * loaded once per process (psl_latest: the newer of the publicsuffix
 * package's file and libpsl's built-in copy) and only read afterwards. */
#include <ctype.h>
#include <libpsl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "lib/util.h"
#include "mail/dmarc.h"

#define DMARC_RECORD_MAX_BYTES 4096

static const psl_ctx_t *psl;
static pthread_once_t psl_once = PTHREAD_ONCE_INIT;

static void
psl_init(void)
{
	psl = psl_latest(NULL);
	if (psl == NULL)
		psl = psl_builtin();
}

const char *
dmarc_policy_name(enum dmarc_policy p)
{
	switch (p) {
	case DMARC_P_NONE: return "none";
	case DMARC_P_QUARANTINE: return "quarantine";
	case DMARC_P_REJECT: return "reject";
	default: return "unset";
	}
}

const char *
dmarc_result_name(enum dmarc_result r)
{
	static const char *const names[] = { "none", "pass", "fail", "temperror", "permerror" };

	return (unsigned)r < sizeof(names) / sizeof(names[0]) ? names[r] : "permerror";
}

void
dmarc_org_domain(const char *domain, char *buf, size_t size)
{
	const char *reg;

	pthread_once(&psl_once, psl_init);
	reg = psl ? psl_registrable_domain(psl, domain) : NULL;
	mm_strlcpy(buf, reg ? reg : domain, size);
}

bool
dmarc_aligned(const char *a, const char *b, bool strict)
{
	char oa[SPF_NAME_MAX_BYTES], ob[SPF_NAME_MAX_BYTES];

	if (a == NULL || b == NULL || *a == '\0' || *b == '\0')
		return false;
	if (mm_strcaseeq(a, b))
		return true;
	if (strict)
		return false;
	char la[SPF_NAME_MAX_BYTES], lb[SPF_NAME_MAX_BYTES];
	mm_strlcpy(la, a, sizeof(la));
	mm_strlcpy(lb, b, sizeof(lb));
	mm_strlower(la);
	mm_strlower(lb);
	dmarc_org_domain(la, oa, sizeof(oa));
	dmarc_org_domain(lb, ob, sizeof(ob));
	return strcmp(oa, ob) == 0;
}

static enum dmarc_policy
policy_word(const char *s, size_t n)
{
	if (n == 4 && mm_strncaseeq(s, "none", 4))
		return DMARC_P_NONE;
	if (n == 10 && mm_strncaseeq(s, "quarantine", 10))
		return DMARC_P_QUARANTINE;
	if (n == 6 && mm_strncaseeq(s, "reject", 6))
		return DMARC_P_REJECT;
	return DMARC_P_UNSET;
}

static void
trim(const char **s, size_t *n)
{
	while (*n > 0 && isspace((unsigned char)**s)) {
		(*s)++;
		(*n)--;
	}
	while (*n > 0 && isspace((unsigned char)(*s)[*n - 1]))
		(*n)--;
}

bool
dmarc_parse_record(const char *txt, struct dmarc_record *r, char *err, size_t errlen)
{
	size_t len = strlen(txt), i = 0;
	bool first = true, have_rua = false, bad_sp = false;

	memset(r, 0, sizeof(*r));
	r->pct = 100;
	err[0] = '\0';
	if (len > DMARC_RECORD_MAX_BYTES) {
		snprintf(err, errlen, "record too long");
		return false;
	}
	while (i <= len) {
		size_t start = i;
		while (i < len && txt[i] != ';')
			i++;
		const char *tag = txt + start;
		size_t tn = i - start;
		i++;
		trim(&tag, &tn);
		if (tn == 0) {
			if (first) {
				snprintf(err, errlen, "no v=DMARC1");
				return false;
			}
			continue;
		}
		const char *eq = memchr(tag, '=', tn);
		if (eq == NULL) {
			if (first) {
				snprintf(err, errlen, "no v=DMARC1");
				return false;
			}
			continue;
		}
		const char *name = tag, *val = eq + 1;
		size_t nn = (size_t)(eq - tag), vn = tn - nn - 1;
		trim(&name, &nn);
		trim(&val, &vn);
		if (first) {
			/* RFC 7489 6.4: v=DMARC1 must come first, exactly */
			if (!(nn == 1 && name[0] == 'v' && vn == 6 && memcmp(val, "DMARC1", 6) == 0)) {
				snprintf(err, errlen, "no v=DMARC1");
				return false;
			}
			first = false;
			continue;
		}
		if (nn == 1 && name[0] == 'p') {
			r->p = policy_word(val, vn);
		} else if (nn == 2 && memcmp(name, "sp", 2) == 0) {
			r->sp = policy_word(val, vn);
			bad_sp = r->sp == DMARC_P_UNSET;
		} else if (nn == 3 && memcmp(name, "pct", 3) == 0) {
			unsigned v = 0;
			size_t k;
			for (k = 0; k < vn && isdigit((unsigned char)val[k]) && v <= 100; k++)
				v = v * 10 + (unsigned)(val[k] - '0');
			if (k == vn && vn > 0 && v <= 100)
				r->pct = v;
		} else if (nn == 5 && memcmp(name, "adkim", 5) == 0) {
			r->adkim_strict = vn == 1 && (val[0] == 's' || val[0] == 'S');
		} else if (nn == 4 && memcmp(name, "aspf", 4) == 0) {
			r->aspf_strict = vn == 1 && (val[0] == 's' || val[0] == 'S');
		} else if (nn == 3 && memcmp(name, "rua", 3) == 0) {
			have_rua = vn > 0 && memchr(val, ':', vn) != NULL;
		}
	}
	if (first) {
		snprintf(err, errlen, "no v=DMARC1");
		return false;
	}
	if (r->p == DMARC_P_UNSET || bad_sp) {
		/* RFC 7489 6.6.3 step 6: with a usable rua=, act as p=none */
		if (!have_rua) {
			snprintf(err, errlen, "no valid p=");
			return false;
		}
		r->p = DMARC_P_NONE;
		r->sp = DMARC_P_UNSET;
	}
	if (r->sp == DMARC_P_UNSET)
		r->sp = r->p;
	return true;
}

/* Looks up _dmarc.DOMAIN: 1 found a record (into rec), 0 none there,
 * -1 temporary error, -2 answer missing (need recorded). */
static int
find_record(struct spf_dns *dns, const char *domain, struct dmarc_record *rec,
    struct dmarc_outcome *out)
{
	char name[SPF_NAME_MAX_BYTES];
	enum spf_rcode rc;
	char *const *rr;
	size_t nrr, found = 0;
	char err[64];

	snprintf(name, sizeof(name), "_dmarc.%s", domain);
	if (!spf_dns_get(dns, name, SPF_Q_TXT, &rc, &rr, &nrr)) {
		mm_strlcpy(out->need_name, name, sizeof(out->need_name));
		return -2;
	}
	if (rc == SPF_DNS_TEMPFAIL)
		return -1;
	for (size_t i = 0; i < nrr; i++) {
		struct dmarc_record r;
		if (!mm_strncaseeq(rr[i], "v=DMARC1", 8))
			continue;
		if (!dmarc_parse_record(rr[i], &r, err, sizeof(err))) {
			snprintf(out->problem, sizeof(out->problem), "%s: %s", name, err);
			continue;
		}
		if (found++ == 0)
			*rec = r;
	}
	/* RFC 7489 6.6.3 step 5: more than one record means none */
	return found == 1 ? 1 : 0;
}

enum spf_status
dmarc_check(const struct dmarc_input *in, struct spf_dns *dns, struct dmarc_outcome *out)
{
	struct dmarc_record rec;
	char org[SPF_NAME_MAX_BYTES];
	int r;

	memset(out, 0, sizeof(*out));
	if (in->from_domain == NULL || in->from_domain[0] == '\0' ||
	    strlen(in->from_domain) >= sizeof(out->from_domain)) {
		out->result = DMARC_PERMERROR;
		mm_strlcpy(out->problem, "no From: domain", sizeof(out->problem));
		return SPF_DONE;
	}
	mm_strlcpy(out->from_domain, in->from_domain, sizeof(out->from_domain));
	mm_strlower(out->from_domain);
	dmarc_org_domain(out->from_domain, org, sizeof(org));

	r = find_record(dns, out->from_domain, &rec, out);
	if (r == -2)
		return SPF_NEED_DNS;
	mm_strlcpy(out->record_domain, out->from_domain, sizeof(out->record_domain));
	if (r == 0 && strcmp(org, out->from_domain) != 0) {
		r = find_record(dns, org, &rec, out);
		if (r == -2)
			return SPF_NEED_DNS;
		mm_strlcpy(out->record_domain, org, sizeof(out->record_domain));
	}
	if (r == -1) {
		out->result = DMARC_TEMPERROR;
		mm_strlcpy(out->problem, "DNS error looking up the policy", sizeof(out->problem));
		return SPF_DONE;
	}
	if (r == 0) {
		out->result = DMARC_NONE;
		out->record_domain[0] = '\0';
		return SPF_DONE;
	}
	out->policy = strcmp(out->record_domain, out->from_domain) == 0 ? rec.p : rec.sp;

	for (size_t i = 0; i < in->ndkim && !out->dkim_aligned; i++)
		out->dkim_aligned = dmarc_aligned(in->dkim[i].d, out->from_domain, rec.adkim_strict);
	out->spf_aligned = in->spf == SPF_PASS &&
	    dmarc_aligned(in->spf_domain, out->from_domain, rec.aspf_strict);
	if (out->dkim_aligned || out->spf_aligned) {
		out->result = DMARC_PASS;
		out->disposition = DMARC_P_NONE;
		return SPF_DONE;
	}
	out->result = DMARC_FAIL;
	out->disposition = out->policy;
	/* RFC 7489 6.6.4: outside the pct= sample, one step milder */
	if (in->sample >= rec.pct) {
		if (out->disposition == DMARC_P_REJECT)
			out->disposition = DMARC_P_QUARANTINE;
		else if (out->disposition == DMARC_P_QUARANTINE)
			out->disposition = DMARC_P_NONE;
	}
	return SPF_DONE;
}
