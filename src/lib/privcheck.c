/* privcheck.c: run_as can read the key (see privcheck.h).
 *
 * The one idea: permissions are not computed from mode bits (ACLs, groups,
 * parent directories, AppArmor all matter); a forked child drops to run_as
 * exactly as the daemon does and tries open() and access() itself, then
 * reports one errno per path through a pipe. The parent stays root. */
#include "lib/privcheck.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

enum { PC_CERT, PC_KEY, PC_DATA_DIR, PC_COUNT };

static void
add_error(struct config_errors *errs, char *msg)
{
	mm_strlist_add(&errs->errors, msg);
	free(msg);
}

/* errno of each check as the current user, 0 when fine or not applicable. */
static void
try_paths(const struct config *cfg, int res[PC_COUNT])
{
	const char *files[2] = { cfg->tls_cert, cfg->tls_key };
	struct stat sb;

	for (int i = 0; i < 2; i++) {
		res[i] = 0;
		if (files[i] == NULL)
			continue;
		int fd = open(files[i], O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			res[i] = errno;
		else
			close(fd);
	}
	res[PC_DATA_DIR] = 0;
	if (stat(cfg->data_dir, &sb) == 0) {
		if (access(cfg->data_dir, W_OK | X_OK) != 0)
			res[PC_DATA_DIR] = errno;
	} else if (errno != ENOENT) {
		res[PC_DATA_DIR] = errno;
	}
}

/* try_paths() as pw in a child; false (and err) if the child failed. */
static bool
try_as(const struct passwd *pw, const struct config *cfg, int res[PC_COUNT],
    char *err, size_t errlen)
{
	int fds[2];
	if (pipe(fds) != 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		return false;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return false;
	}
	if (pid == 0) {
		close(fds[0]);
		int r[PC_COUNT];
		if (initgroups(pw->pw_name, pw->pw_gid) != 0 || setgid(pw->pw_gid) != 0 ||
		    setuid(pw->pw_uid) != 0)
			_exit(2);
		try_paths(cfg, r);
		_exit(write(fds[1], r, sizeof(r)) == (ssize_t)sizeof(r) ? 0 : 3);
	}
	close(fds[1]);
	ssize_t n;
	do
		n = read(fds[0], res, sizeof(int) * PC_COUNT);
	while (n < 0 && errno == EINTR);
	close(fds[0]);
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (n != (ssize_t)(sizeof(int) * PC_COUNT)) {
		snprintf(err, errlen, "cannot switch to user %s to check its access",
		    pw->pw_name);
		return false;
	}
	return true;
}

void
privcheck_run_as(const struct config *cfg, struct config_errors *errs)
{
	int res[PC_COUNT];
	char who[300], err[512];
	struct passwd *pw = NULL;

	if (geteuid() == 0) {
		if (cfg->run_as == NULL || strcmp(cfg->run_as, "root") == 0)
			return;
		errno = 0;
		pw = getpwnam(cfg->run_as);
		if (pw == NULL) {
			add_error(errs, xasprintf("%s: run_as user '%s' does not "
			    "exist: create it (systemd-sysusers, or useradd --system "
			    "--user-group --home-dir %s --shell /usr/sbin/nologin %s)",
			    cfg->path, cfg->run_as, cfg->data_dir, cfg->run_as));
			return;
		}
		if (pw->pw_uid == 0)
			return;
		snprintf(who, sizeof(who), "run_as user %s", pw->pw_name);
		if (!try_as(pw, cfg, res, err, sizeof(err))) {
			add_error(errs, xasprintf("%s: %s", cfg->path, err));
			return;
		}
	} else {
		struct passwd *me = getpwuid(geteuid());
		snprintf(who, sizeof(who), "user %s (minimaild runs as the user that "
		    "starts it)", me ? me->pw_name : "?");
		try_paths(cfg, res);
		/* the certificate and key were just loaded as this user by
		 * tls_check(), which reports a file it cannot read */
		res[PC_CERT] = res[PC_KEY] = 0;
	}
	struct group *gr = pw ? getgrgid(pw->pw_gid) : NULL;
	static const char *const what[2] = { "certificate", "key" };
	const char *files[2] = { cfg->tls_cert, cfg->tls_key };
	for (int i = 0; i < 2; i++)
		if (res[i] != 0)
			add_error(errs, xasprintf("%s: [tls] %s %s cannot be "
			    "read by %s: %s (the daemon reads it again on reload; give "
			    "the group %s read access or use the unit's LoadCredential=, "
			    "see minimaild(8))", cfg->path, what[i], files[i], who,
			    strerror(res[i]), gr ? gr->gr_name : "of that user"));
	if (res[PC_DATA_DIR] != 0)
		add_error(errs, xasprintf("%s: data_dir %s is not writable "
		    "by %s: %s (chown it to that user)", cfg->path, cfg->data_dir, who,
		    strerror(res[PC_DATA_DIR])));
}
