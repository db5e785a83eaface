/* spf.c: RFC 7208 check_host(), evaluated against a cache of DNS answers.
 *
 * The one idea: evaluation is a pure recursive function of (request,
 * answers known). Whenever it needs an answer the cache lacks it records
 * the query in the outcome and unwinds with R_NEED; the caller resolves it
 * and runs the whole evaluation again. Every count the RFC limits (lookup
 * terms, void lookups, MX and PTR names) is recomputed on each run, so a
 * run with all answers present is exactly the evaluation the RFC
 * describes. A record is parsed completely (every term checked against
 * the grammar of RFC 7208 section 12) before any term is evaluated, since
 * a syntax error anywhere is a permerror (4.6). */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"
#include "mail/spf.h"

#define R_NEED 100               /* internal: an answer is missing */
#define SPF_DEPTH_MAX 12         /* include/redirect nesting (the 10-term limit ends it first) */
#define SPF_RECORD_MAX_BYTES 8192
#define SPF_TERMS_MAX 256
#define SPF_DOMAIN_MAX_BYTES 253 /* RFC 7208 4.3, RFC 1035 */
#define SPF_LABEL_MAX_BYTES 63

/* ---- the answer cache ---- */

struct spf_ent {
	char *name;
	enum spf_qtype type;
	enum spf_rcode rcode;
	char **rr;
	size_t nrr;
};

struct spf_dns {
	struct spf_ent *e;
	size_t n, cap;
};

static void
norm_name(char *dst, size_t size, const char *name)
{
	size_t n = strlen(name);

	while (n > 0 && name[n - 1] == '.')
		n--;
	if (n >= size)
		n = size - 1;
	for (size_t i = 0; i < n; i++)
		dst[i] = (char)tolower((unsigned char)name[i]);
	dst[n] = '\0';
}

struct spf_dns *
spf_dns_new(void)
{
	return xcalloc(1, sizeof(struct spf_dns));
}

void
spf_dns_free(struct spf_dns **dp)
{
	struct spf_dns *d = *dp;

	if (d == NULL)
		return;
	for (size_t i = 0; i < d->n; i++) {
		for (size_t j = 0; j < d->e[i].nrr; j++)
			free(d->e[i].rr[j]);
		free(d->e[i].rr);
		free(d->e[i].name);
	}
	free(d->e);
	free(d);
	*dp = NULL;
}

static const struct spf_ent *
dns_find(const struct spf_dns *d, const char *name, enum spf_qtype type)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->e[i].type == type && strcmp(d->e[i].name, name) == 0)
			return &d->e[i];
	return NULL;
}

void
spf_dns_add(struct spf_dns *d, const char *name, enum spf_qtype type,
    enum spf_rcode rcode, const char *const *rr, size_t nrr)
{
	char key[SPF_NAME_MAX_BYTES];
	struct spf_ent *e;

	norm_name(key, sizeof(key), name);
	if (dns_find(d, key, type) != NULL)
		return;
	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 16;
		d->e = xrealloc(d->e, d->cap * sizeof(*d->e));
	}
	e = &d->e[d->n++];
	e->name = xstrdup(key);
	e->type = type;
	e->rcode = rcode;
	e->nrr = rcode == SPF_DNS_NOERROR ? nrr : 0;
	e->rr = e->nrr ? xcalloc(e->nrr, sizeof(char *)) : NULL;
	for (size_t i = 0; i < e->nrr; i++)
		e->rr[i] = xstrdup(rr[i]);
}

bool
spf_dns_get(const struct spf_dns *d, const char *name, enum spf_qtype type,
    enum spf_rcode *rcode_r, char *const **rr_r, size_t *nrr_r)
{
	char key[SPF_NAME_MAX_BYTES];
	const struct spf_ent *e;

	norm_name(key, sizeof(key), name);
	if ((e = dns_find(d, key, type)) == NULL)
		return false;
	*rcode_r = e->rcode;
	*rr_r = e->rr;
	*nrr_r = e->nrr;
	return true;
}

const char *
spf_result_name(enum spf_result r)
{
	static const char *const names[] = {
		"none", "neutral", "pass", "fail", "softfail", "temperror", "permerror",
	};

	return (unsigned)r < sizeof(names) / sizeof(names[0]) ? names[r] : "permerror";
}

const char *
spf_qtype_name(enum spf_qtype t)
{
	static const char *const names[] = { "A", "AAAA", "MX", "TXT", "PTR" };

	return (unsigned)t < sizeof(names) / sizeof(names[0]) ? names[t] : "?";
}

/* ---- evaluation context ---- */

struct ctx {
	const struct spf_request *req;
	struct spf_dns *dns;
	struct spf_outcome *out;
	int family;                  /* AF_INET or AF_INET6 (mapped v4 is v4) */
	unsigned char ip[16];
	char local[256];             /* sender local-part */
	char sender_domain[SPF_NAME_MAX_BYTES];
	char helo[SPF_NAME_MAX_BYTES];
};

static int problem(struct ctx *c, int result, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int
problem(struct ctx *c, int result, const char *fmt, ...)
{
	va_list ap;

	if (c->out->problem[0] == '\0') {
		va_start(ap, fmt);
		vsnprintf(c->out->problem, sizeof(c->out->problem), fmt, ap);
		va_end(ap);
	}
	return result;
}

/* For the parser: records the problem, returns false. */
#define syntax_error(c, ...) (problem((c), 0, __VA_ARGS__), false)

/* 1: the answer (may be an error rcode); 0: missing, the need is recorded. */
static int
lookup(struct ctx *c, const char *name, enum spf_qtype type, const struct spf_ent **e_r)
{
	char key[SPF_NAME_MAX_BYTES];

	norm_name(key, sizeof(key), name);
	*e_r = dns_find(c->dns, key, type);
	if (*e_r != NULL)
		return 1;
	mm_strlcpy(c->out->need_name, key, sizeof(c->out->need_name));
	c->out->need_type = type;
	return 0;
}

/* ---- addresses ---- */

static bool
parse_ip(const char *s, int *family_r, unsigned char ip_r[16])
{
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	unsigned char a6[16];

	if (inet_pton(AF_INET, s, ip_r) == 1) {
		*family_r = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, s, a6) != 1)
		return false;
	if (memcmp(a6, mapped, sizeof(mapped)) == 0) {
		*family_r = AF_INET;
		memcpy(ip_r, a6 + 12, 4);
	} else {
		*family_r = AF_INET6;
		memcpy(ip_r, a6, 16);
	}
	return true;
}

static bool
prefix_match(const unsigned char *a, const unsigned char *b, int bits)
{
	int full = bits / 8, rest = bits % 8;

	if (memcmp(a, b, (size_t)full) != 0)
		return false;
	if (rest == 0)
		return true;
	unsigned char mask = (unsigned char)(0xff << (8 - rest));
	return (a[full] & mask) == (b[full] & mask);
}

/* Does the text address s (of c's family) lie in c's ip/cidr? */
static bool
addr_matches(const struct ctx *c, const char *s, int cidr4, int cidr6)
{
	unsigned char a[16];
	int family;

	if (!parse_ip(s, &family, a) || family != c->family)
		return false;
	return prefix_match(a, c->ip, family == AF_INET ? cidr4 : cidr6);
}

/* ---- names ---- */

/* RFC 7208 4.3: a name we may query: at most 253 bytes, labels of 1 to 63
 * bytes, at least two labels. */
static bool
valid_fqdn(const char *d)
{
	size_t n = strlen(d), label = 0, labels = 0;

	if (n > 0 && d[n - 1] == '.')
		n--;
	if (n == 0 || n > SPF_DOMAIN_MAX_BYTES)
		return false;
	for (size_t i = 0; i <= n; i++) {
		if (i == n || d[i] == '.') {
			if (label == 0 || label > SPF_LABEL_MAX_BYTES)
				return false;
			labels++;
			label = 0;
		} else {
			if ((unsigned char)d[i] < ' ' || d[i] == 0x7f)
				return false;
			label++;
		}
	}
	return labels >= 2;
}

static bool
name_within(const char *name, const char *domain)
{
	char a[SPF_NAME_MAX_BYTES], b[SPF_NAME_MAX_BYTES];
	size_t na, nb;

	norm_name(a, sizeof(a), name);
	norm_name(b, sizeof(b), domain);
	na = strlen(a);
	nb = strlen(b);
	if (na == nb)
		return strcmp(a, b) == 0;
	return na > nb && a[na - nb - 1] == '.' && strcmp(a + na - nb, b) == 0;
}

static void
reverse_name(const struct ctx *c, char *dst, size_t size)
{
	if (c->family == AF_INET) {
		snprintf(dst, size, "%u.%u.%u.%u.in-addr.arpa", c->ip[3], c->ip[2], c->ip[1], c->ip[0]);
		return;
	}
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	for (int i = 15; i >= 0 && o + 4 < size; i--) {
		dst[o++] = hex[c->ip[i] & 0xf];
		dst[o++] = '.';
		dst[o++] = hex[c->ip[i] >> 4];
		dst[o++] = '.';
	}
	mm_strlcpy(dst + o, "ip6.arpa", size - o);
}

/* The PTR names of the client that resolve back to its address (RFC 7208
 * 5.5), at most SPF_PTR_NAMES_MAX asked. Lookup errors just drop a name.
 * Returns 0 with the need recorded when an answer is missing. */
static int
validated_names(struct ctx *c, struct mm_strlist *names)
{
	char rev[SPF_NAME_MAX_BYTES];
	const struct spf_ent *ptr, *a;

	reverse_name(c, rev, sizeof(rev));
	if (!lookup(c, rev, SPF_Q_PTR, &ptr))
		return 0;
	if (ptr->rcode != SPF_DNS_NOERROR)
		return 1;
	for (size_t i = 0; i < ptr->nrr && i < SPF_PTR_NAMES_MAX; i++) {
		if (!valid_fqdn(ptr->rr[i]))
			continue;
		if (!lookup(c, ptr->rr[i], c->family == AF_INET ? SPF_Q_A : SPF_Q_AAAA, &a))
			return 0;
		for (size_t j = 0; j < a->nrr; j++)
			if (addr_matches(c, a->rr[j], 32, 128)) {
				mm_strlist_add(names, ptr->rr[i]);
				break;
			}
	}
	return 1;
}

/* ---- macros (RFC 7208 7) ---- */

enum mmode { M_DOMAIN, M_EXP };

static bool
is_delim(char ch)
{
	return ch != '\0' && strchr(".-+,/_=", ch) != NULL;
}

static void
append_escaped(struct mm_buf *out, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (isalnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~')
			mm_buf_appendc(out, (char)ch);
		else
			mm_buf_printf(out, "%%%02X", ch);
	}
}

/* The value of one macro letter (lower case) into v. Returns 0 when an
 * answer is missing (only %{p} asks DNS), 1 otherwise. */
static int
macro_value(struct ctx *c, char letter, const char *domain, struct mm_buf *v)
{
	char tmp[SPF_NAME_MAX_BYTES];

	switch (letter) {
	case 's':
		mm_buf_printf(v, "%s@%s", c->local, c->sender_domain);
		break;
	case 'l':
		mm_buf_printf(v, "%s", c->local);
		break;
	case 'o':
		mm_buf_printf(v, "%s", c->sender_domain);
		break;
	case 'd':
		mm_buf_printf(v, "%s", domain);
		break;
	case 'h':
		mm_buf_printf(v, "%s", c->helo);
		break;
	case 'v':
		mm_buf_printf(v, "%s", c->family == AF_INET ? "in-addr" : "ip6");
		break;
	case 'i':
		if (c->family == AF_INET) {
			mm_buf_printf(v, "%u.%u.%u.%u", c->ip[0], c->ip[1], c->ip[2], c->ip[3]);
		} else {
			static const char hex[] = "0123456789abcdef";
			for (int i = 0; i < 16; i++)
				mm_buf_printf(v, "%s%c.%c", i ? "." : "", hex[c->ip[i] >> 4], hex[c->ip[i] & 0xf]);
		}
		break;
	case 'c':
		inet_ntop(c->family, c->ip, tmp, sizeof(tmp));
		mm_buf_printf(v, "%s", tmp);
		break;
	case 'r':
		mm_buf_printf(v, "%s", c->req->receiver && *c->req->receiver ? c->req->receiver : "unknown");
		break;
	case 't':
		mm_buf_printf(v, "%lld", (long long)c->req->now);
		break;
	case 'p': {
		struct mm_strlist names;
		const char *pick = NULL;
		mm_strlist_init(&names);
		if (!validated_names(c, &names)) {
			mm_strlist_clear(&names);
			return 0;
		}
		for (size_t i = 0; i < names.n && pick == NULL; i++)
			if (name_within(names.v[i], domain))
				pick = names.v[i];
		if (pick == NULL && names.n > 0)
			pick = names.v[0];
		norm_name(tmp, sizeof(tmp), pick ? pick : "unknown");
		mm_buf_printf(v, "%s", tmp);
		mm_strlist_clear(&names);
		break;
	}
	}
	return 1;
}

/* Split v at the delimiters, reverse if asked, keep the rightmost keep
 * parts (0: all), and join them with '.' into out (escaped if upper). */
static void
transform(const char *v, size_t vn, const char *delims, size_t nd, unsigned keep,
    bool rev, bool upper, struct mm_buf *out)
{
	const char *part[128];
	size_t plen[128], np = 0, start = 0;

	for (size_t i = 0; i <= vn; i++) {
		bool d = i < vn && (nd ? memchr(delims, v[i], nd) != NULL : v[i] == '.');
		if (i == vn || d) {
			if (np < 128) {
				part[np] = v + start;
				plen[np++] = i - start;
			}
			start = i + 1;
		}
	}
	if (rev)
		for (size_t i = 0; i < np / 2; i++) {
			const char *tp = part[i];
			size_t tl = plen[i];
			part[i] = part[np - 1 - i];
			plen[i] = plen[np - 1 - i];
			part[np - 1 - i] = tp;
			plen[np - 1 - i] = tl;
		}
	size_t first = keep && keep < np ? np - keep : 0;
	for (size_t i = first; i < np; i++) {
		if (i > first)
			mm_buf_appendc(out, '.');
		if (upper)
			append_escaped(out, part[i], plen[i]);
		else
			mm_buf_append(out, part[i], plen[i]);
	}
}

/* Checks (out == NULL) or expands a macro-string. Returns 1, 0 when an
 * answer is missing, -1 on a syntax error. */
static int
expand(struct ctx *c, const char *s, size_t n, const char *domain, enum mmode mode,
    struct mm_buf *out)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch != '%') {
			if (ch < 0x21 || ch > 0x7e)
				if (!(mode == M_EXP && ch == ' '))
					return -1;
			if (out)
				mm_buf_appendc(out, (char)ch);
			continue;
		}
		if (++i >= n)
			return -1;
		if (s[i] == '%' || s[i] == '_' || s[i] == '-') {
			if (out)
				mm_buf_append(out, s[i] == '%' ? "%" : s[i] == '_' ? " " : "%20",
				    s[i] == '-' ? 3 : 1);
			continue;
		}
		if (s[i] != '{' || ++i >= n)
			return -1;
		char letter = (char)tolower((unsigned char)s[i]);
		bool upper = isupper((unsigned char)s[i]) != 0;
		if (strchr("slodiphv", letter) == NULL &&
		    !(mode == M_EXP && strchr("crt", letter) != NULL))
			return -1;
		i++;
		unsigned keep = 0;
		bool digits = false;
		while (i < n && isdigit((unsigned char)s[i])) {
			digits = true;
			if (keep < 1000)
				keep = keep * 10 + (unsigned)(s[i] - '0');
			i++;
		}
		if (digits && keep == 0)
			return -1;
		bool rev = false;
		if (i < n && (s[i] == 'r' || s[i] == 'R')) {
			rev = true;
			i++;
		}
		size_t dstart = i;
		while (i < n && is_delim(s[i]))
			i++;
		size_t nd = i - dstart;
		if (i >= n || s[i] != '}')
			return -1;
		if (out == NULL)
			continue;
		struct mm_buf v;
		mm_buf_init(&v);
		if (!macro_value(c, letter, domain, &v)) {
			mm_buf_free(&v);
			return 0;
		}
		transform(v.data ? v.data : "", v.len, s + dstart, nd, keep, rev, upper, out);
		mm_buf_free(&v);
	}
	return 1;
}

/* RFC 7208 12: domain-end = ( "." toplabel [ "." ] ) / macro-expand, and
 * a toplabel is not all digits. */
static bool
domain_end_ok(const char *s, size_t n)
{
	if (n > 0 && s[n - 1] == '}')
		return true;
	if (n > 0 && s[n - 1] == '.')
		n--;
	size_t start = n;
	while (start > 0 && s[start - 1] != '.')
		start--;
	if (start == 0 || start == n)
		return false;
	bool alpha = false;
	for (size_t i = start; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (isalpha(ch))
			alpha = true;
		else if (!isdigit(ch) && ch != '-')
			return false;
	}
	return alpha && s[start] != '-' && s[n - 1] != '-';
}

/* Expands a domain-spec and cuts it to 253 bytes from the left (RFC 7208
 * 7.3). Returns 1, 0 (answer missing) or -1. */
static int
expand_domain(struct ctx *c, const char *s, size_t n, const char *domain, char *dst, size_t size)
{
	struct mm_buf b;
	int r;

	mm_buf_init(&b);
	r = expand(c, s, n, domain, M_DOMAIN, &b);
	if (r == 1) {
		const char *p = b.data ? b.data : "";
		size_t len = b.len;
		while (len > SPF_DOMAIN_MAX_BYTES) {
			const char *dot = memchr(p, '.', len);
			if (dot == NULL)
				break;
			len -= (size_t)(dot + 1 - p);
			p = dot + 1;
		}
		if (len >= size)
			len = size - 1;
		memcpy(dst, p, len);
		dst[len] = '\0';
	}
	mm_buf_free(&b);
	return r;
}

/* ---- record parsing ---- */

enum mech { ME_ALL, ME_INCLUDE, ME_A, ME_MX, ME_PTR, ME_IP4, ME_IP6, ME_EXISTS };

struct term {
	char qual;               /* '+', '-', '~', '?' */
	enum mech mech;
	const char *arg;         /* domain-spec or address, NULL if none */
	size_t arglen;
	int cidr4, cidr6;
	unsigned char net[16];   /* ip4/ip6 */
};

struct record {
	struct term t[SPF_TERMS_MAX];
	size_t n;
	const char *redirect, *exp;
	size_t redirect_len, exp_len;
};

/* "/N" at the end of [s, s+*n) with 0 <= N <= max and no leading zero:
 * strips it and returns N; -1 when absent; -2 when malformed. */
static int
strip_cidr(const char *s, size_t *n, int max, bool dbl)
{
	size_t end = *n, i = end;

	while (i > 0 && isdigit((unsigned char)s[i - 1]))
		i--;
	size_t slash = dbl ? 2 : 1;
	if (i == end || i < slash || s[i - 1] != '/' || (dbl && s[i - 2] != '/'))
		return (dbl && end >= 2 && s[end - 1] == '/' && s[end - 2] == '/') ? -2 : -1;
	if (!dbl && i >= 2 && s[i - 2] == '/')
		return -1;       /* "//N" belongs to the ip6 part */
	if (end - i > 1 && s[i] == '0')
		return -2;
	if (end - i > 3)
		return -2;
	int v = 0;
	for (size_t k = i; k < end; k++)
		v = v * 10 + (s[k] - '0');
	if (v > max)
		return -2;
	*n = i - slash;
	return v;
}

static bool
modifier_name(const char *s, size_t n, size_t *eq_r)
{
	size_t i = 0;

	if (n == 0 || !isalpha((unsigned char)s[0]))
		return false;
	while (i < n && (isalnum((unsigned char)s[i]) || s[i] == '-' || s[i] == '_' || s[i] == '.'))
		i++;
	if (i < n && s[i] == '=') {
		*eq_r = i;
		return true;
	}
	return false;
}

static bool
word_is(const char *s, size_t n, const char *w)
{
	return strlen(w) == n && mm_strncaseeq(s, w, n);
}

/* Parses one directive; false on a syntax error. */
static bool
parse_directive(struct ctx *c, const char *s, size_t n, struct term *t)
{
	static const struct { const char *name; enum mech mech; } mechs[] = {
		{ "all", ME_ALL }, { "include", ME_INCLUDE }, { "a", ME_A }, { "mx", ME_MX },
		{ "ptr", ME_PTR }, { "ip4", ME_IP4 }, { "ip6", ME_IP6 }, { "exists", ME_EXISTS },
	};
	size_t name_len = 0;

	t->qual = '+';
	if (n > 0 && strchr("+-~?", s[0]) != NULL) {
		t->qual = s[0];
		s++;
		n--;
	}
	while (name_len < n && s[name_len] != ':' && s[name_len] != '/')
		name_len++;
	size_t m;
	for (m = 0; m < sizeof(mechs) / sizeof(mechs[0]); m++)
		if (word_is(s, name_len, mechs[m].name))
			break;
	if (m == sizeof(mechs) / sizeof(mechs[0]))
		return false;
	t->mech = mechs[m].mech;
	t->arg = NULL;
	t->arglen = 0;
	t->cidr4 = 32;
	t->cidr6 = 128;
	const char *rest = s + name_len;
	size_t rn = n - name_len;

	switch (t->mech) {
	case ME_ALL:
		return rn == 0;
	case ME_INCLUDE:
	case ME_EXISTS:
		if (rn < 2 || rest[0] != ':')
			return false;
		t->arg = rest + 1;
		t->arglen = rn - 1;
		break;
	case ME_PTR:
		if (rn == 0)
			return true;
		if (rn < 2 || rest[0] != ':')
			return false;
		t->arg = rest + 1;
		t->arglen = rn - 1;
		break;
	case ME_A:
	case ME_MX: {
		int v6 = strip_cidr(rest, &rn, 128, true);
		if (v6 == -2)
			return false;
		int v4 = strip_cidr(rest, &rn, 32, false);
		if (v4 == -2)
			return false;
		if (v6 >= 0)
			t->cidr6 = v6;
		if (v4 >= 0)
			t->cidr4 = v4;
		if (rn == 0)
			return true;
		if (rn < 2 || rest[0] != ':')
			return false;
		t->arg = rest + 1;
		t->arglen = rn - 1;
		break;
	}
	case ME_IP4:
	case ME_IP6: {
		bool v4 = t->mech == ME_IP4;
		char addr[64];
		if (rn < 2 || rest[0] != ':')
			return false;
		rest++;
		rn--;
		int cidr = strip_cidr(rest, &rn, v4 ? 32 : 128, false);
		if (cidr == -2 || rn == 0 || rn >= sizeof(addr))
			return false;
		memcpy(addr, rest, rn);
		addr[rn] = '\0';
		if (inet_pton(v4 ? AF_INET : AF_INET6, addr, t->net) != 1)
			return false;
		if (cidr >= 0)
			*(v4 ? &t->cidr4 : &t->cidr6) = cidr;
		return true;
	}
	}
	/* a domain-spec */
	if (expand(c, t->arg, t->arglen, "", M_DOMAIN, NULL) != 1)
		return false;
	return domain_end_ok(t->arg, t->arglen);
}

/* Parses a whole record (after "v=spf1"); false with c->out->problem set
 * on any syntax error. */
static bool
parse_record(struct ctx *c, const char *s, size_t n, struct record *rec)
{
	size_t i = 0;

	rec->n = 0;
	rec->redirect = rec->exp = NULL;
	rec->redirect_len = rec->exp_len = 0;
	while (i < n) {
		while (i < n && s[i] == ' ')
			i++;
		size_t start = i;
		while (i < n && s[i] != ' ')
			i++;
		if (i == start)
			break;
		const char *w = s + start;
		size_t wn = i - start, eq;
		if (modifier_name(w, wn, &eq)) {
			const char *val = w + eq + 1;
			size_t vn = wn - eq - 1;
			bool known = word_is(w, eq, "redirect") || word_is(w, eq, "exp");
			if (expand(c, val, vn, "", M_DOMAIN, NULL) != 1)
				return syntax_error(c, "bad macro in modifier %s", "");
			if (known) {
				const char **slot = word_is(w, eq, "redirect") ? &rec->redirect : &rec->exp;
				size_t *slen = slot == &rec->redirect ? &rec->redirect_len : &rec->exp_len;
				if (*slot != NULL)
					return syntax_error(c, "%s= given twice", slot == &rec->redirect ? "redirect" : "exp");
				if (vn == 0 || !domain_end_ok(val, vn))
					return syntax_error(c, "bad domain in %s=", slot == &rec->redirect ? "redirect" : "exp");
				*slot = val;
				*slen = vn;
			}
			continue;
		}
		if (rec->n == SPF_TERMS_MAX)
			return syntax_error(c, "%s", "too many terms");
		if (!parse_directive(c, w, wn, &rec->t[rec->n])) {
			char term[64];
			size_t k, o = 0;
			for (k = 0; k < wn && o + 1 < sizeof(term); k++)
				term[o++] = (unsigned char)w[k] >= 0x20 && (unsigned char)w[k] < 0x7f ? w[k] : '?';
			term[o] = '\0';
			return syntax_error(c, "bad term '%s'", term);
		}
		rec->n++;
	}
	return true;
}

/* ---- check_host ---- */

static int check_host(struct ctx *c, const char *domain, int depth, bool want_exp);

static enum spf_result
qual_result(char q)
{
	switch (q) {
	case '-': return SPF_FAIL;
	case '~': return SPF_SOFTFAIL;
	case '?': return SPF_NEUTRAL;
	default: return SPF_PASS;
	}
}

/* Counts a term that asks DNS; a permerror past the limit. */
static int
count_lookup(struct ctx *c)
{
	if (++c->out->lookups > SPF_LOOKUP_TERMS_MAX)
		return problem(c, SPF_PERMERROR, "%s", "more than 10 DNS lookup terms");
	return 0;
}

static int
count_void(struct ctx *c, const struct spf_ent *e)
{
	if (e->rcode == SPF_DNS_NXDOMAIN || (e->rcode == SPF_DNS_NOERROR && e->nrr == 0))
		if (++c->out->voids > SPF_VOID_LOOKUPS_MAX)
			return problem(c, SPF_PERMERROR, "%s", "more than 2 void lookups");
	return 0;
}

/* Address lookup of name for the client's family; match into *match_r.
 * Returns 0, an error result, or R_NEED. */
static int
match_host(struct ctx *c, const char *name, int cidr4, int cidr6, bool count_voids, bool *match_r)
{
	const struct spf_ent *e;
	int r;

	*match_r = false;
	if (!lookup(c, name, c->family == AF_INET ? SPF_Q_A : SPF_Q_AAAA, &e))
		return R_NEED;
	if (e->rcode == SPF_DNS_TEMPFAIL)
		return problem(c, SPF_TEMPERROR, "DNS error looking up %s", name);
	if (count_voids && (r = count_void(c, e)) != 0)
		return r;
	for (size_t i = 0; i < e->nrr; i++)
		if (addr_matches(c, e->rr[i], cidr4, cidr6)) {
			*match_r = true;
			break;
		}
	return 0;
}

/* Evaluates one mechanism: 0 with *match_r, or an error result / R_NEED. */
static int
eval_term(struct ctx *c, const struct term *t, const char *domain, int depth, bool *match_r)
{
	char target[SPF_NAME_MAX_BYTES];
	const struct spf_ent *e;
	int r;

	*match_r = false;
	if (t->mech == ME_INCLUDE || t->mech == ME_A || t->mech == ME_MX ||
	    t->mech == ME_PTR || t->mech == ME_EXISTS)
		if ((r = count_lookup(c)) != 0)
			return r;
	mm_strlcpy(target, domain, sizeof(target));
	if (t->arg != NULL) {
		r = expand_domain(c, t->arg, t->arglen, domain, target, sizeof(target));
		if (r == 0)
			return R_NEED;
		if (r < 0)
			return problem(c, SPF_PERMERROR, "%s", "bad macro");
	}
	if (t->mech != ME_ALL && t->mech != ME_IP4 && t->mech != ME_IP6 && !valid_fqdn(target)) {
		/* a name that cannot exist matches nothing (include: see below) */
		if (t->mech == ME_INCLUDE)
			return problem(c, SPF_PERMERROR, "include of an invalid name %s", target);
		return 0;
	}

	switch (t->mech) {
	case ME_ALL:
		*match_r = true;
		return 0;
	case ME_IP4:
	case ME_IP6:
		if ((t->mech == ME_IP4) != (c->family == AF_INET))
			return 0;
		*match_r = prefix_match(t->net, c->ip, t->mech == ME_IP4 ? t->cidr4 : t->cidr6);
		return 0;
	case ME_A:
		return match_host(c, target, t->cidr4, t->cidr6, true, match_r);
	case ME_MX:
		if (!lookup(c, target, SPF_Q_MX, &e))
			return R_NEED;
		if (e->rcode == SPF_DNS_TEMPFAIL)
			return problem(c, SPF_TEMPERROR, "DNS error looking up MX %s", target);
		if ((r = count_void(c, e)) != 0)
			return r;
		if (e->nrr > SPF_MX_NAMES_MAX)
			return problem(c, SPF_PERMERROR, "more than 10 MX names for %s", target);
		for (size_t i = 0; i < e->nrr; i++) {
			if (!valid_fqdn(e->rr[i]))
				continue;
			if ((r = match_host(c, e->rr[i], t->cidr4, t->cidr6, false, match_r)) != 0 || *match_r)
				return r;
		}
		return 0;
	case ME_PTR: {
		struct mm_strlist names;
		mm_strlist_init(&names);
		if (!validated_names(c, &names)) {
			mm_strlist_clear(&names);
			return R_NEED;
		}
		for (size_t i = 0; i < names.n && !*match_r; i++)
			*match_r = name_within(names.v[i], target);
		mm_strlist_clear(&names);
		return 0;
	}
	case ME_EXISTS:
		if (!lookup(c, target, SPF_Q_A, &e))
			return R_NEED;
		if (e->rcode == SPF_DNS_TEMPFAIL)
			return problem(c, SPF_TEMPERROR, "DNS error looking up %s", target);
		if ((r = count_void(c, e)) != 0)
			return r;
		*match_r = e->nrr > 0;
		return 0;
	case ME_INCLUDE:
		r = check_host(c, target, depth + 1, false);
		switch (r) {
		case R_NEED:
			return R_NEED;
		case SPF_PASS:
			*match_r = true;
			return 0;
		case SPF_FAIL:
		case SPF_SOFTFAIL:
		case SPF_NEUTRAL:
			return 0;
		case SPF_TEMPERROR:
			return SPF_TEMPERROR;
		case SPF_NONE:
			return problem(c, SPF_PERMERROR, "include:%s has no SPF record", target);
		default:
			return SPF_PERMERROR;
		}
	}
	return 0;
}

/* exp= (RFC 7208 6.2): any problem just means no explanation. */
static int
explain(struct ctx *c, const struct record *rec, const char *domain)
{
	char target[SPF_NAME_MAX_BYTES];
	const struct spf_ent *e;
	int r;

	r = expand_domain(c, rec->exp, rec->exp_len, domain, target, sizeof(target));
	if (r == 0)
		return R_NEED;
	if (r < 0 || !valid_fqdn(target))
		return 0;
	if (!lookup(c, target, SPF_Q_TXT, &e))
		return R_NEED;
	if (e->rcode != SPF_DNS_NOERROR || e->nrr != 1)
		return 0;
	struct mm_buf b;
	mm_buf_init(&b);
	r = expand(c, e->rr[0], strlen(e->rr[0]), domain, M_EXP, &b);
	if (r == 1) {
		size_t o = 0;
		for (size_t i = 0; i < b.len && o + 1 < sizeof(c->out->explanation); i++)
			if ((unsigned char)b.data[i] >= 0x20 && (unsigned char)b.data[i] < 0x7f)
				c->out->explanation[o++] = b.data[i];
		c->out->explanation[o] = '\0';
	}
	mm_buf_free(&b);
	return r == 0 ? R_NEED : 0;
}

static bool
is_spf1(const char *s)
{
	return mm_strncaseeq(s, "v=spf1", 6) && (s[6] == '\0' || s[6] == ' ');
}

static int
check_host(struct ctx *c, const char *domain, int depth, bool want_exp)
{
	const struct spf_ent *e;
	const char *text = NULL;
	struct record *rec;
	int r;

	if (depth > SPF_DEPTH_MAX)
		return problem(c, SPF_PERMERROR, "%s", "include/redirect nested too deep");
	if (!valid_fqdn(domain))
		return SPF_NONE;
	if (!lookup(c, domain, SPF_Q_TXT, &e))
		return R_NEED;
	if (e->rcode == SPF_DNS_TEMPFAIL)
		return problem(c, SPF_TEMPERROR, "DNS error looking up TXT %s", domain);
	for (size_t i = 0; i < e->nrr; i++) {
		if (!is_spf1(e->rr[i]))
			continue;
		if (text != NULL)
			return problem(c, SPF_PERMERROR, "more than one SPF record at %s", domain);
		text = e->rr[i];
	}
	if (text == NULL)
		return SPF_NONE;
	size_t len = strlen(text);
	if (len > SPF_RECORD_MAX_BYTES)
		return problem(c, SPF_PERMERROR, "SPF record at %s too long", domain);

	rec = xmalloc(sizeof(*rec));
	if (!parse_record(c, text + 6, len - 6, rec)) {
		free(rec);
		return SPF_PERMERROR;
	}
	for (size_t i = 0; i < rec->n; i++) {
		bool match;
		r = eval_term(c, &rec->t[i], domain, depth, &match);
		if (r != 0)
			goto done;
		if (match) {
			r = qual_result(rec->t[i].qual);
			goto matched;
		}
	}
	if (rec->redirect != NULL) {
		char target[SPF_NAME_MAX_BYTES];
		for (size_t i = 0; i < rec->n; i++)
			if (rec->t[i].mech == ME_ALL)
				goto no_redirect;
		if ((r = count_lookup(c)) != 0)
			goto done;
		r = expand_domain(c, rec->redirect, rec->redirect_len, domain, target, sizeof(target));
		if (r == 0) {
			r = R_NEED;
			goto done;
		}
		if (r < 0 || !valid_fqdn(target)) {
			r = problem(c, SPF_PERMERROR, "%s", "redirect to an invalid name");
			goto done;
		}
		r = check_host(c, target, depth + 1, want_exp);
		if (r == SPF_NONE)
			r = problem(c, SPF_PERMERROR, "redirect=%s has no SPF record", target);
		goto done;
	}
no_redirect:
	r = SPF_NEUTRAL;
	goto done;
matched:
	if (r == SPF_FAIL && want_exp && rec->exp != NULL) {
		int x = explain(c, rec, domain);
		if (x == R_NEED)
			r = R_NEED;
	}
done:
	free(rec);
	return r;
}

enum spf_status
spf_check(const struct spf_request *req, struct spf_dns *dns, struct spf_outcome *out)
{
	struct ctx c;
	const char *at;
	int r;

	memset(out, 0, sizeof(*out));
	memset(&c, 0, sizeof(c));
	c.req = req;
	c.dns = dns;
	c.out = out;
	norm_name(c.helo, sizeof(c.helo), req->helo ? req->helo : "");
	if (!parse_ip(req->ip, &c.family, c.ip)) {
		out->result = SPF_PERMERROR;
		mm_strlcpy(out->problem, "not an IP address", sizeof(out->problem));
		return SPF_DONE;
	}
	at = req->mail_from ? strrchr(req->mail_from, '@') : NULL;
	if (req->mail_from == NULL || req->mail_from[0] == '\0' || at == NULL) {
		/* RFC 7208 2.4: the null sender is checked as postmaster@HELO */
		out->identity = req->mail_from && req->mail_from[0] ? "mailfrom" : "helo";
		mm_strlcpy(c.local, "postmaster", sizeof(c.local));
		mm_strlcpy(c.sender_domain, c.helo, sizeof(c.sender_domain));
	} else {
		size_t ln = (size_t)(at - req->mail_from);
		out->identity = "mailfrom";
		if (ln == 0)
			mm_strlcpy(c.local, "postmaster", sizeof(c.local));
		else if (ln < sizeof(c.local)) {
			memcpy(c.local, req->mail_from, ln);
			c.local[ln] = '\0';
		} else {
			out->result = SPF_NONE;
			return SPF_DONE;
		}
		norm_name(c.sender_domain, sizeof(c.sender_domain), at + 1);
	}
	mm_strlcpy(out->domain, c.sender_domain, sizeof(out->domain));
	r = check_host(&c, c.sender_domain, 0, true);
	if (r == R_NEED) {
		out->problem[0] = '\0';
		return SPF_NEED_DNS;
	}
	out->need_name[0] = '\0';
	out->result = (enum spf_result)r;
	return SPF_DONE;
}
