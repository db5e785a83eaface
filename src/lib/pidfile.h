/* pidfile.h: data_dir/minimaild.pid, the running daemon's pid and the
 * addresses it listens on. "minimaild -t" reads it to tell its own daemon's
 * ports from a port another program holds; contrib/demo.sh reads it to know
 * that a demo is already serving, and waits for it before its banner. */
#ifndef MM_PIDFILE_H
#define MM_PIDFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "lib/config.h"

#define PIDFILE_NAME "minimaild.pid"

/* Writes data_dir/minimaild.pid (a temporary file renamed over it): the
 * pid on the first line, then "listen NAME HOST PORT" per address (HOST
 * "*" for all addresses). Written once every listener is bound, again
 * after a reload, always to the first data_dir written. */
bool pidfile_write(const struct config *cfg, char *err, size_t errlen);
/* Removes the file pidfile_write() wrote if it still names this process
 * (clean exit). */
void pidfile_remove(void);
/* The pid recorded in data_dir when that process is alive and is a
 * minimaild, else 0 (no file, stale, or reused pid). */
pid_t pidfile_running(const char *data_dir);
/* Does the live daemon of data_dir (pidfile_running) listen on a? */
bool pidfile_lists(const char *data_dir, const struct config_addr *a);

#endif
