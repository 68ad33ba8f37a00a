/* bench.c - `make bench`: dnstap encoders on the workload of
   docs/bench-workload.md (CLIENT_RESPONSE, 161-byte frames, and CLIENT_QUERY,
   103-byte frames), run by tests/bench.sh.

     bench verify DIR          byte-compare every encoder; abort on a mismatch
     bench list                encoder ids and labels
     bench count ENC VAR N     run N messages (for callgrind: N=0 and N)
     bench time REPS N         wall clock: median ns/message, allocations
     bench live|lat|frames ... end to end over a unix socket (bench_live.c)

   Every encoder takes the same dnstap_msg_t, updated per message by one
   loop (run_loop), and writes one frame (4-byte length + payload). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <pb_encode.h>
#include "bench.h"

/* ------------------------------------------------------------------------
   Allocation counting: linked with -Wl,--wrap=malloc,--wrap=calloc,
   --wrap=realloc, so every call from these objects and from the static
   libfstrm.a/libprotobuf-c.a comes here first.
   ------------------------------------------------------------------------ */
void *__real_malloc(size_t n);
void *__real_calloc(size_t k, size_t n);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t k, size_t n);
void *__wrap_realloc(void *p, size_t n);

static unsigned long g_allocs;

static void count_alloc(void) {
#if defined(__GNUC__)
    __atomic_fetch_add(&g_allocs, 1ul, __ATOMIC_RELAXED);   /* the I/O thread may allocate too */
#else
    g_allocs++;
#endif
}

void *__wrap_malloc(size_t n) { count_alloc(); return __real_malloc(n); }
void *__wrap_calloc(size_t k, size_t n) { count_alloc(); return __real_calloc(k, n); }
void *__wrap_realloc(void *p, size_t n) { count_alloc(); return __real_realloc(p, n); }

unsigned long bench_allocs_now(void) {
#if defined(__GNUC__)
    return __atomic_load_n(&g_allocs, __ATOMIC_RELAXED);
#else
    return g_allocs;
#endif
}

void bench_die(const char *what) {
    fprintf(stderr, "bench: %s\n", what);
    abort();
}

/* ------------------------------------------------------------------------
   The workload (docs/bench-workload.md)
   ------------------------------------------------------------------------ */
static const uint8_t QUERY_WIRE[29] = {
    0x4e, 0x21, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x07, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0x03, 'o', 'r', 'g', 0x00,
    0x00, 0x01, 0x00, 0x01 };
static const uint8_t RESPONSE_WIRE[45] = {
    0x4e, 0x21, 0x81, 0x80, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
    0x07, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0x03, 'o', 'r', 'g', 0x00,
    0x00, 0x01, 0x00, 0x01,
    0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01, 0x00, 0x01, 0x51, 0x43, 0x00, 0x04,
    0x5d, 0xb8, 0xd8, 0x22 };
static const uint8_t QUERY_ADDR[4] = { 192, 0, 2, 1 };
static const uint8_t RESPONSE_ADDR[4] = { 192, 0, 2, 53 };

enum { V_RESPONSE = 0, V_QUERY = 1, V_COUNT = 2 };
static const char *const VARIANT_ID[V_COUNT] = { "response", "query" };
static const size_t VARIANT_FRAME[V_COUNT] = { 161, 103 };

#define NSEC_PER_SEC 1000000000u
#define NSEC_STEP    654435761u   /* 2654435761 mod 10^9 */
#define RESPONSE_DELAY_NSEC 137000u

/* Times of message i. The loop advances them without dividing; verify
   checks that against wl_exact() for every i it runs. */
typedef struct wl_time {
    uint64_t qsec, rsec;
    uint32_t qnsec, rnsec, ms;   /* ms: i mod 1000 */
} wl_time;

static void wl_response_time(wl_time *t) {
    t->rsec = t->qsec;
    t->rnsec = t->qnsec + RESPONSE_DELAY_NSEC;
    if (t->rnsec >= NSEC_PER_SEC) { t->rnsec -= NSEC_PER_SEC; t->rsec++; }
}

static void wl_exact(uint64_t i, wl_time *t) {
    t->qsec = UINT64_C(1700000000) + i / 1000u;
    t->qnsec = (uint32_t)((i * UINT64_C(2654435761)) % NSEC_PER_SEC);
    t->ms = (uint32_t)(i % 1000u);
    wl_response_time(t);
}

static void wl_next(wl_time *t) {
    t->qnsec += NSEC_STEP;
    if (t->qnsec >= NSEC_PER_SEC) t->qnsec -= NSEC_PER_SEC;
    if (++t->ms == 1000u) { t->ms = 0; t->qsec++; }
    wl_response_time(t);
}

static void wl_set_times(dnstap_msg_t *m, const wl_time *t) {
    m->query_time_sec = t->qsec;
    m->query_time_nsec = t->qnsec;
    m->response_time_sec = t->rsec;     /* ignored by the query variant: no has bits */
    m->response_time_nsec = t->rnsec;
}

static void wl_msg(dnstap_msg_t *m, int variant);

/* The workload as an iterator, for bench_live.c */
static void wl_from(const bench_wl_t *w, wl_time *t) {
    t->qsec = w->qsec; t->rsec = w->rsec; t->qnsec = w->qnsec; t->rnsec = w->rnsec; t->ms = w->ms;
}

static void wl_to(bench_wl_t *w, const wl_time *t) {
    w->qsec = t->qsec; w->rsec = t->rsec; w->qnsec = t->qnsec; w->rnsec = t->rnsec; w->ms = t->ms;
    wl_set_times(&w->m, t);
}

void bench_wl_init(bench_wl_t *w, int response) {
    wl_time t;
    wl_msg(&w->m, response ? V_RESPONSE : V_QUERY);
    wl_exact(0, &t);
    wl_to(w, &t);
}

void bench_wl_next(bench_wl_t *w) {
    wl_time t;
    wl_from(w, &t);
    wl_next(&t);
    wl_to(w, &t);
}

static void wl_msg(dnstap_msg_t *m, int variant) {
    memset(m, 0, sizeof *m);
    m->type = variant == V_RESPONSE ? DNSTAP_CLIENT_RESPONSE : DNSTAP_CLIENT_QUERY;
    m->socket_family = DNSTAP_INET;
    m->socket_protocol = DNSTAP_UDP;
    m->query_address.data = QUERY_ADDR;
    m->query_address.len = sizeof QUERY_ADDR;
    m->response_address.data = RESPONSE_ADDR;
    m->response_address.len = sizeof RESPONSE_ADDR;
    m->query_port = 53000;
    m->response_port = 53;
    m->query_message.data = QUERY_WIRE;
    m->query_message.len = sizeof QUERY_WIRE;
    m->has = DNSTAP_HAS_QUERY_PORT | DNSTAP_HAS_RESPONSE_PORT | DNSTAP_HAS_QUERY_TIME;
    if (variant == V_RESPONSE) {
        m->has |= DNSTAP_HAS_RESPONSE_TIME;
        m->response_message.data = RESPONSE_WIRE;
        m->response_message.len = sizeof RESPONSE_WIRE;
    }
}

/* ------------------------------------------------------------------------
   Wire helpers shared by (c) and (e)
   ------------------------------------------------------------------------ */
static size_t vlen(uint64_t v) {
    size_t n = 1;
    while (v >= 0x80u) { v >>= 7; n++; }
    return n;
}

static uint8_t *put_varint(uint8_t *p, uint64_t v) {
    while (v >= 0x80u) { *p++ = (uint8_t)(v | 0x80u); v >>= 7; }
    *p++ = (uint8_t)v;
    return p;
}

static uint8_t *put_le32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
    return p + 4;
}

static void put_be32(uint8_t *p, size_t v) {
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

static size_t bytes_field_len(const dnstap_bytes_t *b) {
    return b->data ? 1 + vlen(b->len) + b->len : 0;
}

/* ------------------------------------------------------------------------
   The encoders. Each writes one complete frame into out and returns its
   length (the file writers return how much they hold).
   ------------------------------------------------------------------------ */
static dnstap_encoder_t g_enc;

/* (a) this library's direct writer */
static size_t enc_direct(const dnstap_msg_t *m, uint8_t *out) {
    size_t n;
    if (dnstap_encode_frame(&g_enc, m, out, BENCH_OUT_MAX, &n) != DNSTAP_OK) bench_die("dnstap_encode_frame failed");
    return n;
}

/* (a+) this library's tap path: frames collected in a 64 KiB buffer and
   written to the file when it fills */
static dnstap_file_t g_file;
static uint8_t g_file_buf[65536];

static int open_file(const char *path) {
    return dnstap_file_open(&g_file, &g_enc, g_file_buf, sizeof g_file_buf, path) == DNSTAP_OK ? 0 : -1;
}

static size_t enc_file(const dnstap_msg_t *m, uint8_t *out) {
    (void)out;
    if (dnstap_file_log(&g_file, m) != DNSTAP_OK) bench_die("dnstap_file_log failed");
    return g_file.used;
}

static void close_file(void) {
    if (dnstap_file_close(&g_file) != DNSTAP_OK) bench_die("dnstap_file_close failed");
}

/* (a++) this library's live-logging path: dnstap_log() encodes into the
   tap's queue (64 KiB of caller memory); every TAP_BATCH messages
   dnstap_poll() drains it through a minimal transport of ours: write(2) to
   a file, nothing to read (unidirectional Frame Streams: START, frames,
   STOP). A refused message aborts the bench, so this measures the
   encode-into-ring path, never a drop. */
#define TAP_BATCH 256u   /* 256 x 161 bytes: well under the 64 KiB queue */
static dnstap_t g_tap;
static uint8_t g_tap_queue[65536];
static unsigned g_tap_batch;
static int g_tap_fd = -1;

static dnstap_result_t tapfd_connect(void *ctx) {
    (void)ctx;
    return g_tap_fd >= 0 ? DNSTAP_OK : DNSTAP_ERR_IO;
}

static int tapfd_write(void *ctx, const uint8_t *buf, size_t len) {
    ssize_t n;
    (void)ctx;
    if (len > INT_MAX) len = INT_MAX;
    n = write(g_tap_fd, buf, len);
    if (n >= 0) return (int)n;
    return errno == EINTR || errno == EAGAIN ? DNSTAP_ERR_AGAIN : DNSTAP_ERR_IO;
}

static void tapfd_close(void *ctx) {
    (void)ctx;
    if (g_tap_fd >= 0) close(g_tap_fd);
    g_tap_fd = -1;
}

static int open_tap(const char *path) {
    dnstap_desc_t d;
    memset(&d, 0, sizeof d);
    g_tap_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (g_tap_fd < 0) return -1;
    d.transport.connect = tapfd_connect;
    d.transport.write = tapfd_write;
    d.transport.close = tapfd_close;
    d.unidirectional = true;
    d.full = true;
    d.queue = g_tap_queue;
    d.queue_size = sizeof g_tap_queue;
    d.identity = dnstap_str(BENCH_IDENTITY);
    d.version = dnstap_str(BENCH_VERSION);
    if (dnstap_init(&g_tap, &d) != DNSTAP_OK) return -1;
    g_tap_batch = 0;
    /* open the file and write START now, outside the measured loop */
    if (dnstap_poll(&g_tap, dnstap_clock_ms()) != DNSTAP_OK || dnstap_stats(&g_tap).connects != 1) return -1;
    return 0;
}

static size_t enc_tap(const dnstap_msg_t *m, uint8_t *out) {
    dnstap_result_t r = dnstap_log(&g_tap, m);
    (void)out;
    if (r != DNSTAP_OK) {
        fprintf(stderr, "bench: dnstap_log: %s\n", dnstap_result_str(r));
        bench_die("dnstap_log() refused a message; this row must never drop");
    }
    if (++g_tap_batch == TAP_BATCH) {
        g_tap_batch = 0;
        r = dnstap_poll(&g_tap, dnstap_clock_ms());
        if (r != DNSTAP_OK) {
            fprintf(stderr, "bench: dnstap_poll: %s\n", dnstap_result_str(r));
            bench_die("dnstap_poll failed");
        }
    }
    return g_tap.q[0].head;
}

static void close_tap(void) {
    dnstap_stats_t s;
    dnstap_shutdown(&g_tap, dnstap_clock_ms());
    if (dnstap_run(&g_tap, 10000) != DNSTAP_OK) bench_die("dnstap_run did not close the tap");
    s = dnstap_stats(&g_tap);
    if (s.logged != s.sent || s.queued != 0 || s.dropped_full || s.dropped_too_big || s.dropped_invalid ||
        s.dropped_disconnected || s.dropped_write_error)
        bench_die("the tap row dropped or kept messages");
}

/* (b) nanopb's generic pb_encode() through the library's encoder of record */
static size_t enc_nanopb(const dnstap_msg_t *m, uint8_t *out) {
    size_t n;
    if (dnstap_encode_nanopb(&g_enc, m, out + 4, BENCH_OUT_MAX - 4, &n) != DNSTAP_OK)
        bench_die("dnstap_encode_nanopb failed");
    put_be32(out, n);
    return 4 + n;
}

/* (c) nanopb's per-field primitives on a buffer stream; the Message length
   is computed arithmetically, so there is no sizing pass. */
static const dnstap_bytes_t PB_IDENTITY = { (const uint8_t *)BENCH_IDENTITY, sizeof BENCH_IDENTITY - 1 };
static const dnstap_bytes_t PB_VERSION = { (const uint8_t *)BENCH_VERSION, sizeof BENCH_VERSION - 1 };

static bool prim_bytes(pb_ostream_t *s, uint32_t field, const dnstap_bytes_t *b) {
    return b->data == NULL ||
           (pb_encode_tag(s, PB_WT_STRING, field) && pb_encode_string(s, b->data, b->len));
}

static bool prim_varint(pb_ostream_t *s, uint32_t field, uint64_t v) {
    return pb_encode_tag(s, PB_WT_VARINT, field) && pb_encode_varint(s, v);
}

static bool prim_fixed32(pb_ostream_t *s, uint32_t field, uint32_t v) {
    return pb_encode_tag(s, PB_WT_32BIT, field) && pb_encode_fixed32(s, &v);
}

static size_t prim_message_len(const dnstap_msg_t *m) {
    uint32_t has = m->has;
    size_t n = 2;   /* type */
    if (m->socket_family) n += 2;
    if (m->socket_protocol) n += 2;
    n += bytes_field_len(&m->query_address) + bytes_field_len(&m->response_address);
    if (has & DNSTAP_HAS_QUERY_PORT) n += 1 + vlen(m->query_port);
    if (has & DNSTAP_HAS_RESPONSE_PORT) n += 1 + vlen(m->response_port);
    if (has & DNSTAP_HAS_QUERY_TIME_SEC) n += 1 + vlen(m->query_time_sec);
    if (has & DNSTAP_HAS_QUERY_TIME_NSEC) n += 5;
    n += bytes_field_len(&m->query_message);
    if (has & DNSTAP_HAS_RESPONSE_TIME_SEC) n += 1 + vlen(m->response_time_sec);
    if (has & DNSTAP_HAS_RESPONSE_TIME_NSEC) n += 5;
    n += bytes_field_len(&m->response_message);
    return n;
}

static size_t enc_prim(const dnstap_msg_t *m, uint8_t *out) {
    uint32_t has = m->has;
    size_t body = prim_message_len(m);
    size_t payload = bytes_field_len(&PB_IDENTITY) + bytes_field_len(&PB_VERSION) + 1 + vlen(body) + body + 2;
    pb_ostream_t s = pb_ostream_from_buffer(out + 4, BENCH_OUT_MAX - 4);
    bool ok = prim_bytes(&s, 1, &PB_IDENTITY) && prim_bytes(&s, 2, &PB_VERSION) &&
              pb_encode_tag(&s, PB_WT_STRING, 14) && pb_encode_varint(&s, body) &&
              prim_varint(&s, 1, (uint64_t)m->type) &&
              (!m->socket_family || prim_varint(&s, 2, (uint64_t)m->socket_family)) &&
              (!m->socket_protocol || prim_varint(&s, 3, (uint64_t)m->socket_protocol)) &&
              prim_bytes(&s, 4, &m->query_address) && prim_bytes(&s, 5, &m->response_address) &&
              (!(has & DNSTAP_HAS_QUERY_PORT) || prim_varint(&s, 6, m->query_port)) &&
              (!(has & DNSTAP_HAS_RESPONSE_PORT) || prim_varint(&s, 7, m->response_port)) &&
              (!(has & DNSTAP_HAS_QUERY_TIME_SEC) || prim_varint(&s, 8, m->query_time_sec)) &&
              (!(has & DNSTAP_HAS_QUERY_TIME_NSEC) || prim_fixed32(&s, 9, m->query_time_nsec)) &&
              prim_bytes(&s, 10, &m->query_message) &&
              (!(has & DNSTAP_HAS_RESPONSE_TIME_SEC) || prim_varint(&s, 12, m->response_time_sec)) &&
              (!(has & DNSTAP_HAS_RESPONSE_TIME_NSEC) || prim_fixed32(&s, 13, m->response_time_nsec)) &&
              prim_bytes(&s, 14, &m->response_message) &&
              prim_varint(&s, 15, 1);
    if (!ok || s.bytes_written != payload) bench_die("nanopb primitives failed");
    put_be32(out, payload);
    return 4 + payload;
}

/* (d) protobuf-c packing (+ libfstrm for the writers): bench_peers.c */

static size_t enc_pbc(const dnstap_msg_t *m, uint8_t *out) {
    size_t n = bench_pbc_pack(m, out + 4, BENCH_OUT_MAX - 4);
    if (n == 0) bench_die("protobuf-c pack failed");
    put_be32(out, n);
    return 4 + n;
}

/* (e) the floor: a hand-written encoder for exactly this message shape
   (which fields, 4-byte addresses, the identity and version), still
   reading every value and length from the message. */
static const uint8_t FLOOR_PREFIX[] = "\x0a\x09" BENCH_IDENTITY "\x12\x10" BENCH_VERSION;
#define FLOOR_PREFIX_LEN (sizeof FLOOR_PREFIX - 1)

static size_t enc_floor(const dnstap_msg_t *m, uint8_t *out) {
    const size_t ql = m->query_message.len, rl = m->response_message.len;
    const int resp = m->response_message.data != NULL;
    size_t body = 2 + 2 + 2 + 6 + 6 + 1 + vlen(m->query_port) + 1 + vlen(m->response_port) +
                  1 + vlen(m->query_time_sec) + 5 + 1 + vlen(ql) + ql;
    size_t payload;
    uint8_t *p = out + 4;
    if (resp) body += 1 + vlen(m->response_time_sec) + 5 + 1 + vlen(rl) + rl;
    payload = FLOOR_PREFIX_LEN + 1 + vlen(body) + body + 2;
    put_be32(out, payload);
    memcpy(p, FLOOR_PREFIX, FLOOR_PREFIX_LEN);
    p += FLOOR_PREFIX_LEN;
    *p++ = 0x72; p = put_varint(p, body);                       /* Dnstap.message */
    *p++ = 0x08; *p++ = (uint8_t)m->type;
    *p++ = 0x10; *p++ = (uint8_t)m->socket_family;
    *p++ = 0x18; *p++ = (uint8_t)m->socket_protocol;
    *p++ = 0x22; *p++ = 4; memcpy(p, m->query_address.data, 4); p += 4;
    *p++ = 0x2a; *p++ = 4; memcpy(p, m->response_address.data, 4); p += 4;
    *p++ = 0x30; p = put_varint(p, m->query_port);
    *p++ = 0x38; p = put_varint(p, m->response_port);
    *p++ = 0x40; p = put_varint(p, m->query_time_sec);
    *p++ = 0x4d; p = put_le32(p, m->query_time_nsec);
    *p++ = 0x52; p = put_varint(p, ql); memcpy(p, m->query_message.data, ql); p += ql;
    if (resp) {
        *p++ = 0x60; p = put_varint(p, m->response_time_sec);
        *p++ = 0x6d; p = put_le32(p, m->response_time_nsec);
        *p++ = 0x72; p = put_varint(p, rl); memcpy(p, m->response_message.data, rl); p += rl;
    }
    *p++ = 0x78; *p++ = 1;                                      /* Dnstap.type MESSAGE */
    return (size_t)(p - out);
}

/* (f) memcpy of the same frame: the cost of merely moving the bytes */
static uint8_t g_ref[BENCH_OUT_MAX];
static size_t g_ref_len;   /* a variable, so that memcpy is a real call */

static size_t enc_memcpy(const dnstap_msg_t *m, uint8_t *out) {
    (void)m;
    memcpy(out, g_ref, g_ref_len);
    return g_ref_len;
}

/* The loop alone: what every row includes besides its encoder. */
static size_t enc_none(const dnstap_msg_t *m, uint8_t *out) {
    (void)m; (void)out;
    return 0;
}

typedef struct bench_enc {
    const char *id;
    const char *label;
    int (*open)(const char *path);   /* NULL: writes into out only */
    size_t (*encode)(const dnstap_msg_t *m, uint8_t *out);
    void (*close)(void);
} bench_enc;

static const bench_enc ENCODERS[] = {
    { "direct", "(a) dnstap.h `dnstap_encode_frame()`, direct writer", NULL, enc_direct, NULL },
    { "file", "(a+) dnstap.h `dnstap_file_log()`, 64 KiB buffer, to /dev/null", open_file, enc_file, close_file },
    { "tap", "(a++) dnstap.h `dnstap_log()` into a 64 KiB queue, `dnstap_poll()` every 256, write(2) to /dev/null",
      open_tap, enc_tap, close_tap },
    { "nanopb", "(b) nanopb `pb_encode()` via `dnstap_encode_nanopb()`, + length", NULL, enc_nanopb, NULL },
    { "prim", "(c) nanopb per-field primitives", NULL, enc_prim, NULL },
    { "pbc", "(d0) protobuf-c pack alone, into a buffer", NULL, enc_pbc, NULL },
    { "fstrm", "(d1) protobuf-c + libfstrm buffered writer (`fstrm_writer_write`), to /dev/null",
      bench_fstrm_open, bench_fstrm_log, bench_fstrm_close },
    { "iothr", "(d2) protobuf-c + libfstrm I/O thread (`fstrm_iothr_submit`), to /dev/null",
      bench_iothr_open, bench_iothr_log, bench_iothr_close },
    { "floor", "(e) hand-written encoder for this message (floor)", NULL, enc_floor, NULL },
    { "memcpy", "(f) `memcpy` of the frame (reference)", NULL, enc_memcpy, NULL },
    { "loop", "loop alone (per-message times, indirect call)", NULL, enc_none, NULL },
};
#define N_ENCODERS (sizeof ENCODERS / sizeof ENCODERS[0])

static uint8_t g_out[BENCH_OUT_MAX];
static volatile uint64_t g_sink;   /* keeps the results observable */

/* The measured loop: identical for every encoder. */
static uint64_t run_loop(const bench_enc *e, int variant, uint64_t n) {
    size_t (*encode)(const dnstap_msg_t *, uint8_t *) = e->encode;
    dnstap_msg_t m;
    wl_time t;
    uint64_t i, sink = 0;
    wl_msg(&m, variant);
    wl_exact(0, &t);
    for (i = 0; i < n; i++) {
        wl_set_times(&m, &t);
        sink += encode(&m, g_out);
        wl_next(&t);
    }
    return sink;
}

static void run_once(const bench_enc *e, int variant, uint64_t n) {
    if (e->open && e->open("/dev/null") != 0) bench_die("cannot open /dev/null");
    g_sink += run_loop(e, variant, n);
    if (e->close) e->close();
}

/* The memcpy reference copies message 0's frame. */
static void prepare(int variant) {
    dnstap_msg_t m;
    wl_time t;
    wl_msg(&m, variant);
    wl_exact(0, &t);
    wl_set_times(&m, &t);
    g_ref_len = enc_direct(&m, g_ref);
}

static const bench_enc *find_encoder(const char *id) {
    size_t k;
    for (k = 0; k < N_ENCODERS; k++) if (strcmp(ENCODERS[k].id, id) == 0) return &ENCODERS[k];
    return NULL;
}

static int find_variant(const char *id) {
    int v;
    for (v = 0; v < V_COUNT; v++) if (strcmp(VARIANT_ID[v], id) == 0) return v;
    return -1;
}

/* ------------------------------------------------------------------------
   verify: numbers are only ever printed for encoders that agree
   ------------------------------------------------------------------------ */
static void check_same(const char *who, int variant, uint64_t i, const uint8_t *want, size_t want_len,
                       const uint8_t *got, size_t got_len) {
    if (got_len != want_len || memcmp(got, want, want_len) != 0) {
        fprintf(stderr, "bench: verify: %s differs from (a) for %s message %llu (%lu vs %lu bytes)\n", who,
                VARIANT_ID[variant], (unsigned long long)i, (unsigned long)got_len, (unsigned long)want_len);
        abort();
    }
}

static uint8_t *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    long n = 0;
    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
        bench_die("verify: cannot read a written file");
    buf = (uint8_t *)malloc((size_t)n + 1);
    if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) bench_die("verify: cannot read a written file");
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* The four writers must produce the same file: START, frames, STOP. */
static void verify_files(const char *dir, int variant, uint64_t n) {
    static const char *const ids[4] = { "file", "tap", "fstrm", "iothr" };
    uint8_t *first = NULL;
    size_t first_len = 0, k;
    const size_t start_len = 42, stop_len = 12;   /* START with the content type; STOP */
    for (k = 0; k < 4; k++) {
        const bench_enc *e = find_encoder(ids[k]);
        char path[4096];
        uint8_t *data;
        size_t len;
        if ((size_t)snprintf(path, sizeof path, "%s/verify-%s.fstrm", dir, e->id) >= sizeof path)
            bench_die("verify: directory name too long");
        if (e->open(path) != 0) bench_die("verify: cannot create a file");
        (void)run_loop(e, variant, n);
        e->close();
        data = read_file(path, &len);
        remove(path);
        if (len != start_len + n * VARIANT_FRAME[variant] + stop_len) {
            fprintf(stderr, "bench: verify: %s wrote %lu bytes for %llu messages\n", e->label,
                    (unsigned long)len, (unsigned long long)n);
            abort();
        }
        if (first == NULL) { first = data; first_len = len; continue; }
        check_same(e->label, variant, n, first, first_len, data, len);
        free(data);
    }
    free(first);
}

static void verify(const char *dir) {
    /* first, thousands boundary, a response-time carry, large i */
    uint64_t is[12] = { 0, 1, 2, 999, 1000, 1001, 65535, 99999, 100000, UINT64_C(123456789), UINT64_C(4294967295), 0 };
    size_t n_is = 11, k;
    int v;
    uint64_t i;
    wl_time t, x;
    /* find a message whose response time carries into the next second */
    for (i = 0; i < 100000; i++) {
        wl_exact(i, &t);
        if (t.rsec != t.qsec) { is[n_is++] = i; break; }
    }
    if (n_is != 12) bench_die("verify: no response-time carry in the first 100000 messages");
    /* the loop's incremental times are the workload's formula */
    wl_exact(0, &t);
    for (i = 0; i < 300000; i++) {
        wl_exact(i, &x);
        if (t.qsec != x.qsec || t.qnsec != x.qnsec || t.rsec != x.rsec || t.rnsec != x.rnsec)
            bench_die("verify: incremental workload times differ from the formula");
        wl_next(&t);
    }
    for (v = 0; v < V_COUNT; v++) {
        for (k = 0; k < n_is; k++) {
            static uint8_t a[BENCH_OUT_MAX], o[BENCH_OUT_MAX];
            dnstap_msg_t m, d;
            size_t la, lo;
            wl_msg(&m, v);
            wl_exact(is[k], &t);
            wl_set_times(&m, &t);
            la = enc_direct(&m, a);
            if (la != VARIANT_FRAME[v]) bench_die("verify: frame length is not the workload's");
            /* the payload is what it claims to be */
            if (dnstap_decode(a + 4, la - 4, &d) != DNSTAP_OK || d.type != m.type ||
                d.query_time_sec != m.query_time_sec || d.query_time_nsec != m.query_time_nsec ||
                d.identity.len != PB_IDENTITY.len || memcmp(d.identity.data, PB_IDENTITY.data, PB_IDENTITY.len) ||
                d.version.len != PB_VERSION.len || memcmp(d.version.data, PB_VERSION.data, PB_VERSION.len))
                bench_die("verify: dnstap_decode() disagrees with the message");
            lo = enc_nanopb(&m, o); check_same("(b) nanopb pb_encode()", v, is[k], a, la, o, lo);
            lo = enc_prim(&m, o);   check_same("(c) nanopb primitives", v, is[k], a, la, o, lo);
            lo = enc_pbc(&m, o);    check_same("(d) protobuf-c pack", v, is[k], a, la, o, lo);
            lo = enc_floor(&m, o);  check_same("(e) hand-written", v, is[k], a, la, o, lo);
        }
        verify_files(dir, v, 2500);
    }
    printf("verify: ok: (a) (b) (c) (d) (e) byte-identical for %lu messages of each variant; "
           "(a+) (a++) (d1) (d2) files byte-identical for 2500 messages\n", (unsigned long)n_is);
}

/* ------------------------------------------------------------------------
   time: medians of REPS runs of N messages, encoders interleaved
   ------------------------------------------------------------------------ */
static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void time_all(unsigned reps, uint64_t n) {
    static double ns[N_ENCODERS][64];
    double allocs[N_ENCODERS];
    int v;
    size_t k;
    unsigned r;
    if (reps < 1 || reps > 64 || n < 1) bench_die("time: REPS must be 1..64 and N >= 1");
    for (v = 0; v < V_COUNT; v++) {
        unsigned long full0 = bench_iothr_full();
        prepare(v);
        for (r = 0; r < reps; r++) {
            for (k = 0; k < N_ENCODERS; k++) {
                const bench_enc *e = &ENCODERS[k];
                unsigned long a0;
                double t0;
                if (e->open && e->open("/dev/null") != 0) bench_die("cannot open /dev/null");
                a0 = bench_allocs_now();
                t0 = now_ns();
                g_sink += run_loop(e, v, n);
                if (e->close) e->close();   /* flushing is part of the cost */
                ns[k][r] = (now_ns() - t0) / (double)n;
                allocs[k] = (double)(bench_allocs_now() - a0) / (double)n;
            }
        }
        for (k = 0; k < N_ENCODERS; k++) {
            qsort(ns[k], reps, sizeof ns[k][0], cmp_double);
            printf("time %s %s %.1f %.2f\n", VARIANT_ID[v], ENCODERS[k].id,
                   reps % 2 ? ns[k][reps / 2] : (ns[k][reps / 2 - 1] + ns[k][reps / 2]) / 2, allocs[k]);
        }
        printf("iothr_full %s %lu %llu\n", VARIANT_ID[v], bench_iothr_full() - full0,
               (unsigned long long)reps * n);
    }
}

static void usage(void) {
    fprintf(stderr, "usage: bench verify DIR | bench list | bench count ENC VARIANT N | bench time REPS N |\n"
                    "       bench live ... | bench lat ... | bench frames FILE (see bench_live.c)\n");
    exit(2);
}

int main(int argc, char **argv) {
    dnstap_encoder_desc_t d;
    memset(&d, 0, sizeof d);
    d.identity = dnstap_str(BENCH_IDENTITY);
    d.version = dnstap_str(BENCH_VERSION);
    if (dnstap_encoder_init(&g_enc, &d) != DNSTAP_OK) bench_die("dnstap_encoder_init failed");
    if (argc >= 2 && (strcmp(argv[1], "live") == 0 || strcmp(argv[1], "lat") == 0 ||
                      strcmp(argv[1], "frames") == 0)) {
        return bench_live_main(argc, argv);
    } else if (argc == 3 && strcmp(argv[1], "verify") == 0) {
        verify(argv[2]);
    } else if (argc == 2 && strcmp(argv[1], "list") == 0) {
        size_t k;
        for (k = 0; k < N_ENCODERS; k++) printf("%s\t%s\n", ENCODERS[k].id, ENCODERS[k].label);
    } else if (argc == 5 && strcmp(argv[1], "count") == 0) {
        const bench_enc *e = find_encoder(argv[2]);
        int v = find_variant(argv[3]);
        if (e == NULL || v < 0) usage();
        prepare(v);
        run_once(e, v, strtoull(argv[4], NULL, 10));
    } else if (argc == 4 && strcmp(argv[1], "time") == 0) {
        time_all((unsigned)strtoul(argv[2], NULL, 10), strtoull(argv[3], NULL, 10));
    } else {
        usage();
    }
    return 0;
}
