/* store-backup.c: hot backup and restore of the whole environment
 * (minimailctl backup / restore), with Berkeley DB 5.3's own hot-backup
 * procedure, DB_ENV->backup: the database files are copied page by page
 * through the cache (coordinated with the running daemon's writers), then
 * every log file; log removal is held off meanwhile. Catastrophic recovery
 * of the copy then rolls it forward to the end of the copied log, so a
 * backup holds every transaction that committed (every message
 * acknowledged) before the log copy began, and nothing half done.
 *
 * The one idea: a backup directory is always a recovered, openable
 * environment plus BACKUP_MARKER saying "complete". A full backup is
 * built in DIR.partial and renamed into place, so a failed run leaves the
 * last good backup; an incremental run (a complete backup exists and the
 * live environment still has every log file from the backup's last one
 * on) copies only the log files and recovers the copy again, and marks
 * the directory "updating" meanwhile, so that a run cut short is followed
 * by a full backup and restore refuses it. Restore copies a complete
 * backup into an empty data_dir and runs catastrophic recovery there. */
#include "store/store-int.h"
#include "lib/log.h"
#include "lib/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BACKUP_MARKER        "MINIMAILD-BACKUP"
#define BACKUP_KEEP_FILE     "minimaild-backup-log"  /* in data_dir: logs kept from */
#define BACKUP_COPY_BYTES    (1024 * 1024)
#define BACKUP_POLL_MSECS    200
#define BACKUP_FILES_MAX     100000   /* files one directory may hold */

static bool
is_log_file(const char *name, unsigned *no_r)
{
	if (strncmp(name, "log.", 4) != 0 || strlen(name) != 14)
		return false;
	unsigned v = 0;
	for (const char *p = name + 4; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return false;
		v = v * 10 + (unsigned)(*p - '0');
	}
	*no_r = v;
	return true;
}

/* Files Berkeley DB keeps for an open environment only. */
static bool
is_region_file(const char *name)
{
	return strncmp(name, "__db", 4) == 0;
}

static void keep_set(const char *data_dir, unsigned no);

struct dir_scan {
	uint64_t bytes;          /* regular files, all */
	uint64_t log_bytes;      /* of which log files */
	size_t files;
	unsigned log_min, log_max;
	size_t nlogs;
	bool marker;
	bool complete;           /* the marker says so */
};

/* Scans dir (regular files only). -1 with errno when it cannot be read. */
static int
scan_dir(const char *dir, struct dir_scan *s)
{
	DIR *d;
	struct dirent *de;
	char path[PATH_MAX];
	struct stat sb;

	memset(s, 0, sizeof(*s));
	if ((d = opendir(dir)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		unsigned no;
		if (de->d_name[0] == '.' && (de->d_name[1] == '\0' ||
		    (de->d_name[1] == '.' && de->d_name[2] == '\0')))
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >=
		    sizeof(path) || lstat(path, &sb) != 0)
			continue;
		s->files++;
		if (!S_ISREG(sb.st_mode))
			continue;
		if (!is_region_file(de->d_name))
			s->bytes += (uint64_t)sb.st_size;
		if (strcmp(de->d_name, BACKUP_MARKER) == 0) {
			char buf[256];
			int fd = open(path, O_RDONLY | O_CLOEXEC);
			ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
			if (fd >= 0)
				close(fd);
			s->marker = true;
			if (n > 0) {
				buf[n] = '\0';
				s->complete = strstr(buf, "\nstate complete\n") != NULL;
			}
		} else if (is_log_file(de->d_name, &no)) {
			s->log_bytes += (uint64_t)sb.st_size;
			if (s->nlogs == 0 || no < s->log_min)
				s->log_min = no;
			if (no > s->log_max)
				s->log_max = no;
			s->nlogs++;
		}
	}
	closedir(d);
	return 0;
}

static int
fsync_path(const char *path, bool dir)
{
	int fd = open(path, (dir ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int r = fsync(fd);
	int e = errno;
	close(fd);
	errno = e;
	return r;
}

/* Writes the marker (state "complete" or "updating") durably. */
static int
write_marker(const char *dir, const char *state, char *err, size_t errlen)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", dir, BACKUP_MARKER);
	snprintf(tmp, sizeof(tmp), "%s/%s.tmp", dir, BACKUP_MARKER);
	FILE *f = fopen(tmp, "w");
	if (f == NULL)
		goto fail;
	fprintf(f, "minimaild backup 1\nstate %s\ntime %lld\n", state,
	    (long long)time(NULL));
	if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
		int e = errno;
		fclose(f);
		errno = e;
		goto fail;
	}
	if (fclose(f) != 0 || rename(tmp, path) != 0 || fsync_path(dir, true) != 0)
		goto fail;
	return STORE_OK;
fail:
	snprintf(err, errlen, "%s: %s", path, strerror(errno));
	return STORE_IO;
}

/* Removes the regular files of dir and dir itself (a backup directory we
 * made: no subdirectories). */
static int
remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char path[PATH_MAX];

	if (d == NULL)
		return errno == ENOENT ? 0 : -1;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		(void)unlink(path);
	}
	closedir(d);
	return rmdir(dir);
}

/* ---- progress: a thread that watches the target grow ---- */

struct progress {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	bool stop;
	const char *dir;
	uint64_t base;           /* bytes in dir before the copy */
	uint64_t total;          /* bytes expected */
	store_progress_fn *fn;
	void *arg;
	const char *phase;
};

static void *
progress_main(void *varg)
{
	struct progress *p = varg;
	struct dir_scan s;
	struct timespec ts;

	pthread_mutex_lock(&p->mu);
	while (!p->stop) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += BACKUP_POLL_MSECS * 1000000L;
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		(void)pthread_cond_timedwait(&p->cond, &p->mu, &ts);
		if (p->stop)
			break;
		if (scan_dir(p->dir, &s) == 0) {
			uint64_t done = s.bytes > p->base ? s.bytes - p->base : 0;
			p->fn(p->arg, p->phase, done < p->total ? done : p->total,
			    p->total);
		}
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

static void
progress_start(struct progress *p, store_progress_fn *fn, void *arg,
    const char *phase, const char *dir, uint64_t base, uint64_t total)
{
	memset(p, 0, sizeof(*p));
	p->fn = fn;
	if (fn == NULL)
		return;
	p->arg = arg;
	p->phase = phase;
	p->dir = dir;
	p->base = base;
	p->total = total;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cond, NULL);
	if (pthread_create(&p->thread, NULL, progress_main, p) != 0)
		p->fn = NULL;
	fn(arg, phase, 0, total);
}

static void
progress_stop(struct progress *p, uint64_t done)
{
	if (p->fn == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->mu);
	pthread_join(p->thread, NULL);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->mu);
	p->fn(p->arg, p->phase, done, p->total);
}

/* ---- recovery of a copy ---- */

static __thread char bk_lasterr[256];

static void
bk_errcall(const DB_ENV *env, const char *pfx, const char *msg)
{
	(void)env;
	(void)pfx;
	mm_strlcpy(bk_lasterr, msg, sizeof(bk_lasterr));
}

/* Catastrophic recovery of the environment files in dir, in a private
 * environment (no region files left behind), then a checkpoint, and the
 * log files no longer needed are removed. Nothing else may have dir
 * open. */
int
sdb_recover_fatal(const char *dir, char *err, size_t errlen)
{
	DB_ENV *env;
	int r;

	bk_lasterr[0] = '\0';
	if ((r = db_env_create(&env, 0)) != 0)
		goto fail;
	env->set_errcall(env, bk_errcall);
	(void)env->set_cachesize(env, 0, 32 * 1024 * 1024, 1);
	(void)env->set_lg_max(env, 16 * 1024 * 1024);
	(void)env->set_lk_max_locks(env, 200000);
	(void)env->set_lk_max_objects(env, 200000);
	(void)env->set_lk_max_lockers(env, 20000);
	(void)env->set_tx_max(env, 2000);
	r = env->open(env, dir, DB_CREATE | DB_INIT_LOCK | DB_INIT_LOG |
	    DB_INIT_MPOOL | DB_INIT_TXN | DB_PRIVATE | DB_RECOVER_FATAL, 0600);
	if (r == 0)
		r = env->txn_checkpoint(env, 0, 0, DB_FORCE);
	if (r == 0)
		r = env->log_archive(env, NULL, DB_ARCH_REMOVE);
	int c = env->close(env, 0);
	if (r == 0)
		r = c;
	if (r == 0)
		return STORE_OK;
fail:
	snprintf(err, errlen, "%s: recovery failed: %s", dir,
	    bk_lasterr[0] != '\0' ? bk_lasterr : db_strerror(r));
	return r == ENOSPC ? STORE_IO : STORE_CORRUPT;
}

/* ---- backup ---- */

/* DB_ENV->backup of the live environment into target; called with
 * st->lock held shared. */
static int
bk_copy(struct store *st, const char *target, uint32_t flags, char *err,
    size_t errlen)
{
	int r;

	sdb_last_error_clear();
	if (st->env == NULL || atomic_load(&st->panicked))
		return SDB_RECOVER;
	if (!(flags & DB_BACKUP_UPDATE) &&
	    (r = st->env->txn_checkpoint(st->env, 0, 0, 0)) != 0)
		goto fail;
	if ((r = st->env->backup(st->env, target, flags)) != 0)
		goto fail;
	return STORE_OK;
fail:
	if (atomic_load(&st->panicked))
		return SDB_RECOVER;
	snprintf(err, errlen, "%s: copy failed: %s", target,
	    sdb_last_error()[0] != '\0' ? sdb_last_error() : db_strerror(r));
	return r == ENOSPC || r == EIO ? STORE_IO : sdb_map(r) == STORE_OK ?
	    STORE_IO : sdb_map(r);
}

/* bk_copy under st->lock, reopening the environment (at most
 * SDB_REOPEN_RETRIES times) when it needs recovery; a store that still
 * needs it is STORE_CORRUPT. */
static int
bk_copy_live(struct store *st, const char *target, uint32_t flags, char *err,
    size_t errlen)
{
	int r;
	for (int reopens = 0; ; reopens++) {
		uint64_t gen;
		pthread_rwlock_rdlock(&st->lock);
		gen = st->generation;
		r = bk_copy(st, target, flags, err, errlen);
		pthread_rwlock_unlock(&st->lock);
		if (r != SDB_RECOVER || reopens >= SDB_REOPEN_RETRIES)
			break;
		if ((r = sdb_reopen_gen(st, gen)) != STORE_OK)
			break;
	}
	if (r == SDB_RECOVER) {
		snprintf(err, errlen, "%s: the store needs recovery", st->data_dir);
		return STORE_CORRUPT;
	}
	return r;
}

int
sdb_snapshot(struct store *st, const char *dir, char *err, size_t errlen)
{
	int r;
	if ((r = bk_copy_live(st, dir, DB_BACKUP_CLEAN, err, errlen)) != STORE_OK)
		return r;
	return sdb_recover_fatal(dir, err, errlen);
}

/* The live environment's data_dir bytes and lowest log file number. */
static int
live_scan(struct store *st, struct dir_scan *s, char *err, size_t errlen)
{
	if (scan_dir(st->data_dir, s) != 0) {
		snprintf(err, errlen, "%s: %s", st->data_dir, strerror(errno));
		return STORE_IO;
	}
	return STORE_OK;
}

/* Recovers the copy in dir and marks it complete, telling fn. */
static int
bk_finish(const char *dir, store_progress_fn *fn, void *arg, char *err,
    size_t errlen)
{
	int r;

	if (fn != NULL)
		fn(arg, "recovering", 0, 1);
	if ((r = sdb_recover_fatal(dir, err, errlen)) != STORE_OK)
		return r;
	if ((r = write_marker(dir, "complete", err, errlen)) != STORE_OK)
		return r;
	if (fn != NULL)
		fn(arg, "recovering", 1, 1);
	return STORE_OK;
}

static int
bk_full(struct store *st, const char *dir, store_progress_fn *fn, void *arg,
    struct store_backup_stats *stats, char *err, size_t errlen)
{
	char tmp[PATH_MAX], old[PATH_MAX];
	struct dir_scan live, got;
	struct progress p;
	int r;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.partial", dir) >= sizeof(tmp) ||
	    (size_t)snprintf(old, sizeof(old), "%s.old", dir) >= sizeof(old)) {
		snprintf(err, errlen, "%s: path too long", dir);
		return STORE_INVALID;
	}
	if (remove_dir(tmp) != 0 && errno != ENOENT) {
		snprintf(err, errlen, "%s: cannot remove a partial backup: %s", tmp,
		    strerror(errno));
		return STORE_IO;
	}
	if (mkdir(tmp, 0700) != 0) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		return STORE_IO;
	}
	if ((r = live_scan(st, &live, err, errlen)) != STORE_OK)
		return r;
	progress_start(&p, fn, arg, "copying", tmp, 0, live.bytes);
	r = bk_copy_live(st, tmp, DB_CREATE | DB_BACKUP_CLEAN | DB_BACKUP_FILES,
	    err, errlen);
	if (scan_dir(tmp, &got) != 0)
		memset(&got, 0, sizeof(got));
	progress_stop(&p, got.bytes);
	if (r != STORE_OK)
		goto fail;
	stats->copied_bytes = got.bytes;
	stats->copied_files = got.files;
	if ((r = bk_finish(tmp, fn, arg, err, errlen)) != STORE_OK)
		goto fail;
	/* into place: the old backup goes only once the new one is there */
	(void)remove_dir(old);
	if (rename(dir, old) != 0 && errno != ENOENT) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		r = STORE_IO;
		goto fail;
	}
	if (rename(tmp, dir) != 0) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		(void)rename(old, dir);
		r = STORE_IO;
		goto fail;
	}
	(void)remove_dir(old);
	char parent[PATH_MAX];
	mm_strlcpy(parent, dir, sizeof(parent));
	char *slash = strrchr(parent, '/');
	if (slash == parent)
		slash[1] = '\0';
	else if (slash != NULL)
		*slash = '\0';
	else
		mm_strlcpy(parent, ".", sizeof(parent));
	(void)fsync_path(parent, true);
	return STORE_OK;
fail:
	(void)remove_dir(tmp);
	return r;
}

/* Copies the log files (and recovers the copy) when dir's last log file
 * is still in the live environment; *done_r false: take a full one. */
static int
bk_incremental(struct store *st, const char *dir, const struct dir_scan *prev,
    store_progress_fn *fn, void *arg, struct store_backup_stats *stats,
    bool *done_r, char *err, size_t errlen)
{
	struct dir_scan live, got;
	struct progress p;
	int r;

	*done_r = false;
	if ((r = live_scan(st, &live, err, errlen)) != STORE_OK)
		return r;
	if (prev->nlogs == 0 || live.nlogs == 0 || live.log_min > prev->log_max) {
		stats->reason = "log files were removed since the last backup";
		return STORE_OK;
	}
	if ((r = write_marker(dir, "updating", err, errlen)) != STORE_OK)
		return r;
	uint64_t logbytes = 0;
	{
		/* about what is copied: the live log files */
		DIR *d = opendir(st->data_dir);
		struct dirent *de;
		struct stat sb;
		char path[PATH_MAX];
		unsigned no;
		while (d != NULL && (de = readdir(d)) != NULL)
			if (is_log_file(de->d_name, &no) && no >= prev->log_max &&
			    (size_t)snprintf(path, sizeof(path), "%s/%s",
			    st->data_dir, de->d_name) < sizeof(path) &&
			    stat(path, &sb) == 0)
				logbytes += (uint64_t)sb.st_size;
		if (d != NULL)
			closedir(d);
	}
	/* DB_BACKUP_CLEAN with DB_BACKUP_UPDATE: the backup's log files are
	 * replaced by the live ones from its last one on (Berkeley DB checks
	 * that they overlap); its recovered databases stay */
	progress_start(&p, fn, arg, "copying logs", dir, prev->bytes - prev->log_bytes,
	    logbytes);
	r = bk_copy_live(st, dir, DB_BACKUP_UPDATE | DB_BACKUP_CLEAN, err, errlen);
	if (scan_dir(dir, &got) != 0)
		memset(&got, 0, sizeof(got));
	progress_stop(&p, logbytes);
	if (r != STORE_OK)
		return r;
	/* every log file from the backup's last one on must be there */
	for (unsigned no = prev->log_max; no <= got.log_max; no++) {
		char path[PATH_MAX];
		struct stat sb;
		snprintf(path, sizeof(path), "%s/log.%010u", dir, no);
		if (stat(path, &sb) != 0) {
			stats->reason = "a log file was removed during the copy";
			return STORE_OK;
		}
	}
	stats->copied_bytes = logbytes;
	stats->copied_files = got.log_max - prev->log_max + 1;
	if ((r = bk_finish(dir, fn, arg, err, errlen)) != STORE_OK)
		return r;
	stats->incremental = true;
	*done_r = true;
	return STORE_OK;
}

int
store_backup(struct store *st, const char *dir, bool full,
    store_progress_fn *fn, void *arg, struct store_backup_stats *stats_r,
    char *err, size_t errlen)
{
	struct stat sb;
	struct dir_scan prev;
	uint64_t start = mm_now_ms();
	int r;

	memset(stats_r, 0, sizeof(*stats_r));
	if (dir[0] == '\0' || strlen(dir) > PATH_MAX - 32) {
		snprintf(err, errlen, "invalid backup directory '%s'", dir);
		return STORE_INVALID;
	}
	if (stat(dir, &sb) == 0) {
		if (!S_ISDIR(sb.st_mode)) {
			snprintf(err, errlen, "%s: not a directory", dir);
			return STORE_INVALID;
		}
		if (scan_dir(dir, &prev) != 0) {
			snprintf(err, errlen, "%s: %s", dir, strerror(errno));
			return STORE_IO;
		}
		if (!prev.marker && prev.files > 0) {
			snprintf(err, errlen, "%s: not empty and not a minimaild backup", dir);
			return STORE_EXISTS;
		}
		if (!prev.complete && prev.marker)
			stats_r->reason = "the last backup there did not finish";
		else if (full)
			stats_r->reason = "asked for";
		if (prev.complete && !full) {
			bool done;
			r = bk_incremental(st, dir, &prev, fn, arg, stats_r, &done,
			    err, errlen);
			if (r != STORE_OK || done)
				goto out;
		}
	} else if (errno != ENOENT) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return STORE_IO;
	} else {
		stats_r->reason = "first backup";
	}
	r = bk_full(st, dir, fn, arg, stats_r, err, errlen);
out:
	if (r == STORE_OK && scan_dir(dir, &prev) == 0) {
		stats_r->backup_bytes = prev.bytes;
		stats_r->log_last = prev.log_max;
		/* checkpoints keep the log files the next run needs */
		keep_set(st->data_dir, prev.log_max);
	}
	stats_r->msecs = mm_now_ms() - start;
	return r;
}

/* ---- log files kept for the next incremental backup ---- */

static unsigned
keep_from(const char *data_dir)
{
	char path[PATH_MAX], buf[32];
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", data_dir, BACKUP_KEEP_FILE) >=
	    sizeof(path))
		return 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return (unsigned)strtoul(buf, NULL, 10);
}

static void
keep_set(const char *data_dir, unsigned no)
{
	char path[PATH_MAX], tmp[PATH_MAX], buf[32];
	snprintf(path, sizeof(path), "%s/%s", data_dir, BACKUP_KEEP_FILE);
	snprintf(tmp, sizeof(tmp), "%s/%s.tmp", data_dir, BACKUP_KEEP_FILE);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	int n = snprintf(buf, sizeof(buf), "%u\n", no);
	bool ok = write(fd, buf, (size_t)n) == n && fsync(fd) == 0;
	close(fd);
	if (!ok || rename(tmp, path) != 0)
		(void)unlink(tmp);
}

int
sdb_archive_logs(struct store *st)
{
	unsigned from = keep_from(st->data_dir);
	char **names = NULL;
	int r;

	if (from == 0)
		return st->env->log_archive(st->env, NULL, DB_ARCH_REMOVE);
	/* the log files no longer needed for recovery */
	if ((r = st->env->log_archive(st->env, &names, 0)) != 0 || names == NULL)
		return r;
	size_t kept = 0;
	for (char **p = names; *p != NULL; p++) {
		unsigned no;
		if (is_log_file(*p, &no) && no >= from)
			kept++;
	}
	if (kept > SDB_BACKUP_KEEP_LOGS_MAX) {
		/* no backup for too long: the next one is a full one */
		char path[PATH_MAX];
		snprintf(path, sizeof(path), "%s/%s", st->data_dir, BACKUP_KEEP_FILE);
		(void)unlink(path);
		from = UINT_MAX;
	}
	for (char **p = names; *p != NULL; p++) {
		char path[PATH_MAX];
		unsigned no;
		if (!is_log_file(*p, &no) || no >= from)
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", st->data_dir, *p) <
		    sizeof(path) && unlink(path) != 0 && errno != ENOENT)
			log_warn("store: cannot remove %s: %s", path, strerror(errno));
	}
	free(names);
	return 0;
}

/* ---- restore ---- */

static int
copy_file(const char *from, const char *to, uint64_t *bytes, char *err,
    size_t errlen)
{
	char *buf = xmalloc(BACKUP_COPY_BYTES);
	int in = open(from, O_RDONLY | O_CLOEXEC);
	int out = -1, r = STORE_IO;
	const char *what = from;

	if (in < 0)
		goto done;
	what = to;
	if ((out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0)
		goto done;
	for (;;) {
		what = from;
		ssize_t n = read(in, buf, BACKUP_COPY_BYTES);
		if (n < 0)
			goto done;
		if (n == 0)
			break;
		what = to;
		for (ssize_t off = 0; off < n; ) {
			ssize_t w = write(out, buf + off, (size_t)(n - off));
			if (w < 0)
				goto done;
			off += w;
		}
		*bytes += (uint64_t)n;
	}
	what = to;
	if (fsync(out) != 0)
		goto done;
	r = STORE_OK;
done:
	if (r != STORE_OK)
		snprintf(err, errlen, "%s: %s", what, strerror(errno));
	if (out >= 0 && close(out) != 0 && r == STORE_OK) {
		snprintf(err, errlen, "%s: %s", to, strerror(errno));
		r = STORE_IO;
	}
	if (in >= 0)
		close(in);
	free(buf);
	return r;
}

int
store_restore(const char *backup_dir, const char *data_dir,
    store_progress_fn *fn, void *arg, struct store_backup_stats *stats_r,
    char *err, size_t errlen)
{
	struct dir_scan b, d;
	struct stat sb;
	uint64_t start = mm_now_ms();
	int r;

	memset(stats_r, 0, sizeof(*stats_r));
	if (scan_dir(backup_dir, &b) != 0) {
		snprintf(err, errlen, "%s: %s", backup_dir, strerror(errno));
		return errno == ENOENT ? STORE_NOTFOUND : STORE_IO;
	}
	if (!b.marker) {
		snprintf(err, errlen, "%s: not a minimaild backup (no %s)", backup_dir,
		    BACKUP_MARKER);
		return STORE_INVALID;
	}
	if (!b.complete) {
		snprintf(err, errlen, "%s: the backup did not finish; take a new one",
		    backup_dir);
		return STORE_INVALID;
	}
	if (stat(data_dir, &sb) == 0) {
		if (!S_ISDIR(sb.st_mode)) {
			snprintf(err, errlen, "%s: not a directory", data_dir);
			return STORE_INVALID;
		}
		if (scan_dir(data_dir, &d) != 0) {
			snprintf(err, errlen, "%s: %s", data_dir, strerror(errno));
			return STORE_IO;
		}
		if (d.files > 0) {
			snprintf(err, errlen, "%s: not empty: restore only into an "
			    "empty data_dir", data_dir);
			return STORE_EXISTS;
		}
	} else if (errno != ENOENT || mkdir(data_dir, 0700) != 0) {
		snprintf(err, errlen, "%s: %s", data_dir, strerror(errno));
		return STORE_IO;
	}

	DIR *dp = opendir(backup_dir);
	struct dirent *de;
	struct progress p;
	size_t nfiles = 0;
	r = STORE_OK;
	if (dp == NULL) {
		snprintf(err, errlen, "%s: %s", backup_dir, strerror(errno));
		return STORE_IO;
	}
	progress_start(&p, fn, arg, "copying", data_dir, 0, b.bytes);
	while (r == STORE_OK && (de = readdir(dp)) != NULL) {
		char from[PATH_MAX], to[PATH_MAX];
		if (de->d_name[0] == '.' || is_region_file(de->d_name) ||
		    strncmp(de->d_name, BACKUP_MARKER, strlen(BACKUP_MARKER)) == 0 ||
		    strncmp(de->d_name, BACKUP_KEEP_FILE, strlen(BACKUP_KEEP_FILE)) == 0)
			continue;
		if ((size_t)snprintf(from, sizeof(from), "%s/%s", backup_dir,
		    de->d_name) >= sizeof(from) ||
		    (size_t)snprintf(to, sizeof(to), "%s/%s", data_dir,
		    de->d_name) >= sizeof(to)) {
			snprintf(err, errlen, "%s: path too long", de->d_name);
			r = STORE_INVALID;
			break;
		}
		if (lstat(from, &sb) != 0 || !S_ISREG(sb.st_mode))
			continue;
		if (++nfiles > BACKUP_FILES_MAX) {
			snprintf(err, errlen, "%s: more than %d files", backup_dir,
			    BACKUP_FILES_MAX);
			r = STORE_LIMIT;
			break;
		}
		r = copy_file(from, to, &stats_r->copied_bytes, err, errlen);
	}
	closedir(dp);
	progress_stop(&p, stats_r->copied_bytes);
	stats_r->copied_files = nfiles;
	if (r == STORE_OK && fsync_path(data_dir, true) != 0) {
		snprintf(err, errlen, "%s: %s", data_dir, strerror(errno));
		r = STORE_IO;
	}
	if (r == STORE_OK) {
		if (fn != NULL)
			fn(arg, "recovering", 0, 1);
		r = sdb_recover_fatal(data_dir, err, errlen);
		if (fn != NULL && r == STORE_OK)
			fn(arg, "recovering", 1, 1);
	}
	if (r == STORE_OK) {
		/* it must open as a store, with every database */
		struct store *st;
		r = store_open(data_dir, 0, &st, err, errlen);
		store_close(&st);
	}
	if (r != STORE_OK) {
		/* data_dir was empty: take back what was copied, so that a
		 * second run is not refused */
		DIR *dd = opendir(data_dir);
		while (dd != NULL && (de = readdir(dd)) != NULL) {
			char path[PATH_MAX];
			if (de->d_name[0] != '.' &&
			    (size_t)snprintf(path, sizeof(path), "%s/%s", data_dir,
			    de->d_name) < sizeof(path))
				(void)unlink(path);
		}
		if (dd != NULL)
			closedir(dd);
	}
	if (r == STORE_OK && scan_dir(data_dir, &d) == 0) {
		stats_r->backup_bytes = d.bytes;
		stats_r->log_last = d.log_max;
	}
	stats_r->msecs = mm_now_ms() - start;
	return r;
}
