/* bench_smtp_client: the load of bench/bench_smtp.py --client c, in C.
 *
 * The same conversation as the Python raw client (bench_smtp.py's
 * RawConn), at a fraction of its CPU, so that with the clients on the
 * same two cores as the daemon more of them are left to the daemon: EHLO
 * after the 220 (PIPELINING required), MAIL + RCPTs + DATA in one write,
 * the body after the 354, and the message counted only on the 250 after
 * the dot; QUIT after it when each message has its own connection (or
 * after the last one). Every reply code is checked; anything unexpected
 * ends the run with exit status 1. All connections run in one process,
 * one epoll loop.
 *
 *   bench_smtp_client HOST PORT CONNS PER_CONN NEW_CONN NRCPTS DATAFILE \
 *       SENDER RCPT...
 *
 * DATAFILE holds the message dot-stuffed and ended by ".\r\n". Connection
 * k's message i goes to RCPT[(k + i + j) % n], j < NRCPTS (the Python
 * client's rotation). Prints one line: acked=N seconds=S cpu_seconds=C
 * (wall time from the first connect to the last reply, and this process's
 * user + system time over the same span). */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum cstate { ST_GREETING, ST_EHLO, ST_ENVELOPE, ST_DATA, ST_QUIT };

struct bconn {
	int fd;
	unsigned k;               /* connection number: the rotation */
	enum cstate state;
	unsigned left;            /* messages still to send */
	unsigned sent;            /* messages begun (the rotation's i) */
	unsigned expect;          /* replies still awaited in this state */
	unsigned gen;             /* connections opened */
	bool pipelining;
	const char *out;          /* what is not written yet */
	size_t outlen;
	char env[4096];           /* this message's MAIL, RCPTs and DATA */
	char in[4096];
	size_t inlen;
};

static struct {
	struct sockaddr_storage addr;
	socklen_t addrlen;
	int ep;
	bool new_conn;
	unsigned nrcpts;
	const char *sender;
	char **rcpts;
	unsigned nr;
	char *data;
	size_t datalen;
	unsigned long acked;
	unsigned live;
} B;

static void
die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("bench_smtp_client: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static void
want(struct bconn *c, bool out)
{
	struct epoll_event ev = { .events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c };
	if (epoll_ctl(B.ep, EPOLL_CTL_MOD, c->fd, &ev) != 0)
		die("epoll_ctl: %s", strerror(errno));
}

/* Writes what it can now; the rest when the socket takes it. */
static void
send_bytes(struct bconn *c, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(c->fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n < 0)
			die("write: %s", strerror(errno));
		p += n;
		len -= (size_t)n;
	}
	bool was = c->outlen > 0;
	c->out = p;
	c->outlen = len;
	if (was != (len > 0))
		want(c, len > 0);
}

static void
conn_open(struct bconn *c)
{
	int one = 1;
	c->fd = socket(B.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		die("socket: %s", strerror(errno));
	(void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, (struct sockaddr *)&B.addr, B.addrlen) != 0 &&
	    errno != EINPROGRESS)
		die("connect: %s", strerror(errno));
	c->gen++;
	c->state = ST_GREETING;
	c->expect = 1;
	c->pipelining = false;
	c->inlen = 0;
	c->outlen = 0;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
	if (epoll_ctl(B.ep, EPOLL_CTL_ADD, c->fd, &ev) != 0)
		die("epoll_ctl: %s", strerror(errno));
}

static void
begin_message(struct bconn *c)
{
	int n = snprintf(c->env, sizeof(c->env), "MAIL FROM:<%s> SIZE=%zu\r\n",
	    B.sender, B.datalen);
	for (unsigned j = 0; j < B.nrcpts; j++)
		n += snprintf(c->env + n, sizeof(c->env) - (size_t)n, "RCPT TO:<%s>\r\n",
		    B.rcpts[(c->k + c->sent + j) % B.nr]);
	n += snprintf(c->env + n, sizeof(c->env) - (size_t)n, "DATA\r\n");
	if ((size_t)n >= sizeof(c->env))
		die("envelope too long");
	c->state = ST_ENVELOPE;
	c->expect = B.nrcpts + 2;   /* 250 MAIL, 250 per RCPT, 354 */
	c->sent++;
	send_bytes(c, c->env, (size_t)n);
}

/* The last reply awaited in this state has come. */
static void
step(struct bconn *c)
{
	static const char ehlo[] = "EHLO bench.example.net\r\n", quit[] = "QUIT\r\n";

	switch (c->state) {
	case ST_GREETING:
		c->state = ST_EHLO;
		c->expect = 1;
		send_bytes(c, ehlo, sizeof(ehlo) - 1);
		break;
	case ST_EHLO:
		if (!c->pipelining)
			die("EHLO reply without PIPELINING");
		begin_message(c);
		break;
	case ST_ENVELOPE:
		c->state = ST_DATA;
		c->expect = 1;
		send_bytes(c, B.data, B.datalen);
		break;
	case ST_DATA:
		B.acked++;
		c->left--;
		if (c->left == 0 || B.new_conn) {
			c->state = ST_QUIT;
			c->expect = 1;
			send_bytes(c, quit, sizeof(quit) - 1);
		} else
			begin_message(c);
		break;
	case ST_QUIT:
		(void)epoll_ctl(B.ep, EPOLL_CTL_DEL, c->fd, NULL);
		(void)close(c->fd);
		c->fd = -1;
		if (c->left > 0)
			conn_open(c);
		else
			B.live--;
		break;
	}
}

static const char *
expected(const struct bconn *c)
{
	switch (c->state) {
	case ST_GREETING: return "220";
	case ST_ENVELOPE: return c->expect == 1 ? "354" : "250";
	case ST_QUIT:     return "221";
	default:          return "250";
	}
}

static void
on_line(struct bconn *c, const char *line, size_t len)
{
	if (c->state == ST_EHLO && len == 14 && strncasecmp(line + 4, "PIPELINING", 10) == 0)
		c->pipelining = true;
	if (len >= 4 && line[3] == '-')
		return;
	if (c->expect == 0)
		die("unexpected reply %.*s", (int)len, line);
	const char *code = expected(c);
	if (len < 3 || memcmp(line, code, 3) != 0)
		die("expected %s, got %.*s", code, (int)len, line);
	if (--c->expect == 0)
		step(c);
}

static void
readable(struct bconn *c)
{
	ssize_t n = read(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0)
		die("read: %s", strerror(errno));
	if (n == 0)
		die("the server closed the connection (state %d)", (int)c->state);
	c->inlen += (size_t)n;
	size_t off = 0;
	unsigned gen = c->gen;
	char *eol;
	while (c->fd >= 0 &&
	    (eol = memchr(c->in + off, '\n', c->inlen - off)) != NULL) {
		size_t len = (size_t)(eol - (c->in + off));
		if (len > 0 && c->in[off + len - 1] == '\r')
			len--;
		size_t next = (size_t)(eol - c->in) + 1;
		on_line(c, c->in + off, len);
		off = next;
		if (c->fd < 0 || c->gen != gen) {
			off = c->inlen = 0;   /* reconnected: the old input is gone */
			break;
		}
	}
	if (off > 0) {
		memmove(c->in, c->in + off, c->inlen - off);
		c->inlen -= off;
	}
	if (c->inlen == sizeof(c->in))
		die("reply line too long");
}

static double
now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double
cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	    (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void
load_data(const char *path)
{
	FILE *f = fopen(path, "rb");
	struct stat sb;
	if (f == NULL || fstat(fileno(f), &sb) != 0)
		die("%s: %s", path, strerror(errno));
	B.datalen = (size_t)sb.st_size;
	B.data = malloc(B.datalen ? B.datalen : 1);
	if (B.data == NULL || fread(B.data, 1, B.datalen, f) != B.datalen)
		die("%s: short read", path);
	fclose(f);
}

int
main(int argc, char **argv)
{
	if (argc < 10)
		die("usage: HOST PORT CONNS PER_CONN NEW_CONN NRCPTS DATAFILE SENDER RCPT...");
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
	int e = getaddrinfo(argv[1], argv[2], &hints, &ai);
	if (e != 0)
		die("%s:%s: %s", argv[1], argv[2], gai_strerror(e));
	memcpy(&B.addr, ai->ai_addr, ai->ai_addrlen);
	B.addrlen = ai->ai_addrlen;
	freeaddrinfo(ai);
	unsigned nconns = (unsigned)strtoul(argv[3], NULL, 10);
	unsigned per = (unsigned)strtoul(argv[4], NULL, 10);
	B.new_conn = strcmp(argv[5], "1") == 0;
	B.nrcpts = (unsigned)strtoul(argv[6], NULL, 10);
	load_data(argv[7]);
	B.sender = argv[8];
	B.rcpts = argv + 9;
	B.nr = (unsigned)(argc - 9);
	if (nconns == 0 || per == 0 || B.nrcpts == 0)
		die("CONNS, PER_CONN and NRCPTS must be positive");
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	if ((B.ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
		die("epoll_create1: %s", strerror(errno));
	struct bconn *conns = calloc(nconns, sizeof(*conns));
	if (conns == NULL)
		die("out of memory");

	double t0 = now_s(), c0 = cpu_s();
	for (unsigned k = 0; k < nconns; k++) {
		conns[k].k = k;
		conns[k].left = per;
		conn_open(&conns[k]);
	}
	B.live = nconns;
	struct epoll_event evs[256];
	while (B.live > 0) {
		int n = epoll_wait(B.ep, evs, 256, 120000);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("epoll_wait: %s", strerror(errno));
		if (n == 0)
			die("no reply for 120 s");
		for (int i = 0; i < n; i++) {
			struct bconn *c = evs[i].data.ptr;
			if ((evs[i].events & EPOLLOUT) && c->outlen > 0)
				send_bytes(c, c->out, c->outlen);
			if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
				readable(c);
		}
	}
	double secs = now_s() - t0, cpu = cpu_s() - c0;
	printf("acked=%lu seconds=%.4f cpu_seconds=%.4f\n", B.acked, secs, cpu);
	free(conns);
	free(B.data);
	return 0;
}
