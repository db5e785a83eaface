#!/usr/bin/env python3
"""End to end: the daemon core (issue 2). The real minimaild on loopback:
-t on good and broken configs, TLS on the three implicit listeners and
STARTTLS on the other four (Python ssl and openssl s_client), no plaintext
injection across STARTTLS, overlong lines, per-IP connection limits with
each protocol's words, SIGHUP moving a listener, a failed reload keeping
the old config, SIGTERM exiting 0."""
import os
import re
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

import mmtest

GREETING = {"smtp": b"220 ", "imap": b"* OK", "pop3": b"+OK"}
PROTO = {"smtp": "smtp", "submission": "smtp", "submissions": "smtp",
         "imap": "imap", "imaps": "imap", "pop3": "pop3", "pop3s": "pop3"}
IMPLICIT = ["submissions", "imaps", "pop3s"]
STARTTLS = ["smtp", "submission", "imap", "pop3"]


def read_until(sock, pred, timeout=5.0):
    """Reads until pred(data) is true; returns data (may be partial on timeout)."""
    sock.settimeout(timeout)
    data = b""
    end = time.time() + timeout
    while not pred(data) and time.time() < end:
        try:
            chunk = sock.recv(65536)
        except (socket.timeout, ssl.SSLError, TimeoutError):
            break
        if not chunk:
            break
        data += chunk
    return data


def line(sock, timeout=5.0):
    return read_until(sock, lambda d: d.endswith(b"\n"), timeout)


def smtp_reply(sock, timeout=5.0):
    """A whole (possibly multi-line) SMTP reply."""
    return read_until(sock, lambda d: re.search(rb"(^|\n)\d{3} [^\n]*\n$", d) is not None, timeout)


def starttls_plain(sock, proto):
    """Runs the protocol's STARTTLS exchange in clear text; returns after the go-ahead."""
    if proto == "smtp":
        smtp_reply(sock)
        sock.sendall(b"EHLO client.example\r\n")
        r = smtp_reply(sock)
        assert b"STARTTLS" in r, r
        sock.sendall(b"STARTTLS\r\n")
        r = smtp_reply(sock)
        assert r.startswith(b"220"), r
    elif proto == "imap":
        line(sock)
        sock.sendall(b"a1 STARTTLS\r\n")
        r = line(sock)
        assert r.startswith(b"a1 OK"), r
    else:
        line(sock)
        sock.sendall(b"STLS\r\n")
        r = line(sock)
        assert r.startswith(b"+OK"), r


class DaemonTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = mmtest.Server()

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def ctx(self):
        return self.srv.ssl_context()

    def test_implicit_tls_handshake(self):
        for name in IMPLICIT:
            with self.subTest(listener=name):
                raw = self.srv.connect(name)
                s = self.ctx().wrap_socket(raw, server_hostname="localhost")
                self.assertIn(s.version(), ("TLSv1.2", "TLSv1.3"))
                greet = line(s)
                self.assertTrue(greet.startswith(GREETING[PROTO[name]]), greet)
                s.close()

    def test_starttls_python(self):
        for name in STARTTLS:
            with self.subTest(listener=name):
                sock = self.srv.connect(name)
                starttls_plain(sock, PROTO[name])
                s = self.ctx().wrap_socket(sock, server_hostname="localhost")
                self.assertIn(s.version(), ("TLSv1.2", "TLSv1.3"))
                if PROTO[name] == "smtp":
                    s.sendall(b"EHLO client.example\r\n")
                    r = smtp_reply(s)
                    self.assertTrue(r.startswith(b"250"), r)
                    self.assertNotIn(b"STARTTLS", r)
                elif PROTO[name] == "imap":
                    s.sendall(b"a2 NOOP\r\n")
                    self.assertIn(b"a2 OK", read_until(s, lambda d: b"a2 " in d))
                else:
                    s.sendall(b"NOOP\r\n")
                    self.assertTrue(line(s).startswith(b"+OK"))
                s.close()

    def test_openssl_s_client(self):
        flags = {"smtp": "smtp", "imap": "imap", "pop3": "pop3"}
        for name in STARTTLS + IMPLICIT:
            with self.subTest(listener=name):
                args = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % self.srv.ports[name],
                        "-CAfile", self.srv.cert, "-verify_return_error", "-brief"]
                if name in STARTTLS:
                    args += ["-starttls", flags[PROTO[name]]]
                quit_cmd = {"smtp": b"QUIT\r\n", "imap": b"z LOGOUT\r\n", "pop3": b"QUIT\r\n"}
                r = subprocess.run(args, input=quit_cmd[PROTO[name]], capture_output=True,
                                   timeout=20)
                err = r.stderr.decode(errors="replace")
                self.assertIn("CONNECTION ESTABLISHED", err)
                self.assertIn("Verification: OK", err)

    def test_tls_min_version(self):
        ctx = self.ctx()
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        raw = self.srv.connect("imaps")
        with self.assertRaises((ssl.SSLError, ConnectionResetError, OSError)):
            ctx.wrap_socket(raw, server_hostname="localhost")
        raw.close()

    def test_starttls_injection(self):
        """Commands sent in the same packet as STARTTLS are never answered."""
        cases = {
            "smtp": (b"STARTTLS\r\nRSET\r\n", b"EHLO x\r\n", b"250"),
            "imap": (b"a1 STARTTLS\r\na2 NOOP\r\n", b"a3 NOOP\r\n", b"a3 OK"),
            "pop3": (b"STLS\r\nNOOP\r\n", b"NOOP\r\n", b"+OK"),
        }
        for name, proto in (("submission", "smtp"), ("imap", "imap"), ("pop3", "pop3")):
            with self.subTest(listener=name):
                inject, probe, expect = cases[proto]
                sock = self.srv.connect(name)
                if proto == "smtp":
                    smtp_reply(sock)
                    sock.sendall(b"EHLO x\r\n")
                    smtp_reply(sock)
                else:
                    line(sock)
                sock.sendall(inject)
                go = line(sock)
                self.assertTrue(go.startswith(b"220") or go.startswith(b"a1 OK") or
                                go.startswith(b"+OK"), go)
                s = self.ctx().wrap_socket(sock, server_hostname="localhost")
                extra = read_until(s, lambda d: False, timeout=0.7)
                self.assertEqual(extra, b"", "answered an injected command: %r" % extra)
                s.sendall(probe)
                r = read_until(s, lambda d: d.endswith(b"\n") and expect in d)
                self.assertIn(expect, r)
                s.close()

    def test_overlong_line(self):
        """An 8 KB line gets an error; the session or a new one still works."""
        big = b"X" * 8192 + b"\r\n"
        checks = {
            "smtp": (b"NOOP\r\n", b"250"),
            "imap": (b"n1 NOOP\r\n", b"n1 OK"),
            "pop3": (b"NOOP\r\n", b"+OK"),
        }
        for name in ("smtp", "imap", "pop3"):
            with self.subTest(listener=name):
                sock = self.srv.connect(name)
                line(sock)
                sock.sendall(big)
                r = line(sock)
                self.assertTrue(re.match(rb"^(5\d\d |\* BAD|\* BYE|-ERR|[^ ]+ BAD)", r), r)
                probe, ok = checks[name]
                try:
                    sock.sendall(probe)
                    r2 = read_until(sock, lambda d: ok in d or d == b"", timeout=3)
                    if r2:
                        self.assertIn(ok, r2)
                except OSError:
                    pass   # closed cleanly is allowed
                sock.close()
                s2 = self.srv.connect(name)
                self.assertTrue(line(s2).startswith(GREETING[name]))
                s2.close()


class LimitTest(unittest.TestCase):
    def test_per_ip_limit(self):
        """The 51st connection from one address gets the protocol's refusal,
        counted across all listeners."""
        with mmtest.Server(users={}) as srv:
            socks = []
            try:
                for i in range(50):
                    s = srv.connect("smtp")
                    self.assertTrue(smtp_reply(s).startswith(b"220"))
                    socks.append(s)
                expect = {"smtp": b"421 4.7.0", "imap": b"* BYE", "pop3": b"-ERR [SYS/TEMP]"}
                for name, prefix in expect.items():
                    s = srv.connect(name)
                    r = read_until(s, lambda d: d.endswith(b"\n"))
                    self.assertTrue(r.startswith(prefix), r)
                    self.assertEqual(read_until(s, lambda d: False, timeout=2), b"")
                    s.close()
                s = srv.connect("imaps")
                with self.assertRaises((ssl.SSLError, OSError, AssertionError)):
                    t = srv.ssl_context().wrap_socket(s, server_hostname="localhost")
                    r = line(t)
                    self.assertTrue(r.startswith(b"* BYE"), r)
                    raise AssertionError("refused over TLS as expected")
            finally:
                for s in socks:
                    s.close()
            # Once they are gone, new connections are served again.
            deadline = time.time() + 5
            while True:
                s = srv.connect("imap")
                r = line(s)
                s.close()
                if r.startswith(b"* OK") or time.time() > deadline:
                    break
                time.sleep(0.1)
            self.assertTrue(r.startswith(b"* OK"), r)


class SignalTest(unittest.TestCase):
    def test_sighup_moves_listener(self):
        with mmtest.Server(users={}) as srv:
            old = srv.ports["imap"]
            new = mmtest.free_ports(1)[0]
            srv.ports["imap"] = new
            srv.write_conf()
            srv.reload()
            deadline = time.time() + 10
            while True:
                try:
                    s = socket.create_connection(("127.0.0.1", new), timeout=1)
                    break
                except OSError:
                    if time.time() > deadline:
                        self.fail("new port not bound:\n" + srv.log())
                    time.sleep(0.05)
            self.assertTrue(line(s).startswith(b"* OK"))
            s.close()
            with self.assertRaises(OSError):
                socket.create_connection(("127.0.0.1", old), timeout=1)
            # other listeners untouched
            s = srv.connect("pop3s")
            s.close()

    def test_sighup_reloads_certificate(self):
        """New connections after SIGHUP get the new certificate; the old
        connection goes on."""
        with mmtest.Server(users={}) as srv:
            def peer_cert_der():
                raw = srv.connect("imaps")
                ctx = ssl.create_default_context()
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
                t = ctx.wrap_socket(raw, server_hostname="localhost")
                der = t.getpeercert(binary_form=True)
                line(t)
                return t, der
            old_conn, old = peer_cert_der()
            newdir = os.path.join(srv.tmp, "new")
            os.mkdir(newdir)
            cert, key = mmtest.make_cert(newdir, cn="renewed.example.org")
            os.replace(cert, srv.cert)
            os.replace(key, srv.key)
            srv.reload()
            deadline = time.time() + 10
            while "reload: done" not in srv.log() and time.time() < deadline:
                time.sleep(0.05)
            t, new = peer_cert_der()
            t.close()
            self.assertNotEqual(old, new)
            self.assertIn(b"renewed.example.org", new)
            old_conn.sendall(b"a NOOP\r\n")
            self.assertIn(b"a OK", read_until(old_conn, lambda d: b"a " in d))
            old_conn.close()

    def test_bad_reload_keeps_running(self):
        with mmtest.Server(users={}) as srv:
            good = srv.conf_text()
            srv.write_conf(good + "bogus_key = 1\n")
            srv.reload()
            deadline = time.time() + 10
            while "reload failed" not in srv.log() and time.time() < deadline:
                time.sleep(0.05)
            self.assertIn("reload failed", srv.log())
            s = srv.connect("imap")
            self.assertTrue(line(s).startswith(b"* OK"))
            s.close()
            self.assertIsNone(srv.proc.poll())

    def test_sigterm_exits_zero(self):
        with mmtest.Server(users={}) as srv:
            socks = [srv.connect(n) for n in ("smtp", "imap", "pop3")]
            for s in socks:
                line(s)
            t0 = time.time()
            srv.proc.send_signal(signal.SIGTERM)
            rc = srv.proc.wait(15)
            self.assertEqual(rc, 0, srv.log())
            self.assertLess(time.time() - t0, 10)
            # sessions were told goodbye
            self.assertTrue(smtp_reply(socks[0], 2).startswith(b"421"))
            self.assertIn(b"* BYE", read_until(socks[1], lambda d: d.endswith(b"\n"), 2))
            for s in socks:
                s.close()

    def test_sigint_exits_zero(self):
        with mmtest.Server(users={}) as srv:
            srv.proc.send_signal(signal.SIGINT)
            self.assertEqual(srv.proc.wait(15), 0, srv.log())


@unittest.skipUnless(os.getuid() == 0, "needs root")
class PrivilegeTest(unittest.TestCase):
    """Started as root: bind, then serve as run_as; never serve as root by accident."""

    def test_drops_to_run_as(self):
        import pwd
        nobody = pwd.getpwnam("nobody")
        srv = mmtest.Server(users={}, start=False)
        os.chmod(srv.tmp, 0o755)
        srv.write_conf(srv.conf_text().replace("run_as = root", "run_as = nobody"))
        # the test certificate must stay readable after the drop
        os.chmod(srv.key, 0o644)
        # LeakSanitizer cannot inspect a process that changed its uid (it is
        # no longer dumpable), so a sanitizer build checks leaks elsewhere.
        saved = os.environ.get("ASAN_OPTIONS")
        os.environ["ASAN_OPTIONS"] = (saved + ":" if saved else "") + "detect_leaks=0"
        try:
            srv.start()
            # A greeting means the loop runs, which is after the drop.
            s = srv.connect("imaps")
            t = srv.ssl_context().wrap_socket(s, server_hostname="localhost")
            self.assertTrue(line(t).startswith(b"* OK"))
            t.close()
            status = open("/proc/%d/status" % srv.proc.pid).read()
            uids = re.search(r"^Uid:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)", status, re.M).groups()
            self.assertEqual(set(uids), {str(nobody.pw_uid)})
            for dp, _, fs in os.walk(srv.data_dir):
                for f in fs + ["."]:
                    st = os.stat(os.path.join(dp, f))
                    self.assertEqual(st.st_uid, nobody.pw_uid, os.path.join(dp, f))
            self.assertEqual(srv.stop(), 0, srv.log())
        finally:
            if saved is None:
                del os.environ["ASAN_OPTIONS"]
            else:
                os.environ["ASAN_OPTIONS"] = saved
            srv.close()

    def test_missing_run_as_user_refuses(self):
        srv = mmtest.Server(users={}, start=False)
        srv.write_conf(srv.conf_text().replace("run_as = root", "run_as = no-such-user-xyz"))
        r = subprocess.run([mmtest.MINIMAILD, "-f", "-c", srv.conf_path], capture_output=True,
                           text=True, timeout=30)
        srv.close()
        self.assertEqual(r.returncode, 1)
        self.assertIn("run_as user 'no-such-user-xyz' does not exist: refusing to serve as root",
                      r.stderr)


class CheckConfigTest(unittest.TestCase):
    def run_t(self, path, serve_as_root=True):
        if os.getuid() == 0 and serve_as_root:
            # As root, -t also checks the run_as user (issue 17), and the
            # default one (minimaild) need not exist here: serve as root.
            with open(path) as f:
                text = re.sub(r"(?m)^run_as *=.*\n", "", f.read())
            with open(path, "w") as f:
                f.write("run_as = root\n" + text)
        return subprocess.run([mmtest.MINIMAILD, "-t", "-c", path], capture_output=True,
                              text=True, timeout=30)

    def test_shipped_config_with_test_cert(self):
        tmp = tempfile.mkdtemp(prefix="mmtest-")
        cert, key = mmtest.make_cert(tmp)
        text = open(os.path.join(mmtest.TOP_SRCDIR, "etc", "minimaild.conf")).read()
        text = text.replace("#cert = /etc/minimaild/tls/fullchain.pem", "cert = " + cert)
        text = text.replace("#key  = /etc/minimaild/tls/privkey.pem", "key  = " + key)
        self.assertIn("cert = " + cert, text)
        path = os.path.join(tmp, "minimaild.conf")
        open(path, "w").write(text)
        r = self.run_t(path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("configuration ok", r.stdout)

    def test_broken_file(self):
        tmp = tempfile.mkdtemp(prefix="mmtest-")
        path = os.path.join(tmp, "bad.conf")
        open(path, "w").write("domains = example.org\nfrobnicate = 1\n[limits]\n"
                              "max_message_size = lots\n")
        r = self.run_t(path, serve_as_root=False)  # line numbers as written
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, re.escape(path) + r":2: .*frobnicate")
        self.assertRegex(r.stderr, re.escape(path) + r":4: .*max_message_size")

    def test_cert_key_mismatch(self):
        tmp = tempfile.mkdtemp(prefix="mmtest-")
        a = os.path.join(tmp, "a")
        b = os.path.join(tmp, "b")
        os.mkdir(a)
        os.mkdir(b)
        cert, _ = mmtest.make_cert(a)
        _, key = mmtest.make_cert(b)
        path = os.path.join(tmp, "m.conf")
        open(path, "w").write("domains = example.org\ndata_dir = %s\n[listen]\nsmtp = off\n"
                              "submission = off\nsubmissions = off\nimap = off\nimaps = off\n"
                              "pop3 = off\npop3s = off\n[tls]\ncert = %s\nkey = %s\n"
                              % (tmp, cert, key))
        r = self.run_t(path)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("do not match", r.stderr)

    def test_cert_name_and_expiry_warnings(self):
        tmp = tempfile.mkdtemp(prefix="mmtest-")
        cert, key = mmtest.make_cert(tmp, cn="other.example", days=3, names=["other.example"])
        path = os.path.join(tmp, "w.conf")
        open(path, "w").write("hostname = mail.example.org\ndomains = example.org\n"
                              "data_dir = %s\n[listen]\nsmtp = off\nsubmission = off\n"
                              "submissions = off\nimap = off\nimaps = off\npop3 = off\n"
                              "pop3s = off\n[tls]\ncert = %s\nkey = %s\n" % (tmp, cert, key))
        r = self.run_t(path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("does not cover hostname mail.example.org", r.stderr)
        self.assertRegex(r.stderr, r"expires in [0-3] days")

    def test_port_in_use_warning(self):
        tmp = tempfile.mkdtemp(prefix="mmtest-")
        blocker = socket.socket()
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(1)
        port = blocker.getsockname()[1]
        path = os.path.join(tmp, "p.conf")
        open(path, "w").write("domains = example.org\ndata_dir = %s\n[listen]\n"
                              "smtp = 127.0.0.1:%d\nsubmission = off\nsubmissions = off\n"
                              "imap = off\nimaps = off\npop3 = off\npop3s = off\n" % (tmp, port))
        r = self.run_t(path)
        blocker.close()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("cannot listen on 127.0.0.1:%d for smtp" % port, r.stderr)
        self.assertIn("self-signed", r.stderr)


if __name__ == "__main__":
    mmtest.main()
