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
 * does not compile, fails at run time, names a mailbox that does not
 * exist (without :create), or rejects after another recipient accepted,
 * gives that user's INBOX and a log line. Vacation replies are built here
 * (RFC 5230, RFC 3834: Auto-Submitted, In-Reply-To, References, the null
 * sender) after the rules (sieve_vacation_allowed) and the once-per-:days
 * record in the store, and queued after the delivery committed.
 * Runs on a worker thread: it may block on the store. */
#include "smtp/smtp-sieve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base64.h"
#include "lib/limits.h"
#include "lib/log.h"
#include "mail/address.h"
#include "mail/date.h"
#include "mail/header.h"
#include "mail/mime.h"

#define REDIRECT_HEADER "X-Sieve-Redirected-By"
#define SMTP_SIEVE_RESOLVE_MAX 16	/* users one alias may expand to, looked at */

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
		if (strlen(fl) > STORE_KEYWORD_MAX_BYTES)
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
	vac->to = xstrdup(a->reply_to);
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
	struct sieve_include_if inc = { &ic, inc_lookup };
	struct sieve_script *s;
	struct sieve_error err;
	if (!sieve_compile(text, len, &j->lim, &inc, &s, &err)) {
		log_warn("sieve session=%llx id=%s user=%s script=\"%s\" event=keep "
		    "error=\"line %u: %s\"", j->session, j->id, user, name, err.line, err.msg);
		free(name);
		free(text);
		return false;
	}
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
			*rejected = true;
			mm_strlcpy(j->reject_reason, a->arg ? a->arg : "", sizeof(j->reject_reason));
			break;
		case SIEVE_ACT_VACATION:
			if (a->reply_to)
				vacation(j, user, a, &mif2);
			break;
		}
	}
	sieve_result_free(&res);
	sieve_msg_free(&m);
	sieve_script_free(&s);
	free(name);
	free(text);
	return true;
}

void
smtp_sieve_apply(struct smtp_sieve *j, struct mm_buf *msg, char *const *users, size_t nusers)
{
	bool kw_differ = false;
	struct mm_strlist pending, rejecting;
	mm_strlist_init(&pending);
	mm_strlist_init(&rejecting);
	mm_strlist_init(&j->strings);
	mm_strlist_init(&j->keywords);
	mm_strlist_init(&j->redirects);
	for (size_t i = 0; i < nusers; i++) {
		bool rejected = false;
		if (!run_user(j, msg, users[i], &kw_differ, &rejected, &pending))
			add_target(j, users[i], NULL, 0);
		if (rejected)
			mm_strlist_add(&rejecting, users[i]);
	}
	j->rejects = rejecting.n;
	if (rejecting.n > 0 && rejecting.n < nusers) {
		/* RFC 5429 2.1: after another recipient took the message, the
		 * refusal would be a bounce; we keep it for that user instead */
		for (size_t i = 0; i < rejecting.n; i++) {
			log_warn("sieve session=%llx id=%s user=%s event=reject-kept reason=\"%s\"",
			    j->session, j->id, rejecting.v[i], j->reject_reason);
			add_target(j, rejecting.v[i], NULL, 0);
		}
		j->rejects = 0;
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
	mm_strlist_clear(&rejecting);
}

void
smtp_sieve_send_vacations(struct smtp_sieve *j)
{
	for (size_t i = 0; i < j->nvac; i++) {
		const char *rc[1] = { j->vac[i].to };
		struct store_qnew q = { .sender = "", .rcpts = rc, .nrcpts = 1 };
		for (size_t k = 0; k < j->vac[i].msg.len; k++)
			if ((unsigned char)j->vac[i].msg.data[k] >= 0x80) {
				q.flags |= STORE_QF_8BIT;
				break;
			}
		size_t nq = 0;
		int r = store_deliver_queue(j->st, NULL, 0, j->vac[i].msg.data, j->vac[i].msg.len,
		    j->now, NULL, 0, &q, NULL, 0, &nq);
		if (r != STORE_OK)
			log_warn("sieve session=%llx id=%s event=vacation-failed to=%s error=\"%s\"",
			    j->session, j->id, j->vac[i].to, store_strerror(r));
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
}
