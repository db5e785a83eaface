/* ctl-common.c: what the commands of src/ctl share (see ctl.h). The one
 * idea: while the store is open, signals that would kill the process are
 * held, as in minimailctl.c, because a process that dies with the
 * environment open makes the next opener recover it, which forces the
 * running daemon to reopen the store. */
#include "ctl/ctl.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct store *ctl_st;

void
ctl_die(const char *fmt, ...)
{
	va_list ap;
	ctl_progress_end();
	fflush(stdout);
	fputs("minimailctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	store_close(&ctl_st);
	exit(1);
}

struct store *
ctl_open_store(const struct config *cfg, bool create)
{
	char err[512];
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGQUIT);
	sigaddset(&set, SIGPIPE);
	sigaddset(&set, SIGTSTP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	/* not STORE_OPEN_RECOVER: the running daemon recovers the store */
	int r = store_open(cfg->data_dir, create ? STORE_OPEN_CREATE : 0, &ctl_st,
	    err, sizeof(err));
	if (r != STORE_OK)
		ctl_die("cannot open the store: %s (%s)", err, store_strerror(r));
	return ctl_st;
}

void
ctl_close_store(void)
{
	sigset_t set;
	store_close(&ctl_st);
	sigfillset(&set);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
}

void
ctl_flush(void)
{
	if (fflush(stdout) != 0 || ferror(stdout))
		ctl_die("cannot write output: %s", strerror(errno));
}

void
ctl_fmt_bytes(uint64_t n, char *buf, size_t len)
{
	if (n < 1024)
		snprintf(buf, len, "%llu B", (unsigned long long)n);
	else if (n < 1024 * 1024)
		snprintf(buf, len, "%.1f KB", n / 1024.0);
	else if (n < 1024ull * 1024 * 1024)
		snprintf(buf, len, "%.1f MB", n / (1024.0 * 1024));
	else
		snprintf(buf, len, "%.2f GB", n / (1024.0 * 1024 * 1024));
}

/* ---- progress ---- */

static pthread_mutex_t prog_mu = PTHREAD_MUTEX_INITIALIZER;
static char prog_phase[64];
static bool prog_bar;          /* a bar is on the terminal's last line */
static int prog_tty = -1;

void
ctl_progress(void *arg, const char *phase, uint64_t done, uint64_t total)
{
	char a[32], b[32];
	(void)arg;
	pthread_mutex_lock(&prog_mu);
	if (prog_tty < 0)
		prog_tty = isatty(STDERR_FILENO);
	bool newphase = strcmp(prog_phase, phase) != 0;
	snprintf(prog_phase, sizeof(prog_phase), "%s", phase);
	if (prog_tty) {
		int pct = total ? (int)(done * 100 / total) : 100;
		int w = pct * 30 / 100;
		ctl_fmt_bytes(done, a, sizeof(a));
		ctl_fmt_bytes(total, b, sizeof(b));
		if (newphase && prog_bar)
			fputc('\n', stderr);
		if (total <= 1)
			fprintf(stderr, "\r%-14s %s", phase, done >= total ? "done" : "...");
		else
			fprintf(stderr, "\r%-14s [%-30.*s] %3d%% %s / %s", phase, w,
			    "##############################", pct, a, b);
		prog_bar = true;
		fflush(stderr);
	} else if (newphase) {
		ctl_fmt_bytes(total, b, sizeof(b));
		if (total <= 1)
			printf("%s\n", phase);
		else
			printf("%s %s\n", phase, b);
		fflush(stdout);
	}
	pthread_mutex_unlock(&prog_mu);
}

void
ctl_progress_end(void)
{
	pthread_mutex_lock(&prog_mu);
	if (prog_bar)
		fputc('\n', stderr);
	prog_bar = false;
	prog_phase[0] = '\0';
	pthread_mutex_unlock(&prog_mu);
}
