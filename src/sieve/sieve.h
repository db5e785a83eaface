/* sieve.h: the Sieve mail filtering language (RFC 5228) and the
 * extensions mail clients use, as pure code: a script is compiled from
 * bytes into a checked tree (sieve_compile), then run against one message
 * (sieve_run) that the caller describes through struct sieve_msg_if. A run
 * never touches a mailbox or the network: it returns the list of actions
 * (keep, fileinto, redirect, discard, reject, vacation) and the caller
 * carries them out. Every input is bounded by struct sieve_limits; a
 * script that breaks a bound at run time ends with an error and the
 * caller keeps the message (RFC 5228 2.10.6).
 *
 * Extensions: fileinto, copy, reject, ereject, envelope, imap4flags,
 * variables, relational, subaddress, body, date, index, mailbox,
 * vacation, encoded-character, include, regex, comparator-i;ascii-numeric. */
#ifndef MM_SIEVE_H
#define MM_SIEVE_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include "lib/util.h"

struct sieve_limits {
	size_t max_script_bytes;	/* [sieve] max_script_size */
	unsigned max_actions;		/* [sieve] max_actions */
	unsigned max_redirects;		/* [sieve] max_redirects */
	unsigned vacation_min_days;	/* [sieve] vacation_min_days */
	uint64_t max_steps;		/* CPU: tests, comparisons, match steps */
	size_t max_header_bytes;	/* header bytes a test looks at */
	size_t max_body_bytes;		/* body bytes the body test looks at */
};
/* The defaults of the [sieve] section and of limits.h. */
void sieve_limits_default(struct sieve_limits *l);

/* include (RFC 6609): the script named name, personal or global, as
 * bytes (malloc'd into *text_r). false when there is none. stamp (may be
 * NULL) gives a value that moves whenever any script lookup could return
 * changes (false: none is known); only with one is a script that
 * includes kept compiled by sieve_cache_compile. */
struct sieve_include_if {
	void *ctx;
	bool (*lookup)(void *ctx, bool global, const char *name,
	    char **text_r, size_t *len_r);
	bool (*stamp)(void *ctx, uint64_t *stamp_r);
};

struct sieve_error {
	unsigned line;		/* 0 when the error is not on one line */
	char msg[256];
};

struct sieve_script;

/* Compile len bytes. On success *s_r is set and true is returned; else
 * err_r holds the first error (its line and what is wrong). inc may be
 * NULL (include then fails to compile unless :optional). */
bool sieve_compile(const char *text, size_t len, const struct sieve_limits *lim,
    const struct sieve_include_if *inc, struct sieve_script **s_r,
    struct sieve_error *err_r);
void sieve_script_free(struct sieve_script **s);

/* Compiled scripts shared by threads, one per key (a user), reused while
 * the text and the limits are the same (sieve-cache.c). */
struct sieve_cache;
struct sieve_cache *sieve_cache_new(void);
void sieve_cache_free(struct sieve_cache **c);
/* The compiled form of text for key: the cached one when key's entry was
 * compiled from the same bytes under the same limits (*hit_r set), else
 * sieve_compile()'s, kept. One that looked up an include (found or not)
 * is kept only if inc has a stamp, and used again only while the stamp
 * is the one read before its compile, for at most
 * SIEVE_CACHE_INCLUDE_TTL_MSECS. NULL with
 * *err_r on a compile error. The script is shared: run it, never free
 * it; give it back with sieve_cache_release(). Thread-safe. */
struct sieve_script *sieve_cache_compile(struct sieve_cache *c, const char *key,
    const char *text, size_t len, const struct sieve_limits *lim,
    const struct sieve_include_if *inc, struct sieve_error *err_r, bool *hit_r);
void sieve_cache_release(struct sieve_cache *c, struct sieve_script **s);
void sieve_cache_stats(struct sieve_cache *c, uint64_t *hits_r, uint64_t *misses_r,
    size_t *entries_r);
/* The extensions the compiler knows, space separated (ManageSieve SIEVE). */
const char *sieve_extensions(void);

/* What a run needs to know about the message. Header values are given
 * raw (folds kept); the interpreter unfolds and decodes them. */
enum sieve_body_transform { SIEVE_BODY_TEXT = 0, SIEVE_BODY_RAW, SIEVE_BODY_CONTENT };
struct sieve_msg_if {
	void *ctx;
	/* Appends the raw value of every top-level header field named name
	 * (case-insensitive), in message order. */
	void (*headers)(void *ctx, const char *name, struct mm_strlist *out);
	/* Envelope parts: "from" (the reverse path, "" for <>), "to" (the
	 * recipient), "auth"; NULL when unknown. */
	const char *(*envelope)(void *ctx, const char *part);
	/* Body (RFC 5173): raw = the undecoded body; text = the decoded
	 * text parts; content = the decoded parts whose type matches one of
	 * types ("" matches all, "text" a type, "text/plain" a subtype). One
	 * string per part, at most max bytes in all. */
	void (*body)(void *ctx, enum sieve_body_transform t,
	    const struct mm_strlist *types, size_t max, struct mm_strlist *out);
	size_t size;		/* message size in bytes */
	/* mailboxexists, called with mailbox_ctx; NULL: only INBOX exists */
	bool (*mailbox_exists)(void *mailbox_ctx, const char *name);
	void *mailbox_ctx;
	time_t now;		/* currentdate */
	int now_tz_min;		/* local zone, minutes east */
};

enum sieve_action_kind {
	SIEVE_ACT_KEEP = 0,
	SIEVE_ACT_FILEINTO,
	SIEVE_ACT_REDIRECT,
	SIEVE_ACT_DISCARD,
	SIEVE_ACT_REJECT,
	SIEVE_ACT_EREJECT,
	SIEVE_ACT_VACATION,
};

struct sieve_action {
	enum sieve_action_kind kind;
	char *arg;		/* mailbox, address, reject reason, vacation reason */
	bool copy;		/* :copy */
	bool create;		/* fileinto :create */
	bool has_flags;		/* imap4flags set flags for this keep/fileinto */
	struct mm_strlist flags;
	/* vacation */
	char *subject;		/* :subject, or "Auto: " + the original subject */
	char *from;		/* :from, or NULL (the recipient) */
	char *reply_to;		/* who the reply goes to: the envelope sender
				 * (else the From address); NULL if none */
	char *handle;		/* the :handle, or one made from the arguments */
	struct mm_strlist addresses;
	unsigned long seconds;	/* :days in seconds, bounded by vacation_min_days */
	bool mime;
};

struct sieve_result {
	struct sieve_action *a;
	size_t n, cap;
	bool error;		/* run-time error: the caller keeps the message */
	char errmsg[256];
	unsigned errline;
	uint64_t steps;
};

/* Run s on the message. The result holds the actions in order, the
 * implicit keep included as a final keep. On a run-time error r->error
 * is set and the actions are one plain keep. */
void sieve_run(const struct sieve_script *s, const struct sieve_msg_if *m,
    const struct sieve_limits *lim, struct sieve_result *r);
void sieve_result_free(struct sieve_result *r);

/* A struct sieve_msg_if over a message held in memory (src/mail does the
 * parsing). The buffer must outlive the struct. */
struct sieve_msg;
struct sieve_msg *sieve_msg_new(const char *msg, size_t len, const char *env_from,
    const char *env_to);
void sieve_msg_free(struct sieve_msg **m);
const struct sieve_msg_if *sieve_msg_if(struct sieve_msg *m);

/* Vacation rules (RFC 5230 4.5-4.6, RFC 3834): should a reply be sent to
 * this message for the user whose addresses are own (the envelope
 * recipient and the :addresses)? No reply to an empty or MAILER-DAEMON,
 * owner-*, *-request sender, to mail with List-Id / List-* headers,
 * Precedence bulk/list/junk, Auto-Submitted other than "no", or when no
 * own address is in To/Cc/Bcc/Resent-To/Resent-Cc. The reason is set to
 * a short word when false. */
bool sieve_vacation_allowed(const struct sieve_msg_if *m, const char *sender,
    const struct mm_strlist *own, const char **why_r);

/* The contract's one-line form of an action (minimailctl sieve test):
 * keep, fileinto "MAILBOX", redirect "ADDRESS", discard, reject "REASON",
 * vacation "ADDRESS" "SUBJECT", and flags "..." after keep/fileinto. */
void sieve_action_format(const struct sieve_action *a, struct mm_buf *out);

#endif
