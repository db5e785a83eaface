#!/usr/bin/env python3
"""The store shared by processes (issue 3): while the daemon takes SMTP
deliveries from a thread, minimailctl adds users and aliases and lists
them, and processes that have the store open are SIGKILLed (the next
opener must recover the store, which forces everyone else to reopen it).
Every minimailctl command and every delivery succeeds, every delivery that
got 250 is in its mailbox afterwards, and new deliveries still work.

store_holder (tests/store_holder.c, a check program) is the process that
is killed: it opens the store like minimailctl and waits, optionally
inside a write transaction, so its death leaves a lock behind.
Environment: MINIMAILD, MINIMAILCTL, TOP_BUILDDIR (tests/local.am)."""
import os
import poplib
import re
import smtplib
import subprocess
import threading
import time
import unittest

import mmtest

HOLDER = os.path.join(os.environ.get("TOP_BUILDDIR", "."), "store_holder")
USERS = ["alice@example.org", "bob@example.org"]


class Deliverer(threading.Thread):
    """Sends one small message at a time over SMTP until stopped; records
    the subjects that got 250 per recipient, and any failure."""

    def __init__(self, srv):
        super().__init__(daemon=True)
        self.srv = srv
        self.stop = threading.Event()
        self.acked = {u: [] for u in USERS}
        self.failures = []
        self.n = 0

    def run(self):
        while not self.stop.is_set():
            try:
                with smtplib.SMTP("127.0.0.1", self.srv.ports["smtp"], timeout=30) as s:
                    s.ehlo("client.example.net")
                    for _ in range(5):
                        if self.stop.is_set():
                            break
                        rcpt = USERS[self.n % 2]
                        subject = "mp-%d" % self.n
                        self.n += 1
                        msg = ("From: x@example.net\r\nTo: %s\r\nSubject: %s\r\n\r\n"
                               "body of %s\r\n" % (rcpt, subject, subject))
                        s.sendmail("x@example.net", [rcpt], msg)
                        self.acked[rcpt].append(subject)
            except (smtplib.SMTPException, OSError) as e:
                self.failures.append(repr(e))


def inbox_count(srv, user):
    out = srv.ctl("mailbox", "list", user, check=True).stdout
    for line in out.splitlines():
        f = line.split()
        if f and f[0] == "INBOX":
            return int(f[1])
    raise AssertionError("no INBOX in:\n" + out)


def pop3_subjects(srv, user):
    p = poplib.POP3_SSL("127.0.0.1", srv.ports["pop3s"], context=srv.ssl_context(),
                        timeout=30)
    try:
        p.user(user)
        p.pass_(srv.users[user])
        subjects = []
        for i in range(1, len(p.list()[1]) + 1):
            for line in p.top(i, 0)[1]:
                m = re.match(rb"Subject: (.*)", line)
                if m:
                    subjects.append(m.group(1).decode())
        p.quit()
        return subjects
    finally:
        p.close()


@unittest.skipUnless(os.access(HOLDER, os.X_OK), "store_holder not built (needs check)")
class MultiProcessTest(unittest.TestCase):
    def ctl_ok(self, srv, *args, input=None):
        r = srv.ctl(*args, input=input)
        self.assertEqual((r.returncode, r.stderr), (0, ""), args)
        return r.stdout

    def admin_round(self, srv, i):
        """Issue 3: minimailctl add user, alias, list while the daemon delivers."""
        user = "carol%d@example.org" % i
        self.ctl_ok(srv, "user", "add", user, input="pw-%d\n" % i)
        self.ctl_ok(srv, "alias", "add", "team%d@example.org" % i, user, "bob@example.org")
        self.assertIn(user, self.ctl_ok(srv, "user", "list"))
        self.assertIn("team%d@example.org\t%s bob@example.org" % (i, user),
                      self.ctl_ok(srv, "alias", "list"))
        self.assertIn("INBOX", self.ctl_ok(srv, "mailbox", "list", "alice@example.org"))

    def kill_holder(self, srv, *mode):
        p = subprocess.Popen([HOLDER, srv.data_dir] + list(mode), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        try:
            self.assertEqual(p.stdout.readline(), "ready\n", p.stderr.read()
                             if p.poll() is not None else "")
            time.sleep(0.3)       # deliveries go on around the open store
        finally:
            p.kill()
            p.wait()
            p.stdout.close()
            p.stderr.close()
        self.assertEqual(p.returncode, -9)

    def test_admin_and_kills_while_delivering(self):
        with mmtest.Server() as srv:
            d = Deliverer(srv)
            d.start()
            try:
                for i in range(3):
                    self.admin_round(srv, i)
                # a holder with no lock, one inside a write transaction, one
                # more; each time minimailctl runs at once afterwards too
                for i, mode in enumerate([(), ("lock",), ()]):
                    self.kill_holder(srv, *mode)
                    self.admin_round(srv, 10 + i)
                    time.sleep(0.5)
                for i in range(3):
                    self.admin_round(srv, 20 + i)
            finally:
                d.stop.set()
                d.join(60)
            self.assertFalse(d.is_alive())
            self.assertEqual(d.failures, [])
            self.assertIsNone(srv.proc.poll(), "minimaild died:\n" + srv.log()[-4000:])
            self.assertGreater(len(d.acked["alice@example.org"]), 20)
            log = srv.log()
            self.assertIn("a process died with the store open", log)
            self.assertIn("store: environment reopened", log)

            # every delivery that got 250 is there (once: a commit cut
            # short by a recovery could run twice, but never here)
            for user in USERS:
                self.assertEqual(inbox_count(srv, user), len(d.acked[user]), user)
            got = pop3_subjects(srv, "alice@example.org")
            self.assertEqual(sorted(got), sorted(d.acked["alice@example.org"]))

            # and new deliveries work, also through an alias made meanwhile
            with smtplib.SMTP("127.0.0.1", srv.ports["smtp"], timeout=30) as s:
                s.sendmail("x@example.net", ["alice@example.org", "team10@example.org"],
                           "Subject: after\r\n\r\nafter\r\n")
            self.assertEqual(inbox_count(srv, "alice@example.org"),
                             len(d.acked["alice@example.org"]) + 1)
            self.assertEqual(inbox_count(srv, "carol10@example.org"), 1)
            self.assertEqual(inbox_count(srv, "bob@example.org"),
                             len(d.acked["bob@example.org"]) + 1)

            # a killed store_holder whose store nobody else opens: the
            # daemon alone recovers it, and keeps delivering
            self.kill_holder(srv, "lock")
            with smtplib.SMTP("127.0.0.1", srv.ports["smtp"], timeout=30) as s:
                s.sendmail("x@example.net", ["bob@example.org"], "Subject: last\r\n\r\nx\r\n")
            self.assertEqual(inbox_count(srv, "bob@example.org"),
                             len(d.acked["bob@example.org"]) + 2)
            self.assertEqual(srv.stop(), 0)


if __name__ == "__main__":
    mmtest.main()
