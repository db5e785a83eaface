#!/usr/bin/env python3
"""End to end: client onboarding (issue 8, item 3). The real minimaild with
[listen] http on loopback, driven by curl: the Thunderbird autoconfig file
and the Outlook autodiscover answer parse as XML, name the configured host
and exactly the secure ports that listen; a listener turned off (restart or
SIGHUP) disappears from both; unknown domains get 404; wrong methods 405;
malformed and oversized requests are refused. Also `minimailctl
client-settings` and `minimaild -t` for an http port that is taken."""
import os
import socket
import subprocess
import tempfile
import time
import unittest
import xml.etree.ElementTree as ET

import mmtest

AD_REQ_NS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
AD_RESP_NS = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
AD_OUTLOOK_NS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
AUTOCONFIG_PATHS = ["/mail/config-v1.1.xml", "/.well-known/autoconfig/mail/config-v1.1.xml"]
AUTODISCOVER_PATHS = ["/autodiscover/autodiscover.xml", "/Autodiscover/Autodiscover.xml"]


def ad_request(address, schema=AD_OUTLOOK_NS):
    return ('<?xml version="1.0" encoding="utf-8"?>\r\n'
            '<Autodiscover xmlns="%s">\r\n  <Request>\r\n'
            '    <EMailAddress>%s</EMailAddress>\r\n'
            '    <AcceptableResponseSchema>%s</AcceptableResponseSchema>\r\n'
            '  </Request>\r\n</Autodiscover>\r\n' % (AD_REQ_NS, address, schema))


def curl(srv, path, method="GET", data=None, headers=()):
    """(status, content type, body bytes) of one request with curl."""
    with tempfile.NamedTemporaryFile() as out:
        args = ["curl", "-sS", "-o", out.name, "-w", "%{http_code}\n%{content_type}",
                "--max-time", "10"]
        args += ["--head"] if method == "HEAD" else ["-X", method]
        for h in headers:
            args += ["-H", h]
        if data is not None:
            args += ["-H", "Content-Type: text/xml", "--data-binary", "@-"]
        args.append("http://127.0.0.1:%d%s" % (srv.ports["http"], path))
        r = subprocess.run(args, input=data.encode() if isinstance(data, str) else data,
                           capture_output=True, timeout=30)
        if r.returncode != 0:
            raise AssertionError("curl %s: %s" % (path, r.stderr.decode()))
        code, ctype = r.stdout.decode().split("\n", 1)
        return int(code), ctype, out.read()


def autoconfig_servers(body):
    """{(kind, type, hostname, port, socketType)} from an autoconfig file."""
    root = ET.fromstring(body)
    assert root.tag == "clientConfig" and root.get("version") == "1.1", root.tag
    prov = root.find("emailProvider")
    found = set()
    for kind in ("incomingServer", "outgoingServer"):
        for s in prov.findall(kind):
            assert s.findtext("username") == "%EMAILADDRESS%"
            assert s.findtext("authentication") == "password-cleartext"
            found.add((kind, s.get("type"), s.findtext("hostname"), int(s.findtext("port")),
                       s.findtext("socketType")))
    return prov.get("id"), [d.text for d in prov.findall("domain")], found


def autodiscover_protocols(body, address):
    """{(Type, Server, Port, Encryption)} from an autodiscover answer."""
    root = ET.fromstring(body)
    assert root.tag == "{%s}Autodiscover" % AD_RESP_NS, root.tag
    acct = root.find("{%s}Response/{%s}Account" % (AD_OUTLOOK_NS, AD_OUTLOOK_NS))
    assert acct is not None
    q = lambda e, n: e.findtext("{%s}%s" % (AD_OUTLOOK_NS, n))
    assert q(acct, "AccountType") == "email" and q(acct, "Action") == "settings"
    found = set()
    for p in acct.findall("{%s}Protocol" % AD_OUTLOOK_NS):
        assert q(p, "LoginName") == address, q(p, "LoginName")
        assert q(p, "SPA") == "off" and q(p, "AuthRequired") == "on" and q(p, "SSL") == "on"
        found.add((q(p, "Type"), q(p, "Server"), int(q(p, "Port")), q(p, "Encryption")))
    return found


def expected(srv, off=()):
    """What both documents must offer for srv with the listeners in off disabled."""
    h = mmtest.HOSTNAME
    ac, ad = set(), set()
    table = [("imaps", "incomingServer", "imap", "SSL", "IMAP", "SSL"),
             ("pop3s", "incomingServer", "pop3", "SSL", "POP3", "SSL"),
             ("submissions", "outgoingServer", "smtp", "SSL", "SMTP", "SSL"),
             ("submission", "outgoingServer", "smtp", "STARTTLS", "SMTP", "TLS")]
    for lsn, kind, typ, sock, adtype, enc in table:
        if lsn in off:
            continue
        ac.add((kind, typ, h, srv.ports[lsn], sock))
        ad.add((adtype, h, srv.ports[lsn], enc))
    return ac, ad


class Onboarding(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = mmtest.Server(users={}, http=True)

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def test_autoconfig(self):
        want, _ = expected(self.srv)
        plain = {self.srv.ports[n] for n in ("smtp", "imap", "pop3")}
        for path in AUTOCONFIG_PATHS:
            code, ctype, body = curl(self.srv, path + "?emailaddress=alice%40example.org")
            self.assertEqual(code, 200, body)
            self.assertTrue(ctype.startswith("application/xml"), ctype)
            pid, domains, servers = autoconfig_servers(body)
            self.assertEqual(pid, "example.org")
            self.assertEqual(domains, ["example.org"])
            self.assertEqual(servers, want)
            self.assertFalse({s[3] for s in servers} & plain)
        # the domain from the Host header, without "autoconfig."
        code, _, body = curl(self.srv, AUTOCONFIG_PATHS[0],
                             headers=["Host: autoconfig.Example.NET"])
        self.assertEqual(code, 200, body)
        self.assertEqual(autoconfig_servers(body)[0], "example.net")
        code, _, body = curl(self.srv, AUTOCONFIG_PATHS[1], headers=["Host: example.org:443"])
        self.assertEqual(code, 200, body)
        self.assertEqual(autoconfig_servers(body)[0], "example.org")
        # HEAD works too, without a body
        code, ctype, body = curl(self.srv, AUTOCONFIG_PATHS[0] + "?emailaddress=a%40example.org",
                                 method="HEAD")
        self.assertEqual(code, 200)
        self.assertTrue(ctype.startswith("application/xml"), ctype)
        self.assertNotIn(b"<clientConfig", body)

    def test_autodiscover(self):
        _, want = expected(self.srv)
        for path in AUTODISCOVER_PATHS:
            code, ctype, body = curl(self.srv, path, "POST", ad_request("Bob@Example.org"))
            self.assertEqual(code, 200, body)
            self.assertTrue(ctype.startswith("text/xml"), ctype)
            self.assertEqual(autodiscover_protocols(body, "bob@example.org"), want)

    def test_unknown_domain(self):
        for path in AUTOCONFIG_PATHS:
            code, _, _ = curl(self.srv, path + "?emailaddress=alice%40example.com")
            self.assertEqual(code, 404)
            code, _, _ = curl(self.srv, path, headers=["Host: autoconfig.example.com"])
            self.assertEqual(code, 404)
        for path in AUTODISCOVER_PATHS:
            code, _, _ = curl(self.srv, path, "POST", ad_request("alice@example.com"))
            self.assertEqual(code, 404)

    def test_refusals(self):
        s = self.srv
        self.assertEqual(curl(s, "/")[0], 404)
        self.assertEqual(curl(s, "/mail/config-v1.1.xml.bak")[0], 404)
        # served since issue 17 (test_onboarding_more.py): without Email, 400
        self.assertEqual(curl(s, "/autodiscover/autodiscover.json")[0], 400)
        self.assertEqual(curl(s, "/autodiscover/autodiscover.jsonx")[0], 404)
        self.assertEqual(curl(s, AUTOCONFIG_PATHS[0], "POST", "x")[0], 405)
        self.assertEqual(curl(s, AUTODISCOVER_PATHS[0])[0], 405)
        self.assertEqual(curl(s, AUTOCONFIG_PATHS[0] + "?emailaddress=nobody")[0], 400)
        # malformed autodiscover requests: 400 with an autodiscover error
        for bad in ["", "emailaddress=alice@example.org", "<Autodiscover><Request>",
                    ad_request("not-an-address"),
                    '<!DOCTYPE a [<!ENTITY e "alice@example.org">]>' + ad_request("&e;")]:
            code, _, body = curl(s, AUTODISCOVER_PATHS[0], "POST", bad)
            self.assertEqual(code, 400, bad)
            root = ET.fromstring(body)
            self.assertEqual(root.findtext("{%s}Response/{%s}Error/{%s}ErrorCode"
                                           % ((AD_RESP_NS,) * 3)), "600")
        # an ActiveSync client asks for another schema: error 601
        code, _, body = curl(s, AUTODISCOVER_PATHS[0], "POST",
                             ad_request("alice@example.org", "http://schemas.microsoft.com/"
                                        "exchange/autodiscover/mobilesync/responseschema/2006"))
        self.assertEqual(code, 200)
        self.assertIn(b"<ErrorCode>601</ErrorCode>", body)
        # bounded body and headers
        code, _, _ = curl(s, AUTODISCOVER_PATHS[0], "POST", ad_request("a@example.org") + " " * 20000)
        self.assertEqual(code, 413)
        code, _, _ = curl(s, AUTOCONFIG_PATHS[0], headers=["X-Big: " + "x" * 9000])
        self.assertIn(code, (400, 413, 431))
        # the daemon is still serving
        self.assertEqual(curl(s, AUTOCONFIG_PATHS[0] + "?emailaddress=a%40example.org")[0], 200)

    def test_client_settings(self):
        p = self.srv.ports
        r = self.srv.ctl("client-settings", "Alice@example.org")
        self.assertEqual(r.returncode, 0, r.stderr)
        h = mmtest.HOSTNAME
        want = ("Protocol  Server            Port   Security  Username           Authentication\n"
                "IMAP      %s  %-5d  SSL/TLS   alice@example.org  normal password\n"
                "POP3      %s  %-5d  SSL/TLS   alice@example.org  normal password\n"
                "SMTP      %s  %-5d  SSL/TLS   alice@example.org  normal password\n"
                "SMTP      %s  %-5d  STARTTLS  alice@example.org  normal password\n"
                % (h, p["imaps"], h, p["pop3s"], h, p["submissions"], h, p["submission"]))
        want += ("\nAutomatic setup (through the HTTPS proxy in front of [listen] http):\n"
                 "Thunderbird  https://autoconfig.example.org/mail/config-v1.1.xml"
                 "?emailaddress=alice%40example.org\n"
                 "Outlook      https://autodiscover.example.org/autodiscover/autodiscover.xml"
                 " (POST)\n"
                 "Outlook new  https://autodiscover.example.org/autodiscover/autodiscover.json"
                 "?Email=alice%40example.org&Protocol=AutodiscoverV1\n"
                 "Apple        https://autoconfig.example.org/apple/mobileconfig"
                 "?emailaddress=alice%40example.org\n")
        self.assertEqual(r.stdout, want)
        r = self.srv.ctl("client-settings", "alice@example.com")
        self.assertEqual(r.returncode, 1)
        self.assertIn("example.com is not one of the domains", r.stderr)
        r = self.srv.ctl("client-settings")
        self.assertEqual(r.returncode, 1)


class ManageSieveListed(unittest.TestCase):
    """With the managesieve listener on, the autoconfig file names it
    (<incomingServer type="managesieve">, the mailmaint autoconfig draft's
    type, after the IMAP and POP3 servers) and client-settings prints a
    Sieve line; the autodiscover answer stays without it. Off (the default,
    the classes above): absent everywhere."""

    def test_on_and_off(self):
        port = mmtest.free_ports(1)[0]
        with mmtest.Server(users={}, http=True,
                           extra_conf="[listen]\nmanagesieve = 127.0.0.1:%d\n" % port) as srv:
            code, _, body = curl(srv, AUTOCONFIG_PATHS[0] + "?emailaddress=alice%40example.org")
            self.assertEqual(code, 200, body)
            ac, ad = expected(srv)
            self.assertEqual(autoconfig_servers(body)[2],
                             ac | {("incomingServer", "managesieve", mmtest.HOSTNAME, port,
                                    "STARTTLS")})
            types = [s.get("type") for s in
                     ET.fromstring(body).find("emailProvider").findall("incomingServer")]
            self.assertEqual(types, ["imap", "pop3", "managesieve"])
            code, _, body = curl(srv, AUTODISCOVER_PATHS[0], "POST",
                                 ad_request("alice@example.org"))
            self.assertEqual(code, 200, body)
            self.assertEqual(autodiscover_protocols(body, "alice@example.org"), ad)
            r = srv.ctl("client-settings", "alice@example.org")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("\nSieve     %s  %-5d  STARTTLS  alice@example.org  normal password\n"
                          % (mmtest.HOSTNAME, port), r.stdout)
        with mmtest.Server(users={}, http=True) as srv:
            code, _, body = curl(srv, AUTOCONFIG_PATHS[0] + "?emailaddress=alice%40example.org")
            self.assertEqual(code, 200, body)
            self.assertNotIn(b"managesieve", body)
            r = srv.ctl("client-settings", "alice@example.org")
            self.assertNotIn("Sieve", r.stdout)


class ListenerOff(unittest.TestCase):
    def fetch(self, srv):
        code, _, ac = curl(srv, AUTOCONFIG_PATHS[0] + "?emailaddress=alice%40example.org")
        self.assertEqual(code, 200, ac)
        code, _, ad = curl(srv, AUTODISCOVER_PATHS[0], "POST", ad_request("alice@example.org"))
        self.assertEqual(code, 200, ad)
        return autoconfig_servers(ac)[2], autodiscover_protocols(ad, "alice@example.org")

    def test_disabled_listener_disappears(self):
        with mmtest.Server(users={}, http=True) as srv:
            ac, ad = self.fetch(srv)
            self.assertEqual((ac, ad), expected(srv))
            all_ports = {srv.ports[n] for n in ("imaps", "pop3s", "submissions", "submission")}

            # restart with pop3s and submission off
            srv.ports["pop3s"] = "off"
            srv.ports["submission"] = "off"
            srv.write_conf()
            srv.restart()
            ac, ad = self.fetch(srv)
            self.assertEqual((ac, ad), expected(srv, off=("pop3s", "submission")))
            self.assertFalse(any(s[1] == "pop3" for s in ac))
            self.assertFalse(any(p[0] == "POP3" for p in ad))
            self.assertEqual(len({s[3] for s in ac} & all_ports), 2)

            # SIGHUP with imaps off too: the answers follow the live config
            srv.ports["imaps"] = "off"
            srv.write_conf()
            srv.reload()
            deadline = time.time() + 10
            while True:
                ac, ad = self.fetch(srv)
                if (ac, ad) == expected(srv, off=("pop3s", "submission", "imaps")) \
                        or time.time() > deadline:
                    break
                time.sleep(0.1)
            self.assertEqual((ac, ad), expected(srv, off=("pop3s", "submission", "imaps")))
            r = srv.ctl("client-settings", "alice@example.org")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("IMAP      not offered (imaps is off)\n", r.stdout)
            self.assertIn("POP3      not offered (pop3s is off)\n", r.stdout)

    def test_http_off_by_default(self):
        with mmtest.Server(users={}, start=False) as srv:
            self.assertNotIn("http", srv.ports)
            self.assertNotIn("\nhttp =", srv.conf_text())

    def test_check_reports_taken_http_port(self):
        with mmtest.Server(users={}, http=True, start=False) as srv:
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", srv.ports["http"]))
            s.listen(1)
            try:
                r = subprocess.run([mmtest.MINIMAILD, "-t", "-c", srv.conf_path],
                                   capture_output=True, text=True, timeout=60)
            finally:
                s.close()
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("warning: cannot listen on 127.0.0.1:%d for http: Address already in use"
                          % srv.ports["http"], r.stderr)


if __name__ == "__main__":
    mmtest.main()
