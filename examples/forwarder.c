/* forwarder.c - a small DNS forwarder that logs through dnstap.h

   It listens on UDP and TCP at every -l address (IPv4 or IPv6), sends each
   query on to one upstream server over the protocol it came in on, and
   relays the answer. Every query gets a socket of its own towards the
   upstream, so the kernel picks a fresh source port, the query ID stays the
   one the client chose, and any number of queries (up to FWD_MAX_PENDING)
   can be outstanding at once. An upstream that has not answered within
   --timeout milliseconds gets the client a SERVFAIL. One thread, one poll(2)
   loop, non-blocking sockets, static memory only.

   TCP clients get --tcp-clients slots (16; at most FWD_MAX_TCP). A client
   must send its first query within 2 s and may then stay idle 10 s between
   queries; when every slot is taken, a new connection evicts the client
   idle longest among those not waiting for an answer, so connections that
   say nothing cannot keep TCP DNS from being answered.

   It taps four events: CLIENT_QUERY and CLIENT_RESPONSE (between a client
   and us), FORWARDER_QUERY and FORWARDER_RESPONSE (between us and the
   upstream), to one or more taps whose options mirror CoreDNS's
       dnstap SOCKET [full] [writebuffer] [queue] { identity version extra skipverify }
   Each event goes to every tap with dnstap_log_all() (encoded once per
   distinct encoding), and the taps are driven from the same poll loop with
   dnstap_io() and dnstap_poll(): a collector that is down or stalled costs
   queued or dropped frames, never an answer. SIGUSR1 prints each tap's
   counters; SIGINT or SIGTERM closes the listeners, shuts the taps down
   (STOP, FINISH, within FWD_STOP_MS) and prints them once more.

       forwarder -l 127.0.0.1:53 -l [::1]:53 -u 192.0.2.1:53 \
                 -t unix:///run/dnstap.sock --full --identity r1 \
                 -t tcp://192.0.2.10:6000 --queue 4

   Build: cc -Os -I. examples/forwarder.c -o forwarder (needs nanopb's pb.h
   only: with DNSTAP_NO_DECODE and DNSTAP_NO_NANOPB_ENCODE nothing of
   nanopb's runtime is used, so -lprotobuf-nanopb is optional).
   TLS taps (tls://host:port) need -DDNSTAP_WITH_MBEDTLS and
   -lmbedtls -lmbedx509 -lmbedcrypto. A tap's host name is looked up once,
   at start (dnstap_init()), never on reconnects: one that does not resolve
   then stops the forwarder with a message saying so. Give taps numeric
   addresses where the name may not resolve at boot.
*/
#define _GNU_SOURCE /* struct in6_pktinfo */
#define DNSTAP_NO_DECODE          /* it only encodes: nanopb's runtime is not linked */
#define DNSTAP_NO_NANOPB_ENCODE
#define DNSTAP_IMPLEMENTATION
#include "dnstap.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef FWD_MAX_TAPS
#define FWD_MAX_TAPS 4
#endif
#ifndef FWD_MAX_LISTEN
#define FWD_MAX_LISTEN 8            /* -l addresses */
#endif
#ifndef FWD_MAX_PENDING
#define FWD_MAX_PENDING 64          /* queries waiting for the upstream */
#endif
#ifndef FWD_MAX_TCP
#define FWD_MAX_TCP 64              /* TCP client connections: --tcp-clients at most */
#endif
#ifndef FWD_QUEUE_UNIT
#define FWD_QUEUE_UNIT (256u << 10) /* --queue 1: bytes of frames a tap may hold */
#endif
#ifndef FWD_QUEUE_POOL
#define FWD_QUEUE_POOL (16u * FWD_QUEUE_UNIT) /* shared by all taps */
#endif
#define FWD_STOP_MS 5000            /* at exit: longest wait for the taps */
#define FWD_IDLE_MS 10000           /* TCP client idle or stuck writing */
#define FWD_FIRST_MS 2000           /* TCP client: connected, no query yet */
#define FWD_QCOPY 300               /* query header + question, for a SERVFAIL */

typedef struct addr_t {
    struct sockaddr_storage sa;
    socklen_t len;
} addr_t;

typedef struct stamp_t {
    uint64_t sec;
    uint32_t nsec;
} stamp_t;

static struct {
    int udp, tcp;
    addr_t addr;
} lis[FWD_MAX_LISTEN];
static size_t nlis;

/* A TCP client: reads one query, waits while it is forwarded, writes the
   answer, reads the next (queries pipelined by a client wait in the socket). */
enum { C_FREE, C_READ, C_WAIT, C_WRITE };
typedef struct conn_t {
    int state, fd;
    addr_t peer, local;
    uint64_t deadline;
    uint64_t active;                /* accepted, or last byte moved */
    size_t have, want;              /* bytes read or written / to read or write */
    uint8_t buf[2 + 65535];         /* length-prefixed query, then the answer */
} conn_t;
static conn_t conns[FWD_MAX_TCP];
static size_t tcp_slots = FWD_MAX_TCP < 16 ? FWD_MAX_TCP : 16;   /* --tcp-clients */

/* A query sent upstream. For TCP the message lives in its client's buffer. */
enum { P_FREE, P_SEND, P_WAIT };
typedef struct pending_t {
    int state, tcp, up, conn, ifindex;
    size_t lis;
    addr_t client, local, up_local;
    stamp_t cq, fq;                 /* when the query came in, when it went out */
    uint64_t deadline;
    size_t off, have, want;         /* TCP upstream progress */
    size_t qlen;
    uint8_t q[FWD_QCOPY];
} pending_t;
static pending_t pend[FWD_MAX_PENDING];

static addr_t upstream;
static uint64_t timeout_ms = 2000, now_ms;
static uint8_t ubuf[65536];         /* UDP datagrams, one at a time */
static unsigned long long n_queries, n_answers, n_servfail;

static dnstap_t taps[FWD_MAX_TAPS];
static dnstap_t *tap_list[FWD_MAX_TAPS];
static dnstap_desc_t tap_desc[FWD_MAX_TAPS];
static unsigned tap_units[FWD_MAX_TAPS];
static size_t ntaps;
static uint8_t queue_pool[FWD_QUEUE_POOL];
#ifdef DNSTAP_WITH_MBEDTLS
static dnstap_tls_t tap_tls[FWD_MAX_TAPS];   /* Mbed TLS contexts of tls:// taps */
static uint8_t tap_pin[FWD_MAX_TAPS][32];
#endif

static volatile sig_atomic_t got_stop, got_usr1;
static int sig_pipe[2] = { -1, -1 };

/* ---- small helpers ---------------------------------------------------- */

static void die(const char *what, const char *arg) {
    fprintf(stderr, "forwarder: %s%s%s\n", what, arg ? ": " : "", arg ? arg : "");
    exit(2);
}

static unsigned get16(const uint8_t *p) { return (unsigned)p[0] << 8 | p[1]; }
static void put16(uint8_t *p, size_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }

static stamp_t stamp(void) {
    stamp_t t;
    (void)dnstap_now(&t.sec, &t.nsec);
    return t;
}

static struct sockaddr *sa(addr_t *a) { return (struct sockaddr *)(void *)&a->sa; }
static const struct sockaddr *csa(const addr_t *a) { return (const struct sockaddr *)(const void *)&a->sa; }

static int nonblock(int fd) {
    if (fd < 0) return fd;
    (void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL, 0) | O_NONBLOCK);
    (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
    return fd;
}

static int again(void) { return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR; }

/* "192.0.2.1:53" or "[2001:db8::1]:53", numeric only. */
static int parse_addr(const char *s, addr_t *a) {
    struct sockaddr_in *in4 = (struct sockaddr_in *)(void *)&a->sa;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)(void *)&a->sa;
    char host[INET6_ADDRSTRLEN];
    const char *colon, *h = s;
    char *end;
    size_t n;
    long port;
    memset(a, 0, sizeof *a);
    if (*s == '[') {
        h = s + 1;
        colon = strchr(h, ']');
        if (colon == NULL || colon[1] != ':') return -1;
        n = (size_t)(colon - h);
        colon++;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL) return -1;
        n = (size_t)(colon - s);
    }
    if (n >= sizeof host) return -1;
    memcpy(host, h, n);
    host[n] = 0;
    port = strtol(colon + 1, &end, 10);
    if (*end || end == colon + 1 || port < 0 || port > 65535) return -1;
    if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        a->len = sizeof *in4;
    } else if (*s == '[' && inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        a->len = sizeof *in6;
    } else {
        return -1;
    }
    return 0;
}

static const char *addr_str(const addr_t *a, char *out, size_t cap) {
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (a->sa.ss_family == AF_INET) {
        const struct sockaddr_in *in4 = (const struct sockaddr_in *)(const void *)&a->sa;
        (void)inet_ntop(AF_INET, &in4->sin_addr, host, sizeof host);
        port = ntohs(in4->sin_port);
        snprintf(out, cap, "%s:%u", host, port);
    } else {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)&a->sa;
        (void)inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        port = ntohs(in6->sin6_port);
        snprintf(out, cap, "[%s]:%u", host, port);
    }
    return out;
}

/* ---- dnstap ------------------------------------------------------------ */

/* One event to every tap. qa initiated, ra responded (dnstap's query_ and
   response_address); a NULL time or message is left out. */
static void tap_event(dnstap_message_type_t type, int tcp, const addr_t *qa, const addr_t *ra,
                      const stamp_t *qt, const stamp_t *rt, const uint8_t *qm, size_t ql,
                      const uint8_t *rm, size_t rl) {
    dnstap_msg_t m;
    if (ntaps == 0) return;
    memset(&m, 0, sizeof m);
    m.type = type;
    m.socket_protocol = tcp ? DNSTAP_TCP : DNSTAP_UDP;
    (void)dnstap_msg_set_query_sockaddr(&m, csa(qa));
    (void)dnstap_msg_set_response_sockaddr(&m, csa(ra));
    if (qt) dnstap_msg_set_query_time(&m, qt->sec, qt->nsec);
    if (rt) dnstap_msg_set_response_time(&m, rt->sec, rt->nsec);
    if (qm) { m.query_message.data = qm; m.query_message.len = ql; }
    if (rm) { m.response_message.data = rm; m.response_message.len = rl; }
    (void)dnstap_log_all(tap_list, ntaps, 0, &m);   /* drops are counted per tap */
}

static void tap_logger(void *ctx, dnstap_log_level_t level, const char *msg) {
    static const char *const lv[] = { "", "error", "warning", "info" };
    size_t i = (size_t)((dnstap_t *)ctx - taps);
    fprintf(stderr, "forwarder: tap %zu: %s: %s\n", i, lv[level <= 3 ? level : 0], msg);
}

static void print_stats(void) {
    size_t i;
    fprintf(stderr, "forwarder: queries %llu, upstream answers %llu, servfail %llu\n",
            n_queries, n_answers, n_servfail);
    for (i = 0; i < ntaps; i++) {
        dnstap_stats_t s = dnstap_stats(&taps[i]);
        unsigned long long dropped = s.dropped_full + s.dropped_too_big + s.dropped_invalid +
                                     s.dropped_disconnected + s.dropped_write_error;
        fprintf(stderr, "forwarder: tap %zu %s: logged %llu sent %llu queued %llu dropped %llu "
                "(full %llu, too big %llu, invalid %llu, disconnected %llu, write error %llu); "
                "connects %llu reconnects %llu timeouts %llu\n",
                i, tap_desc[i].endpoint, (unsigned long long)s.logged, (unsigned long long)s.sent,
                (unsigned long long)s.queued, dropped, (unsigned long long)s.dropped_full,
                (unsigned long long)s.dropped_too_big, (unsigned long long)s.dropped_invalid,
                (unsigned long long)s.dropped_disconnected, (unsigned long long)s.dropped_write_error,
                (unsigned long long)s.connects, (unsigned long long)s.reconnects,
                (unsigned long long)s.timeouts);
    }
}

/* ---- DNS messages -------------------------------------------------------- */

/* Where the first question ends (12 when there is none or it is malformed). */
static size_t question_end(const uint8_t *q, size_t len) {
    size_t p = 12;
    if (len < 12 || get16(q + 4) == 0) return 12;
    while (p < len && q[p] != 0) {
        if (q[p] > 63) return 12;   /* compression or reserved: no question kept */
        p += 1u + q[p];
    }
    return p + 5 <= len && p + 5 <= FWD_QCOPY ? p + 5 : 12;
}

/* SERVFAIL for the query whose header and question are q[0..len). */
static size_t make_servfail(const uint8_t *q, size_t len, uint8_t *out) {
    memcpy(out, q, len);
    out[2] = (uint8_t)(0x80 | (q[2] & 0x79));   /* QR, opcode, RD */
    out[3] = 0x80 | 2;                          /* RA, SERVFAIL */
    put16(out + 4, len > 12 ? 1 : 0);
    memset(out + 6, 0, 6);
    return len;
}

/* ---- client side --------------------------------------------------------- */

/* A datagram, with the address it was sent to (IP_PKTINFO) so that the
   answer leaves from that address even on a wildcard listener. */
static ssize_t udp_recv(int fd, addr_t *from, addr_t *to, int *ifindex) {
    union { struct cmsghdr c; uint8_t b[256]; } ctl;
    struct msghdr mh;
    struct iovec iov;
    struct cmsghdr *c;
    ssize_t n;
    iov.iov_base = ubuf;
    iov.iov_len = sizeof ubuf;
    memset(&mh, 0, sizeof mh);
    mh.msg_name = &from->sa;
    mh.msg_namelen = sizeof from->sa;
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = ctl.b;
    mh.msg_controllen = sizeof ctl.b;
    n = recvmsg(fd, &mh, 0);
    if (n < 0) return n;
    from->len = mh.msg_namelen;
    *ifindex = 0;
    for (c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
#ifdef IP_PKTINFO
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
            struct in_pktinfo pi;
            memcpy(&pi, CMSG_DATA(c), sizeof pi);
            ((struct sockaddr_in *)(void *)&to->sa)->sin_addr = pi.ipi_addr;
        }
#endif
#ifdef IPV6_RECVPKTINFO
        if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
            struct in6_pktinfo pi;
            memcpy(&pi, CMSG_DATA(c), sizeof pi);
            ((struct sockaddr_in6 *)(void *)&to->sa)->sin6_addr = pi.ipi6_addr;
            *ifindex = (int)pi.ipi6_ifindex;
        }
#endif
    }
    return n;
}

static void udp_send(int fd, const uint8_t *buf, size_t len, addr_t *to, const addr_t *from, int ifindex) {
    union { struct cmsghdr c; uint8_t b[64]; } ctl;
    struct msghdr mh;
    struct iovec iov;
    struct cmsghdr *c;
    memset(&mh, 0, sizeof mh);
    memset(&ctl, 0, sizeof ctl);
    iov.iov_base = (void *)(uintptr_t)buf;
    iov.iov_len = len;
    mh.msg_name = &to->sa;
    mh.msg_namelen = to->len;
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = ctl.b;
    mh.msg_controllen = sizeof ctl.b;
    c = CMSG_FIRSTHDR(&mh);
    mh.msg_controllen = 0;
#ifdef IP_PKTINFO
    if (from->sa.ss_family == AF_INET) {
        struct in_pktinfo pi;
        memset(&pi, 0, sizeof pi);
        pi.ipi_spec_dst = ((const struct sockaddr_in *)(const void *)&from->sa)->sin_addr;
        c->cmsg_level = IPPROTO_IP;
        c->cmsg_type = IP_PKTINFO;
        c->cmsg_len = CMSG_LEN(sizeof pi);
        memcpy(CMSG_DATA(c), &pi, sizeof pi);
        mh.msg_controllen = CMSG_SPACE(sizeof pi);
    }
#endif
#ifdef IPV6_RECVPKTINFO
    if (from->sa.ss_family == AF_INET6) {
        struct in6_pktinfo pi;
        memset(&pi, 0, sizeof pi);
        pi.ipi6_addr = ((const struct sockaddr_in6 *)(const void *)&from->sa)->sin6_addr;
        pi.ipi6_ifindex = (unsigned)ifindex;
        c->cmsg_level = IPPROTO_IPV6;
        c->cmsg_type = IPV6_PKTINFO;
        c->cmsg_len = CMSG_LEN(sizeof pi);
        memcpy(CMSG_DATA(c), &pi, sizeof pi);
        mh.msg_controllen = CMSG_SPACE(sizeof pi);
    }
#endif
    (void)ifindex;
    if (mh.msg_controllen == 0) mh.msg_control = NULL;
    while (sendmsg(fd, &mh, 0) < 0 && errno == EINTR) {}
}

static void conn_close(conn_t *c) {
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    c->state = C_FREE;
}

static void conn_write(conn_t *c) {
    ssize_t n = send(c->fd, c->buf + c->have, c->want - c->have, 0);
    if (n < 0) {
        if (!again()) conn_close(c);
        return;
    }
    c->have += (size_t)n;
    c->active = now_ms;
    if (c->have < c->want) return;
    c->state = C_READ;                  /* next query */
    c->have = 0;
    c->want = 2;
    c->deadline = now_ms + FWD_IDLE_MS;
}

/* Answer the client of p with r[0..len), tap CLIENT_RESPONSE, free p. */
static void respond(pending_t *p, const uint8_t *r, size_t len) {
    stamp_t t = stamp();
    if (!p->tcp) {
        udp_send(lis[p->lis].udp, r, len, &p->client, &p->local, p->ifindex);
    } else {
        conn_t *c = &conns[p->conn];
        if (r != c->buf + 2) memmove(c->buf + 2, r, len);
        put16(c->buf, len);
        c->state = C_WRITE;
        c->have = 0;
        c->want = 2 + len;
        c->deadline = now_ms + FWD_IDLE_MS;
        conn_write(c);
    }
    tap_event(DNSTAP_CLIENT_RESPONSE, p->tcp, &p->client, &p->local, &p->cq, &t, NULL, 0, r, len);
    if (p->up >= 0) close(p->up);
    p->up = -1;
    p->state = P_FREE;
}

static void servfail(pending_t *p) {
    uint8_t sf[FWD_QCOPY];
    n_servfail++;
    respond(p, sf, make_servfail(p->q, p->qlen, sf));
}

/* Start forwarding query q[0..len) (already tapped as CLIENT_QUERY). *tmpl
   holds the client's side; for TCP, q is in the connection's buffer. */
static void forward(const pending_t *tmpl, const uint8_t *q, size_t len) {
    pending_t *p = NULL, spare;
    size_t i;
    int fd;
    for (i = 0; i < FWD_MAX_PENDING && p == NULL; i++)
        if (pend[i].state == P_FREE) p = &pend[i];
    if (p == NULL) p = &spare;          /* no room: SERVFAIL at once */
    *p = *tmpl;
    p->up = -1;
    p->qlen = question_end(q, len);
    memcpy(p->q, q, p->qlen);
    p->deadline = now_ms + timeout_ms;
    p->off = p->have = 0;
    p->want = 2 + len;
    if (p == &spare) { servfail(p); return; }
    fd = nonblock(socket(upstream.sa.ss_family, p->tcp ? SOCK_STREAM : SOCK_DGRAM, 0));
    p->up = fd;
    p->state = P_SEND;
    if (fd < 0 || (connect(fd, sa(&upstream), upstream.len) < 0 && errno != EINPROGRESS)) {
        servfail(p);
        return;
    }
    if (p->tcp) return;                 /* sent when the connection is up */
    p->up_local.len = sizeof p->up_local.sa;
    if (send(fd, q, len, 0) < 0 || getsockname(fd, sa(&p->up_local), &p->up_local.len) < 0) {
        servfail(p);
        return;
    }
    p->fq = stamp();
    tap_event(DNSTAP_FORWARDER_QUERY, 0, &p->up_local, &upstream, &p->fq, NULL, q, len, NULL, 0);
    p->state = P_WAIT;
}

/* A complete message from a client: if it is a query, tap it and forward
   it; returns 0 (and does nothing) for anything else. */
static int client_query(pending_t *tmpl, const uint8_t *q, size_t len) {
    tmpl->cq = stamp();
    if (len < 12 || (q[2] & 0x80)) return 0;
    n_queries++;
    tap_event(DNSTAP_CLIENT_QUERY, tmpl->tcp, &tmpl->client, &tmpl->local, &tmpl->cq, NULL, q, len, NULL, 0);
    forward(tmpl, q, len);
    return 1;
}

static void udp_readable(size_t li) {
    int k;
    for (k = 0; k < 64; k++) {          /* a batch, then let the others run */
        pending_t t;
        ssize_t n;
        memset(&t, 0, sizeof t);
        t.lis = li;
        t.conn = -1;
        t.local = lis[li].addr;
        n = udp_recv(lis[li].udp, &t.client, &t.local, &t.ifindex);
        if (n < 0) return;
        (void)client_query(&t, ubuf, (size_t)n);
    }
}

/* A slot for a new TCP client: a free one, else the one idle longest among
   those reading (a client waiting for its answer keeps its slot); NULL if
   every client waits for an answer. */
static conn_t *tcp_slot(void) {
    conn_t *idle = NULL;
    size_t i;
    for (i = 0; i < tcp_slots; i++) {
        conn_t *c = &conns[i];
        if (c->state == C_FREE) return c;
        if (c->state == C_READ && (idle == NULL || c->active < idle->active)) idle = c;
    }
    if (idle) conn_close(idle);
    return idle;
}

/* At most half the slots per round: a client accepted now has its query
   read before a burst of later connections could evict it. */
static void tcp_accept(size_t li) {
    size_t k;
    for (k = 0; k < (tcp_slots + 1) / 2; k++) {
        addr_t peer;
        conn_t *c;
        int fd;
        peer.len = sizeof peer.sa;
        fd = accept(lis[li].tcp, sa(&peer), &peer.len);
        if (fd < 0) return;
        if ((c = tcp_slot()) == NULL) { close(fd); continue; }   /* all busy: the client retries */
        c->fd = nonblock(fd);
        c->peer = peer;
        c->local.len = sizeof c->local.sa;
        if (getsockname(fd, sa(&c->local), &c->local.len) < 0) c->local = lis[li].addr;
        c->state = C_READ;
        c->have = 0;
        c->want = 2;
        c->deadline = now_ms + FWD_FIRST_MS;
        c->active = now_ms;
    }
}

static void conn_read(conn_t *c) {
    ssize_t n = recv(c->fd, c->buf + c->have, c->want - c->have, 0);
    pending_t t;
    if (n <= 0) {
        if (n == 0 || !again()) conn_close(c);
        return;
    }
    c->have += (size_t)n;
    c->active = now_ms;
    if (c->have == 2 && c->want == 2) {
        c->want = 2 + get16(c->buf);
        if (c->want < 2 + 12) conn_close(c);
        return;
    }
    if (c->have < c->want) return;
    c->state = C_WAIT;
    memset(&t, 0, sizeof t);
    t.tcp = 1;
    t.conn = (int)(c - conns);
    t.client = c->peer;
    t.local = c->local;
    if (!client_query(&t, c->buf + 2, c->want - 2)) conn_close(c);
}

/* ---- upstream side ------------------------------------------------------- */

static void upstream_udp(pending_t *p) {
    for (;;) {
        ssize_t n = recv(p->up, ubuf, sizeof ubuf, 0);
        stamp_t t;
        if (n < 0) {
            if (!again()) servfail(p);  /* e.g. ECONNREFUSED: nobody there */
            return;
        }
        if (n < 12 || get16(ubuf) != get16(p->q) || !(ubuf[2] & 0x80)) continue;   /* not ours */
        t = stamp();
        n_answers++;
        tap_event(DNSTAP_FORWARDER_RESPONSE, 0, &p->up_local, &upstream, &p->fq, &t, NULL, 0, ubuf, (size_t)n);
        respond(p, ubuf, (size_t)n);
        return;
    }
}

static void upstream_tcp(pending_t *p) {
    conn_t *c = &conns[p->conn];
    ssize_t n;
    stamp_t t;
    if (p->state == P_SEND) {
        if (p->off == 0) {              /* connected? */
            int err = 0;
            socklen_t el = sizeof err;
            p->up_local.len = sizeof p->up_local.sa;
            if (getsockopt(p->up, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err != 0 ||
                getsockname(p->up, sa(&p->up_local), &p->up_local.len) < 0) {
                servfail(p);
                return;
            }
        }
        n = send(p->up, c->buf + p->off, p->want - p->off, 0);
        if (n < 0) {
            if (!again()) servfail(p);
            return;
        }
        p->off += (size_t)n;
        if (p->off < p->want) return;
        p->fq = stamp();
        tap_event(DNSTAP_FORWARDER_QUERY, 1, &p->up_local, &upstream, &p->fq, NULL, c->buf + 2, p->want - 2,
                  NULL, 0);
        p->state = P_WAIT;
        p->have = 0;
        p->want = 2;
        return;
    }
    n = recv(p->up, c->buf + p->have, p->want - p->have, 0);   /* the answer replaces the query */
    if (n <= 0) {
        if (n == 0 || !again()) servfail(p);
        return;
    }
    p->have += (size_t)n;
    if (p->have == 2 && p->want == 2) {
        p->want = 2 + get16(c->buf);
        if (p->want < 2 + 12) servfail(p);
        return;
    }
    if (p->have < p->want) return;
    if (get16(c->buf + 2) != get16(p->q) || !(c->buf[4] & 0x80)) { servfail(p); return; }
    t = stamp();
    n_answers++;
    tap_event(DNSTAP_FORWARDER_RESPONSE, 1, &p->up_local, &upstream, &p->fq, &t, NULL, 0, c->buf + 2,
              p->want - 2);
    respond(p, c->buf + 2, p->want - 2);
}

/* ---- setup ----------------------------------------------------------------- */

static void on_signal(int sig) {
    int e = errno;
    ssize_t r;
    if (sig == SIGUSR1) got_usr1 = 1;
    else got_stop = 1;
    r = write(sig_pipe[1], "", 1);
    (void)r;
    errno = e;
}

static void open_listener(size_t i) {
    addr_t *a = &lis[i].addr;
    int one = 1, v6 = a->sa.ss_family == AF_INET6;
    char s[64];
    lis[i].udp = nonblock(socket(a->sa.ss_family, SOCK_DGRAM, 0));
    lis[i].tcp = nonblock(socket(a->sa.ss_family, SOCK_STREAM, 0));
    if (lis[i].udp < 0 || lis[i].tcp < 0) die("socket", strerror(errno));
    if (v6) {
        (void)setsockopt(lis[i].udp, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
        (void)setsockopt(lis[i].tcp, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    }
#ifdef IP_PKTINFO
    if (!v6) (void)setsockopt(lis[i].udp, IPPROTO_IP, IP_PKTINFO, &one, sizeof one);
#endif
#ifdef IPV6_RECVPKTINFO
    if (v6) (void)setsockopt(lis[i].udp, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one);
#endif
    (void)setsockopt(lis[i].tcp, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(lis[i].udp, sa(a), a->len) < 0) die("bind (udp)", addr_str(a, s, sizeof s));
    if (getsockname(lis[i].udp, sa(a), &a->len) < 0) die("getsockname", strerror(errno));
    if (bind(lis[i].tcp, sa(a), a->len) < 0 || listen(lis[i].tcp, 64) < 0)
        die("bind (tcp)", addr_str(a, s, sizeof s));   /* port 0 above: the same port for TCP */
    fprintf(stderr, "forwarder: listening on %s (udp, tcp)\n", addr_str(a, s, sizeof s));
}

static unsigned long number(const char *opt, const char *v, unsigned long max) {
    char *end;
    unsigned long n = strtoul(v, &end, 10);
    if (*v < '0' || *v > '9' || *end || n > max) die("bad number for", opt);
    return n;
}

static void usage(void) {
    fputs("usage: forwarder -l ADDR:PORT [-l ...] -u ADDR:PORT [--timeout MS] [--tcp-clients N]\n"
          "                 [-t ENDPOINT [tap options]]...\n"
          "  -l ADDR:PORT   listen on UDP and TCP (IPv6 as [ADDR]:PORT; port 0 picks one)\n"
          "  -u ADDR:PORT   upstream server\n"
          "  --timeout MS   upstream answer timeout, then SERVFAIL (2000)\n"
          "  --tcp-clients N  TCP client connections at once (16); when all are taken,\n"
          "                 the one idle longest makes room\n"
          "  -t ENDPOINT    a tap: unix:///path, /path, tcp://host:port, tls://host:port,\n"
          "                 file:/path; the options after it are its own:\n"
          "    --full            include the DNS messages\n"
          "    --writebuffer N   socket send buffer, MiB (TCP)\n"
          "    --queue N         queue of N x 256 KiB (1)\n"
          "    --identity S  --version S  --extra S\n"
          "  TLS (a build with -DDNSTAP_WITH_MBEDTLS): verify with --ca FILE and/or --pin HEX\n"
          "  (SHA-256 of the server's public key), or not at all with --skipverify\n"
          "    --ca FILE  --pin HEX  --skipverify  --servername NAME  --cert FILE --key FILE\n"
          "SIGUSR1 prints the taps' counters; SIGINT/SIGTERM stops.\n", stderr);
    exit(2);
}

/* Options before the first -t are global; each -t starts a tap, and the
   tap options after it are that tap's. */
static void parse_args(int argc, char **argv) {
    int i;
    size_t units = 0;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
        dnstap_desc_t *d = ntaps ? &tap_desc[ntaps - 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) usage();
        if (a[0] != '-') die("unexpected argument", a);
        if (!strcmp(a, "--full")) {
            if (d == NULL) die("tap option before any -t", a);
            d->full = true;
            continue;
        }
#ifdef DNSTAP_WITH_MBEDTLS
        if (!strcmp(a, "--skipverify")) {
            if (d == NULL) die("tap option before any -t", a);
            d->skipverify = true;
            continue;
        }
#else
        if (!strcmp(a, "--skipverify")) die("TLS options need a build with -DDNSTAP_WITH_MBEDTLS", a);
#endif
        if (i + 1 >= argc) die("missing value after", a);
        i++;
        if (!strcmp(a, "-l")) {
            if (nlis == FWD_MAX_LISTEN) die("too many -l", v);
            if (parse_addr(v, &lis[nlis++].addr) < 0) die("bad address", v);
            continue;
        }
        if (!strcmp(a, "-u")) {
            if (parse_addr(v, &upstream) < 0) die("bad address", v);
            continue;
        }
        if (!strcmp(a, "--timeout")) {
            timeout_ms = number(a, v, 3600000);
            continue;
        }
        if (!strcmp(a, "--tcp-clients")) {
            tcp_slots = number(a, v, FWD_MAX_TCP);
            if (tcp_slots == 0) die("bad number for", a);
            continue;
        }
        if (!strcmp(a, "-t")) {
            if (ntaps == FWD_MAX_TAPS) die("too many taps", v);
            tap_desc[ntaps].endpoint = v;
            tap_units[ntaps++] = 1;
            continue;
        }
        if (d == NULL) die("unknown option, or a tap option before any -t", a);
        if (!strcmp(a, "--writebuffer")) d->write_buffer = (uint32_t)number(a, v, 1024) << 20;
        else if (!strcmp(a, "--queue")) tap_units[ntaps - 1] = (unsigned)number(a, v, FWD_QUEUE_POOL / FWD_QUEUE_UNIT);
        else if (!strcmp(a, "--identity")) d->identity = dnstap_str(v);
        else if (!strcmp(a, "--version")) d->version = dnstap_str(v);
        else if (!strcmp(a, "--extra")) d->extra = dnstap_str(v);
#ifdef DNSTAP_WITH_MBEDTLS
        else if (!strcmp(a, "--ca")) d->tls_ca_file = v;
        else if (!strcmp(a, "--cert")) d->tls_cert_file = v;
        else if (!strcmp(a, "--key")) d->tls_key_file = v;
        else if (!strcmp(a, "--servername")) d->tls_server_name = v;
        else if (!strcmp(a, "--pin")) {
            uint8_t *pin = tap_pin[ntaps - 1];
            size_t k;
            if (strlen(v) != 64) die("--pin takes 64 hex digits (SHA-256 of the SubjectPublicKeyInfo)", v);
            for (k = 0; k < 32; k++) {
                unsigned x = 0;
                if (!isxdigit((unsigned char)v[2 * k]) || !isxdigit((unsigned char)v[2 * k + 1]) ||
                    sscanf(v + 2 * k, "%2x", &x) != 1)
                    die("bad --pin", v);
                pin[k] = (uint8_t)x;
            }
            d->tls_pin_sha256 = pin;
        }
#else
        else if (!strcmp(a, "--ca") || !strcmp(a, "--cert") || !strcmp(a, "--key") || !strcmp(a, "--pin") ||
                 !strcmp(a, "--servername"))
            die("TLS options need a build with -DDNSTAP_WITH_MBEDTLS", a);
#endif
        else die("unknown option", a);
    }
    if (nlis == 0 || upstream.len == 0) usage();
    for (i = 0; (size_t)i < ntaps; i++) units += tap_units[i];
    if (units * FWD_QUEUE_UNIT > FWD_QUEUE_POOL) die("--queue: the taps want more than FWD_QUEUE_POOL", NULL);
}

static void start_taps(void) {
    size_t i, off = 0;
    for (i = 0; i < ntaps; i++) {
        dnstap_desc_t *d = &tap_desc[i];
        dnstap_result_t r;
        d->queue = queue_pool + off;
        d->queue_size = tap_units[i] * FWD_QUEUE_UNIT;
        off += d->queue_size;
        d->logger.func = tap_logger;
        d->logger.ctx = &taps[i];
#ifdef DNSTAP_WITH_MBEDTLS
        if (!strncmp(d->endpoint, "tls://", 6)) d->tls_state = &tap_tls[i];
#endif
        r = dnstap_init(&taps[i], d);
        if (r != DNSTAP_OK) {
            fprintf(stderr, "forwarder: tap %s: %s\n", d->endpoint, dnstap_result_str(r));
            exit(2);
        }
        tap_list[i] = &taps[i];
    }
}

/* ---- the loop -------------------------------------------------------------- */

enum { K_SIG, K_UDP, K_TCP, K_CONN, K_UP, K_TAP };
#define FWD_FDS (1 + 2 * FWD_MAX_LISTEN + FWD_MAX_TCP + FWD_MAX_PENDING + FWD_MAX_TAPS)

static void begin_stop(void) {
    size_t i;
    for (i = 0; i < nlis; i++) {
        close(lis[i].udp);
        close(lis[i].tcp);
    }
    nlis = 0;
    for (i = 0; i < FWD_MAX_TCP; i++) if (conns[i].state != C_FREE) conn_close(&conns[i]);
    for (i = 0; i < FWD_MAX_PENDING; i++) {
        if (pend[i].state != P_FREE && pend[i].up >= 0) close(pend[i].up);
        pend[i].state = P_FREE;
    }
    for (i = 0; i < ntaps; i++) dnstap_shutdown(&taps[i], now_ms);
}

int main(int argc, char **argv) {
    static struct pollfd pfd[FWD_FDS];
    static struct { int kind; size_t i; } who[FWD_FDS];
    struct sigaction act;
    uint64_t stop_at = 0;
    size_t i;

    parse_args(argc, argv);
    for (i = 0; i < FWD_MAX_TCP; i++) conns[i].fd = -1;
    for (i = 0; i < FWD_MAX_PENDING; i++) pend[i].up = -1;
    if (pipe(sig_pipe) < 0) die("pipe", strerror(errno));
    (void)nonblock(sig_pipe[0]);
    (void)nonblock(sig_pipe[1]);
    memset(&act, 0, sizeof act);
    act.sa_handler = on_signal;
    sigemptyset(&act.sa_mask);
    (void)sigaction(SIGINT, &act, NULL);
    (void)sigaction(SIGTERM, &act, NULL);
    (void)sigaction(SIGUSR1, &act, NULL);
    act.sa_handler = SIG_IGN;
    (void)sigaction(SIGPIPE, &act, NULL);
    for (i = 0; i < nlis; i++) open_listener(i);
    start_taps();

    for (;;) {
        uint64_t wake;
        size_t n = 0, k;
        int wait;
        now_ms = dnstap_clock_ms();
        wake = now_ms + 60000;
#define ADD(fd_, ev_, kind_, i_) \
        (pfd[n].fd = (fd_), pfd[n].events = (short)(ev_), pfd[n].revents = 0, \
         who[n].kind = (kind_), who[n].i = (i_), n++)
        ADD(sig_pipe[0], POLLIN, K_SIG, 0);
        for (i = 0; i < nlis; i++) {
            ADD(lis[i].udp, POLLIN, K_UDP, i);
            ADD(lis[i].tcp, POLLIN, K_TCP, i);
        }
        for (i = 0; i < FWD_MAX_TCP; i++) {
            conn_t *c = &conns[i];
            if (c->state != C_READ && c->state != C_WRITE) continue;   /* C_WAIT: not polled */
            ADD(c->fd, c->state == C_READ ? POLLIN : POLLOUT, K_CONN, i);
            if (c->deadline < wake) wake = c->deadline;
        }
        for (i = 0; i < FWD_MAX_PENDING; i++) {
            pending_t *p = &pend[i];
            if (p->state == P_FREE) continue;
            ADD(p->up, p->state == P_SEND ? POLLOUT : POLLIN, K_UP, i);
            if (p->deadline < wake) wake = p->deadline;
        }
        for (i = 0; i < ntaps; i++) {
            dnstap_io_t io = dnstap_io(&taps[i], now_ms);
            if (io.fd >= 0 && (io.want_read || io.want_write))
                ADD(io.fd, (io.want_read ? POLLIN : 0) | (io.want_write ? POLLOUT : 0), K_TAP, i);
            if (io.deadline_ms < wake) wake = io.deadline_ms;
        }
        if (stop_at && stop_at < wake) wake = stop_at;
        wait = wake <= now_ms ? 0 : wake - now_ms > INT_MAX ? INT_MAX : (int)(wake - now_ms);
        if (poll(pfd, (nfds_t)n, wait) < 0 && errno != EINTR) die("poll", strerror(errno));
        now_ms = dnstap_clock_ms();

        for (k = 0; k < n; k++) {
            if (pfd[k].revents == 0) continue;
            i = who[k].i;
            switch (who[k].kind) {
            case K_SIG: {
                char b[16];
                while (read(sig_pipe[0], b, sizeof b) > 0) {}
                break;
            }
            case K_UDP: if (i < nlis) udp_readable(i); break;
            case K_TCP: if (i < nlis) tcp_accept(i); break;
            case K_CONN:                    /* still the same connection? */
                if (conns[i].fd != pfd[k].fd) break;
                if (conns[i].state == C_READ) conn_read(&conns[i]);
                else if (conns[i].state == C_WRITE) conn_write(&conns[i]);
                break;
            case K_UP:
                if (pend[i].state == P_FREE || pend[i].up != pfd[k].fd) break;
                if (pend[i].tcp) upstream_tcp(&pend[i]);
                else upstream_udp(&pend[i]);
                break;
            default: break;                 /* taps: polled below */
            }
        }
        for (i = 0; i < FWD_MAX_PENDING; i++)
            if (pend[i].state != P_FREE && now_ms >= pend[i].deadline) servfail(&pend[i]);
        for (i = 0; i < FWD_MAX_TCP; i++)
            if ((conns[i].state == C_READ || conns[i].state == C_WRITE) && now_ms >= conns[i].deadline)
                conn_close(&conns[i]);
        for (i = 0; i < ntaps; i++) (void)dnstap_poll(&taps[i], now_ms);

        if (got_usr1) {
            got_usr1 = 0;
            print_stats();
        }
        if (got_stop && !stop_at) {
            fprintf(stderr, "forwarder: stopping\n");
            begin_stop();
            stop_at = now_ms + FWD_STOP_MS;
        }
        if (stop_at) {
            int open = 0;
            for (i = 0; i < ntaps; i++) open |= !dnstap_closed(&taps[i]);
            if (!open || now_ms >= stop_at) break;
        }
    }
    print_stats();
#ifdef DNSTAP_WITH_MBEDTLS
    for (i = 0; i < ntaps; i++) if (tap_desc[i].tls_state) dnstap_tls_free(&tap_tls[i]);
#endif
    return 0;
}
