#!/usr/bin/env python3
"""The search record (issue 19, item 3) answers exactly as reading every
message does.

SUBJECT, FROM, TO, CC, BCC, HEADER Subject / Message-ID and the SENT*
keys are answered from a record built at delivery (src/mail/cache.c)
instead of reading each message. This test stores the Dovecot
differential's corpus (tests/e2e/test_imap_dovecot.py: encoded words,
repeated To:/Cc:, long folded headers, broken dates, ...) plus a random
threaded corpus, then asks every SEARCH of that differential and more
header and date keys, each with its NOT, in one daemon that uses the
record and in the same store with MINIMAILD_SEARCH_SCAN=1 (every key reads
the message), and compares the answers; again after flag changes and
expunges. The metrics endpoint must show that the first daemon answered
from the record and the second never did, so the test fails if the
record is silently unused.
"""
import os
import re
import urllib.request
import unittest

import mmtest
import test_imap_dovecot as dv

ALICE = ("alice@example.org", "alice-secret")

EXTRA = [
    "SUBJECT \"\"", "SUBJECT re", "SUBJECT thread", "SUBJECT alpha", "SUBJECT \"delta report\"",
    "FROM example", "FROM u3", "FROM \"\"", "TO example", "CC example", "BCC \"\"",
    "HEADER SUBJECT beta", "HEADER message-id m1", "HEADER Message-ID \"<m2@x>\"",
    "HEADER From u4",            # the decoded From: is not in the record: read
    "SENTON 1-Jan-2024", "SENTON 2-Jan-2024", "SENTBEFORE 2-Jan-2024", "SENTSINCE 3-Jan-2024",
    "OR SUBJECT alpha SENTON 1-Jan-2024", "SUBJECT alpha BODY body", "FROM u1 TO person1",
    "OR HEADER Message-ID m3 NOT SUBJECT gamma",
]


def metric(port, labels, family="minimaild_imap_search_record_total"):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=20) as r:
        for line in r.read().decode().splitlines():
            m = re.match(r'%s\{%s\} (\S+)' % (family, re.escape(labels)), line)
            if m:
                return float(m.group(1))
    raise AssertionError("no %s{%s}" % (family, labels))


def ask_all(sess, queries):
    """{query: (status, set of UIDs)} for UID SEARCH of each query in sess
    (non-ASCII ones with the differential's CHARSET)."""
    out = {}
    for q in queries:
        raw = q.encode("utf-8")
        if not q.isascii() and not q.startswith("CHARSET"):
            raw = dv.SEARCH_CHARSET.encode() + raw
        u, t = sess.cmd(b"UID SEARCH " + raw)
        out[q] = (t.split(b" ")[0], dv.search_set(u))
    return out


class SearchIndexTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = mmtest.Server(users=dict([ALICE]), start=False)
        (cls.mport,) = mmtest.free_ports(1)
        cls.srv.write_conf(cls.srv.conf_text() + "[listen]\nmetrics = 127.0.0.1:%d\n" % cls.mport)
        cls.queries = []
        for q in dv.SEARCHES + EXTRA:
            cls.queries += [q, "NOT " + q if not q.startswith("CHARSET") else q]

    @classmethod
    def tearDownClass(cls):
        os.environ.pop("MINIMAILD_SEARCH_SCAN", None)
        cls.srv.close()

    def session(self):
        s = self.srv.ssl_context().wrap_socket(self.srv.connect("imaps", timeout=60))
        self.addCleanup(s.close)
        sess = dv.Session(s.sendall, lambda: s.recv(65536))
        sess.greeting()
        _, t = sess.cmd(b"LOGIN %s %s" % (ALICE[0].encode(), ALICE[1].encode()))
        self.assertTrue(t.startswith(b"OK"), t)
        return sess

    def start(self, scan):
        """The daemon started with or without MINIMAILD_SEARCH_SCAN."""
        if scan:
            os.environ["MINIMAILD_SEARCH_SCAN"] = "1"
        else:
            os.environ.pop("MINIMAILD_SEARCH_SCAN", None)
        self.srv.start()

    def answers(self, scan):
        """{query: sorted UIDs} from a daemon with or without the record."""
        self.start(scan)
        try:
            sess = self.session()
            _, t = sess.cmd(b"EXAMINE INBOX")
            self.assertTrue(t.startswith(b"OK"), t)
            used0 = metric(self.mport, 'result="used"')
            out = ask_all(sess, self.queries)
            used = metric(self.mport, 'result="used"') - used0
            sess.cmd(b"LOGOUT")
        finally:
            self.srv.stop_checked()
        return out, used

    def compare(self, what):
        indexed, used = self.answers(scan=False)
        scanned, used_scan = self.answers(scan=True)
        self.assertGreater(used, 0, "the search record was never used")
        self.assertEqual(used_scan, 0, "MINIMAILD_SEARCH_SCAN still used the record")
        diffs = ["%s: record %r, scan %r" % (q, indexed[q], scanned[q])
                 for q in self.queries if indexed[q] != scanned[q]]
        self.assertEqual(diffs, [], "%s: %d of %d answers differ:\n%s"
                         % (what, len(diffs), len(self.queries), "\n".join(diffs)))
        hits = sum(1 for q in self.queries if indexed[q][1])
        self.assertGreater(hits, len(self.queries) // 3, "too few queries find anything")
        return indexed

    def test_record_equals_scan(self):
        self.srv.start()
        sess = self.session()
        msgs = [dv.crlf(m) for m in dv.CORPUS] + dv.random_corpus(11, 80)
        for i, msg in enumerate(msgs):
            _, t = sess.cmd(b"APPEND INBOX %s %s {%d+}\r\n%s"
                            % (dv.FLAGS[i % len(dv.FLAGS)].encode(),
                               dv.DATES[i % len(dv.DATES)].encode(), len(msg), msg))
            self.assertTrue(t.startswith(b"OK"), t)
        sess.cmd(b"LOGOUT")
        self.srv.stop_checked()
        before = self.compare("as stored")

        # flags change and a third of the messages go
        self.srv.start()
        sess = self.session()
        _, t = sess.cmd(b"SELECT INBOX")
        self.assertTrue(t.startswith(b"OK"), t)
        for cmd in (b"STORE 1:* -FLAGS (\\Seen)", b"STORE 2,4,6,8:12,40:60 +FLAGS (\\Flagged $Label1)",
                    b"STORE 1:30 +FLAGS (\\Deleted)", b"EXPUNGE",
                    b"STORE 5:20 +FLAGS (\\Deleted)", b"EXPUNGE"):
            _, t = sess.cmd(cmd)
            self.assertTrue(t.startswith(b"OK"), (cmd, t))
        sess.cmd(b"LOGOUT")
        self.srv.stop_checked()
        after = self.compare("after flag changes and expunges")
        self.assertNotEqual(before["ALL"], after["ALL"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
