#!/usr/bin/env python3
"""Running it for real (issue 17): what "minimaild -t" checks (run_as can
read the key and write data_dir; its own daemon's ports are not "taken";
one self-signed warning), -V/-h/--help of both programs, and
"minimailctl user add" as root when run_as does not exist."""
import imaplib
import os
import re
import shutil
import smtplib
import socket
import subprocess
import tempfile
import time
import unittest

import mmtest

COMMANDS = ["user add", "user passwd", "user del", "user list", "user quota",
            "alias add", "alias del", "alias list", "mailbox list", "queue list",
            "queue show", "queue flush", "queue delete", "check", "client-settings"]


def run(*argv, **kw):
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=60, **kw)


def config(tmp, run_as, extra=""):
    ports = mmtest.free_ports(2)
    path = os.path.join(tmp, "minimaild.conf")
    with open(path, "w") as f:
        f.write("hostname = localhost\ndomains = example.org\ndata_dir = %s/data\n"
                "run_as = %s\n%s\n[listen]\nsmtp = 127.0.0.1:%d\nsubmission = off\n"
                "submissions = off\nimap = 127.0.0.1:%d\nimaps = off\npop3 = off\n"
                "pop3s = off\n" % (tmp, run_as, extra, ports[0], ports[1]))
    return path


class VersionHelpTest(unittest.TestCase):
    def test_version(self):
        for prog, name in ((mmtest.MINIMAILD, "minimaild"), (mmtest.MINIMAILCTL, "minimailctl")):
            for opt in ("-V", "--version"):
                r = run(prog, opt)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertRegex(r.stdout, r"^%s \d+\.\d+" % name)

    def test_help(self):
        for opt in ("-h", "--help"):
            r = run(mmtest.MINIMAILD, opt)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertTrue(r.stdout.startswith("usage: minimaild"), r.stdout)
            for o in ("-c FILE", "-f", "-t", "-V", "--help"):
                self.assertIn(o, r.stdout)
            r = run(mmtest.MINIMAILCTL, opt)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertTrue(r.stdout.startswith("usage: minimailctl"), r.stdout)
            for c in COMMANDS:
                self.assertRegex(r.stdout, r"\n  %s\b" % re.escape(c))
        # a wrong option is still a usage error on stderr
        r = run(mmtest.MINIMAILD, "--bogus")
        self.assertEqual(r.returncode, 1)
        self.assertIn("usage:", r.stderr)


@unittest.skipUnless(os.getuid() == 0, "needs root (switches to run_as)")
class RunAsTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="mmops-")
        os.chmod(self.tmp, 0o755)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_key_only_root_can_read(self):
        cert, key = mmtest.make_cert(self.tmp, cn="localhost")
        os.chmod(key, 0o600)  # like certbot's privkey.pem
        conf = config(self.tmp, "nobody", "[tls]\ncert = %s\nkey = %s\n" % (cert, key))
        r = run(mmtest.MINIMAILCTL, "-c", conf, "check")  # the same check
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("cannot be read by run_as user nobody", r.stderr)
        r = run(mmtest.MINIMAILD, "-t", "-c", conf)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        line = [l for l in r.stderr.splitlines() if key in l]
        self.assertEqual(len(line), 1, r.stderr)
        self.assertIn("run_as user nobody", line[0])
        self.assertIn("Permission denied", line[0])
        self.assertNotIn("configuration ok", r.stdout)
        # readable for the group of run_as: ok
        gid = int(run("id", "-g", "nobody").stdout)
        os.chown(key, 0, gid)
        os.chmod(key, 0o640)
        r = run(mmtest.MINIMAILD, "-t", "-c", conf)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("configuration ok", r.stdout)

    def test_data_dir_not_writable(self):
        conf = config(self.tmp, "nobody")
        os.mkdir(os.path.join(self.tmp, "data"), 0o755)  # root's
        r = run(mmtest.MINIMAILD, "-t", "-c", conf)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertRegex(r.stderr, r"data_dir %s/data is not writable by run_as user nobody"
                         % re.escape(self.tmp))

    def test_not_root(self):
        """Under systemd (User=minimaild) -t runs as that user: data_dir
        must be writable by it; an unreadable key is one error, not two."""
        cert, key = mmtest.make_cert(self.tmp, cn="localhost")
        os.chmod(key, 0o600)
        conf = config(self.tmp, "nobody", "[tls]\ncert = %s\nkey = %s\n" % (cert, key))
        os.chmod(conf, 0o644)
        os.mkdir(os.path.join(self.tmp, "data"), 0o755)  # root's
        nobody = int(run("id", "-u", "nobody").stdout)

        def drop():
            os.setgid(65534)
            os.setuid(nobody)
        r = subprocess.run([mmtest.MINIMAILD, "-t", "-c", conf], capture_output=True,
                           text=True, timeout=60, preexec_fn=drop)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(r.stderr.count(key), 1, r.stderr)
        self.assertIn("not writable by user nobody", r.stderr)

    def test_run_as_missing(self):
        conf = config(self.tmp, "mm-no-such-user")
        r = run(mmtest.MINIMAILD, "-t", "-c", conf)
        self.assertEqual(r.returncode, 1)
        self.assertIn("run_as user 'mm-no-such-user' does not exist", r.stderr)
        # minimailctl refuses and creates nothing (no root-owned store)
        r = run(mmtest.MINIMAILCTL, "-c", conf, "user", "add", "a@example.org",
                input="pw-pw-pw-pw\n")
        self.assertEqual(r.returncode, 1)
        self.assertIn("run_as user 'mm-no-such-user'", r.stderr)
        self.assertIn("nothing was changed", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "data")))

    def test_self_signed_warned_once(self):
        conf = config(self.tmp, "nobody")
        r = run(mmtest.MINIMAILD, "-t", "-c", conf)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr.lower().count("self-signed"), 1, r.stderr)
        r = run(mmtest.MINIMAILCTL, "-c", conf, "check")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr.lower().count("self-signed"), 1, r.stderr)


class BesideItsDaemonTest(unittest.TestCase):
    def test_no_port_warnings_for_its_own_ports(self):
        with mmtest.Server(users={}, http=True) as srv:
            pidfile = os.path.join(srv.data_dir, "minimaild.pid")
            # written at READY, a moment after the ports accept
            deadline = time.time() + 20
            while not os.path.exists(pidfile) and time.time() < deadline:
                time.sleep(0.05)
            with open(pidfile) as f:
                self.assertEqual(f.readline().strip(), str(srv.proc.pid))
            r = run(mmtest.MINIMAILD, "-t", "-c", srv.conf_path)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertNotIn("cannot listen", r.stderr)
            self.assertIn("(pid %d) is serving" % srv.proc.pid, r.stdout)
            r = srv.ctl("check")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertNotIn("cannot listen", r.stderr)
            # another daemon's config (other data_dir) on the same ports: warned
            other = os.path.join(srv.tmp, "other.conf")
            with open(other, "w") as f:
                f.write(srv.conf_text().replace(srv.data_dir, srv.data_dir + "2"))
            r = run(mmtest.MINIMAILD, "-t", "-c", other)
            self.assertEqual(r.stderr.count("cannot listen"), 8, r.stderr)
            # a port taken by another program beside the daemon: warned
            extra = mmtest.free_ports(1)[0]
            holder = socket.socket()
            holder.bind(("127.0.0.1", extra))
            holder.listen(1)
            try:
                srv.write_conf(srv.conf_text().replace(
                    "pop3s = 127.0.0.1:%d" % srv.ports["pop3s"],
                    "pop3s = 127.0.0.1:%d 127.0.0.1:%d" % (srv.ports["pop3s"], extra)))
                r = run(mmtest.MINIMAILD, "-t", "-c", srv.conf_path)
                self.assertEqual(r.stderr.count("cannot listen"), 1, r.stderr)
                self.assertIn("127.0.0.1:%d" % extra, r.stderr)
            finally:
                holder.close()
                srv.write_conf()
            # after a clean stop the pid file is gone
            srv.stop_checked()
            self.assertFalse(os.path.exists(pidfile))


class QueueIdTest(unittest.TestCase):
    def test_queued_as_is_the_queue_id(self):
        closed = mmtest.free_ports(1)[0]
        with mmtest.Server(extra_conf="") as srv:
            srv.write_conf(srv.conf_text() + "[relay]\nroutes = remote.test=127.0.0.1:%d\n"
                           "retry_interval = 1h\n" % closed)
            srv.restart()
            c = smtplib.SMTP_SSL("127.0.0.1", srv.ports["submissions"],
                                 context=srv.ssl_context())
            c.login("alice@example.org", "alice-secret")
            c.mail("alice@example.org")
            c.rcpt("x@remote.test")
            c.rcpt("bob@example.org")
            code, msg = c.data(b"Subject: id\r\n\r\nhello\r\n")
            c.quit()
            self.assertEqual(code, 250)
            m = re.search(r"queued as ([0-9a-f]+)$", msg.decode())
            self.assertIsNotNone(m, msg)
            qid = m.group(1)
            r = srv.ctl("queue", "show", qid)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("x@remote.test", r.stdout)
            # the relay tries it (connection refused: deferred)
            deadline = time.time() + 20
            while "event=deferred" not in srv.log() and time.time() < deadline:
                time.sleep(0.1)
            lines = [l for l in srv.log().splitlines()
                     if re.search(r"event=(queued|tx|attempt|deferred)\b", l)]
            events = [re.search(r"event=(\S+)", l).group(1) for l in lines]
            self.assertEqual(sorted(events), ["attempt", "deferred", "queued", "tx"], lines)
            for l in lines:
                self.assertRegex(l, r"\bid=%s\b" % qid)

    def test_imap_replies_logged_at_debug(self):
        with mmtest.Server() as srv:
            m = imaplib.IMAP4_SSL("127.0.0.1", srv.ports["imaps"], ssl_context=srv.ssl_context())
            with self.assertRaises(imaplib.IMAP4.error):
                m.login("alice@example.org", "wrong")
            m.logout()
            self.assertRegex(srv.log(), r'event=imap-reply reply="\w+ NO \[AUTHENTICATIONFAILED\]')


if __name__ == "__main__":
    mmtest.main()
