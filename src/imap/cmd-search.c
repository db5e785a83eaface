/* cmd-search.c: SEARCH and UID SEARCH (RFC 3501 6.4.4): the whole key
 * grammar (flags, keywords, sequence and UID sets, sizes, internal and
 * sent dates, header fields, BODY and TEXT over decoded text, NOT, OR and
 * parenthesised lists), CHARSET UTF-8 / US-ASCII, and MODSEQ (RFC 7162
 * 3.1.5, answered with the highest MODSEQ of the hits).
 *
 * The one idea: the command is parsed into a key tree on the loop, then a
 * job evaluates it over the view on a worker. A message's body is read
 * and parsed only when a key needs it (header, text or sent-date keys),
 * once per message, and text matching goes through src/mail's decoding
 * and case folding, so BODY/TEXT match what the user reads. */
#include "imap/imap-common.h"

#include <stdlib.h>
#include <string.h>

#include "mail/address.h"
#include "mail/date.h"
#include "mail/decode.h"
#include "mail/header.h"
#include "mail/mime.h"
#include "net/conn.h"

#define SEARCH_TEXT_MAX_BYTES   (4 * 1024 * 1024)   /* decoded text searched per message */
#define SEARCH_DEPTH_MAX        IMAP_NESTING_MAX

enum sk {
	SK_AND, SK_OR, SK_NOT, SK_ALL,
	SK_FLAG, SK_UNFLAG, SK_KEYWORD, SK_UNKEYWORD,
	SK_NEW, SK_OLD, SK_RECENT,
	SK_SEQ, SK_UID, SK_LARGER, SK_SMALLER,
	SK_BEFORE, SK_ON, SK_SINCE, SK_SENTBEFORE, SK_SENTON, SK_SENTSINCE,
	SK_HEADER, SK_BODY, SK_TEXT, SK_MODSEQ,
};

struct skey {
	enum sk kind;
	uint32_t flag;
	uint64_t num;
	long day;
	char *name;               /* header field / keyword */
	bool addr;                /* FROM/TO/CC/BCC: the address list, not the raw text */
	char *needle;             /* folded search text */
	size_t nlen;
	struct imap_seqset set;
	struct skey *kids;        /* AND / OR / NOT */
	size_t nkids;
};

struct search_job {
	struct imap_session *s;
	struct skey root;
	uint32_t *hits;
	size_t nhits;
	bool modseq;              /* a MODSEQ key: say the hits' highest */
	uint64_t maxmodseq;
	struct imap_sync sy;
};

/* Does evaluating k read message bodies (not just the index)? */
static bool
skey_reads_body(const struct skey *k)
{
	if (k->kind == SK_HEADER || k->kind == SK_BODY || k->kind == SK_TEXT ||
	    k->kind == SK_SENTBEFORE || k->kind == SK_SENTON || k->kind == SK_SENTSINCE)
		return true;
	for (size_t i = 0; i < k->nkids; i++)
		if (skey_reads_body(&k->kids[i]))
			return true;
	return false;
}

static void
skey_free(struct skey *k)
{
	for (size_t i = 0; i < k->nkids; i++)
		skey_free(&k->kids[i]);
	free(k->kids);
	free(k->name);
	free(k->needle);
	imap_seqset_free(&k->set);
}

static struct skey *
kid_add(struct skey *k)
{
	k->kids = xrealloc(k->kids, (k->nkids + 1) * sizeof(*k->kids));
	struct skey *c = &k->kids[k->nkids++];
	memset(c, 0, sizeof(*c));
	return c;
}

/* ---- parsing ---- */

struct sparse {
	const struct imap_arg *a;
	size_t n, i;
	bool modseq;
};

static bool
take_string(struct sparse *p, const char **s_r, size_t *len_r)
{
	if (p->i >= p->n || !imap_arg_astring(&p->a[p->i], s_r, len_r))
		return false;
	p->i++;
	return true;
}

static bool
take_needle(struct sparse *p, struct skey *k)
{
	const char *s;
	size_t len;
	struct mm_buf b;
	if (!take_string(p, &s, &len))
		return false;
	mm_buf_init(&b);
	mail_text_fold(s, len, &b);
	k->needle = xstrndup(b.data ? b.data : "", b.len);
	k->nlen = b.len;
	mm_buf_free(&b);
	return true;
}

static bool
take_date(struct sparse *p, struct skey *k)
{
	const char *s;
	size_t len;
	time_t t;
	if (!take_string(p, &s, &len) || !mail_date_parse_imap(s, len, &t))
		return false;
	k->day = (long)(t / 86400);
	return true;
}

static bool parse_key(struct sparse *p, struct skey *k, int depth);

static bool
parse_list(struct sparse *p, struct skey *k, int depth)
{
	k->kind = SK_AND;
	while (p->i < p->n)
		if (!parse_key(p, kid_add(k), depth))
			return false;
	return k->nkids > 0;
}

static bool
parse_key(struct sparse *p, struct skey *k, int depth)
{
	static const struct { const char *name; enum sk kind; uint32_t flag; } simple[] = {
		{ "ALL", SK_ALL, 0 },
		{ "ANSWERED", SK_FLAG, MSG_ANSWERED }, { "UNANSWERED", SK_UNFLAG, MSG_ANSWERED },
		{ "DELETED", SK_FLAG, MSG_DELETED }, { "UNDELETED", SK_UNFLAG, MSG_DELETED },
		{ "DRAFT", SK_FLAG, MSG_DRAFT }, { "UNDRAFT", SK_UNFLAG, MSG_DRAFT },
		{ "FLAGGED", SK_FLAG, MSG_FLAGGED }, { "UNFLAGGED", SK_UNFLAG, MSG_FLAGGED },
		{ "SEEN", SK_FLAG, MSG_SEEN }, { "UNSEEN", SK_UNFLAG, MSG_SEEN },
		{ "NEW", SK_NEW, 0 }, { "OLD", SK_OLD, 0 }, { "RECENT", SK_RECENT, 0 },
	};
	static const struct { const char *name; const char *field; } headers[] = {
		{ "FROM", "From" }, { "TO", "To" }, { "CC", "Cc" }, { "BCC", "Bcc" },
		{ "SUBJECT", "Subject" },
	};
	static const struct { const char *name; enum sk kind; } dates[] = {
		{ "BEFORE", SK_BEFORE }, { "ON", SK_ON }, { "SINCE", SK_SINCE },
		{ "SENTBEFORE", SK_SENTBEFORE }, { "SENTON", SK_SENTON },
		{ "SENTSINCE", SK_SENTSINCE },
	};
	const struct imap_arg *a;
	const char *w;

	if (depth > SEARCH_DEPTH_MAX || p->i >= p->n)
		return false;
	a = &p->a[p->i++];
	if (a->type == IMAP_ARG_LIST) {
		struct sparse sub = { a->list, a->count, 0, false };
		bool ok = parse_list(&sub, k, depth + 1);
		p->modseq |= sub.modseq;
		return ok;
	}
	if (!imap_arg_atom(a, &w))
		return false;
	for (size_t i = 0; i < sizeof(simple) / sizeof(simple[0]); i++) {
		if (mm_strcaseeq(w, simple[i].name)) {
			k->kind = simple[i].kind;
			k->flag = simple[i].flag;
			return true;
		}
	}
	for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
		if (mm_strcaseeq(w, headers[i].name)) {
			k->kind = SK_HEADER;
			k->name = xstrdup(headers[i].field);
			k->addr = !mm_strcaseeq(w, "SUBJECT");
			return take_needle(p, k);
		}
	}
	for (size_t i = 0; i < sizeof(dates) / sizeof(dates[0]); i++) {
		if (mm_strcaseeq(w, dates[i].name)) {
			k->kind = dates[i].kind;
			return take_date(p, k);
		}
	}
	if (mm_strcaseeq(w, "HEADER")) {
		const char *f;
		size_t flen;
		if (!take_string(p, &f, &flen) || flen == 0 || memchr(f, '\0', flen))
			return false;
		k->kind = SK_HEADER;
		k->name = xstrndup(f, flen);
		return take_needle(p, k);
	}
	if (mm_strcaseeq(w, "BODY") || mm_strcaseeq(w, "TEXT")) {
		k->kind = mm_strcaseeq(w, "BODY") ? SK_BODY : SK_TEXT;
		return take_needle(p, k);
	}
	if (mm_strcaseeq(w, "KEYWORD") || mm_strcaseeq(w, "UNKEYWORD")) {
		const char *kw;
		k->kind = mm_strcaseeq(w, "KEYWORD") ? SK_KEYWORD : SK_UNKEYWORD;
		if (p->i >= p->n || !imap_arg_atom(&p->a[p->i], &kw))
			return false;
		p->i++;
		k->name = xstrdup(kw);
		return true;
	}
	if (mm_strcaseeq(w, "LARGER") || mm_strcaseeq(w, "SMALLER")) {
		k->kind = mm_strcaseeq(w, "LARGER") ? SK_LARGER : SK_SMALLER;
		if (p->i >= p->n || !imap_arg_number64(&p->a[p->i], &k->num))
			return false;
		p->i++;
		return true;
	}
	if (mm_strcaseeq(w, "UID")) {
		const char *set;
		k->kind = SK_UID;
		if (p->i >= p->n || !imap_arg_atom(&p->a[p->i], &set))
			return false;
		p->i++;
		return imap_seqset_parse(&k->set, set);
	}
	if (mm_strcaseeq(w, "MODSEQ")) {
		/* MODSEQ ["/flags/\\seen" priv|shared|all] modseq: we keep
		 * one modseq per message, so the entry only has to parse */
		k->kind = SK_MODSEQ;
		if (p->i < p->n && p->a[p->i].type == IMAP_ARG_STRING) {
			const char *t;
			if (p->i + 1 >= p->n || !imap_arg_atom(&p->a[p->i + 1], &t) ||
			    (!mm_strcaseeq(t, "priv") && !mm_strcaseeq(t, "shared") &&
			    !mm_strcaseeq(t, "all")))
				return false;
			p->i += 2;
		}
		if (p->i >= p->n || !imap_arg_number64(&p->a[p->i], &k->num))
			return false;
		p->i++;
		p->modseq = true;
		return true;
	}
	if (mm_strcaseeq(w, "NOT")) {
		k->kind = SK_NOT;
		return parse_key(p, kid_add(k), depth + 1);
	}
	if (mm_strcaseeq(w, "OR")) {
		k->kind = SK_OR;
		return parse_key(p, kid_add(k), depth + 1) &&
		    parse_key(p, kid_add(k), depth + 1);
	}
	k->kind = SK_SEQ;
	return imap_seqset_parse(&k->set, w);
}

/* ---- evaluation (worker) ---- */

struct msgctx {
	struct imap_session *s;
	size_t vi;
	const struct imap_msg *m;
	bool loaded, failed;
	char *body;
	size_t blen;
	struct mail_header hdr;
	struct mail_msg *tree;
	bool have_text;
	struct mm_buf text;       /* decoded body text, folded */
	bool have_sent;
	long sent_day;
	bool sent_ok;
};

static bool
ctx_load(struct msgctx *c)
{
	if (c->loaded)
		return !c->failed;
	c->loaded = true;
	if (store_body_get(imap_store(c->s), c->m->body_id, &c->body, &c->blen) != STORE_OK) {
		c->failed = true;
		return false;
	}
	mail_header_parse(c->body, 0, c->blen, &c->hdr);
	return true;
}

static void
ctx_free(struct msgctx *c)
{
	if (c->loaded && !c->failed)
		mail_header_free(&c->hdr);
	free(c->body);
	if (c->tree != NULL)
		mail_msg_free(&c->tree);
	mm_buf_free(&c->text);
}

static bool
match_header(struct msgctx *c, const struct skey *k)
{
	if (!ctx_load(c))
		return false;
	size_t nl = strlen(k->name);
	for (size_t i = 0; i < c->hdr.n; i++) {
		const struct mail_hdr_field *f = &c->hdr.f[i];
		if (f->name_len != nl || !mm_strncaseeq(f->name, k->name, nl))
			continue;
		if (k->nlen == 0)
			return true;
		char *v = k->addr ? mail_addr_search_text(f->value, f->value_len) :
		    mail_decode_header(f->value, f->value_len);
		bool hit = mail_text_contains_folded(v, strlen(v), k->needle, k->nlen);
		free(v);
		if (hit)
			return true;
	}
	return false;
}

static bool
match_text(struct msgctx *c, const struct skey *k)
{
	if (!ctx_load(c))
		return false;
	if (!c->have_text) {
		struct mm_buf raw;
		mm_buf_init(&raw);
		c->tree = mail_mime_parse(c->body, c->blen);
		mail_text_body(c->tree, c->body, c->blen, SEARCH_TEXT_MAX_BYTES, &raw);
		mail_text_fold(raw.data ? raw.data : "", raw.len, &c->text);
		mm_buf_free(&raw);
		c->have_text = true;
	}
	if (mail_text_contains_folded(c->text.data ? c->text.data : "", c->text.len,
	    k->needle, k->nlen))
		return true;
	if (k->kind == SK_TEXT) {
		struct mm_buf h;
		bool hit;
		mm_buf_init(&h);
		mail_text_all_headers(c->tree, c->body, c->blen, SEARCH_TEXT_MAX_BYTES, &h);
		hit = mail_text_contains(h.data ? h.data : "", h.len, k->needle, k->nlen);
		mm_buf_free(&h);
		return hit;
	}
	return false;
}

static bool
sent_day(struct msgctx *c, long *day_r)
{
	if (!c->have_sent) {
		c->have_sent = true;
		if (ctx_load(c)) {
			char *d = mail_header_get(&c->hdr, "Date");
			time_t t;
			int tz;
			if (d != NULL && mail_date_parse_rfc5322(d, strlen(d), &t, &tz)) {
				c->sent_day = mail_date_day(t, tz);
				c->sent_ok = true;
			}
			free(d);
		}
	}
	*day_r = c->sent_day;
	return c->sent_ok;
}

static int
keyword_index(struct imap_session *s, const char *name)
{
	for (size_t i = 0; i < s->nkeywords && i < 64; i++)
		if (mm_strcaseeq(s->keywords[i], name))
			return (int)i;
	return -1;
}

static bool
eval(struct msgctx *c, const struct skey *k)
{
	const struct imap_msg *m = c->m;
	struct imap_session *s = c->s;
	long day;
	int ki;

	switch (k->kind) {
	case SK_AND:
		for (size_t i = 0; i < k->nkids; i++)
			if (!eval(c, &k->kids[i]))
				return false;
		return true;
	case SK_OR:
		return eval(c, &k->kids[0]) || eval(c, &k->kids[1]);
	case SK_NOT:
		return !eval(c, &k->kids[0]);
	case SK_ALL:
		return true;
	case SK_FLAG:
		return (m->flags & k->flag) != 0;
	case SK_UNFLAG:
		return (m->flags & k->flag) == 0;
	case SK_KEYWORD:
	case SK_UNKEYWORD:
		ki = keyword_index(s, k->name);
		return (ki >= 0 && (m->keywords & (1ULL << ki))) == (k->kind == SK_KEYWORD);
	case SK_NEW:
		return m->recent && !(m->flags & MSG_SEEN);
	case SK_OLD:
		return !m->recent;
	case SK_RECENT:
		return m->recent;
	case SK_SEQ:
		return imap_seqset_contains(&k->set, (uint32_t)(c->vi + 1), (uint32_t)s->nmsgs);
	case SK_UID:
		return imap_seqset_contains(&k->set, m->uid,
		    s->nmsgs ? s->msgs[s->nmsgs - 1].uid : 0);
	case SK_LARGER:
		return m->size > k->num;
	case SK_SMALLER:
		return m->size < k->num;
	case SK_BEFORE:
		return (long)(m->idate / 86400) < k->day;
	case SK_ON:
		return (long)(m->idate / 86400) == k->day;
	case SK_SINCE:
		return (long)(m->idate / 86400) >= k->day;
	case SK_SENTBEFORE:
		return sent_day(c, &day) && day < k->day;
	case SK_SENTON:
		return sent_day(c, &day) && day == k->day;
	case SK_SENTSINCE:
		return sent_day(c, &day) && day >= k->day;
	case SK_HEADER:
		return match_header(c, k);
	case SK_BODY:
	case SK_TEXT:
		return match_text(c, k);
	case SK_MODSEQ:
		return m->modseq >= k->num;
	}
	return false;
}

static void
search_work(void *arg)
{
	struct search_job *j = arg;
	struct imap_session *s = j->s;

	j->hits = xmalloc((s->nmsgs + 1) * sizeof(*j->hits));
	for (size_t i = 0; i < s->nmsgs; i++) {
		struct msgctx c;
		if (s->msgs[i].expunged)
			continue;
		memset(&c, 0, sizeof(c));
		c.s = s;
		c.vi = i;
		c.m = &s->msgs[i];
		mm_buf_init(&c.text);
		if (eval(&c, &j->root)) {
			j->hits[j->nhits++] = s->uid ? s->msgs[i].uid : (uint32_t)(i + 1);
			if (s->msgs[i].modseq > j->maxmodseq)
				j->maxmodseq = s->msgs[i].modseq;
		}
		ctx_free(&c);
	}
	imap_sync_work(s, &j->sy);
}

static void
search_done(void *arg, bool alive)
{
	struct search_job *j = arg;
	struct imap_session *s = j->s;

	if (alive) {
		struct mm_buf b;
		mm_buf_init(&b);
		mm_buf_append(&b, "* SEARCH", 8);
		for (size_t i = 0; i < j->nhits; i++)
			mm_buf_printf(&b, " %u", j->hits[i]);
		if (j->modseq && j->nhits > 0)
			mm_buf_printf(&b, " (MODSEQ %llu)", (unsigned long long)j->maxmodseq);
		mm_buf_append(&b, "\r\n", 2);
		imap_write(s, b.data, b.len);
		mm_buf_free(&b);
		if (imap_sync_finish(s, &j->sy, imap_expunge_allowed(s)))
			imap_ok(s, "Search completed");
	}
	imap_sync_free(&j->sy);
	skey_free(&j->root);
	free(j->hits);
	free(j);
}

void
cmd_search(struct imap_session *s, const struct imap_arg *args, size_t n)
{
	struct search_job *j;
	struct sparse p = { args, n, 0, false };

	if (n >= 2 && imap_arg_atom_eq(&args[0], "CHARSET")) {
		const char *cs;
		size_t cl;
		if (!imap_arg_astring(&args[1], &cs, &cl)) {
			imap_bad(s, "Invalid CHARSET");
			return;
		}
		if (!mm_strcaseeq(cs, "UTF-8") && !mm_strcaseeq(cs, "US-ASCII")) {
			imap_no(s, "[BADCHARSET (UTF-8 US-ASCII)] Unsupported charset");
			return;
		}
		p.i = 2;
	}
	j = xcalloc(1, sizeof(*j));
	j->s = s;
	if (p.i >= n || !parse_list(&p, &j->root, 0)) {
		skey_free(&j->root);
		free(j);
		imap_bad(s, "Invalid SEARCH arguments");
		return;
	}
	j->modseq = p.modseq;
	if (p.modseq)
		imap_condstore_enable(s);
	imap_sync_prepare(s, &j->sy, false);
	/* reading every body of a big mailbox is slow work: not a read
	 * that FETCH and SELECT should wait behind */
	imap_run_job(s, s->nmsgs >= IMAP_SEARCH_SLOW_MSGS && skey_reads_body(&j->root) ?
	    WORKER_LANE_SLOW : WORKER_LANE_READ, search_work, search_done, j);
}
