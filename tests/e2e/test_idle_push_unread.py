#!/usr/bin/env python3
"""An IDLE session that does not read while its mailbox keeps changing
(issue 19): the pushes go to its socket at once while the socket takes
them and are queued behind what it did not take once it is full (the
client's receive buffer is small), with TLS and without. When the client
reads again it gets every byte in order: well-formed untagged lines only,
the last FETCH of each message shows the flags it ended with, the last
EXISTS counts every message, the session is still open (DONE is
answered), and the daemon's memory stayed bounded meanwhile."""
import imaplib
import os
import re
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmtest  # noqa: E402
from test_flood import BOUND_FACTOR, rss_kib  # noqa: E402

USER, PASSWORD = "alice@example.org", "alice-secret"
NMSGS = 300          # a flag change of all of them: ~12 KB of FETCH to tell
ROUNDS = 24          # ~290 KB in all, far more than the socket holds
NEW = 3              # then deliveries: EXISTS behind the FETCHes
SMALL_RCVBUF = 4096
RSS_GROWTH_MAX_KIB = 64 * 1024
LINE = re.compile(rb"^\* (\d+) (?:FETCH \(UID (\d+) FLAGS \(([^)]*)\)\)|EXISTS|RECENT)$")


def message(n):
    return ("From: a@example.org\r\nTo: alice@example.org\r\nSubject: m%d\r\n\r\n"
            "body %d\r\n" % (n, n)).encode()


class UnreadIdle(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = mmtest.Server(users={USER: PASSWORD}, allow_plaintext=True)
        m = cls.actor()
        for i in range(NMSGS):
            m.append("INBOX", None, None, message(i))
        m.logout()

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    @classmethod
    def actor(cls):
        m = imaplib.IMAP4("127.0.0.1", cls.srv.ports["imap"])
        m.login(USER, PASSWORD)
        m.select("INBOX")
        return m

    def idle_session(self, tls):
        """Logged in, INBOX selected, in IDLE, over a socket whose receive
        buffer is small (set before connect, so the window stays small)."""
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_RCVBUF)
        s.settimeout(60)
        s.connect(("127.0.0.1", self.srv.ports["imaps" if tls else "imap"]))
        if tls:
            s = self.srv.ssl_context().wrap_socket(s, server_hostname="localhost")
        f = s.makefile("rb")
        self.assertTrue(f.readline().startswith(b"* OK"))
        for cmd in (b"a LOGIN %s %s" % (USER.encode(), PASSWORD.encode()), b"b SELECT INBOX"):
            s.sendall(cmd + b"\r\n")
            while True:
                ln = f.readline()
                self.assertTrue(ln, "closed during %r" % cmd)
                if ln.startswith(cmd[:2]):
                    self.assertIn(b" OK", ln)
                    break
        s.sendall(b"c IDLE\r\n")
        self.assertTrue(f.readline().startswith(b"+"))
        return s, f

    def run_variant(self, tls):
        exists = before = len(self.actor().search(None, "ALL")[1][0].split())
        s, f = self.idle_session(tls)
        pid = self.srv.proc.pid
        rss0 = rss_kib(pid)
        m = self.actor()
        flagged = False
        for k in range(ROUNDS):
            flagged = not flagged
            m.store("1:*", "+FLAGS" if flagged else "-FLAGS", "(\\Flagged)")
        for i in range(NEW):
            m.append("INBOX", None, None, message(1000 + i))
            exists += 1
        m.logout()
        time.sleep(0.5)
        self.assertLess(rss_kib(pid) - rss0, RSS_GROWTH_MAX_KIB * BOUND_FACTOR, "daemon RSS growth")

        # now read: everything, in order, up to the last EXISTS
        last = {}
        seen_exists = 0
        deadline = time.time() + 120
        while seen_exists < exists and time.time() < deadline:
            ln = f.readline()
            self.assertTrue(ln, "the daemon closed the unread session")
            mo = LINE.match(ln.rstrip(b"\r\n"))
            self.assertIsNotNone(mo, "not an untagged line as pushed: %r" % ln)
            if mo.group(2) is not None:
                last[int(mo.group(2))] = mo.group(3)
            elif ln.rstrip().endswith(b"EXISTS"):
                seen_exists = int(mo.group(1))
        self.assertEqual(seen_exists, exists)
        self.assertEqual(len(last), before, "a FETCH for every message changed")
        for uid, flags in last.items():
            self.assertEqual(b"\\Flagged" in flags.split(), flagged, "UID %d: %r" % (uid, flags))
        s.sendall(b"DONE\r\n")
        while True:
            ln = f.readline()
            self.assertTrue(ln, "closed before DONE was answered")
            if ln.startswith(b"c "):
                self.assertIn(b"OK", ln)
                break
        s.close()

    def test_plain(self):
        self.run_variant(False)

    def test_tls(self):
        self.run_variant(True)


if __name__ == "__main__":
    mmtest.main()
