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
	size_t rejects;		/* users whose script rejected */
	char reject_reason[256];
	struct smtp_sieve_vac *vac;
	size_t nvac;
};

/* For each of the users (their INBOX the default target), runs the active
 * script, if any, on msg and fills j's targets. Redirect targets that are
 * local users become their INBOX; remote ones go to j->redirects, and msg
 * gets an "X-Sieve-Redirected-By:" line after its first (Return-Path:)
 * line. A script that fails to compile or run means that user's INBOX and
 * a log line. msg may be a view the caller owns (cap 0, a spooled
 * message mapped): it is then replaced, never freed. Vacation replies are
 * made here and sent by
 * smtp_sieve_send_vacations() once the message is stored. */
void smtp_sieve_apply(struct smtp_sieve *j, struct mm_buf *msg, char *const *users,
    size_t nusers);
/* Queues the vacation replies (null sender, RFC 3834 3.1.5). */
void smtp_sieve_send_vacations(struct smtp_sieve *j);
void smtp_sieve_free(struct smtp_sieve *j);

#endif
