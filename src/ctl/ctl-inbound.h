/* ctl-inbound.h: minimailctl spf-check and auth-check (DESIGN round two):
 * the port 25 checks of src/inbound, run once from the command line with
 * the daemon's resolver settings ([dns]). */
#ifndef MM_CTL_INBOUND_H
#define MM_CTL_INBOUND_H

struct config;

/* spf-check IP MAIL-FROM HELO: prints "RESULT[ EXPLANATION]". */
int ctl_spf_check(const struct config *cfg, int argc, char **argv);
/* auth-check [--ip IP] [--helo NAME] [--mail-from ADDR] FILE|-: prints the
 * Authentication-Results header port 25 would add. */
int ctl_auth_check(const struct config *cfg, int argc, char **argv);

/* dns check DOMAIN: ctl_dns_check() (ctl-dnscheck.c) with its lookups
 * answered by the daemon's resolver, one at a time. */
int ctl_dns_check_resolver(const struct config *cfg, const char *domain,
    const char *selector);

#endif
