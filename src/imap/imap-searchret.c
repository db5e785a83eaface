/* imap-searchret.c: SEARCH/SORT RETURN options and the ESEARCH response
 * (RFC 4731, RFC 5182, RFC 5267).
 *
 * The one idea: the command computes its whole result (hits in result
 * order, with their modseqs); this file only decides which parts of that
 * result the client asked for and writes them. The same code answers
 * SEARCH (ascending hits) and SORT (hits in sort order), which is why MIN
 * and MAX are "first" and "last", not "smallest" and "largest". */
#include "imap/imap-searchret.h"

#include <stdio.h>
#include <string.h>

#include "mail/mime.h"

static bool
partial_number(const char **sp, uint32_t *n_r)
{
	const char *s = *sp;
	uint64_t n = 0;
	if (*s < '1' || *s > '9')
		return false;
	while (*s >= '0' && *s <= '9') {
		n = n * 10 + (uint64_t)(*s - '0');
		if (n > UINT32_MAX)
			return false;
		s++;
	}
	*n_r = (uint32_t)n;
	*sp = s;
	return true;
}

static bool
partial_range(const char *s, uint32_t *lo_r, uint32_t *hi_r)
{
	uint32_t a, b;
	if (!partial_number(&s, &a) || *s++ != ':' || !partial_number(&s, &b) || *s != '\0')
		return false;
	*lo_r = a < b ? a : b;
	*hi_r = a < b ? b : a;
	return true;
}

bool
imap_searchret_parse(const struct imap_arg *list, size_t n, struct imap_searchret *r)
{
	static const struct { const char *name; unsigned opt; } words[] = {
		{ "MIN", IMAP_SR_MIN }, { "MAX", IMAP_SR_MAX }, { "ALL", IMAP_SR_ALL },
		{ "COUNT", IMAP_SR_COUNT }, { "SAVE", IMAP_SR_SAVE },
		{ "UPDATE", IMAP_SR_UPDATE }, { "CONTEXT", IMAP_SR_CONTEXT },
	};
	memset(r, 0, sizeof(*r));
	for (size_t i = 0; i < n; i++) {
		const char *w;
		size_t k;
		if (!imap_arg_atom(&list[i], &w))
			return false;
		for (k = 0; k < sizeof(words) / sizeof(words[0]); k++)
			if (mm_strcaseeq(w, words[k].name))
				break;
		if (k < sizeof(words) / sizeof(words[0])) {
			r->opts |= words[k].opt;
			continue;
		}
		if (!mm_strcaseeq(w, "PARTIAL") || (r->opts & IMAP_SR_PARTIAL) ||
		    i + 1 >= n || !imap_arg_atom(&list[i + 1], &w) ||
		    !partial_range(w, &r->plo, &r->phi))
			return false;
		r->opts |= IMAP_SR_PARTIAL;
		i++;
	}
	if ((r->opts & IMAP_SR_UPDATE) && (r->opts & IMAP_SR_SAVE))
		return false;
	if ((r->opts & ~(unsigned)(IMAP_SR_UPDATE | IMAP_SR_CONTEXT)) == 0)
		r->opts |= IMAP_SR_ALL;
	return true;
}

bool
imap_searchret_answers(const struct imap_searchret *r)
{
	return (r->opts & ~(unsigned)(IMAP_SR_SAVE | IMAP_SR_CONTEXT)) != 0;
}

void
imap_searchret_saved(const struct imap_searchret *r, size_t n, bool *keep)
{
	bool all = (r->opts & (IMAP_SR_ALL | IMAP_SR_COUNT)) ||
	    !(r->opts & (IMAP_SR_MIN | IMAP_SR_MAX));
	for (size_t i = 0; i < n; i++)
		keep[i] = all;
	if (!all && n > 0) {
		if (r->opts & IMAP_SR_MIN)
			keep[0] = true;
		if (r->opts & IMAP_SR_MAX)
			keep[n - 1] = true;
	}
}

void
imap_searchret_write_set(struct mm_buf *b, const uint32_t *nums, size_t n)
{
	imap_seqset_write_numbers(b, nums, n);
}

void
imap_esearch_write(struct mm_buf *b, const char *tag, bool uid,
    const struct imap_searchret *r, const uint32_t *nums, size_t n,
    const uint64_t *modseqs)
{
	uint64_t modseq = 0;
	size_t plo = 0, phi = 0;   /* partial: result positions [plo, phi) */

	mm_buf_append(b, "* ESEARCH (TAG ", 15);
	mail_imap_append_quoted(b, tag, strlen(tag));
	mm_buf_appendc(b, ')');
	if (uid)
		mm_buf_append(b, " UID", 4);
	if (r->opts & IMAP_SR_PARTIAL) {
		plo = r->plo - 1 < n ? r->plo - 1 : n;
		phi = r->phi < n ? r->phi : n;
	}
	if (n > 0 && (r->opts & IMAP_SR_MIN))
		mm_buf_printf(b, " MIN %u", nums[0]);
	if (n > 0 && (r->opts & IMAP_SR_MAX))
		mm_buf_printf(b, " MAX %u", nums[n - 1]);
	if (n > 0 && (r->opts & IMAP_SR_ALL)) {
		mm_buf_append(b, " ALL ", 5);
		imap_searchret_write_set(b, nums, n);
	}
	if (r->opts & IMAP_SR_PARTIAL) {
		mm_buf_printf(b, " PARTIAL (%u:%u ", r->plo, r->phi);
		if (plo < phi)
			imap_searchret_write_set(b, nums + plo, phi - plo);
		else
			mm_buf_append(b, "NIL", 3);
		mm_buf_appendc(b, ')');
	}
	if (r->opts & IMAP_SR_COUNT)
		mm_buf_printf(b, " COUNT %zu", n);
	if (modseqs != NULL && n > 0) {
		if (r->opts & (IMAP_SR_ALL | IMAP_SR_COUNT)) {
			plo = 0;
			phi = n;
		}
		for (size_t i = plo; i < phi; i++)
			if (modseqs[i] > modseq)
				modseq = modseqs[i];
		if ((r->opts & IMAP_SR_MIN) && modseqs[0] > modseq)
			modseq = modseqs[0];
		if ((r->opts & IMAP_SR_MAX) && modseqs[n - 1] > modseq)
			modseq = modseqs[n - 1];
		if (modseq > 0)
			mm_buf_printf(b, " MODSEQ %llu", (unsigned long long)modseq);
	}
	mm_buf_append(b, "\r\n", 2);
}
