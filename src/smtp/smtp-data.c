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
#include <errno.h>
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "dkim/dkim.h"
#include "inbound/inbound.h"
#include "inbound/milter.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/membudget.h"
#include "lib/spool.h"
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
	case SMTP_DATA_SPOOL:
		return "451 4.3.0 Error: local error in processing";
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
	mm_buf_free(&tx->spill);
	if (tx->spool_fd >= 0)
		(void)close(tx->spool_fd);
	tx->spool_fd = -1;
	tx->spooling = false;
	dkim_verify_free(&tx->dkim);
}

/* ---- the spool (issue 18): messages streamed, not held ---- */

static void bdat_chunk_end(struct smtp_session *s);

/* A transfer starts: it reserves what it may hold in RAM of [limits]
 * max_memory, or is refused for now. */
static bool
data_reserve(struct smtp_tx *tx)
{
	if (tx->mem_held > 0)
		return true;
	if (!membudget_reserve(SMTP_TX_MEMORY_BYTES))
		return false;
	tx->mem_held = SMTP_TX_MEMORY_BYTES;
	return true;
}

static const char memory_refusal[] =
    "452 4.3.1 Error: too many messages in transit, try again later";

/* More in RAM than reserved (a long header block, a message the milters
 * must see): charged, the transfer goes on. */
static void
data_account(struct smtp_tx *tx)
{
	uint64_t need = tx->msg.cap + tx->spill.cap;

	if (need > tx->mem_held) {
		membudget_charge(need - tx->mem_held);
		tx->mem_held = need;
	}
}

/* May this message leave RAM? Not when milters will be sent it whole. */
static bool
may_spool(struct smtp_session *s)
{
	return !(s->listener == LSN_SMTP && s->user[0] == '\0' && smtp_cfg(s)->nmilters > 0);
}

/* Has msg its whole header block (its empty line)? Scanned once. */
static bool
head_complete(struct smtp_tx *tx)
{
	size_t i = tx->hdr_scan > 3 ? tx->hdr_scan - 3 : 0;

	for (; !tx->hdr_done && i + 3 < tx->msg.len; i++)
		if (memcmp(tx->msg.data + i, "\r\n\r\n", 4) == 0)
			tx->hdr_done = true;
	tx->hdr_scan = tx->msg.len;
	return tx->hdr_done;
}

struct spool_job {
	struct smtp_session *s;
	int fd;
	struct mm_buf buf;
	uint64_t off;
	int err;
};

static void
spool_work(void *arg)
{
	struct spool_job *j = arg;

	j->err = spool_write_chunk(&j->fd, j->buf.data, j->buf.len, MSG_SPOOL_GAP_BYTES + j->off);
}

static void
spool_done(void *arg, bool alive)
{
	struct spool_job *j = arg;
	struct smtp_session *s = j->s;
	struct smtp_tx *tx = alive ? s->tx : NULL;

	if (tx == NULL) {
		if (j->fd >= 0)
			(void)close(j->fd);
		mm_buf_free(&j->buf);
		free(j);
		return;
	}
	tx->spool_fd = j->fd;
	if (tx->data_err != SMTP_DATA_OK) {
		/* refused meanwhile: nothing of it is kept */
		if (tx->spool_fd >= 0)
			(void)close(tx->spool_fd);
		tx->spool_fd = -1;
		mm_buf_free(&j->buf);
	} else if (j->err != 0) {
		log_error("smtp session=%llx event=spool-failed id=%s error=\"%s\"", s->id,
		    tx->id, strerror(j->err));
		data_error(tx, SMTP_DATA_SPOOL);
		mm_buf_free(&j->buf);
	} else {
		tx->spool_len += j->buf.len;
		j->buf.len = 0;
		mm_buf_free(&tx->spill);
		tx->spill = j->buf;         /* the same memory for the next chunk */
	}
	free(j);
	/* a BDAT chunk whose last bytes went out with this write: no more
	 * input comes before its reply */
	if (s->state == SMTP_STATE_BDAT && s->bdat_left == 0)
		bdat_chunk_end(s);
}

/* The spill is a chunk: written on a worker while input waits. */
static void
spool_flush(struct smtp_session *s)
{
	struct smtp_tx *tx = s->tx;
	struct spool_job *j = xcalloc(1, sizeof(*j));

	j->s = s;
	j->fd = tx->spool_fd;
	tx->spool_fd = -1;
	j->buf = tx->spill;
	mm_buf_init(&tx->spill);
	j->off = tx->spool_len;
	conn_run_job(s->c, WORKER_LANE_READ, spool_work, spool_done, j);
}

/* What the spill may hold: a chunk, and a BDAT read or a line over it. */
#define SMTP_SPILL_BYTES (MSG_SPOOL_CHUNK_BYTES + \
    (SMTP_BDAT_READ_BYTES > SMTP_DATA_LINE_MAX_BYTES + 2 ? SMTP_BDAT_READ_BYTES : \
    SMTP_DATA_LINE_MAX_BYTES + 2))

/* Where the next data bytes go. */
static struct mm_buf *
data_dst(struct smtp_tx *tx)
{
	return tx->spooling ? &tx->spill : &tx->msg;
}

/* The last n bytes of data_dst() are new: to the verifier, and out to
 * the spool once the message is big enough and its header block is in
 * (or over MSG_SPOOL_HEAD_MAX_BYTES). */
static void
data_added(struct smtp_session *s, size_t n)
{
	struct smtp_tx *tx = s->tx;

	if (!tx->spooling) {
		smtp_dkim_tap(tx, false);
		if (tx->msg.len >= MSG_SPOOL_THRESHOLD_BYTES && may_spool(s) &&
		    (head_complete(tx) || tx->msg.len >= MSG_SPOOL_HEAD_MAX_BYTES)) {
			smtp_dkim_tap(tx, true);     /* the header is all in msg */
			tx->spooling = true;
			/* the head stays as it is; the spill takes a chunk and
			 * one more read or line */
			tx->msg.data = xrealloc(tx->msg.data, tx->msg.len + 1);
			tx->msg.cap = tx->msg.len + 1;
			if (tx->spill.cap < SMTP_SPILL_BYTES + 1) {
				tx->spill.data = xrealloc(tx->spill.data, SMTP_SPILL_BYTES + 1);
				tx->spill.cap = SMTP_SPILL_BYTES + 1;
			}
		}
	} else {
		if (tx->dkim != NULL)
			dkim_verify_body(tx->dkim, tx->spill.data + tx->spill.len - n, n);
		if (tx->spill.len >= MSG_SPOOL_CHUNK_BYTES)
			spool_flush(s);
	}
	data_account(tx);
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
	/* spooled (issue 18): msg is the head, the tail is in the file */
	int spool_fd;                 /* -1: the message is all in msg */
	struct mm_buf spill;          /* tail bytes not written yet */
	uint64_t spool_len;           /* tail bytes in the file */
	uint64_t body_off;            /* where the whole message starts in it */
	bool scan_8bit;               /* queue flags: scan the whole message */
	/* the whole message: msg's bytes, or a view of the mapped spool */
	const char *data;
	size_t len;
	void *map;
	size_t maplen;
};

/* Spooled messages mapped at once, in bytes: a job waits while others
 * hold MSG_SPOOL_MAP_MAX_BYTES (one bigger than that maps alone), so
 * ten big deliveries at once do not map ten messages. */
static pthread_mutex_t map_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t map_cond = PTHREAD_COND_INITIALIZER;
static size_t mapped_bytes;

static void
map_take(size_t n)
{
	pthread_mutex_lock(&map_lock);
	while (mapped_bytes > 0 && mapped_bytes + n > MSG_SPOOL_MAP_MAX_BYTES)
		pthread_cond_wait(&map_cond, &map_lock);
	mapped_bytes += n;
	pthread_mutex_unlock(&map_lock);
}

static void
map_give(size_t n)
{
	pthread_mutex_lock(&map_lock);
	mapped_bytes -= n;
	pthread_cond_broadcast(&map_cond);
	pthread_mutex_unlock(&map_lock);
}

/* Worker: the head goes before the tail in the spool file, which is
 * then mapped for the parse (cache, Sieve, 8-bit scan); the store reads
 * it in chunks (store_body_file). */
static bool
spool_finish(struct deliver_job *j)
{
	long pg = sysconf(_SC_PAGESIZE);

	if (j->spill.len > 0 && !spool_pwrite(j->spool_fd, j->spill.data, j->spill.len,
	    MSG_SPOOL_GAP_BYTES + j->spool_len))
		goto fail;
	j->spool_len += j->spill.len;
	mm_buf_free(&j->spill);
	if (j->msg.len > MSG_SPOOL_GAP_BYTES) {
		errno = E2BIG;
		goto fail;
	}
	j->body_off = MSG_SPOOL_GAP_BYTES - j->msg.len;
	if (!spool_pwrite(j->spool_fd, j->msg.data, j->msg.len, j->body_off))
		goto fail;
	uint64_t start = j->body_off / (uint64_t)pg * (uint64_t)pg;
	j->len = j->msg.len + (size_t)j->spool_len;
	j->maplen = j->len + (size_t)(j->body_off - start);
	map_take(j->maplen);
	j->map = mmap(NULL, j->maplen, PROT_READ, MAP_SHARED, j->spool_fd, (off_t)start);
	if (j->map == MAP_FAILED) {
		j->map = NULL;
		map_give(j->maplen);
		goto fail;
	}
	(void)madvise(j->map, j->maplen, MADV_SEQUENTIAL);
	j->data = (const char *)j->map + (j->body_off - start);
	/* the head is in the file now: its memory goes back */
	mm_buf_free(&j->msg);
	return true;
fail:
	log_error("smtp event=spool-failed id=%s error=\"%s\"", j->id, strerror(errno));
	return false;
}

/* Worker: the parse is done; the mapping goes before the commit reads
 * the file again chunk by chunk. */
static void
spool_unmap(struct deliver_job *j)
{
	if (j->map != NULL) {
		(void)madvise(j->map, j->maplen, MADV_DONTNEED);
		(void)munmap(j->map, j->maplen);
		j->map = NULL;
		map_give(j->maplen);
	}
}

/* The body argument of the store calls: NULL when the store reads the
 * spool (store_body_file). */
static const void *
job_body(const struct deliver_job *j)
{
	return j->spool_fd >= 0 ? NULL : j->data;
}

/* Quarantined by the checks (DMARC p=quarantine, a milter): into each
 * user's Junk, without Sieve (no script files, forwards or answers mail
 * the checks held back); a user without a Junk folder gets it in INBOX,
 * so nothing is lost. */
static void
deliver_junk(struct deliver_job *j, const struct mm_buf *cache)
{
	size_t maxq = j->q.nrcpts;

	if (j->q.nrcpts > 0)
		j->err = store_deliver_queue(j->st, j->rcpts, j->n, job_body(j), j->len,
		    j->now, cache->data, cache->len, &j->q, j->qids, maxq, &j->nqueued);
	else
		j->err = store_deliver(j->st, j->rcpts, j->n, job_body(j), j->len, j->now,
		    cache->data, cache->len, NULL, 0, false);
	if (j->err == STORE_OK) {
		size_t k = 0;
		for (size_t i = 0; i < j->n; i++)
			if (j->rcpts[i].result_r == STORE_NOTFOUND) {
				j->rcpts[k] = j->rcpts[i];
				j->rcpts[k++].mailbox = NULL;
			}
		if (k > 0) {
			int r = store_deliver(j->st, j->rcpts, k, job_body(j), j->len,
			    j->now, cache->data, cache->len, NULL, 0, false);
			if (r != STORE_OK)
				for (size_t i = 0; i < k; i++)
					j->rcpts[i].result_r = r;
		}
	} else if (j->err == STORE_NOTFOUND) {
		for (size_t i = 0; i < j->n; i++)
			j->rcpts[i].mailbox = NULL;
		j->err = j->q.nrcpts > 0 ?
		    store_deliver_queue(j->st, j->rcpts, j->n, job_body(j), j->len,
		    j->now, cache->data, cache->len, &j->q, j->qids, maxq, &j->nqueued) :
		    store_deliver(j->st, j->rcpts, j->n, job_body(j), j->len, j->now,
		    cache->data, cache->len, NULL, 0, false);
	}
}

static void
deliver_body(struct deliver_job *j)
{
	struct mm_buf cache;

	mm_buf_init(&cache);
	if (j->junk) {
		mail_cache_build(j->data, j->len, &cache);
		spool_unmap(j);
		if (j->spool_fd >= 0)
			store_body_file(j->spool_fd, j->body_off);
		deliver_junk(j, &cache);
		mm_buf_free(&cache);
		return;
	}
	/* Sieve: each user's script turns its INBOX into its targets */
	/* the 550 at DATA is ours to give only without remote recipients
	 * (they take the message whatever the local scripts say) */
	struct mm_buf view = { .data = (char *)j->data, .len = j->len, .cap = 0 };
	smtp_sieve_apply(&j->sieve, j->spool_fd >= 0 ? &view : &j->msg, j->users, j->n,
	    j->q.nrcpts == 0);
	if (j->spool_fd >= 0 && view.data != j->data) {
		/* a redirect header went in: the message is in memory now */
		spool_unmap(j);
		(void)close(j->spool_fd);
		j->spool_fd = -1;
		j->msg = view;
	}
	if (j->spool_fd < 0) {
		j->data = j->msg.data;
		j->len = j->msg.len;
	}
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
		const char *eol = memchr(j->data, '\n', j->len);
		j->q.skip = eol != NULL && j->len >= 12 &&
		    memcmp(j->data, "Return-Path:", 12) == 0 ?
		    (uint64_t)(eol - j->data + 1) : 0;
		j->q.flags = j->q_smtputf8 ? STORE_QF_SMTPUTF8 : 0;
		for (size_t i = 0; i < j->len; i++)
			if ((unsigned char)j->data[i] >= 0x80) {
				j->q.flags |= STORE_QF_8BIT;
				break;
			}
	}
	mail_cache_build(j->data, j->len, &cache);
	spool_unmap(j);
	if (j->spool_fd >= 0)
		store_body_file(j->spool_fd, j->body_off);
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
		j->err = store_deliver_queue(j->st, rcpts, nrcpts, job_body(j), j->len,
		    j->now, cache.data, cache.len, &j->q, j->qids, q_orig, &j->nqueued);
	else
		j->err = store_deliver(j->st, rcpts, nrcpts, job_body(j), j->len, j->now,
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
deliver_work(void *arg)
{
	struct deliver_job *j = arg;

	j->data = j->msg.data;
	j->len = j->msg.len;
	if (j->spool_fd >= 0) {
		if (!spool_finish(j)) {
			j->err = STORE_IO;
			goto out;
		}
		for (size_t i = 0; j->scan_8bit && i < j->len; i++)
			if ((unsigned char)j->data[i] >= 0x80) {
				j->q.flags |= STORE_QF_8BIT;
				break;
			}
	}
	deliver_body(j);
out:
	spool_unmap(j);
	store_body_file(-1, 0);
	if (j->spool_fd >= 0)
		(void)close(j->spool_fd);      /* nameless: the spool file is gone */
	j->spool_fd = -1;
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
		smtp_reply_now(s, "%s", result);
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
	mm_buf_free(&j->spill);
	if (j->spool_fd >= 0)
		(void)close(j->spool_fd);
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
	j->spool_fd = -1;
	mm_buf_init(&j->spill);
	if (tx->spooling && tx->spool_fd < 0) {
		/* no chunk written yet: the rest is small, it joins the head */
		mm_buf_append(&j->msg, tx->spill.data, tx->spill.len);
		mm_buf_free(&tx->spill);
	} else if (tx->spooling) {
		/* and the spool file, with the tail not written yet */
		j->spool_fd = tx->spool_fd;
		tx->spool_fd = -1;
		j->spill = tx->spill;
		mm_buf_init(&tx->spill);
		j->spool_len = tx->spool_len;
		j->scan_8bit = true;
	}
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
	if (tx->spooling) {
		/* spooled before a reload added milters: they cannot see it */
		log_warn("smtp session=%llx event=milters-skipped id=%s: message spooled "
		    "before the milters were configured", s->id, tx->id);
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
	if (!data_reserve(s->tx)) {
		/* [limits] max_memory: the transfers under way complete */
		log_warn("smtp session=%llx event=memory-refused id=%s used=%llu limit=%llu",
		    s->id, s->tx->id, (unsigned long long)membudget_used(),
		    (unsigned long long)membudget_limit());
		smtp_reply(s, "%s", memory_refusal);
		return;
	}
	message_start(s);
	smtp_reply(s, "354 End data with <CR><LF>.<CR><LF>");
	smtp_enter_state(s, SMTP_STATE_BODY);
}

/* One line of the body (without its ending; ending as conn_getline
 * says), into the message. True when it was the final ".": consumed
 * already, the caller ends the message. */
static bool
data_line(struct smtp_session *s, const char *line, size_t len, unsigned ending)
{
	struct smtp_tx *tx = s->tx;

	if ((ending & CONN_LINE_CRLF) && tx->prev_crlf && len == 1 && line[0] == '.')
		return true;
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
		struct mm_buf *dst = data_dst(tx);
		mm_buf_append(dst, line, len);
		mm_buf_append(dst, "\r\n", 2);
		data_added(s, len + 2);
	}
	return false;
}

/* The whole lines in the input's first contiguous block, read in place
 * and drained once, instead of one conn_getline (search, copy, drain)
 * each: a 10 KB body is ~140 lines. Stops before a line that is not
 * whole in the block or is too long (conn_getline takes that one), and
 * at anything that may start a job or look at the input (the final
 * ".", and data_added once the message may go to the spool), after
 * draining what it took. Returns whether it took anything. */
static bool
data_lines_inplace(struct smtp_session *s)
{
	struct smtp_tx *tx = s->tx;
	struct evbuffer *in = conn_input(s->c);
	struct evbuffer_iovec v;
	size_t off = 0;
	bool end = false;

	if (in == NULL || conn_line_discarding(s->c) || evbuffer_peek(in, -1, NULL, &v, 1) < 1)
		return false;
	const char *p = v.iov_base;
	while (off < v.iov_len && !tx->spooling && tx->msg.len < MSG_SPOOL_THRESHOLD_BYTES) {
		const char *line = p + off, *lf = memchr(line, '\n', v.iov_len - off);
		if (lf == NULL)
			break;
		size_t n = (size_t)(lf - line), len = n;
		unsigned ending = CONN_LINE_BARE_LF;
		if (n > 0 && line[n - 1] == '\r') {
			len = n - 1;
			ending = CONN_LINE_CRLF;
		}
		if (len > SMTP_DATA_LINE_MAX_BYTES)
			break;
		off += n + 1;
		if (data_line(s, line, len, ending)) {
			end = true;
			break;
		}
	}
	conn_read_bytes(s->c, NULL, off);
	if (end)
		message_end(s);
	return off > 0;
}

bool
smtp_data_input(struct smtp_session *s)
{
	struct smtp_tx *tx = s->tx;
	char *line;
	size_t len;
	unsigned ending = 0;

	if (data_lines_inplace(s))
		return true;
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
	if (data_line(s, line, len, ending))
		message_end(s);
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
	if (s->bdat_fail == NULL && !data_reserve(s->tx)) {
		log_warn("smtp session=%llx event=memory-refused id=%s used=%llu limit=%llu",
		    s->id, s->tx->id, (unsigned long long)membudget_used(),
		    (unsigned long long)membudget_limit());
		s->bdat_fail = memory_refusal;
	}
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
		bool flushed = false;

		if (avail == 0)
			return false;
		if (want > avail)
			want = avail;
		if (s->bdat_fail == NULL && tx->data_err == SMTP_DATA_OK &&
		    tx->datalen + want <= tx->max_size) {
			struct mm_buf *dst = data_dst(tx);
			mm_buf_reserve(dst, want);
			got = conn_read_bytes(s->c, dst->data + dst->len, want);
			dst->len += got;
			tx->datalen += got;
			bdat_scan(tx, dst->data + dst->len - got, got);
			if (tx->data_err == SMTP_DATA_OK) {
				data_added(s, got);
				/* a chunk to the spool: more after it */
				flushed = conn_job_running(s->c);
			}
		} else {
			got = conn_read_bytes(s->c, NULL, want);
			if (tx != NULL && s->bdat_fail == NULL) {
				tx->datalen += got;
				if (tx->datalen > tx->max_size)
					data_error(tx, SMTP_DATA_TOO_BIG);
			}
		}
		s->bdat_left -= got;
		if (flushed)
			return false;
	}

	bdat_chunk_end(s);
	return true;
}

/* The whole chunk is in (and written, if it went to the spool). */
static void
bdat_chunk_end(struct smtp_session *s)
{
	struct smtp_tx *tx = s->tx;

	if (s->bdat_fail != NULL) {
		smtp_enter_ready(s);
		smtp_reply(s, "%s", s->bdat_fail);
		smtp_tx_end(s, s->bdat_fail);
		bool memory = s->bdat_fail == memory_refusal;
		s->bdat_fail = NULL;
		if (!memory)
			smtp_bad_command(s);
		return;
	}
	if (!s->bdat_last) {
		smtp_enter_ready(s);
		smtp_reply(s, "250 2.0.0 %llu octets received", (unsigned long long)tx->datalen);
		return;
	}
	if (tx->last_cr)
		data_error(tx, SMTP_DATA_BARE_CR);
	message_end(s);
}
