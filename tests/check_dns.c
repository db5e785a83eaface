/* check_dns.c: the resolver (net/dns.h). dns_parse_answer() on canned
 * wire-format answers built here (MX order and null MX, CNAME chains, TXT
 * strings joined and the size bound, TLSA fields, A/AAAA/PTR, rcodes, the
 * AD bit, malformed and foreign answers, every truncation), the query
 * builder, PTR names, [dns] config values; then the live resolver on a
 * loop against a UDP socket of the test's own: the trust-ad stub reads AD
 * from the answer, a server that never answers gives DNS_TIMEOUT after two
 * attempts, a cancelled query never calls back, a bad name is answered
 * from the loop and not from inside dns_query(). */
#include <arpa/inet.h>
#include <check.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/config.h"
#include "lib/limits.h"
#include "lib/util.h"
#include "net/dns.h"

/* ---- a tiny answer builder ---- */

struct pkt {
	unsigned char b[8192];
	size_t n;
	size_t ancount_at;
	unsigned an;
};

static void
put8(struct pkt *p, unsigned v)
{
	p->b[p->n++] = (unsigned char)v;
}

static void
put16(struct pkt *p, unsigned v)
{
	put8(p, v >> 8);
	put8(p, v & 0xff);
}

static void
put32(struct pkt *p, unsigned long v)
{
	put16(p, (unsigned)(v >> 16));
	put16(p, (unsigned)(v & 0xffff));
}

static void
put_name(struct pkt *p, const char *name)
{
	while (*name != '\0' && strcmp(name, ".") != 0) {
		const char *dot = strchr(name, '.');
		size_t l = dot ? (size_t)(dot - name) : strlen(name);
		put8(p, (unsigned)l);
		memcpy(p->b + p->n, name, l);
		p->n += l;
		name += l + (dot != NULL);
	}
	put8(p, 0);
}

/* header + question; flags e.g. 0x8180 (QR RD RA), rcode in the low bits */
static void
begin(struct pkt *p, const char *qname, int qtype, unsigned flags)
{
	memset(p, 0, sizeof(*p));
	put16(p, 0x1234);
	put16(p, flags);
	put16(p, 1);
	p->ancount_at = p->n;
	put16(p, 0);
	put16(p, 0);
	put16(p, 0);
	put_name(p, qname);
	put16(p, (unsigned)qtype);
	put16(p, 1);
}

/* an answer record; owner NULL: a compression pointer to the question */
static size_t
rr_begin(struct pkt *p, const char *owner, int type, unsigned long ttl)
{
	if (owner == NULL)
		put16(p, 0xc00c);
	else
		put_name(p, owner);
	put16(p, (unsigned)type);
	put16(p, 1);
	put32(p, ttl);
	size_t at = p->n;
	put16(p, 0);           /* rdlength, patched */
	p->an++;
	p->b[p->ancount_at] = (unsigned char)(p->an >> 8);
	p->b[p->ancount_at + 1] = (unsigned char)p->an;
	return at;
}

static void
rr_end(struct pkt *p, size_t at)
{
	size_t len = p->n - at - 2;
	p->b[at] = (unsigned char)(len >> 8);
	p->b[at + 1] = (unsigned char)len;
}

static void
add_mx(struct pkt *p, const char *owner, unsigned pref, const char *host)
{
	size_t at = rr_begin(p, owner, DNS_T_MX, 300);
	put16(p, pref);
	put_name(p, host);
	rr_end(p, at);
}

static void
add_name(struct pkt *p, const char *owner, int type, const char *target)
{
	size_t at = rr_begin(p, owner, type, 300);
	put_name(p, target);
	rr_end(p, at);
}

static void
add_raw(struct pkt *p, const char *owner, int type, unsigned long ttl,
    const void *rd, size_t n)
{
	size_t at = rr_begin(p, owner, type, ttl);
	memcpy(p->b + p->n, rd, n);
	p->n += n;
	rr_end(p, at);
}

/* ---- parsing ---- */

START_TEST(test_mx_sorted)
{
	struct pkt p;
	struct dns_result r;

	begin(&p, "Example.ORG", DNS_T_MX, 0x8180);
	add_mx(&p, NULL, 20, "b.example.org");
	add_mx(&p, NULL, 10, "A.example.org.");
	add_mx(&p, NULL, 20, "c.example.org");
	add_mx(&p, "other.org", 1, "x.other.org");   /* not ours */
	ck_assert(dns_parse_answer(p.b, p.n, "example.org.", DNS_T_MX, false, &r));
	ck_assert_int_eq(r.rcode, DNS_NOERROR);
	ck_assert_uint_eq(r.n, 3);
	ck_assert_str_eq(r.rr[0].name, "a.example.org");
	ck_assert_uint_eq(r.rr[0].pref, 10);
	ck_assert_str_eq(r.rr[1].name, "b.example.org");   /* stable */
	ck_assert_str_eq(r.rr[2].name, "c.example.org");
	ck_assert_str_eq(r.qname, "example.org");
	ck_assert_uint_eq(r.ttl, 300);
	ck_assert(!r.secure);
	dns_result_clear(&r);
}
END_TEST

START_TEST(test_null_mx)
{
	struct pkt p;
	struct dns_result r;

	begin(&p, "nomail.test", DNS_T_MX, 0x8180);
	add_mx(&p, NULL, 0, ".");
	ck_assert(dns_parse_answer(p.b, p.n, "nomail.test", DNS_T_MX, false, &r));
	ck_assert_uint_eq(r.n, 1);
	ck_assert_str_eq(r.rr[0].name, "");
	dns_result_clear(&r);
}
END_TEST

START_TEST(test_cname_chain)
{
	struct pkt p;
	struct dns_result r;
	unsigned char a[4] = { 192, 0, 2, 7 };

	begin(&p, "www.example.org", DNS_T_A, 0x8180);
	add_name(&p, NULL, DNS_T_CNAME, "one.example.net");
	add_name(&p, "one.example.net", DNS_T_CNAME, "two.example.net");
	add_raw(&p, "two.example.net", DNS_T_A, 60, a, 4);
	add_raw(&p, "www.example.org", DNS_T_A, 60, a, 4);   /* not the canonical name */
	ck_assert(dns_parse_answer(p.b, p.n, "www.example.org", DNS_T_A, false, &r));
	ck_assert_str_eq(r.canon, "two.example.net");
	ck_assert_uint_eq(r.n, 1);
	ck_assert_str_eq(r.rr[0].ip, "192.0.2.7");
	ck_assert_int_eq(r.rr[0].family, AF_INET);
	ck_assert_uint_eq(r.ttl, 60);
	dns_result_clear(&r);

	/* a CNAME loop stops at the depth bound, with nothing found */
	begin(&p, "loop.test", DNS_T_A, 0x8180);
	add_name(&p, NULL, DNS_T_CNAME, "loop2.test");
	add_name(&p, "loop2.test", DNS_T_CNAME, "loop.test");
	ck_assert(dns_parse_answer(p.b, p.n, "loop.test", DNS_T_A, false, &r));
	ck_assert_uint_eq(r.n, 0);
	dns_result_clear(&r);
}
END_TEST

START_TEST(test_txt_joined)
{
	struct pkt p;
	struct dns_result r;
	unsigned char rd[600];
	size_t n = 0;

	begin(&p, "sel._domainkey.example.org", DNS_T_TXT, 0x8180);
	/* one record of two strings: 255 + 10 bytes */
	rd[n++] = 255;
	memset(rd + n, 'a', 255);
	n += 255;
	rd[n++] = 10;
	memcpy(rd + n, "bbbbbbbbbb", 10);
	n += 10;
	add_raw(&p, NULL, DNS_T_TXT, 300, rd, n);
	add_raw(&p, NULL, DNS_T_TXT, 300, "\x0ev=spf1 mx -all", 15);
	add_raw(&p, NULL, DNS_T_TXT, 300, "\x00", 1);          /* one empty string */
	ck_assert(dns_parse_answer(p.b, p.n, "sel._domainkey.example.org", DNS_T_TXT,
	    false, &r));
	ck_assert_uint_eq(r.n, 3);
	ck_assert_uint_eq(r.rr[0].len, 265);
	ck_assert(memcmp(r.rr[0].data + 250, "aaaaabbbbbbbbbb", 15) == 0);
	ck_assert_uint_eq(r.rr[0].data[265], '\0');
	ck_assert_str_eq((char *)r.rr[1].data, "v=spf1 mx -all");
	ck_assert_uint_eq(r.rr[2].len, 0);
	dns_result_clear(&r);

	/* a string that claims more bytes than the rdata has */
	begin(&p, "bad.test", DNS_T_TXT, 0x8180);
	add_raw(&p, NULL, DNS_T_TXT, 300, "\x09short", 6);
	ck_assert(!dns_parse_answer(p.b, p.n, "bad.test", DNS_T_TXT, false, &r));
	ck_assert_int_eq(r.rcode, DNS_ERROR);
	ck_assert_uint_eq(r.n, 0);
}
END_TEST

START_TEST(test_txt_too_big)
{
	static struct pkt p;
	struct dns_result r;
	unsigned char rd[256 * 17];
	size_t n = 0;

	/* 17 strings of 255: 4335 bytes > DNS_TXT_MAX_BYTES (4096) */
	for (int i = 0; i < 17; i++) {
		rd[n++] = 255;
		memset(rd + n, 'x', 255);
		n += 255;
	}
	begin(&p, "big.test", DNS_T_TXT, 0x8180);
	add_raw(&p, NULL, DNS_T_TXT, 300, rd, n);
	ck_assert(!dns_parse_answer(p.b, p.n, "big.test", DNS_T_TXT, false, &r));
	ck_assert_int_eq(r.rcode, DNS_ERROR);
	ck_assert_ptr_nonnull(strstr(r.error, "oversized"));
}
END_TEST

START_TEST(test_tlsa_and_addresses)
{
	struct pkt p;
	struct dns_result r;
	unsigned char rd[3 + 32];

	rd[0] = 3;
	rd[1] = 1;
	rd[2] = 1;
	for (int i = 0; i < 32; i++)
		rd[3 + i] = (unsigned char)i;
	begin(&p, "_25._tcp.mx.example.org", DNS_T_TLSA, 0x81a0);   /* AD */
	add_raw(&p, NULL, DNS_T_TLSA, 300, rd, sizeof(rd));
	ck_assert(dns_parse_answer(p.b, p.n, "_25._tcp.mx.example.org", DNS_T_TLSA,
	    true, &r));
	ck_assert(r.secure);
	ck_assert_uint_eq(r.n, 1);
	ck_assert_uint_eq(r.rr[0].usage, 3);
	ck_assert_uint_eq(r.rr[0].selector, 1);
	ck_assert_uint_eq(r.rr[0].mtype, 1);
	ck_assert_uint_eq(r.rr[0].len, 32);
	ck_assert_uint_eq(r.rr[0].data[31], 31);
	dns_result_clear(&r);
	/* the AD bit means nothing unless trusted */
	ck_assert(dns_parse_answer(p.b, p.n, "_25._tcp.mx.example.org", DNS_T_TLSA,
	    false, &r));
	ck_assert(!r.secure);
	dns_result_clear(&r);
	/* TLSA rdata shorter than its three fixed fields */
	begin(&p, "_25._tcp.mx.example.org", DNS_T_TLSA, 0x8180);
	add_raw(&p, NULL, DNS_T_TLSA, 300, rd, 2);
	ck_assert(!dns_parse_answer(p.b, p.n, "_25._tcp.mx.example.org", DNS_T_TLSA,
	    false, &r));

	unsigned char v6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
	begin(&p, "mx.example.org", DNS_T_AAAA, 0x8180);
	add_raw(&p, NULL, DNS_T_AAAA, 300, v6, 16);
	add_raw(&p, NULL, DNS_T_AAAA, 300, v6, 4);            /* wrong length */
	ck_assert(!dns_parse_answer(p.b, p.n, "mx.example.org", DNS_T_AAAA, false, &r));
	begin(&p, "mx.example.org", DNS_T_AAAA, 0x8180);
	add_raw(&p, NULL, DNS_T_AAAA, 300, v6, 16);
	ck_assert(dns_parse_answer(p.b, p.n, "mx.example.org", DNS_T_AAAA, false, &r));
	ck_assert_str_eq(r.rr[0].ip, "2001:db8::1");
	dns_result_clear(&r);

	begin(&p, "7.2.0.192.in-addr.arpa", DNS_T_PTR, 0x8180);
	add_name(&p, NULL, DNS_T_PTR, "Mail.Example.ORG.");
	ck_assert(dns_parse_answer(p.b, p.n, "7.2.0.192.in-addr.arpa", DNS_T_PTR,
	    false, &r));
	ck_assert_str_eq(r.rr[0].name, "mail.example.org");
	dns_result_clear(&r);

	/* a generic type: raw rdata */
	begin(&p, "x.test", 99, 0x8180);
	add_raw(&p, NULL, 99, 300, "\x01\x02\x03", 3);
	ck_assert(dns_parse_answer(p.b, p.n, "x.test", 99, false, &r));
	ck_assert_uint_eq(r.rr[0].len, 3);
	ck_assert_uint_eq(r.rr[0].data[2], 3);
	dns_result_clear(&r);
}
END_TEST

START_TEST(test_rcodes)
{
	struct pkt p;
	struct dns_result r;

	begin(&p, "gone.test", DNS_T_MX, 0x8183);
	ck_assert(dns_parse_answer(p.b, p.n, "gone.test", DNS_T_MX, false, &r));
	ck_assert_int_eq(r.rcode, DNS_NXDOMAIN);
	begin(&p, "broken.test", DNS_T_MX, 0x8182);
	ck_assert(dns_parse_answer(p.b, p.n, "broken.test", DNS_T_MX, false, &r));
	ck_assert_int_eq(r.rcode, DNS_SERVFAIL);
	begin(&p, "refused.test", DNS_T_MX, 0x8185);
	ck_assert(dns_parse_answer(p.b, p.n, "refused.test", DNS_T_MX, false, &r));
	ck_assert_int_eq(r.rcode, DNS_SERVFAIL);
	/* NODATA */
	begin(&p, "nodata.test", DNS_T_MX, 0x8180);
	ck_assert(dns_parse_answer(p.b, p.n, "nodata.test", DNS_T_MX, false, &r));
	ck_assert_int_eq(r.rcode, DNS_NOERROR);
	ck_assert_uint_eq(r.n, 0);
	dns_result_clear(&r);
}
END_TEST

START_TEST(test_malformed)
{
	struct pkt p;
	struct dns_result r;

	/* an answer to another question, or of another type */
	begin(&p, "other.test", DNS_T_MX, 0x8180);
	ck_assert(!dns_parse_answer(p.b, p.n, "asked.test", DNS_T_MX, false, &r));
	ck_assert_int_eq(r.rcode, DNS_ERROR);
	ck_assert(!dns_parse_answer(p.b, p.n, "other.test", DNS_T_A, false, &r));
	/* a query, not an answer */
	begin(&p, "q.test", DNS_T_MX, 0x0100);
	ck_assert(!dns_parse_answer(p.b, p.n, "q.test", DNS_T_MX, false, &r));
	/* every truncation of a good answer is refused, never read past */
	begin(&p, "example.org", DNS_T_MX, 0x8180);
	add_mx(&p, NULL, 10, "mx1.example.org");
	add_mx(&p, NULL, 20, "mx2.example.org");
	for (size_t n = 0; n < p.n; n++) {
		unsigned char *cut = malloc(n + 1);
		memcpy(cut, p.b, n);
		ck_assert_msg(!dns_parse_answer(cut, n, "example.org", DNS_T_MX, false,
		    &r), "accepted %zu of %zu bytes", n, p.n);
		free(cut);
	}
	/* a compression pointer that loops */
	begin(&p, "example.org", DNS_T_MX, 0x8180);
	size_t at = rr_begin(&p, NULL, DNS_T_MX, 300);
	put16(&p, 10);
	put16(&p, 0xc000 | (unsigned)p.n);
	rr_end(&p, at);
	ck_assert(!dns_parse_answer(p.b, p.n, "example.org", DNS_T_MX, false, &r));
	/* more than DNS_RECORDS_MAX records: the first ones are kept */
	begin(&p, "many.test", DNS_T_A, 0x8180);
	for (int i = 0; i < DNS_RECORDS_MAX + 10; i++) {
		unsigned char a[4] = { 10, 0, 0, (unsigned char)i };
		add_raw(&p, NULL, DNS_T_A, 300, a, 4);
	}
	ck_assert(dns_parse_answer(p.b, p.n, "many.test", DNS_T_A, false, &r));
	ck_assert_uint_eq(r.n, DNS_RECORDS_MAX);
	dns_result_clear(&r);
}
END_TEST

START_TEST(test_helpers)
{
	char buf[128];
	unsigned char q[512];
	struct dns_result r;

	ck_assert(dns_ptr_name("192.0.2.1", buf, sizeof(buf)));
	ck_assert_str_eq(buf, "1.2.0.192.in-addr.arpa");
	ck_assert(dns_ptr_name("2001:db8::567:89ab", buf, sizeof(buf)));
	ck_assert_str_eq(buf, "b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa");
	ck_assert(!dns_ptr_name("example.org", buf, sizeof(buf)));

	size_t n = dns_build_query("mx.example.org", DNS_T_TLSA, 0xbeef, true, q, sizeof(q));
	ck_assert_uint_gt(n, 12);
	ck_assert_uint_eq(q[0], 0xbe);
	ck_assert_uint_eq(q[2], 0x01);          /* RD */
	ck_assert_uint_eq(q[3], 0x20);          /* AD */
	/* it reads back as a question (flip QR to parse it as an answer) */
	q[2] |= 0x80;
	ck_assert(dns_parse_answer(q, n, "mx.example.org", DNS_T_TLSA, false, &r));
	dns_result_clear(&r);
	memset(buf, 'a', 70);
	buf[70] = '\0';
	ck_assert_uint_eq(dns_build_query(buf, DNS_T_A, 1, false, q, sizeof(q)), 0);
	ck_assert_str_eq(dns_type_name(DNS_T_TLSA, buf, sizeof(buf)), "TLSA");
	ck_assert_str_eq(dns_type_name(99, buf, sizeof(buf)), "TYPE99");
}
END_TEST

/* ---- [dns] config ---- */

static struct config *
parse(const char *text, struct config_errors *e)
{
	config_errors_init(e);
	return config_parse("t.conf", text, strlen(text), e);
}

START_TEST(test_config)
{
	struct config_errors e;
	struct config *c;
	struct mm_strlist l;
	char err[256];

	c = parse("domains = example.org\n[dns]\nnameservers = 127.0.0.1 "
	    "127.0.0.1@5353 127.0.0.1:5354 [::1]:53 ::1\ntimeout = 2s\n"
	    "dnssec = validate\n", &e);
	ck_assert_ptr_nonnull(c);
	ck_assert_uint_eq(c->dns_nameservers.n, 5);
	ck_assert_str_eq(c->dns_nameservers.v[0], "127.0.0.1@53");
	ck_assert_str_eq(c->dns_nameservers.v[1], "127.0.0.1@5353");
	ck_assert_str_eq(c->dns_nameservers.v[2], "127.0.0.1@5354");
	ck_assert_str_eq(c->dns_nameservers.v[3], "::1@53");
	ck_assert_str_eq(c->dns_nameservers.v[4], "::1@53");
	ck_assert_uint_eq(c->dns_timeout, 2);
	ck_assert_int_eq(c->dns_dnssec, CONFIG_DNSSEC_VALIDATE);
	/* the dump parses back to the same */
	char *dump = config_dump(c);
	struct config_errors e2;
	struct config *c2 = parse(dump, &e2);
	ck_assert_ptr_nonnull(c2);
	ck_assert_uint_eq(c2->dns_nameservers.n, 5);
	ck_assert_int_eq(c2->dns_dnssec, CONFIG_DNSSEC_VALIDATE);
	ck_assert_int_eq(c2->mta_sts_mode, CONFIG_MTA_STS_TESTING);
	free(dump);
	config_free(&c2);
	config_errors_clear(&e2);
	config_free(&c);
	config_errors_clear(&e);

	/* defaults */
	c = parse("domains = example.org\n", &e);
	ck_assert_uint_eq(c->dns_nameservers.n, 0);
	ck_assert_uint_eq(c->dns_timeout, 5);
	ck_assert_int_eq(c->dns_dnssec, CONFIG_DNSSEC_OFF);
	ck_assert_uint_eq(c->relay_mx_port, 25);
	config_free(&c);
	config_errors_clear(&e);

	/* every bad value, each FILE:LINE */
	c = parse("domains = example.org\n[dns]\nnameservers = ns.example.org\n"
	    "timeout = 0s\ndnssec = maybe\ntrust_anchor = root.key\n[tls]\n"
	    "mta_sts_mode = strict\n[relay]\nmx_port = 0\ndane = perhaps\n", &e);
	ck_assert_ptr_null(c);
	ck_assert_uint_eq(e.errors.n, 7);
	ck_assert_ptr_nonnull(strstr(e.errors.v[0], "t.conf:3: nameservers:"));
	ck_assert_ptr_nonnull(strstr(e.errors.v[1], "t.conf:4: timeout:"));
	ck_assert_ptr_nonnull(strstr(e.errors.v[2], "t.conf:5: dnssec:"));
	ck_assert_ptr_nonnull(strstr(e.errors.v[3], "t.conf:6: trust_anchor:"));
	ck_assert_ptr_nonnull(strstr(e.errors.v[4], "t.conf:8: mta_sts_mode:"));
	ck_assert_ptr_nonnull(strstr(e.errors.v[5], "t.conf:10: mx_port:"));
	ck_assert_ptr_nonnull(strstr(e.errors.v[6], "t.conf:11: dane:"));
	config_errors_clear(&e);

	/* trust-ad only with loopback name servers */
	c = parse("domains = example.org\n[dns]\nnameservers = 192.0.2.53\n"
	    "dnssec = trust-ad\n", &e);
	ck_assert_ptr_null(c);
	ck_assert_ptr_nonnull(strstr(e.errors.v[0], "t.conf:4: dnssec = trust-ad"));
	config_errors_clear(&e);
	c = parse("domains = example.org\n[dns]\ndnssec = trust-ad\n", &e);
	ck_assert_ptr_null(c);
	config_errors_clear(&e);

	mm_strlist_init(&l);
	ck_assert(!config_parse_nameservers("127.0.0.1:0", &l, err, sizeof(err)));
	ck_assert(!config_parse_nameservers("127.0.0.1:70000", &l, err, sizeof(err)));
	ck_assert(!config_parse_nameservers("[::1", &l, err, sizeof(err)));
	ck_assert(!config_parse_nameservers("", &l, err, sizeof(err)));
	ck_assert(!config_parse_nameservers("1.1.1.1 1.1.1.2 1.1.1.3 1.1.1.4 1.1.1.5 "
	    "1.1.1.6 1.1.1.7 1.1.1.8 1.1.1.9", &l, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "too many"));
	ck_assert_uint_eq(l.n, 0);
	mm_strlist_clear(&l);
}
END_TEST

/* ---- live: the resolver on a loop ---- */

struct live {
	struct event_base *base;
	int srv;                    /* our UDP "name server" */
	struct event *ev;
	bool answer;                /* false: never answer */
	bool ad;
	int calls;
	struct dns_result got;
	char error[128];
	uint64_t t_done;
};

static void
srv_read(evutil_socket_t fd, short what, void *arg)
{
	struct live *L = arg;
	unsigned char q[1500];
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	ssize_t n = recvfrom(fd, q, sizeof(q), 0, (struct sockaddr *)&ss, &sl);

	if (n < 12 || !L->answer)
		return;
	/* echo the question back as an answer with one TLSA record */
	struct pkt p;
	memset(&p, 0, sizeof(p));
	size_t qend = 12;
	while (qend < (size_t)n && q[qend] != 0)
		qend += q[qend] + 1;
	qend += 5;
	memcpy(p.b, q, qend);
	p.n = qend;
	p.b[2] = 0x81;
	p.b[3] = L->ad ? 0xa0 : 0x80;
	p.b[6] = 0; p.b[7] = 0; p.b[8] = 0; p.b[9] = 0; p.b[10] = 0; p.b[11] = 0;
	p.ancount_at = 6;
	add_raw(&p, NULL, DNS_T_TLSA, 60, "\x03\x01\x01\xaa\xbb", 5);
	sendto(fd, p.b, p.n, 0, (struct sockaddr *)&ss, sl);
}

static void
got_cb(void *arg, const struct dns_result *r)
{
	struct live *L = arg;
	L->calls++;
	L->got = *r;
	L->got.rr = NULL;
	L->got.n = r->n;
	L->got.secure = r->secure;
	if (r->n > 0)
		L->got.rr = NULL;
	mm_strlcpy(L->error, r->error ? r->error : "", sizeof(L->error));
	L->t_done = mm_now_ms();
	event_base_loopbreak(L->base);
}

static struct config *
live_setup(struct live *L, const char *dnssec)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	struct config_errors e;
	char conf[256];

	memset(L, 0, sizeof(*L));
	L->base = event_base_new();
	L->srv = socket(AF_INET, SOCK_DGRAM, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(L->srv, (struct sockaddr *)&sin, sizeof(sin)), 0);
	getsockname(L->srv, (struct sockaddr *)&sin, &sl);
	L->ev = event_new(L->base, L->srv, EV_READ | EV_PERSIST, srv_read, L);
	event_add(L->ev, NULL);
	snprintf(conf, sizeof(conf), "domains = example.org\n[dns]\nnameservers = "
	    "127.0.0.1:%u\ntimeout = 1s\ndnssec = %s\n", ntohs(sin.sin_port), dnssec);
	struct config *c = parse(conf, &e);
	ck_assert_ptr_nonnull(c);
	config_errors_clear(&e);
	return c;
}

static void
live_teardown(struct live *L, struct config *c)
{
	event_free(L->ev);
	close(L->srv);
	event_base_free(L->base);
	config_free(&c);
}

START_TEST(test_live_trust_ad)
{
	struct live L;
	struct config *c = live_setup(&L, "trust-ad");
	char err[256];
	struct dns *dns = dns_new(L.base, c, err, sizeof(err));

	ck_assert_ptr_nonnull(dns);
	L.answer = true;
	L.ad = true;
	(void)dns_query(dns, "_25._tcp.mx.example.org", DNS_T_TLSA, got_cb, &L);
	event_base_dispatch(L.base);
	ck_assert_int_eq(L.calls, 1);
	ck_assert_int_eq(L.got.rcode, DNS_NOERROR);
	ck_assert_uint_eq(L.got.n, 1);
	ck_assert(L.got.secure);
	L.ad = false;
	(void)dns_query(dns, "_25._tcp.mx.example.org", DNS_T_TLSA, got_cb, &L);
	event_base_dispatch(L.base);
	ck_assert_int_eq(L.calls, 2);
	ck_assert(!L.got.secure);
	dns_free(&dns);
	live_teardown(&L, c);
}
END_TEST

static void
live_timeout(const char *dnssec)
{
	struct live L;
	struct config *c = live_setup(&L, dnssec);
	char err[256];
	struct dns *dns = dns_new(L.base, c, err, sizeof(err));

	ck_assert_msg(dns != NULL, "%s", err);
	L.answer = false;
	/* a cancelled query never calls back */
	struct dns_query *gone = dns_query(dns, "cancelled.example.org", DNS_T_MX,
	    got_cb, &L);
	dns_cancel(&gone);
	ck_assert_ptr_null(gone);
	uint64_t t0 = mm_now_ms();
	(void)dns_query(dns, "stall.example.org", DNS_T_MX, got_cb, &L);
	ck_assert_int_eq(L.calls, 0);
	event_base_dispatch(L.base);
	uint64_t took = L.t_done - t0;
	ck_assert_int_eq(L.calls, 1);
	/* libunbound may give up itself (SERVFAIL) before our timer */
	ck_assert_msg(L.got.rcode == DNS_TIMEOUT || L.got.rcode == DNS_SERVFAIL,
	    "rcode %d %s", L.got.rcode, L.error);
	ck_assert_uint_le(took, 2 * 1000 + 500);
	if (L.got.rcode == DNS_TIMEOUT)
		ck_assert_uint_ge(took, 2 * 1000 - 50);
	ck_assert_uint_eq(dns_pending(dns), 0);

	/* a bad name: answered later, from the loop */
	(void)dns_query(dns, "bad..name", DNS_T_A, got_cb, &L);
	ck_assert_int_eq(L.calls, 1);
	event_base_dispatch(L.base);
	ck_assert_int_eq(L.calls, 2);
	ck_assert_int_eq(L.got.rcode, DNS_ERROR);
	dns_free(&dns);
	live_teardown(&L, c);
}

START_TEST(test_live_timeout_stub)
{
	live_timeout("trust-ad");
}
END_TEST

START_TEST(test_live_timeout_unbound)
{
	live_timeout("off");
}
END_TEST

START_TEST(test_live_unbound_answer)
{
	struct live L;
	struct config *c = live_setup(&L, "off");
	char err[256];
	struct dns *dns = dns_new(L.base, c, err, sizeof(err));

	ck_assert_msg(dns != NULL, "%s", err);
	L.answer = true;
	L.ad = true;              /* libunbound's own verdict counts, not AD */
	(void)dns_query(dns, "_25._tcp.mx.example.test", DNS_T_TLSA, got_cb, &L);
	event_base_dispatch(L.base);
	ck_assert_int_eq(L.calls, 1);
	ck_assert_msg(L.got.rcode == DNS_NOERROR, "%s", L.error);
	ck_assert_uint_eq(L.got.n, 1);
	ck_assert(!L.got.secure);
	dns_free(&dns);
	live_teardown(&L, c);
}
END_TEST

/* Bounded concurrency: INFLIGHT run, WAITING wait, the next is refused
 * at once (from the loop); a cancelled running query lets a waiting one
 * start. */
static int overload_calls;
static enum dns_rcode overload_rcode;
static struct event_base *overload_base;

static void
overload_cb(void *arg, const struct dns_result *r)
{
	overload_calls++;
	overload_rcode = r->rcode;
	event_base_loopbreak(overload_base);
}

START_TEST(test_live_overload)
{
	struct live L;
	struct config *c = live_setup(&L, "trust-ad");
	char err[256];
	struct dns *dns = dns_new(L.base, c, err, sizeof(err));
	size_t total = DNS_QUERIES_INFLIGHT_MAX + DNS_QUERIES_WAITING_MAX;
	struct dns_query **qs = calloc(total, sizeof(*qs));

	ck_assert_ptr_nonnull(dns);
	overload_base = L.base;
	L.answer = false;
	for (size_t i = 0; i < total; i++)
		qs[i] = dns_query(dns, "stall.example.org", DNS_T_A, overload_cb, NULL);
	ck_assert_uint_eq(dns_pending(dns), total);
	struct dns_query *extra = dns_query(dns, "one.too.many", DNS_T_A, overload_cb, NULL);
	(void)extra;
	ck_assert_int_eq(overload_calls, 0);
	event_base_dispatch(L.base);
	ck_assert_int_eq(overload_calls, 1);
	ck_assert_int_eq(overload_rcode, DNS_ERROR);
	ck_assert_uint_eq(dns_pending(dns), total);
	/* one running query cancelled: the first waiting one runs */
	dns_cancel(&qs[0]);
	ck_assert_uint_eq(dns_pending(dns), total - 1);
	for (size_t i = 1; i < total; i++)
		dns_cancel(&qs[i]);
	ck_assert_uint_eq(dns_pending(dns), 0);
	free(qs);
	dns_free(&dns);
	live_teardown(&L, c);
}
END_TEST

START_TEST(test_live_validate)
{
	struct live L;
	struct config *c;
	char err[256];

	if (access(CONFIG_DEFAULT_TRUST_ANCHOR, R_OK) != 0)
		return;          /* no dns-root-data: nothing to validate with */
	c = live_setup(&L, "validate");
	struct config_errors ce;
	config_errors_init(&ce);
	ck_assert(dns_check(c, &ce));
	ck_assert_uint_eq(ce.errors.n, 0);
	struct dns *dns = dns_new(L.base, c, err, sizeof(err));
	ck_assert_msg(dns != NULL, "%s", err);
	/* our server sets AD but signs nothing: libunbound's own verdict
	 * counts, and it is never "secure" */
	L.answer = true;
	L.ad = true;
	(void)dns_query(dns, "_25._tcp.mx.example.org", DNS_T_TLSA, got_cb, &L);
	event_base_dispatch(L.base);
	ck_assert_int_eq(L.calls, 1);
	ck_assert(!L.got.secure);
	dns_free(&dns);

	/* a trust anchor that does not load is refused at once */
	free(c->dns_trust_anchor);
	c->dns_trust_anchor = xstrdup("/nonexistent/root.key");
	ck_assert(!dns_check(c, &ce));
	ck_assert_uint_eq(ce.errors.n, 1);
	ck_assert_ptr_nonnull(strstr(ce.errors.v[0], "t.conf: dns: dnssec = validate: "
	    "cannot read trust anchor /nonexistent/root.key"));
	config_errors_clear(&ce);
	ck_assert_ptr_null(dns_new(L.base, c, err, sizeof(err)));
	live_teardown(&L, c);
}
END_TEST

static Suite *
dns_suite(void)
{
	Suite *s = suite_create("dns");
	TCase *tc = tcase_create("parse");
	tcase_add_test(tc, test_mx_sorted);
	tcase_add_test(tc, test_null_mx);
	tcase_add_test(tc, test_cname_chain);
	tcase_add_test(tc, test_txt_joined);
	tcase_add_test(tc, test_txt_too_big);
	tcase_add_test(tc, test_tlsa_and_addresses);
	tcase_add_test(tc, test_rcodes);
	tcase_add_test(tc, test_malformed);
	tcase_add_test(tc, test_helpers);
	suite_add_tcase(s, tc);
	tc = tcase_create("config");
	tcase_add_test(tc, test_config);
	suite_add_tcase(s, tc);
	tc = tcase_create("live");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_live_trust_ad);
	tcase_add_test(tc, test_live_timeout_stub);
	tcase_add_test(tc, test_live_timeout_unbound);
	tcase_add_test(tc, test_live_unbound_answer);
	tcase_add_test(tc, test_live_validate);
	tcase_add_test(tc, test_live_overload);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(dns_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
