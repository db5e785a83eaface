/* relay-client.c: the outbound SMTP conversation of one delivery, on the
 * event loop on the connection layer (net/conn-client): connect,
 * greeting, EHLO (HELO as a fallback), STARTTLS (opportunistic, or
 * required by [relay] require_tls and for a smarthost), AUTH for a
 * smarthost, then per message MAIL, RCPTs and DATA (pipelined when
 * offered, RFC 2920), RSET between messages when a transaction was left
 * open, QUIT.
 *
 * The one idea: every reply is read whole (all its lines) and handed to
 * on_reply(), which looks at d->state to know what it answers; a failed
 * connection moves on to the next address with the messages that have no
 * result yet. Recipients get their results only from replies (a 250 to the
 * end of data is the only thing that marks a recipient done), so anything
 * cut short is retried, never lost. Timeouts are RFC 5321 4.5.3.2's. */
#include "relay/relay-int.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base64.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "net/conn-client.h"

static void begin_msgs(struct relay_delivery *d);
static void next_msg(struct relay_delivery *d);

/* ---- helpers ---- */

void
relay_reply_status(const char *reply, char *status, size_t len)
{
	const char *p = reply;
	char cls = '4';

	if (isdigit((unsigned char)p[0]) && isdigit((unsigned char)p[1]) &&
	    isdigit((unsigned char)p[2])) {
		cls = p[0] == '5' ? '5' : p[0] == '2' ? '2' : '4';
		p += 3;
		while (*p == ' ' || *p == '-')
			p++;
		/* class.subject.detail, RFC 3463 2: 1 digit, 1-3, 1-3 */
		size_t a = 0, b, c;
		if (p[0] == cls && p[1] == '.') {
			a = 2;
			for (b = 0; b < 3 && isdigit((unsigned char)p[a + b]); b++)
				;
			if (b > 0 && p[a + b] == '.') {
				size_t s = a + b + 1;
				for (c = 0; c < 3 && isdigit((unsigned char)p[s + c]); c++)
					;
				if (c > 0 && (p[s + c] == '\0' || p[s + c] == ' ')) {
					snprintf(status, len, "%.*s", (int)(s + c), p);
					return;
				}
			}
		}
	}
	snprintf(status, len, "%c.0.0", cls);
}

uint64_t
relay_retry_delay(uint32_t attempts, uint64_t base, uint64_t max)
{
	uint64_t d = base;
	for (uint32_t i = 1; i < attempts && d < max; i++)
		d = d > max / 2 ? max : d * 2;
	return d < max ? d : max;
}

static const struct relay_addr *
cur_addr(const struct relay_delivery *d)
{
	return &d->addrs[d->addr < d->naddrs ? d->addr : 0];
}

/* Printable ASCII only: replies go into logs, DSNs and minimailctl. */
static void
sanitize(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			*s = '?';
}

void
relay_rcpt_result(struct relay_delivery *d, struct relay_msg *m, size_t i,
    int code, const char *reply)
{
	struct store_qentry *e = m->e;
	struct store_qrcpt *r = &e->rcpts[i];
	const struct relay_addr *a = cur_addr(d);
	char esc[STORE_QUEUE_REPLY_MAX * 2];

	mm_strlcpy(r->reply, reply, sizeof(r->reply));
	if (code >= 200 && code < 300)
		r->state = STORE_Q_DONE;
	else if (code >= 500 && code < 600)
		r->state = STORE_Q_FAILED;
	else {
		r->state = STORE_Q_PENDING;
		snprintf(e->error, sizeof(e->error), "%s (%s[%s])", reply, a->host, a->ip);
	}
	log_escape(esc, sizeof(esc), reply, strlen(reply));
	log_info("relay id=%llx rcpt=<%s> host=%s[%s]:%u result=%s reply=\"%s\"",
	    (unsigned long long)e->id, r->address, a->host, a->ip, a->port,
	    r->state == STORE_Q_DONE ? "sent" : r->state == STORE_Q_FAILED ?
	    "bounced" : "deferred", esc);
}

static void
set_timeout(struct relay_delivery *d, int secs)
{
	conn_client_set_timeouts(d->conn, (unsigned)secs, RELAY_BLOCK_TIMEOUT_SECS);
}

static void __attribute__((format(printf, 3, 4)))
send_cmd(struct relay_delivery *d, int timeout, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	conn_client_vprintf(d->conn, fmt, ap);
	va_end(ap);
	conn_client_write(d->conn, "\r\n", 2);
	set_timeout(d, timeout);
}

void
relay_client_close(struct relay_delivery *d)
{
	if (d->conn != NULL) {
		conn_client_free(d->conn);
		d->conn = NULL;
	}
	d->conn_gen++;
	d->in_session = false;
	mm_buf_free(&d->reply);
	mm_buf_init(&d->reply);
}

static void
tx_reset(struct relay_delivery *d)
{
	free(d->rcpt_idx);
	free(d->accepted);
	d->rcpt_idx = NULL;
	d->accepted = NULL;
	d->nrcpt = d->naccepted = d->step = 0;
}

/* The delivery is over: untried messages keep d->error. */
static void
finish(struct relay_delivery *d)
{
	relay_client_close(d);
	tx_reset(d);
	for (size_t i = 0; i < d->nmsgs; i++) {
		struct relay_msg *m = &d->msgs[i];
		free(m->body);
		m->body = NULL;
		if (m->tried || d->error[0] == '\0')
			continue;
		mm_strlcpy(m->e->error, d->error, sizeof(m->e->error));
		for (size_t j = 0; j < m->e->nrcpts; j++)
			if (m->e->rcpts[j].state == STORE_Q_PENDING)
				mm_strlcpy(m->e->rcpts[j].reply, d->error,
				    sizeof(m->e->rcpts[j].reply));
	}
	relay_engine_finish(d);
}

/* This connection failed: the next address, or the end. */
static void __attribute__((format(printf, 2, 3)))
fail_conn(struct relay_delivery *d, const char *fmt, ...)
{
	const struct relay_addr *a = cur_addr(d);
	char msg[STORE_QUEUE_REPLY_MAX - 80], esc[STORE_QUEUE_REPLY_MAX * 2];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	sanitize(msg);
	/* The reply is bounded; a long host name may cut it, which is fine. */
	if (snprintf(d->error, sizeof(d->error), "%s (%s[%s]:%u)", msg, a->host, a->ip,
	    a->port) >= (int)sizeof(d->error))
		log_debug("relay dest=%s event=error-truncated", d->dest);
	log_escape(esc, sizeof(esc), d->error, strlen(d->error));
	metrics_relay_connection_failed();
	log_info("relay dest=%s event=connection-failed error=\"%s\"", d->dest, esc);
	relay_client_close(d);
	if (d->job_running) {
		/* a body is loading: move on when it is back (one job at a time) */
		d->conn_lost = true;
		return;
	}
	tx_reset(d);
	if (d->cur < d->nmsgs)
		mm_strlcpy(d->msgs[d->cur].e->mta, a->host, sizeof(d->msgs[0].e->mta));
	if (d->addr + 1 < d->naddrs) {
		d->addr++;
		d->no_starttls = false;
		relay_client_start(d);
		return;
	}
	finish(d);
}

/* ---- TLS ---- */

static void read_cb(void *arg);
static void event_cb(void *arg, unsigned what);

/* The certificate checks of d's policy (MTA-STS, DANE) on a new SSL. */
static bool
tls_setup(void *arg, SSL *ssl, char *err, size_t errlen)
{
	return relay_policy_setup_ssl(arg, ssl, err, errlen);
}

static void
start_tls(struct relay_delivery *d, enum relay_cstate st)
{
	const struct relay_addr *a = cur_addr(d);
	char err[256];
	enum relay_tls_policy pol = relay_policy_of(d);
	SSL_CTX *ctx = pol != RELAY_TLS_OPPORTUNISTIC ?
	    relay_policy_ssl_ctx(err, sizeof(err), d->cfg) :
	    relay_engine_ssl_ctx(d->eng, d, err, sizeof(err));

	switch (conn_client_starttls(d->conn, ctx, a->host,
	    d->smarthost && d->cfg->smarthost_verify, tls_setup, d, err, sizeof(err))) {
	case CONN_CLIENT_TLS_OK:
		break;
	case CONN_CLIENT_TLS_NO_SSL:
		fail_conn(d, "451 4.7.5 TLS unavailable: %s", ctx ? "SSL_new failed" : err);
		return;
	case CONN_CLIENT_TLS_SETUP:
		/* MTA-STS / DANE: what the certificate must match */
		fail_conn(d, "451 4.7.5 %s: %s", relay_policy_name(pol), err);
		return;
	case CONN_CLIENT_TLS_FILTER:
		fail_conn(d, "451 4.7.5 TLS filter failed");
		return;
	}
	d->state = st;
	set_timeout(d, RELAY_GREETING_TIMEOUT_SECS);
}

/* ---- the session ---- */

static void
send_ehlo(struct relay_delivery *d)
{
	d->ext_starttls = d->ext_pipelining = d->ext_8bitmime = false;
	d->ext_smtputf8 = d->ext_auth_plain = d->ext_auth_login = false;
	d->ext_size = false;
	d->max_size = 0;
	send_cmd(d, RELAY_CMD_TIMEOUT_SECS, "EHLO %s", d->cfg->hostname);
	d->state = RC_EHLO;
}

/* One EHLO line's keyword (RFC 5321 4.1.1.1). */
static void
ehlo_keyword(struct relay_delivery *d, const char *kw)
{
	char word[32];
	size_t n = strcspn(kw, " ");
	if (n >= sizeof(word))
		return;
	memcpy(word, kw, n);
	word[n] = '\0';
	if (mm_strcaseeq(word, "STARTTLS"))
		d->ext_starttls = true;
	else if (mm_strcaseeq(word, "PIPELINING"))
		d->ext_pipelining = true;
	else if (mm_strcaseeq(word, "8BITMIME"))
		d->ext_8bitmime = true;
	else if (mm_strcaseeq(word, "SMTPUTF8"))
		d->ext_smtputf8 = true;
	else if (mm_strcaseeq(word, "SIZE")) {
		d->ext_size = true;
		d->max_size = kw[n] == ' ' ? strtoull(kw + n + 1, NULL, 10) : 0;
	} else if (mm_strcaseeq(word, "AUTH")) {
		const char *p = kw + n;
		while (*p == ' ') {
			p++;
			size_t m = strcspn(p, " ");
			if (m == 5 && mm_strncaseeq(p, "PLAIN", 5))
				d->ext_auth_plain = true;
			if (m == 5 && mm_strncaseeq(p, "LOGIN", 5))
				d->ext_auth_login = true;
			p += m;
		}
	}
}

static void
send_b64(struct relay_delivery *d, const char *data, size_t n, const char *prefix)
{
	char *b = xmalloc(BASE64_ENCODED_LEN(n) + 1);
	size_t blen;
	(void)base64_encode(data, n, b, BASE64_ENCODED_LEN(n) + 1, &blen);
	send_cmd(d, RELAY_CMD_TIMEOUT_SECS, "%s%s", prefix, b);
	explicit_bzero(b, blen);
	free(b);
}

static void
after_ehlo(struct relay_delivery *d)
{
	const struct config *cfg = d->cfg;
	bool must, want;

	if (d->smarthost) {
		must = cfg->smarthost_tls == CONFIG_RELAY_TLS_STARTTLS;
		want = must;
	} else {
		must = cfg->relay_require_tls || relay_policy_of(d) != RELAY_TLS_OPPORTUNISTIC;
		want = !d->no_starttls;
	}
	if (!d->tls && (must || (want && d->ext_starttls))) {
		if (!d->ext_starttls) {
			if (relay_policy_of(d) != RELAY_TLS_OPPORTUNISTIC)
				fail_conn(d, "451 4.7.4 %s requires TLS but the server does not "
				    "offer STARTTLS", relay_policy_name(relay_policy_of(d)));
			else
				fail_conn(d, "451 4.7.4 TLS is required but the server does not "
				    "offer STARTTLS");
			return;
		}
		send_cmd(d, RELAY_CMD_TIMEOUT_SECS, "STARTTLS");
		d->state = RC_STARTTLS;
		return;
	}
	if (d->smarthost && cfg->smarthost_user != NULL) {
		const char *u = cfg->smarthost_user, *p = cfg->smarthost_password;
		if (d->ext_auth_plain) {
			size_t ul = strlen(u), pl = strlen(p);
			char *buf = xmalloc(ul + pl + 2);
			buf[0] = '\0';
			memcpy(buf + 1, u, ul);
			buf[ul + 1] = '\0';
			memcpy(buf + ul + 2, p, pl);
			send_b64(d, buf, ul + pl + 2, "AUTH PLAIN ");
			explicit_bzero(buf, ul + pl + 2);
			free(buf);
			d->state = RC_AUTH;
		} else if (d->ext_auth_login) {
			send_cmd(d, RELAY_CMD_TIMEOUT_SECS, "AUTH LOGIN");
			d->state = RC_AUTH;
		} else {
			fail_conn(d, "451 4.7.0 the smarthost offers no AUTH PLAIN or LOGIN");
		}
		return;
	}
	begin_msgs(d);
}

/* Does s hold bytes above 0x7f? */
static bool
non_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return true;
	return false;
}

/* Every pending recipient of m fails (or waits) with reply; m is done. */
static void
msg_all(struct relay_delivery *d, struct relay_msg *m, int code, const char *reply)
{
	for (size_t i = 0; i < m->e->nrcpts; i++)
		if (m->e->rcpts[i].state == STORE_Q_PENDING)
			relay_rcpt_result(d, m, i, code, reply);
	m->tried = true;
}

static void
tx_begin(struct relay_delivery *d)
{
	struct relay_msg *m = &d->msgs[d->cur];
	struct store_qentry *e = m->e;
	const struct relay_addr *a = cur_addr(d);
	bool utf8 = (e->flags & STORE_QF_SMTPUTF8) || non_ascii(e->sender);
	bool eight = (e->flags & STORE_QF_8BIT) != 0 && !m->downgraded;
	size_t skip = e->skip <= m->len ? (size_t)e->skip : 0;
	size_t len = m->len - skip;
	char reply[STORE_QUEUE_REPLY_MAX];
	struct conn_client *out = d->conn;

	tx_reset(d);
	mm_strlcpy(e->mta, a->host, sizeof(e->mta));
	d->rcpt_idx = xcalloc(e->nrcpts + 1, sizeof(*d->rcpt_idx));
	d->accepted = xcalloc(e->nrcpts + 1, sizeof(*d->accepted));
	for (size_t i = 0; i < e->nrcpts; i++) {
		if (e->rcpts[i].state != STORE_Q_PENDING)
			continue;
		d->rcpt_idx[d->nrcpt++] = i;
		utf8 |= non_ascii(e->rcpts[i].address);
	}
	if (d->nrcpt == 0) {
		m->tried = true;
		next_msg(d);
		return;
	}
	/* Never convert: a message the server cannot take unchanged bounces. */
	if (utf8 && !d->ext_smtputf8) {
		snprintf(reply, sizeof(reply), "553 5.6.7 %s does not support SMTPUTF8, "
		    "which the message needs (not converted)", a->host);
		msg_all(d, m, 553, reply);
		next_msg(d);
		return;
	}
	if (eight && !d->ext_8bitmime) {
		snprintf(reply, sizeof(reply), "554 5.6.3 %s does not support 8BITMIME "
		    "and the message has 8-bit data (not converted)", a->host);
		msg_all(d, m, 554, reply);
		next_msg(d);
		return;
	}
	if (d->ext_size && d->max_size > 0 && len > d->max_size) {
		snprintf(reply, sizeof(reply), "552 5.3.4 message of %zu bytes exceeds "
		    "%s's limit of %llu", len, a->host, (unsigned long long)d->max_size);
		msg_all(d, m, 552, reply);
		next_msg(d);
		return;
	}
	conn_client_printf(out, "MAIL FROM:<%s>%s%s", e->sender,
	    eight ? " BODY=8BITMIME" : "", utf8 ? " SMTPUTF8" : "");
	if (d->ext_size)
		conn_client_printf(out, " SIZE=%zu", len);
	conn_client_write(out, "\r\n", 2);
	if (d->ext_pipelining) {
		for (size_t i = 0; i < d->nrcpt; i++)
			conn_client_printf(out, "RCPT TO:<%s>\r\n",
			    e->rcpts[d->rcpt_idx[i]].address);
		conn_client_printf(out, "DATA\r\n");
	}
	set_timeout(d, RELAY_CMD_TIMEOUT_SECS);
	d->step = 0;
	d->mail_code = 0;
	d->state = RC_TX;
}

/* The end of msgs[cur]'s transaction. */
static void
tx_end(struct relay_delivery *d, bool rset)
{
	d->msgs[d->cur].tried = true;
	if (rset) {
		send_cmd(d, RELAY_CMD_TIMEOUT_SECS, "RSET");
		d->state = RC_RSET;
		return;
	}
	next_msg(d);
}

/* Bytes of the message, dot-stuffed (RFC 5321 4.5.2); *bol: the bytes
 * before them ended a line. */
static void
write_stuffed(struct conn_client *out, const char *p, const char *end, bool *bol)
{
	while (p < end) {
		if (*bol && *p == '.')
			conn_client_write(out, ".", 1);
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl != NULL ? (size_t)(nl - p) + 1 : (size_t)(end - p);
		conn_client_write(out, p, n);
		p += n;
		*bol = nl != NULL;
	}
}

/* After the message: CRLF unless it ended with one, and .CRLF. */
static void
end_body(struct relay_delivery *d, size_t sent, const char *last2)
{
	if (sent > 0 && !(sent >= 2 && last2[0] == '\r' && last2[1] == '\n'))
		conn_client_write(d->conn, "\r\n", 2);
	conn_client_write(d->conn, ".\r\n", 3);
	set_timeout(d, RELAY_DATA_END_TIMEOUT_SECS);
	d->state = RC_DATA_END;
}

/* The message, dot-stuffed, then CRLF.CRLF; a streamed one a chunk at a
 * time (relay_client_chunk_loaded). */
static void
send_body(struct relay_delivery *d)
{
	struct relay_msg *m = &d->msgs[d->cur];
	size_t skip = m->e->skip <= m->len ? (size_t)m->e->skip : 0;
	bool bol = true;

	if (m->streamed) {
		m->soff = skip;
		m->sbol = true;
		/* its DKIM-Signature fields (relay-dkim.c), then the message */
		write_stuffed(d->conn, m->body + RELAY_STREAM_BYTES,
		    m->body + RELAY_STREAM_BYTES + m->slen, &m->sbol);
		d->stream_wait = false;
		d->state = RC_DATA_STREAM;
		set_timeout(d, RELAY_DATA_END_TIMEOUT_SECS);
		relay_engine_read_chunk(d);
		return;
	}
	write_stuffed(d->conn, m->body + skip, m->body + m->len, &bol);
	end_body(d, m->len - skip, m->len >= 2 ? m->body + m->len - 2 : "");
}

void
relay_client_chunk_loaded(struct relay_delivery *d, int err)
{
	struct relay_msg *m = &d->msgs[d->cur];
	size_t n = m->chunk_len;

	if (d->conn_lost) {
		relay_client_body_loaded(d, err);   /* the same way on */
		return;
	}
	if (d->state != RC_DATA_STREAM || d->conn == NULL)
		return;
	if (err != STORE_OK) {
		/* no end of data: the server drops what it got; tried again later */
		fail_conn(d, "451 4.3.0 cannot read the message: %s", store_strerror(err));
		return;
	}
	write_stuffed(d->conn, m->body, m->body + n, &m->sbol);
	if (n >= 2) {
		m->last[0] = m->body[n - 2];
		m->last[1] = m->body[n - 1];
	} else {
		m->last[0] = m->last[1];
		m->last[1] = m->body[0];
	}
	m->soff += n;
	set_timeout(d, RELAY_DATA_END_TIMEOUT_SECS);
	if (m->soff >= m->len - m->slen) {
		size_t skip = m->e->skip <= m->len ? (size_t)m->e->skip : 0;
		end_body(d, m->len - skip, m->last);
		return;
	}
	if (conn_client_output_len(d->conn) > CONN_OUTPUT_HIGH_BYTES) {
		/* the next chunk once this one is mostly on the wire */
		d->stream_wait = true;
		conn_client_want_drained(d->conn);
		return;
	}
	relay_engine_read_chunk(d);
}

static void
drained_cb(void *arg)
{
	struct relay_delivery *d = arg;

	if (!d->stream_wait || d->state != RC_DATA_STREAM || d->conn == NULL)
		return;
	d->stream_wait = false;
	relay_engine_read_chunk(d);
}

static void
tx_reply(struct relay_delivery *d, int code, const char *text)
{
	struct relay_msg *m = &d->msgs[d->cur];
	struct store_qentry *e = m->e;
	size_t n = d->nrcpt;
	bool pipe = d->ext_pipelining;

	if (d->step == 0) {
		d->mail_code = code;
		if (code / 100 != 2) {
			for (size_t i = 0; i < n; i++)
				relay_rcpt_result(d, m, d->rcpt_idx[i], code, text);
			if (!pipe) {
				tx_end(d, true);
				return;
			}
		} else if (!pipe) {
			send_cmd(d, RELAY_CMD_TIMEOUT_SECS, "RCPT TO:<%s>",
			    e->rcpts[d->rcpt_idx[0]].address);
		}
	} else if (d->step <= n) {
		size_t i = d->step - 1;
		if (d->mail_code / 100 == 2) {
			if (code / 100 == 2) {
				d->accepted[i] = true;
				d->naccepted++;
			} else {
				relay_rcpt_result(d, m, d->rcpt_idx[i], code, text);
			}
		}
		if (!pipe) {
			if (d->step < n)
				send_cmd(d, RELAY_CMD_TIMEOUT_SECS, "RCPT TO:<%s>",
				    e->rcpts[d->rcpt_idx[d->step]].address);
			else if (d->naccepted > 0)
				send_cmd(d, RELAY_DATA_TIMEOUT_SECS, "DATA");
			else {
				tx_end(d, true);
				return;
			}
		}
	} else {
		/* the reply to DATA */
		if (code == 354) {
			if (d->naccepted > 0)
				send_body(d);
			else {
				/* RFC 2920 3.1 says this cannot happen; end it empty */
				conn_client_write(d->conn, ".\r\n", 3);
				set_timeout(d, RELAY_DATA_END_TIMEOUT_SECS);
				d->state = RC_DATA_END;
			}
			return;
		}
		for (size_t i = 0; i < n; i++)
			if (d->accepted[i])
				relay_rcpt_result(d, m, d->rcpt_idx[i], code, text);
		tx_end(d, d->mail_code / 100 == 2);
		return;
	}
	d->step++;
	if (pipe && d->step == n + 1)
		set_timeout(d, RELAY_DATA_TIMEOUT_SECS);
}

static void
data_end_reply(struct relay_delivery *d, int code, const char *text)
{
	struct relay_msg *m = &d->msgs[d->cur];
	for (size_t i = 0; i < d->nrcpt; i++)
		if (d->accepted[i])
			relay_rcpt_result(d, m, d->rcpt_idx[i], code, text);
	tx_end(d, false);
}

static void
begin_msgs(struct relay_delivery *d)
{
	while (d->cur < d->nmsgs && d->msgs[d->cur].tried)
		d->cur++;
	if (d->cur >= d->nmsgs) {
		send_cmd(d, 30, "QUIT");
		d->state = RC_QUIT;
		return;
	}
	d->state = RC_LOADING;
	relay_engine_load_body(d);
}

static void
next_msg(struct relay_delivery *d)
{
	struct relay_msg *m = &d->msgs[d->cur];
	free(m->body);
	m->body = NULL;
	tx_reset(d);
	if (d->cur < d->nmsgs)
		d->cur++;
	begin_msgs(d);
}

void
relay_client_body_loaded(struct relay_delivery *d, int err)
{
	struct relay_msg *m = &d->msgs[d->cur];

	if (d->conn_lost) {
		/* the connection failed while the body loaded */
		d->conn_lost = false;
		free(m->body);
		m->body = NULL;
		tx_reset(d);
		if (d->addr + 1 < d->naddrs) {
			d->addr++;
			d->no_starttls = false;
			relay_client_start(d);
		} else {
			finish(d);
		}
		return;
	}
	if (d->state != RC_LOADING || d->conn == NULL)
		return;
	if (m->body == NULL) {
		/* deleted from the queue meanwhile, or unreadable: no result */
		log_warn("relay id=%llx event=body-unavailable error=\"%s\"",
		    (unsigned long long)m->e->id, store_strerror(err));
		m->tried = true;
		next_msg(d);
		return;
	}
	tx_begin(d);
}

static void
on_reply(struct relay_delivery *d, int code, const char *text)
{
	switch (d->state) {
	case RC_GREETING:
		if (code != 220) {
			fail_conn(d, "%s", text);
			return;
		}
		d->in_session = true;
		send_ehlo(d);
		return;
	case RC_EHLO:
		if (code == 250)
			after_ehlo(d);
		else if (code >= 500) {
			send_cmd(d, RELAY_CMD_TIMEOUT_SECS, "HELO %s", d->cfg->hostname);
			d->state = RC_HELO;
		} else
			fail_conn(d, "%s", text);
		return;
	case RC_HELO:
		if (code == 250)
			after_ehlo(d);
		else
			fail_conn(d, "%s", text);
		return;
	case RC_STARTTLS:
		if (code == 220) {
			start_tls(d, RC_TLS);
			return;
		}
		if (d->smarthost || d->cfg->relay_require_tls ||
		    relay_policy_of(d) != RELAY_TLS_OPPORTUNISTIC) {
			fail_conn(d, "451 4.7.4 STARTTLS refused: %s", text);
			return;
		}
		d->no_starttls = true;
		after_ehlo(d);
		return;
	case RC_AUTH:
		if (code == 235) {
			begin_msgs(d);
		} else if (code == 334 && !d->ext_auth_plain) {
			const char *u = d->cfg->smarthost_user;
			send_b64(d, u, strlen(u), "");
			d->state = RC_AUTH_LOGIN_PASS;
		} else {
			fail_conn(d, "smarthost authentication failed: %s", text);
		}
		return;
	case RC_AUTH_LOGIN_PASS:
		if (code == 334) {
			const char *p = d->cfg->smarthost_password;
			send_b64(d, p, strlen(p), "");
			d->state = RC_AUTH_LOGIN_DONE;
		} else {
			fail_conn(d, "smarthost authentication failed: %s", text);
		}
		return;
	case RC_AUTH_LOGIN_DONE:
		if (code == 235)
			begin_msgs(d);
		else
			fail_conn(d, "smarthost authentication failed: %s", text);
		return;
	case RC_TX:
		tx_reply(d, code, text);
		return;
	case RC_DATA_END:
		data_end_reply(d, code, text);
		return;
	case RC_RSET:
		if (code != 250) {
			fail_conn(d, "RSET refused: %s", text);
			return;
		}
		next_msg(d);
		return;
	case RC_QUIT:
		d->error[0] = '\0';
		finish(d);
		return;
	default:
		/* a reply nobody asked for (a 421 while we load a body) */
		if (code == 421)
			fail_conn(d, "%s", text);
		return;
	}
}

/* One reply line; a whole reply goes to on_reply(). */
static void
reply_line(struct relay_delivery *d, char *line, size_t n)
{
	int code;
	char sep;

	if (n < 3 || !isdigit((unsigned char)line[0]) || !isdigit((unsigned char)line[1]) ||
	    !isdigit((unsigned char)line[2]) || (n > 3 && line[3] != ' ' && line[3] != '-')) {
		fail_conn(d, "451 4.5.0 protocol error: bad reply line");
		return;
	}
	code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	sep = n > 3 ? line[3] : ' ';
	if (d->state == RC_EHLO && code == 250 && n > 4 && d->reply.len > 0)
		ehlo_keyword(d, line + 4);   /* the first line is the greeting */
	if (d->reply.len == 0) {
		mm_buf_append(&d->reply, line, n < STORE_QUEUE_REPLY_MAX ? n :
		    STORE_QUEUE_REPLY_MAX);
		if (d->reply.len > 3)
			d->reply.data[3] = ' ';
	} else if (d->reply.len + n < STORE_QUEUE_REPLY_MAX && n > 4) {
		mm_buf_appendc(&d->reply, ' ');
		mm_buf_append(&d->reply, line + 4, n - 4);
	}
	if (sep == '-')
		return;
	char *text = xstrdup(mm_buf_cstr(&d->reply));
	if (strlen(text) >= STORE_QUEUE_REPLY_MAX)
		text[STORE_QUEUE_REPLY_MAX - 1] = '\0';
	sanitize(text);
	mm_buf_free(&d->reply);
	mm_buf_init(&d->reply);
	d->code = code;
	on_reply(d, code, text);
	free(text);
}

static bool
awaiting_reply(const struct relay_delivery *d)
{
	switch (d->state) {
	case RC_GREETING: case RC_EHLO: case RC_HELO: case RC_STARTTLS:
	case RC_AUTH: case RC_AUTH_LOGIN_PASS: case RC_AUTH_LOGIN_DONE:
	case RC_TX: case RC_DATA_END: case RC_RSET: case RC_QUIT:
		return true;
	default:
		return false;
	}
}

static void
read_cb(void *arg)
{
	struct relay_delivery *d = arg;
	unsigned gen = d->conn_gen;

	while (d->conn_gen == gen && d->conn != NULL && awaiting_reply(d)) {
		size_t n;
		char *line;
		/* A whole line is taken as it came (its text is cut to
		 * STORE_QUEUE_REPLY_MAX); what is bounded is a line still
		 * unfinished: over RELAY_REPLY_LINE_MAX_BYTES it is an error. */
		switch (conn_client_getline(d->conn, SIZE_MAX / 2, &line, &n)) {
		case CONN_LINE_OK:
			reply_line(d, line, n);
			break;
		case CONN_LINE_NEED_MORE:
		case CONN_LINE_TOO_LONG:
			if (conn_client_input_len(d->conn) > RELAY_REPLY_LINE_MAX_BYTES)
				fail_conn(d, "451 4.5.0 protocol error: reply line too long");
			return;
		}
	}
}

static const char *
state_name(enum relay_cstate s)
{
	switch (s) {
	case RC_CONNECTING: return "connect";
	case RC_TLS_IMPLICIT: case RC_TLS: return "TLS handshake";
	case RC_GREETING: return "greeting";
	case RC_EHLO: case RC_HELO: return "EHLO";
	case RC_STARTTLS: return "STARTTLS";
	case RC_AUTH: case RC_AUTH_LOGIN_PASS: case RC_AUTH_LOGIN_DONE: return "AUTH";
	case RC_TX: return "MAIL/RCPT/DATA";
	case RC_DATA_END: return "end of data";
	case RC_DATA_STREAM: return "data";
	case RC_RSET: return "RSET";
	case RC_QUIT: return "QUIT";
	default: return "idle";
	}
}

static void
event_cb(void *arg, unsigned what)
{
	struct relay_delivery *d = arg;
	char tlserr[256] = "";

	if (what & CONN_CLIENT_CONNECTED) {
		if (d->state == RC_CONNECTING) {
			if (d->smarthost && d->cfg->smarthost_tls == CONFIG_RELAY_TLS_IMPLICIT) {
				start_tls(d, RC_TLS_IMPLICIT);
				return;
			}
			d->state = RC_GREETING;
			set_timeout(d, RELAY_GREETING_TIMEOUT_SECS);
		} else if (d->state == RC_TLS_IMPLICIT) {
			d->tls = true;
			d->state = RC_GREETING;
			set_timeout(d, RELAY_GREETING_TIMEOUT_SECS);
		} else if (d->state == RC_TLS) {
			d->tls = true;
			if (relay_policy_of(d) != RELAY_TLS_OPPORTUNISTIC)
				log_info("relay dest=%s host=%s event=tls policy=\"%s\" "
				    "verified=%s", d->dest, cur_addr(d)->host,
				    relay_policy_name(relay_policy_of(d)),
				    relay_policy_of(d) == RELAY_TLS_DANE_NOAUTH ? "no" : "yes");
			send_ehlo(d);
		}
		return;
	}
	if (d->state == RC_QUIT) {
		/* the server closed after QUIT (or never answered it): fine */
		d->error[0] = '\0';
		finish(d);
		return;
	}
	conn_client_tls_error(d->conn, tlserr, sizeof(tlserr));
	if ((d->state == RC_TLS || d->state == RC_TLS_IMPLICIT) &&
	    relay_policy_of(d) != RELAY_TLS_OPPORTUNISTIC) {
		/* MTA-STS / DANE: never in plain text; say what did not verify */
		const char *verr = conn_client_verify_error(d->conn);
		fail_conn(d, "451 4.7.5 %s: TLS with %s failed: %s",
		    relay_policy_name(relay_policy_of(d)), cur_addr(d)->host,
		    verr != NULL ? verr : tlserr[0] ? tlserr : "handshake failed");
		return;
	}
	if ((d->state == RC_TLS || d->state == RC_TLS_IMPLICIT) && !d->smarthost &&
	    !d->cfg->relay_require_tls && !d->no_starttls) {
		/* opportunistic TLS failed: this host again, in plain text (RFC 7435) */
		log_info("relay dest=%s host=%s event=tls-failed error=\"%s\": retrying "
		    "without TLS", d->dest, cur_addr(d)->host, tlserr);
		relay_client_close(d);
		d->no_starttls = true;
		relay_client_start(d);
		return;
	}
	if (what & CONN_CLIENT_TIMEOUT)
		fail_conn(d, "451 4.4.2 timeout during %s", state_name(d->state));
	else if (tlserr[0] != '\0')
		fail_conn(d, "451 4.7.5 TLS failure during %s: %s", state_name(d->state),
		    tlserr);
	else if (what & CONN_CLIENT_EOF)
		fail_conn(d, "451 4.4.2 connection closed by the server during %s",
		    state_name(d->state));
	else if (d->state == RC_CONNECTING)
		fail_conn(d, "451 4.4.1 connect failed: %s", conn_client_socket_error());
	else
		fail_conn(d, "451 4.4.2 connection error during %s: %s",
		    state_name(d->state), conn_client_socket_error());
}

void
relay_client_start(struct relay_delivery *d)
{
	if (d->addr >= d->naddrs) {
		finish(d);
		return;
	}
	const struct relay_addr *a = cur_addr(d);
	relay_client_close(d);
	tx_reset(d);
	d->tls = false;
	static const struct conn_client_cbs cbs = { read_cb, event_cb, drained_cb };
	d->conn = conn_client_new(relay_engine_base(d->eng), &cbs, d);
	if (d->conn == NULL) {
		fail_conn(d, "451 4.3.0 cannot create a socket");
		return;
	}
	conn_client_set_timeouts(d->conn, RELAY_CONNECT_TIMEOUT_SECS,
	    RELAY_CONNECT_TIMEOUT_SECS);
	d->state = RC_CONNECTING;
	log_debug("relay dest=%s event=connect host=%s ip=%s port=%u", d->dest,
	    a->host, a->ip, a->port);
	if (!conn_client_connect(d->conn, (struct sockaddr *)&a->ss, (socklen_t)a->sslen)) {
		fail_conn(d, "451 4.4.1 connect failed: %s", conn_client_socket_error());
		return;
	}
}
