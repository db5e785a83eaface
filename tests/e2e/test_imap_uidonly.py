#!/usr/bin/env python3
"""UIDONLY (RFC 9586) end to end, with Python's imaplib (raw commands
through _simple_command, raw bytes through its socket where imaplib would
hide them): ENABLE UIDONLY, UID FETCH answered as UIDFETCH, every command
with sequence numbers refused with BAD [UIDREQUIRED] (and the session going
on in step, however often a client does it: Microsoft 365's sync enables
UIDONLY and still sends a sequence-number FETCH), STORE shown as UIDFETCH,
an expunge by another session shown as VANISHED, and ENABLE in the
selected state not enabling it."""
import imaplib
import re
import unittest

import mmtest

ALICE = ("alice@example.org", "alice-secret")


def msg(n):
    return (b"From: bob@example.org\r\nTo: alice@example.org\r\nSubject: uidonly %d\r\n"
            b"\r\nbody %d\r\n" % (n, n))


class UidonlyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = mmtest.Server()

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def login(self):
        return self.srv.imap(*ALICE)

    def fresh(self, name, n):
        m = self.login()
        m.delete(name)
        self.assertEqual(m.create(name)[0], "OK")
        for i in range(n):
            self.assertEqual(m.append(name, None, None, msg(i + 1))[0], "OK")
        m.select(name)      # takes \Recent, so the flags below are plain
        m.close()
        m.logout()

    def uidonly(self, box):
        m = self.login()
        self.assertIn(b"UIDONLY", m._simple_command("CAPABILITY") and
                      m.untagged_responses.pop("CAPABILITY")[-1].split())
        typ, _ = m._simple_command("ENABLE", "UIDONLY")
        self.assertEqual(typ, "OK")
        self.assertEqual(m.untagged_responses.pop("ENABLED"), [b"UIDONLY"])
        typ, data = m.select(box)
        self.assertEqual(typ, "OK")
        # [UNSEEN n] is a sequence number: not sent
        self.assertNotIn("UNSEEN", m.untagged_responses)
        return m

    def cmd(self, m, *args):
        """A command; its untagged responses, by type."""
        m.untagged_responses.clear()
        typ, data = m._simple_command(*args)
        self.assertEqual(typ, "OK", (args, data))
        got = dict(m.untagged_responses)
        m.untagged_responses.clear()
        return got

    def test_uid_fetch_is_uidfetch(self):
        self.fresh("Uo1", 3)
        m = self.uidonly("Uo1")
        got = self.cmd(m, "UID", "FETCH", "1:*", "(FLAGS)")
        self.assertNotIn("FETCH", got)
        self.assertEqual(got["UIDFETCH"], [b"1 (FLAGS ())", b"2 (FLAGS ())", b"3 (FLAGS ())"])
        # the UID item when it is asked for
        got = self.cmd(m, "UID", "FETCH", "2", "(UID RFC822.SIZE)")
        self.assertEqual(got["UIDFETCH"], [b"2 (UID 2 RFC822.SIZE %d)" % len(msg(2))])
        # UID SEARCH answers UIDs
        got = self.cmd(m, "UID", "SEARCH", "ALL")
        self.assertEqual(got["SEARCH"], [b"1 2 3"])
        m.logout()

    def test_sequence_numbers_refused(self):
        self.fresh("Uo2", 2)
        m = self.uidonly("Uo2")
        for args in (("FETCH", "1", "(FLAGS)"), ("FETCH", "1:*", "(UID)"),
                     ("STORE", "1", "+FLAGS", "(\\Seen)"), ("COPY", "1", "INBOX"),
                     ("MOVE", "1", "INBOX"), ("SEARCH", "ALL"),
                     ("UID", "SEARCH", "1:2"), ("UID", "SEARCH", "OR", "UID", "1", "2"),
                     ("SORT", "(DATE)", "UTF-8", "ALL"),
                     ("UID", "SORT", "(DATE)", "UTF-8", "1"),
                     ("THREAD", "REFERENCES", "UTF-8", "ALL")):
            with self.assertRaisesRegex(imaplib.IMAP4.error, r"UIDREQUIRED", msg=args):
                m._simple_command(*args)
        # the bad command limit does not apply: a sync client that keeps
        # sending a sequence FETCH is refused each time, never dropped
        for _ in range(40):
            with self.assertRaisesRegex(imaplib.IMAP4.error, r"UIDREQUIRED"):
                m._simple_command("FETCH", "1", "(FLAGS)")
        self.assertEqual(m.noop()[0], "OK")
        # nothing moved, nothing copied, nothing changed
        got = self.cmd(m, "UID", "FETCH", "1:*", "(FLAGS)")
        self.assertEqual(got["UIDFETCH"], [b"1 (FLAGS ())", b"2 (FLAGS ())"])
        # plain EXPUNGE has no sequence numbers: fine
        self.cmd(m, "EXPUNGE")
        m.logout()

    def test_pipelined_sequence_fetch(self):
        # ENABLE, SELECT, a sequence FETCH and a UID FETCH in one write:
        # each answered in order, the UID FETCH as if the bad one was not
        self.fresh("Uo3", 2)
        m = self.login()
        m.send(b"p1 ENABLE UIDONLY\r\np2 SELECT Uo3\r\np3 FETCH 1:* (FLAGS)\r\n"
               b"p4 UID FETCH 1:* (FLAGS)\r\np5 NOOP\r\n")
        lines = []
        while not lines or not lines[-1].startswith(b"p5 "):
            lines.append(m.readline().rstrip(b"\r\n"))
        tagged = [ln.split(b" ")[1] for ln in lines if ln[:1] == b"p"]
        self.assertEqual(tagged, [b"OK", b"OK", b"BAD", b"OK", b"OK"], lines)
        self.assertTrue(any(ln.startswith(b"p3 BAD [UIDREQUIRED]") for ln in lines), lines)
        self.assertIn(b"* 1 UIDFETCH (FLAGS ())", lines)
        self.assertIn(b"* 2 UIDFETCH (FLAGS ())", lines)
        self.assertFalse([ln for ln in lines if re.match(rb"\* \d+ FETCH", ln)], lines)
        m.logout()

    def test_store_and_expunge(self):
        self.fresh("Uo4", 4)
        m = self.uidonly("Uo4")
        got = self.cmd(m, "UID", "STORE", "3", "+FLAGS", "(\\Flagged)")
        self.assertEqual(got["UIDFETCH"], [b"3 (FLAGS (\\Flagged))"])
        self.assertNotIn("FETCH", got)
        # another session changes flags and expunges: UIDFETCH and VANISHED
        o = self.login()
        o.select("Uo4")
        o.store("4", "+FLAGS", "(\\Seen)")
        o.store("2", "+FLAGS", "(\\Deleted)")
        o.expunge()
        got = self.cmd(m, "NOOP")
        self.assertEqual(got.get("VANISHED"), [b"2"], got)
        self.assertNotIn("EXPUNGE", got)
        self.assertIn(b"4 (FLAGS (\\Seen))", got.get("UIDFETCH", []))
        # our own EXPUNGE too, and MOVE
        self.cmd(m, "UID", "STORE", "1", "+FLAGS.SILENT", "(\\Deleted)")
        got = self.cmd(m, "EXPUNGE")
        self.assertEqual(got.get("VANISHED"), [b"1"], got)
        self.assertNotIn("EXPUNGE", got)
        got = self.cmd(m, "UID", "MOVE", "3", "INBOX")
        self.assertEqual(got.get("VANISHED"), [b"3"], got)
        got = self.cmd(m, "UID", "FETCH", "1:*", "(FLAGS)")
        self.assertEqual(got["UIDFETCH"], [b"4 (FLAGS (\\Seen))"])
        o.logout()
        m.logout()

    def test_enable_when_selected(self):
        # RFC 5161 3.1: ENABLE comes before SELECT; in the selected state
        # the session already uses sequence numbers: UIDONLY is not
        # enabled (not named in ENABLED) and everything stays as it was
        self.fresh("Uo5", 2)
        m = self.login()
        m.select("Uo5")
        m.state = "AUTH"    # imaplib itself would not send it
        got = self.cmd(m, "ENABLE", "UIDONLY")
        m.state = "SELECTED"
        self.assertEqual(got.get("ENABLED"), [b""], got)
        typ, data = m.fetch("1", "(FLAGS)")
        self.assertEqual((typ, data), ("OK", [b"1 (FLAGS ())"]))
        # after leaving the mailbox it can be enabled
        m.unselect()
        got = self.cmd(m, "ENABLE", "UIDONLY")
        self.assertEqual(got.get("ENABLED"), [b"UIDONLY"])
        m.select("Uo5")
        with self.assertRaisesRegex(imaplib.IMAP4.error, r"UIDREQUIRED"):
            m._simple_command("FETCH", "1", "(FLAGS)")
        m.logout()

    def test_qresync_seq_match_data(self):
        self.fresh("Uo6", 1)
        m = self.login()
        self.cmd(m, "ENABLE", "QRESYNC", "UIDONLY")
        typ, _ = m.select("Uo6")
        uv = m.untagged_responses.get("UIDVALIDITY", [b"1"])[-1].decode()
        m.unselect()
        with self.assertRaisesRegex(imaplib.IMAP4.error, r"UIDREQUIRED"):
            m._simple_command("SELECT", "Uo6", "(QRESYNC (%s 1 1:5 (1 1)))" % uv)
        got = self.cmd(m, "SELECT", "Uo6", "(QRESYNC (%s 1 1:5))" % uv)
        self.assertIn(b"1 (FLAGS () MODSEQ", b" ".join(got.get("UIDFETCH", [b""])))
        m.logout()


if __name__ == "__main__":
    unittest.main(verbosity=2)
