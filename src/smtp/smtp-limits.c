/* smtp-limits.c: [limits] max_sent_per_hour and max_rcpts_per_hour for
 * mail that authenticated users send to other domains.
 *
 * The one idea: the count is taken when a remote RCPT is accepted (the
 * transaction's first one also takes its message), before anything is
 * queued, so parallel sessions of one account cannot pass the limit
 * together; a refused recipient gets 451 4.7.1 (temporary: a legitimate
 * sender's client retries after the hour) and local recipients of the
 * same transaction are unaffected. Counts live in lib/sendlimit.c. */
#include "smtp/smtp-private.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/sendlimit.h"

#include <string.h>
#include <time.h>

bool
smtp_limits_allow(struct smtp_session *s, const char *rcpt)
{
	const struct config *cfg = smtp_cfg(s);
	struct smtp_tx *tx = s->tx;
	unsigned used = 0;
	char esc[ADDRESS_MAX_BYTES * 2], user[ADDRESS_MAX_BYTES * 2];

	if (s->user[0] == '\0' || tx == NULL ||
	    (cfg->max_sent_per_hour == 0 && cfg->max_rcpts_per_hour == 0))
		return true;
	enum sendlimit_result r = sendlimit_take(s->user, !tx->limit_counted, time(NULL),
	    cfg->max_sent_per_hour, cfg->max_rcpts_per_hour, &used);
	if (r == SENDLIMIT_OK) {
		tx->limit_counted = true;
		return true;
	}
	bool rcpts = r == SENDLIMIT_RECIPIENTS;
	log_escape(esc, sizeof(esc), rcpt, strlen(rcpt));
	log_escape(user, sizeof(user), s->user, strlen(s->user));
	log_warn("smtp session=%llx event=rate-limited user=\"%s\" limit=%s used=%u max=%u "
	    "rcpt=<%s>", s->id, user, rcpts ? "max_rcpts_per_hour" : "max_sent_per_hour",
	    used, rcpts ? cfg->max_rcpts_per_hour : cfg->max_sent_per_hour, esc);
	metrics_submission_limited(rcpts);
	tx->rejected++;
	smtp_reply(s, "451 4.7.1 <%s>: Sending limit reached: %u %s in the last hour; "
	    "try again later", rcpt, used, rcpts ? "recipients" : "messages");
	return false;
}
