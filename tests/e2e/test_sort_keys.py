#!/usr/bin/env python3
"""SORT and THREAD from the sort keys of the search record answer exactly
as reading every header does, and read nothing from the store once the
keys are in memory.

Delivery computes each message's sort keys (base subject, the address
keys, the sent date, Message-ID and references) into its cache blob
(src/mail/cache.c, version 3); SORT and THREAD take them from the search
records in memory (src/imap/imap-searchmem.c) or, for those not there,
from the blobs, 256 to a transaction (src/imap/cmd-sort.c). This test
stores the Dovecot differential's corpus, a random threaded corpus and
headers that are awkward for the keys (encoded words, no Date, bad
dates, Re:/Fwd:/[fwd:] subjects, groups, no From, a header over 16 KiB,
References over the keys' 4 KiB bound, a header without a body), asks
every SORT and THREAD of the differential and more (every key, REVERSE,
several keys, with search keys, both UID and not) in a daemon that uses
the keys and in the same store with MINIMAILD_SORT_HEADERS=1 (every
message's header read, today's path before the keys), and compares the
answers, again after appends and expunges while the mailbox is held.
minimaild_imap_sort_keys_total must show that the first daemon used the
keys (and read the header only for the message whose keys are too big),
that the second never did, and that on a held mailbox a SORT or THREAD
of every message reads nothing from the store (source="blob" and
source="header" stay put).
"""
import os
import re
import urllib.request
import unittest

import mmtest
import test_imap_dovecot as dv

ALICE = ("alice@example.org", "alice-secret")


def awkward():
    """Headers SORT and THREAD find awkward (cf. check_mailsort's)."""
    m = [
        "Subject: =?UTF-8?B?UmU6IGjDqWxsbw==?=\nFrom: =?UTF-8?Q?J=C3=B6rg_M?= <jorg@example.org>\n"
        "Date: Mon, 1 Jan 2024 10:00:00 +0100\nMessage-ID: <a1@x>\n\nbody\n",
        "Subject: Re: Fwd: [list] Re[3]: topic (fwd)\nFrom: b@example.org\nReferences: <a1@x>\n\n"
        "no date\n",
        "Subject: [fwd: Re: wrapped]\nDate: yesterday at noon\nFrom: <c@example.org>\n\nx\n",
        "Subject: RE: =?ISO-8859-1?Q?Fwd:_h=E9llo_=C6sir?=\nTo: undisclosed-recipients:;\n"
        "Cc: Team: a@example.org, Zed <z@example.org>;, other@example.org\n"
        "In-Reply-To: <a1@x>\n\nx\n",
        "To: \"Last, First\" <first@example.org>\nDate: 1 Jan 24 10:00 EST\n\n"
        "no from, no subject\n",
        "From: jorg@example.org (J\u00f6rg Comment)\nSubject: \u00dcber caf\u00e9\n"
        "Subject: second subject ignored\nDate: Tue, 2 Jan 2024 25:61:00 +0000\n\nx\n",
        "Subject: folded\n  over\n\tlines   with   space\nFrom: \"\" <empty-name@example.org>\n"
        "References: junk <r1@x> (comment <no@x>) <r2@x> <bad id@x> <noat>\n"
        "In-Reply-To: <irt@x>\nMessage-ID: not-bracketed@x\n\nx\n",
        "Subject:\nIn-Reply-To: <only-irt@x> <second@x>\nMessage-ID: <m@x> <m2@x>\n"
        "From: =?UTF-8?B??= <enc-empty@example.org>\n\nx\n",
        "From: Group: ;\nTo: , , <late@example.org>\nSubject: (fwd) Re: ()\n\nx\n",
        "Subject: =?utf-8?q?=E2=80=9Cquoted=E2=80=9D?= =?utf-8?q?_joined?=\n"
        "From: =?x-unknown?Q?who?= <u@example.org>\nDate: Thu, 29 Feb 2024 23:59:60 +1400\n\nx\n",
        "FROM: upper@example.org\nsubject: lower case names\nDATE: Fri, 5 Jan 2024 08:00:00 GMT\n"
        "\nx\n",
        "Subject: Re: " + " ".join("\u00e9l\u00e8ve%02d" % i for i in range(60)) +
        "\nFrom: %s@example.org\n\nlong keys, cut\n" % ("7" * 300),
        # a header over IMAP_SORT_HEADER_READ_BYTES: SORT's reader reads more
        "".join("X-Filler-%d: %s\n" % (i, "f" * 200) for i in range(100)) +
        "Subject: after the filler\nFrom: late-from@example.org\n"
        "Date: Sat, 6 Jan 2024 09:00:00 +0000\n\nx\n",
    ]
    out = [dv.crlf(x) for x in m]
    # keys over 4 KiB: this one has none, SORT reads its header
    out.append(dv.crlf("Subject: many refs\nFrom: refs@example.org\nReferences:" +
                       "".join("\n <%s.%d@example.org>" % ("0" * 100, i) for i in range(80)) +
                       "\nMessage-ID: <manyrefs@x>\n\nx\n"))
    out.append(b"Subject: header only, no body\r\nDate: Wed, 3 Jan 2024 00:00:00 -1200\r\n")
    return out


KEYS = ["ARRIVAL", "CC", "DATE", "FROM", "SIZE", "SUBJECT", "TO", "DISPLAYFROM", "DISPLAYTO"]
SORTS = dv.SORTS + ["(%s) UTF-8 ALL" % k for k in KEYS] + \
    ["(REVERSE %s) UTF-8 ALL" % k for k in KEYS] + [
        "(DISPLAYTO REVERSE DATE) UTF-8 ALL", "(CC TO FROM) UTF-8 ALL",
        "(SUBJECT) UTF-8 NOT 1:20", "(DATE SUBJECT) UTF-8 OR SUBJECT re FROM example",
        "(REVERSE DISPLAYFROM SIZE) UTF-8 SEEN"]
THREADS = dv.THREADS + ["REFERENCES UTF-8 NOT 1:20", "ORDEREDSUBJECT UTF-8 NOT 1:20",
                        "REFERENCES UTF-8 SUBJECT re", "ORDEREDSUBJECT UTF-8 FLAGGED"]


def metrics(port):
    """{source: minimaild_imap_sort_keys_total}."""
    out = {}
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=20) as r:
        for line in r.read().decode().splitlines():
            m = re.match(r'minimaild_imap_sort_keys_total\{source="(\w+)"\} (\S+)', line)
            if m:
                out[m.group(1)] = float(m.group(2))
    if set(out) != {"memory", "blob", "header"}:
        raise AssertionError("minimaild_imap_sort_keys_total: %r" % out)
    return out


def delta(a, b):
    return {k: b[k] - a[k] for k in a}


class SortKeysTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = mmtest.Server(users=dict([ALICE]), start=False)
        (cls.mport,) = mmtest.free_ports(1)
        cls.srv.write_conf(cls.srv.conf_text() + "[listen]\nmetrics = 127.0.0.1:%d\n" % cls.mport)
        cls.cmds = []
        for uid in (b"", b"UID "):
            cls.cmds += [uid + b"SORT " + q.encode() for q in SORTS]
            cls.cmds += [uid + b"THREAD " + q.encode() for q in THREADS]

    @classmethod
    def tearDownClass(cls):
        os.environ.pop("MINIMAILD_SORT_HEADERS", None)
        cls.srv.close()

    def session(self):
        s = self.srv.ssl_context().wrap_socket(self.srv.connect("imaps", timeout=60))
        self.addCleanup(s.close)
        sess = dv.Session(s.sendall, lambda: s.recv(65536))
        sess.greeting()
        self.ok(sess, b"LOGIN %s %s" % (ALICE[0].encode(), ALICE[1].encode()))
        return sess

    def ok(self, sess, cmd):
        u, t = sess.cmd(cmd)
        self.assertTrue(t.startswith(b"OK"), (cmd[:80], t))
        return u

    def start(self, headers):
        if headers:
            os.environ["MINIMAILD_SORT_HEADERS"] = "1"
        else:
            os.environ.pop("MINIMAILD_SORT_HEADERS", None)
        self.srv.start()

    def ask(self, sess):
        out = {}
        for c in self.cmds:
            u, t = sess.cmd(c)
            self.assertTrue(t.startswith(b"OK"), (c, t))
            out[c] = dv.thread_line(u) if b"THREAD " in c else dv.sort_list(u)
        return out

    def answers(self, headers, nmsgs):
        """{command: answer} and where the keys came from: the first pass
        and the second, both while another session holds INBOX."""
        self.start(headers)
        try:
            holder = self.session()
            self.ok(holder, b"SELECT INBOX")
            sess = self.session()
            self.ok(sess, b"EXAMINE INBOX")
            # the messages whose keys are over the bound
            nokeys = len(dv.search_set(self.ok(sess, b'UID SEARCH SUBJECT "many refs"')))
            m0 = metrics(self.mport)
            out = self.ask(sess)
            m1 = metrics(self.mport)
            again = self.ask(sess)
            m2 = metrics(self.mport)
            self.assertEqual(again, out, "the second pass answered differently")
            # one SORT of every message on the held mailbox
            self.ok(sess, b"SORT (SUBJECT) UTF-8 ALL")
            m3 = metrics(self.mport)
            self.ok(sess, b"THREAD REFERENCES UTF-8 ALL")
            m4 = metrics(self.mport)
            sess.cmd(b"LOGOUT")
            holder.cmd(b"LOGOUT")
        finally:
            self.srv.stop_checked()
        return out, nokeys, delta(m0, m1), delta(m1, m2), delta(m2, m3), delta(m3, m4)

    def compare(self, what, nmsgs):
        keyed, nokeys, first, second, one, thr = self.answers(False, nmsgs)
        read, _, rfirst, _, rone, _ = self.answers(True, nmsgs)
        self.assertGreater(nokeys, 0)
        # the keys were used, the store read only for what memory lacked
        self.assertGreater(first["memory"] + first["blob"], 0, "the sort keys were never used")
        self.assertEqual(second["blob"], 0, "held mailbox: the second pass read blobs")
        self.assertEqual(one, {"memory": nmsgs - nokeys, "blob": 0, "header": nokeys},
                         "SORT (SUBJECT) of every message on a held mailbox")
        self.assertEqual(thr, {"memory": nmsgs - nokeys, "blob": 0, "header": nokeys},
                         "THREAD REFERENCES of every message on a held mailbox")
        # MINIMAILD_SORT_HEADERS=1: today's path, every header read
        self.assertEqual(rfirst["memory"] + rfirst["blob"], 0, "MINIMAILD_SORT_HEADERS used keys")
        self.assertEqual(rone, {"memory": 0, "blob": 0, "header": nmsgs})
        diffs = ["%s: keys %r, headers %r" % (c.decode(), keyed[c], read[c])
                 for c in self.cmds if keyed[c] != read[c]]
        self.assertEqual(diffs, [], "%s: %d of %d answers differ:\n%s"
                         % (what, len(diffs), len(self.cmds), "\n".join(diffs)))
        self.assertGreater(sum(1 for c in self.cmds if keyed[c]), len(self.cmds) * 3 // 4,
                           "too few commands find anything")

    def append(self, sess, msgs, first):
        for i, msg in enumerate(msgs):
            self.ok(sess, b"APPEND INBOX %s %s {%d+}\r\n%s"
                    % (dv.FLAGS[(first + i) % len(dv.FLAGS)].encode(),
                       dv.DATES[(first + i) % len(dv.DATES)].encode(), len(msg), msg))

    def test_keys_equal_headers(self):
        self.srv.start()
        sess = self.session()
        msgs = [dv.crlf(m) for m in dv.CORPUS] + awkward() + dv.random_corpus(11, 80)
        self.append(sess, msgs, 0)
        sess.cmd(b"LOGOUT")
        self.srv.stop_checked()
        n = len(msgs)
        self.compare("as stored", n)

        # while a session holds INBOX (its keys in memory), another
        # appends and expunges: the records follow the view
        self.srv.start()
        a = self.session()
        self.ok(a, b"SELECT INBOX")
        self.ok(a, b"SORT (SUBJECT) UTF-8 ALL")
        b = self.session()
        self.ok(b, b"SELECT INBOX")
        more = awkward() + dv.random_corpus(23, 40)
        self.append(b, more, n)
        self.ok(b, b"STORE 1:10,30:45,%d:%d +FLAGS.SILENT (\\Deleted)" % (n + 3, n + 8))
        self.ok(b, b"EXPUNGE")
        self.ok(a, b"NOOP")
        self.ok(a, b"SORT (DATE) UTF-8 ALL")     # the new ones: from memory or blobs
        m0 = metrics(self.mport)
        u = self.ok(a, b"SORT (DATE) UTF-8 ALL")
        left = len(dv.sort_list(u))
        d = delta(m0, metrics(self.mport))
        self.assertEqual(left, n + len(more) - 10 - 16 - 6)
        self.assertEqual(d["blob"], 0, "the appended records were not added: %r" % d)
        self.assertEqual(d["memory"] + d["header"], left)
        a.cmd(b"LOGOUT")
        b.cmd(b"LOGOUT")
        self.srv.stop_checked()
        self.compare("after appends and expunges", left)


if __name__ == "__main__":
    unittest.main()
