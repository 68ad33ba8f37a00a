#!/bin/sh
# Code size on a Cortex-M4 (arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb -Os,
# -ffunction-sections -fdata-sections, linked with --gc-sections against
# newlib-nano): prints a markdown table of text/data/bss for
#   - the dnstap.h core as one object (the whole API), freestanding, in each
#     combination of DNSTAP_NO_DECODE / DNSTAP_NO_NANOPB_ENCODE, with the
#     nanopb runtime objects each one needs (built from Debian's source);
#   - what a firmware that only encodes frames links of it;
#   - examples/baremetal.c linked in the same four configurations;
#   - an empty firmware (newlib-nano's startup), for reference;
# and the RAM of the objects a firmware places (sizeof dnstap_t etc.);
# then the footprint goals (tests/footprint.c: what a program links of
# dnstap.h, its text minus that of the same program without it) on the
# Cortex-M4 and rv32imac, and the live tap's on hosts: x86-64 (gcc) and,
# with clang --target and Debian's libc6-dev-*-cross (Debian's gcc cross
# compilers conflict with gcc-multilib, which the matrix needs), mipsel,
# armhf and aarch64.
# What it prints from the first table on is the README's "size" block.
# --check: fail when a figure passes its limit (below), or when the
# README's block differs from what this prints; --readme: rewrite the
# README's block.
# Usage: tests/size.sh BUILD_DIR [--check|--readme]
set -u
cd "$(dirname "$0")/.." || exit 2
B=${1:-build}
CHECK=${2:-}

# Cortex-M4 -Os text of the encoder-only core object, in bytes: 25 % above
# the 10,179 measured (dnstap.h 0.1.0, arm-none-eabi-gcc 12.2.1) when this
# limit was set.
SIZE_LIMIT_TEXT=${SIZE_LIMIT_TEXT:-12700}
# The footprint goals (bytes) and the limits enforced. Where a goal is not
# reached the limit is what was reached, plus 2 %, so that it can only
# come closer.
GOAL_ENCODE=1536 GOAL_LIVE=4096 GOAL_RAM=1024 GOAL_HOST=12288
LIMIT_M4_ENCODE=${LIMIT_M4_ENCODE:-$GOAL_ENCODE}   # reached (dnstap.h 0.1.0, gcc 12.2.0/12.2.1): 1,434
LIMIT_RV_ENCODE=${LIMIT_RV_ENCODE:-$GOAL_ENCODE}   # 1,520
LIMIT_M4_LIVE=${LIMIT_M4_LIVE:-8640}         # 8,468
LIMIT_RV_LIVE=${LIMIT_RV_LIVE:-9590}         # 9,400
LIMIT_RAM=${LIMIT_RAM:-$GOAL_RAM}
LIMIT_X64_LIVE=${LIMIT_X64_LIVE:-21450}       # 21,016 (default flags and encoder; 19,294 before the endpoint
                                              # errors said why and file writes held SIGPIPE: 6 libc calls;
                                              # 20,405 before a file: endpoint on a full disk was cut back
                                              # to its last whole frame and ended with STOP)

tests/matrix_deps.sh "$B" m4 m4-include nanopb-src || { echo "FAIL: size: dependencies"; exit 1; }
T=$B/matrix/third_party
O=$B/matrix/m4
mkdir -p "$O"
CC=arm-none-eabi-gcc
SIZE=arm-none-eabi-size
ARCH="-mcpu=cortex-m4 -mthumb -Os -ffunction-sections -fdata-sections"
WARN="-std=c99 -Wall -Wextra -Werror -pedantic -Wconversion -Wsign-conversion -Wshadow -Wcast-qual \
-Wstrict-prototypes -Wmissing-prototypes"
LINK="-Wl,--gc-sections --specs=nano.specs --specs=nosys.specs"
INC="-I. -isystem $T/m4-include"
failed=0

fail() { echo "FAIL: size: $*"; failed=1; }

# configuration name -> defines and the nanopb objects it needs
cfg_defs() {
    case $1 in
        enc) echo "-DDNSTAP_NO_DECODE -DDNSTAP_NO_NANOPB_ENCODE" ;;
        dec) echo "-DDNSTAP_NO_NANOPB_ENCODE" ;;
        pbenc) echo "-DDNSTAP_NO_DECODE" ;;
        all) echo "" ;;
    esac
}
cfg_pb() {
    case $1 in
        enc) echo "" ;;
        dec) echo "$O/pb_common.o $O/pb_decode.o" ;;
        pbenc) echo "$O/pb_common.o $O/pb_encode.o" ;;
        all) echo "$O/pb_common.o $O/pb_decode.o $O/pb_encode.o" ;;
    esac
}
cfg_label() {
    case $1 in
        enc) echo "encoder only (\`DNSTAP_NO_DECODE\`, \`DNSTAP_NO_NANOPB_ENCODE\`)" ;;
        dec) echo "with the decoder (+ nanopb pb_decode.c, pb_common.c)" ;;
        pbenc) echo "with nanopb's encoder (+ pb_encode.c, pb_common.c)" ;;
        all) echo "with both (+ pb_decode.c, pb_encode.c, pb_common.c)" ;;
    esac
}

# nanopb's runtime, from Debian's source package (third-party: no -Werror)
for f in pb_common pb_decode pb_encode; do
    $CC $ARCH -std=c99 -I"$T/nanopb-src" -c "$T/nanopb-src/$f.c" -o "$O/$f.o" 2>"$O/$f.err" ||
        fail "nanopb $f.c: $(head -n 3 "$O/$f.err")"
done

printf '#define DNSTAP_IMPLEMENTATION\n#include "dnstap.h"\n' >"$O/core.c"
# A firmware that only encodes frames: what it links of dnstap.h.
cat >"$O/encode_only.c" <<'EOF'
#include "dnstap.h"
#include <string.h>
static dnstap_encoder_t enc;
static uint8_t frame[512];
volatile size_t frame_len;
volatile uint32_t port;
int main(void) {
    static const uint8_t a[4] = { 192, 0, 2, 1 };
    dnstap_encoder_desc_t d;
    dnstap_msg_t m;
    size_t n;
    memset(&d, 0, sizeof d);
    d.identity = dnstap_str("m4");
    (void)dnstap_encoder_init(&enc, &d);
    memset(&m, 0, sizeof m);
    m.type = DNSTAP_CLIENT_QUERY;
    m.query_address.data = a; m.query_address.len = 4;
    m.query_port = port; m.has = DNSTAP_HAS_QUERY_PORT;
    if (dnstap_encode_frame(&enc, &m, frame, sizeof frame, &n) == DNSTAP_OK) frame_len = n;
    for (;;) { }
}
EOF
printf 'int main(void);\nint main(void) { for (;;) { } }\n' >"$O/empty.c"
# RAM: the sizes of the objects, as symbol sizes.
cat >"$O/ram.c" <<'EOF'
#include "dnstap.h"
char ram_dnstap_t[sizeof(dnstap_t)];
char ram_dnstap_encoder_t[sizeof(dnstap_encoder_t)];
char ram_dnstap_file_t[sizeof(dnstap_file_t)];
char ram_dnstap_reader_t[sizeof(dnstap_reader_t)];
EOF

# text data bss of objects or an ELF, summed
tdb() { $SIZE -t "$@" | tail -n 1 | awk '{print $1, $2, $3}'; }
row() {   # label file...
    label=$1; shift
    set -- $(tdb "$@")
    printf '| %s | %s | %s | %s |\n' "$label" "$1" "$2" "$3"
}

for c in enc dec pbenc all; do
    $CC $ARCH $WARN $(cfg_defs $c) -DDNSTAP_FREESTANDING $INC -c "$O/core.c" -o "$O/core-$c.o" 2>"$O/core-$c.err" ||
        fail "core ($c): $(head -n 5 "$O/core-$c.err")"
    $CC $ARCH $WARN $(cfg_defs $c) -DDNSTAP_FREESTANDING $INC examples/baremetal.c $(cfg_pb $c) $LINK \
        -nostartfiles -T examples/baremetal_m4.ld -o "$O/baremetal-$c.elf" 2>"$O/baremetal-$c.err" ||
        fail "examples/baremetal.c ($c): $(head -n 5 "$O/baremetal-$c.err")"
done
$CC $ARCH $WARN $INC -DDNSTAP_FREESTANDING -DDNSTAP_NO_DECODE -DDNSTAP_NO_NANOPB_ENCODE "$O/encode_only.c" \
    "$O/core-enc.o" $LINK -o "$O/encode_only.elf" 2>"$O/encode_only.err" || fail "encode_only: $(head -n 5 "$O/encode_only.err")"
$CC $ARCH $WARN "$O/empty.c" $LINK -o "$O/empty.elf" 2>"$O/empty.err" || fail "empty firmware: $(head -n 3 "$O/empty.err")"
$CC $ARCH -std=c99 $INC -DDNSTAP_FREESTANDING -c "$O/ram.c" -o "$O/ram-default.o" &&
$CC $ARCH -std=c99 $INC -DDNSTAP_FREESTANDING -DDNSTAP_MAX_QUEUES=1 -DDNSTAP_PREFIX_MAX=64 -DDNSTAP_EXTRA_MAX=16 \
    -c "$O/ram.c" -o "$O/ram-small.o" || fail "ram.c"

# ---- footprint (tests/footprint.c) --------------------------------------
FW_DEFS="-DDNSTAP_FREESTANDING -DDNSTAP_NO_DECODE -DDNSTAP_NO_NANOPB_ENCODE"
OPT="-Os -ffunction-sections -fdata-sections"
RVCC="riscv64-unknown-elf-gcc -march=rv32imac -mabi=ilp32 -misa-spec=2.2 --specs=picolibc.specs"
FW_M4="$CC -mcpu=cortex-m4 -mthumb $OPT $INC -Wl,--gc-sections --specs=nano.specs --specs=nosys.specs -nostartfiles -Wl,-e,main"
FW_RV="$RVCC $OPT $INC -Wl,--gc-sections -nostartfiles -Wl,-e,main"
HOST_DEFS="-DDNSTAP_NO_DECODE -DDNSTAP_NO_NANOPB_ENCODE"
# lib TAG PART SIZE-TOOL COMPILER...: LIB = text of tests/footprint.c with
# FP_PART=PART minus text with FP_PART=0 (the same program without dnstap.h)
lib() {
    tag=$1 part=$2 sz=$3
    shift 3
    LIB=
    for p in 0 "$part"; do
        "$@" -DFP_PART=$p tests/footprint.c -o "$O/fp-$tag-$p" 2>"$O/fp-$tag-$p.err" ||
            { fail "footprint $tag (FP_PART=$p): $(head -n 3 "$O/fp-$tag-$p.err" | tr '\n' ' ')"; LIB=n/a; return; }
    done
    LIB=$(( $($sz "$O/fp-$tag-$part" | awk 'NR == 2 { print $1 }') - $($sz "$O/fp-$tag-0" | awk 'NR == 2 { print $1 }') ))
}
# Firmware: encode-only, live tap, and the live tap with size-saving options
# (the goal rows with the small encoder: a firmware that counts bytes picks it)
SMALL_ENC=-DDNSTAP_SMALL_ENCODER=1
lib m4-enc 1 $SIZE $FW_M4 $WARN $FW_DEFS $SMALL_ENC; M4_ENC=$LIB
lib m4-live 2 $SIZE $FW_M4 $WARN $FW_DEFS $SMALL_ENC; M4_LIVE=$LIB
lib rv-enc 1 riscv64-unknown-elf-size $FW_RV $WARN $FW_DEFS $SMALL_ENC; RV_ENC=$LIB
lib rv-live 2 riscv64-unknown-elf-size $FW_RV $WARN $FW_DEFS $SMALL_ENC; RV_LIVE=$LIB
$RVCC -Os -std=c99 $INC -DDNSTAP_FREESTANDING -c "$O/ram.c" -o "$O/ram-rv32.o" || fail "ram.c (rv32imac)"
# The trade-offs: "label|part|defines" (the size-saving options, and what
# the small encoder saves against the fast one)
TRADEOFFS="encode-only, the default (fast) encoder|1|
live tap, the default (fast) encoder|2|
live tap, small encoder, \`DNSTAP_NO_LOG_TEXT\`|2|$SMALL_ENC -DDNSTAP_NO_LOG_TEXT
live tap, small encoder, \`DNSTAP_UNIDIRECTIONAL_ONLY\`|2|$SMALL_ENC -DDNSTAP_UNIDIRECTIONAL_ONLY
live tap, small encoder, \`DNSTAP_NO_LOG_TEXT DNSTAP_UNIDIRECTIONAL_ONLY\`|2|$SMALL_ENC -DDNSTAP_NO_LOG_TEXT -DDNSTAP_UNIDIRECTIONAL_ONLY"
TRADE_ROWS=$O/tradeoffs.md
: >"$TRADE_ROWS"
i=0
echo "$TRADEOFFS" | { while IFS='|' read -r label part defs; do
    i=$((i + 1))
    lib m4-t$i "$part" $SIZE $FW_M4 $WARN $FW_DEFS $defs; a=$LIB
    lib rv-t$i "$part" riscv64-unknown-elf-size $FW_RV $WARN $FW_DEFS $defs
    echo "$label|$a|$LIB" >>"$TRADE_ROWS"
done; [ $failed = 0 ]; } || failed=1
# Hosts: the live tap as a server links it
lib x64 3 size gcc $OPT -Wl,--gc-sections $WARN $HOST_DEFS; X64_LIVE=$LIB
lib x64-nounwind 3 size gcc $OPT -fno-asynchronous-unwind-tables -Wl,--gc-sections $WARN $HOST_DEFS; X64_NOUNWIND=$LIB
lib x64-small 3 size gcc $OPT -fno-asynchronous-unwind-tables -Wl,--gc-sections $WARN $HOST_DEFS $SMALL_ENC; X64_SMALL=$LIB
CROSS=
for t in mipsel-linux-gnu arm-linux-gnueabihf aarch64-linux-gnu; do
    lib "$t" 3 llvm-size clang --target=$t -fuse-ld=lld -no-pie $OPT -Wl,--gc-sections $WARN $HOST_DEFS
    CROSS="$CROSS $t:$LIB"
done
[ $failed = 0 ] || exit 1

sym() { arm-none-eabi-nm -S -t d "$1" | awk -v s="$2" '$4 == s { print $2 + 0 }'; }
rvsym() { riscv64-unknown-elf-nm -S -t d "$1" | awk -v s="$2" '$4 == s { print $2 + 0 }'; }
M4_RAM=$(sym "$O/ram-default.o" ram_dnstap_t)
RV_RAM=$(rvsym "$O/ram-rv32.o" ram_dnstap_t)
# 12345 -> 12,345
n() { echo "$1" | awk '{ s = $1; while (s ~ /[0-9][0-9][0-9][0-9]/) sub(/[0-9][0-9][0-9]([,]|$)/, ",&", s); print s }'; }
# goal limit measured...: "met" or how far off
verdict() {
    goal=$1; shift
    for v in "$@"; do [ "$v" -le "$goal" ] || { echo "not met"; return; }; done
    echo "met"
}

report() {
echo "| Cortex-M4, \`-Os -mthumb\`, $($CC -dumpversion) | text | data | bss |"
echo "|---|---:|---:|---:|"
for c in enc dec pbenc all; do
    row "dnstap.h core object (whole API), $(cfg_label $c)" "$O/core-$c.o" $(cfg_pb $c)
done
set -- $(tdb "$O/encode_only.elf")
et=$1 ed=$2 eb=$3
set -- $(tdb "$O/empty.elf")
printf '| linked by a firmware that calls only dnstap_encoder_init() + dnstap_encode_frame() (over the empty one) | %s | %s | %s |\n' \
    $((et - $1)) $((ed - $2)) $((eb - $3))
for c in enc dec pbenc all; do
    row "examples/baremetal.c firmware, $(cfg_label $c)" "$O/baremetal-$c.elf"
done
row "empty firmware (newlib-nano startup, \`main(){for(;;);}\`), for reference" "$O/empty.elf"
echo
sym() { arm-none-eabi-nm -S -t d "$1" | awk -v s="$2" '$4 == s { print $2 + 0 }'; }
echo "RAM (Cortex-M4): dnstap_t $(sym "$O/ram-default.o" ram_dnstap_t) bytes with the freestanding defaults (one queue," \
     "DNSTAP_PREFIX_MAX 128), $(sym "$O/ram-small.o" ram_dnstap_t) with baremetal.c's DNSTAP_PREFIX_MAX=64;" \
     "dnstap_encoder_t $(sym "$O/ram-default.o" ram_dnstap_encoder_t), dnstap_file_t $(sym "$O/ram-default.o" ram_dnstap_file_t)," \
     "dnstap_reader_t $(sym "$O/ram-default.o" ram_dnstap_reader_t); plus the queue and buffers you give it."
$CC $ARCH $WARN -ffreestanding -DDNSTAP_FREESTANDING -DDNSTAP_NO_DECODE -DDNSTAP_NO_NANOPB_ENCODE $INC \
    -c "$O/core.c" -o "$O/core-enc-ffreestanding.o" || fail "core with -ffreestanding"
echo "Undefined in the encoder-only core object: $(arm-none-eabi-nm -u "$O/core-enc.o" | awk '{print $2}' | tr '\n' ' ' | sed 's/ $//')" \
     "(with -ffreestanding: $(arm-none-eabi-nm -u "$O/core-enc-ffreestanding.o" | awk '{print $2}' | tr '\n' ' ' | sed 's/ $//'))."
echo
echo "Footprint goals: what a program links of dnstap.h (\`tests/footprint.c\`: its text minus that of the same"
echo "program without dnstap.h, which calls \`memcpy\` and \`memset\` too), \`-Os -ffunction-sections"
echo "-fdata-sections -Wl,--gc-sections\`, \`DNSTAP_FREESTANDING DNSTAP_NO_DECODE DNSTAP_NO_NANOPB_ENCODE\`, and for the"
echo "goals the small encoder (\`DNSTAP_SMALL_ENCODER=1\`);"
echo "rv32imac: riscv64-unknown-elf-gcc $(riscv64-unknown-elf-gcc -dumpversion) with picolibc. \`make test\` fails above the limit."
echo
echo "| part | Cortex-M4 | rv32imac | goal | limit (M4 / rv32) | |"
echo "|---|---:|---:|---:|---:|---|"
echo "| encode-only firmware: \`dnstap_encoder_init()\` + \`dnstap_encode_frame()\` | $(n $M4_ENC) | $(n $RV_ENC) | $(n $GOAL_ENCODE) | $(n $LIMIT_M4_ENCODE) / $(n $LIMIT_RV_ENCODE) | $(verdict $GOAL_ENCODE $M4_ENC $RV_ENC) |"
echo "| live tap over a custom transport: \`dnstap_init()\`, \`dnstap_log()\`, \`dnstap_poll()\` | $(n $M4_LIVE) | $(n $RV_LIVE) | $(n $GOAL_LIVE) | $(n $LIMIT_M4_LIVE) / $(n $LIMIT_RV_LIVE) | $(verdict $GOAL_LIVE $M4_LIVE $RV_LIVE) |"
echo "| \`dnstap_t\` RAM, freestanding defaults (one queue) | $(n $M4_RAM) | $(n $RV_RAM) | $(n $GOAL_RAM) | $(n $LIMIT_RAM) | $(verdict $GOAL_RAM $M4_RAM $RV_RAM) |"
echo
echo "What the options cost or save (configuration macros; the header's manual, SIZE, says what each leaves out):"
echo
echo "| build | Cortex-M4 | rv32imac |"
echo "|---|---:|---:|"
while IFS='|' read -r label a b; do
    echo "| $label | $(n $a) | $(n $b) |"
done <"$TRADE_ROWS"
echo
echo "On hosts: the live tap as a server links it (\`tests/footprint.c\` with \`tcp://\` or \`unix://\`: \`dnstap_init()\`,"
echo "\`dnstap_log()\`, \`dnstap_poll()\`, \`dnstap_io()\`, \`dnstap_shutdown()\`, \`dnstap_run()\`), \`DNSTAP_NO_DECODE"
echo "DNSTAP_NO_NANOPB_ENCODE\`, \`-Os -ffunction-sections -fdata-sections -Wl,--gc-sections\`; text as \`size\` counts"
echo "it (code, constants, unwind tables, PLT). Goal $(n $GOAL_HOST) on x86-64, limit $(n $LIMIT_X64_LIVE)."
echo
echo "| host | compiler | text |"
echo "|---|---|---:|"
echo "| x86-64 | gcc $(gcc -dumpversion) | $(n $X64_LIVE) |"
echo "| x86-64, \`-fno-asynchronous-unwind-tables\` | gcc $(gcc -dumpversion) | $(n $X64_NOUNWIND) |"
echo "| x86-64, \`-fno-asynchronous-unwind-tables -DDNSTAP_SMALL_ENCODER=1\` | gcc $(gcc -dumpversion) | $(n $X64_SMALL) |"
for c in $CROSS; do
    echo "| ${c%%:*} | clang $(clang -dumpversion) \`--target\`, lld, \`-no-pie\` | $(n ${c#*:}) |"
done
}
report >"$O/readme.md"
cat "$O/readme.md"

# limit NAME MEASURED LIMIT
limit() {
    if [ "$2" -le "$3" ]; then echo "PASS: size: $1: $2 bytes <= limit $3"
    else echo "FAIL: size: $1: $2 bytes > limit $3"; failed=1; fi
}

if [ "$CHECK" = --readme ]; then
    tests/readme_block.sh write size "$O/readme.md"
fi
if [ "$CHECK" = --check ]; then
    limit "Cortex-M4 encode-only firmware (goal $GOAL_ENCODE)" "$M4_ENC" "$LIMIT_M4_ENCODE"
    limit "rv32imac encode-only firmware (goal $GOAL_ENCODE)" "$RV_ENC" "$LIMIT_RV_ENCODE"
    limit "Cortex-M4 live tap, custom transport (goal $GOAL_LIVE)" "$M4_LIVE" "$LIMIT_M4_LIVE"
    limit "rv32imac live tap, custom transport (goal $GOAL_LIVE)" "$RV_LIVE" "$LIMIT_RV_LIVE"
    limit "Cortex-M4 dnstap_t RAM, freestanding defaults" "$M4_RAM" "$LIMIT_RAM"
    limit "rv32imac dnstap_t RAM, freestanding defaults" "$RV_RAM" "$LIMIT_RAM"
    limit "x86-64 live tap, gcc -Os --gc-sections (goal $GOAL_HOST)" "$X64_LIVE" "$LIMIT_X64_LIVE"
    tests/readme_block.sh check size "$O/readme.md" || failed=1
    set -- $(tdb "$O/core-enc.o")
    if [ "$1" -le "$SIZE_LIMIT_TEXT" ]; then
        echo "PASS: size: Cortex-M4 -Os encoder-only core: $1 bytes of text <= limit $SIZE_LIMIT_TEXT"
    else
        echo "FAIL: size: Cortex-M4 -Os encoder-only core: $1 bytes of text > limit $SIZE_LIMIT_TEXT"
        failed=1
    fi
fi
exit $failed
