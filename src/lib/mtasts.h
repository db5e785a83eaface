/* mtasts.h: MTA-STS (RFC 8461) text formats, pure: the policy we publish
 * for our domains, and the reading of other domains' _mta-sts TXT record
 * and policy file, with the MX pattern match. No network here: the
 * http listener serves mtasts_policy_text(), the relay's policy code
 * (src/relay/relay-policy.c) fetches and feeds the parsers. */
#ifndef MM_MTASTS_H
#define MM_MTASTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/limits.h"

struct config;

enum mtasts_mode {
	MTASTS_NONE = 0,
	MTASTS_TESTING,
	MTASTS_ENFORCE,
};

struct mtasts_policy {
	enum mtasts_mode mode;
	uint64_t max_age;                        /* seconds */
	char mx[MTA_STS_MX_MAX][256];            /* patterns: "mx.example.org", "*.example.org" */
	size_t nmx;
};

/* The policy file for our domains (RFC 8461 3.2): version, the mode of
 * [tls] mta_sts_mode, "mx: HOSTNAME", max_age MTA_STS_MAX_AGE_SECS; CRLF
 * line ends. malloc'd. */
char *mtasts_policy_text(const struct config *cfg);

/* One TXT record of _mta-sts.DOMAIN (RFC 8461 3.1): 1 if it is an STSv1
 * record with a valid id (copied to id_r, at least 33 bytes), 0 if it is
 * not an STS record at all (another v= or none: ignored), -1 if it starts
 * with v=STSv1 but does not parse (err set). */
int mtasts_txt_parse(const char *txt, size_t len, char *id_r, char *err,
    size_t errlen);

/* A policy file: false with a reason in err if it does not parse (no
 * version: STSv1, bad or missing mode or max_age, no mx outside mode
 * none, a bad mx pattern, over MTA_STS_POLICY_MAX_BYTES). Unknown keys
 * are ignored; for keys given twice (other than mx) the first counts. */
bool mtasts_policy_parse(const char *text, size_t len, struct mtasts_policy *p,
    char *err, size_t errlen);

/* Does host (an MX host name, any case, no trailing dot) match one of
 * p's mx patterns (RFC 8461 4.1: "*." matches one leftmost label)? */
bool mtasts_mx_match(const struct mtasts_policy *p, const char *host);

const char *mtasts_mode_name(enum mtasts_mode m);

#endif
