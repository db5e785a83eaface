/* ctl-import.h: what minimailctl import (ctl-import.c) shares with
 * import-imap (ctl-imap.c): the target mailbox with its existing
 * messages' content hashes, and one message stored (or skipped when its
 * content is already there). */
#ifndef MM_CTL_IMPORT_H
#define MM_CTL_IMPORT_H

#include "ctl/ctl.h"
#include "mail/mbox.h"

struct imp {
	struct store *st;
	const char *user;
	uint64_t max_size;
	enum mbox_quoting quoting;
	bool check_only;           /* the first pass */
	/* totals */
	uint64_t total_bytes, done_bytes;
	uint64_t imported, skipped, bytes_imported;
	size_t mailboxes;
	size_t uids_kept;          /* mailboxes that kept UIDs and UIDVALIDITY */
	/* the target mailbox's existing messages, for idempotency */
	char target[STORE_MBOX_NAME_MAX];
	bool target_new;           /* created by us, or never used: UIDs kept */
	struct store_index *idx;
	unsigned char (*hashes)[32];
	bool *hashed;
	unsigned char (*added)[32];   /* imported in this run */
	size_t nadded, capadded;
};

/* Makes name the target mailbox (created, subscribed, when missing). */
void ctl_import_target(struct imp *im, const char *name);
void ctl_import_target_close(struct imp *im);
/* raw (rawlen bytes, any line ends) into the target; what names it in
 * errors. ctl_die on failure. */
void ctl_import_message(struct imp *im, const char *what, char *raw, size_t rawlen,
    time_t date, uint32_t flags, const char *const *kw, size_t nkw);

#endif
