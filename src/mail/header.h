/* header.h: RFC 5322 header blocks. A header block is split into fields
 * that point into the caller's message buffer (nothing is copied), so the
 * buffer must outlive the struct. Parsing never fails: broken lines are
 * kept as fields, and the block ends at the first empty line, at the end
 * of the range, or at MIME_HEADER_MAX_BYTES. */
#ifndef MM_MAIL_HEADER_H
#define MM_MAIL_HEADER_H

#include <stddef.h>

struct mm_buf;
#include <stdbool.h>

struct mail_hdr_field {
	const char *name;	/* field name, not NUL-terminated */
	size_t name_len;
	const char *value;	/* raw value after ':' and leading WSP, folds
				 * included, final line end excluded */
	size_t value_len;
	size_t off;		/* offset of the field in the message */
	size_t len;		/* whole field with folds and final line end */
};

struct mail_header {
	struct mail_hdr_field *f;
	size_t n, cap;
	size_t off;		/* header block start (offset in message) */
	size_t body_off;	/* body start: just after the empty line */
	unsigned lines;		/* lines in the header block, empty line included */
	bool no_blank;		/* no empty line: the block ran to its end */
	bool truncated;		/* cut at MIME_HEADER_MAX_BYTES */
};

/* Split msg[start, end) into fields. h is initialised by this call. */
void mail_header_parse(const char *msg, size_t start, size_t end, struct mail_header *h);
void mail_header_free(struct mail_header *h);
/* First field named name (ASCII case-insensitive), or NULL. */
const struct mail_hdr_field *mail_header_find(const struct mail_header *h, const char *name);
/* Unfolded copy of the first value named name (CR and LF removed, trailing
 * WSP trimmed), malloc'd; NULL when absent. */
char *mail_header_get(const struct mail_header *h, const char *name);
/* Every value named name, unfolded and joined with ", " (for address
 * fields that occur more than once: RFC 5322 3.6 allows one, but real
 * mail has two To: or three Cc:, and readers show all of them). Blank
 * values are skipped unless all are blank (then the first). malloc'd;
 * NULL when absent. */
char *mail_header_get_all(const struct mail_header *h, const char *name);
/* Unfolded, NUL-terminated copy of a raw value, malloc'd. */
char *mail_header_unfold(const char *v, size_t len);
/* Is name (len bytes) equal to any of the NUL-terminated names? */
bool mail_header_name_in(const char *name, size_t len, const char *const *names, size_t n);

/* Appends msg's header block (up to the empty line; at most max bytes)
 * to b as CRLF-ended lines with bare CR and LF dropped: the
 * text/rfc822-headers part of a bounce or a rejection report. */
void mail_header_append_block(struct mm_buf *b, const char *msg, size_t len, size_t max);

#endif
