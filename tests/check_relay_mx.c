/* check_relay_mx.c: relay_mx_parse() on canned DNS answers built here in
 * wire format: preference order, equal preferences (stable with seed 0,
 * shuffled but complete with other seeds), null MX (RFC 7505), CNAME
 * chains, no MX (the A/AAAA fallback), compression pointers, case and
 * trailing dots, and malformed answers. */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relay/relay.h"

#define T_MX 15
#define T_CNAME 5
#define T_A 1

struct rr {
	const char *owner;       /* NULL: a pointer to the question name */
	int type;
	unsigned pref;
	const char *target;      /* MX exchange / CNAME target; "." null MX */
	bool target_ptr;         /* target is "mx." + pointer to the question */
};

static size_t
put16(unsigned char *p, unsigned v)
{
	p[0] = (unsigned char)(v >> 8);
	p[1] = (unsigned char)v;
	return 2;
}

static size_t
put_name(unsigned char *p, const char *name)
{
	size_t n = 0;
	while (*name != '\0' && strcmp(name, ".") != 0) {
		const char *dot = strchr(name, '.');
		size_t l = dot ? (size_t)(dot - name) : strlen(name);
		p[n++] = (unsigned char)l;
		memcpy(p + n, name, l);
		n += l;
		name += l + (dot != NULL);
	}
	p[n++] = 0;
	return n;
}

static size_t
build(unsigned char *b, const char *qname, const struct rr *rrs, size_t nrr)
{
	size_t n = 0;
	n += put16(b + n, 0x1234);
	n += put16(b + n, 0x8180);
	n += put16(b + n, 1);
	n += put16(b + n, (unsigned)nrr);
	n += put16(b + n, 0);
	n += put16(b + n, 0);
	n += put_name(b + n, qname);       /* at offset 12 */
	n += put16(b + n, T_MX);
	n += put16(b + n, 1);
	for (size_t i = 0; i < nrr; i++) {
		const struct rr *r = &rrs[i];
		if (r->owner == NULL)
			n += put16(b + n, 0xc00c);
		else
			n += put_name(b + n, r->owner);
		n += put16(b + n, (unsigned)r->type);
		n += put16(b + n, 1);
		n += put16(b + n, 0);
		n += put16(b + n, 300);
		size_t rdlen_at = n, start;
		n += 2;
		start = n;
		if (r->type == T_MX)
			n += put16(b + n, r->pref);
		if (r->type == T_A) {
			memcpy(b + n, "\x7f\x00\x00\x01", 4);
			n += 4;
		} else if (r->target_ptr) {
			b[n++] = 2;
			memcpy(b + n, "mx", 2);
			n += 2;
			n += put16(b + n, 0xc00c);
		} else {
			n += put_name(b + n, r->target);
		}
		put16(b + rdlen_at, (unsigned)(n - start));
	}
	return n;
}

static unsigned char buf[4096];

static enum relay_mx_result
parse(const char *qname, const struct rr *rrs, size_t nrr, unsigned seed,
    struct relay_mx *mx, size_t *n)
{
	size_t len = build(buf, qname, rrs, nrr);
	return relay_mx_parse(buf, len, qname, seed, mx, RELAY_MX_MAX, n);
}

START_TEST(test_preference_order)
{
	static const struct rr rrs[] = {
		{ NULL, T_MX, 20, "mx2.example.test", false },
		{ NULL, T_MX, 10, "MX1.Example.Test.", false },
		{ NULL, T_MX, 30, "mx3.example.test", false },
	};
	struct relay_mx mx[RELAY_MX_MAX];
	size_t n;
	ck_assert_int_eq(parse("example.test", rrs, 3, 0, mx, &n), RELAY_MX_OK);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(mx[0].host, "mx1.example.test");
	ck_assert_uint_eq(mx[0].pref, 10);
	ck_assert_str_eq(mx[1].host, "mx2.example.test");
	ck_assert_str_eq(mx[2].host, "mx3.example.test");
	ck_assert_uint_eq(mx[2].pref, 30);
}
END_TEST

START_TEST(test_equal_preferences)
{
	static const struct rr rrs[] = {
		{ NULL, T_MX, 10, "a.test", false },
		{ NULL, T_MX, 20, "d.test", false },
		{ NULL, T_MX, 10, "b.test", false },
		{ NULL, T_MX, 10, "c.test", false },
	};
	struct relay_mx mx[RELAY_MX_MAX];
	size_t n;
	bool seen_other = false;

	/* seed 0: stable, in answer order */
	ck_assert_int_eq(parse("example.test", rrs, 4, 0, mx, &n), RELAY_MX_OK);
	ck_assert_uint_eq(n, 4);
	ck_assert_str_eq(mx[0].host, "a.test");
	ck_assert_str_eq(mx[1].host, "b.test");
	ck_assert_str_eq(mx[2].host, "c.test");
	ck_assert_str_eq(mx[3].host, "d.test");
	/* other seeds: a permutation of a, b, c first, d always last */
	for (unsigned seed = 1; seed < 64; seed++) {
		ck_assert_int_eq(parse("example.test", rrs, 4, seed, mx, &n), RELAY_MX_OK);
		ck_assert_uint_eq(n, 4);
		int mask = 0;
		for (int i = 0; i < 3; i++) {
			ck_assert_uint_eq(mx[i].pref, 10);
			ck_assert_uint_eq(strlen(mx[i].host), 6);
			mask |= 1 << (mx[i].host[0] - 'a');
		}
		ck_assert_int_eq(mask, 7);
		ck_assert_str_eq(mx[3].host, "d.test");
		if (strcmp(mx[0].host, "a.test") != 0 || strcmp(mx[1].host, "b.test") != 0)
			seen_other = true;
	}
	ck_assert(seen_other);
}
END_TEST

START_TEST(test_null_mx)
{
	static const struct rr one[] = { { NULL, T_MX, 0, ".", false } };
	static const struct rr mixed[] = {
		{ NULL, T_MX, 10, "mx.example.test", false },
		{ NULL, T_MX, 0, ".", false },
	};
	struct relay_mx mx[RELAY_MX_MAX];
	size_t n = 99;
	ck_assert_int_eq(parse("nomail.test", one, 1, 0, mx, &n), RELAY_MX_NULL);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(parse("nomail.test", mixed, 2, 0, mx, &n), RELAY_MX_NULL);
}
END_TEST

START_TEST(test_cname)
{
	static const struct rr rrs[] = {
		{ NULL, T_CNAME, 0, "step.test", false },
		{ "step.test", T_CNAME, 0, "real.test", false },
		{ "other.test", T_MX, 1, "wrong.test", false },
		{ "real.test", T_MX, 5, "mx.real.test", false },
		{ "REAL.test.", T_MX, 1, "mx0.real.test", false },
	};
	struct relay_mx mx[RELAY_MX_MAX];
	size_t n;
	ck_assert_int_eq(parse("alias.test", rrs, 5, 0, mx, &n), RELAY_MX_OK);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(mx[0].host, "mx0.real.test");
	ck_assert_str_eq(mx[1].host, "mx.real.test");
}
END_TEST

START_TEST(test_no_mx)
{
	static const struct rr a_only[] = { { NULL, T_A, 0, NULL, false } };
	static const struct rr elsewhere[] = { { "x.test", T_MX, 1, "mx.x.test", false } };
	struct relay_mx mx[RELAY_MX_MAX];
	size_t n = 99;
	ck_assert_int_eq(parse("plain.test", NULL, 0, 0, mx, &n), RELAY_MX_NONE);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(parse("plain.test", a_only, 1, 0, mx, &n), RELAY_MX_NONE);
	ck_assert_int_eq(parse("plain.test", elsewhere, 1, 0, mx, &n), RELAY_MX_NONE);
}
END_TEST

START_TEST(test_compression_and_case)
{
	static const struct rr rrs[] = { { NULL, T_MX, 7, NULL, true } };
	struct relay_mx mx[RELAY_MX_MAX];
	size_t n;
	size_t len = build(buf, "Example.Test", rrs, 1);
	ck_assert_int_eq(relay_mx_parse(buf, len, "example.test.", 0, mx, RELAY_MX_MAX, &n),
	    RELAY_MX_OK);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(mx[0].host, "mx.example.test");
	ck_assert_uint_eq(mx[0].pref, 7);
}
END_TEST

START_TEST(test_bounded)
{
	struct rr rrs[40];
	struct relay_mx mx[4];
	char names[40][24];     /* room for any int: no -Wformat-truncation */
	size_t n;
	for (int i = 0; i < 40; i++) {
		snprintf(names[i], sizeof(names[i]), "mx%d.test", i);
		rrs[i] = (struct rr){ NULL, T_MX, (unsigned)(40 - i), names[i], false };
	}
	size_t len = build(buf, "many.test", rrs, 40);
	ck_assert_int_eq(relay_mx_parse(buf, len, "many.test", 0, mx, 4, &n), RELAY_MX_OK);
	ck_assert_uint_eq(n, 4);
	/* the first four in the answer were kept, sorted */
	ck_assert_str_eq(mx[0].host, "mx3.test");
	ck_assert_str_eq(mx[3].host, "mx0.test");
}
END_TEST

START_TEST(test_malformed)
{
	static const struct rr rrs[] = { { NULL, T_MX, 10, "mx.example.test", false } };
	struct relay_mx mx[RELAY_MX_MAX];
	size_t n;
	size_t len = build(buf, "example.test", rrs, 1);

	/* every truncation is refused, never read past */
	for (size_t cut = 0; cut < len; cut++) {
		unsigned char *copy = malloc(cut + 1);
		memcpy(copy, buf, cut);
		enum relay_mx_result r = relay_mx_parse(copy, cut, "example.test", 0, mx,
		    RELAY_MX_MAX, &n);
		ck_assert_msg(r == RELAY_MX_BAD, "cut %zu gave %d", cut, r);
		free(copy);
	}
	/* an MX rdata too short for preference + name: header 12, question
	 * 14 + 4, owner pointer 2, type, class, ttl 8, then rdlength at 40 */
	len = build(buf, "example.test", rrs, 1);
	buf[40] = 0;
	buf[41] = 2;
	ck_assert_int_eq(relay_mx_parse(buf, 44, "example.test", 0, mx, RELAY_MX_MAX, &n),
	    RELAY_MX_BAD);
	/* a compression loop */
	static const struct rr loop[] = { { NULL, T_MX, 1, "x", false } };
	len = build(buf, "example.test", loop, 1);
	buf[len - 3] = 0xc0;
	buf[len - 2] = (unsigned char)(len - 3);
	buf[len - 1] = 0;
	ck_assert_int_eq(relay_mx_parse(buf, len, "example.test", 0, mx, RELAY_MX_MAX, &n),
	    RELAY_MX_BAD);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("relay_mx");
	TCase *tc = tcase_create("relay_mx_parse");
	tcase_add_test(tc, test_preference_order);
	tcase_add_test(tc, test_equal_preferences);
	tcase_add_test(tc, test_null_mx);
	tcase_add_test(tc, test_cname);
	tcase_add_test(tc, test_no_mx);
	tcase_add_test(tc, test_compression_and_case);
	tcase_add_test(tc, test_bounded);
	tcase_add_test(tc, test_malformed);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
