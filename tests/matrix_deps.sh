#!/bin/sh
# What tests/matrix.sh, tests/size.sh and tests/stack.sh need, on Debian 12:
# the Debian packages of each group (installed with apt-get when we are
# root, else named), and third-party files fetched into the build directory
# at build time, never committed:
#   BUILD/matrix/third_party/sysroot-i386, sysroot-s390x
#       libnanopb-dev for i386 and s390x, unpacked with dpkg-deb -x
#       (installing libnanopb-dev:s390x with apt conflicts with the cross
#       toolchain);
#   BUILD/matrix/third_party/nanopb-src
#       nanopb's pb_*.c from Debian's source package (apt-get source), for
#       Cortex-M builds with the decoder or nanopb's encoder;
#   BUILD/matrix/third_party/m4-include
#       copies of /usr/include/pb*.h: the embedded schema includes pb.h even
#       in encoder-only builds, and -I/usr/include would mix the host's libc
#       headers into a cross build.
# Foreign packages and sources come through a private apt state under
# BUILD/matrix/third_party/apt (its own sources list with [arch=i386,s390x]
# and a deb-src line, its own lists and cache): no `dpkg --add-architecture`,
# no deb-src entry added to the system, and no root needed for this part.
# The same version as the installed libnanopb-dev is fetched.
#
# Usage: matrix_deps.sh BUILD_DIR GROUP...
#   GROUP: host m32 s390x m4 tools (packages), i386-nanopb s390x-nanopb
#   nanopb-src m4-include (files). Prints nothing on success unless it
#   installs or fetches something; exits non-zero with the reason otherwise.
#
# Package notes: gcc-multilib, common on developer machines, conflicts with
# every gcc-N-s390x-linux-gnu in Debian 12 (apt removes one to install the
# other). So the big-endian target is built with clang --target=s390x-linux-gnu
# (S390X_CC), which finds Debian's cross sysroot by itself: libc6-dev-s390x-cross
# (headers, crt files, libc.a), libgcc-12-dev-s390x-cross (crtbegin.o,
# libgcc.a) and binutils-s390x-linux-gnu (the linker); none of them conflicts
# with gcc-multilib. -m32 uses gcc-12-multilib + libc6-dev-i386 and a build-dir
# include folder whose asm -> /usr/include/x86_64-linux-gnu/asm link stands in
# for the one gcc-multilib would add (it works with gcc-multilib installed too).
set -u
B=${1:?usage: matrix_deps.sh BUILD_DIR GROUP...}
shift
T=$B/matrix/third_party
mkdir -p "$T"
T=$(cd "$T" && pwd)

pkgs_host="make gcc g++ clang libclang-rt-14-dev valgrind binutils nanopb libnanopb-dev"
pkgs_m32="gcc-12-multilib libc6-dev-i386"
pkgs_s390x="clang libc6-dev-s390x-cross libgcc-12-dev-s390x-cross binutils-s390x-linux-gnu qemu-user"
pkgs_m4="gcc-arm-none-eabi libnewlib-arm-none-eabi"
pkgs_tools="fstrm-bin golang-github-dnstap-golang-dnstap-cli python3"
pkgs_fetch="dpkg-dev ca-certificates"

install_pkgs() {
    missing=""
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
    done
    [ -z "$missing" ] && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "matrix_deps: installing:$missing"
        export DEBIAN_FRONTEND=noninteractive
        log=$T/apt-install.log
        # Never let apt resolve a conflict by removing what is installed.
        if ! apt-get install -y --no-install-recommends --no-remove $missing >"$log" 2>&1; then
            apt-get update >>"$log" 2>&1
            apt-get install -y --no-install-recommends --no-remove $missing >>"$log" 2>&1 || {
                echo "matrix_deps: apt-get install failed (see $log):$missing" >&2; return 1; }
        fi
        return 0
    fi
    echo "matrix_deps: missing Debian packages:$missing (install them as root)" >&2
    return 1
}

# A private apt state for foreign-architecture packages and sources.
APT_DIR=$T/apt
apt_private() {
    apt-get -q -o Dir::State::Lists="$APT_DIR/lists" -o Dir::Cache="$APT_DIR/cache" \
        -o Dir::Etc::SourceList="$APT_DIR/sources.list" -o Dir::Etc::SourceParts=/nonexistent \
        -o APT::Architectures::=i386 -o APT::Architectures::=s390x \
        -o APT::Sandbox::User="$(id -un)" -o Debug::NoLocking=1 "$@"
}

apt_private_ready() {
    [ -f "$APT_DIR/updated" ] && return 0
    install_pkgs $pkgs_fetch || return 1
    mkdir -p "$APT_DIR/lists/partial" "$APT_DIR/cache/archives/partial"
    # The system's Debian mirror and release, else deb.debian.org.
    mirror=$(grep -h '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' |
             grep -v security | grep '/debian/*$' | head -n 1)
    [ -n "$mirror" ] || mirror=$(grep -h '^deb ' /etc/apt/sources.list 2>/dev/null | awk '$0 !~ /security/ {
             for (i = 2; i <= NF; i++) if ($i ~ /^(https?|file):/) { print $i; exit } }')
    [ -n "$mirror" ] || mirror=http://deb.debian.org/debian
    suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
    key=/usr/share/keyrings/debian-archive-keyring.gpg
    {
        echo "deb [arch=i386,s390x signed-by=$key] $mirror $suite main"
        echo "deb [arch=i386,s390x signed-by=$key] $mirror $suite-updates main"
        echo "deb-src [signed-by=$key] $mirror $suite main"
        echo "deb-src [signed-by=$key] $mirror $suite-updates main"
    } >"$APT_DIR/sources.list"
    echo "matrix_deps: apt-get update (private lists for i386, s390x and sources, under $APT_DIR)"
    apt_private update >"$APT_DIR/update.log" 2>&1 || {
        echo "matrix_deps: apt-get update failed (see $APT_DIR/update.log)" >&2; return 1; }
    touch "$APT_DIR/updated"
}

nanopb_version() {
    dpkg-query -W -f='${Version}' libnanopb-dev 2>/dev/null
}

fetch_foreign_nanopb() {   # ARCH
    arch=$1
    root=$T/sysroot-$arch
    [ -f "$root/.done" ] && return 0
    apt_private_ready || return 1
    ver=$(nanopb_version)
    mkdir -p "$T/deb"
    echo "matrix_deps: apt-get download libnanopb-dev:$arch${ver:+=$ver}"
    (cd "$T/deb" && apt_private download "libnanopb-dev:$arch${ver:+=$ver}") >"$T/deb/$arch.log" 2>&1 ||
        (cd "$T/deb" && apt_private download "libnanopb-dev:$arch") >>"$T/deb/$arch.log" 2>&1 || {
            echo "matrix_deps: cannot download libnanopb-dev:$arch (see $T/deb/$arch.log)" >&2; return 1; }
    rm -rf "$root"
    mkdir -p "$root"
    for deb in "$T"/deb/libnanopb-dev_*_"$arch".deb; do :; done
    dpkg-deb -x "$deb" "$root" || return 1
    ls "$root"/usr/lib/*/libprotobuf-nanopb.a >/dev/null 2>&1 || {
        echo "matrix_deps: $deb has no libprotobuf-nanopb.a" >&2; return 1; }
    touch "$root/.done"
}

fetch_nanopb_src() {
    dst=$T/nanopb-src
    [ -f "$dst/pb_decode.c" ] && return 0
    apt_private_ready || return 1
    ver=$(nanopb_version)
    rm -rf "$T/srcpkg" "$dst"
    mkdir -p "$T/srcpkg"
    echo "matrix_deps: apt-get source nanopb${ver:+=$ver}"
    (cd "$T/srcpkg" && { apt_private source --download-only "nanopb${ver:+=$ver}" ||
                         apt_private source --download-only nanopb; } &&
        dpkg-source --no-check -x nanopb_*.dsc tree) >"$T/srcpkg/source.log" 2>&1 || {
        echo "matrix_deps: apt-get source nanopb failed (see $T/srcpkg/source.log)" >&2; return 1; }
    mkdir -p "$dst"
    cp "$T"/srcpkg/tree/pb.h "$T"/srcpkg/tree/pb_*.h "$T"/srcpkg/tree/pb_*.c "$dst"/ || return 1
}

m4_include() {
    dst=$T/m4-include
    [ -f "$dst/pb.h" ] && return 0
    mkdir -p "$dst"
    cp /usr/include/pb.h /usr/include/pb_common.h /usr/include/pb_encode.h /usr/include/pb_decode.h "$dst"/
}

m32_include() {
    dst=$T/m32-include
    [ -e "$dst/asm" ] && return 0
    mkdir -p "$dst"
    ln -sfn /usr/include/x86_64-linux-gnu/asm "$dst/asm"
}

rc=0
for g in "$@"; do
    case $g in
        host) install_pkgs $pkgs_host || rc=1 ;;
        m32) { install_pkgs $pkgs_host $pkgs_m32 && m32_include; } || rc=1 ;;
        s390x) install_pkgs $pkgs_s390x || rc=1 ;;
        m4) install_pkgs $pkgs_m4 || rc=1 ;;
        tools) install_pkgs $pkgs_tools || rc=1 ;;
        i386-nanopb) fetch_foreign_nanopb i386 || rc=1 ;;
        s390x-nanopb) fetch_foreign_nanopb s390x || rc=1 ;;
        nanopb-src) fetch_nanopb_src || rc=1 ;;
        m4-include) { install_pkgs libnanopb-dev && m4_include; } || rc=1 ;;
        *) echo "matrix_deps: unknown group '$g'" >&2; rc=2 ;;
    esac
done
# Everything fetched: the private package lists (about 60 MB) are not
# needed any more.
if [ -f "$T/sysroot-i386/.done" ] && [ -f "$T/sysroot-s390x/.done" ] && [ -f "$T/nanopb-src/pb_decode.c" ] &&
   [ -d "$APT_DIR/lists" ]; then
    rm -rf "$APT_DIR/lists" "$APT_DIR/cache" "$APT_DIR/updated"
fi
exit $rc
