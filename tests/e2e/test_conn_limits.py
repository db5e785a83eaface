#!/usr/bin/env python3
"""Limits before the expensive part (issue 12): a connection over
max_connections_per_ip is refused before any TLS handshake or session (on
an implicit-TLS port: closed at once, logged once per address per minute),
while a client from another address is served; max_connections_per_user;
refused RCPTs count toward SMTP's bad-command limit; and every orderly
close under TLS ends with a close_notify (no "unexpected EOF")."""
import os
import smtplib
import socket
import ssl
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmtest  # noqa: E402

ALICE = ("alice@example.org", "alice-secret")


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1])
    raise RuntimeError("no VmRSS")


def settle(srv):
    """mmtest's readiness probes are connections too: let them go."""
    time.sleep(0.5)


def closed_at_once(s, secs=2.0):
    """True if the server closed s (EOF or reset) within secs, sending
    nothing; False if it is still open."""
    s.settimeout(secs)
    try:
        d = s.recv(4096)
    except socket.timeout:
        return False
    except ConnectionResetError:
        return True
    if d:
        raise AssertionError("the server sent %r" % d[:100])
    return True


def tls_line_client(srv, port, source="127.0.0.1"):
    raw = socket.create_connection(("127.0.0.1", port), timeout=10,
                                   source_address=(source, 0))
    # suppress_ragged_eofs=False: an EOF without close_notify raises
    return srv.ssl_context().wrap_socket(raw, suppress_ragged_eofs=False)


def read_line(s):
    buf = b""
    while not buf.endswith(b"\r\n"):
        d = s.recv(1)
        if not d:
            raise AssertionError("EOF after %r" % buf)
        buf += d
    return buf


def read_until(s, marker):
    buf = b""
    while marker not in buf:
        d = s.recv(65536)
        if not d:
            raise AssertionError("EOF before %r: %r" % (marker, buf[-200:]))
        buf += d
    return buf


def clean_eof(testcase, s, what):
    """After the server's goodbye: the next read is a clean end of the TLS
    stream (close_notify), not ssl.SSLEOFError ('unexpected eof')."""
    s.settimeout(10)
    try:
        rest = b""
        while True:
            d = s.recv(4096)
            if not d:
                break
            rest += d
    except ssl.SSLEOFError as e:
        testcase.fail("%s: no close_notify: %s" % (what, e))
    return rest


class PerIpBeforeTls(unittest.TestCase):
    def test_50_silent_tls_connections(self):
        """50 connections to 993 that never send a ClientHello, from one
        address (127.0.0.3), max_connections_per_ip = 5: the 6th and later are closed
        at once without a handshake, memory stays flat, the refusals are
        logged once, and a client from 127.0.0.2 is served."""
        with mmtest.Server(limits="max_connections_per_ip = 5") as srv:
            settle(srv)
            logged_before = len(srv.log())
            base = rss_kib(srv.proc.pid)
            socks = []
            for _ in range(50):
                socks.append(socket.create_connection(("127.0.0.1", srv.ports["imaps"]),
                                                      timeout=10,
                                                      source_address=("127.0.0.3", 0)))
            refused = [closed_at_once(s, 0.5) for s in socks[:5]]
            t = time.time()
            refused += [closed_at_once(s, 3.0) for s in socks[5:]]
            print("45 refusals seen within %.2f s" % (time.time() - t), file=sys.stderr)
            self.assertEqual(refused[:5], [False] * 5)
            self.assertEqual(refused[5:], [True] * 45)
            grew = rss_kib(srv.proc.pid) - base
            print("rss growth with 5 handshaking + 45 refused: %d KiB (bound 2048)" % grew,
                  file=sys.stderr)
            self.assertLess(grew, 2048)
            # another address is served while the five sit there
            t = time.time()
            c = tls_line_client(srv, srv.ports["imaps"], source="127.0.0.2")
            self.assertTrue(read_line(c).startswith(b"* OK"))
            c.sendall(b"a LOGIN %s %s\r\n" % (ALICE[0].encode(), ALICE[1].encode()))
            self.assertIn(b"a OK", read_until(c, b"a OK"))
            c.sendall(b"b LOGOUT\r\n")
            read_until(c, b"b OK")
            c.close()
            print("login from 127.0.0.2: %.3f s" % (time.time() - t), file=sys.stderr)
            logged = [ln for ln in srv.log()[logged_before:].splitlines()
                      if "event=refused" in ln and "addr=127.0.0.3 " in ln]
            self.assertEqual(len(logged), 1, logged)
            self.assertIn("tls=closed-before-handshake", logged[0])
            self.assertNotIn("tls-failed", srv.log()[logged_before:])   # none tried
            for s in socks:
                s.close()

    def test_plain_port_busy_reply(self):
        """On 143 the refused client is told why, then closed."""
        with mmtest.Server(limits="max_connections_per_ip = 2") as srv:
            settle(srv)
            keep = [srv.connect("imap") for _ in range(2)]
            for k in keep:
                self.assertTrue(read_line(k).startswith(b"* OK"))
            s = srv.connect("imap")
            self.assertEqual(read_line(s), b"* BYE Too many connections from your address\r\n")
            self.assertEqual(s.recv(100), b"")
            for k in keep + [s]:
                k.close()


class HttpCounted(unittest.TestCase):
    def test_http_counts_in_max_connections(self):
        """An HTTP connection (from its first request until it closes)
        counts in max_connections like the mail listeners' ones."""
        with mmtest.Server(http=True, limits="max_connections = 3\n"
                           "max_connections_per_ip = 3") as srv:
            settle(srv)
            h = socket.create_connection(("127.0.0.1", srv.ports["http"]), timeout=10)
            h.sendall(b"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertIn(b"404", read_until(h, b"\r\n\r\n"))
            keep = [srv.connect("imap") for _ in range(2)]
            for k in keep:
                self.assertTrue(read_line(k).startswith(b"* OK"))
            s = srv.connect("imap")
            self.assertEqual(read_line(s), b"* BYE Too many connections\r\n")
            s.close()
            h.close()
            time.sleep(0.3)
            s = srv.connect("imap")
            self.assertTrue(read_line(s).startswith(b"* OK"))
            # now three mail connections: an HTTP request is turned away
            h = socket.create_connection(("127.0.0.1", srv.ports["http"]), timeout=10)
            h.sendall(b"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertIn(b"503", read_until(h, b"\r\n\r\n"))
            for k in keep + [s, h]:
                k.close()


class PerUser(unittest.TestCase):
    def test_max_connections_per_user(self):
        with mmtest.Server(limits="max_connections_per_user = 2") as srv:
            def login():
                c = tls_line_client(srv, srv.ports["imaps"])
                read_line(c)
                c.sendall(b"a LOGIN %s %s\r\n" % (ALICE[0].encode(), ALICE[1].encode()))
                return c, read_until(c, b"a ")
            c1, r1 = login()
            c2, r2 = login()
            self.assertIn(b"a OK", r1)
            self.assertIn(b"a OK", r2)
            c3, r3 = login()
            self.assertIn(b"a NO [UNAVAILABLE]", r3)
            self.assertIn("reason=max_connections_per_user", srv.log())
            # bob is not alice
            b = tls_line_client(srv, srv.ports["imaps"])
            read_line(b)
            b.sendall(b"a LOGIN bob@example.org bob-secret\r\n")
            self.assertIn(b"a OK", read_until(b, b"a "))
            # one of alice's leaves: she may come in again
            c1.sendall(b"z LOGOUT\r\n")
            read_until(c1, b"z OK")
            c1.close()
            time.sleep(0.3)
            c3.sendall(b"a2 LOGIN %s %s\r\n" % (ALICE[0].encode(), ALICE[1].encode()))
            self.assertIn(b"a2 OK", read_until(c3, b"a2 "))
            for c in (c2, c3, b):
                c.close()


class RcptHarvest(unittest.TestCase):
    def test_unknown_rcpts_count_as_bad_commands(self):
        """Guessing addresses: each 550 5.1.1 counts toward the
        bad-command limit (20), then 421 and the connection closes."""
        with mmtest.Server() as srv:
            c = smtplib.SMTP("127.0.0.1", srv.ports["smtp"], timeout=30)
            c.ehlo("harvester.example")
            c.mail("x@example.com")
            codes = []
            for i in range(25):
                try:
                    code, _ = c.rcpt("guess%d@example.org" % i)
                except smtplib.SMTPServerDisconnected:
                    break
                codes.append(code)
                if code == 421:
                    break
            # 19 refusals, the 20th bad command brings 421 (smtplib reads
            # the 550 of the 20th, then the 421 closes the connection)
            self.assertEqual(codes[:19], [550] * 19)
            self.assertLessEqual(len(codes), 21)
            self.assertIn("event=too-many-errors", srv.log())
            c.close()


class CloseNotify(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = mmtest.Server()

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def test_imaps_logout(self):
        c = tls_line_client(self.srv, self.srv.ports["imaps"])
        read_line(c)
        c.sendall(b"a LOGIN %s %s\r\nb LOGOUT\r\n" % (ALICE[0].encode(), ALICE[1].encode()))
        read_until(c, b"b OK")
        clean_eof(self, c, "IMAP LOGOUT")
        c.close()

    def test_imap_starttls_logout(self):
        raw = self.srv.connect("imap")
        read_line(raw)
        raw.sendall(b"s STARTTLS\r\n")
        read_until(raw, b"s OK")
        c = self.srv.ssl_context().wrap_socket(raw, suppress_ragged_eofs=False)
        c.sendall(b"b LOGOUT\r\n")
        read_until(c, b"b OK")
        clean_eof(self, c, "IMAP STARTTLS LOGOUT")
        c.close()

    def test_pop3s_quit(self):
        c = tls_line_client(self.srv, self.srv.ports["pop3s"])
        read_line(c)
        c.sendall(b"USER %s\r\nPASS %s\r\nQUIT\r\n" % (ALICE[0].encode(), ALICE[1].encode()))
        read_until(c, b"signing off")
        clean_eof(self, c, "POP3 QUIT")
        c.close()

    def test_smtps_quit(self):
        c = tls_line_client(self.srv, self.srv.ports["submissions"])
        read_line(c)
        c.sendall(b"QUIT\r\n")
        self.assertTrue(read_line(c).startswith(b"221"))
        clean_eof(self, c, "SMTP QUIT")
        c.close()

    def test_imaps_idle_timeout(self):
        """The idle timeout (60 s before login) says goodbye and ends the
        TLS stream cleanly too. The longest test here: about a minute."""
        c = tls_line_client(self.srv, self.srv.ports["imaps"])
        read_line(c)
        c.settimeout(90)
        t = time.time()
        self.assertEqual(read_line(c), b"* BYE Autologout; idle for too long\r\n")
        print("autologout after %.1f s" % (time.time() - t), file=sys.stderr)
        clean_eof(self, c, "IMAP autologout")
        c.close()

    def test_unwrap(self):
        """SSLSocket.unwrap(): the TLS shutdown completes both ways."""
        c = tls_line_client(self.srv, self.srv.ports["imaps"])
        read_line(c)
        c.sendall(b"b LOGOUT\r\n")
        read_until(c, b"b OK")
        c.settimeout(10)
        raw = c.unwrap()   # raises SSLEOFError without the server's close_notify
        raw.close()


if __name__ == "__main__":
    mmtest.main()
