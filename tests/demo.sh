#!/bin/sh
# `make demo`: a DNS forwarder logging through dnstap.h, end to end, on loopback.
#
#   tests/demo.sh BUILD_DIR
#
# Builds examples/forwarder.c, examples/dtap.c and tests/upstream.c into
# BUILD_DIR, then starts
#   upstream   a tiny authoritative server for example.test on 127.0.0.1
#   dtap       `dtap -u SOCK -w BUILD_DIR/demo.dnstap`: the receiver on a unix
#              socket, writing a dnstap file
#   forwarder  on 127.0.0.1 and ::1, forwarding to the upstream, one `full`
#              tap to the receiver
# sends a few queries with kdig (knot-dnsutils) or dig (bind9-dnsutils),
# stops everything and prints the log with `dtap -r FILE -y`. Takes a few
# seconds. The log stays in BUILD_DIR/demo.dnstap; the last lines are the
# commands that read it again (dtap, and golang-dnstap's `dnstap -r FILE -y`).
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
# the forwarder and dtap as `make` builds them (the dtap that make install installs)
make -s --no-print-directory B="$B" "$B/forwarder" "$B/dtap" || die "build failed"
if [ ! -x "$B/upstream" ] || [ tests/upstream.c -nt "$B/upstream" ]; then
    $CC -std=c99 -O2 -I. tests/upstream.c -o "$B/upstream" || die "build of tests/upstream.c failed"
fi
command -v dnstap >/dev/null 2>&1 ||
    die "needs golang-dnstap's dnstap: sudo apt-get install golang-github-dnstap-golang-dnstap-cli"

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
"$B/dtap" -u "$T/tap.sock" -w "$LOG" 2>"$T/capture.log" & CAP=$!
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
say "\$ $SHOW/dtap -r $SHOW/demo.dnstap -y"
"$B/dtap" -r "$LOG" -y
say
say "The log stays in $SHOW/demo.dnstap. Read it again with dtap or with golang-dnstap's dnstap:"
say "  $SHOW/dtap -r $SHOW/demo.dnstap -y"
say "  dnstap -r $SHOW/demo.dnstap -y"
