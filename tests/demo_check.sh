#!/bin/sh
# `make demo` (tests/demo.sh) runs, leaves its log in BUILD_DIR/demo.dnstap,
# and the commands it prints last read that log again: each one is run as
# printed, golang-dnstap's `dnstap -r FILE -y` among them, and every one
# prints the same 16 messages (4 queries: CLIENT and FORWARDER, QUERY and
# RESPONSE), byte for byte.
# Usage: tests/demo_check.sh BUILD_DIR
set -u
. "$(dirname "$0")/lib.sh"
need dnstap
T=$build/demo-check
rm -rf "$T"; mkdir -p "$T"
rel=${1%/}
if ! tests/demo.sh "$rel" >"$T/demo.out" 2>&1; then
    fail "make demo" "exit status $?: $(tail -n 5 "$T/demo.out" | tr '\n' ' ')"; exit 1
fi
[ -s "$build/demo.dnstap" ] && pass "make demo leaves $rel/demo.dnstap ($(wc -c <"$build/demo.dnstap") bytes)" ||
    fail "make demo" "no $rel/demo.dnstap afterwards"
cmds=$(sed -n '/^The log stays in /,$p' "$T/demo.out" | sed -n 's/^  //p')
echo "$cmds" | grep -qx "dnstap -r $rel/demo.dnstap -y" ||
    fail "make demo" "does not end with 'dnstap -r $rel/demo.dnstap -y': $(tail -n 3 "$T/demo.out" | tr '\n' ' ')"
n=0
while IFS= read -r c; do
    [ -n "$c" ] || continue
    n=$((n + 1))
    sh -c "$c" >"$T/read$n.out" 2>"$T/read$n.err"
    rc=$?
    msgs=$(grep -c '^type: MESSAGE' "$T/read$n.out")
    if [ $rc != 0 ] || [ "$msgs" != 16 ]; then
        fail "demo's command '$c'" "exit $rc, $msgs messages: $(head -n 2 "$T/read$n.err" | tr '\n' ' ')"
    elif [ $n -gt 1 ] && ! cmp -s "$T/read1.out" "$T/read$n.out"; then
        fail "demo's command '$c'" "output differs from the first command's: $(diff "$T/read1.out" "$T/read$n.out" | head -n 4 | tr '\n' ' ')"
    else
        pass "demo's command '$c' prints the 16 messages$([ $n -gt 1 ] && echo ", identical to the first command's output")"
    fi
done <<EOC
$cmds
EOC
exit $((fails > 0))
