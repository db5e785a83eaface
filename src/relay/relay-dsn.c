/* relay-dsn.c: delivery status notifications (RFC 3464): the bounce and
 * the delay warning a sender gets about queued mail.
 *
 * The one idea: one pure function builds the whole message from the queue
 * entry, the recipients it is about and the original message (of which
 * only the header is kept, RFC 3462 text/rfc822-headers); the engine
 * decides when to send one and where it goes. */
#include "relay/relay-int.h"
#include "mail/header.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
dsn_date(time_t t, char *buf, size_t len)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, len, "%a, %d %b %Y %H:%M:%S +0000", &tm);
}

char *
relay_dsn_build(const char *hostname, const struct store_qentry *e,
    const bool *which, enum relay_dsn_kind kind, bool expired,
    const char *msg, size_t msglen, time_t now, size_t *len_r)
{
	struct mm_buf b;
	char date[64], arrival[64], boundary[80], status[16];
	bool failed = kind == RELAY_DSN_FAILED;

	dsn_date(now, date, sizeof(date));
	dsn_date(e->created, arrival, sizeof(arrival));
	snprintf(boundary, sizeof(boundary), "%llx.%lld/%s",
	    (unsigned long long)e->id, (long long)now, hostname);
	mm_buf_init(&b);
	mm_buf_printf(&b, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n", hostname);
	mm_buf_printf(&b, "To: <%s>\r\n", e->sender);
	mm_buf_printf(&b, "Subject: %s\r\n", failed ?
	    "Undelivered Mail Returned to Sender" :
	    "Delayed Mail (still being retried)");
	mm_buf_printf(&b, "Date: %s\r\n", date);
	mm_buf_printf(&b, "Message-ID: <dsn.%llx.%lld.%s@%s>\r\n",
	    (unsigned long long)e->id, (long long)now, failed ? "f" : "d", hostname);
	mm_buf_printf(&b, "Auto-Submitted: auto-replied\r\n");
	mm_buf_printf(&b, "MIME-Version: 1.0\r\n");
	mm_buf_printf(&b, "Content-Type: multipart/report; report-type=delivery-status;\r\n"
	    "\tboundary=\"%s\"\r\n", boundary);
	mm_buf_printf(&b, "\r\nThis is a MIME-encapsulated message.\r\n\r\n");

	/* the human-readable part */
	mm_buf_printf(&b, "--%s\r\nContent-Description: Notification\r\n"
	    "Content-Type: text/plain; charset=us-ascii\r\n\r\n", boundary);
	mm_buf_printf(&b, "This is the mail system at host %s.\r\n\r\n", hostname);
	if (failed)
		mm_buf_printf(&b, "I'm sorry to have to inform you that your message "
		    "could not\r\nbe delivered to one or more recipients.%s\r\n\r\n",
		    expired ? " It stayed in the\r\nqueue for too long." : "");
	else
		mm_buf_printf(&b, "Your message could not be delivered yet to one or "
		    "more\r\nrecipients. It will be retried until %s.\r\n"
		    "You do not need to send it again.\r\n\r\n", "it expires");
	for (size_t i = 0; i < e->nrcpts; i++)
		if (which[i])
			mm_buf_printf(&b, "<%s>: %s\r\n", e->rcpts[i].address,
			    e->rcpts[i].reply[0] ? e->rcpts[i].reply : "(no reply)");
	mm_buf_printf(&b, "\r\n");

	/* message/delivery-status */
	mm_buf_printf(&b, "--%s\r\nContent-Description: Delivery report\r\n"
	    "Content-Type: message/delivery-status\r\n\r\n", boundary);
	mm_buf_printf(&b, "Reporting-MTA: dns; %s\r\n", hostname);
	mm_buf_printf(&b, "X-Minimaild-Queue-ID: %llx\r\n", (unsigned long long)e->id);
	mm_buf_printf(&b, "Arrival-Date: %s\r\n", arrival);
	for (size_t i = 0; i < e->nrcpts; i++) {
		const struct store_qrcpt *r = &e->rcpts[i];
		if (!which[i])
			continue;
		relay_reply_status(r->reply[0] ? r->reply : "451 4.0.0", status,
		    sizeof(status));
		if (failed && expired && status[0] != '5')
			mm_strlcpy(status, "4.4.7", sizeof(status));
		if (!failed)
			status[0] = '4';
		mm_buf_printf(&b, "\r\nFinal-Recipient: rfc822; %s\r\n", r->address);
		mm_buf_printf(&b, "Action: %s\r\n", failed ? "failed" : "delayed");
		mm_buf_printf(&b, "Status: %s\r\n", status);
		if (e->mta[0] != '\0')
			mm_buf_printf(&b, "Remote-MTA: dns; %s\r\n", e->mta);
		if (r->reply[0] != '\0')
			mm_buf_printf(&b, "Diagnostic-Code: smtp; %s\r\n", r->reply);
		if (e->last_attempt != 0) {
			dsn_date(e->last_attempt, date, sizeof(date));
			mm_buf_printf(&b, "Last-Attempt-Date: %s\r\n", date);
		}
	}
	mm_buf_printf(&b, "\r\n");

	/* the original headers */
	mm_buf_printf(&b, "--%s\r\nContent-Description: Undelivered Message Headers\r\n"
	    "Content-Type: text/rfc822-headers\r\n\r\n", boundary);
	mail_header_append_block(&b, msg, msglen, RELAY_DSN_HEADERS_MAX_BYTES);
	mm_buf_printf(&b, "\r\n--%s--\r\n", boundary);
	*len_r = b.len;
	return mm_buf_cstr(&b);
}
