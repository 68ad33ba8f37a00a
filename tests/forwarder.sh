#!/bin/sh
# Tests of examples/forwarder.c (with tests/upstream.c), for `make test`.
#
#   tests/forwarder.sh BUILD_DIR
#
# Builds the forwarder with gcc and clang (warnings as errors; also with
# -DDNSTAP_WITH_MBEDTLS), and the ASan+UBSan builds that run. Then:
#   answers   the answers through the forwarder (UDP and TCP, IPv4 and IPv6)
#             are the upstream's own (kdig's answer section and status)
#   events    three taps in one forwarder: `--full` on a unix socket to
#             fstrm_capture, not full over TCP to fstrm_capture -a/-p, and a
#             `--full` file: tap. The unix capture holds exactly CQ, FQ, FR, CR
#             per query (CQ, FQ, CR for the one the upstream never answers:
#             SERVFAIL after --timeout) with the right addresses, ports,
#             protocols, times and messages, checked with protobuf
#             (tests/check_forwarder.py) and with `dnstap -r -y` / `-j`; the
#             TCP capture holds the same events without DNS messages, the file
#             the same events with them
#   stall     the receiver is SIGSTOPped: thousands of queries are still all
#             answered, promptly; the tap counts what it could not keep; after
#             SIGCONT the file holds exactly the frames the tap counts as sent
#   absent    taps to a unix path and a TCP port where nobody listens: all
#             queries answered (40 in flight at once, TCP pipelining), exit
#             within the shutdown bound, every message counted as dropped
#   tls       four tls:// taps to socat (OpenSSL) in front of fstrm_capture:
#             --ca, --pin and --skipverify connect and deliver every frame; a
#             wrong --pin never connects and DNS is answered all the same
#   idle      1,000 idle TCP connections (nothing, or a partial query), then
#             32 silent clients (16 say nothing, 16 stay after one answer):
#             a real TCP client still gets every answer within 2 s (50
#             queries on one connection, 20 on connections of their own) and
#             the tap holds the 4 events of every query answered
# Prints "PASS: name" / "FAIL: name: why"; exits 1 if anything failed.
# Needs: gcc, clang, libnanopb-dev, libmbedtls-dev, fstrm-bin, knot-dnsutils
# (kdig), golang-github-dnstap-golang-dnstap-cli, python3-protobuf,
# protobuf-compiler, socat, openssl; /usr/bin/python3.
set -u
. "$(dirname "$0")/lib.sh"
B=$build
PY=$py
CHECK="$PY tests/check_forwarder.py"
need kdig fstrm_capture dnstap clang protoc

# ---- builds ----
WARN="-std=c99 -Wall -Wextra -Werror -pedantic -Wconversion -Wsign-conversion -Wshadow -Wcast-qual \
-Wstrict-prototypes -Wmissing-prototypes"
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all"
compile() { # name command...
    name=$1; shift
    if "$@" >"$B/fwd-build.log" 2>&1; then pass "build: $name"
    else fail "build: $name" "$(head -c 600 "$B/fwd-build.log")"; fi
}
compile "forwarder, gcc -Os" gcc $WARN -Os -I. examples/forwarder.c -o "$B/forwarder_os"
compile "forwarder, clang -O2" clang $WARN -O2 -I. examples/forwarder.c -o "$B/forwarder_clang"
compile "forwarder, gcc -DDNSTAP_WITH_MBEDTLS" gcc $WARN -O2 -DDNSTAP_WITH_MBEDTLS -I. examples/forwarder.c \
    -o "$B/forwarder_tls" -lmbedtls -lmbedx509 -lmbedcrypto
compile "forwarder, clang ASan+UBSan" clang $WARN -g -O1 $SAN -I. examples/forwarder.c -o "$B/forwarder_asan"
compile "upstream, clang ASan+UBSan" clang $WARN -g -O1 $SAN tests/upstream.c -o "$B/upstream_asan"
[ -x "$B/forwarder_asan" ] && [ -x "$B/upstream_asan" ] || exit 1
if [ -x "$B/forwarder_os" ]; then
    strip -o "$B/forwarder_os.stripped" "$B/forwarder_os"
    echo "INFO: forwarder, gcc -Os, stripped: $(wc -c <"$B/forwarder_os.stripped") bytes"
fi

# ---- processes ----
T=$(mktemp -d /tmp/fwdtest.XXXXXX) || exit 2      # short: unix socket paths
PIDS=""
cleanup() {
    for p in $PIDS; do kill -CONT "$p" 2>/dev/null; kill "$p" 2>/dev/null; done
    for p in $PIDS; do wait "$p" 2>/dev/null; done
    if [ $fails = 0 ] && [ -z "${KEEP:-}" ]; then rm -rf "$T"; else echo "INFO: files kept in $T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_for() { # file pattern [tenths]
    i=0
    while ! grep -q "$2" "$1" 2>/dev/null; do
        i=$((i + 1)); [ $i -gt "${3:-50}" ] && return 1; sleep 0.1
    done
}
wait_sock() { i=0; while [ ! -S "$1" ]; do i=$((i + 1)); [ $i -gt 50 ] && return 1; sleep 0.1; done; }
port_of() { sed -n "s/.*listening on $2:\([0-9]*\).*/\1/p" "$1" | head -n 1; }
now_ns() { date +%s%N; }
# stop PID SECONDS: SIGTERM, then wait at most SECONDS; 0 if it exited in time
stop() {
    kill -TERM "$1" 2>/dev/null
    i=0
    while kill -0 "$1" 2>/dev/null; do
        i=$((i + 1)); [ $i -gt $(($2 * 10)) ] && { kill -KILL "$1"; wait "$1" 2>/dev/null; return 1; }
        sleep 0.1
    done
    wait "$1"
}
# run_check NAME OUT ARGS...: tests/check_forwarder.py ARGS, its PASS/FAIL
# lines shown and counted; an exit status != 0 without a FAIL line fails too
run_check() {
    name=$1; out=$2; shift 2
    $CHECK "$@" >"$out" 2>&1
    rc=$?
    if [ "$name" = "burst (IPv6)" ]; then sed 's/^\([A-Z]*: \)burst/\1burst (IPv6)/' "$out"; else cat "$out"; fi
    fails=$((fails + $(grep -c '^FAIL:' "$out")))
    [ $rc = 0 ] || grep -q '^FAIL:' "$out" || fail "$name" "check_forwarder.py exit status $rc"
}
sanitizer_clean() { ! grep -qE 'runtime error|AddressSanitizer|LeakSanitizer' "$1"; }
last_stats() { grep "tap $2 " "$1" | tail -n 1; }
field() { sed -n "s/.* $1 \([0-9]*\).*/\1/p"; }

"$B/upstream_asan" 0 2>"$T/upstream.log" & UP=$!; PIDS="$PIDS $UP"
wait_for "$T/upstream.log" "listening on" || { fail upstream "did not start: $(cat "$T/upstream.log")"; exit 1; }
UPORT=$(port_of "$T/upstream.log" 127.0.0.1)
V6=0
grep -q '^0*1 ' /proc/net/if_inet6 2>/dev/null && V6=1
[ $V6 = 1 ] || echo "INFO: no ::1 on this machine: IPv6 listener not tested"

# start_forwarder NAME ARGS...: sets FWD, P4, P6
start_forwarder() {
    log=$T/$1.log; shift
    set -- -l 127.0.0.1:0 "$@"
    [ $V6 = 1 ] && set -- -l '[::1]:0' "$@"
    "$B/forwarder_asan" "$@" -u "127.0.0.1:$UPORT" --timeout 700 2>"$log" &
    FWD=$!; PIDS="$PIDS $FWD"
    n=$([ $V6 = 1 ] && echo 2 || echo 1)
    i=0
    while [ "$(cat "$log" 2>/dev/null | grep -c 'listening on')" -lt $n ]; do
        i=$((i + 1)); [ $i -gt 50 ] && { fail "$(basename "$log" .log)" "forwarder did not start: $(cat "$log")"; return 1; }
        sleep 0.1
    done
    P4=$(port_of "$log" 127.0.0.1)
    P6=$(port_of "$log" '\[::1\]')
}

# ==== 1. answers and events: three taps ====
TPORT=$($CHECK freeport)
fstrm_capture -t protobuf:dnstap.Dnstap -u "$T/full.sock" -w "$T/full.dnstap" 2>"$T/cap-full.log" & CAPU=$!
fstrm_capture -t protobuf:dnstap.Dnstap -a 127.0.0.1 -p "$TPORT" -w "$T/tcp.dnstap" 2>"$T/cap-tcp.log" & CAPT=$!
PIDS="$PIDS $CAPU $CAPT"
wait_sock "$T/full.sock" || fail capture "fstrm_capture -u did not start"
wait_for "$T/cap-tcp.log" "opened output" || true
start_forwarder fwd1 -t "unix://$T/full.sock" --full --identity fwd-test --version "v 1" --extra x-full \
    -t "tcp://127.0.0.1:$TPORT" --identity fwd-test --version "v 1" --extra x-tcp --queue 2 --writebuffer 1 \
    -t "file:$T/file.dnstap" --full --identity fwd-test --version "v 1" --extra x-full || exit 1
wait_for "$T/fwd1.log" "tap 1: info: dnstap: connected" || fail "taps connect" "$(cat "$T/fwd1.log")"

# queries: server port proto name type answered
S6=::1; Q6=${P6:-}; FAM6=INET6
[ $V6 = 1 ] || { S6=127.0.0.1; Q6=$P4; FAM6=INET; }
cat >"$T/queries" <<EOF
127.0.0.1 $P4 udp www.example.test A 1 INET
127.0.0.1 $P4 tcp www.example.test AAAA 1 INET
$S6 $Q6 udp example.test MX 1 $FAM6
$S6 $Q6 tcp nope.example.test A 1 $FAM6
127.0.0.1 $P4 udp example.test TXT 1 INET
$S6 $Q6 udp www.example.test AAAA 1 $FAM6
127.0.0.1 $P4 tcp big.example.test A 1 INET
127.0.0.1 $P4 udp outside.invalid A 1 INET
127.0.0.1 $P4 udp drop.example.test A 0 INET
EOF
T0=$(now_ns)
sections() { grep -vE '^;; (Received|Time|From|->>HEADER)|^$' | sed 's/; id: [0-9]*//'; }
bad=""
while read -r srv port proto name type answered fam; do
    opt=""; [ "$proto" = tcp ] && opt=+tcp
    kdig @"$srv" -p "$port" "$name" "$type" $opt +noall +header +answer +authority +timeout=3 +retry=0 \
        >"$T/via" 2>&1
    kdig @127.0.0.1 -p "$UPORT" "$name" "$type" $opt +noall +header +answer +authority +timeout=3 +retry=0 \
        >"$T/direct" 2>&1
    status=$(sed -n 's/.*status: \([A-Z]*\).*/\1/p' "$T/via")
    if [ "$answered" = 1 ]; then
        sections <"$T/via" >"$T/via.s"; sections <"$T/direct" >"$T/direct.s"
        st_direct=$(sed -n 's/.*status: \([A-Z]*\).*/\1/p' "$T/direct")
        if [ -z "$status" ] || [ "$status" != "$st_direct" ] || ! cmp -s "$T/via.s" "$T/direct.s"; then
            bad="$bad $proto/$srv/$name/$type(status '$status' vs '$st_direct')"
        fi
    elif [ "$status" != SERVFAIL ]; then
        bad="$bad $name: status '$status', want SERVFAIL after the timeout"
    fi
done <"$T/queries"
T1=$(now_ns)
[ -z "$bad" ] && pass "answers: through the forwarder = straight from the upstream (9 queries, UDP+TCP, v4+v6, SERVFAIL on timeout)" ||
    fail answers "$bad"

stop $FWD 10 && pass "fwd1: exits 0 on SIGTERM" || fail fwd1 "exit status $? on SIGTERM"
stop $CAPU 5; stop $CAPT 5
sanitizer_clean "$T/fwd1.log" || fail "fwd1 sanitizers" "$(grep -A5 -E 'runtime error|Sanitizer' "$T/fwd1.log" | head -20)"
for k in 0 1 2; do
    s=$(last_stats "$T/fwd1.log" $k)
    logged=$(echo "$s" | field logged); sent=$(echo "$s" | field sent); dropped=$(echo "$s" | field dropped)
    if [ -n "$logged" ] && [ "$logged" = "$sent" ] && [ "$dropped" = 0 ] && [ "$logged" -gt 0 ]; then
        pass "fwd1 tap $k: stats at exit: logged $logged = sent, nothing dropped"
    else
        fail "fwd1 tap $k stats" "$s"
    fi
done

# expectations for the checker
{
    printf '{"t0": %s, "t1": %s, "upstream": ["127.0.0.1", %s],\n' "$T0" "$T1" "$UPORT"
    printf ' "listeners": {"INET": ["127.0.0.1", %s], "INET6": ["::1", %s]},\n' "$P4" "${P6:-0}"
    printf ' "taps": [{"file": "%s", "full": true, "identity": "fwd-test", "version": "v 1", "extra": "x-full"},\n' \
        "$T/full.dnstap"
    printf '          {"file": "%s", "full": false, "identity": "fwd-test", "version": "v 1", "extra": "x-tcp"},\n' \
        "$T/tcp.dnstap"
    printf '          {"file": "%s", "full": true, "identity": "fwd-test", "version": "v 1", "extra": "x-full"}],\n' \
        "$T/file.dnstap"
    printf ' "queries": ['
    sep=""
    while read -r srv port proto name type answered fam; do
        a=true; [ "$answered" = 0 ] && a=false
        printf '%s\n  {"name": "%s.", "qtype": "%s", "proto": "%s", "family": "%s", "answered": %s}' \
            "$sep" "$name" "$type" "$proto" "$fam" "$a"
        sep=,
    done <"$T/queries"
    printf ']}\n'
} >"$T/expect.json"
run_check events "$T/check.out" events "$T/expect.json"

# ==== 2. stall: receiver stopped ====
rm -f "$T/stall.sock"
fstrm_capture -t protobuf:dnstap.Dnstap -u "$T/stall.sock" -w "$T/stall.dnstap" 2>"$T/cap-stall.log" & CAPS=$!
PIDS="$PIDS $CAPS"
wait_sock "$T/stall.sock" || fail stall "fstrm_capture did not start"
start_forwarder fwd2 -t "unix://$T/stall.sock" --full --queue 1 || exit 1
wait_for "$T/fwd2.log" "connected to" || fail stall "tap did not connect"
kill -STOP $CAPS
if $CHECK load 127.0.0.1 "$P4" 3000 >"$T/load.out" 2>&1; then
    pass "stall: receiver stopped: $(cat "$T/load.out")"
else
    fail stall "$(cat "$T/load.out")"
fi
kill -USR1 $FWD
sleep 0.3
s=$(last_stats "$T/fwd2.log" 0)
full=$(echo "$s" | sed -n 's/.*(full \([0-9]*\).*/\1/p')
[ "${full:-0}" -gt 0 ] && pass "stall: SIGUSR1 stats show the tap stalled (dropped as full: $full)" ||
    fail "stall stats" "nothing dropped while the receiver was stopped: $s"
kill -CONT $CAPS
kdig @127.0.0.1 -p "$P4" www.example.test A +short +timeout=2 +retry=0 >"$T/after" 2>&1
grep -q 192.0.2.1 "$T/after" && pass "stall: answers after SIGCONT" || fail stall "after SIGCONT: $(cat "$T/after")"
$CHECK load 127.0.0.1 "$P4" 1000 >"$T/load2.out" 2>&1 || fail stall "after SIGCONT: $(cat "$T/load2.out")"
kill -STOP $CAPS                        # stalled again while the forwarder stops
start=$(date +%s)
stop $FWD 8 && pass "stall: forwarder, its receiver stopped, exits 0 on SIGTERM in $(($(date +%s) - start)) s (bound 5 s)" ||
    fail stall "no exit within 8 s of SIGTERM, or exit status $?"
kill -CONT $CAPS
sleep 0.5
stop $CAPS 5
sanitizer_clean "$T/fwd2.log" || fail "fwd2 sanitizers" "$(grep -A5 -E 'runtime error|Sanitizer' "$T/fwd2.log" | head -20)"
s=$(last_stats "$T/fwd2.log" 0)
logged=$(echo "$s" | field logged); sent=$(echo "$s" | field sent); dropped=$(echo "$s" | field dropped)
queued=$(echo "$s" | field queued)
frames=$($CHECK count "$T/stall.dnstap")
if [ -n "$logged" ] && [ "$logged" = $((sent + dropped + queued)) ] && [ "$frames" = "$sent" ]; then
    pass "stall: logged $logged = sent $sent + dropped $dropped; the capture holds the $frames frames sent"
else
    fail "stall accounting" "capture: $frames frames; $s"
fi

# ==== 3. absent: nobody listening ====
start_forwarder fwd3 -t "unix://$T/nobody.sock" --full -t "tcp://127.0.0.1:$TPORT" || exit 1
run_check burst "$T/burst.out" burst 127.0.0.1 "$P4"
[ $V6 = 1 ] && run_check "burst (IPv6)" "$T/burst6.out" burst ::1 "$P6"
kdig @127.0.0.1 -p "$P4" mail.example.test A +tcp +short +timeout=2 +retry=0 >"$T/abs" 2>&1
grep -q 192.0.2.25 "$T/abs" && pass "absent: kdig over TCP answered" || fail absent "$(cat "$T/abs")"
start=$(date +%s)
if stop $FWD 8; then
    pass "absent: forwarder exits 0 on SIGTERM in $(($(date +%s) - start)) s (bound 5 s)"
else
    fail absent "did not exit in time, or exit status $?"
fi
sanitizer_clean "$T/fwd3.log" || fail "fwd3 sanitizers" "$(grep -A5 -E 'runtime error|Sanitizer' "$T/fwd3.log" | head -20)"
for k in 0 1; do
    s=$(last_stats "$T/fwd3.log" $k)
    logged=$(echo "$s" | field logged); sent=$(echo "$s" | field sent); dropped=$(echo "$s" | field dropped)
    connects=$(echo "$s" | field connects)
    if [ -n "$logged" ] && [ "$logged" -gt 0 ] && [ "$sent" = 0 ] && [ "$dropped" = "$logged" ] && [ "$connects" = 0 ]; then
        pass "absent tap $k: every one of $logged messages counted as dropped"
    else
        fail "absent tap $k stats" "$s"
    fi
done

# ==== 4. TLS taps, through socat in front of fstrm_capture ====
if ! command -v socat >/dev/null 2>&1 || ! command -v openssl >/dev/null 2>&1; then
    echo "INFO: no socat or openssl: TLS taps not tested"
elif clang $WARN -g -O1 $SAN -DDNSTAP_WITH_MBEDTLS -I. examples/forwarder.c -o "$B/forwarder_tls_asan" \
        -lmbedtls -lmbedx509 -lmbedcrypto >"$B/fwd-build.log" 2>&1; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/key.pem" -out "$T/cert.pem" \
        -days 2 -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1
    PIN=$(openssl x509 -in "$T/cert.pem" -pubkey -noout | openssl pkey -pubin -outform der | sha256sum | cut -d' ' -f1)
    SPORT=$($CHECK freeport)
    fstrm_capture -t protobuf:dnstap.Dnstap -u "$T/tls.sock" -w "$T/tls.dnstap" 2>"$T/cap-tls.log" & CAPL=$!
    wait_sock "$T/tls.sock" || fail tls "fstrm_capture did not start"
    socat OPENSSL-LISTEN:"$SPORT",bind=127.0.0.1,cert="$T/cert.pem",key="$T/key.pem",verify=0,reuseaddr,fork \
        UNIX-CONNECT:"$T/tls.sock" 2>"$T/socat.log" & SOC=$!
    PIDS="$PIDS $CAPL $SOC"
    sleep 0.3
    E="tls://127.0.0.1:$SPORT"
    "$B/forwarder_tls_asan" -l 127.0.0.1:0 -u "127.0.0.1:$UPORT" -t "$E" --full --ca "$T/cert.pem" \
        -t "$E" --full --pin "$PIN" -t "$E" --full --skipverify \
        -t "$E" --pin 0000000000000000000000000000000000000000000000000000000000000000 2>"$T/fwd4.log" &
    FWD=$!; PIDS="$PIDS $FWD"
    wait_for "$T/fwd4.log" "listening on"
    P4=$(port_of "$T/fwd4.log" 127.0.0.1)
    i=0
    while [ "$(cat "$T/fwd4.log" 2>/dev/null | grep -c 'info: dnstap: connected')" -lt 3 ] && [ $i -lt 50 ]; do i=$((i + 1)); sleep 0.1; done
    ok=1
    kdig @127.0.0.1 -p "$P4" www.example.test A +short +timeout=2 +retry=0 | grep -q 192.0.2.1 || ok=0
    kdig @127.0.0.1 -p "$P4" example.test MX +tcp +short +timeout=2 +retry=0 | grep -q mail.example.test || ok=0
    [ $ok = 1 ] && pass "tls: answers with four TLS taps, one of them refused" || fail tls "queries not answered"
    stop $FWD 10 || fail tls "forwarder exit status $?"
    sleep 0.3
    stop $SOC 5; stop $CAPL 5
    sanitizer_clean "$T/fwd4.log" || fail "fwd4 sanitizers" "$(grep -A5 -E 'runtime error|Sanitizer' "$T/fwd4.log" | head -20)"
    for k in 0 1 2; do
        s=$(last_stats "$T/fwd4.log" $k)
        how=$(echo "--ca --pin --skipverify" | cut -d' ' -f$((k + 1)))
        [ "$(echo "$s" | field logged)" = 8 ] && [ "$(echo "$s" | field sent)" = 8 ] &&
            [ "$(echo "$s" | field connects)" = 1 ] && pass "tls tap $k ($how): connected, sent 8 of 8" ||
            fail "tls tap $k ($how)" "$s"
    done
    s=$(last_stats "$T/fwd4.log" 3)
    [ "$(echo "$s" | field connects)" = 0 ] && [ "$(echo "$s" | field sent)" = 0 ] &&
        pass "tls tap 3 (wrong --pin): never connected, nothing sent" || fail "tls tap 3 (wrong --pin)" "$s"
    frames=$($CHECK count "$T/tls.dnstap")
    [ "$frames" = 24 ] && pass "tls: the capture behind socat holds the 24 frames of the 3 TLS taps" ||
        fail tls "capture: $frames frames, want 24"
else
    fail "build: forwarder, clang ASan+UBSan -DDNSTAP_WITH_MBEDTLS" "$(head -c 600 "$B/fwd-build.log")"
fi

# ==== 5. idle: connections that say nothing cannot keep TCP DNS unanswered ====
cat >"$T/idle.py" <<'PYEOF'
import socket, struct, sys, time
sys.path.insert(0, "tests")
from check_forwarder import make_query, read_tcp, question
host, port, nidle = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def conn():
    return socket.create_connection((host, port), timeout=5)
def ask(s, name, qid):   # one query on s, its answer within 2 s: the latency, or None
    q = make_query(name, 1, qid=qid)
    t = time.monotonic()
    try:
        s.settimeout(2.0)
        s.sendall(struct.pack(">H", len(q)) + q)
        r = read_tcp(s)
    except Exception:
        return None
    return time.monotonic() - t if r[:2] == q[:2] and question(r)[0] == name + "." else None
held = []
for i in range(nidle):      # idle: nothing, one byte of the length, or a partial query
    s = conn()
    if i % 3 == 1: s.sendall(b"\x00")
    if i % 3 == 2: s.sendall(b"\x00\x20\x12\x34")
    held.append(s)
answered_silent = 0
for i in range(32):         # silent: 16 say nothing, 16 stay after one answer
    s = conn()
    if i % 2 and ask(s, "www.example.test", 3000 + i) is not None: answered_silent += 1
    held.append(s)
ok, worst = 0, 0.0
try:
    s = conn()
    for i in range(50):     # the real client: 50 queries on one connection
        t = ask(s, ("www", "mail")[i % 2] + ".example.test", 4000 + i)
        if t is None: break
        ok += 1; worst = max(worst, t)
    s.close()
except Exception:
    pass
for i in range(20):         # ... and 20 on connections of their own
    try:
        with conn() as s:
            t = ask(s, "www.example.test", 5000 + i)
    except Exception:
        t = None
    if t is not None: ok += 1; worst = max(worst, t)
closed = 0
for s in held:
    s.setblocking(False)
    try: closed += s.recv(100) == b""
    except BlockingIOError: pass
    except OSError: closed += 1
print(f"answered {ok} of 70, slowest {worst * 1000:.0f} ms; silent clients answered {answered_silent} of 16; "
      f"{closed} of {len(held)} idle and silent connections closed by the forwarder")
sys.exit(0 if ok == 70 and answered_silent == 16 else 1)
PYEOF
start_forwarder fwd5 -t "file:$T/idle.dnstap" --full || exit 1
if $PY "$T/idle.py" 127.0.0.1 "$P4" 1000 >"$T/idle.out" 2>&1; then
    answered=$((16 + 70))
    pass "idle: 1,000 idle TCP connections + 32 silent clients, 16 slots: $(cat "$T/idle.out")"
else
    answered=0
    fail idle "$(tail -n 3 "$T/idle.out")"
fi
stop $FWD 10 || fail idle "forwarder exit status $?"
sanitizer_clean "$T/fwd5.log" || fail "fwd5 sanitizers" "$(grep -A5 -E 'runtime error|Sanitizer' "$T/fwd5.log" | head -20)"
frames=$($CHECK count "$T/idle.dnstap")
s=$(last_stats "$T/fwd5.log" 0)
if [ $answered -gt 0 ] && [ "$frames" = $((4 * answered)) ] && [ "$(echo "$s" | field dropped)" = 0 ]; then
    pass "idle: the tap file holds the 4 events of each of the $answered queries answered ($frames frames), nothing dropped"
elif [ $answered -gt 0 ]; then
    fail "idle: tap" "$frames frames for $answered queries; $s"
fi

stop $UP 5 || true
sanitizer_clean "$T/upstream.log" || fail "upstream sanitizers" "$(head -20 "$T/upstream.log")"
PIDS=""
[ $fails = 0 ] && exit 0
exit 1
