#!/usr/bin/env python3
"""bench_smtp: durable SMTP deliveries per second, 10 KB messages, for 1, 10
and 50 concurrent clients (the figure DESIGN.md's target is about).

Starts minimaild (tests/e2e/mmtest.py: temporary data_dir on disk, loopback
ports), then for each concurrency level starts that many client processes.
Each keeps one connection and sends its share of the messages back to back
the way smtp-source does: MAIL, RCPT and DATA pipelined in one write, then
the dot-stuffed body and the final dot, then it waits for "250 ... queued"
(sent only after the store committed the message durably) before the next
one. The figure is messages / wall-clock seconds from the moment all clients
are connected to the last 250. At the end every user's INBOX is counted over
POP3S, so a message that was acknowledged but not stored fails the run.

    MINIMAILD=./minimaild MINIMAILCTL=./minimailctl \\
        python3 bench/bench_smtp.py [--messages 3000] [--size 10240] \\
        [--clients 1,10,50] [--users 1]

--sieve-rules N gives every recipient an active Sieve script of N rules
(N - 1 that do not match, of the usual kinds, and a last one that flags
and keeps the message), to compare with the rate without one. With
--sieve-include the active script is two lines that include those rules,
kept as a second script.

--new-conn opens a new connection for every message (greeting, EHLO, the
transaction, QUIT), the way most MTAs deliver, instead of one connection
per client for all its messages.

--rcpts N puts N recipients into each transaction (MAIL, N RCPTs and DATA
pipelined in one write; with --users >= N each goes to another mailbox),
which shows what a pipelined envelope costs.

Without --port the daemon's metrics listener is on, and each level also
prints the worker jobs it took per message (minimaild_worker_job_duration_
seconds_count before and after the level): every job is two thread
switches and a wake-up of the event loop; and batch=, the deliveries the
store's group delivery put into one transaction, on average
(minimaild_store_batched_deliveries_total / ..._delivery_batches_total).

--client raw replaces the client processes (one per connection, each a
blocking socket and Python's line handling, the default --client process) by
--client-procs processes (default 2) that each drive their share of the
connections from one selectors loop with bytes built once: the greeting
is awaited, EHLO sent, PIPELINING required in its reply, MAIL, RCPT and
DATA sent in one write, the body after the 354, QUIT after the 250. Every
reply code is still checked (220; 250 to EHLO; 250 per MAIL and RCPT and
354; 250 after the dot; 221), and a message is counted only on its 250,
so the final stored = acknowledged check holds the same. It exists so
that the clients do not eat the cores of a 2-core machine they measure.
Each level prints client_cpu_ms, the clients' own utime + stime per
message (getrusage in each client process from the start barrier to its
last reply), for either client.

--port HOST:PORT benches an already running server instead (recipients
--rcpt, default bench@example.org; no final count).

--inbound turns on port 25's checks ([inbound] spf, dkim, dmarc) against a
loopback DNS server (tests/e2e/mmdns.py) that publishes SPF
(ip4:127.0.0.1) and DMARC (p=reject) for the sender's domain, so every
message is judged and passes; without it the checks are off (mmtest's
default), which gives the two figures side by side.
"""
import argparse
import multiprocessing
import os
import poplib
import random
import resource
import selectors
import socket
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))

SENDER = "bench-sender@example.net"


def make_message(size, seed=1):
    rnd = random.Random(seed)
    head = ("From: Bench <%s>\r\n"
            "To: bench@example.org\r\n"
            "Subject: bench message\r\n"
            "Message-ID: <bench-%d@example.net>\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=us-ascii\r\n"
            "\r\n" % (SENDER, seed)).encode()
    lines = []
    n = len(head)
    k = 0
    while n < size:
        line = bytes(rnd.choice(b"abcdefghijklmnopqrstuvwxyz0123456789 ") for _ in range(70))
        if k % 40 == 0:
            line = b"." + line[1:]            # some lines need stuffing
        line += b"\r\n"
        lines.append(line)
        n += len(line)
        k += 1
    return (head + b"".join(lines))[:size - 2] + b"\r\n"


def stuff(msg):
    out = msg.replace(b"\r\n.", b"\r\n..")
    if out.startswith(b"."):
        out = b"." + out
    return out


class Client:
    def __init__(self, host, port):
        self.sock = socket.create_connection((host, port), timeout=120)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.expect(b"220")
        self.sock.sendall(b"EHLO bench.example.net\r\n")
        self.expect(b"250")

    def reply(self):
        while True:
            i = self.buf.find(b"\r\n")
            while i >= 0:
                line, self.buf = self.buf[:i], self.buf[i + 2:]
                if len(line) < 4 or line[3:4] != b"-":
                    return line
                i = self.buf.find(b"\r\n")
            d = self.sock.recv(65536)
            if not d:
                raise EOFError("server closed the connection")
            self.buf += d

    def expect(self, code):
        r = self.reply()
        if not r.startswith(code):
            raise RuntimeError("expected %s, got %r" % (code.decode(), r))
        return r

    def send(self, envelope, data, nrcpts=1):
        self.sock.sendall(envelope)
        self.expect(b"250")
        for _ in range(nrcpts):
            self.expect(b"250")
        self.expect(b"354")
        self.sock.sendall(data)
        self.expect(b"250")

    def close(self):
        try:
            self.sock.sendall(b"QUIT\r\n")
            self.reply()
        except OSError:
            pass
        self.sock.close()


def own_cpu():
    """This process's utime + stime in seconds."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class RawConn:
    """One connection of the raw client: pre-built bytes out, and each reply
    checked against the codes expected in order (a multi-line reply counts
    once, at its last line)."""

    def __init__(self, owner, rcpts_env, count):
        self.owner = owner
        self.envs = rcpts_env
        self.left = count        # messages still to send on this client
        self.sent = 0            # messages of this client begun so far
        self.sock = None
        self.open()

    def open(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setblocking(False)
        err = s.connect_ex(self.owner.addr)
        if err not in (0, 115):          # EINPROGRESS
            raise OSError(err, "connect: %s" % os.strerror(err))
        self.sock = s
        self.buf = b""
        self.out = b""
        self.ehlo_pipelining = False
        self.state = "greeting"
        self.expect = [b"220"]           # reply codes awaited, in order
        self.owner.sel.register(s, selectors.EVENT_READ, self)

    def write(self, data):
        if not self.out:
            try:
                n = self.sock.send(data)
            except BlockingIOError:
                n = 0
            data = data[n:]
            if not data:
                return
        self.out += data
        self.owner.sel.modify(self.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, self)

    def writable(self):
        n = self.sock.send(self.out)
        self.out = self.out[n:]
        if not self.out:
            self.owner.sel.modify(self.sock, selectors.EVENT_READ, self)

    def begin_message(self):
        o = self.owner
        self.state = "envelope"
        self.expect = [b"250"] * (1 + o.nrcpts) + [b"354"]
        self.write(self.envs[self.sent % len(self.envs)])
        self.sent += 1

    def readable(self):
        d = self.sock.recv(65536)
        if not d:
            raise EOFError("server closed the connection (awaiting %r)" % self.expect)
        self.buf += d
        while True:
            i = self.buf.find(b"\r\n")
            if i < 0:
                return
            line, self.buf = self.buf[:i], self.buf[i + 2:]
            if self.state == "ehlo" and line[4:].upper() == b"PIPELINING":
                self.ehlo_pipelining = True
            if len(line) >= 4 and line[3:4] == b"-":
                continue
            if self.sock is None or not self.expect:
                raise RuntimeError("unexpected reply %r" % line)
            code = self.expect.pop(0)
            if not line.startswith(code):
                raise RuntimeError("expected %s, got %r" % (code.decode(), line))
            if not self.expect:
                self.step(code)

    def step(self, code):
        """The last awaited reply has come: what follows it."""
        o = self.owner
        if self.state == "greeting":
            self.state = "ehlo"
            self.expect = [b"250"]
            self.write(b"EHLO bench.example.net\r\n")
        elif self.state == "ehlo":
            if not self.ehlo_pipelining:
                raise RuntimeError("EHLO reply without PIPELINING")
            self.begin_message()
        elif self.state == "envelope":   # 250s and the 354
            self.state = "data"
            self.expect = [b"250"]
            self.write(o.data)
        elif self.state == "data":       # 250 after the dot: acknowledged
            o.acked += 1
            self.left -= 1
            if self.left == 0 or o.new_conn:
                self.state = "quit"
                self.expect = [b"221"]
                self.write(b"QUIT\r\n")
            else:
                self.begin_message()
        else:                            # 221
            o.sel.unregister(self.sock)
            self.sock.close()
            self.sock = None
            if self.left > 0:
                self.open()
            else:
                o.live -= 1


class RawClient:
    """A share of the connections of a level, driven from one selectors
    loop."""

    def __init__(self, host, port, rcpts_lists, count, data, new_conn, nrcpts):
        self.addr = (host, port)
        self.sel = selectors.DefaultSelector()
        self.data = data
        self.new_conn = new_conn
        self.nrcpts = nrcpts
        self.acked = 0
        self.rcpts_lists = rcpts_lists
        self.count = count

    def run(self):
        self.live = len(self.rcpts_lists)
        self.conns = [RawConn(self, envs, self.count) for envs in self.rcpts_lists]
        while self.live > 0:
            ev = self.sel.select(120)
            if not ev:
                raise RuntimeError("no reply for 120 s")
            for key, mask in ev:
                c = key.data
                if mask & selectors.EVENT_WRITE and c.sock is not None:
                    c.writable()
                if mask & selectors.EVENT_READ and c.sock is not None:
                    c.readable()


def envelopes(rcpts, data, nrcpts):
    """MAIL, RCPTs and DATA of each message of one client, pipelined."""
    envs = []
    for k in range(len(rcpts)):
        to = [rcpts[(k + i) % len(rcpts)] for i in range(nrcpts)]
        envs.append(("MAIL FROM:<%s> SIZE=%d\r\n%sDATA\r\n"
                     % (SENDER, len(data), "".join("RCPT TO:<%s>\r\n" % r for r in to))).encode())
    return envs


def raw_main(host, port, rots, count, data, barrier, result_q, new_conn, nrcpts):
    """Several clients' connections in this one process (--client raw)."""
    try:
        rc = RawClient(host, port, [envelopes(r, data, nrcpts) for r in rots], count,
                       data, new_conn, nrcpts)
        barrier.wait()
        cpu0 = own_cpu()
        rc.run()
        done = time.monotonic()
        result_q.put(("ok", (done, rc.acked, own_cpu() - cpu0)))
    except Exception as e:
        try:
            barrier.abort()
        except Exception:
            pass
        result_q.put(("error", repr(e)))


def client_main(host, port, rcpts, count, data, barrier, result_q, new_conn=False, nrcpts=1):
    try:
        envs = envelopes(rcpts, data, nrcpts)
        c = None if new_conn else Client(host, port)
        barrier.wait()
        cpu0 = own_cpu()
        for i in range(count):
            if new_conn:
                c = Client(host, port)
            c.send(envs[i % len(envs)], data, nrcpts)
            if new_conn:
                c.close()
        done = time.monotonic()
        cpu = own_cpu() - cpu0
        if not new_conn:
            c.close()
        result_q.put(("ok", (done, count, cpu)))
    except Exception as e:  # report, don't hang the barrier
        try:
            barrier.abort()
        except Exception:
            pass
        result_q.put(("error", repr(e)))


def c_client_path():
    path = os.environ.get("BENCH_SMTP_CLIENT")
    if not path:
        path = os.path.join(os.path.dirname(os.path.abspath(
            os.environ.get("MINIMAILD", "./minimaild"))), "bench_smtp_client")
    if not os.access(path, os.X_OK):
        sys.exit("bench_smtp: --client c needs %s (make bench), or BENCH_SMTP_CLIENT" % path)
    return path


def run_c_level(host, port, rcpts, nclients, per, data, new_conn, nrcpts):
    """One bench_smtp_client run: acknowledged, seconds, its CPU seconds."""
    import subprocess
    import tempfile
    with tempfile.NamedTemporaryFile(prefix="bench-smtp-", suffix=".eml") as f:
        f.write(data)
        f.flush()
        out = subprocess.run([c_client_path(), host, str(port), str(nclients), str(per),
                              "1" if new_conn else "0", str(nrcpts), f.name, SENDER] + rcpts,
                             stdout=subprocess.PIPE, timeout=600)
    if out.returncode != 0:
        raise RuntimeError("bench_smtp_client failed (exit %d)" % out.returncode)
    vals = dict(kv.split("=") for kv in out.stdout.decode().split())
    return int(vals["acked"]), float(vals["seconds"]), float(vals["cpu_seconds"])


def run_level(host, port, rcpts, nclients, total, data, new_conn=False, nrcpts=1,
              client="process", client_procs=2):
    """Messages acknowledged, seconds, and the clients' CPU seconds."""
    per = max(1, total // nclients)
    if client == "c":
        return run_c_level(host, port, rcpts, nclients, per, data, new_conn, nrcpts)
    # spread the recipients: client k starts at a different user
    rots = [rcpts[k % len(rcpts):] + rcpts[:k % len(rcpts)] for k in range(nclients)]
    if client == "raw":
        nprocs = max(1, min(client_procs, nclients))
        jobs = [(raw_main, rots[k::nprocs]) for k in range(nprocs)]
    else:
        jobs = [(client_main, rot) for rot in rots]
    barrier = multiprocessing.Barrier(len(jobs) + 1)
    q = multiprocessing.Queue()
    procs = []
    for target, rot in jobs:
        p = multiprocessing.Process(target=target,
                                    args=(host, port, rot, per, data, barrier, q, new_conn, nrcpts))
        p.start()
        procs.append(p)
    barrier.wait(timeout=60)
    t0 = time.monotonic()
    ends = []
    acked = 0
    cpu = 0.0
    for _ in procs:
        status, val = q.get(timeout=600)
        if status != "ok":
            raise RuntimeError("client failed: %s" % val)
        ends.append(val[0])
        acked += val[1]
        cpu += val[2]
    for p in procs:
        p.join()
    elapsed = max(ends) - t0
    return acked, elapsed, cpu


METRICS = ("minimaild_worker_job_duration_seconds_count",
           "minimaild_store_delivery_batches_total",
           "minimaild_store_batched_deliveries_total")


def metrics_read(metrics_port):
    """The METRICS values from /metrics (a dict), or None."""
    if metrics_port is None:
        return None
    try:
        s = socket.create_connection(("127.0.0.1", metrics_port), timeout=10)
        s.sendall(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
        buf = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            buf += d
        s.close()
    except OSError:
        return None
    vals = {}
    for line in buf.decode("utf-8", "replace").splitlines():
        f = line.split()
        if len(f) == 2 and f[0] in METRICS:
            vals[f[0]] = int(float(f[1]))
    return vals


def metrics_delta(m0, m1, name):
    if m0 is None or m1 is None or name not in m0 or name not in m1:
        return None
    return m1[name] - m0[name]


def inbox_count(srv, user, password):
    p = poplib.POP3_SSL("127.0.0.1", srv.ports["pop3s"], context=srv.ssl_context(), timeout=60)
    try:
        p.user(user)
        p.pass_(password)
        return p.stat()[0]
    finally:
        p.quit()


def sieve_script(rules):
    """N rules: header/address/exists/size tests that do not match the
    bench message, then one that matches and keeps it flagged."""
    kinds = [
        'if header :contains "subject" "nomatch-%d" { fileinto "Rule%d"; stop; }',
        'if address :domain :is "from" "nomatch-%d.example" { fileinto "Rule%d"; stop; }',
        'if header :matches "x-nomatch-%d" "*" { fileinto "Rule%d"; stop; }',
        'if exists "x-list-%d" { fileinto "Rule%d"; stop; }',
        'if allof (size :over 5M, header :contains "to" "nomatch-%d") { fileinto "Rule%d"; stop; }',
    ]
    lines = ['require ["fileinto", "imap4flags"];']
    for i in range(rules - 1):
        lines.append(kinds[i % len(kinds)] % (i, i))
    lines.append('if header :matches "subject" "bench *" { addflag "\\\\Seen"; keep; }')
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=3000, help="messages per level")
    ap.add_argument("--size", type=int, default=10240, help="message size in bytes")
    ap.add_argument("--clients", default="1,10,50", help="concurrency levels")
    ap.add_argument("--users", type=int, default=1, help="distinct recipients (mailboxes)")
    ap.add_argument("--port", help="HOST:PORT of a running server (no daemon started)")
    ap.add_argument("--rcpt", default="bench@example.org")
    ap.add_argument("--new-conn", action="store_true",
                    help="a new connection (EHLO ... QUIT) for every message")
    ap.add_argument("--client", choices=("process", "raw", "c"), default="process",
                    help="a process per connection (default), raw: a few "
                    "selectors loops sending pre-built bytes, or c: the same from "
                    "bench_smtp_client (make bench), one epoll loop in C")
    ap.add_argument("--client-procs", type=int, default=2,
                    help="processes of the raw client")
    ap.add_argument("--rcpts", type=int, default=1,
                    help="recipients per transaction (pipelined RCPTs)")
    ap.add_argument("--inbound", action="store_true",
                    help="SPF+DKIM+DMARC on, against a loopback DNS server")
    ap.add_argument("--sieve-rules", type=int, default=0,
                    help="an active Sieve script of N rules for every recipient")
    ap.add_argument("--sieve-include", action="store_true",
                    help="the active script includes the rules (RFC 6609)")
    args = ap.parse_args()

    levels = [int(x) for x in args.clients.split(",")]
    data = stuff(make_message(args.size)) + b".\r\n"
    srv = None
    dns = None
    if args.port:
        host, port = args.port.rsplit(":", 1)
        port = int(port)
        rcpts = [args.rcpt]
        users = {}
        metrics_port = None
    else:
        import mmtest
        users = {("bench%d@example.org" % i): "bench-secret" for i in range(args.users)}
        inbound, extra = None, ""
        if args.inbound:
            from mmdns import DnsServer
            dns = DnsServer({"example.net": {"TXT": ["v=spf1 ip4:127.0.0.1 -all"]},
                             "_dmarc.example.net": {"TXT": ["v=DMARC1; p=reject"]}})
            dns.__enter__()
            inbound = "spf = yes\ndkim = yes\ndmarc = yes"
            extra = "[dns]\nnameservers = 127.0.0.1:%d\n" % dns.port
        metrics_port = mmtest.free_ports(1)[0]
        srv = mmtest.Server(users=users, start=False, inbound=inbound, extra_conf=extra,
                            limits="max_connections_per_ip = %d" % (max(levels) * (4 if args.new_conn else 1) + 20))
        # (with --new-conn a closed connection is counted until the server
        # has seen its end: room for a few per client)
        # debug logging (mmtest's default) would measure the logger
        conf = srv.conf_text().replace("log_level = debug", "log_level = warn")
        conf = conf.replace("[listen]\n", "[listen]\nmetrics = 127.0.0.1:%d\n" % metrics_port, 1)
        srv.write_conf(conf)
        if args.sieve_rules > 0:
            path = os.path.join(srv.tmp, "bench.sieve")
            with open(path, "w") as f:
                f.write(sieve_script(args.sieve_rules))
            active = "bench"
            if args.sieve_include:
                active = "bench-main"
                with open(os.path.join(srv.tmp, "main.sieve"), "w") as f:
                    f.write('require "include";\ninclude :personal "bench";\n')
            for u in users:
                srv.ctl("sieve", "put", u, "bench", path, check=True)
                if args.sieve_include:
                    srv.ctl("sieve", "put", u, "bench-main",
                            os.path.join(srv.tmp, "main.sieve"), check=True)
                srv.ctl("sieve", "activate", u, active, check=True)
        srv.start()
        host, port = "127.0.0.1", srv.ports["smtp"]
        rcpts = sorted(users)
    try:
        print("bench_smtp: %d-byte messages, %d recipient mailbox(es), %d messages per level, "
              "%d rcpt(s) per message, %s client, %s%s"
              % (args.size, len(rcpts), args.messages, args.rcpts, args.client,
                 "new connection per message" if args.new_conn else "connections reused",
                 (", SPF+DKIM+DMARC on" if args.inbound else "") +
                 (", Sieve script of %d rules" % args.sieve_rules if args.sieve_rules else "") +
                 (" (included)" if args.sieve_rules and args.sieve_include else "")))
        sent = 0
        for n in levels:
            m0 = metrics_read(metrics_port)
            count, secs, ccpu = run_level(host, port, rcpts, n, args.messages, data,
                                          args.new_conn, args.rcpts, args.client,
                                          args.client_procs)
            m1 = metrics_read(metrics_port)
            sent += count * min(args.rcpts, len(rcpts))
            dj = metrics_delta(m0, m1, METRICS[0])
            jobs = "  jobs/msg=%5.2f" % (dj / count) if dj is not None else ""
            db = metrics_delta(m0, m1, METRICS[1])
            dd = metrics_delta(m0, m1, METRICS[2])
            if db:
                jobs += "  batch=%.2f" % (dd / db)
            print("clients=%-3d messages=%-6d seconds=%7.2f  msgs/s=%8.1f  MB/s=%6.1f%s"
                  "  client_cpu_ms=%.3f"
                  % (n, count, secs, count / secs, count * args.size / secs / 1e6, jobs,
                     ccpu * 1000 / count), flush=True)
        if srv is not None:
            stored = sum(inbox_count(srv, u, p) for u, p in users.items())
            print("stored=%d acknowledged=%d %s" % (stored, sent, "OK" if stored == sent else "MISMATCH"))
            if stored != sent:
                return 1
    finally:
        if srv is not None:
            srv.close()
        if dns is not None:
            dns.__exit__(None, None, None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
