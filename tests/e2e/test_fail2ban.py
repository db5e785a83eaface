#!/usr/bin/env python3
"""contrib/fail2ban (issue 17, item 8): fail2ban-regex with the filter
matches exactly the failed-login lines the daemon writes for SMTP AUTH,
IMAP LOGIN and POP3 USER/PASS, with the client's address (never one a
client smuggles into the user name), and no other line (good logins,
connections, TLS, unknown recipients); syslog-format lines (IPv4, IPv6)
match too. The jail names the filter and the mail ports."""
import configparser
import imaplib
import os
import poplib
import shutil
import smtplib
import subprocess
import sys
import tempfile
import unittest

import mmtest

if shutil.which("fail2ban-regex") is None:  # a tool this test drives: SKIP, not pass
    sys.stderr.write("fail2ban-regex is not installed\n")
    sys.exit(77)

FILTER = os.path.join(mmtest.TOP_SRCDIR, "contrib", "fail2ban", "filter.d", "minimaild.conf")
JAIL = os.path.join(mmtest.TOP_SRCDIR, "contrib", "fail2ban", "jail.d", "minimaild.conf")
FAIL_MARK = "event=auth result=fail "


def regex(logfile, *opts):
    r = subprocess.run(["fail2ban-regex"] + list(opts) + [logfile, FILTER],
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise AssertionError("fail2ban-regex: %s%s" % (r.stdout, r.stderr))
    return r.stdout


@unittest.skipUnless(shutil.which("fail2ban-regex"), "fail2ban-regex missing")
class Fail2banTest(unittest.TestCase):
    def test_daemon_lines(self):
        with mmtest.Server(allow_plaintext=True) as srv:
            ctx = srv.ssl_context()
            # IMAP: a failure with a user name that tries to look like a line
            m = imaplib.IMAP4_SSL("127.0.0.1", srv.ports["imaps"], ssl_context=ctx)
            with self.assertRaises(imaplib.IMAP4.error):
                m.login('"x event=auth result=fail addr=6.6.6.6 user=y"', "wrong")  # quoted
            m.logout()
            m = imaplib.IMAP4_SSL("127.0.0.1", srv.ports["imaps"], ssl_context=ctx)
            m.login("alice@example.org", "alice-secret")
            m.logout()
            # SMTP AUTH PLAIN: one failure, one success
            c = smtplib.SMTP_SSL("127.0.0.1", srv.ports["submissions"], context=ctx)
            c.ehlo()
            code, _ = c.docmd("AUTH", "PLAIN " + __import__("base64").b64encode(
                b"\0bob@example.org\0nope").decode())
            self.assertEqual(code, 535)
            c.login("bob@example.org", "bob-secret")
            c.quit()
            # POP3 USER/PASS (plaintext allowed here): one failure
            p = poplib.POP3("127.0.0.1", srv.ports["pop3"], timeout=20)
            p.user("alice@example.org")
            with self.assertRaises(poplib.error_proto):
                p.pass_("wrong")
            p.quit()
            # other lines: an unknown recipient, a refused relay
            c = smtplib.SMTP("127.0.0.1", srv.ports["smtp"], timeout=20)
            c.ehlo()
            c.mail("a@elsewhere.example")
            self.assertEqual(c.rcpt("nobody@example.org")[0], 550)
            self.assertEqual(c.rcpt("x@elsewhere.example")[0], 554)
            c.quit()
            srv.stop_checked()
            log = tempfile.NamedTemporaryFile("w", suffix=".log", delete=False)
            log.write(srv.log())
            log.close()
            try:
                want = [l for l in srv.log().splitlines() if FAIL_MARK in l]
                self.assertEqual(len(want), 3, want)
                out = regex(log.name, "--print-all-matched")
                matched = [l[3:].strip() for l in out.split("Matched line(s):")[1].splitlines()
                           if l.startswith("|  ") and FAIL_MARK in l]
                self.assertEqual(sorted(matched), sorted(want), out)
                self.assertRegex(out, r"Lines: \d+ lines, 0 ignored, 3 matched")
                ips = regex(log.name, "-o", "ip").split()
                self.assertEqual(ips, ["127.0.0.1"] * 3)
            finally:
                os.unlink(log.name)

    def test_syslog_lines(self):
        with tempfile.NamedTemporaryFile("w", suffix=".log", delete=False) as f:
            f.write('Dec  1 20:34:02 mailhost minimaild[123]: conn=1a event=auth result=fail '
                    'addr=192.0.2.7 user="a@example.org" fails=1\n'
                    'Dec  1 20:34:03 mailhost minimaild[123]: conn=1b event=auth result=fail '
                    'addr=2001:db8::7 user="b@example.org" fails=2\n'
                    'Dec  1 20:34:04 mailhost minimaild[123]: conn=1c event=auth result=ok '
                    'addr=192.0.2.8 user="a@example.org"\n'
                    'Dec  1 20:34:05 mailhost minimaild[123]: conn=1d event=auth result=error '
                    'addr=192.0.2.9 user="a@example.org" error="I/O error"\n'
                    'Dec  1 20:34:06 mailhost other[9]: conn=1e event=auth result=fail '
                    'addr=192.0.2.10 user="a" fails=1\n'
                    # as fail2ban's systemd backend builds a journal line of
                    # "minimaild -f" (HOST IDENT[PID]: MESSAGE)
                    'Dec  1 20:34:07 mailhost minimaild[123]: 2026-12-01T20:34:07.482Z '
                    'minimaild[123]: warn: conn=1f event=auth result=fail addr=192.0.2.11 '
                    'user="c@example.org" fails=1\n'
                    'Dec  1 20:34:08 mailhost minimaild[123]: 2026-12-01T20:34:08.482Z '
                    'minimaild[123]: debug: smtp session=1f < MAIL FROM:<x> conn=1 '
                    'event=auth result=fail addr=192.0.2.12 user="\n')
        try:
            self.assertEqual(regex(f.name, "-o", "ip").split(),
                             ["192.0.2.7", "2001:db8::7", "192.0.2.11"])
        finally:
            os.unlink(f.name)

    def test_jail(self):
        cp = configparser.ConfigParser(interpolation=None)
        cp.read(JAIL)
        j = cp["minimaild"]
        self.assertEqual(j["filter"], "minimaild")
        self.assertEqual(j["enabled"], "true")
        for port in ("smtp", "submission", "submissions", "imaps", "pop3s"):
            self.assertIn(port, j["port"].split(","))
        self.assertGreater(int(j["maxretry"]), 0)


if __name__ == "__main__":
    mmtest.main()
