/* dns-parse.c: the pure half of the resolver (net/dns.h): reading a
 * wire-format answer into a struct dns_result, building a query, PTR
 * names. No libevent, no libunbound: the unit tests feed it canned
 * answers (tests/check_dns.c).
 *
 * The one idea: whatever transport brought the answer (libunbound's
 * answer_packet, or the trust-ad stub's own UDP/TCP reply), the same
 * function reads it, with the same bounds (DNS_RECORDS_MAX records,
 * DNS_TXT_MAX_BYTES per TXT, DNS_CNAME_DEPTH_MAX), so every module sees
 * one shape of result. glibc's ns_* parser (libresolv) walks the
 * message and refuses anything that runs past its end. */
#include "net/dns.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "lib/limits.h"
#include "lib/util.h"

static void
name_norm(char *s)
{
	size_t n = strlen(s);
	if (n > 0 && s[n - 1] == '.')
		s[n - 1] = '\0';
	mm_strlower(s);
}

void
dns_result_clear(struct dns_result *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->rr[i].data);
	free(r->rr);
	r->rr = NULL;
	r->n = 0;
}

static bool
bad(struct dns_result *r, const char *why)
{
	dns_result_clear(r);
	r->rcode = DNS_ERROR;
	r->error = why;
	return false;
}

/* One record of the wanted type into r->rr[r->n]; false if malformed. */
static bool
take_rr(ns_msg *h, ns_rr *rr, int type, struct dns_result *r)
{
	const unsigned char *rd = ns_rr_rdata(*rr);
	size_t rdlen = ns_rr_rdlen(*rr);
	struct dns_rr *o = &r->rr[r->n];
	char name[NS_MAXDNAME];

	memset(o, 0, sizeof(*o));
	o->type = type;
	o->ttl = ns_rr_ttl(*rr);
	switch (type) {
	case DNS_T_A:
		if (rdlen != 4)
			return false;
		o->family = AF_INET;
		memcpy(o->addr, rd, 4);
		inet_ntop(AF_INET, o->addr, o->ip, sizeof(o->ip));
		break;
	case DNS_T_AAAA:
		if (rdlen != 16)
			return false;
		o->family = AF_INET6;
		memcpy(o->addr, rd, 16);
		inet_ntop(AF_INET6, o->addr, o->ip, sizeof(o->ip));
		break;
	case DNS_T_MX:
		if (rdlen < 3)
			return false;
		o->pref = ns_get16(rd);
		if (ns_name_uncompress(ns_msg_base(*h), ns_msg_end(*h), rd + 2, name,
		    sizeof(name)) < 0)
			return false;
		name_norm(name);
		if (strlen(name) >= sizeof(o->name))
			return false;
		mm_strlcpy(o->name, name, sizeof(o->name));
		break;
	case DNS_T_PTR:
	case DNS_T_CNAME:
		if (ns_name_uncompress(ns_msg_base(*h), ns_msg_end(*h), rd, name,
		    sizeof(name)) < 0)
			return false;
		name_norm(name);
		if (strlen(name) >= sizeof(o->name))
			return false;
		mm_strlcpy(o->name, name, sizeof(o->name));
		break;
	case DNS_T_TXT: {
		/* character-strings, joined (RFC 7208 3.3, RFC 6376 3.6.2.2) */
		struct mm_buf b;
		size_t off = 0;
		mm_buf_init(&b);
		while (off < rdlen) {
			size_t n = rd[off++];
			if (off + n > rdlen) {
				mm_buf_free(&b);
				return false;
			}
			if (b.len + n > DNS_TXT_MAX_BYTES) {
				mm_buf_free(&b);
				return false;
			}
			mm_buf_append(&b, rd + off, n);
			off += n;
		}
		o->len = b.len;
		o->data = (unsigned char *)mm_buf_cstr(&b);
		break;
	}
	case DNS_T_TLSA:
		if (rdlen < 3)
			return false;
		o->usage = rd[0];
		o->selector = rd[1];
		o->mtype = rd[2];
		o->len = rdlen - 3;
		o->data = xmalloc(o->len + 1);
		memcpy(o->data, rd + 3, o->len);
		o->data[o->len] = '\0';
		break;
	default:
		o->len = rdlen;
		o->data = xmalloc(rdlen + 1);
		memcpy(o->data, rd, rdlen);
		o->data[rdlen] = '\0';
		break;
	}
	r->n++;
	if (r->ttl == 0 || o->ttl < r->ttl)
		r->ttl = o->ttl;
	return true;
}

bool
dns_parse_answer(const unsigned char *pkt, size_t len, const char *qname,
    int qtype, bool trust_ad, struct dns_result *r)
{
	char want[NS_MAXDNAME], name[NS_MAXDNAME];
	ns_msg h;
	ns_rr rr;
	int count;

	memset(r, 0, sizeof(*r));
	r->qtype = qtype;
	mm_strlcpy(name, qname, sizeof(name));
	name_norm(name);
	mm_strlcpy(r->qname, name, sizeof(r->qname));
	mm_strlcpy(r->canon, name, sizeof(r->canon));
	if (len < NS_HFIXEDSZ || len > DNS_ANSWER_MAX_BYTES ||
	    ns_initparse(pkt, (int)len, &h) < 0)
		return bad(r, "malformed answer");
	if (!(pkt[2] & 0x80))
		return bad(r, "not an answer (QR clear)");
	/* the question must be ours */
	if (ns_msg_count(h, ns_s_qd) != 1 || ns_parserr(&h, ns_s_qd, 0, &rr) < 0)
		return bad(r, "answer without the question");
	mm_strlcpy(want, ns_rr_name(rr), sizeof(want));
	name_norm(want);
	if (!mm_strcaseeq(want, r->qname) || (int)ns_rr_type(rr) != qtype)
		return bad(r, "answer to another question");
	if (trust_ad)
		r->secure = (pkt[3] & 0x20) != 0;   /* AD, RFC 4035 3.2.3 */

	switch (ns_msg_getflag(h, ns_f_rcode)) {
	case ns_r_noerror:
		r->rcode = DNS_NOERROR;
		break;
	case ns_r_nxdomain:
		r->rcode = DNS_NXDOMAIN;
		r->error = "no such domain";
		return true;
	case ns_r_servfail:
		r->rcode = DNS_SERVFAIL;
		r->error = "server failure";
		return true;
	default:
		r->rcode = DNS_SERVFAIL;
		r->error = "query refused or not understood";
		return true;
	}

	count = ns_msg_count(h, ns_s_an);
	/* CNAME chains inside the answer (RFC 1034 3.6.2) */
	for (int depth = 0; depth < DNS_CNAME_DEPTH_MAX && qtype != DNS_T_CNAME; depth++) {
		bool moved = false;
		for (int i = 0; i < count; i++) {
			if (ns_parserr(&h, ns_s_an, i, &rr) < 0)
				return bad(r, "malformed answer record");
			if (ns_rr_type(rr) != ns_t_cname || ns_rr_class(rr) != ns_c_in)
				continue;
			mm_strlcpy(name, ns_rr_name(rr), sizeof(name));
			name_norm(name);
			if (!mm_strcaseeq(name, r->canon))
				continue;
			if (ns_name_uncompress(ns_msg_base(h), ns_msg_end(h),
			    ns_rr_rdata(rr), name, sizeof(name)) < 0)
				return bad(r, "malformed CNAME");
			name_norm(name);
			if (strlen(name) >= sizeof(r->canon))
				return bad(r, "CNAME target too long");
			mm_strlcpy(r->canon, name, sizeof(r->canon));
			moved = true;
			break;
		}
		if (!moved)
			break;
	}

	r->rr = xcalloc(DNS_RECORDS_MAX, sizeof(*r->rr));
	for (int i = 0; i < count && r->n < DNS_RECORDS_MAX; i++) {
		if (ns_parserr(&h, ns_s_an, i, &rr) < 0)
			return bad(r, "malformed answer record");
		if ((int)ns_rr_type(rr) != qtype || ns_rr_class(rr) != ns_c_in)
			continue;
		mm_strlcpy(name, ns_rr_name(rr), sizeof(name));
		name_norm(name);
		if (!mm_strcaseeq(name, r->canon))
			continue;
		if (!take_rr(&h, &rr, qtype, r))
			return bad(r, qtype == DNS_T_TXT ? "malformed or oversized TXT "
			    "record" : "malformed record");
	}
	if (qtype == DNS_T_MX) {
		/* insertion sort by preference, stable (RFC 5321 5.1) */
		for (size_t i = 1; i < r->n; i++) {
			struct dns_rr t = r->rr[i];
			size_t j = i;
			while (j > 0 && r->rr[j - 1].pref > t.pref) {
				r->rr[j] = r->rr[j - 1];
				j--;
			}
			r->rr[j] = t;
		}
	}
	return true;
}

bool
dns_ptr_name(const char *ip, char *out, size_t outlen)
{
	unsigned char a[16];
	static const char hex[] = "0123456789abcdef";

	if (inet_pton(AF_INET, ip, a) == 1) {
		snprintf(out, outlen, "%u.%u.%u.%u.in-addr.arpa", a[3], a[2], a[1], a[0]);
		return true;
	}
	if (inet_pton(AF_INET6, ip, a) != 1 || outlen < 16 * 4 + sizeof("ip6.arpa"))
		return false;
	char *p = out;
	for (int i = 15; i >= 0; i--) {
		*p++ = hex[a[i] & 0xf];
		*p++ = '.';
		*p++ = hex[a[i] >> 4];
		*p++ = '.';
	}
	memcpy(p, "ip6.arpa", sizeof("ip6.arpa"));
	return true;
}

size_t
dns_build_query(const char *name, int type, uint16_t id, bool ad,
    unsigned char *buf, size_t buflen)
{
	int n;

	if (buflen < NS_HFIXEDSZ + NS_MAXCDNAME + NS_QFIXEDSZ + 11)
		return 0;
	memset(buf, 0, NS_HFIXEDSZ);
	buf[0] = (unsigned char)(id >> 8);
	buf[1] = (unsigned char)id;
	buf[2] = 0x01;                      /* RD */
	buf[3] = ad ? 0x20 : 0;             /* AD: RFC 6840 5.7 */
	buf[5] = 1;                         /* QDCOUNT */
	buf[11] = 1;                        /* ARCOUNT: the OPT */
	n = ns_name_pton(name, buf + NS_HFIXEDSZ, NS_MAXCDNAME);
	if (n < 0)
		return 0;
	/* ns_name_pton gives the uncompressed wire name; find its length */
	const unsigned char *p = buf + NS_HFIXEDSZ;
	size_t l = 0;
	while (p[l] != 0) {
		if (p[l] > 63)
			return 0;
		l += (size_t)p[l] + 1;
		if (l >= NS_MAXCDNAME)
			return 0;
	}
	l++;
	unsigned char *q = buf + NS_HFIXEDSZ + l;
	*q++ = (unsigned char)(type >> 8);
	*q++ = (unsigned char)type;
	*q++ = 0;
	*q++ = 1;                           /* class IN */
	/* OPT RR (RFC 6891 6.1.2): root name, type 41, class = UDP size,
	 * TTL: extended rcode 0, version 0, DO set (RFC 3225) so that a
	 * validating resolver does its work */
	*q++ = 0;
	*q++ = 0;
	*q++ = 41;
	*q++ = (unsigned char)(DNS_UDP_PAYLOAD_BYTES >> 8);
	*q++ = (unsigned char)DNS_UDP_PAYLOAD_BYTES;
	*q++ = 0;
	*q++ = 0;
	*q++ = 0x80;
	*q++ = 0;
	*q++ = 0;
	*q++ = 0;
	return (size_t)(q - buf);
}

const char *
dns_type_name(int type, char *buf, size_t len)
{
	switch (type) {
	case DNS_T_A: return "A";
	case DNS_T_CNAME: return "CNAME";
	case DNS_T_PTR: return "PTR";
	case DNS_T_MX: return "MX";
	case DNS_T_TXT: return "TXT";
	case DNS_T_AAAA: return "AAAA";
	case DNS_T_TLSA: return "TLSA";
	default:
		snprintf(buf, len, "TYPE%d", type);
		return buf;
	}
}
