/* privcheck.h: for "minimaild -t" and "minimailctl check": can the user the
 * daemon serves as (run_as) read the certificate and key and write
 * data_dir? Tested for real, by a child that becomes that user. */
#ifndef MM_PRIVCHECK_H
#define MM_PRIVCHECK_H

#include "lib/config.h"

/* As root: run_as exists (unless it is root) and, as run_as, cert and key
 * (when set) open for reading and data_dir (when it exists) is writable.
 * Not root: data_dir for the current user (the daemon will not switch;
 * tls_check() reads the certificate and key as this user already).
 * Each problem is one error "FILE: ..." naming the file and the user. */
void privcheck_run_as(const struct config *cfg, struct config_errors *errs);

#endif
