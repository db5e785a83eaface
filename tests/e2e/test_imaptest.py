#!/usr/bin/env python3
"""Dovecot's imaptest against the real daemon (issue 11).

imaptest (https://github.com/dovecot/imaptest, MIT) is the IMAP world's
conformance yardstick: each of its scripted tests is a small IMAP
conversation with the expected answers; its stress mode runs many clients
doing random commands on one mailbox and checks every answer against what
it tracked (flags, \\Recent owned by exactly one session, EXPUNGEs, ...).
It is a tool we test against, not part of minimaild: nothing of it is
copied here; IMAPTEST_DIR points at a built copy (IMAPTEST_DIR/imaptest and
IMAPTEST_DIR/tests, as ../shared/imaptest/build.sh makes it; .ci/run builds
one into build-ci/imaptest). Without it this test exits 77 (SKIP), never
PASS.

test_scripts runs every scripted test one by one (one line per script:
PASS, FAIL, SKIP, HANG, ERROR) and fails on any FAIL, HANG or ERROR. A SKIP
is imaptest's own verdict that we do not advertise a capability the
script needs; they are printed and counted. test_stress runs imaptest's
load mode (10 clients, an mbox with unique Message-IDs: imaptest tracks
messages by them) for IMAPTEST_STRESS_SECS (30; 15 in a sanitizer build)
and fails on any error line.

Environment: IMAPTEST_DIR (required), IMAPTEST_TIMEOUT (60 s per script),
IMAPTEST_ONLY ("name name": just those scripts), IMAPTEST_STRESS_SECS;
MINIMAILD, MINIMAILCTL (tests/local.am)."""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

import mmtest

IMAPTEST_DIR = os.environ.get("IMAPTEST_DIR", "")
IMAPTEST = os.path.join(IMAPTEST_DIR, "imaptest")
SCRIPTS = os.path.join(IMAPTEST_DIR, "tests")
USERS = {"testuser@example.org": "pass", "testuser2@example.org": "pass"}
TIMEOUT = int(os.environ.get("IMAPTEST_TIMEOUT", "60"))
# Scripts that fail today because of a known bug, with the bug: each
# entry goes when its bug is fixed. They must still FAIL (not hang): a
# script listed here that passes is reported, so the list only shrinks.
KNOWN_FAIL = {
}
# Stress errors of a known bug, printed but not failing: each entry goes
# when its bug is fixed.
KNOWN_STRESS = []
# Scripts that cannot pass against any server as shipped, run from a
# fixed copy: (the bug, the header line the copy gets after its first).
# urlauth2 has no "messages: 2" header, so imaptest appends nothing and
# its first command, "fetch 1:2", must get BAD in the empty mailbox (its
# sibling urlauth has the header). Dovecot skips it (no URLAUTH), so
# nobody met this upstream.
SCRIPT_FIXES = {
    "urlauth2": ("no messages header: FETCH 1:2 in an empty mailbox", "messages: 2"),
}


def env():
    e = dict(os.environ)
    # libdovecot.so.0 (Debian dovecot-core), if imaptest was built without rpath
    e["LD_LIBRARY_PATH"] = "/usr/lib/dovecot" + (
        ":" + e["LD_LIBRARY_PATH"] if e.get("LD_LIBRARY_PATH") else "")
    return e


def script_names():
    only = os.environ.get("IMAPTEST_ONLY", "").split()
    if only:
        return only
    # the set imaptest itself reads from a directory: plain files not
    # starting with "." and not ending in ".mbox" (broken/ is skipped)
    return sorted(f for f in os.listdir(SCRIPTS)
                  if os.path.isfile(os.path.join(SCRIPTS, f))
                  and not f.startswith(".") and not f.endswith(".mbox"))


def sanitizer_build():
    try:
        with open(mmtest.MINIMAILD, "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


def make_mbox(path, n):
    """n small messages, each with its own Message-ID, some multipart."""
    with open(path, "w") as f:
        for i in range(n):
            f.write("From sender%d@example.net Mon Jan  5 10:%02d:00 2026\n" % (i % 7, i % 60))
            f.write("From: Sender %d <sender%d@example.net>\n" % (i % 7, i % 7))
            f.write("To: testuser@example.org\n")
            f.write("Subject: stress message %d\n" % i)
            f.write("Date: Mon, 5 Jan 2026 10:%02d:00 +0000\n" % (i % 60))
            f.write("Message-ID: <stress-%d@imaptest.example.net>\n" % i)
            if i % 3 == 0:
                f.write('MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b%d"\n\n'
                        "--b%d\nContent-Type: text/plain\n\npart one of %d\n"
                        "--b%d\nContent-Type: application/octet-stream\n"
                        "Content-Transfer-Encoding: base64\n\naGVsbG8gd29ybGQ=\n--b%d--\n\n"
                        % (i, i, i, i, i))
            else:
                f.write("\n" + "".join("line %d of message %d\n" % (k, i)
                                       for k in range(1 + i % 20)) + "\n")


class ImaptestTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = mmtest.Server(users=USERS, allow_plaintext=True,
                                limits="max_connections_per_ip = 1000")
        cls.port = cls.srv.ports["imap"]
        cls.tmp = tempfile.mkdtemp(prefix="imaptest-fixed-")
        # Scripts with "user 2: $user2" (urlauth2) have the second user
        # SELECT $mailbox too, but imaptest creates it for the first user
        # only: give the second user one of that name ("imaptest").
        import imaplib
        c = imaplib.IMAP4("127.0.0.1", cls.port)
        c.login("testuser2@example.org", "pass")
        c.create("imaptest")
        c.logout()

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def base_args(self):
        return [IMAPTEST, "host=127.0.0.1", "port=%d" % self.port,
                "user=testuser@example.org", "pass=pass"]

    def run_script(self, name):
        """(result, output) for one scripted test."""
        path = os.path.join(SCRIPTS, name)
        if name in SCRIPT_FIXES:
            with open(path) as f:
                lines = f.read().split("\n")
            lines.insert(1, SCRIPT_FIXES[name][1])
            path = os.path.join(self.tmp, name)
            # imaptest reads the mbox beside the script
            for mb in (name + ".mbox", "default.mbox"):
                if os.path.exists(os.path.join(SCRIPTS, mb)):
                    shutil.copy(os.path.join(SCRIPTS, mb), self.tmp)
            with open(path, "w") as f:
                f.write("\n".join(lines))
        args = self.base_args() + ["user2=testuser2@example.org", "test=" + path]
        try:
            p = subprocess.run(args, env=env(), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=TIMEOUT)
        except subprocess.TimeoutExpired as e:
            return "HANG", (e.stdout or b"").decode("utf-8", "replace")
        out = p.stdout.decode("utf-8", "replace")
        summary = [l for l in out.splitlines() if l.startswith("1 test groups: ")]
        if not summary:
            return "ERROR", out
        if " 0 failed, 0 skipped" in summary[-1]:
            return "PASS", out
        if " 0 failed, 1 skipped" in summary[-1]:
            return "SKIP", out
        return "FAIL", out

    def test_scripts(self):
        results, bad = {}, []
        for name in script_names():
            res, out = self.run_script(name)
            results[name] = res
            sys.stderr.write("%s %s\n" % (res, name))
            if name in KNOWN_FAIL and res in ("FAIL", "PASS"):
                if res == "PASS":
                    bad.append("==== %s passes: remove it from KNOWN_FAIL" % name)
                else:
                    sys.stderr.write("  (known: %s)\n" % KNOWN_FAIL[name])
            elif res not in ("PASS", "SKIP"):
                bad.append("==== %s %s\n%s" % (res, name, out[-6000:]))
            self.assertTrue(self.srv.proc.poll() is None,
                            "minimaild died during %s:\n%s" % (name, self.srv.log()[-8000:]))
        counts = {r: sum(1 for v in results.values() if v == r)
                  for r in ("PASS", "FAIL", "SKIP", "HANG", "ERROR")}
        sys.stderr.write("imaptest: %d/%d scripts pass (%d fail, %d skipped for missing "
                         "capabilities: %s; %d hung, %d errors)\n"
                         % (counts["PASS"], len(results), counts["FAIL"], counts["SKIP"],
                            " ".join(n for n, r in sorted(results.items()) if r == "SKIP")
                            or "none", counts["HANG"], counts["ERROR"]))
        self.assertEqual(bad, [], "\n".join(bad))

    def test_stress(self):
        secs = int(os.environ.get("IMAPTEST_STRESS_SECS",
                                  "15" if sanitizer_build() else "30"))
        with tempfile.TemporaryDirectory(prefix="mmimaptest-") as tmp:
            mbox = os.path.join(tmp, "stress.mbox")
            make_mbox(mbox, 300)
            args = self.base_args() + ["mbox=" + mbox, "secs=%d" % secs,
                                       "clients=10"]
            p = subprocess.run(args, env=env(), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=secs + 120)
        out = p.stdout.decode("utf-8", "replace")
        errors = [l for l in out.splitlines()
                  if re.match(r"\s*(Error|Panic|Fatal|Warning)\b", l)
                  and not any(k in l for k in KNOWN_STRESS)]
        sys.stderr.write(out[-3000:])
        self.assertEqual(errors, [], "imaptest stress errors:\n" + "\n".join(errors[:50]))
        # it did something: the last line of totals has logins
        self.assertRegex(out, r"Logi", "no stress statistics:\n" + out[-3000:])
        self.assertTrue(self.srv.proc.poll() is None,
                        "minimaild died during the stress run:\n" + self.srv.log()[-8000:])


if __name__ == "__main__":
    if not IMAPTEST_DIR or not os.access(IMAPTEST, os.X_OK) or not os.path.isdir(SCRIPTS):
        print("SKIP: IMAPTEST_DIR does not point at a built imaptest "
              "(../shared/imaptest/build.sh DEST; IMAPTEST_DIR=DEST)")
        sys.exit(77)
    mmtest.main()
