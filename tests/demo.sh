#!/bin/sh
# `make demo`: a DNS forwarder logging through dnstap.h, end to end, on loopback.
#
#   tests/demo.sh BUILD_DIR
#
# Builds examples/forwarder.c and tests/upstream.c (and examples/capture.c and
# examples/reader.c when they exist) into BUILD_DIR, then starts
#   upstream   a tiny authoritative server for example.test on 127.0.0.1
#   capture    the receiver on a unix socket, writing a dnstap file (ours, or
#              fstrm_capture from Debian's fstrm-bin until ours exists)
#   forwarder  on 127.0.0.1 and ::1, forwarding to the upstream, one `full`
#              tap to the capture
# sends a few queries with kdig (knot-dnsutils) or dig (bind9-dnsutils),
# stops everything and prints the log with the reader (ours, or golang-dnstap's
# `dnstap -r FILE -y`). Takes a few seconds. The log stays in
# BUILD_DIR/demo.dnstap; the last lines are the commands that read it again.
set -u
[ $# -eq 1 ] || { echo "usage: tests/demo.sh BUILD_DIR" >&2; exit 2; }
mkdir -p "$1" || exit 2
SHOW=${1%/}                    # BUILD_DIR as given, for the commands shown
B=$(cd "$1" && pwd) || exit 2
LOG=$B/demo.dnstap
cd "$(dirname "$0")/.." || exit 2
CC=${CC:-cc}

say() { printf '%s\n' "$*"; }
die() { say "demo: $*" >&2; exit 1; }

# ---- tools ----
if command -v kdig >/dev/null 2>&1; then DIG=kdig
elif command -v dig >/dev/null 2>&1; then DIG=dig
elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "demo: installing knot-dnsutils (kdig)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends knot-dnsutils >/dev/null 2>&1 ||
        { apt-get update >/dev/null 2>&1 &&
          DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends knot-dnsutils >/dev/null 2>&1; } ||
        die "could not install knot-dnsutils"
    DIG=kdig
else
    die "needs kdig or dig: sudo apt-get install knot-dnsutils"
fi

# ---- build ----
build() { # out src [libs]
    out=$1; src=$2; shift 2
    if [ ! -x "$B/$out" ] || [ "$src" -nt "$B/$out" ] || [ dnstap.h -nt "$B/$out" ]; then
        $CC -std=c99 -O2 -I. "$src" -o "$B/$out" "$@" || die "build of $src failed"
    fi
}
build forwarder examples/forwarder.c -lprotobuf-nanopb
build upstream tests/upstream.c
CAPTURE=fstrm_capture
if [ -f examples/capture.c ]; then build capture examples/capture.c -lprotobuf-nanopb; CAPTURE="$B/capture"
else command -v fstrm_capture >/dev/null 2>&1 || die "needs fstrm_capture: sudo apt-get install fstrm-bin"; fi
READER=dnstap
if [ -f examples/reader.c ]; then build reader examples/reader.c -lprotobuf-nanopb; READER="$B/reader"
else command -v dnstap >/dev/null 2>&1 ||
    die "needs dnstap: sudo apt-get install golang-github-dnstap-golang-dnstap-cli"; fi

# ---- run ----
T=$(mktemp -d /tmp/dnstap-demo.XXXXXX) || exit 2   # short: unix socket paths
PIDS=""
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null; done
    for p in $PIDS; do wait "$p" 2>/dev/null; done
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_for FILE PATTERN: up to 5 s for a line in a log
wait_for() {
    i=0
    while ! grep -q "$2" "$1" 2>/dev/null; do
        i=$((i + 1)); [ $i -gt 50 ] && return 1; sleep 0.1
    done
}
port_of() { sed -n "s/.*listening on $2:\([0-9]*\).*/\1/p" "$1" | head -n 1; }

"$B/upstream" 0 2>"$T/upstream.log" & UP=$!; PIDS="$PIDS $UP"
wait_for "$T/upstream.log" "listening on" || die "upstream did not start: $(cat "$T/upstream.log")"
UPORT=$(port_of "$T/upstream.log" 127.0.0.1)

rm -f "$LOG"
if [ "$CAPTURE" != fstrm_capture ]; then
    "$CAPTURE" -u "$T/tap.sock" -w "$LOG" 2>"$T/capture.log" & CAP=$!
else
    fstrm_capture -t protobuf:dnstap.Dnstap -u "$T/tap.sock" -w "$LOG" 2>"$T/capture.log" & CAP=$!
fi
PIDS="$PIDS $CAP"
i=0; while [ ! -S "$T/tap.sock" ]; do i=$((i + 1)); [ $i -gt 50 ] && die "capture did not start"; sleep 0.1; done

V6=0
grep -q '^0*1 ' /proc/net/if_inet6 2>/dev/null && V6=1
set -- -l 127.0.0.1:0
[ $V6 = 1 ] && set -- "$@" -l '[::1]:0'
say "\$ forwarder $* -u 127.0.0.1:$UPORT -t unix://$T/tap.sock --full --identity demo"
"$B/forwarder" "$@" -u "127.0.0.1:$UPORT" -t "unix://$T/tap.sock" --full --identity demo 2>"$T/forwarder.log" &
FWD=$!; PIDS="$PIDS $FWD"
wait_for "$T/forwarder.log" "connected to" || die "forwarder did not start: $(cat "$T/forwarder.log")"
P4=$(port_of "$T/forwarder.log" 127.0.0.1)
P6=$(port_of "$T/forwarder.log" '\[::1\]')
[ $V6 = 1 ] && S6=::1 && Q6=$P6 || { S6=127.0.0.1; Q6=$P4; }

ask() { # server port name type [tcp]
    if [ $DIG = kdig ]; then opts="+noall +header +answer +authority +comments"; [ "${5:-}" ] && opts="$opts +tcp"
    else opts="+noall +answer +authority +comments +nocookie"; [ "${5:-}" ] && opts="$opts +tcp"; fi
    say "\$ $DIG @$1 -p $2 $3 $4 ${5:++tcp}"
    $DIG @"$1" -p "$2" "$3" "$4" $opts +timeout=3 +retry=0 2>&1 | grep -Ev '^;; (Received|Time|From)|^$'
}
ask 127.0.0.1 "$P4" www.example.test A
ask "$S6" "$Q6" www.example.test AAAA tcp
ask 127.0.0.1 "$P4" example.test MX tcp
ask "$S6" "$Q6" nope.example.test A

say
kill -TERM $FWD; wait $FWD 2>/dev/null
grep -E 'tap 0 |queries' "$T/forwarder.log" | tail -n 2 | sed 's/^/  /'
kill -TERM $CAP; wait $CAP 2>/dev/null
kill -TERM $UP; wait $UP 2>/dev/null
PIDS=""

say
if [ "$READER" != dnstap ]; then
    say "\$ $SHOW/reader -y $SHOW/demo.dnstap"
    "$READER" -y "$LOG"
else
    say "\$ dnstap -r $SHOW/demo.dnstap -y"
    dnstap -r "$LOG" -y 2>&1 | grep -v '^dnstap: opened input file'
fi
say
say "The log stays in $SHOW/demo.dnstap. Read it again with our reader or with golang-dnstap's dnstap:"
[ "$READER" != dnstap ] && say "  $SHOW/reader -y $SHOW/demo.dnstap"
say "  dnstap -r $SHOW/demo.dnstap -y"
