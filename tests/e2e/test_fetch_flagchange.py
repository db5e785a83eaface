#!/usr/bin/env python3
"""A cached body FETCH in a session whose mailbox another session keeps
changing (issue 19's mix: UID STORE +/-FLAGS beside FETCH n BODY.PEEK[]).

The hub's post says what a change did (flags only, or messages added or
expunged): while the group's refresh of a flag change runs, a cached body
is served on the loop and the command's sync waits for that refresh
instead of reading the index for itself. So over many rounds of "A
changes a flag, B at once fetches a body" the index reads
(minimaild_imap_view_refresh_total) and the worker jobs are A's STORE,
which reads its own change, and the group's one refresh per change,
never one of B's; and every answer of B
is exact: the body asked for, and A's change, told before B's command,
in B's reply (FETCH FLAGS before the tagged OK). Every refresh job sleeps
first (MINIMAILD_TEST_REFRESH_DELAY_MS), so each of B's FETCHes comes
while one runs; before the change kind each was a worker job and a read
of B's own.

An expunge is no flag change: a body of a message expunged elsewhere,
with flag changes posted right behind the expunge, is never served (NO
[EXPUNGEISSUED] and no data, as before), its neighbours are, and the
EXPUNGE comes with the next command that may tell it."""
import os
import re
import socket
import time
import unittest
import urllib.request

import mmtest

USER, PASSWORD = "alice@example.org", "alice-secret"
NMSGS = 40
ROUNDS = 12
DELAY_MS = 150      # every refresh job sleeps first: B's commands come while it runs
SETTLE = DELAY_MS / 1000 + 0.1   # after a round: its refresh is done, none coalesce


def message(i):
    return b"Subject: m%d\r\n\r\nbody of message %d\r\n%s\r\n" % (i, i, b"y" * (i * 7 % 300))


class Client:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.f = self.s.makefile("rb")
        self.n = 0
        self.f.readline()
        self.cmd(b"LOGIN %s %s" % (USER.encode(), PASSWORD.encode()))

    def cmd(self, text, ok=True):
        """The lines of the answer (literals kept inline), tagged last."""
        self.n += 1
        tag = b"t%d" % self.n
        self.s.sendall(tag + b" " + text + b"\r\n")
        out = []
        while True:
            ln = self.f.readline()
            if not ln:
                raise EOFError(text)
            m = re.search(rb"\{(\d+)\}\r\n$", ln)
            if m:
                ln += self.f.read(int(m.group(1)))
                ln += self.f.readline()
            out.append(ln)
            if ln.startswith(tag + b" "):
                if ok and not ln.startswith(tag + b" OK"):
                    raise RuntimeError("%r -> %r" % (text, ln))
                return out

    def close(self):
        self.s.close()


class FetchFlagChangeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        os.environ["MINIMAILD_TEST_REFRESH_DELAY_MS"] = str(DELAY_MS)
        cls.srv = mmtest.Server(start=False, allow_plaintext=True)
        cls.mport = mmtest.free_ports(1)[0]
        cls.srv.write_conf(cls.srv.conf_text().replace("log_level = debug", "log_level = info") +
                           "[listen]\nmetrics = 127.0.0.1:%d\n" % cls.mport)
        try:
            cls.srv.start()
        finally:
            os.environ.pop("MINIMAILD_TEST_REFRESH_DELAY_MS", None)

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def metrics(self, *names):
        """One scrape (which may be a worker job of its own)."""
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.mport,
                                    timeout=20) as r:
            body = r.read().decode()
        out = []
        for name in names:
            m = re.search(r"^%s (\d+)" % name, body, re.M)
            self.assertIsNotNone(m, name)
            out.append(int(m.group(1)))
        return out

    def pair(self, box):
        a = Client(self.srv.ports["imap"])
        a.cmd(b"CREATE " + box)
        for i in range(1, NMSGS + 1):
            msg = message(i)
            a.cmd(b"APPEND %s {%d+}\r\n%s" % (box, len(msg), msg))
        a.cmd(b"SELECT " + box)
        b = Client(self.srv.ports["imap"])
        b.cmd(b"SELECT " + box)
        for i in range(1, NMSGS + 1):       # into the body cache
            self.assertIn(message(i), b"".join(b.cmd(b"FETCH %d BODY.PEEK[]" % i)))
        return a, b

    def test_flag_changes_keep_cached_bodies_on_the_loop(self):
        a, b = self.pair(b"FlagMix")
        flagged = set()
        names = ("minimaild_imap_view_refresh_total", "minimaild_worker_job_duration_seconds_count")
        r0, w0 = self.metrics(*names)
        for rnd in range(ROUNDS):
            k = rnd % NMSGS + 1
            op = b"-" if k in flagged else b"+"
            a.cmd(b"UID STORE %d %sFLAGS.SILENT (\\Flagged)" % (k, op))
            flagged ^= {k}
            j = (rnd * 7) % NMSGS + 1
            out = b.cmd(b"FETCH %d BODY.PEEK[]" % j)
            self.assertIn(message(j), b"".join(out))
            # A's change was told before this command: it is in the reply
            told = [ln for ln in out if re.match(rb"\* %d FETCH \(UID %d FLAGS " % (k, k), ln)]
            self.assertEqual(len(told), 1, out)
            self.assertEqual(b"\\Flagged" in told[0], k in flagged, told[0])
            time.sleep(SETTLE)
        r1, w1 = self.metrics(*names)
        reads, jobs = r1 - r0, w1 - w0
        # each round: A's STORE job reads its own change, the group's
        # refresh job reads it once for all; B has no job and no read
        # (scrapes and the store's timers are jobs too: a few more; B's
        # FETCH jobs and its own reads were two more a round)
        self.assertEqual(reads, 2 * ROUNDS)
        self.assertLess(jobs, 3 * ROUNDS)
        a.close()
        b.close()

    def test_own_store_needs_no_read_of_its_own(self):
        # the session that STOREs learns its own change in the STORE's
        # job; its next command, while the group reads that change, waits
        # for it instead of reading again (the refresh comes to the view
        # the STORE already read)
        a, b = self.pair(b"OwnStore")
        names = ("minimaild_imap_view_refresh_total", "minimaild_worker_job_duration_seconds_count")
        for i in range(1, NMSGS + 1):
            a.cmd(b"FETCH %d BODY.PEEK[]" % i)
        r0, w0 = self.metrics(*names)
        for rnd in range(ROUNDS):
            k = rnd % NMSGS + 1
            out = a.cmd(b"UID STORE %d %sFLAGS (\\Flagged)" % (k, b"+-"[rnd // NMSGS % 2:][:1]))
            self.assertTrue([ln for ln in out if re.match(rb"\* %d FETCH " % k, ln)], out)
            j = (rnd * 3) % NMSGS + 1
            out = a.cmd(b"FETCH %d BODY.PEEK[]" % j)
            self.assertIn(message(j), b"".join(out))
            self.assertFalse([ln for ln in out if b" FETCH (UID" in ln], out)
            time.sleep(SETTLE)
        r1, w1 = self.metrics(*names)
        self.assertEqual(r1 - r0, 2 * ROUNDS)
        self.assertLess(w1 - w0, 3 * ROUNDS)
        out = b.cmd(b"NOOP")
        self.assertEqual(len([ln for ln in out if b" FETCH (" in ln]), ROUNDS)
        a.close()
        b.close()

    def test_expunge_behind_flag_changes_is_not_served(self):
        a, b = self.pair(b"ExpungeMix")
        live = list(range(1, NMSGS + 1))      # B's view: seq i+1 is UID live[i]
        for rnd in range(6):
            uid = live[len(live) // 2]
            other = live[0]
            a.cmd(b"UID STORE %d +FLAGS.SILENT (\\Deleted)" % uid)
            a.cmd(b"UID EXPUNGE %d" % uid)
            a.cmd(b"UID STORE %d %sFLAGS.SILENT (\\Flagged)" % (other, b"+-"[rnd % 2:rnd % 2 + 1]))
            seq = live.index(uid) + 1
            for _ in range(2):
                out = b.cmd(b"FETCH %d BODY.PEEK[]" % seq, ok=False)
                self.assertEqual(out[-1].split(b" ", 1)[1],
                                 b"NO [EXPUNGEISSUED] Some of the requested messages "
                                 b"no longer exist\r\n", out)
                self.assertNotIn(message(uid), b"".join(out))
                self.assertFalse([ln for ln in out if b"EXPUNGE\r\n" in ln], out)
                out = b.cmd(b"FETCH %d BODY.PEEK[]" % (seq - 1))
                self.assertIn(message(live[seq - 2]), b"".join(out))
            out = b.cmd(b"NOOP")
            self.assertIn(b"* %d EXPUNGE\r\n" % seq, out)
            live.remove(uid)
        for i, uid in enumerate(live):
            self.assertIn(message(uid), b"".join(b.cmd(b"FETCH %d BODY.PEEK[]" % (i + 1))))
        a.close()
        b.close()


if __name__ == "__main__":
    unittest.main()
