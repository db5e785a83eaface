/* dmarc.h: DMARC (RFC 7489) policy discovery, identifier alignment and
 * the disposition, over the same answer cache as SPF (struct spf_dns): it
 * stops with SPF_NEED_DNS naming the TXT query it lacks, the caller
 * resolves it and calls again. The organizational domain comes from the
 * Public Suffix List (libpsl, with the list Debian's publicsuffix package
 * keeps current; libpsl's built-in copy when that file is missing). */
#ifndef MM_MAIL_DMARC_H
#define MM_MAIL_DMARC_H

#include <stdbool.h>
#include <stddef.h>

#include "mail/spf.h"

enum dmarc_policy {
	DMARC_P_UNSET = 0,
	DMARC_P_NONE,
	DMARC_P_QUARANTINE,
	DMARC_P_REJECT,
};
const char *dmarc_policy_name(enum dmarc_policy p);

struct dmarc_record {
	enum dmarc_policy p, sp;
	unsigned pct;                 /* 0..100 */
	bool adkim_strict, aspf_strict;
};

/* RFC 7489 6.3/6.4: parses a TXT record. false: not a DMARC record (no
 * "v=DMARC1" first, or no usable p=); err says why. */
bool dmarc_parse_record(const char *txt, struct dmarc_record *r, char *err, size_t errlen);

/* The organizational domain of a (lower-case) domain, into buf. */
void dmarc_org_domain(const char *domain, char *buf, size_t size);
/* RFC 7489 3.1: strict means equal, relaxed means the same
 * organizational domain. */
bool dmarc_aligned(const char *a, const char *b, bool strict);

enum dmarc_result {
	DMARC_NONE = 0,        /* no policy published */
	DMARC_PASS,
	DMARC_FAIL,
	DMARC_TEMPERROR,
	DMARC_PERMERROR,       /* no usable From: domain */
};
const char *dmarc_result_name(enum dmarc_result r);

/* One DKIM signature that verified (pass only). */
struct dmarc_dkim_pass {
	const char *d;
};

struct dmarc_input {
	const char *from_domain;      /* RFC5322.From domain, or NULL */
	enum spf_result spf;          /* SPF result of the MAIL FROM identity */
	const char *spf_domain;       /* the domain SPF checked */
	const struct dmarc_dkim_pass *dkim;
	size_t ndkim;
	unsigned sample;              /* 0..99, chance for pct= */
};

struct dmarc_outcome {
	enum dmarc_result result;
	/* What to do with a failing message: the policy after pct=, or
	 * DMARC_P_NONE. */
	enum dmarc_policy disposition;
	enum dmarc_policy policy;     /* published policy (p or sp) */
	char from_domain[SPF_NAME_MAX_BYTES];
	char record_domain[SPF_NAME_MAX_BYTES];  /* where the record was found */
	bool dkim_aligned, spf_aligned;
	char need_name[SPF_NAME_MAX_BYTES];
	char problem[SPF_NAME_MAX_BYTES + 128];
};

enum spf_status dmarc_check(const struct dmarc_input *in, struct spf_dns *dns,
    struct dmarc_outcome *out);

#endif
