/* config.c: the /etc/minimaild.conf parser (DESIGN.md Part B).
 *
 * One pass over the text, line by line: each line is a comment, a
 * "[section]" header or "key = value". Every key lives in one table,
 * keytab[], with its section and a setter that checks the value and
 * stores it; to add a key, add a row there (and to config_dump(), the
 * default file etc/minimaild.conf and doc/minimaild.conf.5). Checks that
 * involve several keys (cert/key pairs, listeners sharing a port, the
 * required 'domains') run after the pass. Errors are collected with their
 * line number and handed out sorted by line, so that a user sees every
 * mistake of the file at once, in file order. */
#include "lib/config.h"
#include "lib/limits.h"
#include "lib/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

const char *const config_listener_names[LSN_COUNT] = {
	"smtp", "submission", "submissions", "imap", "imaps", "pop3", "pop3s",
	"managesieve",
};

static const uint16_t listen_default_ports[LSN_COUNT] = {
	25, 587, 465, 143, 993, 110, 995, 4190,
};

/* [listen] http is not a protocol listener (no enum listener_id): the
 * setters and checks below address it as the extra slot LISTEN_HTTP. */
#define LISTEN_HTTP              LSN_COUNT
#define LISTEN_SLOTS             (LSN_COUNT + 2)
/* [listen] metrics (net/metrics.c): one more slot of the same kind. */
#define LISTEN_METRICS           (LSN_COUNT + 1)

#define CONFIG_DEFAULT_DATA_DIR  "/var/lib/minimaild"
#define CONFIG_DEFAULT_RUN_AS    "minimaild"
#define CONFIG_DEFAULT_DKIM_SELECTOR "mm2026"

/* Bounds of [limits]. */
#define MSG_SIZE_MIN_BYTES       1024ULL                    /* 1K */
#define MSG_SIZE_MAX_BYTES       (2048ULL * 1024 * 1024)    /* 2G */
#define RECIPIENTS_MAX           100000
#define RECIPIENTS_RFC_MIN       100    /* RFC 5321 4.5.3.1.8 */
#define CONNECTIONS_MAX          1000000

#define HOSTNAME_MAX_BYTES       253    /* RFC 1035 2.3.4, without final dot */
#define LABEL_MAX_BYTES          63
#define USERNAME_MAX_BYTES       32
#define QUOTE_MAX_BYTES          84     /* values quoted in messages */

enum section {
	SEC_TOP = 0, SEC_LISTEN, SEC_TLS, SEC_AUTH, SEC_LIMITS, SEC_RELAY,
	SEC_DNS,
	SEC_INBOUND,
	SEC_DKIM,
	SEC_SIEVE,
	SEC_UNKNOWN,            /* after a bad [header]: keys are skipped */
};

static const char *const section_names[] = {
	"", "listen", "tls", "auth", "limits", "relay",
	"dns",
	"inbound",
	"dkim",
	"sieve",
};

struct parser;
struct key;
typedef void key_setter(struct parser *, const struct key *, const char *);

struct key {
	enum section sec;
	const char *name;
	key_setter *set;
	int arg;                /* listener id, or which [limits] number */
};

/* One error or warning, kept with its line for sorting (0: whole file). */
struct msg {
	unsigned line;
	size_t seq;
	char *text;
};

struct msglist {
	struct msg *v;
	size_t n, cap;
};

struct parser {
	const char *path;
	struct config *cfg;
	struct msglist errors;
	struct msglist warnings;
	enum section sec;
	unsigned line;
	unsigned *key_line;     /* per keytab[] row: line it was set on, 0 */
};

static key_setter set_sieve;
enum { SIEVE_K_SCRIPT_SIZE, SIEVE_K_ACTIONS, SIEVE_K_REDIRECTS, SIEVE_K_VACATION_DAYS };

static key_setter set_hostname, set_domains, set_data_dir, set_run_as,
    set_log_level, set_listen, set_path, set_min_version, set_bool,
    set_size, set_number, set_smarthost, set_relay_string, set_relay_tls,
    set_relay_bool, set_relay_duration, set_relay_number, set_routes;
/* [auth] cache_ttl */
static key_setter set_auth_cache_ttl;
static key_setter set_max_memory;   /* [limits] max_memory (issue 18) */
/* [dns], [tls] mta_sts_mode, [relay] mx_port / mta_sts / dane (outbound
 * policy): setters below config_parse_nameservers(). */
static key_setter set_dns_nameservers, set_dns_timeout, set_dns_dnssec,
    set_dns_trust_anchor, set_mta_sts_mode, set_policy_bool, set_policy_port,
    set_mta_sts_ca, set_mta_sts_timeout;
enum { PBOOL_MTA_STS, PBOOL_DANE };
/* [inbound]: setters after the [dns] ones. */
static key_setter set_inbound_bool, set_inbound_zones, set_milters,
    set_milter_timeout, set_milter_default;
enum { IBOOL_SPF, IBOOL_DKIM, IBOOL_DMARC, IBOOL_DMARC_REJECT };
enum { IZONES_DNSBL, IZONES_DNSWL };
enum { PPORT_MX, PPORT_MTA_STS };
static key_setter set_dkim_selector, set_dkim_sign, set_dkim_algorithms;
static key_setter set_hourly;
enum { HOURLY_SENT, HOURLY_RCPTS };

enum { RSTR_USER, RSTR_PASSWORD, RSTR_CA };
enum { RBOOL_VERIFY, RBOOL_REQUIRE_TLS };
enum { RDUR_LIFETIME, RDUR_WARNING, RDUR_RETRY, RDUR_RETRY_MAX };
enum { RNUM_CONCURRENCY, RNUM_PER_DEST };

/* Bounds of [relay]. */
#define RELAY_DURATION_MAX_SECS  (365ULL * 86400)
#define RELAY_CONCURRENCY_MAX    1000

enum { NUM_RECIPIENTS, NUM_CONNECTIONS, NUM_CONNECTIONS_PER_IP, NUM_CONNECTIONS_PER_USER,
    NUM_IPV6_PREFIX };
enum { PATH_CERT, PATH_KEY };

static const struct key keytab[] = {
	{ SEC_TOP, "hostname", set_hostname, 0 },
	{ SEC_TOP, "domains", set_domains, 0 },
	{ SEC_TOP, "data_dir", set_data_dir, 0 },
	{ SEC_TOP, "run_as", set_run_as, 0 },
	{ SEC_TOP, "log_level", set_log_level, 0 },
	{ SEC_LISTEN, "smtp", set_listen, LSN_SMTP },
	{ SEC_LISTEN, "submission", set_listen, LSN_SUBMISSION },
	{ SEC_LISTEN, "submissions", set_listen, LSN_SUBMISSIONS },
	{ SEC_LISTEN, "imap", set_listen, LSN_IMAP },
	{ SEC_LISTEN, "imaps", set_listen, LSN_IMAPS },
	{ SEC_LISTEN, "pop3", set_listen, LSN_POP3 },
	{ SEC_LISTEN, "pop3s", set_listen, LSN_POP3S },
	{ SEC_LISTEN, "managesieve", set_listen, LSN_MANAGESIEVE },
	{ SEC_LISTEN, "http", set_listen, LISTEN_HTTP },
	{ SEC_LISTEN, "metrics", set_listen, LISTEN_METRICS },
	{ SEC_TLS, "cert", set_path, PATH_CERT },
	{ SEC_TLS, "key", set_path, PATH_KEY },
	{ SEC_TLS, "min_version", set_min_version, 0 },
	{ SEC_AUTH, "allow_plaintext_auth", set_bool, 0 },
	{ SEC_AUTH, "cache_ttl", set_auth_cache_ttl, 0 },
	{ SEC_LIMITS, "max_message_size", set_size, 0 },
	{ SEC_LIMITS, "max_memory", set_max_memory, 0 },
	{ SEC_LIMITS, "max_recipients", set_number, NUM_RECIPIENTS },
	{ SEC_LIMITS, "max_connections", set_number, NUM_CONNECTIONS },
	{ SEC_LIMITS, "max_connections_per_ip", set_number, NUM_CONNECTIONS_PER_IP },
	{ SEC_LIMITS, "max_connections_per_user", set_number, NUM_CONNECTIONS_PER_USER },
	{ SEC_LIMITS, "ipv6_prefix", set_number, NUM_IPV6_PREFIX },
	{ SEC_RELAY, "smarthost", set_smarthost, 0 },
	{ SEC_RELAY, "smarthost_user", set_relay_string, RSTR_USER },
	{ SEC_RELAY, "smarthost_password", set_relay_string, RSTR_PASSWORD },
	{ SEC_RELAY, "smarthost_tls", set_relay_tls, 0 },
	{ SEC_RELAY, "smarthost_verify", set_relay_bool, RBOOL_VERIFY },
	{ SEC_RELAY, "smarthost_ca", set_relay_string, RSTR_CA },
	{ SEC_RELAY, "require_tls", set_relay_bool, RBOOL_REQUIRE_TLS },
	{ SEC_RELAY, "queue_lifetime", set_relay_duration, RDUR_LIFETIME },
	{ SEC_RELAY, "delay_warning", set_relay_duration, RDUR_WARNING },
	{ SEC_RELAY, "retry_interval", set_relay_duration, RDUR_RETRY },
	{ SEC_RELAY, "retry_max_interval", set_relay_duration, RDUR_RETRY_MAX },
	{ SEC_RELAY, "max_concurrency", set_relay_number, RNUM_CONCURRENCY },
	{ SEC_RELAY, "max_per_destination", set_relay_number, RNUM_PER_DEST },
	{ SEC_RELAY, "routes", set_routes, 0 },
	{ SEC_DNS, "nameservers", set_dns_nameservers, 0 },
	{ SEC_DNS, "timeout", set_dns_timeout, 0 },
	{ SEC_DNS, "dnssec", set_dns_dnssec, 0 },
	{ SEC_DNS, "trust_anchor", set_dns_trust_anchor, 0 },
	{ SEC_TLS, "mta_sts_mode", set_mta_sts_mode, 0 },
	{ SEC_RELAY, "mta_sts", set_policy_bool, PBOOL_MTA_STS },
	{ SEC_RELAY, "dane", set_policy_bool, PBOOL_DANE },
	{ SEC_RELAY, "mta_sts_ca", set_mta_sts_ca, 0 },
	{ SEC_RELAY, "mx_port", set_policy_port, PPORT_MX },
	{ SEC_RELAY, "mta_sts_port", set_policy_port, PPORT_MTA_STS },
	{ SEC_INBOUND, "spf", set_inbound_bool, IBOOL_SPF },
	{ SEC_INBOUND, "dkim", set_inbound_bool, IBOOL_DKIM },
	{ SEC_INBOUND, "dmarc", set_inbound_bool, IBOOL_DMARC },
	{ SEC_INBOUND, "dmarc_reject", set_inbound_bool, IBOOL_DMARC_REJECT },
	{ SEC_INBOUND, "dnsbl", set_inbound_zones, IZONES_DNSBL },
	{ SEC_INBOUND, "dnswl", set_inbound_zones, IZONES_DNSWL },
	{ SEC_INBOUND, "milters", set_milters, 0 },
	{ SEC_INBOUND, "milter_timeout", set_milter_timeout, 0 },
	{ SEC_INBOUND, "milter_default_action", set_milter_default, 0 },
	{ SEC_DKIM, "selector", set_dkim_selector, 0 },
	{ SEC_DKIM, "sign", set_dkim_sign, 0 },
	{ SEC_DKIM, "algorithms", set_dkim_algorithms, 0 },
	{ SEC_LIMITS, "max_sent_per_hour", set_hourly, HOURLY_SENT },
	{ SEC_LIMITS, "max_rcpts_per_hour", set_hourly, HOURLY_RCPTS },
	{ SEC_RELAY, "mta_sts_timeout", set_mta_sts_timeout, 0 },
	{ SEC_SIEVE, "max_script_size", set_sieve, SIEVE_K_SCRIPT_SIZE },
	{ SEC_SIEVE, "max_actions", set_sieve, SIEVE_K_ACTIONS },
	{ SEC_SIEVE, "max_redirects", set_sieve, SIEVE_K_REDIRECTS },
	{ SEC_SIEVE, "vacation_min_days", set_sieve, SIEVE_K_VACATION_DAYS },
};
#define NKEYS (sizeof(keytab) / sizeof(keytab[0]))

/* ---- messages ---- */

static void __attribute__((format(printf, 5, 0)))
msg_vadd(struct parser *p, struct msglist *l, unsigned line, bool warning,
    const char *fmt, va_list ap)
{
	char *body;
	if (vasprintf(&body, fmt, ap) < 0)
		fatal("out of memory (config message)");
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	struct msg *m = &l->v[l->n];
	m->line = line;
	m->seq = l->n++;
	if (line > 0)
		m->text = xasprintf("%s:%u: %s%s", p->path, line,
		    warning ? "warning: " : "", body);
	else
		m->text = xasprintf("%s: %s%s", p->path,
		    warning ? "warning: " : "", body);
	free(body);
}

static void __attribute__((format(printf, 3, 4)))
perr(struct parser *p, unsigned line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	msg_vadd(p, &p->errors, line, false, fmt, ap);
	va_end(ap);
}

static void __attribute__((format(printf, 3, 4)))
pwarn(struct parser *p, unsigned line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	msg_vadd(p, &p->warnings, line, true, fmt, ap);
	va_end(ap);
}

static int
msg_cmp(const void *a, const void *b)
{
	const struct msg *x = a, *y = b;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Sort by line (stable: by order of discovery within a line), move the
 * texts into out and empty l. */
static void
msg_flush(struct msglist *l, struct mm_strlist *out)
{
	if (l->n > 1)
		qsort(l->v, l->n, sizeof(*l->v), msg_cmp);
	for (size_t i = 0; i < l->n; i++) {
		mm_strlist_add(out, l->v[i].text);
		free(l->v[i].text);
	}
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

/* A value for a message: escaped and cut at QUOTE_MAX_BYTES. */
static const char *
q(char buf[QUOTE_MAX_BYTES], const char *s)
{
	return log_escape(buf, QUOTE_MAX_BYTES, s, strlen(s));
}

void
config_errors_init(struct config_errors *e)
{
	mm_strlist_init(&e->errors);
	mm_strlist_init(&e->warnings);
}

void
config_errors_clear(struct config_errors *e)
{
	mm_strlist_clear(&e->errors);
	mm_strlist_clear(&e->warnings);
}

/* ---- value syntax ---- */

static bool
is_space(char c)
{
	return c == ' ' || c == '\t';
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool
is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Decimal digits only, no sign; false on empty or overflow. */
static bool
parse_u64(const char *s, size_t n, uint64_t *r)
{
	uint64_t v = 0;
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!is_digit(s[i]))
			return false;
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*r = v;
	return true;
}

/* A number with an optional one-letter suffix from units[] (case does not
 * matter), multiplied by mult[]. */
static bool
parse_scaled(const char *s, const char *units, const uint64_t *mult,
    uint64_t *r)
{
	size_t n = strlen(s);
	uint64_t v, m = 1;

	if (n > 0 && !is_digit(s[n - 1])) {
		const char *u = strchr(units, s[n - 1] | 0x20);
		if (u == NULL)
			return false;
		m = mult[u - units];
		n--;
	}
	if (!parse_u64(s, n, &v))
		return false;
	if (v > UINT64_MAX / m)
		return false;
	*r = v * m;
	return true;
}

bool
config_parse_size(const char *s, uint64_t *bytes_r)
{
	static const uint64_t mult[] = {
		1024ULL, 1024ULL * 1024, 1024ULL * 1024 * 1024,
	};
	return parse_scaled(s, "kmg", mult, bytes_r);
}

bool
config_parse_duration(const char *s, uint64_t *secs_r)
{
	static const uint64_t mult[] = { 1, 60, 3600, 86400 };
	return parse_scaled(s, "smhd", mult, secs_r);
}

/* RFC 1035 host name syntax (letters, digits, hyphens; labels of 1..63
 * bytes not starting or ending with '-'), at most 253 bytes. */
static bool
valid_domain(const char *s)
{
	size_t n = strlen(s), label = 0;

	if (n == 0 || n > HOSTNAME_MAX_BYTES)
		return false;
	for (size_t i = 0; i <= n; i++) {
		char c = s[i];
		if (c == '.' || c == '\0') {
			if (label == 0 || s[i - 1] == '-')
				return false;
			label = 0;
		} else if (is_alpha(c) || is_digit(c) || c == '-') {
			if (label == 0 && c == '-')
				return false;
			if (++label > LABEL_MAX_BYTES)
				return false;
		} else {
			return false;
		}
	}
	return true;
}

/* Portable user names: letters, digits, '.', '_', '-', not starting
 * with '-'; a trailing '$' (Samba machine accounts) is not accepted. */
static bool
valid_username(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > USERNAME_MAX_BYTES || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_alpha(s[i]) && !is_digit(s[i]) && s[i] != '.' &&
		    s[i] != '_' && s[i] != '-')
			return false;
	return true;
}

/* ---- listen addresses ---- */

/* "25", "127.0.0.1:25", "[::1]:25" */
static void
addr_format(const struct config_addr *a, char *buf, size_t len)
{
	if (a->host[0] == '\0')
		snprintf(buf, len, "%u", a->port);
	else if (strchr(a->host, ':') != NULL)
		snprintf(buf, len, "[%s]:%u", a->host, a->port);
	else
		snprintf(buf, len, "%s:%u", a->host, a->port);
}

/* Can a and b not both be bound? Same port and the same address, or one
 * of them is a wildcard ("" and "::" take every address, "0.0.0.0" every
 * IPv4 address). */
static bool
addr_conflict(const struct config_addr *a, const struct config_addr *b)
{
	if (a->port != b->port)
		return false;
	if (a->host[0] == '\0' || b->host[0] == '\0')
		return true;
	if (strcmp(a->host, "::") == 0 || strcmp(b->host, "::") == 0)
		return true;
	if (strcmp(a->host, b->host) == 0)
		return true;
	bool a4 = strchr(a->host, ':') == NULL, b4 = strchr(b->host, ':') == NULL;
	if (a4 && b4 && (strcmp(a->host, "0.0.0.0") == 0 ||
	    strcmp(b->host, "0.0.0.0") == 0))
		return true;
	return false;
}

static bool
parse_port(const char *s, size_t n, uint16_t *port_r)
{
	uint64_t v;
	if (n > 5 || !parse_u64(s, n, &v) || v == 0 || v > 65535)
		return false;
	*port_r = (uint16_t)v;
	return true;
}

/* One token of a listen list into a. */
static bool
parse_listen_token(const char *tok, struct config_addr *a, char *err,
    size_t errlen)
{
	char host[INET6_ADDRSTRLEN + 64], qt[QUOTE_MAX_BYTES], qh[QUOTE_MAX_BYTES];
	const char *colon, *port;
	size_t n = strlen(tok), hlen;
	unsigned char bin[sizeof(struct in6_addr)];
	int af;

	q(qt, tok);
	memset(a, 0, sizeof(*a));
	if (tok[0] == '[') {
		const char *rb = strchr(tok, ']');
		if (rb == NULL) {
			snprintf(err, errlen, "missing ']' in '%s'", qt);
			return false;
		}
		if (rb[1] != ':') {
			snprintf(err, errlen, "expected ':PORT' after ']' in '%s'", qt);
			return false;
		}
		hlen = (size_t)(rb - tok - 1);
		port = rb + 2;
		af = AF_INET6;
		if (hlen >= sizeof(host)) {
			snprintf(err, errlen, "bad IPv6 address in '%s'", qt);
			return false;
		}
		memcpy(host, tok + 1, hlen);
		host[hlen] = '\0';
	} else if ((colon = strrchr(tok, ':')) != NULL) {
		hlen = (size_t)(colon - tok);
		port = colon + 1;
		af = AF_INET;
		if (memchr(tok, ':', hlen) != NULL) {
			snprintf(err, errlen, "IPv6 addresses must be in brackets, "
			    "as in '[::1]:143', in '%s'", qt);
			return false;
		}
		if (hlen == 0) {
			snprintf(err, errlen, "missing address before ':' in '%s'", qt);
			return false;
		}
		if (hlen >= sizeof(host)) {
			snprintf(err, errlen, "bad IPv4 address in '%s'", qt);
			return false;
		}
		memcpy(host, tok, hlen);
		host[hlen] = '\0';
	} else {
		if (parse_port(tok, n, &a->port))
			return true;
		if (inet_pton(AF_INET, tok, bin) == 1) {
			snprintf(err, errlen, "missing port in '%s' (write ADDRESS:PORT)", qt);
			return false;
		}
		if (tok[0] != '\0' && strspn(tok, "0123456789") == n)
			snprintf(err, errlen, "bad port '%s' (expected 1 to 65535)", qt);
		else
			snprintf(err, errlen, "bad listen address '%s' (expected PORT, "
			    "IPv4:PORT or [IPv6]:PORT)", qt);
		return false;
	}

	if (inet_pton(af, host, bin) != 1) {
		q(qh, host);
		if (af == AF_INET6)
			snprintf(err, errlen, "bad IPv6 address '%s' in '%s'", qh, qt);
		else if (strspn(host, "0123456789.") != hlen)
			snprintf(err, errlen, "'%s' in '%s' is not an IP address "
			    "(only literal addresses are allowed, not host names)",
			    qh, qt);
		else
			snprintf(err, errlen, "bad IPv4 address '%s' in '%s'", qh, qt);
		return false;
	}
	if (!parse_port(port, strlen(port), &a->port)) {
		char qp[QUOTE_MAX_BYTES];
		snprintf(err, errlen, "bad port '%s' in '%s' (expected 1 to 65535)",
		    q(qp, port), qt);
		return false;
	}
	/* canonical form, so that "::0001" and "::1" compare equal */
	if (inet_ntop(af, bin, a->host, sizeof(a->host)) == NULL) {
		snprintf(err, errlen, "bad address in '%s'", qt);
		return false;
	}
	return true;
}

bool
config_parse_listen(const char *s, struct config_listen *l_r, char *err,
    size_t errlen)
{
	struct config_addr addrs[CONFIG_LISTEN_ADDRS_MAX];
	size_t n = 0;
	bool saw_off = false;
	const char *p = s;

	l_r->addrs = NULL;
	l_r->naddrs = 0;
	if (errlen > 0)
		err[0] = '\0';
	for (;;) {
		while (is_space(*p))
			p++;
		if (*p == '\0')
			break;
		size_t len = 0;
		while (p[len] != '\0' && !is_space(p[len]))
			len++;
		char *tok = xstrndup(p, len);
		p += len;

		if (strcmp(tok, "off") == 0) {
			saw_off = true;
			free(tok);
			continue;
		}
		if (n == CONFIG_LISTEN_ADDRS_MAX) {
			snprintf(err, errlen, "too many addresses (at most %d)",
			    CONFIG_LISTEN_ADDRS_MAX);
			free(tok);
			return false;
		}
		if (!parse_listen_token(tok, &addrs[n], err, errlen)) {
			free(tok);
			return false;
		}
		free(tok);
		for (size_t i = 0; i < n; i++) {
			if (!addr_conflict(&addrs[i], &addrs[n]))
				continue;
			char a1[128], a2[128];
			addr_format(&addrs[n], a1, sizeof(a1));
			addr_format(&addrs[i], a2, sizeof(a2));
			if (strcmp(a1, a2) == 0)
				snprintf(err, errlen, "%s is listed twice", a1);
			else
				snprintf(err, errlen, "%s conflicts with %s", a1, a2);
			return false;
		}
		n++;
	}
	if (saw_off && n > 0) {
		snprintf(err, errlen, "'off' must stand alone");
		return false;
	}
	if (!saw_off && n == 0) {
		snprintf(err, errlen, "missing value (expected ports, "
		    "ADDRESS:PORT or 'off')");
		return false;
	}
	if (n > 0) {
		l_r->addrs = xcalloc(n, sizeof(*l_r->addrs));
		memcpy(l_r->addrs, addrs, n * sizeof(*addrs));
		l_r->naddrs = n;
	}
	return true;
}

/* ---- the key setters: check one value, store it or report it ---- */

static void
set_hostname(struct parser *p, const struct key *k, const char *v)
{
	char qv[QUOTE_MAX_BYTES];
	if (!valid_domain(v)) {
		perr(p, p->line, "hostname: bad host name '%s' (expected a domain "
		    "name such as mail.example.org)", q(qv, v));
		return;
	}
	free(p->cfg->hostname);
	p->cfg->hostname = mm_strlower(xstrdup(v));
}

static void
set_domains(struct parser *p, const struct key *k, const char *v)
{
	struct mm_strlist *l = &p->cfg->domains;
	char qv[QUOTE_MAX_BYTES];
	const char *s = v;

	for (;;) {
		while (is_space(*s))
			s++;
		if (*s == '\0')
			break;
		size_t len = 0;
		while (s[len] != '\0' && !is_space(s[len]))
			len++;
		char *d = mm_strlower(xstrndup(s, len));
		s += len;
		if (!valid_domain(d))
			perr(p, p->line, "domains: bad domain name '%s' (domains are "
			    "separated by spaces; letters, digits, '-' and '.')",
			    q(qv, d));
		else if (mm_strlist_contains(l, d))
			pwarn(p, p->line, "domains: '%s' is listed twice", d);
		else
			mm_strlist_add(l, d);
		free(d);
	}
}

static void
set_data_dir(struct parser *p, const struct key *k, const char *v)
{
	char qv[QUOTE_MAX_BYTES];
	if (v[0] != '/' || strlen(v) >= PATH_MAX) {
		perr(p, p->line, "data_dir: bad path '%s' (expected an absolute "
		    "path)", q(qv, v));
		return;
	}
	free(p->cfg->data_dir);
	p->cfg->data_dir = xstrdup(v);
}

static void
set_run_as(struct parser *p, const struct key *k, const char *v)
{
	char qv[QUOTE_MAX_BYTES];
	if (!valid_username(v)) {
		perr(p, p->line, "run_as: bad user name '%s' (expected letters, "
		    "digits, '.', '_' or '-', at most %d characters)", q(qv, v),
		    USERNAME_MAX_BYTES);
		return;
	}
	free(p->cfg->run_as);
	p->cfg->run_as = xstrdup(v);
}

static void
set_log_level(struct parser *p, const struct key *k, const char *v)
{
	char qv[QUOTE_MAX_BYTES];
	int lvl = log_level_parse(v);
	if (lvl < 0) {
		perr(p, p->line, "log_level: bad value '%s' (expected error, warn, "
		    "info or debug)", q(qv, v));
		return;
	}
	p->cfg->log_level = lvl;
}

/* The [listen] entry of slot id (an enum listener_id, or LISTEN_HTTP). */
static struct config_listen *
listen_slot(struct config *cfg, int id)
{
	if (id == LISTEN_METRICS)
		return &cfg->metrics_listen;
	return id == LISTEN_HTTP ? &cfg->http_listen : &cfg->listen[id];
}

static const char *
listen_name(int id)
{
	if (id == LISTEN_METRICS)
		return "metrics";
	return id == LISTEN_HTTP ? "http" : config_listener_names[id];
}

static void
set_listen(struct parser *p, const struct key *k, const char *v)
{
	char err[512];
	struct config_listen l, *slot = listen_slot(p->cfg, k->arg);

	if (!config_parse_listen(v, &l, err, sizeof(err))) {
		perr(p, p->line, "%s: %s", k->name, err);
		/* off, so that the default port causes no second error */
		free(slot->addrs);
		slot->addrs = NULL;
		slot->naddrs = 0;
		return;
	}
	free(slot->addrs);
	*slot = l;
}

static void
set_path(struct parser *p, const struct key *k, const char *v)
{
	char qv[QUOTE_MAX_BYTES];
	char **dst = k->arg == PATH_CERT ? &p->cfg->tls_cert : &p->cfg->tls_key;
	if (v[0] != '/' || strlen(v) >= PATH_MAX) {
		perr(p, p->line, "%s: bad path '%s' (expected an absolute path)",
		    k->name, q(qv, v));
		return;
	}
	free(*dst);
	*dst = xstrdup(v);
}

static void
set_min_version(struct parser *p, const struct key *k, const char *v)
{
	char qv[QUOTE_MAX_BYTES];
	if (mm_strcaseeq(v, "TLSv1.2"))
		p->cfg->tls_min_version = 0x0303;
	else if (mm_strcaseeq(v, "TLSv1.3"))
		p->cfg->tls_min_version = 0x0304;
	else
		perr(p, p->line, "min_version: bad value '%s' (expected TLSv1.2 "
		    "or TLSv1.3)", q(qv, v));
}

/* yes/true/on/1 or no/false/off/0, any case; else an error, and false. */
static bool
parse_yes_no(struct parser *p, const struct key *k, const char *v, bool *r)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	char qv[QUOTE_MAX_BYTES];

	for (size_t i = 0; i < 4; i++) {
		if (mm_strcaseeq(v, yes[i]) || mm_strcaseeq(v, no[i])) {
			*r = mm_strcaseeq(v, yes[i]);
			return true;
		}
	}
	perr(p, p->line, "%s: bad value '%s' (expected yes or no)", k->name,
	    q(qv, v));
	return false;
}

static void
set_bool(struct parser *p, const struct key *k, const char *v)
{
	bool yes;

	if (!parse_yes_no(p, k, v, &yes))
		return;
	p->cfg->allow_plaintext_auth = yes;
	if (yes)
		pwarn(p, p->line, "allow_plaintext_auth = yes sends passwords "
		    "in clear text; for tests on loopback only");
}

static void
set_size(struct parser *p, const struct key *k, const char *v)
{
	char qv[QUOTE_MAX_BYTES];
	uint64_t n;

	if (!config_parse_size(v, &n)) {
		perr(p, p->line, "%s: bad size '%s' (expected a number with "
		    "optional K, M or G)", k->name, q(qv, v));
		return;
	}
	if (n < MSG_SIZE_MIN_BYTES || n > MSG_SIZE_MAX_BYTES) {
		perr(p, p->line, "%s: size '%s' is out of range (expected 1K to 2G)",
		    k->name, q(qv, v));
		return;
	}
	p->cfg->max_message_size = n;
}

/* [limits] max_memory (issue 18): from 1M to 1T. */
static void
set_max_memory(struct parser *p, const struct key *k, const char *v)
{
	char qv[QUOTE_MAX_BYTES];
	uint64_t n;

	if (!config_parse_size(v, &n)) {
		perr(p, p->line, "%s: bad size '%s' (expected a number with "
		    "optional K, M or G)", k->name, q(qv, v));
		return;
	}
	if (n < MAX_MEMORY_MIN_BYTES || n > MAX_MEMORY_MAX_BYTES) {
		perr(p, p->line, "%s: size '%s' is out of range (expected 1M to 1024G)",
		    k->name, q(qv, v));
		return;
	}
	p->cfg->max_memory = n;
}

static void
set_number(struct parser *p, const struct key *k, const char *v)
{
	char qv[QUOTE_MAX_BYTES];
	uint64_t n, max = k->arg == NUM_RECIPIENTS ? RECIPIENTS_MAX :
	    k->arg == NUM_IPV6_PREFIX ? 128 : CONNECTIONS_MAX;

	if (!parse_u64(v, strlen(v), &n) || n < 1 || n > max) {
		perr(p, p->line, "%s: bad number '%s' (expected a whole number "
		    "from 1 to %llu)", k->name, q(qv, v), (unsigned long long)max);
		return;
	}
	switch (k->arg) {
	case NUM_RECIPIENTS:
		p->cfg->max_recipients = (unsigned)n;
		if (n < RECIPIENTS_RFC_MIN)
			pwarn(p, p->line, "max_recipients below %d breaks RFC 5321 "
			    "4.5.3.1.8 (a server must accept %d)", RECIPIENTS_RFC_MIN,
			    RECIPIENTS_RFC_MIN);
		break;
	case NUM_CONNECTIONS:
		p->cfg->max_connections = (unsigned)n;
		break;
	case NUM_CONNECTIONS_PER_USER:
		p->cfg->max_connections_per_user = (unsigned)n;
		break;
	case NUM_IPV6_PREFIX:
		p->cfg->ipv6_prefix = (unsigned)n;
		break;
	default:
		p->cfg->max_connections_per_ip = (unsigned)n;
		break;
	}
}

/* [limits] max_sent_per_hour, max_rcpts_per_hour: 0 (no limit) or more. */
static void
set_hourly(struct parser *p, const struct key *k, const char *v)
{
	char qv[QUOTE_MAX_BYTES];
	uint64_t n;

	if (!parse_u64(v, strlen(v), &n) || n > SUBMIT_PER_HOUR_MAX) {
		perr(p, p->line, "%s: bad number '%s' (expected a whole number "
		    "from 0 (no limit) to %d)", k->name, q(qv, v), SUBMIT_PER_HOUR_MAX);
		return;
	}
	if (k->arg == HOURLY_SENT)
		p->cfg->max_sent_per_hour = (unsigned)n;
	else
		p->cfg->max_rcpts_per_hour = (unsigned)n;
}

/* ---- [sieve] ---- */

/* Bounds of [sieve] (the defaults are in limits.h). */
#define SIEVE_CFG_SCRIPT_MAX_BYTES (1024ULL * 1024)	/* 1M */
#define SIEVE_CFG_ACTIONS_MAX      1000
#define SIEVE_CFG_REDIRECTS_MAX    100

static void
set_sieve(struct parser *p, const struct key *k, const char *v)
{
	char qv[QUOTE_MAX_BYTES];
	uint64_t n;

	if (k->arg == SIEVE_K_SCRIPT_SIZE) {
		if (!config_parse_size(v, &n) || n < 1024 || n > SIEVE_CFG_SCRIPT_MAX_BYTES) {
			perr(p, p->line, "%s: bad size '%s' (expected 1K to 1M)", k->name, q(qv, v));
			return;
		}
		p->cfg->sieve_max_script_size = n;
		return;
	}
	uint64_t min = k->arg == SIEVE_K_ACTIONS ? 1 : 0;
	uint64_t max = k->arg == SIEVE_K_ACTIONS ? SIEVE_CFG_ACTIONS_MAX :
	    k->arg == SIEVE_K_REDIRECTS ? SIEVE_CFG_REDIRECTS_MAX : SIEVE_VACATION_MAX_DAYS;
	if (!parse_u64(v, strlen(v), &n) || n < min || n > max) {
		perr(p, p->line, "%s: bad number '%s' (expected a whole number from %llu to %llu)",
		    k->name, q(qv, v), (unsigned long long)min, (unsigned long long)max);
		return;
	}
	if (k->arg == SIEVE_K_ACTIONS)
		p->cfg->sieve_max_actions = (unsigned)n;
	else if (k->arg == SIEVE_K_REDIRECTS)
		p->cfg->sieve_max_redirects = (unsigned)n;
	else
		p->cfg->sieve_vacation_min_days = (unsigned)n;
}

/* ---- [relay] ---- */

bool
config_parse_relay_host(const char *s, struct config_relay_host *h, char *err,
    size_t errlen)
{
	char host[300], qs[QUOTE_MAX_BYTES];
	const char *port = NULL, *colon;
	size_t hlen;
	unsigned char bin[sizeof(struct in6_addr)];

	memset(h, 0, sizeof(*h));
	q(qs, s);
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');
		if (rb == NULL || (rb[1] != '\0' && rb[1] != ':')) {
			snprintf(err, errlen, "bad host '%s' (expected [IPv6]:PORT)", qs);
			return false;
		}
		hlen = (size_t)(rb - s - 1);
		if (hlen >= sizeof(host)) {
			snprintf(err, errlen, "bad IPv6 address in '%s'", qs);
			return false;
		}
		memcpy(host, s + 1, hlen);
		host[hlen] = '\0';
		if (inet_pton(AF_INET6, host, bin) != 1) {
			snprintf(err, errlen, "bad IPv6 address in '%s'", qs);
			return false;
		}
		if (rb[1] == ':')
			port = rb + 2;
	} else {
		colon = strchr(s, ':');
		if (colon != NULL && strchr(colon + 1, ':') != NULL) {
			snprintf(err, errlen, "IPv6 addresses must be in brackets, as in "
			    "'[::1]:25', in '%s'", qs);
			return false;
		}
		hlen = colon != NULL ? (size_t)(colon - s) : strlen(s);
		if (hlen >= sizeof(host) || hlen == 0) {
			snprintf(err, errlen, "bad host '%s'", qs);
			return false;
		}
		memcpy(host, s, hlen);
		host[hlen] = '\0';
		if (inet_pton(AF_INET, host, bin) != 1 && !valid_domain(host)) {
			snprintf(err, errlen, "bad host name '%s' in '%s'", q(qs, host), s);
			return false;
		}
		if (colon != NULL)
			port = colon + 1;
	}
	if (port != NULL && !parse_port(port, strlen(port), &h->port)) {
		snprintf(err, errlen, "bad port in '%s' (expected 1 to 65535)", qs);
		return false;
	}
	mm_strlcpy(h->host, host, sizeof(h->host));
	mm_strlower(h->host);
	return true;
}

const struct config_route *
config_route_find(const struct config *cfg, const char *domain)
{
	for (size_t i = 0; i < cfg->nroutes; i++)
		if (mm_strcaseeq(cfg->routes[i].domain, domain))
			return &cfg->routes[i];
	return NULL;
}

static void
set_smarthost(struct parser *p, const struct key *k, const char *v)
{
	char err[256];
	if (!config_parse_relay_host(v, &p->cfg->smarthost, err, sizeof(err))) {
		perr(p, p->line, "smarthost: %s", err);
		return;
	}
	p->cfg->has_smarthost = true;
}

static void
set_relay_string(struct parser *p, const struct key *k, const char *v)
{
	char qv[QUOTE_MAX_BYTES];
	char **dst = k->arg == RSTR_USER ? &p->cfg->smarthost_user :
	    k->arg == RSTR_PASSWORD ? &p->cfg->smarthost_password :
	    &p->cfg->smarthost_ca;

	if (k->arg == RSTR_CA && (v[0] != '/' || strlen(v) >= PATH_MAX)) {
		perr(p, p->line, "%s: bad path '%s' (expected an absolute path)",
		    k->name, q(qv, v));
		return;
	}
	if (strlen(v) > 255) {
		perr(p, p->line, "%s: too long (at most 255 bytes)", k->name);
		return;
	}
	free(*dst);
	*dst = xstrdup(v);
}

static void
set_relay_tls(struct parser *p, const struct key *k, const char *v)
{
	char qv[QUOTE_MAX_BYTES];
	if (mm_strcaseeq(v, "starttls"))
		p->cfg->smarthost_tls = CONFIG_RELAY_TLS_STARTTLS;
	else if (mm_strcaseeq(v, "implicit"))
		p->cfg->smarthost_tls = CONFIG_RELAY_TLS_IMPLICIT;
	else if (mm_strcaseeq(v, "none"))
		p->cfg->smarthost_tls = CONFIG_RELAY_TLS_NONE;
	else
		perr(p, p->line, "%s: bad value '%s' (expected starttls, implicit "
		    "or none)", k->name, q(qv, v));
}

static void
set_relay_bool(struct parser *p, const struct key *k, const char *v)
{
	(void)parse_yes_no(p, k, v, k->arg == RBOOL_VERIFY ?
	    &p->cfg->smarthost_verify : &p->cfg->relay_require_tls);
}

/* [auth] cache_ttl: 0 (off) up to AUTH_CACHE_TTL_MAX_SECS. */
static void
set_auth_cache_ttl(struct parser *p, const struct key *k, const char *v)
{
	char qv[QUOTE_MAX_BYTES];
	uint64_t n;

	if (!config_parse_duration(v, &n) || n > AUTH_CACHE_TTL_MAX_SECS) {
		perr(p, p->line, "%s: bad duration '%s' (expected 0 (off) to %ds, "
		    "with optional s, m, h or d)", k->name, q(qv, v),
		    AUTH_CACHE_TTL_MAX_SECS);
		return;
	}
	p->cfg->auth_cache_ttl = (unsigned)n;
}

static void
set_relay_duration(struct parser *p, const struct key *k, const char *v)
{
	char qv[QUOTE_MAX_BYTES];
	uint64_t n;

	if (!config_parse_duration(v, &n) || n > RELAY_DURATION_MAX_SECS) {
		perr(p, p->line, "%s: bad duration '%s' (expected a number with "
		    "optional s, m, h or d, at most 365d)", k->name, q(qv, v));
		return;
	}
	if (n == 0 && k->arg != RDUR_WARNING) {
		perr(p, p->line, "%s: must not be 0", k->name);
		return;
	}
	switch (k->arg) {
	case RDUR_LIFETIME: p->cfg->queue_lifetime = n; break;
	case RDUR_WARNING:  p->cfg->delay_warning = n; break;
	case RDUR_RETRY:    p->cfg->retry_interval = n; break;
	default:            p->cfg->retry_max_interval = n; break;
	}
}

static void
set_relay_number(struct parser *p, const struct key *k, const char *v)
{
	char qv[QUOTE_MAX_BYTES];
	uint64_t n;

	if (!parse_u64(v, strlen(v), &n) || n < 1 || n > RELAY_CONCURRENCY_MAX) {
		perr(p, p->line, "%s: bad number '%s' (expected a whole number "
		    "from 1 to %d)", k->name, q(qv, v), RELAY_CONCURRENCY_MAX);
		return;
	}
	if (k->arg == RNUM_CONCURRENCY)
		p->cfg->relay_max_concurrency = (unsigned)n;
	else
		p->cfg->relay_max_per_destination = (unsigned)n;
}

/* "example.net=10.0.0.5:25 other.test=[::1]:2600" */
static void
set_routes(struct parser *p, const struct key *k, const char *v)
{
	struct config *cfg = p->cfg;
	char qv[QUOTE_MAX_BYTES], err[256];
	const char *s = v;

	for (;;) {
		while (is_space(*s))
			s++;
		if (*s == '\0')
			break;
		size_t len = 0;
		while (s[len] != '\0' && !is_space(s[len]))
			len++;
		char *tok = xstrndup(s, len);
		s += len;
		char *eq = strchr(tok, '=');
		struct config_route rt;
		memset(&rt, 0, sizeof(rt));
		if (eq == NULL || eq == tok) {
			perr(p, p->line, "routes: bad route '%s' (expected "
			    "DOMAIN=HOST:PORT)", q(qv, tok));
		} else if ((*eq = '\0', !valid_domain(tok))) {
			perr(p, p->line, "routes: bad domain '%s'", q(qv, tok));
		} else if (!config_parse_relay_host(eq + 1, &rt.dest, err, sizeof(err))) {
			perr(p, p->line, "routes: %s", err);
		} else if (config_route_find(cfg, tok) != NULL) {
			perr(p, p->line, "routes: '%s' is routed twice", q(qv, tok));
		} else if (cfg->nroutes >= CONFIG_ROUTES_MAX) {
			perr(p, p->line, "routes: too many routes (at most %d)",
			    CONFIG_ROUTES_MAX);
		} else {
			mm_strlcpy(rt.domain, tok, sizeof(rt.domain));
			mm_strlower(rt.domain);
			if (rt.dest.port == 0)
				rt.dest.port = 25;
			cfg->routes = xrealloc(cfg->routes,
			    (cfg->nroutes + 1) * sizeof(*cfg->routes));
			cfg->routes[cfg->nroutes++] = rt;
		}
		free(tok);
	}
}

/* ---- [dns] and the outbound TLS policy ---- */

bool
config_parse_nameservers(const char *s, struct mm_strlist *out, char *err,
    size_t errlen)
{
	struct mm_strlist l;
	const char *p = s;

	mm_strlist_init(&l);
	while (*p != '\0') {
		char tok[128], host[64], ipbuf[16];
		unsigned long port = 53;
		size_t n;

		while (is_space(*p))
			p++;
		if (*p == '\0')
			break;
		n = strcspn(p, " \t");
		if (n >= sizeof(tok)) {
			snprintf(err, errlen, "name server '%.40s...' too long", p);
			goto bad;
		}
		memcpy(tok, p, n);
		tok[n] = '\0';
		p += n;

		/* "IP", "IP@PORT", "IPv4:PORT", "[IPv6]", "[IPv6]:PORT" */
		char *at = strchr(tok, '@'), *portstr = NULL;
		if (tok[0] == '[') {
			char *rb = strchr(tok, ']');
			if (rb == NULL || (rb[1] != '\0' && rb[1] != ':' && rb[1] != '@'))
				goto syntax;
			*rb = '\0';
			mm_strlcpy(host, tok + 1, sizeof(host));
			if (rb[1] != '\0')
				portstr = rb + 2;
		} else if (at != NULL) {
			*at = '\0';
			mm_strlcpy(host, tok, sizeof(host));
			portstr = at + 1;
		} else {
			char *colon = strchr(tok, ':');
			if (colon != NULL && strchr(colon + 1, ':') == NULL) {
				*colon = '\0';         /* v4:port */
				portstr = colon + 1;
			}
			mm_strlcpy(host, tok, sizeof(host));
		}
		if (inet_pton(AF_INET, host, ipbuf) != 1 &&
		    inet_pton(AF_INET6, host, ipbuf) != 1) {
			snprintf(err, errlen, "'%.64s' is not an IP address (name "
			    "servers are given as addresses)", host);
			goto bad;
		}
		if (portstr != NULL) {
			char *end;
			errno = 0;
			port = strtoul(portstr, &end, 10);
			if (portstr[0] < '0' || portstr[0] > '9' || *end != '\0' ||
			    errno != 0 || port == 0 || port > 65535)
				goto syntax;
		}
		if (l.n == CONFIG_NAMESERVERS_MAX) {
			snprintf(err, errlen, "too many name servers (at most %d)",
			    CONFIG_NAMESERVERS_MAX);
			goto bad;
		}
		char *one = xasprintf("%s@%lu", host, port);
		mm_strlist_add(&l, one);
		free(one);
		continue;
syntax:
		snprintf(err, errlen, "bad name server '%.80s' (expected IP, IP@PORT, "
		    "IPv4:PORT or [IPv6]:PORT)", tok);
		goto bad;
	}
	if (l.n == 0) {
		snprintf(err, errlen, "no name server given");
		goto bad;
	}
	mm_strlist_clear(out);
	*out = l;
	return true;
bad:
	mm_strlist_clear(&l);
	return false;
}

static void
set_dns_nameservers(struct parser *p, const struct key *k, const char *v)
{
	char err[256];
	if (!config_parse_nameservers(v, &p->cfg->dns_nameservers, err, sizeof(err)))
		perr(p, p->line, "%s: %s", k->name, err);
}

/* A timeout: a duration from 1s to max_secs into *dst, else an error
 * that names the range. */
static void
set_timeout_secs(struct parser *p, const struct key *k, const char *v, int max_secs,
    uint64_t *dst)
{
	char qv[QUOTE_MAX_BYTES];
	uint64_t n;

	if (!config_parse_duration(v, &n) || n == 0 || n > (uint64_t)max_secs) {
		perr(p, p->line, "%s: bad duration '%s' (expected 1s to %ds)", k->name,
		    q(qv, v), max_secs);
		return;
	}
	*dst = n;
}

static void
set_dns_timeout(struct parser *p, const struct key *k, const char *v)
{
	set_timeout_secs(p, k, v, DNS_TIMEOUT_MAX_SECS, &p->cfg->dns_timeout);
}

static void
set_mta_sts_timeout(struct parser *p, const struct key *k, const char *v)
{
	set_timeout_secs(p, k, v, MTA_STS_FETCH_TIMEOUT_MAX_SECS, &p->cfg->mta_sts_timeout);
}

static void
set_dns_dnssec(struct parser *p, const struct key *k, const char *v)
{
	char qv[QUOTE_MAX_BYTES];

	if (strcmp(v, "off") == 0)
		p->cfg->dns_dnssec = CONFIG_DNSSEC_OFF;
	else if (strcmp(v, "validate") == 0)
		p->cfg->dns_dnssec = CONFIG_DNSSEC_VALIDATE;
	else if (strcmp(v, "trust-ad") == 0)
		p->cfg->dns_dnssec = CONFIG_DNSSEC_TRUST_AD;
	else
		perr(p, p->line, "%s: bad value '%s' (expected off, validate or "
		    "trust-ad)", k->name, q(qv, v));
}

static void
set_abs_path(struct parser *p, const struct key *k, const char *v, char **dst)
{
	char qv[QUOTE_MAX_BYTES];

	if (v[0] != '/' || strlen(v) >= PATH_MAX) {
		perr(p, p->line, "%s: bad path '%s' (expected an absolute path)",
		    k->name, q(qv, v));
		return;
	}
	free(*dst);
	*dst = xstrdup(v);
}

static void
set_dns_trust_anchor(struct parser *p, const struct key *k, const char *v)
{
	set_abs_path(p, k, v, &p->cfg->dns_trust_anchor);
}

static void
set_mta_sts_ca(struct parser *p, const struct key *k, const char *v)
{
	set_abs_path(p, k, v, &p->cfg->mta_sts_ca);
}

static void
set_mta_sts_mode(struct parser *p, const struct key *k, const char *v)
{
	char qv[QUOTE_MAX_BYTES];

	if (strcmp(v, "testing") == 0)
		p->cfg->mta_sts_mode = CONFIG_MTA_STS_TESTING;
	else if (strcmp(v, "enforce") == 0)
		p->cfg->mta_sts_mode = CONFIG_MTA_STS_ENFORCE;
	else if (strcmp(v, "none") == 0)
		p->cfg->mta_sts_mode = CONFIG_MTA_STS_NONE;
	else
		perr(p, p->line, "%s: bad value '%s' (expected testing, enforce or "
		    "none, RFC 8461 3.2)", k->name, q(qv, v));
}

static void
set_policy_bool(struct parser *p, const struct key *k, const char *v)
{
	(void)parse_yes_no(p, k, v, k->arg == PBOOL_MTA_STS ?
	    &p->cfg->relay_mta_sts : &p->cfg->relay_dane);
}

static void
set_policy_port(struct parser *p, const struct key *k, const char *v)
{
	char qv[QUOTE_MAX_BYTES], *end;
	unsigned long n;

	errno = 0;
	n = strtoul(v, &end, 10);
	if (v[0] < '0' || v[0] > '9' || *end != '\0' || errno != 0 || n == 0 ||
	    n > 65535) {
		perr(p, p->line, "%s: bad port '%s' (expected 1 to 65535)", k->name,
		    q(qv, v));
		return;
	}
	if (k->arg == PPORT_MX)
		p->cfg->relay_mx_port = (uint16_t)n;
	else
		p->cfg->mta_sts_port = (uint16_t)n;
}

/* ---- [dkim] ---- */

bool
config_dkim_selector_valid(const char *s)
{
	size_t n = strlen(s), label = 0;

	if (n == 0 || n > DKIM_SELECTOR_MAX_BYTES)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return false;
			label = 0;
		} else if (is_alpha(c) || is_digit(c) || (c == '-' && label > 0)) {
			label++;
		} else {
			return false;
		}
	}
	return label > 0 && s[n - 1] != '-';
}

static void
set_dkim_selector(struct parser *p, const struct key *k, const char *v)
{
	char qv[QUOTE_MAX_BYTES];

	if (!config_dkim_selector_valid(v)) {
		perr(p, p->line, "selector: bad selector '%s' (letters, digits, '-' "
		    "and dots, at most %d characters)", q(qv, v), DKIM_SELECTOR_MAX_BYTES);
		return;
	}
	free(p->cfg->dkim_selector);
	p->cfg->dkim_selector = xstrdup(v);
}

static void
set_dkim_sign(struct parser *p, const struct key *k, const char *v)
{
	parse_yes_no(p, k, v, &p->cfg->dkim_sign);
}

static void
set_dkim_algorithms(struct parser *p, const struct key *k, const char *v)
{
	char qv[QUOTE_MAX_BYTES], word[64];
	bool rsa = false, ed = false, ok = true;

	for (const char *s = v; *s;) {
		size_t n = 0;
		while (*s && is_space(*s))
			s++;
		while (*s && !is_space(*s)) {
			if (n < sizeof(word) - 1)
				word[n++] = *s;
			s++;
		}
		word[n] = '\0';
		if (n == 0)
			break;
		if (mm_strcaseeq(word, "rsa-sha256"))
			rsa = true;
		else if (mm_strcaseeq(word, "ed25519-sha256"))
			ed = true;
		else {
			perr(p, p->line, "algorithms: unknown algorithm '%s' (expected "
			    "rsa-sha256 and/or ed25519-sha256)", q(qv, word));
			ok = false;
		}
	}
	if (ok && !rsa && !ed)
		perr(p, p->line, "algorithms: no algorithm given");
	if (!ok || (!rsa && !ed))
		return;
	p->cfg->dkim_rsa = rsa;
	p->cfg->dkim_ed25519 = ed;
}

/* ---- lines ---- */

static const struct key *
key_find(enum section sec, const char *name)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (keytab[i].sec == sec && strcmp(keytab[i].name, name) == 0)
			return &keytab[i];
	return NULL;
}

static void
unknown_key(struct parser *p, const char *name)
{
	char qn[QUOTE_MAX_BYTES], where[32] = "", hint[96] = "";

	if (p->sec != SEC_TOP)
		snprintf(where, sizeof(where), " in [%s]", section_names[p->sec]);
	for (size_t i = 0; i < NKEYS; i++) {
		if (strcmp(keytab[i].name, name) == 0) {
			if (keytab[i].sec == SEC_TOP)
				snprintf(hint, sizeof(hint), " (it belongs at the top, "
				    "before any [section])");
			else
				snprintf(hint, sizeof(hint), " (it belongs in [%s])",
				    section_names[keytab[i].sec]);
			break;
		}
		if (keytab[i].sec == p->sec && mm_strcaseeq(keytab[i].name, name)) {
			snprintf(hint, sizeof(hint), " (did you mean '%s'?)",
			    keytab[i].name);
			break;
		}
	}
	perr(p, p->line, "unknown key '%s'%s%s", q(qn, name), where, hint);
}

static void
parse_section(struct parser *p, char *s, size_t len)
{
	char qn[QUOTE_MAX_BYTES];

	if (s[len - 1] != ']') {
		if (strchr(s, ']') != NULL)
			perr(p, p->line, "text after ']' in section header");
		else
			perr(p, p->line, "missing ']' in section header");
		p->sec = SEC_UNKNOWN;
		return;
	}
	s[len - 1] = '\0';
	s++;
	while (is_space(*s))
		s++;
	size_t n = strlen(s);
	while (n > 0 && is_space(s[n - 1]))
		s[--n] = '\0';
	if (n == 0) {
		perr(p, p->line, "empty section name");
		p->sec = SEC_UNKNOWN;
		return;
	}
	for (int i = SEC_LISTEN; i < SEC_UNKNOWN; i++) {
		if (strcmp(s, section_names[i]) == 0) {
			p->sec = (enum section)i;
			return;
		}
	}
	/* the list is made from section_names[]: a new section joins it */
	char list[256] = "";
	for (int i = SEC_LISTEN; i < SEC_UNKNOWN; i++) {
		size_t l = strlen(list);
		snprintf(list + l, sizeof(list) - l, "%s[%s]", i == SEC_LISTEN ? "" :
		    i + 1 == SEC_UNKNOWN ? " or " : ", ", section_names[i]);
	}
	perr(p, p->line, "unknown section [%s] (expected %s)", q(qn, s), list);
	p->sec = SEC_UNKNOWN;
}

static void
parse_line(struct parser *p, char *s, size_t len)
{
	/* a comment starts at a '#' at line start or after white space */
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '#' && (i == 0 || is_space(s[i - 1]))) {
			len = i;
			break;
		}
	}
	s[len] = '\0';
	while (len > 0 && is_space(s[len - 1]))
		s[--len] = '\0';
	while (is_space(*s)) {
		s++;
		len--;
	}
	if (len == 0)
		return;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			perr(p, p->line, "control character 0x%02x in line", c);
			return;
		}
	}
	if (s[0] == '[') {
		parse_section(p, s, len);
		return;
	}

	char *eq = strchr(s, '=');
	if (eq == NULL) {
		perr(p, p->line, "expected 'key = value' or '[section]'");
		return;
	}
	char *val = eq + 1;
	*eq = '\0';
	size_t klen = (size_t)(eq - s);
	while (klen > 0 && is_space(s[klen - 1]))
		s[--klen] = '\0';
	while (is_space(*val))
		val++;
	if (klen == 0) {
		perr(p, p->line, "missing key before '='");
		return;
	}
	if (p->sec == SEC_UNKNOWN)
		return;         /* the bad header was reported */

	const struct key *k = key_find(p->sec, s);
	if (k == NULL) {
		unknown_key(p, s);
		return;
	}
	unsigned *seen = &p->key_line[k - keytab];
	if (*seen != 0) {
		perr(p, p->line, "duplicate key '%s' (first set on line %u)",
		    k->name, *seen);
		return;
	}
	*seen = p->line;
	if (*val == '\0') {
		perr(p, p->line, "%s: missing value", k->name);
		return;
	}
	k->set(p, k, val);
}

/* ---- whole-file checks ---- */

static unsigned
key_line(const struct parser *p, const char *name)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strcmp(keytab[i].name, name) == 0)
			return p->key_line[i];
	return 0;
}

static void
check_listeners(struct parser *p)
{
	struct config *cfg = p->cfg;

	for (int j = 0; j < LISTEN_SLOTS; j++) {
		const struct config_listen *lj = listen_slot(cfg, j);
		unsigned linej = key_line(p, listen_name(j));
		for (int i = 0; i < j; i++) {
			const struct config_listen *li = listen_slot(cfg, i);
			unsigned linei = key_line(p, listen_name(i));
			for (size_t b = 0; b < lj->naddrs; b++) {
				for (size_t a = 0; a < li->naddrs; a++) {
					if (!addr_conflict(&li->addrs[a], &lj->addrs[b]))
						continue;
					/* report it on the later line, naming the earlier */
					int x = j, y = i;
					const struct config_addr *ax = &lj->addrs[b], *ay = &li->addrs[a];
					unsigned lx = linej, ly = linei;
					if (linei > linej) {
						x = i, y = j, ax = &li->addrs[a], ay = &lj->addrs[b];
						lx = linei, ly = linej;
					}
					char sx[128], sy[128], where[32];
					addr_format(ax, sx, sizeof(sx));
					addr_format(ay, sy, sizeof(sy));
					if (ly > 0)
						snprintf(where, sizeof(where), "on line %u", ly);
					else
						snprintf(where, sizeof(where), "(default)");
					perr(p, lx, "%s: %s conflicts with %s %s %s",
					    listen_name(x), sx, listen_name(y), sy, where);
				}
			}
		}
	}
}

static void
check_file(struct parser *p)
{
	struct config *cfg = p->cfg;
	unsigned lc = key_line(p, "cert"), lk = key_line(p, "key");

	if (key_line(p, "domains") == 0)
		perr(p, 1, "missing required key 'domains' (set it at the top, "
		    "before any [section])");
	if (lc > 0 && lk == 0)
		perr(p, lc, "cert without key (set both cert and key, or neither)");
	if (lk > 0 && lc == 0)
		perr(p, lk, "key without cert (set both cert and key, or neither)");
	if (lc == 0 && lk == 0)
		pwarn(p, 0, "[tls] sets no cert and key; minimaild will create a "
		    "self-signed certificate in %s", cfg->data_dir);
	check_listeners(p);

	unsigned lu = key_line(p, "smarthost_user");
	unsigned lpw = key_line(p, "smarthost_password");
	unsigned lsh = key_line(p, "smarthost");
	if (lu > 0 && lpw == 0)
		perr(p, lu, "smarthost_user without smarthost_password");
	if (lpw > 0 && lu == 0)
		perr(p, lpw, "smarthost_password without smarthost_user");
	if ((lu > 0 || lpw > 0) && lsh == 0)
		perr(p, lu > lpw ? lu : lpw, "smarthost_user and smarthost_password "
		    "need a smarthost");
	if (lu > 0 && lsh > 0 && cfg->smarthost_tls == CONFIG_RELAY_TLS_NONE)
		pwarn(p, key_line(p, "smarthost_tls"), "smarthost_tls = none sends "
		    "the smarthost password in clear text");
	if (cfg->has_smarthost && cfg->smarthost.port == 0)
		cfg->smarthost.port = cfg->smarthost_tls == CONFIG_RELAY_TLS_IMPLICIT ?
		    465 : cfg->smarthost_tls == CONFIG_RELAY_TLS_STARTTLS ? 587 : 25;
	if (cfg->retry_interval > cfg->retry_max_interval) {
		unsigned lr = key_line(p, "retry_interval"), lm = key_line(p, "retry_max_interval");
		perr(p, lr > lm ? lr : lm, "retry_interval is longer than "
		    "retry_max_interval");
	}
	if (cfg->dns_dnssec == CONFIG_DNSSEC_TRUST_AD) {
		/* The AD bit is only as good as the path it came over. */
		unsigned ld = key_line(p, "dnssec");
		if (cfg->dns_nameservers.n == 0)
			perr(p, ld, "dnssec = trust-ad needs [dns] nameservers on "
			    "loopback (a validating resolver on this machine)");
		for (size_t i = 0; i < cfg->dns_nameservers.n; i++) {
			const char *ns = cfg->dns_nameservers.v[i];
			if (strncmp(ns, "127.", 4) != 0 && strncmp(ns, "::1@", 4) != 0) {
				perr(p, ld, "dnssec = trust-ad: name server %s is not on "
				    "loopback (its AD bit could be forged on the way)", ns);
				break;
			}
		}
	}

	unsigned lpi = key_line(p, "max_connections_per_ip");
	unsigned lmc = key_line(p, "max_connections");
	if (cfg->max_connections_per_ip > cfg->max_connections)
		pwarn(p, lpi > lmc ? lpi : lmc, "max_connections_per_ip (%u) is "
		    "larger than max_connections (%u)", cfg->max_connections_per_ip,
		    cfg->max_connections);
}

/* ---- public ---- */

char *
config_default_hostname(void)
{
	char name[HOSTNAME_MAX_BYTES + 2];
	struct addrinfo hints, *res = NULL;

	if (gethostname(name, sizeof(name)) != 0)
		return xstrdup("localhost");
	name[sizeof(name) - 1] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_flags = AI_CANONNAME;
	if (getaddrinfo(name, NULL, &hints, &res) == 0 && res != NULL &&
	    res->ai_canonname != NULL && valid_domain(res->ai_canonname)) {
		char *fqdn = mm_strlower(xstrdup(res->ai_canonname));
		freeaddrinfo(res);
		return fqdn;
	}
	if (res != NULL)
		freeaddrinfo(res);
	if (valid_domain(name))
		return mm_strlower(xstrdup(name));
	return xstrdup("localhost");
}

/* ---- [inbound] ---- */

/* "inet:HOST:PORT", "inet6:HOST:PORT", "unix:/PATH" (Postfix's syntax). */
bool
config_parse_milter(const char *s, struct config_milter *a, char *err, size_t errlen)
{
	memset(a, 0, sizeof(*a));
	if (strncmp(s, "unix:", 5) == 0) {
		if (s[5] != '/' || strlen(s + 5) >= sizeof(a->path)) {
			snprintf(err, errlen, "'%.80s': expected unix:/absolute/path", s);
			return false;
		}
		a->family = AF_UNIX;
		mm_strlcpy(a->path, s + 5, sizeof(a->path));
		return true;
	}
	bool v6 = strncmp(s, "inet6:", 6) == 0;
	if (!v6 && strncmp(s, "inet:", 5) != 0) {
		snprintf(err, errlen, "'%.80s': expected inet:HOST:PORT, inet6:HOST:PORT "
		    "or unix:/PATH", s);
		return false;
	}
	const char *hp = s + (v6 ? 6 : 5), *colon = strrchr(hp, ':');
	if (colon == NULL || colon == hp || (size_t)(colon - hp) >= sizeof(a->host)) {
		snprintf(err, errlen, "'%.80s': expected a host and a port", s);
		return false;
	}
	memcpy(a->host, hp, (size_t)(colon - hp));
	if (a->host[0] == '[') {
		size_t n = strlen(a->host);
		if (n < 3 || a->host[n - 1] != ']') {
			snprintf(err, errlen, "'%.80s': bad [address]", s);
			return false;
		}
		memmove(a->host, a->host + 1, n - 2);
		a->host[n - 2] = '\0';
	}
	unsigned char buf[16];
	if (inet_pton(AF_INET, a->host, buf) == 1)
		a->family = AF_INET;
	else if (inet_pton(AF_INET6, a->host, buf) == 1)
		a->family = AF_INET6;
	else {
		snprintf(err, errlen, "'%.80s': the host must be an IP address", s);
		return false;
	}
	char *end;
	errno = 0;
	unsigned long port = strtoul(colon + 1, &end, 10);
	if (colon[1] < '0' || colon[1] > '9' || *end != '\0' || errno || port == 0 || port > 65535) {
		snprintf(err, errlen, "'%.80s': bad port", s);
		return false;
	}
	a->port = (uint16_t)port;
	return true;
}


static void
set_inbound_bool(struct parser *p, const struct key *k, const char *v)
{
	bool *dst[] = { &p->cfg->inbound_spf, &p->cfg->inbound_dkim,
	    &p->cfg->inbound_dmarc, &p->cfg->inbound_dmarc_reject };

	(void)parse_yes_no(p, k, v, dst[k->arg]);
}

/* "off", or DNS zones separated by spaces (at most
 * CONFIG_DNSBL_ZONES_MAX). */
static void
set_inbound_zones(struct parser *p, const struct key *k, const char *v)
{
	struct mm_strlist *l = k->arg == IZONES_DNSBL ? &p->cfg->inbound_dnsbl :
	    &p->cfg->inbound_dnswl;
	char qv[QUOTE_MAX_BYTES];
	const char *s = v;

	mm_strlist_clear(l);
	if (strcmp(v, "off") == 0)
		return;
	for (;;) {
		while (is_space(*s))
			s++;
		if (*s == '\0')
			break;
		size_t len = 0;
		while (s[len] != '\0' && !is_space(s[len]))
			len++;
		char *d = mm_strlower(xstrndup(s, len));
		s += len;
		if (!valid_domain(d))
			perr(p, p->line, "%s: bad zone '%s' (expected DNS zones separated "
			    "by spaces, or off)", k->name, q(qv, d));
		else if (l->n == CONFIG_DNSBL_ZONES_MAX)
			perr(p, p->line, "%s: more than %d zones", k->name, CONFIG_DNSBL_ZONES_MAX);
		else if (!mm_strlist_contains(l, d))
			mm_strlist_add(l, d);
		free(d);
	}
}

/* Milters, space-separated, at most CONFIG_MILTERS_MAX, or "off". */
static void
set_milters(struct parser *p, const struct key *k, const char *v)
{
	char tok[256], err[256];
	const char *s = v;

	p->cfg->nmilters = 0;
	if (strcmp(v, "off") == 0)
		return;
	for (;;) {
		while (is_space(*s))
			s++;
		if (*s == '\0')
			break;
		size_t len = strcspn(s, " \t");
		if (len >= sizeof(tok))
			len = sizeof(tok) - 1;
		memcpy(tok, s, len);
		tok[len] = '\0';
		s += strcspn(s, " \t");
		if (p->cfg->nmilters == CONFIG_MILTERS_MAX) {
			perr(p, p->line, "%s: more than %d milters", k->name, CONFIG_MILTERS_MAX);
			return;
		}
		if (!config_parse_milter(tok, &p->cfg->milters[p->cfg->nmilters], err, sizeof(err)))
			perr(p, p->line, "%s: %s", k->name, err);
		else
			p->cfg->nmilters++;
	}
}

static void
set_milter_timeout(struct parser *p, const struct key *k, const char *v)
{
	set_timeout_secs(p, k, v, CONFIG_MILTER_TIMEOUT_MAX_SECS, &p->cfg->milter_timeout);
}

static void
set_milter_default(struct parser *p, const struct key *k, const char *v)
{
	char qv[QUOTE_MAX_BYTES];

	if (strcmp(v, "tempfail") == 0)
		p->cfg->milter_default_accept = false;
	else if (strcmp(v, "accept") == 0)
		p->cfg->milter_default_accept = true;
	else
		perr(p, p->line, "%s: bad value '%s' (expected tempfail or accept)",
		    k->name, q(qv, v));
}

static struct config *
config_new_defaults(const char *path)
{
	struct config *cfg = xcalloc(1, sizeof(*cfg));

	cfg->path = xstrdup(path);
	mm_strlist_init(&cfg->domains);
	cfg->data_dir = xstrdup(CONFIG_DEFAULT_DATA_DIR);
	cfg->run_as = xstrdup(CONFIG_DEFAULT_RUN_AS);
	cfg->log_level = LOG_LVL_INFO;
	for (int i = 0; i < LSN_COUNT; i++) {
		cfg->listen[i].addrs = xcalloc(1, sizeof(struct config_addr));
		cfg->listen[i].addrs[0].port = listen_default_ports[i];
		cfg->listen[i].naddrs = 1;
	}
	/* ManageSieve is off unless [listen] managesieve names a port */
	cfg->listen[LSN_MANAGESIEVE].naddrs = 0;
	cfg->tls_min_version = 0x0303;
	cfg->allow_plaintext_auth = false;
	cfg->auth_cache_ttl = AUTH_CACHE_TTL_DEFAULT_SECS;
	cfg->max_message_size = 50ULL * 1024 * 1024;
	cfg->max_memory = MAX_MEMORY_DEFAULT_BYTES;
	cfg->max_recipients = 100;
	cfg->max_connections = 10000;
	cfg->max_connections_per_ip = 50;
	cfg->max_connections_per_user = 50;
	cfg->ipv6_prefix = 64;
	cfg->smarthost_tls = CONFIG_RELAY_TLS_STARTTLS;
	cfg->smarthost_verify = true;
	cfg->queue_lifetime = 5 * 86400;
	cfg->delay_warning = 4 * 3600;
	cfg->retry_interval = 5 * 60;
	cfg->retry_max_interval = 4 * 3600;
	cfg->relay_max_concurrency = 20;
	cfg->relay_max_per_destination = 4;
	mm_strlist_init(&cfg->dns_nameservers);
	cfg->dns_timeout = 5;
	cfg->dns_dnssec = CONFIG_DNSSEC_OFF;
	cfg->dns_trust_anchor = xstrdup(CONFIG_DEFAULT_TRUST_ANCHOR);
	cfg->mta_sts_mode = CONFIG_MTA_STS_TESTING;
	cfg->relay_mta_sts = true;
	cfg->relay_dane = true;
	cfg->relay_mx_port = 25;
	cfg->mta_sts_port = 443;
	cfg->inbound_spf = true;
	cfg->inbound_dkim = true;
	cfg->inbound_dmarc = true;
	cfg->inbound_dmarc_reject = true;
	mm_strlist_init(&cfg->inbound_dnsbl);
	mm_strlist_init(&cfg->inbound_dnswl);
	cfg->milter_timeout = 30;
	cfg->dkim_selector = xstrdup(CONFIG_DEFAULT_DKIM_SELECTOR);
	cfg->dkim_sign = true;
	cfg->dkim_rsa = true;
	cfg->dkim_ed25519 = true;
	cfg->mta_sts_timeout = MTA_STS_FETCH_TIMEOUT_SECS;
	cfg->sieve_max_script_size = SIEVE_SCRIPT_MAX_BYTES;
	cfg->sieve_max_actions = SIEVE_ACTIONS_MAX;
	cfg->sieve_max_redirects = SIEVE_REDIRECTS_MAX;
	cfg->sieve_vacation_min_days = SIEVE_VACATION_MIN_DAYS;
	return cfg;
}

struct config *
config_parse(const char *path, const char *text, size_t len,
    struct config_errors *errs)
{
	struct parser p;
	unsigned key_lines[NKEYS];
	char buf[CONFIG_LINE_MAX_BYTES + 1];

	memset(&p, 0, sizeof(p));
	memset(key_lines, 0, sizeof(key_lines));
	p.path = path;
	p.key_line = key_lines;
	p.sec = SEC_TOP;

	if (len > CONFIG_FILE_MAX_BYTES) {
		perr(&p, 0, "file too large (%zu bytes; at most %d)", len,
		    CONFIG_FILE_MAX_BYTES);
		msg_flush(&p.errors, &errs->errors);
		return NULL;
	}
	p.cfg = config_new_defaults(path);

	size_t off = 0;
	while (off < len) {
		const char *nl = memchr(text + off, '\n', len - off);
		size_t n = nl ? (size_t)(nl - (text + off)) : len - off;
		const char *s = text + off;
		off += n + (nl != NULL);
		p.line++;
		if (n > 0 && s[n - 1] == '\r')
			n--;
		if (n > CONFIG_LINE_MAX_BYTES) {
			perr(&p, p.line, "line too long (more than %d bytes)",
			    CONFIG_LINE_MAX_BYTES);
			continue;
		}
		if (memchr(s, '\0', n) != NULL) {
			perr(&p, p.line, "NUL byte in line");
			continue;
		}
		memcpy(buf, s, n);
		buf[n] = '\0';
		parse_line(&p, buf, n);
	}
	check_file(&p);

	bool ok = p.errors.n == 0;
	msg_flush(&p.errors, &errs->errors);
	msg_flush(&p.warnings, &errs->warnings);
	if (!ok) {
		config_free(&p.cfg);
		return NULL;
	}
	if (p.cfg->hostname == NULL)
		p.cfg->hostname = config_default_hostname();
	return p.cfg;
}

struct config *
config_load(const char *path, struct config_errors *errs)
{
	FILE *f = fopen(path, "r");
	char *text;
	size_t len = 0;

	if (f == NULL) {
		char *m = xasprintf("%s: %s", path, strerror(errno));
		mm_strlist_add(&errs->errors, m);
		free(m);
		return NULL;
	}
	text = xmalloc(CONFIG_FILE_MAX_BYTES + 1);
	for (;;) {
		size_t n = fread(text + len, 1, CONFIG_FILE_MAX_BYTES + 1 - len, f);
		len += n;
		if (n == 0 || len == CONFIG_FILE_MAX_BYTES + 1)
			break;
	}
	if (ferror(f)) {
		char *m = xasprintf("%s: %s", path, strerror(errno));
		mm_strlist_add(&errs->errors, m);
		free(m);
		fclose(f);
		free(text);
		return NULL;
	}
	fclose(f);
	struct config *cfg = config_parse(path, text, len, errs);
	free(text);
	return cfg;
}

void
config_free(struct config **cfgp)
{
	struct config *cfg = *cfgp;
	if (cfg == NULL)
		return;
	free(cfg->path);
	free(cfg->hostname);
	mm_strlist_clear(&cfg->domains);
	free(cfg->data_dir);
	free(cfg->run_as);
	for (int i = 0; i < LSN_COUNT; i++)
		free(cfg->listen[i].addrs);
	free(cfg->http_listen.addrs);
	free(cfg->metrics_listen.addrs);
	free(cfg->tls_cert);
	free(cfg->tls_key);
	free(cfg->smarthost_user);
	if (cfg->smarthost_password != NULL)
		explicit_bzero(cfg->smarthost_password, strlen(cfg->smarthost_password));
	free(cfg->smarthost_password);
	free(cfg->smarthost_ca);
	free(cfg->routes);
	mm_strlist_clear(&cfg->dns_nameservers);
	mm_strlist_clear(&cfg->inbound_dnsbl);
	mm_strlist_clear(&cfg->inbound_dnswl);
	free(cfg->dns_trust_anchor);
	free(cfg->mta_sts_ca);
	free(cfg->dkim_selector);
	free(cfg);
	*cfgp = NULL;
}

bool
config_is_local_domain(const struct config *cfg, const char *domain)
{
	return mm_strlist_contains_case(&cfg->domains, domain);
}

/* 52428800 -> "50M": the largest unit that divides exactly. */
static void
size_format(uint64_t n, char *buf, size_t len)
{
	static const char units[] = "GMK";
	for (int i = 0; i < 3; i++) {
		uint64_t m = 1ULL << (10 * (3 - i));
		if (n != 0 && n % m == 0) {
			snprintf(buf, len, "%llu%c", (unsigned long long)(n / m),
			    units[i]);
			return;
		}
	}
	snprintf(buf, len, "%llu", (unsigned long long)n);
}

/* 14400 -> "4h": the largest unit that divides exactly. */
static void
duration_format(uint64_t n, char *buf, size_t len)
{
	static const struct { uint64_t secs; char unit; } u[] = {
		{ 86400, 'd' }, { 3600, 'h' }, { 60, 'm' },
	};
	for (size_t i = 0; i < 3; i++) {
		if (n != 0 && n % u[i].secs == 0) {
			snprintf(buf, len, "%llu%c", (unsigned long long)(n / u[i].secs),
			    u[i].unit);
			return;
		}
	}
	snprintf(buf, len, "%llus", (unsigned long long)n);
}

/* "host:port", "[v6]:port" */
static void
host_format(const struct config_relay_host *h, char *buf, size_t len)
{
	if (strchr(h->host, ':') != NULL)
		snprintf(buf, len, "[%s]:%u", h->host, h->port);
	else
		snprintf(buf, len, "%s:%u", h->host, h->port);
}

char *
config_dump(const struct config *cfg)
{
	static const char *const levels[] = { "error", "warn", "info", "debug" };
	struct mm_buf b;
	char tmp[128];

	mm_buf_init(&b);
	mm_buf_printf(&b, "# effective configuration of %s\n", cfg->path);
	mm_buf_printf(&b, "hostname = %s\n", cfg->hostname ? cfg->hostname : "");
	mm_buf_printf(&b, "domains =");
	for (size_t i = 0; i < cfg->domains.n; i++)
		mm_buf_printf(&b, " %s", cfg->domains.v[i]);
	mm_buf_printf(&b, "\ndata_dir = %s\n", cfg->data_dir);
	mm_buf_printf(&b, "run_as = %s\n", cfg->run_as);
	mm_buf_printf(&b, "log_level = %s\n",
	    cfg->log_level >= 0 && cfg->log_level <= 3 ? levels[cfg->log_level] : "info");

	mm_buf_printf(&b, "\n[listen]\n");
	for (int i = 0; i < LISTEN_SLOTS; i++) {
		const struct config_listen *l = i == LISTEN_METRICS ? &cfg->metrics_listen :
		    i == LISTEN_HTTP ?
		    &cfg->http_listen : &cfg->listen[i];
		mm_buf_printf(&b, "%s =", listen_name(i));
		if (l->naddrs == 0)
			mm_buf_printf(&b, " off");
		for (size_t a = 0; a < l->naddrs; a++) {
			addr_format(&l->addrs[a], tmp, sizeof(tmp));
			mm_buf_printf(&b, " %s", tmp);
		}
		mm_buf_appendc(&b, '\n');
	}

	mm_buf_printf(&b, "\n[tls]\n");
	if (cfg->tls_cert != NULL && cfg->tls_key != NULL) {
		mm_buf_printf(&b, "cert = %s\n", cfg->tls_cert);
		mm_buf_printf(&b, "key = %s\n", cfg->tls_key);
	} else {
		mm_buf_printf(&b, "# cert and key not set: self-signed "
		    "certificate in data_dir\n");
	}
	mm_buf_printf(&b, "min_version = %s\n",
	    cfg->tls_min_version == 0x0304 ? "TLSv1.3" : "TLSv1.2");
	mm_buf_printf(&b, "mta_sts_mode = %s\n",
	    cfg->mta_sts_mode == CONFIG_MTA_STS_ENFORCE ? "enforce" :
	    cfg->mta_sts_mode == CONFIG_MTA_STS_NONE ? "none" : "testing");

	mm_buf_printf(&b, "\n[auth]\n");
	mm_buf_printf(&b, "allow_plaintext_auth = %s\n",
	    cfg->allow_plaintext_auth ? "yes" : "no");
	duration_format(cfg->auth_cache_ttl, tmp, sizeof(tmp));
	mm_buf_printf(&b, "cache_ttl = %s\n", tmp);

	mm_buf_printf(&b, "\n[limits]\n");
	size_format(cfg->max_message_size, tmp, sizeof(tmp));
	mm_buf_printf(&b, "max_message_size = %s\n", tmp);
	size_format(cfg->max_memory, tmp, sizeof(tmp));
	mm_buf_printf(&b, "max_memory = %s\n", tmp);
	mm_buf_printf(&b, "max_recipients = %u\n", cfg->max_recipients);
	mm_buf_printf(&b, "max_connections = %u\n", cfg->max_connections);
	mm_buf_printf(&b, "max_connections_per_ip = %u\n",
	    cfg->max_connections_per_ip);
	mm_buf_printf(&b, "max_sent_per_hour = %u\n", cfg->max_sent_per_hour);
	mm_buf_printf(&b, "max_rcpts_per_hour = %u\n", cfg->max_rcpts_per_hour);
	mm_buf_printf(&b, "max_connections_per_user = %u\n", cfg->max_connections_per_user);
	mm_buf_printf(&b, "ipv6_prefix = %u\n", cfg->ipv6_prefix);

	mm_buf_printf(&b, "\n[sieve]\n");
	size_format(cfg->sieve_max_script_size, tmp, sizeof(tmp));
	mm_buf_printf(&b, "max_script_size = %s\n", tmp);
	mm_buf_printf(&b, "max_actions = %u\n", cfg->sieve_max_actions);
	mm_buf_printf(&b, "max_redirects = %u\n", cfg->sieve_max_redirects);
	mm_buf_printf(&b, "vacation_min_days = %u\n", cfg->sieve_vacation_min_days);

	char hbuf[300];
	mm_buf_printf(&b, "\n[relay]\n");
	if (cfg->has_smarthost) {
		host_format(&cfg->smarthost, hbuf, sizeof(hbuf));
		mm_buf_printf(&b, "smarthost = %s\n", hbuf);
	} else {
		mm_buf_printf(&b, "# smarthost not set: delivery by MX\n");
	}
	if (cfg->smarthost_user != NULL)
		mm_buf_printf(&b, "smarthost_user = %s\n", cfg->smarthost_user);
	if (cfg->smarthost_password != NULL)
		mm_buf_printf(&b, "smarthost_password = %s\n", cfg->smarthost_password);
	mm_buf_printf(&b, "smarthost_tls = %s\n",
	    cfg->smarthost_tls == CONFIG_RELAY_TLS_IMPLICIT ? "implicit" :
	    cfg->smarthost_tls == CONFIG_RELAY_TLS_NONE ? "none" : "starttls");
	mm_buf_printf(&b, "smarthost_verify = %s\n", cfg->smarthost_verify ? "yes" : "no");
	if (cfg->smarthost_ca != NULL)
		mm_buf_printf(&b, "smarthost_ca = %s\n", cfg->smarthost_ca);
	mm_buf_printf(&b, "require_tls = %s\n", cfg->relay_require_tls ? "yes" : "no");
	duration_format(cfg->queue_lifetime, tmp, sizeof(tmp));
	mm_buf_printf(&b, "queue_lifetime = %s\n", tmp);
	duration_format(cfg->delay_warning, tmp, sizeof(tmp));
	mm_buf_printf(&b, "delay_warning = %s\n", tmp);
	duration_format(cfg->retry_interval, tmp, sizeof(tmp));
	mm_buf_printf(&b, "retry_interval = %s\n", tmp);
	duration_format(cfg->retry_max_interval, tmp, sizeof(tmp));
	mm_buf_printf(&b, "retry_max_interval = %s\n", tmp);
	mm_buf_printf(&b, "max_concurrency = %u\n", cfg->relay_max_concurrency);
	mm_buf_printf(&b, "max_per_destination = %u\n", cfg->relay_max_per_destination);
	mm_buf_printf(&b, "mta_sts = %s\n", cfg->relay_mta_sts ? "yes" : "no");
	mm_buf_printf(&b, "dane = %s\n", cfg->relay_dane ? "yes" : "no");
	if (cfg->mta_sts_ca != NULL)
		mm_buf_printf(&b, "mta_sts_ca = %s\n", cfg->mta_sts_ca);
	mm_buf_printf(&b, "mx_port = %u\n", cfg->relay_mx_port);
	mm_buf_printf(&b, "mta_sts_port = %u\n", cfg->mta_sts_port);
	duration_format(cfg->mta_sts_timeout, tmp, sizeof(tmp));
	mm_buf_printf(&b, "mta_sts_timeout = %s\n", tmp);
	if (cfg->nroutes > 0) {
		mm_buf_printf(&b, "routes =");
		for (size_t i = 0; i < cfg->nroutes; i++) {
			host_format(&cfg->routes[i].dest, hbuf, sizeof(hbuf));
			mm_buf_printf(&b, " %s=%s", cfg->routes[i].domain, hbuf);
		}
		mm_buf_appendc(&b, '\n');
	}

	mm_buf_printf(&b, "\n[dns]\n");
	if (cfg->dns_nameservers.n == 0)
		mm_buf_printf(&b, "# nameservers not set: those of /etc/resolv.conf\n");
	else {
		mm_buf_printf(&b, "nameservers =");
		for (size_t i = 0; i < cfg->dns_nameservers.n; i++)
			mm_buf_printf(&b, " %s", cfg->dns_nameservers.v[i]);
		mm_buf_appendc(&b, '\n');
	}
	duration_format(cfg->dns_timeout, tmp, sizeof(tmp));
	mm_buf_printf(&b, "timeout = %s\n", tmp);
	mm_buf_printf(&b, "dnssec = %s\n", cfg->dns_dnssec == CONFIG_DNSSEC_VALIDATE ?
	    "validate" : cfg->dns_dnssec == CONFIG_DNSSEC_TRUST_AD ? "trust-ad" : "off");
	mm_buf_printf(&b, "trust_anchor = %s\n", cfg->dns_trust_anchor);

	mm_buf_printf(&b, "\n[inbound]\n");
	mm_buf_printf(&b, "spf = %s\ndkim = %s\ndmarc = %s\ndmarc_reject = %s\n",
	    cfg->inbound_spf ? "yes" : "no", cfg->inbound_dkim ? "yes" : "no",
	    cfg->inbound_dmarc ? "yes" : "no", cfg->inbound_dmarc_reject ? "yes" : "no");
	for (int z = 0; z < 2; z++) {
		const struct mm_strlist *l = z == 0 ? &cfg->inbound_dnsbl : &cfg->inbound_dnswl;
		mm_buf_printf(&b, "%s =", z == 0 ? "dnsbl" : "dnswl");
		if (l->n == 0)
			mm_buf_printf(&b, " off");
		for (size_t i = 0; i < l->n; i++)
			mm_buf_printf(&b, " %s", l->v[i]);
		mm_buf_appendc(&b, '\n');
	}
	mm_buf_printf(&b, "milters =");
	if (cfg->nmilters == 0)
		mm_buf_printf(&b, " off");
	for (size_t i = 0; i < cfg->nmilters; i++) {
		const struct config_milter *m = &cfg->milters[i];
		if (m->family == AF_UNIX)
			mm_buf_printf(&b, " unix:%s", m->path);
		else
			mm_buf_printf(&b, " %s:%s:%u", m->family == AF_INET6 ? "inet6" : "inet",
			    m->host, m->port);
	}
	duration_format(cfg->milter_timeout, tmp, sizeof(tmp));
	mm_buf_printf(&b, "\nmilter_timeout = %s\nmilter_default_action = %s\n", tmp,
	    cfg->milter_default_accept ? "accept" : "tempfail");
	mm_buf_printf(&b, "\n[dkim]\n");
	mm_buf_printf(&b, "selector = %s\n", cfg->dkim_selector);
	mm_buf_printf(&b, "sign = %s\n", cfg->dkim_sign ? "yes" : "no");
	mm_buf_printf(&b, "algorithms =%s%s\n", cfg->dkim_rsa ? " rsa-sha256" : "",
	    cfg->dkim_ed25519 ? " ed25519-sha256" : "");
	return mm_buf_cstr(&b);
}
