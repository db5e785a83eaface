#!/usr/bin/env python3
"""Outbound TLS policy per destination (issue 13 item 6), all on loopback:
mmdns answers the MX, _mta-sts TXT, A and TLSA queries (the AD bit set per
name, [dns] dnssec = trust-ad), an HTTPS server of this test serves the
MTA-STS policies (certificate from a test CA: [relay] mta_sts_ca), and
test_relay's SMTP sink speaks STARTTLS with a certificate from the same CA.

MTA-STS (RFC 8461): an enforce policy naming the MX delivers over
verified TLS; one that does not name it keeps the message queued with the
reason in "queue show" and bounces it at expiry; testing mode delivers; an
MX whose certificate does not match its name stays queued; a policy over
64 KiB, one that never finishes, one served as text/html and one from a
server whose certificate does not verify count as no policy (delivered).
DANE (RFC 7672): a DANE-EE(3) TLSA record that matches the sink's key
delivers, one that does not keeps the message queued, DANE-TA(2) of the CA
delivers, and TLSA records without the AD bit are ignored."""
import hashlib
import http.server
import os
import socketserver
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import mmtest
from mmdns import DnsServer
from test_relay import USERS, LogOnFailure, Sink, msg, submit, wait_inbox, wait_queue

STS = ["sts-ok", "sts-bad", "sts-testing", "sts-big", "sts-stall", "sts-html",
       "sts-wrongcert", "sts-untrusted"]
DANE = ["dane-ok", "dane-bad", "dane-ta", "dane-insecure"]


def openssl(*args, input=None):
    return subprocess.run(["openssl"] + list(args), input=input, check=True,
                          capture_output=True).stdout


def make_pki(d, names):
    """A CA and a leaf for names, signed by it; returns paths and digests."""
    ca_key, ca_crt = os.path.join(d, "ca.key"), os.path.join(d, "ca.pem")
    key, csr, crt = (os.path.join(d, n) for n in ("leaf.key", "leaf.csr", "leaf.pem"))
    chain = os.path.join(d, "chain.pem")
    ext = os.path.join(d, "ext.cnf")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", ca_key, "-out", ca_crt, "-days", "2", "-subj",
            "/CN=minimaild test CA", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", key, "-out", csr, "-subj", "/CN=" + names[0])
    with open(ext, "w") as f:
        f.write("subjectAltName=" + ",".join("DNS:" + n for n in names) + "\n"
                "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial",
            "-out", crt, "-days", "2", "-extfile", ext)
    with open(chain, "w") as out:
        out.write(open(crt).read() + open(ca_crt).read())
    spki = openssl("pkey", "-in", key, "-pubout", "-outform", "DER")
    ca_der = openssl("x509", "-in", ca_crt, "-outform", "DER")
    return {"ca": ca_crt, "key": key, "chain": chain,
            "ee_spki_sha256": hashlib.sha256(spki).hexdigest(),
            "ta_cert_sha256": hashlib.sha256(ca_der).hexdigest()}


POLICIES = {
    "sts-ok": "version: STSv1\r\nmode: enforce\r\nmx: mx.sts-ok.test\r\nmax_age: 86400\r\n",
    "sts-bad": "version: STSv1\r\nmode: enforce\r\nmx: mx.elsewhere.example\r\nmax_age: 86400\r\n",
    "sts-testing": "version: STSv1\nmode: testing\nmx: mx.elsewhere.example\nmax_age: 86400\n",
    "sts-big": "version: STSv1\nmode: enforce\nmx: mx.elsewhere.example\nmax_age: 86400\n"
               + "#" * (70 * 1024) + "\n",
    "sts-html": "version: STSv1\nmode: enforce\nmx: mx.elsewhere.example\nmax_age: 86400\n",
    "sts-wrongcert": "version: STSv1\nmode: enforce\nmx: *.sts-wrongcert.test\nmax_age: 86400\n",
    # served with a certificate that does not name mta-sts.sts-untrusted.test
    "sts-untrusted": "version: STSv1\nmode: enforce\nmx: mx.elsewhere.example\nmax_age: 86400\n",
}


class PolicyServer:
    """HTTPS on 127.0.0.1: /.well-known/mta-sts.txt by Host header."""

    def __init__(self, pki):
        outer = self
        self.fetches = []

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                host = (self.headers.get("Host") or "").split(":")[0]
                outer.fetches.append((host, self.path))
                dom = host[len("mta-sts."):].split(".")[0]
                if dom == "sts-stall":
                    time.sleep(6)          # longer than mta_sts_timeout
                    return
                body = POLICIES.get(dom)
                if self.path != "/.well-known/mta-sts.txt" or body is None:
                    self.send_error(404)
                    return
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html" if dom == "sts-html"
                                 else "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True

        self.httpd = S(("127.0.0.1", 0), H)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(pki["chain"], pki["key"])
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def zone(pki, sink_port):
    z = {}
    for d in STS:
        dom = d + ".test"
        z[dom] = {"MX": [(10, "mx." + dom)]}
        z["mx." + dom] = {"A": ["127.0.0.1"]}
        z["_mta-sts." + dom] = {"TXT": ["v=STSv1; id=2026120101;"]}
        z["mta-sts." + dom] = {"A": ["127.0.0.1"]}
    for d in DANE:
        dom = d + ".test"
        z[dom] = {"MX": [(10, "mx." + dom)]}
        z["mx." + dom] = {"A": ["127.0.0.1"]}
    # a long unrelated TXT record: the answer is truncated over UDP and the
    # trust-ad stub asks again over TCP
    z["_mta-sts.sts-ok.test"]["TXT"].append("not an STS record " + "x" * 2000)
    tlsa = "_%d._tcp.mx.%%s.test" % sink_port
    z[tlsa % "dane-ok"] = {"TLSA": [(3, 1, 1, pki["ee_spki_sha256"])]}
    z[tlsa % "dane-bad"] = {"TLSA": [(3, 1, 1, "00" * 32), (1, 1, 1, pki["ee_spki_sha256"])]}
    z[tlsa % "dane-ta"] = {"TLSA": [(2, 0, 1, pki["ta_cert_sha256"])]}
    z[tlsa % "dane-insecure"] = {"TLSA": [(3, 1, 1, "00" * 32)]}
    ad = set()
    for d in ("dane-ok", "dane-bad", "dane-ta"):
        ad |= {d + ".test", "mx.%s.test" % d, tlsa % d}
    return z, ad


class TlsPolicyTest(LogOnFailure):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="mmtls-")
        names = ["mx.%s.test" % d for d in STS + DANE if d != "sts-wrongcert"]
        names += ["mta-sts.%s.test" % d for d in STS if d != "sts-untrusted"]
        cls.pki = make_pki(cls.tmp, names)
        cls.sink = Sink(tls="starttls", cert=cls.pki["chain"], key=cls.pki["key"]).start()
        cls.https = PolicyServer(cls.pki).start()
        z, ad = zone(cls.pki, cls.sink.port)
        cls.dns = DnsServer(z, ad=ad).start()
        conf = ("[relay]\nmx_port = %d\nmta_sts_port = %d\nmta_sts_ca = %s\n"
                "mta_sts_timeout = 2s\nretry_interval = 1s\nretry_max_interval = 1s\n"
                "queue_lifetime = 8s\n"
                "[dns]\nnameservers = 127.0.0.1:%d\ntimeout = 2s\ndnssec = trust-ad\n"
                % (cls.sink.port, cls.https.port, cls.pki["ca"], cls.dns.port))
        cls.srv = mmtest.Server(users=USERS, extra_conf=conf)

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()
        cls.dns.stop()
        cls.https.stop()
        cls.sink.stop()

    def delivered(self, rcpt, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.sink.lock:
                for _, rcpts, _ in self.sink.messages:
                    if rcpt in rcpts:
                        return True
            time.sleep(0.1)
        return False

    def queued_error(self, domain, text):
        """Waits for the queue entry to domain to show text; (block, id)."""
        def block(out):
            cur = []
            for l in out.splitlines() + [""]:
                if l and l.startswith(" "):
                    cur.append(l)
                    continue
                if cur and domain in "\n".join(cur) and text in "\n".join(cur):
                    return "\n".join(cur)
                cur = [l] if l else []
            return None
        out = wait_queue(self.srv, lambda o: block(o) is not None)
        b = block(out)
        return b, b.split()[0]

    def send(self, domain):
        rcpt = "x@%s.test" % domain
        submit(self.srv, "alice@example.org", [rcpt], msg("policy " + domain))
        return rcpt

    # ---- MTA-STS ----

    def test_sts_enforce_match_delivers_verified(self):
        self.assertTrue(self.delivered(self.send("sts-ok")))
        self.assertIn('host=mx.sts-ok.test event=tls policy="MTA-STS" verified=yes',
                      self.srv.log())
        self.assertIn(("mta-sts.sts-ok.test", "/.well-known/mta-sts.txt"), self.https.fetches)
        self.assertEqual({t for _, _, t in self.dns.asked("_mta-sts.sts-ok.test", "TXT")},
                         {"udp", "tcp"})

    def test_sts_enforce_mismatch_stays_queued_then_bounces(self):
        self.send("sts-bad")
        out, qid = self.queued_error("sts-bad.test", "MTA-STS")
        show = self.srv.ctl("queue", "show", qid, check=True).stdout
        self.assertIn("MTA-STS: MX host mx.sts-bad.test is not in the enforced policy", show)
        self.assertFalse(self.delivered("x@sts-bad.test", timeout=1))
        # at expiry: a bounce with the reason
        wait_inbox(self.srv, "alice@example.org",
                   lambda m: b"x@sts-bad.test" in m and b"MTA-STS" in m, timeout=30)
        self.assertFalse(self.delivered("x@sts-bad.test", timeout=0.5))

    def test_sts_testing_delivers(self):
        self.assertTrue(self.delivered(self.send("sts-testing")))
        self.assertIn("host=mx.sts-testing.test event=mta-sts-testing", self.srv.log())

    def test_sts_wrong_certificate_stays_queued(self):
        self.send("sts-wrongcert")
        out, qid = self.queued_error("sts-wrongcert.test", "MTA-STS: TLS with")
        self.assertIn("mx.sts-wrongcert.test", out)
        self.assertFalse(self.delivered("x@sts-wrongcert.test", timeout=0.5))
        self.srv.ctl("queue", "delete", qid, check=True)

    def test_sts_bad_policies_count_as_none(self):
        bad = ("sts-big", "sts-html", "sts-stall", "sts-untrusted")
        for d in bad:
            self.send(d)
        for d in bad:
            self.assertTrue(self.delivered("x@%s.test" % d, timeout=30), d)
        log = self.srv.log()
        self.assertIn("policy larger than 64 KiB", log)
        self.assertIn("Content-Type is not text/plain", log)
        self.assertIn("policy fetch took more than 2s", log)
        # a policy server whose certificate does not verify is never believed
        self.assertNotIn(("mta-sts.sts-untrusted.test", "/.well-known/mta-sts.txt"),
                         self.https.fetches)
        self.assertRegex(log, r"dest=sts-untrusted.test event=mta-sts-none "
                              r"reason=\"policy fetch failed")

    # ---- DANE ----

    def test_dane_ee_match_delivers(self):
        self.assertTrue(self.delivered(self.send("dane-ok")))
        self.assertIn('host=mx.dane-ok.test event=tls policy="DANE" verified=yes',
                      self.srv.log())

    def test_dane_mismatch_stays_queued(self):
        self.send("dane-bad")
        out, qid = self.queued_error("dane-bad.test", "DANE")
        self.assertIn("DANE: TLS with mx.dane-bad.test failed", out)
        self.assertFalse(self.delivered("x@dane-bad.test", timeout=0.5))
        self.srv.ctl("queue", "delete", qid, check=True)

    def test_dane_ta_delivers(self):
        self.assertTrue(self.delivered(self.send("dane-ta")))
        self.assertIn('host=mx.dane-ta.test event=tls policy="DANE" verified=yes',
                      self.srv.log())

    def test_dane_without_ad_is_ignored(self):
        self.assertTrue(self.delivered(self.send("dane-insecure")))
        self.assertNotIn("host=mx.dane-insecure.test event=tls policy", self.srv.log())


if __name__ == "__main__":
    mmtest.main()
