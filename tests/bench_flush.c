/* bench_flush.c - `make bench`: what the flush policy costs a single-threaded
   DNS server, and how many writes it saves. The host loop of a server that
   follows the manual: QPS queries per second, each logging CLIENT_QUERY and
   CLIENT_RESPONSE (`full`, a 33-byte query and a 49-byte response); after
   each wake-up the due queries are logged, then dnstap_poll(), then ppoll(2)
   on dnstap_io()'s descriptor until the next query is due or dnstap_io()'s
   deadline, whichever comes first (one wake-up per query, as a server
   blocked on its sockets has). The tap writes to a receiver on a unix
   socket (fstrm_capture, started by tests/bench.sh).

     bench_flush SOCK QPS SECONDS FLUSH_BYTES FLUSH_MS
         FLUSH_BYTES FLUSH_MS: the desc fields (0 0: the defaults; 1 0:
         DNSTAP_FLUSH_AT_ONCE); SOCK "-": no tap at all (the loop alone).
   Prints one line: cpu_ns_per_query (user + system time of the process over
   the run, getrusage), writes_per_query (stats.writes), queries, sent,
   dropped, and age_max_ms: the longest a frame waited from the wake-up that
   logged it to the write that took it (measured here, per write). */
#define _GNU_SOURCE
#define DNSTAP_IMPLEMENTATION
#include "../dnstap.h"

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static uint64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t cpu_ns(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000u +
           (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000u;
}

static const uint8_t qname[] = { 3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0 };
static const uint8_t client[4] = { 192, 0, 2, 53 }, server[4] = { 198, 51, 100, 1 };

static size_t make_query(uint8_t *b, uint16_t id) {
    size_t n = 0;
    b[n++] = (uint8_t)(id >> 8); b[n++] = (uint8_t)id;
    b[n++] = 0x01; b[n++] = 0x00; b[n++] = 0; b[n++] = 1;
    memset(b + n, 0, 6); n += 6;
    memcpy(b + n, qname, sizeof qname); n += sizeof qname;
    b[n++] = 0; b[n++] = 1; b[n++] = 0; b[n++] = 1;
    return n;
}

static size_t make_response(uint8_t *b, uint16_t id) {
    static const uint8_t an[] = { 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x01, 0x2c, 0, 4, 192, 0, 2, 1 };
    size_t n = make_query(b, id);
    b[2] = 0x81; b[3] = 0x80; b[7] = 1;
    memcpy(b + n, an, sizeof an);
    return n + sizeof an;
}

static dnstap_t tap;
static uint8_t queue[1 << 20];

/* Age of the oldest frame each write takes: the wake-up time of every
   logged query, in order, and the count sent so far. */
static uint64_t *logged_at;

int main(int argc, char **argv) {
    const char *sock;
    uint64_t qps, secs, t0, end, n = 0, c0, c1, sent_seen = 0, age_max = 0;
    unsigned long fb, fm;
    dnstap_desc_t d;
    dnstap_stats_t st;
    uint8_t qw[64], rw[96];
    if (argc != 6) {
        fprintf(stderr, "usage: bench_flush SOCK|- QPS SECONDS FLUSH_BYTES FLUSH_MS\n");
        return 2;
    }
    sock = argv[1];
    qps = strtoull(argv[2], NULL, 10);
    secs = strtoull(argv[3], NULL, 10);
    fb = strtoul(argv[4], NULL, 10);
    fm = strtoul(argv[5], NULL, 10);
    if (qps == 0 || secs == 0) return 2;
    signal(SIGPIPE, SIG_IGN);
    logged_at = (uint64_t *)calloc((size_t)(qps * secs * 2 + 16), sizeof *logged_at);
    if (logged_at == NULL) return 2;
    memset(&d, 0, sizeof d);
    memset(queue, 0, sizeof queue);
    if (strcmp(sock, "-") != 0) {
        uint64_t give_up = dnstap_clock_ms() + 5000;
        d.endpoint = sock;
        d.full = true;
        d.queue = queue;
        d.queue_size = sizeof queue;
        d.identity = dnstap_str("bench");
        d.flush_bytes = (uint32_t)fb;
        d.flush_ms = (uint32_t)fm;
        if (dnstap_init(&tap, &d) != DNSTAP_OK) { fprintf(stderr, "bench_flush: dnstap_init failed\n"); return 1; }
        while (dnstap_stats(&tap).connects == 0) {
            if (dnstap_clock_ms() > give_up) { fprintf(stderr, "bench_flush: no connection\n"); return 1; }
            (void)dnstap_poll(&tap, dnstap_clock_ms());
            (void)poll(NULL, 0, 1);
        }
    }
    c0 = cpu_ns();
    t0 = mono_ns();
    end = t0 + secs * 1000000000u;
    for (;;) {
        uint64_t now = mono_ns(), due, next;
        struct pollfd pfd;
        struct timespec ts;
        dnstap_io_t io;
        if (now >= end) break;
        due = (now - t0) * qps / 1000000000u + 1;
        while (n < due) {
            dnstap_msg_t m;
            memset(&m, 0, sizeof m);
            m.socket_family = DNSTAP_INET;
            m.socket_protocol = DNSTAP_UDP;
            m.query_address.data = client; m.query_address.len = 4;
            m.response_address.data = server; m.response_address.len = 4;
            m.query_port = 10000u + (uint32_t)(n % 50000u);
            m.response_port = 53;
            m.has = DNSTAP_HAS_QUERY_PORT | DNSTAP_HAS_RESPONSE_PORT;
            dnstap_msg_set_query_time(&m, 1700000000u + now / 1000000000u, (uint32_t)(now % 1000000000u));
            m.query_message.data = qw;
            m.query_message.len = make_query(qw, (uint16_t)n);
            if (sock[0] != '-') {
                m.type = DNSTAP_CLIENT_QUERY;
                (void)dnstap_log(&tap, &m);
                dnstap_msg_set_response_time(&m, 1700000000u + now / 1000000000u, (uint32_t)(now % 1000000000u));
                m.response_message.data = rw;
                m.response_message.len = make_response(rw, (uint16_t)n);
                m.type = DNSTAP_CLIENT_RESPONSE;
                (void)dnstap_log(&tap, &m);
                logged_at[2 * n] = logged_at[2 * n + 1] = now;
            }
            n++;
        }
        next = t0 + n * 1000000000u / qps;
        pfd.fd = -1;
        pfd.events = 0;
        if (sock[0] != '-') {
            uint64_t ms, sent;
            (void)dnstap_poll(&tap, now / 1000000u);
            sent = tap.sent;
            if (sent > sent_seen) {   /* the oldest frame this write took */
                uint64_t age = mono_ns() - logged_at[sent_seen];
                if (age > age_max) age_max = age;
                sent_seen = sent;
            }
            io = dnstap_io(&tap, now / 1000000u);
            ms = io.deadline_ms;
            if (ms != UINT64_MAX && ms * 1000000u < next) next = ms * 1000000u > now ? ms * 1000000u : now;
            pfd.fd = io.fd;
            pfd.events = (short)((io.want_read ? POLLIN : 0) | (io.want_write ? POLLOUT : 0));
        }
        now = mono_ns();
        if (next > now) {
            ts.tv_sec = (time_t)((next - now) / 1000000000u);
            ts.tv_nsec = (long)((next - now) % 1000000000u);
            (void)ppoll(&pfd, pfd.fd >= 0 && pfd.events ? 1 : 0, &ts, NULL);
        }
    }
    c1 = cpu_ns();
    memset(&st, 0, sizeof st);
    if (sock[0] != '-') {
        dnstap_shutdown(&tap, dnstap_clock_ms());
        (void)dnstap_run(&tap, 5000);
        st = dnstap_stats(&tap);
    }
    printf("flush_bytes=%lu flush_ms=%lu qps=%llu queries=%llu cpu_ns_per_query=%.0f writes=%llu "
           "writes_per_query=%.4f sent=%llu dropped=%llu age_max_ms=%.2f\n",
           sock[0] == '-' ? 0ul : (unsigned long)tap.desc.flush_bytes, sock[0] == '-' ? 0ul : (unsigned long)tap.desc.flush_ms,
           (unsigned long long)qps, (unsigned long long)n, (double)(c1 - c0) / (double)n,
           (unsigned long long)st.writes, (double)st.writes / (double)n, (unsigned long long)st.sent,
           (unsigned long long)(st.logged - st.sent - st.queued), (double)age_max / 1e6);
    free(logged_at);
    return 0;
}
