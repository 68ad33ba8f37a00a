#!/bin/sh
# End-to-end tests of live logging (dnstap_init/log/poll/shutdown) against
# receivers we did not write: fstrm_capture (fstrm-bin) and golang-dnstap's
# `dnstap`, over unix sockets and TCP on 127.0.0.1, plus a listener that
# never answers the handshake.
#
#   tests/live.sh BUILD_DIR
#
# Builds tests/tap_client.c into BUILD_DIR (gcc and clang with warnings as
# errors, the ASan+UBSan build that runs the scenarios, a TSan build for the
# threaded one), then runs:
#   receivers  fstrm_capture -u, dnstap -u, dnstap -l, fstrm_capture -a/-p:
#              every frame the tap reports sent is in the capture, whole and
#              in order (our reader + decoder, and `dnstap -r -j` as a second
#              opinion); `full` on and off; and `dnstap -u` taking frames of
#              the default payload_max on one connection.
#   absent     no receiver at start, one appears ~1 s later (unix and TCP).
#   kill       receiver SIGKILLed and restarted 4 times mid-stream.
#   stall      receiver SIGSTOPped while the tap logs at a steady rate, then
#              SIGCONT (also with a gcc -O2 build, for latency without
#              sanitizers); stopped until the tap has ended, then killed
#              (DROP); and over TCP with a small SO_SNDBUF, killed and
#              replaced (KEEP).
#   no-accept  a listener that takes the connection but never sends ACCEPT;
#              and fstrm_capture expecting another content type.
#   leaving    over TCP, a collector that ACCEPTs and closes every connection
#              at once (no more connections than the backoff allows), and
#              one that sends FINISH and closes its side under full load
#              (the tap leaves that connection at once and reconnects).
#   threads    4 producer threads on 4 queues (dnstap_log_queue), ASan; and
#              under TSan with small queues and a receiver killed twice.
# Some runs use the client's strict host mode (-S: dnstap_poll() only when
# dnstap_io() asks for it, also during shutdown), the others call
# dnstap_poll() on every loop turn and end with dnstap_run().
# Prints "PASS: name" / "FAIL: name: why" per check and "INFO: ..." lines
# with each run's figures; exits 1 if any check failed. Temporary files go
# to BUILD_DIR/live.XXXXXX, kept when something failed.
#
# Needs: cc, clang, libnanopb-dev, fstrm_capture (fstrm-bin), dnstap
# (golang-github-dnstap-golang-dnstap-cli), /usr/bin/python3, ss (iproute2),
# timeout (coreutils).
set -u

. "$(dirname "$0")/lib.sh"
need fstrm_capture dnstap ss timeout clang
[ -x "$py" ] || { fail "tools" "$py not found"; exit 1; }

T=$(mktemp -d "$build/live.XXXXXX") || exit 2
# unix socket paths must fit in sun_path (108 bytes)
S=$T
if [ ${#S} -gt 80 ]; then S=$(mktemp -d /tmp/live.XXXXXX) || exit 2; fi

# Every receiver and client runs as a direct child of this shell; at exit,
# end those still running (TERM, and CONT for a stopped one, then KILL).
# A pid counts only while its parent is this shell, so a pid reused by
# another process is left alone.
PIDS=""
mine() {
    pp=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f2)
    [ "$pp" = "$$" ] && alive "$1"
}
cleanup() {
    left=""
    for p in $PIDS; do mine "$p" && left="$left $p"; done
    if [ -n "$left" ]; then
        for p in $left; do kill -TERM "$p" 2>/dev/null; kill -CONT "$p" 2>/dev/null; done
        sleep 0.5
        for p in $left; do mine "$p" && kill -KILL "$p" 2>/dev/null; done
    fi
    wait 2>/dev/null
    if [ "$fails" = 0 ]; then rm -rf "$T"; else echo "INFO: files kept in $T"; fi
    [ "$S" != "$T" ] && rm -rf "$S"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

client=$build/tap_client

# --- build ----------------------------------------------------------------
WARN="-std=c99 -Wall -Wextra -Werror -pedantic -Wconversion -Wsign-conversion -Wshadow -Wcast-qual \
-Wstrict-prototypes -Wmissing-prototypes"
for cc in gcc clang; do
    if $cc $WARN -O2 -pthread tests/tap_client.c -o "$build/tap_client_$cc" -lprotobuf-nanopb 2>"$T/cc_$cc.err"; then
        pass "build tap_client ($cc -O2, warnings as errors)"
    else
        fail "build tap_client ($cc)" "$(head -n 5 "$T/cc_$cc.err" | tr '\n' ' ')"
    fi
done
if clang $WARN -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=all -pthread tests/tap_client.c \
        -o "$client" -lprotobuf-nanopb 2>"$T/cc_san.err"; then
    pass "build tap_client (clang, ASan+UBSan)"
else
    fail "build tap_client (clang, ASan+UBSan)" "$(head -n 5 "$T/cc_san.err" | tr '\n' ' ')"
    exit 1
fi
tsan=$build/tap_client_tsan
if clang $WARN -g -O1 -fsanitize=thread -pthread tests/tap_client.c -o "$tsan" -lprotobuf-nanopb \
        2>"$T/cc_tsan.err"; then
    pass "build tap_client (clang, TSan)"
else
    fail "build tap_client (clang, TSan)" "$(head -n 5 "$T/cc_tsan.err" | tr '\n' ' ')"
    tsan=
fi
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1

# --- helpers ----------------------------------------------------------------

free_port() {
    $py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# alive PID: running or stopped, not a zombie
alive() {
    st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
    [ -n "$st" ] && [ "$st" != Z ]
}

# wait_gone PID TENTHS: wait for PID to end, SIGKILL it after TENTHS/10 s
wait_gone() {
    i=0
    while alive "$1" && [ $i -lt "$2" ]; do sleep 0.1; i=$((i + 1)); done
    if alive "$1"; then kill -KILL "$1" 2>/dev/null; wait "$1" 2>/dev/null; return 1; fi
    wait "$1" 2>/dev/null
    return 0
}

# start NAME CMD...: start a receiver in the background; RPID is its pid
start() {
    name=$1
    shift
    "$@" >"$T/$name.log" 2>&1 &
    RPID=$!
    PIDS="$PIDS $RPID"
}

# wait_unix PATH / wait_tcp PORT: until the receiver listens (3 s at most)
wait_unix() {
    i=0
    while [ ! -S "$1" ] && [ $i -lt 30 ]; do sleep 0.1; i=$((i + 1)); done
    [ -S "$1" ]
}
wait_tcp() {
    i=0
    while ! ss -Hltn "sport = :$1" | grep -q LISTEN && [ $i -lt 30 ]; do sleep 0.1; i=$((i + 1)); done
    ss -Hltn "sport = :$1" | grep -q LISTEN
}

# stop_fstrm PID: SIGTERM, after which fstrm_capture writes STOP and exits
stop_fstrm() {
    kill -TERM "$1" 2>/dev/null
    wait_gone "$1" 30
}

# stop_dnstap PID FILE: golang-dnstap flushes only on SIGHUP, which also
# reopens (truncates) FILE: rename FILE to FILE.done, SIGHUP, wait for the
# new FILE, then SIGTERM. The capture is FILE.done.
stop_dnstap() {
    sleep 0.3                      # let its writer take what it has read
    mv "$2" "$2.done" || return 1
    kill -HUP "$1"
    i=0
    while [ ! -e "$2" ] && [ $i -lt 30 ]; do sleep 0.1; i=$((i + 1)); done
    kill -TERM "$1" 2>/dev/null
    wait_gone "$1" 30
}

# run_client RUN ARGS...: run the ASan client in the foreground
run_client() {
    name=$1
    shift
    timeout -s KILL 40 "${BIN:-$client}" -v -a "$T/$name.acc" "$@" >"$T/$name.out" 2>"$T/$name.err"
    echo $? >"$T/$name.rc"
}

# bg_client RUN ARGS...: the same in the background; CPID is its pid;
# wait_client RUN waits for it and keeps its exit status
bg_client() {
    name=$1
    shift
    timeout -s KILL 40 "${BIN:-$client}" -v -a "$T/$name.acc" "$@" >"$T/$name.out" 2>"$T/$name.err" &
    CPID=$!
    PIDS="$PIDS $CPID"
}
wait_client() {
    wait "$CPID"
    echo $? >"$T/$1.rc"
}

# client_ok RUN: exit status, sanitizers, invariant; prints the figures
client_ok() {
    rc=$(cat "$T/$1.rc" 2>/dev/null || echo none)
    if grep -q 'ERROR: AddressSanitizer\|runtime error:\|ERROR: LeakSanitizer\|WARNING: ThreadSanitizer' "$T/$1.err"; then
        fail "$1: sanitizers" "$(grep -m 3 'ERROR\|runtime error\|WARNING: ThreadSanitizer\|SUMMARY' "$T/$1.err" | tr '\n' ' ')"
    fi
    case $rc in
    0) pass "$1: client exit 0, invariant logged == sent + dropped + queued holds ($(val "$1" logged) == $(val "$1" sent) + $(dropped "$1") + $(val "$1" queued))" ;;
    3) fail "$1: invariant" "$(grep -m 1 'invariant' "$T/$1.err")" ;;
    4) fail "$1: counters" "$(grep -m 1 'error:' "$T/$1.err")" ;;
    124|137) fail "$1: client" "did not end within 40 s (killed)" ;;
    *) fail "$1: client" "exit status $rc: $(tail -n 3 "$T/$1.err" | tr '\n' ' ')" ;;
    esac
    info "$1: sent=$(val "$1" sent) accepted=$(val "$1" accepted)/$(val "$1" attempted)" \
         "dropped_full=$(val "$1" dropped_full) dropped_disconnected=$(val "$1" dropped_disconnected)" \
         "dropped_write_error=$(val "$1" dropped_write_error) connects=$(val "$1" connects)" \
         "reconnects=$(val "$1" reconnects) timeouts=$(val "$1" timeouts)" \
         "handshake_failures=$(val "$1" handshake_failures) log_max_ns=$(val "$1" log_max_ns)" \
         "(message $(val "$1" log_max_at)) log_p999_ns=$(val "$1" log_p999_ns) elapsed_ms=$(val "$1" elapsed_ms)" \
         "shutdown_ms=$(val "$1" run_ms) host=$(val "$1" host)"
}

# check RUN NAME ARGS... CAPTURES: our reader + decoder over the captures
check() {
    run=$1 what=$2
    shift 2
    if "$client" --check "$T/$run.acc" "$@" >"$T/$run.check" 2>&1; then
        pass "$run: $what ($(grep '^accepted=' "$T/$run.check" | sed 's/accepted=[0-9]* //'))"
    else
        fail "$run: $what" "$(grep -m 4 'error' "$T/$run.check" | tr '\n' ' ')"
    fi
    grep '^capture=' "$T/$run.check" | sed "s|^capture=$T/|INFO: $run: capture |"
}

# golang-dnstap's reading of a capture, compared with the accepted list
cat >"$T/jcheck.py" <<'EOF'
import json, re, sys
jfile, accfile, sent, full = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
acc = [int(l) for l in open(accfile)]
seqs, errs = [], []
for ln, line in enumerate(open(jfile), 1):
    try:
        d = json.loads(line)
    except ValueError:
        errs.append("line %d: not JSON" % ln)
        continue
    m = d.get("message", {})
    mo = re.match(r"2023-11-14T22:13:20(?:\.(\d{1,9}))?Z$", m.get("query_time", ""))
    if not mo:
        errs.append("line %d: query_time %r" % (ln, m.get("query_time")))
        continue
    seq = int((mo.group(1) or "0").ljust(9, "0"))
    seqs.append(seq)
    if m.get("type") != ("CLIENT_RESPONSE" if seq % 2 else "CLIENT_QUERY"):
        errs.append("line %d: type %r" % (ln, m.get("type")))
    if d.get("identity") != "tap_client":
        errs.append("line %d: identity %r" % (ln, d.get("identity")))
    if full:
        if "id: %d\n" % (seq & 0xFFFF) not in m.get("query_message", ""):
            errs.append("line %d: query_message missing or wrong id" % ln)
        if seq % 2 and "id: %d\n" % (seq & 0xFFFF) not in m.get("response_message", ""):
            errs.append("line %d: response_message missing or wrong id" % ln)
    elif "query_message" in m or "response_message" in m:
        errs.append("line %d: wire message present though not full" % ln)
if len(seqs) != sent:
    errs.append("%d messages, the tap reported %d sent" % (len(seqs), sent))
for i, s in enumerate(seqs):
    if i >= len(acc) or acc[i] != s:
        errs.append("message %d is seq %d, accepted[%d] is %s" % (i, s, i, acc[i] if i < len(acc) else None))
        break
for e in errs[:5]:
    print("error:", e)
print("json_messages=%d" % len(seqs))
sys.exit(1 if errs else 0)
EOF

golang_check() {
    run=$1 cap=$2 full=$3
    dnstap -r "$cap" -j >"$T/$run.json" 2>"$T/$run.json.err"
    if grep -v '^dnstap: opened input file' "$T/$run.json.err" | grep -q .; then
        fail "$run: dnstap -r -j" "stderr: $(head -n 3 "$T/$run.json.err" | tr '\n' ' ')"
    elif $py "$T/jcheck.py" "$T/$run.json" "$T/$run.acc" "$(val "$run" sent)" "$full" >"$T/$run.jcheck" 2>&1; then
        pass "$run: dnstap -r -j reads the same $(val "$run" sent) messages in order (full=$full)"
    else
        fail "$run: dnstap -r -j" "$(head -n 3 "$T/$run.jcheck" | tr '\n' ' ')"
    fi
}

echo "INFO: live tests in $T"
t_begin=$(date +%s)

# --- 1. healthy receivers: everything sent is captured, whole and in order ---
# name, full, receiver kind; 20,000 messages as fast as possible, 4 MiB queue
# (room for all: no drops), KEEP.
receiver_run() {
    run=$1 full=$2 kind=$3
    cap=$T/$run.fstrm
    golang=
    case $kind in
    fstrm-unix)
        sock=$S/$run.sock
        start "$run.recv" fstrm_capture -t protobuf:dnstap.Dnstap -u "$sock" -w "$cap"
        wait_unix "$sock" || { fail "$run" "fstrm_capture did not listen"; return; }
        ep=unix://$sock ;;
    dnstap-unix)
        sock=$S/$run.sock
        start "$run.recv" dnstap -u "$sock" -w "$cap"
        wait_unix "$sock" || { fail "$run" "dnstap did not listen"; return; }
        ep=$sock golang=-g ;;
    dnstap-tcp)
        port=$(free_port)
        start "$run.recv" dnstap -l "127.0.0.1:$port" -w "$cap"
        wait_tcp "$port" || { fail "$run" "dnstap did not listen"; return; }
        ep=tcp://127.0.0.1:$port golang=-g ;;
    fstrm-tcp)
        port=$(free_port)
        start "$run.recv" fstrm_capture -t protobuf:dnstap.Dnstap -a 127.0.0.1 -p "$port" -w "$cap"
        wait_tcp "$port" || { fail "$run" "fstrm_capture did not listen"; return; }
        ep=tcp://127.0.0.1:$port ;;
    esac
    run_client "$run" -e "$ep" -n 20000 -r 0 -q 4194304 -p keep -f "$full" -t 2000 $golang
    case $kind in
    fstrm-*) stop_fstrm "$RPID" || fail "$run" "fstrm_capture did not end on SIGTERM" ;;
    dnstap-*) stop_dnstap "$RPID" "$cap" || fail "$run" "dnstap did not end on SIGTERM"; cap=$cap.done ;;
    esac
    client_ok "$run"
    s=$(val "$run" sent)
    expect "$run" "all 20000 accepted and sent, none dropped (sent=$s)" "$s" = 20000 -a "$(val "$run" accepted)" = 20000 \
        -a "$(dropped "$run")" = 1
    expect "$run" "one connection, FINISH received before the timeout" "$(val "$run" connects)" = 1 \
        -a "$(val "$run" reconnects)" = 0 -a "$(val "$run" timeouts)" = 0
    check "$run" "capture holds exactly the $s sent frames, in order, full=$full" --full "$full" --exact "$s" "$cap"
    golang_check "$run" "$cap" "$full"
}
receiver_run fstrm-unix-full 1 fstrm-unix
receiver_run dnstap-unix-nofull 0 dnstap-unix
receiver_run dnstap-tcp-full 1 dnstap-tcp
receiver_run fstrm-tcp-nofull 0 fstrm-tcp

# Maximal messages under the default payload_max: golang-dnstap's `dnstap -u`
# drops a connection that sends a payload above 98,304 bytes (and the frames
# in flight with it); every frame here is exactly payload_max, left at its
# default, and all must arrive on one connection.
run=dnstap-unix-max
sock=$S/$run.sock
cap=$T/$run.fstrm
start "$run.recv" dnstap -u "$sock" -w "$cap"
if wait_unix "$sock"; then
    run_client "$run" -e "$sock" -n 40 -r 0 -q 4194304 -p keep -f 1 -t 2000 -P
    stop_dnstap "$RPID" "$cap" || fail "$run" "dnstap did not end on SIGTERM"
    client_ok "$run"
    s=$(val "$run" sent)
    expect "$run" "all 40 maximal messages sent, each a payload of 98,304 bytes (sent_bytes=$(val "$run" sent_bytes))" \
        "$s" = 40 -a "$(val "$run" sent_bytes)" = $((40 * (4 + 98304)))
    expect "$run" "one connection, no reconnect, FINISH before the timeout" "$(val "$run" connects)" = 1 \
        -a "$(val "$run" reconnects)" = 0 -a "$(val "$run" timeouts)" = 0
    check "$run" "capture holds exactly the $s sent frames, in order" --full 1 --exact "$s" "$cap.done"
    golang_check "$run" "$cap.done" 1
else
    fail "$run" "dnstap did not listen"
fi

# Negative controls: the checker must reject a capture with one frame
# missing, repeated, swapped with the next, or cut, and the wrong `full`.
cat >"$T/mangle.py" <<'EOF'
import struct, sys
src, dst, how, k = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
b = open(src, "rb").read()
frames, i = [], 0
while i < len(b):
    n = struct.unpack(">I", b[i:i + 4])[0]
    if n == 0:
        m = struct.unpack(">I", b[i + 4:i + 8])[0]
        frames.append(b[i:i + 8 + m]); i += 8 + m
    else:
        frames.append(b[i:i + 4 + n]); i += 4 + n
data = [j for j, f in enumerate(frames) if f[:4] != b"\0\0\0\0"]
j = data[k]
if how == "drop": del frames[j]
elif how == "dup": frames.insert(j, frames[j])
elif how == "swap": frames[j], frames[j + 1] = frames[j + 1], frames[j]
out = b"".join(frames)
if how == "cut": out = b"".join(frames[:j]) + frames[j][:10]
open(dst, "wb").write(out)
EOF
negative() {
    cap=$T/fstrm-unix-full.fstrm
    [ -f "$cap" ] || { fail "negative controls" "no capture"; return; }
    s=$(val fstrm-unix-full sent)
    for how in drop dup swap cut; do
        $py "$T/mangle.py" "$cap" "$T/neg-$how.fstrm" "$how" 1000 || { fail "negative: $how" "mangle.py failed"; continue; }
        if "$client" --check "$T/fstrm-unix-full.acc" --full 1 --exact "$s" "$T/neg-$how.fstrm" >"$T/neg-$how.out" 2>&1; then
            fail "negative: $how" "the checker (--exact) accepted a capture with frame 1000 ($how)"
        else
            pass "negative: checker --exact rejects a capture with frame 1000 $how: $(grep -m 1 'error' "$T/neg-$how.out")"
        fi
        [ "$how" = drop ] && continue
        if "$client" --check "$T/fstrm-unix-full.acc" --full 1 --max "$s" "$T/neg-$how.fstrm" >"$T/neg-$how.out2" 2>&1; then
            fail "negative: $how" "the checker (--max) accepted a capture with frame 1000 ($how)"
        else
            pass "negative: checker --max rejects a capture with frame 1000 $how: $(grep -m 1 'error' "$T/neg-$how.out2")"
        fi
    done
    if "$client" --check "$T/fstrm-unix-full.acc" --full 0 --exact "$s" "$cap" >"$T/neg-full.out" 2>&1; then
        fail "negative: full" "the checker accepted wire messages with --full 0"
    else
        pass "negative: checker rejects wire messages present with --full 0"
    fi
}
negative

# Informational: over TCP the STOP frame waits for the receiver's delayed ACK
# (the library does not set TCP_NODELAY), which shows as shutdown time.
port=$(free_port)
start tcp-shutdown.recv fstrm_capture -t protobuf:dnstap.Dnstap -a 127.0.0.1 -p "$port" -w "$T/tcp-shutdown.fstrm"
if wait_tcp "$port"; then
    run_client tcp-shutdown -e "tcp://127.0.0.1:$port" -n 10 -r 0 -p keep -f 1 -t 2000
    stop_fstrm "$RPID"
    client_ok tcp-shutdown
    check tcp-shutdown "capture holds exactly the $(val tcp-shutdown sent) sent frames" --full 1 --exact "$(val tcp-shutdown sent)" "$T/tcp-shutdown.fstrm"
    info "tcp-shutdown: 10 messages over TCP, dnstap_shutdown() to closed took $(val tcp-shutdown run_ms) ms"
fi

# The call after dnstap_shutdown() (made by every run) is documented as
# refused with DNSTAP_ERR_DISCONNECTED and counted as a drop.
r=$(val fstrm-unix-full log_after_shutdown)
expect "api" "dnstap_log() after dnstap_shutdown() returns DNSTAP_ERR_DISCONNECTED as documented (got: $r)" \
    "$r" = "$(val fstrm-unix-full result_disconnected)"

# --- 2. receiver absent at start, appears ~1 s later ------------------------
absent_run() {
    run=$1 kind=$2
    cap=$T/$run.fstrm
    if [ "$kind" = unix ]; then
        sock=$S/$run.sock
        ep=$sock
    else
        port=$(free_port)
        ep=tcp://127.0.0.1:$port
    fi
    bg_client "$run" -e "$ep" -n 2500 -r 1000 -q 4194304 -p keep -f 1 -t 500 -b 200 -B 400 $strict
    sleep 1
    if [ "$kind" = unix ]; then
        start "$run.recv" fstrm_capture -t protobuf:dnstap.Dnstap -u "$sock" -w "$cap"
    else
        start "$run.recv" fstrm_capture -t protobuf:dnstap.Dnstap -a 127.0.0.1 -p "$port" -w "$cap"
    fi
    wait_client "$run"
    stop_fstrm "$RPID" || fail "$run" "fstrm_capture did not end on SIGTERM"
    client_ok "$run"
    s=$(val "$run" sent)
    expect "$run" "connected by itself after backoff (reconnects=$(val "$run" reconnects) >= 1, connects=1)" \
        "$(val "$run" reconnects)" -ge 1 -a "$(val "$run" connects)" = 1
    expect "$run" "KEEP: all 2500 arrive, none dropped (sent=$s)" "$s" = 2500 -a "$(dropped "$run")" = 1
    check "$run" "capture holds exactly the $s sent frames, in order" --full 1 --exact "$s" "$cap"
}
strict=
absent_run absent-unix unix
strict=-S
absent_run absent-tcp tcp

# --- 3. receiver SIGKILLed and restarted 4 times mid-stream ------------------
run=kill
sock=$S/kill.sock
start kill.recv0 fstrm_capture -t protobuf:dnstap.Dnstap -u "$sock" -w "$T/kill.0.fstrm"
wait_unix "$sock" || fail kill "fstrm_capture did not listen"
bg_client kill -e "$sock" -n 0 -d 4500 -r 2000 -q 1048576 -p keep -f 1 -t 300 -b 100 -B 400 -S
kills=0
for k in 1 2 3 4; do
    sleep 0.8
    kill -KILL "$RPID"
    wait "$RPID" 2>/dev/null
    kills=$((kills + 1))
    rm -f "$sock"
    sleep 0.1
    start "kill.recv$k" fstrm_capture -t protobuf:dnstap.Dnstap -u "$sock" -w "$T/kill.$k.fstrm"
    wait_unix "$sock" || fail kill "fstrm_capture $k did not listen"
done
wait_client kill
stop_fstrm "$RPID" || fail kill "fstrm_capture did not end on SIGTERM"
client_ok kill
expect kill "reconnects=$(val kill reconnects) >= $kills kills" "$(val kill reconnects)" -ge "$kills"
expect kill "KEEP with room: nothing dropped before the end" "$(dropped kill)" = 1
# A killed fstrm_capture loses the end of its stdio buffer: its file may end
# without STOP or inside the last frame; every frame before must be whole.
check kill "5 captures parse frame-exact, no sequence number twice, increasing, all accepted" \
    --full 1 --max "$(val kill sent)" --killed 4 \
    "$T/kill.0.fstrm" "$T/kill.1.fstrm" "$T/kill.2.fstrm" "$T/kill.3.fstrm" "$T/kill.4.fstrm"
n4=$(sed -n "s|^capture=$T/kill.4.fstrm frames=\([0-9]*\).*|\1|p" "$T/kill.check")
expect kill "the last receiver got frames after the last restart ($n4)" "${n4:-0}" -gt 0
info "kill: sent=$(val kill sent) captured=$(sed -n 's/.*captured=//p' "$T/kill.check")" \
     "(the difference was in the killed receivers' socket and stdio buffers)"

# --- 4. stalled receiver ------------------------------------------------------
# 4a: SIGSTOP for 2 s while the tap logs 2000/s into a 256 KiB queue, then
# SIGCONT. The stalled connection times out; later ones fail the handshake.
# Run with the ASan build, then again with gcc -O2 for a latency figure
# without sanitizers.
stall_cont_run() {
    run=$1
    sock=$S/$run.sock
    start "$run.recv" fstrm_capture -t protobuf:dnstap.Dnstap -u "$sock" -w "$T/$run.fstrm"
    wait_unix "$sock" || { fail "$run" "fstrm_capture did not listen"; return; }
    bg_client "$run" -e "$sock" -n 0 -d 4000 -r 2000 -q 262144 -p keep -f 1 -t 300 -b 100 -B 400
    sleep 1
    kill -STOP "$RPID"
    sleep 2
    kill -CONT "$RPID"
    wait_client "$run"
    stop_fstrm "$RPID" || fail "$run" "fstrm_capture did not end on SIGTERM"
    client_ok "$run"
    e=$(val "$run" elapsed_ms)
    expect "$run" "ends in bounded time (elapsed ${e} ms for a 4000 ms run)" "${e:-99999}" -lt 7000
    expect "$run" "stall seen: timeouts=$(val "$run" timeouts) > 0 (dropped_full=$(val "$run" dropped_full))" \
        "$(val "$run" timeouts)" -gt 0
    expect "$run" "dnstap_log() max latency $(val "$run" log_max_ns) ns < 50 ms (p99.9 $(val "$run" log_p999_ns) ns)" \
        "$(val "$run" log_max_ns)" -lt 50000000
    # after SIGCONT fstrm_capture reads the old and the new connection into
    # one file in its own order: check whole frames and no duplicates only
    check "$run" "capture parses, every frame whole, no sequence number twice" \
        --full 1 --max "$(val "$run" sent)" --unordered "$T/$run.fstrm"
}
stall_cont_run stall-cont
BIN=$build/tap_client_gcc
stall_cont_run stall-cont-O2
BIN=

# 4b: DROP policy; the receiver is stopped at 1 s and stays stopped until
# the tap has ended (its shutdown too must be bounded), then it is killed.
run=stall-kill
sock=$S/stall2.sock
start stall2.recv fstrm_capture -t protobuf:dnstap.Dnstap -u "$sock" -w "$T/stall2.fstrm"
wait_unix "$sock" || fail stall-kill "fstrm_capture did not listen"
bg_client stall-kill -e "$sock" -n 0 -d 3000 -r 2000 -q 262144 -p drop -f 1 -t 300 -b 100 -B 400 -S
sleep 1
kill -STOP "$RPID"
wait_client stall-kill
kill -KILL "$RPID"
wait "$RPID" 2>/dev/null
client_ok stall-kill
e=$(val stall-kill elapsed_ms)
expect stall-kill "ends in bounded time with the receiver still stopped (elapsed ${e} ms for a 3000 ms run, shutdown $(val stall-kill run_ms) ms)" \
    "${e:-99999}" -lt 6000
expect stall-kill "timeouts=$(val stall-kill timeouts) > 0, DROP: dropped_disconnected=$(val stall-kill dropped_disconnected) > 1" \
    "$(val stall-kill timeouts)" -gt 0 -a "$(val stall-kill dropped_disconnected)" -gt 1
expect stall-kill "dnstap_log() max latency $(val stall-kill log_max_ns) ns < 50 ms (p99.9 $(val stall-kill log_p999_ns) ns)" \
    "$(val stall-kill log_max_ns)" -lt 50000000
check stall-kill "capture of the killed receiver parses frame-exact, increasing, all accepted" \
    --full 1 --max "$(val stall-kill sent)" --killed 1 "$T/stall2.fstrm"

# 4c: TCP, SO_SNDBUF 16 KiB (desc.write_buffer): SIGSTOP at 1 s, SIGKILL at
# 5 s and a new receiver on the same port; KEEP, then DROP. The receiver's
# buffer, autotuned while it read, swallowed up to 2 s of this traffic (the
# stalled write was never seen); it cannot grow while the receiver is
# stopped, so 4 s of stall always reach the writer. Partial writes
# happen on TCP: under KEEP the frame cut by the timeout must be sent again
# whole, and only once; under DROP it counts as dropped_write_error.
stall_tcp_run() {
    run=$1 policy=$2
    port=$(free_port)
    start "$run.recv0" fstrm_capture -t protobuf:dnstap.Dnstap -a 127.0.0.1 -p "$port" -w "$T/$run.0.fstrm"
    wait_tcp "$port" || { fail "$run" "fstrm_capture did not listen"; return; }
    bg_client "$run" -e "tcp://127.0.0.1:$port" -n 0 -d 6000 -r 2000 -q 262144 -s 16384 -p "$policy" -f 1 \
        -t 300 -b 100 -B 400
    sleep 1
    kill -STOP "$RPID"
    sleep 4
    kill -KILL "$RPID"
    wait "$RPID" 2>/dev/null
    start "$run.recv1" fstrm_capture -t protobuf:dnstap.Dnstap -a 127.0.0.1 -p "$port" -w "$T/$run.1.fstrm"
    wait_tcp "$port" || fail "$run" "second fstrm_capture did not listen"
    wait_client "$run"
    stop_fstrm "$RPID" || fail "$run" "fstrm_capture did not end on SIGTERM"
    client_ok "$run"
    e=$(val "$run" elapsed_ms)
    expect "$run" "ends in bounded time (elapsed ${e} ms for a 6000 ms run)" "${e:-99999}" -lt 9000
    expect "$run" "timeouts=$(val "$run" timeouts) > 0, reconnected (connects=$(val "$run" connects) >= 2)" \
        "$(val "$run" timeouts)" -gt 0 -a "$(val "$run" connects)" -ge 2
    if [ "$policy" = keep ]; then
        expect "$run" "KEEP: dropped_write_error=0" "$(val "$run" dropped_write_error)" = 0
    else
        expect "$run" "DROP: dropped while disconnected ($(val "$run" dropped_disconnected)), dropped_write_error=$(val "$run" dropped_write_error) <= connection failures" \
            "$(val "$run" dropped_disconnected)" -gt 1 -a "$(val "$run" dropped_write_error)" -le $(( $(val "$run" reconnects) + 1 ))
    fi
    check "$run" "captures parse frame-exact, no sequence number twice, increasing, all accepted" \
        --full 1 --max "$(val "$run" sent)" --killed 1 "$T/$run.0.fstrm" "$T/$run.1.fstrm"
}
stall_tcp_run stall-tcp keep
stall_tcp_run stall-tcp-drop drop

# --- 5. a listener that never sends ACCEPT -----------------------------------
cat >"$T/noaccept.py" <<'EOF'
import os, select, socket, sys
path = sys.argv[1]
try:
    os.unlink(path)
except FileNotFoundError:
    pass
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
s.listen(64)
conns, n = [], 0
while True:
    r, _, _ = select.select([s] + conns, [], [])
    for c in r:
        if c is s:
            cc, _ = s.accept()
            conns.append(cc)
            n += 1
            print("connection", n, flush=True)
        else:
            try:
                d = c.recv(65536)
            except OSError:
                d = b""
            if not d:
                conns.remove(c)
                c.close()
EOF
noaccept_run() {
    run=$1 policy=$2
    sock=$S/$run.sock
    start "$run.recv" "$py" "$T/noaccept.py" "$sock"
    wait_unix "$sock" || { fail "$run" "listener did not start"; return; }
    run_client "$run" -e "$sock" -n 0 -d 2000 -r 1000 -q 65536 -p "$policy" -f 1 -t 200 -b 100 -B 200 $strict
    kill -TERM "$RPID"
    wait_gone "$RPID" 30
    client_ok "$run"
    e=$(val "$run" elapsed_ms)
    expect "$run" "handshake_failures=$(val "$run" handshake_failures) > 0, timeouts=$(val "$run" timeouts) > 0, nothing sent, never connected" \
        "$(val "$run" handshake_failures)" -gt 0 -a "$(val "$run" timeouts)" -gt 0 -a "$(val "$run" sent)" = 0 \
        -a "$(val "$run" connects)" = 0
    expect "$run" "nothing hangs (elapsed $e ms for a 2000 ms run, shutdown $(val "$run" run_ms) ms)" "${e:-99999}" -lt 4500
    if [ "$policy" = drop ]; then
        expect "$run" "DROP: every message dropped as disconnected ($(val "$run" dropped_disconnected) = $(val "$run" logged))" \
            "$(val "$run" dropped_disconnected)" = "$(val "$run" logged)"
    else
        expect "$run" "KEEP: queue full counted ($(val "$run" dropped_full)), the rest dropped at close" \
            "$(val "$run" dropped_full)" -gt 0 -a "$(dropped "$run")" = "$(val "$run" logged)"
    fi
    info "$run: the listener saw $(grep -c '^connection' "$T/$run.recv.log") connections"
}
strict=-S
noaccept_run noaccept-drop drop
strict=
noaccept_run noaccept-keep keep

# 5c: a real receiver configured for another content type answers ACCEPT
# without ours: a handshake failure each time, at once (no timeout).
run=wrong-type
sock=$S/wrong-type.sock
start wrong-type.recv fstrm_capture -t protobuf:other.Type -u "$sock" -w "$T/wrong-type.fstrm"
if wait_unix "$sock"; then
    run_client wrong-type -e "$sock" -n 0 -d 1500 -r 1000 -q 65536 -p drop -f 1 -t 200 -b 100 -B 200
    stop_fstrm "$RPID"
    client_ok wrong-type
    expect wrong-type "handshake_failures=$(val wrong-type handshake_failures) > 0, timeouts=0, nothing sent, never connected" \
        "$(val wrong-type handshake_failures)" -gt 0 -a "$(val wrong-type timeouts)" = 0 \
        -a "$(val wrong-type sent)" = 0 -a "$(val wrong-type connects)" = 0
    expect wrong-type "DROP: every message dropped as disconnected" \
        "$(val wrong-type dropped_disconnected)" = "$(val wrong-type logged)"
else
    fail wrong-type "fstrm_capture did not listen"
fi

# --- 5d. collectors that leave (TCP) ------------------------------------------
# leave.py PORT MODE: accept-close answers READY with ACCEPT and closes at
# once, every time; finish, on its first connection, reads 100 KB after
# ACCEPT, sends FINISH, closes its side (shutdown SHUT_WR), and counts what
# still arrives until the tap closes; later connections are served normally.
# A small receive buffer keeps what is in flight when FINISH goes out small.
cat >"$T/leave.py" <<'EOF'
import socket, struct, sys
port, mode = int(sys.argv[1]), sys.argv[2]
CT = b"protobuf:dnstap.Dnstap"
def control(ftype, ct=None):
    body = struct.pack(">I", ftype) + (struct.pack(">II", 1, len(ct)) + ct if ct else b"")
    return struct.pack(">II", 0, len(body)) + body
def read_frame(c, buf):
    # the next frame: ("data", bytes) or ("control", type); None at the end
    while True:
        if len(buf) >= 4:
            n = struct.unpack(">I", buf[:4])[0]
            if n and len(buf) >= 4 + n:
                f = bytes(buf[4:4 + n]); del buf[:4 + n]; return ("data", f)
            if n == 0 and len(buf) >= 12:
                m = struct.unpack(">I", buf[4:8])[0]
                if len(buf) >= 8 + m:
                    t = struct.unpack(">I", buf[8:12])[0]; del buf[:8 + m]; return ("control", t)
        try:
            d = c.recv(65536)
        except OSError:
            d = b""
        if not d:
            return None
        buf += d
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
s.bind(("127.0.0.1", port))
s.listen(64)
n = 0
while True:
    c, _ = s.accept()
    n += 1
    print("connection", n, flush=True)
    buf = bytearray()
    if read_frame(c, buf) != ("control", 4):     # READY
        c.close(); continue
    c.sendall(control(1, CT))                    # ACCEPT
    if mode == "accept-close":
        c.close(); continue
    if n == 1:
        got = len(buf)
        while got < 100000:
            d = c.recv(65536)
            if not d:
                break
            got += len(d)
        c.sendall(control(5))                    # FINISH
        c.shutdown(socket.SHUT_WR)
        after = 0
        while True:
            try:
                d = c.recv(65536)
            except OSError:
                d = b""
            if not d:
                break
            after += len(d)
        print("after_finish", after, flush=True)
        c.close(); continue
    while True:
        f = read_frame(c, buf)
        if f is None:
            break
        if f == ("control", 3):                  # STOP
            c.sendall(control(5))
    c.close()
EOF

# A collector that drops every connection at once: in a 6 s run with backoff
# 100 ms doubling to 1600 ms (-25 % jitter at most), the tap may connect
# once, then once after each delay of the schedule, and once more at
# shutdown. A backoff that started over after each handshake gave ~60.
run=accept-close
port=$(free_port)
start accept-close.recv "$py" "$T/leave.py" "$port" accept-close
if wait_tcp "$port"; then
    run_client accept-close -e "tcp://127.0.0.1:$port" -n 0 -d 6000 -r 1000 -q 1048576 -p keep -f 1 \
        -t 1000 -b 100 -B 1600 -W 2000
    kill -TERM "$RPID"
    wait_gone "$RPID" 30
    client_ok accept-close
    allowed=2 t=0 b=100
    while [ $((t + b - b / 4)) -le 6000 ]; do
        t=$((t + b - b / 4)) allowed=$((allowed + 1)) b=$((b * 2))
        [ $b -gt 1600 ] && b=1600
    done
    n=$(grep -c '^connection' "$T/accept-close.recv.log")
    expect accept-close "connections=$n, at most $allowed as the backoff allows in 6 s (and at least 5)" \
        "$n" -le "$allowed" -a "$n" -ge 5
else
    fail accept-close "leave.py did not listen"
fi

# A collector that sends FINISH and closes its side while frames flow as fast
# as the tap logs them: the tap leaves that connection at its next
# dnstap_poll() and reconnects. What reaches the collector after its FINISH
# is what the small buffers held and one poll's writing, at most a queue
# (1 MB) more (without the read watch: everything for the rest of the run).
run=finish-load
port=$(free_port)
start finish-load.recv "$py" "$T/leave.py" "$port" finish
if wait_tcp "$port"; then
    run_client finish-load -e "tcp://127.0.0.1:$port" -n 0 -d 2000 -r 0 -q 1048576 -p keep -f 1 \
        -t 1000 -b 100 -B 400 -s 65536
    kill -TERM "$RPID"
    wait_gone "$RPID" 30
    client_ok finish-load
    after=$(sed -n 's/^after_finish //p' "$T/finish-load.recv.log")
    n=$(grep -c '^connection' "$T/finish-load.recv.log")
    expect finish-load "left at the collector's FINISH (${after:-no} bytes after it, < 4 MB) and reconnected (connections=$n, reconnects=$(val finish-load reconnects))" \
        "${after:-99999999}" -lt 4000000 -a "$n" -ge 2 -a "$(val finish-load reconnects)" -ge 1
else
    fail finish-load "leave.py did not listen"
fi

# --- 6. producer threads, one queue each (dnstap_log_queue) -------------------
# 6a: 4 threads, 40,000 messages as fast as they go, room for all: each
# thread's messages are captured exactly and in its order.
run=threads
sock=$S/threads.sock
start threads.recv fstrm_capture -t protobuf:dnstap.Dnstap -u "$sock" -w "$T/threads.fstrm"
if wait_unix "$sock"; then
    run_client threads -e "$sock" -T 4 -n 40000 -r 0 -q 8388608 -p keep -f 1 -t 2000
    stop_fstrm "$RPID" || fail threads "fstrm_capture did not end on SIGTERM"
    client_ok threads
    expect threads "all 40000 accepted and sent ($(val threads sent))" "$(val threads sent)" = 40000 \
        -a "$(val threads accepted)" = 40000
    check threads "capture holds exactly the sent frames, each thread's in its order" \
        --full 1 --streams 4 --exact "$(val threads sent)" "$T/threads.fstrm"
else
    fail threads "fstrm_capture did not listen"
fi

# 6b: the same under ThreadSanitizer, 4 threads at 1000/s each into 32 KiB
# queues (they wrap often), the receiver SIGKILLed and restarted twice.
if [ -n "$tsan" ]; then
    run=threads-tsan
    sock=$S/threads-tsan.sock
    start threads-tsan.recv0 fstrm_capture -t protobuf:dnstap.Dnstap -u "$sock" -w "$T/threads-tsan.0.fstrm"
    wait_unix "$sock" || fail threads-tsan "fstrm_capture did not listen"
    BIN=$tsan
    bg_client threads-tsan -e "$sock" -T 4 -n 0 -d 3000 -r 4000 -q 131072 -p keep -f 1 -t 300 -b 100 -B 400
    BIN=
    for k in 1 2; do
        sleep 0.9
        kill -KILL "$RPID"
        wait "$RPID" 2>/dev/null
        rm -f "$sock"
        start "threads-tsan.recv$k" fstrm_capture -t protobuf:dnstap.Dnstap -u "$sock" -w "$T/threads-tsan.$k.fstrm"
        wait_unix "$sock" || fail threads-tsan "fstrm_capture $k did not listen"
    done
    wait_client threads-tsan
    stop_fstrm "$RPID" || fail threads-tsan "fstrm_capture did not end on SIGTERM"
    client_ok threads-tsan
    expect threads-tsan "reconnects=$(val threads-tsan reconnects) >= 2 kills" "$(val threads-tsan reconnects)" -ge 2
    check threads-tsan "3 captures parse frame-exact, no number twice, each thread's increasing" \
        --full 1 --streams 4 --max "$(val threads-tsan sent)" --killed 2 \
        "$T/threads-tsan.0.fstrm" "$T/threads-tsan.1.fstrm" "$T/threads-tsan.2.fstrm"
fi

echo "INFO: live tests took $(( $(date +%s) - t_begin )) s"
[ "$fails" = 0 ]
