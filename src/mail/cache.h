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
#include "lib/util.h"
#include "mail/mime.h"

#define MAIL_CACHE_VERSION	1

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
