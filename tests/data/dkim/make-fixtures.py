#!/usr/bin/python3
# make-fixtures.py: the DKIM verification fixtures of tests/check_dkim_crypto.c,
# signed by dkimpy (Debian python3-dkim), the reference implementation, with
# the test keys in this directory (made for the tests, never used elsewhere).
# Writes NAME.eml (CRLF) and keys.txt (one "NAME TXT-DATA" line per key
# record). Run it again only to change the fixtures; they are committed.
import base64
import os
import subprocess

import dkim

HERE = os.path.dirname(os.path.abspath(__file__))
DOMAIN = b"example.com"

MSG = (b"From: Joe SixPack <joe@example.com>\r\n"
       b"To: Suzie Q <suzie@shopping.example.net>\r\n"
       b"Subject: Is dinner\r\n ready?\r\n"
       b"Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n"
       b"Message-ID: <20030712040037.46341.5F8J@example.com>\r\n"
       b"\r\n"
       b"Hi.\r\n"
       b"\r\n"
       b"We lost the game.  Are you   hungry yet?  \r\n"
       b"\r\n"
       b"Joe.\r\n"
       b"\r\n\r\n")


def der(path, *args):
    return subprocess.run(["openssl", "pkey", "-in", os.path.join(HERE, path),
                           "-outform", "DER"] + list(args), check=True,
                          capture_output=True).stdout


def rsa_pem(name):
    with open(os.path.join(HERE, name), "rb") as f:
        return f.read()


records = {}


def rsa_record(sel, keyfile):
    pub = der(keyfile, "-pubout")
    records[sel] = b"v=DKIM1; k=rsa; p=" + base64.b64encode(pub)


ed_seed = der("ed25519.key")[-32:]
ed_pub = der("ed25519.key", "-pubout")[-32:]
records[b"ed"] = b"v=DKIM1; k=ed25519; p=" + base64.b64encode(ed_pub)
rsa_record(b"r2048", "rsa2048.key")
rsa_record(b"r1024", "rsa1024.key")
rsa_record(b"r512", "rsa512.key")
records[b"revoked"] = b"v=DKIM1; k=rsa; p="
records[b"badkey"] = b"v=DKIM1; k=rsa; p=AAAA"


def sign(sel, alg, canon, key, length=False, msg=MSG):
    sig = dkim.sign(msg, sel, DOMAIN, key, canonicalize=canon,
                    signature_algorithm=alg, length=length,
                    include_headers=[b"from", b"to", b"subject", b"date",
                                     b"message-id"])
    return sig + msg


def write(name, data):
    with open(os.path.join(HERE, name + ".eml"), "wb") as f:
        f.write(data)


ed_key = base64.b64encode(ed_seed)
write("rsa-relaxed", sign(b"r2048", b"rsa-sha256", (b"relaxed", b"relaxed"), rsa_pem("rsa2048.key")))
write("rsa-simple", sign(b"r2048", b"rsa-sha256", (b"simple", b"simple"), rsa_pem("rsa2048.key")))
write("ed-relaxed-simple", sign(b"ed", b"ed25519-sha256", (b"relaxed", b"simple"), ed_key))
write("ed-simple-relaxed", sign(b"ed", b"ed25519-sha256", (b"simple", b"relaxed"), ed_key))
write("rsa1024", sign(b"r1024", b"rsa-sha256", (b"relaxed", b"relaxed"), rsa_pem("rsa1024.key")))
write("rsa512", sign(b"r512", b"rsa-sha256", (b"relaxed", b"relaxed"), rsa_pem("rsa512.key")))
write("revoked", sign(b"revoked", b"rsa-sha256", (b"relaxed", b"relaxed"), rsa_pem("rsa2048.key")))
write("badkey", sign(b"badkey", b"rsa-sha256", (b"relaxed", b"relaxed"), rsa_pem("rsa2048.key")))
write("nokey", sign(b"nokey", b"rsa-sha256", (b"relaxed", b"relaxed"), rsa_pem("rsa2048.key")))
# l=: the signed body, then text added after signing (still passes, reported)
write("rsa-l", sign(b"r2048", b"rsa-sha256", (b"relaxed", b"relaxed"), rsa_pem("rsa2048.key"),
                    length=True) + b"Appended after signing.\r\n")
# two signatures, one per algorithm, as minimaild sends
both = sign(b"ed", b"ed25519-sha256", (b"relaxed", b"relaxed"), ed_key)
both = dkim.sign(both, b"r2048", DOMAIN, rsa_pem("rsa2048.key"),
                 canonicalize=(b"relaxed", b"relaxed"),
                 include_headers=[b"from", b"to", b"subject"]) + both
write("both", both)
# altered after signing: the body, and a signed header
good = sign(b"r2048", b"rsa-sha256", (b"relaxed", b"relaxed"), rsa_pem("rsa2048.key"))
write("altered-body", good.replace(b"hungry", b"HUNGRY"))
write("altered-header", good.replace(b"Is dinner", b"Is lunch"))
# relaxed survives re-folding and white space changes
write("rsa-refolded", good.replace(b"Subject: Is dinner\r\n ready?", b"Subject:   Is dinner ready?")
      .replace(b"Are you   hungry", b"Are you hungry"))
with open(os.path.join(HERE, "keys.txt"), "wb") as f:
    for sel, rec in sorted(records.items()):
        f.write(sel + b"._domainkey." + DOMAIN + b" " + rec + b"\n")
print("ok")
