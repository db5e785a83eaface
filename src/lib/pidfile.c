/* pidfile.c: data_dir/minimaild.pid (see pidfile.h).
 *
 * The one idea: the file is only a hint. A reader trusts it only when the
 * pid is alive and is a minimaild (/proc/PID/comm, where /proc exists), so
 * a file left behind by a crash or a reused pid never counts; the writer
 * replaces it atomically so a reader never sees half a file. */
#include "lib/pidfile.h"
#include "lib/util.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A pid file is a pid and at most LSN_COUNT+1 listen lines of
 * CONFIG_LISTEN_ADDRS_MAX addresses; more than this is not ours. */
#define PIDFILE_MAX_BYTES 65536

static void
pidfile_path(const char *data_dir, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", data_dir, PIDFILE_NAME);
}

static void
write_listen(FILE *f, const char *name, const struct config_listen *l)
{
	for (size_t i = 0; i < l->naddrs; i++)
		fprintf(f, "listen %s %s %u\n", name,
		    l->addrs[i].host[0] ? l->addrs[i].host : "*", l->addrs[i].port);
}

/* The file this process wrote: the first data_dir stays (changing
 * data_dir takes a restart). */
static char written[PATH_MAX];

bool
pidfile_write(const struct config *cfg, char *err, size_t errlen)
{
	char tmp[PATH_MAX + 8];
	const char *path = written;

	if (written[0] == '\0')
		pidfile_path(cfg->data_dir, written, sizeof(written));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (f == NULL) {
		snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
		return false;
	}
	fprintf(f, "%ld\n", (long)getpid());
	for (int i = 0; i < LSN_COUNT; i++)
		write_listen(f, config_listener_names[i], &cfg->listen[i]);
	write_listen(f, "http", &cfg->http_listen);
	write_listen(f, "metrics", &cfg->metrics_listen);
	if (fflush(f) != 0 || ferror(f)) {
		snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
		fclose(f);
		unlink(tmp);
		return false;
	}
	fclose(f);
	if (rename(tmp, path) != 0) {
		snprintf(err, errlen, "cannot rename %s: %s", tmp, strerror(errno));
		unlink(tmp);
		return false;
	}
	return true;
}

/* The file's text, NUL-terminated, malloc'd; NULL if absent or too big. */
static char *
pidfile_read(const char *data_dir)
{
	char path[PATH_MAX];

	pidfile_path(data_dir, path, sizeof(path));
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return NULL;
	char *buf = xmalloc(PIDFILE_MAX_BYTES + 1);
	size_t n = fread(buf, 1, PIDFILE_MAX_BYTES + 1, f);
	fclose(f);
	if (n == 0 || n > PIDFILE_MAX_BYTES) {
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	return buf;
}

static long
pidfile_pid(const char *text)
{
	char *end;
	long pid = strtol(text, &end, 10);
	if (end == text || *end != '\n' || pid <= 0)
		return 0;
	return pid;
}

/* Is pid alive and a minimaild? Without /proc only "alive" is known. */
static bool
is_minimaild(long pid)
{
	if (kill((pid_t)pid, 0) != 0 && errno != EPERM)
		return false;
	char path[64], comm[64];
	snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return access("/proc/self", F_OK) != 0;
	bool yes = fgets(comm, sizeof(comm), f) != NULL &&
	    strncmp(comm, "minimaild", 9) == 0;
	fclose(f);
	/* A zombie (killed, not reaped yet) holds no port: state Z after the
	 * ")" that ends the command name in /proc/PID/stat. */
	char stat[512];
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if (yes && (f = fopen(path, "r")) != NULL) {
		size_t n = fread(stat, 1, sizeof(stat) - 1, f);
		fclose(f);
		stat[n] = '\0';
		const char *close = strrchr(stat, ')');
		if (close != NULL && close[1] == ' ' && close[2] == 'Z')
			yes = false;
	}
	return yes;
}

void
pidfile_remove(void)
{
	if (written[0] == '\0')
		return;
	FILE *f = fopen(written, "r");
	char line[32];
	if (f == NULL)
		return;
	bool ours = fgets(line, sizeof(line), f) != NULL && pidfile_pid(line) == (long)getpid();
	fclose(f);
	if (ours)
		unlink(written);
}

pid_t
pidfile_running(const char *data_dir)
{
	char *text = pidfile_read(data_dir);
	long pid = text ? pidfile_pid(text) : 0;

	free(text);
	return pid > 0 && is_minimaild(pid) ? (pid_t)pid : 0;
}

bool
pidfile_lists(const char *data_dir, const struct config_addr *a)
{
	char *text = pidfile_read(data_dir);
	bool found = false;

	if (text == NULL)
		return false;
	long pid = pidfile_pid(text);
	if (pid > 0 && is_minimaild(pid)) {
		const char *want = a->host[0] ? a->host : "*";
		char *save = NULL;
		for (char *line = strtok_r(text, "\n", &save); line;
		    line = strtok_r(NULL, "\n", &save)) {
			char name[32], host[sizeof(a->host) + 1];
			unsigned port;
			if (sscanf(line, "listen %31s %64s %u", name, host, &port) == 3 &&
			    strcmp(host, want) == 0 && port == a->port) {
				found = true;
				break;
			}
		}
	}
	free(text);
	return found;
}
