/* check_searchmem.c: the search records in memory (src/imap/imap-searchmem.c)
 * under their memory bound: a chunk that does not fit drops the whole
 * tables of other mailboxes, least recently searched first, but not one
 * that a SEARCH holds; messages in memory ([limits] max_memory taken by
 * lib/membudget.h) make the tables give way at the next SEARCH; the gauge
 * never goes over the bound, and what a table still holds answers right
 * (what it dropped answers "unknown": the store is read). */
#include "imap/imap-searchmem.h"
#include "lib/membudget.h"
#include "lib/util.h"
#include "mail/decode.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIMIT   (4u * 1024 * 1024)     /* max_memory: the tables get 1 MiB */
#define NMSG    300                    /* ~1.1 KiB records (sort keys too): ~330 KiB a table */
#define UIDV    7

static char *blobs[NMSG];

static void
str_key(const struct mail_cache_sort_str *k, const char *want)
{
	ck_assert_msg(k->len == strlen(want) && memcmp(k->v, want, k->len) == 0,
	    "key %.*s, want %s", (int)k->len, k->v, want);
}
static size_t lens[NMSG];
static uint32_t uids[NMSG];

/* Messages 1..NMSG of table t, each with a subject of some 900 bytes. */
static void
make_blobs(int t)
{
	for (int i = 0; i < NMSG; i++) {
		struct mm_buf msg, out;
		mm_buf_init(&msg);
		mm_buf_init(&out);
		mm_buf_printf(&msg, "From: a@example.org\r\nSubject: Table%d Msg%d", t, i + 1);
		for (int k = 0; k < 80; k++)
			mm_buf_printf(&msg, "\r\n filler%03d", k);
		mm_buf_printf(&msg, "\r\nDate: 1 Jan 2024 10:00:00 +0000\r\n\r\nbody\r\n");
		mail_cache_build(msg.data, msg.len, &out);
		free(blobs[i]);
		blobs[i] = out.data;
		lens[i] = out.len;
		uids[i] = (uint32_t)i + 1;
		mm_buf_free(&msg);
	}
}

static void
fill(struct imap_searchmem *sm, int t)
{
	make_blobs(t);
	imap_searchmem_add(sm, UIDV, 0, NMSG, uids, blobs, lens, NMSG);
}

/* 1: the table holds table t's record of every message (its subject
 * right); 0: it holds none; anything between fails. */
static int
holds(struct imap_searchmem *sm, int t)
{
	struct imap_searchmem_ver *v = imap_searchmem_get(sm);
	int known = 0;
	for (int i = 0; i < NMSG; i++) {
		struct mail_cache_search r;
		int got = imap_searchmem_find(v, UIDV, (uint32_t)i + 1, &r);
		if (got < 0)
			continue;
		ck_assert_int_eq(got, 1);
		char want[32];
		snprintf(want, sizeof(want), "table%d msg%d filler", t, i + 1);
		bool found = false;
		for (size_t e = 0; e < r.n; e++)
			if (r.e[e].len >= strlen(want) && memcmp(r.e[e].v, want, strlen(want)) == 0)
				found = true;
		ck_assert_msg(found, "table %d uid %d: no subject %s", t, i + 1, want);
		known++;
	}
	imap_searchmem_ver_unref(&v);
	ck_assert(known == 0 || known == NMSG);
	return known == NMSG;
}

/* n new tables, each filled and searched in turn (0 the least recently). */
static void
open_tables(struct imap_searchmem **t, int n)
{
	for (int i = 0; i < n; i++) {
		t[i] = imap_searchmem_new();
		fill(t[i], i);
		ck_assert_int_eq(holds(t[i], i), 1);
	}
}

static void
close_tables(struct imap_searchmem **t, int n)
{
	for (int i = 0; i < n; i++) {
		imap_searchmem_close(t[i]);
		imap_searchmem_unref(&t[i]);
	}
	ck_assert_uint_eq(imap_searchmem_bytes(), 0);
}

static void
setup(void)
{
	membudget_reset();
	membudget_set_limit(LIMIT);
}

static void
teardown(void)
{
	for (int i = 0; i < NMSG; i++) {
		free(blobs[i]);
		blobs[i] = NULL;
	}
	membudget_reset();
}

/* Three tables of ~330 KiB under a 1 MiB bound, then a fourth: the least
 * recently searched goes, the others stay. */
START_TEST(test_lru_evicted)
{
	struct imap_searchmem *t[4];
	open_tables(t, 3);
	t[3] = imap_searchmem_new();
	uint64_t three = imap_searchmem_bytes();
	ck_assert_uint_gt(three, 3 * NMSG * 1000);
	ck_assert_uint_le(three, LIMIT / 4);
	ck_assert_int_eq(holds(t[0], 0), 1);          /* 1 is the oldest now */
	fill(t[3], 3);
	ck_assert_uint_le(imap_searchmem_bytes(), LIMIT / 4);
	ck_assert_int_eq(holds(t[3], 3), 1);
	ck_assert_int_eq(holds(t[1], 1), 0);
	ck_assert_int_eq(holds(t[0], 0), 1);
	ck_assert_int_eq(holds(t[2], 2), 1);
	/* the dropped table is built again by its next SEARCH (2 goes) */
	ck_assert_int_eq(holds(t[0], 0), 1);
	ck_assert_int_eq(holds(t[3], 3), 1);
	fill(t[1], 1);
	ck_assert_int_eq(holds(t[1], 1), 1);
	ck_assert_int_eq(holds(t[2], 2), 0);
	ck_assert_uint_le(imap_searchmem_bytes(), LIMIT / 4);
	close_tables(t, 4);
}
END_TEST

/* A table whose version a SEARCH holds is not dropped for another's
 * chunk: the next least recently searched one is. */
START_TEST(test_held_kept)
{
	struct imap_searchmem *t[4];
	open_tables(t, 3);
	t[3] = imap_searchmem_new();
	struct imap_searchmem_ver *held = imap_searchmem_get(t[0]);
	ck_assert_int_eq(holds(t[1], 1), 1);
	ck_assert_int_eq(holds(t[2], 2), 1);           /* 0 is the oldest, held */
	fill(t[3], 3);
	ck_assert_int_eq(holds(t[1], 1), 0);
	ck_assert_int_eq(holds(t[2], 2), 1);
	ck_assert_int_eq(holds(t[3], 3), 1);
	ck_assert_int_eq(imap_searchmem_find(held, UIDV, 5, NULL), 1);
	imap_searchmem_ver_unref(&held);
	ck_assert_int_eq(holds(t[0], 0), 1);
	ck_assert_uint_le(imap_searchmem_bytes(), LIMIT / 4);
	close_tables(t, 4);
}
END_TEST

/* Messages take max_memory: the next SEARCH leaves the tables only what
 * the messages leave (its own table kept); a new chunk that does not fit
 * beside a held table is not kept, and drops the table once it is not
 * held. */
START_TEST(test_messages_first)
{
	struct imap_searchmem *t[3];
	open_tables(t, 3);
	uint64_t msgs = LIMIT - 400u * 1024;            /* 400 KiB left: one table */
	membudget_charge(msgs);
	ck_assert_int_eq(holds(t[1], 1), 1);            /* a SEARCH in 1 */
	ck_assert_uint_le(imap_searchmem_bytes(), LIMIT - msgs);
	ck_assert_int_eq(holds(t[0], 0), 0);
	ck_assert_int_eq(holds(t[2], 2), 0);
	struct imap_searchmem_ver *held = imap_searchmem_get(t[1]);
	fill(t[2], 2);                  /* no room beside 1, which is held */
	ck_assert_int_eq(holds(t[2], 2), 0);
	ck_assert_int_eq(holds(t[1], 1), 1);
	imap_searchmem_ver_unref(&held);
	fill(t[2], 2);                  /* 1 is not held now: it gives way */
	ck_assert_int_eq(holds(t[2], 2), 1);
	ck_assert_int_eq(holds(t[1], 1), 0);
	ck_assert_uint_le(imap_searchmem_bytes(), LIMIT - msgs);
	membudget_release(msgs);
	fill(t[1], 1);
	ck_assert_int_eq(holds(t[2], 2), 1);
	ck_assert_int_eq(holds(t[1], 1), 1);
	close_tables(t, 3);
}
END_TEST

/* imap_searchmem_find_at with one position gives what imap_searchmem_find
 * gives, whatever the order of the UIDs: two chunks with a gap between
 * them, UIDs missing inside one, a message without a record. */
static void
same_at(const struct imap_searchmem_ver *v, struct imap_searchmem_pos *pos, uint32_t uid)
{
	struct mail_cache_search a, b;
	int want = imap_searchmem_find(v, UIDV, uid, &a);
	int got = imap_searchmem_find_at(v, UIDV, uid, pos, &b);
	ck_assert_msg(got == want, "uid %u: %d, want %d", uid, got, want);
	if (want == 1) {
		ck_assert_uint_eq(a.n, b.n);
		for (size_t e = 0; e < a.n; e++)
			ck_assert_ptr_eq(a.e[e].v, b.e[e].v);
	}
	ck_assert_int_eq(imap_searchmem_find_at(v, UIDV + 1, uid, pos, NULL), -1);
}

START_TEST(test_find_at)
{
	struct imap_searchmem *sm = imap_searchmem_new();
	uint32_t u1[50], u2[150];
	char *b1[50];
	size_t l1[50];

	make_blobs(0);
	for (int i = 0; i < 50; i++) {          /* (0, 100]: the odd UIDs */
		u1[i] = (uint32_t)(2 * i + 1);
		b1[i] = u1[i] == 51 ? NULL : blobs[u1[i] - 1];
		l1[i] = u1[i] == 51 ? 0 : lens[u1[i] - 1];
	}
	for (int i = 0; i < 150; i++)           /* (150, 300]: all */
		u2[i] = (uint32_t)(151 + i);
	imap_searchmem_add(sm, UIDV, 0, 100, u1, b1, l1, 50);
	imap_searchmem_add(sm, UIDV, 150, 300, u2, blobs + 150, lens + 150, 150);
	struct imap_searchmem_ver *v = imap_searchmem_get(sm);
	struct imap_searchmem_pos pos = { 0, 0 };
	int kinds[3] = { 0, 0, 0 };
	for (uint32_t u = 1; u <= 310; u++) {
		kinds[imap_searchmem_find(v, UIDV, u, NULL) + 1]++;
		same_at(v, &pos, u);
	}
	ck_assert_int_eq(kinds[0], 50 + 50 + 10);   /* even, the gap, past the end */
	ck_assert_int_eq(kinds[1], 1);              /* 51 */
	ck_assert_int_eq(kinds[2], 49 + 150);
	for (uint32_t u = 310; u >= 1; u--)
		same_at(v, &pos, u);
	uint32_t x = 12345;
	for (int i = 0; i < 2000; i++) {
		x = x * 1103515245u + 12345u;
		same_at(v, &pos, 1 + (x >> 8) % 310);
	}
	imap_searchmem_ver_unref(&v);
	imap_searchmem_close(sm);
	imap_searchmem_unref(&sm);
	ck_assert_uint_eq(imap_searchmem_bytes(), 0);
}
END_TEST

/* The sort keys (cache version 3) stay with their record, in a chunk
 * built from blobs and in the smaller copy left when UIDs vanish: each
 * still reads, and is its own message's. */
static void
keys_hold(const struct imap_searchmem_ver *v, uint32_t uid)
{
	struct mail_cache_search r;
	struct mail_cache_sort k;
	char want[32];
	ck_assert_int_eq(imap_searchmem_find(v, UIDV, uid, &r), 1);
	ck_assert_ptr_nonnull(r.sort);
	ck_assert(mail_cache_sort_get(r.sort, r.sort_len, &k));
	snprintf(want, sizeof(want), "TABLE0 MSG%u FILLER", uid);
	ck_assert_msg(k.text[MAIL_CST_SUBJECT].len > strlen(want) &&
	    memcmp(k.text[MAIL_CST_SUBJECT].v, want, strlen(want)) == 0,
	    "uid %u: subject key %.*s", uid, (int)k.text[MAIL_CST_SUBJECT].len,
	    k.text[MAIL_CST_SUBJECT].v);
	str_key(&k.text[MAIL_CST_FROM], "A");
	str_key(&k.text[MAIL_CST_DISPLAYFROM], "A@EXAMPLE.ORG");
	ck_assert(k.has_date);
}

START_TEST(test_sort_keys_kept)
{
	struct imap_searchmem *sm = imap_searchmem_new();
	fill(sm, 0);
	struct imap_searchmem_ver *v = imap_searchmem_get(sm);
	for (uint32_t u = 1; u <= NMSG; u++)
		keys_hold(v, u);
	imap_searchmem_ver_unref(&v);
	uint32_t gone[NMSG / 3];
	for (size_t i = 0; i < NMSG / 3; i++)
		gone[i] = (uint32_t)(3 * i + 2);
	struct store_index idx;
	memset(&idx, 0, sizeof(idx));
	uint64_t before = imap_searchmem_bytes();
	imap_searchmem_refresh(sm, NULL, &idx, NMSG, gone, NMSG / 3, false);
	ck_assert_uint_lt(imap_searchmem_bytes(), before - NMSG / 3 * 1000);
	v = imap_searchmem_get(sm);
	for (uint32_t u = 1; u <= NMSG; u++) {
		if (u % 3 == 2)
			ck_assert_int_eq(imap_searchmem_find(v, UIDV, u, NULL), -1);
		else
			keys_hold(v, u);
	}
	imap_searchmem_ver_unref(&v);
	imap_searchmem_close(sm);
	imap_searchmem_unref(&sm);
	ck_assert_uint_eq(imap_searchmem_bytes(), 0);
}
END_TEST

static Suite *
searchmem_suite(void)
{
	Suite *s = suite_create("searchmem");
	TCase *tc = tcase_create("bound");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_lru_evicted);
	tcase_add_test(tc, test_held_kept);
	tcase_add_test(tc, test_messages_first);
	tcase_add_test(tc, test_find_at);
	tcase_add_test(tc, test_sort_keys_kept);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(searchmem_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
