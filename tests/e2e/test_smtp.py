"""SMTP end to end: the real minimaild on loopback ports, driven by Python
smtplib (25 plain and STARTTLS, 587 STARTTLS + AUTH LOGIN / PLAIN, 465
implicit TLS), curl, swaks, and a raw socket client for exact bytes,
pipelining, BDAT and every refusal. Stored messages are read back over
POP3 (995) and compared byte for byte: our Return-Path: and Received:
followed by exactly what the client sent.

Each refusal asserts the exact reply code and enhanced status code, and
checks afterwards that the daemon still serves a new connection.
"""
import os
import poplib
import re
import shutil
import smtplib
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

import mmtest

PASSWORDS = {"alice@example.org": "alice-secret", "bob@example.org": "bob-secret"}
MANY = ["u%02d@example.org" % i for i in range(50)]
USERS = dict(PASSWORDS)
USERS.update({u: "pw-" + u for u in MANY})

MAX_SIZE = 1024 * 1024
MAX_RCPTS = 60

MSG = (b"From: Sender <sender@remote.example>\r\n"
       b"To: alice@example.org\r\n"
       b"Subject: plain\r\n"
       b"Message-ID: <plain@remote.example>\r\n"
       b"\r\n"
       b"first line\r\n"
       b".a line starting with a dot\r\n"
       b"..two dots\r\n"
       b".\r\n"
       b"last line.\r\n")

EIGHTBIT = ("From: J\u00f6rg <j\u00f6rg@b\u00fccher.example>\r\n"
            "To: alice@example.org\r\n"
            "Subject: 8bit\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 8bit\r\n"
            "\r\n"
            "Gr\u00fc\u00dfe aus K\u00f6ln, \u65e5\u672c\u8a9e, \u00e9t\u00e9\r\n").encode("utf-8")

DATE_RE = rb"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{1,2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d [+-]\d{4}"


class Raw:
    """A line-level SMTP client that shows the exact replies."""

    def __init__(self, srv, name="smtp", tls=False, timeout=10):
        self.srv = srv
        sock = srv.connect(name, timeout=timeout)
        if tls:
            sock = srv.ssl_context().wrap_socket(sock, server_hostname="localhost")
        self.sock = sock
        self.buf = b""
        self.greeting = self.reply()

    def send(self, data):
        self.sock.sendall(data)

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed; buffered %r" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("utf-8", "replace")

    def reply(self):
        """The last line of a (possibly multi-line) reply; all lines in .lines."""
        self.lines = []
        while True:
            line = self.line()
            self.lines.append(line)
            if len(line) < 4 or line[3] != "-":
                return line

    def cmd(self, c):
        if isinstance(c, str):
            c = c.encode("utf-8")
        self.send(c + b"\r\n")
        return self.reply()

    def starttls(self):
        r = self.cmd("STARTTLS")
        assert r.startswith("220 "), r
        assert self.buf == b""
        self.sock = self.srv.ssl_context().wrap_socket(self.sock, server_hostname="localhost")
        return r

    def closed(self):
        """True when the server closed the connection."""
        try:
            self.sock.settimeout(5)
            while True:
                d = self.sock.recv(4096)
                if not d:
                    return True
                self.buf += d
        except (ConnectionResetError, ssl.SSLError):
            return True
        except socket.timeout:
            return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def stuff(msg):
    """Dot-stuffing (RFC 5321 4.5.2) for the raw client."""
    return re.sub(rb"(?m)^\.", b"..", msg)


def quit_after_starttls(s):
    """QUIT on a STARTTLS session; the 221 itself is checked in test_43."""
    try:
        s.quit()
    except smtplib.SMTPServerDisconnected:
        s.close()


def plain_b64(user, password):
    import base64
    return base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode()


def b64(s):
    import base64
    return base64.b64encode(s.encode()).decode()


class SMTPTest(unittest.TestCase):
    srv = None

    @classmethod
    def setUpClass(cls):
        cls.srv = mmtest.Server(users=USERS,
                                limits="max_message_size = %d\nmax_recipients = %d" % (MAX_SIZE, MAX_RCPTS))
        try:
            # a UTF-8 alias, and an alias with several targets
            cls.srv.ctl("alias", "add", "j\u00f6rg@example.org", "alice@example.org", check=True)
            cls.srv.ctl("alias", "add", "team@example.org", "alice@example.org",
                        "bob@example.org", check=True)
        except Exception:
            cls.srv.close()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.srv:
            cls.srv.close()

    def run(self, result=None):
        r = super().run(result)
        if result is not None and (result.failures or result.errors) and self.srv:
            import sys
            sys.stderr.write("---- minimaild log (tail) ----\n%s\n" % self.srv.log()[-6000:])
        return r

    # ---- helpers ----

    def fetch(self, user):
        """All messages of user's INBOX, as bytes, via POP3 over TLS."""
        p = poplib.POP3_SSL("127.0.0.1", self.srv.ports["pop3s"],
                            context=self.srv.ssl_context(), timeout=20)
        try:
            p.user(user)
            p.pass_(USERS[user])
            n, _ = p.stat()
            out = []
            for i in range(1, n + 1):
                _, lines, _ = p.retr(i)
                out.append(b"\r\n".join(lines) + b"\r\n")
            return out
        finally:
            p.quit()

    def count(self, user):
        return len(self.fetch(user))

    def assertCode(self, reply, code):
        """reply starts with e.g. '550 5.1.1 '."""
        self.assertTrue(reply.startswith(code + " "), "want %s, got %r" % (code, reply))

    def assertStored(self, stored, original, sender, proto, rcpt=None, tls=False):
        """stored = Return-Path: + Received: + exactly the original bytes."""
        self.assertTrue(stored.endswith(original), "stored message differs:\n%r" % stored)
        head = stored[:len(stored) - len(original)]
        pat = (rb"Return-Path: <" + re.escape(sender.encode()) + rb">\r\n"
               rb"Received: from \S+ \(\[127\.0\.0\.1\]\)\r\n"
               + (rb"\t\(using TLSv1\.[23] with cipher [A-Za-z0-9_-]+\)\r\n" if tls else b"")
               + rb"\tby mail\.example\.org \(minimaild\) with " + proto.encode()
               + rb" id [0-9A-F]+"
               + ((rb"\r\n\tfor <" + re.escape(rcpt.encode()) + rb">") if rcpt else b"")
               + rb";\r\n\t" + DATE_RE + rb"\r\n")
        self.assertRegex(head, b"^" + pat + b"$")

    def assertServing(self):
        """A new connection still gets the greeting and a working NOOP."""
        c = Raw(self.srv)
        try:
            self.assertEqual(c.greeting, "220 mail.example.org ESMTP minimaild")
            self.assertEqual(c.cmd("NOOP"), "250 2.0.0 Ok")
            self.assertEqual(c.cmd("QUIT"), "221 2.0.0 Bye")
        finally:
            c.close()

    def raw_tx(self, c, sender="sender@remote.example", rcpt="alice@example.org"):
        self.assertTrue(c.cmd("EHLO client.example").startswith("250 "))
        self.assertCode(c.cmd("MAIL FROM:<%s>" % sender), "250 2.1.0")
        self.assertCode(c.cmd("RCPT TO:<%s>" % rcpt), "250 2.1.5")

    def last_message(self, user):
        msgs = self.fetch(user)
        self.assertTrue(msgs)
        return msgs[-1]

    # ---- smtplib on every listener ----

    def test_01_port25_plain(self):
        s = smtplib.SMTP("127.0.0.1", self.srv.ports["smtp"], timeout=10)
        code, caps = s.ehlo("client.example")
        self.assertEqual(code, 250)
        for ext in ("pipelining", "size", "8bitmime", "smtputf8", "enhancedstatuscodes",
                    "chunking", "starttls"):
            self.assertTrue(s.has_extn(ext), ext)
        self.assertEqual(s.esmtp_features["size"], str(MAX_SIZE))
        self.assertFalse(s.has_extn("auth"), "AUTH offered before TLS")
        before = self.count("alice@example.org")
        self.assertEqual(s.sendmail("sender@remote.example", ["alice@example.org"], MSG), {})
        s.quit()
        msgs = self.fetch("alice@example.org")
        self.assertEqual(len(msgs), before + 1)
        self.assertStored(msgs[-1], MSG, "sender@remote.example", "ESMTP", "alice@example.org")
        log = self.srv.log()
        self.assertRegex(log, r"event=tx id=[0-9A-F]+ addr=127\.0\.0\.1 tls=no user=\"\" "
                              r"from=<sender@remote\.example> to=\"<alice@example\.org>\" "
                              r"rcpts=1 rejected=0 size=%d result=\"250 2\.0\.0 Ok: queued as" % len(MSG))

    def test_02_port25_starttls(self):
        s = smtplib.SMTP("127.0.0.1", self.srv.ports["smtp"], timeout=10)
        s.ehlo("client.example")
        s.starttls(context=self.srv.ssl_context())
        s.ehlo("client.example")
        self.assertFalse(s.has_extn("starttls"), "STARTTLS offered twice")
        self.assertEqual(s.esmtp_features.get("auth", "").split(), ["PLAIN", "LOGIN"])
        s.sendmail("sender@remote.example", ["bob@example.org"], MSG)
        quit_after_starttls(s)
        self.assertStored(self.last_message("bob@example.org"), MSG, "sender@remote.example",
                          "ESMTPS", "bob@example.org", tls=True)

    def test_03_submission_login(self):
        s = smtplib.SMTP("127.0.0.1", self.srv.ports["submission"], timeout=10)
        s.ehlo("client.example")
        self.assertFalse(s.has_extn("auth"))
        s.starttls(context=self.srv.ssl_context())
        s.ehlo("client.example")
        s.user, s.password = "alice@example.org", "alice-secret"
        code, text = s.auth("LOGIN", s.auth_login, initial_response_ok=False)
        self.assertEqual((code, text), (235, b"2.7.0 Authentication successful"))
        s.sendmail("alice@example.org", ["bob@example.org"], MSG)
        quit_after_starttls(s)
        self.assertStored(self.last_message("bob@example.org"), MSG, "alice@example.org",
                          "ESMTPSA", "bob@example.org", tls=True)

    def test_04_submission_plain(self):
        s = smtplib.SMTP("127.0.0.1", self.srv.ports["submission"], timeout=10)
        s.starttls(context=self.srv.ssl_context())
        s.ehlo("client.example")
        s.user, s.password = "bob@example.org", "bob-secret"
        code, _ = s.auth("PLAIN", s.auth_plain, initial_response_ok=True)
        self.assertEqual(code, 235)
        # an alias address that points to bob is his too: none here, but
        # his own address in another case is
        s.sendmail("Bob@Example.org", ["alice@example.org"], MSG)
        quit_after_starttls(s)
        self.assertStored(self.last_message("alice@example.org"), MSG, "Bob@Example.org",
                          "ESMTPSA", "alice@example.org", tls=True)

    def test_05_submissions_465(self):
        s = smtplib.SMTP_SSL("127.0.0.1", self.srv.ports["submissions"],
                             context=self.srv.ssl_context(), timeout=10)
        s.ehlo("client.example")
        self.assertFalse(s.has_extn("starttls"))
        self.assertTrue(s.has_extn("auth"))
        s.login("alice@example.org", "alice-secret")
        s.sendmail("alice@example.org", ["bob@example.org"], MSG)
        s.quit()
        self.assertStored(self.last_message("bob@example.org"), MSG, "alice@example.org",
                          "ESMTPSA", "bob@example.org", tls=True)

    def test_06_fifty_recipients(self):
        s = smtplib.SMTP("127.0.0.1", self.srv.ports["smtp"], timeout=30)
        self.assertEqual(s.sendmail("sender@remote.example", MANY, MSG), {})
        s.quit()
        for u in MANY:
            msgs = self.fetch(u)
            self.assertEqual(len(msgs), 1, u)
            # no "for" clause with more than one recipient
            self.assertStored(msgs[0], MSG, "sender@remote.example", "ESMTP", None)
        self.assertEqual(len(set(self.fetch(MANY[0]) + self.fetch(MANY[49]))), 1)

    def test_07_utf8_and_8bit(self):
        s = smtplib.SMTP("127.0.0.1", self.srv.ports["smtp"], timeout=10)
        s.ehlo("client.example")
        r = s.sendmail("j\u00f6rg@b\u00fccher.example", ["j\u00f6rg@example.org"], EIGHTBIT,
                       mail_options=["SMTPUTF8", "BODY=8BITMIME"])
        self.assertEqual(r, {})
        s.quit()
        self.assertStored(self.last_message("alice@example.org"), EIGHTBIT,
                          "j\u00f6rg@b\u00fccher.example", "UTF8SMTP", "j\u00f6rg@example.org")
        # 8-bit body without SMTPUTF8, ASCII addresses
        s = smtplib.SMTP("127.0.0.1", self.srv.ports["smtp"], timeout=10)
        s.sendmail("sender@remote.example", ["alice@example.org"], EIGHTBIT,
                   mail_options=["BODY=8BITMIME"])
        s.quit()
        self.assertStored(self.last_message("alice@example.org"), EIGHTBIT,
                          "sender@remote.example", "ESMTP", "alice@example.org")
        # a UTF-8 address without SMTPUTF8 is refused
        c = Raw(self.srv)
        c.cmd("EHLO client.example")
        self.assertCode(c.cmd("MAIL FROM:<j\u00f6rg@b\u00fccher.example>"), "553 5.6.7")
        self.assertCode(c.cmd("MAIL FROM:<sender@remote.example>"), "250 2.1.0")
        self.assertCode(c.cmd("RCPT TO:<j\u00f6rg@example.org>"), "553 5.6.7")
        c.close()

    def test_08_alias_plus_catchall(self):
        a0, b0 = self.count("alice@example.org"), self.count("bob@example.org")
        s = smtplib.SMTP("127.0.0.1", self.srv.ports["smtp"], timeout=10)
        # team -> alice, bob; alice+tag -> alice (delivered once per user)
        s.sendmail("sender@remote.example", ["team@example.org", "alice+lists@example.org"], MSG)
        s.quit()
        self.assertEqual(self.count("alice@example.org"), a0 + 1)
        self.assertEqual(self.count("bob@example.org"), b0 + 1)

    # ---- pipelining, BDAT ----

    def test_10_pipelining(self):
        before = self.count("alice@example.org")
        c = Raw(self.srv)
        c.cmd("EHLO client.example")
        c.send(b"MAIL FROM:<sender@remote.example>\r\n"
               b"RCPT TO:<nobody@example.org>\r\n"
               b"RCPT TO:<alice@example.org>\r\n"
               b"RCPT TO:<x@remote.example>\r\n"
               b"DATA\r\n")
        self.assertCode(c.reply(), "250 2.1.0")
        self.assertCode(c.reply(), "550 5.1.1")
        self.assertCode(c.reply(), "250 2.1.5")
        self.assertCode(c.reply(), "554 5.7.1")
        self.assertCode(c.reply(), "354")
        c.send(stuff(MSG) + b".\r\nRSET\r\nMAIL FROM:<>\r\nRCPT TO:<bob@example.org>\r\nNOOP\r\nQUIT\r\n")
        self.assertCode(c.reply(), "250 2.0.0")
        self.assertEqual(c.reply(), "250 2.0.0 Ok")
        self.assertCode(c.reply(), "250 2.1.0")
        self.assertCode(c.reply(), "250 2.1.5")
        self.assertEqual(c.reply(), "250 2.0.0 Ok")
        self.assertEqual(c.reply(), "221 2.0.0 Bye")
        self.assertTrue(c.closed())
        self.assertStored(self.last_message("alice@example.org"), MSG, "sender@remote.example",
                          "ESMTP", "alice@example.org")
        self.assertEqual(self.count("alice@example.org"), before + 1)
        self.assertIn("rejected=2", self.srv.log())

    def pipelined_run(self, c, txs, sender, base=0):
        """txs: [(rcpt lines, expected reply codes)], each sent as MAIL,
        RCPTs and DATA in one write; each message's end of data goes out
        in the same write as the next transaction's envelope. Checks every
        reply in order; returns the subjects accepted, per transaction."""
        def envelope(rcpts):
            return (b"MAIL FROM:<%s>\r\n" % sender.encode()
                    + b"".join(b"RCPT TO:<%s>\r\n" % r.encode() for r in rcpts)
                    + b"DATA\r\n")

        def body(i):
            return (b"From: <%s>\r\nSubject: pipelined %d\r\n"
                    b"Message-ID: <pipelined-%d-%s@remote.example>\r\n\r\nmessage %d\r\n"
                    % (sender.encode(), i, i, sender.encode(), i))
        c.send(envelope(txs[0][0]))
        for i, (rcpts, codes) in enumerate(txs):
            self.assertCode(c.reply(), "250 2.1.0")
            for r, code in zip(rcpts, codes):
                self.assertCode(c.reply(), code)
            self.assertCode(c.reply(), "354")
            nxt = envelope(txs[i + 1][0]) if i + 1 < len(txs) else b"QUIT\r\n"
            c.send(stuff(body(base + i)) + b".\r\n" + nxt)
            self.assertRegex(c.reply(), r"^250 2\.0\.0 Ok: queued as [0-9A-F]+$")
        self.assertEqual(c.reply(), "221 2.0.0 Bye")
        self.assertTrue(c.closed())
        c.close()

    def subjects(self, user):
        out = []
        for m in self.fetch(user):
            mm = re.search(rb"\r\nSubject: pipelined (\d+)\r\n", m)
            if mm:
                out.append(int(mm.group(1)))
        return out

    def test_10b_pipelined_transactions(self):
        # 50 transactions on one connection, each MAIL + 1..20 RCPTs + DATA
        # in one write (more RCPTs than one lookup batch holds), some
        # refused (unknown user, relay, a duplicate): every reply in order,
        # every accepted message stored once per user
        before = {u: self.subjects(u) for u in MANY}
        txs, want = [], {u: [] for u in MANY}
        for i in range(50):
            rcpts, codes = [], []
            for m in range(1 + i % 20):
                u = MANY[(i + m) % 50]
                rcpts.append(u)
                codes.append("250 2.1.5")
                if u not in want or i not in want[u]:
                    want[u].append(i)
                if m == 2 and i % 5 == 0:
                    rcpts.append("nobody-%d@example.org" % i)
                    codes.append("550 5.1.1")
                if m == 0 and i % 7 == 0:
                    rcpts.append("x%d@remote.example" % i)
                    codes.append("554 5.7.1")
            if i % 3 == 0:
                rcpts.append(rcpts[0].upper())
                codes.append("250 2.1.5")
            txs.append((rcpts, codes))
        c = Raw(self.srv)
        self.assertTrue(c.cmd("EHLO client.example").startswith("250 "))
        self.pipelined_run(c, txs, "sender@remote.example")
        for u in MANY:
            got = [n for n in self.subjects(u) if n not in before[u]]
            self.assertEqual(sorted(got), sorted(want[u]), u)

    def test_10c_pipelined_submission(self):
        # authenticated: MAIL checks the sender on a worker, and the RCPTs
        # pipelined behind it are looked up in that job; a MAIL refused
        # (553) leaves its RCPTs and DATA without a transaction (503)
        before = {u: self.subjects(u) for u in MANY[:20]}
        c = Raw(self.srv, "submissions", tls=True)
        c.cmd("EHLO client.example")
        self.assertCode(c.cmd("AUTH PLAIN " + plain_b64("alice@example.org", "alice-secret")),
                        "235 2.7.0")
        c.send(b"MAIL FROM:<bob@example.org>\r\nRCPT TO:<u00@example.org>\r\n"
               b"RCPT TO:<u01@example.org>\r\nDATA\r\n")
        self.assertCode(c.reply(), "553 5.7.1")
        self.assertCode(c.reply(), "503 5.5.1")
        self.assertCode(c.reply(), "503 5.5.1")
        self.assertCode(c.reply(), "503 5.5.1")
        txs, want = [], {u: [] for u in MANY[:20]}
        for i in range(10):
            rcpts = [MANY[(i + m) % 20] for m in range(2 + i)]
            codes = ["250 2.1.5"] * len(rcpts)
            for u in rcpts:
                want[u].append(100 + i)
            if i % 4 == 1:
                rcpts.insert(1, "nobody@example.org")
                codes.insert(1, "550 5.1.1")
            txs.append((rcpts, codes))
        self.pipelined_run(c, txs, "alice@example.org", base=100)
        for u in MANY[:20]:
            got = [n for n in self.subjects(u) if n not in before[u]]
            self.assertEqual(sorted(got), sorted(want[u]), u)

    def test_10d_pipelined_over_max_recipients(self):
        # more pipelined RCPTs than max_recipients, looked up in batches:
        # the first MAX_RCPTS are taken, the rest get 452 4.5.3, in order
        c = Raw(self.srv)
        c.cmd("EHLO client.example")
        rcpts = [MANY[i % 50] if i < 50 else "alice@example.org" if i == 50 else
                 "bob@example.org" if i == 51 else MANY[i % 50].upper() for i in range(MAX_RCPTS + 5)]
        c.send(b"MAIL FROM:<sender@remote.example>\r\n"
               + b"".join(b"RCPT TO:<%s>\r\n" % r.encode() for r in rcpts) + b"RSET\r\n")
        self.assertCode(c.reply(), "250 2.1.0")
        for i in range(MAX_RCPTS):
            self.assertEqual(c.reply(), "250 2.1.5 Ok", i)
        for i in range(5):
            self.assertEqual(c.reply(), "452 4.5.3 Error: too many recipients")
        self.assertEqual(c.reply(), "250 2.0.0 Ok")
        self.assertEqual(c.cmd("QUIT"), "221 2.0.0 Bye")
        c.close()

    def test_11_bdat(self):
        body = MSG + b"binary-ish line \xff\xfe\r\n"
        c = Raw(self.srv)
        c.cmd("EHLO client.example")
        # everything in one write: BDAT chunks are pipelined by design
        c.send(b"MAIL FROM:<sender@remote.example> BODY=8BITMIME\r\n"
               b"RCPT TO:<alice@example.org>\r\n"
               + b"BDAT 20\r\n" + body[:20]
               + b"BDAT %d\r\n" % (len(body) - 20 - 7) + body[20:-7]
               + b"BDAT 7 LAST\r\n" + body[-7:]
               + b"BDAT 0 LAST\r\n")
        self.assertCode(c.reply(), "250 2.1.0")
        self.assertCode(c.reply(), "250 2.1.5")
        self.assertCode(c.reply(), "250 2.0.0")
        self.assertCode(c.reply(), "250 2.0.0")
        last = c.reply()
        self.assertRegex(last, r"^250 2\.0\.0 Ok: queued as [0-9A-F]+$")
        # BDAT without a transaction: its bytes are swallowed, not run
        self.assertCode(c.reply(), "503 5.5.1")
        c.send(b"BDAT 6\r\nQUIT\r\n")
        self.assertCode(c.reply(), "503 5.5.1")
        self.assertEqual(c.cmd("NOOP"), "250 2.0.0 Ok")
        c.close()
        self.assertStored(self.last_message("alice@example.org"), body, "sender@remote.example",
                          "ESMTP", "alice@example.org")

    def test_12_bdat_refusals(self):
        before = self.count("alice@example.org")
        for chunk, code in ((b"bare\nLF\r\n", "550 5.6.0"), (b"bare\rCR\r\n", "550 5.6.0"),
                            (b"x" * 9000 + b"\r\n", "550 5.6.0"),
                            (b"ends in CR\r", "550 5.6.0")):
            c = Raw(self.srv)
            self.raw_tx(c)
            c.send(b"BDAT %d LAST\r\n" % len(chunk) + chunk)
            self.assertCode(c.reply(), code)
            self.assertEqual(c.cmd("NOOP"), "250 2.0.0 Ok")
            c.close()
        # DATA after BDAT is refused
        c = Raw(self.srv)
        self.raw_tx(c)
        c.send(b"BDAT 4\r\nabcd")
        self.assertCode(c.reply(), "250 2.0.0")
        self.assertCode(c.cmd("DATA"), "503 5.5.1")
        c.close()
        self.assertEqual(self.count("alice@example.org"), before)
        self.assertServing()

    # ---- curl and swaks ----

    def test_20_curl(self):
        if not shutil.which("curl"):
            self.skipTest("curl not installed")
        tmp = tempfile.mkdtemp()
        try:
            path = os.path.join(tmp, "msg.eml")
            with open(path, "wb") as f:
                f.write(MSG)
            base = ["curl", "-sS", "--max-time", "20", "--mail-from", "alice@example.org",
                    "--mail-rcpt", "bob@example.org", "-T", path]
            # port 25, no TLS
            r = subprocess.run(base + ["smtp://127.0.0.1:%d" % self.srv.ports["smtp"]],
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertStored(self.last_message("bob@example.org"), MSG, "alice@example.org",
                              "ESMTP", "bob@example.org")
            # 587: STARTTLS required by curl, AUTH, certificate checked
            tls = ["--ssl-reqd", "--cacert", self.srv.cert, "-u", "alice@example.org:alice-secret"]
            r = subprocess.run(base + tls + ["smtp://127.0.0.1:%d" % self.srv.ports["submission"]],
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertStored(self.last_message("bob@example.org"), MSG, "alice@example.org",
                              "ESMTPSA", "bob@example.org", tls=True)
            # 465: implicit TLS
            r = subprocess.run(base + tls + ["smtps://127.0.0.1:%d" % self.srv.ports["submissions"]],
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertStored(self.last_message("bob@example.org"), MSG, "alice@example.org",
                              "ESMTPSA", "bob@example.org", tls=True)
            # curl refuses a wrong sender on 587 (553 = exit 55 "failed sending")
            bad = ["curl", "-sS", "--max-time", "20", "--mail-from", "bob@example.org",
                   "--mail-rcpt", "bob@example.org", "-T", path]
            r = subprocess.run(bad + tls + ["smtp://127.0.0.1:%d" % self.srv.ports["submission"]],
                               capture_output=True, text=True)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("553", r.stderr)
        finally:
            shutil.rmtree(tmp)

    def swaks(self, *args):
        return subprocess.run(["swaks", "--server", "127.0.0.1", "--helo", "client.example",
                               "--timeout", "20"] + list(args),
                              capture_output=True, text=True, timeout=60)

    def test_21_swaks(self):
        if not shutil.which("swaks"):
            self.skipTest("swaks not installed")
        before = self.count("alice@example.org")
        r = self.swaks("--port", str(self.srv.ports["smtp"]), "--pipeline", "--protocol", "ESMTP",
                       "--from", "sender@remote.example", "--to", "alice@example.org")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertNotIn("<** ", r.stdout)
        # submission: STARTTLS + AUTH PLAIN and LOGIN, pipelined
        for mech in ("PLAIN", "LOGIN"):
            r = self.swaks("--port", str(self.srv.ports["submission"]), "-tls", "--pipeline",
                           "--auth", mech, "--auth-user", "bob@example.org",
                           "--auth-password", "bob-secret",
                           "--from", "bob@example.org", "--to", "alice@example.org")
            # (the 221 after STARTTLS is test_43's business)
            self.assertRegex(r.stdout, r"<~  250 2\.0\.0 Ok: queued as [0-9A-F]+\n", r.stdout + r.stderr)
            self.assertIn("<~  235 2.7.0 Authentication successful", r.stdout)
        # relay attempt through swaks: refused at RCPT with the exact code
        r = self.swaks("--port", str(self.srv.ports["smtp"]), "--pipeline",
                       "--from", "sender@remote.example", "--to", "victim@remote.example")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("<** 554 5.7.1 <victim@remote.example>: Relay access denied", r.stdout)
        self.assertEqual(self.count("alice@example.org"), before + 3)
        last = self.last_message("alice@example.org")
        self.assertIn(b"with ESMTPSA id", last)

    # ---- refusals, each with its exact code ----

    def test_30_relay_unauthenticated_25(self):
        c = Raw(self.srv)
        c.cmd("EHLO client.example")
        c.cmd("MAIL FROM:<sender@remote.example>")
        self.assertEqual(c.cmd("RCPT TO:<victim@remote.example>"),
                         "554 5.7.1 <victim@remote.example>: Relay access denied")
        self.assertCode(c.cmd("RCPT TO:<victim@[192.0.2.1]>"), "554 5.7.1")
        self.assertCode(c.cmd("DATA"), "554 5.5.1")
        c.close()
        self.assertServing()

    def test_31_submission_policies(self):
        c = Raw(self.srv, "submission")
        c.cmd("EHLO client.example")
        self.assertFalse([l for l in c.lines if "AUTH" in l])
        self.assertIn("250-STARTTLS", c.lines)
        # MAIL (a relay attempt) before TLS and AUTH
        self.assertEqual(c.cmd("MAIL FROM:<sender@remote.example>"),
                         "530 5.7.0 Must issue a STARTTLS command first")
        # AUTH before STARTTLS
        self.assertCode(c.cmd("AUTH PLAIN " + plain_b64("alice@example.org", "alice-secret")),
                        "538 5.7.11")
        c.starttls()
        c.cmd("EHLO client.example")
        self.assertIn("250-AUTH PLAIN LOGIN", c.lines)
        self.assertNotIn("250-STARTTLS", c.lines)
        # MAIL before AUTH
        self.assertEqual(c.cmd("MAIL FROM:<alice@example.org>"), "530 5.7.0 Authentication required")
        # wrong password, then right
        self.assertEqual(c.cmd("AUTH PLAIN " + plain_b64("alice@example.org", "wrong")),
                         "535 5.7.8 Authentication credentials invalid")
        self.assertEqual(c.cmd("AUTH LOGIN"), "334 VXNlcm5hbWU6")
        self.assertEqual(c.cmd(b64("alice@example.org")), "334 UGFzc3dvcmQ6")
        self.assertEqual(c.cmd(b64("alice-secret")), "235 2.7.0 Authentication successful")
        self.assertCode(c.cmd("AUTH PLAIN"), "503 5.5.1")
        # wrong sender (bob's address), and an alias that is not hers
        self.assertCode(c.cmd("MAIL FROM:<bob@example.org>"), "553 5.7.1")
        self.assertCode(c.cmd("MAIL FROM:<j\u00f6rg@example.org> SMTPUTF8"), "250 2.1.0")
        # remote recipient from an authenticated client: accepted for the
        # outbound queue (tests/e2e/test_relay.py); an address literal is not
        self.assertCode(c.cmd("RCPT TO:<friend@remote.example>"), "250 2.1.5")
        self.assertCode(c.cmd("RCPT TO:<friend@[192.0.2.1]>"), "550 5.1.2")
        self.assertCode(c.cmd("RSET"), "250 2.0.0")
        c.close()
        self.assertServing()

    def test_32_auth_edge_cases(self):
        c = Raw(self.srv, "submissions", tls=True)
        self.assertCode(c.cmd("AUTH PLAIN"), "503 5.5.1")  # before EHLO
        c.cmd("EHLO client.example")
        self.assertCode(c.cmd("AUTH CRAM-MD5"), "504 5.5.4")
        self.assertEqual(c.cmd("AUTH PLAIN"), "334 ")
        self.assertEqual(c.cmd("*"), "501 5.7.0 Authentication cancelled")
        self.assertEqual(c.cmd("AUTH PLAIN"), "334 ")
        self.assertCode(c.cmd("not base64!"), "501 5.5.2")
        # authzid naming someone else
        import base64
        ir = base64.b64encode(b"bob@example.org\0alice@example.org\0alice-secret").decode()
        self.assertCode(c.cmd("AUTH PLAIN " + ir), "535 5.7.8")
        self.assertCode(c.cmd("AUTH PLAIN " + plain_b64("bob@example.org", "bob-secret")), "235 2.7.0")
        c.close()

    def test_33_unknown_recipient(self):
        c = Raw(self.srv)
        self.raw_tx(c)
        self.assertEqual(c.cmd("RCPT TO:<nobody@example.org>"),
                         "550 5.1.1 <nobody@example.org>: Recipient address rejected: User unknown")
        self.assertCode(c.cmd("RCPT TO:<nobody@EXAMPLE.NET>"), "550 5.1.1")
        c.close()
        self.assertServing()

    def test_34_oversize(self):
        c = Raw(self.srv)
        c.cmd("EHLO client.example")
        self.assertEqual(c.cmd("MAIL FROM:<sender@remote.example> SIZE=%d" % (MAX_SIZE + 1)),
                         "552 5.3.4 Message size exceeds fixed maximum message size")
        before = self.count("alice@example.org")
        self.assertCode(c.cmd("MAIL FROM:<sender@remote.example> SIZE=1000"), "250 2.1.0")
        c.cmd("RCPT TO:<alice@example.org>")
        self.assertCode(c.cmd("DATA"), "354")
        line = b"y" * 998 + b"\r\n"
        c.send(b"Subject: big\r\n\r\n" + line * (MAX_SIZE // len(line) + 10))
        c.send(b".\r\n")
        # one refusal, only after the end of the data
        self.assertEqual(c.reply(), "552 5.3.4 Message size exceeds fixed maximum message size")
        self.assertEqual(c.cmd("NOOP"), "250 2.0.0 Ok")
        # and BDAT over the limit
        c.cmd("MAIL FROM:<sender@remote.example>")
        c.cmd("RCPT TO:<alice@example.org>")
        line = b"z" * 1022 + b"\r\n"
        c.send(b"BDAT %d\r\n" % MAX_SIZE + line * (MAX_SIZE // len(line)))
        self.assertCode(c.reply(), "250 2.0.0")
        c.send(b"BDAT 10 LAST\r\n0123456789")
        self.assertCode(c.reply(), "552 5.3.4")
        c.close()
        self.assertEqual(self.count("alice@example.org"), before)
        self.assertServing()

    def test_35_bare_lf_cr_smuggling(self):
        before = self.count("alice@example.org")
        for data, what in ((b"Subject: x\r\n\r\nbare\nLF\r\n", "LF"),
                           (b"Subject: x\r\n\r\nbare\rCR\r\n", "CR"),
                           # the smuggling shapes: none of these ends the data
                           (b"Subject: x\r\n\r\nhi\n.\nMAIL FROM:<evil@remote.example>\r\n", "LF"),
                           (b"Subject: x\r\n\r\nhi\n.\r\nMAIL FROM:<evil@remote.example>\r\n", "LF"),
                           (b"Subject: x\r\n\r\nhi\r\n.\nMAIL FROM:<evil@remote.example>\r\n", "LF"),
                           (b"Subject: x\r\n\r\nhi\r.\r\nMAIL FROM:<evil@remote.example>\r\n", "CR")):
            c = Raw(self.srv)
            self.raw_tx(c)
            self.assertCode(c.cmd("DATA"), "354")
            c.send(data + b"RCPT TO:<bob@example.org>\r\nDATA\r\nsmuggled\r\n.\r\n")
            r = c.reply()
            self.assertEqual(r, "550 5.6.0 Message refused: bare %s in data (lines must end with CRLF)"
                             % what, data)
            # the transaction was reset; the session goes on
            self.assertCode(c.cmd("RCPT TO:<alice@example.org>"), "503 5.5.1")
            self.assertEqual(c.cmd("NOOP"), "250 2.0.0 Ok")
            c.close()
        self.assertEqual(self.count("alice@example.org"), before)
        self.assertNotIn("evil@remote.example>", "".join(
            l for l in self.srv.log().splitlines() if "event=tx" in l and "queued" in l))
        self.assertServing()

    def test_36_long_lines(self):
        c = Raw(self.srv)
        c.cmd("EHLO client.example")
        self.assertEqual(c.cmd("NOOP " + "x" * 3000), "500 5.5.2 Error: line too long")
        self.assertEqual(c.cmd("NOOP " + "x" * 70000), "500 5.5.2 Error: line too long")
        self.assertEqual(c.cmd("NOOP"), "250 2.0.0 Ok")
        # a data line over the limit: refused at the end, not truncated
        self.raw_tx(c)
        c.cmd("DATA")
        c.send(b"Subject: long\r\n\r\n" + b"w" * 10000 + b"\r\nafter\r\n.\r\n")
        self.assertEqual(c.reply(), "550 5.6.0 Message refused: line too long")
        self.assertEqual(c.cmd("NOOP"), "250 2.0.0 Ok")
        # one over the read watermark, swallowed in parts, of dots: no
        # part of it may end the message (the body is read in place
        # only between whole lines)
        self.raw_tx(c)
        c.cmd("DATA")
        c.send(b"Subject: long\r\n\r\n" + b"." * 70001 + b"\r\nafter\r\n.\r\n")
        self.assertEqual(c.reply(), "550 5.6.0 Message refused: line too long")
        self.assertEqual(c.cmd("NOOP"), "250 2.0.0 Ok")
        c.close()
        self.assertServing()

    def test_37_nul_bytes(self):
        c = Raw(self.srv)
        c.cmd("EHLO client.example")
        self.assertEqual(c.cmd(b"NO\0OP"), "500 5.5.2 Syntax error: NUL byte in command")
        self.assertCode(c.cmd(b"MAIL FROM:<a\0b@remote.example>"), "500 5.5.2")
        self.assertCode(c.cmd(b"\0\0\0"), "500 5.5.2")
        self.assertEqual(c.cmd("NOOP"), "250 2.0.0 Ok")
        c.close()
        self.assertServing()

    def test_38_shell_metacharacters(self):
        c = Raw(self.srv)
        c.cmd("EHLO client.example")
        for sender in ("$(reboot)@remote.example", "`id`;@remote.example",
                       "a;rm -rf /@remote.example", "a@remote.example;reboot",
                       "x@$(id).example", "a>b@remote.example"):
            r = c.cmd("MAIL FROM:<%s>" % sender)
            self.assertTrue(r.startswith("501 5.1.7 ") or r.startswith("501 5.5.4 "), (sender, r))
        # '|', '&', '$', '`' are legal atext: accepted as plain data
        self.assertCode(c.cmd("MAIL FROM:<|/bin/sh&$x`y`@remote.example>"), "250 2.1.0")
        self.assertCode(c.cmd("RCPT TO:<|cat@example.org>"), "550 5.1.1")
        self.assertCode(c.cmd("EHLO $(id)"), "501 5.5.4")
        c.close()
        self.assertServing()

    def test_39_syntax_and_sequence(self):
        c = Raw(self.srv)
        self.assertCode(c.cmd("MAIL FROM:<a@b.example>"), "503 5.5.1")
        self.assertCode(c.cmd("EHLO"), "501 5.5.4")
        c.cmd("EHLO client.example")
        self.assertCode(c.cmd("RCPT TO:<alice@example.org>"), "503 5.5.1")
        self.assertCode(c.cmd("DATA"), "503 5.5.1")
        self.assertCode(c.cmd("MAIL TO:<a@b.example>"), "501 5.5.2")
        self.assertCode(c.cmd("MAIL FROM:<a@b.example> RET=FULL"), "555 5.5.4")
        self.assertCode(c.cmd("MAIL FROM:<a@b.example> BODY=BINARYMIME"), "555 5.5.4")
        self.assertCode(c.cmd("MAIL FROM:<a@b.example> SIZE=x"), "501 5.5.4")
        self.assertCode(c.cmd("MAIL FROM:<a@@b.example>"), "501 5.1.7")
        self.assertCode(c.cmd("MAIL FROM:<a@b.example>"), "250 2.1.0")
        self.assertCode(c.cmd("MAIL FROM:<a@b.example>"), "503 5.5.1")
        self.assertCode(c.cmd("RCPT TO:<alice@example.org> NOTIFY=NEVER"), "555 5.5.4")
        self.assertCode(c.cmd("RCPT TO:<alice@@example.org>"), "501 5.1.3")
        self.assertCode(c.cmd("RCPT TO:<%s@example.org>" % ("l" * 65)), "501 5.1.3")
        self.assertCode(c.cmd("DATA"), "554 5.5.1")
        self.assertCode(c.cmd("DATA now"), "501 5.5.4")
        self.assertCode(c.cmd("VRFY alice"), "252 2.0.0")
        self.assertCode(c.cmd("EXPN staff"), "252 2.0.0")
        self.assertCode(c.cmd("HELP"), "214 2.0.0")
        self.assertCode(c.cmd("FOO bar"), "500 5.5.2")
        self.assertCode(c.cmd("STARTTLS"), "220 2.0.0")
        c.close()
        self.assertServing()

    def test_40_too_many_recipients(self):
        c = Raw(self.srv)
        self.raw_tx(c)
        c.send(b"".join(b"RCPT TO:<bob@example.org>\r\n" for _ in range(MAX_RCPTS)))
        for _ in range(MAX_RCPTS - 1):
            self.assertCode(c.reply(), "250 2.1.5")
        self.assertEqual(c.reply(), "452 4.5.3 Error: too many recipients")
        c.close()

    def test_41_too_many_errors(self):
        c = Raw(self.srv)
        for i in range(19):
            self.assertCode(c.cmd("BOGUS %d" % i), "500 5.5.2")
        self.assertCode(c.cmd("BOGUS"), "500 5.5.2")
        self.assertEqual(c.reply(), "421 4.7.0 mail.example.org Error: too many errors")
        self.assertTrue(c.closed())
        self.assertServing()

    def test_42_starttls_injection(self):
        c = Raw(self.srv)
        c.cmd("EHLO client.example")
        c.send(b"STARTTLS\r\nMAIL FROM:<evil@remote.example>\r\n")
        self.assertCode(c.reply(), "220 2.0.0")
        c.sock = self.srv.ssl_context().wrap_socket(c.sock, server_hostname="localhost")
        # the injected MAIL was dropped, and EHLO state was reset
        self.assertCode(c.cmd("MAIL FROM:<a@remote.example>"), "503 5.5.1")
        c.cmd("EHLO client.example")
        self.assertCode(c.cmd("STARTTLS"), "503 5.5.1")
        c.close()

    def test_43_quit_after_starttls(self):
        """The last reply before closing reaches the client over STARTTLS too."""
        c = Raw(self.srv)
        c.cmd("EHLO client.example")
        c.starttls()
        self.assertEqual(c.cmd("QUIT"), "221 2.0.0 Bye")
        c.close()

    def test_44_quota(self):
        s = smtplib.SMTP("127.0.0.1", self.srv.ports["smtp"], timeout=10)
        s.sendmail("sender@remote.example", ["u47@example.org", "u48@example.org",
                                             "u49@example.org"], MSG)
        s.quit()
        self.srv.ctl("user", "quota", "u49@example.org", "100", check=True)      # over by bytes
        self.srv.ctl("user", "quota", "u47@example.org", "0", "1", check=True)   # full by count
        self.srv.ctl("user", "quota", "u48@example.org", "100K", check=True)
        c = Raw(self.srv)
        self.raw_tx(c)
        self.assertEqual(c.cmd("RCPT TO:<u49@example.org>"),
                         "452 4.2.2 <u49@example.org>: Mailbox full")
        self.assertCode(c.cmd("RCPT TO:<u47@example.org>"), "452 4.2.2")
        self.assertCode(c.cmd("RCPT TO:<u48@example.org>"), "250 2.1.5")
        self.assertEqual(c.cmd("RSET"), "250 2.0.0 Ok")
        # a declared size that can never fit the quota: permanent
        c.cmd("MAIL FROM:<sender@remote.example> SIZE=200000")
        self.assertCode(c.cmd("RCPT TO:<u48@example.org>"), "552 5.2.2")
        c.close()
        for u in ("u47@example.org", "u48@example.org", "u49@example.org"):
            self.srv.ctl("user", "quota", u, "0", check=True)
        self.assertServing()


if __name__ == "__main__":
    mmtest.main()
