#!/usr/bin/env python3
"""MTA-STS (RFC 8461), our side: the http listener serves our policy at
/.well-known/mta-sts.txt for Host mta-sts.DOMAIN (DOMAIN one of ours),
with the mode of [tls] mta_sts_mode (testing by default, changed by a
SIGHUP) and mx = hostname; other hosts get 404, other methods 405. Driven
by curl."""
import shutil
import sys
import time
import unittest

import mmtest
from test_autoconfig import curl

if shutil.which("curl") is None:
    print("curl not installed: skipped")
    sys.exit(77)

PATH = "/.well-known/mta-sts.txt"


def policy(body):
    out = {}
    for line in body.decode().split("\r\n"):
        if line:
            k, v = line.split(": ", 1)
            out.setdefault(k, []).append(v)
    return out


class ServeTest(unittest.TestCase):
    def test_policy(self):
        with mmtest.Server(users={}, http=True) as srv:
            code, ctype, body = curl(srv, PATH, headers=["Host: mta-sts.example.org"])
            self.assertEqual((code, ctype), (200, "text/plain; charset=utf-8"))
            self.assertEqual(policy(body), {"version": ["STSv1"], "mode": ["testing"],
                                            "mx": [mmtest.HOSTNAME], "max_age": ["604800"]})
            self.assertTrue(body.endswith(b"\r\n"))
            code, _, body = curl(srv, PATH, headers=["Host: MTA-STS.Example.NET:443"])
            self.assertEqual(code, 200)
            self.assertEqual(curl(srv, PATH, "HEAD", headers=["Host: mta-sts.example.org"])[0], 200)
            for host in ("mta-sts.example.com", "example.org", "autoconfig.example.org",
                         "mta-sts.", "[::1]"):
                self.assertEqual(curl(srv, PATH, headers=["Host: " + host])[0], 404, host)
            self.assertEqual(curl(srv, PATH, "POST", "x", headers=["Host: mta-sts.example.org"])[0], 405)
            self.assertEqual(curl(srv, PATH + ".bak", headers=["Host: mta-sts.example.org"])[0], 404)

            # enforce after a SIGHUP
            srv.extra_conf = "[tls]\nmta_sts_mode = enforce\n"
            text = srv.conf_text()
            # the harness writes its own [tls] section: put the key there
            text = text.replace("[tls]\nmta_sts_mode = enforce\n", "")
            text = text.replace("[tls]\n", "[tls]\nmta_sts_mode = enforce\n")
            srv.write_conf(text)
            srv.reload()
            deadline = time.time() + 10
            while time.time() < deadline:
                _, _, body = curl(srv, PATH, headers=["Host: mta-sts.example.org"])
                if policy(body)["mode"] == ["enforce"]:
                    break
                time.sleep(0.1)
            self.assertEqual(policy(body)["mode"], ["enforce"])


if __name__ == "__main__":
    mmtest.main()
