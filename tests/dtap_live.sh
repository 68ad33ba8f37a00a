#!/bin/sh
# dtap (examples/dtap.c, with capture.c's receiver) as a long-running
# receiver, where golang-dnstap's `dnstap` keeps going:
#   eviction   a producer that did its handshake and sent a frame, then is
#              quiet, keeps its slot when 16 connections open and never send
#              a byte (the slots are full: the silent ones make room);
#   SIGHUP     -y -w FILE: after `mv FILE FILE.old; kill -HUP` (logrotate)
#              the text goes to a new FILE, as dnstap 0.4.0 does; with -a a
#              SIGHUP without the rename keeps FILE's lines;
#   bad frame  a data frame that is not a Dnstap protobuf: printing, it is
#              reported once on stderr and skipped, the connection stays up
#              and the frames after it print; -w FILE (a dnstap file) takes
#              every frame as it came;
#   SIGTERM    with standard output stalled (a reader that stopped reading),
#              dtap still exits, giving up on the output after a time limit.
# Usage: tests/dtap_live.sh BUILD_DIR
set -u
. "$(dirname "$0")/lib.sh"
need "$py"
DTAP=${DTAP:-$build/dtap}
[ -x "$DTAP" ] || { fail "dtap" "$DTAP not built (make $DTAP)"; exit 1; }
T=$(mktemp -d /tmp/dtap-live.XXXXXX) || exit 2   # short: unix socket paths
pids=""
trap 'for p in $pids; do kill $p 2>/dev/null; done; exec 3<&- 2>/dev/null; rm -rf "$T"' EXIT
SOCK=$T/s.sock

cat >"$T/peer.py" <<'EOF'
import os, socket, struct, sys, time
CT = b'protobuf:dnstap.Dnstap'
def ctl(t, cts=()):
    b = struct.pack('>I', t) + b''.join(struct.pack('>II', 1, len(c)) + c for c in cts)
    return struct.pack('>II', 0, len(b)) + b
def varint(v):
    out = b''
    while True:
        b, v = v & 0x7f, v >> 7
        if not v: return out + bytes([b])
        out += bytes([b | 0x80])
def field(n, b): return varint(n << 3 | 2) + varint(len(b)) + b
def name(s): return b''.join(bytes([len(l)]) + l.encode() for l in s.split('.')) + b'\0'
def payload(qname):   # Dnstap{identity, version, Message{CLIENT_QUERY, IPv4, UDP, ...}, type MESSAGE}
    dns = struct.pack('>6H', 0x1234, 0x0100, 1, 0, 0, 0) + name(qname) + struct.pack('>HH', 1, 1)
    m = varint(1 << 3) + varint(5) + varint(2 << 3) + varint(1) + varint(3 << 3) + varint(1)
    m += field(4, b'\x7f\0\0\1') + varint(6 << 3) + varint(53000)
    m += varint(8 << 3) + varint(1700000000) + varint(9 << 3 | 5) + struct.pack('<I', 123456789)
    m += field(10, dns)
    return field(1, b'id') + field(2, b'v') + field(14, m) + varint(15 << 3) + varint(1)
def frame(p): return struct.pack('>I', len(p)) + p
def connect(path, timeout=5):
    s = socket.socket(socket.AF_UNIX); s.connect(path); s.settimeout(timeout); return s
def handshake(path):
    s = connect(path); s.sendall(ctl(4, [CT]))
    if s.recv(100) != ctl(1, [CT]): sys.exit('no ACCEPT')
    return s
def finish(s):   # STOP; True when FINISH comes back
    try:
        s.sendall(ctl(3)); return s.recv(100) == ctl(5)
    except OSError: return False
def wait_lines(path, n, secs=10):
    t = time.time()
    while time.time() - t < secs:
        if os.path.exists(path) and open(path, 'rb').read().count(b'\n') >= n: return True
        time.sleep(0.05)
    return False
BAD = [b'\xff' * 5, payload('cut.example')[:-3]]   # no protobuf parser takes these

cmd = sys.argv[1]
if cmd == 'evict':   # SOCK OUT: a producer, quiet, then 16 peers that never send a byte
    s = handshake(sys.argv[2]); s.sendall(ctl(2, [CT]) + frame(payload('one.example')))
    if not wait_lines(sys.argv[3], 1): sys.exit('dtap did not print the first frame')
    time.sleep(0.3)
    silent = [connect(sys.argv[2]) for _ in range(16)]
    time.sleep(0.5)
    s.settimeout(0.5)
    try: state = 'closed' if s.recv(100) == b'' else 'got bytes'
    except socket.timeout: state = 'open'
    except OSError as e: state = str(e)
    if state != 'open': sys.exit('the producer was %s after 16 silent connections' % state)
    s.settimeout(5); s.sendall(frame(payload('two.example')))
    if not finish(s): sys.exit('no FINISH for the producer')
    if not wait_lines(sys.argv[3], 2): sys.exit('the second frame was not printed')
    print('ok'); sys.exit(0)
if cmd == 'send':    # SOCK QNAME...: one connection, one frame per name, STOP/FINISH
    s = handshake(sys.argv[2]); s.sendall(ctl(2, [CT]) + b''.join(frame(payload(q)) for q in sys.argv[3:]))
    sys.exit(0 if finish(s) else 'no FINISH')
if cmd == 'bad':     # SOCK: good, 40 bad ones, good, good; the payloads sent, in order, to PAYLOADS
    seq = [payload('a.example')] + BAD * 20 + [payload('b.example'), payload('c.example')]
    s = handshake(sys.argv[2]); s.sendall(ctl(2, [CT]) + b''.join(frame(p) for p in seq))
    open(sys.argv[3], 'wb').write(b''.join(frame(p) for p in seq))
    sys.exit(0 if finish(s) else 'connection closed: no FINISH after STOP')
if cmd == 'frames':  # FILE: the data frames of a dnstap file, as length + payload
    d = open(sys.argv[2], 'rb').read(); i = 0; out = b''
    while i + 4 <= len(d):
        n = struct.unpack('>I', d[i:i + 4])[0]
        if n == 0: i += 8 + struct.unpack('>I', d[i + 4:i + 8])[0]; continue
        out += d[i:i + 4 + n]; i += 4 + n
    sys.stdout.buffer.write(out)
if cmd == 'flood':   # SOCK: unidirectional, frames until dtap stops reading
    s = connect(sys.argv[2], 3); s.sendall(ctl(2, [CT])); f = frame(payload('flood.example'))
    try:
        for _ in range(5000): s.sendall(f)
    except OSError: pass
    print('stalled'); sys.stdout.flush(); time.sleep(30)
EOF
peer() { "$py" "$T/peer.py" "$@"; }
wait_sock() { i=0; while [ ! -S "$1" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done; [ -S "$1" ]; }
start() {   # start STDOUT STDERR DTAP-ARGS...: dtap on $SOCK in the background, $p
    o=$1 e=$2; shift 2
    rm -f "$SOCK"
    "$DTAP" -u "$SOCK" "$@" >"$o" 2>"$e" &
    p=$!; pids="$pids $p"
    wait_sock "$SOCK"
}
stop() { kill -TERM "$p" 2>/dev/null; wait "$p"; }
waitfor() {   # waitfor CONDITION...: up to 10 s
    i=0; while ! "$@" && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done; "$@"
}

# ---- eviction: 16 silent newcomers against a quiet producer (16 slots)
start "$T/ev.out" "$T/ev.err" -q
peer evict "$SOCK" "$T/ev.out" >"$T/ev.peer" 2>&1; prc=$?
stop
name="dtap -u (16 slots): a producer quiet after its handshake and one frame, then 16 connections that never send a byte"
if [ $prc = 0 ] && [ "$(wc -l <"$T/ev.out")" = 2 ] && grep -q 'evicted after .*not a byte sent' "$T/ev.err" &&
   ! grep -q '#1 unix: evicted' "$T/ev.err"; then
    pass "$name: the producer keeps its slot and prints its next frame; a silent one is evicted"
else
    fail "$name" "$(tail -n 1 "$T/ev.peer"); $(grep evicted "$T/ev.err" | head -n 2 | tr '\n' ' ')"
fi

# ---- SIGHUP reopens the -w text file
start /dev/null "$T/hup.err" -y -w "$T/hup.txt"
peer send "$SOCK" first.example
waitfor grep -qs first.example "$T/hup.txt"
mv "$T/hup.txt" "$T/hup.txt.old"
kill -HUP $p
waitfor test -e "$T/hup.txt"
peer send "$SOCK" second.example
waitfor grep -qs second.example "$T/hup.txt" || waitfor grep -qs second.example "$T/hup.txt.old"
stop; rc=$?
name="dtap -u -y -w FILE; mv FILE FILE.old; SIGHUP"
if [ $rc = 0 ] && grep -q second.example "$T/hup.txt" 2>/dev/null && ! grep -q first.example "$T/hup.txt" &&
   grep -q first.example "$T/hup.txt.old" && ! grep -q second.example "$T/hup.txt.old"; then
    pass "$name: the text after SIGHUP goes to a new FILE, the text before stays in FILE.old"
else
    fail "$name" "exit $rc; new FILE: $([ -e "$T/hup.txt" ] && echo yes || echo no); second.example in FILE.old: $(grep -c second.example "$T/hup.txt.old")"
fi
start /dev/null "$T/hupa.err" -q -w "$T/hupa.txt" -a
peer send "$SOCK" first.example
waitfor grep -qs first.example "$T/hupa.txt"
kill -HUP $p
sleep 0.3
peer send "$SOCK" second.example
waitfor grep -qs second.example "$T/hupa.txt"
stop; rc=$?
if [ $rc = 0 ] && [ "$(grep -c -e first.example -e second.example "$T/hupa.txt")" = 2 ]; then
    pass "dtap -u -q -w FILE -a; SIGHUP (FILE not renamed): FILE reopened for appending keeps the lines before"
else
    fail "dtap -w FILE -a, SIGHUP" "exit $rc: $(tr '\n' ' ' <"$T/hupa.txt")"
fi

# ---- a frame that is not a Dnstap protobuf, on a live connection
start "$T/bad.out" "$T/bad.err" -q
peer bad "$SOCK" "$T/bad.sent" >"$T/bad.peer" 2>&1; prc=$?
waitfor test "$(wc -l <"$T/bad.out")" -ge 3
stop; rc=$?
reports=$(grep -c 'not a Dnstap protobuf' "$T/bad.err")
name="dtap -u -q: good, 40 frames that are not Dnstap protobufs, good, good"
if [ $prc = 0 ] && [ $rc = 0 ] && [ "$(grep -c -e '"a\.example\."' -e '"b\.example\."' -e '"c\.example\."' "$T/bad.out")" = 3 ] &&
   [ "$(wc -l <"$T/bad.out")" = 3 ] && [ "$reports" = 1 ] && grep -q '40 skipped' "$T/bad.err"; then
    pass "$name: the 3 good ones print, the connection stays up (FINISH after STOP), 1 line on stderr, 40 counted"
else
    fail "$name" "$(cat "$T/bad.peer"); exit $rc, $(wc -l <"$T/bad.out") lines printed, $reports reports: $(grep -v -e connected -e listening "$T/bad.err" | head -n 3 | tr '\n' ' ')"
fi
start /dev/null "$T/badw.err" -w "$T/bad.dnstap"
peer bad "$SOCK" "$T/badw.sent" >"$T/badw.peer" 2>&1; prc=$?
stop; rc=$?
peer frames "$T/bad.dnstap" >"$T/badw.got" 2>/dev/null
name="dtap -u -w FILE (a dnstap file): the same 43 frames"
if [ $prc = 0 ] && [ $rc = 0 ] && [ -s "$T/badw.sent" ] && cmp -s "$T/badw.sent" "$T/badw.got"; then
    pass "$name: all written as they came, byte for byte, the connection stays up"
else
    fail "$name" "$(cat "$T/badw.peer"); exit $rc, $(wc -c <"$T/badw.got") of $(wc -c <"$T/badw.sent") bytes"
fi

# ---- SIGTERM while standard output is stalled
mkfifo "$T/fifo"
exec 3<>"$T/fifo"   # holds the pipe open and never reads
start "$T/fifo" "$T/stall.err" -y
"$py" "$T/peer.py" flood "$SOCK" >"$T/flood.out" 2>&1 &   # not through peer(): $! is python itself
fp=$!; pids="$pids $fp"
waitfor grep -qs stalled "$T/flood.out"
kill -TERM $p
i=0; while kill -0 $p 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
name="dtap -u -y with standard output stalled, SIGTERM"
if kill -0 $p 2>/dev/null; then
    fail "$name" "still running 10 s after SIGTERM"
    kill -KILL $p
    wait $p 2>/dev/null
else
    wait $p; rc=$?
    if [ $rc = 1 ] && grep -q 'giving up' "$T/stall.err"; then
        pass "$name: exits with status 1 after $((i / 10)).$((i % 10)) s, saying it gave up on the output"
    else
        fail "$name" "exit $rc: $(tail -n 1 "$T/stall.err")"
    fi
fi
kill $fp 2>/dev/null
exec 3<&-
exit $((fails > 0))
