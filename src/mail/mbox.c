/* mbox.c: the mbox splitter and the Maildir/Dovecot metadata readers of
 * mbox.h (pure).
 *
 * The one idea of the splitter: a message ends where a From_ line starts
 * a new one, and the empty line just before that From_ line belongs to
 * the mbox, not to the message; so an empty line is held back until the
 * next line shows whether it was the separator. A line starting "From "
 * separates messages when it follows an empty line (or starts the file),
 * or when it carries a valid asctime date (writers that leave out the
 * empty line); anything else is message text. Only a line's start is
 * held, up to MBOX_FROM_LINE_MAX_BYTES, so memory does not grow with the
 * file or with a line. */
#include "mail/mbox.h"
#include "lib/util.h"

#include <string.h>

enum { ST_LINE_START, ST_PREFIX, ST_BODY };

void
mbox_parser_init(struct mbox_parser *p, enum mbox_quoting q,
    const struct mbox_cb *cb, void *arg)
{
	memset(p, 0, sizeof(*p));
	p->quoting = q;
	p->cb = cb;
	p->arg = arg;
	p->state = ST_LINE_START;
}

static void
emit(struct mbox_parser *p, const char *s, size_t n)
{
	if (n > 0)
		p->cb->data(p->arg, s, n);
}

/* Text of the current message follows: the held empty line was not the
 * separator. False when there is no message yet (not an mbox). */
static bool
text_follows(struct mbox_parser *p)
{
	if (!p->in_msg) {
		p->err = MBOX_ERR_NOT_MBOX;
		return false;
	}
	if (p->blank_pending) {
		p->blank_pending = false;
		emit(p, "\n", 1);
	}
	return true;
}

static bool
is_from(const char *s, size_t n)
{
	return n >= 5 && memcmp(s, "From ", 5) == 0;
}

/* The held line start, which is not a From_ line: pass it on, with the
 * quoting of ">From " lines undone. */
static void
flush_text(struct mbox_parser *p)
{
	size_t k = 0;
	if (!text_follows(p))
		return;
	while (k < p->linelen && p->line[k] == '>')
		k++;
	if (k > 0 && is_from(p->line + k, p->linelen - k) &&
	    (p->quoting == MBOX_MBOXRD || k == 1))
		emit(p, p->line + 1, p->linelen - 1);
	else
		emit(p, p->line, p->linelen);
}

/* A whole line is held (with its '\n', or the file's last line). */
static void
full_line(struct mbox_parser *p, bool eof)
{
	size_t n = p->linelen;
	size_t body = n > 0 && p->line[n - 1] == '\n' ? n - 1 : n;

	if (!eof && n == 1 && p->line[0] == '\n') {
		if (!p->in_msg) {
			p->err = MBOX_ERR_NOT_MBOX;
			return;
		}
		if (p->blank_pending)
			emit(p, "\n", 1);
		p->blank_pending = true;
		return;
	}
	if (!eof && is_from(p->line, body) &&
	    (!p->in_msg || p->blank_pending ||
	    mbox_from_line_date(p->line, body, NULL))) {
		if (p->in_msg)
			p->cb->end(p->arg);
		p->blank_pending = false;
		p->in_msg = true;
		p->messages++;
		p->cb->begin(p->arg, p->line, body);
		return;
	}
	flush_text(p);
}

int
mbox_push(struct mbox_parser *p, const void *buf, size_t n)
{
	const char *s = buf;
	size_t i = 0;

	if (n > 0)
		p->any = true;
	while (i < n && p->err == MBOX_OK) {
		switch (p->state) {
		case ST_LINE_START:
			p->linelen = 0;
			p->state = ST_PREFIX;
			/* fall through */
		case ST_PREFIX: {
			char c = s[i++];
			p->line[p->linelen++] = c;
			if (c == '\n') {
				full_line(p, false);
				p->state = ST_LINE_START;
				break;
			}
			/* still a possible ">*From " start? */
			size_t k = 0;
			while (k < p->linelen && p->line[k] == '>')
				k++;
			size_t m = p->linelen - k;
			bool maybe = m < 5 ? memcmp(p->line + k, "From ", m) == 0 :
			    memcmp(p->line + k, "From ", 5) == 0;
			if (maybe && m >= 5 && k > 0) {
				/* a quoted From: decided, the rest streams */
				flush_text(p);
				p->state = ST_BODY;
			} else if (!maybe || p->linelen == MBOX_FROM_LINE_MAX_BYTES) {
				flush_text(p);
				p->state = ST_BODY;
			}
			break;
		}
		case ST_BODY: {
			const char *nl = memchr(s + i, '\n', n - i);
			size_t take = nl != NULL ? (size_t)(nl - (s + i)) + 1 : n - i;
			emit(p, s + i, take);
			i += take;
			if (nl != NULL)
				p->state = ST_LINE_START;
			break;
		}
		}
	}
	return p->err;
}

int
mbox_finish(struct mbox_parser *p)
{
	if (p->err != MBOX_OK)
		return p->err;
	if (p->state == ST_PREFIX && p->linelen > 0)
		full_line(p, true);
	if (p->err != MBOX_OK)
		return p->err;
	/* an empty line held at the end is the mbox's last separator */
	p->blank_pending = false;
	if (p->in_msg) {
		p->cb->end(p->arg);
		p->in_msg = false;
	}
	p->state = ST_LINE_START;
	if (p->messages == 0)
		p->err = p->any ? MBOX_ERR_NOT_MBOX : MBOX_ERR_EMPTY;
	return p->err;
}

/* ---- From_ line dates ---- */

static int
month_of(const char *s, size_t n)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	if (n != 3)
		return -1;
	for (int i = 0; i < 12; i++)
		if (mm_strncaseeq(s, months + 3 * i, 3))
			return i;
	return -1;
}

static bool
is_weekday(const char *s, size_t n)
{
	static const char days[] = "SunMonTueWedThuFriSat";
	if (n != 3)
		return false;
	for (int i = 0; i < 7; i++)
		if (mm_strncaseeq(s, days + 3 * i, 3))
			return true;
	return false;
}

static bool
digits(const char *s, size_t n, size_t min, size_t max, int *v)
{
	if (n < min || n > max)
		return false;
	*v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		*v = *v * 10 + (s[i] - '0');
	}
	return true;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian). */
static int64_t
days_from_civil(int y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

bool
mbox_from_line_date(const char *line, size_t len, time_t *date_r)
{
	const char *tok[32];
	size_t tlen[32], nt = 0;

	if (!is_from(line, len))
		return false;
	for (size_t i = 5; i < len && nt < 32; ) {
		while (i < len && (line[i] == ' ' || line[i] == '\t'))
			i++;
		if (i >= len)
			break;
		size_t st = i;
		while (i < len && line[i] != ' ' && line[i] != '\t')
			i++;
		tok[nt] = line + st;
		tlen[nt++] = i - st;
	}
	/* SENDER Www Mmm dd hh:mm[:ss] [TZ] yyyy */
	for (size_t i = 1; i + 3 < nt; i++) {
		int mon, day, year, hh, mi, ss = 0;
		if (!is_weekday(tok[i], tlen[i]) || (mon = month_of(tok[i + 1], tlen[i + 1])) < 0 ||
		    !digits(tok[i + 2], tlen[i + 2], 1, 2, &day) || day < 1 || day > 31)
			continue;
		const char *t = tok[i + 3];
		size_t tl = tlen[i + 3];
		if (!(tl == 5 || tl == 8) || !digits(t, 2, 2, 2, &hh) || t[2] != ':' ||
		    !digits(t + 3, 2, 2, 2, &mi) ||
		    (tl == 8 && (t[5] != ':' || !digits(t + 6, 2, 2, 2, &ss))) ||
		    hh > 23 || mi > 59 || ss > 60)
			continue;
		size_t y = i + 4;
		if (y < nt && !digits(tok[y], tlen[y], 4, 4, &year))
			y++;
		if (y >= nt || !digits(tok[y], tlen[y], 4, 4, &year) || year < 1970)
			continue;
		if (date_r != NULL)
			*date_r = (time_t)(days_from_civil(year, mon + 1, day) * 86400 +
			    hh * 3600 + mi * 60 + ss);
		return true;
	}
	return false;
}

/* ---- header metadata ---- */

static void
add_keyword(struct mbox_meta *m, const char *s, size_t n)
{
	if (n == 0 || n > MBOX_META_KEYWORD_MAX_BYTES || m->nkeywords == MBOX_META_KEYWORDS_MAX)
		return;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || strchr("(){%*\"\\]", s[i]) != NULL ||
		    (unsigned char)s[i] >= 0x7f)
			return;
	for (size_t i = 0; i < m->nkeywords; i++)
		if (strlen(m->keywords[i]) == n && memcmp(m->keywords[i], s, n) == 0)
			return;
	memcpy(m->keywords[m->nkeywords], s, n);
	m->keywords[m->nkeywords++][n] = '\0';
}

static void
add_keywords(struct mbox_meta *m, const char *v, size_t n)
{
	for (size_t i = 0; i < n; ) {
		while (i < n && (v[i] == ' ' || v[i] == ',' || v[i] == '\t' ||
		    v[i] == '\r' || v[i] == '\n'))
			i++;
		size_t st = i;
		while (i < n && v[i] != ' ' && v[i] != ',' && v[i] != '\t' &&
		    v[i] != '\r' && v[i] != '\n')
			i++;
		add_keyword(m, v + st, i - st);
	}
}

#define HDR(s) s, sizeof(s) - 1

size_t
mbox_meta_strip(char *msg, size_t len, struct mbox_meta *m)
{
	size_t in = 0, out = 0;

	memset(m, 0, sizeof(*m));
	while (in < len) {
		/* one header field with its continuation lines */
		size_t st = in;
		if (msg[in] == '\n' || (msg[in] == '\r' && in + 1 < len && msg[in + 1] == '\n'))
			break;   /* the empty line: the body follows */
		do {
			const char *nl = memchr(msg + in, '\n', len - in);
			in = nl != NULL ? (size_t)(nl - msg) + 1 : len;
		} while (in < len && (msg[in] == ' ' || msg[in] == '\t'));
		const char *f = msg + st;
		size_t flen = in - st;
		const char *colon = memchr(f, ':', flen);
		size_t nlen = colon != NULL ? (size_t)(colon - f) : 0;
		const char *v = colon != NULL ? colon + 1 : f;
		size_t vlen = colon != NULL ? flen - nlen - 1 : 0;
		bool strip = false;
		if (colon == NULL) {
			/* not a header field: the header is over */
			in = st;
			break;
		}
#define IS(name) (nlen == sizeof(name) - 1 && mm_strncaseeq(f, name, nlen))
		if (IS("Status")) {
			strip = true;
			for (size_t i = 0; i < vlen; i++)
				if (v[i] == 'R')
					m->flags |= 0x01;
		} else if (IS("X-Status")) {
			strip = true;
			for (size_t i = 0; i < vlen; i++)
				switch (v[i]) {
				case 'A': m->flags |= 0x02; break;
				case 'F': m->flags |= 0x04; break;
				case 'D': m->flags |= 0x08; break;
				case 'T': m->flags |= 0x10; break;
				}
		} else if (IS("X-Keywords")) {
			strip = true;
			add_keywords(m, v, vlen);
		} else if (IS("X-UID") || IS("X-IMAP") || IS("X-IMAPbase") ||
		    IS("Content-Length")) {
			strip = true;
		} else if (IS("X-Mozilla-Status")) {
			unsigned x = 0;
			size_t i = 0;
			while (i < vlen && (v[i] == ' ' || v[i] == '\t'))
				i++;
			for (size_t k = 0; k < 4 && i < vlen; k++, i++) {
				char c = v[i];
				int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ?
				    c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
				if (d < 0)
					break;
				x = x * 16 + (unsigned)d;
			}
			if (x & 0x0001) m->flags |= 0x01;
			if (x & 0x0002) m->flags |= 0x02;
			if (x & 0x0004) m->flags |= 0x04;
			if (x & 0x0008) m->flags |= 0x08;
		} else if (IS("X-Mozilla-Keys")) {
			add_keywords(m, v, vlen);
		}
#undef IS
		if (!strip) {
			memmove(msg + out, f, flen);
			out += flen;
		}
	}
	memmove(msg + out, msg + in, len - in);
	return out + (len - in);
}

/* ---- Maildir ---- */

size_t
maildir_name_flags(const char *name, uint32_t *flags_r, uint32_t *kwbits_r)
{
	const char *colon = strrchr(name, ':');
	*flags_r = 0;
	*kwbits_r = 0;
	if (colon == NULL)
		return strlen(name);
	if (colon[1] == '2' && colon[2] == ',') {
		for (const char *p = colon + 3; *p != '\0'; p++) {
			switch (*p) {
			case 'S': *flags_r |= 0x01; break;
			case 'R': *flags_r |= 0x02; break;
			case 'F': *flags_r |= 0x04; break;
			case 'T': *flags_r |= 0x08; break;
			case 'D': *flags_r |= 0x10; break;
			default:
				if (*p >= 'a' && *p <= 'z')
					*kwbits_r |= 1u << (*p - 'a');
			}
		}
	}
	return (size_t)(colon - name);
}

static bool
parse_u32(const char **s, const char *end, uint32_t *v)
{
	uint64_t x = 0;
	const char *p = *s;
	if (p >= end || *p < '0' || *p > '9')
		return false;
	while (p < end && *p >= '0' && *p <= '9') {
		x = x * 10 + (uint64_t)(*p++ - '0');
		if (x > UINT32_MAX)
			return false;
	}
	*v = (uint32_t)x;
	*s = p;
	return true;
}

bool
maildir_keywords_line(const char *line, size_t len, unsigned *index_r,
    const char **name_r, size_t *namelen_r)
{
	const char *p = line, *end = line + len;
	uint32_t ix;
	while (end > p && (end[-1] == '\n' || end[-1] == '\r'))
		end--;
	if (!parse_u32(&p, end, &ix) || ix > 25 || p >= end || *p != ' ')
		return false;
	p++;
	if (p >= end)
		return false;
	*index_r = ix;
	*name_r = p;
	*namelen_r = (size_t)(end - p);
	return true;
}

bool
maildir_uidlist_header(const char *line, size_t len, uint32_t *uidvalidity_r,
    uint32_t *nextuid_r)
{
	const char *p = line, *end = line + len;
	uint32_t version;
	while (end > p && (end[-1] == '\n' || end[-1] == '\r'))
		end--;
	if (!parse_u32(&p, end, &version))
		return false;
	*uidvalidity_r = *nextuid_r = 0;
	if (version == 1) {
		return p < end && *p++ == ' ' && parse_u32(&p, end, uidvalidity_r) &&
		    p < end && *p++ == ' ' && parse_u32(&p, end, nextuid_r);
	}
	if (version != 3)
		return false;
	while (p < end) {
		if (*p == ' ') {
			p++;
			continue;
		}
		char c = *p++;
		if (c == 'V' && !parse_u32(&p, end, uidvalidity_r))
			return false;
		if (c == 'N' && !parse_u32(&p, end, nextuid_r))
			return false;
		while (p < end && *p != ' ')
			p++;
	}
	return *uidvalidity_r != 0 && *nextuid_r != 0;
}

bool
maildir_uidlist_line(const char *line, size_t len, uint32_t *uid_r,
    const char **base_r, size_t *baselen_r)
{
	const char *p = line, *end = line + len;
	while (end > p && (end[-1] == '\n' || end[-1] == '\r'))
		end--;
	if (!parse_u32(&p, end, uid_r) || *uid_r == 0 || p >= end || *p != ' ')
		return false;
	const char *colon = NULL;
	for (const char *q = p; q + 1 < end; q++)
		if (q[0] == ' ' && q[1] == ':') {
			colon = q + 1;
			break;
		}
	if (colon != NULL)
		p = colon + 1;
	else
		p++;
	if (p >= end)
		return false;
	*base_r = p;
	*baselen_r = (size_t)(end - p);
	return true;
}

void
mbox_to_crlf(const char *src, size_t len, struct mm_buf *out)
{
	size_t st = 0;
	mm_buf_reserve(out, len + len / 32 + 2);
	for (size_t i = 0; i < len; i++) {
		if (src[i] == '\n' && (i == 0 || src[i - 1] != '\r')) {
			mm_buf_append(out, src + st, i - st);
			mm_buf_append(out, "\r\n", 2);
			st = i + 1;
		}
	}
	mm_buf_append(out, src + st, len - st);
}
