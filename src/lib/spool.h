/* spool.h: data_dir/spool, where messages over MSG_SPOOL_THRESHOLD_BYTES
 * wait while they arrive. A spool file has no name once open (O_TMPFILE,
 * or a name unlinked at once), so it is gone on every path: commit,
 * abort, RSET, disconnect, crash. spool_init empties the directory of
 * anything a crash in the unlink window left. Blocking: workers only
 * (spool_init at start). Pure. */
#ifndef MM_SPOOL_H
#define MM_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Creates data_dir/spool (0700) and removes stale files in it; the
 * number removed in *stale_r. False with err set. */
bool spool_init(const char *data_dir, size_t *stale_r, char *err, size_t errlen);
/* A new spool file, open read-write, or -1 (errno set). */
int spool_open(void);
/* Writes all n bytes at off; false on error (errno set). */
bool spool_pwrite(int fd, const void *p, size_t n, uint64_t off);
/* Writes all n bytes at off to *fd, opening a new spool file into *fd
 * first when it is -1 (a chunk of a message that arrives): 0, or the
 * errno of what failed. */
int spool_write_chunk(int *fd, const void *p, size_t n, uint64_t off);
/* Reads all n bytes at off; false on error or a short file. */
bool spool_pread(int fd, void *p, size_t n, uint64_t off);

#endif
