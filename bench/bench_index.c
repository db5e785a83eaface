/* bench_index.c: the CPU a delivery spends on its message before the
 * transaction (issue 19 item 6): the cache blob (BODYSTRUCTURE, envelope,
 * search record: mail_cache_build), the full-text trigrams
 * (mail_fts_terms), and the lookup of the user's active Sieve script
 * (store_sieve_active, for a user without one). Each on three 10 KiB
 * bodies: bench_smtp.py's random letters and digits (more trigrams than
 * MAIL_FTS_TERMS_MAX: not indexed, the work stops when the set is full),
 * English-like words (indexed), and Latin-1 quoted-printable text (decoded
 * and converted first). Prints the thread CPU time per call, the median
 * of -r rounds of -n calls. Built by `make bench`, never run by make check.
 *
 * usage: bench_index [-n CALLS] [-r ROUNDS] [-d DIR] [-m 1|2|3: that body only] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/util.h"
#include "mail/cache.h"
#include "mail/fts.h"
#include "store/store.h"

#define BODY_BYTES 10240
#define USER "nosieve@bench.test"

static double
cpu_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void
header(struct mm_buf *b, const char *ctype, const char *cte)
{
	mm_buf_printf(b, "From: Bench <bench-sender@example.net>\r\n"
	    "To: bench@example.org\r\nSubject: bench message\r\n"
	    "Message-ID: <bench-1@example.net>\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: %s\r\n", ctype);
	if (cte != NULL)
		mm_buf_printf(b, "Content-Transfer-Encoding: %s\r\n", cte);
	mm_buf_append(b, "\r\n", 2);
}

/* bench_smtp.py's make_message: 70-character lines of [a-z0-9 ]. */
static void
make_random(struct mm_buf *b)
{
	static const char abc[] = "abcdefghijklmnopqrstuvwxyz0123456789 ";
	unsigned seed = 1;
	header(b, "text/plain; charset=us-ascii", NULL);
	while (b->len < BODY_BYTES) {
		for (int i = 0; i < 70; i++) {
			seed = seed * 1103515245u + 12345u;
			mm_buf_appendc(b, abc[(seed >> 16) % (sizeof(abc) - 1)]);
		}
		mm_buf_append(b, "\r\n", 2);
	}
}

static const char *const words[] = {
	"the", "of", "and", "to", "in", "a", "is", "that", "for", "it", "as",
	"was", "with", "be", "by", "on", "not", "he", "this", "are", "or",
	"his", "from", "at", "which", "but", "have", "an", "had", "they",
	"you", "were", "their", "one", "all", "we", "can", "her", "has",
	"there", "been", "if", "more", "when", "will", "would", "who", "so",
	"meeting", "Tuesday", "invoice", "attached", "please", "review",
	"quarterly", "numbers", "server", "message", "delivery", "regards",
	"tomorrow", "schedule", "project", "update", "customer", "support",
};

static void
make_words(struct mm_buf *b, bool latin1_qp)
{
	unsigned seed = 7;
	size_t col = 0;
	header(b, latin1_qp ? "text/plain; charset=iso-8859-1" : "text/plain; charset=utf-8",
	    latin1_qp ? "quoted-printable" : NULL);
	while (b->len < BODY_BYTES) {
		seed = seed * 1103515245u + 12345u;
		const char *w = words[(seed >> 16) % (sizeof(words) / sizeof(words[0]))];
		if (latin1_qp && (seed >> 8) % 7 == 0)
			w = (seed >> 4) % 2 ? "K=E4se" : "Stra=DFe";    /* Käse, Straße */
		mm_buf_printf(b, "%s ", w);
		col += strlen(w) + 1;
		if (col > 66) {
			mm_buf_append(b, "\r\n", 2);
			col = 0;
		}
	}
	mm_buf_append(b, "\r\n", 2);
}

static int
dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

typedef void bench_fn(const struct mm_buf *msg, struct store *st);

static void
do_cache(const struct mm_buf *msg, struct store *st)
{
	struct mm_buf out;
	(void)st;
	mm_buf_init(&out);
	mail_cache_build(msg->data, msg->len, &out);
	mm_buf_free(&out);
}

static void
do_fts(const struct mm_buf *msg, struct store *st)
{
	uint32_t *v;
	size_t n;
	(void)st;
	(void)mail_fts_terms(msg->data, msg->len, &v, &n);
	free(v);
}

static void
do_sieve(const struct mm_buf *msg, struct store *st)
{
	char *name, *text;
	size_t len;
	(void)msg;
	if (store_sieve_active(st, USER, &name, &text, &len) != STORE_NOTFOUND) {
		fprintf(stderr, "bench_index: %s has a script?\n", USER);
		exit(1);
	}
}

static double
run(bench_fn *fn, const struct mm_buf *msg, struct store *st, long n, int rounds)
{
	double per[64];
	for (int r = 0; r < rounds; r++) {
		double t0 = cpu_us();
		for (long i = 0; i < n; i++)
			fn(msg, st);
		per[r] = (cpu_us() - t0) / (double)n;
	}
	qsort(per, (size_t)rounds, sizeof(per[0]), dcmp);
	return per[rounds / 2];
}


int
main(int argc, char **argv)
{
	long n = 2000;
	int rounds = 5, only = 0, c;
	const char *dir = NULL;
	char tmp[] = "/tmp/bench_index.XXXXXX", err[256];

	while ((c = getopt(argc, argv, "n:r:d:m:")) != -1) {
		if (c == 'n')
			n = atol(optarg);
		else if (c == 'r')
			rounds = atoi(optarg);
		else if (c == 'd')
			dir = optarg;
		else if (c == 'm')
			only = atoi(optarg);
		else {
			fprintf(stderr, "usage: bench_index [-n CALLS] [-r ROUNDS] [-d DIR] [-m 1|2|3]\n");
			return 2;
		}
	}
	if (n < 1 || rounds < 1 || rounds > 64) {
		fprintf(stderr, "bench_index: -n at least 1, -r 1 to 64\n");
		return 2;
	}
	if (dir == NULL && (dir = mkdtemp(tmp)) == NULL) {
		perror("bench_index: mkdtemp");
		return 1;
	}
	struct store *st;
	char hash[256];
	if (store_open(dir, STORE_OPEN_CREATE, &st, err, sizeof(err)) != STORE_OK ||
	    store_hash_password("bench", hash, sizeof(hash)) != STORE_OK) {
		fprintf(stderr, "bench_index: store: %s\n", err);
		return 1;
	}
	int r = store_user_add(st, USER, hash);
	if (r != STORE_OK && r != STORE_EXISTS) {
		fprintf(stderr, "bench_index: user add: %s\n", store_strerror(r));
		return 1;
	}

	struct { const char *name; struct mm_buf b; } msgs[3] = {
		{ .name = "random [a-z0-9 ] (bench_smtp.py)" },
		{ .name = "English-like words, UTF-8" },
		{ .name = "words, Latin-1 quoted-printable" },
	};
	for (int i = 0; i < 3; i++)
		mm_buf_init(&msgs[i].b);
	make_random(&msgs[0].b);
	make_words(&msgs[1].b, false);
	make_words(&msgs[2].b, true);

	printf("bench_index: thread CPU per call, median of %d rounds of %ld calls\n",
	    rounds, n);
	for (int i = 0; i < 3; i++) {
		if (only != 0 && only != i + 1)
			continue;
		uint32_t *v;
		size_t nt;
		bool idx = mail_fts_terms(msgs[i].b.data, msgs[i].b.len, &v, &nt);
		free(v);
		printf("%-34s %5zu bytes  %s %5zu trigrams  cache_build %6.1f us  "
		    "fts_terms %6.1f us\n", msgs[i].name, msgs[i].b.len,
		    idx ? "indexed" : "not indexed,", nt,
		    run(do_cache, &msgs[i].b, st, n, rounds),
		    run(do_fts, &msgs[i].b, st, n, rounds));
	}
	printf("%-34s sieve_active (no script) %6.1f us\n", "store_sieve_active",
	    run(do_sieve, NULL, st, n, rounds));
	for (int i = 0; i < 3; i++)
		mm_buf_free(&msgs[i].b);
	store_close(&st);
	if (dir == tmp)
		mm_rmtree(tmp);
	return 0;
}
