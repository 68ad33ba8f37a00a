#!/bin/sh
# The README's C samples compile, as C99 and as C++, with gcc/g++ and
# clang/clang++ at -Wall -Wextra -Werror -pedantic.
# A ```c block that defines a function is a translation unit of its own; the
# other blocks are fragments of one program, in README order: their `static`
# lines go to file scope, the rest into one function body (a fragment may use
# `m`, a message, as the README's text does; unused locals are allowed).
# Usage: tests/readme.sh BUILD_DIR
set -u
. "$(dirname "$0")/lib.sh"
need gcc g++ clang clang++
T=$build/readme
rm -rf "$T"; mkdir -p "$T"
awk -v dir="$T" '
    /^```c$/ { n++; f = sprintf("%s/block%02d.c", dir, n); inb = 1; next }
    /^```/ && inb { inb = 0; close(f); next }
    inb { print > f }' README.md
blocks=$(ls "$T"/block*.c 2>/dev/null)
[ -n "$blocks" ] || { fail "README samples" "no \`\`\`c block in README.md"; exit 1; }
units=""
frag=$T/fragments.c
{
    echo '#include "dnstap.h"'
    echo 'void readme_fragments(void);'
} >"$frag"
body=$T/body.c
: >"$body"
nfrag=0
for b in $blocks; do
    if grep -Eq '^[A-Za-z].*\) *\{ *$' "$b"; then
        units="$units $b"
    else
        nfrag=$((nfrag + 1))
        grep -E '^static ' "$b" >>"$frag"
        grep -Ev '^static ' "$b" >>"$body"
    fi
done
if [ $nfrag -gt 0 ]; then
    {
        echo 'void readme_fragments(void) {'
        echo '    dnstap_msg_t m = DNSTAP_ZERO;'
        cat "$body"
        echo '}'
    } >>"$frag"
    units="$units $frag"
fi
WARN="-Wall -Wextra -Werror -pedantic -Wno-unused-variable -Wno-unused-but-set-variable"
for u in $units; do
    name="README sample $(basename "$u" .c)"
    for cc in "gcc -x c -std=c99" "clang -x c -std=c99" "g++ -x c++ -std=c++11" "clang++ -x c++ -std=c++11"; do
        if $cc $WARN -DDNSTAP_WITH_MBEDTLS -I. -c "$u" -o "$T/out.o" >"$T/out.log" 2>&1; then
            pass "$name: $cc"
        else
            fail "$name: $cc" "$(grep -m 3 -E 'error|warning' "$T/out.log" | tr '\n' ' ')"
        fi
    done
done
info "README: $(echo $blocks | wc -w) C blocks: $(echo $units | wc -w) translation units ($nfrag fragments joined)"
exit $((fails > 0))
