/* fuzz_smtp.c: libFuzzer harness for the SMTP command line parser
 * (smtp/smtp-parse.c). The input is one command line without its CRLF.
 * Every argument parser (MAIL, RCPT, BDAT, AUTH, EHLO) also runs on the
 * arguments whatever the verb, for coverage. Properties: every result has
 * a reply line; a parsed path's address is exactly local@domain within
 * the RFC 5321 bounds and is 8-bit only when UTF-8 was allowed; the UTF-8
 * check agrees with an independent validator. */
#include "fuzz/fuzz.h"

#include "smtp/smtp-parse.h"

static void
check_perr(enum smtp_perr e)
{
	const char *r = smtp_perr_reply(e);
	FUZZ_CHECK((unsigned)e < SMTP_PERR_COUNT);
	FUZZ_CHECK(smtp_perr_name(e) != NULL);
	if (e == SMTP_PERR_OK)
		return;
	FUZZ_CHECK(r != NULL && strlen(r) > 4 && r[3] == ' ');
	FUZZ_CHECK(r[0] == '5' && r[1] >= '0' && r[1] <= '5');
}

static bool
has_8bit(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return true;
	return false;
}

static void
check_path(const struct smtp_path *p, bool utf8_allowed)
{
	size_t al = strnlen(p->addr, sizeof(p->addr));
	size_t ll = strnlen(p->local, sizeof(p->local));
	size_t dl = strnlen(p->domain, sizeof(p->domain));
	FUZZ_CHECK(al < sizeof(p->addr) && ll < sizeof(p->local) && dl < sizeof(p->domain));
	FUZZ_CHECK(al <= ADDRESS_MAX_BYTES);
	FUZZ_CHECK(ll <= SMTP_LOCAL_PART_MAX_BYTES && dl <= SMTP_DOMAIN_MAX_BYTES);
	if (p->null_path) {
		FUZZ_CHECK(al == 0 && !p->postmaster);
	} else if (p->postmaster) {
		FUZZ_CHECK(strcmp(p->addr, "postmaster") == 0 && dl == 0);
	} else {
		/* not silently truncated */
		FUZZ_CHECK(al == ll + 1 + dl);
		FUZZ_CHECK(strncmp(p->addr, p->local, ll) == 0 && p->addr[ll] == '@');
		FUZZ_CHECK(strcmp(p->addr + ll + 1, p->domain) == 0);
		FUZZ_CHECK(ll > 0 && dl > 0);
		FUZZ_CHECK(p->literal == (p->domain[0] == '['));
	}
	if (!utf8_allowed)
		FUZZ_CHECK(!has_8bit(p->addr));
	if (has_8bit(p->addr))
		FUZZ_CHECK(p->utf8 && fuzz_utf8_valid((const unsigned char *)p->addr, al));
}

static void
check_args(const char *args, size_t len)
{
	struct smtp_path path;
	struct smtp_mail_params mp;
	enum smtp_perr e;

	e = smtp_parse_mail(args, len, &path, &mp);
	check_perr(e);
	if (e == SMTP_PERR_OK)
		check_path(&path, mp.smtputf8);
	for (int u = 0; u < 2; u++) {
		e = smtp_parse_rcpt(args, len, u, &path);
		check_perr(e);
		if (e == SMTP_PERR_OK) {
			check_path(&path, u);
			FUZZ_CHECK(!path.null_path);
		}
	}

	uint64_t size;
	bool last;
	e = smtp_parse_bdat(args, len, &size, &last);
	check_perr(e);

	char mech[SMTP_AUTH_MECH_MAX_BYTES + 1];
	const char *ir;
	size_t irlen;
	e = smtp_parse_auth(args, len, mech, &ir, &irlen);
	check_perr(e);
	if (e == SMTP_PERR_OK) {
		FUZZ_CHECK(strlen(mech) > 0);
		if (ir != NULL)
			FUZZ_CHECK(ir > args && ir + irlen == args + len && irlen > 0);
	}

	char name[SMTP_DOMAIN_MAX_BYTES + 1];
	e = smtp_parse_helo(args, len, name);
	check_perr(e);
	if (e == SMTP_PERR_OK) {
		size_t n = strlen(name);
		FUZZ_CHECK(n > 0 && n <= len && memcmp(name, args, n) == 0);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line = fuzz_dup(data, size);
	struct smtp_cmdline cmd;

	enum smtp_perr e = smtp_parse_command(line, size, &cmd);
	check_perr(e);
	if (e == SMTP_PERR_OK) {
		FUZZ_CHECK(cmd.verb != SMTP_CMD_UNKNOWN && cmd.verb < SMTP_CMD_COUNT);
		FUZZ_CHECK(cmd.verb_str != NULL && cmd.verb_str[0] != '\0');
		if (cmd.argslen > 0)
			FUZZ_CHECK(cmd.args > line && cmd.args + cmd.argslen == line + size);
		check_args(cmd.args, cmd.argslen);
	} else {
		check_args(line, size);
	}

	FUZZ_CHECK(smtp_utf8_valid(line, size) ==
	    fuzz_utf8_valid((const unsigned char *)line, size));
	(void)smtp_domain_valid(line, size, false);
	(void)smtp_domain_valid(line, size, true);
	free(line);
	return 0;
}
