#!/usr/bin/env python3
"""The RCPT cache (issue 19 item 6, src/store/store-rcptcache.c): a known
recipient is answered on the event loop from a cache, and every change of
a user or an alias made by minimailctl (another process) is seen by the
very next RCPT: user del -> 550, alias del -> 550, alias add over a
catch-all -> the new target, user quota -> 552, plus-addresses too. The
log's event=rcpt-cached shows the cache answered before each change (else
the test would prove nothing)."""
import smtplib
import unittest

import mmtest


class RcptCacheTest(unittest.TestCase):
    def setUp(self):
        self.srv = mmtest.Server(users={"alice@example.org": "alice-secret",
                                        "bob@example.org": "bob-secret",
                                        "carol@example.org": "carol-secret"})
        self.c = smtplib.SMTP("127.0.0.1", self.srv.ports["smtp"], timeout=30)
        self.c.ehlo("client.example.net")

    def tearDown(self):
        try:
            self.c.quit()
        except smtplib.SMTPException:
            pass
        self.srv.close()

    def rcpt(self, addr, size=None):
        opts = ["SIZE=%d" % size] if size else []
        code, _ = self.c.mail("sender@example.net", opts)
        self.assertEqual(code, 250)
        code, msg = self.c.rcpt(addr)
        self.c.rset()
        return code

    def cached(self, addr, size=None):
        """RCPT addr until the cache answers it (250 each time)."""
        for _ in range(20):
            before = self.srv.log().count("event=rcpt-cached")
            self.assertEqual(self.rcpt(addr, size), 250, addr)
            if self.srv.log().count("event=rcpt-cached") > before:
                return
        self.fail("the RCPT cache never answered for %s" % addr)

    def ctl(self, *args):
        self.srv.ctl(*args, check=True)

    def test_user_del(self):
        self.cached("alice@example.org")
        self.cached("alice+tag@example.org")
        self.ctl("user", "del", "alice@example.org")
        self.assertEqual(self.rcpt("alice@example.org"), 550)
        self.assertEqual(self.rcpt("alice+tag@example.org"), 550)
        self.assertEqual(self.rcpt("bob@example.org"), 250)

    def test_alias_add_del(self):
        self.assertEqual(self.rcpt("team@example.org"), 550)
        self.ctl("alias", "add", "team@example.org", "bob@example.org")
        self.cached("team@example.org")
        self.ctl("alias", "del", "team@example.org")
        self.assertEqual(self.rcpt("team@example.org"), 550)

    def test_catchall_then_user(self):
        self.ctl("alias", "add", "@example.org", "carol@example.org")
        self.cached("dave@example.org")
        # dave becomes a user: his mail is his own from the next RCPT on
        self.srv.ctl("user", "add", "dave@example.org", input="dave-secret\n", check=True)
        before = self.srv.log().count("event=rcpt-cached")
        self.assertEqual(self.rcpt("dave@example.org"), 250)
        self.assertEqual(self.srv.log().count("event=rcpt-cached"), before,
                         "the answer from before user add was used")
        self.ctl("user", "quota", "dave@example.org", "100")
        self.assertEqual(self.rcpt("dave@example.org", size=1000), 552)
        self.ctl("alias", "del", "@example.org")
        self.ctl("user", "del", "dave@example.org")
        self.assertEqual(self.rcpt("dave@example.org"), 550)

    def test_quota(self):
        self.cached("bob@example.org", size=1000)
        self.ctl("user", "quota", "bob@example.org", "100")
        self.assertEqual(self.rcpt("bob@example.org", size=1000), 552)
        # with a quota the answer is looked up every time (usage changes)
        self.ctl("user", "quota", "bob@example.org", "0")
        self.assertEqual(self.rcpt("bob@example.org", size=1000), 250)


if __name__ == "__main__":
    mmtest.main()
