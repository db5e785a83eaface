/* cmd-search.c: SEARCH and UID SEARCH (RFC 3501 6.4.4): the whole key
 * grammar (flags, keywords, sequence and UID sets, sizes, internal and
 * sent dates, header fields, BODY and TEXT over decoded text, NOT, OR and
 * parenthesised lists, WITHIN's YOUNGER and OLDER (RFC 5032)), CHARSET UTF-8 / US-ASCII, and MODSEQ (RFC 7162
 * 3.1.5, answered with the highest MODSEQ of the hits).
 *
 * The one idea: the command is parsed into a key tree on the loop, then
 * jobs evaluate it over the view on a worker, in batches that yield
 * (imap_run_batched): a few hundred messages per job when bodies are
 * read, so a SEARCH BODY of a big mailbox queues behind other work
 * between batches instead of holding a thread for the whole scan. The
 * hits so far are a bitmap over the view, in the job the session owns.
 * What is searched is the view as the command found it: the session
 * applies changes (EXPUNGE, EXISTS) only after the answer, so sequence
 * numbers and UIDs stay those the client knows; a message expunged by
 * another session before its batch, whose body can no longer be read, is
 * left out whatever the keys; messages that arrive meanwhile are not
 * searched (EXISTS follows the answer). The "* SEARCH" answer is then
 * produced in batches too, each written once the output has drained.
 * A message's body is read and parsed only when a key needs it, once per
 * message, and text matching goes through src/mail's decoding and case
 * folding, so BODY/TEXT match what the user reads. SUBJECT, FROM, TO, CC,
 * BCC, HEADER Subject / Message-ID and the SENT* keys first ask the
 * message's search record (mail/cache.h, built at delivery by the same
 * calls on the same bytes; the blobs of up to 256 messages read in one
 * transaction), which costs one small read instead of the whole message;
 * a message without one (stored before it existed) is read as before.
 * The records of a mailbox are also kept in memory beside its shared view
 * (imap-searchmem.h): a SEARCH takes them from there, and the records it
 * reads from the store go there for the next one.
 * A SEARCH that would read nothing from the store (index keys, or record
 * keys whose records are all in memory, a view of at most
 * SEARCH_LOOP_MSGS, no change to read for its sync) runs the same batches
 * on the loop instead of in jobs (search_loop_ok): the two thread
 * switches and the wakeup were most of what it cost.
 * The environment variable MINIMAILD_SEARCH_SCAN makes every key read the
 * message (tests/e2e/test_search_index.py compares the two).
 *
 * RETURN (RFC 4731 ESEARCH: MIN MAX ALL COUNT, RFC 5182 SAVE, RFC 5267
 * PARTIAL) only changes what is said about the hits, so the same job
 * answers both forms; SORT and THREAD use the parser and the evaluation
 * through imap-search.h. "$" (SEARCHRES) is the saved result, kept as
 * UIDs so expunges cannot shift it. */
#include "imap/imap-search.h"
#include "imap/imap-searchmem.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mail/address.h"
#include "mail/cache.h"
#include "mail/date.h"
#include "mail/decode.h"
#include "mail/fts.h"
#include "mail/header.h"
#include "mail/mime.h"
#include "mail/sort.h"
#include "lib/metrics.h"
#include "lib/util.h"
#include "net/conn.h"

#define SEARCH_TEXT_MAX_BYTES   (4 * 1024 * 1024)   /* decoded text searched per message */
#define SEARCH_DEPTH_MAX        IMAP_NESTING_MAX
#define SEARCH_BATCH_MSGS       20000               /* evaluated per job: index keys only */
#define SEARCH_BATCH_BODY_MSGS  250                 /* ... when the program reads bodies */
#define SEARCH_BATCH_RECORD_MSGS 2560               /* ... when it reads search records only */
#define SEARCH_BATCH_BODY_BYTES (8 * 1024 * 1024)   /* ... or this much of them */
#define SEARCH_OUT_BATCH_HITS   16384               /* numbers per answer batch */
#define SEARCH_LOOP_MSGS        2000                /* answered on the loop, at most */

enum sk {
	SK_AND, SK_OR, SK_NOT, SK_ALL,
	SK_FLAG, SK_UNFLAG, SK_KEYWORD, SK_UNKEYWORD,
	SK_NEW, SK_OLD, SK_RECENT,
	SK_SEQ, SK_UID, SK_LARGER, SK_SMALLER,
	SK_BEFORE, SK_ON, SK_SINCE, SK_SENTBEFORE, SK_SENTON, SK_SENTSINCE,
	SK_HEADER, SK_BODY, SK_TEXT, SK_MODSEQ, SK_SAVED,
	SK_YOUNGER, SK_OLDER,
};

struct skey {
	enum sk kind;
	uint32_t flag;
	uint64_t num;
	long day;
	char *name;               /* header field / keyword */
	bool addr;                /* FROM/TO/CC/BCC: the address list, not the raw text */
	int sf;                   /* SK_HEADER: mail_cache_search_field, -1: none */
	char *needle;             /* folded search text */
	size_t nlen;
	struct imap_seqset set;
	struct skey *kids;        /* AND / OR / NOT */
	size_t nkids;
};

struct imap_search {
	struct skey root;
	bool modseq;              /* a MODSEQ key */
	bool seq;                 /* a sequence-set key (UIDONLY refuses it) */
};

/* A SEARCH RETURN (UPDATE) context (RFC 5267 4.3): the program and the
 * current result, as UIDs ascending. */
struct imap_search_ctx {
	struct imap_search_ctx *next;
	char *tag;
	bool uid;                 /* UID SEARCH: updates name UIDs */
	struct imap_search *q;
	uint32_t *res;
	size_t nres;
	/* CONTEXT=SORT: the result in sort order, each rec's seq its UID */
	bool sort;
	struct mail_sort_crit crit[IMAP_SORT_CRITERIA_MAX];
	size_t ncrit;
	struct mail_sort_rec **order;
	size_t norder;
};

/* What the worker found for one context: the UIDs evaluated that match
 * and those that do not (ascending, as the index is). */
struct upd_ctx {
	uint32_t *match, *nomatch;
	size_t nmatch, nnomatch;
	struct mail_sort_rec **recs;   /* sort contexts: a rec per match not in the result */
	size_t nrecs;
};

struct imap_search_upd {
	struct upd_ctx *c;        /* parallel to the session's context list */
	size_t n;
	uint32_t last_uid;        /* the view's before the changes */
	uint32_t *added;          /* per context, phase 2: new UIDs that match */
};

struct search_job {
	struct imap_session *s;
	struct imap_search *q;
	size_t nsnap;             /* the view's length when the command started */
	bool body;                /* the program reads bodies: small batches */
	bool record;              /* ... or only search records: medium ones */
	size_t pos;               /* the next view index to evaluate */
	bool evaluated;           /* all of them, and the sync read */
	uint8_t *hit;             /* hits: a bitmap over the view indexes */
	size_t nhits;
	uint64_t maxmodseq;       /* the hits' highest, for (MODSEQ n) */
	size_t opos;              /* the next view index for the answer */
	bool ret;                 /* RETURN given: answer ESEARCH */
	struct imap_searchret r;
	struct imap_sync sy;
	uint32_t *uids;           /* the hits' UIDs, for a CONTEXT=SEARCH context */
	/* The full-text index's candidates (search_fts): only these, and
	 * the UIDs below cand_from, can match; the others are skipped. */
	bool fts, fts_tried;
	uint32_t *cand;
	size_t ncand, cpos;
	uint32_t cand_from;
	struct imap_searchmem *smem;  /* the mailbox's records in memory, or NULL */
	struct imap_searchmem_ver *lv;    /* on the loop: the version that has them all */
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
	bool seq;
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
		struct sparse sub = { a->list, a->count, 0, false, false };
		bool ok = parse_list(&sub, k, depth + 1);
		p->modseq |= sub.modseq;
		p->seq |= sub.seq;
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
			k->sf = mail_cache_search_field(k->name, k->addr);
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
		k->sf = mail_cache_search_field(k->name, k->addr);
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
		if (strcmp(set, "$") == 0) {
			k->kind = SK_SAVED;
			return true;
		}
		return imap_seqset_parse(&k->set, set);
	}
	if (mm_strcaseeq(w, "YOUNGER") || mm_strcaseeq(w, "OLDER")) {
		/* WITHIN (RFC 5032): internal date against now, in seconds */
		uint32_t secs;
		k->kind = mm_strcaseeq(w, "YOUNGER") ? SK_YOUNGER : SK_OLDER;
		if (p->i >= p->n || !imap_arg_number(&p->a[p->i], &secs) || secs == 0)
			return false;
		p->i++;
		k->day = (long)(time(NULL) - (time_t)secs);   /* the cut-off, in seconds */
		return true;
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
	if (strcmp(w, "$") == 0) {
		k->kind = SK_SAVED;
		return true;
	}
	k->kind = SK_SEQ;
	p->seq = true;
	return imap_seqset_parse(&k->set, w);
}

/* ---- evaluation (worker) ---- */

struct msgctx {             /* every field above srec: ctx_init */
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
	bool srec_tried, have_srec;
	uint64_t *tally;          /* [2]: records not had / had (metrics, per batch), or NULL */
	bool prefetched;          /* blob was read with its batch (or is absent) */
	bool memrec;              /* srec is from the records in memory */
	char *blob;               /* the cache blob srec points into */
	size_t bloblen;
	struct mail_cache_search srec;
};

/* Every field before srec but hdr (filled by whoever sets loaded), one
 * store each: a memset of them was a tenth of a SEARCH from the records
 * in memory (perf: about 25 ns a message). Not the record's entries (1.5
 * KiB): whoever fills it sets what it holds. A field added above srec
 * must be set here. */
static void
ctx_init(struct msgctx *c, struct imap_session *s, size_t vi, uint64_t *tally)
{
	c->s = s;
	c->vi = vi;
	c->m = &s->msgs[vi];
	c->loaded = c->failed = false;
	c->body = NULL;
	c->blen = 0;
	c->tree = NULL;
	c->have_text = false;
	mm_buf_init(&c->text);
	c->have_sent = c->sent_ok = false;
	c->sent_day = 0;
	c->srec_tried = c->have_srec = false;
	c->tally = tally;
	c->prefetched = c->memrec = false;
	c->blob = NULL;
	c->bloblen = 0;
	c->srec.n = 0;
}

/* MINIMAILD_SEARCH_SCAN set: never use the search record (for comparing). */
static bool
search_scan_only(void)
{
	static _Atomic int v = -1;
	return mm_env_flag(&v, "MINIMAILD_SEARCH_SCAN");
}

/* The message's search record, read once; false: read the message. */
static bool
ctx_srec(struct msgctx *c)
{
	if (c->srec_tried)
		return c->have_srec;
	c->srec_tried = true;
	if (c->memrec)
		c->have_srec = true;
	else if (!search_scan_only() && !c->loaded &&
	    (c->prefetched ? c->blob != NULL :
	    store_body_cache(imap_store(c->s), c->m->body_id, &c->blob, &c->bloblen) == STORE_OK))
		c->have_srec = mail_cache_search_get(c->blob, c->bloblen, &c->srec) == 0;
	if (c->tally != NULL)
		c->tally[c->have_srec]++;
	else
		metrics_search_records(c->have_srec, !c->have_srec);
	return c->have_srec;
}

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
	if (c->loaded) {          /* what only a message read from the store has */
		if (!c->failed)
			mail_header_free(&c->hdr);
		free(c->body);
		if (c->tree != NULL)
			mail_msg_free(&c->tree);
		mm_buf_free(&c->text);
	}
	free(c->blob);
}

static bool
match_header(struct msgctx *c, const struct skey *k)
{
	int sf = k->sf;
	if (sf >= 0 && ctx_srec(c)) {
		for (size_t i = 0; i < c->srec.n; i++) {
			const struct mail_cache_search_entry *e = &c->srec.e[i];
			if ((int)e->field != sf)
				continue;
			if (k->nlen == 0 || (c->memrec ? e->len >= k->nlen &&
			    memmem(e->v, e->len, k->needle, k->nlen) != NULL :
			    mail_text_contains_folded(e->v, e->len, k->needle, k->nlen)))
				return true;
		}
		return false;
	}
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
		if (ctx_srec(c)) {
			c->sent_ok = c->srec.has_sent;
			c->sent_day = c->srec.sent_day;
		} else if (ctx_load(c)) {
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

static int
uid_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static bool
searchres_has(struct imap_session *s, uint32_t uid)
{
	return s->nsearchres > 0 &&
	    bsearch(&uid, s->searchres, s->nsearchres, sizeof(uid), uid_cmp) != NULL;
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
		return imap_msg_recent(s, m) && !(m->flags & MSG_SEEN);
	case SK_OLD:
		return !imap_msg_recent(s, m);
	case SK_RECENT:
		return imap_msg_recent(s, m);
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
	case SK_SAVED:
		return searchres_has(s, m->uid);
	case SK_YOUNGER:
		return (long)m->idate > k->day;
	case SK_OLDER:
		return (long)m->idate <= k->day;
	}
	return false;
}

/* ---- the program, for SEARCH, SORT and THREAD ---- */

struct imap_search *
imap_search_parse(const struct imap_arg *args, size_t n)
{
	struct imap_search *q = xcalloc(1, sizeof(*q));
	struct sparse p = { args, n, 0, false, false };
	if (n == 0 || !parse_list(&p, &q->root, 0)) {
		imap_search_free(&q);
		return NULL;
	}
	q->modseq = p.modseq;
	q->seq = p.seq;
	return q;
}

void
imap_search_free(struct imap_search **q)
{
	if (*q == NULL)
		return;
	skey_free(&(*q)->root);
	free(*q);
	*q = NULL;
}

bool
imap_search_has_modseq(const struct imap_search *q)
{
	return q->modseq;
}

/* Does k have a key that the search record answers? */
static bool
skey_uses_record(const struct skey *k)
{
	if ((k->kind == SK_HEADER && k->sf >= 0) ||
	    k->kind == SK_SENTBEFORE || k->kind == SK_SENTON || k->kind == SK_SENTSINCE)
		return true;
	for (size_t i = 0; i < k->nkids; i++)
		if (skey_uses_record(&k->kids[i]))
			return true;
	return false;
}

#define SEARCH_RECORD_BATCH 256   /* cache blobs read in one transaction */

/* Does k read messages beyond what their search records answer? */
static bool
skey_reads_message(const struct skey *k)
{
	if (k->kind == SK_BODY || k->kind == SK_TEXT ||
	    (k->kind == SK_HEADER && k->sf < 0))
		return true;
	for (size_t i = 0; i < k->nkids; i++)
		if (skey_reads_message(&k->kids[i]))
			return true;
	return false;
}

bool
imap_search_has_seq(const struct imap_search *q)
{
	return q->seq;
}

/* The cache blobs of the messages at[0..n) that the records in memory
 * (v, may be NULL) do not know, in one transaction; known[k] is
 * imap_searchmem_find's answer. What was read goes into sm (if not NULL)
 * as one chunk. False: nothing read. *nread_r: how many were asked for. */
static bool
search_blobs(struct imap_session *s, struct imap_searchmem *sm,
    const struct imap_searchmem_ver *v, const size_t *at, size_t n, int *known,
    char **blobs, size_t *lens, size_t *nread_r)
{
	uint64_t ids[SEARCH_RECORD_BATCH];
	uint32_t uids[SEARCH_RECORD_BATCH];
	size_t pos[SEARCH_RECORD_BATCH];
	char *got[SEARCH_RECORD_BATCH];
	size_t glen[SEARCH_RECORD_BATCH];
	size_t nu = 0;
	struct imap_searchmem_pos mpos = { 0, 0 };

	for (size_t k = 0; k < n; k++) {
		const struct imap_msg *m = &s->msgs[at[k]];
		blobs[k] = NULL;
		lens[k] = 0;
		known[k] = imap_searchmem_find_at(v, s->uidvalidity, m->uid, &mpos, NULL);
		if (known[k] < 0) {
			ids[nu] = m->body_id;
			uids[nu] = m->uid;
			pos[nu++] = k;
		}
	}
	*nread_r = nu;
	if (nu == 0)
		return true;
	if (nu == 1 && n == 1)
		return false;      /* ctx_srec reads it alone */
	if (store_body_cache_many(imap_store(s), ids, nu, got, glen) != STORE_OK)
		return false;
	if (sm != NULL) {
		/* what the view has between the one before and the last */
		size_t first = at[pos[0]];
		uint32_t lo = first > 0 ? s->msgs[first - 1].uid : 0;
		imap_searchmem_add(sm, s->uidvalidity, lo, uids[nu - 1], uids, got, glen, nu);
	}
	for (size_t i = 0; i < nu; i++) {
		blobs[pos[i]] = got[i];
		lens[pos[i]] = glen[i];
	}
	return true;
}

/* Evaluates q on the view messages at[0..n) (none expunged, n at most
 * SEARCH_RECORD_BATCH): hit[k] for at[k]. With keys the search record
 * answers, the records come from memory (v, sm: NULL if none), those it
 * does not know from their cache blobs read in one transaction. A message
 * whose body a key needs but can no longer be read (expunged by another
 * session meanwhile) does not match. Returns how many records were not in
 * memory. */
static size_t
search_some(struct imap_session *s, struct imap_search *q, struct imap_searchmem *sm,
    const struct imap_searchmem_ver *v, const size_t *at, size_t n, bool *hit)
{
	int known[SEARCH_RECORD_BATCH];
	char *blobs[SEARCH_RECORD_BATCH];
	size_t lens[SEARCH_RECORD_BATCH];
	bool have = false;
	size_t nread = n;
	struct imap_searchmem_pos pos = { 0, 0 };
	uint64_t tally[2] = { 0, 0 };

	if (skey_uses_record(&q->root) && !search_scan_only())
		have = search_blobs(s, sm, v, at, n, known, blobs, lens, &nread);
	for (size_t k = 0; k < n; k++) {
		struct msgctx c;
		ctx_init(&c, s, at[k], tally);
		if (have && known[k] > 0 &&
		    imap_searchmem_find_at(v, s->uidvalidity, c.m->uid, &pos, &c.srec) > 0) {
			c.memrec = true;
		} else if (have) {
			c.prefetched = true;
			c.blob = blobs[k];
			c.bloblen = lens[k];
		}
		hit[k] = eval(&c, &q->root) && !c.failed;
		ctx_free(&c);
	}
	metrics_search_records(tally[1], tally[0]);
	return nread;
}

size_t
imap_search_run(struct imap_session *s, struct imap_search *q, size_t *vidx)
{
	size_t n = 0;
	size_t at[SEARCH_RECORD_BATCH];
	bool hit[SEARCH_RECORD_BATCH];

	for (size_t i = 0; i < s->nmsgs;) {
		size_t nb = 0;
		for (; i < s->nmsgs && nb < SEARCH_RECORD_BATCH; i++)
			if (!s->msgs[i].expunged)
				at[nb++] = i;
		(void)search_some(s, q, NULL, NULL, at, nb, hit);
		for (size_t k = 0; k < nb; k++)
			if (hit[k])
				vidx[n++] = at[k];
	}
	return n;
}

bool
imap_search_charset(struct imap_session *s, const struct imap_arg *a)
{
	const char *cs;
	size_t cl;
	if (!imap_arg_astring(a, &cs, &cl)) {
		imap_bad(s, "Invalid CHARSET");
		return false;
	}
	if (!mm_strcaseeq(cs, "UTF-8") && !mm_strcaseeq(cs, "US-ASCII")) {
		imap_no(s, "[BADCHARSET (UTF-8 US-ASCII)] Unsupported charset");
		return false;
	}
	return true;
}

/* ---- SEARCHRES ---- */

static void
recs_free(struct mail_sort_rec **v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (v[i] != NULL)
			mail_sort_rec_free(v[i]);
		free(v[i]);
	}
	free(v);
}

static void
sctx_free(struct imap_search_ctx **c)
{
	recs_free((*c)->order, (*c)->norder);
	imap_search_free(&(*c)->q);
	free((*c)->tag);
	free((*c)->res);
	free(*c);
	*c = NULL;
}

static void
searchres_only_clear(struct imap_session *s)
{
	free(s->searchres);
	s->searchres = NULL;
	s->nsearchres = 0;
}

void
imap_search_state_clear(struct imap_session *s)
{
	searchres_only_clear(s);
	while (s->sctx != NULL) {
		struct imap_search_ctx *c = s->sctx;
		s->sctx = c->next;
		sctx_free(&c);
	}
	s->nsctx = 0;
}

void
imap_searchres_set(struct imap_session *s, const uint32_t *uids, size_t n)
{
	searchres_only_clear(s);
	if (n == 0)
		return;
	s->searchres = xmalloc(n * sizeof(*uids));
	memcpy(s->searchres, uids, n * sizeof(*uids));
	qsort(s->searchres, n, sizeof(*uids), uid_cmp);
	s->nsearchres = n;
}

bool
imap_searchres_resolve(struct imap_session *s, size_t **idx_r, size_t *n_r)
{
	size_t *out = NULL, n = 0;
	if (s->nsearchres > 0)
		out = xmalloc(s->nsearchres * sizeof(*out));
	for (size_t i = 0; i < s->nsearchres; i++) {
		size_t vi = imap_view_find(s, s->searchres[i]);
		if (vi != (size_t)-1)
			out[n++] = vi;
	}
	if (n == 0) {
		free(out);
		out = NULL;
	}
	*idx_r = out;
	*n_r = n;
	return true;
}

static void search_return_buf(struct imap_session *s, const struct imap_searchret *r,
    const uint32_t *nums, const uint32_t *uids, size_t n, const uint64_t *modseqs,
    struct mm_buf *out);

void
imap_search_return(struct imap_session *s, const struct imap_searchret *r,
    const uint32_t *nums, const uint32_t *uids, size_t n, const uint64_t *modseqs)
{
	struct mm_buf b;

	mm_buf_init(&b);
	search_return_buf(s, r, nums, uids, n, modseqs, &b);
	if (b.len > 0)
		imap_write(s, b.data, b.len);
	mm_buf_free(&b);
}

/* imap_search_return, the ESEARCH response appended to out. */
static void
search_return_buf(struct imap_session *s, const struct imap_searchret *r,
    const uint32_t *nums, const uint32_t *uids, size_t n, const uint64_t *modseqs,
    struct mm_buf *out)
{
	if (r->opts & IMAP_SR_SAVE) {
		bool *keep = xcalloc(n ? n : 1, sizeof(*keep));
		uint32_t *saved = xmalloc((n ? n : 1) * sizeof(*saved));
		size_t ns = 0;
		imap_searchret_saved(r, n, keep);
		for (size_t i = 0; i < n; i++)
			if (keep[i])
				saved[ns++] = uids[i];
		imap_searchres_set(s, saved, ns);
		free(saved);
		free(keep);
	}
	if (imap_searchret_answers(r))
		imap_esearch_write(out, s->tag, s->uid, r, nums, n, modseqs);
}

static struct imap_search_ctx *sctx_find(struct imap_session *s, const char *tag);
static void sctx_append(struct imap_session *s, struct imap_search_ctx *c);

/* ---- SEARCH ---- */

#define HIT_SET(j, i)  ((j)->hit[(i) / 8] |= (uint8_t)(1u << ((i) % 8)))
#define HIT_HAS(j, i)  (((j)->hit[(i) / 8] >> ((i) % 8)) & 1u)

/* Worker, after the last message: the sync, and what a new CONTEXT=SEARCH
 * context must see of its changes. */
static void
search_evaluated(struct imap_session *s, struct search_job *j)
{
	j->evaluated = true;
	imap_sync_work(s, &j->sy);
	if (j->ret && (j->r.opts & IMAP_SR_UPDATE)) {
		/* the context this makes sees the changes the sync brings */
		uint32_t *uids = xmalloc((j->nhits + 1) * sizeof(*uids));
		size_t k = 0;
		for (size_t i = 0; i < j->nsnap; i++)
			if (HIT_HAS(j, i))
				uids[k++] = s->msgs[i].uid;
		imap_search_update_pending(s, &j->sy, j->q, NULL, 0, uids, k);
		free(uids);
	}
}

/* The trigrams the full-text index must find for the program to match:
 * those of every BODY and TEXT needle ANDed at the top (a TEXT needle
 * only when folding it again changes nothing: the header lines are
 * matched against it folded twice). 0: the index does not help. */
static size_t
search_fts_terms(const struct skey *root, uint32_t *terms, size_t max)
{
	size_t n = 0;
	if (root->kind != SK_AND)
		return 0;
	for (size_t i = 0; i < root->nkids; i++) {
		const struct skey *k = &root->kids[i];
		if ((k->kind != SK_BODY && k->kind != SK_TEXT) || k->nlen < 3 ||
		    (k->kind == SK_TEXT && !mail_fts_fold_stable(k->needle, k->nlen)))
			continue;
		uint32_t t[MAIL_FTS_NEEDLE_TERMS];
		size_t nt = mail_fts_needle(k->needle, k->nlen, t, MAIL_FTS_NEEDLE_TERMS);
		for (size_t a = 0; a < nt && n < max; a++) {
			bool seen = false;
			for (size_t b = 0; b < n && !seen; b++)
				seen = terms[b] == t[a];
			if (!seen)
				terms[n++] = t[a];
		}
	}
	return n;
}

/* Worker, before the first batch of a program that reads bodies: ask the
 * full-text index for the candidates (MINIMAILD_SEARCH_SCAN turns it off). */
static void
search_fts(struct imap_session *s, struct search_job *j)
{
	uint32_t terms[MAIL_FTS_NEEDLE_TERMS];
	size_t nt;

	if (!skey_reads_body(&j->q->root))
		return;
	nt = search_scan_only() ? 0 :
	    search_fts_terms(&j->q->root, terms, MAIL_FTS_NEEDLE_TERMS);
	j->fts = nt > 0 && j->nsnap > 0 &&
	    store_fts_candidates(imap_store(s), s->mbox_id, s->msgs[j->nsnap - 1].uid,
	    terms, nt, &j->cand, &j->ncand, &j->cand_from) == STORE_OK;
	metrics_search_fts(j->fts);
}

/* Can the message at view index vi match (the index's candidates)? The
 * view ascends by UID, so the candidates are walked once. */
static bool
search_candidate(struct search_job *j, const struct imap_msg *m)
{
	if (!j->fts || m->uid < j->cand_from)
		return true;
	while (j->cpos < j->ncand && j->cand[j->cpos] < m->uid)
		j->cpos++;
	return j->cpos < j->ncand && j->cand[j->cpos] == m->uid;
}

/* Worker, one batch: first the messages, a bounded number per job (the
 * batch yields its thread), then the "* SEARCH" answer in pieces. */
static bool
search_batch(struct imap_session *s, void *arg, struct mm_buf *out)
{
	struct search_job *j = arg;
	size_t count = 0;

	if (!j->evaluated) {
		if (!j->fts_tried) {
			j->fts_tried = true;
			search_fts(s, j);
		}
		size_t max = j->body ? SEARCH_BATCH_BODY_MSGS :
		    j->record ? SEARCH_BATCH_RECORD_MSGS : SEARCH_BATCH_MSGS;
		uint64_t bytes = 0;
		size_t at[SEARCH_RECORD_BATCH];
		bool hit[SEARCH_RECORD_BATCH];
		/* the records in memory as they are now: what other jobs added
		 * since the last batch too */
		struct imap_searchmem_ver *v = j->lv != NULL ? j->lv :
		    j->smem ? imap_searchmem_get(j->smem) : NULL;
		while (j->pos < j->nsnap && count < max && bytes < SEARCH_BATCH_BODY_BYTES) {
			size_t nb = 0;
			for (; j->pos < j->nsnap && nb < SEARCH_RECORD_BATCH && count < max &&
			    bytes < SEARCH_BATCH_BODY_BYTES; j->pos++) {
				const struct imap_msg *m = &s->msgs[j->pos];
				if (m->expunged || !search_candidate(j, m))
					continue;
				count++;
				if (j->body)
					bytes += m->size;
				at[nb++] = j->pos;
			}
			/* records all in memory: as cheap as index keys. A batch
			 * the full-text index thinned is not one chunk of the
			 * table (a chunk holds every message of its UID range):
			 * its records are read, not kept. */
			if (search_some(s, j->q, j->fts ? NULL : j->smem, v, at, nb, hit) == 0 &&
			    j->record)
				max = SEARCH_BATCH_MSGS;
			for (size_t k = 0; k < nb; k++) {
				const struct imap_msg *m = &s->msgs[at[k]];
				if (!hit[k])
					continue;
				HIT_SET(j, at[k]);
				j->nhits++;
				if (m->modseq > j->maxmodseq)
					j->maxmodseq = m->modseq;
			}
		}
		if (v != j->lv)
			imap_searchmem_ver_unref(&v);
		if (j->pos < j->nsnap)
			return true;
		search_evaluated(s, j);
		count = 0;
	}
	if (j->ret)
		return false;     /* ESEARCH: answered by search_finish */
	if (j->opos == 0)
		mm_buf_append(out, "* SEARCH", 8);
	for (; j->opos < j->nsnap && out->len < IMAP_BATCH_BYTES && count < SEARCH_OUT_BATCH_HITS;
	    j->opos++) {
		if (!HIT_HAS(j, j->opos))
			continue;
		count++;
		mm_buf_appendc(out, ' ');
		mm_buf_append_u64(out, s->uid ? s->msgs[j->opos].uid : (uint64_t)(j->opos + 1));
	}
	if (j->opos < j->nsnap)
		return true;
	if (j->q->modseq && j->nhits > 0)
		mm_buf_printf(out, " (MODSEQ %llu)", (unsigned long long)j->maxmodseq);
	mm_buf_append(out, "\r\n", 2);
	return false;
}

static void search_tail(struct imap_session *s, void *arg, bool alive);

/* RETURN: the ESEARCH answer (and SAVE) from the hits, written paced;
 * search_tail follows. */
static void
search_return(struct imap_session *s, struct search_job *j)
{
	/* the view has not changed yet: sync comes after the answer */
	uint32_t *nums = xmalloc((j->nhits + 1) * sizeof(*nums));
	uint64_t *ms = xmalloc((j->nhits + 1) * sizeof(*ms));
	size_t k = 0;

	j->uids = xmalloc((j->nhits + 1) * sizeof(*j->uids));
	for (size_t i = 0; i < j->nsnap; i++) {
		if (!HIT_HAS(j, i))
			continue;
		const struct imap_msg *m = &s->msgs[i];
		j->uids[k] = m->uid;
		nums[k] = s->uid ? m->uid : (uint32_t)(i + 1);
		ms[k++] = m->modseq;
	}
	struct mm_buf b;
	mm_buf_init(&b);
	search_return_buf(s, &j->r, nums, j->uids, k, j->q->modseq ? ms : NULL, &b);
	free(nums);
	free(ms);
	/* IMAP4rev2 answers every SEARCH so: paced like "* SEARCH" */
	imap_write_paced(s, &b, search_tail, j);
}

/* After the answer: a CONTEXT=SEARCH context, then the sync, then OK. */
static void
search_finish(struct imap_session *s, void *arg, bool alive)
{
	struct search_job *j = arg;

	if (alive && j->ret) {
		search_return(s, j);
		return;
	}
	search_tail(s, j, alive);
}

static void
search_tail(struct imap_session *s, void *arg, bool alive)
{
	struct search_job *j = arg;

	if (alive) {
		bool noupdate = false;
		if (j->ret && (j->r.opts & IMAP_SR_UPDATE)) {
			if (s->nsctx >= IMAP_SEARCH_UPDATES_MAX || sctx_find(s, s->tag) != NULL) {
				noupdate = true;
			} else {
				/* ascending UIDs: the hits are in view order */
				struct imap_search_ctx *c = xcalloc(1, sizeof(*c));
				c->tag = xstrdup(s->tag);
				c->uid = s->uid;
				c->q = j->q;
				j->q = NULL;
				c->res = j->uids;
				c->nres = j->nhits;
				j->uids = NULL;
				sctx_append(s, c);
			}
		}
		if (imap_sync_finish(s, &j->sy, imap_expunge_allowed(s))) {
			if (noupdate)      /* RFC 5267 4.3 */
				imap_ok(s, "[NOUPDATE \"%s\"] Search completed, no updates", s->tag);
			else
				imap_ok(s, "Search completed");
		}
	}
	free(j->uids);
	imap_searchmem_ver_unref(&j->lv);
	imap_searchmem_unref(&j->smem);
	imap_sync_free(&j->sy);
	imap_search_free(&j->q);
	free(j->hit);
	free(j->cand);
	free(j);
}

/* ---- CONTEXT=SEARCH updates (RFC 5267 4.3) ---- */

static struct imap_search_ctx *
sctx_find(struct imap_session *s, const char *tag)
{
	for (struct imap_search_ctx *c = s->sctx; c != NULL; c = c->next)
		if (strcmp(c->tag, tag) == 0)
			return c;
	return NULL;
}

static void
uids_add(uint32_t **v, size_t *n, uint32_t uid)
{
	if ((*n & (*n - 1)) == 0 || *n == 0)     /* grows at powers of two */
		*v = xrealloc(*v, (*n ? *n * 2 : 8) * sizeof(**v));
	(*v)[(*n)++] = uid;
}

static bool
uids_has(const uint32_t *v, size_t n, uint32_t uid)
{
	return n > 0 && bsearch(&uid, v, n, sizeof(uid), uid_cmp) != NULL;
}

/* Worker: the sort keys of m, a new member of a sort context. */
static void
sort_rec_add(struct imap_session *s, struct upd_ctx *uc, const struct mail_sort_crit *crit,
    size_t ncrit, const struct imap_msg *m)
{
	struct mail_sort_rec *r = xcalloc(1, sizeof(*r));
	r->seq = m->uid;
	r->size = m->size;
	r->arrival = r->date = m->idate;
	if (mail_sort_needs_header(crit, ncrit)) {
		char *buf;
		struct mail_header h;
		if (imap_msg_header(s, m, &buf, &h)) {
			mail_sort_rec_fill(r, &h, crit, ncrit, IMAP_SORT_KEY_MAX_BYTES);
			mail_header_free(&h);
			free(buf);
		}
	}
	if ((uc->nrecs & (uc->nrecs - 1)) == 0)
		uc->recs = xrealloc(uc->recs, (uc->nrecs ? uc->nrecs * 2 : 1) * sizeof(*uc->recs));
	uc->recs[uc->nrecs++] = r;
}

/* Worker: judges every message of the sync's index (changed or new, not
 * yet expunged from the view) against one context's program. */
static void
upd_judge(struct imap_session *s, const struct imap_sync *sy, struct upd_ctx *uc,
    struct imap_search *q, const struct mail_sort_crit *crit, size_t ncrit,
    const uint32_t *res, size_t nres)
{
	const struct store_index *idx = sy->idx;
	size_t nnew = 0;
	for (size_t k = 0; k < idx->nmsgs; k++) {
		const struct store_msg *sm = &idx->msgs[k];
		struct imap_msg tm;
		struct msgctx mc;
		size_t vi = sm->uid <= s->last_uid ? imap_view_find(s, sm->uid) : (size_t)-1;
		if (sm->uid <= s->last_uid && (vi == (size_t)-1 || s->msgs[vi].expunged))
			continue;
		memset(&tm, 0, sizeof(tm));
		tm.uid = sm->uid;
		tm.flags = sm->flags & ~(uint32_t)MSG_RECENT;
		tm.keywords = sm->keywords;
		tm.size = sm->size;
		tm.idate = sm->internal_date;
		tm.body_id = sm->body_id;
		tm.modseq = sm->modseq;
		tm.recent = vi != (size_t)-1 ? imap_msg_recent(s, &s->msgs[vi]) : (sm->flags & MSG_RECENT) != 0;
		if (vi == (size_t)-1)
			vi = s->nmsgs + nnew++;         /* where it will be */
		memset(&mc, 0, sizeof(mc));
		mc.s = s;
		mc.vi = vi;
		mc.m = &tm;
		mm_buf_init(&mc.text);
		if (eval(&mc, &q->root)) {
			uids_add(&uc->match, &uc->nmatch, sm->uid);
			if (ncrit > 0 && !uids_has(res, nres, sm->uid))
				sort_rec_add(s, uc, crit, ncrit, &tm);
		} else {
			uids_add(&uc->nomatch, &uc->nnomatch, sm->uid);
		}
		ctx_free(&mc);
	}
}

static struct upd_ctx *
upd_grow(struct imap_session *s, struct imap_sync *sy)
{
	struct imap_search_upd *u = sy->upd;
	if (u == NULL) {
		u = sy->upd = xcalloc(1, sizeof(*u));
		u->last_uid = s->last_uid;
	}
	u->c = xrealloc(u->c, (u->n + 1) * sizeof(*u->c));
	memset(&u->c[u->n], 0, sizeof(u->c[0]));
	return &u->c[u->n++];
}

void
imap_search_update_work(struct imap_session *s, struct imap_sync *sy)
{
	if (sy->idx == NULL)
		return;
	for (struct imap_search_ctx *c = s->sctx; c != NULL; c = c->next)
		upd_judge(s, sy, upd_grow(s, sy), c->q, c->crit, c->sort ? c->ncrit : 0,
		    c->res, c->nres);
}

void
imap_search_update_pending(struct imap_session *s, struct imap_sync *sy,
    struct imap_search *q, const struct mail_sort_crit *crit, size_t ncrit,
    const uint32_t *res, size_t nres)
{
	if (sy->idx == NULL || sy->err != STORE_OK)
		return;
	upd_judge(s, sy, upd_grow(s, sy), q, crit, ncrit, res, nres);
}

/* The new context goes last: the sync's judgements are in list order. */
static void
sctx_append(struct imap_session *s, struct imap_search_ctx *c)
{
	struct imap_search_ctx **pc = &s->sctx;
	while (*pc != NULL)
		pc = &(*pc)->next;
	c->next = NULL;
	*pc = c;
	s->nsctx++;
}

void
imap_search_update_free(struct imap_sync *sy)
{
	struct imap_search_upd *u = sy->upd;
	if (u == NULL)
		return;
	for (size_t i = 0; i < u->n; i++) {
		free(u->c[i].match);
		free(u->c[i].nomatch);
		recs_free(u->c[i].recs, u->c[i].nrecs);
	}
	free(u->c);
	free(u);
	sy->upd = NULL;
}

/* "* ESEARCH (TAG "t") [UID] ADDTO|REMOVEFROM (0 set)": UIDs, or the
 * sequence numbers of the view as it is now. Position 0: SEARCH results
 * have no order to place them in. */
static void
write_update(struct imap_session *s, const struct imap_search_ctx *c, const char *what,
    const uint32_t *uids, size_t n)
{
	struct mm_buf b;
	uint32_t *nums;
	size_t k = 0;
	if (n == 0)
		return;
	nums = xmalloc(n * sizeof(*nums));
	for (size_t i = 0; i < n; i++) {
		size_t vi = imap_view_find(s, uids[i]);
		if (c->uid)
			nums[k++] = uids[i];
		else if (vi != (size_t)-1)
			nums[k++] = (uint32_t)(vi + 1);
	}
	if (k > 0) {
		mm_buf_init(&b);
		mm_buf_append(&b, "* ESEARCH (TAG ", 15);
		mail_imap_append_quoted(&b, c->tag, strlen(c->tag));
		mm_buf_printf(&b, ")%s %s (0 ", c->uid ? " UID" : "", what);
		imap_seqset_write_numbers(&b, nums, k);
		mm_buf_append(&b, ")\r\n", 3);
		imap_write(s, b.data, b.len);
		mm_buf_free(&b);
	}
	free(nums);
}

/* The result set becomes (res - del) + add; all ascending. */
static void
result_apply(struct imap_search_ctx *c, const uint32_t *del, size_t ndel,
    const uint32_t *add, size_t nadd)
{
	uint32_t *out = xmalloc((c->nres + nadd + 1) * sizeof(*out));
	size_t i = 0, j = 0, n = 0;
	while (i < c->nres || j < nadd) {
		if (j >= nadd || (i < c->nres && c->res[i] < add[j])) {
			if (!uids_has(del, ndel, c->res[i]))
				out[n++] = c->res[i];
			i++;
		} else {
			if (i < c->nres && c->res[i] == add[j])
				i++;
			out[n++] = add[j++];
		}
	}
	free(c->res);
	c->res = out;
	c->nres = n;
}

/* The number the client knows uid by (UID, or the sequence number now) */
static bool
ctx_num(struct imap_session *s, const struct imap_search_ctx *c, uint32_t uid, uint32_t *n_r)
{
	size_t vi;
	if (c->uid) {
		*n_r = uid;
		return true;
	}
	vi = imap_view_find(s, uid);
	*n_r = (uint32_t)(vi + 1);
	return vi != (size_t)-1;
}

/* One ESEARCH line of "WHAT (pos num)" items, or nothing. */
struct upd_line {
	struct mm_buf b;
	size_t items;
};

static void
line_item(struct imap_session *s, const struct imap_search_ctx *c, struct upd_line *l,
    const char *what, size_t pos, uint32_t num)
{
	if (l->items == 0) {
		mm_buf_init(&l->b);
		mm_buf_append(&l->b, "* ESEARCH (TAG ", 15);
		mail_imap_append_quoted(&l->b, c->tag, strlen(c->tag));
		mm_buf_printf(&l->b, ")%s", c->uid ? " UID" : "");
	}
	mm_buf_printf(&l->b, " %s (%zu %u)", what, pos, num);
	if (++l->items == 500) {         /* keep lines short */
		mm_buf_append(&l->b, "\r\n", 2);
		imap_write(s, l->b.data, l->b.len);
		mm_buf_free(&l->b);
		l->items = 0;
	}
}

static void
line_end(struct imap_session *s, struct upd_line *l)
{
	if (l->items > 0) {
		mm_buf_append(&l->b, "\r\n", 2);
		imap_write(s, l->b.data, l->b.len);
		mm_buf_free(&l->b);
	}
	l->items = 0;
}

/* CONTEXT=SORT removals (RFC 5267 4.3): in sort order, each position
 * counted after the ones before it are gone, so applying them in turn
 * gives the new list. */
static void
sort_remove(struct imap_session *s, struct imap_search_ctx *c, const uint32_t *del, size_t ndel)
{
	struct upd_line l = { .items = 0 };
	size_t k = 0;
	if (ndel == 0)
		return;
	for (size_t i = 0; i < c->norder; i++) {
		struct mail_sort_rec *r = c->order[i];
		uint32_t num;
		if (!uids_has(del, ndel, r->seq)) {
			c->order[k++] = r;
			continue;
		}
		if (ctx_num(s, c, r->seq, &num))
			line_item(s, c, &l, "REMOVEFROM", k + 1, num);
		mail_sort_rec_free(r);
		free(r);
	}
	c->norder = k;
	line_end(s, &l);
}

/* Additions: merged into the order; each told with its final position,
 * in increasing order, which is also right when applied one by one. */
static void
sort_add(struct imap_session *s, struct imap_search_ctx *c, struct upd_ctx *uc,
    const uint32_t *add, size_t nadd)
{
	struct mail_sort_rec **v = xmalloc((nadd + 1) * sizeof(*v));
	size_t nv = 0;
	for (size_t i = 0; i < uc->nrecs; i++) {
		if (uc->recs[i] != NULL && uids_has(add, nadd, uc->recs[i]->seq)) {
			v[nv++] = uc->recs[i];
			uc->recs[i] = NULL;         /* taken */
		}
	}
	if (nv == 0) {
		free(v);
		return;
	}
	mail_sort(v, nv, c->crit, c->ncrit);
	struct mail_sort_rec **out = xmalloc((c->norder + nv) * sizeof(*out));
	struct upd_line l = { .items = 0 };
	size_t i = 0, j = 0, n = 0;
	while (i < c->norder || j < nv) {
		if (j >= nv || (i < c->norder &&
		    mail_sort_cmp(c->order[i], v[j], c->crit, c->ncrit) < 0)) {
			out[n++] = c->order[i++];
			continue;
		}
		uint32_t num;
		if (ctx_num(s, c, v[j]->seq, &num))
			line_item(s, c, &l, "ADDTO", n + 1, num);
		out[n++] = v[j++];
	}
	line_end(s, &l);
	free(c->order);
	c->order = out;
	c->norder = n;
	free(v);
}

void
imap_search_update_notify(struct imap_session *s, struct imap_sync *sy, bool after)
{
	struct imap_search_upd *u = sy->upd;
	size_t ci = 0;

	if (u == NULL)
		return;
	for (struct imap_search_ctx *c = s->sctx; c != NULL && ci < u->n; c = c->next, ci++) {
		struct upd_ctx *uc = &u->c[ci];
		uint32_t *add = NULL, *del = NULL;
		size_t nadd = 0, ndel = 0;
		for (size_t i = 0; i < uc->nmatch; i++) {
			uint32_t uid = uc->match[i];
			if ((uid > u->last_uid) == after && !uids_has(c->res, c->nres, uid))
				uids_add(&add, &nadd, uid);
		}
		if (!after) {
			/* no longer matching, expunged, or (a whole index read)
			 * missing from the index */
			for (size_t i = 0; i < c->nres; i++) {
				uint32_t uid = c->res[i];
				bool gone = uids_has(uc->nomatch, uc->nnomatch, uid) ||
				    uids_has(sy->vanished, sy->nvanished, uid);
				if (!gone && sy->full)
					gone = !uids_has(uc->match, uc->nmatch, uid);
				if (!gone) {
					size_t vi = imap_view_find(s, uid);
					gone = vi == (size_t)-1 || s->msgs[vi].expunged;
				}
				if (gone)
					uids_add(&del, &ndel, uid);
			}
			if (c->sort)
				sort_remove(s, c, del, ndel);
			else
				write_update(s, c, "REMOVEFROM", del, ndel);
		}
		if (c->sort)
			sort_add(s, c, uc, add, nadd);
		else
			write_update(s, c, "ADDTO", add, nadd);
		result_apply(c, del, ndel, add, nadd);
		free(add);
		free(del);
	}
}

bool
imap_sort_ctx_add(struct imap_session *s, struct imap_search **q,
    const struct mail_sort_crit *crit, size_t ncrit, struct mail_sort_rec ***recs,
    size_t n)
{
	size_t nsort = 0;
	for (struct imap_search_ctx *c = s->sctx; c != NULL; c = c->next)
		nsort += c->sort;
	if (s->nsctx >= IMAP_SEARCH_UPDATES_MAX || nsort >= IMAP_SORT_UPDATES_MAX ||
	    sctx_find(s, s->tag) != NULL || ncrit > IMAP_SORT_CRITERIA_MAX)
		return false;
	struct imap_search_ctx *c = xcalloc(1, sizeof(*c));
	c->tag = xstrdup(s->tag);
	c->uid = s->uid;
	c->q = *q;
	*q = NULL;
	c->sort = true;
	memcpy(c->crit, crit, ncrit * sizeof(*crit));
	c->ncrit = ncrit;
	c->order = *recs;
	c->norder = n;
	*recs = NULL;
	c->res = xmalloc((n + 1) * sizeof(*c->res));
	for (size_t i = 0; i < n; i++)
		c->res[i] = c->order[i]->seq;
	c->nres = n;
	qsort(c->res, n, sizeof(*c->res), uid_cmp);
	sctx_append(s, c);
	return true;
}

void
cmd_cancelupdate(struct imap_session *s, const struct imap_arg *args, size_t n)
{
	if (n == 0) {
		imap_bad(s, "CANCELUPDATE needs context tags");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const char *t;
		size_t len;
		if (!imap_arg_string(&args[i], &t, &len) || sctx_find(s, t) == NULL) {
			imap_bad(s, "Unknown update context");
			return;
		}
	}
	for (size_t i = 0; i < n; i++) {
		const char *t;
		size_t len;
		(void)imap_arg_string(&args[i], &t, &len);
		for (struct imap_search_ctx **pc = &s->sctx; *pc != NULL; pc = &(*pc)->next) {
			if (strcmp((*pc)->tag, t) == 0) {
				struct imap_search_ctx *c = *pc;
				*pc = c->next;
				sctx_free(&c);
				s->nsctx--;
				break;
			}
		}
	}
	imap_ok(s, "Updates cancelled");
}

/* NEW, OLD or RECENT anywhere in the tree under k? */
static bool
skey_uses_recent(const struct skey *k)
{
	if (k->kind == SK_NEW || k->kind == SK_OLD || k->kind == SK_RECENT)
		return true;
	for (size_t i = 0; i < k->nkids; i++)
		if (skey_uses_recent(&k->kids[i]))
			return true;
	return false;
}

bool
imap_search_uses_recent(const struct imap_search *q)
{
	return skey_uses_recent(&q->root);
}

/* Can the SEARCH be answered on the loop, without a worker round trip
 * (two thread switches and a wakeup, most of what a SEARCH of index keys
 * costs)? When it reads nothing from the store: no body or header it
 * must read, no change to read for the sync, no UPDATE context to judge
 * changes for, a view of at most SEARCH_LOOP_MSGS messages, and, for
 * keys the search record answers, every message's record in memory (that
 * version is held, so none can go meanwhile: j->lv). */
static bool
search_loop_ok(struct imap_session *s, struct search_job *j)
{
	if (j->body || s->nmsgs > SEARCH_LOOP_MSGS || j->sy.wait ||
	    (j->sy.want && j->sy.delta == NULL) || (j->ret && (j->r.opts & IMAP_SR_UPDATE)))
		return false;
	if (!j->record)
		return true;
	struct imap_searchmem_ver *v = j->smem ? imap_searchmem_get(j->smem) : NULL;
	struct imap_searchmem_pos pos = { 0, 0 };
	for (size_t i = 0; v != NULL && i < s->nmsgs; i++) {
		if (!s->msgs[i].expunged &&
		    imap_searchmem_find_at(v, s->uidvalidity, s->msgs[i].uid, &pos, NULL) != 1)
			imap_searchmem_ver_unref(&v);
	}
	j->lv = v;
	return v != NULL;
}

/* The whole SEARCH on the loop: search_batch's pieces written as they
 * come (at most SEARCH_LOOP_MSGS numbers), then search_finish. */
static void
search_on_loop(struct imap_session *s, struct search_job *j)
{
	struct mm_buf out;
	bool more;
	mm_buf_init(&out);
	do {
		more = search_batch(s, j, &out);
		if (out.len > 0)
			imap_write(s, out.data, out.len);
		out.len = 0;
	} while (more);
	mm_buf_free(&out);
	search_finish(s, j, true);
}

void
cmd_search(struct imap_session *s, const struct imap_arg *args, size_t n)
{
	struct search_job *j;
	struct imap_searchret r;
	bool ret = false;
	size_t i = 0;

	if (n >= 2 && imap_arg_atom_eq(&args[0], "RETURN")) {
		if (args[1].type != IMAP_ARG_LIST ||
		    !imap_searchret_parse(args[1].list, args[1].count, &r)) {
			imap_bad(s, "Invalid SEARCH RETURN options");
			return;
		}
		ret = true;
		i = 2;
	}
	if (n >= i + 2 && imap_arg_atom_eq(&args[i], "CHARSET") && s->enabled_utf8) {
		/* RFC 6855 3: after ENABLE UTF8=ACCEPT, no CHARSET */
		imap_bad(s, "SEARCH CHARSET is not allowed after ENABLE UTF8=ACCEPT");
		return;
	}
	if (n >= i + 2 && imap_arg_atom_eq(&args[i], "CHARSET")) {
		if (!imap_search_charset(s, &args[i + 1])) {
			if (ret && (r.opts & IMAP_SR_SAVE))
				searchres_only_clear(s);
			return;
		}
		i += 2;
	}
	j = xcalloc(1, sizeof(*j));
	j->s = s;
	j->q = imap_search_parse(args + i, n - i);
	if (j->q == NULL) {
		/* RFC 5182 2.1: a failed SEARCH SAVE empties "$" */
		if (ret && (r.opts & IMAP_SR_SAVE))
			searchres_only_clear(s);
		free(j);
		imap_bad(s, "Invalid SEARCH arguments");
		return;
	}
	if (imap_rev2(s) && imap_search_uses_recent(j->q)) {
		if (ret && (r.opts & IMAP_SR_SAVE))
			searchres_only_clear(s);
		imap_search_free(&j->q);
		free(j);
		imap_bad(s, "NEW, OLD and RECENT are not IMAP4rev2 search keys");
		return;
	}
	if (!ret && imap_rev2(s)) {
		/* RFC 9051 6.4.4: ESEARCH is the answer, ALL when no RETURN */
		memset(&r, 0, sizeof(r));
		r.opts = IMAP_SR_ALL;
		ret = true;
	}
	if (imap_search_has_seq(j->q) && s->uidonly) {
		/* RFC 9586 3: sequence numbers in UID SEARCH's keys too */
		imap_search_free(&j->q);
		free(j);
		imap_uid_required(s);
		return;
	}
	j->ret = ret;
	if (ret)
		j->r = r;
	if (j->q->modseq)
		imap_condstore_enable(s);
	imap_sync_prepare(s, &j->sy, false);
	j->nsnap = s->nmsgs;
	if (search_scan_only()) {
		j->body = skey_reads_body(&j->q->root);
	} else {
		j->body = skey_reads_message(&j->q->root);
		j->record = !j->body && skey_uses_record(&j->q->root);
		if (skey_uses_record(&j->q->root))
			j->smem = imap_view_searchmem(s);
	}
	j->hit = xcalloc(j->nsnap / 8 + 1, 1);
	if (search_loop_ok(s, j)) {
		search_on_loop(s, j);
		return;
	}
	/* reading every body of a big mailbox is slow work: not a read
	 * that FETCH and SELECT should wait behind */
	imap_run_batched(s, s->nmsgs >= IMAP_SEARCH_SLOW_MSGS && j->body ?
	    WORKER_LANE_SLOW : WORKER_LANE_READ, search_batch, search_finish, j);
}
