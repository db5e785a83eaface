/* thread.h: IMAP THREAD (RFC 5256 3): ORDEREDSUBJECT and REFERENCES
 * over records the caller fills from each message's header, written as
 * the thread-list part of the THREAD response ("(1 2)(3 (4)(5))"). Pure:
 * no libevent, OpenSSL or db.h. */
#ifndef MM_MAIL_THREAD_H
#define MM_MAIL_THREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "lib/util.h"
#include "mail/header.h"

struct mail_thread_msg {
	uint32_t num;             /* written in the answer; ascending = sequence order */
	time_t date;              /* sent date (RFC 5256 2.2) */
	char *msgid;              /* Message-ID without <>, or NULL */
	char **refs;              /* References ids (oldest first), else the
	                           * first In-Reply-To id; the last max_refs */
	size_t nrefs;
	char *subject;            /* base subject in mail_sort_text form */
	bool reply;               /* the subject said Re:/Fwd: (RFC 5256 2.1) */
};

/* Fills m (num and date set by the caller: date to the internal date,
 * used when Date: cannot be read) from a parsed header. At most max_refs
 * references are kept (the last ones: the parent is the last) and ids
 * longer than max_id_bytes are ignored; subjects are cut to
 * max_subject_bytes. */
void mail_thread_msg_fill(struct mail_thread_msg *m, const struct mail_header *h,
    size_t max_refs, size_t max_id_bytes, size_t max_subject_bytes);
void mail_thread_msg_free(struct mail_thread_msg *m);

/* The msg-ids "<...>" of a header value in order, brackets removed
 * (comments, white space and junk between them skipped; an id without
 * '@' or with spaces inside is skipped). At most max of them, the last
 * ones when keep_last, else the first. For tests and the fill. */
void mail_thread_ids(const char *v, size_t len, size_t max, bool keep_last,
    size_t max_id_bytes, struct mm_strlist *out);

/* Writes the threads of msgs[0..n) (in sequence order) to out, e.g.
 * "(3 2)(1)"; nothing for n == 0. REFERENCES follows RFC 5256 3 steps
 * 1-6, refusing (as a loop) any link that would need a walk of more than
 * max_depth ancestors, so the work is bounded; nothing in it recurses. */
void mail_thread_orderedsubject(const struct mail_thread_msg *msgs, size_t n,
    struct mm_buf *out);
void mail_thread_references(const struct mail_thread_msg *msgs, size_t n,
    size_t max_depth, struct mm_buf *out);

#endif
