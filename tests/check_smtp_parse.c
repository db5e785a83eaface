/* check_smtp_parse.c: table-driven tests of the SMTP command parser
 * (src/smtp/smtp-parse.c). Each row is an input line (explicit length, so
 * NUL bytes can be tested) and the exact enum and parsed value expected;
 * the reply line of every enum is checked too, since clients see those. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/smtp-parse.h"

#define L(s) s, sizeof(s) - 1

/* ---- command lines ---- */

static const struct {
	const char *line;
	size_t len;
	enum smtp_perr err;
	enum smtp_verb verb;
	const char *args;
} cmd_cases[] = {
	{ L("EHLO client.example"), SMTP_PERR_OK, SMTP_CMD_EHLO, "client.example" },
	{ L("ehlo client.example"), SMTP_PERR_OK, SMTP_CMD_EHLO, "client.example" },
	{ L("HeLo x"), SMTP_PERR_OK, SMTP_CMD_HELO, "x" },
	{ L("MAIL FROM:<a@b.c>"), SMTP_PERR_OK, SMTP_CMD_MAIL, "FROM:<a@b.c>" },
	{ L("RCPT TO:<a@b.c>"), SMTP_PERR_OK, SMTP_CMD_RCPT, "TO:<a@b.c>" },
	{ L("DATA"), SMTP_PERR_OK, SMTP_CMD_DATA, "" },
	{ L("DATA "), SMTP_PERR_OK, SMTP_CMD_DATA, "" },
	{ L("DATA x"), SMTP_PERR_NO_ARGS, SMTP_CMD_DATA, "x" },
	{ L("BDAT 10 LAST"), SMTP_PERR_OK, SMTP_CMD_BDAT, "10 LAST" },
	{ L("RSET"), SMTP_PERR_OK, SMTP_CMD_RSET, "" },
	{ L("NOOP anything at all"), SMTP_PERR_OK, SMTP_CMD_NOOP, "anything at all" },
	{ L("QUIT"), SMTP_PERR_OK, SMTP_CMD_QUIT, "" },
	{ L("QUIT now"), SMTP_PERR_NO_ARGS, SMTP_CMD_QUIT, "now" },
	{ L("VRFY alice"), SMTP_PERR_OK, SMTP_CMD_VRFY, "alice" },
	{ L("EXPN list"), SMTP_PERR_OK, SMTP_CMD_EXPN, "list" },
	{ L("HELP"), SMTP_PERR_OK, SMTP_CMD_HELP, "" },
	{ L("STARTTLS"), SMTP_PERR_OK, SMTP_CMD_STARTTLS, "" },
	{ L("starttls"), SMTP_PERR_OK, SMTP_CMD_STARTTLS, "" },
	{ L("STARTTLS\r"), SMTP_PERR_UNKNOWN_CMD, SMTP_CMD_UNKNOWN, "" },
	{ L("AUTH PLAIN"), SMTP_PERR_OK, SMTP_CMD_AUTH, "PLAIN" },
	{ L(""), SMTP_PERR_UNKNOWN_CMD, SMTP_CMD_UNKNOWN, "" },
	{ L(" MAIL FROM:<>"), SMTP_PERR_UNKNOWN_CMD, SMTP_CMD_UNKNOWN, "" },
	{ L("MAILFROM:<>"), SMTP_PERR_UNKNOWN_CMD, SMTP_CMD_UNKNOWN, "" },
	{ L("MAIL\tFROM:<>"), SMTP_PERR_UNKNOWN_CMD, SMTP_CMD_UNKNOWN, "" },
	{ L("GET / HTTP/1.0"), SMTP_PERR_UNKNOWN_CMD, SMTP_CMD_UNKNOWN, "" },
	{ L("NO\0OP"), SMTP_PERR_NUL, SMTP_CMD_UNKNOWN, "" },
	{ L("MAIL FROM:<a@b.c>\0"), SMTP_PERR_NUL, SMTP_CMD_UNKNOWN, "" },
	{ L("\xc3\xa9HLO x"), SMTP_PERR_UNKNOWN_CMD, SMTP_CMD_UNKNOWN, "" },
};

START_TEST(test_command)
{
	struct smtp_cmdline cmd;
	enum smtp_perr err = smtp_parse_command(cmd_cases[_i].line, cmd_cases[_i].len, &cmd);

	ck_assert_msg(err == cmd_cases[_i].err, "case %d: got %s want %s", _i,
	    smtp_perr_name(err), smtp_perr_name(cmd_cases[_i].err));
	ck_assert_int_eq(cmd.verb, cmd_cases[_i].verb);
	if (err == SMTP_PERR_OK) {
		ck_assert_uint_eq(cmd.argslen, strlen(cmd_cases[_i].args));
		ck_assert(memcmp(cmd.args, cmd_cases[_i].args, cmd.argslen) == 0);
	}
}
END_TEST

/* ---- MAIL FROM ---- */

static const char long_local[] =
    "<0123456789012345678901234567890123456789012345678901234567890123@example.org>";
static const char too_long_local[] =
    "<01234567890123456789012345678901234567890123456789012345678901234@example.org>";

static const struct {
	const char *args;
	size_t len;
	enum smtp_perr err;
	const char *addr;
	bool null_path;
	uint64_t size;
	enum smtp_body body;
	bool smtputf8;
} mail_cases[] = {
	{ L("FROM:<alice@example.org>"), SMTP_PERR_OK, "alice@example.org", false, 0, 0, false },
	{ L("from:<alice@example.org>"), SMTP_PERR_OK, "alice@example.org", false, 0, 0, false },
	{ L("FROM: <alice@example.org>"), SMTP_PERR_OK, "alice@example.org", false, 0, 0, false },
	{ L("FROM:<>"), SMTP_PERR_OK, "", true, 0, 0, false },
	{ L("FROM:<> SIZE=1000"), SMTP_PERR_OK, "", true, 1000, 0, false },
	{ L("FROM:<a@b.example> SIZE=12345 BODY=8BITMIME"), SMTP_PERR_OK, "a@b.example", false, 12345, SMTP_BODY_8BITMIME, false },
	{ L("FROM:<a@b.example> body=7bit"), SMTP_PERR_OK, "a@b.example", false, 0, SMTP_BODY_7BIT, false },
	{ L("FROM:<a@b.example> AUTH=<>"), SMTP_PERR_OK, "a@b.example", false, 0, 0, false },
	{ L("FROM:<a@b.example> AUTH=a+40b.example"), SMTP_PERR_OK, "a@b.example", false, 0, 0, false },
	{ L("FROM:<@relay1.example,@relay2.example:a@b.example>"), SMTP_PERR_OK, "a@b.example", false, 0, 0, false },
	{ L("FROM:<\"john doe\"@example.org>"), SMTP_PERR_OK, "\"john doe\"@example.org", false, 0, 0, false },
	{ L("FROM:<\"alice\"@example.org>"), SMTP_PERR_OK, "alice@example.org", false, 0, 0, false },
	{ L("FROM:<\"a\\\"b\"@example.org>"), SMTP_PERR_OK, "\"a\\\"b\"@example.org", false, 0, 0, false },
	{ L("FROM:<\"a>b\"@example.org>"), SMTP_PERR_OK, "\"a>b\"@example.org", false, 0, 0, false },
	{ L("FROM:<a@[192.0.2.1]>"), SMTP_PERR_OK, "a@[192.0.2.1]", false, 0, 0, false },
	{ L("FROM:<a@[IPv6:2001:db8::1]>"), SMTP_PERR_OK, "a@[IPv6:2001:db8::1]", false, 0, 0, false },
	{ L("FROM:<a.b+tag@sub-1.example.org>"), SMTP_PERR_OK, "a.b+tag@sub-1.example.org", false, 0, 0, false },
	{ L("FROM:<j\xc3\xb6rg@b\xc3\xbc" "cher.example> SMTPUTF8"), SMTP_PERR_OK, "j\xc3\xb6rg@b\xc3\xbc" "cher.example", false, 0, 0, true },
	{ L("FROM:<a@b.example> SMTPUTF8 BODY=8BITMIME"), SMTP_PERR_OK, "a@b.example", false, 0, SMTP_BODY_8BITMIME, true },
	{ L("FROM:<|cmd@example.org>"), SMTP_PERR_OK, "|cmd@example.org", false, 0, 0, false },
	/* errors */
	{ L("FROM:<j\xc3\xb6rg@example.org>"), SMTP_PERR_SENDER_UTF8, NULL, false, 0, 0, false },
	{ L("FROM:<a@b\xc3\xbc" "cher.example>"), SMTP_PERR_SENDER_UTF8, NULL, false, 0, 0, false },
	{ L("FROM:<j\xc3rg@example.org> SMTPUTF8"), SMTP_PERR_BAD_SENDER, NULL, false, 0, 0, false },
	{ L("FROM:<j\xc0\xafrg@example.org> SMTPUTF8"), SMTP_PERR_BAD_SENDER, NULL, false, 0, 0, false },
	{ L("FROM:<j\xed\xa0\x80rg@example.org> SMTPUTF8"), SMTP_PERR_BAD_SENDER, NULL, false, 0, 0, false },
	{ L("FROM:a@b.example"), SMTP_PERR_BAD_SENDER, NULL, false, 0, 0, false },
	{ L("FROM:<a@b.example"), SMTP_PERR_BAD_SENDER, NULL, false, 0, 0, false },
	{ L("FROM:<<a@b.example>>"), SMTP_PERR_BAD_SENDER, NULL, false, 0, 0, false },
	{ L("FROM:<a>"), SMTP_PERR_BAD_SENDER, NULL, false, 0, 0, false },
	{ L("FROM:<a@>"), SMTP_PERR_BAD_SENDER, NULL, false, 0, 0, false },
	{ L("FROM:<@b.example>"), SMTP_PERR_BAD_SENDER, NULL, false, 0, 0, false },
	{ L("FROM:<a..b@example.org>"), SMTP_PERR_BAD_SENDER, NULL, false, 0, 0, false },
	{ L("FROM:<.a@example.org>"), SMTP_PERR_BAD_SENDER, NULL, false, 0, 0, false },
	{ L("FROM:<a.@example.org>"), SMTP_PERR_BAD_SENDER, NULL, false, 0, 0, false },
	{ L("FROM:<a b@example.org>"), SMTP_PERR_BAD_SENDER, NULL, false, 0, 0, false },
	{ L("FROM:<a@b@example.org>"), SMTP_PERR_BAD_SENDER, NULL, false, 0, 0, false },
	{ L("FROM:<a@-b.example>"), SMTP_PERR_BAD_SENDER, NULL, false, 0, 0, false },
	{ L("FROM:<a@b-.example>"), SMTP_PERR_BAD_SENDER, NULL, false, 0, 0, false },
	{ L("FROM:<a@b..example>"), SMTP_PERR_BAD_SENDER, NULL, false, 0, 0, false },
	{ L("FROM:<a@b.example.>"), SMTP_PERR_BAD_SENDER, NULL, false, 0, 0, false },
	{ L("FROM:<a@b_c.example>"), SMTP_PERR_BAD_SENDER, NULL, false, 0, 0, false },
	{ L("FROM:<a@[300.0.2.1]>"), SMTP_PERR_BAD_SENDER, NULL, false, 0, 0, false },
	{ L("FROM:<a@[IPv6:zz::1]>"), SMTP_PERR_BAD_SENDER, NULL, false, 0, 0, false },
	{ L("FROM:<a@[192.0.2.1>"), SMTP_PERR_BAD_SENDER, NULL, false, 0, 0, false },
	{ L("FROM:<\"unterminated@example.org>"), SMTP_PERR_BAD_SENDER, NULL, false, 0, 0, false },
	{ L("FROM:<\"a\"b@example.org>"), SMTP_PERR_BAD_SENDER, NULL, false, 0, 0, false },
	{ L("FROM:<@relay.example:>"), SMTP_PERR_BAD_SENDER, NULL, false, 0, 0, false },
	{ L("FROM:<@relay.example,:a@b.example>"), SMTP_PERR_BAD_SENDER, NULL, false, 0, 0, false },
	{ L("FROM:<@relay.example>"), SMTP_PERR_BAD_SENDER, NULL, false, 0, 0, false },
	/* shell metacharacters that are not atext */
	{ L("FROM:<$(id)@example.org>"), SMTP_PERR_BAD_SENDER, NULL, false, 0, 0, false },
	{ L("FROM:<a;rm -rf /@example.org>"), SMTP_PERR_BAD_SENDER, NULL, false, 0, 0, false },
	{ L("FROM:<`id`@example.org;reboot>"), SMTP_PERR_BAD_SENDER, NULL, false, 0, 0, false },
	{ L("FROM:<a@example.org\nRCPT TO:<x@y.z>>"), SMTP_PERR_BAD_SENDER, NULL, false, 0, 0, false },
	{ L("FROM:<a\0b@example.org>"), SMTP_PERR_NUL, NULL, false, 0, 0, false },
	/* syntax of the command around the path */
	{ L("<a@b.example>"), SMTP_PERR_MAIL_SYNTAX, NULL, false, 0, 0, false },
	{ L("FROM"), SMTP_PERR_MAIL_SYNTAX, NULL, false, 0, 0, false },
	{ L("TO:<a@b.example>"), SMTP_PERR_MAIL_SYNTAX, NULL, false, 0, 0, false },
	{ L("FROM:"), SMTP_PERR_BAD_SENDER, NULL, false, 0, 0, false },
	{ L("FROM:  <a@b.example>"), SMTP_PERR_BAD_SENDER, NULL, false, 0, 0, false },
	/* parameters */
	{ L("FROM:<a@b.example>SIZE=10"), SMTP_PERR_PARAM_SYNTAX, NULL, false, 0, 0, false },
	{ L("FROM:<a@b.example> SIZE="), SMTP_PERR_PARAM_SYNTAX, NULL, false, 0, 0, false },
	{ L("FROM:<a@b.example> =10"), SMTP_PERR_PARAM_SYNTAX, NULL, false, 0, 0, false },
	{ L("FROM:<a@b.example> SIZE=1=2"), SMTP_PERR_PARAM_SYNTAX, NULL, false, 0, 0, false },
	{ L("FROM:<a@b.example> SIZE=\x01"), SMTP_PERR_PARAM_SYNTAX, NULL, false, 0, 0, false },
	{ L("FROM:<a@b.example> SIZE=abc"), SMTP_PERR_PARAM_VALUE, NULL, false, 0, 0, false },
	{ L("FROM:<a@b.example> SIZE=-1"), SMTP_PERR_PARAM_VALUE, NULL, false, 0, 0, false },
	{ L("FROM:<a@b.example> SIZE"), SMTP_PERR_PARAM_VALUE, NULL, false, 0, 0, false },
	{ L("FROM:<a@b.example> SIZE=18446744073709551615"), SMTP_PERR_OK, "a@b.example", false, UINT64_MAX, 0, false },
	{ L("FROM:<a@b.example> SIZE=18446744073709551616"), SMTP_PERR_PARAM_VALUE, NULL, false, 0, 0, false },
	{ L("FROM:<a@b.example> SIZE=000000000000000000001"), SMTP_PERR_PARAM_VALUE, NULL, false, 0, 0, false },
	{ L("FROM:<a@b.example> SIZE=1 SIZE=2"), SMTP_PERR_PARAM_DUP, NULL, false, 0, 0, false },
	{ L("FROM:<a@b.example> BODY=BINARYMIME"), SMTP_PERR_BODY_UNSUPPORTED, NULL, false, 0, 0, false },
	{ L("FROM:<a@b.example> BODY=9BIT"), SMTP_PERR_BODY_UNSUPPORTED, NULL, false, 0, 0, false },
	{ L("FROM:<a@b.example> BODY"), SMTP_PERR_PARAM_VALUE, NULL, false, 0, 0, false },
	{ L("FROM:<a@b.example> SMTPUTF8=yes"), SMTP_PERR_PARAM_VALUE, NULL, false, 0, 0, false },
	{ L("FROM:<a@b.example> AUTH"), SMTP_PERR_PARAM_VALUE, NULL, false, 0, 0, false },
	{ L("FROM:<a@b.example> RET=FULL"), SMTP_PERR_PARAM_UNKNOWN, NULL, false, 0, 0, false },
	{ L("FROM:<a@b.example> ENVID=x"), SMTP_PERR_PARAM_UNKNOWN, NULL, false, 0, 0, false },
	{ L("FROM:<a@b.example> X-FOO"), SMTP_PERR_PARAM_UNKNOWN, NULL, false, 0, 0, false },
	{ L("FROM:<a@b.example> A A A A A A A A A A A A A A A A A"), SMTP_PERR_PARAM_SYNTAX, NULL, false, 0, 0, false },
};

START_TEST(test_mail)
{
	struct smtp_path p;
	struct smtp_mail_params mp;
	enum smtp_perr err = smtp_parse_mail(mail_cases[_i].args, mail_cases[_i].len, &p, &mp);

	ck_assert_msg(err == mail_cases[_i].err, "case %d (%s): got %s want %s", _i,
	    mail_cases[_i].args, smtp_perr_name(err), smtp_perr_name(mail_cases[_i].err));
	if (err != SMTP_PERR_OK)
		return;
	ck_assert_str_eq(p.addr, mail_cases[_i].addr);
	ck_assert(p.null_path == mail_cases[_i].null_path);
	ck_assert(mp.has_size == (mail_cases[_i].size != 0));
	ck_assert(mp.size == mail_cases[_i].size);
	ck_assert_int_eq(mp.body, mail_cases[_i].body);
	ck_assert(mp.smtputf8 == mail_cases[_i].smtputf8);
}
END_TEST

/* The 64-octet local part is fine, 65 is too long; also domain and path. */
START_TEST(test_mail_lengths)
{
	struct smtp_path p;
	struct smtp_mail_params mp;
	char buf[600];
	size_t n;

	/* long_local: 64 octets, fits */
	n = snprintf(buf, sizeof(buf), "FROM:%s", long_local);
	ck_assert_int_eq(smtp_parse_mail(buf, n, &p, &mp), SMTP_PERR_OK);
	ck_assert_uint_eq(strlen(p.local), 64);
	n = snprintf(buf, sizeof(buf), "FROM:%s", too_long_local);
	ck_assert_int_eq(smtp_parse_mail(buf, n, &p, &mp), SMTP_PERR_SENDER_TOO_LONG);

	/* domain of 4 x 63-octet labels + 3 dots = 255, path = 1+1+1+255+1 = 259 > 256 */
	{
		char dom[300];
		size_t d = 0;
		for (int l = 0; l < 4; l++) {
			if (l)
				dom[d++] = '.';
			memset(dom + d, 'a' + l, 63);
			d += 63;
		}
		dom[d] = '\0';
		ck_assert(smtp_domain_valid(dom, d, false));
		n = snprintf(buf, sizeof(buf), "FROM:<a@%s>", dom);
		ck_assert_int_eq(smtp_parse_mail(buf, n, &p, &mp), SMTP_PERR_SENDER_TOO_LONG);
		/* a 64-octet label is invalid */
		memset(dom, 'x', 64);
		dom[64] = '\0';
		ck_assert(!smtp_domain_valid(dom, 64, false));
		ck_assert(smtp_domain_valid(dom, 63, false));
	}
	/* path of exactly 256 octets is accepted, 257 refused */
	{
		char dom[300];
		/* "<" + 1 + "@" + dom + ">" = 256 -> dom = 252 */
		size_t dl = 252, d = 0;
		while (d < dl) {
			size_t take = dl - d > 60 ? 60 : dl - d;
			if (d) {
				dom[d++] = '.';
				if (take > dl - d)
					take = dl - d;
			}
			memset(dom + d, 'b', take);
			d += take;
		}
		dom[d] = '\0';
		ck_assert_uint_eq(strlen(dom), 252);
		n = snprintf(buf, sizeof(buf), "FROM:<a@%s>", dom);
		ck_assert_int_eq(smtp_parse_mail(buf, n, &p, &mp), SMTP_PERR_OK);
		n = snprintf(buf, sizeof(buf), "FROM:<ab@%s>", dom);
		ck_assert_int_eq(smtp_parse_mail(buf, n, &p, &mp), SMTP_PERR_SENDER_TOO_LONG);
	}
	/* an enormous line does not crash and is refused */
	{
		size_t big = 100000;
		char *s = malloc(big + 20);
		memcpy(s, "FROM:<", 6);
		memset(s + 6, 'a', big);
		memcpy(s + 6 + big, "@b.c>", 5);
		ck_assert_int_eq(smtp_parse_mail(s, big + 11, &p, &mp), SMTP_PERR_SENDER_TOO_LONG);
		free(s);
	}
}
END_TEST

/* ---- RCPT TO ---- */

static const struct {
	const char *args;
	size_t len;
	bool smtputf8;
	enum smtp_perr err;
	const char *addr;
	bool postmaster;
} rcpt_cases[] = {
	{ L("TO:<bob@example.org>"), false, SMTP_PERR_OK, "bob@example.org", false },
	{ L("to: <bob@example.org>"), false, SMTP_PERR_OK, "bob@example.org", false },
	{ L("TO:<Postmaster>"), false, SMTP_PERR_OK, "postmaster", true },
	{ L("TO:<postmaster@example.org>"), false, SMTP_PERR_OK, "postmaster@example.org", false },
	{ L("TO:<@hop.example:bob@example.org>"), false, SMTP_PERR_OK, "bob@example.org", false },
	{ L("TO:<b\xc3\xb6" "b@example.org>"), true, SMTP_PERR_OK, "b\xc3\xb6" "b@example.org", false },
	{ L("TO:<b\xc3\xb6" "b@example.org>"), false, SMTP_PERR_RCPT_UTF8, NULL, false },
	{ L("TO:<>"), false, SMTP_PERR_BAD_RCPT, NULL, false },
	{ L("TO:<bob>"), false, SMTP_PERR_BAD_RCPT, NULL, false },
	{ L("TO:bob@example.org"), false, SMTP_PERR_BAD_RCPT, NULL, false },
	{ L("TO:<bob@example.org> NOTIFY=NEVER"), false, SMTP_PERR_PARAM_UNKNOWN, NULL, false },
	{ L("TO:<bob@example.org> ORCPT=rfc822;bob@example.org"), false, SMTP_PERR_PARAM_UNKNOWN, NULL, false },
	{ L("TO:<bob@example.org> NOTIFY="), false, SMTP_PERR_PARAM_SYNTAX, NULL, false },
	{ L("TO:<bob@example.org>x"), false, SMTP_PERR_PARAM_SYNTAX, NULL, false },
	{ L("FROM:<bob@example.org>"), false, SMTP_PERR_RCPT_SYNTAX, NULL, false },
	{ L("TO:<bob\0@example.org>"), false, SMTP_PERR_NUL, NULL, false },
	{ L("TO:<bob&&reboot@example.org>"), false, SMTP_PERR_OK, "bob&&reboot@example.org", false },
	{ L("TO:<bob>/tmp/x@example.org>"), false, SMTP_PERR_PARAM_SYNTAX, NULL, false },
	{ L("TO:<\"bob\\\\\"@example.org>"), false, SMTP_PERR_OK, "\"bob\\\\\"@example.org", false },
	{ L("TO:<\"\"@example.org>"), false, SMTP_PERR_OK, "\"\"@example.org", false },
	{ L("TO:<\"a\x01\"@example.org>"), false, SMTP_PERR_BAD_RCPT, NULL, false },
};

START_TEST(test_rcpt)
{
	struct smtp_path p;
	enum smtp_perr err = smtp_parse_rcpt(rcpt_cases[_i].args, rcpt_cases[_i].len,
	    rcpt_cases[_i].smtputf8, &p);

	ck_assert_msg(err == rcpt_cases[_i].err, "case %d (%s): got %s want %s", _i,
	    rcpt_cases[_i].args, smtp_perr_name(err), smtp_perr_name(rcpt_cases[_i].err));
	if (err != SMTP_PERR_OK)
		return;
	ck_assert_str_eq(p.addr, rcpt_cases[_i].addr);
	ck_assert(p.postmaster == rcpt_cases[_i].postmaster);
}
END_TEST

/* ---- BDAT, AUTH, EHLO ---- */

static const struct {
	const char *args;
	size_t len;
	enum smtp_perr err;
	uint64_t size;
	bool last;
} bdat_cases[] = {
	{ L("0"), SMTP_PERR_OK, 0, false },
	{ L("0 LAST"), SMTP_PERR_OK, 0, true },
	{ L("1000 last"), SMTP_PERR_OK, 1000, true },
	{ L("18446744073709551615"), SMTP_PERR_OK, UINT64_MAX, false },
	{ L("18446744073709551616"), SMTP_PERR_BDAT_SYNTAX, 0, false },
	{ L(""), SMTP_PERR_BDAT_SYNTAX, 0, false },
	{ L("LAST"), SMTP_PERR_BDAT_SYNTAX, 0, false },
	{ L("10 LAST x"), SMTP_PERR_BDAT_SYNTAX, 0, false },
	{ L("10  LAST"), SMTP_PERR_BDAT_SYNTAX, 0, false },
	{ L("-1"), SMTP_PERR_BDAT_SYNTAX, 0, false },
	{ L("1e3"), SMTP_PERR_BDAT_SYNTAX, 0, false },
	{ L("10\0 LAST"), SMTP_PERR_NUL, 0, false },
};

START_TEST(test_bdat)
{
	uint64_t size;
	bool last;
	enum smtp_perr err = smtp_parse_bdat(bdat_cases[_i].args, bdat_cases[_i].len, &size, &last);

	ck_assert_msg(err == bdat_cases[_i].err, "case %d: got %s", _i, smtp_perr_name(err));
	if (err == SMTP_PERR_OK) {
		ck_assert(size == bdat_cases[_i].size);
		ck_assert(last == bdat_cases[_i].last);
	}
}
END_TEST

static const struct {
	const char *args;
	size_t len;
	enum smtp_perr err;
	const char *mech;
	const char *ir;
} auth_cases[] = {
	{ L("PLAIN"), SMTP_PERR_OK, "PLAIN", NULL },
	{ L("plain AGFsaWNlAHNlY3JldA=="), SMTP_PERR_OK, "PLAIN", "AGFsaWNlAHNlY3JldA==" },
	{ L("LOGIN ="), SMTP_PERR_OK, "LOGIN", "=" },
	{ L("SCRAM-SHA-256"), SMTP_PERR_OK, "SCRAM-SHA-256", NULL },
	{ L("X_MECH"), SMTP_PERR_OK, "X_MECH", NULL },
	{ L(""), SMTP_PERR_AUTH_SYNTAX, NULL, NULL },
	{ L("PLAIN "), SMTP_PERR_AUTH_SYNTAX, NULL, NULL },
	{ L("PLAIN a b"), SMTP_PERR_AUTH_SYNTAX, NULL, NULL },
	{ L("PLAIN a*b"), SMTP_PERR_AUTH_SYNTAX, NULL, NULL },
	{ L("PL@IN"), SMTP_PERR_AUTH_SYNTAX, NULL, NULL },
	{ L("ABCDEFGHIJKLMNOPQRSTU"), SMTP_PERR_AUTH_SYNTAX, NULL, NULL },
	{ L("ABCDEFGHIJKLMNOPQRST"), SMTP_PERR_OK, "ABCDEFGHIJKLMNOPQRST", NULL },
	{ L("PLAIN \0"), SMTP_PERR_NUL, NULL, NULL },
};

START_TEST(test_auth)
{
	char mech[SMTP_AUTH_MECH_MAX_BYTES + 1];
	const char *ir;
	size_t irlen;
	enum smtp_perr err = smtp_parse_auth(auth_cases[_i].args, auth_cases[_i].len, mech, &ir, &irlen);

	ck_assert_msg(err == auth_cases[_i].err, "case %d: got %s", _i, smtp_perr_name(err));
	if (err != SMTP_PERR_OK)
		return;
	ck_assert_str_eq(mech, auth_cases[_i].mech);
	if (auth_cases[_i].ir == NULL)
		ck_assert_ptr_null(ir);
	else {
		ck_assert_uint_eq(irlen, strlen(auth_cases[_i].ir));
		ck_assert(memcmp(ir, auth_cases[_i].ir, irlen) == 0);
	}
}
END_TEST

static const struct {
	const char *args;
	size_t len;
	enum smtp_perr err;
	const char *name;
} helo_cases[] = {
	{ L("client.example.org"), SMTP_PERR_OK, "client.example.org" },
	{ L("localhost"), SMTP_PERR_OK, "localhost" },
	{ L("WIN_PC01"), SMTP_PERR_OK, "WIN_PC01" },
	{ L("[127.0.0.1]"), SMTP_PERR_OK, "[127.0.0.1]" },
	{ L("[IPv6:::1]"), SMTP_PERR_OK, "[IPv6:::1]" },
	{ L("client.example.org extra words"), SMTP_PERR_OK, "client.example.org" },
	{ L(""), SMTP_PERR_HELO_SYNTAX, NULL },
	{ L(" x"), SMTP_PERR_HELO_SYNTAX, NULL },
	{ L("[127.0.0.1"), SMTP_PERR_HELO_DOMAIN, NULL },
	{ L("a..b"), SMTP_PERR_HELO_DOMAIN, NULL },
	{ L("evil;reboot"), SMTP_PERR_HELO_DOMAIN, NULL },
	{ L("$(id)"), SMTP_PERR_HELO_DOMAIN, NULL },
	{ L("h\xc3\xa9llo"), SMTP_PERR_HELO_DOMAIN, NULL },
	{ L("a\0b"), SMTP_PERR_NUL, NULL },
};

START_TEST(test_helo)
{
	char name[SMTP_DOMAIN_MAX_BYTES + 1];
	enum smtp_perr err = smtp_parse_helo(helo_cases[_i].args, helo_cases[_i].len, name);

	ck_assert_msg(err == helo_cases[_i].err, "case %d: got %s", _i, smtp_perr_name(err));
	if (err == SMTP_PERR_OK)
		ck_assert_str_eq(name, helo_cases[_i].name);
}
END_TEST

START_TEST(test_helo_long)
{
	char name[SMTP_DOMAIN_MAX_BYTES + 1];
	char buf[300];

	memset(buf, 'a', sizeof(buf));
	for (int i = 60; i < 300; i += 60)
		buf[i] = '.';
	ck_assert_int_eq(smtp_parse_helo(buf, 256, name), SMTP_PERR_HELO_DOMAIN);
	ck_assert_int_eq(smtp_parse_helo(buf, 255, name), SMTP_PERR_OK);
	ck_assert_uint_eq(strlen(name), 255);
}
END_TEST

/* ---- replies: exact codes ---- */

static const struct {
	enum smtp_perr err;
	const char *reply;
} reply_cases[] = {
	{ SMTP_PERR_NUL, "500 5.5.2 " },
	{ SMTP_PERR_UNKNOWN_CMD, "500 5.5.2 " },
	{ SMTP_PERR_NO_ARGS, "501 5.5.4 " },
	{ SMTP_PERR_MAIL_SYNTAX, "501 5.5.2 " },
	{ SMTP_PERR_RCPT_SYNTAX, "501 5.5.2 " },
	{ SMTP_PERR_BAD_SENDER, "501 5.1.7 " },
	{ SMTP_PERR_BAD_RCPT, "501 5.1.3 " },
	{ SMTP_PERR_SENDER_TOO_LONG, "501 5.1.7 " },
	{ SMTP_PERR_RCPT_TOO_LONG, "501 5.1.3 " },
	{ SMTP_PERR_SENDER_UTF8, "553 5.6.7 " },
	{ SMTP_PERR_RCPT_UTF8, "553 5.6.7 " },
	{ SMTP_PERR_PARAM_SYNTAX, "501 5.5.4 " },
	{ SMTP_PERR_PARAM_UNKNOWN, "555 5.5.4 " },
	{ SMTP_PERR_PARAM_DUP, "501 5.5.4 " },
	{ SMTP_PERR_PARAM_VALUE, "501 5.5.4 " },
	{ SMTP_PERR_BODY_UNSUPPORTED, "555 5.5.4 " },
	{ SMTP_PERR_BDAT_SYNTAX, "501 5.5.4 " },
	{ SMTP_PERR_AUTH_SYNTAX, "501 5.5.4 " },
	{ SMTP_PERR_HELO_SYNTAX, "501 5.5.4 " },
	{ SMTP_PERR_HELO_DOMAIN, "501 5.5.4 " },
};

START_TEST(test_replies)
{
	const char *r = smtp_perr_reply(reply_cases[_i].err);

	ck_assert_msg(strncmp(r, reply_cases[_i].reply, 10) == 0, "%s: %s",
	    smtp_perr_name(reply_cases[_i].err), r);
	ck_assert(strlen(r) > 10);
	ck_assert(strchr(r, '\r') == NULL && strchr(r, '\n') == NULL);
}
END_TEST

START_TEST(test_replies_complete)
{
	/* every enum has a reply and a name */
	for (int e = 0; e < SMTP_PERR_COUNT; e++) {
		ck_assert_ptr_nonnull(smtp_perr_reply(e));
		ck_assert_str_ne(smtp_perr_name(e), "?");
	}
	ck_assert_uint_eq(sizeof(reply_cases) / sizeof(reply_cases[0]), SMTP_PERR_COUNT - 1);
}
END_TEST

START_TEST(test_utf8)
{
	ck_assert(smtp_utf8_valid(L("plain ascii")));
	ck_assert(smtp_utf8_valid(L("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80")));
	ck_assert(!smtp_utf8_valid(L("\xc3")));
	ck_assert(!smtp_utf8_valid(L("\xe2\x82")));
	ck_assert(!smtp_utf8_valid(L("\xc0\x80")));           /* overlong NUL */
	ck_assert(!smtp_utf8_valid(L("\xe0\x80\xaf")));       /* overlong '/' */
	ck_assert(!smtp_utf8_valid(L("\xed\xa0\x80")));       /* surrogate */
	ck_assert(!smtp_utf8_valid(L("\xf4\x90\x80\x80")));   /* > U+10FFFF */
	ck_assert(!smtp_utf8_valid(L("\xff")));
}
END_TEST

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static Suite *
smtp_parse_suite(void)
{
	Suite *s = suite_create("smtp_parse");
	TCase *tc;

	tc = tcase_create("command");
	tcase_add_loop_test(tc, test_command, 0, N(cmd_cases));
	suite_add_tcase(s, tc);
	tc = tcase_create("mail");
	tcase_add_loop_test(tc, test_mail, 0, N(mail_cases));
	tcase_add_test(tc, test_mail_lengths);
	suite_add_tcase(s, tc);
	tc = tcase_create("rcpt");
	tcase_add_loop_test(tc, test_rcpt, 0, N(rcpt_cases));
	suite_add_tcase(s, tc);
	tc = tcase_create("bdat");
	tcase_add_loop_test(tc, test_bdat, 0, N(bdat_cases));
	suite_add_tcase(s, tc);
	tc = tcase_create("auth");
	tcase_add_loop_test(tc, test_auth, 0, N(auth_cases));
	suite_add_tcase(s, tc);
	tc = tcase_create("helo");
	tcase_add_loop_test(tc, test_helo, 0, N(helo_cases));
	tcase_add_test(tc, test_helo_long);
	suite_add_tcase(s, tc);
	tc = tcase_create("replies");
	tcase_add_loop_test(tc, test_replies, 0, N(reply_cases));
	tcase_add_test(tc, test_replies_complete);
	tcase_add_test(tc, test_utf8);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(smtp_parse_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
