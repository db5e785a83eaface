/* sendlimit.h: per-user counts of messages and recipients sent through
 * the outbound queue over the last hour, for [limits] max_sent_per_hour
 * and max_rcpts_per_hour (abuse control: a hijacked account cannot spray
 * the world). Pure and single-threaded (the SMTP sessions' loop thread). */
#ifndef MM_SENDLIMIT_H
#define MM_SENDLIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

enum sendlimit_result {
	SENDLIMIT_OK = 0,          /* counted */
	SENDLIMIT_MESSAGES,        /* max_sent_per_hour reached: nothing counted */
	SENDLIMIT_RECIPIENTS,      /* max_rcpts_per_hour reached: nothing counted */
};

/* Takes one recipient, and one message when new_message, for user at now
 * if that stays within max_msgs and max_rcpts per hour (0: no limit).
 * The window slides by the minute. *used_r is the count of the limit
 * that refused (or of messages when OK) in the last hour, before this
 * one. At most SUBMIT_USERS_TRACKED_MAX users are kept; the one idle the
 * longest makes room. */
enum sendlimit_result sendlimit_take(const char *user, bool new_message, time_t now,
    unsigned max_msgs, unsigned max_rcpts, unsigned *used_r);
/* Users with a count kept (at most SUBMIT_USERS_TRACKED_MAX). */
size_t sendlimit_users(void);
/* Tests and shutdown: forget everyone. */
void sendlimit_reset(void);

#endif
