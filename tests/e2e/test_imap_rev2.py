#!/usr/bin/env python3
"""IMAP4rev2 (RFC 9051) beside IMAP4rev1: every difference asserted on
the wire, in a session that never says ENABLE IMAP4rev2 (IMAP4rev1 as
before) and in one that does:

- CAPABILITY names both; ENABLE IMAP4rev2 answers "* ENABLED IMAP4rev2";
- no \\Recent (FETCH FLAGS, the RECENT response, SELECT's UNSEEN code),
  and a rev2 session takes no \\Recent away from a rev1 one; SEARCH
  NEW/OLD/RECENT and STATUS RECENT are not rev2 syntax (BAD);
- SELECT sends a LIST response for the mailbox, and "OK [CLOSED]" when
  it closes the previous one;
- SEARCH answers ESEARCH (ALL when no RETURN);
- STATUS DELETED (rev2 only) and SIZE, also in LIST RETURN (STATUS);
- LIST has the LIST-EXTENDED rules (\\NonExistent), LSUB still works;
- mailbox names are UTF-8 on the wire ("A&B" is "A&B"), and a rev1
  session sees the same mailboxes in modified UTF-7;
- a message/global part is an encapsulated message in BODYSTRUCTURE and
  BODY[2.1] etc. (RFC 9051 7.5.2), a basic part in IMAP4rev1 as before;
- what did not change: EXPUNGE (not VANISHED), APPENDUID/COPYUID,
  RFC822.SIZE/RFC822.HEADER (deprecated, still served), BINARY.
Raw commands over a socket, and through imaplib (message/global, and once
for the rest)."""
import re
import unittest

import mmtest
from test_imap import Raw

ALICE = ("alice@example.org", "alice-secret")


class Rev2Test(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = mmtest.Server()

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def login(self, rev2=False):
        s = self.srv.ssl_context().wrap_socket(self.srv.connect("imaps"))
        r = Raw(s)
        self.assertTrue(r.line().startswith(b"* OK "))
        self.ok(r, b"l", b"LOGIN %s %s" % (ALICE[0].encode(), ALICE[1].encode()))
        if rev2:
            out = self.ok(r, b"e", b"ENABLE IMAP4rev2")
            self.assertIn(b"* ENABLED IMAP4rev2", out)
        return r

    def ok(self, r, tag, text):
        out = r.cmd(tag, text)
        self.assertTrue(out[-1].startswith(tag + b" OK"), out)
        return out

    def bad(self, r, tag, text):
        out = r.cmd(tag, text)
        self.assertTrue(out[-1].startswith(tag + b" BAD"), out)
        return out

    def append(self, r, box, n, flags=b""):
        msg = b"Subject: m%d\r\nFrom: a@example.org\r\n\r\nbody %d\r\n" % (n, n)
        r.send(b"ap APPEND %s %s{%d+}\r\n%s\r\n" % (box, flags, len(msg), msg))
        out = r.until(b"ap ")
        self.assertTrue(out[-1].startswith(b"ap OK"), out)
        return out

    def fresh(self, r, box):
        r.cmd(b"d", b"DELETE " + box)
        self.ok(r, b"c", b"CREATE " + box)

    # ---- capability and ENABLE ----

    def test_capability_and_enable(self):
        s = self.srv.ssl_context().wrap_socket(self.srv.connect("imaps"))
        r = Raw(s)
        g = r.line()
        self.assertTrue(g.startswith(b"* OK [CAPABILITY IMAP4rev1 IMAP4rev2 "), g)
        self.ok(r, b"l", b"LOGIN %s %s" % (ALICE[0].encode(), ALICE[1].encode()))
        caps = self.ok(r, b"c", b"CAPABILITY")[0].split()
        for c in (b"IMAP4rev1", b"IMAP4rev2", b"ENABLE", b"IDLE", b"NAMESPACE",
                  b"UNSELECT", b"UIDPLUS", b"ESEARCH", b"SEARCHRES", b"MOVE",
                  b"SASL-IR", b"LIST-EXTENDED", b"LIST-STATUS", b"STATUS=SIZE",
                  b"BINARY", b"SPECIAL-USE", b"ID", b"LITERAL+"):
            self.assertIn(c, caps)
        out = self.ok(r, b"e1", b"ENABLE IMAP4rev2")
        self.assertIn(b"* ENABLED IMAP4rev2", out)
        out = self.ok(r, b"e2", b"ENABLE IMAP4rev2")   # already on: not again
        self.assertIn(b"* ENABLED", out)
        self.assertNotIn(b"* ENABLED IMAP4rev2", out)
        r.close()

    # ---- \Recent ----

    def test_no_recent(self):
        a = self.login()
        self.fresh(a, b"R2Recent")
        self.append(a, b"R2Recent", 1)
        self.append(a, b"R2Recent", 2, b"(\\Seen) ")
        # rev2 first: sees no \Recent and takes none
        r = self.login(rev2=True)
        out = self.ok(r, b"s", b"SELECT R2Recent")
        text = b"\n".join(out)
        self.assertIn(b"* 2 EXISTS", out)
        self.assertNotIn(b"RECENT", text)
        self.assertNotIn(b"[UNSEEN", text)
        self.assertNotIn(b"\\Recent", text)
        self.assertIn(b'* LIST () "/" R2Recent', out)
        self.assertIn(b"[UIDVALIDITY ", text)
        self.assertIn(b"[UIDNEXT ", text)
        self.assertIn(b"[PERMANENTFLAGS ", text)
        out = self.ok(r, b"f", b"FETCH 1:2 FLAGS")
        self.assertIn(b"* 1 FETCH (FLAGS ())", out)
        self.assertIn(b"* 2 FETCH (FLAGS (\\Seen))", out)
        self.bad(r, b"k1", b"SEARCH RECENT")
        self.bad(r, b"k2", b"SEARCH NOT NEW")
        self.bad(r, b"k3", b"SEARCH OR OLD SEEN")
        self.bad(r, b"k4", b"STATUS R2Recent (RECENT)")
        self.bad(r, b"k6", b"SORT (ARRIVAL) UTF-8 RECENT")
        self.bad(r, b"k7", b"THREAD REFERENCES UTF-8 NOT OLD")
        out = self.ok(r, b"k8", b"SORT (ARRIVAL) UTF-8 ALL")
        self.assertIn(b"* SORT 1 2", out)
        self.bad(r, b"k5", b"STORE 1 +FLAGS (\\Recent)")
        # a new message: EXISTS, no RECENT
        self.append(a, b"R2Recent", 3)
        out = self.ok(r, b"n", b"NOOP")
        self.assertIn(b"* 3 EXISTS", out)
        self.assertNotIn(b"RECENT", b"\n".join(out))
        # the rev1 session that comes next still gets them \Recent
        b = self.login()
        out = self.ok(b, b"s", b"SELECT R2Recent")
        self.assertIn(b"* 3 RECENT", out)
        self.assertIn(b"* OK [UNSEEN 1] First unseen.", out)
        self.assertNotIn(b"* LIST", b"\n".join(out))
        out = self.ok(b, b"f", b"FETCH 1 FLAGS")
        self.assertIn(b"* 1 FETCH (FLAGS (\\Recent))", out)
        out = self.ok(b, b"k", b"SEARCH RECENT")
        self.assertIn(b"* SEARCH 1 2 3", out)
        out = self.ok(b, b"k2", b"SEARCH NEW")
        self.assertIn(b"* SEARCH 1 3", out)
        out = self.ok(b, b"k3", b"SORT (ARRIVAL) UTF-8 NEW")
        self.assertIn(b"* SORT 1 3", out)
        out = self.ok(b, b"k4", b"THREAD ORDEREDSUBJECT UTF-8 RECENT")
        self.assertTrue(any(ln.startswith(b"* THREAD (") for ln in out), out)
        out = self.ok(b, b"st", b"STATUS R2Recent (RECENT)")
        self.assertTrue(any(ln.startswith(b"* STATUS R2Recent (RECENT ") for ln in out), out)
        for c in (a, b, r):
            c.close()

    def test_enable_while_selected(self):
        a = self.login()
        self.fresh(a, b"R2Late")
        self.append(a, b"R2Late", 1)
        out = self.ok(a, b"s", b"SELECT R2Late")
        self.assertIn(b"* 1 RECENT", out)
        out = self.ok(a, b"f", b"FETCH 1 FLAGS")
        self.assertIn(b"* 1 FETCH (FLAGS (\\Recent))", out)
        out = self.ok(a, b"e", b"ENABLE IMAP4rev2")
        self.assertIn(b"* ENABLED IMAP4rev2", out)
        out = self.ok(a, b"f2", b"FETCH 1 FLAGS")
        self.assertIn(b"* 1 FETCH (FLAGS ())", out)
        out = self.ok(a, b"k", b"SEARCH ALL")
        self.assertIn(b'* ESEARCH (TAG "k") ALL 1', out)
        a.close()

    # ---- SEARCH answers ESEARCH ----

    def test_search_esearch(self):
        a = self.login()
        self.fresh(a, b"R2Search")
        for i in range(1, 4):
            self.append(a, b"R2Search", i)
        self.ok(a, b"s", b"SELECT R2Search")
        out = self.ok(a, b"k", b"SEARCH ALL")
        self.assertIn(b"* SEARCH 1 2 3", out)
        out = self.ok(a, b"k0", b"SEARCH SUBJECT nothing-like-it")
        self.assertIn(b"* SEARCH", out)
        uids = re.findall(rb"UID (\d+)", b"\n".join(self.ok(a, b"u", b"FETCH 1:3 UID")))
        r = self.login(rev2=True)
        self.ok(r, b"s", b"SELECT R2Search")
        out = self.ok(r, b"k", b"SEARCH ALL")
        self.assertIn(b'* ESEARCH (TAG "k") ALL 1:3', out)
        self.assertNotIn(b"* SEARCH", b"\n".join(out))
        out = self.ok(r, b"k2", b"SEARCH 1,3")
        self.assertIn(b'* ESEARCH (TAG "k2") ALL 1,3', out)
        out = self.ok(r, b"u1", b"UID SEARCH ALL")
        self.assertIn(b'* ESEARCH (TAG "u1") UID ALL %s:%s' % (uids[0], uids[2]), out)
        out = self.ok(r, b"n", b"SEARCH SUBJECT nothing-like-it")
        self.assertIn(b'* ESEARCH (TAG "n")', out)
        out = self.ok(r, b"c", b"SEARCH RETURN (COUNT MIN) ALL")
        self.assertIn(b'* ESEARCH (TAG "c") MIN 1 COUNT 3', out)
        self.ok(r, b"sv", b"SEARCH RETURN (SAVE) 2")
        out = self.ok(r, b"f", b"FETCH $ UID")
        self.assertIn(b"* 2 FETCH (UID %s)" % uids[1], out)
        a.close()
        r.close()

    # ---- STATUS DELETED and SIZE ----

    def test_status_deleted_size(self):
        a = self.login()
        self.fresh(a, b"R2Status")
        self.append(a, b"R2Status", 1, b"(\\Deleted) ")
        self.append(a, b"R2Status", 2, b"(\\Deleted \\Seen) ")
        self.append(a, b"R2Status", 3)
        self.bad(a, b"st", b"STATUS R2Status (DELETED)")
        out = self.ok(a, b"s2", b"STATUS R2Status (MESSAGES SIZE)")
        m = re.search(rb"SIZE (\d+)", b"\n".join(out))
        size = int(m.group(1))
        self.assertGreater(size, 0)
        r = self.login(rev2=True)
        out = self.ok(r, b"st", b"STATUS R2Status (MESSAGES DELETED SIZE UNSEEN)")
        self.assertIn(b"* STATUS R2Status (MESSAGES 3 DELETED 2 SIZE %d UNSEEN 2)" % size,
                      out)
        out = self.ok(r, b"ls", b'LIST "" R2Status RETURN (STATUS (DELETED MESSAGES))')
        self.assertIn(b"* STATUS R2Status (DELETED 2 MESSAGES 3)", out)
        a.close()
        r.close()

    # ---- LIST, LSUB ----

    def test_list_rules(self):
        a = self.login()
        for box in (b"R2L/Kid", b"R2L", b"R2Gone"):
            a.cmd(b"d", b"DELETE " + box)
        # R2L: deleted, subscribed, with a child: the store keeps it as
        # a subscription only; R2Gone: deleted and subscribed
        self.ok(a, b"c0", b"CREATE R2L")
        self.ok(a, b"sb0", b"SUBSCRIBE R2L")
        self.ok(a, b"dl0", b"DELETE R2L")
        self.ok(a, b"c1", b"CREATE R2L/Kid")
        self.ok(a, b"c2", b"CREATE R2Gone")
        self.ok(a, b"sb", b"SUBSCRIBE R2Gone")
        self.ok(a, b"dl", b"DELETE R2Gone")
        rev1 = self.ok(a, b"l", b'LIST "" R2*')
        r = self.login(rev2=True)
        rev2 = self.ok(r, b"l", b'LIST "" R2*')
        # a deleted mailbox still named by a child: \\Noselect in rev1,
        # \\NonExistent with the LIST-EXTENDED rules of RFC 9051 6.3.9
        self.assertIn(b'* LIST (\\Noselect \\HasChildren) "/" R2L', rev1)
        self.assertIn(b'* LIST (\\NonExistent \\HasChildren) "/" R2L', rev2)
        self.assertNotIn(b"R2Gone", b"\n".join(rev1 + rev2))
        out = self.ok(r, b"l2", b'LIST (SUBSCRIBED) "" R2Gone')
        self.assertIn(b'* LIST (\\NonExistent \\HasNoChildren \\Subscribed) "/" R2Gone', out)
        out = self.ok(r, b"l3", b'LIST "" R2L/Kid')
        self.assertIn(b'* LIST (\\HasNoChildren) "/" R2L/Kid', out)
        # LSUB is deprecated (RFC 9051 Appendix E), not gone
        out = self.ok(r, b"ls", b'LSUB "" R2Gone')
        self.assertTrue(any(ln.startswith(b"* LSUB ") for ln in out), out)
        self.ok(r, b"us", b"UNSUBSCRIBE R2Gone")
        self.ok(r, b"us2", b"UNSUBSCRIBE R2L")
        a.close()
        r.close()

    # ---- OK [CLOSED] ----

    def test_closed(self):
        a = self.login()
        self.fresh(a, b"R2Closed")
        self.ok(a, b"s1", b"SELECT R2Closed")
        out = self.ok(a, b"s2", b"SELECT INBOX")
        self.assertNotIn(b"[CLOSED]", b"\n".join(out))
        r = self.login(rev2=True)
        self.ok(r, b"s1", b"SELECT R2Closed")
        out = self.ok(r, b"s2", b"EXAMINE INBOX")
        self.assertEqual(out[0], b"* OK [CLOSED] Previous mailbox closed")
        self.assertIn(b'* LIST () "/" INBOX', out)
        self.assertTrue(out[-1].startswith(b"s2 OK [READ-ONLY]"), out)
        a.close()
        r.close()

    # ---- UTF-8 mailbox names ----

    def test_utf8_names(self):
        r = self.login(rev2=True)
        name = "R2Ünïcode".encode()
        r.cmd(b"d1", b'DELETE "' + name + b'"')
        r.cmd(b"d2", b'DELETE "R2A&B"')
        self.ok(r, b"c1", b'CREATE "' + name + b'"')
        self.ok(r, b"c2", b'CREATE "R2A&B"')
        out = self.ok(r, b"l", b'LIST "" R2*')
        self.assertIn(b'* LIST (\\HasNoChildren) "/" "' + name + b'"', out)
        self.assertIn(b'* LIST (\\HasNoChildren) "/" R2A&B', out)   # an atom
        out = self.ok(r, b"st", b'STATUS "' + name + b'" (MESSAGES)')
        self.assertIn(b'* STATUS "' + name + b'" (MESSAGES 0)', out)
        out = self.ok(r, b"s", b'SELECT "R2A&B"')
        self.assertIn(b'* LIST () "/" R2A&B', out)
        # the same mailboxes in modified UTF-7 for IMAP4rev1
        a = self.login()
        out = self.ok(a, b"l", b'LIST "" R2*')
        self.assertIn(b'* LIST (\\HasNoChildren) "/" R2&ANw-n&AO8-code', out)
        self.assertIn(b'* LIST (\\HasNoChildren) "/" R2A&-B', out)
        self.ok(a, b"s", b"SELECT R2A&-B")
        # bad UTF-8 is no name (NO), not a syntax error
        out = r.cmd(b"c3", b'CREATE {3+}\r\nR2\xff')
        self.assertTrue(out[-1].startswith(b"c3 NO"), out)
        for box in (b'"' + name + b'"', b'"R2A&B"'):
            self.ok(r, b"dd", b"DELETE " + box)
        a.close()
        r.close()

    # ---- what stays the same ----

    def test_unchanged(self):
        r = self.login(rev2=True)
        self.fresh(r, b"R2Same")
        self.fresh(r, b"R2Dest")
        out = self.append(r, b"R2Same", 1)
        self.assertRegex(out[-1], rb"^ap OK \[APPENDUID \d+ \d+\]")
        self.append(r, b"R2Same", 2)
        self.ok(r, b"s", b"SELECT R2Same")
        out = self.ok(r, b"f", b"FETCH 1 (RFC822.SIZE RFC822.HEADER BINARY.SIZE[1] BINARY[1])")
        text = b"\n".join(out)
        self.assertIn(b"RFC822.SIZE ", text)
        self.assertIn(b"RFC822.HEADER {", text)
        self.assertIn(b"BINARY[1] {", text)
        out = self.ok(r, b"cp", b"COPY 1 R2Dest")
        self.assertRegex(out[-1], rb"^cp OK \[COPYUID \d+ \d+ \d+\]")
        out = self.ok(r, b"mv", b"MOVE 2 R2Dest")
        self.assertTrue(any(re.match(rb"^\* OK \[COPYUID \d+ \d+ \d+\]", ln) for ln in out), out)
        self.assertIn(b"* 2 EXPUNGE", out)
        self.ok(r, b"st", b"STORE 1 +FLAGS.SILENT (\\Deleted)")
        out = self.ok(r, b"x", b"EXPUNGE")
        self.assertIn(b"* 1 EXPUNGE", out)
        self.assertNotIn(b"VANISHED", b"\n".join(out))
        self.ok(r, b"un", b"UNSELECT")
        out = self.ok(r, b"ns", b"NAMESPACE")
        self.assertIn(b'* NAMESPACE (("" "/")) NIL NIL', out)
        r.close()

    # ---- a real client library ----

    def test_imaplib(self):
        a = self.login()
        self.fresh(a, b"R2Lib")
        self.append(a, b"R2Lib", 1)
        self.append(a, b"R2Lib", 2)
        a.close()
        m = self.srv.imap()
        try:
            self.assertIn("IMAP4REV2", m.capabilities)
            m.login(*ALICE)
            typ, data = m.enable("IMAP4rev2")
            self.assertEqual(typ, "OK")
            self.assertEqual(m.untagged_responses.pop("ENABLED", None), [b"IMAP4rev2"])
            typ, data = m.select("R2Lib")
            self.assertEqual((typ, data), ("OK", [b"2"]))
            self.assertNotIn("RECENT", m.untagged_responses)
            typ, data = m._simple_command("SEARCH", "ALL")
            self.assertEqual(typ, "OK")
            typ, data = m._untagged_response(typ, data, "ESEARCH")
            self.assertEqual(len(data), 1)
            self.assertTrue(data[0].endswith(b"ALL 1:2"), data)
            typ, data = m.fetch("1", "(FLAGS)")
            self.assertEqual(data, [b"1 (FLAGS ())"])
            m.logout()
        finally:
            if m.state != "LOGOUT":
                m.shutdown()

    # ---- message/global (RFC 9051 7.5.2, RFC 6532 3.5) ----

    GLOBAL_MSG = (
        "From: a@example.org\r\nSubject: fwd\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/mixed; boundary=\"out\"\r\n\r\n"
        "--out\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nsee below\r\n"
        "--out\r\nContent-Type: message/global\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
        "From: J\u00f6ran <j\u00f6ran@b\u00fccher.example>\r\n"
        "To: kim@example.org\r\nSubject: Gr\u00fc\u00dfe\r\n"
        "Date: Tue, 1 Dec 2026 10:00:00 +0100\r\n"
        "Message-ID: <g1@b\u00fccher.example>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/alternative; boundary=\"in\"\r\n\r\n"
        "--in\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\nGr\u00fc\u00dfe\r\n"
        "--in\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>hi</p>\r\n"
        "--in--\r\n--out--\r\n").encode()
    # IMAP4rev1 (and the cache blob): message/global is a leaf part
    GLOBAL_BS_REV1 = (
        b'(("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "7BIT" 9 0 NIL NIL NIL NIL)'
        b'("MESSAGE" "GLOBAL" NIL NIL NIL "8BIT" 379 NIL NIL NIL NIL) "MIXED" '
        b'("BOUNDARY" "out") NIL NIL NIL)')
    # IMAP4rev2: an encapsulated message (envelope, structure, lines)
    GLOBAL_BS_REV2 = (
        '(("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "7BIT" 9 0 NIL NIL NIL NIL)'
        '("MESSAGE" "GLOBAL" NIL NIL NIL "8BIT" 381 ("Tue, 1 Dec 2026 10:00:00 +0100" '
        '{7}\r\nGr\u00fc\u00dfe '
        + '(({6}\r\nJ\u00f6ran NIL {6}\r\nj\u00f6ran {15}\r\nb\u00fccher.example)) ' * 3
        + '((NIL NIL "kim" "example.org")) NIL NIL NIL {20}\r\n<g1@b\u00fccher.example>) '
        '(("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "8BIT" 7 0 NIL NIL NIL NIL)'
        '("TEXT" "HTML" ("CHARSET" "utf-8") NIL NIL "7BIT" 9 0 NIL NIL NIL NIL) '
        '"ALTERNATIVE" ("BOUNDARY" "in") NIL NIL NIL) 18 NIL NIL NIL NIL) "MIXED" '
        '("BOUNDARY" "out") NIL NIL NIL)').encode()

    @staticmethod
    def wire(data):
        """imaplib's FETCH data back as the bytes on the wire (a literal
        is a (line, data) pair)."""
        out = b""
        for d in data:
            out += d[0] + b"\r\n" + d[1] if isinstance(d, tuple) else d
        return out

    def global_fetch(self, rev2):
        m = self.srv.imap(*ALICE)
        try:
            if rev2:
                self.assertEqual(m.enable("IMAP4rev2")[0], "OK")
            self.assertEqual(m.select("R2Glob")[0], "OK")
            typ, data = m.fetch("1", "(BODYSTRUCTURE BODY.PEEK[2.1])")
            self.assertEqual(typ, "OK")
            one = self.wire(data)
            typ, data = m.fetch("1", "(BODY.PEEK[2.HEADER] BODY.PEEK[2.TEXT] "
                                "BODY.PEEK[2.MIME] BODY.PEEK[2.2] BINARY.PEEK[2.1])")
            self.assertEqual(typ, "OK")
            two = self.wire(data)
            m.logout()
        finally:
            if m.state != "LOGOUT":
                m.shutdown()
        return one, two

    def test_message_global(self):
        msg = self.GLOBAL_MSG
        part2 = msg[msg.index(b"From: J"):msg.index(b"\r\n--out--")]
        inner_hdr = part2[:part2.index(b"\r\n\r\n") + 4]
        m = self.srv.imap(*ALICE)
        try:
            m.delete("R2Glob")
            self.assertEqual(m.create("R2Glob")[0], "OK")
            self.assertEqual(m.append("R2Glob", None, None, msg)[0], "OK")
            m.logout()
        finally:
            if m.state != "LOGOUT":
                m.shutdown()

        # IMAP4rev1: today's answers; BODY[2.1] is part 2 itself
        one, two = self.global_fetch(rev2=False)
        self.assertEqual(one, b"1 (BODYSTRUCTURE " + self.GLOBAL_BS_REV1 +
                         b" BODY[2.1] {%d}\r\n" % len(part2) + part2 + b")")
        self.assertIn(b"BODY[2.HEADER] {0}\r\n BODY[2.TEXT] {0}\r\n", two)
        self.assertIn(b"BODY[2.2] {0}\r\n", two)

        # IMAP4rev2: the encapsulated message's own parts
        one, two = self.global_fetch(rev2=True)
        self.assertEqual(one, b"1 (BODYSTRUCTURE " + self.GLOBAL_BS_REV2 +
                         " BODY[2.1] {7}\r\nGr\u00fc\u00dfe)".encode())
        self.assertIn(b"BODY[2.HEADER] {%d}\r\n" % len(inner_hdr) + inner_hdr, two)
        text = part2[len(inner_hdr):] + b"\r\n"
        self.assertIn(b"BODY[2.TEXT] {%d}\r\n" % len(text) + text, two)
        mime = b"Content-Type: message/global\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        self.assertIn(b"BODY[2.MIME] {%d}\r\n" % len(mime) + mime, two)
        self.assertIn(b"BODY[2.2] {9}\r\n<p>hi</p>", two)
        self.assertIn("BINARY[2.1] {7}\r\nGr\u00fc\u00dfe".encode(), two)

        # and a rev1 session after it still gets the cached answer
        one, _ = self.global_fetch(rev2=False)
        self.assertTrue(one.startswith(b"1 (BODYSTRUCTURE " + self.GLOBAL_BS_REV1), one)


if __name__ == "__main__":
    mmtest.main()
