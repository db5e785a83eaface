/* sendlimit.c: hourly per-user submission counts (see sendlimit.h).
 *
 * The one idea: each user has 60 one-minute buckets in a ring; a bucket
 * older than an hour is zeroed when the ring turns past it, so a count is
 * the sum of 60 small numbers and memory per user is fixed. Users live in
 * a hash table of bounded size; when it is full, the user idle longest is
 * dropped (their window starts again: at worst a limit is reset for an
 * account nobody used for the longest time). */
#include "lib/sendlimit.h"
#include "lib/limits.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>

#define WINDOW_MINUTES   60
#define SENDLIMIT_BUCKETS 1024   /* hash chains */

struct sl_user {
	char *name;
	int64_t minute;                  /* the minute of the newest bucket */
	uint32_t msgs[WINDOW_MINUTES];
	uint32_t rcpts[WINDOW_MINUTES];
	struct sl_user *next;
};

static struct sl_user *tab[SENDLIMIT_BUCKETS];
static size_t nusers;

static unsigned
hash(const char *s)
{
	return mm_fnv1a(MM_FNV_BASIS, s) % SENDLIMIT_BUCKETS;
}

/* Zeroes the buckets between u->minute and now (the ring turns). */
static void
advance(struct sl_user *u, int64_t minute)
{
	if (minute <= u->minute)
		return;
	int64_t steps = minute - u->minute;
	if (steps >= WINDOW_MINUTES) {
		memset(u->msgs, 0, sizeof(u->msgs));
		memset(u->rcpts, 0, sizeof(u->rcpts));
	} else {
		for (int64_t m = u->minute + 1; m <= minute; m++) {
			u->msgs[m % WINDOW_MINUTES] = 0;
			u->rcpts[m % WINDOW_MINUTES] = 0;
		}
	}
	u->minute = minute;
}

static uint64_t
sum(const uint32_t *v)
{
	uint64_t n = 0;
	for (int i = 0; i < WINDOW_MINUTES; i++)
		n += v[i];
	return n;
}

static void
drop_idlest(void)
{
	struct sl_user **victim = NULL;
	for (size_t b = 0; b < SENDLIMIT_BUCKETS; b++)
		for (struct sl_user **p = &tab[b]; *p; p = &(*p)->next)
			if (victim == NULL || (*p)->minute < (*victim)->minute)
				victim = p;
	if (victim == NULL)
		return;
	struct sl_user *u = *victim;
	*victim = u->next;
	free(u->name);
	free(u);
	nusers--;
}

static struct sl_user *
find(const char *user, int64_t minute)
{
	unsigned h = hash(user);
	for (struct sl_user *u = tab[h]; u; u = u->next)
		if (strcmp(u->name, user) == 0)
			return u;
	if (nusers >= SUBMIT_USERS_TRACKED_MAX)
		drop_idlest();
	struct sl_user *u = xcalloc(1, sizeof(*u));
	u->name = xstrdup(user);
	u->minute = minute;
	u->next = tab[h];
	tab[h] = u;
	nusers++;
	return u;
}

enum sendlimit_result
sendlimit_take(const char *user, bool new_message, time_t now, unsigned max_msgs,
    unsigned max_rcpts, unsigned *used_r)
{
	int64_t minute = (int64_t)now / 60;
	struct sl_user *u = find(user, minute);

	advance(u, minute);
	uint64_t msgs = sum(u->msgs), rcpts = sum(u->rcpts);
	if (new_message && max_msgs > 0 && msgs >= max_msgs) {
		*used_r = (unsigned)msgs;
		return SENDLIMIT_MESSAGES;
	}
	if (max_rcpts > 0 && rcpts >= max_rcpts) {
		*used_r = (unsigned)rcpts;
		return SENDLIMIT_RECIPIENTS;
	}
	int slot = (int)(minute % WINDOW_MINUTES);
	if (new_message)
		u->msgs[slot]++;
	u->rcpts[slot]++;
	*used_r = (unsigned)msgs;
	return SENDLIMIT_OK;
}

size_t
sendlimit_users(void)
{
	return nusers;
}

void
sendlimit_reset(void)
{
	for (size_t b = 0; b < SENDLIMIT_BUCKETS; b++) {
		while (tab[b] != NULL) {
			struct sl_user *u = tab[b];
			tab[b] = u->next;
			free(u->name);
			free(u);
		}
	}
	nusers = 0;
}
