/* cmd-search.c: SEARCH and UID SEARCH (RFC 3501 6.4.4). */
#include "imap/imap-common.h"

void
cmd_search(struct imap_session *s, const struct imap_arg *args, size_t n)
{
	imap_no(s, "SEARCH is not implemented yet");
}
