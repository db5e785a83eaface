/* sieve-match.c: comparators (RFC 4790: i;octet, i;ascii-casemap,
 * i;ascii-numeric), match types (RFC 5228 2.7.1: :is, :contains,
 * :matches; RFC 5231: :value; the regex draft: :regex) and the match
 * variables they set (RFC 5229 3.2). :matches is a backtracking wildcard
 * match in which each '*' takes as little as it can (the first solution
 * from the left, the one Pigeonhole finds), and every step is counted
 * against the run's step bound, so a hostile pattern ends the run
 * instead of the worker's time. */
#include "sieve/sieve-int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GLOB_STARS_MAX 64	/* '*' in one :matches key (recursion depth) */

static int
lc(int c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static bool
ch_eq(enum sv_cmp cmp, char a, char b)
{
	return cmp == SV_CMP_OCTET ? a == b : lc((unsigned char)a) == lc((unsigned char)b);
}

/* The value of i;ascii-numeric: leading digits, without leading zeros;
 * *inf_r when the string does not start with a digit (RFC 4790 9.1.1). */
static void
numeric(const char *s, size_t n, const char **d_r, size_t *dn_r, bool *inf_r)
{
	size_t i = 0;
	if (n == 0 || s[0] < '0' || s[0] > '9') {
		*inf_r = true;
		*d_r = s;
		*dn_r = 0;
		return;
	}
	*inf_r = false;
	while (i < n && s[i] == '0')
		i++;
	size_t j = i;
	while (j < n && s[j] >= '0' && s[j] <= '9')
		j++;
	*d_r = s + i;
	*dn_r = j - i;
}

int
sv_compare(enum sv_cmp cmp, const char *a, size_t alen, const char *b, size_t blen)
{
	if (cmp == SV_CMP_NUMERIC) {
		const char *da, *db;
		size_t na, nb;
		bool ia, ib;
		numeric(a, alen, &da, &na, &ia);
		numeric(b, blen, &db, &nb, &ib);
		if (ia || ib)
			return ia && ib ? 0 : ia ? 1 : -1;
		if (na != nb)
			return na < nb ? -1 : 1;
		int c = memcmp(da, db, na);
		return c < 0 ? -1 : c > 0;
	}
	size_t n = alen < blen ? alen : blen;
	for (size_t i = 0; i < n; i++) {
		int x = (unsigned char)a[i], y = (unsigned char)b[i];
		if (cmp == SV_CMP_CASEMAP) {
			x = lc(x);
			y = lc(y);
		}
		if (x != y)
			return x < y ? -1 : 1;
	}
	return alen == blen ? 0 : alen < blen ? -1 : 1;
}

bool
sv_rel_holds(enum sv_rel rel, int c)
{
	switch (rel) {
	case SV_REL_GT: return c > 0;
	case SV_REL_GE: return c >= 0;
	case SV_REL_LT: return c < 0;
	case SV_REL_LE: return c <= 0;
	case SV_REL_EQ: return c == 0;
	case SV_REL_NE: return c != 0;
	}
	return false;
}

int
sv_regex_flags(enum sv_cmp cmp)
{
	return REG_EXTENDED | (cmp == SV_CMP_CASEMAP ? REG_ICASE : 0);
}

static bool
contains(enum sv_cmp cmp, const char *h, size_t hn, const char *k, size_t kn)
{
	if (kn == 0)
		return true;
	if (cmp == SV_CMP_OCTET)
		return memmem(h, hn, k, kn) != NULL;
	for (size_t i = 0; i + kn <= hn; i++) {
		size_t j = 0;
		while (j < kn && lc((unsigned char)h[i + j]) == lc((unsigned char)k[j]))
			j++;
		if (j == kn)
			return true;
	}
	return false;
}

/* ---- :matches ---- */

struct glob {
	struct sv_run *rt;
	enum sv_cmp cmp;
	const char *p, *v;
	size_t pn, vn;
	size_t cap_off[SV_MATCH_VARS], cap_len[SV_MATCH_VARS];
	bool abort;
};

/* Length of one character of v at i: a UTF-8 sequence under casemap,
 * one octet under i;octet. */
static size_t
char_len(const struct glob *g, size_t i)
{
	if (g->cmp == SV_CMP_OCTET)
		return 1;
	uint32_t cp;
	size_t k = mm_utf8_decode((const unsigned char *)g->v + i, g->vn - i, &cp);
	return k ? k : 1;
}

static bool
glob_at(struct glob *g, size_t pi, size_t vi, unsigned wc)
{
	while (pi < g->pn) {
		if (!sv_step(g->rt, 1)) {
			g->abort = true;
			return false;
		}
		char c = g->p[pi];
		if (c == '*') {
			while (pi + 1 < g->pn && g->p[pi + 1] == '*') {
				/* "**": the first takes nothing */
				if (wc < SV_MATCH_VARS) {
					g->cap_off[wc] = vi;
					g->cap_len[wc] = 0;
				}
				wc++;
				pi++;
			}
			for (size_t k = vi; k <= g->vn;) {
				if (wc < SV_MATCH_VARS) {
					g->cap_off[wc] = vi;
					g->cap_len[wc] = k - vi;
				}
				if (glob_at(g, pi + 1, k, wc + 1))
					return true;
				if (g->abort)
					return false;
				if (k == g->vn)
					break;
				k += char_len(g, k);
			}
			return false;
		}
		if (c == '?') {
			if (vi >= g->vn)
				return false;
			size_t k = char_len(g, vi);
			if (wc < SV_MATCH_VARS) {
				g->cap_off[wc] = vi;
				g->cap_len[wc] = k;
			}
			wc++;
			vi += k;
			pi++;
			continue;
		}
		if (c == '\\' && pi + 1 < g->pn) {
			pi++;
			c = g->p[pi];
		}
		if (vi >= g->vn || !ch_eq(g->cmp, g->v[vi], c))
			return false;
		vi++;
		pi++;
	}
	return vi == g->vn;
}

static void
set_mvars(struct sv_run *rt, const char *v, const size_t *off, const size_t *len, size_t n)
{
	for (size_t i = 0; i < SV_MATCH_VARS; i++)
		rt->mvar[i].len = 0;
	for (size_t i = 0; i < n && i < SV_MATCH_VARS; i++)
		mm_buf_append(&rt->mvar[i], v + off[i], len[i]);
	rt->nmvar = n;
	rt->mvar_set = true;
}

static bool
matches(struct sv_run *rt, enum sv_cmp cmp, const char *v, size_t vn, const char *k,
    size_t kn, bool capture)
{
	size_t stars = 0;
	for (size_t i = 0; i < kn; i++)
		stars += k[i] == '*';
	if (stars > GLOB_STARS_MAX)
		return sv_fail(rt, 0, ":matches key with more than %d '*'", GLOB_STARS_MAX);
	struct glob g;
	memset(&g, 0, sizeof(g));
	g.rt = rt;
	g.cmp = cmp;
	g.p = k;
	g.pn = kn;
	g.v = v;
	g.vn = vn;
	if (!glob_at(&g, 0, 0, 0))
		return false;
	if (capture) {
		size_t off[SV_MATCH_VARS], len[SV_MATCH_VARS];
		off[0] = 0;
		len[0] = vn;
		size_t nw = 0;
		for (size_t i = 0; i < kn; i++) {
			if (k[i] == '\\') {
				i++;
				continue;
			}
			if (k[i] == '*' || k[i] == '?')
				nw++;
		}
		for (size_t i = 1; i < SV_MATCH_VARS; i++) {
			off[i] = g.cap_off[i - 1];
			len[i] = i - 1 < nw ? g.cap_len[i - 1] : 0;
		}
		set_mvars(rt, v, off, len, SV_MATCH_VARS);
	}
	return true;
}

/* The regex cost estimate. glibc's regcomp copies the operand of every
 * repetition (a+ becomes aa*, a{3,5} five copies of a), so stacked or
 * nested repetitions grow the compiled pattern exponentially: "a" and 24
 * '+' ask for gigabytes. This walks the ERE once and counts the nodes
 * regcomp would build, each repetition multiplying what it repeats,
 * saturating at SIEVE_REGEX_COST_MAX + 1. Back-references (a glibc
 * extension to POSIX ERE, and exponential to match) are refused, as is
 * nesting deeper than SIEVE_REGEX_DEPTH_MAX (regcomp recurses on it). */
struct rx_frame {
	size_t total;	/* nodes of this group so far */
	size_t last;	/* nodes of its last atom, the one a repetition repeats */
};

static size_t
rx_mul(size_t a, size_t b)
{
	return b != 0 && a > (SIEVE_REGEX_COST_MAX + 1) / b ? SIEVE_REGEX_COST_MAX + 1 : a * b;
}

static size_t
rx_cap(size_t a)
{
	return a > SIEVE_REGEX_COST_MAX ? SIEVE_REGEX_COST_MAX + 1 : a;
}

/* Reads "{m}", "{m,}" or "{m,n}" at s[*i] (the '{'); the copies regcomp
 * makes of the operand, or 0 when it is not an interval (a literal '{'). */
static size_t
rx_interval(const char *s, size_t n, size_t *i)
{
	size_t j = *i + 1, m = 0, hi = 0;
	bool digits = false, comma = false, hidigits = false;
	for (; j < n && s[j] >= '0' && s[j] <= '9'; j++, digits = true)
		m = m > 100000 ? m : m * 10 + (size_t)(s[j] - '0');
	if (j < n && s[j] == ',') {
		comma = true;
		for (j++; j < n && s[j] >= '0' && s[j] <= '9'; j++, hidigits = true)
			hi = hi > 100000 ? hi : hi * 10 + (size_t)(s[j] - '0');
	}
	if (j >= n || s[j] != '}' || (!digits && !(comma && hidigits)))
		return 0;
	*i = j;
	/* {m} is m copies, {m,} m and a star, {m,n} n (optional ones) */
	size_t c = comma ? (hidigits ? hi : m + 1) : m;
	return c == 0 ? 1 : c;
}

int
sv_regex_check(const char *s, size_t n, const char **why)
{
	struct rx_frame st[SIEVE_REGEX_DEPTH_MAX + 1];
	size_t d = 0;
	st[0] = (struct rx_frame){ 0, 0 };
	for (size_t i = 0; i < n; i++) {
		struct rx_frame *f = &st[d];
		size_t copies = 0, atom = 1;
		switch (s[i]) {
		case '(':
			if (d == SIEVE_REGEX_DEPTH_MAX) {
				*why = "regular expression nested too deeply";
				return -1;
			}
			st[++d] = (struct rx_frame){ 0, 0 };
			continue;
		case ')':
			if (d == 0)
				break;	/* a literal ')' in an ERE */
			/* the group is one atom: its nodes and a subexpression node */
			atom = rx_cap(st[d--].total + 1);
			f = &st[d];
			break;
		case '|':
			f->total = rx_cap(f->total + 1);
			f->last = 0;
			continue;
		case '*':
		case '?':
			copies = 1;
			break;
		case '+':
			copies = 2;
			break;
		case '{':
			copies = rx_interval(s, n, &i);
			break;
		case '\\':
			if (i + 1 < n && s[i + 1] >= '1' && s[i + 1] <= '9') {
				*why = "back-references are not supported in a regular expression";
				return -1;
			}
			i++;
			break;
		case '[':
			/* a bracket expression is one node: skip to its ']' */
			i++;
			if (i < n && s[i] == '^')
				i++;
			if (i < n && s[i] == ']')
				i++;
			while (i < n && s[i] != ']') {
				if (s[i] == '[' && i + 1 < n &&
				    (s[i + 1] == ':' || s[i + 1] == '=' || s[i + 1] == '.')) {
					char c = s[i + 1];
					for (i += 2; i + 1 < n && !(s[i] == c && s[i + 1] == ']'); i++)
						;
					i++;
				}
				i++;
			}
			break;
		default:
			break;
		}
		if (copies > 0) {
			/* the repeated atom is replaced by its copies and a node */
			size_t grown = rx_cap(rx_mul(f->last, copies) + 1);
			f->total = rx_cap(f->total - f->last + grown);
			f->last = grown;
		} else {
			f->total = rx_cap(f->total + atom);
			f->last = atom;
		}
		if (f->total > SIEVE_REGEX_COST_MAX) {
			*why = "regular expression too complex";
			return -1;
		}
	}
	size_t total = st[0].total;
	for (size_t k = 1; k <= d; k++)
		total = rx_cap(total + st[k].total);
	if (total > SIEVE_REGEX_COST_MAX) {
		*why = "regular expression too complex";
		return -1;
	}
	return (int)total;
}

static bool
regex_match(struct sv_run *rt, enum sv_cmp cmp, const char *v, size_t vn,
    const char *k, size_t kn, const struct sv_str *ks, bool capture)
{
	regex_t tmp;
	const regex_t *re = ks->re;
	/* a constant key was judged when the script was compiled */
	int cost = ks->re_cost;
	if (re == NULL) {
		const char *why = NULL;
		if (kn > SIEVE_REGEX_MAX_BYTES)
			return sv_fail(rt, 0, "regular expression too long");
		if ((cost = sv_regex_check(k, kn, &why)) < 0)
			return sv_fail(rt, 0, "%s", why);
		char *kz = xstrndup(k, kn);
		int rc = regcomp(&tmp, kz, sv_regex_flags(cmp));
		free(kz);
		if (rc != 0)
			return sv_fail(rt, 0, "invalid regular expression in a variable");
		re = &tmp;
	}
	/* regexec time grows with the value and the pattern: count both */
	if (!sv_step(rt, 1 + vn / 16 + (uint64_t)vn * (uint64_t)cost / 1024)) {
		if (re == &tmp)
			regfree(&tmp);
		return false;
	}
	char *vs = xstrndup(v, vn);
	regmatch_t pm[SV_MATCH_VARS];
	bool ok = regexec(re, vs, SV_MATCH_VARS, pm, 0) == 0;
	if (ok && capture) {
		size_t off[SV_MATCH_VARS], len[SV_MATCH_VARS];
		size_t sl = strlen(vs);
		for (size_t i = 0; i < SV_MATCH_VARS; i++) {
			if (pm[i].rm_so < 0 || (size_t)pm[i].rm_eo > sl) {
				off[i] = 0;
				len[i] = 0;
			} else {
				off[i] = (size_t)pm[i].rm_so;
				len[i] = (size_t)(pm[i].rm_eo - pm[i].rm_so);
			}
		}
		set_mvars(rt, vs, off, len, SV_MATCH_VARS);
	}
	free(vs);
	if (re == &tmp)
		regfree(&tmp);
	return ok;
}

bool
sv_match_one(struct sv_run *rt, const struct sv_node *n, const char *val, size_t vlen,
    const char *key, size_t klen, const struct sv_str *ks, bool capture)
{
	if (!sv_step(rt, 1 + (vlen + klen) / 64))
		return false;
	switch (n->match) {
	case SV_M_IS:
		return sv_compare(n->cmp, val, vlen, key, klen) == 0;
	case SV_M_CONTAINS:
		return contains(n->cmp, val, vlen, key, klen);
	case SV_M_MATCHES:
		return matches(rt, n->cmp, val, vlen, key, klen, capture);
	case SV_M_REGEX:
		return regex_match(rt, n->cmp, val, vlen, key, klen, ks, capture);
	case SV_M_VALUE:
		return sv_rel_holds(n->rel, sv_compare(n->cmp, val, vlen, key, klen));
	case SV_M_COUNT:
		break;	/* the tests count, then compare with :value */
	}
	return false;
}
