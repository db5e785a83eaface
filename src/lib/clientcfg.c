/* clientcfg.c: mail client settings generated from the config — the
 * Thunderbird autoconfig file, the Outlook autodiscover answer (and the
 * reading of its request), and the table of "minimailctl client-settings".
 *
 * The one idea: every output is built from one list, clientcfg_servers(),
 * the secure listeners that are on. To offer a new choice (or stop
 * offering one), change that list; the three formats follow. The request
 * reader is a small bounded scanner over the few shapes an autodiscover
 * request takes, not an XML library. */
#include "lib/clientcfg.h"
#include "lib/limits.h"
#include "lib/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AUTODISCOVER_RESPONSE_NS \
	"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
#define OUTLOOK_RESPONSE_NS \
	"http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"

#define LOCAL_PART_MAX_BYTES 64         /* RFC 5321 4.5.3.1.1 */
#define DOMAIN_MAX_BYTES     255        /* RFC 5321 4.5.3.1.2 */
#define LABEL_MAX_BYTES      63         /* RFC 1035 2.3.4 */
#define ENTITY_MAX_BYTES     10         /* "&#x0000FF;" */

/* The offered choices, in preference order (RFC 8314 3: implicit TLS
 * first). Plain 143 and 110 are never offered, nor is port 25. */
static const struct {
	enum listener_id lsn;
	enum clientcfg_proto proto;
	enum clientcfg_security security;
} offers[] = {
	{ LSN_IMAPS, CLIENTCFG_IMAP, CLIENTCFG_SSL },
	{ LSN_POP3S, CLIENTCFG_POP3, CLIENTCFG_SSL },
	{ LSN_SUBMISSIONS, CLIENTCFG_SMTP, CLIENTCFG_SSL },
	{ LSN_SUBMISSION, CLIENTCFG_SMTP, CLIENTCFG_STARTTLS },
};

static const char *const proto_names[] = { "IMAP", "POP3", "SMTP" };

size_t
clientcfg_servers(const struct config *cfg,
    struct clientcfg_server out[CLIENTCFG_SERVERS_MAX])
{
	size_t n = 0;
	for (size_t i = 0; i < sizeof(offers) / sizeof(offers[0]); i++) {
		const struct config_listen *l = &cfg->listen[offers[i].lsn];
		if (l->naddrs == 0)
			continue;
		out[n].proto = offers[i].proto;
		out[n].security = offers[i].security;
		out[n].lsn = offers[i].lsn;
		out[n].port = l->addrs[0].port;
		n++;
	}
	return n;
}

/* ---- addresses ---- */

static bool
is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

/* RFC 1035 host name: labels of letters, digits and inner hyphens. */
static bool
valid_domain(const char *s, size_t n)
{
	size_t label = 0;

	if (n == 0 || n > DOMAIN_MAX_BYTES)
		return false;
	for (size_t i = 0; i <= n; i++) {
		unsigned char c = i < n ? (unsigned char)s[i] : '.';
		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return false;
			label = 0;
		} else if (is_alnum(c) || c == '-') {
			if ((label == 0 && c == '-') || ++label > LABEL_MAX_BYTES)
				return false;
		} else {
			return false;
		}
	}
	return true;
}

/* A dot-atom-ish local part: no space, control, DEL or specials of
 * RFC 5322 3.2.3 (quoted local parts are not offered autoconfiguration);
 * UTF-8 bytes (RFC 6531) pass. */
static bool
valid_local(const char *s, size_t n)
{
	if (n == 0 || n > LOCAL_PART_MAX_BYTES)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= 0x20 || c == 0x7f || strchr("\"(),:;<>@[\\]", c) != NULL)
			return false;
	}
	return true;
}

bool
clientcfg_address(const char *addr, size_t len, char *addr_r, char *domain_r)
{
	const char *at;

	if (len == 0 || len > ADDRESS_MAX_BYTES || memchr(addr, '\0', len))
		return false;
	at = memchr(addr, '@', len);
	if (at == NULL)
		return false;
	size_t llen = (size_t)(at - addr), dlen = len - llen - 1;
	if (!valid_local(addr, llen) || !valid_domain(at + 1, dlen))
		return false;
	if (addr_r != NULL) {
		memcpy(addr_r, addr, len);
		addr_r[len] = '\0';
		mm_strlower(addr_r);
	}
	if (domain_r != NULL) {
		memcpy(domain_r, at + 1, dlen);
		domain_r[dlen] = '\0';
		mm_strlower(domain_r);
	}
	return true;
}

/* ---- XML out ---- */

void
clientcfg_xml_escape(struct mm_buf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		switch (c) {
		case '&': mm_buf_append(b, "&amp;", 5); break;
		case '<': mm_buf_append(b, "&lt;", 4); break;
		case '>': mm_buf_append(b, "&gt;", 4); break;
		case '"': mm_buf_append(b, "&quot;", 6); break;
		case '\'': mm_buf_append(b, "&apos;", 6); break;
		default:
			if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') ||
			    c == 0x7f)
				mm_buf_appendc(b, '?');
			else
				mm_buf_appendc(b, (char)c);
			break;
		}
	}
}

/* indent, <tag>escaped value</tag>, newline */
static void
xml_elem(struct mm_buf *b, int indent, const char *tag, const char *value)
{
	mm_buf_printf(b, "%*s<%s>", indent, "", tag);
	clientcfg_xml_escape(b, value);
	mm_buf_printf(b, "</%s>\n", tag);
}

static void
xml_elem_port(struct mm_buf *b, int indent, const char *tag, uint16_t port)
{
	mm_buf_printf(b, "%*s<%s>%u</%s>\n", indent, "", tag, port, tag);
}

/* ManageSieve (RFC 5804), when its listener is on. Thunderbird's
 * autoconfig format (clientConfig 1.1) has no element of its own for it,
 * and the Sieve add-on for Thunderbird (thsmi/sieve) does not read
 * autoconfig at all: it takes the IMAP host and probes port 4190. What
 * does name it is the IETF mailmaint autoconfig draft
 * (draft-ietf-mailmaint-autoconfig, "type" registry: managesieve, a TCP
 * protocol with hostname, port, socketType, authentication, username), so
 * that is the form given: <incomingServer type="managesieve">. Clients
 * that do not know the type skip that one server section (the draft's
 * must-ignore rule; Thunderbird's readFromXML() drops an incomingServer of
 * an unknown type and keeps the others), which is why it comes after the
 * IMAP and POP3 ones. Outlook's autodiscover (POX and JSON) and Apple's
 * profile get nothing: their schemas have no such protocol and no client
 * reading them speaks ManageSieve. */
static void
autoconfig_managesieve(struct mm_buf *b, const struct config *cfg)
{
	const struct config_listen *ms = &cfg->listen[LSN_MANAGESIEVE];
	if (ms->naddrs == 0)
		return;
	mm_buf_printf(b, "    <incomingServer type=\"managesieve\">\n");
	xml_elem(b, 6, "hostname", cfg->hostname);
	xml_elem_port(b, 6, "port", ms->addrs[0].port);
	xml_elem(b, 6, "socketType", "STARTTLS");
	xml_elem(b, 6, "username", "%EMAILADDRESS%");
	xml_elem(b, 6, "authentication", "password-cleartext");
	mm_buf_printf(b, "    </incomingServer>\n");
}

char *
clientcfg_autoconfig(const struct config *cfg, const char *domain)
{
	struct clientcfg_server sv[CLIENTCFG_SERVERS_MAX];
	struct mm_buf b;

	if (!config_is_local_domain(cfg, domain))
		return NULL;
	char *d = mm_strlower(xstrdup(domain));
	size_t n = clientcfg_servers(cfg, sv);

	mm_buf_init(&b);
	mm_buf_printf(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<clientConfig version=\"1.1\">\n"
	    "  <emailProvider id=\"");
	clientcfg_xml_escape(&b, d);
	mm_buf_printf(&b, "\">\n");
	xml_elem(&b, 4, "domain", d);
	xml_elem(&b, 4, "displayName", d);
	xml_elem(&b, 4, "displayShortName", d);
	bool sieve_done = false;
	for (size_t i = 0; i <= n; i++) {
		if (!sieve_done && (i == n || sv[i].proto == CLIENTCFG_SMTP)) {
			/* after the mail servers, with the incoming ones */
			autoconfig_managesieve(&b, cfg);
			sieve_done = true;
		}
		if (i == n)
			break;
		bool smtp = sv[i].proto == CLIENTCFG_SMTP;
		const char *elem = smtp ? "outgoingServer" : "incomingServer";
		mm_buf_printf(&b, "    <%s type=\"%s\">\n", elem,
		    sv[i].proto == CLIENTCFG_IMAP ? "imap" :
		    sv[i].proto == CLIENTCFG_POP3 ? "pop3" : "smtp");
		xml_elem(&b, 6, "hostname", cfg->hostname);
		xml_elem_port(&b, 6, "port", sv[i].port);
		xml_elem(&b, 6, "socketType",
		    sv[i].security == CLIENTCFG_SSL ? "SSL" : "STARTTLS");
		xml_elem(&b, 6, "username", "%EMAILADDRESS%");
		xml_elem(&b, 6, "authentication", "password-cleartext");
		mm_buf_printf(&b, "    </%s>\n", elem);
	}
	mm_buf_printf(&b, "  </emailProvider>\n</clientConfig>\n");
	free(d);
	return mm_buf_cstr(&b);
}

char *
clientcfg_autodiscover(const struct config *cfg, const char *addr)
{
	struct clientcfg_server sv[CLIENTCFG_SERVERS_MAX];
	char canon[ADDRESS_MAX_BYTES + 1], domain[ADDRESS_MAX_BYTES + 1];
	struct mm_buf b;

	if (!clientcfg_address(addr, strlen(addr), canon, domain) ||
	    !config_is_local_domain(cfg, domain))
		return NULL;
	size_t n = clientcfg_servers(cfg, sv);

	mm_buf_init(&b);
	mm_buf_printf(&b, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
	    "<Autodiscover xmlns=\"" AUTODISCOVER_RESPONSE_NS "\">\n"
	    "  <Response xmlns=\"" OUTLOOK_RESPONSE_NS "\">\n"
	    "    <Account>\n"
	    "      <AccountType>email</AccountType>\n"
	    "      <Action>settings</Action>\n");
	for (size_t i = 0; i < n; i++) {
		bool ssl = sv[i].security == CLIENTCFG_SSL;
		mm_buf_printf(&b, "      <Protocol>\n");
		xml_elem(&b, 8, "Type", proto_names[sv[i].proto]);
		xml_elem(&b, 8, "Server", cfg->hostname);
		xml_elem_port(&b, 8, "Port", sv[i].port);
		xml_elem(&b, 8, "DomainRequired", "off");
		xml_elem(&b, 8, "LoginName", canon);
		xml_elem(&b, 8, "SPA", "off");
		/* SSL: the connection is encrypted; Encryption (which
		 * overrides it) says how: SSL implicit, TLS by STARTTLS. */
		xml_elem(&b, 8, "SSL", "on");
		xml_elem(&b, 8, "Encryption", ssl ? "SSL" : "TLS");
		xml_elem(&b, 8, "AuthRequired", "on");
		mm_buf_printf(&b, "      </Protocol>\n");
	}
	mm_buf_printf(&b, "    </Account>\n  </Response>\n</Autodiscover>\n");
	return mm_buf_cstr(&b);
}

char *
clientcfg_autodiscover_error(int code, const char *message)
{
	struct mm_buf b;

	mm_buf_init(&b);
	mm_buf_printf(&b, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
	    "<Autodiscover xmlns=\"" AUTODISCOVER_RESPONSE_NS "\">\n"
	    "  <Response>\n"
	    "    <Error>\n"
	    "      <ErrorCode>%d</ErrorCode>\n", code);
	xml_elem(&b, 6, "Message", message);
	mm_buf_printf(&b, "      <DebugData />\n"
	    "    </Error>\n"
	    "  </Response>\n"
	    "</Autodiscover>\n");
	return mm_buf_cstr(&b);
}

/* ---- the table ---- */

char *
clientcfg_table(const struct config *cfg, const char *addr, char *err,
    size_t errlen)
{
	struct clientcfg_server sv[CLIENTCFG_SERVERS_MAX];
	char canon[ADDRESS_MAX_BYTES + 1], domain[ADDRESS_MAX_BYTES + 1];
	struct mm_buf b;

	if (!clientcfg_address(addr, strlen(addr), canon, domain)) {
		snprintf(err, errlen, "'%.*s' is not a mail address (expected "
		    "user@domain)", 80, addr);
		return NULL;
	}
	if (!config_is_local_domain(cfg, domain)) {
		snprintf(err, errlen, "%s is not one of the domains of %s",
		    domain, cfg->path);
		return NULL;
	}
	size_t n = clientcfg_servers(cfg, sv);
	int wsrv = (int)strlen(cfg->hostname), wuser = (int)strlen(canon);
	if (wsrv < 6)
		wsrv = 6;
	if (wuser < 8)
		wuser = 8;

	mm_buf_init(&b);
	mm_buf_printf(&b, "%-8s  %-*s  %-5s  %-8s  %-*s  %s\n", "Protocol",
	    wsrv, "Server", "Port", "Security", wuser, "Username",
	    "Authentication");
	for (int p = CLIENTCFG_IMAP; p <= CLIENTCFG_SMTP; p++) {
		bool any = false;
		for (size_t i = 0; i < n; i++) {
			if ((int)sv[i].proto != p)
				continue;
			any = true;
			mm_buf_printf(&b, "%-8s  %-*s  %-5u  %-8s  %-*s  %s\n",
			    proto_names[p], wsrv, cfg->hostname, sv[i].port,
			    sv[i].security == CLIENTCFG_SSL ? "SSL/TLS" : "STARTTLS",
			    wuser, canon, "normal password");
		}
		if (!any)
			mm_buf_printf(&b, "%-8s  not offered (%s)\n", proto_names[p],
			    p == CLIENTCFG_IMAP ? "imaps is off" :
			    p == CLIENTCFG_POP3 ? "pop3s is off" :
			    "submissions and submission are off");
	}
	/* ManageSieve (RFC 5804) when it is on: for filter managers (the
	 * autoconfig file names it too, autoconfig_managesieve()) */
	const struct config_listen *ms = &cfg->listen[LSN_MANAGESIEVE];
	if (ms->naddrs > 0)
		mm_buf_printf(&b, "%-8s  %-*s  %-5u  %-8s  %-*s  %s\n", "Sieve", wsrv,
		    cfg->hostname, ms->addrs[0].port, "STARTTLS", wuser, canon, "normal password");
	return mm_buf_cstr(&b);
}

/* ---- reading the autodiscover request ---- */

const char *
clientcfg_req_str(enum clientcfg_req r)
{
	switch (r) {
	case CLIENTCFG_REQ_OK: return "ok";
	case CLIENTCFG_REQ_TOO_LARGE: return "request too large";
	case CLIENTCFG_REQ_MALFORMED: return "malformed XML";
	case CLIENTCFG_REQ_NOT_AUTODISCOVER: return "not an Autodiscover request";
	case CLIENTCFG_REQ_NO_ADDRESS: return "no EMailAddress in the request";
	case CLIENTCFG_REQ_BAD_ADDRESS: return "EMailAddress is not a mail address";
	case CLIENTCFG_REQ_SCHEMA: return "unsupported AcceptableResponseSchema";
	}
	return "?";
}

struct scan {
	const char *s;
	size_t len, i;
	char stack[CLIENTCFG_XML_DEPTH_MAX][CLIENTCFG_XML_NAME_MAX_BYTES + 1];
	size_t depth;
	bool root_seen, root_done;
	int capture;                /* 0 none, 1 address, 2 schema */
	struct mm_buf addr, schema;
	bool have_addr, have_schema;
	bool addr_too_long;
};

static bool
is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool
starts(const struct scan *sc, const char *lit)
{
	size_t n = strlen(lit);
	return sc->len - sc->i >= n && memcmp(sc->s + sc->i, lit, n) == 0;
}

/* Moves past the next occurrence of end; false if there is none. */
static bool
skip_past(struct scan *sc, const char *end)
{
	size_t n = strlen(end);
	for (size_t j = sc->i; j + n <= sc->len; j++) {
		if (memcmp(sc->s + j, end, n) == 0) {
			sc->i = j + n;
			return true;
		}
	}
	return false;
}

/* An XML name into buf; false on an empty or too long one. */
static bool
scan_name(struct scan *sc, char *buf)
{
	size_t n = 0;
	while (sc->i < sc->len) {
		unsigned char c = (unsigned char)sc->s[sc->i];
		if (!(is_alnum(c) || c == '_' || c == ':' || c == '-' ||
		    c == '.' || c >= 0x80))
			break;
		if (n == CLIENTCFG_XML_NAME_MAX_BYTES)
			return false;
		buf[n++] = (char)c;
		sc->i++;
	}
	buf[n] = '\0';
	return n > 0 && !(buf[0] >= '0' && buf[0] <= '9') && buf[0] != '-' &&
	    buf[0] != '.';
}

/* The name without its namespace prefix. */
static const char *
local_name(const char *qname)
{
	const char *c = strrchr(qname, ':');
	return c ? c + 1 : qname;
}

static void
skip_ws(struct scan *sc)
{
	while (sc->i < sc->len && is_ws(sc->s[sc->i]))
		sc->i++;
}

/* Which text the element just opened holds for us: 1 for
 * Autodiscover/Request/EMailAddress, 2 for .../AcceptableResponseSchema. */
static int
capture_kind(const struct scan *sc)
{
	if (sc->depth != 3 || !mm_strcaseeq(local_name(sc->stack[1]), "Request"))
		return 0;
	const char *n = local_name(sc->stack[2]);
	if (mm_strcaseeq(n, "EMailAddress") && !sc->have_addr)
		return 1;
	if (mm_strcaseeq(n, "AcceptableResponseSchema") && !sc->have_schema)
		return 2;
	return 0;
}

/* "<name attr='v' ...>" or ".../>"; sc->i is just past '<'. */
static enum clientcfg_req
scan_start_tag(struct scan *sc)
{
	char name[CLIENTCFG_XML_NAME_MAX_BYTES + 1];
	char attr[CLIENTCFG_XML_NAME_MAX_BYTES + 1];
	bool empty = false;

	if (sc->root_done || !scan_name(sc, name))
		return CLIENTCFG_REQ_MALFORMED;
	for (;;) {
		size_t before = sc->i;
		skip_ws(sc);
		if (sc->i >= sc->len)
			return CLIENTCFG_REQ_MALFORMED;
		if (sc->s[sc->i] == '>') {
			sc->i++;
			break;
		}
		if (sc->s[sc->i] == '/') {
			if (sc->i + 1 >= sc->len || sc->s[sc->i + 1] != '>')
				return CLIENTCFG_REQ_MALFORMED;
			sc->i += 2;
			empty = true;
			break;
		}
		if (sc->i == before || !scan_name(sc, attr))
			return CLIENTCFG_REQ_MALFORMED;  /* attrs need space */
		skip_ws(sc);
		if (sc->i >= sc->len || sc->s[sc->i] != '=')
			return CLIENTCFG_REQ_MALFORMED;
		sc->i++;
		skip_ws(sc);
		if (sc->i >= sc->len || (sc->s[sc->i] != '"' && sc->s[sc->i] != '\''))
			return CLIENTCFG_REQ_MALFORMED;
		char q = sc->s[sc->i++];
		while (sc->i < sc->len && sc->s[sc->i] != q) {
			if (sc->s[sc->i] == '<')
				return CLIENTCFG_REQ_MALFORMED;
			sc->i++;
		}
		if (sc->i >= sc->len)
			return CLIENTCFG_REQ_MALFORMED;
		sc->i++;
	}

	/* an address with markup inside is not read as one */
	sc->capture = 0;
	if (sc->depth == 0) {
		if (!mm_strcaseeq(local_name(name), "Autodiscover"))
			return CLIENTCFG_REQ_NOT_AUTODISCOVER;
		sc->root_seen = true;
	}
	if (empty) {
		if (sc->depth == 0)
			sc->root_done = true;
		return CLIENTCFG_REQ_OK;
	}
	if (sc->depth == CLIENTCFG_XML_DEPTH_MAX)
		return CLIENTCFG_REQ_MALFORMED;
	memcpy(sc->stack[sc->depth++], name, strlen(name) + 1);
	sc->capture = capture_kind(sc);
	if (sc->capture == 1) {
		sc->addr.len = 0;
		sc->addr_too_long = false;
	} else if (sc->capture == 2) {
		sc->schema.len = 0;
	}
	return CLIENTCFG_REQ_OK;
}

/* "</name>"; sc->i is just past "</". */
static enum clientcfg_req
scan_end_tag(struct scan *sc)
{
	char name[CLIENTCFG_XML_NAME_MAX_BYTES + 1];

	if (!scan_name(sc, name))
		return CLIENTCFG_REQ_MALFORMED;
	skip_ws(sc);
	if (sc->i >= sc->len || sc->s[sc->i] != '>')
		return CLIENTCFG_REQ_MALFORMED;
	sc->i++;
	if (sc->depth == 0 || strcmp(sc->stack[sc->depth - 1], name) != 0)
		return CLIENTCFG_REQ_MALFORMED;
	if (sc->capture == 1)
		sc->have_addr = true;
	else if (sc->capture == 2)
		sc->have_schema = true;
	sc->capture = 0;
	if (--sc->depth == 0)
		sc->root_done = true;
	return CLIENTCFG_REQ_OK;
}

/* One entity reference; sc->i is at '&'. Appends the character to b. */
static bool
scan_entity(struct scan *sc, struct mm_buf *b)
{
	static const struct { const char *name; char c; } named[] = {
		{ "amp", '&' }, { "lt", '<' }, { "gt", '>' }, { "quot", '"' },
		{ "apos", '\'' },
	};
	size_t j = sc->i + 1, n;
	char ref[ENTITY_MAX_BYTES + 1];

	for (n = 0; j < sc->len && sc->s[j] != ';'; j++, n++) {
		if (n == ENTITY_MAX_BYTES)
			return false;
		ref[n] = sc->s[j];
	}
	if (j >= sc->len || n == 0)
		return false;
	ref[n] = '\0';
	sc->i = j + 1;
	for (size_t k = 0; k < sizeof(named) / sizeof(named[0]); k++) {
		if (strcmp(ref, named[k].name) == 0) {
			if (b != NULL)
				mm_buf_appendc(b, named[k].c);
			return true;
		}
	}
	if (ref[0] != '#' || ref[1] == '\0')
		return false;
	bool hex = ref[1] == 'x';
	const char *d = ref + 1 + hex;
	unsigned long v = 0;
	if (*d == '\0')
		return false;
	for (; *d != '\0'; d++) {
		int x;
		if (*d >= '0' && *d <= '9')
			x = *d - '0';
		else if (hex && (*d | 0x20) >= 'a' && (*d | 0x20) <= 'f')
			x = (*d | 0x20) - 'a' + 10;
		else
			return false;
		v = v * (hex ? 16 : 10) + (unsigned long)x;
		if (v > 0x10ffff)
			return false;
	}
	if (v == 0)
		return false;
	if (b != NULL) {
		/* an address needs only printable ASCII; anything else is
		 * kept as a byte the address check refuses */
		mm_buf_appendc(b, v >= 0x21 && v <= 0x7e ? (char)v : ' ');
	}
	return true;
}

/* Character data up to the next '<'. */
static enum clientcfg_req
scan_text(struct scan *sc)
{
	struct mm_buf *b = sc->capture == 1 ? &sc->addr :
	    sc->capture == 2 ? &sc->schema : NULL;

	while (sc->i < sc->len && sc->s[sc->i] != '<') {
		char c = sc->s[sc->i];
		if (sc->depth == 0 && !is_ws(c))
			return CLIENTCFG_REQ_MALFORMED;  /* text outside the root */
		if (c == '&') {
			if (!scan_entity(sc, b))
				return CLIENTCFG_REQ_MALFORMED;
		} else {
			if (b != NULL)
				mm_buf_appendc(b, c);
			sc->i++;
		}
		if (b != NULL && b->len > ADDRESS_MAX_BYTES + 256) {
			if (sc->capture == 1)
				sc->addr_too_long = true;
			b->len = 0;     /* stays bounded; refused below */
		}
	}
	return CLIENTCFG_REQ_OK;
}

/* Trim white space; returns the start, sets *n. */
static const char *
trim(struct mm_buf *b, size_t *n)
{
	const char *s = mm_buf_cstr(b);
	size_t len = b->len;
	while (len > 0 && is_ws(*s)) {
		s++;
		len--;
	}
	while (len > 0 && is_ws(s[len - 1]))
		len--;
	*n = len;
	return s;
}

static enum clientcfg_req
scan_document(struct scan *sc)
{
	enum clientcfg_req r;

	/* a UTF-8 byte order mark */
	if (starts(sc, "\xef\xbb\xbf"))
		sc->i += 3;
	while (sc->i < sc->len) {
		if (sc->s[sc->i] != '<') {
			if ((r = scan_text(sc)) != CLIENTCFG_REQ_OK)
				return r;
			continue;
		}
		if (starts(sc, "<?")) {
			sc->i += 2;
			if (!skip_past(sc, "?>"))
				return CLIENTCFG_REQ_MALFORMED;
		} else if (starts(sc, "<!--")) {
			sc->i += 4;
			if (!skip_past(sc, "-->"))
				return CLIENTCFG_REQ_MALFORMED;
		} else if (starts(sc, "<!")) {
			return CLIENTCFG_REQ_MALFORMED;  /* DOCTYPE, CDATA */
		} else if (starts(sc, "</")) {
			sc->i += 2;
			if ((r = scan_end_tag(sc)) != CLIENTCFG_REQ_OK)
				return r;
		} else {
			sc->i++;
			if ((r = scan_start_tag(sc)) != CLIENTCFG_REQ_OK)
				return r;
		}
	}
	if (!sc->root_seen || sc->depth != 0)
		return CLIENTCFG_REQ_MALFORMED;
	return CLIENTCFG_REQ_OK;
}

enum clientcfg_req
clientcfg_autodiscover_parse(const char *body, size_t len, char *addr_r)
{
	struct scan *sc;
	enum clientcfg_req r;

	addr_r[0] = '\0';
	if (len > CLIENTCFG_REQUEST_MAX_BYTES)
		return CLIENTCFG_REQ_TOO_LARGE;
	if (memchr(body, '\0', len) != NULL)
		return CLIENTCFG_REQ_MALFORMED;
	sc = xcalloc(1, sizeof(*sc));
	sc->s = body;
	sc->len = len;
	mm_buf_init(&sc->addr);
	mm_buf_init(&sc->schema);

	r = scan_document(sc);
	if (r == CLIENTCFG_REQ_OK && !sc->have_addr)
		r = CLIENTCFG_REQ_NO_ADDRESS;
	if (r == CLIENTCFG_REQ_OK) {
		size_t n;
		const char *a = trim(&sc->addr, &n);
		if (n == 0)
			r = CLIENTCFG_REQ_NO_ADDRESS;
		else if (sc->addr_too_long || !clientcfg_address(a, n, addr_r, NULL))
			r = CLIENTCFG_REQ_BAD_ADDRESS;
	}
	if (r == CLIENTCFG_REQ_OK && sc->have_schema) {
		size_t n;
		const char *s = trim(&sc->schema, &n);
		if (n != strlen(OUTLOOK_RESPONSE_NS) ||
		    memcmp(s, OUTLOOK_RESPONSE_NS, n) != 0)
			r = CLIENTCFG_REQ_SCHEMA;
	}
	if (r != CLIENTCFG_REQ_OK)
		addr_r[0] = '\0';
	mm_buf_free(&sc->addr);
	mm_buf_free(&sc->schema);
	free(sc);
	return r;
}

/* ---- Autodiscover v2 (JSON) ---- */

char *
clientcfg_autodiscover_json(const struct config *cfg, const char *addr,
    const char *protocol, int *status_r)
{
	char canon[ADDRESS_MAX_BYTES + 1], domain[ADDRESS_MAX_BYTES + 1];
	struct mm_buf b;

	if (!clientcfg_address(addr, strlen(addr), canon, domain) ||
	    !config_is_local_domain(cfg, domain))
		return NULL;
	mm_buf_init(&b);
	if (protocol == NULL || !mm_strcaseeq(protocol, "AutodiscoverV1")) {
		/* what Exchange answers; the value is not echoed back */
		*status_r = 400;
		mm_buf_printf(&b, "{\"ErrorCode\":\"InvalidProtocol\",\"ErrorMessage\":"
		    "\"The given protocol value is invalid. Supported values are "
		    "'AutodiscoverV1'\"}\n");
		return mm_buf_cstr(&b);
	}
	/* domain is a checked host name: [a-z0-9.-], nothing to escape */
	*status_r = 200;
	mm_buf_printf(&b, "{\"Protocol\":\"AutodiscoverV1\",\"Url\":"
	    "\"https://autodiscover.%s/autodiscover/autodiscover.xml\"}\n", domain);
	return mm_buf_cstr(&b);
}

/* ---- Apple configuration profile ---- */

/* 64-bit FNV-1a of the parts, from seed. */
static uint64_t
fnv64(uint64_t seed, const char *a, const char *b, const char *c)
{
	const char *parts[3] = { a, b, c };
	uint64_t h = seed;
	for (int i = 0; i < 3; i++) {
		for (const char *p = parts[i]; *p; p++)
			h = (h ^ (unsigned char)*p) * 0x100000001b3ULL;
		h = (h ^ 0xff) * 0x100000001b3ULL;   /* separator */
	}
	return h;
}

/* A stable UUID for (what, addr, hostname): RFC 9562 version 8 (custom),
 * 122 bits of two FNV-1a hashes. Not secret, only distinct and stable. */
static void
stable_uuid(const char *what, const char *addr, const char *host, char out[37])
{
	uint64_t hi = fnv64(0xcbf29ce484222325ULL, what, addr, host);
	uint64_t lo = fnv64(0x84222325cbf29ce4ULL, host, what, addr);
	hi = (hi & ~0xf000ULL) | 0x8000ULL;                       /* version 8 */
	lo = (lo & ~(3ULL << 62)) | (2ULL << 62);                 /* variant 10 */
	snprintf(out, 37, "%08llX-%04llX-%04llX-%04llX-%012llX",
	    (unsigned long long)(hi >> 32), (unsigned long long)((hi >> 16) & 0xffff),
	    (unsigned long long)(hi & 0xffff), (unsigned long long)(lo >> 48),
	    (unsigned long long)(lo & 0xffffffffffffULL));
}

static void
plist_string(struct mm_buf *b, int indent, const char *key, const char *value)
{
	mm_buf_printf(b, "%*s<key>%s</key>\n%*s<string>", indent, "", key, indent, "");
	clientcfg_xml_escape(b, value);
	mm_buf_printf(b, "</string>\n");
}

static void
plist_int(struct mm_buf *b, int indent, const char *key, unsigned v)
{
	mm_buf_printf(b, "%*s<key>%s</key>\n%*s<integer>%u</integer>\n", indent, "", key,
	    indent, "", v);
}

static void
plist_bool(struct mm_buf *b, int indent, const char *key, bool v)
{
	mm_buf_printf(b, "%*s<key>%s</key>\n%*s<%s/>\n", indent, "", key, indent, "",
	    v ? "true" : "false");
}

char *
clientcfg_mobileconfig(const struct config *cfg, const char *addr)
{
	struct clientcfg_server sv[CLIENTCFG_SERVERS_MAX];
	char canon[ADDRESS_MAX_BYTES + 1], domain[ADDRESS_MAX_BYTES + 1];
	char uuid_profile[37], uuid_mail[37];
	const struct clientcfg_server *in = NULL, *out = NULL;
	struct mm_buf b;

	if (!clientcfg_address(addr, strlen(addr), canon, domain) ||
	    !config_is_local_domain(cfg, domain))
		return NULL;
	/* the first (preferred) incoming and outgoing choice: IMAP before
	 * POP3, 465 before 587 */
	size_t n = clientcfg_servers(cfg, sv);
	for (size_t i = 0; i < n; i++) {
		if (sv[i].proto == CLIENTCFG_SMTP) {
			if (out == NULL)
				out = &sv[i];
		} else if (in == NULL) {
			in = &sv[i];
		}
	}
	if (in == NULL || out == NULL)
		return NULL;
	stable_uuid("profile", canon, cfg->hostname, uuid_profile);
	stable_uuid("mail", canon, cfg->hostname, uuid_mail);
	char *ident = xasprintf("minimaild.%s.%s", cfg->hostname, uuid_profile);
	char *desc = xasprintf("Mail account %s on %s", canon, cfg->hostname);

	mm_buf_init(&b);
	mm_buf_printf(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" "
	    "\"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n"
	    "<plist version=\"1.0\">\n<dict>\n  <key>PayloadContent</key>\n  <array>\n"
	    "    <dict>\n");
	plist_string(&b, 6, "EmailAccountDescription", canon);
	plist_string(&b, 6, "EmailAccountType",
	    in->proto == CLIENTCFG_IMAP ? "EmailTypeIMAP" : "EmailTypePOP");
	plist_string(&b, 6, "EmailAddress", canon);
	plist_string(&b, 6, "IncomingMailServerAuthentication", "EmailAuthPassword");
	plist_string(&b, 6, "IncomingMailServerHostName", cfg->hostname);
	plist_int(&b, 6, "IncomingMailServerPortNumber", in->port);
	plist_bool(&b, 6, "IncomingMailServerUseSSL", true);
	plist_string(&b, 6, "IncomingMailServerUsername", canon);
	plist_string(&b, 6, "OutgoingMailServerAuthentication", "EmailAuthPassword");
	plist_string(&b, 6, "OutgoingMailServerHostName", cfg->hostname);
	plist_int(&b, 6, "OutgoingMailServerPortNumber", out->port);
	/* UseSSL is TLS either way: implicit on 465, STARTTLS on 587 */
	plist_bool(&b, 6, "OutgoingMailServerUseSSL", true);
	plist_string(&b, 6, "OutgoingMailServerUsername", canon);
	plist_bool(&b, 6, "OutgoingPasswordSameAsIncomingPassword", true);
	plist_string(&b, 6, "PayloadDescription", desc);
	plist_string(&b, 6, "PayloadDisplayName", canon);
	char *mail_ident = xasprintf("%s.mail", ident);
	plist_string(&b, 6, "PayloadIdentifier", mail_ident);
	free(mail_ident);
	plist_string(&b, 6, "PayloadType", "com.apple.mail.managed");
	plist_string(&b, 6, "PayloadUUID", uuid_mail);
	plist_int(&b, 6, "PayloadVersion", 1);
	plist_bool(&b, 6, "PreventAppSheet", false);
	plist_bool(&b, 6, "PreventMove", false);
	plist_bool(&b, 6, "SMIMEEnabled", false);
	mm_buf_printf(&b, "    </dict>\n  </array>\n");
	plist_string(&b, 2, "PayloadDescription", desc);
	plist_string(&b, 2, "PayloadDisplayName", domain);
	plist_string(&b, 2, "PayloadIdentifier", ident);
	plist_string(&b, 2, "PayloadOrganization", domain);
	plist_bool(&b, 2, "PayloadRemovalDisallowed", false);
	plist_string(&b, 2, "PayloadType", "Configuration");
	plist_string(&b, 2, "PayloadUUID", uuid_profile);
	plist_int(&b, 2, "PayloadVersion", 1);
	mm_buf_printf(&b, "</dict>\n</plist>\n");
	free(ident);
	free(desc);
	return mm_buf_cstr(&b);
}

/* ---- the URLs, for client-settings ---- */

char *
clientcfg_urls(const struct config *cfg, const char *addr)
{
	char canon[ADDRESS_MAX_BYTES + 1], domain[ADDRESS_MAX_BYTES + 1];
	struct mm_buf b;

	if (!clientcfg_address(addr, strlen(addr), canon, domain) ||
	    !config_is_local_domain(cfg, domain))
		return NULL;
	mm_buf_init(&b);
	if (cfg->http_listen.naddrs == 0) {
		mm_buf_printf(&b, "\nAutomatic setup: off (set [listen] http to serve "
		    "autoconfig, autodiscover and the Apple profile)\n");
		return mm_buf_cstr(&b);
	}
	/* The address goes into a query: '@' and '+' encoded, the rest of a
	 * checked address is safe in a URL query except '%', '&', '#', '='. */
	struct mm_buf q;
	mm_buf_init(&q);
	for (const char *p = canon; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '@' || c == '+' || c == '%' || c == '&' || c == '#' || c == '=' ||
		    c >= 0x80 || c == '?' || c == '/')
			mm_buf_printf(&q, "%%%02X", c);
		else
			mm_buf_appendc(&q, (char)c);
	}
	const char *e = mm_buf_cstr(&q);
	mm_buf_printf(&b, "\nAutomatic setup (through the HTTPS proxy in front of [listen] http):\n"
	    "Thunderbird  https://autoconfig.%s/mail/config-v1.1.xml?emailaddress=%s\n"
	    "Outlook      https://autodiscover.%s/autodiscover/autodiscover.xml (POST)\n"
	    "Outlook new  https://autodiscover.%s/autodiscover/autodiscover.json"
	    "?Email=%s&Protocol=AutodiscoverV1\n"
	    "Apple        https://autoconfig.%s/apple/mobileconfig?emailaddress=%s\n",
	    domain, e, domain, domain, e, domain, e);
	mm_buf_free(&q);
	return mm_buf_cstr(&b);
}
