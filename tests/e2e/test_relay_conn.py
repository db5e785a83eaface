#!/usr/bin/env python3
"""End-to-end tests of the relay's connection layer (net/conn-client,
issue 18 item 5) against a scripted raw SMTP server on loopback, for what
the friendly sink of test_relay.py never does: replies ending in a bare
LF and multi-line greetings, a reply line that never ends (bounded:
"reply line too long"), and a server that says 220 to STARTTLS and then
answers the handshake with text (opportunistic TLS falls back to plain
text on a new connection, RFC 7435)."""
import socket
import threading
import time
import unittest

import mmtest
from test_relay import USERS, LogOnFailure, msg, relay_conf, submit, wait_queue


class RawServer:
    """Accepts connections on 127.0.0.1; each is served by mode(conn, n),
    n counting connections from 0. Records every command line."""

    def __init__(self, mode):
        self.port = mmtest.free_ports(1)[0]
        self.mode = mode
        self.log = []
        self.messages = []
        self.lock = threading.Lock()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(8)
        self.sock.settimeout(0.5)
        self.running = True
        self.n = 0
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while self.running:
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            n, self.n = self.n, self.n + 1
            threading.Thread(target=self.serve, args=(c, n), daemon=True).start()

    def serve(self, c, n):
        c.settimeout(30)
        try:
            self.mode(self, c, c.makefile("rb"), n)
        except OSError:
            pass
        finally:
            c.close()

    def line(self, f):
        l = f.readline()
        if not l:
            raise ConnectionError("closed")
        cmd = l.rstrip(b"\r\n").decode("utf-8", "replace")
        with self.lock:
            self.log.append(cmd)
        return cmd

    def transaction(self, c, f):
        """MAIL, RCPT, DATA (pipelined), the data, QUIT."""
        while True:
            cmd = self.line(f).upper()
            if cmd.startswith("MAIL") or cmd.startswith("RCPT"):
                c.sendall(b"250 ok\n")           # bare LF
            elif cmd == "DATA":
                c.sendall(b"354 go\r\n")
                data = b""
                while True:
                    l = f.readline()
                    if not l or l == b".\r\n":
                        break
                    data += l[1:] if l.startswith(b".") else l
                with self.lock:
                    self.messages.append(data)
                c.sendall(b"250-2.0.0 queued\n250 2.0.0 as one\r\n")
            elif cmd == "QUIT":
                c.sendall(b"221 bye\r\n")
                return
            else:
                c.sendall(b"500 what\r\n")

    def stop(self):
        self.running = False
        self.sock.close()
        self.thread.join(5)


def mode_bare_lf(s, c, f, n):
    c.sendall(b"220-raw.test greets\n220 ready\r\n")
    s.line(f)                                    # EHLO
    c.sendall(b"250-raw.test\n250-PIPELINING\n250 8BITMIME\r\n")
    s.transaction(c, f)


def mode_endless_line(s, c, f, n):
    c.sendall(b"220 raw.test\r\n")
    s.line(f)
    c.sendall(b"250-" + b"x" * 3000)             # and never a line end
    time.sleep(20)


def mode_tls_garbage(s, c, f, n):
    c.sendall(b"220 raw.test\r\n")
    s.line(f)
    if n == 0:
        c.sendall(b"250-raw.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n")
        if s.line(f).upper() != "STARTTLS":
            return
        c.sendall(b"220 go ahead\r\n")
        c.recv(4096)                             # the ClientHello
        c.sendall(b"this is not TLS\r\n" * 4)
        time.sleep(1)
        return
    c.sendall(b"250-raw.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n")
    s.transaction(c, f)


class RelayConnTest(LogOnFailure):
    def tearDown(self):
        if self.srv:
            self.srv.close()
        self.raw.stop()

    def start(self, mode, retry="1s"):
        self.raw = RawServer(mode)
        self.srv = mmtest.Server(users=USERS, extra_conf=relay_conf(self.raw.port, retry))

    def delivered(self, n=1, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.raw.lock:
                if len(self.raw.messages) >= n:
                    return list(self.raw.messages)
            time.sleep(0.1)
        self.fail("raw server got %d messages; log %r" % (len(self.raw.messages),
                                                          self.raw.log[-20:]))

    def wait_log(self, what, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if what in self.srv.log():
                return
            time.sleep(0.1)
        self.fail("never logged: " + what)

    def test_01_bare_lf_and_multiline(self):
        self.start(mode_bare_lf)
        m = msg("raw bare lf")
        submit(self.srv, "alice@example.org", ["x@remote.test"], m)
        data, = self.delivered()
        self.assertTrue(data.endswith(m))
        self.wait_log("result=sent")

    def test_02_unfinished_reply_line_is_bounded(self):
        self.start(mode_endless_line, "1h")
        submit(self.srv, "alice@example.org", ["x@remote.test"], msg("raw endless"))
        out = wait_queue(self.srv, lambda o: "attempts=1" in o)
        self.assertIn("451 4.5.0 protocol error: reply line too long", out)
        self.assertEqual(self.raw.messages, [])

    def test_03_tls_garbage_falls_back_to_plain(self):
        self.start(mode_tls_garbage)
        m = msg("raw tls garbage")
        submit(self.srv, "alice@example.org", ["x@remote.test"], m)
        data, = self.delivered()
        self.assertTrue(data.endswith(m))
        self.assertEqual(self.raw.log.count("STARTTLS"), 1)
        log = self.srv.log()
        self.assertIn("event=tls-failed", log)
        self.assertIn("retrying without TLS", log)


if __name__ == "__main__":
    unittest.main()
