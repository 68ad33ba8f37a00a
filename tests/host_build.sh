#!/bin/sh
# Builds that fit a host, for `make test`.
#
#   tests/host_build.sh BUILD_DIR
#
#   include order   a host file that defines _GNU_SOURCE, _DEFAULT_SOURCE or
#                   neither, then includes the implementation before or after
#                   its own system headers, and uses what those headers give
#                   it (`uint`, as dnsmasq does; struct in6_pktinfo with
#                   _GNU_SOURCE): compiles and links with gcc and clang, in
#                   gnu99 (the compilers' default dialect) and strict c99.
#                   The one combination where the host's own headers hide
#                   POSIX (strict c99, no macro, dnstap.h last) stops with
#                   dnstap.h's #error that says what to do.
#   encode only     DNSTAP_NO_DECODE + DNSTAP_NO_NANOPB_ENCODE, live tap and
#                   sockets included, compiles where every nanopb header is
#                   replaced by one that #errors, links without the nanopb
#                   runtime and references no pb_ symbol; the same file
#                   without the two macros hits the poisoned header (so the
#                   check can fail).
#   no sockets      DNSTAP_NO_SOCKETS (with the writer thread): a custom
#                   transport still has the clock, dnstap_run() and the
#                   thread; the flush policy's deadline comes, the frame is
#                   written; an endpoint is refused with the reason.
# Prints "PASS: name" / "FAIL: name: why"; exits 1 if anything failed.
set -u
. "$(dirname "$0")/lib.sh"
D="$build/host_build"
mkdir -p "$D/poison"
WARN="-Wall -Wextra -Werror"

cat >"$D/host.c" <<'EOF'
#ifdef HOST_GNU
#define _GNU_SOURCE
#endif
#ifdef HOST_DEFAULT
#define _DEFAULT_SOURCE
#endif
#ifdef DNSTAP_FIRST
#define DNSTAP_IMPLEMENTATION
#include "dnstap.h"
#endif
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#ifndef DNSTAP_FIRST
#define DNSTAP_IMPLEMENTATION
#include "dnstap.h"
#endif
#ifdef HOST_USES_MISC
static uint host_counter;              /* a BSD/SVID name, as in dnsmasq */
#endif
#ifdef HOST_GNU
static struct in6_pktinfo host_pktinfo; /* needs _GNU_SOURCE */
#endif
static uint8_t queue[4096];
int main(void) {
    dnstap_t *tap = (dnstap_t *)calloc(1, sizeof *tap);
    dnstap_desc_t d;
    memset(&d, 0, sizeof d);
    d.endpoint = "unix:///nonexistent/dnstap.sock";
    d.queue = queue;
    d.queue_size = sizeof queue;
#ifdef HOST_USES_MISC
    host_counter++;
#endif
#ifdef HOST_GNU
    host_pktinfo.ipi6_ifindex = 1;
#endif
    return tap == NULL || dnstap_init(tap, &d) != DNSTAP_OK;
}
EOF
# calloc: stdlib.h comes with the implementation; add it for the host too
sed -i 's|#include <unistd.h>|#include <unistd.h>\n#include <stdlib.h>|' "$D/host.c"

ok=0 total=0 errs=""
for cc in gcc clang; do
    for std in gnu99 c99; do
        for macro in GNU DEFAULT none; do
            for order in first last; do
                flags="-std=$std"
                [ "$std" = c99 ] && flags="$flags -pedantic"   # gnu99 is not ISO C: no -pedantic
                [ "$macro" != none ] && flags="$flags -DHOST_$macro"
                [ "$order" = first ] && flags="$flags -DDNSTAP_FIRST"
                # the host uses BSD/SVID names where its headers would give them without dnstap.h
                { [ "$std" = gnu99 ] || [ "$macro" != none ]; } && flags="$flags -DHOST_USES_MISC"
                total=$((total + 1))
                out="$D/host-$cc-$std-$macro-$order"
                if [ "$std" = c99 ] && [ "$macro" = none ] && [ "$order" = last ]; then
                    if ! $cc $WARN $flags -I. "$D/host.c" -o "$out" -lprotobuf-nanopb >"$out.log" 2>&1 &&
                        grep -q 'dnstap.h: a strict C build (-std=c99) hid the POSIX declarations' "$out.log"; then
                        ok=$((ok + 1))
                    else
                        errs="$errs; $cc $flags: no clear #error"
                    fi
                elif $cc $WARN $flags -I. "$D/host.c" -o "$out" -lprotobuf-nanopb >"$out.log" 2>&1 && "$out"; then
                    ok=$((ok + 1))
                else
                    errs="$errs; $cc $flags: $(grep -m1 error "$out.log")"
                fi
            done
        done
    done
done
if [ "$ok" = "$total" ]; then
    pass "include order: $total builds (gcc, clang x gnu99, c99 x _GNU_SOURCE, _DEFAULT_SOURCE, none x dnstap.h first, last) compile and run, or give the clear #error"
else
    fail "include order" "$((total - ok)) of $total:${errs#;}"
fi

for h in pb.h pb_common.h pb_encode.h pb_decode.h; do
    echo "#error \"nanopb header $h included\"" >"$D/poison/$h"
done
ENC="-DDNSTAP_NO_DECODE -DDNSTAP_NO_NANOPB_ENCODE"
if gcc $WARN -std=c99 -pedantic -Os $ENC -DDNSTAP_FIRST -I"$D/poison" -I. "$D/host.c" -o "$D/encode_only" >"$D/encode_only.log" 2>&1 &&
    "$D/encode_only"; then
    if nm "$D/encode_only" | grep -q ' pb_'; then
        fail "encode only" "references nanopb: $(nm "$D/encode_only" | grep ' pb_' | head -n 3 | tr '\n' ' ')"
    else
        pass "encode only (live tap included): no nanopb header reachable, no nanopb runtime linked"
    fi
else
    fail "encode only" "$(grep -m2 error "$D/encode_only.log")"
fi
if gcc $WARN -std=c99 -pedantic -Os -DDNSTAP_FIRST -I"$D/poison" -I. "$D/host.c" -o "$D/full_build" >"$D/full_build.log" 2>&1; then
    fail "encode only: control" "a full build compiled with the poisoned nanopb headers"
else
    grep -q 'nanopb header pb.h included' "$D/full_build.log" &&
        pass "encode only: control: a full build includes pb.h (the poisoned one)" ||
        fail "encode only: control" "$(grep -m1 error "$D/full_build.log")"
fi
cat >"$D/nosockets.c" <<'EOF'
#define DNSTAP_IMPLEMENTATION
#include "dnstap.h"
#include <stdio.h>
#include <string.h>
static uint8_t queue[4096];
static size_t taken;
static char said[200];
static dnstap_result_t mem_connect(void *c) { (void)c; return DNSTAP_OK; }
static int mem_write(void *c, const uint8_t *b, size_t n) { (void)c; (void)b; taken += n; return (int)n; }
static void mem_close(void *c) { (void)c; }
static void logger(void *c, dnstap_log_level_t l, const char *m) { (void)c; (void)l; snprintf(said, sizeof said, "%s", m); }
int main(void) {
    static dnstap_t tap;
    dnstap_desc_t d;
    dnstap_msg_t m;
    uint64_t t0 = dnstap_clock_ms();
    memset(&d, 0, sizeof d);
    d.queue = queue;
    d.queue_size = sizeof queue;
    d.unidirectional = true;
    d.logger.func = logger;
    d.endpoint = "unix:///run/dnstap.sock";
    if (dnstap_init(&tap, &d) != DNSTAP_ERR_UNSUPPORTED || !strstr(said, "DNSTAP_NO_SOCKETS")) {
        printf("an endpoint: not refused with the reason (\"%s\")\n", said);
        return 1;
    }
    d.endpoint = NULL;
    d.transport.connect = mem_connect;
    d.transport.write = mem_write;
    d.transport.close = mem_close;
    if (dnstap_init(&tap, &d) != DNSTAP_OK) return 2;
    memset(&m, 0, sizeof m);
    m.type = DNSTAP_CLIENT_QUERY;
    if (dnstap_log(&tap, &m) != DNSTAP_OK) return 3;
    if (dnstap_run(&tap, 200) != DNSTAP_ERR_TIMEOUT || dnstap_stats(&tap).sent != 1 || dnstap_clock_ms() - t0 < 150) {
        printf("dnstap_run(): %llu sent, clock moved %llu ms\n", (unsigned long long)dnstap_stats(&tap).sent,
               (unsigned long long)(dnstap_clock_ms() - t0));
        return 4;
    }
    if (dnstap_thread_start(&tap) != DNSTAP_OK || dnstap_log(&tap, &m) != DNSTAP_OK ||
        dnstap_thread_stop(&tap) != DNSTAP_OK || !dnstap_closed(&tap) || dnstap_stats(&tap).sent != 2) {
        printf("writer thread: %llu sent\n", (unsigned long long)dnstap_stats(&tap).sent);
        return 5;
    }
    printf("%zu bytes written\n", taken);
    return 0;
}
EOF
out=
if gcc $WARN -std=c99 -pedantic -DDNSTAP_NO_SOCKETS -DDNSTAP_WITH_THREAD -I. "$D/nosockets.c" -o "$D/nosockets" \
        -lprotobuf-nanopb -pthread >"$D/nosockets.log" 2>&1 && out=$("$D/nosockets" 2>&1); then
    pass "no sockets (DNSTAP_NO_SOCKETS): a custom transport has the clock, dnstap_run() and the writer thread ($out); an endpoint is refused with the reason"
else
    fail "no sockets" "$(grep -m1 error "$D/nosockets.log") $out"
fi
exit $((fails > 0))

