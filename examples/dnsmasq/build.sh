#!/bin/sh
# Fetch Debian's dnsmasq 2.90 source (fetch.sh), apply dnsmasq-dnstap.patch,
# add dnstap.c and ../../dnstap.h, and build it. Prints the binary's path.
#   examples/dnsmasq/build.sh [DIR]      DIR: where to work (build/dnsmasq)
# Environment: CC, CFLAGS (default -O2), TLS=1 for tls:// endpoints (links
# Mbed TLS), DNSTAP_H (default: the dnstap.h of this tree).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:-build/dnsmasq}
src=$("$here/fetch.sh" "$dir")
tree="$dir/dnsmasq-2.90-dnstap"
rm -rf "$tree"
cp -a "$src" "$tree"
(cd "$tree" && patch -s -p1 <"$here/dnsmasq-dnstap.patch")
cp "$here/dnstap.c" "$tree/src/dnstap.c"
cp "${DNSTAP_H:-$here/../../dnstap.h}" "$tree/src/dnstap.h"
copts="-DHAVE_DNSTAP"
libs=""
if [ "${TLS:-0}" = 1 ]; then
    copts="$copts -DDNSTAP_WITH_MBEDTLS"
    libs="-lmbedtls -lmbedx509 -lmbedcrypto"
fi
make -s -C "$tree" CC="${CC:-cc}" CFLAGS="${CFLAGS:--O2} -Wall -W" COPTS="$copts" LIBS="$libs" \
    >"$dir/build.log" 2>&1 || { tail -30 "$dir/build.log" >&2; exit 1; }
echo "$tree/src/dnsmasq"
