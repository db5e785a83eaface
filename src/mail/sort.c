/* sort.c: SORT keys (RFC 5256, RFC 5957) and the sort itself.
 *
 * The one idea: every key is turned once into a plain value (a number, or
 * a byte string in comparison form: decoded, folded, ASCII upper case),
 * so comparing two messages is strcmp and integer compares; the sort is a
 * merge sort that carries the criteria (no global state: workers sort in
 * parallel). The base subject follows RFC 5256 2.1 step by step; the
 * steps are marked below. */
#include "mail/sort.h"

#include <stdlib.h>
#include <string.h>

#include "mail/address.h"
#include "mail/date.h"
#include "mail/decode.h"
#include "lib/util.h"

/* ---- base subject (RFC 5256 2.1) ---- */

static bool
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* subj-blob = "[" *BLOBCHAR "]" *WSP at s[i]: its length, or 0 */
static size_t
blob_len(const char *s, size_t i, size_t n)
{
	size_t j = i;
	if (j >= n || s[j] != '[')
		return 0;
	for (j++; j < n && s[j] != ']'; j++)
		if (s[j] == '[')
			return 0;
	if (j >= n)
		return 0;
	for (j++; j < n && is_wsp(s[j]); j++)
		;
	return j - i;
}

/* subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":" at s[i] */
static size_t
refwd_len(const char *s, size_t i, size_t n)
{
	size_t j = i;
	if (j + 2 <= n && mm_strncaseeq(s + j, "re", 2))
		j += 2;
	else if (j + 2 <= n && mm_strncaseeq(s + j, "fw", 2)) {
		j += 2;
		if (j < n && (s[j] == 'd' || s[j] == 'D'))
			j++;
	} else
		return 0;
	while (j < n && is_wsp(s[j]))
		j++;
	j += blob_len(s, j, n);
	if (j >= n || s[j] != ':')
		return 0;
	return j + 1 - i;
}

/* subj-leader = (*subj-blob subj-refwd) / WSP at s[i]; *refwd_r when
 * the refwd form matched */
static size_t
leader_len(const char *s, size_t i, size_t n, bool *refwd_r)
{
	size_t j = i, b, r;
	*refwd_r = false;
	if (i < n && is_wsp(s[i]))
		return 1;
	while ((b = blob_len(s, j, n)) > 0)
		j += b;
	if ((r = refwd_len(s, j, n)) == 0)
		return 0;
	*refwd_r = true;
	return j + r - i;
}

char *
mail_base_subject(const char *raw, size_t len, bool *reply_r)
{
	char *dec = mail_decode_header(raw, len);
	size_t n = 0, start = 0;
	bool reply = false;

	/* (1) tabs and line ends to spaces, runs of spaces to one */
	for (size_t i = 0; dec[i] != '\0'; i++) {
		char c = dec[i];
		if (c == '\t' || c == '\r' || c == '\n')
			c = ' ';
		if (c == ' ' && n > 0 && dec[n - 1] == ' ')
			continue;
		dec[n++] = c;
	}
	dec[n] = '\0';
	for (;;) {
		/* (2) trailers: "(fwd)" and white space */
		for (;;) {
			if (n > start && dec[n - 1] == ' ') {
				n--;
			} else if (n - start >= 5 && mm_strncaseeq(dec + n - 5, "(fwd)", 5)) {
				n -= 5;
				reply = true;
			} else
				break;
		}
		/* (3)-(5): leaders, then a blob that leaves something */
		for (;;) {
			bool changed = false, refwd;
			size_t l;
			while ((l = leader_len(dec, start, n, &refwd)) > 0) {
				start += l;
				reply |= refwd;
				changed = true;
			}
			l = blob_len(dec, start, n);
			if (l > 0 && start + l < n) {
				start += l;
				changed = true;
			}
			if (!changed)
				break;
		}
		/* (6) "[fwd:" ... "]" */
		if (n - start >= 6 && mm_strncaseeq(dec + start, "[fwd:", 5) &&
		    dec[n - 1] == ']') {
			start += 5;
			n--;
			reply = true;
			continue;
		}
		break;
	}
	memmove(dec, dec + start, n - start);
	dec[n - start] = '\0';
	if (reply_r != NULL)
		*reply_r = reply;
	return dec;
}

/* ---- comparison form ---- */

/* U+00C0..U+017F in the i;unicode-casemap form of RFC 5051 2: the simple
 * titlecase mapping, then the compatibility decomposition (NFKD): a base
 * letter and a combining mark ("\u00e5" -> "A" U+030A), so "\u00c5sa"
 * sorts beside "Asa" as in Dovecot. Made with Python's unicodedata. */
static const uint16_t latin_casemap[0x180 - 0xc0][2] = {
	{ 0x0041, 0x0300 }, { 0x0041, 0x0301 }, { 0x0041, 0x0302 }, { 0x0041, 0x0303 },
	{ 0x0041, 0x0308 }, { 0x0041, 0x030a }, { 0x00c6, 0x0000 }, { 0x0043, 0x0327 },
	{ 0x0045, 0x0300 }, { 0x0045, 0x0301 }, { 0x0045, 0x0302 }, { 0x0045, 0x0308 },
	{ 0x0049, 0x0300 }, { 0x0049, 0x0301 }, { 0x0049, 0x0302 }, { 0x0049, 0x0308 },
	{ 0x00d0, 0x0000 }, { 0x004e, 0x0303 }, { 0x004f, 0x0300 }, { 0x004f, 0x0301 },
	{ 0x004f, 0x0302 }, { 0x004f, 0x0303 }, { 0x004f, 0x0308 }, { 0x00d7, 0x0000 },
	{ 0x00d8, 0x0000 }, { 0x0055, 0x0300 }, { 0x0055, 0x0301 }, { 0x0055, 0x0302 },
	{ 0x0055, 0x0308 }, { 0x0059, 0x0301 }, { 0x00de, 0x0000 }, { 0x00df, 0x0000 },
	{ 0x0041, 0x0300 }, { 0x0041, 0x0301 }, { 0x0041, 0x0302 }, { 0x0041, 0x0303 },
	{ 0x0041, 0x0308 }, { 0x0041, 0x030a }, { 0x00c6, 0x0000 }, { 0x0043, 0x0327 },
	{ 0x0045, 0x0300 }, { 0x0045, 0x0301 }, { 0x0045, 0x0302 }, { 0x0045, 0x0308 },
	{ 0x0049, 0x0300 }, { 0x0049, 0x0301 }, { 0x0049, 0x0302 }, { 0x0049, 0x0308 },
	{ 0x00d0, 0x0000 }, { 0x004e, 0x0303 }, { 0x004f, 0x0300 }, { 0x004f, 0x0301 },
	{ 0x004f, 0x0302 }, { 0x004f, 0x0303 }, { 0x004f, 0x0308 }, { 0x00f7, 0x0000 },
	{ 0x00d8, 0x0000 }, { 0x0055, 0x0300 }, { 0x0055, 0x0301 }, { 0x0055, 0x0302 },
	{ 0x0055, 0x0308 }, { 0x0059, 0x0301 }, { 0x00de, 0x0000 }, { 0x0059, 0x0308 },
	{ 0x0041, 0x0304 }, { 0x0041, 0x0304 }, { 0x0041, 0x0306 }, { 0x0041, 0x0306 },
	{ 0x0041, 0x0328 }, { 0x0041, 0x0328 }, { 0x0043, 0x0301 }, { 0x0043, 0x0301 },
	{ 0x0043, 0x0302 }, { 0x0043, 0x0302 }, { 0x0043, 0x0307 }, { 0x0043, 0x0307 },
	{ 0x0043, 0x030c }, { 0x0043, 0x030c }, { 0x0044, 0x030c }, { 0x0044, 0x030c },
	{ 0x0110, 0x0000 }, { 0x0110, 0x0000 }, { 0x0045, 0x0304 }, { 0x0045, 0x0304 },
	{ 0x0045, 0x0306 }, { 0x0045, 0x0306 }, { 0x0045, 0x0307 }, { 0x0045, 0x0307 },
	{ 0x0045, 0x0328 }, { 0x0045, 0x0328 }, { 0x0045, 0x030c }, { 0x0045, 0x030c },
	{ 0x0047, 0x0302 }, { 0x0047, 0x0302 }, { 0x0047, 0x0306 }, { 0x0047, 0x0306 },
	{ 0x0047, 0x0307 }, { 0x0047, 0x0307 }, { 0x0047, 0x0327 }, { 0x0047, 0x0327 },
	{ 0x0048, 0x0302 }, { 0x0048, 0x0302 }, { 0x0126, 0x0000 }, { 0x0126, 0x0000 },
	{ 0x0049, 0x0303 }, { 0x0049, 0x0303 }, { 0x0049, 0x0304 }, { 0x0049, 0x0304 },
	{ 0x0049, 0x0306 }, { 0x0049, 0x0306 }, { 0x0049, 0x0328 }, { 0x0049, 0x0328 },
	{ 0x0049, 0x0307 }, { 0x0049, 0x0000 }, { 0x0049, 0x004a }, { 0x0049, 0x004a },
	{ 0x004a, 0x0302 }, { 0x004a, 0x0302 }, { 0x004b, 0x0327 }, { 0x004b, 0x0327 },
	{ 0x0138, 0x0000 }, { 0x004c, 0x0301 }, { 0x004c, 0x0301 }, { 0x004c, 0x0327 },
	{ 0x004c, 0x0327 }, { 0x004c, 0x030c }, { 0x004c, 0x030c }, { 0x004c, 0x00b7 },
	{ 0x004c, 0x00b7 }, { 0x0141, 0x0000 }, { 0x0141, 0x0000 }, { 0x004e, 0x0301 },
	{ 0x004e, 0x0301 }, { 0x004e, 0x0327 }, { 0x004e, 0x0327 }, { 0x004e, 0x030c },
	{ 0x004e, 0x030c }, { 0x02bc, 0x006e }, { 0x014a, 0x0000 }, { 0x014a, 0x0000 },
	{ 0x004f, 0x0304 }, { 0x004f, 0x0304 }, { 0x004f, 0x0306 }, { 0x004f, 0x0306 },
	{ 0x004f, 0x030b }, { 0x004f, 0x030b }, { 0x0152, 0x0000 }, { 0x0152, 0x0000 },
	{ 0x0052, 0x0301 }, { 0x0052, 0x0301 }, { 0x0052, 0x0327 }, { 0x0052, 0x0327 },
	{ 0x0052, 0x030c }, { 0x0052, 0x030c }, { 0x0053, 0x0301 }, { 0x0053, 0x0301 },
	{ 0x0053, 0x0302 }, { 0x0053, 0x0302 }, { 0x0053, 0x0327 }, { 0x0053, 0x0327 },
	{ 0x0053, 0x030c }, { 0x0053, 0x030c }, { 0x0054, 0x0327 }, { 0x0054, 0x0327 },
	{ 0x0054, 0x030c }, { 0x0054, 0x030c }, { 0x0166, 0x0000 }, { 0x0166, 0x0000 },
	{ 0x0055, 0x0303 }, { 0x0055, 0x0303 }, { 0x0055, 0x0304 }, { 0x0055, 0x0304 },
	{ 0x0055, 0x0306 }, { 0x0055, 0x0306 }, { 0x0055, 0x030a }, { 0x0055, 0x030a },
	{ 0x0055, 0x030b }, { 0x0055, 0x030b }, { 0x0055, 0x0328 }, { 0x0055, 0x0328 },
	{ 0x0057, 0x0302 }, { 0x0057, 0x0302 }, { 0x0059, 0x0302 }, { 0x0059, 0x0302 },
	{ 0x0059, 0x0308 }, { 0x005a, 0x0301 }, { 0x005a, 0x0301 }, { 0x005a, 0x0307 },
	{ 0x005a, 0x0307 }, { 0x005a, 0x030c }, { 0x005a, 0x030c }, { 0x0053, 0x0000 },
};

char *
mail_sort_text(const char *utf8, size_t len, size_t max_bytes)
{
	struct mm_buf f, b;
	mm_buf_init(&f);
	mm_buf_init(&b);
	/* folding first reads invalid bytes as windows-1252: f is UTF-8 */
	mail_text_fold(utf8, len, &f);
	const unsigned char *u = (const unsigned char *)(f.data ? f.data : "");
	for (size_t i = 0; i < f.len;) {
		uint32_t cp;
		size_t l = mm_utf8_decode(u + i, f.len - i, &cp);
		if (l == 0) {          /* cannot happen after folding */
			i++;
			continue;
		}
		i += l;
		if (cp >= 'a' && cp <= 'z')
			cp -= 32;
		if (cp >= 0xc0 && cp < 0x180) {
			mm_buf_append_utf8(&b, latin_casemap[cp - 0xc0][0]);
			if (latin_casemap[cp - 0xc0][1] != 0)
				mm_buf_append_utf8(&b, latin_casemap[cp - 0xc0][1]);
		} else {
			mm_buf_append_utf8(&b, cp);
		}
	}
	mm_buf_free(&f);
	char *s = mm_buf_cstr(&b);
	size_t n = b.len;
	if (n > max_bytes) {
		n = max_bytes;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;           /* not inside a UTF-8 sequence */
		s[n] = '\0';
	}
	return s;              /* the buffer's memory: the caller frees it */
}

static char *
addr_key(const char *raw, size_t len, size_t max_bytes, bool display)
{
	struct mail_addr_list l;
	struct mm_buf b;
	char *r;

	mm_buf_init(&b);
	mail_addr_parse(raw, len, 1, &l);
	if (l.n > 0) {
		const struct mail_addr *a = &l.a[0];
		if (display && a->kind == MAIL_ADDR_MAILBOX && a->name != NULL &&
		    a->name[0] != '\0') {
			char *d = mail_decode_header(a->name, strlen(a->name));
			mm_buf_append(&b, d, strlen(d));
			free(d);
		} else if (a->mailbox != NULL) {
			mm_buf_append(&b, a->mailbox, strlen(a->mailbox));
			if (display && a->kind == MAIL_ADDR_MAILBOX && a->host != NULL) {
				mm_buf_appendc(&b, '@');
				mm_buf_append(&b, a->host, strlen(a->host));
			}
		}
	}
	mail_addr_list_free(&l);
	r = mail_sort_text(b.data ? b.data : "", b.len, max_bytes);
	mm_buf_free(&b);
	return r;
}

char *
mail_sort_addr_mailbox(const char *raw, size_t len, size_t max_bytes)
{
	return addr_key(raw, len, max_bytes, false);
}

char *
mail_sort_addr_display(const char *raw, size_t len, size_t max_bytes)
{
	return addr_key(raw, len, max_bytes, true);
}

bool
mail_sort_sent_date_get(const struct mail_header *h, time_t *t_r)
{
	char *d = mail_header_get(h, "Date");
	int tz;
	bool ok = d != NULL && mail_date_parse_rfc5322(d, strlen(d), t_r, &tz);
	free(d);
	return ok;
}

time_t
mail_sort_sent_date(const struct mail_header *h, time_t fallback)
{
	time_t t;
	return mail_sort_sent_date_get(h, &t) ? t : fallback;
}

/* ---- records ---- */

static const char *const key_names[MAIL_SORT_KEY_COUNT] = {
	"ARRIVAL", "CC", "DATE", "FROM", "SIZE", "SUBJECT", "TO",
	"DISPLAYFROM", "DISPLAYTO",
};

bool
mail_sort_key_parse(const char *name, enum mail_sort_key *key_r)
{
	for (int k = 0; k < MAIL_SORT_KEY_COUNT; k++) {
		if (mm_strcaseeq(name, key_names[k])) {
			*key_r = (enum mail_sort_key)k;
			return true;
		}
	}
	return false;
}

bool
mail_sort_needs_header(const struct mail_sort_crit *crit, size_t ncrit)
{
	for (size_t i = 0; i < ncrit; i++)
		if (crit[i].key != MAIL_SORT_ARRIVAL && crit[i].key != MAIL_SORT_SIZE)
			return true;
	return false;
}

/* The first field named name as a raw value (folds kept), or "" */
static const char *
field(const struct mail_header *h, const char *name, size_t *len_r)
{
	const struct mail_hdr_field *f = mail_header_find(h, name);
	*len_r = f != NULL ? f->value_len : 0;
	return f != NULL ? f->value : "";
}

void
mail_sort_rec_fill(struct mail_sort_rec *r, const struct mail_header *h,
    const struct mail_sort_crit *crit, size_t ncrit, size_t max_bytes)
{
	for (size_t i = 0; i < ncrit; i++) {
		enum mail_sort_key k = crit[i].key;
		const char *v;
		size_t vl;
		char *t;
		if (k == MAIL_SORT_ARRIVAL || k == MAIL_SORT_SIZE || r->text[k] != NULL)
			continue;
		switch (k) {
		case MAIL_SORT_DATE:
			r->date = mail_sort_sent_date(h, r->arrival);
			r->text[k] = xstrdup("");        /* marks it done */
			break;
		case MAIL_SORT_SUBJECT:
			v = field(h, "Subject", &vl);
			t = mail_base_subject(v, vl, NULL);
			r->text[k] = mail_sort_text(t, strlen(t), max_bytes);
			free(t);
			break;
		case MAIL_SORT_FROM:
		case MAIL_SORT_DISPLAYFROM:
			v = field(h, "From", &vl);
			r->text[k] = k == MAIL_SORT_FROM ? mail_sort_addr_mailbox(v, vl, max_bytes) :
			    mail_sort_addr_display(v, vl, max_bytes);
			break;
		case MAIL_SORT_TO:
		case MAIL_SORT_DISPLAYTO:
			v = field(h, "To", &vl);
			r->text[k] = k == MAIL_SORT_TO ? mail_sort_addr_mailbox(v, vl, max_bytes) :
			    mail_sort_addr_display(v, vl, max_bytes);
			break;
		case MAIL_SORT_CC:
			v = field(h, "Cc", &vl);
			r->text[k] = mail_sort_addr_mailbox(v, vl, max_bytes);
			break;
		default:
			break;
		}
	}
}

void
mail_sort_rec_free(struct mail_sort_rec *r)
{
	for (int k = 0; k < MAIL_SORT_KEY_COUNT; k++) {
		free(r->text[k]);
		r->text[k] = NULL;
	}
}

/* ---- sorting ---- */

static int
num_cmp(uint64_t a, uint64_t b)
{
	return a < b ? -1 : a > b;
}

static int
rec_cmp(const struct mail_sort_rec *a, const struct mail_sort_rec *b,
    const struct mail_sort_crit *crit, size_t ncrit)
{
	for (size_t i = 0; i < ncrit; i++) {
		enum mail_sort_key k = crit[i].key;
		int c;
		switch (k) {
		case MAIL_SORT_ARRIVAL:
			c = a->arrival < b->arrival ? -1 : a->arrival > b->arrival;
			break;
		case MAIL_SORT_DATE:
			c = a->date < b->date ? -1 : a->date > b->date;
			break;
		case MAIL_SORT_SIZE:
			c = num_cmp(a->size, b->size);
			break;
		default:
			c = strcmp(a->text[k] ? a->text[k] : "", b->text[k] ? b->text[k] : "");
			break;
		}
		if (c != 0)
			return crit[i].reverse ? -c : c;
	}
	return num_cmp(a->seq, b->seq);
}

int
mail_sort_cmp(const struct mail_sort_rec *a, const struct mail_sort_rec *b,
    const struct mail_sort_crit *crit, size_t ncrit)
{
	return rec_cmp(a, b, crit, ncrit);
}

static void
merge_sort(struct mail_sort_rec **v, struct mail_sort_rec **tmp, size_t n,
    const struct mail_sort_crit *crit, size_t ncrit)
{
	if (n < 2)
		return;
	size_t h = n / 2, i = 0, j = h, k = 0;
	merge_sort(v, tmp, h, crit, ncrit);
	merge_sort(v + h, tmp, n - h, crit, ncrit);
	while (i < h && j < n)
		tmp[k++] = rec_cmp(v[j], v[i], crit, ncrit) < 0 ? v[j++] : v[i++];
	while (i < h)
		tmp[k++] = v[i++];
	while (j < n)
		tmp[k++] = v[j++];
	memcpy(v, tmp, n * sizeof(*v));
}

void
mail_sort(struct mail_sort_rec **recs, size_t n,
    const struct mail_sort_crit *crit, size_t ncrit)
{
	if (n < 2)
		return;
	struct mail_sort_rec **tmp = xmalloc(n * sizeof(*tmp));
	merge_sort(recs, tmp, n, crit, ncrit);
	free(tmp);
}
