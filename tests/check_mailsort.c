/* check_mailsort.c: unit tests for src/mail/sort.c and src/mail/thread.c:
 * the base subject rules of RFC 5256 2.1, the SORT keys and order, the
 * msg-id reader, and both THREAD algorithms on the RFC's rules (dummy
 * parents, pruning, subject merging, loops, duplicate Message-IDs,
 * siblings by date), with exact answers; and the sort keys computed at
 * delivery into the cache blob (mail/cache.h), which must equal what the
 * same code gives from the header, over awkward headers. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/limits.h"
#include "mail/cache.h"
#include "mail/header.h"
#include "mail/sort.h"
#include "mail/thread.h"

/* ---- base subject ---- */

struct bcase {
	const char *in;
	const char *base;
	bool reply;
};

static const struct bcase bcases[] = {
	{ "", "", false },
	{ "   ", "", false },
	{ "hello", "hello", false },
	{ "  hello   world  ", "hello world", false },
	{ "hello\r\n\tworld", "hello world", false },
	{ "Re: hello", "hello", true },
	{ "RE: hello", "hello", true },
	{ "re:hello", "hello", true },
	{ "Re : hello", "hello", true },
	{ "Fw: hello", "hello", true },
	{ "FWD: hello", "hello", true },
	{ "Re[2]: hello", "hello", true },
	{ "Re [2] : hello", "hello", true },
	{ "Re: Re: Fwd: re: hello", "hello", true },
	{ "[list] hello", "hello", false },
	{ "[list] Re: hello", "hello", true },
	{ "[list] [other] hello", "hello", false },
	{ "[xyz]", "[xyz]", false },
	{ "[a] [b]", "[b]", false },
	{ "Re: [xyz]", "[xyz]", true },
	{ "hello (fwd)", "hello", true },
	{ "hello (FWD) (fwd)  ", "hello", true },
	{ "hello(fwd)", "hello", true },
	{ "[fwd: hello]", "hello", true },
	{ "[FWD: Re: hello] (fwd)", "hello", true },
	{ "Re: [FWD: c]", "c", true },
	{ "re: [fwd: [fwd: re: [fwd: babylon]]]", "babylon", true },
	{ "[foo] Fwd: [bar] Re: fw: b (fWd)  (fwd)", "b", true },
	{ "Ad: Re: Ad: Re: Ad: x", "Ad: Re: Ad: Re: Ad: x", false },
	{ "Reply: x", "Reply: x", false },
	{ "Fwx: x", "Fwx: x", false },
	{ "[unclosed Re: x", "[unclosed Re: x", false },
	{ "Re: [a[b]: x", "[a[b]: x", true },
	{ "(fwd)", "", true },
	{ "Re:", "", true },
	{ "Re: ", "", true },
	/* encoded words decoded first */
	{ "=?iso-8859-1?q?RE:_C?=", "C", true },
	{ "=?us-ascii?b?UmU6IGM=?=", "c", true },
	{ "Re: =?utf-8?q?b?=", "b", true },
	{ "=?iso-8859-1?q?_?=", "", false },
	{ "=?utf-8?q?Gr=C3=BC=C3=9Fe?= (fwd)", "Gr\xc3\xbc\xc3\x9f" "e", true },
	{ "R\xc3\xa9: x", "R\xc3\xa9: x", false },
};

START_TEST(test_base_subject)
{
	const struct bcase *c = &bcases[_i];
	bool reply = !c->reply;
	char *b = mail_base_subject(c->in, strlen(c->in), &reply);
	ck_assert_str_eq(b, c->base);
	ck_assert_int_eq(reply, c->reply);
	free(b);
	/* every prefix of the input: no crash, valid output */
	for (size_t n = 0; n <= strlen(c->in); n++) {
		b = mail_base_subject(c->in, n, NULL);
		ck_assert_ptr_nonnull(b);
		free(b);
	}
}
END_TEST

START_TEST(test_sort_text)
{
	char *t = mail_sort_text("aBc[_]\xc3\x89t\xc3\xa9", 11, 100);
	ck_assert_str_eq(t, "ABC[_]E\xcc\x81TE\xcc\x81");
	free(t);
	/* RFC 5051 casemap: titlecase, then decomposed; others kept */
	t = mail_sort_text("\xc3\xa5sa \xc3\x9f \xc3\xa6 \xc5\x82 \xce\xa3", 16, 100);
	ck_assert_str_eq(t, "A\xcc\x8aSA \xc3\x9f \xc3\x86 \xc5\x81 \xcf\x83");
	free(t);
	/* invalid UTF-8 is read as windows-1252 */
	t = mail_sort_text("\xe5sa", 3, 100);
	ck_assert_str_eq(t, "A\xcc\x8aSA");
	free(t);
	/* cut on a character boundary */
	t = mail_sort_text("ab\xc3\xa9", 4, 4);
	ck_assert_str_eq(t, "ABE");
	free(t);
	t = mail_sort_text("", 0, 3);
	ck_assert_str_eq(t, "");
	free(t);
}
END_TEST

struct acase {
	const char *in;
	const char *mailbox;
	const char *display;
};

static const struct acase acases[] = {
	{ "", "", "" },
	{ "user2@domain2.org", "USER2", "USER2@DOMAIN2.ORG" },
	{ "foo bar <user2@domain2.org>", "USER2", "FOO BAR" },
	{ "user2@domain2.org (foo bar)", "USER2", "FOO BAR" },
	{ "user2: blah@domain1.org;", "USER2", "USER2" },
	{ "empty:;", "EMPTY", "EMPTY" },
	{ "d", "D", "D" },
	{ "=?iso-8859-1?q?foo_aar?= <e@f.g>", "E", "FOO AAR" },
	{ "\"Zed, A.\" <z@x>, b@y", "Z", "ZED, A." },
	{ "<only@addr>", "ONLY", "ONLY@ADDR" },
};

START_TEST(test_addr_keys)
{
	const struct acase *c = &acases[_i];
	char *m = mail_sort_addr_mailbox(c->in, strlen(c->in), 256);
	char *d = mail_sort_addr_display(c->in, strlen(c->in), 256);
	ck_assert_str_eq(m, c->mailbox);
	ck_assert_str_eq(d, c->display);
	free(m);
	free(d);
}
END_TEST

/* ---- SORT ---- */

static void
parse_hdr(const char *text, struct mail_header *h)
{
	mail_header_parse(text, 0, strlen(text), h);
}

START_TEST(test_sort)
{
	static const char *const hdrs[] = {
		"Subject: Re: b\r\nFrom: z@x\r\nDate: Tue, 2 Jan 2024 10:00:00 +0000\r\n\r\n",
		"Subject: a\r\nFrom: Y <y@x>\r\nDate: Tue, 2 Jan 2024 10:00:00 +0100\r\n\r\n",
		"Subject: B\r\nFrom: a@x\r\nDate: garbage\r\n\r\n",
		"From: b@x\r\n\r\n",
	};
	static const struct { const char *crit; const char *want; } cases[] = {
		{ "ARRIVAL", "3 2 1 0" },
		{ "REVERSE ARRIVAL", "0 1 2 3" },
		{ "SIZE", "0 1 2 3" },
		{ "REVERSE SIZE ARRIVAL", "3 2 1 0" },
		{ "SUBJECT", "3 1 0 2" },
		{ "SUBJECT REVERSE ARRIVAL", "3 1 0 2" },
		{ "SUBJECT ARRIVAL", "3 1 2 0" },
		{ "FROM", "2 3 1 0" },
		{ "DISPLAYFROM", "2 3 1 0" },
		{ "DATE", "3 2 1 0" },
		{ "REVERSE DATE", "0 1 2 3" },
		{ "CC", "0 1 2 3" },
		{ "REVERSE CC", "0 1 2 3" },
	};
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct mail_sort_crit crit[4];
		size_t ncrit = 0;
		bool rev = false;
		char words[64];
		snprintf(words, sizeof(words), "%s", cases[c].crit);
		for (char *w = strtok(words, " "); w; w = strtok(NULL, " ")) {
			if (strcmp(w, "REVERSE") == 0) {
				rev = true;
				continue;
			}
			ck_assert(mail_sort_key_parse(w, &crit[ncrit].key));
			crit[ncrit++].reverse = rev;
			rev = false;
		}
		struct mail_sort_rec recs[4], *v[4];
		memset(recs, 0, sizeof(recs));
		for (size_t i = 0; i < 4; i++) {
			struct mail_header h;
			recs[i].seq = (uint32_t)i;
			recs[i].size = 100 + i;
			/* arrival: the last first; the third's date falls back to it */
			recs[i].arrival = 1704000000 - (time_t)i * 86400 * 10;
			parse_hdr(hdrs[i], &h);
			mail_sort_rec_fill(&recs[i], &h, crit, ncrit, 256);
			mail_header_free(&h);
			v[i] = &recs[i];
		}
		mail_sort(v, 4, crit, ncrit);
		char got[64] = "";
		for (size_t i = 0; i < 4; i++)
			snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%u",
			    i ? " " : "", v[i]->seq);
		ck_assert_msg(strcmp(got, cases[c].want) == 0, "%s: got %s want %s",
		    cases[c].crit, got, cases[c].want);
		for (size_t i = 0; i < 4; i++)
			mail_sort_rec_free(&recs[i]);
	}
	enum mail_sort_key k;
	ck_assert(!mail_sort_key_parse("REVERSE", &k));
	ck_assert(!mail_sort_key_parse("ARRIVALX", &k));
	ck_assert(mail_sort_key_parse("displayTo", &k) && k == MAIL_SORT_DISPLAYTO);
}
END_TEST

/* ---- msg-ids ---- */

struct icase {
	const char *in;
	size_t max;
	bool last;
	const char *want;     /* ids joined by ' ' */
};

static const struct icase icases[] = {
	{ "<a@b>", 10, true, "a@b" },
	{ "<a@b> <c@d>\r\n <e@f>", 10, true, "a@b c@d e@f" },
	{ "<a@b><c@d>", 10, true, "a@b c@d" },
	{ "<a@b> <c@d> <e@f>", 2, true, "c@d e@f" },
	{ "<a@b> <c@d> <e@f>", 2, false, "a@b c@d" },
	{ "junk <a@b> (comment <x@y>) <c@d>", 10, true, "a@b c@d" },
	{ "(nested (comment) <x@y>) <a@b>", 10, true, "a@b" },
	{ "<no-at> <a@b>", 10, true, "a@b" },
	{ "<a @b> <c@d>", 10, true, "c@d" },
	{ "<a@\r\n b>", 10, true, "" },
	{ "<a@\r\nb>", 10, true, "a@b" },
	{ "<a<b@c>", 10, true, "b@c" },
	{ "<a@b", 10, true, "" },
	{ "", 10, true, "" },
	{ "Your message of ... <a@b>", 1, false, "a@b" },
	{ "<aaaaaaaaaaaaaaaaaaaa@b> <c@d>", 10, true, "c@d" },   /* over 16 bytes */
};

START_TEST(test_ids)
{
	const struct icase *c = &icases[_i];
	struct mm_strlist l;
	struct mm_buf b;
	mm_strlist_init(&l);
	mm_buf_init(&b);
	mail_thread_ids(c->in, strlen(c->in), c->max, c->last, 16, &l);
	for (size_t i = 0; i < l.n; i++)
		mm_buf_printf(&b, "%s%s", i ? " " : "", l.v[i]);
	ck_assert_str_eq(mm_buf_cstr(&b), c->want);
	mm_strlist_clear(&l);
	mm_buf_free(&b);
	/* byte at a time: every prefix parses to a prefix of the answer */
	for (size_t n = 0; n <= strlen(c->in); n++) {
		mm_strlist_init(&l);
		mail_thread_ids(c->in, n, c->max, false, 16, &l);
		mm_strlist_clear(&l);
	}
}
END_TEST

/* ---- THREAD ---- */

/* A message as the tests write it: "num date msgid|refs|subject" with
 * refs space-separated; "-" for none. */
struct tmsg {
	uint32_t num;
	time_t date;
	const char *msgid, *refs, *subject;
};

static void
thread_run(const struct tmsg *t, size_t n, bool references, size_t depth, struct mm_buf *out)
{
	struct mail_thread_msg *m = calloc(n + 1, sizeof(*m));
	for (size_t i = 0; i < n; i++) {
		char hdr[512];
		struct mail_header h;
		snprintf(hdr, sizeof(hdr), "%s%s%s%s%s%s\r\n",
		    t[i].msgid ? "Message-ID: " : "", t[i].msgid ? t[i].msgid : "",
		    t[i].msgid ? "\r\n" : "",
		    t[i].refs ? "References: " : "", t[i].refs ? t[i].refs : "",
		    t[i].refs ? "\r\n" : "");
		if (t[i].subject != NULL)
			snprintf(hdr + strlen(hdr) - 2, sizeof(hdr) - strlen(hdr) + 2,
			    "Subject: %s\r\n\r\n", t[i].subject);
		parse_hdr(hdr, &h);
		m[i].num = t[i].num;
		m[i].date = t[i].date;
		mail_thread_msg_fill(&m[i], &h, 64, 998, 256);
		mail_header_free(&h);
	}
	if (references)
		mail_thread_references(m, n, depth, out);
	else
		mail_thread_orderedsubject(m, n, out);
	for (size_t i = 0; i < n; i++)
		mail_thread_msg_free(&m[i]);
	free(m);
}

struct thcase {
	const char *name;
	struct tmsg m[8];
	size_t n;
	const char *refs_want, *os_want;
};

static const struct thcase thcases[] = {
	{ "empty", { { 0 } }, 0, "", "" },
	{ "single", { { 1, 10, "<a@b>", NULL, "x" } }, 1, "(1)", "(1)" },
	/* imaptest "thread": b references a and c, c references b: the
	 * loop is refused, c's earlier parent link is broken */
	{ "loop", {
		{ 1, 300, "<a@b>", NULL, NULL },
		{ 2, 100, "<b@b>", "<a@b> <c@b>", NULL },
		{ 3, 200, "<c@b>", "<b@b>", NULL } }, 3, "(3 2)(1)", "(2 (3)(1))" },
	/* duplicate Message-ID: the second is a message of its own */
	{ "dup-id", {
		{ 1, 100, "<a@b>", NULL, NULL },
		{ 2, 100, "<a@b>", NULL, NULL } }, 2, "(1)(2)", "(1 2)" },
	/* dummy parent with two children at the root stays */
	{ "dummy-root", {
		{ 1, 100, NULL, "<a@b>", NULL },
		{ 2, 200, NULL, "<a@b>", NULL } }, 2, "((1)(2))", "(1 2)" },
	/* a dummy with one child at the root is replaced by it, then the
	 * Re: merges under the same subject */
	{ "promote-merge", {
		{ 1, 100, "<a@b>", NULL, "foo" },
		{ 2, 200, "<b@b>", "<c@b>", "Re: foo" } }, 2, "(1 2)", "(1 2)" },
	/* dummies inside a thread are pruned, their children promoted */
	{ "prune", {
		{ 1, 100, "<a@b>", NULL, NULL },
		{ 2, 200, "<c@b>", "<a@b> <b@b>", NULL },
		{ 3, 300, "<d@b>", "<a@b> <b@b>", NULL },
		{ 4, 400, "<e@b>", "<a@b> <x@b> <y@b>", NULL } }, 4, "(1 (2)(3)(4))", "(1 (2)(3)(4))" },
	/* siblings by date, then number; a thread by its root's date */
	{ "dates", {
		{ 1, 500, "<a@b>", NULL, "s" },
		{ 2, 300, "<b@b>", "<a@b>", "Re: s" },
		{ 3, 100, "<c@b>", "<a@b>", "Re: s" },
		{ 4, 300, "<d@b>", "<a@b>", "Re: s" },
		{ 5, 50, "<e@b>", NULL, "t" } }, 5, "(5)(1 (3)(2)(4))", "(5)(3 (2)(4)(1))" },
	/* same subject, neither a reply: both go under a new dummy */
	{ "subject-dummy", {
		{ 1, 100, "<a@b>", NULL, "same" },
		{ 2, 200, "<b@b>", NULL, "same" },
		{ 3, 300, "<c@b>", NULL, "Re: same" } }, 3, "((1)(2)(3))", "(1 (2)(3))" },
	/* a reply in the table is replaced by the original */
	{ "subject-reply-first", {
		{ 1, 100, "<a@b>", NULL, "Re: s" },
		{ 2, 200, "<b@b>", NULL, "s" } }, 2, "(2 1)", "(1 2)" },
	/* empty subjects never merge */
	{ "empty-subject", {
		{ 1, 100, "<a@b>", NULL, "" },
		{ 2, 200, "<b@b>", NULL, "Re: " } }, 2, "(1)(2)", "(1 2)" },
	/* In-Reply-To-like single reference, expunged parents */
	{ "thread5-after-expunge", {
		{ 1, 100, "<3@b>", "<1@b>", NULL },
		{ 2, 100, "<4@b>", "<2@b>", NULL },
		{ 3, 100, "<5@b>", "<2@b>", NULL } }, 3, "(1)((2)(3))", "(1 (2)(3))" },
	/* a dummy root's subject is its oldest child's (as step 6 orders
	 * them), not the first one linked */
	{ "dummy-subject-oldest", {
		{ 1, 200, "<a@x>", "<d@x>", "zeta" },
		{ 2, 100, "<b@x>", "<d@x>", "eta" },
		{ 3, 300, "<c@x>", NULL, "eta" } }, 3, "((2)(1)(3))", "(2 3)(1)" },
	/* a message referencing itself */
	{ "self", { { 1, 100, "<a@b>", "<a@b>", NULL } }, 1, "(1)", "(1)" },
};

START_TEST(test_thread)
{
	const struct thcase *c = &thcases[_i];
	struct mm_buf b;
	mm_buf_init(&b);
	thread_run(c->m, c->n, true, 256, &b);
	ck_assert_msg(strcmp(mm_buf_cstr(&b), c->refs_want) == 0, "%s: references %s want %s",
	    c->name, mm_buf_cstr(&b), c->refs_want);
	b.len = 0;
	thread_run(c->m, c->n, false, 256, &b);
	ck_assert_msg(strcmp(mm_buf_cstr(&b), c->os_want) == 0, "%s: orderedsubject %s want %s",
	    c->name, mm_buf_cstr(&b), c->os_want);
	mm_buf_free(&b);
}
END_TEST

/* Long reply chains: nothing recurses (a 20,000-deep thread is written),
 * and links deeper than max_depth start new threads (100,000 messages in
 * threads of 257). */
static struct mail_thread_msg *
chain(size_t n)
{
	struct mail_thread_msg *m = calloc(n, sizeof(*m));
	char id[32];
	for (size_t i = 0; i < n; i++) {
		m[i].num = (uint32_t)(i + 1);
		m[i].date = (time_t)i;
		snprintf(id, sizeof(id), "%zu@x", i);
		m[i].msgid = strdup(id);
		if (i > 0) {
			snprintf(id, sizeof(id), "%zu@x", i - 1);
			m[i].refs = malloc(sizeof(char *));
			m[i].refs[0] = strdup(id);
			m[i].nrefs = 1;
		}
		m[i].subject = strdup("");
	}
	return m;
}

static size_t
count_char(const struct mm_buf *b, char c)
{
	size_t k = 0;
	for (size_t i = 0; i < b->len; i++)
		k += b->data[i] == c;
	return k;
}

START_TEST(test_thread_deep)
{
	size_t n = 20000;
	struct mail_thread_msg *m = chain(n);
	struct mm_buf b;
	mm_buf_init(&b);
	mail_thread_references(m, n, n + 1, &b);
	ck_assert(strncmp(mm_buf_cstr(&b), "(1 2 3 ", 7) == 0);
	ck_assert_uint_eq(count_char(&b, '('), 1);
	ck_assert(b.data[b.len - 1] == ')');
	b.len = 0;
	mail_thread_references(m, 10, 3, &b);
	ck_assert_str_eq(mm_buf_cstr(&b), "(1 2 3 4)(5 6 7 8)(9 10)");
	for (size_t i = 0; i < n; i++)
		mail_thread_msg_free(&m[i]);
	free(m);
	n = 100000;
	m = chain(n);
	b.len = 0;
	mail_thread_references(m, n, 256, &b);
	ck_assert_uint_eq(count_char(&b, '('), (n + 256) / 257);
	mm_buf_free(&b);
	for (size_t i = 0; i < n; i++)
		mail_thread_msg_free(&m[i]);
	free(m);
}
END_TEST

/* ---- the sort keys of the cache blob ---- */

/* Headers SORT and THREAD find awkward: each blob's keys must be what
 * mail_sort_rec_fill and mail_thread_msg_fill give from the header. */
static const char *const kcases[] = {
	"Subject: =?UTF-8?B?UmU6IGjDqWxsbw==?=\r\nFrom: =?UTF-8?Q?J=C3=B6rg_M?= <jorg@example.org>\r\n"
	"Date: Mon, 1 Jan 2024 10:00:00 +0100\r\nMessage-ID: <a1@x>\r\n\r\nbody\r\n",
	"Subject: Re: Fwd: [list] Re[3]: topic (fwd)\r\nFrom: b@example.org\r\n\r\nno date\r\n",
	"Subject: [fwd: Re: wrapped]\r\nDate: yesterday at noon\r\nFrom: <c@example.org>\r\n\r\nx\r\n",
	"Subject: RE: =?ISO-8859-1?Q?Fwd:_h=E9llo_=C6sir?=\r\nTo: undisclosed-recipients:;\r\n"
	"Cc: Team: a@example.org, Zed <z@example.org>;, other@example.org\r\n\r\nx\r\n",
	"To: \"Last, First\" <first@example.org>\r\nDate: 1 Jan 24 10:00 EST\r\n\r\nno from, no subject\r\n",
	"From: jorg@example.org (J\xc3\xb6rg Comment)\r\nSubject: \xc3\x9c" "ber caf\xc3\xa9\r\n"
	"Subject: second subject ignored\r\nDate: Tue, 2 Jan 2024 25:61:00 +0000\r\n\r\nx\r\n",
	"Subject: folded\r\n  over\r\n\tlines   with   space\r\nFrom: \"\" <empty-name@example.org>\r\n"
	"References: junk <r1@x> (comment <no@x>) <r2@x> <bad id@x> <noat>\r\nIn-Reply-To: <irt@x>\r\n"
	"Message-ID: not-bracketed@x\r\n\r\nx\r\n",
	"Subject:\r\nIn-Reply-To: <only-irt@x> <second@x>\r\nMessage-ID: <m@x> <m2@x>\r\n"
	"From: =?UTF-8?B?" "?= <enc-empty@example.org>\r\n\r\nx\r\n",
	"From: Group: ;\r\nTo: , , <late@example.org>\r\nSubject: (fwd) Re: ()\r\n\r\nx\r\n",
	"Subject: header only, no blank line\r\nDate: Wed, 3 Jan 2024 00:00:00 -1200\r\n",
	"Subject: =?utf-8?q?=E2=80=9Cquoted=E2=80=9D?= =?utf-8?q?_joined?=\r\n"
	"From: =?x-unknown?Q?who?= <u@example.org>\r\nDate: Thu, 29 Feb 2024 23:59:60 +1400\r\n\r\nx\r\n",
	"FROM: upper@example.org\r\nsubject: lower case names\r\nDATE: Fri, 5 Jan 2024 08:00:00 GMT\r\n\r\nx\r\n",
};

/* A subject and a References over the limits: keys cut, or too big. */
static char *
long_case(int which)
{
	struct mm_buf b;
	mm_buf_init(&b);
	if (which == 0) {
		mm_buf_printf(&b, "Subject: Re: ");
		for (int i = 0; i < 60; i++)
			mm_buf_printf(&b, "\xc3\xa9l\xc3\xa8ve%02d ", i);
		mm_buf_printf(&b, "\r\nFrom: %0300d@example.org\r\n\r\nx\r\n", 7);
	} else {
		mm_buf_printf(&b, "Subject: many refs\r\nReferences:");
		for (int i = 0; i < 80; i++)
			mm_buf_printf(&b, "\r\n <%0100d.%d@example.org>", 0, i);
		mm_buf_printf(&b, "\r\n\r\nx\r\n");
	}
	return b.data;
}

static void
str_eq(const struct mail_cache_sort_str *k, const char *want, const char *what)
{
	ck_assert_msg(want != NULL, "%s: no header value", what);
	ck_assert_msg(k->len == strlen(want) && memcmp(k->v, want, k->len) == 0,
	    "%s: blob %.*s, header %s", what, (int)k->len, k->v, want);
}

/* 1: the keys were in the blob and equal the header's; 0: none. */
static int
keys_match(const char *msg)
{
	struct mm_buf blob;
	struct mail_cache_search rec;
	struct mail_cache_sort k;
	mm_buf_init(&blob);
	mail_cache_build(msg, strlen(msg), &blob);
	ck_assert_int_eq(mail_cache_search_get(blob.data, blob.len, &rec), 0);
	if (rec.sort == NULL) {
		mm_buf_free(&blob);
		return 0;
	}
	ck_assert(mail_cache_sort_get(rec.sort, rec.sort_len, &k));

	struct mail_header h;
	mail_header_parse(msg, 0, strlen(msg), &h);
	struct mail_sort_crit crit[MAIL_SORT_KEY_COUNT];
	for (int i = 0; i < MAIL_SORT_KEY_COUNT; i++)
		crit[i] = (struct mail_sort_crit){ (enum mail_sort_key)i, false };
	struct mail_sort_rec r = { .arrival = 12345, .date = 12345 };
	mail_sort_rec_fill(&r, &h, crit, MAIL_SORT_KEY_COUNT, IMAP_SORT_KEY_MAX_BYTES);
	ck_assert_int_eq((long)(k.has_date ? k.date : 12345), (long)r.date);
	str_eq(&k.text[MAIL_CST_SUBJECT], r.text[MAIL_SORT_SUBJECT], "SUBJECT");
	str_eq(&k.text[MAIL_CST_FROM], r.text[MAIL_SORT_FROM], "FROM");
	str_eq(&k.text[MAIL_CST_TO], r.text[MAIL_SORT_TO], "TO");
	str_eq(&k.text[MAIL_CST_CC], r.text[MAIL_SORT_CC], "CC");
	str_eq(&k.text[MAIL_CST_DISPLAYFROM], r.text[MAIL_SORT_DISPLAYFROM], "DISPLAYFROM");
	str_eq(&k.text[MAIL_CST_DISPLAYTO], r.text[MAIL_SORT_DISPLAYTO], "DISPLAYTO");
	mail_sort_rec_free(&r);

	struct mail_thread_msg t = { .num = 1, .date = 12345 };
	mail_thread_msg_fill(&t, &h, IMAP_THREAD_REFS_MAX, IMAP_MSGID_MAX_BYTES,
	    IMAP_SORT_KEY_MAX_BYTES);
	ck_assert_int_eq((long)(k.has_date ? k.date : 12345), (long)t.date);
	ck_assert_int_eq(k.reply, t.reply);
	ck_assert_int_eq(k.has_msgid, t.msgid != NULL);
	if (t.msgid != NULL)
		str_eq(&k.msgid, t.msgid, "Message-ID");
	ck_assert_uint_eq(k.nrefs, t.nrefs);
	for (size_t i = 0; i < t.nrefs; i++)
		str_eq(&k.refs[i], t.refs[i], "references");
	str_eq(&k.text[MAIL_CST_SUBJECT], t.subject, "THREAD subject");
	mail_thread_msg_free(&t);
	mail_header_free(&h);

	/* keys of another version, or cut with other limits, are refused */
	unsigned char *c = malloc(rec.sort_len);
	memcpy(c, rec.sort, rec.sort_len);
	for (int at = 0; at < 2; at++) {
		c[at == 0 ? 0 : 1]++;
		ck_assert(!mail_cache_sort_get(c, rec.sort_len, &k));
		c[at == 0 ? 0 : 1]--;
	}
	ck_assert(mail_cache_sort_get(c, rec.sort_len, &k));
	ck_assert(!mail_cache_sort_get(c, rec.sort_len - 1, &k));
	free(c);
	mm_buf_free(&blob);
	return 1;
}

START_TEST(test_cache_keys)
{
	ck_assert_int_eq(keys_match(kcases[_i]), 1);
}
END_TEST

START_TEST(test_cache_keys_long)
{
	char *m = long_case(0);
	ck_assert_int_eq(keys_match(m), 1);       /* cut as SORT cuts them */
	free(m);
	m = long_case(1);
	ck_assert_int_eq(keys_match(m), 0);       /* over 4 KiB: the header is read */
	free(m);
}
END_TEST

static void
put_le32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

/* A version 2 blob (a store from before the keys): the same blob without
 * the keys, flag 4 and version 3. It loads, its search record reads, and
 * it has no keys (SORT reads the header); with flag 4 it is refused. */
START_TEST(test_cache_keys_v2)
{
	const char *msg = kcases[0];
	struct mm_buf blob;
	struct mail_cache_search rec;
	mm_buf_init(&blob);
	mail_cache_build(msg, strlen(msg), &blob);
	ck_assert_int_eq(mail_cache_search_get(blob.data, blob.len, &rec), 0);
	ck_assert_ptr_nonnull(rec.sort);
	unsigned char *b = (unsigned char *)blob.data;
	size_t len = blob.len;
	uint32_t rlen = (uint32_t)b[len - 8] | (uint32_t)b[len - 7] << 8 |
	    (uint32_t)b[len - 6] << 16 | (uint32_t)b[len - 5] << 24;
	size_t rstart = len - 8 - rlen;
	/* the keys are the record's last string: a one-byte length (< 128) */
	size_t kstart = (size_t)((const unsigned char *)rec.sort - b) - 1;
	ck_assert_uint_lt(rec.sort_len, 128);
	ck_assert_uint_eq(kstart + 1 + rec.sort_len, len - 8);
	for (int flag4 = 0; flag4 < 2; flag4++) {
		size_t nlen = kstart + 8;
		unsigned char *v2 = malloc(nlen);
		memcpy(v2, b, kstart);
		v2[3] = 2;
		v2[rstart] = flag4 ? b[rstart] : (unsigned char)(b[rstart] & ~4u);
		put_le32(v2 + kstart, (uint32_t)(kstart - rstart));
		put_le32(v2 + kstart + 4, mail_cache_crc32(v2 + rstart, kstart - rstart));
		put_le32(v2 + 4, (uint32_t)(nlen - 12));
		put_le32(v2 + 8, mail_cache_crc32(v2 + 12, nlen - 12));
		struct mail_cache *c = NULL;
		struct mail_cache_search r2;
		if (flag4) {
			ck_assert_int_eq(mail_cache_search_get(v2, nlen, &r2), -1);
			ck_assert_int_eq(mail_cache_parse(v2, nlen, &c), -1);
		} else {
			ck_assert_int_eq(mail_cache_search_get(v2, nlen, &r2), 0);
			ck_assert_ptr_null(r2.sort);
			ck_assert_uint_eq(r2.n, rec.n);
			ck_assert_int_eq(mail_cache_parse(v2, nlen, &c), 0);
			mail_cache_free(&c);
		}
		free(v2);
	}
	mm_buf_free(&blob);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("mailsort");
	TCase *tc = tcase_create("sort");
	tcase_add_loop_test(tc, test_base_subject, 0, sizeof(bcases) / sizeof(bcases[0]));
	tcase_add_test(tc, test_sort_text);
	tcase_add_loop_test(tc, test_addr_keys, 0, sizeof(acases) / sizeof(acases[0]));
	tcase_add_test(tc, test_sort);
	suite_add_tcase(s, tc);
	tc = tcase_create("thread");
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_ids, 0, sizeof(icases) / sizeof(icases[0]));
	tcase_add_loop_test(tc, test_thread, 0, sizeof(thcases) / sizeof(thcases[0]));
	tcase_add_test(tc, test_thread_deep);
	suite_add_tcase(s, tc);
	tc = tcase_create("cache");
	tcase_add_loop_test(tc, test_cache_keys, 0, sizeof(kcases) / sizeof(kcases[0]));
	tcase_add_test(tc, test_cache_keys_long);
	tcase_add_test(tc, test_cache_keys_v2);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
