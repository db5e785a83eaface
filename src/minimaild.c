/* minimaild.c: the daemon: config, listeners, TLS, privilege drop, store,
 * worker pool, notify hub, signals, and the one event loop.
 *
 * The one idea: everything that may fail is done before READY (bind,
 * certificate, store recovery), in an order that lets root do only what
 * needs root (binding, reading the key) before dropping to run_as. */
#include "dkim/dkim.h"
#include "imap/imap-bodycache.h"
#include "lib/config.h"
#include "lib/limits.h"
#include "lib/log.h"
#include "lib/membudget.h"
#include "lib/spool.h"
#include "lib/pidfile.h"
#include "lib/privcheck.h"
#include "lib/util.h"
#include "net/conn.h"
#include "net/dns.h"
#include "net/hostname.h"
#include "net/http.h"
#include "net/listener.h"
#include "net/metrics-http.h"
#include "net/notify.h"
#include "net/proto.h"
#include "net/server.h"
#include "net/tls.h"
#include "net/worker.h"
#include "relay/relay.h"
#include "store/store.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define CHECKPOINT_INTERVAL_SECS 60

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif

static struct mm_server srv;
static const char *config_path = SYSCONFDIR "/minimaild.conf";
static struct event *ev_checkpoint, *ev_grace, *ev_exitcheck;
static struct config **old_configs;
static size_t nold_configs;
/* DKIM keysets replaced by SIGHUP: deliveries in flight may still sign
 * with them, so they are kept until exit, like old configs. */
static struct dkim_keyset **old_dkim;
static size_t nold_dkim;
static bool checkpoint_running;
/* Outbound delivery (src/relay). It polls the queue once a second, so new
 * queue entries (SMTP) and "minimailctl queue flush" (another process)
 * need no signal: they change the store, and the next poll acts. */
static struct relay_engine *relay;

static void
usage(FILE *f, int status)
{
	fprintf(f, "usage: minimaild [-c FILE] [-f] [-t] [-V] [-h]\n"
	    "  -c FILE  configuration file (default %s)\n"
	    "  -f       stay in the foreground and log to stderr\n"
	    "  -t       check the configuration, certificate, listeners and what\n"
	    "           run_as can read and write, then exit\n"
	    "  -V       print the version and exit\n"
	    "  -h, --help  print this and exit\n",
	    SYSCONFDIR "/minimaild.conf");
	exit(status);
}

/* ---- systemd readiness (sd_notify protocol, no libsystemd needed) ---- */

static void
sd_notify_send(const char *msg)
{
	const char *path = getenv("NOTIFY_SOCKET");
	if (path == NULL || path[0] == '\0')
		return;
	struct sockaddr_un sun;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	size_t len = strlen(path);
	if (len >= sizeof(sun.sun_path))
		return;
	memcpy(sun.sun_path, path, len);
	if (sun.sun_path[0] == '@')
		sun.sun_path[0] = '\0';
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	socklen_t slen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	if (sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sun, slen) < 0)
		log_warn("sd_notify: %s", strerror(errno));
	close(fd);
}

/* ---- config ---- */

static void
print_errors(const struct config_errors *errs)
{
	for (size_t i = 0; i < errs->errors.n; i++)
		fprintf(stderr, "%s\n", errs->errors.v[i]);
	for (size_t i = 0; i < errs->warnings.n; i++)
		fprintf(stderr, "%s\n", errs->warnings.v[i]);
}

static int
check_config(void)
{
	struct config_errors errs;
	config_errors_init(&errs);
	struct config *cfg = config_load(config_path, &errs);
	hostname_config(cfg);
	if (cfg != NULL) {
		tls_check(cfg, &errs);
		privcheck_run_as(cfg, &errs);
		listeners_check(cfg, &errs);
		http_check(cfg, &errs);
		dkim_check(cfg, &errs);
		metrics_http_check(cfg, &errs);
		pid_t running = pidfile_running(cfg->data_dir);
		if (running > 0)
			printf("%s: minimaild (pid %ld) is serving from %s; the addresses it "
			    "listens on are not reported as taken\n", config_path, (long)running,
			    cfg->data_dir);
		dns_check(cfg, &errs);
	}
	print_errors(&errs);
	int rc = errs.errors.n ? 1 : 0;
	if (rc == 0)
		printf("%s: configuration ok\n", config_path);
	config_errors_clear(&errs);
	config_free(&cfg);
	return rc;
}

/* ---- store ---- */

static void
store_change_hook(void *arg, const char *user, uint32_t mailbox_id, unsigned kind)
{
	notify_hub_post(arg, user, mailbox_id, kind);
}

static void
checkpoint_work(void *arg)
{
	int err = store_checkpoint(srv.store);
	if (err != STORE_OK)
		log_warn("store: checkpoint failed: %s", store_strerror(err));
}

static void
checkpoint_done(void *arg)
{
	checkpoint_running = false;
}

static void
checkpoint_cb(evutil_socket_t fd, short what, void *arg)
{
	if (checkpoint_running || srv.shutting_down)
		return;
	checkpoint_running = true;
	worker_submit(srv.pool, WORKER_LANE_SLOW, checkpoint_work, checkpoint_done, NULL);
}

/* ---- open files ---- */

/* Every connection is a descriptor: the soft RLIMIT_NOFILE goes up to the
 * hard limit (systemd's LimitNOFILE, the unit sets 200000), and the log
 * says when max_connections cannot be reached under it. */
static void
nofile_check(const struct config *cfg)
{
	uint64_t soft = mm_nofile_raise();
	if (soft != 0 && (uint64_t)cfg->max_connections + CONN_NOFILE_RESERVE > soft)
		log_warn("max_connections (%u) exceeds the open-file limit: RLIMIT_NOFILE is "
		    "%llu, about %llu connections fit beside the %u descriptors the store "
		    "and listeners keep; raise LimitNOFILE (ulimit -n) or lower max_connections",
		    cfg->max_connections, (unsigned long long)soft,
		    (unsigned long long)(soft > CONN_NOFILE_RESERVE ? soft - CONN_NOFILE_RESERVE : 0),
		    CONN_NOFILE_RESERVE);
}

/* ---- privileges ---- */

static void
prepare_data_dir(const struct config *cfg, const struct passwd *pw)
{
	if (mkdir(cfg->data_dir, 0750) < 0 && errno != EEXIST)
		fatal("cannot create data_dir %s: %s", cfg->data_dir, strerror(errno));
	if (pw && chown(cfg->data_dir, pw->pw_uid, pw->pw_gid) < 0)
		fatal("cannot chown data_dir %s to %s: %s", cfg->data_dir, pw->pw_name,
		    strerror(errno));
}

static void
drop_privileges(const struct passwd *pw)
{
	if (setgroups(1, &pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0)
		fatal("cannot drop privileges to %s: %s", pw->pw_name, strerror(errno));
	if (setuid(0) == 0)
		fatal("privilege drop to %s did not stick", pw->pw_name);
	log_info("running as user %s", pw->pw_name);
}

/* ---- signals ---- */

static void
exitcheck_cb(evutil_socket_t fd, short what, void *arg)
{
	if (conn_live_count() == 0)
		event_base_loopexit(srv.base, NULL);
}

static void
grace_cb(evutil_socket_t fd, short what, void *arg)
{
	log_info("shutdown: dropping %zu remaining connections", conn_live_count());
	conn_abort_all();
	event_base_loopexit(srv.base, NULL);
}

static void
on_terminate(evutil_socket_t sig, short what, void *arg)
{
	if (srv.shutting_down)
		return;
	srv.shutting_down = true;
	sd_notify_send("STOPPING=1");
	log_info("signal %d: shutting down", (int)sig);
	listeners_close();
	http_stop();
	metrics_http_stop();
	relay_engine_stop(relay);
	conn_shutdown_all();
	struct timeval grace = { CONN_SHUTDOWN_GRACE_SECS, 0 };
	evtimer_add(ev_grace, &grace);
	struct timeval tick = { 0, 50000 };
	event_add(ev_exitcheck, &tick);
}

/* SIGHUP. Reading the file, resolving the default hostname and loading the
 * certificate can block, so they run on a worker; binding and the swap run
 * back on the loop. A SIGHUP during a reload is remembered and run after. */
struct reload_job {
	struct config_errors errs;
	struct config *cfg;
	struct tls_ctx *tls;
	struct dkim_keyset *dkim;
	char err[1024];
};

static bool reload_running, reload_again;
static void reload_start(void);

static void
reload_work(void *arg)
{
	struct reload_job *j = arg;
	j->cfg = config_load(config_path, &j->errs);
	hostname_config(j->cfg);
	if (j->cfg != NULL)
		j->tls = tls_ctx_new(j->cfg, j->err, sizeof(j->err));
	if (j->cfg != NULL && j->tls != NULL)
		j->dkim = dkim_keyset_load(j->cfg, &j->errs);
}

static void
reload_done(void *arg)
{
	struct reload_job *j = arg;
	struct config *cfg = j->cfg;
	char err[1024];

	reload_running = false;
	if (srv.shutting_down)
		goto out;
	if (cfg == NULL) {
		for (size_t i = 0; i < j->errs.errors.n; i++)
			log_error("%s", j->errs.errors.v[i]);
		log_error("reload failed: keeping the running configuration");
		goto out;
	}
	for (size_t i = 0; i < j->errs.warnings.n; i++)
		log_warn("%s", j->errs.warnings.v[i]);
	if (j->tls == NULL) {
		log_error("reload failed: tls: %s; keeping the running configuration", j->err);
		goto out;
	}
	if (j->dkim == NULL) {
		for (size_t i = 0; i < j->errs.errors.n; i++)
			log_error("dkim: %s", j->errs.errors.v[i]);
		log_error("reload failed: a DKIM key cannot be used; keeping the running "
		    "configuration");
		goto out;
	}
	if (strcmp(cfg->data_dir, srv.cfg->data_dir) != 0)
		log_warn("reload: data_dir changed to %s; this takes a restart, still using %s",
		    cfg->data_dir, srv.cfg->data_dir);
	if (!listeners_rebind(&srv, srv.cfg, cfg, err, sizeof(err))) {
		log_error("reload failed: %s; keeping the running configuration", err);
		goto out;
	}
	if (!http_reload(&srv, srv.cfg, cfg, err, sizeof(err)))
		log_error("reload: %s; the http listener keeps its old addresses", err);
	if (!metrics_http_reload(&srv, srv.cfg, cfg, err, sizeof(err)))
		log_error("reload: %s; the metrics listener keeps its old addresses", err);
	tls_ctx_free(&srv.tls);
	srv.tls = j->tls;
	j->tls = NULL;
	if (!dns_reconfigure(srv.dns, cfg, err, sizeof(err)))
		log_error("reload: dns: %s; the resolver keeps its old settings", err);
	old_dkim = xrealloc(old_dkim, (nold_dkim + 1) * sizeof(*old_dkim));
	old_dkim[nold_dkim++] = srv.dkim;
	srv.dkim = j->dkim;
	j->dkim = NULL;
	/* Sessions and jobs may still read the old config: keep it until exit. */
	old_configs = xrealloc(old_configs, (nold_configs + 1) * sizeof(*old_configs));
	old_configs[nold_configs++] = srv.cfg;
	srv.cfg = cfg;
	j->cfg = NULL;
	log_set_level((enum log_level)cfg->log_level);
	nofile_check(cfg);
	membudget_set_limit(cfg->max_memory);
	if (!store_auth_cache_set_ttl(cfg->auth_cache_ttl))
		log_warn("reload: the auth cache could not be turned on");
	if (!pidfile_write(cfg, err, sizeof(err)))
		log_warn("reload: %s", err);
	log_info("reload: done");
out:
	tls_ctx_free(&j->tls);
	dkim_keyset_free(&j->dkim);
	config_free(&j->cfg);
	config_errors_clear(&j->errs);
	free(j);
	sd_notify_send("READY=1");
	if (reload_again && !srv.shutting_down) {
		reload_again = false;
		reload_start();
	}
}

static void
reload_start(void)
{
	struct reload_job *j = xcalloc(1, sizeof(*j));

	sd_notify_send("RELOADING=1");
	log_info("SIGHUP: reloading %s", config_path);
	config_errors_init(&j->errs);
	reload_running = true;
	worker_submit(srv.pool, WORKER_LANE_SLOW, reload_work, reload_done, j);
}

static void
on_reload(evutil_socket_t sig, short what, void *arg)
{
	if (srv.shutting_down || srv.pool == NULL)
		return;
	if (reload_running) {
		reload_again = true;
		return;
	}
	reload_start();
}

int
main(int argc, char **argv)
{
	bool foreground = false, test = false;
	int ch;

	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	while ((ch = getopt_long(argc, argv, "c:fthV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': config_path = optarg; break;
		case 'f': foreground = true; break;
		case 't': test = true; break;
		case 'V': printf("minimaild %s\n", PACKAGE_VERSION); return 0;
		case 'h': usage(stdout, 0); break;
		default: usage(stderr, 1);
		}
	}
	if (optind != argc)
		usage(stderr, 1);

	log_init("minimaild", foreground || test, LOG_LVL_INFO);
	if (test)
		return check_config();

	struct config_errors errs;
	config_errors_init(&errs);
	srv.cfg = config_load(config_path, &errs);
	hostname_config(srv.cfg);
	if (srv.cfg == NULL) {
		print_errors(&errs);
		config_errors_clear(&errs);
		return 1;
	}
	for (size_t i = 0; i < errs.warnings.n; i++)
		log_warn("%s", errs.warnings.v[i]);
	config_errors_clear(&errs);
	log_set_level((enum log_level)srv.cfg->log_level);
	nofile_check(srv.cfg);

	signal(SIGPIPE, SIG_IGN);
	if (evthread_use_pthreads() != 0)
		fatal("libevent without pthreads support");
	srv.base = event_base_new();
	if (srv.base == NULL)
		fatal("event_base_new failed");
	/* Signals first: one that arrives while the store recovers is handled
	 * as soon as the loop runs, instead of killing the process. */
	struct event *ev_term = evsignal_new(srv.base, SIGTERM, on_terminate, NULL);
	struct event *ev_int = evsignal_new(srv.base, SIGINT, on_terminate, NULL);
	struct event *ev_hup = evsignal_new(srv.base, SIGHUP, on_reload, NULL);
	event_add(ev_term, NULL);
	event_add(ev_int, NULL);
	event_add(ev_hup, NULL);

	/* Who we will run as. */
	struct passwd *pw = NULL, pwcopy;
	if (geteuid() == 0) {
		if (srv.cfg->run_as == NULL || srv.cfg->run_as[0] == '\0')
			fatal("run_as is empty: refusing to serve as root");
		if (strcmp(srv.cfg->run_as, "root") == 0) {
			log_warn("run_as = root: serving as root is NOT recommended (tests only)");
		} else {
			pw = getpwnam(srv.cfg->run_as);
			if (pw == NULL)
				fatal("run_as user '%s' does not exist: refusing to serve as root "
				    "(create it: adduser --system --group %s)", srv.cfg->run_as,
				    srv.cfg->run_as);
			pwcopy = *pw;
			pwcopy.pw_name = xstrdup(pw->pw_name);
			pw = &pwcopy;
		}
	}

	listener_set_modules(&smtp_module, &imap_module, &pop3_module);
	listener_set_managesieve(&managesieve_module);
	char err[1024];
	if (!listeners_bind(&srv, srv.cfg, err, sizeof(err)))
		fatal("%s", err);
	if (!http_start(&srv, srv.cfg, err, sizeof(err)))
		fatal("%s", err);
	if (!metrics_http_start(&srv, srv.cfg, err, sizeof(err)))
		fatal("%s", err);
	prepare_data_dir(srv.cfg, pw);
	srv.tls = tls_ctx_new(srv.cfg, err, sizeof(err));
	if (srv.tls == NULL)
		fatal("tls: %s", err);
	/* The signing keys, read before the privilege drop (they are run_as's,
	 * mode 0600; root reads them too). A key that exists but cannot be
	 * used stops the start: mail must not leave signed by the wrong key,
	 * or silently unsigned. */
	config_errors_init(&errs);
	srv.dkim = dkim_keyset_load(srv.cfg, &errs);
	for (size_t i = 0; i < errs.warnings.n; i++)
		log_warn("%s", errs.warnings.v[i]);
	if (srv.dkim == NULL) {
		for (size_t i = 1; i < errs.errors.n; i++)
			log_error("dkim: %s", errs.errors.v[i]);
		fatal("dkim: %s", errs.errors.n > 0 ? errs.errors.v[0] : "cannot load the keys");
	}
	config_errors_clear(&errs);
	if (pw) {
		char c[1100], k[1100];
		tls_selfsigned_paths(srv.cfg, c, k, sizeof(c));
		char dir[1100];
		snprintf(dir, sizeof(dir), "%s/tls", srv.cfg->data_dir);
		/* The self-signed pair made as root must stay readable after the drop. */
		if (chown(dir, pw->pw_uid, pw->pw_gid) == 0) {
			if (chown(c, pw->pw_uid, pw->pw_gid) < 0 || chown(k, pw->pw_uid, pw->pw_gid) < 0)
				log_debug("chown of self-signed pair: %s", strerror(errno));
		}
		drop_privileges(pw);
	}

	/* data_dir/spool: messages over MSG_SPOOL_THRESHOLD_BYTES while they
	 * arrive (nameless files: only a crash in the unlink window leaves one) */
	size_t stale = 0;
	if (!spool_init(srv.cfg->data_dir, &stale, err, sizeof(err)))
		fatal("%s", err);
	if (stale > 0)
		log_info("spool: removed %zu stale file(s)", stale);
	membudget_set_limit(srv.cfg->max_memory);

	struct store *st = NULL;
	if (store_open(srv.cfg->data_dir, STORE_OPEN_RECOVER | STORE_OPEN_CREATE, &st,
	    err, sizeof(err)) != STORE_OK)
		fatal("store: %s", err);
	srv.store = st;
	srv.pool = worker_pool_new(srv.base, WORKER_THREADS_DEFAULT);
	srv.hub = notify_hub_new(srv.base);
	srv.dns = dns_new(srv.base, srv.cfg, err, sizeof(err));
	if (srv.dns == NULL)
		fatal("dns: %s", err);
	store_set_change_hook(srv.store, store_change_hook, srv.hub);
	if (!store_auth_cache_set_ttl(srv.cfg->auth_cache_ttl))
		log_warn("the auth cache could not be turned on; every login runs crypt(3)");
	relay = relay_engine_new(&srv);

	ev_checkpoint = event_new(srv.base, -1, EV_PERSIST, checkpoint_cb, NULL);
	struct timeval cp = { CHECKPOINT_INTERVAL_SECS, 0 };
	event_add(ev_checkpoint, &cp);
	ev_grace = evtimer_new(srv.base, grace_cb, NULL);
	ev_exitcheck = event_new(srv.base, -1, EV_PERSIST, exitcheck_cb, NULL);

	log_info("minimaild %s ready: hostname=%s data_dir=%s", PACKAGE_VERSION,
	    srv.cfg->hostname, srv.cfg->data_dir);
	if (!pidfile_write(srv.cfg, err, sizeof(err)))
		log_warn("%s", err);
	sd_notify_send("READY=1");

	event_base_dispatch(srv.base);

	/* Drain: jobs finish and their done functions run (sessions are gone). */
	listeners_close();
	http_stop();
	metrics_http_stop();
	conn_abort_all();
	relay_engine_stop(relay);
	worker_pool_free(&srv.pool);
	relay_engine_free(&relay);
	dns_free(&srv.dns);
	store_set_change_hook(srv.store, NULL, NULL);
	notify_hub_free(&srv.hub);
	store_close(&srv.store);
	imap_bodycache_clear();
	pidfile_remove();
	tls_ctx_free(&srv.tls);
	dkim_keyset_free(&srv.dkim);
	for (size_t i = 0; i < nold_dkim; i++)
		dkim_keyset_free(&old_dkim[i]);
	free(old_dkim);
	event_free(ev_term);
	event_free(ev_int);
	event_free(ev_hup);
	event_free(ev_checkpoint);
	event_free(ev_grace);
	event_free(ev_exitcheck);
	event_base_free(srv.base);
	for (size_t i = 0; i < nold_configs; i++)
		config_free(&old_configs[i]);
	free(old_configs);
	config_free(&srv.cfg);
	if (pw != NULL)
		free(pw->pw_name);  /* pwcopy's own copy of the name */
	log_info("stopped");
	return 0;
}
