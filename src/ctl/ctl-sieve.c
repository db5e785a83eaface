/* ctl-sieve.c: "minimailctl sieve test": compile a script file, run it on
 * a message file without delivering, and print what delivery would do,
 * one action a line, in the contract's form (sieve_action_format): keep,
 * fileinto "MAILBOX", redirect "ADDRESS", discard, reject "REASON",
 * vacation "ADDRESS" "SUBJECT", flags after keep and fileinto. A script
 * that does not compile prints "error LINE: message" and exits 1. It runs
 * the same pure code as delivery (src/sieve) with the [sieve] defaults;
 * vacation is shown as the script asks for it: the rules that hold a
 * reply back (lists, auto-replies, the once-per-:days record) are
 * delivery's, and "sieve test" does not look at the store. */
#include "ctl/ctl-sieve.h"
#include "mail/mime.h"
#include "sieve/sieve.h"
#include "lib/limits.h"
#include "lib/util.h"
#include "store/store.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Reads a whole file (at most max bytes); NULL with errno set. */
static char *
read_file(const char *path, size_t max, size_t *len_r)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	if (f == NULL)
		return NULL;
	struct mm_buf b;
	mm_buf_init(&b);
	char tmp[65536];
	size_t n;
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0) {
		if (b.len + n > max) {
			mm_buf_free(&b);
			if (f != stdin)
				fclose(f);
			errno = EFBIG;
			return NULL;
		}
		mm_buf_append(&b, tmp, n);
	}
	bool err = ferror(f);
	if (f != stdin)
		fclose(f);
	if (err) {
		mm_buf_free(&b);
		errno = EIO;
		return NULL;
	}
	*len_r = b.len;
	mm_buf_cstr(&b);
	return b.data;
}

/* include: personal scripts are NAME.sieve in the personal directory
 * (the script's own by default), global ones in --global-dir. */
struct inc_dirs {
	const char *personal, *global;
};

static bool
inc_lookup(void *ctx, bool global, const char *name, char **text_r, size_t *len_r)
{
	const struct inc_dirs *d = ctx;
	const char *dir = global ? d->global : d->personal;
	if (dir == NULL)
		return false;
	char *path = xasprintf("%s/%s.sieve", dir, name);
	*text_r = read_file(path, SIEVE_SCRIPT_MAX_BYTES + 1, len_r);
	free(path);
	return *text_r != NULL;
}

int
ctl_sieve_test(int argc, char **argv)
{
	const char *script = NULL, *message = NULL, *from = NULL, *to = NULL;
	struct inc_dirs dirs = { NULL, NULL };
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--include-dir") == 0 && i + 1 < argc) {
			dirs.personal = argv[++i];
		} else if (strcmp(argv[i], "--global-dir") == 0 && i + 1 < argc) {
			dirs.global = argv[++i];
		} else if (strcmp(argv[i], "--from") == 0 && i + 1 < argc) {
			from = argv[++i];
		} else if (strcmp(argv[i], "--to") == 0 && i + 1 < argc) {
			to = argv[++i];
		} else if (argv[i][0] == '-' && argv[i][1] == '-') {
			fprintf(stderr, "minimailctl: unknown option %s\n", argv[i]);
			return 1;
		} else if (script == NULL) {
			script = argv[i];
		} else if (message == NULL) {
			message = argv[i];
		} else {
			script = NULL;
			break;
		}
	}
	if (script == NULL || message == NULL) {
		fputs("minimailctl: usage: minimailctl sieve test SCRIPT MESSAGE [--from ADDR] [--to ADDR]\n"
		    "       [--include-dir DIR] [--global-dir DIR]\n", stderr);
		return 1;
	}
	char *sdir = NULL;
	if (dirs.personal == NULL) {
		const char *slash = strrchr(script, '/');
		sdir = slash ? xstrndup(script, (size_t)(slash - script)) : xstrdup(".");
		dirs.personal = sdir;
	}
	struct sieve_include_if inc = { &dirs, inc_lookup, NULL };
	struct sieve_limits lim;
	sieve_limits_default(&lim);
	size_t slen, mlen;
	char *stext = read_file(script, lim.max_script_bytes + 1, &slen);
	if (stext == NULL) {
		fprintf(stderr, "minimailctl: %s: %s\n", script, strerror(errno));
		free(sdir);
		return 1;
	}
	char *mraw = read_file(message, (size_t)1 << 30, &mlen);
	if (mraw == NULL) {
		fprintf(stderr, "minimailctl: %s: %s\n", message, strerror(errno));
		free(sdir);
		free(stext);
		return 1;
	}
	/* as delivery stores it: CRLF line ends */
	size_t len;
	char *msg = mail_crlf_normalize(mraw, mlen, &len);
	free(mraw);

	struct sieve_script *s;
	struct sieve_error err;
	if (!sieve_compile(stext, slen, &lim, &inc, &s, &err)) {
		printf("error %u: %s\n", err.line, err.msg);
		free(sdir);
		free(stext);
		free(msg);
		fflush(stdout);
		return 1;
	}
	struct sieve_msg *m = sieve_msg_new(msg, len, from, to);
	struct sieve_result r;
	sieve_run(s, sieve_msg_if(m), &lim, &r);
	if (r.error)
		fprintf(stderr, "minimailctl: run-time error (line %u): %s: the message is kept\n",
		    r.errline, r.errmsg);
	struct mm_buf out;
	mm_buf_init(&out);
	for (size_t i = 0; i < r.n; i++) {
		out.len = 0;
		sieve_action_format(&r.a[i], &out);
		mm_buf_appendc(&out, '\n');
		fwrite(out.data, 1, out.len, stdout);
	}
	mm_buf_free(&out);
	sieve_result_free(&r);
	sieve_msg_free(&m);
	sieve_script_free(&s);
	free(sdir);
	free(stext);
	free(msg);
	return fflush(stdout) == 0 ? 0 : 1;
}

/* ---- scripts in the store ---- */

static int
list_cb(void *arg, const char *name, bool active)
{
	(void)arg;
	printf("%s%s\n", name, active ? " ACTIVE" : "");
	return 0;
}

struct store_inc {
	struct store *st;
	const char *user;
};

/* include :personal finds the user's other scripts; :global none (there
 * are no global scripts in the store yet). */
static bool
store_lookup(void *ctx, bool global, const char *name, char **text_r, size_t *len_r)
{
	const struct store_inc *si = ctx;
	if (global || !store_sieve_name_valid(name))
		return false;
	return store_sieve_get(si->st, si->user, name, text_r, len_r) == STORE_OK;
}

static int __attribute__((format(printf, 1, 2)))
fail(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "minimailctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

int
ctl_sieve_cmd(struct store *st, const struct sieve_limits *lim, int argc, char **argv)
{
	const char *verb = argv[0], *user = argc > 1 ? argv[1] : "";
	const char *name = argc > 2 ? argv[2] : NULL;
	int r;
	if (!store_address_valid(user))
		return fail("invalid address '%s'", user);
	struct store_user u;
	if ((r = store_user_get(st, user, &u)) == STORE_NOTFOUND)
		return fail("no such user: %s", user);
	if (r != STORE_OK)
		return fail("cannot read user %s: %s", user, store_strerror(r));
	if (name && !store_sieve_name_valid(name))
		return fail("invalid script name '%s' (1 to %d bytes, no control characters or '/')",
		    name, STORE_SIEVE_NAME_MAX);
	if (strcmp(verb, "list") == 0) {
		if ((r = store_sieve_list(st, user, list_cb, NULL)) != STORE_OK)
			return fail("cannot list the scripts of %s: %s", user, store_strerror(r));
		return 0;
	}
	if (strcmp(verb, "get") == 0) {
		char *text;
		size_t len;
		if ((r = store_sieve_get(st, user, name, &text, &len)) == STORE_NOTFOUND)
			return fail("%s has no script '%s'", user, name);
		if (r != STORE_OK)
			return fail("cannot read the script of %s: %s", user, store_strerror(r));
		fwrite(text, 1, len, stdout);
		free(text);
		return 0;
	}
	if (strcmp(verb, "put") == 0) {
		size_t len;
		char *text = read_file(argv[3], lim->max_script_bytes, &len);
		if (text == NULL && errno == EFBIG)
			return fail("%s: larger than [sieve] max_script_size (%zu bytes)", argv[3],
			    lim->max_script_bytes);
		if (text == NULL)
			return fail("%s: %s", argv[3], strerror(errno));
		struct store_inc si = { st, user };
		struct sieve_include_if inc = { &si, store_lookup, NULL };
		struct sieve_script *s;
		struct sieve_error err;
		if (!sieve_compile(text, len, lim, &inc, &s, &err)) {
			printf("error %u: %s\n", err.line, err.msg);
			free(text);
			return 1;
		}
		sieve_script_free(&s);
		r = store_sieve_put(st, user, name, text, len);
		free(text);
		if (r == STORE_LIMIT)
			return fail("%s has too many scripts (at most %d)", user, STORE_SIEVE_SCRIPTS_MAX);
		if (r != STORE_OK)
			return fail("cannot store the script of %s: %s", user, store_strerror(r));
		return 0;
	}
	if (strcmp(verb, "del") == 0) {
		r = store_sieve_del(st, user, name);
		if (r == STORE_DENIED)
			return fail("'%s' is the active script of %s: activate another first", name, user);
		if (r == STORE_NOTFOUND)
			return fail("%s has no script '%s'", user, name);
		if (r != STORE_OK)
			return fail("cannot delete the script of %s: %s", user, store_strerror(r));
		return 0;
	}
	if (strcmp(verb, "activate") == 0) {
		r = store_sieve_activate(st, user, name);
		if (r == STORE_NOTFOUND)
			return fail("%s has no script '%s'", user, name ? name : "");
		if (r != STORE_OK)
			return fail("cannot activate the script of %s: %s", user, store_strerror(r));
		return 0;
	}
	return fail("unknown command 'sieve %s'", verb);
}
