#!/bin/sh
# Stripped sizes of the example programs (x86-64, gcc -Os -ffunction-sections
# -fdata-sections -Wl,--gc-sections, strip): prints the README's "examples"
# block. --check: fail when the README's block differs from what this
# prints; --readme: rewrite that block.
# Usage: tests/example_sizes.sh BUILD_DIR [--check|--readme]
set -u
[ $# -ge 1 ] || { echo "usage: tests/example_sizes.sh BUILD_DIR [--check|--readme]" >&2; exit 2; }
B=$1 MODE=${2:-}
cd "$(dirname "$0")/.." || exit 2
O=$B/example_sizes
mkdir -p "$O" || exit 2
OPT="-std=c99 -Os -ffunction-sections -fdata-sections -Wl,--gc-sections -s -I."
TLS="-DDNSTAP_WITH_MBEDTLS"
TLS_LIBS="-lmbedtls -lmbedx509 -lmbedcrypto"
# "file|build|defines|libraries"
PROGRAMS="forwarder.c|with TLS|$TLS|$TLS_LIBS
capture.c|with TLS|$TLS|-lprotobuf-nanopb $TLS_LIBS
dtap.c|without TLS||-lprotobuf-nanopb -pthread
dtap.c|with TLS|$TLS|-lprotobuf-nanopb $TLS_LIBS -pthread
reader.c|||-lprotobuf-nanopb
sample_file.c|||-lprotobuf-nanopb"
failed=0
{
    echo "Stripped sizes of the examples: x86-64, $(gcc --version | head -n 1 | sed 's/ (.*)//'), \`-Os -ffunction-sections -fdata-sections -Wl,--gc-sections -s\`; printed by \`tests/example_sizes.sh\`, checked in \`make test\`."
    echo
    echo "| file | build | bytes |"
    echo "|---|---|---:|"
    i=0
    echo "$PROGRAMS" | while IFS='|' read -r file build defs libs; do
        i=$((i + 1))
        # shellcheck disable=SC2086 # word splitting of the flag lists is wanted
        if gcc $OPT $defs "examples/$file" -o "$O/prog$i" $libs 2>"$O/prog$i.err"; then
            printf '| `%s` | %s | %s |\n' "$file" "${build:-}" "$(wc -c <"$O/prog$i" | awk '{ s = $1 ""; r = ""; while (length(s) > 3) { r = "," substr(s, length(s) - 2) r; s = substr(s, 1, length(s) - 3) } print s r }')"
        else
            echo "FAIL: example sizes: examples/$file ($build) did not build: $(head -n 3 "$O/prog$i.err" | tr '\n' ' ')" >&2
            exit 1
        fi
    done
} >"$O/readme.md" || failed=1
[ $failed = 0 ] || exit 1
case $MODE in
    --check) tests/readme_block.sh check examples "$O/readme.md" ;;
    --readme) tests/readme_block.sh write examples "$O/readme.md" ;;
    *) cat "$O/readme.md" ;;
esac
