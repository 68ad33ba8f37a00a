#!/usr/bin/python3
"""Checks for the dnsmasq integration (examples/dnsmasq), run by
tests/dnsmasq.sh with Debian's /usr/bin/python3 (python3-protobuf).

    check_dnsmasq.py ask HOST PORT OUT.json
        sends the fixed list of queries below with kdig, one after the other
        (UDP, and TCP: each kdig run is one connection, so one forked dnsmasq
        child), and writes what kdig saw: id, status, answers, plus the time
        window, to OUT.json
    check_dnsmasq.py events ASKED.json FILE UPSTREAM_PORT IDENTITY VERSION
        the dnstap FILE (fstrm_capture's) holds, for each query, exactly:
        CLIENT_QUERY, FORWARDER_QUERY, FORWARDER_RESPONSE, CLIENT_RESPONSE
        for a cache miss, CLIENT_QUERY and CLIENT_RESPONSE for a hit, and
        nothing else. Decoded with Google's protobuf (tests/check_pb.py) and
        with golang-dnstap's `dnstap -r -j / -y`. Checked for each event:
        family, protocol, addresses, ports, identity, version; the DNS
        messages against kdig's view (id, status, question, answers) and the
        upstream's bytes against a direct query to it with the logged
        forwarder query; times in order within a query and across queries,
        and inside the run's window.
    check_dnsmasq.py stats LOGFILE
        every "dnstap: logged L sent S dropped D queued Q" line of dnsmasq's
        log has L == S + D + Q; prints the last line's figures as key=value

Prints "PASS: name" / "FAIL: name: why"; exit status 1 if anything failed.
"""

import ipaddress
import json
import os
import re
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, HERE)
import check_pb  # noqa: E402
import check_forwarder as cf  # noqa: E402  (load_events, check_golang, exchange, question, report)

# (protocol, [(name, type)...] on one connection, cached?) in the order sent.
# TCP: kdig +keepopen puts the names of one line on one connection (one child).
QUERIES = [
    ("udp", [("www.example.test", "A")], [False]),
    ("udp", [("www.example.test", "A")], [True]),
    ("udp", [("mail.example.test", "A")], [False]),
    ("udp", [("nope.example.test", "A")], [False]),
    ("udp", [("nope.example.test", "A")], [True]),
    ("udp", [("www.example.test", "AAAA")], [False]),
    ("tcp", [("ns.example.test", "A"), ("ns.example.test", "A")], [False, True]),
    ("tcp", [("www.example.test", "A")], [True]),
    ("tcp", [("example.test", "MX")], [False]),
    ("udp", [("mail.example.test", "A")], [True]),
    ("udp", [("example.test", "TXT")], [False]),
]
RCODES = {"NOERROR": 0, "SERVFAIL": 2, "NXDOMAIN": 3, "REFUSED": 5}
TYPES = {"A": 1, "AAAA": 28, "MX": 15, "TXT": 16, "NS": 2, "SOA": 6}


def kdig(host, port, proto, names):
    args = ["kdig", f"@{host}", "-p", str(port), "+timeout=2", "+retry=0"]
    if proto == "tcp":
        args += ["+tcp", "+keepopen"]
    for name, qtype in names:
        args += [name, qtype]
    out = subprocess.run(args, capture_output=True, text=True, timeout=20).stdout
    answers, cur, section = [], None, None
    for line in out.splitlines():
        m = re.search(r"->>HEADER<<- opcode: QUERY; status: (\w+); id: (\d+)", line)
        if m:
            cur = {"status": m.group(1), "id": int(m.group(2)), "answers": []}
            answers.append(cur)
            section = None
            continue
        if line.startswith(";; ANSWER SECTION"):
            section = "answer"
        elif line.startswith(";;"):
            section = None
        elif section == "answer" and line.strip() and cur is not None:
            f = line.split()
            cur["answers"].append([f[0].lower(), f[3], " ".join(f[4:])])
    return answers


def cmd_ask(host, port, out):
    asked = []
    t0 = time.time_ns()
    for proto, names, cached in QUERIES:
        got = kdig(host, port, proto, names)
        for k, ((name, qtype), hit) in enumerate(zip(names, cached)):
            a = got[k] if k < len(got) else None
            asked.append({"proto": proto, "name": name + ".", "qtype": qtype, "cached": hit,
                          "id": a["id"] if a else None, "status": a["status"] if a else None,
                          "answers": a["answers"] if a else []})
    t1 = time.time_ns()
    with open(out, "w") as f:
        json.dump({"t0": t0, "t1": t1, "host": host, "port": int(port), "queries": asked}, f, indent=1)
    bad = [q for q in asked if q["id"] is None]
    cf.report(not bad, f"kdig: {len(asked)} queries answered ({sum(1 for q in asked if q['proto'] == 'tcp')} over TCP)",
              f"no answer to {[q['name'] for q in bad]}")
    return 1 if bad else 0


def rrs(msg):
    """Answer records of a DNS message as (owner, type, rdata bytes)."""
    def name_end(p):
        while True:
            n = msg[p]
            if n == 0:
                return p + 1
            if n & 0xC0 == 0xC0:
                return p + 2
            p += 1 + n
    qd, an = struct.unpack_from(">HH", msg, 4)
    p = 12
    for _ in range(qd):
        p = name_end(p) + 4
    out = []
    for _ in range(an):
        e = name_end(p)
        t, _c, _ttl, rdlen = struct.unpack_from(">HHIH", msg, e)
        out.append((t, bytes(msg[e + 10:e + 10 + rdlen])))
        p = e + 10 + rdlen
    return out


def kdig_rdata(answers):
    """kdig's A/AAAA answers as (type, rdata bytes); other types by count."""
    out = []
    for _owner, t, data in answers:
        if t in ("A", "AAAA"):
            out.append((TYPES[t], ipaddress.ip_address(data).packed))
        else:
            out.append((TYPES.get(t, 0), None))
    return sorted(out, key=lambda x: (x[0], x[1] or b""))


def cmd_events(asked_path, path, up_port, identity, version):
    with open(asked_path) as f:
        cfg = json.load(f)
    up_port = int(up_port)
    pb = check_pb.load_schema(os.path.join(os.path.dirname(HERE), "dnstap.proto"))
    M = pb.Message
    ev = cf.load_events(pb, path, "dnsmasq tap")
    cf.check_golang(pb, path, "dnsmasq tap", ev, True)
    errs = []
    for i, d in enumerate(ev):
        if d.identity.decode() != identity or d.version.decode() != version:
            errs.append(f"#{i + 1}: identity {d.identity!r} version {d.version!r}")
    cf.report(not errs, f"every event has identity {identity!r} and version {version!r}", "; ".join(errs[:3]))

    CQ, CR, FQ, FR = M.CLIENT_QUERY, M.CLIENT_RESPONSE, M.FORWARDER_QUERY, M.FORWARDER_RESPONSE
    used = [False] * len(ev)
    lo = ipaddress.ip_address("127.0.0.1").packed
    port = cfg["port"]

    def find(after, pred):
        for i in range(after + 1, len(ev)):
            if not used[i] and pred(ev[i].message):
                used[i] = True
                return i
        return None

    last_cq_time = 0
    for q in cfg["queries"]:
        label = f"{q['proto']} {q['name']} {q['qtype']} ({'cache hit' if q['cached'] else 'cache miss'})"
        proto = pb.TCP if q["proto"] == "tcp" else pb.UDP
        qtype = TYPES[q["qtype"]]
        errs = []
        icq = find(-1, lambda m: m.type == CQ and m.socket_protocol == proto and
                   cf.question(m.query_message)[:2] == (q["name"], qtype) and
                   struct.unpack_from(">H", m.query_message)[0] == q["id"])
        if icq is None:
            cf.report(False, f"events: {label}", "no CLIENT_QUERY with kdig's id")
            continue
        cq = ev[icq].message
        icr = find(icq, lambda m: m.type == CR and m.socket_protocol == proto and m.query_port == cq.query_port and
                   struct.unpack_from(">H", m.response_message)[0] == q["id"])
        fq = fr = None
        if not q["cached"]:
            ifq = find(icq, lambda m: m.type == FQ and m.socket_protocol == proto and
                       cf.question(m.query_message)[:2] == (q["name"], qtype))
            fq = ev[ifq].message if ifq is not None else None
            if fq is not None:
                fid = fq.query_message[:2]
                ifr = find(ifq, lambda m: m.type == FR and m.query_port == fq.query_port and
                           m.response_message[:2] == fid)
                fr = ev[ifr].message if ifr is not None else None
            if fq is None or fr is None:
                errs.append("no FORWARDER_QUERY and FORWARDER_RESPONSE")
        if icr is None:
            errs.append("no CLIENT_RESPONSE")
        if errs:
            cf.report(False, f"events: {label}", "; ".join(errs))
            continue
        cr = ev[icr].message

        def expect(m, what, field, want):
            if want is None:
                if m.HasField(field):
                    errs.append(f"{what}.{field} present")
            elif not m.HasField(field):
                errs.append(f"{what}.{field} absent")
            elif getattr(m, field) != want:
                errs.append(f"{what}.{field} = {getattr(m, field)!r}, want {want!r}")

        for what, m in (("CQ", cq), ("CR", cr)):
            expect(m, what, "socket_family", pb.INET)
            expect(m, what, "socket_protocol", proto)
            expect(m, what, "query_address", lo)
            expect(m, what, "response_address", lo)
            expect(m, what, "response_port", port)
        if not 0 < cq.query_port < 65536 or cq.query_port == port:
            errs.append(f"client port {cq.query_port}")
        expect(cq, "CQ", "response_message", None)
        expect(cr, "CR", "query_message", None)
        if not cq.HasField("query_time_sec") or not cr.HasField("response_time_sec"):
            errs.append("CQ query time or CR response time absent")
        # the answer kdig got is the one logged
        resp = cr.response_message
        if resp[3] & 0xF != RCODES.get(q["status"], -1) or not resp[2] & 0x80:
            errs.append(f"CR rcode {resp[3] & 0xF}, kdig saw {q['status']}")
        if cf.question(resp)[:2] != (q["name"], qtype):
            errs.append("CR question differs")
        got = sorted(((t, r if t in (1, 28) else None) for t, r in rrs(resp)), key=lambda x: (x[0], x[1] or b""))
        if got != kdig_rdata(q["answers"]):
            errs.append(f"CR answers {got} differ from kdig's {q['answers']}")
        times = [cf.ns(cq.query_time_sec, cq.query_time_nsec)]
        if fq is not None:
            for what, m in (("FQ", fq), ("FR", fr)):
                expect(m, what, "socket_family", pb.INET)
                expect(m, what, "socket_protocol", proto)
                # dnsmasq's UDP sockets to servers are bound to 0.0.0.0: no address, the port only
                expect(m, what, "query_address", lo if q["proto"] == "tcp" else None)
                expect(m, what, "response_address", lo)
                expect(m, what, "response_port", up_port)
            if not 0 < fq.query_port < 65536 or fq.query_port in (up_port, port) or fr.query_port != fq.query_port:
                errs.append(f"forwarder ports FQ {fq.query_port} FR {fr.query_port}")
            expect(fq, "FQ", "response_message", None)
            expect(fr, "FR", "query_message", None)
            if fq.query_message[2] & 1 != cq.query_message[2] & 1:
                errs.append("FQ's RD bit differs from the client's")
            try:
                direct = cf.exchange("127.0.0.1", up_port, q["proto"], bytes(fq.query_message))
                if direct != fr.response_message:
                    errs.append("FR.response_message differs from the upstream's direct answer to FQ")
            except Exception as e:  # noqa: BLE001
                errs.append(f"direct query to the upstream failed: {e}")
            if sorted(rrs(fr.response_message)) != sorted(rrs(resp)):
                errs.append("CR's answer records differ from FR's")
            times += [cf.ns(fq.query_time_sec, fq.query_time_nsec), cf.ns(fr.response_time_sec, fr.response_time_nsec)]
        times.append(cf.ns(cr.response_time_sec, cr.response_time_nsec))
        if times != sorted(times):
            errs.append(f"times out of order: {times}")
        if times[0] < cfg["t0"] or times[-1] > cfg["t1"]:
            errs.append(f"times outside the run {cfg['t0']}..{cfg['t1']}")
        if times[0] < last_cq_time:
            errs.append("CLIENT_QUERY earlier than the previous query's")
        last_cq_time = times[0]
        cf.report(not errs, f"events: {label}: {'CQ, FQ, FR, CR' if fq else 'CQ, CR'}: addresses, ports, "
                  f"messages, times", "; ".join(errs[:6]))
    extra = [f"#{i + 1} {M.Type.Name(ev[i].message.type)}" for i in range(len(ev)) if not used[i]]
    cf.report(not extra, f"events: nothing but the expected {sum(used)} events", ", ".join(extra[:8]))
    return 1 if cf.failures else 0


def cmd_stats(logfile):
    lines = []
    with open(logfile, errors="replace") as f:
        for line in f:
            m = re.search(r"dnstap: logged (\d+) sent (\d+) dropped (\d+) queued (\d+) connects (\d+) "
                          r"reconnects (\d+)", line)
            if m:
                lines.append([int(x) for x in m.groups()])
    bad = [l for l in lines if l[0] != l[1] + l[2] + l[3]]
    if not lines:
        print("FAIL: stats: no 'dnstap: logged' line in the log")
        return 1
    last = lines[-1]
    for k, v in zip(("logged", "sent", "dropped", "queued", "connects", "reconnects"), last):
        print(f"{k}={v}")
    return 1 if bad else 0


def main():
    cmds = {"ask": cmd_ask, "events": cmd_events, "stats": cmd_stats}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        sys.stderr.write(__doc__)
        return 2
    return cmds[sys.argv[1]](*sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
