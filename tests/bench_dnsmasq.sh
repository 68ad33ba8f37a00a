#!/bin/sh
# `make bench`, last part: what the tap costs inside a real server.
# dnsmasq 2.90 with examples/dnsmasq (built -O2 by its build.sh) answers
# cache hits under a fixed load from dnsperf (-Q, default 20,000 queries/s),
# untapped and tapped (--dnstap-full to fstrm_capture over a unix socket: a
# cache hit logs CLIENT_QUERY and CLIENT_RESPONSE), alternating, in the same
# run. Per configuration it prints the queries answered, dnsmasq's CPU time
# per query (from /proc/PID/schedstat: nanoseconds on the CPU, all of
# dnsmasq's time, user and system) and the tap's counters. Then one more
# tapped run under strace (--seccomp-bpf, so only write, writev, sendto and
# sendmsg stop the process) counts the write-family calls on the tap's
# socket (dnsmasq's only unix stream socket) per query; strace slows
# dnsmasq, so its rate is lower there. The tap's own count of writes
# (dnstap_stats().writes) in the runs without strace is printed too.
# Usage: tests/bench_dnsmasq.sh BUILD_DIR
# Knobs: BENCH_DNSMASQ_QPS (20000), BENCH_DNSMASQ_SECONDS (per run, 4),
# BENCH_DNSMASQ_REPS (runs per configuration, 5), DNSTAP_H (the header to
# build with; default this tree's).
set -eu
cd "$(dirname "$0")/.."
[ $# -eq 1 ] || { echo "usage: tests/bench_dnsmasq.sh BUILD_DIR" >&2; exit 2; }
QPS=${BENCH_DNSMASQ_QPS:-20000}
SECS=${BENCH_DNSMASQ_SECONDS:-4}
REPS=${BENCH_DNSMASQ_REPS:-5}
mkdir -p "$1"
B=$(cd "$1" && pwd)
for tool in dnsperf fstrm_capture kdig; do
    command -v $tool >/dev/null || { echo "bench_dnsmasq: $tool not found: skipped" >&2; exit 0; }
done
DNSMASQ=$(CFLAGS=-O2 examples/dnsmasq/build.sh "$B/dnsmasq")
${CC:-cc} -O2 tests/upstream.c -o "$B/upstream"

T=$(mktemp -d /tmp/dnsmasqbench.XXXXXX)
chmod 755 "$T"
PIDS=""
cleanup() { for p in $PIDS; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$T"; }
trap cleanup EXIT
"$B/upstream" 0 2>"$T/upstream.log" &
PIDS="$PIDS $!"
sleep 0.3
UP=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$T/upstream.log")
fstrm_capture -t protobuf:dnstap.Dnstap -u "$T/tap.sock" -w /dev/null >"$T/capture.log" 2>&1 &
PIDS="$PIDS $!"
i=0; while [ ! -S "$T/tap.sock" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
chmod 666 "$T/tap.sock"

# cache hits: names the upstream answers, asked once before the runs; types
# dnsmasq caches by default (A, AAAA; NXDOMAIN and NODATA with the SOA)
printf '%s\n' "www.example.test A" "mail.example.test A" "ns.example.test A" "www.example.test AAAA" \
    "mail.example.test AAAA" "nope.example.test A" >"$T/queries.txt"

tap_fd() { # pid: the descriptor of dnsmasq's only unix stream socket (the tap's), or -
    for f in /proc/$1/fd/*; do
        ino=$(readlink "$f" | sed -n 's/^socket:\[\([0-9]*\)\]$/\1/p')
        [ -n "$ino" ] && awk -v i="$ino" '$5 == "0001" && $7 == i { found = 1 } END { exit !found }' /proc/net/unix &&
            { echo "${f##*/}"; return; }
    done
    echo -
}
tap_calls() { # trace fd: write-family system calls on fd so far
    grep -cE "^[0-9]+ +(write|writev|send|sendto|sendmsg)\($2," "$1" || true
}

run() { # name port trace|cpu extra-args...: one dnsperf run against a fresh dnsmasq
    name=$1 port=$2 mode=$3; shift 3
    set -- "$DNSMASQ" -k --no-resolv --no-hosts --server="127.0.0.1#$UP" --listen-address=127.0.0.1 \
        --bind-interfaces --port="$port" --cache-size=1000 --log-facility="$T/$name.log" \
        --pid-file="$T/$name.pid" "$@"
    rm -f "$T/$name.pid" "$T/$name.log"
    if [ "$mode" = trace ]; then
        # only these calls stop the process (seccomp-bpf): the tap's, and dnsmasq's answers (sendmsg)
        strace -f --seccomp-bpf -qq -e trace=write,writev,sendto,sendmsg -o "$T/$name.trace" "$@" &
    else
        "$@" &
    fi
    top=$!
    i=0; while ! grep -q "started, version" "$T/$name.log" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    case "$*" in *dnstap*)
        i=0; while ! grep -q "dnstap: connected" "$T/$name.log" && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done ;;
    esac
    pid=$(cat "$T/$name.pid")
    while read -r n t; do kdig @127.0.0.1 -p "$port" "$n" "$t" +short >/dev/null; done <"$T/queries.txt"
    sleep 1.5                         # whatever the priming queued is written by now
    fd=$(tap_fd "$pid")
    cpu0=$(cut -d' ' -f1 "/proc/$pid/schedstat")
    w0=0; [ "$mode" = trace ] && [ "$fd" != - ] && w0=$(tap_calls "$T/$name.trace" "$fd")
    dnsperf -s 127.0.0.1 -p "$port" -d "$T/queries.txt" -l "$SECS" -Q "$QPS" -c 4 -q 200 >"$T/$name.perf" 2>&1
    sleep 1.5                         # and what the run queued
    cpu1=$(cut -d' ' -f1 "/proc/$pid/schedstat")
    w1=0; [ "$mode" = trace ] && [ "$fd" != - ] && w1=$(tap_calls "$T/$name.trace" "$fd")
    kill -USR1 "$pid"
    sleep 0.3
    kill "$pid"
    wait "$top" 2>/dev/null || true
    done_q=$(sed -n 's/.*Queries completed: *\([0-9]*\).*/\1/p' "$T/$name.perf")
    lost=$(sed -n 's/.*Queries lost: *\([0-9]*\).*/\1/p' "$T/$name.perf")
    stats=$(grep 'dnstap: logged' "$T/$name.log" | tail -n 1 | sed 's/.*dnstap: //')   # at exit
    if [ "$mode" = trace ]; then echo "$name $done_q $lost - $((w1 - w0)) ${stats:--}"
    else echo "$name $done_q $lost $((cpu1 - cpu0)) - ${stats:--}"; fi
}

echo "bench: dnsmasq cache hits at $QPS queries/s, $SECS s per run, $REPS runs each..." >&2
LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)
: >"$T/runs.txt"
r=0
while [ $r -lt "$REPS" ]; do
    run untapped $((25300 + r * 2)) cpu >>"$T/runs.txt"
    run tapped $((25301 + r * 2)) cpu --dnstap="unix://$T/tap.sock" --dnstap-full >>"$T/runs.txt"
    r=$((r + 1))
done
command -v strace >/dev/null && run tapped-strace 25299 trace --dnstap="unix://$T/tap.sock" --dnstap-full >>"$T/runs.txt"

echo
echo "### dnstap in dnsmasq 2.90: cache hits at $QPS queries/s (dnsperf), $REPS x $SECS s per configuration"
echo
echo "| dnsmasq | queries answered | lost | CPU per query: median (min .. max) | tap counters at exit (last run) |"
echo "|---|---:|---:|---:|---|"
awk '
function median(a, n,    i, j, t) {
    for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
$4 != "-" && $1 == "untapped" { qu += $2; lu += $3; u[++nu] = $4 / $2 / 1000 }
$4 != "-" && $1 == "tapped" { qt += $2; lt += $3; t[++nt] = $4 / $2 / 1000; e = ""
    for (i = 6; i < NF; i++) { if ($i == "writes") tw += $(i + 1); if ($i == "logged") ev += $(i + 1) }
    for (i = 6; i <= NF; i++) e = e " " $i; last = e }
$5 != "-" { sq += $2; sw += $5 }
END {
    if (nu) { lo = u[1]; hi = u[1]; for (i = 1; i <= nu; i++) { if (u[i] < lo) lo = u[i]; if (u[i] > hi) hi = u[i] }
        mu = median(u, nu); printf "| untapped | %d | %d | %.2f us (%.2f .. %.2f) | - |\n", qu, lu, mu, lo, hi }
    if (nt) { lo = t[1]; hi = t[1]; for (i = 1; i <= nt; i++) { if (t[i] < lo) lo = t[i]; if (t[i] > hi) hi = t[i] }
        mt = median(t, nt); printf "| tapped, --dnstap-full | %d | %d | %.2f us (%.2f .. %.2f) |%s |\n", qt, lt, mt, lo, hi, last }
    if (nu && nt)
        printf "\nCPU per query (median of the runs), tapped / untapped: %+.1f %% (goal: at most +10 %%).\n", (mt / mu - 1) * 100
    if (qt)
        printf "Events per tapped query: %.2f (a cache hit logs CLIENT_QUERY and CLIENT_RESPONSE).\n", ev / qt
    if (qt && tw)
        printf "Tap writes in the tapped runs (dnstap_stats().writes, priming included): %d for %d queries, one per %.1f queries.\n", tw, qt, qt / tw
    if (sq)
        printf "Tap socket under strace --seccomp-bpf (a separate, slower run): %d write-family calls for %d queries, one per %.1f queries (goal: at most one per 50).\n", sw, sq, sw ? sq / sw : 0
}' "$T/runs.txt"
echo
echo "Load average before these runs: $LOADAVG on $(getconf _NPROCESSORS_ONLN 2>/dev/null || echo '?') CPUs; CPU per query rises with other load."
echo
echo "Per run (name, answered, lost, CPU ns, writes, tap counters):"
sed 's/^/    /' "$T/runs.txt"
