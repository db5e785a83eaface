/* fuzz_dkim.c: libFuzzer harness for the pure DKIM layer (src/mail/dkim.c):
 * tag-lists, DKIM-Signature values, key records, b= stripping, and the
 * header and body canonicalizers. Input: byte 0 picks the split point of
 * the body test (its value times the length, over 256); the rest is the
 * text. Properties: tags point inside the input with valid names and no
 * duplicates; a signature that parses has what RFC 6376 3.5 requires (a
 * domain, From in h=, a 32-byte bh=); stripping b= never grows a field;
 * the body canonicalizer gives the same bytes in two pieces as at once,
 * and its relaxed output has no TAB, no WSP before a CRLF, and no empty
 * line at the end; its simple output always ends in CRLF. The 8BITMIME
 * downgrade (downgrade.c) either refuses with a reason or gives 7-bit
 * bytes, and copies a 7-bit message unchanged. */
#include "fuzz/fuzz.h"

#include "mail/dkim.h"
#include "mail/downgrade.h"

static void
collect(void *arg, const char *p, size_t n)
{
	mm_buf_append(arg, p, n);
}

static void
canon_body(enum dkim_canon c, const char *s, size_t len, size_t cut, struct mm_buf *out)
{
	struct dkim_body b;
	dkim_body_init(&b, c, UINT64_MAX, collect, out);
	dkim_body_update(&b, s, cut);
	dkim_body_update(&b, s + cut, len - cut);
	dkim_body_final(&b);
	FUZZ_CHECK(b.total == out->len);
}

static void
check_tags(const char *s, size_t len)
{
	struct dkim_tag t[DKIM_TAGS_MAX];
	size_t n = 0;

	if (dkim_tags_parse(s, len, t, DKIM_TAGS_MAX, &n) != DKIM_OK)
		return;
	FUZZ_CHECK(n <= DKIM_TAGS_MAX);
	for (size_t i = 0; i < n; i++) {
		FUZZ_CHECK(t[i].name >= s && t[i].name + t[i].name_len <= s + len);
		FUZZ_CHECK(t[i].value >= s && t[i].value + t[i].value_len <= s + len);
		FUZZ_CHECK(t[i].name_len > 0);
		for (size_t j = 0; j < t[i].name_len; j++) {
			char c = t[i].name[j];
			FUZZ_CHECK((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (j > 0 && ((c >= '0' && c <= '9') || c == '_')));
		}
		if (t[i].value_len > 0) {
			char a = t[i].value[0], z = t[i].value[t[i].value_len - 1];
			FUZZ_CHECK(a != ' ' && a != '\t' && z != ' ' && z != '\t');
		}
		for (size_t j = 0; j < i; j++)
			FUZZ_CHECK(!fuzz_memeq(t[i].name, t[i].name_len, t[j].name, t[j].name_len));
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t len = size - 1;
	char *s = fuzz_dup(data + 1, len);
	size_t cut = len * data[0] / 256;

	check_tags(s, len);

	struct dkim_sig *sig = malloc(sizeof(*sig));
	if (dkim_sig_parse(s, len, sig) == DKIM_OK) {
		FUZZ_CHECK(sig->domain[0] != '\0' && sig->selector[0] != '\0');
		FUZZ_CHECK(sig->bhlen == DKIM_HASH_MAX_BYTES);
		FUZZ_CHECK(sig->blen > 0 && sig->blen <= DKIM_SIG_MAX_BYTES);
		FUZZ_CHECK(sig->nnames > 0 && sig->nnames <= DKIM_SIGNED_FIELDS_MAX);
		bool from = false;
		for (size_t i = 0; i < sig->nnames; i++)
			from |= strcmp(sig->names[i], "from") == 0;
		FUZZ_CHECK(from);
		FUZZ_CHECK(strchr(sig->auid, '@') != NULL);
		FUZZ_CHECK(!sig->has_x || !sig->has_t || sig->x >= sig->t);
	}
	free(sig);

	struct dkim_keyrec *k = malloc(sizeof(*k));
	if (dkim_keyrec_parse(s, len, k) == DKIM_OK)
		FUZZ_CHECK(k->plen > 0 && k->plen <= DKIM_PUBKEY_MAX_BYTES);
	free(k);

	struct mm_buf a, b;
	mm_buf_init(&a);
	mm_buf_init(&b);
	dkim_sig_strip_b(s, len, &a);
	FUZZ_CHECK(a.len <= len);
	a.len = 0;
	dkim_canon_header(DKIM_CANON_RELAXED, s, len, &a);
	FUZZ_CHECK(a.len >= 2 && memcmp(a.data + a.len - 2, "\r\n", 2) == 0);
	a.len = 0;

	for (int c = 0; c < 2; c++) {
		a.len = b.len = 0;
		canon_body((enum dkim_canon)c, s, len, 0, &a);
		canon_body((enum dkim_canon)c, s, len, cut, &b);
		FUZZ_CHECK(fuzz_memeq(a.data, a.len, b.data, b.len));
		if (c == DKIM_CANON_SIMPLE) {
			FUZZ_CHECK(a.len >= 2 && memcmp(a.data + a.len - 2, "\r\n", 2) == 0);
			continue;
		}
		FUZZ_CHECK(a.len == 0 || memcmp(a.data + a.len - 2, "\r\n", 2) == 0);
		FUZZ_CHECK(a.len < 4 || memcmp(a.data + a.len - 4, "\r\n\r\n", 4) != 0);
		for (size_t i = 0; i < a.len; i++) {
			FUZZ_CHECK(a.data[i] != '\t');
			if (a.data[i] == ' ')
				FUZZ_CHECK(i + 1 < a.len && a.data[i + 1] != ' ' &&
				    !(a.data[i + 1] == '\r' && i + 2 < a.len && a.data[i + 2] == '\n'));
		}
	}
	const char *why = NULL;
	bool eight = false;
	for (size_t i = 0; i < len; i++)
		eight |= (unsigned char)s[i] >= 0x80;
	a.len = 0;
	if (mail_downgrade_7bit(s, len, &a, &why)) {
		FUZZ_CHECK(why == NULL);
		for (size_t i = 0; i < a.len; i++)
			FUZZ_CHECK((unsigned char)a.data[i] < 0x80);
		FUZZ_CHECK(eight || fuzz_memeq(a.data, a.len, s, len));
	} else {
		FUZZ_CHECK(why != NULL && eight && a.len == 0);
	}
	mm_buf_free(&a);
	mm_buf_free(&b);
	free(s);
	return 0;
}
