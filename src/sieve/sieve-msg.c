/* sieve-msg.c: the struct sieve_msg_if that delivery and "minimailctl
 * sieve test" hand to the interpreter: one message held in memory, its
 * header block split once (src/mail/header.c), its MIME tree parsed on
 * the first body test (src/mail/mime.c) and its parts decoded with the
 * same decoders IMAP SEARCH uses. Also the two things every caller of a
 * run needs: the vacation rules (who never gets an auto-reply) and the
 * one-line form of an action. Pure, like the rest of src/sieve. */
#include "sieve/sieve-int.h"
#include "mail/address.h"
#include "mail/decode.h"
#include "mail/header.h"
#include "mail/mime.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

struct sieve_msg {
	struct sieve_msg_if mif;
	const char *msg;
	size_t len;
	struct mail_header h;
	struct mail_msg *mime;
	char *env_from, *env_to;
};

static void
msg_headers(void *ctx, const char *name, struct mm_strlist *out)
{
	struct sieve_msg *m = ctx;
	size_t nl = strlen(name);
	for (size_t i = 0; i < m->h.n; i++) {
		const struct mail_hdr_field *f = &m->h.f[i];
		size_t n = f->name_len;
		while (n > 0 && (f->name[n - 1] == ' ' || f->name[n - 1] == '\t'))
			n--;
		if (n == nl && mm_strncaseeq(f->name, name, nl))
			mm_strlist_addn(out, f->value, f->value_len);
	}
}

static const char *
msg_envelope(void *ctx, const char *part)
{
	struct sieve_msg *m = ctx;
	if (strcmp(part, "from") == 0)
		return m->env_from;
	if (strcmp(part, "to") == 0)
		return m->env_to;
	return NULL;
}

static void
decoded_part(const struct mail_part *p, const char *msg, struct mm_buf *out)
{
	struct mm_buf dec;
	mm_buf_init(&dec);
	const char *body = msg + p->body_off;
	size_t blen = p->body_end - p->body_off;
	if (p->encoding && mm_strcaseeq(p->encoding, "base64")) {
		mail_decode_base64(body, blen, &dec);
		body = dec.data ? dec.data : "";
		blen = dec.len;
	} else if (p->encoding && mm_strcaseeq(p->encoding, "quoted-printable")) {
		mail_decode_qp(body, blen, false, &dec);
		body = dec.data ? dec.data : "";
		blen = dec.len;
	}
	if (strcmp(p->type, "text") == 0)
		mail_charset_to_utf8(mail_part_param(p, "charset"), body, blen, out);
	else
		mm_buf_append(out, body, blen);
	mm_buf_free(&dec);
}

static bool
type_matches(const struct mail_part *p, const struct mm_strlist *types)
{
	for (size_t i = 0; i < types->n; i++) {
		const char *t = types->v[i];
		const char *slash = strchr(t, '/');
		if (*t == '\0')
			return true;
		if (slash == NULL) {
			if (mm_strcaseeq(t, p->type))
				return true;
		} else if (mm_strncaseeq(t, p->type, (size_t)(slash - t)) &&
		    strlen(p->type) == (size_t)(slash - t) && mm_strcaseeq(slash + 1, p->subtype)) {
			return true;
		}
	}
	return false;
}

static void
msg_body(void *ctx, enum sieve_body_transform t, const struct mm_strlist *types, size_t max,
    struct mm_strlist *out)
{
	struct sieve_msg *m = ctx;
	size_t total = 0;
	if (t == SIEVE_BODY_RAW) {
		size_t off = m->h.body_off <= m->len ? m->h.body_off : m->len;
		size_t n = m->len - off;
		mm_strlist_addn(out, m->msg + off, n < max ? n : max);
		return;
	}
	if (m->mime == NULL)
		m->mime = mail_mime_parse(m->msg, m->len);
	struct mm_buf b;
	mm_buf_init(&b);
	for (const struct mail_part *p = m->mime->root; p && total < max; p = mail_part_next(p)) {
		if (p->body_end > m->len || (p->flags & (MAIL_PART_MULTIPART | MAIL_PART_MESSAGE)))
			continue;
		bool want = t == SIEVE_BODY_TEXT ? strcmp(p->type, "text") == 0 : type_matches(p, types);
		if (!want)
			continue;
		b.len = 0;
		decoded_part(p, m->msg, &b);
		size_t n = b.len < max - total ? b.len : max - total;
		/* a NUL in a part ends its text (strings are C strings) */
		mm_strlist_addn(out, b.data ? b.data : "", n);
		total += n;
	}
	mm_buf_free(&b);
}

struct sieve_msg *
sieve_msg_new(const char *msg, size_t len, const char *env_from, const char *env_to)
{
	struct sieve_msg *m = xcalloc(1, sizeof(*m));
	m->msg = msg;
	m->len = len;
	mail_header_parse(msg, 0, len, &m->h);
	m->env_from = env_from ? xstrdup(env_from) : NULL;
	m->env_to = env_to ? xstrdup(env_to) : NULL;
	m->mif.ctx = m;
	m->mif.headers = msg_headers;
	m->mif.envelope = msg_envelope;
	m->mif.body = msg_body;
	m->mif.size = len;
	m->mif.now = time(NULL);
	struct tm lt;
	localtime_r(&m->mif.now, &lt);
	m->mif.now_tz_min = (int)(lt.tm_gmtoff / 60);
	return m;
}

void
sieve_msg_free(struct sieve_msg **m)
{
	if (*m == NULL)
		return;
	mail_header_free(&(*m)->h);
	mail_msg_free(&(*m)->mime);
	free((*m)->env_from);
	free((*m)->env_to);
	free(*m);
	*m = NULL;
}

const struct sieve_msg_if *
sieve_msg_if(struct sieve_msg *m)
{
	return &m->mif;
}

/* ---- vacation rules ---- */

static bool
has_header(const struct sieve_msg_if *m, const char *name, struct mm_strlist *v)
{
	mm_strlist_clear(v);
	mm_strlist_init(v);
	m->headers(m->ctx, name, v);
	return v->n > 0;
}

bool
sieve_vacation_allowed(const struct sieve_msg_if *m, const char *sender,
    const struct mm_strlist *own, const char **why_r)
{
	static const char *const lists[] = {
		"list-id", "list-help", "list-subscribe", "list-unsubscribe", "list-post",
		"list-owner", "list-archive",
	};
	struct mm_strlist v;
	mm_strlist_init(&v);
	bool ok = false;
	*why_r = NULL;
	if (sender == NULL || *sender == '\0' || strcmp(sender, "<>") == 0) {
		*why_r = "no-sender";
		goto out;
	}
	const char *at = strrchr(sender, '@');
	size_t ll = at ? (size_t)(at - sender) : strlen(sender);
	if ((ll == 13 && mm_strncaseeq(sender, "mailer-daemon", 13)) ||
	    (ll >= 6 && mm_strncaseeq(sender, "owner-", 6)) ||
	    (ll >= 8 && mm_strncaseeq(sender + ll - 8, "-request", 8)) ||
	    (ll == 10 && mm_strncaseeq(sender, "postmaster", 10))) {
		*why_r = "system-sender";
		goto out;
	}
	for (size_t i = 0; own && i < own->n; i++) {
		if (mm_strcaseeq(own->v[i], sender)) {
			*why_r = "own-address";
			goto out;
		}
	}
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		if (has_header(m, lists[i], &v)) {
			*why_r = "list";
			goto out;
		}
	}
	if (has_header(m, "auto-submitted", &v)) {
		char *s = mail_header_unfold(v.v[0], strlen(v.v[0]));
		char *p = s;
		while (*p == ' ' || *p == '\t')
			p++;
		bool no = mm_strncaseeq(p, "no", 2) && (p[2] == '\0' || p[2] == ' ' || p[2] == ';' || p[2] == '(');
		free(s);
		if (!no) {
			*why_r = "auto-submitted";
			goto out;
		}
	}
	if (has_header(m, "precedence", &v)) {
		char *s = mail_header_unfold(v.v[0], strlen(v.v[0]));
		char *p = s;
		while (*p == ' ' || *p == '\t')
			p++;
		bool bulk = mm_strncaseeq(p, "bulk", 4) || mm_strncaseeq(p, "list", 4) ||
		    mm_strncaseeq(p, "junk", 4);
		free(s);
		if (bulk) {
			*why_r = "precedence";
			goto out;
		}
	}
	if (has_header(m, "x-auto-response-suppress", &v)) {
		*why_r = "auto-response-suppress";
		goto out;
	}
	/* RFC 5230 4.5: one of the user's addresses in a recipient field */
	static const char *const rcpt[] = { "to", "cc", "bcc", "resent-to", "resent-cc" };
	bool found = own == NULL || own->n == 0;
	for (size_t i = 0; i < sizeof(rcpt) / sizeof(rcpt[0]) && !found; i++) {
		mm_strlist_clear(&v);
		mm_strlist_init(&v);
		m->headers(m->ctx, rcpt[i], &v);
		for (size_t j = 0; j < v.n && !found; j++) {
			struct mail_addr_list al;
			mail_addr_parse(v.v[j], strlen(v.v[j]), 256, &al);
			for (size_t k = 0; k < al.n && !found; k++) {
				const struct mail_addr *a = &al.a[k];
				if (a->kind != MAIL_ADDR_MAILBOX || a->mailbox == NULL || a->host == NULL)
					continue;
				char *spec = xasprintf("%s@%s", a->mailbox, a->host);
				/* user+detail@domain is the user's too (RFC 5233) */
				const char *plus = strchr(a->mailbox, '+');
				char *base = plus ? xasprintf("%.*s@%s", (int)(plus - a->mailbox),
				    a->mailbox, a->host) : NULL;
				for (size_t o = 0; o < own->n && !found; o++)
					found = mm_strcaseeq(spec, own->v[o]) ||
					    (base && mm_strcaseeq(base, own->v[o]));
				free(spec);
				free(base);
			}
			mail_addr_list_free(&al);
		}
	}
	if (!found) {
		*why_r = "not-a-recipient";
		goto out;
	}
	ok = true;
out:
	mm_strlist_clear(&v);
	return ok;
}

/* ---- one line per action ---- */

static void
quoted(struct mm_buf *out, const char *s)
{
	mm_buf_appendc(out, '"');
	for (; s && *s; s++) {
		if (*s == '"' || *s == '\\')
			mm_buf_appendc(out, '\\');
		if (*s == '\r' || *s == '\n') {
			mm_buf_append(out, *s == '\r' ? "\\r" : "\\n", 2);
			continue;
		}
		mm_buf_appendc(out, *s);
	}
	mm_buf_appendc(out, '"');
}

void
sieve_action_format(const struct sieve_action *a, struct mm_buf *out)
{
	switch (a->kind) {
	case SIEVE_ACT_KEEP:
		mm_buf_printf(out, "keep");
		break;
	case SIEVE_ACT_FILEINTO:
		mm_buf_printf(out, "fileinto ");
		quoted(out, a->arg);
		break;
	case SIEVE_ACT_REDIRECT:
		mm_buf_printf(out, "redirect ");
		quoted(out, a->arg);
		break;
	case SIEVE_ACT_DISCARD:
		mm_buf_printf(out, "discard");
		break;
	case SIEVE_ACT_REJECT:
	case SIEVE_ACT_EREJECT:
		mm_buf_printf(out, "reject ");
		quoted(out, a->arg);
		break;
	case SIEVE_ACT_VACATION:
		mm_buf_printf(out, "vacation ");
		quoted(out, a->reply_to ? a->reply_to : "");
		mm_buf_appendc(out, ' ');
		quoted(out, a->subject);
		break;
	}
	if ((a->kind == SIEVE_ACT_KEEP || a->kind == SIEVE_ACT_FILEINTO) && a->has_flags) {
		struct mm_buf f;
		mm_buf_init(&f);
		for (size_t i = 0; i < a->flags.n; i++) {
			if (i)
				mm_buf_appendc(&f, ' ');
			mm_buf_append(&f, a->flags.v[i], strlen(a->flags.v[i]));
		}
		mm_buf_printf(out, " flags ");
		quoted(out, mm_buf_cstr(&f));
		mm_buf_free(&f);
	}
}
