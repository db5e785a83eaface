/* ctl-dkim.h: minimailctl's DKIM and DNS commands (ctl-dkim.c):
 * "dkim keygen DOMAIN [--selector S]" and "dns DOMAIN [--selector S]".
 * Each returns the exit status, having printed its one-line error
 * ("minimailctl: ...") on stderr. */
#ifndef MM_CTL_DKIM_H
#define MM_CTL_DKIM_H

struct config;

/* argv[0] is "keygen"; run as run_as already (minimailctl drops first). */
int ctl_dkim_keygen(const struct config *cfg, int argc, char **argv);
/* argv[0] is "dns". */
int ctl_dns(const struct config *cfg, int argc, char **argv);

#endif
