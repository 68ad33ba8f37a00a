#!/bin/sh
# Projects that consume dnstap.h the three usual ways, each building
# tests/consumer.c twice (plain and with the TLS build) and running it; the
# file it writes is read back by golang-dnstap's `dnstap -r`:
#   find_package      CMake, against `make install PREFIX=<temporary prefix>`
#   add_subdirectory  CMake, on the source tree (cmake/CMakeLists.txt)
#   pkg-config        a Makefile project, dnstap.pc and dnstap-mbedtls.pc
# Also: `make install DESTDIR=... PREFIX=...` stages the files with PREFIX in
# them, and `make uninstall` removes them; find_package refuses a version
# this is not.
# Usage: tests/consumers.sh BUILD_DIR
set -u
. "$(dirname "$0")/lib.sh"
need cmake pkg-config make cc dnstap
src=$(pwd)
T=$build/consumers
rm -rf "$T"
mkdir -p "$T/app"
cp tests/consumer.c "$T/app/"

# run_consumer NAME EXE TLS: the program runs, its file reads back with the
# identity NAME, and the TLS build says so
run_consumer() {
    name=$1 exe=$2 tls=$3
    if ! "$exe" "$T/$name.dnstap" "$name" >"$T/$name.out" 2>&1; then
        fail "$name" "run: $(tr '\n' ' ' <"$T/$name.out")"; return
    fi
    if [ "$tls" = tls ] && ! grep -q '^consumer: tls:// with a missing CA file: invalid' "$T/$name.out"; then
        fail "$name" "not the TLS build: $(tr '\n' ' ' <"$T/$name.out")"; return
    fi
    got=$(dnstap -r "$T/$name.dnstap" -y 2>/dev/null | sed -n 's/^identity: "\(.*\)"$/\1/p')
    if [ "$got" = "$name" ]; then pass "$name: builds, runs, dnstap -r reads its file"
    else fail "$name" "dnstap -r read identity '$got'"; fi
}

# ---- make install with DESTDIR and PREFIX; make uninstall
stage=$T/stage
if make -s install B="$build" DESTDIR="$stage" PREFIX=/opt/dnstap >"$T/stage.log" 2>&1 &&
   [ -x "$stage/opt/dnstap/bin/dtap" ] && [ -f "$stage/opt/dnstap/include/dnstap.h" ] && [ -f "$stage/opt/dnstap/share/dnstap/dnstap.proto" ] &&
   [ -f "$stage/opt/dnstap/share/cmake/dnstap/dnstapConfig.cmake" ] &&
   [ -f "$stage/opt/dnstap/share/cmake/dnstap/dnstapConfigVersion.cmake" ] &&
   grep -qx 'prefix=/opt/dnstap' "$stage/opt/dnstap/share/pkgconfig/dnstap.pc" &&
   grep -qx 'prefix=/opt/dnstap' "$stage/opt/dnstap/share/pkgconfig/dnstap-mbedtls.pc"; then
    pass "make install DESTDIR=... PREFIX=/opt/dnstap: staged with prefix /opt/dnstap"
else
    fail "make install DESTDIR PREFIX" "$(cat "$T/stage.log"; find "$stage" -type f | tr '\n' ' ')"
fi
make -s uninstall B="$build" DESTDIR="$stage" PREFIX=/opt/dnstap >>"$T/stage.log" 2>&1
left=$(find "$stage" -type f | tr '\n' ' ')
[ -z "$left" ] && pass "make uninstall removes every installed file" || fail "make uninstall" "left $left"

# a PREFIX with a space: installed there (nothing made in the source tree),
# and uninstall removes only what install wrote (it once deleted "$U/My")
U=$T/spaced
mkdir -p "$U"
echo keep >"$U/My"
if make -s install B="$build" PREFIX="$U/My Apps" >"$T/spaced.log" 2>&1 && [ -x "$U/My Apps/bin/dtap" ] &&
   [ -f "$U/My Apps/share/cmake/dnstap/dnstapConfig.cmake" ] && [ ! -e Apps ] &&
   grep -qxF "prefix=$U/My\\ Apps" "$U/My Apps/share/pkgconfig/dnstap.pc"; then
    make -s uninstall B="$build" PREFIX="$U/My Apps" >>"$T/spaced.log" 2>&1
    left=$(find "$U/My Apps" -type f | tr '\n' ' ')
    if [ -f "$U/My" ] && [ -z "$left" ]; then pass "make install/uninstall PREFIX='.../My Apps': installed there, removed, nothing else touched"
    else fail "make uninstall PREFIX with a space" "$([ -f "$U/My" ] || echo "deleted $U/My;") left $left"; fi
else
    fail "make install PREFIX with a space" "$(tail -n 3 "$T/spaced.log" | tr '\n' ' ')$([ -e Apps ] && echo ' (made ./Apps)')"
fi
rm -rf Apps 2>/dev/null

prefix="$T/a prefix"   # CMake takes it with its space; pkg-config output is split by shells, so below
if ! make -s install B="$build" PREFIX="$prefix" >"$T/install.log" 2>&1; then
    fail "make install PREFIX" "$(cat "$T/install.log")"; exit 1
fi

# ---- CMake, find_package
mkdir -p "$T/find"
cat >"$T/find/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.10)
project(consumer C)
find_package(dnstap 0.1 CONFIG REQUIRED COMPONENTS mbedtls)
add_executable(consumer ../app/consumer.c)
target_link_libraries(consumer PRIVATE dnstap::dnstap)
add_executable(consumer_tls ../app/consumer.c)
target_link_libraries(consumer_tls PRIVATE dnstap::dnstap_mbedtls)
CM
CFL="-std=c99 -Wall -Wextra -Werror -pedantic"
if cmake -S "$T/find" -B "$T/find/b" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_FLAGS="$CFL" \
        >"$T/find.log" 2>&1 && cmake --build "$T/find/b" >>"$T/find.log" 2>&1; then
    run_consumer cmake-find-package "$T/find/b/consumer" plain
    run_consumer cmake-find-package-mbedtls "$T/find/b/consumer_tls" tls
else
    fail "cmake find_package" "$(grep -m 5 -iE 'error|warning' "$T/find.log" | tr '\n' ' ')"
fi
# a version this is not is refused
mkdir -p "$T/badver"
sed 's/find_package(dnstap 0.1 /find_package(dnstap 9.0 /' "$T/find/CMakeLists.txt" >"$T/badver/CMakeLists.txt"
if cmake -S "$T/badver" -B "$T/badver/b" -DCMAKE_PREFIX_PATH="$prefix" >"$T/badver.log" 2>&1; then
    fail "cmake find_package(dnstap 9.0)" "accepted version $(grep -m1 -o 'VERSION_STRING "[0-9.]*"' dnstap.h)"
elif v=$(grep -m1 -o 'dnstapConfig.cmake, version: [0-9.]*' "$T/badver.log"); then
    pass "cmake find_package(dnstap 9.0) is refused (${v#*, })"
else
    fail "cmake find_package(dnstap 9.0)" "failed for another reason: $(grep -m 3 -i error "$T/badver.log" | tr '\n' ' ')"
fi

# ---- CMake, add_subdirectory on the source tree
mkdir -p "$T/subdir"
cat >"$T/subdir/CMakeLists.txt" <<CM
cmake_minimum_required(VERSION 3.10)
project(consumer C)
add_subdirectory("$src/cmake" dnstap)
add_executable(consumer ../app/consumer.c)
target_link_libraries(consumer PRIVATE dnstap::dnstap)
add_executable(consumer_tls ../app/consumer.c)
target_link_libraries(consumer_tls PRIVATE dnstap::dnstap_mbedtls)
CM
if cmake -S "$T/subdir" -B "$T/subdir/b" -DCMAKE_C_FLAGS="$CFL" >"$T/subdir.log" 2>&1 &&
   cmake --build "$T/subdir/b" >>"$T/subdir.log" 2>&1; then
    run_consumer cmake-add-subdirectory "$T/subdir/b/consumer" plain
    run_consumer cmake-add-subdirectory-mbedtls "$T/subdir/b/consumer_tls" tls
else
    fail "cmake add_subdirectory" "$(grep -m 5 -iE 'error|warning' "$T/subdir.log" | tr '\n' ' ')"
fi

# ---- a Makefile project, pkg-config
mkdir -p "$T/pc"
cat >"$T/pc/Makefile" <<'MK'
CFLAGS = -std=c99 -Wall -Wextra -Werror -pedantic -O2
all: consumer consumer_tls
consumer: ../app/consumer.c
	$(CC) $(CFLAGS) $$(pkg-config --cflags dnstap) $< -o $@ $$(pkg-config --libs dnstap)
consumer_tls: ../app/consumer.c
	$(CC) $(CFLAGS) $$(pkg-config --cflags dnstap-mbedtls) $< -o $@ $$(pkg-config --libs dnstap-mbedtls)
MK
pcprefix=$T/prefix
make -s install B="$build" PREFIX="$pcprefix" >>"$T/install.log" 2>&1
if PKG_CONFIG_PATH="$pcprefix/share/pkgconfig" make -C "$T/pc" >"$T/pc.log" 2>&1; then
    run_consumer pkg-config "$T/pc/consumer" plain
    run_consumer pkg-config-mbedtls "$T/pc/consumer_tls" tls
else
    fail "pkg-config Makefile" "$(grep -m 5 -iE 'error|warning|not found' "$T/pc.log" | tr '\n' ' ')"
fi
exit $((fails > 0))
