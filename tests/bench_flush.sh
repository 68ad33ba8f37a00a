#!/bin/sh
# The flush policy in a single-threaded server loop (tests/bench_flush.c):
# CPU per query and writes per query at a fixed load, for the defaults,
# DNSTAP_FLUSH_AT_ONCE, libfstrm's defaults (8 KiB buffer hint, 1 s flush
# timeout) and a few other settings, next to the loop alone; printed as a
# markdown table. Run by tests/bench.sh (`make bench`); needs fstrm_capture.
#   tests/bench_flush.sh BUILD_DIR
# Knobs: BENCH_FLUSH_QPS (20000 queries/s, two messages each),
# BENCH_FLUSH_SECONDS (3 per run), BENCH_FLUSH_REPS (3: the table shows the
# median CPU, the largest wait).
set -eu
cd "$(dirname "$0")/.."
[ $# -eq 1 ] || { echo "usage: tests/bench_flush.sh BUILD_DIR" >&2; exit 2; }
QPS=${BENCH_FLUSH_QPS:-20000}
SECS=${BENCH_FLUSH_SECONDS:-3}
REPS=${BENCH_FLUSH_REPS:-3}
D=$1/bench
mkdir -p "$D"
${CC:-cc} -O2 -std=c99 -Wall -Wextra -I. tests/bench_flush.c -o "$D/bench_flush" -lprotobuf-nanopb
S=$(mktemp -d /tmp/dnstap-flush.XXXXXX)
CPID=
cleanup() {
    if [ -n "$CPID" ]; then kill -TERM "$CPID" 2>/dev/null || true; wait "$CPID" 2>/dev/null || true; fi
    rm -rf "$S"
}
trap cleanup EXIT
fstrm_capture -t protobuf:dnstap.Dnstap -u "$S/sock" -w "$S/cap.fstrm" 2> "$S/capture.log" &
CPID=$!
i=0
while [ ! -S "$S/sock" ] && [ $i -lt 250 ]; do sleep 0.02; i=$((i + 1)); done
[ -S "$S/sock" ] || { echo "bench_flush: fstrm_capture does not listen" >&2; exit 1; }
echo "bench: flush policy, $REPS x 7 runs of $SECS s at $QPS queries/s..." >&2
: > "$D/flush.txt"
r=1
while [ $r -le "$REPS" ]; do
    for cfg in "loop - 0 0" "once $S/sock 1 0" "b4k $S/sock 4096 1" "fstrm $S/sock 8192 1000" \
               "b16k $S/sock 16384 10" "default $S/sock 0 0" "b64k $S/sock 65536 10"; do
        set -- $cfg
        echo "run=$1 $("$D/bench_flush" "$2" "$QPS" "$SECS" "$3" "$4")" >> "$D/flush.txt"
        : > "$S/cap.fstrm"   # the capture only has to exist
    done
    r=$((r + 1))
done
LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)
sort -s -k1,1 "$D/flush.txt" | awk -v qps="$QPS" -v secs="$SECS" -v reps="$REPS" -v loadavg="$LOADAVG" '
function med(k, n,   i, j, t, a) {
    for (i = 1; i <= n; i++) a[i] = cpu[k, i]
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return a[int((n + 1) / 2)]
}
{
    delete kv
    for (i = 1; i <= NF; i++) { p = index($i, "="); kv[substr($i, 1, p - 1)] = substr($i, p + 1) }
    k = kv["run"]
    n[k]++
    cpu[k, n[k]] = kv["cpu_ns_per_query"]
    wpq[k] += kv["writes_per_query"] / reps
    if (kv["age_max_ms"] + 0 > age[k]) age[k] = kv["age_max_ms"] + 0
    fb[k] = kv["flush_bytes"]; fm[k] = kv["flush_ms"]
    lost[k] += kv["dropped"]
}
END {
    split("loop once b4k fstrm b16k default b64k", order, " ")
    label["loop"] = "no tap (the loop alone)"
    label["once"] = "`DNSTAP_FLUSH_AT_ONCE` (before the flush policy)"
    label["b4k"] = "4 KiB or 1 ms"
    label["fstrm"] = "8 KiB or 1 s (libfstrm'"'"'s defaults)"
    label["b16k"] = "16 KiB or 10 ms"
    label["default"] = "**32 KiB or 10 ms (the defaults)**"
    label["b64k"] = "64 KiB or 10 ms"
    base = med("loop", n["loop"])
    printf "### Flush policy: a single-threaded server at %d queries/s (2 messages each)\n\n", qps
    print "| flush_bytes or flush_ms | CPU us/query | tap adds | writes/query | queries/write | longest wait ms |"
    print "|---|---:|---:|---:|---:|---:|"
    for (i = 1; i <= 7; i++) {
        k = order[i]
        if (!n[k]) continue
        c = med(k, n[k])
        if (k == "loop") { printf "| %s | %.2f | | | | |\n", label[k], c / 1000; continue }
        printf "| %s | %.2f | %+.2f | %.4f | %.0f | %.1f |\n", label[k], c / 1000, (c - base) / 1000, wpq[k],
            (wpq[k] > 0 ? 1 / wpq[k] : 0), age[k]
    }
    print ""
    printf "tests/bench_flush.c: the host loop of the manual (log the due queries, dnstap_poll(), ppoll(2)\n"
    printf "on dnstap_io() until the next query or its deadline), %g s per run, median CPU (user + system,\n", secs
    printf "getrusage) of %d runs; writes: stats.writes; longest wait: from the wake-up that logged a frame\n", reps
    printf "to the write that took it, the largest of the %d runs (scheduling delays included). Receiver:\n", reps
    printf "fstrm_capture on a unix socket. Load average at the end: %s.\n", loadavg
    for (k in lost) if (lost[k] > 0) printf "Frames not delivered in run %s: %d.\n", k, lost[k]
}'
