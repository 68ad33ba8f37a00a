#!/bin/sh
# examples/baremetal.c as firmware on emulated boards, under qemu with
# -icount (deterministic: the same instructions see the same timer values
# on every run):
#   mps2-an386      Cortex-M4, CMSDK UART0 drained by its TX interrupt
#   netduinoplus2   Cortex-M4 STM32F405, USART2 (the second -serial), polled
#                   (qemu 7.2's STM32 USART raises no TX-empty interrupt)
#   riscv32 virt    rv32imac (ESP32-C3 class), 16550 UART drained by its
#                   THR-empty interrupt through the PLIC, CLINT timer tick
# The first and the last also run with nanopb's decoder and encoder linked
# in (the -selftest runs), and with the smallest options (the -small runs:
# DNSTAP_SMALL_ENCODER=1, DNSTAP_UNIDIRECTIONAL_ONLY, DNSTAP_NO_LOG_TEXT): the power-on self test then decodes and
# re-encodes on the target. Each is built -Os with the example's own
# startup code and linker script,
# serves BM_QUERIES queries, sends STOP, drains its UART, then reports its
# counters and its verdict through semihosting: qemu's exit status is 0 only
# if the counters add up (logged = sent + dropped + queued, queued 0) and
# all queries were served. The captured UART stream must then end with a
# STOP frame (checked here on the bytes: a stream cut short still reads as
# valid to fstrm_dump and golang-dnstap), and fstrm_dump, `dnstap -r -y`,
# our reader (examples/reader.c) and tests/matrix_check.c must each count
# exactly the firmware's `sent` messages. All boards run the same logic from
# the same tick counts, so their streams must be byte-identical.
# Usage: tests/firmware.sh BUILD_DIR
set -u
. "$(dirname "$0")/lib.sh"
need qemu-system-arm qemu-system-riscv32 arm-none-eabi-gcc riscv64-unknown-elf-gcc fstrm_dump dnstap
tests/matrix_deps.sh "$build" m4-include nanopb-src >/dev/null ||
    { fail dependencies "tests/matrix_deps.sh m4-include nanopb-src"; exit 1; }
O=$build/firmware
mkdir -p "$O"
QUERIES=${BM_QUERIES:-500}
WARN="-std=c99 -Wall -Wextra -Werror -pedantic -Wconversion -Wsign-conversion -Wshadow -Wcast-qual \
-Wstrict-prototypes -Wmissing-prototypes"
COMMON="-Os -ffunction-sections -fdata-sections -Wl,--gc-sections -nostartfiles \
-DDNSTAP_FREESTANDING -DBM_QUERIES=$QUERIES -I. -isystem $build/matrix/third_party/m4-include"
ENC_ONLY="-DDNSTAP_NO_DECODE -DDNSTAP_NO_NANOPB_ENCODE"
SMALL="-DDNSTAP_SMALL_ENCODER=1 -DDNSTAP_UNIDIRECTIONAL_ONLY -DDNSTAP_NO_LOG_TEXT"
NANOPB=$build/matrix/third_party/nanopb-src
M4="arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb --specs=nano.specs --specs=nosys.specs -T examples/baremetal_m4.ld"
# -misa-spec=2.2 keeps the CSR instructions in "i" and so picks picolibc's
# rv32imac/ilp32 multilib (rv32imac_zicsr would fall back to rv64 libraries)
RV="riscv64-unknown-elf-gcc -march=rv32imac -mabi=ilp32 -misa-spec=2.2 --specs=picolibc.specs -T examples/baremetal_rv32.ld"
QEMU_COMMON="-nographic -monitor none -semihosting-config enable=on,target=native -icount shift=0,align=off,sleep=off"

READER=$build/reader
if [ ! -x "$READER" ]; then
    READER=$O/reader
    cc -std=c99 -O2 -I. examples/reader.c -o "$READER" -lprotobuf-nanopb || { fail reader "does not build"; exit 1; }
fi
CHECK=$O/matrix_check
cc -std=c99 -O2 -I. tests/matrix_check.c -o "$CHECK" -lprotobuf-nanopb || { fail matrix_check "does not build"; exit 1; }

# The last frame of a Frame Streams stream is STOP: escape 0, length 4,
# control type 3, each a big-endian 32-bit word.
ends_with_stop() {
    [ "$(tail -c 12 "$1" | od -An -v -tx1 | tr -d ' \n')" = 000000000000000400000003 ]
}

# check_stream NAME FILE SENT: the stream checks above
check_stream() {
    name=$1 f=$2 sent=$3
    if ends_with_stop "$f"; then pass "$name: the stream ends with STOP"
    else fail "$name" "the stream does not end with STOP (cut off?)"; fi
    n=$(fstrm_dump "$f" 2>&1 | grep -c '^Data frame')
    if [ "$n" = "$sent" ]; then pass "$name: fstrm_dump reads $n data frames = sent"
    else fail "$name" "fstrm_dump reads $n data frames, the firmware sent $sent"; fi
    if dnstap -r "$f" -y >"$f.golang.yaml" 2>"$f.golang.err"; then
        n=$(grep -c '^type: MESSAGE$' "$f.golang.yaml")
        if [ "$n" = "$sent" ]; then pass "$name: dnstap -r -y reads $n messages = sent"
        else fail "$name" "dnstap -r -y reads $n messages, the firmware sent $sent"; fi
    else
        fail "$name" "dnstap -r -y: $(tail -n 1 "$f.golang.err")"
    fi
    if "$READER" -y "$f" >"$f.reader.yaml" 2>"$f.reader.err"; then
        n=$(grep -c '^type: MESSAGE$' "$f.reader.yaml")
        if [ "$n" = "$sent" ]; then pass "$name: examples/reader.c reads $n messages = sent"
        else fail "$name" "examples/reader.c reads $n messages, the firmware sent $sent"; fi
    else
        fail "$name" "examples/reader.c: $(tail -n 1 "$f.reader.err")"
    fi
    "$CHECK" "$f" "$sent" >"$f.check" 2>&1
    if [ $? = 0 ]; then pass "$name: $(sed -n 's/^PASS: baremetal stream: //p' "$f.check")"
    else fail "$name" "tests/matrix_check.c: $(grep FAIL "$f.check" | head -n 2 | tr '\n' ' ')"; fi
}

# The STOP check can fail: a stream cut before its STOP (as a run killed by
# a timeout leaves it) is refused, though golang-dnstap reads it without
# complaint.
check_cut_stream() {
    f=$1
    size=$(wc -c <"$f")
    head -c $((size - 12)) "$f" >"$O/cut.fstrm"
    if ends_with_stop "$O/cut.fstrm"; then fail "STOP check" "accepts a stream without STOP"
    elif dnstap -r "$O/cut.fstrm" -y >/dev/null 2>&1; then
        pass "STOP check: refuses a stream cut before STOP (which dnstap -r -y reads with exit status 0)"
    else
        pass "STOP check: refuses a stream cut before STOP"
    fi
}

# nanopb's runtime for a target (third-party code: no -Werror), for the
# builds with the decoder and nanopb's encoder, whose power-on self test
# decodes and re-encodes on the target itself
pb_objs() {   # compiler... : prints the object files
    cc1=$1
    dir=$O/nanopb-${cc1%%-*}
    mkdir -p "$dir"
    for f in pb_common pb_decode pb_encode; do
        "$@" -Os -ffunction-sections -fdata-sections -std=c99 -I"$NANOPB" -c "$NANOPB/$f.c" -o "$dir/$f.o" \
            2>"$dir/$f.err" || { echo "$f.c for $cc1: $(head -n 3 "$dir/$f.err" | tr '\n' ' ')"; return 1; }
        printf '%s ' "$dir/$f.o"
    done
}
PB_M4=$(pb_objs arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb) || { fail nanopb "$PB_M4"; exit 1; }
PB_RV=$(pb_objs riscv64-unknown-elf-gcc -march=rv32imac -mabi=ilp32 -misa-spec=2.2 --specs=picolibc.specs) ||
    { fail nanopb "$PB_RV"; exit 1; }

first=
# board NAME QEMU_ARGS BUILD_ARGS...: build, run, check
board() {
    name=$1 qemu=$2
    shift 2
    elf=$O/$name.elf
    if ! $* $WARN $COMMON examples/baremetal.c -o "$elf" >"$O/$name.build" 2>&1; then
        fail "$name" "does not build: $(head -n 5 "$O/$name.build" | tr '\n' ' ')"
        return
    fi
    rm -f "$O/$name.fstrm"
    t0=$(date +%s.%N)
    # shellcheck disable=SC2086
    timeout 120 $qemu $QEMU_COMMON -kernel "$elf" >"$O/$name.out" 2>&1
    rc=$?
    t1=$(date +%s.%N)
    secs=$(awk "BEGIN { printf \"%.1f\", $t1 - $t0 }")
    report=$(grep '^baremetal: ' "$O/$name.out" | tail -n 1)
    sent=$(echo "$report" | sed -n 's/.* sent=\([0-9]*\) .*/\1/p')
    size=$("${1%-gcc}-size" "$elf" 2>/dev/null | awk 'NR == 2 { print $1 " B text, " $2 " B data, " $3 " B bss" }')
    info "$name: $report (${secs}s; $size)"
    case $rc in
        0) pass "$name: the firmware's verdict: $QUERIES queries served, counters add up" ;;
        124) fail "$name" "timed out after 120 s"; return ;;
        *) fail "$name" "the firmware's verdict: exit status $rc: $(tail -n 3 "$O/$name.out" | tr '\n' ' ')"; return ;;
    esac
    [ -n "$sent" ] || { fail "$name" "no report line"; return; }
    check_stream "$name" "$O/$name.fstrm" "$sent"
    if [ -z "$first" ]; then
        first=$name
        check_cut_stream "$O/$name.fstrm"
    elif cmp -s "$O/$name.fstrm" "$O/$first.fstrm"; then
        pass "$name: the same $(wc -c <"$O/$name.fstrm") bytes as $first"
    else
        fail "$name" "its stream differs from $first's"
    fi
}

board m4-mps2-an386 "qemu-system-arm -M mps2-an386 -serial file:$O/m4-mps2-an386.fstrm" \
    $M4 $ENC_ONLY -DBM_MPS2
board m4-netduinoplus2 "qemu-system-arm -M netduinoplus2 -serial null -serial file:$O/m4-netduinoplus2.fstrm" \
    $M4 $ENC_ONLY -DBM_UART_POLLED -DBM_CPU_HZ=168000000u
board rv32imac-virt "qemu-system-riscv32 -M virt -bios none -serial file:$O/rv32imac-virt.fstrm" \
    $RV $ENC_ONLY
# the smallest live tap (tests/size.sh's trade-off table): the small
# encoder, no handshake code, no log text; the same stream
board m4-mps2-an386-small "qemu-system-arm -M mps2-an386 -serial file:$O/m4-mps2-an386-small.fstrm" \
    $M4 $ENC_ONLY $SMALL -DBM_MPS2
board rv32imac-virt-small "qemu-system-riscv32 -M virt -bios none -serial file:$O/rv32imac-virt-small.fstrm" \
    $RV $ENC_ONLY $SMALL
# with nanopb's decoder and encoder linked in: the power-on self test runs
board m4-mps2-an386-selftest "qemu-system-arm -M mps2-an386 -serial file:$O/m4-mps2-an386-selftest.fstrm" \
    $M4 -DBM_MPS2 $PB_M4
board rv32imac-virt-selftest "qemu-system-riscv32 -M virt -bios none -serial file:$O/rv32imac-virt-selftest.fstrm" \
    $RV $PB_RV
[ $fails = 0 ]
