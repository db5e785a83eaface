/* relay-mx.c: where mail for a domain goes: MX records (RFC 5321 5.1,
 * null MX RFC 7505), then the addresses of each host; or a fixed host
 * from [relay] smarthost / routes.
 *
 * The one idea: the parsing of a DNS answer is a pure function
 * (relay_mx_parse) that the tests feed canned wire-format answers, and
 * the order of equal preferences is relay_mx_shuffle(); the network is
 * asked on the loop through the daemon's resolver (relay-resolve.c). */
#include "relay/relay-int.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "lib/config.h"
#include "lib/util.h"

#define RELAY_CNAME_DEPTH_MAX 8

/* Lower-case and drop one trailing dot. */
static void
name_norm(char *s)
{
	size_t n = strlen(s);
	if (n > 0 && s[n - 1] == '.')
		s[n - 1] = '\0';
	mm_strlower(s);
}

static bool
name_eq(const char *a, const char *b)
{
	return mm_strcaseeq(a, b);
}

void
relay_mx_shuffle(struct relay_mx *mx, size_t n, unsigned seed)
{
	if (seed == 0)
		return;
	unsigned x = seed;
	for (size_t a = 0; a < n; ) {
		size_t b = a;
		while (b < n && mx[b].pref == mx[a].pref)
			b++;
		for (size_t i = b - 1; i > a; i--) {
			x = x * 1103515245u + 12345u;
			size_t j = a + (x >> 16) % (i - a + 1);
			struct relay_mx t = mx[i];
			mx[i] = mx[j];
			mx[j] = t;
		}
		a = b;
	}
}

enum relay_mx_result
relay_mx_parse(const unsigned char *msg, size_t len, const char *domain,
    unsigned seed, struct relay_mx *mx_r, size_t max, size_t *n_r)
{
	char want[NS_MAXDNAME], name[NS_MAXDNAME];
	ns_msg h;
	ns_rr rr;
	size_t n = 0;
	bool null_mx = false;
	int count;

	*n_r = 0;
	if (len > 65535 || ns_initparse(msg, (int)len, &h) < 0)
		return RELAY_MX_BAD;
	count = ns_msg_count(h, ns_s_an);
	mm_strlcpy(want, domain, sizeof(want));
	name_norm(want);

	/* CNAME chains inside the answer: the MX records belong to the
	 * canonical name (RFC 5321 5.1). */
	for (int depth = 0; depth < RELAY_CNAME_DEPTH_MAX; depth++) {
		bool moved = false;
		for (int i = 0; i < count; i++) {
			if (ns_parserr(&h, ns_s_an, i, &rr) < 0)
				return RELAY_MX_BAD;
			if (ns_rr_type(rr) != ns_t_cname || ns_rr_class(rr) != ns_c_in)
				continue;
			mm_strlcpy(name, ns_rr_name(rr), sizeof(name));
			name_norm(name);
			if (!name_eq(name, want))
				continue;
			if (ns_name_uncompress(ns_msg_base(h), ns_msg_end(h),
			    ns_rr_rdata(rr), name, sizeof(name)) < 0)
				return RELAY_MX_BAD;
			name_norm(name);
			mm_strlcpy(want, name, sizeof(want));
			moved = true;
			break;
		}
		if (!moved)
			break;
	}

	for (int i = 0; i < count; i++) {
		if (ns_parserr(&h, ns_s_an, i, &rr) < 0)
			return RELAY_MX_BAD;
		if (ns_rr_type(rr) != ns_t_mx || ns_rr_class(rr) != ns_c_in)
			continue;
		mm_strlcpy(name, ns_rr_name(rr), sizeof(name));
		name_norm(name);
		if (!name_eq(name, want))
			continue;
		if (ns_rr_rdlen(rr) < 3)
			return RELAY_MX_BAD;
		unsigned pref = ns_get16(ns_rr_rdata(rr));
		if (ns_name_uncompress(ns_msg_base(h), ns_msg_end(h),
		    ns_rr_rdata(rr) + 2, name, sizeof(name)) < 0)
			return RELAY_MX_BAD;
		name_norm(name);
		if (name[0] == '\0') {
			null_mx = true;      /* "0 ." */
			continue;
		}
		if (strlen(name) >= sizeof(mx_r[0].host) || n == max)
			continue;
		/* insertion sort by preference, stable */
		size_t j = n;
		while (j > 0 && mx_r[j - 1].pref > pref) {
			mx_r[j] = mx_r[j - 1];
			j--;
		}
		mm_strlcpy(mx_r[j].host, name, sizeof(mx_r[j].host));
		mx_r[j].pref = pref;
		n++;
	}
	/* RFC 7505 3: a null MX means no mail, whatever else is there. */
	if (null_mx)
		return RELAY_MX_NULL;
	if (n == 0)
		return RELAY_MX_NONE;
	relay_mx_shuffle(mx_r, n, seed);
	*n_r = n;
	return RELAY_MX_OK;
}
