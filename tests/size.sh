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
# and the RAM of the objects a firmware places (sizeof dnstap_t etc.).
# With --check it also fails when the encoder-only core object's text grows
# past SIZE_LIMIT_TEXT (documented here and in the README).
# Usage: tests/size.sh BUILD_DIR [--check]
set -u
cd "$(dirname "$0")/.." || exit 2
B=${1:-build}
CHECK=${2:-}

# Cortex-M4 -Os text of the encoder-only core object, in bytes: 25 % above
# the 10,179 measured (dnstap.h 0.1.0, arm-none-eabi-gcc 12.2.1) when this
# limit was set.
SIZE_LIMIT_TEXT=${SIZE_LIMIT_TEXT:-12700}

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
[ $failed = 0 ] || exit 1

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
echo "RAM (Cortex-M4): dnstap_t $(sym "$O/ram-default.o" ram_dnstap_t) bytes with the defaults," \
     "$(sym "$O/ram-small.o" ram_dnstap_t) with baremetal.c's DNSTAP_MAX_QUEUES=1 DNSTAP_PREFIX_MAX=64;" \
     "dnstap_encoder_t $(sym "$O/ram-default.o" ram_dnstap_encoder_t), dnstap_file_t $(sym "$O/ram-default.o" ram_dnstap_file_t)," \
     "dnstap_reader_t $(sym "$O/ram-default.o" ram_dnstap_reader_t); plus the queue and buffers you give it."
$CC $ARCH $WARN -ffreestanding -DDNSTAP_FREESTANDING -DDNSTAP_NO_DECODE -DDNSTAP_NO_NANOPB_ENCODE $INC \
    -c "$O/core.c" -o "$O/core-enc-ffreestanding.o" || fail "core with -ffreestanding"
echo "Undefined in the encoder-only core object: $(arm-none-eabi-nm -u "$O/core-enc.o" | awk '{print $2}' | tr '\n' ' ' | sed 's/ $//')" \
     "(with -ffreestanding: $(arm-none-eabi-nm -u "$O/core-enc-ffreestanding.o" | awk '{print $2}' | tr '\n' ' ' | sed 's/ $//'))."

if [ "$CHECK" = --check ]; then
    set -- $(tdb "$O/core-enc.o")
    if [ "$1" -le "$SIZE_LIMIT_TEXT" ]; then
        echo "PASS: size: Cortex-M4 -Os encoder-only core: $1 bytes of text <= limit $SIZE_LIMIT_TEXT"
    else
        echo "FAIL: size: Cortex-M4 -Os encoder-only core: $1 bytes of text > limit $SIZE_LIMIT_TEXT"
        failed=1
    fi
fi
exit $failed
