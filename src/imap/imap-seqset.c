/* imap-seqset.c: IMAP sequence sets (RFC 9051 9 sequence-set): parsing
 * "1:3,5,7:*" into ranges, membership and the largest number with '*'
 * given, and writing a sorted list of numbers back as a set (for COPYUID,
 * ESEARCH). Split from imap-parser.c; declared in imap-parser.h. */
#include "imap/imap-parser.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>

#define DIGIT(c) ((c) >= '0' && (c) <= '9')

static bool
seq_number(const char **sp, uint32_t *n_r)
{
	const char *s = *sp;
	uint64_t n = 0;
	if (*s == '*') {
		*n_r = IMAP_SEQ_STAR;
		*sp = s + 1;
		return true;
	}
	if (!DIGIT(*s) || *s == '0')
		return false;
	while (DIGIT(*s)) {
		n = n * 10 + (uint64_t)(*s - '0');
		if (n > UINT32_MAX)         /* RFC 9051 9: nz-number is 32 bits */
			return false;
		s++;
	}
	*n_r = (uint32_t)n;
	*sp = s;
	return true;
}

bool
imap_seqset_parse(struct imap_seqset *set, const char *s)
{
	set->n = 0;
	if (*s == '\0')
		return false;
	for (;;) {
		struct imap_seq_range r;
		if (!seq_number(&s, &r.lo))
			return false;
		r.hi = r.lo;
		if (*s == ':') {
			s++;
			if (!seq_number(&s, &r.hi))
				return false;
		}
		if (set->n == set->cap) {
			set->cap = set->cap ? set->cap * 2 : 4;
			set->r = xrealloc(set->r, set->cap * sizeof(*set->r));
		}
		set->r[set->n++] = r;
		if (*s == '\0')
			return true;
		if (*s != ',')
			return false;
		s++;
	}
}

void
imap_seqset_free(struct imap_seqset *set)
{
	free(set->r);
	set->r = NULL;
	set->n = set->cap = 0;
}

bool
imap_seqset_contains(const struct imap_seqset *set, uint32_t n, uint32_t star)
{
	for (size_t i = 0; i < set->n; i++) {
		uint32_t lo = set->r[i].lo == IMAP_SEQ_STAR ? star : set->r[i].lo;
		uint32_t hi = set->r[i].hi == IMAP_SEQ_STAR ? star : set->r[i].hi;
		if (lo > hi) {
			uint32_t t = lo;
			lo = hi;
			hi = t;
		}
		if (n >= lo && n <= hi)
			return true;
	}
	return false;
}

uint32_t
imap_seqset_max(const struct imap_seqset *set, uint32_t star)
{
	uint32_t max = 0;
	for (size_t i = 0; i < set->n; i++) {
		uint32_t lo = set->r[i].lo == IMAP_SEQ_STAR ? star : set->r[i].lo;
		uint32_t hi = set->r[i].hi == IMAP_SEQ_STAR ? star : set->r[i].hi;
		if (lo > max)
			max = lo;
		if (hi > max)
			max = hi;
	}
	return max;
}

void
imap_seqset_write_numbers(struct mm_buf *b, const uint32_t *nums, size_t n)
{
	size_t i = 0;
	bool first = true;
	while (i < n) {
		size_t j = i;
		while (j + 1 < n && nums[j + 1] == nums[j] + 1)
			j++;
		if (!first)
			mm_buf_appendc(b, ',');
		first = false;
		if (j == i)
			mm_buf_printf(b, "%u", nums[i]);
		else
			mm_buf_printf(b, "%u:%u", nums[i], nums[j]);
		i = j + 1;
	}
}
