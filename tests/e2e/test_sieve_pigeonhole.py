#!/usr/bin/env python3
"""Differential test of minimaild's Sieve interpreter against Dovecot
Pigeonhole's sieve-test (Debian dovecot-sieve): every script in
tests/e2e/sieve/scripts runs on every message in tests/e2e/sieve/msg
through both `minimailctl sieve test` and `sieve-test`, and the actions
must agree once normalised (keep = store in INBOX; mailbox names; flags,
case-folded as Pigeonhole prints them; redirect targets; reject; vacation
or not; discard is the absence of a store). Every script in
tests/e2e/sieve/bad must be refused by both. Pigeonhole 0.5 has no
ereject: a script using it is compared with Pigeonhole's run of the same
script with reject (RFC 5429: the same action once the message is
accepted). Exits 77 when sieve-test is missing."""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

import mmtest

HERE = os.path.join(mmtest.TOP_SRCDIR, "tests", "e2e", "sieve")
SIEVE_TEST = shutil.which("sieve-test")

# The envelope of each message: sender and original recipient.
ENVELOPE = {
    "02-plus.eml": ("shop@store.example.net", "alice+shopping@example.org"),
    "09-bounce.eml": ("MAILER-DAEMON@mx.example.com", "alice@example.org"),
}


def envelope(msg):
    if msg in ENVELOPE:
        return ENVELOPE[msg]
    with open(os.path.join(HERE, "msg", msg), encoding="utf-8", errors="replace") as f:
        m = re.search(r"^Return-Path: <([^>]*)>", f.read(), re.M)
    return (m.group(1) if m else "sender@example.com", "alice@example.org")


def norm_flags(s):
    return frozenset(f.lower() for f in s.split())


def parse_pigeonhole(out):
    """The normalised action set of sieve-test's printed result."""
    acts = set()
    last = None
    for line in out.splitlines():
        m = re.match(r"^ \* (.*)$", line)
        if m:
            a = m.group(1)
            if last is not None:
                acts.add(last)
            last = None
            if a.startswith("store message in folder: "):
                last = ("store", a[len("store message in folder: "):], frozenset())
            elif a.startswith("redirect message to: "):
                acts.add(("redirect", a[len("redirect message to: "):].strip("<>")))
            elif a.startswith("reject message with reason: "):
                acts.add(("reject",))
            elif a.startswith("send vacation message"):
                acts.add(("vacation",))
            elif a == "discard":
                pass
            else:
                acts.add(("unknown", a))
            continue
        m = re.match(r"^\s+\+ add IMAP flags: (.*)$", line)
        if m and last is not None:
            last = (last[0], last[1], last[2] | norm_flags(m.group(1)))
    if last is not None:
        acts.add(last)
    return acts


def unquote(s):
    assert s.startswith('"') and s.endswith('"'), s
    return re.sub(r"\\(.)", r"\1", s[1:-1])


def parse_ours(out):
    acts = set()
    for line in out.splitlines():
        flags = frozenset()
        m = re.match(r'^(.*) flags (".*")$', line)
        if m:
            line, flags = m.group(1), norm_flags(unquote(m.group(2)))
        if line == "keep":
            acts.add(("store", "INBOX", flags))
        elif line.startswith("fileinto "):
            acts.add(("store", unquote(line[9:]), flags))
        elif line.startswith("redirect "):
            acts.add(("redirect", unquote(line[9:])))
        elif line.startswith("reject "):
            acts.add(("reject",))
        elif line.startswith("vacation "):
            acts.add(("vacation",))
        elif line == "discard":
            pass
        else:
            acts.add(("unknown", line))
    return acts


class PigeonholeDiff(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="mm-sieve-")
        os.chmod(cls.tmp, 0o755)
        for d in ("scripts", "msg", "personal", "global", "bad"):
            shutil.copytree(os.path.join(HERE, d), os.path.join(cls.tmp, d))
        home = os.path.join(cls.tmp, "home")
        os.mkdir(home)
        # sieve-test refuses root: as root, run it as nobody
        uid = os.getuid()
        user = "" if uid != 0 else "mail_uid = 65534\nmail_gid = 65534\n"
        if uid == 0:
            for root, dirs, files in os.walk(cls.tmp):
                for n in dirs:
                    os.chmod(os.path.join(root, n), 0o777)
                for n in files:
                    os.chmod(os.path.join(root, n), 0o666)
            os.chmod(cls.tmp, 0o777)
        else:
            user = "mail_uid = %d\nmail_gid = %d\nfirst_valid_uid = %d\nfirst_valid_gid = %d\n" % (
                uid, os.getgid(), uid, os.getgid())
        cls.conf = os.path.join(cls.tmp, "dovecot.conf")
        with open(cls.conf, "w") as f:
            f.write("mail_home = %s\nmail_location = maildir:%s/Maildir\n%s"
                    "plugin {\n  sieve = file:%s/personal;active=%s/.dovecot.sieve\n"
                    "  sieve_global = %s/global\n}\n" % (home, home, user, cls.tmp, home, cls.tmp))
        os.chmod(cls.conf, 0o644)
        cls.env = dict(os.environ, TZ="UTC")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def pigeonhole(self, script, msg, sender, rcpt):
        p = subprocess.run([SIEVE_TEST, "-C", "-c", self.conf, "-f", sender, "-a", rcpt,
                            script, msg], capture_output=True, text=True, env=self.env,
                           cwd=self.tmp, timeout=60)
        return p.returncode, p.stdout + p.stderr

    def ours(self, script, msg, sender, rcpt):
        p = subprocess.run([mmtest.MINIMAILCTL, "sieve", "test", script, msg, "--from", sender,
                            "--to", rcpt, "--include-dir", os.path.join(self.tmp, "personal"),
                            "--global-dir", os.path.join(self.tmp, "global")],
                           capture_output=True, text=True, env=self.env, timeout=60)
        return p.returncode, p.stdout, p.stderr

    def test_corpus_size(self):
        self.assertGreaterEqual(len(os.listdir(os.path.join(HERE, "scripts"))), 40)
        self.assertGreaterEqual(len(os.listdir(os.path.join(HERE, "msg"))), 15)

    def test_every_pair(self):
        scripts = sorted(os.listdir(os.path.join(self.tmp, "scripts")))
        msgs = sorted(os.listdir(os.path.join(self.tmp, "msg")))
        mismatches = []
        pairs = 0
        nontrivial = 0
        for s in scripts:
            path = os.path.join(self.tmp, "scripts", s)
            ph_path = path
            with open(path) as f:
                text = f.read()
            if "ereject" in text:
                ph_path = os.path.join(self.tmp, "ph-" + s)
                with open(ph_path, "w") as f:
                    f.write(text.replace("ereject", "reject"))
                os.chmod(ph_path, 0o666)
            for m in msgs:
                mpath = os.path.join(self.tmp, "msg", m)
                sender, rcpt = envelope(m)
                rc1, out1 = self.pigeonhole(ph_path, mpath, sender, rcpt)
                rc2, out2, err2 = self.ours(path, mpath, sender, rcpt)
                self.assertEqual(rc1, 0, "sieve-test failed on %s %s:\n%s" % (s, m, out1))
                self.assertEqual(rc2, 0, "minimailctl failed on %s %s:\n%s%s" % (s, m, out2, err2))
                self.assertNotIn("Error:", out1, "%s %s: %s" % (s, m, out1))
                self.assertEqual(err2, "", "%s %s: run-time error: %s" % (s, m, err2))
                a1, a2 = parse_pigeonhole(out1), parse_ours(out2)
                pairs += 1
                nontrivial += a2 != {("store", "INBOX", frozenset())}
                if a1 != a2:
                    mismatches.append("%s on %s:\n  pigeonhole: %s\n  minimaild:  %s" % (
                        s, m, sorted(map(str, a1)), sorted(map(str, a2))))
        self.assertEqual(mismatches, [], "\n".join(mismatches))
        self.assertEqual(pairs, len(scripts) * len(msgs))
        # the corpus exercises more than the implicit keep
        self.assertGreater(nontrivial, pairs // 3)

    def test_syntax_errors_refused_by_both(self):
        msg = os.path.join(self.tmp, "msg", "01-plain.eml")
        for s in sorted(os.listdir(os.path.join(self.tmp, "bad"))):
            path = os.path.join(self.tmp, "bad", s)
            rc1, out1 = self.pigeonhole(path, msg, "bob@example.com", "alice@example.org")
            rc2, out2, _ = self.ours(path, msg, "bob@example.com", "alice@example.org")
            self.assertNotEqual(rc1, 0, "sieve-test accepted %s" % s)
            self.assertIn("failed to compile", out1, s)
            self.assertEqual(rc2, 1, "minimailctl accepted %s: %s" % (s, out2))
            self.assertRegex(out2, r"^error [0-9]+: .+\n$", s)
            # both name the same line
            m1 = re.search(r": line ([0-9]+): error", out1)
            m2 = re.match(r"^error ([0-9]+):", out2)
            if m1:
                self.assertEqual(m1.group(1), m2.group(1), "%s:\n%s\n%s" % (s, out1, out2))


if __name__ == "__main__":
    if SIEVE_TEST is None:
        print("sieve-test (dovecot-sieve) is not installed: skipped")
        sys.exit(77)
    unittest.main()
