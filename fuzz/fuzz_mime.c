/* fuzz_mime.c: libFuzzer harness for the MIME parser and what IMAP makes
 * of its tree (src/mail): mail_mime_parse, BODYSTRUCTURE / BODY /
 * ENVELOPE, BODY[section] for a set of section specs, the SEARCH text
 * extraction, and the cache blob round trip. The input is a message as
 * received; it is parsed as is and after CRLF normalisation (what is
 * stored). Properties: every part lies inside the message; the FETCH
 * values are well-formed IMAP (checked by an independent reader: quoted
 * strings hold only 7-bit text without CR/LF, literals have their
 * length); the cache blob parses back to the same strings, offsets and
 * flags, and sections fetched on the cached tree equal those on the
 * parse. IMAP4rev2's parse (message/global as a message) gets the same
 * tree and value checks. The stored form's full-text terms
 * (mail_fts_terms) are distinct 24-bit trigrams in ascending order, at
 * most MAIL_FTS_TERMS_MAX, or none when it is not indexed. */
#include "fuzz/fuzz.h"

#include "mail/cache.h"
#include "mail/fts.h"
#include "mail/mime.h"

/* ---- an independent reader for IMAP values (RFC 3501 9) ---- */

/* One value at s[*i]; returns false on bad syntax. Counts top-level
 * members of a list in *members when non-NULL. */
static bool
imap_value(const char *s, size_t n, size_t *i, unsigned depth, size_t *members)
{
	if (*i >= n || depth > 200)
		return false;
	char c = s[*i];
	if (c == '(') {
		size_t cnt = 0;
		(*i)++;
		if (*i < n && s[*i] == ')') {
			(*i)++;
			if (members)
				*members = 0;
			return true;
		}
		for (;;) {
			if (!imap_value(s, n, i, depth + 1, NULL))
				return false;
			cnt++;
			if (*i >= n)
				return false;
			if (s[*i] == ')') {
				(*i)++;
				break;
			}
			/* address lists and multipart bodies: lists
			 * follow each other without SP */
			if (s[*i] == '(' && s[*i - 1] == ')')
				continue;
			if (s[*i] != ' ')
				return false;
			(*i)++;
		}
		if (members)
			*members = cnt;
		return true;
	}
	if (c == '"') {
		for ((*i)++; *i < n; (*i)++) {
			unsigned char q = (unsigned char)s[*i];
			if (q == '"') {
				(*i)++;
				return true;
			}
			if (q == '\\') {
				(*i)++;
				if (*i >= n || (s[*i] != '"' && s[*i] != '\\'))
					return false;
			} else if (q == 0 || q == '\r' || q == '\n' || q >= 0x80) {
				return false;
			}
		}
		return false;
	}
	if (c == '{') {
		size_t len = 0, j = *i + 1;
		if (j >= n || s[j] < '0' || s[j] > '9')
			return false;
		while (j < n && s[j] >= '0' && s[j] <= '9') {
			if (len > n)
				return false;
			len = len * 10 + (size_t)(s[j++] - '0');
		}
		if (j + 3 > n || s[j] != '}' || s[j + 1] != '\r' || s[j + 2] != '\n')
			return false;
		j += 3;
		if (len > n - j || memchr(s + j, '\0', len) != NULL)
			return false;
		*i = j + len;
		return true;
	}
	if (n - *i >= 3 && memcmp(s + *i, "NIL", 3) == 0) {
		*i += 3;
		return true;
	}
	if (c >= '0' && c <= '9') {
		while (*i < n && s[*i] >= '0' && s[*i] <= '9')
			(*i)++;
		return true;
	}
	return false;
}

static void
check_imap(const struct mm_buf *b, size_t want_members)
{
	size_t i = 0, members = 0;
	bool ok = b->len > 0 && b->data[0] == '(' &&
	    imap_value(b->data, b->len, &i, 0, &members) && i == b->len;
	if (!ok)
		fprintf(stderr, "bad IMAP value at %zu: %.*s\n", i, (int)b->len, b->data);
	FUZZ_CHECK(ok);
	if (want_members)
		FUZZ_CHECK(members == want_members);
}

static char *
fetch_value(const struct mail_msg *m, int what)
{
	struct mm_buf b;
	mm_buf_init(&b);
	if (what == 0)
		mail_imap_bodystructure(&b, m->root, true);
	else if (what == 1)
		mail_imap_bodystructure(&b, m->root, false);
	else
		mail_imap_envelope(&b, m->root->env);
	check_imap(&b, what == 2 ? 10 : 0);
	return mm_buf_cstr(&b);
}

static const char *const specs[] = {
	"", "1", "2", "1.1", "1.2", "2.1", "1.1.1", "3", "1.MIME", "2.MIME",
	"1.1.MIME", "TEXT", "HEADER", "1.TEXT", "1.HEADER", "2.HEADER",
	"1.1.HEADER", "HEADER.FIELDS (From To Subject)",
	"HEADER.FIELDS.NOT (Received DKIM-Signature)",
	"1.HEADER.FIELDS (Content-Type)", "2.HEADER.FIELDS.NOT (From)",
};

static void
check_part(const struct mail_part *p, size_t len)
{
	FUZZ_CHECK(p->hdr_off <= p->body_off);
	FUZZ_CHECK(p->body_off <= p->body_end);
	FUZZ_CHECK(p->body_end <= len);
	FUZZ_CHECK(p->type != NULL && p->subtype != NULL);
	if (p->parent != NULL) {
		FUZZ_CHECK(p->hdr_off >= p->parent->body_off);
		FUZZ_CHECK(p->body_end <= p->parent->body_end);
	}
}

/* IMAP4rev2's parse (MAIL_PARSE_GLOBAL: message/global is a message):
 * every part inside the message, well-formed FETCH values, sections and
 * BINARY inside the message; without a message/global part it is the
 * default parse's tree and BODYSTRUCTURE. */
static void
check_global(const char *msg, size_t len, const struct mail_msg *m0, const char *bs0)
{
	struct mail_msg *g = mail_mime_parse_opts(msg, len, MAIL_PARSE_GLOBAL);
	bool any = false;
	unsigned nparts = 0;
	FUZZ_CHECK(g != NULL && g->root != NULL && g->size == len);
	for (const struct mail_part *p = g->root; p; p = mail_part_next(p)) {
		check_part(p, len);
		nparts++;
		if (p->flags & MAIL_PART_GLOBAL) {
			any = true;
			FUZZ_CHECK(mail_part_is_message(p));
		}
		if (p->flags & MAIL_PART_MESSAGE)
			FUZZ_CHECK(p->nchildren == 1 && p->child->env != NULL);
	}
	FUZZ_CHECK(nparts == g->nparts);
	char *bs = fetch_value(g, 0), *body = fetch_value(g, 1);
	if (!any) {
		FUZZ_CHECK(g->nparts == m0->nparts);
		FUZZ_CHECK(strcmp(bs, bs0) == 0);
	}
	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		struct mail_section sec;
		struct mail_section_result r;
		struct mm_buf d;
		FUZZ_CHECK(mail_section_parse(specs[i], strlen(specs[i]), &sec) == MAIL_SECTION_OK);
		if (mail_section_fetch(g, msg, len, &sec, &r) == MAIL_SECTION_OK && !r.produced)
			FUZZ_CHECK(r.off <= len && r.len <= len - r.off);
		mail_section_result_free(&r);
		mm_buf_init(&d);
		if (sec.kind == MAIL_SECTION_ALL &&
		    mail_binary_fetch(g, msg, len, &sec, &d) == MAIL_SECTION_OK)
			FUZZ_CHECK(d.len <= len);
		mm_buf_free(&d);
		mail_section_free(&sec);
	}
	free(bs);
	free(body);
	mail_msg_free(&g);
}

static void
check_msg(const char *msg, size_t len)
{
	struct mail_msg *m = mail_mime_parse(msg, len);
	FUZZ_CHECK(m != NULL && m->root != NULL && m->size == len);
	unsigned nparts = 0;
	for (const struct mail_part *p = m->root; p; p = mail_part_next(p)) {
		check_part(p, len);
		nparts++;
		static const char *const names[] = { "name", "filename", "boundary" };
		for (size_t i = 0; i < 3; i++) {
			char *v = mail_part_param_utf8(p, names[i]);
			if (v != NULL)
				FUZZ_CHECK(fuzz_utf8_valid((const unsigned char *)v, strlen(v)));
			free(v);
		}
		(void)mail_part_param(p, "charset");
	}
	FUZZ_CHECK(nparts == m->nparts);

	/* BINARY: every part's decoded content stays bounded; the binary
	 * parts re-encoded as base64 give back the same decoded bytes */
	for (unsigned k = 1; k <= 4; k++) {
		struct mail_section sec;
		char spec[8];
		struct mm_buf d;
		snprintf(spec, sizeof(spec), "%u", k);
		mm_buf_init(&d);
		if (mail_section_parse(spec, strlen(spec), &sec) == MAIL_SECTION_OK &&
		    mail_binary_fetch(m, msg, len, &sec, &d) == MAIL_SECTION_OK)
			FUZZ_CHECK(d.len <= len);
		mail_section_free(&sec);
		mm_buf_free(&d);
	}
	/* URLFETCH BINARY: a part converted as a whole never grows, but for
	 * its leaves' CTE fields rewritten to "binary" (a field is at least
	 * "Content-Transfer-Encoding:base64\n", 2 bytes shorter) */
	unsigned nconv = 0;
	for (const struct mail_part *p = m->root; p != NULL && nconv < 64;
	    p = mail_part_next(p), nconv++) {
		struct mm_buf d;
		size_t blen = p->body_end - p->body_off;
		mm_buf_init(&d);
		if (mail_binary_convert(msg, len, p, false, &d) == MAIL_SECTION_OK)
			FUZZ_CHECK(d.len <= blen);
		d.len = 0;
		if (mail_binary_convert(msg, len, p, true, &d) == MAIL_SECTION_OK)
			FUZZ_CHECK(d.len <= blen + 2 * (size_t)m->nparts);
		mm_buf_free(&d);
	}
	struct mm_buf enc;
	mm_buf_init(&enc);
	if (mail_binary_encode_parts(msg, len, &enc)) {
		struct mail_msg *m2 = mail_mime_parse(enc.data, enc.len);
		FUZZ_CHECK(m2 != NULL && m2->size == enc.len);
		mail_msg_free(&m2);
	}
	mm_buf_free(&enc);

	char *bs = fetch_value(m, 0), *body = fetch_value(m, 1), *env = fetch_value(m, 2);
	check_global(msg, len, m, bs);

	/* the cache blob */
	struct mm_buf blob;
	struct mail_cache *c = NULL;
	mm_buf_init(&blob);
	mail_cache_build_tree(m, msg, len, &blob);
	FUZZ_CHECK(mail_cache_parse(blob.data, blob.len, &c) == 0);
	FUZZ_CHECK(strcmp(c->bodystructure, bs) == 0);
	FUZZ_CHECK(strcmp(c->body, body) == 0);
	FUZZ_CHECK(strcmp(c->envelope, env) == 0);
	FUZZ_CHECK(c->msg_size == len);
	FUZZ_CHECK(c->header_size == m->root->body_off);
	FUZZ_CHECK(c->tree->nparts == m->nparts);
	const struct mail_part *p = m->root, *q = c->tree->root;
	for (; p && q; p = mail_part_next(p), q = mail_part_next(q)) {
		FUZZ_CHECK(p->hdr_off == q->hdr_off && p->body_off == q->body_off);
		FUZZ_CHECK(p->body_end == q->body_end && p->flags == q->flags);
		FUZZ_CHECK(p->body_lines == q->body_lines);
		FUZZ_CHECK(strcmp(p->type, q->type) == 0 && strcmp(p->subtype, q->subtype) == 0);
	}
	FUZZ_CHECK(p == NULL && q == NULL);

	/* sections, on the parse and on the cached tree */
	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		struct mail_section sec;
		struct mail_section_result r1, r2;
		FUZZ_CHECK(mail_section_parse(specs[i], strlen(specs[i]), &sec) == MAIL_SECTION_OK);
		int e1 = mail_section_fetch(m, msg, len, &sec, &r1);
		int e2 = mail_section_fetch(c->tree, msg, len, &sec, &r2);
		FUZZ_CHECK(e1 == e2);
		if (e1 == MAIL_SECTION_OK) {
			FUZZ_CHECK(r1.produced == r2.produced && r1.len == r2.len);
			if (r1.produced) {
				FUZZ_CHECK(r1.len == r1.data.len);
				FUZZ_CHECK(r1.len == 0 || memcmp(r1.data.data, r2.data.data, r1.len) == 0);
			} else {
				FUZZ_CHECK(r1.off == r2.off);
				FUZZ_CHECK(r1.off <= len && r1.len <= len - r1.off);
			}
		}
		mail_section_result_free(&r1);
		mail_section_result_free(&r2);
		mail_section_free(&sec);
	}
	/* a tree does not answer for other bytes */
	if (len > 0) {
		struct mail_section sec;
		struct mail_section_result r;
		FUZZ_CHECK(mail_section_parse("TEXT", 4, &sec) == MAIL_SECTION_OK);
		FUZZ_CHECK(mail_section_fetch(m, msg, len - 1, &sec, &r) != MAIL_SECTION_OK);
		mail_section_result_free(&r);
		mail_section_free(&sec);
	}

	/* SEARCH text */
	struct mm_buf text;
	mm_buf_init(&text);
	mail_text_body(m, msg, len, 1 << 16, &text);
	FUZZ_CHECK(text.len <= 1 << 16);
	text.len = 0;
	mail_text_body(m, msg, len, 7, &text);
	FUZZ_CHECK(text.len <= 7);
	text.len = 0;
	/* raw 8-bit header text is kept (search folds it as windows-1252) */
	mail_text_headers(msg, len, 1 << 16, &text);
	FUZZ_CHECK(text.len <= 1 << 16);
	mm_buf_free(&text);

	mail_cache_free(&c);
	FUZZ_CHECK(c == NULL);
	mm_buf_free(&blob);
	free(bs);
	free(body);
	free(env);
	mail_msg_free(&m);
	FUZZ_CHECK(m == NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *msg = fuzz_dup(data, size);
	check_msg(msg, size);

	size_t nlen = 0;
	char *norm = mail_crlf_normalize(msg, size, &nlen);
	for (size_t i = 0; i < nlen; i++) {
		if (norm[i] == '\r')
			FUZZ_CHECK(i + 1 < nlen && norm[i + 1] == '\n');
		else if (norm[i] == '\n')
			FUZZ_CHECK(i > 0 && norm[i - 1] == '\r');
	}
	uint32_t *terms;
	size_t nterms;
	bool indexed = mail_fts_terms(norm, nlen, &terms, &nterms);
	FUZZ_CHECK(indexed ? nterms <= MAIL_FTS_TERMS_MAX : terms == NULL && nterms == 0);
	for (size_t i = 0; i < nterms; i++)
		FUZZ_CHECK(terms[i] < (1u << 24) && (i == 0 || terms[i - 1] < terms[i]));
	free(terms);
	if (nlen != size || memcmp(norm, msg, size) != 0) {
		char *exact = fuzz_dup(norm, nlen);
		check_msg(exact, nlen);
		free(exact);
	}
	free(norm);
	free(msg);
	return 0;
}
