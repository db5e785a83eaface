/* authres.c: Authentication-Results (RFC 8601) written and stripped.
 *
 * The one idea: everything written comes from outside (domains from DNS
 * and the message, selectors, reasons), so each value passes through one
 * writer, put_value(), that keeps printable ASCII only and quotes what is
 * not a token; the header we prepend can never break the header block. */
#include <ctype.h>
#include <string.h>

#include "mail/authres.h"
#include "mail/header.h"

#define AUTHRES_VALUE_MAX_BYTES 256

static size_t
skip_cfws(const char *s, size_t i, size_t n)
{
	int depth = 0;

	while (i < n) {
		char ch = s[i];
		if (depth > 0) {
			if (ch == '\\' && i + 1 < n)
				i++;
			else if (ch == '(')
				depth++;
			else if (ch == ')')
				depth--;
			i++;
		} else if (ch == '(') {
			depth = 1;
			i++;
		} else if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n') {
			i++;
		} else {
			break;
		}
	}
	return i;
}

bool
authres_authserv_id(const char *v, size_t n, char *buf, size_t size)
{
	size_t i = skip_cfws(v, 0, n), o = 0;

	if (size == 0)
		return false;
	if (i < n && v[i] == '"') {
		for (i++; i < n && v[i] != '"'; i++) {
			if (v[i] == '\\' && i + 1 < n)
				i++;
			if (o + 1 < size)
				buf[o++] = v[i];
		}
	} else {
		while (i < n && v[i] != ';' && v[i] != '(' && !isspace((unsigned char)v[i])) {
			if (o + 1 < size)
				buf[o++] = v[i];
			i++;
		}
	}
	buf[o] = '\0';
	return o > 0;
}

size_t
authres_strip(const char *msg, size_t hdr_end, const char *authserv_id, struct mm_buf *out)
{
	struct mail_header h;
	size_t removed = 0, copied = 0;
	char id[AUTHRES_VALUE_MAX_BYTES];

	mail_header_parse(msg, 0, hdr_end, &h);
	for (size_t i = 0; i < h.n; i++) {
		const struct mail_hdr_field *f = &h.f[i];
		if (f->name_len == 22 && mm_strncaseeq(f->name, "Authentication-Results", 22) &&
		    authres_authserv_id(f->value, f->value_len, id, sizeof(id)) &&
		    mm_strcaseeq(id, authserv_id)) {
			mm_buf_append(out, msg + copied, f->off - copied);
			copied = f->off + f->len;
			removed++;
		}
	}
	mm_buf_append(out, msg + copied, hdr_end - copied);
	mail_header_free(&h);
	return removed;
}

static bool
is_token(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		/* RFC 2045 token: no SPACE, CTLs or tspecials */
		if (ch <= ' ' || ch >= 0x7f || strchr("()<>@,;:\\\"/[]?=", ch) != NULL)
			return false;
	}
	return true;
}

static void
put_value(struct mm_buf *out, const char *v, bool allow_at)
{
	char clean[AUTHRES_VALUE_MAX_BYTES];
	size_t o = 0;

	for (; *v && o + 1 < sizeof(clean); v++)
		if ((unsigned char)*v >= 0x20 && (unsigned char)*v < 0x7f)
			clean[o++] = *v;
	clean[o] = '\0';
	/* a property value may be an addr-spec (smtp.mailfrom=a@b) unquoted */
	bool token = is_token(clean);
	if (!token && allow_at && strchr(clean, '@') != NULL) {
		char tmp[AUTHRES_VALUE_MAX_BYTES];
		size_t k = 0;
		for (size_t j = 0; clean[j]; j++)
			if (clean[j] != '@')
				tmp[k++] = clean[j];
		tmp[k] = '\0';
		token = k > 0 && is_token(tmp);
	}
	if (token) {
		mm_buf_append(out, clean, o);
		return;
	}
	mm_buf_appendc(out, '"');
	for (size_t j = 0; j < o; j++) {
		if (clean[j] == '"' || clean[j] == '\\')
			mm_buf_appendc(out, '\\');
		mm_buf_appendc(out, clean[j]);
	}
	mm_buf_appendc(out, '"');
}

void
authres_format(struct mm_buf *out, const char *authserv_id,
    const struct authres_item *items, size_t n)
{
	mm_buf_printf(out, "Authentication-Results: ");
	put_value(out, authserv_id, false);
	if (n == 0) {
		mm_buf_printf(out, "; none\r\n");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const struct authres_item *it = &items[i];
		mm_buf_printf(out, ";\r\n\t%s=%s", it->method, it->result);
		if (it->reason != NULL) {
			mm_buf_printf(out, " reason=");
			put_value(out, it->reason, false);
		}
		for (size_t k = 0; k < 4 && it->ptype[k] != NULL; k++) {
			mm_buf_printf(out, " %s.%s=", it->ptype[k], it->prop[k]);
			put_value(out, it->pvalue[k] ? it->pvalue[k] : "", true);
		}
	}
	mm_buf_printf(out, "\r\n");
}
