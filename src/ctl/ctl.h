/* ctl.h: minimailctl's commands that live outside src/minimailctl.c
 * (backup, restore, verify, import, export), and what they share: one
 * "minimailctl: ..." error line and exit 1 (ctl_die), the store opened with
 * signals held (as minimailctl.c does), and a progress bar on a terminal.
 * Each command is int ctl_NAME(struct config *, int argc, char **argv)
 * with argv[0] the command's name; it returns 0 or calls ctl_die(). */
#ifndef MM_CTL_H
#define MM_CTL_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/config.h"
#include "store/store.h"

void ctl_die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
/* Opens cfg's store (creating it when create); ctl_die on failure. */
struct store *ctl_open_store(const struct config *cfg, bool create);
void ctl_close_store(void);
/* stdout flushed; a write error is ctl_die. */
void ctl_flush(void);

/* A progress display for store_progress_fn: a bar on standard error when
 * it is a terminal, else one line per phase on standard output. */
void ctl_progress(void *arg, const char *phase, uint64_t done, uint64_t total);
void ctl_progress_end(void);
/* "12.3 MB" */
void ctl_fmt_bytes(uint64_t n, char *buf, size_t len);

int ctl_backup(struct config *cfg, int argc, char **argv);
int ctl_restore(struct config *cfg, int argc, char **argv);
int ctl_verify(struct config *cfg, int argc, char **argv);
int ctl_import(struct config *cfg, int argc, char **argv);
int ctl_export(struct config *cfg, int argc, char **argv);
int ctl_import_imap(struct config *cfg, int argc, char **argv);

#endif
