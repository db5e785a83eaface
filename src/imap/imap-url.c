/* imap-url.c: resolving IMAP URLs (RFC 5092) that name a message or a
 * part of one in the user's own mailboxes, as CATENATE (RFC 4469) takes
 * them: "/mailbox[;UIDVALIDITY=n]/;UID=n[/;SECTION=spec][/;PARTIAL=o[.l]]".
 *
 * The one idea: parsing is pure (imap_url_parse in imap-parser.c, unit
 * tested) and happens on the loop; resolving reads the store and runs on
 * the worker,
 * with the same section code FETCH uses (src/mail/section.c), so a URL
 * gives exactly the bytes FETCH BODY[spec]<partial> would. */
#include "imap/imap-common.h"

#include <stdlib.h>
#include <string.h>

#include "mail/mime.h"

int
imap_url_fetch(struct imap_session *s, const char *mbox, const struct imap_url *u,
    struct mm_buf *out)
{
	return imap_url_fetch_user(imap_store(s), s->user, mbox, u, out);
}

int
imap_url_fetch_user(struct store *st, const char *user, const char *mbox,
    const struct imap_url *u, struct mm_buf *out)
{
	return imap_url_fetch_opts(st, user, mbox, u, 0, out, NULL, NULL);
}

/* BODYPARTSTRUCTURE of part p; with binary, of its converted form: its
 * own header over the decoded body, parsed anew (headers, and so the
 * encodings named, stay as stored; sizes and lines are the decoded ones). */
static int
url_bodypartstructure(const char *body, size_t blen, const struct mail_part *p,
    bool binary, struct mm_buf *bps)
{
	if (!binary) {
		mail_imap_bodystructure(bps, p, true);
		return MAIL_SECTION_OK;
	}
	struct mm_buf conv;
	mm_buf_init(&conv);
	mm_buf_append(&conv, body + p->hdr_off, p->body_off - p->hdr_off);
	int r = mail_binary_convert(body, blen, p, false, &conv);
	if (r == MAIL_SECTION_OK) {
		struct mail_msg *cm = mail_mime_parse(conv.data ? conv.data : "", conv.len);
		mail_imap_bodystructure(bps, cm->root, true);
		mail_msg_free(&cm);
	}
	mm_buf_free(&conv);
	return r;
}

int
imap_url_fetch_opts(struct store *st, const char *user, const char *mbox,
    const struct imap_url *u, unsigned opts, struct mm_buf *out, struct mm_buf *bps,
    bool *undecodable_r)
{
	struct store_index *idx = NULL;
	char *body = NULL;
	size_t blen = 0;
	int r = store_index_read(st, user, mbox, &idx);

	if (undecodable_r != NULL)
		*undecodable_r = false;
	if (r != STORE_OK)
		return r;
	if (u->uidvalidity != 0 && u->uidvalidity != idx->mailbox.uidvalidity) {
		store_index_free(&idx);
		return STORE_NOTFOUND;
	}
	uint64_t body_id = 0;
	size_t lo = 0, hi = idx->nmsgs;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (idx->msgs[mid].uid < u->uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	bool found = lo < idx->nmsgs && idx->msgs[lo].uid == u->uid;
	if (found)
		body_id = idx->msgs[lo].body_id;
	store_index_free(&idx);
	if (!found)
		return STORE_NOTFOUND;
	if ((r = store_body_get(st, body_id, &body, &blen)) != STORE_OK)
		return r;

	const char *data = body;
	size_t dlen = blen;
	struct mail_section sec;
	struct mail_section_result res;
	struct mail_msg *m = NULL;
	struct mm_buf dec;
	const struct mail_part *part = NULL;
	memset(&res, 0, sizeof(res));
	memset(&sec, 0, sizeof(sec));
	mm_strlist_init(&sec.fields);
	mm_buf_init(&dec);
	if (u->section[0] != '\0' || opts != 0) {
		m = mail_mime_parse(body, blen);
		if (u->section[0] != '\0' &&
		    (mail_section_parse(u->section, strlen(u->section), &sec) != MAIL_SECTION_OK ||
		    mail_section_fetch(m, body, blen, &sec, &res) != MAIL_SECTION_OK)) {
			r = STORE_NOTFOUND;
			goto out;
		}
		if (res.produced) {
			data = res.data.data ? res.data.data : "";
			dlen = res.data.len;
		} else if (u->section[0] != '\0') {
			data = body + res.off;
			dlen = res.len;
		}
		/* the part a plain section ("", "1.2") names: what BINARY
		 * decodes and BODYPARTSTRUCTURE describes */
		if (sec.kind == MAIL_SECTION_ALL)
			part = sec.nparts == 0 ? m->root : mail_section_part(m, sec.part, sec.nparts);
	}
	if ((opts & IMAP_URL_BPS) && bps != NULL) {
		/* RFC 5524 3.1: only a body part has a structure */
		if (part == NULL) {
			r = STORE_NOTFOUND;
			goto out;
		}
		if (url_bodypartstructure(body, blen, part, (opts & IMAP_URL_BINARY) != 0,
		    bps) != MAIL_SECTION_OK)
			bps->len = 0;
	}
	if ((opts & IMAP_URL_BINARY) && part != NULL) {
		/* the whole message: its header, then the converted body */
		if (sec.nparts == 0)
			mm_buf_append(&dec, body, part->body_off <= blen ? part->body_off : blen);
		if (mail_binary_convert(body, blen, part, true, &dec) != MAIL_SECTION_OK) {
			if (undecodable_r != NULL)
				*undecodable_r = true;
			dec.len = 0;
		}
		data = dec.data ? dec.data : "";
		dlen = dec.len;
	}
	if (u->partial) {
		/* RFC 5092 4: a range past the end is empty; RFC 5524 3.1:
		 * with BINARY, the range is of the decoded data */
		if (u->poff >= dlen) {
			dlen = 0;
		} else {
			data += u->poff;
			dlen -= (size_t)u->poff;
			if (u->plen != 0 && dlen > u->plen)
				dlen = (size_t)u->plen;
		}
	}
	mm_buf_append(out, data, dlen);
	r = STORE_OK;
out:
	mm_buf_free(&dec);
	mail_section_result_free(&res);
	mail_section_free(&sec);
	if (m != NULL)
		mail_msg_free(&m);
	free(body);
	return r;
}
