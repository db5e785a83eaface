/* imap-search.h: what SEARCH (cmd-search.c) shares with SORT
 * (cmd-sort.c) and THREAD (cmd-thread.c): the parsed search program, its
 * evaluation over the view on a worker, the CHARSET check, and the saved
 * result of SEARCHRES (RFC 5182). Internal to src/imap. */
#ifndef MM_IMAP_SEARCH_H
#define MM_IMAP_SEARCH_H

#include "imap/imap-common.h"
#include "imap/imap-searchret.h"
#include "mail/header.h"
#include "mail/sort.h"

struct imap_search;

/* The search keys args[0..n) (an implicit AND). NULL on bad syntax (the
 * caller answers BAD). */
struct imap_search *imap_search_parse(const struct imap_arg *args, size_t n);
void imap_search_free(struct imap_search **q);
/* Did the program use MODSEQ (RFC 7162 3.1.5)? */
bool imap_search_has_modseq(const struct imap_search *q);
/* Does it use NEW, OLD or RECENT, which RFC 9051's search-key no longer
 * has (IMAP4rev2 has no \Recent)? An IMAP4rev2 session gets BAD. */
bool imap_search_uses_recent(const struct imap_search *q);
/* Does it have a sequence-set key (UIDONLY: BAD [UIDREQUIRED])? */
bool imap_search_has_seq(const struct imap_search *q);
/* Worker: the view indexes of the messages that match, ascending,
 * expunged ones left out, into vidx (room for s->nmsgs). Returns how
 * many. */
size_t imap_search_run(struct imap_session *s, struct imap_search *q, size_t *vidx);

/* A CHARSET argument: true for UTF-8 / US-ASCII; else answers BAD (not a
 * string) or NO [BADCHARSET] and returns false. */
bool imap_search_charset(struct imap_session *s, const struct imap_arg *a);

/* SEARCHRES: replace the saved result with uids (any order; n 0 empties
 * it). imap_search_state_clear (imap-common.h) also ends the contexts. */
void imap_searchres_set(struct imap_session *s, const uint32_t *uids, size_t n);
/* "$" as a command's message set: the saved messages still in the view,
 * as view indexes (ascending, malloc'd, *idx_r NULL when none). */
bool imap_searchres_resolve(struct imap_session *s, size_t **idx_r, size_t *n_r);

/* Worker: the header of m read from the store (the first
 * IMAP_SORT_HEADER_READ_BYTES, more up to MIME_HEADER_MAX_BYTES only when
 * the header is longer) and parsed into h, which points into *buf_r
 * (free both). False on a store error. */
bool imap_msg_header(struct imap_session *s, const struct imap_msg *m, char **buf_r,
    struct mail_header *h);

/* Worker: the sort keys (mail/cache.h) of the view messages vidx[0..n)
 * (ascending), each(arg, i, keys) once per i, keys NULL for a message
 * that has none (a blob from before version 3, too big keys, a store
 * error: the caller reads its header with imap_msg_header). They come
 * from the mailbox's search records in memory (sm, NULL: none), those
 * not there from the cache blobs, 256 to a read transaction, which then
 * join sm (within its memory bound). MINIMAILD_SORT_HEADERS=1 in the
 * environment: every key is NULL (the header path, for tests). */
struct imap_searchmem;
struct mail_cache_sort;
void imap_sort_keys(struct imap_session *s, struct imap_searchmem *sm, const size_t *vidx,
    size_t n, void (*each)(void *arg, size_t i, const struct mail_cache_sort *keys), void *arg);

/* CONTEXT=SORT: a SORT RETURN (UPDATE) context for the current command's
 * tag: the program and criteria, the result in sort order (each rec's seq
 * holding its UID), all taken over (set to NULL). False when the session
 * has too many contexts, or one with this tag (the caller says
 * NOUPDATE); nothing is taken then. */
bool imap_sort_ctx_add(struct imap_session *s, struct imap_search **q,
    const struct mail_sort_crit *crit, size_t ncrit, struct mail_sort_rec ***recs,
    size_t n);

/* Worker, in a SEARCH/SORT RETURN (UPDATE) job after imap_sync_work:
 * judges the sync's changes for the context the command is about to make
 * (crit/ncrit for SORT, NULL/0 for SEARCH; res its hits as UIDs
 * ascending), so the first changes reach it too. The context must then be
 * made (or refused) in the same command. */
void imap_search_update_pending(struct imap_session *s, struct imap_sync *sy,
    struct imap_search *q, const struct mail_sort_crit *crit, size_t ncrit,
    const uint32_t *res, size_t nres);

/* Loop, after a SEARCH/SORT with RETURN: SAVE the result (uids in result
 * order) and write the ESEARCH response when one is due. */
void imap_search_return(struct imap_session *s, const struct imap_searchret *r,
    const uint32_t *nums, const uint32_t *uids, size_t n, const uint64_t *modseqs);

#endif
