/* notify.h: the notify hub. The store reports committed mailbox changes
 * from worker threads; the hub carries them to the loop thread and calls
 * every session that watches that mailbox (IMAP IDLE and selected
 * sessions, POP3 does not watch). */
#ifndef MM_NOTIFY_H
#define MM_NOTIFY_H

#include <stdint.h>

struct event_base;
struct notify_hub;
struct notify_watch;

typedef void notify_fn(void *arg, const char *user, uint32_t mailbox_id);

struct notify_hub *notify_hub_new(struct event_base *base);
void notify_hub_free(struct notify_hub **hub);
/* Thread-safe: called from the store's change hook. */
void notify_hub_post(struct notify_hub *hub, const char *user, uint32_t mailbox_id);
/* Loop thread only. */
struct notify_watch *notify_watch_add(struct notify_hub *hub, const char *user,
    uint32_t mailbox_id, notify_fn *fn, void *arg);
void notify_watch_del(struct notify_hub *hub, struct notify_watch **w);

#endif
