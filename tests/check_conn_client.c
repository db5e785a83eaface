/* check_conn_client.c: the outbound connection (net/conn-client) against
 * a plain loopback socket: connect, conn's line reader (CRLF, bare LF, an
 * overlong line reported once and skipped), output, the read timeout, the
 * server's EOF, a refused connect, and client TLS set-up (plaintext input
 * discarded, a refusing setup hook, no context). The owner frees the
 * conn-client from inside its callbacks, as the relay does, so
 * AddressSanitizer sees any touch after. */
#include "lib/util.h"
#include "net/conn-client.h"
#include "net/tls.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct event_base *base;
static int lfd = -1, sfd = -1;       /* the test's listener and its accepted end */
static struct sockaddr_in laddr;

struct owner {
	struct conn_client *cc;
	unsigned events;                 /* CONN_CLIENT_* seen */
	int connected;
	int done;
	char lines[8][64];
	size_t nlines;
	int too_long;
	bool free_on_event;
	bool hold;                       /* leave input buffered */
};

static void
setup(void)
{
	base = event_base_new();
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&laddr, 0, sizeof(laddr));
	laddr.sin_family = AF_INET;
	laddr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof(laddr);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&laddr, sizeof(laddr)), 0);
	ck_assert_int_eq(listen(lfd, 4), 0);
	ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&laddr, &len), 0);
	sfd = -1;
}

static void
teardown(void)
{
	if (sfd >= 0)
		close(sfd);
	close(lfd);
	event_base_free(base);
}

static void
loop_until(volatile int *flag, int ms)
{
	uint64_t end = mm_now_ms() + (uint64_t)ms;
	while (!*flag && mm_now_ms() < end) {
		struct timeval tv = { 0, 5000 };
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
}

static void
on_input(void *arg)
{
	struct owner *o = arg;
	while (!o->hold) {
		char *line;
		size_t n;
		enum conn_line r = conn_client_getline(o->cc, 100, &line, &n);
		if (r == CONN_LINE_NEED_MORE)
			return;
		if (r == CONN_LINE_TOO_LONG) {
			o->too_long++;
			continue;
		}
		ck_assert_uint_lt(o->nlines, 8);
		ck_assert_uint_lt(n, 64);
		memcpy(o->lines[o->nlines++], line, n + 1);
		if (strcmp(line, "221 bye") == 0)
			o->done = 1;
	}
}

static void
on_event(void *arg, unsigned what)
{
	struct owner *o = arg;
	o->events |= what;
	if (what & CONN_CLIENT_CONNECTED) {
		o->connected = 1;
		return;
	}
	if (o->free_on_event) {
		conn_client_free(o->cc);
		o->cc = NULL;
	}
	o->done = 1;
}

static const struct conn_client_cbs cbs = { .on_input = on_input, .on_event = on_event };

static void
connect_owner(struct owner *o)
{
	memset(o, 0, sizeof(*o));
	o->cc = conn_client_new(base, &cbs, o);
	ck_assert_ptr_nonnull(o->cc);
	conn_client_set_timeouts(o->cc, 5, 5);
	ck_assert(conn_client_connect(o->cc, (struct sockaddr *)&laddr, sizeof(laddr)));
	loop_until(&o->connected, 3000);
	ck_assert_int_eq(o->connected, 1);
	sfd = accept(lfd, NULL, NULL);
	ck_assert_int_ge(sfd, 0);
}

static void
server_says(const char *s)
{
	ck_assert_int_eq(write(sfd, s, strlen(s)), (ssize_t)strlen(s));
}

START_TEST(test_client_lines)
{
	struct owner o;
	char big[300], got[64];

	connect_owner(&o);
	memset(big, 'x', sizeof(big));
	big[sizeof(big) - 3] = '\r';
	big[sizeof(big) - 2] = '\n';
	big[sizeof(big) - 1] = '\0';
	server_says("220 hi\r\n250-a\n");
	server_says(big);
	server_says("250 b\r\n221 bye\r\n");
	loop_until(&o.done, 3000);
	ck_assert_uint_eq(o.nlines, 4);
	ck_assert_str_eq(o.lines[0], "220 hi");
	ck_assert_str_eq(o.lines[1], "250-a");     /* a bare LF ends a line too */
	ck_assert_str_eq(o.lines[2], "250 b");
	ck_assert_str_eq(o.lines[3], "221 bye");
	ck_assert_int_eq(o.too_long, 1);
	ck_assert_uint_eq(conn_client_input_len(o.cc), 0);

	conn_client_printf(o.cc, "EHLO %s", "client.example");
	conn_client_write(o.cc, "\r\n", 2);
	ck_assert_uint_eq(conn_client_output_len(o.cc), 21);
	int flushed = 0;
	uint64_t end = mm_now_ms() + 3000;
	while (conn_client_output_len(o.cc) > 0 && mm_now_ms() < end)
		loop_until(&flushed, 10);
	ssize_t n = read(sfd, got, sizeof(got) - 1);
	ck_assert_int_eq(n, 21);
	got[n] = '\0';
	ck_assert_str_eq(got, "EHLO client.example\r\n");
	conn_client_free(o.cc);
	/* the socket went with it (closed on the loop's next turn) */
	loop_until(&flushed, 50);
	ck_assert_int_eq(read(sfd, got, sizeof(got)), 0);
}
END_TEST

START_TEST(test_client_timeout)
{
	struct owner o;
	connect_owner(&o);
	o.free_on_event = true;
	conn_client_set_timeouts(o.cc, 1, 5);
	uint64_t t0 = mm_now_ms();
	loop_until(&o.done, 4000);
	ck_assert_int_eq(o.done, 1);
	ck_assert(o.events & CONN_CLIENT_TIMEOUT);
	ck_assert_uint_ge(mm_now_ms() - t0, 900);
	ck_assert_ptr_null(o.cc);
}
END_TEST

START_TEST(test_client_eof)
{
	struct owner o;
	connect_owner(&o);
	o.free_on_event = true;
	server_says("220 hi\r\n");
	close(sfd);
	sfd = -1;
	loop_until(&o.done, 3000);
	ck_assert(o.events & CONN_CLIENT_EOF);
	ck_assert_str_eq(o.lines[0], "220 hi");
	ck_assert_ptr_null(o.cc);
}
END_TEST

START_TEST(test_client_refused)
{
	struct owner o;
	memset(&o, 0, sizeof(o));
	close(lfd);   /* nobody listens on laddr now */
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	o.free_on_event = true;
	o.cc = conn_client_new(base, &cbs, &o);
	ck_assert_ptr_nonnull(o.cc);
	if (conn_client_connect(o.cc, (struct sockaddr *)&laddr, sizeof(laddr))) {
		loop_until(&o.done, 3000);
		ck_assert(o.events & CONN_CLIENT_ERROR);
		ck_assert(!(o.events & CONN_CLIENT_CONNECTED));
	} else {
		conn_client_free(o.cc);
	}
	ck_assert_str_ne(conn_client_socket_error(), "");
}
END_TEST

static bool
refuse_setup(void *arg, SSL *ssl, char *err, size_t errlen)
{
	(*(int *)arg)++;
	ck_assert_ptr_nonnull(ssl);
	snprintf(err, errlen, "no usable TLSA record");
	return false;
}

START_TEST(test_client_tls_setup)
{
	struct owner o;
	char err[128] = "", tlserr[256];
	int calls = 0;
	SSL_CTX *ctx = tls_client_ctx_new(TLS_CLIENT_NOVERIFY, NULL, err, sizeof(err));
	ck_assert_ptr_nonnull(ctx);

	connect_owner(&o);
	ck_assert_int_eq(conn_client_starttls(o.cc, NULL, "mx.example", false, NULL, NULL,
	    err, sizeof(err)), CONN_CLIENT_TLS_NO_SSL);
	ck_assert_int_eq(conn_client_starttls(o.cc, ctx, "mx.example", true, refuse_setup,
	    &calls, err, sizeof(err)), CONN_CLIENT_TLS_SETUP);
	ck_assert_int_eq(calls, 1);
	ck_assert_str_eq(err, "no usable TLSA record");
	ck_assert_ptr_null(conn_client_verify_error(o.cc));   /* no TLS layer yet */

	/* plaintext that came before the handshake is dropped */
	o.hold = true;
	server_says("250 injected\r\n");
	uint64_t end = mm_now_ms() + 3000;
	int never = 0;
	while (conn_client_input_len(o.cc) == 0 && mm_now_ms() < end)
		loop_until(&never, 10);
	ck_assert_uint_gt(conn_client_input_len(o.cc), 0);
	ck_assert_int_eq(conn_client_starttls(o.cc, ctx, "127.0.0.1", true, NULL, NULL,
	    err, sizeof(err)), CONN_CLIENT_TLS_OK);
	ck_assert_uint_eq(conn_client_input_len(o.cc), 0);
	ck_assert_uint_eq(o.nlines, 0);

	/* a server that answers the ClientHello with text: the handshake fails */
	o.free_on_event = false;
	server_says("this is not TLS\r\n");
	loop_until(&o.done, 3000);
	ck_assert(o.events & (CONN_CLIENT_ERROR | CONN_CLIENT_EOF));
	conn_client_tls_error(o.cc, tlserr, sizeof(tlserr));
	ck_assert_str_ne(tlserr, "");
	ck_assert_uint_eq(o.nlines, 0);
	conn_client_free(o.cc);
	SSL_CTX_free(ctx);
}
END_TEST

START_TEST(test_client_ctx_errors)
{
	char err[256] = "";
	SSL_CTX *ctx = tls_client_ctx_new(TLS_CLIENT_PKIX, "/nonexistent/ca.pem", err,
	    sizeof(err));
	ck_assert_ptr_null(ctx);
	ck_assert_str_eq(err, "cannot load CA certificates from /nonexistent/ca.pem");
	ctx = tls_client_ctx_new(TLS_CLIENT_DANE, "/nonexistent/ca.pem", err, sizeof(err));
	ck_assert_ptr_null(ctx);
}
END_TEST

static Suite *
conn_client_suite(void)
{
	Suite *s = suite_create("conn_client");
	TCase *tc = tcase_create("plain");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_client_lines);
	tcase_add_test(tc, test_client_timeout);
	tcase_add_test(tc, test_client_eof);
	tcase_add_test(tc, test_client_refused);
	tcase_add_test(tc, test_client_tls_setup);
	tcase_add_test(tc, test_client_ctx_errors);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(conn_client_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
