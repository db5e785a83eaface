#!/usr/bin/env python3
"""Port 25 judges what arrives (issue 14): SPF, DMARC and the
Authentication-Results header, against a loopback DNS server (mmdns)
holding the senders' records; Python's smtplib sends, imaplib reads what
the user sees.

- an aligned SPF pass: delivered to INBOX with spf=pass and dmarc=pass in
  one Authentication-Results for our hostname, right below Return-Path;
- From: a p=reject domain, sent by someone else: 550 5.7.1, nothing stored;
- p=quarantine: delivered into Junk; p=none: INBOX with dmarc=fail;
- a forged Authentication-Results claiming our hostname is gone, one from
  another server stays;
- p=reject while the sender's SPF cannot be looked up (DNS stalls):
  451 4.7.1, never a 550;
- `minimailctl auth-check` prints the same header port 25 adds, and
  `spf-check` the same SPF result."""
import imaplib
import os
import smtplib
import subprocess
import sys
import tempfile
import unittest

try:
    from mmdns import DnsServer
except ImportError as e:
    print("SKIP: %s" % e)
    sys.exit(77)

from mmtest import HOSTNAME, MINIMAILCTL, Server

ZONE = {
    "good.test": {"TXT": ["v=spf1 ip4:127.0.0.1 -all"]},
    "_dmarc.good.test": {"TXT": ["v=DMARC1; p=reject"]},
    "bank.test": {"TXT": ["v=spf1 ip4:192.0.2.1 -all"]},
    "_dmarc.bank.test": {"TXT": ["v=DMARC1; p=reject; rua=mailto:d@bank.test"]},
    "shop.test": {"TXT": ["v=spf1 -all"]},
    "_dmarc.shop.test": {"TXT": ["v=DMARC1; p=quarantine"]},
    "news.test": {"TXT": ["v=spf1 -all"]},
    "_dmarc.news.test": {"TXT": ["v=DMARC1; p=none"]},
    "other.test": {"TXT": ["v=spf1 ip4:127.0.0.0/8 -all"]},
    "slow.test": "STALL",
    "_dmarc.strict.test": {"TXT": ["v=DMARC1; p=reject"]},
}

INBOUND = "spf = yes\ndkim = no\ndmarc = yes\ndmarc_reject = yes"


def message(frm, subject, extra=""):
    return ("%sFrom: <%s>\r\nTo: <alice@example.org>\r\nSubject: %s\r\n"
            "Message-ID: <%s@test>\r\n\r\nbody of %s\r\n" % (
                extra, frm, subject, subject.replace(" ", "-"), subject)).encode()


class InboundTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dns = DnsServer(ZONE)
        cls.dns.__enter__()
        cls.srv = Server(inbound=INBOUND, extra_conf="[dns]\nnameservers = 127.0.0.1:%d\n"
                         "timeout = 1s\n" % cls.dns.port)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop_checked()
        cls.srv.close()
        cls.dns.__exit__(None, None, None)

    def send(self, mail_from, msg):
        s = smtplib.SMTP("127.0.0.1", self.srv.ports["smtp"], timeout=30)
        try:
            s.ehlo("client.good.test")
            s.mail(mail_from)
            code, _ = s.rcpt("alice@example.org")
            self.assertEqual(code, 250)
            s.putcmd("data")
            code, _ = s.getreply()
            self.assertEqual(code, 354)
            s.send(msg.replace(b"\r\n.", b"\r\n..") + b".\r\n")
            code, text = s.getreply()
            s.quit()
            return code, text.decode()
        finally:
            s.close()

    def fetch(self, mailbox, subject):
        """The raw message with this subject in mailbox, or None."""
        c = imaplib.IMAP4_SSL("127.0.0.1", self.srv.ports["imaps"],
                              ssl_context=self.srv.ssl_context())
        try:
            c.login("alice@example.org", "alice-secret")
            typ, _ = c.select(mailbox, readonly=True)
            self.assertEqual(typ, "OK")
            typ, data = c.search(None, "SUBJECT", '"%s"' % subject)
            nums = data[0].split()
            if not nums:
                return None
            typ, data = c.fetch(nums[-1], "(BODY.PEEK[])")
            return data[0][1]
        finally:
            c.logout()

    def authres(self, raw):
        """Our Authentication-Results headers, unfolded."""
        head = raw.split(b"\r\n\r\n", 1)[0].decode()
        fields, cur = [], None
        for line in head.split("\r\n"):
            if line[:1] in (" ", "\t") and cur is not None:
                cur += " " + line.strip()
                continue
            if cur is not None:
                fields.append(cur)
            cur = line
        fields.append(cur)
        return fields, [f for f in fields if f.lower().startswith("authentication-results:")]

    def test_aligned_pass(self):
        code, _ = self.send("sender@good.test", message("sender@good.test", "aligned pass"))
        self.assertEqual(code, 250)
        raw = self.fetch("INBOX", "aligned pass")
        self.assertIsNotNone(raw)
        fields, ar = self.authres(raw)
        self.assertEqual(len(ar), 1)
        self.assertTrue(fields[0].startswith("Return-Path:"))
        self.assertTrue(fields[1].startswith("Authentication-Results: " + HOSTNAME + ";"), fields[1])
        self.assertIn("spf=pass smtp.mailfrom=sender@good.test", ar[0])
        self.assertIn("dmarc=pass header.from=good.test", ar[0])

    def test_reject_unaligned(self):
        code, text = self.send("bounce@other.test", message("security@bank.test", "bank phish"))
        self.assertEqual(code, 550)
        self.assertIn("5.7.1", text)
        self.assertIn("bank.test", text)
        self.assertIsNone(self.fetch("INBOX", "bank phish"))
        self.assertIsNone(self.fetch("Junk", "bank phish"))

    def test_quarantine_to_junk(self):
        code, _ = self.send("bounce@other.test", message("deals@shop.test", "shop offer"))
        self.assertEqual(code, 250)
        self.assertIsNone(self.fetch("INBOX", "shop offer"))
        raw = self.fetch("Junk", "shop offer")
        self.assertIsNotNone(raw)
        self.assertIn("dmarc=fail header.from=shop.test", self.authres(raw)[1][0])

    def test_none_policy_delivers(self):
        code, _ = self.send("bounce@other.test", message("editor@news.test", "news letter"))
        self.assertEqual(code, 250)
        raw = self.fetch("INBOX", "news letter")
        self.assertIsNotNone(raw)
        ar = self.authres(raw)[1][0]
        self.assertIn("spf=pass smtp.mailfrom=bounce@other.test", ar)
        self.assertIn("dmarc=fail header.from=news.test", ar)

    def test_forged_authres_removed(self):
        forged = ("Authentication-Results: %s; dkim=pass header.d=bank.test\r\n"
                  "Authentication-Results: mx.elsewhere.test; spf=pass\r\n" % HOSTNAME.upper())
        code, _ = self.send("sender@good.test", message("sender@good.test", "forged header", forged))
        self.assertEqual(code, 250)
        raw = self.fetch("INBOX", "forged header")
        _, ar = self.authres(raw)
        ours = [a for a in ar if HOSTNAME in a.lower()]
        self.assertEqual(len(ours), 1)
        self.assertNotIn("header.d=bank.test", ours[0])
        self.assertTrue(any("mx.elsewhere.test" in a for a in ar))

    def test_tempfail_when_spf_unknown(self):
        code, text = self.send("someone@slow.test", message("boss@strict.test", "strict slow"))
        self.assertEqual(code, 451, text)
        self.assertIn("4.7.1", text)
        self.assertIsNone(self.fetch("INBOX", "strict slow"))

    def test_ctl_same_answers(self):
        r = self.srv.ctl("spf-check", "127.0.0.1", "sender@good.test", "client.good.test")
        self.assertEqual((r.returncode, r.stdout), (0, "pass\n"))
        r = self.srv.ctl("spf-check", "127.0.0.1", "x@shop.test", "client.good.test")
        self.assertEqual(r.stdout.split()[0], "fail")
        with tempfile.NamedTemporaryFile("wb", suffix=".eml", delete=False) as f:
            f.write(message("security@bank.test", "ctl check").replace(b"\r\n", b"\n"))
        try:
            r = self.srv.ctl("auth-check", "--ip", "127.0.0.1", "--helo", "client.good.test",
                             "--mail-from", "bounce@other.test", f.name)
        finally:
            os.unlink(f.name)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout,
                         "Authentication-Results: %s;\n"
                         "\tspf=pass smtp.mailfrom=bounce@other.test;\n"
                         "\tdmarc=fail header.from=bank.test\n" % HOSTNAME)
        r = self.srv.ctl("auth-check", "/nonexistent/message")
        self.assertEqual(r.returncode, 1)
        self.assertIn("/nonexistent/message", r.stderr)

    def test_daemon_still_serves(self):
        # after all the above, ordinary mail still flows
        code, _ = self.send("sender@good.test", message("sender@good.test", "still here"))
        self.assertEqual(code, 250)


BL_ZONE = {
    "1.0.0.127.bl.test": {"A": ["127.0.0.2"], "TXT": ["listed for testing"]},
    "2.0.0.127.bl.test": {"A": ["127.255.255.254"]},   # "query refused"
    "3.0.0.127.bl.test": {"A": ["127.0.0.4"]},
    "3.0.0.127.wl.test": {"A": ["127.0.10.1"]},
    "4.0.0.127.bl.test": "SERVFAIL",
}


class DnsblTest(unittest.TestCase):
    """[inbound] dnsbl at connect time: a listing is refused with 554
    5.7.1 and the list's text; a "query refused" code, a DNS error and an
    allowlisted address are greeted."""

    @classmethod
    def setUpClass(cls):
        cls.dns = DnsServer(BL_ZONE)
        cls.dns.__enter__()
        cls.srv = Server(inbound="spf = no\ndkim = no\ndmarc = no\ndnsbl = bl.test\n"
                         "dnswl = wl.test",
                         extra_conf="[dns]\nnameservers = 127.0.0.1:%d\ntimeout = 1s\n" % cls.dns.port)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop_checked()
        cls.srv.close()
        cls.dns.__exit__(None, None, None)

    def greeting(self, source):
        import socket
        s = socket.create_connection(("127.0.0.1", self.srv.ports["smtp"]), timeout=20,
                                     source_address=(source, 0))
        try:
            return s.makefile("rb").readline().decode()
        finally:
            s.close()

    def test_listed_refused(self):
        g = self.greeting("127.0.0.1")
        self.assertTrue(g.startswith("554 5.7.1 "), g)
        self.assertIn("bl.test: listed for testing", g)

    def test_refused_query_not_a_listing(self):
        self.assertTrue(self.greeting("127.0.0.2").startswith("220 "))

    def test_allowlisted(self):
        self.assertTrue(self.greeting("127.0.0.3").startswith("220 "))

    def test_dns_error_never_refuses(self):
        self.assertTrue(self.greeting("127.0.0.4").startswith("220 "))
        self.assertTrue(self.greeting("127.0.0.5").startswith("220 "))   # NXDOMAIN


if __name__ == "__main__":
    unittest.main()
