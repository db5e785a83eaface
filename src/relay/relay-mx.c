/* relay-mx.c: where mail for a domain goes: MX records (RFC 5321 5.1,
 * null MX RFC 7505), then the addresses of each host; or a fixed host
 * from [relay] smarthost / routes.
 *
 * The one idea: the parsing of a DNS answer is a pure function
 * (relay_mx_parse) that the tests feed canned wire-format answers; only
 * relay_resolve() asks the network (res_nquery, getaddrinfo), and it runs
 * on a worker thread, never on the loop. */
#include "relay/relay-int.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
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
	if (seed != 0) {
		unsigned x = seed;
		for (size_t a = 0; a < n; ) {
			size_t b = a;
			while (b < n && mx_r[b].pref == mx_r[a].pref)
				b++;
			for (size_t i = b - 1; i > a; i--) {
				x = x * 1103515245u + 12345u;
				size_t j = a + (x >> 16) % (i - a + 1);
				struct relay_mx t = mx_r[i];
				mx_r[i] = mx_r[j];
				mx_r[j] = t;
			}
			a = b;
		}
	}
	*n_r = n;
	return RELAY_MX_OK;
}

/* The addresses of host (a name or a literal) into addrs. */
static int
host_addrs(const char *host, uint16_t port, struct relay_addr *addrs,
    size_t max, size_t *n, int *gai_r)
{
	struct addrinfo hints, *res = NULL;
	char portstr[8];
	size_t before = *n;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_ADDRCONFIG;
	snprintf(portstr, sizeof(portstr), "%u", port);
	*gai_r = getaddrinfo(host, portstr, &hints, &res);
	if (*gai_r != 0)
		return 0;
	for (struct addrinfo *ai = res; ai != NULL && *n < max; ai = ai->ai_next) {
		struct relay_addr *a = &addrs[*n];
		if (ai->ai_addrlen > sizeof(a->ss))
			continue;
		memset(a, 0, sizeof(*a));
		memcpy(&a->ss, ai->ai_addr, ai->ai_addrlen);
		a->sslen = ai->ai_addrlen;
		mm_strlcpy(a->host, host, sizeof(a->host));
		a->port = port;
		if (getnameinfo(ai->ai_addr, ai->ai_addrlen, a->ip, sizeof(a->ip),
		    NULL, 0, NI_NUMERICHOST) != 0)
			mm_strlcpy(a->ip, "?", sizeof(a->ip));
		(*n)++;
	}
	freeaddrinfo(res);
	return (int)(*n - before);
}

int
relay_resolve(const char *domain, const struct config_relay_host *fixed,
    unsigned seed, struct relay_addr *addrs, size_t max, size_t *n_r,
    char *err, size_t errlen)
{
	struct relay_mx mx[RELAY_MX_MAX];
	size_t nmx = 0;
	int gai = 0;

	*n_r = 0;
	if (fixed != NULL) {
		if (host_addrs(fixed->host, fixed->port, addrs, max, n_r, &gai) > 0)
			return RELAY_RES_OK;
		snprintf(err, errlen, "451 4.4.3 cannot resolve %s: %s", fixed->host,
		    gai_strerror(gai));
		return RELAY_RES_TEMP;
	}

	unsigned char *ans = xmalloc(NS_MAXMSG);
	struct __res_state rs;
	memset(&rs, 0, sizeof(rs));
	if (res_ninit(&rs) != 0) {
		free(ans);
		snprintf(err, errlen, "451 4.4.3 resolver initialisation failed");
		return RELAY_RES_TEMP;
	}
	int len = res_nquery(&rs, domain, ns_c_in, ns_t_mx, ans, NS_MAXMSG);
	int herr = rs.res_h_errno;
	res_nclose(&rs);
	enum relay_mx_result mr = RELAY_MX_NONE;
	if (len < 0) {
		if (herr == HOST_NOT_FOUND) {
			free(ans);
			snprintf(err, errlen, "550 5.1.2 domain %s does not exist", domain);
			return RELAY_RES_PERM;
		}
		if (herr != NO_DATA) {
			free(ans);
			snprintf(err, errlen, "451 4.4.3 MX lookup for %s failed "
			    "(temporary DNS error)", domain);
			return RELAY_RES_TEMP;
		}
	} else {
		mr = relay_mx_parse(ans, (size_t)len, domain, seed, mx, RELAY_MX_MAX, &nmx);
	}
	free(ans);
	switch (mr) {
	case RELAY_MX_NULL:
		snprintf(err, errlen, "556 5.1.10 domain %s accepts no mail (null MX)",
		    domain);
		return RELAY_RES_PERM;
	case RELAY_MX_BAD:
		snprintf(err, errlen, "451 4.4.3 malformed MX answer for %s", domain);
		return RELAY_RES_TEMP;
	case RELAY_MX_NONE:
		/* RFC 5321 5.1: the domain itself is the implicit MX */
		if (host_addrs(domain, 25, addrs, max, n_r, &gai) > 0)
			return RELAY_RES_OK;
		if (gai == EAI_NONAME || gai == EAI_NODATA) {
			snprintf(err, errlen, "550 5.1.2 domain %s has no MX and no "
			    "address", domain);
			return RELAY_RES_PERM;
		}
		snprintf(err, errlen, "451 4.4.3 address lookup for %s failed: %s",
		    domain, gai_strerror(gai));
		return RELAY_RES_TEMP;
	case RELAY_MX_OK:
		break;
	}
	for (size_t i = 0; i < nmx && *n_r < max; i++)
		(void)host_addrs(mx[i].host, 25, addrs, max, n_r, &gai);
	if (*n_r > 0)
		return RELAY_RES_OK;
	snprintf(err, errlen, "451 4.4.3 no address for the MX hosts of %s", domain);
	return RELAY_RES_TEMP;
}
