#!/usr/bin/env python3
"""End-to-end tests of the IMAP search family: ESEARCH (RFC 4731),
SEARCHRES (RFC 5182), SORT and SORT=DISPLAY (RFC 5256, RFC 5957), ESORT
and PARTIAL (RFC 5267), THREAD (RFC 5256): exact untagged answers on a
small mailbox over a raw socket, and bad input answered with BAD."""
import socket
import time
import unittest

import mmtest

USER = ("alice@example.org", "alice-secret")


def msg(subject, frm, to, date, extra=b""):
    return (b"From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\n%s\r\nbody\r\n"
            % (frm, to, subject, date, extra))


MSGS = [
    msg(b"Re: beta", b"Zed <zed@example.org>", b"bob@example.org",
        b"Tue, 2 Jan 2024 10:00:00 +0000",
        b"Message-ID: <2@x>\r\nReferences: <1@x>\r\n"),
    msg(b"alpha", b"amy@example.org", b"Carl <carl@example.org>",
        b"Mon, 1 Jan 2024 10:00:00 +0000", b"Message-ID: <3@x>\r\n"),
    msg(b"beta", b"bob@example.org", b"amy@example.org",
        b"Sun, 31 Dec 2023 10:00:00 +0000", b"Message-ID: <1@x>\r\n"),
    msg(b"[list] Fwd: alpha", b"=?utf-8?q?Andr=C3=A9?= <c@example.org>", b"zoe@example.org",
        b"Wed, 3 Jan 2024 10:00:00 +0000",
        b"Message-ID: <4@x>\r\nIn-Reply-To: <3@x>\r\n"),
    msg(b"gamma", b"bob@example.org", b"", b"garbage", b"Message-ID: <5@x>\r\n"),
]


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""
        self.n = 0
        self.line()

    def line(self):
        while b"\r\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                raise EOFError(self.buf)
            self.buf += d
        ln, self.buf = self.buf.split(b"\r\n", 1)
        return ln

    def cmd(self, text, literal=None):
        self.n += 1
        tag = b"t%d" % self.n
        if literal is not None:
            self.s.sendall(tag + b" " + text + b" {%d}\r\n" % len(literal))
            assert self.line().startswith(b"+")
            self.s.sendall(literal + b"\r\n")
        else:
            self.s.sendall(tag + b" " + text + b"\r\n")
        out = []
        while True:
            ln = self.line()
            if ln.startswith(tag + b" "):
                return out, ln[len(tag) + 1:]
            out.append(ln)

    def ok(self, text, literal=None):
        out, st = self.cmd(text, literal)
        assert st.startswith(b"OK"), (text, out, st)
        return out

    def one(self, text, prefix):
        """The one untagged line starting with prefix."""
        lines = [ln for ln in self.ok(text) if ln.startswith(prefix)]
        assert len(lines) == 1, (text, lines)
        return lines[0].decode().replace('(TAG "t%d")' % self.n, '(TAG "T")')


class SearchTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = mmtest.Server(allow_plaintext=True)
        c = Conn(cls.srv.ports["imap"])
        c.ok(b"LOGIN %s %s" % tuple(x.encode() for x in USER))
        c.ok(b"CREATE S")
        for i, m in enumerate(MSGS):
            c.ok(b'APPEND S "%02d-Feb-2024 10:00:00 +0000"' % (10 + i), m)
        c.ok(b"LOGOUT")
        c.s.close()

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def conn(self):
        c = Conn(self.srv.ports["imap"])
        c.ok(b"LOGIN %s %s" % tuple(x.encode() for x in USER))
        c.ok(b"SELECT S")
        self.addCleanup(c.s.close)
        return c

    def test_capabilities(self):
        c = self.conn()
        caps = c.one(b"CAPABILITY", b"* CAPABILITY").split()
        for cap in ("ESEARCH", "SEARCHRES", "SORT", "SORT=DISPLAY", "ESORT",
                    "THREAD=ORDEREDSUBJECT", "THREAD=REFERENCES", "WITHIN", "CONTEXT=SEARCH", "CONTEXT=SORT"):
            self.assertIn(cap, caps)

    def test_esearch(self):
        c = self.conn()
        self.assertEqual(c.one(b"SEARCH RETURN (MIN MAX COUNT ALL) NOT 3", b"* ESEARCH"),
                         '* ESEARCH (TAG "T") MIN 1 MAX 5 ALL 1:2,4:5 COUNT 4')
        self.assertEqual(c.one(b"UID SEARCH RETURN () 2:3", b"* ESEARCH"),
                         '* ESEARCH (TAG "T") UID ALL 2:3')
        self.assertEqual(c.one(b"SEARCH RETURN (COUNT) CHARSET UTF-8 FROM andr\xc3\xa9",
                               b"* ESEARCH"), '* ESEARCH (TAG "T") COUNT 1')
        self.assertEqual(c.one(b"SEARCH RETURN (MIN) SUBJECT nothing", b"* ESEARCH"),
                         '* ESEARCH (TAG "T")')
        for bad in (b"SEARCH RETURN (FOO) ALL", b"SEARCH RETURN MIN ALL",
                    b"SEARCH RETURN (PARTIAL 1:*) ALL", b"SEARCH RETURN (MIN)"):
            self.assertTrue(c.cmd(bad)[1].startswith(b"BAD"), bad)

    def test_searchres(self):
        c = self.conn()
        out = c.ok(b"SEARCH RETURN (SAVE) SUBJECT alpha")
        self.assertEqual(out, [])                       # SAVE alone: no ESEARCH
        self.assertEqual(c.one(b"SEARCH $", b"* SEARCH"), "* SEARCH 2 4")
        self.assertEqual(c.one(b"UID SEARCH UID $", b"* SEARCH"), "* SEARCH 2 4")
        self.assertEqual(c.one(b"SEARCH NOT $", b"* SEARCH"), "* SEARCH 1 3 5")
        fetched = [ln for ln in c.ok(b"FETCH $ (UID)") if b"FETCH" in ln]
        self.assertEqual(fetched, [b"* 2 FETCH (UID 2)", b"* 4 FETCH (UID 4)"])
        c.ok(b"STORE $ +FLAGS (\\Flagged)")
        self.assertEqual(c.one(b"SEARCH FLAGGED", b"* SEARCH"), "* SEARCH 2 4")
        c.ok(b"STORE $ -FLAGS (\\Flagged)")
        # MIN/MAX with SAVE keep only those
        self.assertEqual(c.one(b"SEARCH RETURN (SAVE MAX) ALL", b"* ESEARCH"),
                         '* ESEARCH (TAG "T") MAX 5')
        self.assertEqual(c.one(b"SEARCH $", b"* SEARCH"), "* SEARCH 5")
        # a failed SEARCH SAVE empties "$" (RFC 5182 2.1)
        self.assertTrue(c.cmd(b"SEARCH RETURN (SAVE) FOO")[1].startswith(b"BAD"))
        self.assertEqual(c.one(b"SEARCH $", b"* SEARCH"), "* SEARCH")
        # SELECT forgets it
        c.ok(b"SEARCH RETURN (SAVE) 1")
        c.ok(b"SELECT S")
        self.assertEqual(c.one(b"SEARCH $", b"* SEARCH"), "* SEARCH")

    def test_context_update(self):
        a = self.conn()
        a.ok(b"CREATE U")
        for m in MSGS[:3]:
            a.ok(b"APPEND U", m)
        a.ok(b"SELECT U")
        b = Conn(self.srv.ports["imap"])
        self.addCleanup(b.s.close)
        b.ok(b"LOGIN %s %s" % tuple(x.encode() for x in USER))
        b.ok(b"SELECT U")
        out = a.ok(b"UID SEARCH RETURN (UPDATE) FLAGGED")
        self.assertEqual(out, ['* ESEARCH (TAG "t%d") UID'.encode() % a.n])
        ctx = a.n
        out = a.ok(b"SEARCH RETURN (UPDATE ALL) SUBJECT alpha")
        self.assertEqual(out, ['* ESEARCH (TAG "t%d") ALL 2'.encode() % a.n])
        ctx2 = a.n
        # another session's change reaches this one at its next command
        b.ok(b"STORE 1,3 +FLAGS (\\Flagged)")
        out = a.ok(b"NOOP")
        self.assertIn(b'* ESEARCH (TAG "t%d") UID ADDTO (0 1,3)' % ctx, out)
        b.ok(b"APPEND U", MSGS[3])                     # "[list] Fwd: alpha"
        out = a.ok(b"NOOP")
        self.assertEqual(out[0], b"* 4 EXISTS")
        self.assertIn(b'* ESEARCH (TAG "t%d") ADDTO (0 4)' % ctx2, out)
        b.ok(b"STORE 1 -FLAGS (\\Flagged)")
        b.ok(b"STORE 3 +FLAGS (\\Deleted)")
        b.ok(b"EXPUNGE")
        out = a.ok(b"NOOP")
        self.assertIn(b'* ESEARCH (TAG "t%d") UID REMOVEFROM (0 1,3)' % ctx, out)
        self.assertIn(b"* 3 EXPUNGE", out)
        # cancelled: no more updates; unknown tags are refused
        a.ok(b'CANCELUPDATE "t%d" "t%d"' % (ctx, ctx2))
        b.ok(b"STORE 1 +FLAGS (\\Flagged)")
        out = a.ok(b"NOOP")
        self.assertFalse([ln for ln in out if b"ESEARCH" in ln], out)
        for bad in (b'CANCELUPDATE "t%d"' % ctx, b"CANCELUPDATE", b"CANCELUPDATE t1",
                    b'CANCELUPDATE "nosuch"'):
            self.assertTrue(a.cmd(bad)[1].startswith(b"BAD"), bad)
        # bounded: the ninth context is refused with NOUPDATE
        for i in range(8):
            a.ok(b"SEARCH RETURN (UPDATE) ALL")
        out, st = a.cmd(b"SEARCH RETURN (UPDATE) ALL")
        self.assertTrue(st.startswith(b'OK [NOUPDATE "t%d"]' % a.n), st)
        self.assertTrue(a.cmd(b"SEARCH RETURN (UPDATE SAVE) ALL")[1].startswith(b"BAD"))
        # a failed SORT SAVE empties "$" but leaves the contexts alone
        a.ok(b"SEARCH RETURN (SAVE) 1")
        last = a.n - 3                  # the eighth context (the ninth was refused)
        self.assertTrue(a.cmd(b"SORT RETURN (SAVE) (DATE) UTF-8 FOO")[1].startswith(b"BAD"))
        self.assertEqual(a.one(b"SEARCH $", b"* SEARCH"), "* SEARCH")
        a.ok(b'CANCELUPDATE "t%d"' % last)
        # SELECT ends them all
        a.ok(b"SELECT U")
        a.ok(b"SEARCH RETURN (UPDATE) ALL")

    def test_context_first_sync(self):
        """A change this session has not seen yet when its SEARCH/SORT
        RETURN (UPDATE) runs is told right after the answer."""
        a = self.conn()
        a.ok(b"CREATE X")
        for m in MSGS[:3]:
            a.ok(b"APPEND X", m)
        a.ok(b"SELECT X")
        b = Conn(self.srv.ports["imap"])
        self.addCleanup(b.s.close)
        b.ok(b"LOGIN %s %s" % tuple(x.encode() for x in USER))
        b.ok(b"SELECT X")
        b.ok(b"STORE 2 +FLAGS (\\Flagged)")
        out = a.ok(b"SEARCH RETURN (UPDATE) FLAGGED")
        self.assertEqual(out[0], b'* ESEARCH (TAG "t%d")' % a.n)   # the view's answer
        self.assertEqual(sorted(out[1:]), [b"* 2 FETCH (UID 2 FLAGS (\\Flagged \\Recent))",
                                           b'* ESEARCH (TAG "t%d") ADDTO (0 2)' % a.n])
        b.ok(b"STORE 3 +FLAGS (\\Flagged)")
        out = a.ok(b"UID SORT RETURN (UPDATE) (SUBJECT) UTF-8 FLAGGED")
        self.assertEqual(out[0], b'* ESEARCH (TAG "t%d") UID ALL 2' % a.n)
        self.assertEqual(sorted(out[1:]), [b"* 3 FETCH (UID 3 FLAGS (\\Flagged \\Recent))",
                                           b'* ESEARCH (TAG "t%d") ADDTO (0 3)' % (a.n - 1),
                                           b'* ESEARCH (TAG "t%d") UID ADDTO (2 3)' % a.n])

    def test_context_sort(self):
        a = self.conn()
        a.ok(b"CREATE V")
        # subjects: beta, alpha, beta, alpha (base), gamma
        for m in MSGS:
            a.ok(b"APPEND V", m)
        a.ok(b"SELECT V")
        b = Conn(self.srv.ports["imap"])
        self.addCleanup(b.s.close)
        b.ok(b"LOGIN %s %s" % tuple(x.encode() for x in USER))
        b.ok(b"SELECT V")
        out = a.ok(b"UID SORT RETURN (UPDATE) (SUBJECT) UTF-8 UNSEEN")
        self.assertEqual(out, ['* ESEARCH (TAG "t%d") UID ALL 2,4,1,3,5'.encode() % a.n])
        ctx = a.n
        # 1 and 4 go (positions counted as each goes), 1 comes back
        b.ok(b"STORE 1,4 +FLAGS (\\Seen)")
        out = a.ok(b"NOOP")
        self.assertIn(b'* ESEARCH (TAG "t%d") UID REMOVEFROM (2 4) REMOVEFROM (2 1)' % ctx, out)
        b.ok(b"STORE 1 -FLAGS (\\Seen)")
        out = a.ok(b"NOOP")
        self.assertIn(b'* ESEARCH (TAG "t%d") UID ADDTO (2 1)' % ctx, out)
        # new mail: placed by its subject, after EXISTS
        b.ok(b"APPEND V", MSGS[1])               # alpha
        b.ok(b"APPEND V", MSGS[4])               # gamma
        out = a.ok(b"NOOP")
        self.assertEqual(out[0], b"* 7 EXISTS")
        self.assertIn(b'* ESEARCH (TAG "t%d") UID ADDTO (2 6) ADDTO (6 7)' % ctx, out)
        # the list is now 2,6,1,3,5,7: a sequence-number context agrees
        out = a.ok(b"SORT RETURN (UPDATE) (SUBJECT) UTF-8 UNSEEN")
        self.assertEqual(out, ['* ESEARCH (TAG "t%d") ALL 2,6,1,3,5,7'.encode() % a.n])
        # two SORT contexts at most
        out, st = a.cmd(b"SORT RETURN (UPDATE) (ARRIVAL) UTF-8 ALL")
        self.assertTrue(st.startswith(b'OK [NOUPDATE "t%d"]' % a.n), st)
        a.ok(b'CANCELUPDATE "t%d"' % ctx)
        a.ok(b"SORT RETURN (UPDATE) (ARRIVAL) UTF-8 ALL")

    def test_within(self):
        c = self.conn()
        c.ok(b"CREATE W")
        c.ok(b'APPEND W "01-Feb-2024 10:00:00 +0000"', MSGS[0])
        c.ok(b"APPEND W", MSGS[1])                  # internal date: now
        c.ok(b"SELECT W")
        self.assertEqual(c.one(b"SEARCH YOUNGER 3600", b"* SEARCH"), "* SEARCH 2")
        self.assertEqual(c.one(b"SEARCH OLDER 3600", b"* SEARCH"), "* SEARCH 1")
        self.assertEqual(c.one(b"SEARCH OLDER 4000000000", b"* SEARCH"), "* SEARCH")
        self.assertEqual(c.one(b"SEARCH YOUNGER 4000000000", b"* SEARCH"), "* SEARCH 1 2")
        for bad in (b"SEARCH YOUNGER", b"SEARCH YOUNGER 0", b"SEARCH OLDER -5",
                    b"SEARCH OLDER 4294967296", b"SEARCH YOUNGER abc"):
            self.assertTrue(c.cmd(bad)[1].startswith(b"BAD"), bad)

    def test_sort(self):
        c = self.conn()
        cases = [
            (b"(ARRIVAL)", "1 2 3 4 5"),
            (b"(REVERSE ARRIVAL)", "5 4 3 2 1"),
            # 5's Date is garbage: its internal date (the latest) counts
            (b"(DATE)", "3 2 1 4 5"),
            (b"(SUBJECT)", "2 4 1 3 5"),
            (b"(SUBJECT REVERSE DATE)", "4 2 1 3 5"),
            (b"(FROM)", "2 3 5 4 1"),
            (b"(DISPLAYFROM)", "2 4 3 5 1"),
            (b"(TO)", "5 3 1 2 4"),
            (b"(DISPLAYTO)", "5 3 1 2 4"),
            (b"(CC ARRIVAL)", "1 2 3 4 5"),
            (b"(SIZE)", None),
        ]
        for crit, want in cases:
            got = c.one(b"SORT %s UTF-8 ALL" % crit, b"* SORT")
            if want is not None:
                self.assertEqual(got, ("* SORT " + want).strip(), crit)
        self.assertEqual(c.one(b"UID SORT (SUBJECT) US-ASCII NOT 4", b"* SORT"), "* SORT 2 1 3 5")
        self.assertEqual(c.one(b"SORT (SUBJECT) UTF-8 SUBJECT nothing", b"* SORT"), "* SORT")
        # ESORT and PARTIAL: MIN/MAX are first/last in sort order
        self.assertEqual(c.one(b"SORT RETURN (MIN MAX COUNT ALL) (SUBJECT) UTF-8 ALL",
                               b"* ESEARCH"),
                         '* ESEARCH (TAG "T") MIN 2 MAX 5 ALL 2,4,1,3,5 COUNT 5')
        self.assertEqual(c.one(b"SORT RETURN (PARTIAL 2:3) (SUBJECT) UTF-8 ALL", b"* ESEARCH"),
                         '* ESEARCH (TAG "T") PARTIAL (2:3 4,1)')
        out, st = c.cmd(b"SORT (SUBJECT) ISO-8859-99 ALL")
        self.assertTrue(st.startswith(b"NO [BADCHARSET"), st)
        for bad in (b"SORT () UTF-8 ALL", b"SORT (REVERSE) UTF-8 ALL",
                    b"SORT (REVERSE REVERSE DATE) UTF-8 ALL", b"SORT (FOO) UTF-8 ALL",
                    b"SORT SUBJECT UTF-8 ALL", b"SORT (SUBJECT) UTF-8",
                    b"SORT (SUBJECT)", b"SORT ((SUBJECT)) UTF-8 ALL",
                    b"SORT (" + b"DATE " * 17 + b") UTF-8 ALL",
                    b"SORT (DATE) UTF-8 FOO", b"SORT RETURN (X) (DATE) UTF-8 ALL"):
            self.assertTrue(c.cmd(bad)[1].startswith(b"BAD"), bad)
        self.assertEqual(c.one(b"SORT (" + b"DATE " * 16 + b") UTF-8 ALL", b"* SORT"),
                         "* SORT 3 2 1 4 5")

    def test_thread(self):
        c = self.conn()
        # 3 <1@x>; 1 <2@x> References <1@x>; 2 <3@x>; 4 In-Reply-To <3@x>;
        # 5 alone
        self.assertEqual(c.one(b"THREAD REFERENCES UTF-8 ALL", b"* THREAD"),
                         "* THREAD (3 1)(2 4)(5)")
        self.assertEqual(c.one(b"UID THREAD REFERENCES UTF-8 NOT 3", b"* THREAD"),
                         "* THREAD (2 4)(1)(5)")
        self.assertEqual(c.one(b"THREAD ORDEREDSUBJECT UTF-8 ALL", b"* THREAD"),
                         "* THREAD (3 1)(2 4)(5)")
        self.assertEqual(c.one(b"THREAD ORDEREDSUBJECT UTF-8 SUBJECT nothing", b"* THREAD"),
                         "* THREAD")
        out, st = c.cmd(b"THREAD REFERENCES KOI9 ALL")
        self.assertTrue(st.startswith(b"NO [BADCHARSET"), st)
        for bad in (b"THREAD", b"THREAD REFERENCES", b"THREAD REFERENCES UTF-8",
                    b"THREAD JWZ UTF-8 ALL", b"THREAD REFERENCES UTF-8 FOO",
                    b"THREAD (REFERENCES) UTF-8 ALL"):
            self.assertTrue(c.cmd(bad)[1].startswith(b"BAD"), bad)


if __name__ == "__main__":
    mmtest.main()
