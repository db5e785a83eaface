#!/usr/bin/env python3
"""The open-file limit (issue 19 item 7: 100,000 IDLE sessions, one
descriptor each): minimaild raises its soft RLIMIT_NOFILE to the hard limit
at start, and logs a warning when max_connections (plus the descriptors the
store and listeners keep) does not fit under it."""
import os
import resource
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmtest  # noqa: E402


def soft_nofile(pid):
    with open("/proc/%d/limits" % pid) as f:
        for ln in f:
            if ln.startswith("Max open files"):
                return ln.split()[3]
    raise RuntimeError("no Max open files")


class NofileTest(unittest.TestCase):
    def setUp(self):
        self.soft, self.hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if self.hard == resource.RLIM_INFINITY or self.hard <= 1024 or self.hard >= 999000:
            raise unittest.SkipTest("needs a finite hard RLIMIT_NOFILE between 1025 and 999000")
        self.srv = None

    def tearDown(self):
        if self.srv:
            self.srv.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.soft, self.hard))

    def start(self, limits):
        # the daemon inherits a soft limit below the hard one
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, self.hard))
        self.srv = mmtest.Server(limits=limits)
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.soft, self.hard))

    def test_raised_and_warned(self):
        self.start("max_connections = %d" % (self.hard + 1000))
        self.assertEqual(soft_nofile(self.srv.proc.pid), str(self.hard))
        deadline = time.time() + 10
        while "exceeds the open-file limit" not in self.srv.log() and time.time() < deadline:
            time.sleep(0.1)
        self.assertIn("max_connections (%d) exceeds the open-file limit: RLIMIT_NOFILE is %d"
                      % (self.hard + 1000, self.hard), self.srv.log())

    def test_fits_no_warning(self):
        self.start("max_connections = %d" % (self.hard // 2))
        self.assertEqual(soft_nofile(self.srv.proc.pid), str(self.hard))
        self.assertNotIn("exceeds the open-file limit", self.srv.log())


if __name__ == "__main__":
    mmtest.main()
