#!/bin/sh
# The capture example as a TLS receiver (Mbed TLS server side): a producer
# over tls:// (tests/tap_client.c built with -DTAP_CLIENT_TLS) with the CA,
# and with mutual TLS; a client without a certificate is refused when the
# capture requires one; the dtap tool (capture.c's receiver) over mutual TLS.
# Usage: tests/capture_tls.sh BUILD_DIR     Prints PASS:/FAIL: lines.
set -u
cd "$(dirname "$0")/.." || exit 2
B=${1:?usage: tests/capture_tls.sh BUILD_DIR}
mkdir -p "$B" || exit 2
T=$(mktemp -d "$B/capture_tls.XXXXXX")
PIDS=""
cleanup() { for p in $PIDS; do kill "$p" 2>/dev/null; done; rm -rf "$T"; }
trap cleanup EXIT INT TERM
failed=0
pass() { echo "PASS: capture TLS: $*"; }
fail() { echo "FAIL: capture TLS: $*"; failed=1; }
# another Mbed TLS than Debian's: MBEDTLS_CFLAGS and MBEDTLS_LIBS, as in tests/tls.sh
TLSLIBS=${MBEDTLS_LIBS:--lmbedtls -lmbedx509 -lmbedcrypto}
SAN="-g -O1 -fsanitize=address,undefined -fno-sanitize-recover=all ${MBEDTLS_CFLAGS:-}"
clang -std=c99 -Wall -Wextra -Werror -pedantic $SAN -DDNSTAP_WITH_MBEDTLS -I. examples/capture.c \
    -o "$T/capture" -lprotobuf-nanopb $TLSLIBS || { fail "build capture"; exit 1; }
clang -std=c99 -Wall -Wextra -Werror -pedantic $SAN -DDNSTAP_WITH_MBEDTLS -pthread -I. examples/dtap.c \
    -o "$T/dtap" -lprotobuf-nanopb $TLSLIBS || { fail "build dtap"; exit 1; }
clang -std=c99 -Wall -Wextra -Werror -pedantic $SAN -DTAP_CLIENT_TLS -pthread -I. tests/tap_client.c \
    -o "$T/tap_client" -lprotobuf-nanopb $TLSLIBS || { fail "build tap_client -DTAP_CLIENT_TLS"; exit 1; }

# a CA, a server certificate for 127.0.0.1, a client certificate
cd "$T" || exit 2
ec="-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
openssl req -x509 $ec -keyout ca.key -out ca.pem -days 30 -subj /CN=capture-test-ca 2>/dev/null &&
openssl req $ec -keyout srv.key -out srv.csr -subj /CN=localhost 2>/dev/null &&
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > srv.ext &&
openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 30 -extfile srv.ext 2>/dev/null &&
openssl req $ec -keyout cli.key -out cli.csr -subj /CN=producer 2>/dev/null &&
openssl x509 -req -in cli.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out cli.pem -days 30 2>/dev/null ||
    { fail "certificates"; exit 1; }
cd - >/dev/null || exit 2

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# run NAME CAPTURE_TLS_OPTIONS -- CLIENT_TLS_OPTIONS: capture (or $RECEIVER) + 500 messages
RECEIVER=capture
run() {
    name=$1; shift
    copts=""; while [ "$1" != "--" ]; do copts="$copts $1"; shift; done; shift
    port=$(free_port)
    "$T/$RECEIVER" -l "127.0.0.1:$port" $copts -w "$T/$name.dnstap" 2>"$T/$name.capture.err" &
    cpid=$!; PIDS="$PIDS $cpid"
    i=0; while [ $i -lt 50 ] && ! grep -q "listening" "$T/$name.capture.err"; do sleep 0.1; i=$((i+1)); done
    "$T/tap_client" -e "tls://127.0.0.1:$port" "$@" -n 500 -q 4194304 -t 1000 -b 100 -W 5000 -d 300 -a "$T/$name.acc" >"$T/$name.out" 2>"$T/$name.err"
    echo $? > "$T/$name.rc"
    kill "$cpid" 2>/dev/null; wait "$cpid" 2>/dev/null
}
val() { sed -n "s/^$2=//p" "$T/$1.out" | tail -n 1; }

run good -c "$T/srv.pem" -k "$T/srv.key" -- --ca "$T/ca.pem"
if [ "$(cat "$T/good.rc")" = 0 ] && [ "$(val good sent)" = 500 ] &&
   "$T/tap_client" --check "$T/good.acc" --exact 500 "$T/good.dnstap" >"$T/good.check" 2>&1 &&
   dnstap -r "$T/good.dnstap" -q 2>/dev/null | grep -c . | grep -qx 500; then
    pass "500 messages over TLS, verified against the CA, in order, whole; dnstap -r reads the file"
else
    fail "good chain: rc $(cat "$T/good.rc"), sent $(val good sent); $(tail -n 2 "$T/good.check" 2>/dev/null)"
fi

run mutual -c "$T/srv.pem" -k "$T/srv.key" -a "$T/ca.pem" -- --ca "$T/ca.pem" --cert "$T/cli.pem" --key "$T/cli.key"
if [ "$(val mutual sent)" = 500 ] &&
   "$T/tap_client" --check "$T/mutual.acc" --exact 500 "$T/mutual.dnstap" >"$T/mutual.check" 2>&1; then
    pass "mutual TLS: a client with a certificate from the CA delivers all 500"
else
    fail "mutual TLS: sent $(val mutual sent); $(tail -n 2 "$T/mutual.check" 2>/dev/null)"
fi

run nocert -c "$T/srv.pem" -k "$T/srv.key" -a "$T/ca.pem" -- --ca "$T/ca.pem"
if [ "$(val nocert sent)" = 0 ] && grep -q "TLS" "$T/nocert.capture.err"; then
    pass "a client without a certificate is refused when one is required (sent 0; $(grep -m1 TLS "$T/nocert.capture.err" | cut -c1-100))"
else
    fail "no client certificate: sent $(val nocert sent)"
fi
# the dtap tool receives TLS with the same code: -c CERT -k KEY, and -A CA for mutual TLS
RECEIVER=dtap
run dtap -c "$T/srv.pem" -k "$T/srv.key" -A "$T/ca.pem" -- --ca "$T/ca.pem" --cert "$T/cli.pem" --key "$T/cli.key"
if [ "$(cat "$T/dtap.rc")" = 0 ] && [ "$(val dtap sent)" = 500 ] &&
   "$T/tap_client" --check "$T/dtap.acc" --exact 500 "$T/dtap.dnstap" >"$T/dtap.check" 2>&1 &&
   dnstap -r "$T/dtap.dnstap" -q 2>/dev/null | grep -c . | grep -qx 500; then
    pass "dtap -l ADDR -c CERT -k KEY -A CA -w FILE: 500 messages over mutual TLS, in order, whole; dnstap -r reads the file"
else
    fail "dtap over TLS: rc $(cat "$T/dtap.rc"), sent $(val dtap sent); $(tail -n 2 "$T/dtap.check" 2>/dev/null) $(tail -n 2 "$T/dtap.capture.err" | tr '\n' ' ')"
fi
[ $failed = 0 ]
