/* check_config.c: unit tests of the config parser (src/lib/config.c).
 * Tables of files: good ones are checked through config_dump() lines and
 * their exact warnings, bad ones by the exact "FILE:LINE: message" list.
 * To add a case, add a row; the loop tests pick it up. */
#include "lib/config.h"
#include "lib/limits.h"
#include "lib/log.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef ABS_TOP_SRCDIR
#define ABS_TOP_SRCDIR "."
#endif

#define F "t.conf"
#define NOCERT F ": warning: [tls] sets no cert and key; minimaild will " \
	"create a self-signed certificate in /var/lib/minimaild"
#define TLS "[tls]\ncert = /etc/c.pem\nkey = /etc/k.pem\n"

/* All of errs->errors (or warnings) joined, for failure messages. */
static char *
join(const struct mm_strlist *l)
{
	struct mm_buf b;
	mm_buf_init(&b);
	for (size_t i = 0; i < l->n; i++)
		mm_buf_printf(&b, "\n  [%zu] %s", i, l->v[i]);
	if (l->n == 0)
		mm_buf_printf(&b, " (none)");
	return mm_buf_cstr(&b);
}

static void
assert_list(const struct mm_strlist *got, const char *const *want,
    const char *what, int idx)
{
	size_t n = 0;
	while (want[n] != NULL)
		n++;
	char *g = join(got);
	ck_assert_msg(got->n == n, "case %d: %zu %s, want %zu; got:%s", idx,
	    got->n, what, n, g);
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(strcmp(got->v[i], want[i]) == 0,
		    "case %d: %s[%zu]\n  got  '%s'\n  want '%s'", idx, what, i,
		    got->v[i], want[i]);
	free(g);
}

/* ---- good files ---- */

#define GOOD_HASH \
	"# a comment\n" \
	"\n" \
	"   \t\n" \
	"\tdomains\t=\texample.org   # trailing comment\r\n" \
	"data_dir = /var/mail#box #comment\n" \
	"  [ limits ]  # section comment\n" \
	"max_recipients=150\n" \
	"[tls]\n" \
	"cert = /x y/c.pem\n" \
	"key=/k\n"

struct good_case {
	const char *text;
	const char *lines[24];      /* lines config_dump() must contain */
	const char *warnings[8];    /* exactly these warnings */
};

static const struct good_case good[] = {
	/* 0: minimal file: every default */
	{ "domains = example.org\n",
	  { "domains = example.org", "data_dir = /var/lib/minimaild",
	    "run_as = minimaild", "log_level = info", "smtp = 25",
	    "submission = 587", "submissions = 465", "imap = 143",
	    "imaps = 993", "pop3 = 110", "pop3s = 995", "http = off",
	    "min_version = TLSv1.2", "allow_plaintext_auth = no",
	    "cache_ttl = 5m", "max_message_size = 50M", "max_recipients = 100", NULL },
	  { NOCERT, NULL } },
	/* 1: every key set */
	{ "hostname = Mail.Example.ORG\n"
	  "domains = Example.org  example.NET\n"
	  "data_dir = /srv/mail data\n"
	  "run_as = mail_user\n"
	  "log_level = debug\n"
	  "[listen]\n"
	  "smtp = 2525\n"
	  "submission = 127.0.0.1:5870\n"
	  "submissions = [::1]:4650\n"
	  "imap = 127.0.0.1:1143 [::1]:1143\n"
	  "imaps = off\n"
	  "pop3 = 0.0.0.0:1110\n"
	  "pop3s = [::]:1995\n"
	  "http = 127.0.0.1:8080 [::1]:8080\n"
	  "[tls]\n"
	  "cert = /etc/minimaild/tls/fullchain.pem\n"
	  "key = /etc/minimaild/tls/privkey.pem\n"
	  "min_version = TLSv1.3\n"
	  "[auth]\n"
	  "allow_plaintext_auth = no\n"
	  "[limits]\n"
	  "max_message_size = 10m\n"
	  "max_recipients = 500\n"
	  "max_connections = 200\n"
	  "max_connections_per_ip = 20\n",
	  { "hostname = mail.example.org", "domains = example.org example.net",
	    "data_dir = /srv/mail data", "run_as = mail_user",
	    "log_level = debug", "smtp = 2525",
	    "submission = 127.0.0.1:5870", "submissions = [::1]:4650",
	    "imap = 127.0.0.1:1143 [::1]:1143", "imaps = off",
	    "pop3 = 0.0.0.0:1110", "pop3s = [::]:1995",
	    "http = 127.0.0.1:8080 [::1]:8080",
	    "cert = /etc/minimaild/tls/fullchain.pem",
	    "key = /etc/minimaild/tls/privkey.pem", NULL },
	  { NULL } },
	/* 2: comments, blank lines, white space, CRLF, '#' inside a value */
	{ GOOD_HASH,
	  { "domains = example.org", "data_dir = /var/mail#box",
	    "max_recipients = 150", "cert = /x y/c.pem", "key = /k", NULL },
	  { NULL } },
	/* 3: sizes */
	{ "domains = a.org\n" TLS "[limits]\nmax_message_size = 1024\n",
	  { "max_message_size = 1K", NULL }, { NULL } },
	{ "domains = a.org\n" TLS "[limits]\nmax_message_size = 2G\n",
	  { "max_message_size = 2G", NULL }, { NULL } },
	{ "domains = a.org\n" TLS "[limits]\nmax_message_size = 1536K\n",
	  { "max_message_size = 1536K", NULL }, { NULL } },
	{ "domains = a.org\n" TLS "[limits]\nmax_message_size = 1000000\n",
	  { "max_message_size = 1000000", NULL }, { NULL } },
	/* 7: booleans */
	{ "domains = a.org\n" TLS "[auth]\nallow_plaintext_auth = Off\n",
	  { "allow_plaintext_auth = no", NULL }, { NULL } },
	{ "domains = a.org\n" TLS "[auth]\nallow_plaintext_auth = 0\n",
	  { "allow_plaintext_auth = no", NULL }, { NULL } },
	{ "domains = a.org\n" TLS "[auth]\nallow_plaintext_auth = TRUE\n",
	  { "allow_plaintext_auth = yes", NULL },
	  { F ":6: warning: allow_plaintext_auth = yes sends passwords in "
	    "clear text; for tests on loopback only", NULL } },
	/* 10: warnings: duplicate domain, few recipients, per-ip > total */
	{ "domains = a.org b.org A.ORG\n" TLS
	  "[limits]\nmax_recipients = 10\nmax_connections = 10\n",
	  { "domains = a.org b.org", "max_recipients = 10", NULL },
	  { F ":1: warning: domains: 'a.org' is listed twice",
	    F ":6: warning: max_recipients below 100 breaks RFC 5321 "
	    "4.5.3.1.8 (a server must accept 100)",
	    F ":7: warning: max_connections_per_ip (50) is larger than "
	    "max_connections (10)", NULL } },
	/* 11: IPv6 forms are canonicalised; single-label names */
	{ "hostname = localhost\ndomains = localhost\n" TLS
	  "[listen]\nimap = [0:0:0:0:0:0:0:1]:143 [2001:DB8::0001]:143 "
	  "10.0.0.1:143\nsmtp = off\nsubmission = off\nsubmissions = off\n",
	  { "hostname = localhost", "domains = localhost",
	    "imap = [::1]:143 [2001:db8::1]:143 10.0.0.1:143", "smtp = off",
	    NULL },
	  { NULL } },
	/* 12: a section may be opened twice; '=' inside a value */
	{ "domains = a.org\n[limits]\nmax_recipients = 7000\n" TLS
	  "[limits]\nmax_connections = 70000\n",
	  { "max_recipients = 7000", "max_connections = 70000", NULL },
	  { NULL } },
	/* 13: different addresses on one port do not conflict */
	{ "domains = a.org\n" TLS "[listen]\nsmtp = 127.0.0.1:2525\n"
	  "imap = [::1]:2525 127.0.0.2:2525\n",
	  { "smtp = 127.0.0.1:2525", "imap = [::1]:2525 127.0.0.2:2525", NULL },
	  { NULL } },
	/* 14: the largest number of addresses in one listener */
	{ "domains = a.org\n" TLS "[listen]\nimap = 1 2 3 4 5 6 7 8 9 10 11 "
	  "12 13 14 15 16 17 18 19 20 21 22 23 24 26 27 28 29 30 31 32 33\n",
	  { "imap = 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 "
	    "23 24 26 27 28 29 30 31 32 33", NULL },
	  { NULL } },
	/* 15: http on a bare port, and 'off' written out */
	{ "domains = a.org\n" TLS "[listen]\nhttp = 80\n",
	  { "http = 80", "smtp = 25", NULL }, { NULL } },
	{ "domains = a.org\n" TLS "[listen]\nhttp = off\n",
	  { "http = off", NULL }, { NULL } },
	/* 17: [relay] defaults; then every key */
	{ "domains = a.org\n" TLS,
	  { "# smarthost not set: delivery by MX", "smarthost_tls = starttls",
	    "smarthost_verify = yes", "require_tls = no", "queue_lifetime = 5d",
	    "delay_warning = 4h", "retry_interval = 5m", "retry_max_interval = 4h",
	    "max_concurrency = 20", "max_per_destination = 4", NULL }, { NULL } },
	{ "domains = a.org\n" TLS "[relay]\nsmarthost = SMTP.Provider.net\n"
	  "smarthost_user = me@a.org\nsmarthost_password = p w\n"
	  "smarthost_tls = implicit\nsmarthost_verify = no\n"
	  "smarthost_ca = /etc/ca.pem\nrequire_tls = yes\nqueue_lifetime = 2d\n"
	  "delay_warning = 0\nretry_interval = 1s\nretry_max_interval = 90s\n"
	  "max_concurrency = 5\nmax_per_destination = 1\n"
	  "routes = remote.test=127.0.0.1:2525 v6.test=[::1]:2600 n.test=mx.n.test\n",
	  { "smarthost = smtp.provider.net:465", "smarthost_user = me@a.org",
	    "smarthost_password = p w", "smarthost_tls = implicit",
	    "smarthost_verify = no", "smarthost_ca = /etc/ca.pem",
	    "require_tls = yes", "queue_lifetime = 2d", "delay_warning = 0s",
	    "retry_interval = 1s", "retry_max_interval = 90s",
	    "max_concurrency = 5", "max_per_destination = 1",
	    "routes = remote.test=127.0.0.1:2525 v6.test=[::1]:2600 "
	    "n.test=mx.n.test:25", NULL }, { NULL } },
	/* 19: smarthost ports by TLS mode; password without TLS warns */
	{ "domains = a.org\n" TLS "[relay]\nsmarthost = 10.0.0.1\n",
	  { "smarthost = 10.0.0.1:587", NULL }, { NULL } },
	{ "domains = a.org\n" TLS "[relay]\nsmarthost = [2001:db8::1]\n"
	  "smarthost_tls = none\nsmarthost_user = u\nsmarthost_password = p\n",
	  { "smarthost = [2001:db8::1]:25", NULL },
	  { F ":7: warning: smarthost_tls = none sends the smarthost password in "
	    "clear text", NULL } },
	/* 21: http next to the protocol listeners on other addresses */
	{ "domains = a.org\n" TLS "[listen]\nhttp = 127.0.0.1:2525\n"
	  "smtp = 127.0.0.2:2525\n",
	  { "http = 127.0.0.1:2525", "smtp = 127.0.0.2:2525", NULL }, { NULL } },
	/* [auth] cache_ttl: default 5m (in case 0), 0 turns it off, 1d the most */
	{ "domains = a.org\n" TLS "[auth]\ncache_ttl = 0\n",
	  { "cache_ttl = 0s", NULL }, { NULL } },
	{ "domains = a.org\n" TLS "[auth]\ncache_ttl = 1d\n",
	  { "cache_ttl = 1d", NULL }, { NULL } },
	{ "domains = a.org\n" TLS "[auth]\ncache_ttl = 90\n",
	  { "cache_ttl = 90s", NULL }, { NULL } },
};

START_TEST(test_good)
{
	struct config_errors errs;
	const struct good_case *c = &good[_i];
	const char *text = c->text;

	config_errors_init(&errs);
	struct config *cfg = config_parse(F, text, strlen(text), &errs);
	char *e = join(&errs.errors);
	ck_assert_msg(cfg != NULL, "case %d: errors:%s", _i, e);
	free(e);
	ck_assert_str_eq(cfg->path, F);
	ck_assert_ptr_nonnull(cfg->hostname);
	char *dump = config_dump(cfg);
	for (size_t i = 0; c->lines[i] != NULL; i++) {
		char *want = xasprintf("\n%s\n", c->lines[i]);
		ck_assert_msg(strstr(dump, want) != NULL,
		    "case %d: no line '%s' in dump:\n%s", _i, c->lines[i], dump);
		free(want);
	}
	assert_list(&errs.warnings, c->warnings, "warnings", _i);

	/* round trip: the dump parses to the same config */
	struct config_errors errs2;
	config_errors_init(&errs2);
	struct config *cfg2 = config_parse(F, dump, strlen(dump), &errs2);
	e = join(&errs2.errors);
	ck_assert_msg(cfg2 != NULL, "case %d: dump does not parse:%s\n%s", _i,
	    e, dump);
	free(e);
	char *dump2 = config_dump(cfg2);
	ck_assert_str_eq(dump2, dump);

	free(dump);
	free(dump2);
	config_free(&cfg2);
	ck_assert_ptr_null(cfg2);
	config_free(&cfg);
	ck_assert_ptr_null(cfg);
	config_errors_clear(&errs);
	config_errors_clear(&errs2);
}
END_TEST

START_TEST(test_fields)
{
	struct config_errors errs;
	config_errors_init(&errs);

	/* defaults, straight from the struct */
	const char *t = "domains = Example.ORG\n";
	struct config *cfg = config_parse(F, t, strlen(t), &errs);
	ck_assert_ptr_nonnull(cfg);
	ck_assert_uint_eq(cfg->domains.n, 1);
	ck_assert_str_eq(cfg->domains.v[0], "example.org");
	ck_assert_str_eq(cfg->data_dir, "/var/lib/minimaild");
	ck_assert_str_eq(cfg->run_as, "minimaild");
	ck_assert_int_eq(cfg->log_level, LOG_LVL_INFO);
	static const uint16_t ports[LSN_COUNT] = { 25, 587, 465, 143, 993, 110, 995, 4190 };
	ck_assert_uint_eq(cfg->listen[LSN_MANAGESIEVE].naddrs, 0);
	for (int i = 0; i < LSN_MANAGESIEVE; i++) {
		ck_assert_uint_eq(cfg->listen[i].naddrs, 1);
		ck_assert_str_eq(cfg->listen[i].addrs[0].host, "");
		ck_assert_uint_eq(cfg->listen[i].addrs[0].port, ports[i]);
	}
	ck_assert_uint_eq(cfg->http_listen.naddrs, 0);
	ck_assert_ptr_null(cfg->http_listen.addrs);
	ck_assert_ptr_null(cfg->tls_cert);
	ck_assert_ptr_null(cfg->tls_key);
	ck_assert_int_eq(cfg->tls_min_version, 0x0303);
	ck_assert(!cfg->allow_plaintext_auth);
	ck_assert_uint_eq(cfg->max_message_size, 52428800);
	ck_assert_uint_eq(cfg->max_recipients, 100);
	ck_assert_uint_eq(cfg->max_connections, 10000);
	ck_assert_uint_eq(cfg->max_connections_per_ip, 50);
	ck_assert_uint_eq(cfg->max_connections_per_user, 50);
	ck_assert_uint_eq(cfg->ipv6_prefix, 64);
	/* no DNS in the parser: gethostname() (net/hostname.c makes it the
	 * FQDN in the daemon) */
	char h[300] = "localhost";
	if (gethostname(h, sizeof(h)) != 0 || !config_hostname_valid(h))
		strcpy(h, "localhost");
	ck_assert(cfg->hostname_default);
	ck_assert_str_eq(cfg->hostname, mm_strlower(h));
	ck_assert(config_is_local_domain(cfg, "example.org"));
	ck_assert(config_is_local_domain(cfg, "EXAMPLE.Org"));
	ck_assert(!config_is_local_domain(cfg, "example.net"));
	ck_assert(!config_is_local_domain(cfg, "org"));
	ck_assert(!config_is_local_domain(cfg, ""));
	config_free(&cfg);

	/* the '#' rules */
	cfg = config_parse(F, GOOD_HASH, strlen(GOOD_HASH), &errs);
	ck_assert_ptr_nonnull(cfg);
	ck_assert_str_eq(cfg->data_dir, "/var/mail#box");
	ck_assert_str_eq(cfg->domains.v[0], "example.org");
	ck_assert_uint_eq(cfg->max_recipients, 150);
	ck_assert_str_eq(cfg->tls_cert, "/x y/c.pem");
	ck_assert_str_eq(cfg->tls_key, "/k");
	config_free(&cfg);
	config_errors_clear(&errs);
}
END_TEST

START_TEST(test_fields_all)
{
	struct config_errors errs;
	config_errors_init(&errs);
	const char *t =
	    "hostname = Mx.A.org\ndomains = a.org b.org\nlog_level = error\n"
	    "[listen]\nimap = 127.0.0.1:1143 [::1]:1143\npop3 = off\n"
	    "http = [::1]:8080\n"
	    "[tls]\ncert = /c\nkey = /k\nmin_version = tlsv1.3\n"
	    "[auth]\nallow_plaintext_auth = on\n"
	    "[limits]\nmax_message_size = 2g\nmax_recipients = 1\n"
	    "max_connections = 1000000\nmax_connections_per_ip = 1\n"
	    "max_connections_per_user = 3\nipv6_prefix = 48\n";
	struct config *cfg = config_parse(F, t, strlen(t), &errs);
	ck_assert_ptr_nonnull(cfg);
	ck_assert_str_eq(cfg->hostname, "mx.a.org");
	ck_assert_uint_eq(cfg->domains.n, 2);
	ck_assert_str_eq(cfg->domains.v[1], "b.org");
	ck_assert_int_eq(cfg->log_level, LOG_LVL_ERROR);
	ck_assert_uint_eq(cfg->listen[LSN_IMAP].naddrs, 2);
	ck_assert_str_eq(cfg->listen[LSN_IMAP].addrs[0].host, "127.0.0.1");
	ck_assert_uint_eq(cfg->listen[LSN_IMAP].addrs[0].port, 1143);
	ck_assert_str_eq(cfg->listen[LSN_IMAP].addrs[1].host, "::1");
	ck_assert_uint_eq(cfg->listen[LSN_IMAP].addrs[1].port, 1143);
	ck_assert_uint_eq(cfg->listen[LSN_POP3].naddrs, 0);
	ck_assert_ptr_null(cfg->listen[LSN_POP3].addrs);
	ck_assert_uint_eq(cfg->listen[LSN_SMTP].addrs[0].port, 25);
	ck_assert_uint_eq(cfg->http_listen.naddrs, 1);
	ck_assert_str_eq(cfg->http_listen.addrs[0].host, "::1");
	ck_assert_uint_eq(cfg->http_listen.addrs[0].port, 8080);
	ck_assert_str_eq(cfg->tls_cert, "/c");
	ck_assert_str_eq(cfg->tls_key, "/k");
	ck_assert_int_eq(cfg->tls_min_version, 0x0304);
	ck_assert(cfg->allow_plaintext_auth);
	ck_assert_uint_eq(cfg->max_message_size, 2147483648ULL);
	ck_assert_uint_eq(cfg->max_recipients, 1);
	ck_assert_uint_eq(cfg->max_connections, 1000000);
	ck_assert_uint_eq(cfg->max_connections_per_ip, 1);
	ck_assert_uint_eq(cfg->max_connections_per_user, 3);
	ck_assert_uint_eq(cfg->ipv6_prefix, 48);
	ck_assert_uint_eq(errs.errors.n, 0);
	ck_assert_uint_eq(errs.warnings.n, 2);  /* plaintext, recipients */
	config_free(&cfg);
	config_errors_clear(&errs);
}
END_TEST

/* ---- bad files ---- */

struct bad_case {
	const char *text;
	size_t len;                 /* 0: strlen(text) */
	const char *errors[12];
};

#define D "domains = a.org\n"

static const struct bad_case bad[] = {
	/* syntax */
	{ D "hostname\n", 0,
	  { F ":2: expected 'key = value' or '[section]'", NULL } },
	{ D " = x\n", 0, { F ":2: missing key before '='", NULL } },
	{ D "[listen\n", 0, { F ":2: missing ']' in section header", NULL } },
	{ D "[listen] x\n", 0, { F ":2: text after ']' in section header", NULL } },
	{ D "[ ]\n", 0, { F ":2: empty section name", NULL } },
	{ D "[relais]\nhost = x\nport = 25\n", 0,
	  { F ":2: unknown section [relais] (expected [listen], [tls], [auth], "
	    "[limits], [relay], [dns], [inbound], [dkim] or [sieve])", NULL } },
	{ D "[Listen]\n", 0,
	  { F ":2: unknown section [Listen] (expected [listen], [tls], [auth], "
	    "[limits], [relay], [dns], [inbound], [dkim] or [sieve])", NULL } },
	/* [inbound] */
	{ D "[inbound]\nspf = maybe\n", 0,
	  { F ":3: spf: bad value 'maybe' (expected yes or no)", NULL } },
	{ D "[inbound]\ndnsbl = zen.spamhaus.org bad_zone!\n", 0,
	  { F ":3: dnsbl: bad zone 'bad_zone!' (expected DNS zones separated by spaces, or off)", NULL } },
	{ D "[inbound]\ndnswl = a.test b.test c.test d.test e.test f.test g.test h.test i.test\n", 0,
	  { F ":3: dnswl: more than 8 zones", NULL } },
	{ D "[inbound]\nmilters = inet:localhost:11332 unix:relative tcp:1.2.3.4:5\n", 0,
	  { F ":3: milters: 'inet:localhost:11332': the host must be an IP address",
	    F ":3: milters: 'unix:relative': expected unix:/absolute/path",
	    F ":3: milters: 'tcp:1.2.3.4:5': expected inet:HOST:PORT, inet6:HOST:PORT or unix:/PATH",
	    NULL } },
	{ D "[inbound]\nmilters = inet:127.0.0.1:0\nmilter_timeout = 0s\nmilter_default_action = reject\n", 0,
	  { F ":3: milters: 'inet:127.0.0.1:0': bad port",
	    F ":4: milter_timeout: bad duration '0s' (expected 1s to 3600s)",
	    F ":5: milter_default_action: bad value 'reject' (expected tempfail or accept)",
	    NULL } },
	/* [dkim] */
	{ D "[dkim]\nselector = bad_sel\n", 0,
	  { F ":3: selector: bad selector 'bad_sel' (letters, digits, '-' and dots, "
	    "at most 55 characters)", NULL } },
	{ D "[dkim]\nselector = -x\n", 0,
	  { F ":3: selector: bad selector '-x' (letters, digits, '-' and dots, "
	    "at most 55 characters)", NULL } },
	{ D "[dkim]\nselector = a..b\n", 0,
	  { F ":3: selector: bad selector 'a..b' (letters, digits, '-' and dots, "
	    "at most 55 characters)", NULL } },
	{ D "[dkim]\nselector = " "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n", 0,
	  { F ":3: selector: bad selector 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' "
	    "(letters, digits, '-' and dots, at most 55 characters)", NULL } },
	{ D "[dkim]\nalgorithms = rsa-sha1 ed25519-sha256\n", 0,
	  { F ":3: algorithms: unknown algorithm 'rsa-sha1' (expected rsa-sha256 "
	    "and/or ed25519-sha256)", NULL } },
	{ D "[dkim]\nsign = maybe\n", 0,
	  { F ":3: sign: bad value 'maybe' (expected yes or no)", NULL } },
	/* [relay] */
	{ D "[relay]\nhost = x\n", 0,
	  { F ":3: unknown key 'host' in [relay]", NULL } },
	{ D "[relay]\nsmarthost = bad_host:25\n", 0,
	  { F ":3: smarthost: bad host name 'bad_host' in 'bad_host:25'", NULL } },
	{ D "[relay]\nsmarthost = a.net:0\n", 0,
	  { F ":3: smarthost: bad port in 'a.net:0' (expected 1 to 65535)", NULL } },
	{ D "[relay]\nsmarthost = ::1:25\n", 0,
	  { F ":3: smarthost: IPv6 addresses must be in brackets, as in "
	    "'[::1]:25', in '::1:25'", NULL } },
	{ D "[relay]\nsmarthost_tls = ssl\n", 0,
	  { F ":3: smarthost_tls: bad value 'ssl' (expected starttls, implicit "
	    "or none)", NULL } },
	{ D "[relay]\nsmarthost = a.net\nsmarthost_user = u\n", 0,
	  { F ":4: smarthost_user without smarthost_password", NULL } },
	{ D "[relay]\nsmarthost_user = u\nsmarthost_password = p\n", 0,
	  { F ":4: smarthost_user and smarthost_password need a smarthost", NULL } },
	{ D "[relay]\nsmarthost_ca = ca.pem\n", 0,
	  { F ":3: smarthost_ca: bad path 'ca.pem' (expected an absolute path)", NULL } },
	{ D "[relay]\nrequire_tls = maybe\n", 0,
	  { F ":3: require_tls: bad value 'maybe' (expected yes or no)", NULL } },
	{ D "[relay]\nqueue_lifetime = 0\n", 0,
	  { F ":3: queue_lifetime: must not be 0", NULL } },
	{ D "[relay]\nqueue_lifetime = 366d\n", 0,
	  { F ":3: queue_lifetime: bad duration '366d' (expected a number with "
	    "optional s, m, h or d, at most 365d)", NULL } },
	{ D "[relay]\nretry_interval = 5h\n", 0,
	  { F ":3: retry_interval is longer than retry_max_interval", NULL } },
	{ D "[relay]\nmax_concurrency = 0\n", 0,
	  { F ":3: max_concurrency: bad number '0' (expected a whole number "
	    "from 1 to 1000)", NULL } },
	{ D "[relay]\nroutes = a.test=1.2.3.4:25 b.test\n", 0,
	  { F ":3: routes: bad route 'b.test' (expected DOMAIN=HOST:PORT)", NULL } },
	{ D "[relay]\nroutes = a.test=1.2.3.4 A.TEST=[::1]:26\n", 0,
	  { F ":3: routes: 'A.TEST' is routed twice", NULL } },
	{ D "[relay]\nroutes = a.test=[::1\n", 0,
	  { F ":3: routes: bad host '[::1' (expected [IPv6]:PORT)", NULL } },
	{ D "data_dir = /a\x01\n", 0,
	  { F ":2: control character 0x01 in line", NULL } },
	{ D "data_dir = /a\0b\n", sizeof(D "data_dir = /a\0b\n") - 1,
	  { F ":2: NUL byte in line", NULL } },
	/* keys */
	{ D "foo = 1\n", 0, { F ":2: unknown key 'foo'", NULL } },
	{ D "[tls]\nfoo = 1\n", 0, { F ":3: unknown key 'foo' in [tls]", NULL } },
	{ D "[tls]\nimap = 143\n", 0,
	  { F ":3: unknown key 'imap' in [tls] (it belongs in [listen])", NULL } },
	{ D "Hostname = a.org\n", 0,
	  { F ":2: unknown key 'Hostname' (did you mean 'hostname'?)", NULL } },
	{ "[limits]\ndomains = a.org\n", 0,
	  { F ":1: missing required key 'domains' (set it at the top, before "
	    "any [section])",
	    F ":2: unknown key 'domains' in [limits] (it belongs at the top, "
	    "before any [section])", NULL } },
	{ "", 0, { F ":1: missing required key 'domains' (set it at the top, "
	    "before any [section])", NULL } },
	{ D "log_level = info\nlog_level = debug\n", 0,
	  { F ":3: duplicate key 'log_level' (first set on line 2)", NULL } },
	{ D "[listen]\nimap = 1\n[limits]\n[listen]\nimap = 2\n", 0,
	  { F ":6: duplicate key 'imap' (first set on line 3)", NULL } },
	{ D "hostname =\n", 0, { F ":2: hostname: missing value", NULL } },
	{ D "hostname = # comment\n", 0, { F ":2: hostname: missing value", NULL } },
	/* top-level values */
	{ D "hostname = mail example\n", 0,
	  { F ":2: hostname: bad host name 'mail example' (expected a domain "
	    "name such as mail.example.org)", NULL } },
	{ D "hostname = mail_x.org\n", 0,
	  { F ":2: hostname: bad host name 'mail_x.org' (expected a domain "
	    "name such as mail.example.org)", NULL } },
	{ "domains = a.org, b.org -c.org d..org e-.org [1.2.3.4] "
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.org\n",
	  0,
	  { F ":1: domains: bad domain name 'a.org,' (domains are separated by "
	    "spaces; letters, digits, '-' and '.')",
	    F ":1: domains: bad domain name '-c.org' (domains are separated by "
	    "spaces; letters, digits, '-' and '.')",
	    F ":1: domains: bad domain name 'd..org' (domains are separated by "
	    "spaces; letters, digits, '-' and '.')",
	    F ":1: domains: bad domain name 'e-.org' (domains are separated by "
	    "spaces; letters, digits, '-' and '.')",
	    F ":1: domains: bad domain name '[1.2.3.4]' (domains are separated "
	    "by spaces; letters, digits, '-' and '.')",
	    F ":1: domains: bad domain name 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaa.org' (domains are separated by "
	    "spaces; letters, digits, '-' and '.')", NULL } },
	{ D "data_dir = var/lib/minimaild\n", 0,
	  { F ":2: data_dir: bad path 'var/lib/minimaild' (expected an "
	    "absolute path)", NULL } },
	{ D "run_as = -root\n", 0,
	  { F ":2: run_as: bad user name '-root' (expected letters, digits, "
	    "'.', '_' or '-', at most 32 characters)", NULL } },
	{ D "run_as = mail user\n", 0,
	  { F ":2: run_as: bad user name 'mail user' (expected letters, digits, "
	    "'.', '_' or '-', at most 32 characters)", NULL } },
	{ D "log_level = verbose\n", 0,
	  { F ":2: log_level: bad value 'verbose' (expected error, warn, info "
	    "or debug)", NULL } },
	{ D "log_level = INFO\n", 0,
	  { F ":2: log_level: bad value 'INFO' (expected error, warn, info "
	    "or debug)", NULL } },
	/* [tls] and [auth] */
	{ D "[tls]\nmin_version = TLSv1.1\n", 0,
	  { F ":3: min_version: bad value 'TLSv1.1' (expected TLSv1.2 or "
	    "TLSv1.3)", NULL } },
	{ D "[tls]\ncert = tls/cert.pem\nkey = /k\n", 0,
	  { F ":3: cert: bad path 'tls/cert.pem' (expected an absolute path)",
	    NULL } },
	{ D "[tls]\ncert = /c.pem\n", 0,
	  { F ":3: cert without key (set both cert and key, or neither)", NULL } },
	{ D "[tls]\n\nkey = /k.pem\n", 0,
	  { F ":4: key without cert (set both cert and key, or neither)", NULL } },
	{ D "[auth]\nallow_plaintext_auth = maybe\n", 0,
	  { F ":3: allow_plaintext_auth: bad value 'maybe' (expected yes or no)",
	    NULL } },
	{ D "[auth]\ncache_ttl = 2d\n", 0,
	  { F ":3: cache_ttl: bad duration '2d' (expected 0 (off) to 86400s, with optional s, m, h or d)", NULL } },
	{ D "[auth]\ncache_ttl = 86401\n", 0,
	  { F ":3: cache_ttl: bad duration '86401' (expected 0 (off) to 86400s, with optional s, m, h or d)", NULL } },
	{ D "[auth]\ncache_ttl = -1\n", 0,
	  { F ":3: cache_ttl: bad duration '-1' (expected 0 (off) to 86400s, with optional s, m, h or d)", NULL } },
	{ D "[auth]\ncache_ttl = 5x\n", 0,
	  { F ":3: cache_ttl: bad duration '5x' (expected 0 (off) to 86400s, with optional s, m, h or d)", NULL } },
	{ D "[auth]\ncache_ttl = 1.5m\n", 0,
	  { F ":3: cache_ttl: bad duration '1.5m' (expected 0 (off) to 86400s, with optional s, m, h or d)", NULL } },
	{ D "[auth]\ncache_ttl = 99999999999999999999\n", 0,
	  { F ":3: cache_ttl: bad duration '99999999999999999999' (expected 0 (off) to 86400s, with optional s, m, h or d)", NULL } },
	/* [limits] */
	{ D "[limits]\nmax_message_size = abc\n", 0,
	  { F ":3: max_message_size: bad size 'abc' (expected a number with "
	    "optional K, M or G)", NULL } },
	{ D "[limits]\nmax_message_size = -5M\n", 0,
	  { F ":3: max_message_size: bad size '-5M' (expected a number with "
	    "optional K, M or G)", NULL } },
	{ D "[limits]\nmax_message_size = 50 M\n", 0,
	  { F ":3: max_message_size: bad size '50 M' (expected a number with "
	    "optional K, M or G)", NULL } },
	{ D "[limits]\nmax_message_size = 50MB\n", 0,
	  { F ":3: max_message_size: bad size '50MB' (expected a number with "
	    "optional K, M or G)", NULL } },
	{ D "[limits]\nmax_message_size = 99999999999999999999\n", 0,
	  { F ":3: max_message_size: bad size '99999999999999999999' (expected "
	    "a number with optional K, M or G)", NULL } },
	{ D "[limits]\nmax_message_size = 17179869184G\n", 0,
	  { F ":3: max_message_size: bad size '17179869184G' (expected "
	    "a number with optional K, M or G)", NULL } },
	{ D "[limits]\nmax_message_size = 1023\n", 0,
	  { F ":3: max_message_size: size '1023' is out of range (expected 1K "
	    "to 2G)", NULL } },
	{ D "[limits]\nmax_message_size = 2049M\n", 0,
	  { F ":3: max_message_size: size '2049M' is out of range (expected 1K "
	    "to 2G)", NULL } },
	{ D "[limits]\nmax_recipients = 0\n", 0,
	  { F ":3: max_recipients: bad number '0' (expected a whole number from "
	    "1 to 100000)", NULL } },
	{ D "[limits]\nmax_recipients = 100001\n", 0,
	  { F ":3: max_recipients: bad number '100001' (expected a whole number "
	    "from 1 to 100000)", NULL } },
	{ D "[limits]\nmax_connections = 1.5\n", 0,
	  { F ":3: max_connections: bad number '1.5' (expected a whole number "
	    "from 1 to 1000000)", NULL } },
	{ D "[limits]\nmax_connections_per_ip = -1\n", 0,
	  { F ":3: max_connections_per_ip: bad number '-1' (expected a whole "
	    "number from 1 to 1000000)", NULL } },
	{ D "[limits]\nmax_connections_per_user = 0\n", 0,
	  { F ":3: max_connections_per_user: bad number '0' (expected a whole "
	    "number from 1 to 1000000)", NULL } },
	{ D "[limits]\nipv6_prefix = 129\n", 0,
	  { F ":3: ipv6_prefix: bad number '129' (expected a whole "
	    "number from 1 to 128)", NULL } },
	/* [listen] */
	{ D "[listen]\nimap = 0\n", 0,
	  { F ":3: imap: bad port '0' (expected 1 to 65535)", NULL } },
	{ D "[listen]\nimap = 65536\n", 0,
	  { F ":3: imap: bad port '65536' (expected 1 to 65535)", NULL } },
	{ D "[listen]\nimap = 127.0.0.1:0\n", 0,
	  { F ":3: imap: bad port '0' in '127.0.0.1:0' (expected 1 to 65535)",
	    NULL } },
	{ D "[listen]\nimap = [::1]:\n", 0,
	  { F ":3: imap: bad port '' in '[::1]:' (expected 1 to 65535)", NULL } },
	{ D "[listen]\nimap = [::1]:99999\n", 0,
	  { F ":3: imap: bad port '99999' in '[::1]:99999' (expected 1 to "
	    "65535)", NULL } },
	{ D "[listen]\nimap = [::1:143\n", 0,
	  { F ":3: imap: missing ']' in '[::1:143'", NULL } },
	{ D "[listen]\nimap = [::1]143\n", 0,
	  { F ":3: imap: expected ':PORT' after ']' in '[::1]143'", NULL } },
	{ D "[listen]\nimap = [::g]:143\n", 0,
	  { F ":3: imap: bad IPv6 address '::g' in '[::g]:143'", NULL } },
	{ D "[listen]\nimap = [127.0.0.1]:143\n", 0,
	  { F ":3: imap: bad IPv6 address '127.0.0.1' in '[127.0.0.1]:143'",
	    NULL } },
	{ D "[listen]\nimap = ::1:143\n", 0,
	  { F ":3: imap: IPv6 addresses must be in brackets, as in '[::1]:143', "
	    "in '::1:143'", NULL } },
	{ D "[listen]\nimap = localhost:143\n", 0,
	  { F ":3: imap: 'localhost' in 'localhost:143' is not an IP address "
	    "(only literal addresses are allowed, not host names)", NULL } },
	{ D "[listen]\nimap = 300.1.1.1:143\n", 0,
	  { F ":3: imap: bad IPv4 address '300.1.1.1' in '300.1.1.1:143'",
	    NULL } },
	{ D "[listen]\nimap = 127.0.0.1\n", 0,
	  { F ":3: imap: missing port in '127.0.0.1' (write ADDRESS:PORT)",
	    NULL } },
	{ D "[listen]\nimap = :143\n", 0,
	  { F ":3: imap: missing address before ':' in ':143'", NULL } },
	{ D "[listen]\nimap = imap\n", 0,
	  { F ":3: imap: bad listen address 'imap' (expected PORT, IPv4:PORT or "
	    "[IPv6]:PORT)", NULL } },
	{ D "[listen]\nimap = 143 off\n", 0,
	  { F ":3: imap: 'off' must stand alone", NULL } },
	{ D "[listen]\nimap = 143 143\n", 0,
	  { F ":3: imap: 143 is listed twice", NULL } },
	{ D "[listen]\nimap = [::1]:143 [0::1]:143\n", 0,
	  { F ":3: imap: [::1]:143 is listed twice", NULL } },
	{ D "[listen]\nimap = 127.0.0.1:143 143\n", 0,
	  { F ":3: imap: 143 conflicts with 127.0.0.1:143", NULL } },
	{ D "[listen]\nimap = 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 "
	  "20 21 22 23 24 26 27 28 29 30 31 32 33 34\n", 0,
	  { F ":3: imap: too many addresses (at most 32)", NULL } },
	{ D "[listen]\nimap = 25\n", 0,
	  { F ":3: imap: 25 conflicts with smtp 25 (default)", NULL } },
	/* a listener with a bad value is off: no second error about its
	 * default port */
	{ D "[listen]\nsmtp = 99999\nimap = 25\n", 0,
	  { F ":3: smtp: bad port '99999' (expected 1 to 65535)", NULL } },
	/* http: same syntax, checked against every other listener */
	{ D "[listen]\nhttp = 25\n", 0,
	  { F ":3: http: 25 conflicts with smtp 25 (default)", NULL } },
	{ D "[listen]\nhttp = 8080\nimap = 127.0.0.1:8080\n", 0,
	  { F ":4: imap: 127.0.0.1:8080 conflicts with http 8080 on line 3",
	    NULL } },
	{ D "[listen]\nhttp = localhost:80\n", 0,
	  { F ":3: http: 'localhost' in 'localhost:80' is not an IP address "
	    "(only literal addresses are allowed, not host names)", NULL } },
	{ D "[listen]\nhttp = 80 off\n", 0,
	  { F ":3: http: 'off' must stand alone", NULL } },
	{ D "[listen]\nhttp =\n", 0, { F ":3: http: missing value", NULL } },
	{ D "http = 80\n", 0,
	  { F ":2: unknown key 'http' (it belongs in [listen])", NULL } },
	{ D "[listen]\nhttp = 80\nhttp = 81\n", 0,
	  { F ":4: duplicate key 'http' (first set on line 3)", NULL } },
	{ D "[listen]\nimaps = 2525\nsmtp = 2525\n", 0,
	  { F ":4: smtp: 2525 conflicts with imaps 2525 on line 3", NULL } },
	{ D "[listen]\nsmtp = 127.0.0.1:2525\nimap = 0.0.0.0:2525\n"
	  "pop3 = [::]:2525\n", 0,
	  { F ":4: imap: 0.0.0.0:2525 conflicts with smtp 127.0.0.1:2525 on "
	    "line 3",
	    F ":5: pop3: [::]:2525 conflicts with smtp 127.0.0.1:2525 on line 3",
	    F ":5: pop3: [::]:2525 conflicts with imap 0.0.0.0:2525 on line 4",
	    NULL } },
	/* several errors in one file: all reported, in line order */
	{ "hostname = bad_name\n"
	  "domains = a.org\n"
	  "colour = blue\n"
	  "[listen]\n"
	  "imap = 70000\n"
	  "[tls]\n"
	  "cert = /c\n"
	  "[limits]\n"
	  "max_message_size = lots\n"
	  "max_recipients = 100 # fine\n"
	  "max_recipients = 200\n"
	  "[nope]\n"
	  "whatever\n"
	  "x = 1\n", 0,
	  { F ":1: hostname: bad host name 'bad_name' (expected a domain name "
	    "such as mail.example.org)",
	    F ":3: unknown key 'colour'",
	    F ":5: imap: bad port '70000' (expected 1 to 65535)",
	    F ":7: cert without key (set both cert and key, or neither)",
	    F ":9: max_message_size: bad size 'lots' (expected a number with "
	    "optional K, M or G)",
	    F ":11: duplicate key 'max_recipients' (first set on line 10)",
	    F ":12: unknown section [nope] (expected [listen], [tls], [auth], "
	    "[limits], [relay], [dns], [inbound], [dkim] or [sieve])",
	    F ":13: expected 'key = value' or '[section]'" } },
};

START_TEST(test_bad)
{
	struct config_errors errs;
	const struct bad_case *c = &bad[_i];
	size_t len = c->len ? c->len : strlen(c->text);

	config_errors_init(&errs);
	struct config *cfg = config_parse(F, c->text, len, &errs);
	ck_assert_msg(cfg == NULL, "case %d parsed", _i);
	assert_list(&errs.errors, c->errors, "errors", _i);
	config_errors_clear(&errs);
}
END_TEST

/* Lines at and just above CONFIG_LINE_MAX_BYTES. */
START_TEST(test_long_line)
{
	struct config_errors errs;
	struct mm_buf b;

	config_errors_init(&errs);
	mm_buf_init(&b);
	mm_buf_printf(&b, "domains = a.org\n#");
	while (b.len < 16 + CONFIG_LINE_MAX_BYTES)
		mm_buf_appendc(&b, 'x');
	mm_buf_printf(&b, "\n");
	struct config *cfg = config_parse(F, b.data, b.len, &errs);
	ck_assert_ptr_nonnull(cfg);     /* exactly the maximum */
	config_free(&cfg);

	b.len--;                        /* no final newline: still fine */
	cfg = config_parse(F, b.data, b.len, &errs);
	ck_assert_ptr_nonnull(cfg);
	config_free(&cfg);

	mm_buf_printf(&b, "x\r\nlog_level = loud\n");
	cfg = config_parse(F, b.data, b.len, &errs);
	ck_assert_ptr_null(cfg);
	const char *want[] = {
		F ":2: line too long (more than 8192 bytes)",
		F ":3: log_level: bad value 'loud' (expected error, warn, info or "
		"debug)", NULL };
	assert_list(&errs.errors, want, "errors", 0);
	config_errors_clear(&errs);

	/* a long bad value is quoted cut short */
	mm_buf_free(&b);
	mm_buf_printf(&b, "domains = a.org\nrun_as = ");
	for (int i = 0; i < 200; i++)
		mm_buf_appendc(&b, 'u');
	cfg = config_parse(F, b.data, b.len, &errs);
	ck_assert_ptr_null(cfg);
	ck_assert_uint_eq(errs.errors.n, 1);
	ck_assert_str_eq(errs.errors.v[0], F ":2: run_as: bad user name "
	    "'uuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuu"
	    "uuuuuuuuuuuuu...' (expected letters, digits, '.', '_' or '-', at "
	    "most 32 characters)");
	config_errors_clear(&errs);
	mm_buf_free(&b);
}
END_TEST

START_TEST(test_file_too_large)
{
	struct config_errors errs;
	size_t len = CONFIG_FILE_MAX_BYTES + 1;
	char *text = xmalloc(len);

	memset(text, '\n', len);
	memcpy(text, "domains = a.org\n", 16);
	config_errors_init(&errs);
	ck_assert_ptr_null(config_parse(F, text, len, &errs));
	ck_assert_uint_eq(errs.errors.n, 1);
	ck_assert_str_eq(errs.errors.v[0],
	    F ": file too large (1048577 bytes; at most 1048576)");
	config_errors_clear(&errs);

	struct config *cfg = config_parse(F, text, len - 1, &errs);
	ck_assert_ptr_nonnull(cfg);
	config_free(&cfg);
	config_errors_clear(&errs);

	/* the same through config_load */
	char path[] = "/tmp/check_config_XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	FILE *f = fdopen(fd, "w");
	ck_assert_uint_eq(fwrite(text, 1, len, f), len);
	fclose(f);
	ck_assert_ptr_null(config_load(path, &errs));
	ck_assert_uint_eq(errs.errors.n, 1);
	char *want = xasprintf("%s: file too large (1048577 bytes; at most "
	    "1048576)", path);
	ck_assert_str_eq(errs.errors.v[0], want);
	free(want);
	unlink(path);
	config_errors_clear(&errs);
	free(text);
}
END_TEST

START_TEST(test_load)
{
	struct config_errors errs;
	config_errors_init(&errs);

	ck_assert_ptr_null(config_load("/nonexistent/minimaild.conf", &errs));
	ck_assert_uint_eq(errs.errors.n, 1);
	ck_assert_str_eq(errs.errors.v[0],
	    "/nonexistent/minimaild.conf: No such file or directory");
	config_errors_clear(&errs);

	ck_assert_ptr_null(config_load("/", &errs));
	ck_assert_uint_eq(errs.errors.n, 1);
	ck_assert_str_eq(errs.errors.v[0], "/: Is a directory");
	config_errors_clear(&errs);

	char path[] = "/tmp/check_config_XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	FILE *f = fdopen(fd, "w");
	fputs("domains = a.org\n[limits]\nmax_recipients = x\n", f);
	fclose(f);
	ck_assert_ptr_null(config_load(path, &errs));
	ck_assert_uint_eq(errs.errors.n, 1);
	char *want = xasprintf("%s:3: max_recipients: bad number 'x' (expected "
	    "a whole number from 1 to 100000)", path);
	ck_assert_str_eq(errs.errors.v[0], want);
	free(want);
	config_errors_clear(&errs);
	unlink(path);
}
END_TEST

/* The shipped etc/minimaild.conf parses, and says what the defaults are. */
START_TEST(test_shipped_conf)
{
	struct config_errors errs;
	const char *top = getenv("TOP_SRCDIR");
	char *path = xasprintf("%s/etc/minimaild.conf", top ? top : ABS_TOP_SRCDIR);

	config_errors_init(&errs);
	struct config *cfg = config_load(path, &errs);
	char *e = join(&errs.errors);
	ck_assert_msg(cfg != NULL, "%s:%s", path, e);
	free(e);
	ck_assert_uint_eq(cfg->domains.n, 1);
	ck_assert_str_eq(cfg->domains.v[0], "example.org");
	ck_assert_str_eq(cfg->data_dir, "/var/lib/minimaild");
	ck_assert_str_eq(cfg->run_as, "minimaild");
	ck_assert_int_eq(cfg->log_level, LOG_LVL_INFO);
	for (int i = 0; i < LSN_MANAGESIEVE; i++) {
		ck_assert_uint_eq(cfg->listen[i].naddrs, 1);
		ck_assert_str_eq(cfg->listen[i].addrs[0].host, "");
	}
	ck_assert_uint_eq(cfg->listen[LSN_MANAGESIEVE].naddrs, 0);
	ck_assert_uint_eq(cfg->http_listen.naddrs, 0);
	ck_assert_int_eq(cfg->tls_min_version, 0x0303);
	ck_assert(!cfg->allow_plaintext_auth);
	ck_assert_uint_eq(cfg->max_message_size, 50 * 1024 * 1024);
	ck_assert_uint_eq(cfg->max_recipients, 100);
	ck_assert_uint_eq(cfg->max_connections, 10000);
	ck_assert_uint_eq(cfg->max_connections_per_ip, 50);
	config_free(&cfg);
	config_errors_clear(&errs);
	free(path);
}
END_TEST

/* ---- value parsers ---- */

struct num_case {
	const char *s;
	bool ok;
	uint64_t v;
};

static const struct num_case sizes[] = {
	{ "0", true, 0 }, { "1", true, 1 }, { "1024", true, 1024 },
	{ "1K", true, 1024 }, { "1k", true, 1024 }, { "50M", true, 52428800 },
	{ "50m", true, 52428800 }, { "2G", true, 2147483648ULL },
	{ "3g", true, 3221225472ULL },
	{ "18446744073709551615", true, UINT64_MAX },
	{ "18446744073709551616", false, 0 }, { "17179869183G", true, 18446744072635809792ULL },
	{ "17179869184G", false, 0 }, { "", false, 0 }, { "K", false, 0 },
	{ "-1", false, 0 }, { "+1", false, 0 }, { "1T", false, 0 },
	{ "1KB", false, 0 }, { " 1", false, 0 }, { "1 ", false, 0 },
	{ "1.5M", false, 0 }, { "0x10", false, 0 }, { "1s", false, 0 },
};

START_TEST(test_size)
{
	uint64_t v = 12345;
	const struct num_case *c = &sizes[_i];
	ck_assert_msg(config_parse_size(c->s, &v) == c->ok, "'%s'", c->s);
	if (c->ok)
		ck_assert_uint_eq(v, c->v);
	else
		ck_assert_uint_eq(v, 12345);    /* untouched on error */
}
END_TEST

static const struct num_case durations[] = {
	{ "0", true, 0 }, { "30", true, 30 }, { "30s", true, 30 },
	{ "30m", true, 1800 }, { "30M", true, 1800 }, { "2h", true, 7200 },
	{ "7d", true, 604800 }, { "1D", true, 86400 },
	{ "", false, 0 }, { "m", false, 0 }, { "-1s", false, 0 },
	{ "1w", false, 0 }, { "1ms", false, 0 }, { "1 h", false, 0 },
	{ "213503982334601d", true, 18446744073709526400ULL },
	{ "213503982334602d", false, 0 },
};

START_TEST(test_duration)
{
	uint64_t v = 12345;
	const struct num_case *c = &durations[_i];
	ck_assert_msg(config_parse_duration(c->s, &v) == c->ok, "'%s'", c->s);
	if (c->ok)
		ck_assert_uint_eq(v, c->v);
	else
		ck_assert_uint_eq(v, 12345);
}
END_TEST

/* config_parse_listen() alone: result and exact message. */
struct listen_case {
	const char *s;
	const char *want;           /* formatted addresses, or the error */
	bool ok;
};

static const struct listen_case listens[] = {
	{ "143", "143", true },
	{ "  143\t993  ", "143 993", true },
	{ "off", "", true },
	{ "off off", "", true },
	{ "127.0.0.1:1143 [::1]:1143", "127.0.0.1:1143 [::1]:1143", true },
	{ "[fe80::1]:25", "[fe80::1]:25", true },
	{ "[::ffff:127.0.0.1]:25", "[::ffff:127.0.0.1]:25", true },
	{ "65535 1", "65535 1", true },
	{ "", "missing value (expected ports, ADDRESS:PORT or 'off')", false },
	{ "OFF", "bad listen address 'OFF' (expected PORT, IPv4:PORT or "
	  "[IPv6]:PORT)", false },
	{ "[fe80::1%eth0]:25", "bad IPv6 address 'fe80::1%eth0' in "
	  "'[fe80::1%eth0]:25'", false },
	{ "[]:25", "bad IPv6 address '' in '[]:25'", false },
	{ "1.2.3:25", "bad IPv4 address '1.2.3' in '1.2.3:25'", false },
	{ "1.2.3.4:+25", "bad port '+25' in '1.2.3.4:+25' (expected 1 to 65535)",
	  false },
	{ "1.2.3.4:025", "1.2.3.4:25", true },
	{ "000025", "bad port '000025' (expected 1 to 65535)", false },
	{ "*:25", "'*' in '*:25' is not an IP address (only literal addresses "
	  "are allowed, not host names)", false },
	{ "mail.example.org:25", "'mail.example.org' in 'mail.example.org:25' "
	  "is not an IP address (only literal addresses are allowed, not host "
	  "names)", false },
	{ "[::]:25 127.0.0.1:25", "127.0.0.1:25 conflicts with [::]:25", false },
	{ "0.0.0.0:25 [::1]:25", "0.0.0.0:25 [::1]:25", true },
};

START_TEST(test_listen)
{
	const struct listen_case *c = &listens[_i];
	struct config_listen l;
	char err[256];
	bool ok = config_parse_listen(c->s, &l, err, sizeof(err));

	if (!c->ok) {
		ck_assert_msg(!ok, "'%s' parsed", c->s);
		ck_assert_str_eq(err, c->want);
		ck_assert_ptr_null(l.addrs);
		ck_assert_uint_eq(l.naddrs, 0);
		return;
	}
	ck_assert_msg(ok, "'%s': %s", c->s, err);
	/* format through a config dump of a config holding this listener */
	struct mm_buf b;
	mm_buf_init(&b);
	for (size_t i = 0; i < l.naddrs; i++) {
		const struct config_addr *a = &l.addrs[i];
		if (i > 0)
			mm_buf_appendc(&b, ' ');
		if (a->host[0] == '\0')
			mm_buf_printf(&b, "%u", a->port);
		else if (strchr(a->host, ':'))
			mm_buf_printf(&b, "[%s]:%u", a->host, a->port);
		else
			mm_buf_printf(&b, "%s:%u", a->host, a->port);
	}
	ck_assert_str_eq(mm_buf_cstr(&b), c->want);
	mm_buf_free(&b);
	free(l.addrs);
}
END_TEST

static Suite *
config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc;

	tc = tcase_create("config_parse good");
	tcase_add_loop_test(tc, test_good, 0, sizeof(good) / sizeof(good[0]));
	tcase_add_test(tc, test_fields);
	tcase_add_test(tc, test_fields_all);
	suite_add_tcase(s, tc);

	tc = tcase_create("config_parse bad");
	tcase_add_loop_test(tc, test_bad, 0, sizeof(bad) / sizeof(bad[0]));
	tcase_add_test(tc, test_long_line);
	tcase_add_test(tc, test_file_too_large);
	suite_add_tcase(s, tc);

	tc = tcase_create("config_load");
	tcase_add_test(tc, test_load);
	tcase_add_test(tc, test_shipped_conf);
	suite_add_tcase(s, tc);

	tc = tcase_create("config_parse_size");
	tcase_add_loop_test(tc, test_size, 0, sizeof(sizes) / sizeof(sizes[0]));
	suite_add_tcase(s, tc);

	tc = tcase_create("config_parse_duration");
	tcase_add_loop_test(tc, test_duration, 0,
	    sizeof(durations) / sizeof(durations[0]));
	suite_add_tcase(s, tc);

	tc = tcase_create("config_parse_listen");
	tcase_add_loop_test(tc, test_listen, 0, sizeof(listens) / sizeof(listens[0]));
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(config_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
