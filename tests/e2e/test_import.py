#!/usr/bin/env python3
"""minimailctl import (issue 16): an mbox file and a real Dovecot's Maildir.

mbox: mboxrd quoting, Status/X-Status/X-Keywords flags, From_ dates and a
last message without a final newline; each message comes out over IMAP
byte for byte as it was before it went into the mbox. Maildir: a private
Dovecot (dovecot-imapd run as a PREAUTH imap process on a pipe, as in
test_imap_dovecot.py) gets a corpus APPENDed into INBOX, a nested folder, a
non-ASCII one and Sent, with flags, keywords and internal dates; its
Maildir is imported and every folder compared message by message (bytes,
flags, keywords, internal date, UID order), subscriptions included. A
second run imports nothing. import-imap pulls the same corpus from that
Dovecot over TLS (a TLS front on loopback runs it per connection), a
connection dropped mid-way fails with one line and the rerun completes,
a third run imports nothing, an unknown CA is refused. Bad input: a path that does not exist, a file
that is not an mbox, a Maildir holding a file that is not a message, an
unknown user: one line, exit 1, nothing imported.
Environment: MINIMAILD, MINIMAILCTL (tests/local.am)."""
import base64
import imaplib
import os
import pwd
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import unittest
from datetime import datetime

import mmtest
from test_imap_dovecot import DOVECOT_IMAP, Session

ALICE = ("alice@example.org", "alice-secret")
BOB = ("bob@example.org", "bob-secret")


def mutf7(s):
    """RFC 3501 5.1.3 modified UTF-7."""
    out, buf = [], ""

    def flush():
        if buf:
            b = base64.b64encode(buf.encode("utf-16-be")).decode().rstrip("=")
            out.append("&" + b.replace("/", ",") + "-")
    for ch in s:
        if 0x20 <= ord(ch) <= 0x7e:
            flush()
            buf = ""
            out.append("&-" if ch == "&" else ch)
        else:
            buf += ch
    flush()
    return "".join(out)


def ours_fetch(srv, mailbox, who=ALICE):
    """[(uid, flags set, internaldate epoch, bytes)] of a mailbox over IMAP."""
    m = imaplib.IMAP4_SSL("127.0.0.1", srv.ports["imaps"], ssl_context=srv.ssl_context())
    try:
        m.login(*who)
        typ, _ = m.select('"%s"' % mutf7(mailbox), readonly=True)
        assert typ == "OK", mailbox
        typ, data = m.uid("FETCH", "1:*", "(UID FLAGS INTERNALDATE BODY.PEEK[])")
        out = []
        for d in data:
            if not isinstance(d, tuple):
                continue
            meta = d[0].decode()
            uid = int(re.search(r"UID (\d+)", meta).group(1))
            flags = set(re.search(r"FLAGS \(([^)]*)\)", meta).group(1).split())
            flags.discard("\\Recent")
            date = re.search(r'INTERNALDATE "([^"]+)"', meta).group(1)
            t = datetime.strptime(date.strip(), "%d-%b-%Y %H:%M:%S %z").timestamp()
            out.append((uid, flags, int(t), d[1]))
        return out
    finally:
        m.logout()


def mailbox_status(srv, mailbox, who=ALICE):
    m = imaplib.IMAP4_SSL("127.0.0.1", srv.ports["imaps"], ssl_context=srv.ssl_context())
    try:
        m.login(*who)
        typ, data = m.status('"%s"' % mutf7(mailbox), "(UIDVALIDITY UIDNEXT)")
        s = data[0].decode()
        return (int(re.search(r"UIDVALIDITY (\d+)", s).group(1)),
                int(re.search(r"UIDNEXT (\d+)", s).group(1)))
    finally:
        m.logout()


MBOX_MSGS = [
    # (text before quoting, flags, From_ date)
    (b"From: a@example.net\r\nSubject: one\r\nMessage-ID: <m1@example.net>\r\n\r\n"
     b"From the start of a line\r\n>From quoted already\r\nend\r\n",
     {"\\Seen", "\\Answered"}, "Mon Jan  1 10:00:00 2024"),
    (b"From: b@example.net\r\nSubject: two\r\nMessage-ID: <m2@example.net>\r\n\r\n"
     b"ends with an empty line\r\n\r\n",
     {"\\Flagged", "work"}, "Tue Feb 13 01:02:03 2024"),
    (b"From: c@example.net\r\nSubject: three\r\nMessage-ID: <m3@example.net>\r\n\r\n"
     b"no newline at the end",
     set(), "Wed Mar  6 23:59:59 2024"),
]
MBOX_HDRS = [b"Status: RO\nX-Status: A\n", b"Status: O\nX-Status: F\nX-Keywords: work\n", b""]


def make_mbox():
    out = b""
    for (msg, _, date), hdrs in zip(MBOX_MSGS, MBOX_HDRS):
        lf = msg.replace(b"\r\n", b"\n")
        head, body = lf.split(b"\n\n", 1)
        body = re.sub(rb"(?m)^(>*From )", rb">\1", body)
        out += b"From sender@example.net " + date.encode() + b"\n" + head + b"\n" + hdrs + \
            b"\n" + body + (b"\n" if body.endswith(b"\n") else b"")
    return out


def epoch(asctime):
    return int(datetime.strptime(asctime + " +0000", "%a %b %d %H:%M:%S %Y %z").timestamp())


class ImportMboxTest(unittest.TestCase):
    def test_mbox_byte_exact_and_idempotent(self):
        with mmtest.Server() as srv:
            path = os.path.join(srv.tmp, "old.mbox")
            with open(path, "wb") as f:
                f.write(make_mbox())
            r = srv.ctl("import", ALICE[0], path, "--mailbox", "Old mail")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("import: 3 messages imported", r.stdout)
            got = ours_fetch(srv, "Old mail")
            self.assertEqual(len(got), 3)
            for (uid, flags, t, data), (msg, want_flags, date) in zip(got, MBOX_MSGS):
                self.assertEqual(data, msg)
                self.assertEqual(flags, want_flags)
                self.assertEqual(t, epoch(date))
            r = srv.ctl("import", ALICE[0], path, "--mailbox", "Old mail")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("import: 0 messages imported (0 B), 3 already there", r.stdout)
            self.assertEqual(len(ours_fetch(srv, "Old mail")), 3)
            r = srv.ctl("verify")
            self.assertEqual(r.returncode, 0, r.stdout)

    def test_bad_input(self):
        with mmtest.Server() as srv:
            def refused(args, text):
                r = srv.ctl("import", *args)
                self.assertEqual(r.returncode, 1, r.stdout)
                self.assertEqual(r.stderr.count("\n"), 1, r.stderr)
                self.assertIn(text, r.stderr)
            refused([ALICE[0], os.path.join(srv.tmp, "nope")], "No such file or directory")
            notmbox = os.path.join(srv.tmp, "notes.txt")
            with open(notmbox, "wb") as f:
                f.write(b"Dear diary,\n\nFrom today on...\n")
            refused([ALICE[0], notmbox], "not an mbox file")
            empty = os.path.join(srv.tmp, "empty")
            open(empty, "wb").close()
            refused([ALICE[0], empty], "empty, no message")
            md = os.path.join(srv.tmp, "Maildir")
            for d in ("cur", "new", "tmp"):
                os.makedirs(os.path.join(md, d))
            with open(os.path.join(md, "cur", "1.a:2,S"), "wb") as f:
                f.write(b"Subject: fine\n\nok\n")
            with open(os.path.join(md, "cur", "2.b:2,"), "wb") as f:
                f.write(b"\x89PNG\r\n\x1a\n not a message")
            refused([ALICE[0], md], "not a message")
            os.unlink(os.path.join(md, "cur", "2.b:2,"))
            refused(["nobody@example.org", md], "no such user")
            refused([ALICE[0], srv.tmp], "not a Maildir")
            big = os.path.join(srv.tmp, "big.mbox")
            with open(big, "wb") as f:
                f.write(b"From x Mon Jan  1 10:00:00 2024\nSubject: big\n\n" +
                        (b"x" * 999 + b"\n") * 1100)
            srv.limits = "max_message_size = 1M"
            srv.write_conf()
            refused([ALICE[0], big], "larger than max_message_size")
            # nothing of it all went in
            out = srv.ctl("mailbox", "list", ALICE[0], check=True).stdout
            self.assertRegex(out, r"INBOX\s+0\s+0\s+0")
            r = srv.ctl("import", ALICE[0], md)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("1 messages imported", r.stdout)


class ImportLayoutFsTest(unittest.TestCase):
    def test_layout_fs_and_special_names(self):
        """Dovecot's LAYOUT=fs (Folder/Sub directories, each a maildir) and
        another server's special-use names ("Sent Items") mapped to ours."""
        with mmtest.Server() as srv:
            md = os.path.join(srv.tmp, "mail")
            msgs = {"": b"Subject: inbox\r\n\r\n1\r\n",
                    "Work": b"Subject: work\r\n\r\n2\r\n",
                    "Work/Projects": b"Subject: nested\r\n\r\n3\r\n",
                    "Sent Items": b"Subject: sent\r\n\r\n4\r\n"}
            for rel, msg in msgs.items():
                d = os.path.join(md, rel) if rel else md
                for sub in ("cur", "new", "tmp"):
                    os.makedirs(os.path.join(d, sub), exist_ok=True)
                with open(os.path.join(d, "new", "17.x.host"), "wb") as f:
                    f.write(msg)
            r = srv.ctl("import", ALICE[0], md)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("import: 4 messages imported", r.stdout)
            for box, rel in (("INBOX", ""), ("Work", "Work"),
                             ("Work/Projects", "Work/Projects"), ("Sent", "Sent Items")):
                got = ours_fetch(srv, box)
                self.assertEqual([g[3] for g in got], [msgs[rel]], box)
                self.assertEqual(got[0][1], set(), box)    # new/: unseen


CORPUS = [
    ("INBOX", b"From: a@example.org\r\nSubject: hello\r\nMessage-ID: <d1@x>\r\n\r\nhi\r\n",
     "(\\Seen)", '"01-Jan-2024 10:00:00 +0000"'),
    ("INBOX", b"From: b@example.org\r\nSubject: flagged\r\nMessage-ID: <d2@x>\r\n\r\nhi 2\r\n",
     "(\\Flagged \\Answered $Work)", '"02-Jan-2024 11:30:00 +0100"'),
    ("INBOX", b"From: c@example.org\r\nSubject: unseen\r\nMessage-ID: <d3@x>\r\n\r\nhi 3\r\n",
     "()", '"03-Jan-2024 12:00:00 +0000"'),
    ("Work/Projects", b"From: d@example.org\r\nSubject: nested\r\n\r\nnested body\r\n",
     "(\\Seen $Work Later)", '"04-Jan-2024 08:00:00 +0000"'),
    ("Work/Projects", b"From: e@example.org\r\nSubject: draft\r\n\r\ndraft body\r\n",
     "(\\Draft)", '"05-Jan-2024 08:00:00 +0000"'),
    ("Ünïcode ☃", b"From: f@example.org\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\n\r\ncaf\xc3\xa9\r\n",
     "(\\Seen \\Deleted)", '"06-Jan-2024 08:00:00 +0000"'),
    ("Sent", b"From: alice@example.org\r\nTo: z@example.net\r\nSubject: sent\r\n\r\nsent\r\n",
     "(\\Seen)", '"07-Jan-2024 08:00:00 +0000"'),
]


def start_dovecot(w):
    """A PREAUTH Dovecot imap process on a pipe, mail in w/Maildir."""
    os.chmod(w, 0o755)
    for d in ("Maildir", "run", "state"):
        os.makedirs(os.path.join(w, d), exist_ok=True)
    if os.getuid() == 0:
        user, group = "nobody", "nogroup"
    else:
        pw = pwd.getpwuid(os.getuid())
        user, group = pw.pw_name, str(os.getgid())
    conf = os.path.join(w, "dovecot.conf")
    with open(conf, "w") as f:
        f.write("protocols = imap\nssl = no\n"
                "mail_location = maildir:%(w)s/Maildir\n"
                "log_path = %(w)s/dovecot.log\nbase_dir = %(w)s/run\nstate_dir = %(w)s/state\n"
                "first_valid_uid = 1\nfirst_valid_gid = 1\n"
                "mail_uid = %(u)s\nmail_gid = %(g)s\n"
                "passdb {\n driver = static\n args = password=unused\n}\n"
                "userdb {\n driver = static\n args = uid=%(u)s gid=%(g)s home=%(w)s\n}\n"
                % {"w": w, "u": user, "g": group})
    if os.getuid() == 0:
        subprocess.run(["chown", "-R", "%s:%s" % (user, group), w], check=True)
    env = {"PATH": "/usr/bin:/bin", "USER": user, "HOME": w}
    proc = subprocess.Popen([DOVECOT_IMAP, "-c", conf], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)

    def send(b):
        proc.stdin.write(b)
        proc.stdin.flush()
    sess = Session(send, lambda: proc.stdout.read1(65536))
    g = sess.greeting()
    if not g.startswith(b"* PREAUTH"):
        raise RuntimeError("dovecot: %r" % g)
    return proc, sess


class ImportDovecotTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.access(DOVECOT_IMAP, os.X_OK):
            raise unittest.SkipTest("dovecot-imapd is not installed (%s)" % DOVECOT_IMAP)
        cls.work = tempfile.mkdtemp(prefix="mmdovecot-import-")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.work, ignore_errors=True)

    def dovecot(self):
        proc, sess = start_dovecot(self.work)
        return proc, sess

    def test_dovecot_maildir(self):
        proc, d = self.dovecot()
        try:
            for box in ("Work", "Work/Projects", "Ünïcode ☃", "Sent"):
                _, t = d.cmd(b'CREATE "%s"' % mutf7(box.replace("/", ".")).encode())
                self.assertTrue(t.startswith(b"OK"), t)
            _, t = d.cmd(b'SUBSCRIBE "Work.Projects"')
            # a gap in INBOX's UIDs: UID 1 appended and expunged
            d.cmd(b"APPEND INBOX {5+}\r\nX: y\r\n")
            d.cmd(b"SELECT INBOX")
            d.cmd(b"STORE 1 +FLAGS (\\Deleted)")
            _, t = d.cmd(b"EXPUNGE")
            self.assertTrue(t.startswith(b"OK"), t)
            d.cmd(b"UNSELECT")
            for box, msg, flags, date in CORPUS:
                cmd = b'APPEND "%s" %s %s {%d+}\r\n%s' % (
                    mutf7(box.replace("/", ".")).encode(), flags.encode(), date.encode(),
                    len(msg), msg)
                _, t = d.cmd(cmd)
                self.assertTrue(t.startswith(b"OK"), t)
            # what Dovecot says: UIDVALIDITY, UIDNEXT and UIDs per folder
            theirs = {}
            for box in ("INBOX", "Work/Projects", "Ünïcode ☃", "Sent"):
                name = mutf7(box.replace("/", ".")).encode()
                u, _ = d.cmd(b'STATUS "%s" (UIDVALIDITY UIDNEXT)' % name)
                st = b"".join(u).decode()
                d.cmd(b'EXAMINE "%s"' % name)
                u, _ = d.cmd(b"UID SEARCH ALL")
                uids = sorted(int(x) for x in b"".join(u).decode().split()[2:])
                theirs[box] = (int(re.search(r"UIDVALIDITY (\d+)", st).group(1)),
                               int(re.search(r"UIDNEXT (\d+)", st).group(1)), uids)
            d.cmd(b"LOGOUT")
        finally:
            proc.stdin.close()
            proc.wait(10)
            proc.stdout.close()
            proc.stderr.close()
        maildir = os.path.join(self.work, "Maildir")
        with mmtest.Server() as srv:
            r = srv.ctl("import", ALICE[0], maildir)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("import: %d messages imported" % len(CORPUS), r.stdout)
            for box in ("INBOX", "Work/Projects", "Ünïcode ☃", "Sent"):
                uidvalidity, uidnext, duids = theirs[box]
                self.assertEqual(mailbox_status(srv, box), (uidvalidity, uidnext), box)
                want = [c for c in CORPUS if c[0] == box]
                got = ours_fetch(srv, box)
                self.assertEqual(len(got), len(want), box)
                for n, ((uid, flags, t, data), (_, msg, wflags, wdate)) in enumerate(zip(got, want)):
                    self.assertEqual(uid, duids[n])
                    self.assertEqual(data, msg, box)
                    self.assertEqual(flags, set(wflags.strip("()").split()), box)
                    wt = datetime.strptime(wdate.strip('"'), "%d-%b-%Y %H:%M:%S %z").timestamp()
                    self.assertEqual(t, int(wt), box)
            m = imaplib.IMAP4_SSL("127.0.0.1", srv.ports["imaps"], ssl_context=srv.ssl_context())
            m.login(*ALICE)
            typ, lsub = m.lsub()
            m.logout()
            lsub = b"\n".join(lsub)
            self.assertIn(b'"/" Work/Projects', lsub)
            self.assertIn(b'() "/" Work\n', lsub)     # a real mailbox, not \Noselect
            r = srv.ctl("import", ALICE[0], maildir)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("import: 0 messages imported (0 B), %d already there, 5 mailboxes (" % len(CORPUS),
                          r.stdout)
            r = srv.ctl("verify")
            self.assertEqual(r.returncode, 0, r.stdout)


def dovecot_fetch(sess, mailbox):
    """Like ours_fetch, from the Dovecot session."""
    _, t = sess.cmd(b'EXAMINE "%s"' % mutf7(mailbox.replace("/", ".")).encode())
    assert t.startswith(b"OK"), (mailbox, t)
    untagged, t = sess.cmd(b"UID FETCH 1:* (UID FLAGS INTERNALDATE BODY.PEEK[])")
    out = []
    for u in untagged:
        m = re.search(rb"BODY\[\] \{(\d+)\}\r\n", u)
        if not m:
            continue
        head = u[:m.start()].decode()
        data = u[m.end():m.end() + int(m.group(1))]
        uid = int(re.search(r"UID (\d+)", head).group(1))
        flags = set(re.search(r"FLAGS \(([^)]*)\)", head).group(1).split())
        flags.discard("\\Recent")
        date = re.search(r'INTERNALDATE "([^"]+)"', head).group(1)
        t = datetime.strptime(date.strip(), "%d-%b-%Y %H:%M:%S %z").timestamp()
        out.append((uid, flags, int(t), data))
    return sorted(out)


class ExportTest(unittest.TestCase):
    BOXES = ["INBOX", "Work", "Work/Projects", "Ünïcode ☃", "Sent"]

    def fill(self, srv):
        m = imaplib.IMAP4_SSL("127.0.0.1", srv.ports["imaps"], ssl_context=srv.ssl_context())
        m.login(*ALICE)
        for box in ("Work", "Work/Projects", "Ünïcode ☃"):
            m.create('"%s"' % mutf7(box))
        for i, (box, msg, flags, date) in enumerate(CORPUS):
            typ, _ = m.append('"%s"' % mutf7(box), flags, date, msg)
            self.assertEqual(typ, "OK")
        # a gap in INBOX's UIDs
        m.select("INBOX")
        m.uid("STORE", "2", "+FLAGS", "(\\Deleted)")
        m.expunge()
        m.logout()

    def test_round_trip_and_dovecot_reads_it(self):
        work = tempfile.mkdtemp(prefix="mmexport-")
        try:
            with mmtest.Server() as srv:
                self.fill(srv)
                export = os.path.join(work, "Maildir")
                r = srv.ctl("export", ALICE[0], export)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn("export: %d messages" % (len(CORPUS) - 1), r.stdout)
                r = srv.ctl("export", ALICE[0], export)
                self.assertEqual(r.returncode, 1)
                self.assertIn("already exists", r.stderr)
                # re-imported as bob: identical, UIDs and UIDVALIDITY too
                r = srv.ctl("import", BOB[0], export)
                self.assertEqual(r.returncode, 0, r.stderr)
                alice = {b: ours_fetch(srv, b) for b in self.BOXES}
                for box in self.BOXES:
                    self.assertEqual(ours_fetch(srv, box, BOB), alice[box], box)
                    self.assertEqual(mailbox_status(srv, box, BOB),
                                     mailbox_status(srv, box), box)
                # the mbox way: INBOX out and back in
                mbox = os.path.join(work, "inbox.mbox")
                r = srv.ctl("export", ALICE[0], "--mbox", mbox)
                self.assertEqual(r.returncode, 0, r.stderr)
                r = srv.ctl("import", BOB[0], mbox, "--mailbox", "From mbox")
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual([g[1:] for g in ours_fetch(srv, "From mbox", BOB)],
                                 [a[1:] for a in alice["INBOX"]])
            # Dovecot opens the export and shows the same
            proc, d = start_dovecot(work)
            try:
                for box in self.BOXES:
                    self.assertEqual(dovecot_fetch(d, box), alice[box], box)
                d.cmd(b"LOGOUT")
            finally:
                proc.stdin.close()
                proc.wait(10)
                proc.stdout.close()
                proc.stderr.close()
        finally:
            shutil.rmtree(work, ignore_errors=True)


class TLSFront(threading.Thread):
    """A TLS listener on 127.0.0.1 that runs a fresh PREAUTH Dovecot imap
    process for each connection and relays bytes both ways; with
    drop_after, the first connection is cut after that many bytes from the
    server (a provider dropping the line mid-way)."""

    def __init__(self, work, cert, key, drop_after=None):
        super().__init__(daemon=True)
        self.work, self.drop_after = work, drop_after
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.procs = []

    def run(self):
        while True:
            try:
                raw, _ = self.sock.accept()
            except OSError:
                return
            try:
                conn = self.ctx.wrap_socket(raw, server_side=True)
            except (ssl.SSLError, OSError):
                raw.close()
                continue
            proc, sess = start_dovecot(self.work)
            self.procs.append(proc)
            conn.sendall(b"* PREAUTH ready\r\n" + sess.buf)
            drop, self.drop_after = self.drop_after, None
            threading.Thread(target=self.relay, args=(conn, proc, drop), daemon=True).start()

    def relay(self, conn, proc, drop):
        """One thread per connection: an SSL socket is not safe to read
        and write from two threads."""
        import select
        out = proc.stdout.fileno()
        sent = 0
        try:
            while True:
                ready = [conn] if conn.pending() else \
                    select.select([conn, out], [], [], 30)[0]
                if not ready:
                    break
                if conn in ready:
                    d = conn.recv(65536)
                    if not d:
                        break
                    proc.stdin.write(d)
                    proc.stdin.flush()
                if out in ready:
                    d = os.read(out, 65536)
                    if not d:
                        break
                    if drop is not None and sent + len(d) >= drop:
                        conn.sendall(d[:max(0, drop - sent)])
                        break
                    conn.sendall(d)
                    sent += len(d)
        except (OSError, ValueError):
            pass
        try:
            conn.close()
        except OSError:
            pass
        try:
            proc.stdin.close()
        except OSError:
            pass

    def close(self):
        self.sock.close()
        for p in self.procs:
            try:
                p.stdin.close()
            except OSError:
                pass
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            p.stdout.close()
            p.stderr.close()


class ImportImapTest(unittest.TestCase):
    def test_pull_from_dovecot_resumable(self):
        if not os.access(DOVECOT_IMAP, os.X_OK):
            self.skipTest("dovecot-imapd is not installed (%s)" % DOVECOT_IMAP)
        work = tempfile.mkdtemp(prefix="mmimapc-")
        try:
            proc, d = start_dovecot(work)
            try:
                for box in ("Work", "Work/Projects", "Ünïcode ☃", "Sent"):
                    d.cmd(b'CREATE "%s"' % mutf7(box.replace("/", ".")).encode())
                for box, msg, flags, date in CORPUS:
                    _, t = d.cmd(b'APPEND "%s" %s %s {%d+}\r\n%s' % (
                        mutf7(box.replace("/", ".")).encode(), flags.encode(),
                        date.encode(), len(msg), msg))
                    self.assertTrue(t.startswith(b"OK"), t)
                d.cmd(b"LOGOUT")
            finally:
                proc.stdin.close()
                proc.wait(10)
                proc.stdout.close()
                proc.stderr.close()
            with mmtest.Server() as srv:
                pwf = os.path.join(srv.tmp, "pw")
                with open(pwf, "w") as f:
                    f.write("unused\n")
                front = TLSFront(work, srv.cert, srv.key, drop_after=1500)
                front.start()
                try:
                    args = ["import-imap", ALICE[0], "--host", "localhost:%d" % front.port,
                            "--user", "someone", "--password-file", pwf, "--tls",
                            "--cafile", srv.cert]
                    r = srv.ctl(*args)
                    self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
                    self.assertIn("connection lost", r.stderr)
                    self.assertEqual(r.stderr.count("\n"), 1)
                    r = srv.ctl(*args)
                    self.assertEqual(r.returncode, 0, r.stderr)
                    self.assertIn("import-imap: ", r.stdout)
                    for box in ("INBOX", "Work/Projects", "Ünïcode ☃", "Sent"):
                        want = [c for c in CORPUS if c[0] == box]
                        got = ours_fetch(srv, box)
                        self.assertEqual(len(got), len(want), box)
                        for (uid, flags, t, data), (_, msg, wflags, wdate) in zip(got, want):
                            self.assertEqual(data, msg, box)
                            self.assertEqual(flags, set(wflags.strip("()").split()), box)
                            wt = datetime.strptime(wdate.strip('"'),
                                                   "%d-%b-%Y %H:%M:%S %z").timestamp()
                            self.assertEqual(t, int(wt), box)
                    r = srv.ctl(*args)
                    self.assertEqual(r.returncode, 0, r.stderr)
                    self.assertIn("import-imap: 0 messages imported (0 B), %d already there"
                                  % len(CORPUS), r.stdout)
                    r = srv.ctl(*(args[:-2]))     # the system CAs do not know this one
                    self.assertEqual(r.returncode, 1)
                    self.assertIn("TLS failed", r.stderr)
                finally:
                    front.close()
        finally:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    mmtest.main()
