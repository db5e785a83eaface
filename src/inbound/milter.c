/* milter.c: the milter protocol (version 6), MTA side, on the loop.
 *
 * The one idea: one step machine per milter. advance() sends the next
 * command the negotiated protocol asks for (skipping the steps the
 * milter turned off, not waiting where it said it will not reply) and
 * returns when a reply is due; read_cb() takes the reply and calls
 * advance() again. The message is a list of header fields (each keeps
 * its original bytes until a milter changes it, so untouched fields stay
 * byte-exact) and a body. A milter's changes are collected while it
 * talks and applied only when it ends with continue or accept, so a
 * milter that rejects, fails or times out half-way leaves no trace. */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "inbound/milter.h"
#include "lib/config.h"
#include "lib/log.h"
#include "mail/header.h"

/* Commands (MTA to milter) and replies (milter to MTA), libmilter's
 * mfdef.h names. */
#define SMFIC_ABORT   'A'
#define SMFIC_BODY    'B'
#define SMFIC_CONNECT 'C'
#define SMFIC_MACRO   'D'
#define SMFIC_BODYEOB 'E'
#define SMFIC_HELO    'H'
#define SMFIC_HEADER  'L'
#define SMFIC_MAIL    'M'
#define SMFIC_EOH     'N'
#define SMFIC_OPTNEG  'O'
#define SMFIC_QUIT    'Q'
#define SMFIC_RCPT    'R'
#define SMFIC_DATA    'T'

#define SMFIR_ADDRCPT    '+'
#define SMFIR_DELRCPT    '-'
#define SMFIR_ADDRCPT_PAR '2'
#define SMFIR_ACCEPT     'a'
#define SMFIR_REPLBODY   'b'
#define SMFIR_CONTINUE   'c'
#define SMFIR_DISCARD    'd'
#define SMFIR_CHGFROM    'e'
#define SMFIR_ADDHEADER  'h'
#define SMFIR_INSHEADER  'i'
#define SMFIR_SETSYMLIST 'l'
#define SMFIR_CHGHEADER  'm'
#define SMFIR_PROGRESS   'p'
#define SMFIR_QUARANTINE 'q'
#define SMFIR_REJECT     'r'
#define SMFIR_SKIP       's'
#define SMFIR_TEMPFAIL   't'
#define SMFIR_REPLYCODE  'y'

#define SMFIF_ADDHDRS    0x01
#define SMFIF_CHGBODY    0x02
#define SMFIF_CHGHDRS    0x10
#define SMFIF_QUARANTINE 0x20
#define MILTER_ACTIONS (SMFIF_ADDHDRS | SMFIF_CHGBODY | SMFIF_CHGHDRS | SMFIF_QUARANTINE)

#define SMFIP_NOCONNECT 0x01
#define SMFIP_NOHELO    0x02
#define SMFIP_NOMAIL    0x04
#define SMFIP_NORCPT    0x08
#define SMFIP_NOBODY    0x10
#define SMFIP_NOHDRS    0x20
#define SMFIP_NOEOH     0x40
#define SMFIP_NR_HDR    0x80
#define SMFIP_NOUNKNOWN 0x100
#define SMFIP_NODATA    0x200
#define SMFIP_SKIP      0x400
#define SMFIP_RCPT_REJ  0x800
#define SMFIP_NR_CONN   0x1000
#define SMFIP_NR_HELO   0x2000
#define SMFIP_NR_MAIL   0x4000
#define SMFIP_NR_RCPT   0x8000
#define SMFIP_NR_DATA   0x10000
#define SMFIP_NR_UNKN   0x20000
#define SMFIP_NR_EOH    0x40000
#define SMFIP_NR_BODY   0x80000
/* what we can honour (no HDR_LEADSPC: values go without the space) */
#define MILTER_PROTO 0xFF7FF

#define MILTER_VERSION 6

enum step { S_OPTNEG, S_CONNECT, S_HELO, S_MAIL, S_RCPT, S_DATA, S_HEADER, S_EOH,
	S_BODY, S_EOB, S_DONE };

struct hdr {
	char *name;
	char *value;          /* LF line breaks, no leading white space */
	char *raw;            /* the original field with its CRLF, or NULL */
	size_t rawlen;
};

enum mod_kind { MOD_ADD, MOD_INSERT, MOD_CHANGE };

struct mod {
	enum mod_kind kind;
	uint32_t index;
	char *name, *value;
};

struct milter_run {
	struct event_base *base;
	struct bufferevent *bev;
	struct event *timer, *kick;

	/* the request, copied */
	char *ip, *client_name, *helo, *mail_from, *queue_id, *hostname;
	char **rcpts;
	size_t nrcpts;
	uint16_t port;
	struct config_milter *milters;
	size_t nmilters;
	unsigned timeout_secs;
	bool default_accept;

	/* the message as the milters so far left it */
	struct hdr *h;
	size_t nh;
	struct mm_buf body;

	/* the milter being talked to */
	size_t mi;
	uint32_t version, actions, proto;
	enum step step;
	size_t sub;
	bool connected;
	bool skip_body;
	struct mod *mods;
	size_t nmods;
	struct mm_buf newbody;
	bool body_replaced;
	bool quarantine;
	char qreason[256];

	struct milter_verdict v;
	bool modified;
	bool done;            /* cb has run: the event callback frees */
	milter_cb *cb;
	void *arg;
};

static void advance(struct milter_run *r);
static void next_milter(struct milter_run *r);

/* ---- the message ---- */

static void
hdr_free(struct hdr *h)
{
	free(h->name);
	free(h->value);
	free(h->raw);
}

static void
mods_clear(struct milter_run *r)
{
	for (size_t i = 0; i < r->nmods; i++) {
		free(r->mods[i].name);
		free(r->mods[i].value);
	}
	free(r->mods);
	r->mods = NULL;
	r->nmods = 0;
	mm_buf_free(&r->newbody);
	mm_buf_init(&r->newbody);
	r->body_replaced = false;
	r->quarantine = false;
}

static char *
value_lf(const char *v, size_t n)
{
	char *out = xmalloc(n + 1);
	size_t o = 0;

	for (size_t i = 0; i < n; i++)
		if (!(v[i] == '\r' && i + 1 < n && v[i + 1] == '\n'))
			out[o++] = v[i];
	out[o] = '\0';
	return out;
}

static void
message_load(struct milter_run *r, const char *msg, size_t len)
{
	struct mail_header mh;

	mail_header_parse(msg, 0, len, &mh);
	r->h = xcalloc(mh.n ? mh.n : 1, sizeof(*r->h));
	for (size_t i = 0; i < mh.n; i++) {
		const struct mail_hdr_field *f = &mh.f[i];
		struct hdr *h = &r->h[r->nh++];
		h->name = xstrndup(f->name, f->name_len);
		h->value = value_lf(f->value, f->value_len);
		h->raw = xstrndup(msg + f->off, f->len);
		h->rawlen = f->len;
	}
	size_t body = mh.body_off <= len ? mh.body_off : len;
	if (mh.no_blank)
		body = len;
	mm_buf_init(&r->body);
	mm_buf_append(&r->body, msg + body, len - body);
	mail_header_free(&mh);
}

static void
message_write(const struct milter_run *r, struct mm_buf *out)
{
	for (size_t i = 0; i < r->nh; i++) {
		const struct hdr *h = &r->h[i];
		if (h->raw != NULL) {
			mm_buf_append(out, h->raw, h->rawlen);
			continue;
		}
		mm_buf_printf(out, "%s: ", h->name);
		for (const char *p = h->value; *p; p++) {
			if (*p == '\n')
				mm_buf_appendc(out, '\r');
			mm_buf_appendc(out, *p);
		}
		mm_buf_append(out, "\r\n", 2);
	}
	mm_buf_append(out, "\r\n", 2);
	mm_buf_append(out, r->body.data, r->body.len);
}

/* The changes of the milter that just said continue or accept. */
static void
mods_apply(struct milter_run *r)
{
	for (size_t i = 0; i < r->nmods; i++) {
		struct mod *m = &r->mods[i];
		if (m->kind == MOD_CHANGE) {
			uint32_t seen = 0;
			for (size_t k = 0; k < r->nh; k++) {
				if (!mm_strcaseeq(r->h[k].name, m->name) || ++seen != (m->index ? m->index : 1))
					continue;
				if (m->value[0] == '\0') {
					hdr_free(&r->h[k]);
					memmove(&r->h[k], &r->h[k + 1], (r->nh - k - 1) * sizeof(*r->h));
					r->nh--;
				} else {
					free(r->h[k].value);
					free(r->h[k].raw);
					r->h[k].raw = NULL;
					r->h[k].value = m->value;
					m->value = NULL;
				}
				r->modified = true;
				break;
			}
			continue;
		}
		size_t at = m->kind == MOD_ADD ? r->nh : (m->index < r->nh ? m->index : r->nh);
		r->h = xrealloc(r->h, (r->nh + 1) * sizeof(*r->h));
		memmove(&r->h[at + 1], &r->h[at], (r->nh - at) * sizeof(*r->h));
		r->h[at].name = m->name;
		r->h[at].value = m->value;
		r->h[at].raw = NULL;
		r->h[at].rawlen = 0;
		m->name = m->value = NULL;
		r->nh++;
		r->modified = true;
	}
	if (r->body_replaced) {
		mm_buf_free(&r->body);
		r->body = r->newbody;
		mm_buf_init(&r->newbody);
		r->body_replaced = false;
		r->modified = true;
	}
	if (r->quarantine) {
		r->v.quarantine = true;
		mm_strlcpy(r->v.reason, r->qreason, sizeof(r->v.reason));
	}
	mods_clear(r);
}

/* ---- the wire ---- */

static void
put_packet(struct milter_run *r, char cmd, const void *data, size_t len)
{
	uint32_t n = htonl((uint32_t)(len + 1));

	bufferevent_write(r->bev, &n, 4);
	bufferevent_write(r->bev, &cmd, 1);
	if (len > 0)
		bufferevent_write(r->bev, data, len);
}

/* A packet of NUL-terminated strings (NULL ends the list). */
static void
put_strings(struct milter_run *r, char cmd, const char *first, ...)
{
	struct mm_buf b;
	va_list ap;

	mm_buf_init(&b);
	va_start(ap, first);
	for (const char *s = first; s != NULL; s = va_arg(ap, const char *))
		mm_buf_append(&b, s, strlen(s) + 1);
	va_end(ap);
	put_packet(r, cmd, b.data, b.len);
	mm_buf_free(&b);
}

static void
put_macros(struct milter_run *r, char code, const char *first, ...)
{
	struct mm_buf b;
	va_list ap;

	mm_buf_init(&b);
	mm_buf_appendc(&b, code);
	va_start(ap, first);
	for (const char *s = first; s != NULL; s = va_arg(ap, const char *))
		mm_buf_append(&b, s, strlen(s) + 1);
	va_end(ap);
	put_packet(r, SMFIC_MACRO, b.data, b.len);
	mm_buf_free(&b);
}

static void
arm_timer(struct milter_run *r)
{
	struct timeval tv = { r->timeout_secs, 0 };

	evtimer_add(r->timer, &tv);
}

/* ---- the end ---- */

static void
run_free(struct milter_run *r)
{
	if (r->bev)
		bufferevent_free(r->bev);
	if (r->timer)
		event_free(r->timer);
	if (r->kick)
		event_free(r->kick);
	for (size_t i = 0; i < r->nh; i++)
		hdr_free(&r->h[i]);
	free(r->h);
	mm_buf_free(&r->body);
	mods_clear(r);
	for (size_t i = 0; i < r->nrcpts; i++)
		free(r->rcpts[i]);
	free(r->rcpts);
	free(r->ip);
	free(r->client_name);
	free(r->helo);
	free(r->mail_from);
	free(r->queue_id);
	free(r->hostname);
	free(r->milters);
	mm_buf_free(&r->v.msg);
	free(r->v.rcpt_refused);
	free(r);
}

void
milter_cancel(struct milter_run **rp)
{
	if (*rp == NULL)
		return;
	run_free(*rp);
	*rp = NULL;
}

/* Runs cb; the libevent callback that got us here frees the run when it
 * sees done (nothing may touch it after that). */
static void
finish(struct milter_run *r)
{
	r->v.modified = r->modified;
	if (r->modified)
		message_write(r, &r->v.msg);
	if (r->bev != NULL) {
		bufferevent_free(r->bev);
		r->bev = NULL;
	}
	evtimer_del(r->timer);
	r->done = true;
	r->cb(r->arg, &r->v);
}

/* A final answer for the whole message. */
static void
final(struct milter_run *r, enum milter_action a, const char *reply)
{
	r->v.action = a;
	if (reply != NULL)
		mm_strlcpy(r->v.reply, reply, sizeof(r->v.reply));
	finish(r);
}

static const char *
milter_name(const struct milter_run *r, char *buf, size_t size)
{
	const struct config_milter *a = &r->milters[r->mi];

	if (a->family == AF_UNIX)
		snprintf(buf, size, "unix:%s", a->path);
	else
		snprintf(buf, size, "inet:%s:%u", a->host, a->port);
	return buf;
}

/* The milter failed (down, timeout, nonsense): the default action. */
static void
milter_failed(struct milter_run *r, const char *why)
{
	char name[160];

	log_warn("milter %s event=failed step=%d error=\"%s\" action=%s",
	    milter_name(r, name, sizeof(name)), (int)r->step, why,
	    r->default_accept ? "accept" : "tempfail");
	if (!r->default_accept) {
		snprintf(r->v.reason, sizeof(r->v.reason), "%s: %s", name, why);
		final(r, MILTER_TEMPFAIL, "451 4.7.1 Service unavailable (content filter), try again later");
		return;
	}
	mods_clear(r);
	next_milter(r);
}

/* "550 5.7.1 text" from SMFIR_REPLYCODE: a 4xx or 5xx code, else ours. */
static void
reply_code(struct milter_run *r, const char *s, size_t n)
{
	char line[512];
	size_t o = 0;

	for (size_t i = 0; i < n && s[i] && o + 1 < sizeof(line); i++)
		line[o++] = (s[i] == '\r' || s[i] == '\n') ? ' ' : s[i];
	line[o] = '\0';
	if (o >= 3 && (line[0] == '4' || line[0] == '5') && line[1] >= '0' && line[1] <= '9' &&
	    line[2] >= '0' && line[2] <= '9' && (line[3] == ' ' || line[3] == '\0'))
		final(r, line[0] == '4' ? MILTER_TEMPFAIL : MILTER_REJECT, line);
	else
		final(r, MILTER_REJECT, "550 5.7.1 Message rejected by a content filter");
}

/* name\0value\0 after an optional 32-bit index. */
static bool
take_mod(struct milter_run *r, enum mod_kind kind, const char *d, size_t n, bool indexed)
{
	uint32_t index = 0;

	if (indexed) {
		if (n < 4)
			return false;
		memcpy(&index, d, 4);
		index = ntohl(index);
		d += 4;
		n -= 4;
	}
	const char *name = d, *nul = memchr(d, '\0', n);
	if (nul == NULL || nul == d)
		return false;
	const char *value = nul + 1, *vend = memchr(value, '\0', n - (size_t)(value - d));
	if (vend == NULL)
		return false;
	for (const char *p = name; p < nul; p++)
		if ((unsigned char)*p <= ' ' || *p == ':' || *p == 0x7f)
			return false;           /* not a field name (RFC 5322 2.2) */
	if (r->nmods >= MILTER_MODS_MAX)
		return false;
	r->mods = xrealloc(r->mods, (r->nmods + 1) * sizeof(*r->mods));
	struct mod *m = &r->mods[r->nmods++];
	m->kind = kind;
	m->index = index;
	m->name = xstrndup(name, (size_t)(nul - name));
	/* a value without line breaks that a header cannot hold: LF only, and
	 * a break must be followed by white space (a fold) */
	m->value = value_lf(value, (size_t)(vend - value));
	for (char *p = m->value; *p; p++)
		if (*p == '\r' || (*p == '\n' && p[1] != ' ' && p[1] != '\t'))
			*p = ' ';
	return true;
}

static void
handle(struct milter_run *r, char cmd, const char *d, size_t n)
{
	char name[160];

	if (r->step == S_OPTNEG) {
		if (cmd != SMFIC_OPTNEG || n < 12) {
			milter_failed(r, "bad option negotiation");
			return;
		}
		uint32_t w[3];
		memcpy(w, d, 12);
		r->version = ntohl(w[0]);
		r->actions = ntohl(w[1]);
		r->proto = ntohl(w[2]);
		if (r->version < 2 || (r->proto & ~(uint32_t)MILTER_PROTO) != 0) {
			milter_failed(r, "milter asks for a protocol we do not speak");
			return;
		}
		r->step = S_CONNECT;
		advance(r);
		return;
	}
	switch (cmd) {
	case SMFIR_PROGRESS:
		return;                             /* still working: wait again */
	case SMFIR_CONTINUE:
		if (r->step == S_EOB) {
			mods_apply(r);
			next_milter(r);
			return;
		}
		advance(r);
		return;
	case SMFIR_ACCEPT:
		/* this milter wants nothing more of this message */
		if (r->step == S_EOB)
			mods_apply(r);
		else
			mods_clear(r);
		next_milter(r);
		return;
	case SMFIR_SKIP:
		if (r->step == S_BODY) {
			r->skip_body = true;
			advance(r);
			return;
		}
		break;
	case SMFIR_REJECT:
	case SMFIR_TEMPFAIL:
	case SMFIR_REPLYCODE:
		if (r->step == S_RCPT) {
			/* this recipient only (RFC-less, libmilter: per envrcpt) */
			r->v.rcpt_refused[r->sub - 1] = true;
			log_info("milter %s event=rcpt-refused rcpt=%s", milter_name(r, name,
			    sizeof(name)), r->rcpts[r->sub - 1]);
			advance(r);
			return;
		}
		log_info("milter %s event=%s", milter_name(r, name, sizeof(name)),
		    cmd == SMFIR_TEMPFAIL ? "tempfail" : "reject");
		if (cmd == SMFIR_REPLYCODE)
			reply_code(r, d, n);
		else if (cmd == SMFIR_REJECT)
			final(r, MILTER_REJECT, "550 5.7.1 Message rejected by a content filter");
		else
			final(r, MILTER_TEMPFAIL, "451 4.7.1 Message deferred by a content filter");
		return;
	case SMFIR_DISCARD:
		log_info("milter %s event=discard", milter_name(r, name, sizeof(name)));
		final(r, MILTER_DISCARD, NULL);
		return;
	case SMFIR_ADDHEADER:
	case SMFIR_INSHEADER:
	case SMFIR_CHGHEADER:
		if (r->step != S_EOB)
			break;
		if (!take_mod(r, cmd == SMFIR_ADDHEADER ? MOD_ADD : cmd == SMFIR_INSHEADER ?
		    MOD_INSERT : MOD_CHANGE, d, n, cmd != SMFIR_ADDHEADER)) {
			milter_failed(r, "bad header change");
			return;
		}
		return;
	case SMFIR_REPLBODY:
		if (r->step != S_EOB)
			break;
		if (!r->body_replaced) {
			mm_buf_free(&r->newbody);
			mm_buf_init(&r->newbody);
			r->body_replaced = true;
		}
		if (r->newbody.len + n > MILTER_PACKET_MAX_BYTES * 64) {
			milter_failed(r, "replacement body too large");
			return;
		}
		mm_buf_append(&r->newbody, d, n);
		return;
	case SMFIR_QUARANTINE: {
		size_t o = 0;
		for (size_t i = 0; i < n && d[i] && o + 1 < sizeof(r->qreason); i++)
			if ((unsigned char)d[i] >= 0x20 && (unsigned char)d[i] < 0x7f)
				r->qreason[o++] = d[i];
		r->qreason[o] = '\0';
		r->quarantine = true;
		return;
	}
	case SMFIR_ADDRCPT:
	case SMFIR_DELRCPT:
	case SMFIR_ADDRCPT_PAR:
	case SMFIR_CHGFROM:
	case SMFIR_SETSYMLIST:
		/* actions we did not offer in the negotiation */
		log_warn("milter %s event=ignored reply=%c (not negotiated)",
		    milter_name(r, name, sizeof(name)), cmd);
		return;
	}
	milter_failed(r, "unexpected reply");
}

static void
read_cb(struct bufferevent *bev, void *arg)
{
	struct milter_run *r = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t mi = r->mi;

	while (evbuffer_get_length(in) >= 5) {
		uint32_t len;
		evbuffer_copyout(in, &len, 4);
		len = ntohl(len);
		if (len == 0 || len > MILTER_PACKET_MAX_BYTES) {
			milter_failed(r, "packet too large");
			return;
		}
		if (evbuffer_get_length(in) < 4 + (size_t)len)
			return;
		evbuffer_drain(in, 4);
		char *pkt = xmalloc(len);
		evbuffer_remove(in, pkt, len);
		evtimer_del(r->timer);
		arm_timer(r);
		handle(r, pkt[0], pkt + 1, len - 1);
		free(pkt);
		/* handle() may have finished the run or moved to another milter */
		if (r->done) {
			run_free(r);
			return;
		}
		if (r->bev != bev || r->mi != mi)
			return;
	}
}

static void
event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct milter_run *r = arg;

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		r->connected = true;
		uint32_t w[3] = { htonl(MILTER_VERSION), htonl(MILTER_ACTIONS), htonl(MILTER_PROTO) };
		r->step = S_OPTNEG;
		put_packet(r, SMFIC_OPTNEG, w, sizeof(w));
		arm_timer(r);
		return;
	}
	milter_failed(r, r->connected ? "connection closed" :
	    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	if (r->done)
		run_free(r);
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct milter_run *r = arg;

	(void)fd;
	(void)what;
	milter_failed(r, "timeout");
	if (r->done)
		run_free(r);
}

/* Sends what the step needs and returns when a reply is due; steps the
 * milter turned off are skipped. */
static void
advance(struct milter_run *r)
{
	for (;;) {
		switch (r->step) {
		case S_OPTNEG:
			return;
		case S_CONNECT: {
			r->step = S_HELO;
			if (r->proto & SMFIP_NOCONNECT)
				continue;
			char client[96], port[2];
			snprintf(client, sizeof(client), "[%s]", r->ip);
			put_macros(r, SMFIC_CONNECT, "j", r->hostname, "{daemon_name}", "minimaild",
			    "_", client, "{client_addr}", r->ip, NULL);
			struct mm_buf b;
			mm_buf_init(&b);
			mm_buf_append(&b, r->client_name, strlen(r->client_name) + 1);
			mm_buf_appendc(&b, strchr(r->ip, ':') ? '6' : '4');
			uint16_t p = htons(r->port);
			memcpy(port, &p, 2);
			mm_buf_append(&b, port, 2);
			mm_buf_append(&b, r->ip, strlen(r->ip) + 1);
			put_packet(r, SMFIC_CONNECT, b.data, b.len);
			mm_buf_free(&b);
			if (r->proto & SMFIP_NR_CONN)
				continue;
			return;
		}
		case S_HELO:
			r->step = S_MAIL;
			if (r->proto & SMFIP_NOHELO)
				continue;
			put_strings(r, SMFIC_HELO, r->helo, NULL);
			if (r->proto & SMFIP_NR_HELO)
				continue;
			return;
		case S_MAIL: {
			r->step = S_RCPT;
			r->sub = 0;
			if (r->proto & SMFIP_NOMAIL)
				continue;
			char *from = xasprintf("<%s>", r->mail_from);
			put_macros(r, SMFIC_MAIL, "{mail_addr}", r->mail_from, "i", r->queue_id, NULL);
			put_strings(r, SMFIC_MAIL, from, NULL);
			free(from);
			if (r->proto & SMFIP_NR_MAIL)
				continue;
			return;
		}
		case S_RCPT: {
			if (r->sub == r->nrcpts || (r->proto & SMFIP_NORCPT)) {
				r->step = S_DATA;
				continue;
			}
			const char *rc = r->rcpts[r->sub++];
			char *to = xasprintf("<%s>", rc);
			put_macros(r, SMFIC_RCPT, "{rcpt_addr}", rc, NULL);
			put_strings(r, SMFIC_RCPT, to, NULL);
			free(to);
			if (r->proto & SMFIP_NR_RCPT)
				continue;
			return;
		}
		case S_DATA:
			r->step = S_HEADER;
			r->sub = 0;
			if (r->version < 4 || (r->proto & SMFIP_NODATA))
				continue;
			put_packet(r, SMFIC_DATA, NULL, 0);
			if (r->proto & SMFIP_NR_DATA)
				continue;
			return;
		case S_HEADER: {
			if (r->sub == r->nh || (r->proto & SMFIP_NOHDRS)) {
				r->step = S_EOH;
				continue;
			}
			const struct hdr *h = &r->h[r->sub++];
			put_strings(r, SMFIC_HEADER, h->name, h->value, NULL);
			if (r->proto & SMFIP_NR_HDR)
				continue;
			return;
		}
		case S_EOH:
			r->step = S_BODY;
			r->sub = 0;
			if (r->proto & SMFIP_NOEOH)
				continue;
			put_packet(r, SMFIC_EOH, NULL, 0);
			if (r->proto & SMFIP_NR_EOH)
				continue;
			return;
		case S_BODY: {
			if (r->skip_body || r->sub >= r->body.len || (r->proto & SMFIP_NOBODY)) {
				r->step = S_EOB;
				continue;
			}
			size_t n = r->body.len - r->sub;
			if (n > MILTER_BODY_CHUNK_BYTES)
				n = MILTER_BODY_CHUNK_BYTES;
			put_packet(r, SMFIC_BODY, r->body.data + r->sub, n);
			r->sub += n;
			if (r->proto & SMFIP_NR_BODY)
				continue;
			return;
		}
		case S_EOB:
			put_macros(r, SMFIC_BODYEOB, "i", r->queue_id, NULL);
			put_packet(r, SMFIC_BODYEOB, NULL, 0);
			return;                     /* modifications, then the answer */
		case S_DONE:
			return;
		}
	}
}

/* Says goodbye to the current milter (if any) and starts the next, or
 * finishes. */
static void
next_milter(struct milter_run *r)
{
	if (r->bev != NULL) {
		if (r->connected)
			put_packet(r, SMFIC_QUIT, NULL, 0);
		/* QUIT needs no answer; libevent drops what it could not send */
		bufferevent_free(r->bev);
		r->bev = NULL;
		r->mi++;
	}
	evtimer_del(r->timer);
	mods_clear(r);
	if (r->mi >= r->nmilters) {
		final(r, MILTER_ACCEPT, NULL);
		return;
	}
	const struct config_milter *a = &r->milters[r->mi];
	struct sockaddr_storage ss;
	socklen_t sl;

	memset(&ss, 0, sizeof(ss));
	if (a->family == AF_UNIX) {
		struct sockaddr_un *un = (struct sockaddr_un *)&ss;
		un->sun_family = AF_UNIX;
		mm_strlcpy(un->sun_path, a->path, sizeof(un->sun_path));
		sl = sizeof(*un);
	} else if (a->family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;
		in->sin_family = AF_INET;
		in->sin_port = htons(a->port);
		inet_pton(AF_INET, a->host, &in->sin_addr);
		sl = sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(a->port);
		inet_pton(AF_INET6, a->host, &in6->sin6_addr);
		sl = sizeof(*in6);
	}
	r->connected = false;
	r->skip_body = false;
	r->step = S_OPTNEG;
	r->bev = bufferevent_socket_new(r->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (r->bev == NULL) {
		milter_failed(r, "out of sockets");
		return;
	}
	bufferevent_setcb(r->bev, read_cb, NULL, event_cb, r);
	bufferevent_enable(r->bev, EV_READ | EV_WRITE);
	arm_timer(r);
	if (bufferevent_socket_connect(r->bev, (struct sockaddr *)&ss, (int)sl) < 0)
		milter_failed(r, strerror(errno));
}

static void
kick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct milter_run *r = arg;

	(void)fd;
	(void)what;
	next_milter(r);
	if (r->done)
		run_free(r);
}

struct milter_run *
milter_start(struct event_base *base, const struct milter_req *req, milter_cb *cb, void *arg)
{
	struct milter_run *r = xcalloc(1, sizeof(*r));

	r->base = base;
	r->cb = cb;
	r->arg = arg;
	r->ip = xstrdup(req->ip);
	r->port = req->port;
	r->client_name = xstrdup(req->client_name ? req->client_name : req->ip);
	r->helo = xstrdup(req->helo ? req->helo : "");
	r->mail_from = xstrdup(req->mail_from ? req->mail_from : "");
	r->queue_id = xstrdup(req->queue_id ? req->queue_id : "");
	r->hostname = xstrdup(req->hostname ? req->hostname : "localhost");
	r->nrcpts = req->nrcpts < MILTER_RCPTS_MAX ? req->nrcpts : MILTER_RCPTS_MAX;
	r->rcpts = xcalloc(r->nrcpts ? r->nrcpts : 1, sizeof(char *));
	for (size_t i = 0; i < r->nrcpts; i++)
		r->rcpts[i] = xstrdup(req->rcpts[i]);
	r->nmilters = req->nmilters < MILTER_MAX ? req->nmilters : MILTER_MAX;
	r->milters = xcalloc(r->nmilters ? r->nmilters : 1, sizeof(*r->milters));
	memcpy(r->milters, req->milters, r->nmilters * sizeof(*r->milters));
	r->timeout_secs = req->timeout_secs ? req->timeout_secs : 30;
	r->default_accept = req->default_accept;
	message_load(r, req->msg, req->len);
	mm_buf_init(&r->newbody);
	mm_buf_init(&r->v.msg);
	r->v.nrcpts = r->nrcpts;
	r->v.rcpt_refused = xcalloc(r->nrcpts ? r->nrcpts : 1, sizeof(bool));
	r->timer = evtimer_new(base, timer_cb, r);
	r->kick = evtimer_new(base, kick_cb, r);
	if (r->timer == NULL || r->kick == NULL)
		fatal("out of memory (milter events)");
	event_active(r->kick, EV_TIMEOUT, 0);
	return r;
}
