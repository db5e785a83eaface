#!/usr/bin/env python3
"""POP3 end to end: the real minimaild on loopback ports, driven by Python
poplib (110 + STLS and 995), a raw socket client for exact bytes and
refusals, fetchmail and curl. Messages go in over SMTP (port 25).

Users: alice (command tests), bob (the 20 MB message), carol (fetchmail),
dave (DELE / drop / IN-USE), erin (curl).
"""
import hashlib
import os
import poplib
import random
import shutil
import smtplib
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

import mmtest

USERS = {
    "alice@example.org": "alice-secret",
    "bob@example.org": "bob-secret",
    "carol@example.org": "carol-secret",
    "dave@example.org": "dave-secret",
    "erin@example.org": "erin-secret",
}

DOT_MSG = (b"From: Sender <sender@example.net>\r\n"
           b"To: alice@example.org\r\n"
           b"Subject: dots\r\n"
           b"Message-ID: <dots@example.net>\r\n"
           b"\r\n"
           b"first line\r\n"
           b".hidden line starting with a dot\r\n"
           b"..two dots\r\n"
           b".\r\n"
           b"last line.\r\n")

EIGHTBIT_MSG = ("From: Sender <sender@example.net>\r\n"
                "To: alice@example.org\r\n"
                "Subject: 8bit\r\n"
                "MIME-Version: 1.0\r\n"
                "Content-Type: text/plain; charset=utf-8\r\n"
                "Content-Transfer-Encoding: 8bit\r\n"
                "\r\n"
                "Gr\u00fc\u00dfe aus K\u00f6ln, \u65e5\u672c\u8a9e, \u00e9t\u00e9\r\n"
                "\u00e4\u00f6\u00fc \u20ac 100\r\n").encode("utf-8")

TOP_MSG = (b"From: Sender <sender@example.net>\r\n"
           b"To: alice@example.org\r\n"
           b"Subject: top\r\n"
           b"\r\n"
           b"body 1\r\n"
           b".body 2\r\n"
           b"body 3\r\n"
           b"body 4\r\n")


def big_message(size):
    """A ~size-byte message with 76-character lines (poplib's line limit
    is 2048) and some lines starting with a dot."""
    rnd = random.Random(20)
    head = (b"From: Sender <sender@example.net>\r\n"
            b"To: bob@example.org\r\n"
            b"Subject: big\r\n"
            b"\r\n")
    alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/."
    parts = [head]
    n = len(head)
    i = 0
    while n < size:
        line = bytes(rnd.choice(alphabet) for _ in range(8)) * 9 + b"ab"
        if i % 97 == 0:
            line = b"." + line[1:]
        parts.append(line + b"\r\n")
        n += 78
        i += 1
    return b"".join(parts)


def deliver(srv, rcpt, msg, eightbit=False):
    with smtplib.SMTP("127.0.0.1", srv.ports["smtp"], timeout=60) as s:
        s.ehlo("client.example.net")
        opts = ["BODY=8BITMIME"] if eightbit else []
        s.sendmail("sender@example.net", [rcpt], msg, mail_options=opts)


def retr_bytes(lines):
    """poplib RETR lines (unstuffed) back to the message bytes."""
    return b"".join(l + b"\r\n" for l in lines)


def strip_received(data):
    """The message as delivered, without the trace fields (Return-Path:,
    Received:, with their continuation lines) the SMTP server prepended."""
    lines = data.split(b"\r\n")
    i = 0
    while i < len(lines):
        l = lines[i].lower()
        if l.startswith(b"received:") or l.startswith(b"return-path:") or \
                (i > 0 and lines[i][:1] in (b" ", b"\t")):
            i += 1
        else:
            break
    return b"\r\n".join(lines[i:])


class Raw:
    """A line-oriented POP3 client on a socket, for exact bytes."""

    def __init__(self, sock):
        self.s = sock
        self.buf = b""

    def send(self, data):
        self.s.sendall(data)

    def _fill(self):
        d = self.s.recv(1 << 16)
        if not d:
            raise EOFError("connection closed")
        self.buf += d

    def line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        l, self.buf = self.buf.split(b"\r\n", 1)
        return l

    def cmd(self, c):
        self.send(c + b"\r\n")
        return self.line()

    def multi(self):
        """Lines of a multi-line answer, raw (still stuffed), without the '.'."""
        out = []
        while True:
            l = self.line()
            if l == b".":
                return out
            out.append(l)

    def raw_until(self, end):
        while end not in self.buf:
            self._fill()
        i = self.buf.index(end) + len(end)
        d, self.buf = self.buf[:i], self.buf[i:]
        return d

    def closed(self, timeout=5):
        """True when the server closes the connection (after any data)."""
        self.s.settimeout(timeout)
        try:
            while True:
                if not self.s.recv(4096):
                    return True
        except (ConnectionResetError, ssl.SSLError, OSError):
            return True
        return False

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


class Pop3Test(unittest.TestCase):
    srv = None

    @classmethod
    def setUpClass(cls):
        cls.srv = mmtest.Server(users=USERS, limits="max_message_size = 30M")
        try:
            deliver(cls.srv, "alice@example.org", DOT_MSG)
            deliver(cls.srv, "alice@example.org", EIGHTBIT_MSG, eightbit=True)
            deliver(cls.srv, "alice@example.org", TOP_MSG)
            cls.big = big_message(20 * 1024 * 1024)
            deliver(cls.srv, "bob@example.org", cls.big)
            for i in range(3):
                deliver(cls.srv, "dave@example.org",
                        b"Subject: dave %d\r\nX-Test-Id: dave-%d\r\n\r\nbody %d\r\n" % (i, i, i))
            for i in range(2):
                deliver(cls.srv, "erin@example.org",
                        b"Subject: erin %d\r\nX-Test-Id: erin-%d\r\n\r\nbody %d\r\n.dot\r\n" % (i, i, i))
        except Exception:
            import sys
            sys.stderr.write("---- minimaild log ----\n%s\n" % cls.srv.log()[-8000:])
            cls.srv.close()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.srv:
            cls.srv.close()

    def tearDown(self):
        # the daemon must still be serving after every test
        self.assertIsNone(self.srv.proc.poll(), "minimaild died:\n" + self.srv.log()[-4000:])
        r = self.raw("pop3")
        self.assertEqual(r.line(), b"+OK minimaild POP3 ready")
        r.close()

    # ---- helpers ----
    def raw(self, name):
        r = Raw(self.srv.connect(name))
        if name == "pop3s":
            r.s = self.srv.ssl_context().wrap_socket(r.s)
        return r

    def raw_stls(self):
        r = self.raw("pop3")
        self.assertEqual(r.line(), b"+OK minimaild POP3 ready")
        self.assertEqual(r.cmd(b"STLS"), b"+OK Begin TLS negotiation")
        r.s = self.srv.ssl_context().wrap_socket(r.s)
        return r

    def raw_login(self, user, name="pop3s"):
        r = self.raw(name)
        self.assertEqual(r.line(), b"+OK minimaild POP3 ready")
        self.assertEqual(r.cmd(b"USER " + user.encode()), b"+OK")
        resp = r.cmd(b"PASS " + USERS[user].encode())
        self.assertTrue(resp.startswith(b"+OK Logged in"), resp)
        return r

    def pop_stls(self, user):
        p = poplib.POP3("127.0.0.1", self.srv.ports["pop3"], timeout=60)
        p.stls(context=self.srv.ssl_context())
        p.user(user)
        p.pass_(USERS[user])
        return p

    def pop_ssl(self, user):
        p = poplib.POP3_SSL("127.0.0.1", self.srv.ports["pop3s"], timeout=60,
                            context=self.srv.ssl_context())
        p.user(user)
        p.pass_(USERS[user])
        return p

    # ---- greeting, CAPA, plaintext policy ----
    def test_capa_before_and_after_stls(self):
        r = self.raw("pop3")
        self.assertEqual(r.line(), b"+OK minimaild POP3 ready")
        self.assertEqual(r.cmd(b"CAPA"), b"+OK Capability list follows")
        self.assertEqual(r.multi(), [b"TOP", b"UIDL", b"RESP-CODES", b"AUTH-RESP-CODE",
                                     b"PIPELINING", b"STLS", b"IMPLEMENTATION minimaild"])
        self.assertEqual(r.cmd(b"STLS"), b"+OK Begin TLS negotiation")
        r.s = self.srv.ssl_context().wrap_socket(r.s)
        self.assertEqual(r.cmd(b"CAPA"), b"+OK Capability list follows")
        self.assertEqual(r.multi(), [b"TOP", b"UIDL", b"RESP-CODES", b"AUTH-RESP-CODE",
                                     b"PIPELINING", b"USER", b"SASL PLAIN LOGIN",
                                     b"IMPLEMENTATION minimaild"])
        self.assertEqual(r.cmd(b"STLS"), b"-ERR Command not permitted when TLS active")
        self.assertEqual(r.cmd(b"QUIT"), b"+OK minimaild POP3 server signing off")
        self.assertTrue(r.closed())

    def test_capa_995_and_transaction(self):
        r = self.raw("pop3s")
        self.assertEqual(r.line(), b"+OK minimaild POP3 ready")
        self.assertEqual(r.cmd(b"capa"), b"+OK Capability list follows")
        caps = r.multi()
        self.assertIn(b"USER", caps)
        self.assertNotIn(b"STLS", caps)
        r.close()
        r = self.raw_login("alice@example.org")
        self.assertEqual(r.cmd(b"CAPA"), b"+OK Capability list follows")
        self.assertEqual(r.multi(), [b"TOP", b"UIDL", b"RESP-CODES", b"AUTH-RESP-CODE",
                                     b"PIPELINING", b"IMPLEMENTATION minimaild"])
        self.assertEqual(r.cmd(b"QUIT"), b"+OK minimaild POP3 server signing off")
        r.close()

    def test_refuse_plaintext_before_stls(self):
        r = self.raw("pop3")
        self.assertEqual(r.line(), b"+OK minimaild POP3 ready")
        err = b"-ERR [AUTH] Plaintext authentication disallowed, use STLS"
        self.assertEqual(r.cmd(b"USER alice@example.org"), err)
        self.assertEqual(r.cmd(b"PASS alice-secret"), err)
        self.assertEqual(r.cmd(b"AUTH PLAIN AGFsaWNlQGV4YW1wbGUub3JnAGFsaWNlLXNlY3JldA=="), err)
        self.assertEqual(r.cmd(b"AUTH LOGIN"), err)
        self.assertEqual(r.cmd(b"STAT"), b"-ERR Not logged in")
        # STLS after the refusals, then the same USER/PASS works
        self.assertEqual(r.cmd(b"STLS"), b"+OK Begin TLS negotiation")
        r.s = self.srv.ssl_context().wrap_socket(r.s)
        self.assertEqual(r.cmd(b"USER alice@example.org"), b"+OK")
        self.assertTrue(r.cmd(b"PASS alice-secret").startswith(b"+OK Logged in, 3 messages"))
        self.assertEqual(r.cmd(b"QUIT"), b"+OK minimaild POP3 server signing off")
        r.close()

    def test_stls_discards_injected_command(self):
        r = self.raw("pop3")
        self.assertEqual(r.line(), b"+OK minimaild POP3 ready")
        r.send(b"STLS\r\nCAPA\r\n")
        self.assertEqual(r.line(), b"+OK Begin TLS negotiation")
        self.assertEqual(r.buf, b"")
        r.s = self.srv.ssl_context().wrap_socket(r.s)
        self.assertEqual(r.cmd(b"STAT"), b"-ERR Not logged in")
        self.assertEqual(r.cmd(b"NOOP"), b"+OK")
        r.close()

    # ---- every command through poplib, on both ports ----
    def exercise(self, p):
        self.assertEqual(p.getwelcome(), b"+OK minimaild POP3 ready")
        caps = p.capa()
        for c in ("TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "IMPLEMENTATION"):
            self.assertIn(c, caps)
        count, size = p.stat()
        self.assertEqual(count, 3)
        resp, lst, _ = p.list()
        self.assertTrue(resp.startswith(b"+OK 3 messages"), resp)
        sizes = [int(l.split()[1]) for l in lst]
        self.assertEqual([int(l.split()[0]) for l in lst], [1, 2, 3])
        self.assertEqual(sum(sizes), size)
        self.assertEqual(p.list(2), b"+OK 2 %d" % sizes[1])
        resp, uids, _ = p.uidl()
        uids = [l.split()[1] for l in uids]
        self.assertEqual(len(set(uids)), 3)
        for u in uids:
            self.assertRegex(u.decode(), r"^[0-9a-f]{16}$")
        self.assertEqual(p.uidl(3), b"+OK 3 " + uids[2])
        # RETR: byte-exact after unstuffing, size as listed
        msgs = []
        for i in (1, 2, 3):
            resp, lines, octets = p.retr(i)
            self.assertEqual(resp, b"+OK %d octets" % sizes[i - 1])
            data = retr_bytes(lines)
            self.assertEqual(len(data), sizes[i - 1])
            msgs.append(data)
        self.assertEqual(strip_received(msgs[0]), DOT_MSG)
        self.assertEqual(strip_received(msgs[1]), EIGHTBIT_MSG)
        self.assertEqual(strip_received(msgs[2]), TOP_MSG)
        # TOP
        resp, lines, _ = p.top(3, 0)
        self.assertEqual(resp, b"+OK Top of message follows")
        head = msgs[2].split(b"\r\n\r\n", 1)[0]
        self.assertEqual(retr_bytes(lines), head + b"\r\n\r\n")
        resp, lines, _ = p.top(3, 2)
        self.assertEqual(retr_bytes(lines), head + b"\r\n\r\nbody 1\r\n.body 2\r\n")
        resp, lines, _ = p.top(3, 100)
        self.assertEqual(retr_bytes(lines), msgs[2])
        # NOOP, DELE, RSET
        self.assertEqual(p.noop(), b"+OK")
        self.assertEqual(p.dele(1), b"+OK Message 1 deleted")
        self.assertEqual(p.stat(), (2, size - sizes[0]))
        self.assertRaisesRegex(poplib.error_proto, "already deleted", p.retr, 1)
        self.assertRaisesRegex(poplib.error_proto, "already deleted", p.dele, 1)
        self.assertRaisesRegex(poplib.error_proto, "No such message", p.retr, 4)
        self.assertRaisesRegex(poplib.error_proto, "No such message", p.list, 0)
        self.assertEqual(len(p.list()[1]), 2)
        self.assertEqual(len(p.uidl()[1]), 2)
        self.assertEqual(p.rset(), b"+OK Maildrop has 3 messages (%d octets)" % size)
        self.assertEqual(p.stat(), (3, size))
        self.assertEqual(p.quit(), b"+OK minimaild POP3 server signing off")
        return uids

    def test_poplib_stls_every_command(self):
        uids = self.exercise(self.pop_stls("alice@example.org"))
        # the same maildrop and UIDLs over 995
        uids2 = self.exercise(self.pop_ssl("alice@example.org"))
        self.assertEqual(uids, uids2)

    def test_poplib_995_every_command(self):
        self.exercise(self.pop_ssl("alice@example.org"))

    def test_raw_dot_stuffing_on_the_wire(self):
        r = self.raw_login("alice@example.org")
        r.send(b"RETR 1\r\n")
        self.assertTrue(r.line().startswith(b"+OK "))
        wire = r.raw_until(b"\r\n.\r\n")
        self.assertIn(b"\r\n..hidden line starting with a dot\r\n...two dots\r\n..\r\nlast line.\r\n.\r\n",
                      wire)
        r.send(b"QUIT\r\n")
        r.close()

    def test_big_message_byte_exact(self):
        t = time.time()
        p = self.pop_ssl("bob@example.org")
        count, size = p.stat()
        self.assertEqual(count, 1)
        resp, lines, octets = p.retr(1)
        data = retr_bytes(lines)
        self.assertEqual(len(data), size)
        self.assertEqual(hashlib.sha256(strip_received(data)).hexdigest(),
                         hashlib.sha256(self.big).hexdigest())
        p.quit()
        # and over 110 + STLS, TOP of the big one
        p = self.pop_stls("bob@example.org")
        resp, lines, _ = p.top(1, 3)
        self.assertEqual(len(lines), data.split(b"\r\n\r\n", 1)[0].count(b"\r\n") + 1 + 1 + 3)
        p.quit()
        self.assertLess(time.time() - t, 60)

    # ---- SASL ----
    def test_auth_plain_and_login(self):
        import base64
        plain = base64.b64encode(b"\0alice@example.org\0alice-secret")
        # initial response
        r = self.raw("pop3s")
        r.line()
        self.assertTrue(r.cmd(b"AUTH PLAIN " + plain).startswith(b"+OK Logged in"))
        r.cmd(b"QUIT")
        r.close()
        # continuation
        r = self.raw("pop3s")
        r.line()
        self.assertEqual(r.cmd(b"AUTH PLAIN"), b"+ ")
        self.assertTrue(r.cmd(plain).startswith(b"+OK Logged in"))
        r.cmd(b"QUIT")
        r.close()
        # LOGIN with and without initial response
        r = self.raw("pop3s")
        r.line()
        self.assertEqual(r.cmd(b"AUTH LOGIN"), b"+ VXNlcm5hbWU6")
        self.assertEqual(r.cmd(base64.b64encode(b"alice@example.org")), b"+ UGFzc3dvcmQ6")
        self.assertTrue(r.cmd(base64.b64encode(b"alice-secret")).startswith(b"+OK Logged in"))
        r.cmd(b"QUIT")
        r.close()
        r = self.raw("pop3s")
        r.line()
        self.assertEqual(r.cmd(b"AUTH LOGIN " + base64.b64encode(b"alice@example.org")),
                         b"+ UGFzc3dvcmQ6")
        self.assertTrue(r.cmd(base64.b64encode(b"alice-secret")).startswith(b"+OK Logged in"))
        r.cmd(b"QUIT")
        r.close()
        # cancel, bad base64, unknown mechanism, mechanism list
        r = self.raw("pop3s")
        r.line()
        self.assertEqual(r.cmd(b"AUTH PLAIN"), b"+ ")
        self.assertEqual(r.cmd(b"*"), b"-ERR Authentication cancelled")
        self.assertEqual(r.cmd(b"AUTH PLAIN"), b"+ ")
        self.assertEqual(r.cmd(b"!!!notbase64"), b"-ERR Invalid base64 data")
        self.assertEqual(r.cmd(b"AUTH CRAM-MD5"), b"-ERR Unsupported authentication mechanism")
        self.assertEqual(r.cmd(b"AUTH"), b"+OK")
        self.assertEqual(r.multi(), [b"PLAIN", b"LOGIN"])
        self.assertEqual(r.cmd(b"LIST"), b"-ERR Not logged in")
        r.close()

    # ---- refusals ----
    def test_wrong_password(self):
        r = self.raw("pop3s")
        r.line()
        self.assertEqual(r.cmd(b"USER alice@example.org"), b"+OK")
        t = time.time()
        self.assertEqual(r.cmd(b"PASS wrong"), b"-ERR [AUTH] Authentication failed")
        self.assertGreaterEqual(time.time() - t, 0.4)   # the failure delay
        self.assertEqual(r.cmd(b"PASS alice-secret"), b"-ERR USER first")
        self.assertEqual(r.cmd(b"USER nobody@example.org"), b"+OK")
        self.assertEqual(r.cmd(b"PASS whatever"), b"-ERR [AUTH] Authentication failed")
        # the right one still works on the same connection (and resets the count)
        self.assertEqual(r.cmd(b"USER alice@example.org"), b"+OK")
        self.assertTrue(r.cmd(b"PASS alice-secret").startswith(b"+OK Logged in"))
        r.cmd(b"QUIT")
        r.close()

    def test_in_use(self):
        a = self.raw_login("dave@example.org")
        b = self.raw("pop3s")
        b.line()
        b.cmd(b"USER dave@example.org")
        self.assertEqual(b.cmd(b"PASS dave-secret"),
                         b"-ERR [IN-USE] Mailbox is locked by another POP3 session")
        self.assertEqual(a.cmd(b"STAT")[:3], b"+OK")
        self.assertEqual(a.cmd(b"QUIT"), b"+OK minimaild POP3 server signing off")
        self.assertTrue(a.closed())
        # released: the second connection can log in now
        b.cmd(b"USER dave@example.org")
        self.assertTrue(b.cmd(b"PASS dave-secret").startswith(b"+OK Logged in"))
        b.cmd(b"QUIT")
        b.close()
        # a dropped connection releases the lock too
        a = self.raw_login("dave@example.org")
        a.close()
        for _ in range(50):
            b = self.raw("pop3s")
            b.line()
            b.cmd(b"USER dave@example.org")
            resp = b.cmd(b"PASS dave-secret")
            b.close()
            if resp.startswith(b"+OK"):
                break
            time.sleep(0.05)
        self.assertTrue(resp.startswith(b"+OK"), resp)

    def test_overlong_line(self):
        r = self.raw("pop3s")
        r.line()
        self.assertEqual(r.cmd(b"NOOP " + b"x" * 8192), b"-ERR Line too long")
        self.assertEqual(r.cmd(b"X" * 300), b"-ERR Line too long")
        # 255 with CRLF is fine
        self.assertEqual(r.cmd(b"USER " + b"a" * 248), b"+OK")
        self.assertEqual(r.cmd(b"CAPA"), b"+OK Capability list follows")
        r.multi()
        r.close()
        # in TRANSACTION too, and the session goes on
        r = self.raw_login("alice@example.org")
        self.assertEqual(r.cmd(b"LIST " + b"1" * 70000), b"-ERR Line too long")
        self.assertEqual(r.cmd(b"STAT")[:6], b"+OK 3 ")
        r.cmd(b"QUIT")
        r.close()

    def test_unknown_and_bad_commands(self):
        r = self.raw("pop3s")
        r.line()
        self.assertEqual(r.cmd(b"FOO"), b"-ERR Unknown command")
        self.assertEqual(r.cmd(b"APOP alice@example.org 0123456789abcdef0123456789abcdef"),
                         b"-ERR Unknown command")
        self.assertEqual(r.cmd(b"NO\0OP"), b"-ERR Invalid command (NUL byte)")
        r.close()
        r = self.raw_login("alice@example.org")
        self.assertEqual(r.cmd(b"RETR x"), b"-ERR Invalid message number")
        self.assertEqual(r.cmd(b"TOP 1"), b"-ERR Usage: TOP msg lines")
        self.assertEqual(r.cmd(b"USER alice@example.org"), b"-ERR Already logged in")
        self.assertEqual(r.cmd(b"STLS"), b"-ERR Command not permitted in TRANSACTION state")
        self.assertEqual(r.cmd(b"XYZZY"), b"-ERR Unknown command")
        self.assertEqual(r.cmd(b"STAT")[:6], b"+OK 3 ")
        r.cmd(b"QUIT")
        r.close()
        # too many bad commands: closed
        r = self.raw("pop3s")
        r.line()
        r.send(b"BAD\r\n" * 25)
        lines = []
        try:
            while True:
                lines.append(r.line())
        except (EOFError, OSError, ssl.SSLError):
            pass
        self.assertEqual(lines[:19], [b"-ERR Unknown command"] * 19)
        self.assertIn(b"-ERR Too many invalid commands, closing connection", lines)
        self.assertLessEqual(len(lines), 21)
        r.close()

    def test_pipelining(self):
        r = self.raw_login("alice@example.org")
        r.send(b"STAT\r\nLIST\r\nRETR 1\r\nUIDL 1\r\nTOP 3 1\r\nNOOP\r\nDELE 2\r\nRSET\r\nQUIT\r\n")
        self.assertTrue(r.line().startswith(b"+OK 3 "))
        self.assertTrue(r.line().startswith(b"+OK 3 messages"))
        self.assertEqual(len(r.multi()), 3)
        self.assertTrue(r.line().startswith(b"+OK "))
        body = r.multi()
        self.assertIn(b"..hidden line starting with a dot", body)
        self.assertTrue(r.line().startswith(b"+OK 1 "))
        self.assertEqual(r.line(), b"+OK Top of message follows")
        self.assertEqual(r.multi()[-2:], [b"", b"body 1"])
        self.assertEqual(r.line(), b"+OK")
        self.assertEqual(r.line(), b"+OK Message 2 deleted")
        self.assertTrue(r.line().startswith(b"+OK Maildrop has 3 messages"))
        self.assertEqual(r.line(), b"+OK minimaild POP3 server signing off")
        self.assertTrue(r.closed())

    # ---- DELE semantics ----
    def test_drop_after_dele_keeps_message(self):
        r = self.raw_login("dave@example.org")
        n = int(r.cmd(b"STAT").split()[1])
        self.assertGreaterEqual(n, 1)
        self.assertEqual(r.cmd(b"DELE 1"), b"+OK Message 1 deleted")
        r.close()            # dropped, no QUIT
        for _ in range(50):
            try:
                r = self.raw_login("dave@example.org")
                break
            except AssertionError:
                time.sleep(0.05)   # the lock goes when the old session is freed
        self.assertEqual(int(r.cmd(b"STAT").split()[1]), n)
        r.cmd(b"QUIT")
        r.close()

    def test_dele_quit_expunges_and_uidl_stable(self):
        p = self.pop_ssl("erin@example.org")
        before = [l.split()[1] for l in p.uidl()[1]]
        self.assertEqual(len(before), 2)
        p.dele(1)
        self.assertEqual(p.quit(), b"+OK minimaild POP3 server signing off (1 messages deleted)")
        p = self.pop_stls("erin@example.org")
        after = [l.split()[1] for l in p.uidl()[1]]
        self.assertEqual(after, before[1:])
        self.assertEqual(p.stat()[0], 1)
        p.quit()
        # put one back for the curl test ordering independence
        deliver(self.srv, "erin@example.org", b"Subject: erin again\r\n\r\nagain\r\n")

    # ---- other clients ----
    def test_curl(self):
        url = "pop3s://127.0.0.1:%d/" % self.srv.ports["pop3s"]
        r = subprocess.run(["curl", "-sS", "--cacert", self.srv.cert, "-u",
                            "erin@example.org:erin-secret", url],
                           capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        listing = r.stdout.decode().splitlines()
        self.assertGreaterEqual(len(listing), 1)
        self.assertEqual(listing[0].split()[0], "1")
        r = subprocess.run(["curl", "-sS", "--cacert", self.srv.cert, "-u",
                            "erin@example.org:erin-secret", url + "1"],
                           capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        p = self.pop_ssl("erin@example.org")
        msg = retr_bytes(p.retr(1)[1])
        p.quit()
        self.assertEqual(r.stdout, msg)
        # wrong password: curl fails with a login error (67)
        r = subprocess.run(["curl", "-sS", "--cacert", self.srv.cert, "-u",
                            "erin@example.org:nope", url],
                           capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 67, r.stderr)

    def fetchmail(self, home, keep):
        rc = os.path.join(home, "fetchmailrc")
        out = os.path.join(home, "mbox")
        with open(rc, "w") as f:
            f.write('set no syslog\n'
                    'poll 127.0.0.1 with proto POP3 service %d\n'
                    '  user "carol@example.org" there with password "carol-secret" is "carol" here\n'
                    '  fetchall ssl sslcertck sslcertfile "%s" sslcommonname "mail.example.org"\n'
                    '  mda "cat >> %s"\n' % (self.srv.ports["pop3s"], self.srv.cert, out))
        os.chmod(rc, 0o600)
        env = dict(os.environ, HOME=home, FETCHMAILHOME=home)
        # as root fetchmail locks /var/run/fetchmail.pid, which another
        # fetchmail on the machine (a second test run) may hold: its own
        args = ["fetchmail", "-f", rc, "--nodetach", "-v",
                "--pidfile", os.path.join(home, "fetchmail.pid")] + \
            (["--keep"] if keep else ["--nokeep"])
        r = subprocess.run(args, capture_output=True, text=True, timeout=120, env=env)
        try:
            with open(out, "rb") as f:
                data = f.read()
            os.unlink(out)
        except FileNotFoundError:
            data = b""
        return r, data

    def test_fetchmail(self):
        for i in range(3):
            deliver(self.srv, "carol@example.org",
                    b"Subject: carol %d\r\nX-Test-Id: carol-%d\r\n\r\nbody\r\n.dot\r\n" % (i, i))
        home = tempfile.mkdtemp(prefix="mmtest-fetchmail-")
        try:
            r, data = self.fetchmail(home, keep=True)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertEqual(data.count(b"X-Test-Id: carol-"), 3, data)
            self.assertIn(b"\n.dot", data)
            p = self.pop_ssl("carol@example.org")
            self.assertEqual(p.stat()[0], 3)
            p.quit()
            r, data = self.fetchmail(home, keep=False)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertEqual(data.count(b"X-Test-Id: carol-"), 3, data)
            p = self.pop_ssl("carol@example.org")
            self.assertEqual(p.stat(), (0, 0))
            p.quit()
            # fetchmail again: nothing there (exit 1 = no mail)
            r, data = self.fetchmail(home, keep=False)
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            self.assertEqual(data, b"")
        finally:
            shutil.rmtree(home, ignore_errors=True)
        # messages deleted over POP3 are gone for IMAP too
        self.check_imap_empty("carol@example.org")

    def check_imap_empty(self, user):
        import imaplib
        m = imaplib.IMAP4_SSL("127.0.0.1", self.srv.ports["imaps"],
                              ssl_context=self.srv.ssl_context(), timeout=30)
        m.login(user, USERS[user])
        typ, data = m.select("INBOX")
        self.assertEqual(typ, "OK")
        self.assertEqual(int(data[0]), 0)
        m.logout()


class Pop3PlaintextAllowedTest(unittest.TestCase):
    def test_user_pass_on_110(self):
        with mmtest.Server(users={"alice@example.org": "alice-secret"},
                           allow_plaintext=True) as srv:
            r = Raw(srv.connect("pop3"))
            self.assertEqual(r.line(), b"+OK minimaild POP3 ready")
            self.assertEqual(r.cmd(b"CAPA"), b"+OK Capability list follows")
            caps = r.multi()
            self.assertIn(b"USER", caps)
            self.assertIn(b"SASL PLAIN LOGIN", caps)
            self.assertIn(b"STLS", caps)
            self.assertEqual(r.cmd(b"USER alice@example.org"), b"+OK")
            self.assertEqual(r.cmd(b"PASS alice-secret"), b"+OK Logged in, 0 messages (0 octets)")
            self.assertEqual(r.cmd(b"STAT"), b"+OK 0 0")
            self.assertEqual(r.cmd(b"LIST"), b"+OK 0 messages (0 octets)")
            self.assertEqual(r.multi(), [])
            self.assertEqual(r.cmd(b"RETR 1"), b"-ERR No such message")
            self.assertEqual(r.cmd(b"QUIT"), b"+OK minimaild POP3 server signing off")
            r.close()


class Pop3RestartTest(unittest.TestCase):
    def test_uidl_stable_across_restart(self):
        with mmtest.Server(users={"alice@example.org": "alice-secret"}) as srv:
            for i in range(2):
                deliver(srv, "alice@example.org", b"Subject: %d\r\n\r\nx\r\n" % i)
            p = poplib.POP3_SSL("127.0.0.1", srv.ports["pop3s"], context=srv.ssl_context())
            p.user("alice@example.org")
            p.pass_("alice-secret")
            before = p.uidl()[1]
            p.quit()
            srv.restart()
            p = poplib.POP3_SSL("127.0.0.1", srv.ports["pop3s"], context=srv.ssl_context())
            p.user("alice@example.org")
            p.pass_("alice-secret")
            self.assertEqual(p.uidl()[1], before)
            p.quit()


if __name__ == "__main__":
    mmtest.main()
