/* ctl-dnscheck.h: the checks of "minimailctl dns check DOMAIN" (issue 13
 * item 4): the records "minimailctl dns" prints, looked up and compared
 * with what they should be, record by record. The lookups go through a
 * function of the caller's, so the checks work with any DNS source: the
 * daemon's resolver (src/net/dns.h, on the dns branch), or a table in the
 * unit test. */
#ifndef MM_CTL_DNSCHECK_H
#define MM_CTL_DNSCHECK_H

#include <stdio.h>

#include "lib/util.h"

struct config;

enum ctl_rr {
	CTL_RR_A = 0,
	CTL_RR_AAAA,
	CTL_RR_MX,
	CTL_RR_TXT,
	CTL_RR_PTR,
};

enum ctl_dns_answer {
	CTL_DNS_OK = 0,          /* out holds the records */
	CTL_DNS_NONE,            /* NXDOMAIN or no record of the type */
	CTL_DNS_TEMP,            /* timeout, SERVFAIL */
};

/* The records of type at name, one string each, appended to out: A and
 * AAAA as inet_ntop writes them, MX "PREF HOST", TXT its strings joined,
 * PTR the host name (a final dot and case do not matter). */
typedef enum ctl_dns_answer ctl_dns_lookup_fn(void *arg, enum ctl_rr type,
    const char *name, struct mm_strlist *out);

/* Checks domain's records (the DKIM keys of selector) and prints one
 * line per record to out: "present NAME TYPE", "missing NAME TYPE: what
 * to publish", "wrong NAME TYPE: why", or "error NAME TYPE: the lookup
 * failed". Returns 0 when every record is present, 1 otherwise. */
int ctl_dns_check(const struct config *cfg, const char *domain, const char *selector,
    ctl_dns_lookup_fn *lookup, void *arg, FILE *out);

#endif
