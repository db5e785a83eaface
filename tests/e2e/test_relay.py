#!/usr/bin/env python3
"""End-to-end tests of outbound delivery (issue 7), all on loopback: mail
submitted over 587 to other domains goes through the queue to a small
SMTP sink written here ([relay] routes points remote.test at it), with
retries, bounces (RFC 3464 DSN in the sender's INBOX, read over IMAP),
minimailctl queue list/show/flush/delete, SIGKILL with mail in the queue,
and a smarthost with AUTH over STARTTLS and implicit TLS."""
import asyncio
import base64
import imaplib
import re
import signal
import smtplib
import ssl
import threading
import time
import unittest

import mmtest

USERS = {"alice@example.org": "alice-secret", "bob@example.org": "bob-secret"}


def msg(subject, body="Hello over there.\r\n", extra=b""):
    return (b"From: Alice <alice@example.org>\r\n"
            b"To: X <x@remote.test>\r\n"
            b"Subject: " + subject.encode() + b"\r\n"
            b"Message-ID: <" + subject.replace(" ", ".").encode() + b"@example.org>\r\n"
            + extra +
            b"\r\n" + body.encode() + b".leading dot line\r\n")


class Sink:
    """A tiny SMTP server on 127.0.0.1: answers as told, records what it
    accepted. rcpt_replies: address -> reply; data_replies: replies for
    the next ends of data, in order (then 250); hold: seconds to wait
    before answering the end of data; tls: None, "starttls" or "implicit";
    auth: (user, password) required before MAIL."""

    def __init__(self, port=None, tls=None, cert=None, key=None, auth=None,
                 eightbit=True, hold=0):
        self.port = port or mmtest.free_ports(1)[0]
        self.tls, self.auth, self.eightbit, self.hold = tls, auth, eightbit, hold
        self.ctx = None
        if tls:
            self.ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self.ctx.load_cert_chain(cert, key)
        self.rcpt_replies = {}
        self.data_replies = []
        self.messages = []         # (mail_from, [rcpts], data)
        self.log = []              # every command line
        self.lock = threading.Lock()
        self.loop = None
        self.thread = None

    def start(self):
        ready = threading.Event()

        def run():
            self.loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self.loop)
            self.server = self.loop.run_until_complete(asyncio.start_server(
                self.session, "127.0.0.1", self.port,
                ssl=self.ctx if self.tls == "implicit" else None))
            ready.set()
            self.loop.run_forever()
            self.server.close()
            tasks = [t for t in asyncio.all_tasks(self.loop) if not t.done()]
            for t in tasks:
                t.cancel()
            if tasks:
                self.loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            self.loop.run_until_complete(self.server.wait_closed())
            self.loop.close()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        ready.wait(10)
        return self

    def stop(self):
        if self.loop:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop = None

    def received(self, n, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                if len(self.messages) >= n:
                    return list(self.messages)
            time.sleep(0.1)
        raise AssertionError("sink got %d messages, wanted %d; log %r" %
                             (len(self.messages), n, self.log[-20:]))

    async def session(self, reader, writer):
        tls = self.tls == "implicit"
        authed = self.auth is None
        mail, rcpts = None, []

        def say(s):
            writer.write(s.encode() + b"\r\n")

        say("220 sink.test ESMTP")
        try:
            while True:
                line = await asyncio.wait_for(reader.readline(), 30)
                if not line:
                    return
                cmd = line.rstrip(b"\r\n").decode("utf-8", "replace")
                with self.lock:
                    self.log.append(cmd)
                verb = cmd.split(" ")[0].upper()
                if verb == "EHLO":
                    ext = ["sink.test", "PIPELINING", "SIZE 10000000", "SMTPUTF8"]
                    if self.eightbit:
                        ext.append("8BITMIME")
                    if self.tls == "starttls" and not tls:
                        ext.append("STARTTLS")
                    if self.auth and tls:
                        ext.append("AUTH PLAIN LOGIN")
                    for i, e in enumerate(ext):
                        say("250%s%s" % ("-" if i < len(ext) - 1 else " ", e))
                elif verb == "STARTTLS" and self.tls == "starttls" and not tls:
                    say("220 2.0.0 go ahead")
                    await writer.drain()
                    await writer.start_tls(self.ctx)
                    tls = True
                elif verb == "AUTH":
                    parts = cmd.split(" ")
                    ok = False
                    if len(parts) == 3 and parts[1].upper() == "PLAIN":
                        f = base64.b64decode(parts[2]).split(b"\0")
                        ok = len(f) == 3 and (f[1].decode(), f[2].decode()) == self.auth
                    if ok:
                        authed = True
                        say("235 2.7.0 ok")
                    else:
                        say("535 5.7.8 bad credentials")
                elif verb == "MAIL":
                    if not authed:
                        say("530 5.7.0 authentication required")
                        continue
                    mail = re.search(r"<([^>]*)>", cmd).group(1)
                    rcpts = []
                    say("250 2.1.0 ok")
                elif verb == "RCPT":
                    addr = re.search(r"<([^>]*)>", cmd).group(1)
                    r = self.rcpt_replies.get(addr, "250 2.1.5 ok")
                    if r.startswith("250"):
                        rcpts.append(addr)
                    say(r)
                elif verb == "DATA":
                    if mail is None or not rcpts:
                        say("554 5.5.1 no valid recipients")
                        continue
                    say("354 go ahead")
                    data = b""
                    while True:
                        l = await asyncio.wait_for(reader.readline(), 30)
                        if not l:
                            return
                        if l == b".\r\n":
                            break
                        data += l[1:] if l.startswith(b".") else l
                    if self.hold:
                        await asyncio.sleep(self.hold)
                    with self.lock:
                        r = self.data_replies.pop(0) if self.data_replies else "250 2.0.0 queued"
                    say(r)
                    await writer.drain()
                    if r.startswith("250"):
                        with self.lock:
                            self.messages.append((mail, rcpts, data))
                    mail, rcpts = None, []
                elif verb == "RSET":
                    mail, rcpts = None, []
                    say("250 2.0.0 ok")
                elif verb == "NOOP":
                    say("250 2.0.0 ok")
                elif verb == "QUIT":
                    say("221 2.0.0 bye")
                    await writer.drain()
                    return
                else:
                    say("500 5.5.2 unknown command")
                await writer.drain()
        except (asyncio.TimeoutError, ConnectionError, ssl.SSLError):
            return
        finally:
            try:
                writer.close()
            except RuntimeError:
                pass


def submit(srv, sender, rcpts, data, user="alice@example.org", options=()):
    s = smtplib.SMTP("127.0.0.1", srv.ports["submission"], timeout=20)
    try:
        s.starttls(context=srv.ssl_context())
        s.login(user, USERS[user])
        return s.sendmail(sender, rcpts, data, mail_options=list(options))
    finally:
        s.quit()


def inbox(srv, user):
    """All messages of user's INBOX over IMAP (993)."""
    m = imaplib.IMAP4_SSL("127.0.0.1", srv.ports["imaps"], ssl_context=srv.ssl_context(),
                          timeout=20)
    try:
        m.login(user, USERS[user])
        m.select("INBOX")
        _, data = m.search(None, "ALL")
        out = []
        for n in data[0].split():
            _, d = m.fetch(n, "(BODY.PEEK[])")
            out.append(d[0][1])
        return out
    finally:
        m.logout()


def wait_inbox(srv, user, pred, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        for m in inbox(srv, user):
            if pred(m):
                return m
        time.sleep(0.2)
    raise AssertionError("no such message in %s's INBOX" % user)


def wait_queue(srv, pred, timeout=20):
    deadline = time.time() + timeout
    out = ""
    while time.time() < deadline:
        out = srv.ctl("queue", "list", check=True).stdout
        if pred(out):
            return out
        time.sleep(0.2)
    raise AssertionError("queue never matched; last:\n" + out)


def relay_conf(port, retry="1s", extra=""):
    return ("[relay]\nroutes = remote.test=127.0.0.1:%d other.test=127.0.0.1:%d\n"
            "retry_interval = %s\nretry_max_interval = %s\n%s" % (port, port, retry, retry, extra))


class LogOnFailure(unittest.TestCase):
    srv = None

    def run(self, result=None):
        r = super().run(result)
        if result is not None and (result.failures or result.errors) and self.srv:
            import sys
            sys.stderr.write("---- minimaild log (tail) ----\n%s\n" % self.srv.log()[-6000:])
        return r


class RelayTest(LogOnFailure):
    """The sink up, retries every second."""

    @classmethod
    def setUpClass(cls):
        cls.sink = Sink().start()
        cls.srv = mmtest.Server(users=USERS, extra_conf=relay_conf(cls.sink.port))

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()
        cls.sink.stop()

    def setUp(self):
        with self.sink.lock:
            self.sink.messages.clear()
            self.sink.rcpt_replies.clear()
            self.sink.data_replies.clear()

    def test_01_byte_exact_with_received(self):
        m = msg("relay one")
        self.assertEqual(submit(self.srv, "alice@example.org", ["x@remote.test"], m), {})
        (mail, rcpts, data), = self.sink.received(1)
        self.assertEqual(mail, "alice@example.org")
        self.assertEqual(rcpts, ["x@remote.test"])
        # our Received: header, then exactly the submitted bytes; no Return-Path
        self.assertTrue(data.endswith(m), data)
        head = data[:-len(m)]
        self.assertTrue(head.startswith(b"Received: from "), head)
        self.assertIn(b"by mail.example.org (minimaild) with ESMTPSA id ", head)
        self.assertIn(b"for <x@remote.test>;", head)
        for l in head.split(b"\r\n")[1:-1]:
            self.assertTrue(l.startswith(b"\t"), head)
        self.assertNotIn(b"Return-Path", data)
        wait_queue(self.srv, lambda o: o.strip() == "queue is empty")

    def test_02_local_and_remote(self):
        m = msg("relay both")
        submit(self.srv, "alice@example.org", ["bob@example.org", "x@remote.test",
                                               "y@remote.test", "z@other.test"], m)
        got = self.sink.received(2)
        byrcpt = sorted((sorted(r), d) for _, r, d in got)
        self.assertEqual([r for r, _ in byrcpt], [["x@remote.test", "y@remote.test"],
                                                  ["z@other.test"]])
        for _, d in byrcpt:
            self.assertTrue(d.endswith(m))
        local = wait_inbox(self.srv, "bob@example.org", lambda b: b.endswith(m))
        self.assertTrue(local.startswith(b"Return-Path: <alice@example.org>\r\nReceived: "))
        self.assertEqual(local[local.index(b"Received: "):], got[0][2])

    def test_03_retry_451_then_250(self):
        with self.sink.lock:
            self.sink.data_replies.append("451 4.3.0 try again later")
        m = msg("relay retry")
        submit(self.srv, "alice@example.org", ["x@remote.test"], m)
        t0 = time.time()
        (_, _, data), = self.sink.received(1, timeout=30)
        self.assertTrue(data.endswith(m))
        self.assertGreater(time.time() - t0, 0.5)
        self.assertIn("451 4.3.0 try again later", self.srv.log())
        wait_queue(self.srv, lambda o: o.strip() == "queue is empty")

    def test_04_550_bounces_to_inbox(self):
        with self.sink.lock:
            self.sink.rcpt_replies["nobody@remote.test"] = \
                "550 5.1.1 <nobody@remote.test>: Recipient address rejected"
        m = msg("relay bounce")
        submit(self.srv, "alice@example.org", ["nobody@remote.test", "x@remote.test"], m)
        (_, rcpts, data), = self.sink.received(1)
        self.assertEqual(rcpts, ["x@remote.test"])
        dsn = wait_inbox(self.srv, "alice@example.org",
                         lambda b: b"Undelivered Mail Returned to Sender" in b)
        self.assertTrue(dsn.startswith(b"Return-Path: <>\r\n"), dsn[:200])
        self.assertIn(b"Content-Type: multipart/report; report-type=delivery-status;", dsn)
        self.assertIn(b"Content-Type: message/delivery-status", dsn)
        self.assertIn(b"Final-Recipient: rfc822; nobody@remote.test\r\n"
                      b"Action: failed\r\nStatus: 5.1.1\r\n", dsn)
        self.assertIn(b"Diagnostic-Code: smtp; 550 5.1.1 <nobody@remote.test>: "
                      b"Recipient address rejected\r\n", dsn)
        self.assertNotIn(b"Final-Recipient: rfc822; x@remote.test", dsn)
        self.assertIn(b"Content-Type: text/rfc822-headers\r\n\r\nReceived: from ", dsn)
        self.assertIn(b"Subject: relay bounce\r\nMessage-ID: <relay.bounce@example.org>\r\n", dsn)
        self.assertNotIn(b"Hello over there", dsn)     # headers only
        wait_queue(self.srv, lambda o: o.strip() == "queue is empty")

    def test_05_eightbit_to_7bit_server_bounces(self):
        self.sink.eightbit = False
        try:
            m = msg("relay eightbit", body="gr\u00fc\u00dfe\r\n")
            submit(self.srv, "alice@example.org", ["x@remote.test"], m,
                   options=["BODY=8BITMIME"])
            dsn = wait_inbox(self.srv, "alice@example.org",
                             lambda b: b"Subject: relay eightbit" in b and b"5.6.3" in b)
            self.assertIn(b"Status: 5.6.3", dsn)
            self.assertIn(b"does not support 8BITMIME", dsn)
        finally:
            self.sink.eightbit = True
        self.assertEqual(self.sink.messages, [])

    def test_06_null_sender_forwarded_alias_no_bounce(self):
        self.srv.ctl("alias", "add", "fwd@example.org", "gone@remote.test",
                     "bob@example.org", check=True)
        with self.sink.lock:
            self.sink.rcpt_replies["gone@remote.test"] = "550 5.1.1 gone"
        before = len(inbox(self.srv, "alice@example.org"))
        s = smtplib.SMTP("127.0.0.1", self.srv.ports["smtp"], timeout=20)
        s.sendmail("<>", ["fwd@example.org"], msg("relay null"))
        s.quit()
        wait_queue(self.srv, lambda o: o.strip() == "queue is empty")
        self.assertRegex(self.srv.log(), r"event=no-bounce reason=\"null sender\"")
        wait_inbox(self.srv, "bob@example.org", lambda b: b"Subject: relay null" in b)
        self.assertEqual(len(inbox(self.srv, "alice@example.org")), before)

    def test_07_relay_still_denied_unauthenticated(self):
        s = smtplib.SMTP("127.0.0.1", self.srv.ports["smtp"], timeout=20)
        s.ehlo()
        s.mail("someone@else.example")
        code, text = s.rcpt("x@remote.test")
        self.assertEqual(code, 554)
        s.quit()


class QueueTest(LogOnFailure):
    """The sink down; retries an hour apart, so only 'queue flush' sends."""

    def setUp(self):
        self.sink = Sink()          # not started yet
        self.srv = mmtest.Server(users=USERS, extra_conf=relay_conf(self.sink.port, "1h"))

    def tearDown(self):
        self.srv.close()
        self.sink.stop()

    def queue_ids(self):
        out = self.srv.ctl("queue", "list", check=True).stdout
        return re.findall(r"^([0-9a-f]+)  from=", out, re.M)

    def test_01_down_then_flush(self):
        m = msg("relay down")
        submit(self.srv, "alice@example.org", ["x@remote.test"], m)
        out = wait_queue(self.srv, lambda o: "connect failed" in o)
        self.assertIn("from=<alice@example.org>", out)
        self.assertIn("attempts=1", out)
        self.assertIn("to=<x@remote.test>", out)
        self.assertRegex(out, r"error: 451 4\.4\.1 connect failed: Connection refused "
                              r"\(127\.0\.0\.1\[127\.0\.0\.1\]:%d\)" % self.sink.port)
        self.assertIn("1 entry", out)
        (qid,) = self.queue_ids()
        show = self.srv.ctl("queue", "show", qid, check=True).stdout
        self.assertIn("sender: <alice@example.org>\n", show)
        self.assertIn("domain: remote.test\n", show)
        self.assertIn("attempts: 1\n", show)
        self.assertRegex(show, r"next attempt: in (59m|1h|60m)")
        self.assertIn("recipient: <x@remote.test> pending: 451 4.4.1 connect failed", show)
        self.sink.start()
        time.sleep(1.5)
        self.assertEqual(self.sink.messages, [])       # not before the flush
        r = self.srv.ctl("queue", "flush", check=True)
        self.assertEqual(r.stdout, "1 entry due now\n")
        (_, _, data), = self.sink.received(1)
        self.assertTrue(data.endswith(m))
        wait_queue(self.srv, lambda o: o.strip() == "queue is empty")

    def test_04_one_connection_many_messages(self):
        for i in range(3):
            submit(self.srv, "alice@example.org", ["m%d@remote.test" % i], msg("relay many %d" % i))
        wait_queue(self.srv, lambda o: o.count("attempts=1") == 3)
        self.sink.start()
        self.assertEqual(self.srv.ctl("queue", "flush", check=True).stdout, "3 entries due now\n")
        got = self.sink.received(3)
        self.assertEqual(sorted(r[0] for _, r, _ in got),
                         ["m0@remote.test", "m1@remote.test", "m2@remote.test"])
        # one connection (one EHLO, one QUIT) carried all three
        self.assertEqual(sum(1 for l in self.sink.log if l.upper().startswith("EHLO")), 1)
        self.assertEqual(sum(1 for l in self.sink.log if l.upper().startswith("MAIL")), 3)

    def test_02_show_delete(self):
        submit(self.srv, "alice@example.org", ["x@remote.test"], msg("relay delete"))
        wait_queue(self.srv, lambda o: "attempts=1" in o)
        (qid,) = self.queue_ids()
        r = self.srv.ctl("queue", "delete", qid)
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "", ""))
        self.assertEqual(self.srv.ctl("queue", "list").stdout, "queue is empty\n")
        r = self.srv.ctl("queue", "delete", qid)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr, "minimailctl: no such queue entry: %s\n" % qid)
        r = self.srv.ctl("queue", "show", qid)
        self.assertEqual(r.returncode, 1)
        r = self.srv.ctl("queue", "show", "zz")
        self.assertEqual(r.returncode, 1)
        self.assertIn("invalid queue id 'zz'", r.stderr)
        self.assertEqual(self.srv.ctl("queue", "flush").stdout, "0 entries due now\n")

    def test_03_sigkill_with_queued_mail(self):
        # the sink holds each end of data far longer than the submissions
        # take (about 1 s each under the sanitizers on a loaded machine:
        # 3 s let the first delivery finish before the kill): the daemon is
        # killed with deliveries in the air and others waiting
        self.sink.hold = 60
        self.sink.start()
        sent = []
        for i in range(6):
            m = msg("relay kill %d" % i)
            submit(self.srv, "alice@example.org", ["k%d@remote.test" % i], m)
            sent.append(m)
        time.sleep(1.5)
        self.srv.signal(signal.SIGKILL)
        self.srv.proc.wait()
        self.assertEqual(self.sink.messages, [])
        self.sink.hold = 0
        self.srv.start()
        got = self.sink.received(6, timeout=40)
        bodies = set(d[d.index(b"From: Alice"):] for _, _, d in got)
        self.assertEqual(bodies, set(sent))        # none lost (repeats allowed)
        wait_queue(self.srv, lambda o: o.strip() == "queue is empty", timeout=30)


class ExpiryTest(LogOnFailure):
    """The sink never comes up: a delay warning, then expiry and a bounce."""

    def test_01_warning_then_expiry(self):
        port = mmtest.free_ports(1)[0]
        self.srv = mmtest.Server(users=USERS, extra_conf=relay_conf(
            port, "1s", "queue_lifetime = 4s\ndelay_warning = 1s\n"))
        try:
            submit(self.srv, "alice@example.org", ["x@remote.test"], msg("relay expiry"))
            warn = wait_inbox(self.srv, "alice@example.org",
                              lambda b: b"Delayed Mail (still being retried)" in b)
            self.assertIn(b"Action: delayed\r\nStatus: 4.4.1\r\n", warn)
            dsn = wait_inbox(self.srv, "alice@example.org",
                             lambda b: b"Undelivered Mail Returned to Sender" in b)
            self.assertIn(b"Final-Recipient: rfc822; x@remote.test\r\nAction: failed\r\n"
                          b"Status: 4.4.7\r\n", dsn)
            self.assertIn(b"Diagnostic-Code: smtp; 451 4.4.1 connect failed: "
                          b"Connection refused", dsn)
            self.assertIn(b"Subject: relay expiry\r\n", dsn)
            wait_queue(self.srv, lambda o: o.strip() == "queue is empty")
            self.assertEqual(len(inbox(self.srv, "alice@example.org")), 2)
        finally:
            self.srv.close()


class TLSPolicyTest(LogOnFailure):
    """STARTTLS to an MX: opportunistic by default, mandatory with require_tls."""

    def tearDown(self):
        self.srv.close()
        self.sink.stop()

    def test_01_opportunistic_starttls(self):
        self.srv = mmtest.Server(users=USERS, start=False)
        # a certificate no one vouches for: fine for opportunistic TLS
        self.sink = Sink(tls="starttls", cert=self.srv.cert, key=self.srv.key).start()
        self.srv.extra_conf = relay_conf(self.sink.port)
        self.srv.write_conf()
        self.srv.start()
        m = msg("relay tls")
        submit(self.srv, "alice@example.org", ["x@remote.test"], m)
        (_, _, data), = self.sink.received(1)
        self.assertTrue(data.endswith(m))
        self.assertIn("STARTTLS", self.sink.log)

    def test_02_require_tls_without_starttls(self):
        self.sink = Sink().start()
        self.srv = mmtest.Server(users=USERS, extra_conf=relay_conf(
            self.sink.port, "1h", "require_tls = yes\n"))
        submit(self.srv, "alice@example.org", ["x@remote.test"], msg("relay notls"))
        out = wait_queue(self.srv, lambda o: "attempts=1" in o)
        self.assertIn("error: 451 4.7.4 TLS is required but the server does not offer "
                      "STARTTLS", out)
        self.assertEqual(self.sink.messages, [])
        self.assertNotIn("MAIL FROM:<alice@example.org>", self.sink.log)


class SmarthostTest(LogOnFailure):
    """Everything through a smarthost with AUTH over TLS, certificate checked."""

    def start(self, mode):
        self.srv = mmtest.Server(users=USERS, start=False)
        self.sink = Sink(tls=mode, cert=self.srv.cert, key=self.srv.key,
                         auth=("relayuser", "relay pass")).start()
        self.srv.extra_conf = (
            "[relay]\nsmarthost = 127.0.0.1:%d\nsmarthost_tls = %s\n"
            "smarthost_user = relayuser\nsmarthost_password = relay pass\n"
            "smarthost_ca = %s\nroutes = remote.test=127.0.0.1:1\n"
            "retry_interval = 1s\nretry_max_interval = 1s\n"
            % (self.sink.port, mode, self.srv.cert))
        self.srv.write_conf()
        self.srv.start()

    def tearDown(self):
        self.srv.close()
        self.sink.stop()

    def check(self):
        m = msg("relay smarthost")
        submit(self.srv, "alice@example.org", ["someone@elsewhere.example", "x@remote.test"], m)
        got = self.sink.received(1)
        rcpts = sorted(r for _, rs, _ in got for r in rs)
        if len(rcpts) < 2:
            got = self.sink.received(2)
            rcpts = sorted(r for _, rs, _ in got for r in rs)
        self.assertEqual(rcpts, ["someone@elsewhere.example", "x@remote.test"])
        for _, _, d in got:
            self.assertTrue(d.endswith(m))
        self.assertTrue(any(l.startswith("AUTH PLAIN ") for l in self.sink.log))
        wait_queue(self.srv, lambda o: o.strip() == "queue is empty")

    def test_01_starttls(self):
        self.start("starttls")
        self.check()
        self.assertIn("STARTTLS", self.sink.log)

    def test_02_implicit(self):
        self.start("implicit")
        self.check()

    def test_03_bad_password_stays_queued(self):
        self.srv = mmtest.Server(users=USERS, start=False)
        self.sink = Sink(tls="starttls", cert=self.srv.cert, key=self.srv.key,
                         auth=("relayuser", "other")).start()
        self.srv.extra_conf = (
            "[relay]\nsmarthost = 127.0.0.1:%d\nsmarthost_user = relayuser\n"
            "smarthost_password = relay pass\nsmarthost_ca = %s\nretry_interval = 1h\n"
            "retry_max_interval = 1h\n" % (self.sink.port, self.srv.cert))
        self.srv.write_conf()
        self.srv.start()
        submit(self.srv, "alice@example.org", ["someone@elsewhere.example"], msg("relay auth"))
        out = wait_queue(self.srv, lambda o: "authentication failed" in o)
        self.assertIn("535 5.7.8 bad credentials", out)
        self.assertEqual(self.sink.messages, [])


if __name__ == "__main__":
    mmtest.main()
