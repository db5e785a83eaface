/* relay-engine.c: the outbound delivery engine: polls the queue, groups
 * due entries into deliveries (one destination, one connection, several
 * messages), bounds the connections in total and per destination, and
 * after each delivery writes the results back, schedules the retry,
 * expires old entries and sends bounces and delay warnings.
 *
 * The one idea: the store's queue is the only state that matters; the
 * engine keeps in memory only what is in flight. Once a second
 * (RELAY_POLL_INTERVAL_MS) a worker job walks the queue's next-attempt
 * times and loads the entries that are due and not in flight. New mail
 * from SMTP and "minimailctl queue flush" (another process) need no other
 * signal: they make an entry due in the store, and the next poll, at most
 * a second later, sends it. Everything that touches the store is a
 * worker job; DNS goes through the daemon's resolver on the loop
 * (relay-resolve.c), and the SMTP conversation is in relay-client.c. */
#include "relay/relay-int.h"

#include <event2/event.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/config.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "mail/cache.h"
#include "net/server.h"
#include "net/tls.h"
#include "net/worker.h"

struct relay_engine {
	struct mm_server *srv;
	struct event *ev_poll;
	bool polling;
	bool stopping;
	struct relay_delivery *list;      /* in flight */
	unsigned nactive;
	unsigned seed;
	SSL_CTX *ctx_opportunistic;       /* no verification (RFC 7435) */
	SSL_CTX *ctx_verify;              /* smarthost, for ctx_verify_cfg */
	const struct config *ctx_verify_cfg;
};

struct event_base *
relay_engine_base(struct relay_engine *eng)
{
	return eng->srv->base;
}

struct mm_server *
relay_engine_server(struct relay_engine *eng)
{
	return eng->srv;
}

/* ---- deliveries ---- */

static void
delivery_free(struct relay_delivery *d)
{
	struct relay_engine *eng = d->eng;

	for (struct relay_delivery **pp = &eng->list; *pp != NULL; pp = &(*pp)->next)
		if (*pp == d) {
			*pp = d->next;
			eng->nactive--;
			break;
		}
	relay_resolve_cancel(d);
	relay_policy_free(d);
	relay_client_close(d);
	free(d->rcpt_idx);
	free(d->accepted);
	for (size_t i = 0; i < d->nmsgs; i++) {
		store_qentry_free(&d->msgs[i].e);
		free(d->msgs[i].state0);
		free(d->msgs[i].body);
	}
	free(d->msgs);
	mm_buf_free(&d->reply);
	free(d);
}

static bool
in_flight(struct relay_engine *eng, uint64_t id)
{
	for (struct relay_delivery *d = eng->list; d != NULL; d = d->next)
		for (size_t i = 0; i < d->nmsgs; i++)
			if (d->msgs[i].e->id == id)
				return true;
	return false;
}

/* ---- resolving ---- */

void
relay_engine_resolved(struct relay_delivery *d)
{
	if (d->res == RELAY_RES_PERM) {
		/* no such domain, null MX: every recipient bounces now */
		for (size_t i = 0; i < d->nmsgs; i++) {
			struct store_qentry *e = d->msgs[i].e;
			for (size_t j = 0; j < e->nrcpts; j++)
				if (e->rcpts[j].state == STORE_Q_PENDING) {
					e->rcpts[j].state = STORE_Q_FAILED;
					mm_strlcpy(e->rcpts[j].reply, d->error,
					    sizeof(e->rcpts[j].reply));
				}
			mm_strlcpy(e->error, d->error, sizeof(e->error));
			d->msgs[i].tried = true;
		}
		log_info("relay dest=%s event=unroutable error=\"%s\"", d->dest, d->error);
		d->naddrs = 0;
	} else if (d->res != RELAY_RES_OK) {
		d->naddrs = 0;
	} else {
		d->error[0] = '\0';
	}
	/* MX destinations: MTA-STS and DANE decide each address's TLS
	 * (relay-policy.c), which then starts the client */
	const struct config *cfg = d->cfg;
	if (d->res == RELAY_RES_OK && !d->smarthost &&
	    config_route_find(cfg, d->msgs[0].e->domain) == NULL &&
	    (cfg->relay_mta_sts || (cfg->relay_dane && cfg->dns_dnssec != CONFIG_DNSSEC_OFF))) {
		relay_policy_start(d);
		return;
	}
	/* with no address, the client finishes at once with d->error */
	relay_client_start(d);
}

/* ---- bodies ---- */

/* Sent as stored: no 7-bit downgrade for this server, no DKIM signature
 * to compute over it (those read it whole), and big enough to matter. */
static bool
stream_wanted(const struct relay_delivery *d, const struct relay_msg *m)
{
	const struct store_qentry *e = m->e;

	if (e->size <= RELAY_STREAM_BYTES)
		return false;
	return !((e->flags & STORE_QF_8BIT) && !d->ext_8bitmime);
}

static void
load_work(void *arg)
{
	struct relay_delivery *d = arg;
	struct relay_msg *m = &d->msgs[d->cur];

	free(m->body);
	m->body = NULL;
	m->downgraded = false;
	m->streamed = false;
	if (stream_wanted(d, m)) {
		/* sent from the store a chunk at a time (relay-client.c) */
		uint32_t refs;
		d->res = store_body_refs(d->eng->srv->store, m->e->body_id, &refs);
		if (d->res == STORE_OK) {
			m->streamed = true;
			m->body = xmalloc(RELAY_STREAM_BYTES);
			m->len = (size_t)(m->e->skip + m->e->size);
			m->slen = 0;
			if (relay_dkim_may_sign(d))
				d->res = relay_dkim_sign_streamed(d, m, d->eng->srv->store);
		}
		if (d->res != STORE_OK) {
			free(m->body);
			m->body = NULL;
		} else {
			log_debug("relay id=%llx event=body-streamed bytes=%zu",
			    (unsigned long long)m->e->id, m->len - (size_t)m->e->skip);
		}
		return;
	}
	d->res = store_body_get(d->eng->srv->store, m->e->body_id, &m->body, &m->len);
	/* made what this server takes, then signed as it goes on the wire */
	if (d->res == STORE_OK) {
		relay_downgrade(d, m);
		relay_dkim_sign(d, m);
	}
}

/* A job of d is back: false when d was given up meanwhile (freed). */
static bool
job_back(struct relay_delivery *d)
{
	d->job_running = false;
	if (d->dead) {
		delivery_free(d);
		return false;
	}
	return true;
}

static void
load_done(void *arg)
{
	struct relay_delivery *d = arg;

	if (job_back(d))
		relay_client_body_loaded(d, d->res);
}

void
relay_engine_load_body(struct relay_delivery *d)
{
	d->job_running = true;
	worker_submit(d->eng->srv->pool, WORKER_LANE_SLOW, load_work, load_done, d);
}

static void
chunk_work(void *arg)
{
	struct relay_delivery *d = arg;
	struct relay_msg *m = &d->msgs[d->cur];
	uint64_t end = m->len - m->slen;
	size_t want = end - m->soff < RELAY_STREAM_BYTES ? (size_t)(end - m->soff) :
	    RELAY_STREAM_BYTES;

	d->res = store_body_read(d->eng->srv->store, m->e->body_id, m->soff, m->body, want,
	    &m->chunk_len);
	if (d->res == STORE_OK && m->chunk_len == 0)
		d->res = STORE_CORRUPT;      /* shorter than its queue entry says */
}

static void
chunk_done(void *arg)
{
	struct relay_delivery *d = arg;

	if (job_back(d))
		relay_client_chunk_loaded(d, d->res);
}

void
relay_engine_read_chunk(struct relay_delivery *d)
{
	d->job_running = true;
	worker_submit(d->eng->srv->pool, WORKER_LANE_SLOW, chunk_work, chunk_done, d);
}

/* ---- results ---- */

static const char *
addr_domain(const char *a)
{
	const char *at = strrchr(a, '@');
	return at != NULL ? at + 1 : "";
}

/* Delivers a bounce or warning to e's sender: into the INBOX of a local
 * sender, else into the queue (from <>). On a worker thread. */
static void
dsn_send(struct store *st, const struct config *cfg, const struct store_qentry *e,
    const bool *which, enum relay_dsn_kind kind, bool expired, time_t now)
{
	static const char rp[] = "Return-Path: <>\r\n";
	char *hdr = xmalloc(RELAY_DSN_HEADERS_MAX_BYTES);
	size_t got = 0, len;
	struct mm_buf msg;
	int r = STORE_NOTFOUND;

	if (store_body_read(st, e->body_id, e->skip, hdr, RELAY_DSN_HEADERS_MAX_BYTES,
	    &got) != STORE_OK)
		got = 0;
	char *dsn = relay_dsn_build(cfg->hostname, e, which, kind, expired, hdr, got,
	    now, &len);
	free(hdr);
	mm_buf_init(&msg);
	mm_buf_append(&msg, rp, sizeof(rp) - 1);
	mm_buf_append(&msg, dsn, len);
	free(dsn);

	if (config_is_local_domain(cfg, addr_domain(e->sender))) {
		char (*users)[321] = xcalloc(SMTP_RCPT_USERS_MAX, sizeof(*users));
		char (*remote)[321] = xcalloc(SMTP_RCPT_USERS_MAX, sizeof(*remote));
		size_t nu = 0, nr = 0;
		r = store_resolve(st, e->sender, users, SMTP_RCPT_USERS_MAX, &nu,
		    remote, SMTP_RCPT_USERS_MAX, &nr);
		if (r == STORE_OK && nu > 0) {
			struct store_rcpt *rc = xcalloc(nu, sizeof(*rc));
			struct mm_buf cache;
			for (size_t i = 0; i < nu; i++)
				rc[i].user = users[i];
			mm_buf_init(&cache);
			mail_cache_build(msg.data, msg.len, &cache);
			r = store_deliver(st, rc, nu, msg.data, msg.len, now, cache.data,
			    cache.len, NULL, 0, false);
			mm_buf_free(&cache);
			free(rc);
		} else if (r == STORE_OK) {
			r = STORE_NOTFOUND;
		}
		free(users);
		free(remote);
		log_info("relay id=%llx event=%s to=<%s> where=inbox result=\"%s\"",
		    (unsigned long long)e->id, kind == RELAY_DSN_FAILED ? "bounce" :
		    "delay-warning", e->sender, store_strerror(r));
	} else {
		const char *to[1] = { e->sender };
		struct store_qnew q = { .sender = "", .rcpts = to, .nrcpts = 1,
		    .skip = sizeof(rp) - 1 };
		for (size_t i = 0; i < msg.len; i++)
			if ((unsigned char)msg.data[i] >= 0x80) {
				q.flags |= STORE_QF_8BIT;
				break;
			}
		r = store_deliver_queue(st, NULL, 0, msg.data, msg.len, now, NULL, 0, &q,
		    NULL, 0, NULL);
		log_info("relay id=%llx event=%s to=<%s> where=queue result=\"%s\"",
		    (unsigned long long)e->id, kind == RELAY_DSN_FAILED ? "bounce" :
		    "delay-warning", e->sender, store_strerror(r));
	}
	mm_buf_free(&msg);
}

/* Metrics: what this attempt did to each recipient that was pending
 * (a connection that failed leaves them pending: deferred). */
static void
relay_count_results(const struct relay_msg *m, bool expired)
{
	for (size_t i = 0; i < m->e->nrcpts; i++) {
		int now = m->e->rcpts[i].state;
		if (m->state0[i] != STORE_Q_PENDING)
			continue;
		metrics_delivery(now == STORE_Q_DONE ? MD_SENT : now == STORE_Q_PENDING ?
		    MD_DEFERRED : expired ? MD_EXPIRED : MD_BOUNCED);
	}
}

/* One entry after an attempt: expiry, bounce, warning, next attempt. */
static void
save_msg(struct relay_delivery *d, struct relay_msg *m, time_t now)
{
	const struct config *cfg = d->cfg;
	struct store *st = d->eng->srv->store;
	struct store_qentry *e = m->e;
	bool *which = xcalloc(e->nrcpts + 1, sizeof(*which));
	bool pending = false, expired = false, any = false;
	int r;

	e->attempts++;
	e->last_attempt = now;
	for (size_t i = 0; i < e->nrcpts; i++)
		pending |= e->rcpts[i].state == STORE_Q_PENDING;
	if (pending && now >= e->created && (uint64_t)(now - e->created) >= cfg->queue_lifetime) {
		expired = true;
		for (size_t i = 0; i < e->nrcpts; i++) {
			struct store_qrcpt *rc = &e->rcpts[i];
			if (rc->state != STORE_Q_PENDING)
				continue;
			rc->state = STORE_Q_FAILED;
			if (rc->reply[0] == '\0')
				mm_strlcpy(rc->reply, "451 4.4.7 queue lifetime expired",
				    sizeof(rc->reply));
		}
		log_info("relay id=%llx event=expired attempts=%u", (unsigned long long)e->id,
		    e->attempts);
	}
	for (size_t i = 0; i < e->nrcpts; i++) {
		which[i] = m->state0[i] != STORE_Q_FAILED && e->rcpts[i].state == STORE_Q_FAILED;
		any |= which[i];
	}
	relay_count_results(m, expired);
	if (any && e->sender[0] != '\0')
		dsn_send(st, cfg, e, which, RELAY_DSN_FAILED, expired, now);
	else if (any)
		log_info("relay id=%llx event=no-bounce reason=\"null sender\"",
		    (unsigned long long)e->id);

	pending = false;
	for (size_t i = 0; i < e->nrcpts; i++) {
		which[i] = e->rcpts[i].state == STORE_Q_PENDING;
		pending |= which[i];
	}
	if (pending && cfg->delay_warning > 0 && !(e->flags & STORE_QF_WARNED) &&
	    e->sender[0] != '\0' && now >= e->created &&
	    (uint64_t)(now - e->created) >= cfg->delay_warning) {
		dsn_send(st, cfg, e, which, RELAY_DSN_DELAYED, false, now);
		e->flags |= STORE_QF_WARNED;
	}
	free(which);
	e->next_attempt = now + (time_t)relay_retry_delay(e->attempts, cfg->retry_interval,
	    cfg->retry_max_interval);
	r = store_queue_update(st, e);
	if (r == STORE_NOTFOUND)
		log_info("relay id=%llx event=deleted-meanwhile", (unsigned long long)e->id);
	else if (r != STORE_OK)
		log_error("relay id=%llx event=save-failed error=\"%s\"",
		    (unsigned long long)e->id, store_strerror(r));
	else if (pending)
		log_info("relay id=%llx event=deferred attempts=%u next=%llds",
		    (unsigned long long)e->id, e->attempts,
		    (long long)(e->next_attempt - now));
	else
		log_info("relay id=%llx event=done attempts=%u", (unsigned long long)e->id,
		    e->attempts);
}

static void
save_work(void *arg)
{
	struct relay_delivery *d = arg;
	time_t now = time(NULL);

	for (size_t i = 0; i < d->nmsgs; i++)
		save_msg(d, &d->msgs[i], now);
}

static void
save_done(void *arg)
{
	struct relay_delivery *d = arg;
	d->job_running = false;
	delivery_free(d);
}

void
relay_engine_finish(struct relay_delivery *d)
{
	d->state = RC_SAVING;
	d->job_running = true;
	worker_submit(d->eng->srv->pool, WORKER_LANE_SLOW, save_work, save_done, d);
}

/* ---- polling ---- */

struct poll_job {
	struct relay_engine *eng;
	struct store *st;
	time_t now;
	uint64_t *skip;          /* in flight: not taken again */
	size_t nskip;
	uint64_t *ids;
	size_t nids;
	struct store_qentry **entries;
	size_t n;
	int err;
};

static int
poll_sched_cb(void *arg, uint64_t id, time_t next)
{
	struct poll_job *j = arg;

	if (next > j->now)
		return 0;
	for (size_t i = 0; i < j->nskip; i++)
		if (j->skip[i] == id)
			return 0;
	if (j->nids == RELAY_POLL_BATCH)
		return 1;
	j->ids[j->nids++] = id;
	return 0;
}

static void
poll_work(void *arg)
{
	struct poll_job *j = arg;

	j->ids = xcalloc(RELAY_POLL_BATCH, sizeof(*j->ids));
	j->entries = xcalloc(RELAY_POLL_BATCH, sizeof(*j->entries));
	j->err = store_queue_schedule(j->st, poll_sched_cb, j);
	for (size_t i = 0; j->err == STORE_OK && i < j->nids; i++) {
		struct store_qentry *e = NULL;
		if (store_queue_get(j->st, j->ids[i], &e) == STORE_OK)
			j->entries[j->n++] = e;
	}
}

static void
poll_job_free(struct poll_job *j)
{
	for (size_t i = 0; i < j->n; i++)
		store_qentry_free(&j->entries[i]);
	free(j->entries);
	free(j->ids);
	free(j->skip);
	free(j);
}

static unsigned
dest_count(struct relay_engine *eng, const char *dest)
{
	unsigned n = 0;
	for (struct relay_delivery *d = eng->list; d != NULL; d = d->next)
		n += strcmp(d->dest, dest) == 0;
	return n;
}

static void
dispatch(struct relay_engine *eng, struct poll_job *j)
{
	const struct config *cfg = eng->srv->cfg;

	for (size_t i = 0; i < j->n; i++) {
		struct store_qentry *e = j->entries[i];
		char dest[STORE_QUEUE_DOMAIN_MAX + 16];
		struct relay_delivery *d;

		if (in_flight(eng, e->id))
			continue;
		mm_strlcpy(dest, cfg->has_smarthost ? "[smarthost]" : e->domain, sizeof(dest));
		for (d = eng->list; d != NULL; d = d->next)
			if (d->state == RC_NONE && strcmp(d->dest, dest) == 0 &&
			    d->nmsgs < RELAY_MSGS_PER_CONN)
				break;
		if (d == NULL) {
			if (eng->nactive >= cfg->relay_max_concurrency ||
			    dest_count(eng, dest) >= cfg->relay_max_per_destination)
				continue;      /* the next poll takes it */
			d = xcalloc(1, sizeof(*d));
			d->eng = eng;
			d->cfg = cfg;
			d->dkim = eng->srv->dkim;
			mm_strlcpy(d->dest, dest, sizeof(d->dest));
			d->smarthost = cfg->has_smarthost;
			d->msgs = xcalloc(RELAY_MSGS_PER_CONN, sizeof(*d->msgs));
			mm_buf_init(&d->reply);
			d->next = eng->list;
			eng->list = d;
			eng->nactive++;
		}
		struct relay_msg *m = &d->msgs[d->nmsgs++];
		m->e = e;
		m->state0 = xcalloc(e->nrcpts + 1, sizeof(*m->state0));
		for (size_t k = 0; k < e->nrcpts; k++)
			m->state0[k] = e->rcpts[k].state;
		j->entries[i] = NULL;
	}
	/* start the deliveries made by this poll */
	for (struct relay_delivery *d = eng->list; d != NULL; d = d->next) {
		if (d->state != RC_NONE)
			continue;
		log_debug("relay dest=%s event=start messages=%zu", d->dest, d->nmsgs);
		for (size_t i = 0; i < d->nmsgs; i++)
			log_info("relay id=%llx dest=%s event=attempt",
			    (unsigned long long)d->msgs[i].e->id, d->dest);
		d->state = RC_RESOLVING;
		eng->seed = eng->seed * 1103515245u + 12345u;
		d->seed = eng->seed | 1;
		relay_resolve_start(d);
	}
}

static void
poll_done(void *arg)
{
	struct poll_job *j = arg;
	struct relay_engine *eng = j->eng;

	eng->polling = false;
	if (j->err != STORE_OK)
		log_warn("relay: queue poll failed: %s", store_strerror(j->err));
	else if (!eng->stopping)
		dispatch(eng, j);
	for (size_t i = 0; i < j->n; i++)
		store_qentry_free(&j->entries[i]);
	j->n = 0;
	poll_job_free(j);
}

static void
poll_cb(evutil_socket_t fd, short what, void *arg)
{
	struct relay_engine *eng = arg;
	struct poll_job *j;
	size_t n = 0;

	if (eng->polling || eng->stopping || eng->srv->shutting_down)
		return;
	if (eng->nactive >= eng->srv->cfg->relay_max_concurrency)
		return;
	eng->polling = true;
	j = xcalloc(1, sizeof(*j));
	j->eng = eng;
	j->st = eng->srv->store;
	j->now = time(NULL);
	for (struct relay_delivery *d = eng->list; d != NULL; d = d->next)
		n += d->nmsgs;
	j->skip = xcalloc(n + 1, sizeof(*j->skip));
	for (struct relay_delivery *d = eng->list; d != NULL; d = d->next)
		for (size_t i = 0; i < d->nmsgs; i++)
			j->skip[j->nskip++] = d->msgs[i].e->id;
	worker_submit(eng->srv->pool, WORKER_LANE_SLOW, poll_work, poll_done, j);
}

/* ---- TLS ---- */

SSL_CTX *
relay_engine_ssl_ctx(struct relay_engine *eng, struct relay_delivery *d,
    char *err, size_t errlen)
{
	const struct config *cfg = d->cfg;
	SSL_CTX *ctx;

	if (!d->smarthost || !cfg->smarthost_verify) {
		if (eng->ctx_opportunistic == NULL) {
			ctx = tls_client_ctx_new(TLS_CLIENT_NOVERIFY, NULL, err, errlen);
			if (ctx == NULL)
				return NULL;
			eng->ctx_opportunistic = ctx;
		}
		return eng->ctx_opportunistic;
	}
	if (eng->ctx_verify != NULL && eng->ctx_verify_cfg == cfg)
		return eng->ctx_verify;
	ctx = tls_client_ctx_new(TLS_CLIENT_PKIX, cfg->smarthost_ca, err, errlen);
	if (ctx == NULL)
		return NULL;
	SSL_CTX_free(eng->ctx_verify);
	eng->ctx_verify = ctx;
	eng->ctx_verify_cfg = cfg;
	return ctx;
}

/* ---- lifecycle ---- */

struct relay_engine *
relay_engine_new(struct mm_server *srv)
{
	struct relay_engine *eng = xcalloc(1, sizeof(*eng));
	struct timeval tv = { RELAY_POLL_INTERVAL_MS / 1000,
	    (RELAY_POLL_INTERVAL_MS % 1000) * 1000 };

	eng->srv = srv;
	eng->seed = (unsigned)mm_now_ms() | 1;
	eng->ev_poll = event_new(srv->base, -1, EV_PERSIST, poll_cb, eng);
	event_add(eng->ev_poll, &tv);
	log_info("relay: started (%s)", srv->cfg->has_smarthost ? "smarthost" :
	    "MX delivery");
	return eng;
}

void
relay_engine_stop(struct relay_engine *eng)
{
	struct relay_delivery *d, *next;

	if (eng == NULL || eng->stopping)
		return;
	eng->stopping = true;
	event_del(eng->ev_poll);
	for (d = eng->list; d != NULL; d = next) {
		next = d->next;
		relay_client_close(d);
		if (d->job_running)
			d->dead = true;        /* freed when its job returns */
		else
			delivery_free(d);
	}
}

void
relay_engine_free(struct relay_engine **engp)
{
	struct relay_engine *eng = *engp;
	if (eng == NULL)
		return;
	relay_engine_stop(eng);
	while (eng->list != NULL)
		delivery_free(eng->list);
	event_free(eng->ev_poll);
	SSL_CTX_free(eng->ctx_opportunistic);
	SSL_CTX_free(eng->ctx_verify);
	relay_policy_shutdown();
	free(eng);
	*engp = NULL;
}
