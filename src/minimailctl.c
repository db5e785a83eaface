/* minimailctl.c: the admin tool (DESIGN.md Part B): users, aliases and
 * mailboxes of the store, and "check" of the configuration. It opens the
 * same Berkeley DB environment as the running daemon (the store handles
 * multi-process access), after switching to the run_as user when started
 * as root, so no store file ever becomes root's.
 *
 * The one idea: every command is a small function in the table below that
 * returns 0 or calls ctl_die(), which prints one "minimailctl: ..." line on
 * stderr and exits 1. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "ctl/ctl-inbound.h"
#include "ctl/ctl-dkim.h"
#include "dkim/dkim.h"
#include "ctl/ctl.h"
#include "ctl/ctl-sieve.h"
#include "sieve/sieve.h"
#include "lib/clientcfg.h"
#include "lib/config.h"
#include "lib/limits.h"
#include "lib/log.h"
#include "lib/privcheck.h"
#include "lib/util.h"
#include "net/dns.h"
#include "net/hostname.h"
#include "net/http.h"
#include "net/listener.h"
#include "net/metrics-http.h"
#include "net/tls.h"
#include "store/store.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif

static const char *config_path = SYSCONFDIR "/minimaild.conf";
static struct config *cfg;
static struct store *st;

static void __attribute__((noreturn))
usage_error(void)
{
	ctl_die("usage: minimailctl [-c FILE] user|alias|mailbox|queue|dkim|dns|check ... (see minimailctl -h)");
}

static void
usage(FILE *f)
{
	fputs("usage: minimailctl [-c FILE] COMMAND ...\n"
	    "       minimailctl -V | -h | --help\n"
	    "  user add [--hash HASH] ADDRESS   add a user (password from stdin or prompt)\n"
	    "  user passwd ADDRESS              set a user's password\n"
	    "  user del ADDRESS                 remove a user and all their mail\n"
	    "  user list                        list users\n"
	    "  user quota ADDRESS BYTES [MESSAGES]  set a quota (0 = unlimited; K/M/G)\n"
	    "  alias add ALIAS TARGET...        add an alias (@domain: catch-all)\n"
	    "  alias del ALIAS                  remove an alias\n"
	    "  alias list                       list aliases\n"
	    "  mailbox list ADDRESS             a user's mailboxes and their sizes\n"
	    "  queue list                       the outbound queue: entries, attempts, errors\n"
	    "  queue show ID                    one queue entry in full\n"
	    "  queue flush [ID]                 retry now (the daemon sends within a second)\n"
	    "  queue delete ID                  drop a queue entry (no bounce is sent)\n"
	    "  dkim keygen DOMAIN [--selector S]  make DOMAIN's DKIM keys (RSA and Ed25519)\n"
	    "  dns DOMAIN [--selector S]        the DNS records DOMAIN needs, zone-file style\n"
	    "  check                            check the configuration and the store\n"
	    "  client-settings ADDRESS          what to type into a mail client (config only)\n"
	    "  spf-check IP MAIL-FROM HELO      the SPF result port 25 would get (RFC 7208)\n"
	    "  auth-check [--ip IP] [--helo NAME] [--mail-from ADDR] FILE|-\n"
	    "                                   the Authentication-Results port 25 would add\n"
	    "  backup DIR [--full]              hot backup of the store (incremental when DIR has one)\n"
	    "  restore DIR                      restore a backup into an empty data_dir\n"
	    "  verify [--repair]                check the store end to end (safe while it runs)\n"
	    "  import ADDRESS PATH [--mailbox NAME] [--mboxo]  a Maildir tree or an mbox file\n"
	    "  import-imap ADDRESS --host HOST[:PORT] --user USER --password-file FILE\n"
	    "      [--starttls|--tls] [--cafile FILE] [--mailbox NAME...]  pull from an IMAP server\n"
	    "  export ADDRESS DIR               all mailboxes as a Maildir tree Dovecot reads\n"
	    "  export ADDRESS --mbox FILE [--mailbox NAME]  one mailbox as an mbox file\n"
	    "  sieve list ADDRESS               a user's Sieve scripts (the active one: ACTIVE)\n"
	    "  sieve get ADDRESS NAME           print a script\n"
	    "  sieve put ADDRESS NAME FILE      store a script (it must compile; FILE - is stdin)\n"
	    "  sieve del ADDRESS NAME           remove a script (not the active one)\n"
	    "  sieve activate ADDRESS [NAME]    run NAME at delivery (no NAME: none)\n"
	    "  sieve test SCRIPT MESSAGE [--from ADDR] [--to ADDR]\n"
	    "                                   what a Sieve script does with a message (no delivery)\n"
	    "The default FILE is " SYSCONFDIR "/minimaild.conf.\n", f);
}

/* ---- configuration, privileges, store ---- */

static void
load_config(void)
{
	struct config_errors errs;
	config_errors_init(&errs);
	cfg = config_load(config_path, &errs);
	hostname_config(cfg);
	if (cfg == NULL) {
		if (errs.errors.n == 0)
			ctl_die("%s: cannot load", config_path);
		if (errs.errors.n == 1)
			ctl_die("%s", errs.errors.v[0]);
		ctl_die("%s (and %zu more errors; see minimailctl check)", errs.errors.v[0],
		    errs.errors.n - 1);
	}
	config_errors_clear(&errs);
}

/* As root: become run_as (creating data_dir for it if missing), so that
 * every file in the store stays the daemon's. */
static void
drop_privileges(void)
{
	struct passwd *pw;
	struct stat sb;

	if (geteuid() != 0)
		return;
	errno = 0;
	pw = getpwnam(cfg->run_as);
	if (pw == NULL && strcmp(cfg->run_as, "root") != 0)
		ctl_die("run_as user '%s' (%s) does not exist: nothing was changed; create it "
		    "first (systemd-sysusers, or useradd --system --user-group --home-dir %s "
		    "--shell /usr/sbin/nologin %s; see minimaild(8))", cfg->run_as, config_path,
		    cfg->data_dir, cfg->run_as);
	if (pw == NULL || pw->pw_uid == 0)
		return;
	if (stat(cfg->data_dir, &sb) != 0 && errno == ENOENT) {
		if (mkdir(cfg->data_dir, 0700) != 0)
			ctl_die("%s: %s", cfg->data_dir, strerror(errno));
		if (chown(cfg->data_dir, pw->pw_uid, pw->pw_gid) != 0)
			ctl_die("%s: chown: %s", cfg->data_dir, strerror(errno));
	}
	if (setgroups(1, &pw->pw_gid) != 0 || setgid(pw->pw_gid) != 0 ||
	    setuid(pw->pw_uid) != 0)
		ctl_die("cannot switch to user %s: %s", cfg->run_as, strerror(errno));
	if (setuid(0) == 0)
		ctl_die("cannot drop root privileges");
}

/* The store is opened and closed with signals held (ctl_open_store). Never
 * prompt for input with the store open. */
static void
open_store(void)
{
	st = ctl_open_store(cfg, true);
}

static void
close_store(void)
{
	ctl_close_store();
	st = NULL;
}

static void
need_address(const char *addr)
{
	if (!store_address_valid(addr))
		ctl_die("invalid address '%s'", addr);
}

/* A user address must be valid and in one of the configured domains. */
static void
check_local_address(const char *addr, bool allow_catchall)
{
	const char *at = strrchr(addr, '@');
	if (allow_catchall && addr[0] == '@') {
		char tmp[ADDRESS_MAX_BYTES + 8];
		snprintf(tmp, sizeof(tmp), "x%s", addr);
		if (strlen(addr) > ADDRESS_MAX_BYTES || !store_address_valid(tmp))
			ctl_die("invalid address '%s'", addr);
	} else if (at == NULL || !store_address_valid(addr)) {
		ctl_die("invalid address '%s' (expected local@domain)", addr);
	}
	if (!config_is_local_domain(cfg, at + 1))
		ctl_die("%s: '%s' is not one of the local domains in %s", addr, at + 1,
		    config_path);
}

/* ---- passwords ---- */

static struct termios saved_tio;
static volatile sig_atomic_t tio_saved;

static void
restore_tty(int sig)
{
	if (tio_saved)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tio);
	if (sig != 0) {
		signal(sig, SIG_DFL);
		raise(sig);
	}
}

/* One line from stdin into buf; false on EOF before any byte. */
static bool
read_line(char *buf, size_t size)
{
	size_t n = 0;
	int c;
	bool any = false;
	while ((c = getchar()) != EOF) {
		any = true;
		if (c == '\n')
			break;
		if (n + 1 >= size)
			ctl_die("password longer than %d bytes", STORE_PASSWORD_MAX_BYTES);
		buf[n++] = (char)c;
	}
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	return any;
}

static void
prompt_line(const char *prompt, char *buf, size_t size)
{
	struct termios tio;
	fputs(prompt, stderr);
	fflush(stderr);
	if (tcgetattr(STDIN_FILENO, &saved_tio) == 0) {
		tio = saved_tio;
		tio_saved = 1;
		signal(SIGINT, restore_tty);
		signal(SIGTERM, restore_tty);
		tio.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
		tio.c_lflag |= ICANON;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &tio);
	}
	bool ok = read_line(buf, size);
	restore_tty(0);
	tio_saved = 0;
	fputc('\n', stderr);
	if (!ok)
		ctl_die("no password given");
}

/* The password: one line of stdin, or prompted twice on a terminal. */
static void
get_password(char *buf, size_t size)
{
	if (isatty(STDIN_FILENO)) {
		char again[STORE_PASSWORD_MAX_BYTES + 2];
		prompt_line("New password: ", buf, size);
		prompt_line("Retype new password: ", again, sizeof(again));
		bool same = strcmp(buf, again) == 0;
		explicit_bzero(again, sizeof(again));
		if (!same)
			ctl_die("passwords do not match");
	} else if (!read_line(buf, size)) {
		ctl_die("no password on standard input");
	}
	if (buf[0] == '\0')
		ctl_die("empty password");
}

static void
hash_from_stdin(char *hash, size_t hashlen)
{
	char pw[STORE_PASSWORD_MAX_BYTES + 2];
	get_password(pw, sizeof(pw));
	int r = store_hash_password(pw, hash, hashlen);
	explicit_bzero(pw, sizeof(pw));
	if (r != STORE_OK)
		ctl_die("cannot hash the password: %s", store_strerror(r));
}

/* ---- commands ---- */

static int
cmd_user_add(int argc, char **argv)
{
	const char *given = NULL, *addr;
	char hash[256];
	int r;

	if (argc == 4 && strcmp(argv[1], "--hash") == 0) {
		given = argv[2];
		addr = argv[3];
	} else if (argc == 4 && strcmp(argv[2], "--hash") == 0) {
		addr = argv[1];
		given = argv[3];
	} else if (argc == 2) {
		addr = argv[1];
	} else {
		usage_error();
	}
	check_local_address(addr, false);
	if (given != NULL) {
		if (strlen(given) >= sizeof(hash))
			ctl_die("hash too long");
		mm_strlcpy(hash, given, sizeof(hash));
	}
	struct store_user u;
	open_store();
	if ((r = store_user_get(st, addr, &u)) == STORE_OK)
		ctl_die("user %s already exists", addr);
	close_store();
	if (given == NULL)
		hash_from_stdin(hash, sizeof(hash));
	open_store();
	r = store_user_add(st, addr, hash);
	if (r == STORE_EXISTS)
		ctl_die("%s already exists (as a user or an alias)", addr);
	if (r == STORE_INVALID && given != NULL)
		ctl_die("invalid hash: expected a crypt(3) hash such as {SHA512-CRYPT}$6$..., "
		    "{BLF-CRYPT}$2y$... or $y$...");
	if (r != STORE_OK)
		ctl_die("cannot add %s: %s", addr, store_strerror(r));
	return 0;
}

static int
cmd_user_passwd(int argc, char **argv)
{
	char hash[256];
	struct store_user u;
	int r;

	need_address(argv[1]);
	open_store();
	if ((r = store_user_get(st, argv[1], &u)) != STORE_OK)
		ctl_die(r == STORE_NOTFOUND ? "no such user: %s" : "%s: cannot read user", argv[1]);
	close_store();
	hash_from_stdin(hash, sizeof(hash));
	open_store();
	if ((r = store_user_set_hash(st, argv[1], hash)) != STORE_OK)
		ctl_die("cannot set the password of %s: %s", argv[1], store_strerror(r));
	return 0;
}

static int
cmd_user_del(int argc, char **argv)
{
	int r;
	need_address(argv[1]);
	open_store();
	r = store_user_del(st, argv[1]);
	if (r == STORE_NOTFOUND)
		ctl_die("no such user: %s", argv[1]);
	if (r != STORE_OK)
		ctl_die("cannot delete %s: %s", argv[1], store_strerror(r));
	return 0;
}

static int
print_user(void *arg, const struct store_user *u)
{
	uint64_t b = 0, m = 0;
	(void)store_quota_usage(st, u->address, &b, &m);
	if (u->quota_bytes || u->quota_messages)
		printf("%s\t%llu bytes\t%llu messages\tquota %llu bytes %llu messages\n",
		    u->address, (unsigned long long)b, (unsigned long long)m,
		    (unsigned long long)u->quota_bytes, (unsigned long long)u->quota_messages);
	else
		printf("%s\t%llu bytes\t%llu messages\n", u->address,
		    (unsigned long long)b, (unsigned long long)m);
	return 0;
}

static int
cmd_user_list(int argc, char **argv)
{
	int r;
	open_store();
	if ((r = store_user_list(st, print_user, NULL)) != STORE_OK)
		ctl_die("cannot list users: %s", store_strerror(r));
	return 0;
}

static int
cmd_user_quota(int argc, char **argv)
{
	uint64_t bytes, msgs = 0;
	int r;
	need_address(argv[1]);
	if (!config_parse_size(argv[2], &bytes))
		ctl_die("invalid size '%s' (a number with an optional K, M or G)", argv[2]);
	if (argc == 4) {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(argv[3], &end, 10);
		if (errno || *end || end == argv[3] || !isdigit((unsigned char)argv[3][0]))
			ctl_die("invalid message count '%s'", argv[3]);
		msgs = v;
	}
	open_store();
	r = store_user_set_quota(st, argv[1], bytes, msgs);
	if (r == STORE_NOTFOUND)
		ctl_die("no such user: %s", argv[1]);
	if (r != STORE_OK)
		ctl_die("cannot set the quota of %s: %s", argv[1], store_strerror(r));
	return 0;
}

static int
cmd_alias_add(int argc, char **argv)
{
	int r;
	check_local_address(argv[1], true);
	if ((size_t)(argc - 2) > STORE_ALIAS_TARGETS_MAX)
		ctl_die("too many targets (at most %d)", STORE_ALIAS_TARGETS_MAX);
	for (int i = 2; i < argc; i++)
		if (!store_address_valid(argv[i]))
			ctl_die("invalid target address '%s'", argv[i]);
	open_store();
	r = store_alias_add(st, argv[1], (const char *const *)argv + 2, (size_t)(argc - 2));
	if (r == STORE_EXISTS)
		ctl_die("%s already exists (as a user or an alias)", argv[1]);
	if (r == STORE_INVALID)
		ctl_die("invalid alias: an alias cannot point to itself");
	if (r != STORE_OK)
		ctl_die("cannot add alias %s: %s", argv[1], store_strerror(r));
	return 0;
}

static int
cmd_alias_del(int argc, char **argv)
{
	int r;
	open_store();
	r = store_alias_del(st, argv[1]);
	if (r == STORE_NOTFOUND)
		ctl_die("no such alias: %s", argv[1]);
	if (r == STORE_INVALID)
		ctl_die("invalid alias '%s'", argv[1]);
	if (r != STORE_OK)
		ctl_die("cannot delete alias %s: %s", argv[1], store_strerror(r));
	return 0;
}

static int
print_alias(void *arg, const char *alias, const char *const *targets, size_t n)
{
	printf("%s\t", alias);
	for (size_t i = 0; i < n; i++)
		printf("%s%s", i ? " " : "", targets[i]);
	putchar('\n');
	return 0;
}

static int
cmd_alias_list(int argc, char **argv)
{
	int r;
	open_store();
	if ((r = store_alias_list(st, print_alias, NULL)) != STORE_OK)
		ctl_die("cannot list aliases: %s", store_strerror(r));
	return 0;
}

static int
print_mailbox(void *arg, const struct store_mailbox *mb)
{
	char name[STORE_MBOX_NAME_MAX + 16];
	snprintf(name, sizeof(name), "%s%s", mb->name,
	    mb->attrs & MBOX_ATTR_NOSELECT ? " (noselect)" : "");
	printf("%-32s %9u %9u %14llu\n", name, mb->messages, mb->unseen,
	    (unsigned long long)mb->bytes);
	return 0;
}

static int
cmd_mailbox_list(int argc, char **argv)
{
	int r;
	need_address(argv[1]);
	open_store();
	struct store_user u;
	if ((r = store_user_get(st, argv[1], &u)) != STORE_OK)
		ctl_die(r == STORE_NOTFOUND ? "no such user: %s" : "cannot read user %s", argv[1]);
	printf("%-32s %9s %9s %14s\n", "MAILBOX", "MESSAGES", "UNSEEN", "BYTES");
	if ((r = store_mailbox_list(st, argv[1], print_mailbox, NULL)) != STORE_OK)
		ctl_die("cannot list mailboxes of %s: %s", argv[1], store_strerror(r));
	return 0;
}

/* ---- the outbound queue ---- */

static uint64_t
parse_queue_id(const char *s)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 16);
	if (errno != 0 || end == s || *end != '\0' || v == 0 || s[0] == '-' ||
	    strlen(s) > 16)
		ctl_die("invalid queue id '%s' (expected the hex id that 'queue list' shows)", s);
	return (uint64_t)v;
}

static void
fmt_when(time_t t, time_t now, char *buf, size_t len)
{
	long long d = (long long)(t - now);
	const char *pre = d >= 0 ? "in " : "";
	const char *post = d >= 0 ? "" : " ago";
	if (d < 0)
		d = -d;
	if (t == 0)
		snprintf(buf, len, "never");
	else if (d <= 1 && t <= now)
		snprintf(buf, len, "now");
	else if (d < 120)
		snprintf(buf, len, "%s%llds%s", pre, d, post);
	else if (d < 7200)
		snprintf(buf, len, "%s%lldm%s", pre, d / 60, post);
	else if (d < 2 * 86400)
		snprintf(buf, len, "%s%lldh%s", pre, d / 3600, post);
	else
		snprintf(buf, len, "%s%lldd%s", pre, d / 86400, post);
}

static const char *
qstate_name(int state)
{
	return state == STORE_Q_DONE ? "sent" : state == STORE_Q_FAILED ? "failed" : "pending";
}

static int
print_queue_entry(void *arg, const struct store_qentry *e)
{
	size_t *n = arg;
	time_t now = time(NULL);
	char age[32], next[32];

	fmt_when(e->created, now, age, sizeof(age));
	fmt_when(e->next_attempt, now, next, sizeof(next));
	printf("%llx  from=<%s>  arrived=%s  size=%llu  attempts=%u  next=%s\n",
	    (unsigned long long)e->id, e->sender, age, (unsigned long long)e->size,
	    e->attempts, next);
	for (size_t i = 0; i < e->nrcpts; i++)
		if (e->rcpts[i].state == STORE_Q_PENDING)
			printf("    to=<%s>\n", e->rcpts[i].address);
	if (e->error[0] != '\0')
		printf("    error: %s\n", e->error);
	(*n)++;
	return 0;
}

static int
cmd_queue_list(int argc, char **argv)
{
	size_t n = 0;
	int r;
	open_store();
	if ((r = store_queue_list(st, print_queue_entry, &n)) != STORE_OK)
		ctl_die("cannot list the queue: %s", store_strerror(r));
	if (n == 0)
		printf("queue is empty\n");
	else
		printf("%zu %s\n", n, n == 1 ? "entry" : "entries");
	return 0;
}

static int
cmd_queue_show(int argc, char **argv)
{
	struct store_qentry *e;
	time_t now = time(NULL);
	char when[32];
	int r;

	uint64_t id = parse_queue_id(argv[1]);
	open_store();
	if ((r = store_queue_get(st, id, &e)) != STORE_OK)
		ctl_die(r == STORE_NOTFOUND ? "no such queue entry: %s" :
		    "cannot read queue entry %s", argv[1]);
	printf("id: %llx\n", (unsigned long long)e->id);
	printf("sender: <%s>\n", e->sender);
	printf("domain: %s\n", e->domain);
	fmt_when(e->created, now, when, sizeof(when));
	printf("arrived: %s\n", when);
	printf("size: %llu\n", (unsigned long long)e->size);
	printf("flags:%s%s%s%s\n", e->flags & STORE_QF_8BIT ? " 8bit" : "",
	    e->flags & STORE_QF_SMTPUTF8 ? " smtputf8" : "",
	    e->flags & STORE_QF_WARNED ? " warned" : "",
	    e->flags ? "" : " -");
	printf("attempts: %u\n", e->attempts);
	fmt_when(e->last_attempt, now, when, sizeof(when));
	printf("last attempt: %s\n", when);
	fmt_when(e->next_attempt, now, when, sizeof(when));
	printf("next attempt: %s\n", when);
	if (e->mta[0] != '\0')
		printf("remote host: %s\n", e->mta);
	if (e->error[0] != '\0')
		printf("error: %s\n", e->error);
	for (size_t i = 0; i < e->nrcpts; i++)
		printf("recipient: <%s> %s%s%s\n", e->rcpts[i].address,
		    qstate_name(e->rcpts[i].state), e->rcpts[i].reply[0] ? ": " : "",
		    e->rcpts[i].reply);
	store_qentry_free(&e);
	return 0;
}

static int
cmd_queue_flush(int argc, char **argv)
{
	uint64_t id = 0;
	size_t n = 0;
	int r;

	if (argc == 2)
		id = parse_queue_id(argv[1]);
	open_store();
	r = store_queue_flush(st, id, time(NULL), &n);
	if (r == STORE_NOTFOUND)
		ctl_die("no such queue entry: %s", argv[1]);
	if (r != STORE_OK)
		ctl_die("cannot flush the queue: %s", store_strerror(r));
	printf("%zu %s due now\n", n, n == 1 ? "entry" : "entries");
	return 0;
}

static int
cmd_queue_delete(int argc, char **argv)
{
	int r;
	uint64_t id = parse_queue_id(argv[1]);
	open_store();
	r = store_queue_delete(st, id);
	if (r == STORE_NOTFOUND)
		ctl_die("no such queue entry: %s", argv[1]);
	if (r != STORE_OK)
		ctl_die("cannot delete queue entry %s: %s", argv[1], store_strerror(r));
	return 0;
}

/* "check" is `minimaild -t`: the same checks (configuration, certificate
 * and key, listeners, http listener, the resolver's trust anchor) and the same output, errors then
 * warnings on stderr and "FILE: configuration ok" on stdout. Then, as
 * run_as, that the store opens (when data_dir exists: minimaild makes
 * it); only a store that does not open adds a line (and exit 1). */
static int
cmd_check(int argc, char **argv)
{
	struct config_errors errs;
	struct stat sb;

	if (argc != 1)
		usage_error();
	config_errors_init(&errs);
	cfg = config_load(config_path, &errs);
	hostname_config(cfg);
	if (cfg != NULL) {
		tls_check(cfg, &errs);
		privcheck_run_as(cfg, &errs);
		listeners_check(cfg, &errs);
		http_check(cfg, &errs);
		dkim_check(cfg, &errs);
		metrics_http_check(cfg, &errs);
		dns_check(cfg, &errs);
	}
	for (size_t i = 0; i < errs.errors.n; i++)
		fprintf(stderr, "%s\n", errs.errors.v[i]);
	for (size_t i = 0; i < errs.warnings.n; i++)
		fprintf(stderr, "%s\n", errs.warnings.v[i]);
	if (cfg == NULL || errs.errors.n > 0) {
		if (cfg == NULL && errs.errors.n == 0)
			fprintf(stderr, "%s: cannot load\n", config_path);
		config_errors_clear(&errs);
		config_free(&cfg);
		exit(1);
	}
	config_errors_clear(&errs);
	drop_privileges();
	if (stat(cfg->data_dir, &sb) == 0) {
		open_store();
		close_store();
	}
	printf("%s: configuration ok\n", config_path);
	config_free(&cfg);
	return 0;
}

/* "client-settings ADDRESS": the table a person types into a mail
 * client, from the config alone (lib/clientcfg.c); no store needed. */
static int
cmd_client_settings(int argc, char **argv)
{
	char err[512];

	if (argc != 2)
		ctl_die("usage: minimailctl client-settings ADDRESS");
	load_config();
	char *table = clientcfg_table(cfg, argv[1], err, sizeof(err));
	if (table == NULL)
		ctl_die("%s", err);
	fputs(table, stdout);
	free(table);
	char *urls = clientcfg_urls(cfg, argv[1]);
	if (urls != NULL)
		fputs(urls, stdout);
	free(urls);
	config_free(&cfg);
	ctl_flush();
	return 0;
}

/* "dkim keygen DOMAIN [--selector S]" (src/ctl/ctl-dkim.c). */
static int
cmd_dkim_keygen(int argc, char **argv)
{
	return ctl_dkim_keygen(cfg, argc, argv);
}

/* sieve list|get|put|del|activate: src/ctl/ctl-sieve.c, on the store */
static int
cmd_sieve(int argc, char **argv)
{
	struct sieve_limits lim;
	sieve_limits_default(&lim);
	lim.max_script_bytes = (size_t)cfg->sieve_max_script_size;
	lim.max_actions = cfg->sieve_max_actions;
	lim.max_redirects = cfg->sieve_max_redirects;
	lim.vacation_min_days = cfg->sieve_vacation_min_days;
	open_store();
	return ctl_sieve_cmd(st, &lim, argc, argv);
}

/* argc counts the verb: "user del ADDRESS" has argc 2. A count outside
 * min_argc..max_argc is a usage error before the command runs. */
static const struct {
	const char *noun, *verb;
	int (*fn)(int, char **);
	int min_argc, max_argc;
} commands[] = {
	{ "user", "add", cmd_user_add, 2, 4 },
	{ "user", "passwd", cmd_user_passwd, 2, 2 },
	{ "user", "del", cmd_user_del, 2, 2 },
	{ "user", "list", cmd_user_list, 1, 1 },
	{ "user", "quota", cmd_user_quota, 3, 4 },
	{ "alias", "add", cmd_alias_add, 3, INT_MAX },
	{ "alias", "del", cmd_alias_del, 2, 2 },
	{ "alias", "list", cmd_alias_list, 1, 1 },
	{ "mailbox", "list", cmd_mailbox_list, 2, 2 },
	{ "queue", "list", cmd_queue_list, 1, 1 },
	{ "queue", "show", cmd_queue_show, 2, 2 },
	{ "queue", "flush", cmd_queue_flush, 1, 2 },
	{ "queue", "delete", cmd_queue_delete, 2, 2 },
	{ "dkim", "keygen", cmd_dkim_keygen, 2, 4 },
	{ "sieve", "list", cmd_sieve, 2, 2 },
	{ "sieve", "get", cmd_sieve, 3, 3 },
	{ "sieve", "put", cmd_sieve, 4, 4 },
	{ "sieve", "del", cmd_sieve, 3, 3 },
	{ "sieve", "activate", cmd_sieve, 2, 3 },
};

/* Commands of one word implemented in src/ctl (ctl.h). */
static const struct {
	const char *name;
	int (*fn)(struct config *, int, char **);
} ctl_commands[] = {
	{ "backup", ctl_backup },
	{ "restore", ctl_restore },
	{ "verify", ctl_verify },
	{ "import", ctl_import },
	{ "export", ctl_export },
	{ "import-imap", ctl_import_imap },
};

int
main(int argc, char **argv)
{
	int c;

	log_init("minimailctl", 1, LOG_LVL_ERROR);
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	while ((c = getopt_long(argc, argv, "+c:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config_path = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("minimailctl %s\n", PACKAGE_VERSION);
			return 0;
		default:
			usage_error();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage_error();
	if (strcmp(argv[0], "check") == 0)
		return cmd_check(argc, argv);
	if (strcmp(argv[0], "client-settings") == 0)
		return cmd_client_settings(argc, argv);
	if (strcmp(argv[0], "spf-check") == 0 || strcmp(argv[0], "auth-check") == 0) {
		load_config();
		int r = argv[0][0] == 's' ? ctl_spf_check(cfg, argc, argv) :
		    ctl_auth_check(cfg, argc, argv);
		config_free(&cfg);
		return r;
	}
	for (size_t i = 0; i < sizeof(ctl_commands) / sizeof(ctl_commands[0]); i++) {
		if (strcmp(argv[0], ctl_commands[i].name) != 0)
			continue;
		load_config();
		drop_privileges();
		int r = ctl_commands[i].fn(cfg, argc, argv);
		config_free(&cfg);
		ctl_flush();
		return r;
	}
	if (argc >= 2 && strcmp(argv[0], "sieve") == 0 && strcmp(argv[1], "test") == 0)
		return ctl_sieve_test(argc - 1, argv + 1);
	if (argc < 2)
		usage_error();
	if (strcmp(argv[0], "dns") == 0) {
		/* "dns DOMAIN" has no verb: not in the table */
		load_config();
		drop_privileges();
		int r = ctl_dns(cfg, argc, argv);
		config_free(&cfg);
		ctl_flush();
		return r;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[0], commands[i].noun) != 0 ||
		    strcmp(argv[1], commands[i].verb) != 0)
			continue;
		load_config();
		drop_privileges();
		if (argc - 1 < commands[i].min_argc || argc - 1 > commands[i].max_argc)
			usage_error();
		int r = commands[i].fn(argc - 1, argv + 1);
		close_store();
		config_free(&cfg);
		ctl_flush();
		return r;
	}
	ctl_die("unknown command '%s %s' (see minimailctl -h)", argv[0], argv[1]);
}
