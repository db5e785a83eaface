#!/usr/bin/env python3
"""The clients autoconfig does not reach (issue 17, item 7), with curl:
Outlook's Autodiscover v2 (JSON naming the POX endpoint; 404 for an
address that is not local) and the Apple configuration profile (a plist
that Python's plistlib reads, offering the secure ports only), both from
the running listeners."""
import json
import plistlib
import shutil
import sys
import unittest

import mmtest

if shutil.which("curl") is None:  # a tool this test drives: SKIP, not pass
    sys.stderr.write("curl is not installed\n")
    sys.exit(77)
from test_autoconfig import curl


@unittest.skipUnless(shutil.which("curl"), "curl missing")
class AutodiscoverV2(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = mmtest.Server(users={}, http=True)

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def test_json(self):
        for path in ("/autodiscover/autodiscover.json?Email=Alice%40example.org"
                     "&Protocol=AutodiscoverV1",
                     "/Autodiscover/Autodiscover.json?Email=alice@example.org"
                     "&Protocol=autodiscoverv1",
                     "/autodiscover/autodiscover.json/v1.0/alice%40example.org"
                     "?Protocol=AutodiscoverV1"):
            with self.subTest(path=path):
                code, ctype, body = curl(self.srv, path)
                self.assertEqual(code, 200, body)
                self.assertTrue(ctype.startswith("application/json"), ctype)
                self.assertEqual(json.loads(body), {
                    "Protocol": "AutodiscoverV1",
                    "Url": "https://autodiscover.example.org/autodiscover/autodiscover.xml"})

    def test_refusals(self):
        s = self.srv
        base = "/autodiscover/autodiscover.json"
        # not a local domain: 404
        code, _, _ = curl(s, base + "?Email=bob%40example.com&Protocol=AutodiscoverV1")
        self.assertEqual(code, 404)
        # a protocol we do not serve (ActiveSync, EWS): 400 InvalidProtocol
        code, ctype, body = curl(s, base + "?Email=alice%40example.org&Protocol=ActiveSync")
        self.assertEqual(code, 400)
        self.assertEqual(json.loads(body)["ErrorCode"], "InvalidProtocol")
        # no or a bad address
        for q in ("?Protocol=AutodiscoverV1", "?Email=nobody&Protocol=AutodiscoverV1",
                  "?Email=" + "a" * 400 + "%40example.org"):
            self.assertEqual(curl(s, base + q)[0], 400, q)
        self.assertEqual(curl(s, base + "/v1.0/not-an-address?Protocol=AutodiscoverV1")[0], 400)
        self.assertEqual(curl(s, base + "?Email=a%40example.org", "POST", "x")[0], 405)
        # still serving
        self.assertEqual(curl(s, base + "?Email=a%40example.org&Protocol=AutodiscoverV1")[0],
                         200)


@unittest.skipUnless(shutil.which("curl"), "curl missing")
class MobileConfig(unittest.TestCase):
    def fetch(self, srv, addr="alice%40example.org"):
        return curl(srv, "/apple/mobileconfig?emailaddress=" + addr)

    def test_profile(self):
        with mmtest.Server(users={}, http=True) as srv:
            code, ctype, body = self.fetch(srv)
            self.assertEqual(code, 200, body)
            self.assertEqual(ctype, "application/x-apple-aspen-config")
            p = plistlib.loads(body)
            self.assertEqual(p["PayloadType"], "Configuration")
            self.assertEqual(p["PayloadVersion"], 1)
            (mail,) = p["PayloadContent"]
            self.assertEqual(mail["PayloadType"], "com.apple.mail.managed")
            self.assertEqual(mail["EmailAddress"], "alice@example.org")
            self.assertEqual(mail["EmailAccountType"], "EmailTypeIMAP")
            self.assertEqual(mail["IncomingMailServerHostName"], mmtest.HOSTNAME)
            self.assertEqual(mail["IncomingMailServerPortNumber"], srv.ports["imaps"])
            self.assertIs(mail["IncomingMailServerUseSSL"], True)
            self.assertEqual(mail["IncomingMailServerUsername"], "alice@example.org")
            self.assertEqual(mail["OutgoingMailServerPortNumber"], srv.ports["submissions"])
            self.assertIs(mail["OutgoingMailServerUseSSL"], True)
            self.assertEqual(mail["IncomingMailServerAuthentication"], "EmailAuthPassword")
            # secure ports only: never plain 143/110 or port 25
            ports = {v for k, v in mail.items() if k.endswith("PortNumber")}
            self.assertFalse(ports & {srv.ports["imap"], srv.ports["pop3"], srv.ports["smtp"]})
            self.assertNotEqual(p["PayloadUUID"], mail["PayloadUUID"])
            # fetched again: the same profile (it replaces, not duplicates)
            self.assertEqual(plistlib.loads(self.fetch(srv)[2])["PayloadUUID"], p["PayloadUUID"])
            self.assertNotEqual(plistlib.loads(self.fetch(srv, "bob%40example.org")[2])
                                ["PayloadUUID"], p["PayloadUUID"])
            # not local: 404; bad: 400
            self.assertEqual(self.fetch(srv, "alice%40example.com")[0], 404)
            self.assertEqual(self.fetch(srv, "alice")[0], 400)

            # imaps and submissions off: POP3 995 and 587 (STARTTLS, still TLS)
            srv.ports["imaps"] = "off"
            srv.ports["submissions"] = "off"
            srv.write_conf()
            srv.restart()
            mail = plistlib.loads(self.fetch(srv)[2])["PayloadContent"][0]
            self.assertEqual(mail["EmailAccountType"], "EmailTypePOP")
            self.assertEqual(mail["IncomingMailServerPortNumber"], srv.ports["pop3s"])
            self.assertEqual(mail["OutgoingMailServerPortNumber"], srv.ports["submission"])
            self.assertIs(mail["OutgoingMailServerUseSSL"], True)

    def test_client_settings_lists_them(self):
        with mmtest.Server(users={}, http=True) as srv:
            r = srv.ctl("client-settings", "alice@example.org")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("/autodiscover/autodiscover.json?Email=alice%40example.org"
                          "&Protocol=AutodiscoverV1", r.stdout)
            self.assertIn("/apple/mobileconfig?emailaddress=alice%40example.org", r.stdout)
        with mmtest.Server(users={}) as srv:
            r = srv.ctl("client-settings", "alice@example.org")
            self.assertIn("Automatic setup: off", r.stdout)


if __name__ == "__main__":
    mmtest.main()
