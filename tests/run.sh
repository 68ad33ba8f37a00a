#!/bin/sh
# `make test`: runs every check and ends with "N passed, N failed".
# Each step prints "PASS: name" / "FAIL: name: why" lines; a step that exits
# non-zero without a FAIL line counts as one failure, so a crash cannot pass.
# A step announces itself when it starts ("==> name"), its output is shown as
# it comes, and it ends with "<== name: N passed, N failed, N s".
# Usage: tests/run.sh BUILD_DIR
set -u
cd "$(dirname "$0")/.."
B=${1:-build}
TESTDATA=${TESTDATA:-tests/testdata}
FUZZ_SECONDS=${FUZZ_SECONDS:-5}
passed=0
failed=0
skipped=0
tmp=$(mktemp)
skips=$(mktemp)    # SKIP lines, repeated at the end
rcf=$(mktemp)
trap 'rm -f "$tmp" "$skips" "$rcf"' EXIT
run_start=$(date +%s)

step() {
    name=$1; shift
    echo "==> $name"
    t0=$(date +%s)
    { "$@" 2>&1; echo $? >"$rcf"; } | tee "$tmp"
    rc=$(cat "$rcf")
    p=$(grep -c '^PASS:' "$tmp")
    f=$(grep -c '^FAIL:' "$tmp")
    if [ "$rc" != 0 ] && [ "$f" = 0 ]; then echo "FAIL: $name: exit status $rc"; f=1; fi
    sk=$(grep -c '^SKIP:' "$tmp")
    grep '^SKIP:' "$tmp" >>"$skips"
    if [ "$rc" = 0 ] && [ "$p" = 0 ] && [ "$f" = 0 ] && [ "$sk" = 0 ]; then echo "PASS: $name"; p=1; fi
    passed=$((passed + p))
    failed=$((failed + f))
    skipped=$((skipped + sk))
    echo "<== $name: $p passed, $f failed$( [ "$sk" = 0 ] || echo ", $sk skipped"), $(($(date +%s) - t0)) s"
}

WARN="-Wall -Wextra -Werror -pedantic"
IMPL='#define DNSTAP_IMPLEMENTATION
#include "dnstap.h"
int main(void) { dnstap_encoder_t e; return dnstap_encoder_init(&e, NULL) != DNSTAP_OK; }'

# The header alone, with its implementation, as C99 and C++ with both compilers.
compile() {
    printf '%s\n' "$IMPL" | "$@" $WARN -I. -o "$B/compile_check" - -lprotobuf-nanopb ${LINK:-} && "$B/compile_check"
}
step "compile: gcc -std=c99" compile gcc -x c -std=c99 -Wconversion -Wsign-conversion -Wshadow -Wcast-qual -Wstrict-prototypes -Wmissing-prototypes
step "compile: clang -std=c99" compile clang -x c -std=c99 -Wconversion -Wsign-conversion -Wshadow -Wcast-qual -Wstrict-prototypes -Wmissing-prototypes
step "compile: g++ -std=c++11" compile g++ -x c++ -std=c++11 -Wconversion -Wsign-conversion -Wshadow
step "compile: clang++ -std=c++17" compile clang++ -x c++ -std=c++17 -Wconversion -Wsign-conversion -Wshadow
step "compile: DNSTAP_STATIC" compile gcc -x c -std=c99 -DDNSTAP_STATIC -Wno-unused-function
step "compile: DNSTAP_ENCODER_NANOPB" compile gcc -x c -std=c99 -DDNSTAP_ENCODER_NANOPB
LINK="-lmbedtls -lmbedx509 -lmbedcrypto -pthread" \
step "compile: DNSTAP_WITH_MBEDTLS DNSTAP_WITH_THREAD" compile gcc -x c -std=c99 -DDNSTAP_WITH_MBEDTLS -DDNSTAP_WITH_THREAD
step "compile: each stock transport left out" compile gcc -x c -std=c99 -DDNSTAP_NO_UNIX_SOCKET -DDNSTAP_NO_TCP -DDNSTAP_NO_FILE_TRANSPORT
step "compile: DNSTAP_NO_SOCKETS" compile gcc -x c -std=c99 -DDNSTAP_NO_SOCKETS

# Freestanding core: the encoder and Frame Streams need nothing but memcpy and memset.
freestanding() {
    printf '#define DNSTAP_IMPLEMENTATION\n#include "dnstap.h"\n' |
        gcc -x c -std=c99 -Os -ffreestanding -DDNSTAP_FREESTANDING -DDNSTAP_NO_DECODE \
            -DDNSTAP_NO_NANOPB_ENCODE $WARN -I. -c -o "$B/freestanding.o" - || return 1
    undef=$(nm -u "$B/freestanding.o" | awk '{print $2}' | sort | tr '\n' ' ')
    [ "$undef" = "memcpy memset " ] || { echo "FAIL: freestanding: needs $undef"; return 1; }
    echo "PASS: freestanding core needs only memcpy and memset ($(size "$B/freestanding.o" | awk 'NR==2{print $1}') bytes of text on x86-64)"
}
step freestanding freestanding
[ -x tests/host_build.sh ] && step "host builds: include order, feature macros, encode only without nanopb" tests/host_build.sh "$B"

step "schema: embedded nanopb block is current" tests/regen.sh --check
step "schema: make regen leaves an unchanged dnstap.h untouched" tests/regen_untouched.sh "$B"
step "unit (clang, ASan+UBSan)" "$B/test_unit_asan" "$TESTDATA"
step "unit (gcc -O2)" "$B/test_unit_gcc" "$TESTDATA"
step "unit (g++, as C++)" "$B/test_unit_cxx" "$TESTDATA"
step "unit (DNSTAP_SMALL_ENCODER=1, clang, ASan+UBSan)" "$B/test_unit_small" "$TESTDATA"
step "tap (clang, ASan+UBSan)" "$B/test_tap_asan"
step "tap (gcc -O2, allocations counted)" "$B/test_tap_allocs"
step "tap (clang, ThreadSanitizer)" "$B/test_tap_tsan"
step "tap, writes capped at 1,000 bytes (clang, ASan+UBSan)" env TEST_ONLY=test_write_cap_mid_frame "$B/test_tap_cap"
[ -x tests/interop.sh ] && step interop tests/interop.sh "$B"
[ -x tests/live.sh ] && step "live receivers" tests/live.sh "$B"
[ -x tests/forwarder.sh ] && step "forwarder example" tests/forwarder.sh "$B"
[ -x tests/dnsmasq.sh ] && step "dnsmasq with dnstap (examples/dnsmasq)" tests/dnsmasq.sh "$B"
[ -x tests/examples.sh ] && step "capture, reader and dtap examples" tests/examples.sh "$B"
[ -x tests/demo_check.sh ] && step "make demo leaves its log and the commands that read it" tests/demo_check.sh "$B"
[ -x tests/readme.sh ] && step "README samples as C and C++" tests/readme.sh "$B"
step "README: the examples' sizes" tests/example_sizes.sh "$B" --check
[ -x tests/consumers.sh ] && step "install: CMake find_package, add_subdirectory, pkg-config" tests/consumers.sh "$B"
[ -x tests/dtap.sh ] && step "dtap: golang-dnstap's dnstap interface, side by side" tests/dtap.sh "$B"
[ -x tests/dtap_live.sh ] && step "dtap as a long-running receiver: eviction, SIGHUP, bad frames, SIGTERM" tests/dtap_live.sh "$B"
[ -x tests/matrix.sh ] && step "matrix (quick): compilers, -m32, s390x, valgrind, Cortex-M4, stack" tests/matrix.sh "$B" quick
[ -x tests/firmware.sh ] && step "firmware under qemu: Cortex-M4, RISC-V" tests/firmware.sh "$B"
[ -x tests/lwip.sh ] && step "lwIP transport over a TAP interface" tests/lwip.sh "$B"
[ -x tests/tls.sh ] && step "TLS through Mbed TLS" tests/tls.sh "$B"
[ -x tests/capture_tls.sh ] && step "capture example as a TLS receiver" tests/capture_tls.sh "$B"
[ -x fuzz/run.sh ] && step "fuzz (${FUZZ_SECONDS}s per target)" fuzz/run.sh "$B" "$FUZZ_SECONDS"

echo
grep -q . "$skips" && { echo "Not run here:"; cat "$skips"; }
echo "make test took $(($(date +%s) - run_start)) s"
if [ "$skipped" = 0 ]; then echo "$passed passed, $failed failed"; else echo "$passed passed, $failed failed, $skipped skipped"; fi
[ "$failed" = 0 ]
