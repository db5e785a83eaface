#!/usr/bin/env python3
"""One client can never hurt the others (issue 12): clients whose socket
receive buffer is small and who never read their answers, flooding with
pipelined commands. The daemon stops reading from them once their output
is above the high watermark, so its memory stays bounded (RSS read from
/proc/PID/status, growth bounds written below), and another client logs in
meanwhile. Loopback only; each flood is bounded in bytes and seconds."""
import imaplib
import os
import socket
import ssl
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmtest  # noqa: E402

MIB = 1024 * 1024
USERS = {
    "alice@example.org": "alice-secret",   # one 1 MiB message (IMAP)
    "bob@example.org": "bob-secret",       # twenty 256 KiB messages
    "dave@example.org": "dave-secret",     # one 1 MiB message (POP3)
    "carol@example.org": "carol-secret",   # the other client who logs in
}
# A login by another client while the floods sit there: the issue asks for
# "within a second"; we allow a few seconds for a shared, slow machine.
LOGIN_BOUND_SECS = 3.0
SMALL_RCVBUF = 4096


def asan_build():
    with open(mmtest.MINIMAILD, "rb") as f:
        return b"__asan_init" in f.read()


# AddressSanitizer keeps freed blocks in a quarantine and pads every
# allocation: its RSS says little about ours, so its bounds are looser.
BOUND_FACTOR = 4 if asan_build() else 1


def message(size, n):
    head = ("From: a@example.org\r\nTo: b@example.org\r\nSubject: m%d\r\n"
            "Message-ID: <m%d@example.org>\r\n\r\n" % (n, n)).encode()
    line = b"x" * 76 + b"\r\n"
    body = line * ((size - len(head)) // len(line))
    return head + body + b"y" * (size - len(head) - len(body))


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1])
    raise RuntimeError("no VmRSS")


def small_socket(port, tls_ctx=None):
    """A connection whose receive buffer is small (set before connect, so
    the TCP window stays small)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_RCVBUF)
    s.settimeout(60)   # generous: the machine may be loaded (or a sanitizer build)
    s.connect(("127.0.0.1", port))
    if tls_ctx is not None:
        s = tls_ctx.wrap_socket(s)
    return s


def read_until(s, marker, limit=1 << 20):
    buf = b""
    while marker not in buf:
        d = s.recv(65536)
        if not d:
            raise AssertionError("closed before %r: %r" % (marker, buf[-200:]))
        buf += d
        if len(buf) > limit:
            raise AssertionError("no %r" % marker)
    return buf


def push(s, data, secs):
    """Sends as much of data as the server takes within secs; never reads.
    Returns the bytes sent."""
    sent = 0
    end = time.time() + secs
    s.settimeout(0.2)
    while sent < len(data) and time.time() < end:
        try:
            sent += s.send(data[sent:sent + 65536])
        except (socket.timeout, ssl.SSLWantWriteError, BlockingIOError):
            continue
    return sent


class Flood(unittest.TestCase):
    """Each flood runs against a daemon of its own, so that memory freed
    by one test and kept by malloc cannot hide the growth of the next."""

    def setUp(self):
        self.srv = mmtest.Server(users=USERS, allow_plaintext=True,
                                 limits="max_connections_per_ip = 300\nmax_connections_per_user = 300")

    def tearDown(self):
        self.srv.close()

    def deliver(self, user, sizes):
        m = imaplib.IMAP4_SSL("127.0.0.1", self.srv.ports["imaps"],
                              ssl_context=self.srv.ssl_context())
        m.login(user, USERS[user])
        for i, size in enumerate(sizes):
            m.append("INBOX", None, None, message(size, i))
        m.logout()

    def baseline(self):
        """RSS once a login has run (what it allocates is not growth)."""
        self.other_login()
        return self.settle_rss(0.5)

    def other_login(self):
        """Another client logs in (IMAPS, LOGIN) and out; returns seconds."""
        t = time.time()
        m = imaplib.IMAP4_SSL("127.0.0.1", self.srv.ports["imaps"],
                              ssl_context=self.srv.ssl_context(), timeout=30)
        m.login("carol@example.org", USERS["carol@example.org"])
        m.select("INBOX")
        m.logout()
        return time.time() - t

    def settle_rss(self, secs=2.0):
        """The daemon's highest RSS over a few samples (KiB)."""
        top = 0
        end = time.time() + secs
        while time.time() < end:
            top = max(top, rss_kib(self.srv.proc.pid))
            time.sleep(0.2)
        return top

    def check(self, name, base, bound_kib, clients=1):
        top = self.settle_rss()
        took = self.other_login()
        grew = top - base
        print("%s: rss %d -> %d KiB (growth %d KiB, %.0f KiB per client, bound %d KiB); "
              "other login %.3f s" % (name, base, top, grew, grew / clients,
                                      bound_kib * BOUND_FACTOR, took),
              file=sys.stderr)
        self.assertLess(grew, bound_kib * BOUND_FACTOR, name)
        self.assertLess(took, LOGIN_BOUND_SECS, name)
        self.assertIsNone(self.srv.proc.poll())

    def flood_preauth(self, name, port, banner, cmd, bound_kib):
        base = self.baseline()
        s = small_socket(port)
        read_until(s, banner)
        data = cmd * (8 * MIB // len(cmd))
        sent = push(s, data, 6)
        self.check(name + " (%d of %d bytes taken)" % (sent, len(data)), base, bound_kib)
        # the commands the daemon did take were answered, in order
        s.settimeout(10)
        got = b""
        while len(got) < 65536:
            d = s.recv(65536)
            if not d:
                break
            got += d
        s.close()
        return got

    # 8 MiB of pipelined commands before login; the daemon's growth must
    # stay under 8 MiB (the input buffer, the output above the watermark).
    def test_imap_capability_preauth(self):
        got = self.flood_preauth("imap 143 CAPABILITY", self.srv.ports["imap"], b"\r\n",
                                 b"a CAPABILITY\r\n", 8 * 1024)
        self.assertIn(b"* CAPABILITY IMAP4rev1", got)
        self.assertIn(b"a OK", got)

    def test_pop3_capa(self):
        got = self.flood_preauth("pop3 110 CAPA", self.srv.ports["pop3"], b"\r\n",
                                 b"CAPA\r\n", 8 * 1024)
        self.assertIn(b"+OK", got)

    def test_smtp_noop(self):
        got = self.flood_preauth("smtp 25 NOOP", self.srv.ports["smtp"], b"\r\n",
                                 b"NOOP\r\n", 8 * 1024)
        self.assertIn(b"250 2.0.0", got)

    def imap_login_select(self, port, user, tls):
        s = small_socket(port, self.srv.ssl_context() if tls else None)
        read_until(s, b"\r\n")
        s.sendall(b"l LOGIN %s %s\r\n" % (user.encode(), USERS[user].encode()))
        read_until(s, b"l OK")
        s.sendall(b"s SELECT INBOX\r\n")
        read_until(s, b"s OK")
        return s

    def test_imaps_fetch_1mib_400(self):
        """400 pipelined FETCH 1 BODY.PEEK[] of a 1 MiB message over 993:
        400 MiB of answers asked for; growth under 16 MiB."""
        self.deliver("alice@example.org", [MIB])
        base = self.baseline()
        s = self.imap_login_select(self.srv.ports["imaps"], "alice@example.org", True)
        data = b"".join(b"f%d FETCH 1 BODY.PEEK[]\r\n" % i for i in range(400))
        sent = push(s, data, 5)
        self.assertEqual(sent, len(data))
        self.check("imaps 993 400 x FETCH 1 MiB", base, 16 * 1024)
        s.close()

    def test_pop3s_retr_400(self):
        """400 pipelined RETR 1 of a 1 MiB message over 995: growth
        under 16 MiB."""
        self.deliver("dave@example.org", [MIB])
        base = self.baseline()
        s = small_socket(self.srv.ports["pop3s"], self.srv.ssl_context())
        read_until(s, b"\r\n")
        s.sendall(b"USER dave@example.org\r\n")
        read_until(s, b"\r\n")
        s.sendall(b"PASS dave-secret\r\n")
        self.assertIn(b"+OK", read_until(s, b"\r\n"))
        data = b"RETR 1\r\n" * 400
        sent = push(s, data, 5)
        self.assertEqual(sent, len(data))
        self.check("pop3s 995 400 x RETR 1 MiB", base, 16 * 1024)
        s.close()

    def test_imap_100_clients_fetch_all(self):
        """100 clients each FETCH 1:* BODY.PEEK[] of twenty 256 KiB
        messages, never reading: a few MiB per client at most (bound: 1 MiB
        per client; about 0.3 MiB measured)."""
        self.deliver("bob@example.org", [256 * 1024] * 20)
        base = self.baseline()
        socks, errors = [], []

        def one():
            try:
                s = self.imap_login_select(self.srv.ports["imap"], "bob@example.org", False)
                s.sendall(b"f FETCH 1:* BODY.PEEK[]\r\n")
                socks.append(s)
            except Exception as e:  # noqa: BLE001 (reported below)
                errors.append(repr(e))
        threads = [threading.Thread(target=one) for _ in range(100)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(180)
        self.assertEqual(errors, [])
        self.assertEqual(len(socks), 100)
        self.check("imap 143 100 clients x FETCH 1:* (20 x 256 KiB)", base, 100 * 1024,
                   clients=100)
        for s in socks:
            s.close()

    def deliver_pipelined(self, user, n):
        """n small messages by pipelined LITERAL+ APPENDs on one connection."""
        s = self.srv.ssl_context().wrap_socket(self.srv.connect("imaps", timeout=60))
        read_until(s, b"\r\n")
        s.sendall(b"l LOGIN %s %s\r\n" % (user.encode(), USERS[user].encode()))
        read_until(s, b"l OK")
        for lo in range(0, n, 500):
            data = b"".join(b"a%d APPEND INBOX {%d+}\r\n%s\r\n" % (i, len(m), m)
                            for i, m in ((i, message(200, i)) for i in range(lo, min(n, lo + 500))))
            s.sendall(data)
            read_until(s, b"a%d OK" % (min(n, lo + 500) - 1), limit=1 << 24)
        s.close()

    def test_imap_50_clients_fetch_view_all(self):
        """50 clients each pipeline 200 FETCH 1:* (UID FLAGS RFC822.SIZE)
        on 5,000 messages (answered from the view on the loop, 2,000
        lines a turn), never reading: some 45 MiB of answers asked for by
        each; growth under 1 MiB per client."""
        self.deliver_pipelined("bob@example.org", 5000)
        base = self.baseline()
        socks = []
        for _ in range(50):
            s = self.imap_login_select(self.srv.ports["imap"], "bob@example.org", False)
            data = b"".join(b"f%d FETCH 1:* (UID FLAGS RFC822.SIZE)\r\n" % i for i in range(200))
            push(s, data, 0.2)
            socks.append(s)
        self.check("imap 143 50 clients x 200 x FETCH 1:* (UID FLAGS RFC822.SIZE) of 5,000",
                   base, 50 * 1024, clients=50)
        for s in socks:
            s.close()


if __name__ == "__main__":
    mmtest.main()
