/* smtp-sieve.h: Sieve at delivery (smtp-sieve.c). Runs on the delivery
 * worker, before and after the one store transaction of a message. */
#ifndef MM_SMTP_SIEVE_H
#define MM_SMTP_SIEVE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "lib/util.h"
#include "sieve/sieve.h"
#include "store/store.h"

struct smtp_sieve_vac {
	char *to;		/* the reply's recipient */
	struct mm_buf msg;	/* the reply, CRLF */
	const char *what;	/* "vacation" or "reject-bounce", for logs */
	bool in_tx;		/* queued in the delivery's transaction */
};

/* A user whose script rejected the message (RFC 5429). */
struct smtp_sieve_rej {
	char *user;
	char *env_to;		/* the envelope recipient the user got it as */
	char *reason;
	const char *nobounce;	/* why no bounce may be sent, or NULL */
};

struct smtp_sieve {
	/* in */
	struct store *st;
	struct sieve_limits lim;
	const struct mm_strlist *domains;	/* local domains */
	const char *hostname;
	const char *env_from;	/* "" for the null sender */
	const struct mm_strlist *given;	/* RCPT addresses as given (envelope "to") */
	const char *id;		/* transaction id, for logs */
	unsigned long long session;
	time_t now;
	/* out: the delivery targets that replace one INBOX per user */
	struct store_rcpt *rcpts;
	size_t n, cap;
	struct mm_strlist strings;	/* the targets' user and mailbox names */
	struct mm_strlist keywords;	/* imap4flags keywords (all targets) */
	struct mm_strlist redirects;	/* remote addresses for the queue */
	bool redirected;	/* the message got the loop-protection header */
	size_t rejects;		/* users rejecting, when the 550 at DATA is the answer */
	char reject_reason[256];
	struct smtp_sieve_rej *rej;	/* every user whose script rejected */
	size_t nrej;
	struct smtp_sieve_vac *vac;
	size_t nvac;
};

/* For each of the users (their INBOX the default target), runs the active
 * script, if any, on msg and fills j's targets. reply_open: the SMTP reply
 * is still ours to give (no other recipient outside this delivery, e.g. a
 * remote one, took the message); then when every user rejects and nothing
 * else is to be done, j->rejects is set and the caller answers 550 at DATA.
 * Otherwise (RFC 5429 2.1.2) each rejecting user's refusal becomes a bounce
 * to the envelope sender, queued by smtp_sieve_send_vacations() with the
 * vacation replies; when none may be sent (the null sender, auto-submitted
 * mail) the user keeps the message in INBOX, with a log line. Redirect targets that are
 * local users become their INBOX; remote ones go to j->redirects, and msg
 * gets an "X-Sieve-Redirected-By:" line after its first (Return-Path:)
 * line. A script that fails to compile or run means that user's INBOX and
 * a log line. msg may be a view the caller owns (cap 0, a spooled
 * message mapped): it is then replaced, never freed. Vacation replies are
 * made here and sent by
 * smtp_sieve_send_vacations() once the message is stored. */
void smtp_sieve_apply(struct smtp_sieve *j, struct mm_buf *msg, char *const *users,
    size_t nusers, bool reply_open);
/* The reject bounces to remote senders as extra messages of the
 * delivery's own transaction (struct store_qnew's extra, so that a crash
 * never loses one while the delivery stays): *extra_r is malloc'd (NULL
 * when there are none; its data points into j) and those bounces are
 * marked so that smtp_sieve_send_vacations() skips them. Returns how many. */
size_t smtp_sieve_bounces(struct smtp_sieve *j, struct store_qextra **extra_r);
/* Queues the vacation replies and the reject bounces not queued with the
 * delivery (null sender, RFC 3834 3.1.5); a bounce to a local sender goes
 * into the sender's INBOX. */
void smtp_sieve_send_vacations(struct smtp_sieve *j);
void smtp_sieve_free(struct smtp_sieve *j);

#endif
