"""mmtest: start the real minimaild on free loopback ports with a temporary
data_dir, a test certificate and users, for end-to-end tests driven by real
clients (smtplib, imaplib, poplib, curl, openssl s_client, ...).

    with mmtest.Server(users={"alice@example.org": "secret"}) as srv:
        srv.ports["imaps"], srv.ssl_context(), srv.ctl("user", "list")
        m = srv.imap("alice@example.org", "secret")   # imaplib, logged in

Environment (set by tests/local.am): MINIMAILD, MINIMAILCTL, TOP_SRCDIR.
"""
import imaplib
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

LISTENERS = ["smtp", "submission", "submissions", "imap", "imaps", "pop3", "pop3s"]
MINIMAILD = os.environ.get("MINIMAILD", "./minimaild")
MINIMAILCTL = os.environ.get("MINIMAILCTL", "./minimailctl")
TOP_SRCDIR = os.environ.get("TOP_SRCDIR", ".")
HOSTNAME = "mail.example.org"


# Ports for daemons under test come from below the kernel's ephemeral range
# (32768-60999 here): a port the kernel hands out on its own (every
# client's source port, every bind to port 0) can then never be the one a
# test picked and is about to give the daemon. Tests running in parallel
# draw at random, so two rarely pick the same.
PORT_RANGE = (10000, 32767)


_handed_out = set()


def free_ports(n):
    """n distinct free TCP ports on 127.0.0.1 (bound briefly, then released).
    A port is handed out once per process: a test that asks for one more
    port after a Server took its own (released until the daemon binds
    them) must not get one of those."""
    import random
    socks, ports = [], []
    while len(ports) < n:
        port = random.randint(*PORT_RANGE)
        if port in ports or port in _handed_out:
            continue
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            s.close()
            continue
        socks.append(s)
        ports.append(port)
    for s in socks:
        s.close()
    _handed_out.update(ports)
    return ports


def make_cert(directory, cn=HOSTNAME, days=30, names=None):
    """A self-signed certificate + key (PEM) for cn; returns (cert, key)."""
    cert = os.path.join(directory, "cert.pem")
    key = os.path.join(directory, "key.pem")
    san = ",".join("DNS:" + n for n in (names or [cn, "localhost"])) + ",IP:127.0.0.1"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
                    "-out", cert, "-days", str(days), "-subj", "/CN=" + cn,
                    "-addext", "subjectAltName=" + san],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key


class Server:
    """The daemon under test. Use as a context manager."""

    def __init__(self, users=None, extra_conf="", allow_plaintext=False,
                 listen=None, limits="", tls=True, start=True, http=False,
                 inbound=None):
        self.tmp = tempfile.mkdtemp(prefix="mmtest-")
        self.data_dir = os.path.join(self.tmp, "data")
        self.conf_path = os.path.join(self.tmp, "minimaild.conf")
        self.log_path = os.path.join(self.tmp, "minimaild.log")
        self.users = {"alice@example.org": "alice-secret", "bob@example.org": "bob-secret"} \
            if users is None else users
        # The ports this harness picks (and may pick again): every listener
        # not fixed by the caller, plus [listen] http (autoconfig) if asked.
        self.own_ports = [n for n in LISTENERS + (["http"] if http else [])
                          if n not in (listen or {})]
        self.ports = dict(listen or {})
        self.ports.update(zip(self.own_ports, free_ports(len(self.own_ports))))
        self.cert = self.key = None
        if tls:
            self.cert, self.key = make_cert(self.tmp)
        self.extra_conf = extra_conf
        self.allow_plaintext = allow_plaintext
        self.limits = limits
        # [inbound]: the port 25 checks ask DNS; tests that do not bring a
        # DNS server of their own (mmdns) turn them off.
        self.inbound = inbound if inbound is not None else \
            "spf = no\ndkim = no\ndmarc = no"
        self.proc = None
        self.logf = None
        self.write_conf()
        if self.users:
            for u, p in self.users.items():
                self.ctl("user", "add", u, input=p + "\n", check=True)
        if start:
            self.first_start()

    # A port found free may be taken by another test's client or server
    # before the daemon binds it (tests run in parallel): then pick new ones.
    BIND_RETRIES = 5

    def first_start(self):
        for attempt in range(self.BIND_RETRIES):
            logged = len(self.log())
            try:
                self.start()
                return
            except RuntimeError:
                if (attempt + 1 == self.BIND_RETRIES or
                        "Address already in use" not in self.log()[logged:]):
                    raise
            self.ports.update(zip(self.own_ports, free_ports(len(self.own_ports))))
            self.write_conf()

    # ---- config ----
    def conf_text(self):
        lines = [
            "hostname = " + HOSTNAME,
            "domains = example.org example.net",
            "data_dir = " + self.data_dir,
            "log_level = debug",
        ]
        if os.getuid() == 0:
            lines.append("run_as = root")
        lines.append(self.extra_conf)
        lines.append("[listen]")
        for name in LISTENERS:
            p = self.ports[name]
            lines.append("%s = %s" % (name, p if isinstance(p, str) else "127.0.0.1:%d" % p))
        if "http" in self.ports:
            p = self.ports["http"]
            lines.append("http = %s" % (p if isinstance(p, str) else "127.0.0.1:%d" % p))
        if self.cert:
            lines += ["[tls]", "cert = " + self.cert, "key = " + self.key]
        lines += ["[auth]", "allow_plaintext_auth = " + ("yes" if self.allow_plaintext else "no")]
        if self.limits:
            lines += ["[limits]", self.limits]
        if self.inbound:
            lines += ["[inbound]", self.inbound]
        return "\n".join(lines) + "\n"

    def write_conf(self, text=None):
        with open(self.conf_path, "w") as f:
            f.write(text if text is not None else self.conf_text())

    # ---- process ----
    def start(self, wait=True):
        if self.logf:
            self.logf.close()
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen([MINIMAILD, "-f", "-c", self.conf_path],
                                     stdout=self.logf, stderr=subprocess.STDOUT)
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout=20):
        """Until every enabled listener accepts connections and the daemon
        says it is ready in data_dir/minimaild.pid (the store is open: the listeners are bound
        before it, and minimailctl run in the meantime would open a new
        store beside the daemon's first open)."""
        deadline = time.time() + timeout
        for name in LISTENERS + (["http"] if "http" in self.ports else []):
            p = self.ports[name]
            if isinstance(p, str):
                continue
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError("minimaild exited %s:\n%s" % (self.proc.returncode, self.log()))
                try:
                    socket.create_connection(("127.0.0.1", p), timeout=1).close()
                    break
                except OSError:
                    if time.time() > deadline:
                        raise RuntimeError("listener %s:%d not up:\n%s" % (name, p, self.log()))
                    time.sleep(0.05)
        while not self._pidfile_is_ours():
            if self.proc.poll() is not None:
                raise RuntimeError("minimaild exited %s:\n%s" % (self.proc.returncode, self.log()))
            if time.time() > deadline:
                raise RuntimeError("minimaild not ready:\n%s" % self.log())
            time.sleep(0.02)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def reload(self):
        self.signal(signal.SIGHUP)

    def stop(self, timeout=10):
        """SIGTERM and wait; returns the exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")

    def check_clean(self, rc):
        """After a SIGTERM we sent: exit 0, and no sanitizer report in the log
        (sanitizer builds run the same tests; a report fails them)."""
        log = self.log()
        for mark in self.SANITIZER_MARKS:
            if mark in log:
                raise AssertionError("sanitizer report in minimaild log:\n" + log[-20000:])
        if rc not in (0, None):
            raise AssertionError("minimaild exited %s on SIGTERM:\n%s" % (rc, log[-8000:]))

    def stop_checked(self):
        """stop() and check_clean(); for a daemon the test did not kill itself."""
        running = self.proc is not None and self.proc.poll() is None
        rc = self.stop()
        self.check_clean(rc if running else None)
        return rc

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def restart(self):
        self.stop_checked()
        self.start()

    def _pidfile_is_ours(self):
        """data_dir/minimaild.pid names this process: it is written right
        after the store is open, whatever the log level."""
        try:
            with open(os.path.join(self.data_dir, "minimaild.pid")) as f:
                return f.readline().split()[:1] == [str(self.proc.pid)]
        except OSError:
            return False

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def ctl(self, *args, input=None, check=False):
        """Run minimailctl -c CONF ARGS; returns CompletedProcess (text)."""
        r = subprocess.run([MINIMAILCTL, "-c", self.conf_path] + list(args), input=input,
                           capture_output=True, text=True, timeout=60)
        for mark in self.SANITIZER_MARKS:
            if mark in r.stderr:
                raise AssertionError("sanitizer report from minimailctl %s:\n%s"
                                     % (" ".join(args), r.stderr))
        if check and r.returncode != 0:
            raise RuntimeError("minimailctl %s failed: %s" % (" ".join(args), r.stderr))
        return r

    # ---- clients ----
    def ssl_context(self):
        """A client context that trusts the test certificate."""
        ctx = ssl.create_default_context(cafile=self.cert)
        ctx.check_hostname = False
        return ctx

    def imap(self, user=None, password=None, tls=True, **kw):
        """An imaplib client, logged in when user is given: over IMAPS
        (tls=True), plain IMAP upgraded by STARTTLS (tls="starttls"), or
        plain IMAP (tls=False). kw goes to imaplib (timeout=...)."""
        if tls is True:
            m = imaplib.IMAP4_SSL("127.0.0.1", self.ports["imaps"],
                                  ssl_context=self.ssl_context(), **kw)
        else:
            m = imaplib.IMAP4("127.0.0.1", self.ports["imap"], **kw)
            if tls == "starttls":
                m.starttls(ssl_context=self.ssl_context())
        if user is not None:
            m.login(user, password)
        return m

    def connect(self, name, timeout=10):
        return socket.create_connection(("127.0.0.1", self.ports[name]), timeout=timeout)

    def close(self):
        try:
            self.stop_checked()
        finally:
            if self.logf:
                self.logf.close()
            if os.environ.get("MMTEST_KEEP"):
                sys.stderr.write("kept %s\n" % self.tmp)
            else:
                shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if exc[0] is not None:
            sys.stderr.write("---- minimaild log ----\n%s\n" % self.log()[-8000:])
        self.close()


def main():
    """unittest.main that exits non-zero on failure (for automake TESTS)."""
    unittest.main(verbosity=2)
