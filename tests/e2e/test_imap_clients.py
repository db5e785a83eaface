#!/usr/bin/env python3
"""Real IMAP clients against the real minimaild: mbsync (Debian isync) syncs
an account both ways, curl fetches and searches over imaps:// and imap://
with STARTTLS, and imaplib covers the IMAP4rev1 corners test_imap.py leaves
out (CHECK, RENAME INBOX, RFC822.HEADER/TEXT, HEADER.FIELDS.NOT, nested
message/rfc822 part numbers, UID FETCH/SEARCH/COPY, the same commands over
143+STARTTLS). IDLE-after-SMTP and two sessions seeing each other's STORE
and EXPUNGE are in test_imap.py already.

mbsync writes Maildir files with LF line ends and adds one header line,
"X-TUID: <12 chars>", to every message it copies (its own recovery marker
for interrupted runs), so "byte-exact" here means: equal after turning
CRLF into LF and taking out exactly that one line."""
import imaplib
import os
import re
import shutil
import smtplib
import subprocess
import time
import unittest

import mmtest

ALICE = ("alice@example.org", "alice-secret")

MULTIPART = (b"From: Bob <bob@example.org>\r\n"
             b"To: Alice <alice@example.org>\r\n"
             b"Subject: multipart with an attachment\r\n"
             b"Date: Mon, 3 Jun 2024 09:00:00 +0000\r\n"
             b"Message-ID: <mp1@example.org>\r\n"
             b"MIME-Version: 1.0\r\n"
             b"Content-Type: multipart/mixed; boundary=\"=-b1\"\r\n"
             b"\r\n"
             b"This is a multi-part message in MIME format.\r\n"
             b"--=-b1\r\n"
             b"Content-Type: multipart/alternative; boundary=\"=-b2\"\r\n"
             b"\r\n"
             b"--=-b2\r\n"
             b"Content-Type: text/plain; charset=utf-8\r\n"
             b"Content-Transfer-Encoding: quoted-printable\r\n"
             b"\r\n"
             b"Gr=C3=BC=C3=9Fe aus M=C3=BCnchen\r\n"
             b"--=-b2\r\n"
             b"Content-Type: text/html; charset=utf-8\r\n"
             b"\r\n"
             b"<p>Hello</p>\r\n"
             b"--=-b2--\r\n"
             b"--=-b1\r\n"
             b"Content-Type: application/pdf; name=\"r.pdf\"\r\n"
             b"Content-Disposition: attachment; filename=\"r.pdf\"\r\n"
             b"Content-Transfer-Encoding: base64\r\n"
             b"\r\n"
             b"JVBERi0xLjQKJcfsj6IKNSAwIG9iago8PC9MZW5ndGggNiAwIFI+PgpzdHJlYW0K\r\n"
             b"--=-b1--\r\n")

EIGHTBIT = (b"From: =?ISO-8859-1?Q?J=F6rg?= <joerg@example.net>\r\n"
            b"To: alice@example.org\r\n"
            b"Subject: 8-bit body\r\n"
            b"MIME-Version: 1.0\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\n"
            b"Content-Transfer-Encoding: 8bit\r\n"
            b"\r\n"
            b"Stra\xc3\x9fe, K\xc3\xa4se, \xe2\x82\xac 10\r\n"
            b".a line that starts with a dot\r\n")


def simple(n, subject="test"):
    return (b"From: bob@example.org\r\nTo: alice@example.org\r\nSubject: %s %d\r\n\r\nbody %d\r\n"
            % (subject.encode(), n, n))


def mbsync_version():
    try:
        out = subprocess.run(["mbsync", "--version"], capture_output=True, text=True).stdout
    except OSError:
        return None
    m = re.search(r"(\d+)\.(\d+)", out)
    return (int(m.group(1)), int(m.group(2))) if m else None


MAILDIR_FLAGS = {"D": "\\Draft", "F": "\\Flagged", "R": "\\Answered", "S": "\\Seen", "T": "\\Deleted"}


def strip_tuid(data):
    """mbsync's copy with its one X-TUID header line taken out (it must be
    there, once, in the header); returns (data, the line)."""
    lines = re.findall(rb"^X-TUID: [A-Za-z0-9+/]{12}\r?\n", data, re.M)
    m = re.search(rb"^X-TUID: [A-Za-z0-9+/]{12}\r?\n", data, re.M)
    end = re.search(rb"\r?\n\r?\n", data)
    if len(lines) != 1 or (end and m.start() > end.start() + 2):
        raise AssertionError("not one X-TUID line in the header of %r" % data[:300])
    return data[:m.start()] + data[m.end():], m.group(0)


class MbsyncTest(unittest.TestCase):
    """mbsync: server -> Maildir byte-exact, then local changes back."""

    @classmethod
    def setUpClass(cls):
        cls.version = mbsync_version()
        if cls.version is None:
            raise unittest.SkipTest("mbsync (Debian isync) is not installed")
        cls.srv = mmtest.Server()
        cls.home = os.path.join(cls.srv.tmp, "mbsync-home")
        cls.maildir = os.path.join(cls.home, "Mail")
        os.makedirs(cls.maildir)
        # isync 1.5 renamed SSLType to TLSType; 1.4 (Debian 12) knows only SSLType
        tlskw = "TLSType" if cls.version >= (1, 5) else "SSLType"
        cls.rc = os.path.join(cls.home, "mbsyncrc")
        with open(cls.rc, "w") as f:
            # Host localhost: isync 1.4 matches the certificate by DNS name
            # only (the test certificate names localhost and IP:127.0.0.1)
            f.write("IMAPAccount mm\n"
                    "Host localhost\n"
                    "Port %d\n"
                    "User %s\n"
                    "Pass %s\n"
                    "%s IMAPS\n"
                    "CertificateFile %s\n"
                    "SystemCertificates no\n"
                    "\n"
                    "IMAPStore far\nAccount mm\n\n"
                    "MaildirStore near\nPath %s/\nInbox %s/INBOX\nSubFolders Verbatim\n\n"
                    "Channel mm\nFar :far:\nNear :near:\nPatterns *\n"
                    "Create Both\nExpunge Both\nSync All\nSyncState *\n"
                    % (cls.srv.ports["imaps"], ALICE[0], ALICE[1], tlskw,
                       cls.srv.cert, cls.maildir, cls.maildir))

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def imap(self):
        m = imaplib.IMAP4_SSL("127.0.0.1", self.srv.ports["imaps"],
                              ssl_context=self.srv.ssl_context())
        m.login(*ALICE)
        return m

    def mbsync(self):
        r = subprocess.run(["mbsync", "-c", self.rc, "-a"], capture_output=True, text=True,
                           env=dict(os.environ, HOME=self.home), timeout=60)
        self.assertEqual(r.returncode, 0, "mbsync failed:\n%s%s" % (r.stdout, r.stderr))
        return r

    def server_box(self, m, box):
        """{uid: (flags set, bytes)} of a mailbox, read over IMAP."""
        typ, _ = m.select(box, readonly=True)
        self.assertEqual(typ, "OK")
        typ, data = m.uid("FETCH", "1:*", "(UID FLAGS BODY.PEEK[])")
        self.assertEqual(typ, "OK")
        out = {}
        for item in data:
            if not isinstance(item, tuple):
                continue
            uid = int(re.search(rb"UID (\d+)", item[0]).group(1))
            flags = set(re.search(rb"FLAGS \(([^)]*)\)", item[0]).group(1).decode().split())
            flags.discard("\\Recent")
            out[uid] = (flags, item[1])
        m.close()
        return out

    def local_box(self, box):
        """{uid or file name: (flags set, path)} of the Maildir mailbox."""
        out = {}
        d = os.path.join(self.maildir, box)
        for sub in ("new", "cur"):
            for name in os.listdir(os.path.join(d, sub)):
                m = re.search(r",U=(\d+)", name)
                info = name.split(":2,", 1)[1] if ":2," in name else ""
                flags = {MAILDIR_FLAGS[c] for c in info if c in MAILDIR_FLAGS}
                out[int(m.group(1)) if m else name] = (flags, os.path.join(d, sub, name))
        return out

    def assert_same(self, server, local, written_here=()):
        """Server and near side hold the same messages and flags; the
        near-side copies of server messages are mbsync's (X-TUID), those in
        written_here are the files the test wrote itself."""
        self.assertEqual(sorted(server), sorted(k for k in local if isinstance(k, int)))
        self.assertEqual([k for k in local if not isinstance(k, int)], [])
        for uid, (flags, data) in server.items():
            lflags, path = local[uid]
            self.assertEqual(lflags, flags & set(MAILDIR_FLAGS.values()), "UID %d" % uid)
            with open(path, "rb") as f:
                got = f.read()
            if uid not in written_here:
                got, _ = strip_tuid(got)
            self.assertEqual(got, data.replace(b"\r\n", b"\n"), "UID %d" % uid)

    def test_sync_both_ways(self):
        with smtplib.SMTP("127.0.0.1", self.srv.ports["smtp"], timeout=10) as s:
            s.ehlo("client.example.net")
            s.sendmail("bob@example.org", [ALICE[0]], MULTIPART)
            s.sendmail("joerg@example.net", [ALICE[0]], EIGHTBIT, mail_options=["BODY=8BITMIME"])
        m = self.imap()
        m.append("INBOX", r"(\Seen)", None, simple(3))
        m.append("INBOX", r"(\Flagged \Answered \Seen)", None, simple(4))
        m.append("INBOX", r"(\Draft)", None, simple(5, "draft"))
        m.append("INBOX", None, None, simple(6, "to be deleted"))
        m.create("Work/Projects")
        m.append("Work/Projects", r"(\Seen)", None, MULTIPART)

        # 1. server -> near side
        self.mbsync()
        inbox = self.server_box(m, "INBOX")
        self.assertEqual(len(inbox), 6)
        # what SMTP delivered is in there unchanged below the trace header
        bodies = [d for _, d in inbox.values()]
        self.assertTrue(any(d.endswith(MULTIPART) for d in bodies))
        self.assertTrue(any(d.endswith(EIGHTBIT) for d in bodies))
        self.assert_same(inbox, self.local_box("INBOX"))
        self.assert_same(self.server_box(m, "Work/Projects"), self.local_box("Work/Projects"))
        for box in ("Sent", "Drafts", "Trash", "Junk", "Archive"):
            self.assertTrue(os.path.isdir(os.path.join(self.maildir, box, "cur")), box)

        # 2. near side changes: flags, a new message, a deletion
        local = self.local_box("INBOX")
        uids = sorted(inbox)

        def set_flags(uid, letters):
            path = local[uid][1]
            base = os.path.basename(path).split(":2,")[0]
            os.rename(path, os.path.join(self.maildir, "INBOX", "cur", base + ":2," + letters))

        set_flags(uids[0], "FS")        # the multipart: read and flagged
        set_flags(uids[3], "S")         # lose \Flagged and \Answered
        set_flags(uids[4], "DR")        # draft, answered, no longer \Seen? (it was not)
        os.unlink(local[uids[5]][1])    # "to be deleted"
        new = (b"From: alice@example.org\nTo: bob@example.org\nSubject: written offline\n"
               b"Message-ID: <offline-1@example.org>\n\nK\xc3\xa4se\n.\n..\nend\n")
        newpath = os.path.join(self.maildir, "INBOX", "cur", "1700000000.M1P1.near:2,S")
        with open(newpath, "wb") as f:
            f.write(new)
        self.mbsync()

        after = self.server_box(m, "INBOX")
        self.assertNotIn(uids[5], after, "the deleted message is expunged on the server")
        self.assertEqual(after[uids[0]][0], {"\\Flagged", "\\Seen"})
        self.assertEqual(after[uids[3]][0], {"\\Seen"})
        self.assertEqual(after[uids[4]][0], {"\\Draft", "\\Answered"})
        self.assertEqual(after[uids[1]], inbox[uids[1]])
        self.assertEqual(after[uids[2]], inbox[uids[2]])
        added = [u for u in after if u not in inbox]
        self.assertEqual(len(added), 1)
        self.assertGreater(added[0], max(uids))
        flags, data = after[added[0]]
        self.assertEqual(flags, {"\\Seen"})
        got, tuid = strip_tuid(data)
        self.assertEqual(tuid.endswith(b"\r\n"), True)
        self.assertEqual(got, new.replace(b"\n", b"\r\n"))
        # the near side got the UID of the uploaded message (APPENDUID)
        local = self.local_box("INBOX")
        with open(local[added[0]][1], "rb") as f:
            self.assertEqual(f.read(), new)
        self.assertEqual(os.path.basename(local[added[0]][1]).split(",U=")[0], "1700000000.M1P1.near")
        after_cmp = dict(after)
        after_cmp[added[0]] = (flags, got)
        self.assert_same(after_cmp, local, written_here=added)

        # 3. a server-side change comes back down; a further run is a no-op
        m.select("INBOX")
        m.uid("STORE", str(uids[1]), "+FLAGS", r"(\Flagged)")
        m.close()
        self.mbsync()
        after2 = self.server_box(m, "INBOX")
        self.assertEqual(after2[uids[1]][0], inbox[uids[1]][0] | {"\\Flagged"})
        after2_cmp = dict(after2)
        after2_cmp[added[0]] = (after2[added[0]][0], got)
        self.assert_same(after2_cmp, self.local_box("INBOX"), written_here=added)
        before = sorted(os.listdir(os.path.join(self.maildir, "INBOX", "cur")))
        self.mbsync()
        self.assertEqual(sorted(os.listdir(os.path.join(self.maildir, "INBOX", "cur"))), before)
        self.assertEqual(self.server_box(m, "INBOX"), after2)
        m.logout()


class CurlTest(unittest.TestCase):
    """curl's IMAP client (imaps:// and imap:// with --ssl-reqd)."""

    @classmethod
    def setUpClass(cls):
        if shutil.which("curl") is None:
            raise unittest.SkipTest("curl is not installed")
        cls.srv = mmtest.Server()
        m = imaplib.IMAP4_SSL("127.0.0.1", cls.srv.ports["imaps"],
                              ssl_context=cls.srv.ssl_context())
        m.login(*ALICE)
        m.append("INBOX", None, None, MULTIPART)
        m.append("INBOX", r"(\Flagged)", None, EIGHTBIT)
        m.append("INBOX", None, None, simple(3, "hello world"))
        m.logout()

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def curl(self, url, *args, who=ALICE):
        r = subprocess.run(["curl", "-sS", "--max-time", "20", "--cacert", self.srv.cert,
                            "-u", "%s:%s" % who, url] + list(args),
                           capture_output=True, timeout=30)
        return r

    def url(self, path, scheme="imaps"):
        port = self.srv.ports["imaps" if scheme == "imaps" else "imap"]
        return "%s://localhost:%d/%s" % (scheme, port, path)

    def test_fetch_by_uid(self):
        r = self.curl(self.url("INBOX;UID=1"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, MULTIPART)
        r = self.curl(self.url("INBOX;UID=2"))
        self.assertEqual(r.stdout, EIGHTBIT)

    def test_fetch_section(self):
        r = self.curl(self.url("INBOX;UID=1;SECTION=1.1"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, b"Gr=C3=BC=C3=9Fe aus M=C3=BCnchen")
        r = self.curl(self.url("INBOX;UID=2;SECTION=TEXT"))
        self.assertEqual(r.stdout, EIGHTBIT[EIGHTBIT.index(b"\r\n\r\n") + 4:])

    def test_fetch_over_starttls(self):
        r = self.curl(self.url("INBOX;UID=3", "imap"), "--ssl-reqd")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, simple(3, "hello world"))

    def test_search(self):
        r = self.curl(self.url("INBOX"), "-X", "SEARCH SUBJECT world")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, b"* SEARCH 3\r\n")
        r = self.curl(self.url("INBOX"), "-X", "UID SEARCH FLAGGED")
        self.assertEqual(r.stdout, b"* SEARCH 2\r\n")
        # the URL form (RFC 5092 ?search) does the same
        r = self.curl(self.url("INBOX?BODY%20M%C3%BCnchen"))
        self.assertEqual(r.stdout, b"* SEARCH 1\r\n")
        r = self.curl(self.url("INBOX"), "-X", "SEARCH SUBJECT nothing-like-this")
        self.assertEqual(r.stdout, b"* SEARCH\r\n")

    def test_list_and_wrong_password(self):
        r = self.curl(self.url(""))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b'* LIST (\\HasNoChildren) "/" INBOX\r\n', r.stdout)
        self.assertIn(b'* LIST (\\HasNoChildren \\Sent) "/" Sent\r\n', r.stdout)
        r = self.curl(self.url("INBOX;UID=1"), who=("alice@example.org", "wrong"))
        self.assertEqual(r.returncode, 67, r.stderr)    # CURLE_LOGIN_DENIED
        self.assertEqual(r.stdout, b"")

    def test_missing_uid_and_mailbox(self):
        r = self.curl(self.url("INBOX;UID=99"))
        self.assertNotEqual(r.returncode, 0)
        self.assertEqual(r.stdout, b"")
        r = self.curl(self.url("NoSuchBox;UID=1"))
        self.assertNotEqual(r.returncode, 0)
        self.assertEqual(r.stdout, b"")


NESTED = (b"From: a@example.org\r\n"
          b"To: alice@example.org\r\n"
          b"Subject: forward\r\n"
          b"X-Extra: one\r\n"
          b"MIME-Version: 1.0\r\n"
          b"Content-Type: multipart/mixed; boundary=outer\r\n"
          b"\r\n"
          b"--outer\r\n"
          b"Content-Type: text/plain\r\n"
          b"\r\n"
          b"see below\r\n"
          b"--outer\r\n"
          b"Content-Type: message/rfc822\r\n"
          b"\r\n"
          b"From: c@example.org\r\n"
          b"Subject: inner\r\n"
          b"Content-Type: multipart/alternative; boundary=inner\r\n"
          b"\r\n"
          b"--inner\r\n"
          b"Content-Type: text/plain\r\n"
          b"\r\n"
          b"inner plain\r\n"
          b"--inner\r\n"
          b"Content-Type: text/html\r\n"
          b"\r\n"
          b"<b>inner html</b>\r\n"
          b"--inner--\r\n"
          b"\r\n"
          b"--outer--\r\n")


def uid_set(text):
    """An explicit uid-set (no *) as an ordered list of numbers."""
    out = []
    for part in text.decode().split(","):
        lo, _, hi = part.partition(":")
        lo, hi = int(lo), int(hi or lo)
        out += list(range(min(lo, hi), max(lo, hi) + 1))
    return out


class ImaplibGapsTest(unittest.TestCase):
    """IMAP4rev1 commands and FETCH items test_imap.py does not exercise,
    each over both 993 and 143+STARTTLS."""

    @classmethod
    def setUpClass(cls):
        cls.srv = mmtest.Server()

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def sessions(self):
        a = imaplib.IMAP4_SSL("127.0.0.1", self.srv.ports["imaps"],
                              ssl_context=self.srv.ssl_context())
        a.login(*ALICE)
        b = imaplib.IMAP4("127.0.0.1", self.srv.ports["imap"])
        b.starttls(ssl_context=self.srv.ssl_context())
        b.login(*ALICE)
        return [("imaps", a), ("starttls", b)]

    def box(self, m, name, *msgs):
        m.delete(name)
        self.assertEqual(m.create(name)[0], "OK")
        for msg in msgs:
            self.assertEqual(m.append(name, None, None, msg)[0], "OK")
        return name

    def test_check_and_rfc822_items(self):
        for how, m in self.sessions():
            with self.subTest(how):
                box = self.box(m, "Items-" + how, NESTED)
                m.select(box)
                self.assertEqual(m.check(), ("OK", [b"Check completed"]))
                hdr_end = NESTED.index(b"\r\n\r\n") + 4
                typ, data = m.fetch("1", "(RFC822.HEADER)")
                self.assertEqual(data[0][1], NESTED[:hdr_end])
                # RFC822.HEADER is like BODY.PEEK[HEADER]: no \Seen
                typ, data = m.fetch("1", "(FLAGS)")
                self.assertEqual(data, [b"1 (FLAGS (\\Recent))"])
                typ, data = m.fetch("1", "(RFC822.TEXT)")
                self.assertEqual(data[0][1], NESTED[hdr_end:])
                self.assertIn(b"\\Seen", b"".join(p if isinstance(p, bytes) else p[0] for p in data))
                typ, data = m.fetch("1", "(BODY.PEEK[HEADER.FIELDS.NOT (Subject X-Extra MIME-Version)])")
                self.assertEqual(data[0][1], b"From: a@example.org\r\nTo: alice@example.org\r\n"
                                             b"Content-Type: multipart/mixed; boundary=outer\r\n\r\n")
                m.logout()

    def test_nested_part_numbers(self):
        for how, m in self.sessions():
            with self.subTest(how):
                box = self.box(m, "Nested-" + how, NESTED)
                m.select(box, readonly=True)
                typ, data = m.fetch("1", "(BODY.PEEK[2.HEADER] BODY.PEEK[2.1] BODY.PEEK[2.2.MIME] "
                                         "BODY.PEEK[2.TEXT]<0.7> BODY.PEEK[2.1.HEADER.FIELDS (Subject)])")
                self.assertEqual(typ, "OK")
                parts = [p[1] for p in data if isinstance(p, tuple)]
                self.assertEqual(parts[0], b"From: c@example.org\r\nSubject: inner\r\n"
                                           b"Content-Type: multipart/alternative; boundary=inner\r\n\r\n")
                self.assertEqual(parts[1], b"inner plain")
                self.assertEqual(parts[2], b"Content-Type: text/html\r\n\r\n")
                self.assertEqual(parts[3], b"--inner")
                # 2.1 is text/plain, not a message: its HEADER.FIELDS is empty
                self.assertEqual(parts[4], b"")
                typ, data = m.fetch("1", "(BODYSTRUCTURE)")
                flat = data[0] if isinstance(data[0], bytes) else data[0][0]
                self.assertIn(b'"MESSAGE" "RFC822"', flat.upper())
                m.logout()

    def test_uid_fetch_search_copy(self):
        for how, m in self.sessions():
            with self.subTest(how):
                box = self.box(m, "Uids-" + how, *[simple(i) for i in range(1, 6)])
                dst = self.box(m, "UidsDst-" + how)
                m.select(box)
                m.store("1:2", "+FLAGS.SILENT", r"(\Deleted)")
                m.expunge()
                typ, data = m.uid("SEARCH", "ALL")
                self.assertEqual(data, [b"3 4 5"])
                typ, data = m.uid("SEARCH", "UID 4:*")
                self.assertEqual(data, [b"4 5"])
                typ, data = m.search(None, "UID 4:*")
                self.assertEqual(data, [b"2 3"])
                typ, data = m.uid("FETCH", "4:5", "(RFC822.SIZE)")
                self.assertEqual(data, [b"2 (UID 4 RFC822.SIZE %d)" % len(simple(4)),
                                        b"3 (UID 5 RFC822.SIZE %d)" % len(simple(5))])
                # a UID range naming no message is no error (RFC 3501 6.4.8)
                typ, data = m.uid("FETCH", "100:200", "(FLAGS)")
                self.assertEqual((typ, data), ("OK", [None]))
                # imaplib's uid() drops the tagged reply's text: ask directly
                typ, data = m._simple_command("UID", "COPY", "3,5", dst)
                self.assertEqual(typ, "OK")
                mo = re.match(rb"\[COPYUID \d+ (\S+) (\S+)\] Copy completed$", data[0])
                self.assertTrue(mo, data)
                # RFC 4315: either uid-set form ("1,2" or "1:2") is fine
                self.assertEqual((uid_set(mo.group(1)), uid_set(mo.group(2))), ([3, 5], [1, 2]))
                typ, data = m.status(dst, "(MESSAGES UIDNEXT)")
                self.assertEqual(data, [dst.encode() + b" (MESSAGES 2 UIDNEXT 3)"])
                m.logout()

    def test_rename_inbox(self):
        with mmtest.Server() as srv:
            m = imaplib.IMAP4_SSL("127.0.0.1", srv.ports["imaps"], ssl_context=srv.ssl_context())
            m.login(*ALICE)
            for i in range(1, 4):
                m.append("INBOX", None, None, simple(i))
            # RFC 3501 6.3.5: renaming INBOX moves all its messages to the new
            # name and leaves INBOX empty; its inferiors are not renamed
            m.create("INBOX/Sub")
            typ, data = m.rename("INBOX", "Old")
            self.assertEqual(typ, "OK", data)
            typ, data = m.status("Old", "(MESSAGES)")
            self.assertEqual(data, [b"Old (MESSAGES 3)"])
            typ, data = m.status("INBOX", "(MESSAGES)")
            self.assertEqual(data, [b"INBOX (MESSAGES 0)"])
            typ, data = m.list('""', "INBOX*")
            self.assertIn(b'"/" INBOX/Sub', b" ".join(data))
            m.select("Old")
            typ, data = m.fetch("1:*", "(BODY.PEEK[])")
            self.assertEqual([p[1] for p in data if isinstance(p, tuple)],
                             [simple(i) for i in range(1, 4)])
            m.logout()

    def test_permanentflags_and_recent(self):
        for how, m in self.sessions():
            with self.subTest(how):
                box = self.box(m, "Perm-" + how, simple(1))
                m.select(box)
                perm = m.untagged_responses.get("OK", [])
                self.assertTrue(any(b"PERMANENTFLAGS (" in p and b"\\*" in p and b"\\Deleted" in p
                                    for p in perm), perm)
                m.close()
                m.logout()
        # \Recent: only the first session to select after the arrival sees it
        a, b = [s for _, s in self.sessions()]
        box = self.box(a, "RecentBox")
        a.append(box, None, None, simple(1))
        typ, _ = a.select(box)
        self.assertEqual(a.untagged_responses.get("RECENT"), [b"1"])
        typ, _ = b.select(box)
        self.assertEqual(b.untagged_responses.get("RECENT"), [b"0"])
        typ, data = b.fetch("1", "(FLAGS)")
        self.assertEqual(data, [b"1 (FLAGS ())"])
        a.logout()
        b.logout()


if __name__ == "__main__":
    mmtest.main()
