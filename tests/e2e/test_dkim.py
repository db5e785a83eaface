#!/usr/bin/env python3
"""End-to-end tests of DKIM signing (issue 13 items 2-4), on loopback: keys
made by "minimailctl dkim keygen", mail submitted on 587 to an outside
domain routed to the SMTP sink of test_relay.py, and every signature
verified by dkimpy (Debian python3-dkim, the reference implementation)
with the TXT records "minimailctl dns" prints, no DNS server needed:
plain text, an 8-bit body, long folded headers, trailing blank lines, a
1 MB attachment; mail from a non-local sender is not signed; a new
selector made while the old one signs, then switched to by a reload; a
damaged key stops the daemon and fails -t; the records of "dns"."""
import os
import re
import smtplib
import stat
import subprocess
import sys
import unittest

import mmtest

try:
    import dkim
except ImportError:                 # a test that cannot run: skipped (77)
    sys.stderr.write("python3-dkim (dkimpy) is not installed\n")
    sys.exit(77)

from test_relay import Sink, USERS, relay_conf, submit, wait_queue, LogOnFailure


def records(srv, domain="example.org", selector=None):
    """The TXT records of "minimailctl dns DOMAIN", as dkimpy's dnsfunc
    wants them: name with final dot -> the strings joined."""
    args = ["dns", domain] + (["--selector", selector] if selector else [])
    out = srv.ctl(*args, check=True).stdout
    recs = {}
    for line in out.splitlines():
        if line.startswith(";"):
            continue
        parts = line.split(" ", 4)
        if len(parts) == 5 and parts[3] == "TXT":
            strings = re.findall(r'"([^"]*)"', parts[4])
            for s in strings:
                assert len(s) <= 255, line
            recs[parts[0].encode()] = "".join(strings).encode()
    return recs, out


def verify_all(data, recs):
    """The number of DKIM-Signature fields and dkimpy's verdict on each."""
    n = len(re.findall(rb"^DKIM-Signature:", data, re.M))

    def dnsfunc(name, timeout=5):
        return recs.get(name)

    def one(i):
        try:
            return dkim.DKIM(data).verify(idx=i, dnsfunc=dnsfunc)
        except dkim.ValidationError:        # a body hash mismatch raises
            return False

    return n, [one(i) for i in range(n)]


def unfolded(head):
    """The header with its folds (CRLF and the WSP after it) removed."""
    return re.sub(rb"\r\n[ \t]+", b"", head)


def message(subject, body=b"Hello over there.\r\n", headers=b"", ctype=None):
    return (b"From: Alice <alice@example.org>\r\n"
            b"To: X <x@remote.test>\r\n"
            b"Subject: " + subject.encode() + b"\r\n"
            b"Date: Tue, 01 Dec 2026 20:00:00 +0000\r\n"
            b"Message-ID: <" + subject.replace(" ", ".").encode() + b"@example.org>\r\n"
            b"MIME-Version: 1.0\r\n"
            + (ctype or b"Content-Type: text/plain; charset=utf-8\r\n") +
            headers + b"\r\n" + body)


class SigningTest(LogOnFailure):
    @classmethod
    def setUpClass(cls):
        cls.sink = Sink().start()
        cls.srv = mmtest.Server(users=USERS, extra_conf=relay_conf(cls.sink.port),
                                start=False)
        r = cls.srv.ctl("dkim", "keygen", "example.org", check=True)
        assert "RSA 2048-bit key for selector mm2026-rsa" in r.stdout, r.stdout
        cls.srv.first_start()
        cls.recs, cls.dns = records(cls.srv)

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()
        cls.sink.stop()

    def setUp(self):
        with self.sink.lock:
            self.sink.messages.clear()

    def roundtrip(self, m, options=()):
        with self.sink.lock:
            self.sink.messages.clear()
        self.assertEqual(submit(self.srv, "alice@example.org", ["x@remote.test"], m,
                                options=options), {})
        (_, _, data), = self.sink.received(1)
        self.assertTrue(data.endswith(m), data[-200:])
        n, ok = verify_all(data, self.recs)
        self.assertEqual(n, 2, data[:2000])
        self.assertEqual(ok, [True, True], data[:2000])
        head = unfolded(data[:data.index(b"\r\n\r\n")])
        self.assertIn(b"a=rsa-sha256; c=relaxed/relaxed; d=example.org;", head)
        self.assertIn(b"a=ed25519-sha256; c=relaxed/relaxed; d=example.org;", head)
        self.assertIn(b"s=mm2026-rsa;", head)
        self.assertIn(b"s=mm2026-ed25519;", head)
        self.assertRegex(head, rb"h=from:from:to:subject:date:message-id:mime-version:"
                         rb"content-type(:content-transfer-encoding)?;")
        return data

    def test_01_keys(self):
        for alg in ("rsa", "ed25519"):
            p = os.path.join(self.srv.data_dir, "dkim", "example.org.mm2026-%s.key" % alg)
            st = os.stat(p)
            self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
            self.assertEqual(st.st_uid, os.getuid())
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(self.srv.data_dir, "dkim")).st_mode),
                         0o700)
        r = self.srv.ctl("dkim", "keygen", "example.org")
        self.assertEqual(r.returncode, 1)
        self.assertIn("exists (a key is never replaced: choose a new selector", r.stderr)
        for bad in (["dkim", "keygen", "example.org", "--selector", "bad_sel"],
                    ["dkim", "keygen", "example.org", "--selector", "a..b"],
                    ["dkim", "keygen", "example.org", "--selector",
                     "x" * 56]):
            r = self.srv.ctl(*bad)
            self.assertEqual(r.returncode, 1, bad)
            self.assertIn("bad selector", r.stderr)
        r = self.srv.ctl("dkim", "keygen", "elsewhere.test")
        self.assertEqual(r.returncode, 1)
        self.assertIn("'elsewhere.test' is not one of the local domains", r.stderr)
        r = self.srv.ctl("dkim", "keygen")
        self.assertEqual(r.returncode, 1)

    def test_02_dns_records(self):
        lines = self.dns.splitlines()
        want = [
            "example.org. 3600 IN MX 10 mail.example.org.",
            'example.org. 3600 IN TXT "v=spf1 mx -all"',
            '_dmarc.example.org. 3600 IN TXT "v=DMARC1; p=quarantine; '
            'rua=mailto:postmaster@example.org"',
            '_smtp._tls.example.org. 3600 IN TXT "v=TLSRPTv1; '
            'rua=mailto:postmaster@example.org"',
            "mta-sts.example.org. 3600 IN CNAME mail.example.org.",
            "_submission._tcp.example.org. 3600 IN SRV 1 1 %d mail.example.org."
            % self.srv.ports["submission"],
            "_submissions._tcp.example.org. 3600 IN SRV 0 1 %d mail.example.org."
            % self.srv.ports["submissions"],
            "_imaps._tcp.example.org. 3600 IN SRV 0 1 %d mail.example.org."
            % self.srv.ports["imaps"],
            "_pop3s._tcp.example.org. 3600 IN SRV 10 1 %d mail.example.org."
            % self.srv.ports["pop3s"],
            "autoconfig.example.org. 3600 IN CNAME mail.example.org.",
            "autodiscover.example.org. 3600 IN CNAME mail.example.org.",
        ]
        for w in want:
            self.assertIn(w, lines)
        self.assertTrue(any(re.match(r'_mta-sts\.example\.org\. 3600 IN TXT "v=STSv1; '
                                     r'id=[0-9a-f]{16}"$', l) for l in lines), self.dns)
        self.assertTrue(any(l.startswith("; mail.example.org. 3600 IN A ") for l in lines))
        rsa = [l for l in lines if l.startswith("mm2026-rsa._domainkey.example.org. 3600 IN TXT ")]
        self.assertEqual(len(rsa), 1)
        # an RSA 2048 key is longer than one string: 255 bytes, then the rest
        strings = re.findall(r'"([^"]*)"', rsa[0])
        self.assertEqual(len(strings), 2)
        self.assertEqual(len(strings[0]), 255)
        self.assertTrue(strings[0].startswith("v=DKIM1; k=rsa; p=MIIBIjAN"))
        ed = [l for l in lines
              if l.startswith("mm2026-ed25519._domainkey.example.org. 3600 IN TXT ")]
        self.assertRegex(ed[0], r'"v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}="$')
        # example.net has no key yet: said so, in a comment
        r = self.srv.ctl("dns", "example.net", check=True)
        self.assertIn("; mm2026-rsa._domainkey.example.net: no key yet "
                      "(minimailctl dkim keygen example.net)", r.stdout)
        r = self.srv.ctl("dns", "elsewhere.test")
        self.assertEqual(r.returncode, 1)
        # "dns check" asks DNS: tests/e2e/test_dns_check.py, with a server

    def test_03_plain(self):
        data = self.roundtrip(message("dkim plain"))
        self.assertRegex(self.srv.log(), r"event=dkim-signed d=example\.org signatures=2")
        wait_queue(self.srv, lambda o: o.strip() == "queue is empty")
        self.assertTrue(data.startswith(b"DKIM-Signature: v=1; a=rsa-sha256;"))

    def test_04_eightbit(self):
        body = "Gr\u00fc\u00dfe aus K\u00f6ln, \u00e7a va?\r\n\u65e5\u672c\u8a9e\r\n"
        self.roundtrip(message("dkim eightbit", body.encode(),
                               b"Content-Transfer-Encoding: 8bit\r\n"),
                       options=["BODY=8BITMIME"])

    def test_04b_eightbit_downgraded(self):
        """A server without 8BITMIME: the relay makes the body
        quoted-printable, then signs what it sends."""
        body = "Gr\u00fc\u00dfe aus K\u00f6ln = sch\u00f6n \r\n".encode()
        m = message("dkim downgraded", body, b"Content-Transfer-Encoding: 8bit\r\n")
        self.sink.eightbit = False
        try:
            with self.sink.lock:
                self.sink.messages.clear()
            submit(self.srv, "alice@example.org", ["x@remote.test"], m,
                   options=["BODY=8BITMIME"])
            (_, _, data), = self.sink.received(1)
        finally:
            self.sink.eightbit = True
        self.assertTrue(all(b < 0x80 for b in data), data)
        self.assertTrue(data.endswith(b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
                                      b"Gr=C3=BC=C3=9Fe aus K=C3=B6ln =3D sch=C3=B6n=20\r\n"),
                        data[-300:])
        mail = [l for l in self.sink.log if l.startswith("MAIL FROM:")][-1]
        self.assertEqual(mail, "MAIL FROM:<alice@example.org> SIZE=%d" % len(data))
        self.assertEqual(verify_all(data, self.recs), (2, [True, True]))
        self.assertIn("event=downgraded", self.srv.log())

    def test_05_long_folded_headers(self):
        subject = " ".join("word%d" % i for i in range(60))
        folded = b"Subject: " + subject.encode()
        m = (b"From: Alice\r\n \t<alice@example.org>\r\n"
             b"To: " + b",\r\n ".join(b"X%d <x%d@remote.test>" % (i, i) for i in range(40)) +
             b"\r\n"
             b"Cc: a@remote.test,\r\n\tb@remote.test  \r\n"
             b"Subject: a subject folded\r\n over   three\r\n\tlines   \r\n"
             b"References: " + b"\r\n ".join(b"<ref%d@example.org>" % i for i in range(50)) +
             b"\r\n"
             b"X-Long: " + b"y" * 900 + b"\r\n"
             b"Date: Tue, 01 Dec 2026 20:00:00 +0000\r\n"
             b"Message-ID: <folded@example.org>\r\n"
             b"\r\n"
             b"Body  with   spaces \t \r\n")
        with self.sink.lock:
            self.sink.messages.clear()
        submit(self.srv, "alice@example.org", ["x@remote.test"], m)
        (_, _, data), = self.sink.received(1)
        n, ok = verify_all(data, self.recs)
        self.assertEqual((n, ok), (2, [True, True]))
        self.assertIn(b"h=from:from:to:cc:subject:date:message-id:references;",
                      unfolded(data))
        self.assertFalse(folded in data)

    def test_06_trailing_blank_lines(self):
        self.roundtrip(message("dkim blank", b"Text.\r\n\r\n\r\n\r\n \r\n\r\n"))
        self.roundtrip(message("dkim empty", b""))

    def test_07_one_megabyte_attachment(self):
        import base64
        blob = base64.encodebytes(os.urandom(768 * 1024)).replace(b"\n", b"\r\n")
        body = (b"--b1\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n"
                b"--b1\r\nContent-Type: application/octet-stream\r\n"
                b"Content-Transfer-Encoding: base64\r\n"
                b"Content-Disposition: attachment; filename=\"x.bin\"\r\n\r\n" + blob +
                b"--b1--\r\n")
        self.assertGreater(len(body), 1024 * 1024)
        self.roundtrip(message("dkim attachment", body,
                               ctype=b"Content-Type: multipart/mixed; boundary=\"b1\"\r\n"))

    def test_07b_streamed_with_trailing_blank_lines(self):
        # over 256 KiB: relayed from the store a chunk at a time, its body
        # hash computed over the chunks first (issue 18); spaces at line
        # ends, dot lines, and trailing blank lines for the relaxed canon
        line = b"Some text with  spaces \t and a tab.   \r\n"
        body = b"".join(line if i % 5 else b"." + line for i in range(40000))
        body += b"\r\n \r\n\r\n\t\r\n\r\n"
        self.assertGreater(len(body), 1024 * 1024)
        self.roundtrip(message("dkim streamed", body))
        self.assertIn("event=body-streamed", self.srv.log())

    def test_08_altered_in_transit_fails(self):
        data = self.roundtrip(message("dkim altered", b"Pay 10 EUR.\r\n"))
        n, ok = verify_all(data.replace(b"Pay 10 EUR", b"Pay 99 EUR"), self.recs)
        self.assertEqual((n, ok), (2, [False, False]))
        n, ok = verify_all(b"From: Mallory <m@example.org>\r\n" + data, self.recs)
        self.assertEqual((n, ok), (2, [False, False]))   # From is over-signed

    def test_09_non_local_sender_not_signed(self):
        self.srv.ctl("alias", "add", "fwd@example.org", "x@remote.test", check=True)
        m = (b"From: Someone <someone@elsewhere.test>\r\nTo: fwd@example.org\r\n"
             b"Subject: dkim foreign\r\n\r\nFrom outside.\r\n")
        with self.sink.lock:
            self.sink.messages.clear()
        s = smtplib.SMTP("127.0.0.1", self.srv.ports["smtp"], timeout=20)
        s.sendmail("someone@elsewhere.test", ["fwd@example.org"], m)
        s.quit()
        (mail, _, data), = self.sink.received(1)
        self.assertEqual(mail, "someone@elsewhere.test")
        self.assertTrue(data.endswith(m))
        self.assertNotIn(b"DKIM-Signature", data)
        self.assertIn("event=dkim-skip reason=\"sender not local\"", self.srv.log())

    def test_10_rotation(self):
        r = self.srv.ctl("dkim", "keygen", "example.org", "--selector", "mm2027", check=True)
        self.assertIn("then set [dkim] selector = mm2027 and reload", r.stdout)
        # the old selector signs on
        data = self.roundtrip(message("dkim before switch"))
        self.assertIn(b"s=mm2026-rsa;", data)
        new, _ = records(self.srv, selector="mm2027")
        self.assertIn(b"mm2027-ed25519._domainkey.example.org.", new)
        # switch: the config names the new selector, SIGHUP
        logged = len(self.srv.log())
        self.srv.extra_conf = relay_conf(self.sink.port) + "\n[dkim]\nselector = mm2027\n"
        self.srv.write_conf()
        self.srv.reload()
        import time
        deadline = time.time() + 10
        while "reload: done" not in self.srv.log()[logged:] and time.time() < deadline:
            time.sleep(0.1)
        self.assertIn("reload: done", self.srv.log()[logged:])
        with self.sink.lock:
            self.sink.messages.clear()
        m = message("dkim after switch")
        submit(self.srv, "alice@example.org", ["x@remote.test"], m)
        (_, _, data), = self.sink.received(1)
        self.assertIn(b"s=mm2027-rsa;", data)
        self.assertIn(b"s=mm2027-ed25519;", data)
        both = dict(self.recs)
        both.update(new)
        self.assertEqual(verify_all(data, both), (2, [True, True]))
        self.assertEqual(verify_all(data, self.recs)[1], [False, False])  # old keys only


class BadKeyTest(LogOnFailure):
    def test_02_damaged_key_on_reload(self):
        """A key damaged while the daemon runs: the reload fails, the
        running keys go on signing."""
        import time
        sink = Sink().start()
        self.srv = mmtest.Server(users=USERS, extra_conf=relay_conf(sink.port), start=False)
        try:
            self.srv.ctl("dkim", "keygen", "example.org", check=True)
            recs, _ = records(self.srv)
            self.srv.first_start()
            # listeners accept before the keys are read: wait for READY
            deadline = time.time() + 20
            while " ready: hostname=" not in self.srv.log() and time.time() < deadline:
                time.sleep(0.05)
            path = os.path.join(self.srv.data_dir, "dkim", "example.org.mm2026-ed25519.key")
            with open(path, "w") as f:
                f.write("garbage\n")
            logged = len(self.srv.log())
            self.srv.reload()
            deadline = time.time() + 10
            while "reload failed" not in self.srv.log()[logged:] and time.time() < deadline:
                time.sleep(0.1)
            self.assertIn("dkim: " + path + ": not a PEM private key", self.srv.log()[logged:])
            self.assertIn("reload failed: a DKIM key cannot be used; keeping the running "
                          "configuration", self.srv.log()[logged:])
            m = message("dkim after bad reload")
            submit(self.srv, "alice@example.org", ["x@remote.test"], m)
            (_, _, data), = sink.received(1)
            self.assertEqual(verify_all(data, recs), (2, [True, True]))
        finally:
            self.srv.close()
            sink.stop()

    def test_01_damaged_key(self):
        self.srv = mmtest.Server(users=USERS, start=False)
        try:
            self.srv.ctl("dkim", "keygen", "example.org", check=True)
            path = os.path.join(self.srv.data_dir, "dkim", "example.org.mm2026-rsa.key")
            with open(path, "w") as f:
                f.write("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
            r = subprocess.run([mmtest.MINIMAILD, "-t", "-c", self.srv.conf_path],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 1)
            self.assertIn(path + ": not a PEM private key", r.stderr)
            r = self.srv.ctl("check")
            self.assertEqual(r.returncode, 1)
            self.assertIn(path + ": not a PEM private key", r.stderr)
            # the daemon refuses to start, with the reason
            p = subprocess.run([mmtest.MINIMAILD, "-f", "-c", self.srv.conf_path],
                               capture_output=True, text=True, timeout=30)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn("dkim: " + path + ": not a PEM private key", p.stderr)
            # the Ed25519 key where the RSA one belongs: refused too
            os.unlink(path)
            os.link(path.replace("-rsa.key", "-ed25519.key"), path)
            r = subprocess.run([mmtest.MINIMAILD, "-t", "-c", self.srv.conf_path],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 1)
            self.assertIn(path + ": not an RSA key", r.stderr)
            # a missing key is only a warning: that domain is not signed
            os.unlink(path)
            r = subprocess.run([mmtest.MINIMAILD, "-t", "-c", self.srv.conf_path],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn(path + ": warning: no DKIM key: mail from example.org is not "
                          "signed with it", r.stderr)
            # [dkim] sign = no: no key is looked at
            self.srv.extra_conf = "[dkim]\nsign = no\n"
            self.srv.write_conf()
            r = subprocess.run([mmtest.MINIMAILD, "-t", "-c", self.srv.conf_path],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 0)
            self.assertNotIn("DKIM", r.stderr)
        finally:
            self.srv.close()


@unittest.skipUnless(os.getuid() == 0, "needs root")
class RunAsTest(LogOnFailure):
    """Run as root: keygen makes the keys as run_as, and the daemon, which
    reads them before it drops to run_as and again on SIGHUP after it,
    signs with them."""

    def test_01_keys_belong_to_run_as(self):
        import pwd
        import time
        nobody = pwd.getpwnam("nobody")
        self.srv = mmtest.Server(users={}, start=False)
        os.chmod(self.srv.tmp, 0o755)
        os.chmod(self.srv.key, 0o644)
        self.srv.write_conf(self.srv.conf_text().replace("run_as = root", "run_as = nobody"))
        saved = os.environ.get("ASAN_OPTIONS")
        os.environ["ASAN_OPTIONS"] = (saved + ":" if saved else "") + "detect_leaks=0"
        try:
            self.srv.ctl("dkim", "keygen", "example.org", check=True)
            for alg in ("rsa", "ed25519"):
                st = os.stat(os.path.join(self.srv.data_dir, "dkim",
                                          "example.org.mm2026-%s.key" % alg))
                self.assertEqual((st.st_uid, stat.S_IMODE(st.st_mode)), (nobody.pw_uid, 0o600))
            self.assertEqual(os.stat(os.path.join(self.srv.data_dir, "dkim")).st_uid,
                             nobody.pw_uid)
            self.srv.start()
            # listeners accept before the loop runs: wait for READY
            deadline = time.time() + 20
            while " ready: hostname=" not in self.srv.log() and time.time() < deadline:
                time.sleep(0.05)
            logged = len(self.srv.log())
            self.srv.reload()
            deadline = time.time() + 10
            while "reload: done" not in self.srv.log()[logged:] and time.time() < deadline:
                time.sleep(0.1)
            self.assertIn("reload: done", self.srv.log()[logged:])
            self.assertNotIn("reload failed", self.srv.log()[logged:])
            self.assertEqual(self.srv.stop(), 0, self.srv.log())
        finally:
            if saved is None:
                del os.environ["ASAN_OPTIONS"]
            else:
                os.environ["ASAN_OPTIONS"] = saved
            self.srv.close()


if __name__ == "__main__":
    mmtest.main()
