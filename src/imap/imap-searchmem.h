/* imap-searchmem.h: the search records of a mailbox kept in memory beside
 * its shared view (issue 19 item 3), so a header SEARCH does not read
 * 50,000 cache blobs from the store. Internal to src/imap.
 *
 * One table per mailbox group (imap-view.c creates it on the first SEARCH
 * that uses the record, drops it with the group). It is filled by the
 * SEARCH jobs themselves as they read the blobs (a batch's records become
 * one chunk), kept current by the group's refresh job (new messages'
 * records read, expunged ones dropped), and read by SEARCH jobs through a
 * version: an immutable, reference-counted list of immutable chunks. A
 * worker takes a version (imap_searchmem_get, under the table's mutex)
 * and reads it without locks; changes publish a new version. What the
 * table does not know is read from the store as before, so an answer
 * never depends on what it holds. All tables share one memory bound;
 * a chunk that does not fit drops the records of other tables, least
 * recently searched (imap_searchmem_get) first. */
#ifndef MM_IMAP_SEARCHMEM_H
#define MM_IMAP_SEARCHMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mail/cache.h"
#include "store/store.h"

struct imap_searchmem;
struct imap_searchmem_ver;

/* Loop: a new empty table (one reference); references. */
struct imap_searchmem *imap_searchmem_new(void);
struct imap_searchmem *imap_searchmem_ref(struct imap_searchmem *sm);
void imap_searchmem_unref(struct imap_searchmem **sm);
/* Loop: the group is gone: the records are dropped now (what a running
 * job holds goes with its version) and nothing is added any more. */
void imap_searchmem_close(struct imap_searchmem *sm);
/* Any thread: forget every record (the view could not be refreshed). */
void imap_searchmem_reset(struct imap_searchmem *sm);

/* Worker, or the loop for a SEARCH answered there: the current version
 * (a reference); NULL when the table is closed. */
struct imap_searchmem_ver *imap_searchmem_get(struct imap_searchmem *sm);
void imap_searchmem_ver_unref(struct imap_searchmem_ver **v);
/* Worker or loop: what the version knows of uid (of a mailbox with
 * uidvalidity): 1 and *out filled (pointing into the version: valid while it is held;
 * out may be NULL; each entry's text already folded by mail_text_fold, so
 * a folded needle is found with memmem), 0 the message has no record
 * (read it), -1 unknown. */
int imap_searchmem_find(const struct imap_searchmem_ver *v, uint32_t uidvalidity, uint32_t uid,
    struct mail_cache_search *out);
/* The same, for UIDs asked in ascending order (a SEARCH over the view):
 * pos (zeroed before the first call) remembers where the last one was,
 * so each costs a step, not two binary searches. Any order still gives
 * the right answer (a step back seeks again). */
struct imap_searchmem_pos {
	size_t ci, k;
};
int imap_searchmem_find_at(const struct imap_searchmem_ver *v, uint32_t uidvalidity,
    uint32_t uid, struct imap_searchmem_pos *pos, struct mail_cache_search *out);

/* Worker: the records of the n messages uids[] (ascending, all of the
 * mailbox's messages with lo < uid <= hi) from their cache blobs (NULL:
 * none) become one chunk, unless it would overlap what the table has or
 * go over the memory limit. */
void imap_searchmem_add(struct imap_searchmem *sm, uint32_t uidvalidity, uint32_t lo,
    uint32_t hi, const uint32_t *uids, char *const *blobs, const size_t *lens, size_t n);
/* Worker, the group's refresh: idx has the changes since a view whose
 * last UID was since_last_uid; the new messages' records are read from
 * st and the vanished UIDs dropped. full (idx is the whole index, nothing
 * known of what vanished): every record is dropped. */
void imap_searchmem_refresh(struct imap_searchmem *sm, struct store *st,
    const struct store_index *idx, uint32_t since_last_uid, const uint32_t *vanished,
    size_t nvanished, bool full);

/* Bytes all tables hold now (the gauge minimaild_imap_search_memory_bytes). */
uint64_t imap_searchmem_bytes(void);

#endif
