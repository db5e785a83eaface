#!/usr/bin/env python3
"""End-to-end test of ManageSieve (RFC 5804, issue 15) on [listen]
managesieve, driven by Debian's sieve-connect client (STARTTLS, SASL
PLAIN): upload, list, activate, download, check a broken script (NO with
the error), delete (the active one refused); and by a raw socket: the
greeting's capabilities, plaintext AUTHENTICATE refused before STARTTLS
(NO (ENCRYPT-NEEDED)), HAVESPACE, RENAMESCRIPT, literals, errors; the
shared session core (SASL LOGIN steps, cancel, bad base64, STARTTLS
twice, the bad-command limit).
Exits 77 when sieve-connect is missing."""
import base64
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

import mmtest

SIEVE_CONNECT = shutil.which("sieve-connect")
USER, PASSWORD = "alice@example.org", "alice-secret"


class Conn:
    """A raw ManageSieve client: lines and responses."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.f = self.sock.makefile("rb")

    def response(self):
        """Lines up to the OK/NO/BYE line; (lines, last)."""
        lines = []
        while True:
            line = self.f.readline()
            if not line:
                raise AssertionError("connection closed after %r" % lines)
            lines.append(line)
            if line.startswith((b"OK", b"NO", b"BYE")):
                return lines[:-1], line

    def send(self, data):
        self.sock.sendall(data)

    def starttls(self, ctx):
        self.send(b"STARTTLS\r\n")
        _, last = self.response()
        assert last.startswith(b"OK"), last
        self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost")
        self.f = self.sock.makefile("rb")
        return self.response()

    def close(self):
        self.sock.close()


class ManageSieveTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.port = mmtest.free_ports(1)[0]
        cls.srv = mmtest.Server(extra_conf="[listen]\nmanagesieve = 127.0.0.1:%d\n" % cls.port)
        # the managesieve listener is not one mmtest waits for
        deadline = time.time() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", cls.port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.05)
        cls.tmp = tempfile.mkdtemp(prefix="mm-msieve-")
        cls.pw = os.path.join(cls.tmp, "pw")
        with open(cls.pw, "w") as f:
            f.write(PASSWORD + "\n")

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def sieve_connect(self, *args):
        # fd 9: Perl keeps its own script open on a low descriptor
        fd = os.open(self.pw, os.O_RDONLY)
        os.dup2(fd, 9)
        os.close(fd)
        try:
            return subprocess.run(
                [SIEVE_CONNECT, "--server", "127.0.0.1", "--port", str(self.port), "--user", USER,
                 "--passwordfd", "9", "--notlsverify", "--authmech", "PLAIN"] + list(args),
                capture_output=True, text=True, pass_fds=(9,), timeout=60, cwd=self.tmp)
        finally:
            os.close(9)

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_sieve_connect(self):
        good = self.write("good.sieve", 'require ["fileinto", "mailbox"];\n'
                          'if header :contains "subject" "[dev]" { fileinto :create "Lists/dev"; }\n')
        bad = self.write("bad.sieve", 'require "fileinto";\nif frob { keep; }\n')
        r = self.sieve_connect("--upload", "--localsieve", good, "--remotesieve", "filters")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.sieve_connect("--list")
        self.assertEqual((r.returncode, r.stdout), (0, '"filters"\n'), r.stderr)
        r = self.sieve_connect("--activate", "--remotesieve", "filters")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.sieve_connect("--list")
        self.assertEqual(r.stdout, '"filters" ACTIVE\n', r.stderr)
        self.assertEqual(self.srv.ctl("sieve", "list", USER).stdout, "filters ACTIVE\n")
        out = os.path.join(self.tmp, "got.sieve")
        r = self.sieve_connect("--download", "--remotesieve", "filters", "--localsieve", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(out) as f, open(good) as g:
            self.assertEqual(f.read(), g.read())
        r = self.sieve_connect("--checkscript", "--localsieve", bad)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("line 2: unknown test 'frob'", r.stdout + r.stderr)
        r = self.sieve_connect("--upload", "--localsieve", bad, "--remotesieve", "broken")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("line 2: unknown test 'frob'", r.stdout + r.stderr)
        r = self.sieve_connect("--delete", "--remotesieve", "filters")
        self.assertNotEqual(r.returncode, 0)
        r = self.sieve_connect("--deactivate")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.sieve_connect("--delete", "--remotesieve", "filters")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.sieve_connect("--list")
        self.assertEqual(r.stdout, "")

    def test_client_settings(self):
        r = self.srv.ctl("client-settings", USER)
        self.assertEqual(r.returncode, 0, r.stderr)
        line = [l for l in r.stdout.splitlines() if l.startswith("Sieve")]
        self.assertEqual(len(line), 1, r.stdout)
        self.assertEqual(line[0].split()[:4], ["Sieve", mmtest.HOSTNAME, str(self.port), "STARTTLS"])

    def test_raw_protocol(self):
        c = Conn(self.port)
        caps, last = c.response()
        self.assertEqual(last, b"OK\r\n")
        self.assertIn(b'"IMPLEMENTATION" "minimaild"\r\n', caps)
        self.assertIn(b'"STARTTLS"\r\n', caps)
        self.assertIn(b'"VERSION" "1.0"\r\n', caps)
        self.assertIn(b'"SASL" ""\r\n', caps)   # nothing before TLS
        sieve = [l for l in caps if l.startswith(b'"SIEVE"')][0]
        for ext in (b"fileinto", b"vacation", b"imap4flags", b"variables", b"regex", b"include"):
            self.assertIn(ext, sieve)
        plain = base64.b64encode(b"\0" + USER.encode() + b"\0" + PASSWORD.encode())
        c.send(b'AUTHENTICATE "PLAIN" "' + plain + b'"\r\n')
        _, last = c.response()
        self.assertTrue(last.startswith(b"NO (ENCRYPT-NEEDED)"), last)
        c.send(b"LISTSCRIPTS\r\n")
        _, last = c.response()
        self.assertTrue(last.startswith(b"NO"), last)
        ctx = ssl.create_default_context(cafile=self.srv.cert)
        ctx.check_hostname = False
        caps, last = c.starttls(ctx)
        self.assertIn(b'"SASL" "PLAIN LOGIN"\r\n', caps)
        self.assertNotIn(b'"STARTTLS"\r\n', caps)
        # AUTHENTICATE without an initial response: the empty challenge
        c.send(b'AUTHENTICATE "PLAIN"\r\n')
        self.assertEqual(c.f.readline(), b'""\r\n')
        c.send(b'"' + plain + b'"\r\n')
        _, last = c.response()
        self.assertTrue(last.startswith(b"OK"), last)
        c.send(b'HAVESPACE "x" 100\r\n')
        self.assertTrue(c.response()[1].startswith(b"OK"))
        c.send(b'HAVESPACE "x" 99999999\r\n')
        self.assertTrue(c.response()[1].startswith(b"NO (QUOTA/MAXSIZE)"))
        script = b'keep;\r\n'
        c.send(b'PUTSCRIPT "a" {%d+}\r\n' % len(script) + script + b"\r\n")
        self.assertEqual(c.response()[1], b"OK\r\n")
        c.send(b'RENAMESCRIPT "a" "b"\r\nSETACTIVE "b"\r\nLISTSCRIPTS\r\n')
        self.assertEqual(c.response()[1], b"OK\r\n")
        self.assertEqual(c.response()[1], b"OK\r\n")
        lines, last = c.response()
        self.assertEqual((lines, last), ([b'"b" ACTIVE\r\n'], b"OK\r\n"))
        c.send(b'GETSCRIPT "b"\r\n')
        lines, last = c.response()
        self.assertEqual(b"".join(lines), b"{%d}\r\n" % len(script) + script + b"\r\n")
        c.send(b'DELETESCRIPT "b"\r\n')
        self.assertTrue(c.response()[1].startswith(b"NO (ACTIVE)"))
        c.send(b'GETSCRIPT "nope"\r\n')
        self.assertTrue(c.response()[1].startswith(b"NO (NONEXISTENT)"))
        c.send(b'CHECKSCRIPT {9+}\r\nif foo {}\r\n')
        self.assertEqual(c.response()[1], b'NO "line 1: unknown test \'foo\'"\r\n')
        # a :regex whose compiled form would take gigabytes (regcomp copies
        # each repetition's operand) is refused, and the server goes on
        bomb = b'require "regex";\r\nif header :regex "subject" "a' + b"+" * 40 + b'" { keep; }\r\n'
        c.send(b'PUTSCRIPT "bomb" {%d+}\r\n' % len(bomb) + bomb + b"\r\n")
        last = c.response()[1]
        self.assertTrue(last.startswith(b'NO "line 2: regular expression too complex'), last)
        c.send(b'GETSCRIPT "bomb"\r\n')
        self.assertTrue(c.response()[1].startswith(b"NO (NONEXISTENT)"))
        c.send(b'NOOP "t1"\r\n')
        self.assertEqual(c.response()[1], b'OK (TAG "t1") "Done"\r\n')
        # a literal over max_script_size is swallowed and refused once
        big = 70 * 1024
        c.send(b'PUTSCRIPT "big" {%d+}\r\n' % big + b"#" * big + b"\r\n")
        self.assertTrue(c.response()[1].startswith(b"NO (QUOTA/MAXSIZE)"))
        c.send(b'SETACTIVE ""\r\nDELETESCRIPT "b"\r\n')
        self.assertEqual(c.response()[1], b"OK\r\n")
        self.assertEqual(c.response()[1], b"OK\r\n")
        c.send(b"FROB\r\n")
        self.assertTrue(c.response()[1].startswith(b"NO"))
        c.send(b"UNAUTHENTICATE\r\n")
        self.assertEqual(c.response()[1], b"OK\r\n")
        c.send(b"LISTSCRIPTS\r\n")
        self.assertTrue(c.response()[1].startswith(b"NO"))
        c.send(b"LOGOUT\r\n")
        self.assertTrue(c.response()[1].startswith(b"OK"))
        c.close()

    def test_sasl_session_core(self):
        """The shared SASL step machine and STARTTLS preamble
        (lib/sasl-session.c, net/session.c) in ManageSieve's wording:
        LOGIN's two challenges as strings, "*" cancels, bad base64 and a
        wrong password are refused, STARTTLS twice is refused, and the
        bad-command limit closes the connection."""
        c = Conn(self.port)
        c.response()
        ctx = ssl.create_default_context(cafile=self.srv.cert)
        ctx.check_hostname = False
        c.starttls(ctx)
        c.send(b"STARTTLS\r\n")
        self.assertEqual(c.response()[1], b'NO "TLS is active already"\r\n')
        b64 = lambda v: base64.b64encode(v.encode())
        # LOGIN, cancelled at the password
        c.send(b'AUTHENTICATE "LOGIN"\r\n')
        self.assertEqual(c.f.readline(), b'"VXNlcm5hbWU6"\r\n')     # "Username:"
        c.send(b'"' + b64(USER) + b'"\r\n')
        self.assertEqual(c.f.readline(), b'"UGFzc3dvcmQ6"\r\n')     # "Password:"
        c.send(b'"*"\r\n')
        self.assertEqual(c.response()[1], b'NO "Authentication cancelled"\r\n')
        # bad base64, then a wrong password (after the failure delay)
        c.send(b'AUTHENTICATE "PLAIN" "!!!"\r\n')
        self.assertEqual(c.response()[1], b'NO "Invalid SASL response"\r\n')
        c.send(b'AUTHENTICATE "PLAIN" "' + b64("\0" + USER + "\0wrong") + b'"\r\n')
        self.assertEqual(c.response()[1], b'NO "Authentication failed"\r\n')
        # LOGIN to the end, the response as a literal
        c.send(b'AUTHENTICATE "LOGIN" "' + b64(USER) + b'"\r\n')
        self.assertEqual(c.f.readline(), b'"UGFzc3dvcmQ6"\r\n')
        pw = b64(PASSWORD)
        c.send(b"{%d+}\r\n" % len(pw) + pw + b"\r\n")
        self.assertEqual(c.response()[1], b'OK "Logged in"\r\n')
        c.send(b"LOGOUT\r\n")
        self.assertTrue(c.response()[1].startswith(b"OK"))
        c.close()
        # SESSION_MAX_BAD_COMMANDS (20) mistakes: BYE and closed
        c = Conn(self.port)
        c.response()
        c.send(b"FROB\r\n" * 20)
        for _ in range(20):
            self.assertEqual(c.response()[1], b'NO "Authenticate first"\r\n')
        self.assertEqual(c.response()[1], b'BYE "Too many invalid commands"\r\n')
        self.assertEqual(c.f.readline(), b"")
        c.close()


if __name__ == "__main__":
    if SIEVE_CONNECT is None:
        print("sieve-connect is not installed: skipped")
        sys.exit(77)
    unittest.main()
