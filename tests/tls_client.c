/* tls_client.c - a dnstap.h producer over tls:// endpoints (Mbed TLS) for
   tests/tls.sh, and a checker of the captures.

   PRODUCER
     tls_client -e tls://HOST:PORT [TLS options] [options]
     TLS options (dnstap_desc_t fields):
       --ca FILE        tls_ca_file            --ca-path DIR  tls_ca_path
       --cert FILE      tls_cert_file          --key FILE     tls_key_file
       --pin HEX        tls_pin_sha256 (64 hex digits)
       --sni NAME       tls_server_name        --skipverify   skipverify
     options:
       -n N       messages to log (0: until -d ends)                 [1000]
       -r RATE    messages per second, 0 = as fast as possible        [0]
       -d MS      keep running (logging, polling) at least this long  [0]
       -q BYTES   queue memory                                        [4194304]
       -t MS      connect (TCP + TLS handshake), handshake, write and finish timeouts [1000]
       -b MS      first reconnect delay; -B MS the largest one        [100, 4 x -b]
       -W MS      time allowed to dnstap_run() after dnstap_shutdown  [5000]
       -a FILE    write the sequence numbers dnstap_log() accepted, one a line
       -v         print the library's log lines on stderr
       --init-only  dnstap_init(), print its result, dnstap_tls_free(), exit
     Message i is CLIENT_QUERY (even i) or CLIENT_RESPONSE (odd i) with
     query_time = 1700000000 s + i ns and DNS wire messages whose ID is
     i & 0xffff (always `full`), identity "tls_client".
     The loop is a host event loop: dnstap_log() what is due, dnstap_poll(),
     then poll(2) as dnstap_io() says. At the end dnstap_shutdown(),
     dnstap_run(), dnstap_tls_free(). Prints the stats, the latency of
     dnstap_log() and dnstap_poll(), and counts of the library's log lines as
     key=value lines.
     Built with -DCOUNT_ALLOCS (no sanitizer), it also counts the heap
     allocations (all of them are Mbed TLS's: this program allocates nothing
     after start-up) in each phase: init (dnstap_init), connect (until the
     first connection is up), steady (logging and sending), end (shutdown and
     dnstap_tls_free); -n must then be > 0.
     Exit status: 0 fine; 2 usage or setup error; 3 the invariant
     logged == sent + dropped_* + queued does not hold; 4 another
     inconsistency (not closed, frames left, counters vs return codes).

   CHECKER
     tls_client --check ACCEPTED_FILE [--exact SENT] [--max SENT] [--killed N] CAPTURE...
       Reads each capture with dnstap_reader_* and decodes every data frame
       with dnstap_decode(); checks every field we set and that each
       sequence number was accepted by dnstap_log(). --exact: the captures
       hold exactly the first SENT accepted numbers, in order; otherwise the
       numbers are strictly increasing across the captures and --max bounds
       their count. --killed N: the first N captures may end without STOP or
       inside a frame (their writer was killed); the others end with STOP.
       A missing CAPTURE counts as empty. Prints key=value lines; exit 0 if
       all holds, 1 otherwise ("error: ..." on stderr).
*/
#define DNSTAP_IMPLEMENTATION
#define DNSTAP_WITH_MBEDTLS
#include "../dnstap.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SEQ_SEC 1700000000u

/* ---- heap accounting (COUNT_ALLOCS: glibc, no sanitizer) ---------------- */
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

/* ---- messages ------------------------------------------------------------- */

static const uint8_t qname[] = { 3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0 };
static const uint8_t addr_client[4] = { 192, 0, 2, 53 };
static const uint8_t addr_server[4] = { 198, 51, 100, 1 };

static size_t make_query(uint8_t *b, uint32_t id) {
    size_t n = 0;
    b[n++] = (uint8_t)(id >> 8); b[n++] = (uint8_t)id;
    b[n++] = 0x01; b[n++] = 0x00;
    b[n++] = 0; b[n++] = 1;
    b[n++] = 0; b[n++] = 0; b[n++] = 0; b[n++] = 0; b[n++] = 0; b[n++] = 0;
    memcpy(b + n, qname, sizeof qname); n += sizeof qname;
    b[n++] = 0; b[n++] = 1; b[n++] = 0; b[n++] = 1;
    return n;
}

static size_t make_response(uint8_t *b, uint32_t id) {
    static const uint8_t an[] = { 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x01, 0x2c, 0, 4, 192, 0, 2, 1 };
    size_t n = make_query(b, id);
    b[2] = 0x81; b[3] = 0x80;
    b[7] = 1;
    memcpy(b + n, an, sizeof an);
    return n + sizeof an;
}

static void make_msg(dnstap_msg_t *m, uint64_t seq, uint8_t *qw, uint8_t *rw) {
    memset(m, 0, sizeof *m);
    m->type = seq % 2 ? DNSTAP_CLIENT_RESPONSE : DNSTAP_CLIENT_QUERY;
    m->socket_family = DNSTAP_INET;
    m->socket_protocol = DNSTAP_UDP;
    m->query_address.data = addr_client; m->query_address.len = 4;
    m->response_address.data = addr_server; m->response_address.len = 4;
    m->has = DNSTAP_HAS_QUERY_PORT | DNSTAP_HAS_RESPONSE_PORT;
    m->query_port = 10000u + (uint32_t)(seq % 50000u);
    m->response_port = 53;
    dnstap_msg_set_query_time(m, SEQ_SEC, (uint32_t)seq);
    m->query_message.data = qw;
    m->query_message.len = make_query(qw, (uint32_t)(seq & 0xffff));
    if (seq % 2) {
        dnstap_msg_set_response_time(m, SEQ_SEC, (uint32_t)seq);
        m->response_message.data = rw;
        m->response_message.len = make_response(rw, (uint32_t)(seq & 0xffff));
    }
}

/* ---- helpers ---------------------------------------------------------------- */

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

static void usage(void) {
    fprintf(stderr, "usage: tls_client -e tls://HOST:PORT [--ca FILE] [--ca-path DIR] [--cert FILE --key FILE]\n"
                    "                  [--pin HEX] [--sni NAME] [--skipverify] [-n N] [-r RATE] [-d MS] [-q BYTES]\n"
                    "                  [-t MS] [-b MS] [-B MS] [-W MS] [-a FILE] [-v] [--init-only]\n"
                    "       tls_client --check ACCEPTED [--exact SENT] [--max SENT] [--killed N] CAPTURE...\n");
    exit(2);
}

/* ---- the library's log lines ----------------------------------------------- */

static uint64_t start_ms;
static int verbose;
static unsigned long long n_hs_failed, n_skipverify, n_tls_ok, n_warn, n_error;
static char first_hs_failed[400];

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

/* ---- checker ----------------------------------------------------------------- */

static int check_errors;

static void check_fail(const char *cap, uint64_t frame, const char *what) {
    if (check_errors < 20) fprintf(stderr, "error: %s: data frame %llu: %s\n", cap, (unsigned long long)frame, what);
    check_errors++;
}

static int bytes_eq(dnstap_bytes_t b, const uint8_t *p, size_t n) {
    return b.data != NULL && b.len == n && memcmp(b.data, p, n) == 0;
}

static long long check_msg(const char *cap, uint64_t fno, const dnstap_msg_t *m) {
    uint8_t q[64], r[96];
    size_t ql, rl;
    uint64_t seq;
    if (!(m->has & DNSTAP_HAS_QUERY_TIME) || m->query_time_sec != SEQ_SEC) {
        check_fail(cap, fno, "query_time missing or not ours");
        return -1;
    }
    seq = m->query_time_nsec;
    ql = make_query(q, (uint32_t)(seq & 0xffff));
    rl = make_response(r, (uint32_t)(seq & 0xffff));
    if (m->type != (seq % 2 ? DNSTAP_CLIENT_RESPONSE : DNSTAP_CLIENT_QUERY)) check_fail(cap, fno, "message type");
    if (m->socket_family != DNSTAP_INET || m->socket_protocol != DNSTAP_UDP) check_fail(cap, fno, "socket family/protocol");
    if (!bytes_eq(m->query_address, addr_client, 4) || !bytes_eq(m->response_address, addr_server, 4))
        check_fail(cap, fno, "addresses");
    if (!(m->has & DNSTAP_HAS_QUERY_PORT) || m->query_port != 10000u + (uint32_t)(seq % 50000u) ||
        !(m->has & DNSTAP_HAS_RESPONSE_PORT) || m->response_port != 53)
        check_fail(cap, fno, "ports");
    if (!bytes_eq(m->identity, (const uint8_t *)"tls_client", 10)) check_fail(cap, fno, "identity");
    if (!bytes_eq(m->query_message, q, ql)) check_fail(cap, fno, "query_message");
    if (seq % 2) {
        if (!bytes_eq(m->response_message, r, rl)) check_fail(cap, fno, "response_message");
        if (!(m->has & DNSTAP_HAS_RESPONSE_TIME) || m->response_time_sec != SEQ_SEC ||
            m->response_time_nsec != (uint32_t)seq)
            check_fail(cap, fno, "response_time");
    } else if (m->response_message.data) {
        check_fail(cap, fno, "response_message in a query");
    }
    return (long long)seq;
}

typedef struct seqlist_t { uint64_t *v; size_t n, cap; } seqlist_t;

static void seq_push(seqlist_t *l, uint64_t x) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4096;
        uint64_t *v = (uint64_t *)realloc(l->v, cap * sizeof *v);
        if (v == NULL) { fprintf(stderr, "out of memory\n"); exit(2); }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = x;
}

static int check_main(int argc, char **argv) {
    int exact = 0, i, first;
    uint64_t exact_n = 0, max_n = UINT64_MAX, killed = 0, max_seq = 0, last = 0;
    int have_last = 0;
    seqlist_t acc = { NULL, 0, 0 }, got = { NULL, 0, 0 };
    uint8_t *bits;
    FILE *fp;
    char line[64];
    size_t k;
    static uint8_t rbuf[1u << 20], chunk[65536];

    if (argc < 3) usage();
    for (i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--exact") == 0 && i + 1 < argc) { exact = 1; if (!parse_u64(argv[++i], &exact_n)) usage(); }
        else if (strcmp(argv[i], "--max") == 0 && i + 1 < argc) { if (!parse_u64(argv[++i], &max_n)) usage(); }
        else if (strcmp(argv[i], "--killed") == 0 && i + 1 < argc) { if (!parse_u64(argv[++i], &killed)) usage(); }
        else break;
    }
    first = i;
    if (first >= argc) usage();
    fp = fopen(argv[2], "r");
    if (fp == NULL) { fprintf(stderr, "error: %s: %s\n", argv[2], strerror(errno)); return 1; }
    while (fgets(line, sizeof line, fp)) {
        uint64_t v;
        line[strcspn(line, "\n")] = 0;
        if (!parse_u64(line, &v)) { fprintf(stderr, "error: %s: bad line\n", argv[2]); fclose(fp); return 1; }
        seq_push(&acc, v);
        if (v > max_seq) max_seq = v;
    }
    fclose(fp);
    bits = (uint8_t *)calloc((size_t)max_seq + 1, 1);
    if (bits == NULL) return 2;
    for (k = 0; k < acc.n; k++) bits[acc.v[k]] = 1;

    for (i = first; i < argc; i++) {
        const char *cap = argv[i];
        dnstap_reader_t rd;
        dnstap_result_t e = DNSTAP_ERR_AGAIN, end;
        uint64_t frames = 0, controls = 0;
        size_t n;
        fp = fopen(cap, "rb");
        if (fp == NULL) {
            if (errno == ENOENT) { printf("capture=%s missing (empty)\n", cap); continue; }
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
                dnstap_msg_t m;
                dnstap_result_t d;
                long long s;
                e = dnstap_reader_feed(&rd, chunk + off, n - off, &used, &f);
                off += used;
                if (e != DNSTAP_OK) break;
                if (f.kind == DNSTAP_FRAME_CONTROL) { controls++; continue; }
                d = dnstap_decode(f.data, f.len, &m);
                if (d != DNSTAP_OK) { check_fail(cap, frames++, dnstap_result_str(d)); continue; }
                s = check_msg(cap, frames, &m);
                if (s >= 0) {
                    if ((uint64_t)s > max_seq || !bits[s]) check_fail(cap, frames, "sequence number never accepted");
                    if (have_last && (uint64_t)s <= last) check_fail(cap, frames, "sequence number not increasing");
                    last = (uint64_t)s;
                    have_last = 1;
                    seq_push(&got, (uint64_t)s);
                }
                frames++;
            }
            if (e != DNSTAP_OK && e != DNSTAP_ERR_AGAIN) break;
        }
        fclose(fp);
        end = dnstap_reader_end(&rd);
        if (frames == 0 && controls == 0 && end == DNSTAP_ERR_UNFINISHED) end = DNSTAP_OK;   /* empty file */
        printf("capture=%s frames=%llu control=%llu end=%s\n", cap, (unsigned long long)frames,
               (unsigned long long)controls, dnstap_result_str(end));
        if ((end == DNSTAP_ERR_UNFINISHED || end == DNSTAP_ERR_TRUNCATED) && (uint64_t)(i - first) < killed) continue;
        if (end != DNSTAP_OK) {
            fprintf(stderr, "error: %s: stream after %llu data frames: %s\n", cap, (unsigned long long)frames,
                    dnstap_result_str(end));
            check_errors++;
        }
    }
    printf("accepted=%llu captured=%llu\n", (unsigned long long)acc.n, (unsigned long long)got.n);
    if (exact) {
        if (got.n != exact_n) {
            fprintf(stderr, "error: %llu frames captured, the tap reported %llu sent\n", (unsigned long long)got.n,
                    (unsigned long long)exact_n);
            check_errors++;
        }
        for (k = 0; k < got.n && k < acc.n; k++)
            if (got.v[k] != acc.v[k]) {
                fprintf(stderr, "error: captured frame %llu is seq %llu, accepted[%llu] is %llu\n",
                        (unsigned long long)k, (unsigned long long)got.v[k], (unsigned long long)k,
                        (unsigned long long)acc.v[k]);
                check_errors++;
                break;
            }
    } else if (got.n > max_n) {
        fprintf(stderr, "error: %llu frames captured, more than the %llu sent\n", (unsigned long long)got.n,
                (unsigned long long)max_n);
        check_errors++;
    }
    free(bits);
    free(acc.v);
    free(got.v);
    return check_errors ? 1 : 0;
}

/* ---- producer ------------------------------------------------------------------ */

static dnstap_t tap;
static dnstap_tls_t tls;

/* dnstap_log() latency histogram: 100 ns buckets up to 1 ms, then 1 overflow */
#define LAT_BUCKETS 10001
static uint64_t lat_hist[LAT_BUCKETS];

int main(int argc, char **argv) {
    const char *endpoint = NULL, *accepted_path = NULL;
    uint64_t count = 1000, rate = 0, qbytes = 4u << 20, duration_ms = 0, timeout_ms = 1000, backoff_ms = 100,
             backoff_max_ms = 0, run_ms = 5000;
    int init_only = 0, drop = 0, i, rc = 0;
    static uint8_t pin[32];
    dnstap_desc_t d;
    dnstap_result_t r;
    dnstap_stats_t st;
    uint8_t *queue;
    uint64_t *acc;
    uint64_t nacc = 0, acc_cap, seq = 0, attempted = 0, ret_full = 0, ret_disc = 0, ret_other = 0;
    static char outbuf[1 << 16];
    uint64_t lat_max = 0, poll_max = 0, polls = 0, polls_connecting = 0, t0, t_end, connected_ms = 0, run_start,
             run_end;
    uint8_t qw[64], rw[96];

    if (argc >= 2 && strcmp(argv[1], "--check") == 0) return check_main(argc, argv);
    setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);   /* no stdio allocation while counting */
    memset(&d, 0, sizeof d);
    for (i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int ok = 1;
        if (strcmp(o, "-v") == 0) { verbose = 1; continue; }
        if (strcmp(o, "--skipverify") == 0) { d.skipverify = true; continue; }
        if (strcmp(o, "--init-only") == 0) { init_only = 1; continue; }
        if (v == NULL) usage();
        if (strcmp(o, "-e") == 0) endpoint = v;
        else if (strcmp(o, "-a") == 0) accepted_path = v;
        else if (strcmp(o, "--ca") == 0) d.tls_ca_file = v;
        else if (strcmp(o, "--ca-path") == 0) d.tls_ca_path = v;
        else if (strcmp(o, "--cert") == 0) d.tls_cert_file = v;
        else if (strcmp(o, "--key") == 0) d.tls_key_file = v;
        else if (strcmp(o, "--sni") == 0) d.tls_server_name = v;
        else if (strcmp(o, "--pin") == 0) { ok = parse_hex32(v, pin); d.tls_pin_sha256 = pin; }
        else if (strcmp(o, "-p") == 0) { drop = strcmp(v, "drop") == 0; ok = drop || strcmp(v, "keep") == 0; }
        else if (strcmp(o, "-n") == 0) ok = parse_u64(v, &count);
        else if (strcmp(o, "-r") == 0) ok = parse_u64(v, &rate);
        else if (strcmp(o, "-d") == 0) ok = parse_u64(v, &duration_ms);
        else if (strcmp(o, "-q") == 0) ok = parse_u64(v, &qbytes) && qbytes <= 0x7fffffffu;
        else if (strcmp(o, "-t") == 0) ok = parse_u64(v, &timeout_ms) && timeout_ms <= 0xffffffffu;
        else if (strcmp(o, "-b") == 0) ok = parse_u64(v, &backoff_ms) && backoff_ms <= 0xffffffffu;
        else if (strcmp(o, "-B") == 0) ok = parse_u64(v, &backoff_max_ms) && backoff_max_ms <= 0xffffffffu;
        else if (strcmp(o, "-W") == 0) ok = parse_u64(v, &run_ms);
        else ok = 0;
        if (!ok) usage();
        i++;
    }
    if (endpoint == NULL || (count == 0 && duration_ms == 0)) usage();
#ifdef COUNT_ALLOCS
    if (count == 0) usage();
#endif
    if (backoff_max_ms == 0) backoff_max_ms = backoff_ms * 4;

    /* everything this program needs, allocated before the library runs */
    acc_cap = count ? count : (duration_ms / 1000 + 1) * (rate ? rate : 1000000u);
    acc = (uint64_t *)malloc((size_t)acc_cap * sizeof *acc);
    queue = (uint8_t *)malloc((size_t)qbytes);
    if (acc == NULL || queue == NULL) { fprintf(stderr, "out of memory\n"); return 2; }
    memset(queue, 0, (size_t)qbytes);
    d.endpoint = endpoint;
    d.full = true;
    d.queue = queue;
    d.queue_size = (size_t)qbytes;
    d.identity = dnstap_str("tls_client");
    d.version = dnstap_str("tls_client 1");
    d.while_disconnected = drop ? DNSTAP_DROP_WHILE_DISCONNECTED : DNSTAP_KEEP_WHILE_DISCONNECTED;
    d.backoff_min_ms = (uint32_t)backoff_ms;
    d.backoff_max_ms = (uint32_t)backoff_max_ms;
    d.connect_timeout_ms = d.handshake_timeout_ms = d.write_timeout_ms = d.finish_timeout_ms = (uint32_t)timeout_ms;
    d.drop_report_ms = 1000;
    d.logger.func = logger;
    d.tls_state = &tls;
    start_ms = dnstap_clock_ms();
    SET_PHASE(PH_INIT);
    r = dnstap_init(&tap, &d);
    SET_PHASE(PH_CONNECT);
    printf("init=%s\ninit_code=%d\n", dnstap_result_str(r), (int)r);
    if (init_only || r != DNSTAP_OK) {
        printf("log_errors=%llu\nlog_warnings=%llu\nskipverify_lines=%llu\n", n_error, n_warn, n_skipverify);
#ifdef COUNT_ALLOCS
        printf("allocs_init=%llu\nalloc_bytes_init=%llu\npeak_live_init=%lld\nlive_at_start_of_connect=%lld\n",
               ph_allocs[PH_INIT], ph_bytes[PH_INIT], ph_peak[PH_INIT] - ph_live0[PH_INIT],
               ph_live0[PH_CONNECT] - ph_live0[PH_INIT]);
#endif
        if (r == DNSTAP_OK) dnstap_tls_free(&tls);
        free(acc);
        free(queue);
        return r == DNSTAP_OK ? 0 : 2;
    }

    t0 = now_ns();
    t_end = t0 + duration_ms * 1000000u;
    for (;;) {
        uint64_t tn = now_ns(), nowms, wait_ms, until_ms, next_due = UINT64_MAX, a, b;
        int more, batch = 0, wait;
        dnstap_io_t io;
        /* log what is due */
        for (;;) {
            dnstap_msg_t m;
            more = count ? attempted < count : tn < t_end;
            if (!more) break;
            if (rate) {
                uint64_t due = t0 + attempted * 1000000000u / rate;
                if (due > tn) { next_due = due; break; }
            } else if (batch >= 64) {
                next_due = tn;
                break;
            }
            make_msg(&m, seq, qw, rw);
            a = now_ns();
            r = dnstap_log(&tap, &m);
            b = now_ns();
            lat_hist[(b - a) / 100 < LAT_BUCKETS - 1 ? (b - a) / 100 : LAT_BUCKETS - 1]++;
            if (b - a > lat_max) lat_max = b - a;
            if (r == DNSTAP_OK) { if (nacc < acc_cap) acc[nacc] = seq; nacc++; }
            else if (r == DNSTAP_ERR_FULL) ret_full++;
            else if (r == DNSTAP_ERR_DISCONNECTED) ret_disc++;
            else ret_other++;
            attempted++;
            seq++;
            batch++;
            tn = b;
        }
        if (!more && tn >= t_end) break;
        nowms = dnstap_clock_ms();
        a = now_ns();
        (void)dnstap_poll(&tap, nowms);
        b = now_ns();
        if (b - a > poll_max) poll_max = b - a;
        polls++;
        if (connected_ms == 0 && dnstap_stats(&tap).connects > 0) {
            connected_ms = dnstap_clock_ms() - start_ms;
            polls_connecting = polls;
            SET_PHASE(PH_STEADY);
        }
        io = dnstap_io(&tap, nowms);
        until_ms = io.deadline_ms;
        if (next_due != UINT64_MAX) {
            uint64_t tnow = now_ns(), due_ms = nowms + (next_due > tnow ? (next_due - tnow + 999999u) / 1000000u : 0);
            if (due_ms < until_ms) until_ms = due_ms;
        }
        if (!more && until_ms > nowms + 10) until_ms = nowms + 10;
        wait_ms = until_ms > nowms ? until_ms - nowms : 0;
        if (wait_ms > 100) wait_ms = 100;
        wait = (int)wait_ms;
        if (io.fd >= 0 && (io.want_read || io.want_write)) {
            struct pollfd pfd;
            pfd.fd = io.fd;
            pfd.events = (short)((io.want_read ? POLLIN : 0) | (io.want_write ? POLLOUT : 0));
            pfd.revents = 0;
            (void)poll(&pfd, 1, wait);
        } else if (wait > 0) {
            (void)poll(NULL, 0, wait);
        }
    }
    st = dnstap_stats(&tap);
    SET_PHASE(PH_END);
    printf("before_shutdown_sent=%llu\nbefore_shutdown_queued=%llu\n", (unsigned long long)st.sent,
           (unsigned long long)st.queued);
    run_start = dnstap_clock_ms();
    dnstap_shutdown(&tap, run_start);
    r = dnstap_run(&tap, run_ms);
    run_end = dnstap_clock_ms();
    st = dnstap_stats(&tap);
    dnstap_tls_free(&tls);
#ifdef COUNT_ALLOCS
    {
        long long left = live_bytes - ph_live0[PH_INIT];
        SET_PHASE(PH_START);
        ph_live0[PH_START] = left;
    }
#endif

    if (accepted_path) {
        FILE *fa = fopen(accepted_path, "w");
        uint64_t j;
        if (fa == NULL) { fprintf(stderr, "%s: %s\n", accepted_path, strerror(errno)); return 2; }
        for (j = 0; j < nacc && j < acc_cap; j++) fprintf(fa, "%llu\n", (unsigned long long)acc[j]);
        if (fclose(fa) != 0) return 2;
    }
    {
        uint64_t want = attempted - attempted / 1000, c = 0, p999 = 0;
        size_t k;
        for (k = 0; k < LAT_BUCKETS; k++) {
            c += lat_hist[k];
            if (c >= want) { p999 = (uint64_t)k * 100u; break; }
        }
        printf("log_max_ns=%llu\nlog_p999_ns=%llu\npoll_max_ns=%llu\npolls=%llu\npolls_until_connected=%llu\n",
               (unsigned long long)lat_max, (unsigned long long)p999, (unsigned long long)poll_max,
               (unsigned long long)polls, (unsigned long long)polls_connecting);
    }
    printf("logged=%llu\nsent=%llu\nsent_bytes=%llu\ndropped_full=%llu\ndropped_too_big=%llu\n"
           "dropped_invalid=%llu\ndropped_disconnected=%llu\ndropped_write_error=%llu\nqueued=%llu\n"
           "connects=%llu\nreconnects=%llu\nhandshake_failures=%llu\ntimeouts=%llu\n",
           (unsigned long long)st.logged, (unsigned long long)st.sent, (unsigned long long)st.sent_bytes,
           (unsigned long long)st.dropped_full, (unsigned long long)st.dropped_too_big,
           (unsigned long long)st.dropped_invalid, (unsigned long long)st.dropped_disconnected,
           (unsigned long long)st.dropped_write_error, (unsigned long long)st.queued,
           (unsigned long long)st.connects, (unsigned long long)st.reconnects,
           (unsigned long long)st.handshake_failures, (unsigned long long)st.timeouts);
    printf("attempted=%llu\naccepted=%llu\nconnected_ms=%llu\nelapsed_ms=%llu\nrun_ms=%llu\nrun_result=%s\n",
           (unsigned long long)attempted, (unsigned long long)nacc, (unsigned long long)connected_ms,
           (unsigned long long)(run_end - start_ms), (unsigned long long)(run_end - run_start),
           dnstap_result_str(r));
    printf("log_errors=%llu\nlog_warnings=%llu\ntls_failed_lines=%llu\ntls_ok_lines=%llu\nskipverify_lines=%llu\n"
           "first_tls_failure=%s\n",
           n_error, n_warn, n_hs_failed, n_tls_ok, n_skipverify, first_hs_failed);
#ifdef COUNT_ALLOCS
    {
        int p;
        /* live and peak: bytes above what was live before dnstap_init() */
        for (p = PH_INIT; p < PH_N; p++)
            if (ph_entered[p])
                printf("allocs_%s=%llu\nalloc_bytes_%s=%llu\npeak_live_%s=%lld\nlive_at_start_of_%s=%lld\n",
                   ph_name[p], ph_allocs[p], ph_name[p], ph_bytes[p], ph_name[p], ph_peak[p] - ph_live0[PH_INIT],
                   ph_name[p], ph_live0[p] - ph_live0[PH_INIT]);
        printf("live_after_tls_free=%lld\n", ph_live0[PH_START]);
    }
#endif
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
    if (rc == 0) {
        const char *why = NULL;
        if (st.logged != attempted) why = "logged != dnstap_log() calls";
        else if (ret_other) why = "unexpected dnstap_log() result";
        else if (st.sent > nacc) why = "sent > accepted";
        else if (!dnstap_closed(&tap)) why = "not closed after dnstap_run()";
        else if (st.queued != 0) why = "frames still queued after close";
        else if (st.dropped_full != ret_full) why = "dropped_full != DNSTAP_ERR_FULL returns";
        else if (st.sent + st.dropped_disconnected + st.dropped_write_error != nacc + ret_disc)
            why = "accepted frames unaccounted for";
        if (why) { fprintf(stderr, "error: %s\n", why); rc = 4; }
    }
    free(acc);
    free(queue);
    return rc;
}
