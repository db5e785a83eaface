#!/usr/bin/env python3
"""mmdns (the tests' loopback DNS server) answers as its zone says, over
UDP and TCP, checked with dnspython as the reference client: A, AAAA, MX,
TXT (a long value split in 255-byte strings, a multi-string record), PTR,
TLSA, CNAME chains, NXDOMAIN/SERVFAIL per name, the AD bit per name, TC
over UDP for a large answer, and stall mode."""
import sys
import unittest

try:
    import dns.flags
    import dns.message
    import dns.query
    import dns.rcode
except ImportError:
    print("python3-dnspython not installed: skipped")
    sys.exit(77)

from mmdns import DnsServer

ZONE = {
    "example.test": {"MX": [(20, "b.example.test"), (10, "a.example.test")],
                     "TXT": ["x" * 300, ["one ", "two"]]},
    "a.example.test": {"A": ["127.0.0.1"], "AAAA": ["::1"]},
    "www.example.test": {"CNAME": "a.example.test"},
    "1.0.0.127.in-addr.arpa": {"PTR": ["a.example.test"]},
    "_25._tcp.a.example.test": {"TLSA": [(3, 1, 1, "ab" * 32)]},
    "big.example.test": {"TXT": ["%d" % i + "y" * 200 for i in range(10)]},
    "gone.test": "NXDOMAIN",
    "broken.test": "SERVFAIL",
}


class MmdnsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dns = DnsServer(ZONE, ad={"_25._tcp.a.example.test"}).start()

    @classmethod
    def tearDownClass(cls):
        cls.dns.stop()

    def ask(self, name, rtype, tcp=False):
        q = dns.message.make_query(name, rtype)
        fn = dns.query.tcp if tcp else dns.query.udp
        return fn(q, "127.0.0.1", port=self.dns.port, timeout=5)

    def test_records(self):
        for tcp in (False, True):
            r = self.ask("example.test", "MX", tcp)
            self.assertEqual(sorted((x.preference, str(x.exchange)) for x in r.answer[0]),
                             [(10, "a.example.test."), (20, "b.example.test.")])
            r = self.ask("example.test", "TXT", tcp)
            strings = sorted([b"".join(x.strings) for x in r.answer[0]])
            self.assertEqual(strings, [b"one two", b"x" * 300])
            long = [x for x in r.answer[0] if len(x.strings) == 2 and len(x.strings[0]) == 255]
            self.assertEqual(len(long), 1)
            r = self.ask("a.example.test", "AAAA", tcp)
            self.assertEqual(r.answer[0][0].address, "::1")
            r = self.ask("www.example.test", "A", tcp)
            self.assertEqual([str(a.name) for a in r.answer],
                             ["www.example.test.", "a.example.test."])
            r = self.ask("1.0.0.127.in-addr.arpa", "PTR", tcp)
            self.assertEqual(str(r.answer[0][0].target), "a.example.test.")
            r = self.ask("_25._tcp.a.example.test", "TLSA", tcp)
            t = r.answer[0][0]
            self.assertEqual((t.usage, t.selector, t.mtype, t.cert), (3, 1, 1, b"\xab" * 32))
            self.assertTrue(r.flags & dns.flags.AD)
            r = self.ask("a.example.test", "A", tcp)
            self.assertFalse(r.flags & dns.flags.AD)
            # AD in the query (RFC 6840 5.7) is not echoed for other names
            q = dns.message.make_query("a.example.test", "A")
            q.flags |= dns.flags.AD
            fn = dns.query.tcp if tcp else dns.query.udp
            self.assertFalse(fn(q, "127.0.0.1", port=self.dns.port, timeout=5).flags
                             & dns.flags.AD)

    def test_rcodes(self):
        self.assertEqual(self.ask("gone.test", "MX").rcode(), dns.rcode.NXDOMAIN)
        self.assertEqual(self.ask("nowhere.test", "A").rcode(), dns.rcode.NXDOMAIN)
        self.assertEqual(self.ask("broken.test", "A").rcode(), dns.rcode.SERVFAIL)
        r = self.ask("a.example.test", "MX")           # NODATA
        self.assertEqual((r.rcode(), r.answer), (dns.rcode.NOERROR, []))

    def test_truncation(self):
        r = self.ask("big.example.test", "TXT")
        self.assertTrue(r.flags & dns.flags.TC)
        r = self.ask("big.example.test", "TXT", tcp=True)
        self.assertEqual(len(r.answer[0]), 10)

    def test_stall(self):
        with DnsServer(ZONE, stall=True) as d:
            q = dns.message.make_query("example.test", "MX")
            with self.assertRaises(dns.exception.Timeout):
                dns.query.udp(q, "127.0.0.1", port=d.port, timeout=1)
            self.assertEqual(len(d.asked("example.test", "MX")), 1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
