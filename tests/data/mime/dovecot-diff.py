#!/usr/bin/env python3
"""Compare src/mail's FETCH answers with Dovecot's, message by message.

Usage: dovecot-diff.py CHECK_MIME_BINARY [WORKDIR]

Runs `check_mime --dump WORKDIR/ours` (the corpus plus our answers), puts
the same messages in a Maildir and asks Debian's dovecot-imapd (run as a
PREAUTH imap process on stdin/stdout: no daemon, no network port) for
BODYSTRUCTURE, BODY, ENVELOPE and the BODY.PEEK[section]s of the dump.
BODYSTRUCTURE/BODY compare case-insensitively (we write types, parameter
names and encodings upper case as RFC 3501 does, Dovecot keeps the case
of the header); everything else byte for byte. Prints one line per
difference and a closing 'N passed, N failed' line.
"""
import os
import re
import shutil
import subprocess
import sys

IMAP = "/usr/lib/dovecot/imap"


def read_item(data, pos):
    """Read an IMAP response line with its literals from pos."""
    out = b""
    while True:
        nl = data.index(b"\r\n", pos)
        line = data[pos:nl + 2]
        pos = nl + 2
        m = re.search(rb"\{(\d+)\}\r\n$", line)
        if m:
            n = int(m.group(1))
            out += line + data[pos:pos + n]
            pos += n
            continue
        out += line
        return out, pos


def tokens(v):
    """An IMAP value as a list of tokens, strings decoded (quoted and
    literal forms compare equal), atoms upper-cased when fold is set."""
    out = []
    i = 0
    while i < len(v):
        c = v[i:i + 1]
        if c in (b" ",):
            i += 1
        elif c in (b"(", b")"):
            out.append(c)
            i += 1
        elif c == b'"':
            j = i + 1
            s = b""
            while j < len(v) and v[j:j + 1] != b'"':
                if v[j:j + 1] == b"\\":
                    j += 1
                s += v[j:j + 1]
                j += 1
            out.append(("S", s))
            i = j + 1
        elif c == b"{":
            j = v.index(b"}", i)
            n = int(v[i + 1:j])
            start = j + 3
            out.append(("S", v[start:start + n]))
            i = start + n
        else:
            j = i
            while j < len(v) and v[j:j + 1] not in (b" ", b"(", b")"):
                j += 1
            out.append(v[i:j])
            i = j
    return out


def fold(toks):
    return [(t[0], t[1].lower()) if isinstance(t, tuple) else t.lower() for t in toks]


# Differences we keep on purpose, each with the reason (RFC text).
KNOWN = {
    ("029", "ENVELOPE"): "Dovecot makes MISSING_MAILBOX entries for empty list "
        "elements ', ,'; RFC 5322 4.4 obs-addr-list: such elements are "
        "ignored (\"null\" members)",
    ("032", "BODYSTRUCTURE"): "Content-Type: text (no subtype): RFC 2045 5.2 "
        "'default to text/plain; charset=us-ascii' for a syntactically invalid "
        "Content-Type; Dovecot says (\"text\" \"\")",
    ("032", "BODY"): "same as BODYSTRUCTURE",
    ("047", "BODYSTRUCTURE"): "unquoted boundary=----=_NextPart...: RFC 2045 "
        "tokens stop at '=', Dovecot cuts it to '----'; we take the whole run "
        "(what the sender meant, RFC 1123 5.3 robustness)",
    ("047", "BODY"): "same as BODYSTRUCTURE",
    ("047", "BODY[1.1]"): "same",
    ("047", "BODY[1.1.MIME]"): "same",
    ("033", "BODYSTRUCTURE"): "base64 message/rfc822: the CRLF before the "
        "delimiter belongs to the delimiter (RFC 2046 5.1.1); Dovecot adds it "
        "to this part (34 bytes, 1 line)",
    ("033", "BODY"): "same",
    ("033", "BODY[1]"): "same",
    ("033", "BODY[1.HEADER]"): "an encoded message/rfc822 is not parsed: "
        "no encapsulated header (RFC 2046 5.2.1: 7bit/8bit/binary only)",
    ("033", "BODY[1.1.MIME]"): "same",
    ("033", "BODY[1.1]"): "same",
    ("059", "BODYSTRUCTURE"): "charset*=utf-8''utf-8 alone: RFC 2231 4 makes "
        "it the charset parameter (value utf-8), which we also say as a plain "
        "CHARSET \"utf-8\" for clients; Dovecot adds the default \"us-ascii\", "
        "contradicting it (and lists plain parameters before extended ones)",
    ("059", "BODY"): "same as BODYSTRUCTURE",
    ("023", "BODY[HEADER.FIELDS (FROM SUBJECT)]"): "empty message: no header "
        "and no empty line, so nothing to return (Dovecot answers CRLF here but "
        "\"\" for HEADER.FIELDS.NOT)",
}


def parse_ours(path):
    d = open(path, "rb").read()
    res = {}
    pos = 0
    while pos < len(d):
        if d.startswith(b"BODY[", pos):
            sp = d.index(b"] ", pos)
            key = d[pos:sp + 1].decode()
            pos = sp + 2
            m = re.match(rb"\{(\d+)\}\r\n", d[pos:])
            if m:
                n = int(m.group(1))
                start = pos + m.end()
                res[key] = d[start:start + n]
                pos = start + n + 1
            else:
                nl = d.index(b"\n", pos)
                res[key] = None  # error: Dovecot should say "" or NIL
                pos = nl + 1
        else:
            nl = d.index(b"\n", pos)
            # the value may hold literals with CRLF: find "\n" after the
            # structure by reading line-wise until the next keyword
            line = d[pos:nl]
            k, v = line.split(b" ", 1)
            while not (d.startswith(b"BODY", nl + 1) or d.startswith(b"ENVELOPE", nl + 1)) and nl + 1 < len(d):
                nl2 = d.index(b"\n", nl + 1)
                v += d[nl:nl2]
                nl = nl2
            res[k.decode()] = v
            pos = nl + 1
    return res


def main():
    binary = sys.argv[1]
    work = sys.argv[2] if len(sys.argv) > 2 else "/tmp/mime-dovecot-diff"
    shutil.rmtree(work, ignore_errors=True)
    ours = os.path.join(work, "ours")
    os.makedirs(ours)
    subprocess.run([binary, "--dump", ours], check=True)
    md = os.path.join(work, "Maildir")
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(md, sub))
    names = sorted(f[:-4] for f in os.listdir(ours) if f.endswith(".eml"))
    for i, n in enumerate(names):
        shutil.copy(os.path.join(ours, n + ".eml"),
                    os.path.join(md, "cur", "%d.%s.test:2," % (1000000 + i, n)))
    conf = os.path.join(work, "dovecot.conf")
    with open(conf, "w") as f:
        f.write("protocols = imap\nssl = no\nmail_location = maildir:%s\n"
                "log_path = %s/dovecot.log\nbase_dir = %s/run\nstate_dir = %s/state\n"
                "first_valid_uid = 1\nmail_uid = nobody\nmail_gid = nogroup\n"
                "passdb {\n driver = static\n args = password=x\n}\n"
                "userdb {\n driver = static\n args = uid=nobody gid=nogroup home=%s\n}\n"
                % (md, work, work, work, work))
    for d in ("run", "state"):
        os.makedirs(os.path.join(work, d))
    subprocess.run(["chown", "-R", "nobody:nogroup", work], check=True)
    parsed = {n: parse_ours(os.path.join(ours, n + ".out")) for n in names}
    cmds = [b"s SELECT INBOX\r\n"]
    items = []
    for i, n in enumerate(names):
        for key in parsed[n]:
            item = key.replace("BODY[", "BODY.PEEK[") if key.startswith("BODY[") else key
            tag = "t%d" % len(items)
            items.append((n, key, tag))
            cmds.append(("%s FETCH %d (%s)\r\n" % (tag, i + 1, item)).encode())
    cmds.append(b"z LOGOUT\r\n")
    env = dict(os.environ, USER="nobody", HOME=work)
    p = subprocess.run([IMAP, "-c", conf], input=b"".join(cmds), capture_output=True, env=env)
    data = p.stdout
    answers = {}
    pos = 0
    while pos < len(data):
        item, pos = read_item(data, pos)
        m = re.match(rb"\* (\d+) FETCH \(", item)
        if not m:
            continue
        body = item[m.end():-3]  # strip ")\r\n"
        key, _, val = body.partition(b" ")
        if key.startswith(b"BODY["):
            # BODY[...] keys may contain spaces: split at "] "
            k2, _, val = body.partition(b"] ")
            key = k2 + b"]"
        answers.setdefault(int(m.group(1)), []).append((key.decode(), val))
    passed = failed = known = 0
    for i, n in enumerate(names):
        got = answers.get(i + 1, [])
        gi = 0
        for key in parsed[n]:
            mine = parsed[n][key]
            theirs = None
            for k, v in got:
                if k.upper() == key.upper():
                    theirs = v
                    break
            if key.startswith("BODY["):
                if theirs is not None:
                    mm = re.match(rb"\{(\d+)\}\r\n", theirs)
                    if mm:
                        theirs = theirs[mm.end():]
                    elif theirs == b"NIL" or theirs == b'""':
                        theirs = b""
                    elif theirs.startswith(b'"'):
                        theirs = theirs[1:-1]
                ok = (mine or b"") == (theirs or b"")
            elif key in ("BODYSTRUCTURE", "BODY"):
                ok = theirs is not None and fold(tokens(mine)) == fold(tokens(theirs))
            else:
                ok = theirs is not None and tokens(mine) == tokens(theirs)
            if not ok and (n, key) in KNOWN:
                known += 1
                continue
            if ok:
                passed += 1
            else:
                failed += 1
                print("DIFF %s %s\n  ours:    %r\n  dovecot: %r" % (n, key, mine, theirs))
    print("%d known differences (see KNOWN)" % known)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
