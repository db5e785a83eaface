/* crash_shown.c: no UID is ever shown twice across a crash (issue 19 item
 * 2). Read-only transactions skip the log flush when the log is synced to
 * its end (store-bdb.c, sdb_read_flush); this checks that what a reader is
 * shown is durable all the same.
 *
 * Each cycle forks a child in which writer threads deliver to one INBOX
 * (and set flags) while watcher threads do what an IMAP session in IDLE
 * does: read what changed since the modseq they last saw
 * (store_index_read_changed, the change log), read each new message's
 * body, and write one line "uid X-Id" to a pipe for every message they
 * were shown. The parent SIGKILLs the child after a random 20-300 ms,
 * reopens the store (recovery), and checks that every UID ever shown is
 * still there with the same message: a shown UID that a crash lost would
 * be given again to another message, and shown twice. */
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/util.h"
#include "store/store.h"

#define CYCLES          12
#define WRITERS         3
#define WATCHERS        3
#define MAX_SHOWN       400000
#define USER            "w@crash.test"

static char tmpdir[64];
static struct store *cst;
static int shownfd;
static unsigned cycle_no;
static uint64_t *shown;      /* [uid]: X-Id shown for it, 0 = not shown */
static int failures;

static void *
writer(void *arg)
{
	long t = (long)arg;
	for (uint64_t seq = 1; ; seq++) {
		char msg[200];
		uint64_t id = ((uint64_t)cycle_no << 40) | ((uint64_t)t << 32) | seq;
		int n = snprintf(msg, sizeof(msg), "X-Id: %" PRIu64 "\r\nSubject: s\r\n\r\n"
		    "body %" PRIu64 "\r\n", id, id);
		struct store_rcpt rc = { .user = USER, .mailbox = "INBOX" };
		if (store_deliver(cst, &rc, 1, msg, (size_t)n, time(NULL), NULL, 0, NULL, 0,
		    false) != STORE_OK)
			_exit(3);
		if (seq % 4 == 0 && rc.uid_r > 2) {
			uint32_t u = rc.uid_r - 2;
			(void)store_flags_update(cst, USER, "INBOX", &u, 1, STORE_FLAGS_ADD,
			    MSG_SEEN, NULL, 0, 0, NULL, NULL);
		}
	}
	return NULL;
}

static void *
watcher(void *arg)
{
	uint64_t since = 0;
	uint32_t last = 0;
	(void)arg;
	for (;;) {
		struct store_index *idx;
		int r = since == 0 ? store_index_read(cst, USER, "INBOX", &idx) :
		    store_index_read_changed(cst, USER, "INBOX", since, &idx);
		if (r != STORE_OK)
			_exit(4);
		for (size_t i = 0; i < idx->nmsgs; i++) {
			const struct store_msg *m = &idx->msgs[i];
			char *data, line[64];
			size_t len;
			uint64_t id;
			if (m->uid <= last)
				continue;              /* a flag change: shown before */
			if (store_body_get(cst, m->body_id, &data, &len) != STORE_OK ||
			    sscanf(data, "X-Id: %" SCNu64, &id) != 1)
				_exit(5);
			free(data);
			int l = snprintf(line, sizeof(line), "%u %" PRIu64 "\n", m->uid, id);
			if (write(shownfd, line, (size_t)l) != l)
				_exit(6);
			last = m->uid;
		}
		since = idx->mailbox.highestmodseq;
		store_index_free(&idx);
	}
	return NULL;
}

static void
child_main(int fd)
{
	char err[256];
	pthread_t th[WRITERS + WATCHERS];
	shownfd = fd;
	if (store_open(tmpdir, STORE_OPEN_CREATE | STORE_OPEN_RECOVER, &cst, err,
	    sizeof(err)) != STORE_OK)
		_exit(2);
	for (long i = 0; i < WRITERS; i++)
		pthread_create(&th[i], NULL, writer, (void *)i);
	for (long i = 0; i < WATCHERS; i++)
		pthread_create(&th[WRITERS + i], NULL, watcher, NULL);
	for (;;)
		pause();
}

static size_t
read_shown(int fd)
{
	static char buf[1 << 16];
	size_t have = 0, count = 0;
	ssize_t n;
	while ((n = read(fd, buf + have, sizeof(buf) - have)) > 0) {
		have += (size_t)n;
		char *p = buf, *nl;
		while ((nl = memchr(p, '\n', have - (size_t)(p - buf))) != NULL) {
			unsigned uid;
			uint64_t id;
			*nl = '\0';
			if (sscanf(p, "%u %" SCNu64, &uid, &id) != 2 || uid >= MAX_SHOWN) {
				fprintf(stderr, "crash_shown: FAIL: bad line %s\n", p);
				failures++;
			} else if (shown[uid] != 0 && shown[uid] != id) {
				fprintf(stderr, "crash_shown: FAIL: uid %u shown as %" PRIu64
				    " and as %" PRIu64 "\n", uid, shown[uid], id);
				failures++;
			} else {
				shown[uid] = id;
				count++;
			}
			p = nl + 1;
		}
		have -= (size_t)(p - buf);
		memmove(buf, p, have);
	}
	return count;
}

static void
verify(struct store *st)
{
	struct store_index *idx;
	if (store_index_read(st, USER, "INBOX", &idx) != STORE_OK) {
		fprintf(stderr, "crash_shown: FAIL: index read\n");
		failures++;
		return;
	}
	static uint64_t *have;
	if (have == NULL)
		have = xcalloc(MAX_SHOWN, sizeof(*have));
	memset(have, 0, MAX_SHOWN * sizeof(*have));
	for (size_t i = 0; i < idx->nmsgs; i++) {
		char *data;
		size_t len;
		uint64_t id;
		if (idx->msgs[i].uid >= MAX_SHOWN)
			continue;
		if (store_body_get(st, idx->msgs[i].body_id, &data, &len) == STORE_OK &&
		    sscanf(data, "X-Id: %" SCNu64, &id) == 1)
			have[idx->msgs[i].uid] = id;
		free(data);
	}
	for (uint32_t u = 0; u < MAX_SHOWN; u++)
		if (shown[u] != 0 && have[u] != shown[u]) {
			fprintf(stderr, "crash_shown: FAIL: uid %u was shown (X-Id %" PRIu64
			    ") and after the crash is %s %" PRIu64 "\n", u, shown[u],
			    have[u] ? "another message," : "gone", have[u]);
			failures++;
		}
	store_index_free(&idx);
}


int
main(void)
{
	struct store *st;
	char err[256], hash[256];
	unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
	size_t total = 0;

	alarm(120);
	shown = xcalloc(MAX_SHOWN, sizeof(*shown));
	strcpy(tmpdir, "/tmp/crash_shown.XXXXXX");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	if (store_open(tmpdir, STORE_OPEN_CREATE | STORE_OPEN_RECOVER, &st, err,
	    sizeof(err)) != STORE_OK || store_hash_password("x", hash, sizeof(hash)) != STORE_OK ||
	    store_user_add(st, USER, hash) != STORE_OK) {
		fprintf(stderr, "crash_shown: setup failed: %s\n", err);
		return 1;
	}
	store_close(&st);
	for (int c = 0; c < CYCLES && failures == 0; c++) {
		int p[2];
		if (pipe(p) != 0)
			return 1;
		(void)fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
		cycle_no = (unsigned)c + 1;
		pid_t pid = fork();
		if (pid == 0) {
			close(p[0]);
			child_main(p[1]);
		}
		close(p[1]);
		struct timespec ts = { 0, (20 + rand_r(&seed) % 281) * 1000000L };
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		int status;
		waitpid(pid, &status, 0);
		if (!WIFSIGNALED(status)) {
			fprintf(stderr, "crash_shown: FAIL: child exited (status %d)\n", status);
			failures++;
		}
		size_t n = read_shown(p[0]);
		close(p[0]);
		total += n;
		if (store_open(tmpdir, STORE_OPEN_RECOVER, &st, err, sizeof(err)) != STORE_OK) {
			fprintf(stderr, "crash_shown: FAIL: reopen: %s\n", err);
			failures++;
			break;
		}
		verify(st);
		printf("crash_shown: cycle %d killed after %ld ms, %zu shown\n", c + 1,
		    ts.tv_nsec / 1000000L, n);
		store_close(&st);
	}
	mm_rmtree(tmpdir);
	if (total == 0) {
		fprintf(stderr, "crash_shown: FAIL: nothing was shown at all\n");
		failures++;
	}
	printf("crash_shown: %zu messages shown, %s\n", total, failures ? "FAILED" : "passed");
	return failures ? 1 : 0;
}
