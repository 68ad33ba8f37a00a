/* Tests of the live-logging layers (queue, connection, transports) in one
   process: a scripted receiver behind a fault-injecting transport, a real
   unix-socket receiver served from this process, producer threads, and an
   allocation counter. Every scenario checks that each connection's byte
   stream is exact Frame Streams, that what arrived is exactly what the tap
   reports as sent, in order and without duplicates, and that
   logged == sent + dropped + queued.
   Build with -DCOUNT_ALLOCS and -Wl,--wrap=malloc,--wrap=calloc,
   --wrap=realloc,--wrap=free to count allocations (not under ASan). */
#define DNSTAP_IMPLEMENTATION
#define DNSTAP_WITH_THREAD
static void (*consumer_pause)(void);   /* a producer run inside the consumer */
#define DNSTAP__TEST_CONSUMER_PAUSE() (consumer_pause ? consumer_pause() : (void)0)
#include "../dnstap.h"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TEST_FULL_DISK
#include "test.h"
#include "hostile.h"

/* ---- allocation counter ---------------------------------------------- */
static volatile int allocs_counting;
static volatile long allocs_seen;
#ifdef COUNT_ALLOCS
void *__real_malloc(size_t n);
void *__real_calloc(size_t k, size_t n);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t k, size_t n);
void *__wrap_realloc(void *p, size_t n);
void __wrap_free(void *p);
void *__wrap_malloc(size_t n) { if (allocs_counting) allocs_seen++; return __real_malloc(n); }
void *__wrap_calloc(size_t k, size_t n) { if (allocs_counting) allocs_seen++; return __real_calloc(k, n); }
void *__wrap_realloc(void *p, size_t n) { if (allocs_counting) allocs_seen++; return __real_realloc(p, n); }
void __wrap_free(void *p) { if (allocs_counting && p) allocs_seen++; __real_free(p); }
#endif

/* ---- messages carrying a sequence number ------------------------------ */
static const uint8_t addr4[4] = { 192, 0, 2, 1 };
static const uint8_t wire[29] = {
    0x4e, 0x21, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'o', 'r', 'g', 0, 0x00, 0x01, 0x00, 0x01 };

/* producer in query_port, sequence number in query_time_nsec */
static void seq_msg(dnstap_msg_t *m, unsigned producer, uint32_t seq) {
    memset(m, 0, sizeof *m);
    m->type = DNSTAP_CLIENT_QUERY;
    m->socket_family = DNSTAP_INET;
    m->socket_protocol = DNSTAP_UDP;
    m->query_address.data = addr4;
    m->query_address.len = 4;
    m->query_port = producer;
    m->has = DNSTAP_HAS_QUERY_PORT;
    dnstap_msg_set_query_time(m, 1700000000, seq);
    m->query_message.data = wire;
    m->query_message.len = sizeof wire;
}

static int invariant_ok(const dnstap_t *tap) {
    dnstap_stats_t s = dnstap_stats(tap);
    uint64_t right = s.sent + s.dropped_full + s.dropped_too_big + s.dropped_invalid +
                     s.dropped_disconnected + s.dropped_write_error + s.queued;
    if (s.logged != right) {
        printf("  invariant: logged %llu != sent %llu + dropped %llu/%llu/%llu/%llu/%llu + queued %llu\n",
               (unsigned long long)s.logged, (unsigned long long)s.sent, (unsigned long long)s.dropped_full,
               (unsigned long long)s.dropped_too_big, (unsigned long long)s.dropped_invalid,
               (unsigned long long)s.dropped_disconnected, (unsigned long long)s.dropped_write_error,
               (unsigned long long)s.queued);
        return 0;
    }
    return 1;
}

/* ---- the scripted receiver ---------------------------------------------
   It reads what the tap writes with the library's reader (role: writer
   stream), answers READY with ACCEPT and STOP with FINISH, and records the
   sequence numbers of the data frames, per connection. Faults: at most
   max_per_write bytes per call, "would block" on chosen calls, failure at a
   byte offset, connect delays, silence instead of ACCEPT. */
#define MAX_SEQ 200000
typedef struct fake_t {
    /* script */
    size_t max_per_write;        /* 0: any */
    unsigned again_every;        /* every k-th write call would block (0: never) */
    long fail_at;                /* fail when the stream reaches this offset (-1: never) */
    int fail_once;               /* after failing, behave */
    int accept_mode;             /* 0 ACCEPT, 1 silence, 2 ACCEPT of another type, 3 close,
                                    4 ACCEPT, then end of stream at once and
                                      writes after START fail (a reset) */
    int connect_mode;            /* 0 at once, 1 would block forever, 2 refuse */
    int stall_after_start;       /* would block forever once START is seen */
    int finish_mode;             /* 0 FINISH, 1 silence */
    int metered;                 /* take at most `budget` bytes, then would block */
    long budget;                 /* refilled by the test: a slow receiver */
    size_t leave_after;          /* after this many data frames: FINISH, end of stream (once) */
    /* state */
    int connected, connections, closes;
    long offset;                 /* bytes taken over all connections */
    unsigned calls;
    const uint8_t *again_buf;
    size_t again_len;
    int violations;              /* contract rule 3 broken */
    dnstap_reader_t reader;
    uint8_t rbuf[4 + DNSTAP_PAYLOAD_MAX_FSTRM];
    int saw_ready, saw_start, saw_stop, clean_end;
    uint8_t reply[128];
    size_t reply_len, reply_off;
    int eof_after_reply;         /* the peer has closed its side once the reply is read */
    int left;                    /* sent FINISH and closed its side, still takes bytes */
    long taken_after_leave;      /* bytes of write calls made after that */
    size_t conn_frames;          /* data frames on this connection */
    /* what arrived */
    uint32_t seqs[MAX_SEQ];
    unsigned producer[MAX_SEQ];
    size_t nseq;
    size_t relayed;              /* data frames with identity "relayed" (dnstap_log_payload) */
    int stream_errors;
} fake_t;

static dnstap_result_t fake_connect(void *ctx) {
    fake_t *f = (fake_t *)ctx;
    if (f->connect_mode == 1) return DNSTAP_ERR_AGAIN;
    if (f->connect_mode == 2) return DNSTAP_ERR_IO;
    f->connected = 1;
    f->connections++;
    f->saw_ready = f->saw_start = f->saw_stop = 0;
    f->reply_len = f->reply_off = 0;
    f->eof_after_reply = f->left = 0;
    f->conn_frames = 0;
    f->again_buf = NULL;
    dnstap_reader_init(&f->reader, f->rbuf, sizeof f->rbuf);
    return DNSTAP_OK;
}

static void fake_reply(fake_t *f, dnstap_control_t type, const char *ct) {
    const char *cts[1];
    size_t n = 0;
    cts[0] = ct;
    dnstap_control_frame(f->reply + f->reply_len, sizeof f->reply - f->reply_len, type, cts, ct ? 1 : 0, &n);
    f->reply_len += n;
}

/* Take n bytes of the stream into the receiver's reader. */
static void fake_take(fake_t *f, const uint8_t *buf, size_t n) {
    size_t pos = 0;
    while (pos < n) {
        dnstap_frame_t fr;
        size_t used = 0;
        dnstap_result_t r = dnstap_reader_feed(&f->reader, buf + pos, n - pos, &used, &fr);
        pos += used;
        if (r == DNSTAP_ERR_AGAIN) break;
        if (r != DNSTAP_OK) { printf("  receiver: %s\n", dnstap_result_str(r)); f->stream_errors++; return; }
        if (fr.kind == DNSTAP_FRAME_CONTROL) {
            if (fr.control == DNSTAP_CONTROL_READY) {
                f->saw_ready = 1;
                if (f->accept_mode == 0 || f->accept_mode == 4) fake_reply(f, DNSTAP_CONTROL_ACCEPT, DNSTAP_CONTENT_TYPE);
                if (f->accept_mode == 4) f->eof_after_reply = 1;
                if (f->accept_mode == 2) fake_reply(f, DNSTAP_CONTROL_ACCEPT, "protobuf:other.Type");
            } else if (fr.control == DNSTAP_CONTROL_START) {
                f->saw_start = 1;
            } else if (fr.control == DNSTAP_CONTROL_STOP) {
                f->saw_stop = 1;
                if (f->finish_mode == 0) fake_reply(f, DNSTAP_CONTROL_FINISH, NULL);
            }
        } else {
            dnstap_msg_t m;
            if (dnstap_decode(fr.data, fr.len, &m) != DNSTAP_OK) { f->stream_errors++; continue; }
            if (m.identity.len == 7 && memcmp(m.identity.data, "relayed", 7) == 0) f->relayed++;
            if (f->nseq < MAX_SEQ) {
                f->seqs[f->nseq] = m.query_time_nsec;
                f->producer[f->nseq] = m.query_port;
                f->nseq++;
            }
            if (++f->conn_frames == f->leave_after) {
                fake_reply(f, DNSTAP_CONTROL_FINISH, NULL);
                f->eof_after_reply = 1;
                f->left = 1;
                f->leave_after = 0;
            }
        }
    }
}

static int fake_write(void *ctx, const uint8_t *buf, size_t len) {
    fake_t *f = (fake_t *)ctx;
    size_t n = len;
    if (!f->connected) return DNSTAP_ERR_IO;
    if (f->accept_mode == 4 && f->saw_start) return DNSTAP_ERR_CLOSED;
    if (f->again_buf && (f->again_buf != buf || f->again_len != len)) f->violations++;
    f->again_buf = NULL;
    f->calls++;
    if ((f->again_every && f->calls % f->again_every == 0) || (f->stall_after_start && f->saw_start) ||
        (f->metered && f->budget <= 0)) {
        f->again_buf = buf;
        f->again_len = len;
        return DNSTAP_ERR_AGAIN;
    }
    if (f->fail_at >= 0) {
        if (f->offset >= f->fail_at) {
            if (f->fail_once) f->fail_at = -1;
            return DNSTAP_ERR_IO;
        }
        if (f->offset + (long)n > f->fail_at) n = (size_t)(f->fail_at - f->offset);
    }
    if (f->max_per_write && n > f->max_per_write) n = f->max_per_write;
    if (f->metered && n > (size_t)f->budget) n = (size_t)f->budget;
    if (n == 0) return DNSTAP_ERR_IO;
    if (f->metered) f->budget -= (long)n;
    if (f->left) f->taken_after_leave += (long)n;
    fake_take(f, buf, n);
    f->offset += (long)n;
    return (int)n;
}

static unsigned long fake_read_calls;
static int fake_read(void *ctx, uint8_t *buf, size_t len) {
    fake_t *f = (fake_t *)ctx;
    fake_read_calls++;
    size_t n = f->reply_len - f->reply_off;
    if (!f->connected) return DNSTAP_ERR_IO;
    if (n == 0) return (f->accept_mode == 3 && f->saw_ready) || f->eof_after_reply ? 0 : DNSTAP_ERR_AGAIN;
    if (n > len) n = len;
    memcpy(buf, f->reply + f->reply_off, n);
    f->reply_off += n;
    return (int)n;
}

static void fake_close(void *ctx) {
    fake_t *f = (fake_t *)ctx;
    if (f->connected) {
        f->closes++;
        if (dnstap_reader_end(&f->reader) == DNSTAP_OK && f->saw_stop) f->clean_end++;
    }
    f->connected = 0;
}

static int fake_fd(void *ctx) { (void)ctx; return -1; }

static fake_t fake;
static uint8_t queue_mem[1 << 22];

/* writev(): the buffers joined, then as write() (rule 3 does not apply) */
static int fake_use_writev;
static unsigned fake_writev_calls, fake_writev_most;
static int fake_writev(void *ctx, const dnstap_iovec_t *iov, int iovcnt) {
    static uint8_t flat[sizeof queue_mem];
    fake_t *f = (fake_t *)ctx;
    size_t total = 0;
    int i, n;
    for (i = 0; i < iovcnt; i++) {
        if (iov[i].len > sizeof flat - total) return DNSTAP_ERR_IO;
        memcpy(flat + total, iov[i].base, iov[i].len);
        total += iov[i].len;
    }
    fake_writev_calls++;
    if ((unsigned)iovcnt > fake_writev_most) fake_writev_most = (unsigned)iovcnt;
    f->again_buf = NULL;
    n = fake_write(ctx, flat, total);
    f->again_buf = NULL;
    return n;
}

static void fake_reset(void) {
    memset(&fake, 0, sizeof fake);
    fake.fail_at = -1;
}

static dnstap_result_t fake_tap(dnstap_t *tap, size_t queue_size, unsigned queues) {
    dnstap_desc_t d;
    memset(&d, 0, sizeof d);
    d.queue = queue_mem;
    d.queue_size = queue_size;
    d.queues = queues;
    d.full = true;
    d.identity = dnstap_str("test");
    d.transport.connect = fake_connect;
    d.transport.write = fake_write;
    d.transport.read = fake_read;
    d.transport.close = fake_close;
    d.transport.fd = fake_fd;
    d.transport.ctx = &fake;
    d.transport.writev = fake_use_writev ? fake_writev : NULL;
    d.backoff_min_ms = 100;
    d.backoff_max_ms = 1600;
    return dnstap_init(tap, &d);
}

/* Poll with a simulated clock that moves step_ms each call. */
static uint64_t sim_now;
static void run_for(dnstap_t *tap, unsigned polls, uint64_t step_ms) {
    unsigned i;
    for (i = 0; i < polls && !dnstap_closed(tap); i++) {
        (void)dnstap_poll(tap, sim_now);
        sim_now += step_ms;
    }
}

static void finish(dnstap_t *tap) {
    dnstap_shutdown(tap, sim_now);
    run_for(tap, 100000, 10);
}

/* Frames arrived exactly as accepted: same sequence, no gap, no repeat. */
static int arrived_exactly(const uint32_t *accepted, size_t n) {
    size_t i;
    if (fake.nseq != n) { printf("  arrived %zu, expected %zu\n", fake.nseq, n); return 0; }
    for (i = 0; i < n; i++)
        if (fake.seqs[i] != accepted[i]) { printf("  frame %zu: %u != %u\n", i, fake.seqs[i], accepted[i]); return 0; }
    return 1;
}

static dnstap_t tap;   /* big: keep it off the stack */
static uint32_t accepted[MAX_SEQ];

/* Log n messages (polling every poll_every), shut down, check everything. */
static void scenario(size_t n, unsigned poll_every, const char *what) {
    size_t i, na = 0;
    dnstap_stats_t s;
    for (i = 0; i < n; i++) {
        dnstap_msg_t m;
        seq_msg(&m, 0, (uint32_t)i);
        if (dnstap_log(&tap, &m) == DNSTAP_OK) accepted[na++] = (uint32_t)i;
        if (poll_every && i % poll_every == 0) run_for(&tap, 1, 10);
    }
    run_for(&tap, 200000, 10);
    finish(&tap);
    s = dnstap_stats(&tap);
    CHECK(dnstap_closed(&tap));
    CHECK(invariant_ok(&tap));
    CHECK_EQ(fake.stream_errors, 0);
    CHECK_EQ(fake.violations, 0);
    CHECK_EQ(s.sent, fake.nseq);
    CHECK_EQ(s.queued, 0);
    if (!arrived_exactly(accepted, na)) { printf("  in %s\n", what); CHECK(0); }
}

/* ======================================================================== */

static void test_plain_stream(void) {
    fake_reset();
    CHECK_EQ(fake_tap(&tap, 1 << 20, 1), DNSTAP_OK);
    scenario(5000, 50, "plain");
    CHECK_EQ(fake.connections, 1);
    CHECK_EQ(fake.clean_end, 1);
    CHECK_EQ(dnstap_stats(&tap).sent, 5000);
    CHECK_EQ(dnstap_stats(&tap).connects, 1);
}

static void test_one_byte_writes(void) {
    fake_reset();
    fake.max_per_write = 1;
    CHECK_EQ(fake_tap(&tap, 1 << 20, 1), DNSTAP_OK);
    scenario(300, 10, "1-byte writes");
    CHECK_EQ(fake.clean_end, 1);
    CHECK_EQ(dnstap_stats(&tap).sent, 300);
}

/* "would block" at every offset pattern: the same arguments come back */
static void test_would_block_everywhere(void) {
    unsigned k;
    for (k = 1; k <= 7; k++) {
        fake_reset();
        fake.again_every = k == 1 ? 2 : k;
        fake.max_per_write = k * 13;
        CHECK_EQ(fake_tap(&tap, 1 << 20, 1), DNSTAP_OK);
        scenario(400, 7, "would block");
        CHECK_EQ(fake.clean_end, 1);
        CHECK_EQ(dnstap_stats(&tap).sent, 400);
    }
}

/* A failure at every byte offset of a 20-frame stream: the next connection
   resumes at a frame boundary; nothing is cut, doubled or lost. */
static void test_failure_at_every_offset(void) {
    long off, total = 0;
    int bad = 0;
    fake_reset();
    CHECK_EQ(fake_tap(&tap, 1 << 20, 1), DNSTAP_OK);
    scenario(20, 0, "reference");
    total = fake.offset;
    CHECK(total > 20 * 80);
    if (test_case_failed) return;
    for (off = 0; off <= total && !bad; off++) {
        fake_reset();
        fake.fail_at = off;
        fake.fail_once = 1;
        fake.max_per_write = (size_t)(off % 5) * 40;   /* 0 = no limit */
        if (fake_tap(&tap, 1 << 20, 1) != DNSTAP_OK) { bad = 1; break; }
        scenario(20, 0, "failure at an offset");
        if (test_case_failed) { printf("  failure at offset %ld of %ld\n", off, total); bad = 1; }
        if (off < total - 12 && dnstap_stats(&tap).reconnects != 1) {
            printf("  offset %ld: reconnects %llu\n", off, (unsigned long long)dnstap_stats(&tap).reconnects);
            bad = 1;
        }
    }
    CHECK(!bad);
}

static void test_queue_full_and_too_big(void) {
    dnstap_msg_t m;
    size_t i;
    static uint8_t big[3000];
    fake_reset();
    CHECK_EQ(fake_tap(&tap, 2048, 1), DNSTAP_OK);
    for (i = 0; i < 100; i++) {      /* no poll: the ring fills */
        seq_msg(&m, 0, (uint32_t)i);
        (void)dnstap_log(&tap, &m);
    }
    CHECK(dnstap_stats(&tap).dropped_full > 0);
    CHECK(dnstap_stats(&tap).queued > 0);
    CHECK(invariant_ok(&tap));
    seq_msg(&m, 0, 1000);
    m.query_message.data = big;
    m.query_message.len = sizeof big;
    CHECK_EQ(dnstap_log(&tap, &m), DNSTAP_ERR_TOO_LONG);   /* larger than the whole queue */
    CHECK_EQ(dnstap_stats(&tap).dropped_too_big, 1);
    seq_msg(&m, 0, 1001);
    m.socket_family = (dnstap_socket_family_t)9;
    CHECK_EQ(dnstap_log(&tap, &m), DNSTAP_ERR_ENUM);
    m.socket_family = DNSTAP_INET;
    m.type = (dnstap_message_type_t)0;
    CHECK_EQ(dnstap_log(&tap, &m), DNSTAP_ERR_MISSING);
    CHECK_EQ(dnstap_stats(&tap).dropped_invalid, 2);
    CHECK_EQ(dnstap_log_queue(&tap, 1, &m), DNSTAP_ERR_INVALID);   /* no such queue */
    CHECK(invariant_ok(&tap));
    run_for(&tap, 1000, 10);
    CHECK_EQ(dnstap_stats(&tap).queued, 0);
    CHECK(invariant_ok(&tap));
    finish(&tap);
    CHECK(invariant_ok(&tap));
    CHECK_EQ(dnstap_log(&tap, &m), DNSTAP_ERR_DISCONNECTED);   /* after shutdown: counted */
    CHECK(invariant_ok(&tap));
}

/* dnstap_log_payload(): payloads encoded elsewhere (another identity) go out
   as they are, in order, with the same accounting and refusals as dnstap_log(). */
static void test_log_payload(void) {
    dnstap_encoder_t e;
    dnstap_encoder_desc_t ed;
    dnstap_msg_t m;
    static uint8_t pl[DNSTAP_PAYLOAD_MAX_DEFAULT + 1];
    size_t n, i, na = 0;
    memset(&ed, 0, sizeof ed);
    ed.identity = dnstap_str("relayed");
    CHECK_EQ(dnstap_encoder_init(&e, &ed), DNSTAP_OK);
    fake_reset();
    CHECK_EQ(fake_tap(&tap, 1 << 16, 1), DNSTAP_OK);
    for (i = 0; i < 3000; i++) {   /* a 64 KiB ring: some are dropped as full, counted */
        seq_msg(&m, 0, (uint32_t)i);
        CHECK_EQ(dnstap_encode(&e, &m, pl, sizeof pl, &n), DNSTAP_OK);
        if (dnstap_log_payload(&tap, 0, pl, n) == DNSTAP_OK) accepted[na++] = (uint32_t)i;
        if (i % 1000 == 999) run_for(&tap, 1000, 10);
    }
    CHECK(na > 0 && na < 3000);
    CHECK_EQ(dnstap_stats(&tap).dropped_full, 3000 - na);
    CHECK_EQ(dnstap_log_payload(&tap, 0, NULL, 10), DNSTAP_ERR_INVALID);
    CHECK_EQ(dnstap_log_payload(&tap, 0, pl, 0), DNSTAP_ERR_INVALID);
    CHECK_EQ(dnstap_log_payload(&tap, 1, pl, n), DNSTAP_ERR_INVALID);   /* no such queue */
    CHECK_EQ(dnstap_log_payload(&tap, 0, pl, DNSTAP_PAYLOAD_MAX_DEFAULT + 1), DNSTAP_ERR_TOO_LONG);
    CHECK_EQ(dnstap_stats(&tap).dropped_too_big, 1);
    run_for(&tap, 200000, 10);
    finish(&tap);
    CHECK(invariant_ok(&tap));
    CHECK_EQ(fake.stream_errors, 0);
    CHECK_EQ(fake.relayed, na);
    CHECK(arrived_exactly(accepted, na));
    CHECK_EQ(dnstap_log_payload(&tap, 0, pl, n), DNSTAP_ERR_DISCONNECTED);   /* after shutdown */
    CHECK(invariant_ok(&tap));
}

/* The ring wraps many times with frames of varied sizes. */
static void test_ring_wraps(void) {
    size_t i, na = 0;
    fake_reset();
    CHECK_EQ(fake_tap(&tap, 1000, 1), DNSTAP_OK);
    run_for(&tap, 10, 10);
    for (i = 0; i < 3000; i++) {
        dnstap_msg_t m;
        seq_msg(&m, 0, (uint32_t)i);
        m.query_message.len = i % sizeof wire;
        if (dnstap_log(&tap, &m) == DNSTAP_OK) accepted[na++] = (uint32_t)i;
        if (i % 3 == 0) run_for(&tap, 1, 10);
    }
    run_for(&tap, 100, 10);
    finish(&tap);
    CHECK(na > 1000);
    CHECK(invariant_ok(&tap));
    CHECK(arrived_exactly(accepted, na));
}

/* ---- an empty queue takes any frame that fits it ---------------------- */
static uint8_t filler[2 * 65535];

/* seq_msg() grown to a frame of exactly frame_len bytes (length included),
   by the size of its wire message, of an optional response port (2 to 4
   bytes) and of an optional extra (2 to 5): 0 when no such message exists. */
static int sized_msg(dnstap_msg_t *m, const dnstap_encoder_t *enc, unsigned producer, uint32_t seq, size_t frame_len) {
    static const uint32_t ports[4] = { 0, 1, 200, 20000 };
    size_t base, len, payload;
    unsigned k;
    for (k = 0; k < 4 * 5; k++) {
        seq_msg(m, producer, seq);
        m->query_message.data = filler;
        m->query_message.len = 0;
        if (k % 4) { m->response_port = ports[k % 4]; m->has |= DNSTAP_HAS_RESPONSE_PORT; }
        if (k / 4) { m->extra.data = filler; m->extra.len = k / 4 - 1; }   /* outside the Message */
        if (dnstap_encoded_size(enc, m, &base) != DNSTAP_OK || 4 + base > frame_len) continue;
        /* length varints grow with the wire message: try the lengths near the target */
        for (len = frame_len - 4 - base >= 6 ? frame_len - 4 - base - 6 : 0; len <= frame_len - 4 - base; len++) {
            m->query_message.len = len;
            if (dnstap_encoded_size(enc, m, &payload) == DNSTAP_OK && 4 + payload == frame_len) return 1;
        }
    }
    return 0;
}

/* The producer past a tail that lags at the wrap (the consumer took all
   before the wrap and has not followed yet): the room after head ends at
   the ring's end, not at the tail. A frame that does not fit there is
   refused as full and nothing is written past the ring (queue 1's memory
   stays as it was). */
static void test_claim_past_lagging_tail(void) {
    static const size_t sizes[5] = { 400, 400, 400, 500, 90 };
    dnstap_msg_t m;
    dnstap_queue_t *q;
    unsigned i;
    fake_reset();
    memset(queue_mem, 0x5A, 2000);
    CHECK_EQ(fake_tap(&tap, 2000, 2), DNSTAP_OK);
    run_for(&tap, 10, 10);   /* connected */
    q = &tap.q[0];
    for (i = 0; i < 5; i++) {
        CHECK(sized_msg(&m, &tap.enc, 0, i, sizes[i]));
        CHECK_EQ(dnstap_log(&tap, &m), DNSTAP_OK);
        if (i == 1) {   /* the consumer takes both, then stays away */
            while (q->tail != q->head) (void)dnstap_poll(&tap, sim_now++);
        }
    }
    /* tail on the old lap at the wrap (800); head on the new lap at 990 */
    CHECK(((q->head ^ q->tail) & DNSTAP__LAP) && DNSTAP__OFF(q->tail) == 800 && DNSTAP__OFF(q->head) == 990);
    CHECK(sized_msg(&m, &tap.enc, 0, 5, 200));
    CHECK_EQ(dnstap_log(&tap, &m), DNSTAP_ERR_FULL);
    for (i = 0; i < 1000 && queue_mem[1000 + i] == 0x5A; i++) {}
    CHECK_EQ(i, 1000);
    CHECK(invariant_ok(&tap));
}

/* Every accepted frame arrived once, in its producer's order (sequence
   numbers below seq_end). */
static int arrived_once(const uint32_t *acc, size_t n, uint32_t seq_end) {
    static uint8_t seen[MAX_SEQ];
    uint32_t last[DNSTAP_MAX_QUEUES];
    size_t i;
    if (fake.nseq != n || seq_end > MAX_SEQ) { printf("  arrived %zu, expected %zu\n", fake.nseq, n); return 0; }
    memset(seen, 0, sizeof seen);
    memset(last, 0, sizeof last);
    for (i = 0; i < n; i++) {
        unsigned p = fake.producer[i];
        uint32_t q = fake.seqs[i];
        if (q >= seq_end || seen[q] || p >= DNSTAP_MAX_QUEUES || (last[p] && q <= last[p])) {
            printf("  frame %zu: %u from %u out of place\n", i, q, p);
            return 0;
        }
        seen[q] = 1;
        last[p] = q;
    }
    for (i = 0; i < n; i++) if (!seen[acc[i]]) { printf("  %u never arrived\n", acc[i]); return 0; }
    return 1;
}

/* Poll until every queue is empty (everything sent). */
static int drain(dnstap_t *t) {
    unsigned polls;
    for (polls = 0; polls < 10000 && dnstap_stats(t).queued; polls++) run_for(t, 1, 1);
    return dnstap_stats(t).queued == 0;
}

/* An empty 1,000-byte queue refused every 570-byte frame after the first,
   because the frame fitted neither after the tail nor before it; and the
   README's 82,432-byte queue took 1 of 100 responses of 45 KB. */
static void test_empty_queue_takes_half_plus(void) {
    static const size_t caps[2] = { 1000, 82432 }, lens[2] = { 570, 45000 };
    unsigned c;
    for (c = 0; c < 2; c++) {
        dnstap_msg_t m;
        size_t i, na = 0;
        fake_reset();
        CHECK_EQ(fake_tap(&tap, caps[c], 1), DNSTAP_OK);
        run_for(&tap, 10, 10);
        for (i = 0; i < 100; i++) {
            CHECK(sized_msg(&m, &tap.enc, 0, (uint32_t)i, lens[c]));
            CHECK_EQ(dnstap_log(&tap, &m), DNSTAP_OK);
            if (!test_case_failed) accepted[na++] = (uint32_t)i;
            CHECK(drain(&tap));
            if (test_case_failed) { printf("  %zu-byte queue, frame %zu\n", caps[c], i); break; }
        }
        CHECK_EQ(dnstap_stats(&tap).dropped_full, 0);
        finish(&tap);
        CHECK(invariant_ok(&tap));
        CHECK(arrived_exactly(accepted, na));
    }
}

/* Log a frame of len bytes on queue qi and send it. */
static int log_sent(dnstap_t *t, unsigned qi, uint32_t seq, size_t len) {
    dnstap_msg_t m;
    return sized_msg(&m, &t->enc, qi, seq, len) && dnstap_log_queue(t, qi, &m) == DNSTAP_OK && drain(t);
}

/* A frame that does not fit after head takes the ring's start up to the
   tail, exactly: [0, tail) of a frame's size is room (it was refused as
   full). The ring: sent [0, a), queued [a, a + b), a frame of a bytes next,
   with fewer than a bytes after the head. */
static void test_frame_fits_up_to_tail(void) {
    static const size_t as[3] = { 300, 301, 450 };
    unsigned k;
    for (k = 0; k < 3 && !test_case_failed; k++) {
        const size_t a = as[k], b = 1000 - a - 100;   /* 100 bytes left after head */
        dnstap_msg_t m;
        fake_reset();
        CHECK_EQ(fake_tap(&tap, 1000, 1), DNSTAP_OK);
        run_for(&tap, 10, 10);
        CHECK(log_sent(&tap, 0, 0, a));   /* [0, a) sent: tail at a */
        CHECK(sized_msg(&m, &tap.enc, 0, 1, b));
        CHECK_EQ(dnstap_log(&tap, &m), DNSTAP_OK);   /* [a, 900) queued */
        CHECK(sized_msg(&m, &tap.enc, 0, 2, a));
        CHECK_EQ(dnstap_log(&tap, &m), DNSTAP_OK);   /* [0, a): up to the tail */
        CHECK(sized_msg(&m, &tap.enc, 0, 3, 100));
        CHECK_EQ(dnstap_log(&tap, &m), DNSTAP_ERR_FULL);   /* no room at all now */
        CHECK(drain(&tap));
        finish(&tap);
        accepted[0] = 0; accepted[1] = 1; accepted[2] = 2;
        CHECK(arrived_exactly(accepted, 3));
        CHECK(invariant_ok(&tap));
    }
}

/* From every offset an empty ring can be left at, a queue of N bytes takes
   a frame of any size up to N; with several queues, each of them. */
static void test_empty_queue_any_position(void) {
    static const size_t caps[2] = { 1000, 1500 };
    static const unsigned nqueues[2] = { 1, 3 };
    unsigned c;
    for (c = 0; c < 2 && !test_case_failed; c++) {
        size_t cap = caps[c], pos, min_len, na = 0;
        unsigned nq = nqueues[c], qi;
        uint32_t seq = 0;
        dnstap_msg_t m;
        fake_reset();
        CHECK_EQ(fake_tap(&tap, cap * nq, nq), DNSTAP_OK);
        CHECK_EQ(tap.q[0].cap, cap);
        run_for(&tap, 10, 10);
        seq_msg(&m, 0, 0);
        m.query_message.len = 0;
        CHECK_EQ(dnstap_encoded_size(&tap.enc, &m, &min_len), DNSTAP_OK);
        min_len += 4;
        /* offset 0 (fresh), then every offset a frame can end at (cap too) */
        for (pos = min_len - 1; pos <= cap && !test_case_failed; pos++) {
            size_t sizes[4], k;
            /* the whole ring; one byte more than fits after pos; one byte more
               than fits before it; just over half */
            sizes[0] = cap; sizes[1] = cap - pos + 1; sizes[2] = pos + 1; sizes[3] = cap / 2 + 1;
            for (k = 1; k < 3; k++) if (sizes[k] < min_len || sizes[k] > cap) sizes[k] = cap - 1;
            for (k = 0; k < 4 && !test_case_failed; k++) {
                for (qi = 0; qi < nq && pos >= min_len; qi++) {
                    /* walk the empty ring to pos, one frame at a time */
                    size_t cur = DNSTAP__OFF(tap.q[qi].head), steps;
                    for (steps = 0; cur != pos && steps < 4; steps++) {
                        size_t l = pos > cur && pos - cur >= min_len ? pos - cur
                                 : cur < cap && cap - cur >= min_len ? cap - cur : pos;
                        CHECK(log_sent(&tap, qi, seq, l));
                        accepted[na++] = seq++;
                        cur = DNSTAP__OFF(tap.q[qi].head);
                    }
                    CHECK_EQ(cur, pos);
                    CHECK(tap.q[qi].head == tap.q[qi].tail);
                }
                for (qi = 0; qi < nq; qi++) {
                    CHECK(sized_msg(&m, &tap.enc, qi, seq, sizes[k]));
                    CHECK_EQ(dnstap_log_queue(&tap, qi, &m), DNSTAP_OK);
                    if (test_case_failed) {
                        printf("  queue %u of %u (%zu bytes) at %zu: frame of %zu refused\n", qi, nq, cap,
                               pos < min_len ? 0 : pos, sizes[k]);
                        break;
                    }
                    accepted[na++] = seq++;
                }
                CHECK(drain(&tap));
                if (pos < min_len) break;
                if (na > MAX_SEQ - 100) { CHECK(0); break; }
            }
        }
        CHECK(sized_msg(&m, &tap.enc, 0, seq, cap + 1));
        CHECK_EQ(dnstap_log_queue(&tap, 0, &m), DNSTAP_ERR_TOO_LONG);
        CHECK_EQ(dnstap_stats(&tap).dropped_full, 0);
        CHECK_EQ(dnstap_stats(&tap).dropped_too_big, 1);
        finish(&tap);
        CHECK(invariant_ok(&tap));
        if (nq == 1) CHECK(arrived_exactly(accepted, na));
        else CHECK(arrived_once(accepted, na, seq));
    }
}

/* The default payload_max is golang-dnstap's limit: a payload of exactly
   98,304 bytes is sent, one byte more is refused and counted, before it
   could reach a receiver that would drop the connection. Setting
   payload_max keeps larger frames available (two 65,535-byte messages). */
static void test_payload_max_default(void) {
    dnstap_encoder_t wide;
    dnstap_msg_t m;
    size_t payload;
    fake_reset();
    CHECK_EQ(fake_tap(&tap, 1 << 20, 1), DNSTAP_OK);
    CHECK_EQ(tap.enc.payload_max, 98304);
    CHECK(sized_msg(&m, &tap.enc, 0, 0, 4 + 98304));
    CHECK_EQ(dnstap_log(&tap, &m), DNSTAP_OK);
    wide = tap.enc;                  /* the same encoder without the limit, to make one */
    wide.payload_max = DNSTAP_PAYLOAD_MAX_FSTRM;
    CHECK(sized_msg(&m, &wide, 0, 1, 4 + 98304 + 1));
    CHECK_EQ(dnstap_encoded_size(&tap.enc, &m, &payload), DNSTAP_ERR_TOO_LONG);
    CHECK_EQ(dnstap_log(&tap, &m), DNSTAP_ERR_TOO_LONG);
    seq_msg(&m, 0, 2);
    m.query_message.data = filler; m.query_message.len = 65535;
    m.response_message.data = filler; m.response_message.len = 65535;
    CHECK_EQ(dnstap_log(&tap, &m), DNSTAP_ERR_TOO_LONG);
    CHECK(drain(&tap));
    CHECK_EQ(dnstap_stats(&tap).dropped_too_big, 2);
    CHECK_EQ(dnstap_stats(&tap).sent_bytes, 4 + 98304);
    finish(&tap);
    CHECK(invariant_ok(&tap));
    CHECK_EQ(fake.nseq, 1);
    CHECK_EQ(fake.stream_errors, 0);

    fake_reset();
    {
        dnstap_desc_t d = tap.desc;
        d.payload_max = DNSTAP_PAYLOAD_MAX_FSTRM;
        CHECK_EQ(dnstap_init(&tap, &d), DNSTAP_OK);
    }
    CHECK_EQ(dnstap_log(&tap, &m), DNSTAP_OK);
    CHECK(drain(&tap));
    finish(&tap);
    CHECK(invariant_ok(&tap));
    CHECK_EQ(fake.nseq, 1);
    CHECK_EQ(fake.stream_errors, 0);
    CHECK(dnstap_stats(&tap).sent_bytes > 2 * 65535);
}

/* ---- the flush policy --------------------------------------------------- */

/* Frames wait until flush_ms after dnstap_poll() first saw them, or until
   flush_bytes are queued, or a queue is past half full; then one write
   takes them all. dnstap_io() says when. */
static void test_flush_policy(void) {
    dnstap_msg_t m;
    dnstap_io_t io;
    uint64_t t0, frame;
    uint32_t i, seq = 0;
    fake_reset();
    CHECK_EQ(fake_tap(&tap, 1 << 20, 1), DNSTAP_OK);
    CHECK_EQ(tap.desc.flush_bytes, DNSTAP_FLUSH_BYTES);
    CHECK_EQ(tap.desc.flush_ms, DNSTAP_FLUSH_MS);
    sim_now = 1000;
    run_for(&tap, 5, 10);
    CHECK_EQ(tap.state, DNSTAP__S_RUNNING);
    /* age: 3 frames, seen by the poll at t0, written at t0 + flush_ms */
    for (i = 0; i < 3; i++) { seq_msg(&m, 0, seq++); CHECK_EQ(dnstap_log(&tap, &m), DNSTAP_OK); }
    t0 = sim_now;
    CHECK_EQ(dnstap_io(&tap, t0).deadline_ms, t0);   /* not seen yet: poll now */
    CHECK_EQ(dnstap_poll(&tap, t0), DNSTAP_OK);
    CHECK_EQ(dnstap_stats(&tap).sent, 0);
    io = dnstap_io(&tap, t0);
    CHECK_EQ(io.deadline_ms, t0 + DNSTAP_FLUSH_MS);
    CHECK(!io.want_write);
    for (i = 0; i < 3; i++) { seq_msg(&m, 0, seq++); CHECK_EQ(dnstap_log(&tap, &m), DNSTAP_OK); }
    CHECK_EQ(dnstap_poll(&tap, t0 + DNSTAP_FLUSH_MS - 1), DNSTAP_OK);
    CHECK_EQ(dnstap_io(&tap, t0 + DNSTAP_FLUSH_MS - 1).deadline_ms, t0 + DNSTAP_FLUSH_MS);   /* the oldest counts */
    CHECK_EQ(dnstap_stats(&tap).sent, 0);
    CHECK_EQ(dnstap_poll(&tap, t0 + DNSTAP_FLUSH_MS), DNSTAP_OK);
    CHECK_EQ(dnstap_stats(&tap).sent, 6);
    CHECK_EQ(dnstap_stats(&tap).writes, 1);
    CHECK_EQ(dnstap_io(&tap, t0 + DNSTAP_FLUSH_MS).deadline_ms, UINT64_MAX);
    /* bytes: the poll that sees flush_bytes queued writes them at once */
    frame = dnstap_stats(&tap).sent_bytes / 6;
    sim_now = t0 + 100;
    for (i = 0; (i + 1) * frame < DNSTAP_FLUSH_BYTES; i++) { seq_msg(&m, 0, seq++); CHECK_EQ(dnstap_log(&tap, &m), DNSTAP_OK); }
    CHECK_EQ(dnstap_poll(&tap, sim_now), DNSTAP_OK);
    CHECK_EQ(dnstap_stats(&tap).writes, 1);
    CHECK_EQ(dnstap_io(&tap, sim_now).deadline_ms, sim_now + DNSTAP_FLUSH_MS);
    seq_msg(&m, 0, seq++);
    CHECK_EQ(dnstap_log(&tap, &m), DNSTAP_OK);
    CHECK_EQ(dnstap_io(&tap, sim_now + 1).deadline_ms, sim_now + 1);
    CHECK_EQ(dnstap_poll(&tap, sim_now + 1), DNSTAP_OK);
    CHECK_EQ(dnstap_stats(&tap).writes, 2);
    CHECK_EQ(dnstap_stats(&tap).queued, 0);
    /* exactly flush_bytes: at once too */
    CHECK_EQ(dnstap_stats(&tap).sent_bytes % frame, 0);   /* frames of one size */
    tap.desc.flush_bytes = (uint32_t)(4 * frame);
    for (i = 0; i < 4; i++) { seq_msg(&m, 0, seq++); CHECK_EQ(dnstap_log(&tap, &m), DNSTAP_OK); }
    CHECK_EQ(dnstap_poll(&tap, sim_now + 2), DNSTAP_OK);
    CHECK_EQ(dnstap_stats(&tap).writes, 3);
    CHECK_EQ(dnstap_stats(&tap).queued, 0);
    tap.desc.flush_bytes = DNSTAP_FLUSH_BYTES;
    /* shutdown writes what waits at once, then STOP */
    seq_msg(&m, 0, seq++);
    CHECK_EQ(dnstap_log(&tap, &m), DNSTAP_OK);
    sim_now += 50;
    CHECK_EQ(dnstap_poll(&tap, sim_now), DNSTAP_OK);
    CHECK_EQ(dnstap_stats(&tap).queued, 1);
    dnstap_shutdown(&tap, sim_now);
    CHECK_EQ(dnstap_io(&tap, sim_now).deadline_ms, sim_now);
    CHECK_EQ(dnstap_poll(&tap, sim_now), DNSTAP_OK);
    CHECK_EQ(dnstap_stats(&tap).queued, 0);
    CHECK_EQ(fake.saw_stop, 1);
    run_for(&tap, 10, 1);
    CHECK(dnstap_closed(&tap));
    CHECK(invariant_ok(&tap));
    CHECK_EQ(fake.nseq, seq);
    CHECK_EQ(fake.stream_errors, 0);

    /* half full: a 4,000-byte queue (below 2 x flush_bytes) writes at 2,001 */
    fake_reset();
    CHECK_EQ(fake_tap(&tap, 4000, 1), DNSTAP_OK);
    run_for(&tap, 5, 10);
    for (i = 0; (i + 1) * frame <= 2000; i++) { seq_msg(&m, 0, i); CHECK_EQ(dnstap_log(&tap, &m), DNSTAP_OK); }
    CHECK_EQ(dnstap_poll(&tap, sim_now), DNSTAP_OK);
    CHECK_EQ(dnstap_stats(&tap).sent, 0);
    seq_msg(&m, 0, i);
    CHECK_EQ(dnstap_log(&tap, &m), DNSTAP_OK);
    CHECK_EQ(dnstap_io(&tap, sim_now).deadline_ms, sim_now);
    CHECK_EQ(dnstap_poll(&tap, sim_now), DNSTAP_OK);
    CHECK_EQ(dnstap_stats(&tap).sent, i + 1);
    CHECK_EQ(dnstap_stats(&tap).writes, 1);
    finish(&tap);
    CHECK(invariant_ok(&tap));

    /* DNSTAP_FLUSH_AT_ONCE: the old behaviour, one write per poll */
    fake_reset();
    {
        dnstap_desc_t d;
        CHECK_EQ(fake_tap(&tap, 1 << 20, 1), DNSTAP_OK);
        d = tap.desc;
        d.flush_bytes = DNSTAP_FLUSH_AT_ONCE;
        CHECK_EQ(dnstap_init(&tap, &d), DNSTAP_OK);
    }
    run_for(&tap, 5, 10);
    for (i = 0; i < 10; i++) {
        seq_msg(&m, 0, i);
        CHECK_EQ(dnstap_log(&tap, &m), DNSTAP_OK);
        CHECK_EQ(dnstap_io(&tap, sim_now).deadline_ms, sim_now);
        CHECK_EQ(dnstap_poll(&tap, sim_now), DNSTAP_OK);
        CHECK_EQ(dnstap_stats(&tap).writes, i + 1);
    }
    finish(&tap);
    CHECK(invariant_ok(&tap));
}

/* A host loop at 20,000 queries/s (two frames each), polling after each
   query and when dnstap_io() asks: one write per 50 queries at most with
   the defaults, and the receiver's side read at most once a millisecond
   (not once a poll); one write per query with DNSTAP_FLUSH_AT_ONCE. */
static void test_flush_write_count(void) {
    unsigned k;
    for (k = 0; k < 2; k++) {
        uint64_t us, writes;
        uint32_t seq = 0;
        fake_reset();
        CHECK_EQ(fake_tap(&tap, 1 << 20, 1), DNSTAP_OK);
        if (k) {
            dnstap_desc_t d = tap.desc;
            d.flush_bytes = DNSTAP_FLUSH_AT_ONCE;
            CHECK_EQ(dnstap_init(&tap, &d), DNSTAP_OK);
        }
        run_for(&tap, 5, 10);
        fake_read_calls = 0;
        for (us = 0; us < 1000000; us += 50) {   /* one query every 50 us, 1 s */
            uint64_t now = sim_now + us / 1000;
            dnstap_msg_t m;
            seq_msg(&m, 0, seq++);
            CHECK_EQ(dnstap_log(&tap, &m), DNSTAP_OK);
            seq_msg(&m, 0, seq++);
            m.type = DNSTAP_CLIENT_RESPONSE;
            CHECK_EQ(dnstap_log(&tap, &m), DNSTAP_OK);
            (void)dnstap_poll(&tap, now);
            if (dnstap_io(&tap, now).deadline_ms <= now) (void)dnstap_poll(&tap, now);
        }
        writes = dnstap_stats(&tap).writes;
        printf("  %s: %llu writes, %lu reads for 20000 queries in 1 s\n", k ? "DNSTAP_FLUSH_AT_ONCE" : "defaults",
               (unsigned long long)writes, fake_read_calls);
        if (k) CHECK_EQ(writes, 20000);
        else CHECK(writes * 50 <= 20000 && fake_read_calls <= 1000 + writes);
        sim_now += 1000;
        run_for(&tap, 20, 10);
        finish(&tap);
        CHECK(invariant_ok(&tap));
        CHECK_EQ(fake.nseq, seq);
    }
}

/* With writev(), one call carries every queue's frames, each ring as its
   runs before and after its wrap; the stream stays exact when it takes
   part, would block, or fails. */
static void test_writev_runs(void) {
    dnstap_msg_t m;
    unsigned qi, k;
    uint32_t seq = 0;
    size_t na = 0;
    fake_reset();
    fake_use_writev = 1;
    fake_writev_calls = fake_writev_most = 0;
    CHECK_EQ(fake_tap(&tap, 3 * 1000, 3), DNSTAP_OK);
    run_for(&tap, 5, 10);
    /* each ring at 700: 3 frames of 100 written, 2 more of 200 then wrap */
    for (qi = 0; qi < 3; qi++) {
        CHECK(log_sent(&tap, qi, seq, 700));
        accepted[na++] = seq++;
    }
    CHECK_EQ(fake_writev_calls, 3);
    for (qi = 0; qi < 3; qi++) {
        CHECK(sized_msg(&m, &tap.enc, qi, seq, 250));
        CHECK_EQ(dnstap_log_queue(&tap, qi, &m), DNSTAP_OK);   /* 700..950 */
        accepted[na++] = seq++;
        CHECK(sized_msg(&m, &tap.enc, qi, seq, 300));
        CHECK_EQ(dnstap_log_queue(&tap, qi, &m), DNSTAP_OK);   /* wraps: 0..300 */
        accepted[na++] = seq++;
        CHECK(tap.q[qi].head & DNSTAP__LAP ? !(tap.q[qi].tail & DNSTAP__LAP) : (tap.q[qi].tail & DNSTAP__LAP) != 0);
    }
    sim_now += 1000;
    CHECK_EQ(dnstap_poll(&tap, sim_now), DNSTAP_OK);
    CHECK_EQ(fake_writev_calls, 4);
    CHECK_EQ(fake_writev_most, 6);
    CHECK_EQ(dnstap_stats(&tap).writes, 4);
    CHECK_EQ(dnstap_stats(&tap).queued, 0);
    finish(&tap);
    CHECK(invariant_ok(&tap));
    CHECK(arrived_once(accepted, na, seq));
    /* partial takes, would block, failures: frames whole, in order, once */
    for (k = 1; k <= 5 && !test_case_failed; k++) {
        fake_reset();
        fake.again_every = k + 1;
        fake.max_per_write = k * 37;
        if (k == 5) { fake.fail_at = 3000; fake.fail_once = 1; }
        CHECK_EQ(fake_tap(&tap, 1 << 12, 1), DNSTAP_OK);
        scenario(2000, 3, "writev");
    }
    fake_use_writev = 0;
}

/* A write is capped at DNSTAP__WRITE_MAX bytes (1 GiB), cut inside a
   frame where the cap falls. With several queues, a capped write taken
   whole moved on to the next queue with that frame half sent: the next
   write sent it again from its start, or skipped bytes of another queue
   (read outside the queue memory, counted frames never made). Built with
   a 1,000-byte cap (test_tap_cap) this reaches the cap; built as usual it
   checks the same stream with writes that are not cut. */
static void test_write_cap_mid_frame(void) {
    dnstap_msg_t m;
    int use;
    for (use = 0; use < 2 && !test_case_failed; use++) {
        uint32_t seq = 0;
        size_t na = 0, i;
        fake_reset();
        fake_use_writev = use;
        CHECK_EQ(fake_tap(&tap, 3 * 20000, 3), DNSTAP_OK);
        run_for(&tap, 5, 10);
        for (i = 0; i < 300; i++) {
            unsigned qi = (unsigned)(i % 3);
            CHECK(sized_msg(&m, &tap.enc, qi, seq, 150 + (i * 7) % 300));
            CHECK_EQ(dnstap_log_queue(&tap, qi, &m), DNSTAP_OK);
            accepted[na++] = seq++;
            if (i % 40 == 39) run_for(&tap, 1, 1000);
        }
        finish(&tap);
        CHECK(invariant_ok(&tap));
        CHECK_EQ(dnstap_stats(&tap).sent, na);
        CHECK_EQ(fake.stream_errors, 0);
        CHECK(arrived_once(accepted, na, seq));
    }
    fake_use_writev = 0;
}

/* dnstap_close_now() while a frame is half written through writev() (which
   leaves no again_buf behind), the transport taking bytes again: STOP
   would land inside the frame; nothing is written. */
static void test_close_now_mid_frame(void) {
    uint32_t seq;
    long taken;
    fake_reset();
    fake_use_writev = 1;
    CHECK_EQ(fake_tap(&tap, 1 << 14, 1), DNSTAP_OK);
    run_for(&tap, 10, 10);
    fake.metered = 1;   /* 100 bytes, then it would block */
    fake.budget = 100;
    for (seq = 0; seq < 5; seq++) {
        dnstap_msg_t m;
        CHECK(sized_msg(&m, &tap.enc, 0, seq, 300));
        CHECK_EQ(dnstap_log(&tap, &m), DNSTAP_OK);
    }
    (void)dnstap_poll(&tap, sim_now);   /* the flush policy sees them */
    sim_now += 1000;
    (void)dnstap_poll(&tap, sim_now);   /* 100 bytes of the first frame */
    CHECK(tap.tx_off > 0);
    taken = fake.offset;
    fake.budget = 1000;   /* it would take bytes again: only the rule keeps STOP out */
    dnstap_close_now(&tap);
    CHECK(dnstap_closed(&tap));
    CHECK_EQ(fake.offset, taken);   /* not a byte more: no STOP inside the frame */
    CHECK_EQ(fake.stream_errors, 0);
    CHECK_EQ(fake.saw_stop, 0);
    CHECK(invariant_ok(&tap));
    fake_use_writev = 0;
}

/* The consumer looks at a queue's head once per write: what a producer
   logs meanwhile, wrapping the ring, waits for the next write (a second
   look skipped the frames before the wrap, sent those after it in their
   place and counted the skipped ones as sent). */
static uint32_t burst_seq;
static size_t burst_na;
static void log_burst_that_wraps(void) {
    dnstap_msg_t m;
    unsigned i;
    consumer_pause = NULL;
    for (i = 0; i < 3; i++) {   /* 800..900, 900..1000, then 0..100 after the wrap */
        CHECK(sized_msg(&m, &tap.enc, 0, burst_seq, 100));
        CHECK_EQ(dnstap_log(&tap, &m), DNSTAP_OK);
        accepted[burst_na++] = burst_seq++;
    }
}

static void test_consumer_looks_once(void) {
    unsigned w;
    for (w = 0; w < 2 && !test_case_failed; w++) {
        dnstap_msg_t m;
        unsigned i;
        fake_reset();
        fake_use_writev = (int)w;
        CHECK_EQ(fake_tap(&tap, 1000, 1), DNSTAP_OK);
        tap.desc.flush_bytes = DNSTAP_FLUSH_AT_ONCE;
        run_for(&tap, 5, 10);
        burst_seq = 0;
        burst_na = 0;
        for (i = 0; i < 5; i++) {   /* 0..500, sent: the ring is empty at 500 */
            CHECK(sized_msg(&m, &tap.enc, 0, burst_seq, 100));
            CHECK_EQ(dnstap_log(&tap, &m), DNSTAP_OK);
            accepted[burst_na++] = burst_seq++;
        }
        run_for(&tap, 2, 1);
        CHECK_EQ(dnstap_stats(&tap).queued, 0);
        for (i = 0; i < 3; i++) {   /* 500..800, then the burst while they are gathered */
            CHECK(sized_msg(&m, &tap.enc, 0, burst_seq, 100));
            CHECK_EQ(dnstap_log(&tap, &m), DNSTAP_OK);
            accepted[burst_na++] = burst_seq++;
        }
        consumer_pause = log_burst_that_wraps;
        run_for(&tap, 1, 1);
        CHECK(consumer_pause == NULL);
        run_for(&tap, 5, 1);
        consumer_pause = NULL;
        CHECK_EQ(dnstap_stats(&tap).queued, 0);
        finish(&tap);
        CHECK(invariant_ok(&tap));
        CHECK(arrived_once(accepted, burst_na, burst_seq));
    }
    fake_use_writev = 0;
}

/* A write that would block resumes with the same buffer, from the same
   queue, even when an earlier queue has got frames meanwhile (found by
   fuzz_conn: the retry took the other queue's run and cut the stream). */
static void test_blocked_write_resumes_its_queue(void) {
    dnstap_msg_t m;
    fake_reset();
    CHECK_EQ(fake_tap(&tap, 2 * 4096, 2), DNSTAP_OK);
    tap.desc.flush_bytes = DNSTAP_FLUSH_AT_ONCE;
    run_for(&tap, 5, 10);
    CHECK_EQ(tap.state, DNSTAP__S_RUNNING);
    seq_msg(&m, 1, 0);
    CHECK_EQ(dnstap_log_queue(&tap, 1, &m), DNSTAP_OK);
    fake.stall_after_start = 1;
    run_for(&tap, 1, 1);
    CHECK(tap.data_blocked);
    seq_msg(&m, 0, 1);
    m.query_message.len = 10;   /* another size than the frame that waits */
    CHECK_EQ(dnstap_log_queue(&tap, 0, &m), DNSTAP_OK);
    fake.stall_after_start = 0;
    run_for(&tap, 5, 1);
    CHECK_EQ(dnstap_stats(&tap).queued, 0);
    finish(&tap);
    CHECK_EQ(fake.violations, 0);
    CHECK_EQ(fake.stream_errors, 0);
    accepted[0] = 0;
    accepted[1] = 1;
    CHECK(arrived_once(accepted, 2, 2));
    CHECK(invariant_ok(&tap));
}

/* dnstap_io() in each state, as the manual's table says. */
static void test_io_states(void) {
    dnstap_msg_t m;
    dnstap_io_t io;
    uint64_t t;
    uint32_t i;
    fake_reset();
    fake.connect_mode = 1;   /* connecting until told */
    CHECK_EQ(fake_tap(&tap, 1 << 20, 1), DNSTAP_OK);
    t = 5000;
    /* before the first dnstap_poll(): connect now */
    io = dnstap_io(&tap, t);
    CHECK(io.fd == -1 && !io.want_read && !io.want_write && io.deadline_ms == 0);
    /* connecting: writability, by the connect timeout */
    CHECK_EQ(dnstap_poll(&tap, t), DNSTAP_OK);
    io = dnstap_io(&tap, t);
    CHECK(io.want_write && !io.want_read && io.deadline_ms == t + 4000);
    /* handshake: READY written, waiting for ACCEPT: readability */
    fake.connect_mode = 0;
    fake.accept_mode = 1;
    CHECK_EQ(dnstap_poll(&tap, t + 1), DNSTAP_OK);
    io = dnstap_io(&tap, t + 1);
    CHECK(io.want_read && !io.want_write && io.deadline_ms == t + 1 + 4000);
    /* no ACCEPT: backing off: no descriptor, the reconnect time */
    CHECK(dnstap_poll(&tap, t + 1 + 4000) == DNSTAP_ERR_TIMEOUT);
    io = dnstap_io(&tap, t + 4001);
    CHECK(io.fd == -1 && !io.want_read && !io.want_write && io.deadline_ms == tap.next_connect_ms);
    CHECK(tap.next_connect_ms > t + 4001 && tap.next_connect_ms <= t + 4001 + 125);
    /* idle, connected: readability (a receiver leaving), no deadline */
    fake.accept_mode = 0;
    t = tap.next_connect_ms;
    CHECK_EQ(dnstap_poll(&tap, t), DNSTAP_OK);
    CHECK_EQ(tap.state, DNSTAP__S_RUNNING);
    io = dnstap_io(&tap, t);
    CHECK(io.want_read && !io.want_write && io.deadline_ms == UINT64_MAX);
    /* frames below the threshold: poll now to note them, then flush_ms later */
    seq_msg(&m, 0, 0);
    CHECK_EQ(dnstap_log(&tap, &m), DNSTAP_OK);
    CHECK_EQ(dnstap_io(&tap, t).deadline_ms, t);
    CHECK_EQ(dnstap_poll(&tap, t), DNSTAP_OK);
    io = dnstap_io(&tap, t + 3);
    CHECK(io.want_read && !io.want_write && io.deadline_ms == t + DNSTAP_FLUSH_MS);
    /* above it: now */
    for (i = 1; dnstap_stats(&tap).queued_bytes < DNSTAP_FLUSH_BYTES; i++) {
        seq_msg(&m, 0, i);
        CHECK_EQ(dnstap_log(&tap, &m), DNSTAP_OK);
    }
    CHECK_EQ(dnstap_io(&tap, t + 3).deadline_ms, t + 3);
    /* the receiver does not take them: writability, by the write timeout */
    fake.stall_after_start = 1;
    CHECK_EQ(dnstap_poll(&tap, t + 3), DNSTAP_OK);
    io = dnstap_io(&tap, t + 4);
    CHECK(io.want_write && io.want_read && io.deadline_ms == tap.last_progress_ms + 4000 && tap.last_progress_ms >= t);
    fake.stall_after_start = 0;
    CHECK_EQ(dnstap_poll(&tap, t + 5), DNSTAP_OK);
    CHECK_EQ(dnstap_stats(&tap).queued, 0);
    /* shutting down: now, until STOP is written; then FINISH, by its timeout */
    seq_msg(&m, 0, i);
    CHECK_EQ(dnstap_log(&tap, &m), DNSTAP_OK);
    CHECK_EQ(dnstap_poll(&tap, t + 6), DNSTAP_OK);
    dnstap_shutdown(&tap, t + 6);
    CHECK_EQ(dnstap_io(&tap, t + 6).deadline_ms, t + 6);
    fake.finish_mode = 1;
    CHECK_EQ(dnstap_poll(&tap, t + 6), DNSTAP_OK);
    CHECK_EQ(dnstap_stats(&tap).queued, 0);
    io = dnstap_io(&tap, t + 7);
    CHECK(io.want_read && !io.want_write && io.deadline_ms == t + 6 + 4000);
    /* closed: nothing */
    sim_now = t + 7;   /* this test's clock, whatever ran before it */
    run_for(&tap, 1000, 10);
    CHECK(dnstap_closed(&tap));
    io = dnstap_io(&tap, sim_now);
    CHECK(io.fd == -1 && !io.want_read && !io.want_write && io.deadline_ms == UINT64_MAX);
    CHECK(invariant_ok(&tap));
    /* a control frame that would block: writability, by that step's timeout */
    fake_reset();
    fake.again_every = 1;
    CHECK_EQ(fake_tap(&tap, 1 << 20, 1), DNSTAP_OK);
    CHECK_EQ(dnstap_poll(&tap, 7000), DNSTAP_OK);
    CHECK_EQ(tap.state, DNSTAP__S_CTL);
    io = dnstap_io(&tap, 7001);
    CHECK(io.want_write && !io.want_read && io.deadline_ms == 7000 + 4000);
    dnstap_close_now(&tap);
}

static void test_handshake_failures_and_backoff(void) {
    dnstap_msg_t m;
    uint64_t prev = 0, start;
    int i;
    /* silence after READY: handshake timeouts, backoff doubling to its cap */
    fake_reset();
    fake.accept_mode = 1;
    CHECK_EQ(fake_tap(&tap, 1 << 16, 1), DNSTAP_OK);
    sim_now = 1000000;
    for (i = 0; i < 8; i++) {
        uint64_t delay;
        run_for(&tap, 1, 0);                       /* connect, READY */
        sim_now += tap.desc.handshake_timeout_ms;  /* then the timeout */
        start = sim_now;
        run_for(&tap, 1, 0);
        CHECK_EQ(tap.state, DNSTAP__S_IDLE);
        delay = tap.next_connect_ms - start;
        {
            uint64_t base = i < 4 ? (uint64_t)100 << i : 1600;
            CHECK(delay >= base - base / 4 && delay <= base + base / 4);
        }
        CHECK(i == 0 || delay >= prev / 2);
        prev = delay;
        seq_msg(&m, 0, (uint32_t)i);
        CHECK_EQ(dnstap_log(&tap, &m), DNSTAP_OK);   /* KEEP: still queued */
        sim_now = tap.next_connect_ms;
    }
    CHECK_EQ(dnstap_stats(&tap).handshake_failures, 8);
    CHECK_EQ(dnstap_stats(&tap).timeouts, 8);
    CHECK_EQ(dnstap_stats(&tap).queued, 8);
    CHECK(invariant_ok(&tap));
    /* the receiver comes right: everything queued is delivered */
    fake.accept_mode = 0;
    run_for(&tap, 100, 10);
    CHECK_EQ(dnstap_stats(&tap).sent, 8);
    finish(&tap);
    CHECK(invariant_ok(&tap));
    CHECK_EQ(fake.nseq, 8);

    /* ACCEPT naming another content type; peer closing instead of ACCEPT */
    for (i = 2; i <= 3; i++) {
        fake_reset();
        fake.accept_mode = i;
        CHECK_EQ(fake_tap(&tap, 1 << 16, 1), DNSTAP_OK);
        run_for(&tap, 50, 100);
        CHECK(dnstap_stats(&tap).handshake_failures >= 2);
        CHECK_EQ(tap.last_error, i == 2 ? DNSTAP_ERR_HANDSHAKE : DNSTAP_ERR_CLOSED);
        CHECK(!fake.saw_start);
        finish(&tap);
        CHECK(dnstap_closed(&tap));
    }
}

static void test_timeouts(void) {
    dnstap_msg_t m;
    int i;
    /* connect never completes */
    fake_reset();
    fake.connect_mode = 1;
    CHECK_EQ(fake_tap(&tap, 1 << 16, 1), DNSTAP_OK);
    run_for(&tap, 200, 100);
    CHECK(dnstap_stats(&tap).timeouts >= 2);
    CHECK_EQ(dnstap_stats(&tap).connects, 0);
    finish(&tap);
    CHECK(dnstap_closed(&tap));
    /* the receiver stalls after START: write timeout, reconnect, resend */
    fake_reset();
    fake.stall_after_start = 1;
    CHECK_EQ(fake_tap(&tap, 1 << 16, 1), DNSTAP_OK);
    for (i = 0; i < 10; i++) { seq_msg(&m, 0, (uint32_t)i); dnstap_log(&tap, &m); }
    run_for(&tap, 100, 100);
    CHECK(dnstap_stats(&tap).timeouts >= 1);
    CHECK(dnstap_stats(&tap).reconnects >= 1);
    CHECK_EQ(dnstap_stats(&tap).sent, 0);
    CHECK_EQ(fake.violations, 0);
    fake.stall_after_start = 0;
    run_for(&tap, 100, 100);
    CHECK_EQ(dnstap_stats(&tap).sent, 10);
    /* FINISH never comes: shutdown still ends, one timeout more */
    fake.finish_mode = 1;
    i = (int)dnstap_stats(&tap).timeouts;
    finish(&tap);
    CHECK(dnstap_closed(&tap));
    CHECK_EQ(dnstap_stats(&tap).timeouts, i + 1);
    CHECK(invariant_ok(&tap));
    CHECK_EQ(fake.nseq, 10);
}

/* A shutdown while backing off makes one last attempt at once, not after
   the backoff: a receiver back by then gets what is queued. */
static void test_shutdown_while_backing_off(void) {
    dnstap_msg_t m;
    fake_reset();
    fake.connect_mode = 2;   /* refused: backing off */
    CHECK_EQ(fake_tap(&tap, 1 << 16, 1), DNSTAP_OK);   /* backoff from 100 ms (+-25 %) */
    sim_now = 1000000;
    run_for(&tap, 3, 1);
    CHECK_EQ(dnstap_stats(&tap).connects, 0);
    seq_msg(&m, 0, 1);
    CHECK_EQ(dnstap_log(&tap, &m), DNSTAP_OK);
    fake.connect_mode = 0;   /* back, while the tap waits its 75 ms or more */
    dnstap_shutdown(&tap, sim_now);
    run_for(&tap, 20, 1);   /* 20 ms */
    CHECK(dnstap_closed(&tap));
    CHECK_EQ(dnstap_stats(&tap).sent, 1);
    CHECK_EQ(fake.nseq, 1);
    CHECK(invariant_ok(&tap));
}

/* DROP policy: while disconnected, messages are refused and counted; the
   frame cut by a failure is counted as a write error. */
static void test_drop_policy(void) {
    dnstap_msg_t m;
    size_t i;
    fake_reset();
    fake.connect_mode = 2;
    CHECK_EQ(fake_tap(&tap, 1 << 16, 1), DNSTAP_OK);
    tap.desc.while_disconnected = DNSTAP_DROP_WHILE_DISCONNECTED;
    seq_msg(&m, 0, 1);
    CHECK_EQ(dnstap_log(&tap, &m), DNSTAP_ERR_DISCONNECTED);
    run_for(&tap, 20, 100);
    CHECK_EQ(dnstap_log(&tap, &m), DNSTAP_ERR_DISCONNECTED);
    CHECK_EQ(dnstap_stats(&tap).dropped_disconnected, 2);
    fake.connect_mode = 0;
    fake.fail_at = 3000;
    fake.fail_once = 1;
    fake.max_per_write = 50;
    run_for(&tap, 20, 100);
    CHECK_EQ(tap.state, DNSTAP__S_RUNNING);
    for (i = 0; i < 100; i++) { seq_msg(&m, 0, (uint32_t)i); (void)dnstap_log(&tap, &m); }
    run_for(&tap, 100, 100);
    CHECK_EQ(dnstap_stats(&tap).dropped_write_error, 1);
    CHECK(dnstap_stats(&tap).dropped_disconnected > 2);
    finish(&tap);
    CHECK(invariant_ok(&tap));
    CHECK_EQ(dnstap_stats(&tap).sent, fake.nseq);
    CHECK_EQ(fake.stream_errors, 0);
}

/* The clock jumps backwards and far forwards: nothing breaks. */
static void test_clock_jumps(void) {
    size_t i, na = 0;
    fake_reset();
    fake.again_every = 3;
    CHECK_EQ(fake_tap(&tap, 1 << 16, 1), DNSTAP_OK);
    sim_now = 5000000;
    for (i = 0; i < 500; i++) {
        dnstap_msg_t m;
        seq_msg(&m, 0, (uint32_t)i);
        if (dnstap_log(&tap, &m) == DNSTAP_OK) accepted[na++] = (uint32_t)i;
        sim_now = i % 7 == 0 ? sim_now - 3000 : i % 11 == 0 ? sim_now + 100000 : sim_now + 1;
        (void)dnstap_poll(&tap, sim_now);
    }
    run_for(&tap, 2000, 10);
    finish(&tap);
    CHECK(invariant_ok(&tap));
    CHECK(arrived_exactly(accepted, na));
}

static void test_unidirectional(void) {
    fake_reset();
    CHECK_EQ(fake_tap(&tap, 1 << 16, 1), DNSTAP_OK);
    tap.desc.unidirectional = true;
    scenario(100, 10, "unidirectional");
    CHECK(!fake.saw_ready);
    CHECK(fake.saw_stop);
}

/* One event, three taps: two `full` ones with the same identity (encoded
   once, copied), one without wire messages. */
static fake_t fakes[3];
static dnstap_t taps3[3];
static uint8_t qmem3[3][1 << 16];
static size_t extra_fn(void *ctx, const dnstap_msg_t *msg, uint8_t *buf, size_t cap) {
    (void)ctx;
    if (cap < 8) return (size_t)-1;
    memcpy(buf, "port=", 5);
    buf[5] = (uint8_t)('0' + msg->query_port % 10);
    return 6;
}

/* Three taps on fakes[]: two `full` with the same encoding, one not. */
static void three_taps(dnstap_t **list) {
    unsigned k;
    for (k = 0; k < 3; k++) {
        dnstap_desc_t d;
        memset(&fakes[k], 0, sizeof fakes[k]);
        fakes[k].fail_at = -1;
        memset(&d, 0, sizeof d);
        d.queue = qmem3[k];
        d.queue_size = sizeof qmem3[k];
        d.full = k != 2;
        d.identity = dnstap_str("same");
        d.transport.connect = fake_connect;
        d.transport.write = fake_write;
        d.transport.read = fake_read;
        d.transport.close = fake_close;
        d.transport.ctx = &fakes[k];
        CHECK_EQ(dnstap_init(&taps3[k], &d), DNSTAP_OK);
        list[k] = &taps3[k];
    }
}

static void test_many_taps(void) {
    dnstap_t *list[3];
    unsigned i, k;
    three_taps(list);
    for (i = 0; i < 200; i++) {
        dnstap_msg_t m;
        seq_msg(&m, i % 4, i);
        CHECK_EQ(dnstap_log_all(list, 3, 0, &m), DNSTAP_OK);
    }
    /* the copies are the same bytes */
    CHECK(taps3[0].q[0].head == taps3[1].q[0].head &&
          memcmp(qmem3[0], qmem3[1], taps3[0].q[0].head) == 0);
    CHECK(taps3[2].q[0].head < taps3[0].q[0].head - 200 * sizeof wire + 1);
    for (k = 0; k < 3; k++) {
        unsigned polls;
        for (polls = 0; polls < 1000 && dnstap_stats(&taps3[k]).queued; polls++) (void)dnstap_poll(&taps3[k], polls);
        dnstap_shutdown(&taps3[k], 5000);
        for (polls = 0; polls < 1000 && !dnstap_closed(&taps3[k]); polls++) (void)dnstap_poll(&taps3[k], 5000 + polls);
        CHECK_EQ(fakes[k].nseq, 200);
        CHECK(invariant_ok(&taps3[k]));
    }
    /* per-message extra from a callback */
    {
        dnstap_desc_t d;
        dnstap_frame_t fr;
        dnstap_msg_t m, dm;
        dnstap_reader_t r;
        static uint8_t rb[1024];
        size_t used = 0;
        uint32_t start;
        memset(&d, 0, sizeof d);
        d.queue = qmem3[0];
        d.queue_size = sizeof qmem3[0];
        d.extra_fn = extra_fn;
        d.transport = taps3[0].desc.transport;
        CHECK_EQ(dnstap_init(&taps3[0], &d), DNSTAP_OK);
        seq_msg(&m, 7, 1);
        CHECK_EQ(dnstap_log(&taps3[0], &m), DNSTAP_OK);
        CHECK(dnstap__q_run(&taps3[0].q[0], &start) > 0);
        dnstap_reader_init(&r, rb, sizeof rb);
        r.payload_max = 1024;
        CHECK_EQ(dnstap_decode(qmem3[0] + start + 4, dnstap__get_be32(qmem3[0] + start), &dm), DNSTAP_OK);
        CHECK(dm.extra.len == 6 && memcmp(dm.extra.data, "port=7", 6) == 0);
        CHECK(dm.query_message.data == NULL);     /* not `full` */
        (void)fr; (void)used;
    }
}

/* extra_fn writes straight into the queue's memory, into the
   DNSTAP_EXTRA_MAX bytes set aside after each queue's ring, never into a
   buffer on dnstap_log()'s stack (the Cortex-M4 stack goal of 256 bytes,
   tests/stack.sh). The frame queued is the one dnstap_encode_frame() makes
   of the message with that extra (or the fixed one when the callback
   gives none) and, when the tap is not `full`, without wire messages. */
static uint8_t *extra_seen_buf;
static size_t extra_seen_cap;
static size_t extra_len_wanted;
static void extra_pattern(uint8_t *buf, size_t n, uint32_t port) {
    size_t i;
    for (i = 0; i < n; i++) buf[i] = (uint8_t)('a' + (i + port) % 26u);
}
static size_t extra_in_queue_fn(void *ctx, const dnstap_msg_t *msg, uint8_t *buf, size_t cap) {
    (void)ctx;
    extra_seen_buf = buf;
    extra_seen_cap = cap;
    memset(buf, 0xEE, cap);   /* all of cap is the callback's to write */
    if (extra_len_wanted <= cap) extra_pattern(buf, extra_len_wanted, msg->query_port);
    return extra_len_wanted;
}

static void test_extra_in_queue(void) {
    static const size_t lens[3] = { 3, 200, (size_t)-1 };
    const size_t share = 2048;
    unsigned f, k, qi;
    for (f = 0; f < 2; f++) {
        for (k = 0; k < 3; k++) {
            dnstap_desc_t d;
            dnstap_t t;
            fake_reset();
            memset(&d, 0, sizeof d);
            d.queue = queue_mem;
            d.queue_size = 2 * share;
            d.queues = 2;
            d.full = f == 1;
            d.extra = dnstap_str("fixed");
            d.extra_fn = extra_in_queue_fn;
            d.transport.connect = fake_connect;
            d.transport.write = fake_write;
            d.transport.read = fake_read;
            d.transport.close = fake_close;
            d.transport.ctx = &fake;
            CHECK_EQ(dnstap_init(&t, &d), DNSTAP_OK);
            extra_len_wanted = lens[k];
            for (qi = 0; qi < 2; qi++) {
                dnstap_queue_t *q = &t.q[qi];
                dnstap_msg_t m, want;
                uint8_t expect_extra[DNSTAP_EXTRA_MAX], frame[1024];
                size_t n = 0;
                CHECK(q->buf == queue_mem + share * qi && q->cap == share - DNSTAP_EXTRA_MAX);
                seq_msg(&m, 7 + qi, 1);
                extra_seen_buf = NULL;
                CHECK_EQ(dnstap_log_queue(&t, qi, &m), DNSTAP_OK);
                CHECK(extra_seen_buf == q->buf + q->cap && extra_seen_cap == DNSTAP_EXTRA_MAX);
                want = m;
                if (!d.full) want.query_message.data = NULL;
                if (lens[k] <= DNSTAP_EXTRA_MAX) {
                    extra_pattern(expect_extra, lens[k], m.query_port);
                    want.extra.data = expect_extra;
                    want.extra.len = lens[k];
                }
                CHECK_EQ(dnstap_encode_frame(&t.enc, &want, frame, sizeof frame, &n), DNSTAP_OK);
                CHECK(q->head == n && memcmp(q->buf, frame, n) == 0);
                /* an extra given in the message is its own: the callback is not asked */
                m.extra = dnstap_str("given");
                want = m;
                if (!d.full) want.query_message.data = NULL;
                extra_seen_buf = NULL;
                CHECK_EQ(dnstap_log_queue(&t, qi, &m), DNSTAP_OK);
                CHECK(extra_seen_buf == NULL);
                CHECK_EQ(dnstap_encode_frame(&t.enc, &want, frame, sizeof frame, &n), DNSTAP_OK);
                CHECK(memcmp(q->buf + DNSTAP__OFF(q->head) - n, frame, n) == 0);   /* the frame after the first */
            }
            /* fill queue 0: the ring ends where the callback's bytes begin */
            {
                dnstap_msg_t m;
                seq_msg(&m, 7, 2);
                while (dnstap_log(&t, &m) == DNSTAP_OK) {}
            }
            CHECK(DNSTAP__OFF(t.q[0].head) <= t.q[0].cap);
            CHECK(dnstap_stats(&t).dropped_full == 1 && invariant_ok(&t));
        }
    }
    /* a queue's share must hold the callback's bytes and 128 more */
    {
        dnstap_desc_t d;
        dnstap_t t;
        memset(&d, 0, sizeof d);
        d.queue = queue_mem;
        d.queues = 2;
        d.extra_fn = extra_in_queue_fn;
        d.transport.connect = fake_connect;
        d.transport.write = fake_write;
        d.transport.ctx = &fake;
        d.queue_size = 2 * (128 + DNSTAP_EXTRA_MAX) - 1;
        CHECK_EQ(dnstap_init(&t, &d), DNSTAP_ERR_INVALID);
        d.queue_size = 2 * (128 + DNSTAP_EXTRA_MAX);
        CHECK_EQ(dnstap_init(&t, &d), DNSTAP_OK);
        CHECK(t.q[0].cap == 128 && t.q[1].buf == queue_mem + 128 + DNSTAP_EXTRA_MAX);
    }
}

/* Issue 10, items 1 and 4, on the tap: dnstap_log() and dnstap_log_all()
   refuse lengths that do not fit (TOO_LONG, counted in dropped_too_big;
   the data is never read: hostile.h) and what readers reject (INVALID,
   counted in dropped_invalid). Nothing is queued, the invariant holds. */
static void test_hostile_messages(void) {
    static const uint8_t v6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
    static const uint8_t five[5] = { 192, 0, 2, 1, 9 };
    dnstap_t *list[3];
    dnstap_msg_t m;
    unsigned f, i, k, n;
    uint64_t too_big = 0, invalid = 0, stripped = 0;
    int ok = 1;
    fake_reset();
    CHECK_EQ(fake_tap(&tap, 1 << 16, 1), DNSTAP_OK);
    three_taps(list);
    /* field f < HOSTILE_FIELDS: one hostile length; then the combinations */
    n = HOSTILE_FIELDS * HOSTILE_LENS + HOSTILE_COMBOS;
    for (k = 0; k < n && ok; k++) {
        dnstap_result_t r, ra, want2 = DNSTAP_ERR_TOO_LONG;
        seq_msg(&m, 0, k);
        if (k < HOSTILE_FIELDS * HOSTILE_LENS) {
            size_t len = hostile_len(k % HOSTILE_LENS);
            f = k / HOSTILE_LENS;
            if (len == 0) continue;
            hostile_set(&m, f, len);
            if (f <= 1) want2 = DNSTAP_OK;   /* the tap that is not `full` leaves the DNS messages out */
        } else {
            i = k - HOSTILE_FIELDS * HOSTILE_LENS;
            hostile_combo(&m, i);
            if (HOSTILE_COMBO_DNS_ONLY(i)) want2 = DNSTAP_OK;
        }
        r = dnstap_log(&tap, &m);
        ra = dnstap_log_all(list, 3, 0, &m);
        too_big++;
        if (want2 == DNSTAP_OK) stripped++;
        if (r != DNSTAP_ERR_TOO_LONG || ra != DNSTAP_ERR_TOO_LONG ||
            dnstap_stats(&taps3[2]).dropped_too_big != too_big - stripped) {
            printf("  case %u: dnstap_log %d, dnstap_log_all %d\n", k, r, ra);
            ok = 0;
        }
    }
    CHECK(ok);
    /* what readers reject */
    for (k = 0; k < 6 && ok; k++) {
        dnstap_result_t r, ra;
        seq_msg(&m, 0, k);
        switch (k) {
        case 0: m.query_address.data = five; m.query_address.len = 5; break;
        case 1: m.query_address.data = v6; m.query_address.len = 16; break;   /* INET */
        case 2: m.socket_family = DNSTAP_INET6; break;                        /* 4 bytes */
        case 3: m.query_time_nsec = 1000000000u; break;
        case 4: m.query_port = 65536; break;
        default: m.response_port = 0xFFFFFFFFu; m.has |= DNSTAP_HAS_RESPONSE_PORT; break;
        }
        r = dnstap_log(&tap, &m);
        ra = dnstap_log_all(list, 3, 0, &m);
        invalid++;
        if (r != DNSTAP_ERR_INVALID || ra != DNSTAP_ERR_INVALID) {
            printf("  reader rule %u: dnstap_log %d, dnstap_log_all %d\n", k, r, ra);
            ok = 0;
        }
    }
    CHECK(ok);
    CHECK(too_big > HOSTILE_FIELDS * HOSTILE_NEAR_MAX);
    CHECK_EQ(dnstap_stats(&tap).dropped_too_big, too_big);
    CHECK_EQ(dnstap_stats(&tap).dropped_invalid, invalid);
    CHECK_EQ(dnstap_stats(&tap).queued, 0);
    CHECK(invariant_ok(&tap));
    for (k = 0; k < 3; k++) {
        dnstap_stats_t s = dnstap_stats(&taps3[k]);
        CHECK_EQ(s.dropped_too_big, k == 2 ? too_big - stripped : too_big);
        CHECK_EQ(s.dropped_invalid, invalid);
        CHECK_EQ(s.dropped_full, 0);
        CHECK_EQ(s.queued, k == 2 ? stripped : 0);
        CHECK(invariant_ok(&taps3[k]));
    }
}

/* Producer threads, one queue each, drained by this thread. */
#define THREADS 4
#define PER_THREAD 20000
typedef struct producer_t { unsigned id; size_t ok; } producer_t;
static volatile int producers_done;

static void *producer_main(void *arg) {
    producer_t *p = (producer_t *)arg;
    uint32_t i;
    for (i = 0; i < PER_THREAD; i++) {
        dnstap_msg_t m;
        seq_msg(&m, p->id, i);
        if (dnstap_log_queue(&tap, p->id, &m) == DNSTAP_OK) p->ok++;
        if (i % 64 == 0) sched_yield();   /* let the writer interleave, so rings wrap under load */
    }
    __atomic_add_fetch(&producers_done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void test_threads(void) {
    pthread_t th[THREADS];
    producer_t pr[THREADS];
    uint32_t next[THREADS];
    unsigned i;
    size_t k, total_ok = 0;
    fake_reset();
    CHECK_EQ(fake_tap(&tap, THREADS * 16384, THREADS), DNSTAP_OK);
    producers_done = 0;
    for (i = 0; i < THREADS; i++) {
        pr[i].id = i;
        pr[i].ok = 0;
        pthread_create(&th[i], NULL, producer_main, &pr[i]);
    }
    while (__atomic_load_n(&producers_done, __ATOMIC_ACQUIRE) < THREADS) run_for(&tap, 1, 1);
    for (i = 0; i < THREADS; i++) { pthread_join(th[i], NULL); total_ok += pr[i].ok; }
    run_for(&tap, 100000, 1);
    finish(&tap);
    CHECK(invariant_ok(&tap));
    CHECK_EQ(dnstap_stats(&tap).logged, THREADS * PER_THREAD);
    CHECK_EQ(fake.nseq, total_ok);
    CHECK_EQ(fake.stream_errors, 0);
    /* each producer's frames arrive in its order */
    memset(next, 0, sizeof next);
    for (k = 0; k < fake.nseq; k++) {
        unsigned p = fake.producer[k];
        if (p >= THREADS || fake.seqs[k] < next[p]) { CHECK(0); break; }
        next[p] = fake.seqs[k] + 1;
    }
    printf("  %u threads: %zu of %u accepted, %llu dropped (queue full)\n", THREADS, total_ok,
           THREADS * PER_THREAD, (unsigned long long)dnstap_stats(&tap).dropped_full);
}

/* dnstap_log_all() from two producer threads, each on its own queue (the
   documented rule), to two taps with one encoding: each tap gets every
   message once. The frame one tap made, for the next to copy, was kept
   in the tap, shared by the producers: a thread copied the other's. */
#define LOG_ALL_PER_THREAD 100000
typedef struct mem_sink_t { uint8_t *buf; size_t len; } mem_sink_t;
static dnstap_result_t mem_connect(void *c) { (void)c; return DNSTAP_OK; }
static int mem_write(void *c, const uint8_t *b, size_t n) {
    mem_sink_t *m = (mem_sink_t *)c;
    memcpy(m->buf + m->len, b, n);
    m->len += n;
    return (int)n;
}
static void mem_close(void *c) { (void)c; }
static dnstap_t log_all_taps[2];
static int log_all_ready;   /* both threads start together */
static uint32_t log_all_refused;

static void *log_all_producer(void *arg) {
    unsigned t = (unsigned)(uintptr_t)arg;
    dnstap_t *taps[2];
    uint32_t i, refused = 0;
    taps[0] = &log_all_taps[0];
    taps[1] = &log_all_taps[1];
    __atomic_add_fetch(&log_all_ready, 1, __ATOMIC_ACQ_REL);
    while (__atomic_load_n(&log_all_ready, __ATOMIC_ACQUIRE) < 2) sched_yield();
    for (i = 0; i < LOG_ALL_PER_THREAD; i++) {
        dnstap_msg_t m;
        seq_msg(&m, t, i);
        if (dnstap_log_all(taps, 2, t, &m) != DNSTAP_OK) refused++;
    }
    __atomic_add_fetch(&log_all_refused, refused, __ATOMIC_RELAXED);
    __atomic_add_fetch(&log_all_ready, 1, __ATOMIC_RELEASE);   /* 4: both done */
    return NULL;
}

static void test_log_all_threads(void) {
    static mem_sink_t sink[2];
    static uint8_t seen[2][LOG_ALL_PER_THREAD];
    const size_t half = sizeof queue_mem / 2;
    pthread_t th[2];
    unsigned k, t;
    for (k = 0; k < 2; k++) {
        dnstap_desc_t d;
        memset(&d, 0, sizeof d);
        d.queues = 2;
        d.unidirectional = true;
        d.queue = queue_mem + half * k;
        d.queue_size = half;
        sink[k].len = 0;
        sink[k].buf = (uint8_t *)malloc((size_t)2 * LOG_ALL_PER_THREAD * 128 + 64);   /* freed below: the
                                                 fork tests' children check for leaks under valgrind */
        CHECK(sink[k].buf != NULL);
        d.transport.connect = mem_connect;
        d.transport.write = mem_write;
        d.transport.close = mem_close;
        d.transport.ctx = &sink[k];
        CHECK_EQ(dnstap_init(&log_all_taps[k], &d), DNSTAP_OK);
    }
    log_all_ready = 0;
    log_all_refused = 0;
    for (t = 0; t < 2; t++) pthread_create(&th[t], NULL, log_all_producer, (void *)(uintptr_t)t);
    while (__atomic_load_n(&log_all_ready, __ATOMIC_ACQUIRE) < 4)   /* the polling thread, for both taps */
        for (k = 0; k < 2; k++) (void)dnstap_poll(&log_all_taps[k], 1);
    for (t = 0; t < 2; t++) pthread_join(th[t], NULL);
    for (k = 0; k < 2; k++) {
        size_t off = 0, once = 0, twice = 0;
        dnstap_shutdown(&log_all_taps[k], 0);
        while (!dnstap_closed(&log_all_taps[k])) (void)dnstap_poll(&log_all_taps[k], 1);
        CHECK(invariant_ok(&log_all_taps[k]));
        memset(seen, 0, sizeof seen);
        while (off + 8 <= sink[k].len) {   /* START, data frames, STOP */
            uint32_t n = dnstap__get_be32(sink[k].buf + off);
            dnstap_msg_t m;
            if (n == 0) { off += 8 + dnstap__get_be32(sink[k].buf + off + 4); continue; }
            if (dnstap_decode(sink[k].buf + off + 4, n, &m) == DNSTAP_OK && m.query_port < 2 &&
                m.query_time_nsec < LOG_ALL_PER_THREAD) {
                if (seen[m.query_port][m.query_time_nsec]++ == 0) once++;
                else twice++;
            }
            off += 4 + n;
        }
        if (twice || once != dnstap_stats(&log_all_taps[k]).sent)
            printf("  tap %u: %zu messages once, %zu again, %llu sent\n", k, once, twice,
                   (unsigned long long)dnstap_stats(&log_all_taps[k]).sent);
        CHECK_EQ(twice, 0);
        CHECK_EQ(once, dnstap_stats(&log_all_taps[k]).sent);
    }
    printf("  2 threads x %u messages to 2 taps: %u refused (queue full)\n", LOG_ALL_PER_THREAD, log_all_refused);
    for (k = 0; k < 2; k++) free(sink[k].buf);
}

/* Producer threads on small queues, against the polling thread: each
   waits until its queue is empty and logs a frame as large as the whole
   queue, which must be taken, then frames of random sizes up to it (those
   may be refused as full). Under ThreadSanitizer this checks that the
   producer and the consumer move only their own indices. */
#define BIG_ROUNDS 1500
typedef struct big_producer_t { unsigned id; size_t ok, refused_empty; uint32_t seq; } big_producer_t;

static void *big_producer_main(void *arg) {
    big_producer_t *p = (big_producer_t *)arg;
    dnstap_queue_t *q = &tap.q[p->id];
    uint32_t rng = 12345u + p->id, i;
    unsigned k;
    for (i = 0; i < BIG_ROUNDS; i++) {
        dnstap_msg_t m;
        while (__atomic_load_n(&q->tail, __ATOMIC_ACQUIRE) != q->head) sched_yield();   /* empty */
        if (!sized_msg(&m, &tap.enc, p->id, p->seq, q->cap)) { p->refused_empty++; break; }
        if (dnstap_log_queue(&tap, p->id, &m) == DNSTAP_OK) p->ok++;
        else p->refused_empty++;
        p->seq++;
        for (k = 0; k < 3; k++) {
            rng = rng * 1103515245u + 12345u;
            if (!sized_msg(&m, &tap.enc, p->id, p->seq, 100 + (rng >> 8) % (q->cap - 100))) continue;
            if (dnstap_log_queue(&tap, p->id, &m) == DNSTAP_OK) p->ok++;
            p->seq++;
        }
    }
    __atomic_add_fetch(&producers_done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void test_threads_large_frames(void) {
    pthread_t th[3];
    big_producer_t pr[3];
    uint32_t next[3];
    unsigned i;
    size_t k, total_ok = 0;
    fake_reset();
    CHECK_EQ(fake_tap(&tap, 3 * 1000, 3), DNSTAP_OK);
    run_for(&tap, 10, 10);
    producers_done = 0;
    for (i = 0; i < 3; i++) {
        memset(&pr[i], 0, sizeof pr[i]);
        pr[i].id = i;
        pthread_create(&th[i], NULL, big_producer_main, &pr[i]);
    }
    while (__atomic_load_n(&producers_done, __ATOMIC_ACQUIRE) < 3) run_for(&tap, 1, 1);
    for (i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        total_ok += pr[i].ok;
        CHECK_EQ(pr[i].refused_empty, 0);
        CHECK(pr[i].ok >= BIG_ROUNDS);
    }
    CHECK(drain(&tap));
    finish(&tap);
    CHECK(invariant_ok(&tap));
    CHECK_EQ(fake.nseq, total_ok);
    CHECK_EQ(fake.stream_errors, 0);
    memset(next, 0, sizeof next);
    for (k = 0; k < fake.nseq; k++) {
        unsigned p = fake.producer[k];
        if (p >= 3 || fake.seqs[k] < next[p]) { CHECK(0); break; }
        next[p] = fake.seqs[k] + 1;
    }
}

/* ---- a real unix-socket receiver served from this process ------------- */
typedef struct receiver_t {
    int lfd, fd;
    int silent;                 /* accept the connection, never send ACCEPT */
    dnstap_reader_t reader;
    uint8_t rbuf[4096];
    size_t frames, finished, errors, ends;
} receiver_t;

static receiver_t rx;
static char sock_path[108];

static int receiver_listen(void) {
    struct sockaddr_un un;
    memset(&un, 0, sizeof un);
    un.sun_family = AF_UNIX;
    snprintf(sock_path, sizeof sock_path, "/tmp/dnstap-test-%d.sock", (int)getpid());
    memcpy(un.sun_path, sock_path, strlen(sock_path) + 1);
    unlink(sock_path);
    rx.lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    rx.fd = -1;
    if (rx.lfd < 0 || bind(rx.lfd, (struct sockaddr *)&un, sizeof un) != 0 || listen(rx.lfd, 4) != 0) return -1;
    fcntl(rx.lfd, F_SETFL, O_NONBLOCK);
    return 0;
}

/* The tap may have given up on this receiver (a handshake timeout on a busy
   machine) before it answers; its reply must then fail with EPIPE, not kill
   the test with SIGPIPE. */
#ifdef MSG_NOSIGNAL
#define TEST_NOSIGNAL MSG_NOSIGNAL
#else
#define TEST_NOSIGNAL 0
#endif

/* Serve the receiver side a little: accept, read up to max (<= 4096) bytes
   once, answer. Returns the bytes read. */
static size_t receiver_read(size_t max) {
    uint8_t in[4096];
    ssize_t n;
    size_t pos = 0;
    if (rx.fd < 0) {
        rx.fd = accept(rx.lfd, NULL, NULL);
        if (rx.fd < 0) return 0;
        fcntl(rx.fd, F_SETFL, O_NONBLOCK);
        dnstap_reader_init(&rx.reader, rx.rbuf, sizeof rx.rbuf);
    }
    n = recv(rx.fd, in, max < sizeof in ? max : sizeof in, 0);
    if (n == 0) { close(rx.fd); rx.fd = -1; __atomic_add_fetch(&rx.ends, 1, __ATOMIC_RELEASE); return 0; }
    while (n > 0 && pos < (size_t)n) {
        dnstap_frame_t fr;
        size_t used = 0;
        dnstap_result_t r = dnstap_reader_feed(&rx.reader, in + pos, (size_t)n - pos, &used, &fr);
        pos += used;
        if (r != DNSTAP_OK) { if (r != DNSTAP_ERR_AGAIN) rx.errors++; break; }
        if (fr.kind == DNSTAP_FRAME_DATA) { rx.frames++; continue; }
        if (fr.control == DNSTAP_CONTROL_READY && !rx.silent) {
            uint8_t out[64];
            size_t len;
            static const char *const ct[1] = { DNSTAP_CONTENT_TYPE };
            dnstap_control_frame(out, sizeof out, DNSTAP_CONTROL_ACCEPT, ct, 1, &len);
            (void)send(rx.fd, out, len, TEST_NOSIGNAL);
        }
        if (fr.control == DNSTAP_CONTROL_STOP) {
            uint8_t out[16];
            size_t len;
            dnstap_control_frame(out, sizeof out, DNSTAP_CONTROL_FINISH, NULL, 0, &len);
            (void)send(rx.fd, out, len, TEST_NOSIGNAL);
            rx.finished++;
        }
    }
    return n > 0 ? (size_t)n : 0;
}

static void receiver_step(void) { (void)receiver_read(4096); }

static void real_tap(dnstap_t *t, const char *endpoint) {
    dnstap_desc_t d;
    memset(&d, 0, sizeof d);
    d.endpoint = endpoint;
    d.queue = queue_mem;
    d.queue_size = 1 << 20;
    d.full = true;
    d.handshake_timeout_ms = 300;
    d.backoff_min_ms = 50;
    d.backoff_max_ms = 200;
    CHECK_EQ(dnstap_init(t, &d), DNSTAP_OK);
}

/* Zero allocations in dnstap_log() and dnstap_poll() over a real socket. */
static void test_real_socket_no_allocations(void) {
    char ep[128];
    size_t i;
    uint64_t end;
    memset(&rx, 0, sizeof rx);
    CHECK_EQ(receiver_listen(), 0);
    snprintf(ep, sizeof ep, "unix://%s", sock_path);
    real_tap(&tap, ep);
    /* connect and hand-shake first: setup, not the tap path */
    for (end = dnstap_clock_ms() + 2000; dnstap_clock_ms() < end && tap.state != DNSTAP__S_RUNNING;) {
        (void)dnstap_poll(&tap, dnstap_clock_ms());
        receiver_step();
    }
    CHECK_EQ(tap.state, DNSTAP__S_RUNNING);
    allocs_seen = 0;
    allocs_counting = 1;
    for (i = 0; i < 20000; i++) {
        dnstap_msg_t m;
        seq_msg(&m, 0, (uint32_t)i);
        (void)dnstap_log(&tap, &m);
        if (i % 16 == 0) { (void)dnstap_poll(&tap, dnstap_clock_ms()); receiver_step(); }
    }
    for (end = dnstap_clock_ms() + 3000; dnstap_clock_ms() < end && dnstap_stats(&tap).queued;) {
        (void)dnstap_poll(&tap, dnstap_clock_ms());
        receiver_step();
    }
    allocs_counting = 0;
#ifdef COUNT_ALLOCS
    CHECK_EQ(allocs_seen, 0);
    printf("  20000 messages logged and sent over %s: %ld allocations\n", ep, allocs_seen);
#endif
    dnstap_shutdown(&tap, dnstap_clock_ms());
    for (end = dnstap_clock_ms() + 3000; dnstap_clock_ms() < end && !dnstap_closed(&tap);) {
        (void)dnstap_poll(&tap, dnstap_clock_ms());
        receiver_step();
    }
    for (i = 0; i < 50; i++) receiver_step();
    CHECK(dnstap_closed(&tap));
    CHECK_EQ(rx.finished, 1);
    CHECK_EQ(rx.frames, 20000);
    CHECK_EQ(dnstap_stats(&tap).sent, 20000);
    CHECK(invariant_ok(&tap));
    if (rx.fd >= 0) close(rx.fd);
    close(rx.lfd);
    unlink(sock_path);
}

/* A receiver that takes the connection and says nothing: handshake
   timeouts, retries, and dnstap_log() keeps returning at once. */
static void test_real_socket_silent_receiver(void) {
    char ep[128];
    size_t i;
    uint64_t end;
    int held[64], nheld = 0;
    memset(&rx, 0, sizeof rx);
    rx.silent = 1;
    CHECK_EQ(receiver_listen(), 0);
    snprintf(ep, sizeof ep, "unix://%s", sock_path);
    real_tap(&tap, ep);
    for (i = 0, end = dnstap_clock_ms() + 1500; dnstap_clock_ms() < end; i++) {
        dnstap_msg_t m;
        seq_msg(&m, 0, (uint32_t)i);
        (void)dnstap_log(&tap, &m);
        (void)dnstap_poll(&tap, dnstap_clock_ms());
        rx.fd = accept(rx.lfd, NULL, NULL);     /* keep every connection open, never answer */
        if (rx.fd >= 0 && nheld < 64) held[nheld++] = rx.fd;
        else if (rx.fd >= 0) close(rx.fd);
        rx.fd = -1;
        (void)poll(NULL, 0, 1);
    }
    CHECK(dnstap_stats(&tap).handshake_failures >= 2);
    CHECK(dnstap_stats(&tap).timeouts >= 2);
    CHECK_EQ(dnstap_stats(&tap).sent, 0);
    dnstap_shutdown(&tap, dnstap_clock_ms());
    CHECK_EQ(dnstap_run(&tap, 3000), DNSTAP_OK);
    CHECK(invariant_ok(&tap));
    CHECK_EQ(dnstap_stats(&tap).dropped_disconnected, dnstap_stats(&tap).logged);
    while (nheld) close(held[--nheld]);
    close(rx.lfd);
    unlink(sock_path);
}

/* A slow receiver: 8 KB every 50 ms (160 KB/s), never stalled long enough
   for the write timeout; at full speed once slow_fast is set. */
static volatile int slow_quit, slow_fast;
static void *slow_receiver_main(void *arg) {
    (void)arg;
    while (!__atomic_load_n(&slow_quit, __ATOMIC_ACQUIRE)) {
        size_t got = 0, n;
        int fast = __atomic_load_n(&slow_fast, __ATOMIC_ACQUIRE);
        while ((fast || got < 8192) && (n = receiver_read(fast ? 4096 : 8192 - got)) > 0) got += n;
        (void)poll(NULL, 0, fast ? 1 : 50);
    }
    return NULL;
}

/* 1 MB queued for a receiver that needs ~6 s for it; the shutdown limit is
   500 ms. dnstap_run() (or, threaded, dnstap_thread_stop()) returns with
   the tap closed within the limit (plus a generous margin for a loaded
   machine), the rest dropped and counted; the receiver got exactly what
   was counted as sent. how: 0 dnstap_run(), 1 dnstap_thread_stop(),
   2 dnstap_close_now() on the writer thread (at once: no timeout). */
static void slow_receiver_shutdown(int how) {
    int threaded = how != 0;
    char ep[128];
    pthread_t rth;
    size_t i;
    uint64_t t0, elapsed, end;
    dnstap_result_t r = DNSTAP_OK;
    dnstap_stats_t s;
    memset(&rx, 0, sizeof rx);
    CHECK_EQ(receiver_listen(), 0);
    snprintf(ep, sizeof ep, "unix://%s", sock_path);
    real_tap(&tap, ep);
    tap.desc.shutdown_timeout_ms = 500;
    slow_quit = slow_fast = 0;
    pthread_create(&rth, NULL, slow_receiver_main, NULL);
    if (threaded) {
        CHECK_EQ(dnstap_thread_start(&tap), DNSTAP_OK);
        for (end = dnstap_clock_ms() + 3000; dnstap_clock_ms() < end && !DNSTAP__LOAD_ACQ(&tap.accepting);)
            (void)poll(NULL, 0, 1);
    } else {
        for (end = dnstap_clock_ms() + 3000; dnstap_clock_ms() < end && tap.state != DNSTAP__S_RUNNING;)
            (void)dnstap_poll(&tap, dnstap_clock_ms());
    }
    CHECK(DNSTAP__LOAD_ACQ(&tap.accepting));
    for (i = 0; i < 12000; i++) {
        dnstap_msg_t m;
        seq_msg(&m, 0, (uint32_t)i);
        (void)dnstap_log(&tap, &m);
    }
    t0 = dnstap_clock_ms();
    if (how == 2) {
        dnstap_close_now(&tap);
    } else if (threaded) {
        r = dnstap_thread_stop(&tap);
    } else {
        dnstap_shutdown(&tap, t0);
        r = dnstap_run(&tap, 4000);
    }
    elapsed = dnstap_clock_ms() - t0;
    s = dnstap_stats(&tap);
    printf("  %s: closed after %llu ms (limit 500), %llu sent, %llu dropped at the end\n",
           how == 2 ? "dnstap_close_now()" : threaded ? "dnstap_thread_stop()" : "dnstap_run()",
           (unsigned long long)elapsed,
           (unsigned long long)s.sent, (unsigned long long)s.dropped_disconnected);
    if (how != 2) CHECK_EQ(r, threaded ? DNSTAP_ERR_TIMEOUT : DNSTAP_OK);   /* thread_stop: the last error */
    CHECK(dnstap_closed(&tap));
    CHECK(elapsed < 500 + 2500);
    CHECK_EQ(s.timeouts, how == 2 ? 0 : 1);
    CHECK(!tap.thread_running);
    CHECK_EQ(s.queued, 0);
    CHECK(s.dropped_disconnected > 0);
    CHECK_EQ(s.dropped_disconnected + s.dropped_full + s.sent, s.logged);
    CHECK(invariant_ok(&tap));
    /* what the receiver still has to read, at full speed, to the end */
    __atomic_store_n(&slow_fast, 1, __ATOMIC_RELEASE);
    for (end = dnstap_clock_ms() + 10000; dnstap_clock_ms() < end && !__atomic_load_n(&rx.ends, __ATOMIC_ACQUIRE);)
        (void)poll(NULL, 0, 5);
    __atomic_store_n(&slow_quit, 1, __ATOMIC_RELEASE);
    pthread_join(rth, NULL);
    CHECK_EQ(rx.ends, 1);
    CHECK_EQ(rx.frames, s.sent);
    if (rx.fd >= 0) close(rx.fd);
    close(rx.lfd);
    unlink(sock_path);
}

static void test_real_socket_slow_receiver_run(void) { slow_receiver_shutdown(0); }
static void test_real_socket_slow_receiver_thread_stop(void) { slow_receiver_shutdown(1); }
static void test_real_socket_slow_receiver_close_now(void) { slow_receiver_shutdown(2); }

/* The optional writer thread: the program only logs. */
static volatile int receiver_quit;
static void *receiver_main(void *arg) {
    (void)arg;
    while (!__atomic_load_n(&receiver_quit, __ATOMIC_ACQUIRE)) { receiver_step(); (void)poll(NULL, 0, 1); }
    return NULL;
}

/* A tap on the in-process receiver, served by its own thread. */
static void receiver_thread_up(pthread_t *rth) {
    char ep[128];
    memset(&rx, 0, sizeof rx);
    CHECK_EQ(receiver_listen(), 0);
    snprintf(ep, sizeof ep, "unix://%s", sock_path);
    real_tap(&tap, ep);
    receiver_quit = 0;
    pthread_create(rth, NULL, receiver_main, NULL);
}

static void receiver_thread_down(pthread_t rth) {
    __atomic_store_n(&receiver_quit, 1, __ATOMIC_RELEASE);
    pthread_join(rth, NULL);
    CHECK(invariant_ok(&tap));
    CHECK_EQ(rx.frames, dnstap_stats(&tap).sent);
    CHECK_EQ(rx.finished, 1);
    if (rx.fd >= 0) close(rx.fd);
    close(rx.lfd);
    unlink(sock_path);
}

/* The optional writer thread: the program only logs, then stops it; or
   (shutdown_first) calls dnstap_shutdown() while the thread runs, which
   asks the thread to shut the tap down (it wrote the shutdown state beside
   the thread: a data race), and dnstap_thread_stop() joins it. */
static void writer_thread_case(int shutdown_first) {
    pthread_t rth;
    size_t i, ok = 0;
    receiver_thread_up(&rth);
    CHECK_EQ(dnstap_thread_start(&tap), DNSTAP_OK);
    CHECK_EQ(dnstap_thread_start(&tap), DNSTAP_ERR_INVALID);
    for (i = 0; i < 5000; i++) {
        dnstap_msg_t m;
        seq_msg(&m, 0, (uint32_t)i);
        if (dnstap_log(&tap, &m) == DNSTAP_OK) ok++;
        if (i % 100 == 0) (void)poll(NULL, 0, 1);
    }
    if (shutdown_first) {
        dnstap_shutdown(&tap, dnstap_clock_ms());
        (void)poll(NULL, 0, 50);   /* the thread meanwhile */
    }
    CHECK_EQ(dnstap_thread_stop(&tap), DNSTAP_OK);
    CHECK(dnstap_closed(&tap));
    CHECK_EQ(dnstap_stats(&tap).sent, ok);
    receiver_thread_down(rth);
}

static void test_writer_thread(void) { writer_thread_case(0); }
static void test_writer_thread_shutdown(void) { writer_thread_case(1); }

/* The writer thread sleeps thread_wake_ms when idle, and nothing woke it
   for a stop: dnstap_thread_stop(), dnstap_shutdown() and
   dnstap_close_now() waited out the nap (3.8 s with 4 s naps and a 1 s
   shutdown limit), and a nap of 2^31 ms or more was a negative poll()
   timeout: for ever. Each stop must come within the shutdown limit (plus
   a margin for a loaded machine). */

static void test_writer_thread_stops_at_once(void) {
    static const uint32_t naps[3] = { 4000, 0x80000000u, UINT32_MAX };
    unsigned c, how;
    for (c = 0; c < 3; c++) {
        for (how = 0; how < 3; how++) {
            dnstap_msg_t m;
            uint64_t t0, elapsed;
            fake_reset();   /* a receiver that takes everything: the thread idles */
            CHECK_EQ(fake_tap(&tap, 1 << 14, 1), DNSTAP_OK);
            tap.desc.thread_wake_ms = naps[c];
            tap.desc.shutdown_timeout_ms = 1000;
            seq_msg(&m, 0, 1);
            CHECK_EQ(dnstap_log(&tap, &m), DNSTAP_OK);
            CHECK_EQ(dnstap_thread_start(&tap), DNSTAP_OK);
            (void)poll(NULL, 0, 300);   /* the thread asleep by now */
            t0 = dnstap_clock_ms();
            if (how == 0) {
                (void)dnstap_thread_stop(&tap);
            } else if (how == 1) {
                dnstap_shutdown(&tap, t0);   /* asks the thread; joined below */
                (void)dnstap_thread_stop(&tap);
            } else {
                dnstap_close_now(&tap);
            }
            elapsed = dnstap_clock_ms() - t0;
            CHECK(dnstap_closed(&tap));
            CHECK(elapsed < 1000 + 1500);
            CHECK(invariant_ok(&tap));
            if (test_case_failed) {
                printf("  thread_wake_ms %lu, %s: %llu ms\n", (unsigned long)naps[c],
                       how == 0 ? "dnstap_thread_stop()" : how == 1 ? "dnstap_shutdown()" : "dnstap_close_now()",
                       (unsigned long long)elapsed);
                return;
            }
        }
    }
}

/* While the receiver is away (backing off) the writer thread waited 0 ms
   (DNSTAP_FLUSH_AT_ONCE) or 1 ms per turn as long as frames were queued,
   though nothing can be written before the next attempt: 100 % of a CPU,
   or 1,000 wake-ups a second. It sleeps until the next attempt: the
   process, whose main thread sleeps too, uses next to no CPU. */
static double cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_writer_thread_sleeps_while_away(void) {
    uint32_t flush;
    for (flush = 0; flush < 2; flush++) {
        dnstap_msg_t m;
        double c0, used;
        fake_reset();
        fake.connect_mode = 2;   /* refused: backing off */
        CHECK_EQ(fake_tap(&tap, 1 << 14, 1), DNSTAP_OK);
        tap.desc.backoff_min_ms = tap.desc.backoff_max_ms = 5000;
        if (!flush) tap.desc.flush_bytes = DNSTAP_FLUSH_AT_ONCE;   /* else the default policy */
        CHECK_EQ(dnstap_thread_start(&tap), DNSTAP_OK);
        (void)poll(NULL, 0, 100);   /* the first attempt failed */
        seq_msg(&m, 0, 1);
        CHECK_EQ(dnstap_log(&tap, &m), DNSTAP_OK);   /* a frame waits */
        c0 = cpu_seconds();
        (void)poll(NULL, 0, 1000);
        used = cpu_seconds() - c0;
        dnstap_close_now(&tap);
        printf("  %s: %.3f s of CPU in 1 s of waiting for a receiver\n",
               flush ? "default flush policy" : "DNSTAP_FLUSH_AT_ONCE", used);
        CHECK(used < 0.3);
        CHECK(invariant_ok(&tap));
    }
}

/* dnstap_run() with no time limit runs until the tap is closed (the end
   of its wait wrapped: it returned DNSTAP_ERR_TIMEOUT at once, open). */
static void test_run_without_limit(void) {
    pthread_t rth;
    size_t i;
    receiver_thread_up(&rth);
    for (i = 0; i < 100; i++) {
        dnstap_msg_t m;
        seq_msg(&m, 0, (uint32_t)i);
        CHECK_EQ(dnstap_log(&tap, &m), DNSTAP_OK);
    }
    dnstap_shutdown(&tap, dnstap_clock_ms());
    CHECK_EQ(dnstap_run(&tap, UINT64_MAX), DNSTAP_OK);
    CHECK(dnstap_closed(&tap));
    CHECK_EQ(dnstap_stats(&tap).sent, 100);
    receiver_thread_down(rth);
}

/* A file tap that sits idle between messages keeps writing one valid
   file (a file has nothing to read: the idle probe must leave it alone). */
static void test_idle_file_tap(void) {
    static uint8_t filebuf[1 << 16], rb[4096];
    char path[64], ep[80];
    dnstap_desc_t d;
    dnstap_reader_t r;
    FILE *fp;
    size_t len, pos = 0, frames = 0, i;
    snprintf(path, sizeof path, "/tmp/dnstap-idle-%d.dnstap", (int)getpid());
    snprintf(ep, sizeof ep, "file:%s", path);
    memset(&d, 0, sizeof d);
    d.endpoint = ep;
    d.queue = queue_mem;
    d.queue_size = 1 << 16;
    CHECK_EQ(dnstap_init(&tap, &d), DNSTAP_OK);
    sim_now = 1000;
    for (i = 0; i < 5; i++) {
        dnstap_msg_t m;
        seq_msg(&m, 0, (uint32_t)i);
        CHECK_EQ(dnstap_log(&tap, &m), DNSTAP_OK);
        run_for(&tap, 3, 1);
        sim_now += 1000;          /* idle for a second */
        run_for(&tap, 3, 1);
    }
    finish(&tap);
    CHECK(invariant_ok(&tap));
    CHECK_EQ(dnstap_stats(&tap).sent, 5);
    fp = fopen(path, "rb");
    CHECK(fp != NULL);
    if (!fp) return;
    len = fread(filebuf, 1, sizeof filebuf, fp);
    fclose(fp);
    unlink(path);
    dnstap_reader_init(&r, rb, sizeof rb);
    while (pos < len) {
        dnstap_frame_t fr;
        size_t used = 0;
        dnstap_result_t e = dnstap_reader_feed(&r, filebuf + pos, len - pos, &used, &fr);
        pos += used;
        if (e != DNSTAP_OK) break;
        if (fr.kind == DNSTAP_FRAME_DATA) frames++;
    }
    CHECK_EQ(dnstap_reader_end(&r), DNSTAP_OK);
    CHECK_EQ(frames, 5);
}

static void test_endpoints(void) {
    dnstap_desc_t d;
    static const char *const good[] = { "/tmp/x.sock", "unix:///tmp/x.sock", "tcp://127.0.0.1:6000",
                                        "tcp://[::1]:6000", "tcp://localhost:6000", "file:/tmp/x.dnstap" };
    static const char *const bad[] = { "", "unix://relative", "tcp://127.0.0.1", "tcp://:53", "tcp://h:99999",
                                       "tcp://[::1:53", "tcp://h:5x", "ftp://x", "file:" };
    size_t i;
    memset(&d, 0, sizeof d);
    d.queue = queue_mem;
    d.queue_size = 4096;
    for (i = 0; i < sizeof good / sizeof good[0]; i++) {
        d.endpoint = good[i];
        if (dnstap_init(&tap, &d) != DNSTAP_OK) { printf("  refused %s\n", good[i]); CHECK(0); }
    }
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        d.endpoint = bad[i];
        if (dnstap_init(&tap, &d) != DNSTAP_ERR_INVALID) { printf("  accepted %s\n", bad[i]); CHECK(0); }
    }
    d.endpoint = "tls://127.0.0.1:853";
    CHECK_EQ(dnstap_init(&tap, &d), DNSTAP_ERR_UNSUPPORTED);
    d.endpoint = "/tmp/x.sock";
    d.queue = NULL;
    CHECK_EQ(dnstap_init(&tap, &d), DNSTAP_ERR_INVALID);
    d.queue = queue_mem;
    d.queues = DNSTAP_MAX_QUEUES + 1;
    CHECK_EQ(dnstap_init(&tap, &d), DNSTAP_ERR_INVALID);
    /* defaults: the host name as identity, the library as version */
    d.queues = 0;
    CHECK_EQ(dnstap_init(&tap, &d), DNSTAP_OK);
    CHECK(tap.enc.seg_off[1] > 0 && tap.enc.seg_off[2] > tap.enc.seg_off[1] && tap.enc.seg_off[3] == tap.enc.seg_off[2]);
    CHECK_EQ(tap.desc.connect_timeout_ms, 4000);
    CHECK_EQ(tap.desc.drop_report_ms, 10000);
}

/* Drops are reported at most once per interval, CoreDNS's way. */
static char last_log[400];
static int log_lines;
static void logger(void *ctx, dnstap_log_level_t level, const char *msg) {
    (void)ctx; (void)level;
    snprintf(last_log, sizeof last_log, "%s", msg);
    log_lines++;
}

static void test_drop_reports(void) {
    dnstap_msg_t m;
    int i, before;
    fake_reset();
    fake.connect_mode = 2;
    CHECK_EQ(fake_tap(&tap, 512, 1), DNSTAP_OK);
    tap.desc.logger.func = logger;
    sim_now = 100000;
    for (i = 0; i < 50; i++) { seq_msg(&m, 0, (uint32_t)i); (void)dnstap_log(&tap, &m); }
    log_lines = 0;
    (void)dnstap_poll(&tap, sim_now);
    {
        char want[64];
        dnstap_stats_t st = dnstap_stats(&tap);
        snprintf(want, sizeof want, "dnstap: Dropped dnstap messages: %llu", (unsigned long long)st.dropped_full);
        CHECK(st.dropped_full > 0 && strcmp(last_log, want) == 0);   /* the count */
    }
    before = log_lines;
    for (i = 0; i < 50; i++) { seq_msg(&m, 0, (uint32_t)i); (void)dnstap_log(&tap, &m); }
    (void)dnstap_poll(&tap, sim_now + 5000);        /* within the interval: quiet */
    CHECK(strstr(last_log, "Dropped") == NULL || log_lines == before);
    (void)dnstap_poll(&tap, sim_now + 10000);   /* due at that very tick (else the host spins a tick) */
    CHECK(strcmp(last_log, "dnstap: Dropped dnstap messages: 50") == 0);   /* every line: "dnstap: " first */
    finish(&tap);
    /* a connected, idle tap has no deadline of its own: drops since the last
       report give it one, so that a loop that sleeps until it reports them */
    fake_reset();
    CHECK_EQ(fake_tap(&tap, 1 << 16, 1), DNSTAP_OK);
    tap.desc.logger.func = logger;
    sim_now = 200000;
    run_for(&tap, 5, 10);
    CHECK_EQ(tap.state, DNSTAP__S_RUNNING);
    CHECK_EQ(dnstap_io(&tap, sim_now).deadline_ms, UINT64_MAX);
    seq_msg(&m, 0, 1);
    m.query_message.len = DNSTAP_PAYLOAD_MAX_GOLANG;   /* too big: dropped, counted */
    CHECK_EQ(dnstap_log(&tap, &m), DNSTAP_ERR_TOO_LONG);
    CHECK(dnstap_io(&tap, sim_now).deadline_ms <= sim_now + tap.desc.drop_report_ms);
    last_log[0] = 0;
    (void)dnstap_poll(&tap, dnstap_io(&tap, sim_now).deadline_ms);
    CHECK(strcmp(last_log, "dnstap: Dropped dnstap messages: 1") == 0);
    finish(&tap);
}

/* A failure with no system call behind it (the receiver closes: the end
   of its stream) names no system error, whatever errno held before
   dnstap_poll() (the host's own calls leave it set). */
static void test_log_no_stale_cause(void) {
    char ep[128];
    uint64_t end;
    memset(&rx, 0, sizeof rx);
    CHECK_EQ(receiver_listen(), 0);
    snprintf(ep, sizeof ep, "unix://%s", sock_path);
    real_tap(&tap, ep);
    tap.desc.logger.func = logger;
    last_log[0] = 0;
    for (end = dnstap_clock_ms() + 5000; dnstap_clock_ms() < end && !strstr(last_log, "closed by peer");) {
        int fd = accept(rx.lfd, NULL, NULL);
        errno = EACCES;   /* stale */
        (void)dnstap_poll(&tap, dnstap_clock_ms());   /* READY */
        if (fd >= 0) {   /* READY read, then closed: an end of stream, not a reset */
            uint8_t b[256];
            (void)poll(NULL, 0, 5);
            while (recv(fd, b, sizeof b, MSG_DONTWAIT) > 0) {}
            close(fd);
        }
        (void)poll(NULL, 0, 1);
        errno = EACCES;
        (void)dnstap_poll(&tap, dnstap_clock_ms());
    }
    if (!strstr(last_log, "closed by peer") || strstr(last_log, "Permission denied")) {
        printf("  got \"%s\"\n", last_log);
        CHECK(0);
    }
    dnstap_close_now(&tap);
    close(rx.lfd);
    unlink(sock_path);
}

/* Failure lines name the system's reason (errno's text). */
static void test_log_gives_cause(void) {
    static const struct { const char *endpoint, *want; } cases[] = {
        { "unix:///nonexistent-dir/dnstap.sock", "dnstap: unix:///nonexistent-dir/dnstap.sock: cannot connect "
                                                "(No such file or directory); reconnecting in " },
        { "tcp://127.0.0.1:1", "dnstap: tcp://127.0.0.1:1: cannot connect (Connection refused); reconnecting in " },
    };
    size_t i;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t end;
        char ep[128];   /* the caller's string, reused once dnstap_init() returns */
        snprintf(ep, sizeof ep, "%s", cases[i].endpoint);
        real_tap(&tap, ep);
        memset(ep, 'X', sizeof ep - 1);
        tap.desc.logger.func = logger;
        last_log[0] = 0;
        for (end = dnstap_clock_ms() + 2000; dnstap_clock_ms() < end && !last_log[0];) {
            (void)dnstap_poll(&tap, dnstap_clock_ms());
            (void)poll(NULL, 0, 1);
        }
        if (strncmp(last_log, cases[i].want, strlen(cases[i].want)) != 0) {
            printf("  got \"%s\"\n", last_log);
            CHECK(0);
        }
        dnstap_shutdown(&tap, dnstap_clock_ms());
        (void)dnstap_run(&tap, 1000);
    }
}

/* An endpoint that dnstap_init() refuses is logged with the reason, so
   that a server's "bad --dnstap" can be fixed from its log. */
static char long_path[160];   /* unix:///aaa...: more than a socket address holds */
static void test_init_gives_cause(void) {
    static const struct { const char *endpoint, *want; dnstap_result_t r; } cases[] = {
        { "bogus://x", "unknown kind: use unix:///path, tcp://host:port", DNSTAP_ERR_INVALID },
        { long_path, "needs an absolute path short enough for a unix socket address", DNSTAP_ERR_INVALID },
        { "unix://relative.sock", "needs an absolute path", DNSTAP_ERR_INVALID },
        { "file:", "needs a file name", DNSTAP_ERR_INVALID },
        { "tcp://127.0.0.1:0", "the port must be a number from 1 to 65535", DNSTAP_ERR_INVALID },
        { "tcp://2001:db8::1", "an IPv6 address needs brackets", DNSTAP_ERR_INVALID },
#ifndef DNSTAP_WITH_MBEDTLS
        { "tls://127.0.0.1:853", "tls:// needs a build with DNSTAP_WITH_MBEDTLS", DNSTAP_ERR_UNSUPPORTED },
#endif
    };
    size_t i;
    memset(long_path, 'a', sizeof long_path - 1);
    memcpy(long_path, "unix:///", 8);
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        dnstap_desc_t d;
        char want[200];
        const char *ep = cases[i].endpoint;
        memset(&d, 0, sizeof d);
        d.queue = queue_mem;
        d.queue_size = 1 << 16;
        d.endpoint = ep;
        d.logger.func = logger;
        last_log[0] = 0;
        CHECK_EQ(dnstap_init(&tap, &d), cases[i].r);
        snprintf(want, sizeof want, "dnstap: %.40s", ep);
        if (strncmp(last_log, want, strlen(want)) != 0 ||
            !strstr(last_log, cases[i].want)) {
            printf("  %s: got \"%s\"\n", ep, last_log);
            CHECK(0);
        }
    }
}

/* The file transport into a FIFO: no reader yet fails at once (open()
   blocked the host), and a reader that leaves is an error the tap logs and
   counts (write() raised SIGPIPE, which ended the host). */
static void test_file_fifo(void) {
    char path[64], ep[80];
    dnstap_desc_t d;
    dnstap_msg_t m;
    int rd, i;
    uint8_t buf[4096];
    uint64_t now = 1;
    snprintf(path, sizeof path, "/tmp/dnstap-test-fifo-%d", (int)getpid());
    snprintf(ep, sizeof ep, "file://%s", path);
    (void)unlink(path);
    CHECK(mkfifo(path, 0600) == 0);
    memset(&d, 0, sizeof d);
    d.queue = queue_mem;
    d.queue_size = 1 << 16;
    d.endpoint = ep;
    d.logger.func = logger;
    /* no reader: dnstap_poll() returns (alarm: a blocked open() ends the test) */
    alarm(20);
    last_log[0] = 0;
    CHECK_EQ(dnstap_init(&tap, &d), DNSTAP_OK);
    seq_msg(&m, 0, 0);
    CHECK_EQ(dnstap_log(&tap, &m), DNSTAP_OK);
    (void)dnstap_poll(&tap, now);
    CHECK(strstr(last_log, "cannot connect") != NULL);
    dnstap_close_now(&tap);
    /* a reader, which leaves */
    rd = open(path, O_RDONLY | O_NONBLOCK);
    CHECK(rd >= 0);
    CHECK_EQ(dnstap_init(&tap, &d), DNSTAP_OK);
    for (i = 0; i < 10; i++) { seq_msg(&m, 0, (uint32_t)i); CHECK_EQ(dnstap_log(&tap, &m), DNSTAP_OK); }
    for (i = 0; i < 100 && dnstap_stats(&tap).sent < 10; i++) (void)dnstap_poll(&tap, now += 20);
    CHECK_EQ(dnstap_stats(&tap).sent, 10);
    CHECK(read(rd, buf, sizeof buf) > 10 * 4);
    close(rd);
    for (i = 0; i < 10; i++) { seq_msg(&m, 0, (uint32_t)(10 + i)); (void)dnstap_log(&tap, &m); }
    for (i = 0; i < 100 && !dnstap_closed(&tap); i++) (void)dnstap_poll(&tap, now += 20);
    CHECK(dnstap_closed(&tap));   /* still running: no SIGPIPE */
    CHECK_EQ(dnstap_stats(&tap).sent, 10);
    CHECK(invariant_ok(&tap));
    alarm(0);
    (void)unlink(path);
}

/* A file: endpoint on a disk that fills up (a file size limit here:
   write() takes what fits, then fails with EFBIG, as ENOSPC does): the
   tap closes, and the file keeps the frames counted sent, whole, then STOP
   when 12 bytes fit. Each limit cuts the stream elsewhere. */
static char full_disk_endpoint[80];

/* The child: log and poll until the tap closes; how many it sent. */
static int full_disk_tap(unsigned limit, void *result) {
    dnstap_desc_t d;
    dnstap_msg_t m;
    uint64_t now = 1;
    uint32_t i;
    (void)limit;
    memset(&d, 0, sizeof d);
    d.queue = queue_mem;
    d.queue_size = 1 << 14;
    d.endpoint = full_disk_endpoint;
    d.flush_bytes = 1000;   /* writes that end inside frames */
    if (dnstap_init(&tap, &d) != DNSTAP_OK) return 3;
    for (i = 0; i < 100000 && !dnstap_closed(&tap); i++) {
        seq_msg(&m, 0, i);
        (void)dnstap_log(&tap, &m);
        if (i % 7 == 0) (void)dnstap_poll(&tap, now += 5);
    }
    if (!dnstap_closed(&tap) || !invariant_ok(&tap)) return 4;
    *(unsigned long long *)result = dnstap_stats(&tap).sent;
    return 0;
}

static void test_file_endpoint_full_disk(void) {
    static uint8_t file[1 << 16];
    char path[64];
    unsigned limit;
    int cases = 0, stopped = 0;
    snprintf(path, sizeof path, "/tmp/dnstap-test-full-%d", (int)getpid());
    snprintf(full_disk_endpoint, sizeof full_disk_endpoint, "file:%s", path);
    for (limit = 20; limit < 20000; limit += limit < 200 ? 30 : 997) {   /* START cut; then every distance from a frame's end */
        unsigned long long sent = 0;
        int frames = 0;
        size_t len = test_full_disk_run(limit, full_disk_tap, &sent, sizeof sent, path, file, sizeof file), pos = 0;
        dnstap_reader_t r;
        dnstap_frame_t fr;
        static uint8_t rbuf[4096];
        dnstap_result_t e = DNSTAP_ERR_AGAIN;
        if (len == (size_t)-1) { CHECK(0); return; }
        CHECK(len <= limit);
        if (limit < 42) {   /* START cut: an empty file, nothing sent */
            CHECK_EQ(len, 0);
            CHECK_EQ(sent, 0);
            continue;
        }
        CHECK_EQ(dnstap_reader_init(&r, rbuf, sizeof rbuf), DNSTAP_OK);
        while (pos < len) {
            size_t used = 0;
            e = dnstap_reader_feed(&r, file + pos, len - pos, &used, &fr);
            pos += used;
            if (e != DNSTAP_OK) break;
            frames += fr.kind == DNSTAP_FRAME_DATA;
        }
        e = dnstap_reader_end(&r);
        CHECK_EQ(frames, sent);
        if (limit - len >= 12 || e == DNSTAP_OK) CHECK_EQ(e, DNSTAP_OK);
        else CHECK_EQ(e, DNSTAP_ERR_UNFINISHED);
        stopped += e == DNSTAP_OK;
        cases++;
        if (test_case_failed) { printf("  (limit %u: %zu bytes, %d frames, %llu sent, end %d)\n", limit, len, frames, sent, (int)e); break; }
    }
    (void)unlink(path);
    CHECK(cases > 10 && stopped > cases / 2);
}

/* A tap never set up (zero, as `static dnstap_t tap;` in a host whose
   config leaves dnstap off while its loop still asks) is closed and inert
   like one whose dnstap_init() failed: dnstap_poll() called its NULL
   write. */
static void test_zero_tap_is_inert(void) {
    static dnstap_t zero;
    dnstap_msg_t m;
    dnstap_io_t io;
    dnstap_stats_t st;
    memset(&zero, 0, sizeof zero);
    CHECK(dnstap_closed(&zero));
    io = dnstap_io(&zero, 1000);
    CHECK(io.fd == -1 && !io.want_read && !io.want_write && io.deadline_ms == UINT64_MAX);
    CHECK_EQ(dnstap_poll(&zero, 1000), DNSTAP_ERR_INVALID);
    seq_msg(&m, 0, 0);
    CHECK_EQ(dnstap_log(&zero, &m), DNSTAP_ERR_INVALID);
    CHECK_EQ(dnstap_run(&zero, 100), DNSTAP_OK);
    dnstap_shutdown(&zero, 1000);
    CHECK_EQ(dnstap_poll(&zero, 100000), DNSTAP_ERR_INVALID);
    dnstap_close_now(&zero);
    dnstap_forget(&zero);
    st = dnstap_stats(&zero);
    CHECK(st.logged == 0 && st.sent == 0 && st.queued == 0 && st.connects == 0);
}

/* A tap whose dnstap_init() failed is closed and inert: it logs nothing,
   dnstap_poll() touches no transport (it called a NULL write), and it may
   be set up again. */
static void test_failed_init_is_closed(void) {
    static const char *const bad[] = { "bogus", "unix://relative", "tcp://[::1]", "tcp://127.0.0.1:0", "file:", NULL };
    const size_t n = sizeof bad / sizeof bad[0];
    size_t i;
    dnstap_msg_t m;
    for (i = 0; i <= n && !test_case_failed; i++) {
        dnstap_desc_t d;
        dnstap_stats_t st;
        uint64_t now;
        memset(&d, 0, sizeof d);
        d.queue = i < n ? queue_mem : NULL;   /* last: no queue memory */
        d.queue_size = 1 << 16;
        d.endpoint = i < n ? bad[i] : "unix:///nonexistent-dir/dnstap.sock";
        CHECK(dnstap_init(&tap, &d) != DNSTAP_OK);
        CHECK(dnstap_closed(&tap));
        seq_msg(&m, 0, 0);
        CHECK_EQ(dnstap_log(&tap, &m), DNSTAP_ERR_INVALID);
        for (now = 1; now < 20000; now += 500) (void)dnstap_poll(&tap, now);
        CHECK(dnstap_closed(&tap));
        CHECK_EQ(dnstap_io(&tap, now).fd, -1);
        dnstap_shutdown(&tap, now);
        CHECK_EQ(dnstap_run(&tap, 100), DNSTAP_OK);
        st = dnstap_stats(&tap);
        CHECK(st.logged == 0 && st.sent == 0 && st.queued == 0 && st.connects == 0);
    }
    fake_reset();
    CHECK_EQ(fake_tap(&tap, 1 << 16, 1), DNSTAP_OK);
    seq_msg(&m, 0, 0);
    CHECK_EQ(dnstap_log(&tap, &m), DNSTAP_OK);
    finish(&tap);
    CHECK(invariant_ok(&tap));
    CHECK_EQ(dnstap_stats(&tap).sent, 1);
}

/* ---- forking servers ------------------------------------------------------ */

/* Serve the in-process receiver until it has `frames` data frames (3 s at most). */
static void pump_until(dnstap_t *t, size_t frames) {
    uint64_t end;
    for (end = dnstap_clock_ms() + 3000; dnstap_clock_ms() < end && rx.frames < frames;) {
        (void)dnstap_poll(t, dnstap_clock_ms());
        receiver_step();
    }
}

static void close_receiver(void) {
    if (rx.fd >= 0) close(rx.fd);
    close(rx.lfd);
    unlink(sock_path);
}

/* Shut t down in an orderly way while serving the receiver. */
static void pump_shutdown(dnstap_t *t) {
    uint64_t end;
    int i;
    dnstap_shutdown(t, dnstap_clock_ms());
    for (end = dnstap_clock_ms() + 3000; dnstap_clock_ms() < end && !dnstap_closed(t);) {
        (void)dnstap_poll(t, dnstap_clock_ms());
        receiver_step();
    }
    for (i = 0; i < 20; i++) receiver_step();
}

/* In the child: forget the parent's connection, then log over its own. */
static int child_forget(void) {
    char ep[128];
    dnstap_msg_t m;
    dnstap_stats_t s;
    int i;
    test_case_failed = 0;
    dnstap_forget(&tap);
    CHECK(dnstap_closed(&tap));
    seq_msg(&m, 0, 999);
    CHECK_EQ(dnstap_log(&tap, &m), DNSTAP_ERR_DISCONNECTED);
    for (i = 0; i < 20; i++) (void)dnstap_poll(&tap, dnstap_clock_ms());   /* must write nothing */
    dnstap_shutdown(&tap, dnstap_clock_ms());
    (void)dnstap_run(&tap, 200);
    s = dnstap_stats(&tap);
    CHECK(invariant_ok(&tap));
    CHECK_EQ(s.queued, 0);
    CHECK_EQ(s.dropped_disconnected, 51);   /* the 50 inherited frames (the parent sends them) and ours */
    /* a connection of its own: the same tap set up again, to a receiver of
       its own (the inherited receiver descriptors are the parent's) */
    close(rx.lfd);
    if (rx.fd >= 0) close(rx.fd);
    memset(&rx, 0, sizeof rx);
    CHECK_EQ(receiver_listen(), 0);      /* a new path: it holds this pid */
    snprintf(ep, sizeof ep, "unix://%s", sock_path);
    real_tap(&tap, ep);
    for (i = 0; i < 10; i++) { seq_msg(&m, 0, (uint32_t)i); CHECK_EQ(dnstap_log(&tap, &m), DNSTAP_OK); }
    pump_until(&tap, 10);
    pump_shutdown(&tap);
    CHECK_EQ(rx.frames, 10);
    CHECK_EQ(rx.finished, 1);
    CHECK_EQ(rx.errors, 0);
    CHECK_EQ(dnstap_stats(&tap).sent, 10);
    close_receiver();
    fflush(stdout);
    return test_case_failed;
}

/* A child of fork() forgets the inherited connection: not a byte of its own
   reaches the parent's stream (no frame, no STOP), the parent's stream goes
   on, and the child logs over a connection of its own. */
static void test_fork_forget(void) {
    char ep[128];
    dnstap_msg_t m;
    size_t i;
    pid_t pid;
    int status = -1;
    memset(&rx, 0, sizeof rx);
    CHECK_EQ(receiver_listen(), 0);
    snprintf(ep, sizeof ep, "unix://%s", sock_path);
    real_tap(&tap, ep);
    for (i = 0; i < 100; i++) { seq_msg(&m, 0, (uint32_t)i); CHECK_EQ(dnstap_log(&tap, &m), DNSTAP_OK); }
    pump_until(&tap, 100);
    CHECK_EQ(rx.frames, 100);
    CHECK_EQ(tap.state, DNSTAP__S_RUNNING);
    for (i = 100; i < 150; i++) { seq_msg(&m, 0, (uint32_t)i); CHECK_EQ(dnstap_log(&tap, &m), DNSTAP_OK); }
    fflush(stdout);
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) _exit(child_forget());
    CHECK_EQ(waitpid(pid, &status, 0), pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    for (i = 0; i < 20; i++) receiver_step();
    CHECK_EQ(rx.frames, 100);              /* nothing from the child */
    CHECK_EQ(rx.finished, 0);              /* no STOP either */
    pump_until(&tap, 150);                 /* the parent's connection still works */
    pump_shutdown(&tap);
    CHECK(dnstap_closed(&tap));
    CHECK_EQ(rx.frames, 150);
    CHECK_EQ(rx.finished, 1);
    CHECK_EQ(rx.errors, 0);
    CHECK_EQ(dnstap_stats(&tap).sent, 150);
    CHECK_EQ(dnstap_stats(&tap).reconnects, 0);
    CHECK(invariant_ok(&tap));
    close_receiver();
}

/* Frames encoded in a child and sent up a pipe, queued by the parent with
   dnstap_log_frame(); malformed or oversized frames refused and counted. */
static uint8_t big_frame[4 + DNSTAP_PAYLOAD_MAX_DEFAULT + 1];
static void test_fork_log_frame(void) {
    int p[2];
    pid_t pid;
    int status = -1;
    size_t na = 0;
    uint32_t len;
    uint8_t frame[512];
    dnstap_stats_t s;
    dnstap_msg_t m;
    fake_reset();
    CHECK_EQ(fake_tap(&tap, 1 << 20, 1), DNSTAP_OK);
    CHECK_EQ(pipe(p), 0);
    fflush(stdout);
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        uint32_t i;
        close(p[0]);
        dnstap_forget(&tap);
        for (i = 0; i < 100; i++) {
            size_t n = 0;
            seq_msg(&m, 7, i);
            if (dnstap_encode_frame(&tap.enc, &m, frame, sizeof frame, &n) != DNSTAP_OK) _exit(1);
            len = (uint32_t)n;
            if (write(p[1], &len, sizeof len) != (ssize_t)sizeof len || write(p[1], frame, n) != (ssize_t)n) _exit(2);
        }
        _exit(0);
    }
    close(p[1]);
    for (;;) {
        size_t got = 0;
        ssize_t r;
        if (read(p[0], &len, sizeof len) != (ssize_t)sizeof len) break;
        CHECK(len <= sizeof frame);
        if (len > sizeof frame) break;
        while (got < len && (r = read(p[0], frame + got, len - got)) > 0) got += (size_t)r;
        CHECK_EQ(got, len);
        CHECK_EQ(dnstap_log_frame(&tap, 0, frame, len), DNSTAP_OK);
        accepted[na++] = dnstap_decode(frame + 4, len - 4, &m) == DNSTAP_OK ? m.query_time_nsec : 0xFFFFFFFFu;
    }
    close(p[0]);
    CHECK_EQ(waitpid(pid, &status, 0), pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_EQ(na, 100);
    /* refused and counted */
    CHECK_EQ(dnstap_log_frame(&tap, 0, frame, 4), DNSTAP_ERR_INVALID);          /* no payload */
    dnstap__put_be32(frame, 0);                                                  /* a control frame's escape */
    CHECK_EQ(dnstap_log_frame(&tap, 0, frame, 12), DNSTAP_ERR_INVALID);
    dnstap__put_be32(frame, 20);
    CHECK_EQ(dnstap_log_frame(&tap, 0, frame, 23), DNSTAP_ERR_INVALID);         /* length field says more */
    CHECK_EQ(dnstap_log_frame(&tap, 0, frame, 25), DNSTAP_ERR_INVALID);         /* ... or less */
    dnstap__put_be32(big_frame, DNSTAP_PAYLOAD_MAX_DEFAULT + 1);
    CHECK_EQ(dnstap_log_frame(&tap, 0, big_frame, sizeof big_frame), DNSTAP_ERR_TOO_LONG);
    /* refused, not counted: bad arguments */
    CHECK_EQ(dnstap_log_frame(&tap, 0, NULL, 8), DNSTAP_ERR_INVALID);
    CHECK_EQ(dnstap_log_frame(&tap, 1, frame, 24), DNSTAP_ERR_INVALID);
    CHECK_EQ(dnstap_log_frame(NULL, 0, frame, 24), DNSTAP_ERR_INVALID);
    s = dnstap_stats(&tap);
    CHECK_EQ(s.logged, 105);
    CHECK_EQ(s.dropped_invalid, 4);
    CHECK_EQ(s.dropped_too_big, 1);
    run_for(&tap, 200000, 10);
    finish(&tap);
    CHECK(dnstap_closed(&tap));
    CHECK(invariant_ok(&tap));
    CHECK_EQ(fake.stream_errors, 0);
    CHECK_EQ(dnstap_stats(&tap).sent, 100);
    CHECK(arrived_exactly(accepted, na));
    CHECK_EQ(fake.producer[0], 7);
    /* a full queue and a tap shut down: counted as for dnstap_log() */
    fake_reset();
    fake.connect_mode = 1;
    CHECK_EQ(fake_tap(&tap, 512, 1), DNSTAP_OK);
    {
        size_t n = 0;
        int i, full = 0;
        seq_msg(&m, 0, 1);
        CHECK_EQ(dnstap_encode_frame(&tap.enc, &m, frame, sizeof frame, &n), DNSTAP_OK);
        for (i = 0; i < 20; i++) full += dnstap_log_frame(&tap, 0, frame, n) == DNSTAP_ERR_FULL;
        CHECK(full > 0);
        CHECK_EQ(dnstap_stats(&tap).dropped_full, full);
        dnstap_shutdown(&tap, sim_now);
        CHECK_EQ(dnstap_log_frame(&tap, 0, frame, n), DNSTAP_ERR_DISCONNECTED);
        CHECK_EQ(dnstap_stats(&tap).logged, 21);
        CHECK(invariant_ok(&tap));
    }
    run_for(&tap, 100000, 10);
    CHECK(dnstap_closed(&tap));
    CHECK(invariant_ok(&tap));
}

/* Ports are 1..65535 for tcp:// (tls:// shares the parser: tests/tls.sh):
   65536..69999 once wrapped to 0..4463 and port 0 was taken. An unbracketed
   IPv6 address is refused with a message that asks for brackets. */
static void test_endpoint_ports(void) {
    static const char *const bad[] = { "tcp://127.0.0.1:0", "tcp://127.0.0.1:00000", "tcp://127.0.0.1:65536",
                                       "tcp://127.0.0.1:69536", "tcp://127.0.0.1:69999", "tcp://127.0.0.1:70000",
                                       "tcp://127.0.0.1:4294967297", "tcp://127.0.0.1:",
                                       "tcp://[::1]:0", "tcp://[::1]:65536", "tcp://[::1]:-1" };
    static const struct { const char *ep; unsigned port; } good[] = {
        { "tcp://127.0.0.1:1", 1 }, { "tcp://127.0.0.1:65535", 65535 }, { "tcp://[::1]:6000", 6000 },
        { "tcp://127.0.0.1:06000", 6000 } };
    dnstap_desc_t d;
    size_t i;
    memset(&d, 0, sizeof d);
    d.queue = queue_mem;
    d.queue_size = 4096;
    d.logger.func = logger;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        d.endpoint = bad[i];
        last_log[0] = 0;
        if (dnstap_init(&tap, &d) != DNSTAP_ERR_INVALID) { printf("  accepted %s\n", bad[i]); CHECK(0); }
        else if (!strstr(last_log, "1 to 65535")) { printf("  %s: log \"%s\"\n", bad[i], last_log); CHECK(0); }
    }
    for (i = 0; i < sizeof good / sizeof good[0]; i++) {
        const dnstap__sock_t *s = (const dnstap__sock_t *)(const void *)tap.stock.bytes;
        const struct sockaddr_in *in4 = (const struct sockaddr_in *)(const void *)&s->addr;
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)&s->addr;
        d.endpoint = good[i].ep;
        CHECK_EQ(dnstap_init(&tap, &d), DNSTAP_OK);
        CHECK_EQ(ntohs(s->addr.ss_family == AF_INET ? in4->sin_port : in6->sin6_port), good[i].port);
    }
    d.endpoint = "tcp://2001:db8::1";
    last_log[0] = 0;
    CHECK_EQ(dnstap_init(&tap, &d), DNSTAP_ERR_INVALID);
    CHECK(strstr(last_log, "brackets") != NULL);
    d.endpoint = "tcp://2001:db8::1:6000";
    last_log[0] = 0;
    CHECK_EQ(dnstap_init(&tap, &d), DNSTAP_ERR_INVALID);
    CHECK(strstr(last_log, "brackets") != NULL);
}

/* ---- the end, reconnects, a receiver leaving ---------------------------- */

/* A slow receiver (64 KB every 1.5 s, never stalled long enough for the
   write timeout) and 3 MB queued: dnstap_shutdown() ends at
   shutdown_timeout_ms (default 5000), the rest dropped and counted, not after
   the minute the receiver would need. */
static void test_shutdown_limit_slow_receiver(void) {
    uint64_t start, t0 = 0, refill;
    size_t i;
    dnstap_stats_t s;
    fake_reset();
    fake.metered = 1;
    fake.budget = 65536;
    CHECK_EQ(fake_tap(&tap, 1 << 22, 1), DNSTAP_OK);
    CHECK_EQ(tap.desc.shutdown_timeout_ms, 5000);
    for (i = 0; i < 30000; i++) {
        dnstap_msg_t m;
        seq_msg(&m, 0, (uint32_t)i);
        CHECK_EQ(dnstap_log(&tap, &m), DNSTAP_OK);
    }
    start = sim_now = 1000;
    refill = start + 1500;
    for (;;) {
        if (sim_now >= refill) { fake.budget = 65536; refill += 1500; }
        if (sim_now == start + 1500) { dnstap_shutdown(&tap, sim_now); t0 = sim_now; }
        (void)dnstap_poll(&tap, sim_now);
        if (dnstap_closed(&tap) || sim_now > start + 120000) break;
        sim_now += 10;
    }
    s = dnstap_stats(&tap);
    printf("  closed %llu ms after dnstap_shutdown(): %llu sent, %llu dropped at the limit\n",
           (unsigned long long)(sim_now - t0), (unsigned long long)s.sent,
           (unsigned long long)s.dropped_disconnected);
    CHECK(dnstap_closed(&tap));
    CHECK(sim_now - t0 <= 5000);
    CHECK_EQ(s.timeouts, 1);
    CHECK_EQ(tap.last_error, DNSTAP_ERR_TIMEOUT);
    CHECK_EQ(s.connects, 1);
    CHECK_EQ(s.queued, 0);
    CHECK_EQ(s.dropped_full, 0);
    CHECK(s.sent > 0 && s.dropped_disconnected > 0);
    CHECK_EQ(s.dropped_disconnected, s.logged - s.sent);
    CHECK(invariant_ok(&tap));
    for (i = 0; i < s.sent; i++) accepted[i] = (uint32_t)i;
    CHECK(arrived_exactly(accepted, (size_t)s.sent));
    CHECK_EQ(fake.stream_errors, 0);
    CHECK_EQ(fake.violations, 0);
}

/* dnstap_close_now(): closed at once, the queue dropped and counted; STOP
   when the stream is at a frame boundary, none inside a frame. And the
   shutdown limit also cuts a handshake shorter than its own timeout. */
static void test_close_now(void) {
    dnstap_msg_t m;
    dnstap_stats_t s;
    uint64_t t0;
    int i;
    fake_reset();
    CHECK_EQ(fake_tap(&tap, 1 << 16, 1), DNSTAP_OK);
    run_for(&tap, 5, 10);
    CHECK_EQ(tap.state, DNSTAP__S_RUNNING);
    for (i = 0; i < 100; i++) { seq_msg(&m, 0, (uint32_t)i); CHECK_EQ(dnstap_log(&tap, &m), DNSTAP_OK); }
    dnstap_close_now(&tap);
    s = dnstap_stats(&tap);
    CHECK(dnstap_closed(&tap));
    CHECK_EQ(fake.saw_stop, 1);
    CHECK_EQ(fake.clean_end, 1);
    CHECK_EQ(fake.nseq, 0);
    CHECK_EQ(s.sent, 0);
    CHECK_EQ(s.dropped_disconnected, 100);
    CHECK_EQ(dnstap_log(&tap, &m), DNSTAP_ERR_DISCONNECTED);
    CHECK(invariant_ok(&tap));

    /* the receiver took part of a frame: no STOP after it */
    fake_reset();
    fake.metered = 1;
    fake.budget = 1 << 20;
    CHECK_EQ(fake_tap(&tap, 1 << 16, 1), DNSTAP_OK);
    run_for(&tap, 5, 10);
    CHECK_EQ(tap.state, DNSTAP__S_RUNNING);
    for (i = 0; i < 100; i++) { seq_msg(&m, 0, (uint32_t)i); CHECK_EQ(dnstap_log(&tap, &m), DNSTAP_OK); }
    fake.budget = 150;
    tap.desc.flush_bytes = DNSTAP_FLUSH_AT_ONCE;   /* this one poll writes */
    run_for(&tap, 1, 10);
    CHECK(tap.tx_off > 0);
    dnstap_close_now(&tap);
    s = dnstap_stats(&tap);
    CHECK(dnstap_closed(&tap));
    CHECK_EQ(fake.saw_stop, 0);
    CHECK_EQ(fake.closes, 1);
    CHECK(s.sent >= 1 && s.sent == fake.nseq);
    CHECK_EQ(s.dropped_disconnected, 100 - s.sent);
    CHECK(invariant_ok(&tap));

    /* a silent receiver, the limit (1 s) shorter than the handshake timeout (4 s) */
    fake_reset();
    fake.accept_mode = 1;
    CHECK_EQ(fake_tap(&tap, 1 << 16, 1), DNSTAP_OK);
    tap.desc.shutdown_timeout_ms = 1000;
    sim_now = 50000;
    run_for(&tap, 1, 10);
    CHECK_EQ(tap.state, DNSTAP__S_ACCEPT);
    t0 = sim_now;
    dnstap_shutdown(&tap, t0);
    run_for(&tap, 10000, 10);
    CHECK(dnstap_closed(&tap));
    CHECK(sim_now - 10 - t0 <= 1000);
    CHECK(invariant_ok(&tap));
}

/* A receiver that ACCEPTs and drops every connection at once gets no more
   connections in 15 s than the backoff schedule allows (100, 200, ... up to
   1600 ms here, -25 % at most), not one every 100 ms; a connection that
   stayed up backoff_reset_ms starts the schedule over. */
static void test_no_reconnect_storm(void) {
    uint64_t start, t = 0, b, delay;
    unsigned allowed = 1;
    uint32_t i = 0;
    dnstap_msg_t m;
    fake_reset();
    fake.accept_mode = 4;
    CHECK_EQ(fake_tap(&tap, 1 << 16, 1), DNSTAP_OK);
    CHECK_EQ(tap.desc.backoff_reset_ms, 5000);
    start = sim_now = 1000000;
    while (sim_now < start + 15000) {
        seq_msg(&m, 0, i++);
        (void)dnstap_log(&tap, &m);
        (void)dnstap_poll(&tap, sim_now);
        sim_now += 10;
    }
    for (b = tap.desc.backoff_min_ms; t + b - b / 4 <= 15000;
         b = b * 2 < tap.desc.backoff_max_ms ? b * 2 : tap.desc.backoff_max_ms) {
        t += b - b / 4;
        allowed++;
    }
    printf("  15 s of a receiver that drops every connection: %d connections (the backoff allows %u)\n",
           fake.connections, allowed);
    CHECK(fake.connections >= 5);
    CHECK(fake.connections <= (int)allowed);
    CHECK_EQ(dnstap_stats(&tap).connects, fake.connections);
    CHECK_EQ(fake.nseq, 0);
    /* the receiver comes right and stays 5 s; then one loss waits ~100 ms */
    fake.accept_mode = 0;
    for (start = sim_now; sim_now < start + 2000 + 5000; sim_now += 10) {
        seq_msg(&m, 0, i++);
        (void)dnstap_log(&tap, &m);
        (void)dnstap_poll(&tap, sim_now);
    }
    CHECK_EQ(tap.state, DNSTAP__S_RUNNING);
    CHECK(sim_now >= tap.connected_ms + 5000);
    fake.fail_at = fake.offset;
    fake.fail_once = 1;
    tap.desc.flush_bytes = DNSTAP_FLUSH_AT_ONCE;   /* the next poll writes */
    seq_msg(&m, 0, i++);
    (void)dnstap_log(&tap, &m);
    (void)dnstap_poll(&tap, sim_now);
    CHECK_EQ(tap.state, DNSTAP__S_IDLE);
    delay = tap.next_connect_ms - sim_now;
    CHECK(delay >= 75 && delay <= 125);
    finish(&tap);
    CHECK(invariant_ok(&tap));
    CHECK_EQ(dnstap_stats(&tap).sent, fake.nseq);
    CHECK_EQ(fake.stream_errors, 0);
}

/* Full load: frames are logged faster than the receiver takes them (2000
   bytes per poll), so the queue never drains. After 500 frames the
   receiver sends FINISH and closes its side but still takes bytes, as a
   TCP peer does: the next dnstap_poll() reads it, closes and reconnects
   after the backoff. */
static void test_receiver_leaves_under_load(void) {
    unsigned step, polls_after_leave = 0;
    uint32_t i = 0;
    int k;
    fake_reset();
    fake.metered = 1;
    fake.leave_after = 500;
    CHECK_EQ(fake_tap(&tap, 1 << 20, 1), DNSTAP_OK);
    sim_now = 2000000;
    for (step = 0; step < 5000 && fake.connections < 2; step++) {
        for (k = 0; k < 40; k++) {
            dnstap_msg_t m;
            seq_msg(&m, 0, i++);
            (void)dnstap_log(&tap, &m);
        }
        fake.budget = 2000;
        if (fake.left && fake.connected) polls_after_leave++;
        (void)dnstap_poll(&tap, sim_now);
        sim_now += 1;
    }
    printf("  after FINISH: %u polls and %ld bytes on the same connection, %d connections in %u polls\n",
           polls_after_leave, fake.taken_after_leave, fake.connections, step);
    CHECK(dnstap_stats(&tap).queued > 0);
    CHECK(polls_after_leave <= 1);
    CHECK_EQ(fake.taken_after_leave, 0);
    CHECK_EQ(tap.last_error, DNSTAP_ERR_CLOSED);
    CHECK_EQ(fake.connections, 2);
    CHECK_EQ(dnstap_stats(&tap).reconnects, 1);
    fake.metered = 0;
    finish(&tap);
    CHECK(invariant_ok(&tap));
    CHECK_EQ(dnstap_stats(&tap).sent, fake.nseq);
    CHECK_EQ(fake.stream_errors, 0);
    CHECK_EQ(fake.violations, 0);
}

int main(void) {
    TEST(test_plain_stream);
    TEST(test_one_byte_writes);
    TEST(test_would_block_everywhere);
    TEST(test_failure_at_every_offset);
    TEST(test_queue_full_and_too_big);
    TEST(test_log_payload);
    TEST(test_ring_wraps);
    TEST(test_frame_fits_up_to_tail);
    TEST(test_empty_queue_takes_half_plus);
    TEST(test_empty_queue_any_position);
    TEST(test_payload_max_default);
    TEST(test_flush_policy);
    TEST(test_flush_write_count);
    TEST(test_writev_runs);
    TEST(test_write_cap_mid_frame);
    TEST(test_close_now_mid_frame);
    TEST(test_consumer_looks_once);
    TEST(test_failed_init_is_closed);
    TEST(test_zero_tap_is_inert);
    TEST(test_run_without_limit);
    TEST(test_writer_thread_shutdown);
    TEST(test_writer_thread_stops_at_once);
    TEST(test_writer_thread_sleeps_while_away);
    TEST(test_io_states);
    TEST(test_blocked_write_resumes_its_queue);
    TEST(test_handshake_failures_and_backoff);
    TEST(test_timeouts);
    TEST(test_shutdown_while_backing_off);
    TEST(test_drop_policy);
    TEST(test_clock_jumps);
    TEST(test_unidirectional);
    TEST(test_many_taps);
    TEST(test_extra_in_queue);
    TEST(test_claim_past_lagging_tail);
    TEST(test_hostile_messages);
    TEST(test_threads);
    TEST(test_threads_large_frames);
    TEST(test_log_all_threads);
    TEST(test_real_socket_no_allocations);
    TEST(test_real_socket_silent_receiver);
    TEST(test_writer_thread);
    TEST(test_idle_file_tap);
    TEST(test_endpoints);
    TEST(test_drop_reports);
    TEST(test_log_gives_cause);
    TEST(test_log_no_stale_cause);
    TEST(test_init_gives_cause);
    TEST(test_file_fifo);
    TEST(test_file_endpoint_full_disk);
    TEST(test_fork_forget);
    TEST(test_fork_log_frame);
    TEST(test_endpoint_ports);
    TEST(test_shutdown_limit_slow_receiver);
    TEST(test_close_now);
    TEST(test_no_reconnect_storm);
    TEST(test_receiver_leaves_under_load);
    TEST(test_real_socket_slow_receiver_run);
    TEST(test_real_socket_slow_receiver_thread_stop);
    TEST(test_real_socket_slow_receiver_close_now);
    return TEST_EXIT();
}
