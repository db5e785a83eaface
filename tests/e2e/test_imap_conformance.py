#!/usr/bin/env python3
"""IMAP conformance cases of issue 11, byte for byte over raw sockets:
the answers imaptest's scripts and the RFCs ask for, each pinned here so
that they hold without imaptest installed.

- sequence sets up to 4294967295 (RFC 3501 9 / RFC 9051 9: nz-number is
  32 bits; "*" is not a number a client can send);
- '[' is an ATOM-CHAR (only ']' is resp-special), and a name that is not
  valid modified UTF-7 gets NO, not BAD;
- MOVE into the selected mailbox (RFC 6851 3.3: copy + expunge, no
  exception);
- \\Recent in exactly one session (RFC 3501 2.3.2), however the sessions
  race: a third session appends, two SELECT (or NOOP) at the same moment,
  about 200 rounds."""
import re
import unittest

import mmtest
from test_imap import Raw

ALICE = ("alice@example.org", "alice-secret")


class ConformanceTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = mmtest.Server()

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def login(self, who=ALICE):
        s = self.srv.ssl_context().wrap_socket(self.srv.connect("imaps"))
        r = Raw(s)
        self.assertTrue(r.line().startswith(b"* OK "))
        out = r.cmd(b"l", b"LOGIN %s %s" % (who[0].encode(), who[1].encode()))
        self.assertTrue(out[-1].startswith(b"l OK"), out)
        return r

    def ok(self, r, tag, text):
        out = r.cmd(tag, text)
        self.assertTrue(out[-1].startswith(tag + b" OK"), out)
        return out

    def append(self, r, box, n):
        msg = b"Subject: m%d\r\n\r\nbody %d\r\n" % (n, n)
        r.send(b"ap APPEND %s {%d+}\r\n%s\r\n" % (box, len(msg), msg))
        out = r.until(b"ap ")
        self.assertTrue(out[-1].startswith(b"ap OK"), out)

    def fresh(self, r, box):
        r.cmd(b"d", b"DELETE " + box)
        self.ok(r, b"c", b"CREATE " + box)

    # ---- sequence sets ----

    def test_sets_up_to_4294967295(self):
        r = self.login()
        self.fresh(r, b"Sets")
        for i in range(3):
            self.append(r, b"Sets", i)
        self.ok(r, b"s", b"SELECT Sets")
        out = self.ok(r, b"f1", b"UID FETCH 1:4294967295 (FLAGS)")
        self.assertEqual(len([l for l in out if b" FETCH " in l]), 3, out)
        out = self.ok(r, b"f2", b"UID SEARCH UID 1:4294967295")
        self.assertIn(b"* SEARCH 1 2 3", out)
        out = self.ok(r, b"f3", b"UID SEARCH UID 4:4294967295")
        self.assertIn(b"* SEARCH", out)
        out = self.ok(r, b"f4", b"UID SEARCH UID 4294967295")
        self.assertIn(b"* SEARCH", out)
        # "*" is the highest UID, never the number 4294967295
        out = self.ok(r, b"f5", b"UID SEARCH UID 4294967295:*")
        self.assertIn(b"* SEARCH 3", out)
        self.ok(r, b"f6", b"UID STORE 2:4294967295 +FLAGS.SILENT (\\Flagged)")
        out = self.ok(r, b"f7", b"SEARCH FLAGGED")
        self.assertIn(b"* SEARCH 2 3", out)
        out = self.ok(r, b"f8", b"UID COPY 3:4294967295 Sets")
        self.assertTrue(re.search(rb"COPYUID \d+ 3 4", out[-1]), out)
        self.ok(r, b"f9", b"UID STORE 4294967295 +FLAGS (\\Deleted)")
        self.ok(r, b"fa", b"UID EXPUNGE 4294967295")
        # above 32 bits, zero, and a sequence number beyond EXISTS: BAD
        for tag, cmd in ((b"b1", b"UID FETCH 1:4294967296 FLAGS"),
                         (b"b2", b"UID SEARCH UID 0:3"),
                         (b"b3", b"FETCH 4294967295 FLAGS")):
            out = r.cmd(tag, cmd)
            self.assertTrue(out[-1].startswith(tag + b" BAD"), out)
        r.close()

    # ---- atoms and mailbox names ----

    def test_bracket_is_atom_char(self):
        r = self.login()
        r.cmd(b"d", b"DELETE a[b")
        self.ok(r, b"c", b"CREATE a[b")
        out = self.ok(r, b"l", b"LIST \"\" a[b")
        self.assertIn(b'* LIST (\\HasNoChildren) "/" "a[b"', out)
        out = self.ok(r, b"st", b"STATUS a[b (MESSAGES)")
        self.assertIn(b'* STATUS "a[b" (MESSAGES 0)', out)
        out = self.ok(r, b"s", b"SELECT a[b")
        self.assertIn(b"* 0 EXISTS", out)
        self.ok(r, b"u", b"UNSELECT")
        self.ok(r, b"dd", b"DELETE a[b")
        # imaptest's atoms script: every ATOM-CHAR in one name
        out = r.cmd(b"s2", b"SELECT !#$&'+,-.0123456789:;<=>?@^_`|[}")
        self.assertTrue(out[-1].startswith(b"s2 NO"), out)
        self.ok(r, b"l2", b"LIST \"\" !#$&'+,-.0123456789:;<=>?@^_`|[}%*")
        # a section bracket still takes spaces after BODY[
        self.append(r, b"INBOX", 1)
        self.ok(r, b"s3", b"SELECT INBOX")
        out = self.ok(r, b"f", b"FETCH 1 (BODY.PEEK[HEADER.FIELDS (Subject)])")
        self.assertTrue(out[0].startswith(b"* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT)]"), out)
        r.close()

    def test_invalid_mutf7_is_no(self):
        r = self.login()
        for i, name in enumerate((b"&Jjo", b"&AGE-", b"&U/BTFw-", b"\"a//b\"", b"\"\"",
                                  b"Inv&AGE-alid")):
            for cmd in (b"SELECT", b"EXAMINE", b"CREATE", b"DELETE", b"SUBSCRIBE",
                        b"STATUS %s (MESSAGES)"):
                line = cmd % name if b"%" in cmd else cmd + b" " + name
                tag = b"t%d" % i
                out = r.cmd(tag, line)
                self.assertTrue(out[-1].startswith(tag + b" NO [CANNOT]"), (line, out))
            tag = b"r%d" % i
            out = r.cmd(tag, b"RENAME Sent " + name)
            self.assertTrue(out[-1].startswith(tag + b" NO [CANNOT]"), out)
        # not an astring at all is still a syntax error
        out = r.cmd(b"x", b"SELECT (INBOX)")
        self.assertTrue(out[-1].startswith(b"x BAD"), out)
        r.close()

    # ---- MOVE ----

    def test_move_into_selected_mailbox(self):
        r = self.login()
        self.fresh(r, b"Same")
        for i in range(3):
            self.append(r, b"Same", i)
        out = self.ok(r, b"s", b"SELECT Same")
        v = re.search(rb"UIDVALIDITY (\d+)", b"\n".join(out)).group(1)
        out = self.ok(r, b"m", b"MOVE 1 Same")
        self.assertEqual(out[0], b"* OK [COPYUID %s 1 4] Moved UIDs." % v, out)
        self.assertEqual(out[1], b"* 1 EXPUNGE", out)
        self.assertEqual(out[2], b"* 3 EXISTS", out)
        out = self.ok(r, b"u", b"UID MOVE 3 Same")
        self.assertEqual(out[0], b"* OK [COPYUID %s 3 5] Moved UIDs." % v, out)
        self.assertEqual(out[1], b"* 2 EXPUNGE", out)
        out = self.ok(r, b"f", b"FETCH 1:* (UID FLAGS)")
        uids = [int(x) for x in re.findall(rb"UID (\d+)", b"\n".join(out))]
        self.assertEqual(uids, [2, 4, 5], out)
        # the moved messages are new to this session: \Recent here
        self.assertIn(b"* 2 FETCH (UID 4 FLAGS (\\Recent))", out)
        out = self.ok(r, b"st", b"STATUS Same (MESSAGES UIDNEXT)")
        self.assertIn(b"* STATUS Same (MESSAGES 3 UIDNEXT 6)", out)
        # EXAMINE: read-only, no MOVE at all
        self.ok(r, b"e", b"EXAMINE Same")
        out = r.cmd(b"m2", b"MOVE 1 Same")
        self.assertTrue(out[-1].startswith(b"m2 NO [READ-ONLY]"), out)
        r.close()


    # ---- \Recent ----

    def recent_of(self, out):
        """The RECENT count of a SELECT/NOOP answer, and the UIDs a
        FETCH FLAGS in it shows \\Recent."""
        n = [int(m.group(1)) for l in out for m in [re.match(rb"\* (\d+) RECENT", l)] if m]
        return n[-1] if n else None

    def test_recent_race(self):
        a, b, c = self.login(), self.login(), self.login()
        self.fresh(c, b"Race")
        both = []
        for i in range(200):
            self.append(c, b"Race", i)
            a.send(b"s SELECT Race\r\n")
            b.send(b"s SELECT Race\r\n")
            ra, rb = a.until(b"s "), b.until(b"s ")
            self.assertTrue(ra[-1].startswith(b"s OK") and rb[-1].startswith(b"s OK"))
            na, nb = self.recent_of(ra), self.recent_of(rb)
            # the new message is the only one not yet claimed: one each round
            if (na, nb) not in ((1, 0), (0, 1)):
                both.append((i, na, nb))
            a.send(b"u UNSELECT\r\n")
            b.send(b"u UNSELECT\r\n")
            a.until(b"u OK")
            b.until(b"u OK")
        self.assertEqual(both, [], "rounds where \\Recent was not in exactly one session")
        # both selected, each sync racing for the new message
        self.ok(a, b"s", b"SELECT Race")
        self.ok(b, b"s", b"SELECT Race")
        for i in range(100):
            self.append(c, b"Race", 1000 + i)
            a.send(b"n NOOP\r\n")
            b.send(b"n NOOP\r\n")
            ra, rb = a.until(b"n "), b.until(b"n ")
            na, nb = self.recent_of(ra), self.recent_of(rb)
            # a session that got the EXISTS reports its RECENT count; the
            # new one is recent in one of them only
            fa = a.cmd(b"f", b"FETCH * FLAGS")
            fb = b.cmd(b"f", b"FETCH * FLAGS")
            ha = any(b"\\Recent" in l for l in fa if b" FETCH " in l)
            hb = any(b"\\Recent" in l for l in fb if b" FETCH " in l)
            if ha + hb != 1:
                both.append((i, na, nb, fa, fb))
        self.assertEqual(both, [], "new message \\Recent in both or neither session")
        for r in (a, b, c):
            r.close()


    # ---- LIST-EXTENDED, LIST-STATUS, CREATE-SPECIAL-USE, STATUS=SIZE ----

    def test_capabilities(self):
        r = self.login()
        out = self.ok(r, b"c", b"CAPABILITY")
        caps = out[0].split()
        for c in (b"LIST-EXTENDED", b"LIST-STATUS", b"CREATE-SPECIAL-USE", b"STATUS=SIZE",
                  b"MULTIAPPEND", b"BINARY", b"CATENATE"):
            self.assertIn(c, caps)
        r.close()

    def test_list_extended(self):
        r = self.login()
        for n in (b"lx/a/b", b"lx/c", b"lx/d"):
            r.cmd(b"d", b"DELETE " + n)
            self.ok(r, b"c", b"CREATE " + n)
        self.ok(r, b"s", b"SUBSCRIBE lx/a/b")
        self.ok(r, b"s", b"SUBSCRIBE lx/c")
        # several patterns
        out = self.ok(r, b"l1", b'LIST "" (lx/c lx/d)')
        self.assertEqual(out[:-1], [b'* LIST (\\HasNoChildren) "/" lx/c',
                                    b'* LIST (\\HasNoChildren) "/" lx/d'])
        # RECURSIVEMATCH: lx/a is listed for its subscribed child
        out = self.ok(r, b"l2", b'LIST (SUBSCRIBED RECURSIVEMATCH) "" lx/%')
        self.assertEqual(out[:-1], [
            b'* LIST (\\HasChildren) "/" lx/a ("CHILDINFO" ("SUBSCRIBED"))',
            b'* LIST (\\HasNoChildren \\Subscribed) "/" lx/c'])
        # and not when the child matches the pattern itself
        out = self.ok(r, b"l3", b'LIST (SUBSCRIBED RECURSIVEMATCH) "" lx/*')
        self.assertEqual(out[:-1], [b'* LIST (\\HasNoChildren \\Subscribed) "/" lx/a/b',
                                    b'* LIST (\\HasNoChildren \\Subscribed) "/" lx/c'])
        # a deleted mailbox stays subscribed (RFC 3501 6.3.6): \NonExistent
        self.ok(r, b"d", b"DELETE lx/c")
        out = self.ok(r, b"l4", b'LIST (SUBSCRIBED) "" lx/*')
        self.assertIn(b'* LIST (\\NonExistent \\HasNoChildren \\Subscribed) "/" lx/c', out)
        out = self.ok(r, b"l5", b'LIST "" lx/*')
        self.assertNotIn(b"lx/c", b"\n".join(out))
        out = self.ok(r, b"l6", b'LSUB "" lx/c')
        self.assertEqual(out[0], b'* LSUB (\\Noselect) "/" lx/c')
        for tag, cmd in ((b"n1", b"STATUS lx/c (MESSAGES)"), (b"n2", b"SELECT lx/c"),
                         (b"n3", b"DELETE lx/c"), (b"n4", b"RENAME lx/c lx/e")):
            out = r.cmd(tag, cmd)
            self.assertTrue(out[-1].startswith(tag + b" NO [NONEXISTENT]"), out)
        # CREATE brings it back (subscribed), UNSUBSCRIBE of a ghost removes it
        self.ok(r, b"c", b"CREATE lx/c")
        out = self.ok(r, b"l7", b'LIST "" lx/c RETURN (SUBSCRIBED)')
        self.assertEqual(out[0], b'* LIST (\\HasNoChildren \\Subscribed) "/" lx/c')
        self.ok(r, b"d", b"DELETE lx/c")
        self.ok(r, b"u", b"UNSUBSCRIBE lx/c")
        out = self.ok(r, b"l8", b'LIST (SUBSCRIBED) "" lx/c')
        self.assertEqual(len(out), 1, out)
        # RENAME onto a name that is only a subscription
        self.ok(r, b"d", b"DELETE lx/a/b")
        self.ok(r, b"m", b"RENAME lx/d lx/a/b")
        out = self.ok(r, b"l9", b'LIST "" lx/a/b RETURN (SUBSCRIBED)')
        self.assertEqual(out[0], b'* LIST (\\HasNoChildren \\Subscribed) "/" lx/a/b')
        # bad option combinations and unknown options: BAD
        for tag, cmd in ((b"b1", b'LIST (RECURSIVEMATCH) "" %'),
                         (b"b2", b'LIST (RECURSIVEMATCH REMOTE) "" %'),
                         (b"b3", b'LIST (BOGUS) "" %'),
                         (b"b4", b'LIST "" % RETURN (BOGUS)'),
                         (b"b5", b'LIST "" % RETURN (STATUS)'),
                         (b"b6", b'LIST "" % RETURN (STATUS (BOGUS))'),
                         (b"b7", b'LIST "" % RETURN (STATUS ())')):
            out = r.cmd(tag, cmd)
            self.assertTrue(out[-1].startswith(tag + b" BAD"), (cmd, out))
        self.ok(r, b"r", b'LIST (REMOTE) "" lx')
        r.close()

    def test_list_status_and_size(self):
        r = self.login()
        self.fresh(r, b"ls1")
        self.fresh(r, b"ls1/sub")
        for i in range(2):
            self.append(r, b"ls1", i)
        sizes = sum(len(b"Subject: m%d\r\n\r\nbody %d\r\n" % (i, i)) for i in range(2))
        out = self.ok(r, b"s", b"STATUS ls1 (SIZE MESSAGES)")
        self.assertIn(b"* STATUS ls1 (SIZE %d MESSAGES 2)" % sizes, out)
        out = self.ok(r, b"l", b'LIST "" ls1* RETURN (STATUS (MESSAGES UNSEEN SIZE))')
        self.assertEqual(out[:-1], [
            b'* LIST (\\HasChildren) "/" ls1',
            b"* STATUS ls1 (MESSAGES 2 UNSEEN 2 SIZE %d)" % sizes,
            b'* LIST (\\HasNoChildren) "/" ls1/sub',
            b"* STATUS ls1/sub (MESSAGES 0 UNSEEN 0 SIZE 0)"])
        # no STATUS for a \Noselect parent (RFC 5819 4)
        self.ok(r, b"d", b"DELETE ls1")
        out = self.ok(r, b"l2", b'LIST "" ls1* RETURN (STATUS (MESSAGES))')
        self.assertEqual(out[:-1], [
            b'* LIST (\\Noselect \\HasChildren) "/" ls1',
            b'* LIST (\\HasNoChildren) "/" ls1/sub',
            b"* STATUS ls1/sub (MESSAGES 0)"])
        r.close()

    def test_create_special_use(self):
        r = self.login()
        r.cmd(b"d", b"DELETE Spam2")
        self.ok(r, b"c", b"CREATE Spam2 (USE (\\Junk \\Archive))")
        out = self.ok(r, b"l", b'LIST "" Spam2 RETURN (SPECIAL-USE)')
        self.assertEqual(out[0], b'* LIST (\\HasNoChildren \\Junk \\Archive) "/" Spam2')
        out = self.ok(r, b"l2", b'LIST (SPECIAL-USE) "" Spam*')
        self.assertIn(b'* LIST (\\HasNoChildren \\Junk \\Archive) "/" Spam2', out)
        out = r.cmd(b"c2", b"CREATE Other (USE (\\Important))")
        self.assertTrue(out[-1].startswith(b"c2 NO [USEATTR]"), out)
        for tag, cmd in ((b"b1", b"CREATE Other (USE)"), (b"b2", b"CREATE Other (FOO (x))"),
                         (b"b3", b"CREATE Other (USE (\"\\\\Junk\"))")):
            out = r.cmd(tag, cmd)
            self.assertTrue(out[-1].startswith(tag + b" BAD"), (cmd, out))
        out = self.ok(r, b"l3", b'LIST "" Other')
        self.assertEqual(len(out), 1, out)
        r.close()


    # ---- MULTIAPPEND (RFC 3502) ----

    def multi(self, r, tag, box, msgs, extra=b""):
        """APPEND box with several LITERAL+ messages; msgs: (flags, bytes)."""
        line = b"%s APPEND %s" % (tag, box)
        for flags, m in msgs:
            line += b" %s{%d+}\r\n%s" % (flags + b" " if flags else b"", len(m), m)
        r.send(line + extra + b"\r\n")
        return r.until(tag + b" ")

    def test_multiappend(self):
        r = self.login()
        self.fresh(r, b"Multi")
        msgs = [(b"(\\Seen)", b"Subject: one\r\n\r\n1\r\n"),
                (b'"05-Jan-2026 10:00:00 +0000"', b"Subject: two\r\n\r\n2\r\n"),
                (b'(\\Flagged $Work) "06-Jan-2026 11:00:00 +0100"',
                 b"Subject: three\r\n\r\n3\r\n")]
        out = self.multi(r, b"a1", b"Multi", msgs)
        m = re.match(rb"a1 OK \[APPENDUID (\d+) 1:3\]", out[-1])
        self.assertTrue(m, out)
        out = self.ok(r, b"s", b"SELECT Multi")
        self.assertIn(b"* 3 EXISTS", out)
        out = self.ok(r, b"f", b"FETCH 1:* (FLAGS INTERNALDATE BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        text = b"\n".join(out)
        self.assertIn(b'FLAGS (\\Seen \\Recent)', text)
        self.assertIn(b'INTERNALDATE "05-Jan-2026 10:00:00 +0000"', text)
        self.assertIn(b"$Work", text)
        self.assertEqual(re.findall(rb"Subject: (\w+)", text), [b"one", b"two", b"three"])
        # into the selected mailbox: EXISTS before the tagged OK
        out = self.multi(r, b"a2", b"Multi", msgs[:2])
        self.assertIn(b"* 5 EXISTS", out)
        self.assertTrue(re.match(rb"a2 OK \[APPENDUID \d+ 4:5\]", out[-1]), out)
        # all or nothing: a zero-length message, a bad flag, no literal
        for tag, bad, want in ((b"b1", [msgs[0], (b"", b"")], b" NO"),
                               (b"b2", [msgs[0], (b"(\\Bogus)", b"x\r\n")], b" BAD"),
                               (b"b3", [msgs[0]], b" BAD")):
            out = self.multi(r, tag, b"Multi", bad, extra=b" (\\Seen)" if tag == b"b3" else b"")
            self.assertTrue(out[-1].startswith(tag + want), (tag, out))
        out = self.ok(r, b"n", b"NOOP")
        self.assertNotIn(b"EXISTS", b"\n".join(out))
        out = self.multi(r, b"a3", b"NoSuchBox", msgs)
        self.assertTrue(out[-1].startswith(b"a3 NO [TRYCREATE]"), out)
        r.close()

    def test_multiappend_quota(self):
        self.srv.ctl("user", "quota", "bob@example.org", "0", "2", check=True)
        try:
            r = self.login(("bob@example.org", "bob-secret"))
            self.fresh(r, b"Q")
            msgs = [(b"", b"Subject: q%d\r\n\r\nx\r\n" % i) for i in range(3)]
            out = self.multi(r, b"q1", b"Q", msgs)
            self.assertTrue(out[-1].startswith(b"q1 NO [OVERQUOTA]"), out)
            out = self.ok(r, b"s", b"STATUS Q (MESSAGES)")
            self.assertIn(b"* STATUS Q (MESSAGES 0)", out)
            out = self.multi(r, b"q2", b"Q", msgs[:2])
            self.assertTrue(out[-1].startswith(b"q2 OK"), out)
            r.close()
        finally:
            self.srv.ctl("user", "quota", "bob@example.org", "0", "0", check=True)


    # ---- BINARY (RFC 3516) ----

    def test_binary(self):
        r = self.login()
        self.fresh(r, b"Bin")
        msg = (b"Subject: bin\r\nMIME-Version: 1.0\r\n"
               b"Content-Type: multipart/mixed; boundary=b\r\n\r\n"
               b"--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n"
               b"aGVsbG8gd29ybGQ=\r\n"
               b"--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
               b"caf=C3=A9  \r\nsoft=\r\nbreak\r\n"
               b"--b\r\nContent-Type: application/x-bin\r\nContent-Transfer-Encoding: base64\r\n\r\n"
               b"AAEC\r\n"
               b"--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: x-bogus\r\n\r\nzz\r\n"
               b"--b--\r\n")
        self.append(r, b"Bin", 0)
        r.send(b"a APPEND Bin {%d+}\r\n%s\r\n" % (len(msg), msg))
        self.assertTrue(r.until(b"a ")[-1].startswith(b"a OK"))
        self.ok(r, b"s", b"SELECT Bin")
        out = self.ok(r, b"f1", b"FETCH 2 (BINARY.SIZE[1] BINARY.PEEK[1] BINARY.SIZE[2] BINARY.PEEK[2])")
        self.assertEqual(out[0], b"* 2 FETCH (BINARY.SIZE[1] 11 BINARY[1] {11}")
        text = b"\r\n".join(out)
        self.assertIn(b"BINARY.SIZE[2] 16 BINARY[2] {16}\r\ncaf\xc3\xa9\r\nsoftbreak)", text)
        # content with NUL goes out as a literal8
        out = self.ok(r, b"f2", b"FETCH 2 (BINARY.PEEK[3] BINARY.PEEK[1]<6.100>)")
        self.assertEqual(out[0], b"* 2 FETCH (BINARY[3] ~{3}")
        self.assertIn(b"BINARY[1]<6> {5}", b"\r\n".join(out))
        # an encoding we cannot undo: NO [UNKNOWN-CTE]
        out = r.cmd(b"f3", b"FETCH 2 (BINARY.PEEK[4])")
        self.assertTrue(out[-1].startswith(b"f3 NO [UNKNOWN-CTE]"), out)
        # BINARY without PEEK sets \Seen
        out = self.ok(r, b"f4", b"FETCH 2 (BINARY[1])")
        self.assertIn(b"\\Seen", b"\n".join(out))
        # section-binary is part numbers only; no partial on SIZE
        for tag, cmd in ((b"b1", b"FETCH 2 BINARY[1.MIME]"), (b"b2", b"FETCH 2 BINARY[HEADER]"),
                         (b"b3", b"FETCH 2 BINARY.SIZE[1]<0.5>"), (b"b4", b"FETCH 2 BINARY[0]")):
            out = r.cmd(tag, cmd)
            self.assertTrue(out[-1].startswith(tag + b" BAD"), (cmd, out))
        out = self.ok(r, b"f5", b"FETCH 2 BINARY.SIZE[9]")
        self.assertIn(b"* 2 FETCH (BINARY.SIZE[9] 0)", out)
        # APPEND of a literal8 with a binary part: stored as base64
        bmsg = (b"Content-Type: application/octet-stream\r\n"
                b"Content-Transfer-Encoding: binary\r\n\r\n\x00\x01\xfe\n\r\x00")
        r.send(b"a2 APPEND Bin ~{%d+}\r\n%s\r\n" % (len(bmsg), bmsg))
        self.assertTrue(r.until(b"a2 ")[-1].startswith(b"a2 OK"))
        self.ok(r, b"n", b"NOOP")
        out = self.ok(r, b"f6", b"FETCH 3 (BODY.PEEK[1] BINARY.SIZE[1] BODY.PEEK[HEADER.FIELDS "
                                b"(CONTENT-TRANSFER-ENCODING)])")
        text = b"\r\n".join(out)
        self.assertIn(b"AAH+Cg0A", text)
        self.assertIn(b"BINARY.SIZE[1] 6", text)
        self.assertIn(b"Content-Transfer-Encoding: base64", text)
        r.close()


    # ---- CATENATE (RFC 4469) ----

    def test_catenate(self):
        r = self.login()
        self.fresh(r, b"CatSrc")
        self.fresh(r, b"CatDst")
        src = (b"From: a@example.org\r\nSubject: src\r\nContent-Type: multipart/mixed; boundary=x\r\n"
               b"\r\n--x\r\n\r\npart one\r\n--x\r\n\r\npart two\r\n--x--\r\n")
        r.send(b"a APPEND CatSrc {%d+}\r\n%s\r\n" % (len(src), src))
        out = r.until(b"a ")
        uidv, uid = re.search(rb"APPENDUID (\d+) (\d+)", out[-1]).groups()
        hdr = src[:src.index(b"\r\n\r\n") + 4]

        def cat(tag, parts, box=b"CatDst", pre=b""):
            line = tag + b" APPEND " + box + b" " + pre + b"CATENATE ("
            for i, (kind, v) in enumerate(parts):
                line += (b" " if i else b"") + kind + b" "
                line += (b'"%s"' % v) if kind == b"URL" else (b"{%d+}\r\n%s" % (len(v), v))
            r.send(line + b")\r\n")
            return r.until(tag + b" ")

        out = cat(b"c1", [(b"URL", b"/CatSrc;UIDVALIDITY=%s/;UID=%s/;SECTION=HEADER" % (uidv, uid)),
                          (b"TEXT", b"new body\r\n")], pre=b"(\\Seen) ")
        self.assertTrue(re.match(rb"c1 OK \[APPENDUID \d+ 1\]", out[-1]), out)
        out = cat(b"c2", [(b"TEXT", b"Subject: two\r\n\r\n"),
                          (b"URL", b"/CatSrc/;UID=%s/;SECTION=2" % uid),
                          (b"TEXT", b"\r\n--\r\n"),
                          (b"URL", b"/CatSrc/;UID=%s/;SECTION=1/;PARTIAL=5.3" % uid)])
        self.assertTrue(out[-1].startswith(b"c2 OK"), out)
        self.ok(r, b"s", b"SELECT CatDst")
        out = self.ok(r, b"f", b"FETCH 1:2 (FLAGS BODY.PEEK[])")
        text = b"\r\n".join(out)
        self.assertIn(hdr + b"new body\r\n", text)
        self.assertIn(b"Subject: two\r\n\r\npart two\r\n--\r\none", text)
        self.assertIn(b"\\Seen", out[0])
        # a URL naming nothing: NO [BADURL], nothing stored
        for tag, url in ((b"b1", b"/CatSrc;UIDVALIDITY=1/;UID=%s" % uid),
                         (b"b2", b"/CatSrc/;UID=999"),
                         (b"b3", b"/NoBox/;UID=1"),
                         (b"b4", b"/CatSrc/;UID=%s/;SECTION=7" % uid),
                         (b"b5", b"imap://alice@localhost/CatSrc/;UID=%s" % uid),
                         (b"b6", b"/CatSrc/;UID=x")):
            out = cat(tag, [(b"TEXT", b"Subject: x\r\n\r\n"), (b"URL", url)])
            self.assertTrue(out[-1].startswith(tag + b" NO [BADURL " + url + b"]"), (url, out))
        # the destination first: TRYCREATE even with a bad URL
        out = cat(b"t1", [(b"URL", b"/CatSrc/;UID=999")], box=b"NoSuchBox")
        self.assertTrue(out[-1].startswith(b"t1 NO [TRYCREATE]"), out)
        out = cat(b"e1", [(b"URL", b"/CatSrc/;UID=%s/;PARTIAL=100000" % uid)])
        self.assertTrue(out[-1].startswith(b"e1 NO"), out)
        for tag, line in ((b"x1", b"x1 APPEND CatDst CATENATE ()"),
                          (b"x2", b"x2 APPEND CatDst CATENATE (TEXT)"),
                          (b"x3", b'x3 APPEND CatDst CATENATE (TEXT "quoted")'),
                          (b"x4", b"x4 APPEND CatDst CATENATE (BOGUS {1+}\r\nx)"),
                          (b"x5", b"x5 APPEND CatDst CATENATE (URL (a))")):
            r.send(line + b"\r\n")
            out = r.until(tag + b" ")
            self.assertTrue(out[-1].startswith(tag + b" BAD"), (line, out))
        out = self.ok(r, b"n", b"NOOP")
        self.assertNotIn(b"EXISTS", b"\n".join(out))
        r.close()


if __name__ == "__main__":
    mmtest.main()
