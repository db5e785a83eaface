/* address.h: RFC 5322 address lists (mailbox, group, display names with
 * quoted strings and comments, obsolete routes and phrases tolerated) in
 * the shape IMAP ENVELOPE wants: name, mailbox, host, with a group shown
 * as a start marker (mailbox = group name) and an end marker. */
#ifndef MM_MAIL_ADDRESS_H
#define MM_MAIL_ADDRESS_H

#include <stddef.h>
#include <stdbool.h>

enum mail_addr_kind {
	MAIL_ADDR_MAILBOX = 0,
	MAIL_ADDR_GROUP_START,	/* mailbox holds the group name */
	MAIL_ADDR_GROUP_END,	/* all fields NULL */
};

struct mail_addr {
	enum mail_addr_kind kind;
	char *name;		/* display name, raw (encoded words kept), or NULL */
	char *mailbox;		/* local part (unquoted), or NULL */
	char *host;		/* domain, or NULL when the address had none */
	char *route;		/* obsolete source route "@a,@b", or NULL */
};

struct mail_addr_list {
	struct mail_addr *a;
	size_t n, cap;
};

/* Parse an (unfolded or raw) header value. Never fails: junk is skipped.
 * At most max addresses are kept (0: no limit besides the input size). */
void mail_addr_parse(const char *s, size_t len, size_t max, struct mail_addr_list *l);
void mail_addr_list_free(struct mail_addr_list *l);
/* The first mailbox's "local@host" (malloc'd), or NULL. */
char *mail_addr_first_spec(const char *s, size_t len);
/* What SEARCH FROM/TO/CC/BCC look in (RFC 3501 6.4.4: "the envelope
 * structure's ... field"): the parsed list written out again as
 * 'name <local@host>', groups as 'name: ...;', joined by ", ", with
 * encoded words decoded to UTF-8 and no comments (a comment stands in
 * for a missing display name, as in ENVELOPE). malloc'd, never NULL. */
char *mail_addr_search_text(const char *s, size_t len);

#endif
