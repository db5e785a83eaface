/* server.c: services every protocol shares through struct mm_server:
 * password checks off the loop with a growing delay after failures.
 *
 * The one idea: the failure count belongs to the client address (IPv6: its
 * [limits] ipv6_prefix network), not the connection, so reconnecting does
 * not reset the delay; it decays after AUTH_FAIL_FORGET_SECS without
 * failures. Loop thread only. The plaintext policy is here too, once for
 * the three protocols. */
#include "net/server.h"
#include "net/conn.h"
#include "net/tls.h"
#include "lib/config.h"
#include "lib/limits.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/util.h"
#include "store/store.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#define AUTH_FAIL_FORGET_SECS 900
#define AUTH_FAIL_TABLE_MAX 20000

struct auth_fail {
	char addr[64];
	unsigned count;
	uint64_t last_ms;
	struct auth_fail *next;
};

static struct auth_fail *fail_list;
static size_t fail_count;

static struct auth_fail *
fail_find(const char *addr, bool create)
{
	uint64_t now = mm_now_ms();
	struct auth_fail **pp = &fail_list;
	while (*pp) {
		struct auth_fail *f = *pp;
		if (now - f->last_ms > AUTH_FAIL_FORGET_SECS * 1000ULL) {
			*pp = f->next;
			free(f);
			fail_count--;
			continue;
		}
		if (strcmp(f->addr, addr) == 0)
			return f;
		pp = &f->next;
	}
	if (!create)
		return NULL;
	if (fail_count >= AUTH_FAIL_TABLE_MAX) {
		/* Under a wide attack: forget the oldest half rather than grow. */
		struct auth_fail *f = fail_list;
		for (size_t i = 0; f && i < AUTH_FAIL_TABLE_MAX / 2; i++)
			f = f->next;
		while (f && f->next) {
			struct auth_fail *d = f->next;
			f->next = d->next;
			free(d);
			fail_count--;
		}
	}
	struct auth_fail *f = xcalloc(1, sizeof(*f));
	mm_strlcpy(f->addr, addr, sizeof(f->addr));
	f->last_ms = now;
	f->next = fail_list;
	fail_list = f;
	fail_count++;
	return f;
}

struct auth_job {
	struct conn *c;
	server_auth_cb *cb;
	char user[321];
	char *password;
	int err;
	unsigned fails;
	struct event *timer;
};

static void
auth_work(void *arg)
{
	struct auth_job *j = arg;
	struct mm_server *srv = conn_server(j->c);
	j->err = store_authenticate(srv->store, j->user, j->password);
}

static void
auth_job_free(struct auth_job *j)
{
	if (j->password) {
		explicit_bzero(j->password, strlen(j->password));
		free(j->password);
	}
	if (j->timer)
		event_free(j->timer);
	free(j);
}

static void
auth_delay_cb(evutil_socket_t fd, short what, void *arg)
{
	struct auth_job *j = arg;
	struct conn *c = j->c;
	if (!conn_is_closed(c)) {
		j->cb(conn_session(c), false, j->err, j->user, j->fails);
		if (!conn_is_closed(c))
			conn_resume(c);
	}
	auth_job_free(j);
	conn_release(c);
}

static void
auth_done(void *arg, bool alive)
{
	struct auth_job *j = arg;
	struct conn *c = j->c;
	const char *addr = conn_peer_addr(c);
	const char *key = conn_limit_key(c);   /* IPv6: its prefix counts */
	char esc[200];

	log_escape(esc, sizeof(esc), j->user, strlen(j->user));
	if (j->err == STORE_OK) {
		struct auth_fail *f = fail_find(key, false);
		if (f)
			f->count = 0;
		metrics_auth_listener(conn_listener(c), true);
		log_info("conn=%llx event=auth result=ok addr=%s user=\"%s\"",
		    (unsigned long long)conn_id(c), addr, esc);
		if (alive && !conn_set_authenticated(c, j->user))
			j->cb(conn_session(c), false, STORE_LIMIT, j->user, 0);
		else if (alive)
			j->cb(conn_session(c), true, STORE_OK, j->user, 0);
		auth_job_free(j);
		return;
	}
	bool store_trouble = j->err != STORE_DENIED && j->err != STORE_NOTFOUND &&
	    j->err != STORE_INVALID;
	if (store_trouble) {
		log_error("conn=%llx event=auth result=error addr=%s user=\"%s\" error=\"%s\"",
		    (unsigned long long)conn_id(c), addr, esc, store_strerror(j->err));
		if (alive)
			j->cb(conn_session(c), false, j->err, j->user, 0);
		auth_job_free(j);
		return;
	}
	struct auth_fail *f = fail_find(key, true);
	f->count++;
	f->last_ms = mm_now_ms();
	j->fails = f->count;
	metrics_auth_listener(conn_listener(c), false);
	log_warn("conn=%llx event=auth result=fail addr=%s user=\"%s\" fails=%u",
	    (unsigned long long)conn_id(c), addr, esc, f->count);
	if (!alive) {
		auth_job_free(j);
		return;
	}
	/* The answer waits: AUTH_FAIL_DELAY_BASE_MS doubling per failure. */
	uint64_t ms = AUTH_FAIL_DELAY_BASE_MS;
	for (unsigned i = 1; i < f->count && ms < AUTH_FAIL_DELAY_MAX_MS; i++)
		ms *= 2;
	if (ms > AUTH_FAIL_DELAY_MAX_MS)
		ms = AUTH_FAIL_DELAY_MAX_MS;
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };
	conn_pause(c);
	conn_hold(c);
	j->timer = evtimer_new(conn_base(c), auth_delay_cb, j);
	evtimer_add(j->timer, &tv);
}

void
server_auth(struct conn *c, const char *user, const char *password, server_auth_cb *cb)
{
	struct auth_job *j = xcalloc(1, sizeof(*j));
	j->c = c;
	j->cb = cb;
	mm_strlcpy(j->user, user, sizeof(j->user));
	mm_strlower(j->user);
	j->password = xstrdup(password);
	conn_run_job(c, WORKER_LANE_COMMIT, auth_work, auth_done, j);
}

bool
server_tls_available(struct mm_server *srv)
{
	return srv->tls != NULL;
}

bool
server_plaintext_auth_ok(struct conn *c)
{
	return conn_is_tls(c) || conn_server(c)->cfg->allow_plaintext_auth;
}
