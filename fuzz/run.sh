#!/bin/sh
# fuzz/run.sh BUILD_DIR SECONDS
#
# Builds every fuzz target twice:
#   BUILD_DIR/fuzz_X            ${CC:-cc} -fsanitize=address,undefined + fuzz/fuzz_main.c
#                               (standalone driver: corpus replay and a random mutator)
#   BUILD_DIR/fuzz_X.libfuzzer  clang -fsanitize=fuzzer,address,undefined, when libFuzzer links
# each with nanopb's runtime (pb_encode.c, pb_decode.c, pb_common.c) built from
# the sources of the installed version (Debian's source package, fetched into
# BUILD_DIR/matrix/third_party/nanopb-src by tests/matrix_deps.sh) with the
# same sanitizers and, for libFuzzer, coverage: the search reaches into nanopb.
# then replays fuzz/corpus/fuzz_X/ through the standalone build (the crash-*
# files too, each on its own: they are regression inputs for bugs found by
# fuzzing, and fail until the bug is fixed) and, if SECONDS > 0, fuzzes each target
# for SECONDS (libFuzzer if available, else the standalone mutator), starting
# from a copy of the corpus in BUILD_DIR/work/fuzz_X (crash-* left out).
#
# Prints "PASS: fuzz_X (N executions)" or "FAIL: fuzz_X: why" per target and
# exits non-zero on any failure. Logs: BUILD_DIR/logs/. Crashing inputs found
# while fuzzing: BUILD_DIR/artifacts/.
#
# Environment: CC (standalone compiler, default cc), CLANG (libFuzzer
# compiler, default clang), FUZZ_TARGETS (default: all six),
# FUZZ_NO_LIBFUZZER=1 (use the standalone mutator even if libFuzzer links).
set -u

if [ $# -ne 2 ]; then
    echo "usage: $0 BUILD_DIR SECONDS" >&2
    exit 2
fi
case "$2" in
    ''|*[!0-9]*) echo "$0: SECONDS must be a non-negative integer" >&2; exit 2 ;;
esac
mkdir -p "$1" || exit 2
BUILD=$(cd "$1" && pwd) || exit 2
SECS=$2
cd "$(dirname "$0")/.." || exit 2   # the project root, for -I. and the paths below

CC=${CC:-cc}
CLANG=${CLANG:-clang}
TARGETS=${FUZZ_TARGETS:-"fuzz_reader fuzz_decode fuzz_encode fuzz_conn fuzz_capture fuzz_print"}
FLAGS="-std=c99 -Wall -Wextra -Werror -pedantic -g -O1 -I."
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all"
mkdir -p "$BUILD/logs" "$BUILD/artifacts" "$BUILD/work" || exit 2

# Is libFuzzer available?
LIBFUZZER=0
if [ "${FUZZ_NO_LIBFUZZER:-0}" != 1 ]; then
    printf '%s\n' '#include <stdint.h>' '#include <stddef.h>' \
        'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);' \
        'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }' \
        > "$BUILD/work/probe.c"
    if $CLANG -fsanitize=fuzzer,address,undefined "$BUILD/work/probe.c" -o "$BUILD/work/probe" \
        > "$BUILD/logs/probe.log" 2>&1; then
        LIBFUZZER=1
    fi
fi
if [ $LIBFUZZER = 1 ]; then
    echo "run.sh: libFuzzer available ($CLANG)"
else
    echo "run.sh: libFuzzer not available; using the standalone mutator"
fi

# nanopb's runtime, instrumented like the targets (its own code is not
# -Werror clean under our warning set, so it gets only the language level)
PB_SRC=$BUILD/matrix/third_party/nanopb-src
if ! tests/matrix_deps.sh "$BUILD" nanopb-src > "$BUILD/logs/nanopb-src.log" 2>&1; then
    echo "FAIL: fuzz: nanopb sources not available ($(tail -n 1 "$BUILD/logs/nanopb-src.log"))"
    exit 1
fi
pb_build() {   # DIR COMPILER FLAGS...: DIR/pb_*.o
    dir=$1 comp=$2
    shift 2
    mkdir -p "$dir"
    for c in pb_common pb_encode pb_decode; do
        $comp -std=c99 -g -O1 -I"$PB_SRC" "$@" -c "$PB_SRC/$c.c" -o "$dir/$c.o" >> "$BUILD/logs/nanopb-build.log" 2>&1 ||
            return 1
    done
}
: > "$BUILD/logs/nanopb-build.log"
# shellcheck disable=SC2086
if ! pb_build "$BUILD/nanopb-san" "$CC" $SAN; then
    echo "FAIL: fuzz: nanopb runtime does not build with $CC (see $BUILD/logs/nanopb-build.log)"
    exit 1
fi
LIBS="$BUILD/nanopb-san/pb_common.o $BUILD/nanopb-san/pb_encode.o $BUILD/nanopb-san/pb_decode.o"
if [ $LIBFUZZER = 1 ]; then
    if ! pb_build "$BUILD/nanopb-fuzz" "$CLANG" -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all; then
        echo "FAIL: fuzz: nanopb runtime does not build with $CLANG (see $BUILD/logs/nanopb-build.log)"
        exit 1
    fi
fi
FUZZ_LIBS="$BUILD/nanopb-fuzz/pb_common.o $BUILD/nanopb-fuzz/pb_encode.o $BUILD/nanopb-fuzz/pb_decode.o"
FLAGS="$FLAGS -I$PB_SRC"

# first line of a log that says what went wrong
why() {
    grep -m1 -E 'invariant failed|ERROR: (Address|Leak|libFuzzer)Sanitizer|runtime error:|deadly signal|Timeout|out-of-memory|error:' "$1" \
        | cut -c1-300
}

FAILED=0
for T in $TARGETS; do
    src=fuzz/$T.c
    log=$BUILD/logs/$T
    if [ ! -f "$src" ]; then
        echo "FAIL: $T: no $src"; FAILED=1; continue
    fi
    # 1. standalone build
    # shellcheck disable=SC2086
    if ! $CC $FLAGS $SAN "$src" fuzz/fuzz_main.c $LIBS -o "$BUILD/$T" > "$log.build.log" 2>&1; then
        echo "FAIL: $T: standalone build failed ($(head -n1 "$log.build.log" | cut -c1-200); see $log.build.log)"
        FAILED=1; continue
    fi
    # 2. libFuzzer build
    if [ $LIBFUZZER = 1 ]; then
        # shellcheck disable=SC2086
        if ! $CLANG $FLAGS -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all "$src" $FUZZ_LIBS \
            -o "$BUILD/$T.libfuzzer" > "$log.libfuzzer-build.log" 2>&1; then
            echo "FAIL: $T: libFuzzer build failed (see $log.libfuzzer-build.log)"
            FAILED=1; continue
        fi
    fi

    fail=""
    execs=0
    # 3. replay the corpus (standalone driver): the regular inputs in one run,
    #    then each crash-* reproducer on its own (every one must pass)
    corpus=fuzz/corpus/$T
    set --
    crashes=""
    if [ -d "$corpus" ]; then
        for f in "$corpus"/*; do
            [ -f "$f" ] || continue
            case "${f##*/}" in
                crash-*) crashes="$crashes $f" ;;
                *) set -- "$@" "$f" ;;
            esac
        done
    fi
    if [ $# -gt 0 ]; then
        if "$BUILD/$T" "$@" > "$log.replay.log" 2>&1; then
            n=$(sed -n 's/^\([0-9][0-9]*\) executions.*/\1/p' "$log.replay.log" | tail -n1)
            execs=$((execs + ${n:-0}))
        else
            fail="corpus replay failed: $(why "$log.replay.log") (see $log.replay.log)"
        fi
    fi
    for f in $crashes; do
        clog=$log.replay.${f##*/}.log
        if "$BUILD/$T" "$f" > "$clog" 2>&1; then
            execs=$((execs + 1))
        else
            fail="${fail:+$fail; }reproducer ${f##*/} still fails: $(why "$clog") (see $clog)"
        fi
    done

    # 4. fuzz for SECS seconds, from a copy of the corpus without crash-* files
    if [ "$SECS" -gt 0 ]; then
        work=$BUILD/work/$T
        rm -rf "$work"
        mkdir -p "$work"
        if [ -d "$corpus" ]; then
            for f in "$corpus"/*; do
                [ -f "$f" ] || continue
                case "$(basename "$f")" in crash-*) continue ;; esac
                cp "$f" "$work/"
            done
        fi
        if [ $LIBFUZZER = 1 ]; then
            if "$BUILD/$T.libfuzzer" -max_total_time="$SECS" -print_final_stats=1 -timeout=30 \
                -rss_limit_mb=4096 -artifact_prefix="$BUILD/artifacts/$T-" "$work" > "$log.fuzz.log" 2>&1; then
                n=$(sed -n 's/^stat::number_of_executed_units: *\([0-9][0-9]*\).*/\1/p' "$log.fuzz.log" | tail -n1)
                execs=$((execs + ${n:-0}))
            else
                art=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log.fuzz.log" | tail -n1)
                fail="${fail:+$fail; }libFuzzer: $(why "$log.fuzz.log")${art:+ (input: $art)} (see $log.fuzz.log)"
            fi
        else
            if "$BUILD/$T" -t "$SECS" -o "$BUILD/artifacts" "$work" > "$log.fuzz.log" 2>&1; then
                n=$(sed -n 's/^\([0-9][0-9]*\) executions.*/\1/p' "$log.fuzz.log" | tail -n1)
                execs=$((execs + ${n:-0}))
            else
                art=$(sed -n 's/.*crashing input saved to \(.*\)$/\1/p' "$log.fuzz.log" | tail -n1)
                fail="${fail:+$fail; }mutator: $(why "$log.fuzz.log")${art:+ (input: $art)} (see $log.fuzz.log)"
            fi
        fi
    fi

    if [ -n "$fail" ]; then
        echo "FAIL: $T: $fail"
        FAILED=1
    else
        echo "PASS: $T ($execs executions)"
    fi
done
exit $FAILED
