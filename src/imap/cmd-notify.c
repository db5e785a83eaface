/* cmd-notify.c: NOTIFY (RFC 5465): NOTIFY SET [STATUS] with the selected,
 * selected-delayed, inboxes, personal, subscribed, subtree and mailboxes
 * filters; MessageNew (with fetch-att for the selected mailbox),
 * MessageExpunge, FlagChange, MailboxName and SubscriptionChange events;
 * NOTIFY NONE. AnnotationChange, MailboxMetadataChange and
 * ServerMetadataChange (no ANNOTATE, no METADATA here) and unknown events
 * get NO [BADEVENT (the events we deliver)].
 *
 * The one idea: one user-wide watch on the notify hub per NOTIFY session.
 * Each post (a committed change to one mailbox, by mailbox id) and each
 * mailbox list change (CREATE, DELETE, RENAME, (UN)SUBSCRIBE by another
 * session) lands in a bounded pending set in the session's notify state,
 * which no job ever reads; when the set is full the session gets
 * [NOTIFICATIONOVERFLOW] and NOTIFY is off (RFC 5465 5.8). At every
 * command boundary, and while IDLE, the loop flushes the pending set: the
 * LIST responses at once, the changed mailboxes with one job that reads
 * just their counters (store_mailbox_get per name, on the read lane) and
 * then untagged STATUS for what moved since the session last told the
 * client. The names come from a table of the user's mailboxes (id, name,
 * subscribed, last counters) read once at NOTIFY SET and again only when
 * a post names an id the table does not have (a mailbox created since):
 * a change costs a lookup, never a scan of the user's mailboxes. With the
 * selected filter a change to the selected mailbox is synced (EXISTS,
 * FETCH, EXPUNGE) at once when no command runs, not only in IDLE or NOOP;
 * selected-delayed keeps the EXPUNGEs for a command that allows them. */
#include "imap/imap-common.h"
#include "imap/imap-notify.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/metrics.h"
#include "net/conn.h"
#include "net/notify.h"
#include "net/server.h"

struct ntf_group {
	enum imap_notify_filter filter;
	unsigned events;
	char **names;             /* SUBTREE / MAILBOXES: UTF-8 store names */
	size_t nnames;
};

/* One of the user's mailboxes as the session last told the client. */
struct ntf_mbox {
	uint32_t id;
	char *name;
	bool subscribed;
	uint32_t messages, uidnext, uidvalidity;
	uint64_t modseq;
};

struct ntf_name {
	enum notify_name_kind kind;
	char *name, *old;
};

struct imap_notify {
	struct imap_session *s;
	struct notify_watch *watch;
	struct event *ev;                  /* the flush, at the next loop turn */
	struct ntf_group groups[IMAP_NOTIFY_GROUPS_MAX];
	size_t ngroups;
	unsigned sel_events;               /* the selected filter's events */
	bool sel_delayed;                  /* selected-delayed */
	char *fetch_atts;                  /* "(UID FLAGS)": MessageNew's fetch-att */
	uint32_t fetch_mark;               /* new messages above it get fetch_atts */
	struct ntf_mbox *mb;               /* by id */
	size_t nmb;
	bool reload;                       /* the table misses a mailbox */
	uint32_t pend[IMAP_NOTIFY_PENDING_MAX];
	size_t npend;
	struct ntf_name names[IMAP_NOTIFY_NAME_EVENTS_MAX];
	size_t nnames;
	bool overflow;
	bool installed;                    /* s->notify is this */
	/* IDLE, set aside while a fetch-att FETCH runs inside it */
	bool idle_saved;
	char *idle_tag;
	const struct imap_cmd *idle_cmd;
	uint64_t idle_start_us;
};

static void ntf_flush(struct imap_session *s);

/* ---- the state ---- */

static void
ntf_free(struct imap_notify *n)
{
	if (n == NULL)
		return;
	if (n->watch != NULL)
		notify_watch_del(n->s->srv->hub, &n->watch);
	if (n->ev != NULL)
		event_free(n->ev);
	for (size_t i = 0; i < n->ngroups; i++) {
		for (size_t k = 0; k < n->groups[i].nnames; k++)
			free(n->groups[i].names[k]);
		free(n->groups[i].names);
	}
	for (size_t i = 0; i < n->nmb; i++)
		free(n->mb[i].name);
	free(n->mb);
	for (size_t i = 0; i < n->nnames; i++) {
		free(n->names[i].name);
		free(n->names[i].old);
	}
	free(n->fetch_atts);
	if (n->idle_saved)
		metrics_idle(-1);     /* the session goes while its IDLE is set aside */
	free(n->idle_tag);
	free(n);
}

void
imap_notify_free(struct imap_session *s)
{
	ntf_free(s->notify);
	s->notify = NULL;
}

void
imap_notify_view_loaded(struct imap_session *s)
{
	if (s->notify != NULL)
		s->notify->fetch_mark = s->last_uid;
}

bool
imap_notify_expunge_delayed(struct imap_session *s)
{
	return s->notify != NULL && s->notify->sel_delayed;
}

static void
ntf_ev_cb(evutil_socket_t fd, short what, void *arg)
{
	struct imap_notify *n = arg;
	if (n->installed)
		ntf_flush(n->s);
}

/* Flush at the next loop turn (never inside a caller that may start a
 * job of its own right after). */
void
imap_notify_kick(struct imap_session *s)
{
	struct imap_notify *n = s->notify;
	if (n == NULL || n->ev == NULL)
		return;
	if (n->npend == 0 && n->nnames == 0 && !n->overflow && !n->reload &&
	    !(s->dirty && n->sel_events) &&
	    !(n->fetch_atts != NULL && s->last_uid > n->fetch_mark))
		return;
	event_active(n->ev, EV_TIMEOUT, 0);
}

/* Which groups (other than selected) cover this mailbox: their events. */
static unsigned
ntf_events_for(const struct imap_notify *n, const char *name, bool subscribed)
{
	unsigned ev = 0;
	for (size_t i = 0; i < n->ngroups; i++) {
		const struct ntf_group *g = &n->groups[i];
		bool hit = false;
		switch (g->filter) {
		case IMAP_NF_SELECTED:
		case IMAP_NF_SELECTED_DELAYED:
			break;
		case IMAP_NF_INBOXES:
			/* where new mail is delivered: INBOX (Sieve may file
			 * elsewhere, but no other mailbox is one by design) */
			hit = strcmp(name, "INBOX") == 0;
			break;
		case IMAP_NF_PERSONAL:
			hit = true;
			break;
		case IMAP_NF_SUBSCRIBED:
			hit = subscribed;
			break;
		case IMAP_NF_SUBTREE:
			for (size_t k = 0; !hit && k < g->nnames; k++) {
				size_t l = strlen(g->names[k]);
				hit = strncmp(name, g->names[k], l) == 0 &&
				    (name[l] == '\0' || name[l] == '/');
			}
			break;
		case IMAP_NF_MAILBOXES:
			for (size_t k = 0; !hit && k < g->nnames; k++)
				hit = strcmp(name, g->names[k]) == 0;
			break;
		}
		if (hit)
			ev |= g->events;
	}
	return ev;
}

static int
mb_cmp(const void *a, const void *b)
{
	const struct ntf_mbox *x = a, *y = b;
	return x->id < y->id ? -1 : x->id > y->id;
}

static struct ntf_mbox *
mb_find(struct imap_notify *n, uint32_t id)
{
	struct ntf_mbox key = { .id = id };
	return n->nmb ? bsearch(&key, n->mb, n->nmb, sizeof(*n->mb), mb_cmp) : NULL;
}

static struct ntf_mbox *
mb_find_name(struct imap_notify *n, const char *name)
{
	for (size_t i = 0; i < n->nmb; i++)
		if (strcmp(n->mb[i].name, name) == 0)
			return &n->mb[i];
	return NULL;
}

/* The job's read of the user's mailboxes. */
struct mb_list {
	struct store_mailbox *v;
	size_t n, cap;
};

static int
mb_list_cb(void *arg, const struct store_mailbox *mb)
{
	struct mb_list *l = arg;
	if (mb->attrs & MBOX_ATTR_NONEXISTENT)
		return 0;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 32;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	l->v[l->n++] = *mb;
	return 0;
}

static void
mb_from_store(struct ntf_mbox *m, const struct store_mailbox *mb)
{
	m->id = mb->id;
	m->subscribed = mb->subscribed;
	m->messages = mb->messages;
	m->uidnext = mb->uidnext;
	m->uidvalidity = mb->uidvalidity;
	m->modseq = mb->highestmodseq;
}

/* The table from a fresh list; mailboxes already known keep the counters
 * the client was told (their changes are still to be reported). */
static void
mb_table_load(struct imap_notify *n, const struct mb_list *l)
{
	struct ntf_mbox *v = xcalloc(l->n ? l->n : 1, sizeof(*v));
	for (size_t i = 0; i < l->n; i++) {
		struct ntf_mbox *old = mb_find(n, l->v[i].id);
		if (old != NULL) {
			v[i] = *old;
			old->name = NULL;
			v[i].subscribed = l->v[i].subscribed;
		} else {
			mb_from_store(&v[i], &l->v[i]);
			if (n->installed) {
				/* created since: everything in it is new */
				v[i].messages = 0;
				v[i].uidnext = 0;
				v[i].modseq = 0;
			}
		}
		free(v[i].name);
		v[i].name = xstrdup(l->v[i].name);
	}
	for (size_t i = 0; i < n->nmb; i++)
		free(n->mb[i].name);
	free(n->mb);
	n->mb = v;
	n->nmb = l->n;
	qsort(n->mb, n->nmb, sizeof(*n->mb), mb_cmp);
	n->reload = false;
}

/* ---- what the client is told ---- */

static void
status_line(struct imap_session *s, struct mm_buf *b, const char *name, unsigned ev,
    const struct store_mailbox *mb, bool uidvalidity)
{
	bool first = true;
	mm_buf_append(b, "* STATUS ", 9);
	imap_append_mailbox(s, b, name);
	mm_buf_append(b, " (", 2);
#define ITEM(...) do { if (!first) mm_buf_appendc(b, ' '); \
	mm_buf_printf(b, __VA_ARGS__); first = false; } while (0)
	if (ev & (IMAP_NEV_MESSAGE_NEW | IMAP_NEV_MESSAGE_EXPUNGE))
		ITEM("MESSAGES %u", mb->messages);
	if (ev & IMAP_NEV_MESSAGE_NEW)
		ITEM("UIDNEXT %u", mb->uidnext);
	if (uidvalidity)
		ITEM("UIDVALIDITY %u", mb->uidvalidity);
	if (ev & IMAP_NEV_FLAG_CHANGE)
		ITEM("HIGHESTMODSEQ %llu", (unsigned long long)mb->highestmodseq);
#undef ITEM
	mm_buf_append(b, ")\r\n", 3);
}

/* RFC 5465 3.1 (STATUS indicator) and 5.1-5.3: what a STATUS for ev
 * carries. With uidvalidity_always (NOTIFY SET STATUS) it is the full
 * picture; for a change only what moved. */
static void
report_mailbox(struct imap_session *s, struct mm_buf *b, struct ntf_mbox *m,
    const struct store_mailbox *now, unsigned ev, bool initial)
{
	if (initial) {
		bool uv = (ev & (IMAP_NEV_MESSAGE_NEW | IMAP_NEV_FLAG_CHANGE)) != 0;
		status_line(s, b, now->name, ev, now, uv);
		return;
	}
	unsigned want = 0;
	bool uv = now->uidvalidity != m->uidvalidity && m->uidvalidity != 0;
	if ((ev & IMAP_NEV_MESSAGE_NEW) && (now->uidnext != m->uidnext ||
	    now->messages != m->messages))
		want |= IMAP_NEV_MESSAGE_NEW;
	if ((ev & IMAP_NEV_MESSAGE_EXPUNGE) && now->messages != m->messages)
		want |= IMAP_NEV_MESSAGE_EXPUNGE;
	if ((ev & IMAP_NEV_FLAG_CHANGE) && now->highestmodseq != m->modseq)
		want |= IMAP_NEV_FLAG_CHANGE;
	if (want != 0 || uv)
		status_line(s, b, now->name, want, now, uv || (want & IMAP_NEV_FLAG_CHANGE));
}

static void
list_line(struct imap_session *s, struct mm_buf *b, const struct ntf_name *e)
{
	const char *attrs = "";
	switch (e->kind) {
	case NOTIFY_MBOX_DELETED:
		attrs = "\\NonExistent";
		break;
	case NOTIFY_MBOX_SUBSCRIBED:
		attrs = "\\Subscribed";
		break;
	default:
		break;
	}
	mm_buf_printf(b, "* LIST (%s) \"/\" ", attrs);
	imap_append_mailbox(s, b, e->name);
	if (e->kind == NOTIFY_MBOX_RENAMED) {
		/* RFC 5465 5.4, RFC 5258 3.5: the old name as OLDNAME */
		mm_buf_append(b, " (\"OLDNAME\" (", 13);
		imap_append_mailbox(s, b, e->old);
		mm_buf_append(b, "))", 2);
	}
	mm_buf_append(b, "\r\n", 2);
}

/* ---- the hub's side ---- */

static void
ntf_overflow(struct imap_notify *n)
{
	n->overflow = true;
	n->npend = 0;
	for (size_t i = 0; i < n->nnames; i++) {
		free(n->names[i].name);
		free(n->names[i].old);
	}
	n->nnames = 0;
}

/* The table follows the user's mailbox list at once (loop, no store). */
static void
ntf_table_name_event(struct imap_notify *n, const struct notify_name_event *ev)
{
	struct ntf_mbox *m;
	switch (ev->kind) {
	case NOTIFY_MBOX_CREATED:
		n->reload = true;     /* its id: at the next flush */
		break;
	case NOTIFY_MBOX_DELETED:
		if ((m = mb_find_name(n, ev->name)) != NULL)
			m->name[0] = '\0';  /* no name matches it any more */
		break;
	case NOTIFY_MBOX_RENAMED: {
		size_t ol = strlen(ev->oldname);
		for (size_t i = 0; i < n->nmb; i++) {
			m = &n->mb[i];
			if (strncmp(m->name, ev->oldname, ol) != 0 ||
			    (m->name[ol] != '\0' && m->name[ol] != '/'))
				continue;
			char *nn = xmalloc(strlen(ev->name) + strlen(m->name + ol) + 1);
			strcpy(nn, ev->name);
			strcat(nn, m->name + ol);
			free(m->name);
			m->name = nn;
		}
		/* renaming INBOX makes a new mailbox and leaves INBOX */
		if (strcmp(ev->oldname, "INBOX") == 0)
			n->reload = true;
		break;
	}
	case NOTIFY_MBOX_SUBSCRIBED:
	case NOTIFY_MBOX_UNSUBSCRIBED:
		if ((m = mb_find_name(n, ev->name)) != NULL)
			m->subscribed = ev->kind == NOTIFY_MBOX_SUBSCRIBED;
		break;
	}
}

static void
ntf_hub_cb(void *arg, const char *user, uint32_t mailbox_id,
    const struct notify_name_event *ev)
{
	struct imap_notify *n = arg;

	if (n->overflow)
		return;
	if (ev == NULL) {
		for (size_t i = 0; i < n->npend; i++)
			if (n->pend[i] == mailbox_id)
				goto kick;
		if (n->npend == IMAP_NOTIFY_PENDING_MAX) {
			ntf_overflow(n);
			goto kick;
		}
		n->pend[n->npend++] = mailbox_id;
		goto kick;
	}
	/* what matches before the change, and after */
	struct ntf_mbox *m = mb_find_name(n, ev->kind == NOTIFY_MBOX_RENAMED ?
	    ev->oldname : ev->name);
	bool sub = m != NULL && m->subscribed;
	if (ev->kind == NOTIFY_MBOX_SUBSCRIBED || ev->kind == NOTIFY_MBOX_UNSUBSCRIBED)
		sub = true;           /* subscribed before or after */
	unsigned events = ntf_events_for(n, ev->name, sub);
	if (ev->kind == NOTIFY_MBOX_RENAMED)
		events |= ntf_events_for(n, ev->oldname, sub);
	ntf_table_name_event(n, ev);
	unsigned need = ev->kind == NOTIFY_MBOX_SUBSCRIBED ||
	    ev->kind == NOTIFY_MBOX_UNSUBSCRIBED ? IMAP_NEV_SUBSCRIPTION_CHANGE :
	    IMAP_NEV_MAILBOX_NAME;
	/* the client that made the change knows it from its own command */
	if (!(events & need) || ev->origin == n->s)
		goto kick;
	if (n->nnames == IMAP_NOTIFY_NAME_EVENTS_MAX) {
		ntf_overflow(n);
		goto kick;
	}
	struct ntf_name *e = &n->names[n->nnames++];
	e->kind = ev->kind;
	e->name = xstrdup(ev->name);
	e->old = ev->oldname ? xstrdup(ev->oldname) : NULL;
kick:
	if (n->installed)
		imap_notify_kick(n->s);
}

void
imap_notify_post_mbox(struct imap_session *s, enum notify_name_kind kind,
    const char *name, const char *oldname)
{
	struct notify_name_event ev = {
		.kind = kind, .name = name, .oldname = oldname, .origin = s,
	};
	if (s->srv->hub != NULL)
		notify_hub_name_event(s->srv->hub, s->user, &ev);
}

/* ---- the flush ---- */

struct flush_job {
	struct imap_session *s;
	struct imap_notify *n;
	bool reload;
	struct mb_list list;               /* reload: all of them */
	size_t count;
	uint32_t ids[IMAP_NOTIFY_PENDING_MAX];
	char *names[IMAP_NOTIFY_PENDING_MAX];
	struct store_mailbox mb[IMAP_NOTIFY_PENDING_MAX];
	int err[IMAP_NOTIFY_PENDING_MAX];
};

static void
flush_work(void *arg)
{
	struct flush_job *j = arg;
	struct store *st = imap_store(j->s);
	const char *user = j->s->user;

	if (j->reload) {
		if (store_mailbox_list(st, user, mb_list_cb, &j->list) != STORE_OK)
			j->list.n = 0, j->reload = false;
		return;
	}
	for (size_t i = 0; i < j->count; i++)
		j->err[i] = store_mailbox_get(st, user, j->names[i], &j->mb[i]);
}

static void
flush_job_free(struct flush_job *j)
{
	for (size_t i = 0; i < j->count; i++)
		free(j->names[i]);
	free(j->list.v);
	free(j);
}

static void
flush_done(void *arg, bool alive)
{
	struct flush_job *j = arg;
	struct imap_session *s = j->s;
	struct imap_notify *n = j->n;
	struct mm_buf b;

	if (!alive || s->notify != n)
		goto out;
	if (j->reload) {
		/* ids the table lacked are back in the pending set */
		mb_table_load(n, &j->list);
		for (size_t i = 0; i < j->count; i++) {
			bool dup = mb_find(n, j->ids[i]) == NULL;  /* gone again */
			for (size_t k = 0; k < n->npend && !dup; k++)
				dup = n->pend[k] == j->ids[i];
			if (!dup && n->npend < IMAP_NOTIFY_PENDING_MAX)
				n->pend[n->npend++] = j->ids[i];
		}
		goto out;
	}
	mm_buf_init(&b);
	for (size_t i = 0; i < j->count; i++) {
		struct ntf_mbox *m = mb_find(n, j->ids[i]);
		if (j->err[i] != STORE_OK || m == NULL || j->mb[i].id != m->id ||
		    (j->mb[i].attrs & (MBOX_ATTR_NOSELECT | MBOX_ATTR_NONEXISTENT)))
			continue;
		unsigned ev = ntf_events_for(n, m->name, m->subscribed) & IMAP_NEV_MESSAGE;
		if (ev != 0 && m->id != s->mbox_id)
			report_mailbox(s, &b, m, &j->mb[i], ev, false);
		mb_from_store(m, &j->mb[i]);
	}
	if (b.len > 0)
		imap_write(s, b.data, b.len);
	mm_buf_free(&b);
out:
	if (alive && s->notify == n)
		imap_notify_kick(s);
	flush_job_free(j);
}

static void
sel_synced(struct imap_session *s)
{
	imap_notify_kick(s);
}

/* MessageNew (fetch-att): the new messages of the selected mailbox, as a
 * UID FETCH the client did not send (s->server_cmd: no tagged reply).
 * Inside IDLE the IDLE command is set aside meanwhile (input stays
 * paused: the session is busy with a command, so DONE waits) and comes
 * back when the FETCH ends (imap_notify_boundary). */
static bool
fetch_new(struct imap_session *s, struct imap_notify *n, bool idle)
{
	struct imap_parser_limits lim = {
		.line_max = IMAP_LINE_MAX_BYTES, .literal_max = 0,
		.args_max = IMAP_ARGS_MAX, .nesting_max = IMAP_NESTING_MAX,
	};
	struct imap_parser *p;
	struct mm_buf cmd;
	size_t used = 0, nargs;
	bool ok = false;

	mm_buf_init(&cmd);
	mm_buf_printf(&cmd, "n FETCH %u:* %s\r\n", n->fetch_mark + 1, n->fetch_atts);
	n->fetch_mark = s->last_uid;
	p = imap_parser_new(&lim);
	if (imap_parser_push(p, cmd.data, cmd.len, &used) == IMAP_PARSE_DONE) {
		const struct imap_arg *args = imap_parser_args(p, &nargs);
		if (idle) {
			n->idle_saved = true;
			n->idle_tag = s->tag;
			n->idle_cmd = s->cmd;
			n->idle_start_us = s->cmd_start_us;
			s->cmd_start_us = 0;
			s->input = IMAP_INPUT_COMMAND;
		}
		s->tag = NULL;
		s->busy = true;
		s->uid = true;
		s->cmd = NULL;
		s->server_cmd = true;
		cmd_fetch(s, args, nargs);
		ok = true;
	}
	imap_parser_free(&p);
	mm_buf_free(&cmd);
	return ok;
}

static void
ntf_flush(struct imap_session *s)
{
	struct imap_notify *n = s->notify;
	struct mm_buf b;

	if (n == NULL || conn_is_closed(s->c) || conn_job_running(s->c) || s->pace != NULL ||
	    s->fetch != NULL)
		return;
	bool idle = s->input == IMAP_INPUT_IDLE;
	if (s->busy && !idle)
		return;               /* at the command's end */
	if (n->overflow) {
		/* RFC 5465 5.8: the server stops; the client asks again */
		imap_untagged(s, "OK [NOTIFICATIONOVERFLOW] Too many notifications, NOTIFY is off");
		imap_notify_free(s);
		return;
	}
	if (n->nnames > 0) {
		mm_buf_init(&b);
		for (size_t i = 0; i < n->nnames; i++) {
			list_line(s, &b, &n->names[i]);
			free(n->names[i].name);
			free(n->names[i].old);
		}
		n->nnames = 0;
		imap_write(s, b.data, b.len);
		mm_buf_free(&b);
	}
	if (s->state == IMAP_STATE_SELECTED && n->sel_events) {
		if (s->dirty) {
			/* IDLE syncs on its own; its end kicks us again */
			if (idle)
				imap_idle_wake(s);
			else
				imap_sync_command(s, sel_synced);
			return;
		}
		if (n->fetch_atts != NULL && s->last_uid > n->fetch_mark &&
		    !s->idle_sync_running && fetch_new(s, n, idle))
			return;
	}
	if (n->npend == 0 && !n->reload)
		return;
	struct flush_job *j = xcalloc(1, sizeof(*j));
	j->s = s;
	j->n = n;
	j->reload = n->reload;
	size_t k = 0;
	for (size_t i = 0; i < n->npend; i++) {
		uint32_t id = n->pend[i];
		struct ntf_mbox *m = mb_find(n, id);
		if (m == NULL) {
			/* a mailbox newer than the table: read the list again,
			 * keep the id for the flush after */
			j->reload = true;
			j->ids[j->count++] = id;
			continue;
		}
		if (m->name[0] == '\0' || id == s->mbox_id ||
		    !(ntf_events_for(n, m->name, m->subscribed) & IMAP_NEV_MESSAGE))
			continue;
		n->pend[k++] = id;
	}
	n->npend = k;
	if (j->reload) {
		/* pending ids that were found stay pending for the next pass */
		imap_run_job(s, WORKER_LANE_READ, flush_work, flush_done, j);
		return;
	}
	for (size_t i = 0; i < n->npend; i++) {
		struct ntf_mbox *m = mb_find(n, n->pend[i]);
		j->ids[j->count] = m->id;
		j->names[j->count++] = xstrdup(m->name);
	}
	n->npend = 0;
	if (j->count == 0) {
		flush_job_free(j);
		return;
	}
	imap_run_job(s, WORKER_LANE_READ, flush_work, flush_done, j);
}

void
imap_notify_boundary(struct imap_session *s)
{
	struct imap_notify *n = s->notify;
	if (n == NULL)
		return;
	if (n->idle_saved) {
		/* the fetch-att FETCH inside IDLE is over: IDLE goes on */
		n->idle_saved = false;
		s->tag = n->idle_tag;
		n->idle_tag = NULL;
		s->cmd = n->idle_cmd;
		s->cmd_start_us = n->idle_start_us;
		s->busy = true;
		s->input = IMAP_INPUT_IDLE;
	}
	imap_notify_kick(s);
}

/* ---- NOTIFY ---- */

struct set_job {
	struct imap_session *s;
	struct imap_notify *n;
	bool status;
	struct mb_list list;
	int err;
};

static void
set_work(void *arg)
{
	struct set_job *j = arg;
	j->err = store_mailbox_list(imap_store(j->s), j->s->user, mb_list_cb, &j->list);
}

static void
set_done(void *arg, bool alive)
{
	struct set_job *j = arg;
	struct imap_session *s = j->s;
	struct imap_notify *n = j->n;

	if (!alive)
		goto fail;
	if (j->err != STORE_OK) {
		imap_no_store(s, j->err, NULL);
		goto fail;
	}
	mb_table_load(n, &j->list);
	imap_notify_free(s);
	s->notify = n;
	n->installed = true;
	n->fetch_mark = s->last_uid;
	/* changes that came while the list was read are newer than it:
	 * whatever the table shows is what the client knows from here */
	n->npend = 0;
	if (j->status) {
		struct mm_buf b;
		mm_buf_init(&b);
		for (size_t i = 0; i < j->list.n; i++) {
			const struct store_mailbox *mb = &j->list.v[i];
			if (mb->attrs & MBOX_ATTR_NOSELECT)
				continue;
			if (s->state == IMAP_STATE_SELECTED && mb->id == s->mbox_id)
				continue;
			unsigned ev = ntf_events_for(n, mb->name, mb->subscribed) & IMAP_NEV_MESSAGE;
			if (ev != 0)
				report_mailbox(s, &b, NULL, mb, ev, true);
		}
		imap_write(s, b.data, b.len);
		mm_buf_free(&b);
	}
	free(j->list.v);
	free(j);
	imap_ok(s, "NOTIFY completed");
	return;
fail:
	ntf_free(n);
	free(j->list.v);
	free(j);
}

void
cmd_notify(struct imap_session *s, const struct imap_arg *args, size_t nargs)
{
	struct imap_notify_spec spec;
	const char *err;

	if (!imap_notify_parse(args, nargs, &spec, &err)) {
		imap_bad(s, "%s", err);
		return;
	}
	if (spec.none) {
		imap_notify_free(s);
		imap_ok(s, "NOTIFY completed");
		return;
	}
	if (spec.events & ~(unsigned)IMAP_NEV_SUPPORTED) {
		/* RFC 5465 3.1: NO [BADEVENT (what we support)], nothing changes */
		struct mm_buf b;
		mm_buf_init(&b);
		imap_notify_append_events(&b, IMAP_NEV_SUPPORTED);
		imap_no(s, "[BADEVENT%s] Unsupported NOTIFY event", mm_buf_cstr(&b));
		mm_buf_free(&b);
		return;
	}
	struct imap_notify *n = xcalloc(1, sizeof(*n));
	n->s = s;
	for (size_t i = 0; i < spec.ngroups; i++) {
		const struct imap_notify_group *sg = &spec.groups[i];
		struct ntf_group *g = &n->groups[n->ngroups++];
		g->filter = sg->filter;
		g->events = sg->events;
		if (sg->filter == IMAP_NF_SELECTED || sg->filter == IMAP_NF_SELECTED_DELAYED) {
			n->sel_events = sg->events & IMAP_NEV_MESSAGE;
			n->sel_delayed = sg->filter == IMAP_NF_SELECTED_DELAYED;
			if (sg->nfetch > 0) {
				struct mm_buf b;
				mm_buf_init(&b);
				mm_buf_appendc(&b, '(');
				imap_args_write(&b, sg->fetch, sg->nfetch);
				mm_buf_appendc(&b, ')');
				n->fetch_atts = xstrdup(mm_buf_cstr(&b));
				mm_buf_free(&b);
			}
			continue;
		}
		if (sg->nmboxes == 0)
			continue;
		g->names = xcalloc(sg->nmboxes, sizeof(char *));
		for (size_t k = 0; k < sg->nmboxes; k++) {
			char name[STORE_MBOX_NAME_MAX];
			if (!imap_mailbox_arg_reply(s, &sg->mboxes[k], name, sizeof(name))) {
				ntf_free(n);
				return;
			}
			g->names[g->nnames++] = xstrdup(name);
		}
	}
	if (s->srv->hub != NULL)
		n->watch = notify_user_watch_add(s->srv->hub, s->user, ntf_hub_cb, n);
	n->ev = event_new(s->srv->base, -1, 0, ntf_ev_cb, n);
	struct set_job *j = xcalloc(1, sizeof(*j));
	j->s = s;
	j->n = n;
	j->status = spec.status;
	imap_run_job(s, WORKER_LANE_READ, set_work, set_done, j);
}
