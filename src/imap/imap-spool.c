/* imap-spool.c: APPEND literals streamed, not held (issue 18). The
 * parser hands a literal of at least MSG_SPOOL_THRESHOLD_BYTES to
 * imap_spool_sink as it arrives; the bytes gather in one chunk of
 * MSG_SPOOL_CHUNK_BYTES, which a worker writes to a spool file
 * (lib/spool.h) while the input waits (a job pauses it), so a session
 * holds one chunk whatever the literal's size. cmd-append.c takes the
 * files and commits from them.
 *
 * Every fd is the session's until imap_spool_take: imap_spool_reset
 * closes the rest (command done, parse error, disconnect); a write that
 * comes back after a reset or with the session gone closes its own. */
#include "imap/imap-common.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/membudget.h"
#include "lib/spool.h"
#include "net/conn.h"

struct spool_write {
	struct imap_session *s;
	int fd;                   /* -1: opened by the first write */
	struct mm_buf buf;
	uint64_t off;
	unsigned gen;
	bool last;                /* ends the literal */
	int err;
};

void
imap_spool_init(struct imap_session *s)
{
	s->spool_fd = -1;
	mm_buf_init(&s->spool_buf);
}

static void
close_fd(int *fd)
{
	if (*fd >= 0)
		(void)close(*fd);
	*fd = -1;
}

/* The literal being read is over (stored in spool_fds, or dropped). */
static void
literal_end(struct imap_session *s)
{
	s->spool_fd = -1;
	s->spool_off = 0;
	s->spool_failed = false;
	mm_buf_free(&s->spool_buf);
	mm_buf_init(&s->spool_buf);
	membudget_release(s->spool_mem);
	s->spool_mem = 0;
}

static void
literal_done(struct imap_session *s, int fd)
{
	s->spool_fds = xrealloc(s->spool_fds, (s->nspool + 1) * sizeof(*s->spool_fds));
	s->spool_fds[s->nspool++] = fd;
	literal_end(s);
}

static void
write_work(void *arg)
{
	struct spool_write *j = arg;

	j->err = spool_write_chunk(&j->fd, j->buf.data, j->buf.len, j->off);
}

static void
write_done(void *arg, bool alive)
{
	struct spool_write *j = arg;
	struct imap_session *s = j->s;

	if (!alive || j->gen != s->spool_gen) {
		/* the session is gone, or dropped the command meanwhile */
		if (alive)
			s->spool_pending = false;
		close_fd(&j->fd);
		mm_buf_free(&j->buf);
		free(j);
		return;
	}
	s->spool_pending = false;
	if (j->err != 0) {
		log_error("imap conn=%llx event=spool-failed error=\"%s\"",
		    (unsigned long long)conn_id(s->c), strerror(j->err));
		close_fd(&j->fd);
		mm_buf_free(&j->buf);
		s->spool_failed = true;
	} else {
		s->spool_fd = j->fd;
		s->spool_off += j->buf.len;
		j->buf.len = 0;
		mm_buf_free(&s->spool_buf);
		s->spool_buf = j->buf;    /* the same memory for the next chunk */
	}
	if (j->last)
		literal_done(s, s->spool_failed ? -1 : s->spool_fd);
	free(j);
}

static void
write_chunk(struct imap_session *s, bool last)
{
	struct spool_write *j = xcalloc(1, sizeof(*j));

	j->s = s;
	j->fd = s->spool_fd;
	s->spool_fd = -1;
	j->buf = s->spool_buf;
	mm_buf_init(&s->spool_buf);
	j->off = s->spool_off;
	j->gen = s->spool_gen;
	j->last = last;
	s->spool_pending = true;
	conn_run_job(s->c, WORKER_LANE_READ, write_work, write_done, j);
}

size_t
imap_spool_sink(void *ctx, const char *data, size_t n, bool last)
{
	struct imap_session *s = ctx;

	if (s->spool_pending)
		return 0;
	if (s->spool_failed) {
		/* swallowed: the command answers NO */
		if (last)
			literal_done(s, -1);
		return n;
	}
	if (s->spool_mem == 0) {
		/* LITERAL+: its bytes are in, charged */
		membudget_charge(MSG_SPOOL_CHUNK_BYTES);
		s->spool_mem = MSG_SPOOL_CHUNK_BYTES;
	}
	if (s->spool_buf.cap < MSG_SPOOL_CHUNK_BYTES + 1)
		mm_buf_reserve(&s->spool_buf, MSG_SPOOL_CHUNK_BYTES + 1);
	size_t take = MSG_SPOOL_CHUNK_BYTES - s->spool_buf.len;
	if (take > n)
		take = n;
	mm_buf_append(&s->spool_buf, data, take);
	if (s->spool_buf.len == MSG_SPOOL_CHUNK_BYTES || (last && take == n))
		write_chunk(s, last && take == n);
	return take;
}

bool
imap_spool_reserve(struct imap_session *s)
{
	if (s->spool_mem > 0)
		return true;
	if (!membudget_reserve(MSG_SPOOL_CHUNK_BYTES))
		return false;
	s->spool_mem = MSG_SPOOL_CHUNK_BYTES;
	return true;
}

void
imap_spool_reset(struct imap_session *s)
{
	s->spool_gen++;
	close_fd(&s->spool_fd);
	for (size_t i = 0; i < s->nspool; i++)
		close_fd(&s->spool_fds[i]);
	free(s->spool_fds);
	s->spool_fds = NULL;
	s->nspool = 0;
	literal_end(s);
}

int
imap_spool_take(struct imap_session *s, unsigned idx)
{
	int fd = -1;

	if (idx < s->nspool) {
		fd = s->spool_fds[idx];
		s->spool_fds[idx] = -1;
	}
	return fd;
}
