/* thread.c: THREAD=ORDEREDSUBJECT and THREAD=REFERENCES (RFC 5256 3).
 *
 * The one idea: containers live in one growing array and point at each
 * other by index (parent, first/last child, prev/next sibling), so a
 * References header of any length, dummies and subject merges cost no
 * allocation each, and every walk (pruning, sorting siblings, writing the
 * answer) is a loop over a preorder list or an explicit stack, never
 * recursion: a 50,000-message reply chain cannot overflow the worker's
 * stack. The steps are numbered as in the RFC. The loop check of step 1
 * walks up at most max_depth ancestors; a deeper link counts as a loop. */
#include "mail/thread.h"

#include <stdlib.h>
#include <string.h>

#include "mail/decode.h"
#include "mail/sort.h"

/* ---- filling a record ---- */

static const char *
skip_comment(const char *p, const char *e)
{
	int depth = 0;
	for (; p < e; p++) {
		if (*p == '\\' && p + 1 < e)
			p++;
		else if (*p == '(')
			depth++;
		else if (*p == ')' && --depth == 0)
			return p + 1;
	}
	return e;
}

void
mail_thread_ids(const char *v, size_t len, size_t max, bool keep_last,
    size_t max_id_bytes, struct mm_strlist *out)
{
	const char *p = v, *e = v + len;
	while (p < e && max > 0) {
		if (*p == '(') {
			p = skip_comment(p, e);
			continue;
		}
		if (*p != '<') {
			p++;
			continue;
		}
		const char *s = ++p;
		while (p < e && *p != '>' && *p != '<')
			p++;
		if (p >= e)
			break;
		if (*p == '<')
			continue;
		/* s..p is the id: folds removed, no other white space */
		char *id = xmalloc((size_t)(p - s) + 1);
		size_t n = 0;
		bool ok = true, at = false;
		for (const char *q = s; q < p; q++) {
			if (*q == '\r' || *q == '\n')
				continue;
			if (*q == ' ' || *q == '\t' || *q == '\0')
				ok = false;
			at |= *q == '@';
			id[n++] = *q;
		}
		id[n] = '\0';
		p++;
		if (!ok || !at || n == 0 || n > max_id_bytes) {
			free(id);
			continue;
		}
		if (out->n >= max) {
			if (!keep_last) {
				free(id);
				break;
			}
			free(out->v[0]);
			memmove(out->v, out->v + 1, (out->n - 1) * sizeof(*out->v));
			out->n--;
		}
		mm_strlist_add(out, id);
		free(id);
	}
}

void
mail_thread_msg_fill(struct mail_thread_msg *m, const struct mail_header *h,
    size_t max_refs, size_t max_id_bytes, size_t max_subject_bytes)
{
	const struct mail_hdr_field *f;
	struct mm_strlist l;

	m->date = mail_sort_sent_date(h, m->date);
	mm_strlist_init(&l);
	if ((f = mail_header_find(h, "Message-ID")) != NULL)
		mail_thread_ids(f->value, f->value_len, 1, false, max_id_bytes, &l);
	m->msgid = l.n > 0 ? l.v[0] : NULL;
	if (l.n > 0)
		l.v[0] = NULL;
	mm_strlist_clear(&l);
	if ((f = mail_header_find(h, "References")) != NULL)
		mail_thread_ids(f->value, f->value_len, max_refs, true, max_id_bytes, &l);
	if (l.n == 0 && (f = mail_header_find(h, "In-Reply-To")) != NULL)
		mail_thread_ids(f->value, f->value_len, 1, false, max_id_bytes, &l);
	m->refs = l.v;
	m->nrefs = l.n;
	f = mail_header_find(h, "Subject");
	char *b = mail_base_subject(f ? f->value : "", f ? f->value_len : 0, &m->reply);
	m->subject = mail_sort_text(b, strlen(b), max_subject_bytes);
	free(b);
}

void
mail_thread_msg_free(struct mail_thread_msg *m)
{
	for (size_t i = 0; i < m->nrefs; i++)
		free(m->refs[i]);
	free(m->refs);
	free(m->msgid);
	free(m->subject);
	memset(m, 0, sizeof(*m));
}

/* ---- containers ---- */

#define NONE (-1)

struct node {
	int parent, child, last, prev, next;
	int msg;                  /* index into msgs, or NONE: a dummy */
	time_t date;              /* step 6: its own, or its first child's */
	uint32_t num;             /* tie-break for equal dates */
	bool gone;                /* removed from the root set */
};

struct forest {
	struct node *v;
	size_t n, cap;
	const struct mail_thread_msg *msgs;
};

static int
node_new(struct forest *f, int msg)
{
	if (f->n == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 64;
		f->v = xrealloc(f->v, f->cap * sizeof(*f->v));
	}
	struct node *x = &f->v[f->n];
	x->parent = x->child = x->last = x->prev = x->next = NONE;
	x->msg = msg;
	x->date = 0;
	x->num = 0;
	x->gone = false;
	return (int)f->n++;
}

static void
unlink_node(struct forest *f, int c)
{
	struct node *x = &f->v[c];
	if (x->parent == NONE)
		return;
	struct node *p = &f->v[x->parent];
	if (x->prev != NONE)
		f->v[x->prev].next = x->next;
	else
		p->child = x->next;
	if (x->next != NONE)
		f->v[x->next].prev = x->prev;
	else
		p->last = x->prev;
	x->parent = x->prev = x->next = NONE;
}

static void
append_child(struct forest *f, int p, int c)
{
	struct node *x = &f->v[c], *pp = &f->v[p];
	x->parent = p;
	x->next = NONE;
	x->prev = pp->last;
	if (pp->last != NONE)
		f->v[pp->last].next = c;
	else
		pp->child = c;
	pp->last = c;
}

/* Would making c a child of p make a loop (or a walk past max_depth)? */
static bool
would_loop(const struct forest *f, int p, int c, size_t max_depth)
{
	size_t d = 0;
	for (int a = p; a != NONE; a = f->v[a].parent)
		if (a == c || ++d > max_depth)
			return true;
	return false;
}

/* ---- a string -> node table (open addressing) ---- */

struct table {
	const char **key;
	int *val;
	size_t cap, n;
};

static uint64_t
hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;    /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static void table_put(struct table *t, const char *k, int v);

static void
table_grow(struct table *t)
{
	struct table o = *t;
	t->cap = o.cap ? o.cap * 2 : 64;
	t->key = xcalloc(t->cap, sizeof(*t->key));
	t->val = xcalloc(t->cap, sizeof(*t->val));
	t->n = 0;
	for (size_t i = 0; i < o.cap; i++)
		if (o.key[i] != NULL)
			table_put(t, o.key[i], o.val[i]);
	free(o.key);
	free(o.val);
}

static int *
table_slot(struct table *t, const char *k, bool create)
{
	if (t->cap == 0) {
		if (!create)
			return NULL;
		table_grow(t);
	}
	size_t i = (size_t)(hash_str(k) & (t->cap - 1));
	while (t->key[i] != NULL) {
		if (strcmp(t->key[i], k) == 0)
			return &t->val[i];
		i = (i + 1) & (t->cap - 1);
	}
	if (!create)
		return NULL;
	if ((t->n + 1) * 2 > t->cap) {
		table_grow(t);
		return table_slot(t, k, true);
	}
	t->key[i] = k;
	t->val[i] = NONE;
	t->n++;
	return &t->val[i];
}

static void
table_put(struct table *t, const char *k, int v)
{
	*table_slot(t, k, true) = v;
}

static void
table_free(struct table *t)
{
	free(t->key);
	free(t->val);
	memset(t, 0, sizeof(*t));
}

/* ---- sorting siblings (step 6) and writing (step 7) ---- */

static bool
node_before(const struct node *a, const struct node *b)
{
	if (a->date != b->date)
		return a->date < b->date;
	return a->num < b->num;
}

/* Sorts the list of nodes idx[0..n) by date (merge sort, stable). */
static void
sort_nodes(const struct forest *f, int *idx, int *tmp, size_t n)
{
	if (n < 2)
		return;
	size_t h = n / 2, i = 0, j = h, k = 0;
	sort_nodes(f, idx, tmp, h);
	sort_nodes(f, idx + h, tmp, n - h);
	while (i < h && j < n)
		tmp[k++] = node_before(&f->v[idx[j]], &f->v[idx[i]]) ? idx[j++] : idx[i++];
	while (i < h)
		tmp[k++] = idx[i++];
	while (j < n)
		tmp[k++] = idx[j++];
	memcpy(idx, tmp, n * sizeof(*idx));
}

/* Every node reachable from roots, parents before children. */
static int *
preorder(const struct forest *f, const int *roots, size_t nroots, size_t *n_r)
{
	int *out = xmalloc((f->n + 1) * sizeof(*out));
	size_t n = 0;
	for (size_t r = 0; r < nroots; r++) {
		int x = roots[r];
		out[n++] = x;
		/* walk the subtree with parent links: no stack */
		int c = f->v[x].child;
		while (c != NONE) {
			out[n++] = c;
			if (f->v[c].child != NONE) {
				c = f->v[c].child;
				continue;
			}
			while (c != NONE && c != x && f->v[c].next == NONE)
				c = f->v[c].parent;
			if (c == NONE || c == x)
				break;
			c = f->v[c].next;
		}
	}
	*n_r = n;
	return out;
}

/* Sorts each node's children, then roots (in place), by date; a dummy
 * takes its first child's date. */
static void
sort_forest(struct forest *f, int *roots, size_t nroots)
{
	size_t n;
	int *order = preorder(f, roots, nroots, &n);
	int *kids = xmalloc((f->n + 1) * sizeof(*kids));
	int *tmp = xmalloc((f->n + 1) * sizeof(*tmp));
	for (size_t i = n; i-- > 0;) {
		struct node *x = &f->v[order[i]];
		size_t k = 0;
		for (int c = x->child; c != NONE; c = f->v[c].next)
			kids[k++] = c;
		sort_nodes(f, kids, tmp, k);
		x->child = x->last = NONE;
		for (size_t j = 0; j < k; j++)
			append_child(f, order[i], kids[j]);
		if (x->msg == NONE && x->child != NONE) {
			x->date = f->v[x->child].date;
			x->num = f->v[x->child].num;
		}
	}
	sort_nodes(f, roots, tmp, nroots);
	free(tmp);
	free(kids);
	free(order);
}

static void
write_forest(const struct forest *f, const int *roots, size_t nroots, struct mm_buf *out)
{
	/* a frame: the next sibling to write as a thread-list; frame 0 is the
	 * top level, the others close with ')' */
	int *stack = xmalloc((f->n + 2) * sizeof(*stack));
	size_t top = 0, r = 0;
	stack[0] = NONE;
	for (;;) {
		int x = stack[top];
		if (top == 0) {
			if (r >= nroots)
				break;
			x = roots[r++];
		} else if (x == NONE) {
			mm_buf_appendc(out, ')');
			top--;
			continue;
		} else {
			stack[top] = f->v[x].next;
		}
		mm_buf_appendc(out, '(');
		bool first = true;
		int y = x;
		for (;;) {
			const struct node *ny = &f->v[y];
			if (ny->msg != NONE) {
				mm_buf_printf(out, first ? "%u" : " %u", ny->num);
				first = false;
			}
			if (ny->child != NONE && ny->child == ny->last) {
				y = ny->child;
				continue;
			}
			break;
		}
		if (f->v[y].child == NONE) {
			mm_buf_appendc(out, ')');
			continue;
		}
		if (!first)
			mm_buf_appendc(out, ' ');
		stack[++top] = f->v[y].child;
	}
	free(stack);
}

/* ---- ORDEREDSUBJECT (RFC 5256 3) ---- */

struct os_ctx {
	const struct mail_thread_msg *m;
};

static bool
os_before(const struct mail_thread_msg *a, const struct mail_thread_msg *b)
{
	int c = strcmp(a->subject ? a->subject : "", b->subject ? b->subject : "");
	if (c != 0)
		return c < 0;
	if (a->date != b->date)
		return a->date < b->date;
	return a->num < b->num;
}

static void
os_sort(const struct mail_thread_msg *m, size_t *idx, size_t *tmp, size_t n)
{
	if (n < 2)
		return;
	size_t h = n / 2, i = 0, j = h, k = 0;
	os_sort(m, idx, tmp, h);
	os_sort(m, idx + h, tmp, n - h);
	while (i < h && j < n)
		tmp[k++] = os_before(&m[idx[j]], &m[idx[i]]) ? idx[j++] : idx[i++];
	while (i < h)
		tmp[k++] = idx[i++];
	while (j < n)
		tmp[k++] = idx[j++];
	memcpy(idx, tmp, n * sizeof(*idx));
}

void
mail_thread_orderedsubject(const struct mail_thread_msg *msgs, size_t n,
    struct mm_buf *out)
{
	struct forest f = { .msgs = msgs };
	size_t *idx = xmalloc((n + 1) * sizeof(*idx));
	size_t *tmp = xmalloc((n + 1) * sizeof(*tmp));
	int *roots = xmalloc((n + 1) * sizeof(*roots));
	size_t nroots = 0;

	for (size_t i = 0; i < n; i++)
		idx[i] = i;
	os_sort(msgs, idx, tmp, n);
	/* one thread per subject: the earliest is the parent, the others
	 * its children in date order */
	for (size_t i = 0; i < n; i++) {
		const struct mail_thread_msg *m = &msgs[idx[i]];
		int x = node_new(&f, (int)idx[i]);
		f.v[x].date = m->date;
		f.v[x].num = m->num;
		if (i > 0 && strcmp(m->subject ? m->subject : "",
		    msgs[idx[i - 1]].subject ? msgs[idx[i - 1]].subject : "") == 0)
			append_child(&f, roots[nroots - 1], x);
		else
			roots[nroots++] = x;
	}
	sort_forest(&f, roots, nroots);
	write_forest(&f, roots, nroots, out);
	free(roots);
	free(tmp);
	free(idx);
	free(f.v);
}

/* ---- REFERENCES (RFC 5256 3) ---- */

/* Step 5B's subject: the message's, or for a dummy its first child's in
 * the order step 6 will give them (the earliest), as Dovecot takes it. */
static const char *
thread_subject(const struct forest *f, int x)
{
	const struct node *n = &f->v[x];
	if (n->msg == NONE) {
		const struct node *first = NULL;
		for (int c = n->child; c != NONE; c = f->v[c].next)
			if (f->v[c].msg != NONE && (first == NULL || node_before(&f->v[c], first)))
				first = &f->v[c];
		if (first == NULL)
			return "";
		n = first;
	}
	if (n->msg == NONE)
		return "";
	const char *s = f->msgs[n->msg].subject;
	return s ? s : "";
}

static bool
is_reply(const struct forest *f, int x)
{
	return f->v[x].msg != NONE && f->msgs[f->v[x].msg].reply;
}

void
mail_thread_references(const struct mail_thread_msg *msgs, size_t n,
    size_t max_depth, struct mm_buf *out)
{
	struct forest f = { .msgs = msgs };
	struct table ids = { 0 };
	size_t order_n;

	/* (1) containers by Message-ID */
	for (size_t i = 0; i < n; i++) {
		const struct mail_thread_msg *m = &msgs[i];
		int prev = NONE, me;
		/* (1A) link the references in order, keeping links made */
		for (size_t r = 0; r < m->nrefs; r++) {
			int *slot = table_slot(&ids, m->refs[r], true);
			if (*slot == NONE)
				*slot = node_new(&f, NONE);
			int c = *slot;
			if (prev != NONE && prev != c && f.v[c].parent == NONE &&
			    !would_loop(&f, prev, c, max_depth))
				append_child(&f, prev, c);
			prev = c;
		}
		/* (1B) this message's container: a dummy made by an earlier
		 * reference takes it; a duplicate Message-ID gets its own */
		int *slot = m->msgid != NULL ? table_slot(&ids, m->msgid, true) : NULL;
		if (slot != NULL && *slot != NONE && f.v[*slot].msg == NONE) {
			me = *slot;
			f.v[me].msg = (int)i;
		} else {
			me = node_new(&f, (int)i);
			if (slot != NULL && *slot == NONE)
				*slot = me;
		}
		f.v[me].date = m->date;
		f.v[me].num = m->num;
		unlink_node(&f, me);
		if (prev != NONE && prev != me && !would_loop(&f, prev, me, max_depth))
			append_child(&f, prev, me);
	}
	/* (3) the table goes; its keys point into msgs */
	table_free(&ids);

	/* (2) the root set, and (4) pruning dummies, children first */
	int *roots = xmalloc((f.n + 1) * sizeof(*roots));
	size_t nroots = 0;
	for (size_t x = 0; x < f.n; x++)
		if (f.v[x].parent == NONE)
			roots[nroots++] = (int)x;
	int *order = preorder(&f, roots, nroots, &order_n);
	for (size_t i = order_n; i-- > 0;) {
		int x = order[i];
		int c = f.v[x].child;
		while (c != NONE) {
			int next = f.v[c].next;
			if (f.v[c].msg == NONE) {
				/* (4A) childless dummy goes; (4B) a dummy's
				 * children take its place */
				int g = f.v[c].child;
				while (g != NONE) {
					int gn = f.v[g].next;
					unlink_node(&f, g);
					/* insert g before c */
					struct node *ng = &f.v[g];
					ng->parent = x;
					ng->next = c;
					ng->prev = f.v[c].prev;
					if (f.v[c].prev != NONE)
						f.v[f.v[c].prev].next = g;
					else
						f.v[x].child = g;
					f.v[c].prev = g;
					g = gn;
				}
				unlink_node(&f, c);
			}
			c = next;
		}
	}
	free(order);
	size_t k = 0;
	for (size_t r = 0; r < nroots; r++) {
		int x = roots[r];
		if (f.v[x].msg != NONE) {
			roots[k++] = x;
			continue;
		}
		if (f.v[x].child == NONE)
			continue;                       /* (4A) */
		if (f.v[x].child == f.v[x].last) {     /* (4B) one child: promoted */
			int c = f.v[x].child;
			unlink_node(&f, c);
			roots[k++] = c;
			continue;
		}
		roots[k++] = x;
	}
	nroots = k;

	/* the root set in step 6's order (a dummy by its oldest child)
	 * before step 5 walks it, as Dovecot does: which message of a
	 * subject the table ends with depends on that order */
	for (size_t r = 0; r < nroots; r++) {
		struct node *x = &f.v[roots[r]];
		if (x->msg != NONE)
			continue;
		const struct node *first = NULL;
		for (int c = x->child; c != NONE; c = f.v[c].next)
			if (first == NULL || node_before(&f.v[c], first))
				first = &f.v[c];
		if (first != NULL) {
			x->date = first->date;
			x->num = first->num;
		}
	}
	int *rtmp = xmalloc((nroots + 1) * sizeof(*rtmp));
	sort_nodes(&f, roots, rtmp, nroots);
	free(rtmp);

	/* (5) group the root set by base subject */
	struct table subj = { 0 };
	for (size_t r = 0; r < nroots; r++) {                 /* (5B) */
		int x = roots[r];
		const char *s = thread_subject(&f, x);
		if (*s == '\0')
			continue;
		int *slot = table_slot(&subj, s, true);
		if (*slot == NONE) {
			*slot = x;
			continue;
		}
		int t = *slot;
		if (f.v[t].msg != NONE && (f.v[x].msg == NONE ||
		    (is_reply(&f, t) && !is_reply(&f, x))))
			*slot = x;
	}
	size_t nr = nroots;
	for (size_t r = 0; r < nr; r++) {                     /* (5C) */
		int x = roots[r];
		const char *s = thread_subject(&f, x);
		if (*s == '\0')
			continue;
		int *slot = table_slot(&subj, s, false);
		int t = *slot;
		if (t == x)
			continue;
		if (f.v[t].msg == NONE && f.v[x].msg == NONE) {
			while (f.v[x].child != NONE) {
				int c = f.v[x].child;
				unlink_node(&f, c);
				append_child(&f, t, c);
			}
		} else if (f.v[t].msg == NONE ||
		    (is_reply(&f, x) && !is_reply(&f, t))) {
			append_child(&f, t, x);
		} else {
			/* the table's key points into msgs, it stays valid */
			int d = node_new(&f, NONE);
			append_child(&f, d, t);
			append_child(&f, d, x);
			*slot = d;
			roots = xrealloc(roots, (f.n + 1) * sizeof(*roots));
			roots[nroots++] = d;
		}
		f.v[x].gone = true;
	}
	table_free(&subj);
	k = 0;
	for (size_t r = 0; r < nroots; r++)
		if (!f.v[roots[r]].gone && f.v[roots[r]].parent == NONE)
			roots[k++] = roots[r];
	nroots = k;

	/* (6) sort, (7) write */
	sort_forest(&f, roots, nroots);
	write_forest(&f, roots, nroots, out);
	free(roots);
	free(f.v);
}
