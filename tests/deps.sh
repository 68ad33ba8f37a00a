#!/bin/sh
# Make sure the Debian packages a target needs are installed: install the
# missing ones with apt-get when we can (root), else name them and fail.
# Usage: tests/deps.sh build|test|bench|fuzz
set -u
build="nanopb libnanopb-dev libmbedtls-dev"
test_="$build make gcc g++ clang cmake pkg-config libclang-rt-14-dev valgrind binutils golang-github-dnstap-golang-dnstap-cli fstrm-bin protobuf-compiler python3-protobuf socat knot-dnsutils openssl python3-yaml dpkg-dev patch
       qemu-system-arm gcc-arm-none-eabi libnewlib-arm-none-eabi
       qemu-system-misc gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf liblwip-dev iproute2
       llvm lld libc6-dev-mipsel-cross libc6-dev-armhf-cross libc6-dev-arm64-cross
       libgcc-12-dev-mipsel-cross libgcc-12-dev-armhf-cross libgcc-12-dev-arm64-cross"
bench="$build valgrind time golang-github-dnstap-golang-dnstap-cli fstrm-bin libprotobuf-c-dev protobuf-c-compiler libfstrm-dev dnsperf strace knot-dnsutils dpkg-dev patch"
fuzz="$build clang libclang-rt-14-dev"
case "${1:-build}" in
    build) want=$build ;; test) want=$test_ ;; bench) want=$bench ;; fuzz) want=$fuzz ;;
    demo) want="$build make gcc clang libclang-rt-14-dev knot-dnsutils fstrm-bin golang-github-dnstap-golang-dnstap-cli" ;;
    *) echo "deps: unknown set '$1'" >&2; exit 2 ;;
esac
missing=""
for p in $want; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "deps: installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y --no-install-recommends $missing >/tmp/dnstap-deps.log 2>&1; then
        apt-get update >/dev/null 2>&1
        apt-get install -y --no-install-recommends $missing >/tmp/dnstap-deps.log 2>&1 || {
            echo "deps: apt-get install failed (see /tmp/dnstap-deps.log); missing:$missing" >&2; exit 1; }
    fi
    exit 0
fi
echo "deps: missing Debian packages:$missing" >&2
echo "deps: install them with: sudo apt-get install$missing" >&2
exit 1
