/* fetch-stream.h: the large-body path of FETCH (issue 18 item 3). A
 * literal of a message over FETCH_STREAM_BYTES is not read whole: the
 * renderer puts its "{n}\r\n" and leaves a hole, which later jobs fill a
 * chunk at a time, each started only once the output has drained (as
 * the FETCH batches are), and then the rest of the response follows.
 * Internal to src/imap; the functions called on a worker say so. */
#ifndef MM_IMAP_FETCH_STREAM_H
#define MM_IMAP_FETCH_STREAM_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/util.h"
#include "mail/mime.h"
#include "store/store.h"

/* Messages above this are streamed; also the bytes one job reads. */
#define FETCH_STREAM_BYTES (256 * 1024)

struct fetch_stream;

/* Is a message of this size streamed? */
bool fetch_stream_wanted(uint64_t size);
/* Worker: the literal of len bytes of the body at off, into b. One of
 * at most FETCH_STREAM_BYTES is read at once; a longer one puts only its
 * "{len}\r\n" and returns the hole in *hole_r (NULL otherwise). False
 * when the body cannot be read (b may hold a partial literal then). */
bool fetch_stream_literal(struct store *st, struct mm_buf *b, uint64_t body_id,
    uint64_t off, uint64_t len, struct fetch_stream **hole_r);
/* Worker: the hole's next chunk into b; *done_r when it is filled (then
 * free it). False when the body cannot be read. */
bool fetch_stream_chunk(struct store *st, struct fetch_stream *fs, struct mm_buf *b,
    bool *done_r);
void fetch_stream_free(struct fetch_stream **fs);

/* Is sec HEADER.FIELDS[.NOT]? Those are cut from header bytes. */
bool fetch_stream_header_fields(const struct mail_section *sec);
/* Worker: r holds the range of the part's header (its HEADER section);
 * it becomes HEADER.FIELDS[.NOT] of sec, from those bytes read alone.
 * False when they cannot be read. */
bool fetch_stream_fields(struct store *st, uint64_t body_id, const struct mail_section *sec,
    struct mail_section_result *r);

#endif
