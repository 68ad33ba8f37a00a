#!/bin/sh
# Regenerate the nanopb blocks embedded in dnstap.h from dnstap.proto, or with
# --check, fail when they differ from what the installed generator produces
# today. Block "schema-h" is the generator's dnstap.pb.h; block "schema-c" is
# its dnstap.pb.c without the #include line. Runs of blank lines are squeezed.
set -eu
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp dnstap.proto "$tmp/"
(cd "$tmp" && nanopb_generator.py -q dnstap.proto >/dev/null)
cat -s "$tmp/dnstap.pb.h" > "$tmp/fresh-h"
grep -v '^#include "dnstap.pb.h"$' "$tmp/dnstap.pb.c" | cat -s > "$tmp/fresh-c"
status=0
for blk in h c; do
    if [ "$(grep -c ">>schema-$blk: \(BEGIN\|END\)" dnstap.h)" != 2 ]; then
        echo "regen: the schema-$blk markers are missing from dnstap.h" >&2; exit 1
    fi
    awk -v b="schema-$blk" '$0 ~ "^/\\* >>" b ": BEGIN" {f=1; next} $0 ~ "^/\\* >>" b ": END" {f=0} f' \
        dnstap.h > "$tmp/embedded-$blk"
    if [ "${1:-}" = "--check" ] && ! cmp -s "$tmp/fresh-$blk" "$tmp/embedded-$blk"; then
        echo "regen: block schema-$blk differs from nanopb_generator.py output (run make regen):" >&2
        diff -u "$tmp/embedded-$blk" "$tmp/fresh-$blk" | head -40 >&2
        status=1
    fi
done
if [ "${1:-}" = "--check" ]; then
    [ $status = 0 ] && echo "regen: embedded blocks match $(nanopb_generator.py --version 2>/dev/null | head -1)"
    exit $status
fi
awk -v dir="$tmp" '
    /^\/\* >>schema-[hc]: BEGIN/ {
        print; f = dir "/fresh-" substr($2, 10, 1)
        while ((getline l < f) > 0) print l
        skip = 1; next }
    /^\/\* >>schema-[hc]: END/ { skip = 0 }
    !skip' dnstap.h > "$tmp/dnstap.h"
# Unchanged: leave the file alone (content and timestamp), so make rebuilds nothing.
if cmp -s "$tmp/dnstap.h" dnstap.h; then
    echo "regen: dnstap.h unchanged (the embedded blocks match $(nanopb_generator.py --version 2>/dev/null | head -1))"
    exit 0
fi
cat "$tmp/dnstap.h" > dnstap.h
echo "regen: dnstap.h updated"
