#!/usr/bin/env python3
"""The search records in memory stay within their bound and give way
(issue 19): with [limits] max_memory = 4M the tables of all mailboxes may
hold a quarter of it (1 MiB), about three of these mailboxes (300
messages, subjects of over 1,000 bytes: ~310 KiB of records each). Five
sessions each hold a mailbox selected and SEARCH it in turn: every
answer is right, the gauge minimaild_imap_search_memory_bytes never goes
over 1 MiB, and the last mailbox searched has its records in memory (the
least recently searched tables were dropped for it: closing it lowers
the gauge). Before, the first three mailboxes kept the memory for as
long as they were selected and the later ones were always read from the
store. Then the dropped ones are searched again, still right."""
import unittest

import mmtest
import test_search_mem as sm

USER = ("alice@example.org", "alice-secret")
BOXES = 5
MSGS = 300
CAP = 1024 * 1024


def message(b, i):
    fill = "".join("\r\n filler%03d" % k for k in range(100))
    needle = " needle" if i % 7 == 0 else ""
    return ("From: a@example.org\r\nSubject: Box%d Msg%d%s%s\r\n"
            "Date: 1 Jan 2024 10:00:00 +0000\r\n\r\nbody %d\r\n" % (b, i, needle, fill, i)).encode()


class SearchMemBoundTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = mmtest.Server(users=dict([USER]), allow_plaintext=True,
                                limits="max_memory = 4M", start=False)
        (cls.mport,) = mmtest.free_ports(1)
        cls.srv.write_conf(cls.srv.conf_text() + "[listen]\nmetrics = 127.0.0.1:%d\n" % cls.mport)
        cls.srv.first_start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def login(self):
        m = self.srv.imap(USER[0], USER[1], tls=False, timeout=60)
        def close():
            try:
                m.shutdown()
            except OSError:
                pass
        self.addCleanup(close)
        return m

    def multiappend(self, m, box):
        lits = b"".join(b" {%d+}\r\n%s" % (len(msg), msg)
                        for msg in (message(box, i) for i in range(1, MSGS + 1)))
        m.send(b"ma APPEND box%d%s\r\n" % (box, lits))
        while True:
            line = m.readline()
            self.assertTrue(line, "closed")
            if line.startswith(b"ma "):
                self.assertTrue(line.startswith(b"ma OK"), line)
                return

    def search(self, m, box, key):
        typ, data = m.uid("SEARCH", key)
        self.assertEqual(typ, "OK", (box, key, data))
        return sorted(int(x) for x in data[0].split())

    def check_answers(self, m, box):
        self.assertEqual(self.search(m, box, "SUBJECT needle"),
                         [i for i in range(1, MSGS + 1) if i % 7 == 0])
        self.assertEqual(self.search(m, box, 'SUBJECT "box%d msg12 "' % box), [12])
        self.assertEqual(self.search(m, box, "SUBJECT box%d" % ((box + 1) % BOXES)), [])
        g = sm.gauge(self.mport)
        self.assertLessEqual(g, CAP, box)
        return g

    wait_gauge = sm.SearchMemTest.wait_gauge

    def test_bounded_and_lru(self):
        m = self.login()
        for b in range(BOXES):
            self.assertEqual(m.create("box%d" % b)[0], "OK")
            self.multiappend(m, b)
        m.logout()
        sess = []
        for b in range(BOXES):
            s = self.login()
            typ, _ = s.select("box%d" % b)
            self.assertEqual(typ, "OK")
            sess.append(s)
        peak = 0
        for b in range(BOXES):
            peak = max(peak, self.check_answers(sess[b], b))
        self.assertGreater(peak, CAP / 2)      # the tables were used at all
        # the last one searched holds records: they go with its mailbox
        before = sm.gauge(self.mport)
        sess[-1].logout()
        self.wait_gauge(lambda g: g < before - 100 * 1000,
                        "records of the last mailbox searched")
        # the dropped tables answer right again (from the store, then built)
        for b in range(BOXES - 1):
            self.check_answers(sess[b], b)
        for s in sess[:-1]:
            s.logout()
        self.wait_gauge(lambda g: g == 0, "all mailboxes closed")


if __name__ == "__main__":
    unittest.main()
