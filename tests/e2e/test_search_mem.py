#!/usr/bin/env python3
"""The search records in memory (issue 19, item 3) answer exactly as the
store does.

A mailbox's search records are kept in memory beside its shared view
(src/imap/imap-searchmem.c) while a session has it selected: built by the
first header SEARCH, brought up to date when the view refreshes (new
messages' records read, expunged ones dropped), dropped when no session
has the mailbox. This test asks every SEARCH of the Dovecot differential
and of test_search_index.py (each with its NOT) from two sessions of one
daemon, first as stored, then after the other session appended and
expunged while the table was held, and compares each answer with what a
daemon on the same store answers with MINIMAILD_SEARCH_SCAN=1 (every key
reads the message). The gauge minimaild_imap_search_memory_bytes must
grow when the table is built, grow with the appends, shrink with the
expunges, and come back to 0 when both sessions have closed the mailbox.
"""
import os
import re
import time
import urllib.request
import unittest

import test_imap_dovecot as dv
import test_search_index as si

SIMPLE = 700        # plain messages besides the corpus: several chunks


def simple(i):
    return (("From: Sender %d <sender%d@example.org>\r\n"
             "To: person%d@example.net\r\nCc: list%d@example.com\r\n"
             "Subject: note %d about topic%d\r\n"
             "Date: %d Jan 2024 10:00:00 +0000\r\nMessage-ID: <s%d@x>\r\n\r\n"
             "body %d\r\n") % (i % 13, i % 13, i % 7, i % 5, i, i % 11, 1 + i % 28, i, i)).encode()


def gauge(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=20) as r:
        for line in r.read().decode().splitlines():
            m = re.match(r"minimaild_imap_search_memory_bytes (\S+)", line)
            if m:
                return float(m.group(1))
    raise AssertionError("no minimaild_imap_search_memory_bytes")


class SearchMemTest(unittest.TestCase):
    # the server (with metrics), the queries and the sessions of
    # test_search_index.py
    tearDownClass = si.SearchIndexTest.__dict__["tearDownClass"]
    session = si.SearchIndexTest.session

    @classmethod
    def setUpClass(cls):
        si.SearchIndexTest.__dict__["setUpClass"].__func__(cls)
        for q in ["SUBJECT note", "SUBJECT \"note 123 \"", "FROM sender4@", "TO person3",
                  "CC list2", "SENTON 5-Jan-2024", "HEADER Message-ID s69"]:
            cls.queries += [q, "NOT " + q]

    def ok(self, sess, cmd):
        u, t = sess.cmd(cmd)
        self.assertTrue(t.startswith(b"OK"), (cmd[:60], t))
        return u

    def ask(self, sess):
        return si.ask_all(sess, self.queries)

    def wait_gauge(self, pred, what):
        deadline = time.monotonic() + 20
        while True:
            g = gauge(self.mport)
            if pred(g):
                return g
            if time.monotonic() > deadline:
                self.fail("%s: gauge %r" % (what, g))
            time.sleep(0.05)

    def scanned(self):
        os.environ["MINIMAILD_SEARCH_SCAN"] = "1"
        self.srv.start()
        try:
            sess = self.session()
            self.ok(sess, b"EXAMINE INBOX")
            out = self.ask(sess)
            self.assertEqual(gauge(self.mport), 0, "MINIMAILD_SEARCH_SCAN kept records")
            sess.cmd(b"LOGOUT")
        finally:
            self.srv.stop_checked()
            os.environ.pop("MINIMAILD_SEARCH_SCAN", None)
        return out

    def same(self, mem, scan, what):
        diffs = ["%s: memory %r, scan %r" % (q, mem[q], scan[q])
                 for q in self.queries if mem[q] != scan[q]]
        self.assertEqual(diffs, [], "%s: %d of %d answers differ:\n%s"
                         % (what, len(diffs), len(self.queries), "\n".join(diffs)))

    def append(self, sess, msgs, first):
        for i, msg in enumerate(msgs):
            self.ok(sess, b"APPEND INBOX %s %s {%d+}\r\n%s"
                    % (dv.FLAGS[(first + i) % len(dv.FLAGS)].encode(),
                       dv.DATES[(first + i) % len(dv.DATES)].encode(), len(msg), msg))

    def test_memory_equals_scan(self):
        self.srv.start()
        a = self.session()
        corpus = [dv.crlf(m) for m in dv.CORPUS] + dv.random_corpus(11, 80)
        corpus += [simple(i) for i in range(SIMPLE)]
        self.append(a, corpus, 0)
        b = self.session()
        self.ok(a, b"SELECT INBOX")
        self.ok(b, b"SELECT INBOX")
        self.assertEqual(gauge(self.mport), 0)

        # as stored: built by a's first SEARCH, read by both
        mem_a = self.ask(a)
        built = self.wait_gauge(lambda g: g > 0, "no records kept after SEARCH")
        mem_b = self.ask(b)
        self.same(mem_b, mem_a, "the second session")
        self.assertEqual(gauge(self.mport), built, "the second session built its own")

        # b appends and expunges while both hold the mailbox
        self.append(b, dv.random_corpus(23, 60) + [simple(i) for i in range(SIMPLE, SIMPLE + 300)],
                    len(corpus))
        self.ok(a, b"NOOP")
        grown = self.wait_gauge(lambda g: g > built, "the appended records were not added")
        self.ok(b, b"STORE 1:40,300:420,900:950 +FLAGS.SILENT (\\Deleted)")
        self.ok(b, b"EXPUNGE")
        self.ok(a, b"NOOP")
        self.wait_gauge(lambda g: g < grown, "the expunged records were not dropped")
        self.ok(b, b"STORE 1:* -FLAGS.SILENT (\\Seen)")
        self.ok(a, b"NOOP")
        mem_a = self.ask(a)
        mem_b = self.ask(b)
        self.same(mem_b, mem_a, "after changes, the second session")
        a.cmd(b"LOGOUT")
        self.assertGreater(gauge(self.mport), 0, "dropped while b holds the mailbox")
        b.cmd(b"LOGOUT")
        self.wait_gauge(lambda g: g == 0, "records kept after both sessions left")
        self.srv.stop_checked()

        self.same(mem_a, self.scanned(), "after appends and expunges")
        hits = sum(1 for q in self.queries if mem_a[q][1])
        self.assertGreater(hits, len(self.queries) // 3, "too few queries find anything")

    def test_search_while_changes_pending(self):
        # SEARCH of index keys and of records all in memory is answered on
        # the loop (cmd-search.c, search_loop_ok) also while the view has
        # another session's changes to take: the answer is the view as the
        # command found it (sequence numbers the client knows), the changes
        # follow it, and the next SEARCH sees them
        self.srv.start()
        a = self.session()
        self.ok(a, b"CREATE Pending")
        n = 40
        for i in range(1, n + 1):
            msg = simple(i)
            self.ok(a, b"APPEND Pending {%d+}\r\n%s" % (len(msg), msg))
        b = self.session()
        self.ok(a, b"SELECT Pending")
        self.ok(b, b"SELECT Pending")
        uids = list(range(1, n + 1))
        flagged, seen = set(), set()

        def seqs(pred):
            return {k + 1 for k, u in enumerate(uids) if pred(u)}

        def search(q):
            return set(dv.search_set(self.ok(b, b"SEARCH " + q)))

        topic = seqs(lambda u: u % 11 == 3)
        self.assertEqual(search(b"SUBJECT topic3"), topic)      # builds the table
        for rnd in range(12):
            u = 1 + (rnd * 7) % n
            if rnd % 3 == 2:
                self.ok(a, b"UID FETCH %d BODY[]" % u)          # sets \Seen
                seen.add(u)
            else:
                op = b"-" if u in flagged else b"+"
                self.ok(a, b"UID STORE %d %sFLAGS.SILENT (\\Flagged)" % (u, op))
                flagged ^= {u}
            self.assertEqual(search(b"SUBJECT topic3"), topic)
            self.assertEqual(search(b"SUBJECT topic3 NOT SUBJECT note"), set())
            self.ok(b, b"NOOP")
            self.assertEqual(search(b"FLAGGED"), seqs(lambda x: x in flagged))
            self.assertEqual(search(b"UNSEEN"), seqs(lambda x: x not in seen))
            self.assertEqual(search(b"FLAGGED SUBJECT topic3"),
                             seqs(lambda x: x in flagged and x % 11 == 3))
        # an expunge elsewhere: the SEARCH keeps the numbers the client
        # knows (no EXPUNGE during SEARCH), the NOOP moves them
        gone = 14                                               # topic3
        self.ok(a, b"UID STORE %d +FLAGS.SILENT (\\Deleted)" % gone)
        self.ok(a, b"EXPUNGE")
        got = search(b"SUBJECT topic3")
        self.assertEqual(got - {uids.index(gone) + 1}, topic - {uids.index(gone) + 1})
        self.ok(b, b"NOOP")
        uids.remove(gone)
        self.assertEqual(search(b"SUBJECT topic3"), seqs(lambda x: x % 11 == 3))
        self.assertEqual(search(b"UNSEEN"), seqs(lambda x: x not in seen))
        a.cmd(b"LOGOUT")
        b.cmd(b"LOGOUT")
        self.srv.stop_checked()


if __name__ == "__main__":
    unittest.main(verbosity=2)
