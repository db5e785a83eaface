/* listener.c: the listener table (seven names of [listen] -> module + TLS
 * mode), binding and rebinding their addresses, and the connection limits.
 *
 * The one idea: a listener's sockets are replaced only after the new ones
 * are bound, so a SIGHUP with a bad address never leaves a port dark. */
#include "net/listener.h"
#include "net/conn.h"
#include "net/server.h"
#include "lib/htab.h"
#include "lib/limits.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/pidfile.h"
#include "lib/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LISTEN_BACKLOG 511

static struct listener_def defs[LSN_COUNT];

struct bound {
	struct evconnlistener *l;
	struct config_addr addr;
	int lsn;
	struct mm_server *srv;
	struct event *ev_retry;
};

struct bound_set {
	struct bound **v;
	size_t n;
};

static struct bound_set bound[LSN_COUNT];

void
listener_set_modules(const struct proto_module *smtp,
    const struct proto_module *imap, const struct proto_module *pop3)
{
	defs[LSN_SMTP] = (struct listener_def){ smtp, TLS_MODE_STARTTLS };
	defs[LSN_SUBMISSION] = (struct listener_def){ smtp, TLS_MODE_STARTTLS };
	defs[LSN_SUBMISSIONS] = (struct listener_def){ smtp, TLS_MODE_IMPLICIT };
	defs[LSN_IMAP] = (struct listener_def){ imap, TLS_MODE_STARTTLS };
	defs[LSN_IMAPS] = (struct listener_def){ imap, TLS_MODE_IMPLICIT };
	defs[LSN_POP3] = (struct listener_def){ pop3, TLS_MODE_STARTTLS };
	defs[LSN_POP3S] = (struct listener_def){ pop3, TLS_MODE_IMPLICIT };
}

void
listener_set_managesieve(const struct proto_module *m)
{
	defs[LSN_MANAGESIEVE] = (struct listener_def){ m, TLS_MODE_STARTTLS };
}

const struct listener_def *
listener_def(enum listener_id id)
{
	return &defs[id];
}

static void
bound_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bound *b = arg;
	evconnlistener_enable(b->l);
}

static void
accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct bound *b = arg;
	if (b->srv->shutting_down) {
		close(fd);
		return;
	}
	metrics_connection(b->lsn);
	conn_accept(b->srv, fd, sa, (socklen_t)salen, b->lsn);
}

static void
accept_error_cb(struct evconnlistener *l, void *arg)
{
	struct bound *b = arg;
	int err = EVUTIL_SOCKET_ERROR();
	log_error("listener=%s event=accept-error error=\"%s\"; pausing accepts for 1s",
	    config_listener_names[b->lsn], strerror(err));
	/* Out of descriptors: stop for a moment instead of spinning. */
	evconnlistener_disable(l);
	struct timeval tv = { 1, 0 };
	evtimer_add(b->ev_retry, &tv);
}

void
listener_addr_desc(const struct config_addr *a, char *buf, size_t len)
{
	if (a->host[0] == '\0')
		snprintf(buf, len, "*:%u", a->port);
	else if (strchr(a->host, ':'))
		snprintf(buf, len, "[%s]:%u", a->host, a->port);
	else
		snprintf(buf, len, "%s:%u", a->host, a->port);
}

/* Fills ss for addr; a bare port is the IPv6 any-address with v6only off
 * (both families), or IPv4 any when IPv6 is unavailable. */
static bool
addr_sockaddr(const struct config_addr *a, struct sockaddr_storage *ss,
    socklen_t *len_r, bool v4_any)
{
	memset(ss, 0, sizeof(*ss));
	if (a->host[0] == '\0') {
		if (v4_any) {
			struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
			s4->sin_family = AF_INET;
			s4->sin_port = htons(a->port);
			s4->sin_addr.s_addr = htonl(INADDR_ANY);
			*len_r = sizeof(*s4);
		} else {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
			s6->sin6_family = AF_INET6;
			s6->sin6_port = htons(a->port);
			s6->sin6_addr = in6addr_any;
			*len_r = sizeof(*s6);
		}
		return true;
	}
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, a->host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(a->port);
		*len_r = sizeof(*s4);
		return true;
	}
	if (inet_pton(AF_INET6, a->host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(a->port);
		*len_r = sizeof(*s6);
		return true;
	}
	return false;
}

/* A bound, listening, non-blocking socket, or -1 with errno set. */
int
listener_bind_socket(const struct config_addr *a)
{
	struct sockaddr_storage ss;
	socklen_t len;
	bool v4 = false;

	for (;;) {
		if (!addr_sockaddr(a, &ss, &len, v4)) {
			errno = EINVAL;
			return -1;
		}
		int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			if (a->host[0] == '\0' && !v4 && (errno == EAFNOSUPPORT)) {
				v4 = true;
				continue;
			}
			return -1;
		}
		int one = 1, zero = 0;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (ss.ss_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY,
			    a->host[0] == '\0' ? &zero : &one, sizeof(int));
		if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
			int e = errno;
			close(fd);
			errno = e;
			if (a->host[0] == '\0' && !v4 && e == EADDRNOTAVAIL) {
				v4 = true;
				continue;
			}
			return -1;
		}
		return fd;
	}
}

int
listener_conn_socket(const struct config_addr *a)
{
	int fd = listener_bind_socket(a);
	if (fd < 0)
		return -1;
	/* Linux copies both into every socket accept(2) returns
	 * (check_net's test_listener_inherits), so conn_accept does not set
	 * them again per connection. The low-water mark: the kernel keeps at
	 * most this much not yet sent for a client that does not read (bytes
	 * in flight are not limited: long fat links keep their speed), so
	 * such a client costs neither kernel memory nor our CPU for answers
	 * it never takes. */
	int one = 1, lowat = CONN_NOTSENT_LOWAT_BYTES;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof(lowat));
	return fd;
}

const char *
listener_bind_hint(int e)
{
	switch (e) {
	case EADDRINUSE:
		return " (another program is listening there: find it with `ss -ltnp`, "
		    "or choose another port in [listen])";
	case EACCES:
		return " (ports below 1024 need root or CAP_NET_BIND_SERVICE)";
	case EADDRNOTAVAIL:
		return " (no interface has that address)";
	default:
		return "";
	}
}

static void
bound_set_free(struct bound_set *s)
{
	for (size_t i = 0; i < s->n; i++) {
		if (s->v[i] == NULL)
			continue;
		evconnlistener_free(s->v[i]->l);
		event_free(s->v[i]->ev_retry);
		free(s->v[i]);
	}
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

/* Takes a socket already bound to addr out of the sets in reuse, if any. */
static struct bound *
bound_take(struct bound_set *reuse, size_t nreuse, const struct config_addr *a)
{
	for (size_t s = 0; s < nreuse; s++)
		for (size_t i = 0; i < reuse[s].n; i++) {
			struct bound *b = reuse[s].v[i];
			if (b && b->addr.port == a->port && strcmp(b->addr.host, a->host) == 0) {
				reuse[s].v[i] = NULL;
				return b;
			}
		}
	return NULL;
}

static bool
bind_one(struct mm_server *srv, int lsn, const struct config_listen *cl,
    struct bound_set *reuse, size_t nreuse, struct bound_set *out,
    char *err, size_t errlen)
{
	out->v = cl->naddrs ? xcalloc(cl->naddrs, sizeof(*out->v)) : NULL;
	out->n = 0;
	for (size_t i = 0; i < cl->naddrs; i++) {
		char desc[96];
		listener_addr_desc(&cl->addrs[i], desc, sizeof(desc));
		struct bound *old = bound_take(reuse, nreuse, &cl->addrs[i]);
		if (old) {
			old->lsn = lsn;
			out->v[out->n++] = old;
			continue;
		}
		int fd = listener_conn_socket(&cl->addrs[i]);
		if (fd < 0) {
			int e = errno;
			snprintf(err, errlen, "cannot listen on %s for %s: %s%s", desc,
			    config_listener_names[lsn], strerror(e), listener_bind_hint(e));
			bound_set_free(out);
			return false;
		}
		struct bound *b = xcalloc(1, sizeof(*b));
		b->addr = cl->addrs[i];
		b->lsn = lsn;
		b->srv = srv;
		b->ev_retry = evtimer_new(srv->base, bound_retry_cb, b);
		b->l = evconnlistener_new(srv->base, accept_cb, b,
		    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
		if (b->l == NULL) {
			close(fd);
			event_free(b->ev_retry);
			free(b);
			snprintf(err, errlen, "cannot listen on %s for %s", desc,
			    config_listener_names[lsn]);
			bound_set_free(out);
			return false;
		}
		evconnlistener_set_error_cb(b->l, accept_error_cb);
		out->v[out->n++] = b;
		log_info("listener=%s addr=%s tls=%s", config_listener_names[lsn], desc,
		    defs[lsn].tls == TLS_MODE_IMPLICIT ? "implicit" :
		    defs[lsn].tls == TLS_MODE_STARTTLS ? "starttls" : "none");
	}
	return true;
}

bool
listeners_bind(struct mm_server *srv, const struct config *cfg, char *err, size_t errlen)
{
	for (int i = 0; i < LSN_COUNT; i++) {
		if (!bind_one(srv, i, &cfg->listen[i], NULL, 0, &bound[i], err, errlen)) {
			for (int j = 0; j < i; j++)
				bound_set_free(&bound[j]);
			return false;
		}
	}
	return true;
}

bool
listener_listen_equal(const struct config_listen *a, const struct config_listen *b)
{
	if (a->naddrs != b->naddrs)
		return false;
	for (size_t i = 0; i < a->naddrs; i++)
		if (a->addrs[i].port != b->addrs[i].port ||
		    strcmp(a->addrs[i].host, b->addrs[i].host) != 0)
			return false;
	return true;
}

bool
listeners_rebind(struct mm_server *srv, const struct config *oldcfg,
    const struct config *newcfg, char *err, size_t errlen)
{
	struct bound_set fresh[LSN_COUNT], old[LSN_COUNT];
	bool changed[LSN_COUNT];

	/* The sockets of changed listeners form a pool: an address that stays
	 * (perhaps under another listener) keeps its socket; new addresses are
	 * bound before anything old is released, so a failure changes nothing. */
	memset(fresh, 0, sizeof(fresh));
	memset(old, 0, sizeof(old));
	for (int i = 0; i < LSN_COUNT; i++) {
		changed[i] = !listener_listen_equal(&oldcfg->listen[i], &newcfg->listen[i]);
		if (changed[i]) {
			old[i].n = bound[i].n;
			old[i].v = xcalloc(bound[i].n ? bound[i].n : 1, sizeof(*old[i].v));
			memcpy(old[i].v, bound[i].v, bound[i].n * sizeof(*old[i].v));
		}
	}
	bool ok = true;
	for (int i = 0; i < LSN_COUNT && ok; i++) {
		if (changed[i] && !bind_one(srv, i, &newcfg->listen[i], old, LSN_COUNT,
		    &fresh[i], err, errlen))
			ok = false;
	}
	if (!ok) {
		/* Give the borrowed sockets back to their listeners (lsn restored). */
		for (int i = 0; i < LSN_COUNT; i++) {
			if (!changed[i])
				continue;
			for (size_t k = 0; k < bound[i].n; k++)
				bound[i].v[k]->lsn = i;
			for (size_t k = 0; k < fresh[i].n; k++) {
				struct bound *b = fresh[i].v[k];
				bool borrowed = false;
				for (int j = 0; j < LSN_COUNT && !borrowed; j++)
					for (size_t m = 0; m < bound[j].n; m++)
						if (bound[j].v[m] == b)
							borrowed = true;
				if (borrowed)
					fresh[i].v[k] = NULL;
			}
			bound_set_free(&fresh[i]);
			free(old[i].v);
		}
		return false;
	}
	for (int i = 0; i < LSN_COUNT; i++) {
		if (!changed[i])
			continue;
		/* What is left in old[i] was not taken over: close it. */
		bound_set_free(&old[i]);
		free(bound[i].v);
		bound[i] = fresh[i];
		log_info("listener=%s event=rebound addrs=%zu", config_listener_names[i], bound[i].n);
	}
	return true;
}

void
listeners_close(void)
{
	for (int i = 0; i < LSN_COUNT; i++)
		bound_set_free(&bound[i]);
}

void
listeners_check(const struct config *cfg, struct config_errors *errs)
{
	for (int i = 0; i < LSN_COUNT; i++) {
		const struct config_listen *cl = &cfg->listen[i];
		for (size_t k = 0; k < cl->naddrs; k++) {
			int fd = listener_bind_socket(&cl->addrs[k]);
			if (fd >= 0) {
				close(fd);
				continue;
			}
			int e = errno;
			if (e == EADDRINUSE && pidfile_lists(cfg->data_dir, &cl->addrs[k]))
				continue;  /* our own running daemon (lib/pidfile.h) */
			char desc[96], msg[512];
			listener_addr_desc(&cl->addrs[k], desc, sizeof(desc));
			snprintf(msg, sizeof(msg), "%s: warning: cannot listen on %s for %s: %s%s",
			    cfg->path, desc, config_listener_names[i], strerror(e), listener_bind_hint(e));
			mm_strlist_add(&errs->warnings, msg);
		}
	}
}

/* ---- connection limits ---- */

struct perip {
	char addr[ADDRESS_MAX_BYTES + 2];   /* an address key, or "@user" */
	unsigned count;
	struct mm_hnode node;
};

void
listener_limit_key(const struct config *cfg, const char *addr, char *key, size_t keylen)
{
	struct in6_addr a6;
	unsigned prefix = cfg->ipv6_prefix;
	if (strchr(addr, ':') == NULL || prefix >= 128 || inet_pton(AF_INET6, addr, &a6) != 1) {
		mm_strlcpy(key, addr, keylen);
		return;
	}
	for (unsigned bit = prefix; bit < 128; bit++)
		a6.s6_addr[bit / 8] &= (unsigned char)~(0x80u >> (bit % 8));
	char net[INET6_ADDRSTRLEN];
	inet_ntop(AF_INET6, &a6, net, sizeof(net));
	snprintf(key, keylen, "%s/%u", net, prefix);
}

/* One table for both counts: per address key and, prefixed with '@',
 * per user. It grows with the keys (lib/htab.h): 100,000 sessions from
 * as many addresses or users still find theirs in a chain of one or
 * two. */
static struct mm_htab perip_tab;
static size_t total_conns;

static struct perip *
count_find(const char *key, bool create)
{
	uint32_t h = mm_fnv1a(MM_FNV_BASIS, key);
	for (struct mm_hnode *n = mm_htab_first(&perip_tab, h); n; n = n->next) {
		struct perip *p = mm_hentry(n, struct perip, node);
		if (n->hash == h && strcmp(p->addr, key) == 0)
			return p;
	}
	if (!create)
		return NULL;
	struct perip *p = xcalloc(1, sizeof(*p));
	mm_strlcpy(p->addr, key, sizeof(p->addr));
	mm_htab_add(&perip_tab, &p->node, h);
	return p;
}

static void
count_drop(const char *key)
{
	struct perip *p = count_find(key, false);
	if (p != NULL && --p->count == 0) {
		mm_htab_del(&perip_tab, &p->node);
		free(p);
	}
}

size_t
listener_limit_keys(size_t *longest_chain_r)
{
	if (longest_chain_r != NULL)
		*longest_chain_r = mm_htab_longest_chain(&perip_tab);
	return perip_tab.n;
}

bool
listener_user_admit(const struct config *cfg, const char *user)
{
	char key[sizeof(((struct perip *)0)->addr)];
	snprintf(key, sizeof(key), "@%s", user);
	struct perip *p = count_find(key, false);
	if (p && p->count >= cfg->max_connections_per_user)
		return false;
	count_find(key, true)->count++;
	return true;
}

void
listener_user_gone(const char *user)
{
	char key[sizeof(((struct perip *)0)->addr)];
	snprintf(key, sizeof(key), "@%s", user);
	count_drop(key);
}

bool
listener_conn_admit(const struct config *cfg, const char *addr, bool *per_ip_r)
{
	*per_ip_r = false;
	if (total_conns >= cfg->max_connections)
		return false;
	struct perip *p = count_find(addr, false);
	if (p && p->count >= cfg->max_connections_per_ip) {
		*per_ip_r = true;
		return false;
	}
	count_find(addr, true)->count++;
	total_conns++;
	return true;
}

void
listener_conn_gone(const char *addr)
{
	count_drop(addr);
	total_conns--;
}

void
listener_conn_extra(int delta)
{
	if (delta < 0 && total_conns < (size_t)-delta)
		total_conns = 0;
	else
		total_conns += (size_t)(ssize_t)delta;
}

size_t
listener_conn_count(void)
{
	return total_conns;
}
