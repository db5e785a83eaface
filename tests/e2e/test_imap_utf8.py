#!/usr/bin/env python3
"""UTF8=ACCEPT (RFC 6855) end to end, with Python's imaplib (its enable()
switches it to UTF-8 too; raw bytes through its socket where it would hide
them): after ENABLE UTF8=ACCEPT mailbox names are UTF-8, not modified
UTF-7, both ways (LIST, STATUS, CREATE, SELECT), quoted strings carry
UTF-8 (and only valid UTF-8), APPEND takes the UTF8 (~{n}) data item, and
a message with 8-bit (RFC 6532) headers is delivered as stored, ENVELOPE
included, to UTF-8 and other clients alike."""
import re
import unittest

import mmtest

ALICE = ("alice@example.org", "alice-secret")

HDR8 = ("From: J\u00f6rg <j\u00f6rg@b\u00fccher.example>\r\n"
        "To: alice@example.org\r\n"
        "Subject: Gr\u00fc\u00dfe aus K\u00f6ln\r\n"
        "Date: Mon, 5 Jan 2026 10:00:00 +0000\r\n"
        "Message-ID: <utf8-1@b\u00fccher.example>\r\n").encode()
MSG8 = HDR8 + "\r\nHall\u00f6chen\r\n".encode()


class Utf8Test(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = mmtest.Server()

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def login(self):
        return self.srv.imap(*ALICE)

    def raw(self, m, tag, data):
        """Sends data (bytes, whole lines); the lines up to the tagged one."""
        m.send(data)
        out = []
        while not out or not out[-1].startswith(tag + b" "):
            out.append(m.readline().rstrip(b"\r\n"))
        return out

    def utf8(self):
        m = self.login()
        typ, data = m.capability()
        self.assertIn(b"UTF8=ACCEPT", data[0].split())
        typ, data = m.enable("UTF8=ACCEPT")
        self.assertEqual(typ, "OK")
        self.assertEqual(m.untagged_responses.pop("ENABLED", None), [b"UTF8=ACCEPT"])
        return m

    def test_mailbox_names(self):
        o = self.login()
        o.delete("&AOQ-bc")
        self.assertEqual(o.create("&AOQ-bc")[0], "OK")
        m = self.utf8()
        for name in ("Entw\u00fcrfe", "a&b", "\u20ac/\U0001f4e7"):
            m.delete('"%s"' % name)
        lines = self.raw(m, b"c1", 'c1 CREATE "Entw\u00fcrfe"\r\n'.encode())
        self.assertTrue(lines[-1].startswith(b"c1 OK"), lines)
        # '&' is a plain character now, and so are 4-byte sequences
        self.assertTrue(self.raw(m, b"c2", b'c2 CREATE "a&b"\r\n')[-1].startswith(b"c2 OK"))
        lines = self.raw(m, b"c3", 'c3 CREATE "\u20ac/\U0001f4e7"\r\n'.encode())
        self.assertTrue(lines[-1].startswith(b"c3 OK"), lines)
        lines = self.raw(m, b"l1", b'l1 LIST "" "*"\r\n')
        self.assertIn('* LIST (\\HasNoChildren) "/" "\u00e4bc"'.encode(), lines)
        self.assertIn('* LIST (\\HasNoChildren) "/" "Entw\u00fcrfe"'.encode(), lines)
        self.assertIn(b'* LIST (\\HasNoChildren) "/" a&b', lines)
        self.assertIn('* LIST (\\HasNoChildren) "/" "\u20ac/\U0001f4e7"'.encode(), lines)
        self.assertFalse([ln for ln in lines if b"&AOQ-" in ln or b"&APw-" in ln], lines)
        # a pattern in UTF-8
        lines = self.raw(m, b"l2", 'l2 LIST "" "Entw\u00fc*"\r\n'.encode())
        self.assertEqual(len(lines), 2, lines)
        lines = self.raw(m, b"s1", 's1 STATUS "\u00e4bc" (MESSAGES)\r\n'.encode())
        self.assertIn('* STATUS "\u00e4bc" (MESSAGES 0)'.encode(), lines)
        lines = self.raw(m, b"s2", 's2 SELECT "\u00e4bc"\r\n'.encode())
        self.assertTrue(lines[-1].startswith(b"s2 OK"), lines)
        # only valid UTF-8 in a quoted string
        lines = self.raw(m, b"b1", b'b1 STATUS "\xff\xfe" (MESSAGES)\r\nb2 NOOP\r\n')
        self.assertTrue(lines[-1].startswith(b"b1 BAD"), lines)
        self.assertTrue(self.raw(m, b"b2", b"")[-1].startswith(b"b2 OK"))
        m.logout()
        # the same mailboxes for a client without UTF8=ACCEPT: modified UTF-7
        typ, data = o.list('""', "*")
        self.assertIn(b'(\\HasNoChildren) "/" Entw&APw-rfe', data)
        self.assertIn(b'(\\HasNoChildren) "/" a&-b', data)
        self.assertIn(b'(\\HasNoChildren) "/" &IKw-/&2D3c5w-', data)
        o.logout()

    def test_append_utf8_and_fetch(self):
        m = self.utf8()
        m.delete('"Gr\u00fc\u00dfe"')
        self.assertTrue(self.raw(m, b"c", 'c CREATE "Gr\u00fc\u00dfe"\r\n'.encode())[-1]
                        .startswith(b"c OK"))
        # UTF8 (~{n}) with a synchronizing literal8, then a LITERAL+ one
        out = self.raw(m, b"+", 'a1 APPEND "Gr\u00fc\u00dfe" (\\Seen) UTF8 (~{%d}\r\n'
                       .encode() % len(MSG8))
        self.assertTrue(out[-1].startswith(b"+"), out)
        out = self.raw(m, b"a1", MSG8 + b")\r\n")
        self.assertRegex(out[-1], rb"^a1 OK \[APPENDUID \d+ 1\]")
        out = self.raw(m, b"a2", 'a2 APPEND "Gr\u00fc\u00dfe" UTF8 (~{%d+}\r\n'
                       .encode() % len(MSG8) + MSG8 + b")\r\n")
        self.assertRegex(out[-1], rb"^a2 OK \[APPENDUID \d+ 2\]")
        # malformed UTF8 data items: BAD
        for bad in (b"UTF8 ~{3+}\r\nabc", b"UTF8 ({3+}\r\nabc)", b"UTF8 ()"):
            out = self.raw(m, b"a3", b'a3 APPEND INBOX ' + bad + b"\r\n")
            self.assertTrue(out[-1].startswith(b"a3 BAD"), (bad, out))
        # SEARCH takes UTF-8 without CHARSET; CHARSET is refused (RFC 6855 3)
        out = self.raw(m, b"s0", 's0 SELECT "Gr\u00fc\u00dfe"\r\n'.encode())
        self.assertTrue(out[-1].startswith(b"s0 OK"), out)
        m.state = "SELECTED"    # imaplib did not see the SELECT
        out = self.raw(m, b"s1", 's1 UID SEARCH SUBJECT "gr\u00fc\u00dfe aus"\r\n'.encode())
        self.assertIn(b"* SEARCH 1 2", out)
        out = self.raw(m, b"s2", b"s2 SEARCH CHARSET UTF-8 ALL\r\n")
        self.assertTrue(out[-1].startswith(b"s2 BAD"), out)
        # headers and ENVELOPE as stored, the message intact
        typ, data = m.uid("FETCH", "1", "(BODY.PEEK[] BODY.PEEK[HEADER] ENVELOPE)")
        self.assertEqual(typ, "OK")
        blob = b"".join(x if isinstance(x, bytes) else b"".join(x) for x in data)
        self.assertIn(MSG8, blob)
        self.assertIn(HDR8 + b"\r\n", blob)
        env = blob[blob.index(b"ENVELOPE"):]
        for want in ("Gr\u00fc\u00dfe aus K\u00f6ln", "J\u00f6rg", "j\u00f6rg",
                     "b\u00fccher.example", "<utf8-1@b\u00fccher.example>"):
            self.assertIn(want.encode(), env, want)
        m.logout()
        # a client without UTF8=ACCEPT gets the same bytes
        o = self.login()
        o.select("Gr&APwA3w-e")
        typ, data = o.uid("FETCH", "2", "(BODY.PEEK[])")
        self.assertEqual(data[0][1], MSG8)
        o.logout()

    def test_enable_when_selected(self):
        # RFC 6855 3: ENABLE UTF8=ACCEPT only in the authenticated state;
        # in the selected state it is not enabled and names stay mUTF-7
        o = self.login()
        o.delete("Sel&APw-")
        o.create("Sel&APw-")
        o.select("INBOX")
        o.state = "AUTH"    # imaplib itself would not send it
        typ, _ = o._simple_command("ENABLE", "UTF8=ACCEPT")
        o.state = "SELECTED"
        self.assertEqual(typ, "OK")
        self.assertEqual(o.untagged_responses.pop("ENABLED", None), [b""])
        typ, data = o.list('""', "Sel*")
        self.assertEqual(data, [b'(\\HasNoChildren) "/" Sel&APw-'])
        o.logout()


if __name__ == "__main__":
    unittest.main(verbosity=2)
