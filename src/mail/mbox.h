/* mbox.h: reading mbox files and Maildir metadata for minimailctl import
 * (pure: no libevent, OpenSSL or db.h, so it is unit tested and fuzzed
 * alone).
 *
 * mbox: an incremental splitter. The caller pushes the file's bytes in
 * pieces of any size; the parser calls begin() at each message's From_
 * line, data() with the message's bytes (From_ quoting undone, line ends
 * as in the file) and end() after it. Memory is bounded: only the start
 * of a line (up to MBOX_FROM_LINE_MAX_BYTES) is ever held. */
#ifndef MM_MBOX_H
#define MM_MBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define MBOX_FROM_LINE_MAX_BYTES 1000   /* a From_ line, or a line's ">>>From " prefix */

enum mbox_quoting {
	MBOX_MBOXRD,       /* ">From ", ">>From ", ...: one '>' is removed */
	MBOX_MBOXO,        /* only ">From " becomes "From " */
};

enum mbox_err {
	MBOX_OK = 0,
	MBOX_ERR_NOT_MBOX,     /* the file does not start with a From_ line */
	MBOX_ERR_EMPTY,        /* no message at all */
};

struct mbox_cb {
	void (*begin)(void *arg, const char *from_line, size_t len);
	void (*data)(void *arg, const char *p, size_t n);
	void (*end)(void *arg);
};

struct mbox_parser {
	enum mbox_quoting quoting;
	const struct mbox_cb *cb;
	void *arg;
	char line[MBOX_FROM_LINE_MAX_BYTES + 1];
	size_t linelen;          /* bytes of the current line's start held */
	int state;               /* internal */
	bool blank_pending;      /* an empty line not passed on yet */
	bool in_msg;
	bool any;                /* a byte was seen */
	uint64_t messages;
	int err;
};

void mbox_parser_init(struct mbox_parser *p, enum mbox_quoting q,
    const struct mbox_cb *cb, void *arg);
/* MBOX_OK or an error (then further pushes do nothing). */
int mbox_push(struct mbox_parser *p, const void *buf, size_t n);
/* At the end of the file: ends the last message (one without a final
 * newline too). */
int mbox_finish(struct mbox_parser *p);

/* Is line (without its newline) a From_ line: "From " SENDER DATE, with
 * an asctime date ("Www Mmm dd hh:mm:ss yyyy", time zone optional)? The
 * date, as UTC, into *date_r (may be NULL). */
bool mbox_from_line_date(const char *line, size_t len, time_t *date_r);

/* Flags a mail reader kept in the header: Status (R = seen), X-Status
 * (A answered, F flagged, T draft, D deleted), X-Keywords, and
 * X-Mozilla-Status (hex). */
#define MBOX_META_KEYWORDS_MAX 32
#define MBOX_META_KEYWORD_MAX_BYTES 128
struct mbox_meta {
	uint32_t flags;          /* MSG_* of store.h: SEEN 1, ANSWERED 2, FLAGGED 4, DELETED 8, DRAFT 16 */
	char keywords[MBOX_META_KEYWORDS_MAX][MBOX_META_KEYWORD_MAX_BYTES + 1];
	size_t nkeywords;
};
/* Reads those headers from the message in msg (len bytes) and removes the
 * ones that belong to the mbox and not to the message (Status, X-Status,
 * X-Keywords, X-UID, X-IMAP, X-IMAPbase, Content-Length: what Dovecot
 * strips too), in place; returns the new length. */
size_t mbox_meta_strip(char *msg, size_t len, struct mbox_meta *m);

/* Maildir: the flags in a file name "BASE:2,FLAGS" (D draft, F flagged,
 * R replied, S seen, T trashed; a-z keyword bits 0-25, see
 * maildir_keywords_line). Returns the length of BASE (up to the ':'). */
size_t maildir_name_flags(const char *name, uint32_t *flags_r, uint32_t *kwbits_r);
/* A dovecot-keywords line "INDEX NAME": true with both out. */
bool maildir_keywords_line(const char *line, size_t len, unsigned *index_r,
    const char **name_r, size_t *namelen_r);
/* dovecot-uidlist's first line ("3 V1234 N57 ..." or v1 "1 1234 57"). */
bool maildir_uidlist_header(const char *line, size_t len, uint32_t *uidvalidity_r,
    uint32_t *nextuid_r);
/* One later line: "UID [fields] :BASE" (v3) or "UID BASE" (v1). */
bool maildir_uidlist_line(const char *line, size_t len, uint32_t *uid_r,
    const char **base_r, size_t *baselen_r);

/* Appends src to out with every bare LF made CRLF (CRLF kept). */
struct mm_buf;
void mbox_to_crlf(const char *src, size_t len, struct mm_buf *out);

#endif
