/* bench_changed.c: what an IMAP sync costs after one change, on a big
 * mailbox (issue 19 item 2). Fills one INBOX with N small messages (8
 * writer threads), then repeats: one delivery, then the read every session
 * with the mailbox selected does after the notification --
 * store_index_read_changed(since = the modseq it had) -- and the same
 * after a flag change on a random old message; next to a whole index read
 * of the mailbox, which is what read_changed cost before the change log
 * (it scanned the mailbox and filtered by modseq). Prints medians and p99.
 * Built by `make bench`, never run by make check.
 *
 * usage: bench_changed [-d DIR] [-n MESSAGES] [-r ROUNDS] */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/util.h"
#include "store/store.h"

#define USER "big@bench.test"
#define FILLERS 8

static struct store *st;
static long nfill;

static double
now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static const char msg[] = "From: a@bench.test\r\nSubject: bench\r\n\r\nbody\r\n";

static void
deliver(void)
{
	struct store_rcpt rc = { .user = USER };
	if (store_deliver(st, &rc, 1, msg, sizeof(msg) - 1, time(NULL), NULL, 0, NULL, 0,
	    false) != STORE_OK || rc.result_r != STORE_OK) {
		fprintf(stderr, "bench_changed: deliver failed\n");
		exit(1);
	}
}

static void *
filler(void *arg)
{
	(void)arg;
	for (long i = 0; i < nfill / FILLERS; i++)
		deliver();
	return NULL;
}

static int
dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void
report(const char *what, double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), dcmp);
	printf("%-58s p50 %9.1f us  p99 %9.1f us\n", what, v[n / 2], v[(n * 99) / 100]);
}


int
main(int argc, char **argv)
{
	const char *base = "/tmp";
	int rounds = 200, opt;
	char dir[256], err[256], hash[256];

	nfill = 50000;
	while ((opt = getopt(argc, argv, "d:n:r:")) != -1) {
		if (opt == 'd')
			base = optarg;
		else if (opt == 'n')
			nfill = atol(optarg);
		else if (opt == 'r')
			rounds = atoi(optarg);
		else {
			fprintf(stderr, "usage: bench_changed [-d DIR] [-n MESSAGES] [-r ROUNDS]\n");
			return 2;
		}
	}
	if (rounds < 2 || nfill < FILLERS) {
		fprintf(stderr, "bench_changed: -r at least 2, -n at least %d\n", FILLERS);
		return 2;
	}
	snprintf(dir, sizeof(dir), "%s/bench_changed.XXXXXX", base);
	if (mkdtemp(dir) == NULL ||
	    store_open(dir, STORE_OPEN_CREATE, &st, err, sizeof(err)) != STORE_OK ||
	    store_hash_password("x", hash, sizeof(hash)) != STORE_OK ||
	    store_user_add(st, USER, hash) != STORE_OK) {
		fprintf(stderr, "bench_changed: setup failed: %s\n", err);
		return 1;
	}
	double t0 = now_us();
	pthread_t th[FILLERS];
	for (int i = 0; i < FILLERS; i++)
		pthread_create(&th[i], NULL, filler, NULL);
	for (int i = 0; i < FILLERS; i++)
		pthread_join(th[i], NULL);
	printf("bench_changed: %ld messages in INBOX, filled in %.1f s\n",
	    nfill / FILLERS * FILLERS, (now_us() - t0) / 1e6);

	double *after_dlv = xmalloc(rounds * sizeof(double));
	double *after_flag = xmalloc(rounds * sizeof(double));
	double *full = xmalloc(rounds * sizeof(double));
	struct store_index *idx;
	unsigned seed = 1;
	for (int i = 0; i < rounds; i++) {
		if (store_index_read(st, USER, "INBOX", &idx) != STORE_OK)
			return 1;
		uint64_t since = idx->mailbox.highestmodseq;
		uint32_t old = idx->msgs[rand_r(&seed) % (idx->nmsgs / 2)].uid;
		store_index_free(&idx);

		deliver();
		double a = now_us();
		if (store_index_read_changed(st, USER, "INBOX", since, &idx) != STORE_OK ||
		    idx->nmsgs != 1)
			return 1;
		after_dlv[i] = now_us() - a;
		since = idx->mailbox.highestmodseq;
		store_index_free(&idx);

		if (store_flags_update(st, USER, "INBOX", &old, 1, STORE_FLAGS_ADD,
		    MSG_FLAGGED, NULL, 0, 0, NULL, NULL) != STORE_OK)
			return 1;
		a = now_us();
		if (store_index_read_changed(st, USER, "INBOX", since, &idx) != STORE_OK)
			return 1;
		after_flag[i] = now_us() - a;
		store_index_free(&idx);

		a = now_us();
		if (store_index_read(st, USER, "INBOX", &idx) != STORE_OK)
			return 1;
		full[i] = now_us() - a;
		store_index_free(&idx);
	}
	report("read_changed after one delivery", after_dlv, rounds);
	report("read_changed after one flag change (old message)", after_flag, rounds);
	report("whole index read (what read_changed cost before)", full, rounds);
	store_close(&st);
	mm_rmtree(dir);
	return 0;
}
