#!/usr/bin/env python3
"""bench_login: IMAP logins per second with and without the auth cache
(issue 19 item 4, [auth] cache_ttl), not a test.

Starts minimaild twice (tests/e2e/mmtest.py: temporary data_dir, loopback
ports only), once with cache_ttl = 5m and once with cache_ttl = 0, and for
a fixed number of seconds runs C concurrent clients that each connect to
143 (plaintext login allowed, so TLS handshakes do not hide the hash),
LOGIN, LOGOUT, and connect again. Prints logins/s, latency p50/p99 and the
daemon's CPU time per login for each. The users are spread over U
addresses so that the cache holds several entries.

    MINIMAILD=./minimaild MINIMAILCTL=./minimailctl \\
        python3 bench/bench_login.py [--clients 10] [--seconds 10] [--users 20]
"""
import argparse
import asyncio
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))

PASSWORD = "bench-login-secret"


def cpu_secs(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(vals, p):
    s = sorted(vals)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))] if s else 0.0


async def one_login(port, user):
    r, w = await asyncio.open_connection("127.0.0.1", port)
    try:
        if not (await r.readline()).startswith(b"* OK"):
            raise RuntimeError("no greeting")
        w.write(b"a LOGIN %s %s\r\n" % (user.encode(), PASSWORD.encode()))
        while True:
            ln = await r.readline()
            if not ln:
                raise RuntimeError("closed")
            if ln.startswith(b"a "):
                if not ln.startswith(b"a OK"):
                    raise RuntimeError("login failed: %r" % ln)
                break
        w.write(b"b LOGOUT\r\n")
        await r.read()
    finally:
        w.close()


async def run(port, users, clients, seconds):
    lat = []
    stop = time.monotonic() + seconds

    async def client(i):
        n = i
        while time.monotonic() < stop:
            t0 = time.monotonic()
            await one_login(port, users[n % len(users)])
            lat.append(time.monotonic() - t0)
            n += clients
    t0 = time.monotonic()
    await asyncio.gather(*(client(i) for i in range(clients)))
    return lat, time.monotonic() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--users", type=int, default=20)
    args = ap.parse_args()
    import mmtest
    users = ["login%d@example.org" % i for i in range(args.users)]
    for ttl in ("5m", "0"):
        srv = mmtest.Server(users={u: PASSWORD for u in users}, start=False,
                            allow_plaintext=True, extra_conf="[auth]\ncache_ttl = " + ttl,
                            limits="max_connections_per_ip = %d" % (args.clients + 50))
        srv.write_conf(srv.conf_text().replace("log_level = debug", "log_level = warn"))
        try:
            srv.start()
            loop = asyncio.new_event_loop()
            # warm up: one login per user (fills the cache when it is on)
            async def warm():
                await asyncio.gather(*(one_login(srv.ports["imap"], u) for u in users))
            loop.run_until_complete(warm())
            c0 = cpu_secs(srv.proc.pid)
            lat, wall = loop.run_until_complete(run(srv.ports["imap"], users,
                                                    args.clients, args.seconds))
            cpu = cpu_secs(srv.proc.pid) - c0
            loop.close()
            print("cache_ttl = %-3s  %d clients: %7.1f logins/s  p50 %.2f ms  p99 %.2f ms  "
                  "daemon CPU %.2f ms/login  (%d logins in %.1f s)"
                  % (ttl, args.clients, len(lat) / wall, pct(lat, 50) * 1e3, pct(lat, 99) * 1e3,
                     cpu / max(1, len(lat)) * 1e3, len(lat), wall), flush=True)
        finally:
            srv.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
