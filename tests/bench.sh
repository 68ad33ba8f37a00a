#!/bin/sh
# `make bench`: encode the workload of docs/bench-workload.md with this
# library, nanopb, protobuf-c + libfstrm, a hand-written encoder (the floor)
# and memcpy; print instructions/message (callgrind), median ns/message and
# allocations/message as markdown tables. Usage: tests/bench.sh BUILD_DIR
# Knobs: CC, BENCH_N (messages per callgrind run, 100000), BENCH_REPS (wall
# clock repetitions, 11), BENCH_TIME_N (messages per repetition, 100000),
# BENCH_JOBS (parallel callgrind runs, the number of CPUs).
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
$CC $CFLAGS -I"$D" -c "$D/dnstap.pb-c.c" -o "$D/dnstap.pb-c.o"
# libfstrm and libprotobuf-c are linked statically so that --wrap sees
# their allocations too (a shared library's calls would bypass it).
$CC -O2 -gdwarf-4 -o "$D/bench" "$D/bench.o" "$D/bench_lib.o" "$D/bench_peers.o" "$D/dnstap.pb-c.o" \
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
    print "Every row includes the loop row (per-message times, indirect call). Rows (a+), (d0) are extra."
    print "Machine: " cpu ", " ncpu " CPUs; " ccv "; " vgv "."
}' "$D/encoders.txt" "$D/time.txt" "$D/counts.txt"
