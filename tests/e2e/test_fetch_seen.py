#!/usr/bin/env python3
"""FETCH BODY[] sets \\Seen in one store transaction per FETCH command, not
one commit (and fsync) per message (issue 19 item 2): the store's commit
counter on the metrics listener rises by one for a FETCH of 20 unseen
messages, by none for a FETCH of messages already seen or with BODY.PEEK;
every message this FETCH made seen says FLAGS (\\Seen) in its response, and
the flags are in the store (a second session sees them)."""
import re
import unittest
import urllib.request

import mmtest


class FetchSeenTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = mmtest.Server(start=False)
        cls.mport = mmtest.free_ports(1)[0]
        cls.srv.write_conf(cls.srv.conf_text() +
                           "[listen]\nmetrics = 127.0.0.1:%d\n" % cls.mport)
        cls.srv.start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def commits(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.mport,
                                    timeout=20) as r:
            body = r.read().decode()
        m = re.search(r"^minimaild_store_commits_total (\d+)", body, re.M)
        self.assertIsNotNone(m, body)
        return int(m.group(1))

    def login(self):
        return self.srv.imap("alice@example.org", "alice-secret")

    def test_one_commit_per_fetch(self):
        m = self.login()
        for i in range(25):
            m.append("INBOX", None, None,
                     b"Subject: m%d\r\n\r\nbody %d\r\n" % (i, i))
        m.select("INBOX")
        c0 = self.commits()
        typ, data = m.fetch("1:5", "(BODY.PEEK[])")
        self.assertEqual(typ, "OK")
        self.assertEqual(self.commits(), c0)           # PEEK: no change
        typ, data = m.fetch("1:20", "(BODY[])")
        self.assertEqual(typ, "OK")
        self.assertEqual(self.commits(), c0 + 1)       # 20 messages, one commit
        # each response: "n (BODY[] {len}", the literal, then " FLAGS (\Seen ...))"
        text = b"".join(d[0] if isinstance(d, tuple) else d for d in data)
        self.assertEqual(len([d for d in data if isinstance(d, tuple)]), 20)
        self.assertEqual(text.count(b"FLAGS (\\Seen"), 20, text)
        typ, data = m.fetch("1:20", "(BODY[])")       # already seen
        self.assertEqual(self.commits(), c0 + 1)
        typ, data = m.fetch("15:25", "(BODY[TEXT])")   # 5 new of 11
        self.assertEqual(self.commits(), c0 + 2)
        other = self.login()
        other.select("INBOX", readonly=True)
        typ, data = other.search(None, "UNSEEN")
        self.assertEqual(data, [b""])
        other.logout()
        m.logout()


if __name__ == "__main__":
    mmtest.main()
