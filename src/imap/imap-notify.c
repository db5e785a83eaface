/* imap-notify.c: the NOTIFY command's argument grammar (RFC 5465 8):
 *
 *   notify-set    = "SET" [SP "STATUS"] SP event-group *(SP event-group)
 *   event-group   = "(" filter-mailboxes SP events ")"
 *   filter        = "selected" / "selected-delayed" / "inboxes" /
 *                   "personal" / "subscribed" /
 *                   ("subtree" / "mailboxes") SP one-or-more-mailbox
 *   events        = "(" event *(SP event) ")" / "NONE"
 *   event         = "MessageNew" [SP "(" fetch-att *(SP fetch-att) ")"] /
 *                   "MessageExpunge" / "FlagChange" / "AnnotationChange" /
 *                   "MailboxName" / "SubscriptionChange" /
 *                   "MailboxMetadataChange" / "ServerMetadataChange" / atom
 *
 * The one idea: the generic parser has already made the tree (lists,
 * atoms, strings, literals), so this is a walk over it that checks every
 * element and points into the tree; nothing is copied. */
#include "imap/imap-notify.h"

#include <string.h>

static const char *const event_names[] = {
	"MessageNew", "MessageExpunge", "FlagChange", "AnnotationChange",
	"MailboxName", "SubscriptionChange", "MailboxMetadataChange",
	"ServerMetadataChange",
};
#define NEVENTS (sizeof(event_names) / sizeof(event_names[0]))

void
imap_notify_append_events(struct mm_buf *b, unsigned events)
{
	bool first = true;
	mm_buf_append(b, " (", 2);
	for (size_t i = 0; i < NEVENTS; i++) {
		if (!(events & (1u << i)))
			continue;
		if (!first)
			mm_buf_appendc(b, ' ');
		mm_buf_printf(b, "%s", event_names[i]);
		first = false;
	}
	mm_buf_appendc(b, ')');
}

/* An atom that FETCH takes as a fetch-att (the full check is FETCH's:
 * here only names that can be one). */
static bool
fetch_att_ok(const struct imap_arg *a)
{
	static const char *const plain[] = {
		"ENVELOPE", "FLAGS", "INTERNALDATE", "RFC822", "RFC822.HEADER",
		"RFC822.SIZE", "RFC822.TEXT", "BODY", "BODYSTRUCTURE", "UID", "MODSEQ",
	};
	static const char *const sect[] = {
		"BODY[", "BODY.PEEK[", "BINARY[", "BINARY.PEEK[", "BINARY.SIZE[",
	};
	const char *s;

	if (!imap_arg_atom(a, &s))
		return false;
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
		if (mm_strcaseeq(s, plain[i]))
			return true;
	for (size_t i = 0; i < sizeof(sect) / sizeof(sect[0]); i++) {
		size_t l = strlen(sect[i]);
		if (a->len > l && mm_strncaseeq(s, sect[i], l) && strchr(s + l, ']') != NULL)
			return true;
	}
	return false;
}

static bool
parse_events(const struct imap_arg *a, struct imap_notify_group *g, const char **err_r)
{
	if (imap_arg_atom_eq(a, "NONE")) {
		g->events = 0;
		return true;
	}
	if (a->type != IMAP_ARG_LIST || a->count == 0) {
		*err_r = "Expected a list of events or NONE";
		return false;
	}
	for (size_t i = 0; i < a->count; i++) {
		const struct imap_arg *e = &a->list[i];
		const char *name;
		size_t k;

		if (!imap_arg_atom(e, &name) || e->len == 0) {
			*err_r = "Events must be atoms";
			return false;
		}
		for (k = 0; k < NEVENTS; k++)
			if (mm_strcaseeq(name, event_names[k]))
				break;
		if (k == NEVENTS) {
			g->events |= IMAP_NEV_UNKNOWN;
			continue;
		}
		g->events |= 1u << k;
		if ((1u << k) != IMAP_NEV_MESSAGE_NEW || i + 1 >= a->count ||
		    a->list[i + 1].type != IMAP_ARG_LIST)
			continue;
		/* MessageNew (fetch-att ...) */
		const struct imap_arg *f = &a->list[++i];
		if (f->count == 0 || f->count > IMAP_NOTIFY_FETCH_MAX || g->fetch != NULL) {
			*err_r = "Invalid MessageNew fetch attributes";
			return false;
		}
		for (size_t j = 0; j < f->count; j++) {
			if (!fetch_att_ok(&f->list[j])) {
				*err_r = "Invalid MessageNew fetch attribute";
				return false;
			}
		}
		g->fetch = f->list;
		g->nfetch = f->count;
	}
	return true;
}

static bool
parse_mailboxes(const struct imap_arg *a, struct imap_notify_group *g, size_t *nnames,
    const char **err_r)
{
	const char *s;
	size_t len;

	if (a->type == IMAP_ARG_LIST) {
		if (a->count == 0) {
			*err_r = "Empty mailbox list";
			return false;
		}
		for (size_t i = 0; i < a->count; i++) {
			if (!imap_arg_astring(&a->list[i], &s, &len) ||
			    a->list[i].type == IMAP_ARG_NIL) {
				*err_r = "Mailbox names must be astrings";
				return false;
			}
		}
		g->mboxes = a->list;
		g->nmboxes = a->count;
	} else {
		if (!imap_arg_astring(a, &s, &len) || a->type == IMAP_ARG_NIL) {
			*err_r = "Mailbox names must be astrings";
			return false;
		}
		g->mboxes = a;
		g->nmboxes = 1;
	}
	*nnames += g->nmboxes;
	if (*nnames > IMAP_NOTIFY_NAMES_MAX) {
		*err_r = "Too many mailbox names";
		return false;
	}
	return true;
}

static bool
parse_group(const struct imap_arg *a, struct imap_notify_group *g, size_t *nnames,
    const char **err_r)
{
	static const struct {
		const char *name;
		enum imap_notify_filter f;
	} filters[] = {
		{ "selected", IMAP_NF_SELECTED },
		{ "selected-delayed", IMAP_NF_SELECTED_DELAYED },
		{ "inboxes", IMAP_NF_INBOXES },
		{ "personal", IMAP_NF_PERSONAL },
		{ "subscribed", IMAP_NF_SUBSCRIBED },
		{ "subtree", IMAP_NF_SUBTREE },
		{ "mailboxes", IMAP_NF_MAILBOXES },
	};
	size_t k, at;

	memset(g, 0, sizeof(*g));
	if (a->type != IMAP_ARG_LIST || a->count < 2) {
		*err_r = "Expected an event group: (filter events)";
		return false;
	}
	for (k = 0; k < sizeof(filters) / sizeof(filters[0]); k++)
		if (imap_arg_atom_eq(&a->list[0], filters[k].name))
			break;
	if (k == sizeof(filters) / sizeof(filters[0])) {
		*err_r = "Unknown mailbox filter";
		return false;
	}
	g->filter = filters[k].f;
	at = 1;
	if (g->filter == IMAP_NF_SUBTREE || g->filter == IMAP_NF_MAILBOXES) {
		if (!parse_mailboxes(&a->list[1], g, nnames, err_r))
			return false;
		at = 2;
	}
	if (a->count != at + 1) {
		*err_r = "Expected an event group: (filter events)";
		return false;
	}
	if (!parse_events(&a->list[at], g, err_r))
		return false;
	bool sel = g->filter == IMAP_NF_SELECTED || g->filter == IMAP_NF_SELECTED_DELAYED;
	if (g->fetch != NULL && !sel) {
		/* RFC 5465 5.2: fetch-att only for the selected mailbox */
		*err_r = "MessageNew fetch attributes are only for the selected mailbox";
		return false;
	}
	if (sel) {
		/* RFC 5465 5.2, 5.3, 5.1: sequence numbers stay right only
		 * with both, and a flag change needs them */
		unsigned ne = g->events & (IMAP_NEV_MESSAGE_NEW | IMAP_NEV_MESSAGE_EXPUNGE);
		if (ne != 0 && ne != (IMAP_NEV_MESSAGE_NEW | IMAP_NEV_MESSAGE_EXPUNGE)) {
			*err_r = "MessageNew and MessageExpunge go together for the selected mailbox";
			return false;
		}
		if ((g->events & (IMAP_NEV_FLAG_CHANGE | IMAP_NEV_ANNOTATION_CHANGE)) && ne == 0) {
			*err_r = "FlagChange needs MessageNew and MessageExpunge for the selected mailbox";
			return false;
		}
	}
	return true;
}

bool
imap_notify_parse(const struct imap_arg *args, size_t n, struct imap_notify_spec *spec,
    const char **err_r)
{
	size_t i = 1, nnames = 0;
	bool have_sel = false;

	memset(spec, 0, sizeof(*spec));
	*err_r = "Expected SET or NONE";
	if (n == 0)
		return false;
	if (imap_arg_atom_eq(&args[0], "NONE")) {
		if (n != 1) {
			*err_r = "NOTIFY NONE takes no arguments";
			return false;
		}
		spec->none = true;
		return true;
	}
	if (!imap_arg_atom_eq(&args[0], "SET"))
		return false;
	if (i < n && imap_arg_atom_eq(&args[i], "STATUS")) {
		spec->status = true;
		i++;
	}
	if (i >= n) {
		*err_r = "NOTIFY SET needs at least one event group";
		return false;
	}
	for (; i < n; i++) {
		struct imap_notify_group *g = &spec->groups[spec->ngroups];
		if (spec->ngroups == IMAP_NOTIFY_GROUPS_MAX) {
			*err_r = "Too many event groups";
			return false;
		}
		if (!parse_group(&args[i], g, &nnames, err_r))
			return false;
		if (g->filter == IMAP_NF_SELECTED || g->filter == IMAP_NF_SELECTED_DELAYED) {
			if (have_sel) {
				*err_r = "The selected filter is given twice";
				return false;
			}
			have_sel = true;
		}
		spec->events |= g->events;
		spec->ngroups++;
	}
	return true;
}
