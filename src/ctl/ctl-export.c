/* ctl-export.c: minimailctl export ADDRESS DIR, and export ADDRESS --mbox
 * FILE [--mailbox NAME]: the way out as good as the way in.
 *
 * The Maildir is the one Dovecot reads by default (Maildir++: INBOX in
 * DIR, "A/B" in DIR/.A.B with modified UTF-7 names): flags and keyword
 * letters in the file names, dovecot-keywords for the letters,
 * dovecot-uidlist with our UIDs and UIDVALIDITY (so that a Dovecot, or
 * minimailctl import, serving it keeps them), file times = internal
 * dates, subscriptions. The mbox is mboxrd with Status/X-Status/
 * X-Keywords headers, LF line ends, From_ lines carrying the internal
 * date, so that minimailctl import (or mutt) reads it back the same.
 *
 * The one idea: every file is written under a temporary name and renamed
 * when complete, and DIR (or FILE) must not exist yet, so an export that
 * fails leaves nothing that looks whole. Messages are read one at a time
 * (memory bounded by the largest message). */
#include "ctl/ctl.h"
#include "imap/imap-parser.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

struct exp {
	struct store *st;
	const char *user;
	uint64_t messages, bytes;
	size_t mailboxes;
	size_t kw_dropped;          /* keywords past the 26 letters */
	struct mm_strlist names;
};

static int
collect_mb(void *arg, const struct store_mailbox *mb)
{
	struct exp *e = arg;
	if (!(mb->attrs & MBOX_ATTR_NOSELECT))
		mm_strlist_add(&e->names, mb->name);
	return 0;
}

static void
write_all(int fd, const char *path, const void *p, size_t n)
{
	const char *s = p;
	while (n > 0) {
		ssize_t w = write(fd, s, n);
		if (w < 0)
			ctl_die("%s: %s", path, strerror(errno));
		s += w;
		n -= (size_t)w;
	}
}

/* Writes data to dir/name durably through dir/name.tmp. */
static void
write_file(const char *dir, const char *name, const void *data, size_t len,
    time_t mtime)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path) ||
	    (size_t)snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name) >= sizeof(tmp))
		ctl_die("%s/%s: path too long", dir, name);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		ctl_die("%s: %s", tmp, strerror(errno));
	write_all(fd, tmp, data, len);
	if (fsync(fd) != 0 || close(fd) != 0)
		ctl_die("%s: %s", tmp, strerror(errno));
	if (mtime != 0) {
		struct timeval tv[2] = { { mtime, 0 }, { mtime, 0 } };
		(void)utimes(tmp, tv);
	}
	if (rename(tmp, path) != 0)
		ctl_die("%s: %s", path, strerror(errno));
}

static void
make_maildir(const char *dir)
{
	static const char *const subs[] = { "", "/cur", "/new", "/tmp" };
	for (size_t i = 0; i < 4; i++) {
		char p[PATH_MAX];
		snprintf(p, sizeof(p), "%s%s", dir, subs[i]);
		if (mkdir(p, 0700) != 0 && errno != EEXIST)
			ctl_die("%s: %s", p, strerror(errno));
	}
}

/* "A/B" -> ".A.B" in modified UTF-7 (a '.' in a name cannot be kept). */
static void
folder_dir(const char *root, const char *name, char *out, size_t outlen)
{
	struct mm_buf b;
	mm_buf_init(&b);
	if (!imap_utf8_to_mutf7(name, strlen(name), &b))
		ctl_die("mailbox name '%s' is not valid UTF-8", name);
	char *m = mm_buf_cstr(&b);
	for (char *p = m; *p != '\0'; p++)
		if (*p == '/')
			*p = '.';
		else if (*p == '.')
			*p = '_';
	if ((size_t)snprintf(out, outlen, "%s/.%s", root, m) >= outlen)
		ctl_die("%s/.%s: path too long", root, m);
	mm_buf_free(&b);
}

static void
export_maildir_box(struct exp *e, const char *root, const char *name)
{
	char dir[PATH_MAX], cur[PATH_MAX + 8];
	struct store_index *idx;
	struct mm_buf uidlist, kw;
	int r;

	if (strcmp(name, "INBOX") == 0)
		mm_strlcpy(dir, root, sizeof(dir));
	else
		folder_dir(root, name, dir, sizeof(dir));
	make_maildir(dir);
	if ((r = store_index_read(e->st, e->user, name, &idx)) != STORE_OK)
		ctl_die("cannot read mailbox %s: %s", name, store_strerror(r));
	snprintf(cur, sizeof(cur), "%s/cur", dir);
	mm_buf_init(&uidlist);
	mm_buf_init(&kw);
	mm_buf_printf(&uidlist, "3 V%u N%u\n", idx->mailbox.uidvalidity,
	    idx->mailbox.uidnext);
	for (size_t i = 0; i < idx->nkeywords && i < 26; i++)
		mm_buf_printf(&kw, "%zu %s\n", i, idx->keywords[i]);
	for (size_t i = 0; i < idx->nmsgs; i++) {
		const struct store_msg *m = &idx->msgs[i];
		char *data, base[128], fname[192], flags[40];
		size_t len, nf = 0;
		if ((r = store_body_get(e->st, m->body_id, &data, &len)) != STORE_OK)
			ctl_die("%s: cannot read message %u: %s", name, m->uid,
			    store_strerror(r));
		snprintf(base, sizeof(base), "%lld.M%uU%u.minimaild,S=%zu",
		    (long long)m->internal_date, idx->mailbox.uidvalidity, m->uid, len);
		/* Maildir flags in ASCII order, then keyword letters */
		if (m->flags & MSG_DRAFT) flags[nf++] = 'D';
		if (m->flags & MSG_FLAGGED) flags[nf++] = 'F';
		if (m->flags & MSG_ANSWERED) flags[nf++] = 'R';
		if (m->flags & MSG_SEEN) flags[nf++] = 'S';
		if (m->flags & MSG_DELETED) flags[nf++] = 'T';
		for (size_t k = 0; k < idx->nkeywords && k < 64; k++)
			if (m->keywords & (1ull << k)) {
				if (k < 26)
					flags[nf++] = (char)('a' + k);
				else
					e->kw_dropped++;
			}
		flags[nf] = '\0';
		snprintf(fname, sizeof(fname), "%s:2,%s", base, flags);
		write_file(cur, fname, data, len, m->internal_date);
		mm_buf_printf(&uidlist, "%u :%s\n", m->uid, base);
		free(data);
		e->messages++;
		e->bytes += len;
	}
	write_file(dir, "dovecot-uidlist", uidlist.data, uidlist.len, 0);
	if (kw.len > 0)
		write_file(dir, "dovecot-keywords", kw.data, kw.len, 0);
	mm_buf_free(&uidlist);
	mm_buf_free(&kw);
	store_index_free(&idx);
	e->mailboxes++;
}

static int
collect_subs(void *arg, const struct store_mailbox *mb)
{
	struct mm_buf *b = arg;
	if (!mb->subscribed || strcmp(mb->name, "INBOX") == 0)
		return 0;
	struct mm_buf m;
	mm_buf_init(&m);
	if (imap_utf8_to_mutf7(mb->name, strlen(mb->name), &m)) {
		for (size_t i = 0; i < m.len; i++)
			if (m.data[i] == '/')
				m.data[i] = '.';
		mm_buf_append(b, m.data, m.len);
		mm_buf_appendc(b, '\n');
	}
	mm_buf_free(&m);
	return 0;
}

/* ---- mbox ---- */

static void
export_mbox(struct exp *e, const char *file, const char *name)
{
	char tmp[PATH_MAX];
	struct store_index *idx;
	struct mm_buf out;
	int r;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", file) >= sizeof(tmp))
		ctl_die("%s: path too long", file);
	if ((r = store_index_read(e->st, e->user, name, &idx)) != STORE_OK)
		ctl_die("cannot read mailbox %s: %s", name, store_strerror(r));
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		ctl_die("%s: %s", tmp, strerror(errno));
	mm_buf_init(&out);
	for (size_t i = 0; i < idx->nmsgs; i++) {
		const struct store_msg *m = &idx->msgs[i];
		char *data, date[64];
		size_t len;
		struct tm tm;
		time_t t = m->internal_date;
		if ((r = store_body_get(e->st, m->body_id, &data, &len)) != STORE_OK)
			ctl_die("%s: cannot read message %u: %s", name, m->uid,
			    store_strerror(r));
		gmtime_r(&t, &tm);
		strftime(date, sizeof(date), "%a %b %e %H:%M:%S %Y", &tm);
		out.len = 0;
		mm_buf_printf(&out, "From MAILER-DAEMON %s\n", date);
		/* the header, then our flag headers before its empty line */
		size_t hend = 0;
		while (hend < len) {
			const char *nl = memchr(data + hend, '\n', len - hend);
			size_t ll = nl ? (size_t)(nl - (data + hend)) + 1 : len - hend;
			if (ll == 1 || (ll == 2 && data[hend] == '\r'))
				break;
			hend += ll;
		}
		for (size_t p = 0; p < hend; p++)
			if (!(data[p] == '\r' && p + 1 < len && data[p + 1] == '\n'))
				mm_buf_appendc(&out, data[p]);
		if (hend > 0 && out.data[out.len - 1] != '\n')
			mm_buf_appendc(&out, '\n');
		mm_buf_printf(&out, "Status: %sO\n", m->flags & MSG_SEEN ? "R" : "");
		if (m->flags & (MSG_ANSWERED | MSG_FLAGGED | MSG_DELETED | MSG_DRAFT))
			mm_buf_printf(&out, "X-Status: %s%s%s%s\n",
			    m->flags & MSG_ANSWERED ? "A" : "", m->flags & MSG_FLAGGED ? "F" : "",
			    m->flags & MSG_DRAFT ? "T" : "", m->flags & MSG_DELETED ? "D" : "");
		if (m->keywords != 0) {
			mm_buf_printf(&out, "X-Keywords:");
			for (size_t k = 0; k < idx->nkeywords && k < 64; k++)
				if (m->keywords & (1ull << k))
					mm_buf_printf(&out, " %s", idx->keywords[k]);
			mm_buf_appendc(&out, '\n');
		}
		/* the rest, LF line ends, mboxrd quoting */
		bool bol = true;
		for (size_t p = hend; p < len; p++) {
			if (bol) {
				size_t q = p;
				while (q < len && data[q] == '>')
					q++;
				if (len - q >= 5 && memcmp(data + q, "From ", 5) == 0)
					mm_buf_appendc(&out, '>');
			}
			bol = data[p] == '\n';
			if (data[p] == '\r' && p + 1 < len && data[p + 1] == '\n')
				continue;
			mm_buf_appendc(&out, data[p]);
		}
		/* the separator: an empty line (after a newline of its own) */
		if (len > 0 && data[len - 1] == '\n')
			mm_buf_appendc(&out, '\n');
		else if (i + 1 < idx->nmsgs)
			ctl_die("%s: message %u does not end with a newline: only the "
			    "last one of an mbox may", name, m->uid);
		write_all(fd, tmp, out.data, out.len);
		free(data);
		e->messages++;
		e->bytes += len;
	}
	if (fsync(fd) != 0 || close(fd) != 0)
		ctl_die("%s: %s", tmp, strerror(errno));
	if (rename(tmp, file) != 0)
		ctl_die("%s: %s", file, strerror(errno));
	mm_buf_free(&out);
	store_index_free(&idx);
	e->mailboxes++;
}

int
ctl_export(struct config *cfg, int argc, char **argv)
{
	const char *user = NULL, *dir = NULL, *mbox = NULL, *mailbox = NULL;
	struct stat sb;
	const char *usage = "usage: minimailctl export ADDRESS DIR | "
	    "export ADDRESS --mbox FILE [--mailbox NAME]";

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--mbox") == 0 && i + 1 < argc)
			mbox = argv[++i];
		else if (strcmp(argv[i], "--mailbox") == 0 && i + 1 < argc)
			mailbox = argv[++i];
		else if (argv[i][0] == '-')
			ctl_die("%s", usage);
		else if (user == NULL)
			user = argv[i];
		else if (dir == NULL)
			dir = argv[i];
		else
			ctl_die("%s", usage);
	}
	if (user == NULL || (dir == NULL) == (mbox == NULL) || (mailbox && !mbox))
		ctl_die("%s", usage);
	if (!store_address_valid(user))
		ctl_die("invalid address '%s'", user);
	const char *target = dir ? dir : mbox;
	if (stat(target, &sb) == 0)
		ctl_die("%s: already exists; export writes a new %s", target,
		    dir ? "directory" : "file");
	struct exp e = { .user = user };
	uint64_t start = mm_now_ms();
	mm_strlist_init(&e.names);
	e.st = ctl_open_store(cfg, false);
	struct store_user u;
	int r = store_user_get(e.st, user, &u);
	if (r != STORE_OK)
		ctl_die(r == STORE_NOTFOUND ? "no such user: %s" : "cannot read user %s", user);
	e.user = u.address;
	if (mbox != NULL) {
		export_mbox(&e, mbox, mailbox ? mailbox : "INBOX");
	} else {
		if ((r = store_mailbox_list(e.st, e.user, collect_mb, &e)) != STORE_OK)
			ctl_die("cannot list mailboxes of %s: %s", user, store_strerror(r));
		make_maildir(dir);
		for (size_t i = 0; i < e.names.n; i++) {
			export_maildir_box(&e, dir, e.names.v[i]);
			ctl_progress(NULL, "exporting", i + 1, e.names.n);
		}
		struct mm_buf subs;
		mm_buf_init(&subs);
		(void)store_mailbox_list(e.st, e.user, collect_subs, &subs);
		write_file(dir, "subscriptions", subs.data ? subs.data : "", subs.len, 0);
		mm_buf_free(&subs);
	}
	ctl_progress_end();
	ctl_close_store();
	mm_strlist_clear(&e.names);
	char b[32];
	ctl_fmt_bytes(e.bytes, b, sizeof(b));
	printf("export: %llu messages (%s) from %zu mailboxes into %s in %.1f s\n",
	    (unsigned long long)e.messages, b, e.mailboxes, target,
	    (mm_now_ms() - start) / 1000.0);
	if (e.kw_dropped > 0)
		printf("export: %zu keywords past the 26 a Maildir name holds were left out\n",
		    e.kw_dropped);
	ctl_flush();
	return 0;
}
