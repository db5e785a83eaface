/* config-relay.c: the outbound side of the configuration: [relay]
 * (smarthost, routes, queue timing, MTA-STS and DANE policy), [dns] and
 * [tls] mta_sts_mode; and the relay host and name server syntax. */
#include "lib/config-int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

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

void
set_smarthost(struct parser *p, const struct key *k, const char *v)
{
	char err[256];
	if (!config_parse_relay_host(v, &p->cfg->smarthost, err, sizeof(err))) {
		perr(p, p->line, "smarthost: %s", err);
		return;
	}
	p->cfg->has_smarthost = true;
}

void
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

void
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

void
set_relay_bool(struct parser *p, const struct key *k, const char *v)
{
	(void)parse_yes_no(p, k, v, k->arg == RBOOL_VERIFY ?
	    &p->cfg->smarthost_verify : &p->cfg->relay_require_tls);
}

void
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

void
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
void
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

void
set_dns_nameservers(struct parser *p, const struct key *k, const char *v)
{
	char err[256];
	if (!config_parse_nameservers(v, &p->cfg->dns_nameservers, err, sizeof(err)))
		perr(p, p->line, "%s: %s", k->name, err);
}

/* A timeout: a duration from 1s to max_secs into *dst, else an error
 * that names the range. */
void
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

void
set_dns_timeout(struct parser *p, const struct key *k, const char *v)
{
	set_timeout_secs(p, k, v, DNS_TIMEOUT_MAX_SECS, &p->cfg->dns_timeout);
}

void
set_mta_sts_timeout(struct parser *p, const struct key *k, const char *v)
{
	set_timeout_secs(p, k, v, MTA_STS_FETCH_TIMEOUT_MAX_SECS, &p->cfg->mta_sts_timeout);
}

void
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

void
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

void
set_dns_trust_anchor(struct parser *p, const struct key *k, const char *v)
{
	set_abs_path(p, k, v, &p->cfg->dns_trust_anchor);
}

void
set_mta_sts_ca(struct parser *p, const struct key *k, const char *v)
{
	set_abs_path(p, k, v, &p->cfg->mta_sts_ca);
}

void
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

void
set_policy_bool(struct parser *p, const struct key *k, const char *v)
{
	(void)parse_yes_no(p, k, v, k->arg == PBOOL_MTA_STS ?
	    &p->cfg->relay_mta_sts : &p->cfg->relay_dane);
}

void
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
