#!/usr/bin/env python3
"""Failed logins (issues 4, 5, 6): each failure is answered after a delay
that grows per client address, across connections and protocols, and after
AUTH_FAILS_BEFORE_CLOSE (5) failures the connection is closed with the
protocol's words; other addresses are not slowed; a right password still
works afterwards from a fresh address. Each protocol uses its own loopback
source address (127.0.0.2-4) so the counts stay apart."""
import socket
import ssl
import threading
import time
import base64
import unittest

import mmtest


def connect_from(srv, name, src):
    s = socket.socket()
    s.bind((src, 0))
    s.settimeout(30)
    s.connect(("127.0.0.1", srv.ports[name]))
    return srv.ssl_context().wrap_socket(s, server_hostname="localhost")


def readline(s):
    data = b""
    while not data.endswith(b"\n"):
        c = s.recv(1)
        if not c:
            break
        data += c
    return data


def smtp_reply(s):
    lines = []
    while True:
        l = readline(s)
        lines.append(l)
        if not l or l[3:4] == b" ":
            return b"".join(lines)


class AuthDelayTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = mmtest.Server()
        cls.results = {}

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def attempts_smtp(self, src):
        s = connect_from(self.srv, "submissions", src)
        smtp_reply(s)
        s.sendall(b"EHLO client.example\r\n")
        smtp_reply(s)
        out = []
        for i in range(5):
            cred = base64.b64encode(b"\0alice@example.org\0wrong%d" % i)
            t0 = time.time()
            s.sendall(b"AUTH PLAIN " + cred + b"\r\n")
            r = smtp_reply(s)
            out.append((time.time() - t0, r))
        out.append((0, smtp_reply(s)))   # anything after the last answer
        return out

    def attempts_imap(self, src):
        s = connect_from(self.srv, "imaps", src)
        readline(s)
        out = []
        for i in range(5):
            t0 = time.time()
            s.sendall(b"a%d LOGIN alice@example.org wrong%d\r\n" % (i, i))
            r = readline(s)
            while r.startswith(b"* ") and not r.startswith(b"* BYE"):
                r = readline(s)
            out.append((time.time() - t0, r))
        rest = b""
        while True:
            l = readline(s)
            if not l:
                break
            rest += l
        out.append((0, rest))
        return out

    def attempts_pop3(self, src):
        s = connect_from(self.srv, "pop3s", src)
        readline(s)
        out = []
        for i in range(5):
            s.sendall(b"USER alice@example.org\r\n")
            readline(s)
            t0 = time.time()
            s.sendall(b"PASS wrong%d\r\n" % i)
            r = readline(s)
            out.append((time.time() - t0, r))
        out.append((0, readline(s)))
        return out

    def test_growing_delay_and_close(self):
        runs = {"smtp": (self.attempts_smtp, "127.0.0.2"),
                "imap": (self.attempts_imap, "127.0.0.3"),
                "pop3": (self.attempts_pop3, "127.0.0.4")}
        results, errors = {}, {}

        def run(name, fn, src):
            try:
                results[name] = fn(src)
            except Exception as e:   # reported below
                errors[name] = e

        threads = [threading.Thread(target=run, args=(n, f, a)) for n, (f, a) in runs.items()]
        for t in threads:
            t.start()
        # Meanwhile another address logs in without delay.
        t0 = time.time()
        s = connect_from(self.srv, "imaps", "127.0.0.5")
        readline(s)
        s.sendall(b"a LOGIN alice@example.org alice-secret\r\n")
        r = readline(s)
        while r.startswith(b"* "):
            r = readline(s)
        self.assertTrue(r.startswith(b"a OK"), r)
        self.assertLess(time.time() - t0, 3)
        s.close()
        for t in threads:
            t.join(120)
        self.assertEqual(errors, {})
        for name, out in results.items():
            with self.subTest(protocol=name):
                delays = [d for d, _ in out[:5]]
                # 0.5 s, then doubling (scheduling slack allowed above, never below)
                for i, d in enumerate(delays):
                    self.assertGreaterEqual(d, 0.5 * (2 ** i) * 0.9, (name, delays))
                if name == "smtp":
                    for _, r in out[:4]:
                        self.assertTrue(r.startswith(b"535 5.7.8"), r)
                    self.assertIn(b"421 4.7.0", out[4][1] + out[5][1])
                elif name == "imap":
                    for _, r in out[:4]:
                        self.assertRegex(r, rb"^a\d NO ")
                    self.assertIn(b"* BYE", out[4][1] + out[5][1])
                else:
                    for _, r in out[:4]:
                        self.assertTrue(r.startswith(b"-ERR [AUTH]"), r)
                    self.assertIn(b"-ERR", out[4][1])
        # The daemon still serves, and the right password works from a new address.
        s = connect_from(self.srv, "pop3s", "127.0.0.6")
        readline(s)
        s.sendall(b"USER alice@example.org\r\nPASS alice-secret\r\n")
        readline(s)
        self.assertTrue(readline(s).startswith(b"+OK"))
        s.close()


if __name__ == "__main__":
    mmtest.main()
