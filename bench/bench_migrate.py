#!/usr/bin/env python3
"""bench_migrate: the figures of issue 16. Makes a Maildir of N messages
(default 10,000 of about 100 KB each, so the store ends near 1 GB), runs
`minimailctl import` into a user of a running daemon and reports
messages/s and MB/s, then times `minimailctl backup` (full) of that store,
an incremental one after 100 more messages, and `minimailctl verify`.

    MINIMAILD=build/minimaild MINIMAILCTL=build/minimailctl \\
        PYTHONPATH=tests/e2e python3 bench/bench_migrate.py [--messages N] [--kb K]
"""
import argparse
import os
import random
import time

import subprocess

import mmtest


def ctl(srv, *args):
    """minimailctl without the test harness's 60 s limit."""
    r = subprocess.run([mmtest.MINIMAILCTL, "-c", srv.conf_path] + list(args),
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("minimailctl %s: %s%s" % (" ".join(args), r.stdout, r.stderr))
    return r


def make_maildir(path, n, kb, seed=16):
    rng = random.Random(seed)
    for d in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(path, d), exist_ok=True)
    total = 0
    line = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz ") for _ in range(76))
    for i in range(n):
        size = max(1, int(rng.expovariate(1.0 / kb) * 1024)) if kb else 1024
        body = ((line + "%06d\n" % i) * (size // 84 + 1))
        msg = ("From: sender%d@example.net\nTo: alice@example.org\nSubject: message %d\n"
               "Message-ID: <bench-%d@example.net>\nDate: Mon, 1 Jan 2024 10:00:00 +0000\n\n%s"
               % (i % 97, i, i, body))
        name = os.path.join(path, "cur", "%d.M%dP1.bench,S=%d:2,%s" %
                            (1700000000 + i, i, len(msg), "S" if i % 3 else ""))
        with open(name, "w") as f:
            f.write(msg)
        total += len(msg)
    return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=10000)
    ap.add_argument("--kb", type=int, default=100, help="mean message size in KB")
    a = ap.parse_args()
    with mmtest.Server(users={"alice@example.org": "secret"}) as srv:
        md = os.path.join(srv.tmp, "Maildir")
        size = make_maildir(md, a.messages, a.kb)
        print("maildir: %d messages, %.1f MB" % (a.messages, size / 1e6))
        t = time.time()
        r = ctl(srv, "import", "alice@example.org", md)
        dt = time.time() - t
        print(r.stdout.strip().splitlines()[-1])
        print("import: %.0f messages/s, %.1f MB/s" % (a.messages / dt, size / 1e6 / dt))
        du = sum(os.path.getsize(os.path.join(srv.data_dir, f)) for f in os.listdir(srv.data_dir))
        print("store: %.2f GB on disk" % (du / 1e9))
        bdir = os.path.join(srv.tmp, "backup")
        t = time.time()
        r = ctl(srv, "backup", bdir)
        print("backup (full): %.1f s  | %s" % (time.time() - t, r.stdout.strip().splitlines()[-1]))
        make_maildir(os.path.join(srv.tmp, "more"), 100, a.kb, seed=17)
        ctl(srv, "import", "alice@example.org", os.path.join(srv.tmp, "more"))
        t = time.time()
        r = ctl(srv, "backup", bdir)
        print("backup (incremental): %.1f s  | %s" % (time.time() - t, r.stdout.strip().splitlines()[-1]))
        t = time.time()
        r = ctl(srv, "verify", "--tmpdir", srv.tmp)
        print("verify: %.1f s  | %s" % (time.time() - t, r.stdout.strip().splitlines()[-1]))


if __name__ == "__main__":
    main()
