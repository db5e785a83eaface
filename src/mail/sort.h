/* sort.h: what IMAP SORT (RFC 5256) and SORT=DISPLAY (RFC 5957) order
 * messages by, pure: the base subject of RFC 5256 2.1, the address keys,
 * the sent date, the comparison form of text, and the sort itself over
 * records the caller fills from each message's header. THREAD (thread.h)
 * uses the base subject too. */
#ifndef MM_MAIL_SORT_H
#define MM_MAIL_SORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "mail/header.h"

/* The base subject (RFC 5256 2.1) of a raw Subject: value: encoded words
 * decoded to UTF-8, white space runs made one space, then the reply and
 * forward markers (Re:, Fw:, Fwd:, [blob] prefixes, (fwd) trailers, and a
 * "[fwd: ...]" wrapper) removed. *reply_r (may be NULL) says whether a
 * Re:/Fwd:/(fwd)/[fwd:] was removed: "the message is a reply or forward"
 * for THREAD. malloc'd, never NULL. */
char *mail_base_subject(const char *raw, size_t len, bool *reply_r);

/* Text in the form SORT compares: case folded as SEARCH folds, then
 * ASCII letters in upper case (i;ascii-casemap, RFC 5256 2.1: "[" sorts
 * after letters and "_" after "["), Latin-1 and Latin Extended-A letters
 * in upper case and decomposed as i;unicode-casemap does (RFC 5051), so
 * the order is Dovecot's; cut to max_bytes (on a character boundary).
 * malloc'd. */
char *mail_sort_text(const char *utf8, size_t len, size_t max_bytes);

/* RFC 5256 FROM/TO/CC: the first address's addr-mailbox (a group's name
 * for a group); RFC 5957 DISPLAYFROM/DISPLAYTO: its display name decoded
 * to UTF-8, or "mailbox@host" when it has none. Both in mail_sort_text
 * form. A missing or empty header gives "". malloc'd. */
char *mail_sort_addr_mailbox(const char *raw, size_t len, size_t max_bytes);
char *mail_sort_addr_display(const char *raw, size_t len, size_t max_bytes);

/* The sent date (RFC 5256 2.2): the Date: header in UTC, or fallback
 * (the internal date) when it is missing or cannot be parsed. */
time_t mail_sort_sent_date(const struct mail_header *h, time_t fallback);
/* The same: true and *t_r, or false when it would fall back. */
bool mail_sort_sent_date_get(const struct mail_header *h, time_t *t_r);

/* The sort keys that delivery computes into the cache blob (mail/cache.h)
 * carry this and the limits they were cut with (IMAP_SORT_KEY_MAX_BYTES,
 * IMAP_THREAD_REFS_MAX, IMAP_MSGID_MAX_BYTES); a blob with others is not
 * used (SORT reads the header). Bump it when mail_base_subject,
 * mail_sort_text, the address keys, mail_sort_sent_date or
 * mail_thread_ids change what they give, so stored keys never answer
 * differently from a header read. */
#define MAIL_SORT_KEYS_VERSION	1

enum mail_sort_key {
	MAIL_SORT_ARRIVAL = 0, MAIL_SORT_CC, MAIL_SORT_DATE, MAIL_SORT_FROM,
	MAIL_SORT_SIZE, MAIL_SORT_SUBJECT, MAIL_SORT_TO,
	MAIL_SORT_DISPLAYFROM, MAIL_SORT_DISPLAYTO,
	MAIL_SORT_KEY_COUNT
};

struct mail_sort_crit {
	enum mail_sort_key key;
	bool reverse;
};

/* One message to sort. Text keys are mail_sort_text forms, NULL for
 * keys not asked for. */
struct mail_sort_rec {
	uint32_t seq;             /* the final tie-break (RFC 5256 3) */
	uint64_t size;
	time_t arrival;           /* internal date */
	time_t date;              /* mail_sort_sent_date */
	char *text[MAIL_SORT_KEY_COUNT];
};

/* Fills r's text keys and date named by the criteria from a parsed
 * header (r->arrival set first: it is the date's fallback). */
void mail_sort_rec_fill(struct mail_sort_rec *r, const struct mail_header *h,
    const struct mail_sort_crit *crit, size_t ncrit, size_t max_bytes);
void mail_sort_rec_free(struct mail_sort_rec *r);
/* Does a criterion need the message header? */
bool mail_sort_needs_header(const struct mail_sort_crit *crit, size_t ncrit);
/* Parses a sort key name (ARRIVAL ... DISPLAYTO, any case); false if
 * unknown. */
bool mail_sort_key_parse(const char *name, enum mail_sort_key *key_r);

/* <0, 0, >0 as a sorts before, with, after b (the sequence number last). */
int mail_sort_cmp(const struct mail_sort_rec *a, const struct mail_sort_rec *b,
    const struct mail_sort_crit *crit, size_t ncrit);
/* Orders recs[0..n) by the criteria, then by sequence number. */
void mail_sort(struct mail_sort_rec **recs, size_t n,
    const struct mail_sort_crit *crit, size_t ncrit);

#endif
