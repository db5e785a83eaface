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
	struct store_index *idx = NULL;
	char *body = NULL;
	size_t blen = 0;
	int r = store_index_read(st, user, mbox, &idx);

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
	memset(&res, 0, sizeof(res));
	memset(&sec, 0, sizeof(sec));
	mm_strlist_init(&sec.fields);
	if (u->section[0] != '\0') {
		m = mail_mime_parse(body, blen);
		if (mail_section_parse(u->section, strlen(u->section), &sec) != MAIL_SECTION_OK ||
		    mail_section_fetch(m, body, blen, &sec, &res) != MAIL_SECTION_OK) {
			r = STORE_NOTFOUND;
			goto out;
		}
		if (res.produced) {
			data = res.data.data ? res.data.data : "";
			dlen = res.data.len;
		} else {
			data = body + res.off;
			dlen = res.len;
		}
	}
	if (u->partial) {
		/* RFC 5092 4: a range past the end is empty */
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
	mail_section_result_free(&res);
	mail_section_free(&sec);
	if (m != NULL)
		mail_msg_free(&m);
	free(body);
	return r;
}
