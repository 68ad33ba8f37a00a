/* baremetal.c - dnstap from a Cortex-M4 with no OS, no heap and no clock.

   A DNS responder on a microcontroller (an STM32F4-class Cortex-M4; the
   register addresses below are the STM32F4's) logs CLIENT_QUERY and
   CLIENT_RESPONSE for every query it answers, and ships the log out of its
   UART at 115200 baud as a plain Frame Streams byte stream (START, data
   frames, STOP): capture it on a PC with
       socat -u /dev/ttyUSB0,b115200,raw,echo=0 CREATE:router.fstrm
   and read it with `fstrm_dump router.fstrm` or `dnstap -r router.fstrm -y`.

   What it shows:
   - dnstap.h built freestanding (DNSTAP_FREESTANDING): no POSIX, no stdio,
     nothing from the C library but memcpy and memset. It also builds with
     the nanopb decoder and encoder (leave out DNSTAP_NO_DECODE and
     DNSTAP_NO_NANOPB_ENCODE and compile nanopb's pb_*.c): then a power-on
     self test decodes what the encoder wrote and compares the direct
     encoder with nanopb's, byte for byte.
   - A custom transport: write() copies frames into a 512-byte TX ring that
     the UART's "transmit register empty" interrupt drains one byte at a
     time. When the ring is full write() takes what fits, or returns
     DNSTAP_ERR_AGAIN; dnstap_poll() resumes exactly there later. Nothing
     ever waits for the UART. A UART cannot be "reconnected" mid-stream, so
     the stream is unidirectional and the write timeout is disabled.
   - DNSTAP_NOW from the SysTick millisecond counter: with no RTC, message
     times count from boot (plus bm_epoch_at_boot, which firmware that
     learns the wall time, e.g. by SNTP, may set).
   - Static memory only: the tap and its 2 KiB queue are in .bss, with
     DNSTAP_MAX_QUEUES, DNSTAP_PREFIX_MAX and DNSTAP_EXTRA_MAX cut down to
     what one producer without a per-message extra needs.
   - The main loop: dnstap_log() on the query path (encodes straight into
     the queue, never blocks; a full queue drops the message and counts it),
     dnstap_poll() once per tick to move frames to the UART.

   The DNS traffic is simulated (a small generator stands in for the
   network stack), including a burst that overflows the queue, so drops are
   shown being counted while the stream stays valid.

   The same file builds and runs on a POSIX host (any target that is not a
   bare-metal ARM): a shim replaces the UART registers by a byte budget of
   115200 baud per simulated millisecond, written to a file, and the SysTick
   by a loop counter. The host run serves QUERIES queries (default 500),
   shuts the tap down (STOP), waits for the UART to drain, prints the
   counters on stderr and exits non-zero if they do not add up:
       baremetal [OUT.fstrm [QUERIES]]      (default: standard output)

   Cortex-M4 build (Debian: gcc-arm-none-eabi, libnewlib-arm-none-eabi;
   INC holds copies of nanopb's pb.h and pb_*.h, which the embedded schema
   needs even without nanopb's code):
       arm-none-eabi-gcc -std=c99 -mcpu=cortex-m4 -mthumb -Os -ffunction-sections \
           -fdata-sections -Wl,--gc-sections --specs=nano.specs --specs=nosys.specs \
           -DDNSTAP_FREESTANDING -DDNSTAP_NO_DECODE -DDNSTAP_NO_NANOPB_ENCODE \
           -I. -isystem INC examples/baremetal.c -o baremetal.elf
   `tests/size.sh` builds it in each configuration and prints the sizes.
   The vector table here is enough for the linker; a real board uses its
   vendor's startup file and linker script, with these handlers. */

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__arm__) && !defined(__linux__) && !defined(BM_HOST)
#define BM_TARGET 1
#else
#define BM_TARGET 0
#include <stdio.h>
#include <stdlib.h>
#endif

#ifndef DNSTAP_FREESTANDING
#define DNSTAP_FREESTANDING
#endif
#define DNSTAP_MAX_QUEUES 1     /* one producer: the main loop */
#define DNSTAP_PREFIX_MAX 64    /* identity + version, encoded once */
#define DNSTAP_EXTRA_MAX 16     /* no per-message extra here */

#if defined(__GNUC__) || defined(__clang__)
#define BM_BARRIER() __asm__ __volatile__("" ::: "memory")
#else
#define BM_BARRIER() ((void)0)
#endif

/* ---- the clock: the SysTick interrupt counts milliseconds since boot ---- */
static volatile uint32_t bm_uptime_s;    /* written by the tick interrupt only */
static volatile uint32_t bm_uptime_ms;   /* 0..999 */
static uint32_t bm_epoch_at_boot;        /* 0 until the firmware learns the time */

static void bm_systick(void) {
    uint32_t ms = bm_uptime_ms + 1;
    if (ms == 1000) { bm_uptime_s = bm_uptime_s + 1; ms = 0; }
    bm_uptime_ms = ms;
}

/* A consistent (seconds, milliseconds) pair: read again if a tick carried
   into the seconds meanwhile. */
static void bm_uptime(uint32_t *s, uint32_t *ms) {
    uint32_t s0;
    do {
        s0 = bm_uptime_s;
        *ms = bm_uptime_ms;
        *s = bm_uptime_s;
    } while (*s != s0);
}

static uint64_t bm_now_ms(void) {
    uint32_t s, ms;
    bm_uptime(&s, &ms);
    return (uint64_t)s * 1000u + ms;
}

/* dnstap_now() and so every message time comes from here: no RTC, no
   64-bit division. */
#define DNSTAP_NOW(sec, nsec) do { uint32_t bm_s_, bm_ms_; bm_uptime(&bm_s_, &bm_ms_); \
        (sec) = (uint64_t)bm_epoch_at_boot + bm_s_; (nsec) = bm_ms_ * 1000000u; } while (0)

#define DNSTAP_IMPLEMENTATION
#include "../dnstap.h"

/* ---- the UART: registers on the target, a byte budget on the host ---- */
#if BM_TARGET
#define BM_REG(addr) (*(volatile uint32_t *)(addr))
#define BM_CPU_HZ 16000000u                  /* STM32F4 after reset: HSI 16 MHz */
#define RCC_AHB1ENR  BM_REG(0x40023830u)
#define RCC_APB1ENR  BM_REG(0x40023840u)
#define GPIOA_MODER  BM_REG(0x40020000u)
#define GPIOA_AFRL   BM_REG(0x40020020u)
#define USART2_SR    BM_REG(0x40004400u)
#define USART2_DR    BM_REG(0x40004404u)
#define USART2_BRR   BM_REG(0x40004408u)
#define USART2_CR1   BM_REG(0x4000440Cu)
#define USART_SR_TXE     (1u << 7)
#define USART_CR1_TXEIE  (1u << 7)
#define USART_CR1_TE     (1u << 3)
#define USART_CR1_UE     (1u << 13)
#define NVIC_ISER1   BM_REG(0xE000E104u)     /* USART2 is IRQ 38 */
#define SYST_CSR     BM_REG(0xE000E010u)
#define SYST_RVR     BM_REG(0xE000E014u)
#define SYST_CVR     BM_REG(0xE000E018u)
#define SCB_VTOR     BM_REG(0xE000ED08u)

static int bm_uart_tx_ready(void) { return (USART2_SR & USART_SR_TXE) != 0; }
static void bm_uart_put(uint8_t b) { USART2_DR = b; }
static void bm_uart_tx_idle(void) { USART2_CR1 &= ~USART_CR1_TXEIE; }   /* ring empty: stop interrupts */
static void bm_uart_kick(void) { USART2_CR1 |= USART_CR1_TXEIE; }       /* data queued: interrupt when TXE */
#else
static FILE *bm_out;
static uint32_t bm_baud_credit, bm_tx_budget;   /* bytes the "wire" takes this tick */
static int bm_uart_tx_ready(void) { return bm_tx_budget > 0; }
static void bm_uart_put(uint8_t b) { bm_tx_budget--; (void)putc(b, bm_out); }
static void bm_uart_tx_idle(void) { }
static void bm_uart_kick(void) { }
#endif

/* The TX ring: the main loop (dnstap_poll) fills it, the interrupt drains
   it. Free-running indices, one writer each. */
#define BM_TX_RING 512u                      /* a power of two */
static uint8_t bm_tx_ring[BM_TX_RING];
static volatile uint32_t bm_tx_head;        /* main loop's */
static volatile uint32_t bm_tx_tail;        /* interrupt's */

/* USART "transmit data register empty" interrupt. */
static void bm_uart_isr(void) {
    while (bm_uart_tx_ready()) {
        uint32_t t = bm_tx_tail;
        if (t == bm_tx_head) { bm_uart_tx_idle(); return; }
        BM_BARRIER();
        bm_uart_put(bm_tx_ring[t & (BM_TX_RING - 1)]);
        bm_tx_tail = t + 1;
    }
}

/* The transport's write(): take what fits, never wait. */
static int bm_uart_write(void *ctx, const uint8_t *buf, size_t len) {
    uint32_t h = bm_tx_head, room = BM_TX_RING - (h - bm_tx_tail), i, n;
    (void)ctx;
    n = len < room ? (uint32_t)len : room;
    if (n == 0) return DNSTAP_ERR_AGAIN;
    for (i = 0; i < n; i++) bm_tx_ring[(h + i) & (BM_TX_RING - 1)] = buf[i];
    BM_BARRIER();                            /* the bytes before the index */
    bm_tx_head = h + n;
    bm_uart_kick();
    return (int)n;
}

#if !BM_TARGET
static int bm_uart_busy(void) { return bm_tx_head != bm_tx_tail; }
#endif

/* ---- board: interrupts, vectors, waiting for the next tick ---- */
#if BM_TARGET
void SysTick_Handler(void);
void USART2_IRQHandler(void);
void SysTick_Handler(void) { bm_systick(); }
void USART2_IRQHandler(void) { bm_uart_isr(); }

static void bm_fault(void) { for (;;) { } }
extern void _start(void);                    /* newlib's crt0: .bss, then main() */
static void bm_reset(void) { _start(); }

static uint32_t bm_main_stack[512];
typedef void (*bm_handler_t)(void);
typedef struct bm_vectors_t {
    uint32_t *initial_sp;
    bm_handler_t handler[15 + 39];           /* exceptions 1-15, IRQ 0-38 */
} bm_vectors_t;
/* VTOR wants the table aligned to its size rounded up to a power of two. */
__attribute__((section(".isr_vector"), used, aligned(256)))
static const bm_vectors_t bm_vectors = {
    &bm_main_stack[512],
    { bm_reset, bm_fault, bm_fault, bm_fault, bm_fault, bm_fault, 0, 0, 0, 0,
      bm_fault, bm_fault, 0, bm_fault, SysTick_Handler,
      [15 + 38] = USART2_IRQHandler }
};

static void bm_board_init(void) {
    SCB_VTOR = (uint32_t)(uintptr_t)&bm_vectors;
    RCC_AHB1ENR |= 1u;                                   /* GPIOA */
    RCC_APB1ENR |= 1u << 17;                             /* USART2 */
    GPIOA_MODER = (GPIOA_MODER & ~(3u << 4)) | (2u << 4);        /* PA2: alternate function */
    GPIOA_AFRL = (GPIOA_AFRL & ~(15u << 8)) | (7u << 8);         /* AF7: USART2_TX */
    USART2_BRR = (BM_CPU_HZ + 115200u / 2) / 115200u;
    USART2_CR1 = USART_CR1_UE | USART_CR1_TE;
    NVIC_ISER1 = 1u << (38 - 32);
    SYST_RVR = BM_CPU_HZ / 1000u - 1u;
    SYST_CVR = 0;
    SYST_CSR = 7u;                                       /* core clock, interrupt, on */
}

static void bm_wait_tick(void) { __asm__ __volatile__("wfi"); }
#else
/* One simulated millisecond: the tick, then 115200 baud's worth of UART. */
static void bm_wait_tick(void) {
    bm_systick();
    bm_baud_credit += 1152u;                 /* 11.52 bytes per ms, in hundredths */
    bm_tx_budget = bm_baud_credit / 100u;
    bm_baud_credit %= 100u;
    bm_uart_isr();
    bm_tx_budget = 0;
}
#endif

/* ---- a stand-in for the network: queries arriving, answers going ---- */
typedef struct bm_wire_t { uint8_t b[96]; uint32_t n; } bm_wire_t;

static void bm_put16(bm_wire_t *w, uint32_t v) {
    w->b[w->n++] = (uint8_t)(v >> 8);
    w->b[w->n++] = (uint8_t)v;
}

static void bm_put_name(bm_wire_t *w, const char *name) {
    while (*name) {
        uint32_t len = 0;
        while (name[len] && name[len] != '.') len++;
        w->b[w->n++] = (uint8_t)len;
        memcpy(w->b + w->n, name, len);
        w->n += len;
        name += len + (name[len] == '.');
    }
    w->b[w->n++] = 0;
}

static const char *const bm_names[4] = { "router.lan", "example.org", "pool.ntp.org", "printer.lan" };

/* Query number seq: id = seq, QTYPE A or AAAA; the answer echoes it with
   one A record for A queries. */
static void bm_make_exchange(uint32_t seq, bm_wire_t *q, bm_wire_t *r) {
    uint32_t qtype = (seq % 3u == 2u) ? 28u : 1u;
    q->n = 0;
    bm_put16(q, seq & 0xffffu); bm_put16(q, 0x0100u);       /* RD */
    bm_put16(q, 1); bm_put16(q, 0); bm_put16(q, 0); bm_put16(q, 0);
    bm_put_name(q, bm_names[seq % 4u]);
    bm_put16(q, qtype); bm_put16(q, 1);
    memcpy(r->b, q->b, q->n);
    r->n = q->n;
    r->b[2] = 0x81; r->b[3] = 0x80;                          /* QR RD RA, NOERROR */
    if (qtype == 1u) {
        r->b[7] = 1;                                         /* ANCOUNT */
        bm_put16(r, 0xc00cu); bm_put16(r, 1); bm_put16(r, 1);
        bm_put16(r, 0); bm_put16(r, 300);                    /* TTL */
        bm_put16(r, 4);
        r->b[r->n++] = 192; r->b[r->n++] = 168; r->b[r->n++] = 1; r->b[r->n++] = (uint8_t)(10 + seq % 200u);
    }
}

/* Is there a query this tick? About one per 40 ms, and a burst of 40 at
   t = 3 s that the 2 KiB queue cannot hold while the UART is this slow. */
static uint32_t bm_rng = 12345u;
static int bm_query_arrives(uint64_t now_ms) {
    bm_rng = bm_rng * 1103515245u + 12345u;
    if (now_ms >= 3000 && now_ms < 3040) return 1;
    return (bm_rng >> 16) % 40u == 0;
}

static const uint8_t bm_router_addr[4] = { 192, 168, 1, 1 };

static dnstap_t bm_tap;
static uint8_t bm_queue[2048];

/* What the responder does with one query: log it, answer it, log that. */
static void bm_serve(uint32_t seq) {
    bm_wire_t q, r;
    uint8_t client[4];
    dnstap_msg_t m;
    uint64_t sec;
    uint32_t nsec;
    client[0] = 192; client[1] = 168; client[2] = 1; client[3] = (uint8_t)(100 + seq % 50u);
    bm_make_exchange(seq, &q, &r);
    memset(&m, 0, sizeof m);
    m.type = DNSTAP_CLIENT_QUERY;
    m.socket_family = DNSTAP_INET;
    m.socket_protocol = DNSTAP_UDP;
    m.query_address.data = client; m.query_address.len = 4;
    m.response_address.data = bm_router_addr; m.response_address.len = 4;
    m.query_port = 40000u + seq % 20000u; m.response_port = 53;
    m.has |= DNSTAP_HAS_QUERY_PORT | DNSTAP_HAS_RESPONSE_PORT;
    (void)dnstap_now(&sec, &nsec);
    dnstap_msg_set_query_time(&m, sec, nsec);
    m.query_message.data = q.b; m.query_message.len = q.n;
    (void)dnstap_log(&bm_tap, &m);           /* drops are counted in the stats */
    /* ... the answer is looked up and sent here ... */
    m.type = DNSTAP_CLIENT_RESPONSE;
    (void)dnstap_now(&sec, &nsec);
    dnstap_msg_set_response_time(&m, sec, nsec);
    m.response_message.data = r.b; m.response_message.len = r.n;
    (void)dnstap_log(&bm_tap, &m);
}

#if !defined(DNSTAP_NO_DECODE) || !defined(DNSTAP_NO_NANOPB_ENCODE)
/* Power-on self test with nanopb's runtime linked in: the direct encoder's
   payload decodes to what went in, and equals nanopb's pb_encode() output. */
static int bm_self_test(void) {
    static uint8_t a[256];
    bm_wire_t q, r;
    dnstap_msg_t m;
    size_t n;
    bm_make_exchange(7, &q, &r);
    memset(&m, 0, sizeof m);
    m.type = DNSTAP_CLIENT_RESPONSE;
    m.socket_family = DNSTAP_INET;
    m.query_address.data = bm_router_addr; m.query_address.len = 4;
    m.query_port = 53; m.has |= DNSTAP_HAS_QUERY_PORT;
    dnstap_msg_set_response_time(&m, 1700000000u, 5u);
    m.response_message.data = r.b; m.response_message.len = r.n;
    if (dnstap_encode(&bm_tap.enc, &m, a, sizeof a, &n) != DNSTAP_OK) return 0;
#ifndef DNSTAP_NO_DECODE
    {
        dnstap_msg_t d;
        if (dnstap_decode(a, n, &d) != DNSTAP_OK || d.type != m.type || d.query_port != 53 ||
            d.response_time_sec != 1700000000u || d.response_message.len != r.n ||
            memcmp(d.response_message.data, r.b, r.n) != 0)
            return 0;
    }
#endif
#ifndef DNSTAP_NO_NANOPB_ENCODE
    {
        static uint8_t b[256];
        size_t nb;
        if (dnstap_encode_nanopb(&bm_tap.enc, &m, b, sizeof b, &nb) != DNSTAP_OK || nb != n ||
            memcmp(a, b, n) != 0)
            return 0;
    }
#endif
    return 1;
}
#else
static int bm_self_test(void) { return 1; }
#endif

#if BM_TARGET
int main(void)
#else
int main(int argc, char **argv)
#endif
{
    dnstap_desc_t d;
    uint32_t seq = 0;
    uint64_t last_ms = 0;
#if BM_TARGET
    bm_board_init();
#else
    uint32_t queries = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 10) : 500u;
    uint32_t guard;
    dnstap_stats_t s;
    bm_out = argc > 1 ? fopen(argv[1], "wb") : stdout;
    if (bm_out == NULL) { perror(argv[1]); return 2; }
#endif
    memset(&d, 0, sizeof d);
    d.transport.write = bm_uart_write;       /* connect, read, close: none on a UART */
    d.unidirectional = true;                 /* START, data, STOP: no handshake */
    d.full = true;                           /* with the DNS messages */
    d.queue = bm_queue;
    d.queue_size = sizeof bm_queue;
    d.identity = dnstap_str("m4-router");
    d.version = dnstap_str("baremetal.c " DNSTAP_VERSION_STRING);
    d.payload_max = 512;                     /* nothing here is bigger */
    d.write_timeout_ms = 0xFFFFFFFFu;        /* a UART is slow, never dead */
    d.flush_bytes = DNSTAP_FLUSH_AT_ONCE;    /* a write is a copy into the TX ring:
                                                nothing to save by batching */
    if (dnstap_init(&bm_tap, &d) != DNSTAP_OK || !bm_self_test()) {
#if BM_TARGET
        for (;;) { }
#else
        fprintf(stderr, "baremetal: dnstap_init or the self test failed\n");
        return 1;
#endif
    }

    for (;;) {
        uint64_t now;
        bm_wait_tick();
        now = bm_now_ms();
        if (now == last_ms) continue;        /* woken by the UART, not by the tick */
        last_ms = now;
#if !BM_TARGET
        if (seq == queries) break;
#endif
        if (bm_query_arrives(now)) bm_serve(seq++);
        (void)dnstap_poll(&bm_tap, now);     /* moves frames to the TX ring */
    }

#if !BM_TARGET
    /* Host only: finish the stream (STOP) and let the UART drain. */
    dnstap_shutdown(&bm_tap, bm_now_ms());
    for (guard = 0; guard < 600000u && (!dnstap_closed(&bm_tap) || bm_uart_busy()); guard++) {
        bm_wait_tick();
        (void)dnstap_poll(&bm_tap, bm_now_ms());
    }
    s = dnstap_stats(&bm_tap);
    if (fflush(bm_out) != 0 || (bm_out != stdout && fclose(bm_out) != 0)) { perror("baremetal"); return 2; }
    fprintf(stderr, "baremetal: queries=%lu logged=%llu sent=%llu sent_bytes=%llu dropped_full=%llu "
            "dropped_other=%llu queued=%llu uptime_ms=%llu\n", (unsigned long)seq,
            (unsigned long long)s.logged, (unsigned long long)s.sent, (unsigned long long)s.sent_bytes,
            (unsigned long long)s.dropped_full,
            (unsigned long long)(s.dropped_too_big + s.dropped_invalid + s.dropped_disconnected +
                                 s.dropped_write_error),
            (unsigned long long)s.queued, (unsigned long long)bm_now_ms());
    return (dnstap_closed(&bm_tap) && !bm_uart_busy() && s.logged == 2u * seq &&
            s.logged == s.sent + s.dropped_full + s.dropped_too_big + s.dropped_invalid +
                            s.dropped_disconnected + s.dropped_write_error + s.queued) ? 0 : 1;
#endif
}
