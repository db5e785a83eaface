/* relay-resolve.c: where a delivery goes, asked on the event loop through
 * the daemon's one resolver (net/dns.h): a fixed host ([relay] smarthost
 * or routes: its A/AAAA, or the literal), else the domain's MX records
 * (RFC 5321 5.1, null MX RFC 7505) and then the A and AAAA records of
 * every MX host at once, or of the domain itself when it has no MX.
 *
 * The one idea: a struct relay_resolving holds every query of one
 * delivery (at most 1 + 2 * RELAY_MX_MAX) and a count of those still
 * out; each answer fills its slot, and when the count reaches zero the
 * addresses are put in order (MX preference, equal ones shuffled by the
 * delivery's seed, then A before AAAA per host) and the engine is told.
 * Nothing here blocks or runs on a worker: a resolver that never answers
 * costs a timer per query, not a thread. A delivery that goes away
 * cancels its queries (relay_resolve_cancel). DNSSEC status is kept per
 * address (MX secure and address secure) for DANE (relay-policy.c). */
#include "relay/relay-int.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/config.h"
#include "lib/log.h"
#include "net/dns.h"
#include "net/server.h"

struct rs_host {
	char name[256];
	bool mx;                    /* from an MX record */
	bool mx_secure;             /* the MX RRset (or the implicit MX) was secure */
	struct dns_query *q[2];     /* A, AAAA */
	struct relay_addr found[2][RELAY_ADDRS_MAX];
	size_t nfound[2];
	bool secure[2];
	enum dns_rcode rcode[2];
	bool answered[2];
};

struct rs_slot {                   /* the callback's argument */
	struct relay_resolving *rs;
	size_t host;
	int fam;                       /* 0: A, 1: AAAA */
};

struct relay_resolving {
	struct relay_delivery *d;
	struct dns *dns;
	char domain[256];
	uint16_t port;
	struct dns_query *mxq;
	struct rs_host hosts[RELAY_MX_MAX];
	struct rs_slot slots[RELAY_MX_MAX][2];
	size_t nhosts;
	unsigned out;                  /* queries still out */
	bool implicit;                 /* no MX: the domain itself */
	struct event *ev_done;         /* to answer from the loop, not the call */
};

static void
rs_free(struct relay_resolving *rs)
{
	dns_cancel(&rs->mxq);
	for (size_t i = 0; i < rs->nhosts; i++) {
		dns_cancel(&rs->hosts[i].q[0]);
		dns_cancel(&rs->hosts[i].q[1]);
	}
	if (rs->ev_done != NULL)
		event_free(rs->ev_done);
	free(rs);
}

void
relay_resolve_cancel(struct relay_delivery *d)
{
	if (d->rs == NULL)
		return;
	rs_free(d->rs);
	d->rs = NULL;
}

static void
done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct relay_resolving *rs = arg;
	struct relay_delivery *d = rs->d;

	d->rs = NULL;
	rs_free(rs);
	relay_engine_resolved(d);
}

/* d->res/error are set: tell the engine from the loop. */
static void
rs_end(struct relay_resolving *rs)
{
	struct timeval now = { 0, 0 };
	evtimer_add(rs->ev_done, &now);
}

static void __attribute__((format(printf, 3, 4)))
rs_fail(struct relay_resolving *rs, int res, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(rs->d->error, sizeof(rs->d->error), fmt, ap);
	va_end(ap);
	rs->d->res = res;
	rs->d->naddrs = 0;
	rs_end(rs);
}

/* Every address query has answered: the list, in order. */
static void
rs_collect(struct relay_resolving *rs)
{
	struct relay_delivery *d = rs->d;
	bool any_temp = false;

	d->naddrs = 0;
	for (size_t i = 0; i < rs->nhosts; i++) {
		struct rs_host *h = &rs->hosts[i];
		for (int f = 0; f < 2; f++) {
			if (h->rcode[f] != DNS_NOERROR && h->rcode[f] != DNS_NXDOMAIN)
				any_temp = true;
			for (size_t k = 0; k < h->nfound[f] && d->naddrs < RELAY_ADDRS_MAX; k++) {
				struct relay_addr *a = &d->addrs[d->naddrs++];
				*a = h->found[f][k];
				a->mx = h->mx;
				a->dnssec = h->mx_secure && h->secure[f];
			}
		}
	}
	if (d->naddrs > 0) {
		d->res = RELAY_RES_OK;
		d->error[0] = '\0';
		rs_end(rs);
		return;
	}
	if (rs->implicit && !any_temp) {
		rs_fail(rs, RELAY_RES_PERM, "550 5.1.2 domain %s has no MX and no address",
		    rs->domain);
		return;
	}
	if (rs->implicit || rs->nhosts == 1)
		rs_fail(rs, RELAY_RES_TEMP, "451 4.4.3 address lookup for %s failed "
		    "(%s)", rs->hosts[0].name, any_temp ? "temporary DNS error" :
		    "no address");
	else
		rs_fail(rs, RELAY_RES_TEMP, "451 4.4.3 no address for the MX hosts of %s",
		    rs->domain);
}

static void
addr_cb(void *arg, const struct dns_result *r)
{
	struct rs_slot *s = arg;
	struct relay_resolving *rs = s->rs;
	struct rs_host *h = &rs->hosts[s->host];

	h->q[s->fam] = NULL;
	h->answered[s->fam] = true;
	h->rcode[s->fam] = r->rcode;
	h->secure[s->fam] = r->secure;
	for (size_t i = 0; i < r->n && h->nfound[s->fam] < RELAY_ADDRS_MAX; i++) {
		const struct dns_rr *rr = &r->rr[i];
		struct relay_addr *a = &h->found[s->fam][h->nfound[s->fam]];
		memset(a, 0, sizeof(*a));
		if (rr->family == AF_INET) {
			struct sockaddr_in *sin = (struct sockaddr_in *)&a->ss;
			sin->sin_family = AF_INET;
			sin->sin_port = htons(rs->port);
			memcpy(&sin->sin_addr, rr->addr, 4);
			a->sslen = sizeof(*sin);
		} else if (rr->family == AF_INET6) {
			struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a->ss;
			sin6->sin6_family = AF_INET6;
			sin6->sin6_port = htons(rs->port);
			memcpy(&sin6->sin6_addr, rr->addr, 16);
			a->sslen = sizeof(*sin6);
		} else {
			continue;
		}
		mm_strlcpy(a->host, h->name, sizeof(a->host));
		mm_strlcpy(a->ip, rr->ip, sizeof(a->ip));
		a->port = rs->port;
		h->nfound[s->fam]++;
	}
	if (--rs->out == 0)
		rs_collect(rs);
}

/* A literal address (a fixed host, or an MX that names one): no query. */
static bool
literal(struct rs_host *h, uint16_t port)
{
	struct relay_addr *a = &h->found[0][0];
	struct sockaddr_in *sin = (struct sockaddr_in *)&a->ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a->ss;

	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, h->name, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		a->sslen = sizeof(*sin);
	} else if (inet_pton(AF_INET6, h->name, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		a->sslen = sizeof(*sin6);
	} else {
		return false;
	}
	mm_strlcpy(a->host, h->name, sizeof(a->host));
	mm_strlcpy(a->ip, h->name, sizeof(a->ip));
	a->port = port;
	h->nfound[0] = 1;
	h->answered[0] = h->answered[1] = true;
	return true;
}

/* Asks A and AAAA for every host; the answers go to rs_collect(). */
static void
rs_ask_hosts(struct relay_resolving *rs)
{
	size_t n = rs->nhosts;

	/* count first: an answer cannot come before the last query is out,
	 * since the resolver answers from the loop */
	rs->out = 0;
	for (size_t i = 0; i < n; i++) {
		if (literal(&rs->hosts[i], rs->port))
			continue;
		for (int f = 0; f < 2; f++) {
			struct rs_slot *s = &rs->slots[i][f];
			s->rs = rs;
			s->host = i;
			s->fam = f;
			rs->out++;
			rs->hosts[i].q[f] = dns_query(rs->dns, rs->hosts[i].name,
			    f == 0 ? DNS_T_A : DNS_T_AAAA, addr_cb, s);
		}
	}
	if (rs->out == 0)
		rs_collect(rs);
}

static void
mx_cb(void *arg, const struct dns_result *r)
{
	struct relay_resolving *rs = arg;
	struct relay_mx mx[RELAY_MX_MAX];
	size_t n = 0;
	bool null_mx = false;

	rs->mxq = NULL;
	switch (r->rcode) {
	case DNS_NXDOMAIN:
		rs_fail(rs, RELAY_RES_PERM, "550 5.1.2 domain %s does not exist", rs->domain);
		return;
	case DNS_NOERROR:
		break;
	default:
		rs_fail(rs, RELAY_RES_TEMP, "451 4.4.3 MX lookup for %s failed (%s)",
		    rs->domain, r->error ? r->error : "temporary DNS error");
		return;
	}
	for (size_t i = 0; i < r->n; i++) {
		if (r->rr[i].name[0] == '\0') {
			null_mx = true;
			continue;
		}
		if (n < RELAY_MX_MAX) {
			mm_strlcpy(mx[n].host, r->rr[i].name, sizeof(mx[n].host));
			mx[n].pref = r->rr[i].pref;
			n++;
		}
	}
	/* RFC 7505 3: a null MX means no mail, whatever else is there. */
	if (null_mx) {
		rs_fail(rs, RELAY_RES_PERM, "556 5.1.10 domain %s accepts no mail (null MX)",
		    rs->domain);
		return;
	}
	if (n == 0) {
		/* RFC 5321 5.1: the domain itself is the implicit MX */
		rs->implicit = true;
		rs->nhosts = 1;
		mm_strlcpy(rs->hosts[0].name, rs->domain, sizeof(rs->hosts[0].name));
		rs->hosts[0].mx_secure = r->secure;   /* the denial, for DANE */
	} else {
		relay_mx_shuffle(mx, n, rs->d->seed);
		for (size_t i = 0; i < n; i++) {
			mm_strlcpy(rs->hosts[i].name, mx[i].host, sizeof(rs->hosts[i].name));
			rs->hosts[i].mx = true;
			rs->hosts[i].mx_secure = r->secure;
		}
		rs->nhosts = n;
	}
	rs_ask_hosts(rs);
}

void
relay_resolve_start(struct relay_delivery *d)
{
	struct mm_server *srv = relay_engine_server(d->eng);
	const struct config *cfg = d->cfg;
	const struct config_relay_host *fixed = NULL;
	const struct config_route *rt;
	struct relay_resolving *rs = xcalloc(1, sizeof(*rs));

	rs->d = d;
	rs->dns = srv->dns;
	rs->ev_done = evtimer_new(relay_engine_base(d->eng), done_cb, rs);
	d->rs = rs;
	d->naddrs = 0;
	mm_strlcpy(rs->domain, d->msgs[0].e->domain, sizeof(rs->domain));
	if (d->smarthost)
		fixed = &cfg->smarthost;
	else if ((rt = config_route_find(cfg, rs->domain)) != NULL)
		fixed = &rt->dest;
	if (rs->dns == NULL) {
		rs_fail(rs, RELAY_RES_TEMP, "451 4.4.3 no resolver");
		return;
	}
	if (fixed != NULL) {
		rs->port = fixed->port;
		rs->nhosts = 1;
		mm_strlcpy(rs->hosts[0].name, fixed->host, sizeof(rs->hosts[0].name));
		rs_ask_hosts(rs);
		return;
	}
	rs->port = cfg->relay_mx_port;
	rs->mxq = dns_query(rs->dns, rs->domain, DNS_T_MX, mx_cb, rs);
}
