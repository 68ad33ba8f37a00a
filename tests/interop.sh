#!/bin/sh
# Interoperability test: a dnstap file written by dnstap.h must be read right
# by tools we did not write.
#
#   tests/interop.sh BUILD_DIR
#
# Builds tests/gen_sample.c (sanitizers on) into BUILD_DIR, runs it to write
# BUILD_DIR/sample.dnstap and the description of every message it logged,
# BUILD_DIR/sample.json, then checks the file with
#   - golang-dnstap's `dnstap -r FILE -y` and `-j`: exit status, stderr, and
#     the values it prints, compared with sample.json;
#   - libfstrm's `fstrm_dump FILE`: accepted, content type, frame count;
#   - tests/check_pb.py: strict Frame Streams parse and Google protobuf decode
#     of every field;
#   - negative controls: corrupted copies that the checks must reject.
# Prints "PASS: name" or "FAIL: name: why" per check; exits 1 if any failed.
#
# Needs: cc (or $CC), libnanopb-dev, dnstap (golang-github-dnstap-golang-
# dnstap-cli), fstrm_dump (fstrm-bin), protoc (protobuf-compiler),
# python3-protobuf for /usr/bin/python3, and timeout (coreutils).
set -u

. "$(dirname "$0")/lib.sh"

# Run a checker that prints its own PASS/FAIL lines. A non-zero exit without
# a FAIL line, or no line at all, is a failure too.
run_checker() {
    name=$1
    shift
    "$@" >"$build/checker.out" 2>"$build/checker.err"
    rc=$?
    cat "$build/checker.out"
    n=$(grep -c '^FAIL:' "$build/checker.out")
    fails=$((fails + n))
    if [ "$rc" -ne 0 ] && [ "$n" -eq 0 ]; then
        fail "$name" "exit status $rc: $(tail -n 3 "$build/checker.err" | tr '\n' ' ')"
    elif ! grep -qE '^(PASS|FAIL):' "$build/checker.out"; then
        fail "$name" "printed no result"
    fi
}

# --- build and run the generator ------------------------------------------
cc=${CC:-cc}
if $cc -std=c99 -Wall -Wextra -Werror -pedantic -Wconversion -Wsign-conversion \
        -fsanitize=address,undefined -I. tests/gen_sample.c -o "$build/gen_sample" \
        -lprotobuf-nanopb 2>"$build/cc.err"; then
    pass "build gen_sample ($cc, warnings as errors, ASan+UBSan)"
else
    fail "build gen_sample ($cc)" "$(head -n 5 "$build/cc.err" | tr '\n' ' ')"
    exit 1
fi

file=$build/sample.dnstap
json=$build/sample.json
if "$build/gen_sample" "$file" "$json" 2>"$build/gen.err" && [ ! -s "$build/gen.err" ]; then
    pass "gen_sample writes $(wc -c <"$file") bytes, clean under the sanitizers"
else
    fail "gen_sample" "$(head -n 5 "$build/gen.err" | tr '\n' ' ')"
    exit 1
fi
count=$($py -c 'import json, sys; print(len(json.load(open(sys.argv[1]))))' "$json") || {
    fail "sample.json" "not readable JSON"
    exit 1
}

# --- golang-dnstap ---------------------------------------------------------
# Compares what `dnstap -r FILE -j` or `-y` printed with sample.json, per
# message, for what dnstap shows. Shown: identity and version (not extra),
# the Message type, family, protocol, addresses, ports, times, query_zone
# and the DNS messages (rendered dig-style by miekg/dns). Not shown: extra,
# policy, http_protocol. The model of how it prints each value is in the
# comments; it was read from golang-dnstap 0.4.0 (JsonFormat.go,
# YamlFormat.go) and checked against its output.
compare_py=$(cat <<'EOF'
import ipaddress, json, re, sys

exp_path, mode, out_path = sys.argv[1:4]
tool = "dnstap " + ("-j" if mode == "json" else "-y")
expected = json.load(open(exp_path))
failures = 0

def report(ok, name, why=""):
    global failures
    print(f"PASS: {tool}: {name}" if ok else f"FAIL: {tool}: {name}: {why}")
    failures += not ok

MSG_TYPES = [None, "AUTH_QUERY", "AUTH_RESPONSE", "RESOLVER_QUERY", "RESOLVER_RESPONSE",
             "CLIENT_QUERY", "CLIENT_RESPONSE", "FORWARDER_QUERY", "FORWARDER_RESPONSE",
             "STUB_QUERY", "STUB_RESPONSE", "TOOL_QUERY", "TOOL_RESPONSE",
             "UPDATE_QUERY", "UPDATE_RESPONSE"]
FAMILIES = {1: "INET", 2: "INET6"}
PROTOCOLS = {1: "UDP", 2: "TCP", 3: "DOT", 4: "DOH", 5: "DNSCryptUDP", 6: "DNSCryptTCP", 7: "DOQ"}
OPCODES = {0: "QUERY", 1: "IQUERY", 2: "STATUS", 4: "NOTIFY", 5: "UPDATE"}
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}

def protocol_ok(v, shown):
    # dnstap 0.4.0's schema predates DNSCryptUDP, DNSCryptTCP and DOQ: it
    # prints their numbers. A newer one prints the names.
    return shown == PROTOCOLS[v] or (v >= 5 and shown == str(v))

def go_ip(b, empty):
    # Go's net.IP String(): dotted quad for 4 bytes and for IPv4-mapped IPv6,
    # RFC 5952 text otherwise; an empty address prints as `empty`.
    if not b:
        return empty
    if len(b) == 16 and b[:12] == bytes(10) + b"\xff\xff":
        b = b[12:]
    if len(b) == 4:
        return str(ipaddress.IPv4Address(b))
    if len(b) == 16:
        return ipaddress.IPv6Address(b).compressed
    raise ValueError(f"address of {len(b)} bytes")

def days_from_civil(y, m, d):
    # days since 1970-01-01 in the proleptic Gregorian calendar, any year
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468

# RFC 3339 (JSON) or "2006-01-02 15:04:05.999999999" (YAML), any year:
# Python's datetime stops at 9999 and the sample goes beyond.
TIME_RE = {"json": r"(-?\d{4,})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d*[1-9]))?Z",
           "yaml": r"!!timestamp (-?\d{4,})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d*[1-9]))?"}

def shown_ns(s):
    m = re.fullmatch(TIME_RE[mode], s)
    if not m:
        return None
    y, mo, d, h, mi, se = (int(x) for x in m.groups()[:6])
    frac = (m.group(7) or "").ljust(9, "0")
    if len(frac) > 9:
        return None
    return ((days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se) * 10**9 + int(frac))

def want_ns(sec, nsec):
    # time.Unix(int64(sec), int64(nsec)): the uint64 seconds become signed
    # and nanoseconds past 1e9 carry into the seconds.
    return (sec - 2**64 if sec >= 2**63 else sec) * 10**9 + nsec

def dns_errors(text, w):
    # miekg/dns Msg.String(): header line, flags line, then sections.
    errs = []
    lines = text.rstrip("\n").split("\n")
    head = f";; opcode: {OPCODES[w['opcode']]}, status: {RCODES[w['rcode']]}, id: {w['id']}"
    flags = "".join(" " + f for f in w["flags"])
    counts = (f";; flags:{flags}; QUERY: {w['qdcount']}, ANSWER: {w['ancount']}, "
              f"AUTHORITY: {w['nscount']}, ADDITIONAL: {w['arcount']}")
    if lines[:1] != [head]:
        errs.append(f"header {lines[0][:80]!r}, want {head!r}")
    if lines[1:2] != [counts]:
        errs.append(f"flags {(lines[1:2] or [''])[0][:100]!r}, want {counts!r}")
    got, cur = {}, None
    for line in lines[2:]:
        if line.startswith(";; ") and line.endswith("SECTION:"):
            cur = line[3:-1]
        elif line:
            got.setdefault(cur, []).append(line)
    want = {}
    if "question" in w:
        q = w["question"]
        want["QUESTION SECTION"] = [f";{q['name']}\t{q['class']}\t {q['type']}"]
    for r in w["records"]:
        want.setdefault(r["section"].upper() + " SECTION", []).append(
            f"{r['name']}\t{r['ttl']}\t{r['class']}\t{r['type']}\t{r['rdata']}")
    if "edns" in w:
        e = w["edns"]
        want["OPT PSEUDOSECTION"] = [f"; EDNS: version 0; flags: ; udp: {e['udp']}"]
        if e["padding"] >= 0:
            want["OPT PSEUDOSECTION"].append("; PADDING: " + "00" * e["padding"])
    for sec in sorted(set(got) | set(want), key=str):
        if got.get(sec) != want.get(sec):
            g = [l[:90] for l in got.get(sec, [])]
            x = [l[:90] for l in want.get(sec, [])]
            errs.append(f"{sec or 'before the sections'}: {g!r}, want {x!r}")
    return errs

def go_unquote(s):
    # inverse of Go's strconv.Quote, to bytes
    if len(s) < 2 or s[0] != '"' or s[-1] != '"':
        raise ValueError(f"not a Go quoted string: {s[:40]!r}")
    body, out, i = s[1:-1], bytearray(), 0
    simple = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92, '"': 34}
    while i < len(body):
        c = body[i]
        if c == '"':
            raise ValueError("unescaped quote")
        if c != "\\":
            out += c.encode("utf-8")
            i += 1
            continue
        e = body[i + 1]
        if e in simple:
            out.append(simple[e])
            i += 2
        elif e == "x":
            out.append(int(body[i + 2:i + 4], 16))
            i += 4
        elif e in "uU":
            n = 4 if e == "u" else 8
            out += chr(int(body[i + 2:i + 2 + n], 16)).encode("utf-8")
            i += 2 + n
        else:
            raise ValueError(f"unknown escape \\{e}")
    return bytes(out)

def parse_yaml(text):
    # dnstap -y prints a fixed layout (YamlFormat.go): documents ended by
    # "---"; "key: value" lines; "message:" with two-space "key: value"
    # lines, "key: |" blocks indented four spaces, and "# key: parse failed"
    # comments. Parsed by hand, strictly: it prints addresses such as "::"
    # unquoted, which YAML parsers rightly reject.
    docs = text.split("---\n")
    if docs[-1] != "":
        raise ValueError("output does not end with ---")
    out = []
    for n, doc in enumerate(docs[:-1], 1):
        top, msg, comments, block = {}, None, {}, None
        for line in doc.split("\n")[:-1]:
            if block is not None and line.startswith("    "):
                block.append(line[4:])
                continue
            block = None
            if msg is None:
                if line == "message:":
                    msg = top["message"] = {}
                    continue
                m = re.fullmatch(r"(\w+): (.*)", line)
                d = top
            else:
                m = re.fullmatch(r"  # (\w+): (.*)", line)
                if m:
                    comments[m.group(1)] = m.group(2)
                    continue
                m = re.fullmatch(r"  (\w+): (.*)", line)
                d = msg
            if not m or m.group(1) in d:
                raise ValueError(f"document {n}: unexpected line {line[:80]!r}")
            if d is msg and m.group(2) == "|":
                block = []
                msg[m.group(1)] = block
            else:
                d[m.group(1)] = m.group(2)
        if msg is not None:
            for k, v in msg.items():
                if isinstance(v, list):
                    msg[k] = "\n".join(v)
        out.append((top, comments))
    return out

def b(exp, key):
    return bytes.fromhex(exp[key]) if key in exp else None

def check(shown, comments, exp):
    """shown: the message as dnstap printed it; returns the differences."""
    errs = []
    y = mode == "yaml"
    want_top = {"type": "MESSAGE", "message": None}
    for k in ("identity", "version"):
        v = b(exp, k)
        # JSON: string(bytes), left out when empty (omitempty); invalid
        # UTF-8 becomes U+FFFD. YAML: strconv.Quote, even when empty.
        if v is not None and (y or v):
            want_top[k] = v if y else v.decode("utf-8", "replace")
    if set(shown) != set(want_top):
        errs.append(f"keys {sorted(shown)}, want {sorted(want_top)}")
    for k, v in want_top.items():
        if k == "type" and shown.get(k) != v:
            errs.append(f"type {shown.get(k)!r}, want {v!r}")
        elif k in ("identity", "version") and k in shown:
            got = go_unquote(shown[k]) if y else shown[k]
            if got != v:
                errs.append(f"{k} {got[:60]!r}, want {v[:60]!r}")
    m = shown.get("message")
    if not isinstance(m, dict):
        return errs + ["no message"]
    want = {"type": MSG_TYPES[exp["type"]]}
    # JSON always has family and protocol (fmt.Sprint of a nil pointer:
    # "<nil>"); YAML only when present.
    if "socket_family" in exp:
        want["socket_family"] = FAMILIES[exp["socket_family"]]
    elif not y:
        want["socket_family"] = "<nil>"
    if "socket_protocol" in exp:
        want["socket_protocol"] = exp["socket_protocol"]
    elif not y:
        want["socket_protocol"] = "<nil>"
    for side in ("query", "response"):
        # a time only when both halves are present
        if f"{side}_time_sec" in exp and f"{side}_time_nsec" in exp:
            want[f"{side}_time"] = want_ns(exp[f"{side}_time_sec"], exp[f"{side}_time_nsec"])
        if f"{side}_address" in exp:
            want[f"{side}_address"] = go_ip(b(exp, f"{side}_address"), "<nil>" if y else "")
        # JSON leaves out port 0 (omitempty); YAML prints it
        if f"{side}_port" in exp and (y or exp[f"{side}_port"]):
            want[f"{side}_port"] = str(exp[f"{side}_port"]) if y else exp[f"{side}_port"]
    dns = exp.get("dns", {})
    want_comments = {}
    for k in ("query_zone", "query_message", "response_message"):
        if k not in exp:
            continue
        if k in dns:
            want[k] = dns[k]
        elif y:
            want_comments[k] = "parse failed"   # "# key: parse failed: <error>"
        else:
            want[k] = "parse failed"            # "parse failed: <error>"
    if set(m) != set(want):
        errs.append(f"message keys {sorted(m)}, want {sorted(want)}")
    if set(comments) != set(want_comments):
        errs.append(f"comments {sorted(comments)}, want {sorted(want_comments)}")
    for k, v in comments.items():
        if not v.startswith("parse failed: "):
            errs.append(f"comment {k}: {v[:60]!r}")
    for k, w in want.items():
        if k not in m:
            continue
        g = m[k]
        if k == "socket_protocol" and w != "<nil>":
            ok = protocol_ok(w, g)
        elif k.endswith("_time"):
            ok = shown_ns(g) == w
        elif k == "query_zone" and w != "parse failed":
            ok = (go_unquote(g).decode("utf-8") if y else g) == w
        elif k.endswith("_message") and w != "parse failed":
            e = dns_errors(g, w)
            errs += [f"{k}: {x}" for x in e]
            continue
        elif w == "parse failed":
            ok = g.startswith("parse failed: ")
        else:
            ok = g == w
        if not ok:
            if k.endswith("_time"):
                w = f"{w // 10**9}.{w % 10**9:09d} s after 1970"
            errs.append(f"{k} {str(g)[:60]!r}, want {str(w)[:60]!r}")
    return errs

try:
    with open(out_path, encoding="utf-8") as f:
        text = f.read()
    if mode == "json":
        shown = [(json.loads(line), {}) for line in text.splitlines()]
    else:
        shown = parse_yaml(text)
except (ValueError, UnicodeDecodeError) as e:
    report(False, "output parses", str(e))
    sys.exit(1)
report(len(shown) == len(expected), f"message count ({len(expected)})", f"{len(shown)} messages shown")
for (s, c), exp in zip(shown, expected):
    try:
        errs = check(s, c, exp)
    except (ValueError, KeyError, TypeError, IndexError) as e:
        errs = [f"unexpected output: {e!r}"]
    report(not errs, f"msg {exp['label']}", "; ".join(errs))
sys.exit(1 if failures else 0)
EOF
)

# dnstap -r exits 0 even when it fails to read (the error is only on
# stderr), so stderr must be exactly the line it always prints. After a
# payload it cannot decode it hangs (its reader blocks on the output loop,
# which has returned), hence the time limit.
run_dnstap() {   # FILE FLAG OUT
    timeout 120 dnstap -r "$1" "$2" >"$3" 2>"$3.err"
    rc=$?
    if [ "$rc" -eq 124 ]; then
        echo "hung (killed after 120 s); stderr: $(grep -v '^dnstap: opened input file ' "$3.err" | head -n 3 | tr '\n' ' ')"
    elif [ "$rc" -ne 0 ]; then
        echo "exit status $rc"
    elif ! printf 'dnstap: opened input file %s\n' "$1" | cmp -s - "$3.err"; then
        echo "stderr: $(grep -v '^dnstap: opened input file ' "$3.err" | head -n 3 | tr '\n' ' ')"
    fi
}

for flag in -y -j; do
    out=$build/dnstap$flag.out
    why=$(run_dnstap "$file" "$flag" "$out")
    if [ -z "$why" ]; then
        pass "dnstap -r FILE $flag: exit 0, nothing on stderr but the file name"
    else
        fail "dnstap -r FILE $flag" "$why"
    fi
    mode=json
    [ "$flag" = -y ] && mode=yaml
    run_checker "dnstap $flag values" $py -c "$compare_py" "$json" "$mode" "$out"
done

# --- libfstrm ----------------------------------------------------------------
# fstrm_dump prints the frames' outline on stderr (the payloads go to
# stdout): every line there must be part of the outline. It tolerates a
# missing STOP or a cut last frame, so the frame sizes it reports must also
# add up to the file.
dump=$build/fstrm_dump.out
if fstrm_dump "$file" >"$dump.data" 2>"$dump"; then
    frames=$(grep -c '^Data frame ([0-9]*) bytes\.$' "$dump")
    sizes=$(sed -n 's/^Data frame (\([0-9]*\)) bytes\.$/\1/p' "$dump" | awk '{ s += $1 + 4 } END { print s + 0 }')
    bytes=$(wc -c <"$file" | tr -d ' ')
    head3=$(head -n 3 "$dump")
    want3=$(printf 'FSTRM_CONTROL_START.\nFSTRM_CONTROL_FIELD_CONTENT_TYPE (22 bytes).\n "protobuf:dnstap.Dnstap"')
    other=$(sed '1,3d;$d' "$dump" | grep -v '^Data frame ([0-9]*) bytes\.$' | head -n 3 | tr '\n' ' ')
    if [ "$head3" != "$want3" ]; then
        fail "fstrm_dump FILE" "START/content type not as expected: $(echo "$head3" | tr '\n' ' ')"
    elif [ -n "$other" ]; then
        fail "fstrm_dump FILE" "unexpected output: $other"
    elif [ "$frames" -ne "$count" ]; then
        fail "fstrm_dump FILE" "$frames data frames, want $count"
    elif [ "$(tail -n 1 "$dump")" != "FSTRM_CONTROL_STOP." ]; then
        fail "fstrm_dump FILE" "does not end with STOP"
    elif [ $((42 + sizes + 12)) -ne "$bytes" ]; then
        fail "fstrm_dump FILE" "START + frames + STOP = $((42 + sizes + 12)) bytes, file has $bytes"
    else
        pass "fstrm_dump FILE: exit 0, START protobuf:dnstap.Dnstap, $frames data frames, STOP, sizes add up"
    fi
else
    fail "fstrm_dump FILE" "exit status $?: $(tail -n 3 "$dump" | tr '\n' ' ')"
fi

# --- Google protobuf -----------------------------------------------------------
run_checker "check_pb.py" $py tests/check_pb.py "$file" "$json"

# --- negative controls: the checks above can fail ------------------------------
# corrupt MODE SRC DST: a copy of SRC with one byte changed (or added);
# prints the number of the data frame changed (0: none).
corrupt() {
    $py - "$@" <<'EOF'
import struct, sys
mode, src, dst = sys.argv[1:4]
data = bytearray(open(src, "rb").read())
frames, pos = [], 42                      # data frames after the 42-byte START
while struct.unpack_from(">I", data, pos)[0]:
    n = struct.unpack_from(">I", data, pos)[0]
    frames.append((pos + 4, n))
    pos += 4 + n
changed = 0
if mode == "wiretype":
    # The last field of a payload is Dnstap.type (tag 0x78: field 15,
    # varint); 0x7d makes it field 15, fixed32. The last frame, because
    # dnstap hangs after a bad payload that is not the last.
    start, n = frames[-1]
    assert data[start + n - 2] == 0x78
    data[start + n - 2] = 0x7D
    changed = len(frames)
elif mode == "value":
    # The largest payload ends with the 65535-byte response_message, whose
    # padding is zeros, then Dnstap.type: change one padding byte.
    start, n = max(frames, key=lambda f: f[1])
    assert data[start + n - 3] == 0
    data[start + n - 3] = 1
    changed = frames.index((start, n)) + 1
else:
    data.append(0)                        # one byte after STOP
open(dst, "wb").write(data)
print(changed)
EOF
}

bad=$build/corrupt.dnstap
for mode in wiretype value trailing; do
    if ! frame=$(corrupt "$mode" "$file" "$bad"); then
        fail "negative control $mode" "could not make the corrupt copy"
        continue
    fi
    msg="msg $(printf %02d "$frame")-"
    want="FAIL: pb: $msg"
    [ "$mode" = trailing ] && want="FAIL: pb: Frame Streams"
    $py tests/check_pb.py "$bad" "$json" >"$build/negative.out" 2>&1
    rc=$?
    if [ "$rc" -eq 1 ] && grep -q "^$want" "$build/negative.out"; then
        pass "negative control $mode: check_pb.py rejects the copy ($(grep "^$want" "$build/negative.out" | head -n 1 | cut -c 1-110))"
    else
        fail "negative control $mode" "check_pb.py exit $rc, no line starting '$want'"
    fi
    # dnstap's checks must see the same damage: an error on stderr for the
    # broken encoding, a different DNS message for the changed value.
    if [ "$mode" = wiretype ]; then
        why=$(run_dnstap "$bad" -j "$build/negative-j.out")
        if [ -n "$why" ]; then
            pass "negative control $mode: the dnstap -j stderr check catches it ($(echo "$why" | cut -c 1-90))"
        else
            fail "negative control $mode" "dnstap -j printed no error"
        fi
    elif [ "$mode" = value ]; then
        run_dnstap "$bad" -j "$build/negative-j.out" >/dev/null
        if ! $py -c "$compare_py" "$json" json "$build/negative-j.out" >"$build/negative.out" 2>&1 &&
            grep -q "^FAIL: dnstap -j: $msg" "$build/negative.out"; then
            pass "negative control $mode: the dnstap -j comparison rejects it"
        else
            fail "negative control $mode" "the dnstap -j comparison did not notice"
        fi
    fi
done
rm -f "$bad"

if [ "$fails" -ne 0 ]; then
    echo "interop: $fails check(s) failed"
    exit 1
fi
echo "interop: all checks passed"
