/* ctl-imap.c: minimailctl import-imap ADDRESS --host HOST[:PORT] --user
 * USER --password-file FILE [--starttls|--tls] [--cafile FILE]
 * [--mailbox NAME...]: pull every folder (or the named ones) from another
 * IMAP server, with flags, keywords and internal dates.
 *
 * The one idea: a small blocking IMAP client (OpenSSL over a socket; TLS
 * always, certificates verified) that never holds more than one message:
 * per folder one UID FETCH of the metadata (UID, FLAGS, INTERNALDATE,
 * RFC822.SIZE), then one UID FETCH BODY.PEEK[] per message, streamed into
 * a buffer bounded by max_message_size and stored by ctl-import.c in its
 * own transaction, skipped when its content is already there. A server
 * that drops the connection ends the run with one line and exit 1; what
 * was stored stays, and the next run goes on from there. */
#include "ctl/ctl.h"
#include "ctl/ctl-import.h"
#include "imap/imap-parser.h"
#include "lib/util.h"
#include "mail/date.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define IMAPC_LINE_MAX_BYTES   (64 * 1024)
#define IMAPC_TIMEOUT_SECS     120
#define IMAPC_FOLDERS_MAX      STORE_MAILBOXES_MAX
#define IMAPC_MESSAGES_MAX     10000000
#define IMAPC_PASSWORD_MAX     1024

struct imapc {
	const char *host;
	int fd;
	SSL *ssl;
	char buf[16384];
	size_t off, len;
	unsigned tag;
};

static void __attribute__((noreturn))
lost(struct imapc *c, const char *what)
{
	ctl_die("%s: connection lost %s", c->host, what);
}

static size_t
c_read(struct imapc *c, void *p, size_t n)
{
	int r = SSL_read(c->ssl, p, (int)(n > INT32_MAX ? INT32_MAX : n));
	if (r <= 0)
		lost(c, "while reading");
	return (size_t)r;
}

static void
c_write(struct imapc *c, const char *p, size_t n)
{
	while (n > 0) {
		int r = SSL_write(c->ssl, p, (int)n);
		if (r <= 0)
			lost(c, "while writing");
		p += r;
		n -= (size_t)r;
	}
}

static int
c_getc(struct imapc *c)
{
	if (c->off == c->len) {
		c->len = c_read(c, c->buf, sizeof(c->buf));
		c->off = 0;
	}
	return (unsigned char)c->buf[c->off++];
}

/* One line without CRLF into line (bounded). */
static void
c_line(struct imapc *c, struct mm_buf *line)
{
	line->len = 0;
	for (;;) {
		int ch = c_getc(c);
		if (ch == '\n')
			break;
		if (line->len >= IMAPC_LINE_MAX_BYTES)
			ctl_die("%s: a response line longer than %d bytes", c->host,
			    IMAPC_LINE_MAX_BYTES);
		mm_buf_appendc(line, (char)ch);
	}
	if (line->len > 0 && line->data[line->len - 1] == '\r')
		line->len--;
	mm_buf_cstr(line);
}

/* A literal of n bytes appended to out (n checked by the caller). */
static void
c_literal(struct imapc *c, size_t n, struct mm_buf *out)
{
	mm_buf_reserve(out, n);
	while (n > 0) {
		if (c->off == c->len) {
			c->len = c_read(c, c->buf, sizeof(c->buf));
			c->off = 0;
		}
		size_t take = c->len - c->off < n ? c->len - c->off : n;
		mm_buf_append(out, c->buf + c->off, take);
		c->off += take;
		n -= take;
	}
}

/* Does the line end with a literal "{n}"? Its size into *n_r. */
static bool
ends_with_literal(const struct mm_buf *l, uint64_t *n_r)
{
	if (l->len < 3 || l->data[l->len - 1] != '}')
		return false;
	size_t i = l->len - 1;
	while (i > 0 && l->data[i - 1] >= '0' && l->data[i - 1] <= '9')
		i--;
	if (i == 0 || l->data[i - 1] != '{' || i == l->len - 1)
		return false;
	*n_r = strtoull(l->data + i, NULL, 10);
	return true;
}

typedef void untagged_fn(void *arg, const char *line, const struct mm_buf *lit);

/* Sends "TAG cmd" and reads up to the tagged reply; every untagged line
 * (with at most one literal, bounded by maxlit) goes to fn. True on OK. */
static bool
c_cmd(struct imapc *c, const char *cmd, uint64_t maxlit, untagged_fn *fn, void *arg,
    char *reply, size_t replylen)
{
	char tag[16];
	struct mm_buf line, lit, rest;
	snprintf(tag, sizeof(tag), "m%u", ++c->tag);
	char *full = xasprintf("%s %s\r\n", tag, cmd);
	c_write(c, full, strlen(full));
	free(full);
	mm_buf_init(&line);
	mm_buf_init(&lit);
	mm_buf_init(&rest);
	bool ok = false;
	for (;;) {
		uint64_t n;
		c_line(c, &line);
		size_t tl = strlen(tag);
		if (line.len > tl && strncmp(line.data, tag, tl) == 0 && line.data[tl] == ' ') {
			ok = strncmp(line.data + tl + 1, "OK", 2) == 0;
			snprintf(reply, replylen, "%s", line.data + tl + 1);
			break;
		}
		lit.len = 0;
		if (ends_with_literal(&line, &n)) {
			if (n > maxlit)
				ctl_die("%s: a literal of %llu bytes, larger than max_message_size",
				    c->host, (unsigned long long)n);
			c_literal(c, (size_t)n, &lit);
			/* the rest of the line after the literal */
			c_line(c, &rest);
			mm_buf_append(&line, " ", 1);
			mm_buf_append(&line, rest.data, rest.len);
			mm_buf_cstr(&line);
			if (ends_with_literal(&rest, &n))
				ctl_die("%s: a response with more than one literal", c->host);
		}
		if (fn != NULL && line.len > 0 && line.data[0] == '*')
			fn(arg, line.data, &lit);
	}
	mm_buf_free(&line);
	mm_buf_free(&lit);
	mm_buf_free(&rest);
	return ok;
}

/* "quoted" for the wire; false when s cannot be sent quoted. */
static bool
quote(const char *s, struct mm_buf *out)
{
	mm_buf_appendc(out, '"');
	for (const char *p = s; *p != '\0'; p++) {
		if (*p == '\r' || *p == '\n')
			return false;
		if (*p == '"' || *p == '\\')
			mm_buf_appendc(out, '\\');
		mm_buf_appendc(out, *p);
	}
	mm_buf_appendc(out, '"');
	mm_buf_cstr(out);
	return true;
}

/* ---- parsing bits of responses ---- */

/* An astring at *p (atom, "quoted"); returns false if none. */
static bool
astring(const char **p, struct mm_buf *out)
{
	const char *s = *p;
	out->len = 0;
	while (*s == ' ')
		s++;
	if (*s == '"') {
		s++;
		while (*s != '\0' && *s != '"') {
			if (*s == '\\' && s[1] != '\0')
				s++;
			mm_buf_appendc(out, *s++);
		}
		if (*s != '"')
			return false;
		s++;
	} else {
		const char *st = s;
		while (*s != '\0' && *s != ' ' && *s != ')')
			s++;
		if (s == st)
			return false;
		mm_buf_append(out, st, (size_t)(s - st));
	}
	mm_buf_cstr(out);
	*p = s;
	return true;
}

struct folder {
	char *wire;                /* the name as the server spells it */
	char *name;                /* ours (UTF-8, '/') */
};

struct list_arg {
	struct folder *f;
	size_t n, cap;
	const char *host;
};

static void
list_cb(void *arg, const char *line, const struct mm_buf *lit)
{
	struct list_arg *a = arg;
	const char *p = line;
	if (strncmp(p, "* LIST (", 8) != 0)
		return;
	const char *close = strchr(p + 8, ')');
	if (close == NULL)
		return;
	bool noselect = false;
	for (const char *q = p + 8; q < close; q++)
		if (strncasecmp(q, "\\Noselect", 9) == 0 || strncasecmp(q, "\\NonExistent", 12) == 0)
			noselect = true;
	p = close + 1;
	struct mm_buf sep, name;
	mm_buf_init(&sep);
	mm_buf_init(&name);
	char sepc = '/';
	if (astring(&p, &sep) && sep.len == 1)
		sepc = sep.data[0];
	if (lit->len > 0) {
		mm_buf_append(&name, lit->data, lit->len);
		mm_buf_cstr(&name);
	} else if (!astring(&p, &name)) {
		goto out;
	}
	if (noselect || name.len == 0)
		goto out;
	if (a->n == IMAPC_FOLDERS_MAX)
		ctl_die("%s: more than %d folders", a->host, IMAPC_FOLDERS_MAX);
	struct mm_buf u;
	mm_buf_init(&u);
	if (!imap_mutf7_to_utf8(name.data, name.len, &u)) {
		u.len = 0;
		mm_buf_append(&u, name.data, name.len);
	}
	char *us = mm_buf_cstr(&u);
	for (char *q = us; *q != '\0'; q++)
		if (*q == sepc)
			*q = '/';
	if (mm_strcaseeq(us, "INBOX"))
		strcpy(us, "INBOX");
	if (a->n == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 16;
		a->f = xrealloc(a->f, a->cap * sizeof(*a->f));
	}
	a->f[a->n].wire = xstrdup(name.data);
	a->f[a->n++].name = xstrdup(us);
	mm_buf_free(&u);
out:
	mm_buf_free(&sep);
	mm_buf_free(&name);
}

struct rmsg {
	uint32_t uid;
	uint32_t flags;
	time_t date;
	uint64_t size;
	char *keywords;            /* space-separated, or NULL */
};

struct fetch_arg {
	struct rmsg *m;
	size_t n, cap;
	const char *host;
	struct mm_buf *body;       /* the BODY[] fetch: the literal */
	bool got_body;
};

static void
parse_flags(const char *p, uint32_t *flags, char **keywords)
{
	const char *f = strstr(p, "FLAGS (");
	struct mm_buf kw;
	*flags = 0;
	*keywords = NULL;
	if (f == NULL)
		return;
	f += 7;
	const char *end = strchr(f, ')');
	if (end == NULL)
		return;
	mm_buf_init(&kw);
	while (f < end) {
		while (f < end && *f == ' ')
			f++;
		const char *st = f;
		while (f < end && *f != ' ')
			f++;
		size_t n = (size_t)(f - st);
		if (n == 0)
			break;
		if (n == 5 && strncasecmp(st, "\\Seen", 5) == 0) *flags |= MSG_SEEN;
		else if (n == 9 && strncasecmp(st, "\\Answered", 9) == 0) *flags |= MSG_ANSWERED;
		else if (n == 8 && strncasecmp(st, "\\Flagged", 8) == 0) *flags |= MSG_FLAGGED;
		else if (n == 8 && strncasecmp(st, "\\Deleted", 8) == 0) *flags |= MSG_DELETED;
		else if (n == 6 && strncasecmp(st, "\\Draft", 6) == 0) *flags |= MSG_DRAFT;
		else if (st[0] != '\\' && n <= STORE_KEYWORD_MAX_BYTES) {
			if (kw.len > 0)
				mm_buf_appendc(&kw, ' ');
			mm_buf_append(&kw, st, n);
		}
	}
	if (kw.len > 0)
		*keywords = xstrdup(mm_buf_cstr(&kw));
	mm_buf_free(&kw);
}

static void
fetch_meta_cb(void *arg, const char *line, const struct mm_buf *lit)
{
	struct fetch_arg *a = arg;
	(void)lit;
	if (strstr(line, " FETCH (") == NULL)
		return;
	const char *u = strstr(line, "UID ");
	const char *d = strstr(line, "INTERNALDATE \"");
	const char *z = strstr(line, "RFC822.SIZE ");
	if (u == NULL)
		return;
	if (a->n == IMAPC_MESSAGES_MAX)
		ctl_die("%s: more than %d messages in a folder", a->host, IMAPC_MESSAGES_MAX);
	if (a->n == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 256;
		a->m = xrealloc(a->m, a->cap * sizeof(*a->m));
	}
	struct rmsg *m = &a->m[a->n++];
	memset(m, 0, sizeof(*m));
	m->uid = (uint32_t)strtoul(u + 4, NULL, 10);
	if (z != NULL)
		m->size = strtoull(z + 12, NULL, 10);
	if (d != NULL) {
		const char *e = strchr(d + 14, '"');
		int tz;
		if (e == NULL || !mail_date_parse_imap_datetime(d + 14, (size_t)(e - d - 14),
		    &m->date, &tz))
			m->date = 0;
	}
	parse_flags(line, &m->flags, &m->keywords);
}

static void
fetch_body_cb(void *arg, const char *line, const struct mm_buf *lit)
{
	struct fetch_arg *a = arg;
	if (strstr(line, " FETCH (") == NULL || strstr(line, "BODY[]") == NULL)
		return;
	a->body->len = 0;
	mm_buf_append(a->body, lit->data, lit->len);
	a->got_body = true;
}

/* ---- connection ---- */

static void
c_connect(struct imapc *c, const char *host, const char *port, bool starttls,
    const char *cafile)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	int r = getaddrinfo(host, port, &hints, &res);
	if (r != 0)
		ctl_die("%s: %s", host, gai_strerror(r));
	c->fd = -1;
	for (ai = res; ai != NULL && c->fd < 0; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0)
			continue;
		struct timeval tv = { IMAPC_TIMEOUT_SECS, 0 };
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			c->fd = fd;
		else
			close(fd);
	}
	freeaddrinfo(res);
	if (c->fd < 0)
		ctl_die("%s port %s: cannot connect: %s", host, port, strerror(errno));
	if (starttls) {
		/* plain greeting, then STARTTLS, before anything else */
		char line[1024];
		size_t n = 0;
		char ch;
		while (n + 1 < sizeof(line) && read(c->fd, &ch, 1) == 1 && ch != '\n')
			line[n++] = ch;
		line[n] = '\0';
		if (strncmp(line, "* OK", 4) != 0)
			ctl_die("%s: unexpected greeting", host);
		const char *st = "s0 STARTTLS\r\n";
		if (write(c->fd, st, strlen(st)) != (ssize_t)strlen(st))
			ctl_die("%s: %s", host, strerror(errno));
		n = 0;
		while (n + 1 < sizeof(line) && read(c->fd, &ch, 1) == 1 && ch != '\n')
			line[n++] = ch;
		line[n] = '\0';
		if (strncmp(line, "s0 OK", 5) != 0)
			ctl_die("%s: STARTTLS refused", host);
	}
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL)
		ctl_die("SSL_CTX_new failed");
	(void)SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (cafile != NULL ? SSL_CTX_load_verify_locations(ctx, cafile, NULL) != 1 :
	    SSL_CTX_set_default_verify_paths(ctx) != 1)
		ctl_die("%s: cannot load CA certificates", cafile ? cafile : "system");
	c->ssl = SSL_new(ctx);
	SSL_CTX_free(ctx);
	SSL_set_fd(c->ssl, c->fd);
	SSL_set_tlsext_host_name(c->ssl, host);
	(void)SSL_set1_host(c->ssl, host);
	if (SSL_connect(c->ssl) != 1) {
		unsigned long e = ERR_get_error();
		long v = SSL_get_verify_result(c->ssl);
		ctl_die("%s: TLS failed: %s", host, v != X509_V_OK ?
		    X509_verify_cert_error_string(v) : ERR_error_string(e, NULL));
	}
}

int
ctl_import_imap(struct config *cfg, int argc, char **argv)
{
	const char *user = NULL, *hostport = NULL, *ruser = NULL, *pwfile = NULL,
	    *cafile = NULL;
	bool starttls = false;
	struct mm_strlist only;
	const char *usage = "usage: minimailctl import-imap ADDRESS --host HOST[:PORT] "
	    "--user USER --password-file FILE [--starttls|--tls] [--cafile FILE] "
	    "[--mailbox NAME...]";

	mm_strlist_init(&only);
	for (int i = 1; i < argc; i++) {
		bool more = i + 1 < argc;
		if (strcmp(argv[i], "--host") == 0 && more)
			hostport = argv[++i];
		else if (strcmp(argv[i], "--user") == 0 && more)
			ruser = argv[++i];
		else if (strcmp(argv[i], "--password-file") == 0 && more)
			pwfile = argv[++i];
		else if (strcmp(argv[i], "--cafile") == 0 && more)
			cafile = argv[++i];
		else if (strcmp(argv[i], "--starttls") == 0)
			starttls = true;
		else if (strcmp(argv[i], "--tls") == 0)
			starttls = false;
		else if (strcmp(argv[i], "--mailbox") == 0 && more)
			mm_strlist_add(&only, argv[++i]);
		else if (argv[i][0] == '-' || user != NULL)
			ctl_die("%s", usage);
		else
			user = argv[i];
	}
	if (user == NULL || hostport == NULL || ruser == NULL || pwfile == NULL)
		ctl_die("%s", usage);
	if (!store_address_valid(user))
		ctl_die("invalid address '%s'", user);
	char host[256], port[16];
	const char *colon = strrchr(hostport, ':');
	if (colon != NULL && strchr(colon, ']') == NULL) {
		snprintf(host, sizeof(host), "%.*s", (int)(colon - hostport), hostport);
		snprintf(port, sizeof(port), "%s", colon + 1);
	} else {
		snprintf(host, sizeof(host), "%s", hostport);
		snprintf(port, sizeof(port), "%s", starttls ? "143" : "993");
	}
	/* the password: the file's first line */
	char pw[IMAPC_PASSWORD_MAX + 2];
	FILE *pf = fopen(pwfile, "r");
	if (pf == NULL)
		ctl_die("%s: %s", pwfile, strerror(errno));
	if (fgets(pw, sizeof(pw), pf) == NULL)
		pw[0] = '\0';
	fclose(pf);
	pw[strcspn(pw, "\r\n")] = '\0';
	if (pw[0] == '\0')
		ctl_die("%s: no password in it", pwfile);

	struct imapc c = { .host = host };
	char reply[1024];
	struct mm_buf cmd, line;
	mm_buf_init(&cmd);
	mm_buf_init(&line);
	c_connect(&c, host, port, starttls, cafile);
	bool preauth = false;
	if (!starttls) {
		c_line(&c, &line);
		if (strncmp(line.data, "* PREAUTH", 9) == 0)
			preauth = true;
		else if (strncmp(line.data, "* OK", 4) != 0)
			ctl_die("%s: unexpected greeting", host);
	}
	if (!preauth) {
		mm_buf_append(&cmd, "LOGIN ", 6);
		if (!quote(ruser, &cmd) || (mm_buf_appendc(&cmd, ' '), !quote(pw, &cmd)))
			ctl_die("the user name or password holds a line break");
		bool ok = c_cmd(&c, mm_buf_cstr(&cmd), 0, NULL, NULL, reply, sizeof(reply));
		explicit_bzero(cmd.data, cmd.len);
		if (!ok)
			ctl_die("%s: login as %s refused: %s", host, ruser, reply);
	}
	explicit_bzero(pw, sizeof(pw));

	struct list_arg la = { .host = host };
	if (!c_cmd(&c, "LIST \"\" \"*\"", 1024, list_cb, &la, reply, sizeof(reply)))
		ctl_die("%s: LIST failed: %s", host, reply);

	struct imp im = { .user = user, .max_size = cfg->max_message_size };
	uint64_t start = mm_now_ms();
	im.st = ctl_open_store(cfg, false);
	struct store_user u;
	int r = store_user_get(im.st, user, &u);
	if (r != STORE_OK)
		ctl_die(r == STORE_NOTFOUND ? "no such user: %s" : "cannot read user %s", user);
	im.user = u.address;
	for (size_t i = 0; i < only.n; i++) {
		bool found = false;
		for (size_t j = 0; j < la.n; j++)
			found |= strcmp(la.f[j].name, only.v[i]) == 0;
		if (!found)
			ctl_die("%s: no folder %s", host, only.v[i]);
	}
	struct mm_buf body;
	mm_buf_init(&body);
	for (size_t fi = 0; fi < la.n; fi++) {
		if (only.n > 0 && !mm_strlist_contains(&only, la.f[fi].name))
			continue;
		cmd.len = 0;
		mm_buf_append(&cmd, "EXAMINE ", 8);
		if (!quote(la.f[fi].wire, &cmd))
			continue;
		if (!c_cmd(&c, mm_buf_cstr(&cmd), 0, NULL, NULL, reply, sizeof(reply)))
			ctl_die("%s: EXAMINE %s failed: %s", host, la.f[fi].name, reply);
		struct fetch_arg fa = { .host = host, .body = &body };
		if (!c_cmd(&c, "UID FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE)", 0,
		    fetch_meta_cb, &fa, reply, sizeof(reply)))
			ctl_die("%s: FETCH in %s failed: %s", host, la.f[fi].name, reply);
		ctl_import_target(&im, la.f[fi].name);
		for (size_t k = 0; k < fa.n; k++) {
			struct rmsg *m = &fa.m[k];
			char fc[64], what[STORE_MBOX_NAME_MAX + 64];
			if (m->size > im.max_size)
				ctl_die("%s: %s UID %u: %llu bytes, larger than max_message_size",
				    host, la.f[fi].name, m->uid, (unsigned long long)m->size);
			snprintf(fc, sizeof(fc), "UID FETCH %u (BODY.PEEK[])", m->uid);
			fa.got_body = false;
			if (!c_cmd(&c, fc, im.max_size, fetch_body_cb, &fa, reply, sizeof(reply)))
				ctl_die("%s: FETCH of %s UID %u failed: %s", host,
				    la.f[fi].name, m->uid, reply);
			if (!fa.got_body)
				continue;   /* expunged meanwhile */
			const char *kw[STORE_KEYWORDS_MAX];
			size_t nkw = 0;
			for (char *t = m->keywords ? strtok(m->keywords, " ") : NULL;
			    t != NULL && nkw < STORE_KEYWORDS_MAX; t = strtok(NULL, " "))
				kw[nkw++] = t;
			snprintf(what, sizeof(what), "%s: %s UID %u", host, la.f[fi].name, m->uid);
			ctl_import_message(&im, what, body.data, body.len,
			    m->date ? m->date : time(NULL), m->flags, kw, nkw);
			ctl_progress(NULL, "importing", k + 1, fa.n);
		}
		for (size_t k = 0; k < fa.n; k++)
			free(fa.m[k].keywords);
		free(fa.m);
	}
	ctl_import_target_close(&im);
	(void)c_cmd(&c, "LOGOUT", 0, NULL, NULL, reply, sizeof(reply));
	SSL_shutdown(c.ssl);
	SSL_free(c.ssl);
	close(c.fd);
	ctl_progress_end();
	ctl_close_store();
	double secs = (mm_now_ms() - start) / 1000.0;
	char b[32];
	ctl_fmt_bytes(im.bytes_imported, b, sizeof(b));
	printf("import-imap: %llu messages imported (%s), %llu already there, %zu mailboxes, "
	    "in %.1f s\n", (unsigned long long)im.imported, b,
	    (unsigned long long)im.skipped, im.mailboxes, secs);
	for (size_t i = 0; i < la.n; i++) {
		free(la.f[i].wire);
		free(la.f[i].name);
	}
	free(la.f);
	mm_buf_free(&body);
	mm_buf_free(&cmd);
	mm_buf_free(&line);
	mm_strlist_clear(&only);
	ctl_flush();
	return 0;
}
