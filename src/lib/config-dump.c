/* config-dump.c: the effective configuration in file syntax, every key
 * with its default included, so that config_parse() of it gives the same
 * config back ("minimaild -t -v", tests and the fuzzer's round trip). */
#include "lib/config-int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

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
