/* conn.c: one client connection on the event loop: bufferevent (plain or
 * OpenSSL), bounded line reader, output with backpressure, timeouts,
 * STARTTLS, worker jobs, and a lifetime that outlives every callback.
 *
 * The one idea: nothing is freed inside a callback that may touch it
 * again. conn_close() only marks the conn and schedules work; the socket
 * goes in conn_finish() (from the conn's own events), and the session and
 * conn are freed in conn_release() when the last hold (the open socket,
 * a running job, an auth delay timer) is gone. Callbacks are deferred
 * (BEV_OPT_DEFER_CALLBACKS) so a write never re-enters a session. Where a
 * connection is in its life (handshake, open, STARTTLS, EOF, closing,
 * finished) is one enum conn_state, changed only by conn_enter_state()
 * (logged at debug); the rest are flags beside it.
 *
 * While a worker job runs, the loop never calls into the session: an idle
 * timeout, a shutdown, a notification or a drained output that comes
 * meanwhile is remembered in c->pending and delivered after the job's
 * done function returned (conn_job_done), so a job may read session memory
 * that only those callbacks would free or change. A hang-up only frees the
 * socket; the session waits for the job.
 *
 * Backpressure, for every protocol: while the output not yet on the wire
 * (every level: TLS, COMPRESS) is above the high watermark, input is not
 * handed to the session (conn_getline says NEED_MORE, conn_can_input says
 * false) and the socket is not read, so pipelined commands wait in the
 * kernel, not here; input resumes when the output drained to the low
 * watermark. Output that still grows past a hard cap (lower before
 * authentication) closes the connection.
 *
 * Writes, on a plain socket: what a session writes in one turn of the
 * loop (its input, a job's done, the accept) is written to the socket by
 * us at the end of that turn (conn_flush, from the deferred event), all
 * of it in one writev, and EV_WRITE stays off; only output the socket
 * did not take turns EV_WRITE on, and libevent writes the rest as it
 * did. So a reply costs one writev and no epoll_ctl, and goes out in the
 * turn that made it, not the next. Under TLS or COMPRESS (a filter, or
 * an OpenSSL bufferevent) libevent writes everything, as before.
 *
 * Reads, on a plain socket: the same, the other way. The bufferevent's
 * EV_READ stays off and our own event on the socket (c->ev_read) reads
 * into the bufferevent's input buffer (conn_sock_read_cb), 16 KiB at
 * first and up to 64 KiB more when that filled, without the ioctl
 * (FIONREAD) libevent's evbuffer_read asks before each of its 4 KiB
 * reads; an end of file or an error goes to conn_eventcb as libevent
 * would report it. Once a filter goes on top (STARTTLS, COMPRESS) the
 * bufferevent reads again. */
#include "net/conn.h"
#include "net/conn-int.h"
#include "net/listener.h"
#include "net/metrics-http.h"
#include "net/proto.h"
#include "net/server.h"
#include "net/tls.h"
#include "net/worker.h"
#include "lib/config.h"
#include "lib/limits.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/util.h"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>
#include <zlib.h>

#define CONN_TLS_HANDSHAKE_SECS 30
#define CONN_WRITE_TIMEOUT_SECS 300

/* deferred work */
#define DEFER_INPUT   0x1
#define DEFER_FINISH  0x2
#define DEFER_FLUSH   0x4     /* write the turn's output (c->direct) */

/* callbacks held back while a job runs (c->pending) */
#define PEND_TIMEOUT  0x1
#define PEND_SHUTDOWN 0x2
#define PEND_NOTIFY   0x4
#define PEND_DRAINED  0x8

#define CONN_BP_POLL_MS 10

/* Direct reads (conn_sock_read_cb): a read of at most CONN_READ_FIRST_BYTES
 * (a command, or most of a 10 KB message); when it filled, more is likely
 * waiting (a message body) and one read of at most CONN_READ_MORE_BYTES
 * follows, before the session's turn. libevent 2.1 reads 4 KiB at a time,
 * with an ioctl before each. */
#define CONN_READ_FIRST_BYTES (16 * 1024)
#define CONN_READ_MORE_BYTES  (64 * 1024)

/* Where a connection is in its life. Everything else about it (paused,
 * a job, backpressure, TLS, COMPRESS, logged in) is a flag beside this. */
enum conn_state {
	CONN_S_NEW = 0,      /* accepted, nothing started */
	CONN_S_HANDSHAKE,    /* implicit TLS: the handshake before the session */
	CONN_S_OPEN,         /* the session runs */
	CONN_S_STARTTLS,     /* the session waits for its STARTTLS handshake */
	CONN_S_EOF,          /* the client finished sending: serve what is
	                        buffered (pipelined QUIT), then close */
	CONN_S_CLOSING,      /* conn_close: the last output is flushed */
	CONN_S_FINISHED,     /* the socket is gone; freed with the last hold */
};

static const char *const conn_state_names[] = {
	"new", "handshake", "open", "starttls", "eof", "closing", "finished",
};

struct conn {
	struct mm_server *srv;
	struct bufferevent *bev;
	const struct proto_module *mod;
	void *sess;
	uint64_t id;
	int lsn;
	int refs;
	char peer[INET6_ADDRSTRLEN];
	char *limkey;        /* the per-address limit's key (listener_limit_key):
	                        peer itself, or a copy of an IPv6 prefix */
	char *user;          /* counted for max_connections_per_user; NULL before */
	uint16_t peer_port;
	char local[INET6_ADDRSTRLEN];   /* "" until conn_local_addr asks */
	uint16_t local_port;
	bool local_known;

	enum conn_state state;   /* changed only by conn_enter_state */
	bool started;        /* module->start ran: there is a session to free */
	bool counted;        /* counted in the per-IP table (under limkey) */
	bool paused;         /* by the session */
	bool job_running;
	bool tls;            /* handshake completed */
	bool want_drained;
	bool discarding;     /* swallowing an overlong line up to its LF */

	unsigned timeout_secs;
	unsigned defer;
	struct event *ev_defer;
	struct event *ev_close_timer;   /* polls until output is flushed */
	uint64_t close_deadline_ms;

	char *line;
	size_t linecap;

	bool compressed;     /* COMPRESS=DEFLATE filter on top (conn_compress_start) */

	bool authed;         /* conn_set_authenticated: the wider limits */
	bool backpressure;   /* input held back until output drains */
	bool overflowed;     /* output passed the hard cap: dropped */
	bool orderly;        /* closed by conn_close: TLS gets a close_notify */
	unsigned pending;    /* PEND_*: for after the running job */
	void (*notify_fn)(void *sess);
	struct event *ev_idle;          /* the idle timeout (conn_set_timeout) */
	struct event *ev_bp;            /* polls while held back under filters */
	struct event *ev_yield;         /* the next turn (fair turns) */
	size_t turn_mark;               /* output pending when the turn began */
	bool yielded;        /* the turn's output share is used up */
	uint64_t last_active_ms;        /* input seen or output taken */
	bool coalesce_jobs;  /* conn_coalesce_output: hold output across a job */
	bool output_held;    /* EV_WRITE off while a job runs (coalesce_jobs) */
	bool direct;         /* a plain socket: we write it (conn_flush) */
	bool write_armed;    /* direct, and libevent writes what was left */
	struct event *ev_read;          /* direct: our read of the socket */
	struct evbuffer_cb_entry *in_cb;   /* direct: input drained (conn_in_cb) */
	bool read_on;        /* ev_read is added */

	struct conn *prev, *next;
};

static struct conn *conn_list;

/* The one place the state changes. */
static void
conn_enter_state(struct conn *c, enum conn_state st)
{
	if (c->state == st)
		return;
	log_debug("conn=%llx event=conn-state from=%s to=%s", (unsigned long long)c->id,
	    conn_state_names[c->state], conn_state_names[st]);
	c->state = st;
}

static bool
conn_closing(const struct conn *c)
{
	return c->state >= CONN_S_CLOSING;
}

static bool
conn_handshaking(const struct conn *c)
{
	return c->state == CONN_S_HANDSHAKE || c->state == CONN_S_STARTTLS;
}
static size_t conn_count;
static uint64_t conn_next_id;

static void conn_finish(struct conn *c);
static void conn_defer_cb(evutil_socket_t fd, short what, void *arg);
static void conn_flush(struct conn *c);
static void conn_output_drained(struct conn *c);
static void conn_turn(struct conn *c);
static void conn_z_pump(struct conn *c);
static void conn_readcb(struct bufferevent *bev, void *arg);
static void conn_writecb(struct bufferevent *bev, void *arg);
static void conn_eventcb(struct bufferevent *bev, short what, void *arg);

static void
conn_schedule(struct conn *c, unsigned what)
{
	c->defer |= what;
	if (c->ev_defer == NULL)
		c->ev_defer = event_new(c->srv->base, -1, 0, conn_defer_cb, c);
	event_active(c->ev_defer, EV_TIMEOUT, 0);
}

static bool
conn_deliverable(const struct conn *c)
{
	return c->started && !conn_closing(c) && !c->paused && !c->job_running &&
	    !conn_handshaking(c) && !c->backpressure && !c->yielded && c->bev != NULL;
}

/* Reading stays on while a job runs or the session pauses, so that a
 * vanished client is noticed; the read watermark bounds what is buffered,
 * and input is offered to the session only when it is deliverable. Under
 * backpressure the socket is not read at all. */
static size_t conn_input_max(const struct conn *c);
static void conn_in_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg);

static void
conn_update_read(struct conn *c)
{
	if (c->bev == NULL)
		return;
	if (c->ev_read != NULL) {
		/* direct: our read event, off also while the input is at the
		 * read watermark (conn_in_cb turns it on again as it drains) */
		struct evbuffer *in = bufferevent_get_input(c->bev);
		bool full = evbuffer_get_length(in) >= conn_input_max(c);
		bool on = c->state < CONN_S_EOF && !c->backpressure && !full;
		if (on != c->read_on) {
			if (on)
				event_add(c->ev_read, NULL);
			else
				event_del(c->ev_read);
			c->read_on = on;
		}
		/* the drain callback only while it is needed (rare: an IDLE
		 * session does without its 48 bytes) */
		if (full && !on && c->in_cb == NULL) {
			c->in_cb = evbuffer_add_cb(in, conn_in_cb, c);
		} else if (on && c->in_cb != NULL) {
			evbuffer_remove_cb_entry(in, c->in_cb);
			c->in_cb = NULL;
		}
		return;
	}
	if (c->state < CONN_S_EOF && !c->backpressure)
		bufferevent_enable(c->bev, EV_READ);
	else
		bufferevent_disable(c->bev, EV_READ);
}

static size_t
conn_input_max(const struct conn *c)
{
	return c->authed ? CONN_INPUT_MAX_BYTES : CONN_INPUT_PREAUTH_MAX_BYTES;
}

static size_t
conn_output_high(const struct conn *c)
{
	return c->authed ? CONN_OUTPUT_HIGH_BYTES : CONN_OUTPUT_PREAUTH_HIGH_BYTES;
}

/* The hard cap. Authenticated, one answer may hold whole messages (a
 * FETCH batch renders a message at once), so the cap grows with the
 * largest message the server accepts. */
static size_t
conn_output_cap(const struct conn *c)
{
	if (!c->authed)
		return CONN_OUTPUT_PREAUTH_MAX_BYTES;
	uint64_t msg = c->srv->cfg ? c->srv->cfg->max_message_size : 0;
	if (msg == 0 || msg > SIZE_MAX / 4)
		msg = SIZE_MAX / 4;
	return CONN_OUTPUT_MAX_BYTES + 2 * (size_t)msg;
}

static size_t conn_pending_out(struct conn *c);

/* libevent's TLS socket bufferevent stops reading at the input's high
 * watermark before it looks at what OpenSSL holds decrypted (the rest of
 * a record, SSL_pending), and when reading resumes it only waits for the
 * socket (libevent issues 690 and 854). A client that sent everything
 * (pipelined APPENDs, the last one) would then wait for a reply to bytes
 * we already have: take them here, as libevent's own read would, up to
 * the same bound. Under a TLS filter (STARTTLS) libevent's resume reads
 * them itself; under COMPRESS, conn_z_pump takes them up. Returns whether
 * input was added. */
static bool
conn_tls_pending(struct conn *c)
{
	struct bufferevent *b = c->bev;
	if (b == NULL || !c->tls)
		return false;
	if (c->compressed)
		b = bufferevent_get_underlying(b);
	SSL *ssl = b != NULL ? bufferevent_openssl_get_ssl(b) : NULL;
	if (ssl == NULL || bufferevent_get_underlying(b) != NULL)
		return false;
	struct evbuffer *in = bufferevent_get_input(b);
	size_t have = evbuffer_get_length(in), max = conn_input_max(c);
	bool added = false;
	int pend;
	while (have < max && (pend = SSL_pending(ssl)) > 0) {
		size_t want = (size_t)pend < max - have ? (size_t)pend : max - have;
		struct evbuffer_iovec v;
		if (evbuffer_reserve_space(in, (ev_ssize_t)want, &v, 1) < 1)
			break;
		if (v.iov_len > want)
			v.iov_len = want;
		/* decrypted already: no socket I/O, so no WANT_READ/WRITE */
		int n = SSL_read(ssl, v.iov_base, (int)v.iov_len);
		if (n <= 0) {
			ERR_clear_error();
			break;
		}
		v.iov_len = (size_t)n;
		evbuffer_commit_space(in, &v, 1);
		have += (size_t)n;
		added = true;
	}
	return added;
}

/* After the session had its turn: a client that sent EOF is closed once
 * nothing it sent can still be served. */
static void
conn_after_input(struct conn *c)
{
	if (c->state == CONN_S_EOF && !c->job_running && !c->paused && c->started &&
	    !c->yielded && !c->backpressure)
		conn_close(c);
	if (!conn_closing(c) && conn_tls_pending(c) && !c->compressed && conn_deliverable(c))
		conn_schedule(c, DEFER_INPUT);
	if (c->compressed)
		conn_z_pump(c);
}

/* The bufferevent's read timeout bounds only the TLS handshake; the
 * session's idle timeout is c->ev_idle (input or output progress resets
 * it). The write timeout drops a client that takes nothing for that long. */
static void
conn_apply_timeouts(struct conn *c)
{
	struct timeval rd = { CONN_TLS_HANDSHAKE_SECS, 0 }, wr = { CONN_WRITE_TIMEOUT_SECS, 0 };
	if (c->bev)
		bufferevent_set_timeouts(c->bev, conn_handshaking(c) ? &rd : NULL, &wr);
}

static void
conn_active(struct conn *c)
{
	c->last_active_ms = mm_now_ms();
}

/* Output taken by the level below (or the socket): progress. Taken from
 * the top buffer (what the session wrote, before TLS or COMPRESS), it is
 * also what the sent-bytes counter counts. */
static void
conn_out_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct conn *c = arg;
	if (info->n_deleted == 0)
		return;
	conn_active(c);
	if (c->bev != NULL && buf == bufferevent_get_output(c->bev))
		metrics_bytes_out(info->n_deleted);
}

/* A whole idle timeout (the same few lengths for every session: 60 s
 * before login, 30 minutes logged in or in IDLE) goes to one of libevent's
 * common-timeout queues, kept in the order they were armed: arming is O(1)
 * instead of an insertion into the min-heap of all the sessions' timers
 * (event_base_init_common_timeout returns the queue already made for that
 * length). What is left after activity (conn_idle_check) goes to the heap. */
static void
conn_idle_arm(struct conn *c, uint64_t ms, bool whole)
{
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };
	const struct timeval *q = whole ? event_base_init_common_timeout(conn_base(c), &tv) : NULL;
	evtimer_add(c->ev_idle, q ? q : &tv);
}

/* The idle timeout ran out (or is re-checked after a job): fire it, or
 * wait for what is left since the last activity. */
static void
conn_idle_check(struct conn *c)
{
	if (conn_closing(c) || !c->started || c->timeout_secs == 0)
		return;
	uint64_t limit = c->timeout_secs * 1000ULL, idle = mm_now_ms() - c->last_active_ms;
	if (idle < limit) {
		conn_idle_arm(c, limit - idle, false);
		return;
	}
	if (c->job_running) {
		c->pending |= PEND_TIMEOUT;
		return;
	}
	log_info("conn=%llx event=timeout addr=%s", (unsigned long long)c->id, c->peer);
	if (c->mod->on_timeout)
		c->mod->on_timeout(c->sess);
	conn_close(c);
}

static void
conn_idle_cb(evutil_socket_t fd, short what, void *arg)
{
	conn_idle_check(arg);
}

static void conn_sock_read_cb(evutil_socket_t fd, short what, void *arg);

/* Direct: input the session consumed while reading was off at the
 * watermark (the callback is there only then). */
static void
conn_in_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct conn *c = arg;
	if (info->n_deleted > 0 && !c->read_on)
		conn_update_read(c);
}

static void
conn_setup_bev(struct conn *c)
{
	bufferevent_setcb(c->bev, conn_readcb, conn_writecb, conn_eventcb, c);
	if (c->direct && c->ev_read == NULL)
		c->ev_read = event_new(c->srv->base, bufferevent_getfd(c->bev), EV_READ | EV_PERSIST,
		    conn_sock_read_cb, c);
	metrics_watch_bev(c->bev);
	evbuffer_add_cb(bufferevent_get_output(c->bev), conn_out_cb, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, conn_input_max(c));
	bufferevent_setwatermark(c->bev, EV_WRITE, conn_closing(c) ? 0 : CONN_OUTPUT_LOW_BYTES, 0);
	conn_apply_timeouts(c);
	if (!c->direct)
		bufferevent_enable(c->bev, EV_WRITE);
	else
		bufferevent_disable(c->bev, EV_WRITE);   /* a new bufferevent has it on */
	conn_update_read(c);
}

/* The session starts (or, over a limit, is refused with its own words). */
static void
conn_start(struct conn *c)
{
	c->started = true;
	conn_enter_state(c, CONN_S_OPEN);
	conn_active(c);
	c->sess = c->mod->start(c);
	if (c->timeout_secs)
		conn_idle_arm(c, c->timeout_secs * 1000ULL, true);
	conn_update_read(c);
	if (conn_input_len(c) > 0)
		conn_schedule(c, DEFER_INPUT);
}

static void
conn_defer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	unsigned d = c->defer;
	c->defer = 0;
	if (d & DEFER_FINISH) {
		conn_finish(c);
		return;
	}
	conn_hold(c);
	if ((d & DEFER_INPUT) && conn_deliverable(c) && conn_input_len(c) > 0)
		conn_turn(c);
	if (d & DEFER_INPUT)
		conn_after_input(c);
	/* what that turn wrote, or what was written before this event ran */
	if ((d | c->defer) & DEFER_FLUSH) {
		c->defer &= ~(unsigned)DEFER_FLUSH;
		conn_flush(c);
	}
	/* Nothing scheduled again: the event goes (made again at the next
	 * conn_schedule), so that an IDLE session does not keep its 144
	 * bytes. libevent allows freeing an event from its own callback. */
	if (c->defer == 0) {
		event_free(c->ev_defer);
		c->ev_defer = NULL;
	}
	conn_release(c);
}

/* Output not yet on the wire: the bufferevent's own, plus, under filters
 * (STARTTLS, COMPRESS), what each already handed to the level below. */
static size_t
conn_pending_out(struct conn *c)
{
	size_t n = 0;
	for (struct bufferevent *b = c->bev; b != NULL; b = bufferevent_get_underlying(b))
		n += evbuffer_get_length(bufferevent_get_output(b));
	return n;
}

#define CONN_CLOSE_POLL_MS 10

static void conn_close_timer_cb(evutil_socket_t fd, short what, void *arg);
static void conn_bp_cb(evutil_socket_t fd, short what, void *arg);
static void conn_yield_cb(evutil_socket_t fd, short what, void *arg);

/* The timers most sessions never need (the fair-turn yield, the
 * backpressure poll, the flush at close) are made at their first use: an
 * IDLE session does without them (about 130 bytes each). */
static void
conn_timer_add(struct conn *c, struct event **evp, event_callback_fn cb,
    const struct timeval *tv)
{
	if (*evp == NULL)
		*evp = evtimer_new(conn_base(c), cb, c);
	evtimer_add(*evp, tv);
}

static void
conn_timer_del(struct event **evp, bool free_it)
{
	if (*evp == NULL)
		return;
	if (free_it) {
		event_free(*evp);
		*evp = NULL;
	} else {
		evtimer_del(*evp);
	}
}

/* Is the output above the high watermark? Then input is held back until
 * the write callback sees it drained. */
static bool
conn_over_high(struct conn *c)
{
	if (c->backpressure || c->yielded)
		return true;
	/* Fair turns: one session's input produces at most this much output
	 * per turn; then the others (and the listeners) go first. */
	if (c->bev != NULL && conn_pending_out(c) > c->turn_mark + CONN_TURN_OUTPUT_BYTES) {
		c->yielded = true;
		struct timeval zero = { 0, 0 };
		conn_timer_add(c, &c->ev_yield, conn_yield_cb, &zero);
		return true;
	}
	if (c->bev == NULL || conn_pending_out(c) <= conn_output_high(c))
		return false;
	c->backpressure = true;
	log_debug("conn=%llx event=backpressure pending=%zu", (unsigned long long)c->id,
	    conn_pending_out(c));
	conn_update_read(c);
	/* Under a filter the top buffer may already be below the low mark,
	 * so its write callback would not come again: poll. */
	if (conn_output_len(c) <= CONN_OUTPUT_LOW_BYTES) {
		struct timeval tv = { 0, CONN_BP_POLL_MS * 1000 };
		conn_timer_add(c, &c->ev_bp, conn_bp_cb, &tv);
	}
	return true;
}

/* Output drained to the low mark (write callback or poll): input again. */
static void
conn_bp_release(struct conn *c)
{
	if (!c->backpressure || c->bev == NULL)
		return;
	if (conn_output_len(c) > CONN_OUTPUT_LOW_BYTES || conn_pending_out(c) > conn_output_high(c)) {
		struct timeval tv = { 0, CONN_BP_POLL_MS * 1000 };
		conn_timer_add(c, &c->ev_bp, conn_bp_cb, &tv);
		return;
	}
	c->backpressure = false;
	conn_update_read(c);
	if (conn_deliverable(c) || c->state == CONN_S_EOF)
		conn_schedule(c, DEFER_INPUT);
}

/* The session's turn with its input. */
static void
conn_turn(struct conn *c)
{
	c->turn_mark = conn_pending_out(c);
	c->mod->on_input(c->sess);
}

/* The next turn, after the loop has looked at every socket again. */
static void
conn_yield_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	c->yielded = false;
	if (!conn_closing(c) && (conn_deliverable(c) || c->state == CONN_S_EOF))
		conn_schedule(c, DEFER_INPUT);
}

static void
conn_bp_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	if (!conn_closing(c))
		conn_bp_release(c);
}

static void
conn_close_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	if (conn_pending_out(c) == 0 || mm_now_ms() >= c->close_deadline_ms) {
		conn_finish(c);
		return;
	}
	struct timeval tv = { 0, CONN_CLOSE_POLL_MS * 1000 };
	conn_timer_add(c, &c->ev_close_timer, conn_close_timer_cb, &tv);
}

/* ---- refusals: over max_connections or max_connections_per_ip ----
 *
 * A refused client costs no conn and no TLS: on a plain or STARTTLS port
 * it gets the module's busy line, written straight to the new socket (it
 * has room), and the socket is closed; on an implicit-TLS port there is
 * no way to say anything before a handshake, so it is closed at once.
 * Each is counted; the log says it once per address per minute. */

#define REFUSE_LOG_SLOTS 1024
#define REFUSE_LOG_SECS  60

static struct {
	char key[80];
	uint64_t last_ms;
	unsigned quiet;          /* refusals not logged since */
} refuse_log[REFUSE_LOG_SLOTS];
static uint64_t refused_count;

static void
conn_refuse(int fd, const struct listener_def *def, int lsn, const char *key, bool per_ip)
{
	refused_count++;
	if (def->tls != TLS_MODE_IMPLICIT && def->module->busy_reply) {
		const char *r = def->module->busy_reply(per_ip);
		(void)!write(fd, r, strlen(r));
	}
	close(fd);

	unsigned h = mm_fnv1a(MM_FNV_BASIS, key) % REFUSE_LOG_SLOTS;
	uint64_t now = mm_now_ms();
	if (strcmp(refuse_log[h].key, key) == 0 &&
	    now - refuse_log[h].last_ms < REFUSE_LOG_SECS * 1000ULL) {
		refuse_log[h].quiet++;
		return;
	}
	log_warn("event=refused addr=%s listener=%s reason=%s tls=%s not_logged_before=%u "
	    "refused_total=%llu", key, config_listener_names[lsn],
	    per_ip ? "max_connections_per_ip" : "max_connections",
	    def->tls == TLS_MODE_IMPLICIT ? "closed-before-handshake" : "no",
	    strcmp(refuse_log[h].key, key) == 0 ? refuse_log[h].quiet : 0,
	    (unsigned long long)refused_count);
	mm_strlcpy(refuse_log[h].key, key, sizeof(refuse_log[h].key));
	refuse_log[h].last_ms = now;
	refuse_log[h].quiet = 0;
}

uint64_t
conn_refused_total(void)
{
	return refused_count;
}

void
conn_accept(struct mm_server *srv, int fd, const struct sockaddr *sa,
    socklen_t salen, int lsn)
{
	const struct listener_def *def = listener_def(lsn);
	char peer[INET6_ADDRSTRLEN], key[80];
	uint16_t peer_port = 0;

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &s4->sin_addr, peer, sizeof(peer));
		peer_port = ntohs(s4->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
			inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], peer, sizeof(peer));
		else
			inet_ntop(AF_INET6, &s6->sin6_addr, peer, sizeof(peer));
		peer_port = ntohs(s6->sin6_port);
	} else {
		mm_strlcpy(peer, "unknown", sizeof(peer));
	}
	(void)salen;

	/* The limits come before anything costs: no conn, no TLS. */
	bool per_ip = false;
	listener_limit_key(srv->cfg, peer, key, sizeof(key));
	if (!listener_conn_admit(srv->cfg, key, &per_ip)) {
		conn_refuse(fd, def, lsn, key, per_ip);
		return;
	}

	struct conn *c = xcalloc(1, sizeof(*c));
	mm_strlcpy(c->peer, peer, sizeof(c->peer));
	c->limkey = strcmp(key, c->peer) == 0 ? c->peer : xstrdup(key);
	c->peer_port = peer_port;
	c->counted = true;

	c->srv = srv;
	c->mod = def->module;
	c->lsn = lsn;
	c->refs = 1;
	if (conn_next_id == 0)
		conn_next_id = ((uint64_t)getpid() << 24) ^ (uint64_t)mm_now_ms() << 8;
	c->id = ++conn_next_id;
	c->timeout_secs = 300;

	/* The local address is asked for when wanted (conn_local_addr), not
	 * per connection; TCP_NODELAY and TCP_NOTSENT_LOWAT come from the
	 * listening socket (listener_conn_socket). */

	c->ev_idle = evtimer_new(srv->base, conn_idle_cb, c);

	int opts = BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS;
	if (def->tls == TLS_MODE_IMPLICIT) {
		SSL *ssl = srv->tls ? SSL_new(srv->tls->ctx) : NULL;
		if (ssl == NULL) {
			log_error("conn=%llx event=tls-unavailable", (unsigned long long)c->id);
			close(fd);
			c->bev = NULL;
		} else {
			c->bev = bufferevent_openssl_socket_new(srv->base, fd, ssl,
			    BUFFEREVENT_SSL_ACCEPTING, opts);
			if (c->bev)
				bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
			conn_enter_state(c, CONN_S_HANDSHAKE);
		}
	} else {
		c->bev = bufferevent_socket_new(srv->base, fd, opts);
		c->direct = c->bev != NULL;
	}

	c->next = conn_list;
	if (conn_list)
		conn_list->prev = c;
	conn_list = c;
	conn_count++;

	log_debug("conn=%llx event=connect addr=%s port=%u listener=%s",
	    (unsigned long long)c->id, c->peer, c->peer_port, config_listener_names[lsn]);

	if (c->bev == NULL) {
		conn_enter_state(c, CONN_S_CLOSING);
		conn_schedule(c, DEFER_FINISH);
		return;
	}
	conn_setup_bev(c);
	if (!conn_handshaking(c))
		conn_start(c);
}

/* Direct: one readv of at most want bytes into the input buffer;
 * returns what readv returned. */
static ssize_t
conn_sock_readv(struct conn *c, struct evbuffer *in, size_t want)
{
	struct evbuffer_iovec v[2];
	/* a socket bufferevent keeps its input's end frozen: only its own
	 * read adds to it, as we do here in its place */
	evbuffer_unfreeze(in, 0);
	int nv = evbuffer_reserve_space(in, (ev_ssize_t)want, v, 2);
	if (nv <= 0) {
		evbuffer_freeze(in, 0);
		errno = ENOMEM;
		return -1;
	}
	size_t room = 0;
	for (int i = 0; i < nv; i++) {
		if (room + v[i].iov_len > want)
			v[i].iov_len = want - room;
		room += v[i].iov_len;
	}
	/* an evbuffer_iovec is a struct iovec on Unix (event2/buffer.h) */
	ssize_t n = readv(bufferevent_getfd(c->bev), (struct iovec *)v, nv);
	int saved = errno;
	size_t left = n > 0 ? (size_t)n : 0;
	int used = 0;
	for (; used < nv && left > 0; used++) {
		if (v[used].iov_len > left)
			v[used].iov_len = left;
		left -= v[used].iov_len;
	}
	if (used > 0)     /* else nothing committed: the space is given back */
		evbuffer_commit_space(in, v, used);
	evbuffer_freeze(in, 0);
	errno = saved;
	return n;
}

/* Direct: the socket is readable. Reads what is there (bounded by the
 * read watermark), then the session has its turn, as after libevent's
 * read; an end of file or an error is reported as libevent reports it. */
static void
conn_sock_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	(void)fd;
	(void)what;
	if (c->bev == NULL || c->ev_read == NULL)
		return;
	struct evbuffer *in = bufferevent_get_input(c->bev);
	size_t have = evbuffer_get_length(in), max = conn_input_max(c);
	if (have >= max) {
		conn_update_read(c);
		return;
	}
	size_t want = max - have < CONN_READ_FIRST_BYTES ? max - have : CONN_READ_FIRST_BYTES;
	ssize_t n = conn_sock_readv(c, in, want);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n == (ssize_t)want && have + want < max) {
		size_t more = max - have - want;
		(void)conn_sock_readv(c, in, more < CONN_READ_MORE_BYTES ? more : CONN_READ_MORE_BYTES);
	}
	conn_hold(c);
	if (n > 0) {
		conn_readcb(c->bev, c);
		conn_update_read(c);    /* at the watermark: off until drained */
	} else {
		event_del(c->ev_read);
		c->read_on = false;
		conn_eventcb(c->bev, BEV_EVENT_READING | (n == 0 ? BEV_EVENT_EOF : BEV_EVENT_ERROR), c);
	}
	conn_release(c);
}

/* The direct read ends (a filter goes on top, or the socket goes). */
static void
conn_sock_read_end(struct conn *c)
{
	if (c->ev_read == NULL)
		return;
	event_free(c->ev_read);
	c->ev_read = NULL;
	c->read_on = false;
	if (c->bev != NULL && c->in_cb != NULL)
		evbuffer_remove_cb_entry(bufferevent_get_input(c->bev), c->in_cb);
	c->in_cb = NULL;
}

static void
conn_readcb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	conn_active(c);
	if (!conn_deliverable(c)) {
		if (conn_closing(c))
			evbuffer_drain(bufferevent_get_input(bev), evbuffer_get_length(bufferevent_get_input(bev)));
		return;
	}
	conn_turn(c);
	conn_after_input(c);
}

/* libevent wrote (or conn_want_drained's trigger). */
static void
conn_writecb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	/* direct: what was left is out, EV_WRITE goes off again */
	if (c->write_armed && evbuffer_get_length(bufferevent_get_output(bev)) == 0 &&
	    !c->output_held) {
		c->write_armed = false;
		bufferevent_disable(bev, EV_WRITE);
	}
	conn_output_drained(c);
}

/* The output went down (written by libevent or by conn_flush). */
static void
conn_output_drained(struct conn *c)
{
	if (c->bev == NULL)
		return;
	size_t out = evbuffer_get_length(bufferevent_get_output(c->bev));

	if (conn_closing(c)) {
		if (conn_pending_out(c) == 0)
			conn_finish(c);
		return;
	}
	if (out > CONN_OUTPUT_LOW_BYTES)
		return;
	if (c->want_drained && c->started) {
		c->want_drained = false;
		if (c->job_running)
			c->pending |= PEND_DRAINED;
		else if (c->mod->on_drained)
			c->mod->on_drained(c->sess);
	}
	if (!conn_closing(c))
		conn_bp_release(c);
}

static void
conn_eventcb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;

	if (what & BEV_EVENT_CONNECTED) {
		if (!conn_handshaking(c))
			return;
		c->tls = true;
		metrics_tls_handshake(true);
		log_debug("conn=%llx event=tls version=%s cipher=%s", (unsigned long long)c->id,
		    conn_tls_version(c), conn_tls_cipher(c));
		if (!c->started) {
			conn_start(c);   /* enters CONN_S_OPEN */
			conn_apply_timeouts(c);
		} else {
			conn_enter_state(c, CONN_S_OPEN);
			conn_apply_timeouts(c);
			conn_update_read(c);
			if (c->mod->on_tls)
				c->mod->on_tls(c->sess);
		}
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		/* the handshake took too long, or the client took no output */
		log_info("conn=%llx event=timeout-drop addr=%s handshake=%d pending=%zu",
		    (unsigned long long)c->id, c->peer, conn_handshaking(c), conn_pending_out(c));
		conn_finish(c);
		return;
	}
	if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR) &&
	    (c->state == CONN_S_OPEN || c->state == CONN_S_EOF)) {
		log_debug("conn=%llx event=eof buffered=%zu", (unsigned long long)c->id,
		    conn_input_len(c));
		conn_enter_state(c, CONN_S_EOF);
		conn_update_read(c);
		conn_schedule(c, DEFER_INPUT);
		return;
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		if (conn_handshaking(c)) {
			char buf[256];
			tls_bev_error(bev, buf, sizeof(buf));
			metrics_tls_handshake(false);
			log_info("conn=%llx event=tls-failed addr=%s error=\"%s\"",
			    (unsigned long long)c->id, c->peer, buf[0] ? buf : "connection closed");
		} else {
			log_debug("conn=%llx event=disconnect eof=%d", (unsigned long long)c->id,
			    (what & BEV_EVENT_EOF) != 0);
		}
		conn_finish(c);
	}
}

/* An orderly close under TLS ends with a close_notify alert (RFC 8446
 * 6.1), so the client sees the end of the stream, not a truncation. The
 * output is flushed by now; the alert is small and goes straight to the
 * socket (through the level below, under STARTTLS). */
static void
conn_close_notify(struct conn *c)
{
	struct bufferevent *tlsbev = c->bev;
	if (c->compressed)
		tlsbev = bufferevent_get_underlying(tlsbev);
	SSL *ssl = tlsbev ? bufferevent_openssl_get_ssl(tlsbev) : NULL;
	if (ssl == NULL)
		return;
	(void)SSL_shutdown(ssl);
	ERR_clear_error();
	/* Under STARTTLS the alert sits in the socket bufferevent's output,
	 * whose front only that bufferevent drains (libevent freezes it); it
	 * is about to be freed, so thaw it and write the alert ourselves. */
	struct bufferevent *under = bufferevent_get_underlying(tlsbev);
	if (under != NULL) {
		struct evbuffer *out = bufferevent_get_output(under);
		evutil_socket_t fd = bufferevent_getfd(under);
		if (fd >= 0 && evbuffer_unfreeze(out, 1) == 0)
			(void)evbuffer_write(out, fd);
	}
	log_debug("conn=%llx event=close-notify", (unsigned long long)c->id);
}

static void
conn_finish(struct conn *c)
{
	if (c->state == CONN_S_FINISHED)
		return;
	conn_enter_state(c, CONN_S_FINISHED);
	if (c->bev) {
		if (c->orderly && c->tls && !c->overflowed)
			conn_close_notify(c);
		conn_sock_read_end(c);
		bufferevent_free(c->bev);
		c->bev = NULL;
	}
	conn_timer_del(&c->ev_close_timer, false);
	evtimer_del(c->ev_idle);
	conn_timer_del(&c->ev_bp, false);
	conn_timer_del(&c->ev_yield, false);
	if (c->counted) {
		listener_conn_gone(c->limkey);
		c->counted = false;
	}
	if (c->user != NULL) {
		listener_user_gone(c->user);
		free(c->user);
		c->user = NULL;
	}
	log_debug("conn=%llx event=closed", (unsigned long long)c->id);
	conn_release(c);
}

/* The replies held while a job ran go out (in the next loop turn, with
 * whatever the session writes until then). */
static void
conn_output_release(struct conn *c)
{
	if (!c->output_held)
		return;
	c->output_held = false;
	if (c->bev == NULL)
		return;
	if (c->direct && !c->write_armed)
		conn_schedule(c, DEFER_FLUSH);
	else
		bufferevent_enable(c->bev, EV_WRITE);
}

/* Direct output (c->direct): write what the session wrote, now; what the
 * socket does not take is left to libevent (EV_WRITE on until it is
 * out). A write error is left to libevent too: its write sees it and
 * the event callback closes. */
static void
conn_flush(struct conn *c)
{
	if (!c->direct || c->bev == NULL || c->state == CONN_S_FINISHED || c->output_held ||
	    c->write_armed)
		return;
	struct evbuffer *out = bufferevent_get_output(c->bev);
	if (evbuffer_get_length(out) == 0)
		return;
	/* a socket bufferevent keeps its output's front frozen: only its own
	 * write callback drains it, as we do here in its place */
	evbuffer_unfreeze(out, 1);
	(void)evbuffer_write(out, bufferevent_getfd(c->bev));
	evbuffer_freeze(out, 1);
	if (evbuffer_get_length(out) > 0) {
		c->write_armed = true;
		bufferevent_enable(c->bev, EV_WRITE);
		return;
	}
	/* what libevent's write would have done next, as it does it: later
	 * (conn_flush may run inside a session's callback: conn_close) */
	if (conn_closing(c))
		conn_schedule(c, DEFER_FINISH);
	else if (c->want_drained || c->backpressure)
		bufferevent_trigger(c->bev, EV_WRITE, BEV_TRIG_DEFER_CALLBACKS);
}

/* Leaving direct output (a filter goes on top): the plain output left
 * is written by libevent, before what the filter writes below it. */
static void
conn_direct_end(struct conn *c)
{
	if (!c->direct)
		return;
	conn_flush(c);
	c->direct = false;
	c->write_armed = false;
	c->defer &= ~(unsigned)DEFER_FLUSH;
	if (c->bev != NULL && !c->output_held)
		bufferevent_enable(c->bev, EV_WRITE);
	/* the bufferevent reads from now on (the filter reads through it) */
	conn_sock_read_end(c);
	conn_update_read(c);
}

void
conn_close(struct conn *c)
{
	if (conn_closing(c))
		return;
	conn_output_release(c);
	bool handshaking = conn_handshaking(c);
	conn_enter_state(c, CONN_S_CLOSING);
	c->orderly = true;
	c->want_drained = false;
	if (c->compressed)
		(void)bufferevent_flush(c->bev, EV_WRITE, BEV_FLUSH);   /* the last reply */
	conn_flush(c);          /* direct: the last reply, now */
	if (c->bev == NULL || handshaking || conn_pending_out(c) == 0) {
		conn_schedule(c, DEFER_FINISH);
		return;
	}
	conn_update_read(c);    /* CLOSING: off */
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	c->close_deadline_ms = mm_now_ms() + CONN_SHUTDOWN_GRACE_SECS * 1000ULL;
	struct timeval tv = { 0, CONN_CLOSE_POLL_MS * 1000 };
	conn_timer_add(c, &c->ev_close_timer, conn_close_timer_cb, &tv);
}

bool
conn_is_closed(const struct conn *c)
{
	return conn_closing(c);
}

void
conn_hold(struct conn *c)
{
	c->refs++;
}

void
conn_release(struct conn *c)
{
	if (--c->refs > 0)
		return;
	if (c->started && c->mod->free)
		c->mod->free(c->sess);
	if (c->prev)
		c->prev->next = c->next;
	else
		conn_list = c->next;
	if (c->next)
		c->next->prev = c->prev;
	conn_count--;
	if (c->ev_defer != NULL)
		event_free(c->ev_defer);
	conn_timer_del(&c->ev_close_timer, true);
	event_free(c->ev_idle);
	conn_timer_del(&c->ev_bp, true);
	conn_timer_del(&c->ev_yield, true);
	free(c->line);
	free(c->user);
	if (c->limkey != c->peer)
		free(c->limkey);
	free(c);
}

/* ---- input ---- */

enum conn_line
conn_getline(struct conn *c, size_t maxlen, char **line_r, size_t *len_r,
    unsigned *ending_r)
{
	if (c->bev == NULL || conn_over_high(c))
		return CONN_LINE_NEED_MORE;
	if (maxlen > conn_input_max(c) - 16)
		maxlen = conn_input_max(c) - 16;
	return conn_evbuffer_getline(bufferevent_get_input(c->bev), maxlen,
	    &c->discarding, &c->line, &c->linecap, line_r, len_r, ending_r);
}

/* The line reader itself, shared with conn-client.c. */
enum conn_line
conn_evbuffer_getline(struct evbuffer *in, size_t maxlen, bool *discarding,
    char **buf, size_t *cap, char **line_r, size_t *len_r, unsigned *ending_r)
{
	for (;;) {
		size_t eol_len = 0;
		struct evbuffer_ptr p = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_LF);
		if (p.pos < 0) {
			size_t len = evbuffer_get_length(in);
			if (*discarding) {
				evbuffer_drain(in, len);
				return CONN_LINE_NEED_MORE;
			}
			if (len > maxlen + 1) {
				evbuffer_drain(in, len);
				*discarding = true;
				return CONN_LINE_TOO_LONG;
			}
			return CONN_LINE_NEED_MORE;
		}
		size_t n = (size_t)p.pos;
		if (*discarding) {
			evbuffer_drain(in, n + 1);
			*discarding = false;
			continue;
		}
		size_t content = n;
		if (n > 0) {
			struct evbuffer_ptr q;
			char last = 0;
			evbuffer_ptr_set(in, &q, n - 1, EVBUFFER_PTR_SET);
			evbuffer_copyout_from(in, &q, &last, 1);
			if (last == '\r')
				content = n - 1;
		}
		if (content > maxlen) {
			evbuffer_drain(in, n + 1);
			return CONN_LINE_TOO_LONG;
		}
		if (*cap < n + 1) {
			*cap = n + 1 < 256 ? 256 : n + 1;
			*buf = xrealloc(*buf, *cap);
		}
		evbuffer_remove(in, *buf, n);
		evbuffer_drain(in, 1);
		unsigned ending = CONN_LINE_BARE_LF;
		if (n > 0 && (*buf)[n - 1] == '\r') {
			n--;
			ending = CONN_LINE_CRLF;
		}
		(*buf)[n] = '\0';
		*line_r = *buf;
		*len_r = n;
		if (ending_r)
			*ending_r = ending;
		return CONN_LINE_OK;
	}
}

bool
conn_line_discarding(const struct conn *c)
{
	return c->discarding;
}

size_t
conn_input_len(struct conn *c)
{
	if (c->bev == NULL)
		return 0;
	return evbuffer_get_length(bufferevent_get_input(c->bev));
}

size_t
conn_input_peek(struct conn *c, void *dst, size_t max)
{
	if (c->bev == NULL || max == 0)
		return 0;
	ev_ssize_t n = evbuffer_copyout(bufferevent_get_input(c->bev), dst, max);
	return n > 0 ? (size_t)n : 0;
}

size_t
conn_read_bytes(struct conn *c, void *dst, size_t n)
{
	if (c->bev == NULL)
		return 0;
	struct evbuffer *in = bufferevent_get_input(c->bev);
	size_t have = evbuffer_get_length(in);
	if (n > have)
		n = have;
	if (dst)
		evbuffer_remove(in, dst, n);
	else
		evbuffer_drain(in, n);
	return n;
}

struct evbuffer *
conn_input(struct conn *c)
{
	return c->bev ? bufferevent_get_input(c->bev) : NULL;
}

/* ---- output ---- */

/* Output past the hard cap: the client takes nothing and the session
 * keeps answering. Logged once; the output is dropped and the connection
 * closed without waiting for it. */
static void
conn_check_cap(struct conn *c)
{
	size_t pending = conn_pending_out(c);
	if (pending <= conn_output_cap(c) || c->overflowed)
		return;
	c->overflowed = true;
	log_warn("conn=%llx event=output-overflow addr=%s pending=%zu cap=%zu authenticated=%d",
	    (unsigned long long)c->id, c->peer, pending, conn_output_cap(c), c->authed);
	for (struct bufferevent *b = c->bev; b != NULL; b = bufferevent_get_underlying(b))
		evbuffer_drain(bufferevent_get_output(b), evbuffer_get_length(bufferevent_get_output(b)));
	conn_enter_state(c, CONN_S_CLOSING);
	c->want_drained = false;
	conn_schedule(c, DEFER_FINISH);
}

/* Direct output: written at the end of this turn, with the rest of it. */
static void
conn_flush_later(struct conn *c)
{
	if (c->direct && !c->output_held && !c->write_armed && !(c->defer & DEFER_FLUSH))
		conn_schedule(c, DEFER_FLUSH);
}

void
conn_write(struct conn *c, const void *data, size_t len)
{
	if (c->bev == NULL || c->state == CONN_S_FINISHED || c->overflowed)
		return;
	bufferevent_write(c->bev, data, len);
	conn_check_cap(c);
	conn_flush_later(c);
}

/* The most conn_write_now gives OpenSSL at once: one TLS record, so that
 * a write the socket refuses is retried by libevent (the same bytes, now
 * first in the output buffer, within its 16 KiB a write) as OpenSSL asks. */
#define CONN_WRITE_NOW_TLS_MAX 15000

/* What the socket took of data now; 0 when it may not be written
 * around the bufferevent (a filter, COMPRESS, output queued or held, a
 * handshake, input waiting for its turn, TLS with a write pending). */
static size_t
conn_send_now(struct conn *c, const void *data, size_t len)
{
	if (c->compressed || c->output_held || conn_handshaking(c) || len == 0 ||
	    (c->state != CONN_S_OPEN && c->state != CONN_S_EOF) ||
	    bufferevent_get_underlying(c->bev) != NULL || conn_output_len(c) > 0 ||
	    conn_input_len(c) > 0)
		return 0;
	SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
	if (ssl != NULL) {
		if (!c->tls || len > CONN_WRITE_NOW_TLS_MAX || SSL_want(ssl) == SSL_WRITING)
			return 0;
		ERR_clear_error();
		int r = SSL_write(ssl, data, (int)len);
		if (r > 0)
			return (size_t)r;
		/* WANT_WRITE: OpenSSL holds the record and wants the same
		 * bytes again, which conn_write queues for libevent's retry;
		 * an error shows there too */
		ERR_clear_error();
		return 0;
	}
	evutil_socket_t fd = bufferevent_getfd(c->bev);
	if (fd < 0)
		return 0;
	ssize_t r = send(fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	return r > 0 ? (size_t)r : 0;
}

/* Skips the loop's turn for the write event and the epoll_ctl pair that
 * arms and disarms it: a push to 2,000 IDLE sessions is 2,000 writes as
 * the fan-out goes, not 2,000 queued until it ends. What the socket does
 * not take is queued as conn_write queues it, under the same bounds. */
void
conn_write_now(struct conn *c, const void *data, size_t len)
{
	if (c->bev == NULL || c->state == CONN_S_FINISHED || c->overflowed)
		return;
	size_t n = conn_send_now(c, data, len);
	if (n > 0) {
		conn_active(c);
		metrics_bytes_out(n);
	}
	if (n < len)
		conn_write(c, (const char *)data + n, len - n);
}

void
conn_puts(struct conn *c, const char *s)
{
	conn_write(c, s, strlen(s));
}

void
conn_vprintf(struct conn *c, const char *fmt, va_list ap)
{
	if (c->bev == NULL || c->state == CONN_S_FINISHED || c->overflowed)
		return;
	evbuffer_add_vprintf(bufferevent_get_output(c->bev), fmt, ap);
	conn_check_cap(c);
	conn_flush_later(c);
}

void
conn_printf(struct conn *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	conn_vprintf(c, fmt, ap);
	va_end(ap);
}

size_t
conn_output_len(struct conn *c)
{
	if (c->bev == NULL)
		return 0;
	return evbuffer_get_length(bufferevent_get_output(c->bev));
}

void
conn_want_drained(struct conn *c)
{
	if (conn_closing(c))
		return;
	c->want_drained = true;
	/* Already below the mark: the write callback may never come. */
	if (conn_output_len(c) <= CONN_OUTPUT_LOW_BYTES && c->bev)
		bufferevent_trigger(c->bev, EV_WRITE, BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

/* ---- flow ---- */

void
conn_pause(struct conn *c)
{
	c->paused = true;
	conn_update_read(c);
}

void
conn_resume(struct conn *c)
{
	c->paused = false;
	conn_update_read(c);
	if (conn_deliverable(c) || c->state == CONN_S_EOF)
		conn_schedule(c, DEFER_INPUT);
}

void
conn_set_timeout(struct conn *c, unsigned secs)
{
	c->timeout_secs = secs;
	conn_active(c);
	if (c->ev_idle == NULL || conn_closing(c))
		return;
	if (secs)
		conn_idle_arm(c, secs * 1000ULL, true);
	else
		evtimer_del(c->ev_idle);
}

bool
conn_can_input(struct conn *c)
{
	return conn_deliverable(c) && !conn_over_high(c);
}

bool
conn_set_authenticated(struct conn *c, const char *user)
{
	if (c->authed)
		return true;
	if (!listener_user_admit(c->srv->cfg, user)) {
		log_warn("conn=%llx event=refused addr=%s reason=max_connections_per_user "
		    "limit=%u", (unsigned long long)c->id, c->peer,
		    c->srv->cfg->max_connections_per_user);
		return false;
	}
	c->user = xstrdup(user);
	c->authed = true;
	if (c->bev) {
		bufferevent_setwatermark(c->bev, EV_READ, 0, conn_input_max(c));
		conn_update_read(c);
	}
	return true;
}

bool
conn_is_authenticated(const struct conn *c)
{
	return c->authed;
}

void
conn_notify(struct conn *c, void (*fn)(void *sess))
{
	if (conn_closing(c) || !c->started)
		return;
	if (c->job_running) {
		c->pending |= PEND_NOTIFY;
		c->notify_fn = fn;
		return;
	}
	fn(c->sess);
}

/* After a job's done returned: what came in meanwhile, in order of
 * importance. A done that started another job keeps it all waiting. */
static void
conn_run_pending(struct conn *c)
{
	while (c->pending && !c->job_running && !conn_closing(c)) {
		unsigned p = c->pending;
		if (p & PEND_SHUTDOWN) {
			c->pending = 0;
			if (c->mod->on_shutdown)
				c->mod->on_shutdown(c->sess);
			conn_close(c);
			return;
		}
		if (p & PEND_TIMEOUT) {
			c->pending &= ~(unsigned)PEND_TIMEOUT;
			conn_idle_check(c);
			continue;
		}
		if (p & PEND_NOTIFY) {
			c->pending &= ~(unsigned)PEND_NOTIFY;
			c->notify_fn(c->sess);
			continue;
		}
		if (p & PEND_DRAINED) {
			c->pending &= ~(unsigned)PEND_DRAINED;
			if (c->mod->on_drained)
				c->mod->on_drained(c->sess);
			continue;
		}
	}
}

/* ---- jobs ---- */

struct conn_job {
	struct conn *c;
	void (*work)(void *arg);
	conn_job_done_fn *done;
	void *arg;
};

static void
conn_job_work(void *arg)
{
	struct conn_job *j = arg;
	j->work(j->arg);
}

static void
conn_job_done(void *arg)
{
	struct conn_job *j = arg;
	struct conn *c = j->c;

	c->job_running = false;
	conn_output_release(c);
	/* The time a job waited in a queue or ran is ours, not the client's
	 * idleness: the idle timeout counts again from its end (so SMTP's
	 * command timeout never answers 421 to a client that waits for us). */
	conn_active(c);
	bool alive = !conn_closing(c);
	j->done(j->arg, alive);
	free(j);
	conn_run_pending(c);
	if (!conn_closing(c) && !c->job_running) {
		conn_update_read(c);
		if (conn_deliverable(c) || c->state == CONN_S_EOF)
			conn_schedule(c, DEFER_INPUT);
	}
	conn_release(c);
}

void
conn_run_job(struct conn *c, enum worker_lane lane, void (*work)(void *arg),
    conn_job_done_fn *done, void *arg)
{
	struct conn_job *j = xmalloc(sizeof(*j));
	if (c->job_running)
		fatal("conn=%llx: two jobs in flight", (unsigned long long)c->id);
	j->c = c;
	j->work = work;
	j->done = done;
	j->arg = arg;
	c->job_running = true;
	/* Pipelined input is waiting behind this job: the replies written so
	 * far go out with the job's (and the next commands'), in one write,
	 * not one write each (RFC 2920 asks for a flush only when the input
	 * buffer is empty). */
	if (c->coalesce_jobs && !c->output_held && c->bev != NULL && !conn_closing(c) &&
	    conn_input_len(c) > 0 && conn_output_len(c) > 0) {
		bufferevent_disable(c->bev, EV_WRITE);
		c->output_held = true;
	}
	conn_hold(c);
	conn_update_read(c);
	worker_submit(c->srv->pool, lane, conn_job_work, conn_job_done, j);
}

void
conn_coalesce_output(struct conn *c)
{
	c->coalesce_jobs = true;
}

bool
conn_job_running(const struct conn *c)
{
	return c->job_running;
}

/* ---- TLS ---- */

bool
conn_starttls(struct conn *c)
{
	if (c->tls || conn_handshaking(c) || conn_closing(c) || c->bev == NULL || c->srv->tls == NULL)
		return false;
	SSL *ssl = SSL_new(c->srv->tls->ctx);
	if (ssl == NULL)
		return false;
	/* Whatever the client sent after STARTTLS, in clear text, is dropped:
	 * nothing injected before the handshake may act after it. */
	struct evbuffer *in = bufferevent_get_input(c->bev);
	size_t junk = evbuffer_get_length(in);
	if (junk)
		log_info("conn=%llx event=starttls-discard bytes=%zu", (unsigned long long)c->id, junk);
	evbuffer_drain(in, junk);
	c->discarding = false;
	conn_direct_end(c);     /* the go-ahead leaves in clear, first */
	struct bufferevent *nb = tls_filter_new(c->srv->base, c->bev, ssl, false);
	if (nb == NULL) {
		SSL_free(ssl);
		return false;
	}
	/* Backpressure through the filter: the TLS layer stops encrypting when
	 * the socket's buffer holds this much, so conn_want_drained still means
	 * something under STARTTLS. */
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, CONN_OUTPUT_LOW_BYTES);
	metrics_unwatch_bev(c->bev);
	c->bev = nb;
	conn_enter_state(c, CONN_S_STARTTLS);
	conn_setup_bev(c);
	return true;
}

bool
conn_is_tls(const struct conn *c)
{
	return c->tls;
}

const char *
conn_tls_version(const struct conn *c)
{
	if (!c->tls || c->bev == NULL)
		return "";
	SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
	return ssl ? SSL_get_version(ssl) : "";
}

const char *
conn_tls_cipher(const struct conn *c)
{
	if (!c->tls || c->bev == NULL)
		return "";
	SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
	const char *s = ssl ? SSL_get_cipher_name(ssl) : NULL;
	return s ? s : "";
}

/* ---- COMPRESS=DEFLATE (RFC 4978) ----
 *
 * A filtering bufferevent with raw deflate both ways goes on top of the
 * connection (over the socket or the TLS filter). Output is compressed
 * without flushing as the session writes it; a zero-delay event then
 * ends the batch with Z_SYNC_FLUSH, so every reply reaches the client
 * whole without one flush per write. Input is inflated up to the read
 * watermark; what stays compressed below is pumped after each turn of
 * the session (conn_after_input), since the filter is only called again
 * when the socket brings more. */

#define CONN_Z_CHUNK_BYTES 16384
#define CONN_Z_WINDOW_BITS 13        /* our deflate: 8 KiB window, ~48 KiB state */
#define CONN_Z_MEM_LEVEL   5

struct conn_z {
	struct conn *c;
	z_stream in, out;
	struct event *ev_flush;
	bool flush_armed;
};

static void
conn_z_free(void *arg)
{
	struct conn_z *z = arg;
	inflateEnd(&z->in);
	deflateEnd(&z->out);
	if (z->ev_flush != NULL)
		event_free(z->ev_flush);
	free(z);
}

static void
conn_z_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn_z *z = arg;
	z->flush_armed = false;
	/* Output still above the compressor waits for the socket to drain
	 * (backpressure); the filter re-arms this when it takes it. */
	if (z->c->bev != NULL && z->c->state != CONN_S_FINISHED &&
	    evbuffer_get_length(bufferevent_get_output(z->c->bev)) == 0)
		(void)bufferevent_flush(z->c->bev, EV_WRITE, BEV_FLUSH);
}

static enum bufferevent_filter_result
conn_z_input(struct evbuffer *src, struct evbuffer *dst, ev_ssize_t limit,
    enum bufferevent_flush_mode mode, void *arg)
{
	struct conn_z *z = arg;
	size_t produced = 0;

	while (evbuffer_get_length(src) > 0 && (limit < 0 || produced < (size_t)limit)) {
		struct evbuffer_iovec in, out;
		if (evbuffer_peek(src, -1, NULL, &in, 1) < 1 ||
		    evbuffer_reserve_space(dst, CONN_Z_CHUNK_BYTES, &out, 1) < 1)
			return BEV_ERROR;
		z->in.next_in = in.iov_base;
		z->in.avail_in = (uInt)in.iov_len;
		z->in.next_out = out.iov_base;
		z->in.avail_out = (uInt)out.iov_len;
		int r = inflate(&z->in, Z_SYNC_FLUSH);
		size_t used = in.iov_len - z->in.avail_in;
		out.iov_len -= z->in.avail_out;
		evbuffer_drain(src, used);
		evbuffer_commit_space(dst, &out, 1);
		produced += out.iov_len;
		if (r != Z_OK && r != Z_BUF_ERROR)
			return BEV_ERROR;   /* bad data, or the client ended the stream */
		if (used == 0 && out.iov_len == 0)
			break;
	}
	return produced > 0 ? BEV_OK : BEV_NEED_MORE;
}

static enum bufferevent_filter_result
conn_z_output(struct evbuffer *src, struct evbuffer *dst, ev_ssize_t limit,
    enum bufferevent_flush_mode mode, void *arg)
{
	struct conn_z *z = arg;
	int flush = mode == BEV_NORMAL ? Z_NO_FLUSH : Z_SYNC_FLUSH;
	size_t produced = 0;

	for (;;) {
		struct evbuffer_iovec in = { NULL, 0 }, out;
		size_t left = evbuffer_get_length(src);
		if (left > 0 && evbuffer_peek(src, -1, NULL, &in, 1) < 1)
			return BEV_ERROR;
		if (evbuffer_reserve_space(dst, CONN_Z_CHUNK_BYTES, &out, 1) < 1)
			return BEV_ERROR;
		bool last = in.iov_len == left;
		z->out.next_in = in.iov_base;
		z->out.avail_in = (uInt)in.iov_len;
		z->out.next_out = out.iov_base;
		z->out.avail_out = (uInt)out.iov_len;
		int r = deflate(&z->out, last ? flush : Z_NO_FLUSH);
		size_t used = in.iov_len - z->out.avail_in;
		bool full = z->out.avail_out == 0;
		out.iov_len -= z->out.avail_out;
		evbuffer_drain(src, used);
		evbuffer_commit_space(dst, &out, 1);
		produced += out.iov_len;
		if (r == Z_STREAM_ERROR)
			return BEV_ERROR;
		/* done when every byte went in and deflate had room to spare */
		if (last && z->out.avail_in == 0 && !full)
			break;
		/* the level below is full: the rest waits above (backpressure) */
		if (mode == BEV_NORMAL && limit >= 0 && produced >= (size_t)limit)
			break;
	}
	if (mode == BEV_NORMAL && !z->flush_armed) {
		z->flush_armed = true;
		event_active(z->ev_flush, EV_TIMEOUT, 0);
	}
	return BEV_OK;
}

/* Input still compressed below the filter after the session's turn. */
static void
conn_z_pump(struct conn *c)
{
	struct bufferevent *under;
	if (c->bev == NULL || conn_closing(c) || (under = bufferevent_get_underlying(c->bev)) == NULL)
		return;
	size_t before = conn_input_len(c);
	if (evbuffer_get_length(bufferevent_get_input(under)) == 0 ||
	    before >= CONN_INPUT_MAX_BYTES)
		return;
	(void)bufferevent_flush(c->bev, EV_READ, BEV_NORMAL);
	if (conn_input_len(c) > before && conn_deliverable(c))
		conn_schedule(c, DEFER_INPUT);
}

bool
conn_compress_start(struct conn *c)
{
	if (c->compressed || conn_closing(c) || conn_handshaking(c) || c->bev == NULL)
		return false;
	struct conn_z *z = xcalloc(1, sizeof(*z));
	z->c = c;
	if (inflateInit2(&z->in, -MAX_WBITS) != Z_OK) {
		free(z);
		return false;
	}
	if (deflateInit2(&z->out, Z_BEST_SPEED, Z_DEFLATED, -CONN_Z_WINDOW_BITS,
	    CONN_Z_MEM_LEVEL, Z_DEFAULT_STRATEGY) != Z_OK) {
		inflateEnd(&z->in);
		free(z);
		return false;
	}
	z->ev_flush = event_new(c->srv->base, -1, 0, conn_z_flush_cb, z);
	conn_direct_end(c);     /* the OK leaves uncompressed, first */
	struct bufferevent *nb = bufferevent_filter_new(c->bev, conn_z_input, conn_z_output,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS, conn_z_free, z);
	if (z->ev_flush == NULL || nb == NULL) {
		conn_z_free(z);
		return false;
	}
	/* Backpressure through the filter, as under STARTTLS: compressed
	 * output waits below this, so conn_output_len still means something. */
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, CONN_OUTPUT_LOW_BYTES);
	metrics_unwatch_bev(c->bev);
	c->bev = nb;
	c->compressed = true;
	conn_setup_bev(c);
	/* what the client sent after the command is compressed already */
	(void)bufferevent_flush(c->bev, EV_READ, BEV_NORMAL);
	return true;
}

bool
conn_is_compressed(const struct conn *c)
{
	return c->compressed;
}

/* ---- identity ---- */

uint64_t conn_id(const struct conn *c) { return c->id; }
const char *conn_peer_addr(const struct conn *c) { return c->peer; }
const char *conn_limit_key(const struct conn *c) { return c->limkey; }
uint16_t conn_peer_port(const struct conn *c) { return c->peer_port; }
/* getsockname the first time it is wanted: most sessions never ask. */
static void
conn_local_fill(struct conn *c)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	c->local_known = true;
	if (c->bev == NULL || getsockname(bufferevent_getfd(c->bev),
	    (struct sockaddr *)&ss, &len) != 0)
		return;
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		inet_ntop(AF_INET, &s4->sin_addr, c->local, sizeof(c->local));
		c->local_port = ntohs(s4->sin_port);
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		inet_ntop(AF_INET6, &s6->sin6_addr, c->local, sizeof(c->local));
		c->local_port = ntohs(s6->sin6_port);
	}
}

const char *
conn_local_addr(struct conn *c)
{
	if (!c->local_known)
		conn_local_fill(c);
	return c->local;
}

uint16_t
conn_local_port(struct conn *c)
{
	if (!c->local_known)
		conn_local_fill(c);
	return c->local_port;
}
int conn_listener(const struct conn *c) { return c->lsn; }
struct event_base *conn_base(const struct conn *c) { return c->srv->base; }
struct mm_server *conn_server(const struct conn *c) { return c->srv; }
void *conn_session(const struct conn *c) { return c->sess; }

/* ---- all connections ---- */

void
conn_shutdown_all(void)
{
	for (struct conn *c = conn_list; c; c = c->next) {
		if (conn_closing(c))
			continue;
		if (c->job_running) {
			/* goodbye once the job's answer is out */
			c->pending |= PEND_SHUTDOWN;
			continue;
		}
		if (c->started && c->mod->on_shutdown)
			c->mod->on_shutdown(c->sess);
		conn_close(c);
	}
}

void
conn_abort_all(void)
{
	struct conn *c = conn_list;
	while (c) {
		struct conn *next = c->next;
		/* finish may free c (when nothing else holds it) */
		conn_finish(c);
		c = next;
	}
}

size_t
conn_live_count(void)
{
	return conn_count;
}
