#!/usr/bin/python3
"""Checks for examples/forwarder.c, run by tests/forwarder.sh with Debian's
/usr/bin/python3 (python3-protobuf). The dnstap files are decoded with
Google's protobuf library, from a module that protoc generates from
dnstap.proto at run time (tests/check_pb.py's load_schema and its strict
Frame Streams parser), and with golang-dnstap's `dnstap -r FILE -y` / `-j`.

    check_forwarder.py events CONFIG.json   the taps' files hold exactly the
                                            expected events (see below)
    check_forwarder.py query HOST PORT udp|tcp NAME QTYPE
                                            one query, prints rcode + answers
    check_forwarder.py load HOST PORT N     N UDP queries one after the other;
                                            all must be answered
    check_forwarder.py burst HOST PORT      40 UDP queries in flight at once
                                            (2 never answered upstream), and
                                            3 pipelined on one TCP connection
    check_forwarder.py count FILE           data frames in a dnstap file
    check_forwarder.py freeport             a free TCP port on 127.0.0.1

CONFIG for `events`: {"t0": ns, "t1": ns, "upstream": [ip, port],
 "listeners": {"INET": [ip, port], "INET6": [ip, port]},
 "queries": [{"name", "qtype", "proto", "family", "answered"}...],
 "taps": [{"file", "full", "identity", "version", "extra"}...]}; the first
tap must be full. For each expected query the full tap must hold one
CLIENT_QUERY, FORWARDER_QUERY, FORWARDER_RESPONSE (not for a query the
upstream never answers) and CLIENT_RESPONSE, in that order, and nothing
else; addresses, ports, protocols, times and messages are checked against
each other, against the window [t0, t1], and the upstream's answer bytes
against a direct query to it with the same query bytes. Every other tap
must hold the same events, field for field, without the DNS messages when
it is not full.

Prints "PASS: name" / "FAIL: name: why"; exit status 1 if anything failed.
"""

import datetime
import ipaddress
import json
import os
import random
import socket
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, HERE)
import check_pb  # noqa: E402  (read_frames, load_schema)

failures = 0


def report(ok, name, why=""):
    global failures
    if ok:
        print(f"PASS: {name}")
    else:
        failures += 1
        print(f"FAIL: {name}: {why}")
    sys.stdout.flush()
    return ok


# ---- DNS ----------------------------------------------------------------

TYPES = {"A": 1, "NS": 2, "SOA": 6, "MX": 15, "TXT": 16, "AAAA": 28}


def make_query(name, qtype, qid=None, rd=True):
    qid = random.randrange(65536) if qid is None else qid
    wire = b"".join(bytes([len(label)]) + label.encode() for label in name.rstrip(".").split(".")) + b"\0"
    return struct.pack(">HHHHHH", qid, 0x0100 if rd else 0, 1, 0, 0, 0) + wire + struct.pack(">HH", qtype, 1)


def question(msg):
    """(qname lower case with trailing dot, qtype, end offset) of the first question."""
    p, labels = 12, []
    while msg[p]:
        n = msg[p]
        labels.append(msg[p + 1:p + 1 + n].decode("ascii", "replace").lower())
        p += 1 + n
    return ".".join(labels) + ".", struct.unpack_from(">H", msg, p + 1)[0], p + 5


def exchange(host, port, proto, query, timeout=3.0):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    if proto == "udp":
        with socket.socket(fam, socket.SOCK_DGRAM) as s:
            s.settimeout(timeout)
            s.sendto(query, (host, port))
            while True:
                r, _ = s.recvfrom(65535)
                if r[:2] == query[:2]:
                    return r
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(struct.pack(">H", len(query)) + query)
        return read_tcp(s)


def read_exact(s, n):
    b = b""
    while len(b) < n:
        k = s.recv(n - len(b))
        if not k:
            raise EOFError("connection closed")
        b += k
    return b


def read_tcp(s):
    n = struct.unpack(">H", read_exact(s, 2))[0]
    return read_exact(s, n)


# ---- events ---------------------------------------------------------------

def ns(sec, nsec):
    return sec * 1_000_000_000 + nsec


def ip_bytes(ip):
    return ipaddress.ip_address(ip).packed


def load_events(pb, path, name):
    """Decode a dnstap file strictly; returns a list of Dnstap messages."""
    with open(path, "rb") as f:
        data = f.read()
    frames, err = check_pb.read_frames(data)
    report(err is None, f"{name}: Frame Streams (START, {len(frames)} data frames, STOP)", err or "")
    out, errs = [], []
    for i, payload in enumerate(frames):
        d = pb.Dnstap()
        try:
            d.ParseFromString(payload)
        except Exception as e:
            errs.append(f"frame {i + 1}: {e}")
            continue
        if not d.IsInitialized():
            errs.append(f"frame {i + 1}: missing " + ", ".join(d.FindInitializationErrors()))
        if d.SerializeToString() != payload:
            errs.append(f"frame {i + 1}: re-encoded by protobuf, the payload differs")
        out.append(d)
    report(not errs, f"{name}: every payload decodes with protobuf and re-encodes to the same bytes",
           "; ".join(errs[:5]))
    return out


def check_golang(pb, path, name, events, full):
    """`dnstap -r -j` and `-y` agree with the protobuf decode."""
    r = subprocess.run(["dnstap", "-r", path, "-j"], capture_output=True, text=True)
    stderr = [l for l in r.stderr.splitlines() if l.strip()]
    report(len(stderr) == 1 and stderr[0].startswith("dnstap: opened input file"),
           f"{name}: dnstap -r -j: stderr is only 'dnstap: opened input file'", repr(stderr[:3]))
    lines = [l for l in r.stdout.splitlines() if l.strip()]
    errs = []
    if len(lines) != len(events):
        errs.append(f"{len(lines)} JSON objects, {len(events)} frames")
    M = pb.Message
    for i, (line, d) in enumerate(zip(lines, events)):
        j = json.loads(line)
        m, jm = d.message, j.get("message", {})
        want = {
            "type": M.Type.Name(m.type),
            "socket_family": pb.SocketFamily.Name(m.socket_family),
            "socket_protocol": pb.SocketProtocol.Name(m.socket_protocol),
            "query_address": str(ipaddress.ip_address(m.query_address)) if m.query_address else None,
            "response_address": str(ipaddress.ip_address(m.response_address)) if m.response_address else None,
            "query_port": m.query_port,
            "response_port": m.response_port,
        }
        for k, v in want.items():
            if jm.get(k) != v:
                errs.append(f"#{i + 1} {k}: json {jm.get(k)!r}, protobuf {v!r}")
        for which in ("query", "response"):
            if m.HasField(which + "_time_sec"):
                t = datetime.datetime.fromtimestamp(getattr(m, which + "_time_sec"), datetime.timezone.utc)
                frac = f"{getattr(m, which + '_time_nsec'):09d}".rstrip("0")
                s = t.strftime("%Y-%m-%dT%H:%M:%S") + ("." + frac if frac else "") + "Z"
                if jm.get(which + "_time") != s:
                    errs.append(f"#{i + 1} {which}_time: json {jm.get(which + '_time')!r}, protobuf {s!r}")
            elif which + "_time" in jm:
                errs.append(f"#{i + 1} {which}_time in json only")
            has = m.HasField(which + "_message")
            if has != (which + "_message" in jm):
                errs.append(f"#{i + 1} {which}_message: json {which + '_message' in jm}, protobuf {has}")
            elif has:
                qid = struct.unpack_from(">H", getattr(m, which + "_message"))[0]
                if f"id: {qid}\n" not in jm[which + "_message"]:
                    errs.append(f"#{i + 1} {which}_message: json text lacks id {qid}")
        for k in ("identity", "version", "extra"):   # dnstap -j never shows extra
            if (k != "extra" and d.HasField(k) != (k in j)) or (k in j and j[k] != getattr(d, k).decode()):
                errs.append(f"#{i + 1} {k}: json {j.get(k)!r}, protobuf {getattr(d, k)!r}")
    report(not errs, f"{name}: dnstap -r -j agrees with protobuf on every message", "; ".join(errs[:5]))

    r = subprocess.run(["dnstap", "-r", path, "-y"], capture_output=True, text=True)
    stderr = [l for l in r.stderr.splitlines() if l.strip()]
    docs = [doc for doc in r.stdout.split("\n---\n") if doc.strip()]
    types = [l.split(":")[1].strip() for doc in docs for l in doc.splitlines() if l.startswith("  type: ")]
    wire = sum(1 for doc in docs if "  query_message: |" in doc or "  response_message: |" in doc)
    errs = []
    if not (len(stderr) == 1 and stderr[0].startswith("dnstap: opened input file")):
        errs.append(f"stderr {stderr[:3]!r}")
    if types != [M.Type.Name(d.message.type) for d in events]:
        errs.append(f"message types {types[:8]}... differ from protobuf's")
    if wire != (len(events) if full else 0):
        errs.append(f"{wire} of {len(events)} messages show a DNS message, want {'all' if full else 'none'}")
    report(not errs, f"{name}: dnstap -r -y shows {len(events)} messages, types in order, "
           f"DNS messages {'in each' if full else 'in none'}", "; ".join(errs))


def cmd_events(cfg_path):
    with open(cfg_path) as f:
        cfg = json.load(f)
    pb = check_pb.load_schema(os.path.join(os.path.dirname(HERE), "dnstap.proto"))
    M = pb.Message
    t0, t1 = cfg["t0"], cfg["t1"]
    up_ip, up_port = cfg["upstream"]
    taps = cfg["taps"]
    files = []
    for k, tap in enumerate(taps):
        name = f"tap {k} ({'full' if tap['full'] else 'not full'})"
        ev = load_events(pb, tap["file"], name)
        errs = []
        for i, d in enumerate(ev):
            for field in ("identity", "version", "extra"):
                if tap.get(field) is not None and (not d.HasField(field) or getattr(d, field).decode() != tap[field]):
                    errs.append(f"#{i + 1} {field} {getattr(d, field)!r}, want {tap[field]!r}")
            if d.type != pb.Dnstap.MESSAGE or not d.HasField("message"):
                errs.append(f"#{i + 1}: not a MESSAGE")
            m = d.message
            if tap["full"] != (m.HasField("query_message") or m.HasField("response_message")):
                errs.append(f"#{i + 1} {M.Type.Name(m.type)}: DNS message {'missing' if tap['full'] else 'present'}")
        report(not errs, f"{name}: identity, version, extra; DNS messages {'present' if tap['full'] else 'absent'}",
               "; ".join(errs[:5]))
        check_golang(pb, tap["file"], name, ev, tap["full"])
        files.append(ev)

    # Group the full tap's events by query.
    ev = files[0]
    used = [False] * len(ev)
    CQ, CR, FQ, FR = M.CLIENT_QUERY, M.CLIENT_RESPONSE, M.FORWARDER_QUERY, M.FORWARDER_RESPONSE

    def find(after, pred):
        for i in range(after + 1, len(ev)):
            if not used[i] and pred(ev[i].message):
                used[i] = True
                return i
        return None

    for q in cfg["queries"]:
        label = f"{q['proto']} {q['family']} {q['name']} {q['qtype']}"
        errs = []
        qtype = TYPES[q["qtype"]]
        fam = getattr(pb, "INET6" if q["family"] == "INET6" else "INET")
        proto = pb.TCP if q["proto"] == "tcp" else pb.UDP
        lis_ip, lis_port = cfg["listeners"][q["family"]]
        icq = find(-1, lambda m: m.type == CQ and m.socket_protocol == proto and m.socket_family == fam and
                   question(m.query_message)[:2] == (q["name"], qtype))
        if icq is None:
            report(False, f"events: {label}", "no CLIENT_QUERY")
            continue
        cq = ev[icq].message
        qid = cq.query_message[:2]
        ifq = find(icq, lambda m: m.type == FQ and m.query_message == cq.query_message)
        fq = ev[ifq].message if ifq is not None else None
        ifr = None
        if fq is not None and q["answered"]:
            ifr = find(ifq, lambda m: m.type == FR and m.query_port == fq.query_port and
                       m.response_message[:2] == qid)
        icr = find(max(i for i in (icq, ifq, ifr) if i is not None),
                   lambda m: m.type == CR and m.query_port == cq.query_port and m.response_message[:2] == qid)
        fr = ev[ifr].message if ifr is not None else None
        cr = ev[icr].message if icr is not None else None
        if fq is None:
            errs.append("no FORWARDER_QUERY after the CLIENT_QUERY")
        if q["answered"] and fr is None:
            errs.append("no FORWARDER_RESPONSE after the FORWARDER_QUERY")
        if cr is None:
            errs.append("no CLIENT_RESPONSE after the others")
        if errs:
            report(False, f"events: {label}", "; ".join(errs))
            continue

        def expect(m, what, field, want):
            has = m.HasField(field)
            if want is None:
                if has:
                    errs.append(f"{what}.{field} present")
            elif not has:
                errs.append(f"{what}.{field} absent")
            elif getattr(m, field) != want:
                errs.append(f"{what}.{field} = {getattr(m, field)!r}, want {want!r}")

        client_ip = ip_bytes(lis_ip)   # loopback: the client's address is the listener's
        for what, m in (("CQ", cq), ("CR", cr)):
            expect(m, what, "socket_family", fam)
            expect(m, what, "socket_protocol", proto)
            expect(m, what, "query_address", client_ip)
            expect(m, what, "response_address", ip_bytes(lis_ip))
            expect(m, what, "response_port", lis_port)
            expect(m, what, "query_time_sec", cq.query_time_sec)
            expect(m, what, "query_time_nsec", cq.query_time_nsec)
        if not (0 < cq.query_port < 65536) or cr.query_port != cq.query_port:
            errs.append(f"client ports CQ {cq.query_port} CR {cr.query_port}")
        up_fam = pb.INET6 if ":" in up_ip else pb.INET
        for what, m in (("FQ", fq), ("FR", fr)):
            if m is None:
                continue
            expect(m, what, "socket_family", up_fam)
            expect(m, what, "socket_protocol", proto)
            expect(m, what, "query_address", ip_bytes(up_ip))
            expect(m, what, "response_address", ip_bytes(up_ip))
            expect(m, what, "response_port", up_port)
            expect(m, what, "query_time_sec", fq.query_time_sec)
            expect(m, what, "query_time_nsec", fq.query_time_nsec)
        if not (0 < fq.query_port < 65536) or fq.query_port == up_port or (fr and fr.query_port != fq.query_port):
            errs.append(f"forwarder ports FQ {fq.query_port} FR {fr.query_port if fr else '-'}")
        # messages: queries in CQ/FQ only, responses in FR/CR only
        expect(cq, "CQ", "response_message", None)
        expect(fq, "FQ", "response_message", None)
        expect(cr, "CR", "query_message", None)
        expect(cq, "CQ", "response_time_sec", None)
        expect(fq, "FQ", "response_time_sec", None)
        if fr is not None:
            expect(fr, "FR", "query_message", None)
            expect(cr, "CR", "response_message", fr.response_message)
        # times: inside the run, and in the order things happened
        times = [ns(cq.query_time_sec, cq.query_time_nsec), ns(fq.query_time_sec, fq.query_time_nsec)]
        if fr is not None:
            times.append(ns(fr.response_time_sec, fr.response_time_nsec))
        times.append(ns(cr.response_time_sec, cr.response_time_nsec))
        if times != sorted(times):
            errs.append(f"times out of order: {times}")
        if times[0] < t0 or times[-1] > t1:
            errs.append(f"times {times[0]}..{times[-1]} outside the run {t0}..{t1}")
        # answers: the upstream's bytes, or a SERVFAIL built from the query
        resp = cr.response_message
        name, qt, qend = question(cq.query_message)
        if fr is not None:
            try:
                direct = exchange(up_ip, up_port, q["proto"], bytes(cq.query_message))
                if direct != fr.response_message:
                    errs.append("FR.response_message differs from the upstream's direct answer")
            except Exception as e:
                errs.append(f"direct query to the upstream failed: {e}")
        else:
            if resp[:2] != qid or resp[3] & 0xF != 2 or not resp[2] & 0x80 or resp[12:qend] != cq.query_message[12:qend]:
                errs.append(f"CR is not a SERVFAIL for the query: {bytes(resp).hex()}")
        report(not errs, f"events: {label}: CQ{', FQ, FR' if fr else ', FQ'}, CR with addresses, ports, "
               f"times and messages", "; ".join(errs[:6]))

    extra = [f"#{i + 1} {M.Type.Name(ev[i].message.type)}" for i in range(len(ev)) if not used[i]]
    report(not extra, f"events: nothing but the expected {sum(used)} events in the full tap", ", ".join(extra[:8]))

    # The other taps: the same events in the same order.
    for k in range(1, len(taps)):
        errs = []
        other = files[k]
        if len(other) != len(ev):
            errs.append(f"{len(other)} events, the full tap has {len(ev)}")
        for i, (a, b) in enumerate(zip(ev, other)):
            x = pb.Message()
            x.CopyFrom(a.message)
            if not taps[k]["full"]:
                x.ClearField("query_message")
                x.ClearField("response_message")
            if x != b.message:
                errs.append(f"#{i + 1} differs: {M.Type.Name(b.message.type)}")
        report(not errs, f"tap {k}: the same {len(ev)} events as tap 0"
               f"{', without DNS messages' if not taps[k]['full'] else ''}", "; ".join(errs[:5]))
    return 1 if failures else 0


# ---- live checks ------------------------------------------------------------

def cmd_query(host, port, proto, name, qtype):
    r = exchange(host, int(port), proto, make_query(name, TYPES[qtype]))
    print(f"rcode {r[3] & 0xF} tc {r[2] >> 1 & 1} ancount {struct.unpack_from('>H', r, 6)[0]} "
          f"bytes {len(r)}")
    return 0


def cmd_load(host, port, n):
    port, n = int(port), int(n)
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    worst, bad = 0.0, []
    with socket.socket(fam, socket.SOCK_DGRAM) as s:
        s.settimeout(1.0)
        for i in range(n):
            name = ("www", "mail", "nope", "ns")[i % 4] + ".example.test"
            q = make_query(name, 1, qid=i & 0xFFFF)
            t = time.monotonic()
            s.sendto(q, (host, port))
            try:
                while True:
                    r, _ = s.recvfrom(65535)
                    if r[:2] == q[:2]:
                        break
            except socket.timeout:
                bad.append(i)
                continue
            worst = max(worst, time.monotonic() - t)
            want_rcode = 3 if name.startswith("nope") else 0
            if r[3] & 0xF != want_rcode or question(r)[0] != name + ".":
                bad.append(i)
    print(f"load: {n - len(bad)} of {n} answered correctly, slowest {worst * 1000:.1f} ms")
    return 0 if not bad else 1


def cmd_burst(host, port):
    port = int(port)
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    names = [("drop" if i in (7, 23) else ("www", "mail", "nope", "big")[i % 4]) + ".example.test."
             for i in range(40)]
    socks, errs = [], []
    for i, name in enumerate(names):     # 40 sockets: 40 queries in flight
        s = socket.socket(fam, socket.SOCK_DGRAM)
        s.settimeout(4.0)
        q = make_query(name, 1, qid=1000 + i)
        s.sendto(q, (host, port))
        socks.append((s, q, name))
    for s, q, name in socks:
        try:
            r, _ = s.recvfrom(65535)
        except socket.timeout:
            errs.append(f"{name}: no answer")
            continue
        finally:
            s.close()
        want = {"drop": 2, "nope": 3}.get(name.split(".")[0], 0)
        if r[:2] != q[:2] or question(r)[0] != name or r[3] & 0xF != want:
            errs.append(f"{name}: wrong answer {r[:4].hex()}")
        if name.startswith("big") and not r[2] & 2:
            errs.append("big: TC not set over UDP")
    report(not errs, "burst: 40 UDP queries in flight at once, 2 of them SERVFAIL after the timeout",
           "; ".join(errs[:5]))
    errs = []
    try:
        with socket.create_connection((host, port), timeout=4.0) as s:
            qs = [make_query(n, 1, qid=2000 + i) for i, n in enumerate(("www.example.test", "big.example.test",
                                                                         "nope.example.test"))]
            s.sendall(b"".join(struct.pack(">H", len(q)) + q for q in qs))
            for q in qs:
                r = read_tcp(s)
                if r[:2] != q[:2]:
                    errs.append(f"answer {r[:2].hex()} for query {q[:2].hex()}")
                if question(r)[0] == "big.example.test." and struct.unpack_from(">H", r, 6)[0] != 40:
                    errs.append("big: not 40 answers over TCP")
    except Exception as e:
        errs.append(str(e))
    report(not errs, "burst: 3 queries pipelined on one TCP connection, answered in order", "; ".join(errs))
    return 1 if failures else 0


def cmd_count(path):
    with open(path, "rb") as f:
        frames, err = check_pb.read_frames(f.read())
    print(len(frames) if err is None else f"error: {err}")
    return 0 if err is None else 1


def cmd_freeport():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])
    return 0


def main():
    cmds = {"events": cmd_events, "query": cmd_query, "load": cmd_load, "burst": cmd_burst,
            "count": cmd_count, "freeport": cmd_freeport}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        sys.stderr.write(__doc__)
        return 2
    return cmds[sys.argv[1]](*sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
