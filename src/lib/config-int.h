/* config-int.h: what config.c, config-keys.c, config-relay.c,
 * config-check.c and config-dump.c share, and nothing outside them
 * includes: the parser state, the key table and its setters, the message
 * helpers and the value syntax. */
#ifndef MM_CONFIG_INT_H
#define MM_CONFIG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/config.h"
#include "lib/limits.h"
#include "lib/log.h"

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

key_setter set_sieve;
enum { SIEVE_K_SCRIPT_SIZE, SIEVE_K_ACTIONS, SIEVE_K_REDIRECTS, SIEVE_K_VACATION_DAYS };

key_setter set_hostname, set_domains, set_data_dir, set_run_as,
    set_log_level, set_listen, set_path, set_min_version, set_bool,
    set_size, set_number, set_smarthost, set_relay_string, set_relay_tls,
    set_relay_bool, set_relay_duration, set_relay_number, set_routes;
/* [auth] cache_ttl */
key_setter set_auth_cache_ttl;
key_setter set_max_memory;   /* [limits] max_memory (issue 18) */
/* [dns], [tls] mta_sts_mode, [relay] mx_port / mta_sts / dane (outbound
 * policy): setters below config_parse_nameservers(). */
key_setter set_dns_nameservers, set_dns_timeout, set_dns_dnssec,
    set_dns_trust_anchor, set_mta_sts_mode, set_policy_bool, set_policy_port,
    set_mta_sts_ca, set_mta_sts_timeout;
enum { PBOOL_MTA_STS, PBOOL_DANE };
/* [inbound]: setters after the [dns] ones. */
key_setter set_inbound_bool, set_inbound_zones, set_milters,
    set_milter_timeout, set_milter_default;
enum { IBOOL_SPF, IBOOL_DKIM, IBOOL_DMARC, IBOOL_DMARC_REJECT };
enum { IZONES_DNSBL, IZONES_DNSWL };
enum { PPORT_MX, PPORT_MTA_STS };
key_setter set_dkim_selector, set_dkim_sign, set_dkim_algorithms;
key_setter set_hourly;
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


/* The table of every key (config.c), and its length. */
extern const struct key keytab[];

/* ---- config.c: messages and value syntax ---- */

void __attribute__((format(printf, 3, 4)))
perr(struct parser *p, unsigned line, const char *fmt, ...);
void __attribute__((format(printf, 3, 4)))
pwarn(struct parser *p, unsigned line, const char *fmt, ...);
/* A value for a message: escaped and cut at QUOTE_MAX_BYTES. */
const char *q(char buf[QUOTE_MAX_BYTES], const char *s);

static inline bool
is_space(char c)
{
	return c == ' ' || c == '\t';
}

static inline bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static inline bool
is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Decimal digits only, no sign; false on empty or overflow. */
bool parse_u64(const char *s, size_t n, uint64_t *r);
/* RFC 1035 host name syntax, at most 253 bytes. */
bool valid_domain(const char *s);
/* Portable user names (run_as). */
bool valid_username(const char *s);
/* The line a key (by name) was set on, 0 if it was not. */
unsigned key_line(const struct parser *p, const char *name);

/* ---- config-keys.c ---- */

/* "25", "127.0.0.1:25", "[::1]:25" */
void addr_format(const struct config_addr *a, char *buf, size_t len);
/* Can a and b not both be bound? */
bool addr_conflict(const struct config_addr *a, const struct config_addr *b);
bool parse_port(const char *s, size_t n, uint16_t *port_r);
/* The [listen] entry of slot id (an enum listener_id, LISTEN_HTTP or
 * LISTEN_METRICS), and its key name. */
struct config_listen *listen_slot(struct config *cfg, int id);
const char *listen_name(int id);
/* yes/true/on/1 or no/false/off/0, any case; else an error, and false. */
bool parse_yes_no(struct parser *p, const struct key *k, const char *v, bool *r);

/* ---- config-relay.c ---- */

/* A duration from 1s to max_secs into *dst, else an error. */
void set_timeout_secs(struct parser *p, const struct key *k, const char *v,
    int max_secs, uint64_t *dst);
/* An absolute path into *dst (malloc'd), else an error. */
void set_abs_path(struct parser *p, const struct key *k, const char *v, char **dst);

/* ---- config-check.c ---- */

/* The whole-file checks, after the last line. */
void check_file(struct parser *p);

#endif
