/* crash_store.c: the store's crash test (issue 3, "Must show").
 *
 * Each cycle forks a child that delivers from several threads and writes
 * one line to a pipe for every store_deliver() that returned STORE_OK; the
 * parent SIGKILLs it after a random 20-300 ms, reopens the environment
 * (DB_REGISTER sees the dead process and runs recovery) and checks:
 * every acknowledged delivery is present byte-exact under the UID it was
 * given, every message in the store is a whole message (bodies are
 * generated from the id they carry, so any partial body is caught), UIDs
 * strictly ascend and are never given twice, and the mailbox counters,
 * quota usage and body reference counts agree with the index.
 *
 * And that a delivery is acknowledged only after the log was synced: the
 * program interposes fdatasync(2)/fsync(2) (Berkeley DB's log sync calls
 * them through the dynamic linker, so the definitions here win, as an
 * LD_PRELOAD shim would) and numbers every sync of a log.* file. A
 * delivery that returns STORE_OK without a log sync that started after
 * the call began (so after nothing of it was in the log) and finished
 * before it returned is reported to the parent (a line "nosync"), and the
 * test fails. Remove the flush before the acknowledgement and nearly
 * every delivery is reported. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <dlfcn.h>
#include <limits.h>
#include <stdatomic.h>

#include "lib/util.h"
#include "store/store.h"

#define CYCLES_MIN      20
#define CYCLES_MAX      24
#define TIME_BUDGET_MS  45000
#define THREADS         4
#define NUSERS          4
#define MAX_ACKS        400000

static const char *const users[NUSERS] = { "u0@crash.test", "u1@crash.test",
    "u2@crash.test", "u3@crash.test" };
static const char *const boxes[2] = { "INBOX", "Archive" };

struct ack {
	uint64_t id;
	uint32_t uid, uidvalidity;
	uint8_t user, box;
	uint64_t hash;
};

static struct ack *acks;
static size_t nacks;
static size_t nosync;        /* acknowledgements without a log sync */
static char tmpdir[64];
static int failures;

static void __attribute__((format(printf, 1, 2)))
fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "crash_store: FAIL: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	failures++;
}

static uint64_t
xorshift(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static uint64_t
fnv1a(const char *p, size_t n)
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
	return h;
}

/* The message for id: a header naming the id and a body derived from it.
 * Every 40th is over 64 KiB so that bodies span several chunks. */
static char *
gen_message(uint64_t id, size_t *len_r)
{
	uint64_t s = id * 0x9E3779B97F4A7C15ULL + 1;
	size_t body = (id % 40 == 0) ? 70000 + xorshift(&s) % 70000 : 200 + xorshift(&s) % 4000;
	char *m = xmalloc(body + 128);
	int n = snprintf(m, 128, "X-Id: %" PRIu64 "\r\nSubject: crash test\r\n\r\n", id);
	for (size_t i = 0; i < body; i++) {
		if (i % 78 == 76)
			m[n + i] = '\r';
		else if (i % 78 == 77)
			m[n + i] = '\n';
		else
			m[n + i] = (char)('A' + xorshift(&s) % 58);
	}
	*len_r = (size_t)n + body;
	m[*len_r] = '\0';
	return m;
}

/* Which users/mailboxes an id goes to (1 or 2 recipients). */
static size_t
targets_of(uint64_t id, uint8_t *u, uint8_t *b)
{
	uint64_t s = id * 31 + 7;
	u[0] = (uint8_t)(xorshift(&s) % NUSERS);
	b[0] = (uint8_t)(xorshift(&s) % 5 == 0);
	if (xorshift(&s) % 3 != 0)
		return 1;
	u[1] = (uint8_t)((u[0] + 1 + xorshift(&s) % (NUSERS - 1)) % NUSERS);
	b[1] = 0;
	return 2;
}

/* ---- log syncs between the commit and the acknowledgement ---- */

static atomic_uint_fast64_t sync_started;   /* log syncs begun */
static atomic_uint_fast64_t sync_covered;   /* highest number of a finished one */

static bool
is_log_fd(int fd)
{
	char path[64], target[PATH_MAX];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(path, target, sizeof(target) - 1);
	if (n <= 0)
		return false;
	target[n] = '\0';
	const char *base = strrchr(target, '/');
	return base != NULL && strncmp(base + 1, "log.", 4) == 0;
}

static int
counted_sync(int fd, const char *name)
{
	int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, name);
	if (real == NULL)
		abort();
	if (!is_log_fd(fd))
		return real(fd);
	uint64_t no = atomic_fetch_add(&sync_started, 1) + 1;
	int r = real(fd);
	if (r == 0) {
		uint64_t cur = atomic_load(&sync_covered);
		while (cur < no && !atomic_compare_exchange_weak(&sync_covered, &cur, no))
			;
	}
	return r;
}

int fdatasync(int fd);
int fsync(int fd);

int
fdatasync(int fd)
{
	return counted_sync(fd, "fdatasync");
}

int
fsync(int fd)
{
	return counted_sync(fd, "fsync");
}

/* ---- the child ---- */

static struct store *cst;
static int ackfd;
static unsigned cycle_no;

static void *
child_thread(void *arg)
{
	long t = (long)arg;
	for (uint64_t seq = 0; ; seq++) {
		uint64_t id = ((uint64_t)cycle_no << 32) | ((uint64_t)t << 24) | seq;
		uint8_t u[2], b[2];
		size_t n = targets_of(id, u, b), len;
		struct store_rcpt rc[2];
		char *msg = gen_message(id, &len);
		for (size_t i = 0; i < n; i++)
			rc[i] = (struct store_rcpt){ .user = users[u[i]], .mailbox = boxes[b[i]] };
		uint64_t mark = atomic_load(&sync_started);
		int r = store_deliver(cst, rc, n, msg, len, time(NULL), "cache", 5,
		    NULL, 0, false);
		if (r != STORE_OK) {
			fprintf(stderr, "child: deliver: %s\n", store_strerror(r));
			_exit(3);
		}
		if (atomic_load(&sync_covered) <= mark &&
		    write(ackfd, "nosync\n", 7) != 7)
			_exit(4);
		uint64_t h = fnv1a(msg, len);
		for (size_t i = 0; i < n; i++) {
			char line[160];
			int l = snprintf(line, sizeof(line), "%" PRIu64 " %u %u %u %u %" PRIu64 "\n",
			    id, u[i], b[i], rc[i].uid_r, rc[i].uidvalidity_r, h);
			if (rc[i].result_r != STORE_OK || write(ackfd, line, (size_t)l) != l)
				_exit(4);
		}
		free(msg);
	}
	return NULL;
}

static void
child_main(int fd)
{
	char err[256];
	pthread_t th[THREADS];
	ackfd = fd;
	if (store_open(tmpdir, STORE_OPEN_CREATE | STORE_OPEN_RECOVER, &cst, err,
	    sizeof(err)) != STORE_OK) {
		fprintf(stderr, "child: %s\n", err);
		_exit(2);
	}
	for (long i = 0; i < THREADS; i++)
		pthread_create(&th[i], NULL, child_thread, (void *)i);
	for (;;)
		pause();
}

/* ---- the parent ---- */

static void
read_acks(int fd)
{
	static char buf[1 << 16];
	static size_t have;
	ssize_t n;
	while ((n = read(fd, buf + have, sizeof(buf) - have)) > 0) {
		have += (size_t)n;
		char *p = buf, *nl;
		while ((nl = memchr(p, '\n', have - (size_t)(p - buf))) != NULL) {
			*nl = '\0';
			struct ack a;
			if (strcmp(p, "nosync") == 0) {
				if (nosync++ == 0)
					fail("a delivery was acknowledged before a log sync "
					    "that started after it began had finished");
				p = nl + 1;
				continue;
			}
			unsigned u, b;
			if (sscanf(p, "%" SCNu64 " %u %u %u %u %" SCNu64, &a.id, &u, &b,
			    &a.uid, &a.uidvalidity, &a.hash) != 6 || nacks >= MAX_ACKS) {
				fail("bad ack line or too many: %s", p);
			} else {
				a.user = (uint8_t)u;
				a.box = (uint8_t)b;
				acks[nacks++] = a;
			}
			p = nl + 1;
		}
		have -= (size_t)(p - buf);
		memmove(buf, p, have);
	}
	/* a partial last line is an unfinished write of a killed child: not an ack */
	have = 0;
}

struct seen {                /* per mailbox: checked UIDs so far */
	uint32_t uidvalidity;
	uint32_t max_uid;
};

static struct seen seen[NUSERS][2];

/* Parses "X-Id: N" from a stored body and checks the whole body. */
static bool
check_body(struct store *st, uint64_t body_id, uint64_t size, uint64_t *id_r)
{
	char *data, *want;
	size_t len, wlen;
	uint64_t id;
	if (store_body_get(st, body_id, &data, &len) != STORE_OK) {
		fail("body %" PRIu64 " missing", body_id);
		return false;
	}
	bool ok = len == size && sscanf(data, "X-Id: %" SCNu64, &id) == 1;
	if (ok) {
		want = gen_message(id, &wlen);
		ok = wlen == len && memcmp(want, data, len) == 0;
		free(want);
		*id_r = id;
	}
	if (!ok)
		fail("body %" PRIu64 " is not a whole message (len %zu, size %" PRIu64 ")",
		    body_id, len, size);
	free(data);
	return ok;
}

static void
verify(struct store *st, size_t acks_before)
{
	for (int u = 0; u < NUSERS; u++) {
		uint64_t ubytes = 0, umsgs = 0, qb, qm;
		for (int b = 0; b < 2; b++) {
			struct store_index *idx;
			if (store_index_read(st, users[u], boxes[b], &idx) != STORE_OK) {
				fail("index of %s/%s", users[u], boxes[b]);
				continue;
			}
			struct seen *sn = &seen[u][b];
			if (sn->uidvalidity == 0)
				sn->uidvalidity = idx->mailbox.uidvalidity;
			if (sn->uidvalidity != idx->mailbox.uidvalidity)
				fail("uidvalidity of %s/%s changed", users[u], boxes[b]);
			uint64_t bytes = 0;
			uint32_t unseen = 0, last = 0;
			for (size_t i = 0; i < idx->nmsgs; i++) {
				const struct store_msg *m = &idx->msgs[i];
				if (m->uid <= last)
					fail("UIDs do not ascend in %s/%s", users[u], boxes[b]);
				last = m->uid;
				bytes += m->size;
				unseen += !(m->flags & MSG_SEEN);
				if (m->uid > sn->max_uid) {       /* new since last check */
					uint64_t id;
					uint32_t refs;
					if (check_body(st, m->body_id, m->size, &id)) {
						uint8_t tu[2], tb[2];
						size_t n = targets_of(id, tu, tb);
						store_body_refs(st, m->body_id, &refs);
						if (refs != n)
							fail("body %" PRIu64 " has %u refs, want %zu",
							    m->body_id, refs, n);
					}
				}
			}
			if (idx->mailbox.messages != idx->nmsgs || idx->mailbox.bytes != bytes ||
			    idx->mailbox.unseen != unseen || idx->mailbox.uidnext <= last)
				fail("counters of %s/%s do not match the index", users[u], boxes[b]);
			/* every acknowledged delivery of this cycle, byte-exact */
			for (size_t k = acks_before; k < nacks; k++) {
				struct ack *a = &acks[k];
				if (a->user != u || a->box != b)
					continue;
				size_t lo = 0, hi = idx->nmsgs;
				while (lo < hi) {
					size_t mid = (lo + hi) / 2;
					if (idx->msgs[mid].uid < a->uid)
						lo = mid + 1;
					else
						hi = mid;
				}
				if (lo == idx->nmsgs || idx->msgs[lo].uid != a->uid ||
				    a->uidvalidity != idx->mailbox.uidvalidity) {
					fail("acknowledged id %" PRIu64 " (uid %u) lost", a->id, a->uid);
					continue;
				}
				if (a->uid <= sn->max_uid)
					fail("uid %u given twice", a->uid);
				char *data;
				size_t len, wlen;
				char *want = gen_message(a->id, &wlen);
				if (store_body_get(st, idx->msgs[lo].body_id, &data, &len) != STORE_OK ||
				    len != wlen || memcmp(data, want, len) != 0 ||
				    fnv1a(data, len) != a->hash)
					fail("acknowledged id %" PRIu64 " differs", a->id);
				else
					free(data);
				free(want);
			}
			sn->max_uid = last > sn->max_uid ? last : sn->max_uid;
			ubytes += bytes;
			umsgs += idx->nmsgs;
			store_index_free(&idx);
		}
		if (store_quota_usage(st, users[u], &qb, &qm) != STORE_OK ||
		    qb != ubytes || qm != umsgs)
			fail("quota usage of %s does not match its mailboxes", users[u]);
	}
}


int
main(void)
{
	struct store *st;
	char err[256], hash[256];
	uint64_t t0 = mm_now_ms();
	unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
	int cycles = 0;

	alarm(120);
	acks = xmalloc(MAX_ACKS * sizeof(*acks));
	strcpy(tmpdir, "/tmp/crash_store.XXXXXX");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	if (store_open(tmpdir, STORE_OPEN_CREATE | STORE_OPEN_RECOVER, &st, err,
	    sizeof(err)) != STORE_OK || store_hash_password("x", hash, sizeof(hash)) != STORE_OK) {
		fprintf(stderr, "crash_store: %s\n", err);
		return 1;
	}
	for (int u = 0; u < NUSERS; u++)
		if (store_user_add(st, users[u], hash) != STORE_OK) {
			fprintf(stderr, "crash_store: user add failed\n");
			return 1;
		}
	store_close(&st);

	for (cycles = 0; cycles < CYCLES_MAX && failures == 0; cycles++) {
		if (cycles >= CYCLES_MIN && mm_now_ms() - t0 > TIME_BUDGET_MS)
			break;
		int p[2];
		if (pipe(p) != 0) {
			perror("pipe");
			return 1;
		}
		(void)fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
		cycle_no = (unsigned)cycles + 1;
		pid_t pid = fork();
		if (pid == 0) {
			close(p[0]);
			child_main(p[1]);
		}
		close(p[1]);
		size_t before = nacks;
		struct timespec ts = { 0, (20 + rand_r(&seed) % 281) * 1000000L };
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		int status;
		waitpid(pid, &status, 0);
		if (!WIFSIGNALED(status))
			fail("child exited by itself (status %d)", status);
		read_acks(p[0]);
		close(p[0]);

		if (store_open(tmpdir, STORE_OPEN_RECOVER, &st, err, sizeof(err)) != STORE_OK) {
			fail("reopen after kill: %s", err);
			break;
		}
		verify(st, before);
		printf("crash_store: cycle %d killed after %ld ms, %zu acknowledged\n",
		    cycles + 1, ts.tv_nsec / 1000000L, nacks - before);
		if (cycles % 5 == 4)
			store_checkpoint(st);
		store_close(&st);
	}
	mm_rmtree(tmpdir);
	printf("crash_store: %d kill cycles, %zu acknowledged deliveries checked, "
	    "%zu without a log sync, %.1f s\n",
	    cycles, nacks, nosync, (double)(mm_now_ms() - t0) / 1000.0);
	if (cycles < CYCLES_MIN && failures == 0)
		fail("only %d cycles", cycles);
	if (nacks == 0)
		fail("no delivery was acknowledged at all");
	printf("crash_store: %d passed, %d failed\n", failures ? 0 : 1, failures ? 1 : 0);
	return failures ? 1 : 0;
}
