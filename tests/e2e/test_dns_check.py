#!/usr/bin/env python3
"""`minimailctl dns check DOMAIN` (issue 13 item 4) against a loopback DNS
server (mmdns) through the daemon's resolver: the records `minimailctl
dns DOMAIN` prints are published, but for a missing DMARC record and an
Ed25519 DKIM key that is not ours; the check says "present" for what is
right, "missing" and "wrong" for those two, and exits 1. With the DMARC
record and the right key published too, those two lines say present."""
import os
import re
import subprocess
import sys
import tempfile
import unittest

try:
    from mmdns import DnsServer
except ImportError as e:
    print("SKIP: %s" % e)
    sys.exit(77)

MINIMAILCTL = os.environ.get("MINIMAILCTL", "./minimailctl")


def ctl(conf, *args):
    return subprocess.run([MINIMAILCTL, "-c", conf] + list(args), capture_output=True,
                          text=True, timeout=120)


def zone_from(records):
    """mmdns zone from `minimailctl dns` lines (MX, TXT, CNAME; SRV skipped)."""
    zone = {}
    for line in records.splitlines():
        if not line or line.startswith(";"):
            continue
        name, _ttl, _in, rtype, data = line.split(None, 4)
        name = name.rstrip(".")
        node = zone.setdefault(name, {})
        if rtype == "MX":
            pref, host = data.split()
            node.setdefault("MX", []).append((int(pref), host.rstrip(".")))
        elif rtype == "TXT":
            node.setdefault("TXT", []).append(re.findall(r'"((?:[^"\\]|\\.)*)"', data))
        elif rtype == "CNAME":
            zone[name] = {"CNAME": data.rstrip(".")}
    return zone


class DnsCheckTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="mmdnscheck-")
        self.conf = os.path.join(self.tmp, "minimaild.conf")

    def write_conf(self, port):
        with open(self.conf, "w") as f:
            f.write("hostname = mail.example.org\ndomains = example.org\ndata_dir = %s\n%s"
                    "[dns]\nnameservers = 127.0.0.1:%d\ntimeout = 1s\n" % (
                        os.path.join(self.tmp, "data"),
                        "run_as = root\n" if os.getuid() == 0 else "", port))

    def test_missing_dmarc_and_wrong_key(self):
        self.write_conf(53)
        r = ctl(self.conf, "dkim", "keygen", "example.org")
        self.assertEqual(r.returncode, 0, r.stderr)
        records = ctl(self.conf, "dns", "example.org").stdout
        zone = zone_from(records)
        good = dict(zone)
        zone.pop("_dmarc.example.org")
        ed = "mm2026-ed25519._domainkey.example.org"
        zone[ed] = {"TXT": ["v=DKIM1; k=ed25519; p=K0UFVmjINUNDi14cgJyKVh1PLWDPayYaqKr4t3W42gE="]}
        zone["mail.example.org"] = {"A": ["127.0.0.1"]}
        with DnsServer(zone) as dns:
            self.write_conf(dns.port)
            r = ctl(self.conf, "dns", "check", "example.org")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        out = r.stdout
        self.assertRegex(out, r"(?m)^missing _dmarc\.example\.org TXT")
        self.assertRegex(out, r"(?m)^wrong mm2026-ed25519\._domainkey\.example\.org TXT")
        self.assertRegex(out, r"(?m)^present mm2026-rsa\._domainkey\.example\.org TXT")
        self.assertRegex(out, r"(?m)^present example\.org MX")

        good["mail.example.org"] = {"A": ["127.0.0.1"]}
        with DnsServer(good) as dns:
            self.write_conf(dns.port)
            r = ctl(self.conf, "dns", "check", "example.org")
        self.assertRegex(r.stdout, r"(?m)^present _dmarc\.example\.org TXT")
        self.assertRegex(r.stdout, r"(?m)^present mm2026-ed25519\._domainkey\.example\.org TXT")

    def test_not_local(self):
        self.write_conf(53)
        r = ctl(self.conf, "dns", "check", "elsewhere.test")
        self.assertEqual(r.returncode, 1)
        self.assertIn("not one of the local domains", r.stderr)


if __name__ == "__main__":
    unittest.main()
