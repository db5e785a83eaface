#!/usr/bin/env python3
"""Per-user submission limits (issue 17, item 5): with [limits]
max_sent_per_hour = 20 the 21st message in an hour from a user to another
domain gets 451 4.7.1 (logged with the user, counted in the metrics);
other users and the user's local mail are unaffected;
max_rcpts_per_hour refuses the recipient over the limit."""
import re
import smtplib
import unittest
import urllib.request

import mmtest


def sender(srv, user, password):
    c = smtplib.SMTP_SSL("127.0.0.1", srv.ports["submissions"], context=srv.ssl_context(),
                         timeout=30)
    c.login(user, password)
    return c


def send(c, frm, rcpts):
    """(per-RCPT codes, DATA code or None)."""
    c.mail(frm)
    codes = [c.rcpt(r) for r in rcpts]
    if not any(code == 250 for code, _ in codes):
        c.rset()
        return codes, None
    code, _ = c.data(b"Subject: limit\r\n\r\nbody\r\n")
    return codes, code


class LimitsTest(unittest.TestCase):
    def start(self, limits):
        closed = mmtest.free_ports(1)[0]
        self.mport = mmtest.free_ports(1)[0]
        srv = mmtest.Server(start=False, limits=limits)
        srv.write_conf(srv.conf_text() + "[listen]\nmetrics = 127.0.0.1:%d\n[relay]\n"
                       "routes = remote.test=127.0.0.1:%d\nretry_interval = 1h\n"
                       % (self.mport, closed))
        srv.start()
        return srv

    def metric(self, name):
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.mport,
                                    timeout=20) as r:
            m = re.search(r"^%s (\d+)$" % re.escape(name), r.read().decode(), re.M)
        return int(m.group(1))

    def test_21st_message(self):
        srv = self.start("max_sent_per_hour = 20")
        with srv:
            c = sender(srv, "alice@example.org", "alice-secret")
            for i in range(20):
                codes, data = send(c, "alice@example.org", ["r%d@remote.test" % i])
                self.assertEqual((codes[0][0], data), (250, 250), (i, codes))
            codes, data = send(c, "alice@example.org", ["r20@remote.test"])
            self.assertEqual(codes[0][0], 451, codes)
            self.assertTrue(codes[0][1].startswith(b"4.7.1"), codes)
            self.assertIsNone(data)
            # still refused, and the session goes on: local mail passes
            codes, data = send(c, "alice@example.org", ["bob@example.org", "r21@remote.test"])
            self.assertEqual([x[0] for x in codes], [250, 451])
            self.assertEqual(data, 250)
            c.quit()
            log = srv.log()
            self.assertRegex(log, r'event=rate-limited user="alice@example.org" '
                             r'limit=max_sent_per_hour used=20 max=20 rcpt=<r20@remote.test>')
            self.assertEqual(self.metric('minimaild_submission_limited_total{limit="messages"}'),
                             2)
            self.assertEqual(self.metric('minimaild_smtp_refused_total{reason="rate_limited"}'),
                             2)
            # another user is not affected
            c = sender(srv, "bob@example.org", "bob-secret")
            codes, data = send(c, "bob@example.org", ["b@remote.test"])
            self.assertEqual((codes[0][0], data), (250, 250))
            c.quit()
            # the 20 queued, nothing more
            r = srv.ctl("queue", "list")
            self.assertIn("21 entries", r.stdout)

    def test_recipients(self):
        srv = self.start("max_rcpts_per_hour = 5")
        with srv:
            c = sender(srv, "alice@example.org", "alice-secret")
            codes, data = send(c, "alice@example.org",
                               ["r%d@remote.test" % i for i in range(7)])
            self.assertEqual([x[0] for x in codes], [250] * 5 + [451, 451])
            self.assertEqual(data, 250)
            c.quit()
            self.assertIn('limit=max_rcpts_per_hour used=5 max=5', srv.log())
            self.assertEqual(
                self.metric('minimaild_submission_limited_total{limit="recipients"}'), 2)

    def test_bad_values(self):
        with mmtest.Server(users={}, start=False, limits="max_sent_per_hour = lots\n"
                           "max_rcpts_per_hour = 2000000") as srv:
            r = srv.ctl("check")
            self.assertEqual(r.returncode, 1)
            self.assertRegex(r.stderr, r":\d+: max_sent_per_hour: bad number 'lots'")
            self.assertRegex(r.stderr, r":\d+: max_rcpts_per_hour: bad number '2000000'")


if __name__ == "__main__":
    mmtest.main()
