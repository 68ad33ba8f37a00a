#!/bin/sh
# The dtap tool (examples/dtap.c) against golang-dnstap's `dnstap` 0.4.0,
# run side by side on the same input:
#   the four commands of CoreDNS's post "Logging with dnstap", with only the
#   program name changed (and the paths in a temporary folder):
#     dnstap -u /tmp/dnstap.sock                     standard output, byte for byte
#     dnstap -u /tmp/dnstap.sock -w /tmp/july.dnstap the files read alike by dnstap -r -y
#     dnstap -r /tmp/july.dnstap -y                  byte for byte
#     dnstap -l 127.0.0.1:6000                       byte for byte
#   -r with -y, -j, -q and no format; -w FILE with a format (text), -a;
#   SIGTERM while a producer is still connected: the file ends with STOP and
#   holds every frame received;
#   -U and -T relay the payloads unchanged (to fstrm_capture; from a file
#   and live); -t closes a silent connection.
# Producers are fstrm_replay (fstrm-bin) sending tests/testdata.
# Usage: tests/dtap.sh BUILD_DIR
set -u
. "$(dirname "$0")/lib.sh"
need dnstap fstrm_replay fstrm_capture "$py"
DTAP=$build/dtap
[ -x "$DTAP" ] || { fail "dtap" "$DTAP not built (make $DTAP)"; exit 1; }
TESTDATA=${TESTDATA:-tests/testdata}
T=$(mktemp -d /tmp/dtap-test.XXXXXX) || exit 2   # short: unix socket paths
pids=""
trap 'for p in $pids; do kill $p 2>/dev/null; done; rm -rf "$T"' EXIT
CT=protobuf:dnstap.Dnstap
files=$(ls "$TESTDATA"/*.dnstap)

free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_sock() { i=0; while [ ! -S "$1" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done; [ -S "$1" ]; }
wait_port() { i=0; while ! "$py" -c "import socket; socket.create_connection(('127.0.0.1', $1)).close()" 2>/dev/null &&
                          [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done; }
replay_all() {   # fstrm_replay DESTINATION-ARGS: every test file, one after the other
    for f in $files; do
        # shellcheck disable=SC2086
        fstrm_replay -t $CT "$@" -r "$f" >/dev/null 2>&1 || return 1
    done
}
# stop PID [HUP-FILE]: golang's dnstap -w flushes only on SIGHUP (after the
# file is renamed away), then SIGTERM
stop() {
    sleep 0.3
    if [ $# = 2 ]; then mv "$2" "$2.done"; kill -HUP "$1"; sleep 0.5; fi
    kill -TERM "$1"
    wait "$1" 2>/dev/null
}
same() {   # same NAME FILE-OURS FILE-GOLANG
    if [ -s "$3" ] && cmp -s "$2" "$3"; then pass "$1: $(wc -l <"$2" | tr -d ' ') lines, byte for byte as golang's dnstap"
    else fail "$1" "differs from golang's dnstap ($(wc -l <"$2" | tr -d ' ') against $(wc -l <"$3" | tr -d ' ') lines): $(diff "$2" "$3" | head -n 4 | tr '\n' ' ')"; fi
}

# ---- 1. dnstap -u /tmp/dnstap.sock
for prog in dtap dnstap; do
    exe=$DTAP; [ $prog = dnstap ] && exe=dnstap
    rm -f "$T/dnstap.sock"
    "$exe" -u "$T/dnstap.sock" >"$T/u.$prog" 2>"$T/u.$prog.err" &
    p=$!; pids="$pids $p"
    wait_sock "$T/dnstap.sock" && replay_all -u "$T/dnstap.sock" || fail "dtap -u" "$prog: no socket or replay failed"
    stop $p
done
same "dtap -u SOCK (prints)" "$T/u.dtap" "$T/u.dnstap"

# ---- 2. dnstap -u /tmp/dnstap.sock -w /tmp/july.dnstap
for prog in dtap dnstap; do
    exe=$DTAP; [ $prog = dnstap ] && exe=dnstap
    rm -f "$T/dnstap.sock"
    "$exe" -u "$T/dnstap.sock" -w "$T/july.$prog" 2>"$T/w.$prog.err" &
    p=$!; pids="$pids $p"
    wait_sock "$T/dnstap.sock" && replay_all -u "$T/dnstap.sock" || fail "dtap -u -w" "$prog: no socket or replay failed"
    if [ $prog = dnstap ]; then stop $p "$T/july.$prog"; else stop $p; mv "$T/july.$prog" "$T/july.$prog.done"; fi
done
dnstap -r "$T/july.dtap.done" -y >"$T/july.dtap.y" 2>/dev/null
dnstap -r "$T/july.dnstap.done" -y >"$T/july.dnstap.y" 2>/dev/null
same "dtap -u SOCK -w FILE, the file read by dnstap -r -y" "$T/july.dtap.y" "$T/july.dnstap.y"

# ---- 3. dnstap -r /tmp/july.dnstap -y (and the other formats, on every file)
"$DTAP" -r "$T/july.dtap.done" -y >"$T/r.dtap" 2>"$T/r.err"
same "dtap -r FILE -y (the file dtap wrote)" "$T/r.dtap" "$T/july.dtap.y"
bad=""
for f in $files "$T/july.dnstap.done"; do
    for o in -y -j -q ""; do
        # shellcheck disable=SC2086
        "$DTAP" -r "$f" $o >"$T/o" 2>/dev/null; dnstap -r "$f" $o >"$T/g" 2>/dev/null
        cmp -s "$T/o" "$T/g" && [ -s "$T/g" ] || bad="$bad $(basename "$f")${o:- (default)}"
    done
done
[ -z "$bad" ] && pass "dtap -r FILE -y / -j / -q / no format: byte for byte as golang's on $(echo $files | wc -w) server files and golang's own capture" ||
    fail "dtap -r formats" "differ:$bad"

# ---- 4. dnstap -l 127.0.0.1:6000
for prog in dtap dnstap; do
    exe=$DTAP; [ $prog = dnstap ] && exe=dnstap
    port=$(free_port)
    "$exe" -l "127.0.0.1:$port" >"$T/l.$prog" 2>"$T/l.$prog.err" &
    p=$!; pids="$pids $p"
    wait_port "$port"
    replay_all -a 127.0.0.1 -p "$port" || fail "dtap -l" "$prog: replay failed"
    stop $p
done
same "dtap -l 127.0.0.1:PORT (prints)" "$T/l.dtap" "$T/l.dnstap"

# ---- -w FILE with a format writes text; -a appends
f1=$(echo $files | cut -d' ' -f1)
for prog in dtap dnstap; do
    exe=$DTAP; [ $prog = dnstap ] && exe=dnstap
    "$exe" -r "$f1" -y -w "$T/text.$prog" 2>/dev/null
    "$exe" -r "$f1" -j -w "$T/text.$prog" -a 2>/dev/null
done
same "dtap -r FILE -y -w OUT, then -j -w OUT -a" "$T/text.dtap" "$T/text.dnstap"

# ---- SIGTERM with a producer still connected: every frame, then STOP
cat >"$T/producer.py" <<'EOF'
import socket, struct, sys, time
CT = b'protobuf:dnstap.Dnstap'
def ctl(t, cts=()):
    b = struct.pack('>I', t) + b''.join(struct.pack('>II', 1, len(c)) + c for c in cts)
    return struct.pack('>II', 0, len(b)) + b
def frames(path):
    d = open(path, 'rb').read(); i = 0; out = []
    while i + 4 <= len(d):
        n = struct.unpack('>I', d[i:i + 4])[0]; i += 4
        if n == 0: i += 4 + struct.unpack('>I', d[i:i + 4])[0]; continue
        out.append(d[i:i + n]); i += n
    return out
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(ctl(4, [CT])); s.settimeout(5); s.recv(100)
fr = frames(sys.argv[2])
s.sendall(ctl(2, [CT]) + b''.join(struct.pack('>I', len(p)) + p for p in fr))
print('sent', len(fr)); sys.stdout.flush()
s.settimeout(30)
try: s.recv(100)          # until dtap goes away
except OSError: pass
EOF
rm -f "$T/dnstap.sock"
"$DTAP" -u "$T/dnstap.sock" -w "$T/term.dnstap" 2>"$T/term.err" &
p=$!; pids="$pids $p"
if wait_sock "$T/dnstap.sock"; then
    "$py" "$T/producer.py" "$T/dnstap.sock" "$f1" >"$T/prod.out" 2>&1 &
    pp=$!; pids="$pids $pp"
    i=0; while ! grep -qs sent "$T/prod.out" && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    sleep 0.3
    kill -TERM $p; wait $p; rc=$?
    wait $pp 2>/dev/null
    want=$(sed -n 's/^sent //p' "$T/prod.out")
    got=$(dnstap -r "$T/term.dnstap" -q 2>/dev/null | wc -l | tr -d ' ')
    tailhex=$(tail -c 12 "$T/term.dnstap" | od -An -tx1 | tr -d ' \n')
    if [ $rc = 0 ] && [ -n "$want" ] && [ "$got" = "$want" ] && [ "$tailhex" = 000000000000000400000003 ] &&
       "$DTAP" -r "$T/term.dnstap" -q >/dev/null 2>&1; then
        pass "dtap -u SOCK -w FILE, SIGTERM with the producer still connected: all $want frames, then STOP (dnstap -r and a strict read agree)"
    else
        fail "dtap SIGTERM" "exit $rc, $got of ${want:-?} frames, last 12 bytes $tailhex"
    fi
else
    fail "dtap SIGTERM" "no socket: $(cat "$T/term.err")"
fi

# ---- -U / -T: relay the payloads unchanged (to fstrm_capture)
want_y=$T/relay.want.y
: >"$want_y"
for f in $files; do dnstap -r "$f" -y 2>/dev/null >>"$want_y"; done
relay_check() {   # NAME CAPTURE-FILE
    dnstap -r "$2" -y >"$T/relay.got.y" 2>/dev/null
    if [ -s "$want_y" ] && cmp -s "$T/relay.got.y" "$want_y"; then
        pass "$1: $(grep -c '^type: MESSAGE' "$want_y") messages arrive unchanged (dnstap -r -y of the collector's file)"
    else
        fail "$1" "the collector's file differs: $(diff "$T/relay.got.y" "$want_y" | head -n 3 | tr '\n' ' ')"
    fi
}
rm -f "$T/coll.sock"
fstrm_capture -t $CT -u "$T/coll.sock" -w "$T/relayU.fstrm" >/dev/null 2>&1 &
cp=$!; pids="$pids $cp"
wait_sock "$T/coll.sock"
"$DTAP" $(for f in $files; do printf -- '-r %s ' "$f"; done) -U "$T/coll.sock" 2>"$T/relayU.err" ||
    fail "dtap -r -U" "exit $?: $(cat "$T/relayU.err")"
sleep 0.3; kill -TERM $cp; wait $cp 2>/dev/null
relay_check "dtap -r FILES -U SOCK (to fstrm_capture)" "$T/relayU.fstrm"

port=$(free_port)
fstrm_capture -t $CT -a 127.0.0.1 -p "$port" -w "$T/relayT.fstrm" >/dev/null 2>&1 &
cp=$!; pids="$pids $cp"
wait_port "$port"
rm -f "$T/dnstap.sock"
"$DTAP" -u "$T/dnstap.sock" -T "127.0.0.1:$port" 2>"$T/relayT.err" &
p=$!; pids="$pids $p"
wait_sock "$T/dnstap.sock" && replay_all -u "$T/dnstap.sock" || fail "dtap -u -T" "no socket or replay failed"
sleep 0.5; kill -TERM $p; wait $p; rc=$?
sleep 0.3; kill -TERM $cp; wait $cp 2>/dev/null
[ $rc = 0 ] || fail "dtap -u -T" "exit $rc: $(tail -n 2 "$T/relayT.err" | tr '\n' ' ')"
relay_check "dtap -u SOCK -T HOST:PORT (live, to fstrm_capture over TCP)" "$T/relayT.fstrm"

# ---- -t: a connection that stays silent is closed
rm -f "$T/dnstap.sock"
"$DTAP" -u "$T/dnstap.sock" -t 500ms >/dev/null 2>"$T/idle.err" &
p=$!; pids="$pids $p"
wait_sock "$T/dnstap.sock"
took=$("$py" -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(10); t = time.time()
try: s.recv(1)
except OSError: pass
print("%.1f" % (time.time() - t))' "$T/dnstap.sock")
kill -TERM $p; wait $p 2>/dev/null
if "$py" -c "import sys; sys.exit(not 0.3 <= $took <= 1.9)" && grep -q 'idle timeout' "$T/idle.err"; then
    pass "dtap -t 500ms: a silent connection is closed after ${took} s (idle timeout)"
else
    fail "dtap -t" "closed after $took s: $(tail -n 2 "$T/idle.err" | tr '\n' ' ')"
fi
# Output that cannot be written (a full disk; /dev/full here) is an error,
# said once, exit status 1: the text formats once lost it silently.
for args in "-r $TESTDATA/unbound-udp.dnstap -y" "-r $TESTDATA/unbound-udp.dnstap -j" \
            "-r $TESTDATA/unbound-udp.dnstap -q -w /dev/full"; do
    # shellcheck disable=SC2086
    "$DTAP" $args >/dev/full 2>"$T/full.err" && rc=0 || rc=$?
    if [ $rc = 1 ] && [ "$(grep -c 'writing the output: No space left on device' "$T/full.err")" = 1 ]; then
        pass "dtap $args > /dev/full: exit 1, said once ($(head -n 1 "$T/full.err"))"
    else
        fail "dtap $args > /dev/full" "exit $rc: $(head -n 3 "$T/full.err" | tr '\n' ' ')"
    fi
done
# -r into a dnstap file: the closing line counts the frames; a full disk is said once
set --
i=0; while [ $i -lt 60 ]; do set -- "$@" -r "$TESTDATA/unbound-udp.dnstap"; i=$((i + 1)); done
"$DTAP" "$@" -w "$T/many.dnstap" 2>"$T/many.err"
if grep -q "closed $T/many.dnstap: 2400 frames" "$T/many.err"; then pass "dtap -r x60 -w FILE: $(grep closed "$T/many.err")"
else fail "dtap -r x60 -w FILE" "$(tr '\n' ' ' <"$T/many.err")"; fi
"$DTAP" -r "$T/many.dnstap" -w /dev/full 2>"$T/full.err" && rc=0 || rc=$?
if [ $rc = 1 ] && [ "$(grep -c 'No space left on device' "$T/full.err")" = 1 ]; then
    pass "dtap -r FILE -w /dev/full: exit 1, said once"
else
    fail "dtap -r FILE -w /dev/full" "exit $rc, $(grep -c 'No space' "$T/full.err") lines: $(head -n 2 "$T/full.err" | tr '\n' ' ')"
fi
# A disk that fills up while a dnstap file is written (a file size limit
# here: write() takes what fits, then fails, as on a full disk): the file
# keeps its whole frames and ends with STOP, read alike by golang's dnstap
# and a strict read; the closing line counts the frames it holds.
filling() {   # filling NAME LIMIT: checks $T/cut.dnstap and $T/cut.err
    got=$(dnstap -r "$T/cut.dnstap" -q 2>"$T/cut.gerr" | wc -l | tr -d ' ')
    said=$(sed -n 's/.*closed .* after a write error: \([0-9]*\) frames, \([0-9]*\) bytes.*/\1 \2/p' "$T/cut.err")
    size=$(wc -c <"$T/cut.dnstap" | tr -d ' ')
    tailhex=$(tail -c 12 "$T/cut.dnstap" | od -An -tx1 | tr -d ' \n')
    if [ "$rc" = 1 ] && [ "$size" -le "$2" ] && [ "$got" -gt 0 ] && [ "$said" = "$got $size" ] &&
       [ "$tailhex" = 000000000000000400000003 ] && ! grep -qv '^dnstap: opened input file' "$T/cut.gerr" &&
       "$DTAP" -r "$T/cut.dnstap" -q >/dev/null 2>&1 && fstrm_dump "$T/cut.dnstap" >/dev/null 2>&1; then
        pass "$1, the disk full at $2 bytes: exit 1, $got whole frames then STOP, as the closing line says ($said)"
    else
        fail "$1, the disk full at $2 bytes" "exit $rc, $size bytes, golang read $got frames, said '${said}', last 12 bytes $tailhex: $(grep -v closed "$T/cut.err" | head -n 2 | tr '\n' ' ')"
    fi
}
for limit in 30000 30001 30100; do
    rm -f "$T/cut.dnstap"
    (trap '' XFSZ; exec prlimit --fsize=$limit "$DTAP" -r "$T/many.dnstap" -w "$T/cut.dnstap") 2>"$T/cut.err" && rc=0 || rc=$?
    filling "dtap -r FILE -w FILE" $limit
done
rm -f "$T/cut.dnstap" "$T/dnstap.sock"
(trap '' XFSZ; exec prlimit --fsize=20000 "$DTAP" -u "$T/dnstap.sock" -w "$T/cut.dnstap") 2>"$T/cut.err" &
p=$!; pids="$pids $p"
if wait_sock "$T/dnstap.sock"; then
    i=0; while kill -0 $p 2>/dev/null && [ $i -lt 10 ]; do replay_all -u "$T/dnstap.sock"; i=$((i + 1)); done
fi
# shellcheck disable=SC2086
kill -TERM $p 2>/dev/null; wait $p && rc=0 || rc=$?
filling "dtap -u SOCK -w FILE" 20000
# -t takes what Go's time.ParseDuration takes, and refuses what it refuses
bad="" n=0
for t in 0 0s 2µs 500μs 1e3ms 0x10s " 5s" 1.5s .5s 5.s 1m30s 10 -1s +2s 3ms2 1h1m1s1ms1us1ns "" s 1.s5; do
    "$DTAP" -r "$TESTDATA/named-tcp.dnstap" -q -t "$t" >/dev/null 2>&1 && a=0 || a=$?
    dnstap -r "$TESTDATA/named-tcp.dnstap" -q -t "$t" >/dev/null 2>&1 && b=0 || b=$?
    [ $a = $b ] || bad="$bad '$t' (dtap $a, dnstap $b)"
    n=$((n + 1))
done
[ -z "$bad" ] && pass "dtap -t DURATION: $n durations taken or refused as golang's dnstap does" || fail "dtap -t" "$bad"
# Errors name the program (dtap, not the reader it is built from)
"$DTAP" -r "$T/none.dnstap" 2>"$T/none.err" && rc=0 || rc=$?
if [ $rc = 1 ] && grep -q "^dtap: $T/none.dnstap: No such file or directory" "$T/none.err"; then
    pass "dtap -r MISSING: exit 1, 'dtap: ...: No such file or directory'"
else
    fail "dtap -r MISSING" "exit $rc: $(head -n 2 "$T/none.err" | tr '\n' ' ')"
fi
# -u printing into a pipe whose reader went away (dtap -u SOCK | head -n 1):
# the receiver ends with status 1 (it took frames into nowhere for ever)
rm -f "$T/dnstap.sock" "$T/out.fifo"
mkfifo "$T/out.fifo"
head -n 1 <"$T/out.fifo" >/dev/null &
h=$!
"$DTAP" -u "$T/dnstap.sock" -q >"$T/out.fifo" 2>"$T/epipe.err" &
p=$!; pids="$pids $p"
# head may read every line of the first replay in one go; only a write made
# after it left can fail, so replay again once head is gone.
wait_sock "$T/dnstap.sock" && replay_all -u "$T/dnstap.sock"
wait $h
kill -0 $p 2>/dev/null && replay_all -u "$T/dnstap.sock"
i=0; while kill -0 $p 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
if kill -0 $p 2>/dev/null; then
    fail "dtap -u SOCK | head -n 1" "still running 10 s after its output went away"
    kill -TERM $p
elif wait $p; then
    fail "dtap -u SOCK | head -n 1" "exit 0: $(head -n 2 "$T/epipe.err" | tr '\n' ' ')"
elif grep -q "writing the output: Broken pipe" "$T/epipe.err"; then
    pass "dtap -u SOCK | head -n 1: ends, status 1, when its output goes away"
else
    fail "dtap -u SOCK | head -n 1" "$(head -n 3 "$T/epipe.err" | tr '\n' ' ')"
fi
"$build/reader" -y "$TESTDATA/unbound-udp.dnstap" >/dev/full 2>"$T/full.err" && rc=0 || rc=$?
if [ $rc = 1 ] && grep -q 'reader: writing the output: No space left on device' "$T/full.err"; then
    pass "reader -y > /dev/full: exit 1, said"
else
    fail "reader -y > /dev/full" "exit $rc: $(head -n 2 "$T/full.err" | tr '\n' ' ')"
fi
exit $((fails > 0))
