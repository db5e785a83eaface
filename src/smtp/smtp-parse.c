/* smtp-parse.c: the syntax of SMTP command lines (RFC 5321 4.1.2 paths,
 * ESMTP parameters, BDAT, AUTH, EHLO), as pure functions. The session only
 * sees parsed values or an enum smtp_perr with its fixed reply.
 *
 * The one idea: a path is parsed in two passes. The first finds where the
 * path ends (a '>' outside a quoted string) so that the parameters after
 * it can be read first; only then do we know whether SMTPUTF8 was given,
 * which decides whether UTF-8 in the path is allowed. */
#include "smtp/smtp-parse.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "lib/util.h"

static const struct {
	const char *reply;
	const char *name;
} perr_table[SMTP_PERR_COUNT] = {
	[SMTP_PERR_OK] = { "250 2.0.0 Ok", "OK" },
	[SMTP_PERR_NUL] = { "500 5.5.2 Syntax error: NUL byte in command", "NUL" },
	[SMTP_PERR_UNKNOWN_CMD] = { "500 5.5.2 Syntax error: command not recognized", "UNKNOWN_CMD" },
	[SMTP_PERR_NO_ARGS] = { "501 5.5.4 Syntax error: no parameters allowed", "NO_ARGS" },
	[SMTP_PERR_MAIL_SYNTAX] = { "501 5.5.2 Syntax: MAIL FROM:<address>", "MAIL_SYNTAX" },
	[SMTP_PERR_RCPT_SYNTAX] = { "501 5.5.2 Syntax: RCPT TO:<address>", "RCPT_SYNTAX" },
	[SMTP_PERR_BAD_SENDER] = { "501 5.1.7 Bad sender address syntax", "BAD_SENDER" },
	[SMTP_PERR_BAD_RCPT] = { "501 5.1.3 Bad recipient address syntax", "BAD_RCPT" },
	[SMTP_PERR_SENDER_TOO_LONG] = { "501 5.1.7 Sender address too long", "SENDER_TOO_LONG" },
	[SMTP_PERR_RCPT_TOO_LONG] = { "501 5.1.3 Recipient address too long", "RCPT_TOO_LONG" },
	[SMTP_PERR_SENDER_UTF8] = { "553 5.6.7 Non-ASCII sender address requires SMTPUTF8", "SENDER_UTF8" },
	[SMTP_PERR_RCPT_UTF8] = { "553 5.6.7 Non-ASCII recipient address requires SMTPUTF8", "RCPT_UTF8" },
	[SMTP_PERR_PARAM_SYNTAX] = { "501 5.5.4 Syntax error in parameters", "PARAM_SYNTAX" },
	[SMTP_PERR_PARAM_UNKNOWN] = { "555 5.5.4 Unsupported parameter", "PARAM_UNKNOWN" },
	[SMTP_PERR_PARAM_DUP] = { "501 5.5.4 Duplicate parameter", "PARAM_DUP" },
	[SMTP_PERR_PARAM_VALUE] = { "501 5.5.4 Invalid parameter value", "PARAM_VALUE" },
	[SMTP_PERR_BODY_UNSUPPORTED] = { "555 5.5.4 Unsupported BODY type", "BODY_UNSUPPORTED" },
	[SMTP_PERR_BDAT_SYNTAX] = { "501 5.5.4 Syntax: BDAT size [LAST]", "BDAT_SYNTAX" },
	[SMTP_PERR_AUTH_SYNTAX] = { "501 5.5.4 Syntax: AUTH mechanism [initial-response]", "AUTH_SYNTAX" },
	[SMTP_PERR_HELO_SYNTAX] = { "501 5.5.4 Syntax: EHLO hostname", "HELO_SYNTAX" },
	[SMTP_PERR_HELO_DOMAIN] = { "501 5.5.4 Invalid domain name", "HELO_DOMAIN" },
};

static const struct {
	const char *name;
	enum smtp_verb verb;
	bool no_args;
} verb_table[] = {
	{ "HELO", SMTP_CMD_HELO, false },
	{ "EHLO", SMTP_CMD_EHLO, false },
	{ "MAIL", SMTP_CMD_MAIL, false },
	{ "RCPT", SMTP_CMD_RCPT, false },
	{ "DATA", SMTP_CMD_DATA, true },
	{ "BDAT", SMTP_CMD_BDAT, false },
	{ "RSET", SMTP_CMD_RSET, true },
	{ "NOOP", SMTP_CMD_NOOP, false },
	{ "QUIT", SMTP_CMD_QUIT, true },
	{ "VRFY", SMTP_CMD_VRFY, false },
	{ "EXPN", SMTP_CMD_EXPN, false },
	{ "HELP", SMTP_CMD_HELP, false },
	{ "STARTTLS", SMTP_CMD_STARTTLS, true },
	{ "AUTH", SMTP_CMD_AUTH, false },
};

const char *
smtp_perr_reply(enum smtp_perr err)
{
	if ((unsigned)err >= SMTP_PERR_COUNT)
		return "451 4.3.0 Internal error";
	return perr_table[err].reply;
}

const char *
smtp_perr_name(enum smtp_perr err)
{
	if ((unsigned)err >= SMTP_PERR_COUNT)
		return "?";
	return perr_table[err].name;
}

/* ---- character classes (RFC 5321 4.1.2, RFC 5322 3.2.3) ---- */

static bool
is_alpha(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static bool
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool
is_atext(unsigned char c)
{
	return is_alpha(c) || is_digit(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* qtextSMTP: %d32-33 / %d35-91 / %d93-126 */
static bool
is_qtext(unsigned char c)
{
	return c == 32 || c == 33 || (c >= 35 && c <= 91) || (c >= 93 && c <= 126);
}

static char
upper(char c)
{
	return (c >= 'a' && c <= 'z') ? c - 'a' + 'A' : c;
}

bool
smtp_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	uint32_t cp;

	for (size_t i = 0, n; i < len; i += n)
		if ((n = mm_utf8_decode(p + i, len - i, &cp)) == 0)
			return false;
	return true;
}

static bool
has_8bit(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] >= 0x80)
			return true;
	return false;
}

/* sub-domain = Let-dig [Ldh-str]; labels of 1..63 octets. With utf8,
 * non-ASCII bytes count as letters (U-labels, RFC 6531 3.3). */
static bool
domain_check(const char *s, size_t len, bool utf8, bool underscore)
{
	size_t label = 0;

	if (len == 0 || len > SMTP_DOMAIN_MAX_BYTES)
		return false;
	if (has_8bit(s, len) && (!utf8 || !smtp_utf8_valid(s, len)))
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = s[i];
		bool letdig = is_alpha(c) || is_digit(c) || (c >= 0x80) ||
		    (underscore && c == '_');

		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!letdig && c != '-')
			return false;
		if (label == 0 && c == '-')
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0 && s[len - 1] != '-';
}

bool
smtp_domain_valid(const char *s, size_t len, bool utf8)
{
	return domain_check(s, len, utf8, false);
}

/* address-literal = "[" ( IPv4 / IPv6 / General-address-literal ) "]" */
static bool
literal_valid(const char *s, size_t len)
{
	char buf[SMTP_DOMAIN_MAX_BYTES + 1];
	unsigned char addr[16];
	const char *in = s + 1;
	size_t inlen;

	if (len < 3 || len > SMTP_DOMAIN_MAX_BYTES || s[0] != '[' || s[len - 1] != ']')
		return false;
	inlen = len - 2;
	memcpy(buf, in, inlen);
	buf[inlen] = '\0';
	if (is_digit(buf[0]))
		return inet_pton(AF_INET, buf, addr) == 1;
	if (inlen > 5 && mm_strncaseeq(buf, "IPv6:", 5))
		return inet_pton(AF_INET6, buf + 5, addr) == 1;
	/* General-address-literal = Standardized-tag ":" 1*dcontent */
	{
		size_t i = 0;
		while (i < inlen && (is_alpha(buf[i]) || is_digit(buf[i]) || buf[i] == '-'))
			i++;
		if (i == 0 || buf[i - 1] == '-' || i >= inlen - 1 || buf[i] != ':')
			return false;
		for (i++; i < inlen; i++) {
			unsigned char c = buf[i];
			if (!((c >= 33 && c <= 90) || (c >= 94 && c <= 126)))
				return false;
		}
		return true;
	}
}

/* Dot-string = Atom *("." Atom); UTF-8 counts as atext with utf8. */
static bool
dot_string_valid(const char *s, size_t len, bool utf8)
{
	size_t atom = 0;

	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = s[i];
		if (c == '.') {
			if (atom == 0)
				return false;
			atom = 0;
			continue;
		}
		if (!is_atext(c) && !(utf8 && c >= 0x80))
			return false;
		atom++;
	}
	return atom > 0;
}

/* Quoted-string = DQUOTE *QcontentSMTP DQUOTE; writes the unescaped
 * content to out (at least len bytes). */
static bool
quoted_valid(const char *s, size_t len, bool utf8, char *out, size_t *outlen_r)
{
	size_t o = 0;

	if (len < 2 || s[0] != '"' || s[len - 1] != '"')
		return false;
	for (size_t i = 1; i < len - 1; i++) {
		unsigned char c = s[i];
		if (c == '\\') {
			/* quoted-pairSMTP = %d92 %d32-126 */
			if (i + 1 >= len - 1)
				return false;
			c = s[++i];
			if (c < 32 || c > 126)
				return false;
		} else if (!is_qtext(c) && !(utf8 && c >= 0x80))
			return false;
		out[o++] = c;
	}
	*outlen_r = o;
	return true;
}

enum path_err { PATH_OK, PATH_SYNTAX, PATH_TOO_LONG, PATH_UTF8 };

/* Finds the end of "<...>" starting at s[0] == '<': the index of the
 * closing '>' outside quotes, or 0. */
static size_t
path_end(const char *s, size_t len)
{
	bool quoted = false;

	for (size_t i = 1; i < len; i++) {
		if (quoted) {
			if (s[i] == '\\')
				i++;
			else if (s[i] == '"')
				quoted = false;
		} else if (s[i] == '"')
			quoted = true;
		else if (s[i] == '>')
			return i;
		else if (s[i] == '<')
			return 0;
	}
	return 0;
}

/* s is the whole "<...>" (len includes the brackets). */
static enum path_err
path_parse(const char *s, size_t len, bool mail, bool utf8, struct smtp_path *p)
{
	const char *in = s + 1, *at, *local, *dom;
	size_t inlen = len - 2, locallen, domlen;
	bool eight;

	memset(p, 0, sizeof(*p));
	if (len > SMTP_PATH_MAX_BYTES)
		return PATH_TOO_LONG;
	if (memchr(s, '\0', len) != NULL)
		return PATH_SYNTAX;
	eight = has_8bit(in, inlen);
	if (eight && !smtp_utf8_valid(in, inlen))
		return PATH_SYNTAX;
	if (eight && !utf8)
		return PATH_UTF8;
	p->utf8 = eight;

	if (inlen == 0) {
		if (!mail)
			return PATH_SYNTAX;
		p->null_path = true;
		return PATH_OK;
	}
	if (!mail && inlen == 10 && mm_strncaseeq(in, "postmaster", 10)) {
		p->postmaster = true;
		mm_strlcpy(p->addr, "postmaster", sizeof(p->addr));
		mm_strlcpy(p->local, "postmaster", sizeof(p->local));
		return PATH_OK;
	}

	/* A-d-l ":" : "@dom,@dom:" is tolerated and dropped (RFC 5321 C). */
	if (in[0] == '@') {
		const char *colon = memchr(in, ':', inlen);
		const char *q = in;
		if (colon == NULL)
			return PATH_SYNTAX;
		while (q < colon) {
			const char *e;
			if (*q != '@')
				return PATH_SYNTAX;
			q++;
			e = q;
			while (e < colon && *e != ',')
				e++;
			if (!((e > q && *q == '[') ? literal_valid(q, e - q) :
			    domain_check(q, e - q, utf8, false)))
				return PATH_SYNTAX;
			q = e < colon ? e + 1 : e;
			if (e < colon && q >= colon)
				return PATH_SYNTAX;
		}
		inlen -= colon + 1 - in;
		in = colon + 1;
		if (inlen == 0)
			return PATH_SYNTAX;
	}

	/* Mailbox = Local-part "@" ( Domain / address-literal ) */
	local = in;
	if (in[0] == '"') {
		size_t i = 1;
		while (i < inlen && in[i] != '"') {
			if (in[i] == '\\')
				i++;
			i++;
		}
		if (i >= inlen)
			return PATH_SYNTAX;
		at = in + i + 1;
		if (at >= in + inlen || *at != '@')
			return PATH_SYNTAX;
	} else {
		at = memchr(in, '@', inlen);
		if (at == NULL)
			return PATH_SYNTAX;
	}
	locallen = at - local;
	dom = at + 1;
	domlen = in + inlen - dom;
	if (locallen > SMTP_LOCAL_PART_MAX_BYTES || domlen > SMTP_DOMAIN_MAX_BYTES)
		return PATH_TOO_LONG;
	if (domlen == 0)
		return PATH_SYNTAX;

	if (local[0] == '"') {
		char content[SMTP_LOCAL_PART_MAX_BYTES];
		size_t clen;
		if (!quoted_valid(local, locallen, utf8, content, &clen))
			return PATH_SYNTAX;
		if (dot_string_valid(content, clen, utf8)) {
			memcpy(p->local, content, clen);
			p->local[clen] = '\0';
		} else {
			memcpy(p->local, local, locallen);
			p->local[locallen] = '\0';
		}
	} else {
		if (!dot_string_valid(local, locallen, utf8))
			return PATH_SYNTAX;
		memcpy(p->local, local, locallen);
		p->local[locallen] = '\0';
	}

	if (dom[0] == '[') {
		if (!literal_valid(dom, domlen))
			return PATH_SYNTAX;
		p->literal = true;
	} else if (!domain_check(dom, domlen, utf8, false))
		return PATH_SYNTAX;
	memcpy(p->domain, dom, domlen);
	p->domain[domlen] = '\0';
	snprintf(p->addr, sizeof(p->addr), "%s@%s", p->local, p->domain);
	return PATH_OK;
}

/* One esmtp-param: keyword [ "=" value ]. */
struct param {
	const char *kw;
	size_t kwlen;
	const char *val;         /* NULL: no "=" */
	size_t vallen;
};

/* Splits s (the text after '>') into params; returns false on bad syntax.
 * At most max params; more is a syntax error. */
static bool
params_split(const char *s, size_t len, struct param *ps, size_t max, size_t *n_r)
{
	size_t i = 0, n = 0;

	*n_r = 0;
	if (len == 0)
		return true;
	if (s[0] != ' ')
		return false;
	for (;;) {
		size_t start;

		while (i < len && s[i] == ' ')
			i++;
		if (i == len)
			break;
		if (n == max)
			return false;
		start = i;
		if (!is_alpha(s[i]) && !is_digit(s[i]))
			return false;
		while (i < len && (is_alpha(s[i]) || is_digit(s[i]) || s[i] == '-'))
			i++;
		ps[n].kw = s + start;
		ps[n].kwlen = i - start;
		ps[n].val = NULL;
		ps[n].vallen = 0;
		if (i < len && s[i] == '=') {
			size_t vstart = ++i;
			while (i < len && s[i] != ' ') {
				unsigned char c = s[i];
				/* esmtp-value = 1*(%d33-60 / %d62-126) */
				if (c < 33 || c > 126 || c == '=')
					return false;
				i++;
			}
			if (i == vstart)
				return false;
			ps[n].val = s + vstart;
			ps[n].vallen = i - vstart;
		}
		if (i < len && s[i] != ' ')
			return false;
		n++;
	}
	*n_r = n;
	return true;
}

static bool
kw_is(const struct param *p, const char *name)
{
	return p->kwlen == strlen(name) && mm_strncaseeq(p->kw, name, p->kwlen);
}

static bool
val_is(const struct param *p, const char *name)
{
	return p->val != NULL && p->vallen == strlen(name) &&
	    mm_strncaseeq(p->val, name, p->vallen);
}

#define SMTP_PARAMS_MAX 16

/* Common part of MAIL and RCPT: "KEY:" [SP] "<" ... ">" [params]. */
static enum smtp_perr
path_and_params(const char *args, size_t len, const char *key, enum smtp_perr syntax,
    enum smtp_perr bad, const char **path_r, size_t *pathlen_r, struct param *ps,
    size_t *nps_r)
{
	size_t klen = strlen(key), i, end;

	if (memchr(args, '\0', len) != NULL)
		return SMTP_PERR_NUL;
	if (len < klen || !mm_strncaseeq(args, key, klen))
		return syntax;
	i = klen;
	if (i < len && args[i] == ' ')
		i++;
	if (i >= len || args[i] != '<')
		return bad;
	end = path_end(args + i, len - i);
	if (end == 0)
		return bad;
	*path_r = args + i;
	*pathlen_r = end + 1;
	i += end + 1;
	if (!params_split(args + i, len - i, ps, SMTP_PARAMS_MAX, nps_r))
		return SMTP_PERR_PARAM_SYNTAX;
	return SMTP_PERR_OK;
}

static bool
parse_u64(const char *s, size_t len, uint64_t *v_r)
{
	uint64_t v = 0;

	if (len == 0 || len > 20)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned d;
		if (!is_digit(s[i]))
			return false;
		d = s[i] - '0';
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*v_r = v;
	return true;
}

enum smtp_perr
smtp_parse_mail(const char *args, size_t len, struct smtp_path *path_r,
    struct smtp_mail_params *params_r)
{
	struct param ps[SMTP_PARAMS_MAX];
	const char *path;
	size_t pathlen, nps;
	bool seen_size = false, seen_body = false, seen_utf8 = false, seen_auth = false;
	enum smtp_perr err;

	memset(params_r, 0, sizeof(*params_r));
	memset(path_r, 0, sizeof(*path_r));
	err = path_and_params(args, len, "FROM:", SMTP_PERR_MAIL_SYNTAX,
	    SMTP_PERR_BAD_SENDER, &path, &pathlen, ps, &nps);
	if (err != SMTP_PERR_OK)
		return err;

	for (size_t i = 0; i < nps; i++) {
		struct param *p = &ps[i];
		bool *seen;

		if (kw_is(p, "SIZE"))
			seen = &seen_size;
		else if (kw_is(p, "BODY"))
			seen = &seen_body;
		else if (kw_is(p, "SMTPUTF8"))
			seen = &seen_utf8;
		else if (kw_is(p, "AUTH"))
			seen = &seen_auth;
		else
			return SMTP_PERR_PARAM_UNKNOWN;
		if (*seen)
			return SMTP_PERR_PARAM_DUP;
		*seen = true;

		if (seen == &seen_size) {
			if (p->val == NULL || !parse_u64(p->val, p->vallen, &params_r->size))
				return SMTP_PERR_PARAM_VALUE;
			params_r->has_size = true;
		} else if (seen == &seen_body) {
			if (p->val == NULL)
				return SMTP_PERR_PARAM_VALUE;
			if (val_is(p, "7BIT"))
				params_r->body = SMTP_BODY_7BIT;
			else if (val_is(p, "8BITMIME"))
				params_r->body = SMTP_BODY_8BITMIME;
			else
				return SMTP_PERR_BODY_UNSUPPORTED;
		} else if (seen == &seen_utf8) {
			if (p->val != NULL)
				return SMTP_PERR_PARAM_VALUE;
			params_r->smtputf8 = true;
		} else {
			/* AUTH=<> or AUTH=xtext: we never trust it (RFC 4954 5) */
			if (p->val == NULL)
				return SMTP_PERR_PARAM_VALUE;
			params_r->has_auth = true;
		}
	}

	switch (path_parse(path, pathlen, true, params_r->smtputf8, path_r)) {
	case PATH_OK:
		return SMTP_PERR_OK;
	case PATH_TOO_LONG:
		return SMTP_PERR_SENDER_TOO_LONG;
	case PATH_UTF8:
		return SMTP_PERR_SENDER_UTF8;
	default:
		return SMTP_PERR_BAD_SENDER;
	}
}

enum smtp_perr
smtp_parse_rcpt(const char *args, size_t len, bool smtputf8, struct smtp_path *path_r)
{
	struct param ps[SMTP_PARAMS_MAX];
	const char *path;
	size_t pathlen, nps;
	enum smtp_perr err;

	memset(path_r, 0, sizeof(*path_r));
	err = path_and_params(args, len, "TO:", SMTP_PERR_RCPT_SYNTAX,
	    SMTP_PERR_BAD_RCPT, &path, &pathlen, ps, &nps);
	if (err != SMTP_PERR_OK)
		return err;
	/* We offer no RCPT parameters (no DSN): NOTIFY, ORCPT, ... */
	if (nps > 0)
		return SMTP_PERR_PARAM_UNKNOWN;
	switch (path_parse(path, pathlen, false, smtputf8, path_r)) {
	case PATH_OK:
		return SMTP_PERR_OK;
	case PATH_TOO_LONG:
		return SMTP_PERR_RCPT_TOO_LONG;
	case PATH_UTF8:
		return SMTP_PERR_RCPT_UTF8;
	default:
		return SMTP_PERR_BAD_RCPT;
	}
}

enum smtp_perr
smtp_parse_bdat(const char *args, size_t len, uint64_t *size_r, bool *last_r)
{
	size_t i = 0;

	*size_r = 0;
	*last_r = false;
	if (memchr(args, '\0', len) != NULL)
		return SMTP_PERR_NUL;
	while (i < len && is_digit(args[i]))
		i++;
	if (!parse_u64(args, i, size_r))
		return SMTP_PERR_BDAT_SYNTAX;
	if (i == len)
		return SMTP_PERR_OK;
	if (len - i == 5 && args[i] == ' ' && mm_strncaseeq(args + i + 1, "LAST", 4)) {
		*last_r = true;
		return SMTP_PERR_OK;
	}
	return SMTP_PERR_BDAT_SYNTAX;
}

enum smtp_perr
smtp_parse_auth(const char *args, size_t len, char mech_r[SMTP_AUTH_MECH_MAX_BYTES + 1],
    const char **ir_r, size_t *irlen_r)
{
	size_t i = 0;

	mech_r[0] = '\0';
	*ir_r = NULL;
	*irlen_r = 0;
	if (memchr(args, '\0', len) != NULL)
		return SMTP_PERR_NUL;
	/* sasl-mech = 1*20mech-char; mech-char = UPPER-ALPHA / DIGIT / HYPHEN / UNDERSCORE */
	while (i < len && args[i] != ' ') {
		char c = upper(args[i]);
		if (i == SMTP_AUTH_MECH_MAX_BYTES ||
		    !((c >= 'A' && c <= 'Z') || is_digit(c) || c == '-' || c == '_'))
			return SMTP_PERR_AUTH_SYNTAX;
		mech_r[i++] = c;
	}
	mech_r[i] = '\0';
	if (i == 0)
		return SMTP_PERR_AUTH_SYNTAX;
	if (i == len)
		return SMTP_PERR_OK;
	i++;
	if (i == len)
		return SMTP_PERR_AUTH_SYNTAX;
	for (size_t k = i; k < len; k++) {
		char c = args[k];
		if (!(is_alpha(c) || is_digit(c) || c == '+' || c == '/' || c == '='))
			return SMTP_PERR_AUTH_SYNTAX;
	}
	*ir_r = args + i;
	*irlen_r = len - i;
	return SMTP_PERR_OK;
}

enum smtp_perr
smtp_parse_helo(const char *args, size_t len, char name_r[SMTP_DOMAIN_MAX_BYTES + 1])
{
	size_t n = 0;

	name_r[0] = '\0';
	if (memchr(args, '\0', len) != NULL)
		return SMTP_PERR_NUL;
	while (n < len && args[n] != ' ')
		n++;
	if (n == 0)
		return SMTP_PERR_HELO_SYNTAX;
	if (n > SMTP_DOMAIN_MAX_BYTES)
		return SMTP_PERR_HELO_DOMAIN;
	if (args[0] == '[' ? !literal_valid(args, n) : !domain_check(args, n, false, true))
		return SMTP_PERR_HELO_DOMAIN;
	memcpy(name_r, args, n);
	name_r[n] = '\0';
	return SMTP_PERR_OK;
}

enum smtp_perr
smtp_parse_command(const char *line, size_t len, struct smtp_cmdline *cmd_r)
{
	size_t vlen = 0, i;

	cmd_r->verb = SMTP_CMD_UNKNOWN;
	cmd_r->verb_str = "";
	cmd_r->args = "";
	cmd_r->argslen = 0;
	if (memchr(line, '\0', len) != NULL)
		return SMTP_PERR_NUL;
	while (vlen < len && line[vlen] != ' ')
		vlen++;
	for (i = 0; i < sizeof(verb_table) / sizeof(verb_table[0]); i++) {
		if (strlen(verb_table[i].name) == vlen &&
		    mm_strncaseeq(line, verb_table[i].name, vlen))
			break;
	}
	if (i == sizeof(verb_table) / sizeof(verb_table[0]))
		return SMTP_PERR_UNKNOWN_CMD;
	cmd_r->verb = verb_table[i].verb;
	cmd_r->verb_str = verb_table[i].name;
	if (vlen < len) {
		cmd_r->args = line + vlen + 1;
		cmd_r->argslen = len - vlen - 1;
	}
	if (verb_table[i].no_args) {
		for (size_t k = 0; k < cmd_r->argslen; k++)
			if (cmd_r->args[k] != ' ')
				return SMTP_PERR_NO_ARGS;
		cmd_r->argslen = 0;
	}
	return SMTP_PERR_OK;
}
