/* bench_store.c: durable deliveries per second of 10 KB messages with 1, 8
 * and 32 concurrent writer threads, next to the disk's single-thread
 * fsync rate measured in the same run and directory, and the log flushes
 * (fsyncs) each delivery cost. Built by `make bench`, never run by make
 * check. The one idea: if group commit works, 32 writers deliver far more
 * messages per second than the disk does fsyncs, and flushes/delivery
 * falls well below 1.
 *
 * usage: bench_store [-d DIR] [-t SECONDS] [-s BYTES] [-S]
 *   -d  where to put the temporary store (default /tmp)
 *   -t  seconds per measurement (default 2)
 *   -s  message size (default 10240)
 *   -S  also measure plain synchronous commits (STORE_OPEN_SYNC_COMMIT) */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/util.h"
#include "store/store.h"

#define WRITERS_MAX 32

static struct store *st;
static char *msg;
static size_t msglen;
static atomic_bool stop;
static char users[WRITERS_MAX][64];
static bool one_mailbox;

struct worker {
	pthread_t th;
	int n;
	uint64_t done;
	int err;
};

static void *
writer(void *arg)
{
	struct worker *w = arg;
	while (!atomic_load(&stop)) {
		struct store_rcpt rc = { .user = users[one_mailbox ? 0 : w->n] };
		int r = store_deliver(st, &rc, 1, msg, msglen, 0, NULL, 0, NULL, 0, false);
		if (r != STORE_OK || rc.result_r != STORE_OK) {
			w->err = r ? r : rc.result_r;
			break;
		}
		w->done++;
	}
	return NULL;
}

static double
now_s(void)
{
	return (double)mm_now_ms() / 1000.0;
}

/* Appends 512 bytes and fdatasyncs, for secs seconds, in dir. */
static double
fsync_rate(const char *dir, double secs)
{
	char path[600], buf[512];
	memset(buf, 'f', sizeof(buf));
	snprintf(path, sizeof(path), "%s/fsync-test", dir);
	int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC | O_APPEND, 0600);
	if (fd < 0) {
		perror(path);
		exit(1);
	}
	double t0 = now_s(), t;
	long n = 0;
	do {
		if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf) || fdatasync(fd) != 0) {
			perror("write/fdatasync");
			exit(1);
		}
		n++;
	} while ((t = now_s() - t0) < secs);
	close(fd);
	unlink(path);
	return (double)n / t;
}

static void
run(const char *mode, int nthreads, double secs, double fsyncs)
{
	struct worker w[WRITERS_MAX];
	uint64_t c0, f0, c1, f1, total = 0;

	memset(w, 0, sizeof(w));
	atomic_store(&stop, false);
	store_stats(st, &c0, &f0);
	double t0 = now_s();
	for (int i = 0; i < nthreads; i++) {
		w[i].n = i;
		pthread_create(&w[i].th, NULL, writer, &w[i]);
	}
	usleep((useconds_t)(secs * 1e6));
	atomic_store(&stop, true);
	for (int i = 0; i < nthreads; i++) {
		pthread_join(w[i].th, NULL);
		total += w[i].done;
		if (w[i].err)
			fprintf(stderr, "bench_store: writer %d: %s\n", i, store_strerror(w[i].err));
	}
	double t = now_s() - t0;
	store_stats(st, &c1, &f1);
	printf("%-12s %7d %14.0f %10.2fx %16.3f %10.1f MB/s\n", mode, nthreads,
	    (double)total / t, (double)total / t / fsyncs,
	    total ? (double)(f1 - f0) / (double)total : 0.0,
	    (double)total * (double)msglen / t / 1e6);
	fflush(stdout);
	(void)store_checkpoint(st);
}


static void
open_store(const char *dir, int flags)
{
	char err[256];
	if (store_open(dir, STORE_OPEN_CREATE | STORE_OPEN_RECOVER | flags, &st, err,
	    sizeof(err)) != STORE_OK) {
		fprintf(stderr, "bench_store: %s\n", err);
		exit(1);
	}
}

int
main(int argc, char **argv)
{
	const char *base = "/tmp";
	double secs = 2.0;
	bool sync_too = false;
	char dir[512], hash[256];
	int c;

	msglen = 10240;
	while ((c = getopt(argc, argv, "d:t:s:S")) != -1) {
		switch (c) {
		case 'd': base = optarg; break;
		case 't': secs = atof(optarg); break;
		case 's': msglen = (size_t)atol(optarg); break;
		case 'S': sync_too = true; break;
		default:
			fprintf(stderr, "usage: bench_store [-d DIR] [-t SECONDS] [-s BYTES] [-S]\n");
			return 1;
		}
	}
	if (secs <= 0 || msglen == 0 || msglen > 64 * 1024 * 1024) {
		fprintf(stderr, "bench_store: bad -t or -s\n");
		return 1;
	}
	snprintf(dir, sizeof(dir), "%s/bench_store.XXXXXX", base);
	if (mkdtemp(dir) == NULL) {
		perror(dir);
		return 1;
	}
	msg = xmalloc(msglen);
	for (size_t i = 0; i < msglen; i++)
		msg[i] = (i % 78 == 76) ? '\r' : (i % 78 == 77) ? '\n' : (char)('a' + i % 26);

	open_store(dir, 0);
	if (store_hash_password("bench", hash, sizeof(hash)) != STORE_OK)
		return 1;
	for (int i = 0; i < WRITERS_MAX; i++) {
		snprintf(users[i], sizeof(users[i]), "user%d@bench.test", i);
		if (store_user_add(st, users[i], hash) != STORE_OK) {
			fprintf(stderr, "bench_store: user add failed\n");
			return 1;
		}
	}
	double fs = fsync_rate(dir, 1.0);
	printf("bench_store: %zu-byte messages, %.1f s per run, store in %s\n",
	    msglen, secs, base);
	printf("disk: %.0f fdatasync/s (one thread appending 512 B, same directory)\n\n", fs);
	printf("%-12s %7s %14s %11s %16s %15s\n", "commit", "writers", "deliveries/s",
	    "vs fsync", "fsyncs/delivery", "throughput");
	int counts[] = { 1, 8, 32 };
	for (size_t i = 0; i < 3; i++)
		run("group", counts[i], secs, fs);
	one_mailbox = true;
	run("group 1mbox", 32, secs, fs);
	one_mailbox = false;
	if (sync_too) {
		store_close(&st);
		open_store(dir, STORE_OPEN_SYNC_COMMIT);
		for (size_t i = 0; i < 3; i++)
			run("sync", counts[i], secs, fs);
	}
	store_close(&st);
	mm_rmtree(dir);
	free(msg);
	return 0;
}
