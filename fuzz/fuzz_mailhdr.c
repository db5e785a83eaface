/* fuzz_mailhdr.c: libFuzzer harness for the header-level mail parsers
 * (src/mail): header blocks, address lists, RFC 2047 encoded words and
 * RFC 2231 parameters, base64 / quoted-printable, charsets, search
 * folding, RFC 5322 and IMAP dates, and BODY[section] specs.
 * Input: byte 0 picks a charset; the rest is the text given to each
 * parser. Properties: converted text is valid UTF-8; decoders stay within
 * their size bounds; a parsed date formats and parses back to the same
 * time and zone; a section spec formats to a spec that parses to the same
 * format; header fields lie inside the block. */
#include "fuzz/fuzz.h"

#include "mail/address.h"
#include "mail/date.h"
#include "mail/decode.h"
#include "mail/header.h"
#include "mail/mime.h"

static const char *const charsets[] = {
	"utf-8", "us-ascii", "iso-8859-1", "iso-8859-15", "windows-1252",
	"koi8-r", "shift_jis", "iso-2022-jp", "utf-16", "gb2312", "x-unknown",
	"UTF-7", "",
};

#define U8(b) fuzz_utf8_valid((const unsigned char *)(b).data, (b).len)

static void
check_header(const char *s, size_t len)
{
	struct mail_header h;
	mail_header_parse(s, 0, len, &h);
	FUZZ_CHECK(h.body_off <= len);
	for (size_t i = 0; i < h.n; i++) {
		const struct mail_hdr_field *f = &h.f[i];
		FUZZ_CHECK(f->off + f->len <= h.body_off);
		FUZZ_CHECK(f->name >= s + f->off && f->name + f->name_len <= s + f->off + f->len);
		FUZZ_CHECK(f->value >= s && f->value + f->value_len <= s + f->off + f->len);
		char *u = mail_header_unfold(f->value, f->value_len);
		FUZZ_CHECK(strchr(u, '\n') == NULL);
		free(u);
	}
	char *v = mail_header_get(&h, "Subject");
	free(v);
	(void)mail_header_find(&h, "From");
	mail_header_free(&h);
}

static void
check_addrs(const char *s, size_t len)
{
	struct mail_addr_list l;
	mail_addr_parse(s, len, 0, &l);
	int depth = 0;
	for (size_t i = 0; i < l.n; i++) {
		const struct mail_addr *a = &l.a[i];
		switch (a->kind) {
		case MAIL_ADDR_GROUP_START:
			FUZZ_CHECK(a->mailbox != NULL);
			depth++;
			break;
		case MAIL_ADDR_GROUP_END:
			FUZZ_CHECK(a->name == NULL && a->mailbox == NULL && a->host == NULL);
			depth--;
			break;
		case MAIL_ADDR_MAILBOX:
			break;
		default:
			FUZZ_CHECK(!"bad address kind");
		}
		FUZZ_CHECK(depth == 0 || depth == 1);
	}
	FUZZ_CHECK(depth == 0);
	mail_addr_list_free(&l);
	/* max counts mailboxes; group markers stay balanced */
	mail_addr_parse(s, len, 2, &l);
	size_t boxes = 0;
	depth = 0;
	for (size_t i = 0; i < l.n; i++) {
		boxes += l.a[i].kind == MAIL_ADDR_MAILBOX;
		depth += l.a[i].kind == MAIL_ADDR_GROUP_START;
		depth -= l.a[i].kind == MAIL_ADDR_GROUP_END;
		FUZZ_CHECK(depth == 0 || depth == 1);
	}
	FUZZ_CHECK(boxes <= 2 && depth == 0);
	mail_addr_list_free(&l);
	free(mail_addr_first_spec(s, len));
}

static void
check_decoders(const char *cs, const char *s, size_t len)
{
	struct mm_buf b;
	mm_buf_init(&b);
	mail_decode_base64(s, len, &b);
	FUZZ_CHECK(b.len <= len / 4 * 3 + 3);
	b.len = 0;
	mail_decode_qp(s, len, false, &b);
	FUZZ_CHECK(b.len <= len);
	b.len = 0;
	mail_decode_qp(s, len, true, &b);
	FUZZ_CHECK(b.len <= len);
	b.len = 0;
	(void)mail_charset_to_utf8(cs, s, len, &b);
	FUZZ_CHECK(U8(b));
	(void)mail_charset_known(cs);
	b.len = 0;
	mail_text_fold(s, len, &b);
	FUZZ_CHECK(U8(b));
	FUZZ_CHECK(mail_text_contains(s, len, s, len));
	FUZZ_CHECK(mail_text_contains(s, len, "", 0));
	FUZZ_CHECK(mail_text_contains_folded(s, len, b.data ? b.data : "", b.len));
	mm_buf_free(&b);

	free(mail_decode_header(s, len));
	char *z = fuzz_strdup(s, len);
	free(mail_decode_param(z, true));
	free(mail_decode_param(z, false));
	free(z);
}

static void
check_dates(const char *s, size_t len)
{
	time_t t, t2;
	int tz, tz2;
	char buf[128];

	if (mail_date_parse_rfc5322(s, len, &t, &tz)) {
		mail_date_format_rfc5322(t, tz, buf, sizeof(buf));
		FUZZ_CHECK(mail_date_parse_rfc5322(buf, strlen(buf), &t2, &tz2));
		FUZZ_CHECK(t2 == t && tz2 == tz);
		mail_date_format_imap(t, tz, buf, sizeof(buf));
		FUZZ_CHECK(strlen(buf) == MAIL_DATE_IMAP_LEN);
		FUZZ_CHECK(mail_date_parse_imap_datetime(buf, strlen(buf), &t2, &tz2));
		FUZZ_CHECK(t2 == t && tz2 == tz);
		(void)mail_date_day(t, tz);
	}
	if (mail_date_parse_imap(s, len, &t))
		FUZZ_CHECK(t % 86400 == 0);
	if (mail_date_parse_imap_datetime(s, len, &t, &tz)) {
		mail_date_format_imap(t, tz, buf, sizeof(buf));
		FUZZ_CHECK(strlen(buf) == MAIL_DATE_IMAP_LEN);
		FUZZ_CHECK(mail_date_parse_imap_datetime(buf, strlen(buf), &t2, &tz2));
		FUZZ_CHECK(t2 == t && tz2 == tz);
	}
}

static void
check_section(const char *s, size_t len)
{
	struct mail_section sec, sec2;
	if (mail_section_parse(s, len, &sec) == MAIL_SECTION_OK) {
		char *f = mail_section_format(&sec);
		/* a field name with 8-bit or CR/LF goes out as a literal,
		 * which a spec (inside an atom) never holds */
		if (strstr(f, "}\r\n") != NULL) {
			free(f);
			mail_section_free(&sec);
			return;
		}
		FUZZ_CHECK(mail_section_parse(f, strlen(f), &sec2) == MAIL_SECTION_OK);
		char *f2 = mail_section_format(&sec2);
		FUZZ_CHECK(strcmp(f, f2) == 0);
		FUZZ_CHECK(sec2.nparts == sec.nparts && sec2.kind == sec.kind);
		free(f2);
		free(f);
		mail_section_free(&sec2);
	}
	mail_section_free(&sec);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const char *cs = charsets[data[0] % (sizeof(charsets) / sizeof(charsets[0]))];
	size_t len = size - 1;
	char *s = fuzz_dup(data + 1, len);

	check_header(s, len);
	check_addrs(s, len);
	check_decoders(cs, s, len);
	check_dates(s, len);
	check_section(s, len);
	free(s);
	return 0;
}
