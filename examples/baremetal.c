/* baremetal.c - dnstap from a microcontroller with no OS, no heap and no clock.

   A DNS responder on a microcontroller (an STM32F4-class Cortex-M4; also
   an ARM MPS2 board and a RISC-V rv32imac board, below) logs CLIENT_QUERY
   and CLIENT_RESPONSE for every query it answers, and ships the log out of its
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
   - DNSTAP_NOW from the tick interrupt's millisecond counter: with no RTC,
     message times count from boot (plus bm_epoch_at_boot, which firmware that
     learns the wall time, e.g. by SNTP, may set).
   - Static memory only: the tap and its 2 KiB queue are in .bss, with
     DNSTAP_MAX_QUEUES, DNSTAP_PREFIX_MAX and DNSTAP_EXTRA_MAX cut down to
     what one producer without a per-message extra needs.
   - The main loop: dnstap_log() on the query path (encodes straight into
     the queue, never blocks; a full queue drops the message and counts it),
     dnstap_poll() once per tick to move frames to the UART.

   The DNS traffic is simulated (a small generator stands in for the
   network stack), including a burst that overflows the queue at 115200
   baud, so drops are shown being counted while the stream stays valid
   (qemu's UARTs take bytes as fast as they come: nothing drops there).

   Boards (chosen at build time; the code around them is the same):
   - STM32F4 (default on arm-none-eabi): USART2 on PA2, TXE interrupt. With
     BM_UART_POLLED the main loop drains the ring instead, once per tick:
     for qemu 7.2's `-M netduinoplus2` (an STM32F405; USART2 is its second
     -serial), whose USART raises no TX-empty interrupt but takes bytes as
     fast as they come. On a real UART that moves one byte per tick.
   - BM_MPS2: qemu's `-M mps2-an386` (Cortex-M4, CMSDK UART0). Its TX
     interrupt is an event, "a byte went out", not a level: write() pends it
     by hand to start an idle UART.
   - riscv32 (rv32imac, ESP32-C3 class): qemu's `-M virt`, a 16550 UART whose
     THR-empty interrupt comes through the PLIC, the CLINT timer as the
     tick. BM_TIMER_HZ and the register addresses are the board's.
   Startup code is here (bm_start: .data copied from flash, .bss zeroed; the
   reset stub on RISC-V), the memory maps in baremetal_m4.ld and
   baremetal_rv32.ld beside this file; newlib's crt0 does not copy .data.

   The same file builds and runs on a POSIX host (any target that is not a
   bare-metal ARM or RISC-V): a shim replaces the UART registers by a byte
   budget of 115200 baud per simulated millisecond, written to a file, and
   the tick by a loop counter. The host run serves QUERIES queries (default
   500), shuts the tap down (STOP), waits for the UART to drain, prints the
   counters on stderr and exits non-zero if they do not add up, or the
   stream could not end with STOP (a timeout cut it):
       baremetal [OUT.fstrm [QUERIES [STALL_FROM_MS STALL_TO_MS]]]
   (default: standard output; the stall: the UART takes nothing between
   those simulated times, as under flow control)
   A target built with -DBM_QUERIES=N does the same after N queries and
   reports through semihosting: the counters line on the debugger's
   console, the verdict as the exit status of qemu (or of the debug probe).

   Builds (Debian: gcc-arm-none-eabi + libnewlib-arm-none-eabi,
   gcc-riscv64-unknown-elf + picolibc-riscv64-unknown-elf; INC holds copies
   of nanopb's pb.h and pb_*.h, which the embedded schema needs even
   without nanopb's code):
       arm-none-eabi-gcc -std=c99 -mcpu=cortex-m4 -mthumb -Os -ffunction-sections \
           -fdata-sections -Wl,--gc-sections --specs=nano.specs --specs=nosys.specs \
           -nostartfiles -T examples/baremetal_m4.ld \
           -DDNSTAP_FREESTANDING -DDNSTAP_NO_DECODE -DDNSTAP_NO_NANOPB_ENCODE \
           -I. -isystem INC examples/baremetal.c -o baremetal.elf
       riscv64-unknown-elf-gcc -march=rv32imac -mabi=ilp32 -misa-spec=2.2 \
           --specs=picolibc.specs -nostartfiles -T examples/baremetal_rv32.ld ... (the rest
           as above, without the --specs)
   and run, with -DBM_QUERIES=500 (and -DBM_MPS2 for the first):
       qemu-system-arm -M mps2-an386 -nographic -monitor none \
           -semihosting-config enable=on,target=native -icount shift=0,align=off,sleep=off \
           -serial file:m4.fstrm -kernel baremetal.elf
       qemu-system-riscv32 -M virt -bios none ... (the same options)
   -icount makes a run repeatable byte for byte. `tests/firmware.sh` runs
   these boards and checks their streams; `tests/size.sh` prints the sizes. */

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__arm__) && !defined(__linux__) && !defined(BM_HOST)
#define BM_ARM 1
#define BM_RISCV 0
#elif defined(__riscv) && !defined(__linux__) && !defined(BM_HOST)
#define BM_ARM 0
#define BM_RISCV 1
#else
#define BM_ARM 0
#define BM_RISCV 0
#endif
#define BM_TARGET (BM_ARM || BM_RISCV)
/* The host run always ends; a target's only when built with BM_QUERIES. */
#if !BM_TARGET || defined(BM_QUERIES)
#define BM_RUN_ENDS 1
#else
#define BM_RUN_ENDS 0
#endif
#if !BM_TARGET
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

/* ---- the clock: a 1 ms tick interrupt counts milliseconds since boot ---- */
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

/* ---- the UART: registers on the target, a byte budget on the host ----
   Each board gives: bm_uart_tx_ready() (room for a byte), bm_uart_put(),
   bm_uart_tx_idle() (ring empty: no more TX interrupts), bm_uart_kick()
   (bytes queued: make the TX interrupt come). */
#define BM_REG(addr) (*(volatile uint32_t *)(addr))
#if BM_ARM && defined(BM_MPS2)
/* ARM MPS2 AN386 (Cortex-M4 FPGA image): UART0, a CMSDK APB UART. Its TX
   interrupt is an event ("a byte went out"), not a level "TX empty": the
   handler clears it before each byte, and bm_uart_kick() pends the
   interrupt by hand to start an idle UART. */
#ifndef BM_CPU_HZ
#define BM_CPU_HZ 25000000u
#endif
#define BM_UART_IRQ 1                        /* UART0 TX */
#define UART0_DATA      BM_REG(0x40004000u)
#define UART0_STATE     BM_REG(0x40004004u)
#define UART0_CTRL      BM_REG(0x40004008u)
#define UART0_INTCLEAR  BM_REG(0x4000400Cu)
#define UART0_BAUDDIV   BM_REG(0x40004010u)
#define UART_STATE_TXFULL 1u
#define UART_CTRL_TX_EN   1u
#define UART_CTRL_TX_INTEN 4u
#define UART_INT_TX       1u
static int bm_uart_tx_ready(void) { return (UART0_STATE & UART_STATE_TXFULL) == 0; }
static void bm_uart_put(uint8_t b) { UART0_INTCLEAR = UART_INT_TX; UART0_DATA = b; }
static void bm_uart_tx_idle(void) { UART0_INTCLEAR = UART_INT_TX; }
static void bm_uart_kick(void);
static void bm_uart_init(void) {
    UART0_BAUDDIV = (BM_CPU_HZ + 115200u / 2) / 115200u;
    UART0_CTRL = UART_CTRL_TX_EN | UART_CTRL_TX_INTEN;
}
#elif BM_ARM
/* STM32F4: USART2 on PA2. Its TXE interrupt is a level "TX empty"; qemu
   7.2's model of it raises none, so that board runs with BM_UART_POLLED. */
#ifndef BM_CPU_HZ
#define BM_CPU_HZ 16000000u                  /* STM32F4 after reset: HSI 16 MHz */
#endif
#define BM_UART_IRQ 38                       /* USART2 */
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
static int bm_uart_tx_ready(void) { return (USART2_SR & USART_SR_TXE) != 0; }
static void bm_uart_put(uint8_t b) { USART2_DR = b; }
static void bm_uart_tx_idle(void) { USART2_CR1 &= ~USART_CR1_TXEIE; }
static void bm_uart_kick(void) { USART2_CR1 |= USART_CR1_TXEIE; }
static void bm_uart_init(void) {
    RCC_AHB1ENR |= 1u;                                   /* GPIOA */
    RCC_APB1ENR |= 1u << 17;                             /* USART2 */
    GPIOA_MODER = (GPIOA_MODER & ~(3u << 4)) | (2u << 4);        /* PA2: alternate function */
    GPIOA_AFRL = (GPIOA_AFRL & ~(15u << 8)) | (7u << 8);         /* AF7: USART2_TX */
    USART2_BRR = (BM_CPU_HZ + 115200u / 2) / 115200u;
    USART2_CR1 = USART_CR1_UE | USART_CR1_TE;
}
#elif BM_RISCV
/* qemu's RISC-V virt board: a 16550 UART (THR-empty interrupt, a level,
   through the PLIC) and the CLINT's machine timer. An ESP32-C3 has its own
   UART and timer registers; the code around them stays the same. */
#define BM_TIMER_HZ 10000000u                /* the CLINT's mtime */
#define UART_THR  (*(volatile uint8_t *)0x10000000u)
#define UART_IER  (*(volatile uint8_t *)0x10000001u)
#define UART_FCR  (*(volatile uint8_t *)0x10000002u)
#define UART_LCR  (*(volatile uint8_t *)0x10000003u)
#define UART_LSR  (*(volatile uint8_t *)0x10000005u)
#define UART_IER_THRE 2u
#define UART_LSR_THRE 0x20u
#define BM_UART_IRQ 10u
#define PLIC_PRIORITY(irq) BM_REG(0x0C000000u + 4u * (irq))
#define PLIC_ENABLE0       BM_REG(0x0C002000u)  /* context 0: hart 0, machine mode */
#define PLIC_THRESHOLD0    BM_REG(0x0C200000u)
#define PLIC_CLAIM0        BM_REG(0x0C200004u)
#define CLINT_MTIMECMP_LO  BM_REG(0x02004000u)
#define CLINT_MTIMECMP_HI  BM_REG(0x02004004u)
static int bm_uart_tx_ready(void) { return (UART_LSR & UART_LSR_THRE) != 0; }
static void bm_uart_put(uint8_t b) { UART_THR = b; }
static void bm_uart_tx_idle(void) { UART_IER = (uint8_t)(UART_IER & ~UART_IER_THRE); }
static void bm_uart_kick(void) { UART_IER = (uint8_t)(UART_IER | UART_IER_THRE); }
static void bm_uart_init(void) {
    UART_LCR = 3u;                           /* 8N1 */
    UART_FCR = 7u;                           /* 16-byte FIFOs, reset */
    PLIC_PRIORITY(BM_UART_IRQ) = 1u;
    PLIC_ENABLE0 = 1u << BM_UART_IRQ;
    PLIC_THRESHOLD0 = 0u;
}
#else
static FILE *bm_out;
static uint32_t bm_baud_credit, bm_tx_budget;   /* bytes the "wire" takes this tick */
static uint64_t bm_stall_from = UINT64_MAX, bm_stall_to;   /* the wire takes nothing then */
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

/* The UART's TX interrupt (or, with BM_UART_POLLED, the main loop): as
   many bytes as the UART takes now. */
static void bm_uart_isr(void) {
    while (bm_uart_tx_ready()) {
        uint32_t t = bm_tx_tail;
        if (t == bm_tx_head) { bm_uart_tx_idle(); return; }
        BM_BARRIER();
        bm_uart_put(bm_tx_ring[t & (BM_TX_RING - 1)]);
        bm_tx_tail = t + 1;
    }
}

#if BM_TARGET && defined(BM_UART_POLLED)
#define bm_uart_poll() bm_uart_isr()
#else
#define bm_uart_poll() ((void)0)
#endif

/* The transport's write(): take what fits, never wait. */
static int bm_uart_write(void *ctx, const uint8_t *buf, size_t len) {
    uint32_t h = bm_tx_head, room = BM_TX_RING - (h - bm_tx_tail), i, n;
    (void)ctx;
    n = len < room ? (uint32_t)len : room;
    if (n == 0) return DNSTAP_ERR_AGAIN;
    for (i = 0; i < n; i++) bm_tx_ring[(h + i) & (BM_TX_RING - 1)] = buf[i];
    BM_BARRIER();                            /* the bytes before the index */
    bm_tx_head = h + n;
    bm_uart_kick();                          /* polled: the interrupt line stays off */
    return (int)n;
}

#if BM_RUN_ENDS
static int bm_uart_busy(void) { return bm_tx_head != bm_tx_tail; }
#endif

#if BM_TARGET && BM_RUN_ENDS
/* Semihosting (qemu -semihosting-config enable=on): the report line goes to
   the debugger's console, the verdict to qemu's exit status. */
#if BM_ARM
static uint32_t bm_semihost(uint32_t op, uint32_t arg) {
    register uint32_t r0 __asm__("r0") = op;
    register uint32_t r1 __asm__("r1") = arg;
    __asm__ __volatile__("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}
#else
/* RISC-V: three uncompressed instructions around ebreak, on one page: a
   function of its own, 16-byte aligned at the start of its section (an
   alignment inside a function breaks the linker's relaxation). */
uint32_t bm_semihost(uint32_t op, uint32_t arg);
__asm__(".section .text.bm_semihost, \"ax\", @progbits\n"
        ".balign 16\n"
        ".globl bm_semihost\n"
        ".option push\n"
        ".option norvc\n"
        ".option norelax\n"
        "bm_semihost:\n"
        "    slli zero, zero, 0x1f\n"
        "    ebreak\n"
        "    srai zero, zero, 7\n"
        "    ret\n"
        ".option pop\n"
        ".previous\n");
#endif
#define BM_SYS_WRITE0 0x04u
#define BM_SYS_EXIT 0x18u
#define BM_EXIT_SUCCESS 0x20026u             /* ADP_Stopped_ApplicationExit */
#define BM_EXIT_FAILURE 0x20023u             /* ADP_Stopped_RunTimeErrorUnknown */
#endif

/* ---- board: startup, interrupts, waiting for the next tick ----
   Startup, with the linker script beside this file (baremetal_m4.ld or
   baremetal_rv32.ld): .data is copied from flash to RAM, .bss zeroed, then
   main(). The stack is outside .bss, so zeroing cannot clobber it. */
#if BM_TARGET
/* A fault or an unexpected trap: a run that ends says so and stops qemu. */
static void bm_fault(void) {
#if BM_RUN_ENDS
    (void)bm_semihost(BM_SYS_WRITE0, (uint32_t)(uintptr_t)"baremetal: fault\n");
    (void)bm_semihost(BM_SYS_EXIT, BM_EXIT_FAILURE);
#endif
    for (;;) { }
}

extern uint32_t bm_data_load[], bm_data_start[], bm_data_end[], bm_bss_start[], bm_bss_end[];
#define BM_STACK_WORDS 512
#define BM_STR(x) #x
#define BM_XSTR(x) BM_STR(x)
__attribute__((section(".bm_stack"), used, aligned(16)))
uint32_t bm_main_stack[BM_STACK_WORDS];

int main(void);
void bm_start(void);
void bm_start(void) {
    uint32_t *src = bm_data_load, *dst = bm_data_start;
    while (dst < bm_data_end) *dst++ = *src++;
    for (dst = bm_bss_start; dst < bm_bss_end; dst++) *dst = 0;
    (void)main();
    for (;;) { }
}
#endif

#if BM_ARM
#define NVIC_ISER(irq) BM_REG(0xE000E100u + 4u * ((irq) / 32u))
#define NVIC_ISPR(irq) BM_REG(0xE000E200u + 4u * ((irq) / 32u))
#define SYST_CSR     BM_REG(0xE000E010u)
#define SYST_RVR     BM_REG(0xE000E014u)
#define SYST_CVR     BM_REG(0xE000E018u)
#define SCB_VTOR     BM_REG(0xE000ED08u)

void SysTick_Handler(void);
void bm_uart_irq_handler(void);
void SysTick_Handler(void) { bm_systick(); }
void bm_uart_irq_handler(void) { bm_uart_isr(); }
#ifdef BM_MPS2
static void bm_uart_kick(void) { NVIC_ISPR(BM_UART_IRQ) = 1u << (BM_UART_IRQ % 32u); }
#endif

typedef void (*bm_handler_t)(void);
typedef struct bm_vectors_t {
    uint32_t *initial_sp;
    bm_handler_t handler[15 + BM_UART_IRQ + 1];  /* exceptions 1-15, IRQs up to the UART's */
} bm_vectors_t;
/* VTOR wants the table aligned to its size rounded up to a power of two. */
__attribute__((section(".isr_vector"), used, aligned(256)))
static const bm_vectors_t bm_vectors = {
    &bm_main_stack[BM_STACK_WORDS],
    { bm_start, bm_fault, bm_fault, bm_fault, bm_fault, bm_fault, 0, 0, 0, 0,
      bm_fault, bm_fault, 0, bm_fault, SysTick_Handler,
      [15 + BM_UART_IRQ] = bm_uart_irq_handler }
};

static void bm_board_init(void) {
    SCB_VTOR = (uint32_t)(uintptr_t)&bm_vectors;
    bm_uart_init();
#ifndef BM_UART_POLLED
    NVIC_ISER(BM_UART_IRQ) = 1u << (BM_UART_IRQ % 32u);
#endif
    SYST_RVR = BM_CPU_HZ / 1000u - 1u;
    SYST_CVR = 0;
    SYST_CSR = 7u;                                       /* core clock, interrupt, on */
}

static void bm_wait_tick(void) { __asm__ __volatile__("wfi"); }
#elif BM_RISCV
/* Reset: a stack, then bm_start(). */
__asm__(".section .text.start, \"ax\", @progbits\n"
        ".globl _start\n"
        "_start:\n"
        "    la sp, bm_main_stack + 4 * " BM_XSTR(BM_STACK_WORDS) "\n"
        "    j bm_start\n"
        ".previous\n");

static uint32_t bm_next_tick_lo, bm_next_tick_hi;   /* mtimecmp, 64 bits without 64-bit math calls */

static void bm_timer_next(void) {
    uint32_t lo = bm_next_tick_lo + BM_TIMER_HZ / 1000u;
    bm_next_tick_hi += lo < bm_next_tick_lo;
    bm_next_tick_lo = lo;
    CLINT_MTIMECMP_LO = 0xFFFFFFFFu;         /* no early match while the halves change */
    CLINT_MTIMECMP_HI = bm_next_tick_hi;
    CLINT_MTIMECMP_LO = bm_next_tick_lo;
}

/* One handler for all traps (mtvec direct mode): the timer tick and the
   UART through the PLIC; an exception stops the run. */
__attribute__((interrupt("machine"), aligned(4)))
static void bm_trap(void) {
    uint32_t cause;
    __asm__ __volatile__("csrr %0, mcause" : "=r"(cause));
    if (cause == 0x80000007u) {              /* machine timer */
        bm_timer_next();
        bm_systick();
    } else if (cause == 0x8000000Bu) {       /* machine external: the PLIC */
        uint32_t irq = PLIC_CLAIM0;
        if (irq == BM_UART_IRQ) bm_uart_isr();
        PLIC_CLAIM0 = irq;
    } else {
        bm_fault();
    }
}

static void bm_board_init(void) {
    __asm__ __volatile__("csrw mtvec, %0" :: "r"((uint32_t)(uintptr_t)&bm_trap));
    bm_uart_init();
    bm_next_tick_lo = BM_REG(0x0200BFF8u);   /* mtime now: near 0 after reset, no carry race */
    bm_next_tick_hi = BM_REG(0x0200BFFCu);
    bm_timer_next();
    __asm__ __volatile__("csrs mie, %0" :: "r"((1u << 7) | (1u << 11)));   /* timer, external */
    __asm__ __volatile__("csrsi mstatus, 8");                               /* MIE */
}

static void bm_wait_tick(void) { __asm__ __volatile__("wfi"); }
#else
/* One simulated millisecond: the tick, then 115200 baud's worth of UART. */
static void bm_wait_tick(void) {
    bm_systick();
    bm_baud_credit += 1152u;                 /* 11.52 bytes per ms, in hundredths */
    bm_tx_budget = bm_baud_credit / 100u;
    bm_baud_credit %= 100u;
    if (bm_now_ms() >= bm_stall_from && bm_now_ms() < bm_stall_to) bm_tx_budget = 0;
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

/* RISC-V runs that end count the instructions retired while the main loop
   works (not while it waits in wfi), for the report: exact under qemu
   -icount shift=0, where minstret counts one per instruction. */
#if BM_RISCV && BM_RUN_ENDS
static uint64_t bm_busy_instructions;
static uint32_t bm_instret(void) {
    uint32_t n;
    __asm__ __volatile__("csrr %0, minstret" : "=r"(n));
    return n;
}
#define BM_BUSY_BEGIN() uint32_t bm_busy_from_ = bm_instret()
#define BM_BUSY_END() (bm_busy_instructions += bm_instret() - bm_busy_from_)
#else
#define BM_BUSY_BEGIN() ((void)0)
#define BM_BUSY_END() ((void)0)
#endif

#if BM_RUN_ENDS
/* ---- the end of a run: STOP, drain, the counters, a verdict ---- */

/* "KEY=decimal " without printf and without 64-bit division. */
static char *bm_field(char *p, const char *key, uint64_t v) {
    static const uint64_t pow10[20] = {
        1u, 10u, 100u, 1000u, 10000u, 100000u, 1000000u, 10000000u, 100000000u, 1000000000u,
        10000000000u, 100000000000u, 1000000000000u, 10000000000000u, 100000000000000u,
        1000000000000000u, 10000000000000000u, 100000000000000000u, 1000000000000000000u,
        10000000000000000000u };
    int i, started = 0;
    while (*key) *p++ = *key++;
    *p++ = '=';
    for (i = 19; i >= 0; i--) {
        char d = '0';
        while (v >= pow10[i]) { v -= pow10[i]; d++; }
        if (d != '0' || started || i == 0) { *p++ = d; started = 1; }
    }
    *p++ = ' ';
    return p;
}

static int bm_finish(uint32_t queries) {
    dnstap_stats_t s;
    uint64_t dropped_other;
    uint32_t guard;
    char line[256], *p = line;
    int ok;
    dnstap_shutdown(&bm_tap, bm_now_ms());
    for (guard = 0; guard < 600000u && (!dnstap_closed(&bm_tap) || bm_uart_busy()); guard++) {
        bm_wait_tick();
        (void)dnstap_poll(&bm_tap, bm_now_ms());
        bm_uart_poll();
    }
    s = dnstap_stats(&bm_tap);
    dropped_other = s.dropped_too_big + s.dropped_invalid + s.dropped_disconnected + s.dropped_write_error;
    /* a timeout would have cut the stream mid-frame (a UART has no
       connection to close: the cut stays in it), a reconnect then started
       it again */
    ok = dnstap_closed(&bm_tap) && !bm_uart_busy() && s.logged == 2u * (uint64_t)queries && s.queued == 0 &&
         s.logged == s.sent + s.dropped_full + dropped_other + s.queued && s.timeouts == 0 && s.reconnects == 0;
    p = bm_field(p, "baremetal: queries", queries);
    p = bm_field(p, "logged", s.logged);
    p = bm_field(p, "sent", s.sent);
    p = bm_field(p, "sent_bytes", s.sent_bytes);
    p = bm_field(p, "dropped_full", s.dropped_full);
    p = bm_field(p, "dropped_other", dropped_other);
    p = bm_field(p, "queued", s.queued);
    p = bm_field(p, "uptime_ms", bm_now_ms());
#if BM_RISCV
    p = bm_field(p, "busy_instructions", bm_busy_instructions);
#endif
    p[-1] = '\n';
    *p = '\0';
#if BM_TARGET
    (void)bm_semihost(BM_SYS_WRITE0, (uint32_t)(uintptr_t)line);
    (void)bm_semihost(BM_SYS_EXIT, ok ? BM_EXIT_SUCCESS : BM_EXIT_FAILURE);
    return ok ? 0 : 1;                       /* not reached: the debugger stopped here */
#else
    if (fflush(bm_out) != 0 || (bm_out != stdout && fclose(bm_out) != 0)) { perror("baremetal"); return 2; }
    fputs(line, stderr);
    return ok ? 0 : 1;
#endif
}
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
#ifdef BM_QUERIES
    const uint32_t queries = BM_QUERIES;
#endif
    bm_board_init();
#else
    uint32_t queries = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 10) : 500u;
    bm_out = argc > 1 ? fopen(argv[1], "wb") : stdout;
    if (argc > 4) {
        bm_stall_from = strtoull(argv[3], NULL, 10);
        bm_stall_to = strtoull(argv[4], NULL, 10);
    }
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
    d.write_timeout_ms = 0xFFFFFFFFu;        /* a UART is slow, never dead: */
    d.shutdown_timeout_ms = 0xFFFFFFFFu;     /* the end waits for it too */
    d.flush_bytes = DNSTAP_FLUSH_AT_ONCE;    /* a write is a copy into the TX ring:
                                                nothing to save by batching */
    if (dnstap_init(&bm_tap, &d) != DNSTAP_OK || !bm_self_test()) {
#if BM_TARGET && defined(BM_QUERIES)
        (void)bm_semihost(BM_SYS_WRITE0, (uint32_t)(uintptr_t)"baremetal: dnstap_init or the self test failed\n");
        (void)bm_semihost(BM_SYS_EXIT, BM_EXIT_FAILURE);
#endif
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
#if BM_RUN_ENDS
        if (seq == queries) break;
#endif
        BM_BUSY_BEGIN();
        if (bm_query_arrives(now)) bm_serve(seq++);
        (void)dnstap_poll(&bm_tap, now);     /* moves frames to the TX ring */
        bm_uart_poll();                      /* polled UART: the ring to the UART */
        BM_BUSY_END();
    }
#if BM_RUN_ENDS
    return bm_finish(seq);
#endif
}
