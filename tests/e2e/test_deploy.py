#!/usr/bin/env python3
"""Deployment (issue 8): the systemd unit verifies and scores well, the
sd_notify protocol is spoken (READY, RELOADING, STOPPING), make install
lays out the expected files without overwriting a config, and the man
pages render without warnings."""
import grp
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

import mmtest

TOP_BUILDDIR = os.environ.get("TOP_BUILDDIR", ".")
MANS = ["doc/minimaild.8", "doc/minimaild.conf.5", "doc/minimailctl.8"]


def have(cmd):
    return shutil.which(cmd) is not None


class UnitTest(unittest.TestCase):
    def unit(self, tmp):
        """The unit as built, pointing at executables that exist here."""
        text = open(os.path.join(mmtest.TOP_SRCDIR, "contrib", "minimaild.service.in")).read()
        text = text.replace("@sbindir@", os.path.dirname(os.path.abspath(mmtest.MINIMAILD)))
        text = text.replace("@sysconfdir@", "/etc")
        path = os.path.join(tmp, "minimaild.service")
        open(path, "w").write(text)
        return path

    @unittest.skipUnless(have("systemd-analyze"), "systemd-analyze missing")
    def test_verify(self):
        tmp = tempfile.mkdtemp()
        r = subprocess.run(["systemd-analyze", "verify", "--man=no", self.unit(tmp)],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    @unittest.skipUnless(have("systemd-analyze"), "systemd-analyze missing")
    def test_security_score(self):
        tmp = tempfile.mkdtemp()
        r = subprocess.run(["systemd-analyze", "security", "--offline=yes", self.unit(tmp)],
                           capture_output=True, text=True)
        m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", r.stdout + r.stderr)
        self.assertIsNotNone(m, r.stdout + r.stderr)
        self.assertLessEqual(float(m.group(1)), 3.0)


class NotifyTest(unittest.TestCase):
    def test_sd_notify(self):
        tmp = tempfile.mkdtemp()
        path = os.path.join(tmp, "notify.sock")
        ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        ns.bind(path)
        ns.settimeout(20)
        os.environ["NOTIFY_SOCKET"] = path
        try:
            srv = mmtest.Server(users={}, start=False)
            t0 = time.time()
            srv.start(wait=False)
            msg = ns.recv(4096).decode()
            self.assertIn("READY=1", msg)
            # READY comes after the listeners are bound: they accept now.
            s = srv.connect("imap")
            s.close()
            srv.reload()
            msgs = [ns.recv(4096).decode(), ns.recv(4096).decode()]
            self.assertIn("RELOADING=1", msgs[0])
            self.assertIn("READY=1", msgs[1])
            srv.proc.send_signal(signal.SIGTERM)
            self.assertIn("STOPPING=1", ns.recv(4096).decode())
            self.assertEqual(srv.proc.wait(15), 0)
            self.assertLess(time.time() - t0, 30)
            srv.close()
        finally:
            del os.environ["NOTIFY_SOCKET"]
            ns.close()


class InstallTest(unittest.TestCase):
    def test_make_install_layout(self):
        dest = tempfile.mkdtemp(prefix="mmdest-")
        env = dict(os.environ)
        env.pop("MAKEFLAGS", None)
        env.pop("MFLAGS", None)
        r = subprocess.run(["make", "-s", "install", "DESTDIR=" + dest], cwd=TOP_BUILDDIR,
                           capture_output=True, text=True, env=env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        prefix = subprocess.run(["sed", "-n", "s/^prefix = //p", "Makefile"], cwd=TOP_BUILDDIR,
                                capture_output=True, text=True).stdout.strip()
        sysconf = subprocess.run(["sed", "-n", "s/^sysconfdir = //p", "Makefile"],
                                 cwd=TOP_BUILDDIR, capture_output=True, text=True).stdout.strip()
        sysconf = sysconf.replace("${prefix}", prefix)
        root = dest + prefix
        for f in ["sbin/minimaild", "bin/minimailctl", "share/man/man8/minimaild.8",
                  "share/man/man5/minimaild.conf.5", "share/man/man8/minimailctl.8",
                  "lib/sysusers.d/minimaild.conf", "lib/tmpfiles.d/minimaild.conf"]:
            self.assertTrue(os.path.exists(os.path.join(root, f)), f)
        units = [os.path.join(dp, f) for dp, _, fs in os.walk(dest) for f in fs
                 if f == "minimaild.service"]
        self.assertEqual(len(units), 1, units)
        self.assertIn("ExecStart=%s/sbin/minimaild -f" % prefix, open(units[0]).read())
        conf = dest + sysconf + "/minimaild.conf"
        self.assertTrue(os.path.exists(conf))
        # it may hold smarthost_password: 0640, group minimaild when that exists
        self.assertEqual(os.stat(conf).st_mode & 0o777, 0o640)
        if subprocess.run(["getent", "group", "minimaild"], capture_output=True).returncode == 0:
            self.assertEqual(grp.getgrgid(os.stat(conf).st_gid).gr_name, "minimaild")
        # a second install keeps an edited config
        open(conf, "a").write("# edited by the admin\n")
        r = subprocess.run(["make", "-s", "install", "DESTDIR=" + dest], cwd=TOP_BUILDDIR,
                           capture_output=True, text=True, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("# edited by the admin", open(conf).read())
        shutil.rmtree(dest)


class ManTest(unittest.TestCase):
    def test_render_without_warnings(self):
        for m in MANS:
            with self.subTest(page=m):
                path = os.path.join(mmtest.TOP_SRCDIR, m)
                self.assertTrue(os.path.exists(path), m)
                r = subprocess.run(["groff", "-man", "-ww", "-z", path], capture_output=True,
                                   text=True)
                self.assertEqual(r.returncode, 0)
                self.assertEqual(r.stderr, "", r.stderr)


if __name__ == "__main__":
    mmtest.main()
