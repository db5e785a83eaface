/* fuzz_imap.c: libFuzzer harness for the incremental IMAP command parser,
 * sequence sets and modified UTF-7 (imap/imap-parser.c).
 *
 * Input: byte 0 holds k (low 4 bits), the limits to use (bit 4: the
 * server's, else tiny ones that every input can exceed) and the UTF8=ACCEPT
 * mode (bit 5: then every quoted string parsed is valid UTF-8); then k piece
 * sizes (1..256); the rest is the byte stream a client sends. The stream
 * is pushed whole and then in the given pieces (k = 0: one byte at a
 * time, cycling); both runs must give the same transcript, as the parser
 * promises that input may arrive split anywhere. Each parsed argument is
 * fed to the argument helpers, sequence sets are re-written and re-read,
 * mailbox names go UTF-8 -> modified UTF-7 -> UTF-8 unchanged, and a
 * parsed command written back with imap_args_write() parses the same. */
#include "fuzz/fuzz.h"

#include "imap/imap-notify.h"
#include "imap/imap-parser.h"
#include "lib/limits.h"

static const struct imap_parser_limits tiny = {
	.line_max = 100, .literal_max = 1024, .args_max = 10, .nesting_max = 3,
};
static bool utf8_mode;      /* imap_parser_set_utf8 for every drive() */

static const struct imap_parser_limits server = {
	.line_max = IMAP_LINE_MAX_BYTES, .literal_max = 64 * 1024,
	.args_max = IMAP_ARGS_MAX, .nesting_max = IMAP_NESTING_MAX,
};

static void
check_seqset(const char *s)
{
	struct imap_seqset set = { 0 }, again = { 0 };
	if (!imap_seqset_parse(&set, s)) {
		imap_seqset_free(&set);
		return;
	}
	uint32_t nums[64];
	size_t n = 0;
	for (uint32_t i = 1; i <= 64; i++)
		if (imap_seqset_contains(&set, i, 50))
			nums[n++] = i;
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK(nums[i] <= imap_seqset_max(&set, 50));
	(void)imap_seqset_contains(&set, 0, 0);
	(void)imap_seqset_contains(&set, UINT32_MAX, UINT32_MAX);
	(void)imap_seqset_max(&set, 0);
	if (n > 0) {
		struct mm_buf b;
		mm_buf_init(&b);
		imap_seqset_write_numbers(&b, nums, n);
		FUZZ_CHECK(imap_seqset_parse(&again, mm_buf_cstr(&b)));
		for (uint32_t i = 1; i <= 64; i++)
			FUZZ_CHECK(imap_seqset_contains(&set, i, 50) ==
			    imap_seqset_contains(&again, i, 50));
		mm_buf_free(&b);
	}
	imap_seqset_free(&again);
	imap_seqset_free(&set);
}

static void
check_mutf7(const char *s, size_t len)
{
	struct mm_buf u, m, u2;
	mm_buf_init(&u);
	mm_buf_init(&m);
	mm_buf_init(&u2);
	/* wire -> UTF-8 -> wire: modified UTF-7 has one encoding */
	if (imap_mutf7_to_utf8(s, len, &u)) {
		FUZZ_CHECK(fuzz_utf8_valid((const unsigned char *)u.data, u.len));
		FUZZ_CHECK(imap_utf8_to_mutf7(u.data ? u.data : "", u.len, &m));
		bool same = fuzz_memeq(m.data, m.len, s, len);
		if (!same)
			fprintf(stderr, "mutf7 %.*s -> %.*s\n", (int)len, s,
			    (int)m.len, m.data ? m.data : "");
		FUZZ_CHECK(same);
	}
	/* UTF-8 -> wire -> UTF-8 */
	m.len = 0;
	/* control characters are refused in names */
	bool valid = fuzz_utf8_valid((const unsigned char *)s, len);
	for (size_t i = 0; i < len && valid; i++)
		valid = (unsigned char)s[i] >= 0x20 && s[i] != 0x7f;
	FUZZ_CHECK(imap_utf8_to_mutf7(s, len, &m) == valid);
	if (valid) {
		for (size_t i = 0; i < m.len; i++)
			FUZZ_CHECK(m.data[i] >= 0x20 && m.data[i] < 0x7f);
		FUZZ_CHECK(imap_mutf7_to_utf8(m.data ? m.data : "", m.len, &u2));
		FUZZ_CHECK(fuzz_memeq(u2.data, u2.len, s, len));
	}
	mm_buf_free(&u);
	mm_buf_free(&m);
	mm_buf_free(&u2);
}

static void
check_args(const struct imap_arg *a, size_t n, unsigned depth)
{
	for (size_t i = 0; i < n; i++) {
		const char *s;
		size_t len;
		uint32_t v32;
		uint64_t v64;
		FUZZ_CHECK(depth <= IMAP_NESTING_MAX + 1);
		if (a[i].type == IMAP_ARG_LIST) {
			FUZZ_CHECK(a[i].count == 0 || a[i].list != NULL);
			check_args(a[i].list, a[i].count, depth + 1);
			continue;
		}
		if (a[i].type == IMAP_ARG_STRING && utf8_mode)
			FUZZ_CHECK(fuzz_utf8_valid((const unsigned char *)a[i].str, a[i].len));
		if (a[i].type != IMAP_ARG_NIL) {
			FUZZ_CHECK(a[i].str != NULL && a[i].str[a[i].len] == '\0');
			if (a[i].type != IMAP_ARG_LITERAL)
				FUZZ_CHECK(strlen(a[i].str) == a[i].len);
		}
		if (imap_arg_astring(&a[i], &s, &len)) {
			FUZZ_CHECK(s != NULL);
			if (len < 512)
				check_mutf7(s, len);
		}
		(void)imap_arg_string(&a[i], &s, &len);
		(void)imap_arg_nstring(&a[i], &s, &len);
		if (imap_arg_number(&a[i], &v32) && imap_arg_number64(&a[i], &v64))
			FUZZ_CHECK(v32 == v64);
		(void)imap_arg_atom_eq(&a[i], "BODY[]");
		if (imap_arg_atom(&a[i], &s))
			check_seqset(s);
		/* IMAP URLs (CATENATE): parsed fields stay inside their buffers */
		struct imap_url u;
		if (a[i].type != IMAP_ARG_LIST && imap_url_parse(a[i].str, a[i].len, &u)) {
			FUZZ_CHECK(strlen(u.mbox) < sizeof(u.mbox) && u.uid != 0);
			FUZZ_CHECK(strlen(u.section) < sizeof(u.section));
		}
	}
}

/* NOTIFY's grammar (imap/imap-notify.c) on every command's arguments:
 * what it accepts points into the tree and keeps the RFC's rules. */
static void
check_notify(const struct imap_arg *a, size_t n)
{
	struct imap_notify_spec spec;
	const char *err = NULL;
	if (!imap_notify_parse(a, n, &spec, &err)) {
		FUZZ_CHECK(err != NULL);
		return;
	}
	FUZZ_CHECK(spec.ngroups <= IMAP_NOTIFY_GROUPS_MAX);
	FUZZ_CHECK(spec.none == (spec.ngroups == 0));
	unsigned all = 0;
	size_t names = 0;
	for (size_t i = 0; i < spec.ngroups; i++) {
		const struct imap_notify_group *g = &spec.groups[i];
		bool sel = g->filter == IMAP_NF_SELECTED || g->filter == IMAP_NF_SELECTED_DELAYED;
		FUZZ_CHECK(g->nfetch == 0 || (sel && g->nfetch <= IMAP_NOTIFY_FETCH_MAX));
		FUZZ_CHECK((g->nmboxes > 0) == (g->filter == IMAP_NF_SUBTREE ||
		    g->filter == IMAP_NF_MAILBOXES));
		names += g->nmboxes;
		all |= g->events;
	}
	FUZZ_CHECK(names <= IMAP_NOTIFY_NAMES_MAX && all == spec.events);
}

static void drive(const struct imap_parser_limits *lim, const char *in,
    size_t len, const uint8_t *sizes, size_t nsizes, bool args,
    struct mm_buf *out);

/* A parsed command written back (imap_args_write) parses to the same
 * command. */
static void
check_rewrite(const char *tag, const char *name, const struct imap_arg *a,
    size_t n, const char *want, size_t wantlen)
{
	struct mm_buf cmd, out, done;
	mm_buf_init(&cmd);
	mm_buf_init(&out);
	mm_buf_init(&done);
	mm_buf_printf(&cmd, "%s %s", tag, name);
	if (n > 0) {
		mm_buf_appendc(&cmd, ' ');
		imap_args_write(&cmd, a, n);
	}
	mm_buf_append(&cmd, "\r\n", 2);
	drive(&server, cmd.data, cmd.len, NULL, 0, false, &out);
	/* continuations of synchronizing literals ("+ n" lines), then
	 * exactly the same DONE line */
	size_t i = 0;
	while (i + 2 < out.len && out.data[i] == '+' && out.data[i + 1] == ' ') {
		size_t j = i + 2;
		while (j < out.len && out.data[j] >= '0' && out.data[j] <= '9')
			j++;
		if (j == i + 2 || j >= out.len || out.data[j] != '\n')
			break;
		i = j + 1;
	}
	mm_buf_append(&done, out.data + i, out.len - i);
	bool same = fuzz_memeq(done.data, done.len, want, wantlen);
	if (!same)
		fprintf(stderr, "written: %s\nparsed: %s\nwant: %.*s\n",
		    mm_buf_cstr(&cmd), mm_buf_cstr(&done), (int)wantlen, want);
	FUZZ_CHECK(same);
	mm_buf_free(&cmd);
	mm_buf_free(&out);
	mm_buf_free(&done);
}

/* Pushes the stream in pieces; appends the events to out. sizes: piece
 * sizes to cycle through (NULL: the whole stream at once). */
static void
drive(const struct imap_parser_limits *lim, const char *in, size_t len,
    const uint8_t *sizes, size_t nsizes, bool args, struct mm_buf *out)
{
	struct imap_parser *p = imap_parser_new(lim);
	size_t start = 0, k = 0;
	bool fatal = false;

	imap_parser_set_utf8(p, utf8_mode);

	while (start < len && !fatal) {
		size_t piece = len - start;
		if (sizes != NULL) {
			size_t want = nsizes ? (size_t)sizes[k++ % nsizes] + 1 : 1;
			if (want < piece)
				piece = want;
		}
		const char *d = in + start;
		size_t left = piece;
		start += piece;
		while (left > 0) {
			size_t used = 0;
			enum imap_parse_result r = imap_parser_push(p, d, left, &used);
			FUZZ_CHECK(used <= left);
			d += used;
			left -= used;
			if (r == IMAP_PARSE_NEED_MORE) {
				FUZZ_CHECK(left == 0);
				break;
			}
			if (r == IMAP_PARSE_CONTINUE) {
				mm_buf_printf(out, "+ %llu\n",
				    (unsigned long long)imap_parser_literal_size(p));
			} else if (r == IMAP_PARSE_DONE) {
				size_t n;
				const struct imap_arg *a = imap_parser_args(p, &n);
				FUZZ_CHECK(imap_parser_tag(p) != NULL);
				FUZZ_CHECK(imap_parser_name(p) != NULL);
				size_t at = out->len;
				mm_buf_printf(out, "DONE %s %s [", imap_parser_tag(p),
				    imap_parser_name(p));
				imap_args_write(out, a, n);
				mm_buf_append(out, "]\n", 2);
				if (args) {
					check_args(a, n, 0);
					check_notify(a, n);
					check_rewrite(imap_parser_tag(p), imap_parser_name(p),
					    a, n, out->data + at, out->len - at);
				}
				imap_parser_reset(p);
				FUZZ_CHECK(imap_parser_idle(p));
			} else {
				FUZZ_CHECK(r == IMAP_PARSE_ERROR);
				const char *tag = imap_parser_tag(p);
				enum imap_parse_error e = imap_parser_error(p);
				FUZZ_CHECK(e != IMAP_PERR_NONE);
				FUZZ_CHECK(imap_parser_strerror(e) != NULL);
				mm_buf_printf(out, "ERR %s %s\n", imap_parser_strerror(e),
				    tag ? tag : "-");
				if (imap_parser_fatal(p)) {
					mm_buf_append(out, "FATAL\n", 6);
					fatal = true;
					break;
				}
				imap_parser_reset(p);
			}
		}
	}
	if (!fatal && !imap_parser_idle(p))
		mm_buf_printf(out, "PARTIAL%s\n", imap_parser_skipping(p) ? " skipping" : "");
	imap_parser_free(&p);
	FUZZ_CHECK(p == NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t k = data[0] & 0x0f;
	const struct imap_parser_limits *lim = (data[0] & 0x10) ? &server : &tiny;
	utf8_mode = (data[0] & 0x20) != 0;
	if (size < 1 + k)
		return 0;
	const uint8_t *sizes = data + 1;
	char *in = fuzz_dup(data + 1 + k, size - 1 - k);
	size_t len = size - 1 - k;

	struct mm_buf whole, pieces;
	mm_buf_init(&whole);
	mm_buf_init(&pieces);
	drive(lim, in, len, NULL, 0, true, &whole);
	drive(lim, in, len, sizes, k, false, &pieces);
	bool same = fuzz_memeq(whole.data, whole.len, pieces.data, pieces.len);
	if (!same)
		fprintf(stderr, "whole:\n%s\npieces:\n%s\n", mm_buf_cstr(&whole),
		    mm_buf_cstr(&pieces));
	FUZZ_CHECK(same);
	mm_buf_free(&whole);
	mm_buf_free(&pieces);
	free(in);
	return 0;
}
