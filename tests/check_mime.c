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
#include "lib/limits.h"

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
/* issue 11: address fields that occur more than once (three Cc:, two
 * To:) give ENVELOPE all their addresses, as Dovecot does */
{ "repeated-address-fields", 0,
"From: a@example.org\n"
"To: one@example.org\n"
"Cc: c1@example.org\n"
"Subject: repeated\n"
"To: Two <two@example.org>, three@example.org\n"
"Cc: \"C Two\" <c2@example.org>\n"
"Cc: c3@example.org,\n"
" c4@example.org\n"
"Bcc:\n"
"Bcc: hidden@example.org\n"
"\n"
"body\n" },
/* issue 11: a nested multipart that reuses the outer boundary (Outlook
 * Express for Mac): each delimiter line belongs to the innermost open
 * multipart with that boundary, so the image after the inner close
 * delimiter is the outer's second part (Dovecot's structure) */
{ "nested-same-boundary", 0,
"From: a@example.org\n"
"Subject: oe mac\n"
"Mime-version: 1.0\n"
"Content-type: multipart/mixed; boundary=\"MS_Mac_OE_3071_1\"\n"
"\n"
"> This message is in MIME format.\n"
"\n"
"--MS_Mac_OE_3071_1\n"
"Content-type: multipart/alternative; boundary=\"MS_Mac_OE_3071_1\"\n"
"\n"
"\n"
"--MS_Mac_OE_3071_1\n"
"Content-type: text/plain; charset=\"US-ASCII\"\n"
"Content-transfer-encoding: 7bit\n"
"\n"
"plain text\n"
"\n"
"--MS_Mac_OE_3071_1\n"
"Content-type: text/html; charset=\"US-ASCII\"\n"
"Content-transfer-encoding: 7bit\n"
"\n"
"<html>html text</html>\n"
"\n"
"--MS_Mac_OE_3071_1--\n"
"\n"
"\n"
"--MS_Mac_OE_3071_1\n"
"Content-type: image/gif; name=\"dot.gif\"\n"
"Content-disposition: attachment\n"
"Content-transfer-encoding: base64\n"
"\n"
"R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==\n"
"\n"
"--MS_Mac_OE_3071_1--\n" },
/* issue 11: charset given only as an RFC 2231 parameter: BODYSTRUCTURE
 * also says CHARSET, decoded (as Dovecot does), so clients find it */
{ "rfc2231-charset-only", 0,
"From: a@example.org\n"
"MIME-Version: 1.0\n"
"Content-Type: multipart/mixed; boundary=c\n"
"\n"
"--c\n"
"Content-Type: text/plain; charset*=utf-8''utf-8; format=flowed\n"
"\n"
"one\n"
"--c\n"
"Content-Type: text/plain; charset*0*=''iso-8859-; charset*1=1\n"
"\n"
"two\n"
"--c\n"
"Content-Type: text/plain; charset*=us-ascii'en'koi8-r; charset=\"utf-8\"\n"
"\n"
"three\n"
"--c--\n" },
{ "dsn-report", 0,
"From: MAILER-DAEMON@example.org\n"
"Subject: Undelivered Mail\n"
"MIME-Version: 1.0\n"
"Content-Type: multipart/report; report-type=delivery-status; boundary=\"dsn\"\n"
"\n"
"--dsn\n"
"Content-Type: text/plain\n"
"\n"
"Could not deliver.\n"
"--dsn\n"
"Content-Type: message/delivery-status\n"
"\n"
"Reporting-MTA: dns; mail.example.org\n"
"\n"
"Final-Recipient: rfc822; nobody@example.org\n"
"Status: 5.1.1\n"
"--dsn\n"
"Content-Type: message/disposition-notification\n"
"Content-Transfer-Encoding: base64\n"
"\n"
"UmVwb3J0aW5nLVVBOiBtdWEuZXhhbXBsZS5vcmcNCg==\n"
"--dsn\n"
"Content-Type: text/rfc822-headers\n"
"\n"
"Subject: lost\n"
"--dsn\n"
"Content-Type: application/octet-stream; name=\"core.bin\"\n"
"\n"
"BINARYDATA\n"
"--dsn\n"
"Content-Type: message/global\n"
"\n"
"Subject: global\n"
"\n"
"inner\n"
"--dsn--\n" },
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


/* Expected answers: checked by hand against RFC 3501 7.4.2 and equal
 * (up to atom case and quoting) to Dovecot 2.3's, see dovecot-diff.py. */
static const struct expect {
	const char *name;
	const char *bodystructure;
	const char *envelope;
} expected[] = {
{ "plain-no-ct",
  "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 24 2 NIL NIL NIL NIL)",
  "(\"Mon, 7 Feb 1994 21:52:25 -0800\" \"hello\" ((\"Alice\" NIL \"alice\" \"example.org\")) ((\"Alice\" NIL \"alice\" \"example.org\")) ((\"Alice\" NIL \"alice\" \"example.org\")) ((NIL NIL \"bob\" \"example.net\")) NIL NIL NIL \"<1@example.org>\")" },
{ "plain-utf8-qp",
  "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"QUOTED-PRINTABLE\" 51 2 NIL NIL NIL NIL)",
  "(NIL \"=?UTF-8?B?R3LDvMOfZSBhdXMgQmVybGlu?=\" ((\"=?utf-8?q?J=C3=B6rg?=\" NIL \"jorg\" \"example.de\")) ((\"=?utf-8?q?J=C3=B6rg?=\" NIL \"jorg\" \"example.de\")) ((\"=?utf-8?q?J=C3=B6rg?=\" NIL \"jorg\" \"example.de\")) ((\"Doe, John\" NIL \"john\" \"example.com\")(NIL NIL \"jane\" \"example.com\")) NIL NIL NIL NIL)" },
{ "html-base64",
  "(\"TEXT\" \"HTML\" (\"CHARSET\" \"iso-8859-1\") NIL NIL \"BASE64\" 50 1 NIL NIL NIL NIL)",
  "(NIL \"News\" ((NIL NIL \"news\" \"example.com\")) ((NIL NIL \"news\" \"example.com\")) ((NIL NIL \"news\" \"example.com\")) NIL NIL NIL NIL NIL)" },
{ "alternative",
  "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 10 0 NIL NIL NIL NIL)(\"TEXT\" \"HTML\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 16 0 NIL NIL NIL NIL) \"ALTERNATIVE\" (\"BOUNDARY\" \"alt-1\") NIL NIL NIL)",
  "(NIL \"alt\" ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"b\" \"example.org\")) NIL NIL NIL NIL)" },
{ "mixed-attachment",
  "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\" \"FORMAT\" \"flowed\") NIL NIL \"7BIT\" 15 1 NIL NIL NIL NIL)(\"APPLICATION\" \"PDF\" (\"NAME\" \"report.pdf\") NIL NIL \"BASE64\" 16 NIL (\"ATTACHMENT\" (\"FILENAME\" \"report.pdf\" \"SIZE\" \"12\")) NIL NIL) \"MIXED\" (\"BOUNDARY\" \"XyZ\") NIL NIL NIL)",
  "(NIL \"report\" ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"b\" \"example.org\")) NIL NIL NIL NIL)" },
{ "mixed-nested-alt",
  "(((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 4 0 NIL NIL NIL NIL)(\"TEXT\" \"HTML\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 11 0 NIL NIL NIL NIL) \"ALTERNATIVE\" (\"BOUNDARY\" \"inner\") NIL NIL NIL)(\"IMAGE\" \"PNG\" NIL \"<img1@example.org>\" \"a picture\" \"BASE64\" 12 NIL (\"INLINE\" NIL) NIL NIL) \"MIXED\" (\"BOUNDARY\" \"outer\") NIL NIL NIL)",
  "(NIL \"nested\" ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"a\" \"example.org\")) NIL NIL NIL NIL NIL)" },
{ "forward-rfc822",
  "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 10 0 NIL NIL NIL NIL)(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 122 (\"Tue, 1 Jul 2003 10:52:37 +0200\" \"original\" ((\"Orig\" NIL \"orig\" \"example.com\")) ((\"Orig\" NIL \"orig\" \"example.com\")) ((\"Orig\" NIL \"orig\" \"example.com\")) ((NIL NIL \"a\" \"example.org\")) NIL NIL NIL NIL) (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 13 0 NIL NIL NIL NIL) 5 NIL (\"INLINE\" NIL) NIL NIL) \"MIXED\" (\"BOUNDARY\" \"fwd\") NIL NIL NIL)",
  "(NIL \"Fwd: original\" ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"c\" \"example.org\")) NIL NIL NIL NIL)" },
{ "rfc822-multipart-inside",
  "((\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 197 (NIL \"inner\" ((NIL NIL \"inner\" \"example.com\")) ((NIL NIL \"inner\" \"example.com\")) ((NIL NIL \"inner\" \"example.com\")) NIL NIL NIL NIL NIL) ((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 11 0 NIL NIL NIL NIL)(\"TEXT\" \"HTML\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 12 0 NIL NIL NIL NIL) \"ALTERNATIVE\" (\"BOUNDARY\" \"L2\") NIL NIL NIL) 13 NIL NIL NIL NIL)(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 5 0 NIL NIL NIL NIL) \"MIXED\" (\"BOUNDARY\" \"L1\") NIL NIL NIL)",
  "(NIL \"deep\" ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"a\" \"example.org\")) NIL NIL NIL NIL NIL)" },
{ "toplevel-rfc822",
  "(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 48 (NIL \"enclosed\" ((NIL NIL \"b\" \"example.org\")) ((NIL NIL \"b\" \"example.org\")) ((NIL NIL \"b\" \"example.org\")) NIL NIL NIL NIL NIL) (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 6 1 NIL NIL NIL NIL) 4 NIL NIL NIL NIL)",
  "(NIL \"top\" ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"a\" \"example.org\")) NIL NIL NIL NIL NIL)" },
{ "digest",
  "((\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 44 (NIL \"one\" ((NIL NIL \"one\" \"example.org\")) ((NIL NIL \"one\" \"example.org\")) ((NIL NIL \"one\" \"example.org\")) NIL NIL NIL NIL NIL) (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 5 0 NIL NIL NIL NIL) 3 NIL NIL NIL NIL)(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 45 (NIL \"two\" ((NIL NIL \"two\" \"example.org\")) ((NIL NIL \"two\" \"example.org\")) ((NIL NIL \"two\" \"example.org\")) NIL NIL NIL NIL NIL) (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 6 0 NIL NIL NIL NIL) 3 NIL NIL NIL NIL)(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 13 0 NIL NIL NIL NIL) \"DIGEST\" (\"BOUNDARY\" \"d\") NIL NIL NIL)",
  "(NIL \"digest\" ((NIL NIL \"list\" \"example.org\")) ((NIL NIL \"list\" \"example.org\")) ((NIL NIL \"list\" \"example.org\")) NIL NIL NIL NIL NIL)" },
{ "encoded-words",
  "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 6 1 NIL NIL NIL NIL)",
  "(NIL \"=?ISO-8859-1?B?SWYgeW91IGNhbiByZWFkIHRoaXMgeW8=?= =?ISO-8859-2?B?dSB1bmRlcnN0YW5kIHRoZSBleGFtcGxlLg==?=\" ((\"=?ISO-8859-1?Q?Keld_J=F8rn_Simonsen?=\" NIL \"keld\" \"dkuug.dk\")) ((\"=?ISO-8859-1?Q?Keld_J=F8rn_Simonsen?=\" NIL \"keld\" \"dkuug.dk\")) ((\"=?ISO-8859-1?Q?Keld_J=F8rn_Simonsen?=\" NIL \"keld\" \"dkuug.dk\")) ((\"=?US-ASCII?Q?Keith_Moore?=\" NIL \"moore\" \"cs.utk.edu\")) ((\"=?ISO-8859-1?Q?Andr=E9?= Pirard\" NIL \"PIRARD\" \"vm1.ulg.ac.be\")) NIL NIL NIL)" },
{ "groups",
  "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3 1 NIL NIL NIL NIL)",
  "(NIL \"groups\" ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL)) ((NIL NIL \"Team\" NIL)(NIL NIL \"one\" \"example.org\")(\"Two\" NIL \"two\" \"example.org\")(NIL NIL NIL NIL)(NIL NIL \"three\" \"example.org\")) NIL NIL NIL)" },
{ "comments",
  "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3 1 NIL NIL NIL NIL)",
  "(NIL \"comments\" ((\"John Doe\" NIL \"john\" \"example.org\")) ((\"John Doe\" NIL \"john\" \"example.org\")) ((\"John Doe\" NIL \"john\" \"example.org\")) ((\"Pete\" NIL \"pete\" \"silly.test\")) NIL NIL NIL NIL)" },
{ "quoted-names",
  "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3 1 NIL NIL NIL NIL)",
  "(NIL \"\\\"quoted\\\" and back\\\\slash\" ((\"Doe, John \\\"JD\\\"\" NIL \"john\" \"example.org\")) ((NIL NIL \"sender\" \"example.org\")) ((\"list\" NIL \"list\" \"example.org\")) NIL NIL NIL \"<a@b>\" \"<c@d>\")" },
{ "missing-close-boundary",
  "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3 0 NIL NIL NIL NIL)(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 17 1 NIL NIL NIL NIL) \"MIXED\" (\"BOUNDARY\" \"b\") NIL NIL NIL)",
  "(NIL NIL ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"a\" \"example.org\")) NIL NIL NIL NIL NIL)" },
{ "missing-first-boundary",
  "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0 NIL NIL NIL NIL) \"MIXED\" (\"BOUNDARY\" \"never\") NIL NIL NIL)",
  "(NIL NIL ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"a\" \"example.org\")) NIL NIL NIL NIL NIL)" },
{ "bad-header-lines",
  "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 6 1 NIL NIL NIL NIL)",
  "(NIL \"still a header : continuation\" ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"a\" \"example.org\")) NIL NIL NIL NIL NIL)" },
{ "eightbit-junk",
  "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"iso-8859-1\") NIL NIL \"8BIT\" 6 1 NIL NIL NIL NIL)",
  "(NIL {9}\r\nGr\xfc""\xdf""e \xe9""t\xe9"" (({4}\r\nJ\xf6""rg NIL \"j\" \"example.de\")) (({4}\r\nJ\xf6""rg NIL \"j\" \"example.de\")) (({4}\r\nJ\xf6""rg NIL \"j\" \"example.de\")) NIL NIL NIL NIL NIL)" },
{ "lf-only",
  "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 18 1 NIL NIL NIL NIL)(\"TEXT\" \"HTML\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 8 0 NIL NIL NIL NIL) \"MIXED\" (\"BOUNDARY\" \"lf\") NIL NIL NIL)",
  "(NIL \"lf only\" ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"a\" \"example.org\")) NIL NIL NIL NIL NIL)" },
{ "preamble-epilogue",
  "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 20 0 NIL NIL NIL NIL) \"MIXED\" (\"BOUNDARY\" \"pe\") NIL NIL NIL)",
  "(NIL NIL ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"a\" \"example.org\")) NIL NIL NIL NIL NIL)" },
{ "rfc2231",
  "((\"APPLICATION\" \"OCTET-STREAM\" (\"NAME*\" \"utf-8''%E2%82%AC%20rates.txt\") NIL NIL \"7BIT\" 4 NIL (\"ATTACHMENT\" (\"FILENAME*\" \"iso-8859-1'en'%A3%20rates.txt\")) NIL NIL)(\"TEXT\" \"PLAIN\" (\"TITLE\" \"part one and two\" \"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 1 0 NIL NIL NIL NIL) \"MIXED\" (\"BOUNDARY\" \"r\") NIL NIL NIL)",
  "(NIL NIL ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"a\" \"example.org\")) NIL NIL NIL NIL NIL)" },
{ "content-ext-fields",
  "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") \"<part1@example.org>\" \"The description\" \"7BIT\" 3 1 \"Q2hlY2sgSW50ZWdyaXR5IQ==\" (\"INLINE\" (\"FILENAME\" \"x.txt\")) (\"en\" \"de\") \"http://example.org/x.txt\")",
  "(NIL NIL ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"a\" \"example.org\")) NIL NIL NIL NIL NIL)" },
{ "boundary-prefix",
  "(((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 1 0 NIL NIL NIL NIL)(\"TEXT\" \"HTML\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 1 0 NIL NIL NIL NIL) \"ALTERNATIVE\" (\"BOUNDARY\" \"abc-1\") NIL NIL NIL)(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 4 0 NIL NIL NIL NIL) \"MIXED\" (\"BOUNDARY\" \"abc\") NIL NIL NIL)",
  "(NIL NIL ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"a\" \"example.org\")) NIL NIL NIL NIL NIL)" },
{ "route-and-nodomain",
  "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3 1 NIL NIL NIL NIL)",
  "(NIL \"routes\" ((NIL \"@relay1.example,@relay2.example\" \"user\" \"example.org\")) ((NIL \"@relay1.example,@relay2.example\" \"user\" \"example.org\")) ((NIL \"@relay1.example,@relay2.example\" \"user\" \"example.org\")) ((NIL NIL \"user\" \"MISSING_DOMAIN\")) ((NIL NIL \"ok\" \"example.org\")) NIL NIL NIL)" },
{ "rfc822-base64",
  "((\"MESSAGE\" \"RFC822\" NIL NIL NIL \"BASE64\" 32 (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0 NIL NIL NIL NIL) 0 NIL NIL NIL NIL) \"MIXED\" (\"BOUNDARY\" \"q\") NIL NIL NIL)",
  "(NIL NIL ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"a\" \"example.org\")) NIL NIL NIL NIL NIL)" },
{ "empty-parts",
  "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0 NIL NIL NIL NIL)(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0 NIL NIL NIL NIL)(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0 NIL NIL NIL NIL) \"MIXED\" (\"BOUNDARY\" \"e\") NIL NIL NIL)",
  "(NIL NIL ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"a\" \"example.org\")) NIL NIL NIL NIL NIL)" },
{ "three-levels",
  "((((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 4 0 NIL NIL NIL NIL) \"ALTERNATIVE\" (\"BOUNDARY\" \"c\") NIL NIL NIL) \"MIXED\" (\"BOUNDARY\" \"b\") NIL NIL NIL)(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 7 0 NIL NIL NIL NIL) \"MIXED\" (\"BOUNDARY\" \"a\") NIL NIL NIL)",
  "(NIL NIL ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"a\" \"example.org\")) NIL NIL NIL NIL NIL)" },
{ "rfc822-empty",
  "((\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 0 (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0 NIL NIL NIL NIL) 0 NIL NIL NIL NIL) \"MIXED\" (\"BOUNDARY\" \"m\") NIL NIL NIL)",
  "(NIL NIL ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"a\" \"example.org\")) NIL NIL NIL NIL NIL)" },
{ "digest-explicit",
  "((\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 22 (NIL \"explicit\" NIL NIL NIL NIL NIL NIL NIL NIL) (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 1 0 NIL NIL NIL NIL) 2 NIL NIL NIL NIL) \"DIGEST\" (\"BOUNDARY\" \"dg\") NIL NIL NIL)",
  "(NIL NIL ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"a\" \"example.org\")) NIL NIL NIL NIL NIL)" },
{ "header-no-space",
  "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3 1 NIL NIL NIL NIL)",
  "(NIL \"no space\" ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"b\" \"example.org\")) NIL NIL NIL NIL)" },
{ "text-no-charset",
  "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3 1 NIL NIL NIL NIL)",
  "(NIL NIL ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"a\" \"example.org\")) NIL NIL NIL NIL NIL)" },
{ "repeated-address-fields",
  "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 6 1 NIL NIL NIL NIL)",
  "(NIL \"repeated\" ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"one\" \"example.org\")(\"Two\" NIL \"two\" \"example.org\")(NIL NIL \"three\" \"example.org\")) ((NIL NIL \"c1\" \"example.org\")(\"C Two\" NIL \"c2\" \"example.org\")(NIL NIL \"c3\" \"example.org\")(NIL NIL \"c4\" \"example.org\")) ((NIL NIL \"hidden\" \"example.org\")) NIL NIL)" },
{ "nested-same-boundary",
  "(((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 12 1 NIL NIL NIL NIL)(\"TEXT\" \"HTML\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 24 1 NIL NIL NIL NIL) \"ALTERNATIVE\" (\"BOUNDARY\" \"MS_Mac_OE_3071_1\") NIL NIL NIL)(\"IMAGE\" \"GIF\" (\"NAME\" \"dot.gif\") NIL NIL \"BASE64\" 62 NIL (\"ATTACHMENT\" NIL) NIL NIL) \"MIXED\" (\"BOUNDARY\" \"MS_Mac_OE_3071_1\") NIL NIL NIL)",
  "(NIL \"oe mac\" ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"a\" \"example.org\")) NIL NIL NIL NIL NIL)" },
{ "rfc2231-charset-only",
  "((\"TEXT\" \"PLAIN\" (\"CHARSET*\" \"utf-8''utf-8\" \"FORMAT\" \"flowed\" \"CHARSET\" \"utf-8\") NIL NIL \"7BIT\" 3 0 NIL NIL NIL NIL)(\"TEXT\" \"PLAIN\" (\"CHARSET*\" \"''iso-8859-1\" \"CHARSET\" \"iso-8859-1\") NIL NIL \"7BIT\" 3 0 NIL NIL NIL NIL)(\"TEXT\" \"PLAIN\" (\"CHARSET*\" \"us-ascii'en'koi8-r\" \"CHARSET\" \"utf-8\") NIL NIL \"7BIT\" 5 0 NIL NIL NIL NIL) \"MIXED\" (\"BOUNDARY\" \"c\") NIL NIL NIL)",
  "(NIL NIL ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"a\" \"example.org\")) NIL NIL NIL NIL NIL)" },
{ "apple-mail",
  "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"QUOTED-PRINTABLE\" 22 1 NIL NIL NIL NIL)(\"TEXT\" \"HTML\" (\"CHARSET\" \"utf-8\") NIL NIL \"QUOTED-PRINTABLE\" 46 0 NIL NIL NIL NIL) \"ALTERNATIVE\" (\"BOUNDARY\" \"Apple-Mail=_5F1C7E4A-1B2C-4D5E-8F90-ABCDEF123456\") NIL NIL NIL)",
  "(\"Wed, 9 Jun 2021 09:12:44 +0200\" \"Re: lunch?\" ((\"Someone\" NIL \"someone\" \"example.com\")) ((\"Someone\" NIL \"someone\" \"example.com\")) ((\"Someone\" NIL \"someone\" \"example.com\")) ((\"Other Person\" NIL \"other\" \"example.org\")) NIL NIL \"<xyz@example.org>\" \"<ABC-123@example.com>\")" },
};


static const struct corpus *
corpus_find(const char *name, size_t *idx_r)
{
	for (size_t i = 0; i < NCORPUS; i++)
		if (strcmp(corpus[i].name, name) == 0) {
			*idx_r = i;
			return &corpus[i];
		}
	return NULL;
}

/* Parse a corpus message the way delivery does (CRLF-normalized). */
static char *
corpus_stored(size_t i, size_t *len_r)
{
	size_t n;
	char *raw = corpus_msg(i, &n);
	char *msg = mail_crlf_normalize(raw, n, len_r);
	free(raw);
	return msg;
}

/* The corpus message called name as stored (CRLF; free it). */
static char *
corpus_named(const char *name, size_t *len_r)
{
	size_t idx;
	ck_assert_ptr_nonnull(corpus_find(name, &idx));
	return corpus_stored(idx, len_r);
}

START_TEST(test_corpus_expected)
{
	const struct expect *e = &expected[_i];
	size_t len;
	char *msg = corpus_named(e->name, &len);
	struct mail_msg *m = mail_mime_parse(msg, len);
	char *bs = fetch_str(m, 0), *env = fetch_str(m, 2);
	ck_assert_str_eq(bs, e->bodystructure);
	ck_assert_str_eq(env, e->envelope);
	free(bs);
	free(env);
	mail_msg_free(&m);
	ck_assert_ptr_null(m);
	free(msg);
}
END_TEST

/* Every corpus message: the cache blob gives back the same strings and
 * the same part offsets, and every part lies inside the message. */
START_TEST(test_corpus_cache_roundtrip)
{
	size_t len;
	char *msg = corpus_stored((size_t)_i, &len);
	struct mail_msg *m = mail_mime_parse(msg, len);
	struct mm_buf blob;
	struct mail_cache *c;
	mm_buf_init(&blob);
	mail_cache_build(msg, len, &blob);
	ck_assert_int_eq(mail_cache_parse(blob.data, blob.len, &c), 0);
	char *bs = fetch_str(m, 0), *b = fetch_str(m, 1), *env = fetch_str(m, 2);
	ck_assert_str_eq(c->bodystructure, bs);
	ck_assert_str_eq(c->body, b);
	ck_assert_str_eq(c->envelope, env);
	ck_assert_uint_eq(c->msg_size, len);
	ck_assert_uint_eq(c->header_size, m->root->body_off);
	ck_assert_uint_eq(c->tree->nparts, m->nparts);
	const struct mail_part *p = m->root, *q = c->tree->root;
	for (; p && q; p = mail_part_next(p), q = mail_part_next(q)) {
		ck_assert_uint_eq(p->hdr_off, q->hdr_off);
		ck_assert_uint_eq(p->body_off, q->body_off);
		ck_assert_uint_eq(p->body_end, q->body_end);
		ck_assert_uint_eq(p->flags, q->flags);
		ck_assert_uint_le(p->hdr_off, p->body_off);
		ck_assert_uint_le(p->body_off, p->body_end);
		ck_assert_uint_le(p->body_end, len);
		ck_assert_str_eq(p->type, q->type);
	}
	ck_assert_ptr_null(p);
	ck_assert_ptr_null(q);
	free(bs);
	free(b);
	free(env);
	mail_cache_free(&c);
	mm_buf_free(&blob);
	mail_msg_free(&m);
	free(msg);
}
END_TEST

/* Every corpus message: the search record holds exactly what SEARCH
 * computes from the message: each Subject / Message-ID decoded, each
 * From / To / Cc / Bcc as address text, in header order, and the sent day
 * of the first Date:. */
START_TEST(test_corpus_search_record)
{
	size_t len;
	char *msg = corpus_stored((size_t)_i, &len);
	struct mm_buf blob;
	struct mail_cache_search sr;
	struct mail_header h;
	size_t k = 0;

	mm_buf_init(&blob);
	mail_cache_build(msg, len, &blob);
	ck_assert_int_eq(mail_cache_search_get(blob.data, blob.len, &sr), 0);
	mail_header_parse(msg, 0, len, &h);
	for (size_t i = 0; i < h.n; i++) {
		const struct mail_hdr_field *f = &h.f[i];
		char *name = xstrndup(f->name, f->name_len);
		int sf = mail_cache_search_field(name, false);
		bool addr = false;
		if (sf < 0) {
			sf = mail_cache_search_field(name, true);
			addr = true;
		}
		free(name);
		if (sf < 0)
			continue;
		char *v = addr ? mail_addr_search_text(f->value, f->value_len) :
		    mail_decode_header(f->value, f->value_len);
		ck_assert_uint_lt(k, sr.n);
		ck_assert_int_eq(sr.e[k].field, sf);
		ck_assert_uint_eq(sr.e[k].len, strlen(v));
		ck_assert(memcmp(sr.e[k].v, v, sr.e[k].len) == 0);
		free(v);
		k++;
	}
	ck_assert_uint_eq(k, sr.n);
	char *d = mail_header_get(&h, "Date");
	time_t t;
	int tz;
	bool ok = d != NULL && mail_date_parse_rfc5322(d, strlen(d), &t, &tz);
	ck_assert_int_eq(sr.has_sent, ok);
	if (ok)
		ck_assert_int_eq(sr.sent_day, mail_date_day(t, tz));
	free(d);
	mail_header_free(&h);
	mm_buf_free(&blob);
	free(msg);
}
END_TEST

/* The record's edges: a version 1 blob (stored before it existed) and a
 * header with more indexed fields than fit have none, so SEARCH reads the
 * message; an indexed name is found whatever its case, in the right form. */
START_TEST(test_search_record_edges)
{
	struct mm_buf blob, many;
	struct mail_cache_search sr;
	const char *msg = "Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\nTo: A <a@x.example>\r\n"
	    "TO: b@y.example\r\nDate: Mon, 1 Jan 2024 23:30:00 -0200\r\n\r\nbody\r\n";

	mm_buf_init(&blob);
	mail_cache_build(msg, strlen(msg), &blob);
	ck_assert_int_eq(mail_cache_search_get(blob.data, blob.len, &sr), 0);
	ck_assert_uint_eq(sr.n, 3);
	ck_assert_int_eq(sr.e[0].field, MAIL_SF_SUBJECT);
	ck_assert(sr.e[0].len == strlen("Grüße") && memcmp(sr.e[0].v, "Grüße", sr.e[0].len) == 0);
	ck_assert_int_eq(sr.e[1].field, MAIL_SF_TO);
	ck_assert_int_eq(sr.e[2].field, MAIL_SF_TO);
	ck_assert(sr.has_sent);
	ck_assert_int_eq(sr.sent_day, mail_date_day(1704159000, -120));
	ck_assert_int_eq(mail_cache_search_field("SUBJECT", false), MAIL_SF_SUBJECT);
	ck_assert_int_eq(mail_cache_search_field("message-id", false), MAIL_SF_MESSAGE_ID);
	ck_assert_int_eq(mail_cache_search_field("From", true), MAIL_SF_FROM);
	ck_assert_int_eq(mail_cache_search_field("From", false), -1);
	ck_assert_int_eq(mail_cache_search_field("Subject", true), -1);
	ck_assert_int_eq(mail_cache_search_field("X-Spam", false), -1);

	/* a version 1 blob: built without the message (the record is then one
	 * 0 byte and its 8-byte trailer at the end), those cut, version 1,
	 * length and CRC redone:
	 * FETCH still parses it, SEARCH has no record */
	struct mail_cache *c;
	struct mail_msg *m = mail_mime_parse(msg, strlen(msg));
	struct mm_buf v1;
	mm_buf_init(&v1);
	mail_cache_build_tree(m, NULL, strlen(msg), &v1);
	ck_assert_int_eq(mail_cache_search_get(v1.data, v1.len, &sr), -1);
	ck_assert_int_eq(v1.data[v1.len - 9], 0);
	v1.len -= 9;
	v1.data[3] = 1;
	uint32_t plen = (uint32_t)(v1.len - 12);
	uint32_t crc = mail_cache_crc32((const unsigned char *)v1.data + 12, plen);
	for (int i = 0; i < 4; i++) {
		v1.data[4 + i] = (char)(plen >> (8 * i));
		v1.data[8 + i] = (char)(crc >> (8 * i));
	}
	ck_assert_int_eq(mail_cache_parse(v1.data, v1.len, &c), 0);
	ck_assert_str_eq(c->envelope, "(\"Mon, 1 Jan 2024 23:30:00 -0200\" \"=?utf-8?q?Gr=C3=BC=C3=9Fe?=\" NIL NIL NIL ((\"A\" NIL \"a\" \"x.example\")(NIL NIL \"b\" \"y.example\")) NIL NIL NIL NIL)");
	mail_cache_free(&c);
	ck_assert_int_eq(mail_cache_search_get(v1.data, v1.len, &sr), -1);
	mm_buf_free(&v1);
	mail_msg_free(&m);
	ck_assert_int_eq(mail_cache_parse(blob.data, blob.len, &c), 0);
	mail_cache_free(&c);

	mm_buf_init(&many);
	for (int i = 0; i < MAIL_CACHE_SEARCH_MAX + 1; i++)
		mm_buf_printf(&many, "Cc: p%d@example.org\r\n", i);
	mm_buf_printf(&many, "\r\nbody\r\n");
	blob.len = 0;
	mail_cache_build(many.data, many.len, &blob);
	ck_assert_int_eq(mail_cache_search_get(blob.data, blob.len, &sr), -1);
	ck_assert_int_eq(mail_cache_parse(blob.data, blob.len, &c), 0);
	mail_cache_free(&c);
	/* a corrupted byte in the record is refused by both */
	blob.len = 0;
	mail_cache_build(msg, strlen(msg), &blob);
	blob.data[blob.len - 12] ^= 1;
	ck_assert_int_eq(mail_cache_search_get(blob.data, blob.len, &sr), -1);
	ck_assert_int_eq(mail_cache_parse(blob.data, blob.len, &c), -1);
	mm_buf_free(&many);
	mm_buf_free(&blob);
}
END_TEST

START_TEST(test_corpus_size)
{
	ck_assert_uint_ge(NCORPUS, 50);
}
END_TEST

/* Truncation at every offset: no crash, offsets stay inside the prefix
 * (run under ASan with --enable-sanitizers). */
START_TEST(test_truncate_every_offset)
{
	static const char *const names[] = {
		"mixed-nested-alt", "rfc822-multipart-inside", "rfc2231",
		"encoded-words", "groups", "digest", "lf-only", "apple-mail",
	};
	size_t idx, len;
	ck_assert_ptr_nonnull(corpus_find(names[_i], &idx));
	char *full = corpus_msg(idx, &len);
	for (size_t n = 0; n <= len; n++) {
		char *msg = malloc(n ? n : 1);	/* exact size: ASan sees overreads */
		memcpy(msg, full, n);
		struct mail_msg *m = mail_mime_parse(msg, n);
		for (const struct mail_part *p = m->root; p; p = mail_part_next(p))
			ck_assert_uint_le(p->body_end, n);
		char *bs = fetch_str(m, 0), *env = fetch_str(m, 2);
		ck_assert(bs[0] == '(' && env[0] == '(');
		struct mm_buf text, blob;
		mm_buf_init(&text);
		mm_buf_init(&blob);
		mail_text_body(m, msg, n, 4096, &text);
		mail_cache_build_tree(m, msg, n, &blob);
		struct mail_cache *c;
		ck_assert_int_eq(mail_cache_parse(blob.data, blob.len, &c), 0);
		mail_cache_free(&c);
		mm_buf_free(&text);
		mm_buf_free(&blob);
		free(bs);
		free(env);
		mail_msg_free(&m);
		free(msg);
	}
	free(full);
}
END_TEST

/* A corrupt blob is refused: every truncation, and every single flipped
 * bit in the first 64 bytes and the last byte. */
START_TEST(test_cache_corrupt)
{
	size_t len;
	char *msg = corpus_named("forward-rfc822", &len);
	struct mm_buf blob;
	struct mail_cache *c;
	mm_buf_init(&blob);
	mail_cache_build(msg, len, &blob);
	for (size_t n = 0; n < blob.len; n++) {
		char *t = malloc(n ? n : 1);
		memcpy(t, blob.data, n);
		ck_assert_int_eq(mail_cache_parse(t, n, &c), -1);
		ck_assert_ptr_null(c);
		free(t);
	}
	for (size_t i = 0; i < blob.len; i++) {
		if (i >= 64 && i != blob.len - 1)
			continue;
		for (int bit = 0; bit < 8; bit++) {
			blob.data[i] ^= (char)(1 << bit);
			ck_assert_int_eq(mail_cache_parse(blob.data, blob.len, &c), -1);
			blob.data[i] ^= (char)(1 << bit);
		}
	}
	/* a good blob with a bad version */
	blob.data[3] = MAIL_CACHE_VERSION + 1;
	ck_assert_int_eq(mail_cache_parse(blob.data, blob.len, &c), -1);
	blob.data[3] = MAIL_CACHE_VERSION;
	ck_assert_int_eq(mail_cache_parse(blob.data, blob.len, &c), 0);
	ck_assert(!c->has_date);	/* the top-level message has no Date: */
	mail_cache_free(&c);
	mm_buf_free(&blob);
	free(msg);
	/* the sent date is kept */
	msg = corpus_named("plain-no-ct", &len);
	mm_buf_init(&blob);
	mail_cache_build(msg, len, &blob);
	ck_assert_int_eq(mail_cache_parse(blob.data, blob.len, &c), 0);
	ck_assert(c->has_date);
	ck_assert_int_eq((long long)c->date, 760686745LL);
	ck_assert_int_eq(c->date_tz_min, -480);
	mail_cache_free(&c);
	mm_buf_free(&blob);
	free(msg);
}
END_TEST

/* Sections on the cache's tree give the same answers as on the parse. */
START_TEST(test_cache_sections)
{
	size_t len;
	char *msg = corpus_named("rfc822-multipart-inside", &len);
	struct mm_buf blob;
	struct mail_cache *c;
	struct mail_section sec;
	struct mail_section_result r;
	mm_buf_init(&blob);
	mail_cache_build(msg, len, &blob);
	ck_assert_int_eq(mail_cache_parse(blob.data, blob.len, &c), 0);
	ck_assert_int_eq(mail_section_parse("1.1.MIME", 8, &sec), MAIL_SECTION_OK);
	ck_assert_int_eq(mail_section_fetch(c->tree, msg, len, &sec, &r), MAIL_SECTION_OK);
	ck_assert(!r.produced);
	ck_assert_uint_eq(r.len, 28);
	ck_assert(memcmp(msg + r.off, "Content-Type: text/plain\r\n\r\n", 28) == 0);
	mail_section_result_free(&r);
	mail_section_free(&sec);
	/* the wrong message size: refused */
	ck_assert_int_eq(mail_section_parse("1", 1, &sec), MAIL_SECTION_OK);
	ck_assert_int_eq(mail_section_fetch(c->tree, msg, len - 1, &sec, &r), MAIL_SECTION_ENOENT);
	mail_section_result_free(&r);
	mail_section_free(&sec);
	mail_cache_free(&c);
	mm_buf_free(&blob);
	free(msg);

	/* the cached tree knows an encoded message/rfc822 holds no parts */
	msg = corpus_named("rfc822-base64", &len);
	mm_buf_init(&blob);
	mail_cache_build(msg, len, &blob);
	ck_assert_int_eq(mail_cache_parse(blob.data, blob.len, &c), 0);
	ck_assert_int_eq(mail_section_parse("1.1.MIME", 8, &sec), MAIL_SECTION_OK);
	ck_assert_int_eq(mail_section_fetch(c->tree, msg, len, &sec, &r), MAIL_SECTION_ENOENT);
	mail_section_result_free(&r);
	mail_section_free(&sec);
	ck_assert_int_eq(mail_section_parse("1", 1, &sec), MAIL_SECTION_OK);
	ck_assert_int_eq(mail_section_fetch(c->tree, msg, len, &sec, &r), MAIL_SECTION_OK);
	ck_assert_uint_eq(r.len, 32);
	ck_assert(memcmp(msg + r.off, "RnJvbTogeEB5Lnp6DQoNCmJvZHkNCg==", 32) == 0);
	mail_section_result_free(&r);
	mail_section_free(&sec);
	mail_cache_free(&c);
	mm_buf_free(&blob);
	free(msg);
}
END_TEST

static const struct sec_case {
	const char *msg_name;
	const char *spec;
	int rc;
	const char *want;	/* exact bytes when rc is OK */
} sec_cases[] = {
	/* the inner multipart reusing the outer boundary keeps its parts,
	 * and the image after its close delimiter is part 2 (issue 11) */
	{ "nested-same-boundary", "1.1", 0, "plain text\r\n" },
	{ "nested-same-boundary", "1.2", 0, "<html>html text</html>\r\n" },
	{ "nested-same-boundary", "1.3", MAIL_SECTION_ENOENT, NULL },
	{ "nested-same-boundary", "2", 0,
	  "R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==\r\n" },
	{ "nested-same-boundary", "2.MIME", 0, "Content-type: image/gif; name=\"dot.gif\"\r\n"
	  "Content-disposition: attachment\r\nContent-transfer-encoding: base64\r\n\r\n" },
	{ "nested-same-boundary", "3", MAIL_SECTION_ENOENT, NULL },
	{ "alternative", "1", 0, "plain text" },
	{ "alternative", "2", 0, "<p>html text</p>" },
	{ "alternative", "2.MIME", 0, "Content-Type: text/html; charset=us-ascii\r\n\r\n" },
	{ "alternative", "3", MAIL_SECTION_ENOENT, NULL },
	{ "alternative", "1.HEADER", MAIL_SECTION_ENOTMSG, NULL },
	{ "alternative", "HEADER.FIELDS (SUBJECT to)", 0, "To: b@example.org\r\nSubject: alt\r\n\r\n" },
	{ "alternative", "HEADER.FIELDS.NOT (From To Subject MIME-Version)", 0,
	  "Content-Type: multipart/alternative; boundary=\"alt-1\"\r\n\r\n" },
	{ "plain-no-ct", "1", 0, "Hello Bob.\r\nTwo lines.\r\n" },
	{ "plain-no-ct", "TEXT", 0, "Hello Bob.\r\nTwo lines.\r\n" },
	{ "plain-no-ct", "1.1", MAIL_SECTION_ENOENT, NULL },
	{ "forward-rfc822", "2.HEADER", 0,
	  "From: Orig <orig@example.com>\r\nTo: a@example.org\r\nSubject: original\r\n"
	  "Date: Tue, 1 Jul 2003 10:52:37 +0200\r\n\r\n" },
	{ "forward-rfc822", "2.TEXT", 0, "original body" },
	{ "forward-rfc822", "2.1", 0, "original body" },
	{ "forward-rfc822", "2.MIME", 0, "Content-Type: message/rfc822\r\nContent-Disposition: inline\r\n\r\n" },
	{ "forward-rfc822", "2.HEADER.FIELDS (Subject)", 0, "Subject: original\r\n\r\n" },
	{ "rfc822-multipart-inside", "1.2", 0, "<i>inner</i>" },
	{ "rfc822-multipart-inside", "1.TEXT", 0,
	  "--L2\r\nContent-Type: text/plain\r\n\r\ninner plain\r\n--L2\r\n"
	  "Content-Type: text/html\r\n\r\n<i>inner</i>\r\n--L2--\r\n" },
	{ "nested-rfc822-twice", "1.1", 0, "From: c@example.org\r\nSubject: level2\r\n\r\ninnermost\r\n" },
	{ "nested-rfc822-twice", "1.1.1", 0, "innermost\r\n" },
	{ "nested-rfc822-twice", "1.1.HEADER", 0, "From: c@example.org\r\nSubject: level2\r\n\r\n" },
	{ "mixed-nested-alt", "1.2", 0, "<b>text</b>" },
	{ "mixed-nested-alt", "1.2.1", 0, "<b>text</b>" },
	{ "mixed-nested-alt", "1.2.1.1", MAIL_SECTION_ENOENT, NULL },
	/* an encoded message/rfc822 is not parsed: BODYSTRUCTURE shows an
	 * empty message inside, so everything inside it is empty */
	{ "rfc822-base64", "1", 0, "RnJvbTogeEB5Lnp6DQoNCmJvZHkNCg==" },
	{ "rfc822-base64", "1.MIME", 0,
	  "Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n" },
	{ "rfc822-base64", "1.HEADER", MAIL_SECTION_ENOTMSG, NULL },
	{ "rfc822-base64", "1.TEXT", MAIL_SECTION_ENOTMSG, NULL },
	{ "rfc822-base64", "1.1", MAIL_SECTION_ENOENT, NULL },
	{ "rfc822-base64", "1.1.MIME", MAIL_SECTION_ENOENT, NULL },
	{ "rfc822-base64", "1.1.HEADER", MAIL_SECTION_ENOENT, NULL },
	{ "rfc822-base64", "1.1.1", MAIL_SECTION_ENOENT, NULL },
	{ "toplevel-rfc822", "1.1", 0, "body\r\n" },
	{ "toplevel-rfc822", "1.1.MIME", 0, "From: b@example.org\r\nSubject: enclosed\r\n\r\n" },
	{ "header-only-blank", "HEADER.FIELDS (X-None)", 0, "\r\n" },
	{ "long-folded", "HEADER.FIELDS (TO)", 0,
	  "To: one@example.org, two@example.org,\r\n\tthree@example.org,\r\n   four@example.org\r\n\r\n" },
	{ "alternative", "0", MAIL_SECTION_ESYNTAX, NULL },
	{ "alternative", "1.", MAIL_SECTION_ESYNTAX, NULL },
	{ "alternative", "MIME", MAIL_SECTION_ESYNTAX, NULL },
	{ "alternative", "HEADER.FIELDS ()", MAIL_SECTION_ESYNTAX, NULL },
	{ "alternative", "HEADER.FIELDS (From", MAIL_SECTION_ESYNTAX, NULL },
	{ "alternative", "HEADER.FIELDS From", MAIL_SECTION_ESYNTAX, NULL },
	{ "alternative", "TEXTX", MAIL_SECTION_ESYNTAX, NULL },
	{ "alternative", "1..2", MAIL_SECTION_ESYNTAX, NULL },
};

/* BODY[spec] of m (the tree of msg) answers want_rc and, when that is
 * MAIL_SECTION_OK, the want_len bytes at want. */
static void
check_section(const struct mail_msg *m, const char *msg, size_t len, const char *spec,
    int want_rc, const char *want, size_t want_len)
{
	struct mail_section sec;
	struct mail_section_result r;
	int rc = mail_section_parse(spec, strlen(spec), &sec);
	if (rc == MAIL_SECTION_OK)
		rc = mail_section_fetch(m, msg, len, &sec, &r);
	else
		memset(&r, 0, sizeof(r));
	ck_assert_int_eq(rc, want_rc);
	if (rc == MAIL_SECTION_OK) {
		const char *got = r.produced ? r.data.data : msg + r.off;
		ck_assert_uint_eq(r.len, want_len);
		ck_assert(memcmp(got, want, r.len) == 0);
	}
	if (rc == MAIL_SECTION_OK && (sec.kind == MAIL_SECTION_HEADER_FIELDS ||
	    sec.kind == MAIL_SECTION_HEADER_FIELDS_NOT)) {
		/* the same from the part's header block alone (FETCH of a
		 * body too big to read whole) */
		struct mail_section hs = sec;
		struct mail_section_result hr, fr;
		hs.kind = MAIL_SECTION_HEADER;
		ck_assert_int_eq(mail_section_fetch(m, msg, len, &hs, &hr), MAIL_SECTION_OK);
		char *hdr = malloc(hr.len + 1);
		memcpy(hdr, msg + hr.off, hr.len);
		ck_assert_int_eq(mail_section_header_fields(hdr, hr.len, &sec, &fr),
		    MAIL_SECTION_OK);
		ck_assert_uint_eq(fr.len, want_len);
		ck_assert(memcmp(fr.data.data, want, fr.len) == 0);
		mail_section_result_free(&fr);
		mail_section_result_free(&hr);
		free(hdr);
	}
	mail_section_result_free(&r);
	mail_section_free(&sec);
}

START_TEST(test_section)
{
	const struct sec_case *t = &sec_cases[_i];
	size_t len;
	char *msg = corpus_named(t->msg_name, &len);
	struct mail_msg *m = mail_mime_parse(msg, len);
	check_section(m, msg, len, t->spec, t->rc, t->want, t->want ? strlen(t->want) : 0);
	mail_msg_free(&m);
	free(msg);
}
END_TEST

START_TEST(test_section_format)
{
	static const struct { const char *in, *out; } t[] = {
		{ "", "" }, { "1.2", "1.2" }, { "1.2.mime", "1.2.MIME" },
		{ "header.fields (from \"To\")", "HEADER.FIELDS (FROM TO)" },
		{ "3.HEADER.FIELDS.NOT (x-a)", "3.HEADER.FIELDS.NOT (X-A)" },
		{ "text", "TEXT" }, { "4.header", "4.HEADER" },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct mail_section sec;
		ck_assert_int_eq(mail_section_parse(t[i].in, strlen(t[i].in), &sec), MAIL_SECTION_OK);
		char *f = mail_section_format(&sec);
		ck_assert_str_eq(f, t[i].out);
		free(f);
		mail_section_free(&sec);
	}
}
END_TEST

/* mail_header_get_all: every occurrence, blank ones skipped */
START_TEST(test_header_get_all)
{
	const char *msg = "To: a@x\r\nCc:\r\nTo: b@x,\r\n c@x\r\nCc: \r\nto: d@x\r\n"
	    "Bcc:  \r\n\r\n";
	struct mail_header h;
	mail_header_parse(msg, 0, strlen(msg), &h);
	char *v = mail_header_get_all(&h, "To");
	ck_assert_str_eq(v, "a@x, b@x, c@x, d@x");
	free(v);
	v = mail_header_get_all(&h, "cc");        /* all blank: the first */
	ck_assert_str_eq(v, "");
	free(v);
	v = mail_header_get_all(&h, "Bcc");
	ck_assert_str_eq(v, "");
	free(v);
	ck_assert_ptr_null(mail_header_get_all(&h, "Reply-To"));
	mail_header_free(&h);
}
END_TEST

/* mail_part_charset: charset=, else RFC 2231 charset*= decoded */
START_TEST(test_part_charset)
{
	static const struct { const char *ct, *want; } t[] = {
		{ "text/plain; charset=ISO-8859-1", "ISO-8859-1" },
		{ "text/plain; charset*=utf-8''utf-8", "utf-8" },
		{ "text/plain; charset*=us-ascii'en'koi8-r", "koi8-r" },
		{ "text/plain; charset*0*=''iso-8859-; charset*1=15", "iso-8859-15" },
		{ "text/plain; charset*=utf-8''koi8-r; charset=utf-8", "utf-8" },
		{ "text/plain; charset*=utf-8''%E2%82%AC", NULL },   /* no charset name */
		{ "text/plain; charset*=utf-8''a%20b", NULL },
		{ "text/plain; charset*=utf-8''", NULL },
		{ "text/plain", NULL },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char *msg = xasprintf("Content-Type: %s\r\n\r\nx\r\n", t[i].ct);
		struct mail_msg *m = mail_mime_parse(msg, strlen(msg));
		char *cs = mail_part_charset(m->root);
		if (t[i].want == NULL)
			ck_assert_msg(cs == NULL, "%s: got %s", t[i].ct, cs);
		else
			ck_assert_msg(cs != NULL && strcmp(cs, t[i].want) == 0, "%s: got %s",
			    t[i].ct, cs ? cs : "NULL");
		free(cs);
		mail_msg_free(&m);
		free(msg);
	}
}
END_TEST

/* Headers */
START_TEST(test_header_basic)
{
	const char *msg = "From: a@b\r\nSubject: one\r\n two\r\n\tthree\r\nX-Empty:\r\n"
	    "no colon here\r\nName : value\r\n\r\nbody\r\n";
	struct mail_header h;
	mail_header_parse(msg, 0, strlen(msg), &h);
	ck_assert_uint_eq(h.n, 5);
	ck_assert(!h.no_blank);
	ck_assert_uint_eq(h.body_off, strlen(msg) - 6);
	char *v = mail_header_get(&h, "subject");
	ck_assert_str_eq(v, "one two three");
	free(v);
	v = mail_header_get(&h, "X-EMPTY");
	ck_assert_str_eq(v, "");
	free(v);
	v = mail_header_get(&h, "Name");
	ck_assert_str_eq(v, "value");
	free(v);
	ck_assert_ptr_null(mail_header_get(&h, "To"));
	const struct mail_hdr_field *f = mail_header_find(&h, "no colon here");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(f->value_len, 0);
	f = mail_header_find(&h, "Subject");
	ck_assert_uint_eq(f->off, 11);
	ck_assert_uint_eq(f->len, strlen("Subject: one\r\n two\r\n\tthree\r\n"));
	mail_header_free(&h);
}
END_TEST

START_TEST(test_header_lf_and_no_blank)
{
	const char *msg = "A: 1\nB: 2\n folded\n";
	struct mail_header h;
	mail_header_parse(msg, 0, strlen(msg), &h);
	ck_assert_uint_eq(h.n, 2);
	ck_assert(h.no_blank);
	ck_assert_uint_eq(h.body_off, strlen(msg));
	char *v = mail_header_get(&h, "b");
	ck_assert_str_eq(v, "2 folded");
	free(v);
	mail_header_free(&h);
	/* LF-only blank line */
	msg = "A: 1\n\nbody";
	mail_header_parse(msg, 0, strlen(msg), &h);
	ck_assert_uint_eq(h.n, 1);
	ck_assert_uint_eq(h.body_off, 6);
	mail_header_free(&h);
	/* a continuation before any field, and 8-bit junk */
	msg = " lead\r\nX: \xff\xfe\r\n\r\n";
	mail_header_parse(msg, 0, strlen(msg), &h);
	ck_assert_uint_eq(h.n, 2);
	ck_assert_uint_eq(h.f[1].value_len, 2);
	mail_header_free(&h);
}
END_TEST

START_TEST(test_header_limit)
{
	size_t n = (MIME_HEADER_MAX_BYTES / 10 + 100) * 10;
	char *msg = malloc(n);
	for (size_t i = 0; i < n; i += 10)
		memcpy(msg + i, "X: 123456\n", 10);
	struct mail_header h;
	mail_header_parse(msg, 0, n, &h);
	ck_assert(h.truncated);
	ck_assert_uint_le(h.body_off, MIME_HEADER_MAX_BYTES);
	ck_assert_uint_eq(h.n, MIME_HEADER_MAX_BYTES / 10);
	mail_header_free(&h);
	/* and the parser still gives a sane tree */
	struct mail_msg *m = mail_mime_parse(msg, n);
	ck_assert(m->root->flags & MAIL_PART_BROKEN);
	ck_assert_uint_eq(m->root->body_end, n);
	mail_msg_free(&m);
	free(msg);
}
END_TEST

/* Addresses, as ENVELOPE shows them */
static const struct addr_case {
	const char *in, *out;
} addr_cases[] = {
	{ "a@b.c", "((NIL NIL \"a\" \"b.c\"))" },
	{ "Alice <a@b.c>", "((\"Alice\" NIL \"a\" \"b.c\"))" },
	{ "\"Doe, J\" <j@d.e>, x@y", "((\"Doe, J\" NIL \"j\" \"d.e\")(NIL NIL \"x\" \"y\"))" },
	{ "j@d.e (John Doe)", "((\"John Doe\" NIL \"j\" \"d.e\"))" },
	{ "John  Q.  Public <jqp@x.y>", "((\"John Q. Public\" NIL \"jqp\" \"x.y\"))" },
	{ "\"a b\"@c.d", "((NIL NIL \"a b\" \"c.d\"))" },
	{ "g: a@b, c@d;", "((NIL NIL \"g\" NIL)(NIL NIL \"a\" \"b\")(NIL NIL \"c\" \"d\")(NIL NIL NIL NIL))" },
	{ "undisclosed-recipients:;", "((NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL))" },
	{ "g: a@b", "((NIL NIL \"g\" NIL)(NIL NIL \"a\" \"b\")(NIL NIL NIL NIL))" },
	{ "<@r1,@r2:u@h>", "((NIL \"@r1,@r2\" \"u\" \"h\"))" },
	{ "user", "((NIL NIL \"user\" \"MISSING_DOMAIN\"))" },
	{ "<>", "((NIL NIL \"MISSING_MAILBOX\" \"MISSING_DOMAIN\"))" },
	{ "a@[1.2.3.4]", "((NIL NIL \"a\" \"[1.2.3.4]\"))" },
	{ "first . last @ dom . ain", "((NIL NIL \"first.last\" \"dom.ain\"))" },
	{ ",,, ,", "NIL" },
	{ "", "NIL" },
	{ "=?utf-8?q?J=C3=B6rg?= <j@x>", "((\"=?utf-8?q?J=C3=B6rg?=\" NIL \"j\" \"x\"))" },
	{ "\"Quote \\\"me\\\"\" <q@x>", "((\"Quote \\\"me\\\"\" NIL \"q\" \"x\"))" },
	{ "J\xc3\xb6rg <j@x>", "(({5}\r\nJ\xc3\xb6rg NIL \"j\" \"x\"))" },
	{ "bad>>junk, ok@x", "((NIL NIL \"bad\" \"MISSING_DOMAIN\")(NIL NIL \"ok\" \"x\"))" },
	{ "Pete(A \\) chap) <pete(his account)@silly.test(his host)>",
	  "((\"Pete\" NIL \"pete\" \"silly.test\"))" },
};

START_TEST(test_address)
{
	const struct addr_case *t = &addr_cases[_i];
	struct mail_envelope env;
	struct mm_buf b;
	memset(&env, 0, sizeof(env));
	env.v[MAIL_ENV_TO] = (char *)t->in;
	mm_buf_init(&b);
	mail_imap_envelope(&b, &env);
	/* "(NIL NIL NIL NIL NIL " then To, then " NIL NIL NIL NIL)" */
	char *s = mm_buf_cstr(&b);
	ck_assert(strncmp(s, "(NIL NIL NIL NIL NIL ", 21) == 0);
	size_t tl = strlen(" NIL NIL NIL NIL)");
	ck_assert_uint_ge(b.len, 21 + tl);
	s[b.len - tl] = '\0';
	ck_assert_str_eq(s + 21, t->out);
	mm_buf_free(&b);
}
END_TEST

/* SEARCH FROM/TO/CC/BCC text: the ENVELOPE's list written out again */
static const struct addr_case addr_search_cases[] = {
	{ "\"Doe, John\" (the boss) <\"john doe\"@example.com>",
	  "\"Doe, John\" <\"john doe\"@example.com>" },
	{ "<@route.example:target@example.com>, (comment only) bare@example.com (trailing)",
	  "<@route.example:target@example.com>, trailing <bare@example.com>" },
	{ "Friends: one@example.com, Two (c2) <two@example.com>;, three@example.com",
	  "Friends: <one@example.com>, Two <two@example.com>;, <three@example.com>" },
	{ "undisclosed-recipients:;", "undisclosed-recipients:;" },
	{ ": a@b;", "\"\": <a@b>;" },
	{ "<@r1,@r2:u@h>", "<@r1,@r2:u@h>" },
	{ "=?utf-8?q?J=C3=B6rg?= <j@x>", "J\xc3\xb6rg <j@x>" },
	{ "\"Quote \\\"me\\\"\" <q@x>", "\"Quote \\\"me\\\"\" <q@x>" },
	{ "M\xfcller <m@x>", "M\xc3\xbcller <m@x>" },
	{ "John  Q.  Public <jqp@x.y>", "John Q. Public <jqp@x.y>" },
	{ "first . last @ dom . ain", "<first.last@dom.ain>" },
	{ "Pete(A \\) chap) <pete(his account)@silly.test(his host)>", "Pete <pete@silly.test>" },
	{ "user", "<user@MISSING_DOMAIN>" },
	{ "<>", "<MISSING_MAILBOX@MISSING_DOMAIN>" },
	{ ",,, ,", "" },
	{ "", "" },
};

START_TEST(test_address_search_text)
{
	const struct addr_case *t = &addr_search_cases[_i];
	char *s = mail_addr_search_text(t->in, strlen(t->in));
	ck_assert_str_eq(s, t->out);
	free(s);
}
END_TEST

START_TEST(test_address_first_spec)
{
	char *s = mail_addr_first_spec("Bob <bob@example.org>, x@y", 26);
	ck_assert_str_eq(s, "bob@example.org");
	free(s);
	ck_assert_ptr_null(mail_addr_first_spec("g:;", 3));
}
END_TEST

/* Encoded words and charsets */
static const struct dec_case {
	const char *in, *out;
} dec_cases[] = {
	{ "=?utf-8?q?J=C3=B6rg?=", "J\xc3\xb6rg" },
	{ "=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?=", "ab" },
	{ "=?ISO-8859-1?Q?a?= b", "a b" },
	{ "a =?ISO-8859-1?Q?b?=", "a b" },
	{ "=?ISO-8859-1?Q?a_b?=", "a b" },
	{ "=?ISO-8859-1?Q?Andr=E9?= Pirard", "Andr\xc3\xa9 Pirard" },
	{ "=?UTF-8?B?R3LDvMOfZQ==?=", "Gr\xc3\xbc\xc3\x9f" "e" },
	/* a character split across two words survives */
	{ "=?utf-8?b?w6Q=?= =?utf-8?b?w7Y=?=", "\xc3\xa4\xc3\xb6" },
	{ "=?utf-8?q?=C3?= =?utf-8?q?=A4?=", "\xc3\xa4" },
	{ "=?x-unknown-cs?q?abc?=", "=?x-unknown-cs?q?abc?=" },
	{ "=?utf-8?x?abc?=", "=?utf-8?x?abc?=" },
	{ "=?utf-8?q?broken", "=?utf-8?q?broken" },
	{ "=?utf-8*en?q?lang?=", "lang" },
	{ "=?windows-1252?Q?=93hi=94_=80?=", "\xe2\x80\x9chi\xe2\x80\x9d \xe2\x82\xac" },
	{ "=?iso-8859-15?q?=A4?=", "\xe2\x82\xac" },
	{ "=?koi8-r?b?8NLJ18XU?=", "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82" },
	/* stateful and combining charsets: what iconv holds at the end
	 * (flushed) and before a bad byte is kept */
	{ "=?ISO-2022-JP?B?GyRCJDMkcyRLJEEkTxsoQg==?=",
	  "\xe3\x81\x93\xe3\x82\x93\xe3\x81\xab\xe3\x81\xa1\xe3\x81\xaf" },
	{ "=?iso-2022-jp?b?GyRCJDMkcyRLJEEkTw==?=",     /* no shift back */
	  "\xe3\x81\x93\xe3\x82\x93\xe3\x81\xab\xe3\x81\xa1\xe3\x81\xaf" },
	{ "=?ISO-2022-JP?B?GyRCJDMkcw==?= =?ISO-2022-JP?B?JEskQSRPGyhC?=",
	  "\xe3\x81\x93\xe3\x82\x93\xe3\x81\xab\xe3\x81\xa1\xe3\x81\xaf" },
	{ "=?windows-1255?Q?=F9=EC=E5=ED?=", "\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d" },
	{ "=?windows-1255?Q?=F9=FF?=", "\xd7\xa9\xef\xbf\xbd" },
	{ "=?TCVN5712-1?Q?ab?=", "ab" },
	{ "plain\r\n folded", "plain folded" },
	{ "raw \xe9t\xe9", "raw \xc3\xa9t\xc3\xa9" },
	{ "", "" },
};

START_TEST(test_decode_header)
{
	const struct dec_case *t = &dec_cases[_i];
	char *s = mail_decode_header(t->in, strlen(t->in));
	ck_assert_str_eq(s, t->out);
	free(s);
}
END_TEST

START_TEST(test_decode_cte)
{
	struct mm_buf b;
	mm_buf_init(&b);
	mail_decode_base64("aGVs\r\nbG8=\r\n", 12, &b);
	ck_assert_uint_eq(b.len, 5);
	ck_assert(memcmp(b.data, "hello", 5) == 0);
	b.len = 0;
	mail_decode_base64("a*G!V sbG8", 10, &b);	/* junk skipped */
	ck_assert(memcmp(b.data, "hello", 5) == 0);
	b.len = 0;
	const char *qp = "a=3Db=\r\nc =\n=e9=E9 =zz= \r\nend=";
	mail_decode_qp(qp, strlen(qp), false, &b);
	ck_assert_uint_eq(b.len, strlen("a=bc \xe9\xe9 =zzend"));
	ck_assert(memcmp(b.data, "a=bc \xe9\xe9 =zzend", b.len) == 0);
	/* RFC 2045 6.7 (3): trailing white space of a line is padding */
	b.len = 0;
	qp = "hello  \r\nfoo\t \tb\r\nfoo \t\nx y \r\nlast  ";
	mail_decode_qp(qp, strlen(qp), false, &b);
	ck_assert_uint_eq(b.len, strlen("hello\r\nfoo\t \tb\r\nfoo\nx y\r\nlast"));
	ck_assert(memcmp(b.data, "hello\r\nfoo\t \tb\r\nfoo\nx y\r\nlast", b.len) == 0);
	mm_buf_free(&b);
}
END_TEST

/* The quoted-printable decoder a byte at a time, as it was before it
 * copied runs: the reference for test_qp_runs. */
static int
ref_hex(unsigned char c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	return -1;
}

static void
ref_qp(const char *in, size_t len, bool us, struct mm_buf *out)
{
	for (size_t i = 0; i < len; i++) {
		char c = in[i];
		if (c == '_' && us) {
			mm_buf_appendc(out, ' ');
			continue;
		}
		if (c == ' ' || c == '\t') {
			size_t j = i;
			while (j < len && (in[j] == ' ' || in[j] == '\t'))
				j++;
			if (j >= len || in[j] == '\n' || (in[j] == '\r' && j + 1 < len &&
			    in[j + 1] == '\n')) {
				i = j - 1;
				continue;
			}
			mm_buf_append(out, in + i, j - i);
			i = j - 1;
			continue;
		}
		if (c != '=') {
			mm_buf_appendc(out, c);
			continue;
		}
		if (i + 2 < len && ref_hex((unsigned char)in[i + 1]) >= 0 &&
		    ref_hex((unsigned char)in[i + 2]) >= 0) {
			mm_buf_appendc(out, (char)(ref_hex((unsigned char)in[i + 1]) * 16 +
			    ref_hex((unsigned char)in[i + 2])));
			i += 2;
			continue;
		}
		size_t j = i + 1;
		while (j < len && (in[j] == ' ' || in[j] == '\t'))
			j++;
		if (j < len && in[j] == '\r')
			j++;
		if (j < len && in[j] == '\n') {
			i = j;
			continue;
		}
		if (j >= len) {
			i = len;
			continue;
		}
		mm_buf_appendc(out, '=');
	}
}

/* Literal runs are copied whole: random strings of the bytes that matter
 * to the decoder (white space, line ends, '=', '_', hex digits) decode as
 * they did a byte at a time, with and without '_' as a space. */
START_TEST(test_qp_runs)
{
	static const char abc[] = "ab _\t\t  ==\r\n\n3De9z\r";
	unsigned seed = 12345;
	struct mm_buf got, want;
	char in[40];
	mm_buf_init(&got);
	mm_buf_init(&want);
	for (int round = 0; round < 40000; round++) {
		seed = seed * 1103515245u + 12345u;
		size_t n = (seed >> 16) % sizeof(in);
		for (size_t i = 0; i < n; i++) {
			seed = seed * 1103515245u + 12345u;
			in[i] = abc[(seed >> 16) % (sizeof(abc) - 1)];
		}
		bool us = round % 2;
		got.len = want.len = 0;
		mm_buf_append(&got, "X", 1);          /* appends to what is there */
		mm_buf_append(&want, "X", 1);
		mail_decode_qp(in, n, us, &got);
		ref_qp(in, n, us, &want);
		ck_assert_msg(got.len == want.len && memcmp(got.data, want.data, got.len) == 0,
		    "round %d: \"%.*s\" (underscore %d)", round, (int)n, in, us);
	}
	mm_buf_free(&got);
	mm_buf_free(&want);
}
END_TEST

/* BINARY[section] (RFC 3516): the transfer encoding undone */
START_TEST(test_binary_fetch)
{
	static const char msg0[] =
	    "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
	    "--b\r\nContent-Transfer-Encoding: base64\r\n\r\naGVs\r\nbG8A\r\n"
	    "--b\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\na=3Db  \r\nc=\r\nd\r\n"
	    "--b\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin\r\n"
	    "--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: in\r\n\r\nbody\r\n"
	    "--b\r\n\r\nplain\r\n--b--\r\n";
	static const struct { const char *spec; int rc; const char *want; size_t wlen; } t[] = {
		{ "1", MAIL_SECTION_OK, "hello\0", 6 },
		{ "2", MAIL_SECTION_OK, "a=b\r\ncd", 7 },
		{ "3", MAIL_BINARY_EUNKNOWN_CTE, NULL, 0 },
		{ "4", MAIL_SECTION_OK, "Subject: in\r\n\r\nbody", 19 },
		{ "5", MAIL_SECTION_OK, "plain", 5 },
		{ "6", MAIL_SECTION_ENOENT, NULL, 0 },
		{ "1.MIME", MAIL_SECTION_ESYNTAX, NULL, 0 },
		{ "HEADER", MAIL_SECTION_ESYNTAX, NULL, 0 },
		{ "", MAIL_SECTION_OK, msg0, sizeof(msg0) - 1 },
	};
	struct mail_msg *m = mail_mime_parse(msg0, sizeof(msg0) - 1);
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct mail_section sec;
		struct mm_buf b;
		mm_buf_init(&b);
		ck_assert_int_eq(mail_section_parse(t[i].spec, strlen(t[i].spec), &sec),
		    MAIL_SECTION_OK);
		int rc = mail_binary_fetch(m, msg0, sizeof(msg0) - 1, &sec, &b);
		ck_assert_msg(rc == t[i].rc, "%s: %d", t[i].spec, rc);
		if (rc == MAIL_SECTION_OK) {
			ck_assert_uint_eq(b.len, t[i].wlen);
			ck_assert(memcmp(b.data, t[i].want, b.len) == 0);
		}
		mm_buf_free(&b);
		mail_section_free(&sec);
	}
	mail_msg_free(&m);
}
END_TEST

/* APPEND of a literal8: Content-Transfer-Encoding: binary parts become
 * base64, and BINARY gives the bytes back */
START_TEST(test_binary_encode)
{
	static const char msg[] =
	    "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
	    "--b\r\nContent-Type: text/plain\r\n\r\ntext\r\n"
	    "--b\r\nContent-Type: application/octet-stream\r\n"
	    "Content-Transfer-Encoding: BINARY\r\nX-After: 1\r\n\r\n\0\x01\xff\n\r\r\n\0"
	    "\r\n--b--\r\n";
	static const char bin[] = "\0\x01\xff\n\r\r\n\0";
	struct mm_buf out, b;
	mm_buf_init(&out);
	mm_buf_init(&b);
	ck_assert(mail_binary_encode_parts(msg, sizeof(msg) - 1, &out));
	ck_assert_ptr_null(memchr(out.data, '\0', out.len));
	ck_assert_ptr_nonnull(strstr(mm_buf_cstr(&out),
	    "Content-Type: application/octet-stream\r\n"
	    "Content-Transfer-Encoding: base64\r\nX-After: 1\r\n\r\nAAH/Cg0NCgA=\r\n--b--\r\n"));
	ck_assert_ptr_nonnull(strstr(out.data, "--b\r\nContent-Type: text/plain\r\n\r\ntext\r\n"));
	struct mail_msg *m = mail_mime_parse(out.data, out.len);
	struct mail_section sec;
	ck_assert_int_eq(mail_section_parse("2", 1, &sec), MAIL_SECTION_OK);
	ck_assert_int_eq(mail_binary_fetch(m, out.data, out.len, &sec, &b), MAIL_SECTION_OK);
	ck_assert_uint_eq(b.len, sizeof(bin) - 1);
	ck_assert(memcmp(b.data, bin, b.len) == 0);
	mail_section_free(&sec);
	mail_msg_free(&m);
	/* nothing binary: nothing to do */
	out.len = 0;
	ck_assert(!mail_binary_encode_parts("Subject: x\r\n\r\nbody\r\n", 21, &out));
	ck_assert_uint_eq(out.len, 0);
	mm_buf_free(&out);
	mm_buf_free(&b);
}
END_TEST

/* URLFETCH BINARY (RFC 5524): a message/rfc822 part converted as a whole,
 * its base64 leaves (one with white space in every line) decoded and,
 * with mark, their CTE field saying binary; a leaf alone; a CTE nobody
 * knows. */
START_TEST(test_binary_convert)
{
	static const char msg[] =
	    "Content-Type: multipart/mixed; boundary=o\r\n\r\n"
	    "--o\r\nContent-Type: message/rfc822\r\n\r\n"
	    "Subject: in\r\nContent-Type: multipart/alternative; boundary=i\r\n\r\n"
	    "--i\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n"
	    "aGVs\r\nbG8=\r\n\r\n"
	    "--i\r\nContent-Transfer-Encoding: Quoted-Printable\r\nX-A: 1\r\n\r\n"
	    "a=3Db=\r\nc\r\n"
	    "--i\r\nContent-Transfer-Encoding: base64\r\n\r\n  aGk=  \r\n"
	    "--i--\r\n"
	    "--o\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin\r\n"
	    "--o--\r\n";
	static const char want[] =
	    "Subject: in\r\nContent-Type: multipart/alternative; boundary=i\r\n\r\n"
	    "--i\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: binary\r\n\r\n"
	    "hello\r\n"
	    "--i\r\nContent-Transfer-Encoding: binary\r\nX-A: 1\r\n\r\n"
	    "a=bc\r\n"
	    "--i\r\nContent-Transfer-Encoding: binary\r\n\r\nhi\r\n"
	    "--i--\r\n";        /* as BODY[1] ends */
	struct mail_msg *m = mail_mime_parse(msg, sizeof(msg) - 1);
	struct mm_buf b;
	unsigned one[] = { 1 }, two[] = { 2 }, leaf[] = { 1, 2 };
	mm_buf_init(&b);
	ck_assert_int_eq(mail_binary_convert(msg, sizeof(msg) - 1,
	    mail_section_part(m, one, 1), true, &b), MAIL_SECTION_OK);
	ck_assert_msg(b.len == sizeof(want) - 1 && memcmp(b.data, want, b.len) == 0,
	    "got '%s'", mm_buf_cstr(&b));
	/* without mark the header fields stay as stored */
	b.len = 0;
	ck_assert_int_eq(mail_binary_convert(msg, sizeof(msg) - 1,
	    mail_section_part(m, one, 1), false, &b), MAIL_SECTION_OK);
	ck_assert_ptr_nonnull(strstr(mm_buf_cstr(&b),
	    "Content-Transfer-Encoding: Quoted-Printable\r\nX-A: 1\r\n\r\na=bc\r\n--i"));
	ck_assert_ptr_null(strstr(mm_buf_cstr(&b), "binary"));
	b.len = 0;
	ck_assert_int_eq(mail_binary_convert(msg, sizeof(msg) - 1,
	    mail_section_part(m, leaf, 2), true, &b), MAIL_SECTION_OK);
	ck_assert_uint_eq(b.len, 4);
	ck_assert(memcmp(b.data, "a=bc", 4) == 0);
	b.len = 0;
	ck_assert_int_eq(mail_binary_convert(msg, sizeof(msg) - 1,
	    mail_section_part(m, two, 1), true, &b), MAIL_BINARY_EUNKNOWN_CTE);
	/* the root: its body, with the unknown leaf below it */
	b.len = 0;
	ck_assert_int_eq(mail_binary_convert(msg, sizeof(msg) - 1, m->root, true, &b),
	    MAIL_BINARY_EUNKNOWN_CTE);
	mm_buf_free(&b);
	mail_msg_free(&m);
}
END_TEST

START_TEST(test_decode_param)
{
	char *s = mail_decode_param("utf-8''%E2%82%AC%20rates.txt", true);
	ck_assert_str_eq(s, "\xe2\x82\xac rates.txt");
	free(s);
	s = mail_decode_param("iso-8859-1'en'%A3%20x", true);
	ck_assert_str_eq(s, "\xc2\xa3 x");
	free(s);
	s = mail_decode_param("=?UTF-8?B?w6TDtsO8LnR4dA==?=", false);
	ck_assert_str_eq(s, "\xc3\xa4\xc3\xb6\xc3\xbc.txt");
	free(s);
	/* from a parsed part: continuations joined, then decoded */
	size_t len;
	char *msg = corpus_named("rfc2231", &len);
	struct mail_msg *m = mail_mime_parse(msg, len);
	const struct mail_part *p = m->root->child;
	s = mail_part_param_utf8(p, "name");
	ck_assert_str_eq(s, "\xe2\x82\xac rates.txt");
	free(s);
	s = mail_part_param_utf8(p, "filename");
	ck_assert_str_eq(s, "\xc2\xa3 rates.txt");
	free(s);
	ck_assert_str_eq(mail_part_param(p->next, "title"), "part one and two");
	ck_assert_ptr_null(mail_part_param_utf8(p, "nope"));
	mail_msg_free(&m);
	free(msg);
}
END_TEST

/* SEARCH text */
START_TEST(test_text_body)
{
	static const struct { const char *name, *needle; bool found; } t[] = {
		{ "plain-utf8-qp", "GR\xc3\x9c\xc3\x9f" "E AUS", true },	/* QP, UTF-8, Latin folding */
		{ "plain-utf8-qp", "sch\xc3\xb6ne woche", true },	/* soft line break joined */
		{ "html-base64", "caf\xc3\xa9 cr\xc3\xa8me", true },	/* base64 + latin1 */
		{ "eightbit-junk", "CAF\xc3\x89", true },
		{ "windows-1252", "\xe2\x80\x9csmart quotes\xe2\x80\x9d cost \xe2\x82\xac", true },
		{ "mixed-attachment", "JVBERi0", false },	/* attachments are not text */
		{ "forward-rfc822", "original body", true },
		{ "forward-rfc822", "subject: original", true },	/* inner headers */
		{ "rfc822-multipart-inside", "<i>inner</i>", true },
		{ "alternative", "epilogue", false },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		size_t len;
		char *msg = corpus_named(t[i].name, &len);
		struct mail_msg *m = mail_mime_parse(msg, len);
		struct mm_buf b;
		mm_buf_init(&b);
		mail_text_body(m, msg, len, 1 << 20, &b);
		ck_assert_msg(mail_text_contains(b.data ? b.data : "", b.len, t[i].needle,
		    strlen(t[i].needle)) == t[i].found, "case %zu", i);
		mm_buf_free(&b);
		mail_msg_free(&m);
		free(msg);
	}
}
END_TEST

START_TEST(test_text_bound_and_headers)
{
	size_t len;
	char *msg = corpus_named("alternative", &len);
	struct mail_msg *m = mail_mime_parse(msg, len);
	struct mm_buf b;
	mm_buf_init(&b);
	mail_text_body(m, msg, len, 7, &b);
	ck_assert_uint_eq(b.len, 7);
	ck_assert(memcmp(b.data, "plain t", 7) == 0);
	b.len = 0;
	mail_text_body(m, msg, len, 1000, &b);
	ck_assert_str_eq(mm_buf_cstr(&b), "plain text\n<p>html text</p>");
	mm_buf_free(&b);
	mail_msg_free(&m);
	free(msg);
	msg = corpus_named("encoded-words", &len);
	mm_buf_init(&b);
	mail_text_headers(msg, len, 1 << 16, &b);
	ck_assert(mail_text_contains(b.data, b.len, "keld j\xc3\xb8rn", 10));
	ck_assert(mail_text_contains(b.data, b.len, "you understand the example", 26));
	mm_buf_free(&b);
	free(msg);
}
END_TEST

/* BODY searches text and message parts (a DSN's delivery-status, an
 * MDN, message/global...), never attachments nor an encoded
 * message/rfc822 (shown as an empty message) */
START_TEST(test_text_body_types)
{
	static const struct { const char *name, *want; } t[] = {
		{ "dsn-report",
		  "Could not deliver.\n"
		  "Reporting-MTA: dns; mail.example.org\r\n\r\n"
		  "Final-Recipient: rfc822; nobody@example.org\r\nStatus: 5.1.1\n"
		  "Reporting-UA: mua.example.org\r\n\n"
		  "Subject: lost\n"
		  "Subject: global\r\n\r\ninner" },
		{ "rfc822-base64", "" },
		{ "mixed-attachment", "See attached.\r\n" },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		size_t len;
		char *msg = corpus_named(t[i].name, &len);
		struct mail_msg *m = mail_mime_parse(msg, len);
		struct mm_buf b;
		mm_buf_init(&b);
		mail_text_body(m, msg, len, 1 << 20, &b);
		char *got = mm_buf_cstr(&b);
		ck_assert_str_eq(got, t[i].want);
		free(got);
		mail_msg_free(&m);
		free(msg);
	}
}
END_TEST

/* TEXT: the message header and every part's MIME header; the headers
 * of encapsulated messages come with mail_text_body() instead */
START_TEST(test_text_all_headers)
{
	static const struct { const char *name; size_t max; const char *want; } t[] = {
		{ "mixed-attachment", 1 << 16,
		  "From: a@example.org\nTo: b@example.org\nSubject: report\nMIME-Version: 1.0\n"
		  "Content-Type: multipart/mixed; boundary=XyZ\n"
		  "Content-Type: text/plain; charset=utf-8; format=flowed\n"
		  "Content-Transfer-Encoding: 7bit\n"
		  "Content-Type: application/pdf; name=\"report.pdf\"\n"
		  "Content-Transfer-Encoding: base64\n"
		  "Content-Disposition: attachment; filename=\"report.pdf\"; size=12\n" },
		{ "forward-rfc822", 1 << 16,
		  "From: a@example.org\nTo: c@example.org\nSubject: Fwd: original\n"
		  "Content-Type: multipart/mixed; boundary=\"fwd\"\n"
		  "Content-Type: text/plain\n"
		  "Content-Type: message/rfc822\nContent-Disposition: inline\n" },
		{ "attachment-2047-name", 1 << 16,	/* encoded words decoded */
		  "From: a@example.org\nContent-Type: multipart/mixed; boundary=\"n\"\n"
		  "Content-Type: application/octet-stream; name=\"\xc3\xa4\xc3\xb6\xc3\xbc.txt\"\n"
		  "Content-Disposition: attachment; filename=\"\xc3\xa4\xc3\xb6\xc3\xbc.txt\"\n"
		  "Content-Transfer-Encoding: base64\n" },
		{ "mixed-attachment", 25, "From: a@example.org\nTo: b" },	/* bounded */
		{ "plain-no-ct", 1 << 16,
		  "From: Alice <alice@example.org>\nTo: bob@example.net\nSubject: hello\n"
		  "Date: Mon, 7 Feb 1994 21:52:25 -0800\nMessage-ID: <1@example.org>\n" },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		size_t len;
		char *msg = corpus_named(t[i].name, &len);
		struct mail_msg *m = mail_mime_parse(msg, len);
		struct mm_buf b;
		mm_buf_init(&b);
		mail_text_all_headers(m, msg, len, t[i].max, &b);
		char *got = mm_buf_cstr(&b);
		ck_assert_str_eq(got, t[i].want);
		free(got);
		mail_msg_free(&m);
		free(msg);
	}
}
END_TEST

START_TEST(test_text_contains)
{
	ck_assert(mail_text_contains("Hello World", 11, "WORLD", 5));
	ck_assert(mail_text_contains("Hello", 5, "", 0));
	ck_assert(!mail_text_contains("Hello", 5, "hello!", 6));
	ck_assert(mail_text_contains("\xc3\x84pfel", 6, "\xc3\xa4PFEL", 6));	/* Ä/ä */
	ck_assert(mail_text_contains("\xc5\x81\xc3\xb3" "d\xc5\xba", 7, "\xc5\x82\xc3\x93", 4)); /* Ł ó */
	ck_assert(mail_text_contains("\xd0\x9f\xd0\xa0\xd0\x98", 6, "\xd0\xbf\xd1\x80\xd0\xb8", 6)); /* ПРИ/при */
	ck_assert(mail_text_contains("\xce\xa3\xce\x9f\xce\xa6", 6, "\xcf\x83\xce\xbf\xcf\x86", 6)); /* ΣΟΦ */
	ck_assert(mail_text_contains("caf\xe9", 4, "CAF\xc3\x89", 5));	/* junk read as 1252 */
}
END_TEST

/* ASCII runs are copied (and folded) a run at a time: long runs across
 * the buffer's growth, between non-ASCII and invalid bytes, appended to
 * what the buffer already holds, give what a byte at a time gave. */
START_TEST(test_text_ascii_runs)
{
	char in[700], want[800];
	size_t n = 0, w = 0;
	for (int k = 0; k < 3; k++) {
		for (int i = 0; i < 200; i++) {
			in[n++] = (char)("AbZ z09.\r\n"[i % 11]);
			want[w++] = (char)("abz z09.\r\n"[i % 11]);
		}
		memcpy(in + n, "\xc3\x84\xe9", 3);       /* Ä, then junk read as 1252 */
		n += 3;
		memcpy(want + w, "\xc3\xa4\xc3\xa9", 4);  /* ä é */
		w += 4;
	}
	struct mm_buf out;
	mm_buf_init(&out);
	mm_buf_append(&out, "X", 1);
	mail_text_fold(in, n, &out);
	ck_assert_uint_eq(out.len, w + 1);
	ck_assert(memcmp(out.data, "X", 1) == 0 && memcmp(out.data + 1, want, w) == 0);
	/* the same bytes unfolded: only the junk byte changes */
	out.len = 0;
	ck_assert(mail_charset_to_utf8("utf-8", in, n, &out));
	size_t j = 0;
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)in[i] == 0xe9) {
			ck_assert(memcmp(out.data + j, "\xc3\xa9", 2) == 0);
			j += 2;
		} else {
			ck_assert_int_eq(out.data[j], in[i]);
			j++;
		}
	}
	ck_assert_uint_eq(out.len, j);
	mm_buf_free(&out);
}
END_TEST

/* Eight bytes at a time: every ASCII byte value, at every position of a
 * word, beside a non-ASCII byte anywhere near it, folds and copies as it
 * does a byte at a time. */
START_TEST(test_text_ascii_words)
{
	struct mm_buf out;
	mm_buf_init(&out);
	for (int c = 1; c < 0x80; c++) {
		for (size_t at = 0; at < 16; at++) {
			for (int hi = -1; hi < 24; hi++) {
				unsigned char in[24];
				char want[32];
				size_t w = 0;
				for (size_t i = 0; i < sizeof(in); i++)
					in[i] = (unsigned char)("MixEd-CaSe@[Zz]`{ok}"[i % 20]);
				in[at] = (unsigned char)c;
				if (hi >= 0)
					in[hi] = 0xc9;                  /* junk: É in 1252 */
				for (size_t i = 0; i < sizeof(in); i++) {
					if (in[i] == 0xc9) {
						memcpy(want + w, "\xc3\xa9", 2);  /* folded é */
						w += 2;
					} else
						want[w++] = (char)(in[i] >= 'A' && in[i] <= 'Z' ?
						    in[i] + 32 : in[i]);
				}
				out.len = 0;
				mail_text_fold((const char *)in, sizeof(in), &out);
				ck_assert_msg(out.len == w && memcmp(out.data, want, w) == 0,
				    "fold: byte 0x%02x at %zu, junk at %d", c, at, hi);
				out.len = 0;
				ck_assert(mail_charset_to_utf8("utf-8", (const char *)in, sizeof(in), &out));
				size_t j = 0;
				for (size_t i = 0; i < sizeof(in); i++, j++) {
					if (in[i] == 0xc9) {
						ck_assert(memcmp(out.data + j, "\xc3\x89", 2) == 0);
						j++;
					} else
						ck_assert_int_eq((unsigned char)out.data[j], in[i]);
				}
				ck_assert_uint_eq(out.len, j);
			}
		}
	}
	mm_buf_free(&out);
}
END_TEST

/* Structure limits */
START_TEST(test_nesting_limit)
{
	struct mm_buf b;
	mm_buf_init(&b);
	for (int i = 0; i < 100; i++)
		mm_buf_printf(&b, "Content-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n--b%d\r\n", i, i);
	mm_buf_printf(&b, "Content-Type: text/plain\r\n\r\ndeep\r\n");
	struct mail_msg *m = mail_mime_parse(b.data, b.len);
	int depth = 0;
	const struct mail_part *p = m->root;
	while (p->child) {
		p = p->child;
		depth++;
	}
	ck_assert_int_eq(depth, MIME_NESTING_MAX);
	char *bs = fetch_str(m, 0);
	ck_assert(strstr(bs, "\"MIXED\"") != NULL);
	free(bs);
	mail_msg_free(&m);
	/* message/rfc822 inside message/rfc822, 100 times */
	b.len = 0;
	for (int i = 0; i < 100; i++)
		mm_buf_printf(&b, "Subject: %d\r\nContent-Type: message/rfc822\r\n\r\n", i);
	m = mail_mime_parse(b.data, b.len);
	ck_assert_uint_le(m->nparts, MIME_NESTING_MAX + 1);
	bs = fetch_str(m, 0);
	ck_assert(bs[0] == '(');
	free(bs);
	mail_msg_free(&m);
	/* 100 multiparts all with the same boundary, each closed in turn:
	 * nesting stays bounded, and every part lies inside its parent */
	b.len = 0;
	for (int i = 0; i < 100; i++)
		mm_buf_printf(&b, "Content-Type: multipart/mixed; boundary=\"s\"\r\n\r\n--s\r\n");
	mm_buf_printf(&b, "Content-Type: text/plain\r\n\r\ndeep\r\n");
	for (int i = 0; i < 100; i++)
		mm_buf_printf(&b, "--s--\r\n");
	m = mail_mime_parse(b.data, b.len);
	depth = 0;
	for (p = m->root; p->child; p = p->child)
		depth++;
	ck_assert_int_le(depth, MIME_NESTING_MAX);
	for (p = m->root; p; p = mail_part_next(p)) {
		ck_assert_uint_le(p->hdr_off, p->body_off);
		ck_assert_uint_le(p->body_off, p->body_end);
		if (p->parent) {
			ck_assert_uint_ge(p->hdr_off, p->parent->body_off);
			ck_assert_uint_le(p->body_end, p->parent->body_end);
		}
	}
	mail_msg_free(&m);
	mm_buf_free(&b);
}
END_TEST

START_TEST(test_parts_limit)
{
	struct mm_buf b;
	mm_buf_init(&b);
	mm_buf_printf(&b, "Content-Type: multipart/mixed; boundary=x\r\n\r\n");
	for (int i = 0; i < MIME_PARTS_MAX + 500; i++)
		mm_buf_printf(&b, "--x\r\n\r\n%d\r\n", i);
	mm_buf_printf(&b, "--x--\r\n");
	struct mail_msg *m = mail_mime_parse(b.data, b.len);
	ck_assert(m->parts_truncated);
	ck_assert_uint_eq(m->nparts, MIME_PARTS_MAX);
	ck_assert_uint_eq(m->root->nchildren, MIME_PARTS_MAX - 1);
	struct mm_buf blob;
	struct mail_cache *c;
	mm_buf_init(&blob);
	mail_cache_build_tree(m, b.data, b.len, &blob);
	ck_assert_int_eq(mail_cache_parse(blob.data, blob.len, &c), 0);
	mail_cache_free(&c);
	mm_buf_free(&blob);
	mail_msg_free(&m);
	mm_buf_free(&b);
}
END_TEST

START_TEST(test_imap_string)
{
	struct mm_buf b;
	mm_buf_init(&b);
	mail_imap_append_nstring(&b, NULL);
	mm_buf_appendc(&b, ' ');
	mail_imap_append_string(&b, "");
	mm_buf_appendc(&b, ' ');
	mail_imap_append_string(&b, "a \"q\" \\");
	mm_buf_appendc(&b, ' ');
	mail_imap_append_string(&b, "two\r\nlines");
	mm_buf_appendc(&b, ' ');
	mail_imap_append_string(&b, "\xc3\xa9");
	ck_assert_str_eq(mm_buf_cstr(&b),
	    "NIL \"\" \"a \\\"q\\\" \\\\\" {10}\r\ntwo\r\nlines {2}\r\n\xc3\xa9");
	mm_buf_free(&b);
}
END_TEST

/* The length-counted writers src/imap uses: a NUL goes out as a literal,
 * 1024 bytes still quoted, 1025 a literal; mail_imap_append_quoted()
 * quotes whatever it is given. */
START_TEST(test_imap_stringn)
{
	char big[1026];
	struct mm_buf b;
	mm_buf_init(&b);
	mail_imap_append_stringn(&b, "a\0b", 3);
	ck_assert_uint_eq(b.len, 8);
	ck_assert(memcmp(b.data, "{3}\r\na\0b", 8) == 0);
	b.len = 0;
	mail_imap_append_stringn(&b, "x\"y", 2);
	ck_assert_str_eq(mm_buf_cstr(&b), "\"x\\\"\"");
	b.len = 0;
	mail_imap_append_quoted(&b, "\xc3\xa9 \\", 4);
	ck_assert_str_eq(mm_buf_cstr(&b), "\"\xc3\xa9 \\\\\"");
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	b.len = 0;
	mail_imap_append_stringn(&b, big, 1024);
	ck_assert_uint_eq(b.len, 1026);
	ck_assert_int_eq(b.data[0], '"');
	ck_assert_int_eq(b.data[1025], '"');
	b.len = 0;
	mail_imap_append_string(&b, big);
	ck_assert_uint_eq(b.len, 8 + 1025);
	ck_assert(memcmp(b.data, "{1025}\r\n", 8) == 0);
	mm_buf_free(&b);
}
END_TEST

START_TEST(test_crlf_normalize)
{
	size_t n;
	char *s = mail_crlf_normalize("a\nb\r\nc\rd", 8, &n);
	ck_assert_uint_eq(n, 10);
	ck_assert_str_eq(s, "a\r\nb\r\nc\r\nd");
	free(s);
}
END_TEST

/* Dates */
static const struct date_case {
	const char *in;
	bool ok;
	time_t t;
	int tz;
} date_cases[] = {
	{ "Mon, 7 Feb 1994 21:52:25 -0800", true, 760686745, -480 },
	{ "7 Feb 1994 21:52:25 -0800", true, 760686745, -480 },
	{ "Mon, 07 Feb 1994 21:52:25 -0800 (PST)", true, 760686745, -480 },
	{ "7 Feb 94 21:52 EST", true, 760675920, -300 },
	{ "Tue, 1 Jul 2003 10:52:37 +0200", true, 1057049557, 120 },
	{ "1 Jan 2000 00:00:00 GMT", true, 946684800, 0 },
	{ "1 Jan 49 00:00:00 +0000", true, 2493072000, 0 },
	{ "1 Jan 2000 00:00:00", true, 946684800, 0 },
	{ "1 Jan 2000 00:00:00 +2500", true, 946684800, 0 },
	{ "Thu,  1 Jan 1970 00:00:00 +0000", true, 0, 0 },
	{ "29 Feb 2024 12:00:00 +0000", true, 1709208000, 0 },
	{ "30 Feb 2024 12:00:00 +0000", false, 0, 0 },
	{ "29 Feb 2023 12:00:00 +0000", false, 0, 0 },  /* not 1 Mar */
	{ "29 Feb 1900 12:00:00 +0000", false, 0, 0 },  /* century */
	{ "29 Feb 2000 12:00:00 +0000", true, 951825600, 0 },   /* 400 years */
	{ "31 Apr 2024 12:00:00 +0000", false, 0, 0 },
	{ "31 Dec 2016 23:59:60 +0000", true, 1483228799, 0 },  /* leap second: :59 */
	{ "31 Dec 2016 23:59:61 +0000", false, 0, 0 },
	{ "31 Dec 2016 24:00:00 +0000", false, 0, 0 },
	{ "32 Jan 2000 00:00:00", false, 0, 0 },
	{ "1 Foo 2000 00:00:00", false, 0, 0 },
	{ "1 Jan 2000", false, 0, 0 },
	{ "garbage", false, 0, 0 },
	{ "", false, 0, 0 },
};

START_TEST(test_date_rfc5322)
{
	const struct date_case *t = &date_cases[_i];
	time_t tt = 0;
	int tz = 0;
	bool ok = mail_date_parse_rfc5322(t->in, strlen(t->in), &tt, &tz);
	ck_assert_msg(ok == t->ok, "%s", t->in);
	if (ok) {
		ck_assert_int_eq((long long)tt, (long long)t->t);
		ck_assert_int_eq(tz, t->tz);
	}
}
END_TEST

/* mail_date_format_imap against gmtime_r and strftime (the C locale's
 * month names) from 1970 to 9999, every 7,777,777 seconds and at each
 * year's turn, with zones on either side of UTC. */
START_TEST(test_date_format_imap_sweep)
{
	static const int zones[] = { 0, -420, 330, 840, -720, 59, -1 };
	char buf[MAIL_DATE_IMAP_LEN + 1], want[64], date[32];

	for (long long t = 0; t < 253402300800LL; t += 7777777) {
		for (int k = -1; k <= 1; k++) {
			time_t tt = (time_t)(t + k);
			for (size_t z = 0; z < sizeof(zones) / sizeof(zones[0]); z++) {
				struct tm tm;
				time_t local = tt + zones[z] * 60;
				int a = zones[z] < 0 ? -zones[z] : zones[z];
				if (local < 0 || gmtime_r(&local, &tm) == NULL || tm.tm_year + 1900 > 9999)
					continue;
				strftime(date, sizeof(date), "%d-%b-%Y %H:%M:%S", &tm);
				snprintf(want, sizeof(want), "%s %c%02d%02d", date, zones[z] < 0 ? '-' : '+',
				    a / 60, a % 60);
				mail_date_format_imap(tt, zones[z], buf, sizeof(buf));
				ck_assert_str_eq(buf, want);
			}
		}
	}
}
END_TEST

START_TEST(test_date_imap)
{
	time_t t;
	int tz;
	char buf[64];
	ck_assert(mail_date_parse_imap("1-Feb-1994", 10, &t));
	ck_assert_int_eq((long long)t, 760060800LL);
	ck_assert(mail_date_parse_imap("01-feb-1994", 11, &t));
	ck_assert(!mail_date_parse_imap("1-Feb-94", 8, &t));
	ck_assert(!mail_date_parse_imap("1 Feb 1994", 10, &t));
	ck_assert(!mail_date_parse_imap("31-Apr-1994", 11, &t));
	ck_assert(!mail_date_parse_imap("1-Feb-1994x", 11, &t));
	ck_assert(!mail_date_parse_imap("29-Feb-2023", 11, &t));
	ck_assert(mail_date_parse_imap("29-Feb-2024", 11, &t));
	ck_assert_int_eq((long long)t, 1709164800LL);
	ck_assert(!mail_date_parse_imap_datetime("29-Feb-2023 12:00:00 +0000", 26, &t, &tz));
	ck_assert(mail_date_parse_imap_datetime("30-Jun-2015 23:59:60 +0000", 26, &t, &tz));
	ck_assert_int_eq((long long)t, 1435708799LL);
	ck_assert(!mail_date_parse_imap_datetime("30-Jun-2015 23:59:61 +0000", 26, &t, &tz));
	ck_assert(mail_date_parse_imap_datetime("17-Jul-1996 02:44:25 -0700", 26, &t, &tz));
	ck_assert_int_eq((long long)t, 837596665LL);
	ck_assert_int_eq(tz, -420);
	ck_assert(mail_date_parse_imap_datetime(" 7-Jul-1996 02:44:25 +0000", 26, &t, &tz));
	ck_assert(!mail_date_parse_imap_datetime("17-Jul-1996 02:44 -0700", 23, &t, &tz));
	ck_assert(!mail_date_parse_imap_datetime("17-Jul-1996 02:44:25 0700", 25, &t, &tz));
	mail_date_format_imap(837596665, -420, buf, sizeof(buf));
	ck_assert_str_eq(buf, "17-Jul-1996 02:44:25 -0700");
	mail_date_format_imap(0, 0, buf, sizeof(buf));
	ck_assert_str_eq(buf, "01-Jan-1970 00:00:00 +0000");
	mail_date_format_imap(1057049557, 330, buf, sizeof(buf));
	ck_assert_str_eq(buf, "01-Jul-2003 14:22:37 +0530");
	/* outside the years and zones written by hand: as before */
	mail_date_format_imap(253402300800LL, 0, buf, sizeof(buf));
	ck_assert_str_eq(buf, "01-Jan-10000 00:00:00 +0000");
	mail_date_format_imap(1057049557, 6000, buf, sizeof(buf));
	ck_assert_str_eq(buf, "05-Jul-2003 12:52:37 +10000");
	mail_date_format_imap(1057049557, 0, buf, 12);
	ck_assert_str_eq(buf, "01-Jul-2003");
	mail_date_format_rfc5322(1057049557, 120, buf, sizeof(buf));
	ck_assert_str_eq(buf, "Tue, 1 Jul 2003 10:52:37 +0200");
	mail_date_format_rfc5322(760686745, -480, buf, sizeof(buf));
	ck_assert_str_eq(buf, "Mon, 7 Feb 1994 21:52:25 -0800");
	/* SENTON compares the date as written: 23:30 -0800 is still the 7th */
	ck_assert(mail_date_parse_rfc5322("Mon, 7 Feb 1994 23:30:00 -0800", 30, &t, &tz));
	ck_assert(mail_date_parse_imap("7-Feb-1994", 10, &t) || 1);
	time_t day;
	mail_date_parse_imap("7-Feb-1994", 10, &day);
	mail_date_parse_rfc5322("Mon, 7 Feb 1994 23:30:00 -0800", 30, &t, &tz);
	ck_assert_int_eq(mail_date_day(t, tz), (long)(day / 86400));
}
END_TEST

/* Structure details not covered by the expected strings */
/*
 * message/global (RFC 6532 3.5): a leaf part for IMAP4rev1 and the cache
 * (today's answers, Dovecot 2.3's), an encapsulated message like
 * message/rfc822 for IMAP4rev2 (RFC 9051 7.5.2: envelope, body, lines),
 * which FETCH gets from mail_mime_parse_opts(MAIL_PARSE_GLOBAL). One that
 * is base64 is described as an empty message, as an encoded
 * message/rfc822 is: its parts are not bytes BODY[n.m] could give.
 */
/* with a multipart and UTF-8 header fields, 8bit */
static const char global_multi[] =
"From: a@example.org\n"
"Subject: fwd\n"
"MIME-Version: 1.0\n"
"Content-Type: multipart/mixed; boundary=\"out\"\n"
"\n"
"--out\n"
"Content-Type: text/plain; charset=utf-8\n"
"\n"
"see below\n"
"--out\n"
"Content-Type: message/global\n"
"Content-Transfer-Encoding: 8bit\n"
"\n"
"From: J\xc3\xb6ran <j\xc3\xb6ran@b\xc3\xbc" "cher.example>\n"
"To: kim@example.org\n"
"Subject: Gr\xc3\xbc\xc3\x9f" "e\n"
"Date: Tue, 1 Dec 2026 10:00:00 +0100\n"
"Message-ID: <g1@b\xc3\xbc" "cher.example>\n"
"MIME-Version: 1.0\n"
"Content-Type: multipart/alternative; boundary=\"in\"\n"
"\n"
"--in\n"
"Content-Type: text/plain; charset=utf-8\n"
"Content-Transfer-Encoding: 8bit\n"
"\n"
"Gr\xc3\xbc\xc3\x9f" "e\n"
"--in\n"
"Content-Type: text/html; charset=utf-8\n"
"\n"
"<p>hi</p>\n"
"--in--\n"
"--out--\n";

/* a message/global inside a message/global */
static const char global_nested[] =
"From: a@example.org\n"
"Subject: nested\n"
"MIME-Version: 1.0\n"
"Content-Type: multipart/mixed; boundary=\"out\"\n"
"\n"
"--out\n"
"Content-Type: text/plain\n"
"\n"
"two levels\n"
"--out\n"
"Content-Type: message/global\n"
"\n"
"From: b@example.org\n"
"Subject: middle\n"
"Content-Type: message/global\n"
"\n"
"From: c@b\xc3\xbc" "cher.example\n"
"Subject: inner \xc3\xa9t\xc3\xa9\n"
"\n"
"inner body\n"
"--out--\n";

/* base64-encoded (RFC 6532 3.5 allows any encoding) */
static const char global_base64[] =
"From: a@example.org\n"
"Subject: encoded\n"
"MIME-Version: 1.0\n"
"Content-Type: multipart/mixed; boundary=\"out\"\n"
"\n"
"--out\n"
"Content-Type: text/plain\n"
"\n"
"encoded below\n"
"--out\n"
"Content-Type: message/global\n"
"Content-Transfer-Encoding: base64\n"
"\n"
"RnJvbTogSsO2cmFuIDxqw7ZyYW5Ab"
"nVjaGVyLmV4YW1wbGU+DQpTdWJqZWN0OiBHcsO8w59lDQoNCmhpDQo=\n"
"--out--\n";

/* the envelopes (each address list of From, Sender and Reply-To) */
#define GLOBAL_JORAN "(({6}\r\nJ\xc3\xb6ran NIL {6}\r\nj\xc3\xb6ran {15}\r\nb\xc3\xbc" "cher.example)) "
#define GLOBAL_MULTI_ENV "(\"Tue, 1 Dec 2026 10:00:00 +0100\" {7}\r\nGr\xc3\xbc\xc3\x9f" "e " \
	GLOBAL_JORAN GLOBAL_JORAN GLOBAL_JORAN \
	"((NIL NIL \"kim\" \"example.org\")) NIL NIL NIL {20}\r\n<g1@b\xc3\xbc" "cher.example>)"
#define GLOBAL_B "((NIL NIL \"b\" \"example.org\")) "
#define GLOBAL_C "((NIL NIL \"c\" {15}\r\nb\xc3\xbc" "cher.example)) "
#define GLOBAL_MIDDLE_ENV "(NIL \"middle\" " GLOBAL_B GLOBAL_B GLOBAL_B "NIL NIL NIL NIL NIL)"
#define GLOBAL_INNER_ENV "(NIL {11}\r\ninner \xc3\xa9t\xc3\xa9 " GLOBAL_C GLOBAL_C GLOBAL_C \
	"NIL NIL NIL NIL NIL)"
#define GLOBAL_EMPTY_ENV "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"

static const struct global_case {
	const char *name, *msg;
	const char *bs_rev1, *body_rev1, *bs_rev2, *body_rev2;
} global_cases[] = {
	{ "multi", global_multi,
	    "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"7BIT\" 9 0 NIL NIL NIL NIL)"
	    "(\"MESSAGE\" \"GLOBAL\" NIL NIL NIL \"8BIT\" 379 NIL NIL NIL NIL) \"MIXED\" "
	    "(\"BOUNDARY\" \"out\") NIL NIL NIL)",
	    "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"7BIT\" 9 0)"
	    "(\"MESSAGE\" \"GLOBAL\" NIL NIL NIL \"8BIT\" 379) \"MIXED\")",
	    "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"7BIT\" 9 0 NIL NIL NIL NIL)"
	    "(\"MESSAGE\" \"GLOBAL\" NIL NIL NIL \"8BIT\" 381 " GLOBAL_MULTI_ENV " "
	    "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"8BIT\" 7 0 NIL NIL NIL NIL)"
	    "(\"TEXT\" \"HTML\" (\"CHARSET\" \"utf-8\") NIL NIL \"7BIT\" 9 0 NIL NIL NIL NIL) "
	    "\"ALTERNATIVE\" (\"BOUNDARY\" \"in\") NIL NIL NIL) 18 NIL NIL NIL NIL) \"MIXED\" "
	    "(\"BOUNDARY\" \"out\") NIL NIL NIL)",
	    "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"7BIT\" 9 0)"
	    "(\"MESSAGE\" \"GLOBAL\" NIL NIL NIL \"8BIT\" 381 " GLOBAL_MULTI_ENV " "
	    "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"8BIT\" 7 0)"
	    "(\"TEXT\" \"HTML\" (\"CHARSET\" \"utf-8\") NIL NIL \"7BIT\" 9 0) \"ALTERNATIVE\") 18) "
	    "\"MIXED\")" },
	{ "nested", global_nested,
	    "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 10 0 NIL NIL NIL NIL)"
	    "(\"MESSAGE\" \"GLOBAL\" NIL NIL NIL \"7BIT\" 129 NIL NIL NIL NIL) \"MIXED\" "
	    "(\"BOUNDARY\" \"out\") NIL NIL NIL)",
	    "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 10 0)"
	    "(\"MESSAGE\" \"GLOBAL\" NIL NIL NIL \"7BIT\" 129) \"MIXED\")",
	    "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 10 0 NIL NIL NIL NIL)"
	    "(\"MESSAGE\" \"GLOBAL\" NIL NIL NIL \"7BIT\" 129 " GLOBAL_MIDDLE_ENV " "
	    "(\"MESSAGE\" \"GLOBAL\" NIL NIL NIL \"7BIT\" 59 " GLOBAL_INNER_ENV " "
	    "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 10 0 NIL NIL NIL NIL) 3 "
	    "NIL NIL NIL NIL) 7 NIL NIL NIL NIL) \"MIXED\" (\"BOUNDARY\" \"out\") NIL NIL NIL)",
	    "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 10 0)"
	    "(\"MESSAGE\" \"GLOBAL\" NIL NIL NIL \"7BIT\" 129 " GLOBAL_MIDDLE_ENV " "
	    "(\"MESSAGE\" \"GLOBAL\" NIL NIL NIL \"7BIT\" 59 " GLOBAL_INNER_ENV " "
	    "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 10 0) 3) 7) \"MIXED\")" },
	{ "base64", global_base64,
	    "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 13 0 NIL NIL NIL NIL)"
	    "(\"MESSAGE\" \"GLOBAL\" NIL NIL NIL \"BASE64\" 84 NIL NIL NIL NIL) \"MIXED\" "
	    "(\"BOUNDARY\" \"out\") NIL NIL NIL)",
	    "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 13 0)"
	    "(\"MESSAGE\" \"GLOBAL\" NIL NIL NIL \"BASE64\" 84) \"MIXED\")",
	    /* encoded: an empty message inside, as for message/rfc822 */
	    "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 13 0 NIL NIL NIL NIL)"
	    "(\"MESSAGE\" \"GLOBAL\" NIL NIL NIL \"BASE64\" 84 " GLOBAL_EMPTY_ENV " "
	    "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0 NIL NIL NIL NIL) 0 "
	    "NIL NIL NIL NIL) \"MIXED\" (\"BOUNDARY\" \"out\") NIL NIL NIL)",
	    "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 13 0)"
	    "(\"MESSAGE\" \"GLOBAL\" NIL NIL NIL \"BASE64\" 84 " GLOBAL_EMPTY_ENV " "
	    "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0) 0) \"MIXED\")" },
};

START_TEST(test_global_structure)
{
	const struct global_case *t = &global_cases[_i];
	size_t len;
	char *msg = mail_crlf_normalize(t->msg, strlen(t->msg), &len);
	struct mail_msg *m = mail_mime_parse(msg, len);
	char *bs = fetch_str(m, 0), *body = fetch_str(m, 1);
	ck_assert_str_eq(bs, t->bs_rev1);
	ck_assert_str_eq(body, t->body_rev1);
	for (const struct mail_part *p = m->root; p; p = mail_part_next(p))
		ck_assert(!(p->flags & MAIL_PART_GLOBAL));
	free(bs);
	free(body);
	mail_msg_free(&m);

	/* the cache blob keeps IMAP4rev1's answer */
	struct mm_buf blob;
	struct mail_cache *c = NULL;
	mm_buf_init(&blob);
	mail_cache_build(msg, len, &blob);
	ck_assert_int_eq(mail_cache_parse(blob.data, blob.len, &c), 0);
	ck_assert_str_eq(c->bodystructure, t->bs_rev1);
	ck_assert_str_eq(c->body, t->body_rev1);
	mail_cache_free(&c);
	mm_buf_free(&blob);

	m = mail_mime_parse_opts(msg, len, MAIL_PARSE_GLOBAL);
	bs = fetch_str(m, 0);
	body = fetch_str(m, 1);
	ck_assert_str_eq(bs, t->bs_rev2);
	ck_assert_str_eq(body, t->body_rev2);
	free(bs);
	free(body);
	mail_msg_free(&m);
	free(msg);
}
END_TEST

static const struct global_sec_case {
	size_t msg;		/* index into global_cases */
	unsigned opts;
	const char *spec;
	int rc;
	const char *want;	/* NULL: the same bytes as BODY[2] */
} global_sec_cases[] = {
	/* IMAP4rev1: a leaf; "2.1" is the part itself (Dovecot) */
	{ 0, 0, "2.1", MAIL_SECTION_OK, NULL },
	{ 0, 0, "2.2", MAIL_SECTION_ENOENT, "" },
	{ 0, 0, "2.HEADER", MAIL_SECTION_ENOTMSG, "" },
	{ 0, 0, "2.TEXT", MAIL_SECTION_ENOTMSG, "" },
	{ 0, 0, "2.MIME", MAIL_SECTION_OK,
	    "Content-Type: message/global\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" },
	{ 1, 0, "2.1.1", MAIL_SECTION_ENOENT, "" },
	/* IMAP4rev2: the encapsulated message's parts */
	{ 0, MAIL_PARSE_GLOBAL, "2.1", MAIL_SECTION_OK, "Gr\xc3\xbc\xc3\x9f" "e" },
	{ 0, MAIL_PARSE_GLOBAL, "2.2", MAIL_SECTION_OK, "<p>hi</p>" },
	{ 0, MAIL_PARSE_GLOBAL, "2.1.MIME", MAIL_SECTION_OK,
	    "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" },
	{ 0, MAIL_PARSE_GLOBAL, "2.MIME", MAIL_SECTION_OK,
	    "Content-Type: message/global\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" },
	{ 0, MAIL_PARSE_GLOBAL, "2.HEADER", MAIL_SECTION_OK,
	    "From: J\xc3\xb6ran <j\xc3\xb6ran@b\xc3\xbc" "cher.example>\r\n"
	    "To: kim@example.org\r\n"
	    "Subject: Gr\xc3\xbc\xc3\x9f" "e\r\n"
	    "Date: Tue, 1 Dec 2026 10:00:00 +0100\r\n"
	    "Message-ID: <g1@b\xc3\xbc" "cher.example>\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: multipart/alternative; boundary=\"in\"\r\n\r\n" },
	{ 0, MAIL_PARSE_GLOBAL, "2.HEADER.FIELDS (Subject)", MAIL_SECTION_OK,
	    "Subject: Gr\xc3\xbc\xc3\x9f" "e\r\n\r\n" },
	{ 0, MAIL_PARSE_GLOBAL, "2.TEXT", MAIL_SECTION_OK,
	    "--in\r\nContent-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n\r\nGr\xc3\xbc\xc3\x9f" "e\r\n"
	    "--in\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>hi</p>\r\n--in--\r\n" },
	{ 0, MAIL_PARSE_GLOBAL, "2.3", MAIL_SECTION_ENOENT, "" },
	{ 1, MAIL_PARSE_GLOBAL, "2.HEADER", MAIL_SECTION_OK,
	    "From: b@example.org\r\nSubject: middle\r\nContent-Type: message/global\r\n\r\n" },
	{ 1, MAIL_PARSE_GLOBAL, "2.1.HEADER", MAIL_SECTION_OK,
	    "From: c@b\xc3\xbc" "cher.example\r\nSubject: inner \xc3\xa9t\xc3\xa9\r\n\r\n" },
	{ 1, MAIL_PARSE_GLOBAL, "2.1.1", MAIL_SECTION_OK, "inner body" },
	{ 1, MAIL_PARSE_GLOBAL, "2.1.TEXT", MAIL_SECTION_OK, "inner body" },
	/* base64: an empty message inside, as for an encoded message/rfc822 */
	{ 2, MAIL_PARSE_GLOBAL, "2.1", MAIL_SECTION_ENOENT, "" },
	{ 2, MAIL_PARSE_GLOBAL, "2.HEADER", MAIL_SECTION_ENOTMSG, "" },
	{ 2, MAIL_PARSE_GLOBAL, "2.1.MIME", MAIL_SECTION_ENOENT, "" },
	{ 2, 0, "2.1", MAIL_SECTION_OK, NULL },
};

START_TEST(test_global_sections)
{
	const struct global_sec_case *t = &global_sec_cases[_i];
	const char *raw = global_cases[t->msg].msg;
	size_t len;
	char *msg = mail_crlf_normalize(raw, strlen(raw), &len);
	struct mail_msg *m = mail_mime_parse_opts(msg, len, t->opts);
	if (t->want != NULL) {
		check_section(m, msg, len, t->spec, t->rc, t->want, strlen(t->want));
	} else {
		/* the bytes of BODY[2] */
		const struct mail_part *p = m->root->child->next;
		check_section(m, msg, len, t->spec, t->rc, msg + p->body_off,
		    p->body_end - p->body_off);
	}
	mail_msg_free(&m);
	free(msg);
}
END_TEST

/* BINARY[spec] of raw (parsed with opts) is the want_len bytes at want. */
static void
check_global_binary(const char *raw, unsigned opts, const char *spec, const char *want,
    size_t want_len)
{
	size_t len;
	struct mail_section sec;
	struct mm_buf out;
	char *msg = mail_crlf_normalize(raw, strlen(raw), &len);
	struct mail_msg *m = mail_mime_parse_opts(msg, len, opts);
	mm_buf_init(&out);
	ck_assert_int_eq(mail_section_parse(spec, strlen(spec), &sec), MAIL_SECTION_OK);
	ck_assert_int_eq(mail_binary_fetch(m, msg, len, &sec, &out), MAIL_SECTION_OK);
	ck_assert_uint_eq(out.len, want_len);
	ck_assert(memcmp(out.data, want, out.len) == 0);
	mail_section_free(&sec);
	mm_buf_free(&out);
	mail_msg_free(&m);
	free(msg);
}

/* BINARY (RFC 3516, base in RFC 9051): an encoded message/global is
 * decoded whole, in both parse modes; in IMAP4rev2 BINARY[2.1] of an 8bit
 * one is the inner part, decoded. */
START_TEST(test_global_binary)
{
	static const char decoded[] =
	    "From: J\xc3\xb6ran <j\xc3\xb6ran@nucher.example>\r\nSubject: Gr\xc3\xbc\xc3\x9f" "e\r\n\r\nhi\r\n";
	check_global_binary(global_base64, 0, "2", decoded, strlen(decoded));
	check_global_binary(global_base64, MAIL_PARSE_GLOBAL, "2", decoded, strlen(decoded));
	check_global_binary(global_multi, MAIL_PARSE_GLOBAL, "2.1", "Gr\xc3\xbc\xc3\x9f" "e", 7);
}
END_TEST

/* SEARCH reads the rev1 tree in every session (RFC 9051 leaves SEARCH
 * as it was): a message/global is text, its body searched as a whole
 * after its own transfer encoding is undone, base64 included. */
START_TEST(test_global_search_text)
{
	size_t len;
	struct mm_buf text;
	char *msg = mail_crlf_normalize(global_base64, strlen(global_base64), &len);
	struct mail_msg *m = mail_mime_parse(msg, len);
	mm_buf_init(&text);
	mail_text_body(m, msg, len, 1 << 16, &text);
	mm_buf_appendc(&text, '\0');
	ck_assert_ptr_nonnull(strstr(text.data, "Subject: Gr\xc3\xbc\xc3\x9f" "e"));
	mm_buf_free(&text);
	mail_msg_free(&m);
	free(msg);
}
END_TEST

START_TEST(test_structure_offsets)
{
	size_t len;
	char *msg = corpus_named("preamble-epilogue", &len);
	struct mail_msg *m = mail_mime_parse(msg, len);
	const struct mail_part *p = m->root->child;
	ck_assert_uint_eq(m->nparts, 2);
	ck_assert_ptr_nonnull(p);
	/* the part has no header: it starts with the empty line */
	ck_assert_uint_eq(p->body_off - p->hdr_off, 2);
	ck_assert(memcmp(msg + p->body_off, "part without headers", p->body_end - p->body_off) == 0);
	ck_assert_uint_eq(m->root->body_end, len);
	mail_msg_free(&m);
	free(msg);
	/* missing close boundary: the last part runs to the end */
	msg = corpus_named("missing-close-boundary", &len);
	m = mail_mime_parse(msg, len);
	ck_assert(m->root->flags & MAIL_PART_BROKEN);
	ck_assert_uint_eq(m->root->nchildren, 2);
	ck_assert_uint_eq(m->root->child->next->body_end, len);
	mail_msg_free(&m);
	free(msg);
	/* missing first boundary: no parts, BODYSTRUCTURE gets an empty one */
	msg = corpus_named("missing-first-boundary", &len);
	m = mail_mime_parse(msg, len);
	ck_assert_uint_eq(m->root->nchildren, 0);
	ck_assert_uint_eq(m->nparts, 1);
	mail_msg_free(&m);
	free(msg);
}
END_TEST

static Suite *
mime_suite(void)
{
	Suite *s = suite_create("mail");
	TCase *tc;

	tc = tcase_create("corpus");
	tcase_add_test(tc, test_corpus_size);
	tcase_add_loop_test(tc, test_corpus_expected, 0, sizeof(expected) / sizeof(expected[0]));
	tcase_add_loop_test(tc, test_corpus_cache_roundtrip, 0, NCORPUS);
	tcase_add_loop_test(tc, test_corpus_search_record, 0, NCORPUS);
	tcase_add_test(tc, test_search_record_edges);
	tcase_add_test(tc, test_structure_offsets);
	suite_add_tcase(s, tc);

	tc = tcase_create("global");
	tcase_add_loop_test(tc, test_global_structure, 0,
	    sizeof(global_cases) / sizeof(global_cases[0]));
	tcase_add_loop_test(tc, test_global_sections, 0,
	    sizeof(global_sec_cases) / sizeof(global_sec_cases[0]));
	tcase_add_test(tc, test_global_binary);
	tcase_add_test(tc, test_global_search_text);
	suite_add_tcase(s, tc);

	tc = tcase_create("robustness");
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_truncate_every_offset, 0, 8);
	tcase_add_test(tc, test_nesting_limit);
	tcase_add_test(tc, test_parts_limit);
	tcase_add_test(tc, test_header_limit);
	suite_add_tcase(s, tc);

	tc = tcase_create("header");
	tcase_add_test(tc, test_header_basic);
	tcase_add_test(tc, test_header_get_all);
	tcase_add_test(tc, test_part_charset);
	tcase_add_test(tc, test_header_lf_and_no_blank);
	suite_add_tcase(s, tc);

	tc = tcase_create("address");
	tcase_add_loop_test(tc, test_address, 0, sizeof(addr_cases) / sizeof(addr_cases[0]));
	tcase_add_test(tc, test_address_first_spec);
	tcase_add_loop_test(tc, test_address_search_text, 0,
	    sizeof(addr_search_cases) / sizeof(addr_search_cases[0]));
	suite_add_tcase(s, tc);

	tc = tcase_create("decode");
	tcase_add_loop_test(tc, test_decode_header, 0, sizeof(dec_cases) / sizeof(dec_cases[0]));
	tcase_add_test(tc, test_decode_cte);
	tcase_add_test(tc, test_qp_runs);
	tcase_add_test(tc, test_binary_fetch);
	tcase_add_test(tc, test_binary_encode);
	tcase_add_test(tc, test_binary_convert);
	tcase_add_test(tc, test_decode_param);
	suite_add_tcase(s, tc);

	tc = tcase_create("text");
	tcase_add_test(tc, test_text_body);
	tcase_add_test(tc, test_text_bound_and_headers);
	tcase_add_test(tc, test_text_contains);
	tcase_add_test(tc, test_text_ascii_runs);
	tcase_add_test(tc, test_text_ascii_words);
	tcase_add_test(tc, test_text_body_types);
	tcase_add_test(tc, test_text_all_headers);
	suite_add_tcase(s, tc);

	tc = tcase_create("section");
	tcase_add_loop_test(tc, test_section, 0, sizeof(sec_cases) / sizeof(sec_cases[0]));
	tcase_add_test(tc, test_section_format);
	suite_add_tcase(s, tc);

	tc = tcase_create("imap");
	tcase_add_test(tc, test_imap_string);
	tcase_add_test(tc, test_imap_stringn);
	tcase_add_test(tc, test_crlf_normalize);
	suite_add_tcase(s, tc);

	tc = tcase_create("cache");
	tcase_add_test(tc, test_cache_corrupt);
	tcase_add_test(tc, test_cache_sections);
	suite_add_tcase(s, tc);

	tc = tcase_create("date");
	tcase_add_loop_test(tc, test_date_rfc5322, 0, sizeof(date_cases) / sizeof(date_cases[0]));
	tcase_add_test(tc, test_date_imap);
	tcase_add_test(tc, test_date_format_imap_sweep);
	suite_add_tcase(s, tc);
	return s;
}

int
main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--dump") == 0)
		return dump(argv[2]);
	SRunner *sr = srunner_create(mime_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
