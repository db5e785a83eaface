/* mtasts.c: MTA-STS (RFC 8461) formats: the policy we publish, and the
 * parsers for another domain's _mta-sts TXT record and policy file.
 *
 * The one idea: both parsers read untrusted bytes off the network, so
 * they are pure functions with exact bounds (MTA_STS_POLICY_MAX_BYTES,
 * MTA_STS_MX_MAX patterns, max_age at most a year) and one answer for
 * anything they do not understand: "no valid policy", with a reason the
 * relay puts in its log and in "queue show". The grammar is RFC 8461
 * 3.1 (TXT) and 3.2 (policy); the MX match is 4.1. */
#include "lib/mtasts.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/config.h"
#include "lib/util.h"

const char *
mtasts_mode_name(enum mtasts_mode m)
{
	return m == MTASTS_ENFORCE ? "enforce" : m == MTASTS_TESTING ? "testing" : "none";
}

char *
mtasts_policy_text(const struct config *cfg)
{
	return xasprintf("version: STSv1\r\nmode: %s\r\nmx: %s\r\nmax_age: %d\r\n",
	    cfg->mta_sts_mode == CONFIG_MTA_STS_ENFORCE ? "enforce" :
	    cfg->mta_sts_mode == CONFIG_MTA_STS_NONE ? "none" : "testing",
	    cfg->hostname ? cfg->hostname : "localhost", MTA_STS_MAX_AGE_SECS);
}

static bool
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

int
mtasts_txt_parse(const char *txt, size_t len, char *id_r, char *err, size_t errlen)
{
	/* sts-text-record = sts-version 1*(*WSP %x3B *WSP sts-field) [%x3B]
	 * sts-version = %s"v=STSv1"; sts-id = %s"id=" 1*32(ALPHA / DIGIT) */
	static const char v[] = "v=STSv1";
	size_t i = 0;
	bool have_id = false;

	id_r[0] = '\0';
	if (len < sizeof(v) - 1 || memcmp(txt, v, sizeof(v) - 1) != 0)
		return 0;
	i = sizeof(v) - 1;
	if (i < len && txt[i] != ';' && !is_wsp(txt[i]))
		return 0;                   /* "v=STSv10": another version */
	while (i < len) {
		while (i < len && is_wsp(txt[i]))
			i++;
		if (i == len)
			break;
		if (txt[i] != ';') {
			snprintf(err, errlen, "TXT record: expected ';' at byte %zu", i);
			return -1;
		}
		i++;
		while (i < len && is_wsp(txt[i]))
			i++;
		if (i == len)
			break;
		size_t k = i;
		while (i < len && txt[i] != '=' && txt[i] != ';')
			i++;
		if (i == len || txt[i] != '=' || i == k) {
			snprintf(err, errlen, "TXT record: bad field at byte %zu", k);
			return -1;
		}
		size_t klen = i - k;
		i++;
		size_t vs = i;
		while (i < len && txt[i] != ';' && !is_wsp(txt[i]))
			i++;
		size_t vlen = i - vs;
		if (klen == 2 && memcmp(txt + k, "id", 2) == 0 && !have_id) {
			if (vlen == 0 || vlen > 32) {
				snprintf(err, errlen, "TXT record: id must be 1 to 32 letters "
				    "or digits");
				return -1;
			}
			for (size_t j = vs; j < i; j++)
				if (!isalnum((unsigned char)txt[j])) {
					snprintf(err, errlen, "TXT record: id must be letters "
					    "and digits");
					return -1;
				}
			memcpy(id_r, txt + vs, vlen);
			id_r[vlen] = '\0';
			have_id = true;
		}
	}
	if (!have_id) {
		snprintf(err, errlen, "TXT record: no id");
		return -1;
	}
	return 1;
}

/* "mx.example.org" or "*.example.org": labels of letters, digits, '-'. */
static bool
mx_pattern_ok(const char *s)
{
	size_t n = strlen(s), label = 0;

	if (n == 0 || n > 253)
		return false;
	if (s[0] == '*') {
		if (s[1] != '.')
			return false;
		s += 2;
		if (*s == '\0')
			return false;
	}
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (isalnum(c) || c == '-' || c == '_') {
			if (++label > 63)
				return false;
		} else {
			return false;
		}
	}
	return label > 0;
}

bool
mtasts_policy_parse(const char *text, size_t len, struct mtasts_policy *p,
    char *err, size_t errlen)
{
	bool have_version = false, have_mode = false, have_age = false;
	size_t off = 0;
	unsigned line = 0;

	memset(p, 0, sizeof(*p));
	if (len > MTA_STS_POLICY_MAX_BYTES) {
		snprintf(err, errlen, "policy larger than %d bytes", MTA_STS_POLICY_MAX_BYTES);
		return false;
	}
	while (off < len) {
		const char *s = text + off;
		const char *nl = memchr(s, '\n', len - off);
		size_t n = nl ? (size_t)(nl - s) : len - off;
		off += n + (nl != NULL);
		line++;
		if (n > 0 && s[n - 1] == '\r')
			n--;
		while (n > 0 && is_wsp(s[n - 1]))
			n--;
		if (n == 0)
			continue;
		if (memchr(s, '\0', n) != NULL) {
			snprintf(err, errlen, "policy line %u: NUL byte", line);
			return false;
		}
		const char *colon = memchr(s, ':', n);
		if (colon == NULL) {
			snprintf(err, errlen, "policy line %u: expected 'key: value'", line);
			return false;
		}
		size_t klen = (size_t)(colon - s);
		const char *v = colon + 1;
		size_t vlen = n - klen - 1;
		while (vlen > 0 && is_wsp(*v)) {
			v++;
			vlen--;
		}
		char val[256];
		if (vlen >= sizeof(val)) {
			snprintf(err, errlen, "policy line %u: value too long", line);
			return false;
		}
		memcpy(val, v, vlen);
		val[vlen] = '\0';
#define KEY(k) (klen == sizeof(k) - 1 && memcmp(s, k, klen) == 0)
		if (KEY("version")) {
			if (have_version)
				continue;
			if (strcmp(val, "STSv1") != 0) {
				snprintf(err, errlen, "policy: version is not STSv1");
				return false;
			}
			have_version = true;
		} else if (KEY("mode")) {
			if (have_mode)
				continue;
			if (strcmp(val, "enforce") == 0)
				p->mode = MTASTS_ENFORCE;
			else if (strcmp(val, "testing") == 0)
				p->mode = MTASTS_TESTING;
			else if (strcmp(val, "none") == 0)
				p->mode = MTASTS_NONE;
			else {
				snprintf(err, errlen, "policy: bad mode (enforce, testing or none)");
				return false;
			}
			have_mode = true;
		} else if (KEY("max_age")) {
			if (have_age)
				continue;
			char *end;
			if (vlen == 0 || vlen > 10 || !isdigit((unsigned char)val[0]) ||
			    (p->max_age = strtoull(val, &end, 10), *end != '\0') ||
			    p->max_age > MTA_STS_MAX_AGE_MAX_SECS) {
				snprintf(err, errlen, "policy: bad max_age (0 to %d seconds)",
				    MTA_STS_MAX_AGE_MAX_SECS);
				return false;
			}
			have_age = true;
		} else if (KEY("mx")) {
			mm_strlower(val);
			if (!mx_pattern_ok(val)) {
				snprintf(err, errlen, "policy line %u: bad mx pattern", line);
				return false;
			}
			if (p->nmx == MTA_STS_MX_MAX) {
				snprintf(err, errlen, "policy: more than %d mx lines",
				    MTA_STS_MX_MAX);
				return false;
			}
			mm_strlcpy(p->mx[p->nmx++], val, sizeof(p->mx[0]));
		}
		/* other keys: ignored (RFC 8461 3.2) */
#undef KEY
	}
	if (!have_version) {
		snprintf(err, errlen, "policy: no 'version: STSv1'");
		return false;
	}
	if (!have_mode || !have_age) {
		snprintf(err, errlen, "policy: no %s", have_mode ? "max_age" : "mode");
		return false;
	}
	if (p->nmx == 0 && p->mode != MTASTS_NONE) {
		snprintf(err, errlen, "policy: no mx");
		return false;
	}
	return true;
}

bool
mtasts_mx_match(const struct mtasts_policy *p, const char *host)
{
	char h[256];
	size_t n = mm_strlcpy(h, host, sizeof(h));

	if (n >= sizeof(h))
		return false;
	if (n > 0 && h[n - 1] == '.')
		h[--n] = '\0';
	mm_strlower(h);
	for (size_t i = 0; i < p->nmx; i++) {
		const char *pat = p->mx[i];
		if (pat[0] == '*') {
			/* one leftmost label: "*.example.org" matches
			 * "mx.example.org", not "a.b.example.org" */
			const char *dot = strchr(h, '.');
			if (dot != NULL && dot != h && strcmp(dot, pat + 1) == 0)
				return true;
		} else if (strcmp(h, pat) == 0) {
			return true;
		}
	}
	return false;
}
