/* imap-searchret.h: the RETURN options of SEARCH and SORT (RFC 4731
 * ESEARCH, RFC 5182 SEARCHRES, RFC 5267 ESORT and PARTIAL) and the
 * "* ESEARCH" response they ask for. Pure: no libevent, OpenSSL or db.h,
 * so the parser and the writer are unit tested alone
 * (tests/check_imap_search.c). */
#ifndef MM_IMAP_SEARCHRET_H
#define MM_IMAP_SEARCHRET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap/imap-parser.h"
#include "lib/util.h"

#define IMAP_SR_MIN      0x01
#define IMAP_SR_MAX      0x02
#define IMAP_SR_ALL      0x04
#define IMAP_SR_COUNT    0x08
#define IMAP_SR_SAVE     0x10     /* RFC 5182 */
#define IMAP_SR_PARTIAL  0x20     /* RFC 5267 4.4 */
#define IMAP_SR_UPDATE   0x40     /* RFC 5267 4.3: keep the result live */
#define IMAP_SR_CONTEXT  0x80     /* RFC 5267 4.2: a hint, nothing to do */

struct imap_searchret {
	unsigned opts;            /* IMAP_SR_* */
	uint32_t plo, phi;        /* PARTIAL lo:hi, lo <= hi, both >= 1 */
};

/* The members of the RETURN list. "RETURN ()" means ALL (RFC 4731 3.1),
 * and so does a list of only UPDATE and CONTEXT (the client needs the
 * result the updates apply to). False for an unknown option, a PARTIAL
 * without a valid "n:m" range (RFC 5267 4.4: two nz-numbers, "*" not
 * allowed), PARTIAL twice, or UPDATE with SAVE. */
bool imap_searchret_parse(const struct imap_arg *list, size_t n,
    struct imap_searchret *r);

/* Does the command answer with ESEARCH? Not when SAVE is the only option
 * (RFC 5182 2.4). */
bool imap_searchret_answers(const struct imap_searchret *r);

/* What SAVE keeps (RFC 5182 2.4): every hit, or (with MIN and/or MAX but
 * neither ALL nor COUNT) only the first and/or last in result order. Sets
 * keep[i] for each of the n results. */
void imap_searchret_saved(const struct imap_searchret *r, size_t n, bool *keep);

/* "* ESEARCH (TAG "tag") [UID] [MIN n] [MAX n] [ALL set] [PARTIAL (r set)]
 * [COUNT n] [MODSEQ n]\r\n" for nums, the hits in result order (ascending
 * for SEARCH, the sort order for SORT): MIN and MAX are the first and the
 * last. modseqs (parallel to nums, or NULL) give MODSEQ (RFC 7162 3.1.5):
 * the highest of the messages returned: all of them with ALL, COUNT or
 * PARTIAL, else those MIN and MAX name. Nothing but COUNT 0 is said of an
 * empty result. */
void imap_esearch_write(struct mm_buf *b, const char *tag, bool uid,
    const struct imap_searchret *r, const uint32_t *nums, size_t n,
    const uint64_t *modseqs);

/* nums[0..n) as a sequence set in the order given: ascending runs become
 * "a:b" ("5,3:4,2,1"). */
void imap_searchret_write_set(struct mm_buf *b, const uint32_t *nums, size_t n);

#endif
