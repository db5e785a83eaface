/* cmd-mailbox.c: commands on mailboxes by name: LIST (LIST-EXTENDED,
 * RFC 5258: selection options SUBSCRIBED, REMOTE, RECURSIVEMATCH and
 * SPECIAL-USE, several patterns, return options SUBSCRIBED, CHILDREN,
 * SPECIAL-USE and STATUS, RFC 5819), LSUB, CREATE (with USE, RFC 6154),
 * DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, STATUS (with SIZE, RFC 8438).
 *
 * The one idea: names are UTF-8 in the store and modified UTF-7 on the
 * wire; they are converted at the edges (imap_mailbox_arg on the way in,
 * imap_append_mailbox on the way out) and matched in UTF-8. LIST reads
 * the whole mailbox list on a worker and adds the parents a name implies
 * (names only, sorted); then the answer is rendered in batches
 * (imap_run_batched), each written when the output has drained, so a
 * tree of many thousand mailboxes is never held rendered whole. */
#include "imap/imap-common.h"

#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "net/conn.h"

#define LIST_PATTERN_MAX_BYTES   1024
#define LIST_PATTERNS_MAX        32
#define LIST_BATCH_ITEMS         2000     /* mailboxes looked at per batch */

/* ---- wildcard matching ('*' anything, '%' anything but '/') ---- */

static bool
wild_match(const char *p, size_t plen, const char *n, size_t nlen)
{
	/* dp[j]: pattern prefix matches name prefix of length j */
	bool *dp = xcalloc(nlen + 1, sizeof(bool));
	bool *nx = xcalloc(nlen + 1, sizeof(bool));
	dp[0] = true;
	for (size_t i = 0; i < plen; i++) {
		char c = p[i];
		if (c == '*' || c == '%') {
			bool run = false;
			for (size_t j = 0; j <= nlen; j++) {
				if (j > 0 && c == '%' && n[j - 1] == '/')
					run = false;
				if (dp[j])
					run = true;
				nx[j] = run;
			}
		} else {
			nx[0] = false;
			for (size_t j = 1; j <= nlen; j++)
				nx[j] = dp[j - 1] && n[j - 1] == c;
		}
		bool *t = dp;
		dp = nx;
		nx = t;
	}
	bool r = dp[nlen];
	free(dp);
	free(nx);
	return r;
}

/* INBOX matches case-insensitively: upper-case an INBOX prefix. */
static void
canon_inbox(char *p)
{
	if (mm_strncaseeq(p, "INBOX", 5) && (p[5] == '\0' || p[5] == '/'))
		memcpy(p, "INBOX", 5);
}

/* ---- LIST / LSUB ---- */

struct mbox_ent {
	char *name;
	unsigned attrs;
	bool subscribed;
	bool exists;          /* false: only implied by a child */
	bool children;
	struct store_mailbox *mb; /* counters, for LIST-STATUS only */
};

#define LIST_SEL_SUBSCRIBED   0x1
#define LIST_SEL_SPECIALUSE   0x2
#define LIST_RET_SUBSCRIBED   0x4
#define LIST_RET_SPECIALUSE   0x8
#define LIST_LSUB             0x10
#define LIST_SEL_RECURSIVE    0x20    /* RFC 5258 RECURSIVEMATCH */
#define LIST_SEL_REMOTE       0x40
#define LIST_RET_STATUS       0x80    /* RFC 5819 */
#define LIST_EXTENDED         0x100   /* RFC 5258 syntax used: \NonExistent */

/* STATUS items (STATUS, and LIST ... RETURN (STATUS (...))) */
#define ST_MESSAGES     0x01
#define ST_RECENT       0x02
#define ST_UIDNEXT      0x04
#define ST_UIDVALIDITY  0x08
#define ST_UNSEEN       0x10
#define ST_SIZE         0x20
#define ST_HIGHESTMODSEQ 0x40
#define ST_DELETED      0x80    /* RFC 9051 6.3.11: IMAP4rev2 only */

struct status_items {
	unsigned items;
	unsigned order[8];
	size_t n;
};

static bool status_items_parse(struct imap_session *s, const struct imap_arg *a,
    struct status_items *it);
static void status_render(struct imap_session *s, struct mm_buf *b, const char *name,
    const struct status_items *it, const struct store_mailbox *mb, uint32_t deleted);
static int status_count_deleted(struct imap_session *s, const char *name, uint32_t *n_r);

struct list_job {
	struct imap_session *s;
	struct mm_strlist patterns;   /* UTF-8, reference prepended */
	unsigned opts;
	struct status_items status;   /* LIST_RET_STATUS */
	bool empty_pattern;           /* LIST "" "": the delimiter */
	struct mbox_ent *ents;
	size_t nents, cap;
	bool loaded;                  /* the first batch read the list */
	size_t pos;                   /* the next entry to render */
	struct mm_buf *out;           /* the batch being produced */
	int err;
};

static int
list_cb(void *arg, const struct store_mailbox *mb)
{
	struct list_job *j = arg;
	if (j->nents == j->cap) {
		j->cap = j->cap ? j->cap * 2 : 32;
		j->ents = xrealloc(j->ents, j->cap * sizeof(*j->ents));
	}
	struct mbox_ent *e = &j->ents[j->nents++];
	memset(e, 0, sizeof(*e));
	e->name = xstrdup(mb->name);
	e->attrs = mb->attrs;
	e->subscribed = mb->subscribed;
	e->exists = true;
	if (j->opts & LIST_RET_STATUS) {
		e->mb = xmalloc(sizeof(*e->mb));
		*e->mb = *mb;
	}
	return 0;
}

static int
ent_cmp(const void *a, const void *b)
{
	const struct mbox_ent *x = a, *y = b;
	/* INBOX first, then by name */
	bool xi = strcmp(x->name, "INBOX") == 0, yi = strcmp(y->name, "INBOX") == 0;
	if (xi != yi)
		return xi ? -1 : 1;
	return strcmp(x->name, y->name);
}

static struct mbox_ent *
ent_find(struct list_job *j, const char *name)
{
	struct mbox_ent key = { .name = (char *)name };
	return bsearch(&key, j->ents, j->nents, sizeof(*j->ents), ent_cmp);
}

/* Adds parents implied by names ("a/b" implies "a"), then flags children. */
static void
add_parents(struct list_job *j)
{
	size_t n = j->nents;
	qsort(j->ents, j->nents, sizeof(*j->ents), ent_cmp);
	for (size_t i = 0; i < n; i++) {
		char *name = xstrdup(j->ents[i].name);
		char *slash;
		while ((slash = strrchr(name, '/')) != NULL) {
			*slash = '\0';
			bool found = false;
			for (size_t k = 0; k < j->nents && !found; k++)
				found = strcmp(j->ents[k].name, name) == 0;
			if (found)
				break;
			if (j->nents == j->cap) {
				j->cap = j->cap ? j->cap * 2 : 32;
				j->ents = xrealloc(j->ents, j->cap * sizeof(*j->ents));
			}
			struct mbox_ent *e = &j->ents[j->nents++];
			memset(e, 0, sizeof(*e));
			e->name = xstrdup(name);
			e->attrs = MBOX_ATTR_NOSELECT;
		}
		free(name);
	}
	qsort(j->ents, j->nents, sizeof(*j->ents), ent_cmp);
	for (size_t i = 0; i < j->nents; i++) {
		char *name = xstrdup(j->ents[i].name);
		char *slash = strrchr(name, '/');
		/* a deleted mailbox kept as a subscription is no child */
		if (slash != NULL && !(j->ents[i].attrs & MBOX_ATTR_NONEXISTENT)) {
			*slash = '\0';
			struct mbox_ent *p = ent_find(j, name);
			if (p != NULL)
				p->children = true;
		}
		free(name);
	}
}

static bool
matches(struct list_job *j, const char *name)
{
	for (size_t k = 0; k < j->patterns.n; k++) {
		const char *p = j->patterns.v[k];
		if (wild_match(p, strlen(p), name, strlen(name)))
			return true;
	}
	return false;
}

/* Does the entry exist as a mailbox one could select? */
static bool
ent_selectable(const struct mbox_ent *e)
{
	return e->exists && !(e->attrs & MBOX_ATTR_NOSELECT);
}

/* Neither a mailbox nor a placeholder the store keeps: implied by a
 * child, or only a subscription (RFC 5258 \NonExistent). */
static bool
ent_nonexistent(const struct mbox_ent *e)
{
	return !e->exists || (e->attrs & MBOX_ATTR_NONEXISTENT);
}

static void
list_render(struct list_job *j, const struct mbox_ent *e, bool lsub, bool noselect_parent,
    bool childinfo, bool show_sub)
{
	struct imap_session *s = j->s;
	struct mm_buf *b = j->out;
	const char *sep = "";

	mm_buf_printf(b, "* %s (", lsub ? "LSUB" : "LIST");
#define ATTR(a) do { mm_buf_printf(b, "%s%s", sep, a); sep = " "; } while (0)
	if ((j->opts & LIST_EXTENDED) && ent_nonexistent(e))
		ATTR("\\NonExistent");
	else if ((e->attrs & MBOX_ATTR_NOSELECT) || noselect_parent)
		ATTR("\\Noselect");
	if (!lsub)
		ATTR(e->children ? "\\HasChildren" : "\\HasNoChildren");
	if ((j->opts & LIST_RET_SUBSCRIBED) && e->subscribed && show_sub)
		ATTR("\\Subscribed");
	if (e->attrs & MBOX_ATTR_DRAFTS)
		ATTR("\\Drafts");
	if (e->attrs & MBOX_ATTR_SENT)
		ATTR("\\Sent");
	if (e->attrs & MBOX_ATTR_TRASH)
		ATTR("\\Trash");
	if (e->attrs & MBOX_ATTR_JUNK)
		ATTR("\\Junk");
	if (e->attrs & MBOX_ATTR_ARCHIVE)
		ATTR("\\Archive");
#undef ATTR
	mm_buf_append(b, ") \"/\" ", 6);
	imap_append_mailbox(s, b, e->name);
	if (childinfo)
		mm_buf_printf(b, " (\"CHILDINFO\" (\"SUBSCRIBED\"))");
	mm_buf_append(b, "\r\n", 2);
	/* RFC 5819 4: STATUS right after the LIST, never for \Noselect */
	if ((j->opts & LIST_RET_STATUS) && ent_selectable(e) && e->mb != NULL) {
		uint32_t deleted = 0;
		if ((j->status.items & ST_DELETED) &&
		    status_count_deleted(s, e->name, &deleted) != STORE_OK)
			deleted = 0;
		status_render(s, b, e->name, &j->status, e->mb, deleted);
	}
}

/* RECURSIVEMATCH (RFC 5258 3.5): has e a subscribed descendant that
 * no pattern matches (one that will not be listed on its own)? */
static bool
childinfo_subscribed(struct list_job *j, size_t i)
{
	const char *name = j->ents[i].name;
	size_t nl = strlen(name);
	/* sorted by name: descendants "name/..." follow (INBOX's too) */
	for (size_t k = 0; k < j->nents; k++) {
		const struct mbox_ent *d = &j->ents[k];
		if (k == i || strncmp(d->name, name, nl) != 0 || d->name[nl] != '/')
			continue;
		if (d->subscribed && !matches(j, d->name))
			return true;
	}
	return false;
}


/* Renders entry i if the command lists it. */
static void
list_one(struct list_job *j, size_t i)
{
	struct mbox_ent *e = &j->ents[i];
	bool lsub = (j->opts & LIST_LSUB) != 0;
	bool want_sub = lsub || (j->opts & LIST_SEL_SUBSCRIBED);
	bool recursive = (j->opts & LIST_SEL_RECURSIVE) && !lsub &&
	    (j->opts & LIST_SEL_SUBSCRIBED);

	if (!matches(j, e->name))
		return;
	bool childinfo = recursive && childinfo_subscribed(j, i);
	if (want_sub && !e->subscribed) {
		if (childinfo) {
			/* RFC 5258 3.5: not selected itself, listed
			 * for its subscribed descendants */
			list_render(j, e, false, false, true, false);
			return;
		}
		/* LSUB %: a parent of a subscribed child is shown \Noselect */
		bool child_sub = false;
		size_t nl = strlen(e->name);
		for (size_t k = 0; k < j->nents && !child_sub; k++)
			child_sub = j->ents[k].subscribed &&
			    strncmp(j->ents[k].name, e->name, nl) == 0 &&
			    j->ents[k].name[nl] == '/';
		if (!child_sub || !lsub)
			return;
		list_render(j, e, lsub, true, false, true);
		return;
	}
	/* a deleted mailbox kept as a subscription is only listed
	 * among subscriptions (or as the parent it still is) */
	if (!want_sub && (e->attrs & MBOX_ATTR_NONEXISTENT) && !e->children)
		return;
	if (!want_sub && !e->exists && (j->opts & LIST_SEL_SPECIALUSE))
		return;
	if ((j->opts & LIST_SEL_SPECIALUSE) && !(e->attrs & (MBOX_ATTR_DRAFTS |
	    MBOX_ATTR_SENT | MBOX_ATTR_TRASH | MBOX_ATTR_JUNK | MBOX_ATTR_ARCHIVE)))
		return;
	list_render(j, e, lsub, lsub && (e->attrs & MBOX_ATTR_NONEXISTENT), childinfo, true);
}

/* Worker, one batch: the first reads the list; each renders the next
 * entries, up to IMAP_BATCH_BYTES or LIST_BATCH_ITEMS looked at. */
static bool
list_batch(struct imap_session *s, void *arg, struct mm_buf *out)
{
	struct list_job *j = arg;
	size_t count = 0;

	j->out = out;
	if (!j->loaded) {
		j->loaded = true;
		if (j->empty_pattern) {
			mm_buf_printf(out, "* %s (\\Noselect) \"/\" \"\"\r\n",
			    (j->opts & LIST_LSUB) ? "LSUB" : "LIST");
			if (j->patterns.n == 0)
				return false;
		}
		j->err = store_mailbox_list(imap_store(s), s->user, list_cb, j);
		if (j->err != STORE_OK) {
			out->len = 0;       /* nothing but the NO */
			return false;
		}
		add_parents(j);
	}
	for (; j->pos < j->nents && out->len < IMAP_BATCH_BYTES && count < LIST_BATCH_ITEMS;
	    j->pos++, count++)
		list_one(j, j->pos);
	j->out = NULL;
	return j->pos < j->nents;
}

static void
list_job_free(struct list_job *j)
{
	for (size_t i = 0; i < j->nents; i++) {
		free(j->ents[i].name);
		free(j->ents[i].mb);
	}
	free(j->ents);
	mm_strlist_clear(&j->patterns);
	free(j);
}

static void
list_finish(struct imap_session *s, void *arg, bool alive)
{
	struct list_job *j = arg;
	if (alive && j->err != STORE_OK)
		imap_no_store(s, j->err, NULL);
	else if (alive)
		imap_ok(s, "%s completed", (j->opts & LIST_LSUB) ? "Lsub" : "List");
	list_job_free(j);
}

/* reference + pattern, converted to UTF-8 (wildcards pass through). */
static bool
add_pattern(struct list_job *j, const char *ref, size_t rlen, const struct imap_arg *a)
{
	const char *p;
	size_t plen;
	struct mm_buf w;

	if (!imap_arg_astring(a, &p, &plen) || plen > LIST_PATTERN_MAX_BYTES ||
	    memchr(p, '\0', plen))
		return false;
	if (plen == 0) {
		j->empty_pattern = true;
		return true;
	}
	mm_buf_init(&w);
	if (imap_utf8_names(j->s) || !imap_mutf7_to_utf8(ref, rlen, &w) ||
	    !imap_mutf7_to_utf8(p, plen, &w)) {
		/* lenient: raw UTF-8 */
		w.len = 0;
		mm_buf_append(&w, ref, rlen);
		mm_buf_append(&w, p, plen);
	}
	char *full = mm_buf_cstr(&w);
	canon_inbox(full);
	mm_strlist_add(&j->patterns, full);
	mm_buf_free(&w);
	return true;
}

static void
do_list(struct imap_session *s, const struct imap_arg *args, size_t n, bool lsub)
{
	struct list_job *j = xcalloc(1, sizeof(*j));
	const char *ref;
	size_t rlen, i = 0;

	j->s = s;
	mm_strlist_init(&j->patterns);
	if (lsub)
		j->opts |= LIST_LSUB;
	else if (imap_rev2(s))
		j->opts |= LIST_EXTENDED;   /* RFC 9051 6.3.9: LIST-EXTENDED is base */
	/* LIST-EXTENDED selection options (RFC 5258 3.1, RFC 6154 5.1) */
	if (!lsub && n > 0 && args[0].type == IMAP_ARG_LIST) {
		j->opts |= LIST_EXTENDED;
		for (size_t k = 0; k < args[0].count; k++) {
			const struct imap_arg *o = &args[0].list[k];
			if (imap_arg_atom_eq(o, "SUBSCRIBED"))
				j->opts |= LIST_SEL_SUBSCRIBED | LIST_RET_SUBSCRIBED;
			else if (imap_arg_atom_eq(o, "SPECIAL-USE"))
				j->opts |= LIST_SEL_SPECIALUSE;
			else if (imap_arg_atom_eq(o, "REMOTE"))
				j->opts |= LIST_SEL_REMOTE;
			else if (imap_arg_atom_eq(o, "RECURSIVEMATCH"))
				j->opts |= LIST_SEL_RECURSIVE;
			else
				goto bad;
		}
		/* RFC 5258 3.1: RECURSIVEMATCH needs another selection
		 * option, and REMOTE does not count */
		if ((j->opts & LIST_SEL_RECURSIVE) &&
		    !(j->opts & (LIST_SEL_SUBSCRIBED | LIST_SEL_SPECIALUSE)))
			goto bad;
		i++;
	}
	if (i + 2 > n || !imap_arg_astring(&args[i], &ref, &rlen) ||
	    rlen > LIST_PATTERN_MAX_BYTES)
		goto bad;
	i++;
	if (!lsub && args[i].type == IMAP_ARG_LIST) {
		j->opts |= LIST_EXTENDED;
		if (args[i].count == 0 || args[i].count > LIST_PATTERNS_MAX)
			goto bad;
		for (size_t k = 0; k < args[i].count; k++)
			if (!add_pattern(j, ref, rlen, &args[i].list[k]))
				goto bad;
	} else if (!add_pattern(j, ref, rlen, &args[i])) {
		goto bad;
	}
	i++;
	if (!lsub && i < n) {
		if (i + 2 != n || !imap_arg_atom_eq(&args[i], "RETURN") ||
		    args[i + 1].type != IMAP_ARG_LIST)
			goto bad;
		j->opts |= LIST_EXTENDED;
		for (size_t k = 0; k < args[i + 1].count; k++) {
			const struct imap_arg *o = &args[i + 1].list[k];
			if (imap_arg_atom_eq(o, "SUBSCRIBED"))
				j->opts |= LIST_RET_SUBSCRIBED;
			else if (imap_arg_atom_eq(o, "SPECIAL-USE"))
				j->opts |= LIST_RET_SPECIALUSE;
			else if (imap_arg_atom_eq(o, "CHILDREN"))
				continue;
			else if (imap_arg_atom_eq(o, "STATUS") && !(j->opts & LIST_RET_STATUS) &&
			    k + 1 < args[i + 1].count) {
				/* RFC 5819: STATUS (items) */
				if (!status_items_parse(s, &args[i + 1].list[++k], &j->status))
					goto bad;
				j->opts |= LIST_RET_STATUS;
			} else
				goto bad;
		}
		i = n;
	}
	if (i != n)
		goto bad;
	if (j->empty_pattern && j->patterns.n > 0)
		j->empty_pattern = false;   /* "" among real patterns adds nothing */
	/* 20,000 mailboxes are a megabyte: in batches, as the client reads */
	imap_run_batched(s, WORKER_LANE_READ, list_batch, list_finish, j);
	return;
bad:
	list_job_free(j);
	imap_bad(s, "Invalid %s arguments", lsub ? "LSUB" : "LIST");
}

void
cmd_list(struct imap_session *s, const struct imap_arg *args, size_t n)
{
	do_list(s, args, n, false);
}

void
cmd_lsub(struct imap_session *s, const struct imap_arg *args, size_t n)
{
	do_list(s, args, n, true);
}

/* ---- STATUS items ---- */

/* "(MESSAGES UNSEEN ...)" into it; false for a bad list (BAD). */
static bool
status_items_parse(struct imap_session *s, const struct imap_arg *a,
    struct status_items *it)
{
	static const struct { const char *name; unsigned bit; } items[] = {
		{ "MESSAGES", ST_MESSAGES }, { "RECENT", ST_RECENT },
		{ "UIDNEXT", ST_UIDNEXT }, { "UIDVALIDITY", ST_UIDVALIDITY },
		{ "UNSEEN", ST_UNSEEN }, { "SIZE", ST_SIZE },
		{ "HIGHESTMODSEQ", ST_HIGHESTMODSEQ }, { "DELETED", ST_DELETED },
	};
	memset(it, 0, sizeof(*it));
	if (a->type != IMAP_ARG_LIST || a->count == 0)
		return false;
	for (size_t i = 0; i < a->count; i++) {
		size_t k;
		for (k = 0; k < sizeof(items) / sizeof(items[0]); k++)
			if (imap_arg_atom_eq(&a->list[i], items[k].name))
				break;
		if (k == sizeof(items) / sizeof(items[0]))
			return false;
		/* RFC 9051 status-att: DELETED is new, RECENT gone */
		if (items[k].bit == (imap_rev2(s) ? ST_RECENT : ST_DELETED))
			return false;
		/* RFC 7162 3.1.2: a CONDSTORE-enabling command */
		if (items[k].bit == ST_HIGHESTMODSEQ)
			imap_condstore_enable(s);
		if (!(it->items & items[k].bit) && it->n < 8) {
			it->items |= items[k].bit;
			it->order[it->n++] = items[k].bit;
		}
	}
	return true;
}

/* Worker: the messages with \Deleted (STATUS DELETED): the counters do
 * not keep them, so the index is read. */
static int
status_count_deleted(struct imap_session *s, const char *name, uint32_t *n_r)
{
	struct store_index *idx = NULL;
	int err = store_index_read(imap_store(s), s->user, name, &idx);

	*n_r = 0;
	if (err != STORE_OK)
		return err;
	for (size_t i = 0; i < idx->nmsgs; i++)
		*n_r += (idx->msgs[i].flags & MSG_DELETED) != 0;
	store_index_free(&idx);
	return STORE_OK;
}

/* "* STATUS name (...)\r\n" */
static void
status_render(struct imap_session *s, struct mm_buf *b, const char *name,
    const struct status_items *it, const struct store_mailbox *mb, uint32_t deleted)
{
	mm_buf_append(b, "* STATUS ", 9);
	imap_append_mailbox(s, b, name);
	mm_buf_append(b, " (", 2);
	for (size_t i = 0; i < it->n; i++) {
		if (i > 0)
			mm_buf_appendc(b, ' ');
		switch (it->order[i]) {
		case ST_MESSAGES:
			mm_buf_printf(b, "MESSAGES %u", mb->messages);
			break;
		case ST_RECENT:
			mm_buf_printf(b, "RECENT %u", mb->recent);
			break;
		case ST_UIDNEXT:
			mm_buf_printf(b, "UIDNEXT %u", mb->uidnext);
			break;
		case ST_UIDVALIDITY:
			mm_buf_printf(b, "UIDVALIDITY %u", mb->uidvalidity);
			break;
		case ST_UNSEEN:
			mm_buf_printf(b, "UNSEEN %u", mb->unseen);
			break;
		case ST_SIZE:
			/* RFC 8438: the total RFC822.SIZE */
			mm_buf_printf(b, "SIZE %llu", (unsigned long long)mb->bytes);
			break;
		case ST_HIGHESTMODSEQ:
			mm_buf_printf(b, "HIGHESTMODSEQ %llu",
			    (unsigned long long)mb->highestmodseq);
			break;
		case ST_DELETED:
			mm_buf_printf(b, "DELETED %u", deleted);
			break;
		}
	}
	mm_buf_append(b, ")\r\n", 3);
}

/* ---- CREATE, DELETE, RENAME, (UN)SUBSCRIBE, STATUS ---- */

enum mbox_op { OP_CREATE, OP_DELETE, OP_RENAME, OP_SUBSCRIBE, OP_UNSUBSCRIBE, OP_STATUS };

struct mbox_job {
	struct imap_session *s;
	enum mbox_op op;
	char a[STORE_MBOX_NAME_MAX];
	char b[STORE_MBOX_NAME_MAX];
	unsigned attrs;               /* CREATE (USE (...)) */
	struct status_items status;   /* STATUS */
	struct store_mailbox mb;
	uint32_t deleted;             /* STATUS DELETED */
	int err;
};

static void
mbox_work(void *arg)
{
	struct mbox_job *j = arg;
	struct store *st = imap_store(j->s);
	const char *user = j->s->user;

	switch (j->op) {
	case OP_CREATE:
		j->err = store_mailbox_create(st, user, j->a, j->attrs);
		break;
	case OP_DELETE:
		j->err = store_mailbox_delete(st, user, j->a);
		break;
	case OP_RENAME:
		j->err = store_mailbox_rename(st, user, j->a, j->b);
		break;
	case OP_SUBSCRIBE:
	case OP_UNSUBSCRIBE:
		j->err = store_mailbox_subscribe(st, user, j->a, j->op == OP_SUBSCRIBE);
		break;
	case OP_STATUS:
		j->err = store_mailbox_get(st, user, j->a, &j->mb);
		if (j->err == STORE_OK && (j->status.items & ST_DELETED) &&
		    !(j->mb.attrs & (MBOX_ATTR_NONEXISTENT | MBOX_ATTR_NOSELECT)))
			j->err = status_count_deleted(j->s, j->a, &j->deleted);
		break;
	}
}

static void
status_reply(struct mbox_job *j)
{
	struct imap_session *s = j->s;
	struct mm_buf b;

	if (j->mb.attrs & MBOX_ATTR_NONEXISTENT) {
		imap_no(s, "[NONEXISTENT] Mailbox doesn't exist");
		return;
	}
	if (j->mb.attrs & MBOX_ATTR_NOSELECT) {
		imap_no(s, "[CANNOT] Mailbox can't be selected");
		return;
	}
	mm_buf_init(&b);
	status_render(s, &b, j->a, &j->status, &j->mb, j->deleted);
	imap_write(s, b.data, b.len);
	mm_buf_free(&b);
	imap_ok(s, "Status completed");
}

static void
mbox_done(void *arg, bool alive)
{
	struct mbox_job *j = arg;
	struct imap_session *s = j->s;
	static const char *const names[] = {
		"Create", "Delete", "Rename", "Subscribe", "Unsubscribe", "Status"
	};

	if (!alive)
		goto out;
	if (j->err == STORE_DENIED && (j->op == OP_DELETE || j->op == OP_RENAME)) {
		imap_no(s, "[CANNOT] %s not permitted for this mailbox", names[j->op]);
		goto out;
	}
	if (j->err == STORE_NOTFOUND) {
		imap_no(s, "[NONEXISTENT] Mailbox doesn't exist");
		goto out;
	}
	if (j->err != STORE_OK) {
		imap_no_store(s, j->err, NULL);
		goto out;
	}
	if (j->op == OP_STATUS) {
		status_reply(j);
		goto out;
	}
	/* a renamed selected mailbox keeps being the selected one */
	if (j->op == OP_RENAME && s->state == IMAP_STATE_SELECTED &&
	    strcmp(s->mbox, j->a) == 0 && strcmp(j->a, "INBOX") != 0)
		imap_set_mbox(s, j->b);
	/* NOTIFY (RFC 5465 5.4, 5.5): the user's other sessions */
	if (j->op == OP_RENAME)
		imap_notify_post_mbox(s, NOTIFY_MBOX_RENAMED, j->b, j->a);
	else
		imap_notify_post_mbox(s, j->op == OP_CREATE ? NOTIFY_MBOX_CREATED :
		    j->op == OP_DELETE ? NOTIFY_MBOX_DELETED : j->op == OP_SUBSCRIBE ?
		    NOTIFY_MBOX_SUBSCRIBED : NOTIFY_MBOX_UNSUBSCRIBED, j->a, NULL);
	imap_ok(s, "%s completed", names[j->op]);
out:
	free(j);
}

/* CREATE parameters (RFC 4466 2.2): "(USE (\Drafts ...))" (RFC 6154 3).
 * False when answered: BAD for syntax, NO [USEATTR] for a use we do not
 * have. */
static bool
create_params(struct imap_session *s, const struct imap_arg *a, unsigned *attrs_r)
{
	static const struct { const char *name; unsigned bit; } uses[] = {
		{ "\\Drafts", MBOX_ATTR_DRAFTS }, { "\\Sent", MBOX_ATTR_SENT },
		{ "\\Trash", MBOX_ATTR_TRASH }, { "\\Junk", MBOX_ATTR_JUNK },
		{ "\\Archive", MBOX_ATTR_ARCHIVE },
	};
	*attrs_r = 0;
	for (size_t i = 0; i < a->count; i += 2) {
		if (i + 1 >= a->count || !imap_arg_atom_eq(&a->list[i], "USE") ||
		    a->list[i + 1].type != IMAP_ARG_LIST) {
			imap_bad(s, "Unknown CREATE parameter");
			return false;
		}
		const struct imap_arg *l = &a->list[i + 1];
		for (size_t k = 0; k < l->count; k++) {
			size_t u;
			if (l->list[k].type != IMAP_ARG_ATOM) {
				imap_bad(s, "Invalid USE attribute");
				return false;
			}
			for (u = 0; u < sizeof(uses) / sizeof(uses[0]); u++)
				if (imap_arg_atom_eq(&l->list[k], uses[u].name))
					break;
			if (u == sizeof(uses) / sizeof(uses[0])) {
				imap_no(s, "[USEATTR] Unsupported special-use attribute");
				return false;
			}
			*attrs_r |= uses[u].bit;
		}
	}
	return true;
}

static void
mbox_cmd(struct imap_session *s, const struct imap_arg *args, size_t n,
    enum mbox_op op)
{
	struct mbox_job *j = xcalloc(1, sizeof(*j));
	size_t want = op == OP_RENAME || op == OP_STATUS ? 2 : 1;

	j->s = s;
	j->op = op;
	/* CREATE may carry RFC 4466 parameters: USE (RFC 6154 3) */
	if (n != want && !(op == OP_CREATE && n == 2 && args[1].type == IMAP_ARG_LIST)) {
		free(j);
		imap_bad(s, "Invalid arguments");
		return;
	}
	if (op == OP_CREATE && n == 2 && !create_params(s, &args[1], &j->attrs)) {
		free(j);
		return;
	}
	if (!imap_mailbox_arg_reply(s, &args[0], j->a, sizeof(j->a)) ||
	    (op == OP_RENAME && !imap_mailbox_arg_reply(s, &args[1], j->b, sizeof(j->b)))) {
		free(j);
		return;
	}
	if (op == OP_CREATE && strcmp(j->a, "INBOX") == 0) {
		free(j);
		imap_no(s, "[ALREADYEXISTS] Mailbox already exists");
		return;
	}
	if (op == OP_RENAME && strcmp(j->b, "INBOX") == 0) {
		free(j);
		imap_no(s, "[ALREADYEXISTS] Mailbox already exists");
		return;
	}
	if (op == OP_STATUS && !status_items_parse(s, &args[1], &j->status)) {
		free(j);
		imap_bad(s, "Invalid STATUS items");
		return;
	}
	imap_run_job(s, j->op == OP_STATUS ? WORKER_LANE_READ : WORKER_LANE_COMMIT,
	    mbox_work, mbox_done, j);
}

void
cmd_create(struct imap_session *s, const struct imap_arg *args, size_t n)
{
	mbox_cmd(s, args, n, OP_CREATE);
}

void
cmd_delete(struct imap_session *s, const struct imap_arg *args, size_t n)
{
	mbox_cmd(s, args, n, OP_DELETE);
}

void
cmd_rename(struct imap_session *s, const struct imap_arg *args, size_t n)
{
	mbox_cmd(s, args, n, OP_RENAME);
}

void
cmd_subscribe(struct imap_session *s, const struct imap_arg *args, size_t n)
{
	mbox_cmd(s, args, n, OP_SUBSCRIBE);
}

void
cmd_unsubscribe(struct imap_session *s, const struct imap_arg *args, size_t n)
{
	mbox_cmd(s, args, n, OP_UNSUBSCRIBE);
}

void
cmd_status(struct imap_session *s, const struct imap_arg *args, size_t n)
{
	mbox_cmd(s, args, n, OP_STATUS);
}
