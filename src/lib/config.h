/* config.h: /etc/minimaild.conf, parsed into one immutable struct config.
 * The parser is pure (no libevent, OpenSSL or db.h) so that unit tests and
 * fuzzers feed it bytes. It reports every error it finds, each as
 * "FILE:LINE: message", not only the first. SIGHUP builds a new struct
 * config and swaps it in only when it parsed cleanly. */
#ifndef MM_CONFIG_H
#define MM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/util.h"

/* The listeners of [listen], in this order everywhere. */
enum listener_id {
	LSN_SMTP = 0,      /* 25   SMTP, STARTTLS */
	LSN_SUBMISSION,    /* 587  SMTP, STARTTLS, AUTH required */
	LSN_SUBMISSIONS,   /* 465  SMTP, implicit TLS, AUTH required */
	LSN_IMAP,          /* 143  IMAP, STARTTLS */
	LSN_IMAPS,         /* 993  IMAP, implicit TLS */
	LSN_POP3,          /* 110  POP3, STLS */
	LSN_POP3S,         /* 995  POP3, implicit TLS */
	LSN_MANAGESIEVE,   /* 4190 ManageSieve, STARTTLS; off by default */
	LSN_COUNT
};

/* One address to bind. host is "" for "all addresses" (a bare port). */
struct config_addr {
	char host[64];     /* "127.0.0.1", "::1" (no brackets), or "" */
	uint16_t port;
};

/* At most this many addresses in one [listen] value. */
#define CONFIG_LISTEN_ADDRS_MAX 32

struct config_listen {
	struct config_addr *addrs;
	size_t naddrs;     /* 0 means "off" */
};

/* [relay]: a host to send to. host is a domain name or an IP address
 * (without brackets). */
struct config_relay_host {
	char host[256];
	uint16_t port;
};

/* [relay] routes: mail for domain goes to dest (like a transport map). */
struct config_route {
	char domain[256];          /* lower-case */
	struct config_relay_host dest;
};

#define CONFIG_ROUTES_MAX 256

/* [relay] smarthost_tls */
enum config_relay_tls {
	CONFIG_RELAY_TLS_STARTTLS = 0,  /* default: STARTTLS, required */
	CONFIG_RELAY_TLS_IMPLICIT,      /* TLS from the first byte (port 465) */
	CONFIG_RELAY_TLS_NONE,          /* plain text (tests, trusted LAN) */
};

/* [dns] dnssec */
enum config_dnssec {
	CONFIG_DNSSEC_OFF = 0,          /* default: nothing is "secure" (no DANE) */
	CONFIG_DNSSEC_VALIDATE,         /* libunbound validates (trust_anchor) */
	CONFIG_DNSSEC_TRUST_AD,         /* the AD bit of loopback name servers */
};

/* [tls] mta_sts_mode: the mode of the policy we publish (RFC 8461 3.2) */
enum config_mta_sts_mode {
	CONFIG_MTA_STS_TESTING = 0,
	CONFIG_MTA_STS_ENFORCE,
	CONFIG_MTA_STS_NONE,
};

#define CONFIG_NAMESERVERS_MAX 8
#define CONFIG_DEFAULT_TRUST_ANCHOR "/usr/share/dns/root.key"   /* dns-root-data */

/* [inbound] milters: one milter's socket */
struct config_milter {
	int family;                 /* AF_INET, AF_INET6, AF_UNIX */
	char host[64];
	uint16_t port;
	char path[108];
};
#define CONFIG_MILTERS_MAX 8
#define CONFIG_MILTER_TIMEOUT_MAX_SECS 3600

struct config {
	char *path;                 /* the file it came from ("(embedded)" for defaults) */

	/* top level */
	char *hostname;             /* default: the machine's FQDN */
	/* 'hostname' was not set: config_parse() put gethostname() (no DNS)
	 * there, and hostname_config() (net/hostname.h) makes it the FQDN. */
	bool hostname_default;
	struct mm_strlist domains;  /* required; lower-cased */
	char *data_dir;             /* default /var/lib/minimaild */
	char *run_as;               /* default "minimaild" */
	int log_level;              /* enum log_level; default info */

	/* [listen] */
	struct config_listen listen[LSN_COUNT];
	/* [listen] http: the autoconfig/autodiscover web listener (net/http.c),
	 * off (naddrs 0) by default. Not a protocol listener, so not in enum
	 * listener_id. */
	struct config_listen http_listen;
	/* [listen] metrics: GET /metrics, Prometheus text (net/metrics.c); off
	 * (naddrs 0) by default. */
	struct config_listen metrics_listen;

	/* [tls] */
	char *tls_cert;             /* NULL: self-signed in data_dir */
	char *tls_key;
	int tls_min_version;        /* 0x0303 TLSv1.2 (default), 0x0304 TLSv1.3 */

	/* [auth] */
	bool allow_plaintext_auth;  /* default no */
	unsigned auth_cache_ttl;    /* seconds, default 5m; 0 = no auth cache */

	/* [limits] */
	uint64_t max_message_size;  /* bytes, default 50M */
	uint64_t max_memory;        /* [limits] message bytes in RAM, all sessions; default 512M */
	unsigned max_recipients;    /* default 100 */
	unsigned max_connections;   /* default 10000 */
	unsigned max_connections_per_ip; /* default 50 */
	unsigned max_sent_per_hour;  /* per user, through the queue; 0 = no limit */
	unsigned max_rcpts_per_hour; /* per user, through the queue; 0 = no limit */
	unsigned max_connections_per_user; /* default 50: logged-in sessions of one user */
	unsigned ipv6_prefix;       /* default 64: IPv6 clients grouped by this prefix */

	/* [relay]: outbound delivery (src/relay) */
	bool has_smarthost;         /* smarthost set: everything goes there */
	struct config_relay_host smarthost;  /* port default by smarthost_tls */
	char *smarthost_user;       /* NULL: no AUTH */
	char *smarthost_password;
	int smarthost_tls;          /* enum config_relay_tls */
	bool smarthost_verify;      /* default yes: check the certificate */
	char *smarthost_ca;         /* CA file; NULL: the system's CA store */
	bool relay_require_tls;     /* default no: STARTTLS opportunistic */
	uint64_t queue_lifetime;    /* seconds, default 5d */
	uint64_t delay_warning;     /* seconds, default 4h; 0 = off */
	uint64_t retry_interval;    /* seconds, default 5m: the first retry */
	uint64_t retry_max_interval;/* seconds, default 4h: the doubling stops here */
	unsigned relay_max_concurrency;      /* default 20 connections */
	unsigned relay_max_per_destination;  /* default 4 connections */
	struct config_route *routes;
	size_t nroutes;

	/* [dns]: the resolver (net/dns.c) */
	struct mm_strlist dns_nameservers;  /* "IP@PORT"; empty: /etc/resolv.conf */
	uint64_t dns_timeout;       /* seconds per attempt (2 attempts), default 5s */
	int dns_dnssec;             /* enum config_dnssec, default off */
	char *dns_trust_anchor;     /* for validate; default CONFIG_DEFAULT_TRUST_ANCHOR */

	/* [tls] mta_sts_mode: our published MTA-STS policy (net/http.c) */
	int mta_sts_mode;           /* enum config_mta_sts_mode, default testing */

	/* [relay]: outbound TLS policy per destination (src/relay/relay-policy.c) */
	bool relay_mta_sts;         /* default yes: honour MTA-STS (RFC 8461) */
	bool relay_dane;            /* default yes: DANE (RFC 7672) when DNSSEC is on */
	char *mta_sts_ca;           /* CA file for MTA-STS; NULL: the system's store */
	uint16_t relay_mx_port;     /* default 25; tests point MX hosts elsewhere */
	uint16_t mta_sts_port;      /* default 443 (RFC 8461 3.3); for tests */

	/* [inbound]: judging mail that arrives on port 25 (src/inbound) */
	bool inbound_spf;           /* default yes: RFC 7208 */
	bool inbound_dkim;          /* default yes: RFC 6376, every signature */
	bool inbound_dmarc;         /* default yes: RFC 7489 */
	bool inbound_dmarc_reject;  /* default yes: p=reject fails get 550 5.7.1 */
	struct mm_strlist inbound_dnsbl;  /* zones; empty: off (the default) */
	struct mm_strlist inbound_dnswl;  /* zones whose listing skips the DNSBLs */
	struct config_milter milters[CONFIG_MILTERS_MAX];  /* [inbound] milters */
	size_t nmilters;
	uint64_t milter_timeout;    /* seconds, each milter, each reply; default 30s */
	bool milter_default_accept; /* a milter that fails: skip it (default: 451) */

	/* [dkim]: signing mail from local domains (src/dkim) */
	char *dkim_selector;        /* default "mm2026": selectors S-rsa, S-ed25519 */
	bool dkim_sign;             /* default yes */
	bool dkim_rsa;              /* algorithms: rsa-sha256 (default on) */
	bool dkim_ed25519;          /*   ed25519-sha256 (default on) */
	uint64_t mta_sts_timeout;   /* seconds a policy fetch may take, default 60s */
	/* [sieve]: filtering at delivery (src/sieve) */
	uint64_t sieve_max_script_size; /* bytes, default 64K */
	unsigned sieve_max_actions;     /* default 32 */
	unsigned sieve_max_redirects;   /* default 4 */
	unsigned sieve_vacation_min_days; /* default 1 */
};

/* [inbound] dnsbl / dnswl: zones at most */
#define CONFIG_DNSBL_ZONES_MAX 8
/* "inet:HOST:PORT", "inet6:HOST:PORT", "unix:/PATH" (Postfix's syntax);
 * false with a reason in err. */
bool config_parse_milter(const char *s, struct config_milter *m, char *err, size_t errlen);

/* A [dkim] selector: labels of letters, digits and '-' (not at either
 * end), separated by dots, at most DKIM_SELECTOR_MAX_BYTES in all. */
bool config_dkim_selector_valid(const char *s);

/* The route for domain (any case), or NULL. */
const struct config_route *config_route_find(const struct config *cfg,
    const char *domain);
/* "host", "host:port", "[v6]:port", "v4:port" into h (port 0 when not
 * given). On error false and a message in err. */
bool config_parse_relay_host(const char *s, struct config_relay_host *h,
    char *err, size_t errlen);

/* [dns] nameservers: "127.0.0.1 127.0.0.1@5353 127.0.0.1:5353 [::1]:53
 * ::1" into out as libunbound's "IP@PORT" strings (port 53 when not
 * given). On error false and a message in err. */
bool config_parse_nameservers(const char *s, struct mm_strlist *out, char *err,
    size_t errlen);

/* Names as written in [listen], indexed by enum listener_id. */
extern const char *const config_listener_names[LSN_COUNT];

/* Errors are "FILE:LINE: message", in line order; a problem of the whole
 * file (unreadable, too large) is "FILE: message". Warnings are
 * "FILE:LINE: warning: message" or "FILE: warning: message". A missing
 * 'domains' is reported on line 1; a conflict between two keys on the line
 * of the later one. */
struct config_errors {
	struct mm_strlist errors;
	struct mm_strlist warnings;
};
void config_errors_init(struct config_errors *e);
void config_errors_clear(struct config_errors *e);

/* Parse text (len bytes, need not be NUL-terminated) as if read from path.
 * Returns a new config on success (no errors; warnings may be present), or
 * NULL with every error appended to errs. */
struct config *config_parse(const char *path, const char *text, size_t len,
    struct config_errors *errs);
/* Read and parse a file; an unreadable file is one error "FILE: message". */
struct config *config_load(const char *path, struct config_errors *errs);
void config_free(struct config **cfg);

/* Values: "50M" -> 52428800 (K/M/G, powers of 1024); "30m" -> 1800 s
 * (s/m/h/d). Return false on bad syntax or overflow. */
bool config_parse_size(const char *s, uint64_t *bytes_r);
bool config_parse_duration(const char *s, uint64_t *secs_r);
/* "127.0.0.1:1143 [::1]:1143 25" or "off". On error returns false and puts
 * a message (without FILE:LINE) in err. */
bool config_parse_listen(const char *s, struct config_listen *l_r, char *err, size_t errlen);

/* Is domain (any case) one of cfg->domains? */
bool config_is_local_domain(const struct config *cfg, const char *domain);

/* The effective config in file syntax (every key, defaults included),
 * malloc'd; config_parse() of it gives the same config back. For
 * "minimaild -t -v" and tests. */
char *config_dump(const struct config *cfg);
/* Is s a host name (RFC 1035 syntax, at most 253 bytes)? */
bool config_hostname_valid(const char *s);

#endif
