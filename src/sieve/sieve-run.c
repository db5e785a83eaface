/* sieve-run.c: the Sieve interpreter. It walks a compiled script's tree
 * once, top to bottom, asking the caller's struct sieve_msg_if for
 * headers, envelope and body as tests need them, and appends actions to
 * a struct sieve_result. The one idea: the run decides, the caller acts.
 * Nothing here files, sends or stores; a run-time error (a limit, a bad
 * address from a variable, conflicting actions) replaces every action
 * with one keep, so a failing script never loses the message (RFC 5228
 * 2.10.6).
 *
 * State that the language keeps between commands lives in struct sv_run:
 * variables (RFC 5229; per script, plus the globals of RFC 6609), the
 * match variables of the last successful :matches/:regex, the imap4flags
 * internal variable (RFC 5232), and whether the implicit keep still
 * stands. Every test and comparison counts steps against max_steps. */
#include "sieve/sieve-int.h"
#include "mail/address.h"
#include "mail/date.h"
#include "mail/decode.h"
#include "mail/header.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPAND_MAX_BYTES (64 * 1024)	/* one string after expansion */

bool
sv_fail(struct sv_run *rt, unsigned line, const char *fmt, ...)
{
	if (rt->failed)
		return false;
	rt->failed = true;
	rt->r->error = true;
	rt->r->errline = line;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(rt->r->errmsg, sizeof(rt->r->errmsg), fmt, ap);
	va_end(ap);
	return false;
}

bool
sv_step(struct sv_run *rt, uint64_t n)
{
	if (rt->failed)
		return false;
	rt->steps += n;
	if (rt->steps > rt->lim->max_steps)
		return sv_fail(rt, 0, "the script ran too long (more than %llu steps)",
		    (unsigned long long)rt->lim->max_steps);
	return true;
}

/* ---- variables ---- */

bool
sv_var_name_ok(const char *s, size_t len, bool allow_num)
{
	if (len == 0 || len > SIEVE_VAR_NAME_MAX_BYTES)
		return false;
	bool digits = s[0] >= '0' && s[0] <= '9';
	if (digits && !allow_num)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		bool ok = (c >= '0' && c <= '9') || (!digits && ((c >= 'a' && c <= 'z') ||
		    (c >= 'A' && c <= 'Z') || c == '_'));
		if (!ok)
			return false;
	}
	return true;
}

static struct sv_vars *
vars_for(struct sv_run *rt, const char *lname)
{
	if (rt->script && mm_strlist_contains(&rt->script->globals, lname))
		return &rt->globals;
	return rt->locals;
}

static struct sv_var *
var_find(struct sv_vars *vs, const char *lname)
{
	for (size_t i = 0; i < vs->n; i++)
		if (strcmp(vs->v[i].name, lname) == 0)
			return &vs->v[i];
	return NULL;
}

static struct sv_var *
var_get(struct sv_run *rt, const char *name, size_t len, bool create)
{
	char lname[SIEVE_VAR_NAME_MAX_BYTES + 1];
	if (len > SIEVE_VAR_NAME_MAX_BYTES)
		return NULL;
	memcpy(lname, name, len);
	lname[len] = '\0';
	mm_strlower(lname);
	struct sv_vars *vs = vars_for(rt, lname);
	struct sv_var *v = var_find(vs, lname);
	if (v || !create)
		return v;
	if (vs->n >= SIEVE_VARIABLES_MAX) {
		sv_fail(rt, 0, "too many variables (at most %d)", SIEVE_VARIABLES_MAX);
		return NULL;
	}
	if (vs->n == vs->cap) {
		vs->cap = vs->cap ? vs->cap * 2 : 8;
		vs->v = xrealloc(vs->v, vs->cap * sizeof(*vs->v));
	}
	v = &vs->v[vs->n++];
	v->name = xstrdup(lname);
	mm_buf_init(&v->val);
	return v;
}

static void
vars_free(struct sv_vars *vs)
{
	for (size_t i = 0; i < vs->n; i++) {
		free(vs->v[i].name);
		mm_buf_free(&vs->v[i].val);
	}
	free(vs->v);
	memset(vs, 0, sizeof(*vs));
}

static int
lc_ascii(int c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static int
uc_ascii(int c)
{
	return c >= 'a' && c <= 'z' ? c - 32 : c;
}

static void
append_bounded(struct mm_buf *out, const char *s, size_t n)
{
	if (out->len >= EXPAND_MAX_BYTES)
		return;
	if (n > EXPAND_MAX_BYTES - out->len)
		n = EXPAND_MAX_BYTES - out->len;
	mm_buf_append(out, s, n);
}

void
sv_expand(struct sv_run *rt, const struct sv_str *s, struct mm_buf *out)
{
	out->len = 0;
	if (!s->vars) {
		mm_buf_append(out, s->s, s->len);
		mm_buf_cstr(out);
		return;
	}
	(void)sv_step(rt, 1 + s->len / 64);
	for (size_t i = 0; i < s->len;) {
		if (s->s[i] == '$' && i + 1 < s->len && s->s[i + 1] == '{') {
			const char *close = memchr(s->s + i + 2, '}', s->len - i - 2);
			if (close) {
				const char *nm = s->s + i + 2;
				size_t nl = (size_t)(close - nm);
				if (sv_var_name_ok(nm, nl, true)) {
					if (nm[0] >= '0' && nm[0] <= '9') {
						unsigned k = 0;
						for (size_t j = 0; j < nl && k < 100; j++)
							k = k * 10 + (unsigned)(nm[j] - '0');
						if (k < SV_MATCH_VARS && rt->mvar_set)
							append_bounded(out, rt->mvar[k].data ? rt->mvar[k].data : "",
							    rt->mvar[k].len);
					} else {
						struct sv_var *v = var_get(rt, nm, nl, false);
						if (v)
							append_bounded(out, v->val.data ? v->val.data : "", v->val.len);
					}
					i = (size_t)(close - s->s) + 1;
					continue;
				}
			}
		}
		append_bounded(out, s->s + i, 1);
		i++;
	}
	mm_buf_cstr(out);
}

/* ---- values of the message ---- */

static void
strlist_trim_bytes(struct mm_strlist *l, size_t max)
{
	size_t total = 0;
	for (size_t i = 0; i < l->n; i++) {
		size_t n = strlen(l->v[i]);
		if (total + n > max) {
			l->v[i][max - total] = '\0';
			for (size_t j = i + 1; j < l->n; j++)
				free(l->v[j]);
			l->n = i + 1;
			return;
		}
		total += n;
	}
}

/* Raw values of the header fields named name, :index/:last applied. */
static void
header_raw(struct sv_run *rt, const struct sv_node *n, const char *name, struct mm_strlist *out)
{
	struct mm_strlist all;
	mm_strlist_init(&all);
	rt->m->headers(rt->m->ctx, name, &all);
	strlist_trim_bytes(&all, rt->lim->max_header_bytes);
	(void)sv_step(rt, 1 + all.n);
	if (n->index) {
		if (n->index <= all.n) {
			size_t k = n->last ? all.n - n->index : n->index - 1;
			mm_strlist_add(out, all.v[k]);
		}
	} else {
		for (size_t i = 0; i < all.n; i++)
			mm_strlist_add(out, all.v[i]);
	}
	mm_strlist_clear(&all);
}

static bool
header_name_ok(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == ':' || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

/* One address part of local@host into out (false: it has none). */
static bool
addr_part(enum sv_apart ap, const char *local, const char *host, struct mm_buf *out)
{
	out->len = 0;
	local = local ? local : "";
	const char *plus = strchr(local, '+');
	switch (ap) {
	case SV_AP_ALL:
		mm_buf_append(out, local, strlen(local));
		if (host && *host) {
			mm_buf_appendc(out, '@');
			mm_buf_append(out, host, strlen(host));
		}
		break;
	case SV_AP_LOCAL:
		mm_buf_append(out, local, strlen(local));
		break;
	case SV_AP_DOMAIN:
		if (host)
			mm_buf_append(out, host, strlen(host));
		break;
	case SV_AP_USER:
		mm_buf_append(out, local, plus ? (size_t)(plus - local) : strlen(local));
		break;
	case SV_AP_DETAIL:
		if (plus == NULL)
			return false;
		mm_buf_append(out, plus + 1, strlen(plus + 1));
		break;
	}
	mm_buf_cstr(out);
	return true;
}

/* A path address ("local@host", maybe in <>) split at its last '@'. */
static void
path_part(enum sv_apart ap, const char *path, struct mm_strlist *out)
{
	struct mm_buf b;
	mm_buf_init(&b);
	char *s = xstrdup(path);
	char *p = s;
	size_t n = strlen(p);
	if (n >= 2 && p[0] == '<' && p[n - 1] == '>') {
		p[n - 1] = '\0';
		p++;
	}
	char *at = strrchr(p, '@');
	char *host = NULL;
	if (at) {
		*at = '\0';
		host = at + 1;
	}
	if (addr_part(ap, p, host, &b))
		mm_strlist_add(out, b.data ? b.data : "");
	free(s);
	mm_buf_free(&b);
}

static void
expand_list(struct sv_run *rt, const struct sv_slist *l, struct mm_strlist *out)
{
	struct mm_buf b;
	mm_buf_init(&b);
	for (size_t i = 0; i < l->n; i++) {
		sv_expand(rt, &l->v[i], &b);
		mm_strlist_addn(out, b.data ? b.data : "", b.len);
	}
	mm_buf_free(&b);
}

/* Match values against the keys (the last positional list). */
static bool
match_values(struct sv_run *rt, const struct sv_node *n, const struct mm_strlist *vals,
    bool count_nonempty)
{
	const struct sv_slist *keys = n->pos[n->npos - 1];
	bool capture = (rt->script->exts & SV_EXT_VARIABLES) != 0;
	struct mm_buf k;
	mm_buf_init(&k);
	bool ok = false;
	if (n->match == SV_M_COUNT) {
		size_t cnt = 0;
		for (size_t i = 0; i < vals->n; i++)
			cnt += !count_nonempty || vals->v[i][0] != '\0';
		char num[32];
		snprintf(num, sizeof(num), "%zu", cnt);
		for (size_t j = 0; j < keys->n && !ok && !rt->failed; j++) {
			sv_expand(rt, &keys->v[j], &k);
			ok = sv_step(rt, 1) &&
			    sv_rel_holds(n->rel, sv_compare(n->cmp, num, strlen(num), k.data, k.len));
		}
		mm_buf_free(&k);
		return ok;
	}
	for (size_t i = 0; i < vals->n && !ok && !rt->failed; i++) {
		for (size_t j = 0; j < keys->n && !ok && !rt->failed; j++) {
			sv_expand(rt, &keys->v[j], &k);
			ok = sv_match_one(rt, n, vals->v[i], strlen(vals->v[i]), k.data, k.len,
			    &keys->v[j], capture);
		}
	}
	mm_buf_free(&k);
	return ok;
}

static void
flags_add(struct mm_strlist *l, const char *s)
{
	/* a flag list string holds flags separated by spaces */
	const char *p = s;
	while (*p) {
		while (*p == ' ')
			p++;
		const char *e = p;
		while (*e && *e != ' ')
			e++;
		if (e > p) {
			char *f = xstrndup(p, (size_t)(e - p));
			if (!mm_strlist_contains_case(l, f) && l->n < SIEVE_LIST_MAX)
				mm_strlist_add(l, f);
			free(f);
		}
		p = e;
	}
}

static void
flags_remove(struct mm_strlist *l, const char *s)
{
	struct mm_strlist rm;
	mm_strlist_init(&rm);
	flags_add(&rm, s);
	size_t w = 0;
	for (size_t i = 0; i < l->n; i++) {
		if (mm_strlist_contains_case(&rm, l->v[i]))
			free(l->v[i]);
		else
			l->v[w++] = l->v[i];
	}
	l->n = w;
	mm_strlist_clear(&rm);
}

static void
flags_join(const struct mm_strlist *l, struct mm_buf *out)
{
	out->len = 0;
	for (size_t i = 0; i < l->n; i++) {
		if (i)
			mm_buf_appendc(out, ' ');
		mm_buf_append(out, l->v[i], strlen(l->v[i]));
	}
	mm_buf_cstr(out);
}

/* The flags a hasflag / setflag names: a variable's or the internal one. */
static void
flags_of_var(struct sv_run *rt, const char *name, struct mm_strlist *out)
{
	struct sv_var *v = var_get(rt, name, strlen(name), false);
	if (v)
		flags_add(out, mm_buf_cstr(&v->val));
}

/* ---- dates (RFC 5260) ---- */

static bool
zone_parse(const char *s, int *min_r)
{
	if (strlen(s) != 5 || (s[0] != '+' && s[0] != '-'))
		return false;
	for (int i = 1; i < 5; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	int h = (s[1] - '0') * 10 + (s[2] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');
	if (h > 23 || m > 59)
		return false;
	*min_r = (s[0] == '-' ? -1 : 1) * (h * 60 + m);
	return true;
}

static bool
date_part(time_t t, int tz, const char *part, struct mm_buf *out)
{
	struct tm tm;
	time_t lt = t + (time_t)tz * 60;
	if (gmtime_r(&lt, &tm) == NULL)
		return false;
	char zs[8];
	int az = tz < 0 ? -tz : tz;
	snprintf(zs, sizeof(zs), "%c%02d%02d", tz < 0 ? '-' : '+', az / 60 % 100, az % 60);
	out->len = 0;
	int y = tm.tm_year + 1900;
	if (mm_strcaseeq(part, "year"))
		mm_buf_printf(out, "%04d", y);
	else if (mm_strcaseeq(part, "month"))
		mm_buf_printf(out, "%02d", tm.tm_mon + 1);
	else if (mm_strcaseeq(part, "day"))
		mm_buf_printf(out, "%02d", tm.tm_mday);
	else if (mm_strcaseeq(part, "date"))
		mm_buf_printf(out, "%04d-%02d-%02d", y, tm.tm_mon + 1, tm.tm_mday);
	else if (mm_strcaseeq(part, "julian"))
		/* Modified Julian Day: days since 1858-11-17 (RFC 5260 4.2) */
		mm_buf_printf(out, "%lld", (long long)((lt >= 0 ? lt : lt - 86399) / 86400) + 40587);
	else if (mm_strcaseeq(part, "hour"))
		mm_buf_printf(out, "%02d", tm.tm_hour);
	else if (mm_strcaseeq(part, "minute"))
		mm_buf_printf(out, "%02d", tm.tm_min);
	else if (mm_strcaseeq(part, "second"))
		mm_buf_printf(out, "%02d", tm.tm_sec);
	else if (mm_strcaseeq(part, "time"))
		mm_buf_printf(out, "%02d:%02d:%02d", tm.tm_hour, tm.tm_min, tm.tm_sec);
	else if (mm_strcaseeq(part, "iso8601"))
		mm_buf_printf(out, "%04d-%02d-%02dT%02d:%02d:%02d%c%02d:%02d", y, tm.tm_mon + 1,
		    tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, tz < 0 ? '-' : '+', az / 60 % 100, az % 60);
	else if (mm_strcaseeq(part, "std11")) {
		char buf[64];
		mail_date_format_rfc5322(t, tz, buf, sizeof(buf));
		mm_buf_append(out, buf, strlen(buf));
	} else if (mm_strcaseeq(part, "zone"))
		mm_buf_append(out, zs, strlen(zs));
	else if (mm_strcaseeq(part, "weekday"))
		mm_buf_printf(out, "%d", tm.tm_wday);
	else
		return false;
	mm_buf_cstr(out);
	return true;
}

static bool
eval_date(struct sv_run *rt, const struct sv_node *n)
{
	struct mm_buf part, hn, zb, v;
	mm_buf_init(&part);
	mm_buf_init(&hn);
	mm_buf_init(&zb);
	mm_buf_init(&v);
	struct mm_strlist raw, vals;
	mm_strlist_init(&raw);
	mm_strlist_init(&vals);
	bool cur = n->op == SV_OP_CURRENTDATE;
	sv_expand(rt, &n->pos[cur ? 0 : 1]->v[0], &part);
	int tz = rt->m->now_tz_min;
	if (n->zone == SV_Z_GIVEN) {
		sv_expand(rt, &n->zone_s, &zb);
		if (!zone_parse(zb.data, &tz))
			tz = rt->m->now_tz_min;	/* RFC 5260 4.1: a bad zone is ignored */
	}
	if (cur) {
		if (date_part(rt->m->now, tz, part.data, &v))
			mm_strlist_add(&vals, v.data);
	} else {
		sv_expand(rt, &n->pos[0]->v[0], &hn);
		if (header_name_ok(hn.data))
			header_raw(rt, n, hn.data, &raw);
		/* the date test looks at the first field (or :index's) */
		for (size_t i = 0; i < raw.n && i < 1; i++) {
			char *u = mail_header_unfold(raw.v[i], strlen(raw.v[i]));
			const char *d = u;
			if (mm_strcaseeq(hn.data, "received")) {
				const char *semi = strrchr(u, ';');
				d = semi ? semi + 1 : u;
			}
			time_t t;
			int otz;
			if (mail_date_parse_rfc5322(d, strlen(d), &t, &otz) &&
			    date_part(t, n->zone == SV_Z_ORIGINAL ? otz : tz, part.data, &v))
				mm_strlist_add(&vals, v.data);
			free(u);
		}
	}
	bool ok = vals.n > 0 && match_values(rt, n, &vals, false);
	mm_buf_free(&part);
	mm_buf_free(&hn);
	mm_buf_free(&zb);
	mm_buf_free(&v);
	mm_strlist_clear(&raw);
	mm_strlist_clear(&vals);
	return ok;
}

static bool eval_test(struct sv_run *rt, const struct sv_node *n);

static bool
eval_address(struct sv_run *rt, const struct sv_node *n)
{
	struct mm_strlist names, raw, vals;
	mm_strlist_init(&names);
	mm_strlist_init(&raw);
	mm_strlist_init(&vals);
	struct mm_buf b;
	mm_buf_init(&b);
	expand_list(rt, n->pos[0], &names);
	for (size_t i = 0; i < names.n; i++) {
		if (n->op == SV_OP_ENVELOPE) {
			const char *e = rt->m->envelope(rt->m->ctx, mm_strlower(names.v[i]));
			if (e == NULL)
				continue;
			if (*e == '\0' || strcmp(e, "<>") == 0) {
				/* the null reverse path: "" for every part */
				if (n->apart != SV_AP_DETAIL)
					mm_strlist_add(&vals, "");
			} else {
				path_part(n->apart, e, &vals);
			}
			continue;
		}
		if (!header_name_ok(names.v[i]))
			continue;
		header_raw(rt, n, names.v[i], &raw);
	}
	for (size_t i = 0; i < raw.n && !rt->failed; i++) {
		struct mail_addr_list al;
		mail_addr_parse(raw.v[i], strlen(raw.v[i]), 256, &al);
		(void)sv_step(rt, 1 + al.n);
		for (size_t k = 0; k < al.n; k++) {
			const struct mail_addr *a = &al.a[k];
			if (a->kind != MAIL_ADDR_MAILBOX || a->mailbox == NULL)
				continue;
			if (addr_part(n->apart, a->mailbox, a->host, &b))
				mm_strlist_add(&vals, b.data);
		}
		mail_addr_list_free(&al);
	}
	bool ok = match_values(rt, n, &vals, false);
	mm_strlist_clear(&names);
	mm_strlist_clear(&raw);
	mm_strlist_clear(&vals);
	mm_buf_free(&b);
	return ok;
}

static bool
eval_header(struct sv_run *rt, const struct sv_node *n)
{
	struct mm_strlist names, raw, vals;
	mm_strlist_init(&names);
	mm_strlist_init(&raw);
	mm_strlist_init(&vals);
	expand_list(rt, n->pos[0], &names);
	for (size_t i = 0; i < names.n; i++)
		if (header_name_ok(names.v[i]))
			header_raw(rt, n, names.v[i], &raw);
	for (size_t i = 0; i < raw.n; i++) {
		char *d = mail_decode_header(raw.v[i], strlen(raw.v[i]));
		/* RFC 5228 2.4.2.2: leading and trailing white space removed */
		size_t l = strlen(d);
		while (l > 0 && (d[l - 1] == ' ' || d[l - 1] == '\t'))
			d[--l] = '\0';
		mm_strlist_add(&vals, d);
		free(d);
	}
	bool ok = match_values(rt, n, &vals, false);
	mm_strlist_clear(&names);
	mm_strlist_clear(&raw);
	mm_strlist_clear(&vals);
	return ok;
}

static bool
eval_test(struct sv_run *rt, const struct sv_node *n)
{
	if (!sv_step(rt, 1))
		return false;
	struct mm_strlist l, vals;
	bool ok = false;
	switch (n->op) {
	case SV_OP_TRUE:
		return true;
	case SV_OP_FALSE:
		return false;
	case SV_OP_NOT:
		ok = eval_test(rt, n->tests[0]);
		return rt->failed ? false : !ok;
	case SV_OP_ALLOF:
		for (size_t i = 0; i < n->ntests; i++)
			if (!eval_test(rt, n->tests[i]))
				return false;
		return true;
	case SV_OP_ANYOF:
		for (size_t i = 0; i < n->ntests; i++)
			if (eval_test(rt, n->tests[i]))
				return true;
		return false;
	case SV_OP_ADDRESS:
	case SV_OP_ENVELOPE:
		return eval_address(rt, n);
	case SV_OP_HEADER:
		return eval_header(rt, n);
	case SV_OP_EXISTS:
		mm_strlist_init(&l);
		expand_list(rt, n->pos[0], &l);
		ok = true;
		for (size_t i = 0; i < l.n && ok; i++) {
			mm_strlist_init(&vals);
			if (header_name_ok(l.v[i]))
				rt->m->headers(rt->m->ctx, l.v[i], &vals);
			ok = vals.n > 0;
			mm_strlist_clear(&vals);
		}
		mm_strlist_clear(&l);
		return ok;
	case SV_OP_SIZE:
		return n->over ? rt->m->size > n->num : rt->m->size < n->num;
	case SV_OP_BODY: {
		mm_strlist_init(&l);
		mm_strlist_init(&vals);
		if (n->transform == SIEVE_BODY_CONTENT)
			expand_list(rt, &n->ctypes, &l);
		rt->m->body(rt->m->ctx, n->transform, &l, rt->lim->max_body_bytes, &vals);
		(void)sv_step(rt, 1 + vals.n);
		ok = match_values(rt, n, &vals, false);
		mm_strlist_clear(&l);
		mm_strlist_clear(&vals);
		return ok;
	}
	case SV_OP_DATE:
	case SV_OP_CURRENTDATE:
		return eval_date(rt, n);
	case SV_OP_HASFLAG:
		mm_strlist_init(&l);
		mm_strlist_init(&vals);
		if (n->npos == 2) {
			expand_list(rt, n->pos[0], &l);
			for (size_t i = 0; i < l.n; i++)
				flags_of_var(rt, l.v[i], &vals);
		} else {
			for (size_t i = 0; i < rt->iflags.n; i++)
				mm_strlist_add(&vals, rt->iflags.v[i]);
		}
		ok = match_values(rt, n, &vals, false);
		mm_strlist_clear(&l);
		mm_strlist_clear(&vals);
		return ok;
	case SV_OP_STRING:
		mm_strlist_init(&vals);
		expand_list(rt, n->pos[0], &vals);
		ok = match_values(rt, n, &vals, true);
		mm_strlist_clear(&vals);
		return ok;
	case SV_OP_MAILBOXEXISTS:
		mm_strlist_init(&l);
		expand_list(rt, n->pos[0], &l);
		ok = true;
		for (size_t i = 0; i < l.n && ok; i++)
			ok = rt->m->mailbox_exists ? rt->m->mailbox_exists(rt->m->mailbox_ctx, l.v[i]) :
			    mm_strcaseeq(l.v[i], "INBOX");
		mm_strlist_clear(&l);
		return ok;
	default:
		break;
	}
	return sv_fail(rt, n->line, "'%s' is not a test", n->name);
}

/* ---- actions ---- */

static struct sieve_action *
add_action(struct sv_run *rt, const struct sv_node *n, enum sieve_action_kind k)
{
	if (++rt->nactions > rt->lim->max_actions) {
		sv_fail(rt, n ? n->line : 0, "too many actions (at most %u)", rt->lim->max_actions);
		return NULL;
	}
	struct sieve_result *r = rt->r;
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 8;
		r->a = xrealloc(r->a, r->cap * sizeof(*r->a));
	}
	struct sieve_action *a = &r->a[r->n++];
	memset(a, 0, sizeof(*a));
	a->kind = k;
	mm_strlist_init(&a->flags);
	mm_strlist_init(&a->addresses);
	return a;
}

static struct sieve_action *
find_action(struct sv_run *rt, enum sieve_action_kind k, const char *arg)
{
	for (size_t i = 0; i < rt->r->n; i++) {
		struct sieve_action *a = &rt->r->a[i];
		if (a->kind == k && (arg == NULL || (a->arg && strcmp(a->arg, arg) == 0)))
			return a;
	}
	return NULL;
}

static void
store_flags(struct sv_run *rt, const struct sv_node *n, struct sieve_action *a)
{
	if (n && n->has_flags) {
		struct mm_strlist l;
		mm_strlist_init(&l);
		expand_list(rt, &n->flags, &l);
		for (size_t i = 0; i < l.n; i++)
			flags_add(&a->flags, l.v[i]);
		mm_strlist_clear(&l);
		a->has_flags = a->flags.n > 0;
	} else if (rt->script->exts & SV_EXT_IMAP4FLAGS || rt->iflags.n > 0) {
		for (size_t i = 0; i < rt->iflags.n; i++)
			flags_add(&a->flags, rt->iflags.v[i]);
		a->has_flags = a->flags.n > 0;
	}
}

static bool
addr_ok_rt(const char *s)
{
	size_t n = strlen(s);
	const char *at = strrchr(s, '@');
	if (at == NULL || at == s || at[1] == '\0' || n > ADDRESS_MAX_BYTES)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= ' ' || c == '<' || c == '>' || c == '(' || c == ')' || c == ',' || c == 0x7f)
			return false;
	}
	return true;
}

static void
do_vacation(struct sv_run *rt, const struct sv_node *n)
{
	if (rt->vacation_done) {
		sv_fail(rt, n->line, "vacation may run once per message");
		return;
	}
	rt->vacation_done = true;
	struct sieve_action *a = add_action(rt, n, SIEVE_ACT_VACATION);
	if (a == NULL)
		return;
	struct mm_buf b, h;
	mm_buf_init(&b);
	mm_buf_init(&h);
	sv_expand(rt, &n->pos[0]->v[0], &b);
	a->arg = xstrdup(b.data);
	mm_buf_append(&h, b.data, b.len);
	if (n->subject.s) {
		sv_expand(rt, &n->subject, &b);
		a->subject = xstrdup(b.data);
		mm_buf_append(&h, b.data, b.len);
	} else {
		struct mm_strlist s;
		mm_strlist_init(&s);
		rt->m->headers(rt->m->ctx, "subject", &s);
		char *d = s.n ? mail_decode_header(s.v[0], strlen(s.v[0])) : xstrdup("");
		a->subject = *d ? xasprintf("Auto: %s", d) : xstrdup("Automated reply");
		free(d);
		mm_strlist_clear(&s);
		mm_buf_printf(&h, "<default-subject>");
	}
	if (n->from.s) {
		sv_expand(rt, &n->from, &b);
		a->from = xstrdup(b.data);
		mm_buf_append(&h, b.data, b.len);
	} else {
		mm_buf_printf(&h, "<default-from>");
	}
	mm_buf_printf(&h, n->mime ? "<MIME>" : "<NO-MIME>");
	if (n->handle.s) {
		sv_expand(rt, &n->handle, &b);
		a->handle = xstrdup(b.data);
	} else {
		a->handle = xstrdup(mm_buf_cstr(&h));
	}
	expand_list(rt, &n->addresses, &a->addresses);
	unsigned long min = (unsigned long)rt->lim->vacation_min_days * 86400ul;
	a->seconds = n->seconds < min ? min : n->seconds;
	a->mime = n->mime;
	/* the reply goes to the envelope sender; without one (a test), to
	 * the Return-Path or From address */
	const char *env = rt->m->envelope(rt->m->ctx, "from");
	if (env) {
		a->reply_to = *env && strcmp(env, "<>") != 0 ? xstrdup(env) : NULL;
	} else {
		struct mm_strlist s;
		mm_strlist_init(&s);
		rt->m->headers(rt->m->ctx, "return-path", &s);
		if (s.n == 0)
			rt->m->headers(rt->m->ctx, "from", &s);
		if (s.n)
			a->reply_to = mail_addr_first_spec(s.v[0], strlen(s.v[0]));
		mm_strlist_clear(&s);
	}
	mm_buf_free(&b);
	mm_buf_free(&h);
}

static void run_block(struct sv_run *rt, struct sv_node *const *v, size_t nv);

static void
do_flags(struct sv_run *rt, const struct sv_node *n)
{
	struct mm_strlist l, cur;
	mm_strlist_init(&l);
	mm_strlist_init(&cur);
	expand_list(rt, n->pos[n->npos - 1], &l);
	struct sv_var *var = NULL;
	struct mm_strlist *target = &rt->iflags;
	if (n->npos == 2) {
		var = var_get(rt, n->pos[0]->v[0].s, n->pos[0]->v[0].len, true);
		if (var == NULL)
			goto out;
		flags_add(&cur, mm_buf_cstr(&var->val));
		target = &cur;
	}
	if (n->op == SV_OP_SETFLAG) {
		mm_strlist_clear(target);
		mm_strlist_init(target);
	}
	for (size_t i = 0; i < l.n; i++) {
		if (n->op == SV_OP_REMOVEFLAG)
			flags_remove(target, l.v[i]);
		else
			flags_add(target, l.v[i]);
	}
	if (var)
		flags_join(&cur, &var->val);
out:
	mm_strlist_clear(&l);
	mm_strlist_clear(&cur);
}

static void
do_set(struct sv_run *rt, const struct sv_node *n)
{
	struct mm_buf b;
	mm_buf_init(&b);
	sv_expand(rt, &n->pos[1]->v[0], &b);
	struct sv_var *v = var_get(rt, n->pos[0]->v[0].s, n->pos[0]->v[0].len, true);
	if (v == NULL) {
		mm_buf_free(&b);
		return;
	}
	char *s = b.data ? b.data : "";
	size_t len = b.len;
	/* RFC 5229 4.1: precedence 40 lower/upper, 30 first, 20 quote, 10 length */
	if (n->mods & SV_MOD_LOWER)
		for (size_t i = 0; i < len; i++)
			s[i] = (char)lc_ascii(s[i]);
	if (n->mods & SV_MOD_UPPER)
		for (size_t i = 0; i < len; i++)
			s[i] = (char)uc_ascii(s[i]);
	if ((n->mods & SV_MOD_LOWERFIRST) && len)
		s[0] = (char)lc_ascii(s[0]);
	if ((n->mods & SV_MOD_UPPERFIRST) && len)
		s[0] = (char)uc_ascii(s[0]);
	struct mm_buf q;
	mm_buf_init(&q);
	if (n->mods & SV_MOD_QUOTEWILDCARD) {
		for (size_t i = 0; i < len; i++) {
			if (s[i] == '*' || s[i] == '?' || s[i] == '\\')
				mm_buf_appendc(&q, '\\');
			mm_buf_appendc(&q, s[i]);
		}
	} else {
		mm_buf_append(&q, s, len);
	}
	if (n->mods & SV_MOD_LENGTH) {
		/* characters, not bytes */
		size_t chars = 0;
		uint32_t cp;
		for (size_t i = 0; i < q.len;) {
			size_t k = mm_utf8_decode((const unsigned char *)q.data + i, q.len - i, &cp);
			i += k ? k : 1;
			chars++;
		}
		q.len = 0;
		mm_buf_printf(&q, "%zu", chars);
	}
	if (q.len > SIEVE_VARIABLE_MAX_BYTES)
		q.len = SIEVE_VARIABLE_MAX_BYTES;
	v->val.len = 0;
	mm_buf_append(&v->val, q.data ? q.data : "", q.len);
	mm_buf_free(&q);
	mm_buf_free(&b);
}

static void
run_script(struct sv_run *rt, const struct sieve_script *s)
{
	const struct sieve_script *saved = rt->script;
	struct sv_vars *saved_locals = rt->locals;
	struct sv_vars locals;
	memset(&locals, 0, sizeof(locals));
	rt->script = s;
	rt->locals = &locals;
	run_block(rt, s->cmds, s->ncmds);
	rt->returned = false;
	rt->script = saved;
	rt->locals = saved_locals;
	vars_free(&locals);
}

static void
run_cmd(struct sv_run *rt, const struct sv_node *n)
{
	struct mm_buf b;
	struct sieve_action *a;
	if (!sv_step(rt, 1))
		return;
	switch (n->op) {
	case SV_OP_REQUIRE:
	case SV_OP_ELSIF:
	case SV_OP_ELSE:
	case SV_OP_GLOBAL:
		return;	/* elsif/else run from their if */
	case SV_OP_IF:
		for (const struct sv_node *br = n; br; br = br->next_branch) {
			if (br->op == SV_OP_ELSE || eval_test(rt, br->tests[0])) {
				if (!rt->failed)
					run_block(rt, br->block, br->nblock);
				return;
			}
			if (rt->failed)
				return;
		}
		return;
	case SV_OP_STOP:
		rt->stopped = true;
		return;
	case SV_OP_RETURN:
		rt->returned = true;
		return;
	case SV_OP_KEEP:
		a = find_action(rt, SIEVE_ACT_KEEP, NULL);
		if (a == NULL && (a = add_action(rt, n, SIEVE_ACT_KEEP)) == NULL)
			return;
		store_flags(rt, n, a);
		rt->implicit_keep = false;
		return;
	case SV_OP_DISCARD:
		rt->implicit_keep = false;
		if (find_action(rt, SIEVE_ACT_DISCARD, NULL) == NULL)
			(void)add_action(rt, n, SIEVE_ACT_DISCARD);
		return;
	case SV_OP_FILEINTO:
		mm_buf_init(&b);
		sv_expand(rt, &n->pos[0]->v[0], &b);
		if (b.len == 0 || strlen(b.data) != b.len) {
			sv_fail(rt, n->line, "fileinto: bad mailbox name");
		} else if ((a = find_action(rt, SIEVE_ACT_FILEINTO, b.data)) != NULL ||
		    (a = add_action(rt, n, SIEVE_ACT_FILEINTO)) != NULL) {
			if (a->arg == NULL)
				a->arg = xstrdup(b.data);
			a->create |= n->create;
			a->copy = n->copy;
			store_flags(rt, n, a);
			if (!n->copy)
				rt->implicit_keep = false;
		}
		mm_buf_free(&b);
		return;
	case SV_OP_REDIRECT:
		mm_buf_init(&b);
		sv_expand(rt, &n->pos[0]->v[0], &b);
		if (!addr_ok_rt(b.data)) {
			sv_fail(rt, n->line, "redirect: \"%.64s\" is not an address", b.data);
		} else if (find_action(rt, SIEVE_ACT_REDIRECT, b.data) == NULL) {
			if (++rt->nredirects > rt->lim->max_redirects)
				sv_fail(rt, n->line, "too many redirects (at most %u)", rt->lim->max_redirects);
			else if ((a = add_action(rt, n, SIEVE_ACT_REDIRECT)) != NULL) {
				a->arg = xstrdup(b.data);
				a->copy = n->copy;
			}
		}
		if (!n->copy)
			rt->implicit_keep = false;
		mm_buf_free(&b);
		return;
	case SV_OP_REJECT:
	case SV_OP_EREJECT:
		if (find_action(rt, SIEVE_ACT_REJECT, NULL) || find_action(rt, SIEVE_ACT_EREJECT, NULL)) {
			sv_fail(rt, n->line, "reject may run once per message");
			return;
		}
		if ((a = add_action(rt, n, n->op == SV_OP_REJECT ? SIEVE_ACT_REJECT : SIEVE_ACT_EREJECT))) {
			mm_buf_init(&b);
			sv_expand(rt, &n->pos[0]->v[0], &b);
			a->arg = xstrdup(b.data);
			mm_buf_free(&b);
		}
		rt->implicit_keep = false;
		return;
	case SV_OP_VACATION:
		do_vacation(rt, n);
		return;
	case SV_OP_SETFLAG:
	case SV_OP_ADDFLAG:
	case SV_OP_REMOVEFLAG:
		do_flags(rt, n);
		return;
	case SV_OP_SET:
		do_set(rt, n);
		return;
	case SV_OP_INCLUDE:
		if (n->inc == NULL)
			return;	/* :optional and missing */
		if (n->once) {
			if (mm_strlist_contains(&rt->once, n->inc->name))
				return;
			mm_strlist_add(&rt->once, n->inc->name);
		}
		if (rt->depth >= SIEVE_INCLUDE_DEPTH_MAX) {
			sv_fail(rt, n->line, "include nested too deeply");
			return;
		}
		rt->depth++;
		run_script(rt, n->inc);
		rt->depth--;
		return;
	default:
		sv_fail(rt, n->line, "'%s' is not a command", n->name);
		return;
	}
}

static void
run_block(struct sv_run *rt, struct sv_node *const *v, size_t nv)
{
	for (size_t i = 0; i < nv && !rt->failed && !rt->stopped && !rt->returned; i++)
		run_cmd(rt, v[i]);
}

static void
action_clear(struct sieve_action *a)
{
	free(a->arg);
	free(a->subject);
	free(a->from);
	free(a->handle);
	free(a->reply_to);
	mm_strlist_clear(&a->flags);
	mm_strlist_clear(&a->addresses);
}

void
sieve_result_free(struct sieve_result *r)
{
	for (size_t i = 0; i < r->n; i++)
		action_clear(&r->a[i]);
	free(r->a);
	r->a = NULL;
	r->n = r->cap = 0;
}

void
sieve_run(const struct sieve_script *s, const struct sieve_msg_if *m,
    const struct sieve_limits *lim, struct sieve_result *r)
{
	struct sieve_limits def;
	if (lim == NULL) {
		sieve_limits_default(&def);
		lim = &def;
	}
	memset(r, 0, sizeof(*r));
	struct sv_run rt;
	memset(&rt, 0, sizeof(rt));
	rt.m = m;
	rt.lim = lim;
	rt.r = r;
	rt.implicit_keep = true;
	for (size_t i = 0; i < SV_MATCH_VARS; i++)
		mm_buf_init(&rt.mvar[i]);
	mm_strlist_init(&rt.iflags);
	mm_strlist_init(&rt.once);

	run_script(&rt, s);

	/* RFC 5429 2.1/2.2: reject does not go with keep, fileinto, redirect
	 * or vacation */
	if (!rt.failed && (find_action(&rt, SIEVE_ACT_REJECT, NULL) || find_action(&rt, SIEVE_ACT_EREJECT, NULL))) {
		for (size_t i = 0; i < r->n; i++) {
			enum sieve_action_kind k = r->a[i].kind;
			if (k == SIEVE_ACT_KEEP || k == SIEVE_ACT_FILEINTO || k == SIEVE_ACT_REDIRECT ||
			    k == SIEVE_ACT_VACATION) {
				sv_fail(&rt, 0, "reject cannot be combined with %s",
				    k == SIEVE_ACT_KEEP ? "keep" : k == SIEVE_ACT_FILEINTO ? "fileinto" :
				    k == SIEVE_ACT_REDIRECT ? "redirect" : "vacation");
				break;
			}
		}
	}
	r->steps = rt.steps;
	if (rt.failed) {
		for (size_t i = 0; i < r->n; i++)
			action_clear(&r->a[i]);
		r->n = 0;
		struct sieve_action *a;
		if (r->cap == 0) {
			r->cap = 1;
			r->a = xrealloc(r->a, sizeof(*r->a));
		}
		a = &r->a[r->n++];
		memset(a, 0, sizeof(*a));
		a->kind = SIEVE_ACT_KEEP;
		mm_strlist_init(&a->flags);
		mm_strlist_init(&a->addresses);
	} else if (rt.implicit_keep) {
		rt.script = s;
		struct sieve_action *a = find_action(&rt, SIEVE_ACT_KEEP, NULL);
		rt.nactions = 0;	/* the implicit keep is not counted */
		if (a == NULL)
			a = add_action(&rt, NULL, SIEVE_ACT_KEEP);
		if (a)
			store_flags(&rt, NULL, a);
	}
	for (size_t i = 0; i < SV_MATCH_VARS; i++)
		mm_buf_free(&rt.mvar[i]);
	mm_strlist_clear(&rt.iflags);
	mm_strlist_clear(&rt.once);
	vars_free(&rt.globals);
}
