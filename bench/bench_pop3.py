#!/usr/bin/env python3
"""bench_pop3: POP3 RETR throughput over implicit TLS (995), in MB/s.

Starts minimaild (tests/e2e/mmtest.py: temporary data_dir, loopback ports),
delivers N messages of SIZE bytes to one user over SMTP, then logs in over
POP3S and retrieves every message with pipelined RETR commands (a window
of them in flight), reading the raw stream and counting the CRLF.CRLF
terminators. The figure is the bytes received (message octets as listed,
plus the stuffing and the status lines) per second of the RETR phase.

    MINIMAILD=./minimaild MINIMAILCTL=./minimailctl \\
        python3 bench/bench_pop3.py [--messages 2000] [--size 100000] [--window 32]

--window 1 is a client without pipelining (fetchmail, most phone apps):
each RETR is sent when the answer to the one before has arrived.

--port/--user/--password bench an already running server's maildrop
instead (nothing is delivered; needs a CA file with --cafile or -k).
"""
import argparse
import os
import random
import smtplib
import socket
import ssl
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))

USER = "bench@example.org"
PASSWORD = "bench-secret"
WINDOW = 32        # RETR commands in flight


def make_message(i, size, rnd):
    head = ("From: Bench <bench-sender@example.net>\r\n"
            "To: %s\r\n"
            "Subject: bench message %d\r\n"
            "Message-ID: <bench-%d@example.net>\r\n"
            "\r\n" % (USER, i, i)).encode()
    line = bytes(rnd.choice(b"abcdefghijklmnopqrstuvwxyz0123456789 .") for _ in range(76)) + b"\r\n"
    body = []
    n = len(head)
    k = 0
    while n < size:
        l = line if k % 50 else b"." + line[1:]     # some lines start with '.'
        body.append(l)
        n += len(l)
        k += 1
    return head + b"".join(body)


def deliver(port, count, size):
    rnd = random.Random(1)
    msgs = [make_message(i, size, rnd) for i in range(min(count, 16))]
    t = time.time()
    with smtplib.SMTP("127.0.0.1", port, timeout=120) as s:
        s.ehlo("bench.example.net")
        for i in range(count):
            s.sendmail("bench-sender@example.net", [USER], msgs[i % len(msgs)])
    return time.time() - t


def read_line(sock, buf):
    while b"\r\n" not in buf:
        d = sock.recv(65536)
        if not d:
            raise EOFError("connection closed")
        buf += d
    line, rest = buf.split(b"\r\n", 1)
    return line, rest


def retr_all(port, ctx, user, password, window=WINDOW):
    sock = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=120))
    buf = b""
    line, buf = read_line(sock, buf)
    assert line.startswith(b"+OK"), line
    for cmd in (b"USER " + user.encode(), b"PASS " + password.encode()):
        sock.sendall(cmd + b"\r\n")
        line, buf = read_line(sock, buf)
        assert line.startswith(b"+OK"), line
    sock.sendall(b"STAT\r\n")
    line, buf = read_line(sock, buf)
    parts = line.split()
    count, octets = int(parts[1]), int(parts[2])

    t = time.time()
    sent = 0
    done = 0
    received = len(buf)
    tail = b""
    while sent < min(window, count):
        sent += 1
        sock.sendall(b"RETR %d\r\n" % sent)
    data = buf
    while done < count:
        if not data:
            data = sock.recv(1 << 20)
            if not data:
                raise EOFError("connection closed after %d messages" % done)
            received += len(data)
        chunk = tail + data
        n = chunk.count(b"\r\n.\r\n")
        tail = chunk[-4:]
        data = b""
        if n:
            done += n
            more = b""
            while sent < count and sent < done + window:
                sent += 1
                more += b"RETR %d\r\n" % sent
            if more:
                sock.sendall(more)
    elapsed = time.time() - t
    sock.sendall(b"QUIT\r\n")
    sock.close()
    return count, octets, received, elapsed


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--size", type=int, default=100000, help="bytes per message")
    ap.add_argument("--port", type=int, help="bench a running server's POP3S port")
    ap.add_argument("--user", default=USER)
    ap.add_argument("--password", default=PASSWORD)
    ap.add_argument("--cafile")
    ap.add_argument("--window", type=int, default=WINDOW,
                    help="RETR commands in flight (1: no pipelining)")
    args = ap.parse_args()

    if args.port:
        ctx = ssl.create_default_context(cafile=args.cafile)
        ctx.check_hostname = False
        if not args.cafile:
            ctx.verify_mode = ssl.CERT_NONE
        count, octets, received, elapsed = retr_all(args.port, ctx, args.user, args.password,
                                                    args.window)
    else:
        import mmtest
        with mmtest.Server(users={USER: PASSWORD}) as srv:
            dt = deliver(srv.ports["smtp"], args.messages, args.size)
            print("delivered %d messages of %d bytes in %.1f s" % (args.messages, args.size, dt))
            count, octets, received, elapsed = retr_all(srv.ports["pop3s"], srv.ssl_context(),
                                                        USER, PASSWORD, args.window)
    mb = received / 1e6
    print("pop3 RETR over TLS, window %d: %d messages, %.1f MB (%.1f MB of messages) in %.2f s: "
          "%.1f MB/s, %.0f messages/s"
          % (args.window, count, mb, octets / 1e6, elapsed, mb / elapsed, count / elapsed))


if __name__ == "__main__":
    main()
