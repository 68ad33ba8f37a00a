/* upstream.c - a tiny authoritative DNS server for the demo and the tests.

   Answers for one fixed zone over UDP and TCP on one address (127.0.0.1 by
   default; -a ::1 for IPv6), the same bytes every time for the same query:

       example.test.       SOA  ns.example.test. hostmaster.example.test. 1 3600 600 86400 300
       example.test.       NS   ns.example.test.
       example.test.       MX   10 mail.example.test.
       example.test.       TXT  "dnstap.h demo zone"
       www.example.test.   A    192.0.2.1
       www.example.test.   AAAA 2001:db8::1
       mail.example.test.  A    192.0.2.25
       ns.example.test.    A    192.0.2.53
       big.example.test.   A    192.0.2.100 ... 192.0.2.139   (40 records: 652 bytes, so
                                a UDP answer without EDNS is truncated, TC set)
       drop.example.test.  never answered (to test a forwarder's timeout)

   Other names in the zone get NXDOMAIN, existing names without the type
   NODATA, both with the SOA in the authority section; names outside the
   zone get REFUSED, opcodes other than QUERY NOTIMP, anything malformed
   FORMERR (or nothing, if even the header is short). An OPT record in the
   query is answered with one (UDP size 1232). TTLs are fixed (300).

       upstream [-a ADDR] PORT      PORT 0 picks a free one; the line
                                    "upstream: listening on ADDR:PORT" on
                                    stderr tells which. SIGTERM stops it.
*/
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define ZONE "example.test"
#define TTL 300

typedef struct rr_t {
    const char *name;           /* lower case, no trailing dot */
    uint16_t type;
    const char *data;           /* presentation form */
} rr_t;

enum { T_A = 1, T_NS = 2, T_SOA = 6, T_MX = 15, T_TXT = 16, T_AAAA = 28, T_OPT = 41 };

static const rr_t zone[] = {
    { ZONE, T_SOA, "ns.example.test hostmaster.example.test 1 3600 600 86400 300" },
    { ZONE, T_NS, "ns.example.test" },
    { ZONE, T_MX, "10 mail.example.test" },
    { ZONE, T_TXT, "dnstap.h demo zone" },
    { "www." ZONE, T_A, "192.0.2.1" },
    { "www." ZONE, T_AAAA, "2001:db8::1" },
    { "mail." ZONE, T_A, "192.0.2.25" },
    { "ns." ZONE, T_A, "192.0.2.53" },
};
#define BIG_NAME "big." ZONE
#define BIG_COUNT 40
#define DROP_NAME "drop." ZONE

/* A growing answer with a hard end. */
typedef struct out_t {
    uint8_t *p;
    size_t n, cap;
    int overflow;
} out_t;

static void put(out_t *o, const void *d, size_t n) {
    if (o->n + n > o->cap) { o->overflow = 1; return; }
    memcpy(o->p + o->n, d, n);
    o->n += n;
}
static void put8(out_t *o, unsigned v) { uint8_t b = (uint8_t)v; put(o, &b, 1); }
static void put16(out_t *o, unsigned v) { put8(o, v >> 8); put8(o, v); }
static void put32(out_t *o, unsigned long v) { put16(o, (unsigned)(v >> 16)); put16(o, (unsigned)(v & 0xFFFF)); }
static unsigned get16(const uint8_t *p) { return (unsigned)p[0] << 8 | p[1]; }

static void put_name(out_t *o, const char *name) {
    while (*name) {
        const char *dot = strchr(name, '.');
        size_t n = dot ? (size_t)(dot - name) : strlen(name);
        put8(o, (unsigned)n);
        put(o, name, n);
        name += n + (dot ? 1 : 0);
    }
    put8(o, 0);
}

/* One resource record; owner NULL: a pointer to the question's name. */
static void put_rr(out_t *o, const char *owner, unsigned type, const char *data) {
    uint8_t buf[16];
    size_t len_at;
    if (owner) put_name(o, owner);
    else put16(o, 0xC00C);
    put16(o, type);
    put16(o, 1);                        /* IN */
    put32(o, TTL);
    len_at = o->n;
    put16(o, 0);                        /* rdlength, patched below */
    if (type == T_A && inet_pton(AF_INET, data, buf) == 1) {
        put(o, buf, 4);
    } else if (type == T_AAAA && inet_pton(AF_INET6, data, buf) == 1) {
        put(o, buf, 16);
    } else if (type == T_NS) {
        put_name(o, data);
    } else if (type == T_MX) {
        put16(o, (unsigned)atoi(data));
        put_name(o, strchr(data, ' ') + 1);
    } else if (type == T_TXT) {
        put8(o, (unsigned)strlen(data));
        put(o, data, strlen(data));
    } else if (type == T_SOA) {
        char m[64], r[64];
        unsigned long v[5];
        sscanf(data, "%63s %63s %lu %lu %lu %lu %lu", m, r, &v[0], &v[1], &v[2], &v[3], &v[4]);
        put_name(o, m);
        put_name(o, r);
        for (int i = 0; i < 5; i++) put32(o, v[i]);
    }
    if (!o->overflow) {
        size_t n = o->n - len_at - 2;
        o->p[len_at] = (uint8_t)(n >> 8);
        o->p[len_at + 1] = (uint8_t)n;
    }
}

static int in_zone(const char *name) {
    size_t n = strlen(name), z = strlen(ZONE);
    return !strcmp(name, ZONE) || (n > z && name[n - z - 1] == '.' && !strcmp(name + n - z, ZONE));
}

/* Answer query q into r (cap bytes). udp_max: largest UDP answer (0 for
   TCP). Returns the answer's length, or 0 for no answer. */
static size_t answer(const uint8_t *q, size_t qlen, uint8_t *r, size_t cap, size_t udp_max) {
    out_t o = { r, 0, cap, 0 };
    char name[256];
    size_t p = 12, nlen = 0, qend, i;
    unsigned qtype, rcode = 0, an = 0, ns = 0, edns = 0;
    int exists = 0;
    if (qlen < 12 || (q[2] & 0x80)) return 0;
    memcpy(r, q, 4);
    r[2] = (uint8_t)(0x80 | (q[2] & 0x79));   /* QR, opcode, RD */
    r[3] = 0;
    memset(r + 4, 0, 8);
    o.n = 12;
    if ((q[2] >> 3 & 0xF) != 0) { r[3] = 4; return 12; }          /* NOTIMP */
    if (get16(q + 4) != 1 || get16(q + 6) || get16(q + 8)) { r[3] = 1; return 12; }   /* FORMERR */
    while (p < qlen && q[p] != 0) {
        size_t l = q[p];
        if (l > 63 || p + 1 + l >= qlen || nlen + l + 1 >= sizeof name) { r[3] = 1; return 12; }
        if (nlen) name[nlen++] = '.';
        for (i = 0; i < l; i++) {
            char c = (char)q[p + 1 + i];
            name[nlen++] = c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
        }
        p += 1 + l;
    }
    name[nlen] = 0;
    if (p + 5 > qlen) { r[3] = 1; return 12; }
    qend = p + 5;
    qtype = get16(q + p + 1);
    if (get16(q + 10) == 1 && qend + 11 <= qlen && q[qend] == 0 && get16(q + qend + 1) == T_OPT) {
        edns = 1;
        if (udp_max) udp_max = get16(q + qend + 3) > 1232 ? 1232 : get16(q + qend + 3) < 512 ? 512 : get16(q + qend + 3);
    } else if (get16(q + 10)) {
        r[3] = 1;
        return 12;
    }
    put(&o, q + 12, qend - 12);         /* the question, as asked */
    r[5] = 1;
    if (!in_zone(name)) {
        rcode = 5;                      /* REFUSED */
    } else if (!strcmp(name, DROP_NAME)) {
        return 0;
    } else {
        r[2] |= 0x04;                   /* AA */
        for (i = 0; i < sizeof zone / sizeof zone[0]; i++) {
            if (strcmp(zone[i].name, name)) continue;
            exists = 1;
            if (zone[i].type == qtype) { put_rr(&o, NULL, qtype, zone[i].data); an++; }
        }
        if (!strcmp(name, BIG_NAME)) {
            exists = 1;
            for (i = 0; qtype == T_A && i < BIG_COUNT; i++) {
                char a[32];
                snprintf(a, sizeof a, "192.0.2.%u", (unsigned)(100 + i));
                put_rr(&o, NULL, T_A, a);
                an++;
            }
        }
        if (!exists) rcode = 3;         /* NXDOMAIN */
        if (an == 0) { put_rr(&o, ZONE, T_SOA, zone[0].data); ns = 1; }
    }
    if (edns) {
        put8(&o, 0);
        put16(&o, T_OPT);
        put16(&o, 1232);
        put32(&o, 0);
        put16(&o, 0);
    }
    if (o.overflow || (udp_max && o.n > udp_max)) {   /* truncated: question (and OPT) only */
        an = ns = 0;
        r[2] |= 0x02;
        o.n = qend;
        o.overflow = 0;
        if (edns) { put8(&o, 0); put16(&o, T_OPT); put16(&o, 1232); put32(&o, 0); put16(&o, 0); }
    }
    r[3] = (uint8_t)rcode;
    r[7] = (uint8_t)an;
    r[9] = (uint8_t)ns;
    r[11] = (uint8_t)edns;
    return o.n;
}

static int parse(const char *host, const char *port, struct sockaddr_storage *ss, socklen_t *len) {
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    char *end;
    long p = strtol(port, &end, 10);
    memset(ss, 0, sizeof *ss);
    if (*end || p < 0 || p > 65535) return -1;
    if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)p);
        *len = sizeof *in4;
    } else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)p);
        *len = sizeof *in6;
    } else {
        return -1;
    }
    return 0;
}

static int read_all(int fd, uint8_t *b, size_t n) {
    while (n) {
        ssize_t k = read(fd, b, n);
        if (k <= 0) return -1;
        b += k;
        n -= (size_t)k;
    }
    return 0;
}

/* One TCP connection, queries one after the other until EOF or 2 s idle. */
static void serve_tcp(int fd) {
    static uint8_t q[65535], r[65537];
    struct timeval tv = { 2, 0 };
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    for (;;) {
        uint8_t l[2];
        size_t n, off = 0;
        if (read_all(fd, l, 2) < 0 || read_all(fd, q, get16(l)) < 0) break;
        n = answer(q, get16(l), r + 2, sizeof r - 2, 0);
        if (n == 0) continue;
        r[0] = (uint8_t)(n >> 8);
        r[1] = (uint8_t)n;
        while (off < n + 2) {
            ssize_t k = write(fd, r + off, n + 2 - off);
            if (k <= 0) break;
            off += (size_t)k;
        }
        if (off < n + 2) break;
    }
    close(fd);
}

int main(int argc, char **argv) {
    static uint8_t q[65536], r[65536];
    const char *host = "127.0.0.1";
    struct sockaddr_storage ss;
    socklen_t len;
    struct pollfd pfd[2];
    char shown[INET6_ADDRSTRLEN];
    int udp, tcp, one = 1;
    if (argc == 4 && !strcmp(argv[1], "-a")) { host = argv[2]; argv += 2; argc -= 2; }
    if (argc != 2 || parse(host, argv[1], &ss, &len) < 0) {
        fprintf(stderr, "usage: upstream [-a ADDR] PORT\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    udp = socket(ss.ss_family, SOCK_DGRAM, 0);
    tcp = socket(ss.ss_family, SOCK_STREAM, 0);
    (void)setsockopt(tcp, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (udp < 0 || tcp < 0 || bind(udp, (struct sockaddr *)&ss, len) < 0 ||
        getsockname(udp, (struct sockaddr *)&ss, &len) < 0 || bind(tcp, (struct sockaddr *)&ss, len) < 0 ||
        listen(tcp, 16) < 0) {
        fprintf(stderr, "upstream: %s port %s: %s\n", host, argv[1], strerror(errno));
        return 1;
    }
    inet_ntop(ss.ss_family, ss.ss_family == AF_INET ? (void *)&((struct sockaddr_in *)&ss)->sin_addr
                                                    : (void *)&((struct sockaddr_in6 *)&ss)->sin6_addr,
              shown, sizeof shown);
    fprintf(stderr, ss.ss_family == AF_INET ? "upstream: listening on %s:%u\n" : "upstream: listening on [%s]:%u\n",
            shown, ntohs(((struct sockaddr_in *)&ss)->sin_port));
    pfd[0].fd = udp;
    pfd[1].fd = tcp;
    pfd[0].events = pfd[1].events = POLLIN;
    for (;;) {
        if (poll(pfd, 2, -1) < 0) {
            if (errno == EINTR) continue;
            return 1;
        }
        if (pfd[0].revents) {
            struct sockaddr_storage from;
            socklen_t fl = sizeof from;
            ssize_t n = recvfrom(udp, q, sizeof q, 0, (struct sockaddr *)&from, &fl);
            size_t m = n > 0 ? answer(q, (size_t)n, r, sizeof r, 512) : 0;
            if (m) (void)sendto(udp, r, m, 0, (struct sockaddr *)&from, fl);
        }
        if (pfd[1].revents) {
            int fd = accept(tcp, NULL, NULL);
            if (fd >= 0) serve_tcp(fd);
        }
    }
}
