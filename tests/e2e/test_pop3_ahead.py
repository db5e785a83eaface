#!/usr/bin/env python3
"""POP3 read-ahead (issue 19, item 5): after the answer to RETR n the
daemon reads message n+1 (if it fits in one 64 KiB chunk) while the
client reads, so a RETR loop without pipelining does not wait for a
worker per message.

What a user would check: every message comes back byte-exact through
Python's poplib whatever the order (RETR in sequence, DELE between RETRs,
a TOP or a RETR of another message in between, messages larger than one
64 KiB chunk, which are not read ahead, a message another session
expunged meanwhile); and the
metrics endpoint shows that the read-ahead was used by the RETR loop
(minimaild_pop3_read_ahead_total{result="used"}), so the test fails if
the read-ahead is never taken.
"""
import hashlib
import imaplib
import poplib
import random
import smtplib
import ssl
import unittest
import urllib.request

import mmtest

USER = "reader@example.org"
PASSWORD = "reader-secret"


def message(i, size, rnd):
    head = ("From: Sender <sender@example.net>\r\n"
            "To: %s\r\n"
            "Subject: ahead %d\r\n"
            "Message-ID: <ahead-%d@example.net>\r\n"
            "\r\n" % (USER, i, i)).encode()
    lines = []
    n = len(head)
    k = 0
    while n < size:
        text = "".join(rnd.choice("abcdefghij .") for _ in range(70))
        line = ("." + text if k % 7 == 0 else text).encode() + b"\r\n"
        lines.append(line)
        n += len(line)
        k += 1
    return head + b"".join(lines)


def metric(port, name, labels):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=20) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + "{" + labels + "}"):
                return float(line.split()[-1])
    raise AssertionError("no %s{%s} in /metrics" % (name, labels))


class Pop3ReadAheadTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = mmtest.Server(users={USER: PASSWORD}, start=False)
        (cls.mport,) = mmtest.free_ports(1)
        cls.srv.write_conf(cls.srv.conf_text() +
                           "[listen]\nmetrics = 127.0.0.1:%d\n" % cls.mport)
        cls.srv.start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def deliver(self, msgs):
        with smtplib.SMTP("127.0.0.1", self.srv.ports["smtp"], timeout=60) as s:
            for m in msgs:
                s.sendmail("sender@example.net", [USER], m)

    def pop(self):
        ctx = ssl.create_default_context(cafile=self.srv.cert)
        p = poplib.POP3_SSL("127.0.0.1", self.srv.ports["pop3s"], context=ctx, timeout=60)
        p.user(USER)
        p.pass_(PASSWORD)
        return p

    @staticmethod
    def body(p, n):
        """Message n as delivered: the daemon's trace headers (Return-Path,
        Received) come first, then the bytes that were sent."""
        resp, lines, octets = p.retr(n)
        raw = b"\r\n".join(lines) + b"\r\n"
        at = raw.find(b"\r\nFrom: Sender")
        return raw[at + 2:] if at >= 0 else raw

    def setUp(self):
        self.empty()

    def empty(self):
        p = self.pop()
        for i in range(1, len(p.list()[1]) + 1):
            p.dele(i)
        p.quit()

    def test_1_retr_loop_uses_read_ahead(self):
        rnd = random.Random(7)
        # small ones, then two of several chunks, then small again
        sizes = [2000] * 20 + [200000, 150000] + [500] * 10
        msgs = [message(i, n, rnd) for i, n in enumerate(sizes)]
        self.deliver(msgs)
        used0 = metric(self.mport, "minimaild_pop3_read_ahead_total", 'result="used"')
        p = self.pop()
        self.assertEqual(len(p.list()[1]), len(msgs))
        for i, m in enumerate(msgs, 1):
            self.assertEqual(hashlib.sha256(self.body(p, i)).hexdigest(),
                             hashlib.sha256(m).hexdigest(), "message %d" % i)
        p.quit()
        used = metric(self.mport, "minimaild_pop3_read_ahead_total", 'result="used"') - used0
        # every RETR but the first and the two big ones finds its message
        # read ahead
        self.assertEqual(used, len(msgs) - 3)

    def test_2_dele_top_and_jumps_between_retrs(self):
        rnd = random.Random(8)
        msgs = [message(i, 3000 + 1000 * i, rnd) for i in range(8)]
        self.deliver(msgs)
        p = self.pop()
        self.assertEqual(self.body(p, 1), msgs[0])
        p.dele(1)                                   # fetchmail's pattern
        self.assertEqual(self.body(p, 2), msgs[1])
        p.dele(3)                                   # the one read ahead
        self.assertEqual(self.body(p, 4), msgs[3])  # skips the deleted 3
        top = p.top(5, 0)[1]
        self.assertIn(b"Subject: ahead 4", top)
        self.assertEqual(self.body(p, 5), msgs[4])
        self.assertEqual(self.body(p, 8), msgs[7])  # not the one read ahead
        self.assertEqual(self.body(p, 6), msgs[5])
        with self.assertRaises(poplib.error_proto):
            p.retr(3)
        p.rset()
        self.assertEqual(self.body(p, 3), msgs[2])
        p.quit()

    def test_3_expunged_meanwhile(self):
        rnd = random.Random(9)
        msgs = [message(i, 30000, rnd) for i in range(2)] + [message(2, 90000, rnd)]
        self.deliver(msgs)
        p = self.pop()
        self.assertEqual(self.body(p, 1), msgs[0])
        # message 2 is held read ahead; IMAP expunges it now
        im = imaplib.IMAP4_SSL("127.0.0.1", self.srv.ports["imaps"],
                               ssl_context=ssl.create_default_context(cafile=self.srv.cert))
        im.login(USER, PASSWORD)
        im.select("INBOX")
        im.store("2", "+FLAGS", "(\\Deleted)")
        im.expunge()
        im.logout()
        # the whole message as it was at the RETR before, never a torn answer
        self.assertEqual(self.body(p, 2), msgs[1])
        self.assertEqual(self.body(p, 3), msgs[2])
        p.quit()
        # a message of several chunks is not read ahead: its RETR after an
        # expunge is a clean -ERR, not a torn answer
        big = message(4, 120000, rnd)
        self.deliver([big])
        p = self.pop()
        self.assertEqual(len(p.list()[1]), 3)
        self.assertEqual(self.body(p, 2), msgs[2])
        im = imaplib.IMAP4_SSL("127.0.0.1", self.srv.ports["imaps"],
                               ssl_context=ssl.create_default_context(cafile=self.srv.cert))
        im.login(USER, PASSWORD)
        im.select("INBOX")
        im.store("3", "+FLAGS", "(\\Deleted)")
        im.expunge()
        im.logout()
        with self.assertRaises(poplib.error_proto) as cm:
            p.retr(3)
        self.assertIn("removed", str(cm.exception))
        p.quit()


if __name__ == "__main__":
    unittest.main(verbosity=2)
