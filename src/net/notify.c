/* notify.c: the notify hub carries "mailbox changed" from the store's
 * worker threads to the sessions on the loop that watch that mailbox.
 *
 * The one idea: posts are queued under a mutex and coalesced (the same
 * mailbox posted twice before the loop runs is delivered once, with the
 * kinds of both: "flags only" survives only if both were); the loop
 * drains the queue in one event callback and walks a hash of watches,
 * which grows with them: a post costs its mailbox's watches, not a share
 * of all the daemon's. */
#include "net/notify.h"
#include "lib/log.h"
#include "lib/util.h"

#include <event2/event.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define NOTIFY_BUCKETS_MIN 1024    /* the table doubles past 2 watches a bucket */
#define NOTIFY_QUEUE_MAX 100000

struct notify_watch {
	char *user;
	uint32_t mailbox_id;
	notify_fn *fn;
	notify_user_fn *ufn;      /* a user-wide watch (mailbox_id 0) */
	void *arg;
	struct notify_watch *next, **pprev;
	struct notify_watch *grave_next;   /* freed when no dispatch is walking */
	bool dead;
};

struct notify_post {
	char *user;
	uint32_t mailbox_id;
	unsigned kind;            /* of all the posts coalesced into it */
	struct notify_post *next;
};

struct notify_hub {
	struct event *ev;
	pthread_mutex_t lock;
	struct notify_post *head, *tail;
	size_t queued;
	struct notify_watch **tab;
	size_t nbuckets;         /* a power of two */
	size_t nwatches;         /* in tab, dead ones not counted */
	int walking;             /* > 0 while callbacks run: deletions are deferred */
	struct notify_watch *graveyard;
};

static unsigned
notify_hash_full(const char *user, uint32_t id)
{
	return mm_fnv1a(MM_FNV_BASIS ^ id, user);
}

#define notify_slot(hub, user, id) \
	(&(hub)->tab[notify_hash_full((user), (id)) & ((hub)->nbuckets - 1)])

/* More watches than twice the buckets (100,000 IDLE sessions of as many
 * users): twice the buckets, so that a post walks a short chain, not a
 * share of all the daemon's watches. Never while a dispatch walks. */
static void
notify_grow(struct notify_hub *hub)
{
	if (hub->walking || hub->nwatches <= 2 * hub->nbuckets)
		return;
	size_t n = hub->nbuckets * 2;
	struct notify_watch **tab = xcalloc(n, sizeof(*tab));
	for (size_t i = 0; i < hub->nbuckets; i++)
		while (hub->tab[i]) {
			struct notify_watch *w = hub->tab[i];
			hub->tab[i] = w->next;
			struct notify_watch **head = &tab[notify_hash_full(w->user, w->mailbox_id) & (n - 1)];
			w->next = *head;
			if (*head)
				(*head)->pprev = &w->next;
			w->pprev = head;
			*head = w;
		}
	free(hub->tab);
	hub->tab = tab;
	hub->nbuckets = n;
}

size_t
notify_hub_longest_chain(const struct notify_hub *hub)
{
	size_t longest = 0;
	for (size_t i = 0; i < hub->nbuckets; i++) {
		size_t k = 0;
		for (const struct notify_watch *w = hub->tab[i]; w; w = w->next)
			k++;
		if (k > longest)
			longest = k;
	}
	return longest;
}

static void
notify_bury(struct notify_hub *hub)
{
	if (hub->walking == 0) {
		while (hub->graveyard) {
			struct notify_watch *w = hub->graveyard;
			hub->graveyard = w->grave_next;
			free(w->user);
			free(w);
		}
	}
}

/* The user-wide watches of user; ev NULL: a post for mailbox id. */
static void
notify_dispatch_user(struct notify_hub *hub, const char *user, uint32_t id,
    const struct notify_name_event *ev)
{
	hub->walking++;
	for (struct notify_watch *w = *notify_slot(hub, user, 0); w; w = w->next)
		if (!w->dead && w->ufn != NULL && strcmp(w->user, user) == 0)
			w->ufn(w->arg, user, id, ev);
	hub->walking--;
}

static void
notify_dispatch(struct notify_hub *hub, const char *user, uint32_t id, unsigned kind)
{
	hub->walking++;
	for (struct notify_watch *w = *notify_slot(hub, user, id); w; w = w->next)
		if (!w->dead && w->ufn == NULL && w->mailbox_id == id &&
		    strcmp(w->user, user) == 0)
			w->fn(w->arg, user, id, kind);
	hub->walking--;
	notify_dispatch_user(hub, user, id, NULL);
	notify_bury(hub);
}

void
notify_hub_name_event(struct notify_hub *hub, const char *user,
    const struct notify_name_event *ev)
{
	notify_dispatch_user(hub, user, 0, ev);
	notify_bury(hub);
}

static void
notify_cb(evutil_socket_t fd, short what, void *arg)
{
	struct notify_hub *hub = arg;
	pthread_mutex_lock(&hub->lock);
	struct notify_post *p = hub->head;
	hub->head = hub->tail = NULL;
	hub->queued = 0;
	pthread_mutex_unlock(&hub->lock);
	while (p) {
		struct notify_post *next = p->next;
		notify_dispatch(hub, p->user, p->mailbox_id, p->kind);
		free(p->user);
		free(p);
		p = next;
	}
}

struct notify_hub *
notify_hub_new(struct event_base *base)
{
	struct notify_hub *hub = xcalloc(1, sizeof(*hub));
	pthread_mutex_init(&hub->lock, NULL);
	hub->ev = event_new(base, -1, 0, notify_cb, hub);
	hub->nbuckets = NOTIFY_BUCKETS_MIN;
	hub->tab = xcalloc(hub->nbuckets, sizeof(*hub->tab));
	return hub;
}

void
notify_hub_free(struct notify_hub **hubp)
{
	struct notify_hub *hub = *hubp;
	if (hub == NULL)
		return;
	event_free(hub->ev);
	while (hub->head) {
		struct notify_post *p = hub->head;
		hub->head = p->next;
		free(p->user);
		free(p);
	}
	for (size_t i = 0; i < hub->nbuckets; i++)
		while (hub->tab[i]) {
			struct notify_watch *w = hub->tab[i];
			hub->tab[i] = w->next;
			free(w->user);
			free(w);
		}
	free(hub->tab);
	pthread_mutex_destroy(&hub->lock);
	free(hub);
	*hubp = NULL;
}

void
notify_hub_post(struct notify_hub *hub, const char *user, uint32_t mailbox_id,
    unsigned kind)
{
	pthread_mutex_lock(&hub->lock);
	for (struct notify_post *p = hub->head; p; p = p->next)
		if (p->mailbox_id == mailbox_id && strcmp(p->user, user) == 0) {
			p->kind |= kind;
			pthread_mutex_unlock(&hub->lock);
			return;
		}
	if (hub->queued >= NOTIFY_QUEUE_MAX) {
		pthread_mutex_unlock(&hub->lock);
		log_warn("notify: queue full, change of mailbox %u dropped", mailbox_id);
		return;
	}
	struct notify_post *p = xmalloc(sizeof(*p));
	p->user = xstrdup(user);
	p->mailbox_id = mailbox_id;
	p->kind = kind;
	p->next = NULL;
	if (hub->tail)
		hub->tail->next = p;
	else
		hub->head = p;
	hub->tail = p;
	hub->queued++;
	event_active(hub->ev, EV_READ, 0);
	pthread_mutex_unlock(&hub->lock);
}

struct notify_watch *
notify_watch_add(struct notify_hub *hub, const char *user, uint32_t mailbox_id,
    notify_fn *fn, void *arg)
{
	struct notify_watch *w = xcalloc(1, sizeof(*w));
	w->user = xstrdup(user);
	w->mailbox_id = mailbox_id;
	w->fn = fn;
	w->arg = arg;
	struct notify_watch **head = notify_slot(hub, user, mailbox_id);
	w->next = *head;
	if (*head)
		(*head)->pprev = &w->next;
	w->pprev = head;
	*head = w;
	hub->nwatches++;
	notify_grow(hub);
	return w;
}

struct notify_watch *
notify_user_watch_add(struct notify_hub *hub, const char *user, notify_user_fn *fn,
    void *arg)
{
	struct notify_watch *w = notify_watch_add(hub, user, 0, NULL, arg);
	w->ufn = fn;
	return w;
}

void
notify_watch_del(struct notify_hub *hub, struct notify_watch **wp)
{
	struct notify_watch *w = *wp;
	if (w == NULL)
		return;
	*wp = NULL;
	/* Unlink; w->next stays intact for a walker standing on w. */
	*w->pprev = w->next;
	if (w->next)
		w->next->pprev = w->pprev;
	hub->nwatches--;
	if (hub->walking) {
		w->dead = true;
		w->grave_next = hub->graveyard;
		hub->graveyard = w;
		return;
	}
	free(w->user);
	free(w);
}
