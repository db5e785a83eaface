/* ctl-import.c: minimailctl import ADDRESS PATH [--mailbox NAME] [--mboxo]:
 * an mbox file or a Maildir tree (Maildir++ ".Folder.Sub" as Dovecot and
 * Courier write it, or Dovecot's LAYOUT=fs "Folder/Sub") into a user's
 * mailboxes, through store_deliver(), one message per transaction, so
 * quota, reference counts and modseqs are kept as for any delivery.
 *
 * The one idea: first a pass that reads everything and refuses the whole
 * import (one line, exit 1) when something is not what it claims to be (a
 * file that is not an mbox, a Maildir file that is not a message, a
 * message over max_message_size, an unreadable file), then the import,
 * which skips every message whose content (Message-ID included) is
 * already in the target mailbox: SHA-256 of the stored bytes, computed for
 * the existing messages of the same size only. So a run cut short is
 * simply run again, and a second run imports nothing. A mailbox that is
 * new (or already has the other server's UIDVALIDITY: a rerun) keeps the
 * dovecot-uidlist UIDVALIDITY and UIDs (store-import.c). The file formats
 * are read by the pure src/mail/mbox.c. */
#include "ctl/ctl.h"
#include "ctl/ctl-import.h"
#include "imap/imap-parser.h"
#include "lib/limits.h"
#include "lib/util.h"
#include "mail/cache.h"
#include "mail/mbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define IMPORT_FILES_MAX       1000000  /* files in one maildir folder */
#define IMPORT_FOLDERS_MAX     STORE_MAILBOXES_MAX
#define IMPORT_READ_BYTES      (256 * 1024)
#define IMPORT_META_LINE_MAX   4096     /* dovecot-uidlist, -keywords, subscriptions */


static void
sha256(const char *p, size_t n, unsigned char out[32])
{
	unsigned int len = 32;
	if (EVP_Digest(p, n, out, &len, EVP_sha256(), NULL) != 1)
		ctl_die("SHA-256 failed");
}

void
ctl_import_target_close(struct imp *im)
{
	store_index_free(&im->idx);
	free(im->hashes);
	free(im->hashed);
	free(im->added);
	im->hashes = NULL;
	im->hashed = NULL;
	im->added = NULL;
	im->nadded = im->capadded = 0;
	im->target[0] = '\0';
}

/* Makes name the target mailbox (created when missing). */
void
ctl_import_target(struct imp *im, const char *name)
{
	int r;
	if (strcmp(im->target, name) == 0)
		return;
	ctl_import_target_close(im);
	if (im->check_only)
		return;
	r = store_mailbox_create(im->st, im->user, name, 0);
	if (r != STORE_OK && r != STORE_EXISTS)
		ctl_die("cannot create mailbox %s of %s: %s", name, im->user,
		    store_strerror(r));
	bool created = r == STORE_OK;
	if (created)
		(void)store_mailbox_subscribe(im->st, im->user, name, true);
	if ((r = store_index_read(im->st, im->user, name, &im->idx)) != STORE_OK)
		ctl_die("cannot read mailbox %s of %s: %s", name, im->user,
		    store_strerror(r));
	im->target_new = created ||
	    (im->idx->nmsgs == 0 && im->idx->mailbox.uidnext == 1);
	im->hashes = xcalloc(im->idx->nmsgs + 1, sizeof(*im->hashes));
	im->hashed = xcalloc(im->idx->nmsgs + 1, sizeof(*im->hashed));
	mm_strlcpy(im->target, name, sizeof(im->target));
	im->mailboxes++;
}

static bool
already_there(struct imp *im, const char *data, size_t len, unsigned char h[32])
{
	sha256(data, len, h);
	for (size_t i = 0; i < im->nadded; i++)
		if (memcmp(im->added[i], h, 32) == 0)
			return true;
	for (size_t i = 0; i < im->idx->nmsgs; i++) {
		const struct store_msg *m = &im->idx->msgs[i];
		if (m->size != len)
			continue;
		if (!im->hashed[i]) {
			char *body;
			size_t blen;
			int r = store_body_get(im->st, m->body_id, &body, &blen);
			if (r != STORE_OK)
				ctl_die("cannot read message %u of %s: %s", m->uid, im->target,
				    store_strerror(r));
			sha256(body, blen, im->hashes[i]);
			free(body);
			im->hashed[i] = true;
		}
		if (memcmp(im->hashes[i], h, 32) == 0)
			return true;
	}
	return false;
}

/* One message (the file's bytes) into the target mailbox. */
void
ctl_import_message(struct imp *im, const char *what, char *raw, size_t rawlen,
    time_t date, uint32_t flags, const char *const *kw, size_t nkw)
{
	struct mm_buf msg, cache;
	unsigned char h[32];

	mm_buf_init(&msg);
	mbox_to_crlf(raw, rawlen, &msg);
	if (msg.len > im->max_size)
		ctl_die("%s: %zu bytes, larger than max_message_size (%llu)", what,
		    msg.len, (unsigned long long)im->max_size);
	if (im->check_only) {
		mm_buf_free(&msg);
		return;
	}
	if (already_there(im, msg.data, msg.len, h)) {
		im->skipped++;
		mm_buf_free(&msg);
		return;
	}
	mm_buf_init(&cache);
	mail_cache_build(msg.data, msg.len, &cache);
	struct store_rcpt rc = { .user = im->user, .mailbox = im->target,
	    .flags = flags & (MSG_SEEN | MSG_ANSWERED | MSG_FLAGGED | MSG_DELETED |
	    MSG_DRAFT) };
	int r = store_deliver(im->st, &rc, 1, msg.data, msg.len, date, cache.data,
	    cache.len, kw, nkw, true);
	if (r != STORE_OK)
		ctl_die("%s: cannot store it in %s: %s", what, im->target,
		    store_strerror(r));
	if (im->nadded == im->capadded) {
		im->capadded = im->capadded ? im->capadded * 2 : 64;
		im->added = xrealloc(im->added, im->capadded * sizeof(*im->added));
	}
	memcpy(im->added[im->nadded++], h, 32);
	im->imported++;
	im->bytes_imported += msg.len;
	mm_buf_free(&cache);
	mm_buf_free(&msg);
}

static void
progress(struct imp *im, uint64_t bytes)
{
	im->done_bytes += bytes;
	if (!im->check_only)
		ctl_progress(NULL, "importing", im->done_bytes, im->total_bytes);
}

/* ---- mbox ---- */

struct mbox_imp {
	struct imp *im;
	const char *path;
	struct mm_buf msg;
	time_t date;
	uint64_t n;
	bool too_big;
};

static void
mb_begin(void *arg, const char *line, size_t len)
{
	struct mbox_imp *m = arg;
	m->msg.len = 0;
	m->too_big = false;
	m->n++;
	if (!mbox_from_line_date(line, len, &m->date))
		m->date = 0;
}

static void
mb_data(void *arg, const char *p, size_t n)
{
	struct mbox_imp *m = arg;
	if (m->too_big || m->msg.len + n > m->im->max_size) {
		/* counted, not kept: the check pass reports it */
		m->too_big = true;
		return;
	}
	mm_buf_append(&m->msg, p, n);
}

static void
mb_end(void *arg)
{
	struct mbox_imp *m = arg;
	struct imp *im = m->im;
	struct mbox_meta meta;
	char what[PATH_MAX + 64];

	snprintf(what, sizeof(what), "%s: message %llu", m->path,
	    (unsigned long long)m->n);
	if (m->too_big)
		ctl_die("%s: larger than max_message_size (%llu)", what,
		    (unsigned long long)im->max_size);
	mm_buf_reserve(&m->msg, 1);
	size_t len = mbox_meta_strip(m->msg.data, m->msg.len, &meta);
	const char *kw[MBOX_META_KEYWORDS_MAX];
	for (size_t i = 0; i < meta.nkeywords; i++)
		kw[i] = meta.keywords[i];
	ctl_import_message(im, what, m->msg.data, len, m->date ? m->date : time(NULL),
	    meta.flags, kw, meta.nkeywords);
	progress(im, 0);
}

static const struct mbox_cb mbox_cbs = { mb_begin, mb_data, mb_end };

static void
import_mbox(struct imp *im, const char *path, const char *mailbox)
{
	struct mbox_imp m = { .im = im, .path = path };
	struct mbox_parser p;
	char *buf = xmalloc(IMPORT_READ_BYTES);
	int fd = open(path, O_RDONLY | O_CLOEXEC), r = MBOX_OK;

	if (fd < 0)
		ctl_die("%s: %s", path, strerror(errno));
	mm_buf_init(&m.msg);
	ctl_import_target(im, mailbox);
	mbox_parser_init(&p, im->quoting, &mbox_cbs, &m);
	for (;;) {
		ssize_t n = read(fd, buf, IMPORT_READ_BYTES);
		if (n < 0)
			ctl_die("%s: %s", path, strerror(errno));
		if (n == 0)
			break;
		if ((r = mbox_push(&p, buf, (size_t)n)) != MBOX_OK)
			break;
		progress(im, (uint64_t)n);
	}
	if (r == MBOX_OK)
		r = mbox_finish(&p);
	close(fd);
	free(buf);
	mm_buf_free(&m.msg);
	if (r == MBOX_ERR_NOT_MBOX)
		ctl_die("%s: not an mbox file (it must start with a \"From \" line)", path);
	if (r == MBOX_ERR_EMPTY)
		ctl_die("%s: empty, no message to import", path);
}

/* ---- Maildir ---- */

struct mfile {
	char *path;
	uint32_t uid;              /* from dovecot-uidlist, 0 if not listed */
	time_t mtime;
	uint64_t size;
	uint32_t flags, kwbits;
	bool is_new;
};

static int
cmp_mfile(const void *a, const void *b)
{
	const struct mfile *x = a, *y = b;
	if ((x->uid != 0) != (y->uid != 0))
		return x->uid != 0 ? -1 : 1;
	if (x->uid != y->uid)
		return x->uid < y->uid ? -1 : 1;
	if (x->mtime != y->mtime)
		return x->mtime < y->mtime ? -1 : 1;
	return strcmp(x->path, y->path);
}

/* Reads a small metadata file line by line (bounded); false if missing. */
static bool
read_lines(const char *path, void (*fn)(void *, const char *, size_t, size_t),
    void *arg)
{
	FILE *f = fopen(path, "r");
	char line[IMPORT_META_LINE_MAX];
	size_t no = 0;
	if (f == NULL) {
		if (errno != ENOENT)
			ctl_die("%s: %s", path, strerror(errno));
		return false;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		size_t n = strlen(line);
		if (n == sizeof(line) - 1 && line[n - 1] != '\n')
			ctl_die("%s:%zu: line longer than %d bytes", path, no + 1,
			    IMPORT_META_LINE_MAX);
		fn(arg, line, n, no++);
	}
	if (ferror(f))
		ctl_die("%s: %s", path, strerror(errno));
	fclose(f);
	return true;
}

struct folder_meta {
	char *keywords[26];
	struct uid_ent { char *base; uint32_t uid; } *uids;
	size_t nuids, capuids;
	uint32_t uidvalidity, nextuid;
};

static void
kw_line(void *arg, const char *line, size_t len, size_t no)
{
	struct folder_meta *fm = arg;
	unsigned ix;
	const char *name;
	size_t nlen;
	(void)no;
	if (maildir_keywords_line(line, len, &ix, &name, &nlen) && fm->keywords[ix] == NULL)
		fm->keywords[ix] = xstrndup(name, nlen);
}

static void
uid_line(void *arg, const char *line, size_t len, size_t no)
{
	struct folder_meta *fm = arg;
	uint32_t uid;
	const char *base;
	size_t blen;
	if (no == 0) {
		if (!maildir_uidlist_header(line, len, &fm->uidvalidity, &fm->nextuid))
			fm->uidvalidity = fm->nextuid = 0;
		return;
	}
	if (!maildir_uidlist_line(line, len, &uid, &base, &blen))
		return;
	if (fm->nuids == fm->capuids) {
		fm->capuids = fm->capuids ? fm->capuids * 2 : 64;
		fm->uids = xrealloc(fm->uids, fm->capuids * sizeof(*fm->uids));
	}
	fm->uids[fm->nuids].base = xstrndup(base, blen);
	fm->uids[fm->nuids++].uid = uid;
}

static int
cmp_uid_ent(const void *a, const void *b)
{
	return strcmp(((const struct uid_ent *)a)->base, ((const struct uid_ent *)b)->base);
}

/* Does the file start like a message: a header field, or empty? */
static bool
looks_like_message(const char *path, uint64_t size)
{
	char buf[1024];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		ctl_die("%s: %s", path, strerror(errno));
	ssize_t n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n < 0)
		ctl_die("%s: %s", path, strerror(errno));
	if (size == 0)
		return false;
	for (ssize_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)buf[i];
		if (c == ':')
			return i > 0;
		if (c <= ' ' || c >= 0x7f)
			return false;
	}
	return false;
}

static void
list_dir(const char *dir, const char *sub, struct mfile **files, size_t *n,
    size_t *cap, struct folder_meta *fm)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "%s/%s", dir, sub);
	if ((d = opendir(path)) == NULL) {
		if (errno == ENOENT)
			return;
		ctl_die("%s: %s", path, strerror(errno));
	}
	while ((de = readdir(d)) != NULL) {
		char fp[PATH_MAX];
		struct stat sb;
		if (de->d_name[0] == '.')
			continue;
		if ((size_t)snprintf(fp, sizeof(fp), "%s/%s", path, de->d_name) >= sizeof(fp))
			ctl_die("%s/%s: path too long", path, de->d_name);
		if (stat(fp, &sb) != 0)
			ctl_die("%s: %s", fp, strerror(errno));
		if (!S_ISREG(sb.st_mode))
			ctl_die("%s: not a message file", fp);
		if (*n == IMPORT_FILES_MAX)
			ctl_die("%s: more than %d files", path, IMPORT_FILES_MAX);
		if (*n == *cap) {
			*cap = *cap ? *cap * 2 : 256;
			*files = xrealloc(*files, *cap * sizeof(**files));
		}
		struct mfile *f = &(*files)[(*n)++];
		memset(f, 0, sizeof(*f));
		f->path = xstrdup(fp);
		f->mtime = sb.st_mtime;
		f->size = (uint64_t)sb.st_size;
		f->is_new = strcmp(sub, "new") == 0;
		size_t blen = maildir_name_flags(de->d_name, &f->flags, &f->kwbits);
		if (f->is_new)
			f->flags = f->kwbits = 0;
		if (fm->nuids > 0) {
			char base[NAME_MAX + 1];
			snprintf(base, sizeof(base), "%.*s", (int)blen, de->d_name);
			struct uid_ent key = { .base = base }, *e;
			e = bsearch(&key, fm->uids, fm->nuids, sizeof(*fm->uids), cmp_uid_ent);
			if (e != NULL)
				f->uid = e->uid;
		}
	}
	closedir(d);
}

/* One maildir folder (dir with cur/ and new/) into mailbox. */
static void
import_folder(struct imp *im, const char *dir, const char *mailbox)
{
	struct folder_meta fm;
	struct mfile *files = NULL;
	size_t n = 0, cap = 0;
	char path[PATH_MAX];

	memset(&fm, 0, sizeof(fm));
	snprintf(path, sizeof(path), "%s/dovecot-keywords", dir);
	(void)read_lines(path, kw_line, &fm);
	snprintf(path, sizeof(path), "%s/dovecot-uidlist", dir);
	(void)read_lines(path, uid_line, &fm);
	if (fm.nuids > 0)
		qsort(fm.uids, fm.nuids, sizeof(*fm.uids), cmp_uid_ent);
	list_dir(dir, "cur", &files, &n, &cap, &fm);
	list_dir(dir, "new", &files, &n, &cap, &fm);
	if (n > 0)
		qsort(files, n, sizeof(*files), cmp_mfile);
	ctl_import_target(im, mailbox);
	/* a new mailbox keeps the other server's UIDVALIDITY and UIDs */
	bool keep_uids = !im->check_only && fm.uidvalidity != 0 && (im->target_new ||
	    im->idx->mailbox.uidvalidity == fm.uidvalidity);   /* a rerun resumes */
	if (keep_uids) {
		int r = store_mailbox_import_uids(im->st, im->user, mailbox, fm.uidvalidity, 0);
		if (r == STORE_EXISTS)
			keep_uids = false;
		else if (r != STORE_OK)
			ctl_die("cannot set UIDVALIDITY of %s: %s", mailbox, store_strerror(r));
		else
			im->uids_kept++;
	}
	for (size_t i = 0; i < n; i++) {
		struct mfile *f = &files[i];
		if (im->check_only) {
			if (f->size > im->max_size)
				ctl_die("%s: %llu bytes, larger than max_message_size (%llu)",
				    f->path, (unsigned long long)f->size,
				    (unsigned long long)im->max_size);
			if (!looks_like_message(f->path, f->size))
				ctl_die("%s: not a message (no header field at its start)",
				    f->path);
			im->total_bytes += f->size;
			continue;
		}
		char *data = NULL;
		size_t len = 0;
		int fd = open(f->path, O_RDONLY | O_CLOEXEC);
		struct stat sb;
		if (fd < 0 || fstat(fd, &sb) != 0)
			ctl_die("%s: %s", f->path, strerror(errno));
		if ((uint64_t)sb.st_size > im->max_size)
			ctl_die("%s: larger than max_message_size", f->path);
		data = xmalloc((size_t)sb.st_size + 1);
		while (len < (size_t)sb.st_size) {
			ssize_t r = read(fd, data + len, (size_t)sb.st_size - len);
			if (r < 0)
				ctl_die("%s: %s", f->path, strerror(errno));
			if (r == 0)
				break;
			len += (size_t)r;
		}
		close(fd);
		const char *kw[26];
		size_t nkw = 0;
		for (int b = 0; b < 26; b++)
			if ((f->kwbits & (1u << b)) && fm.keywords[b] != NULL)
				kw[nkw++] = fm.keywords[b];
		if (keep_uids && f->uid != 0) {
			int r = store_mailbox_import_uids(im->st, im->user, mailbox, 0, f->uid);
			if (r != STORE_OK)
				ctl_die("cannot keep UID %u in %s: %s", f->uid, mailbox,
				    store_strerror(r));
		}
		ctl_import_message(im, f->path, data, len, f->mtime, f->flags, kw, nkw);
		free(data);
		progress(im, f->size);
	}
	if (keep_uids && fm.nextuid > 1 &&
	    store_mailbox_import_uids(im->st, im->user, mailbox, 0, fm.nextuid) != STORE_OK)
		ctl_die("cannot set UIDNEXT of %s", mailbox);
	for (size_t i = 0; i < n; i++)
		free(files[i].path);
	free(files);
	for (size_t i = 0; i < fm.nuids; i++)
		free(fm.uids[i].base);
	free(fm.uids);
	for (int i = 0; i < 26; i++)
		free(fm.keywords[i]);
}

static bool
is_maildir(const char *dir)
{
	char p[PATH_MAX];
	struct stat sb;
	snprintf(p, sizeof(p), "%s/cur", dir);
	if (stat(p, &sb) == 0 && S_ISDIR(sb.st_mode))
		return true;
	snprintf(p, sizeof(p), "%s/new", dir);
	return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* A folder name as the other server wrote it (modified UTF-7, separator
 * sep) into ours under root ("" = top), with the special-use names of
 * other servers mapped to ours. */
static void
folder_name(const char *root, const char *name, char sep, char *out, size_t outlen)
{
	static const struct { const char *from, *to; } special[] = {
		{ "Sent Messages", "Sent" }, { "Sent Items", "Sent" },
		{ "Sent Mail", "Sent" }, { "Deleted Messages", "Trash" },
		{ "Deleted Items", "Trash" }, { "Spam", "Junk" },
		{ "Junk E-mail", "Junk" }, { "Draft", "Drafts" },
	};
	struct mm_buf b;
	mm_buf_init(&b);
	if (!imap_mutf7_to_utf8(name, strlen(name), &b)) {
		b.len = 0;
		mm_buf_append(&b, name, strlen(name));
	}
	char *u = mm_buf_cstr(&b);
	for (char *p = u; *p != '\0'; p++)
		if (*p == sep)
			*p = '/';
	for (size_t i = 0; root[0] == '\0' && i < sizeof(special) / sizeof(special[0]); i++)
		if (strcmp(u, special[i].from) == 0) {
			mm_buf_free(&b);
			mm_buf_init(&b);
			mm_buf_append(&b, special[i].to, strlen(special[i].to));
			u = mm_buf_cstr(&b);
			break;
		}
	if (root[0] != '\0')
		snprintf(out, outlen, "%s/%s", root, u);
	else
		snprintf(out, outlen, "%s", u);
	mm_buf_free(&b);
}

/* Dovecot's LAYOUT=fs: every subdirectory with a maildir is a folder. */
static void
walk_fs(struct imp *im, const char *dir, const char *rel, const char *root,
    size_t depth, size_t *nfolders)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	if (d == NULL)
		ctl_die("%s: %s", dir, strerror(errno));
	if (depth > 16)
		ctl_die("%s: folders nested too deep", dir);
	while ((de = readdir(d)) != NULL) {
		char sub[PATH_MAX], subrel[PATH_MAX], name[STORE_MBOX_NAME_MAX * 2];
		struct stat sb;
		if (de->d_name[0] == '.' || strcmp(de->d_name, "cur") == 0 ||
		    strcmp(de->d_name, "new") == 0 || strcmp(de->d_name, "tmp") == 0)
			continue;
		if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name) >= sizeof(sub))
			continue;
		if (stat(sub, &sb) != 0 || !S_ISDIR(sb.st_mode))
			continue;
		snprintf(subrel, sizeof(subrel), "%s%s%s", rel, rel[0] ? "/" : "", de->d_name);
		if (is_maildir(sub)) {
			if (++*nfolders > IMPORT_FOLDERS_MAX)
				ctl_die("%s: more than %d folders", dir, IMPORT_FOLDERS_MAX);
			folder_name(root, subrel, '/', name, sizeof(name));
			import_folder(im, sub, name);
		}
		walk_fs(im, sub, subrel, root, depth + 1, nfolders);
	}
	closedir(d);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
import_maildir(struct imp *im, const char *path, const char *root)
{
	DIR *d;
	struct dirent *de;
	size_t nfolders = 0;
	bool plusplus = false;

	import_folder(im, path, root[0] ? root : "INBOX");
	/* Maildir++: ".Folder.Sub" beside cur/ new/ tmp/, parents first */
	struct mm_strlist names;
	mm_strlist_init(&names);
	if ((d = opendir(path)) == NULL)
		ctl_die("%s: %s", path, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		char sub[PATH_MAX];
		if (de->d_name[0] != '.' || strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name) >= sizeof(sub) ||
		    !is_maildir(sub))
			continue;
		if (++nfolders > IMPORT_FOLDERS_MAX)
			ctl_die("%s: more than %d folders", path, IMPORT_FOLDERS_MAX);
		mm_strlist_add(&names, de->d_name);
	}
	closedir(d);
	if (names.n > 0)
		qsort(names.v, names.n, sizeof(*names.v), cmp_str);
	for (size_t i = 0; i < names.n; i++) {
		char sub[PATH_MAX], name[STORE_MBOX_NAME_MAX * 2];
		snprintf(sub, sizeof(sub), "%s/%s", path, names.v[i]);
		plusplus = true;
		folder_name(root, names.v[i] + 1, '.', name, sizeof(name));
		import_folder(im, sub, name);
	}
	mm_strlist_clear(&names);
	if (!plusplus)
		walk_fs(im, path, "", root, 0, &nfolders);
}

/* Dovecot's "subscriptions" (v2: "V\t2" then names with '\t' between
 * levels; older: one name a line) or Courier's courierimapsubscribed
 * ("INBOX.Folder"). */
struct subs_arg {
	struct imp *im;
	const char *root;
	bool v2;
	char sep;
};

static void
subs_line(void *arg, const char *line, size_t len, size_t no)
{
	struct subs_arg *a = arg;
	char name[IMPORT_META_LINE_MAX], ours[STORE_MBOX_NAME_MAX * 2];
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	if (no == 0 && len == 3 && memcmp(line, "V\t2", 3) == 0) {
		a->v2 = true;
		return;
	}
	if (len == 0)
		return;
	snprintf(name, sizeof(name), "%.*s", (int)len, line);
	char *n = name;
	if (a->sep == '.' && strncmp(n, "INBOX.", 6) == 0)
		n += 6;
	folder_name(a->root, n, a->v2 ? '\t' : a->sep, ours, sizeof(ours));
	if (strlen(ours) < STORE_MBOX_NAME_MAX)
		(void)store_mailbox_subscribe(a->im->st, a->im->user, ours, true);
}

static void
import_subscriptions(struct imp *im, const char *path, const char *root)
{
	char p[PATH_MAX];
	struct subs_arg a = { .im = im, .root = root, .sep = '.' };
	snprintf(p, sizeof(p), "%s/subscriptions", path);
	if (!read_lines(p, subs_line, &a)) {
		snprintf(p, sizeof(p), "%s/courierimapsubscribed", path);
		(void)read_lines(p, subs_line, &a);
	}
}

int
ctl_import(struct config *cfg, int argc, char **argv)
{
	const char *user = NULL, *path = NULL, *mailbox = NULL;
	bool mboxo = false;
	struct stat sb;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--mailbox") == 0 && i + 1 < argc)
			mailbox = argv[++i];
		else if (strcmp(argv[i], "--mboxo") == 0)
			mboxo = true;
		else if (argv[i][0] == '-' && argv[i][1] != '\0')
			ctl_die("usage: minimailctl import ADDRESS PATH [--mailbox NAME] [--mboxo]");
		else if (user == NULL)
			user = argv[i];
		else if (path == NULL)
			path = argv[i];
		else
			ctl_die("usage: minimailctl import ADDRESS PATH [--mailbox NAME] [--mboxo]");
	}
	if (user == NULL || path == NULL)
		ctl_die("usage: minimailctl import ADDRESS PATH [--mailbox NAME] [--mboxo]");
	if (!store_address_valid(user))
		ctl_die("invalid address '%s'", user);
	if (mailbox != NULL && (mailbox[0] == '\0' || strlen(mailbox) >= STORE_MBOX_NAME_MAX))
		ctl_die("invalid mailbox name '%s'", mailbox);
	if (stat(path, &sb) != 0)
		ctl_die("%s: %s", path, strerror(errno));
	bool dir = S_ISDIR(sb.st_mode);
	if (!dir && !S_ISREG(sb.st_mode))
		ctl_die("%s: neither an mbox file nor a Maildir", path);
	if (dir && !is_maildir(path))
		ctl_die("%s: not a Maildir (no cur/ or new/ in it)", path);

	struct imp im = { .user = user, .max_size = cfg->max_message_size,
	    .quoting = mboxo ? MBOX_MBOXO : MBOX_MBOXRD };
	uint64_t start = mm_now_ms();
	/* the check pass: nothing is stored when something is wrong */
	im.check_only = true;
	if (dir)
		import_maildir(&im, path, mailbox ? mailbox : "");
	else {
		im.total_bytes = (uint64_t)sb.st_size;
		import_mbox(&im, path, mailbox ? mailbox : "INBOX");
	}
	ctl_import_target_close(&im);
	im.check_only = false;
	im.done_bytes = 0;
	im.mailboxes = 0;

	im.st = ctl_open_store(cfg, false);
	struct store_user u;
	int r = store_user_get(im.st, user, &u);
	if (r != STORE_OK)
		ctl_die(r == STORE_NOTFOUND ? "no such user: %s" : "cannot read user %s", user);
	im.user = u.address;
	if (dir) {
		import_maildir(&im, path, mailbox ? mailbox : "");
		import_subscriptions(&im, path, mailbox ? mailbox : "");
	} else {
		import_mbox(&im, path, mailbox ? mailbox : "INBOX");
	}
	ctl_import_target_close(&im);
	ctl_progress_end();
	ctl_close_store();
	double secs = (mm_now_ms() - start) / 1000.0;
	char b[32];
	ctl_fmt_bytes(im.bytes_imported, b, sizeof(b));
	printf("import: %llu messages imported (%s), %llu already there, %zu mailboxes "
	    "(%zu kept their UIDs), in %.1f s (%.0f messages/s)\n",
	    (unsigned long long)im.imported, b, (unsigned long long)im.skipped,
	    im.mailboxes, im.uids_kept, secs,
	    secs > 0 ? im.imported / secs : 0.0);
	ctl_flush();
	return 0;
}
