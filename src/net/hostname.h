/* hostname.h: the default of 'hostname', the machine's fully qualified
 * name. It takes a DNS lookup, so it lives here and not in the pure
 * config parser (lib/config.c gives gethostname() alone). */
#ifndef MM_NET_HOSTNAME_H
#define MM_NET_HOSTNAME_H

struct config;

/* The machine's fully qualified name (gethostname + getaddrinfo
 * AI_CANONNAME), else gethostname(), else "localhost"; malloc'd and
 * lower-cased. Blocks on DNS: call it at start, or on a worker. */
char *hostname_default(void);
/* If cfg->hostname was not set in the file (cfg->hostname_default), make
 * it hostname_default(). Blocks like it. */
void hostname_config(struct config *cfg);

#endif
