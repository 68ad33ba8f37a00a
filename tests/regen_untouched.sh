#!/bin/sh
# `make regen` on a copy of the tree: when nothing changed it leaves dnstap.h
# alone (same bytes, same timestamp) and says so; when an embedded block was
# edited it rewrites the file back to the generator's output and says so.
# Usage: tests/regen_untouched.sh BUILD_DIR
set -u
. "$(dirname "$0")/lib.sh"
need nanopb_generator.py
T=$build/regen
rm -rf "$T"
mkdir -p "$T/tests"
cp dnstap.h dnstap.proto "$T/"
cp tests/regen.sh "$T/tests/"
touch -d '2001-02-03 04:05:06' "$T/dnstap.h"
before=$(stat -c %Y "$T/dnstap.h")
out=$("$T/tests/regen.sh" 2>&1)
if [ "$(stat -c %Y "$T/dnstap.h")" = "$before" ] && cmp -s dnstap.h "$T/dnstap.h" &&
   echo "$out" | grep -q '^regen: dnstap.h unchanged'; then
    pass "make regen with nothing to change: dnstap.h untouched (bytes and timestamp); says: $out"
else
    fail "make regen with nothing to change" "timestamp $before -> $(stat -c %Y "$T/dnstap.h"); says: $out"
fi
# an edited embedded block is rewritten
sed -i '/>>schema-h: BEGIN/a /* stray line */' "$T/dnstap.h"
out=$("$T/tests/regen.sh" 2>&1)
if cmp -s dnstap.h "$T/dnstap.h" && echo "$out" | grep -q '^regen: dnstap.h updated'; then
    pass "make regen after an edit of an embedded block: rewritten; says: $out"
else
    fail "make regen after an edit" "says: $out; $(diff dnstap.h "$T/dnstap.h" | head -3 | tr '\n' ' ')"
fi
exit $((fails > 0))
