#!/usr/bin/env python3
"""The auth cache (issue 19 item 4, [auth] cache_ttl): a second login with
the same password is answered without crypt(3) ("auth cache hit" in the
debug log) over IMAP, POP3 and SMTP AUTH alike; after `minimailctl user
passwd` (another process) the old password fails at once and after
`user del` the user is gone at once; a wrong password is never remembered;
cache_ttl = 0 turns the cache off. Timing-independent: the daemon's debug
log line says when a check came from the cache."""
import imaplib
import poplib
import smtplib
import time
import unittest

import mmtest

HIT = "auth cache hit user=%s"


def imap_login(srv, user, pw):
    m = imaplib.IMAP4_SSL("127.0.0.1", srv.ports["imaps"], ssl_context=srv.ssl_context())
    try:
        m.login(user, pw)
        m.logout()
        return True
    except imaplib.IMAP4.error:
        m.shutdown()
        return False


def pop3_login(srv, user, pw):
    p = poplib.POP3_SSL("127.0.0.1", srv.ports["pop3s"], context=srv.ssl_context())
    try:
        p.user(user)
        p.pass_(pw)
        p.quit()
        return True
    except poplib.error_proto:
        p.close()
        return False


def smtp_login(srv, user, pw):
    c = smtplib.SMTP_SSL("127.0.0.1", srv.ports["submissions"], context=srv.ssl_context())
    try:
        c.login(user, pw)
        c.quit()
        return True
    except smtplib.SMTPAuthenticationError:
        c.close()
        return False


def wait_hits(srv, user, n, timeout=5):
    """The log line is written on a worker just before the reply; give the
    log file a moment to catch up, then count."""
    deadline = time.time() + timeout
    while True:
        got = srv.log().count(HIT % user)
        if got >= n or time.time() > deadline:
            return got
        time.sleep(0.05)


class AuthCacheTest(unittest.TestCase):
    def test_cache_hits_and_invalidation(self):
        with mmtest.Server() as srv:
            u, pw = "alice@example.org", "alice-secret"
            self.assertTrue(imap_login(srv, u, pw))
            self.assertEqual(srv.log().count(HIT % u), 0)     # first: crypt(3)
            self.assertTrue(imap_login(srv, u, pw))
            self.assertEqual(wait_hits(srv, u, 1), 1)
            self.assertTrue(pop3_login(srv, u, pw))
            self.assertEqual(wait_hits(srv, u, 2), 2)
            self.assertTrue(smtp_login(srv, u, pw))
            self.assertEqual(wait_hits(srv, u, 3), 3)
            # a wrong password fails every time and is never remembered
            self.assertFalse(imap_login(srv, u, "wrong"))
            self.assertFalse(imap_login(srv, u, "wrong"))
            # user passwd by minimailctl, another process: the old
            # password fails at once, the new one works
            srv.ctl("user", "passwd", u, input="alice-new\n", check=True)
            self.assertFalse(imap_login(srv, u, pw))
            self.assertFalse(pop3_login(srv, u, pw))
            self.assertTrue(imap_login(srv, u, "alice-new"))
            self.assertTrue(smtp_login(srv, u, "alice-new"))
            self.assertEqual(wait_hits(srv, u, 4), 4)
            # user del: gone at once, though its login is in the cache
            b, bpw = "bob@example.org", "bob-secret"
            self.assertTrue(imap_login(srv, b, bpw))
            self.assertTrue(imap_login(srv, b, bpw))
            self.assertEqual(wait_hits(srv, b, 1), 1)
            srv.ctl("user", "del", b, check=True)
            self.assertFalse(imap_login(srv, b, bpw))
            self.assertEqual(srv.log().count(HIT % b), 1)

    def test_cache_ttl_zero_disables(self):
        with mmtest.Server(extra_conf="[auth]\ncache_ttl = 0") as srv:
            u, pw = "alice@example.org", "alice-secret"
            for _ in range(3):
                self.assertTrue(imap_login(srv, u, pw))
            self.assertTrue(pop3_login(srv, u, pw))
            self.assertTrue(smtp_login(srv, u, pw))
            self.assertNotIn("auth cache hit", srv.log())

    def test_cache_ttl_reload(self):
        """SIGHUP with cache_ttl = 0 turns the cache off (and forgets)."""
        with mmtest.Server() as srv:
            u, pw = "alice@example.org", "alice-secret"
            self.assertTrue(imap_login(srv, u, pw))
            self.assertTrue(imap_login(srv, u, pw))
            self.assertEqual(wait_hits(srv, u, 1), 1)
            srv.extra_conf = "[auth]\ncache_ttl = 0"
            srv.write_conf()
            logged = len(srv.log())
            srv.reload()
            deadline = time.time() + 10
            while "reload: done" not in srv.log()[logged:] and time.time() < deadline:
                time.sleep(0.05)
            self.assertIn("reload: done", srv.log()[logged:])
            self.assertTrue(imap_login(srv, u, pw))
            self.assertTrue(imap_login(srv, u, pw))
            self.assertEqual(srv.log().count(HIT % u), 1)


if __name__ == "__main__":
    mmtest.main()
