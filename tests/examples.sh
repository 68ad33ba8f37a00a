#!/bin/sh
# Checks for examples/capture.c, examples/reader.c and the dtap tool that
# joins them (examples/dtap.c; its golang-dnstap interface: tests/dtap.sh).
#
#   tests/examples.sh BUILD_DIR
#
# Builds both with gcc and clang (warnings as errors), small -Os builds
# (sizes printed) and ASan+UBSan builds, then checks:
#   reader  -y agrees with golang-dnstap's `dnstap -r FILE -y` field by field
#           (both outputs parsed into documents of key/value pairs; DNS message
#           text compared line by line) on every file in tests/testdata,
#           on files written by dnstap.h, and on messages with corrupted and
#           synthetic DNS content (every record type, EDNS options, SVCB,
#           malformed names and lengths); -j gives valid JSON with golang's
#           values; -q gives golang's lines; dtap prints a live socket too;
#           garbage (truncated files, random bytes) never crashes it.
#   capture receives from fstrm_replay over unix and TCP (IPv4, IPv6), from
#           several producers at once; its files are read by `dnstap -r`,
#           `fstrm_dump` and the library reader (clean STOP) with the source's
#           message count; SIGTERM with a producer connected still ends the
#           file with STOP; rotation gives valid files whose counts add up;
#           bad peers are disconnected without harm to the others.
# Prints "PASS: name" or "FAIL: name: why" per check; exits 1 if any failed.
# Needs: gcc, clang (with ASan/UBSan), libnanopb-dev, dnstap
# (golang-github-dnstap-golang-dnstap-cli), fstrm-bin, python3 (Debian's).
set -u

. "$(dirname "$0")/lib.sh"
B=$build
TESTDATA=${TESTDATA:-tests/testdata}
PY=$py
[ -x "$PY" ] || PY=python3
W=$B/examples.work
rm -rf "$W" && mkdir -p "$W" || exit 2
pids=""
trap 'for p in $pids; do kill $p 2>/dev/null; done' EXIT

# ASan/UBSan findings get their own exit codes (86, 87): the reader itself
# exits 1 for broken input.
export ASAN_OPTIONS=detect_leaks=1:exitcode=86
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:exitcode=87
sanitizer_clean() {   # sanitizer_clean RC STDERR_FILE
    [ "$1" -lt 86 ] || [ "$1" -gt 87 ] && [ "$1" -lt 128 ] &&
        ! grep -q -e 'Sanitizer' -e 'runtime error' "$2"
}

# --- build ------------------------------------------------------------------
WARN="-std=c99 -Wall -Wextra -Werror -pedantic -Wconversion -Wsign-conversion -Wshadow -Wcast-qual
      -Wstrict-prototypes -Wmissing-prototypes"
built=1
# build() NAME CC ARGS...: one compile, in the background (they run in parallel)
build() {
    name=$1
    shift
    ("$@" 2>"$W/cc.$name.err" || echo "$name" >>"$W/cc.failed") &
}
for prog in capture reader dtap; do
    # gcc warns from its optimiser too (the -Os build below); clang's warnings
    # come from its front end
    build "$prog-clang" clang $WARN -fsyntax-only -I. "examples/$prog.c"
    build "$prog-Os" gcc $WARN -Os -ffunction-sections -fdata-sections -Wl,--gc-sections -s -I. "examples/$prog.c" \
        -o "$B/${prog}_small" -lprotobuf-nanopb -pthread
    build "$prog-asan" clang $WARN -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=all -I. \
        "examples/$prog.c" -o "$B/${prog}_asan" -lprotobuf-nanopb -pthread
done
wait
if [ -s "$W/cc.failed" ]; then
    for name in $(cat "$W/cc.failed"); do
        fail "build $name" "$(head -n 5 "$W/cc.$name.err" | tr '\n' ' ')"
    done
    built=0
fi
if [ $built = 0 ]; then
    echo "examples: build failed, nothing else checked"
    exit 1
fi
pass "build capture, reader and dtap: gcc and clang, -Werror -Wconversion -pedantic (C99), ASan+UBSan builds"
pass "stripped sizes (gcc -Os, gc-sections, strip): capture $(wc -c <"$B/capture_small") bytes, reader $(wc -c <"$B/reader_small") bytes, dtap $(wc -c <"$B/dtap_small") bytes"
R=$B/reader_asan
C=$B/capture_asan
D=$B/dtap_asan

# --- the Python helper: YAML/JSON comparison, test producers, corruptors -----
cat >"$W/ex.py" <<'EOF'
import ast, json, os, random, re, socket, struct, sys, time

# ---- Frame Streams and protobuf, just enough ----
CT = b'protobuf:dnstap.Dnstap'
def frames(path):
    d = open(path, 'rb').read()
    off, out = 0, []
    while off + 4 <= len(d):
        n = struct.unpack('>I', d[off:off + 4])[0]
        if n == 0:
            cl = struct.unpack('>I', d[off + 4:off + 8])[0]
            off += 8 + cl
            continue
        out.append(d[off + 4:off + 4 + n])
        off += 4 + n
    return out
def ctl(t, cts=()):
    body = struct.pack('>I', t) + b''.join(struct.pack('>II', 1, len(c)) + c for c in cts)
    return struct.pack('>II', 0, len(body)) + body
def fstrm(payloads):
    return ctl(2, [CT]) + b''.join(struct.pack('>I', len(p)) + p for p in payloads) + ctl(3)
def varint(n):
    out = b''
    while True:
        b = n & 0x7f
        n >>= 7
        if n: out += bytes([b | 0x80])
        else: return out + bytes([b])
def rd_varint(b, i):
    v = s = 0
    while True:
        c = b[i]; i += 1
        v |= (c & 0x7f) << s; s += 7
        if c < 0x80: return v, i
def pb_parse(b):
    i, out = 0, []
    while i < len(b):
        k, i = rd_varint(b, i)
        no, wt = k >> 3, k & 7
        if wt == 0: v, i = rd_varint(b, i)
        elif wt == 2:
            n, i = rd_varint(b, i); v = b[i:i + n]; i += n
        elif wt == 5: v = b[i:i + 4]; i += 4
        elif wt == 1: v = b[i:i + 8]; i += 8
        else: raise ValueError('wire type')
        out.append([no, wt, v])
    return out
def pb_build(fields):
    out = b''
    for no, wt, v in fields:
        out += varint(no << 3 | wt)
        if wt == 0: out += varint(v)
        elif wt == 2: out += varint(len(v)) + v
        else: out += v
    return out
def fld(no, wt, v): return pb_build([[no, wt, v]])

# ---- parse `dnstap -y` style YAML into documents of key -> value ----
def parse_yaml(text):
    docs, cur, parents = [], {}, []
    lines = text.split('\n')
    i = 0
    while i < len(lines):
        l = lines[i]; i += 1
        if l == '---':
            docs.append(cur); cur, parents = {}, []
            continue
        if not l.strip(): continue
        ind = len(l) - len(l.lstrip(' '))
        s = l.strip()
        parents = [p for p in parents if p[0] < ind]
        pre = ''.join(p[1] + '.' for p in parents)
        if s.startswith('#'):                      # "# query_message: parse failed: ..."
            k, _, v = s[1:].strip().partition(': ')
            cur[pre + '#' + k] = v
            continue
        k, _, v = s.partition(':')
        v = v.strip()
        if v == '':
            parents.append((ind, k)); continue
        if v == '|':                                # block literal: lines indented by ind+2
            blk = []
            while i < len(lines) and lines[i].startswith(' ' * (ind + 2)):
                blk.append(lines[i][ind + 2:]); i += 1
            cur[pre + k] = blk
            continue
        if v.startswith('"'): v = ast.literal_eval(v)
        else:
            v = re.sub(r'\s+#.*$', '', v)
            if v.startswith('!!timestamp '): v = v[len('!!timestamp '):]
        cur[pre + k] = v
    if cur: docs.append(cur)
    return docs

def read_text(p): return open(p, 'rb').read().decode('utf-8', 'surrogateescape')

def cmp_yaml(gp, op):
    g, o = parse_yaml(read_text(gp)), parse_yaml(read_text(op))
    bad, extra, shared, lines = [], set(), 0, 0
    if len(g) != len(o): bad.append('%d documents from dnstap, %d from reader' % (len(g), len(o)))
    for n, (a, b) in enumerate(zip(g, o)):
        for k, v in a.items():
            if k not in b: bad.append('doc %d: %s missing' % (n + 1, k)); continue
            shared += 1
            if isinstance(v, list):
                lines += len(v)
                if v != b[k]:
                    j = next((j for j in range(max(len(v), len(b[k]))) if v[j:j + 1] != b[k][j:j + 1]), 0)
                    bad.append('doc %d: %s line %d: %r vs %r' % (n + 1, k, j + 1, v[j:j + 1], b[k][j:j + 1]))
            elif v != b[k]: bad.append('doc %d: %s: %r vs %r' % (n + 1, k, v, b[k]))
        extra |= set(b) - set(a)
    if bad:
        print('; '.join(bad[:3]) + (' (%d differences)' % len(bad) if len(bad) > 3 else ''))
        return 1
    print('%d documents, %d fields and %d DNS text lines agree%s' % (len(g), shared, lines,
          '; reader adds ' + ', '.join(sorted({re.sub(r'^.*\.', '', k) for k in extra})) if extra else ''))
    return 0

def cmp_json(gp, op):
    g = [l for l in open(gp, 'rb').read().split(b'\n') if l]
    o = [l for l in open(op, 'rb').read().split(b'\n') if l]
    bad, n = [], [0]
    if len(g) != len(o): bad.append('%d lines from dnstap, %d from reader' % (len(g), len(o)))
    def walk(a, b, path):
        for k, v in a.items():
            if v == '<nil>': continue             # golang's rendering of an absent enum
            if k not in b: bad.append(path + k + ' missing'); continue
            if isinstance(v, dict): walk(v, b[k], path + k + '.'); continue
            n[0] += 1
            if v != b[k]: bad.append('%s%s: %r vs %r' % (path, k, v, b[k]))
    for i, l in enumerate(o):
        try: json.loads(l)
        except ValueError as e: bad.append('line %d is not JSON: %s' % (i + 1, e))
    for i, (x, y) in enumerate(zip(g, o)):
        try: walk(json.loads(x), json.loads(y), 'line %d: ' % (i + 1))
        except ValueError: pass
    if bad:
        print('; '.join(bad[:3]) + (' (%d problems)' % len(bad) if len(bad) > 3 else ''))
        return 1
    print('%d JSON lines, %d values agree' % (len(o), n[0]))
    return 0

def yaml_loads(p):   # our YAML is YAML (PyYAML, where installed)
    try: import yaml
    except ImportError: print('PyYAML not installed'); return 2
    class L(yaml.SafeLoader): pass
    # timestamps stay text: PyYAML cannot hold years beyond 9999, which golang prints too
    L.add_constructor('tag:yaml.org,2002:timestamp', lambda loader, node: loader.construct_scalar(node))
    docs = [d for d in yaml.load_all(read_text(p), Loader=L) if d is not None]
    print('%d documents load with PyYAML' % len(docs))
    return 0

# ---- corrupt the DNS messages inside valid Dnstap messages ----
def corrupt(src, dst, seed, copies):
    R = random.Random(seed)
    out = []
    for _ in range(copies):
        for f in frames(src):
            top = pb_parse(f)
            for t in top:
                if t[0] != 14: continue
                msg = pb_parse(t[2])
                for m in msg:
                    if m[0] in (10, 14) and m[2]:
                        b = bytearray(m[2])
                        k = R.random()
                        if k < 0.2: b = b[:R.randrange(len(b))]
                        else:
                            for _ in range(R.randint(1, 3)):
                                b[R.randrange(len(b))] = R.choice([0, 0xff, 0xc0, 0x3f, R.getrandbits(8)])
                        m[2] = bytes(b)
                t[2] = pb_build(msg)
            out.append(pb_build(top))
    open(dst, 'wb').write(fstrm(out))
    print(len(out))

# ---- synthetic DNS messages: every record type the reader knows, EDNS, mutations ----
def synth(dst, n, seed):
    R = random.Random(seed)
    def rb(k): return bytes(R.getrandbits(8) for _ in range(k))
    def name(s): return b''.join(bytes([len(l)]) + l.encode() for l in s.split('.') if l) + b'\0'
    def cs(s): return bytes([len(s)]) + s
    def rr(t, rd, cls=1, ttl=300, o='www.example.test'): return name(o) + struct.pack('>HHIH', t, cls, ttl, len(rd)) + rd
    def bitmap(types):
        w = {}
        for t in types: w.setdefault(t >> 8, set()).add(t & 255)
        out = b''
        for k in sorted(w):
            bm = bytearray(max(w[k]) // 8 + 1)
            for b in w[k]: bm[b // 8] |= 0x80 >> (b % 8)
            out += bytes([k, len(bm)]) + bm
        return out
    def svc():
        ps = [(1, cs(b'h2') + cs(b'h3') + cs(b'a,b\\c"')), (3, struct.pack('>H', 443)), (4, bytes([192, 0, 2, 1, 192, 0, 2, 2])),
              (5, rb(12)), (6, bytes(15) + b'\1'), (7, b'/dns-query{?dns}'), (0, struct.pack('>HH', 1, 3)), (2, b''), (65000, b'x y\x01')]
        R.shuffle(ps)
        return b''.join(struct.pack('>HH', k, len(v)) + v for k, v in sorted(ps[:R.randint(0, len(ps))]))
    def pool():
        return [rr(1, bytes([198, 51, 100, 10])), rr(28, bytes(10) + b'\xff\xff' + bytes([1, 2, 3, 4])), rr(28, bytes(15) + b'\1'),
            rr(28, bytes.fromhex('20010db8000000000001000000000001')), rr(2, name('ns1.example.test')), rr(5, name('a.b.c')),
            rr(6, name('ns.x') + name('h\\x.st.x') + struct.pack('>IIIII', 1, 2, 3, 4, 5)), rr(12, name('p.tr')), rr(15, b'\0\x0a' + name('mail.x')),
            rr(16, cs(b'hello world') + cs(b'q"u\\o\x00\xff') + cs(b'')), rr(33, struct.pack('>HHH', 1, 2, 3) + name('srv.x')),
            rr(43, struct.pack('>HBB', 12345, 8, 2) + rb(32)), rr(48, struct.pack('>HBB', 257, 3, 13) + rb(64)),
            rr(46, struct.pack('>HBBIIIH', 1, 13, 3, 300, 1700000000, 1690000000, 4711) + name('example.test') + rb(64)),
            rr(47, name('next.example.test') + bitmap([1, 2, 6, 16, 28, 46, 47, 48, 65, 257])),
            rr(50, struct.pack('>BBHB', 1, 1, 10, 4) + rb(4) + bytes([20]) + rb(20) + bitmap([1, 28])),
            rr(50, struct.pack('>BBHB', 1, 0, 0, 0) + bytes([20]) + rb(20)), rr(51, struct.pack('>BBHB', 1, 0, 5, 2) + b'\xab\xcd'),
            rr(52, b'\3\1\1' + rb(32)), rr(44, b'\4\2' + rb(32)), rr(257, b'\0' + cs(b'issue') + b'letsencrypt.org; a\\.b\\065\\'),
            rr(256, struct.pack('>HH', 1, 2) + b'https://x/"q"'), rr(35, struct.pack('>HH', 100, 10) + cs(b'S') + cs(b'SIP+D2U') + cs(b'') + name('_sip._udp.x')),
            rr(13, cs(b'INTEL') + cs(b'Linux')), rr(64, b'\0\1' + name('svc.x') + svc()), rr(65, b'\0\1' + name('.') + svc()),
            rr(65, b'\0\0' + name('alias.x')), rr(1234, rb(5)), rr(99, cs(b'v=spf1 -all')), rr(39, name('dn.x')),
            rr(59, struct.pack('>HBB', 1, 8, 2) + rb(32)), rr(60, struct.pack('>HBB', 257, 3, 8) + rb(40)), rr(61, rb(30)),
            rr(62, struct.pack('>IH', 66, 3) + bitmap([1, 2])), rr(63, struct.pack('>IBB', 1, 1, 1) + rb(48)), rr(53, b'\3\1\1' + rb(600)),
            rr(29, struct.pack('>BBBBIII', 0, 0x12, 0x16, 0x13, 0x80000000 + 3600000 * 52, 0x80000000 - 3600000 * 4 - 1234, 10000000 + 5033)),
            rr(1, b''), rr(15, b''), rr(255, b''), rr(10, b'null'), rr(36, b'\0\1' + name('kx')), rr(17, name('a.b') + name('c.d')),
            rr(27, cs(b'1') + cs(b'2') + cs(b'3')), rr(1, bytes([1, 2, 3, 4]), cls=3), rr(1, bytes([1, 2, 3, 4]), cls=255),
            rr(1, bytes([1, 2, 3, 4]), cls=254), rr(1, bytes([1, 2, 3, 4]), cls=77), rr(16, cs(bytes(range(0, 256, 7))), o='*.x'),
            rr(12, b'\x03a b\x04c(d)\x02@;\x00'), rr(46, struct.pack('>HBB', 1, 1, 1)),
            rr(250, name('hmac-sha256') + struct.pack('>HIHH', 0, 1700000000, 300, 32) + rb(32) + struct.pack('>HHH', 4711, 0, 6) + rb(6), cls=255, ttl=0),
            rr(249, name('gss-tsig') + struct.pack('>IIHHH', 1700000000, 1700003600, 3, 0, 4) + rb(4) + struct.pack('>H', 0)),
            rr(55, struct.pack('>BBH', 4, 2, 8) + rb(4) + rb(8) + name('rvs1.x') + name('rvs2.x')),
            rr(37, struct.pack('>HHB', 1, 12345, 8) + rb(20)), rr(104, struct.pack('>HQ', 10, 0x00144fffff20ee64)),
            rr(105, struct.pack('>H', 10) + bytes([10, 1, 2, 3])), rr(106, struct.pack('>HQ', 10, 0x20010DB811401000)),
            rr(107, struct.pack('>H', 10) + name('l64.x')), rr(108, bytes.fromhex('00005e0053aa')), rr(109, bytes.fromhex('00005e0efe2a0b0c')),
            rr(42, struct.pack('>HBB', 1, 24, 3) + bytes([192, 0, 2]) + struct.pack('>HBB', 2, 64, 0x80 | 4) + bytes.fromhex('20010db8')),
            rr(42, struct.pack('>HBB', 2, 120, 16) + bytes(10) + b'\xff\xff\x01\x02\x03\x04' + struct.pack('>HBB', 1, 0, 0)),
            rr(42, struct.pack('>HBB', 1, 8, 2) + b'\x0a\x00'), rr(2, b'\xc0\x0c'), rr(5, b'\xc0\xff'), rr(5, b'\x40\x00'), rr(5, b''.join(b'\x3f' + c * 63 for c in (b'a', b'b', b'c', b'd')) + b'\0')]
    def opt():
        opts = [(10, rb(8)), (10, rb(24)), (12, bytes(R.randint(0, 20))), (3, b'ns1\xe9'), (8, struct.pack('>HBB', 1, 24, 0) + bytes([192, 0, 2])),
                (8, struct.pack('>HBB', 2, 56, 0) + bytes.fromhex('20010db8000000')), (8, struct.pack('>HBB', 0, 0, 0)), (11, b''), (11, b'\x01\x2c'),
                (15, b'\0\x12blocked'), (15, b'\0\x63'), (5, bytes([8, 13, 15, 99])), (6, bytes([1, 2, 9])), (7, bytes([1])), (9, b''),
                (9, struct.pack('>I', 3600)), (2, struct.pack('>I', 60)), (2, struct.pack('>II', 60, 70)), (1, bytes(18)), (4, b'sip:x'),
                (65001, b'\x01\x02')]
        R.shuffle(opts)
        rd = b''.join(struct.pack('>HH', c, len(v)) + v for c, v in opts[:R.randint(0, 4)])
        return b'\0' + struct.pack('>HHIH', 41, R.choice([512, 1232, 4096]), R.choice([0, 0x8000, 0x01008000, 0x00010000]), len(rd)) + rd
    out = []
    for _ in range(n):
        p = pool()
        qd = [name(R.choice(['www.example.test', '.', 'x.y'])) + struct.pack('>HH', R.choice([1, 28, 65, 255, 1234]), R.choice([1, 3, 255]))]
        an = [R.choice(p) for _ in range(R.randint(0, 4))]
        ns = [R.choice(p) for _ in range(R.randint(0, 2))]
        ar = [R.choice(p) for _ in range(R.randint(0, 2))]
        if R.random() < 0.7: ar.insert(R.randint(0, len(ar)), opt())
        m = bytearray(struct.pack('>HHHHHH', R.getrandbits(16), R.getrandbits(16), len(qd), len(an), len(ns), len(ar)) + b''.join(qd + an + ns + ar))
        k = R.random()
        if 0.3 <= k < 0.5: m = m[:R.randint(0, len(m))]
        elif k >= 0.5:
            for _ in range(R.randint(1, 4)):
                if m: m[R.randrange(len(m))] = R.choice([0, 0xff, 0xc0, 0xc0 | R.getrandbits(6), R.getrandbits(8)])
            if R.random() < 0.2: m[4:12] = struct.pack('>HHHH', *[R.randint(0, 5) for _ in range(4)])
        typ = R.choice([5, 6])
        body = fld(1, 0, typ) + fld(10 if typ == 5 else 14, 2, bytes(m))
        out.append(fld(1, 2, b'synthetic') + fld(14, 2, body) + fld(15, 0, 1))
    open(dst, 'wb').write(fstrm(out))
    print(len(out))

# ---- Dnstap-level edge cases: identities to quote, times, addresses, types ----
def edge(dst, long_addresses=False):
    def dt(ident, typ=5, fam=None, proto=None, qa=None, ra=None, qp=None, qs=None, qn=None, rs=None, rn=None):
        m = fld(1, 0, typ)
        for no, v in ((2, fam), (3, proto), (6, qp), (8, qs), (12, rs)):
            if v is not None: m += fld(no, 0, v)
        for no, v in ((4, qa), (5, ra)):
            if v is not None: m += fld(no, 2, v)
        for no, v in ((9, qn), (13, rn)):
            if v is not None: m += varint(no << 3 | 5) + struct.pack('<I', v)
        return fld(1, 2, ident) + fld(2, 2, b'') + fld(14, 2, m) + fld(15, 0, 1)
    v6 = bytes.fromhex
    ps = [dt(b'plain'), dt(b'\x00\x07\x08\x09\x0a\x0b\x0c\x0d\x1b\x7f'),
          dt(b'caf\xc3\xa9 \xe2\x80\xa8 \xc2\xa0 \xc2\x85 \xef\xbb\xbf \xf0\x9f\x98\x80 \xee\x80\x80'),
          dt(b'bad \xff \xc3 \xed\xa0\x80 \xf4\x90\x80\x80 "q" \\ <&>'),
          dt(b'x', qs=1700000000, qn=1500000000, rs=0, rn=0), dt(b'x', qs=2 ** 40, qn=999999999, rs=253402300799, rn=1),
          dt(b'x', qs=2 ** 64 - 1, qn=5), dt(b'x', qs=1, qn=10), dt(b'x', qa=b''), dt(b'x', qa=bytes(16), ra=bytes(15) + b'\x01'),
          dt(b'x', qa=bytes(10) + b'\xff\xff\x01\x02\x03\x04', ra=v6('20010db8000000000000000000000001')),
          dt(b'x', qa=v6('20010db8000100000000000000000001'), ra=v6('00000000000000000000000000000001')),
          dt(b'x', qa=v6('fe800000000000000000000000000000'), ra=v6('00010000000100000000000000000000')),
          dt(b'x', typ=9, proto=3, fam=2, qp=0), dt(b'x', typ=10, proto=4), dt(b'x', typ=13), dt(b'x', typ=14, rs=5),
          dt(b'x', typ=12, qs=5), dt(b'x', typ=11, proto=7)]
    # seconds Go reads as int64 and wraps: the window from -2^63 up, and around it
    for s in (2 ** 62, 2 ** 63 - 1, 2 ** 63, 2 ** 63 + 5, 2 ** 63 + 10 ** 9, 2 ** 63 + 10 ** 18, 2 ** 64 - 10 ** 12,
              2 ** 64 - 2, 2 ** 63 - 62135596800, 2 ** 63 - 62135596799, 2 ** 63 - 1 - 86400):
        ps.append(dt(b't', qs=s, qn=1, rs=s, rn=1999999999))
    if long_addresses:   # golang prints them as "?" and all their hex, but its -j gives up on them
        ps = [dt(b'x', qa=bytes(range(20)), ra=bytes(range(5))), dt(b'x', qa=bytes(range(17)), ra=bytes(range(100)))]
    open(dst, 'wb').write(fstrm(ps))
    print(len(ps))

# ---- random garbage: with and without a valid START in front ----
def garbage(dir, seed):
    R = random.Random(seed)
    names = []
    for i in range(24):
        k = i % 3
        if k == 0: b = bytes(R.getrandbits(8) for _ in range(R.randint(0, 5000)))
        else:
            b = ctl(2, [CT])
            for _ in range(R.randint(1, 30)):
                p = bytes(R.getrandbits(8) for _ in range(R.randint(1, 300)))
                if k == 2:   # a plausible Dnstap around random DNS bytes
                    p = fld(1, 2, b'g') + fld(14, 2, fld(1, 0, R.randint(0, 16)) + fld(R.choice([10, 14]), 2, p)) + fld(15, 0, 1)
                b += struct.pack('>I', len(p) if R.random() < 0.95 else R.getrandbits(32)) + p
            if R.random() < 0.5: b += ctl(3)
        names.append(os.path.join(dir, 'garbage%02d.bin' % i))
        open(names[-1], 'wb').write(b)
    print(' '.join(names))

# ---- a producer that stays connected after sending (for SIGTERM) ----
def producer(sock, src, n):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sock)
    s.sendall(ctl(4, [CT]))
    s.settimeout(5)
    acc = s.recv(100)
    if CT not in acc: print('no ACCEPT'); return 1
    fr = frames(src)[:n]
    s.sendall(ctl(2, [CT]) + b''.join(struct.pack('>I', len(p)) + p for p in fr))
    print('sent', len(fr)); sys.stdout.flush()
    s.settimeout(60)
    try: s.recv(100)        # until the capture goes away
    except OSError: pass
    return 0

# ---- a file with READY (a bidirectional handshake) before START ----
def readyfirst(src, dst):
    fr = frames(src)
    data = b''.join(struct.pack('>I', len(p)) + p for p in fr)
    open(dst, 'wb').write(ctl(4, [CT]) + ctl(2, [CT]) + data + ctl(3))
    print(len(fr))

# ---- peers that connect and stay silent: n before the handshake, n after
# (READY -> ACCEPT, START), interleaved; held open until the file 'release'
# appears; then prints how many the receiver closed meanwhile ----
def silent(addr, n, release):
    def conn():
        if addr.startswith('/'):
            s = socket.socket(socket.AF_UNIX); s.connect(addr)
        else:
            h, p = addr.rsplit(':', 1); s = socket.create_connection((h, int(p)))
        s.settimeout(5)
        return s
    held = []
    for i in range(2 * n):
        s = conn()
        if i % 2:
            try:
                s.sendall(ctl(4, [CT]))
                if CT in s.recv(100): s.sendall(ctl(2, [CT]))
            except OSError: pass
        held.append(s)
    print('connected', len(held)); sys.stdout.flush()
    t = time.time()
    while not os.path.exists(release) and time.time() - t < 60: time.sleep(0.05)
    closed = 0
    for s in held:
        s.setblocking(False)
        try: closed += s.recv(100) == b''
        except BlockingIOError: pass
        except OSError: closed += 1
    print('closed by the receiver', closed)
    return 0

# ---- peers that must be disconnected ----
def badpeers(sock, lo, hi, skips=False):   # skips: a frame that is not protobuf is skipped (dtap printing)
    def conn():
        s = socket.socket(socket.AF_UNIX); s.connect(sock); s.settimeout(7); return s
    def closed(s):
        try:
            while True:
                d = s.recv(1000)
                if not d: return True
        except OSError: return False
    res = []
    s = conn(); s.sendall(b'GET / HTTP/1.1\r\nHost: x\r\n\r\n'); res.append(('garbage', closed(s)))
    s = conn(); s.sendall(ctl(4, [b'protobuf:other.Type'])); d = s.recv(100)
    res.append(('READY without dnstap gets an empty ACCEPT', d == ctl(1) and closed(s)))
    s = conn(); s.sendall(ctl(4, [CT])); d = s.recv(100)
    s.sendall(ctl(2, [CT]) + struct.pack('>I', 10 ** 7)); res.append(('oversized frame', d == ctl(1, [CT]) and closed(s)))
    s = conn(); s.sendall(ctl(2, [b'text/plain'])); res.append(('START with another content type', closed(s)))
    if skips:
        s = conn(); s.sendall(ctl(4, [CT])); d = s.recv(100)
        s.sendall(ctl(2, [CT]) + struct.pack('>I', 5) + b'\xff' * 5 + ctl(3)); d += s.recv(100)
        res.append(('data that is not protobuf (skipped, FINISH after STOP)', d == ctl(1, [CT]) + ctl(5) and closed(s)))
    else:
        s = conn(); s.sendall(ctl(2, [CT]) + struct.pack('>I', 5) + b'\xff' * 5); res.append(('data that is not protobuf', closed(s)))
    s = conn(); s.sendall(struct.pack('>I', 20) + b'x' * 20); res.append(('data before START', closed(s)))
    s = conn(); t = time.time(); ok = closed(s); res.append(('silent peer (handshake timeout)', ok and lo < time.time() - t < hi))
    bad = [n for n, ok in res if not ok]
    print('not disconnected: ' + ', '.join(bad) if bad else 'disconnected: ' + ', '.join(n for n, _ in res))
    return 1 if bad else 0

cmd = sys.argv[1]
if cmd == 'yaml': sys.exit(cmp_yaml(sys.argv[2], sys.argv[3]))
if cmd == 'json': sys.exit(cmp_json(sys.argv[2], sys.argv[3]))
if cmd == 'yamlload': sys.exit(yaml_loads(sys.argv[2]))
if cmd == 'corrupt': corrupt(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
if cmd == 'synth': synth(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
if cmd == 'garbage': garbage(sys.argv[2], int(sys.argv[3]))
if cmd == 'edge': edge(sys.argv[2])
if cmd == 'edge-addr': edge(sys.argv[2], True)
if cmd == 'producer': sys.exit(producer(sys.argv[2], sys.argv[3], int(sys.argv[4])))
if cmd == 'badpeers': sys.exit(badpeers(sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), len(sys.argv) > 5))
if cmd == 'readyfirst': readyfirst(sys.argv[2], sys.argv[3])
if cmd == 'silent': sys.exit(silent(sys.argv[2], int(sys.argv[3]), sys.argv[4]))
if cmd == 'frames': print(len(frames(sys.argv[2])))
EOF
ex() { "$PY" "$W/ex.py" "$@"; }

# --- inputs ---------------------------------------------------------------
files=""
for f in "$TESTDATA"/*.dnstap; do [ -f "$f" ] && files="$files $f"; done
[ -n "$files" ] || fail "testdata" "no .dnstap files in $TESTDATA"
# written by dnstap.h: the sample program, and gen_sample's file when interop ran
if gcc -std=c99 -O2 -I. examples/sample_file.c -o "$W/sample_file" -lprotobuf-nanopb 2>"$W/cc.err" &&
        "$W/sample_file" "$W/library.dnstap" >/dev/null 2>&1; then
    files="$files $W/library.dnstap"
else
    fail "library-written file" "examples/sample_file.c did not build or run"
fi
[ -f "$B/sample.dnstap" ] && files="$files $B/sample.dnstap"
ex synth "$W/synthetic.dnstap" 3000 7 >/dev/null && ex synth "$W/synthetic2.dnstap" 3000 106 >/dev/null ||
    fail "synthetic DNS messages" "generator failed"
ex corrupt "$TESTDATA/named-tcp.dnstap" "$W/corrupt-named.dnstap" 1 5 >/dev/null &&
    ex corrupt "$TESTDATA/unbound-udp.dnstap" "$W/corrupt-unbound.dnstap" 2 5 >/dev/null &&
    ex corrupt "$TESTDATA/dnsdist-udp.dnstap" "$W/corrupt-dnsdist.dnstap" 3 5 >/dev/null ||
    fail "corrupted DNS messages" "corruptor failed"
ex edge "$W/edge.dnstap" >/dev/null && ex edge-addr "$W/edge-addr.dnstap" >/dev/null ||
    fail "Dnstap edge cases" "generator failed"
mutated="$W/synthetic.dnstap $W/synthetic2.dnstap $W/corrupt-named.dnstap $W/corrupt-unbound.dnstap $W/corrupt-dnsdist.dnstap $W/edge.dnstap $W/edge-addr.dnstap"

# --- (a) YAML, (b) JSON, -q: reader against dnstap -r --------------------
for f in $files $mutated; do
    n=$(basename "$f")
    dnstap -r "$f" -y >"$W/g.y" 2>"$W/g.err"
    "$R" -y "$f" >"$W/o.y" 2>"$W/o.err"
    rc=$?
    if ! sanitizer_clean $rc "$W/o.err"; then fail "reader -y $n" "exit $rc: $(head -n 3 "$W/o.err" | tr '\n' ' ')"
    elif [ $rc != 0 ]; then fail "reader -y $n" "exit $rc: $(head -n 2 "$W/o.err" | tr '\n' ' ')"
    elif grep -qv '^dnstap: opened input file' "$W/g.err"; then fail "reader -y $n" "dnstap -r complained: $(head -n 1 "$W/g.err")"
    elif out=$(ex yaml "$W/g.y" "$W/o.y"); then pass "reader -y $n agrees with dnstap -r -y: $out"
    else fail "reader -y $n" "$out"
    fi
    case "$f" in "$W"/synthetic*|"$W"/corrupt*|"$W"/edge*) ;; *)   # golang's own YAML is not always YAML for broken DNS
        out=$(ex yamlload "$W/o.y"); rc=$?
        if [ $rc = 0 ]; then pass "reader -y $n is YAML: $out"
        elif [ $rc != 2 ]; then fail "reader -y $n is YAML" "$out"
        fi ;;
    esac

    dnstap -r "$f" -j >"$W/g.j" 2>/dev/null
    "$R" -j "$f" >"$W/o.j" 2>"$W/o.err"
    rc=$?
    if ! sanitizer_clean $rc "$W/o.err" || [ $rc != 0 ]; then fail "reader -j $n" "exit $rc: $(head -n 3 "$W/o.err" | tr '\n' ' ')"
    elif [ "$n" = edge-addr.dnstap ]; then :   # golang's -j stops at the first (text format function failed)
    elif out=$(ex json "$W/g.j" "$W/o.j"); then pass "reader -j $n agrees with dnstap -r -j: $out"
    else fail "reader -j $n" "$out"
    fi

    dnstap -r "$f" -q >"$W/g.q" 2>/dev/null
    "$R" -q "$f" >"$W/o.q" 2>"$W/o.err"
    rc=$?
    if ! sanitizer_clean $rc "$W/o.err" || [ $rc != 0 ]; then fail "reader -q $n" "exit $rc: $(head -n 3 "$W/o.err" | tr '\n' ' ')"
    elif cmp -s "$W/g.q" "$W/o.q"; then pass "reader -q $n: the same $(wc -l <"$W/o.q") lines as dnstap -r -q"
    else fail "reader -q $n" "differs from dnstap -q: $(diff "$W/g.q" "$W/o.q" | sed -n 2p)"
    fi
done

# --- (d) garbage never crashes the reader ---------------------------------
trunc=""
for f in $TESTDATA/*.dnstap; do
    size=$(wc -c <"$f")
    i=1
    while [ $i -lt "$size" ]; do
        t="$W/trunc-$(basename "$f" .dnstap)-$i"
        head -c $i "$f" >"$t"
        trunc="$trunc $t"
        i=$((i + 89))
    done
done
garbage=$(ex garbage "$W" 11)
ok=1
for fmt in -y -j -q; do
    # shellcheck disable=SC2086
    "$R" $fmt $trunc $garbage $mutated >/dev/null 2>"$W/o.err"
    rc=$?
    if ! sanitizer_clean $rc "$W/o.err"; then
        fail "reader $fmt survives garbage" "exit $rc: $(grep -m 3 -e Sanitizer -e 'runtime error' "$W/o.err" | tr '\n' ' ')"
        ok=0
    fi
done
if [ $ok = 1 ]; then
    n=$(echo $trunc $garbage | wc -w)
    pass "reader survives $n truncated and random files and 6000 synthetic + 530 corrupted DNS messages (ASan+UBSan, -y -j -q; exit 1, no crash)"
fi
printf 'x' | "$R" -q - >/dev/null 2>"$W/o.err"
rc=$?
if sanitizer_clean $rc "$W/o.err" && [ $rc = 1 ] && grep -q 'input ends inside a frame' "$W/o.err"; then
    pass "reader: broken Frame Streams on stdin gives exit status 1 and the reason"
else
    fail "reader: broken Frame Streams on stdin" "exit $rc: $(head -n 1 "$W/o.err")"
fi

# a file that begins with READY: fstrm_dump and dnstap -r refuse it, so the
# reader does too (exit 1, the reason); -L reads every message anyway
rf=$W/ready-first.dnstap
n=$(ex readyfirst "$TESTDATA/named-tcp.dnstap" "$rf")
fstrm_dump "$rf" >"$W/fd.out" 2>&1
fdrc=$?
others="fstrm_dump: $(grep -m 1 -i -e error -e fail "$W/fd.out"); dnstap -r: $(dnstap -r "$rf" -q 2>&1 | head -n 1)"
"$R" -q "$rf" >"$W/rf.q" 2>"$W/o.err"
rc=$?
"$R" -q -L "$rf" >"$W/rfl.q" 2>"$W/ol.err"
lrc=$?
if ! grep -qi -e error -e fail "$W/fd.out" || [ "$(dnstap -r "$rf" -q 2>/dev/null | wc -l)" != 0 ]; then
    fail "reader: READY before START in a file" "the reference readers accept it now ($others, fstrm_dump exit $fdrc)"
elif ! sanitizer_clean $rc "$W/o.err" || [ $rc != 1 ] || [ -s "$W/rf.q" ] || ! grep -q 'out of sequence' "$W/o.err"; then
    fail "reader: READY before START in a file" "exit $rc, $(wc -l <"$W/rf.q" | tr -d ' ') messages printed: $(head -n 1 "$W/o.err")"
elif [ $lrc != 0 ] || [ "$(wc -l <"$W/rfl.q" | tr -d ' ')" != "$n" ]; then
    fail "reader -L: READY before START" "exit $lrc, $(wc -l <"$W/rfl.q" | tr -d ' ') of $n messages"
else
    pass "reader: a file with READY before START is refused ($(head -n 1 "$W/o.err" | sed 's/^reader: [^:]*: //'); exit 1) as by $others; reader -L reads its $n messages"
fi

# --- capture ----------------------------------------------------------------
count() { dnstap -r "$1" -q 2>/dev/null | wc -l | tr -d ' '; }
dumped() { fstrm_dump "$1" 2>&1 | grep -c '^Data frame'; }
# start_capture ERRFILE ARGS...: runs the ASan capture, waits until it writes
start_capture() {
    cerr=$1
    shift
    rm -f "$cerr"
    "$C" "$@" 2>"$cerr" &
    cap_pid=$!
    pids="$pids $cap_pid"
    i=0
    while [ $i -lt 50 ]; do
        grep -qs '^capture: writing' "$cerr" && return 0
        kill -0 $cap_pid 2>/dev/null || break
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}
stop_capture() {   # SIGTERM, wait; sets cap_rc
    kill -TERM $cap_pid 2>/dev/null
    wait $cap_pid
    cap_rc=$?
}
ends_with_stop() { [ "$(tail -c 12 "$1" | od -An -tx1 | tr -d ' \n')" = 000000000000000400000003 ]; }
# check_file NAME FILE WANT: read by dnstap -r, fstrm_dump and the library reader
check_file() {
    got=$(count "$2")
    d=$(dumped "$2")
    "$R" -q "$2" >/dev/null 2>"$W/r.err"
    rrc=$?
    if [ "$got" != "$3" ] || [ "$d" != "$3" ]; then fail "$1" "$2: dnstap -r sees $got, fstrm_dump $d, want $3"; return 1; fi
    if [ $rrc != 0 ]; then fail "$1" "$2: library reader: $(head -n 1 "$W/r.err")"; return 1; fi
    if ! ends_with_stop "$2"; then fail "$1" "$2 does not end with STOP"; return 1; fi
    return 0
}

sock=$W/cap.sock
for f in $TESTDATA/*.dnstap; do
    n=$(basename "$f")
    want=$(count "$f")
    out=$W/cap-$n
    if ! start_capture "$W/cap.err" -u "$sock" -w "$out"; then fail "capture <- fstrm_replay $n" "did not start: $(head -n 2 "$W/cap.err")"; continue; fi
    fstrm_replay -t protobuf:dnstap.Dnstap -u "$sock" -r "$f" >/dev/null 2>&1 || fail "capture <- fstrm_replay $n" "fstrm_replay failed"
    sleep 0.2
    stop_capture
    if ! sanitizer_clean $cap_rc "$W/cap.err" || [ $cap_rc != 0 ]; then
        fail "capture <- fstrm_replay $n" "exit $cap_rc: $(grep -m 2 -v '^capture: ' "$W/cap.err" | tr '\n' ' ')"
    elif check_file "capture <- fstrm_replay $n" "$out" "$want"; then
        dnstap -r "$f" -y >"$W/g.y" 2>/dev/null
        dnstap -r "$out" -y >"$W/o.y" 2>/dev/null
        if cmp -s "$W/g.y" "$W/o.y"; then
            pass "capture <- fstrm_replay $n (unix): $want messages, read alike by dnstap -r, fstrm_dump and the library reader; $(tail -n 1 "$W/cap.err" | sed 's/^capture: //')"
        else fail "capture <- fstrm_replay $n" "dnstap -r -y of the capture differs from the source"
        fi
    fi
done

# several producers at once, over unix, TCP/IPv4 and TCP/IPv6 (where ::1 works)
out=$W/cap-many.dnstap
v6=""
v6name=""
if "$PY" -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null; then
    v6="-l [::1]:0"
    v6name=", TCP ::1"
fi
# shellcheck disable=SC2086
if start_capture "$W/cap.err" -u "$sock" -l 127.0.0.1:0 $v6 -w "$out"; then
    p4=$(sed -n 's/^capture: listening on 127\.0\.0\.1 port \([0-9]*\)$/\1/p' "$W/cap.err")
    p6=$(sed -n 's/^capture: listening on ::1 port \([0-9]*\)$/\1/p' "$W/cap.err")
    want=0
    : >"$W/want.q"
    rp=""
    for f in $TESTDATA/*.dnstap; do
        for dst in "-u $sock" "-a 127.0.0.1 -p $p4" ${v6:+"-a ::1 -p $p6"}; do
            # shellcheck disable=SC2086
            fstrm_replay -t protobuf:dnstap.Dnstap $dst -r "$f" >/dev/null 2>&1 &
            rp="$rp $!"
            dnstap -r "$f" -q 2>/dev/null >>"$W/want.q"
        done
    done
    for p in $rp; do wait $p || fail "capture <- many" "an fstrm_replay failed"; done
    sleep 0.3
    stop_capture
    want=$(wc -l <"$W/want.q" | tr -d ' ')
    nconn=$(echo $rp | wc -w)
    if ! sanitizer_clean $cap_rc "$W/cap.err" || [ $cap_rc != 0 ]; then fail "capture <- many" "exit $cap_rc"
    elif check_file "capture <- $nconn fstrm_replay at once" "$out" "$want"; then
        dnstap -r "$out" -q 2>/dev/null | sort >"$W/got.q"
        if sort "$W/want.q" | cmp -s - "$W/got.q"; then
            pass "capture <- $nconn fstrm_replay at once (unix, TCP 127.0.0.1$v6name): all $want messages in one file; $(tail -n 1 "$W/cap.err" | sed 's/^capture: //')"
        else fail "capture <- many" "the messages differ from the sources"
        fi
    fi
else
    fail "capture <- many" "did not start: $(head -n 3 "$W/cap.err" | tr '\n' ' ')"
fi

# SIGTERM while a producer is still connected: buffered frames flushed, STOP written
out=$W/cap-term.dnstap
if start_capture "$W/cap.err" -u "$sock" -w "$out"; then
    ex producer "$sock" "$TESTDATA/unbound-udp.dnstap" 25 >"$W/prod.out" 2>&1 &
    prod=$!
    pids="$pids $prod"
    i=0
    while [ $i -lt 30 ] && ! grep -qs sent "$W/prod.out"; do sleep 0.1; i=$((i + 1)); done
    sleep 1.5
    ondisk=$("$R" -q "$out" 2>/dev/null | wc -l | tr -d ' ')
    stop_capture
    wait $prod 2>/dev/null
    if ! sanitizer_clean $cap_rc "$W/cap.err" || [ $cap_rc != 0 ]; then fail "capture: SIGTERM" "exit $cap_rc"
    elif [ "$ondisk" != 25 ]; then fail "capture: frames reach the disk within a second" "$ondisk of 25 on disk after 1.5 s"
    elif check_file "capture: SIGTERM with a producer connected" "$out" 25; then
        pass "capture: frames on disk within a second; SIGTERM with a producer still connected ends the file with STOP (library reader: clean end, 25 messages)"
    fi
else
    fail "capture: SIGTERM" "did not start"
fi

# rotation by size (and by SIGHUP)
rm -f "$W"/rot.dnstap*
if start_capture "$W/cap.err" -u "$sock" -w "$W/rot.dnstap" -r 3000; then
    want=0
    : >"$W/want.y"
    for f in $TESTDATA/*.dnstap; do
        fstrm_replay -t protobuf:dnstap.Dnstap -u "$sock" -r "$f" >/dev/null 2>&1
        dnstap -r "$f" -y 2>/dev/null >>"$W/want.y"
        want=$((want + $(count "$f")))
    done
    sleep 0.2
    kill -HUP $cap_pid
    sleep 0.3
    stop_capture
    total=0
    nf=0
    ok=1
    big=0
    : >"$W/got.y"
    i=0
    g=$W/rot.dnstap
    while [ -f "$g" ]; do
        c=$(count "$g")
        check_file "capture -r: $(basename "$g")" "$g" "$c" || ok=0
        [ "$(wc -c <"$g")" -le 3000 ] || big=1
        dnstap -r "$g" -y 2>/dev/null >>"$W/got.y"
        total=$((total + c))
        nf=$((nf + 1))
        i=$((i + 1))
        g=$W/rot.dnstap.$i
    done
    if ! sanitizer_clean $cap_rc "$W/cap.err" || [ $cap_rc != 0 ]; then fail "capture -r" "exit $cap_rc"
    elif [ $ok = 0 ]; then :
    elif [ $nf -lt 3 ] || [ $big = 1 ] || [ $total != $want ]; then
        fail "capture -r" "$nf files, $total of $want messages, a file above 3000 bytes: $big"
    elif ! cmp -s "$W/want.y" "$W/got.y"; then fail "capture -r" "the files in order do not hold the sources in order"
    else
        pass "capture -r 3000, then SIGHUP: $nf complete files of at most 3000 bytes holding all $total messages in order"
    fi
else
    fail "capture -r" "did not start"
fi

# silent peers cannot lock producers out: 32 connect to a capture with 16
# slots (16 stay silent before the handshake, 16 after START) and hold on;
# then fstrm_replay must get a slot (the peer idle longest is evicted) and
# deliver every message; the same with -n 4 slots over TCP
for via in unix tcp; do
    if [ $via = unix ]; then slots=16 args="-u $sock"; else slots=4 args="-l 127.0.0.1:0 -n 4"; fi
    out=$W/cap-silent-$via.dnstap
    rm -f "$W/release"
    # shellcheck disable=SC2086
    if start_capture "$W/cap.err" $args -w "$out"; then
        if [ $via = unix ]; then addr=$sock dst="-u $sock"
        else
            p4=$(sed -n 's/^capture: listening on 127\.0\.0\.1 port \([0-9]*\)$/\1/p' "$W/cap.err")
            addr=127.0.0.1:$p4 dst="-a 127.0.0.1 -p $p4"
        fi
        ex silent "$addr" 16 "$W/release" >"$W/silent.out" 2>&1 &
        sp=$!
        i=0
        while [ $i -lt 100 ] && ! grep -qs '^connected' "$W/silent.out"; do sleep 0.1; i=$((i + 1)); done
        # shellcheck disable=SC2086
        fstrm_replay -t protobuf:dnstap.Dnstap $dst -r "$TESTDATA/named-tcp.dnstap" >"$W/replay.out" 2>&1
        rrc=$?
        touch "$W/release"
        wait $sp
        stop_capture
        want=$(count "$TESTDATA/named-tcp.dnstap")
        name="capture -n $slots ($via): 32 silent peers (16 before the handshake, 16 after START) then fstrm_replay"
        if ! sanitizer_clean $cap_rc "$W/cap.err" || [ $cap_rc != 0 ]; then fail "$name" "exit $cap_rc"
        elif [ $rrc != 0 ]; then fail "$name" "fstrm_replay failed: $(head -n 2 "$W/replay.out" | tr '\n' ' ')"
        elif check_file "$name" "$out" "$want"; then
            pass "$name: all $want messages delivered; $(grep -c 'evicted after' "$W/cap.err") idle peers evicted, $(sed -n 's/^closed by the receiver //p' "$W/silent.out") silent ones closed"
        fi
    else
        fail "capture: silent peers ($via)" "did not start"
    fi
done

# bad peers: disconnected with a reason, while good producers are served;
# the same against dtap printing a live socket, at the same time (the silent
# peer takes 2 s at both: dtap receives with capture.c's code), except that
# dtap skips a data frame that is not protobuf and keeps the connection
out=$W/cap-bad.dnstap
rsock=$W/reader.sock
"$D" -q -u "$rsock" >"$W/live.q" 2>"$W/live.err" &
rl=$!
pids="$pids $rl"
if start_capture "$W/cap.err" -u "$sock" -w "$out"; then
    i=0
    while [ $i -lt 50 ] && ! grep -qs listening "$W/live.err"; do sleep 0.1; i=$((i + 1)); done
    ex badpeers "$sock" 1.5 4 >"$W/bad.out" 2>&1 &
    bp=$!
    ex badpeers "$rsock" 1.5 4 skips >"$W/rbad.out" 2>&1 &
    rbp=$!
    sleep 0.3
    fstrm_replay -t protobuf:dnstap.Dnstap -u "$sock" -r "$TESTDATA/named-tcp.dnstap" >/dev/null 2>&1
    : >"$W/want.q"
    rp=""
    for f in $TESTDATA/*.dnstap; do
        fstrm_replay -t protobuf:dnstap.Dnstap -u "$rsock" -r "$f" >/dev/null 2>&1 &
        rp="$rp $!"
        dnstap -r "$f" -q 2>/dev/null >>"$W/want.q"
    done
    for p in $rp; do wait $p; done
    wait $bp
    bprc=$?
    wait $rbp
    rbprc=$?
    stop_capture
    want=$(count "$TESTDATA/named-tcp.dnstap")
    reasons=$(grep -c -e 'larger than the limit' -e 'does not offer' -e 'unexpected content type' \
        -e 'not a Dnstap protobuf' -e 'out of sequence' -e 'no handshake' "$W/cap.err")
    if ! sanitizer_clean $cap_rc "$W/cap.err" || [ $cap_rc != 0 ]; then fail "capture: bad peers" "exit $cap_rc"
    elif [ $bprc != 0 ]; then fail "capture: bad peers" "$(cat "$W/bad.out")"
    elif [ "$reasons" -lt 7 ]; then fail "capture: bad peers" "only $reasons reasons logged"
    elif check_file "capture: bad peers" "$out" "$want"; then
        pass "capture: bad peers ($(sed 's/^disconnected: //' "$W/bad.out" | tr -d '\n')) are disconnected with the reason logged; a producer meanwhile delivers all $want messages"
    fi
else
    fail "capture: bad peers" "did not start"
    rbprc=1
fi

# dtap on a live socket: 3 producers at once, and the bad peers
sleep 0.3
kill -TERM $rl
wait $rl
rc=$?
sort "$W/live.q" >"$W/live.sorted"
if ! sanitizer_clean $rc "$W/live.err" || [ $rc -gt 1 ]; then fail "dtap -u" "exit $rc: $(tail -n 2 "$W/live.err" | tr '\n' ' ')"
elif [ "$rbprc" != 0 ]; then fail "dtap -u: bad peers" "$(cat "$W/rbad.out")"
elif sort "$W/want.q" | cmp -s - "$W/live.sorted"; then
    pass "dtap -q -u: $(wc -l <"$W/live.q" | tr -d ' ') messages from 3 producers at once, as dnstap -r -q prints them, while 6 bad peers are disconnected and a frame that is not protobuf is skipped"
else
    fail "dtap -u" "$(wc -l <"$W/live.q" | tr -d ' ') lines, want $(wc -l <"$W/want.q" | tr -d ' ')"
fi

echo "examples: $fails failed"
[ $fails = 0 ]
