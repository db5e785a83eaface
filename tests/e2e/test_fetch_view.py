#!/usr/bin/env python3
"""FETCH of items the view holds (UID, FLAGS, INTERNALDATE, RFC822.SIZE,
MODSEQ) over more messages than one loop turn renders (FETCH_LOOP_MSGS,
2,000, in src/imap/cmd-fetch.c): every line exact against what was
appended (sequence numbers of this session's map, flags with keywords and
\\Recent, sizes, dates), the same MODSEQ as a FETCH that goes through a
worker, messages expunged elsewhere left out with NO [EXPUNGEISSUED] and
their EXPUNGE sent later, CHANGEDSINCE, an own EXPUNGE renumbering, and a
command pipelined behind the FETCH answered after its tagged OK."""
import re
import unittest

import mmtest

N = 5000
USER, PASSWORD = "alice@example.org", "alice-secret"
KEYWORDS = (b"$Label1", b"$Label2")


def message(i):
    return b"Subject: m%d\r\n\r\n%s\r\n" % (i, b"x" * (i % 50))


def flags_of(i):
    """The flags message i is appended with, in the order FETCH gives them."""
    f = []
    if i % 5 == 0:
        f.append(b"\\Flagged")
    if i % 3 == 0:
        f.append(b"\\Seen")
    if i % 7 == 0:
        f.append(KEYWORDS[0])
    if i % 11 == 0:
        f.append(KEYWORDS[1])
    return f


def date_of(i):
    return b"01-Jan-2024 10:%02d:%02d +0000" % ((i // 60) % 60, i % 60)


class Client:
    """IMAP over TLS, answers read whole (thousands of lines) and split."""

    def __init__(self, srv):
        self.s = srv.ssl_context().wrap_socket(srv.connect("imaps", timeout=60))
        self.buf = b""
        self.n = 0
        self.read_to(b"* OK")
        self.cmd(b"LOGIN %s %s" % (USER.encode(), PASSWORD.encode()))

    def read_to(self, end):
        """Lines up to and including the first that starts with end."""
        while True:
            at = self.buf.find(b"\r\n" + end) if not self.buf.startswith(end) else -2
            if at != -1:
                stop = self.buf.find(b"\r\n", at + 2)
                if stop != -1:
                    text, self.buf = self.buf[:stop], self.buf[stop + 2:]
                    return text.split(b"\r\n")
            d = self.s.recv(1 << 18)
            if not d:
                raise EOFError(self.buf[-200:])
            self.buf += d

    def send(self, text):
        self.n += 1
        tag = b"t%d" % self.n
        self.s.sendall(tag + b" " + text + b"\r\n")
        return tag

    def cmd(self, text, ok=b"OK"):
        """The untagged lines of text, checking the tagged status."""
        tag = self.send(text)
        lines = self.read_to(tag + b" ")
        self.tagged = lines[-1]
        if not lines[-1].startswith(tag + b" " + ok):
            raise AssertionError("%r -> %r" % (text[:60], lines[-1]))
        return lines[:-1]

    def close(self):
        self.s.close()


class FetchViewTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = mmtest.Server()
        cls.boxes = 0

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def fill(self):
        """A new mailbox of N messages (pipelined LITERAL+ APPENDs, flags
        and INTERNALDATE given); its name."""
        FetchViewTest.boxes += 1
        box = b"View%d" % self.boxes
        c = Client(self.srv)
        c.cmd(b"CREATE " + box)
        for lo in range(0, N, 500):
            tags = []
            for i in range(lo, min(N, lo + 500)):
                m = message(i)
                tags.append(c.send(b"APPEND %s (%s) \"%s\" {%d+}\r\n%s" % (
                    box, b" ".join(flags_of(i)), date_of(i), len(m), m)))
            for t in tags:
                ln = c.read_to(t + b" ")[-1]
                self.assertTrue(ln.startswith(t + b" OK"), ln)
        c.close()
        return box

    def two_sessions(self, select_b=b""):
        """A new mailbox, selected by a (the first: its messages are
        \\Recent there), then by b; and the untagged lines of b's SELECT."""
        box = self.fill()
        a = Client(self.srv)
        a.cmd(b"SELECT " + box)
        b = Client(self.srv)
        return a, b, b.cmd(b"SELECT " + box + select_b)

    def want(self, seq, i, recent, items):
        parts = []
        for it in items:
            if it == b"UID":
                parts.append(b"UID %d" % (i + 1))
            elif it == b"FLAGS":
                parts.append(b"FLAGS (%s)" % b" ".join(flags_of(i) + ([b"\\Recent"] if recent else [])))
            elif it == b"INTERNALDATE":
                parts.append(b"INTERNALDATE \"%s\"" % date_of(i))
            elif it == b"RFC822.SIZE":
                parts.append(b"RFC822.SIZE %d" % len(message(i)))
        return b"* %d FETCH (%s)" % (seq, b" ".join(parts))

    def test_every_line_exact(self):
        a, b, _ = self.two_sessions()
        items = [b"UID", b"FLAGS", b"INTERNALDATE", b"RFC822.SIZE"]
        got = a.cmd(b"FETCH 1:* (%s)" % b" ".join(items))
        self.assertEqual(len(got), N)
        for i in range(N):
            self.assertEqual(got[i], self.want(i + 1, i, True, items))
        # UID FETCH: UID comes first whatever the order asked
        got = b.cmd(b"UID FETCH 1:* (RFC822.SIZE FLAGS)")
        self.assertEqual(got, [self.want(i + 1, i, False, [b"UID", b"RFC822.SIZE", b"FLAGS"])
                               for i in range(N)])
        # a part of the mailbox, in two ranges
        got = b.cmd(b"FETCH 4990:5000,7:2100 (FLAGS)")
        self.assertEqual(got, [self.want(i + 1, i, False, [b"FLAGS"])
                               for i in list(range(6, 2100)) + list(range(4989, 5000))])
        # MODSEQ as a FETCH through a worker (a header read) gives it
        b.cmd(b"ENABLE CONDSTORE")
        view = b.cmd(b"FETCH 1:* (MODSEQ)")
        self.assertEqual(len(view), N)
        worker = b.cmd(b"FETCH 1:* (MODSEQ BODY.PEEK[HEADER.FIELDS (X-None)])")
        mods = [re.search(rb"MODSEQ \((\d+)\)", ln).group(1) for ln in worker
                if b" FETCH (" in ln]
        self.assertEqual(view, [b"* %d FETCH (MODSEQ (%s))" % (i + 1, mods[i]) for i in range(N)])
        a.close()
        b.close()

    def test_expunged_elsewhere_and_own_expunge(self):
        a, b, _ = self.two_sessions()
        gone = [10, 2500, 4999]            # 1-based UIDs
        b.cmd(b"UID STORE %s +FLAGS.SILENT (\\Deleted)" % b",".join(b"%d" % u for u in gone))
        b.cmd(b"EXPUNGE")
        # a FETCH (no EXPUNGE may be sent during it) learns of them ...
        a.cmd(b"FETCH 1 (UID)")
        # ... so FETCH 1:* leaves them out and ends in NO [EXPUNGEISSUED]
        got = a.cmd(b"FETCH 1:* (UID FLAGS)", ok=b"NO [EXPUNGEISSUED]")
        want = [self.want(i + 1, i, True, [b"UID", b"FLAGS"]) for i in range(N)
                if i + 1 not in gone]
        self.assertEqual(got, want)
        left = list(range(1, N + 1))
        for ln in a.cmd(b"NOOP"):
            if ln.endswith(b" EXPUNGE"):
                del left[int(ln.split()[1]) - 1]
        self.assertEqual(left, [u for u in range(1, N + 1) if u not in gone])
        # our own EXPUNGE: messages 1,001-1,100 (UIDs 1,002-1,101 now)
        a.cmd(b"STORE 1001:1100 +FLAGS.SILENT (\\Deleted)")
        a.cmd(b"EXPUNGE")
        uids = [u for u in range(1, N + 1) if u not in gone]
        uids = uids[:1000] + uids[1100:]
        got = a.cmd(b"FETCH 1:* (UID)")
        self.assertEqual(got, [b"* %d FETCH (UID %d)" % (k + 1, u) for k, u in enumerate(uids)])
        a.close()
        b.close()

    def test_changedsince_and_pipelining(self):
        a, b, sel = self.two_sessions(b" (CONDSTORE)")
        high = int(re.search(rb"HIGHESTMODSEQ (\d+)", b"\n".join(sel)).group(1))
        a.cmd(b"STORE 5,2500,4999 +FLAGS.SILENT (\\Answered)")
        b.cmd(b"NOOP")                   # the flag changes, told once
        got = b.cmd(b"FETCH 1:* (UID FLAGS) (CHANGEDSINCE %d)" % high)
        self.assertEqual(len(got), 3, got)
        for ln, seq in zip(got, (5, 2500, 4999)):
            want = b" ".join(flags_of(seq - 1))
            self.assertRegex(ln, rb"^\* %d FETCH \(MODSEQ \(\d+\) UID %d FLAGS \(\\Answered%s\)\)$"
                             % (seq, seq, re.escape(b" " + want if want else b"")))
        # a command pipelined behind a FETCH of several loop turns
        t1 = b.send(b"FETCH 1:* (FLAGS)")
        t2 = b.send(b"NOOP")
        lines = b.read_to(t2 + b" ")
        self.assertEqual(lines[N], t1 + b" OK Fetch completed")
        self.assertEqual(lines[N - 1], self.want(N, N - 1, False, [b"FLAGS"]))
        self.assertTrue(lines[-1].startswith(t2 + b" OK"), lines[-1])
        a.close()
        b.close()


if __name__ == "__main__":
    mmtest.main()
