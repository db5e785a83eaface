/* cache.h: the parsed-structure blob stored beside a message body at
 * delivery, so FETCH ENVELOPE / BODYSTRUCTURE / BODY / BODY[section] and
 * SEARCH SENT* never re-parse the message. The blob is versioned and
 * checksummed; mail_cache_parse() refuses a truncated or corrupt blob (or
 * an unknown version), and the caller then re-parses the message. */
#ifndef MM_MAIL_CACHE_H
#define MM_MAIL_CACHE_H

#include <stddef.h>
#include <stdbool.h>
#include <time.h>
#include "lib/limits.h"
#include "lib/util.h"
#include "mail/mime.h"

/* 2 added the search record, 3 the sort keys in it; version 1 and 2
 * blobs still parse (without them). */
#define MAIL_CACHE_VERSION	3

struct mail_cache {
	struct mail_msg *tree;	/* offsets, flags, type/subtype; no other strings */
	char *envelope;		/* FETCH ENVELOPE value "(...)" */
	char *bodystructure;	/* FETCH BODYSTRUCTURE value */
	char *body;		/* FETCH BODY value */
	size_t msg_size;	/* message size the blob was built for */
	size_t header_size;	/* bytes of the top-level header block */
	bool has_date;		/* Date: header parsed */
	time_t date;		/* Date: header as time_t, if has_date */
	int date_tz_min;	/* its zone, minutes east */
};

/* The search record (version 2): what SEARCH's most used header keys read,
 * computed at delivery exactly as the search code computes it from the
 * message (the top-level header split by mail_header_parse; SUBJECT and
 * HEADER Subject / Message-ID take mail_decode_header of each value, FROM,
 * TO, CC and BCC take mail_addr_search_text), plus the sent day of the
 * first Date:, so those keys never read the message. Each occurrence of a
 * field is its own entry, in header order. */
enum mail_search_field {
	MAIL_SF_SUBJECT = 0,      /* decoded */
	MAIL_SF_MESSAGE_ID,       /* decoded */
	MAIL_SF_FROM,             /* address search text */
	MAIL_SF_TO,
	MAIL_SF_CC,
	MAIL_SF_BCC,
	MAIL_SF_COUNT
};

#define MAIL_CACHE_SEARCH_MAX	64	/* entries; a header with more: no record */

struct mail_cache_search {
	bool has_sent;            /* the first Date: parsed */
	long sent_day;            /* its day (mail_date_day) */
	size_t n;
	struct mail_cache_search_entry {
		enum mail_search_field field;
		const char *v;    /* into the blob: not NUL-terminated */
		size_t len;
	} e[MAIL_CACHE_SEARCH_MAX];
	/* version 3: the sort keys (mail_cache_sort_get reads them), NULL and
	 * 0 when the blob has none */
	const void *sort;
	size_t sort_len;
};

/* The sort keys of the search record (version 3): what SORT (RFC 5256,
 * 5957) and THREAD compute from the header, computed at delivery by the
 * same calls of src/mail/sort.c and thread.c on the same header
 * (mail_header_parse of the message, which is what cmd-sort.c's reader
 * parses too), with the limits of lib/limits.h, so the answers agree. A
 * header whose keys take more than IMAP_SORT_RECORD_MAX_BYTES has none
 * (SORT reads it), and so do keys of another MAIL_SORT_KEYS_VERSION
 * (mail/sort.h) or other limits. */
enum mail_cache_sort_text {
	MAIL_CST_SUBJECT = 0,     /* base subject, mail_sort_text form */
	MAIL_CST_FROM,            /* mail_sort_addr_mailbox */
	MAIL_CST_TO,
	MAIL_CST_CC,
	MAIL_CST_DISPLAYFROM,     /* mail_sort_addr_display */
	MAIL_CST_DISPLAYTO,
	MAIL_CST_COUNT
};

struct mail_cache_sort {
	bool has_date;            /* mail_sort_sent_date did not fall back */
	time_t date;
	bool reply;               /* the base subject dropped Re:/Fwd: */
	struct mail_cache_sort_str {
		const char *v;    /* not NUL-terminated; no NUL inside */
		size_t len;
	} text[MAIL_CST_COUNT];
	bool has_msgid;
	struct mail_cache_sort_str msgid;   /* mail_thread_msg's msgid */
	size_t nrefs;                       /* and refs */
	struct mail_cache_sort_str refs[IMAP_THREAD_REFS_MAX];
};

/* The sort keys at p (a search record's sort, sort_len) into out,
 * pointing into p; false if they cannot be read or were computed by
 * another MAIL_SORT_KEYS_VERSION or with other limits (then read the
 * header). */
bool mail_cache_sort_get(const void *p, size_t len, struct mail_cache_sort *out);

/* The search record of a blob, pointing into it (no copy). 0, or -1: a
 * version 1 blob, a message whose header had more than
 * MAIL_CACHE_SEARCH_MAX indexed fields, or a bad blob; the caller reads
 * the message instead. */
int mail_cache_search_get(const void *blob, size_t len, struct mail_cache_search *out);
/* The record field that a SEARCH header key on `name` reads (addr: the
 * FROM/TO/CC/BCC keys' address text, else the decoded value), or -1. */
int mail_cache_search_field(const char *name, bool addr);

/* Parse msg and append its blob to out. */
void mail_cache_build(const char *msg, size_t len, struct mm_buf *out);
/* The same from an already parsed tree of msg. */
void mail_cache_build_tree(const struct mail_msg *m, const char *msg, size_t len,
    struct mm_buf *out);
/* Load a blob: 0 and *c_r set, or -1 (bad magic, version, checksum, or
 * any inconsistency). The message size is checked by the caller against
 * c->msg_size before using offsets. */
int mail_cache_parse(const void *blob, size_t len, struct mail_cache **c_r);
void mail_cache_free(struct mail_cache **c);

/* The blob's checksum: CRC-32 (IEEE 802.3, as zlib's crc32()) of n bytes. */
uint32_t mail_cache_crc32(const unsigned char *p, size_t n);

#endif
