/* config.c: the /etc/minimaild.conf parser (DESIGN.md Part B).
 *
 * One pass over the text, line by line: each line is a comment, a
 * "[section]" header or "key = value". Every key lives in one table,
 * keytab[], with its section and a setter that checks the value and
 * stores it; to add a key, add a row there, its setter (config-keys.c, or
 * config-relay.c for [relay] and [dns]), its default in
 * config_new_defaults() and its line in config_dump() (config-dump.c),
 * the default file etc/minimaild.conf and doc/minimaild.conf.5. Checks
 * that involve several keys (cert/key pairs, listeners sharing a port, the
 * required 'domains') run after the pass (config-check.c). Errors are
 * collected with their line number and handed out sorted by line, so that
 * a user sees every mistake of the file at once, in file order. What the
 * config*.c files share is in config-int.h. */
#include "lib/config-int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
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

static const char *const section_names[] = {
	"", "listen", "tls", "auth", "limits", "relay",
	"dns",
	"inbound",
	"dkim",
	"sieve",
};

const struct key keytab[] = {
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

void __attribute__((format(printf, 3, 4)))
perr(struct parser *p, unsigned line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	msg_vadd(p, &p->errors, line, false, fmt, ap);
	va_end(ap);
}

void __attribute__((format(printf, 3, 4)))
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
const char *
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

/* Decimal digits only, no sign; false on empty or overflow. */
bool
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
bool
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
bool
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

unsigned
key_line(const struct parser *p, const char *name)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strcmp(keytab[i].name, name) == 0)
			return p->key_line[i];
	return 0;
}

bool
config_hostname_valid(const char *s)
{
	return valid_domain(s);
}

/* The default of 'hostname' without DNS: gethostname() if it is a host
 * name, else "localhost". The daemon makes it the fully qualified name
 * (hostname_config() in net/hostname.c: the lookup can block). */
static char *
default_hostname_local(void)
{
	char name[HOSTNAME_MAX_BYTES + 2];

	if (gethostname(name, sizeof(name)) != 0)
		return xstrdup("localhost");
	name[sizeof(name) - 1] = '\0';
	if (valid_domain(name))
		return mm_strlower(xstrdup(name));
	return xstrdup("localhost");
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
	if (p.cfg->hostname == NULL) {
		p.cfg->hostname = default_hostname_local();
		p.cfg->hostname_default = true;
	}
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
