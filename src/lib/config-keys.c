/* config-keys.c: the key setters of the top level, [listen], [tls],
 * [auth], [limits], [sieve], [dkim] and [inbound] (config.c's keytab[]
 * names them), and the listen address syntax. Each setter checks one
 * value and stores it in the config, or reports it with perr(). */
#include "lib/config-int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* ---- listen addresses ---- */

/* "25", "127.0.0.1:25", "[::1]:25" */
void
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
bool
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

bool
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

void
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

/* The next space-separated word at *sp, lowercased (xmalloc'd; the
 * caller frees it), with *sp moved past it; NULL when none is left. */
static char *
next_word_lower(const char **sp)
{
	const char *s = *sp;
	while (is_space(*s))
		s++;
	if (*s == '\0')
		return NULL;
	size_t len = 0;
	while (s[len] != '\0' && !is_space(s[len]))
		len++;
	*sp = s + len;
	return mm_strlower(xstrndup(s, len));
}

void
set_domains(struct parser *p, const struct key *k, const char *v)
{
	struct mm_strlist *l = &p->cfg->domains;
	char qv[QUOTE_MAX_BYTES];
	const char *s = v;

	char *d;
	while ((d = next_word_lower(&s)) != NULL) {
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

void
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

void
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

void
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
struct config_listen *
listen_slot(struct config *cfg, int id)
{
	if (id == LISTEN_METRICS)
		return &cfg->metrics_listen;
	return id == LISTEN_HTTP ? &cfg->http_listen : &cfg->listen[id];
}

const char *
listen_name(int id)
{
	if (id == LISTEN_METRICS)
		return "metrics";
	return id == LISTEN_HTTP ? "http" : config_listener_names[id];
}

void
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

void
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

void
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
bool
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

void
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

/* A size key in [min, max] (range says it in words): n, or false after
 * the error. */
static bool
size_in_range(struct parser *p, const struct key *k, const char *v, uint64_t min,
    uint64_t max, const char *range, uint64_t *n_r)
{
	char qv[QUOTE_MAX_BYTES];

	if (!config_parse_size(v, n_r)) {
		perr(p, p->line, "%s: bad size '%s' (expected a number with "
		    "optional K, M or G)", k->name, q(qv, v));
		return false;
	}
	if (*n_r < min || *n_r > max) {
		perr(p, p->line, "%s: size '%s' is out of range (expected %s)",
		    k->name, q(qv, v), range);
		return false;
	}
	return true;
}

/* [limits] max_memory (issue 18): from 1M to 1T. */
void
set_max_memory(struct parser *p, const struct key *k, const char *v)
{
	uint64_t n;

	if (size_in_range(p, k, v, MAX_MEMORY_MIN_BYTES, MAX_MEMORY_MAX_BYTES, "1M to 1024G", &n))
		p->cfg->max_memory = n;
}

void
set_size(struct parser *p, const struct key *k, const char *v)
{
	uint64_t n;

	if (size_in_range(p, k, v, MSG_SIZE_MIN_BYTES, MSG_SIZE_MAX_BYTES, "1K to 2G", &n))
		p->cfg->max_message_size = n;
}

void
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
void
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


/* [auth] cache_ttl: 0 (off) up to AUTH_CACHE_TTL_MAX_SECS. */
void
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


/* ---- [sieve] ---- */

/* Bounds of [sieve] (the defaults are in limits.h). */
#define SIEVE_CFG_SCRIPT_MAX_BYTES (1024ULL * 1024)	/* 1M */
#define SIEVE_CFG_ACTIONS_MAX      1000
#define SIEVE_CFG_REDIRECTS_MAX    100

void
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

void
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

void
set_dkim_sign(struct parser *p, const struct key *k, const char *v)
{
	parse_yes_no(p, k, v, &p->cfg->dkim_sign);
}

void
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


void
set_inbound_bool(struct parser *p, const struct key *k, const char *v)
{
	bool *dst[] = { &p->cfg->inbound_spf, &p->cfg->inbound_dkim,
	    &p->cfg->inbound_dmarc, &p->cfg->inbound_dmarc_reject };

	(void)parse_yes_no(p, k, v, dst[k->arg]);
}

/* "off", or DNS zones separated by spaces (at most
 * CONFIG_DNSBL_ZONES_MAX). */
void
set_inbound_zones(struct parser *p, const struct key *k, const char *v)
{
	struct mm_strlist *l = k->arg == IZONES_DNSBL ? &p->cfg->inbound_dnsbl :
	    &p->cfg->inbound_dnswl;
	char qv[QUOTE_MAX_BYTES];
	const char *s = v;

	mm_strlist_clear(l);
	if (strcmp(v, "off") == 0)
		return;
	char *d;
	while ((d = next_word_lower(&s)) != NULL) {
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
void
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

void
set_milter_timeout(struct parser *p, const struct key *k, const char *v)
{
	set_timeout_secs(p, k, v, CONFIG_MILTER_TIMEOUT_MAX_SECS, &p->cfg->milter_timeout);
}

void
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
