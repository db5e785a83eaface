/* mime.c: the MIME parser. It is not incremental: delivery has the whole
 * message, so each multipart level finds its own delimiter lines in its
 * byte range and hands every body part its sub-range, recursing for
 * multiparts and message/rfc822 up to MIME_NESTING_MAX and MIME_PARTS_MAX.
 * The one idea: a part is only ever offsets plus the few header values
 * IMAP needs; the line end before a delimiter belongs to the delimiter
 * (RFC 2046 5.1.1), so a body ends where that CRLF starts. */
#include "mail/mime.h"
#include "mail/decode.h"
#include "mail/header.h"
#include "lib/limits.h"

#include <stdlib.h>
#include <string.h>

struct mime_ctx {
	const char *msg;
	size_t len;
	struct mail_msg *m;
	size_t close_line;	/* where the multipart parse_multipart() just
				 * finished saw its close delimiter line, or
				 * SIZE_MAX when it had none */
	unsigned opts;		/* MAIL_PARSE_* */
};

static bool
tspecial(char c)
{
	return strchr("()<>@,;:\\\"/[]?=", c) != NULL;
}

static const char *
skip_cfws(const char *p, const char *e)
{
	while (p < e) {
		if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
			p++;
		else if (*p == '(') {
			int depth = 0;
			while (p < e) {
				if (*p == '\\' && p + 1 < e)
					p++;
				else if (*p == '(')
					depth++;
				else if (*p == ')' && --depth == 0) {
					p++;
					break;
				}
				p++;
			}
		} else
			break;
	}
	return p;
}

/* RFC 2045 token (lenient: stops only at WSP, controls and tspecials). */
static char *
read_token(const char **pp, const char *e)
{
	const char *p = skip_cfws(*pp, e), *s = p;
	while (p < e && (unsigned char)*p > ' ' && *p != 0x7f && !tspecial(*p))
		p++;
	*pp = p;
	return p > s ? xstrndup(s, (size_t)(p - s)) : NULL;
}

static char *
read_value(const char **pp, const char *e)
{
	const char *p = skip_cfws(*pp, e);
	struct mm_buf b;
	mm_buf_init(&b);
	if (p < e && *p == '"') {
		p++;
		while (p < e && *p != '"') {
			if (*p == '\\' && p + 1 < e)
				p++;
			if (*p != '\r' && *p != '\n')
				mm_buf_appendc(&b, *p);
			p++;
		}
		if (p < e)
			p++;
	} else {
		/* a lenient token: '=' '/' '?' and friends are common in
		 * unquoted boundaries, so only WSP, ';' and controls end it */
		while (p < e && (unsigned char)*p > ' ' && *p != ';' && *p != '"' && *p != 0x7f)
			mm_buf_appendc(&b, *p++);
	}
	*pp = p;
	char *r = xstrndup(b.data ? b.data : "", b.len);
	mm_buf_free(&b);
	return r;
}

struct rawparam {
	char *name, *value;
	char *base;		/* name without *N / * */
	int section;		/* -1: not a continuation */
	bool ext;
};

static void
pct_append(struct mm_buf *b, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c <= ' ' || c >= 0x7f || c == '%' || c == '\'' || c == '*')
			mm_buf_printf(b, "%%%02X", c);
		else
			mm_buf_appendc(b, (char)c);
	}
}

/* Join RFC 2231 continuations: name*0, name*1*... become one parameter,
 * "name*" if any segment was encoded (the value then stays encoded). */
static void
params_join(struct rawparam *rp, size_t n, struct mail_param **out_r, size_t *nout_r)
{
	struct mail_param *out = xcalloc(n ? n : 1, sizeof(*out));
	size_t nout = 0;
	for (size_t i = 0; i < n; i++) {
		if (rp[i].name == NULL)
			continue;
		if (rp[i].section < 0) {
			out[nout].name = rp[i].name;
			out[nout].value = rp[i].value;
			rp[i].name = rp[i].value = NULL;
			nout++;
			continue;
		}
		/* gather sections 0, 1, 2... of this base in order */
		bool ext = false;
		for (size_t j = i; j < n; j++)
			if (rp[j].name && rp[j].section >= 0 && rp[j].ext &&
			    mm_strcaseeq(rp[j].base, rp[i].base))
				ext = true;
		struct mm_buf v;
		mm_buf_init(&v);
		for (int sec = 0;; sec++) {
			size_t j;
			for (j = i; j < n; j++)
				if (rp[j].name && rp[j].section == sec &&
				    mm_strcaseeq(rp[j].base, rp[i].base))
					break;
			if (j == n)
				break;
			if (ext && !rp[j].ext) {
				if (sec == 0)
					mm_buf_append(&v, "''", 2);
				pct_append(&v, rp[j].value);
			} else
				mm_buf_append(&v, rp[j].value, strlen(rp[j].value));
			if (j != i) {
				free(rp[j].name);
				free(rp[j].value);
				free(rp[j].base);
				rp[j].name = rp[j].value = rp[j].base = NULL;
			}
			if (sec > 1000)
				break;
		}
		out[nout].name = ext ? xasprintf("%s*", rp[i].base) : xstrdup(rp[i].base);
		out[nout].value = xstrndup(v.data ? v.data : "", v.len);
		mm_buf_free(&v);
		nout++;
		free(rp[i].name);
		free(rp[i].value);
		rp[i].name = rp[i].value = NULL;
	}
	/* continuations without a section 0 are dropped above; free them */
	for (size_t i = 0; i < n; i++) {
		free(rp[i].name);
		free(rp[i].value);
		free(rp[i].base);
	}
	if (nout == 0) {
		free(out);
		out = NULL;
	}
	*out_r = out;
	*nout_r = nout;
}

/* Parse "; a=b; c=d" up to e. */
static void
parse_params(const char *p, const char *e, struct mail_param **out_r, size_t *nout_r)
{
	struct rawparam *rp = NULL;
	size_t n = 0, cap = 0;
	while (p < e) {
		p = skip_cfws(p, e);
		if (p >= e)
			break;
		if (*p != ';') {
			/* junk between parameters: skip to the next ';' */
			while (p < e && *p != ';')
				p++;
			continue;
		}
		p++;
		char *name = read_token(&p, e);
		if (name == NULL)
			continue;
		p = skip_cfws(p, e);
		if (p >= e || *p != '=') {
			free(name);
			continue;
		}
		p++;
		char *value = read_value(&p, e);
		if (n == cap) {
			cap = cap ? cap * 2 : 4;
			rp = xrealloc(rp, cap * sizeof(*rp));
		}
		struct rawparam *r = &rp[n++];
		r->name = name;
		r->value = value;
		r->section = -1;
		r->ext = false;
		char *star = strchr(name, '*');
		r->base = xstrndup(name, star ? (size_t)(star - name) : strlen(name));
		if (star && star[1] >= '0' && star[1] <= '9') {
			char *end;
			long sec = strtol(star + 1, &end, 10);
			if ((*end == '\0' || (end[0] == '*' && end[1] == '\0')) && sec < 1000) {
				r->section = (int)sec;
				r->ext = *end == '*';
			}
		}
		if (r->section < 0) {
			free(r->base);
			r->base = NULL;
		}
		if (n >= 256)
			break;	/* bounded: nobody needs more */
	}
	params_join(rp, n, out_r, nout_r);
	free(rp);
}

static void
parse_content_type(struct mail_part *p, const char *v, size_t len)
{
	const char *s = v, *e = v + len;
	char *type = read_token(&s, e), *sub = NULL;
	s = skip_cfws(s, e);
	if (type && s < e && *s == '/') {
		s++;
		sub = read_token(&s, e);
	}
	if (type == NULL || sub == NULL) {
		/* RFC 2045 5.2: an invalid Content-Type means the default */
		free(type);
		free(sub);
		p->flags |= MAIL_PART_CT_DEFAULT | MAIL_PART_BROKEN;
		return;
	}
	free(p->type);
	free(p->subtype);
	p->type = mm_strlower(type);
	p->subtype = mm_strlower(sub);
	p->flags &= ~MAIL_PART_CT_DEFAULT;
	parse_params(s, e, &p->params, &p->nparams);
}

static void
parse_disposition(struct mail_part *p, const char *v, size_t len)
{
	const char *s = v, *e = v + len;
	char *t = read_token(&s, e);
	if (t == NULL)
		return;
	p->disposition = t;
	parse_params(s, e, &p->disp_params, &p->ndisp_params);
}

static void
parse_language(struct mail_part *p, const char *v, size_t len)
{
	const char *s = v, *e = v + len;
	while (s < e) {
		char *t = read_token(&s, e);
		if (t) {
			if (p->languages.n < 64)
				mm_strlist_add(&p->languages, t);
			free(t);
		}
		s = skip_cfws(s, e);
		if (s < e)
			s++;	/* ',' or junk */
	}
}

static const char *const env_names[MAIL_ENV_COUNT] = {
	"Date", "Subject", "From", "Sender", "Reply-To", "To", "Cc", "Bcc",
	"In-Reply-To", "Message-ID",
};

static void
fill_envelope(struct mail_part *p, const struct mail_header *h)
{
	p->env = xcalloc(1, sizeof(*p->env));
	for (int i = 0; i < MAIL_ENV_COUNT; i++) {
		/* address fields: every occurrence counts (as Dovecot and
		 * mail readers do); the rest: the first */
		bool addr = i >= MAIL_ENV_FROM && i <= MAIL_ENV_BCC;
		p->env->v[i] = addr ? mail_header_get_all(h, env_names[i]) :
		    mail_header_get(h, env_names[i]);
	}
}

static void
count_lines(struct mail_part *p, const char *msg)
{
	size_t n = 0;
	const char *s = msg + p->body_off, *e = msg + p->body_end;
	while (s < e && (s = memchr(s, '\n', (size_t)(e - s))) != NULL) {
		n++;
		s++;
	}
	p->body_lines = n;
}

static struct mail_part *
part_new(struct mime_ctx *c, struct mail_part *parent)
{
	struct mail_part *p = xcalloc(1, sizeof(*p));
	p->parent = parent;
	mm_strlist_init(&p->languages);
	c->m->nparts++;
	if (parent) {
		struct mail_part **pp = &parent->child;
		while (*pp)
			pp = &(*pp)->next;
		*pp = p;
		parent->nchildren++;
	}
	return p;
}

static void parse_part(struct mime_ctx *c, struct mail_part *p, size_t start,
    size_t end, int depth, bool digest_child, bool is_message);

/* Is there a delimiter line for boundary b at pos (a line start)? */
static bool
delim_at(const char *msg, size_t pos, size_t end, const char *b, size_t bl, bool *close_r)
{
	if (end - pos < bl + 2 || msg[pos] != '-' || msg[pos + 1] != '-' ||
	    memcmp(msg + pos + 2, b, bl) != 0)
		return false;
	size_t q = pos + 2 + bl;
	*close_r = false;
	if (end - q >= 2 && msg[q] == '-' && msg[q + 1] == '-') {
		*close_r = true;
		return true;
	}
	/* anything but white space after the boundary means another word
	 * (a longer boundary of an inner multipart) */
	return q == end || msg[q] == ' ' || msg[q] == '\t' || msg[q] == '\r' || msg[q] == '\n';
}

/* Find the next delimiter line at or after pos; *line_r is its start. */
static bool
find_delim(const char *msg, size_t bs, size_t pos, size_t end, const char *b, size_t bl,
    size_t *line_r, bool *close_r)
{
	while (pos < end) {
		if ((pos == bs || msg[pos - 1] == '\n') &&
		    delim_at(msg, pos, end, b, bl, close_r)) {
			*line_r = pos;
			return true;
		}
		const char *nl = memchr(msg + pos, '\n', end - pos);
		if (nl == NULL)
			return false;
		pos = (size_t)(nl - msg) + 1;
	}
	return false;
}

static size_t
line_after(const char *msg, size_t pos, size_t end)
{
	const char *nl = memchr(msg + pos, '\n', end - pos);
	return nl ? (size_t)(nl - msg) + 1 : end;
}

/* Did part p (or the message it encapsulates) end with the close
 * delimiter line of its own multipart, right at end? */
static bool
closed_at(const struct mail_part *p, size_t end)
{
	while ((p->flags & MAIL_PART_MESSAGE) && p->child)
		p = p->child;
	return (p->flags & MAIL_PART_CLOSED) && p->body_end == end;
}

/* Give that line its line end back (as Dovecot does: the CRLF after a
 * close delimiter is the line's, not the outer delimiter's). */
static void
extend_end(struct mime_ctx *c, struct mail_part *p, size_t end)
{
	for (; p; p = (p->flags & MAIL_PART_MESSAGE) ? p->child : NULL) {
		p->body_end = end;
		count_lines(p, c->msg);
	}
}

/* Does the body part whose header starts at start declare itself a
 * multipart with boundary b (the same as its parent's)? */
static bool
same_boundary(struct mime_ctx *c, size_t start, size_t end, const char *b)
{
	struct mail_header h;
	struct mail_part t;
	bool same = false;

	mail_header_parse(c->msg, start, end, &h);
	const struct mail_hdr_field *f = mail_header_find(&h, "Content-Type");
	if (f != NULL) {
		memset(&t, 0, sizeof(t));
		char *v = mail_header_unfold(f->value, f->value_len);
		parse_content_type(&t, v, strlen(v));
		const char *tb = mail_part_param(&t, "boundary");
		same = t.type != NULL && strcmp(t.type, "multipart") == 0 &&
		    tb != NULL && strcmp(tb, b) == 0;
		free(v);
		free(t.type);
		free(t.subtype);
		for (size_t i = 0; i < t.nparams; i++) {
			free(t.params[i].name);
			free(t.params[i].value);
		}
		free(t.params);
	}
	mail_header_free(&h);
	return same;
}

static void
parse_multipart(struct mime_ctx *c, struct mail_part *p, int depth)
{
	const char *b = mail_part_param(p, "boundary");
	size_t bl = b ? strlen(b) : 0;
	size_t bs = p->body_off, be = p->body_end, line;
	bool close, digest = strcmp(p->subtype, "digest") == 0;

	c->close_line = SIZE_MAX;
	if (bl == 0 || bl > 200 || !find_delim(c->msg, bs, bs, be, b, bl, &line, &close)) {
		/* no boundary, or never used: no body parts at all */
		p->flags |= MAIL_PART_BROKEN;
		return;
	}
	while (!close) {
		size_t start = line_after(c->msg, line, be), next, end;
		bool found;
		if (c->m->nparts >= MIME_PARTS_MAX) {
			c->m->parts_truncated = true;
			c->close_line = SIZE_MAX;
			return;
		}
		if (depth + 1 < MIME_NESTING_MAX && same_boundary(c, start, be, b)) {
			/* A delimiter line belongs to the innermost open
			 * multipart with its boundary (Dovecot's rule, and
			 * what Outlook Express for Mac meant): the child
			 * takes the lines up to its own close delimiter,
			 * and ours go on after it. */
			struct mail_part *ch = part_new(c, p);
			c->close_line = SIZE_MAX;
			parse_part(c, ch, start, be, depth + 1, digest, false);
			size_t cl = c->close_line, after;
			if (cl == SIZE_MAX) {
				/* never closed: it ran to our end, so do we */
				p->flags |= MAIL_PART_BROKEN;
				c->close_line = SIZE_MAX;
				return;
			}
			after = line_after(c->msg, cl, be);
			found = find_delim(c->msg, bs, after, be, b, bl, &next, &close);
			end = found ? next : be;
			if (found && end > after && c->msg[end - 1] == '\n')
				end--;
			if (found && end > after && c->msg[end - 1] == '\r')
				end--;
			ch->body_end = end < after ? after : end;
			count_lines(ch, c->msg);
			/* a close line right at the end keeps its line end */
			if (found && line_after(c->msg, cl, ch->body_end) == ch->body_end &&
			    c->msg[ch->body_end - 1] != '\n') {
				ch->flags |= MAIL_PART_CLOSED;
				if (ch->body_end < next)
					extend_end(c, ch, next);
			}
			if (!found) {
				p->flags |= MAIL_PART_BROKEN;
				c->close_line = SIZE_MAX;
				return;
			}
			line = next;
			continue;
		}
		found = find_delim(c->msg, bs, start, be, b, bl, &next, &close);
		if (found) {
			end = next;
			/* the line end before the delimiter is the delimiter's */
			if (end > start && c->msg[end - 1] == '\n')
				end--;
			if (end > start && c->msg[end - 1] == '\r')
				end--;
		} else {
			end = be;	/* missing close delimiter */
			p->flags |= MAIL_PART_BROKEN;
		}
		struct mail_part *ch = part_new(c, p);
		parse_part(c, ch, start, end, depth + 1, digest, false);
		if (found && end < next && closed_at(ch, end))
			extend_end(c, ch, next);
		if (!found) {
			c->close_line = SIZE_MAX;
			return;
		}
		line = next;
	}
	c->close_line = line;
	/* a close delimiter line running to the end of the range */
	if (line_after(c->msg, line, be) == be &&
	    (be == bs || c->msg[be - 1] != '\n'))
		p->flags |= MAIL_PART_CLOSED;
}

static bool
is_identity_cte(const char *cte)
{
	return cte == NULL || mm_strcaseeq(cte, "7bit") || mm_strcaseeq(cte, "8bit") ||
	    mm_strcaseeq(cte, "binary");
}

static void
parse_part(struct mime_ctx *c, struct mail_part *p, size_t start, size_t end,
    int depth, bool digest_child, bool is_message)
{
	struct mail_header h;

	mail_header_parse(c->msg, start, end, &h);
	p->hdr_off = start;
	p->body_off = h.body_off;
	p->body_end = end;
	if (h.truncated)
		p->flags |= MAIL_PART_BROKEN;
	p->type = xstrdup(digest_child ? "message" : "text");
	p->subtype = xstrdup(digest_child ? "rfc822" : "plain");
	p->flags |= MAIL_PART_CT_DEFAULT;
	for (size_t i = 0; i < h.n; i++) {
		const struct mail_hdr_field *f = &h.f[i];
		if (f->name_len < 8 || !mm_strncaseeq(f->name, "content-", 8))
			continue;
		const char *n = f->name + 8;
		size_t nl = f->name_len - 8;
		char **dst = NULL;
		char *v = mail_header_unfold(f->value, f->value_len);
		size_t vl = strlen(v);
#define IS(s) (nl == strlen(s) && mm_strncaseeq(n, s, nl))
		if (IS("type")) {
			if (p->flags & MAIL_PART_CT_DEFAULT)
				parse_content_type(p, v, vl);
		} else if (IS("disposition")) {
			if (p->disposition == NULL)
				parse_disposition(p, v, vl);
		} else if (IS("language")) {
			if (p->languages.n == 0)
				parse_language(p, v, vl);
		} else if (IS("transfer-encoding")) {
			const char *s = v;
			if (p->encoding == NULL)
				p->encoding = read_token(&s, v + vl);
		} else if (IS("id"))
			dst = &p->id;
		else if (IS("description"))
			dst = &p->description;
		else if (IS("md5"))
			dst = &p->md5;
		else if (IS("location"))
			dst = &p->location;
#undef IS
		if (dst && *dst == NULL) {
			*dst = v;
			v = NULL;
		}
		free(v);
	}
	if (is_message)
		fill_envelope(p, &h);
	mail_header_free(&h);

	if (strcmp(p->type, "text") == 0)
		p->flags |= MAIL_PART_TEXT;
	/* RFC 6532 3.5 allows any transfer encoding on message/global, so
	 * one that is encoded stays unparsed like an encoded message/rfc822:
	 * its parts are not bytes of the message that BODY[n.m] could cut */
	if ((c->opts & MAIL_PARSE_GLOBAL) && strcmp(p->type, "message") == 0 &&
	    strcmp(p->subtype, "global") == 0)
		p->flags |= MAIL_PART_GLOBAL;
	if (strcmp(p->type, "multipart") == 0) {
		p->flags |= MAIL_PART_MULTIPART;
		if (depth < MIME_NESTING_MAX)
			parse_multipart(c, p, depth);
	} else if (mail_part_is_message(p) && is_identity_cte(p->encoding) &&
	    depth < MIME_NESTING_MAX && c->m->nparts < MIME_PARTS_MAX) {
		struct mail_part *ch = part_new(c, p);
		p->flags |= MAIL_PART_MESSAGE;
		parse_part(c, ch, p->body_off, p->body_end, depth + 1, false, true);
	}
	count_lines(p, c->msg);
}

struct mail_msg *
mail_mime_parse(const char *msg, size_t len)
{
	return mail_mime_parse_opts(msg, len, 0);
}

struct mail_msg *
mail_mime_parse_opts(const char *msg, size_t len, unsigned opts)
{
	struct mime_ctx c;
	struct mail_msg *m = xcalloc(1, sizeof(*m));

	c.msg = msg;
	c.len = len;
	c.m = m;
	c.opts = opts;
	m->size = len;
	m->root = part_new(&c, NULL);
	parse_part(&c, m->root, 0, len, 0, false, true);
	return m;
}

static void
params_free(struct mail_param *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(p[i].name);
		free(p[i].value);
	}
	free(p);
}

static void
part_free(struct mail_part *p)
{
	while (p) {
		struct mail_part *next = p->next;
		part_free(p->child);
		free(p->type);
		free(p->subtype);
		params_free(p->params, p->nparams);
		params_free(p->disp_params, p->ndisp_params);
		free(p->id);
		free(p->description);
		free(p->encoding);
		free(p->md5);
		free(p->location);
		free(p->disposition);
		mm_strlist_clear(&p->languages);
		if (p->env) {
			for (int i = 0; i < MAIL_ENV_COUNT; i++)
				free(p->env->v[i]);
			free(p->env);
		}
		free(p);
		p = next;
	}
}

void
mail_msg_free(struct mail_msg **mp)
{
	if (*mp == NULL)
		return;
	part_free((*mp)->root);
	free(*mp);
	*mp = NULL;
}

static const struct mail_param *
param_find(const struct mail_param *ps, size_t n, const char *name)
{
	size_t nl = strlen(name);
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(ps[i].name);
		if (l > 0 && ps[i].name[l - 1] == '*')
			l--;
		if (l == nl && mm_strncaseeq(ps[i].name, name, nl))
			return &ps[i];
	}
	return NULL;
}

const char *
mail_part_param(const struct mail_part *p, const char *name)
{
	const struct mail_param *r = param_find(p->params, p->nparams, name);
	return r ? r->value : NULL;
}

char *
mail_part_param_utf8(const struct mail_part *p, const char *name)
{
	const struct mail_param *r = param_find(p->params, p->nparams, name);
	if (r == NULL)
		r = param_find(p->disp_params, p->ndisp_params, name);
	if (r == NULL)
		return NULL;
	size_t l = strlen(r->name);
	return mail_decode_param(r->value, l > 0 && r->name[l - 1] == '*');
}

char *
mail_part_charset(const struct mail_part *p)
{
	const struct mail_param *r = NULL;
	/* a plain charset= first, then an RFC 2231 charset*= */
	for (size_t i = 0; i < p->nparams && r == NULL; i++)
		if (mm_strcaseeq(p->params[i].name, "charset"))
			r = &p->params[i];
	if (r != NULL)
		return xstrdup(r->value);
	if ((r = param_find(p->params, p->nparams, "charset")) == NULL)
		return NULL;
	char *v = mail_decode_param(r->value, true);
	/* a charset name is a token (RFC 2978 2.3): anything else is junk */
	bool ok = v != NULL && v[0] != '\0' && strlen(v) <= 64;
	for (const char *q = v; ok && *q; q++)
		ok = (unsigned char)*q > ' ' && (unsigned char)*q < 0x7f && !tspecial(*q);
	if (!ok) {
		free(v);
		return NULL;
	}
	return v;
}

bool
mail_part_is_message(const struct mail_part *p)
{
	return (p->flags & MAIL_PART_GLOBAL) ||
	    (strcmp(p->type, "message") == 0 && strcmp(p->subtype, "rfc822") == 0);
}

struct mail_part *
mail_part_next(const struct mail_part *p)
{
	if (p->child)
		return p->child;
	while (p) {
		if (p->next)
			return p->next;
		p = p->parent;
	}
	return NULL;
}

char *
mail_crlf_normalize(const char *msg, size_t len, size_t *len_r)
{
	struct mm_buf b;
	mm_buf_init(&b);
	mm_buf_reserve(&b, len + len / 32);
	for (size_t i = 0; i < len; i++) {
		if (msg[i] == '\r') {
			mm_buf_append(&b, "\r\n", 2);
			if (i + 1 < len && msg[i + 1] == '\n')
				i++;
		} else if (msg[i] == '\n')
			mm_buf_append(&b, "\r\n", 2);
		else
			mm_buf_appendc(&b, msg[i]);
	}
	*len_r = b.len;
	return mm_buf_cstr(&b);
}

static void
append_bounded(struct mm_buf *out, const char *s, size_t n, size_t max)
{
	if (out->len >= max)
		return;
	if (n > max - out->len)
		n = max - out->len;
	mm_buf_append(out, s, n);
}

static void
text_part(const struct mail_part *p, const char *msg, size_t max, struct mm_buf *out)
{
	struct mm_buf dec, u;
	const char *body = msg + p->body_off;
	size_t blen = p->body_end - p->body_off;

	mm_buf_init(&dec);
	mm_buf_init(&u);
	if (p->encoding && mm_strcaseeq(p->encoding, "base64")) {
		mail_decode_base64(body, blen, &dec);
		body = dec.data ? dec.data : "";
		blen = dec.len;
	} else if (p->encoding && mm_strcaseeq(p->encoding, "quoted-printable")) {
		mail_decode_qp(body, blen, false, &dec);
		body = dec.data ? dec.data : "";
		blen = dec.len;
	}
	char *cs = mail_part_charset(p);
	mail_charset_to_utf8(cs, body, blen, &u);
	free(cs);
	if (out->len > 0)
		append_bounded(out, "\n", 1, max);
	append_bounded(out, u.data ? u.data : "", u.len, max);
	mm_buf_free(&dec);
	mm_buf_free(&u);
}

void
mail_text_headers(const char *msg, size_t len, size_t max, struct mm_buf *out)
{
	struct mail_header h;
	mail_header_parse(msg, 0, len, &h);
	for (size_t i = 0; i < h.n && out->len < max; i++) {
		char *v = mail_decode_header(h.f[i].value, h.f[i].value_len);
		append_bounded(out, h.f[i].name, h.f[i].name_len, max);
		append_bounded(out, ": ", 2, max);
		append_bounded(out, v, strlen(v), max);
		append_bounded(out, "\n", 1, max);
		free(v);
	}
	mail_header_free(&h);
}

/* Is the body of leaf part p text a reader sees? Types text and message
 * (delivery-status and disposition-notification are lines of header-like
 * fields, RFC 3464 2.1, RFC 8098 3.1; global, partial, external-body...),
 * as Dovecot searches; not other types (attachments), and not a
 * message/rfc822 that is not parsed (encoded, against RFC 2046 5.2.1):
 * BODYSTRUCTURE shows it as an empty message, so search finds nothing in
 * it either. */
static bool
text_leaf(const struct mail_part *p)
{
	if (p->flags & (MAIL_PART_MULTIPART | MAIL_PART_MESSAGE))
		return false;
	if (p->flags & MAIL_PART_TEXT)
		return true;
	return strcmp(p->type, "message") == 0 && strcmp(p->subtype, "rfc822") != 0;
}

void
mail_text_body(const struct mail_msg *m, const char *msg, size_t len,
    size_t max, struct mm_buf *out)
{
	for (const struct mail_part *p = m->root; p && out->len < max; p = mail_part_next(p)) {
		if (p->body_end > len)
			break;	/* tree from another message: stop */
		if (p != m->root && p->env != NULL) {
			/* an encapsulated message: its headers are text too */
			if (out->len > 0)
				append_bounded(out, "\n", 1, max);
			mail_text_headers(msg + p->hdr_off, p->body_off - p->hdr_off, max, out);
		}
		if (text_leaf(p))
			text_part(p, msg, max, out);
	}
}

void
mail_text_all_headers(const struct mail_msg *m, const char *msg, size_t len,
    size_t max, struct mm_buf *out)
{
	for (const struct mail_part *p = m->root; p && out->len < max; p = mail_part_next(p)) {
		if (p->body_end > len)
			break;	/* tree from another message: stop */
		if (p != m->root && p->env != NULL)
			continue;	/* mail_text_body() has it */
		mail_text_headers(msg + p->hdr_off, p->body_off - p->hdr_off, max, out);
	}
}
