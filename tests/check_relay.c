/* check_relay.c: the outbound queue in the store (delivery + queueing in
 * one transaction sharing the body, per-domain entries, update, flush,
 * delete, body references), the DSN builder (RFC 3464 structure, exact
 * fields), enhanced status codes from replies, and the retry schedule. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "relay/relay.h"
#include "store/store.h"

static char dir[64];
static struct store *st;

static void
setup(void)
{
	char err[256];
	snprintf(dir, sizeof(dir), "/tmp/check_relay.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(store_open(dir, STORE_OPEN_CREATE | STORE_OPEN_RECOVER, &st,
	    err, sizeof(err)), STORE_OK);
	ck_assert_int_eq(store_user_add(st, "bob@example.org", "$6$saltsalt$" "qFmFH.bQmmtXzyBY0s9v7Oicd2z4XSIecDzlB5KiA2/jctKu9YterLp8wwnSq.qc.eoxqOmSuNp2xS0ktL3nh/"), STORE_OK);
}

static void
teardown(void)
{
	char cmd[128];
	store_close(&st);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

#define RP "Return-Path: <alice@example.org>\r\n"
static const char MSG[] = RP "Received: by test\r\nSubject: hi\r\n\r\nbody\r\n";

struct collect {
	struct store_qentry *v[8];
	size_t n;
};

static int
collect_cb(void *arg, const struct store_qentry *e)
{
	struct collect *c = arg;
	struct store_qentry *copy;
	ck_assert_int_eq(store_queue_get(st, e->id, &copy), STORE_OK);
	c->v[c->n++] = copy;
	return 0;
}

static void
collect_free(struct collect *c)
{
	for (size_t i = 0; i < c->n; i++)
		store_qentry_free(&c->v[i]);
	c->n = 0;
}

struct sched {
	uint64_t ids[8];
	time_t next[8];
	size_t n;
};

static int
sched_cb(void *arg, uint64_t id, time_t next)
{
	struct sched *s = arg;
	s->ids[s->n] = id;
	s->next[s->n++] = next;
	return 0;
}

START_TEST(test_deliver_and_queue)
{
	struct store_rcpt rc = { .user = "bob@example.org" };
	const char *remote[] = { "X@Remote.TEST", "y@remote.test", "z@other.test" };
	struct store_qnew q = { .sender = "alice@example.org", .rcpts = remote, .nrcpts = 3,
	    .flags = STORE_QF_8BIT, .skip = strlen(RP) };
	uint64_t ids[4];
	size_t nids;
	uint32_t refs;
	struct collect c = { .n = 0 };

	ck_assert_int_eq(store_deliver_queue(st, &rc, 1, MSG, strlen(MSG), 1000, NULL, 0,
	    &q, ids, 4, &nids), STORE_OK);
	ck_assert_int_eq(rc.result_r, STORE_OK);
	ck_assert_uint_eq(nids, 2);
	ck_assert_uint_lt(ids[0], ids[1]);

	ck_assert_int_eq(store_queue_list(st, collect_cb, &c), STORE_OK);
	ck_assert_uint_eq(c.n, 2);
	struct store_qentry *a = c.v[0], *b = c.v[1];
	ck_assert_uint_eq(a->id, ids[0]);
	ck_assert_str_eq(a->sender, "alice@example.org");
	ck_assert_str_eq(a->domain, "remote.test");
	ck_assert_uint_eq(a->nrcpts, 2);
	/* the local part is kept as given, the domain lower-cased */
	ck_assert_str_eq(a->rcpts[0].address, "X@remote.test");
	ck_assert_str_eq(a->rcpts[1].address, "y@remote.test");
	ck_assert_int_eq(a->rcpts[0].state, STORE_Q_PENDING);
	ck_assert_str_eq(b->domain, "other.test");
	ck_assert_uint_eq(b->nrcpts, 1);
	ck_assert_uint_eq(a->skip, strlen(RP));
	ck_assert_uint_eq(a->size, strlen(MSG) - strlen(RP));
	ck_assert_uint_eq(a->flags, STORE_QF_8BIT);
	ck_assert_uint_eq(a->attempts, 0);
	ck_assert_uint_eq(a->body_id, b->body_id);
	ck_assert(a->next_attempt <= time(NULL) && a->next_attempt == a->created);
	/* one body: the local copy and the two entries */
	ck_assert_int_eq(store_body_refs(st, a->body_id, &refs), STORE_OK);
	ck_assert_uint_eq(refs, 3);

	/* the sent bytes are the body without our Return-Path: */
	char buf[256];
	size_t got;
	ck_assert_int_eq(store_body_read(st, a->body_id, a->skip, buf, sizeof(buf), &got),
	    STORE_OK);
	ck_assert_uint_eq(got, a->size);
	ck_assert_int_eq(memcmp(buf, "Received: by test\r\n", 19), 0);

	/* a partial result is kept */
	a->attempts = 1;
	a->next_attempt = time(NULL) + 300;
	a->rcpts[0].state = STORE_Q_DONE;
	snprintf(a->rcpts[0].reply, sizeof(a->rcpts[0].reply), "250 2.0.0 ok");
	snprintf(a->rcpts[1].reply, sizeof(a->rcpts[1].reply), "451 4.3.0 later");
	snprintf(a->error, sizeof(a->error), "451 4.3.0 later (mx[1.2.3.4])");
	snprintf(a->mta, sizeof(a->mta), "mx.remote.test");
	ck_assert_int_eq(store_queue_update(st, a), STORE_OK);
	struct store_qentry *a2;
	ck_assert_int_eq(store_queue_get(st, a->id, &a2), STORE_OK);
	ck_assert_uint_eq(a2->attempts, 1);
	ck_assert_int_eq(a2->rcpts[0].state, STORE_Q_DONE);
	ck_assert_str_eq(a2->rcpts[0].reply, "250 2.0.0 ok");
	ck_assert_int_eq(a2->rcpts[1].state, STORE_Q_PENDING);
	ck_assert_str_eq(a2->rcpts[1].reply, "451 4.3.0 later");
	ck_assert_str_eq(a2->error, "451 4.3.0 later (mx[1.2.3.4])");
	ck_assert_str_eq(a2->mta, "mx.remote.test");
	store_qentry_free(&a2);

	/* the scheduler's walk sees both, with their next attempts */
	struct sched s = { .n = 0 };
	ck_assert_int_eq(store_queue_schedule(st, sched_cb, &s), STORE_OK);
	ck_assert_uint_eq(s.n, 2);
	ck_assert_uint_eq(s.ids[0], a->id);
	ck_assert_int_eq(s.next[0], a->next_attempt);
	/* flush one, then all */
	size_t nf;
	time_t now = time(NULL);
	ck_assert_int_eq(store_queue_flush(st, a->id, now, &nf), STORE_OK);
	ck_assert_uint_eq(nf, 1);
	ck_assert_int_eq(store_queue_get(st, a->id, &a2), STORE_OK);
	ck_assert_int_eq(a2->next_attempt, now);
	store_qentry_free(&a2);
	ck_assert_int_eq(store_queue_flush(st, 0, now, &nf), STORE_OK);
	ck_assert_uint_eq(nf, 2);
	ck_assert_int_eq(store_queue_flush(st, 12345, now, &nf), STORE_NOTFOUND);

	/* the last pending recipient done: the entry goes, its body ref too */
	a->rcpts[1].state = STORE_Q_FAILED;
	ck_assert_int_eq(store_queue_update(st, a), STORE_OK);
	ck_assert_int_eq(store_queue_get(st, a->id, &a2), STORE_NOTFOUND);
	ck_assert_int_eq(store_queue_update(st, a), STORE_NOTFOUND);
	ck_assert_int_eq(store_body_refs(st, a->body_id, &refs), STORE_OK);
	ck_assert_uint_eq(refs, 2);
	/* delete: no bounce, reference released */
	ck_assert_int_eq(store_queue_delete(st, b->id), STORE_OK);
	ck_assert_int_eq(store_queue_delete(st, b->id), STORE_NOTFOUND);
	ck_assert_int_eq(store_body_refs(st, a->body_id, &refs), STORE_OK);
	ck_assert_uint_eq(refs, 1);
	collect_free(&c);
	ck_assert_int_eq(store_queue_list(st, collect_cb, &c), STORE_OK);
	ck_assert_uint_eq(c.n, 0);
}
END_TEST

START_TEST(test_remote_only_and_bad)
{
	const char *ok[] = { "x@remote.test" };
	const char *bad[] = { "x@remote.test", "no-at-sign" };
	const char *ctl[] = { "a\r\nb@remote.test" };
	struct store_qnew q = { .sender = NULL, .rcpts = ok, .nrcpts = 1 };
	uint64_t id;
	size_t n;
	struct store_qentry *e;
	uint32_t refs;

	ck_assert_int_eq(store_deliver_queue(st, NULL, 0, "x\r\n", 3, 0, NULL, 0, &q, &id, 1,
	    &n), STORE_OK);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(store_queue_get(st, id, &e), STORE_OK);
	ck_assert_str_eq(e->sender, "");
	ck_assert_int_eq(store_body_refs(st, e->body_id, &refs), STORE_OK);
	ck_assert_uint_eq(refs, 1);
	store_qentry_free(&e);
	q.rcpts = bad;
	q.nrcpts = 2;
	ck_assert_int_eq(store_deliver_queue(st, NULL, 0, "x\r\n", 3, 0, NULL, 0, &q, NULL, 0,
	    &n), STORE_INVALID);
	q.rcpts = ctl;
	q.nrcpts = 1;
	ck_assert_int_eq(store_deliver_queue(st, NULL, 0, "x\r\n", 3, 0, NULL, 0, &q, NULL, 0,
	    &n), STORE_INVALID);
	/* a local target over quota does not stop the queueing */
	struct store_rcpt rc = { .user = "bob@example.org" };
	ck_assert_int_eq(store_user_set_quota(st, "bob@example.org", 1, 0), STORE_OK);
	q.rcpts = ok;
	ck_assert_int_eq(store_deliver_queue(st, &rc, 1, "x\r\n", 3, 0, NULL, 0, &q, &id, 1,
	    &n), STORE_OK);
	ck_assert_int_eq(rc.result_r, STORE_QUOTA);
	ck_assert_uint_eq(n, 1);
}
END_TEST

/* ---- DSN ---- */

static struct store_qentry *
sample_entry(void)
{
	struct store_qentry *e = calloc(1, sizeof(*e));
	e->id = 0x2a;
	strcpy(e->sender, "alice@example.org");
	strcpy(e->domain, "remote.test");
	strcpy(e->mta, "mx.remote.test");
	e->created = 1700000000;
	e->last_attempt = 1700000100;
	e->nrcpts = 2;
	e->rcpts = calloc(2, sizeof(*e->rcpts));
	strcpy(e->rcpts[0].address, "nobody@remote.test");
	e->rcpts[0].state = STORE_Q_FAILED;
	strcpy(e->rcpts[0].reply, "550 5.1.1 <nobody@remote.test>: unknown");
	strcpy(e->rcpts[1].address, "x@remote.test");
	e->rcpts[1].state = STORE_Q_PENDING;
	strcpy(e->rcpts[1].reply, "451 4.3.0 busy");
	return e;
}

static const char ORIG[] = "Received: by x\r\nSubject: Hello\r\nFrom: a@b\r\n\r\nsecret body\r\n";

START_TEST(test_dsn_failed)
{
	struct store_qentry *e = sample_entry();
	bool which[2] = { true, false };
	size_t len;
	char *d = relay_dsn_build("mail.example.org", e, which, RELAY_DSN_FAILED, false,
	    ORIG, strlen(ORIG), 1700000200, &len);

	ck_assert_uint_eq(strlen(d), len);
	ck_assert_ptr_nonnull(strstr(d, "From: Mail Delivery System <MAILER-DAEMON@mail.example.org>\r\n"
	    "To: <alice@example.org>\r\nSubject: Undelivered Mail Returned to Sender\r\n"
	    "Date: Tue, 14 Nov 2023 22:16:40 +0000\r\n"));
	ck_assert_ptr_nonnull(strstr(d, "Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: multipart/report; report-type=delivery-status;\r\n"
	    "\tboundary=\"2a.1700000200/mail.example.org\"\r\n"));
	ck_assert_ptr_nonnull(strstr(d, "--2a.1700000200/mail.example.org\r\n"
	    "Content-Description: Delivery report\r\nContent-Type: message/delivery-status\r\n\r\n"
	    "Reporting-MTA: dns; mail.example.org\r\nX-Minimaild-Queue-ID: 2a\r\n"
	    "Arrival-Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n\r\n"
	    "Final-Recipient: rfc822; nobody@remote.test\r\nAction: failed\r\n"
	    "Status: 5.1.1\r\nRemote-MTA: dns; mx.remote.test\r\n"
	    "Diagnostic-Code: smtp; 550 5.1.1 <nobody@remote.test>: unknown\r\n"
	    "Last-Attempt-Date: Tue, 14 Nov 2023 22:15:00 +0000\r\n\r\n"));
	ck_assert_ptr_null(strstr(d, "Final-Recipient: rfc822; x@remote.test"));
	ck_assert_ptr_nonnull(strstr(d, "Content-Type: text/rfc822-headers\r\n\r\n"
	    "Received: by x\r\nSubject: Hello\r\nFrom: a@b\r\n\r\n"
	    "--2a.1700000200/mail.example.org--\r\n"));
	ck_assert_ptr_null(strstr(d, "secret body"));
	/* every line ends in CRLF */
	for (size_t i = 0; i < len; i++)
		if (d[i] == '\n')
			ck_assert(i > 0 && d[i - 1] == '\r');
	free(d);
	free(e->rcpts);
	free(e);
}
END_TEST

START_TEST(test_dsn_delayed_expired)
{
	struct store_qentry *e = sample_entry();
	bool which[2] = { false, true };
	size_t len;
	char *d = relay_dsn_build("h.test", e, which, RELAY_DSN_DELAYED, false, ORIG,
	    strlen(ORIG), 1700000200, &len);
	ck_assert_ptr_nonnull(strstr(d, "Subject: Delayed Mail (still being retried)\r\n"));
	ck_assert_ptr_nonnull(strstr(d, "Final-Recipient: rfc822; x@remote.test\r\n"
	    "Action: delayed\r\nStatus: 4.3.0\r\n"));
	free(d);
	/* expired: a temporary reply becomes 4.4.7 in a failure report */
	d = relay_dsn_build("h.test", e, which, RELAY_DSN_FAILED, true, ORIG, strlen(ORIG),
	    1700000200, &len);
	ck_assert_ptr_nonnull(strstr(d, "Action: failed\r\nStatus: 4.4.7\r\n"));
	ck_assert_ptr_nonnull(strstr(d, "Diagnostic-Code: smtp; 451 4.3.0 busy\r\n"));
	free(d);
	/* headers without a body, and with bare LF, are cleaned */
	d = relay_dsn_build("h.test", e, which, RELAY_DSN_FAILED, true, "A: b\nC: d", 9,
	    1700000200, &len);
	ck_assert_ptr_nonnull(strstr(d, "text/rfc822-headers\r\n\r\nA: bC: d\r\n\r\n--"));
	free(d);
	free(e->rcpts);
	free(e);
}
END_TEST

/* ---- replies and schedule ---- */

static const struct { const char *reply, *status; } statuses[] = {
	{ "550 5.1.1 <x@y>: unknown", "5.1.1" },
	{ "451 4.3.0 try later", "4.3.0" },
	{ "250 2.0.0 Ok: queued", "2.0.0" },
	{ "554 5.6.3", "5.6.3" },
	{ "552 5.3.4 message too big", "5.3.4" },
	{ "550 no such user", "5.0.0" },
	{ "421 service closing", "4.0.0" },
	{ "550 4.1.1 class mismatch", "5.0.0" },
	{ "550 5.1234.1 too long", "5.0.0" },
	{ "550 5.1.1x", "5.0.0" },
	{ "garbage", "4.0.0" },
	{ "", "4.0.0" },
	{ "451 4.4.1 connect failed: Connection refused (h[1.2.3.4]:25)", "4.4.1" },
};

START_TEST(test_reply_status)
{
	char status[16];
	relay_reply_status(statuses[_i].reply, status, sizeof(status));
	ck_assert_str_eq(status, statuses[_i].status);
}
END_TEST

START_TEST(test_retry_delay)
{
	ck_assert_uint_eq(relay_retry_delay(1, 300, 14400), 300);
	ck_assert_uint_eq(relay_retry_delay(2, 300, 14400), 600);
	ck_assert_uint_eq(relay_retry_delay(3, 300, 14400), 1200);
	ck_assert_uint_eq(relay_retry_delay(6, 300, 14400), 9600);
	ck_assert_uint_eq(relay_retry_delay(7, 300, 14400), 14400);
	ck_assert_uint_eq(relay_retry_delay(1000, 300, 14400), 14400);
	ck_assert_uint_eq(relay_retry_delay(1, 1, 2), 1);
	ck_assert_uint_eq(relay_retry_delay(2, 1, 2), 2);
	ck_assert_uint_eq(relay_retry_delay(9, 1, 2), 2);
	ck_assert_uint_eq(relay_retry_delay(0, 60, 60), 60);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("relay");
	TCase *tc = tcase_create("queue");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_deliver_and_queue);
	tcase_add_test(tc, test_remote_only_and_bad);
	suite_add_tcase(s, tc);
	tc = tcase_create("dsn");
	tcase_add_test(tc, test_dsn_failed);
	tcase_add_test(tc, test_dsn_delayed_expired);
	suite_add_tcase(s, tc);
	tc = tcase_create("schedule");
	tcase_add_loop_test(tc, test_reply_status, 0, sizeof(statuses) / sizeof(statuses[0]));
	tcase_add_test(tc, test_retry_delay);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
