/* imap-bodycache.h: small message bodies kept in memory for FETCH, so a
 * FETCH of one recently read message is answered on the loop without a
 * worker round trip. Bounded (IMAP_BODY_CACHE_BYTES, entries of at most
 * IMAP_BODY_CACHE_MSG_BYTES), least recently used first out, and counted
 * against [limits] max_memory (src/lib/membudget). Loop thread only. */
#ifndef MM_IMAP_BODYCACHE_H
#define MM_IMAP_BODYCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The body stored under body_id (store bodies never change: a body_id is
 * never reused), or false. The data stays valid until the next put. */
bool imap_bodycache_get(uint64_t body_id, const char **data_r, size_t *len_r);
/* Takes data (malloc'd, len bytes): kept, or freed when it does not fit
 * (too big, the budget more than half used). */
void imap_bodycache_put(uint64_t body_id, char *data, size_t len);
/* Empties it (shutdown, tests). */
void imap_bodycache_clear(void);
/* Bytes held (metrics, tests). */
size_t imap_bodycache_bytes(void);

#endif
