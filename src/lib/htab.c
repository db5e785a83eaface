/* htab.c: the growing chained hash table of htab.h.
 *
 * The one idea: the bucket count follows the entry count (twice the
 * buckets when there are more than two entries a bucket, half when there
 * are fewer than one in eight, never under MM_HTAB_MIN_BUCKETS), so a
 * lookup walks a chain of about one entry whether the table holds ten
 * keys or 100,000; the rehash that a resize costs is paid once per
 * doubling or halving, and the gap between the two thresholds keeps a
 * table at the edge from resizing on every add and delete. */
#include "lib/htab.h"
#include "lib/util.h"

#include <stdlib.h>

static void
htab_link(struct mm_hnode **head, struct mm_hnode *node)
{
	node->next = *head;
	if (*head)
		(*head)->pprev = &node->next;
	node->pprev = head;
	*head = node;
}

static void
htab_resize(struct mm_htab *t, size_t n)
{
	struct mm_hnode **tab = xcalloc(n, sizeof(*tab));
	for (size_t i = 0; i < t->nbuckets; i++)
		while (t->tab[i]) {
			struct mm_hnode *node = t->tab[i];
			t->tab[i] = node->next;
			htab_link(&tab[node->hash & (n - 1)], node);
		}
	free(t->tab);
	t->tab = tab;
	t->nbuckets = n;
}

struct mm_hnode *
mm_htab_first(const struct mm_htab *t, uint32_t hash)
{
	return t->nbuckets ? t->tab[hash & (t->nbuckets - 1)] : NULL;
}

void
mm_htab_add(struct mm_htab *t, struct mm_hnode *node, uint32_t hash)
{
	if (t->nbuckets == 0)
		htab_resize(t, MM_HTAB_MIN_BUCKETS);
	node->hash = hash;
	htab_link(&t->tab[hash & (t->nbuckets - 1)], node);
	if (++t->n > 2 * t->nbuckets)
		htab_resize(t, 2 * t->nbuckets);
}

void
mm_htab_del(struct mm_htab *t, struct mm_hnode *node)
{
	*node->pprev = node->next;
	if (node->next)
		node->next->pprev = node->pprev;
	node->next = NULL;
	node->pprev = NULL;
	if (--t->n == 0)
		mm_htab_clear(t);
	else if (t->nbuckets > MM_HTAB_MIN_BUCKETS && t->n < t->nbuckets / 8)
		htab_resize(t, t->nbuckets / 2);
}

void
mm_htab_clear(struct mm_htab *t)
{
	free(t->tab);
	t->tab = NULL;
	t->nbuckets = 0;
	t->n = 0;
}

size_t
mm_htab_longest_chain(const struct mm_htab *t)
{
	size_t longest = 0;
	for (size_t i = 0; i < t->nbuckets; i++) {
		size_t k = 0;
		for (const struct mm_hnode *node = t->tab[i]; node; node = node->next)
			k++;
		if (k > longest)
			longest = k;
	}
	return longest;
}
