#!/usr/bin/env python3
"""Issue 18, "SEARCH storm": 4 IMAP clients loop `SEARCH BODY` over a
5,000-message mailbox while local deliveries run over port 25. SEARCH
over the bodies of a big mailbox runs on the worker pool's slow lane and
a delivery's commit on the commit lane, so the deliveries do not wait
behind the searches: the delivery p99 is printed beside the issue's 2 s,
and the bound asserted is a generous one for a loaded machine (a delivery
that waited behind the searches would wait for whole searches, printed
too)."""
import imaplib
import smtplib
import sys
import threading
import time
import unittest

import mmtest

MESSAGES = 5000
POPULATE_THREADS = 8
SEARCHERS = 4
DELIVERIES = 50
DELIVERY_THREADS = 2
P99_BOUND_SECS = 5.0

WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliett kilo lima "
         "mike november oscar papa quebec romeo sierra tango uniform victor").split()


def message(i, to):
    lines = ["From: sender%d@outside.test" % i, "To: " + to,
             "Subject: storm %d" % i, "Message-ID: <storm%d@outside.test>" % i, ""]
    for k in range(30):
        lines.append(" ".join(WORDS[(i * 7 + k * 3 + j) % len(WORDS)] for j in range(10)))
    if i % 100 == 0:
        lines.append("the needle is here")
    return "\r\n".join(lines) + "\r\n"


def p99(xs):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * 0.99))]


class SearchStormTest(unittest.TestCase):
    def setUp(self):
        self.srv = mmtest.Server(allow_plaintext=True)

    def tearDown(self):
        if sys.exc_info()[0] is not None or getattr(self, "_failed", False):
            sys.stderr.write(self.srv.log()[-6000:])
        self.srv.close()

    def smtp(self):
        s = smtplib.SMTP("127.0.0.1", self.srv.ports["smtp"], timeout=60)
        s.ehlo("client.test")
        return s

    def populate(self):
        errors = []

        def run(t):
            try:
                s = self.smtp()
                for i in range(t, MESSAGES, POPULATE_THREADS):
                    s.sendmail("sender%d@outside.test" % i, ["bob@example.org"],
                               message(i, "bob@example.org"))
                s.quit()
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(repr(e))

        t0 = time.time()
        ths = [threading.Thread(target=run, args=(t,)) for t in range(POPULATE_THREADS)]
        for th in ths:
            th.start()
        for th in ths:
            th.join()
        self.assertEqual(errors, [])
        sys.stderr.write("search storm: %d messages stored in %.1f s\n"
                         % (MESSAGES, time.time() - t0))

    def imap(self):
        m = imaplib.IMAP4("127.0.0.1", self.srv.ports["imap"], timeout=120)
        m.login("bob@example.org", "bob-secret")
        typ, data = m.select("INBOX")
        self.assertEqual(typ, "OK")
        return m, int(data[0])

    def test_search_storm(self):
        self.populate()
        m, n = self.imap()
        self.assertEqual(n, MESSAGES)
        t0 = time.time()
        typ, data = m.search(None, "BODY", "needle")
        alone = time.time() - t0
        self.assertEqual(typ, "OK")
        self.assertEqual(len(data[0].split()), MESSAGES // 100)
        m.logout()

        stop = threading.Event()
        searches, errors = [], []
        lock = threading.Lock()

        def searcher():
            try:
                c, _ = self.imap()
                while not stop.is_set():
                    t = time.time()
                    typ, data = c.search(None, "BODY", "needle")
                    if typ != "OK" or len(data[0].split()) != MESSAGES // 100:
                        errors.append("search: %r %r" % (typ, data[:1]))
                    with lock:
                        searches.append(time.time() - t)
                c.logout()
            except Exception as e:  # noqa: BLE001
                errors.append("searcher: %r" % e)

        lat = []

        def deliverer(t):
            try:
                s = self.smtp()
                for i in range(t, DELIVERIES, DELIVERY_THREADS):
                    t1 = time.time()
                    s.sendmail("d%d@outside.test" % i, ["alice@example.org"],
                               message(100000 + i, "alice@example.org"))
                    with lock:
                        lat.append(time.time() - t1)
                    time.sleep(0.05)
                s.quit()
            except Exception as e:  # noqa: BLE001
                errors.append("deliverer: %r" % e)

        sths = [threading.Thread(target=searcher) for _ in range(SEARCHERS)]
        for th in sths:
            th.start()
        deadline = time.time() + 60
        while len(searches) < SEARCHERS and time.time() < deadline and not errors:
            time.sleep(0.05)     # every searcher has been through once: all busy
        dths = [threading.Thread(target=deliverer, args=(t,)) for t in range(DELIVERY_THREADS)]
        for th in dths:
            th.start()
        for th in dths:
            th.join()
        during = len(searches)
        stop.set()
        for th in sths:
            th.join()
        self.assertEqual(errors, [])
        self.assertEqual(len(lat), DELIVERIES)
        m, n = self.imap()
        m.logout()
        sys.stderr.write(
            "search storm: one SEARCH BODY over %d messages alone %.2f s, under the "
            "storm mean %.2f s (%d searches by %d clients, %d while delivering); "
            "%d local deliveries: p99 %.3f s, max %.3f s (issue 18: 2 s; asserted: %.0f s)\n"
            % (MESSAGES, alone, sum(searches) / len(searches), len(searches), SEARCHERS,
               during, DELIVERIES, p99(lat), max(lat), P99_BOUND_SECS))
        c, na = None, 0
        c = imaplib.IMAP4("127.0.0.1", self.srv.ports["imap"], timeout=60)
        c.login("alice@example.org", "alice-secret")
        typ, data = c.select("INBOX")
        na = int(data[0])
        c.logout()
        self.assertEqual(na, DELIVERIES)
        self.assertLess(p99(lat), P99_BOUND_SECS)


if __name__ == "__main__":
    mmtest.main()
