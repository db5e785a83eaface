"""mmdns: a small authoritative-looking DNS server on loopback for the
end-to-end tests (dnslib does the wire format).

    zone = {
        "example.test": {"MX": [(10, "mx.example.test")],
                         "TXT": ["v=spf1 mx -all", ["part one", "part two"]]},
        "mx.example.test": {"A": ["127.0.0.1"], "AAAA": ["::1"]},
        "alias.test": {"CNAME": "example.test"},
        "4.3.2.1.in-addr.arpa": {"PTR": ["mail.example.test"]},
        "_25._tcp.mx.example.test": {"TLSA": [(3, 1, 1, "ab12...")]},
        "gone.test": "NXDOMAIN",          # or "SERVFAIL", "STALL", "REFUSED"
    }
    with DnsServer(zone, ad={"_25._tcp.mx.example.test"}) as dns:
        conf = "[dns]\\nnameservers = 127.0.0.1:%d\\n" % dns.port

A TXT value is a string (one character-string, split at 255 bytes) or a
list of strings (one record of several character-strings). A name missing
from the zone is NXDOMAIN; a known name without the asked type is NODATA.
ad: names whose answers carry the AD bit (or ad=True for every answer).
stall=True never answers anything (the "DNS outage" test). UDP and TCP on
the same free port; answers too large for 512 bytes (without EDNS0, or
larger than the client's EDNS0 size) are truncated over UDP (TC), so the
client retries over TCP. queries: every (name, type, transport) asked."""
import socket
import struct
import threading

from dnslib import (AAAA, CNAME, MX, PTR, QTYPE, RCODE, RR, TXT, A, DNSRecord,
                    RD)


class TLSA(RD):
    """RFC 6698 2.1: usage, selector, matching type, association data."""

    def __init__(self, usage, selector, mtype, data):
        self.usage, self.selector, self.mtype = usage, selector, mtype
        self.data = bytes.fromhex(data) if isinstance(data, str) else bytes(data)

    def pack(self, buffer):
        buffer.pack("!BBB", self.usage, self.selector, self.mtype)
        buffer.append(self.data)

    def __repr__(self):
        return "%d %d %d %s" % (self.usage, self.selector, self.mtype, self.data.hex())


TLSA_TYPE = 52


def _txt(value):
    parts = value if isinstance(value, (list, tuple)) else [value]
    chunks = []
    for p in parts:
        b = p.encode() if isinstance(p, str) else bytes(p)
        if not b:
            chunks.append(b"")
        while b:
            chunks.append(b[:255])
            b = b[255:]
    return TXT(chunks)


class DnsServer:
    def __init__(self, zone=None, ad=(), stall=False, ttl=60, port=0):
        self.zone = {k.lower().rstrip("."): v for k, v in (zone or {}).items()}
        self.ad = ad
        self.stall = stall
        self.ttl = ttl
        self.queries = []
        self.lock = threading.Lock()
        # UDP and TCP on one port, both ours: a random UDP port whose TCP
        # twin belongs to another test's listener would send the
        # resolver's TCP retries there ("name server closed the TCP
        # connection"), so such a port is given back and another taken.
        # With a fixed port, a TCP port already taken means UDP only.
        for attempt in range(50):
            self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.udp.bind(("127.0.0.1", port))
            self.port = self.udp.getsockname()[1]
            self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                self.tcp.bind(("127.0.0.1", self.port))
            except OSError:
                self.tcp.close()
                self.tcp = None
                if port == 0 and attempt < 49:
                    self.udp.close()
                    continue
            else:
                self.tcp.listen(16)
            break
        self.running = False
        self.threads = []

    # ---- answers ----

    def set(self, name, value):
        with self.lock:
            self.zone[name.lower().rstrip(".")] = value

    def _ad(self, name):
        if self.ad is True:
            return True
        return name in {n.lower().rstrip(".") for n in self.ad}

    def _add(self, reply, name, qtype, value):
        t = self.ttl
        if qtype == "A":
            for v in value:
                reply.add_answer(RR(name, QTYPE.A, rdata=A(v), ttl=t))
        elif qtype == "AAAA":
            for v in value:
                reply.add_answer(RR(name, QTYPE.AAAA, rdata=AAAA(v), ttl=t))
        elif qtype == "MX":
            for pref, host in value:
                reply.add_answer(RR(name, QTYPE.MX, rdata=MX(host, pref), ttl=t))
        elif qtype == "TXT":
            for v in value:
                reply.add_answer(RR(name, QTYPE.TXT, rdata=_txt(v), ttl=t))
        elif qtype == "PTR":
            for v in value:
                reply.add_answer(RR(name, QTYPE.PTR, rdata=PTR(v), ttl=t))
        elif qtype == "TLSA":
            for u, s, m, d in value:
                reply.add_answer(RR(name, TLSA_TYPE, rdata=TLSA(u, s, m, d), ttl=t))

    def answer(self, req):
        q = req.q
        name = str(q.qname).lower().rstrip(".")
        qtype = QTYPE.get(q.qtype, str(q.qtype))
        if q.qtype == TLSA_TYPE:
            qtype = "TLSA"
        reply = req.reply()
        reply.header.ra = 1
        reply.header.ad = 0         # reply() copies the query's flags, AD included
        with self.lock:
            node = self.zone.get(name)
            depth = 0
            while isinstance(node, dict) and "CNAME" in node and qtype != "CNAME" \
                    and depth < 8:
                target = node["CNAME"].lower().rstrip(".")
                reply.add_answer(RR(name, QTYPE.CNAME, rdata=CNAME(target), ttl=self.ttl))
                name = target
                node = self.zone.get(name)
                depth += 1
            if node is None:
                reply.header.rcode = RCODE.NXDOMAIN
            elif node == "STALL":
                return None
            elif isinstance(node, str):
                reply.header.rcode = getattr(RCODE, node)
            elif qtype in node:
                self._add(reply, name, qtype, node[qtype])
            if self._ad(str(q.qname)) or self._ad(name):
                reply.header.ad = 1
        return reply

    # ---- transports ----

    def _udp_loop(self):
        while self.running:
            try:
                data, addr = self.udp.recvfrom(65535)
            except OSError:
                return
            try:
                req = DNSRecord.parse(data)
            except Exception:
                continue
            with self.lock:
                self.queries.append((str(req.q.qname).rstrip("."),
                                     QTYPE.get(req.q.qtype, req.q.qtype), "udp"))
            if self.stall:
                continue
            reply = self.answer(req)
            if reply is None:
                continue
            out = reply.pack()
            limit = 512
            for ar in req.ar:
                if ar.rtype == QTYPE.OPT:
                    limit = max(512, ar.rclass)
            if len(out) > limit:
                reply = req.reply()
                reply.header.tc = 1
                out = reply.pack()
            try:
                self.udp.sendto(out, addr)
            except OSError:
                pass

    def _tcp_conn(self, c):
        with c:
            c.settimeout(10)
            try:
                while self.running:
                    hdr = c.recv(2, socket.MSG_WAITALL)
                    if len(hdr) < 2:
                        return
                    n = struct.unpack("!H", hdr)[0]
                    data = c.recv(n, socket.MSG_WAITALL)
                    req = DNSRecord.parse(data)
                    with self.lock:
                        self.queries.append((str(req.q.qname).rstrip("."),
                                             QTYPE.get(req.q.qtype, req.q.qtype), "tcp"))
                    if self.stall:
                        continue
                    reply = self.answer(req)
                    if reply is None:
                        continue
                    out = reply.pack()
                    c.sendall(struct.pack("!H", len(out)) + out)
            except Exception:
                return

    def _tcp_loop(self):
        while self.running:
            try:
                c, _ = self.tcp.accept()
            except OSError:
                return
            threading.Thread(target=self._tcp_conn, args=(c,), daemon=True).start()

    def start(self):
        self.running = True
        loops = [self._udp_loop] + ([self._tcp_loop] if self.tcp else [])
        for fn in loops:
            t = threading.Thread(target=fn, daemon=True)
            t.start()
            self.threads.append(t)
        return self

    def stop(self):
        self.running = False
        for s in (self.udp, self.tcp):
            if s is None:
                continue
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        for t in self.threads:
            t.join(5)

    def asked(self, name, qtype=None):
        name = name.lower().rstrip(".")
        with self.lock:
            return [q for q in self.queries
                    if q[0].lower() == name and (qtype is None or q[1] == qtype)]

    def asked_all(self):
        with self.lock:
            return list(self.queries)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


if __name__ == "__main__":
    import sys
    import time
    z = {"example.test": {"MX": [(10, "mx.example.test")], "TXT": ["x" * 300]},
         "mx.example.test": {"A": ["127.0.0.1"]}}
    with DnsServer(z, ad=True) as d:
        print("listening on 127.0.0.1:%d" % d.port)
        sys.stdout.flush()
        time.sleep(float(sys.argv[1]) if len(sys.argv) > 1 else 3600)
