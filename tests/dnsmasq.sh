#!/bin/sh
# Tests of the dnsmasq integration (examples/dnsmasq), for `make test`.
#
#   tests/dnsmasq.sh BUILD_DIR
#
# Builds Debian's dnsmasq 2.90 with examples/dnsmasq/dnsmasq-dnstap.patch
# (examples/dnsmasq/build.sh: apt-get source, patch, make; TLS built in) and
# tests/upstream.c, then runs them on loopback with fstrm_capture as the
# collector. dnsmasq runs as it would in production: started as root, it
# drops to the user nobody before it first connects.
#   cause     the collector's socket is not writable by nobody: the log line
#             says why ("Permission denied")
#   events    queries over UDP and TCP (kdig; each TCP connection is served by
#             a forked child, whose events go up its pipe to the parent):
#             every CLIENT_QUERY/RESPONSE and FORWARDER_QUERY/RESPONSE with its
#             addresses, ports, messages and times, checked with protobuf and
#             `dnstap -r -j/-y` (tests/check_dnsmasq.py)
#   collector absent, started, stopped, restarted: every query answered,
#             promptly (the same load each time; the time is printed); the
#             tap reconnects; each collector's file holds exactly the frames
#             sent to it; every "logged" line has logged = sent + dropped +
#             queued, and the last one (at exit) queued 0
#   tls       --dnstap=tls:// with --dnstap-tls-ca, to socat (OpenSSL) in
#             front of fstrm_capture: every event of UDP and TCP queries
#             arrives
# Prints "PASS: name" / "FAIL: name: why"; exits 1 if anything failed.
# Needs: dpkg-dev, patch, gcc, libmbedtls-dev, fstrm-bin, knot-dnsutils,
# golang-github-dnstap-golang-dnstap-cli, python3-protobuf, protobuf-compiler,
# socat, openssl.
set -u
. "$(dirname "$0")/lib.sh"
B=$build
PY=$py
CHECK="$PY tests/check_dnsmasq.py"
need kdig fstrm_capture dnstap patch protoc

if DNSMASQ=$(TLS=1 nice examples/dnsmasq/build.sh "$B/dnsmasq" 2>"$B/dnsmasq-build.err"); then
    pass "build: Debian's dnsmasq 2.90 + examples/dnsmasq/dnsmasq-dnstap.patch"
else
    fail "build: dnsmasq" "$(tail -c 800 "$B/dnsmasq-build.err")"; exit 1
fi
gcc -O2 tests/upstream.c -o "$B/upstream" || { fail "build: upstream" "gcc failed"; exit 1; }
VERSION_STR=$("$DNSMASQ" --version | head -n 1)
case "$VERSION_STR $("$DNSMASQ" --version)" in
    *"version 2.90"*" dnstap"*) pass "dnsmasq --version: 2.90, compile time option dnstap" ;;
    *) fail "dnsmasq --version" "$VERSION_STR" ;;
esac

# --test refuses what the start would refuse, with the cause; accepts a good endpoint
for bad in "bogus://x|unknown kind" "tcp://127.0.0.1:69536|port" "tcp://2001:db8::1|bracket" \
           "tls://127.0.0.1:853 --dnstap-tls-ca=/nonexistent/ca.pem|ca"; do
    opts=${bad%%|*} why=${bad#*|}
    # shellcheck disable=SC2086
    out=$("$DNSMASQ" --test -C /dev/null --dnstap=$opts 2>&1) && rc=0 || rc=$?
    if [ $rc != 0 ] && printf '%s' "$out" | grep -qi "$why"; then
        pass "--test --dnstap=$opts: refused (exit $rc): $(printf '%s' "$out" | tr '\n' ' ' | cut -c1-120)"
    else
        fail "--test --dnstap=$opts" "exit $rc, should fail naming '$why': $out"
    fi
done
out=$("$DNSMASQ" --test -C /dev/null --dnstap=unix:///run/dnstap.sock --dnstap-full 2>&1) &&
    case $out in *"syntax check OK"*) pass "--test --dnstap=unix:///run/dnstap.sock: OK" ;;
                 *) fail "--test with a good endpoint" "$out" ;; esac ||
    fail "--test with a good endpoint" "exit status $?: $out"

T=$(mktemp -d /tmp/dnsmasqtest.XXXXXX) || exit 2
chmod 755 "$T"                    # dnsmasq, as nobody, reaches the sockets in it
PIDS=""
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null; done
    for p in $PIDS; do wait "$p" 2>/dev/null; done
    if [ $fails = 0 ] && [ -z "${KEEP:-}" ]; then rm -rf "$T"; else echo "INFO: files kept in $T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_for() { # file pattern [tenths]: 1 if the pattern did not show up in time
    i=0
    while ! grep -q "$2" "$1" 2>/dev/null; do
        i=$((i + 1)); [ $i -gt "${3:-50}" ] && return 1; sleep 0.1
    done
}
count() { grep -c "$2" "$1" 2>/dev/null || true; }
wait_sock() { i=0; while [ ! -S "$1" ]; do i=$((i + 1)); [ $i -gt 50 ] && return 1; sleep 0.1; done; }
stop() { # pid seconds: SIGTERM, wait; 0 if it exited in time
    kill "$1" 2>/dev/null
    i=0
    while kill -0 "$1" 2>/dev/null; do i=$((i + 1)); [ $i -gt $(($2 * 10)) ] && return 1; sleep 0.1; done
    wait "$1" 2>/dev/null
    return 0
}
free_port() { $PY tests/check_forwarder.py freeport; }

"$B/upstream" 0 2>"$T/upstream.log" &
PIDS="$PIDS $!"
wait_for "$T/upstream.log" "listening on" || { fail upstream "did not start"; exit 1; }
UP=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$T/upstream.log")

capture() { # socket file: start fstrm_capture; sets CAP
    rm -f "$1"
    fstrm_capture -t protobuf:dnstap.Dnstap -u "$1" -w "$2" >>"$T/capture.log" 2>&1 &
    CAP=$!
    PIDS="$PIDS $CAP"
    wait_sock "$1" || { fail capture "no socket $1"; exit 1; }
}
dnsmasq_start() { # port log extra-args...: start dnsmasq in the foreground (-k); sets DPID
    port=$1 log=$2; shift 2
    "$DNSMASQ" -k --no-resolv --no-hosts --server="127.0.0.1#$UP" --listen-address=127.0.0.1 \
        --bind-interfaces --port="$port" --log-facility="$log" --pid-file="$T/dnsmasq-$port.pid" "$@" \
        2>>"$T/dnsmasq.err" &
    DPID=$!
    PIDS="$PIDS $DPID"
    wait_for "$log" "started, version" || { fail dnsmasq "did not start: $(cat "$T/dnsmasq.err")"; exit 1; }
}
report() { kill -USR1 "$DPID"; }

# ---- cause: the first connection is made as nobody ----
if [ "$(id -u)" = 0 ]; then
    capture "$T/root.sock" "$T/root.fstrm"    # srwxr-xr-x root: nobody may not connect
    P=$(free_port)
    dnsmasq_start "$P" "$T/cause.log" --dnstap="unix://$T/root.sock"
    if wait_for "$T/cause.log" "dnstap: unix://$T/root.sock: cannot connect (Permission denied); reconnecting in"; then
        pass "cause: as nobody, 'cannot connect (Permission denied); reconnecting in N ms'"
    else
        fail cause "no such line: $(grep dnstap "$T/cause.log" | head -n 3)"
    fi
    stop "$DPID" 5 || fail cause "dnsmasq did not exit"
    stop "$CAP" 5
else
    info "cause: not root, dnsmasq does not change user: skipped"
fi

# ---- events: UDP and TCP, parent and forked children ----
capture "$T/events.sock" "$T/events.fstrm"
chmod 666 "$T/events.sock"
P=$(free_port)
dnsmasq_start "$P" "$T/events.log" --dnstap="unix://$T/events.sock" --dnstap-full \
    --dnstap-identity=router1 --dnstap-version="dnsmasq-2.90 tapped"
if wait_for "$T/events.log" "dnstap: connected to unix://$T/events.sock" 100; then
    pass "events: dnsmasq (as nobody) connected to the collector"
else
    fail events "not connected: $(grep dnstap "$T/events.log" | tail -n 3)"
fi
$CHECK ask 127.0.0.1 "$P" "$T/asked.json" || fail events "kdig"
sleep 0.5
stop "$DPID" 10 || fail events "dnsmasq did not exit within 10 s of SIGTERM"
stop "$CAP" 5
$CHECK events "$T/asked.json" "$T/events.fstrm" "$UP" router1 "dnsmasq-2.90 tapped" || true
if $CHECK stats "$T/events.log" >"$T/events.stats"; then
    pass "events: at exit logged = sent + dropped + queued ($(tr '\n' ' ' <"$T/events.stats"))"
else
    fail events "accounting: $(cat "$T/events.stats")"
fi

# ---- collector absent, started, stopped, restarted ----
P=$(free_port)
S="$T/collector.sock"
rm -f "$S"
dnsmasq_start "$P" "$T/life.log" --dnstap="unix://$S" --dnstap-full
load() { # what: 400 UDP queries one after the other; all answered within 1 s each
    t=$(date +%s%N)
    if out=$($PY tests/check_forwarder.py load 127.0.0.1 "$P" 400); then
        pass "collector $1: $out"
    else
        fail "collector $1" "$out"
    fi
    info "collector $1: 400 queries in $(( ($(date +%s%N) - t) / 1000000 )) ms"
}
stats_now() { # name: SIGUSR1, then the figures of the newest line as shell variables
    n=$(count "$T/life.log" "dnstap: logged")
    report
    wait_for_count "$T/life.log" "dnstap: logged" $((n + 1))
    $CHECK stats "$T/life.log" >"$T/$1.stats" || fail "accounting ($1)" "$(cat "$T/$1.stats")"
    eval "$(sed "s/^/$1_/" "$T/$1.stats")"
}
wait_for_count() { # file pattern n [tenths]
    i=0
    while [ "$(count "$1" "$2")" -lt "$3" ]; do i=$((i + 1)); [ $i -gt "${4:-50}" ] && return 1; sleep 0.1; done
}
load absent
stats_now absent
[ "$absent_sent" = 0 ] && [ "$absent_connects" = 0 ] && pass "collector absent: nothing sent, $absent_logged logged, $absent_queued queued, $absent_dropped dropped" ||
    fail "collector absent" "$(cat "$T/absent.stats")"
capture "$S" "$T/first.fstrm"
chmod 666 "$S"
wait_for "$T/life.log" "dnstap: connected to" 150 && pass "collector started: the tap connects (within its backoff)" ||
    fail "collector started" "no connection: $(grep dnstap "$T/life.log" | tail -n 2)"
load present
sleep 1
stats_now first
[ "$first_queued" = 0 ] && [ "$first_sent" -gt 0 ] && pass "collector present: all sent ($first_sent frames)" ||
    fail "collector present" "$(cat "$T/first.stats")"
sleep 0.5
stop "$CAP" 5
load stopped
stats_now stopped
capture "$S" "$T/second.fstrm"
chmod 666 "$S"
wait_for_count "$T/life.log" "dnstap: connected to" 2 150 || true
[ "$(count "$T/life.log" "dnstap: connected to")" -ge 2 ] && pass "collector restarted: the tap reconnects" ||
    fail "collector restarted" "no second connection: $(grep dnstap "$T/life.log" | tail -n 2)"
load restarted
stop "$DPID" 10 || fail "collector restarted" "dnsmasq did not exit within 10 s of SIGTERM"
sleep 0.3
stop "$CAP" 5
$CHECK stats "$T/life.log" >"$T/end.stats" || fail "accounting (end)" "$(cat "$T/end.stats")"
eval "$(sed "s/^/end_/" "$T/end.stats")"
first_file=$($PY tests/check_forwarder.py count "$T/first.fstrm")
second_file=$($PY tests/check_forwarder.py count "$T/second.fstrm")
[ "$end_queued" = 0 ] && [ "$end_logged" = $((end_sent + end_dropped)) ] &&
    pass "at exit: logged $end_logged = sent $end_sent + dropped $end_dropped, none queued" ||
    fail "at exit" "$(cat "$T/end.stats")"
[ "$first_file" = "$first_sent" ] && pass "first collector's file: the $first_sent frames sent to it" ||
    fail "first collector's file" "$first_file frames, $first_sent sent"
[ "$second_file" = $((end_sent - first_sent)) ] &&
    pass "restarted collector's file: the $second_file frames sent after it started" ||
    fail "restarted collector's file" "$second_file frames, $((end_sent - first_sent)) sent"
grep -q "dnstap: unix://$S: .*reconnecting in" "$T/life.log" && pass "the log says why the tap reconnects" ||
    fail "reconnect log" "no line"
info "log: $(grep 'dnstap: unix' "$T/life.log" | head -n 1 | sed 's/^.*dnsmasq\[[0-9]*\]: //')"

# ---- tls: --dnstap=tls:// verified with --dnstap-tls-ca, socat (OpenSSL) in front of fstrm_capture ----
if command -v socat >/dev/null 2>&1 && command -v openssl >/dev/null 2>&1; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/key.pem" -out "$T/cert.pem" \
        -days 2 -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1
    capture "$T/tls.sock" "$T/tls.fstrm"
    SPORT=$(free_port)
    socat OPENSSL-LISTEN:"$SPORT",bind=127.0.0.1,cert="$T/cert.pem",key="$T/key.pem",verify=0,reuseaddr,fork \
        UNIX-CONNECT:"$T/tls.sock" 2>"$T/socat.log" &
    SOC=$!
    PIDS="$PIDS $SOC"
    sleep 0.3
    P=$(free_port)
    dnsmasq_start "$P" "$T/tls.log" --dnstap="tls://127.0.0.1:$SPORT" --dnstap-tls-ca="$T/cert.pem" --dnstap-full
    wait_for "$T/tls.log" "dnstap: connected to tls://127.0.0.1:$SPORT" 100 &&
        pass "tls: connected, the collector's certificate verified with --dnstap-tls-ca" ||
        fail tls "not connected: $(grep dnstap "$T/tls.log" | tail -n 2)"
    ok=1
    for q in "www.example.test A" "www.example.test A" "+tcp mail.example.test A" "+tcp www.example.test A"; do
        # shellcheck disable=SC2086
        [ -n "$(kdig @127.0.0.1 -p "$P" +timeout=2 +retry=0 +short $q)" ] || ok=0
    done
    [ $ok = 1 ] && pass "tls: 4 queries answered (2 over TCP)" || fail tls "a query was not answered"
    sleep 0.5
    stop "$DPID" 10 || fail tls "dnsmasq did not exit within 10 s of SIGTERM"
    sleep 0.3
    kill "$SOC" 2>/dev/null
    stop "$CAP" 5
    $CHECK stats "$T/tls.log" >"$T/tls.stats" || fail "tls accounting" "$(cat "$T/tls.stats")"
    eval "$(sed "s/^/tls_/" "$T/tls.stats")"
    frames=$($PY tests/check_forwarder.py count "$T/tls.fstrm")
    # miss: CQ FQ FR CR; hit: CQ CR; TCP miss from a child; TCP hit from a child
    [ "$tls_logged" = 12 ] && [ "$tls_sent" = 12 ] && [ "$frames" = 12 ] &&
        pass "tls: the 12 events logged, sent and in the capture" ||
        fail tls "logged $tls_logged sent $tls_sent, capture $frames frames, want 12"
else
    info "tls: no socat or openssl: skipped"
fi
exit $((fails > 0))
