/* smtp-data.c: the message of a transaction: DATA (dot-stuffed lines up
 * to CRLF.CRLF), BDAT chunks (RFC 3030), the Return-Path: and Received:
 * headers we prepend, and the delivery job that stores the message once
 * for all local recipients, and queues it for the remote ones (src/relay
 * sends it from there), in one transaction before "250 ... queued as" is
 * sent.
 *
 * The one idea: a bad message is never cut short. Whatever is wrong with
 * it (bare LF or CR, an overlong line, too many bytes) is noted in
 * tx->data_err, the rest is read and thrown away up to the real end of
 * the data, and only then is it refused, once. The end of DATA is only a
 * "." line that ends in CRLF after a line that ended in CRLF, so "<LF>.<LF>"
 * or "<LF>.<CRLF>" can never end a message early (SMTP smuggling). */
#include "smtp/smtp-private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dkim/dkim.h"
#include "inbound/inbound.h"
#include "inbound/milter.h"
#include "lib/config.h"
#include "lib/log.h"
#include "mail/authres.h"
#include "lib/metrics.h"
#include "mail/cache.h"
#include "net/conn.h"
#include "net/server.h"
#include "store/store.h"
#include "smtp/smtp-sieve.h"

static const char *
data_err_reply(enum smtp_data_err e)
{
	switch (e) {
	case SMTP_DATA_BARE_LF:
		return "550 5.6.0 Message refused: bare LF in data (lines must end with CRLF)";
	case SMTP_DATA_BARE_CR:
		return "550 5.6.0 Message refused: bare CR in data (lines must end with CRLF)";
	case SMTP_DATA_LONG_LINE:
		return "550 5.6.0 Message refused: line too long";
	case SMTP_DATA_TOO_BIG:
		return "552 5.3.4 Message size exceeds fixed maximum message size";
	default:
		return "250 2.0.0 Ok";
	}
}

static void
data_error(struct smtp_tx *tx, enum smtp_data_err e)
{
	if (tx->data_err != SMTP_DATA_OK)
		return;
	tx->data_err = e;
	/* Nothing of this message will be kept: give the memory back. */
	mm_buf_free(&tx->msg);
	mm_buf_init(&tx->msg);
	dkim_verify_free(&tx->dkim);
}

void
smtp_date(time_t t, char *buf, size_t len)
{
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
	    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;
	long off;
	char sign = '+';

	localtime_r(&t, &tm);
	off = tm.tm_gmtoff / 60;
	if (off < 0) {
		sign = '-';
		off = -off;
	}
	snprintf(buf, len, "%s, %d %s %04d %02d:%02d:%02d %c%02ld%02ld",
	    days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900,
	    tm.tm_hour, tm.tm_min, tm.tm_sec, sign, off / 60, off % 60);
}

/* Return-Path: and Received: (RFC 5321 4.4, protocol names RFC 3848 and
 * RFC 6531 4.3), written at the start of the message buffer. */
static void
message_start(struct smtp_session *s)
{
	struct smtp_tx *tx = s->tx;
	const char *peer = conn_peer_addr(s->c);
	bool tls = conn_is_tls(s->c), auth = s->user[0] != '\0';
	char date[64], with[16];

	tx->started = true;
	tx->prev_crlf = true;
	smtp_date(time(NULL), date, sizeof(date));
	if (!s->esmtp)
		mm_strlcpy(with, "SMTP", sizeof(with));
	else
		snprintf(with, sizeof(with), "%s%s%s", tx->params.smtputf8 ? "UTF8SMTP" : "ESMTP",
		    tls ? "S" : "", auth ? "A" : "");

	mm_buf_printf(&tx->msg, "Return-Path: <%s>\r\n", tx->from);
	mm_buf_printf(&tx->msg, "Received: from %s (%s%s%s)\r\n", s->helo,
	    strchr(peer, ':') ? "[IPv6:" : "[", peer, "]");
	if (tls)
		mm_buf_printf(&tx->msg, "\t(using %s with cipher %s)\r\n",
		    conn_tls_version(s->c), conn_tls_cipher(s->c));
	mm_buf_printf(&tx->msg, "\tby %s (minimaild) with %s id %s", smtp_hostname(s), with, tx->id);
	if (tx->rcpts.n == 1)
		mm_buf_printf(&tx->msg, "\r\n\tfor <%s>", tx->rcpts.v[0]);
	mm_buf_printf(&tx->msg, ";\r\n\t%s\r\n", date);
	if (s->listener == LSN_SMTP && !auth && smtp_cfg(s)->inbound_dkim) {
		tx->dkim = dkim_verify_new(time(NULL));
		tx->dkim_client_off = tx->dkim_fed = tx->msg.len;
	}
}

/* The client's header block goes to the verifier once its empty line is
 * in; from then on each new byte of the body, as it arrives. At the end,
 * a message without an empty line is all header. */
void
smtp_dkim_tap(struct smtp_tx *tx, bool end)
{
	if (tx->dkim == NULL)
		return;
	if (!tx->dkim_header_done) {
		size_t from = tx->dkim_fed >= tx->dkim_client_off + 3 ? tx->dkim_fed - 3 :
		    tx->dkim_client_off;
		if (tx->msg.len >= tx->dkim_client_off + 2 &&
		    memcmp(tx->msg.data + tx->dkim_client_off, "\r\n", 2) == 0) {
			/* no header fields at all: the empty line comes first */
			tx->dkim_fed = tx->dkim_client_off + 2;
			tx->dkim_header_done = true;
		}
		for (size_t i = from; !tx->dkim_header_done && i + 3 < tx->msg.len; i++)
			if (memcmp(tx->msg.data + i, "\r\n\r\n", 4) == 0) {
				tx->dkim_fed = i + 4;
				tx->dkim_header_done = true;
			}
		if (!tx->dkim_header_done) {
			tx->dkim_fed = tx->msg.len;
			if (!end)
				return;
			tx->dkim_header_done = true;
		}
		dkim_verify_header(tx->dkim, tx->msg.data + tx->dkim_client_off,
		    tx->dkim_fed - tx->dkim_client_off);
	}
	if (tx->msg.len > tx->dkim_fed) {
		dkim_verify_body(tx->dkim, tx->msg.data + tx->dkim_fed, tx->msg.len - tx->dkim_fed);
		tx->dkim_fed = tx->msg.len;
	}
}

/* ---- delivery ---- */

struct deliver_job {
	struct smtp_session *s;
	struct store *st;
	struct mm_buf msg;
	struct store_rcpt *rcpts;
	char **users;
	size_t n;
	char **remote;                /* remote recipients, for the queue */
	struct store_qnew q;
	char from[ADDRESS_MAX_BYTES + 1];
	size_t nqueued;
	uint64_t *qids;               /* the queue entries made (one per domain) */
	time_t now;
	bool junk;                    /* DMARC quarantine: into each user's Junk */
	int err;
	struct smtp_sieve sieve;      /* Sieve at delivery: smtp-sieve.c */
	struct mm_strlist rcpts_given; /* RCPT addresses, Sieve's envelope "to" */
	struct mm_strlist domains;    /* copies for the worker (a reload */
	char hostname[256];           /* may free the config meanwhile) */
	char id[24];
	uint32_t q_flags;
	bool q_smtputf8;
	bool rejected;                /* every recipient's script rejected */
};

/* Quarantined by the checks (DMARC p=quarantine, a milter): into each
 * user's Junk, without Sieve (no script files, forwards or answers mail
 * the checks held back); a user without a Junk folder gets it in INBOX,
 * so nothing is lost. */
static void
deliver_junk(struct deliver_job *j, const struct mm_buf *cache)
{
	size_t maxq = j->q.nrcpts;

	if (j->q.nrcpts > 0)
		j->err = store_deliver_queue(j->st, j->rcpts, j->n, j->msg.data, j->msg.len,
		    j->now, cache->data, cache->len, &j->q, j->qids, maxq, &j->nqueued);
	else
		j->err = store_deliver(j->st, j->rcpts, j->n, j->msg.data, j->msg.len, j->now,
		    cache->data, cache->len, NULL, 0, false);
	if (j->err == STORE_OK) {
		size_t k = 0;
		for (size_t i = 0; i < j->n; i++)
			if (j->rcpts[i].result_r == STORE_NOTFOUND) {
				j->rcpts[k] = j->rcpts[i];
				j->rcpts[k++].mailbox = NULL;
			}
		if (k > 0) {
			int r = store_deliver(j->st, j->rcpts, k, j->msg.data, j->msg.len,
			    j->now, cache->data, cache->len, NULL, 0, false);
			if (r != STORE_OK)
				for (size_t i = 0; i < k; i++)
					j->rcpts[i].result_r = r;
		}
	} else if (j->err == STORE_NOTFOUND) {
		for (size_t i = 0; i < j->n; i++)
			j->rcpts[i].mailbox = NULL;
		j->err = j->q.nrcpts > 0 ?
		    store_deliver_queue(j->st, j->rcpts, j->n, j->msg.data, j->msg.len,
		    j->now, cache->data, cache->len, &j->q, j->qids, maxq, &j->nqueued) :
		    store_deliver(j->st, j->rcpts, j->n, j->msg.data, j->msg.len, j->now,
		    cache->data, cache->len, NULL, 0, false);
	}
}

static void
deliver_work(void *arg)
{
	struct deliver_job *j = arg;
	struct mm_buf cache;

	mm_buf_init(&cache);
	if (j->junk) {
		mail_cache_build(j->msg.data, j->msg.len, &cache);
		deliver_junk(j, &cache);
		mm_buf_free(&cache);
		return;
	}
	/* Sieve: each user's script turns its INBOX into its targets */
	/* the 550 at DATA is ours to give only without remote recipients
	 * (they take the message whatever the local scripts say) */
	smtp_sieve_apply(&j->sieve, &j->msg, j->users, j->n, j->q.nrcpts == 0);
	if (j->sieve.rejects > 0) {
		j->rejected = true;
		return;
	}
	struct store_rcpt *rcpts = j->sieve.rcpts;
	size_t nrcpts = j->sieve.n;
	/* redirects join the queue recipients of the same transaction; the
	 * queue ids kept (for "queued as") are those of the SMTP recipients */
	const char **qr = NULL;
	size_t q_orig = j->q.nrcpts;
	if (j->sieve.redirects.n > 0) {
		qr = xcalloc(j->q.nrcpts + j->sieve.redirects.n, sizeof(*qr));
		for (size_t i = 0; i < j->q.nrcpts; i++)
			qr[i] = j->q.rcpts[i];
		for (size_t i = 0; i < j->sieve.redirects.n; i++)
			qr[j->q.nrcpts + i] = j->sieve.redirects.v[i];
		j->q.rcpts = qr;
		j->q.nrcpts += j->sieve.redirects.n;
		j->q.sender = j->from;
		const char *eol = memchr(j->msg.data, '\n', j->msg.len);
		j->q.skip = eol != NULL && j->msg.len >= 12 &&
		    memcmp(j->msg.data, "Return-Path:", 12) == 0 ?
		    (uint64_t)(eol - j->msg.data + 1) : 0;
		j->q.flags = j->q_smtputf8 ? STORE_QF_SMTPUTF8 : 0;
		for (size_t i = 0; i < j->msg.len; i++)
			if ((unsigned char)j->msg.data[i] >= 0x80) {
				j->q.flags |= STORE_QF_8BIT;
				break;
			}
	}
	mail_cache_build(j->msg.data, j->msg.len, &cache);
	/* imap4flags keywords go with the local copies, also when the same
	 * transaction queues a copy (redirect, remote recipients) */
	j->q.keywords = (const char *const *)j->sieve.keywords.v;
	j->q.nkeywords = j->sieve.keywords.n;
	/* reject bounces to remote senders: in the same transaction */
	struct store_qextra *xb = NULL;
	if (nrcpts > 0 || j->q.nrcpts > 0)
		j->q.nextra = smtp_sieve_bounces(&j->sieve, &xb);
	j->q.extra = xb;
	if (nrcpts == 0 && j->q.nrcpts == 0)
		j->err = STORE_OK;
	else if (j->q.nrcpts > 0 || j->q.nextra > 0)
		j->err = store_deliver_queue(j->st, rcpts, nrcpts, j->msg.data, j->msg.len,
		    j->now, cache.data, cache.len, &j->q, j->qids, q_orig, &j->nqueued);
	else
		j->err = store_deliver(j->st, rcpts, nrcpts, j->msg.data, j->msg.len, j->now,
		    cache.data, cache.len, j->q.keywords, j->q.nkeywords, false);
	j->q.keywords = NULL;
	j->q.nkeywords = 0;
	j->q.extra = NULL;
	j->q.nextra = 0;
	free(xb);
	mm_buf_free(&cache);
	if (qr != NULL) {
		/* deliver_done frees the job's own remote list */
		j->q.rcpts = (const char *const *)j->remote;
		j->q.nrcpts = q_orig;
		free(qr);
	}
	if (j->err == STORE_OK)
		smtp_sieve_send_vacations(&j->sieve);
	/* the job's own target list answers for the users in deliver_done */
	for (size_t i = 0; i < j->n; i++) {
		j->rcpts[i].result_r = STORE_OK;
		for (size_t k = 0; k < nrcpts; k++)
			if (mm_strcaseeq(rcpts[k].user, j->users[i]) && rcpts[k].result_r != STORE_OK)
				j->rcpts[i].result_r = rcpts[k].result_r;
	}
}

static void
deliver_done(void *arg, bool alive)
{
	struct deliver_job *j = arg;
	struct smtp_session *s = j->s;
	struct smtp_tx *tx = s->tx;
	size_t ok = 0, quota = 0;
	char result[200];

	if (j->rejected) {
		/* RFC 5429 2.1.1: every recipient's script refused it at DATA */
		char reason[160];
		size_t w = 0;
		for (const char *p = j->sieve.reject_reason; *p && w + 1 < sizeof(reason); p++)
			reason[w++] = (*p == '\r' || *p == '\n' || (unsigned char)*p < 0x20) ? ' ' : *p;
		reason[w] = '\0';
		snprintf(result, sizeof(result), "550 5.7.1 %s", w ? reason : "Message refused by the recipient's filter");
		log_info("smtp session=%llx event=sieve-reject id=%s", s->id, tx ? tx->id : "-");
		if (alive)
			smtp_reply(s, "%s", result);
		smtp_tx_end(s, result);
		if (alive)
			smtp_enter_ready(s);
		goto out;
	}
	if (j->err == STORE_OK) {
		for (size_t i = 0; i < j->n; i++) {
			if (j->rcpts[i].result_r == STORE_OK)
				ok++;
			else {
				if (j->rcpts[i].result_r == STORE_QUOTA)
					quota++;
				/* SMTP cannot refuse one recipient after the data. */
				log_warn("smtp session=%llx event=delivery-failed id=%s user=%s error=\"%s\"",
				    s->id, tx ? tx->id : "-", j->users[i],
				    store_strerror(j->rcpts[i].result_r));
			}
		}
	}
	/* Queued: the transaction is known by its queue entry from now on, the
	 * id "minimailctl queue show" takes and the relay logs (id=HEX); the
	 * Received: header keeps the id it was written with (received_id). */
	char qids[120] = "";
	if (j->err == STORE_OK && j->nqueued > 0 && j->qids != NULL) {
		size_t n = 0;
		for (size_t i = 0; i < j->nqueued && i < j->q.nrcpts && n + 20 < sizeof(qids); i++)
			n += (size_t)snprintf(qids + n, sizeof(qids) - n, "%s%llx", i ? " " : "",
			    (unsigned long long)j->qids[i]);
		char old[32] = "-";
		if (tx != NULL) {
			mm_strlcpy(old, tx->id, sizeof(old));
			snprintf(tx->id, sizeof(tx->id), "%llx", (unsigned long long)j->qids[0]);
		}
		log_info("smtp session=%llx event=queued id=%s remote=%zu entries=%zu "
		    "queue=\"%s\" received_id=%s", s->id, tx ? tx->id : "-", j->q.nrcpts,
		    j->nqueued, qids, old);
	}
	if (j->err == STORE_OK && (ok > 0 || j->nqueued > 0))
		snprintf(result, sizeof(result), "250 2.0.0 Ok: queued as %s",
		    qids[0] ? qids : tx ? tx->id : "-");
	else if (j->err == STORE_QUOTA || (j->err == STORE_OK && quota > 0))
		snprintf(result, sizeof(result), "452 4.2.2 Mailbox full");
	else {
		log_error("smtp session=%llx event=store-failed error=\"%s\"", s->id,
		    j->err == STORE_OK ? "no recipient delivered" : store_strerror(j->err));
		snprintf(result, sizeof(result), "451 4.3.0 Error: local error in processing");
		metrics_refused(MR_LOCAL_ERROR);
	}
	if (result[0] == '2')
		metrics_message_accepted();
	else if (strncmp(result, "452", 3) == 0)
		metrics_refused(MR_QUOTA);
	/* The disk failed under the commit: not acknowledged, not stored
	 * again, and this session ends like every new one (421). */
	bool failing = j->err == STORE_IO && store_failed(j->st);
	if (failing)
		snprintf(result, sizeof(result), "421 4.3.0 %s Error: mail storage is "
		    "failing, try again later", smtp_hostname(s));
	if (alive)
		smtp_reply(s, "%s", result);
	else {
		char gone[260];
		snprintf(gone, sizeof(gone), "client gone before reply: %s", result);
		mm_strlcpy(result, gone, sizeof(result));
	}
	smtp_tx_end(s, result);
	if (alive && failing) {
		smtp_enter_state(s, SMTP_STATE_QUIT);
		conn_close(s->c);
	} else if (alive)
		smtp_enter_ready(s);
out:
	smtp_sieve_free(&j->sieve);
	mm_strlist_clear(&j->domains);
	mm_strlist_clear(&j->rcpts_given);
	mm_buf_free(&j->msg);
	for (size_t i = 0; i < j->n; i++)
		free(j->users[i]);
	free(j->users);
	for (size_t i = 0; i < j->q.nrcpts; i++)
		free(j->remote[i]);
	free(j->remote);
	free(j->qids);
	free(j->rcpts);
	free(j);
}

/* Stores the message of the transaction (and queues it for its remote
 * recipients) on a worker; the reply comes from deliver_done. */
static void
deliver_start(struct smtp_session *s, bool junk)
{
	struct smtp_tx *tx = s->tx;
	struct deliver_job *j;

	j = xcalloc(1, sizeof(*j));
	j->junk = junk;
	j->s = s;
	j->st = s->srv->store;
	j->msg = tx->msg;             /* moved: the worker owns it now */
	mm_buf_init(&tx->msg);
	j->now = time(NULL);
	j->n = tx->users.n;
	j->users = xcalloc(j->n, sizeof(*j->users));
	j->rcpts = xcalloc(j->n, sizeof(*j->rcpts));
	for (size_t i = 0; i < j->n; i++) {
		j->users[i] = xstrdup(tx->users.v[i]);
		j->rcpts[i].user = j->users[i];
		j->rcpts[i].mailbox = junk ? "Junk" : NULL;
	}
	if (tx->remote.n > 0) {
		/* The queue sends the message without our Return-Path: line
		 * (RFC 5321 4.4: the final delivery adds it). */
		const char *eol = memchr(j->msg.data, '\n', j->msg.len);
		j->remote = xcalloc(tx->remote.n, sizeof(*j->remote));
		for (size_t i = 0; i < tx->remote.n; i++)
			j->remote[i] = xstrdup(tx->remote.v[i]);
		j->q.rcpts = (const char *const *)j->remote;
		j->q.nrcpts = tx->remote.n;
		j->qids = xcalloc(tx->remote.n, sizeof(*j->qids));
		mm_strlcpy(j->from, tx->null_sender ? "" : tx->from, sizeof(j->from));
		j->q.sender = j->from;
		j->q.skip = eol != NULL && j->msg.len >= 12 &&
		    memcmp(j->msg.data, "Return-Path:", 12) == 0 ?
		    (uint64_t)(eol - j->msg.data + 1) : 0;
		if (tx->params.smtputf8)
			j->q.flags |= STORE_QF_SMTPUTF8;
		for (size_t i = 0; i < j->msg.len; i++)
			if ((unsigned char)j->msg.data[i] >= 0x80) {
				j->q.flags |= STORE_QF_8BIT;
				break;
			}
	}
	const struct config *cfg = smtp_cfg(s);
	sieve_limits_default(&j->sieve.lim);
	j->sieve.lim.max_script_bytes = (size_t)cfg->sieve_max_script_size;
	j->sieve.lim.max_actions = cfg->sieve_max_actions;
	j->sieve.lim.max_redirects = cfg->sieve_max_redirects;
	j->sieve.lim.vacation_min_days = cfg->sieve_vacation_min_days;
	j->sieve.st = j->st;
	mm_strlist_init(&j->domains);
	for (size_t i = 0; i < cfg->domains.n; i++)
		mm_strlist_add(&j->domains, cfg->domains.v[i]);
	mm_strlcpy(j->hostname, smtp_hostname(s), sizeof(j->hostname));
	mm_strlcpy(j->id, tx->id, sizeof(j->id));
	j->sieve.domains = &j->domains;
	mm_strlist_init(&j->rcpts_given);
	for (size_t i = 0; i < tx->rcpts.n; i++)
		mm_strlist_add(&j->rcpts_given, tx->rcpts.v[i]);
	j->sieve.given = &j->rcpts_given;
	j->sieve.hostname = j->hostname;
	mm_strlcpy(j->from, tx->null_sender ? "" : tx->from, sizeof(j->from));
	j->sieve.env_from = j->from;
	j->sieve.id = j->id;
	j->sieve.session = s->id;
	j->sieve.now = j->now;
	j->q_smtputf8 = tx->params.smtputf8;
	conn_run_job(s->c, WORKER_LANE_COMMIT, deliver_work, deliver_done, j);
}

/* Where the message after our Return-Path: begins (the milters see what
 * the client sent, with our Received: and Authentication-Results:). */
static size_t
after_return_path(const struct mm_buf *msg)
{
	const char *eol = memchr(msg->data, '\n', msg->len);

	if (eol != NULL && msg->len >= 12 && memcmp(msg->data, "Return-Path:", 12) == 0)
		return (size_t)(eol - msg->data) + 1;
	return 0;
}

/* The end of the header block in msg: just after its empty line, or the
 * whole message when it has none. */
static size_t
header_end(const struct mm_buf *msg)
{
	for (size_t i = 0; i + 3 < msg->len; i++)
		if (memcmp(msg->data + i, "\r\n\r\n", 4) == 0)
			return i + 4;
	return msg->len;
}

/* Our Authentication-Results below our Return-Path:, and none that
 * claims our authserv-id from the client (RFC 8601 5). */
static void
add_authres(struct smtp_session *s, const struct mm_buf *header)
{
	struct smtp_tx *tx = s->tx;
	struct mm_buf out;
	size_t hend = header_end(&tx->msg), first = after_return_path(&tx->msg), removed;

	mm_buf_init(&out);
	mm_buf_reserve(&out, tx->msg.len + header->len);
	mm_buf_append(&out, tx->msg.data, first);
	mm_buf_append(&out, header->data, header->len);
	removed = authres_strip(tx->msg.data + first, hend - first, smtp_hostname(s), &out);
	mm_buf_append(&out, tx->msg.data + hend, tx->msg.len - hend);
	if (removed > 0)
		log_info("smtp session=%llx event=authres-removed id=%s count=%zu", s->id,
		    tx->id, removed);
	mm_buf_free(&tx->msg);
	tx->msg = out;
}

static void
milter_done(void *arg, struct milter_verdict *v)
{
	static const char *const actions[] = { "accept", "reject", "tempfail", "discard" };
	struct smtp_session *s = arg;
	struct smtp_tx *tx = s->tx;
	size_t refused = 0;

	s->milter = NULL;
	if (conn_is_closed(s->c) || tx == NULL)
		return;
	conn_resume(s->c);
	for (size_t i = 0; i < v->nrcpts; i++)
		refused += v->rcpt_refused[i];
	log_info("smtp session=%llx event=milters id=%s action=%s quarantine=%s "
	    "modified=%s rcpts-refused=%zu", s->id, tx->id, actions[v->action],
	    v->quarantine ? "yes" : "no", v->modified ? "yes" : "no", refused);
	if (v->action == MILTER_ACCEPT && refused > 0 && refused == v->nrcpts) {
		v->action = MILTER_REJECT;
		mm_strlcpy(v->reply, "550 5.7.1 Recipients refused by a content filter",
		    sizeof(v->reply));
	}
	if (v->action == MILTER_REJECT || v->action == MILTER_TEMPFAIL) {
		smtp_reply(s, "%s", v->reply);
		smtp_tx_end(s, v->reply);
		return;
	}
	if (v->action == MILTER_DISCARD) {
		/* accepted, as the milter asked, and stored nowhere */
		smtp_reply(s, "250 2.0.0 Ok: queued as %s", tx->id);
		smtp_tx_end(s, "discarded by a milter");
		return;
	}
	if (v->modified) {
		struct mm_buf out;
		size_t first = after_return_path(&tx->msg);
		mm_buf_init(&out);
		mm_buf_append(&out, tx->msg.data, first);
		mm_buf_append(&out, v->msg.data, v->msg.len);
		mm_buf_free(&tx->msg);
		tx->msg = out;
	}
	deliver_start(s, s->milter_junk || v->quarantine);
}

/* After the checks: the milters, if any, then the store. */
static void
filters_then_deliver(struct smtp_session *s, bool junk)
{
	struct smtp_tx *tx = s->tx;
	const struct config *cfg = smtp_cfg(s);

	if (s->listener != LSN_SMTP || s->user[0] != '\0' || cfg->nmilters == 0) {
		deliver_start(s, junk);
		return;
	}
	size_t first = after_return_path(&tx->msg);
	struct milter_req req = {
		.ip = conn_peer_addr(s->c), .port = conn_peer_port(s->c), .helo = s->helo,
		.mail_from = tx->null_sender ? "" : tx->from,
		.rcpts = (const char *const *)tx->rcpts.v, .nrcpts = tx->rcpts.n,
		.queue_id = tx->id, .hostname = smtp_hostname(s),
		.msg = tx->msg.data + first, .len = tx->msg.len - first,
		.milters = cfg->milters, .nmilters = cfg->nmilters,
		.timeout_secs = (unsigned)cfg->milter_timeout,
		.default_accept = cfg->milter_default_accept,
	};
	s->milter_junk = junk;
	conn_pause(s->c);
	s->milter = milter_start(conn_base(s->c), &req, milter_done, s);
}

static void
inbound_done(void *arg, struct inbound_verdict *v)
{
	static const char *const actions[] = { "accept", "junk", "reject", "tempfail" };
	struct smtp_session *s = arg;
	struct smtp_tx *tx = s->tx;

	s->inbound = NULL;
	if (conn_is_closed(s->c) || tx == NULL)
		return;
	conn_resume(s->c);
	log_info("smtp session=%llx event=inbound id=%s spf=%s dmarc=%s from_domain=%s "
	    "action=%s", s->id, tx->id, spf_result_name(v->spf), dmarc_result_name(v->dmarc),
	    v->from_domain[0] ? v->from_domain : "-", actions[v->action]);
	if (v->action == INBOUND_REJECT || v->action == INBOUND_TEMPFAIL) {
		smtp_reply(s, "%s", v->reply);
		smtp_tx_end(s, v->reply);
		return;
	}
	add_authres(s, &v->header);
	filters_then_deliver(s, v->action == INBOUND_JUNK);
}

/* The end of DATA or of the LAST chunk. Mail from outside (port 25, not
 * authenticated) is judged first ([inbound]); the rest is stored. */
static void
message_end(struct smtp_session *s)
{
	struct smtp_tx *tx = s->tx;
	const struct config *cfg = smtp_cfg(s);

	smtp_enter_ready(s);
	s->cmd_start_us = metrics_now_us();
	if (tx->data_err != SMTP_DATA_OK) {
		const char *r = data_err_reply(tx->data_err);
		metrics_refused(tx->data_err == SMTP_DATA_TOO_BIG ? MR_TOO_LARGE : MR_BAD_MESSAGE);
		smtp_reply(s, "%s", r);
		smtp_tx_end(s, r);
		return;
	}
	if (s->listener == LSN_SMTP && s->user[0] == '\0' && s->srv->dns != NULL &&
	    (cfg->inbound_spf || cfg->inbound_dkim || cfg->inbound_dmarc)) {
		struct inbound_req req = {
			.ip = conn_peer_addr(s->c), .helo = s->helo,
			.mail_from = tx->null_sender ? "" : tx->from,
			.authserv_id = smtp_hostname(s), .msg = tx->msg.data,
			.len = header_end(&tx->msg), .spf = cfg->inbound_spf,
			.dkim = cfg->inbound_dkim, .dmarc = cfg->inbound_dmarc,
			.dmarc_reject = cfg->inbound_dmarc_reject,
		};
		smtp_dkim_tap(tx, true);
		req.dkim_verifier = tx->dkim;       /* the check owns it now */
		tx->dkim = NULL;
		conn_pause(s->c);
		s->inbound = inbound_start(conn_base(s->c), s->srv->dns, &req, inbound_done, s);
		return;
	}
	filters_then_deliver(s, false);
}

/* Can this transaction take a message? Replies and returns false if not. */
static const char *
tx_refusal(struct smtp_session *s, bool bdat)
{
	struct smtp_tx *tx = s->tx;

	if (tx == NULL)
		return "503 5.5.1 Error: need MAIL command";
	if (!bdat && tx->bdat)
		return "503 5.5.1 Error: DATA not allowed after BDAT";
	if (tx->rcpts.n == 0)
		return tx->rejected ? "554 5.5.1 Error: no valid recipients" :
		    "503 5.5.1 Error: need RCPT command";
	return NULL;
}

/* ---- DATA ---- */

void
smtp_cmd_data(struct smtp_session *s, const struct smtp_cmdline *cmd)
{
	const char *refusal = tx_refusal(s, false);

	if (refusal != NULL) {
		smtp_reply(s, "%s", refusal);
		smtp_bad_command(s);
		return;
	}
	message_start(s);
	smtp_reply(s, "354 End data with <CR><LF>.<CR><LF>");
	smtp_enter_state(s, SMTP_STATE_BODY);
}

bool
smtp_data_input(struct smtp_session *s)
{
	struct smtp_tx *tx = s->tx;
	char *line;
	size_t len;
	unsigned ending = 0;

	switch (conn_getline(s->c, SMTP_DATA_LINE_MAX_BYTES, &line, &len, &ending)) {
	case CONN_LINE_NEED_MORE:
		return false;
	case CONN_LINE_TOO_LONG:
		/* Swallowed up to its LF; we cannot tell how it ended, and the
		 * message is refused anyway. */
		data_error(tx, SMTP_DATA_LONG_LINE);
		tx->prev_crlf = true;
		return true;
	case CONN_LINE_OK:
		break;
	}
	if ((ending & CONN_LINE_CRLF) && tx->prev_crlf && len == 1 && line[0] == '.') {
		message_end(s);
		return true;
	}
	if (!(ending & CONN_LINE_CRLF))
		data_error(tx, SMTP_DATA_BARE_LF);
	else if (memchr(line, '\r', len) != NULL)
		data_error(tx, SMTP_DATA_BARE_CR);
	tx->prev_crlf = (ending & CONN_LINE_CRLF) != 0;
	if (len > 0 && line[0] == '.') {
		line++;
		len--;
	}
	tx->datalen += len + 2;
	if (tx->datalen > tx->max_size)
		data_error(tx, SMTP_DATA_TOO_BIG);
	if (tx->data_err == SMTP_DATA_OK) {
		mm_buf_append(&tx->msg, line, len);
		mm_buf_append(&tx->msg, "\r\n", 2);
		smtp_dkim_tap(tx, false);
	}
	return true;
}

/* ---- BDAT ---- */

void
smtp_cmd_bdat(struct smtp_session *s, const struct smtp_cmdline *cmd)
{
	uint64_t size;
	bool last;
	enum smtp_perr err;

	err = smtp_parse_bdat(cmd->args, cmd->argslen, &size, &last);
	if (err != SMTP_PERR_OK) {
		/* The chunk size is unknown: its bytes will be read as
		 * commands and refused as such. */
		smtp_reply(s, "%s", smtp_perr_reply(err));
		smtp_bad_command(s);
		return;
	}
	s->bdat_left = size;
	s->bdat_last = last;
	s->bdat_fail = tx_refusal(s, true);
	if (s->bdat_fail == NULL && !s->tx->started) {
		s->tx->bdat = true;
		message_start(s);
	}
	smtp_enter_state(s, SMTP_STATE_BDAT);
}

/* Checks the octets of a chunk as DATA lines would be checked: only CRLF
 * line ends, no line over SMTP_DATA_LINE_MAX_BYTES. */
static void
bdat_scan(struct smtp_tx *tx, const char *p, size_t n)
{
	for (size_t i = 0; i < n && tx->data_err == SMTP_DATA_OK; i++) {
		char c = p[i];

		if (tx->last_cr) {
			tx->last_cr = false;
			if (c == '\n') {
				tx->linelen = 0;
				continue;
			}
			data_error(tx, SMTP_DATA_BARE_CR);
			return;
		}
		if (c == '\r') {
			tx->last_cr = true;
			continue;
		}
		if (c == '\n') {
			data_error(tx, SMTP_DATA_BARE_LF);
			return;
		}
		if (++tx->linelen > SMTP_DATA_LINE_MAX_BYTES)
			data_error(tx, SMTP_DATA_LONG_LINE);
	}
}

bool
smtp_bdat_input(struct smtp_session *s)
{
	struct smtp_tx *tx = s->tx;

	while (s->bdat_left > 0) {
		size_t want = s->bdat_left > SMTP_BDAT_READ_BYTES ? SMTP_BDAT_READ_BYTES :
		    (size_t)s->bdat_left;
		size_t avail = conn_input_len(s->c), got;

		if (avail == 0)
			return false;
		if (want > avail)
			want = avail;
		if (s->bdat_fail == NULL && tx->data_err == SMTP_DATA_OK &&
		    tx->datalen + want <= tx->max_size) {
			mm_buf_reserve(&tx->msg, want);
			got = conn_read_bytes(s->c, tx->msg.data + tx->msg.len, want);
			tx->msg.len += got;
			tx->datalen += got;
			bdat_scan(tx, tx->msg.data + tx->msg.len - got, got);
			if (tx->data_err == SMTP_DATA_OK)
				smtp_dkim_tap(tx, false);
		} else {
			got = conn_read_bytes(s->c, NULL, want);
			if (tx != NULL && s->bdat_fail == NULL) {
				tx->datalen += got;
				if (tx->datalen > tx->max_size)
					data_error(tx, SMTP_DATA_TOO_BIG);
			}
		}
		s->bdat_left -= got;
	}

	/* the whole chunk is in */
	if (s->bdat_fail != NULL) {
		smtp_enter_ready(s);
		smtp_reply(s, "%s", s->bdat_fail);
		smtp_tx_end(s, s->bdat_fail);
		s->bdat_fail = NULL;
		smtp_bad_command(s);
		return true;
	}
	if (!s->bdat_last) {
		smtp_enter_ready(s);
		smtp_reply(s, "250 2.0.0 %llu octets received", (unsigned long long)tx->datalen);
		return true;
	}
	if (tx->last_cr)
		data_error(tx, SMTP_DATA_BARE_CR);
	message_end(s);
	return true;
}
