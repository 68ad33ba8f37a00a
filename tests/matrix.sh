#!/bin/sh
# The build matrix: dnstap.h's tests built and run in every configuration
# we claim to support, plus the machines firmware ships on.
#   host      gcc and clang x -O0/-O2/-Os x C99 and C++11: test_unit and
#             test_tap built with -Werror and run (in parallel, one job per
#             core)
#   valgrind  memcheck, no errors and no leaks: test_unit, and test_tap (the
#             slow one, about 2 minutes, runs in the background meanwhile)
#   m32       gcc -m32 (i386): test_unit and test_tap against Debian's
#             i386 libprotobuf-nanopb.a
#   s390x     big-endian: test_unit (the encode/decode round trips, the
#             shared test data) built with clang --target=s390x-linux-gnu
#             -static (Debian's cross sysroot; no cross gcc, which would
#             conflict with gcc-multilib) and
#             run under qemu-s390x; examples/baremetal.c built the same way
#             must emit exactly the bytes it emits on this machine
#   m4        Cortex-M4 (arm-none-eabi-gcc -Os): the freestanding core and
#             examples/baremetal.c in each configuration, sizes as a
#             markdown table (tests/size.sh), text limit checked
#   baremetal examples/baremetal.c on the host: its UART byte stream is a
#             valid Frame Streams stream for our reader and decoder
#             (tests/matrix_check.c), fstrm_dump and golang-dnstap
#   stack     dnstap_log()/dnstap_poll() stack high-water marks, static and
#             painted, against their limits (tests/stack.sh)
# `full` adds: valgrind on more builds, gcc ASan+UBSan, clang -m32 and
# more -m32/s390x optimisation levels, test_tap on i386 and under
# qemu-s390x, every baremetal configuration with both compilers and on
# i386 and s390x, painted stack figures on more targets.
# Prints "PASS: matrix: ..." / "FAIL: matrix: ..." lines (and the size
# table); exits non-zero if anything failed. Missing Debian packages are
# installed by tests/matrix_deps.sh (as root), third-party files fetched
# into BUILD_DIR/matrix/third_party.
# Usage: tests/matrix.sh BUILD_DIR [quick|full]
#   environment: TESTDATA (tests/testdata), MATRIX_JOBS (nproc)
set -u
cd "$(dirname "$0")/.." || exit 2

WARN_C="-std=c99 -Wall -Wextra -Werror -pedantic -Wconversion -Wsign-conversion -Wshadow -Wcast-qual \
-Wstrict-prototypes -Wmissing-prototypes"
WARN_CXX="-x c++ -std=c++11 -Wall -Wextra -Werror -pedantic"

# ---- one host configuration (run by xargs, in parallel) ----------------
# --host-job BUILD TESTDATA CC LANG OPT TEST
if [ "${1:-}" = --host-job ]; then
    B=$2 TESTDATA=$3 cc=$4 lang=$5 opt=$6 t=$7
    name="$cc $lang -$opt"
    out=$B/matrix/host/$cc-$lang-$opt-$t
    case $lang in
        c99) comp=$cc; flags=$WARN_C ;;
        c++) comp=$cc++; [ "$cc" = gcc ] && comp=g++; flags=$WARN_CXX ;;
    esac
    args=
    [ "$t" = test_unit ] && args=$TESTDATA
    if ! $comp $flags -g "-$opt" -I. "tests/$t.c" -o "$out" -lprotobuf-nanopb -pthread >"$out.build" 2>&1; then
        echo "FAIL: matrix: $name: $t does not build: $(head -n 3 "$out.build" | tr '\n' ' ')" >"$out.result"
        exit 0
    fi
    timeout 300 "$out" $args >"$out.log" 2>&1
    rc=$?
    p=$(grep -c '^PASS:' "$out.log")
    if [ $rc = 0 ] && ! grep -q '^FAIL:' "$out.log"; then
        echo "PASS: matrix: $name: $t ($p passed)" >"$out.result"
    else
        echo "FAIL: matrix: $name: $t: exit $rc: $(grep '^FAIL:' "$out.log" | head -n 3 | tr '\n' ' ')" >"$out.result"
    fi
    exit 0
fi

B=${1:-build}
MODE=${2:-quick}
case $MODE in quick|full) ;; *) echo "usage: tests/matrix.sh BUILD_DIR [quick|full]" >&2; exit 2 ;; esac
mkdir -p "$B/matrix/host"
B=$(cd "$B" && pwd)
M=$B/matrix
T=$M/third_party
TESTDATA=$(cd "${TESTDATA:-tests/testdata}" 2>/dev/null && pwd) || TESTDATA=${TESTDATA:-tests/testdata}
JOBS=${MATRIX_JOBS:-$(nproc 2>/dev/null || echo 2)}
failed=0
passed=0
start=$(date +%s)

say() {   # a result line; counts it
    echo "$1"
    case $1 in PASS:*) passed=$((passed + 1)) ;; FAIL:*) failed=$((failed + 1)) ;; esac
}
pass() { say "PASS: matrix: $*"; }
fail() { say "FAIL: matrix: $*"; }
elapsed() { echo "$(( $(date +%s) - start ))s"; }

# Run a test program (maybe under an emulator or valgrind): PASS/FAIL line.
run_test() {   # name timeout log command...
    name=$1 to=$2 log=$3
    shift 3
    timeout "$to" "$@" >"$log" 2>&1
    rc=$?
    p=$(grep -c '^PASS:' "$log")
    if [ $rc = 0 ] && ! grep -q '^FAIL:' "$log"; then
        pass "$name ($p passed)"
    elif [ $rc = 124 ]; then
        fail "$name: timed out after ${to}s"
    else
        fail "$name: exit $rc: $(grep '^FAIL:\|^==[0-9]*==' "$log" | head -n 4 | tr '\n' ' ')"
    fi
}

deps() {   # step groups...: install/fetch, FAIL line on error
    step=$1; shift
    if tests/matrix_deps.sh "$B" "$@" >"$M/deps-$step.log" 2>&1; then
        cat "$M/deps-$step.log"
        return 0
    fi
    fail "$step: dependencies: $(tail -n 3 "$M/deps-$step.log" | tr '\n' ' ')"
    return 1
}

echo "matrix: $MODE mode, $JOBS jobs, build directory $M"
deps host host tools || exit 1

# ---- valgrind (test_tap in the background: it takes minutes) ----------
# --fair-sched=yes: valgrind runs one thread at a time, and by default a
# thread spinning on sched_yield() can keep the lock; test_tap's producers
# wait for the polling thread that way (20+ minutes instead of seconds).
VG="valgrind -q --fair-sched=yes --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=all"
mkdir -p "$M/valgrind"
vg_bg=
if gcc $WARN_C -g -O2 -I. tests/test_unit.c -o "$M/valgrind/test_unit" -lprotobuf-nanopb >"$M/valgrind/build.log" 2>&1 &&
   gcc $WARN_C -g -O2 -I. tests/test_tap.c -o "$M/valgrind/test_tap" -lprotobuf-nanopb -pthread >>"$M/valgrind/build.log" 2>&1; then
    ( run_test "valgrind: test_tap (gcc -O2 -g)" 1500 "$M/valgrind/test_tap.log" $VG "$M/valgrind/test_tap" \
        >"$M/valgrind/test_tap.result" ) &
    vg_bg=$!
else
    fail "valgrind: builds: $(head -n 3 "$M/valgrind/build.log" | tr '\n' ' ')"
fi

# ---- host: compilers x optimisation x language ------------------------
rm -f "$M"/host/*.result
for cc in gcc clang; do for lang in c99 c++; do for opt in O0 O2 Os; do for t in test_unit test_tap; do
    echo "$cc $lang $opt $t"
done; done; done; done | xargs -P "$JOBS" -L 1 sh tests/matrix.sh --host-job "$B" "$TESTDATA"
for cc in gcc clang; do for lang in c99 c++; do for opt in O0 O2 Os; do for t in test_unit test_tap; do
    r=$M/host/$cc-$lang-$opt-$t.result
    if [ -f "$r" ]; then say "$(cat "$r")"; else fail "$cc $lang -$opt: $t: no result"; fi
done; done; done; done
echo "matrix: host builds done at $(elapsed)"

[ -x "$M/valgrind/test_unit" ] &&
    run_test "valgrind: test_unit (gcc -O2 -g)" 900 "$M/valgrind/test_unit.log" $VG "$M/valgrind/test_unit" "$TESTDATA"
if [ "$MODE" = full ]; then
    for cfg in "gcc -O0" "gcc -Os" "clang -O2"; do
        set -- $cfg
        tag=$1$2
        if $1 $WARN_C -g "$2" -I. tests/test_unit.c -o "$M/valgrind/test_unit-$tag" -lprotobuf-nanopb >"$M/valgrind/$tag.build" 2>&1; then
            run_test "valgrind: test_unit ($cfg -g)" 900 "$M/valgrind/test_unit-$tag.log" $VG "$M/valgrind/test_unit-$tag" "$TESTDATA"
        else
            fail "valgrind: test_unit ($cfg) does not build"
        fi
    done
    if clang $WARN_C -g -O2 -I. tests/test_tap.c -o "$M/valgrind/test_tap-clang" -lprotobuf-nanopb -pthread >"$M/valgrind/clang-tap.build" 2>&1; then
        run_test "valgrind: test_tap (clang -O2 -g)" 1500 "$M/valgrind/test_tap-clang.log" $VG "$M/valgrind/test_tap-clang"
    else
        fail "valgrind: test_tap (clang -O2) does not build"
    fi
    # gcc's sanitizers (make test runs clang's)
    for t in test_unit test_tap; do
        args=
        [ $t = test_unit ] && args=$TESTDATA
        if gcc $WARN_C -g -O2 -fsanitize=address,undefined -fno-sanitize-recover=all -I. tests/$t.c \
               -o "$M/host/$t-gcc-asan" -lprotobuf-nanopb -pthread >"$M/host/$t-gcc-asan.build" 2>&1; then
            run_test "gcc -O2 ASan+UBSan+LSan: $t" 600 "$M/host/$t-gcc-asan.log" "$M/host/$t-gcc-asan" $args
        else
            fail "gcc -O2 ASan+UBSan: $t does not build"
        fi
    done
fi

# ---- -m32 -------------------------------------------------------------
if deps m32 m32 i386-nanopb; then
    mkdir -p "$M/m32"
    I32="-isystem $T/sysroot-i386/usr/include -idirafter $T/m32-include"
    L32=$T/sysroot-i386/usr/lib/i386-linux-gnu/libprotobuf-nanopb.a
    cfgs="gcc:O2"
    [ "$MODE" = full ] && cfgs="gcc:O2 gcc:O0 gcc:Os clang:O2 clang:Os"
    for cfg in $cfgs; do
        cc=${cfg%%:*} opt=${cfg#*:}
        tests="test_unit test_tap"
        for t in $tests; do
            args=
            [ $t = test_unit ] && args=$TESTDATA
            exe=$M/m32/$t-$cc-$opt
            if $cc -m32 $WARN_C -g "-$opt" -I. $I32 tests/$t.c -o "$exe" "$L32" -pthread >"$exe.build" 2>&1; then
                run_test "$cc -m32 -$opt (i386): $t" 600 "$exe.log" "$exe" $args
            else
                fail "$cc -m32 -$opt: $t does not build: $(head -n 3 "$exe.build" | tr '\n' ' ')"
            fi
        done
    done
fi

# ---- baremetal on the host, and its stream ----------------------------
mkdir -p "$M/baremetal"
BM_QUERIES=500
bm_build() {   # exe compiler defines... (host build; extra libs if nanopb is used)
    exe=$1; shift
    comp=$1; shift
    $comp $WARN_C -O2 -DDNSTAP_FREESTANDING "$@" -I. examples/baremetal.c -o "$exe" $BM_LIBS >"$exe.build" 2>&1
}
bm_sent() { sed -n 's/.* sent=\([0-9]*\) .*/\1/p' "$1"; }
CHECK=$M/baremetal/matrix_check
if gcc $WARN_C -O2 -I. tests/matrix_check.c -o "$CHECK" -lprotobuf-nanopb >"$CHECK.build" 2>&1; then :; else
    fail "baremetal: tests/matrix_check.c does not build: $(head -n 3 "$CHECK.build" | tr '\n' ' ')"
fi
REF=$M/baremetal/reference.fstrm
rm -f "$REF"    # the first build of this run makes it, after validating it
bm_configs="enc"
bm_compilers="gcc"
[ "$MODE" = full ] && bm_configs="enc dec pbenc all" && bm_compilers="gcc clang"
for c in $bm_configs; do
    case $c in
        enc) defs="-DDNSTAP_NO_DECODE -DDNSTAP_NO_NANOPB_ENCODE"; BM_LIBS= ;;
        dec) defs="-DDNSTAP_NO_NANOPB_ENCODE"; BM_LIBS=-lprotobuf-nanopb ;;
        pbenc) defs="-DDNSTAP_NO_DECODE"; BM_LIBS=-lprotobuf-nanopb ;;
        all) defs=""; BM_LIBS=-lprotobuf-nanopb ;;
    esac
    for cc in $bm_compilers; do
        exe=$M/baremetal/baremetal-$cc-$c
        name="baremetal ($cc, $c)"
        if ! bm_build "$exe" $cc $defs; then
            fail "$name does not build: $(head -n 3 "$exe.build" | tr '\n' ' ')"; continue
        fi
        if ! timeout 120 "$exe" "$exe.fstrm" $BM_QUERIES 2>"$exe.stats"; then
            fail "$name: run: $(cat "$exe.stats")"; continue
        fi
        sent=$(bm_sent "$exe.stats")
        if [ ! -f "$REF" ]; then
            cp "$exe.fstrm" "$REF"
            cp "$exe.stats" "$REF.stats"
            echo "  $(cat "$exe.stats")"
            "$CHECK" "$REF" "$sent" >"$REF.check" 2>&1
            rc=$?
            while IFS= read -r line; do
                case $line in
                    PASS:*) say "PASS: matrix: ${line#PASS: }" ;;
                    FAIL:*) say "FAIL: matrix: ${line#FAIL: }" ;;
                esac
            done <"$REF.check"
            [ $rc = 0 ] || grep -q '^FAIL:' "$REF.check" || fail "baremetal stream: matrix_check exit $rc"
            if command -v fstrm_dump >/dev/null 2>&1; then
                n=$(fstrm_dump "$REF" 2>&1 | grep -c '^Data frame')
                if [ "$n" = "$sent" ]; then pass "baremetal stream: fstrm_dump reads $n data frames"
                else fail "baremetal stream: fstrm_dump reads $n data frames, $sent sent"; fi
            fi
            if command -v dnstap >/dev/null 2>&1; then
                n=$(dnstap -r "$REF" -q 2>/dev/null | wc -l)
                if [ "$n" = "$sent" ]; then pass "baremetal stream: golang-dnstap reads $n messages"
                else fail "baremetal stream: golang-dnstap reads $n messages, $sent sent"; fi
            fi
        elif cmp -s "$exe.fstrm" "$REF"; then
            pass "$name: the same $(wc -c <"$REF") bytes"
        else
            fail "$name: its stream differs from the reference's"
        fi
    done
done

# A UART that stalls across the shutdown (flow control, 13 s): the stream
# still ends with STOP and the run succeeds; one that never comes back fails
# the run (a timeout used to cut the last frame, leave no STOP and report
# success).
exe=$M/baremetal/baremetal-gcc-enc
if [ -x "$exe" ]; then
    if timeout 120 "$exe" "$exe.stall.fstrm" $BM_QUERIES 17000 30000 2>"$exe.stall.stats" &&
            [ "$(tail -c 8 "$exe.stall.fstrm" | od -An -tx1 | tr -d ' \n')" = 0000000400000003 ] &&
            "$CHECK" "$exe.stall.fstrm" "$(bm_sent "$exe.stall.stats")" >"$exe.stall.check" 2>&1; then
        pass "baremetal: a UART stalled 17..30 s, across the shutdown: ends with STOP, $(bm_sent "$exe.stall.stats") frames whole"
    else
        fail "baremetal: a UART stalled across the shutdown" "$(cat "$exe.stall.stats") $(grep FAIL "$exe.stall.check" | head -n 2)"
    fi
    if timeout 120 "$exe" "$exe.dead.fstrm" $BM_QUERIES 17000 99999999 2>"$exe.dead.stats"; then
        fail "baremetal: a UART that never comes back" "the run reported success: $(cat "$exe.dead.stats")"
    else
        pass "baremetal: a UART that never comes back: the run fails ($(cat "$exe.dead.stats"))"
    fi
fi

# ---- big-endian s390x under qemu-user ---------------------------------
if deps s390x s390x s390x-nanopb; then
    mkdir -p "$M/s390x"
    S390X_CC="clang --target=s390x-linux-gnu"
    I390="-isystem $T/sysroot-s390x/usr/include"
    L390=$T/sysroot-s390x/usr/lib/s390x-linux-gnu/libprotobuf-nanopb.a
    opts="O2"
    [ "$MODE" = full ] && opts="O2 O0 Os"
    for opt in $opts; do
        tests="test_unit"
        [ "$MODE" = full ] && [ $opt = O2 ] && tests="test_unit test_tap"
        for t in $tests; do
            args=
            [ $t = test_unit ] && args=$TESTDATA
            exe=$M/s390x/$t-$opt
            if $S390X_CC -static $WARN_C "-$opt" -I. $I390 tests/$t.c -o "$exe" "$L390" -pthread >"$exe.build" 2>&1; then
                run_test "s390x (big-endian, qemu-user) clang -$opt: $t" 900 "$exe.log" qemu-s390x "$exe" $args
            else
                fail "s390x clang -$opt: $t does not build: $(head -n 3 "$exe.build" | tr '\n' ' ')"
            fi
        done
    done
    # the table-driven encoder reads values by their width: big-endian too
    exe=$M/s390x/test_unit-small
    if $S390X_CC -static $WARN_C -O2 -DDNSTAP_SMALL_ENCODER=1 -I. $I390 tests/test_unit.c -o "$exe" "$L390" >"$exe.build" 2>&1; then
        run_test "s390x (big-endian, qemu-user) clang -O2 DNSTAP_SMALL_ENCODER=1: test_unit" 900 "$exe.log" qemu-s390x "$exe" $TESTDATA
    else
        fail "s390x clang -O2 DNSTAP_SMALL_ENCODER=1: test_unit does not build: $(head -n 3 "$exe.build" | tr '\n' ' ')"
    fi
    # the same firmware logic, big-endian: byte-identical output
    for c in $bm_configs; do
        case $c in
            enc) defs="-DDNSTAP_NO_DECODE -DDNSTAP_NO_NANOPB_ENCODE"; BM_LIBS= ;;
            dec) defs="-DDNSTAP_NO_NANOPB_ENCODE"; BM_LIBS=$L390 ;;
            pbenc) defs="-DDNSTAP_NO_DECODE"; BM_LIBS=$L390 ;;
            all) defs=""; BM_LIBS=$L390 ;;
        esac
        exe=$M/s390x/baremetal-$c
        if ! bm_build "$exe" "$S390X_CC -static" $defs $I390; then
            fail "s390x: baremetal ($c) does not build: $(head -n 3 "$exe.build" | tr '\n' ' ')"
        elif ! timeout 300 qemu-s390x "$exe" "$exe.fstrm" $BM_QUERIES 2>"$exe.stats"; then
            fail "s390x: baremetal ($c): run: $(cat "$exe.stats")"
        elif [ -f "$REF" ] && cmp -s "$exe.fstrm" "$REF"; then
            pass "s390x (big-endian): baremetal ($c) emits the same $(wc -c <"$REF") bytes as on this machine"
        else
            fail "s390x (big-endian): baremetal ($c) emits a different stream"
        fi
    done
fi
if [ "$MODE" = full ] && [ -e "$T/m32-include/asm" ]; then
        for c in enc all; do
            case $c in
                enc) defs="-DDNSTAP_NO_DECODE -DDNSTAP_NO_NANOPB_ENCODE"; BM_LIBS= ;;
                all) defs=""; BM_LIBS=$T/sysroot-i386/usr/lib/i386-linux-gnu/libprotobuf-nanopb.a ;;
            esac
            exe=$M/m32/baremetal-$c
            if ! bm_build "$exe" "gcc -m32" $defs -isystem "$T/sysroot-i386/usr/include" -idirafter "$T/m32-include"; then
                fail "-m32: baremetal ($c) does not build: $(head -n 3 "$exe.build" | tr '\n' ' ')"
            elif ! timeout 120 "$exe" "$exe.fstrm" $BM_QUERIES 2>"$exe.stats"; then
                fail "-m32: baremetal ($c): run: $(cat "$exe.stats")"
            elif [ -f "$REF" ] && cmp -s "$exe.fstrm" "$REF"; then
                pass "-m32 (i386): baremetal ($c) emits the same $(wc -c <"$REF") bytes"
            else
                fail "-m32 (i386): baremetal ($c) emits a different stream"
            fi
        done
fi

# ---- Cortex-M4: sizes, text limit -------------------------------------
echo
tests/size.sh "$B" --check >"$M/size.out" 2>&1
rc=$?
while IFS= read -r line; do
    case $line in
        PASS:*|FAIL:*) say "$line" ;;
        *) echo "$line" ;;
    esac
done <"$M/size.out"
[ $rc = 0 ] || grep -q '^FAIL:' "$M/size.out" || fail "size: tests/size.sh exit $rc"
echo

# ---- stack limits -----------------------------------------------------
tests/stack.sh "$B" "$MODE" >"$M/stack.out" 2>&1
rc=$?
while IFS= read -r line; do
    case $line in
        PASS:*|FAIL:*) say "$line" ;;
        *) echo "$line" ;;
    esac
done <"$M/stack.out"
[ $rc = 0 ] || grep -q '^FAIL:' "$M/stack.out" || fail "stack: tests/stack.sh exit $rc"

# ---- the background valgrind run --------------------------------------
if [ -n "$vg_bg" ]; then
    wait "$vg_bg"
    if [ -s "$M/valgrind/test_tap.result" ]; then say "$(cat "$M/valgrind/test_tap.result")"
    else fail "valgrind: test_tap: no result"; fi
fi

echo
echo "matrix: $MODE: $passed passed, $failed failed in $(elapsed)"
[ "$failed" = 0 ]
