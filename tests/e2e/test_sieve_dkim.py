#!/usr/bin/env python3
"""End-to-end test that Sieve's automatic messages are DKIM-signed (issue
15 item 3, "DKIM-signed when issue 11 is in"): with a DKIM key made by
"minimailctl dkim keygen" for example.org, a vacation reply from
alice@example.org (null envelope sender, From: alice) goes through the
queue to the SMTP sink of test_relay.py, and both its signatures (RSA and
Ed25519) verify with dkimpy against the records "minimailctl dns" prints."""
import os
import smtplib
import sys
import tempfile

import mmtest

try:
    import dkim  # noqa: F401
except ImportError:                 # a test that cannot run: skipped (77)
    sys.stderr.write("python3-dkim (dkimpy) is not installed\n")
    sys.exit(77)

from test_dkim import records, verify_all
from test_relay import Sink, USERS, relay_conf, LogOnFailure


class VacationSigned(LogOnFailure):
    @classmethod
    def setUpClass(cls):
        cls.sink = Sink().start()
        cls.srv = mmtest.Server(users=USERS, extra_conf=relay_conf(cls.sink.port),
                                start=False)
        cls.srv.ctl("dkim", "keygen", "example.org", check=True)
        cls.srv.first_start()
        cls.recs, _ = records(cls.srv)
        cls.tmp = tempfile.mkdtemp(prefix="mm-sieve-dkim-")

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()
        cls.sink.stop()

    def test_vacation_reply_verifies(self):
        path = os.path.join(self.tmp, "away.sieve")
        with open(path, "w") as f:
            f.write('require "vacation";\n'
                    'vacation :days 1 :subject "Away" "I am away until Monday.";\n')
        self.srv.ctl("sieve", "put", "alice@example.org", "away", path, check=True)
        self.srv.ctl("sieve", "activate", "alice@example.org", "away", check=True)
        m = (b"From: Carol <carol@remote.test>\r\nTo: <alice@example.org>\r\n"
             b"Subject: are you there\r\nMessage-ID: <q1@remote.test>\r\n\r\nHello.\r\n")
        with smtplib.SMTP("127.0.0.1", self.srv.ports["smtp"], timeout=20) as c:
            c.ehlo("remote.test")
            self.assertEqual(c.sendmail("carol@remote.test", ["alice@example.org"], m), {})
        (mail, rcpts, data), = self.sink.received(1)
        self.assertEqual((mail, rcpts), ("", ["carol@remote.test"]))
        self.assertIn(b"\r\nAuto-Submitted: auto-replied", data)
        n, ok = verify_all(data, self.recs)
        self.assertEqual(n, 2, data[:3000])
        self.assertEqual(ok, [True, True], data[:3000])
        self.assertIn(b"d=example.org;", data)
        self.assertRegex(self.srv.log(), r"event=dkim-signed d=example\.org signatures=2")
        # an altered reply does not verify: the check can fail
        bad = data.replace(b"I am away until Monday.", b"I am away until Friday.")
        self.assertEqual(verify_all(bad, self.recs)[1], [False, False])


if __name__ == "__main__":
    import unittest
    unittest.main()
