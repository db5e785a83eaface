/* fts.h: the terms of the full-text index that SEARCH BODY and TEXT use
 * (src/store/store-fts.c keeps them, src/imap/cmd-search.c asks).
 *
 * The one idea: BODY and TEXT are substring matches (memmem over folded
 * text, mail/decode.h), so the terms are the distinct byte trigrams of
 * exactly the text the scan searches: the decoded body folded as
 * cmd-search.c folds it, and the decoded header lines of TEXT. A message
 * that contains a needle of three bytes or more contains each of the
 * needle's trigrams, so the messages holding all of them are a superset
 * of the hits (the scan then verifies each candidate); a needle shorter
 * than three bytes cannot use the index. A word index could not prove
 * that "anzib" is absent from a message holding "zanzibar". */
#ifndef MM_MAIL_FTS_H
#define MM_MAIL_FTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MAIL_FTS_TEXT_MAX   (64 * 1024)  /* body (and header) text bytes indexed */
#define MAIL_FTS_TERMS_MAX  4096         /* distinct trigrams per message */
#define MAIL_FTS_NEEDLE_TERMS 32         /* trigrams of a query looked up */

/* A trigram as a number: (b0 << 16) | (b1 << 8) | b2. */
static inline uint32_t
mail_fts_term(const unsigned char *p)
{
	return ((uint32_t)p[0] << 16) | ((uint32_t)p[1] << 8) | p[2];
}

/* The distinct trigrams of message msg, ascending, into *terms_r
 * (malloc'd, caller frees). Returns false (and no terms) when the
 * message cannot be indexed whole: its decoded body or header text is
 * longer than MAIL_FTS_TEXT_MAX or it has more than MAIL_FTS_TERMS_MAX
 * trigrams; such a message must always be scanned. */
bool mail_fts_terms(const char *msg, size_t len, uint32_t **terms_r, size_t *n_r);

/* The distinct trigrams of a needle already folded by mail_text_fold, at
 * most max of them, into out; 0 when it is shorter than three bytes. */
size_t mail_fts_needle(const char *fneedle, size_t len, uint32_t *out, size_t max);

/* Does folding fneedle again leave it as it is? (TEXT matches the header
 * lines with the needle folded twice; the index is sound for it only
 * then.) */
bool mail_fts_fold_stable(const char *fneedle, size_t len);

#endif
