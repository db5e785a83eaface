/* cmd-append.c: APPEND (RFC 3501 6.3.11) with flags, date-time, literals
 * and LITERAL+, answering APPENDUID (RFC 4315), MULTIAPPEND (RFC 3502):
 * several messages in one command, stored all or nothing, and CATENATE
 * (RFC 4469): a message made of TEXT parts and IMAP URLs of parts of the
 * user's messages, put together on the worker.
 *
 * The one idea: each message is normalised to CRLF, parsed once into the
 * cache blob (src/mail) and all are stored with store_append_multi in one
 * transaction, all on a worker; an APPEND to the selected mailbox then
 * syncs, so the client hears EXISTS before the tagged OK. */
#include "imap/imap-common.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "lib/membudget.h"
#include "mail/cache.h"
#include "mail/date.h"
#include "mail/mime.h"
#include "net/conn.h"

/* A CATENATE part (RFC 4469): TEXT bytes, or a URL resolved on the
 * worker. */
struct cat_part {
	char *text;               /* TEXT: its bytes; URL: the URL as sent */
	size_t len;
	bool is_url;
	bool bad;                 /* URL: not one we can resolve */
	struct imap_url url;
	char mbox[STORE_MBOX_NAME_MAX];   /* URL: its mailbox, UTF-8 */
};

struct append_msg {
	uint32_t flags;
	struct mm_strlist kw;
	time_t idate;
	char *data;               /* the message (CATENATE: built on the worker) */
	size_t len;
	bool literal8;            /* ~{n} (RFC 3516 4.4) */
	struct cat_part *parts;   /* CATENATE */
	size_t nparts;
	struct mm_buf cache;
	/* spooled (imap-spool.c): data is the mapped spool file until a
	 * normalised copy replaces it */
	int fd;                   /* -1: not spooled */
	void *map;
	size_t maplen;
};

struct append_job {
	struct imap_session *s;
	char mbox[STORE_MBOX_NAME_MAX];
	struct append_msg *msgs;
	size_t n;
	uint32_t *uids;
	uint32_t uidvalidity;
	int err;
	const char *badurl;       /* CATENATE: the URL that named nothing */
	bool toobig;              /* CATENATE: the result over the limit */
	bool empty;               /* CATENATE: the result has no bytes */
	uint64_t limit;           /* APPENDLIMIT, taken on the loop */
	bool sync;
	struct imap_sync sy;
	uint64_t mem;             /* of [limits] max_memory, held until freed */
};

/* Are all line ends CRLF already? Then the message is stored as it came,
 * without a normalised copy. */
static bool
crlf_clean(const char *p, size_t n)
{
	const char *e = p + n, *q = p;

	while ((q = memchr(q, '\n', (size_t)(e - q))) != NULL) {
		if (q == p || q[-1] != '\r')
			return false;
		q++;
	}
	for (q = p; (q = memchr(q, '\r', (size_t)(e - q))) != NULL; q++)
		if (q + 1 == e || q[1] != '\n')
			return false;
	return true;
}

/* Worker: builds each CATENATE message from its parts. False with the
 * job's error set (TRYCREATE first: RFC 4469 5 does not order them, and
 * a missing destination is what the client can fix). */
static bool
catenate_build(struct append_job *j)
{
	struct imap_session *s = j->s;
	struct store_mailbox mb;
	bool any = false;

	for (size_t i = 0; i < j->n; i++)
		any = any || j->msgs[i].nparts > 0;
	if (!any)
		return true;
	if ((j->err = store_mailbox_get(imap_store(s), s->user, j->mbox, &mb)) != STORE_OK)
		return false;
	if (mb.attrs & MBOX_ATTR_NOSELECT) {
		j->err = STORE_NOTFOUND;
		return false;
	}
	for (size_t i = 0; i < j->n; i++) {
		struct append_msg *m = &j->msgs[i];
		struct mm_buf b;
		if (m->nparts == 0)
			continue;
		mm_buf_init(&b);
		for (size_t k = 0; k < m->nparts; k++) {
			struct cat_part *p = &m->parts[k];
			if (!p->is_url) {
				mm_buf_append(&b, p->text, p->len);
			} else if (p->bad || imap_url_fetch(s, p->mbox, &p->url, &b) != STORE_OK) {
				j->badurl = p->text;
				mm_buf_free(&b);
				return false;
			}
			if (b.len > j->limit) {
				j->toobig = true;
				mm_buf_free(&b);
				return false;
			}
		}
		free(m->data);
		m->len = b.len;
		m->data = mm_buf_cstr(&b);
		if (m->len == 0) {
			j->empty = true;
			return false;
		}
	}
	return true;
}

/* The message's bytes are now p (malloc'd, n of them). */
static void
msg_set_data(struct append_msg *m, char *p, size_t n)
{
	if (m->data != m->map)
		free(m->data);
	m->data = p;
	m->len = n;
}

/* Worker: a spooled message is mapped (file-backed pages, page cache:
 * not the process's anonymous memory) for the parse and the commit. */
static bool
spool_map(struct append_msg *m)
{
	if (m->fd < 0)
		return true;
	m->map = mmap(NULL, m->len, PROT_READ, MAP_SHARED, m->fd, 0);
	if (m->map == MAP_FAILED) {
		m->map = NULL;
		return false;
	}
	(void)madvise(m->map, m->len, MADV_SEQUENTIAL);
	m->maplen = m->len;
	m->data = m->map;
	return true;
}

static void
spool_unmap(struct append_msg *m)
{
	if (m->map != NULL) {
		if (m->data == m->map)
			m->data = NULL;
		(void)munmap(m->map, m->maplen);
		m->map = NULL;
	}
}

/* The spool file is not needed any more (committed, or given up). */
static void
spool_release(struct append_msg *m)
{
	spool_unmap(m);
	if (m->fd >= 0)
		(void)close(m->fd);
	m->fd = -1;
}

static void
append_work(void *arg)
{
	struct append_job *j = arg;
	struct imap_session *s = j->s;
	struct store_append *sa = xcalloc(j->n, sizeof(*sa));

	if (!catenate_build(j))
		goto out;
	for (size_t i = 0; i < j->n; i++) {
		struct append_msg *m = &j->msgs[i];
		size_t nlen;
		if (!spool_map(m)) {
			j->err = STORE_IO;
			goto out;
		}
		if (m->literal8) {
			/* binary parts are kept as base64 (src/mail/binary.c),
			 * before line ends are normalised inside them */
			struct mm_buf enc;
			mm_buf_init(&enc);
			if (mail_binary_encode_parts(m->data, m->len, &enc)) {
				size_t elen = enc.len;
				msg_set_data(m, mm_buf_cstr(&enc), elen);
			} else {
				mm_buf_free(&enc);
			}
		}
		if (!crlf_clean(m->data, m->len)) {
			char *norm = mail_crlf_normalize(m->data, m->len, &nlen);
			msg_set_data(m, norm, nlen);
		}
		mail_cache_build(m->data, m->len, &m->cache);
		/* still the spool file's bytes: the store reads them from it
		 * in chunks, as SMTP's (store_body_file) */
		bool spooled = m->map != NULL && m->data == m->map;
		spool_unmap(m);
		sa[i] = (struct store_append){ .data = m->data, .len = m->len,
		    .spooled = spooled, .spool_fd = m->fd,
		    .internal_date = m->idate, .cache = m->cache.data,
		    .cachelen = m->cache.len, .flags = m->flags,
		    .keywords = (const char *const *)m->kw.v, .nkeywords = m->kw.n };
	}
	/* RFC 3502 6.3.11: all of them or none */
	j->err = store_append_multi(imap_store(s), s->user, j->mbox, sa, j->n,
	    &j->uidvalidity);
	for (size_t i = 0; i < j->n; i++)
		j->uids[i] = sa[i].uid_r;
out:
	free(sa);
	for (size_t i = 0; i < j->n; i++)
		spool_release(&j->msgs[i]);
	if (j->sync)
		imap_sync_work(s, &j->sy);
}

static void
append_job_free(struct append_job *j)
{
	for (size_t i = 0; i < j->n; i++) {
		mm_strlist_clear(&j->msgs[i].kw);
		spool_release(&j->msgs[i]);
		free(j->msgs[i].data);
		mm_buf_free(&j->msgs[i].cache);
		for (size_t k = 0; k < j->msgs[i].nparts; k++)
			free(j->msgs[i].parts[k].text);
		free(j->msgs[i].parts);
	}
	imap_sync_free(&j->sy);
	free(j->msgs);
	free(j->uids);
	membudget_release(j->mem);
	free(j);
}

static void
append_done(void *arg, bool alive)
{
	struct append_job *j = arg;
	struct imap_session *s = j->s;

	if (!alive)
		goto out;
	if (j->sync && !imap_sync_finish(s, &j->sy, true))
		goto out;
	if (j->badurl != NULL) {
		struct mm_buf b;
		mm_buf_init(&b);
		/* RFC 4469 5: [BADURL url] */
		mm_buf_append(&b, j->badurl, strlen(j->badurl));
		for (size_t i = 0; i < b.len; i++)
			if ((unsigned char)b.data[i] < 0x20 || b.data[i] == ']')
				b.data[i] = '?';
		imap_no(s, "[BADURL %s] CATENATE URL names no message or part",
		    mm_buf_cstr(&b));
		mm_buf_free(&b);
	} else if (j->toobig)
		imap_no(s, "[TOOBIG] CATENATE result is over the size limit");
	else if (j->empty)
		imap_no(s, "Can't save a zero byte message");
	else if (j->err == STORE_NOTFOUND)
		imap_no(s, "[TRYCREATE] Mailbox doesn't exist");
	else if (j->err == STORE_LIMIT)
		imap_no(s, "[LIMIT] Too many keywords");
	else if (j->err != STORE_OK)
		imap_no_store(s, j->err, NULL);
	else {
		/* RFC 4315 3: a uid-set for a MULTIAPPEND */
		struct mm_buf b;
		mm_buf_init(&b);
		imap_append_uid_set(&b, j->uids, j->n);
		imap_ok(s, "[APPENDUID %u %s] Append completed", j->uidvalidity,
		    mm_buf_cstr(&b));
		mm_buf_free(&b);
	}
out:
	append_job_free(j);
}

/* "CATENATE (TEXT literal / URL astring ...)" (RFC 4469 4). */
static const char *
catenate_parts(const struct imap_arg *l, struct append_msg *m, size_t *i)
{
	if (l->count == 0 || l->count % 2 != 0 || l->count / 2 > IMAP_CATENATE_PARTS_MAX)
		return "Invalid CATENATE parts";
	m->parts = xcalloc(l->count / 2, sizeof(*m->parts));
	for (size_t k = 0; k < l->count; k += 2) {
		const struct imap_arg *v = &l->list[k + 1];
		struct cat_part *p = &m->parts[m->nparts];
		const char *str;
		size_t len;
		if (imap_arg_atom_eq(&l->list[k], "TEXT") && v->type == IMAP_ARG_LITERAL &&
		    imap_arg_string(v, &str, &len)) {
			p->is_url = false;
		} else if (imap_arg_atom_eq(&l->list[k], "URL") && v->type != IMAP_ARG_LIST &&
		    v->type != IMAP_ARG_NIL && imap_arg_astring(v, &str, &len)) {
			p->is_url = true;
		} else {
			return "Invalid CATENATE part";
		}
		p->text = xmalloc(len + 1);
		memcpy(p->text, str, len);
		p->text[len] = '\0';
		p->len = len;
		m->nparts++;
		if (p->is_url) {
			/* one that cannot name anything is BADURL, told after
			 * the destination is known to exist */
			struct imap_arg a = { .type = IMAP_ARG_ATOM };
			p->bad = !imap_url_parse(str, len, &p->url);
			a.str = p->url.mbox;
			a.len = strlen(p->url.mbox);
			if (!p->bad && !imap_mailbox_arg(&a, p->mbox, sizeof(p->mbox)))
				p->bad = true;
		}
	}
	*i += 2;
	m->data = xmalloc(1);
	m->len = 0;
	return NULL;
}

/* One message: [flag-list] [date-time] literal / CATENATE (...) at
 * args[*i]. NULL when fine, else the BAD text. */
static const char *
append_one(struct imap_session *s, const struct imap_arg *args, size_t n, size_t *i,
    struct append_msg *m)
{
	const char *err = "Invalid APPEND arguments";
	const char *msg, *date;
	size_t mlen, dlen;
	int tz;

	m->idate = time(NULL);
	if (*i < n && args[*i].type == IMAP_ARG_LIST) {
		if (!imap_parse_flags(args[*i].list, args[*i].count, &m->flags, &m->kw, &err))
			return err;
		(*i)++;
	}
	if (*i < n && args[*i].type == IMAP_ARG_STRING) {
		if (!imap_arg_string(&args[*i], &date, &dlen) ||
		    !mail_date_parse_imap_datetime(date, dlen, &m->idate, &tz))
			return "Invalid date-time";
		(*i)++;
	}
	if (*i + 1 < n && imap_arg_atom_eq(&args[*i], "CATENATE") &&
	    args[*i + 1].type == IMAP_ARG_LIST)
		return catenate_parts(&args[*i + 1], m, i);
	if (*i < n && imap_arg_atom_eq(&args[*i], "UTF8")) {
		/* UTF8=ACCEPT (RFC 6855 4): "UTF8 (~{n}...)", a message
		 * whose header may be UTF-8 (RFC 6532); stored as it is */
		const struct imap_arg *l = *i + 1 < n ? &args[*i + 1] : NULL;
		if (l == NULL || l->type != IMAP_ARG_LIST || l->count != 1 ||
		    l->list[0].type != IMAP_ARG_LITERAL || !l->list[0].literal8 ||
		    !imap_arg_string(&l->list[0], &msg, &mlen))
			return "APPEND UTF8 needs a literal8 in parentheses";
		m->literal8 = true;
		*i += 2;
		m->data = xmalloc(mlen ? mlen : 1);
		memcpy(m->data, msg, mlen);
		m->len = mlen;
		return NULL;
	}
	if (*i >= n || args[*i].type != IMAP_ARG_LITERAL ||
	    !imap_arg_string(&args[*i], &msg, &mlen))
		return "APPEND needs the message as a literal";
	m->literal8 = args[*i].literal8;
	if (args[*i].spooled) {
		/* in a spool file (imap-spool.c): mapped on the worker */
		m->fd = imap_spool_take(s, args[*i].spool_idx);
		m->len = (size_t)args[*i].spool_len;
		(*i)++;
		return NULL;
	}
	/* the parser's buffer becomes the message: one copy (issue 18) */
	m->data = imap_arg_take((struct imap_arg *)&args[*i], &m->len);
	(*i)++;
	return NULL;
}

void
cmd_append(struct imap_session *s, const struct imap_arg *args, size_t n)
{
	struct append_job *j = xcalloc(1, sizeof(*j));
	const char *err = "Invalid APPEND arguments";
	size_t i = 1;

	j->s = s;
	if (n < 2)
		goto bad;
	if (!imap_mailbox_arg_reply(s, &args[0], j->mbox, sizeof(j->mbox))) {
		append_job_free(j);
		return;
	}
	/* MULTIAPPEND (RFC 3502): one or more messages; the parser bounds
	 * their number (IMAP_ARGS_MAX) and bytes (the literal limit) */
	j->msgs = xcalloc(n, sizeof(*j->msgs));
	while (i < n) {
		struct append_msg *m = &j->msgs[j->n++];
		mm_strlist_init(&m->kw);
		mm_buf_init(&m->cache);
		m->fd = -1;
		if ((err = append_one(s, args, n, &i, m)) != NULL)
			goto bad;
	}
	for (size_t k = 0; k < j->n; k++) {
		if (j->msgs[k].map == NULL && j->msgs[k].fd < 0 && j->msgs[k].len > 0 &&
		    j->msgs[k].data == NULL) {
			/* its spool file could not be written (logged) */
			append_job_free(j);
			imap_no(s, "[UNAVAILABLE] Cannot take the message now");
			return;
		}
		if (j->msgs[k].len == 0 && j->msgs[k].nparts == 0) {
			append_job_free(j);
			imap_no(s, "Can't save a zero byte message");
			return;
		}
	}
	/* the literals' bytes: reserved as they were announced, or (LITERAL+)
	 * charged now that they are in; held until the job is freed */
	uint64_t total = 0;
	for (size_t k = 0; k < j->n; k++)
		if (j->msgs[k].data != NULL)    /* spooled ones are not in RAM */
			total += j->msgs[k].len;
	j->mem = s->lit_held;
	s->lit_held = 0;
	if (total > j->mem) {
		membudget_charge(total - j->mem);
		j->mem = total;
	}
	j->uids = xcalloc(j->n, sizeof(*j->uids));
	j->limit = imap_append_limit(s);
	if (s->state == IMAP_STATE_SELECTED) {
		j->sync = true;
		imap_sync_prepare(s, &j->sy, strcmp(s->mbox, j->mbox) == 0);
	}
	imap_run_job(s, WORKER_LANE_COMMIT, append_work, append_done, j);
	return;
bad:
	append_job_free(j);
	imap_bad(s, "%s", err);
}
