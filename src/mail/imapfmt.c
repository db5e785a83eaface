/* imapfmt.c: the IMAP FETCH values built from a parsed tree: ENVELOPE,
 * BODYSTRUCTURE and BODY, exactly per the RFC 3501 9 grammar. The one
 * idea: every string goes through mail_imap_append_nstring(), which picks
 * NIL, a quoted string, or a literal when quoting cannot hold the value
 * (CR, LF, NUL, 8-bit); defaults are written upper case as in RFC 3501. */
#include "mail/mime.h"
#include "mail/address.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define QUOTED_MAX_BYTES 1024	/* longer values go out as literals */

void
mail_imap_append_quoted(struct mm_buf *b, const char *s, size_t len)
{
	mm_buf_reserve(b, len + 2);
	mm_buf_appendc(b, '"');
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '"' || s[i] == '\\')
			mm_buf_appendc(b, '\\');
		mm_buf_appendc(b, s[i]);
	}
	mm_buf_appendc(b, '"');
}

void
mail_imap_append_stringn(struct mm_buf *b, const char *s, size_t len)
{
	bool quotable = len <= QUOTED_MAX_BYTES;
	for (size_t i = 0; i < len && quotable; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\r' || c == '\n' || c == '\0' || c >= 0x80)
			quotable = false;
	}
	if (!quotable) {
		mm_buf_printf(b, "{%zu}\r\n", len);
		mm_buf_append(b, s, len);
		return;
	}
	mail_imap_append_quoted(b, s, len);
}

void
mail_imap_append_string(struct mm_buf *b, const char *s)
{
	mail_imap_append_stringn(b, s, strlen(s));
}

void
mail_imap_append_nstring(struct mm_buf *b, const char *s)
{
	if (s == NULL)
		mm_buf_append(b, "NIL", 3);
	else
		mail_imap_append_string(b, s);
}

static void
append_upper(struct mm_buf *b, const char *s)
{
	char *u = xstrdup(s);
	for (char *p = u; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	mail_imap_append_string(b, u);
	free(u);
}

static void
append_addrs(struct mm_buf *b, const char *v)
{
	struct mail_addr_list l;
	size_t shown = 0;

	if (v == NULL) {
		mm_buf_append(b, "NIL", 3);
		return;
	}
	mail_addr_parse(v, strlen(v), 0, &l);
	for (size_t i = 0; i < l.n; i++) {
		const struct mail_addr *a = &l.a[i];
		mm_buf_append(b, "((", shown++ ? 1 : 2);
		switch (a->kind) {
		case MAIL_ADDR_GROUP_START:
			mm_buf_append(b, "NIL NIL ", 8);
			mail_imap_append_string(b, a->mailbox);
			mm_buf_append(b, " NIL", 4);
			break;
		case MAIL_ADDR_GROUP_END:
			mm_buf_append(b, "NIL NIL NIL NIL", 15);
			break;
		case MAIL_ADDR_MAILBOX:
			/* a missing part must not look like a group marker:
			 * the placeholders are Dovecot's */
			mail_imap_append_nstring(b, a->name);
			mm_buf_appendc(b, ' ');
			mail_imap_append_nstring(b, a->route);
			mm_buf_appendc(b, ' ');
			mail_imap_append_string(b, a->mailbox ? a->mailbox : "MISSING_MAILBOX");
			mm_buf_appendc(b, ' ');
			mail_imap_append_string(b, a->host ? a->host : "MISSING_DOMAIN");
			break;
		}
		mm_buf_appendc(b, ')');
	}
	if (shown == 0)
		mm_buf_append(b, "NIL", 3);
	else
		mm_buf_appendc(b, ')');
	mail_addr_list_free(&l);
}

static bool
blank(const char *s)
{
	if (s == NULL)
		return true;
	for (; *s; s++)
		if (*s != ' ' && *s != '\t')
			return false;
	return true;
}

void
mail_imap_envelope(struct mm_buf *b, const struct mail_envelope *env)
{
	static const struct mail_envelope none;
	char *const *v = (env ? env : &none)->v;

	mm_buf_appendc(b, '(');
	mail_imap_append_nstring(b, v[MAIL_ENV_DATE]);
	mm_buf_appendc(b, ' ');
	mail_imap_append_nstring(b, v[MAIL_ENV_SUBJECT]);
	mm_buf_appendc(b, ' ');
	append_addrs(b, v[MAIL_ENV_FROM]);
	/* RFC 3501 7.4.2: absent or empty Sender / Reply-To mean From */
	mm_buf_appendc(b, ' ');
	append_addrs(b, blank(v[MAIL_ENV_SENDER]) ? v[MAIL_ENV_FROM] : v[MAIL_ENV_SENDER]);
	mm_buf_appendc(b, ' ');
	append_addrs(b, blank(v[MAIL_ENV_REPLY_TO]) ? v[MAIL_ENV_FROM] : v[MAIL_ENV_REPLY_TO]);
	for (int i = MAIL_ENV_TO; i <= MAIL_ENV_BCC; i++) {
		mm_buf_appendc(b, ' ');
		append_addrs(b, v[i]);
	}
	mm_buf_appendc(b, ' ');
	mail_imap_append_nstring(b, v[MAIL_ENV_IN_REPLY_TO]);
	mm_buf_appendc(b, ' ');
	mail_imap_append_nstring(b, v[MAIL_ENV_MESSAGE_ID]);
	mm_buf_appendc(b, ')');
}

static void
append_params(struct mm_buf *b, const struct mail_param *ps, size_t n)
{
	if (n == 0) {
		mm_buf_append(b, "NIL", 3);
		return;
	}
	mm_buf_appendc(b, '(');
	for (size_t i = 0; i < n; i++) {
		if (i)
			mm_buf_appendc(b, ' ');
		append_upper(b, ps[i].name);
		mm_buf_appendc(b, ' ');
		mail_imap_append_string(b, ps[i].value);
	}
	mm_buf_appendc(b, ')');
}

/* Is there a parameter named exactly name (not name*)? */
static bool
has_plain_param(const struct mail_part *p, const char *name)
{
	for (size_t i = 0; i < p->nparams; i++)
		if (mm_strcaseeq(p->params[i].name, name))
			return true;
	return false;
}

/* body-fld-dsp SP body-fld-lang SP body-fld-loc */
static void
append_ext_common(struct mm_buf *b, const struct mail_part *p)
{
	mm_buf_appendc(b, ' ');
	if (p->disposition) {
		mm_buf_appendc(b, '(');
		append_upper(b, p->disposition);
		mm_buf_appendc(b, ' ');
		append_params(b, p->disp_params, p->ndisp_params);
		mm_buf_appendc(b, ')');
	} else
		mm_buf_append(b, "NIL", 3);
	mm_buf_appendc(b, ' ');
	if (p->languages.n == 0)
		mm_buf_append(b, "NIL", 3);
	else {
		mm_buf_appendc(b, '(');
		for (size_t i = 0; i < p->languages.n; i++) {
			if (i)
				mm_buf_appendc(b, ' ');
			mail_imap_append_string(b, p->languages.v[i]);
		}
		mm_buf_appendc(b, ')');
	}
	mm_buf_appendc(b, ' ');
	mail_imap_append_nstring(b, p->location);
}

#define EMPTY_PART "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0)"
#define EMPTY_PART_EXT "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0 NIL NIL NIL NIL)"

static void
append_empty(struct mm_buf *b, bool ext)
{
	const char *s = ext ? EMPTY_PART_EXT : EMPTY_PART;
	mm_buf_append(b, s, strlen(s));
}

static void
append_body(struct mm_buf *b, const struct mail_part *p, bool ext, int depth)
{
	if (p->flags & MAIL_PART_MULTIPART) {
		mm_buf_appendc(b, '(');
		if (p->child == NULL) {
			/* 1*body: a multipart without parts gets an empty one */
			append_empty(b, ext);
		}
		for (const struct mail_part *c = p->child; c; c = c->next)
			append_body(b, c, ext, depth + 1);
		mm_buf_appendc(b, ' ');
		append_upper(b, p->subtype);
		if (ext) {
			mm_buf_appendc(b, ' ');
			append_params(b, p->params, p->nparams);
			append_ext_common(b, p);
		}
		mm_buf_appendc(b, ')');
		return;
	}
	mm_buf_appendc(b, '(');
	append_upper(b, p->type);
	mm_buf_appendc(b, ' ');
	append_upper(b, p->subtype);
	mm_buf_appendc(b, ' ');
	/* body-fields; text without a charset is US-ASCII (RFC 2045 5.2),
	 * said explicitly as Dovecot does; one given only as an RFC 2231
	 * charset*= is said as a plain CHARSET too, decoded, so that
	 * clients that look for CHARSET find it */
	if ((p->flags & MAIL_PART_TEXT) && !has_plain_param(p, "charset")) {
		char *cs = mail_part_charset(p);
		if (p->nparams == 0)
			mm_buf_append(b, "(", 1);
		else {
			append_params(b, p->params, p->nparams);
			b->len--;	/* reopen the list */
			mm_buf_appendc(b, ' ');
		}
		mm_buf_append(b, "\"CHARSET\" ", 10);
		mail_imap_append_string(b, cs ? cs : "US-ASCII");
		mm_buf_appendc(b, ')');
		free(cs);
	} else
		append_params(b, p->params, p->nparams);
	mm_buf_appendc(b, ' ');
	mail_imap_append_nstring(b, p->id);
	mm_buf_appendc(b, ' ');
	mail_imap_append_nstring(b, p->description);
	mm_buf_appendc(b, ' ');
	if (p->encoding)
		append_upper(b, p->encoding);
	else
		mm_buf_append(b, "\"7BIT\"", 6);
	mm_buf_printf(b, " %zu", p->body_end - p->body_off);
	if ((p->flags & MAIL_PART_MESSAGE) && p->child) {
		mm_buf_appendc(b, ' ');
		mail_imap_envelope(b, p->child->env);
		mm_buf_appendc(b, ' ');
		append_body(b, p->child, ext, depth + 1);
		mm_buf_printf(b, " %zu", p->body_lines);
	} else if (mail_part_is_message(p)) {
		/* not parsed (encoded, or too deep): the grammar still wants
		 * an envelope and a body (RFC 9051's media-message is
		 * MESSAGE/RFC822 or MESSAGE/GLOBAL) */
		mm_buf_append(b, " ", 1);
		mail_imap_envelope(b, NULL);
		mm_buf_appendc(b, ' ');
		append_empty(b, ext);
		mm_buf_printf(b, " %zu", p->body_lines);
	} else if (p->flags & MAIL_PART_TEXT)
		mm_buf_printf(b, " %zu", p->body_lines);
	if (ext) {
		mm_buf_appendc(b, ' ');
		mail_imap_append_nstring(b, p->md5);
		append_ext_common(b, p);
	}
	mm_buf_appendc(b, ')');
}

void
mail_imap_bodystructure(struct mm_buf *b, const struct mail_part *root, bool extended)
{
	append_body(b, root, extended, 0);
}
