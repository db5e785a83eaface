#!/usr/bin/env python3
"""End-to-end tests of Sieve (issue 15): minimailctl sieve
list|get|put|del|activate|test, and scripts run at delivery over port 25
against the real daemon: fileinto :create into a new folder (seen over
IMAP), discard, imap4flags flags visible over IMAP, redirect received by
an SMTP sink ([relay] routes) byte-exact after the added headers,
vacation sent once per sender within :days and never to a list message,
reject as a 550 at DATA, and a script failing at run time keeping the
message with a log line; a reject after another recipient took the
message as a bounce (DSN) to the sender (the sink, or a local sender's
INBOX), never to <> or for auto-submitted mail; imap4flags keywords kept
when the same delivery queues a redirect; a script replaced under the
same name runs from the next delivery on (compiled scripts are cached),
and so does an included script replaced under its name."""
import email
import imaplib
import os
import re
import smtplib
import tempfile
import time
import unittest
import urllib.request

import mmtest
from test_relay import Sink, relay_conf, submit

USERS = {"alice@example.org": "alice-secret", "bob@example.org": "bob-secret"}


def message(subject, sender="carol@remote.test", to="alice@example.org", extra=b"",
            body=b"Hello Alice.\r\n"):
    return (b"From: Carol <" + sender.encode() + b">\r\n"
            b"To: <" + to.encode() + b">\r\n"
            b"Subject: " + subject.encode() + b"\r\n"
            b"Message-ID: <" + subject.replace(" ", ".").encode() + b"@remote.test>\r\n"
            + extra + b"\r\n" + body)


class SieveTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sink = Sink().start()
        (cls.mport,) = mmtest.free_ports(1)
        cls.srv = mmtest.Server(users=USERS, allow_plaintext=True, extra_conf=relay_conf(
            cls.sink.port) + "[sieve]\nmax_redirects = 2\nvacation_min_days = 1\n"
            "[listen]\nmetrics = 127.0.0.1:%d\n" % cls.mport)
        cls.tmp = tempfile.mkdtemp(prefix="mm-sieve-e2e-")

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()
        cls.sink.stop()

    def setUp(self):
        with self.sink.lock:
            self.sink.messages.clear()

    def put(self, user, name, text, activate=True):
        path = os.path.join(self.tmp, name + ".sieve")
        with open(path, "w") as f:
            f.write(text)
        r = self.srv.ctl("sieve", "put", user, name, path)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        if activate:
            r = self.srv.ctl("sieve", "activate", user, name)
            self.assertEqual(r.returncode, 0, r.stderr)

    def send(self, data, sender="carol@remote.test", rcpts=("alice@example.org",)):
        with smtplib.SMTP("127.0.0.1", self.srv.ports["smtp"], timeout=20) as c:
            c.ehlo("remote.test")
            return c.sendmail(sender, list(rcpts), data)

    def imap(self, user="alice@example.org"):
        c = imaplib.IMAP4("127.0.0.1", self.srv.ports["imap"])
        c.login(user, USERS[user])
        return c

    def count(self, mailbox, user="alice@example.org"):
        c = self.imap(user)
        typ, data = c.status('"%s"' % mailbox, "(MESSAGES)")
        c.logout()
        if typ != "OK":
            return None
        return int(data[0].decode().split("MESSAGES ")[1].rstrip(")"))

    # ---- minimailctl ----
    def test_01_ctl(self):
        u = "bob@example.org"
        self.put(u, "first", 'require "fileinto";\nfileinto "X";\n', activate=False)
        self.put(u, "second", "keep;\n", activate=False)
        self.assertEqual(self.srv.ctl("sieve", "list", u).stdout, "first\nsecond\n")
        self.assertEqual(self.srv.ctl("sieve", "activate", u, "second").returncode, 0)
        self.assertEqual(self.srv.ctl("sieve", "list", u).stdout, "first\nsecond ACTIVE\n")
        self.assertEqual(self.srv.ctl("sieve", "get", u, "first").stdout,
                         'require "fileinto";\nfileinto "X";\n')
        r = self.srv.ctl("sieve", "del", u, "second")
        self.assertEqual(r.returncode, 1)
        self.assertIn("is the active script", r.stderr)
        self.assertEqual(self.srv.ctl("sieve", "del", u, "first").returncode, 0)
        self.assertEqual(self.srv.ctl("sieve", "activate", u).returncode, 0)
        self.assertEqual(self.srv.ctl("sieve", "list", u).stdout, "second\n")
        self.assertEqual(self.srv.ctl("sieve", "del", u, "second").returncode, 0)
        # a broken script is refused with its line
        path = os.path.join(self.tmp, "bad.sieve")
        with open(path, "w") as f:
            f.write("keep;\nif frob { }\n")
        r = self.srv.ctl("sieve", "put", u, "bad", path)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout, "error 2: unknown test 'frob'\n")
        self.assertEqual(self.srv.ctl("sieve", "list", u).stdout, "")
        r = self.srv.ctl("sieve", "get", u, "nope")
        self.assertEqual((r.returncode, r.stderr), (1, "minimailctl: bob@example.org has no script 'nope'\n"))
        r = self.srv.ctl("sieve", "list", "nobody@example.org")
        self.assertEqual((r.returncode, r.stderr), (1, "minimailctl: no such user: nobody@example.org\n"))
        r = self.srv.ctl("sieve", "put", u, "x")
        self.assertEqual(r.returncode, 1)
        self.assertIn("usage", r.stderr)
        # [sieve] max_script_size
        with open(path, "w") as f:
            f.write("# " + "x" * 70000 + "\nkeep;\n")
        r = self.srv.ctl("sieve", "put", u, "big", path)
        self.assertEqual(r.returncode, 1)
        self.assertIn("max_script_size", r.stderr)

    def test_02_ctl_test(self):
        script = os.path.join(self.tmp, "t.sieve")
        msg = os.path.join(self.tmp, "m.eml")
        with open(script, "w") as f:
            f.write('require ["fileinto", "imap4flags", "vacation", "envelope"];\n'
                    'if envelope :is "from" "carol@remote.test" { addflag "\\\\Seen"; fileinto "C"; }\n'
                    'vacation :subject "Away" "Back soon";\nredirect "x@remote.test";\n')
        with open(msg, "wb") as f:
            f.write(message("hello"))
        r = subprocess_ctl(self.srv, "sieve", "test", script, msg, "--from", "carol@remote.test",
                           "--to", "alice@example.org")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, 'fileinto "C" flags "\\\\Seen"\n'
                         'vacation "carol@remote.test" "Away"\nredirect "x@remote.test"\n')
        with open(script, "w") as f:
            f.write("keep;\nfileinto \"x\";\n")
        r = subprocess_ctl(self.srv, "sieve", "test", script, msg)
        self.assertEqual((r.returncode, r.stdout), (1, "error 2: 'fileinto' needs require \"fileinto\"\n"))

    # ---- delivery ----
    def test_10_fileinto_create_discard_flags(self):
        self.put("alice@example.org", "main",
                 'require ["fileinto", "mailbox", "imap4flags"];\n'
                 'if header :contains "list-id" "dev.lists" { fileinto :create "Lists/dev"; stop; }\n'
                 'if header :contains "subject" "junk" { discard; stop; }\n'
                 'if header :contains "subject" "important" { addflag ["\\\\Flagged", "\\\\Seen"]; }\n')
        self.assertIsNone(self.count("Lists/dev"))
        inbox = self.count("INBOX")
        self.send(message("list one", extra=b"List-Id: Dev <dev.lists.remote.test>\r\n"))
        self.send(message("junk offer"))
        self.send(message("important news"))
        self.assertEqual(self.count("Lists/dev"), 1)
        self.assertEqual(self.count("INBOX"), inbox + 1)
        c = self.imap()
        c.select("INBOX")
        typ, data = c.fetch("*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        self.assertIn(b"important news", data[0][1])
        self.assertIn(b"\\Flagged", data[0][0])
        self.assertIn(b"\\Seen", data[0][0])
        c.select('"Lists/dev"')
        typ, data = c.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        self.assertIn(b"list one", data[0][1])
        c.logout()
        self.assertIn("event=discard", self.srv.log())

    def test_10b_subaddress_envelope(self):
        self.put("alice@example.org", "main",
                 'require ["fileinto", "mailbox", "envelope", "subaddress", "variables"];\n'
                 'if envelope :detail :matches "to" "*" { fileinto :create "Plus/${1}"; }\n')
        self.send(message("plus", to="alice+shop@example.org"), rcpts=["alice+shop@example.org"])
        self.assertEqual(self.count("Plus/shop"), 1)

    def test_11_redirect_byte_exact(self):
        self.put("alice@example.org", "main", 'require "copy";\nredirect :copy "fwd@remote.test";\n')
        m = message("redirect me")
        inbox = self.count("INBOX")
        self.send(m)
        (mail, rcpts, data), = self.sink.received(1)
        self.assertEqual(rcpts, ["fwd@remote.test"])
        self.assertEqual(mail, "carol@remote.test")
        # the added headers (ours), then exactly the bytes sent
        self.assertTrue(data.endswith(m), data)
        head = data[:-len(m)]
        self.assertTrue(head.startswith(b"X-Sieve-Redirected-By: alice@example.org\r\nReceived: "), head)
        self.assertNotIn(b"Return-Path", data)
        self.assertEqual(self.count("INBOX"), inbox + 1)   # :copy keeps it

    def test_11b_redirect_spooled(self):
        # 1 MB: spooled while it arrives (issue 18); Sieve runs on the
        # mapped spool and the redirect header makes an in-memory copy
        self.put("alice@example.org", "main", 'require "copy";\nredirect :copy "fwd@remote.test";\n')
        m = message("redirect big", body=b"".join(b"big line %06d\r\n" % i for i in range(60000)))
        inbox = self.count("INBOX")
        self.send(m)
        (mail, rcpts, data), = self.sink.received(1)
        self.assertEqual(rcpts, ["fwd@remote.test"])
        self.assertTrue(data.endswith(m), len(data))
        self.assertTrue(data.startswith(b"X-Sieve-Redirected-By: alice@example.org\r\n"))
        self.assertEqual(self.count("INBOX"), inbox + 1)
        c = self.imap()
        c.select("INBOX", readonly=True)
        typ, nums = c.search(None, "HEADER", "Message-ID", "redirect.big")
        typ, got = c.fetch(nums[0].split()[-1], "(BODY.PEEK[])")
        c.logout()
        self.assertTrue(got[0][1].endswith(m))

    def test_12_redirect_loop_and_limits(self):
        # a message already redirected by alice is kept, not sent again
        self.put("alice@example.org", "main", 'redirect "fwd@remote.test";\n')
        inbox = self.count("INBOX")
        self.send(message("looped", extra=b"X-Sieve-Redirected-By: alice@example.org\r\n"))
        self.assertEqual(self.count("INBOX"), inbox + 1)
        self.assertIn("event=redirect-loop", self.srv.log())
        # three redirects with max_redirects = 2: a run-time error, kept
        self.put("alice@example.org", "main",
                 'redirect "a@remote.test"; redirect "b@remote.test"; redirect "c@remote.test";\n')
        self.send(message("too many"))
        self.assertEqual(self.count("INBOX"), inbox + 2)
        self.assertIn("too many redirects (at most 2)", self.srv.log())
        time.sleep(1.5)
        with self.sink.lock:
            self.assertEqual(self.sink.messages, [])

    def test_13_vacation(self):
        self.put("alice@example.org", "main",
                 'require "vacation";\nvacation :days 1 :subject "Out of office" "I am away.";\n')
        self.send(message("first", sender="dan@remote.test"), sender="dan@remote.test")
        (mail, rcpts, data), = self.sink.received(1)
        self.assertEqual((mail, rcpts), ("", ["dan@remote.test"]))
        self.assertIn(b"\r\nAuto-Submitted: auto-replied", data)
        self.assertIn(b"\r\nIn-Reply-To: <first@remote.test>\r\n", data)
        self.assertIn(b"\r\nReferences: <first@remote.test>\r\n", data)
        self.assertIn(b"\r\nSubject: Out of office\r\n", data)
        self.assertIn(b"\r\nTo: <dan@remote.test>\r\n", data)
        self.assertTrue(data.endswith(b"\r\n\r\nI am away.\r\n"), data)
        # the same sender within :days: no second reply
        self.send(message("second", sender="dan@remote.test"), sender="dan@remote.test")
        # a list message, an auto-reply: never
        self.send(message("list", sender="eve@remote.test",
                          extra=b"List-Id: <x.remote.test>\r\n"), sender="eve@remote.test")
        self.send(message("auto", sender="fay@remote.test",
                          extra=b"Auto-Submitted: auto-replied\r\n"), sender="fay@remote.test")
        # another sender: a reply
        self.send(message("third", sender="gil@remote.test"), sender="gil@remote.test")
        msgs = self.sink.received(2)
        time.sleep(1.5)
        with self.sink.lock:
            self.assertEqual([m[1] for m in self.sink.messages],
                             [["dan@remote.test"], ["gil@remote.test"]])
        log = self.srv.log()
        self.assertIn("reason=already-replied", log)
        self.assertIn("reason=list", log)
        self.assertIn("reason=auto-submitted", log)
        del msgs

    def test_14_reject_at_data(self):
        self.put("bob@example.org", "main",
                 'require "reject";\nif header :contains "subject" "unwanted" { reject "Not here, thanks"; }\n')
        with smtplib.SMTP("127.0.0.1", self.srv.ports["smtp"], timeout=20) as c:
            c.ehlo("remote.test")
            c.mail("carol@remote.test")
            c.rcpt("bob@example.org")
            code, text = c.data(message("unwanted thing", to="bob@example.org"))
        self.assertEqual((code, text), (550, b"5.7.1 Not here, thanks"))
        before = self.count("INBOX", "bob@example.org")
        self.send(message("wanted thing", to="bob@example.org"), rcpts=["bob@example.org"])
        self.assertEqual(self.count("INBOX", "bob@example.org"), before + 1)
        self.srv.ctl("sieve", "activate", "bob@example.org")

    def test_15_runtime_failure_keeps(self):
        self.put("alice@example.org", "main",
                 'require ["fileinto", "variables"];\nset "box" "";\nfileinto "${box}";\n')
        inbox = self.count("INBOX")
        self.send(message("kept anyway"))
        self.assertEqual(self.count("INBOX"), inbox + 1)
        self.assertIn("event=keep error=\"line 3: fileinto: bad mailbox name\"", self.srv.log())

    def test_16_reject_after_accept_bounces(self):
        """RFC 5429 2.1.2: bob rejects, alice takes the message: the reply
        was 250 for both, so bob's refusal is a bounce to the sender."""
        self.srv.ctl("sieve", "activate", "alice@example.org")
        self.put("bob@example.org", "main",
                 'require "reject";\nif header :contains "subject" "unwanted" '
                 '{ reject text:\nNot here, thanks.\nTry my office address.\n.\n; }\n')
        a_before = self.count("INBOX")
        b_before = self.count("INBOX", "bob@example.org")
        m = message("unwanted two", to="bob@example.org")
        self.assertEqual(self.send(m, rcpts=["alice@example.org", "bob@example.org"]), {})
        self.assertEqual(self.count("INBOX"), a_before + 1)
        self.assertEqual(self.count("INBOX", "bob@example.org"), b_before)
        (mail, rcpts, data), = self.sink.received(1)
        self.assertEqual((mail, rcpts), ("", ["carol@remote.test"]))
        self.assertNotIn(b"Return-Path", data)
        self.assertIn(b"\r\nTo: <carol@remote.test>\r\n", data)
        self.assertIn(b"\r\nAuto-Submitted: auto-replied", data)
        self.assertIn(b"report-type=delivery-status", data)
        self.assertIn(b"Not here, thanks.\r\nTry my office address.\r\n", data)
        self.assertIn(b"\r\nFinal-Recipient: rfc822; bob@example.org\r\n", data)
        self.assertIn(b"\r\nStatus: 5.7.1\r\n", data)
        self.assertIn(b"\r\nDiagnostic-Code: smtp; 550 5.7.1 Not here, thanks. Try", data)
        self.assertIn(b"\r\nSubject: unwanted two\r\n", data)     # the original header
        report = email.message_from_bytes(data)
        self.assertEqual(report.get_content_type(), "multipart/report")
        self.assertEqual(report.get_param("report-type"), "delivery-status")
        self.assertEqual([p.get_content_type() for p in report.get_payload()],
                         ["text/plain", "message/delivery-status", "text/rfc822-headers"])
        self.assertLessEqual(len(report.get_boundary()), 70)
        self.assertIn("event=reject-bounce to=carol@remote.test", self.srv.log())
        # bob alone: still the 550 at DATA, no bounce
        with smtplib.SMTP("127.0.0.1", self.srv.ports["smtp"], timeout=20) as c:
            c.ehlo("remote.test")
            c.mail("carol@remote.test")
            c.rcpt("bob@example.org")
            code, text = c.data(message("unwanted alone", to="bob@example.org"))
        self.assertEqual(code, 550, text)
        self.assertIn(b"5.7.1 Not here, thanks.", text)
        # never a bounce to the null sender or for auto-submitted mail:
        # bob keeps those (nothing is lost), with a log line
        self.assertEqual(self.send(message("unwanted null", to="bob@example.org"), sender="",
                                   rcpts=["alice@example.org", "bob@example.org"]), {})
        self.assertEqual(self.send(message("unwanted auto", to="bob@example.org",
                                           extra=b"Auto-Submitted: auto-generated\r\n"),
                                   rcpts=["alice@example.org", "bob@example.org"]), {})
        self.assertEqual(self.count("INBOX", "bob@example.org"), b_before + 2)
        self.assertEqual(self.count("INBOX"), a_before + 3)
        log = self.srv.log()
        self.assertIn("event=reject-kept why=null-sender", log)
        self.assertIn("event=reject-kept why=auto-submitted", log)
        time.sleep(1.5)
        with self.sink.lock:
            self.assertEqual(len(self.sink.messages), 1)
        self.srv.ctl("sieve", "activate", "bob@example.org")

    def test_17_keywords_with_queued_copy(self):
        """imap4flags keywords stay on the local copy when the same
        transaction queues a copy (redirect :copy); a flag the store
        cannot take is ignored (RFC 5232 3), not a failed delivery."""
        self.put("alice@example.org", "main",
                 'require ["imap4flags", "copy", "fileinto", "mailbox"];\n'
                 'addflag ["$Work", "\\\\Flagged", "bad(kw"];\n'
                 'redirect :copy "fwd@remote.test";\n'
                 'fileinto :create :copy "Work";\n')
        self.send(message("keyword copy"))
        (mail, rcpts, data), = self.sink.received(1)
        self.assertEqual(rcpts, ["fwd@remote.test"])
        c = self.imap()
        for box in ("INBOX", "Work"):
            c.select(box)
            typ, data = c.fetch("*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
            self.assertIn(b"keyword copy", data[0][1])
            self.assertIn(b"$Work", data[0][0], box)
            self.assertIn(b"\\Flagged", data[0][0], box)
            self.assertNotIn(b"bad", data[0][0], box)   # not storable: ignored
        c.logout()
        self.assertNotIn("sieve-keywords-dropped", self.srv.log())
        self.srv.ctl("sieve", "activate", "alice@example.org")

    def test_18_reject_bounce_to_local_sender(self):
        """A local sender (submission, 587) gets the rejection bounce in
        its INBOX, not through the queue."""
        self.srv.ctl("sieve", "activate", "alice@example.org")
        self.put("bob@example.org", "main", 'require "reject";\nreject "No thanks.";\n')
        a_before = self.count("INBOX")
        m = message("to bob and me", sender="alice@example.org", to="bob@example.org")
        self.assertEqual(submit(self.srv, "alice@example.org",
                                ["bob@example.org", "alice@example.org"], m), {})
        self.assertEqual(self.count("INBOX"), a_before + 2)    # her copy and the bounce
        c = self.imap()
        c.select("INBOX")
        typ, data = c.search(None, "SUBJECT", '"Automatically rejected mail"')
        self.assertEqual(len(data[0].split()), 1, data)
        typ, body = c.fetch(data[0].split()[0], "(BODY.PEEK[])")
        c.logout()
        self.assertIn(b"No thanks.", body[0][1])
        self.assertIn(b"Final-Recipient: rfc822; bob@example.org", body[0][1])
        time.sleep(1)
        with self.sink.lock:
            self.assertEqual(self.sink.messages, [])
        self.srv.ctl("sieve", "activate", "bob@example.org")

    def replaced_rule_applies(self, u, name, before):
        """Script name (active, or included by the active one) replaced
        by a rule that drops nothing, then by the "drop" rule again: each
        applies to the very next delivery. u's scripts end inactive."""
        self.put(u, name, 'if header :contains "subject" "nothing" { discard; }\n',
                 activate=False)
        self.send(message("drop me again", to=u), rcpts=(u,))
        self.assertEqual(self.count("INBOX", u), before + 1)
        self.put(u, name, 'if header :contains "subject" "drop" { discard; }\n',
                 activate=False)
        self.send(message("drop me last", to=u), rcpts=(u,))
        self.assertEqual(self.count("INBOX", u), before + 1)
        self.srv.ctl("sieve", "activate", u)

    def test_19_changed_script_runs_at_once(self):
        """Scripts are kept compiled between deliveries (sieve-cache.c):
        the same script twice gives the same answer, and a script replaced
        under the same name (minimailctl sieve put, still active) is the
        one the very next delivery runs."""
        u = "bob@example.org"
        self.put(u, "cached", 'if header :contains "subject" "drop" { discard; }\n')
        before = self.count("INBOX", u)
        for i in range(3):
            self.send(message("drop me %d" % i, to=u), rcpts=(u,))
        self.assertEqual(self.count("INBOX", u), before)
        self.replaced_rule_applies(u, "cached", before)

    def cache_hits(self):
        """minimaild_sieve_cache_total{result="hit"}."""
        url = "http://127.0.0.1:%d/metrics" % self.mport
        with urllib.request.urlopen(url, timeout=20) as r:
            m = re.search(r'^minimaild_sieve_cache_total\{result="hit"\} (\S+)$',
                          r.read().decode(), re.M)
        self.assertIsNotNone(m)
        return float(m.group(1))

    def test_20_included_script_changes(self):
        """A script that includes another is kept compiled too (the
        second delivery is a cache hit), and the included script replaced
        (minimailctl sieve put, the including script untouched and still
        active) is what the very next delivery runs."""
        u = "bob@example.org"
        self.put(u, "inc-rules", 'if header :contains "subject" "drop" { discard; }\n',
                 activate=False)
        self.put(u, "inc-main", 'require "include";\ninclude :personal "inc-rules";\n')
        before = self.count("INBOX", u)
        self.send(message("drop me first", to=u), rcpts=(u,))
        h0 = self.cache_hits()
        self.send(message("drop me second", to=u), rcpts=(u,))
        self.assertEqual(self.cache_hits(), h0 + 1)
        self.assertEqual(self.count("INBOX", u), before)
        self.replaced_rule_applies(u, "inc-rules", before)


def subprocess_ctl(srv, *args):
    import subprocess
    return subprocess.run([mmtest.MINIMAILCTL] + list(args), capture_output=True, text=True,
                          timeout=60)


if __name__ == "__main__":
    unittest.main()
