#!/usr/bin/env python3
"""IMAP NOTIFY (RFC 5465) end to end with Python's imaplib: two sessions
of one user. A says NOTIFY SET (selected MessageNew MessageExpunge
FlagChange) (personal (MessageNew MessageExpunge MailboxName
SubscriptionChange)) and then sends nothing; B appends, stores flags,
expunges, creates, renames and subscribes. Every notification must reach
A unsolicited, read straight off its socket while no command of A runs:
EXISTS/FETCH/EXPUNGE for the selected mailbox, STATUS for another
mailbox, LIST for a new, renamed or (un)subscribed name. Also NOTIFY NONE
(silence), NO [BADEVENT] for events we do not deliver, BAD for syntax the
RFC forbids, SET STATUS's initial STATUS and MessageNew's fetch-att, and
[NOTIFICATIONOVERFLOW]: more changes than the session may keep while a
FETCH of A stalls on its unread output, after which NOTIFY is off."""
import imaplib
import re
import select
import socket
import time
import unittest

import mmtest
from test_imap import Raw

ALICE = ("alice@example.org", "alice-secret")
imaplib.Commands.setdefault("NOTIFY", ("AUTH", "SELECTED"))
MSG = b"From: b@example.org\r\nSubject: hello\r\n\r\nbody\r\n"


class NotifyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = mmtest.Server()

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def session(self):
        m = imaplib.IMAP4_SSL("127.0.0.1", self.srv.ports["imaps"],
                              ssl_context=self.srv.ssl_context(), timeout=10)
        m.login(*ALICE)
        # unbuffered: what the socket has not given yet is in the socket
        # (or TLS), where select sees it; imaplib reads lines from it
        m.file = m.sock.makefile("rb", buffering=0)
        self.addCleanup(self.logout, m)
        return m

    @staticmethod
    def readable(m, secs):
        return m.sock.pending() > 0 or bool(select.select([m.sock], [], [], secs)[0])

    @staticmethod
    def logout(m):
        try:
            m.logout()
        except (imaplib.IMAP4.error, OSError):
            pass

    def notify(self, m, *args):
        typ, data = m._simple_command("NOTIFY", *args)
        return typ, data

    def unsolicited(self, m, pattern, timeout=5.0):
        """Lines A gets without sending anything, up to the one matching
        pattern (a bytes regex); fails when it does not come."""
        got = []
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if not self.readable(m, 0.2):
                continue
            line = m.readline()
            if not line:
                break
            got.append(line.rstrip(b"\r\n"))
            if re.search(pattern, got[-1]):
                return got
        self.fail("no %r within %.0fs, got %r" % (pattern, timeout, got))

    def silence(self, m, secs=1.0):
        """Nothing unsolicited for secs."""
        line = m.readline() if self.readable(m, secs) else b""
        self.assertEqual(line, b"")

    def test_two_sessions(self):
        a, b = self.session(), self.session()
        self.assertIn(b"NOTIFY", a.capability()[1][0].split())
        for box in ("Other", "Renamed"):
            b.delete(box)
        self.assertEqual(a.select("INBOX")[0], "OK")
        exists = int(a.untagged_responses.get("EXISTS", [b"0"])[-1])
        typ, _ = self.notify(a, "SET", "(selected (MessageNew MessageExpunge FlagChange))",
                             "(personal (MessageNew MessageExpunge MailboxName "
                             "SubscriptionChange))")
        self.assertEqual(typ, "OK")

        # a message in the selected mailbox: EXISTS without any command
        self.assertEqual(b.append("INBOX", None, None, MSG)[0], "OK")
        exists += 1
        self.unsolicited(a, rb"^\* %d EXISTS$" % exists)

        # its flags changed by B: FETCH FLAGS
        b.select("INBOX")
        self.assertEqual(b.store(str(exists), "+FLAGS", "(\\Flagged)")[0], "OK")
        got = self.unsolicited(a, rb"^\* %d FETCH \(" % exists)
        self.assertIn(b"\\Flagged", got[-1])

        # a new mailbox: LIST; a message in it: STATUS
        self.assertEqual(b.create("Other")[0], "OK")
        self.unsolicited(a, rb'^\* LIST \(\) "/" Other$')
        self.assertEqual(b.append("Other", None, None, MSG)[0], "OK")
        self.unsolicited(a, rb"^\* STATUS Other \(MESSAGES 1 UIDNEXT 2\)$")

        # renamed: LIST with OLDNAME; subscribed and unsubscribed: LIST
        self.assertEqual(b.rename("Other", "Renamed")[0], "OK")
        self.unsolicited(a, rb'^\* LIST \(\) "/" Renamed \("OLDNAME" \(Other\)\)$')
        self.assertEqual(b.subscribe("Renamed")[0], "OK")
        self.unsolicited(a, rb'^\* LIST \(\\Subscribed\) "/" Renamed$')
        self.assertEqual(b.unsubscribe("Renamed")[0], "OK")
        self.unsolicited(a, rb'^\* LIST \(\) "/" Renamed$')
        # the renamed mailbox is still watched under its new name
        self.assertEqual(b.append("Renamed", None, None, MSG)[0], "OK")
        self.unsolicited(a, rb"^\* STATUS Renamed \(MESSAGES 2 UIDNEXT 3\)$")

        # expunged by B: EXPUNGE without any command of A
        self.assertEqual(b.store(str(exists), "+FLAGS", "(\\Deleted)")[0], "OK")
        self.unsolicited(a, rb"^\* %d FETCH \(" % exists)
        self.assertEqual(b.expunge()[0], "OK")
        self.unsolicited(a, rb"^\* %d EXPUNGE$" % exists)
        exists -= 1

        # deleted: LIST (\NonExistent)
        self.assertEqual(b.delete("Renamed")[0], "OK")
        self.unsolicited(a, rb'^\* LIST \(\\NonExistent\) "/" Renamed$')

        # NOTIFY NONE: silence, until a command of A asks
        self.assertEqual(self.notify(a, "NONE")[0], "OK")
        self.assertEqual(b.append("INBOX", None, None, MSG)[0], "OK")
        self.silence(a)
        typ, _ = a.noop()
        self.assertEqual(typ, "OK")
        self.assertIn(str(exists + 1).encode(), a.untagged_responses.get("EXISTS", []))

    def test_fetch_att_and_status(self):
        a, b = self.session(), self.session()
        b.delete("Stat")
        self.assertEqual(b.create("Stat")[0], "OK")
        self.assertEqual(b.append("Stat", None, None, MSG)[0], "OK")
        a.select("INBOX")
        # SET STATUS: the mailboxes' STATUS before the tagged OK
        typ, _ = self.notify(a, "SET", "STATUS",
                             "(selected (MessageNew (UID FLAGS RFC822.SIZE) MessageExpunge))",
                             "(mailboxes Stat (MessageNew MessageExpunge))")
        self.assertEqual(typ, "OK")
        st = [l for l in a.untagged_responses.get("STATUS", []) if b"Stat" in l]
        self.assertTrue(st and re.match(rb"Stat \(MESSAGES 1 UIDNEXT 2 UIDVALIDITY \d+\)",
                                        st[-1]), a.untagged_responses)
        # a new message in the selected mailbox comes with the fetch-att
        self.assertEqual(b.append("INBOX", "(\\Seen)", None, MSG)[0], "OK")
        got = self.unsolicited(a, rb"^\* \d+ FETCH \(UID \d+ ")
        self.assertIn(b"\\Seen", got[-1])
        self.assertIn(b"RFC822.SIZE %d" % len(MSG), got[-1])
        # the same inside IDLE, which goes on after it
        a.send(b"i IDLE\r\n")
        self.unsolicited(a, rb"^\+ ")
        self.assertEqual(b.append("INBOX", None, None, MSG)[0], "OK")
        got = self.unsolicited(a, rb"^\* \d+ FETCH \(UID \d+ ")
        self.assertIn(b"RFC822.SIZE %d" % len(MSG), got[-1])
        self.assertTrue(any(re.match(rb"^\* \d+ EXISTS$", l) for l in got), got)
        self.assertEqual(b.append("INBOX", None, None, MSG)[0], "OK")
        got = self.unsolicited(a, rb"^\* \d+ FETCH \(UID \d+ ")
        a.send(b"DONE\r\n")
        got = self.unsolicited(a, rb"^i ")
        self.assertEqual(got, [b"i OK Idle completed"])
        # a mailbox outside the filter says nothing
        b.delete("Quiet")
        b.create("Quiet")
        self.assertEqual(b.append("Quiet", None, None, MSG)[0], "OK")
        self.silence(a)

    def test_bad_and_badevent(self):
        a = self.session()
        a.select("INBOX")
        for args in [("SET",), ("BOGUS",), ("NONE", "x"), ("SET", "(personal)"),
                     ("SET", "(nofilter (MessageNew))"),
                     ("SET", "(selected (MessageNew))"),
                     ("SET", "(selected (FlagChange))"),
                     ("SET", "(personal (MessageNew (UID)))"),
                     ("SET", "(subtree (MessageNew))"),
                     ("SET", "(selected (MessageNew MessageExpunge)) (selected-delayed NONE)"),
                     ("SET", "(personal ())")]:
            with self.assertRaises(imaplib.IMAP4.error, msg=args) as cm:
                self.notify(a, *args)
            self.assertIn("BAD", str(cm.exception), args)
        for ev in ("AnnotationChange", "MailboxMetadataChange", "ServerMetadataChange",
                   "SomeFutureEvent"):
            typ, data = self.notify(a, "SET", "(personal (MessageNew %s))" % ev)
            self.assertEqual(typ, "NO", ev)
            self.assertRegex(data[-1], rb"^\[BADEVENT \(MessageNew MessageExpunge "
                             rb"FlagChange MailboxName SubscriptionChange\)\]")
        self.assertEqual(self.notify(a, "SET", "(inboxes NONE)")[0], "OK")

    def test_overflow(self):
        b = self.session()
        b.delete("Big")
        self.assertEqual(b.create("Big")[0], "OK")
        big = b"Subject: big\r\n\r\n" + (b"x" * 998 + b"\r\n") * 1000
        for _ in range(10):
            self.assertEqual(b.append("Big", None, None, big)[0], "OK")
        # A with a small receive buffer, so that a FETCH of 10 MB stalls
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
        sock.connect(("127.0.0.1", self.srv.ports["imaps"]))
        r = Raw(self.srv.ssl_context().wrap_socket(sock, server_hostname="localhost"))
        self.addCleanup(r.close)
        self.assertTrue(r.line().startswith(b"* OK "))
        self.assertTrue(r.cmd(b"l", b"LOGIN %s %s" % (ALICE[0].encode(),
                                                     ALICE[1].encode()))[-1].startswith(b"l OK"))
        self.assertTrue(r.cmd(b"s", b"SELECT Big")[-1].startswith(b"s OK"))
        out = r.cmd(b"n", b"NOTIFY SET (personal (MailboxName))")
        self.assertTrue(out[-1].startswith(b"n OK"), out)
        r.send(b"f FETCH 1:* BODY.PEEK[]\r\n")
        time.sleep(1)
        # 70 new names while A's FETCH waits for A to read: more than
        # the 64 a session keeps
        for i in range(70):
            b.delete("Ovf%d" % i)
            self.assertEqual(b.create("Ovf%d" % i)[0], "OK")
        out = r.until(b"f ", timeout=60)
        self.assertTrue(out[-1].startswith(b"f OK"), out[-1])
        self.assertFalse([l for l in out if l.startswith(b"* LIST")], "LIST during FETCH")
        out = r.until(b"* OK [NOTIFICATIONOVERFLOW]", timeout=10)
        self.assertFalse([l for l in out if l.startswith(b"* LIST")], out)
        # NOTIFY is off now: a new name says nothing
        b.delete("Ovf-after")
        self.assertEqual(b.create("Ovf-after")[0], "OK")
        out = r.cmd(b"z", b"NOOP")
        self.assertEqual(out, [b"z OK NOOP completed"], out)
        for i in range(70):
            b.delete("Ovf%d" % i)
        b.delete("Ovf-after")
        b.delete("Big")


if __name__ == "__main__":
    mmtest.main()
