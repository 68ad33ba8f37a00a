/* tap_client.c - a dnstap.h live-logging producer for end-to-end tests
   against real receivers (tests/live.sh; over tls:// in tests/tls.sh and
   tests/capture_tls.sh), and a checker of the captures.

   BUILDS
     plain        cc -pthread tests/tap_client.c -lprotobuf-nanopb
                  endpoints /path, unix:///path, tcp://host:port.
     TLS          -DTAP_CLIENT_TLS (defines DNSTAP_WITH_MBEDTLS), link with
                  -lmbedtls -lmbedx509 -lmbedcrypto: also tls://host:port
                  and the TLS options below; dnstap_tls_free() at the end.
                  In the plain build the TLS options are a usage error and a
                  tls:// endpoint fails dnstap_init() (exit 2).
     COUNT_ALLOCS -DCOUNT_ALLOCS (glibc, no sanitizer): counts the heap
                  allocations in each phase (see OUTPUT); then -n must be
                  > 0 and -T is refused. This program allocates nothing of
                  its own between dnstap_init() and the end of the run (its
                  lists are sized from -n first), so with TLS every
                  allocation counted there is Mbed TLS's.

   PRODUCER
     tap_client -e ENDPOINT [options]
       -e EP      endpoint: /path, unix:///path, tcp://host:port, tls://host:port
       -n N       messages to log (0: no limit, until -d ends)      [1000]
       -r RATE    messages per second, 0 = as fast as possible       [0]
       -q BYTES   queue memory                                       [1048576]
       -p POLICY  keep | drop (while disconnected)                   [keep]
       -f 0|1     full: include the DNS wire messages                [1]
       -d MS      keep running (logging, polling) at least this long [0]
       -t MS      connect (with TLS: TCP + TLS handshake), handshake,
                  write and finish timeouts                          [200]
       -b MS      first reconnect delay                              [200]
       -B MS      largest reconnect delay                            [4 x -b]
       -W MS      time allowed to dnstap_run() after dnstap_shutdown [10000]
       -a FILE    write the sequence numbers dnstap_log() accepted, one a line
       -s BYTES   write_buffer: SO_SNDBUF for TCP                   [system default]
       -T N       N producer threads, each on its own queue (dnstap_log_queue);
                  thread k logs k, k + N, k + 2N, ... (0: one, in the loop)
       -g         payload_max = DNSTAP_PAYLOAD_MAX_GOLANG
       -P         pad every message with an extra field (zeros) to a payload
                  of exactly payload_max, the largest the tap sends
       -S         strict host: call dnstap_poll() only when dnstap_io() says so
                  (its deadline has come, or its descriptor is ready for what it
                  asked), also during shutdown (instead of dnstap_run())
       -v         print the library's log lines on stderr (with times)
       --init-only  dnstap_init(), print its result (and the log counts),
                  dnstap_tls_free() in the TLS build, exit: 0 if it succeeded,
                  2 if not
     TLS options (TLS build only; dnstap_desc_t fields):
       --ca FILE        tls_ca_file            --ca-path DIR  tls_ca_path
       --cert FILE      tls_cert_file          --key FILE     tls_key_file
       --pin HEX        tls_pin_sha256 (64 hex digits)
       --sni NAME       tls_server_name        --skipverify   skipverify
       --ciphersuites LIST  tls_ciphersuites
     Message i (0, 1, ...) is CLIENT_QUERY for even i and CLIENT_RESPONSE for
     odd i, query_time = 1700000000 s + i ns, identity "tap_client", and
     carries a DNS query (and for responses a DNS response) whose ID is
     i & 0xffff.
     The loop is a host event loop: dnstap_log() for the messages that are
     due, dnstap_poll(), then poll(2) on dnstap_io()'s descriptor until its
     deadline or the next message. At the end: dnstap_shutdown(), then
     dnstap_run() (with -S the same strictly by dnstap_io()), then one more
     dnstap_log(), which must be refused (it counts as dropped_disconnected),
     then dnstap_tls_free() in the TLS build.
     OUTPUT (key=value lines on stdout):
       init, init_code           dnstap_init()'s result (also with --init-only)
       before_shutdown_sent, before_shutdown_queued
       log_after_shutdown, result_disconnected   that last call's result, and
                                 DNSTAP_ERR_DISCONNECTED's, as "name (code)"
       logged ... timeouts       the final dnstap_stats(), one key a field
       queues, attempted, accepted, ret_full, ret_too_long, ret_disconnected,
       ret_invalid, ret_other    dnstap_log() calls and their results
       log_max_ns, log_max_at, log_p999_ns   dnstap_log() latency: max (and
                                 at which message), p99.9; clock_gettime()
                                 around each call; the queue memory is
                                 touched first so page faults do not count
       host                      loop | strict (-S)
       run_result, run_ms        dnstap_run()'s (or -S's loop's) result, and
                                 the time from dnstap_shutdown() to its end
       closed, elapsed_ms        dnstap_closed(); time since dnstap_init()
       polls, poll_max_ns, polls_until_connected, connected_ms
                                 dnstap_poll() calls by the loop (and the
                                 strict shutdown), the longest, and how many
                                 until the first connection (and when)
       log_errors, log_warnings, tls_failed_lines, tls_ok_lines,
       skipverify_lines, first_tls_failure   the library's log lines (the
                                 logger always counts, -v also prints):
                                 errors, warnings, "TLS handshake failed"
                                 (and the first such line), ": TLS TLSv"
                                 (a TLS connection up), "skipverify"
       allocs_P, alloc_bytes_P, peak_live_P, live_at_start_of_P,
       live_after_tls_free       COUNT_ALLOCS only: per phase P reached of
                                 init (dnstap_init), connect (until the first
                                 connection is up), steady (logging and
                                 sending), end (shutdown, dnstap_tls_free);
                                 bytes counted above those live before
                                 dnstap_init()
       invariant                 ok | broken
     The accepted numbers (-a) are written at the end.
     Exit status: 0 fine; 3 the invariant logged == sent + dropped_* + queued
     does not hold; 4 another inconsistency (return codes vs counters, not
     closed, queue not empty after close, ...); 2 usage or setup error
     (dnstap_init() failed included).

   CHECKER
     tap_client --check ACCEPTED_FILE [--full 0|1] [--exact SENT]
                [--max SENT] [--killed N] [--unordered] [--streams N]
                [--missing-empty] CAPTURE...
       Reads each capture with dnstap_reader_* and decodes every data frame
       with dnstap_decode(); checks every field we set (type, times, wire
       messages present or absent as --full says, DNS IDs, identity) and
       that each sequence number was accepted by dnstap_log().
       --exact SENT    total frames == SENT and the captured sequence numbers,
                       in order, are the first SENT accepted ones;
       otherwise       the captured numbers are strictly increasing across the
                       captures in the order given, and none repeats (with
                       --unordered: only none repeats); --max SENT bounds the
                       total;
       --streams N     the capture interleaves N producers (tap_client -T N:
                       producer k logs the numbers = k mod N): order is
                       checked within each producer's numbers;
       --killed N      the first N captures come from receivers killed with
                       SIGKILL: they may end without STOP, or inside their last
                       frame (the receiver's stdio buffer was cut), but every
                       frame before must be whole and valid; the others must
                       end cleanly with STOP;
       --missing-empty a CAPTURE that does not exist, or holds no whole
                       frame, counts as an empty stream (a receiver that
                       never got a connection); otherwise it is an error.
       Prints key=value lines; exit 0 if all holds, 1 otherwise (with
       "error: ..." lines on stderr).
*/
#define DNSTAP_IMPLEMENTATION
#ifdef TAP_CLIENT_TLS
#define DNSTAP_WITH_MBEDTLS
#endif
#include "../dnstap.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SEQ_SEC 1700000000u

/* ---- heap accounting (COUNT_ALLOCS: glibc, no sanitizer) ------------------ */
#ifdef COUNT_ALLOCS
#include <malloc.h>
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t m);
extern void *__libc_realloc(void *p, size_t n);
extern void __libc_free(void *p);
void *malloc(size_t n);
void *calloc(size_t n, size_t m);
void *realloc(void *p, size_t n);
void free(void *p);

enum { PH_START, PH_INIT, PH_CONNECT, PH_STEADY, PH_END, PH_N };
static const char *const ph_name[PH_N] = { "start", "init", "connect", "steady", "end" };
static int phase;
static unsigned long long ph_allocs[PH_N], ph_bytes[PH_N];
static long long live_bytes, ph_live0[PH_N], ph_peak[PH_N];
static int ph_entered[PH_N];

static void *counted(void *p) {
    if (p) {
        size_t u = malloc_usable_size(p);
        ph_allocs[phase]++;
        ph_bytes[phase] += u;
        live_bytes += (long long)u;
        if (live_bytes > ph_peak[phase]) ph_peak[phase] = live_bytes;
    }
    return p;
}
static void uncount(void *p) {
    if (p) live_bytes -= (long long)malloc_usable_size(p);
}
void *malloc(size_t n) { return counted(__libc_malloc(n)); }
void *calloc(size_t n, size_t m) { return counted(__libc_calloc(n, m)); }
void *realloc(void *p, size_t n) {
    void *q;
    uncount(p);
    q = __libc_realloc(p, n);
    if (q == NULL && p != NULL && n != 0) { live_bytes += (long long)malloc_usable_size(p); return NULL; }
    return counted(q);
}
void free(void *p) { uncount(p); __libc_free(p); }
#define SET_PHASE(p) (phase = (p), ph_entered[phase] = 1, ph_live0[phase] = ph_peak[phase] = live_bytes)
#else
#define SET_PHASE(p) ((void)0)
#endif

/* ---- DNS wire messages --------------------------------------------------- */

static const uint8_t qname[] = { 3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0 };

/* query: header, question www.example.com A IN */
static size_t make_query(uint8_t *b, uint32_t id) {
    size_t n = 0;
    b[n++] = (uint8_t)(id >> 8); b[n++] = (uint8_t)id;
    b[n++] = 0x01; b[n++] = 0x00;              /* RD */
    b[n++] = 0; b[n++] = 1;                    /* QDCOUNT */
    b[n++] = 0; b[n++] = 0; b[n++] = 0; b[n++] = 0; b[n++] = 0; b[n++] = 0;
    memcpy(b + n, qname, sizeof qname); n += sizeof qname;
    b[n++] = 0; b[n++] = 1; b[n++] = 0; b[n++] = 1;
    return n;
}

/* response: the query plus one A record 192.0.2.1 */
static size_t make_response(uint8_t *b, uint32_t id) {
    static const uint8_t an[] = { 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x01, 0x2c, 0, 4, 192, 0, 2, 1 };
    size_t n = make_query(b, id);
    b[2] = 0x81; b[3] = 0x80;                  /* QR RD RA */
    b[7] = 1;                                  /* ANCOUNT */
    memcpy(b + n, an, sizeof an);
    return n + sizeof an;
}

static const uint8_t addr_client[4] = { 192, 0, 2, 53 };
static const uint8_t addr_server[4] = { 198, 51, 100, 1 };
static const char identity[] = "tap_client";

/* Message seq: CLIENT_QUERY (even) or CLIENT_RESPONSE (odd), its wire
   messages built into qwire/rwire. */
static void make_msg(dnstap_msg_t *m, uint64_t seq, uint8_t *qwire, uint8_t *rwire) {
    memset(m, 0, sizeof *m);
    m->type = seq % 2 ? DNSTAP_CLIENT_RESPONSE : DNSTAP_CLIENT_QUERY;
    m->socket_family = DNSTAP_INET;
    m->socket_protocol = DNSTAP_UDP;
    m->query_address.data = addr_client; m->query_address.len = 4;
    m->response_address.data = addr_server; m->response_address.len = 4;
    m->query_port = 10000u + (uint32_t)(seq % 50000u);
    m->response_port = 53;
    m->has |= DNSTAP_HAS_QUERY_PORT | DNSTAP_HAS_RESPONSE_PORT;
    dnstap_msg_set_query_time(m, SEQ_SEC, (uint32_t)seq);
    m->query_message.data = qwire;
    m->query_message.len = make_query(qwire, (uint32_t)(seq & 0xffff));
    if (seq % 2) {
        dnstap_msg_set_response_time(m, SEQ_SEC, (uint32_t)seq);
        m->response_message.data = rwire;
        m->response_message.len = make_response(rwire, (uint32_t)(seq & 0xffff));
    }
}

/* ---- helpers --------------------------------------------------------------- */

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int parse_u64(const char *s, uint64_t *v) {
    char *end;
    unsigned long long x;
    if (s == NULL || *s == 0) return 0;
    errno = 0;
    x = strtoull(s, &end, 10);
    if (errno || *end) return 0;
    *v = (uint64_t)x;
    return 1;
}

#ifdef TAP_CLIENT_TLS
static int parse_hex32(const char *s, uint8_t *out) {
    size_t i;
    if (strlen(s) != 64) return 0;
    for (i = 0; i < 64; i++) {
        int c = s[i], v;
        if (c >= '0' && c <= '9') v = c - '0';
        else if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') v = c - 'A' + 10;
        else return 0;
        if (i % 2) out[i / 2] = (uint8_t)(out[i / 2] | v); else out[i / 2] = (uint8_t)(v << 4);
    }
    return 1;
}
#endif

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

typedef struct seqlist_t { uint64_t *v; size_t n, cap; } seqlist_t;

static void seq_reserve(seqlist_t *l, size_t cap) {
    uint64_t *v;
    if (cap <= l->cap) return;
    v = (uint64_t *)realloc(l->v, cap * sizeof *v);
    if (v == NULL) { fprintf(stderr, "out of memory\n"); exit(2); }
    l->v = v;
    l->cap = cap;
}

static void seq_push(seqlist_t *l, uint64_t x) {
    if (l->n == l->cap) seq_reserve(l, l->cap ? l->cap * 2 : 4096);
    l->v[l->n++] = x;
}

static void usage(void) {
    fprintf(stderr, "usage: tap_client -e ENDPOINT [-n N] [-r RATE] [-q BYTES] [-p keep|drop] [-f 0|1]\n"
                    "                  [-d MS] [-t MS] [-b MS] [-B MS] [-W MS] [-s BYTES] [-T N] [-a FILE]\n"
                    "                  [-g] [-S] [-v] [--init-only]\n"
                    "                  [--ca FILE] [--ca-path DIR] [--cert FILE --key FILE] [--pin HEX]\n"
                    "                  [--sni NAME] [--skipverify]   (TLS options: -DTAP_CLIENT_TLS builds only;%s)\n"
                    "       tap_client --check ACCEPTED [--full 0|1] [--exact SENT] [--max SENT]\n"
                    "                  [--killed N] [--unordered] [--streams N] [--missing-empty] CAPTURE...\n",
#ifdef TAP_CLIENT_TLS
                    " this is one"
#else
                    " this is not one"
#endif
    );
    exit(2);
}

/* ---- the library's log lines ----------------------------------------------- */

static uint64_t start_ms;
static int verbose;
static unsigned long long n_hs_failed, n_skipverify, n_tls_ok, n_warn, n_error;
static char first_hs_failed[400];

/* Counts the lines (dnstap_init() and the polling thread call it, never the
   producers); prints them with -v. */
static void logger(void *ctx, dnstap_log_level_t level, const char *message) {
    (void)ctx;
    if (strstr(message, "TLS handshake failed")) {
        if (n_hs_failed++ == 0) snprintf(first_hs_failed, sizeof first_hs_failed, "%s", message);
    }
    if (strstr(message, "skipverify")) n_skipverify++;
    if (strstr(message, ": TLS TLSv")) n_tls_ok++;
    if (level == DNSTAP_LOG_WARN) n_warn++;
    if (level == DNSTAP_LOG_ERROR) n_error++;
    if (verbose)
        fprintf(stderr, "[%6llu ms] %s %s\n", (unsigned long long)(dnstap_clock_ms() - start_ms),
                level == DNSTAP_LOG_ERROR ? "E" : level == DNSTAP_LOG_WARN ? "W" : "I", message);
}

/* ---- checker --------------------------------------------------------------- */

static int check_errors;

static void check_fail(const char *capture, uint64_t frame, const char *what) {
    if (check_errors < 20)
        fprintf(stderr, "error: %s: data frame %llu: %s\n", capture, (unsigned long long)frame, what);
    check_errors++;
}

static int bytes_eq(dnstap_bytes_t b, const uint8_t *p, size_t n) {
    return b.data != NULL && b.len == n && memcmp(b.data, p, n) == 0;
}

/* Check one decoded message; return its sequence number or -1. */
static long long check_msg(const char *cap, uint64_t fno, const dnstap_msg_t *m, int full) {
    uint8_t q[64], r[96];
    size_t ql, rl;
    uint64_t seq;
    if (!(m->has & DNSTAP_HAS_QUERY_TIME_SEC) || !(m->has & DNSTAP_HAS_QUERY_TIME_NSEC) ||
        m->query_time_sec != SEQ_SEC) {
        check_fail(cap, fno, "query_time missing or not ours");
        return -1;
    }
    seq = m->query_time_nsec;
    ql = make_query(q, (uint32_t)(seq & 0xffff));
    rl = make_response(r, (uint32_t)(seq & 0xffff));
    if (m->type != (seq % 2 ? DNSTAP_CLIENT_RESPONSE : DNSTAP_CLIENT_QUERY)) check_fail(cap, fno, "wrong message type");
    if (m->socket_family != DNSTAP_INET || m->socket_protocol != DNSTAP_UDP) check_fail(cap, fno, "socket family/protocol");
    if (!bytes_eq(m->query_address, addr_client, 4) || !bytes_eq(m->response_address, addr_server, 4))
        check_fail(cap, fno, "addresses");
    if (!(m->has & DNSTAP_HAS_QUERY_PORT) || m->query_port != 10000u + (uint32_t)(seq % 50000u) ||
        !(m->has & DNSTAP_HAS_RESPONSE_PORT) || m->response_port != 53)
        check_fail(cap, fno, "ports");
    if (!bytes_eq(m->identity, (const uint8_t *)identity, sizeof identity - 1)) check_fail(cap, fno, "identity");
    if (full) {
        if (!bytes_eq(m->query_message, q, ql)) check_fail(cap, fno, "query_message absent or wrong (full)");
        if (seq % 2) {
            if (!bytes_eq(m->response_message, r, rl)) check_fail(cap, fno, "response_message absent or wrong (full)");
        } else if (m->response_message.data) {
            check_fail(cap, fno, "response_message in a query");
        }
    } else {
        if (m->query_message.data || m->response_message.data) check_fail(cap, fno, "wire message present (not full)");
    }
    if (seq % 2) {
        if (!(m->has & DNSTAP_HAS_RESPONSE_TIME) || m->response_time_sec != SEQ_SEC || m->response_time_nsec != (uint32_t)seq)
            check_fail(cap, fno, "response_time");
    }
    return (long long)seq;
}

static int check_main(int argc, char **argv) {
    const char *accepted_path;
    int full = 1, exact = 0, unordered = 0, missing_empty = 0;
    uint64_t exact_n = 0, max_n = UINT64_MAX, killed = 0, streams = 1;
    seqlist_t acc = { NULL, 0, 0 }, got = { NULL, 0, 0 };
    uint8_t *accepted_bits;
    uint64_t max_seq = 0;
    int i, first_capture;
    size_t k;
    FILE *fp;
    char line[64];
    static uint8_t rbuf[1u << 20];
    static uint8_t chunk[65536];

    if (argc < 3) usage();
    accepted_path = argv[2];
    for (i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--full") == 0 && i + 1 < argc) { full = atoi(argv[++i]); }
        else if (strcmp(argv[i], "--exact") == 0 && i + 1 < argc) { exact = 1; if (!parse_u64(argv[++i], &exact_n)) usage(); }
        else if (strcmp(argv[i], "--max") == 0 && i + 1 < argc) { if (!parse_u64(argv[++i], &max_n)) usage(); }
        else if (strcmp(argv[i], "--killed") == 0 && i + 1 < argc) { if (!parse_u64(argv[++i], &killed)) usage(); }
        else if (strcmp(argv[i], "--unordered") == 0) { unordered = 1; }
        else if (strcmp(argv[i], "--missing-empty") == 0) { missing_empty = 1; }
        else if (strcmp(argv[i], "--streams") == 0 && i + 1 < argc) {
            if (!parse_u64(argv[++i], &streams) || streams == 0 || streams > DNSTAP_MAX_QUEUES) usage();
        }
        else break;
    }
    first_capture = i;
    if (first_capture >= argc) usage();

    fp = fopen(accepted_path, "r");
    if (fp == NULL) { fprintf(stderr, "error: %s: %s\n", accepted_path, strerror(errno)); return 1; }
    while (fgets(line, sizeof line, fp)) {
        uint64_t v;
        line[strcspn(line, "\n")] = 0;
        if (!parse_u64(line, &v)) { fprintf(stderr, "error: %s: bad line\n", accepted_path); fclose(fp); return 1; }
        seq_push(&acc, v);
        if (v > max_seq) max_seq = v;
    }
    fclose(fp);
    accepted_bits = (uint8_t *)calloc((size_t)max_seq + 1, 1);
    if (accepted_bits == NULL) { fprintf(stderr, "out of memory\n"); return 2; }
    for (k = 0; k < acc.n; k++) accepted_bits[acc.v[k]] = 1;

    for (i = first_capture; i < argc; i++) {
        const char *cap = argv[i];
        dnstap_reader_t rd;
        dnstap_result_t e = DNSTAP_ERR_AGAIN, end;
        uint64_t frames = 0, controls = 0;
        size_t n;
        int fd_err = 0;
        fp = fopen(cap, "rb");
        if (fp == NULL) {
            if (missing_empty && errno == ENOENT) { printf("capture=%s missing (empty)\n", cap); continue; }
            fprintf(stderr, "error: %s: %s\n", cap, strerror(errno));
            check_errors++;
            continue;
        }
        dnstap_reader_init(&rd, rbuf, sizeof rbuf);
        while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0) {
            size_t off = 0;
            while (off < n) {
                size_t used = 0;
                dnstap_frame_t f;
                e = dnstap_reader_feed(&rd, chunk + off, n - off, &used, &f);
                off += used;
                if (e == DNSTAP_ERR_AGAIN) break;
                if (e != DNSTAP_OK) break;
                if (f.kind == DNSTAP_FRAME_CONTROL) { controls++; continue; }
                {
                    dnstap_msg_t m;
                    dnstap_result_t d = dnstap_decode(f.data, f.len, &m);
                    long long s;
                    if (d != DNSTAP_OK) { check_fail(cap, frames, dnstap_result_str(d)); frames++; continue; }
                    s = check_msg(cap, frames, &m, full);
                    if (s >= 0) {
                        if ((uint64_t)s > max_seq || !accepted_bits[s]) check_fail(cap, frames, "sequence number never accepted");
                        seq_push(&got, (uint64_t)s);
                    }
                }
                frames++;
            }
            if (e != DNSTAP_OK && e != DNSTAP_ERR_AGAIN) break;
        }
        if (ferror(fp)) fd_err = 1;
        fclose(fp);
        end = dnstap_reader_end(&rd);
        if (missing_empty && frames == 0 && controls == 0 && end == DNSTAP_ERR_UNFINISHED) end = DNSTAP_OK;
        printf("capture=%s frames=%llu control=%llu end=%s\n", cap, (unsigned long long)frames,
               (unsigned long long)controls, dnstap_result_str(end));
        if (fd_err) { fprintf(stderr, "error: %s: read error\n", cap); check_errors++; }
        if ((end == DNSTAP_ERR_UNFINISHED || end == DNSTAP_ERR_TRUNCATED) && (uint64_t)(i - first_capture) < killed)
            continue;
        if (end != DNSTAP_OK) {
            fprintf(stderr, "error: %s: stream after %llu data frames: %s\n", cap, (unsigned long long)frames,
                    dnstap_result_str(end));
            check_errors++;
        }
    }

    printf("accepted=%llu captured=%llu\n", (unsigned long long)acc.n, (unsigned long long)got.n);
    if (exact) {
        /* per stream (producer): its captured numbers are the first ones it
           had accepted, in order; one stream: the whole list */
        uint64_t st_i;
        if (got.n != exact_n) {
            fprintf(stderr, "error: %llu frames captured, the tap reported %llu sent\n",
                    (unsigned long long)got.n, (unsigned long long)exact_n);
            check_errors++;
        }
        for (st_i = 0; st_i < streams; st_i++) {
            size_t a = 0, g = 0;
            for (;;) {
                while (g < got.n && got.v[g] % streams != st_i) g++;
                while (a < acc.n && acc.v[a] % streams != st_i) a++;
                if (g >= got.n) break;
                if (a >= acc.n || got.v[g] != acc.v[a]) {
                    fprintf(stderr, "error: stream %llu: captured frame %llu is seq %llu, the next accepted is %lld\n",
                            (unsigned long long)st_i, (unsigned long long)g, (unsigned long long)got.v[g],
                            a < acc.n ? (long long)acc.v[a] : -1LL);
                    check_errors++;
                    break;
                }
                g++;
                a++;
            }
        }
    } else {
        uint64_t dups = 0, disorder = 0;
        uint64_t last[DNSTAP_MAX_QUEUES];
        int seen[DNSTAP_MAX_QUEUES];
        memset(seen, 0, sizeof seen);
        if (got.n > max_n) {
            fprintf(stderr, "error: %llu frames captured, more than the %llu the tap reported sent\n",
                    (unsigned long long)got.n, (unsigned long long)max_n);
            check_errors++;
        }
        for (k = 0; k < got.n; k++) {
            size_t c = (size_t)(got.v[k] % streams);
            if (seen[c] && got.v[k] <= last[c]) disorder++;
            seen[c] = 1;
            last[c] = got.v[k];
        }
        qsort(got.v, got.n, sizeof *got.v, cmp_u64);
        for (k = 1; k < got.n; k++) if (got.v[k] == got.v[k - 1]) dups++;
        printf("duplicates=%llu out_of_order=%llu\n", (unsigned long long)dups, (unsigned long long)disorder);
        if (dups) { fprintf(stderr, "error: %llu sequence numbers captured more than once\n", (unsigned long long)dups); check_errors++; }
        if (disorder && !unordered) {
            fprintf(stderr, "error: %llu captured sequence numbers not above the one before\n", (unsigned long long)disorder);
            check_errors++;
        }
    }
    free(acc.v);
    free(got.v);
    free(accepted_bits);
    printf("check=%s\n", check_errors ? "fail" : "ok");
    return check_errors ? 1 : 0;
}

/* ---- producer ---------------------------------------------------------------- */

static dnstap_t tap;
#ifdef TAP_CLIENT_TLS
static dnstap_tls_t tls;
/* Mbed TLS 3.x: PSA crypto's global state (psa_crypto_init() in
   dnstap_init()) is the application's to free, once, at the end. */
static void tls_global_free(void) {
#if MBEDTLS_VERSION_NUMBER >= 0x03000000 && defined(MBEDTLS_PSA_CRYPTO_C)
    mbedtls_psa_crypto_free();
#endif
}
#endif

/* -P: message m grown by an extra of zeros to a payload of exactly the
   tap's payload_max (as the tap encodes it: without wire messages unless
   full). The extra's length varint grows with it: try the lengths near. */
static int pad_to_max;
static uint8_t pad_zeros[DNSTAP_PAYLOAD_MAX_FSTRM];

static void pad_msg(dnstap_msg_t *m) {
    dnstap_msg_t as_sent = *m;
    size_t base, size, len;
    if (!tap.desc.full) as_sent.query_message.data = as_sent.response_message.data = NULL;
    as_sent.extra.data = pad_zeros;
    as_sent.extra.len = 0;
    if (dnstap_encoded_size(&tap.enc, &as_sent, &base) != DNSTAP_OK || tap.enc.payload_max - base > sizeof pad_zeros)
        return;
    for (len = tap.enc.payload_max - base; len + 4 > tap.enc.payload_max - base; len--) {
        as_sent.extra.len = len;
        if (dnstap_encoded_size(&tap.enc, &as_sent, &size) == DNSTAP_OK && size == tap.enc.payload_max) {
            m->extra = as_sent.extra;
            return;
        }
    }
}

/* One producer: logs on its own queue q the messages q, q + nq, q + 2 nq, ... */
typedef struct producer_t {
    unsigned q, nq;
    uint64_t count, rate;            /* this producer's share; count 0: until t_end */
    uint64_t t0_ns, t_end_ns;
    uint64_t i;                      /* messages logged so far */
    seqlist_t acc, lat;              /* accepted sequence numbers; latencies */
    uint64_t lat_max, lat_max_at;
    uint64_t accepted, ret_full, ret_too_long, ret_disc, ret_invalid, ret_other;
    int done;                        /* thread finished (atomic) */
    uint8_t qwire[64], rwire[96];
} producer_t;

static int producer_more(const producer_t *p, uint64_t tn) {
    return p->count ? p->i < p->count : tn < p->t_end_ns;
}

/* Log what is due at tn (at most `batch` when the rate is 0). Returns when
   the next message is due (tn: at once), or UINT64_MAX when done. */
static uint64_t producer_step(producer_t *p, uint64_t tn, int batch) {
    int n = 0;
    while (producer_more(p, tn)) {
        dnstap_msg_t m;
        uint64_t seq = p->i * p->nq + p->q, a, b, lt;
        dnstap_result_t r;
        if (p->rate) {
            uint64_t due = p->t0_ns + p->i * 1000000000u / p->rate;
            if (due > tn) return due;
        } else if (n >= batch) {
            return tn;
        }
        make_msg(&m, seq, p->qwire, p->rwire);
        if (pad_to_max) pad_msg(&m);
        a = now_ns();
        r = p->nq == 1 ? dnstap_log(&tap, &m) : dnstap_log_queue(&tap, p->q, &m);
        b = now_ns();
        lt = b - a;
        if (lt > p->lat_max) { p->lat_max = lt; p->lat_max_at = seq; }
        seq_push(&p->lat, lt);
        switch (r) {
        case DNSTAP_OK: p->accepted++; seq_push(&p->acc, seq); break;
        case DNSTAP_ERR_FULL: p->ret_full++; break;
        case DNSTAP_ERR_TOO_LONG: p->ret_too_long++; break;
        case DNSTAP_ERR_DISCONNECTED: p->ret_disc++; break;
        case DNSTAP_ERR_INVALID: p->ret_invalid++; break;
        default: p->ret_other++; break;
        }
        p->i++;
        n++;
        tn = b;
    }
    return UINT64_MAX;
}

/* Wait up to ms for what io asks; returns the revents that answer it. */
static short wait_io(const dnstap_io_t *io, int ms) {
    if (io->fd >= 0 && (io->want_read || io->want_write)) {
        struct pollfd pfd;
        pfd.fd = io->fd;
        pfd.events = (short)((io->want_read ? POLLIN : 0) | (io->want_write ? POLLOUT : 0));
        pfd.revents = 0;
        if (poll(&pfd, 1, ms) > 0) return (short)(pfd.revents & (pfd.events | POLLERR | POLLHUP));
        return 0;
    }
    if (ms > 0) (void)poll(NULL, 0, ms);
    return 0;
}

static void *producer_thread(void *arg) {
    producer_t *p = (producer_t *)arg;
    for (;;) {
        uint64_t tn = now_ns(), next = producer_step(p, tn, 64);
        if (next == UINT64_MAX) break;
        if (next > tn) {
            struct timespec ts;
            uint64_t w = next - tn;
            ts.tv_sec = (time_t)(w / 1000000000u);
            ts.tv_nsec = (long)(w % 1000000000u);
            nanosleep(&ts, NULL);
        } else {
            struct timespec ts = { 0, 20000 };   /* as fast as possible, but let the poller run */
            nanosleep(&ts, NULL);
        }
    }
    __atomic_store_n(&p->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

/* dnstap_poll(), timed; notes the first connection (phase steady) */
static uint64_t poll_calls, poll_max_ns, polls_until_connected, connected_ms;
static int connected, ending;

static void poll_tap(uint64_t nowms) {
    uint64_t a = now_ns(), b;
    (void)dnstap_poll(&tap, nowms);
    b = now_ns();
    if (b - a > poll_max_ns) poll_max_ns = b - a;
    poll_calls++;
    if (!connected && dnstap_stats(&tap).connects > 0) {
        connected = 1;
        connected_ms = dnstap_clock_ms() - start_ms;
        polls_until_connected = poll_calls;
        if (!ending) SET_PHASE(PH_STEADY);
    }
}

static void print_log_counts(void) {
    printf("log_errors=%llu\nlog_warnings=%llu\ntls_failed_lines=%llu\ntls_ok_lines=%llu\nskipverify_lines=%llu\n"
           "first_tls_failure=%s\n", n_error, n_warn, n_hs_failed, n_tls_ok, n_skipverify, first_hs_failed);
}

#ifdef COUNT_ALLOCS
/* Once the library is done (phase start again, after dnstap_tls_free()):
   each phase reached, live and peak as bytes above what was live before
   dnstap_init(). */
static void print_allocs(void) {
    int p;
    for (p = PH_INIT; p < PH_N; p++)
        if (ph_entered[p])
            printf("allocs_%s=%llu\nalloc_bytes_%s=%llu\npeak_live_%s=%lld\nlive_at_start_of_%s=%lld\n",
                   ph_name[p], ph_allocs[p], ph_name[p], ph_bytes[p], ph_name[p],
                   ph_peak[p] - ph_live0[PH_INIT], ph_name[p], ph_live0[p] - ph_live0[PH_INIT]);
    printf("live_after_tls_free=%lld\n", ph_live0[PH_START] - ph_live0[PH_INIT]);
}
#else
static void print_allocs(void) {}
#endif

int main(int argc, char **argv) {
    const char *endpoint = NULL, *accepted_path = NULL;
    uint64_t count = 1000, rate = 0, qbytes = 1u << 20, duration_ms = 0, timeout_ms = 200, backoff_ms = 200,
             backoff_max_ms = 0, run_ms = 10000, full = 1, sndbuf = 0, threads = 0;
    int drop = 0, golang = 0, strict = 0, init_only = 0, i, rc = 0;
    unsigned nq, k;
    uint64_t after_disc = 0;
    dnstap_desc_t d;
    dnstap_result_t r;
    dnstap_stats_t st;
    uint8_t *queue;
    static producer_t prod[DNSTAP_MAX_QUEUES];
    pthread_t tid[DNSTAP_MAX_QUEUES];
    seqlist_t lat = { NULL, 0, 0 };
    uint64_t lat_max = 0, lat_max_at = 0, lat_p999 = 0;
    uint64_t attempted = 0, accepted = 0, ret_full = 0, ret_too_long = 0, ret_disc = 0, ret_invalid = 0, ret_other = 0;
    uint64_t t0_ns, t_end_ns, run_start, run_end;
    static char outbuf[1 << 16];
#ifdef TAP_CLIENT_TLS
    static uint8_t pin[32];
#endif

    if (argc >= 2 && strcmp(argv[1], "--check") == 0) return check_main(argc, argv);
    setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);   /* no stdio allocation while counting */
    memset(&d, 0, sizeof d);
    for (i = 1; i < argc; i++) {
        const char *o = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int ok = 1;
        if (strcmp(o, "-g") == 0) { golang = 1; continue; }
        if (strcmp(o, "-P") == 0) { pad_to_max = 1; continue; }
        if (strcmp(o, "-v") == 0) { verbose = 1; continue; }
        if (strcmp(o, "-S") == 0) { strict = 1; continue; }
        if (strcmp(o, "--init-only") == 0) { init_only = 1; continue; }
#ifdef TAP_CLIENT_TLS
        if (strcmp(o, "--skipverify") == 0) { d.skipverify = true; continue; }
#endif
        if (v == NULL) usage();
        if (strcmp(o, "-e") == 0) endpoint = v;
        else if (strcmp(o, "-a") == 0) accepted_path = v;
        else if (strcmp(o, "-p") == 0) {
            if (strcmp(v, "keep") == 0) drop = 0;
            else if (strcmp(v, "drop") == 0) drop = 1;
            else ok = 0;
        }
        else if (strcmp(o, "-n") == 0) ok = parse_u64(v, &count);
        else if (strcmp(o, "-r") == 0) ok = parse_u64(v, &rate);
        else if (strcmp(o, "-q") == 0) ok = parse_u64(v, &qbytes);
        else if (strcmp(o, "-f") == 0) ok = parse_u64(v, &full);
        else if (strcmp(o, "-d") == 0) ok = parse_u64(v, &duration_ms);
        else if (strcmp(o, "-t") == 0) ok = parse_u64(v, &timeout_ms);
        else if (strcmp(o, "-b") == 0) ok = parse_u64(v, &backoff_ms);
        else if (strcmp(o, "-B") == 0) ok = parse_u64(v, &backoff_max_ms);
        else if (strcmp(o, "-W") == 0) ok = parse_u64(v, &run_ms);
        else if (strcmp(o, "-s") == 0) ok = parse_u64(v, &sndbuf) && sndbuf <= 0x7fffffffu;
        else if (strcmp(o, "-T") == 0) ok = parse_u64(v, &threads) && threads <= DNSTAP_MAX_QUEUES;
#ifdef TAP_CLIENT_TLS
        else if (strcmp(o, "--ca") == 0) d.tls_ca_file = v;
        else if (strcmp(o, "--ca-path") == 0) d.tls_ca_path = v;
        else if (strcmp(o, "--cert") == 0) d.tls_cert_file = v;
        else if (strcmp(o, "--key") == 0) d.tls_key_file = v;
        else if (strcmp(o, "--sni") == 0) d.tls_server_name = v;
        else if (strcmp(o, "--ciphersuites") == 0) d.tls_ciphersuites = v;
        else if (strcmp(o, "--pin") == 0) { ok = parse_hex32(v, pin); d.tls_pin_sha256 = pin; }
#endif
        else ok = 0;
        if (!ok) usage();
        i++;
    }
    if (endpoint == NULL || qbytes > 0x7fffffffu || timeout_ms > 0xffffffffu || backoff_ms > 0xffffffffu ||
        backoff_max_ms > 0xffffffffu || (count == 0 && duration_ms == 0))
        usage();
#ifdef COUNT_ALLOCS
    if (count == 0 || threads) usage();   /* the lists are sized from -n; the counters are not atomic */
#endif
    if (backoff_max_ms == 0) backoff_max_ms = backoff_ms * 4;
    nq = threads ? (unsigned)threads : 1u;

    /* everything this program needs, allocated before the library runs:
       the queue, and the producers' lists for the messages they will log
       (with -n; -d without -n: as many as -r makes, or grown as needed) */
    queue = (uint8_t *)malloc((size_t)qbytes);
    if (queue == NULL) { fprintf(stderr, "out of memory\n"); return 2; }
    memset(queue, 0, (size_t)qbytes);   /* fault the pages in: measure dnstap_log(), not the kernel */
    for (k = 0; k < nq; k++) {
        producer_t *p = &prod[k];
        uint64_t expect;
        p->q = k;
        p->nq = nq;
        p->count = count / nq + (k < count % nq ? 1u : 0u);
        if (count && p->count == 0) p->count = 1;   /* (count < threads) */
        p->rate = rate / nq + (rate && k < rate % nq ? 1u : 0u);
        if (rate && p->rate == 0) p->rate = 1;
        expect = p->count ? p->count : p->rate ? duration_ms * p->rate / 1000u + 1u : 0u;
        seq_reserve(&p->acc, (size_t)expect);
        seq_reserve(&p->lat, (size_t)expect);
    }
    d.endpoint = endpoint;
    d.full = full != 0;
    d.queue = queue;
    d.queue_size = (size_t)qbytes;
    d.queues = nq;
    d.identity = dnstap_str(identity);
    d.version = dnstap_str("tap_client 1");
    d.write_buffer = (uint32_t)sndbuf;
    d.payload_max = golang ? DNSTAP_PAYLOAD_MAX_GOLANG : 0;
    d.while_disconnected = drop ? DNSTAP_DROP_WHILE_DISCONNECTED : DNSTAP_KEEP_WHILE_DISCONNECTED;
    d.backoff_min_ms = (uint32_t)backoff_ms;
    d.backoff_max_ms = (uint32_t)backoff_max_ms;
    d.connect_timeout_ms = d.handshake_timeout_ms = d.write_timeout_ms = d.finish_timeout_ms = (uint32_t)timeout_ms;
    d.drop_report_ms = 1000;
    d.logger.func = logger;
#ifdef TAP_CLIENT_TLS
    d.tls_state = &tls;
#endif
    start_ms = dnstap_clock_ms();
    SET_PHASE(PH_INIT);
    r = dnstap_init(&tap, &d);
    SET_PHASE(PH_CONNECT);
    printf("init=%s\ninit_code=%d\n", dnstap_result_str(r), (int)r);
    if (r != DNSTAP_OK) fprintf(stderr, "dnstap_init: %s\n", dnstap_result_str(r));
    if (init_only || r != DNSTAP_OK) {
#ifdef TAP_CLIENT_TLS
        if (r == DNSTAP_OK) dnstap_tls_free(&tls);   /* a failed dnstap_init() has done it */
        tls_global_free();
#endif
        SET_PHASE(PH_START);
        print_log_counts();
        print_allocs();
        for (k = 0; k < nq; k++) {
            free(prod[k].acc.v);
            free(prod[k].lat.v);
        }
        free(queue);
        return r == DNSTAP_OK ? 0 : 2;
    }

    t0_ns = now_ns();
    t_end_ns = t0_ns + duration_ms * 1000000u;
    for (k = 0; k < nq; k++) {
        prod[k].t0_ns = t0_ns;
        prod[k].t_end_ns = t_end_ns;
    }
    for (k = 0; threads && k < nq; k++) {
        if (pthread_create(&tid[k], NULL, producer_thread, &prod[k]) != 0) {
            fprintf(stderr, "pthread_create failed\n");
            return 2;
        }
    }

    /* The host's event loop: log what is due (single-threaded mode), poll
       the tap, then wait in poll(2) as dnstap_io() says. Strict (-S): call
       dnstap_poll() only when dnstap_io() says so, i.e. its deadline has
       come or its descriptor is ready for what it asked. */
    for (;;) {
        uint64_t tn = now_ns(), nowms, next_due_ns = UINT64_MAX;
        int wait, more = 0;
        short revents = 0;
        dnstap_io_t io;
        if (threads) {
            for (k = 0; k < nq; k++) if (!__atomic_load_n(&prod[k].done, __ATOMIC_ACQUIRE)) more = 1;
        } else {
            next_due_ns = producer_step(&prod[0], tn, 64);
            more = next_due_ns != UINT64_MAX;
        }
        if (!more && tn >= t_end_ns) break;
        nowms = dnstap_clock_ms();
        io = dnstap_io(&tap, nowms);
        if (!strict || nowms >= io.deadline_ms) {
            poll_tap(nowms);
            io = dnstap_io(&tap, nowms);
        }
        {
            uint64_t until_ms = io.deadline_ms, tnow = now_ns(), wait_ms;
            if (next_due_ns != UINT64_MAX) {
                uint64_t due_ms = nowms + (next_due_ns > tnow ? (next_due_ns - tnow + 999999u) / 1000000u : 0);
                if (due_ms < until_ms) until_ms = due_ms;
            }
            if (!more) {   /* nothing more to log: wait at most until the run ends */
                uint64_t end_ms = nowms + (t_end_ns > tnow ? (t_end_ns - tnow + 999999u) / 1000000u : 0);
                if (end_ms < until_ms) until_ms = end_ms;
            }
            wait_ms = until_ms > nowms ? until_ms - nowms : 0;
            if (threads && wait_ms > 1) wait_ms = 1;     /* producers do not wake us */
            if (wait_ms > 100) wait_ms = 100;
            wait = (int)wait_ms;
        }
        revents = wait_io(&io, wait);
        if (strict && revents) poll_tap(dnstap_clock_ms());
    }
    for (k = 0; threads && k < nq; k++) pthread_join(tid[k], NULL);

    st = dnstap_stats(&tap);
    ending = 1;
    SET_PHASE(PH_END);
    printf("before_shutdown_sent=%llu\nbefore_shutdown_queued=%llu\n", (unsigned long long)st.sent,
           (unsigned long long)st.queued);
    run_start = dnstap_clock_ms();
    dnstap_shutdown(&tap, run_start);
    if (!strict) {
        r = dnstap_run(&tap, run_ms);
    } else {
        /* dnstap_run()'s job, strictly by dnstap_io() */
        uint64_t nowms = run_start;
        while (!dnstap_closed(&tap) && nowms < run_start + run_ms) {
            dnstap_io_t io = dnstap_io(&tap, nowms);
            uint64_t w = io.deadline_ms > nowms ? io.deadline_ms - nowms : 0;
            short rev = 0;
            if (nowms < io.deadline_ms) rev = wait_io(&io, (int)(w > 100 ? 100 : w));
            nowms = dnstap_clock_ms();
            if (rev || nowms >= io.deadline_ms) poll_tap(nowms);
        }
        r = dnstap_closed(&tap) ? DNSTAP_OK : DNSTAP_ERR_TIMEOUT;
    }
    run_end = dnstap_clock_ms();
    /* dnstap_log() after shutdown is refused and counted */
    {
        dnstap_msg_t m;
        dnstap_result_t after;
        memset(&m, 0, sizeof m);
        m.type = DNSTAP_CLIENT_QUERY;
        after = dnstap_log(&tap, &m);
        if (after == DNSTAP_OK) { fprintf(stderr, "error: dnstap_log() after shutdown returned OK\n"); rc = 4; }
        after_disc = after == DNSTAP_ERR_DISCONNECTED ? 1u : 0u;
        printf("log_after_shutdown=%s (%d)\nresult_disconnected=%s (%d)\n", dnstap_result_str(after), (int)after,
               dnstap_result_str(DNSTAP_ERR_DISCONNECTED), (int)DNSTAP_ERR_DISCONNECTED);
    }
    st = dnstap_stats(&tap);
#ifdef TAP_CLIENT_TLS
    dnstap_tls_free(&tls);
    tls_global_free();
#endif
    SET_PHASE(PH_START);   /* the library is done: what is live now stays */

    /* merge the producers' figures */
    {
        FILE *acc = NULL;
        if (accepted_path) {
            acc = fopen(accepted_path, "w");
            if (acc == NULL) { fprintf(stderr, "%s: %s\n", accepted_path, strerror(errno)); return 2; }
        }
        for (k = 0; k < nq; k++) {
            producer_t *p = &prod[k];
            size_t j;
            attempted += p->i;
            accepted += p->accepted;
            ret_full += p->ret_full;
            ret_too_long += p->ret_too_long;
            ret_disc += p->ret_disc;
            ret_invalid += p->ret_invalid;
            ret_other += p->ret_other;
            if (p->lat_max > lat_max) { lat_max = p->lat_max; lat_max_at = p->lat_max_at; }
            for (j = 0; j < p->lat.n; j++) seq_push(&lat, p->lat.v[j]);
            for (j = 0; acc && j < p->acc.n; j++) fprintf(acc, "%llu\n", (unsigned long long)p->acc.v[j]);
            free(p->acc.v);
            free(p->lat.v);
        }
        if (acc && fclose(acc) != 0) { fprintf(stderr, "%s: write error\n", accepted_path); return 2; }
    }
    if (lat.n) {
        size_t idx;
        qsort(lat.v, lat.n, sizeof *lat.v, cmp_u64);
        idx = lat.n * 999 / 1000;
        if (idx >= lat.n) idx = lat.n - 1;
        lat_p999 = lat.v[idx];
    }
    printf("logged=%llu\nsent=%llu\nsent_bytes=%llu\ndropped_full=%llu\ndropped_too_big=%llu\n"
           "dropped_invalid=%llu\ndropped_disconnected=%llu\ndropped_write_error=%llu\nqueued=%llu\n"
           "queued_bytes=%llu\nconnects=%llu\nreconnects=%llu\nhandshake_failures=%llu\ntimeouts=%llu\n",
           (unsigned long long)st.logged, (unsigned long long)st.sent, (unsigned long long)st.sent_bytes,
           (unsigned long long)st.dropped_full, (unsigned long long)st.dropped_too_big,
           (unsigned long long)st.dropped_invalid, (unsigned long long)st.dropped_disconnected,
           (unsigned long long)st.dropped_write_error, (unsigned long long)st.queued,
           (unsigned long long)st.queued_bytes, (unsigned long long)st.connects,
           (unsigned long long)st.reconnects, (unsigned long long)st.handshake_failures,
           (unsigned long long)st.timeouts);
    printf("queues=%u\nattempted=%llu\naccepted=%llu\nret_full=%llu\nret_too_long=%llu\nret_disconnected=%llu\n"
           "ret_invalid=%llu\nret_other=%llu\n", nq,
           (unsigned long long)attempted, (unsigned long long)accepted, (unsigned long long)ret_full,
           (unsigned long long)ret_too_long, (unsigned long long)ret_disc, (unsigned long long)ret_invalid,
           (unsigned long long)ret_other);
    printf("log_max_ns=%llu\nlog_max_at=%llu\nlog_p999_ns=%llu\n", (unsigned long long)lat_max,
           (unsigned long long)lat_max_at, (unsigned long long)lat_p999);
    printf("host=%s\n", strict ? "strict" : "loop");
    printf("run_result=%s\nrun_ms=%llu\nclosed=%d\nelapsed_ms=%llu\n", dnstap_result_str(r),
           (unsigned long long)(run_end - run_start), dnstap_closed(&tap) ? 1 : 0,
           (unsigned long long)(run_end - start_ms));
    printf("polls=%llu\npoll_max_ns=%llu\npolls_until_connected=%llu\nconnected_ms=%llu\n",
           (unsigned long long)poll_calls, (unsigned long long)poll_max_ns,
           (unsigned long long)polls_until_connected, (unsigned long long)connected_ms);
    print_log_counts();
    print_allocs();

    {
        uint64_t dropped = st.dropped_full + st.dropped_too_big + st.dropped_invalid + st.dropped_disconnected +
                           st.dropped_write_error;
        int inv = st.logged == st.sent + dropped + st.queued;
        printf("invariant=%s\n", inv ? "ok" : "broken");
        if (!inv) {
            fprintf(stderr, "error: invariant broken: logged %llu != sent %llu + dropped %llu + queued %llu\n",
                    (unsigned long long)st.logged, (unsigned long long)st.sent, (unsigned long long)dropped,
                    (unsigned long long)st.queued);
            rc = 3;
        }
    }
    /* the return codes against the counters (+1: the refused call after shutdown) */
    if (rc == 0) {
        const char *why = NULL;
        if (st.logged != attempted + 1) why = "logged != dnstap_log() calls";
        else if (st.dropped_full != ret_full) why = "dropped_full != DNSTAP_ERR_FULL returns";
        else if (st.dropped_too_big != ret_too_long) why = "dropped_too_big != DNSTAP_ERR_TOO_LONG returns";
        else if (ret_other || ret_invalid) why = "unexpected dnstap_log() result";
        else if (st.sent > accepted) why = "sent > accepted";
        else if (!dnstap_closed(&tap)) why = "not closed after dnstap_run()";
        else if (st.queued != 0 || st.queued_bytes != 0) why = "frames still queued after close";
        else if (st.sent + st.dropped_disconnected + st.dropped_write_error != accepted + ret_disc + after_disc)
            why = "accepted frames unaccounted for";
        if (why) { fprintf(stderr, "error: %s\n", why); rc = 4; }
    }
    free(lat.v);
    free(queue);
    return rc;
}
