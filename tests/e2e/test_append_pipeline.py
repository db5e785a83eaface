#!/usr/bin/env python3
"""Pipelined LITERAL+ APPENDs of 5-20 KB messages, sent as fast as the
server takes them, over IMAPS (993), STARTTLS (143) and IMAPS with
COMPRESS=DEFLATE: every APPEND gets its tagged OK and every message is
stored, once. Over TLS the last commands used to wait forever: libevent's
TLS bufferevent stopped reading at the input bound with the rest of a
record already decrypted inside OpenSSL, and waited for the socket, which
a client that had sent everything never made readable again
(conn_tls_pending in src/net/conn.c)."""
import asyncio
import random
import unittest
import zlib

import mmtest

USER, PASSWORD = "alice@example.org", "alice-secret"
MESSAGES = 300      # a round: enough for the input bound to be hit many times
ROUNDS = 3
WINDOW = 64         # APPENDs in flight, as a client that pipelines hard would
STALL_SECS = 20     # no reply for this long: stuck


def message(i):
    rnd = random.Random(i)
    size = rnd.randint(5000, 20000)
    words = [b"lorem", b"ipsum", b"dolor", b"sit", b"amet", b"consectetur", b"adipiscing"]
    body = []
    n = 0
    while n < size:
        ln = b" ".join(rnd.choice(words) for _ in range(12))
        body.append(ln)
        n += len(ln) + 2
    return (b"From: bob@example.org\r\nTo: alice@example.org\r\nSubject: pipelined %d\r\n"
            b"Message-ID: <pipe-%d@example.org>\r\n\r\n" % (i, i)) + b"\r\n".join(body) + b"\r\n"


class Stream:
    """An IMAP client stream, optionally deflated (RFC 4978)."""

    def __init__(self, reader, writer):
        self.r, self.w = reader, writer
        self.buf = b""
        self.comp = self.decomp = None

    def write(self, data):
        if self.comp is not None:
            data = self.comp.compress(data) + self.comp.flush(zlib.Z_SYNC_FLUSH)
        self.w.write(data)

    async def line(self):
        while b"\r\n" not in self.buf:
            data = await asyncio.wait_for(self.r.read(65536), STALL_SECS)
            if not data:
                raise EOFError("server closed the connection")
            if self.decomp is not None:
                data = self.decomp.decompress(data)
            self.buf += data
        ln, self.buf = self.buf.split(b"\r\n", 1)
        return ln

    async def tagged(self, tag):
        while True:
            ln = await self.line()
            if ln.startswith(tag + b" "):
                return ln


async def open_stream(srv, how):
    ctx = srv.ssl_context()
    if how == "starttls":
        r, w = await asyncio.open_connection("127.0.0.1", srv.ports["imap"])
        s = Stream(r, w)
        await s.line()
        s.write(b"s STARTTLS\r\n")
        assert (await s.tagged(b"s")).startswith(b"s OK"), "STARTTLS refused"
        await w.start_tls(ctx)
    else:
        r, w = await asyncio.open_connection("127.0.0.1", srv.ports["imaps"], ssl=ctx)
        s = Stream(r, w)
        await s.line()
    s.write(b"l LOGIN %s %s\r\n" % (USER.encode(), PASSWORD.encode()))
    assert (await s.tagged(b"l")).startswith(b"l OK"), "LOGIN failed"
    if how == "compress":
        s.write(b"z COMPRESS DEFLATE\r\n")
        assert (await s.tagged(b"z")).startswith(b"z OK"), "COMPRESS refused"
        s.comp = zlib.compressobj(zlib.Z_BEST_SPEED, zlib.DEFLATED, -15)
        s.decomp = zlib.decompressobj(-15)
    return s


async def append_all(srv, how, first, count):
    """APPENDs first..first+count-1 pipelined; returns how many got OK."""
    s = await open_stream(srv, how)
    window = asyncio.Semaphore(WINDOW)
    got = 0

    async def replies():
        nonlocal got
        while got < count:
            ln = await s.line()
            if ln.startswith(b"a"):
                if b" OK " not in ln:
                    raise AssertionError("APPEND answered %r" % ln)
                got += 1
                window.release()

    reader = asyncio.ensure_future(replies())
    try:
        for i in range(first, first + count):
            await window.acquire()
            if reader.done():
                break
            msg = message(i)
            s.write(b"a%d APPEND INBOX {%d+}\r\n%s\r\n" % (i, len(msg), msg))
            await s.w.drain()
        try:
            await reader
        except asyncio.TimeoutError:
            raise AssertionError("%s: no reply for %d s after %d of %d APPENDs were answered"
                                 % (how, STALL_SECS, got, count))
        s.write(b"q LOGOUT\r\n")
        await s.w.drain()
    finally:
        reader.cancel()
        s.w.close()
    return got


class AppendPipelineTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = mmtest.Server(users={USER: PASSWORD})

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def count(self):
        m = self.srv.imap(USER, PASSWORD)
        typ, data = m.status("INBOX", "(MESSAGES)")
        m.logout()
        self.assertEqual(typ, "OK")
        return int(data[0].split()[-1].rstrip(b")"))

    def run_rounds(self, how):
        before = self.count()
        first = {"imaps": 0, "starttls": 100000, "compress": 200000}[how]
        for r in range(ROUNDS):
            got = asyncio.run(append_all(self.srv, how, first + r * MESSAGES, MESSAGES))
            self.assertEqual(got, MESSAGES)
        # stored once each: the count grew by exactly what was acknowledged
        self.assertEqual(self.count() - before, ROUNDS * MESSAGES)

    def test_imaps(self):
        self.run_rounds("imaps")

    def test_starttls(self):
        self.run_rounds("starttls")

    def test_imaps_compress(self):
        self.run_rounds("compress")


if __name__ == "__main__":
    unittest.main(verbosity=2)
