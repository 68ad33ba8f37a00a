/* stack.c - the stack high-water mark of dnstap_log() and dnstap_poll(),
   measured by painting: the calls run on a thread whose stack is our own
   array; before each call the free part of it below the stack pointer is
   filled with a pattern, after it the lowest byte no longer holding the
   pattern tells how deep the call went (its frames, everything it called,
   and our callbacks, which are a few bytes each).

   The calls go through every path of the two functions: `full` and not,
   a per-message extra from a callback, a full queue, the DROP policy;
   connecting (would block, then connected), READY and START written a
   byte at a time, ACCEPT read a byte at a time, a wrong ACCEPT, a write
   error and a timeout (closing, logging, backing off, reconnecting), drop
   reports, data written partially and after "would block", shutdown with
   STOP and FINISH, and a unidirectional tap.

   Prints "stack: dnstap_log N" and "stack: dnstap_poll N" (bytes) and
   the number of calls measured; tests/stack.sh compares them with the
   limits. Build: cc -O2 -I. tests/stack.c -pthread (add -DDNSTAP_FREESTANDING
   -DDNSTAP_NO_DECODE -DDNSTAP_NO_NANOPB_ENCODE for the embedded core).
   Link with -Wl,-z,now: a lazily bound libc function (the first strlen
   or memcpy) would go through the dynamic linker's resolver, which saves
   the vector registers on the stack (2-3 KB on x86-64) inside the call
   being measured. */
#define _POSIX_C_SOURCE 200809L
#define DNSTAP_IMPLEMENTATION
#include "../dnstap.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STACK_SIZE (256u * 1024u)
#define PAINT_WINDOW (64u * 1024u)   /* painted below the stack pointer */
#define GAP 128u                      /* left unpainted just below it */
#define PATTERN 0xA5u

static uint8_t thread_stack[STACK_SIZE] __attribute__((aligned(4096)));

/* The stack pointer of the caller, as exactly as the architecture allows. */
#if defined(__x86_64__)
#define GET_SP(v) __asm__ __volatile__("mov %%rsp, %0" : "=r"(v))
#elif defined(__i386__)
#define GET_SP(v) __asm__ __volatile__("mov %%esp, %0" : "=r"(v))
#elif defined(__aarch64__) || defined(__arm__)
#define GET_SP(v) __asm__ __volatile__("mov %0, sp" : "=r"(v))
#elif defined(__s390x__)
#define GET_SP(v) __asm__ __volatile__("lgr %0, %%r15" : "=r"(v))
#else
#define GET_SP(v) do { volatile uint8_t here_; (v) = (uintptr_t)&here_; } while (0)
#endif

/* Paint [sp - window, sp - GAP) with a loop here, in this frame (a call
   would put its own frame where we paint). */
#define PAINT(sp) do { \
        volatile uint8_t *p_ = (volatile uint8_t *)((sp) - PAINT_WINDOW); \
        while ((uintptr_t)p_ < (sp) - GAP) *p_++ = PATTERN; } while (0)

static size_t depth(uintptr_t sp) {
    const volatile uint8_t *p = (const volatile uint8_t *)(sp - PAINT_WINDOW);
    while ((uintptr_t)p < sp - GAP && *p == PATTERN) p++;
    return (size_t)(sp - (uintptr_t)p);
}

/* Called through volatile pointers so that they cannot be inlined here. */
static dnstap_result_t (*volatile call_log)(dnstap_t *, const dnstap_msg_t *) = dnstap_log;
static dnstap_result_t (*volatile call_poll)(dnstap_t *, uint64_t) = dnstap_poll;

static size_t max_log, max_poll;
static unsigned long n_log, n_poll;
static int window_hit;

static __attribute__((noinline)) dnstap_result_t m_log(dnstap_t *tap, const dnstap_msg_t *m) {
    uintptr_t sp;
    dnstap_result_t r;
    size_t d;
    GET_SP(sp);
    PAINT(sp);
    r = call_log(tap, m);
    d = depth(sp);
    if (d > max_log) max_log = d;
    if (d >= PAINT_WINDOW) window_hit = 1;
    n_log++;
    return r;
}

static __attribute__((noinline)) dnstap_result_t m_poll(dnstap_t *tap, uint64_t now) {
    uintptr_t sp;
    dnstap_result_t r;
    size_t d;
    GET_SP(sp);
    PAINT(sp);
    r = call_poll(tap, now);
    d = depth(sp);
    if (d > max_poll) max_poll = d;
    if (d >= PAINT_WINDOW) window_hit = 1;
    n_poll++;
    return r;
}

/* ---- a scripted in-memory receiver ----------------------------------- */
typedef struct fake_t {
    int connect_again;      /* connect() would block this many times */
    int byte_at_a_time;     /* write() and read() take or give one byte */
    int write_again;        /* every other write() would block */
    int fail_writes_after;  /* write() fails once this many bytes went (0: never) */
    int bad_accept;         /* ACCEPT carries another content type */
    int silent;             /* never answer */
    size_t written, flip;
    uint8_t reply[64];
    size_t reply_len, reply_off;
    int got_stop;
} fake_t;

static fake_t fake;

static void fake_queue_reply(dnstap_control_t type, const char *ct) {
    const char *cts[1];
    size_t n;
    cts[0] = ct;
    if (dnstap_control_frame(fake.reply, sizeof fake.reply, type, cts, ct ? 1u : 0u, &n) != DNSTAP_OK) abort();
    fake.reply_len = n;
    fake.reply_off = 0;
}

static dnstap_result_t fake_connect(void *ctx) {
    (void)ctx;
    if (fake.connect_again > 0) { fake.connect_again--; return DNSTAP_ERR_AGAIN; }
    fake.reply_len = fake.reply_off = 0;
    fake.got_stop = 0;
    return DNSTAP_OK;
}

static int fake_write(void *ctx, const uint8_t *buf, size_t len) {
    size_t n = len;
    (void)ctx;
    if (fake.write_again && (fake.flip++ & 1u)) return DNSTAP_ERR_AGAIN;
    if (fake.fail_writes_after && fake.written >= (size_t)fake.fail_writes_after) {
        fake.fail_writes_after = 0;
        return DNSTAP_ERR_IO;
    }
    if (fake.byte_at_a_time) n = 1;
    /* a READY or STOP from us makes the receiver answer */
    if (len >= 12 && buf[0] == 0 && buf[1] == 0 && buf[2] == 0 && buf[3] == 0 && !fake.silent) {
        uint32_t type = (uint32_t)buf[8] << 24 | (uint32_t)buf[9] << 16 | (uint32_t)buf[10] << 8 | buf[11];
        if (type == DNSTAP_CONTROL_READY)
            fake_queue_reply(DNSTAP_CONTROL_ACCEPT, fake.bad_accept ? "protobuf:other" : DNSTAP_CONTENT_TYPE);
        if (type == DNSTAP_CONTROL_STOP) { fake_queue_reply(DNSTAP_CONTROL_FINISH, NULL); fake.got_stop = 1; }
    }
    fake.written += n;
    return (int)n;
}

static int fake_read(void *ctx, uint8_t *buf, size_t len) {
    size_t n;
    (void)ctx;
    if (fake.reply_off >= fake.reply_len) return DNSTAP_ERR_AGAIN;
    n = fake.reply_len - fake.reply_off;
    if (n > len) n = len;
    if (fake.byte_at_a_time) n = 1;
    memcpy(buf, fake.reply + fake.reply_off, n);
    fake.reply_off += n;
    return (int)n;
}

static void fake_close(void *ctx) { (void)ctx; }
static int fake_fd(void *ctx) { (void)ctx; return -1; }

static size_t log_lines;
static void logger(void *ctx, dnstap_log_level_t level, const char *message) {
    (void)ctx; (void)level; (void)message;
    log_lines++;
}

static size_t extra_fn(void *ctx, const dnstap_msg_t *msg, uint8_t *buf, size_t cap) {
    (void)ctx;
    if (cap < 8) return (size_t)-1;
    memcpy(buf, "port=", 5);
    buf[5] = (uint8_t)('0' + msg->query_port % 10u);
    return 6;
}

/* ---- the scenario ---------------------------------------------------- */
static const uint8_t addr6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x53 };
static uint8_t wire[512];

static void make_msg(dnstap_msg_t *m, uint32_t i) {
    memset(m, 0, sizeof *m);
    m->type = (i & 1u) ? DNSTAP_CLIENT_RESPONSE : DNSTAP_CLIENT_QUERY;
    m->socket_family = DNSTAP_INET6;
    m->socket_protocol = DNSTAP_UDP;
    m->query_address.data = addr6; m->query_address.len = 16;
    m->response_address.data = addr6; m->response_address.len = 16;
    m->query_port = 40000u + i; m->response_port = 53;
    m->has = DNSTAP_HAS_QUERY_PORT | DNSTAP_HAS_RESPONSE_PORT;
    dnstap_msg_set_query_time(m, 1700000000u + i, i * 1000u);
    m->query_message.data = wire; m->query_message.len = 29 + i % 64u;
    if (i & 1u) {
        dnstap_msg_set_response_time(m, 1700000000u + i, i * 1000u + 500u);
        m->response_message.data = wire; m->response_message.len = 45 + i % 300u;
    }
    if (i % 5u == 0) {
        m->policy.type = dnstap_str("RPZ");
        m->policy.action = DNSTAP_ACTION_NXDOMAIN;
        m->policy.match = DNSTAP_MATCH_QNAME;
        m->policy.value = dnstap_str("bad.example");
    }
    if (i % 7u == 0) m->http_protocol = DNSTAP_HTTP2;
    if (i % 11u == 0) m->extra = dnstap_str("per-message extra");
    if (i % 13u == 0) m->identity = dnstap_str("override");
}

static uint8_t qmem[16384];

static void tap_init(dnstap_t *tap, bool full, bool extra, bool unidirectional, dnstap_disconnected_t policy,
                     size_t queue_size) {
    dnstap_desc_t d;
    memset(&d, 0, sizeof d);
    d.full = full;
    d.queue = qmem;
    d.queue_size = queue_size;
    d.identity = dnstap_str("stack-test");
    d.version = dnstap_str("stack.c");
    if (extra) { d.extra_fn = extra_fn; d.extra_ctx = NULL; }
    d.unidirectional = unidirectional;
    d.while_disconnected = policy;
    d.backoff_min_ms = 10;
    d.backoff_max_ms = 40;
    d.connect_timeout_ms = 50;
    d.handshake_timeout_ms = 50;
    d.write_timeout_ms = 50;
    d.finish_timeout_ms = 50;
    d.drop_report_ms = 5;
    d.logger.func = logger;
    d.transport.connect = fake_connect;
    d.transport.write = fake_write;
    d.transport.read = fake_read;
    d.transport.close = fake_close;
    d.transport.fd = fake_fd;
    if (dnstap_init(tap, &d) != DNSTAP_OK) { fprintf(stderr, "stack: dnstap_init failed\n"); exit(2); }
}

static dnstap_t tap;

static void run(uint64_t *now, unsigned polls) {
    unsigned i;
    for (i = 0; i < polls; i++) { (void)m_poll(&tap, *now); *now += 1; }
}

static void finish(uint64_t *now) {
    unsigned i;
    dnstap_shutdown(&tap, *now);
    for (i = 0; i < 10000 && !dnstap_closed(&tap); i++) { (void)m_poll(&tap, *now); *now += 1; }
    if (!dnstap_closed(&tap)) { fprintf(stderr, "stack: tap did not close\n"); exit(2); }
}

static void scenario(void) {
    uint64_t now = 1000;
    uint32_t i;
    dnstap_msg_t m;
    unsigned variant;
    for (variant = 0; variant < 4; variant++) {
        memset(&fake, 0, sizeof fake);
        fake.connect_again = 3;
        fake.byte_at_a_time = variant == 1;
        fake.write_again = variant == 2;
        fake.fail_writes_after = variant == 3 ? 700 : 0;
        tap_init(&tap, variant != 1, variant == 1 || variant == 3, false, DNSTAP_KEEP_WHILE_DISCONNECTED,
                 variant == 0 ? 2048 : sizeof qmem);
        for (i = 0; i < 400; i++) {
            make_msg(&m, i);
            (void)m_log(&tap, &m);                 /* variant 0: the small queue fills: drops */
            if (i % 3u == 0) run(&now, 2);
        }
        run(&now, 200);
        finish(&now);
    }
    /* a wrong ACCEPT, a silent receiver (handshake timeout), then a good one */
    memset(&fake, 0, sizeof fake);
    fake.bad_accept = 1;
    tap_init(&tap, true, false, false, DNSTAP_DROP_WHILE_DISCONNECTED, sizeof qmem);
    for (i = 0; i < 20; i++) { make_msg(&m, i); (void)m_log(&tap, &m); run(&now, 3); }
    fake.bad_accept = 0;
    fake.silent = 1;
    run(&now, 200);
    fake.silent = 0;
    run(&now, 200);
    for (i = 0; i < 50; i++) { make_msg(&m, i); (void)m_log(&tap, &m); run(&now, 1); }
    finish(&now);
    /* unidirectional, with a write timeout (writes would block for good) */
    memset(&fake, 0, sizeof fake);
    tap_init(&tap, true, true, true, DNSTAP_KEEP_WHILE_DISCONNECTED, sizeof qmem);
    for (i = 0; i < 50; i++) { make_msg(&m, i); (void)m_log(&tap, &m); run(&now, 1); }
    fake.write_again = 1;
    fake.flip = 1;
    for (i = 0; i < 200; i++) { fake.flip = 1; run(&now, 1); }
    fake.write_again = 0;
    run(&now, 300);
    finish(&now);
}

static void *thread_main(void *arg) {
    (void)arg;
    scenario();
    return NULL;
}

int main(void) {
    pthread_attr_t a;
    pthread_t th;
    memset(wire, 0x5a, sizeof wire);
    if (pthread_attr_init(&a) != 0 || pthread_attr_setstack(&a, thread_stack, sizeof thread_stack) != 0 ||
        pthread_create(&th, &a, thread_main, NULL) != 0 || pthread_join(th, NULL) != 0) {
        fprintf(stderr, "stack: cannot run the measuring thread\n");
        return 2;
    }
    if (window_hit) { fprintf(stderr, "stack: a call used the whole painted window\n"); return 2; }
    printf("stack: dnstap_log %lu\n", (unsigned long)max_log);
    printf("stack: dnstap_poll %lu\n", (unsigned long)max_poll);
    printf("stack: calls measured: %lu dnstap_log, %lu dnstap_poll; %lu log lines\n", n_log, n_poll,
           (unsigned long)log_lines);
    return 0;
}
