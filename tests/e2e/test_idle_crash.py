#!/usr/bin/env python3
"""SIGKILL during deliveries with IDLE watchers (issue 19): the watchers'
views come from the mailbox's shared snapshot (one index read per change,
src/imap/imap-view.c) and from the change log; across crashes no UID is
ever shown for two different messages, and every message whose SMTP 250 a
client got is there after the restart.

Each cycle: 20 sessions IDLE on one INBOX; on each EXISTS a watcher says
DONE and fetches the new UIDs with their X-Id header, recording what it
was shown, then IDLEs again; 3 SMTP clients deliver messages (each with
a unique X-Id) and record the ones acknowledged. After a random 0.4-1.5 s
the daemon is SIGKILLed and restarted (recovery). At the end one session
reads the whole INBOX and checks both properties."""
import asyncio
import os
import random
import re
import socket
import threading
import time
import unittest

import mmtest

CYCLES = 4
WATCHERS = 20
SENDERS = 3
USER = "alice@example.org"
PASSWORD = "alice-secret"


class Shown:
    def __init__(self):
        self.by_uid = {}          # uid -> X-Id shown
        self.twice = []

    def saw(self, uid, xid):
        old = self.by_uid.setdefault(uid, xid)
        if old != xid:
            self.twice.append((uid, old, xid))


FETCH_RE = re.compile(rb"^\* \d+ FETCH \(UID (\d+) BODY\[HEADER\.FIELDS \(X-ID\)\] \{(\d+)\}")


async def line(r, secs=20):
    ln = await asyncio.wait_for(r.readline(), secs)
    if not ln:
        raise EOFError()
    return ln


async def read_fetch(r, tag, shown):
    """Reads a UID FETCH answer up to its tagged line; records each message.
    Returns the highest UID in it (0: none)."""
    top = 0
    while True:
        ln = await asyncio.wait_for(r.readline(), 20)
        if not ln:
            raise EOFError()
        m = FETCH_RE.match(ln)
        if m:
            lit = await r.readexactly(int(m.group(2)))
            await r.readline()                  # ")" CRLF
            x = re.search(rb"X-Id: *(\S+)", lit, re.I)
            if x:
                shown.saw(int(m.group(1)), x.group(1).decode())
            top = max(top, int(m.group(1)))
            continue
        if ln.startswith(tag + b" "):
            if not ln.startswith(tag + b" OK"):
                raise RuntimeError(ln)
            return top


async def watcher(port, shown, stop):
    w = None
    try:
        r, w = await asyncio.open_connection("127.0.0.1", port)
        await r.readline()
        w.write(b"a LOGIN %s %s\r\nb SELECT INBOX\r\n" % (USER.encode(), PASSWORD.encode()))
        while not (await line(r)).startswith(b"b "):
            pass
        last = 0
        n = 0
        while not stop.is_set():
            n += 1
            tag = b"f%d" % n
            w.write(tag + b" UID FETCH %d:* (UID BODY.PEEK[HEADER.FIELDS (X-ID)])\r\n" % (last + 1))
            last = max(last, await read_fetch(r, tag, shown))
            w.write(b"i IDLE\r\n")
            while True:
                ln = await asyncio.wait_for(r.readline(), 20)
                if not ln:
                    raise EOFError()
                if ln.startswith(b"+"):
                    break
            while not stop.is_set():
                try:
                    ln = await asyncio.wait_for(r.readline(), 0.5)
                except asyncio.TimeoutError:
                    continue
                if not ln:
                    raise EOFError()
                if ln.endswith(b" EXISTS\r\n"):
                    break
            w.write(b"DONE\r\n")
            while not (await line(r)).startswith(b"i "):
                pass
        w.close()
    except (OSError, EOFError, asyncio.IncompleteReadError, asyncio.TimeoutError, RuntimeError):
        if w is not None:
            w.close()  # the daemon was killed


def sender(port, k, acked, stop):
    seq = 0
    while not stop.is_set():
        s = None
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            f = s.makefile("rb")

            def reply():
                while True:
                    ln = f.readline()
                    if not ln:
                        raise EOFError()
                    if len(ln) < 4 or ln[3:4] != b"-":
                        return ln
            reply()
            s.sendall(b"EHLO crash.example.net\r\n")
            reply()
            while not stop.is_set():
                seq += 1
                xid = "%d.%d.%d" % (os.getpid(), k, seq)
                s.sendall(b"MAIL FROM:<c@example.net>\r\nRCPT TO:<%s>\r\nDATA\r\n" % USER.encode())
                for code in (b"250", b"250", b"354"):
                    if not reply().startswith(code):
                        raise EOFError()
                s.sendall(b"X-Id: %s\r\nSubject: crash\r\n\r\nbody\r\n.\r\n" % xid.encode())
                if reply().startswith(b"250"):
                    acked.add(xid)
            s.close()
        except (OSError, EOFError):
            if s is not None:
                s.close()
            time.sleep(0.05)


class IdleCrashTest(unittest.TestCase):
    def test_crash_with_idle_watchers(self):
        srv = mmtest.Server(start=False, allow_plaintext=True,
                            limits="max_connections_per_user = 100")
        srv.write_conf(srv.conf_text().replace("log_level = debug", "log_level = info"))
        srv.first_start()
        shown, acked = Shown(), set()
        rnd = random.Random(int(os.environ.get("CRASH_SEED", "0")) or None)
        try:
            for cycle in range(CYCLES):
                stop = threading.Event()
                astop = None

                async def run():
                    nonlocal astop
                    astop = asyncio.Event()
                    loop = asyncio.get_running_loop()
                    tasks = [asyncio.ensure_future(watcher(srv.ports["imap"], shown, astop))
                             for _ in range(WATCHERS)]
                    sends = [loop.run_in_executor(None, sender, srv.ports["smtp"], cycle * 10 + k,
                                                  acked, stop) for k in range(SENDERS)]
                    await asyncio.sleep(rnd.uniform(0.4, 1.5))
                    srv.kill()
                    astop.set()
                    stop.set()
                    await asyncio.gather(*tasks)
                    await asyncio.gather(*sends)
                asyncio.run(run())
                srv.start()
            # the whole INBOX after the last restart
            final = Shown()

            async def check():
                r, w = await asyncio.open_connection("127.0.0.1", srv.ports["imap"])
                await r.readline()
                w.write(b"a LOGIN %s %s\r\nb EXAMINE INBOX\r\n" % (USER.encode(), PASSWORD.encode()))
                while not (await line(r)).startswith(b"b "):
                    pass
                w.write(b"f UID FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (X-ID)])\r\n")
                await read_fetch(r, b"f", final)
                w.close()
            asyncio.run(check())
        finally:
            srv.kill()
            srv.close()
        self.assertGreater(len(acked), 0, "no delivery was acknowledged")
        self.assertGreater(len(shown.by_uid), 0, "the watchers were shown nothing")
        self.assertEqual(shown.twice, [], "a UID shown for two messages")
        lost = [(u, x) for u, x in shown.by_uid.items() if final.by_uid.get(u) != x]
        self.assertEqual(lost, [], "shown, then gone or another message after a crash")
        have = set(final.by_uid.values())
        self.assertEqual(sorted(acked - have), [], "acknowledged but not in INBOX")
        print("cycles=%d acknowledged=%d shown=%d in INBOX=%d"
              % (CYCLES, len(acked), len(shown.by_uid), len(final.by_uid)))


if __name__ == "__main__":
    mmtest.main()
