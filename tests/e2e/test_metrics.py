#!/usr/bin/env python3
"""[listen] metrics (issue 17, item 4): GET /metrics in the Prometheus text
format, accepted by promtool; a failed login, a good login, one delivery
and one refused RCPT move their counters by exactly those amounts; the
IDLE gauge follows an IDLE session; bad requests are refused while it
keeps serving; contrib's alert rules pass promtool check rules and the
Grafana dashboard only asks for metrics the daemon serves."""
import imaplib
import json
import os
import re
import shutil
import smtplib
import socket
import subprocess
import sys
import time
import unittest
import urllib.error
import urllib.request

import mmtest
from test_relay import Sink

if shutil.which("promtool") is None:  # a tool this test drives: SKIP, not pass
    sys.stderr.write("promtool is not installed\n")
    sys.exit(77)

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$')


def parse(text):
    """{'name{labels}': float} of every sample."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, "not a sample line: %r" % line
        out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return out


class MetricsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sink = Sink().start()
        cls.srv = mmtest.Server(start=False)
        cls.mport, cls.closed = mmtest.free_ports(2)
        cls.srv.write_conf(cls.srv.conf_text() +
                           "[listen]\nmetrics = 127.0.0.1:%d\n" % cls.mport +
                           "[relay]\nroutes = remote.test=127.0.0.1:%d other.test=127.0.0.1:%d\n"
                           "retry_interval = 1h\n" % (cls.closed, cls.sink.port))
        cls.srv.start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()
        cls.sink.stop()

    def get(self, path="/metrics", method="GET", headers=None):
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.mport, path),
                                     method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=20) as r:
                return r.status, r.headers.get("Content-Type"), r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get("Content-Type"), e.read().decode()

    def scrape(self):
        code, ctype, body = self.get()
        self.assertEqual(code, 200, body)
        self.assertTrue(ctype.startswith("text/plain; version=0.0.4"), ctype)
        return body

    @unittest.skipUnless(shutil.which("promtool"), "promtool missing")
    def test_promtool_accepts(self):
        body = self.scrape()
        r = subprocess.run(["promtool", "check", "metrics"], input=body,
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        for family in ("minimaild_connections_total", "minimaild_tls_handshakes_total",
                       "minimaild_auth_total", "minimaild_messages_accepted_total",
                       "minimaild_smtp_refused_total", "minimaild_queue_entries",
                       "minimaild_relay_deliveries_total", "minimaild_store_commits_total",
                       "minimaild_store_log_flushes_total",
                       "minimaild_store_delivery_batches_total",
                       "minimaild_store_batched_deliveries_total",
                       "minimaild_store_log_flush_duration_seconds",
                       "minimaild_worker_jobs", "minimaild_worker_job_duration_seconds",
                       "minimaild_command_duration_seconds", "minimaild_imap_idle_sessions",
                       "minimaild_received_bytes_total", "minimaild_sent_bytes_total"):
            self.assertIn("# TYPE %s " % family, body)

    def test_counters_move_exactly(self):
        before = parse(self.scrape())
        srv = self.srv
        # one failed and one good login (IMAP over TLS)
        m = imaplib.IMAP4_SSL("127.0.0.1", srv.ports["imaps"], ssl_context=srv.ssl_context())
        with self.assertRaises(imaplib.IMAP4.error):
            m.login("alice@example.org", "wrong password")
        m.logout()
        m = imaplib.IMAP4_SSL("127.0.0.1", srv.ports["imaps"], ssl_context=srv.ssl_context())
        m.login("alice@example.org", "alice-secret")
        m.logout()
        # one delivery and one refused RCPT (port 25, no login)
        c = smtplib.SMTP("127.0.0.1", srv.ports["smtp"], timeout=20)
        c.ehlo("client.example")
        c.mail("someone@elsewhere.example")
        code, _ = c.rcpt("nobody@example.org")
        self.assertEqual(code, 550)
        code, _ = c.rcpt("bob@example.org")
        self.assertEqual(code, 250)
        code, _ = c.data(b"Subject: counted\r\n\r\nonce\r\n")
        self.assertEqual(code, 250)
        c.quit()
        after = parse(self.scrape())

        def delta(key):
            return after.get(key, 0) - before.get(key, 0)

        self.assertEqual(delta('minimaild_auth_total{protocol="imap",result="failure"}'), 1)
        self.assertEqual(delta('minimaild_auth_total{protocol="imap",result="success"}'), 1)
        for p in ("smtp", "pop3"):
            for r in ("success", "failure"):
                self.assertEqual(delta('minimaild_auth_total{protocol="%s",result="%s"}'
                                       % (p, r)), 0)
        self.assertEqual(delta("minimaild_messages_accepted_total"), 1)
        self.assertEqual(delta('minimaild_smtp_refused_total{reason="unknown_user"}'), 1)
        refused = [k for k in after if k.startswith("minimaild_smtp_refused_total")]
        self.assertEqual(sum(delta(k) for k in refused), 1)
        self.assertEqual(delta('minimaild_connections_total{listener="imaps"}'), 2)
        self.assertEqual(delta('minimaild_connections_total{listener="smtp"}'), 1)
        self.assertEqual(delta('minimaild_tls_handshakes_total{result="ok"}'), 2)
        self.assertGreaterEqual(delta("minimaild_store_commits_total"), 1)
        self.assertGreaterEqual(delta("minimaild_store_log_flushes_total"), 1)
        # the accepted message went through one delivery batch
        self.assertGreaterEqual(delta("minimaild_store_delivery_batches_total"), 1)
        self.assertGreaterEqual(delta("minimaild_store_batched_deliveries_total"),
                                delta("minimaild_store_delivery_batches_total"))
        self.assertGreater(delta("minimaild_received_bytes_total"), 0)
        self.assertGreater(delta("minimaild_sent_bytes_total"), 0)
        # histograms: the count is the +Inf bucket
        for h in ('minimaild_command_duration_seconds{protocol="imap"',
                  'minimaild_command_duration_seconds{protocol="smtp"'):
            self.assertGreater(after[h.replace("{", "_count{") + "}"], 0)
        self.assertGreater(after["minimaild_worker_job_duration_seconds_count"], 0)

    def test_queue_and_deferred(self):
        """A message to a domain whose server refuses connections: one queue
        entry, one deferred recipient, one failed connection."""
        before = parse(self.scrape())
        srv = self.srv
        c = smtplib.SMTP_SSL("127.0.0.1", srv.ports["submissions"], context=srv.ssl_context(),
                             timeout=30)
        c.login("bob@example.org", "bob-secret")
        c.sendmail("bob@example.org", ["far@remote.test"], b"Subject: q\r\n\r\nq\r\n")
        c.quit()
        deadline = time.time() + 30
        while time.time() < deadline:
            after = parse(self.scrape())
            if after['minimaild_relay_deliveries_total{result="deferred"}'] > \
                    before['minimaild_relay_deliveries_total{result="deferred"}']:
                break
            time.sleep(0.1)
        for k, want in (('minimaild_relay_deliveries_total{result="deferred"}', 1),
                        ('minimaild_relay_deliveries_total{result="sent"}', 0),
                        ('minimaild_relay_deliveries_total{result="bounced"}', 0),
                        ("minimaild_relay_connection_failures_total", 1),
                        ("minimaild_queue_entries", 1)):
            self.assertEqual(after[k] - before[k], want, k)

    def test_sent_and_bounced(self):
        """One recipient the remote server takes, one it refuses for good."""
        before = parse(self.scrape())
        self.sink.rcpt_replies["gone@other.test"] = "550 5.1.1 gone"
        srv = self.srv
        c = smtplib.SMTP_SSL("127.0.0.1", srv.ports["submissions"], context=srv.ssl_context(),
                             timeout=30)
        c.login("alice@example.org", "alice-secret")
        c.sendmail("alice@example.org", ["ok@other.test", "gone@other.test"],
                   b"Subject: s\r\n\r\ns\r\n")
        c.quit()
        self.sink.received(1)
        key = 'minimaild_relay_deliveries_total{result="%s"}'
        deadline = time.time() + 30
        while time.time() < deadline:
            after = parse(self.scrape())
            if after[key % "bounced"] > before[key % "bounced"]:
                break
            time.sleep(0.1)
        self.assertEqual(after[key % "sent"] - before[key % "sent"], 1)
        self.assertEqual(after[key % "bounced"] - before[key % "bounced"], 1)
        self.assertEqual(after[key % "deferred"] - before[key % "deferred"], 0)

    def test_idle_gauge(self):
        srv = self.srv
        m = imaplib.IMAP4_SSL("127.0.0.1", srv.ports["imaps"], ssl_context=srv.ssl_context())
        m.login("bob@example.org", "bob-secret")
        m.select("INBOX")
        tag = m._new_tag().decode()
        m.send(("%s IDLE\r\n" % tag).encode())
        self.assertTrue(m.readline().startswith(b"+"))
        self.assertEqual(parse(self.scrape())["minimaild_imap_idle_sessions"], 1)
        m.send(b"DONE\r\n")
        self.assertIn(b"OK", m.readline())
        self.assertEqual(parse(self.scrape())["minimaild_imap_idle_sessions"], 0)
        # a session that disconnects in IDLE leaves it too
        m.send(("%s IDLE\r\n" % m._new_tag().decode()).encode())
        self.assertTrue(m.readline().startswith(b"+"))
        self.assertEqual(parse(self.scrape())["minimaild_imap_idle_sessions"], 1)
        m.shutdown()
        deadline = time.time() + 20
        while parse(self.scrape())["minimaild_imap_idle_sessions"] != 0 and \
                time.time() < deadline:
            time.sleep(0.05)
        self.assertEqual(parse(self.scrape())["minimaild_imap_idle_sessions"], 0)

    def test_bad_requests(self):
        self.assertEqual(self.get("/")[0], 404)
        self.assertEqual(self.get("/metrics/x")[0], 404)
        self.assertEqual(self.get("/metrics", "POST")[0], 405)
        self.assertEqual(self.get("/metrics", "HEAD")[0], 200)
        code = self.get(headers={"X-Big": "x" * 20000})[0]
        self.assertIn(code, (400, 413, 431))
        # a client that sends half a request and hangs up
        s = socket.create_connection(("127.0.0.1", self.mport), timeout=10)
        s.sendall(b"GET /metr")
        s.close()
        # a client that asks and leaves before the answer
        s = socket.create_connection(("127.0.0.1", self.mport), timeout=10)
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        s.close()
        self.scrape()  # still serving


class MetricsOffTest(unittest.TestCase):
    def test_off_by_default(self):
        with mmtest.Server(users={}, start=False) as srv:
            self.assertNotIn("metrics", srv.conf_text())
            srv.start()
            r = srv.ctl("check")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertNotIn("listener=metrics", srv.log())


class ContribTest(unittest.TestCase):
    @unittest.skipUnless(shutil.which("promtool"), "promtool missing")
    def test_alert_rules(self):
        path = os.path.join(mmtest.TOP_SRCDIR, "contrib", "prometheus-alerts.yml")
        r = subprocess.run(["promtool", "check", "rules", path], capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"SUCCESS: [1-9]\d* rules found")

    def test_dashboard_uses_served_metrics(self):
        with open(os.path.join(mmtest.TOP_SRCDIR, "contrib", "grafana-dashboard.json")) as f:
            dash = json.load(f)
        exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
        self.assertGreater(len(exprs), 5)
        with mmtest.Server(users={}, start=False) as srv:
            port = mmtest.free_ports(1)[0]
            srv.write_conf(srv.conf_text() + "[listen]\nmetrics = 127.0.0.1:%d\n" % port)
            srv.start()
            with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=20) as r:
                body = r.read().decode()
        served = {m.group(1) for m in re.finditer(r"^# TYPE (\S+) ", body, re.M)}
        for e in exprs:
            for name in re.findall(r"\b(minimaild_[a-z_]+)", e):
                base = re.sub(r"_(bucket|sum|count)$", "", name)
                self.assertIn(base, served, e)


if __name__ == "__main__":
    mmtest.main()
