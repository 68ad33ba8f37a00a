#!/bin/sh
# End-to-end tests of the tls:// transport (DNSTAP_WITH_MBEDTLS) against a
# real TLS terminator: socat's OPENSSL-LISTEN on 127.0.0.1 in front of
# fstrm_capture on a unix socket, so the Frame Streams handshake runs end to
# end through TLS (neither fstrm_capture nor golang-dnstap listens for TLS).
#
#   tests/tls.sh BUILD_DIR
#
# Builds tests/tap_client.c with -DTAP_CLIENT_TLS into BUILD_DIR (gcc, clang
# and g++ -x c++ with warnings as errors; the clang ASan+UBSan build that
# runs the scenarios; a gcc build that counts heap allocations), generates
# certificates with
# openssl (a CA, a server certificate for localhost/127.0.0.1, one from
# another CA, an expired one, one for another name, a client certificate),
# then checks:
#   good      CA file and CA directory; IP endpoint (iPAddress name) and
#             tls_server_name (DNS name, sent as SNI, seen by a recording
#             proxy): every message arrives, decoded with the right values
#             (our reader + decoder, and `dnstap -r -j` as a second opinion);
#             no Frame Streams byte crosses the wire in clear.
#   refused   wrong CA, wrong name (IP and DNS), expired: no connection,
#             every attempt counted in handshake_failures, logged with the
#             reason, retried with growing backoff; the terminator saw failed
#             handshakes, the capture holds no data frame, the client sent
#             only TLS handshake and alert records (recording proxy), and
#             dnstap_log() stayed fast (never blocks).
#   skipverify  connects to the wrong-CA server, and says so in the log.
#   pin       the right pin connects without a CA (also to the expired
#             certificate: no clock needed); a wrong pin is refused.
#   mtls      terminator requires a client certificate: works with
#             tls_cert_file/tls_key_file, refused without.
#   restart   terminator SIGKILLed and restarted 3 times mid-stream:
#             reconnects, capture frame-exact (whole frames, increasing, no
#             duplicates), logged == sent + dropped + queued.
#   close-notify  a Python ssl receiver that refuses an unexpected EOF sees
#             close_notify after STOP/FINISH.
#   suites    the ClientHello offers only TLS 1.3 and ECDHE+AEAD suites
#             (recording proxy); a server (RSA key) offering only
#             TLS-RSA-WITH-AES-128-CBC-SHA and ECDHE-RSA-AES128-SHA is refused;
#             tls_ciphersuites naming such a suite connects to it.
#   plain     plain TCP servers at a tls:// endpoint (fstrm_capture on TCP,
#             one that never answers, one that sends text, one that closes):
#             each attempt is a handshake failure whose log line says the peer
#             does not speak TLS, not a mere timeout.
#   renegotiation  tests/tls_renego.c: a TLS 1.2 receiver (Mbed TLS, in
#             process) asks for renegotiation while the tap's write is
#             blocked: every frame arrives once, whole, in order (the
#             refusal's alert pushed the pending record out, and the
#             retried write sent the same bytes again); the tap does not ask
#             the host to wait for reads meanwhile (it would spin); and
#             (idle) while the tap is idle and its socket full: the refusal
#             waits in Mbed TLS, and the next write sends it, then the data
#             (Mbed TLS's write sent only the alert and said all was taken).
#   allocs    heap allocations per phase (all Mbed TLS's): none per message.
#   init      configuration errors refused by dnstap_init(); without
#             DNSTAP_WITH_MBEDTLS, tls:// is DNSTAP_ERR_UNSUPPORTED.
# Prints "PASS: name" / "FAIL: name: why" and "INFO: ..." lines with the
# figures; exits 1 if any check failed. Files go to BUILD_DIR/tls.XXXXXX,
# kept when something failed.
#
# Another Mbed TLS than Debian's: MBEDTLS_CFLAGS (e.g. -I/opt/mbedtls/include)
# and MBEDTLS_LIBS (its three libraries) are used for every build.
#
# Needs: gcc, g++, clang, libnanopb-dev, libmbedtls-dev, openssl, socat,
# fstrm_capture (fstrm-bin), /usr/bin/python3, ss (iproute2), setsid
# (util-linux), timeout (coreutils); dnstap (golang-dnstap) optional.
set -u

. "$(dirname "$0")/lib.sh"
need gcc g++ clang openssl socat fstrm_capture ss setsid timeout
[ -x "$py" ] || { fail "tools" "$py not found"; exit 1; }
MBEDTLS_CFLAGS=${MBEDTLS_CFLAGS:-}
MBEDTLS_LIBS=${MBEDTLS_LIBS:--lmbedtls -lmbedx509 -lmbedcrypto}
[ -n "$MBEDTLS_CFLAGS" ] || [ -f /usr/include/mbedtls/ssl.h ] || { fail "tools" "libmbedtls-dev not installed"; exit 1; }

T=$(mktemp -d "$build/tls.XXXXXX") || exit 2
S=$T
if [ ${#S} -gt 80 ]; then S=$(mktemp -d /tmp/tls.XXXXXX) || exit 2; fi

# Background processes: receivers and proxies are direct children (PIDS);
# each socat runs in its own process group (setsid) with its forked
# children (PGIDS).
PIDS=""
PGIDS=""
cleanup() {
    for g in $PGIDS; do kill -KILL "-$g" 2>/dev/null; done
    for p in $PIDS; do kill -TERM "$p" 2>/dev/null; done
    wait 2>/dev/null
    if [ "$fails" = 0 ]; then rm -rf "$T"; else echo "INFO: files kept in $T"; fi
    [ "$S" != "$T" ] && rm -rf "$S"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
t_begin=$(date +%s)

# --- build ------------------------------------------------------------------
WARN="-std=c99 -Wall -Wextra -Werror -pedantic -Wconversion -Wsign-conversion -Wshadow -Wcast-qual \
-Wstrict-prototypes -Wmissing-prototypes"
LIBS="-lprotobuf-nanopb $MBEDTLS_LIBS"
SRC="$MBEDTLS_CFLAGS -DTAP_CLIENT_TLS -pthread tests/tap_client.c"
# shellcheck disable=SC2086
info "Mbed TLS $(printf '#include <mbedtls/version.h>\nMBEDTLS_VERSION_STRING\n' | gcc -E -P $MBEDTLS_CFLAGS - | tail -n 1)"
client=$build/tap_client_tls
allocs=$build/tap_client_tls_allocs
b() {   # b NAME COMMAND...: one build, PASS or FAIL
    name=$1
    shift
    if "$@" 2>"$T/cc.err"; then pass "build tap_client -DTAP_CLIENT_TLS ($name, warnings as errors)"
    else fail "build tap_client -DTAP_CLIENT_TLS ($name)" "$(head -n 5 "$T/cc.err" | tr '\n' ' ')"; return 1; fi
}
b "gcc -O2" gcc $WARN -O2 $SRC -o "$build/tap_client_tls_gcc" $LIBS
b "clang -O2" clang $WARN -O2 $SRC -o "$build/tap_client_tls_clang" $LIBS
b "g++ -x c++" g++ -x c++ -std=c++11 -Wall -Wextra -Werror -pedantic -Wconversion -Wsign-conversion -Wshadow \
    -Wcast-qual -O1 $SRC -o "$build/tap_client_tls_cxx" $LIBS
b "clang ASan+UBSan" clang $WARN -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=all $SRC \
    -o "$client" $LIBS || exit 1
b "gcc -O2, allocations counted" gcc $WARN -O2 -DCOUNT_ALLOCS $SRC -o "$allocs" $LIBS || allocs=
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1

# --- certificates --------------------------------------------------------------
C=$T/certs
mkdir -p "$C/newcerts" || exit 2
(
    cd "$C" || exit 1
    key() {
        if [ "${KEYALG:-ec}" = rsa ]; then openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null
        else openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; fi
    }
    root() {
        key "$1.key" &&
        openssl req -x509 -new -key "$1.key" -subj "/CN=$2" -days 2 -out "$1.crt" \
            -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    }
    cat >ca.cnf <<'EOF'
[ca]
default_ca = test
[test]
dir = .
database = $dir/index.txt
new_certs_dir = $dir/newcerts
serial = $dir/serial
default_md = sha256
policy = any
copy_extensions = copy
unique_subject = no
[any]
commonName = supplied
EOF
    : >index.txt
    echo 1000 >serial
    # leaf NAME CN SAN EKU CA [openssl ca options]: `openssl ca` can backdate
    # (-startdate/-enddate), which `openssl x509 -req` in OpenSSL 3.0 cannot.
    leaf() {
        n=$1 cn=$2 san=$3 eku=$4 ca=$5
        shift 5
        key "$n.key" &&
        if [ -n "$san" ]; then
            openssl req -new -key "$n.key" -subj "/CN=$cn" -addext "subjectAltName=$san" \
                -addext "extendedKeyUsage=$eku" -addext "basicConstraints=CA:FALSE" -out "$n.csr"
        else
            openssl req -new -key "$n.key" -subj "/CN=$cn" \
                -addext "extendedKeyUsage=$eku" -addext "basicConstraints=CA:FALSE" -out "$n.csr"
        fi &&
        openssl ca -config ca.cnf -batch -notext -keyfile "$ca.key" -cert "$ca.crt" -in "$n.csr" -out "$n.crt" \
            "$@" 2>"$n.calog"
    }
    root ca "dnstap test CA" && root ca2 "another CA" &&
    leaf server localhost "DNS:localhost,IP:127.0.0.1" serverAuth ca -days 2 &&
    leaf wrongca localhost "DNS:localhost,IP:127.0.0.1" serverAuth ca2 -days 2 &&
    leaf expired localhost "DNS:localhost,IP:127.0.0.1" serverAuth ca \
        -startdate 20200101000000Z -enddate 20200102000000Z &&
    leaf wrongname wrong.example "DNS:wrong.example" serverAuth ca -days 2 &&
    leaf client tap-client "" clientAuth ca -days 2 &&
    KEYALG=rsa leaf rsa localhost "DNS:localhost,IP:127.0.0.1" serverAuth ca -days 2 &&
    mkdir cadir && cp ca.crt cadir/ && echo "not a certificate" >cadir/README
) >"$T/certs.log" 2>&1
if [ -s "$C/rsa.crt" ] && openssl verify -CAfile "$C/ca.crt" "$C/server.crt" "$C/wrongname.crt" \
        "$C/client.crt" "$C/rsa.crt" >/dev/null 2>&1 && ! openssl verify -CAfile "$C/ca.crt" "$C/expired.crt" >/dev/null 2>&1 &&
        ! openssl verify -CAfile "$C/ca.crt" "$C/wrongca.crt" >/dev/null 2>&1; then
    pass "certificates: CA, server (localhost, 127.0.0.1), other CA, expired (2020-01-01..02), other name, client, RSA server"
else
    fail "certificates" "$(tail -n 5 "$T/certs.log" | tr '\n' ' ')"
    exit 1
fi
# pin: SHA-256 of the SubjectPublicKeyInfo (DER)
pin() {
    openssl x509 -in "$C/$1.crt" -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -r |
        cut -d' ' -f1
}
PIN_SERVER=$(pin server)
PIN_EXPIRED=$(pin expired)
PIN_OTHER=$(pin wrongca)

# --- helpers ---------------------------------------------------------------------

free_port() {
    $py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_tcp() {
    i=0
    while ! ss -Hltn "sport = :$1" | grep -q LISTEN && [ $i -lt 50 ]; do sleep 0.05; i=$((i + 1)); done
    ss -Hltn "sport = :$1" | grep -q LISTEN
}
wait_unix() {
    i=0
    while [ ! -S "$1" ] && [ $i -lt 50 ]; do sleep 0.05; i=$((i + 1)); done
    [ -S "$1" ]
}

# socat_start RUN CERT [VERIFY]: the TLS terminator on $PORT, forwarding
# each connection to $SOCK; VERIFY=1 requires a client certificate from
# our CA; $SOCAT_TLS adds socat options. SPGID is its process group.
SOCAT_TLS=""
socat_start() {
    opts="bind=127.0.0.1,reuseaddr,fork,cert=$C/$2.crt,key=$C/$2.key${SOCAT_TLS:+,$SOCAT_TLS}"
    if [ "${3:-0}" = 1 ]; then opts="$opts,verify=1,cafile=$C/ca.crt"; else opts="$opts,verify=0"; fi
    setsid socat -d -d "OPENSSL-LISTEN:$PORT,$opts" "UNIX-CONNECT:$SOCK" >>"$T/$1.socat" 2>&1 &
    SPGID=$!
    PGIDS="$PGIDS $SPGID"
    wait_tcp "$PORT"
}
socat_kill() { kill -"${2:-TERM}" "-$1" 2>/dev/null; wait "$1" 2>/dev/null; }

# term_start RUN CERT [VERIFY]: fstrm_capture on a unix socket, then socat.
term_start() {
    PORT=$(free_port)
    SOCK=$S/$1.sock
    CAP=$T/$1.fstrm
    fstrm_capture -t protobuf:dnstap.Dnstap -u "$SOCK" -w "$CAP" >"$T/$1.fstrm_capture" 2>&1 &
    FPID=$!
    PIDS="$PIDS $FPID"
    wait_unix "$SOCK" || { fail "$1" "fstrm_capture did not listen"; return 1; }
    socat_start "$1" "$2" "${3:-0}" || { fail "$1" "socat did not listen"; return 1; }
}
term_stop() {
    socat_kill "$SPGID"
    kill -TERM "$FPID" 2>/dev/null
    i=0
    while kill -0 "$FPID" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.05; i=$((i + 1)); done
    wait "$FPID" 2>/dev/null
}

# proxy_start RUN: a TCP proxy on $PPORT to $PORT that records what the
# client sends (tests "nothing in clear" and SNI).
proxy_start() {
    PPORT=$(free_port)
    mkdir -p "$T/$1.wire"
    $py "$T/wire.py" proxy "$PPORT" "$PORT" "$T/$1.wire" 2>"$T/$1.proxy.err" &
    PPID_=$!
    PIDS="$PIDS $PPID_"
    wait_tcp "$PPORT" || { fail "$1" "proxy did not listen"; return 1; }
}
proxy_stop() { kill -TERM "$PPID_" 2>/dev/null; wait "$PPID_" 2>/dev/null; }

cat >"$T/wire.py" <<'EOF'
import os, socket, sys, threading
def pump(a, b, rec):
    try:
        while True:
            x = a.recv(65536)
            if not x:
                break
            if rec:
                rec.write(x)
            b.sendall(x)
    except OSError:
        pass
    finally:
        try:
            b.shutdown(socket.SHUT_WR)
        except OSError:
            pass
def proxy(lport, rport, d):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", lport))
    ls.listen(16)
    n = 0
    while True:
        c, _ = ls.accept()
        try:
            u = socket.create_connection(("127.0.0.1", rport))
        except OSError:
            c.close()
            continue
        rec = open(os.path.join(d, "c2s.%03d" % n), "wb", buffering=0)
        n += 1
        threading.Thread(target=pump, args=(c, u, rec), daemon=True).start()
        threading.Thread(target=pump, args=(u, c, None), daemon=True).start()
def sni_of(body):
    # ClientHello body: version, random, session id, suites, compression, extensions
    p = 2 + 32
    p += 1 + body[p]
    p += 2 + int.from_bytes(body[p:p + 2], "big")
    p += 1 + body[p]
    end = p + 2 + int.from_bytes(body[p:p + 2], "big")
    p += 2
    while p + 4 <= end:
        t, l = int.from_bytes(body[p:p + 2], "big"), int.from_bytes(body[p + 2:p + 4], "big")
        if t == 0:
            return body[p + 9:p + 9 + int.from_bytes(body[p + 7:p + 9], "big")].decode()
        p += 4 + l
    return "none"
def suites_of(body):
    p = 2 + 32
    p += 1 + body[p]
    n = int.from_bytes(body[p:p + 2], "big")
    return ["%04x" % int.from_bytes(body[p + 2 + i:p + 4 + i], "big") for i in range(0, n, 2)]
def analyze(d):
    conns, types, snis, clear, bad, suites = 0, {}, set(), 0, 0, set()
    for f in sorted(os.listdir(d)):
        data = open(os.path.join(d, f), "rb").read()
        conns += 1
        if b"protobuf:dnstap" in data or b"tap_client" in data:
            clear += 1
        p, encrypted = 0, False
        while p + 5 <= len(data):
            t, l = data[p], int.from_bytes(data[p + 3:p + 5], "big")
            if t not in (20, 21, 22, 23):
                bad += 1
                break
            types[t] = types.get(t, 0) + 1
            rec = data[p + 5:p + 5 + l]
            # after ChangeCipherSpec a handshake record (Finished) is
            # ciphertext, whose first byte may be 1 like a ClientHello's
            if t == 20:
                encrypted = True
            if t == 22 and not encrypted and rec[:1] == b"\x01":
                snis.add(sni_of(rec[4:]))
                suites.update(suites_of(rec[4:]))
            p += 5 + l
    print("connections=%d" % conns)
    print("records=" + ",".join("%d:%d" % kv for kv in sorted(types.items())))
    print("app_data_records=%d" % types.get(23, 0))
    print("sni=" + (",".join(sorted(snis)) or "none"))
    print("clear=%d" % clear)
    print("not_tls=%d" % bad)
    print("suites=" + ",".join(sorted(suites)))
def recv(port, cert, key):
    # A minimal Frame Streams receiver over Python's ssl (OpenSSL), strict
    # about the end of the stream: without close_notify, recv() raises.
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.options &= ~getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(1)
    s = ctx.wrap_socket(ls.accept()[0], server_side=True)
    ct = b"protobuf:dnstap.Dnstap"
    ctl = lambda t, f=b"": b"\0\0\0\0" + (4 + len(f)).to_bytes(4, "big") + t.to_bytes(4, "big") + f
    buf, accepted, finished = b"", False, False
    try:
        while True:
            x = s.recv(65536)
            if not x:
                print("close_notify=1")
                break
            buf += x
            if not accepted and len(buf) >= 12:
                s.sendall(ctl(1, (1).to_bytes(4, "big") + len(ct).to_bytes(4, "big") + ct))
                accepted = True
            if not finished and ctl(3) in buf:
                s.sendall(ctl(5))
                finished = True
    except ssl.SSLError as e:
        print("close_notify=0")
        print("error=%s" % e)
    print("bytes=%d" % len(buf))
    print("stop_seen=%d" % finished)
if sys.argv[1] == "proxy":
    proxy(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
elif sys.argv[1] == "recv":
    recv(int(sys.argv[2]), sys.argv[3], sys.argv[4])
else:
    analyze(sys.argv[2])
EOF

wval() { sed -n "s/^$2=//p" "$T/$1.wirecheck" | tail -n 1; }

# client RUN EP ARGS...: the ASan client in the foreground (BIN to override).
# TLSDEF: this script's defaults (4 MiB queue, 1 s timeouts, 100 ms first
# backoff, 5 s for dnstap_run()); ARGS come after and win.
TLSDEF="-q 4194304 -t 1000 -b 100 -W 5000"
client() {
    name=$1 ep=$2
    shift 2
    timeout -s KILL 30 "${BIN:-$client}" -v $TLSDEF -e "$ep" -a "$T/$name.acc" "$@" >"$T/$name.out" 2>"$T/$name.err"
    echo $? >"$T/$name.rc"
}
bg_client() {
    name=$1 ep=$2
    shift 2
    timeout -s KILL 30 "$client" -v $TLSDEF -e "$ep" -a "$T/$name.acc" "$@" >"$T/$name.out" 2>"$T/$name.err" &
    CPID=$!
}

# client_ok RUN: exit status, sanitizers (leaks included), invariant
client_ok() {
    rc=$(cat "$T/$1.rc" 2>/dev/null || echo none)
    if grep -q 'ERROR: AddressSanitizer\|runtime error:\|ERROR: LeakSanitizer' "$T/$1.err"; then
        fail "$1: sanitizers" "$(grep -m 3 'ERROR\|runtime error\|SUMMARY' "$T/$1.err" | tr '\n' ' ')"
    fi
    case $rc in
    0) pass "$1: client exit 0, no leak, logged == sent + dropped + queued ($(val "$1" logged) == $(val "$1" sent) + $(dropped "$1") + $(val "$1" queued))" ;;
    3) fail "$1: invariant" "$(grep -m 1 'invariant' "$T/$1.err")" ;;
    4) fail "$1: counters" "$(grep -m 1 'error:' "$T/$1.err")" ;;
    137) fail "$1: client" "did not end within 30 s (killed)" ;;
    *) fail "$1: client" "exit status $rc: $(tail -n 3 "$T/$1.err" | tr '\n' ' ')" ;;
    esac
    info "$1: sent=$(val "$1" sent) accepted=$(val "$1" accepted)/$(val "$1" attempted) connects=$(val "$1" connects)" \
         "reconnects=$(val "$1" reconnects) handshake_failures=$(val "$1" handshake_failures)" \
         "timeouts=$(val "$1" timeouts) dropped_disconnected=$(val "$1" dropped_disconnected)" \
         "log_max_ns=$(val "$1" log_max_ns) log_p999_ns=$(val "$1" log_p999_ns) poll_max_ns=$(val "$1" poll_max_ns)" \
         "connected_ms=$(val "$1" connected_ms) polls_until_connected=$(val "$1" polls_until_connected)" \
         "elapsed_ms=$(val "$1" elapsed_ms)"
}

# check RUN WHAT ARGS...: our reader + decoder over the capture (one that
# fstrm_capture never created or wrote, no connection having come, is empty)
check() {
    run=$1 what=$2
    shift 2
    if "$client" --check "$T/$run.acc" --missing-empty "$@" >"$T/$run.check" 2>&1; then
        pass "$run: $what ($(grep '^capture=' "$T/$run.check" | sed "s|^capture=$T/||" | tr '\n' ' ')$(grep '^accepted=' "$T/$run.check"))"
    else
        fail "$run: $what" "$(grep -m 4 'error' "$T/$run.check" | tr '\n' ' ')"
    fi
}

wirecheck() { $py "$T/wire.py" analyze "$T/$1.wire" >"$T/$1.wirecheck" 2>&1; }

# --- good chains ----------------------------------------------------------------
# good_run RUN CERT ENDPOINT-HOST CLIENT-ARGS...: 3000 messages at 3000/s
good_run() {
    run=$1 cert=$2 host=$3
    shift 3
    term_start "$run" "$cert" || return
    client "$run" "tls://$host:$PORT" -n 3000 -r 3000 -t 2000 "$@"
    term_stop
    client_ok "$run"
    s=$(val "$run" sent)
    # dropped: 1, the dnstap_log() after dnstap_shutdown(), refused as documented
    expect "$run" "all 3000 accepted and sent over one TLS connection (sent=$s, connects=$(val "$run" connects))" \
        "$s" = 3000 -a "$(dropped "$run")" = 1 -a "$(val "$run" connects)" = 1 -a "$(val "$run" handshake_failures)" = 0
    check "$run" "capture holds exactly the $s sent frames, in order, every field right" --exact "$s" "$CAP"
}

good_run good-ip server 127.0.0.1 --ca "$C/ca.crt"
expect good-ip "log says the certificate was verified ($(grep -m 1 ': TLS TLSv' "$T/good-ip.err" | sed 's/^.*: TLS /TLS /'))" \
    "$(grep -c 'server certificate verified' "$T/good-ip.err")" = 1
expect good-ip "the suite agreed is TLS 1.3's or ECDHE with AEAD" \
    "$(grep -m 1 ': TLS TLSv' "$T/good-ip.err" | grep -c -e 'TLS1-3-' -e 'ECDHE.*\(GCM\|CHACHA20\)')" = 1
if command -v dnstap >/dev/null 2>&1; then
    n=$(dnstap -r "$T/good-ip.fstrm" -j 2>"$T/good-ip.json.err" | grep -c '"type":"CLIENT_')
    expect good-ip "dnstap -r -j reads the same $n messages" "$n" = "$(val good-ip sent)"
fi
good_run good-capath server 127.0.0.1 --ca-path "$C/cadir"

# tls_server_name: checked against the DNS name and sent as SNI
run=good-sni
if term_start "$run" server && proxy_start "$run"; then
    client "$run" "tls://127.0.0.1:$PPORT" -n 3000 -r 3000 -t 2000 --ca "$C/ca.crt" --sni localhost
    proxy_stop
    term_stop
    client_ok "$run"
    s=$(val "$run" sent)
    expect "$run" "all 3000 sent over one connection (sent=$s)" "$s" = 3000 -a "$(val "$run" connects)" = 1
    check "$run" "capture holds exactly the $s sent frames" --exact "$s" "$CAP"
    wirecheck "$run"
    expect "$run" "SNI sent: $(wval "$run" sni)" "$(wval "$run" sni)" = localhost
    expect "$run" "on the wire only TLS records ($(wval "$run" records)), no Frame Streams byte in clear" \
        "$(wval "$run" clear)" = 0 -a "$(wval "$run" not_tls)" = 0 -a "$(wval "$run" app_data_records)" -gt 0
    # ECDHE-ECDSA/RSA with AES-GCM or ChaCha20-Poly1305 (TLS 1.2), TLS 1.3's
    # three, and the renegotiation-info signalling value 00ff
    other=$(wval "$run" suites | tr ',' '\n' | grep -v -x -e c02b -e c02c -e c02f -e c030 -e cca8 -e cca9 \
        -e 1301 -e 1302 -e 1303 -e 00ff | tr '\n' ' ')
    expect "$run" "the ClientHello offers only ECDHE+AEAD suites ($(wval "$run" suites)), nothing else: '$other'" \
        -n "$(wval "$run" suites)" -a -z "$other"
fi

# --- refused certificates ----------------------------------------------------------
# refused_run RUN CERT HOST REASON PROXY CLIENT-ARGS...: 1.5 s at 1000/s,
# backoff 100 ms doubling to 400 ms, KEEP.
refused_run() {
    run=$1 cert=$2 host=$3 reason=$4 useproxy=$5
    shift 5
    term_start "$run" "$cert" || return
    port=$PORT
    if [ "$useproxy" = 1 ]; then proxy_start "$run" || return; port=$PPORT; fi
    client "$run" "tls://$host:$port" -n 0 -d 1500 -r 1000 -t 1000 -b 100 -B 400 "$@"
    [ "$useproxy" = 1 ] && proxy_stop
    term_stop
    client_ok "$run"
    hf=$(val "$run" handshake_failures)
    expect "$run" "refused: connects=0, sent=0, handshake_failures=$hf >= 3, reconnects=$(val "$run" reconnects) >= 2" \
        "$(val "$run" connects)" = 0 -a "$(val "$run" sent)" = 0 -a "$hf" -ge 3 -a "$(val "$run" reconnects)" -ge 2
    expect "$run" "every failure logged with the reason: $(val "$run" first_tls_failure | sed 's/^.*handshake failed: //')" \
        "$(val "$run" tls_failed_lines)" = "$hf" -a "$(val "$run" first_tls_failure | grep -c "$reason")" = 1
    delays=$(sed -n 's/.*reconnecting in \([0-9]*\) ms.*/\1/p' "$T/$run.err" | tr '\n' ' ')
    d1=$(echo "$delays" | cut -d' ' -f1)
    dmax=$(echo "$delays" | tr ' ' '\n' | sort -n | tail -n 1)
    expect "$run" "retried with growing backoff (ms: $delays)" "${d1:-0}" -le 125 -a "${dmax:-0}" -ge 300
    ns=$(grep -c 'SSL_accept' "$T/$run.socat")
    expect "$run" "the terminator saw $ns failed handshakes ($(grep -m 1 'SSL_accept' "$T/$run.socat" | sed 's/^.*SSL_accept(): //'))" \
        "$ns" -ge 3
    check "$run" "capture holds no data frame" --exact 0 "$CAP"
    expect "$run" "dnstap_log() never blocks: max $(val "$run" log_max_ns) ns (ASan build), p99.9 $(val "$run" log_p999_ns) ns" \
        "$(val "$run" log_max_ns)" -lt 20000000
    if [ "$useproxy" = 1 ]; then
        wirecheck "$run"
        expect "$run" "client sent only handshake and alert records on $(wval "$run" connections) connections ($(wval "$run" records)), no application data, nothing in clear" \
            "$(wval "$run" app_data_records)" = 0 -a "$(wval "$run" clear)" = 0 -a "$(wval "$run" not_tls)" = 0 \
            -a "$(wval "$run" connections)" -ge 3
    fi
}
refused_run wrong-ca wrongca 127.0.0.1 "not correctly signed by the trusted CA" 1 --ca "$C/ca.crt"
refused_run wrong-name-ip wrongname 127.0.0.1 "Common Name (CN) does not match" 0 --ca "$C/ca.crt"
refused_run wrong-name-sni wrongname 127.0.0.1 "Common Name (CN) does not match" 1 --ca "$C/ca.crt" --sni localhost
expect wrong-name-sni "SNI sent: $(wval wrong-name-sni sni)" "$(wval wrong-name-sni sni)" = localhost
refused_run expired expired 127.0.0.1 "validity has expired" 0 --ca "$C/ca.crt"

# --- skipverify ----------------------------------------------------------------------
good_run skipverify wrongca 127.0.0.1 --skipverify
expect skipverify "warned at dnstap_init() and on the connection ($(val skipverify skipverify_lines) lines: $(grep -m 1 'WARNING: skipverify' "$T/skipverify.err" | sed 's/^.*WARNING/WARNING/'))" \
    "$(val skipverify skipverify_lines)" -ge 2

# --- pinning -----------------------------------------------------------------------------
good_run pin-noca server 127.0.0.1 --pin "$PIN_SERVER"
expect pin-noca "log says the key matched the pin" "$(grep -c 'server key matches the pin' "$T/pin-noca.err")" = 1
good_run pin-expired expired 127.0.0.1 --pin "$PIN_EXPIRED"
good_run pin-and-ca server 127.0.0.1 --pin "$PIN_SERVER" --ca "$C/ca.crt"
refused_run pin-wrong server 127.0.0.1 "does not match tls_pin_sha256" 0 --pin "$PIN_OTHER"
refused_run pin-wrong-ca-ok server 127.0.0.1 "does not match tls_pin_sha256" 0 --pin "$PIN_OTHER" --ca "$C/ca.crt"

# --- mutual TLS ----------------------------------------------------------------------------
run=mtls
if term_start "$run" server 1; then
    client "$run" "tls://127.0.0.1:$PORT" -n 3000 -r 3000 -t 2000 --ca "$C/ca.crt" --cert "$C/client.crt" \
        --key "$C/client.key"
    term_stop
    client_ok "$run"
    s=$(val "$run" sent)
    expect "$run" "client certificate accepted: all 3000 sent (sent=$s, connects=$(val "$run" connects))" \
        "$s" = 3000 -a "$(val "$run" connects)" = 1 -a "$(val "$run" handshake_failures)" = 0
    check "$run" "capture holds exactly the $s sent frames" --exact "$s" "$CAP"
fi
run=mtls-nocert
if term_start "$run" server 1; then
    client "$run" "tls://127.0.0.1:$PORT" -n 0 -d 1500 -r 1000 -t 1000 -b 100 -B 400 --ca "$C/ca.crt"
    term_stop
    client_ok "$run"
    hf=$(val "$run" handshake_failures)
    expect "$run" "no client certificate: refused ($(val "$run" first_tls_failure | sed 's/^.*handshake failed: //')), connects=0, sent=0, handshake_failures=$hf >= 3" \
        "$(val "$run" connects)" = 0 -a "$(val "$run" sent)" = 0 -a "$hf" -ge 3
    ns=$(grep -c 'SSL_accept' "$T/$run.socat")
    expect "$run" "the terminator refused $ns handshakes ($(grep -m 1 'SSL_accept' "$T/$run.socat" | sed 's/^.*SSL_accept(): //'))" \
        "$ns" -ge 3
    check "$run" "capture holds no data frame" --exact 0 "$CAP"
fi

# --- terminator restarted mid-stream ---------------------------------------------------------
run=restart
if term_start "$run" server; then
    # 5.5 s: the backoff no longer resets at each handshake (it climbs to 400 ms
    # over the kills), so the last reconnect needs time after the third kill
    bg_client "$run" "tls://127.0.0.1:$PORT" -n 0 -d 5500 -r 2000 -t 500 -b 100 -B 400 --ca "$C/ca.crt"
    for k in 1 2 3; do
        sleep 0.9
        socat_kill "$SPGID" KILL
        sleep 0.15
        socat_start "$run" server 0 || fail "$run" "socat $k did not listen"
    done
    wait "$CPID"
    echo $? >"$T/$run.rc"
    term_stop
    client_ok "$run"
    expect "$run" "reconnected after each of 3 kills (connects=$(val "$run" connects), reconnects=$(val "$run" reconnects), handshake_failures=$(val "$run" handshake_failures))" \
        "$(val "$run" connects)" -ge 4 -a "$(val "$run" reconnects)" -ge 3
    expect "$run" "KEEP with room: nothing dropped but the call after shutdown (accepted=$(val "$run" accepted) sent=$(val "$run" sent))" \
        "$(dropped "$run")" = 1 -a "$(val "$run" sent)" = "$(val "$run" accepted)"
    check "$run" "capture frame-exact: whole frames, increasing, no duplicate, all accepted" --max "$(val "$run" sent)" "$CAP"
    cap=$(sed -n 's/.*captured=//p' "$T/$run.check")
    info "$run: sent=$(val "$run" sent) captured=$cap: $(( $(val "$run" sent) - ${cap:-0} )) frames were in the killed terminators' buffers"
fi

# --- close_notify -----------------------------------------------------------------------------------
# Python's ssl (OpenSSL) as the receiver, with the unexpected-EOF check on.
run=close-notify
PORT=$(free_port)
$py "$T/wire.py" recv "$PORT" "$C/server.crt" "$C/server.key" >"$T/$run.recv" 2>&1 &
RPID=$!
PIDS="$PIDS $RPID"
if wait_tcp "$PORT"; then
    client "$run" "tls://127.0.0.1:$PORT" -n 100 -t 2000 --ca "$C/ca.crt"
    wait "$RPID"
    client_ok "$run"
    r() { sed -n "s/^$1=//p" "$T/$run.recv"; }
    expect "$run" "the stream ends STOP, FINISH, then close_notify (seen by OpenSSL via Python: close_notify=$(r close_notify) $(r error))" \
        "$(r close_notify)" = 1 -a "$(r stop_seen)" = 1 -a "$(val "$run" sent)" = 100 -a "$(val "$run" run_result)" = ok
else
    fail "$run" "python receiver did not listen"
fi

# --- cipher suites: a server that offers only weak ones ------------------------------------------
# RSA key; TLS 1.2 at most; static-RSA CBC and ECDHE CBC with SHA-1 only.
SOCAT_TLS="cipher=AES128-SHA:ECDHE-RSA-AES128-SHA,openssl-max-proto-version=TLS1.2"
refused_run weak-suites rsa 127.0.0.1 "fatal alert message was received" 1 --ca "$C/ca.crt"
expect weak-suites "the terminator found no suite in common ($(grep -m 1 'SSL_accept' "$T/weak-suites.socat" | sed 's/^.*SSL_accept(): //'))" \
    "$(grep -c 'no shared cipher' "$T/weak-suites.socat")" -ge 3
# the caller's own list wins: naming a weak suite (IANA spelling) connects
good_run weak-chosen rsa 127.0.0.1 --ca "$C/ca.crt" --ciphersuites "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"
expect weak-chosen "tls_ciphersuites chose the suite ($(grep -m 1 ': TLS TLSv' "$T/weak-chosen.err" | sed 's/^.*: TLS /TLS /'))" \
    "$(grep -c ': TLS TLSv1.2 TLS-ECDHE-RSA-WITH-AES-128-CBC-SHA;' "$T/weak-chosen.err")" = 1
SOCAT_TLS=""

# --- plain TCP servers at a tls:// endpoint ---------------------------------------------------------
# Each attempt must be a handshake failure (not a timeout) whose log line
# says the peer does not speak TLS; connect_timeout_ms 1000.
# plain_run RUN WHAT REASON: the server already listens on $PORT
plain_run() {
    run=$1 what=$2 reason=$3
    client "$run" "tls://127.0.0.1:$PORT" -n 0 -d 2000 -r 1000 -t 1000 -b 100 -B 200 --ca "$C/ca.crt"
    client_ok "$run"
    hf=$(val "$run" handshake_failures)
    expect "$run" "$what: handshake_failures=$hf >= 2, timeouts=$(val "$run" timeouts), connects=0; logged: $(val "$run" first_tls_failure | sed 's/^.*handshake failed: //')" \
        "$hf" -ge 2 -a "$(val "$run" timeouts)" = 0 -a "$(val "$run" connects)" = 0 -a "$(val "$run" sent)" = 0 \
        -a "$(val "$run" tls_failed_lines)" = "$hf" -a "$(val "$run" first_tls_failure | grep -c "does not speak TLS")" = 1 \
        -a "$(val "$run" first_tls_failure | grep -c "$reason")" = 1
}
run=plain-fstrm
PORT=$(free_port)
fstrm_capture -t protobuf:dnstap.Dnstap -a 127.0.0.1 -p "$PORT" -w "$T/$run.fstrm" >"$T/$run.fstrm_capture" 2>&1 &
FPID=$!
PIDS="$PIDS $FPID"
if wait_tcp "$PORT"; then
    plain_run "$run" "fstrm_capture on plain TCP (waits for READY)" "no answer to the ClientHello"
    kill -TERM "$FPID" 2>/dev/null
    wait "$FPID" 2>/dev/null
else
    fail "$run" "fstrm_capture did not listen"
fi
for kind in silent text close; do
    run=plain-$kind
    PORT=$(free_port)
    case $kind in
    silent) cmd='sleep 30' what="a server that never answers" reason="no answer to the ClientHello" ;;
    text) cmd='echo "220 hello"; sleep 30' what="a server that greets in text" reason="its first byte, 0x32," ;;
    close) cmd='exit 0' what="a server that closes at once" reason="closed the connection without a TLS answer" ;;
    esac
    setsid socat "TCP-LISTEN:$PORT,bind=127.0.0.1,reuseaddr,fork" SYSTEM:"$cmd" >"$T/$run.socat" 2>&1 &
    SPGID=$!
    PGIDS="$PGIDS $SPGID"
    if wait_tcp "$PORT"; then
        plain_run "$run" "$what" "$reason"
    else
        fail "$run" "socat did not listen"
    fi
    socat_kill "$SPGID" KILL
done

# --- heap allocations (gcc -O2 build that counts them) ---------------------------------------------
run=allocs
if [ -n "$allocs" ] && term_start "$run" server; then
    BIN=$allocs
    client "$run" "tls://127.0.0.1:$PORT" -n 20000 -r 20000 -t 2000 --ca "$C/ca.crt"
    BIN=
    term_stop
    client_ok "$run"
    check "$run" "capture holds exactly the $(val "$run" sent) sent frames" --exact "$(val "$run" sent)" "$CAP"
    expect "$run" "no allocation while logging and sending $(val "$run" sent) messages over TLS (allocs_steady=$(val "$run" allocs_steady))" \
        "$(val "$run" allocs_steady)" = 0 -a "$(val "$run" sent)" = 20000
    expect "$run" "dnstap_tls_free() returns what Mbed TLS held ($(val "$run" live_after_tls_free) bytes left: libc's)" \
        "$(val "$run" live_after_tls_free)" -lt 1024
    info "$run: Mbed TLS heap: dnstap_init $(val "$run" allocs_init) allocations, $(val "$run" live_at_start_of_connect) bytes kept;" \
         "handshake $(val "$run" allocs_connect) allocations ($(val "$run" alloc_bytes_connect) bytes in all), peak" \
         "$(val "$run" peak_live_connect) bytes live; steady $(val "$run" allocs_steady); shutdown $(val "$run" allocs_end);" \
         "handshake step max $(val "$run" poll_max_ns) ns in one dnstap_poll() (gcc -O2)"
    bundle=/etc/ssl/certs/ca-certificates.crt
    if [ -f "$bundle" ]; then
        "$allocs" -e "tls://127.0.0.1:$PORT" -n 1 --init-only --ca "$bundle" >"$T/allocs-bundle.out" 2>&1
        info "allocs: with the system CA bundle ($(grep -c BEGIN "$bundle") certificates) dnstap_init() makes" \
             "$(val allocs-bundle allocs_init) allocations and keeps $(val allocs-bundle live_at_start_of_connect) bytes"
    fi
fi

# --- dnstap_init() errors -----------------------------------------------------------------------------
init_case() {   # init_case NAME WANT-CODE ARGS...
    name=$1 want=$2
    shift 2
    "$client" -e tls://127.0.0.1:9 --init-only "$@" >"$T/init-$name.out" 2>"$T/init-$name.err"
    got=$(sed -n 's/^init_code=//p' "$T/init-$name.out")
    if [ "$got" = "$want" ] && ! grep -q 'ERROR: \|runtime error' "$T/init-$name.err"; then
        pass "init: $name -> $(sed -n 's/^init=//p' "$T/init-$name.out") ($got)"
    else
        fail "init: $name" "init_code=$got, wanted $want; $(head -n 3 "$T/init-$name.err" | tr '\n' ' ')"
    fi
}
init_case "no CA, pin or skipverify" -2
init_case "missing CA file" -2 --ca "$T/nonexistent.pem"
init_case "CA file that holds no certificate" -2 --ca "$C/ca.cnf"
init_case "certificate without key" -2 --ca "$C/ca.crt" --cert "$C/client.crt"
init_case "key that does not match the certificate" -2 --ca "$C/ca.crt" --cert "$C/client.crt" --key "$C/server.key"
init_case "valid configuration" 0 --ca "$C/ca.crt" --cert "$C/client.crt" --key "$C/client.key"
init_case "endpoint without a port" -2 -e tls://127.0.0.1 --ca "$C/ca.crt"
init_case "IPv6 literal endpoint" 0 -e "tls://[::1]:853" --ca "$C/ca.crt"
init_case "port 0" -2 -e tls://127.0.0.1:0 --ca "$C/ca.crt"
init_case "port 69536 (once wrapped to 4000)" -2 -e tls://127.0.0.1:69536 --ca "$C/ca.crt"
init_case "port 65535" 0 -e tls://127.0.0.1:65535 --ca "$C/ca.crt"
init_case "unbracketed IPv6 literal" -2 -v -e tls://2001:db8::1 --ca "$C/ca.crt"
expect init "the unbracketed IPv6 endpoint is refused with a message asking for brackets" \
    "$(grep -c 'needs brackets' "$T/init-unbracketed IPv6 literal.err")" = 1
init_case "tls_ciphersuites: IANA, Mbed TLS and numeric names" 0 --ca "$C/ca.crt" \
    --ciphersuites "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256:TLS-ECDHE-RSA-WITH-AES-256-GCM-SHA384, 0xCCA9"
init_case "tls_ciphersuites: an unknown name" -2 -v --ca "$C/ca.crt" --ciphersuites "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256:TLS_NO_SUCH_SUITE"
expect init "the unknown suite is named in the log" "$(grep -c 'tls_ciphersuites.*TLS_NO_SUCH_SUITE' "$T/init-tls_ciphersuites: an unknown name.err")" = 1
cat >"$T/nomb.c" <<'EOF'
#define DNSTAP_IMPLEMENTATION
#include "dnstap.h"
int main(void) {
    static uint8_t q[4096];
    static dnstap_t tap;
    dnstap_desc_t d;
    memset(&d, 0, sizeof d);
    d.endpoint = "tls://127.0.0.1:853";
    d.queue = q;
    d.queue_size = sizeof q;
    return dnstap_init(&tap, &d) == DNSTAP_ERR_UNSUPPORTED ? 0 : 1;
}
EOF
if gcc $WARN -I. "$T/nomb.c" -o "$T/nomb" -lprotobuf-nanopb 2>"$T/nomb.err" && "$T/nomb"; then
    pass "init: without DNSTAP_WITH_MBEDTLS, tls:// is DNSTAP_ERR_UNSUPPORTED (and no Mbed TLS is linked)"
else
    fail "init: without DNSTAP_WITH_MBEDTLS" "$(head -n 3 "$T/nomb.err" | tr '\n' ' ')"
fi

# --- renegotiation asked while a write is blocked ---------------------------------
# shellcheck disable=SC2086
if clang $WARN -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=all $MBEDTLS_CFLAGS -DDNSTAP_WITH_MBEDTLS \
        tests/tls_renego.c -o "$build/tls_renego" -lprotobuf-nanopb $MBEDTLS_LIBS 2>"$T/renego.err"; then
    for mode in plain renegotiate idle; do
        if out=$("$build/tls_renego" "$C/server.crt" "$C/server.key" $mode 2>&1); then
            pass "renegotiation ($mode): $out"
        else
            fail "renegotiation ($mode)" "$(printf '%s' "$out" | tail -n 3 | tr '\n' ' ')"
        fi
    done
else
    fail "renegotiation: build tests/tls_renego.c" "$(head -n 3 "$T/renego.err" | tr '\n' ' ')"
fi

info "tls tests took $(( $(date +%s) - t_begin )) s"
[ "$fails" = 0 ]
