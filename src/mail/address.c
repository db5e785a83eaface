/* address.c: a forgiving RFC 5322 address-list parser. Each address is
 * first scanned as a phrase; the character that stops the phrase ('<',
 * ':', '@', ',' or ';') tells what it was, and addr-specs are re-read from
 * their start as local-part "@" domain. Anything unexpected is skipped up
 * to the next ',' so one bad address never hides the others. */
#include "mail/address.h"
#include "mail/decode.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>

struct ap {
	const char *p, *e;
	struct mm_buf comment;	/* text of the last comment seen */
	bool have_comment;
};

static bool
is_special(char c)
{
	return strchr("()<>@,;:\\\".[]", c) != NULL && c != '\0';
}

static bool
is_wsp(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void
skip_comment(struct ap *a)
{
	int depth = 0;
	mm_buf_free(&a->comment);
	a->have_comment = true;
	while (a->p < a->e) {
		char c = *a->p++;
		if (c == '\\' && a->p < a->e) {
			mm_buf_appendc(&a->comment, *a->p++);
			continue;
		}
		if (c == '(') {
			if (depth++ == 0)
				continue;
		} else if (c == ')') {
			if (--depth == 0)
				return;
		}
		if (c != '\r' && c != '\n')
			mm_buf_appendc(&a->comment, c);
	}
}

static void
skip_cfws(struct ap *a)
{
	while (a->p < a->e) {
		if (is_wsp(*a->p))
			a->p++;
		else if (*a->p == '(')
			skip_comment(a);
		else
			break;
	}
}

/* A word: quoted string (unquoted into out) or atom. */
static bool
read_word(struct ap *a, struct mm_buf *out)
{
	skip_cfws(a);
	if (a->p >= a->e)
		return false;
	if (*a->p == '"') {
		a->p++;
		while (a->p < a->e && *a->p != '"') {
			char c = *a->p++;
			if (c == '\\' && a->p < a->e)
				c = *a->p++;
			else if (c == '\r' || c == '\n')
				continue;
			mm_buf_appendc(out, c);
		}
		if (a->p < a->e)
			a->p++;
		return true;
	}
	const char *s = a->p;
	while (a->p < a->e && !is_wsp(*a->p) && !is_special(*a->p))
		a->p++;
	mm_buf_append(out, s, (size_t)(a->p - s));
	return a->p > s;
}

/* Words and dots up to a special: a phrase, 1*(word / "."), when spaced
 * (words joined with single spaces), or a local-part, word *("." word)
 * with obsolete spaces and CFWS dropped. */
static void
read_words(struct ap *a, struct mm_buf *out, bool spaced)
{
	for (;;) {
		skip_cfws(a);
		if (a->p >= a->e)
			return;
		if (*a->p == '.') {
			mm_buf_appendc(out, '.');
			a->p++;
			continue;
		}
		if (*a->p != '"' && is_special(*a->p))
			return;
		if (spaced && out->len > 0)
			mm_buf_appendc(out, ' ');
		read_word(a, out);
	}
}

static void
read_domain(struct ap *a, struct mm_buf *out)
{
	for (;;) {
		skip_cfws(a);
		if (a->p >= a->e)
			return;
		char c = *a->p;
		if (c == '.') {
			mm_buf_appendc(out, '.');
			a->p++;
		} else if (c == '[') {
			const char *s = a->p;
			while (a->p < a->e && *a->p != ']')
				a->p++;
			if (a->p < a->e)
				a->p++;
			for (; s < a->p; s++)
				if (*s != '\r' && *s != '\n')
					mm_buf_appendc(out, *s);
		} else if (!is_special(c)) {
			read_word(a, out);
		} else
			return;
	}
}

static char *
buf_take(struct mm_buf *b)
{
	char *s = b->len ? xstrndup(b->data, b->len) : NULL;
	mm_buf_free(b);
	return s;
}

static struct mail_addr *
list_add(struct mail_addr_list *l, enum mail_addr_kind kind)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 8;
		l->a = xrealloc(l->a, l->cap * sizeof(*l->a));
	}
	struct mail_addr *m = &l->a[l->n++];
	memset(m, 0, sizeof(*m));
	m->kind = kind;
	return m;
}

/* Skip junk up to (not past) the next ',' or ';' outside quotes/comments. */
static void
skip_junk(struct ap *a)
{
	while (a->p < a->e && *a->p != ',' && *a->p != ';') {
		if (*a->p == '(') {
			skip_comment(a);
		} else if (*a->p == '"') {
			struct mm_buf tmp;
			mm_buf_init(&tmp);
			read_word(a, &tmp);
			mm_buf_free(&tmp);
		} else
			a->p++;
	}
}

/* One mailbox (not a group). Returns false if nothing was there. */
static bool
parse_mailbox(struct ap *a, struct mail_addr_list *l, bool in_group)
{
	struct mm_buf phrase, local, domain, route;
	const char *start;

	mm_buf_init(&route);
	mm_buf_init(&phrase);
	mm_buf_init(&local);
	mm_buf_init(&domain);
	a->have_comment = false;
	skip_cfws(a);
	start = a->p;
	read_words(a, &phrase, true);
	if (a->p < a->e && *a->p == '<') {
		a->p++;
		skip_cfws(a);
		if (a->p < a->e && *a->p == '@') {
			/* obsolete route: @a,@b: */
			const char *r0 = a->p;
			while (a->p < a->e && *a->p != ':' && *a->p != '>')
				a->p++;
			if (a->p < a->e && *a->p == ':') {
				for (const char *q = r0; q < a->p; q++)
					if (!is_wsp(*q))
						mm_buf_appendc(&route, *q);
				a->p++;
			}
		}
		read_words(a, &local, false);
		if (a->p < a->e && *a->p == '@') {
			a->p++;
			read_domain(a, &domain);
		}
		while (a->p < a->e && *a->p != '>' && *a->p != ',' &&
		    !(in_group && *a->p == ';'))
			a->p++;
		if (a->p < a->e && *a->p == '>')
			a->p++;
		if (local.len == 0 && domain.len == 0 && phrase.len == 0) {
			/* "<>" (null address): keep as an empty mailbox */
		}
		struct mail_addr *m = list_add(l, MAIL_ADDR_MAILBOX);
		m->name = buf_take(&phrase);
		m->mailbox = buf_take(&local);
		m->host = buf_take(&domain);
		m->route = buf_take(&route);
		skip_cfws(a);
		skip_junk(a);
		return true;
	}
	/* not an angle address: read it again as an addr-spec */
	mm_buf_free(&phrase);
	a->p = start;
	a->have_comment = false;
	read_words(a, &local, false);
	if (a->p < a->e && *a->p == '@') {
		a->p++;
		read_domain(a, &domain);
	}
	skip_cfws(a);
	if (local.len == 0 && domain.len == 0) {
		mm_buf_free(&local);
		mm_buf_free(&domain);
		if (a->p < a->e && *a->p != ',' && *a->p != ';')
			a->p++;	/* a stray special: skip it */
		skip_junk(a);
		return false;
	}
	struct mail_addr *m = list_add(l, MAIL_ADDR_MAILBOX);
	if (a->have_comment && a->comment.len > 0)
		m->name = xstrndup(a->comment.data, a->comment.len);
	m->mailbox = buf_take(&local);
	m->host = buf_take(&domain);
	skip_junk(a);
	return true;
}

void
mail_addr_parse(const char *s, size_t len, size_t max, struct mail_addr_list *l)
{
	struct ap a = { .p = s, .e = s + len };

	memset(l, 0, sizeof(*l));
	mm_buf_init(&a.comment);
	while (a.p < a.e) {
		if (max && l->n >= max)
			break;
		skip_cfws(&a);
		if (a.p >= a.e)
			break;
		if (*a.p == ',' || *a.p == ';') {
			a.p++;
			continue;
		}
		/* a group is a phrase followed by ':' */
		const char *start = a.p;
		struct mm_buf phrase;
		mm_buf_init(&phrase);
		read_words(&a, &phrase, true);
		if (a.p < a.e && *a.p == ':') {
			a.p++;
			struct mail_addr *g = list_add(l, MAIL_ADDR_GROUP_START);
			g->mailbox = phrase.len ? xstrndup(phrase.data, phrase.len) : xstrdup("");
			mm_buf_free(&phrase);
			for (;;) {
				skip_cfws(&a);
				if (a.p >= a.e)
					break;
				if (*a.p == ';') {
					a.p++;
					break;
				}
				if (*a.p == ',') {
					a.p++;
					continue;
				}
				if (max && l->n >= max)
					break;
				parse_mailbox(&a, l, true);
			}
			list_add(l, MAIL_ADDR_GROUP_END);
			continue;
		}
		mm_buf_free(&phrase);
		a.p = start;
		parse_mailbox(&a, l, false);
	}
	mm_buf_free(&a.comment);
}

void
mail_addr_list_free(struct mail_addr_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->a[i].name);
		free(l->a[i].mailbox);
		free(l->a[i].host);
		free(l->a[i].route);
	}
	free(l->a);
	memset(l, 0, sizeof(*l));
}

char *
mail_addr_first_spec(const char *s, size_t len)
{
	struct mail_addr_list l;
	char *r = NULL;
	mail_addr_parse(s, len, 0, &l);
	for (size_t i = 0; i < l.n && r == NULL; i++)
		if (l.a[i].kind == MAIL_ADDR_MAILBOX && l.a[i].mailbox)
			r = l.a[i].host ? xasprintf("%s@%s", l.a[i].mailbox, l.a[i].host) :
			    xstrdup(l.a[i].mailbox);
	mail_addr_list_free(&l);
	return r;
}

/* A phrase or local part as RFC 5322 writes it: bare when it is atoms
 * joined by dots (and, in a phrase, spaces), else quoted. */
static void
append_word(struct mm_buf *b, const char *s, bool phrase)
{
	bool bare = *s != '\0';
	for (const char *p = s; *p && bare; p++)
		if ((is_special(*p) && *p != '.') || (is_wsp(*p) && !(phrase && *p == ' ')))
			bare = false;
	if (bare) {
		mm_buf_append(b, s, strlen(s));
		return;
	}
	mm_buf_appendc(b, '"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			mm_buf_appendc(b, '\\');
		mm_buf_appendc(b, *s);
	}
	mm_buf_appendc(b, '"');
}

char *
mail_addr_search_text(const char *s, size_t len)
{
	struct mail_addr_list l;
	struct mm_buf b;
	const char *sep = "";

	mail_addr_parse(s, len, 0, &l);
	mm_buf_init(&b);
	for (size_t i = 0; i < l.n; i++) {
		const struct mail_addr *a = &l.a[i];
		if (a->kind == MAIL_ADDR_GROUP_END) {
			mm_buf_appendc(&b, ';');
			sep = ", ";
			continue;
		}
		mm_buf_append(&b, sep, strlen(sep));
		if (a->kind == MAIL_ADDR_GROUP_START) {
			append_word(&b, a->mailbox, true);
			mm_buf_appendc(&b, ':');
			sep = " ";
			continue;
		}
		if (a->name != NULL && *a->name != '\0') {
			/* encoded words cannot be quoted (RFC 2047 5) */
			if (strstr(a->name, "=?") != NULL)
				mm_buf_append(&b, a->name, strlen(a->name));
			else
				append_word(&b, a->name, true);
			mm_buf_appendc(&b, ' ');
		}
		mm_buf_appendc(&b, '<');
		if (a->route != NULL)
			mm_buf_printf(&b, "%s:", a->route);
		/* the placeholders are ENVELOPE's (imapfmt.c) */
		append_word(&b, a->mailbox ? a->mailbox : "MISSING_MAILBOX", false);
		mm_buf_printf(&b, "@%s>", a->host ? a->host : "MISSING_DOMAIN");
		sep = ", ";
	}
	mail_addr_list_free(&l);
	char *r = mail_decode_header(b.data ? b.data : "", b.len);
	mm_buf_free(&b);
	return r;
}
