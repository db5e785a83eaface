#!/usr/bin/env python3
"""End-to-end IMAP tests: the real minimaild driven by Python's imaplib (and
raw sockets where imaplib hides the bytes), over 143+STARTTLS and 993."""
import imaplib
import re
import smtplib
import socket
import ssl
import time
import unittest
import zlib

import mmtest

ALICE = ("alice@example.org", "alice-secret")
BOB = ("bob@example.org", "bob-secret")

MSG = (b"From: Bob <bob@example.org>\r\n"
       b"To: Alice <alice@example.org>\r\n"
       b"Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=\r\n"
       b"Date: Tue, 1 Jul 2003 10:52:37 +0200\r\n"
       b"Message-ID: <abc@example.org>\r\n"
       b"MIME-Version: 1.0\r\n"
       b"Content-Type: multipart/mixed; boundary=\"XX\"\r\n"
       b"\r\n"
       b"preamble\r\n"
       b"--XX\r\n"
       b"Content-Type: text/plain; charset=utf-8\r\n"
       b"\r\n"
       b"Hello Alice\r\n"
       b"--XX\r\n"
       b"Content-Type: application/octet-stream; name=\"a.bin\"\r\n"
       b"Content-Transfer-Encoding: base64\r\n"
       b"\r\n"
       b"AAECAw==\r\n"
       b"--XX--\r\n")


def simple(n, subject="test"):
    return (b"From: bob@example.org\r\nTo: alice@example.org\r\nSubject: %s %d\r\n\r\nbody %d\r\n"
            % (subject.encode(), n, n))


class Raw:
    """A line-level IMAP client on a socket, for what imaplib hides."""

    def __init__(self, sock):
        self.s = sock
        self.buf = b""

    def send(self, data):
        self.s.sendall(data)

    def line(self, timeout=5):
        self.s.settimeout(timeout)
        while b"\r\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                raise EOFError(self.buf)
            self.buf += d
        ln, self.buf = self.buf.split(b"\r\n", 1)
        return ln

    def until(self, prefix, timeout=5):
        """Lines up to and including the first starting with prefix."""
        out = []
        deadline = time.time() + timeout
        while True:
            ln = self.line(max(0.1, deadline - time.time()))
            out.append(ln)
            if ln.startswith(prefix):
                return out

    def cmd(self, tag, text, timeout=5):
        self.send(tag + b" " + text + b"\r\n")
        return self.until(tag + b" ", timeout)

    def close(self):
        self.s.close()


class ImapTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = mmtest.Server()

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def imaps(self, who=ALICE):
        m = imaplib.IMAP4_SSL("127.0.0.1", self.srv.ports["imaps"],
                              ssl_context=self.srv.ssl_context())
        if who:
            m.login(*who)
        return m

    def starttls(self, who=ALICE):
        m = imaplib.IMAP4("127.0.0.1", self.srv.ports["imap"])
        m.starttls(ssl_context=self.srv.ssl_context())
        if who:
            m.login(*who)
        return m

    def raw_tls(self):
        s = self.srv.ssl_context().wrap_socket(self.srv.connect("imaps"))
        r = Raw(s)
        self.assertTrue(r.line().startswith(b"* OK [CAPABILITY IMAP4rev1 "))
        return r

    def fresh_mailbox(self, m, name):
        m.delete(name)
        typ, _ = m.create(name)
        self.assertEqual(typ, "OK")
        return name

    # ---- greeting, capabilities, plaintext policy ----

    def test_greeting_and_plaintext_policy(self):
        s = self.srv.connect("imap")
        r = Raw(s)
        g = r.line()
        self.assertTrue(g.startswith(b"* OK [CAPABILITY IMAP4rev1 "), g)
        self.assertIn(b" STARTTLS", g)
        self.assertIn(b" LOGINDISABLED", g)
        self.assertNotIn(b"AUTH=", g)
        self.assertTrue(g.endswith(b"] minimaild ready"), g)
        out = r.cmd(b"a1", b"LOGIN alice@example.org alice-secret")
        self.assertTrue(out[-1].startswith(b"a1 NO [PRIVACYREQUIRED]"), out)
        out = r.cmd(b"a2", b"AUTHENTICATE PLAIN AGFsaWNlQGV4YW1wbGUub3JnAGFsaWNlLXNlY3JldA==")
        self.assertTrue(out[-1].startswith(b"a2 NO [PRIVACYREQUIRED]"), out)
        out = r.cmd(b"a3", b"SELECT INBOX")
        self.assertTrue(out[-1].startswith(b"a3 BAD"), out)
        r.close()

    def test_capabilities_after_starttls_and_login(self):
        m = self.starttls(who=None)
        caps = m.capabilities
        m.capabilities = ()
        typ, data = m.capability()
        caps = data[0].split()
        self.assertIn(b"AUTH=PLAIN", caps)
        self.assertIn(b"AUTH=LOGIN", caps)
        self.assertNotIn(b"STARTTLS", caps)
        self.assertNotIn(b"LOGINDISABLED", caps)
        typ, data = m.login(*ALICE)
        self.assertEqual(typ, "OK")
        self.assertTrue(data[0].startswith(b"[CAPABILITY IMAP4rev1 "), data)
        caps = data[0][len(b"[CAPABILITY "):data[0].index(b"]")].split(b" ")
        for c in (b"IDLE", b"UIDPLUS", b"MOVE", b"NAMESPACE", b"ID", b"ENABLE", b"UNSELECT",
                  b"SPECIAL-USE", b"LITERAL+", b"SASL-IR", b"CHILDREN", b"APPENDLIMIT=52428800",
                  b"CONDSTORE", b"QRESYNC", b"QUOTA"):
            self.assertIn(c, caps)
        self.assertNotIn(b"AUTH=PLAIN", caps)
        self.assertEqual(m.noop()[0], "OK")
        m.shutdown()

    def test_tls_session_resumption(self):
        # the server keeps TLS 1.3's stateless tickets and TLS 1.2's session
        # cache: a second connection with the first one's session resumes;
        # TLS 1.3 prefers AES-128-GCM (Mozilla's order) over AES-256-GCM
        for ver in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
            ctx = self.srv.ssl_context()
            ctx.maximum_version = ver
            sess = None
            for i in range(2):
                s = ctx.wrap_socket(self.srv.connect("imaps"), session=sess)
                r = Raw(s)
                self.assertTrue(r.line().startswith(b"* OK [CAPABILITY IMAP4rev1 "))
                self.assertEqual(s.session_reused, i == 1, (ver, i))
                if ver == ssl.TLSVersion.TLSv1_3:
                    self.assertEqual(s.cipher()[0], "TLS_AES_128_GCM_SHA256")
                sess = s.session
                out = r.cmd(b"a1", b"LOGIN alice@example.org alice-secret")
                self.assertTrue(out[-1].startswith(b"a1 OK"), out)
                r.close()

    def test_logout_after_starttls(self):
        m = self.starttls()
        self.assertEqual(m.logout()[0], "BYE")

    def test_plaintext_allowed_when_configured(self):
        with mmtest.Server(allow_plaintext=True) as srv:
            m = imaplib.IMAP4("127.0.0.1", srv.ports["imap"])
            self.assertIn("AUTH=PLAIN", m.capabilities)
            self.assertNotIn("LOGINDISABLED", m.capabilities)
            self.assertEqual(m.login(*ALICE)[0], "OK")
            m.logout()

    # ---- authentication ----

    def test_login_wrong_password(self):
        m = imaplib.IMAP4_SSL("127.0.0.1", self.srv.ports["imaps"],
                              ssl_context=self.srv.ssl_context())
        with self.assertRaises(imaplib.IMAP4.error) as cm:
            m.login("alice@example.org", "wrong")
        self.assertIn("AUTHENTICATIONFAILED", str(cm.exception))
        self.assertEqual(m.login(*ALICE)[0], "OK")
        m.logout()

    def test_authenticate_plain_and_login(self):
        m = imaplib.IMAP4_SSL("127.0.0.1", self.srv.ports["imaps"],
                              ssl_context=self.srv.ssl_context())
        typ, _ = m.authenticate("PLAIN", lambda _: b"\0alice@example.org\0alice-secret")
        self.assertEqual(typ, "OK")
        m.logout()
        r = self.raw_tls()
        # SASL-IR
        out = r.cmd(b"p1", b"AUTHENTICATE PLAIN AGJvYkBleGFtcGxlLm9yZwBib2Itc2VjcmV0")
        self.assertTrue(out[-1].startswith(b"p1 OK [CAPABILITY "), out)
        r.close()
        r = self.raw_tls()
        r.send(b"l1 AUTHENTICATE LOGIN\r\n")
        self.assertEqual(r.line(), b"+ VXNlcm5hbWU6")
        r.send(b"Ym9iQGV4YW1wbGUub3Jn\r\n")
        self.assertEqual(r.line(), b"+ UGFzc3dvcmQ6")
        r.send(b"Ym9iLXNlY3JldA==\r\n")
        self.assertTrue(r.line().startswith(b"l1 OK [CAPABILITY "))
        r.close()
        r = self.raw_tls()
        r.send(b"c1 AUTHENTICATE PLAIN\r\n")
        self.assertEqual(r.line(), b"+ ")
        r.send(b"*\r\n")
        self.assertTrue(r.line().startswith(b"c1 BAD"))
        out = r.cmd(b"c2", b"NOOP")
        self.assertEqual(out[-1], b"c2 OK NOOP completed")
        r.close()

    # ---- mailboxes ----

    def test_list_special_use_and_children(self):
        m = self.imaps()
        typ, data = m.list()
        self.assertEqual(typ, "OK")
        self.assertIn(b'(\\HasNoChildren) "/" INBOX', data)
        for attr, name in ((b"\\Drafts", b"Drafts"), (b"\\Sent", b"Sent"), (b"\\Trash", b"Trash"),
                           (b"\\Junk", b"Junk"), (b"\\Archive", b"Archive")):
            self.assertIn(b'(\\HasNoChildren ' + attr + b') "/" ' + name, data)
        typ, data = m.list('""', '""')
        self.assertEqual(data, [b'(\\Noselect) "/" ""'])
        self.fresh_mailbox(m, "Proj")
        self.assertEqual(m.create("Proj/Sub")[0], "OK")
        typ, data = m.list('""', "Proj*")
        self.assertEqual(data, [b'(\\HasChildren) "/" Proj', b'(\\HasNoChildren) "/" Proj/Sub'])
        typ, data = m.list('""', "Proj/%")
        self.assertEqual(data, [b'(\\HasNoChildren) "/" Proj/Sub'])
        typ, data = m.list('""', "pro%")
        self.assertEqual(data, [None])
        typ, data = m.list('""', "inbox")
        self.assertEqual(data, [b'(\\HasNoChildren) "/" INBOX'])
        typ, data = m._simple_command("LIST", "(SPECIAL-USE)", '""', "*")
        self.assertEqual(typ, "OK")
        listed = m.untagged_responses.pop("LIST", [])
        self.assertEqual(len(listed), 5, listed)
        m.delete("Proj/Sub")
        m.delete("Proj")
        m.logout()

    def test_create_rename_delete_subscribe_status(self):
        m = self.imaps()
        m.delete("Renamed")
        self.fresh_mailbox(m, "Work")
        typ, data = m.create("Work")
        self.assertEqual(typ, "NO")
        self.assertIn(b"ALREADYEXISTS", data[0])
        self.assertEqual(m.create("INBOX")[0], "NO")
        self.assertEqual(m.rename("Work", "Renamed")[0], "OK")
        typ, data = m.list('""', "Renamed")
        self.assertEqual(data, [b'(\\HasNoChildren) "/" Renamed'])
        self.assertEqual(m.subscribe("Renamed")[0], "OK")
        typ, data = m.lsub('""', "Renamed")
        self.assertEqual(data, [b'() "/" Renamed'])
        self.assertEqual(m.unsubscribe("Renamed")[0], "OK")
        typ, data = m.lsub('""', "Renamed")
        self.assertEqual(data, [None])
        m.append("Renamed", None, None, simple(1))
        typ, data = m.status("Renamed", "(MESSAGES UNSEEN UIDNEXT RECENT)")
        self.assertEqual(typ, "OK")
        self.assertEqual(data[0], b"Renamed (MESSAGES 1 UNSEEN 1 UIDNEXT 2 RECENT 1)")
        typ, data = m.status("Nope", "(MESSAGES)")
        self.assertEqual(typ, "NO")
        self.assertEqual(m.delete("Renamed")[0], "OK")
        self.assertEqual(m.delete("Renamed")[0], "NO")
        typ, data = m.delete("INBOX")
        self.assertEqual(typ, "NO")
        m.logout()

    def test_utf7_names(self):
        m = self.imaps()
        m.delete("Entw&APw-rfe")
        self.assertEqual(m.create("Entw&APw-rfe")[0], "OK")
        typ, data = m.list('""', "Entw*")
        self.assertEqual(data, [b'(\\HasNoChildren) "/" Entw&APw-rfe'])
        typ, data = m.select("Entw&APw-rfe")
        self.assertEqual(typ, "OK", data)
        # not valid modified UTF-7: a bad name (NO), not bad syntax (issue 11)
        typ, data = m.create("Bad&Name")
        self.assertEqual(typ, "NO")
        self.assertTrue(data[0].startswith(b"[CANNOT]"), data)
        m.logout()
        r = self.srv.ctl("mailbox", "list", "alice@example.org")
        self.assertIn("Entwürfe", r.stdout)

    def test_namespace_id_enable(self):
        m = self.imaps()
        typ, data = m.namespace()
        self.assertEqual(data, [b'(("" "/")) NIL NIL'])
        typ, data = m.xatom("ID", '("name" "test")')
        self.assertEqual(typ, "OK")
        self.assertIn(b'"name" "minimaild"', m.untagged_responses.pop("ID")[0])
        typ, data = m.enable("CONDSTORE")
        self.assertEqual(typ, "OK")
        m.logout()

    # ---- messages ----

    def test_append_fetch_byte_exact(self):
        m = self.imaps()
        box = self.fresh_mailbox(m, "Exact")
        typ, data = m.append(box, r"(\Flagged $Work)", '"01-Feb-2024 10:20:30 +0100"', MSG)
        self.assertEqual(typ, "OK")
        mo = re.match(rb"\[APPENDUID (\d+) 1\] Append completed", data[0])
        self.assertTrue(mo, data)
        typ, data = m.select(box)
        self.assertEqual(data, [b"1"])
        self.assertIn(b"[UIDVALIDITY %s]" % mo.group(1),
                      b" ".join(b"[UIDVALIDITY " + v + b"]" for v in m.untagged_responses["UIDVALIDITY"]))
        typ, data = m.fetch("1", "(UID FLAGS RFC822.SIZE INTERNALDATE BODY.PEEK[])")
        self.assertEqual(typ, "OK")
        head, body = data[0]
        self.assertEqual(body, MSG)
        self.assertIn(b"RFC822.SIZE %d" % len(MSG), head)
        self.assertIn(b'INTERNALDATE "01-Feb-2024 09:20:30 +0000"', head)
        self.assertIn(b"FLAGS (\\Flagged $Work \\Recent)", head)
        hdr_end = MSG.index(b"\r\n\r\n") + 4
        typ, data = m.fetch("1", "(BODY.PEEK[HEADER] BODY.PEEK[TEXT] BODY.PEEK[1] "
                                 "BODY.PEEK[2.MIME] BODY.PEEK[]<0.10> BODY.PEEK[9])")
        parts = [p for p in data if isinstance(p, tuple)]
        self.assertEqual(parts[0][1], MSG[:hdr_end])
        self.assertEqual(parts[1][1], MSG[hdr_end:])
        self.assertEqual(parts[2][1], b"Hello Alice")
        self.assertEqual(parts[3][1], b"Content-Type: application/octet-stream; name=\"a.bin\"\r\n"
                                      b"Content-Transfer-Encoding: base64\r\n\r\n")
        self.assertEqual(parts[4][1], MSG[:10])
        self.assertIn(b"BODY[]<0> {10}", parts[4][0])
        typ, data = m.fetch("1", "(BODY.PEEK[HEADER.FIELDS (Subject To)])")
        self.assertEqual(data[0][1], b"To: Alice <alice@example.org>\r\n"
                                     b"Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=\r\n\r\n")
        typ, data = m.fetch("1", "(ENVELOPE BODYSTRUCTURE)")
        flat = b"".join(p if isinstance(p, bytes) else p[0] + p[1] for p in data)
        self.assertIn(b'ENVELOPE ("Tue, 1 Jul 2003 10:52:37 +0200" "=?UTF-8?Q?Gr=C3=BC=C3=9Fe?=" '
                      b'(("Bob" NIL "bob" "example.org"))', flat)
        self.assertIn(b'"<abc@example.org>")', flat)
        self.assertIn(b'BODYSTRUCTURE (("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "7BIT" 11 0',
                      flat.replace(b'"UTF-8"', b'"utf-8"'))
        self.assertIn(b'"MIXED" ("BOUNDARY" "XX")', flat)
        # PEEK does not set \Seen; BODY[] does and says so
        typ, data = m.fetch("1", "(FLAGS)")
        self.assertNotIn(b"\\Seen", data[0])
        typ, data = m.fetch("1", "(BODY[TEXT])")
        self.assertIn(b"FLAGS (\\Seen \\Flagged $Work \\Recent)".replace(b"\\Seen \\Flagged", b"\\Flagged \\Seen"),
                      b"".join(p if isinstance(p, bytes) else p[0] for p in data))
        typ, data = m.fetch("1", "RFC822")
        self.assertEqual(data[0][1], MSG)
        m.logout()

    def test_append_literal_plus_and_errors(self):
        r = self.raw_tls()
        r.cmd(b"l", b"LOGIN alice@example.org alice-secret")
        r.cmd(b"c", b"CREATE LitPlus")
        msg = simple(7)
        r.send(b"a1 APPEND LitPlus (\\Seen) {%d+}\r\n%s\r\n" % (len(msg), msg))
        out = r.until(b"a1 ")
        self.assertTrue(re.match(rb"a1 OK \[APPENDUID \d+ 1\] Append completed", out[-1]), out)
        out = r.cmd(b"a2", b"APPEND NoSuchBox {3+}\r\nabc")
        self.assertEqual(out[-1], b"a2 NO [TRYCREATE] Mailbox doesn't exist")
        out = r.cmd(b"a3", b"APPEND LitPlus \"bad date\" {3+}\r\nabc")
        self.assertTrue(out[-1].startswith(b"a3 BAD"), out)
        out = r.cmd(b"a4", b"APPEND LitPlus {0+}\r\n")
        self.assertTrue(out[-1].startswith(b"a4 NO"), out)
        out = r.cmd(b"d", b"DELETE LitPlus")
        self.assertEqual(out[-1], b"d OK Delete completed")
        r.close()

    def test_store_copy_move_expunge(self):
        m = self.imaps()
        box = self.fresh_mailbox(m, "Ops")
        dst = self.fresh_mailbox(m, "OpsDst")
        for i in range(1, 6):
            m.append(box, None, None, simple(i))
        m.select(box)
        typ, data = m.store("1:2", "+FLAGS", r"(\Seen \Answered)")
        self.assertEqual(sorted(data), [b"1 (UID 1 FLAGS (\\Answered \\Seen \\Recent))",
                                        b"2 (UID 2 FLAGS (\\Answered \\Seen \\Recent))"])
        typ, data = m.store("1", "-FLAGS.SILENT", r"(\Answered)")
        self.assertEqual(data, [None])
        typ, data = m.store("3", "FLAGS", "(Junk $Label1)")
        self.assertEqual(data, [b"3 (UID 3 FLAGS (Junk $Label1 \\Recent))"])
        typ, data = m.uid("STORE", "4", "+FLAGS", r"(\Deleted)")
        self.assertEqual(data, [b"4 (UID 4 FLAGS (\\Deleted \\Recent))"])
        with self.assertRaisesRegex(imaplib.IMAP4.error, "BAD.*Recent cannot be changed"):
            m.store("1", "+FLAGS", r"(\Recent)")
        with self.assertRaisesRegex(imaplib.IMAP4.error, "BAD"):
            m.fetch("9", "FLAGS")
        typ, data = m.copy("1:2", dst)
        self.assertEqual(typ, "OK")
        self.assertTrue(re.match(rb"\[COPYUID \d+ 1:2 1:2\] Copy completed", data[0]), data)
        typ, data = m.copy("1", "Missing")
        self.assertEqual(typ, "NO")
        self.assertIn(b"TRYCREATE", data[0])
        typ, data = m.uid("MOVE", "5", dst)
        self.assertEqual(typ, "OK")
        self.assertEqual(m.untagged_responses.pop("EXPUNGE"), [b"5"])
        self.assertTrue(re.match(rb"\d+ 5 3", m.untagged_responses.pop("COPYUID")[-1]))
        typ, data = m.expunge()
        self.assertEqual(data, [b"4"])
        typ, data = m.fetch("1:*", "(UID FLAGS)")
        self.assertEqual(data, [b"1 (UID 1 FLAGS (\\Seen \\Recent))",
                                b"2 (UID 2 FLAGS (\\Answered \\Seen \\Recent))",
                                b"3 (UID 3 FLAGS (Junk $Label1 \\Recent))"])
        # UID EXPUNGE only removes the named \Deleted messages
        m.store("1:3", "+FLAGS.SILENT", r"(\Deleted)")
        typ, data = m.uid("EXPUNGE", "2")
        self.assertEqual(typ, "OK")
        self.assertEqual(m.untagged_responses.pop("EXPUNGE"), [b"2"])
        typ, data = m.status(dst, "(MESSAGES)")
        self.assertEqual(data, [b"OpsDst (MESSAGES 3)"])
        self.assertEqual(m.close()[0], "OK")
        typ, data = m.status(box, "(MESSAGES)")
        self.assertEqual(data, [b"Ops (MESSAGES 0)"])
        m.logout()

    def test_examine_is_read_only(self):
        m = self.imaps()
        box = self.fresh_mailbox(m, "RO")
        m.append(box, None, None, simple(1))
        typ, data = m.select(box, readonly=True)
        self.assertEqual(typ, "OK")
        self.assertIn("READ-ONLY", m.untagged_responses)
        typ, data = m.store("1", "+FLAGS", r"(\Seen)")
        self.assertEqual((typ, data), ("NO", [b"[READ-ONLY] Mailbox is read-only"]))
        typ, data = m.fetch("1", "(BODY[])")
        typ, data = m.fetch("1", "(FLAGS)")
        self.assertNotIn(b"\\Seen", data[0])
        self.assertEqual(m.unselect()[0], "OK")
        m.logout()

    def test_flags_persist_across_sessions_and_restart(self):
        with mmtest.Server() as srv:
            m = imaplib.IMAP4_SSL("127.0.0.1", srv.ports["imaps"], ssl_context=srv.ssl_context())
            m.login(*ALICE)
            m.append("INBOX", r"(\Flagged)", None, simple(1))
            m.select("INBOX")
            m.store("1", "+FLAGS", r"(\Seen $Keep)")
            m.logout()
            srv.restart()
            m = imaplib.IMAP4_SSL("127.0.0.1", srv.ports["imaps"], ssl_context=srv.ssl_context())
            m.login(*ALICE)
            typ, data = m.select("INBOX")
            self.assertEqual(data, [b"1"])
            self.assertEqual(m.untagged_responses.get("RECENT"), [b"0"])
            typ, data = m.fetch("1", "(FLAGS BODY.PEEK[])")
            self.assertIn(b"FLAGS (\\Flagged \\Seen $Keep)", data[0][0])
            self.assertEqual(data[0][1], simple(1))
            m.logout()

    def test_two_sessions_see_store_and_expunge(self):
        a = self.imaps()
        box = self.fresh_mailbox(a, "Shared")
        for i in range(1, 4):
            a.append(box, None, None, simple(i))
        a.select(box)
        b = self.imaps()
        b.select(box)
        a.store("2", "+FLAGS", r"(\Seen)")
        typ, _ = b.noop()
        self.assertEqual(b.untagged_responses.pop("FETCH", None), [b"2 (UID 2 FLAGS (\\Seen))"])
        a.store("1", "+FLAGS", r"(\Deleted)")
        a.expunge()
        typ, _ = b.noop()
        self.assertEqual(b.untagged_responses.pop("EXPUNGE", None), [b"1"])
        # the message is gone: no FLAGS for it, only the EXPUNGE
        self.assertIsNone(b.untagged_responses.pop("FETCH", None))
        typ, data = b.fetch("1:*", "(UID)")
        self.assertEqual(data, [b"1 (UID 2)", b"2 (UID 3)"])
        # no EXPUNGE during FETCH: the expunge waits for the next NOOP
        a.store("1", "+FLAGS", r"(\Deleted)")
        a.expunge()
        typ, data = b.fetch("2", "(UID)")
        self.assertEqual(data, [b"2 (UID 3)"])
        self.assertNotIn("EXPUNGE", b.untagged_responses)
        b.noop()
        self.assertEqual(b.untagged_responses.pop("EXPUNGE", None), [b"1"])
        a.logout()
        b.logout()

    def test_sync_after_moves_expunges_and_appends(self):
        # the other session learns changes from the expunge log and the
        # changed messages only; its view must end up exactly like ours
        a = self.imaps()
        box = self.fresh_mailbox(a, "SyncLog")
        other = self.fresh_mailbox(a, "SyncLogDst")
        for i in range(1, 9):
            a.append(box, None, None, simple(i))
        a.select(box)
        b = self.imaps()
        b.select(box)
        b.untagged_responses.clear()
        a.uid("MOVE", "2", other)
        a.uid("STORE", "3", "+FLAGS", r"(\Flagged)")
        a.uid("STORE", "4,6", "+FLAGS", r"(\Deleted)")
        a.expunge()
        a.append(box, None, None, simple(9))
        a.append(box, None, None, simple(10))
        a.uid("STORE", "10", "+FLAGS", r"(\Deleted)")
        a.expunge()
        typ, _ = b.noop()
        self.assertEqual(b.untagged_responses.pop("EXPUNGE", None), [b"6", b"4", b"2"])
        self.assertEqual(b.untagged_responses.pop("FETCH", None), [b"3 (UID 3 FLAGS (\\Flagged))"])
        self.assertEqual(b.untagged_responses.pop("EXISTS", None), [b"6"])
        want = a.fetch("1:*", "(UID FLAGS)")[1]
        self.assertEqual(b.fetch("1:*", "(UID FLAGS)")[1],
                         [re.sub(rb" ?\\Recent", b"", w).replace(b"( ", b"(") for w in want])
        # RENAME INBOX-like removals are not in the log: a whole read
        b2 = self.imaps(BOB)
        b2.append("INBOX", None, None, simple(1))
        b2.select("INBOX")
        n = int(b2.untagged_responses["EXISTS"][-1])
        b3 = self.imaps(BOB)
        b3.delete("OldInbox")
        self.assertEqual(b3.rename("INBOX", "OldInbox")[0], "OK")
        typ, _ = b2.noop()
        self.assertEqual(len(b2.untagged_responses.pop("EXPUNGE", [])), n)
        with self.assertRaisesRegex(imaplib.IMAP4.error, "BAD"):
            b2.fetch("1:*", "UID")
        b3.delete("OldInbox")
        for m in (a, b, b2, b3):
            m.logout()

    def test_fetch_of_message_expunged_elsewhere(self):
        # RFC 2180 4.1.2 / RFC 9051 7.1: the data that still exists, then
        # NO [EXPUNGEISSUED]; the EXPUNGE itself waits for a later command
        a = self.imaps()
        box = self.fresh_mailbox(a, "Gone")
        for i in range(1, 4):
            a.append(box, None, None, simple(i))
        a.select(box)
        b = self.imaps()
        b.select(box)
        a.store("2", "+FLAGS.SILENT", r"(\Deleted)")
        a.expunge()
        b.noop()
        b.untagged_responses.clear()
        a.store("1", "+FLAGS.SILENT", r"(\Deleted)")
        a.expunge()
        typ, data = b.fetch("1:*", "(UID BODY.PEEK[HEADER.FIELDS (Subject)])")
        self.assertEqual(typ, "NO")
        self.assertEqual(data, [b"[EXPUNGEISSUED] Some of the requested messages no longer exist"])
        fetched = [f for f in b.untagged_responses.pop("FETCH") if isinstance(f, tuple)]
        self.assertEqual(len(fetched), 1)
        self.assertEqual(fetched[0][1], b"Subject: test 3\r\n\r\n")
        self.assertEqual(fetched[0][0], b"2 (UID 3 BODY[HEADER.FIELDS (SUBJECT)] {19}")
        self.assertNotIn("EXPUNGE", b.untagged_responses)
        typ, data = b.fetch("2", "(UID)")
        self.assertEqual((typ, data), ("OK", [b"2 (UID 3)"]))
        b.noop()
        self.assertEqual(b.untagged_responses.pop("EXPUNGE", None), [b"1"])
        a.logout()
        b.logout()

    def test_fetch_body_cache(self):
        # a body FETCH read once is answered from memory (imap-bodycache.c):
        # the same bytes, partial ranges cut from it, \Seen still set by a
        # non-PEEK FETCH; and a message expunged elsewhere is not served
        # from the cache (NO [EXPUNGEISSUED], no data)
        a = self.imaps()
        box = self.fresh_mailbox(a, "Cached")
        for i in range(1, 4):
            a.append(box, None, None, simple(i))
        a.select(box)
        b = self.imaps()
        b.select(box)
        want = simple(1)
        for _ in range(3):
            typ, data = b.fetch("1", "(BODY.PEEK[])")
            self.assertEqual(typ, "OK")
            self.assertEqual(data[0][1], want)
        typ, data = b.fetch("1", "(BODY.PEEK[]<5.10>)")
        self.assertEqual(data[0][1], want[5:15])
        typ, data = b.fetch("1", "(RFC822.HEADER)")
        self.assertEqual(data[0][1], want[:want.index(b"\r\n\r\n") + 4])
        typ, data = b.fetch("1", "(FLAGS)")
        self.assertNotIn(b"\\Seen", data[0])
        typ, data = b.fetch("1", "(BODY[])")
        self.assertEqual(data[0][1], want)
        self.assertIn(b"\\Seen", b"".join(x if isinstance(x, bytes) else x[0] for x in data))
        typ, data = b.fetch("2", "(BODY.PEEK[])")
        self.assertEqual(data[0][1], simple(2))
        a.store("2", "+FLAGS.SILENT", r"(\Deleted)")
        a.expunge()
        b.untagged_responses.clear()
        typ, data = b.fetch("2", "(BODY.PEEK[])")
        self.assertEqual((typ, data), ("NO", [b"[EXPUNGEISSUED] Some of the requested messages no longer exist"]))
        self.assertNotIn("FETCH", b.untagged_responses)
        b.noop()
        self.assertEqual(b.untagged_responses.pop("EXPUNGE", None), [b"2"])
        typ, data = b.fetch("2", "(BODY.PEEK[])")
        self.assertEqual(data[0][1], simple(3))
        a.logout()
        b.logout()

    def test_fetch_body_cache_while_changes_pending(self):
        # another session's flag changes leave this view with a change to
        # take, and the cached bodies are still served (imap_view_current):
        # each FETCH gives the body of the message asked for, before and
        # after the view takes the change; a message expunged elsewhere is
        # never served (NO [EXPUNGEISSUED], no data), its neighbours are,
        # and once the EXPUNGE is told the sequence numbers move with it
        a = self.imaps()
        box = self.fresh_mailbox(a, "CachedPending")
        for i in range(1, 6):
            a.append(box, None, None, simple(i))
        a.select(box)
        b = self.imaps()
        b.select(box)

        def body(seq, want):
            typ, data = b.fetch(str(seq), "(BODY.PEEK[])")
            self.assertEqual(typ, "OK")
            got = [x for x in data if isinstance(x, tuple)]
            self.assertEqual(len(got), 1)
            self.assertEqual(got[0][1], want)

        for i in range(1, 6):
            body(i, simple(i))
        for rnd in range(20):
            k = rnd % 5 + 1
            a.store(str(k), "+FLAGS.SILENT" if rnd % 2 else "-FLAGS.SILENT", r"(\Flagged)")
            for j in (k, k % 5 + 1):
                body(j, simple(j))
        b.noop()
        a.store("3", "+FLAGS.SILENT", r"(\Deleted \Flagged)")
        a.expunge()
        a.store("4", "+FLAGS.SILENT", r"(\Flagged)")
        b.untagged_responses.clear()
        for _ in range(3):
            typ, data = b.fetch("3", "(BODY.PEEK[])")
            self.assertEqual((typ, data),
                             ("NO", [b"[EXPUNGEISSUED] Some of the requested messages no longer exist"]))
            self.assertNotIn("FETCH", b.untagged_responses)
            body(2, simple(2))
            body(4, simple(4))
            b.untagged_responses.clear()
        b.noop()
        self.assertEqual(b.untagged_responses.pop("EXPUNGE", None), [b"3"])
        for seq, uid in ((1, 1), (2, 2), (3, 4), (4, 5)):
            body(seq, simple(uid))
        a.logout()
        b.logout()

    def test_idle_sees_append_within_a_second(self):
        a = self.imaps()
        box = self.fresh_mailbox(a, "IdleBox")
        r = self.raw_tls()
        r.cmd(b"l", b"LOGIN alice@example.org alice-secret")
        r.cmd(b"s", b"SELECT IdleBox")
        r.send(b"i IDLE\r\n")
        self.assertEqual(r.line(), b"+ idling")
        t0 = time.time()
        a.append(box, None, None, simple(1))
        lines = r.until(b"* 1 EXISTS", timeout=1.0)
        self.assertLess(time.time() - t0, 1.0)
        r.send(b"DONE\r\n")
        out = r.until(b"i ")
        self.assertEqual(out[-1], b"i OK Idle completed")
        out = r.cmd(b"n", b"NOOP")
        self.assertEqual(out[-1], b"n OK NOOP completed")
        r.close()
        a.logout()

    def test_idle_sees_smtp_delivery(self):
        r = self.raw_tls()
        r.cmd(b"l", b"LOGIN bob@example.org bob-secret")
        out = r.cmd(b"s", b"SELECT INBOX")
        n = int([ln for ln in out if ln.endswith(b" EXISTS")][0].split()[1])
        r.send(b"i IDLE\r\n")
        self.assertEqual(r.line(), b"+ idling")
        t0 = time.time()
        with smtplib.SMTP("127.0.0.1", self.srv.ports["smtp"], timeout=10) as s:
            s.sendmail("carol@example.net", ["bob@example.org"], simple(42))
        r.until(b"* %d EXISTS" % (n + 1), timeout=1.0)
        self.assertLess(time.time() - t0, 1.5)
        r.send(b"DONE\r\n")
        r.until(b"i OK")
        r.close()

    def test_search(self):
        m = self.imaps()
        box = self.fresh_mailbox(m, "Find")
        m.append(box, r"(\Seen)", '"01-Feb-2024 10:00:00 +0000"', MSG)
        m.append(box, r"(\Flagged $Work)", '"05-Mar-2024 10:00:00 +0000"', simple(2, "hello world"))
        big = simple(3, "large") + b"x" * 5000 + b"\r\n"
        m.append(box, None, '"10-Apr-2024 10:00:00 +0000"', big)
        m.select(box)
        cases = [
            ("ALL", b"1 2 3"),
            ("SEEN", b"1"),
            ("UNSEEN", b"2 3"),
            ("FLAGGED", b"2"),
            ("KEYWORD $Work", b"2"),
            ("UNKEYWORD $Work", b"1 3"),
            ("KEYWORD $Nope", b""),
            ("RECENT", b"1 2 3"),
            ("NEW", b"2 3"),
            ("LARGER 3000", b"3"),
            ("SMALLER 3000", b"1 2"),
            ("BEFORE 5-Mar-2024", b"1"),
            ("ON 5-Mar-2024", b"2"),
            ("SINCE 5-Mar-2024", b"2 3"),
            ("SENTON 1-Jul-2003", b"1"),
            ("SENTBEFORE 1-Jan-2010", b"1"),
            ("SUBJECT hello", b"2"),
            ("FROM Bob", b"1 2 3"),
            ('FROM "Bob <"', b"1"),
            ('TO "alice@example.org"', b"1 2 3"),
            ('HEADER Message-ID "<abc@"', b"1"),
            ("HEADER X-Missing \"\"", b""),
            ("BODY \"hello alice\"", b"1"),
            ("TEXT hello", b"1 2"),
            ("BODY hello", b"1"),
            ("NOT SEEN NOT FLAGGED", b"3"),
            ("OR SEEN FLAGGED", b"1 2"),
            ("(OR SEEN FLAGGED) SUBJECT world", b"2"),
            ("2:*", b"2 3"),
            ("UID 1,3", b"1 3"),
            ("1:2 UNSEEN", b"2"),
        ]
        for crit, want in cases:
            typ, data = m.search(None, crit)
            self.assertEqual((crit, typ, data), (crit, "OK", [want]))
        # a UTF-8 literal matches the RFC 2047 encoded Subject
        m.literal = "GRÜßE".encode("utf-8")
        typ, data = m.search("UTF-8", "SUBJECT")
        self.assertEqual(data, [b"1"])
        typ, data = m.uid("SEARCH", "UNSEEN")
        self.assertEqual(data, [b"2 3"])
        typ, data = m.search("UTF-8", "ALL")
        self.assertEqual(data, [b"1 2 3"])
        typ, data = m.search("KOI8-R", "ALL")
        self.assertEqual(typ, "NO")
        with self.assertRaisesRegex(imaplib.IMAP4.error, "BAD"):
            m.search(None, "BOGUSKEY")
        with self.assertRaisesRegex(imaplib.IMAP4.error, "BAD"):
            m.search(None, "OR SEEN")
        with self.assertRaisesRegex(imaplib.IMAP4.error, "BAD"):
            m.search(None, "SINCE 32-Foo-2020")
        m.logout()

    # ---- URLAUTH (RFC 4467) ----

    def test_urlauth(self):
        a = self.imaps()
        box = self.fresh_mailbox(a, "Urlauth")
        a.append(box, None, None, simple(1, "urlauth"))
        a.logout()
        ra, rb = self.login_raw(ALICE), self.login_raw(BOB)

        def gen(r, url, mech=b"INTERNAL"):
            out = r.cmd(b"g", b'GENURLAUTH "%s" %s' % (url, mech))
            if not out[-1].startswith(b"g OK"):
                return out[-1]
            self.assertEqual(len(out), 2, out)
            self.assertTrue(out[0].startswith(b"* GENURLAUTH "), out)
            return out[0][13:].strip(b'"')

        def fetch(r, url):
            out = b"\r\n".join(r.cmd(b"f", b'URLFETCH "%s"' % url))
            self.assertIn(b"\r\nf OK", out)
            if b"%s NIL\r\n" % url in out or b'"%s" NIL\r\n' % url in out:
                return None
            return out

        base = b"imap://alice@example.org/Urlauth/;uid=1;urlauth="
        u = gen(ra, base + b"user+bob@example.org")
        self.assertRegex(u, rb"^imap://alice@example.org/Urlauth/;uid=1;"
                         rb"urlauth=user\+bob@example.org:INTERNAL:[0-9a-f]{64}$")
        got = fetch(rb, u)
        self.assertIsNotNone(got)
        self.assertIn(simple(1, "urlauth"), got)
        # a token with hex digits in upper case is the same token
        self.assertIsNotNone(fetch(rb, u[:-64] + u[-64:].upper()))
        # user+bob: not alice; a changed token, URL or garbage: NIL
        self.assertIsNone(fetch(ra, u))
        flip = b"0" if u[-1:] != b"0" else b"1"
        self.assertIsNone(fetch(rb, u[:-1] + flip))
        self.assertIsNone(fetch(rb, u.replace(b";uid=1;", b";uid=2;")))
        self.assertIsNone(fetch(rb, u[:-64]))
        self.assertIsNone(fetch(rb, b"imap://nonsense"))
        self.assertIsNone(fetch(rb, u.replace(b"user+bob", b"authuser")))
        # only one's own mailboxes, one mechanism, the URL's syntax
        self.assertTrue(gen(ra, b"imap://bob@example.org/INBOX/;uid=1;urlauth=authuser")
                        .startswith(b"g NO"))
        self.assertTrue(gen(ra, base + b"authuser", b"XSHA").startswith(b"g NO"))
        self.assertTrue(gen(ra, b"imap://alice@example.org/Urlauth/;uid=1")
                        .startswith(b"g BAD"))
        self.assertTrue(gen(ra, b"imap://alice@example.org/Nope/;uid=1;urlauth=authuser")
                        .startswith(b"g NO"))
        self.assertTrue(gen(ra, base[:-9] + b";expire=2099-01-01T00:00:00Z;urlauth=authuser")
                        .startswith(b"g NO"))
        self.assertTrue(ra.cmd(b"g", b"GENURLAUTH x")[-1].startswith(b"g BAD"))
        self.assertTrue(rb.cmd(b"f", b"URLFETCH")[-1].startswith(b"f BAD"))
        self.assertTrue(rb.cmd(b"f", b"URLFETCH (a b)")[-1].startswith(b"f BAD"))
        # the same key signs every URL of the mailbox until RESETKEY
        v = gen(ra, base + b"authuser")
        self.assertIsNotNone(fetch(rb, v))
        self.assertTrue(ra.cmd(b"r", b"RESETKEY Urlauth")[-1].startswith(b"r OK"))
        self.assertIsNone(fetch(rb, u))
        self.assertIsNone(fetch(rb, v))
        w = gen(ra, base + b"authuser")
        self.assertNotEqual(w, v)
        self.assertIsNotNone(fetch(rb, w))
        self.assertTrue(ra.cmd(b"r", b"RESETKEY")[-1].startswith(b"r OK"))
        self.assertIsNone(fetch(rb, w))
        self.assertTrue(ra.cmd(b"r", b"RESETKEY Nope")[-1].startswith(b"r NO"))
        self.assertTrue(ra.cmd(b"r", b"RESETKEY Urlauth XSHA")[-1].startswith(b"r NO"))
        ra.close()
        rb.close()

    def test_urlauth_binary(self):
        # URLAUTH=BINARY (RFC 5524): URLFETCH (url BINARY / BODY /
        # BODYPARTSTRUCTURE) answers the decoded part and its structure
        a = self.imaps()
        box = self.fresh_mailbox(a, "UrlBin")
        msg = (b"From: bob@example.org\r\nSubject: bin\r\nMIME-Version: 1.0\r\n"
               b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
               b"--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n"
               b"\r\ncaf=C3=A9 =3D ok\r\n"
               b"--b\r\nContent-Type: application/octet-stream\r\n"
               b"Content-Transfer-Encoding: base64\r\n\r\nAAEC/w==\r\n--b--\r\n")
        a.append(box, None, None, msg)
        a.logout()
        ra, rb = self.login_raw(ALICE), self.login_raw(BOB)

        def gen(section):
            out = ra.cmd(b"g", b'GENURLAUTH "imap://alice@example.org/UrlBin/;uid=1%s;'
                         b'urlauth=user+bob@example.org" INTERNAL' % section)
            self.assertTrue(out[-1].startswith(b"g OK"), out)
            return out[0][13:].strip(b'"')

        def fetch(args):
            out = b"\r\n".join(rb.cmd(b"f", b"URLFETCH " + args))
            self.assertIn(b"\r\nf OK", out)
            return out

        u1, u2, uh = gen(b"/;section=1"), gen(b"/;section=2"), gen(b"/;section=HEADER")
        got = fetch(b"(%s BINARY)" % u1)
        self.assertIn(b"* URLFETCH %s (BINARY {10}\r\ncaf\xc3\xa9 = ok)" % u1, got)
        # NULs in the decoded data: a literal8
        got = fetch(b"(%s BINARY)" % u2)
        self.assertIn(b"* URLFETCH %s (BINARY ~{4}\r\n\x00\x01\x02\xff)" % u2, got)
        got = fetch(b"(%s BODY)" % u2)
        self.assertIn(b"(BODY {8}\r\nAAEC/w==)", got)
        # the structure of the part, of the decoded form with BINARY
        got = fetch(b"(%s BODYPARTSTRUCTURE)" % u2)
        self.assertIn(b'(BODYPARTSTRUCTURE ("APPLICATION" "OCTET-STREAM" NIL NIL NIL '
                      b'"BASE64" 8 NIL NIL NIL NIL))', got)
        got = fetch(b"(%s BINARY BODYPARTSTRUCTURE)" % u2)
        self.assertIn(b'(BODYPARTSTRUCTURE ("APPLICATION" "OCTET-STREAM" NIL NIL NIL '
                      b'"BASE64" 4 NIL NIL NIL NIL) BINARY ~{4}\r\n', got)
        # the whole message decoded: leaves say binary now
        whole = gen(b"")
        got = fetch(b"(%s BINARY)" % whole)
        # CTE "quoted-printable" is "binary" now (-10), decoded -6 and -4
        self.assertIn(b" (BINARY ~{%d}\r\nFrom: bob@example.org\r\nSubject: bin\r\n" % (len(msg) - 20), got)
        self.assertIn(b"Content-Transfer-Encoding: binary\r\n\r\ncaf\xc3\xa9 = ok\r\n--b", got)
        got = fetch(b"(%s BODYPARTSTRUCTURE BINARY)" % whole)
        self.assertIn(b'"QUOTED-PRINTABLE" 10 0 NIL NIL NIL NIL)("APPLICATION" "OCTET-STREAM" '
                      b'NIL NIL NIL "BASE64" 4 NIL NIL NIL NIL) "MIXED" ("BOUNDARY" "b")', got)
        # a header has no structure: NIL; a plain URL stays a plain string
        self.assertIn(b"* URLFETCH %s NIL" % uh, fetch(b"(%s BODYPARTSTRUCTURE)" % uh))
        self.assertIn(b"* URLFETCH %s {8}\r\nAAEC/w==\r\n" % u2, fetch(u2))
        self.assertIn(b"* URLFETCH %s {8}\r\n" % u2, fetch(b"(%s)" % u2))
        for bad in (b"(%s BODY BINARY)", b"(%s FOO)", b"()"):
            out = rb.cmd(b"f", b"URLFETCH " + (bad % u1 if b"%" in bad else bad))
            self.assertTrue(out[-1].startswith(b"f BAD"), out)
        ra.close()
        rb.close()

    # ---- CONDSTORE / QRESYNC (RFC 7162) ----

    def login_raw(self, who=ALICE):
        r = self.raw_tls()
        out = r.cmd(b"l", b"LOGIN %s %s" % (who[0].encode(), who[1].encode()))
        self.assertTrue(out[-1].startswith(b"l OK"), out)
        return r

    @staticmethod
    def modseqs(lines):
        return {int(m.group(1)): int(m.group(2)) for m in
                (re.search(rb"UID (\d+) .*MODSEQ \((\d+)\)", ln) for ln in lines) if m}

    def test_condstore(self):
        a = self.imaps()
        box = self.fresh_mailbox(a, "Cond")
        for i in range(1, 4):
            a.append(box, None, None, simple(i))
        r = self.login_raw()
        out = r.cmd(b"e", b"ENABLE CONDSTORE")
        self.assertEqual(out, [b"* ENABLED CONDSTORE", b"e OK Enabled"])
        out = r.cmd(b"e2", b"ENABLE CONDSTORE")
        self.assertEqual(out, [b"* ENABLED", b"e2 OK Enabled"])
        out = r.cmd(b"st", b"STATUS Cond (MESSAGES HIGHESTMODSEQ)")
        mo = re.match(rb"\* STATUS Cond \(MESSAGES 3 HIGHESTMODSEQ (\d+)\)", out[0])
        self.assertTrue(mo, out)
        out = r.cmd(b"s", b"SELECT Cond (CONDSTORE)")
        hms = [ln for ln in out if ln.startswith(b"* OK [HIGHESTMODSEQ ")]
        self.assertEqual(len(hms), 1, out)
        h0 = int(hms[0].split()[3].rstrip(b"]"))
        self.assertGreaterEqual(h0, int(mo.group(1)))
        out = r.cmd(b"f", b"FETCH 1:* (UID FLAGS MODSEQ)")
        ms = self.modseqs(out)
        self.assertEqual(sorted(ms), [1, 2, 3])
        self.assertTrue(all(0 < v <= h0 for v in ms.values()), (ms, h0))
        # a STORE answers with the new MODSEQ, above everything before
        out = r.cmd(b"s1", b"STORE 1 +FLAGS (\\Seen)")
        self.assertTrue(re.match(rb"\* 1 FETCH \(UID 1 FLAGS \(\\Seen \\Recent\) MODSEQ \((\d+)\)\)",
                                 out[0]), out)
        m1 = self.modseqs(out)[1]
        self.assertGreater(m1, h0)
        # UNCHANGEDSINCE: message 1 changed after h0, message 2 did not
        out = r.cmd(b"s2", b"UID STORE 1:2 (UNCHANGEDSINCE %d) +FLAGS (\\Flagged)" % h0)
        self.assertEqual(out[-1], b"s2 OK [MODIFIED 1] Conditional store failed")
        self.assertEqual(len(out), 2, out)
        self.assertTrue(out[0].startswith(b"* 2 FETCH (UID 2 FLAGS (\\Flagged \\Recent) MODSEQ ("), out)
        m2 = self.modseqs(out)[2]
        out = r.cmd(b"s3", b"STORE 3 (UNCHANGEDSINCE 0) +FLAGS (\\Flagged)")
        self.assertEqual(out, [b"s3 OK [MODIFIED 3] Conditional store failed"])
        out = r.cmd(b"s4", b"STORE 3 (UNCHANGEDSINCE %d) +FLAGS.SILENT (\\Answered)" % h0)
        self.assertEqual(len(out), 2, out)
        self.assertTrue(re.match(rb"\* 3 FETCH \(UID 3 MODSEQ \((\d+)\)\)$", out[0]), out)
        self.assertEqual(out[-1], b"s4 OK Store completed")
        m3 = self.modseqs(out)[3]
        # CHANGEDSINCE: only what changed after m1
        out = r.cmd(b"f2", b"FETCH 1:* (FLAGS) (CHANGEDSINCE %d)" % m1)
        self.assertEqual(sorted(int(x) for x in re.findall(rb"MODSEQ \((\d+)\)", b" ".join(out))),
                         [m2, m3])
        self.assertEqual(len(out), 3, out)
        out = r.cmd(b"f3", b"UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d)" % m3)
        self.assertEqual(out, [b"f3 OK Fetch completed"])
        # SEARCH MODSEQ
        out = r.cmd(b"se", b"SEARCH MODSEQ %d" % m1)
        self.assertEqual(out[0], b"* SEARCH 1 2 3 (MODSEQ %d)" % m3)
        out = r.cmd(b"se2", b'SEARCH MODSEQ "/flags/\\\\draft" all %d' % (m2 + 1))
        self.assertEqual(out[0], b"* SEARCH 3 (MODSEQ %d)" % m3)
        out = r.cmd(b"se3", b"SEARCH MODSEQ %d" % (m3 + 1))
        self.assertEqual(out[0], b"* SEARCH")
        out = r.cmd(b"bad", b"FETCH 1 (FLAGS) (CHANGEDSINCE 0)")
        self.assertTrue(out[-1].startswith(b"bad BAD"), out)
        # another session's change is told with its MODSEQ
        a.select(box)
        a.store("2", "-FLAGS", "(\\Flagged)")
        out = r.cmd(b"n", b"NOOP")
        self.assertTrue(re.match(rb"\* 2 FETCH \(UID 2 FLAGS \(\\Recent\) MODSEQ \(\d+\)\)", out[0]), out)
        r.close()
        a.logout()

    def test_commands_without_arguments(self):
        # the dispatcher answers for every command that takes none, after
        # the state check
        r = self.login_raw()
        for tag, name in ((b"c", b"CAPABILITY"), (b"n", b"NOOP"), (b"ns", b"NAMESPACE"),
                          (b"i", b"IDLE")):
            out = r.cmd(tag, name + b" x")
            self.assertEqual(out, [tag + b" BAD " + name + b" takes no arguments"])
        out = r.cmd(b"c0", b"CLOSE x")
        self.assertEqual(out, [b"c0 BAD No mailbox selected"])
        out = r.cmd(b"st", b"STARTTLS x")
        self.assertEqual(out, [b"st BAD Command not valid in this state"])
        out = r.cmd(b"s", b"SELECT INBOX")
        self.assertTrue(out[-1].startswith(b"s OK"), out)
        for tag, name in ((b"c1", b"CLOSE"), (b"u", b"UNSELECT"), (b"k", b"CHECK"),
                          (b"lo", b"LOGOUT")):
            out = r.cmd(tag, name + b" (x)")
            self.assertEqual(out, [tag + b" BAD " + name + b" takes no arguments"])
        out = r.cmd(b"e", b"EXPUNGE x")
        self.assertEqual(out, [b"e BAD EXPUNGE takes no arguments"])
        out = r.cmd(b"n2", b"NOOP")
        self.assertEqual(out[-1], b"n2 OK NOOP completed")
        r.close()

    def test_qresync(self):
        a = self.imaps()
        box = self.fresh_mailbox(a, "QR")
        for i in range(1, 6):
            a.append(box, None, None, simple(i))
        r = self.login_raw()
        out = r.cmd(b"s0", b"SELECT QR (QRESYNC (1 1))")
        self.assertEqual(out[-1], b"s0 BAD QRESYNC is not enabled")
        out = r.cmd(b"e", b"ENABLE QRESYNC")
        self.assertEqual(out, [b"* ENABLED QRESYNC", b"e OK Enabled"])
        out = r.cmd(b"s1", b"SELECT QR")
        uv = int([ln for ln in out if b"[UIDVALIDITY" in ln][0].split()[3].rstrip(b"]"))
        h0 = int([ln for ln in out if b"[HIGHESTMODSEQ" in ln][0].split()[3].rstrip(b"]"))
        # meanwhile elsewhere: 2 and 4 expunged, 3 flagged
        a.select(box)
        a.uid("STORE", "2,4", "+FLAGS.SILENT", "(\\Deleted)")
        a.expunge()
        a.uid("STORE", "3", "+FLAGS", "(\\Flagged)")
        out = r.cmd(b"s2", b"SELECT QR (QRESYNC (%d %d 1:5))" % (uv, h0))
        self.assertEqual(out[0], b"* OK [CLOSED] Previous mailbox closed")
        self.assertIn(b"* VANISHED (EARLIER) 2,4", out)
        fetches = [ln for ln in out if b" FETCH " in ln]
        self.assertEqual(len(fetches), 1, out)
        self.assertTrue(re.match(rb"\* 2 FETCH \(UID 3 FLAGS \(\\Flagged\) MODSEQ \(\d+\)\)$",
                                 fetches[0]), fetches)
        self.assertLess(out.index(b"* VANISHED (EARLIER) 2,4"), out.index(fetches[0]))
        self.assertTrue(out[-1].startswith(b"s2 OK [READ-WRITE]"), out)
        # known-uids limits what is reported; a wrong UIDVALIDITY reports nothing
        out = r.cmd(b"s3", b"EXAMINE QR (QRESYNC (%d %d 1:3 (1:3 1:3)))" % (uv, h0))
        self.assertIn(b"* VANISHED (EARLIER) 2", out)
        out = r.cmd(b"s4", b"EXAMINE QR (QRESYNC (%d %d))" % (uv + 1, h0))
        self.assertFalse([ln for ln in out if b"VANISHED" in ln or b" FETCH " in ln], out)
        out = r.cmd(b"s5", b"SELECT QR (QRESYNC (%d))" % uv)
        self.assertTrue(out[-1].startswith(b"s5 BAD"), out)
        out = r.cmd(b"s6", b"SELECT QR")
        # expunges in the selected mailbox come as VANISHED, FETCH carries UID
        a.uid("STORE", "5", "+FLAGS.SILENT", "(\\Deleted)")
        a.expunge()
        out = r.cmd(b"n", b"NOOP")
        self.assertEqual(out, [b"* VANISHED 5", b"n OK NOOP completed"])
        out = r.cmd(b"f", b"FETCH 1 (FLAGS)")
        self.assertEqual(out[0], b"* 1 FETCH (UID 1 FLAGS ())")
        out = r.cmd(b"f2", b"UID FETCH 1:10 (FLAGS) (CHANGEDSINCE %d VANISHED)" % h0)
        self.assertEqual(out[0], b"* VANISHED (EARLIER) 2,4:5")
        self.assertEqual(len(out), 3, out)
        out = r.cmd(b"f3", b"FETCH 1 (FLAGS) (CHANGEDSINCE 1 VANISHED)")
        self.assertTrue(out[-1].startswith(b"f3 BAD"), out)
        r.cmd(b"st", b"STORE 1 +FLAGS.SILENT (\\Deleted)")
        out = r.cmd(b"x", b"EXPUNGE")
        self.assertEqual(out, [b"* VANISHED 1", b"x OK Expunge completed"])
        r.close()
        a.logout()

    # ---- COMPRESS=DEFLATE (RFC 4978) ----

    class Deflated(Raw):
        """Raw, but raw deflate both ways after COMPRESS (each send flushed)."""

        def __init__(self, raw):
            Raw.__init__(self, raw.s)
            self.plain = raw.buf
            self.z_out = zlib.compressobj(6, zlib.DEFLATED, -15)
            self.z_in = zlib.decompressobj(-15)
            self.buf = self.z_in.decompress(self.plain)

        def send(self, data):
            self.s.sendall(self.z_out.compress(data) + self.z_out.flush(zlib.Z_SYNC_FLUSH))

        def line(self, timeout=5):
            self.s.settimeout(timeout)
            while b"\r\n" not in self.buf:
                d = self.s.recv(65536)
                if not d:
                    raise EOFError(self.buf)
                self.buf += self.z_in.decompress(d)
            ln, self.buf = self.buf.split(b"\r\n", 1)
            return ln

        def read_exact(self, n, timeout=10):
            self.s.settimeout(timeout)
            while len(self.buf) < n:
                d = self.s.recv(65536)
                if not d:
                    raise EOFError(self.buf)
                self.buf += self.z_in.decompress(d)
            out, self.buf = self.buf[:n], self.buf[n:]
            return out

    def compressed(self, r, tag=b"z"):
        out = r.cmd(tag, b"COMPRESS DEFLATE")
        self.assertEqual(out, [tag + b" OK DEFLATE active"])
        return self.Deflated(r)

    def test_compress_deflate(self):
        a = self.imaps()
        box = self.fresh_mailbox(a, "Zip")
        big = simple(1) + b"".join(b"line %06d of a long message\r\n" % i for i in range(20000))
        a.append(box, None, None, big)
        for i in range(2, 40):
            a.append(box, None, None, simple(i))
        a.logout()
        # before login: not offered, not accepted
        r = self.raw_tls()
        out = r.cmd(b"c", b"CAPABILITY")
        self.assertNotIn(b"COMPRESS=DEFLATE", out[0])
        out = r.cmd(b"z0", b"COMPRESS DEFLATE")
        self.assertTrue(out[-1].startswith(b"z0 BAD"), out)
        out = r.cmd(b"l", b"LOGIN alice@example.org alice-secret")
        self.assertIn(b" COMPRESS=DEFLATE", out[-1])
        out = r.cmd(b"z1", b"COMPRESS FOO")
        self.assertTrue(out[-1].startswith(b"z1 BAD"), out)
        z = self.compressed(r)
        # every reply arrives whole, at once: nothing sits in the compressor
        out = z.cmd(b"n", b"NOOP", timeout=2)
        self.assertEqual(out, [b"n OK NOOP completed"])
        out = z.cmd(b"z2", b"COMPRESS DEFLATE")
        self.assertEqual(out, [b"z2 NO [COMPRESSIONACTIVE] DEFLATE active already"])
        out = z.cmd(b"s", b"SELECT Zip", timeout=2)
        self.assertIn(b"* 39 EXISTS", out)
        z.send(b"f FETCH 1 BODY.PEEK[]\r\n")
        head = z.line()
        self.assertEqual(head, b"* 1 FETCH (BODY[] {%d}" % len(big))
        self.assertEqual(z.read_exact(len(big)), big)
        self.assertEqual(z.line(), b")")
        self.assertEqual(z.line(), b"f OK Fetch completed")
        out = z.cmd(b"f2", b"FETCH 1:* (UID RFC822.SIZE)", timeout=2)
        self.assertEqual(len(out), 40)
        # pipelined commands in one compressed chunk, literals included
        msg = simple(99)
        z.send(b"p1 NOOP\r\np2 APPEND Zip {%d+}\r\n%s\r\np3 STATUS Zip (MESSAGES)\r\n" % (len(msg), msg))
        out = z.until(b"p3 ", timeout=2)
        self.assertIn(b"* STATUS Zip (MESSAGES 40)", out)
        self.assertEqual(out[-1], b"p3 OK Status completed")
        z.send(b"x LOGOUT\r\n")
        self.assertEqual(z.line(), b"* BYE Logging out")
        self.assertEqual(z.line(), b"x OK Logout completed")
        z.close()

    def test_compress_with_command_in_same_packet_and_starttls(self):
        m = imaplib.IMAP4("127.0.0.1", self.srv.ports["imap"])
        m.starttls(ssl_context=self.srv.ssl_context())
        m.login(*ALICE)
        r = Raw(m.sock)
        # the first compressed command rides in the same write as COMPRESS
        zo = zlib.compressobj(6, zlib.DEFLATED, -15)
        r.send(b"z COMPRESS DEFLATE\r\n" + zo.compress(b"n NOOP\r\n") + zo.flush(zlib.Z_SYNC_FLUSH))
        self.assertEqual(r.line(), b"z OK DEFLATE active")
        z = self.Deflated(r)
        z.z_out = zo
        self.assertEqual(z.line(timeout=2), b"n OK NOOP completed")
        out = z.cmd(b"l", b"LIST \"\" INBOX", timeout=2)
        self.assertEqual(out[-1], b"l OK List completed")
        z.close()

    # ---- QUOTA (RFC 9208 / 2087) ----

    def test_quota(self):
        with mmtest.Server(users={"q@example.org": "q-secret", "free@example.org": "f"}) as srv:
            def login(who):
                m = imaplib.IMAP4_SSL("127.0.0.1", srv.ports["imaps"],
                                      ssl_context=srv.ssl_context())
                typ, data = m.login(*who)
                return m, data[0]
            m, caps = login(("free@example.org", "f"))
            for c in (b"QUOTA", b"QUOTA=RES-STORAGE", b"QUOTA=RES-MESSAGE"):
                self.assertIn(c, caps.replace(b"]", b" ").split(b" "))
            # no limits: no quota root
            typ, data = m.getquotaroot("INBOX")
            self.assertEqual((typ, data), ("OK", [[b"INBOX"], [None]]))
            typ, data = m.getquota('""')
            self.assertEqual((typ, data), ("NO", [b"[NONEXISTENT] No such quota root"]))
            m.logout()
            srv.ctl("user", "quota", "q@example.org", "3K", "2", check=True)
            m, _ = login(("q@example.org", "q-secret"))
            msg = simple(1) + b"x" * 1000 + b"\r\n"
            self.assertEqual(m.append("INBOX", None, None, msg)[0], "OK")
            typ, data = m.getquotaroot("INBOX")
            self.assertEqual(typ, "OK")
            self.assertEqual(data, [[b'INBOX ""'], [b'"" (STORAGE 2 3 MESSAGE 1 2)']])
            typ, data = m.getquota('""')
            self.assertEqual((typ, data), ("OK", [b'"" (STORAGE 2 3 MESSAGE 1 2)']))
            typ, data = m.getquotaroot("Sent")
            self.assertEqual(data[0], [b'Sent ""'])
            typ, data = m.getquotaroot("Nope")
            self.assertEqual(typ, "NO")
            self.assertEqual(data[0], [b"[NONEXISTENT] Mailbox doesn't exist"])
            typ, data = m.getquota('"other"')
            self.assertEqual(typ, "NO")
            typ, data = m.setquota('""', "(STORAGE 100)")
            self.assertEqual((typ, data), ("NO", [b"[NOPERM] Quotas are set by the administrator"]))
            # over the byte limit, then over the message limit
            typ, data = m.append("INBOX", None, None, msg + b"y" * 2000 + b"\r\n")
            self.assertEqual((typ, data), ("NO", [b"[OVERQUOTA] Quota exceeded"]))
            self.assertEqual(m.append("INBOX", None, None, simple(2))[0], "OK")
            typ, data = m.append("INBOX", None, None, simple(3))
            self.assertEqual((typ, data), ("NO", [b"[OVERQUOTA] Quota exceeded"]))
            m.select("INBOX")
            typ, data = m.copy("1", "Archive")
            self.assertEqual((typ, data), ("NO", [b"[OVERQUOTA] Quota exceeded"]))
            typ, data = m.getquota('""')
            self.assertEqual(data, [b'"" (STORAGE 2 3 MESSAGE 2 2)'])
            m.logout()

    # ---- malformed input ----

    def test_malformed_input_gets_bad_and_session_survives(self):
        r = self.raw_tls()
        cases = [
            (b"a1 FETCH (((", b"a1 BAD"),
            (b"a2 NOSUCHCMD", b"a2 BAD"),
            (b"a3 LOGIN \"unterminated", b"a3 BAD"),
            (b"a4 LOGIN a)", b"a4 BAD"),
            (b"a5 LOGIN {5}x", b"a5 BAD"),
            (b"a6", b"a6 BAD"),
        ]
        for cmd, want in cases:
            out = r.cmd(cmd.split(b" ")[0], b" ".join(cmd.split(b" ")[1:]) if b" " in cmd else b"")
            self.assertTrue(out[-1].startswith(want), (cmd, out))
        r.send(b"* NOOP\r\n")
        self.assertTrue(r.line().startswith(b"* BAD"))
        # an oversized literal before login is refused without waiting for it
        r.send(b"b1 LOGIN {5000}\r\n")
        self.assertTrue(r.line().startswith(b"b1 NO [TOOBIG]"))
        out = r.cmd(b"b2", b"NOOP")
        self.assertEqual(out[-1], b"b2 OK NOOP completed")
        out = r.cmd(b"b3", b"LOGIN alice@example.org alice-secret")
        self.assertTrue(out[-1].startswith(b"b3 OK"), out)
        out = r.cmd(b"b4", b"SELECT INBOX")
        out = r.cmd(b"b5", b"FETCH 1:* (FLAGS BOGUS)")
        self.assertTrue(out[-1].startswith(b"b5 BAD"), out)
        out = r.cmd(b"b6", b"FETCH 0 FLAGS")
        self.assertTrue(out[-1].startswith(b"b6 BAD"), out)
        out = r.cmd(b"b7", b"NOOP")
        self.assertEqual(out[-1], b"b7 OK NOOP completed")
        r.close()

    def test_too_many_bad_commands_bye(self):
        r = self.raw_tls()
        for i in range(19):
            out = r.cmd(b"x%d" % i, b"BOGUS")
            self.assertTrue(out[-1].startswith(b"x%d BAD" % i))
        r.send(b"y BOGUS\r\n")
        self.assertTrue(r.line().startswith(b"y BAD"))
        self.assertEqual(r.line(), b"* BYE Too many invalid commands")
        with self.assertRaises(EOFError):
            r.line()
        r.close()

    def test_oversized_line_and_literal_plus(self):
        r = self.raw_tls()
        r.send(b"big " + b"X" * (70 * 1024) + b"\r\n")
        ln = r.line(10)
        self.assertEqual(ln, b"big BAD Error in IMAP command: Line too long")
        out = r.cmd(b"ok1", b"NOOP")
        self.assertEqual(out[-1], b"ok1 OK NOOP completed")
        # a LITERAL+ literal over the pre-auth limit cannot be skipped: BYE
        r.send(b"z LOGIN {999999+}\r\n")
        self.assertEqual(r.line(), b"* BYE Literal too big")
        r.close()


if __name__ == "__main__":
    mmtest.main()
