#!/usr/bin/env python3
"""Write the hand-made seed scripts of fuzz_conn and fuzz_capture.

    fuzz/make_seeds.py            # (re)writes fuzz/corpus/fuzz_{conn,capture}/seed-*

Both targets read operations from the front of the input and the results of
the transport calls from the back (the first call takes the last byte); see
the comments at the top of fuzz_conn.c and fuzz_capture.c for the encoding.
A script is built here as two lists and written as ops + reversed(results).
"""
import os
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def write(target, name, ops, results):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    data = bytes(ops) + bytes(reversed(results))
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


# ---- fuzz_conn ---------------------------------------------------------------
# config: c0 flags, c1 queue size index, c2 payload_max/backoff, c3 timeouts,
# c4 jitter seed, c5 extra/want
def cfg(unidir=0, drop=0, full=1, queues=1, no_read=0, no_connect=0, extra_fn=0,
        qsize=7, pmax=0, drop_report=0, bmax=0, bmin=0, touts=(0, 0, 0, 0), seed=1,
        fixed_extra=0, long_extra=0, want=None):
    c0 = unidir | drop << 1 | full << 2 | (queues - 1) << 3 | no_read << 5 | no_connect << 6 | extra_fn << 7
    c2 = pmax | drop_report << 3 | bmax << 4 | bmin << 6
    c3 = touts[0] | touts[1] << 2 | touts[2] << 4 | touts[3] << 6
    c5 = fixed_extra | long_extra << 1 | (0 if want is None else 4 | want << 3)
    return [c0, qsize, c2, c3, seed, c5]


def poll(step=10):
    return [0x00, step]


def log(q=0, type_=5, qlen=29, flags=0):
    return [0x03, q, type_, qlen, flags]


def burst(k=4, type_=5, qlen=20):
    return [0x06 | ((k - 2) << 3), type_, qlen]


SHUTDOWN = [0x85]
IO = [0x07]

# transport results
C_OK, C_AGAIN = 0x00, 0x01
def C_ERR(i): return [0x02, i]
W_AGAIN, W_ZERO, W_ALL, W_ONE = 0x00, 0x01, 0x04, 0x05
def W_ERR(i): return [0x02, i]
def W_OVER(n): return [0x03, n]
def W_N(n): return [0x06, n - 1]
R_AGAIN, R_EOF, R_PROPER = 0x00, 0x01, 0x06
def R_ERR(i): return [0x02, i]
def R_RAW(bs): return [0x03, len(bs)] + list(bs)
def R_CONTROL(b, *fields): return [0x04, b] + list(fields)   # b: type idx | nf << 3 | 0x20 oversized
def R_DATA(n): return [0x05, n - 1]
def R_CHUNK(n): return [0x07 | (n << 3)]


def flat(*xs):
    out = []
    for x in xs:
        out += x if isinstance(x, list) else [x]
    return out


def conn_seeds():
    # a clean bidirectional session
    write("fuzz_conn", "bidir-clean",
          flat(cfg(), log(), log(), poll(), poll(), poll(), log(), poll(), SHUTDOWN, poll(), poll(), poll()),
          flat(C_OK, W_ALL, R_PROPER, W_ALL, W_ALL, R_AGAIN, W_ALL, W_ALL, R_PROPER))
    # unidirectional, DROP, 4 queues, partial writes and would-blocks
    write("fuzz_conn", "unidir-drop-partial",
          flat(cfg(unidir=1, drop=1, queues=4, qsize=4), poll(), burst(6), poll(), poll(), burst(9, qlen=60),
               poll(), poll(5), poll(5), IO, poll(100), SHUTDOWN, poll(), poll()),
          flat(C_AGAIN, C_OK, W_N(7), W_ALL, W_ONE, W_AGAIN, W_ZERO, W_N(30), W_ALL, W_AGAIN, 0x17, W_ALL))
    # ACCEPT of another content type, then a clean retry after the backoff
    write("fuzz_conn", "accept-wrong-type",
          flat(cfg(bmin=2, bmax=2), log(), poll(), poll(), poll(120), poll(), poll(), poll()),
          flat(C_OK, W_ALL, R_CONTROL(0 | 1 << 3, 1), C_ERR(0), C_OK, W_ALL, R_CHUNK(5), R_CHUNK(0), W_ALL, W_ALL))
    # FINISH instead of ACCEPT; then EOF; then an oversized control frame
    write("fuzz_conn", "finish-early-eof-oversized",
          flat(cfg(bmin=1, bmax=1), log(), poll(), poll(2), poll(2), poll(2), poll(2), poll(2)),
          flat(C_OK, W_ALL, R_CONTROL(5), C_OK, W_ALL, R_EOF, C_OK, W_ALL, R_CONTROL(0 | 1 << 3 | 0x20, 0, 3),
               C_OK, W_ALL, R_CONTROL(0 | 3 << 3, 3, 4, 5)))
    # garbage bytes, a data frame and read errors instead of ACCEPT
    write("fuzz_conn", "garbage-replies",
          flat(cfg(bmin=1, bmax=1, touts=(2, 2, 2, 2)), log(), poll(), poll(3), poll(60), poll(3), poll(60), poll(3)),
          flat(C_OK, W_ALL, R_RAW(b"\x00\x00\x00\x05ABCDEFG"), C_OK, W_ALL, R_DATA(40), C_OK, W_ALL, R_ERR(10),
               C_OK, W_ALL, R_AGAIN, R_AGAIN))
    # write errors, over-long counts, connect errors of every kind
    write("fuzz_conn", "write-errors",
          flat(cfg(bmin=1, bmax=1), burst(5), poll(), poll(3), poll(3), poll(3), poll(3), poll(3), poll(3)),
          flat(C_OK, W_ALL, R_PROPER, W_ALL, W_N(50), W_ERR(0), C_ERR(9), C_ERR(10), C_OK, W_OVER(3),
               C_OK, W_ALL, R_PROPER, W_ALL, W_ERR(11)))
    # the clock: backwards, huge jumps, near the end of time, wrap
    write("fuzz_conn", "clock-chaos",
          flat(cfg(touts=(2, 2, 2, 2), bmin=2, bmax=3), log(), poll(0xd5), poll(0xe3), poll(0xec), log(), poll(0xf3),
               poll(0xfe), poll(0x10), poll(0xc5), poll(0xea), SHUTDOWN, poll(0xd0)),
          flat(C_AGAIN, C_AGAIN, C_OK, W_AGAIN, W_ALL, R_AGAIN, R_PROPER, W_ONE, W_ALL, W_ALL))
    # the idle probe: the receiver talks (or hangs up) while it should not
    write("fuzz_conn", "probe",
          flat(cfg(bmin=1, bmax=1), log(), poll(), poll(), poll(50), log(), poll(50), poll(200), log(), poll(50),
               poll(50)),
          flat(C_OK, W_ALL, R_PROPER, W_ALL, W_ALL, R_DATA(10), C_OK, W_ALL, R_PROPER, W_ALL, W_ALL, R_EOF))
    # a small queue: full, too big, invalid messages, bad queue numbers, DROP
    write("fuzz_conn", "small-queue",
          flat(cfg(drop=1, queues=2, qsize=2, pmax=5), log(0, 5, 200), log(1, 0), log(0, 15), log(0xff),
               log(0xfe), poll(), burst(9, qlen=40), log(1, 5, 60, 0x40), poll(), burst(9), poll(), SHUTDOWN,
               log(), poll()),
          flat(C_OK, W_ALL, R_PROPER, W_ALL, W_N(3), W_AGAIN, W_ALL, W_ALL))
    # no connect/read callbacks, extra callback, want(), fixed extra
    write("fuzz_conn", "callbacks",
          flat(cfg(unidir=1, no_read=1, no_connect=1, extra_fn=1, full=0, fixed_extra=1, want=3, queues=2),
               IO, log(0, 5, 9, 0x02), log(1, 6, 0xfe, 0x24), poll(), IO, burst(3, qlen=0xf3), poll(), SHUTDOWN,
               IO, poll()),
          flat(W_ALL, W_ALL, W_ALL, W_ALL))


# ---- fuzz_capture ----------------------------------------------------------
NEW = [0x00]
def READY(k=0, *cts): return [0x01 | k << 4, len(cts)] + list(cts)   # ct: 0 ours, 1 other, 2 empty, 6 long
def START(k=0, *cts): return [0x02 | k << 4, len(cts)] + list(cts)
def DATA(k=0, size=40, t=5): return [0x03 | k << 4, size, t]
def BAD(k=0, b=0): return [0x05 | k << 4, b]
def STOP(k=0, field=0): return [0x06 | k << 4, 7 if field else 0]
def CTRL(k=0, b=0): return [0x07 | k << 4, b]
def RAW(k, bs): return [0x08 | k << 4, len(bs)] + list(bs)
def DELIVER(k=0, *chunks): return [0x08 + len(chunks) | k << 4] + list(chunks)
def EOF(k=0, e=0): return [0x0c | k << 4, e]
def EV(k=0, b=1): return [0x0d | k << 4, b]   # 1 POLLOUT, 2 POLLHUP, 0 POLLERR|POLLOUT
def TICK(n): return [0x0e, n]
FLUSH = [0x0f]
S_ALL, S_AGAIN, S_EPIPE, S_ZERO, S_EINTR = 0x00, 0x02, 0x03, 0x04, 0x05
def S_PART(n): return [0x01 | (n - 1) << 3]


def capture_seeds():
    write("fuzz_capture", "bidir-clean",
          flat(0x00, NEW, READY(0, 0), DELIVER(0, 0), START(0, 0), DATA(0, 30), DATA(0, 0x85), DELIVER(0, 0),
               DATA(0, 200), STOP(0), DELIVER(0, 7, 0)),
          [])
    write("fuzz_capture", "unidir-three-producers",
          flat(0x01, NEW, NEW, NEW, START(0, 0), START(1, 0), START(2), DATA(0, 10), DATA(1, 20), DATA(2, 30),
               DELIVER(0, 3, 0), DELIVER(1, 1, 1, 0), DELIVER(2, 0x81), DATA(0, 255), STOP(0), STOP(1), STOP(2),
               DELIVER(2, 0), DELIVER(1, 0), DELIVER(0, 0), FLUSH),
          [0x17, 0x09, 0x21] * 8)
    write("fuzz_capture", "refused-and-slow-replies",
          flat(0x00, NEW, NEW, READY(0, 1, 2), READY(1, 1, 0, 6), DELIVER(0, 0), DELIVER(1, 0), EV(1, 1), EV(1, 1),
               EV(0, 1), START(1, 0), STOP(1), DELIVER(1, 0), EV(1, 1), EV(1, 1)),
          flat(S_AGAIN, S_PART(5), S_EINTR, S_AGAIN, S_PART(20), S_AGAIN, S_ALL, S_AGAIN, S_PART(3), S_ALL))
    write("fuzz_capture", "bad-frames",
          flat(0x00, NEW, NEW, NEW, START(0, 1), DELIVER(0, 0), START(1, 0), BAD(1, 0), BAD(1, 1), BAD(1, 2),
               DELIVER(1, 0), RAW(2, b"\x00\x00\x00\x08\x00\x00\x00\x07"), CTRL(2, 0x10), DELIVER(2, 0), NEW,
               START(0, 0), DATA(0, 0xff), CTRL(0, 1), DELIVER(0, 0)),
          [])
    write("fuzz_capture", "eof-errors-deadline",
          flat(0x00, NEW, NEW, NEW, READY(0, 0), DELIVER(0, 20), EOF(0, 0), READY(1, 0), DELIVER(1, 0), EOF(1, 1),
               EOF(1, 2), EOF(1, 3), START(1, 0), DELIVER(1, 0), TICK(150), EV(2, 2), NEW, STOP(0, 1), DELIVER(0, 0)),
          [])
    write("fuzz_capture", "file-sink-partial",
          flat(0x01, NEW, START(0, 0)) + flat(*[DATA(0, 0x80 | i, i) for i in range(8)]) +
          flat(DELIVER(0, 0x85, 0x85, 0), FLUSH, STOP(0), DELIVER(0, 0)),
          [0x33, 0x91, 0x2c, 0x07] * 16)
    write("fuzz_capture", "file-sink-fails",
          flat(0x2a, NEW, START(0, 0), DATA(0, 100), DATA(0, 0x83), DELIVER(0, 0), FLUSH, DATA(0, 10),
               DELIVER(0, 0)),
          [])


if __name__ == "__main__":
    conn_seeds()
    capture_seeds()
    sys.exit(0)
