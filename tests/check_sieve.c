/* check_sieve.c: unit tests of src/sieve, the pure Sieve compiler and
 * interpreter: scripts run on messages with the actions compared in the
 * one-line form of "minimailctl sieve test" (one table per extension
 * group), compile errors with their line, every prefix of valid scripts
 * (the compiler never reads past the end and never crashes on a cut
 * script), and every bound: script size, nesting, actions, redirects,
 * steps, variables, the vacation rules. */
#include "sieve/sieve.h"
#include "lib/limits.h"
#include "lib/util.h"

#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const char msg_plain[] =
    "Return-Path: <bob@example.com>\r\n"
    "Received: from mx.example.com by mail.example.org; Tue, 1 Jul 2003 10:52:37 +0200\r\n"
    "From: Bob Smith <bob@example.com>\r\n"
    "To: alice+lists@example.org, carol@example.net\r\n"
    "Cc: \"Dave\" <dave@EXAMPLE.org>\r\n"
    "Subject: =?utf-8?q?Caf=C3=A9?= meeting [urgent]\r\n"
    "Date: Tue, 1 Jul 2003 10:52:37 +0200\r\n"
    "X-Spam-Score: 7\r\n"
    "X-Spam-Score: 12\r\n"
    "Message-ID: <123@example.com>\r\n"
    "\r\n"
    "Hello Alice,\r\n"
    "the meeting is at noon.\r\n";

static const char msg_multi[] =
    "From: list@lists.example.com\r\n"
    "To: alice@example.org\r\n"
    "Subject: [dev] release 1.0\r\n"
    "List-Id: Developers <dev.lists.example.com>\r\n"
    "Precedence: list\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/alternative; boundary=\"b1\"\r\n"
    "\r\n"
    "--b1\r\n"
    "Content-Type: text/plain; charset=iso-8859-1\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "\r\n"
    "Caf=E9 release notes\r\n"
    "--b1\r\n"
    "Content-Type: text/html\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "PGI+Ym9sZDwvYj4=\r\n"
    "--b1--\r\n";

struct run_case {
	const char *script;
	const char *msg;	/* NULL: msg_plain */
	const char *from, *to;
	const char *want;	/* the actions, one a line */
};

static char *
run_script(const char *script, const char *msg, const char *from, const char *to,
    struct sieve_limits *lim, bool *error_r)
{
	struct sieve_script *s;
	struct sieve_error err;
	struct mm_buf out;
	mm_buf_init(&out);
	if (!sieve_compile(script, strlen(script), lim, NULL, &s, &err)) {
		mm_buf_printf(&out, "error %u: %s\n", err.line, err.msg);
		return mm_buf_cstr(&out);
	}
	msg = msg ? msg : msg_plain;
	struct sieve_msg *m = sieve_msg_new(msg, strlen(msg), from, to);
	struct sieve_msg_if mif = *sieve_msg_if(m);
	mif.now = 1057049557;	/* Tue, 1 Jul 2003 08:52:37 UTC */
	mif.now_tz_min = 0;
	struct sieve_result r;
	sieve_run(s, &mif, lim, &r);
	if (error_r)
		*error_r = r.error;
	for (size_t i = 0; i < r.n; i++) {
		sieve_action_format(&r.a[i], &out);
		mm_buf_appendc(&out, '\n');
	}
	sieve_result_free(&r);
	sieve_msg_free(&m);
	sieve_script_free(&s);
	return mm_buf_cstr(&out);
}

static void
check_case(const struct run_case *c)
{
	char *got = run_script(c->script, c->msg, c->from, c->to, NULL, NULL);
	ck_assert_msg(strcmp(got, c->want) == 0, "script:\n%s\nwant:\n%sgot:\n%s", c->script,
	    c->want, got);
	free(got);
}

/* RFC 5228 core: control, keep, discard, redirect, header, address,
 * exists, size, comparators and match types. */
static const struct run_case core[] = {
	{ "", NULL, NULL, NULL, "keep\n" },
	{ "keep;", NULL, NULL, NULL, "keep\n" },
	{ "discard;", NULL, NULL, NULL, "discard\n" },
	{ "# comment\r\n/* block\r\n comment */ discard;", NULL, NULL, NULL, "discard\n" },
	{ "redirect \"x@example.net\";", NULL, NULL, NULL, "redirect \"x@example.net\"\n" },
	{ "redirect \"x@example.net\"; redirect \"x@example.net\";", NULL, NULL, NULL,
	  "redirect \"x@example.net\"\n" },
	{ "if header :contains \"subject\" \"café\" { discard; }", NULL, NULL, NULL, "discard\n" },
	{ "if header :is \"subject\" \"Café meeting [urgent]\" { discard; }", NULL, NULL, NULL, "discard\n" },
	{ "if header :comparator \"i;octet\" :contains \"subject\" \"CAFÉ\" { discard; }", NULL, NULL, NULL, "keep\n" },
	{ "if header :matches \"subject\" \"*[urgent]\" { discard; }", NULL, NULL, NULL, "discard\n" },
	{ "if header :matches \"subject\" \"caf? *\" { discard; }", NULL, NULL, NULL, "discard\n" },
	{ "if header :matches \"subject\" \"\\\\*\" { discard; }", NULL, NULL, NULL, "keep\n" },
	{ "if address :domain :is \"from\" \"example.com\" { discard; }", NULL, NULL, NULL, "discard\n" },
	{ "if address :localpart :is \"cc\" \"dave\" { discard; }", NULL, NULL, NULL, "discard\n" },
	{ "if address :all :is \"to\" \"carol@example.net\" { discard; }", NULL, NULL, NULL, "discard\n" },
	{ "if address :is \"to\" \"bob@example.com\" { discard; }", NULL, NULL, NULL, "keep\n" },
	{ "if exists [\"x-spam-score\", \"date\"] { discard; }", NULL, NULL, NULL, "discard\n" },
	{ "if exists [\"x-spam-score\", \"x-nope\"] { discard; }", NULL, NULL, NULL, "keep\n" },
	{ "if size :over 100 { discard; }", NULL, NULL, NULL, "discard\n" },
	{ "if size :under 1K { discard; }", NULL, NULL, NULL, "discard\n" },
	{ "if size :over 1M { discard; }", NULL, NULL, NULL, "keep\n" },
	{ "if not true { discard; } else { redirect \"a@b.c\"; }", NULL, NULL, NULL, "redirect \"a@b.c\"\n" },
	{ "if false { discard; } elsif anyof (false, true) { redirect \"a@b.c\"; } else { keep; }",
	  NULL, NULL, NULL, "redirect \"a@b.c\"\n" },
	{ "if allof (true, false) { discard; } elsif allof (true, true) { stop; discard; }",
	  NULL, NULL, NULL, "keep\n" },
	{ "discard; stop; redirect \"a@b.c\";", NULL, NULL, NULL, "discard\n" },
	{ "if header :contains [\"subject\",\"x-no\"] [\"nothing\", \"MEET\"] { discard; }",
	  NULL, NULL, NULL, "discard\n" },
	{ "require \"comparator-i;ascii-numeric\";\r\n"
	  "if header :comparator \"i;ascii-numeric\" :is \"x-spam-score\" \"012\" { discard; }",
	  NULL, NULL, NULL, "discard\n" },
	{ "if header :contains \"subject\" \"\" { discard; }", NULL, NULL, NULL, "discard\n" },
	{ "require \"fileinto\"; fileinto text:\r\nBox\r\n..dot\r\n.\r\n;", NULL, NULL, NULL,
	  "fileinto \"Box\\r\\n.dot\\r\\n\"\n" },
};

/* fileinto, copy, reject, ereject, envelope, subaddress, mailbox */
static const struct run_case actions[] = {
	{ "require \"fileinto\"; fileinto \"Work\";", NULL, NULL, NULL, "fileinto \"Work\"\n" },
	{ "require [\"fileinto\", \"copy\"]; fileinto :copy \"Work\";", NULL, NULL, NULL,
	  "fileinto \"Work\"\nkeep\n" },
	{ "require \"copy\"; redirect :copy \"a@b.c\";", NULL, NULL, NULL, "redirect \"a@b.c\"\nkeep\n" },
	{ "require [\"fileinto\", \"mailbox\"]; fileinto :create \"New/Sub\";", NULL, NULL, NULL,
	  "fileinto \"New/Sub\"\n" },
	{ "require \"mailbox\"; if mailboxexists \"INBOX\" { discard; }", NULL, NULL, NULL, "discard\n" },
	{ "require \"mailbox\"; if mailboxexists [\"INBOX\", \"Nope\"] { discard; }", NULL, NULL, NULL, "keep\n" },
	{ "require \"reject\"; reject \"go away\";", NULL, NULL, NULL, "reject \"go away\"\n" },
	{ "require \"ereject\"; ereject \"no\";", NULL, NULL, NULL, "reject \"no\"\n" },
	{ "require [\"reject\", \"fileinto\"]; fileinto \"A\"; reject \"x\";", NULL, NULL, NULL, "keep\n" },
	{ "require \"envelope\"; if envelope :is \"from\" \"bob@example.com\" { discard; }",
	  NULL, "bob@example.com", "alice@example.org", "discard\n" },
	{ "require \"envelope\"; if envelope :domain :is \"to\" \"example.org\" { discard; }",
	  NULL, "bob@example.com", "alice@example.org", "discard\n" },
	{ "require \"envelope\"; if envelope :is \"from\" \"\" { discard; }", NULL, "", "a@b.c", "discard\n" },
	{ "require [\"envelope\", \"subaddress\"]; if envelope :detail \"to\" \"lists\" { discard; }",
	  NULL, "bob@example.com", "alice+lists@example.org", "discard\n" },
	{ "require [\"envelope\", \"subaddress\"]; if envelope :user \"to\" \"alice\" { discard; }",
	  NULL, "bob@example.com", "alice+lists@example.org", "discard\n" },
	{ "require \"subaddress\"; if address :detail \"to\" \"lists\" { discard; }", NULL, NULL, NULL, "discard\n" },
	{ "require \"subaddress\"; if address :detail \"to\" \"\" { discard; }", NULL, NULL, NULL, "keep\n" },
	{ "require \"subaddress\"; if address :user :is \"to\" \"carol\" { discard; }", NULL, NULL, NULL, "discard\n" },
	{ "require \"fileinto\"; fileinto \"A\"; fileinto \"A\"; fileinto \"B\";", NULL, NULL, NULL,
	  "fileinto \"A\"\nfileinto \"B\"\n" },
};

/* imap4flags, variables, relational, regex, encoded-character */
static const struct run_case ext[] = {
	{ "require [\"imap4flags\"]; addflag \"\\\\Seen\"; addflag \"\\\\Flagged \\\\seen\";",
	  NULL, NULL, NULL, "keep flags \"\\\\Seen \\\\Flagged\"\n" },
	{ "require [\"imap4flags\", \"fileinto\"]; setflag \"a b\"; removeflag \"a\"; fileinto \"X\";"
	  " keep :flags \"\\\\Deleted\";", NULL, NULL, NULL,
	  "fileinto \"X\" flags \"b\"\nkeep flags \"\\\\Deleted\"\n" },
	{ "require [\"imap4flags\"]; addflag \"x\"; if hasflag :is \"x\" { discard; }", NULL, NULL, NULL, "discard\n" },
	{ "require [\"imap4flags\", \"variables\"]; addflag \"fl\" [\"a\", \"b\"]; "
	  "if hasflag :count \"eq\" \"fl\" \"2\" { discard; }", NULL, NULL, NULL,
	  "error 1: match type :count needs require \"relational\"\n" },
	{ "require [\"imap4flags\", \"variables\", \"relational\"]; addflag \"fl\" [\"a\", \"b\"]; "
	  "if hasflag :count \"eq\" \"fl\" \"2\" { discard; }", NULL, NULL, NULL, "discard\n" },
	{ "require [\"variables\", \"fileinto\"];\r\n"
	  "if header :matches \"subject\" \"* meeting [*]\" { fileinto \"${2}/${1}\"; }",
	  NULL, NULL, NULL, "fileinto \"urgent/Café\"\n" },
	{ "require [\"variables\", \"fileinto\"];\r\n"
	  "set \"a\" \"Hello\"; set :upper \"b\" \"${a}\"; set :length \"c\" \"${a}\"; "
	  "set :lowerfirst \"d\" \"${a}\"; set :quotewildcard \"e\" \"a*b?\"; "
	  "fileinto \"${b}-${c}-${d}-${e}-${undefined}\";", NULL, NULL, NULL,
	  "fileinto \"HELLO-5-hello-a\\\\*b\\\\?-\"\n" },
	{ "require [\"variables\"]; set \"x\" \"abc\"; if string :is \"${x}\" \"abc\" { discard; }",
	  NULL, NULL, NULL, "discard\n" },
	{ "require [\"variables\", \"relational\"]; if string :count \"eq\" [\"a\", \"\", \"b\"] \"2\" { discard; }",
	  NULL, NULL, NULL, "discard\n" },
	{ "require [\"variables\"]; set \"v\" \"a b\"; redirect \"${v}x@y.z\";", NULL, NULL, NULL, "keep\n" },
	{ "require [\"relational\", \"comparator-i;ascii-numeric\"];\r\n"
	  "if header :value \"ge\" :comparator \"i;ascii-numeric\" \"x-spam-score\" \"10\" { discard; }",
	  NULL, NULL, NULL, "discard\n" },
	{ "require [\"relational\", \"comparator-i;ascii-numeric\"];\r\n"
	  "if header :count \"eq\" :comparator \"i;ascii-numeric\" \"x-spam-score\" \"2\" { discard; }",
	  NULL, NULL, NULL, "discard\n" },
	{ "require [\"relational\"]; if address :count \"ge\" :comparator \"i;ascii-numeric\" [\"to\", \"cc\"] \"3\""
	  " { discard; }", NULL, NULL, NULL, "error 1: comparator i;ascii-numeric needs require \"comparator-i;ascii-numeric\"\n" },
	{ "require [\"relational\", \"comparator-i;ascii-numeric\"]; if address :count \"ge\" "
	  ":comparator \"i;ascii-numeric\" [\"to\", \"cc\"] \"3\" { discard; }", NULL, NULL, NULL, "discard\n" },
	{ "require [\"relational\"]; if header :value \"lt\" \"from\" \"c\" { discard; }", NULL, NULL, NULL, "discard\n" },
	{ "require [\"regex\", \"variables\", \"fileinto\"];\r\n"
	  "if header :regex \"subject\" \"\\\\[([a-z]+)\\\\]$\" { fileinto \"${1}\"; }",
	  NULL, NULL, NULL, "fileinto \"urgent\"\n" },
	{ "require \"regex\"; if address :regex :domain \"from\" \"^EXAMPLE\\\\.(com|net)$\" { discard; }",
	  NULL, NULL, NULL, "discard\n" },
	{ "require \"regex\"; if address :regex :comparator \"i;octet\" :domain \"from\" \"^EXAMPLE\" { discard; }",
	  NULL, NULL, NULL, "keep\n" },
	/* intervals, classes and alternations within the cost bound compile */
	{ "require \"regex\"; if header :regex \"subject\" \"\\\\[u[[:alpha:]]{1,400}(x|y|[]a-z])*\\\\]$\" { discard; }",
	  NULL, NULL, NULL, "discard\n" },
	{ "require [\"encoded-character\", \"fileinto\"]; fileinto \"${hex:41 42}${unicode:e9}\";",
	  NULL, NULL, NULL, "fileinto \"ABé\"\n" },
	{ "require \"fileinto\"; fileinto \"${hex:41}\";", NULL, NULL, NULL, "fileinto \"${hex:41}\"\n" },
};

/* body, date, index, vacation, include-less globals */
static const struct run_case ext2[] = {
	{ "require \"body\"; if body :contains \"noon\" { discard; }", NULL, NULL, NULL, "discard\n" },
	{ "require \"body\"; if body :raw :contains \"PGI+\" { discard; }", msg_multi, NULL, NULL, "discard\n" },
	{ "require \"body\"; if body :text :contains \"café\" { discard; }", msg_multi, NULL, NULL, "discard\n" },
	{ "require \"body\"; if body :content \"text/html\" :contains \"<b>bold\" { discard; }",
	  msg_multi, NULL, NULL, "discard\n" },
	{ "require \"body\"; if body :content \"text/plain\" :contains \"<b>bold\" { discard; }",
	  msg_multi, NULL, NULL, "keep\n" },
	{ "require \"date\"; if date :is \"date\" \"year\" \"2003\" { discard; }", NULL, NULL, NULL, "discard\n" },
	{ "require \"date\"; if date :originalzone :is \"date\" \"hour\" \"10\" { discard; }", NULL, NULL, NULL, "discard\n" },
	{ "require \"date\"; if date :zone \"+0000\" :is \"date\" \"time\" \"08:52:37\" { discard; }", NULL, NULL, NULL, "discard\n" },
	{ "require \"date\"; if date :zone \"-0500\" :is \"date\" \"iso8601\" \"2003-07-01T03:52:37-05:00\" { discard; }",
	  NULL, NULL, NULL, "discard\n" },
	{ "require \"date\"; if date :is \"date\" \"weekday\" \"2\" { discard; }", NULL, NULL, NULL, "discard\n" },
	{ "require \"date\"; if date :is \"date\" \"julian\" \"52821\" { discard; }", NULL, NULL, NULL, "discard\n" },
	{ "require \"date\"; if date :is \"received\" \"date\" \"2003-07-01\" { discard; }", NULL, NULL, NULL, "discard\n" },
	{ "require \"date\"; if currentdate :is \"date\" \"2003-07-01\" { discard; }", NULL, NULL, NULL, "discard\n" },
	{ "require [\"date\", \"relational\"]; if currentdate :value \"ge\" \"date\" \"2004-01-01\" { discard; }",
	  NULL, NULL, NULL, "keep\n" },
	{ "require \"index\"; if header :index 2 :is \"x-spam-score\" \"12\" { discard; }", NULL, NULL, NULL, "discard\n" },
	{ "require \"index\"; if header :index 1 :last :is \"x-spam-score\" \"12\" { discard; }", NULL, NULL, NULL, "discard\n" },
	{ "require \"index\"; if header :index 3 :is \"x-spam-score\" \"12\" { discard; }", NULL, NULL, NULL, "keep\n" },
	{ "require \"vacation\"; vacation \"I am away\";", NULL, "bob@example.com", "alice@example.org",
	  "vacation \"bob@example.com\" \"Auto: Café meeting [urgent]\"\nkeep\n" },
	{ "require \"vacation\"; vacation :days 3 :subject \"Away\" :from \"me@example.org\" "
	  ":addresses [\"alice@example.org\"] :mime :handle \"h\" \"Content-Type: text/plain\r\n\r\nx\";",
	  NULL, "bob@example.com", "alice@example.org", "vacation \"bob@example.com\" \"Away\"\nkeep\n" },
	{ "require [\"vacation\", \"fileinto\"]; fileinto \"Away\"; vacation \"x\";", NULL, NULL, NULL,
	  "fileinto \"Away\"\nvacation \"bob@example.com\" \"Auto: Café meeting [urgent]\"\n" },
	{ "require \"vacation\"; vacation \"x\"; vacation \"y\";", NULL, NULL, NULL, "keep\n" },
};

START_TEST(test_core)
{
	check_case(&core[_i]);
}
END_TEST

START_TEST(test_actions)
{
	check_case(&actions[_i]);
}
END_TEST

START_TEST(test_ext)
{
	check_case(&ext[_i]);
}
END_TEST

START_TEST(test_ext2)
{
	check_case(&ext2[_i]);
}
END_TEST

/* Compile errors: the line and what is wrong. */
static const struct {
	const char *script;
	unsigned line;
	const char *msg;	/* a part of the message */
} errors[] = {
	{ "if foo { }", 1, "unknown test 'foo'" },
	{ "keep;\r\nfileinto \"x\";", 2, "needs require \"fileinto\"" },
	{ "require \"nope\";", 1, "unsupported extension \"nope\"" },
	{ "keep;\r\nrequire \"fileinto\";", 2, "require must come before" },
	{ "keep", 1, "missing ';'" },
	{ "if true {\r\n keep;\r\n", 3, "missing '}'" },
	{ "}", 1, "'}' without a block" },
	{ "redirect;", 1, "takes 1 argument" },
	{ "redirect 12;", 1, "must be a string" },
	{ "redirect [\"a@b.c\", \"d@e.f\"];", 1, "one string, not a list" },
	{ "redirect \"not an address\";", 1, "is not an address" },
	{ "require \"fileinto\";\r\nfileinto :copy \"x\";", 2, ":copy needs require \"copy\"" },
	{ "if header :is :contains \"a\" \"b\" { }", 1, "takes one match type" },
	{ "if header :regex \"a\" \"b\" { }", 1, "needs require \"regex\"" },
	{ "require \"regex\";\r\nif header :regex \"a\" \"(\" { }", 2, "invalid regular expression" },
	/* regcomp copies what a repetition repeats: stacked or nested ones are
	 * refused before it builds gigabytes (a libFuzzer find) */
	{ "require \"regex\";\r\nif header :regex \"a\" \"a++++++++++++++++++++++++\" { }", 2,
	  "regular expression too complex" },
	{ "require \"regex\";\r\nif header :regex \"a\" \"((a{100}){100})\" { }", 2,
	  "regular expression too complex" },
	{ "require \"regex\";\r\nif header :regex \"a\" \"(a)\\\\1\" { }", 2,
	  "back-references are not supported" },
	{ "if header :comparator \"i;nope\" \"a\" \"b\" { }", 1, "unknown comparator" },
	{ "require \"comparator-i;ascii-numeric\";\r\nif header :comparator \"i;ascii-numeric\" :contains \"a\" \"1\" { }",
	  2, "cannot be used with :contains" },
	{ "if size 10 { }", 1, "size needs :over or :under" },
	{ "if true;", 1, "needs a block" },
	{ "elsif true { }", 1, "must follow 'if'" },
	{ "if \"x\" { }", 1, "'if' takes 0 arguments, not 1" },
	{ "if allof true { }", 1, "needs a test list" },
	{ "keep :foo;", 1, "unknown tag :foo" },
	{ "\"str\";", 1, "expected a command name" },
	{ "if header \"a\" \"b\" :is { }", 1, "must come before the other arguments" },
	{ "redirect \"a@b.c\r\n", 2, "unterminated quoted string (started at line 1)" },
	{ "redirect text:\r\nabc\r\n", 3, "unterminated multi-line string" },
	{ "/* comment", 1, "unterminated comment" },
	{ "if size :over 99999999999999999999999 { }", 1, "number too large" },
	{ "if size :over 10X { }", 1, "bad number" },
	{ "keep; @", 1, "unexpected character '@'" },
	{ "require \"variables\";\r\nset \"1a\" \"x\";", 2, "bad variable name" },
	{ "require \"variables\";\r\nset :lower :upper \"a\" \"x\";", 2, "one modifier of each precedence" },
	{ "require \"date\";\r\nif date \"date\" \"century\" \"x\" { }", 2, "unknown date part" },
	{ "require \"date\";\r\nif date :zone \"bad\" \"date\" \"year\" \"x\" { }", 2, "bad :zone" },
	{ "require \"index\";\r\nif header :last \"a\" \"b\" { }", 2, ":last needs :index" },
	{ "require \"envelope\";\r\nif envelope \"cc\" \"x\" { }", 2, "unknown envelope part" },
	{ "require \"relational\";\r\nif header :count \"xx\" \"a\" \"b\" { }", 2, "unknown relation" },
	{ "require \"vacation\";\r\nvacation :from \"not valid\" \"x\";", 2, "is not an address" },
	{ "require \"include\";\r\ninclude \"other\";", 2, "does not exist" },
	{ "keep;\r\n\r\n\xff;", 3, "not valid UTF-8" },
	{ "true;", 1, "'true' is a test, not a command" },
	{ "if keep { }", 1, "'keep' is a command, not a test" },
};

START_TEST(test_errors)
{
	struct sieve_script *s = NULL;
	struct sieve_error err;
	const char *sc = errors[_i].script;
	ck_assert_msg(!sieve_compile(sc, strlen(sc), NULL, NULL, &s, &err), "compiled: %s", sc);
	ck_assert_ptr_null(s);
	ck_assert_msg(err.line == errors[_i].line, "%s: line %u, want %u (%s)", sc, err.line,
	    errors[_i].line, err.msg);
	ck_assert_msg(strstr(err.msg, errors[_i].msg) != NULL, "%s: '%s' lacks '%s'", sc, err.msg,
	    errors[_i].msg);
}
END_TEST

/* Every prefix of every table script compiles or fails cleanly, and
 * runs when it compiles (ASan in the sanitizer build sees any overrun:
 * each prefix is an exact-size copy). */
START_TEST(test_prefixes)
{
	const struct run_case *tabs[] = { core, actions, ext, ext2 };
	const int ns[] = { N(core), N(actions), N(ext), N(ext2) };
	for (int t = 0; t < 4; t++) {
		for (int k = 0; k < ns[t]; k++) {
			const char *sc = tabs[t][k].script;
			size_t len = strlen(sc);
			for (size_t n = 0; n <= len; n++) {
				char *cp = xmalloc(n ? n : 1);
				memcpy(cp, sc, n);
				struct sieve_script *s;
				struct sieve_error err;
				if (sieve_compile(cp, n, NULL, NULL, &s, &err)) {
					struct sieve_msg *m = sieve_msg_new(msg_plain, strlen(msg_plain), NULL, NULL);
					struct sieve_result r;
					sieve_run(s, sieve_msg_if(m), NULL, &r);
					ck_assert_uint_ge(r.n, 1);
					sieve_result_free(&r);
					sieve_msg_free(&m);
					sieve_script_free(&s);
				} else {
					ck_assert_uint_le(err.line, 1 + (unsigned)n);
					ck_assert(err.msg[0] != '\0');
				}
				free(cp);
			}
		}
	}
}
END_TEST

/* Bounds: each one hit gives a compile error or a run-time error with
 * the message kept. */
START_TEST(test_bounds)
{
	struct sieve_limits lim;
	sieve_limits_default(&lim);
	struct mm_buf b;
	mm_buf_init(&b);
	struct sieve_script *s;
	struct sieve_error err;

	/* script size */
	lim.max_script_bytes = 100;
	for (int i = 0; i < 30; i++)
		mm_buf_printf(&b, "keep;\n");
	ck_assert(!sieve_compile(b.data, b.len, &lim, NULL, &s, &err));
	ck_assert(strstr(err.msg, "script too large") != NULL);
	sieve_limits_default(&lim);

	/* nesting */
	b.len = 0;
	for (int i = 0; i < SIEVE_NESTING_MAX + 2; i++)
		mm_buf_printf(&b, "if true {\n");
	for (int i = 0; i < SIEVE_NESTING_MAX + 2; i++)
		mm_buf_printf(&b, "}\n");
	ck_assert(!sieve_compile(b.data, b.len, &lim, NULL, &s, &err));
	ck_assert(strstr(err.msg, "nested too deeply") != NULL);
	ck_assert_uint_eq(err.line, SIEVE_NESTING_MAX + 1);
	b.len = 0;
	for (int i = 0; i < SIEVE_NESTING_MAX + 2; i++)
		mm_buf_printf(&b, "not ");
	char *sc = xasprintf("if %s true { }", mm_buf_cstr(&b));
	ck_assert(!sieve_compile(sc, strlen(sc), &lim, NULL, &s, &err));
	ck_assert(strstr(err.msg, "nested too deeply") != NULL);
	free(sc);

	bool error;
	char *got;
	/* actions */
	b.len = 0;
	mm_buf_printf(&b, "require \"fileinto\";\n");
	for (int i = 0; i < 40; i++)
		mm_buf_printf(&b, "fileinto \"f%d\";\n", i);
	got = run_script(mm_buf_cstr(&b), NULL, NULL, NULL, &lim, &error);
	ck_assert(error);
	ck_assert_str_eq(got, "keep\n");
	free(got);

	/* redirects */
	got = run_script("redirect \"a@b.c\"; redirect \"b@b.c\"; redirect \"c@b.c\"; "
	    "redirect \"d@b.c\"; redirect \"e@b.c\";", NULL, NULL, NULL, &lim, &error);
	ck_assert(error);
	ck_assert_str_eq(got, "keep\n");
	free(got);
	lim.max_redirects = 5;
	got = run_script("redirect \"a@b.c\"; redirect \"b@b.c\"; redirect \"c@b.c\"; "
	    "redirect \"d@b.c\"; redirect \"e@b.c\";", NULL, NULL, NULL, &lim, &error);
	ck_assert(!error);
	free(got);
	sieve_limits_default(&lim);

	/* steps: a pattern that backtracks a lot */
	got = run_script("if header :matches \"subject\" \"*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b\" { discard; }",
	    "Subject: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n",
	    NULL, NULL, &lim, &error);
	ck_assert(error);
	ck_assert_str_eq(got, "keep\n");
	free(got);

	/* regular expressions: nesting, and a key from a variable (compiled
	 * at run time) judged by the same cost bound */
	b.len = 0;
	mm_buf_printf(&b, "require \"regex\"; if header :regex \"subject\" \"");
	for (int i = 0; i < SIEVE_REGEX_DEPTH_MAX + 1; i++)
		mm_buf_printf(&b, "(");
	mm_buf_printf(&b, "a");
	for (int i = 0; i < SIEVE_REGEX_DEPTH_MAX + 1; i++)
		mm_buf_printf(&b, ")");
	mm_buf_printf(&b, "\" { discard; }");
	ck_assert(!sieve_compile(b.data, b.len, &lim, NULL, &s, &err));
	ck_assert_msg(strstr(err.msg, "nested too deeply") != NULL, "%s", err.msg);
	got = run_script("require [\"regex\", \"variables\"]; set \"r\" \"a+++++++++++++++++++++++++++++\";"
	    " if header :regex \"subject\" \"${r}\" { discard; }", NULL, NULL, NULL, &lim, &error);
	ck_assert(error);
	ck_assert_str_eq(got, "keep\n");
	free(got);
	got = run_script("require [\"regex\", \"variables\"]; set \"r\" \"\\\\[u(r)g\";"
	    " if header :regex \"subject\" \"${r}\" { discard; }", NULL, NULL, NULL, &lim, &error);
	ck_assert(!error);
	ck_assert_str_eq(got, "discard\n");
	free(got);

	/* variables: values are cut at SIEVE_VARIABLE_MAX_BYTES */
	b.len = 0;
	mm_buf_printf(&b, "require \"variables\";\nset \"a\" \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\";\n");
	for (int i = 0; i < 10; i++)
		mm_buf_printf(&b, "set \"a\" \"${a}${a}\";\n");
	mm_buf_printf(&b, "set :length \"n\" \"${a}\"; if string :is \"${n}\" \"%d\" { discard; }\n",
	    SIEVE_VARIABLE_MAX_BYTES);
	got = run_script(mm_buf_cstr(&b), NULL, NULL, NULL, &lim, &error);
	ck_assert(!error);
	ck_assert_str_eq(got, "discard\n");
	free(got);

	/* many variables */
	b.len = 0;
	mm_buf_printf(&b, "require \"variables\";\n");
	for (int i = 0; i < SIEVE_VARIABLES_MAX + 1; i++)
		mm_buf_printf(&b, "set \"v%d\" \"x\";\n", i);
	lim.max_steps = 1000000;
	got = run_script(mm_buf_cstr(&b), NULL, NULL, NULL, &lim, &error);
	ck_assert(error);
	free(got);
	mm_buf_free(&b);
}
END_TEST

/* include through a lookup callback: personal and global, :once,
 * :optional, return, global variables, loops refused. */
static bool
lookup(void *ctx, bool global, const char *name, char **text_r, size_t *len_r)
{
	static const struct { bool g; const char *n, *t; } scripts[] = {
		{ false, "spam", "require \"fileinto\"; if header :contains \"subject\" \"urgent\" { fileinto \"Urgent\"; }" },
		{ true, "vars", "require [\"include\", \"variables\"]; global \"box\"; set \"box\" \"G\";" },
		{ false, "ret", "require \"include\"; return; discard;" },
		{ false, "loop", "require \"include\"; include \"loop2\";" },
		{ false, "loop2", "require \"include\"; include \"loop\";" },
		{ false, "bad", "if foo { }" },
	};
	(void)ctx;
	for (size_t i = 0; i < sizeof(scripts) / sizeof(scripts[0]); i++) {
		if (scripts[i].g == global && strcmp(scripts[i].n, name) == 0) {
			*text_r = xstrdup(scripts[i].t);
			*len_r = strlen(scripts[i].t);
			return true;
		}
	}
	return false;
}

static const struct {
	const char *script, *want;
} includes[] = {
	{ "require \"include\"; include \"spam\";", "fileinto \"Urgent\"\n" },
	{ "require \"include\"; include :once \"spam\"; include :once \"spam\";", "fileinto \"Urgent\"\n" },
	{ "require \"include\"; include :optional \"missing\"; discard;", "discard\n" },
	{ "require [\"include\", \"variables\", \"fileinto\"]; global \"box\"; include :global \"vars\"; fileinto \"${box}\";",
	  "fileinto \"G\"\n" },
	{ "require \"include\"; include \"ret\";", "keep\n" },
	{ "require \"include\"; include \"loop\";", "error 1: include \"loop\": line 1: include \"loop2\": line 1: include: script \"loop\" includes itself\n" },
	{ "require \"include\";\ninclude \"bad\";", "error 2: include \"bad\": line 1: unknown test 'foo'\n" },
};

START_TEST(test_include)
{
	struct sieve_include_if inc = { NULL, lookup, NULL };
	struct sieve_script *s;
	struct sieve_error err;
	struct mm_buf out;
	mm_buf_init(&out);
	const char *sc = includes[_i].script;
	if (sieve_compile(sc, strlen(sc), NULL, &inc, &s, &err)) {
		struct sieve_msg *m = sieve_msg_new(msg_plain, strlen(msg_plain), NULL, NULL);
		struct sieve_result r;
		sieve_run(s, sieve_msg_if(m), NULL, &r);
		for (size_t i = 0; i < r.n; i++) {
			sieve_action_format(&r.a[i], &out);
			mm_buf_appendc(&out, '\n');
		}
		sieve_result_free(&r);
		sieve_msg_free(&m);
		sieve_script_free(&s);
	} else {
		mm_buf_printf(&out, "error %u: %s\n", err.line, err.msg);
	}
	ck_assert_str_eq(mm_buf_cstr(&out), includes[_i].want);
	mm_buf_free(&out);
}
END_TEST

/* Vacation rules (RFC 5230 4.5, RFC 3834). */
static const struct {
	const char *msg, *sender;
	bool allowed;
	const char *why;
} vac[] = {
	{ "To: alice@example.org\r\n\r\n", "bob@example.com", true, NULL },
	{ "To: alice@example.org\r\n\r\n", "", false, "no-sender" },
	{ "To: alice@example.org\r\n\r\n", "MAILER-DAEMON@example.com", false, "system-sender" },
	{ "To: alice@example.org\r\n\r\n", "owner-dev@example.com", false, "system-sender" },
	{ "To: alice@example.org\r\n\r\n", "dev-request@example.com", false, "system-sender" },
	{ "To: alice@example.org\r\n\r\n", "alice@example.org", false, "own-address" },
	{ "To: alice@example.org\r\nList-Id: <x.y>\r\n\r\n", "bob@example.com", false, "list" },
	{ "To: alice@example.org\r\nList-Unsubscribe: <mailto:x@y>\r\n\r\n", "bob@example.com", false, "list" },
	{ "To: alice@example.org\r\nPrecedence: bulk\r\n\r\n", "bob@example.com", false, "precedence" },
	{ "To: alice@example.org\r\nPrecedence: junk\r\n\r\n", "bob@example.com", false, "precedence" },
	{ "To: alice@example.org\r\nAuto-Submitted: auto-replied\r\n\r\n", "bob@example.com", false, "auto-submitted" },
	{ "To: alice@example.org\r\nAuto-Submitted: no\r\n\r\n", "bob@example.com", true, NULL },
	{ "To: carol@example.org\r\n\r\n", "bob@example.com", false, "not-a-recipient" },
	{ "To: carol@example.org\r\nCc: Alice <ALICE@example.org>\r\n\r\n", "bob@example.com", true, NULL },
	{ "To: alice+lists@example.org\r\n\r\n", "bob@example.com", true, NULL },
};

START_TEST(test_vacation_rules)
{
	struct sieve_msg *m = sieve_msg_new(vac[_i].msg, strlen(vac[_i].msg), vac[_i].sender,
	    "alice@example.org");
	struct mm_strlist own;
	mm_strlist_init(&own);
	mm_strlist_add(&own, "alice@example.org");
	const char *why;
	bool ok = sieve_vacation_allowed(sieve_msg_if(m), vac[_i].sender, &own, &why);
	ck_assert_int_eq(ok, vac[_i].allowed);
	if (vac[_i].why)
		ck_assert_str_eq(why, vac[_i].why);
	mm_strlist_clear(&own);
	sieve_msg_free(&m);
}
END_TEST

/* The vacation action's fields, and :days bounded by vacation_min_days. */
START_TEST(test_vacation_fields)
{
	const char *sc = "require \"vacation\"; vacation :days 0 :subject \"S\" :from \"me@example.org\" "
	    ":addresses [\"a@example.org\", \"b@example.org\"] \"reason\";";
	struct sieve_script *s;
	struct sieve_error err;
	ck_assert(sieve_compile(sc, strlen(sc), NULL, NULL, &s, &err));
	struct sieve_msg *m = sieve_msg_new(msg_plain, strlen(msg_plain), "", "alice@example.org");
	struct sieve_result r;
	sieve_run(s, sieve_msg_if(m), NULL, &r);
	ck_assert_uint_eq(r.n, 2);
	ck_assert_int_eq(r.a[0].kind, SIEVE_ACT_VACATION);
	ck_assert_ptr_null(r.a[0].reply_to);	/* null sender: nobody to reply to */
	ck_assert_str_eq(r.a[0].subject, "S");
	ck_assert_str_eq(r.a[0].from, "me@example.org");
	ck_assert_str_eq(r.a[0].arg, "reason");
	ck_assert_str_eq(r.a[0].handle, "reasonSme@example.org<NO-MIME>");
	ck_assert_uint_eq(r.a[0].addresses.n, 2);
	ck_assert_uint_eq(r.a[0].seconds, 86400);
	sieve_result_free(&r);
	sieve_msg_free(&m);
	sieve_script_free(&s);
}
END_TEST

/* The compiled-script cache: a hit only for the same key, text and
 * limits; a script replaced while held stays valid until released (ASan
 * in the sanitizer build sees a use after free); includes are not kept;
 * entries and bytes stay bounded; threads share it. */
static const char *
run_shared(const struct sieve_script *s)
{
	struct sieve_msg *m = sieve_msg_new(msg_plain, strlen(msg_plain), NULL, NULL);
	struct sieve_result r;
	sieve_run(s, sieve_msg_if(m), NULL, &r);
	const char *what = r.n == 1 && r.a[0].kind == SIEVE_ACT_DISCARD ? "discard" :
	    r.n == 1 && r.a[0].kind == SIEVE_ACT_KEEP ? "keep" : "other";
	sieve_result_free(&r);
	sieve_msg_free(&m);
	return what;
}

static bool
inc_none(void *ctx, bool global, const char *name, char **text_r, size_t *len_r)
{
	(void)ctx;
	(void)global;
	(void)name;
	(void)text_r;
	(void)len_r;
	return false;
}

START_TEST(test_cache)
{
	static const char a[] = "if header :contains \"subject\" \"urgent\" { discard; }";
	static const char b[] = "if header :contains \"subject\" \"nothing\" { discard; }";
	struct sieve_cache *c = sieve_cache_new();
	struct sieve_error err;
	bool hit;
	uint64_t hits, misses;
	size_t n;

	struct sieve_script *s1 = sieve_cache_compile(c, "u1", a, strlen(a), NULL, NULL, &err, &hit);
	ck_assert_ptr_nonnull(s1);
	ck_assert(!hit);
	struct sieve_script *s2 = sieve_cache_compile(c, "u1", a, strlen(a), NULL, NULL, &err, &hit);
	ck_assert(hit);
	ck_assert_ptr_eq(s1, s2);
	sieve_cache_release(c, &s2);
	ck_assert_ptr_null(s2);
	/* another user with the same text: an entry of its own */
	s2 = sieve_cache_compile(c, "u2", a, strlen(a), NULL, NULL, &err, &hit);
	ck_assert(!hit);
	ck_assert_ptr_ne(s1, s2);
	sieve_cache_release(c, &s2);
	/* u1's script changes: compiled again, and the old form still runs */
	s2 = sieve_cache_compile(c, "u1", b, strlen(b), NULL, NULL, &err, &hit);
	ck_assert(!hit);
	ck_assert_str_eq(run_shared(s1), "discard");
	ck_assert_str_eq(run_shared(s2), "keep");
	sieve_cache_release(c, &s1);
	sieve_cache_release(c, &s2);
	s1 = sieve_cache_compile(c, "u1", a, strlen(a), NULL, NULL, &err, &hit);
	ck_assert(!hit);
	sieve_cache_release(c, &s1);
	/* other limits: compiled again */
	struct sieve_limits lim;
	sieve_limits_default(&lim);
	lim.max_actions = 3;
	s1 = sieve_cache_compile(c, "u1", a, strlen(a), &lim, NULL, &err, &hit);
	ck_assert(!hit);
	sieve_cache_release(c, &s1);
	s1 = sieve_cache_compile(c, "u1", a, strlen(a), &lim, NULL, &err, &hit);
	ck_assert(hit);
	sieve_cache_release(c, &s1);
	/* a compile error: NULL, the error, nothing kept */
	s1 = sieve_cache_compile(c, "u3", "keep", 4, NULL, NULL, &err, &hit);
	ck_assert_ptr_null(s1);
	ck_assert(strstr(err.msg, "missing ';'") != NULL);
	/* a script that includes (even an optional one that is missing) is
	 * compiled every time: its form depends on other scripts */
	static const char inc[] = "require \"include\"; include :optional \"x\"; discard;";
	struct sieve_include_if ii = { NULL, inc_none, NULL };
	for (int k = 0; k < 2; k++) {
		s1 = sieve_cache_compile(c, "u4", inc, strlen(inc), NULL, &ii, &err, &hit);
		ck_assert_ptr_nonnull(s1);
		ck_assert(!hit);
		ck_assert_str_eq(run_shared(s1), "discard");
		sieve_cache_release(c, &s1);
	}
	sieve_cache_stats(c, &hits, &misses, &n);
	ck_assert_uint_eq(hits, 2);
	ck_assert_uint_eq(n, 2);	/* u1, u2 */

	/* bounded: entries, then bytes */
	for (int k = 0; k < SIEVE_CACHE_ENTRIES + 10; k++) {
		char key[32];
		snprintf(key, sizeof(key), "user%d", k);
		s1 = sieve_cache_compile(c, key, a, strlen(a), NULL, NULL, &err, &hit);
		ck_assert_ptr_nonnull(s1);
		sieve_cache_release(c, &s1);
	}
	sieve_cache_stats(c, &hits, &misses, &n);
	ck_assert_uint_eq(n, SIEVE_CACHE_ENTRIES);
	/* the most recent ones are the ones kept */
	s1 = sieve_cache_compile(c, "user265", a, strlen(a), NULL, NULL, &err, &hit);
	ck_assert(hit);
	sieve_cache_release(c, &s1);
	size_t big = SIEVE_CACHE_BYTES / 8 - 64;
	char *t = xmalloc(big + 1);
	memset(t, ' ', big);
	memcpy(t, "discard;", 8);
	for (int k = 0; k < 20; k++) {
		char key[32];
		snprintf(key, sizeof(key), "big%d", k);
		lim.max_script_bytes = big + 1;
		s1 = sieve_cache_compile(c, key, t, big, &lim, NULL, &err, &hit);
		ck_assert_msg(s1 != NULL, "%s", err.msg);
		sieve_cache_release(c, &s1);
	}
	/* at most 8 big texts fit: the 9th evicted the oldest of them */
	s1 = sieve_cache_compile(c, "big0", t, big, &lim, NULL, &err, &hit);
	ck_assert(!hit);
	sieve_cache_release(c, &s1);
	s1 = sieve_cache_compile(c, "big19", t, big, &lim, NULL, &err, &hit);
	ck_assert(hit);
	sieve_cache_release(c, &s1);
	/* too big to keep at all */
	char *t2 = xmalloc(SIEVE_CACHE_BYTES / 4);
	memset(t2, ' ', SIEVE_CACHE_BYTES / 4);
	memcpy(t2, "keep;", 5);
	lim.max_script_bytes = SIEVE_CACHE_BYTES;
	for (int k = 0; k < 2; k++) {
		s1 = sieve_cache_compile(c, "huge", t2, SIEVE_CACHE_BYTES / 4, &lim, NULL, &err, &hit);
		ck_assert_ptr_nonnull(s1);
		ck_assert(!hit);
		sieve_cache_release(c, &s1);
	}
	free(t2);
	free(t);
	sieve_cache_free(&c);
	ck_assert_ptr_null(c);
}
END_TEST

/* An include interface over one personal script "r", with a stamp that
 * the test moves when it changes r (or withholds). */
struct inc_one {
	const char *text;
	uint64_t stamp;
	bool have_stamp;
	unsigned lookups;
};

static bool
inc_one_lookup(void *ctx, bool global, const char *name, char **text_r, size_t *len_r)
{
	struct inc_one *o = ctx;
	o->lookups++;
	if (global || strcmp(name, "r") != 0)
		return false;
	*len_r = strlen(o->text);
	*text_r = xstrdup(o->text);
	return true;
}

static bool
inc_one_stamp(void *ctx, uint64_t *stamp_r)
{
	struct inc_one *o = ctx;
	*stamp_r = o->stamp;
	return o->have_stamp;
}

/* Compiles main for "u" through c and o: whether it was a hit, and what
 * the script did. */
static bool
cache_inc_run(struct sieve_cache *c, struct inc_one *o, const char **what_r)
{
	static const char main_text[] = "require \"include\"; include :personal \"r\";";
	struct sieve_include_if ii = { o, inc_one_lookup, inc_one_stamp };
	struct sieve_error err;
	bool hit;
	struct sieve_script *s = sieve_cache_compile(c, "u", main_text, strlen(main_text), NULL,
	    &ii, &err, &hit);
	ck_assert_msg(s != NULL, "%s", err.msg);
	*what_r = run_shared(s);
	sieve_cache_release(c, &s);
	return hit;
}

/* A script that includes is kept while the includes' stamp holds, and
 * compiled again (with the included script's new text) once it moves,
 * once it is unknown, and once SIEVE_CACHE_INCLUDE_TTL_MSECS have gone. */
START_TEST(test_cache_includes)
{
	struct sieve_cache *c = sieve_cache_new();
	struct inc_one o = { "discard;", 7, true, 0 };
	const char *what;

	ck_assert(!cache_inc_run(c, &o, &what));
	ck_assert_str_eq(what, "discard");
	ck_assert_uint_eq(o.lookups, 1);
	ck_assert(cache_inc_run(c, &o, &what));
	ck_assert_str_eq(what, "discard");
	ck_assert_uint_eq(o.lookups, 1);        /* not compiled: not looked up */
	/* r changes, the stamp moves: compiled again, r's new text runs */
	o.text = "keep;";
	o.stamp = 8;
	ck_assert(!cache_inc_run(c, &o, &what));
	ck_assert_str_eq(what, "keep");
	ck_assert(cache_inc_run(c, &o, &what));
	ck_assert_str_eq(what, "keep");
	/* the stamp unknown: compiled at every use, nothing kept */
	o.have_stamp = false;
	o.text = "discard;";
	ck_assert(!cache_inc_run(c, &o, &what));
	ck_assert_str_eq(what, "discard");
	ck_assert(!cache_inc_run(c, &o, &what));
	o.have_stamp = true;
	o.stamp = 9;
	ck_assert(!cache_inc_run(c, &o, &what));
	ck_assert_str_eq(what, "discard");
	ck_assert(cache_inc_run(c, &o, &what));
	/* r changed with the stamp left where it was (a writer that died
	 * between its commit and its second move): the TTL ends it */
	o.text = "keep;";
	ck_assert(cache_inc_run(c, &o, &what));
	ck_assert_str_eq(what, "discard");
	struct timespec ttl = { (SIEVE_CACHE_INCLUDE_TTL_MSECS + 100) / 1000,
	    (long)((SIEVE_CACHE_INCLUDE_TTL_MSECS + 100) % 1000) * 1000000 };
	while (nanosleep(&ttl, &ttl) != 0)
		;
	ck_assert(!cache_inc_run(c, &o, &what));
	ck_assert_str_eq(what, "keep");
	sieve_cache_free(&c);
}
END_TEST

struct cache_thread {
	struct sieve_cache *c;
	int id;
	int bad;
};

static void *
cache_worker(void *arg)
{
	struct cache_thread *ct = arg;
	/* a compiled regex is shared too: regexec on one regex_t from
	 * several threads is allowed (POSIX; glibc locks inside) */
	static const char *texts[] = {
		"require \"regex\"; if header :regex \"subject\" \"\\\\[urg(e)nt\\\\]\" { discard; }",
		"if header :contains \"subject\" \"nothing\" { discard; }",
	};
	for (int i = 0; i < 2000; i++) {
		char key[16];
		int v = (i / 7 + ct->id) & 1;
		snprintf(key, sizeof(key), "k%d", i % 5);
		struct sieve_error err;
		bool hit;
		struct sieve_script *s = sieve_cache_compile(ct->c, key, texts[v], strlen(texts[v]),
		    NULL, NULL, &err, &hit);
		if (s == NULL || strcmp(run_shared(s), v == 0 ? "discard" : "keep") != 0)
			ct->bad++;
		sieve_cache_release(ct->c, &s);
	}
	return NULL;
}

START_TEST(test_cache_threads)
{
	struct sieve_cache *c = sieve_cache_new();
	pthread_t th[4];
	struct cache_thread ct[4];
	for (int i = 0; i < 4; i++) {
		ct[i] = (struct cache_thread){ c, i, 0 };
		ck_assert_int_eq(pthread_create(&th[i], NULL, cache_worker, &ct[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		ck_assert_int_eq(ct[i].bad, 0);
	}
	uint64_t hits, misses;
	size_t n;
	sieve_cache_stats(c, &hits, &misses, &n);
	ck_assert_uint_eq(hits + misses, 8000);
	ck_assert_uint_gt(hits, 0);
	ck_assert_uint_le(n, 5);
	sieve_cache_free(&c);
}
END_TEST

static Suite *
sieve_suite(void)
{
	Suite *s = suite_create("sieve");
	TCase *tc = tcase_create("run");
	tcase_add_loop_test(tc, test_core, 0, N(core));
	tcase_add_loop_test(tc, test_actions, 0, N(actions));
	tcase_add_loop_test(tc, test_ext, 0, N(ext));
	tcase_add_loop_test(tc, test_ext2, 0, N(ext2));
	suite_add_tcase(s, tc);
	tc = tcase_create("compile");
	tcase_add_loop_test(tc, test_errors, 0, N(errors));
	tcase_add_test(tc, test_prefixes);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);
	tc = tcase_create("bounds");
	tcase_add_test(tc, test_bounds);
	suite_add_tcase(s, tc);
	tc = tcase_create("include");
	tcase_add_loop_test(tc, test_include, 0, N(includes));
	suite_add_tcase(s, tc);
	tc = tcase_create("vacation");
	tcase_add_loop_test(tc, test_vacation_rules, 0, N(vac));
	tcase_add_test(tc, test_vacation_fields);
	suite_add_tcase(s, tc);
	tc = tcase_create("cache");
	tcase_add_test(tc, test_cache);
	tcase_add_test(tc, test_cache_includes);
	tcase_add_test(tc, test_cache_threads);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(sieve_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
