/* ctl-inbound.c: minimailctl spf-check and auth-check.
 *
 * The one idea: these are the daemon's own checks, not a second
 * implementation: a private event loop, the daemon's resolver (net/dns)
 * built from the same [dns] settings, and the inbound module's pump,
 * run until its one callback breaks the loop. */
#include <errno.h>
#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl/ctl-dnscheck.h"
#include "ctl/ctl-inbound.h"
#include "dkim/dkim.h"
#include "inbound/inbound.h"
#include "lib/config.h"
#include "lib/util.h"
#include "net/dns.h"

struct ctl_run {
	struct event_base *base;
	struct dns *dns;
	int rc;
};

static void __attribute__((noreturn, format(printf, 1, 2)))
fail(const char *fmt, ...)
{
	va_list ap;

	fputs("minimailctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void
run_open(struct ctl_run *r, const struct config *cfg)
{
	char err[256];

	r->rc = 1;
	if ((r->base = event_base_new()) == NULL)
		fail("cannot create an event loop");
	if ((r->dns = dns_new(r->base, cfg, err, sizeof(err))) == NULL)
		fail("dns: %s", err);
}

static void
run_close(struct ctl_run *r)
{
	dns_free(&r->dns);
	event_base_free(r->base);
}

static void
spf_done(void *arg, const struct spf_outcome *o)
{
	struct ctl_run *r = arg;

	if (o->explanation[0] != '\0')
		printf("%s %s\n", spf_result_name(o->result), o->explanation);
	else
		printf("%s\n", spf_result_name(o->result));
	r->rc = 0;
	event_base_loopbreak(r->base);
}

int
ctl_spf_check(const struct config *cfg, int argc, char **argv)
{
	struct ctl_run r;

	if (argc != 4)
		fail("usage: minimailctl spf-check IP MAIL-FROM HELO");
	run_open(&r, cfg);
	if (inbound_spf_start(r.base, r.dns, argv[1], argv[2], argv[3], cfg->hostname,
	    spf_done, &r) == NULL)
		fail("cannot start the SPF check");
	event_base_dispatch(r.base);
	run_close(&r);
	if (fflush(stdout) != 0)
		fail("writing the result: %s", strerror(errno));
	return r.rc;
}

static void
auth_done(void *arg, struct inbound_verdict *v)
{
	struct ctl_run *r = arg;

	/* a terminal's and a script's lines end in LF */
	for (size_t i = 0; i < v->header.len; i++)
		if (v->header.data[i] != '\r')
			putchar(v->header.data[i]);
	r->rc = 0;
	event_base_loopbreak(r->base);
}

/* The message as port 25 would see it: lines end in CRLF. At most
 * max bytes (max_message_size). */
static void
read_message(const char *path, uint64_t max, struct mm_buf *out)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	int ch, prev = 0;

	if (f == NULL)
		fail("%s: %s", path, strerror(errno));
	while ((ch = getc(f)) != EOF) {
		if (ch == '\n' && prev != '\r')
			mm_buf_appendc(out, '\r');
		mm_buf_appendc(out, (char)ch);
		prev = ch;
		if (out->len > max)
			fail("%s: larger than max_message_size (%llu bytes)", path,
			    (unsigned long long)max);
	}
	if (ferror(f))
		fail("%s: %s", path, strerror(errno));
	if (f != stdin)
		fclose(f);
}

int
ctl_auth_check(const struct config *cfg, int argc, char **argv)
{
	struct inbound_req req = { 0 };
	struct ctl_run r;
	struct mm_buf msg;
	const char *file = NULL;

	req.helo = "";
	req.mail_from = "";
	for (int i = 1; i < argc; i++) {
		const char **opt = NULL;
		if (strcmp(argv[i], "--ip") == 0)
			opt = &req.ip;
		else if (strcmp(argv[i], "--helo") == 0)
			opt = &req.helo;
		else if (strcmp(argv[i], "--mail-from") == 0)
			opt = &req.mail_from;
		if (opt != NULL) {
			if (++i == argc)
				fail("%s needs a value", argv[i - 1]);
			*opt = argv[i];
		} else if (file == NULL && (argv[i][0] != '-' || strcmp(argv[i], "-") == 0)) {
			file = argv[i];
		} else {
			fail("usage: minimailctl auth-check [--ip IP] [--helo NAME] "
			    "[--mail-from ADDR] FILE|-");
		}
	}
	if (file == NULL)
		fail("usage: minimailctl auth-check [--ip IP] [--helo NAME] "
		    "[--mail-from ADDR] FILE|-");
	mm_buf_init(&msg);
	read_message(file, cfg->max_message_size, &msg);
	/* without a client address there is no SPF identity to check */
	req.spf = cfg->inbound_spf && req.ip != NULL;
	req.dkim = cfg->inbound_dkim;
	req.dmarc = cfg->inbound_dmarc;
	req.dmarc_reject = cfg->inbound_dmarc_reject;
	req.authserv_id = cfg->hostname;
	req.msg = msg.data ? msg.data : "";
	req.len = msg.len;
	if (req.ip == NULL)
		req.ip = "0.0.0.0";
	if (req.dkim) {
		/* the whole file at once: what port 25 does as the data streams */
		const char *end = strstr(req.msg, "\r\n\r\n");
		size_t hlen = end ? (size_t)(end - req.msg) + 4 : req.len;
		if (req.len >= 2 && memcmp(req.msg, "\r\n", 2) == 0)
			hlen = 2;
		req.dkim_verifier = dkim_verify_new(time(NULL));
		dkim_verify_header(req.dkim_verifier, req.msg, hlen);
		dkim_verify_body(req.dkim_verifier, req.msg + hlen, req.len - hlen);
	}
	run_open(&r, cfg);
	if (inbound_start(r.base, r.dns, &req, auth_done, &r) == NULL)
		fail("cannot start the checks");
	event_base_dispatch(r.base);
	run_close(&r);
	mm_buf_free(&msg);
	if (fflush(stdout) != 0)
		fail("writing the result: %s", strerror(errno));
	return r.rc;
}

/* ---- dns check: one question at a time through the resolver ---- */

struct sync_q {
	struct event_base *base;
	int type;
	bool done;
	enum ctl_dns_answer answer;
	struct mm_strlist *out;
};

static void
sync_done(void *arg, const struct dns_result *r)
{
	struct sync_q *q = arg;
	char line[DNS_NAME_MAX_BYTES + 16];

	q->done = true;
	event_base_loopbreak(q->base);
	if (r->rcode == DNS_NXDOMAIN) {
		q->answer = CTL_DNS_NONE;
		return;
	}
	if (r->rcode != DNS_NOERROR) {
		q->answer = CTL_DNS_TEMP;
		return;
	}
	for (size_t i = 0; i < r->n; i++) {
		const struct dns_rr *x = &r->rr[i];
		if (x->type != q->type)
			continue;
		if (x->type == DNS_T_A || x->type == DNS_T_AAAA)
			mm_strlist_add(q->out, x->ip);
		else if (x->type == DNS_T_MX) {
			snprintf(line, sizeof(line), "%u %s", x->pref, x->name);
			mm_strlist_add(q->out, line);
		} else if (x->type == DNS_T_PTR)
			mm_strlist_add(q->out, x->name);
		else if (x->type == DNS_T_TXT)
			mm_strlist_addn(q->out, (const char *)x->data, x->len);
	}
	q->answer = q->out->n > 0 ? CTL_DNS_OK : CTL_DNS_NONE;
}

static enum ctl_dns_answer
sync_lookup(void *arg, enum ctl_rr type, const char *name, struct mm_strlist *out)
{
	static const int types[] = { DNS_T_A, DNS_T_AAAA, DNS_T_MX, DNS_T_TXT, DNS_T_PTR };
	struct ctl_run *r = arg;
	struct sync_q q = { r->base, types[type], false, CTL_DNS_TEMP, out };

	(void)dns_query(r->dns, name, q.type, sync_done, &q);
	while (!q.done)
		event_base_loop(r->base, EVLOOP_ONCE);
	return q.answer;
}

int
ctl_dns_check_resolver(const struct config *cfg, const char *domain, const char *selector)
{
	struct ctl_run r;

	run_open(&r, cfg);
	int rc = ctl_dns_check(cfg, domain, selector, sync_lookup, &r, stdout);
	run_close(&r);
	if (fflush(stdout) != 0)
		fail("writing the result: %s", strerror(errno));
	return rc;
}
