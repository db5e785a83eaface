#!/usr/bin/env python3
"""One delivery to a mailbox with 200 IDLE sessions costs one index read
for all of them (issue 19 item 2, issue 18 item 1): every session gets its
"* n EXISTS", \\Recent goes to exactly one of them, and the metrics
listener's minimaild_imap_view_refresh_total (every index read that brings
a selected mailbox up to date) rises by 1 for the delivery, not by 200.
Then a flag change and an expunge by one session reach the 199 others the
same way (FETCH FLAGS, EXPUNGE), still one read each, and a session that
changed its own view (STORE) and went back to IDLE shares the view again."""
import asyncio
import re
import socket
import time
import unittest
import urllib.request

import mmtest

NSESS = 200
NMSGS = 50
PASSWORD = "alice-secret"
USER = "alice@example.org"


class Client:
    def __init__(self, r, w):
        self.r, self.w = r, w
        self.n = 0

    @classmethod
    async def open(cls, port):
        r, w = await asyncio.open_connection("127.0.0.1", port)
        c = cls(r, w)
        await c.r.readline()
        return c

    async def cmd(self, text):
        self.n += 1
        tag = b"t%d" % self.n
        self.w.write(tag + b" " + text + b"\r\n")
        out = []
        while True:
            ln = await asyncio.wait_for(self.r.readline(), 30)
            if not ln:
                raise EOFError(text)
            out.append(ln)
            if ln.startswith(tag + b" "):
                if not ln.startswith(tag + b" OK"):
                    raise RuntimeError("%r -> %r" % (text, ln))
                return out

    async def idle(self):
        self.w.write(b"i IDLE\r\n")
        ln = await asyncio.wait_for(self.r.readline(), 30)
        if not ln.startswith(b"+"):
            raise RuntimeError("IDLE: %r" % ln)

    async def until(self, pat, secs=20):
        """Lines read in IDLE up to and including one matching pat."""
        out = []
        deadline = time.monotonic() + secs
        while True:
            ln = await asyncio.wait_for(self.r.readline(), max(0.1, deadline - time.monotonic()))
            if not ln:
                raise EOFError()
            out.append(ln)
            if re.search(pat, ln):
                return out

    async def done(self):
        self.w.write(b"DONE\r\n")
        while True:
            ln = await asyncio.wait_for(self.r.readline(), 30)
            if ln.startswith(b"i "):
                return

    def close(self):
        self.w.close()


def smtp_deliver(port, rcpt, subject):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    f = s.makefile("rb")

    def reply():
        while True:
            ln = f.readline()
            if len(ln) < 4 or ln[3:4] != b"-":
                return ln
    reply()
    s.sendall(b"EHLO fanout.example.net\r\n")
    reply()
    s.sendall(b"MAIL FROM:<x@example.net>\r\nRCPT TO:<%s>\r\nDATA\r\n" % rcpt.encode())
    for code in (b"250", b"250", b"354"):
        ln = reply()
        assert ln.startswith(code), ln
    s.sendall(b"Subject: %s\r\n\r\nfan out\r\n.\r\n" % subject)
    ln = reply()
    assert ln.startswith(b"250"), ln
    s.sendall(b"QUIT\r\n")
    s.close()


class IdleFanoutTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = mmtest.Server(start=False, allow_plaintext=True,
                                limits="max_connections = %d\nmax_connections_per_ip = %d\n"
                                "max_connections_per_user = %d" % ((NSESS + 100,) * 3))
        cls.mport = mmtest.free_ports(1)[0]
        cls.srv.write_conf(cls.srv.conf_text().replace("log_level = debug", "log_level = info") +
                           "[listen]\nmetrics = 127.0.0.1:%d\n" % cls.mport)
        cls.srv.start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def metric(self, name):
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.mport,
                                    timeout=20) as r:
            body = r.read().decode()
        m = re.search(r"^%s (\d+)" % name, body, re.M)
        self.assertIsNotNone(m, name)
        return int(m.group(1))

    async def wait_metric(self, name, want, secs=20):
        deadline = time.monotonic() + secs
        while True:
            v = await asyncio.get_running_loop().run_in_executor(None, self.metric, name)
            if v == want or time.monotonic() > deadline:
                return v
            await asyncio.sleep(0.1)

    async def scenario(self):
        port = self.srv.ports["imap"]
        loop = asyncio.get_running_loop()
        first = await Client.open(port)
        await first.cmd(b"LOGIN %s %s" % (USER.encode(), PASSWORD.encode()))
        for i in range(NMSGS):
            msg = b"Subject: m%d\r\n\r\nbody %d\r\n" % (i, i)
            await first.cmd(b"APPEND INBOX {%d+}\r\n%s" % (len(msg), msg))
        await first.cmd(b"SELECT INBOX")      # takes their \Recent
        await first.cmd(b"LOGOUT")
        first.close()

        sessions = []
        sem = asyncio.Semaphore(32)

        async def one():
            async with sem:
                c = await Client.open(port)
                await c.cmd(b"LOGIN %s %s" % (USER.encode(), PASSWORD.encode()))
                out = await c.cmd(b"SELECT INBOX")
                self.assertIn(b"* %d EXISTS\r\n" % NMSGS, out)
                await c.idle()
                sessions.append(c)
        await asyncio.gather(*[one() for _ in range(NSESS)])
        self.assertEqual(await self.wait_metric("minimaild_imap_idle_sessions", NSESS), NSESS)

        # one delivery: every session sees EXISTS, one read for all
        r0 = self.metric("minimaild_imap_view_refresh_total")
        await loop.run_in_executor(None, smtp_deliver, self.srv.ports["smtp"], USER, b"new")
        outs = await asyncio.gather(*[c.until(rb"^\* %d EXISTS" % (NMSGS + 1)) for c in sessions])
        rec = []
        for c, out in zip(sessions, outs):
            ln = await c.until(rb"^\* \d+ RECENT")
            rec.append(int(ln[-1].split()[1]))
        self.assertEqual(sorted(rec)[-1], 1, "someone has the new message \\Recent")
        self.assertEqual(sum(rec), 1, "\\Recent in exactly one session")
        r1 = self.metric("minimaild_imap_view_refresh_total")
        self.assertEqual(r1 - r0, 1, "index reads for one delivery to %d IDLE sessions" % NSESS)

        # a flag change and an expunge by one session: the others are told
        # (FETCH FLAGS, EXPUNGE), with one read per change
        actor = sessions[0]
        await actor.done()
        await actor.cmd(b"STORE 3 +FLAGS.SILENT (\\Flagged)")
        others = sessions[1:]
        outs = await asyncio.gather(*[c.until(rb"^\* 3 FETCH") for c in others])
        for out in outs:
            self.assertIn(b"\\Flagged", out[-1])
        r2 = self.metric("minimaild_imap_view_refresh_total")
        await actor.cmd(b"STORE 2 +FLAGS.SILENT (\\Deleted)")
        await actor.cmd(b"EXPUNGE")
        outs = await asyncio.gather(*[c.until(rb"^\* 2 EXPUNGE") for c in others])
        # both changes (the \Deleted and the expunge) were read once each
        # for the 199 others, plus the actor's own two (its commands)
        r3 = self.metric("minimaild_imap_view_refresh_total")
        self.assertLessEqual(r3 - r2, 4, "index reads for two changes")
        # the actor idles again and is told the next delivery like the rest
        await actor.idle()
        r4 = self.metric("minimaild_imap_view_refresh_total")
        await loop.run_in_executor(None, smtp_deliver, self.srv.ports["smtp"], USER, b"two")
        await asyncio.gather(*[c.until(rb"^\* %d EXISTS" % (NMSGS + 1)) for c in sessions])
        r5 = self.metric("minimaild_imap_view_refresh_total")
        self.assertEqual(r5 - r4, 1, "index reads for the second delivery")
        # the views still answer as before
        for c in (sessions[0], sessions[7]):
            await c.done()
            out = await c.cmd(b"FETCH 1:* (UID FLAGS)")
            self.assertEqual(len([ln for ln in out if b" FETCH " in ln]), NMSGS + 1)
            self.assertIn(b"\\Flagged", out[1])
        for c in sessions:
            c.close()

    def test_fanout(self):
        asyncio.run(asyncio.wait_for(self.scenario(), 240))


if __name__ == "__main__":
    mmtest.main()
