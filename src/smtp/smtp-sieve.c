/* smtp-sieve.c: Sieve at delivery. For every local user of a message,
 * the user's active script (from the store) is compiled and run on the
 * message (src/sieve, pure), and its actions become delivery targets of
 * the one store transaction smtp-data.c makes: keep and fileinto are
 * (user, mailbox, flags) targets, fileinto :create makes the mailbox
 * first, discard drops the user's target, redirect to a local user is
 * that user's INBOX and to a remote address a queue recipient of the same
 * transaction. So a crash never half-files a message: either every
 * target and queue entry is stored or none is.
 *
 * The one idea: nothing a script does can lose the message. A script that
 * does not compile, fails at run time, or names a mailbox that does not
 * exist (without :create) gives that user's INBOX and a log line. A reject
 * is a 550 at DATA when nobody else takes the message, else a bounce to
 * the envelope sender (RFC 5429 2.1.2); where no bounce may be sent (the
 * null sender, auto-submitted mail) that user's INBOX and a log line.
 * Vacation replies are built here (RFC 5230, RFC 3834: Auto-Submitted,
 * In-Reply-To, References, the null sender) after the rules
 * (sieve_vacation_allowed) and the once-per-:days record in the store,
 * and queued after the delivery committed; reject bounces to remote
 * senders are queued in the delivery's own transaction.
 * Runs on a worker thread: it may block on the store. */
#include "smtp/smtp-sieve.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base64.h"
#include "lib/limits.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "mail/address.h"
#include "mail/cache.h"
#include "mail/date.h"
#include "mail/header.h"
#include "mail/mime.h"

#define REDIRECT_HEADER "X-Sieve-Redirected-By"
#define SMTP_SIEVE_RESOLVE_MAX 16	/* users one alias may expand to, looked at */
#define SMTP_SIEVE_REASON_MAX 4096	/* reject reason bytes put in a bounce */
#define SMTP_SIEVE_KEYWORDS_MAX 16	/* imap4flags keywords stored with one message */

static const char *
keep_str(struct smtp_sieve *j, const char *s)
{
	mm_strlist_add(&j->strings, s);
	return j->strings.v[j->strings.n - 1];
}

static void
add_target(struct smtp_sieve *j, const char *user, const char *mailbox, uint32_t flags)
{
	for (size_t i = 0; i < j->n; i++) {
		const char *mb = j->rcpts[i].mailbox ? j->rcpts[i].mailbox : "INBOX";
		if (mm_strcaseeq(j->rcpts[i].user, user) &&
		    (mailbox ? strcmp(mb, mailbox) == 0 || (mm_strcaseeq(mb, "INBOX") && mm_strcaseeq(mailbox, "INBOX")) :
		    mm_strcaseeq(mb, "INBOX"))) {
			j->rcpts[i].flags |= flags;
			return;
		}
	}
	if (j->n == j->cap) {
		j->cap = j->cap ? j->cap * 2 : 8;
		j->rcpts = xrealloc(j->rcpts, j->cap * sizeof(*j->rcpts));
	}
	struct store_rcpt *r = &j->rcpts[j->n++];
	memset(r, 0, sizeof(*r));
	r->user = keep_str(j, user);
	r->mailbox = mailbox && !mm_strcaseeq(mailbox, "INBOX") ? keep_str(j, mailbox) : NULL;
	r->flags = flags;
}

/* imap4flags: system flags to MSG_*, the others are keywords. */
static uint32_t
map_flags(struct smtp_sieve *j, const struct sieve_action *a, bool *kw_differ)
{
	static const struct { const char *n; uint32_t f; } sys[] = {
		{ "\\Seen", MSG_SEEN }, { "\\Answered", MSG_ANSWERED }, { "\\Flagged", MSG_FLAGGED },
		{ "\\Deleted", MSG_DELETED }, { "\\Draft", MSG_DRAFT },
	};
	uint32_t f = 0;
	for (size_t i = 0; i < a->flags.n; i++) {
		const char *fl = a->flags.v[i];
		if (fl[0] == '\\') {
			for (size_t k = 0; k < sizeof(sys) / sizeof(sys[0]); k++)
				if (mm_strcaseeq(fl, sys[k].n))
					f |= sys[k].f;
			continue;
		}
		/* RFC 5232 3: a flag the server cannot store is ignored, not a
		 * reason to refuse the delivery (the store refuses the whole
		 * call for a bad keyword or too many) */
		if (!store_keyword_valid(fl) ||
		    (j->keywords.n >= SMTP_SIEVE_KEYWORDS_MAX &&
		    !mm_strlist_contains_case(&j->keywords, fl)))
			continue;
		/* the store takes one keyword list for all targets */
		if (!mm_strlist_contains_case(&j->keywords, fl)) {
			if (j->keywords.n > 0 && !*kw_differ)
				*kw_differ = true;
			mm_strlist_add(&j->keywords, fl);
		}
	}
	return f;
}

static bool
local_domain(const struct smtp_sieve *j, const char *addr)
{
	const char *at = strrchr(addr, '@');
	return at && j->domains && mm_strlist_contains_case(j->domains, at + 1);
}

struct inc_ctx {
	struct store *st;
	const char *user;
};

static bool
inc_lookup(void *ctx, bool global, const char *name, char **text_r, size_t *len_r)
{
	struct inc_ctx *c = ctx;
	if (global || !store_sieve_name_valid(name))
		return false;
	return store_sieve_get(c->st, c->user, name, text_r, len_r) == STORE_OK;
}

static bool
inc_stamp(void *ctx, uint64_t *stamp_r)
{
	struct inc_ctx *c = ctx;
	return store_sieve_generation(c->st, stamp_r);
}

static bool
mailbox_exists(void *ctx, const char *name)
{
	struct inc_ctx *c = ctx;
	struct store_mailbox mb;
	return store_mailbox_get(c->st, c->user, name, &mb) == STORE_OK;
}

/* Was the message redirected by this user before (a loop)? */
static bool
redirected_before(const char *msg, size_t len, const char *user)
{
	struct mail_header h;
	bool found = false;
	mail_header_parse(msg, 0, len, &h);
	for (size_t i = 0; i < h.n && !found; i++) {
		const struct mail_hdr_field *f = &h.f[i];
		if (f->name_len == strlen(REDIRECT_HEADER) &&
		    mm_strncaseeq(f->name, REDIRECT_HEADER, f->name_len)) {
			char *v = mail_header_unfold(f->value, f->value_len);
			found = mm_strcaseeq(v, user);
			free(v);
		}
	}
	mail_header_free(&h);
	return found;
}

static void
add_redirect_header(struct mm_buf *msg, const char *user)
{
	/* after the Return-Path: line, so that the queue's skip still drops
	 * exactly that line */
	const char *eol = msg->len >= 12 && memcmp(msg->data, "Return-Path:", 12) == 0 ?
	    memchr(msg->data, '\n', msg->len) : NULL;
	size_t at = eol ? (size_t)(eol - msg->data) + 1 : 0;
	struct mm_buf b;
	mm_buf_init(&b);
	mm_buf_append(&b, msg->data, at);
	mm_buf_printf(&b, "%s: %s\r\n", REDIRECT_HEADER, user);
	mm_buf_append(&b, msg->data + at, msg->len - at);
	if (msg->cap > 0)
		mm_buf_free(msg);   /* cap 0: a view of the spool, not ours to free */
	*msg = b;
}

/* A header value safe to write: UTF-8 becomes one RFC 2047 word. */
static void
header_text(struct mm_buf *b, const char *s)
{
	bool plain = true;
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p >= 0x80 || *p == '\r' || *p == '\n')
			plain = false;
	if (plain) {
		mm_buf_append(b, s, strlen(s));
		return;
	}
	size_t n = strlen(s) > 600 ? 600 : strlen(s), el;
	char *enc = xmalloc(BASE64_ENCODED_LEN(n) + 1);
	if (base64_encode(s, n, enc, BASE64_ENCODED_LEN(n) + 1, &el) == BASE64_OK)
		mm_buf_printf(b, "=?utf-8?b?%s?=", enc);
	free(enc);
}

static void
build_vacation(struct smtp_sieve *j, const char *user, const struct sieve_action *a,
    const struct sieve_msg_if *mif)
{
	struct mm_strlist v;
	mm_strlist_init(&v);
	struct smtp_sieve_vac *vac;
	j->vac = xrealloc(j->vac, (j->nvac + 1) * sizeof(*j->vac));
	vac = &j->vac[j->nvac++];
	memset(vac, 0, sizeof(*vac));
	vac->to = xstrdup(a->reply_to);
	vac->what = "vacation";
	mm_buf_init(&vac->msg);
	struct mm_buf *b = &vac->msg;
	char date[64];
	struct tm lt;
	localtime_r(&j->now, &lt);
	mail_date_format_rfc5322(j->now, (int)(lt.tm_gmtoff / 60), date, sizeof(date));
	mm_buf_printf(b, "From: %s\r\n", a->from ? a->from : user);
	mm_buf_printf(b, "To: <%s>\r\n", a->reply_to);
	mm_buf_printf(b, "Subject: ");
	header_text(b, a->subject ? a->subject : "Automated reply");
	mm_buf_printf(b, "\r\nDate: %s\r\n", date);
	mm_buf_printf(b, "Message-ID: <sieve.%s.%llx@%s>\r\n", j->id, (unsigned long long)j->nvac,
	    j->hostname);
	mif->headers(mif->ctx, "message-id", &v);
	char *mid = v.n ? mail_header_unfold(v.v[0], strlen(v.v[0])) : NULL;
	mm_strlist_clear(&v);
	mm_strlist_init(&v);
	mif->headers(mif->ctx, "references", &v);
	char *refs = v.n ? mail_header_unfold(v.v[0], strlen(v.v[0])) : NULL;
	if (mid && *mid && strlen(mid) < 998) {
		mm_buf_printf(b, "In-Reply-To: %s\r\n", mid);
		if (refs && *refs && strlen(refs) < 900)
			mm_buf_printf(b, "References: %s %s\r\n", refs, mid);
		else
			mm_buf_printf(b, "References: %s\r\n", mid);
	}
	free(mid);
	free(refs);
	mm_strlist_clear(&v);
	mm_buf_printf(b, "Auto-Submitted: auto-replied (vacation)\r\n");
	mm_buf_printf(b, "MIME-Version: 1.0\r\n");
	size_t n;
	char *body = mail_crlf_normalize(a->arg ? a->arg : "", a->arg ? strlen(a->arg) : 0, &n);
	if (a->mime) {
		/* :mime: the reason is a MIME entity, headers included */
		mm_buf_append(b, body, n);
	} else {
		mm_buf_printf(b, "Content-Type: text/plain; charset=utf-8\r\n"
		    "Content-Transfer-Encoding: 8bit\r\n\r\n");
		mm_buf_append(b, body, n);
	}
	if (b->len < 2 || memcmp(b->data + b->len - 2, "\r\n", 2) != 0)
		mm_buf_append(b, "\r\n", 2);
	free(body);
}

static void
vacation(struct smtp_sieve *j, const char *user, const struct sieve_action *a,
    const struct sieve_msg_if *mif)
{
	struct mm_strlist own;
	mm_strlist_init(&own);
	mm_strlist_add(&own, user);
	for (size_t i = 0; i < a->addresses.n; i++)
		mm_strlist_add(&own, a->addresses.v[i]);
	const char *why = NULL;
	bool send = false;
	if (!sieve_vacation_allowed(mif, a->reply_to, &own, &why)) {
		log_info("sieve session=%llx id=%s user=%s event=vacation-skipped reason=%s",
		    j->session, j->id, user, why);
	} else if (store_sieve_vacation(j->st, user, a->handle ? a->handle : "", a->reply_to,
	    j->now, a->seconds, &send) != STORE_OK) {
		log_warn("sieve session=%llx id=%s user=%s event=vacation-skipped reason=store-error",
		    j->session, j->id, user);
	} else if (!send) {
		log_info("sieve session=%llx id=%s user=%s event=vacation-skipped reason=already-replied",
		    j->session, j->id, user);
	} else {
		build_vacation(j, user, a, mif);
		log_info("sieve session=%llx id=%s user=%s event=vacation to=%s", j->session, j->id,
		    user, a->reply_to);
	}
	mm_strlist_clear(&own);
}

/* Why a rejection may not be sent as a bounce (RFC 5429 2.1.2, RFC 3834
 * 2): to the null sender, to a mailer daemon, for auto-submitted mail;
 * NULL when it may. */
static const char *
reject_nobounce(const struct smtp_sieve *j, const struct sieve_msg_if *mif)
{
	const char *s = j->env_from;
	if (s == NULL || *s == '\0' || strcmp(s, "<>") == 0)
		return "null-sender";
	const char *at = strrchr(s, '@');
	size_t ll = at ? (size_t)(at - s) : strlen(s);
	if (ll == 13 && mm_strncaseeq(s, "mailer-daemon", 13))
		return "system-sender";
	struct mm_strlist v;
	const char *why = NULL;
	mm_strlist_init(&v);
	mif->headers(mif->ctx, "auto-submitted", &v);
	if (v.n > 0) {
		char *u = mail_header_unfold(v.v[0], strlen(v.v[0]));
		const char *p = u;
		while (*p == ' ' || *p == '\t')
			p++;
		if (!(mm_strncaseeq(p, "no", 2) &&
		    (p[2] == '\0' || p[2] == ' ' || p[2] == ';' || p[2] == '(')))
			why = "auto-submitted";
		free(u);
	}
	mm_strlist_clear(&v);
	return why;
}

/* ASCII text for a header or a DSN field, one line: at most max bytes,
 * runs of white space and control bytes one space, 8-bit bytes '?'. */
static void
ascii_text(struct mm_buf *b, const char *s, size_t max)
{
	size_t w = 0;
	bool space = false;
	for (const char *p = s; *p && w < max; p++) {
		unsigned char c = (unsigned char)*p;
		if (c <= 0x20 || c == 0x7f) {
			space = w > 0;
			continue;
		}
		if (space && w + 1 < max) {
			mm_buf_appendc(b, ' ');
			w++;
		}
		space = false;
		mm_buf_appendc(b, c >= 0x80 ? '?' : (char)c);
		w++;
	}
}

/* The rejection bounce (RFC 5429 2.1.2: a DSN, RFC 3464): the reason as
 * the human-readable part, the delivery status (5.7.1), the original
 * header (RFC 3462 text/rfc822-headers; our own Return-Path: left out).
 * The message starts with "Return-Path: <>", which the queue skips. */
static void
build_reject_bounce(struct smtp_sieve *j, const struct smtp_sieve_rej *r,
    const struct mm_buf *msg)
{
	j->vac = xrealloc(j->vac, (j->nvac + 1) * sizeof(*j->vac));
	struct smtp_sieve_vac *vac = &j->vac[j->nvac++];
	memset(vac, 0, sizeof(*vac));
	vac->to = xstrdup(j->env_from);
	vac->what = "reject-bounce";
	mm_buf_init(&vac->msg);
	struct mm_buf *b = &vac->msg;
	char date[64], boundary[71];	/* RFC 2046 5.1.1: at most 70 */
	struct tm lt;
	localtime_r(&j->now, &lt);
	mail_date_format_rfc5322(j->now, (int)(lt.tm_gmtoff / 60), date, sizeof(date));
	snprintf(boundary, sizeof(boundary), "sieve-reject.%.24s.%llx.%lld", j->id,
	    (unsigned long long)j->nvac, (long long)j->now);
	mm_buf_printf(b, "Return-Path: <>\r\n");
	mm_buf_printf(b, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n", j->hostname);
	mm_buf_printf(b, "To: <%s>\r\n", j->env_from);
	mm_buf_printf(b, "Subject: Automatically rejected mail\r\n");
	mm_buf_printf(b, "Date: %s\r\n", date);
	mm_buf_printf(b, "Message-ID: <sieve-reject.%s.%llx@%s>\r\n", j->id,
	    (unsigned long long)j->nvac, j->hostname);
	mm_buf_printf(b, "Auto-Submitted: auto-replied (rejected)\r\n");
	mm_buf_printf(b, "MIME-Version: 1.0\r\n");
	mm_buf_printf(b, "Content-Type: multipart/report; report-type=delivery-status;\r\n"
	    "\tboundary=\"%s\"\r\n", boundary);
	mm_buf_printf(b, "\r\nThis is a MIME-encapsulated message.\r\n\r\n");
	mm_buf_printf(b, "--%s\r\nContent-Description: Notification\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n\r\n", boundary);
	mm_buf_printf(b, "Your message to <%s> was automatically rejected by the\r\n"
	    "recipient's mail filter, which gave this reason:\r\n\r\n", r->env_to);
	size_t rl = strlen(r->reason), n;
	if (rl > SMTP_SIEVE_REASON_MAX)
		rl = SMTP_SIEVE_REASON_MAX;
	char *reason = mail_crlf_normalize(r->reason, rl, &n);
	mm_buf_append(b, reason, n);
	free(reason);
	if (b->len < 2 || memcmp(b->data + b->len - 2, "\r\n", 2) != 0)
		mm_buf_append(b, "\r\n", 2);
	mm_buf_printf(b, "\r\n--%s\r\nContent-Description: Delivery report\r\n"
	    "Content-Type: message/delivery-status\r\n\r\n", boundary);
	mm_buf_printf(b, "Reporting-MTA: dns; %s\r\n", j->hostname);
	mm_buf_printf(b, "Arrival-Date: %s\r\n", date);
	mm_buf_printf(b, "\r\nFinal-Recipient: rfc822; %s\r\n", r->env_to);
	mm_buf_printf(b, "Action: failed\r\nStatus: 5.7.1\r\n");
	mm_buf_printf(b, "Diagnostic-Code: smtp; 550 5.7.1 ");
	ascii_text(b, *r->reason ? r->reason : "Message refused by the recipient's filter", 200);
	mm_buf_printf(b, "\r\n\r\n--%s\r\nContent-Description: Rejected Message Headers\r\n"
	    "Content-Type: text/rfc822-headers\r\n\r\n", boundary);
	/* the original header, without our Return-Path: line, bounded */
	size_t from = 0;
	if (msg->len >= 12 && memcmp(msg->data, "Return-Path:", 12) == 0) {
		const char *eol = memchr(msg->data, '\n', msg->len);
		from = eol ? (size_t)(eol - msg->data) + 1 : 0;
	}
	mail_header_append_block(b, msg->data + from, msg->len - from, RELAY_DSN_HEADERS_MAX_BYTES);
	mm_buf_printf(b, "\r\n--%s--\r\n", boundary);
}

/* The envelope recipient a user got the message as: the RCPT address
 * that names the user, or user+detail, or resolves to the user (an
 * alias); else the user's address. */
static const char *
env_to_of(struct smtp_sieve *j, const char *user)
{
	if (j->given == NULL)
		return user;
	const char *uat = strrchr(user, '@');
	for (size_t i = 0; i < j->given->n; i++) {
		const char *r = j->given->v[i], *rat = strrchr(r, '@');
		if (mm_strcaseeq(r, user))
			return r;
		const char *plus = strchr(r, '+');
		if (plus && rat && uat && plus < rat && (size_t)(plus - r) == (size_t)(uat - user) &&
		    mm_strncaseeq(r, user, (size_t)(plus - r)) && mm_strcaseeq(rat, uat))
			return r;
	}
	for (size_t i = 0; i < j->given->n; i++) {
		char users_r[SMTP_SIEVE_RESOLVE_MAX][321], remote_r[1][321];
		size_t nu = 0, nr = 0;
		if (store_resolve(j->st, j->given->v[i], users_r, SMTP_SIEVE_RESOLVE_MAX, &nu,
		    remote_r, 1, &nr) != STORE_OK)
			continue;
		for (size_t k = 0; k < nu; k++)
			if (mm_strcaseeq(users_r[k], user))
				return j->given->v[i];
	}
	return user;
}

/* The users' compiled scripts, shared by the delivery threads: a
 * script is compiled again only when its text changes (sieve-cache.c). */
static struct sieve_cache *scripts;
static pthread_once_t scripts_once = PTHREAD_ONCE_INIT;

static void
scripts_init(void)
{
	scripts = sieve_cache_new();
}

static struct sieve_cache *
script_cache(void)
{
	pthread_once(&scripts_once, scripts_init);
	return scripts;
}

/* One user's script. false: keep the INBOX default. */
static bool
run_user(struct smtp_sieve *j, struct mm_buf *msg, const char *user, bool *kw_differ,
    bool *rejected, struct mm_strlist *pending_redirects)
{
	char *name = NULL, *text = NULL;
	size_t len;
	int r = store_sieve_active(j->st, user, &name, &text, &len);
	if (r == STORE_NOTFOUND)
		return false;
	if (r != STORE_OK) {
		log_warn("sieve session=%llx id=%s user=%s event=keep error=\"%s\"", j->session,
		    j->id, user, store_strerror(r));
		return false;
	}
	struct inc_ctx ic = { j->st, user };
	struct sieve_include_if inc = { &ic, inc_lookup, inc_stamp };
	struct sieve_script *s;
	struct sieve_error err;
	bool hit;
	if ((s = sieve_cache_compile(script_cache(), user, text, len, &j->lim, &inc, &err,
	    &hit)) == NULL) {
		metrics_sieve_cache(false);
		log_warn("sieve session=%llx id=%s user=%s script=\"%s\" event=keep "
		    "error=\"line %u: %s\"", j->session, j->id, user, name, err.line, err.msg);
		free(name);
		free(text);
		return false;
	}
	metrics_sieve_cache(hit);
	struct sieve_msg *m = sieve_msg_new(msg->data, msg->len, j->env_from, env_to_of(j, user));
	struct sieve_msg_if mif2 = *sieve_msg_if(m);
	/* mailboxexists asks the store; everything else the message */
	mif2.mailbox_exists = mailbox_exists;
	mif2.mailbox_ctx = &ic;
	mif2.now = j->now;
	struct sieve_result res;
	sieve_run(s, &mif2, &j->lim, &res);
	if (res.error)
		log_warn("sieve session=%llx id=%s user=%s script=\"%s\" event=keep "
		    "error=\"line %u: %s\"", j->session, j->id, user, name, res.errline, res.errmsg);
	for (size_t i = 0; i < res.n; i++) {
		const struct sieve_action *a = &res.a[i];
		switch (a->kind) {
		case SIEVE_ACT_KEEP:
			add_target(j, user, NULL, map_flags(j, a, kw_differ));
			break;
		case SIEVE_ACT_FILEINTO: {
			struct store_mailbox mb;
			int e = store_mailbox_get(j->st, user, a->arg, &mb);
			if (e == STORE_NOTFOUND && a->create) {
				e = store_mailbox_create(j->st, user, a->arg, 0);
				if (e == STORE_EXISTS)
					e = STORE_OK;
			}
			if (e != STORE_OK) {
				log_warn("sieve session=%llx id=%s user=%s event=fileinto-failed "
				    "mailbox=\"%s\" error=\"%s\": kept in INBOX", j->session, j->id, user,
				    a->arg, store_strerror(e));
				add_target(j, user, NULL, map_flags(j, a, kw_differ));
			} else {
				add_target(j, user, a->arg, map_flags(j, a, kw_differ));
			}
			break;
		}
		case SIEVE_ACT_REDIRECT:
			if (redirected_before(msg->data, msg->len, user)) {
				log_warn("sieve session=%llx id=%s user=%s event=redirect-loop to=%s: kept",
				    j->session, j->id, user, a->arg);
				add_target(j, user, NULL, 0);
			} else {
				mm_strlist_add(pending_redirects, user);
				mm_strlist_add(pending_redirects, a->arg);
			}
			break;
		case SIEVE_ACT_DISCARD:
			log_info("sieve session=%llx id=%s user=%s event=discard", j->session, j->id, user);
			break;
		case SIEVE_ACT_REJECT:
		case SIEVE_ACT_EREJECT:
			if (*rejected)
				break;
			*rejected = true;
			if (j->nrej == 0)
				mm_strlcpy(j->reject_reason, a->arg ? a->arg : "",
				    sizeof(j->reject_reason));
			j->rej = xrealloc(j->rej, (j->nrej + 1) * sizeof(*j->rej));
			j->rej[j->nrej].user = xstrdup(user);
			j->rej[j->nrej].env_to = xstrdup(env_to_of(j, user));
			j->rej[j->nrej].reason = xstrdup(a->arg ? a->arg : "");
			j->rej[j->nrej].nobounce = reject_nobounce(j, &mif2);
			j->nrej++;
			break;
		case SIEVE_ACT_VACATION:
			if (a->reply_to)
				vacation(j, user, a, &mif2);
			break;
		}
	}
	sieve_result_free(&res);
	sieve_msg_free(&m);
	sieve_cache_release(script_cache(), &s);
	free(name);
	free(text);
	return true;
}

void
smtp_sieve_apply(struct smtp_sieve *j, struct mm_buf *msg, char *const *users, size_t nusers,
    bool reply_open)
{
	bool kw_differ = false;
	struct mm_strlist pending;
	mm_strlist_init(&pending);
	mm_strlist_init(&j->strings);
	mm_strlist_init(&j->keywords);
	mm_strlist_init(&j->redirects);
	for (size_t i = 0; i < nusers; i++) {
		bool rejected = false;
		if (!run_user(j, msg, users[i], &kw_differ, &rejected, &pending))
			add_target(j, users[i], NULL, 0);
	}
	j->rejects = 0;
	if (j->nrej > 0 && j->nrej == nusers && reply_open && pending.n == 0) {
		/* RFC 5429 2.1.1: nobody took it, the reply refuses it */
		j->rejects = j->nrej;
	} else {
		/* RFC 5429 2.1.2: the message was (or will be) accepted for
		 * someone else, so each refusal is a bounce to the sender; where
		 * none may be sent, the user keeps the message */
		for (size_t i = 0; i < j->nrej; i++) {
			const struct smtp_sieve_rej *r = &j->rej[i];
			char rs[120];
			struct mm_buf lb;
			mm_buf_init(&lb);
			ascii_text(&lb, r->reason, 100);
			mm_strlcpy(rs, lb.len ? mm_buf_cstr(&lb) : "", sizeof(rs));
			for (char *p = rs; *p; p++)
				if (*p == '"')
					*p = '\'';
			mm_buf_free(&lb);
			if (r->nobounce != NULL) {
				log_warn("sieve session=%llx id=%s user=%s event=reject-kept "
				    "why=%s reason=\"%s\"", j->session, j->id, r->user, r->nobounce, rs);
				add_target(j, r->user, NULL, 0);
			} else {
				build_reject_bounce(j, r, msg);
				log_info("sieve session=%llx id=%s user=%s event=reject-bounce to=%s "
				    "reason=\"%s\"", j->session, j->id, r->user, j->env_from, rs);
			}
		}
	}
	/* redirects: local users get it in their INBOX, remote ones through
	 * the queue, once, with the loop-protection header */
	for (size_t i = 0; i + 1 < pending.n; i += 2) {
		const char *user = pending.v[i], *to = pending.v[i + 1];
		char users_r[4][321], remote_r[1][321];
		size_t nu = 0, nr = 0;
		if (local_domain(j, to)) {
			int e = store_resolve(j->st, to, users_r, 4, &nu, remote_r, 1, &nr);
			if (e != STORE_OK || nu == 0) {
				log_warn("sieve session=%llx id=%s user=%s event=redirect-failed to=%s "
				    "error=\"no such local user\": kept", j->session, j->id, user, to);
				add_target(j, user, NULL, 0);
				continue;
			}
			for (size_t k = 0; k < nu; k++)
				add_target(j, users_r[k], NULL, 0);
			log_info("sieve session=%llx id=%s user=%s event=redirect to=%s local=yes",
			    j->session, j->id, user, to);
			continue;
		}
		if (!mm_strlist_contains_case(&j->redirects, to))
			mm_strlist_add(&j->redirects, to);
		if (!j->redirected) {
			add_redirect_header(msg, user);
			j->redirected = true;
		}
		log_info("sieve session=%llx id=%s user=%s event=redirect to=%s", j->session, j->id,
		    user, to);
	}
	if (kw_differ)
		log_warn("sieve session=%llx id=%s event=keywords-merged: targets with different "
		    "keywords get them all", j->session, j->id);
	mm_strlist_clear(&pending);
}

/* A reject bounce to a local sender: into the sender's INBOX (as the
 * relay's own bounces, relay-engine.c dsn_send). */
static int
bounce_local(struct smtp_sieve *j, const struct smtp_sieve_vac *v)
{
	char users_r[SMTP_SIEVE_RESOLVE_MAX][321], remote_r[1][321];
	size_t nu = 0, nr = 0;
	int r = store_resolve(j->st, v->to, users_r, SMTP_SIEVE_RESOLVE_MAX, &nu, remote_r, 1,
	    &nr);
	if (r != STORE_OK)
		return r;
	if (nu == 0)
		return STORE_NOTFOUND;
	struct store_rcpt rc[SMTP_SIEVE_RESOLVE_MAX];
	memset(rc, 0, sizeof(rc));
	for (size_t i = 0; i < nu; i++)
		rc[i].user = users_r[i];
	struct mm_buf cache;
	mm_buf_init(&cache);
	mail_cache_build(v->msg.data, v->msg.len, &cache);
	r = store_deliver(j->st, rc, nu, v->msg.data, v->msg.len, j->now, cache.data,
	    cache.len, NULL, 0, false);
	mm_buf_free(&cache);
	return r;
}

static const char bounce_rp[] = "Return-Path: <>\r\n";

static bool
has_8bit(const struct mm_buf *b)
{
	for (size_t k = 0; k < b->len; k++)
		if ((unsigned char)b->data[k] >= 0x80)
			return true;
	return false;
}

size_t
smtp_sieve_bounces(struct smtp_sieve *j, struct store_qextra **extra_r)
{
	size_t n = 0;
	*extra_r = NULL;
	for (size_t i = 0; i < j->nvac; i++) {
		struct smtp_sieve_vac *v = &j->vac[i];
		if (strcmp(v->what, "reject-bounce") != 0 || local_domain(j, v->to))
			continue;
		if (*extra_r == NULL)
			*extra_r = xcalloc(j->nvac, sizeof(**extra_r));
		struct store_qextra *x = &(*extra_r)[n++];
		x->data = v->msg.data;
		x->len = v->msg.len;
		x->sender = "";
		x->rcpt = v->to;
		x->flags = has_8bit(&v->msg) ? STORE_QF_8BIT : 0;
		x->skip = v->msg.len >= sizeof(bounce_rp) - 1 &&
		    memcmp(v->msg.data, bounce_rp, sizeof(bounce_rp) - 1) == 0 ?
		    sizeof(bounce_rp) - 1 : 0;
		v->in_tx = true;
	}
	return n;
}

void
smtp_sieve_send_vacations(struct smtp_sieve *j)
{
	for (size_t i = 0; i < j->nvac; i++) {
		struct smtp_sieve_vac *v = &j->vac[i];
		bool bounce = strcmp(v->what, "reject-bounce") == 0;
		int r;
		if (v->in_tx)
			continue;
		if (bounce && local_domain(j, v->to)) {
			r = bounce_local(j, v);
		} else {
			const char *rc[1] = { v->to };
			struct store_qnew q = { .sender = "", .rcpts = rc, .nrcpts = 1 };
			if (bounce && v->msg.len >= sizeof(bounce_rp) - 1 &&
			    memcmp(v->msg.data, bounce_rp, sizeof(bounce_rp) - 1) == 0)
				q.skip = sizeof(bounce_rp) - 1;
			if (has_8bit(&v->msg))
				q.flags |= STORE_QF_8BIT;
			size_t nq = 0;
			r = store_deliver_queue(j->st, NULL, 0, v->msg.data, v->msg.len, j->now,
			    NULL, 0, &q, NULL, 0, &nq);
		}
		if (r != STORE_OK)
			log_warn("sieve session=%llx id=%s event=%s-failed to=%s error=\"%s\"",
			    j->session, j->id, v->what, v->to, store_strerror(r));
	}
}

void
smtp_sieve_free(struct smtp_sieve *j)
{
	free(j->rcpts);
	j->rcpts = NULL;
	j->n = j->cap = 0;
	mm_strlist_clear(&j->strings);
	mm_strlist_clear(&j->keywords);
	mm_strlist_clear(&j->redirects);
	for (size_t i = 0; i < j->nvac; i++) {
		free(j->vac[i].to);
		mm_buf_free(&j->vac[i].msg);
	}
	free(j->vac);
	j->vac = NULL;
	j->nvac = 0;
	for (size_t i = 0; i < j->nrej; i++) {
		free(j->rej[i].user);
		free(j->rej[i].env_to);
		free(j->rej[i].reason);
	}
	free(j->rej);
	j->rej = NULL;
	j->nrej = 0;
}
