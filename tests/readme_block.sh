#!/bin/sh
# The README's generated figures: the lines between
#     <!-- NAME: begin ... -->   and   <!-- NAME: end -->
# are what a command printed (FILE). `check` prints a PASS: or FAIL: line
# (with the difference) and fails when the README disagrees; `write`
# replaces the lines with FILE.
# Usage: tests/readme_block.sh check|write NAME FILE [README]
set -u
mode=$1 name=$2 file=$3 readme=${4:-README.md}
begin="<!-- $name: begin"
end="<!-- $name: end -->"
if ! grep -q "^$begin" "$readme" || ! grep -q "^$end" "$readme"; then
    echo "FAIL: README figures ($name): no '$begin ... -->' / '$end' lines in $readme"
    exit 1
fi
inside() { awk -v b="$begin" -v e="$end" 'index($0, e) == 1 { on = 0 } on { print } index($0, b) == 1 { on = 1 }' "$1"; }
case $mode in
    check)
        if inside "$readme" | cmp -s - "$file"; then
            echo "PASS: README figures ($name) are what the command prints"
        else
            echo "FAIL: README figures ($name) differ from what the command prints (tests/readme_block.sh write $name to update):"
            inside "$readme" | diff - "$file" | sed 's/^/    /' | head -n 20
            exit 1
        fi ;;
    write)
        tmp=$readme.tmp.$$
        awk -v b="$begin" -v e="$end" -v f="$file" '
            index($0, e) == 1 { on = 0 }
            !on { print }
            index($0, b) == 1 { on = 1; while ((getline l < f) > 0) print l }' "$readme" >"$tmp" && mv "$tmp" "$readme" ;;
    *) echo "usage: tests/readme_block.sh check|write NAME FILE [README]" >&2; exit 2 ;;
esac
