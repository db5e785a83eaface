#!/usr/bin/env python3
"""A milter for test_milter.py, built on pymilter (Debian's python3-milter:
Sendmail's own libmilter does the protocol). Usage: milter_tagger.py PORT.

At the end of each message it adds "X-Milter-Seen: yes" and the queue id
it was told, and by the Subject:
  "spam ..."        reject with 550 5.7.1 spam detected
  "later ..."       tempfail
  "quarantine ..."  quarantine (the MTA files it into Junk)
  "replace ..."     replace the body and change the Subject
  "drop ..."        discard
Recipients "refuse-me@..." are refused at RCPT."""
import sys

import Milter


class Tagger(Milter.Base):
    def __init__(self):
        self.subject = ""

    def envrcpt(self, to, *params):
        if to.strip("<>").startswith("refuse-me@"):
            self.setreply("550", "5.1.1", "not this one")
            return Milter.REJECT
        return Milter.CONTINUE

    def header(self, name, value):
        if name.lower() == "subject":
            self.subject = value
        return Milter.CONTINUE

    def eom(self):
        self.addheader("X-Milter-Seen", "yes")
        self.addheader("X-Milter-Queue-Id", self.getsymval("i") or "none")
        if self.subject.startswith("spam"):
            self.setreply("550", "5.7.1", "spam detected")
            return Milter.REJECT
        if self.subject.startswith("later"):
            return Milter.TEMPFAIL
        if self.subject.startswith("drop"):
            return Milter.DISCARD
        if self.subject.startswith("quarantine"):
            self.quarantine("looks bad")
        if self.subject.startswith("replace"):
            self.replacebody(b"the milter wrote this body\r\n")
            self.chgheader("Subject", 1, "[filtered] " + self.subject)
        return Milter.ACCEPT


def main():
    port = int(sys.argv[1])
    Milter.factory = Tagger
    Milter.set_flags(Milter.ADDHDRS | Milter.CHGBODY | Milter.CHGHDRS | Milter.QUARANTINE)
    Milter.runmilter("tagger", "inet:%d@127.0.0.1" % port, 60)


if __name__ == "__main__":
    main()
