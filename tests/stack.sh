#!/bin/sh
# Stack high-water marks of dnstap_log() and dnstap_poll(), two ways, and
# the limits they must stay under:
#   static   GCC's -fstack-usage -fcallgraph-info=su on one object holding
#            the implementation; tests/stack_graph.py sums the deepest chain
#            of frames from each entry point. Calls out of the unit count
#            as measured below (newlib-nano/libgcc on the M4, glibc on
#            x86-64); calls through the caller's callbacks (transport,
#            logger, extra_fn) count as 0: add your own callbacks' use.
#            Cortex-M4 -Os (the freestanding, encoder-only core) and
#            x86-64 gcc -O2 (the default POSIX build).
#   painted  tests/stack.c runs both functions through all their paths on
#            a thread whose stack is painted before each call (x86-64
#            gcc -O2, default build, trivial callbacks included). It must
#            agree with the static figure (within 256 bytes for the
#            callbacks), which checks the static analysis itself.
# Limits (bytes; 25 % above what was measured when they were set, with
# dnstap.h 0.1.0, arm-none-eabi-gcc 12.2.1 and gcc 12.2.0: Cortex-M4
# dnstap_log 572, dnstap_poll 840; x86-64 696 and 864, static and painted
# alike; dnstap_log on the Cortex-M4: the footprint goal, 256 on every
# path, extra_fn and not `full` included). Documented here and in the README:
STACK_LIMIT_M4_LOG=${STACK_LIMIT_M4_LOG:-256}
# dnstap_poll() on the Cortex-M4: the goal of 512 bytes, reached (432 with
# dnstap.h 0.1.0 and arm-none-eabi-gcc 12.2.1).
STACK_LIMIT_M4_POLL=${STACK_LIMIT_M4_POLL:-512}
# dnstap_log() on the Cortex-M4 with DNSTAP_SMALL_ENCODER=1: the small
# encoder's calls go deeper (332 when set, dnstap.h 0.1.0, gcc 12.2.1)
STACK_LIMIT_M4_SMALL_LOG=${STACK_LIMIT_M4_SMALL_LOG:-340}
STACK_LIMIT_X64_LOG=${STACK_LIMIT_X64_LOG:-870}
STACK_LIMIT_X64_POLL=${STACK_LIMIT_X64_POLL:-1080}
# The static figures and the limits are the README's "stack" block: a
# run fails when the README differs (readme: rewrite the block instead).
# Usage: tests/stack.sh BUILD_DIR [quick|full|readme]   (full: painted
# figures on more compilers and on i386 and s390x too, for information)
set -u
cd "$(dirname "$0")/.." || exit 2
B=${1:-build}
MODE=${2:-quick}
mkdir -p "$B/matrix/stack"
B=$(cd "$B" && pwd)
O=$B/matrix/stack
failed=0
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3

fail() { echo "FAIL: stack: $*"; failed=1; }

check() {   # what measured limit
    if [ -z "$2" ]; then fail "$1: not measured"; return; fi
    if [ "$2" -le "$3" ]; then echo "PASS: stack: $1: $2 bytes <= limit $3"
    else fail "$1: $2 bytes > limit $3"; fi
}

# Frames of the functions outside the unit that the two entry points reach,
# read off their disassembly: arm-none-eabi newlib-nano memcpy 0, memset 12,
# strlen 8, libgcc __aeabi_uldivmod 16 + __udivmoddi4 32; x86-64 glibc:
# leaf functions, 8 (their return address; x86 frames include it).
EXT_M4="memcpy=0,memset=12,strlen=8,__aeabi_uldivmod=48"
EXT_X64="memcpy=8,memset=8,strlen=8"

printf '#define DNSTAP_IMPLEMENTATION\n#include "dnstap.h"\n' >"$O/core.c"

static_figures() {   # tag compiler flags... ; sets LOG POLL
    tag=$1; shift
    ext=$1; shift
    ( cd "$O" && "$@" -fstack-usage -fcallgraph-info=su -c core.c -o "core-$tag.o" ) 2>"$O/$tag.err" || {
        fail "$tag: build: $(head -n 5 "$O/$tag.err")"; LOG=''; POLL=''; return; }
    $PY tests/stack_graph.py "$O/core-$tag.ci" dnstap_log dnstap_poll --external="$ext" >"$O/$tag.txt"
    rc=$?
    sed "s/^/  $tag: /" "$O/$tag.txt"
    [ $rc = 0 ] || fail "$tag: call graph: $(grep problem "$O/$tag.txt" | head -n 3)"
    LOG=$(awk '$1 == "dnstap_log" {print $2}' "$O/$tag.txt")
    POLL=$(awk '$1 == "dnstap_poll" {print $2}' "$O/$tag.txt")
}

ROOT=$(pwd)
# Cortex-M4: the freestanding encoder-only core
if tests/matrix_deps.sh "$B" m4 m4-include >"$O/deps.log" 2>&1; then
    static_figures m4 "$EXT_M4" arm-none-eabi-gcc -std=c99 -mcpu=cortex-m4 -mthumb -Os -ffunction-sections \
        -fdata-sections -DDNSTAP_FREESTANDING -DDNSTAP_NO_DECODE -DDNSTAP_NO_NANOPB_ENCODE \
        -I"$ROOT" -isystem "$B/matrix/third_party/m4-include"
    check "dnstap_log, Cortex-M4 -Os, static" "$LOG" "$STACK_LIMIT_M4_LOG"
    check "dnstap_poll, Cortex-M4 -Os, static" "$POLL" "$STACK_LIMIT_M4_POLL"
    M4LOG=$LOG M4POLL=$POLL
    static_figures m4-small "$EXT_M4" arm-none-eabi-gcc -std=c99 -mcpu=cortex-m4 -mthumb -Os -ffunction-sections \
        -fdata-sections -DDNSTAP_FREESTANDING -DDNSTAP_NO_DECODE -DDNSTAP_NO_NANOPB_ENCODE -DDNSTAP_SMALL_ENCODER=1 \
        -I"$ROOT" -isystem "$B/matrix/third_party/m4-include"
    check "dnstap_log, Cortex-M4 -Os, DNSTAP_SMALL_ENCODER=1, static" "$LOG" "$STACK_LIMIT_M4_SMALL_LOG"
    check "dnstap_poll, Cortex-M4 -Os, DNSTAP_SMALL_ENCODER=1, static" "$POLL" "$STACK_LIMIT_M4_POLL"
    M4SLOG=$LOG M4SPOLL=$POLL
else
    fail "Cortex-M4 toolchain: $(tail -n 2 "$O/deps.log")"
fi

# x86-64 gcc -O2, default (POSIX) build
static_figures x64 "$EXT_X64" gcc -std=c99 -O2 -I"$ROOT"
SLOG=$LOG SPOLL=$POLL
check "dnstap_log, x86-64 gcc -O2, static" "$SLOG" "$STACK_LIMIT_X64_LOG"
check "dnstap_poll, x86-64 gcc -O2, static" "$SPOLL" "$STACK_LIMIT_X64_POLL"

painted() {   # tag "libraries" compiler flags... ; sets LOG POLL
    tag=$1; libs=$2; shift 2
    LOG=''; POLL=''
    "$@" -I. tests/stack.c -o "$O/stack-$tag" $libs -pthread -Wl,-z,now 2>"$O/stack-$tag.err" || {
        fail "painted $tag: build: $(head -n 5 "$O/stack-$tag.err")"; return; }
    run=
    case $tag in s390x*) run=qemu-s390x ;; esac
    $run "$O/stack-$tag" >"$O/stack-$tag.txt" 2>&1 || {
        fail "painted $tag: $(tail -n 2 "$O/stack-$tag.txt")"; return; }
    LOG=$(awk '$2 == "dnstap_log" {print $3}' "$O/stack-$tag.txt")
    POLL=$(awk '$2 == "dnstap_poll" {print $3}' "$O/stack-$tag.txt")
    echo "  painted $tag: dnstap_log $LOG, dnstap_poll $POLL ($(awk '/calls measured/ {sub(/^stack: calls measured: /, ""); print}' "$O/stack-$tag.txt"))"
}

W="-std=c99 -Wall -Wextra -Werror -pedantic -O2"
painted x64 -lprotobuf-nanopb gcc $W
check "dnstap_log, x86-64 gcc -O2, painted" "$LOG" "$STACK_LIMIT_X64_LOG"
check "dnstap_poll, x86-64 gcc -O2, painted" "$POLL" "$STACK_LIMIT_X64_POLL"
if [ -n "$LOG" ] && [ -n "$SLOG" ]; then
    if [ "$LOG" -le $((SLOG + 256)) ] && [ "$POLL" -le $((SPOLL + 256)) ]; then
        echo "PASS: stack: painted x86-64 figures ($LOG, $POLL) within the static ones ($SLOG, $SPOLL) + 256 for the test's callbacks"
    else
        fail "painted x86-64 figures ($LOG, $POLL) exceed the static ones ($SLOG, $SPOLL) + 256: the static analysis misses something"
    fi
fi

# the README's block: static figures (the painted ones depend on the C
# library's internals, and only check the static analysis)
if [ -n "${M4LOG:-}" ] && [ -n "$SLOG" ]; then
    {
        echo "| stack, bytes | Cortex-M4, arm-none-eabi-gcc $(arm-none-eabi-gcc -dumpversion) -Os, freestanding, encoder only | x86-64, gcc $(gcc -dumpversion) -O2 | limits (M4 / x86-64) |"
        echo "|---|---:|---:|---:|"
        echo "| \`dnstap_log()\` | $M4LOG | $SLOG | $STACK_LIMIT_M4_LOG / $STACK_LIMIT_X64_LOG |"
        echo "| \`dnstap_poll()\` | $M4POLL | $SPOLL | $STACK_LIMIT_M4_POLL / $STACK_LIMIT_X64_POLL |"
        echo "| \`dnstap_log()\`, \`DNSTAP_SMALL_ENCODER=1\` | $M4SLOG | | $STACK_LIMIT_M4_SMALL_LOG |"
        echo "| \`dnstap_poll()\`, \`DNSTAP_SMALL_ENCODER=1\` | $M4SPOLL | | $STACK_LIMIT_M4_POLL |"
    } >"$O/readme.md"
    if [ "$MODE" = readme ]; then tests/readme_block.sh write stack "$O/readme.md"
    else tests/readme_block.sh check stack "$O/readme.md" || failed=1; fi
fi

if [ "$MODE" = full ]; then
    T=$B/matrix/third_party
    painted x64-clang -lprotobuf-nanopb clang $W
    painted x64-freestanding "" gcc $W -DDNSTAP_FREESTANDING -DDNSTAP_NO_DECODE -DDNSTAP_NO_NANOPB_ENCODE
    if tests/matrix_deps.sh "$B" m32 i386-nanopb >"$O/deps32.log" 2>&1; then
        painted i386 "$T/sysroot-i386/usr/lib/i386-linux-gnu/libprotobuf-nanopb.a" \
            gcc -m32 $W -isystem "$T/sysroot-i386/usr/include" -idirafter "$T/m32-include"
    else
        fail "i386: $(tail -n 2 "$O/deps32.log")"
    fi
    if tests/matrix_deps.sh "$B" s390x s390x-nanopb >"$O/deps390.log" 2>&1; then
        painted s390x "$T/sysroot-s390x/usr/lib/s390x-linux-gnu/libprotobuf-nanopb.a" \
            clang --target=s390x-linux-gnu -static $W -isystem "$T/sysroot-s390x/usr/include"
    else
        fail "s390x: $(tail -n 2 "$O/deps390.log")"
    fi
fi
exit $failed
