#!/bin/sh
# Regenerate the nanopb block embedded in dnstap.h from dnstap.proto, or with
# --check, fail when the embedded block differs from what the installed
# generator produces today. The block is the generator's dnstap.pb.h followed
# by its dnstap.pb.c without the #include line, runs of blank lines squeezed.
set -eu
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp dnstap.proto "$tmp/"
(cd "$tmp" && nanopb_generator.py -q dnstap.proto >/dev/null)
{ cat "$tmp/dnstap.pb.h"; grep -v '^#include "dnstap.pb.h"$' "$tmp/dnstap.pb.c"; } | cat -s > "$tmp/fresh"
awk '/^\/\* >>schema: BEGIN/{f=1;next} /^\/\* >>schema: END/{f=0} f' dnstap.h > "$tmp/embedded"
if [ "${1:-}" = "--check" ]; then
    if ! grep -q '>>schema: BEGIN' dnstap.h || ! grep -q '>>schema: END' dnstap.h; then
        echo "regen: schema markers missing from dnstap.h" >&2; exit 1
    fi
    if ! cmp -s "$tmp/fresh" "$tmp/embedded"; then
        echo "regen: embedded nanopb block differs from nanopb_generator.py output (run make regen):" >&2
        diff -u "$tmp/embedded" "$tmp/fresh" | head -40 >&2
        exit 1
    fi
    echo "regen: embedded block matches $(nanopb_generator.py --version 2>/dev/null | head -1)"
    exit 0
fi
awk -v blk="$tmp/fresh" '
    /^\/\* >>schema: BEGIN/ { print; while ((getline l < blk) > 0) print l; skip = 1; next }
    /^\/\* >>schema: END/   { skip = 0 }
    !skip' dnstap.h > "$tmp/dnstap.h"
cat "$tmp/dnstap.h" > dnstap.h
echo "regen: dnstap.h updated"
