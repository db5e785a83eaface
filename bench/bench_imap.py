#!/usr/bin/env python3
"""bench_imap: IMAP figures for the README (issue 5), not a test.

Starts minimaild (tests/e2e/mmtest.py: temporary data_dir, loopback ports
only) and measures, bounded in count and time:

1. idle:  server memory per connection with N sessions (default 2,000) in
   IDLE over 993 (TLS) -- VmRSS of the daemon from /proc/PID/status before
   and after, divided by N -- and the same over 143 without TLS (plaintext
   login allowed for this) to show what TLS costs; then the time to push
   one new message delivered over SMTP to all N IDLE sessions: for each of
   a few deliveries, from the moment the final "." of DATA is sent to the
   moment each session has read its "* n EXISTS" (p50/p99/max).
2. big:   a 50,000-message INBOX filled with pipelined LITERAL+ APPENDs on
   several connections (how long filling took), then LOGIN+SELECT and
   FETCH 1:* (UID FLAGS RFC822.SIZE) on it, repeated, median and max; then
   on the same mailbox SORT (ARRIVAL), (DATE), (SUBJECT), (FROM) and
   THREAD REFERENCES, then UID SEARCH SUBJECT of a one-message term,
   UID SEARCH FROM of one sender in 100, and SEARCH BODY of a word that
   only every 5,000th message has, each a fresh session's first command
   after SELECT (nothing cached between commands), median and max; then
   the two header SEARCHes again while another session keeps INBOX
   selected (the search records stay in memory), the first apart.
3. ops:   FETCH, STORE and SEARCH operations per second with 10 and 50
   concurrent clients on one 1,000-message mailbox, each client one
   command at a time, for a fixed number of seconds per figure; also the
   daemon's CPU time per operation (utime+stime from /proc/PID/stat), which
   does not depend on how fast this Python client is.

4. mix:   the everyday mix on a 2,000-message INBOX (issue 19): 1, 10
   and 50 clients spread over --procs processes, each looping over FETCH
   n BODY.PEEK[], FETCH 1:* (FLAGS), UID STORE +/-FLAGS (\\Flagged),
   SEARCH UNSEEN, SEARCH SUBJECT x and NOOP for --seconds; per command
   p50/p99, total ops/s, daemon CPU per op, the client processes' CPU per
   op. Not in the default --only (pass --only mix). The INBOX holds
   make_message's 0.3-1 KB messages (what the mix always had, although
   it was described as 5-20 KB until 2026-12-02), or with --mix-bodies
   5-20k make_mix_message's. --mix-rate R offers R ops/s in all (each
   client Poisson arrivals of R / clients a second) instead of the closed
   loop, so two servers can be compared at one load below this client's
   own CPU limit. --server dovecot runs the mix against a private Dovecot
   2.3 instead (DovecotServer: loopback port, maildir in a temporary
   directory, mail processes as nobody; its CPU is that of the master
   and every process under it, from /proc, sampled while the sessions
   are open).

The clients are asyncio (the machine has 2 cores shared by client and
server: client CPU is part of the wall-clock figures). The IDLE sessions are
opened by --workers client processes (default one per 5,000 sessions, at
most 8), each owning a slice and reporting back over a pipe; session i
connects from 127.0.0.(2 + i // --per-address) (default 20,000 a source
address: one address has only some 28,000 ephemeral ports toward the one
port of the daemon, which listens on 127.0.0.1). Up to 100,000 sessions:
the bench raises its RLIMIT_NOFILE to the hard limit (the daemon and the
clients inherit it) and opens fewer sessions, saying so, if that is below
what the daemon needs.

    MINIMAILD=./minimaild MINIMAILCTL=./minimailctl \\
        python3 bench/bench_imap.py [--sessions 2000] [--messages 50000] \\
        [--clients 10,50] [--seconds 5] [--only idle,big,ops] \\
        [--idle-messages 0] [--idle-variants tls,plain] [--push-on tls] \\
        [--workers 0] [--per-address 20000] [--idle-reader raw] \\
        [--only mix --mix-messages 2000 --mix-clients 1,10,50 --procs 4 \\
         --mix-rate 0 --mix-bodies small --server minimaild|dovecot]
        [--only sort --messages 50000]

--only sort (not in the default set) fills a --messages INBOX as big does
and times SORT (ARRIVAL/DATE/SUBJECT/FROM) and THREAD
REFERENCES/ORDEREDSUBJECT: once with nothing of the mailbox in memory,
then 5 times each while another session keeps INBOX selected, with the
daemon's CPU per command and where the sort keys came from.

--idle-messages N fills the IDLE sessions' INBOX with N messages first (a
session's cost per message of its mailbox shows: issue 19); --idle-variants
picks TLS and/or plaintext, --push-on the variants the pushes are timed on.
--idle-reader raw (the default) reads the pushes in each client process
with one epoll loop over the raw sockets (TLS records decrypted by each
session's own SSLObject); --idle-reader asyncio reads them through each
session's asyncio stream, as the bench did before 2026-12-02: that costs
the client some 25 us a session, so 2,000 sessions in one process put
about 50 ms of this client's own queueing into the p99.
"""
import argparse
import asyncio
import os
import random
import re
import resource
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))

PASSWORD = "bench-secret"
USERS = ["idle@example.org", "big@example.org", "ops@example.org", "mix@example.org"]
WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima "
         "mike november oscar papa quebec romeo sierra tango uniform victor").split()
DEADLINE_SECS = 1500          # the whole run stops by itself after this
IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)
SESSIONS_MAX = 100000


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1])
    return 0


def cpu_secs(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def make_message(i):
    rnd = random.Random(i)
    subj = " ".join(rnd.choice(WORDS) for _ in range(4))
    body = "\r\n".join(" ".join(rnd.choice(WORDS) for _ in range(10))
                       for _ in range(rnd.randint(3, 12)))
    # threads of four: each message after the first refers to its start
    refs = "References: <bench-%d@example.net>\r\n" % (i - i % 4) if i % 4 else ""
    if i % 5000 == 7:
        body += "\r\nthe rare word zanzibar"
    return ("From: Sender %d <sender%d@example.net>\r\n"
            "To: big@example.org\r\n"
            "Subject: %s %d\r\n"
            "Date: Mon, 1 Jan 2024 10:%02d:%02d +0000\r\n"
            "Message-ID: <bench-%d@example.net>\r\n%s"
            "\r\n%s\r\n" % (i % 100, i % 100, subj, i, (i // 60) % 60, i % 60, i, refs,
                              body)).encode()


def metric(srv, name):
    """A sample without labels from the daemon's /metrics, or None."""
    import urllib.request
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % srv.metrics_port, timeout=20) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return None


def pct(vals, p):
    s = sorted(vals)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


class Client:
    """A minimal asyncio IMAP client (one command at a time, or pipelined
    APPENDs with send_raw/read_tagged)."""

    def __init__(self, reader, writer):
        self.r = reader
        self.w = writer
        self.n = 0

    @classmethod
    async def open(cls, port, ctx, src=None):
        """src: a loopback source address (127.0.0.2, ...): one address has
        only some 28,000 ephemeral ports toward the daemon's one port."""
        host = None if ctx is None else "localhost"
        if src is None:
            r, w = await asyncio.open_connection("127.0.0.1", port, ssl=ctx,
                                                 server_hostname=host, limit=1 << 20)
        else:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                sock.setblocking(False)
                # the port is picked at connect() by the whole 4-tuple
                sock.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
                sock.bind((src, 0))
                await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
            except BaseException:
                sock.close()
                raise
            r, w = await asyncio.open_connection(sock=sock, ssl=ctx, server_hostname=host,
                                                 limit=1 << 20)
        c = cls(r, w)
        g = await r.readline()
        if not g.startswith(b"* OK"):
            raise RuntimeError("greeting %r" % g)
        return c

    async def response(self):
        out = await self.r.readline()
        if not out:
            raise EOFError("server closed the connection")
        while out.endswith(b"}\r\n"):
            m = re.search(rb"\{(\d+)\}\r\n$", out)
            if not m:
                break
            out += await self.r.readexactly(int(m.group(1)))
            out += await self.r.readline()
        return out

    async def cmd(self, text):
        self.n += 1
        tag = b"b%d " % self.n
        self.w.write(tag + text + b"\r\n")
        untagged = []
        while True:
            ln = await self.response()
            if ln.startswith(tag):
                if not ln[len(tag):].startswith(b"OK"):
                    raise RuntimeError("%r -> %r" % (text[:60], ln))
                return untagged
            untagged.append(ln)

    async def cmd_count(self, text):
        """text, read in large chunks until its tagged OK: (ms, untagged
        lines), counted by their line ends (an answer without literals)."""
        self.n += 1
        tag = b"b%d " % self.n
        t0 = time.monotonic()
        self.w.write(tag + text + b"\r\n")
        lines, tail = 0, b"\n"
        while True:
            d = await self.r.read(1 << 18)
            if not d:
                raise EOFError("server closed the connection")
            lines += d.count(b"\n")      # a CRLF may be cut between reads
            tail = (tail + d)[-256:]
            at = tail.rfind(b"\n" + tag)
            if at >= 0 and tail.endswith(b"\r\n"):
                if not tail[at + 1 + len(tag):].startswith(b"OK"):
                    raise RuntimeError("%r -> %r" % (text[:60], tail[at + 1:]))
                return (time.monotonic() - t0) * 1000, lines - 1

    async def login(self, user):
        await self.cmd(b"LOGIN %s %s" % (user.encode(), PASSWORD.encode()))

    def close(self):
        self.w.close()


async def open_selected(port, ctx, user):
    """A logged-in client with INBOX selected."""
    c = await Client.open(port, ctx)
    await c.login(user)
    await c.cmd(b"SELECT INBOX")
    return c


# ---------------------------------------------------------------- 1. idle

async def watch_exists(c, exists_at, expect):
    """Append to exists_at[n] the monotonic time c reads '* n EXISTS' for
    n = expect[0]."""
    try:
        while True:
            ln = await c.r.readline()
            if not ln:
                return
            if ln.endswith(b" EXISTS\r\n") and int(ln.split()[1]) == expect[0]:
                exists_at[expect[0]].append(time.monotonic())
    except (OSError, EOFError, ssl.SSLError, asyncio.IncompleteReadError):
        return


async def open_idle(port, ctx, user, n, sessions, exists_at, expect):
    """Open n sessions in IDLE on user's INBOX; each appends to exists_at
    the monotonic time it reads '* <expect[0]> EXISTS'."""
    sem = asyncio.Semaphore(64)

    async def one():
        async with sem:
            c = await Client.open(port, ctx)
            await c.login(user)
            await c.cmd(b"SELECT INBOX")
            c.w.write(b"i IDLE\r\n")
            ln = await c.r.readline()
            if not ln.startswith(b"+"):
                raise RuntimeError("IDLE: %r" % ln)
            sessions.append(c)

        asyncio.ensure_future(watch_exists(c, exists_at, expect))

    await asyncio.gather(*[one() for _ in range(n)])


async def open_idle_slice(port, ctx, user, idxs, per_addr, sessions, exists_at, expect,
                          errors, window=64):
    """Like open_idle, for the session numbers idxs of the whole run: session
    i comes from 127.0.0.(2 + i // per_addr); failures are counted, not
    raised (100,000 sessions on a loaded machine)."""
    sem = asyncio.Semaphore(window)

    async def one(i):
        async with sem:
            c = None
            try:
                c = await asyncio.wait_for(Client.open(port, ctx, "127.0.0.%d" % (2 + i // per_addr)),
                                           120)
                await asyncio.wait_for(c.login(user), 120)
                await asyncio.wait_for(c.cmd(b"SELECT INBOX"), 120)
                c.w.write(b"i IDLE\r\n")
                ln = await asyncio.wait_for(c.r.readline(), 120)
                if not ln.startswith(b"+"):
                    raise RuntimeError("IDLE: %r" % ln)
            except (OSError, EOFError, RuntimeError, ssl.SSLError, asyncio.TimeoutError,
                    asyncio.IncompleteReadError) as e:
                errors.append("%s: %s" % (type(e).__name__, e))
                if c is not None:
                    c.close()
                return
            sessions.append(c)

        c.task = asyncio.ensure_future(watch_exists(c, exists_at, expect))

    await asyncio.gather(*[one(i) for i in idxs])


class RawReader:
    """Reads the IDLE sessions' sockets for the pushes without asyncio:
    one epoll loop in a thread, a read (and for TLS the session's own
    SSLObject fed from the socket) per ready socket. asyncio's stream and
    SSL protocol layers cost this client some 25 us a session, so with
    2,000 sessions in one process the p99 was mostly the time this client
    took to get to the last socket, not when the daemon wrote it. The
    sessions' asyncio transports stop reading (the sockets are the
    reader's from then on)."""

    def __init__(self, sessions):
        import select
        self.ep = select.epoll()
        self.socks = {}
        for c in sessions:
            t = c.w.transport
            ssl_proto = getattr(t, "_ssl_protocol", None)
            if ssl_proto is not None:
                # the socket transport under asyncio's SSL protocol
                ssl_proto._transport.pause_reading()
                sslobj, inc = ssl_proto._sslobj, ssl_proto._incoming
            else:
                t.pause_reading()
                sslobj = inc = None
            fd = t.get_extra_info("socket").fileno()
            self.socks[fd] = [sslobj, inc, b""]
            self.ep.register(fd, select.EPOLLIN)
        self.thread = None

    def start(self, n, times):
        """Until every session read '* n EXISTS' (or wait() gives up),
        append the monotonic time of each such read to times."""
        import threading
        self.stopping = False
        want = b"* %d EXISTS\r\n" % n
        self.thread = threading.Thread(target=self._run, args=(want, times), daemon=True)
        self.thread.start()

    def _run(self, want, times):
        left = set(self.socks)
        while left and not self.stopping:
            for fd, _ in self.ep.poll(0.05):
                st = self.socks.get(fd)
                if st is None or fd not in left:
                    continue
                try:
                    data = os.read(fd, 65536)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    self.ep.unregister(fd)
                    del self.socks[fd]
                    left.discard(fd)
                    continue
                if st[0] is not None:
                    st[1].write(data)
                    data = b""
                    while True:
                        try:
                            data += st[0].read(65536)
                        except (ssl.SSLWantReadError, ssl.SSLZeroReturnError):
                            break
                        except ssl.SSLError:
                            break
                buf = st[2] + data
                if want in buf:
                    times.append(time.monotonic())
                    left.discard(fd)
                    buf = b""
                st[2] = buf[-64:]

    def wait(self, secs):
        self.thread.join(secs)
        self.stopping = True
        self.thread.join()


async def idle_worker_main(conn, port, cafile, user, lo, hi, per_addr, reader="raw"):
    """One client process: sessions lo..hi-1 of the run, driven by the
    parent over conn: ("open", k) opens k more, ("expect", n) arms the
    wait for "* n EXISTS", ("seen", n, secs) answers when every session saw
    it (or after secs) with the times, ("close",) ends."""
    loop = asyncio.get_running_loop()
    ctx = None
    if cafile:
        ctx = ssl.create_default_context(cafile=cafile)
        ctx.check_hostname = False
    sessions, errors, exists_at, expect = [], [], {}, [0]
    raw = None
    nxt = lo
    while True:
        msg = await loop.run_in_executor(None, conn.recv)
        if msg[0] == "open":
            idxs = range(nxt, min(hi, nxt + msg[1]))
            nxt += len(idxs)
            await open_idle_slice(port, ctx, user, idxs, per_addr, sessions, exists_at, expect,
                                  errors)
            conn.send(("opened", len(sessions), len(errors), errors[-3:]))
        elif msg[0] == "expect":
            expect[0] = msg[1]
            exists_at[msg[1]] = []
            if reader == "raw":
                if raw is None:
                    raw = RawReader(sessions)
                raw.start(msg[1], exists_at[msg[1]])
            conn.send(("ready",))
        elif msg[0] == "seen":
            if raw is not None:
                await loop.run_in_executor(None, raw.wait, msg[2])
            deadline = time.monotonic() + msg[2]
            while len(exists_at[msg[1]]) < len(sessions) and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            conn.send(("seen", list(exists_at[msg[1]])))
        else:
            for c in sessions:
                c.close()
            await asyncio.sleep(0.5)
            conn.send(("closed",))
            return


def idle_worker(conn, port, cafile, user, lo, hi, per_addr, reader):
    try:
        asyncio.run(idle_worker_main(conn, port, cafile, user, lo, hi, per_addr, reader))
    except KeyboardInterrupt:
        pass


class IdleWorkers:
    """nworkers client processes (one asyncio process cannot drive 100,000
    TLS handshakes quickly), each owning a slice of the sessions."""

    def __init__(self, nworkers, nsess, port, cafile, user, per_addr, reader="raw"):
        import multiprocessing
        mp = multiprocessing.get_context("spawn")
        self.procs, self.conns, self.sizes = [], [], []
        step = (nsess + nworkers - 1) // nworkers
        for k in range(nworkers):
            lo, hi = k * step, min(nsess, (k + 1) * step)
            if lo >= hi:
                break
            a, b = mp.Pipe()
            p = mp.Process(target=idle_worker, args=(b, port, cafile, user, lo, hi, per_addr, reader),
                           daemon=True)
            p.start()
            b.close()
            self.procs.append(p)
            self.conns.append(a)
            self.sizes.append(hi - lo)

    async def ask(self, msgs, timeout):
        """Send msgs[k] to worker k; the answers, in order."""
        loop = asyncio.get_running_loop()
        for c, m in zip(self.conns, msgs):
            c.send(m)

        def recv(c):
            if not c.poll(timeout):
                raise RuntimeError("a bench client process did not answer in %d s" % timeout)
            return c.recv()
        return await asyncio.gather(*[loop.run_in_executor(None, recv, c) for c in self.conns])

    async def open(self, fraction_num, fraction_den, timeout=900):
        """Open each worker's share up to fraction of its slice; returns
        (sessions open, failures, some failure texts)."""
        msgs = []
        for k, n in enumerate(self.sizes):
            want = n * fraction_num // fraction_den - n * (fraction_num - 1) // fraction_den
            msgs.append(("open", want))
        res = await self.ask(msgs, timeout)
        return (sum(r[1] for r in res), sum(r[2] for r in res),
                [e for r in res for e in r[3]][:3])

    async def expect(self, n):
        await self.ask([("expect", n)] * len(self.conns), 60)

    async def seen(self, n, secs):
        res = await self.ask([("seen", n, secs)] * len(self.conns), secs + 60)
        return [t for r in res for t in r[1]]

    async def close(self):
        try:
            await self.ask([("close",)] * len(self.conns), 120)
        finally:
            for p in self.procs:
                p.join(10)
                if p.is_alive():
                    p.kill()


def smtp_deliver(port, rcpt, i):
    """One delivery over a raw SMTP connection; returns (t_dot, t_250)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    f = s.makefile("rb")

    def reply():
        while True:
            ln = f.readline()
            if len(ln) < 4 or ln[3:4] != b"-":
                return ln
    reply()
    s.sendall(b"EHLO bench.example.net\r\n")
    reply()
    s.sendall(b"MAIL FROM:<push@example.net>\r\nRCPT TO:<%s>\r\nDATA\r\n" % rcpt.encode())
    for code in (b"250", b"250", b"354"):
        ln = reply()
        if not ln.startswith(code):
            raise RuntimeError("SMTP %r" % ln)
    msg = make_message(900000 + i).replace(b"\r\n.", b"\r\n..")
    s.sendall(msg)
    t_dot = time.monotonic()
    s.sendall(b".\r\n")
    ln = reply()
    t_ack = time.monotonic()
    if not ln.startswith(b"250"):
        raise RuntimeError("SMTP %r" % ln)
    s.sendall(b"QUIT\r\n")
    s.close()
    return t_dot, t_ack


async def bench_idle(new_server, nsess, pushes, nmsgs=0, variants=("tls", "plain"),
                     push_on=("tls",), nworkers=1, per_addr=20000, reader="raw",
                     perf_events=False):
    """Each variant on a fresh daemon: memory freed by one would be reused
    by the next and hide its cost. nmsgs messages are put into the INBOX
    first (--idle-messages), so that what a session costs per message of
    its selected mailbox shows. The sessions are opened by nworkers client
    processes, from 127.0.0.2, .3, ... (per_addr sessions each) to the
    daemon's 127.0.0.1."""
    user = USERS[0]
    out = {}
    for tls in [v == "tls" for v in variants]:
        srv = new_server()
        pid = srv.proc.pid
        label, port, ctx = (("TLS (993)", srv.ports["imaps"], srv.ssl_context()) if tls
                            else ("no TLS (143)", srv.ports["imap"], None))
        if nmsgs:
            secs = await fill(port, ctx, user, b"INBOX", nmsgs)
            print("idle %-13s INBOX filled with %d messages in %.1f s"
                  % (label, nmsgs, secs), flush=True)
        # warm up: the first sessions allocate what every later one shares
        warm = []
        await open_idle(port, ctx, user, 20, warm, {0: []}, [0])
        for c in warm:
            c.close()
        workers = IdleWorkers(nworkers, nsess, port, srv.cert if tls else None, user, per_addr,
                              reader)
        try:
            await asyncio.sleep(1.0)
            before = rss_kib(pid)
            t0 = time.monotonic()
            # in two halves: the second half's growth leaves out what the
            # allocator keeps once (the worker threads' arenas that SELECT's
            # whole-index reads grew on a big mailbox)
            n1, f1, e1 = await workers.open(1, 2)
            await asyncio.sleep(2.0)
            mid = rss_kib(pid)
            nopen, fails, errs = await workers.open(2, 2)
            opened = time.monotonic() - t0
            await asyncio.sleep(2.0)
            after = rss_kib(pid)
            if fails:
                print("idle %-13s %d of %d sessions failed to open, e.g. %s"
                      % (label, fails, nsess, "; ".join(errs)), flush=True)
            if nopen == 0:
                raise RuntimeError("no IDLE session opened")
            per = (after - before) / float(nopen)
            print("idle %-13s sessions=%d (%d client processes, %d source addresses)  "
                  "opened in %.1f s  daemon RSS %d -> %d KiB  = %.1f KiB per session"
                  % (label, nopen, len(workers.procs), (nsess + per_addr - 1) // per_addr,
                     opened, before, after, per), flush=True)
            if nopen - n1 > 0:
                print("idle %-13s the second %d sessions alone: RSS %d -> %d KiB = %.1f KiB "
                      "per session" % (label, nopen - n1, mid, after,
                                       (after - mid) / float(nopen - n1)), flush=True)
            out[label] = per
            if ("tls" if tls else "plain") in push_on and pushes:
                # messages already in INBOX: the first push makes EXISTS count+1
                count = srv_count(srv, user)
                lat, after_ack, acks, cpu = [], [], [], []
                loop = asyncio.get_running_loop()
                wait = max(20, nopen // 2000)
                pstat = perf_stat_start(pid) if perf_events else None
                for k in range(pushes):
                    n = count + k + 1
                    await workers.expect(n)
                    cpu0 = cpu_secs(pid)
                    t_dot, t_ack = await loop.run_in_executor(None, smtp_deliver,
                                                              srv.ports["smtp"], user, k)
                    got = await workers.seen(n, wait)
                    # the daemon's CPU for one delivery and its fan-out (the
                    # rest of the wall clock is the client processes')
                    cpu.append((cpu_secs(pid) - cpu0) * 1000)
                    if len(got) < nopen:
                        print("  push %d: only %d of %d sessions saw EXISTS within %d s"
                              % (k + 1, len(got), nopen, wait), flush=True)
                    lat += [(t - t_dot) * 1000 for t in got]
                    after_ack += [(t - t_ack) * 1000 for t in got]
                    acks.append((t_ack - t_dot) * 1000)
                    await asyncio.sleep(0.5)
                if pstat is not None:
                    perf_stat_report(pstat, pushes)
                if lat:
                    print("push to %d IDLE sessions (%d deliveries, %d EXISTS seen):\n"
                          "  from the final '.' of DATA to EXISTS  p50=%.1f ms  p99=%.1f ms  "
                          "max=%.1f ms\n"
                          "  from the SMTP 250 (durably stored, median %.1f ms after the '.') "
                          "to EXISTS  p50=%.1f ms  p99=%.1f ms\n"
                          "  daemon CPU (utime+stime) per delivery with its fan-out: median %.0f ms"
                          % (nopen, pushes, len(lat), pct(lat, 50), pct(lat, 99), max(lat),
                             statistics.median(acks), pct(after_ack, 50), pct(after_ack, 99),
                             statistics.median(cpu)),
                          flush=True)
        finally:
            await workers.close()
        await asyncio.sleep(1.0)
        srv.close()
    return out


PERF_EVENTS = ("instructions", "syscalls:sys_enter_write", "syscalls:sys_enter_writev",
               "syscalls:sys_enter_sendto", "syscalls:sys_enter_epoll_ctl",
               "syscalls:sys_enter_epoll_wait")


def perf_stat_start(pid):
    """perf stat on the daemon for the pushes (--push-perf): counts that
    do not depend on the machine's load, as the wall clock does."""
    import subprocess
    import tempfile
    out = tempfile.NamedTemporaryFile(prefix="bench-perf-", suffix=".csv", delete=False)
    out.close()
    p = subprocess.Popen(["perf", "stat", "-x", ",", "-o", out.name, "-e", ",".join(PERF_EVENTS),
                          "-p", str(pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    return p, out.name


def perf_stat_report(pstat, pushes):
    import signal
    p, path = pstat
    p.send_signal(signal.SIGINT)
    p.wait(30)
    counts = {}
    with open(path) as f:
        for ln in f:
            parts = ln.strip().split(",")
            if len(parts) > 2 and parts[2] in PERF_EVENTS and parts[0].isdigit():
                counts[parts[2]] = int(parts[0])
    os.unlink(path)
    print("  daemon per delivery with its fan-out (perf stat, the 0.5 s pauses included): "
          + "  ".join("%s=%s" % (e.replace("syscalls:sys_enter_", ""),
                                 "%.1fM" % (counts[e] / pushes / 1e6) if e == "instructions"
                                 else "%.0f" % (counts[e] / pushes))
                      for e in PERF_EVENTS if e in counts), flush=True)


def srv_count(srv, user):
    import imaplib
    m = imaplib.IMAP4("127.0.0.1", srv.ports["imap"])
    m.login(user, PASSWORD)
    typ, data = m.select("INBOX", readonly=True)
    m.logout()
    return int(data[0])


# ---------------------------------------------------------------- 2. big

async def fill(port, ctx, user, box, total, conns=4, window=64, maker=None):
    """APPEND total messages to box over conns connections, each with up to
    window LITERAL+ APPENDs in flight (ctx None: plain IMAP); maker(i) is
    message i (make_message by default). Returns seconds."""
    maker = maker or make_message
    next_i = [0]

    async def worker():
        c = await Client.open(port, ctx)
        await c.login(user)
        inflight = asyncio.Semaphore(window)
        sent = []
        done = asyncio.Event()
        errors = []

        async def reader():
            got = 0
            while got < len(sent) or not done.is_set():
                ln = await c.response()
                if ln.startswith(b"a"):
                    if b" OK " not in ln:
                        errors.append(ln)
                    got += 1
                    inflight.release()
                    if done.is_set() and got == len(sent):
                        return
        rtask = asyncio.ensure_future(reader())
        while True:
            i = next_i[0]
            if i >= total:
                break
            next_i[0] += 1
            await inflight.acquire()
            msg = maker(i)
            sent.append(i)
            c.w.write(b"a%d APPEND %s {%d+}\r\n%s\r\n" % (i, box, len(msg), msg))
            if len(sent) % 16 == 0:
                await c.w.drain()
        done.set()
        await c.w.drain()
        if sent:
            await rtask
        else:
            rtask.cancel()
        c.close()
        if errors:
            raise RuntimeError("APPEND failed: %r" % errors[:3])

    t0 = time.monotonic()
    await asyncio.gather(*[worker() for _ in range(conns)])
    return time.monotonic() - t0


async def bench_big(srv, total, reps=5):
    port, ctx = srv.ports["imaps"], srv.ssl_context()
    user = USERS[1]
    secs = await fill(port, ctx, user, b"INBOX", total)
    print("big: filled INBOX with %d messages by pipelined LITERAL+ APPEND on 4 connections "
          "in %.1f s (%.0f msgs/s); daemon RSS %d KiB"
          % (total, secs, total / secs, rss_kib(srv.proc.pid)), flush=True)
    login_sel, fetch_all = [], []
    nlines = 0
    for _ in range(reps):
        c = await Client.open(port, ctx)
        t0 = time.monotonic()
        await c.login(user)
        u = await c.cmd(b"SELECT INBOX")
        t1 = time.monotonic()
        exists = [ln for ln in u if ln.endswith(b" EXISTS\r\n")]
        if not exists or int(exists[0].split()[1]) != total:
            raise RuntimeError("SELECT says %r" % exists)
        u = await c.cmd(b"FETCH 1:* (UID FLAGS RFC822.SIZE)")
        t2 = time.monotonic()
        nlines = len(u)
        login_sel.append((t1 - t0) * 1000)
        fetch_all.append((t2 - t1) * 1000)
        await c.cmd(b"LOGOUT")
        c.close()
    if nlines != total:
        raise RuntimeError("FETCH 1:* returned %d lines" % nlines)
    print("big: LOGIN+SELECT on %d messages  median %.1f ms  max %.1f ms  (%d runs)"
          % (total, statistics.median(login_sel), max(login_sel), reps))
    print("big: FETCH 1:* (UID FLAGS RFC822.SIZE), %d responses  median %.1f ms  max %.1f ms"
          % (nlines, statistics.median(fetch_all), max(fetch_all)), flush=True)
    # The figure above is mostly this Python client's: one readline and
    # one coroutine per line, some 0.8 us a line on this machine. Server
    # side: the same command on one connection, read in large chunks and
    # its lines counted (bytes.count, no per-line Python), and the
    # daemon's CPU (utime+stime) per command over reps commands.
    c = await Client.open(port, ctx)
    await c.login(user)
    await c.cmd(b"SELECT INBOX")
    raw, reps_raw = [], 40
    cpu0 = cpu_secs(srv.proc.pid)
    for _ in range(reps_raw):
        ms, got = await c.cmd_count(b"FETCH 1:* (UID FLAGS RFC822.SIZE)")
        if got != total:
            raise RuntimeError("FETCH 1:* returned %d lines" % got)
        raw.append(ms)
    cpu = (cpu_secs(srv.proc.pid) - cpu0) / reps_raw * 1000
    await c.cmd(b"LOGOUT")
    c.close()
    print("big: FETCH 1:* (UID FLAGS RFC822.SIZE), server side (lines counted, not parsed)  "
          "median %.1f ms  max %.1f ms  daemon CPU %.1f ms a command  (%d runs)"
          % (statistics.median(raw), max(raw), cpu, reps_raw), flush=True)
    for cmd in (b"SORT (ARRIVAL) UTF-8 ALL", b"SORT (DATE) UTF-8 ALL",
                b"SORT (SUBJECT) UTF-8 ALL", b"SORT (FROM) UTF-8 ALL",
                b"THREAD REFERENCES UTF-8 ALL", b"UID SEARCH SUBJECT 12345",
                b"UID SEARCH FROM sender42@", b"SEARCH BODY zanzibar"):
        times = []
        for _ in range(3):
            c = await Client.open(port, ctx)
            await c.login(user)
            await c.cmd(b"SELECT INBOX")
            t0 = time.monotonic()
            u = await c.cmd(cmd)
            times.append((time.monotonic() - t0) * 1000)
            want = {b"UID SEARCH SUBJECT 12345": 1 if total > 12345 else 0,
                    b"UID SEARCH FROM sender42@": (total + 57) // 100,
                    b"SEARCH BODY zanzibar": (total + 4992) // 5000}.get(cmd)
            if want is not None:
                if len(u) != 1 or len(u[0].split()) != want + 2:
                    raise RuntimeError("%r: %r (want %d hits)" % (cmd, u[0][:100] if u else u, want))
            elif (len(u) != 1 or not u[0].startswith((b"* SORT ", b"* THREAD (")) or
                    (u[0].startswith(b"* SORT ") and len(u[0].split()) != total + 2)):
                raise RuntimeError("%r: %r" % (cmd, u[0][:100] if u else u))
            await c.cmd(b"LOGOUT")
            c.close()
        print("big: %-30s on %d messages  median %.1f ms  max %.1f ms  (%d runs)"
              % (cmd.decode(), total, statistics.median(times), max(times), len(times)),
              flush=True)
    # The same header SEARCHes while another session keeps INBOX selected,
    # as a mail client does: the mailbox's search records stay in memory
    # beside its shared view (src/imap/imap-searchmem.c) between commands.
    # The first SEARCH is timed apart (it reads the records from the
    # store); then each command is timed 5 times in fresh sessions.
    holder = await Client.open(port, ctx)
    await holder.login(user)
    await holder.cmd(b"SELECT INBOX")
    first = None
    for cmd, want in ((b"UID SEARCH SUBJECT 12345", 1 if total > 12345 else 0),
                      (b"UID SEARCH FROM sender42@", (total + 57) // 100)):
        times = []
        for _ in range(5 if first is not None else 6):
            c = await Client.open(port, ctx)
            await c.login(user)
            await c.cmd(b"SELECT INBOX")
            t0 = time.monotonic()
            u = await c.cmd(cmd)
            ms = (time.monotonic() - t0) * 1000
            if len(u) != 1 or len(u[0].split()) != want + 2:
                raise RuntimeError("%r: %r (want %d hits)" % (cmd, u[0][:100] if u else u, want))
            await c.cmd(b"LOGOUT")
            c.close()
            if first is None:
                first = ms
                print("big: %-30s on %d messages, INBOX held, first  %.1f ms"
                      % (cmd.decode(), total, first), flush=True)
            else:
                times.append(ms)
        print("big: %-30s on %d messages, INBOX held  median %.1f ms  max %.1f ms  (%d runs)"
              % (cmd.decode(), total, statistics.median(times), max(times), len(times)),
              flush=True)
    smem = metric(srv, "minimaild_imap_search_memory_bytes")
    print("big: daemon RSS with INBOX held %d KiB; search records in memory %s"
          % (rss_kib(srv.proc.pid), "(no such gauge)" if smem is None else
             "%d bytes, %.1f bytes a message" % (smem, smem / total)), flush=True)
    await holder.cmd(b"LOGOUT")
    holder.close()


# ---------------------------------------------------------------- sort

def metric_labeled(srv, name, labels):
    """A labelled sample from the daemon's /metrics, or None."""
    import urllib.request
    want = "%s{%s} " % (name, labels)
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % srv.metrics_port, timeout=20) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(want):
                return float(line.split()[1])
    return None


SORT_CMDS = (b"SORT (ARRIVAL) UTF-8 ALL", b"SORT (DATE) UTF-8 ALL", b"SORT (SUBJECT) UTF-8 ALL",
             b"SORT (FROM) UTF-8 ALL", b"THREAD REFERENCES UTF-8 ALL",
             b"THREAD ORDEREDSUBJECT UTF-8 ALL")


async def bench_sort(srv, total, reps=5):
    """--only sort: SORT and THREAD on a --messages INBOX (the big
    section's messages), each command once in a fresh session with no
    other session on the mailbox (nothing of it in memory), then reps times
    in fresh sessions while another keeps INBOX selected (the search
    records and their sort keys stay in memory beside the shared view).
    Prints the wall clock, the daemon's CPU (utime+stime) per command and
    where the sort keys came from (minimaild_imap_sort_keys_total, absent
    in builds before it)."""
    port, ctx = srv.ports["imaps"], srv.ssl_context()
    user = USERS[1]
    secs = await fill(port, ctx, user, b"INBOX", total)
    print("sort: filled INBOX with %d messages in %.1f s" % (total, secs), flush=True)

    def sources():
        return {k: metric_labeled(srv, "minimaild_imap_sort_keys_total", 'source="%s"' % k)
                for k in ("memory", "blob", "header")}

    async def once(cmd):
        c = await Client.open(port, ctx)
        await c.login(user)
        await c.cmd(b"SELECT INBOX")
        cpu0 = cpu_secs(srv.proc.pid)
        t0 = time.monotonic()
        u = await c.cmd(cmd)
        ms = (time.monotonic() - t0) * 1000
        cpu = (cpu_secs(srv.proc.pid) - cpu0) * 1000
        if (len(u) != 1 or not u[0].startswith((b"* SORT ", b"* THREAD (")) or
                (u[0].startswith(b"* SORT ") and len(u[0].split()) != total + 2)):
            raise RuntimeError("%r: %r" % (cmd, u[0][:100] if u else u))
        await c.cmd(b"LOGOUT")
        c.close()
        return ms, cpu

    for held in (False, True):
        holder = None
        if held:
            holder = await Client.open(port, ctx)
            await holder.login(user)
            await holder.cmd(b"SELECT INBOX")
        for cmd in SORT_CMDS:
            k0 = sources()
            runs = [await once(cmd) for _ in range(reps if held else 1)]
            k1 = sources()
            keys = ("keys " + " ".join("%s %d" % (k, k1[k] - k0[k]) for k in k0)
                    if None not in k0.values() else "keys (no such metric)")
            if held:
                ms = [r[0] for r in runs]
                cpu = [r[1] for r in runs]
                print("sort: %-32s on %d messages, INBOX held  median %.1f ms  max %.1f ms  "
                      "daemon CPU median %.1f ms  (%d runs; %s)"
                      % (cmd.decode(), total, statistics.median(ms), max(ms),
                         statistics.median(cpu), len(runs), keys), flush=True)
            else:
                print("sort: %-32s on %d messages, nothing held  %.1f ms  daemon CPU %.1f ms  (%s)"
                      % (cmd.decode(), total, runs[0][0], runs[0][1], keys), flush=True)
        if holder is not None:
            smem = metric(srv, "minimaild_imap_search_memory_bytes")
            print("sort: daemon RSS with INBOX held %d KiB; search records in memory %s"
                  % (rss_kib(srv.proc.pid), "(no such gauge)" if smem is None else
                     "%d bytes, %.1f bytes a message" % (smem, smem / total)), flush=True)
            await holder.cmd(b"LOGOUT")
            holder.close()


# ---------------------------------------------------------------- 3. ops

async def bench_ops(srv, levels, seconds, nmsgs=1000):
    port, ctx = srv.ports["imaps"], srv.ssl_context()
    user = USERS[2]
    await fill(port, ctx, user, b"INBOX", nmsgs, conns=2)
    pid = srv.proc.pid
    ops = {
        "FETCH": lambda rnd: b"UID FETCH %d (FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (FROM SUBJECT DATE)])"
                             % rnd.randint(1, nmsgs),
        "STORE": lambda rnd: b"UID STORE %d %sFLAGS.SILENT (\\Flagged)"
                             % (rnd.randint(1, nmsgs), rnd.choice((b"+", b"-"))),
        "SEARCH": lambda rnd: b"SEARCH SUBJECT %s" % rnd.choice(WORDS).encode(),
    }
    for n in levels:
        clients = []
        for _ in range(n):
            clients.append(await open_selected(port, ctx, user))
        for name, make in ops.items():
            stop = [False]
            counts = [0] * n

            async def run(k):
                rnd = random.Random(k)
                c = clients[k]
                while not stop[0]:
                    await c.cmd(make(rnd))
                    counts[k] += 1

            cpu0 = cpu_secs(pid)
            t0 = time.monotonic()
            tasks = [asyncio.ensure_future(run(k)) for k in range(n)]
            await asyncio.sleep(seconds)
            stop[0] = True
            await asyncio.gather(*tasks)
            el = time.monotonic() - t0
            cpu = cpu_secs(pid) - cpu0
            total = sum(counts)
            print("ops: clients=%-3d %-6s %7.0f ops/s  (%d in %.1f s; daemon CPU %.0f us/op)"
                  % (n, name, total / el, total, el, cpu / total * 1e6), flush=True)
            # STORE makes untagged FETCHes for the other sessions: drain them
            for c in clients:
                await c.cmd(b"NOOP")
        for c in clients:
            c.close()
        await asyncio.sleep(0.5)


# ---------------------------------------------------------------- 4. mix

MIX_USER = "mix@example.org"
MIX_BACKLOG_SECS = 0.1        # --mix-rate: how late a paced command may still be sent
# --mix-reader: "lines" parses every response line (what the mix always
# did: 2,000 FETCH lines a FETCH 1:* cost the client more than the daemon);
# "chunks" reads large chunks until the tagged line (Client.cmd_count), so
# a closed loop waits less on the client processes' own CPU
MIX_READER = "lines"
MIX_OPS = ("FETCH BODY", "FETCH FLAGS", "STORE", "SEARCH UNSEEN", "SEARCH SUBJECT", "NOOP")


def make_mix_message(i):
    """A realistic 5-20 KB message (a few header lines more than
    make_message, a text body of that size)."""
    rnd = random.Random(1000003 * i)
    hdr = make_message(i).split(b"\r\n\r\n", 1)[0]
    want = rnd.randint(5000, 20000)
    lines = []
    size = 0
    while size < want:
        ln = " ".join(rnd.choice(WORDS) for _ in range(11))
        lines.append(ln)
        size += len(ln) + 2
    return (hdr + b"\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n"
            b"Received: from relay.example.net by mx.example.org; Mon, 1 Jan 2024 10:00:00 +0000"
            b"\r\n\r\n" + "\r\n".join(lines).encode() + b"\r\n")


def mix_command(rnd, nmsgs):
    """One command of the everyday mix: (kind, bytes)."""
    r = rnd.random()
    if r < 0.35:
        return "FETCH BODY", b"FETCH %d BODY.PEEK[]" % rnd.randint(1, nmsgs)
    if r < 0.50:
        return "FETCH FLAGS", b"FETCH 1:* (FLAGS)"
    if r < 0.70:
        return "STORE", b"UID STORE %d %sFLAGS (\\Flagged)" % (rnd.randint(1, nmsgs),
                                                           rnd.choice((b"+", b"-")))
    if r < 0.78:
        return "SEARCH UNSEEN", b"SEARCH UNSEEN"
    if r < 0.90:
        return "SEARCH SUBJECT", b"SEARCH SUBJECT %s" % rnd.choice(WORDS).encode()
    return "NOOP", b"NOOP"


async def mix_clients(port, nclients, seconds, nmsgs, seed, start_at, rate, barrier):
    """nclients sessions in this process, each running the mix one command
    at a time until start_at + seconds; rate: ops/s of each client (0: the
    next command as soon as the answer is in). At the end each process
    waits at barrier twice (the parent samples the daemon's CPU in
    between, while every session is still open). Returns ({kind: [latency
    ms]}, this process's CPU seconds over the run)."""
    clients = []
    for _ in range(nclients):
        clients.append(await open_selected(port, None, MIX_USER))
    lat = {k: [] for k in MIX_OPS}
    await asyncio.sleep(max(0.0, start_at - time.time()))
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    stop_at = time.monotonic() + seconds

    async def run(k):
        rnd = random.Random(seed * 1000 + k)
        # the pacing has its own generator: the commands are the same
        # sequence as in the closed loop
        prnd = random.Random(seed * 1000 + k + 500000)
        gap = 1.0 / rate if rate > 0 else 0.0
        next_at = time.monotonic() + prnd.uniform(0.0, gap)
        c = clients[k]
        while time.monotonic() < stop_at:
            if gap:
                # Poisson arrivals: exponential gaps of mean 1/rate; a
                # client behind its schedule sends at once, but drops what
                # is more than MIX_BACKLOG_SECS late (bounded catch-up)
                now = time.monotonic()
                if next_at > now:
                    await asyncio.sleep(min(next_at, stop_at) - now)
                    if time.monotonic() >= stop_at:
                        break
                next_at = (max(next_at, time.monotonic() - MIX_BACKLOG_SECS) +
                           prnd.expovariate(rate))
            kind, text = mix_command(rnd, nmsgs)
            t0 = time.perf_counter()
            if MIX_READER == "chunks":
                await c.cmd_count(text)
            else:
                await c.cmd(text)
            lat[kind].append((time.perf_counter() - t0) * 1000)
    await asyncio.gather(*[run(k) for k in range(nclients)])
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, barrier.wait, 120)     # all done
    await loop.run_in_executor(None, barrier.wait, 120)     # the parent has sampled
    for c in clients:
        c.close()
    return lat, (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)


def mix_proc(wr, barrier, args):
    loop = asyncio.new_event_loop()
    try:
        wr.send(loop.run_until_complete(mix_clients(*args, barrier=barrier)))
    finally:
        loop.close()
        wr.close()


def load_average():
    return "load average %.2f, %.2f, %.2f" % os.getloadavg()


async def bench_mix(srv, levels, seconds, nmsgs, procs, rate=0.0, bodies="small"):
    """The everyday IMAP mix on an nmsgs-message INBOX (issue 19): each
    client loops over FETCH n BODY.PEEK[] of a random message (35%),
    FETCH 1:* (FLAGS) (15%), UID STORE n +FLAGS/-FLAGS (\\Flagged) (20%),
    SEARCH UNSEEN (8%), SEARCH SUBJECT x (12%) and NOOP (10%). The
    clients are spread over several processes (plain IMAP on 143: the
    client's own TLS would be most of the Python time); per command
    p50/p99, total ops/s, the daemon's CPU per op (srv.cpu_secs(): for
    Dovecot all of its processes) and the client processes' own. rate:
    the total offered ops/s, shared evenly by the clients (0: closed loop,
    each client's next command when its answer is in)."""
    import multiprocessing
    port = srv.ports["imap"]
    maker = make_mix_message if bodies == "5-20k" else make_message
    secs = await fill(srv.fill_port, srv.fill_ctx, MIX_USER, b"INBOX", nmsgs, maker=maker)
    print("mix: %s; filled INBOX with %d messages of %s in %.1f s; %s"
          % (srv.describe(), nmsgs, "5-20 KB" if bodies == "5-20k" else "0.3-1 KB", secs,
             load_average()), flush=True)
    # each command alone, one client: the daemon's CPU per command (which
    # does not depend on this client's speed) and the latency unloaded
    c = await open_selected(port, None, MIX_USER)
    rnd = random.Random(7)
    for kind in MIX_OPS:
        lat = []
        cpu0 = srv.cpu_secs()
        stop_at = time.monotonic() + max(1.0, seconds / 3)
        while time.monotonic() < stop_at:
            while True:
                k, text = mix_command(rnd, nmsgs)
                if k == kind:
                    break
            t0 = time.perf_counter()
            await c.cmd(text)
            lat.append((time.perf_counter() - t0) * 1000)
        cpu = srv.cpu_secs() - cpu0
        print("mix: alone %-15s n=%-6d p50 %7.2f ms  p99 %7.2f ms  daemon CPU %5.0f us/op"
              % (kind, len(lat), pct(lat, 50), pct(lat, 99), cpu / len(lat) * 1e6), flush=True)
    await c.cmd(b"LOGOUT")
    c.close()
    ctx = multiprocessing.get_context("fork")
    loop = asyncio.get_running_loop()
    for n in levels:
        np = max(1, min(procs, n))
        share = [n // np + (1 if i < n % np else 0) for i in range(np)]
        start_at = time.time() + 1.0 + 0.05 * n
        # one process per share (not a Pool: a pool worker may take two
        # shares one after the other), results back over a pipe each
        barrier = ctx.Barrier(np + 1)
        kids = []
        for i in range(np):
            rd, wr = ctx.Pipe(duplex=False)
            p = ctx.Process(target=mix_proc, args=(wr, barrier, (port, share[i], seconds, nmsgs,
                                                                 i + 1, start_at, rate / n)))
            p.start()
            wr.close()
            kids.append((p, rd))
        try:
            await asyncio.sleep(max(0.0, start_at - time.time()))
            cpu0 = srv.cpu_secs()
            t0 = time.monotonic()
            await loop.run_in_executor(None, barrier.wait, 120 + seconds + 0.05 * n)
            el = time.monotonic() - t0
            cpu = srv.cpu_secs() - cpu0
            await loop.run_in_executor(None, barrier.wait, 120)
            parts = []
            for p, rd in kids:
                if not await loop.run_in_executor(None, rd.poll, 120):
                    raise RuntimeError("mix: a client process sent nothing")
                parts.append(rd.recv())
        finally:
            for p, rd in kids:
                rd.close()
                p.join(10)
                if p.is_alive():
                    p.terminate()
                    p.join()
        lat = {k: [] for k in MIX_OPS}
        ccpu = 0.0
        for part, pcpu in parts:
            ccpu += pcpu
            for k, v in part.items():
                lat[k].extend(v)
        total = sum(len(v) for v in lat.values())
        offered = "closed loop" if rate <= 0 else "offered %.0f ops/s" % rate
        print("mix: clients=%-3d (%d processes, %s) %7.0f ops/s  (%d in %.1f s; daemon CPU %.0f "
              "us/op, %.2f cores; clients' CPU %.0f us/op, %.2f cores); %s"
              % (n, np, offered, total / el, total, el, cpu / max(1, total) * 1e6, cpu / el,
                 ccpu / max(1, total) * 1e6, ccpu / el, load_average()), flush=True)
        for k in MIX_OPS:
            v = lat[k]
            if v:
                print("mix: clients=%-3d   %-15s n=%-6d p50 %7.2f ms  p99 %7.2f ms"
                      % (n, k, len(v), pct(v, 50), pct(v, 99)), flush=True)
        await asyncio.sleep(0.5)


# ---------------------------------------------------------------- Dovecot

DOVECOT = "/usr/sbin/dovecot"


def tree_cpu_secs(root):
    """CPU seconds (utime+stime) of process root and all its descendants,
    each also with its cutime+cstime (what it has reaped of its exited
    children): a child that exits between two samples is counted once its
    parent waited for it. From /proc/PID/stat of every process."""
    parent, secs = {}, {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue              # gone in between
        pid = int(d)
        parent[pid] = int(fields[1])
        secs[pid] = sum(int(x) for x in fields[11:15])
    kids = {}
    for pid, pp in parent.items():
        kids.setdefault(pp, []).append(pid)
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += secs.get(pid, 0)
        todo.extend(kids.get(pid, ()))
    return total / os.sysconf("SC_CLK_TCK")


class DovecotServer:
    """A private Dovecot (the Debian dovecot-imapd install) for the mix:
    plain IMAP on a free loopback port, no TLS, plaintext LOGIN allowed,
    users from a passwd-file (scheme PLAIN), mail as maildir in a temporary
    directory, mail processes as nobody. Dovecot's defaults otherwise (one
    imap process per connection, which stays for the connection;
    mail_fsync = optimized)."""

    def __init__(self, users):
        import mmtest
        self.work = w = tempfile.mkdtemp(prefix="bench-dovecot-")
        os.chmod(w, 0o755)
        home = os.path.join(w, "home")
        os.mkdir(home)
        os.chown(home, 65534, 65534)
        with open(os.path.join(w, "passwd"), "w") as f:
            for u, pw in users.items():
                f.write("%s:{PLAIN}%s\n" % (u, pw))
        (port,) = mmtest.free_ports(1)
        self.ports = {"imap": port}
        self.fill_port, self.fill_ctx = port, None
        self.conf = os.path.join(w, "dovecot.conf")
        with open(self.conf, "w") as f:
            f.write("""protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
base_dir = %(w)s/run
state_dir = %(w)s/state
log_path = %(w)s/dovecot.log
mail_location = maildir:~/Maildir
first_valid_uid = 1
first_valid_gid = 1
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%%u %(w)s/passwd
}
userdb {
  driver = static
  args = uid=65534 gid=65534 home=%(w)s/home/%%u
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = %(port)d
  }
  inet_listener imaps {
    port = 0
  }
}
protocol imap {
  mail_max_userip_connections = 1000
}
""" % {"w": w, "port": port})
        self.proc = subprocess.Popen([DOVECOT, "-F", "-c", self.conf],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.version = subprocess.run([DOVECOT, "--version"], capture_output=True,
                                      text=True).stdout.split()[0]
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                    if s.recv(100).startswith(b"* OK"):
                        break
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError("dovecot did not start: %s" % self.log()[-2000:])
            time.sleep(0.1)

    def describe(self):
        return "Dovecot %s master pid %d, imap on 127.0.0.1:%d, maildir in %s" % (
            self.version, self.proc.pid, self.ports["imap"], self.work)

    def cpu_secs(self):
        return tree_cpu_secs(self.proc.pid)

    def log(self):
        try:
            with open(os.path.join(self.work, "dovecot.log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def close(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()          # the master stops its children
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None:
            self.proc.stderr.close()
        self.proc = None
        if self.work:
            shutil.rmtree(self.work, ignore_errors=True)
            self.work = None


# ---------------------------------------------------------------- main

def raise_nofile(need):
    """Soft RLIMIT_NOFILE to the hard limit (at least need if unlimited)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else max(soft, need)
    if want > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return want


async def amain(args, new_server):
    only = set(args.only.split(","))
    if "idle" in only:
        await bench_idle(new_server, args.sessions, args.pushes, args.idle_messages,
                         args.idle_variants.split(","), args.push_on.split(","),
                         args.workers, args.per_address, args.idle_reader, args.push_perf)
    if "mix" in only:
        srv = new_server(args.server)
        await bench_mix(srv, [int(x) for x in args.mix_clients.split(",")], args.seconds,
                        args.mix_messages, args.procs, args.mix_rate, args.mix_bodies)
        srv.close()
    if "sort" in only:
        srv = new_server()
        await bench_sort(srv, args.messages)
        srv.close()
    if not only & {"big", "ops"}:
        return
    srv = new_server()
    if "big" in only:
        await bench_big(srv, args.messages)
    if "ops" in only:
        await bench_ops(srv, [int(x) for x in args.clients.split(",")], args.seconds)
    srv.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sessions", type=int, default=2000, help="IDLE sessions")
    ap.add_argument("--pushes", type=int, default=3, help="deliveries pushed to the IDLE sessions")
    ap.add_argument("--messages", type=int, default=50000, help="messages in the big mailbox")
    ap.add_argument("--clients", default="10,50", help="concurrency levels for ops")
    ap.add_argument("--seconds", type=float, default=5.0, help="seconds per ops figure")
    ap.add_argument("--only", default="idle,big,ops")
    ap.add_argument("--mix-messages", type=int, default=2000, help="messages in the mix INBOX")
    ap.add_argument("--mix-clients", default="1,10,50", help="concurrency levels for mix")
    ap.add_argument("--procs", type=int, default=4, help="client processes for mix")
    ap.add_argument("--server", default="minimaild", choices=("minimaild", "dovecot"),
                    help="mix: the server measured (dovecot: a private Dovecot, %s)" % DOVECOT)
    ap.add_argument("--mix-rate", type=float, default=0.0,
                    help="mix: total offered ops/s, Poisson arrivals per client "
                    "(0: closed loop, the default)")
    ap.add_argument("--mix-reader", default="lines", choices=("lines", "chunks"),
                    help="mix: the clients parse every response line (lines, as the mix "
                    "always did) or read large chunks until the tagged OK (chunks: less "
                    "client CPU per op)")
    ap.add_argument("--mix-bodies", default="small", choices=("small", "5-20k"),
                    help="mix: INBOX messages of 0.3-1 KB (make_message, what the mix "
                    "always used) or 5-20 KB (make_mix_message)")
    ap.add_argument("--idle-messages", type=int, default=0,
                    help="messages in the IDLE sessions' INBOX (idle)")
    ap.add_argument("--idle-reader", default="raw", choices=("raw", "asyncio"),
                    help="idle: how the client processes read the pushes: raw (an epoll "
                    "loop, the default) or asyncio (each session's stream, as before)")
    ap.add_argument("--push-perf", action="store_true",
                    help="idle: perf stat the daemon over the pushes (instructions, writes, "
                    "epoll_ctl calls per delivery)")
    ap.add_argument("--idle-variants", default="tls,plain",
                    help="idle: tls (993), plain (143) or both")
    ap.add_argument("--push-on", default="tls",
                    help="idle: the variants (tls, plain) the pushes are measured on")
    ap.add_argument("--workers", type=int, default=0,
                    help="idle: client processes (default: one per 5,000 sessions, at most 8)")
    ap.add_argument("--per-address", type=int, default=20000,
                    help="idle: sessions per source address 127.0.0.2, .3, ...")
    args = ap.parse_args()
    if (args.sessions > SESSIONS_MAX or args.messages > 200000 or args.seconds > 60 or
            args.idle_messages > 200000 or not 1000 <= args.per_address <= 28000 or
            args.workers > 32 or (args.sessions + args.per_address - 1) // args.per_address > 200 or
            not 0 <= args.mix_rate <= 100000 or args.procs > 64):
        ap.error("bounded: at most %d sessions, 200000 messages, 60 s per figure, "
                 "32 workers, 1000-28000 sessions per address, 64 mix processes, "
                 "--mix-rate 0-100000" % SESSIONS_MAX)
    if args.server != "minimaild" and args.only != "mix":
        ap.error("--server dovecot is for --only mix")
    if args.workers <= 0:
        args.workers = min(8, max(1, (args.sessions + 4999) // 5000))
    global MIX_READER
    MIX_READER = args.mix_reader

    # The daemon (one descriptor per session) and the client processes
    # inherit the raised limit; the daemon also raises its own soft limit to
    # the hard one. Beyond the hard limit (ulimit -Hn) nothing can go.
    have = raise_nofile(args.sessions + 400)
    if have < args.sessions + 300:
        print("RLIMIT_NOFILE hard limit is %d: %d sessions instead of %d (the daemon holds "
              "one descriptor per session; raise it with ulimit -Hn / LimitNOFILE)"
              % (have, max(10, have - 300), args.sessions), flush=True)
        args.sessions = max(10, have - 300)
    if args.sessions // args.workers > have - 100:
        args.workers = (args.sessions + have - 200) // (have - 100)

    import mmtest
    servers = []

    def new_server(kind="minimaild"):
        if kind == "dovecot":
            srv = DovecotServer({MIX_USER: PASSWORD})
            servers.append(srv)
            print("bench_imap: %s" % srv.describe(), flush=True)
            return srv
        # what an operator sets for N sessions: max_connections (all of
        # them), max_connections_per_ip (what one client address holds:
        # here --per-address), max_connections_per_user (one user's
        # logged-in sessions: here all of them are one user's)
        srv = mmtest.Server(users={u: PASSWORD for u in USERS}, start=False, allow_plaintext=True,
                            limits="max_connections = %d\nmax_connections_per_ip = %d\n"
                            "max_connections_per_user = %d"
                            % (args.sessions + 1000, min(args.sessions, args.per_address) + 500,
                               args.sessions + 500))
        # debug logging (mmtest's default) would measure the logger
        (srv.metrics_port,) = mmtest.free_ports(1)
        srv.write_conf(srv.conf_text().replace("log_level = debug", "log_level = warn") +
                       "[listen]\nmetrics = 127.0.0.1:%d\n" % srv.metrics_port)
        servers.append(srv)
        srv.start()
        # the mix fills over plain IMAP (143) like Dovecot's: pipelined
        # LITERAL+ APPENDs of 5-20 KB over 993 stalled now and then before
        # the last command (main at 8205dbc, 2026-12-02)
        srv.fill_port, srv.fill_ctx = srv.ports["imap"], None
        srv.cpu_secs = lambda: cpu_secs(srv.proc.pid)
        srv.describe = lambda: "minimaild pid %d" % srv.proc.pid
        print("bench_imap: minimaild pid %d on loopback, data_dir %s" % (srv.proc.pid, srv.data_dir),
              flush=True)
        return srv

    # a SIGTERM (timeout(1)) still stops the servers: the finally below
    # runs (Dovecot's master would otherwise stay)
    main_pid = os.getpid()

    def on_term(signum, frame):
        if os.getpid() == main_pid:
            raise SystemExit(128 + signum)
        os._exit(128 + signum)
    signal.signal(signal.SIGTERM, on_term)
    try:
        loop = asyncio.new_event_loop()
        task = loop.create_task(amain(args, new_server))
        loop.run_until_complete(asyncio.wait_for(task, DEADLINE_SECS))
        loop.close()
    finally:
        for srv in servers:
            srv.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
