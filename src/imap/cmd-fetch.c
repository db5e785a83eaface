/* cmd-fetch.c: FETCH and UID FETCH (RFC 3501 6.4.5): FLAGS, UID,
 * INTERNALDATE, RFC822.SIZE, ENVELOPE, BODY, BODYSTRUCTURE, RFC822,
 * RFC822.HEADER, RFC822.TEXT, BODY[section]<partial> and BODY.PEEK,
 * BINARY[n]<partial>, BINARY.PEEK and BINARY.SIZE (RFC 3516), and the
 * ALL / FAST / FULL macros; MODSEQ and the CHANGEDSINCE and VANISHED
 * modifiers (RFC 7162). A message expunged by another session whose
 * EXPUNGE this session may not send yet is left out and the command ends
 * in NO [EXPUNGEISSUED] (RFC 2180 4.1.2, RFC 9051 7.1).
 *
 * The one idea: a FETCH is a series of jobs, each rendering a batch of
 * messages into a buffer on a worker (reading bodies and the cache blob
 * from the store, cutting sections with src/mail); the loop writes each
 * batch and starts the next only when the output has drained below the
 * low watermark, so FETCH 1:* on a big mailbox never sits in memory at
 * once. Structure items come from the cache blob written at delivery;
 * only a message without a usable blob is parsed again, and, in an
 * IMAP4rev2 session, one with a message/global part (RFC 9051 7.5.2: see
 * render_msg). The worker reads
 * the view (s->msgs), which the loop does not change while a job runs.
 * A message over FETCH_STREAM_BYTES is not read whole when its blob gives
 * the ranges (RFC822*, BODY[], BODY[TEXT], BODY[n], BODY[n.MIME],
 * <partial>): its literal is a hole that later jobs fill a chunk at a
 * time (fetch-stream.c); HEADER.FIELDS reads only the part's header.
 * BINARY still reads it whole.
 *
 * A FETCH of items the view holds alone (UID, FLAGS, INTERNALDATE,
 * RFC822.SIZE, MODSEQ) needs no store: it is rendered on the loop, any
 * number of messages, FETCH_LOOP_MSGS a turn (fetch_view_chunk, no printf),
 * each chunk written once the output has drained to the low watermark, so
 * FETCH 1:* of 50,000 messages neither holds the loop for long nor more
 * output than a batch above the watermarks. */
#include "imap/imap-common.h"
#include "imap/imap-bodycache.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/membudget.h"
#include "mail/cache.h"
#include "mail/date.h"
#include "mail/header.h"
#include "mail/mime.h"
#include "net/conn.h"
#include "imap/fetch-stream.h"

#define FETCH_BATCH_BYTES  (256 * 1024)
#define FETCH_BATCH_MSGS   2000
#define FETCH_ITEMS_MAX    64
#define FETCH_SEEN_TXN_MSGS 5000   /* \Seen set in one transaction, at most */
#define FETCH_LOOP_MSGS    2000   /* view-only FETCH: messages per loop turn, at most */
#define FETCH_CACHED_MSGS  16     /* FETCH of cached bodies on the loop, at most */

enum fi_kind {
	FI_FLAGS, FI_UID, FI_INTERNALDATE, FI_RFC822_SIZE, FI_ENVELOPE,
	FI_BODY, FI_BODYSTRUCTURE, FI_RFC822, FI_RFC822_HEADER, FI_RFC822_TEXT,
	FI_SECTION, FI_MODSEQ,
	FI_BINARY, FI_BINARY_SIZE,    /* RFC 3516 */
};

struct fetch_item {
	enum fi_kind kind;
	bool peek;
	struct mail_section sec;
	char *name;               /* response name: "BODY[1.MIME]<0>" */
	bool partial;
	uint64_t poff, plen;
};

struct imap_fetch {
	struct imap_session *s;
	struct fetch_item items[FETCH_ITEMS_MAX];
	size_t nitems;
	bool need_body, need_struct, sets_seen;
	bool need_parse;          /* BINARY: encodings, which the cache lacks */
	bool need_tree;           /* BODY, BODYSTRUCTURE, sections: the part tree */
	bool global;              /* IMAP4rev2: message/global is a message */
	size_t *idx;              /* view indexes to fetch */
	size_t n, pos;
	struct mm_buf out;
	int err;
	bool waiting;             /* for on_drained */
	uint64_t changedsince;    /* CHANGEDSINCE: only messages above it */
	char *set;                /* the UID set, for VANISHED */
	bool vanished;            /* VANISHED: first VANISHED (EARLIER) */
	size_t nexpunged;         /* messages left out: gone from the store */
	bool unknown_cte;         /* BINARY of a part we cannot decode */
	bool *newseen;            /* [n]: this FETCH set \Seen (show FLAGS) */
	/* a large body's literal being streamed (fetch-stream.c) */
	struct fetch_stream *hole;    /* the literal being filled */
	struct mail_cache *hcache;    /* its message's cache, for the rest */
	size_t hitem;             /* the item after the literal */
	bool hflags_done;
	bool broken;              /* the body could not be read mid-literal */
	bool on_loop;             /* rendered on the loop: bodies from the cache */
	char *keep;               /* a body read for the cache (put on the loop) */
	size_t keeplen;
	uint64_t keep_id;
};

enum { RENDER_OK, RENDER_GONE, RENDER_HOLE };

static void
fetch_ctx_free(struct imap_fetch *f)
{
	for (size_t i = 0; i < f->nitems; i++) {
		if (f->items[i].kind == FI_SECTION || f->items[i].kind == FI_BINARY ||
		    f->items[i].kind == FI_BINARY_SIZE)
			mail_section_free(&f->items[i].sec);
		free(f->items[i].name);
	}
	free(f->idx);
	free(f->newseen);
	free(f->set);
	fetch_stream_free(&f->hole);
	if (f->hcache != NULL)
		mail_cache_free(&f->hcache);
	free(f->keep);
	mm_buf_free(&f->out);
	free(f);
}

void
imap_fetch_free(struct imap_session *s)
{
	if (s->fetch != NULL) {
		fetch_ctx_free(s->fetch);
		s->fetch = NULL;
	}
}

/* ---- parsing the item list ---- */

static bool
add_item(struct imap_fetch *f, enum fi_kind kind)
{
	for (size_t i = 0; i < f->nitems; i++)
		if (f->items[i].kind == kind && kind != FI_SECTION)
			return true;
	if (f->nitems >= FETCH_ITEMS_MAX)
		return false;
	memset(&f->items[f->nitems], 0, sizeof(f->items[0]));
	f->items[f->nitems++].kind = kind;
	switch (kind) {
	case FI_BODY: case FI_BODYSTRUCTURE:
		f->need_tree = true;
		/* FALLTHROUGH */
	case FI_ENVELOPE:
		f->need_struct = true;
		break;
	case FI_RFC822: case FI_RFC822_TEXT:
		f->sets_seen = true;
		/* FALLTHROUGH */
	case FI_RFC822_HEADER:
		f->need_body = true;
		break;
	default:
		break;
	}
	return true;
}

/* BODY[] / BODY.PEEK[] (partial or not): the whole message as stored */
static bool
section_whole(const struct fetch_item *it)
{
	return it->kind == FI_SECTION && it->sec.kind == MAIL_SECTION_ALL && it->sec.nparts == 0;
}

/* "BODY[...]<n.m>" / "BODY.PEEK[...]", and RFC 3516's "BINARY[n]<n.m>",
 * "BINARY.PEEK[n]", "BINARY.SIZE[n]" */
static bool
parse_section(struct imap_fetch *f, const char *a, size_t len)
{
	static const struct { const char *pre; enum fi_kind kind; bool peek; } pres[] = {
		{ "BODY[", FI_SECTION, false }, { "BODY.PEEK[", FI_SECTION, true },
		{ "BINARY[", FI_BINARY, false }, { "BINARY.PEEK[", FI_BINARY, true },
		{ "BINARY.SIZE[", FI_BINARY_SIZE, true },
	};
	bool peek = false;
	size_t p = 0, k;
	enum fi_kind kind = FI_SECTION;
	for (k = 0; k < sizeof(pres) / sizeof(pres[0]); k++) {
		size_t pl = strlen(pres[k].pre);
		if (len >= pl && mm_strncaseeq(a, pres[k].pre, pl)) {
			peek = pres[k].peek;
			p = pl;
			kind = pres[k].kind;
			break;
		}
	}
	if (k == sizeof(pres) / sizeof(pres[0]))
		return false;
	const char *close = memchr(a + p, ']', len - p);
	if (close == NULL)
		return false;
	size_t slen = (size_t)(close - (a + p));
	const char *rest = close + 1;
	size_t rlen = len - (size_t)(rest - a);
	if (f->nitems >= FETCH_ITEMS_MAX)
		return false;
	struct fetch_item *it = &f->items[f->nitems];
	memset(it, 0, sizeof(*it));
	if (mail_section_parse(a + p, slen, &it->sec) != MAIL_SECTION_OK ||
	    (kind != FI_SECTION && it->sec.kind != MAIL_SECTION_ALL)) {
		/* section-binary is part numbers only (RFC 3516 4.2) */
		mail_section_free(&it->sec);
		return false;
	}
	if (rlen > 0 && kind == FI_BINARY_SIZE)
		goto bad;
	if (rlen > 0) {
		/* <offset.length> */
		unsigned long long o, l;
		int used = 0;
		char tmp[64];
		if (rlen >= sizeof(tmp))
			goto bad;
		memcpy(tmp, rest, rlen);
		tmp[rlen] = '\0';
		if (sscanf(tmp, "<%llu.%llu>%n", &o, &l, &used) != 2 || (size_t)used != rlen ||
		    tmp[1] < '0' || tmp[1] > '9' || l == 0)
			goto bad;
		it->partial = true;
		it->poff = o;
		it->plen = l;
	}
	it->kind = kind;
	it->peek = peek;
	char *canon = mail_section_format(&it->sec);
	const char *word = kind == FI_SECTION ? "BODY" : kind == FI_BINARY ? "BINARY" :
	    "BINARY.SIZE";
	if (it->partial)
		it->name = xasprintf("%s[%s]<%llu>", word, canon, (unsigned long long)it->poff);
	else
		it->name = xasprintf("%s[%s]", word, canon);
	free(canon);
	f->nitems++;
	f->need_body = true;
	/* BODY[] and BODY[]<n.m> are the body itself: no tree, no blob */
	if (!section_whole(it)) {
		f->need_struct = true;
		f->need_tree = true;
	}
	if (kind != FI_SECTION)
		f->need_parse = true;
	if (!peek)
		f->sets_seen = true;
	return true;
bad:
	mail_section_free(&it->sec);
	return false;
}

/* "(CHANGEDSINCE modseq [VANISHED])" (RFC 7162 3.1.4, 3.2.6) */
static bool
fetch_modifiers(struct imap_fetch *f, const struct imap_arg *a)
{
	struct imap_session *s = f->s;
	bool vanished = false;
	if (a->type != IMAP_ARG_LIST || a->count == 0)
		return false;
	for (size_t i = 0; i < a->count; i++) {
		const struct imap_arg *m = &a->list[i];
		if (imap_arg_atom_eq(m, "CHANGEDSINCE") && i + 1 < a->count &&
		    imap_arg_number64(&a->list[i + 1], &f->changedsince) &&
		    f->changedsince != 0) {
			i++;
			continue;
		}
		if (imap_arg_atom_eq(m, "VANISHED") && s->uid && s->qresync) {
			vanished = true;
			continue;
		}
		return false;
	}
	if (f->changedsince == 0)
		return false;
	f->vanished = vanished;
	/* CHANGEDSINCE implies MODSEQ and enables CONDSTORE */
	return add_item(f, FI_MODSEQ);
}

static bool
parse_item(struct imap_fetch *f, const struct imap_arg *a)
{
	static const struct { const char *name; enum fi_kind kind; } simple[] = {
		{ "FLAGS", FI_FLAGS }, { "UID", FI_UID },
		{ "INTERNALDATE", FI_INTERNALDATE }, { "RFC822.SIZE", FI_RFC822_SIZE },
		{ "ENVELOPE", FI_ENVELOPE }, { "BODY", FI_BODY },
		{ "BODYSTRUCTURE", FI_BODYSTRUCTURE }, { "RFC822", FI_RFC822 },
		{ "RFC822.HEADER", FI_RFC822_HEADER }, { "RFC822.TEXT", FI_RFC822_TEXT },
		{ "MODSEQ", FI_MODSEQ },
	};
	const char *s;
	if (!imap_arg_atom(a, &s))
		return false;
	for (size_t i = 0; i < sizeof(simple) / sizeof(simple[0]); i++)
		if (mm_strcaseeq(s, simple[i].name))
			return add_item(f, simple[i].kind);
	if (mm_strcaseeq(s, "ALL") || mm_strcaseeq(s, "FAST") || mm_strcaseeq(s, "FULL")) {
		bool ok = add_item(f, FI_FLAGS) && add_item(f, FI_INTERNALDATE) &&
		    add_item(f, FI_RFC822_SIZE);
		if (!mm_strcaseeq(s, "FAST"))
			ok = ok && add_item(f, FI_ENVELOPE);
		if (mm_strcaseeq(s, "FULL"))
			ok = ok && add_item(f, FI_BODY);
		return ok;
	}
	return parse_section(f, s, a->len);
}

/* ---- rendering one message (worker) ---- */

/* Room put_view_item needs, its flag list aside */
#define VIEW_ITEM_MAX_BYTES (16 + MAIL_DATE_IMAP_LEN + MM_U64_DIGITS_MAX)

/* One of the items the view holds (UID, FLAGS, INTERNALDATE, RFC822.SIZE,
 * MODSEQ) at p, after a space if sep; p has VIEW_ITEM_MAX_BYTES of room,
 * and imap_flags_max(s) more for FLAGS. Returns the end. No printf: FETCH
 * 1:* writes these by the ten thousand. */
static char *
put_view_item(const struct imap_session *s, char *p, enum fi_kind kind,
    const struct imap_msg *m, bool sep)
{
	if (sep)
		*p++ = ' ';
	switch (kind) {
	case FI_UID:
		memcpy(p, "UID ", 4);
		return mm_put_u64(p + 4, m->uid);
	case FI_FLAGS:
		memcpy(p, "FLAGS ", 6);
		return imap_put_flags(s, p + 6, m);
	case FI_INTERNALDATE:
		memcpy(p, "INTERNALDATE \"", 14);
		p += 14;
		mail_date_format_imap(m->idate, 0, p, MAIL_DATE_IMAP_LEN + 1);
		p += strlen(p);
		*p++ = '"';
		return p;
	case FI_RFC822_SIZE:
		memcpy(p, "RFC822.SIZE ", 12);
		return mm_put_u64(p + 12, m->size);
	case FI_MODSEQ:
		memcpy(p, "MODSEQ (", 8);
		p = mm_put_u64(p + 8, m->modseq);
		*p++ = ')';
		return p;
	default:
		assert(!"not an item of the view");
		return p;
	}
}

static void
append_view_item(const struct imap_session *s, struct mm_buf *b, enum fi_kind kind,
    const struct imap_msg *m, bool sep)
{
	mm_buf_reserve(b, VIEW_ITEM_MAX_BYTES + (kind == FI_FLAGS ? imap_flags_max(s) : 0));
	b->len = (size_t)(put_view_item(s, b->data + b->len, kind, m, sep) - b->data);
}

static void
append_literal(struct mm_buf *b, const char *data, size_t len)
{
	mm_buf_printf(b, "{%zu}\r\n", len);
	mm_buf_append(b, data, len);
}

static void
append_partial(struct mm_buf *b, const struct fetch_item *it, const char *data, size_t len)
{
	if (it->partial) {
		if (it->poff >= len) {
			len = 0;
		} else {
			data += it->poff;
			len -= (size_t)it->poff;
			if (len > it->plen)
				len = (size_t)it->plen;
		}
	}
	/* RFC 3516 4.2: content with NUL goes out as a literal8 */
	if (it->kind == FI_BINARY && memchr(data, '\0', len) != NULL)
		mm_buf_appendc(b, '~');
	append_literal(b, data, len);
}

/* Does the tree hold a message/global part? */
static bool
has_global(const struct mail_msg *m)
{
	for (const struct mail_part *p = m->root; p != NULL; p = mail_part_next(p))
		if (strcmp(p->type, "message") == 0 && strcmp(p->subtype, "global") == 0)
			return true;
	return false;
}

/* The literal of a streamed message's range [off, off + len) after the
 * item's <partial>: true when it left a hole to fill (fetch-stream.c). */
static bool
stream_literal(struct imap_fetch *f, const struct fetch_item *it,
    const struct imap_msg *m, uint64_t off, uint64_t len)
{
	if (it != NULL && it->partial) {
		if (it->poff >= len) {
			len = 0;
		} else {
			off += it->poff;
			len -= it->poff;
			if (len > it->plen)
				len = it->plen;
		}
	}
	if (!fetch_stream_literal(imap_store(f->s), &f->out, m->body_id, off, len, &f->hole))
		f->broken = true;
	return f->hole != NULL;
}

/* Renders message i of the view: RENDER_GONE if it cannot be read
 * (expunged), RENDER_HOLE when it stopped at a streamed literal (the
 * next call, once the hole is filled, renders the rest). */
static int
render_msg(struct imap_fetch *f, size_t vi)
{
	struct imap_session *s = f->s;
	struct imap_msg *m = &s->msgs[vi];
	struct mm_buf *b = &f->out;
	char *body = NULL, *blob = NULL;
	size_t blen = 0, bloblen = 0;
	struct mail_cache *cache = NULL;
	struct mail_msg *parsed = NULL;
	const struct mail_msg *tree = NULL;
	bool add_flags = false, cached = false;
	bool stream = false, resumed = false, flags_done = false;
	size_t first = 0;
	const char *sep = "";
	int err;

	if (f->hcache != NULL) {
		/* after a streamed literal: the rest of the items */
		cache = f->hcache;
		f->hcache = NULL;
		tree = cache->tree;
		first = f->hitem;
		flags_done = f->hflags_done;
		sep = " ";
		stream = resumed = true;
		goto render;
	}
	if (m->expunged)
		return RENDER_GONE;
	if (f->changedsince != 0 && m->modseq <= f->changedsince)
		return RENDER_OK;
	if (f->need_body && f->on_loop) {
		/* fetch_next checked it is there */
		const char *data;
		if (!imap_bodycache_get(m->body_id, &data, &blen))
			return RENDER_GONE;
		cached = true;
		body = (char *)data;
	} else if (f->need_body && !f->need_parse && fetch_stream_wanted(m->size)) {
		/* a large body: its literals are read in chunks, its structure
		 * comes from the cache blob (none, or rev2 and message/global
		 * inside: read whole and parsed, below) */
		if (store_body_cache(imap_store(s), m->body_id, &blob, &bloblen) == STORE_OK &&
		    mail_cache_parse(blob, bloblen, &cache) == 0 &&
		    cache->msg_size == m->size &&
		    !(f->global && f->need_tree && has_global(cache->tree))) {
			tree = cache->tree;
			stream = true;
		} else if (cache != NULL) {
			mail_cache_free(&cache);
		}
		free(blob);
		blob = NULL;
	}
	if (f->need_body && !stream && !cached) {
		err = store_body_get(imap_store(s), m->body_id, &body, &blen);
		if (err != STORE_OK)
			return RENDER_GONE;
		/* [limits] max_memory counts it while it is held (a large one
		 * is streamed unless an item needs it whole: fetch-stream.c) */
		membudget_charge(blen);
	}
	unsigned opts = f->global ? MAIL_PARSE_GLOBAL : 0;
	if (f->need_parse) {
		parsed = mail_mime_parse_opts(body, blen, opts);
		tree = parsed;
	} else if (f->need_struct && !stream) {
		/* IMAP4rev2 (RFC 9051 7.5.2) describes message/global as an
		 * encapsulated message, IMAP4rev1 and the cache blob as a
		 * leaf. The cache stays rev1's (one blob, valid for every
		 * session and for SEARCH, no new blob version); a rev2
		 * session that wants the tree of a message with a
		 * message/global part parses it again here, on the worker.
		 * Such mail is rare (RFC 6532 bounces and forwards of
		 * EAI mail); its cost is one body read and one parse per
		 * message per FETCH, as for a message without a blob. */
		if (store_body_cache(imap_store(s), m->body_id, &blob, &bloblen) == STORE_OK &&
		    mail_cache_parse(blob, bloblen, &cache) == 0 &&
		    cache->msg_size == m->size &&
		    !(f->global && f->need_tree && has_global(cache->tree))) {
			tree = cache->tree;
		} else {
			if (cache != NULL)
				mail_cache_free(&cache);
			if (body == NULL &&
			    store_body_get(imap_store(s), m->body_id, &body, &blen) != STORE_OK) {
				free(blob);
				return RENDER_GONE;
			}
			if (!f->need_body)
				membudget_charge(blen);
			parsed = mail_mime_parse_opts(body, blen, opts);
			tree = parsed;
		}
	}
render:
	if (f->newseen != NULL && f->newseen[f->pos])
		add_flags = true;

	if (!resumed) {
		imap_append_fetch_open(s, b, vi);
		/* UIDONLY: the UID is the response's own; UID only when asked */
		if ((s->uid || s->qresync) && !s->uidonly) {
			mm_buf_append(b, "UID ", 4);
			mm_buf_append_u64(b, m->uid);
			sep = " ";
		}
	}
	size_t i;
	for (i = first; i < f->nitems; i++) {
		const struct fetch_item *it = &f->items[i];
		switch (it->kind) {
		case FI_UID:
			if ((!s->uid && !s->qresync) || s->uidonly) {
				append_view_item(s, b, it->kind, m, *sep != '\0');
				sep = " ";
			}
			continue;
		case FI_FLAGS:
			append_view_item(s, b, it->kind, m, *sep != '\0');
			flags_done = true;
			break;
		case FI_INTERNALDATE:
		case FI_RFC822_SIZE:
		case FI_MODSEQ:
			append_view_item(s, b, it->kind, m, *sep != '\0');
			break;
		case FI_ENVELOPE:
			mm_buf_printf(b, "%sENVELOPE ", sep);
			if (cache != NULL)
				mm_buf_printf(b, "%s", cache->envelope);
			else
				mail_imap_envelope(b, tree->root->env);
			break;
		case FI_BODY:
		case FI_BODYSTRUCTURE: {
			bool ext = it->kind == FI_BODYSTRUCTURE;
			mm_buf_printf(b, "%s%s ", sep, ext ? "BODYSTRUCTURE" : "BODY");
			if (cache != NULL)
				mm_buf_printf(b, "%s", ext ? cache->bodystructure : cache->body);
			else
				mail_imap_bodystructure(b, tree->root, ext);
			break;
		}
		case FI_RFC822:
			mm_buf_printf(b, "%sRFC822 ", sep);
			if (!stream)
				append_literal(b, body, blen);
			else if (stream_literal(f, NULL, m, 0, m->size))
				goto hole;
			break;
		case FI_RFC822_HEADER:
		case FI_RFC822_TEXT: {
			if (stream) {
				uint64_t hend = tree->root->body_off <= m->size ?
				    tree->root->body_off : m->size;
				bool hdr = it->kind == FI_RFC822_HEADER;
				mm_buf_printf(b, "%s%s ", sep, hdr ? "RFC822.HEADER" : "RFC822.TEXT");
				if (stream_literal(f, NULL, m, hdr ? 0 : hend,
				    hdr ? hend : m->size - hend))
					goto hole;
				break;
			}
			struct mail_header h;
			mail_header_parse(body, 0, blen, &h);
			size_t hend = h.body_off <= blen ? h.body_off : blen;
			mail_header_free(&h);
			if (it->kind == FI_RFC822_HEADER) {
				mm_buf_printf(b, "%sRFC822.HEADER ", sep);
				append_literal(b, body, hend);
			} else {
				mm_buf_printf(b, "%sRFC822.TEXT ", sep);
				append_literal(b, body + hend, blen - hend);
			}
			break;
		}
		case FI_BINARY:
		case FI_BINARY_SIZE: {
			struct mm_buf dec;
			mm_buf_init(&dec);
			mm_buf_printf(b, "%s%s ", sep, it->name);
			int be = mail_binary_fetch(tree, body, blen, &it->sec, &dec);
			if (be == MAIL_BINARY_EUNKNOWN_CTE) {
				f->unknown_cte = true;
				mm_buf_append(b, "NIL", 3);
			} else if (it->kind == FI_BINARY_SIZE) {
				mm_buf_printf(b, "%zu", be == MAIL_SECTION_OK ? dec.len : 0);
			} else {
				append_partial(b, it, dec.data ? dec.data : "",
				    be == MAIL_SECTION_OK ? dec.len : 0);
			}
			mm_buf_free(&dec);
			break;
		}
		case FI_SECTION: {
			struct mail_section_result r;
			memset(&r, 0, sizeof(r));
			mm_buf_printf(b, "%s%s ", sep, it->name);
			if (stream && fetch_stream_header_fields(&it->sec)) {
				/* cut from the part's header block, read alone */
				struct mail_section hs = it->sec;
				hs.kind = MAIL_SECTION_HEADER;
				int se = mail_section_fetch(tree, NULL, (size_t)m->size, &hs, &r);
				if (se == MAIL_SECTION_OK &&
				    !fetch_stream_fields(imap_store(s), m->body_id, &it->sec, &r))
					f->broken = true;
				if (se != MAIL_SECTION_OK || f->broken)
					append_literal(b, "", 0);
				else
					append_partial(b, it, r.data.data ? r.data.data : "", r.len);
				mail_section_result_free(&r);
				break;
			}
			if (stream) {
				/* the tree alone gives the range */
				int se = mail_section_fetch(tree, NULL, (size_t)m->size, &it->sec, &r);
				bool h = stream_literal(f, it, m, se == MAIL_SECTION_OK ? r.off : 0,
				    se == MAIL_SECTION_OK ? r.len : 0);
				mail_section_result_free(&r);
				if (h)
					goto hole;
				break;
			}
			if (tree == NULL && section_whole(it)) {
				append_partial(b, it, body, blen);
				break;
			}
			int se = mail_section_fetch(tree, body, blen, &it->sec, &r);
			if (se != MAIL_SECTION_OK)
				append_literal(b, "", 0);
			else if (r.produced)
				append_partial(b, it, r.data.data ? r.data.data : "", r.data.len);
			else
				append_partial(b, it, body + r.off, r.len);
			mail_section_result_free(&r);
			break;
		}
		}
		sep = " ";
	}
	if (add_flags && !flags_done) {
		mm_buf_printf(b, "%sFLAGS ", sep);
		imap_append_flags(s, b, m);
	}
	mm_buf_append(b, ")\r\n", 3);

	if (cache != NULL)
		mail_cache_free(&cache);
	if (parsed != NULL)
		mail_msg_free(&parsed);
	free(blob);
	if (cached)
		return RENDER_OK;
	membudget_release(blen);
	if (f->n == 1 && f->need_body && blen <= IMAP_BODY_CACHE_MSG_BYTES) {
		/* fetch_done puts it in the cache, on the loop */
		f->keep = body;
		f->keeplen = blen;
		f->keep_id = m->body_id;
	} else {
		free(body);
	}
	return RENDER_OK;
hole:
	/* the literal's bytes follow in later jobs, then the items after it */
	f->hcache = cache;
	f->hitem = i + 1;
	f->hflags_done = flags_done;
	return RENDER_HOLE;
}

/* UID FETCH ... (CHANGEDSINCE m VANISHED): the UIDs of the set expunged
 * since m, as VANISHED (EARLIER) before the FETCH responses (RFC 7162
 * 3.2.6). The set is the client's, not the view's: those UIDs are gone. */
static void
fetch_vanished(struct imap_fetch *f)
{
	struct imap_session *s = f->s;
	uint32_t *uids;
	size_t n, k = 0;
	struct imap_seqset ss = { 0 };

	if (store_expunged_since(imap_store(s), s->mbox_id, f->changedsince, s->modseq,
	    &uids, &n) != STORE_OK || !imap_seqset_parse(&ss, f->set)) {
		imap_seqset_free(&ss);
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (imap_seqset_contains(&ss, uids[i], s->uidnext > 0 ? s->uidnext - 1 : 0))
			uids[k++] = uids[i];
	if (k > 0) {
		mm_buf_append(&f->out, "* VANISHED (EARLIER) ", 21);
		imap_append_uid_set(&f->out, uids, k);
		mm_buf_append(&f->out, "\r\n", 2);
	}
	imap_seqset_free(&ss);
	free(uids);
}

/* \Seen for every message of the FETCH that a non-PEEK body item reads,
 * set before the first response in one store transaction per
 * FETCH_SEEN_TXN_MSGS messages (one for any usual FETCH), not one commit
 * and fsync per message. A message the update did not find (expunged by
 * another session) is left out when it is rendered, as before. */
static void
fetch_set_seen(struct imap_fetch *f)
{
	struct imap_session *s = f->s;
	uint32_t *uids = xmalloc(FETCH_SEEN_TXN_MSGS * sizeof(*uids));
	size_t *at = xmalloc(FETCH_SEEN_TXN_MSGS * sizeof(*at));

	f->newseen = xcalloc(f->n ? f->n : 1, sizeof(*f->newseen));
	for (size_t i = 0; i < f->n; ) {
		size_t k = 0;
		for (; i < f->n && k < FETCH_SEEN_TXN_MSGS; i++) {
			const struct imap_msg *m = &s->msgs[f->idx[i]];
			if (m->expunged || (m->flags & MSG_SEEN) ||
			    (f->changedsince != 0 && m->modseq <= f->changedsince))
				continue;
			uids[k] = m->uid;
			at[k++] = i;
		}
		if (k == 0 || store_flags_update(imap_store(s), s->user, s->mbox, uids, k,
		    STORE_FLAGS_ADD, MSG_SEEN, NULL, 0, 0, NULL, NULL) != STORE_OK)
			continue;
		for (size_t j = 0; j < k; j++) {
			s->msgs[f->idx[at[j]]].flags |= MSG_SEEN;
			f->newseen[at[j]] = true;
		}
	}
	free(uids);
	free(at);
}

static void
fetch_work(void *arg)
{
	struct imap_fetch *f = arg;
	size_t count = 0;
	if (f->pos == 0 && f->sets_seen && !f->s->readonly && f->newseen == NULL)
		fetch_set_seen(f);
	if (f->vanished && f->pos == 0)
		fetch_vanished(f);
	if (f->hole != NULL) {
		/* a streamed literal: this job is its next chunk */
		bool filled;
		if (!fetch_stream_chunk(imap_store(f->s), f->hole, &f->out, &filled)) {
			f->broken = true;
			return;
		}
		if (!filled)
			return;
		fetch_stream_free(&f->hole);
		if (render_msg(f, f->idx[f->pos]) == RENDER_HOLE || f->broken)
			return;
		f->pos++;
		count++;
	}
	while (f->pos < f->n && f->out.len < FETCH_BATCH_BYTES && count < FETCH_BATCH_MSGS) {
		int r = render_msg(f, f->idx[f->pos]);
		if (r == RENDER_HOLE || f->broken)
			return;
		if (r == RENDER_GONE)
			f->nexpunged++;
		f->pos++;
		count++;
	}
}

/* One turn of a view-only FETCH on the loop (fetch_view_only): at most
 * FETCH_LOOP_MSGS messages or FETCH_BATCH_BYTES of output, each line
 * formatted into room reserved once for it, the chunk written with one
 * imap_write (fetch_done). The same lines render_msg writes for these
 * items: what it leaves out (expunged, not changed since CHANGEDSINCE)
 * this does too. */
static void
fetch_view_chunk(struct imap_fetch *f)
{
	struct imap_session *s = f->s;
	struct mm_buf *b = &f->out;
	bool uid_first = (s->uid || s->qresync) && !s->uidonly;
	size_t line_max = IMAP_FETCH_OPEN_MAX_BYTES + (f->nitems + 1) * VIEW_ITEM_MAX_BYTES +
	    imap_flags_max(s) + 3;

	for (size_t count = 0; f->pos < f->n && count < FETCH_LOOP_MSGS &&
	    b->len < FETCH_BATCH_BYTES; f->pos++, count++) {
		size_t vi = f->idx[f->pos];
		const struct imap_msg *m = &s->msgs[vi];
		if (m->expunged) {
			f->nexpunged++;
			continue;
		}
		if (f->changedsince != 0 && m->modseq <= f->changedsince)
			continue;
		mm_buf_reserve(b, line_max);
		char *p = imap_put_fetch_open(s, b->data + b->len, vi);
		if (uid_first)
			p = put_view_item(s, p, FI_UID, m, false);
		bool sep = uid_first;
		for (size_t i = 0; i < f->nitems; i++) {
			if (f->items[i].kind == FI_UID && uid_first)
				continue;
			p = put_view_item(s, p, f->items[i].kind, m, sep);
			sep = true;
		}
		memcpy(p, ")\r\n", 3);
		b->len = (size_t)(p + 3 - b->data);
	}
}

static void fetch_next(struct imap_session *s);

static void
fetch_finished(struct imap_session *s)
{
	imap_ok(s, "Fetch completed");
}

static void
fetch_unknown_cte(struct imap_session *s)
{
	/* RFC 3516 4.3 */
	imap_no(s, "[UNKNOWN-CTE] Unknown Content-Transfer-Encoding in a BINARY part");
}

static void
fetch_expungeissued(struct imap_session *s)
{
	imap_no(s, "[EXPUNGEISSUED] Some of the requested messages no longer exist");
}

static void
fetch_done(void *arg, bool alive)
{
	struct imap_fetch *f = arg;
	struct imap_session *s = f->s;

	if (!alive)
		return;     /* imap_free frees s->fetch */
	if (f->keep != NULL) {
		imap_bodycache_put(f->keep_id, f->keep, f->keeplen);
		f->keep = NULL;
	}
	imap_write(s, f->out.data, f->out.len);
	f->out.len = 0;
	if (f->broken) {
		/* a literal already announced cannot be finished: the client
		 * would read what follows as message bytes */
		log_error("conn=%llx event=fetch-failed reason=\"body unreadable mid-literal\"",
		    (unsigned long long)conn_id(s->c));
		imap_fetch_free(s);
		conn_close(s->c);
		return;
	}
	if (f->pos >= f->n) {
		bool gone = f->nexpunged > 0, cte = f->unknown_cte;
		imap_fetch_free(s);
		imap_sync_command(s, cte ? fetch_unknown_cte : gone ? fetch_expungeissued :
		    fetch_finished);
		return;
	}
	bool high = conn_output_len(s->c) > CONN_OUTPUT_HIGH_BYTES;
	if (high || f->on_loop) {
		/* a slow client may keep us waiting: hold no batch buffer
		 * meanwhile. On the loop, the next chunk waits for the output
		 * to drain to the low mark: the loop turns between chunks. */
		if (high) {
			mm_buf_free(&f->out);
			mm_buf_init(&f->out);
		}
		f->waiting = true;
		conn_pause(s->c);
		conn_want_drained(s->c);
		return;
	}
	fetch_next(s);
}

/* FLAGS, UID, INTERNALDATE, RFC822.SIZE, MODSEQ: all in the view, which
 * is in memory; no store read, no \Seen to set, no VANISHED to look up.
 * Any number of messages, FETCH_LOOP_MSGS a loop turn (fetch_view_chunk). */
static bool
fetch_view_only(const struct imap_fetch *f)
{
	return !f->need_body && !f->need_struct && !f->need_parse && !f->sets_seen &&
	    !f->vanished;
}

/* BODY.PEEK[] / RFC822.HEADER... of messages whose bodies are in the
 * cache and still in the store: either the hub has told the view no
 * change since its last sync, or the group's snapshot still has the
 * message and every change told since it is a flag change (the hub's
 * post says so), or in other messages (imap_view_current; a body never
 * changes). The sync after it then waits for the group's refresh of
 * those flag changes rather than reading for itself (imap_view_prepare),
 * so the whole FETCH needs no worker. An
 * expunge elsewhere is posted to the hub by the worker that commits it,
 * before that command's reply, so a message expunged, or one whose
 * change is still being read, goes to a worker, which finds the body gone
 * (NO [EXPUNGEISSUED]) as before. \Seen is a store write, so a FETCH
 * that sets it goes to a worker as before. */
static bool
fetch_cached(const struct imap_fetch *f)
{
	const struct imap_session *s = f->s;
	const char *data;
	size_t len;

	if (!f->need_body || f->need_struct || f->need_parse || f->sets_seen || f->vanished ||
	    f->n > FETCH_CACHED_MSGS)
		return false;
	for (size_t i = f->pos; i < f->n; i++) {
		const struct imap_msg *m = &s->msgs[f->idx[i]];
		if (m->expunged || (s->dirty && !imap_view_current(s, m->uid)) ||
		    !imap_bodycache_get(m->body_id, &data, &len))
			return false;
	}
	return true;
}

static void
fetch_next(struct imap_session *s)
{
	struct imap_fetch *f = s->fetch;

	if (fetch_view_only(f)) {
		/* tens of microseconds a chunk on the loop (bounded by
		 * FETCH_LOOP_MSGS), against two thread switches, a wakeup and
		 * printf per item on a worker */
		f->on_loop = true;
		fetch_view_chunk(f);
		fetch_done(f, true);
		return;
	}
	if (fetch_cached(f)) {
		/* FETCH_CACHED_MSGS bodies at most: one or two calls */
		f->on_loop = true;
		fetch_work(f);
		fetch_done(f, true);
		return;
	}
	f->on_loop = false;
	imap_run_job(s, WORKER_LANE_READ, fetch_work, fetch_done, f);
}

void
imap_fetch_drained(struct imap_session *s)
{
	struct imap_fetch *f = s->fetch;
	if (f == NULL || !f->waiting)
		return;
	f->waiting = false;
	conn_resume(s->c);
	fetch_next(s);
}

void
cmd_fetch(struct imap_session *s, const struct imap_arg *args, size_t n)
{
	const char *set;
	struct imap_fetch *f;

	if ((n != 2 && n != 3) || !imap_arg_atom(&args[0], &set)) {
		imap_bad(s, "FETCH needs a message set and items");
		return;
	}
	f = xcalloc(1, sizeof(*f));
	f->s = s;
	f->global = imap_rev2(s);
	mm_buf_init(&f->out);
	if (n == 3 && !fetch_modifiers(f, &args[2]))
		goto bad;
	if (args[1].type == IMAP_ARG_LIST) {
		if (args[1].count == 0)
			goto bad;
		for (size_t i = 0; i < args[1].count; i++)
			if (!parse_item(f, &args[1].list[i]))
				goto bad;
	} else if (!parse_item(f, &args[1])) {
		goto bad;
	}
	if (s->readonly)
		f->sets_seen = false;
	if (f->vanished)
		f->set = xstrdup(set);
	for (size_t i = 0; i < f->nitems; i++)
		if (f->items[i].kind == FI_MODSEQ)
			imap_condstore_enable(s);
	if (!imap_view_resolve(s, set, s->uid, &f->idx, &f->n)) {
		fetch_ctx_free(f);
		imap_bad(s, "Invalid message set");
		return;
	}
	/* the job sets \Seen in the view: a shared one becomes our own */
	for (size_t i = 0; f->sets_seen && s->snap != NULL && i < f->n; i++)
		if (!(s->msgs[f->idx[i]].flags & MSG_SEEN))
			imap_view_own(s);
	s->fetch = f;
	if (f->n == 0 && !f->vanished) {
		imap_fetch_free(s);
		imap_sync_command(s, fetch_finished);
		return;
	}
	fetch_next(s);
	return;
bad:
	fetch_ctx_free(f);
	imap_bad(s, "Invalid FETCH item");
}
