/* bench.h - shared declarations of the `make bench` programs (tests/bench*.c).
   The workload is docs/bench-workload.md; tests/bench.sh builds and runs. */
#ifndef BENCH_H_INCLUDED
#define BENCH_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include "dnstap.h"

#define BENCH_IDENTITY "resolver1"
#define BENCH_VERSION  "dnstap-bench 1.0"
#define BENCH_OUT_MAX  4096u   /* one frame of the workload, with room to spare */

#if defined(__GNUC__) || defined(__clang__)
#define BENCH_NORETURN __attribute__((noreturn))
#else
#define BENCH_NORETURN
#endif

/* Print a message and abort(): a bench must never time a broken encoder. */
void bench_die(const char *what) BENCH_NORETURN;

/* Calls of malloc/calloc/realloc since start (bench.c, -Wl,--wrap=...). */
unsigned long bench_allocs_now(void);

/* protobuf-c peers (bench_peers.c). Each packs the same Dnstap message as
   dnstap.h from the same dnstap_msg_t. */

/* Pack the payload into out[0..cap); returns its length (0: does not fit). */
size_t bench_pbc_pack(const dnstap_msg_t *m, uint8_t *out, size_t cap);

/* protobuf-c + fstrm_file_writer + fstrm_writer_write (stdio-buffered). */
int bench_fstrm_open(const char *path);
size_t bench_fstrm_log(const dnstap_msg_t *m, uint8_t *out);
void bench_fstrm_close(void);

/* protobuf-c + fstrm_iothr: malloc'd payload handed to fstrm_iothr_submit();
   a full queue is retried (libfstrm's documented busy loop), not dropped. */
int bench_iothr_open(const char *path);
size_t bench_iothr_log(const dnstap_msg_t *m, uint8_t *out);
void bench_iothr_close(void);
unsigned long bench_iothr_full(void);   /* submits refused: queue full */

/* protobuf-c + fstrm_iothr over a unix socket (bench_live.c), as BIND and
   Knot set it up: fstrm_unix_writer, default I/O thread options (one input
   queue of 512 slots). bench_uiothr_log() packs into malloc'd memory and
   submits once; a full queue is a drop (the buffer is freed, 1 returned),
   as in BIND and Knot. */
int bench_uiothr_open(const char *sock_path);
int bench_uiothr_log(const dnstap_msg_t *m);   /* 0 queued, 1 dropped (full) */
void bench_uiothr_close(void);                 /* flush, STOP, FINISH, join */

/* The workload of docs/bench-workload.md as an iterator: bench_wl_init()
   gives message 0, each bench_wl_next() the following one. */
typedef struct bench_wl_t {
    dnstap_msg_t m;
    uint64_t qsec, rsec;
    uint32_t qnsec, rnsec, ms;
} bench_wl_t;
void bench_wl_init(bench_wl_t *w, int response);
void bench_wl_next(bench_wl_t *w);

/* `bench live ...`, `bench lat ...`, `bench frames ...` (bench_live.c). */
int bench_live_main(int argc, char **argv);

#endif /* BENCH_H_INCLUDED */
