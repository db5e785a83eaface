/* spool.c: see spool.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE   /* O_TMPFILE */
#endif
#include "lib/spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/util.h"

static char spool_dir[1024];

bool
spool_init(const char *data_dir, size_t *stale_r, char *err, size_t errlen)
{
	DIR *d;
	struct dirent *e;

	*stale_r = 0;
	if ((size_t)snprintf(spool_dir, sizeof(spool_dir), "%s/spool", data_dir) >=
	    sizeof(spool_dir)) {
		snprintf(err, errlen, "spool: data_dir path too long");
		spool_dir[0] = '\0';
		return false;
	}
	if (mkdir(spool_dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", spool_dir, strerror(errno));
		return false;
	}
	if ((d = opendir(spool_dir)) == NULL) {
		snprintf(err, errlen, "cannot open %s: %s", spool_dir, strerror(errno));
		return false;
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (unlinkat(dirfd(d), e->d_name, 0) == 0)
			(*stale_r)++;
	}
	closedir(d);
	return true;
}

int
spool_open(void)
{
	int fd;

	if (spool_dir[0] == '\0') {
		errno = ENOENT;
		return -1;
	}
#ifdef O_TMPFILE
	fd = open(spool_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
		return -1;
#endif
	/* no O_TMPFILE here: a name, unlinked at once */
	char path[1100];
	snprintf(path, sizeof(path), "%s/msg.XXXXXX", spool_dir);
	if ((fd = mkostemp(path, O_CLOEXEC)) < 0)
		return -1;
	(void)unlink(path);
	return fd;
}

bool
spool_pwrite(int fd, const void *p, size_t n, uint64_t off)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = pwrite(fd, c, n, (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		c += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return true;
}

int
spool_write_chunk(int *fd, const void *p, size_t n, uint64_t off)
{
	if (*fd < 0 && (*fd = spool_open()) < 0)
		return errno;
	return spool_pwrite(*fd, p, n, off) ? 0 : errno;
}

bool
spool_pread(int fd, void *p, size_t n, uint64_t off)
{
	char *c = p;

	while (n > 0) {
		ssize_t r = pread(fd, c, n, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = EIO;
			return false;
		}
		c += r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
	return true;
}
