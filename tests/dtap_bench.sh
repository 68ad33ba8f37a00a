#!/bin/sh
# dtap next to golang-dnstap's dnstap, in the same run: binary size
# (stripped), peak RSS and read throughput on a large file (every message
# of tests/testdata repeated to BENCH_DTAP_MESSAGES messages, default
# 200,000), for -y, -j and -q to /dev/null. Each figure is the best of
# BENCH_DTAP_RUNS runs (3): CPU seconds (user + sys) and wall seconds, peak
# RSS, as GNU time reports them. The outputs are compared first: they must
# be equal.
# Prints a markdown table.
# Usage: tests/dtap_bench.sh BUILD_DIR
set -u
. "$(dirname "$0")/lib.sh"
need dnstap strip "$py" /usr/bin/time
DTAP=$build/dtap
[ -x "$DTAP" ] || { fail "dtap bench" "$DTAP not built"; exit 1; }
N=${BENCH_DTAP_MESSAGES:-200000}
RUNS=${BENCH_DTAP_RUNS:-3}
TESTDATA=${TESTDATA:-tests/testdata}
T=$build/dtap-bench
mkdir -p "$T"
big=$T/big.dnstap
"$py" - "$big" "$N" "$TESTDATA"/*.dnstap <<'EOF'
import struct, sys
out, n, srcs = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
CT = b'protobuf:dnstap.Dnstap'
def ctl(t, cts=()):
    b = struct.pack('>I', t) + b''.join(struct.pack('>II', 1, len(c)) + c for c in cts)
    return struct.pack('>II', 0, len(b)) + b
pay = []
for s in srcs:
    d = open(s, 'rb').read(); i = 0
    while i + 4 <= len(d):
        l = struct.unpack('>I', d[i:i + 4])[0]; i += 4
        if l == 0: i += 4 + struct.unpack('>I', d[i:i + 4])[0]; continue
        pay.append(d[i:i + l]); i += l
with open(out, 'wb') as f:
    f.write(ctl(2, [CT]))
    for k in range(n): p = pay[k % len(pay)]; f.write(struct.pack('>I', len(p)) + p)
    f.write(ctl(3))
EOF
strip -o "$T/dtap.stripped" "$DTAP"
cp "$(command -v dnstap)" "$T/dnstap.copy" && strip "$T/dnstap.copy" 2>/dev/null
info "file: $N messages, $(wc -c <"$big") bytes"

# measure COMMAND...: "cpu wall maxrss_kib", the run with the least CPU of
# RUNS; GNU time forks the program itself, so the peak RSS is the program's
measure() {
    best=""
    r=0
    while [ $r -lt "$RUNS" ]; do
        /usr/bin/time -f '%U %S %e %M' -o "$T/time" "$@" >/dev/null 2>&1
        line=$(tail -n 1 "$T/time")
        best=$(printf '%s\n%s\n' "$best" "$line" | awk 'NF == 4 { c = $1 + $2; if (!n++ || c < bc) { bc = c; b = sprintf("%.2f %.2f %d", c, $3, $4) } } END { print b }')
        r=$((r + 1))
    done
    echo "$best"
}
echo "| program | binary (stripped) | format | CPU s | wall s | messages/s (CPU) | peak RSS |"
echo "|---|---:|---|---:|---:|---:|---:|"
for fmtopt in -y -j -q; do
    "$DTAP" -r "$big" $fmtopt >"$T/o" 2>/dev/null
    dnstap -r "$big" $fmtopt >"$T/g" 2>/dev/null
    cmp -s "$T/o" "$T/g" || { fail "dtap bench $fmtopt" "outputs differ"; continue; }
    for prog in dtap dnstap; do
        if [ $prog = dtap ]; then exe=$DTAP; size=$(wc -c <"$T/dtap.stripped"); else exe=dnstap; size=$(wc -c <"$T/dnstap.copy"); fi
        set -- $(measure "$exe" -r "$big" $fmtopt)
        rate=$("$py" -c "print('{:,.0f}'.format($N / max($1, 1e-9)))")
        printf '| %s | %s | %s | %s | %s | %s | %s KiB |\n' "$prog" \
            "$("$py" -c "print('{:,}'.format($size))")" "$fmtopt" "$1" "$2" "$rate" "$("$py" -c "print('{:,}'.format($3))")"
    done
done
exit $((fails > 0))
