/* check_mime.c: unit tests for src/mail: headers, addresses, encoded
 * words, transfer encodings, the MIME tree, BODYSTRUCTURE / BODY /
 * ENVELOPE strings, BODY[section], dates, the cache blob, SEARCH text.
 * The corpus below is the test data; "check_mime --dump DIR" writes each
 * message and our FETCH answers to DIR so tests/data/mime/dovecot-diff.py
 * can compare them with Dovecot's. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mail/address.h"
#include "mail/cache.h"
#include "mail/date.h"
#include "mail/decode.h"
#include "mail/header.h"
#include "mail/mime.h"

/* The corpus: messages written with "\n" line ends, turned into CRLF
 * unless C_RAW is set (then the bytes are used as they are). */
#define C_RAW 1

static const struct corpus {
	const char *name;
	unsigned flags;
	const char *msg;
} corpus[] = {
{ "plain-no-ct", 0,
"From: Alice <alice@example.org>\n"
"To: bob@example.net\n"
"Subject: hello\n"
"Date: Mon, 7 Feb 1994 21:52:25 -0800\n"
"Message-ID: <1@example.org>\n"
"\n"
"Hello Bob.\n"
"Two lines.\n" },
{ "plain-utf8-qp", 0,
"From: =?utf-8?q?J=C3=B6rg?= <jorg@example.de>\n"
"To: \"Doe, John\" <john@example.com>, jane@example.com\n"
"Subject: =?UTF-8?B?R3LDvMOfZSBhdXMgQmVybGlu?=\n"
"MIME-Version: 1.0\n"
"Content-Type: text/plain; charset=utf-8\n"
"Content-Transfer-Encoding: quoted-printable\n"
"\n"
"Gr=C3=BC=C3=9Fe aus Berlin, sch=C3=B6ne W=\n"
"oche!\n" },
{ "html-base64", 0,
"From: news@example.com\n"
"Subject: News\n"
"Content-Type: text/html; charset=\"iso-8859-1\"\n"
"Content-Transfer-Encoding: base64\n"
"\n"
"PGh0bWw+PGJvZHk+Q2Fm6SBjcuhtZTwvYm9keT48L2h0bWw+\n" },
{ "alternative", 0,
"From: a@example.org\n"
"To: b@example.org\n"
"Subject: alt\n"
"MIME-Version: 1.0\n"
"Content-Type: multipart/alternative; boundary=\"alt-1\"\n"
"\n"
"This is a multi-part message in MIME format.\n"
"--alt-1\n"
"Content-Type: text/plain; charset=us-ascii\n"
"\n"
"plain text\n"
"--alt-1\n"
"Content-Type: text/html; charset=us-ascii\n"
"\n"
"<p>html text</p>\n"
"--alt-1--\n"
"epilogue\n" },
{ "mixed-attachment", 0,
"From: a@example.org\n"
"To: b@example.org\n"
"Subject: report\n"
"MIME-Version: 1.0\n"
"Content-Type: multipart/mixed; boundary=XyZ\n"
"\n"
"--XyZ\n"
"Content-Type: text/plain; charset=utf-8; format=flowed\n"
"Content-Transfer-Encoding: 7bit\n"
"\n"
"See attached.\n"
"\n"
"--XyZ\n"
"Content-Type: application/pdf; name=\"report.pdf\"\n"
"Content-Transfer-Encoding: base64\n"
"Content-Disposition: attachment; filename=\"report.pdf\"; size=12\n"
"\n"
"JVBERi0xLjQKJQ==\n"
"--XyZ--\n" },
{ "mixed-nested-alt", 0,
"From: a@example.org\n"
"Subject: nested\n"
"Content-Type: multipart/mixed; boundary=\"outer\"\n"
"\n"
"--outer\n"
"Content-Type: multipart/alternative; boundary=\"inner\"\n"
"\n"
"--inner\n"
"Content-Type: text/plain\n"
"\n"
"text\n"
"--inner\n"
"Content-Type: text/html\n"
"\n"
"<b>text</b>\n"
"--inner--\n"
"\n"
"--outer\n"
"Content-Type: image/png\n"
"Content-Transfer-Encoding: base64\n"
"Content-ID: <img1@example.org>\n"
"Content-Description: a picture\n"
"Content-Disposition: inline\n"
"\n"
"iVBORw0KGgo=\n"
"--outer--\n" },
{ "forward-rfc822", 0,
"From: a@example.org\n"
"To: c@example.org\n"
"Subject: Fwd: original\n"
"Content-Type: multipart/mixed; boundary=\"fwd\"\n"
"\n"
"--fwd\n"
"Content-Type: text/plain\n"
"\n"
"forwarding\n"
"--fwd\n"
"Content-Type: message/rfc822\n"
"Content-Disposition: inline\n"
"\n"
"From: Orig <orig@example.com>\n"
"To: a@example.org\n"
"Subject: original\n"
"Date: Tue, 1 Jul 2003 10:52:37 +0200\n"
"\n"
"original body\n"
"--fwd--\n" },
{ "rfc822-multipart-inside", 0,
"From: a@example.org\n"
"Subject: deep\n"
"Content-Type: multipart/mixed; boundary=\"L1\"\n"
"\n"
"--L1\n"
"Content-Type: message/rfc822\n"
"\n"
"From: inner@example.com\n"
"Subject: inner\n"
"Content-Type: multipart/alternative; boundary=\"L2\"\n"
"\n"
"--L2\n"
"Content-Type: text/plain\n"
"\n"
"inner plain\n"
"--L2\n"
"Content-Type: text/html\n"
"\n"
"<i>inner</i>\n"
"--L2--\n"
"--L1\n"
"Content-Type: text/plain\n"
"\n"
"after\n"
"--L1--\n" },
{ "toplevel-rfc822", 0,
"From: a@example.org\n"
"Subject: top\n"
"Content-Type: message/rfc822\n"
"\n"
"From: b@example.org\n"
"Subject: enclosed\n"
"\n"
"body\n" },
{ "digest", 0,
"From: list@example.org\n"
"Subject: digest\n"
"Content-Type: multipart/digest; boundary=\"d\"\n"
"\n"
"--d\n"
"\n"
"From: one@example.org\n"
"Subject: one\n"
"\n"
"first\n"
"--d\n"
"\n"
"From: two@example.org\n"
"Subject: two\n"
"\n"
"second\n"
"--d\n"
"Content-Type: text/plain\n"
"\n"
"not a message\n"
"--d--\n" },
{ "encoded-words", 0,
"From: =?ISO-8859-1?Q?Keld_J=F8rn_Simonsen?= <keld@dkuug.dk>\n"
"To: =?US-ASCII?Q?Keith_Moore?= <moore@cs.utk.edu>\n"
"CC: =?ISO-8859-1?Q?Andr=E9?= Pirard <PIRARD@vm1.ulg.ac.be>\n"
"Subject: =?ISO-8859-1?B?SWYgeW91IGNhbiByZWFkIHRoaXMgeW8=?=\n"
" =?ISO-8859-2?B?dSB1bmRlcnN0YW5kIHRoZSBleGFtcGxlLg==?=\n"
"\n"
"body\n" },
{ "long-folded", 0,
"From: a@example.org\n"
"To: one@example.org, two@example.org,\n"
"\tthree@example.org,\n"
"   four@example.org\n"
"Subject: this is a very long subject line that was folded\n"
" across several lines by a mail user agent\n"
"\tand then once more\n"
"\n"
"x\n" },
{ "groups", 0,
"From: a@example.org\n"
"To: undisclosed-recipients:;\n"
"Cc: Team: one@example.org, \"Two\" <two@example.org>;, three@example.org\n"
"Subject: groups\n"
"\n"
"x\n" },
{ "comments", 0,
"From: john@example.org (John Doe)\n"
"To: Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>\n"
"Subject: comments\n"
"\n"
"x\n" },
{ "quoted-names", 0,
"From: \"Doe, John \\\"JD\\\"\" <john@example.org>\n"
"Reply-To: \"list\" <list@example.org>\n"
"Sender: sender@example.org\n"
"Subject: \"quoted\" and back\\slash\n"
"In-Reply-To: <a@b>\n"
"Message-ID: <c@d>\n"
"\n"
"x\n" },
{ "missing-close-boundary", 0,
"From: a@example.org\n"
"Content-Type: multipart/mixed; boundary=\"b\"\n"
"\n"
"--b\n"
"Content-Type: text/plain\n"
"\n"
"one\n"
"--b\n"
"Content-Type: text/plain\n"
"\n"
"two, and no end\n" },
{ "missing-first-boundary", 0,
"From: a@example.org\n"
"Content-Type: multipart/mixed; boundary=\"never\"\n"
"\n"
"there is no delimiter here\n" },
{ "multipart-no-boundary-param", 0,
"From: a@example.org\n"
"Content-Type: multipart/mixed\n"
"\n"
"--x\n"
"hello\n" },
{ "bad-header-lines", 0,
"From: a@example.org\n"
"this line has no colon\n"
"Subject: still a header\n"
" : continuation\n"
"\n"
"body\n" },
{ "eightbit-junk", 0,
"From: J\xf6rg <j@example.de>\n"
"Subject: Gr\xfc\xdf" "e \xe9t\xe9\n"
"Content-Type: text/plain; charset=iso-8859-1\n"
"Content-Transfer-Encoding: 8bit\n"
"\n"
"Caf\xe9\n" },
{ "lf-only", C_RAW,
"From: a@example.org\n"
"Subject: lf only\n"
"Content-Type: multipart/mixed; boundary=\"lf\"\n"
"\n"
"--lf\n"
"Content-Type: text/plain\n"
"\n"
"line one\n"
"line two\n"
"--lf\n"
"Content-Type: text/html\n"
"\n"
"<p>x</p>\n"
"--lf--\n" },
{ "no-blank-line", 0,
"From: a@example.org\n"
"Subject: only headers\n" },
{ "empty", C_RAW, "" },
{ "header-only-blank", 0,
"Subject: empty body\n"
"\n" },
{ "preamble-epilogue", 0,
"From: a@example.org\n"
"Content-Type: multipart/mixed; boundary=\"pe\"\n"
"\n"
"preamble line 1\n"
"preamble line 2\n"
"--pe\n"
"\n"
"part without headers\n"
"--pe--\n"
"epilogue 1\n"
"epilogue 2\n" },
{ "rfc2231", 0,
"From: a@example.org\n"
"Content-Type: multipart/mixed; boundary=\"r\"\n"
"\n"
"--r\n"
"Content-Type: application/octet-stream;\n"
" name*0*=utf-8''%E2%82%AC%20rates;\n"
" name*1=\".txt\"\n"
"Content-Disposition: attachment;\n"
" filename*=iso-8859-1'en'%A3%20rates.txt\n"
"\n"
"data\n"
"--r\n"
"Content-Type: text/plain; title*0=\"part one \"; title*1=\"and two\"\n"
"\n"
"x\n"
"--r--\n" },
{ "content-ext-fields", 0,
"From: a@example.org\n"
"Content-Type: text/plain; charset=us-ascii\n"
"Content-ID: <part1@example.org>\n"
"Content-Description: The description\n"
"Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\n"
"Content-Language: en, de\n"
"Content-Location: http://example.org/x.txt\n"
"Content-Disposition: inline; filename=x.txt\n"
"\n"
"x\n" },
{ "boundary-prefix", 0,
"From: a@example.org\n"
"Content-Type: multipart/mixed; boundary=\"abc\"\n"
"\n"
"--abc\n"
"Content-Type: multipart/alternative; boundary=\"abc-1\"\n"
"\n"
"--abc-1\n"
"Content-Type: text/plain\n"
"\n"
"p\n"
"--abc-1\n"
"Content-Type: text/html\n"
"\n"
"h\n"
"--abc-1--\n"
"--abc\n"
"Content-Type: text/plain\n"
"\n"
"last\n"
"--abc--\n" },
{ "route-and-nodomain", 0,
"From: <@relay1.example,@relay2.example:user@example.org>\n"
"To: user\n"
"Cc: , , ok@example.org ,\n"
"Bcc: \n"
"Subject: routes\n"
"\n"
"x\n" },
{ "multiple-from", 0,
"From: one@example.org, Two <two@example.org>\n"
"Subject: two authors\n"
"\n"
"x\n" },
{ "ct-comments-case", 0,
"From: a@example.org\n"
"Content-Type: TEXT/Plain (a comment); CHARSET=\"ISO-8859-1\" (another)\n"
"Content-Transfer-Encoding: Quoted-Printable\n"
"\n"
"caf=E9\n" },
{ "ct-invalid", 0,
"From: a@example.org\n"
"Content-Type: text\n"
"\n"
"x\n" },
{ "rfc822-base64", 0,
"From: a@example.org\n"
"Content-Type: multipart/mixed; boundary=\"q\"\n"
"\n"
"--q\n"
"Content-Type: message/rfc822\n"
"Content-Transfer-Encoding: base64\n"
"\n"
"RnJvbTogeEB5Lnp6DQoNCmJvZHkNCg==\n"
"--q--\n" },
{ "related-cid", 0,
"From: a@example.org\n"
"Content-Type: multipart/related; boundary=\"rel\"; type=\"text/html\"\n"
"\n"
"--rel\n"
"Content-Type: text/html; charset=utf-8\n"
"\n"
"<img src=\"cid:logo\">\n"
"--rel\n"
"Content-Type: image/gif; name=logo.gif\n"
"Content-ID: <logo>\n"
"Content-Transfer-Encoding: base64\n"
"\n"
"R0lGODlhAQABAAAAACw=\n"
"--rel--\n" },
{ "signed", 0,
"From: a@example.org\n"
"Content-Type: multipart/signed; micalg=pgp-sha256;\n"
" protocol=\"application/pgp-signature\"; boundary=\"sig\"\n"
"\n"
"--sig\n"
"Content-Type: text/plain\n"
"\n"
"signed text\n"
"--sig\n"
"Content-Type: application/pgp-signature; name=\"signature.asc\"\n"
"\n"
"-----BEGIN PGP SIGNATURE-----\n"
"-----END PGP SIGNATURE-----\n"
"--sig--\n" },
{ "empty-parts", 0,
"From: a@example.org\n"
"Content-Type: multipart/mixed; boundary=\"e\"\n"
"\n"
"--e\n"
"--e\n"
"\n"
"--e\n"
"Content-Type: text/plain\n"
"--e--\n" },
{ "boundary-trailing-space", 0,
"From: a@example.org\n"
"Content-Type: multipart/mixed; boundary=\"ts\"\n"
"\n"
"--ts  \n"
"Content-Type: text/plain\n"
"\n"
"padded\n"
"--ts--  \n" },
{ "three-levels", 0,
"From: a@example.org\n"
"Content-Type: multipart/mixed; boundary=\"a\"\n"
"\n"
"--a\n"
"Content-Type: multipart/mixed; boundary=\"b\"\n"
"\n"
"--b\n"
"Content-Type: multipart/alternative; boundary=\"c\"\n"
"\n"
"--c\n"
"Content-Type: text/plain\n"
"\n"
"deep\n"
"--c--\n"
"--b--\n"
"--a\n"
"Content-Type: text/plain\n"
"\n"
"shallow\n"
"--a--\n" },
{ "flowed", 0,
"From: a@example.org\n"
"Content-Type: text/plain; charset=UTF-8; format=flowed; delsp=yes\n"
"\n"
"soft \n"
"break\n" },
{ "utf8-raw-subject", 0,
"From: a@example.org\n"
"Subject: Gr\xc3\xbc\xc3\x9f" "e\n"
"\n"
"x\n" },
{ "date-obsolete", 0,
"From: a@example.org\n"
"Date: 7 Feb 94 21:52 EST\n"
"Subject: obsolete date\n"
"\n"
"x\n" },
{ "dup-content-type", 0,
"From: a@example.org\n"
"Content-Type: text/html\n"
"Content-Type: text/plain\n"
"\n"
"x\n" },
{ "long-line-body", 0,
"From: a@example.org\n"
"Subject: long\n"
"\n"
"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n"
"end\n" },
{ "rfc822-empty", 0,
"From: a@example.org\n"
"Content-Type: multipart/mixed; boundary=\"m\"\n"
"\n"
"--m\n"
"Content-Type: message/rfc822\n"
"\n"
"--m--\n" },
{ "calendar", 0,
"From: a@example.org\n"
"Content-Type: multipart/alternative; boundary=\"cal\"\n"
"\n"
"--cal\n"
"Content-Type: text/plain; charset=utf-8\n"
"\n"
"Invitation\n"
"--cal\n"
"Content-Type: text/calendar; charset=utf-8; method=REQUEST\n"
"\n"
"BEGIN:VCALENDAR\n"
"END:VCALENDAR\n"
"--cal--\n" },
{ "boundary-specials", 0,
"From: a@example.org\n"
"Content-Type: multipart/mixed; boundary=\"=_Part_1.2?x (y)\"\n"
"\n"
"--=_Part_1.2?x (y)\n"
"Content-Type: text/plain\n"
"\n"
"special\n"
"--=_Part_1.2?x (y)--\n" },
{ "boundary-unquoted-equals", 0,
"From: a@example.org\n"
"Content-Type: multipart/mixed; boundary=----=_NextPart_000_0001\n"
"\n"
"------=_NextPart_000_0001\n"
"Content-Type: text/plain\n"
"\n"
"outlook style\n"
"------=_NextPart_000_0001--\n" },
{ "mixed-line-ends", C_RAW,
"From: a@example.org\r\n"
"Subject: mixed\n"
"Content-Type: multipart/mixed; boundary=\"mx\"\r\n"
"\r\n"
"--mx\n"
"Content-Type: text/plain\r\n"
"\n"
"a\r\n"
"b\n"
"--mx--\r\n" },
{ "digest-explicit", 0,
"From: a@example.org\n"
"Content-Type: multipart/digest; boundary=\"dg\"\n"
"\n"
"--dg\n"
"Content-Type: message/rfc822\n"
"\n"
"Subject: explicit\n"
"\n"
"e\n"
"--dg--\n" },
{ "header-no-space", 0,
"From:a@example.org\n"
"Subject:no space\n"
"To :b@example.org\n"
"\n"
"x\n" },
{ "nested-rfc822-twice", 0,
"From: a@example.org\n"
"Subject: level0\n"
"Content-Type: message/rfc822\n"
"\n"
"From: b@example.org\n"
"Subject: level1\n"
"Content-Type: message/rfc822\n"
"\n"
"From: c@example.org\n"
"Subject: level2\n"
"\n"
"innermost\n" },
{ "attachment-2047-name", 0,
"From: a@example.org\n"
"Content-Type: multipart/mixed; boundary=\"n\"\n"
"\n"
"--n\n"
"Content-Type: application/octet-stream; name=\"=?UTF-8?B?w6TDtsO8LnR4dA==?=\"\n"
"Content-Disposition: attachment; filename=\"=?UTF-8?B?w6TDtsO8LnR4dA==?=\"\n"
"Content-Transfer-Encoding: base64\n"
"\n"
"aGk=\n"
"--n--\n" },
{ "windows-1252", 0,
"From: a@example.org\n"
"Subject: =?windows-1252?Q?=93quoted=94_=80?=\n"
"Content-Type: text/plain; charset=windows-1252\n"
"Content-Transfer-Encoding: quoted-printable\n"
"\n"
"=93smart quotes=94 cost =80 5\n" },
{ "no-body-part-headers-unterminated", 0,
"From: a@example.org\n"
"Content-Type: multipart/mixed; boundary=\"u\"\n"
"\n"
"--u\n"
"Content-Type: text/plain\n"
"--u--\n" },
{ "text-no-charset", 0,
"From: a@example.org\n"
"Content-Type: text/plain\n"
"\n"
"x\n" },
{ "apple-mail", 0,
"From: Someone <someone@example.com>\n"
"Content-Type: multipart/alternative;\n"
"\tboundary=\"Apple-Mail=_5F1C7E4A-1B2C-4D5E-8F90-ABCDEF123456\"\n"
"Mime-Version: 1.0 (Mac OS X Mail 16.0 \\(3696.120.41.1.1\\))\n"
"Subject: Re: lunch?\n"
"Date: Wed, 9 Jun 2021 09:12:44 +0200\n"
"In-Reply-To: <xyz@example.org>\n"
"To: Other Person <other@example.org>\n"
"Message-Id: <ABC-123@example.com>\n"
"\n"
"\n"
"--Apple-Mail=_5F1C7E4A-1B2C-4D5E-8F90-ABCDEF123456\n"
"Content-Transfer-Encoding: quoted-printable\n"
"Content-Type: text/plain;\n"
"\tcharset=utf-8\n"
"\n"
"Sure =E2=80=93 noon?\n"
"\n"
"--Apple-Mail=_5F1C7E4A-1B2C-4D5E-8F90-ABCDEF123456\n"
"Content-Transfer-Encoding: quoted-printable\n"
"Content-Type: text/html;\n"
"\tcharset=utf-8\n"
"\n"
"<html><body>Sure =E2=80=93 noon?</body></html>\n"
"--Apple-Mail=_5F1C7E4A-1B2C-4D5E-8F90-ABCDEF123456--\n" },
};

#define NCORPUS (sizeof(corpus) / sizeof(corpus[0]))

/* The message bytes of corpus entry i (malloc'd). */
static char *
corpus_msg(size_t i, size_t *len_r)
{
	const char *s = corpus[i].msg;
	size_t n = strlen(s);
	if (corpus[i].flags & C_RAW) {
		*len_r = n;
		return strndup(s, n);
	}
	char *out = malloc(2 * n + 1), *d = out;
	for (size_t j = 0; j < n; j++) {
		if (s[j] == '\n')
			*d++ = '\r';
		*d++ = s[j];
	}
	*d = '\0';
	*len_r = (size_t)(d - out);
	return out;
}

static char *
fetch_str(const struct mail_msg *m, int what)
{
	struct mm_buf b;
	mm_buf_init(&b);
	if (what == 0)
		mail_imap_bodystructure(&b, m->root, true);
	else if (what == 1)
		mail_imap_bodystructure(&b, m->root, false);
	else
		mail_imap_envelope(&b, m->root->env);
	return mm_buf_cstr(&b);
}

/* The sections dumped for the Dovecot comparison. */
static const char *const dump_sections[] = {
	"1", "1.MIME", "2", "2.MIME", "1.1", "1.1.MIME", "1.2", "2.1", "2.HEADER",
	"1.HEADER", "1.TEXT", "2.TEXT", "TEXT", "HEADER", "HEADER.FIELDS (FROM SUBJECT)",
	"HEADER.FIELDS.NOT (FROM SUBJECT)", "2.HEADER.FIELDS (SUBJECT)", "3", "1.1.1", "2.2",
};

static void
dump_imap_bytes(FILE *f, const char *s, size_t n)
{
	fprintf(f, "{%zu}\r\n", n);
	if (n > 0)
		fwrite(s, 1, n, f);
}

static int
dump(const char *dir)
{
	for (size_t i = 0; i < NCORPUS; i++) {
		char path[4096];
		size_t len;
		char *raw = corpus_msg(i, &len);
		snprintf(path, sizeof(path), "%s/%03zu.eml", dir, i + 1);
		FILE *f = fopen(path, "wb");
		if (f == NULL) {
			free(raw);
			return 1;
		}
		fwrite(raw, 1, len, f);
		fclose(f);
		/* what delivery stores: CRLF line ends (Dovecot shows the same) */
		char *msg = mail_crlf_normalize(raw, len, &len);
		free(raw);
		snprintf(path, sizeof(path), "%s/%03zu.out", dir, i + 1);
		f = fopen(path, "wb");
		struct mail_msg *m = mail_mime_parse(msg, len);
		char *bs = fetch_str(m, 0), *b = fetch_str(m, 1), *env = fetch_str(m, 2);
		fprintf(f, "BODYSTRUCTURE %s\nBODY %s\nENVELOPE %s\n", bs, b, env);
		for (size_t s = 0; s < sizeof(dump_sections) / sizeof(dump_sections[0]); s++) {
			struct mail_section sec;
			struct mail_section_result r;
			const char *spec = dump_sections[s];
			fprintf(f, "BODY[%s] ", spec);
			if (mail_section_parse(spec, strlen(spec), &sec) != MAIL_SECTION_OK) {
				fprintf(f, "BAD\n");
				continue;
			}
			int rc = mail_section_fetch(m, msg, len, &sec, &r);
			if (rc != MAIL_SECTION_OK)
				fprintf(f, "ERR %d", rc);
			else if (r.produced)
				dump_imap_bytes(f, r.data.data, r.len);
			else
				dump_imap_bytes(f, msg + r.off, r.len);
			fprintf(f, "\n");
			mail_section_result_free(&r);
			mail_section_free(&sec);
		}
		fclose(f);
		free(bs);
		free(b);
		free(env);
		mail_msg_free(&m);
		free(msg);
	}
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--dump") == 0)
		return dump(argv[2]);
	return 0;
}
