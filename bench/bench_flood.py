#!/usr/bin/env python3
"""bench_flood: the daemon's memory per connection under clients that flood
with pipelined commands and never read (issue 12), for the README; not a
test.

Starts minimaild (tests/e2e/mmtest.py: temporary data_dir, loopback ports
only), opens N connections (default 1,000) with a 4 KiB receive buffer,
and on each pushes pipelined commands, never reading, until the daemon
stops taking them (backpressure) or the per-client byte budget is sent:

- preauth: `a CAPABILITY` on 143 before login (the default);
- fetch:   logged in on 143, `FETCH 1:* BODY.PEEK[]` of twenty 256 KiB
  messages, repeated (asks for 5 MiB of answers per command).

Then it samples the daemon's VmRSS (/proc/PID/status) for a few seconds and
prints the growth over the idle daemon divided by N, and how long another
client's login took meanwhile. Bounded: at most --budget bytes per client,
--seconds of pushing.

    MINIMAILD=./minimaild MINIMAILCTL=./minimailctl \\
        python3 bench/bench_flood.py [--clients 1000] [--mode preauth|fetch]
"""
import argparse
import imaplib
import os
import resource
import select
import socket
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))
import mmtest  # noqa: E402

PASSWORD = "bench-secret"
USERS = {"flood@example.org": PASSWORD, "other@example.org": PASSWORD}


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1])
    return 0


def message(size, n):
    head = ("From: a@example.org\r\nTo: flood@example.org\r\nSubject: m%d\r\n\r\n" % n).encode()
    line = b"x" * 76 + b"\r\n"
    body = line * ((size - len(head)) // len(line))
    return head + body + b"y" * (size - len(head) - len(body))


def recv_until(s, marker):
    buf = b""
    while marker not in buf:
        d = s.recv(65536)
        if not d:
            raise RuntimeError("closed: %r" % buf[-200:])
        buf += d
    return buf


def open_client(port, mode):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(30)
    s.connect(("127.0.0.1", port))
    recv_until(s, b"\r\n")
    if mode == "fetch":
        s.sendall(b"l LOGIN flood@example.org %s\r\n" % PASSWORD.encode())
        recv_until(s, b"l OK")
        s.sendall(b"s SELECT INBOX\r\n")
        recv_until(s, b"s OK")
    s.setblocking(False)
    return s


def other_login(srv):
    t = time.time()
    m = imaplib.IMAP4("127.0.0.1", srv.ports["imap"], timeout=60)
    m.login("other@example.org", PASSWORD)
    m.logout()
    return time.time() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--mode", choices=("preauth", "fetch"), default="preauth")
    ap.add_argument("--budget", type=int, default=1 << 20, help="bytes pushed per client at most")
    ap.add_argument("--seconds", type=float, default=30.0, help="pushing stops after this")
    args = ap.parse_args()

    want = args.clients + 200
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))

    srv = mmtest.Server(users=USERS, allow_plaintext=True,
                        limits="max_connections_per_ip = %d\nmax_connections_per_user = %d"
                        % (args.clients + 10, args.clients + 10), start=False)
    # every command is logged at debug: not what is measured here
    srv.write_conf(srv.conf_text().replace("log_level = debug", "log_level = warn"))
    try:
        srv.start()
        if args.mode == "fetch":
            m = imaplib.IMAP4("127.0.0.1", srv.ports["imap"])
            m.login("flood@example.org", PASSWORD)
            for i in range(20):
                m.append("INBOX", None, None, message(256 * 1024, i))
            m.logout()
        other_login(srv)
        time.sleep(1)
        base = rss_kib(srv.proc.pid)
        cmd = b"a CAPABILITY\r\n" if args.mode == "preauth" else b"f FETCH 1:* BODY.PEEK[]\r\n"
        chunk = cmd * (65536 // len(cmd))

        t = time.time()
        socks = [open_client(srv.ports["imap"], args.mode) for _ in range(args.clients)]
        print("%d clients connected in %.1f s" % (len(socks), time.time() - t))
        sent = {s: 0 for s in socks}
        live = set(socks)
        end = time.time() + args.seconds
        poller = select.poll()
        byfd = {s.fileno(): s for s in socks}
        for s in socks:
            poller.register(s, select.POLLOUT)
        while live and time.time() < end:
            ready = poller.poll(500)
            if not ready:
                # nobody can write: every client is held back by the daemon
                break
            for fd, _ in ready:
                s = byfd[fd]
                try:
                    n = s.send(chunk[:min(len(chunk), args.budget - sent[s])])
                    sent[s] += n
                except BlockingIOError:
                    pass
                if sent[s] >= args.budget:
                    live.discard(s)
                    poller.unregister(s)
        total = sum(sent.values())
        held = sum(1 for s in socks if sent[s] < args.budget)
        print("pushed %.1f MiB in %.1f s; %d of %d clients held back before their %d KiB budget"
              " (what the daemon does not read waits in the kernel's socket buffers)"
              % (total / 1048576, time.time() - t, held, len(socks), args.budget // 1024))
        took_busy = other_login(srv)
        top = 0
        for _ in range(25):
            top = max(top, rss_kib(srv.proc.pid))
            time.sleep(0.2)
        took = other_login(srv)
        grew = top - base
        print("daemon rss: idle %d KiB, with %d flooding clients %d KiB: %.1f KiB per connection"
              % (base, len(socks), top, grew / len(socks)))
        print("another client's login meanwhile: %.3f s while the daemon answers what it took,"
              " %.3f s once every flooder is held back" % (took_busy, took))
        for s in socks:
            s.close()
    finally:
        srv.close()


if __name__ == "__main__":
    main()
