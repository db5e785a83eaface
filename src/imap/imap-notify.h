/* imap-notify.h: the NOTIFY command's arguments (RFC 5465 8), parsed
 * from the generic parser's argument tree. Pure (no store, no loop), so
 * tests/check_imap_parser.c tests it beside the parser. */
#ifndef MM_IMAP_NOTIFY_H
#define MM_IMAP_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>

#include "imap/imap-parser.h"
#include "lib/util.h"

/* Event bits, in the order of imap_notify_event_names. */
#define IMAP_NEV_MESSAGE_NEW             0x01
#define IMAP_NEV_MESSAGE_EXPUNGE         0x02
#define IMAP_NEV_FLAG_CHANGE             0x04
#define IMAP_NEV_ANNOTATION_CHANGE       0x08
#define IMAP_NEV_MAILBOX_NAME            0x10
#define IMAP_NEV_SUBSCRIPTION_CHANGE     0x20
#define IMAP_NEV_MAILBOX_METADATA_CHANGE 0x40
#define IMAP_NEV_SERVER_METADATA_CHANGE  0x80
#define IMAP_NEV_UNKNOWN                 0x100  /* an event-ext we do not know */
#define IMAP_NEV_MESSAGE (IMAP_NEV_MESSAGE_NEW | IMAP_NEV_MESSAGE_EXPUNGE | \
	IMAP_NEV_FLAG_CHANGE | IMAP_NEV_ANNOTATION_CHANGE)
/* What minimaild delivers: no ANNOTATE or METADATA here, so
 * AnnotationChange and the two metadata events get NO [BADEVENT]. */
#define IMAP_NEV_SUPPORTED (IMAP_NEV_MESSAGE_NEW | IMAP_NEV_MESSAGE_EXPUNGE | \
	IMAP_NEV_FLAG_CHANGE | IMAP_NEV_MAILBOX_NAME | IMAP_NEV_SUBSCRIPTION_CHANGE)

enum imap_notify_filter {
	IMAP_NF_SELECTED = 0,
	IMAP_NF_SELECTED_DELAYED,
	IMAP_NF_INBOXES,
	IMAP_NF_PERSONAL,
	IMAP_NF_SUBSCRIBED,
	IMAP_NF_SUBTREE,
	IMAP_NF_MAILBOXES,
};

#define IMAP_NOTIFY_GROUPS_MAX 16      /* event groups in one NOTIFY SET */
#define IMAP_NOTIFY_NAMES_MAX  100     /* mailbox names in one NOTIFY SET */
#define IMAP_NOTIFY_FETCH_MAX  16      /* MessageNew fetch-att items */

struct imap_notify_group {
	enum imap_notify_filter filter;
	unsigned events;                   /* IMAP_NEV_*; 0 is NONE */
	const struct imap_arg *mboxes;     /* SUBTREE / MAILBOXES: the names */
	size_t nmboxes;
	const struct imap_arg *fetch;      /* MessageNew's fetch-att list */
	size_t nfetch;
};

struct imap_notify_spec {
	bool none;                         /* NOTIFY NONE */
	bool status;                       /* NOTIFY SET STATUS */
	struct imap_notify_group groups[IMAP_NOTIFY_GROUPS_MAX];
	size_t ngroups;
	unsigned events;                   /* all groups together */
};

/* Parses NOTIFY's arguments (args point into the parser's tree and stay
 * valid as long as it). False: a syntax error (BAD), *err_r says which.
 * An unknown event name is no syntax error (event-ext): it sets
 * IMAP_NEV_UNKNOWN, and the caller answers NO [BADEVENT]. Also BAD, per
 * RFC 5465 5.1/5.2/5.3: a fetch-att list outside the selected filters,
 * MessageNew without MessageExpunge (or the reverse) or FlagChange
 * without both for the selected mailbox, the selected filter twice. */
bool imap_notify_parse(const struct imap_arg *args, size_t n,
    struct imap_notify_spec *spec, const char **err_r);
/* " (MessageNew MessageExpunge ...)" for the bits in events. */
void imap_notify_append_events(struct mm_buf *b, unsigned events);

#endif
