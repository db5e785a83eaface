/* date.h: dates in mail: RFC 5322 Date: headers (parsed leniently, with
 * the obsolete forms), IMAP date ("1-Feb-1994") and date-time
 * ("01-Feb-1994 21:52:25 +0100") parsing, and formatting of both. Times are
 * time_t (UTC) plus the zone offset the text carried, in minutes east. */
#ifndef MM_MAIL_DATE_H
#define MM_MAIL_DATE_H

#include <stddef.h>
#include <stdbool.h>
#include <time.h>

#define MAIL_DATE_IMAP_LEN	26	/* "dd-Mon-yyyy hh:mm:ss +zzzz" */

/* "[Day,] d Mon yyyy hh:mm[:ss] [zone]" with obsolete 2/3-digit years,
 * zone names and comments. Missing zone is +0000. false on garbage. */
bool mail_date_parse_rfc5322(const char *s, size_t len, time_t *t_r, int *tz_min_r);
/* IMAP date "d-Mon-yyyy" (RFC 3501 date-text); *t_r is 00:00:00 UTC. */
bool mail_date_parse_imap(const char *s, size_t len, time_t *t_r);
/* IMAP date-time "dd-Mon-yyyy hh:mm:ss +zzzz" (day may be " d" or "d"). */
bool mail_date_parse_imap_datetime(const char *s, size_t len, time_t *t_r, int *tz_min_r);
/* Format t as seen in zone tz_min. buf needs MAIL_DATE_IMAP_LEN + 1 bytes. */
void mail_date_format_imap(time_t t, int tz_min, char *buf, size_t size);
/* "Tue, 1 Jul 2003 10:52:37 +0200" */
void mail_date_format_rfc5322(time_t t, int tz_min, char *buf, size_t size);
/* Days since the epoch of the date as written in its own zone (for SEARCH
 * SENTBEFORE/SENTON/SENTSINCE, which ignore time and zone). */
long mail_date_day(time_t t, int tz_min);

#endif
