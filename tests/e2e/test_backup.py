#!/usr/bin/env python3
"""Hot backup and restore (issue 16): while a thread delivers over SMTP,
minimailctl backup takes a backup, then an incremental one; each is
restored into a fresh data_dir and served by a second daemon, where every
message acknowledged (250) before the backup started is there byte-exact,
nothing is there that was never sent, and verify is clean (also while the
daemon delivers). verify on a store with one damaged database page exits 1
naming it.. Bad input:
a backup into a directory that is not a backup, restore of a missing or
unfinished backup, restore into a non-empty data_dir: one line, exit 1.
Environment: MINIMAILD, MINIMAILCTL (tests/local.am)."""
import imaplib
import os
import random
import re
import smtplib
import struct
import threading
import time
import unittest

import mmtest

ALICE = ("alice@example.org", "alice-secret")


class Deliverer(threading.Thread):
    """Sends messages with random bodies one at a time until stopped and
    records each message's bytes once it got 250, in order."""

    def __init__(self, srv):
        super().__init__(daemon=True)
        self.srv = srv
        self.stop = threading.Event()
        self.acked = []
        self.lock = threading.Lock()
        self.failures = []
        self.rng = random.Random(16)

    def message(self, n):
        lines = ["line %d of message %d: %s" % (i, n, "%x" % self.rng.getrandbits(200))
                 for i in range(self.rng.randint(1, 400))]
        return ("From: x@example.net\r\nTo: alice@example.org\r\nSubject: bk-%d\r\n"
                "Message-ID: <bk-%d@example.net>\r\n\r\n%s\r\n" % (n, n, "\r\n".join(lines)))

    def run(self):
        n = 0
        while not self.stop.is_set():
            try:
                with smtplib.SMTP("127.0.0.1", self.srv.ports["smtp"], timeout=30) as s:
                    for _ in range(10):
                        if self.stop.is_set():
                            break
                        msg = self.message(n)
                        n += 1
                        s.sendmail("x@example.net", ["alice@example.org"], msg)
                        with self.lock:
                            self.acked.append(msg.encode())
            except (smtplib.SMTPException, OSError) as e:
                self.failures.append(repr(e))

    def snapshot(self):
        with self.lock:
            return list(self.acked)

    def wait_for(self, n, timeout=60):
        deadline = time.time() + timeout
        while len(self.snapshot()) < n:
            if time.time() > deadline:
                raise AssertionError("deliveries too slow: %d" % len(self.snapshot()))
            time.sleep(0.05)


def fetch_all(srv):
    m = imaplib.IMAP4_SSL("127.0.0.1", srv.ports["imaps"], ssl_context=srv.ssl_context())
    m.login(*ALICE)
    m.select("INBOX", readonly=True)
    typ, data = m.uid("FETCH", "1:*", "(BODY.PEEK[])")
    m.logout()
    return [d[1] for d in data if isinstance(d, tuple)]


class BackupTest(unittest.TestCase):
    def test_backup_under_load_restore_and_serve(self):
        with mmtest.Server() as srv:
            bdir = os.path.join(srv.tmp, "backup")
            d = Deliverer(srv)
            d.start()
            try:
                d.wait_for(40)
                before = d.snapshot()
                r = srv.ctl("backup", bdir)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn("full, ", r.stdout)
                self.assertRegex(r.stdout, r"backup: full, \d+ files, .* copied in")
                n1 = len(d.snapshot())
                d.wait_for(n1 + 30)
                before2 = d.snapshot()
                r = srv.ctl("backup", bdir)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn("incremental (log files only)", r.stdout)
                r = srv.ctl("verify")
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                self.assertRegex(r.stdout, r"verify: 10 databases, 2 users, 12 mailboxes, "
                                 r"\d+ messages, \d+ bodies checked in .*: no problems\n$")
                d.wait_for(len(d.snapshot()) + 10)
            finally:
                d.stop.set()
                d.join(60)
            self.assertEqual(d.failures, [])
            sent = set(d.snapshot())

            # the second backup, restored and served by a second daemon
            srv2 = mmtest.Server(users={}, start=False)
            try:
                r = srv2.ctl("restore", bdir)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn("restore: ", r.stdout)
                srv2.first_start()
                got = fetch_all(srv2)
                self.assertGreaterEqual(len(got), len(before2))
                for msg in before2:
                    self.assertTrue(any(g.endswith(msg) for g in got),
                                    "acknowledged before the backup, missing: %r" % msg[:80])
                # nothing invented, nothing doubled
                ids = [re.search(rb"Message-ID: <(bk-\d+)@", g).group(1) for g in got]
                self.assertEqual(len(ids), len(set(ids)))
                for g in got:
                    self.assertTrue(any(g.endswith(m) for m in sent))
                srv2.stop_checked()
                r = srv2.ctl("verify")
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                self.assertIn("no problems", r.stdout)
            finally:
                srv2.close()
            self.assertGreater(len(before2), len(before))

    def test_verify_damaged_page(self):
        with mmtest.Server() as srv:
            with smtplib.SMTP("127.0.0.1", srv.ports["smtp"], timeout=30) as s:
                for i in range(5):
                    s.sendmail("x@example.net", ["alice@example.org"],
                               "Subject: %d\r\n\r\nbody %d\r\n" % (i, i))
            srv.stop_checked()
            self.assertEqual(srv.ctl("verify").returncode, 0)
            # one page of mailboxes.db: its item offsets, past the page
            # header (whose LSN recovery compares: kept)
            path = os.path.join(srv.data_dir, "mailboxes.db")
            with open(path, "r+b") as f:
                pagesize = struct.unpack("<I", f.read(24)[20:24])[0]
                f.seek(pagesize + 26)
                f.write(b"\xff" * 8)
            r = srv.ctl("verify")
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            self.assertIn("mailboxes.db: ", r.stdout)
            self.assertIn("Page 1", r.stdout)
            self.assertRegex(r.stdout, r"\d+ problems?\n$")

    def test_bad_input(self):
        with mmtest.Server(start=False) as srv:
            # a directory that holds something else
            other = os.path.join(srv.tmp, "other")
            os.mkdir(other)
            with open(os.path.join(other, "notes.txt"), "w") as f:
                f.write("mine\n")
            r = srv.ctl("backup", other)
            self.assertEqual(r.returncode, 1)
            self.assertEqual(r.stderr.count("\n"), 1)
            self.assertIn("not empty and not a minimaild backup", r.stderr)
            self.assertEqual(os.listdir(other), ["notes.txt"])
            # restore: missing, not a backup, into a non-empty data_dir
            srv2 = mmtest.Server(users={}, start=False)
            try:
                r = srv2.ctl("restore", os.path.join(srv.tmp, "nonexistent"))
                self.assertEqual(r.returncode, 1)
                self.assertIn("No such file or directory", r.stderr)
                r = srv2.ctl("restore", other)
                self.assertEqual(r.returncode, 1)
                self.assertIn("not a minimaild backup", r.stderr)
                self.assertFalse(os.path.exists(srv2.data_dir) and os.listdir(srv2.data_dir))
                bdir = os.path.join(srv.tmp, "bk")
                self.assertEqual(srv.ctl("backup", bdir).returncode, 0)
                r = srv.ctl("restore", bdir)
                self.assertEqual(r.returncode, 1)
                self.assertIn("not empty: restore only into an empty data_dir", r.stderr)
                # an unfinished backup is refused, and the next backup is full
                marker = os.path.join(bdir, "MINIMAILD-BACKUP")
                with open(marker) as f:
                    text = f.read()
                with open(marker, "w") as f:
                    f.write(text.replace("complete", "updating"))
                r = srv2.ctl("restore", bdir)
                self.assertEqual(r.returncode, 1)
                self.assertIn("did not finish", r.stderr)
                r = srv.ctl("backup", bdir)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn("the last backup there did not finish", r.stdout)
                r = srv2.ctl("restore", bdir)
                self.assertEqual(r.returncode, 0, r.stderr)
                r = srv2.ctl("user", "list")
                self.assertIn("alice@example.org", r.stdout)
            finally:
                srv2.close()


if __name__ == "__main__":
    mmtest.main()
