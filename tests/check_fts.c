/* check_fts.c: the full-text index: the trigrams of a message and of a
 * needle (mail/fts.h), and the index the store keeps of them
 * (store-fts.c): candidates after delivery, expunge, COPY, MOVE, mailbox
 * delete, messages too big to index, and a store whose messages predate
 * the index. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/util.h"
#include "mail/decode.h"
#include "mail/fts.h"
#include "store/store.h"

const char *__lsan_default_suppressions(void);
const char *
__lsan_default_suppressions(void)
{
	return "leak:libdb-5.3.so\n";
}

static bool
has_term(const uint32_t *v, size_t n, const char *tri)
{
	uint32_t t = mail_fts_term((const unsigned char *)tri);
	for (size_t i = 0; i < n; i++)
		if (v[i] == t)
			return true;
	return false;
}

static bool
has_word(const uint32_t *v, size_t n, const char *w)
{
	for (size_t i = 0; i + 3 <= strlen(w); i++)
		if (!has_term(v, n, w + i))
			return false;
	return true;
}

/* The index folds the body once where the scan folds it twice
 * (mail_fts_terms): folding what is folded must change nothing, for every
 * character (each scalar value's UTF-8) and for bytes that are not UTF-8
 * (read as windows-1252). */
START_TEST(fold_idempotent)
{
	struct mm_buf in, once, twice;
	mm_buf_init(&in);
	mm_buf_init(&once);
	mm_buf_init(&twice);
	for (uint32_t cp = 0; cp <= 0x10ffff; cp++) {
		if (cp >= 0xd800 && cp <= 0xdfff)
			continue;
		in.len = once.len = twice.len = 0;
		mm_buf_append_utf8(&in, cp);
		mail_text_fold(in.data, in.len, &once);
		mail_text_fold(once.data, once.len, &twice);
		ck_assert_msg(once.len == twice.len && memcmp(once.data, twice.data, once.len) == 0,
		    "U+%04X folds again", (unsigned)cp);
	}
	/* every byte alone, and pseudo-random byte strings */
	uint32_t x = 2463534242u;
	for (int round = 0; round < 20000; round++) {
		in.len = once.len = twice.len = 0;
		size_t n = round < 256 ? 1 : 1 + (round % 24);
		for (size_t i = 0; i < n; i++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			mm_buf_appendc(&in, (char)(round < 256 ? round : (int)(x & 0xff)));
		}
		mail_text_fold(in.data, in.len, &once);
		mail_text_fold(once.data, once.len, &twice);
		ck_assert(once.len == twice.len && memcmp(once.data, twice.data, once.len) == 0);
	}
	mm_buf_free(&in);
	mm_buf_free(&once);
	mm_buf_free(&twice);
}
END_TEST

START_TEST(terms_decoded_folded)
{
	static const char msg[] =
	    "Subject: Hello Header\r\n"
	    "Content-Type: text/plain; charset=iso-8859-1\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
	    "ZANZI=\r\nBAR K=C4SE\r\n";
	uint32_t *v;
	size_t n;
	ck_assert(mail_fts_terms(msg, strlen(msg), &v, &n));
	ck_assert_uint_gt(n, 0);
	for (size_t i = 1; i < n; i++)
		ck_assert_uint_lt(v[i - 1], v[i]);          /* ascending, distinct */
	ck_assert(has_word(v, n, "zanzibar"));             /* QP soft break joined, folded */
	ck_assert(has_word(v, n, "k\xc3\xa4se"));          /* Latin-1 to UTF-8, folded */
	ck_assert(has_word(v, n, "hello header"));         /* TEXT: the header lines */
	ck_assert(!has_term(v, n, "ZAN"));
	ck_assert(!has_term(v, n, "=\r\n"));
	free(v);
}
END_TEST

START_TEST(terms_base64)
{
	static const char msg[] =
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\n"
	    "zqXOu8+Fzrwgc3RyYcOfZQo=\r\n";               /* "Υλυμ straße\n" */
	uint32_t *v;
	size_t n;
	ck_assert(mail_fts_terms(msg, strlen(msg), &v, &n));
	ck_assert(has_word(v, n, "stra\xc3\x9f" "e"));
	ck_assert(has_word(v, n, "\xcf\x85\xce\xbb\xcf\x85\xce\xbc"));   /* folded Greek */
	ck_assert(!has_word(v, n, "zqxo"));
	free(v);
}
END_TEST

START_TEST(terms_bounded)
{
	struct mm_buf b;
	uint32_t *v = (uint32_t *)1;
	size_t n = 1;
	mm_buf_init(&b);
	mm_buf_append(&b, "Subject: big\r\n\r\n", 16);
	while (b.len <= MAIL_FTS_TEXT_MAX + 100)
		mm_buf_append(&b, "abcdefgh ", 9);
	ck_assert(!mail_fts_terms(b.data, b.len, &v, &n));   /* too much text */
	ck_assert_ptr_null(v);
	ck_assert_uint_eq(n, 0);
	b.len = 0;
	mm_buf_append(&b, "Subject: many\r\n\r\n", 17);
	for (unsigned i = 0; i < 5000; i++)           /* few bytes, many trigrams */
		mm_buf_printf(&b, "%c%c%c ", 'a' + i % 26, 'a' + i / 26 % 26, 'a' + i / 676);
	ck_assert(!mail_fts_terms(b.data, b.len, &v, &n));
	mm_buf_free(&b);
}
END_TEST

/* What one message put in the set of trigrams (a full set too) is never
 * in the next one's terms, and the terms come out sorted. */
START_TEST(terms_set_reused)
{
	static const char small[] = "Subject: tiny\r\n\r\nzanzibar\r\n";
	uint32_t *first, *v;
	size_t nfirst, n;
	struct mm_buf b;

	ck_assert(mail_fts_terms(small, strlen(small), &first, &nfirst));
	mm_buf_init(&b);
	mm_buf_append(&b, "Subject: many\r\n\r\n", 17);
	for (unsigned i = 0; i < 5000; i++)
		mm_buf_printf(&b, "%c%c%c ", 'a' + i % 26, 'a' + i / 26 % 26, 'a' + i / 676);
	for (int round = 0; round < 3; round++) {
		ck_assert(!mail_fts_terms(b.data, b.len, &v, &n));   /* fills the set */
		ck_assert(mail_fts_terms(small, strlen(small), &v, &n));
		ck_assert_uint_eq(n, nfirst);
		ck_assert(memcmp(v, first, n * sizeof(*v)) == 0);
		free(v);
	}
	free(first);
	/* a message just under the bound after one over it: all its terms */
	b.len = 0;
	mm_buf_append(&b, "Subject: x\r\n\r\n", 14);
	for (unsigned i = 0; i < 900; i++)
		mm_buf_printf(&b, "%c%c%c ", 'a' + i % 26, 'a' + i / 26 % 26, 'a' + i / 676);
	ck_assert(mail_fts_terms(b.data, b.len, &first, &nfirst));
	ck_assert_uint_gt(nfirst, 900);
	for (size_t i = 1; i < nfirst; i++)
		ck_assert_uint_lt(first[i - 1], first[i]);
	ck_assert(has_word(first, nfirst, "zaa"));
	free(first);
	mm_buf_free(&b);
}
END_TEST

START_TEST(needle_terms)
{
	uint32_t t[MAIL_FTS_NEEDLE_TERMS];
	ck_assert_uint_eq(mail_fts_needle("ab", 2, t, MAIL_FTS_NEEDLE_TERMS), 0);
	ck_assert_uint_eq(mail_fts_needle("abc", 3, t, MAIL_FTS_NEEDLE_TERMS), 1);
	ck_assert_uint_eq(t[0], mail_fts_term((const unsigned char *)"abc"));
	ck_assert_uint_eq(mail_fts_needle("aaaaaa", 6, t, MAIL_FTS_NEEDLE_TERMS), 1);
	ck_assert_uint_eq(mail_fts_needle("zanzibar", 8, t, 4), 4);
	ck_assert(mail_fts_fold_stable("k\xc3\xa4se", 5));
	ck_assert(!mail_fts_fold_stable("K\xc3\xa4se", 5));
}
END_TEST

/* ---- the store ---- */

static char tmpdir[64];
static struct store *st;
static const char *user = "alice@example.org";


static void
open_store(void)
{
	char err[256];
	ck_assert_msg(store_open(tmpdir, STORE_OPEN_CREATE | STORE_OPEN_RECOVER, &st,
	    err, sizeof(err)) == STORE_OK, "store_open: %s", err);
}

static void
setup(void)
{
	char hash[256];
	strcpy(tmpdir, "/tmp/check_fts.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	open_store();
	ck_assert_int_eq(store_hash_password("secret", hash, sizeof(hash)), STORE_OK);
	ck_assert_int_eq(store_user_add(st, user, hash), STORE_OK);
}

static void
teardown(void)
{
	store_close(&st);
	mm_rmtree(tmpdir);
}

static uint32_t
deliver(const char *mbox, const char *text)
{
	struct store_rcpt rc = { .user = user, .mailbox = mbox };
	ck_assert_int_eq(store_deliver(st, &rc, 1, text, strlen(text), 1700000000,
	    NULL, 0, NULL, 0, false), STORE_OK);
	ck_assert_int_eq(rc.result_r, STORE_OK);
	return rc.uid_r;
}

static uint32_t
mbox_id(const char *name)
{
	struct store_mailbox mb;
	ck_assert_int_eq(store_mailbox_get(st, user, name, &mb), STORE_OK);
	return mb.id;
}

/* The candidates for needle in mbox as "uid,uid,..." ("-" not covered),
 * with the UIDs below the coverage mark as "<n ". */
static char *
cands(const char *mbox, const char *needle)
{
	static char out[256];
	uint32_t t[MAIL_FTS_NEEDLE_TERMS], *uids, from;
	size_t n, nt = mail_fts_needle(needle, strlen(needle), t, MAIL_FTS_NEEDLE_TERMS);
	int r = store_fts_candidates(st, mbox_id(mbox), 100000, t, nt, &uids, &n, &from);
	if (r == STORE_NOTFOUND)
		return strcpy(out, "-");
	ck_assert_int_eq(r, STORE_OK);
	size_t len = 0;
	out[0] = '\0';
	if (from > 1)
		len += (size_t)snprintf(out + len, sizeof(out) - len, "<%u ", from);
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(out + len, sizeof(out) - len, "%s%u", i ? "," : "", uids[i]);
	free(uids);
	return out;
}

static const char m1[] = "Subject: one\r\n\r\nthe rare word Zanzibar\r\n";
static const char m2[] = "Subject: two\r\n\r\nnothing rare here\r\n";
static const char m3[] = "Subject: zanzibar in the header\r\n\r\nplain\r\n";

START_TEST(store_candidates)
{
	ck_assert_uint_eq(deliver(NULL, m1), 1);
	ck_assert_uint_eq(deliver(NULL, m2), 2);
	ck_assert_uint_eq(deliver(NULL, m3), 3);
	ck_assert_str_eq(cands("INBOX", "zanzibar"), "1,3");
	ck_assert_str_eq(cands("INBOX", "anzib"), "1,3");     /* a fragment */
	ck_assert_str_eq(cands("INBOX", "rare"), "1,2");
	ck_assert_str_eq(cands("INBOX", "rare word"), "1");
	ck_assert_str_eq(cands("INBOX", "qqq"), "");
	uint32_t two = 2;
	ck_assert_int_eq(store_expunge(st, user, "INBOX", &two, 1), STORE_OK);
	ck_assert_str_eq(cands("INBOX", "rare"), "1");
	ck_assert_int_eq(store_mailbox_create(st, user, "Other", 0), STORE_OK);
	uint32_t uids[2] = { 1, 3 }, nu[2];
	ck_assert_int_eq(store_copy(st, user, "INBOX", uids, 2, "Other", nu, NULL), STORE_OK);
	ck_assert_str_eq(cands("Other", "zanzibar"), "1,2");
	ck_assert_int_eq(store_move(st, user, "INBOX", &uids[1], 1, "Other", nu, NULL), STORE_OK);
	ck_assert_str_eq(cands("INBOX", "zanzibar"), "1");
	ck_assert_str_eq(cands("Other", "zanzibar"), "1,2,3");
	/* a mailbox deleted and made again has a new id and no postings */
	ck_assert_int_eq(store_mailbox_delete(st, user, "Other"), STORE_OK);
	ck_assert_int_eq(store_mailbox_create(st, user, "Other", 0), STORE_OK);
	ck_assert_str_eq(cands("Other", "zanzibar"), "-");
	ck_assert_uint_eq(deliver("Other", m2), 1);
	ck_assert_str_eq(cands("Other", "zanzibar"), "");
}
END_TEST

START_TEST(store_not_indexed)
{
	struct mm_buf b;
	mm_buf_init(&b);
	mm_buf_append(&b, "Subject: big\r\n\r\n", 16);
	while (b.len <= MAIL_FTS_TEXT_MAX + 100)
		mm_buf_append(&b, "abcdefgh ", 9);
	ck_assert_uint_eq(deliver(NULL, m2), 1);
	struct store_rcpt rc = { .user = user };
	ck_assert_int_eq(store_deliver(st, &rc, 1, b.data, b.len, 1700000000,
	    NULL, 0, NULL, 0, false), STORE_OK);
	ck_assert_uint_eq(rc.uid_r, 2);
	mm_buf_free(&b);
	ck_assert_str_eq(cands("INBOX", "zanzibar"), "2");   /* always a candidate */
	ck_assert_int_eq(store_mailbox_create(st, user, "Other", 0), STORE_OK);
	uint32_t two = 2, nu;
	ck_assert_int_eq(store_copy(st, user, "INBOX", &two, 1, "Other", &nu, NULL), STORE_OK);
	ck_assert_str_eq(cands("Other", "zanzibar"), "1");
	ck_assert_int_eq(store_expunge(st, user, "INBOX", &two, 1), STORE_OK);
	ck_assert_str_eq(cands("INBOX", "zanzibar"), "");
}
END_TEST

START_TEST(store_older)
{
	char path[128];
	ck_assert_uint_eq(deliver(NULL, m1), 1);
	ck_assert_uint_eq(deliver(NULL, m2), 2);
	/* a store from before the index: its files do not exist */
	store_close(&st);
	snprintf(path, sizeof(path), "%s/fts.db", tmpdir);
	ck_assert_int_eq(unlink(path), 0);
	snprintf(path, sizeof(path), "%s/ftsmeta.db", tmpdir);
	ck_assert_int_eq(unlink(path), 0);
	open_store();
	ck_assert_str_eq(cands("INBOX", "zanzibar"), "-");   /* scan it */
	ck_assert_uint_eq(deliver(NULL, m3), 3);
	ck_assert_str_eq(cands("INBOX", "zanzibar"), "<3 3");  /* 1 and 2 always */
	ck_assert_str_eq(cands("INBOX", "nothing"), "<3 ");
}
END_TEST

/* Bitmaps are kept per block of 256 UIDs, the newest block pending: a
 * lookup spans built blocks and the pending lists; expunges clear bits. */
START_TEST(store_blocks)
{
	char want[256] = "";
	size_t len = 0;
	for (uint32_t i = 1; i <= 1300; i++) {
		bool rare = i % 500 == 7 || i == 512 || i == 513;
		uint32_t uid = deliver(NULL, rare ? m1 : m2);
		ck_assert_uint_eq(uid, i);
		if (rare)
			len += (size_t)snprintf(want + len, sizeof(want) - len, "%s%u", len ? "," : "", i);
	}
	ck_assert_str_eq(cands("INBOX", "zanzibar"), want);
	ck_assert_str_eq(want, "7,507,512,513,1007");
	uint32_t gone = 512;
	ck_assert_int_eq(store_expunge(st, user, "INBOX", &gone, 1), STORE_OK);
	ck_assert_str_eq(cands("INBOX", "zanzibar"), "7,507,513,1007");
}
END_TEST

static Suite *
fts_suite(void)
{
	Suite *s = suite_create("fts");
	TCase *tc = tcase_create("terms");
	tcase_add_test(tc, fold_idempotent);
	tcase_add_test(tc, terms_decoded_folded);
	tcase_add_test(tc, terms_base64);
	tcase_add_test(tc, terms_bounded);
	tcase_add_test(tc, terms_set_reused);
	tcase_add_test(tc, needle_terms);
	suite_add_tcase(s, tc);
	tc = tcase_create("store");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, store_candidates);
	tcase_add_test(tc, store_not_indexed);
	tcase_add_test(tc, store_older);
	tcase_add_test(tc, store_blocks);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(fts_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
