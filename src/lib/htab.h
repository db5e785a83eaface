/* htab.h: a chained hash table that grows and shrinks with its entries,
 * for the loop's small in-memory tables (the listener's connection
 * counts, the IMAP mailbox groups). Pure: no libevent, OpenSSL or db.h.
 *
 * Intrusive: an entry embeds a struct mm_hnode and the table only links
 * it; the caller hashes its key (mm_fnv1a), walks the chain that
 * mm_htab_first gives and compares the keys itself. Not thread-safe. */
#ifndef MM_HTAB_H
#define MM_HTAB_H

#include <stddef.h>
#include <stdint.h>

struct mm_hnode {
	struct mm_hnode *next, **pprev;
	uint32_t hash;
};

/* All zero is an empty table; its buckets are allocated at the first
 * add and freed when the last entry goes. */
struct mm_htab {
	struct mm_hnode **tab;
	size_t nbuckets;          /* a power of two, or 0 */
	size_t n;                 /* entries */
};

#define MM_HTAB_MIN_BUCKETS 64   /* doubles past 2 entries a bucket, halves under 1/8 */

/* The entry of type T whose member is the node p. */
#define mm_hentry(p, T, member) ((T *)(void *)((char *)(p) - offsetof(T, member)))

/* The first node of hash's chain (NULL if none); the chain goes on by
 * ->next and holds other hashes too. */
struct mm_hnode *mm_htab_first(const struct mm_htab *t, uint32_t hash);
/* Links node under hash (the caller has made sure its key is new). */
void mm_htab_add(struct mm_htab *t, struct mm_hnode *node, uint32_t hash);
/* Unlinks node, which is in t. */
void mm_htab_del(struct mm_htab *t, struct mm_hnode *node);
/* Frees the buckets (the entries are the caller's); t is empty again. */
void mm_htab_clear(struct mm_htab *t);
/* The longest chain, for tests. */
size_t mm_htab_longest_chain(const struct mm_htab *t);

#endif
