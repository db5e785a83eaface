#!/usr/bin/env python3
"""[inbound] milters on port 25 against a real libmilter (pymilter,
Debian's python3-milter, tests/e2e/milter_tagger.py): a milter's added
header arrives, its 550 and its tempfail are what the client hears and
nothing is stored, quarantine files into Junk, a replaced body and a
changed header are what IMAP shows, discard answers 250 and stores
nothing; a milter that is down gives milter_default_action (451, or
delivery without it); and the daemon keeps serving throughout."""
import imaplib
import os
import smtplib
import socket
import subprocess
import sys
import time
import unittest

try:
    import Milter  # noqa: F401  (the test milter needs it)
except ImportError:
    print("SKIP: python3-milter is not installed")
    sys.exit(77)

from mmtest import Server, free_ports

HERE = os.path.dirname(os.path.abspath(__file__))


def start_milter(port):
    p = subprocess.Popen([sys.executable, os.path.join(HERE, "milter_tagger.py"), str(port)])
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return p
        except OSError:
            time.sleep(0.1)
    p.kill()
    raise RuntimeError("the test milter did not start")


def message(subject, rcpt="alice@example.org"):
    return ("From: <sender@elsewhere.test>\r\nTo: <%s>\r\nSubject: %s\r\n"
            "Message-ID: <%s@test>\r\n\r\noriginal body of %s\r\n" % (
                rcpt, subject, subject.replace(" ", "-"), subject)).encode()


class MilterTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.mport, cls.down = free_ports(2)
        cls.milter = start_milter(cls.mport)
        cls.srv = Server(users={"alice@example.org": "alice-secret",
                                "refuse-me@example.org": "refuse-secret"},
                         inbound="spf = no\ndkim = no\ndmarc = no\n"
                         "milters = inet:127.0.0.1:%d\nmilter_timeout = 10s" % cls.mport)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop_checked()
        cls.srv.close()
        cls.milter.kill()
        cls.milter.wait()

    def send(self, srv, subject, rcpts=("alice@example.org",)):
        s = smtplib.SMTP("127.0.0.1", srv.ports["smtp"], timeout=30)
        try:
            s.ehlo("client.elsewhere.test")
            s.mail("sender@elsewhere.test")
            for r in rcpts:
                s.rcpt(r)
            s.putcmd("data")
            self.assertEqual(s.getreply()[0], 354)
            s.send(message(subject, rcpts[0]) + b".\r\n")
            code, text = s.getreply()
            s.quit()
            return code, text.decode()
        finally:
            s.close()

    def fetch(self, srv, mailbox, subject_word):
        c = imaplib.IMAP4_SSL("127.0.0.1", srv.ports["imaps"], ssl_context=srv.ssl_context())
        try:
            c.login("alice@example.org", "alice-secret")
            c.select(mailbox, readonly=True)
            typ, data = c.search(None, "SUBJECT", subject_word)
            nums = data[0].split()
            if not nums:
                return None
            typ, data = c.fetch(nums[-1], "(BODY.PEEK[])")
            return data[0][1]
        finally:
            c.logout()

    def test_header_added(self):
        code, text = self.send(self.srv, "hello tagged")
        self.assertEqual(code, 250, text)
        qid = text.split()[-1]
        raw = self.fetch(self.srv, "INBOX", "tagged")
        self.assertIn(b"\r\nX-Milter-Seen: yes\r\n", raw)
        self.assertIn(("\r\nX-Milter-Queue-Id: %s\r\n" % qid).encode(), raw)
        self.assertIn(b"\r\n\r\noriginal body of hello tagged\r\n", raw)

    def test_reject(self):
        code, text = self.send(self.srv, "spam offer")
        self.assertEqual(code, 550)
        self.assertIn("5.7.1 spam detected", text)
        self.assertIsNone(self.fetch(self.srv, "INBOX", "offer"))

    def test_tempfail(self):
        code, _ = self.send(self.srv, "later please")
        self.assertEqual(code, 451)
        self.assertIsNone(self.fetch(self.srv, "INBOX", "please"))

    def test_quarantine(self):
        code, _ = self.send(self.srv, "quarantine this")
        self.assertEqual(code, 250)
        self.assertIsNone(self.fetch(self.srv, "INBOX", "this"))
        self.assertIsNotNone(self.fetch(self.srv, "Junk", "this"))

    def test_replace_body_and_header(self):
        code, _ = self.send(self.srv, "replace me")
        self.assertEqual(code, 250)
        raw = self.fetch(self.srv, "INBOX", "me")
        self.assertIn(b"\r\nSubject: [filtered] replace me\r\n", raw)
        self.assertTrue(raw.endswith(b"\r\n\r\nthe milter wrote this body\r\n"), raw[-80:])
        self.assertEqual(raw.count(b"Subject:"), 1)

    def test_discard(self):
        code, _ = self.send(self.srv, "drop it")
        self.assertEqual(code, 250)
        self.assertIsNone(self.fetch(self.srv, "INBOX", "drop"))

    def test_refused_recipient_alone(self):
        # the milter refuses this (existing) user at RCPT; every recipient
        # refused means the message is refused
        code, text = self.send(self.srv, "nobody home", rcpts=("refuse-me@example.org",))
        self.assertEqual(code, 550, text)
        self.assertIn("5.7.1", text)

    def test_milter_down(self):
        for action, want in (("tempfail", 451), ("accept", 250)):
            with Server(inbound="spf = no\ndkim = no\ndmarc = no\nmilters = inet:127.0.0.1:%d\n"
                        "milter_default_action = %s" % (self.down, action)) as srv:
                code, text = self.send(srv, "down %s" % action)
                self.assertEqual(code, want, text)
                raw = self.fetch(srv, "INBOX", action)
                self.assertEqual(raw is not None, want == 250)
                self.assertIn("event=failed", srv.log())


OPENDKIM = "/usr/sbin/opendkim"


class OpendkimTest(unittest.TestCase):
    """A milter from Debian, as people run it: opendkim in verify mode
    adds its own Authentication-Results (authserv-id opendkim.test) to
    what port 25 accepts."""

    def test_opendkim_verify_mode(self):
        if not os.access(OPENDKIM, os.X_OK):
            self.fail("opendkim is not installed (contrib/deps.sh installs it)")
        port, = free_ports(1)
        with Server(inbound="spf = no\ndkim = no\ndmarc = no\nmilters = inet:127.0.0.1:%d"
                    % port, start=False) as srv:
            conf = os.path.join(srv.tmp, "opendkim.conf")
            with open(conf, "w") as f:
                f.write("Mode v\nSocket inet:%d@127.0.0.1\nAuthservID opendkim.test\n"
                        "AlwaysAddARHeader yes\nBackground no\nSyslog no\n"
                        "PidFile %s\n" % (port, os.path.join(srv.tmp, "opendkim.pid")))
            od = subprocess.Popen([OPENDKIM, "-f", "-x", conf])
            try:
                deadline = time.time() + 20
                while time.time() < deadline:
                    try:
                        socket.create_connection(("127.0.0.1", port), timeout=1).close()
                        break
                    except OSError:
                        time.sleep(0.1)
                srv.first_start()
                code, text = MilterTest.send(self, srv, "unsigned mail")
                self.assertEqual(code, 250, text)
                raw = MilterTest.fetch(self, srv, "INBOX", "unsigned")
                self.assertIsNotNone(raw)
                head = raw.split(b"\r\n\r\n", 1)[0]
                self.assertIn(b"Authentication-Results: opendkim.test", head)
            finally:
                od.kill()
                od.wait()


if __name__ == "__main__":
    unittest.main()
