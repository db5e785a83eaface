/* notify.h: the notify hub. The store reports committed mailbox changes
 * from worker threads; the hub carries them to the loop thread and calls
 * every session that watches that mailbox (IMAP IDLE and selected
 * sessions, POP3 does not watch). */
#ifndef MM_NOTIFY_H
#define MM_NOTIFY_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct notify_hub;
struct notify_watch;

/* kind: what the posts delivered together did (STORE_CHANGE_* bits of
 * store.h, OR-ed when posts of one mailbox are coalesced; 0 is no kind
 * known, to be taken as "anything"). */
typedef void notify_fn(void *arg, const char *user, uint32_t mailbox_id, unsigned kind);

struct notify_hub *notify_hub_new(struct event_base *base);
void notify_hub_free(struct notify_hub **hub);
/* Thread-safe: called from the store's change hook. */
void notify_hub_post(struct notify_hub *hub, const char *user, uint32_t mailbox_id,
    unsigned kind);
/* Loop thread only. */
struct notify_watch *notify_watch_add(struct notify_hub *hub, const char *user,
    uint32_t mailbox_id, notify_fn *fn, void *arg);
void notify_watch_del(struct notify_hub *hub, struct notify_watch **w);
/* The most watches in one bucket (tests: the table grows with them). */
size_t notify_hub_longest_chain(const struct notify_hub *hub);

/* IMAP NOTIFY (RFC 5465): a watch on all of a user's mailboxes. It gets
 * every post for that user (ev NULL, mailbox_id set) and the mailbox list
 * changes that notify_hub_name_event reports (ev set, mailbox_id 0). One
 * bucket per user, so a post costs the watches of its user only. */
enum notify_name_kind {
	NOTIFY_MBOX_CREATED = 0,
	NOTIFY_MBOX_DELETED,
	NOTIFY_MBOX_RENAMED,      /* oldname -> name */
	NOTIFY_MBOX_SUBSCRIBED,
	NOTIFY_MBOX_UNSUBSCRIBED,
};
struct notify_name_event {
	enum notify_name_kind kind;
	const char *name;         /* UTF-8 store name */
	const char *oldname;      /* NOTIFY_MBOX_RENAMED only */
	const void *origin;       /* the session that made the change */
};
typedef void notify_user_fn(void *arg, const char *user, uint32_t mailbox_id,
    const struct notify_name_event *ev);
/* Loop thread only. */
struct notify_watch *notify_user_watch_add(struct notify_hub *hub, const char *user,
    notify_user_fn *fn, void *arg);
/* Loop thread only: calls the user's watches at once. */
void notify_hub_name_event(struct notify_hub *hub, const char *user,
    const struct notify_name_event *ev);

#endif
