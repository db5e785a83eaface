#!/usr/bin/env python3
"""SEARCH in batches over a mailbox that changes meanwhile (issues 12
and 18). A SEARCH evaluates a few hundred messages per worker job and
yields between batches; another session expunges and appends while it
runs. What the answer means is defined in cmd-search.c: the search sees
the view as the command found it (the UIDs and sequence numbers the
client knows; nothing the session learns meanwhile is applied before the
answer), a message expunged before its batch whose body can no longer be
read is left out, messages that arrive meanwhile are not searched. So:
every hit is a matching message of the snapshot, every matching message
that was not expunged is a hit, no EXPUNGE comes before the tagged OK,
and the next command brings the EXPUNGEs and EXISTS after which a SEARCH
gives exactly the new state."""
import os
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmtest  # noqa: E402

USERS = {"alice@example.org": "alice-secret"}
N = 2000            # eight batches of a SEARCH BODY (250 messages each)
GONE = 600          # UIDs 1..GONE expunged by the other session meanwhile
NEW = 100           # messages appended meanwhile
STEP = 50


def msg(i, needle):
    word = b"needle" if needle else b"hay"
    return (b"From: a@example.org\r\nSubject: m%d\r\n\r\n" % i +
            (b"a line of text with %s in it\r\n" % word) * 300)


def matches(i):
    """Message i (1-based, its UID too) has the needle."""
    return i % 3 == 0


class Client:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=120)
        self.buf = b""
        self.until(b"* OK")

    def send(self, data):
        self.s.sendall(data)

    def until(self, marker):
        """Up to the end of the line that has marker."""
        while marker not in self.buf or \
                b"\r\n" not in self.buf[self.buf.index(marker) + len(marker):]:
            d = self.s.recv(1 << 16)
            if not d:
                raise AssertionError("closed before %r" % marker)
            self.buf += d
        i = self.buf.index(b"\r\n", self.buf.index(marker) + len(marker)) + 2
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def fill(self, mark):
        while mark not in b"\r\n" + self.buf:
            d = self.s.recv(1 << 16)
            if not d:
                raise AssertionError("closed before %r" % mark)
            self.buf += d

    def cmd(self, tag, line):
        self.send(b"%s %s\r\n" % (tag, line))
        self.fill(b"\r\n" + tag + b" ")
        out = self.until(tag + b" ") if (b"\r\n" + self.buf).index(b"\r\n" + tag + b" ") == 0 \
            else self.until(b"\r\n" + tag + b" ")
        last = out.split(b"\r\n")[-2]
        assert last.startswith(tag + b" OK"), out[-300:]
        return out


def search_numbers(answer, word=b"* SEARCH"):
    for ln in answer.split(b"\r\n"):
        if ln.startswith(word):
            return [int(x) for x in ln[len(word):].split()]
    raise AssertionError("no %r in %r" % (word, answer[-300:]))


class ChangingMailbox(unittest.TestCase):
    def setUp(self):
        self.srv = mmtest.Server(users=USERS, allow_plaintext=True)
        a = self.login()
        for b0 in range(1, N + 1, 250):
            lits = b"".join(b" {%d+}\r\n%s" % (len(m), m)
                            for m in (msg(i, matches(i)) for i in range(b0, b0 + 250)))
            a.cmd(b"p", b"APPEND INBOX" + lits)
        a.s.close()

    def tearDown(self):
        self.srv.close()

    def login(self):
        c = Client(self.srv.ports["imap"])
        c.cmd(b"l", b"LOGIN alice@example.org alice-secret")
        return c

    def changer(self, b, errors, first):
        """The other session: expunges 1..GONE in steps, appends NEW."""
        try:
            for k in range(0, GONE, STEP):
                if k == STEP:
                    first.set()
                b.cmd(b"d%d" % k, b"UID STORE %d:%d +FLAGS.SILENT (\\Deleted)" % (k + 1, k + STEP))
                b.cmd(b"e%d" % k, b"UID EXPUNGE %d:%d" % (k + 1, k + STEP))
                if k // STEP < NEW // 10:
                    lits = b"".join(b" {%d+}\r\n%s" % (len(m), m)
                                    for m in (msg(N + j, True) for j in range(10)))
                    b.cmd(b"n%d" % k, b"APPEND INBOX" + lits)
        except Exception as e:   # noqa: BLE001 (reported by the test)
            errors.append(e)
        first.set()

    def run_during_changes(self, line):
        a = self.login()
        sel = a.cmd(b"s", b"SELECT INBOX")
        self.assertIn(b"* %d EXISTS" % N, sel)
        b = self.login()
        b.cmd(b"s", b"SELECT INBOX")
        errors = []
        first = threading.Event()
        t = threading.Thread(target=self.changer, args=(b, errors, first))
        t.start()
        # the first step is done before the SEARCH starts, the rest run
        # during it; the session has not yet applied any of them
        first.wait(60)
        t0 = time.time()
        a.send(b"q %s\r\n" % line)
        a.fill(b"\r\nq ")
        answer = a.until(b"\r\nq ")
        took = time.time() - t0
        t.join(120)
        self.assertEqual(errors, [])
        data = answer.index(b"* ESEARCH" if b"RETURN" in line else b"* SEARCH")
        if line.startswith(b"UID "):
            # RFC 3501 7.4.1: a UID command may bring EXPUNGE, after the answer
            self.assertNotIn(b" EXPUNGE\r\n", answer[:data])
        else:
            self.assertNotIn(b" EXPUNGE\r\n", answer)   # never during SEARCH
        self.assertTrue(answer.split(b"\r\n")[-2].startswith(b"q OK"), answer[-200:])
        return a, b, answer, took

    def check_after(self, a, answer):
        """The next command brings the changes; then a SEARCH is exact."""
        out = a.cmd(b"z", b"NOOP")
        self.assertEqual(answer.count(b" EXPUNGE\r\n") + out.count(b" EXPUNGE\r\n"), GONE)
        self.assertEqual(len(search_numbers(a.cmd(b"x", b"SEARCH ALL"))), N - GONE + NEW)
        want = [u for u in range(GONE + 1, N + 1) if matches(u)] + \
            list(range(N + 1, N + NEW + 1))
        self.assertEqual(search_numbers(a.cmd(b"y", b"UID SEARCH BODY needle")), want)

    def test_search_body_while_expunged(self):
        a, b, answer, took = self.run_during_changes(b"SEARCH BODY needle")
        hits = search_numbers(answer)
        self.assertEqual(hits, sorted(set(hits)))
        self.assertTrue(all(1 <= h <= N and matches(h) for h in hits), hits[:20])
        kept = [i for i in range(GONE + 1, N + 1) if matches(i)]
        self.assertEqual([h for h in hits if h > GONE], kept)
        early = [h for h in hits if h <= GONE]
        print("SEARCH BODY of %d messages took %.2f s while %d were expunged: "
              "%d of the %d expunged matches still in the answer (evaluated before)"
              % (N, took, GONE, len(early), len([i for i in range(1, GONE + 1) if matches(i)])),
              file=sys.stderr)
        self.check_after(a, answer)
        a.s.close()
        b.s.close()

    def test_uid_search_all_is_the_snapshot(self):
        """Index keys only: the snapshot's messages, all of them, by UID,
        and ESEARCH over the same snapshot."""
        a, b, answer, took = self.run_during_changes(
            b"UID SEARCH RETURN (MIN MAX COUNT) UNDELETED")
        line = [ln for ln in answer.split(b"\r\n") if ln.startswith(b"* ESEARCH")][0]
        self.assertIn(b"MIN 1 MAX %d COUNT %d" % (N, N), line)
        self.check_after(a, answer)
        a.s.close()
        b.s.close()


if __name__ == "__main__":
    mmtest.main()
