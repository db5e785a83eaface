#!/usr/bin/env python3
"""DKIM verification on port 25 against a reference implementation
(issue 14): messages signed by dkimpy (Debian's python3-dkim) with RSA
and Ed25519 keys, relaxed and simple canonicalization, whose public keys
a loopback DNS server (mmdns) publishes, arrive with dkim=pass for each
signature (header.d, header.s); a body or a signed header altered after
signing gives dkim=fail; a key that is not published gives neutral (no
key); an aligned DKIM pass makes DMARC pass even where SPF fails, and a
forged Authentication-Results claiming our hostname is gone. imaplib
reads what arrived."""
import base64
import imaplib
import smtplib
import subprocess
import sys
import tempfile
import unittest

try:
    import dkim
    import nacl.signing
    from mmdns import DnsServer
except ImportError as e:
    print("SKIP: %s" % e)
    sys.exit(77)

from mmtest import HOSTNAME, Server


def rsa_key():
    with tempfile.NamedTemporaryFile() as f:
        subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                        "rsa_keygen_bits:2048", "-out", f.name], check=True,
                       capture_output=True)
        priv = open(f.name, "rb").read()
        der = subprocess.run(["openssl", "pkey", "-in", f.name, "-pubout", "-outform", "DER"],
                             check=True, capture_output=True).stdout
    return priv, "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()


def ed_key():
    sk = nacl.signing.SigningKey.generate()
    return (base64.b64encode(bytes(sk)),
            "v=DKIM1; k=ed25519; p=" + base64.b64encode(bytes(sk.verify_key)).decode())


RSA_PRIV, RSA_TXT = rsa_key()
ED_PRIV, ED_TXT = ed_key()

ZONE = {
    "rsa._domainkey.signer.test": {"TXT": [RSA_TXT]},
    "ed._domainkey.signer.test": {"TXT": [ED_TXT]},
    "signer.test": {"TXT": ["v=spf1 -all"]},           # SPF fails: DKIM must carry DMARC
    "_dmarc.signer.test": {"TXT": ["v=DMARC1; p=reject"]},
}

HEADERS = [b"from", b"to", b"subject", b"date", b"message-id"]


def make(subject, body=b"Signed text.\r\nSecond line.\r\n"):
    return (b"From: Signer <news@signer.test>\r\nTo: alice@example.org\r\n"
            b"Subject: " + subject.encode() + b"\r\nDate: Tue, 01 Dec 2026 10:00:00 +0000\r\n"
            b"Message-ID: <" + subject.replace(" ", ".").encode() + b"@signer.test>\r\n\r\n" + body)


def sign(msg, selector, priv, algo, canon):
    sig = dkim.sign(msg, selector.encode(), b"signer.test", priv, canonicalize=canon,
                    signature_algorithm=algo, include_headers=HEADERS)
    return sig + msg


class DkimInboundTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dns = DnsServer(ZONE)
        cls.dns.__enter__()
        cls.srv = Server(inbound="spf = yes\ndkim = yes\ndmarc = yes\ndmarc_reject = yes",
                         extra_conf="[dns]\nnameservers = 127.0.0.1:%d\ntimeout = 1s\n" % cls.dns.port)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop_checked()
        cls.srv.close()
        cls.dns.__exit__(None, None, None)

    def send(self, raw):
        s = smtplib.SMTP("127.0.0.1", self.srv.ports["smtp"], timeout=30)
        try:
            s.ehlo("mx.signer.test")
            s.mail("bounces@signer.test")
            s.rcpt("alice@example.org")
            s.putcmd("data")
            self.assertEqual(s.getreply()[0], 354)
            s.send(raw.replace(b"\r\n.", b"\r\n..") + b".\r\n")
            code, text = s.getreply()
            s.quit()
            return code, text.decode()
        finally:
            s.close()

    def authres(self, subject):
        c = imaplib.IMAP4_SSL("127.0.0.1", self.srv.ports["imaps"], ssl_context=self.srv.ssl_context())
        try:
            c.login("alice@example.org", "alice-secret")
            c.select("INBOX", readonly=True)
            typ, data = c.search(None, "HEADER", "Message-ID", subject.replace(" ", "."))
            nums = data[0].split()
            self.assertTrue(nums, "message %r not in INBOX" % subject)
            typ, data = c.fetch(nums[-1], "(BODY.PEEK[HEADER])")
            head = data[0][1].decode()
        finally:
            c.logout()
        unfolded = head.replace("\r\n\t", " ").replace("\r\n ", " ")
        return [l for l in unfolded.split("\r\n")
                if l.lower().startswith("authentication-results: " + HOSTNAME)]

    def test_rsa_and_ed25519_both_canonicalizations(self):
        for sel, priv, algo in (("rsa", RSA_PRIV, b"rsa-sha256"), ("ed", ED_PRIV, b"ed25519-sha256")):
            for canon in ((b"relaxed", b"relaxed"), (b"simple", b"simple"), (b"relaxed", b"simple")):
                subject = "pass %s %s %s" % (sel, canon[0].decode(), canon[1].decode())
                code, text = self.send(sign(make(subject), sel, priv, algo, canon))
                self.assertEqual(code, 250, text)
                ar = self.authres(subject)
                self.assertEqual(len(ar), 1, ar)
                self.assertIn("dkim=pass header.d=signer.test header.s=%s" % sel, ar[0])
                self.assertIn("spf=fail", ar[0])
                self.assertIn("dmarc=pass header.from=signer.test", ar[0])

    def test_big_message_spooled(self):
        # 3 MB: over the 256 KiB spool threshold, so the body hash is fed
        # from the spool's chunks as they stream in (issue 18); altering
        # a byte far into it must still fail
        body = b"".join(b"line %07d of a big signed message\r\n" % i for i in range(80000))
        subject = "big spooled"
        code, text = self.send(sign(make(subject, body), "rsa", RSA_PRIV, b"rsa-sha256",
                                    (b"relaxed", b"relaxed")))
        self.assertEqual(code, 250, text)
        ar = self.authres(subject)
        self.assertIn("dkim=pass header.d=signer.test header.s=rsa", ar[0])
        m = sign(make("big altered", body), "ed", ED_PRIV, b"ed25519-sha256",
                 (b"simple", b"simple"))
        code, _ = self.send(m.replace(b"line 0070000 of", b"line 0070000 0f"))
        self.assertEqual(code, 550)

    def test_two_signatures(self):
        subject = "two signatures"
        m = sign(make(subject), "rsa", RSA_PRIV, b"rsa-sha256", (b"relaxed", b"relaxed"))
        m = dkim.sign(m, b"ed", b"signer.test", ED_PRIV, canonicalize=(b"relaxed", b"relaxed"),
                      signature_algorithm=b"ed25519-sha256", include_headers=HEADERS) + m
        self.assertEqual(self.send(m)[0], 250)
        ar = self.authres(subject)[0]
        self.assertIn("header.s=rsa", ar)
        self.assertIn("header.s=ed", ar)
        self.assertEqual(ar.count("dkim=pass"), 2)

    def test_altered_body_and_header_fail(self):
        # altered: DKIM fails, SPF fails, DMARC p=reject: refused
        m = sign(make("altered body"), "rsa", RSA_PRIV, b"rsa-sha256", (b"relaxed", b"relaxed"))
        code, text = self.send(m.replace(b"Second line.", b"Second line!"))
        self.assertEqual(code, 550, text)
        m = sign(make("altered header"), "ed", ED_PRIV, b"ed25519-sha256", (b"simple", b"simple"))
        code, _ = self.send(m.replace(b"Subject: altered header", b"Subject: altered header!"))
        self.assertEqual(code, 550)

    def test_unpublished_key(self):
        m = sign(make("no key"), "missing", RSA_PRIV, b"rsa-sha256", (b"relaxed", b"relaxed"))
        code, text = self.send(m)
        self.assertEqual(code, 550, text)           # nothing aligned passes: p=reject
        r = self.srv.ctl("auth-check", "--ip", "127.0.0.1", "--mail-from", "bounces@signer.test",
                         "-", input=m.decode())
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("dkim=neutral", r.stdout)
        self.assertIn("header.s=missing", r.stdout)

    def test_forged_authres_gone(self):
        subject = "forged results"
        m = sign(make(subject), "rsa", RSA_PRIV, b"rsa-sha256", (b"relaxed", b"relaxed"))
        m = b"Authentication-Results: " + HOSTNAME.encode() + b"; dkim=pass header.d=paypal.com\r\n" + m
        self.assertEqual(self.send(m)[0], 250)
        ar = self.authres(subject)
        self.assertEqual(len(ar), 1)
        self.assertNotIn("paypal.com", ar[0])

    def test_unsigned_says_none(self):
        r = self.srv.ctl("auth-check", "-", input=make("unsigned").decode())
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("dkim=none", r.stdout)


if __name__ == "__main__":
    unittest.main()
