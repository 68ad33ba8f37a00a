#!/bin/sh
# `make bench`: encode the workload of docs/bench-workload.md with this
# library, nanopb, protobuf-c + libfstrm, a hand-written encoder (the floor)
# and memcpy; print instructions/message (callgrind), median ns/message and
# allocations/message as markdown tables. Then the live-logging path:
# dnstap_log()'s instructions next to dnstap_encode_frame()'s; end to end
# over a unix socket to fstrm_capture at several offered rates, this library
# next to protobuf-c + libfstrm's I/O thread (delivered messages counted in
# the capture, drops); dnstap_log() latency with the receiver healthy and
# stopped (SIGSTOP). Usage: tests/bench.sh BUILD_DIR
# Knobs: CC, BENCH_N (messages per callgrind run, 100000), BENCH_REPS (wall
# clock repetitions, 11), BENCH_TIME_N (messages per repetition, 100000),
# BENCH_JOBS (parallel callgrind runs, the number of CPUs);
# BENCH_LIVE (0: skip the end-to-end runs), BENCH_LIVE_RATES (offered
# messages/s, 0 = as fast as possible; "25000 50000 100000 200000 400000
# 800000 0"), BENCH_LIVE_SENDERS ("poll thread thread1 fstrm", see
# tests/bench_live.c), BENCH_LIVE_SECONDS (per run, 1.5), BENCH_LIVE_REPS
# (runs of the whole ladder, 2), BENCH_LIVE_QUEUE (dnstap.h queue bytes,
# 82432 = 512 x 161: the frames of libfstrm's 512 slots), BENCH_LAT_RATE
# (100000), BENCH_LAT_SECONDS (2 s healthy, then 2 s stopped),
# BENCH_LAT_SENDERS ("poll thread fstrm"); the flush policy's table: the
# knobs of tests/bench_flush.sh. The end-to-end runs need
# fstrm_capture (Debian fstrm-bin); without it they are skipped, with a note.
set -eu
cd "$(dirname "$0")/.."
[ $# -eq 1 ] || { echo "usage: tests/bench.sh BUILD_DIR" >&2; exit 2; }
CC=${CC:-cc}
N=${BENCH_N:-100000}
REPS=${BENCH_REPS:-11}
TN=${BENCH_TIME_N:-100000}
NCPU=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)
JOBS=${BENCH_JOBS:-$NCPU}
D=$1/bench
mkdir -p "$D"
rm -f "$D"/cg.* "$D"/*.txt

# Build. protobuf-c's code is generated here, never in the tree. -g does not
# change the code; it lets callgrind_annotate show source lines (DWARF 4:
# valgrind 3.19 gives up on clang 14's DWARF 5).
CFLAGS="-O2 -gdwarf-4 -std=c99 -Wall -Wextra -pedantic"
protoc-c --proto_path=. --c_out="$D" dnstap.proto
$CC $CFLAGS -I. -c tests/bench_lib.c -o "$D/bench_lib.o"
$CC $CFLAGS -I. -c tests/bench.c -o "$D/bench.o"
$CC $CFLAGS -I. -I"$D" -c tests/bench_peers.c -o "$D/bench_peers.o"
$CC $CFLAGS -I. -c tests/bench_live.c -o "$D/bench_live.o"
$CC $CFLAGS -I"$D" -c "$D/dnstap.pb-c.c" -o "$D/dnstap.pb-c.o"
# libfstrm and libprotobuf-c are linked statically so that --wrap sees
# their allocations too (a shared library's calls would bypass it).
$CC -O2 -gdwarf-4 -o "$D/bench" "$D/bench.o" "$D/bench_lib.o" "$D/bench_peers.o" "$D/bench_live.o" \
    "$D/dnstap.pb-c.o" \
    -lprotobuf-nanopb -Wl,-Bstatic -lfstrm -lprotobuf-c -Wl,-Bdynamic -lpthread \
    -Wl,--wrap=malloc -Wl,--wrap=calloc -Wl,--wrap=realloc
# The same without the encoder's value checks (lengths that cannot wrap,
# addresses, ports, nanoseconds), only to measure what they cost.
$CC $CFLAGS -DDNSTAP__VALUE_CHECKS=0 -I. -c tests/bench_lib.c -o "$D/bench_lib_unchecked.o"
$CC -O2 -gdwarf-4 -o "$D/bench_unchecked" "$D/bench.o" "$D/bench_lib_unchecked.o" "$D/bench_peers.o" \
    "$D/bench_live.o" "$D/dnstap.pb-c.o" \
    -lprotobuf-nanopb -Wl,-Bstatic -lfstrm -lprotobuf-c -Wl,-Bdynamic -lpthread \
    -Wl,--wrap=malloc -Wl,--wrap=calloc -Wl,--wrap=realloc

# Correctness first: it aborts (and so do we) if any encoder disagrees.
"$D/bench" verify "$D"
"$D/bench" list > "$D/encoders.txt"

# Wall clock on a quiet machine, before the callgrind runs start.
echo "bench: timing, $REPS x $TN messages per encoder and variant..." >&2
"$D/bench" time "$REPS" "$TN" > "$D/time.txt"

# Instructions: whole-program Ir (every thread, libc included) of N messages
# minus that of 0 messages, divided by N.
echo "bench: callgrind, N=0 and N=$N per encoder and variant, $JOBS at a time..." >&2
for v in response query; do
    cut -f1 "$D/encoders.txt" | while read -r e; do
        echo "$e $v 0"
        echo "$e $v $N"
    done
done > "$D/runs.txt"
if ! xargs -P "$JOBS" -n 3 sh -c 'valgrind --tool=callgrind --callgrind-out-file="$0/cg.$1.$2.$3" \
    "$0/bench" count "$1" "$2" "$3" >/dev/null 2>"$0/cg.$1.$2.$3.log"' "$D" < "$D/runs.txt"; then
    echo "bench: a callgrind run failed; see $D/cg.*.log" >&2
    exit 1
fi
for v in response query; do
    for e in direct tap; do
        for n in 0 "$N"; do
            valgrind --tool=callgrind --callgrind-out-file="$D/cg.unchecked-$e.$v.$n" \
                "$D/bench_unchecked" count "$e" "$v" "$n" >/dev/null 2>"$D/cg.unchecked-$e.$v.$n.log" || {
                echo "bench: a callgrind run failed; see $D/cg.unchecked-$e.$v.$n.log" >&2; exit 1; }
            echo "unchecked-$e $v $n"
        done
    done
done >> "$D/runs.txt"
while read -r e v n; do
    ir=$(awk '/^totals:/ { print $2; exit }' "$D/cg.$e.$v.$n")
    [ -n "$ir" ] || { echo "bench: no totals in $D/cg.$e.$v.$n" >&2; exit 1; }
    echo "$e $v $n $ir"
done < "$D/runs.txt" > "$D/counts.txt"
# (b)'s share spent in the extra sizing pass dnstap_encode_nanopb() makes.
for v in response query; do
    callgrind_annotate --inclusive=yes "$D/cg.nanopb.$v.$N" |
        awk -v v="$v" '/:pb_get_encoded_size / { gsub(",", "", $1); print "sizing", v, $1; exit }'
done >> "$D/counts.txt"

# Inclusive instructions of one function in one run (0 when it never ran):
# the sum of its lines in callgrind_annotate's function summary (it may
# list a function once per spelling of its file name). Run from $D, where
# no dnstap.h is found, which keeps such spellings together.
incl() {
    (cd "$D" && callgrind_annotate --inclusive=yes --threshold=100 "$1") |
        awk -v n="$2" 'index($0, "=>") { next }
            { k = index($0, ":" n); if (!k) next
              rest = substr($0, k + length(n) + 1)
              if (rest != "" && substr(rest, 1, 2) != " [") next
              x = $1; gsub(",", "", x); if (x ~ /^[0-9]+$/) sum += x }
            END { print sum + 0 }'
}
for v in response query; do
    echo "incl log $v $(incl "cg.tap.$v.$N" dnstap_log) $(incl "cg.tap.$v.0" dnstap_log)"
    echo "incl poll $v $(incl "cg.tap.$v.$N" dnstap_poll) $(incl "cg.tap.$v.0" dnstap_poll)"
    echo "incl frame $v $(incl "cg.direct.$v.$N" dnstap_encode_frame) $(incl "cg.direct.$v.0" dnstap_encode_frame)"
done >> "$D/counts.txt"

# End to end over a unix socket, one fstrm_capture per run, nothing else
# running. The receiver writes into a FIFO read by `bench frames`, which
# counts (and checks) the frames that arrived: no capture file on disk, so
# no disk writeback stalls the receiver.
LIVE=${BENCH_LIVE:-1}
RATES=${BENCH_LIVE_RATES:-25000 50000 100000 200000 400000 800000 0}
SENDERS=${BENCH_LIVE_SENDERS:-poll thread thread1 fstrm}
LSECS=${BENCH_LIVE_SECONDS:-1.5}
LREPS=${BENCH_LIVE_REPS:-2}
QB=${BENCH_LIVE_QUEUE:-82432}
LAT_RATE=${BENCH_LAT_RATE:-100000}
LAT_SECS=${BENCH_LAT_SECONDS:-2}
LAT_SENDERS=${BENCH_LAT_SENDERS:-poll thread fstrm}
: > "$D/live.txt"
LIVE_NOTE=
if [ "$LIVE" != 0 ] && ! command -v fstrm_capture >/dev/null 2>&1; then
    LIVE=0
    LIVE_NOTE="fstrm_capture not found (Debian package fstrm-bin): the end-to-end and latency tables are skipped."
    echo "bench: $LIVE_NOTE" >&2
fi
LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)
if [ "$LIVE" != 0 ]; then
    L=$D/live
    mkdir -p "$L"
    S=$(cd "$L" && pwd)
    # unix socket paths must fit in sun_path (108 bytes)
    if [ ${#S} -gt 80 ]; then S=$(mktemp -d /tmp/dnstap-bench.XXXXXX); fi
    CPID=
    FPID=
    live_cleanup() {
        if [ -n "$CPID" ]; then kill -CONT "$CPID" 2>/dev/null || true; kill -TERM "$CPID" 2>/dev/null || true; fi
        if [ -n "$FPID" ]; then kill -TERM "$FPID" 2>/dev/null || true; fi
        rm -f "$S/sock" "$L/cap.fifo"
        case $S in /tmp/dnstap-bench.*) rmdir "$S" 2>/dev/null || true ;; esac
    }
    trap live_cleanup EXIT
    trap 'exit 130' INT TERM
    # live_run live|lat SENDER RATE SECONDS: one run, one line in live.txt
    live_run() {
        rm -f "$S/sock" "$L/cap.fifo"
        mkfifo "$L/cap.fifo"
        "$D/bench" frames "$L/cap.fifo" > "$L/frames.txt" &
        FPID=$!
        fstrm_capture -t protobuf:dnstap.Dnstap -u "$S/sock" -w "$L/cap.fifo" 2> "$L/capture.log" &
        CPID=$!
        i=0
        while [ ! -S "$S/sock" ] && [ $i -lt 250 ]; do sleep 0.02; i=$((i + 1)); done
        [ -S "$S/sock" ] || { echo "bench: fstrm_capture does not listen; see $L/capture.log" >&2; exit 1; }
        if [ "$1" = lat ]; then
            out=$("$D/bench" lat "$2" "$3" "$4" "$S/sock" "$QB" "$CPID") || { echo "bench: bench lat $2 failed" >&2; exit 1; }
        else
            out=$("$D/bench" live "$2" "$3" "$4" "$S/sock" "$QB") || { echo "bench: bench live $2 $3 failed" >&2; exit 1; }
        fi
        kill -TERM "$CPID" 2>/dev/null || true   # fstrm_capture writes STOP and exits
        wait "$CPID" || true
        CPID=
        wait "$FPID" || { echo "bench: bench frames failed" >&2; exit 1; }
        FPID=
        echo "$out $(cat "$L/frames.txt")" >> "$D/live.txt"
    }
    nr=0
    for rate in $RATES; do for s in $SENDERS; do nr=$((nr + 1)); done; done
    echo "bench: end to end, $LREPS x $nr runs of $LSECS s, then latency, $LAT_SENDERS..." >&2
    r=1
    while [ $r -le "$LREPS" ]; do
        for rate in $RATES; do
            for s in $SENDERS; do live_run live "$s" "$rate" "$LSECS"; done
        done
        r=$((r + 1))
    done
    for s in $LAT_SENDERS; do live_run lat "$s" "$LAT_RATE" "$LAT_SECS"; done
fi

cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
ccv=$($CC --version 2>/dev/null | head -n 1)
vgv=$(valgrind --version)

awk -v N="$N" -v REPS="$REPS" -v TN="$TN" -v cpu="${cpu:-unknown CPU}" -v ncpu="$NCPU" \
    -v ccv="$ccv" -v vgv="$vgv" -v dir="$D" '
function commas(x,   s, r) {
    s = sprintf("%.0f", x); r = ""
    while (length(s) > 3) { r = "," substr(s, length(s) - 2) r; s = substr(s, 1, length(s) - 3) }
    return s r
}
FILENAME ~ /encoders.txt$/ { split($0, f, "\t"); order[++ne] = f[1]; label[f[1]] = f[2]; next }
FILENAME ~ /time.txt$/ && $1 == "time" { ns[$2, $3] = $4; al[$2, $3] = $5; next }
FILENAME ~ /time.txt$/ && $1 == "iothr_full" { full[$2] = $3; subm[$2] = $4; next }
FILENAME ~ /counts.txt$/ && $1 == "sizing" { sizing[$2] = $3; next }
FILENAME ~ /counts.txt$/ { ir[$1, $2, $3] = $4; next }
END {
    nv = split("response query", vs, " ")
    title["response"] = "CLIENT_RESPONSE, 161-byte frames"
    title["query"] = "CLIENT_QUERY, 103-byte frames"
    for (k = 1; k <= nv; k++) {
        v = vs[k]
        for (i = 1; i <= ne; i++) { e = order[i]; per[e] = (ir[e, v, N] - ir[e, v, 0]) / N }
        printf "### %s\n\n", title[v]
        print "| encoder | instructions/msg | ratio to floor | ns/msg (median) | allocations/msg |"
        print "|---|---:|---:|---:|---:|"
        for (i = 1; i <= ne; i++) {
            e = order[i]
            if (e == "tap") continue   # in the dnstap_log() table
            printf "| %s | %s | %.2f | %.1f | %.2f |\n", label[e], commas(per[e]), per[e] / per["floor"], ns[v, e], al[v, e]
        }
        r = per["direct"] / per["floor"]
        printf "\n(a) / (e): %.2fx the floor'"'"'s instructions; target <= 1.5x: %s.\n", r, r <= 1.5 ? "met" : "not met"
        if (v in sizing)
            printf "(b) includes the pb_get_encoded_size() pass dnstap_encode_nanopb() makes before pb_encode(): %s instructions/msg.\n", commas(sizing[v] / N)
        printf "(d2) fstrm_iothr_submit found the 512-slot queue full %d times in %d submits (%.1f%%) and retried; libfstrm users drop those messages.\n\n", full[v], subm[v], 100 * full[v] / subm[v]
    }
    print "Method: instructions/msg = (Ir of N=" N " messages - Ir of N=0) / N, whole program (all threads,"
    print "libc, the I/O thread) from valgrind --tool=callgrind; files in " dir "/cg.*. ns/msg = median of"
    print REPS " runs of " TN " messages, writers including their final flush. allocations/msg = calls of"
    print "malloc/calloc/realloc counted by -Wl,--wrap (libfstrm and libprotobuf-c linked statically)."
    print "Every row includes the loop row (per-message times, indirect call). Rows (a+), (d0) are extra;"
    print "(a++) is in the dnstap_log() table below."
    print "Machine: " cpu ", " ncpu " CPUs; " ccv "; " vgv "."
}' "$D/encoders.txt" "$D/time.txt" "$D/counts.txt"

# dnstap_log(): the live-logging path on the same workload.
awk -v N="$N" '
function commas(x,   s, r, neg) {
    s = sprintf("%.0f", x); r = ""; neg = ""
    if (substr(s, 1, 1) == "-") { neg = "-"; s = substr(s, 2) }
    while (length(s) > 3) { r = "," substr(s, length(s) - 2) r; s = substr(s, 1, length(s) - 3) }
    return neg s r
}
FILENAME ~ /time.txt$/ && $1 == "time" { ns[$2, $3] = $4; al[$2, $3] = $5; next }
FILENAME ~ /counts.txt$/ && $1 == "incl" { inc[$2, $3] = ($4 - $5) / N; next }
FILENAME ~ /counts.txt$/ && $1 != "sizing" { ir[$1, $2, $3] = $4; next }
END {
    print ""
    print "### `dnstap_log()` into the tap'"'"'s queue (instructions, callgrind)"
    print ""
    print "| variant | `dnstap_log()` | `dnstap_encode_frame()` | difference | `dnstap_poll()` drain | whole program (a++) | whole program (a) | ns/msg (a++) | ns/msg (a) | allocations/msg (a++) |"
    print "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    nv = split("response query", vs, " ")
    title["response"] = "CLIENT_RESPONSE, 161 B"; title["query"] = "CLIENT_QUERY, 103 B"
    for (k = 1; k <= nv; k++) {
        v = vs[k]
        wt = (ir["tap", v, N] - ir["tap", v, 0]) / N
        wa = (ir["direct", v, N] - ir["direct", v, 0]) / N
        printf "| %s | %s | %s | %+d | %s | %s | %s | %.1f | %.1f | %.2f |\n", title[v], commas(inc["log", v]),
            commas(inc["frame", v]), inc["log", v] - inc["frame", v], commas(inc["poll", v]), commas(wt), commas(wa),
            ns[v, "tap"], ns[v, "direct"], al[v, "tap"]
    }
    print ""
    print "`dnstap_log()`, `dnstap_encode_frame()`, `dnstap_poll()`: inclusive instructions of that function per"
    print "message (callgrind_annotate --inclusive, run of N=" N " minus run of 0). The (a++) row: a tap with"
    print "a 64 KiB queue and a minimal transport of the bench'"'"'s (write(2) to /dev/null, unidirectional),"
    print "dnstap_log() per message and dnstap_poll() every 256 messages, which empties the queue; any"
    print "refused message aborts the bench, so every figure is the encode-into-ring path, never a drop."
    print "Whole program: as in the tables above (includes the loop and, for (a++), the drain). ns/msg:"
    print "median wall clock; allocations/msg: malloc/calloc/realloc calls while logging, setup to close."
    print ""
    print "**What the encoder'"'"'s value checks cost** (lengths that cannot wrap, addresses, ports, nanoseconds;"
    print "whole-program instructions per message, callgrind; unchecked: the same build with"
    print "`-DDNSTAP__VALUE_CHECKS=0`, for this measurement only)"
    print ""
    print "| variant | (a) checked | (a) unchecked | cost | (a++) `dnstap_log()` checked | (a++) unchecked | cost | (a++) / floor |"
    print "|---|---:|---:|---:|---:|---:|---:|---:|"
    for (k = 1; k <= nv; k++) {
        v = vs[k]
        wa = (ir["direct", v, N] - ir["direct", v, 0]) / N
        ua = (ir["unchecked-direct", v, N] - ir["unchecked-direct", v, 0]) / N
        wt = (ir["tap", v, N] - ir["tap", v, 0]) / N
        ut = (ir["unchecked-tap", v, N] - ir["unchecked-tap", v, 0]) / N
        fl = (ir["floor", v, N] - ir["floor", v, 0]) / N
        printf "| %s | %s | %s | %+d | %s | %s | %+d | %.2fx |\n", title[v], commas(wa), commas(ua), wa - ua,
            commas(wt), commas(ut), wt - ut, wt / fl
        ratio[v] = wt / fl
    }
    printf "\n`dnstap_log()` (a++, whole program, the queue drain included) / floor (e): %.2fx (CLIENT_RESPONSE),\n", ratio["response"]
    printf "%.2fx (CLIENT_QUERY); target <= 1.5x: %s.\n", ratio["query"],
        ratio["response"] <= 1.5 && ratio["query"] <= 1.5 ? "met" : "not met"
}' "$D/time.txt" "$D/counts.txt"

if [ "$LIVE" != 0 ]; then printf '\n'; tests/bench_flush.sh "$1"; fi
if [ -n "$LIVE_NOTE" ]; then printf '\n%s\n' "$LIVE_NOTE"; fi
[ -s "$D/live.txt" ] || exit 0
awk -v qb="$QB" -v loadavg="$LOADAVG" -v ncpu="$NCPU" -v lat_rate="$LAT_RATE" -v lat_secs="$LAT_SECS" -v secs="$LSECS" -v reps="$LREPS" '
function commas(x,   s, r) {
    s = sprintf("%.0f", x); r = ""
    while (length(s) > 3) { r = "," substr(s, length(s) - 2) r; s = substr(s, 1, length(s) - 3) }
    return s r
}
function rate_label(r) { return r == 0 ? "as fast as possible" : commas(r) "/s" }
BEGIN {
    label["poll"] = "dnstap.h, `dnstap_poll()` in the producer'"'"'s loop (1 thread)"
    label["thread"] = "dnstap.h, writer thread (`DNSTAP_WITH_THREAD`, thread_wake_ms 10)"
    label["thread1"] = "dnstap.h, writer thread, thread_wake_ms 1"
    label["fstrm"] = "protobuf-c + libfstrm `fstrm_iothr`, unix writer"
}
{
    delete kv
    for (i = 2; i <= NF; i++) { p = index($i, "="); kv[substr($i, 1, p - 1)] = substr($i, p + 1) }
    s = kv["sender"]; r = kv["rate"] + 0
    bad = kv["frame_errors"] + kv["frame_disorder"] + (kv["controls"] != 2)
    lost = kv["accepted"] - kv["frames"]
    if (bad) problems = problems sprintf("- %s, %s: capture check failed: %d frame errors, %d out of order, %d control frames\n", s, rate_label(r), kv["frame_errors"], kv["frame_disorder"], kv["controls"])
    if ("h_calls" in kv) {
        nl++; ls[nl] = s
        for (k in kv) lat[nl, k] = kv[k]
        lat[nl, "lost"] = lost
        next
    }
    if (!((s) in sseen)) { sseen[s] = 1; sorder[++ns] = s }
    if (!((r) in rseen)) { rseen[r] = 1; rorder[++nr] = r }
    runs[r, s]++
    off[r, s] += kv["offered"]; acc[r, s] += kv["accepted"]; drp[r, s] += kv["dropped"]
    frm[r, s] += kv["frames"]; els[r, s] += kv["elapsed_s"]; alc[r, s] += kv["allocs"]
    lst[r, s] += lost
    per[r, s] = per[r, s] (runs[r, s] > 1 ? ", " : "") commas(kv["dropped"])
}
END {
    if (nr) {
        print ""
        print "### End to end over a unix socket to `fstrm_capture`, CLIENT_RESPONSE (161-byte frames)"
        print ""
        print "| offered rate | sender | offered | dropped (each run) | dropped % | delivered | lost | delivered msg/s | allocations/msg |"
        print "|---|---|---:|---:|---:|---:|---:|---:|---:|"
        for (i = 1; i <= nr; i++) for (j = 1; j <= ns; j++) {
            r = rorder[i]; s = sorder[j]
            if (!runs[r, s]) continue
            printf "| %s | %s | %s | %s | %.2f | %s | %s | %s | %.2f |\n", rate_label(r), label[s], commas(off[r, s]),
                per[r, s], off[r, s] ? 100 * drp[r, s] / off[r, s] : 0, commas(frm[r, s]), commas(lst[r, s]),
                commas(els[r, s] ? frm[r, s] / els[r, s] : 0), off[r, s] ? alc[r, s] / off[r, s] : 0
        }
        print ""
        # highest fixed rate such that it and every lower one were drop-free in every run
        for (j = 1; j <= ns; j++) {
            s = sorder[j]; best[s] = -1; lowdrop[s] = -1
            for (i = 1; i <= nr; i++) {
                r = rorder[i]
                if (r > 0 && runs[r, s] && drp[r, s] > 0 && (lowdrop[s] < 0 || r < lowdrop[s])) lowdrop[s] = r
            }
            for (i = 1; i <= nr; i++) {
                r = rorder[i]
                if (r > 0 && runs[r, s] && drp[r, s] == 0 && (lowdrop[s] < 0 || r < lowdrop[s]) && r > best[s]) best[s] = r
            }
            top = 0
            for (i = 1; i <= nr; i++) if (rorder[i] > top) top = rorder[i]
            printf "Highest drop-free offered rate, %s: %s\n", label[s],
                best[s] < 0 ? "none (drops at the lowest rate)" : (best[s] == top ? ">= " : "") rate_label(best[s]) (best[s] == top ? " (the top of the ladder)" : "")
        }
        if ("fstrm" in sseen) {
            print ""
            for (j = 1; j <= ns; j++) {
                s = sorder[j]
                if (s == "fstrm") continue
                met = ""; notmet = ""
                for (i = 1; i <= nr; i++) {
                    r = rorder[i]
                    if (r == 0 || !runs[r, "fstrm"] || !runs[r, s] || drp[r, "fstrm"] == 0) continue
                    if (drp[r, s] == 0) met = met " " rate_label(r); else notmet = notmet " " rate_label(r)
                }
                if (best[s] > 0 && best["fstrm"] > 0)
                    ratio = sprintf("%.1fx%s", best[s] / best["fstrm"], best[s] == top ? " (a lower bound)" : "")
                else if (best[s] > 0)   # libfstrm dropped even at its lowest rate
                    ratio = sprintf("> %.1fx (libfstrm dropped even at %s)", best[s] / lowdrop["fstrm"], rate_label(lowdrop["fstrm"]))
                else ratio = "n/a (no drop-free rate)"
                printf "- %s: ratio of highest drop-free rates to libfstrm'"'"'s: %s. Rates where libfstrm dropped: this one drop-free at%s; dropped too at%s.\n",
                    label[s], ratio, met == "" ? " none" : met, notmet == "" ? " none" : notmet
            }
        }
        print ""
        printf "Each cell: %d run(s) of %g s, all senders interleaved per rate. dnstap.h queue: %s bytes of caller\n", reps, secs, commas(qb)
        print "memory = 512 x 161 bytes, the frames libfstrm'"'"'s 512 slots point to (its slots hold pointers"
        print "to malloc'"'"'d payloads: 512 x 8-byte pointers plus the payloads). libfstrm: default I/O thread"
        print "options (1 queue of 512 slots, I/O thread woken after 32 submits), drops = fstrm_iothr_submit"
        print "refusals (buffer freed, as BIND and Knot do). delivered: data frames counted in what"
        print "fstrm_capture wrote (read from a FIFO by `bench frames`: each length checked, 1 in 256"
        print "decoded); lost: accepted by the sender but not in the capture. delivered msg/s: delivered /"
        print "time from the first message to the end of the clean shutdown (STOP/FINISH). Offered: log calls"
        print "made; at \"as fast as possible\" the producer never sleeps (dnstap.h poll mode: dnstap_poll()"
        print "after every 64 messages). allocations/msg: malloc/calloc/realloc calls in the whole process"
        print "while logging, divided by offered messages. Load average before these runs: " loadavg "; other"
        print "processes on the machine shift the drop counts (" ncpu " CPUs here for producer, writer thread,"
        print "fstrm_capture and the frame counter)."
        if (problems != "") { print ""; printf "%s", problems }
    }
    if (nl) {
        print ""
        printf "### Latency of one log call (`dnstap_log()`; libfstrm: pack + `fstrm_iothr_submit()`), %s offered\n", rate_label(lat_rate)
        print ""
        print "| sender | receiver | calls | dropped | p50 ns | p99 ns | p99.9 ns | max ns | calls > 10 us |"
        print "|---|---|---:|---:|---:|---:|---:|---:|---:|"
        for (i = 1; i <= nl; i++) {
            s = ls[i]
            split("h s", ph, " ")
            for (k = 1; k <= 2; k++) {
                p = ph[k]
                printf "| %s | %s | %s | %s | %d | %d | %d | %s | %d |\n", label[s], p == "h" ? "healthy" : "stopped",
                    commas(lat[i, p "_calls"]), commas(lat[i, p "_dropped"]), lat[i, p "_p50"], lat[i, p "_p99"],
                    lat[i, p "_p999"], commas(lat[i, p "_max"]), lat[i, p "_over10us"]
            }
        }
        print ""
        printf "Each sender: %g s with fstrm_capture running, then %g s with it stopped by SIGSTOP (the socket\n", lat_secs, lat_secs
        print "buffer and then the queue fill, and drops start), then SIGCONT and a clean shutdown."
        printf "clock_gettime(CLOCK_MONOTONIC) around every call; a back-to-back pair of reads costs %d ns\n", lat[1, "clock_pair"]
        print "(median), included in every figure. For libfstrm the timed call is the whole log path:"
        print "protobuf-c packing into malloc'"'"'d memory + fstrm_iothr_submit (+ free when refused)."
        lost = 0
        for (i = 1; i <= nl; i++) lost += lat[i, "lost"]
        printf "After SIGCONT every accepted message reached the capture: %s.\n", lost == 0 ? "yes" : "no, " lost " lost"
    }
}' "$D/live.txt"

# dnsmasq with dnstap: CPU per cache-hit query tapped and untapped, and
# writes on the tap socket per query (BENCH_DNSMASQ=0 skips it).
[ "${BENCH_DNSMASQ:-1}" = 0 ] || tests/bench_dnsmasq.sh "$1"
