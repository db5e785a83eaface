#!/usr/bin/env python3
"""minimailctl end to end, without the daemon: every command against a
temporary config and data_dir, with exact exit codes and one-line
"minimailctl: ..." errors. (Running it while the daemon delivers is in the
daemon's tests.) Environment: MINIMAILCTL (the binary), set by tests/local.am."""
import os
import pwd
import shutil
import subprocess
import tempfile
import unittest

MINIMAILCTL = os.environ.get("MINIMAILCTL", "./minimailctl")


class MinimailctlTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="mmctl-")
        self.conf = os.path.join(self.tmp, "minimaild.conf")
        self.data = os.path.join(self.tmp, "data")
        with open(self.conf, "w") as f:
            f.write("domains = example.org example.net\n"
                    "data_dir = %s\n"
                    "run_as = %s\n" % (self.data, pwd.getpwuid(os.getuid()).pw_name))

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def ctl(self, *args, stdin="", conf=None):
        p = subprocess.run([MINIMAILCTL, "-c", conf or self.conf] + list(args),
                           input=stdin, capture_output=True, text=True, timeout=60)
        return p.returncode, p.stdout, p.stderr

    def ok(self, *args, stdin=""):
        rc, out, err = self.ctl(*args, stdin=stdin)
        self.assertEqual((rc, err), (0, ""), args)
        return out

    def fails(self, want, *args, stdin=""):
        rc, out, err = self.ctl(*args, stdin=stdin)
        self.assertEqual(rc, 1, (args, out, err))
        self.assertEqual(out, "")
        lines = err.splitlines()
        self.assertEqual(len(lines), 1, err)
        self.assertTrue(lines[0].startswith("minimailctl: "), err)
        self.assertIn(want, lines[0])

    def users(self):
        return [l.split("\t")[0] for l in self.ok("user", "list").splitlines()]

    def test_users(self):
        self.ok("user", "add", "Alice@Example.org", stdin="s3cret\n")
        self.ok("user", "add", "bob@example.net", stdin="pw")    # no newline
        self.assertEqual(self.users(), ["alice@example.org", "bob@example.net"])
        self.fails("already exists", "user", "add", "alice@example.org", stdin="x\n")
        self.fails("not one of the local domains", "user", "add", "eve@evil.test",
                   stdin="x\n")
        self.fails("invalid address", "user", "add", "no-at-sign", stdin="x\n")
        self.fails("invalid address", "user", "add", "a" * 65 + "@example.org",
                   stdin="x\n")
        self.fails("empty password", "user", "add", "carol@example.org", stdin="\n")
        self.fails("no password", "user", "add", "carol@example.org", stdin="")
        self.assertEqual(len(self.users()), 2)
        # passwd
        self.ok("user", "passwd", "alice@example.org", stdin="new\n")
        self.fails("no such user", "user", "passwd", "zed@example.org", stdin="x\n")
        # quota
        self.ok("user", "quota", "alice@example.org", "10M", "1000")
        out = self.ok("user", "list")
        self.assertIn("alice@example.org\t0 bytes\t0 messages\tquota 10485760 bytes "
                      "1000 messages", out)
        self.fails("invalid size", "user", "quota", "alice@example.org", "ten")
        self.fails("no such user", "user", "quota", "zed@example.org", "1G")
        # del
        self.ok("user", "del", "ALICE@example.org")
        self.assertEqual(self.users(), ["bob@example.net"])
        self.fails("no such user", "user", "del", "alice@example.org")

    def test_hash(self):
        h = subprocess.run(["openssl", "passwd", "-6", "-salt", "abcdefgh", "pw"],
                           capture_output=True, text=True, check=True).stdout.strip()
        self.ok("user", "add", "--hash", "{SHA512-CRYPT}" + h, "d@example.org")
        self.ok("user", "add", "e@example.org", "--hash", h)
        self.assertEqual(self.users(), ["d@example.org", "e@example.org"])
        self.fails("invalid hash", "user", "add", "--hash", "{PLAIN}pw", "f@example.org")
        self.fails("invalid hash", "user", "add", "--hash", "$6$short", "f@example.org")

    def test_aliases(self):
        self.ok("user", "add", "alice@example.org", stdin="pw\n")
        self.ok("alias", "add", "team@example.org", "alice@example.org",
                "friend@remote.test")
        self.ok("alias", "add", "@example.net", "alice@example.org")
        self.fails("already exists", "alias", "add", "team@example.org",
                   "alice@example.org")
        self.fails("already exists", "alias", "add", "alice@example.org",
                   "team@example.org")
        self.fails("already exists", "user", "add", "team@example.org", stdin="pw\n")
        self.fails("not one of the local domains", "alias", "add", "x@remote.test",
                   "alice@example.org")
        self.fails("invalid target", "alias", "add", "y@example.org", "nonsense")
        self.fails("usage", "alias", "add", "y@example.org")
        self.assertEqual(self.ok("alias", "list"),
                         "@example.net\talice@example.org\n"
                         "team@example.org\talice@example.org friend@remote.test\n")
        self.ok("alias", "del", "team@example.org")
        self.fails("no such alias", "alias", "del", "team@example.org")
        self.assertEqual(self.ok("alias", "list"), "@example.net\talice@example.org\n")

    def test_mailbox_list(self):
        self.ok("user", "add", "alice@example.org", stdin="pw\n")
        out = self.ok("mailbox", "list", "alice@example.org").splitlines()
        self.assertEqual(out[0].split(), ["MAILBOX", "MESSAGES", "UNSEEN", "BYTES"])
        rows = [l.split() for l in out[1:]]
        self.assertEqual(rows, [[n, "0", "0", "0"] for n in
                                ["Archive", "Drafts", "INBOX", "Junk", "Sent", "Trash"]])
        self.fails("no such user", "mailbox", "list", "zed@example.org")

    def test_check_and_usage(self):
        rc, out, err = self.ctl("check")
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, self.conf + ": configuration ok\n")
        bad = os.path.join(self.tmp, "bad.conf")
        with open(bad, "w") as f:
            f.write("domains = example.org\nno_such_key = 1\n")
        rc, out, err = self.ctl("check", conf=bad)
        self.assertEqual(rc, 1)
        self.assertIn(bad + ":2:", err)
        # other commands refuse a broken config with one line
        rc, out, err = self.ctl("user", "list", conf=bad)
        self.assertEqual(rc, 1)
        self.assertEqual(len(err.splitlines()), 1)
        self.assertTrue(err.startswith("minimailctl: " + bad + ":2:"), err)
        self.fails("unknown command", "user", "frobnicate")
        self.fails("usage", "user")
        # too few or too many arguments, for every command
        for args in (("user", "add"), ("user", "add", "a@example.org", "--hash"),
                     ("user", "add", "--hash", "h", "a@example.org", "x"),
                     ("user", "passwd"), ("user", "del", "a@example.org", "x"),
                     ("user", "list", "x"), ("user", "quota", "a@example.org"),
                     ("user", "quota", "a@example.org", "1", "2", "3"),
                     ("alias", "add"), ("alias", "del"), ("alias", "list", "x"),
                     ("mailbox", "list"), ("queue", "list", "x"), ("queue", "show"),
                     ("queue", "flush", "1", "2"), ("queue", "delete"),
                     ("check", "x")):
            self.fails("usage: minimailctl", *args)
        self.fails("usage: minimailctl client-settings ADDRESS", "client-settings")
        rc, out, err = self.ctl("-h")
        self.assertEqual(rc, 0)
        self.assertIn("user add", out)

    def test_check_same_as_minimaild_t(self):
        """minimailctl check prints what minimaild -t prints, byte for byte,
        with the same exit code: good, broken, cert/key mismatch, taken port."""
        import mmtest
        import socket
        a, b = os.path.join(self.tmp, "a"), os.path.join(self.tmp, "b")
        os.mkdir(a)
        os.mkdir(b)
        cert, key = mmtest.make_cert(a)
        cert_b, key_b = mmtest.make_cert(b)
        taken = socket.socket()
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = mmtest.free_ports(1)[0]
        off = "".join("%s = off\n" % n for n in mmtest.LISTENERS if n != "imaps")
        base = ("hostname = mail.example.org\ndomains = example.org\ndata_dir = %s\n"
                "run_as = %s\n" % (self.data, pwd.getpwuid(os.getuid()).pw_name))
        cases = {
            "good": (0, base + "[listen]\n%simaps = 127.0.0.1:%d\n[tls]\ncert = %s\n"
                     "key = %s\n" % (off, port, cert, key)),
            "selfsigned": (0, base + "[listen]\n%simaps = 127.0.0.1:%d\n" % (off, port)),
            "broken": (1, base + "frobnicate = 1\n[limits]\nmax_message_size = lots\n"),
            "mismatch": (1, base + "[listen]\n%simaps = 127.0.0.1:%d\n[tls]\ncert = %s\n"
                         "key = %s\n" % (off, port, cert, key_b)),
            "taken": (0, base + "[listen]\n%simaps = 127.0.0.1:%d\n[tls]\ncert = %s\n"
                      "key = %s\n" % (off, taken.getsockname()[1], cert, key)),
        }
        try:
            for name, (want, text) in cases.items():
                path = os.path.join(self.tmp, name + ".conf")
                with open(path, "w") as f:
                    f.write(text)
                d = subprocess.run([os.environ.get("MINIMAILD", "./minimaild"), "-t", "-c",
                                    path], capture_output=True, text=True, timeout=60)
                rc, out, err = self.ctl("check", conf=path)
                self.assertEqual((rc, out, err), (d.returncode, d.stdout, d.stderr), name)
                self.assertEqual(rc, want, (name, err))
                if want == 0:
                    self.assertEqual(out, path + ": configuration ok\n")
                else:
                    self.assertEqual(out, "")
                    self.assertIn(path + ":", err)
                if name == "mismatch":
                    self.assertIn("key", err)
                if name == "taken":   # a warning: the port may be free at start
                    self.assertIn("Address already in use", err)
        finally:
            taken.close()
        # a store that does not open is reported by minimailctl alone
        os.makedirs(self.data)
        with open(os.path.join(self.data, "users.db"), "w") as f:
            f.write("not a database")
        path = os.path.join(self.tmp, "good.conf")
        rc, out, err = self.ctl("check", conf=path)
        self.assertEqual(rc, 1)
        self.assertEqual(out, "")
        self.assertIn("minimailctl: cannot open the store", err)


if __name__ == "__main__":
    unittest.main(verbosity=2)
