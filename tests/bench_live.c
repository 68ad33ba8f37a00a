/* bench_live.c - `make bench`, end to end: the workload's CLIENT_RESPONSE
   messages (161-byte frames) sent over a unix socket to a real receiver
   (fstrm_capture, started by tests/bench.sh), by this library and by
   protobuf-c + libfstrm's I/O thread, at a fixed offered rate.

     bench live SENDER RATE SECONDS SOCK QUEUE_BYTES
         log for SECONDS at RATE messages/s (0: as fast as possible), then
         shut down cleanly (STOP, FINISH); one line of key=value results.
     bench lat SENDER RATE SECONDS SOCK QUEUE_BYTES RECEIVER_PID
         the same with clock_gettime() around every log call: SECONDS with
         the receiver healthy, then SECONDS with it stopped (SIGSTOP to
         RECEIVER_PID; SIGCONT after), latency percentiles of each phase.
     bench frames FILE
         count the data frames of a capture (FILE may be a FIFO that the
         receiver writes to): every frame's length is checked (157-byte
         payloads), one in 256 is decoded (type, times in order).

   SENDER
     poll     dnstap.h; the producer thread calls dnstap_poll() after every
              burst of due messages (at most BURST), as a host event loop that
              polls on every turn: one thread in all.
     thread   dnstap.h; DNSTAP_WITH_THREAD's writer thread (default
              thread_wake_ms, 10); the producer only calls dnstap_log().
     thread1  the same with thread_wake_ms = 1.
     fstrm    protobuf-c packing into malloc'd memory + fstrm_iothr_submit()
              (default I/O thread options: one 512-slot queue, notify after
              32), unix writer. A refused submit is a drop, as in BIND/Knot.
   dnstap.h's queue is QUEUE_BYTES of caller memory, touched before the run
   so that page faults are not timed.

   Pacing: message n is due at start + n / RATE; the producer logs what is
   due (at most BURST at a time), then sleeps until the next one is due
   (clock_nanosleep, absolute; with timer slack that means bursts of a few
   tens of messages at the higher rates). Nothing here asserts a time. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#include "bench.h"

#define BURST 64u

enum { S_POLL, S_THREAD, S_FSTRM };

static uint64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_until_ns(uint64_t t) {
    struct timespec ts;
    ts.tv_sec = (time_t)(t / 1000000000u);
    ts.tv_nsec = (long)(t % 1000000000u);
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {}
}

static void sleep_ms(unsigned ms) { sleep_until_ns(mono_ns() + (uint64_t)ms * 1000000u); }

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* ------------------------------------------------------------------------
   Senders
   ------------------------------------------------------------------------ */
static int g_sender;
static dnstap_t g_tap;
static uint8_t *g_queue;

static void tap_open(const char *sock, size_t queue_bytes, unsigned wake_ms) {
    dnstap_desc_t d;
    uint64_t give_up;
    memset(&d, 0, sizeof d);
    d.endpoint = sock;
    d.full = true;
    g_queue = (uint8_t *)malloc(queue_bytes);
    if (g_queue == NULL) bench_die("malloc failed");
    memset(g_queue, 0, queue_bytes);   /* fault the pages in now */
    d.queue = g_queue;
    d.queue_size = queue_bytes;
    d.identity = dnstap_str(BENCH_IDENTITY);
    d.version = dnstap_str(BENCH_VERSION);
    d.thread_wake_ms = wake_ms;
    if (dnstap_init(&g_tap, &d) != DNSTAP_OK) bench_die("dnstap_init failed");
    /* handshake before the clock starts (from this thread, before any
       writer thread exists) */
    give_up = dnstap_clock_ms() + 5000;
    while (dnstap_stats(&g_tap).connects == 0) {
        if (dnstap_clock_ms() > give_up) bench_die("the tap did not connect to the receiver");
        (void)dnstap_poll(&g_tap, dnstap_clock_ms());
        sleep_ms(1);
    }
    if (g_sender == S_THREAD && dnstap_thread_start(&g_tap) != DNSTAP_OK) bench_die("dnstap_thread_start failed");
}

/* 0: accepted, 1: dropped (queue full) */
static int sender_log(const dnstap_msg_t *m) {
    dnstap_result_t r;
    if (g_sender == S_FSTRM) return bench_uiothr_log(m);
    r = dnstap_log(&g_tap, m);
    if (r == DNSTAP_OK) return 0;
    if (r == DNSTAP_ERR_FULL) return 1;
    fprintf(stderr, "bench: dnstap_log: %s\n", dnstap_result_str(r));
    bench_die("dnstap_log failed for another reason than a full queue");
}

/* ------------------------------------------------------------------------
   One run
   ------------------------------------------------------------------------ */
typedef struct phase_t {
    uint64_t offered, dropped;
    uint32_t *lat;      /* NULL: not timed */
    size_t nlat, cap;
} phase_t;

static bench_wl_t g_wl;

static void run_phase(phase_t *p, double rate, uint64_t dur_ns) {
    const uint64_t t0 = mono_ns(), end = t0 + dur_ns;
    uint64_t n = 0;
    for (;;) {
        uint64_t now = mono_ns(), due;
        if (now >= end) break;
        due = rate > 0 ? (uint64_t)((double)(now - t0) * rate / 1e9) + 1 : n + BURST;
        if (due > n + BURST) due = n + BURST;
        if (p->lat) {
            while (n < due) {
                uint64_t a, b;
                int d;
                a = mono_ns();
                d = sender_log(&g_wl.m);
                b = mono_ns();
                if (p->nlat < p->cap) p->lat[p->nlat++] = b - a > UINT32_MAX ? UINT32_MAX : (uint32_t)(b - a);
                p->dropped += (uint64_t)d;
                bench_wl_next(&g_wl);
                n++;
            }
        } else {
            while (n < due) {
                p->dropped += (uint64_t)sender_log(&g_wl.m);
                bench_wl_next(&g_wl);
                n++;
            }
        }
        if (g_sender == S_POLL) (void)dnstap_poll(&g_tap, dnstap_clock_ms());
        if (rate > 0) {
            uint64_t next = t0 + (uint64_t)((double)n * 1e9 / rate);
            if (next > end) next = end;
            if (next > mono_ns()) sleep_until_ns(next);
        }
    }
    p->offered = n;
}

/* p50, p99, p99.9, max of a phase's latencies, and how many took > 10 us */
static void print_lat(const char *pre, phase_t *p) {
    size_t n = p->nlat, k, slow = 0;
    if (n == 0) { printf(" %s_p50=0 %s_p99=0 %s_p999=0 %s_max=0 %s_over10us=0", pre, pre, pre, pre, pre); return; }
    for (k = 0; k < n; k++) slow += p->lat[k] > 10000;
    printf(" %s_over10us=%lu", pre, (unsigned long)slow);
    qsort(p->lat, n, sizeof p->lat[0], cmp_u32);
    printf(" %s_p50=%u %s_p99=%u %s_p999=%u %s_max=%u", pre, p->lat[n / 2], pre, p->lat[(size_t)((double)n * 0.99)],
           pre, p->lat[(size_t)((double)n * 0.999)], pre, p->lat[n - 1]);
}

/* Median cost of two back-to-back clock reads: included in every sample. */
static unsigned clock_pair_ns(void) {
    static uint32_t s[10001];
    size_t k;
    for (k = 0; k < 10001; k++) {
        uint64_t a = mono_ns(), b = mono_ns();
        s[k] = (uint32_t)(b - a);
    }
    qsort(s, 10001, sizeof s[0], cmp_u32);
    return s[5000];
}

static int live(int timed, const char *sender, double rate, double secs, const char *sock, size_t queue_bytes,
                pid_t receiver) {
    phase_t ph[2];
    int nph = timed ? 2 : 1, k;
    uint64_t t0, t_logged, t_done, a0, allocs;
    unsigned wake_ms = 0, clk = 0;
    dnstap_stats_t st;
    memset(ph, 0, sizeof ph);
    memset(&st, 0, sizeof st);
    if (strcmp(sender, "poll") == 0) g_sender = S_POLL;
    else if (strcmp(sender, "thread") == 0) g_sender = S_THREAD;
    else if (strcmp(sender, "thread1") == 0) { g_sender = S_THREAD; wake_ms = 1; }
    else if (strcmp(sender, "fstrm") == 0) g_sender = S_FSTRM;
    else bench_die("live: SENDER is poll, thread, thread1 or fstrm");
    if (timed) {
        if (rate <= 0) bench_die("lat: RATE must be > 0");
        clk = clock_pair_ns();
        for (k = 0; k < 2; k++) {
            ph[k].cap = (size_t)(rate * secs * 1.1) + 1024;
            ph[k].lat = (uint32_t *)malloc(ph[k].cap * sizeof ph[k].lat[0]);
            if (ph[k].lat == NULL) bench_die("malloc failed");
            memset(ph[k].lat, 0, ph[k].cap * sizeof ph[k].lat[0]);
        }
    }
    bench_wl_init(&g_wl, 1);
    if (g_sender == S_FSTRM) {
        if (bench_uiothr_open(sock) != 0) bench_die("fstrm_iothr with a unix writer: setup failed");
        sleep_ms(150);   /* its I/O thread connects and handshakes by itself; no way to ask */
    } else {
        tap_open(sock, queue_bytes, wake_ms);
    }

    a0 = bench_allocs_now();
    t0 = mono_ns();
    for (k = 0; k < nph; k++) {
        if (k == 1 && kill(receiver, SIGSTOP) != 0) bench_die("lat: cannot SIGSTOP the receiver");
        run_phase(&ph[k], rate, (uint64_t)(secs * 1e9));
        if (k == 1 && kill(receiver, SIGCONT) != 0) bench_die("lat: cannot SIGCONT the receiver");
    }
    t_logged = mono_ns();
    allocs = bench_allocs_now() - a0;

    if (g_sender == S_FSTRM) {
        bench_uiothr_close();
    } else {
        if (g_sender == S_THREAD) {
            (void)dnstap_thread_stop(&g_tap);
        } else {
            dnstap_shutdown(&g_tap, dnstap_clock_ms());
            (void)dnstap_run(&g_tap, 20000);
        }
        if (!dnstap_closed(&g_tap)) bench_die("the tap did not close");
        st = dnstap_stats(&g_tap);
        if (st.logged != st.sent + st.dropped_full + st.dropped_too_big + st.dropped_invalid +
                         st.dropped_disconnected + st.dropped_write_error + st.queued)
            bench_die("accounting invariant broken: logged != sent + dropped + queued");
    }
    t_done = mono_ns();

    {
        uint64_t offered = ph[0].offered + ph[1].offered, dropped = ph[0].dropped + ph[1].dropped;
        printf("live sender=%s rate=%.0f secs=%g queue=%lu offered=%llu accepted=%llu dropped=%llu "
               "log_s=%.3f elapsed_s=%.3f allocs=%llu",
               sender, rate, secs, g_sender == S_FSTRM ? 512ul : (unsigned long)queue_bytes,
               (unsigned long long)offered, (unsigned long long)(offered - dropped), (unsigned long long)dropped,
               (double)(t_logged - t0) / 1e9, (double)(t_done - t0) / 1e9, (unsigned long long)allocs);
        if (g_sender != S_FSTRM)
            printf(" sent=%llu tap_dropped_full=%llu tap_dropped_other=%llu reconnects=%llu",
                   (unsigned long long)st.sent, (unsigned long long)st.dropped_full,
                   (unsigned long long)(st.dropped_too_big + st.dropped_invalid + st.dropped_disconnected +
                                        st.dropped_write_error),
                   (unsigned long long)st.reconnects);
        if (timed) {
            printf(" clock_pair=%u h_calls=%llu h_dropped=%llu s_calls=%llu s_dropped=%llu", clk,
                   (unsigned long long)ph[0].offered, (unsigned long long)ph[0].dropped,
                   (unsigned long long)ph[1].offered, (unsigned long long)ph[1].dropped);
            print_lat("h", &ph[0]);
            print_lat("s", &ph[1]);
        }
        printf("\n");
    }
    for (k = 0; k < 2; k++) free(ph[k].lat);
    free(g_queue);
    return 0;
}

/* ------------------------------------------------------------------------
   frames: count the data frames of a Frame Streams capture, as it is written
   ------------------------------------------------------------------------ */
static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static int frames(const char *path) {
    static uint8_t buf[(1u << 20) + 300000];
    FILE *f = fopen(path, "rb");
    size_t have = 0, off, got;
    uint64_t data = 0, bytes = 0, controls = 0, bad = 0, disorder = 0, last_sec = 0;
    int eof = 0;
    if (f == NULL) { printf("frames=0 frame_errors=1 controls=0 (no capture)\n"); return 0; }
    while (!eof) {
        got = fread(buf + have, 1, (1u << 20), f);
        if (got == 0) eof = 1;
        have += got;
        off = 0;
        for (;;) {
            uint32_t len;
            if (have - off < 4) break;
            len = be32(buf + off);
            if (len == 0) {   /* control frame: escape, length, body */
                uint32_t clen;
                if (have - off < 8) break;
                clen = be32(buf + off + 4);
                if (clen > 512) { bad++; off = have; break; }
                if (have - off < 8 + (size_t)clen) break;
                controls++;
                off += 8 + clen;
            } else {
                dnstap_msg_t m;
                if (len > 262140) { bad++; off = have; break; }
                if (have - off < 4 + (size_t)len) break;
                if (len != 157) {
                    bad++;
                } else if (data % 256 == 0) {   /* decode a sample: this reader must keep up */
                    if (dnstap_decode(buf + off + 4, len, &m) != DNSTAP_OK || m.type != DNSTAP_CLIENT_RESPONSE)
                        bad++;
                    else if (m.query_time_sec < last_sec)
                        disorder++;
                    else
                        last_sec = m.query_time_sec;
                }
                data++;
                bytes += 4 + len;
                off += 4 + len;
            }
        }
        memmove(buf, buf + off, have - off);
        have -= off;
    }
    fclose(f);
    if (have) bad++;   /* cut frame at the end */
    printf("frames=%llu frame_bytes=%llu frame_errors=%llu frame_disorder=%llu controls=%llu\n",
           (unsigned long long)data, (unsigned long long)bytes, (unsigned long long)bad,
           (unsigned long long)disorder, (unsigned long long)controls);
    return 0;
}

int bench_live_main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "frames") == 0) return frames(argv[2]);
    if (argc == 7 && strcmp(argv[1], "live") == 0)
        return live(0, argv[2], strtod(argv[3], NULL), strtod(argv[4], NULL), argv[5],
                    (size_t)strtoull(argv[6], NULL, 10), 0);
    if (argc == 8 && strcmp(argv[1], "lat") == 0)
        return live(1, argv[2], strtod(argv[3], NULL), strtod(argv[4], NULL), argv[5],
                    (size_t)strtoull(argv[6], NULL, 10), (pid_t)strtol(argv[7], NULL, 10));
    fprintf(stderr, "usage: bench live SENDER RATE SECONDS SOCK QUEUE_BYTES\n"
                    "       bench lat SENDER RATE SECONDS SOCK QUEUE_BYTES RECEIVER_PID\n"
                    "       bench frames FILE\n");
    return 2;
}
