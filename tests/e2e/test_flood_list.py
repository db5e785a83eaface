#!/usr/bin/env python3
"""Large LIST and SEARCH answers in pieces (issue 12, item 1): a client
whose receive buffer is small asks for a LIST of many mailboxes or a
SEARCH ALL of many messages and does not read. The daemon writes such an
answer in pieces, each only once the output has drained to the low
watermark, so what waits in the conn stays under the high one (256 KiB);
the rendered answer itself is held once. RSS growth bounds are below;
the answer is complete and in order when the client finally reads, and
another client logs in meanwhile."""
import os
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmtest  # noqa: E402
from test_flood import (BOUND_FACTOR, LOGIN_BOUND_SECS, push,  # noqa: E402
                        read_until, rss_kib, small_socket)

USERS = {"alice@example.org": "alice-secret", "carol@example.org": "carol-secret"}
# As many as a test sets up in a few seconds over pipelined IMAP commands;
# names padded so the LIST answer is over the high watermark (256 KiB).
MAILBOXES = 1200
NAME_PAD = "m" * 200
MESSAGES = 50000
MULTIAPPEND_BATCH = 500


def login(port, user):
    s = small_socket(port)
    read_until(s, b"\r\n")
    s.sendall(b"l LOGIN %s %s\r\n" % (user.encode(), USERS[user].encode()))
    read_until(s, b"l OK")
    return s


def pipeline(s, cmds, last_tag):
    """Sends commands while reading their answers (never stalls)."""
    data = b"".join(cmds)
    s.settimeout(120)
    sent = 0
    buf = b""
    s.setblocking(False)
    end = time.time() + 120
    while time.time() < end:
        if sent < len(data):
            try:
                sent += s.send(data[sent:sent + 65536])
            except BlockingIOError:
                pass
        try:
            d = s.recv(65536)
            if not d:
                raise AssertionError("closed")
            buf += d
            buf = buf[-4096:]
        except BlockingIOError:
            time.sleep(0.001)
        if sent == len(data) and (b"\r\n" + last_tag + b" ") in buf:
            break
    s.setblocking(True)
    s.settimeout(60)
    return buf


class BigAnswers(unittest.TestCase):
    def setUp(self):
        self.srv = mmtest.Server(users=USERS, allow_plaintext=True)

    def tearDown(self):
        self.srv.close()

    def settle_rss(self, secs=2.0):
        top = 0
        end = time.time() + secs
        while time.time() < end:
            top = max(top, rss_kib(self.srv.proc.pid))
            time.sleep(0.2)
        return top

    def other_login(self):
        t = time.time()
        s = login(self.srv.ports["imap"], "carol@example.org")
        s.sendall(b"x LOGOUT\r\n")
        read_until(s, b"x OK")
        s.close()
        return time.time() - t

    def flood(self, name, s, cmd, ntimes, bound_kib, expect):
        """cmd pipelined ntimes, never read; then every answer read."""
        self.other_login()
        base = self.settle_rss(0.5)
        data = b"".join(b"q%d %s\r\n" % (i, cmd) for i in range(ntimes))
        self.assertEqual(push(s, data, 5), len(data))
        top = self.settle_rss()
        took = self.other_login()
        grew = top - base
        print("%s: rss %d -> %d KiB (growth %d KiB, bound %d KiB); other login %.3f s"
              % (name, base, top, grew, bound_kib * BOUND_FACTOR, took), file=sys.stderr)
        self.assertLess(grew, bound_kib * BOUND_FACTOR, name)
        self.assertLess(took, LOGIN_BOUND_SECS, name)
        self.assertIsNone(self.srv.proc.poll())
        # now read it all: every answer complete, in order
        got = read_until(s, b"q%d OK" % (ntimes - 1), limit=1 << 30)
        got += read_until(s, b"\r\n") if not got.endswith(b"\r\n") else b""
        pos = 0
        for i in range(ntimes):
            tagged = got.index(b"\r\nq%d OK" % i, pos)
            expect(got[got.index(b"* ", pos):tagged + 2])
            pos = got.index(b"\r\n", tagged + 2) + 2
        s.close()

    def test_list_1200_mailboxes(self):
        """LIST "" * of 1,200 mailboxes (260 KiB of answer, over the watermark) pipelined 20
        times to a client that does not read: growth under 8 MiB (one
        answer rendered, the watermark; without pieces the conn held the
        whole answer)."""
        s = login(self.srv.ports["imap"], "alice@example.org")
        names = [b"box%05d-%s" % (i, NAME_PAD.encode()) for i in range(MAILBOXES)]
        t = time.time()
        pipeline(s, [b"c%d CREATE %s\r\n" % (i, n) for i, n in enumerate(names)],
                 b"c%d" % (MAILBOXES - 1))
        print("created %d mailboxes in %.1f s" % (MAILBOXES, time.time() - t), file=sys.stderr)

        def expect(answer):
            lines = answer.split(b"\r\n")
            self.assertEqual(lines[-1], b"")
            self.assertEqual(len(lines) - 1, MAILBOXES + 6, lines[-3:])   # INBOX, five special-use
            self.assertTrue(all(ln.startswith(b"* LIST (") for ln in lines[:-1]))
            self.assertIn(names[0], answer)
            self.assertIn(names[-1], answer)
        self.flood("imap LIST \"\" * (%d mailboxes) x 20" % MAILBOXES, s,
                   b'LIST "" *', 20, 8 * 1024, expect)

    def test_search_all(self):
        """SEARCH ALL of 50,000 messages (290 KiB of answer, over the
        watermark) pipelined 50 times: growth under 8 MiB."""
        s = login(self.srv.ports["imap"], "alice@example.org")
        msg = b"From: a@example.org\r\nSubject: s\r\n\r\nx\r\n"
        t = time.time()
        lit = b" {%d+}\r\n%s" % (len(msg), msg)
        nb = MESSAGES // MULTIAPPEND_BATCH
        pipeline(s, [b"a%d APPEND INBOX%s\r\n" % (i, lit * MULTIAPPEND_BATCH)
                     for i in range(nb)], b"a%d" % (nb - 1))
        print("appended %d messages in %.1f s" % (MESSAGES, time.time() - t), file=sys.stderr)
        s.sendall(b"s SELECT INBOX\r\n")
        read_until(s, b"s OK")
        want = b"* SEARCH " + b" ".join(b"%d" % i for i in range(1, MESSAGES + 1)) + b"\r\n"

        def expect(answer):
            self.assertEqual(answer[:len(want)], want)
        self.flood("imap SEARCH ALL (%d messages) x 50" % MESSAGES, s,
                   b"SEARCH ALL", 50, 8 * 1024, expect)


if __name__ == "__main__":
    mmtest.main()
