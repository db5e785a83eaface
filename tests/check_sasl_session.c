/* check_sasl_session.c: unit tests of the SASL PLAIN/LOGIN step machine
 * (src/lib/sasl-session.c) that SMTP, IMAP, POP3 and ManageSieve share,
 * driven without sockets: the callbacks write a transcript, and each case
 * compares the whole transcript and the machine's state after it. */
#include "lib/sasl-session.h"
#include "lib/util.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rec {
	char log[1024];
	struct sasl_session *ss;
	const struct sasl_session_ops *ops;
	bool restart_on_fail;      /* failed() starts a new PLAIN exchange */
};

/* appends "K(a,b)" for kind K */
static void
rec_add(struct rec *r, char kind, const char *a, const char *b)
{
	size_t n = strlen(r->log);
	snprintf(r->log + n, sizeof(r->log) - n, "%c(%s,%s)", kind, a, b);
}

static void
on_challenge(void *sess, enum sasl_session_step next, const char *b64)
{
	static const char *const names[] = { "none", "plain", "user", "pass" };
	rec_add(sess, 'C', names[next], b64);
}

static void
on_failed(void *sess, enum sasl_session_end why, enum sasl_result r)
{
	struct rec *rc = sess;
	static const char *const names[] = { "?", "cancel", "toolong", "undecodable" };
	ck_assert(!sasl_session_active(rc->ss));   /* back to NONE first */
	rec_add(rc, 'F', names[why], r == SASL_OK ? "ok" : sasl_result_str(r));
	if (rc->restart_on_fail) {
		rc->restart_on_fail = false;
		sasl_session_begin(rc->ss, rc->ops, rc, SASL_MECH_PLAIN, NULL, 0);
	}
}

static void
on_check(void *sess, const char *user, const char *password)
{
	struct rec *rc = sess;
	ck_assert(!sasl_session_active(rc->ss));
	rec_add(rc, 'K', user, password);
}

static const struct sasl_session_ops ops_imap = {
	.challenge = on_challenge, .failed = on_failed, .check = on_check,
	.password_max_bytes = 1023,
};
static const struct sasl_session_ops ops_pop3 = {
	.challenge = on_challenge, .failed = on_failed, .check = on_check,
	.password_max_bytes = 8, .cancel_in_initial_response = true,
};

/* as ManageSieve's ms_sasl_ops (src/managesieve/ms-session.c): the
 * password up to STORE_PASSWORD_MAX_BYTES, "*" cancels only a
 * continuation */
static const struct sasl_session_ops ops_managesieve = {
	.challenge = on_challenge, .failed = on_failed, .check = on_check,
	.password_max_bytes = 1024,
};

struct step_case {
	const struct sasl_session_ops *ops;
	enum sasl_mech mech;
	const char *ir;            /* NULL: none */
	const char *lines[3];      /* "\x01": a line too long (NULL line) */
	const char *want;
	bool active_after;
};

/* "\0u\0p" = AHUAcA==, "u\0u\0p" = dQB1AHA=, "x\0u\0p" = eAB1AHA=,
 * "u" = dQ==, "p" = cA==, "\0u\0" = AHUA, "\0u\0123456789" = AHUAMTIzNDU2Nzg5 */
static const struct step_case cases[] = {
	/* PLAIN: initial response, continuation, empty challenge */
	{ &ops_imap, SASL_MECH_PLAIN, "AHUAcA==", { NULL }, "K(u,p)", false },
	{ &ops_imap, SASL_MECH_PLAIN, "dQB1AHA=", { NULL }, "K(u,p)", false },
	{ &ops_imap, SASL_MECH_PLAIN, NULL, { "AHUAcA==" }, "C(plain,)K(u,p)", false },
	{ &ops_imap, SASL_MECH_PLAIN, NULL, { NULL }, "C(plain,)", true },
	/* PLAIN refusals */
	{ &ops_imap, SASL_MECH_PLAIN, "eAB1AHA=", { NULL }, "F(undecodable,authorization identity differs from user name)", false },
	{ &ops_imap, SASL_MECH_PLAIN, NULL, { "!!!" }, "C(plain,)F(undecodable,bad base64)", false },
	{ &ops_imap, SASL_MECH_PLAIN, NULL, { "=" }, "C(plain,)F(undecodable,malformed response)", false },
	{ &ops_imap, SASL_MECH_PLAIN, NULL, { "AHUA" }, "C(plain,)F(undecodable,empty password)", false },
	{ &ops_pop3, SASL_MECH_PLAIN, "AHUAMTIzNDU2Nzg5", { NULL }, "F(undecodable,too long)", false },
	/* cancel and overlong lines */
	{ &ops_imap, SASL_MECH_PLAIN, NULL, { "*" }, "C(plain,)F(cancel,ok)", false },
	{ &ops_imap, SASL_MECH_PLAIN, NULL, { "\x01" }, "C(plain,)F(toolong,ok)", false },
	{ &ops_imap, SASL_MECH_PLAIN, "*", { NULL }, "F(undecodable,bad base64)", false },
	{ &ops_pop3, SASL_MECH_PLAIN, "*", { NULL }, "F(cancel,ok)", false },
	/* LOGIN */
	{ &ops_imap, SASL_MECH_LOGIN, NULL, { "dQ==", "cA==" },
	  "C(user,VXNlcm5hbWU6)C(pass,UGFzc3dvcmQ6)K(u,p)", false },
	{ &ops_imap, SASL_MECH_LOGIN, "dQ==", { "cA==" }, "C(pass,UGFzc3dvcmQ6)K(u,p)", false },
	{ &ops_imap, SASL_MECH_LOGIN, "dQ==", { NULL }, "C(pass,UGFzc3dvcmQ6)", true },
	{ &ops_imap, SASL_MECH_LOGIN, NULL, { "=" }, "C(user,VXNlcm5hbWU6)F(undecodable,empty user name)", false },
	{ &ops_imap, SASL_MECH_LOGIN, NULL, { "dQ==", "=" },
	  "C(user,VXNlcm5hbWU6)C(pass,UGFzc3dvcmQ6)F(undecodable,empty password)", false },
	{ &ops_imap, SASL_MECH_LOGIN, NULL, { "dQ==", "*" },
	  "C(user,VXNlcm5hbWU6)C(pass,UGFzc3dvcmQ6)F(cancel,ok)", false },
	{ &ops_imap, SASL_MECH_LOGIN, NULL, { "dQ==", "\x01" },
	  "C(user,VXNlcm5hbWU6)C(pass,UGFzc3dvcmQ6)F(toolong,ok)", false },
	{ &ops_imap, SASL_MECH_LOGIN, "!", { NULL }, "F(undecodable,bad base64)", false },
	/* ManageSieve (RFC 5804 2.1): the responses are its strings, unquoted
	 * by ms-parse.c before they get here */
	{ &ops_managesieve, SASL_MECH_PLAIN, "AHUAcA==", { NULL }, "K(u,p)", false },
	{ &ops_managesieve, SASL_MECH_PLAIN, NULL, { "AHUAcA==" }, "C(plain,)K(u,p)", false },
	{ &ops_managesieve, SASL_MECH_PLAIN, "*", { NULL }, "F(undecodable,bad base64)", false },
	{ &ops_managesieve, SASL_MECH_PLAIN, "", { NULL }, "F(undecodable,malformed response)", false },
	{ &ops_managesieve, SASL_MECH_LOGIN, NULL, { "dQ==", "*" },
	  "C(user,VXNlcm5hbWU6)C(pass,UGFzc3dvcmQ6)F(cancel,ok)", false },
	{ &ops_managesieve, SASL_MECH_LOGIN, "dQ==", { "\x01" },
	  "C(pass,UGFzc3dvcmQ6)F(toolong,ok)", false },
	{ &ops_managesieve, SASL_MECH_LOGIN, "dQ==", { "cA==" }, "C(pass,UGFzc3dvcmQ6)K(u,p)", false },
};

START_TEST(test_steps)
{
	const struct step_case *tc = &cases[_i];
	struct sasl_session ss = { 0 };
	struct rec r = { .ss = &ss, .ops = tc->ops };

	sasl_session_begin(&ss, tc->ops, &r, tc->mech, tc->ir, tc->ir ? strlen(tc->ir) : 0);
	for (size_t i = 0; i < 3 && tc->lines[i] != NULL; i++) {
		ck_assert(sasl_session_active(&ss));
		if (strcmp(tc->lines[i], "\x01") == 0)
			sasl_session_line(&ss, tc->ops, &r, NULL, 0);
		else
			sasl_session_line(&ss, tc->ops, &r, tc->lines[i], strlen(tc->lines[i]));
	}
	ck_assert_str_eq(r.log, tc->want);
	ck_assert_int_eq(sasl_session_active(&ss), tc->active_after);
	/* nothing of the exchange is left behind once it is over */
	if (!tc->active_after)
		for (size_t i = 0; i < sizeof(ss.user); i++)
			ck_assert_int_eq(ss.user[i], 0);
}
END_TEST

/* A failed() callback may start the next exchange at once. */
START_TEST(test_restart_from_callback)
{
	struct sasl_session ss = { 0 };
	struct rec r = { .ss = &ss, .ops = &ops_imap, .restart_on_fail = true };

	sasl_session_begin(&ss, &ops_imap, &r, SASL_MECH_LOGIN, NULL, 0);
	sasl_session_line(&ss, &ops_imap, &r, "*", 1);
	ck_assert_str_eq(r.log, "C(user,VXNlcm5hbWU6)F(cancel,ok)C(plain,)");
	ck_assert_int_eq(ss.step, SASL_SESSION_PLAIN);
	sasl_session_line(&ss, &ops_imap, &r, "AHUAcA==", 8);
	ck_assert_str_eq(r.log, "C(user,VXNlcm5hbWU6)F(cancel,ok)C(plain,)K(u,p)");
}
END_TEST

/* reset forgets a LOGIN name half way, without a callback */
START_TEST(test_reset)
{
	struct sasl_session ss = { 0 };
	struct rec r = { .ss = &ss, .ops = &ops_imap };

	sasl_session_begin(&ss, &ops_imap, &r, SASL_MECH_LOGIN, "dQ==", 4);
	ck_assert_str_eq(ss.user, "u");
	sasl_session_reset(&ss);
	ck_assert(!sasl_session_active(&ss));
	ck_assert_str_eq(ss.user, "");
	ck_assert_str_eq(r.log, "C(pass,UGFzc3dvcmQ6)");
}
END_TEST

static Suite *
sasl_session_suite(void)
{
	Suite *s = suite_create("sasl_session");
	TCase *tc = tcase_create("steps");
	tcase_add_loop_test(tc, test_steps, 0, (int)(sizeof(cases) / sizeof(cases[0])));
	suite_add_tcase(s, tc);
	tc = tcase_create("callbacks");
	tcase_add_test(tc, test_restart_from_callback);
	tcase_add_test(tc, test_reset);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(sasl_session_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
