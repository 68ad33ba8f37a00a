#!/bin/sh
# examples/lwip_transport.c end to end: Debian's liblwip (2.1, unix port,
# NO_SYS=0 with core locking) drives a TAP interface in a network namespace
# made for the test; fstrm_capture listens inside that namespace on the
# kernel's side of the TAP. tests/lwip_tap.c logs 50,000 messages through
# the lwIP transport with the full bidirectional handshake (READY, ACCEPT,
# START ... STOP, FINISH); halfway, with everything acknowledged, the
# receiver is stopped and a new one started while the second half is being
# logged (it queues meanwhile, KEEP). Checks:
#   - the tap's counters: logged = sent + dropped + queued, queued 0,
#     nothing dropped, two handshakes, at least one reconnect, no timeout
#     (FINISH came);
#   - both captures end with STOP, and fstrm_capture itself (its "wrote N
#     frames"), fstrm_dump, `dnstap -r` and our reader (examples/reader.c)
#     count exactly `sent` data frames in them;
#   - golang-dnstap's reading of the two captures, in order, holds the
#     messages 0..sent-1 exactly once each, in order (each message carries
#     its number in query_address), some in each capture.
# Needs root for the namespace and the TAP device. Where neither can be
# made, it prints a SKIP line and exits 0 (FAIL under CI=true, which runs
# as root and must run it).
# Usage: tests/lwip.sh BUILD_DIR
set -u
. "$(dirname "$0")/lib.sh"
need fstrm_capture fstrm_dump dnstap ip ss
O=$build/lwip
rm -rf "$O"
mkdir -p "$O"
MESSAGES=${LWIP_MESSAGES:-50000}
PORT=6000
NS=dnstap-lwip-$$
WARN="-std=c99 -Wall -Wextra -Werror -pedantic -Wconversion -Wsign-conversion -Wshadow -Wcast-qual \
-Wstrict-prototypes -Wmissing-prototypes"
LWIP_CFLAGS="-isystem /usr/include/lwip"    # Debian liblwip-dev

skip() {
    if [ "${CI:-}" = true ]; then fail lwip "$1 (CI must run this test)"; exit 1; fi
    echo "SKIP: lwip: NOT RUN: $1 (run as root, with /dev/net/tun)"
    exit 0
}

build_with() {   # compiler output: the lwIP test program, warnings as errors
    $1 $WARN -O2 -D_DEFAULT_SOURCE -DDNSTAP_NO_DECODE -DDNSTAP_NO_NANOPB_ENCODE -I. $LWIP_CFLAGS \
        tests/lwip_tap.c examples/lwip_transport.c -o "$2" -llwip -pthread >"$2.build" 2>&1
}
for cc in gcc clang; do
    if build_with $cc "$O/lwip_tap-$cc"; then pass "lwip: tests/lwip_tap.c + examples/lwip_transport.c build with $cc -Werror"
    else fail "lwip: $cc build" "$(head -n 5 "$O/lwip_tap-$cc.build" | tr '\n' ' ')"; fi
done
[ -x "$O/lwip_tap-gcc" ] || exit 1

READER=$build/reader
if [ ! -x "$READER" ]; then
    READER=$O/reader
    cc -std=c99 -O2 -I. examples/reader.c -o "$READER" -lprotobuf-nanopb || { fail reader "does not build"; exit 1; }
fi

# ---- the namespace: lo, and tap0 = 10.53.0.1/24 on the kernel's side ----
[ "$(id -u)" = 0 ] || skip "not root"
ip netns add "$NS" 2>"$O/netns.err" || skip "ip netns add: $(cat "$O/netns.err")"
RPID= CPID=
cleanup() {
    for p in $CPID $RPID; do kill -KILL "$p" 2>/dev/null; done
    ip netns del "$NS" 2>/dev/null
}
trap cleanup EXIT
trap 'exit 2' INT TERM
nsx() { ip netns exec "$NS" "$@"; }
nsx ip link set lo up &&
    nsx ip tuntap add dev tap0 mode tap &&
    nsx ip addr add 10.53.0.1/24 dev tap0 &&
    nsx ip link set tap0 up 2>"$O/tap.err" || skip "cannot make a TAP interface: $(cat "$O/tap.err")"

start_receiver() {   # capture file
    ip netns exec "$NS" fstrm_capture -t protobuf:dnstap.Dnstap -a 10.53.0.1 -p $PORT -w "$1" >"$1.log" 2>&1 &
    RPID=$!
    i=0
    while [ $i -lt 100 ] && ! nsx ss -Htln "sport = :$PORT" | grep -q .; do sleep 0.05; i=$((i + 1)); done
    nsx ss -Htln "sport = :$PORT" | grep -q . || { fail lwip "fstrm_capture does not listen"; exit 1; }
}
# Stop a receiver once it has read everything its socket holds, so that it
# writes every frame it was sent; then it writes STOP and exits.
stop_receiver() {
    i=0
    while [ $i -lt 100 ]; do
        q=$(nsx ss -Htn state established "sport = :$PORT" | awk '{ s += $1 } END { print s + 0 }')
        [ "$q" = 0 ] && break
        sleep 0.05
        i=$((i + 1))
    done
    kill -TERM "$RPID"
    wait "$RPID"
    RPID=
}

t0=$(date +%s.%N)
start_receiver "$O/capture.0.fstrm"
PRECONFIGURED_TAPIF=tap0 ip netns exec "$NS" "$O/lwip_tap-gcc" 10.53.0.2 10.53.0.1 10.53.0.1 $PORT "$MESSAGES" \
    >"$O/client.out" 2>"$O/client.err" &
CPID=$!
i=0
while [ $i -lt 600 ] && ! grep -q '^paused' "$O/client.out"; do
    kill -0 "$CPID" 2>/dev/null || break
    sleep 0.05
    i=$((i + 1))
done
if grep -q '^paused' "$O/client.out"; then
    pass "lwip: first half sent and acknowledged ($(grep '^paused' "$O/client.out"))"
else
    fail lwip "the first half did not get through: $(tail -n 3 "$O/client.err" | tr '\n' ' ')"
fi
stop_receiver
sleep 0.5                                    # no receiver: the tap queues meanwhile
start_receiver "$O/capture.1.fstrm"
wait "$CPID"
rc=$?
CPID=
stop_receiver
t1=$(date +%s.%N)
cval() { sed -n "s/^$1=//p" "$O/client.out" | tail -n 1; }
info "lwip: $(grep -v '^paused\|^receiver' "$O/client.out" | tr '\n' ' ')($(awk "BEGIN { printf \"%.1f\", $t1 - $t0 }") s)"
info "lwip: the library's log: $(grep -c . "$O/client.err") lines: $(grep -o 'connected to.*\|ERROR.*\|WARN.*' "$O/client.err" | sort | uniq -c | tr -s ' ' | tr '\n' ';')"
if [ $rc = 0 ]; then pass "lwip: client exit 0, logged = sent + dropped + queued ($(cval logged) = $(cval sent) + $(cval dropped) + $(cval queued))"
else fail lwip "client exit status $rc: $(tail -n 3 "$O/client.err" | tr '\n' ' ')"; fi
sent=$(cval sent)
[ -n "$sent" ] || { fail lwip "no counters"; exit 1; }
holds() { if [ $2 ]; then pass "lwip: $1"; else fail lwip "$1: got $3"; fi; }
holds "all $MESSAGES logged, none dropped, none left queued" \
    "$(cval logged) = $MESSAGES -a $(cval dropped) = 0 -a $(cval queued) = 0" \
    "logged=$(cval logged) dropped=$(cval dropped) queued=$(cval queued)"
holds "two handshakes (READY/ACCEPT/START), at least one reconnect, no handshake failure" \
    "$(cval connects) = 2 -a $(cval reconnects) -ge 1 -a $(cval handshake_failures) = 0" \
    "connects=$(cval connects) reconnects=$(cval reconnects) handshake_failures=$(cval handshake_failures)"
holds "STOP answered by FINISH (no timeout)" "$(cval timeouts) = 0" "timeouts=$(cval timeouts)"

# ---- the captures ----------------------------------------------------------
stop_ok() { [ "$(tail -c 12 "$1" | od -An -v -tx1 | tr -d ' \n')" = 000000000000000400000003 ]; }
total_dump=0 total_golang=0 total_reader=0
for k in 0 1; do
    f=$O/capture.$k.fstrm
    if stop_ok "$f"; then pass "lwip: capture $k ends with STOP"; else fail lwip "capture $k does not end with STOP"; fi
    n=$(fstrm_dump "$f" 2>&1 | grep -c '^Data frame')
    total_dump=$((total_dump + n))
    dnstap -r "$f" -j >"$f.json" 2>"$f.golang.err" || fail lwip "dnstap -r capture $k: $(tail -n 1 "$f.golang.err")"
    total_golang=$((total_golang + $(grep -c . "$f.json")))
    if "$READER" -q "$f" >"$f.reader" 2>"$f.reader.err"; then
        total_reader=$((total_reader + $(grep -c . "$f.reader")))
    else
        fail lwip "examples/reader.c, capture $k: $(tail -n 1 "$f.reader.err")"
    fi
done
wrote=$(sed -n 's/.*(wrote \([0-9]*\) frames.*/\1/p' "$O/capture.0.fstrm.log" "$O/capture.1.fstrm.log" |
        awk '{ s += $1 - 2 } END { print s + 0 }')    # each file: START, data frames, STOP
holds "fstrm_capture reports $wrote data frames written (its own count, less START and STOP) = sent" \
    "$wrote = $sent" "$wrote, sent $sent"
holds "fstrm_dump counts $total_dump data frames in the two captures = sent" "$total_dump = $sent" "$total_dump, sent $sent"
holds "dnstap -r counts $total_golang messages = sent" "$total_golang = $sent" "$total_golang, sent $sent"
holds "examples/reader.c counts $total_reader messages = sent" "$total_reader = $sent" "$total_reader, sent $sent"
if $py - "$sent" "$O/capture.0.fstrm.json" "$O/capture.1.fstrm.json" >"$O/order.out" 2>&1 <<'EOF'
import json, sys
sent, files = int(sys.argv[1]), sys.argv[2:]
seqs, per_file = [], []
for f in files:
    n = 0
    for line in open(f):
        a = [int(x) for x in json.loads(line)["message"]["query_address"].split(".")]
        seqs.append(a[1] << 16 | a[2] << 8 | a[3])
        n += 1
    per_file.append(n)
if seqs != list(range(sent)):
    bad = next((i for i, s in enumerate(seqs) if s != i), len(seqs))
    sys.exit("messages out of order or missing: at position %d of %d (sent %d)" % (bad, len(seqs), sent))
if min(per_file) == 0:
    sys.exit("a capture holds no message: %s" % per_file)
print("+".join(str(n) for n in per_file))
EOF
then
    pass "lwip: golang-dnstap reads messages 0..$((sent - 1)) exactly once, in order, across the restart ($(cat "$O/order.out") per capture)"
else
    fail lwip "$(tail -n 1 "$O/order.out")"
fi
[ $fails = 0 ]
