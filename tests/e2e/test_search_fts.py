#!/usr/bin/env python3
"""The full-text index (issue 19, item 3) answers SEARCH BODY and TEXT
exactly as reading every message does.

BODY and TEXT take their candidates from the trigram index in fts.db
(src/store/store-fts.c) and verify only those by reading them. This test
stores the Dovecot differential's corpus (QP and base64 bodies, Latin-1
and UTF-8 text, multipart, message/rfc822), a random corpus and a few
messages of its own (a QP soft line break inside a word, base64 UTF-8,
one body too long to index), then asks BODY and TEXT with whole words,
word fragments, non-ASCII, needles too short for the index, and ANDs /
ORs / NOTs of them, in a daemon that uses the index and in the same store
with MINIMAILD_SEARCH_SCAN=1, and compares the answers; again after flag
changes and expunges, and in the mailboxes COPY and MOVE filled. The
metrics endpoint must show that the first daemon used the index and the
second never did, so the test fails if the index is silently unused.
"""
import base64
import unittest

import test_imap_dovecot as dv
import test_search_index as si

OWN = [
    "Subject: qp\nContent-Type: text/plain; charset=utf-8\n"
    "Content-Transfer-Encoding: quoted-printable\n\nzanzi=\nbar and Gr=C3=BC=C3=9Fe aus K=C3=B6ln\n",
    "Subject: b64\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n"
    + base64.b64encode("Ünïcödé zanzibar Straße ΑΘΗΝΑ Москва\n".encode()).decode() + "\n",
    "Subject: latin1\nContent-Type: text/plain; charset=iso-8859-1\n"
    "Content-Transfer-Encoding: quoted-printable\n\nK=E4se aus M=FCnchen, caf=E9 zanzibarian\n",
    "Subject: long\n\n" + "".join("word%d zanzibar%d\n" % (i, i) for i in range(9000)),
    "Subject: Zanzibar in the header only\nX-Note: needle-in-header\n\nnothing here\n",
]

WORDS = ["zanzibar", "anzib", "ZANZIBAR", "zanzibarian", "needle", "eedl", "Käse", "KÄSE",
         "käs", "München", "ünch", "café", "caf", "Straße", "STRASSE", "αθηνα", "ΑΘΗΝΑ", "москва",
         "body", "body 1", "ody 4", "original", "epilogue", "preamble", "JVBERi0", "lange Zeile",
         "Köln", "Grüße", "word8999", "header", "needle-in-header", "Message-ID", "report.pdf",
         "a", "ab", "ze", "x y", "", "nothing-anywhere", "zzz"]


def queries():
    out = []
    for w in WORDS:
        for key in ("BODY", "TEXT"):
            q = '%s "%s"' % (key, w)
            out += [q, "NOT " + q]
    out += ['BODY zanzibar BODY needle', 'BODY zanzibar TEXT header', 'OR BODY anzib BODY eedl',
            'BODY zanzibar SEEN', 'BODY zanzibar NOT FLAGGED', 'TEXT zanzibar UID 1:40',
            'BODY "zanzibar" BODY "ab"', 'BODY body SMALLER 400', 'NOT (BODY body TEXT x)']
    return out


def metric(port, labels):
    return si.metric(port, labels, family="minimaild_imap_search_fts_total")


class SearchFtsTest(unittest.TestCase):
    """The daemon, its metrics port and the session: test_search_index's."""
    tearDownClass = si.SearchIndexTest.__dict__["tearDownClass"]
    session = si.SearchIndexTest.session
    start = si.SearchIndexTest.start

    @classmethod
    def setUpClass(cls):
        si.SearchIndexTest.__dict__["setUpClass"].__func__(cls)
        cls.queries = queries()

    def answers(self, scan, boxes):
        """{(box, query): (status, sorted UIDs)} with or without the index."""
        self.start(scan)
        try:
            sess = self.session()
            used0 = metric(self.mport, 'result="used"')
            out = {}
            for box in boxes:
                _, t = sess.cmd(b"EXAMINE " + box.encode())
                self.assertTrue(t.startswith(b"OK"), t)
                for q in self.queries:
                    u, t = sess.cmd(b"UID SEARCH " + dv.SEARCH_CHARSET.encode() + q.encode())
                    out[(box, q)] = (t.split(b" ")[0], dv.search_set(u))
            used = metric(self.mport, 'result="used"') - used0
            sess.cmd(b"LOGOUT")
        finally:
            self.srv.stop_checked()
        return out, used

    def compare(self, what, boxes=("INBOX",)):
        indexed, used = self.answers(False, boxes)
        scanned, used_scan = self.answers(True, boxes)
        self.assertGreater(used, 0, "the full-text index was never used")
        self.assertEqual(used_scan, 0, "MINIMAILD_SEARCH_SCAN still used the index")
        diffs = ["%s %s: index %r, scan %r" % (k[0], k[1], indexed[k], scanned[k])
                 for k in indexed if indexed[k] != scanned[k]]
        self.assertEqual(diffs, [], "%s: %d of %d answers differ:\n%s"
                         % (what, len(diffs), len(indexed), "\n".join(diffs)))
        hits = sum(1 for k in indexed if indexed[k][1])
        self.assertGreater(hits, len(indexed) // 3, "too few queries find anything")
        return indexed

    def run_cmds(self, cmds):
        self.srv.start()
        sess = self.session()
        for cmd in cmds:
            _, t = sess.cmd(cmd)
            self.assertTrue(t.startswith(b"OK"), (cmd, t))
        sess.cmd(b"LOGOUT")
        self.srv.stop_checked()

    def test_index_equals_scan(self):
        self.srv.start()
        sess = self.session()
        msgs = ([dv.crlf(m) for m in dv.CORPUS] + [dv.crlf(m) for m in OWN] +
                dv.random_corpus(13, 280))
        for i, msg in enumerate(msgs):
            _, t = sess.cmd(b"APPEND INBOX %s {%d+}\r\n%s"
                            % (dv.FLAGS[i % len(dv.FLAGS)].encode(), len(msg), msg))
            self.assertTrue(t.startswith(b"OK"), t)
        sess.cmd(b"LOGOUT")
        self.srv.stop_checked()
        before = self.compare("as stored")
        self.assertTrue(before[("INBOX", 'BODY "anzib"')][1], "a fragment found nothing")

        self.run_cmds([b"SELECT INBOX", b"STORE 1:* -FLAGS (\\Seen)",
                       b"STORE 2,4,6,8:12,40:60 +FLAGS (\\Flagged $Label1)",
                       b"STORE 1:10 +FLAGS (\\Deleted)", b"EXPUNGE",
                       b"STORE 30:40 +FLAGS (\\Deleted)", b"EXPUNGE"])
        after = self.compare("after flag changes and expunges")
        self.assertNotEqual(before[("INBOX", 'BODY ""')], after[("INBOX", 'BODY ""')])

        self.run_cmds([b"CREATE Copied", b"CREATE Moved", b"SELECT INBOX",
                       b"COPY 1:30 Copied", b"MOVE 20:45 Moved", b"SELECT Copied",
                       b"STORE 3:5 +FLAGS (\\Deleted)", b"EXPUNGE", b"MOVE 1:4 Moved"])
        self.compare("after COPY and MOVE", ("INBOX", "Copied", "Moved"))

        self.run_cmds([b"DELETE Moved", b"CREATE Moved", b"SELECT INBOX", b"COPY 1:* Moved"])
        self.compare("after DELETE and a new mailbox of the same name", ("INBOX", "Moved"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
