/* tls_renego.c - a TLS 1.2 receiver that asks for renegotiation while the
   tap's data write is blocked, for tests/tls.sh.

     tls_renego CERT KEY [plain | idle]

   One process: an Mbed TLS server on 127.0.0.1 (small socket buffers,
   renegotiation enabled) and a tls:// tap (skipverify). The server stops
   reading until the tap's write would block, sends a HelloRequest (unless
   `plain`), then reads everything. Mbed TLS refuses the renegotiation with
   an alert; when a data record is still waiting to go out, sending the
   alert pushes that record out first, and a read in the meantime must not
   make the tap's retried write encrypt the same bytes a second time.

   idle: the request comes while the tap has nothing to write and its
   socket takes nothing (send() below says "would block" for it, as the
   kernel does when the buffer is full): the refusal alert then waits in
   Mbed TLS, and the tap's next write must send it and then its own bytes
   (Mbed TLS's write sent only the alert and said all was taken: frames
   counted sent never went out).

   Prints one line; exit 0 when the receiver got every frame the tap counts
   as sent, each whole, once and in order, and 1 otherwise. */
#define DNSTAP_IMPLEMENTATION
#include "../dnstap.h"
#include <arpa/inet.h>
#include <errno.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/version.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FRAMES 4000
#define BODY 300

static uint8_t queue[1 << 21];
static dnstap_t tap;
static dnstap_tls_t tap_tls;
static mbedtls_ssl_context ssl;
static mbedtls_ssl_config conf;
static mbedtls_x509_crt crt;
static mbedtls_pk_context key;
static mbedtls_entropy_context entropy;
static mbedtls_ctr_drbg_context drbg;
static mbedtls_net_context listener, peer;
static dnstap_reader_t rd;
static uint8_t rbuf[1 << 17];
static long frames, broken, out_of_order;
static uint32_t next_id;

/* send() on this descriptor would block; others go out (the stock TCP
   transport sends with send(); the server's side writes with write()). */
static int full_fd = -1;
ssize_t send(int fd, const void *buf, size_t len, int flags);
ssize_t send(int fd, const void *buf, size_t len, int flags) {
    if (fd == full_fd) { errno = EAGAIN; return -1; }
    return sendto(fd, buf, len, flags, NULL, 0);
}

static void fail(const char *what) {
    printf("%s\n", what);
    exit(2);
}

/* What the receiver read: ACCEPT for READY, frames checked for order. */
static void take(const uint8_t *p, size_t n) {
    while (n) {
        size_t used = 0;
        dnstap_frame_t f;
        dnstap_result_t r = dnstap_reader_feed(&rd, p, n, &used, &f);
        p += used;
        n -= used;
        if (r == DNSTAP_ERR_AGAIN) return;
        if (r != DNSTAP_OK) { broken++; return; }
        if (f.kind == DNSTAP_FRAME_CONTROL && f.control == DNSTAP_CONTROL_READY) {
            uint8_t acc[128];
            size_t len;
            const char *ct = DNSTAP_CONTENT_TYPE;
            if (dnstap_control_frame(acc, sizeof acc, DNSTAP_CONTROL_ACCEPT, &ct, 1, &len) != DNSTAP_OK) fail("ACCEPT");
            while (mbedtls_ssl_write(&ssl, acc, len) == MBEDTLS_ERR_SSL_WANT_WRITE) continue;
        } else if (f.kind == DNSTAP_FRAME_DATA) {
            dnstap_msg_t m;
            uint32_t id;
            if (dnstap_decode(f.data, f.len, &m) != DNSTAP_OK || m.query_message.len != BODY) { broken++; continue; }
            memcpy(&id, m.query_message.data, 4);
            if (id != next_id) out_of_order++;
            next_id = id + 1;
            frames++;
        }
    }
}

static void server_read(void) {
    static uint8_t b[16384];
    for (;;) {
        int n = mbedtls_ssl_read(&ssl, b, sizeof b);
        if (n > 0) { take(b, (size_t)n); continue; }
        return;   /* would block, or the end */
    }
}

static void log_frame(uint32_t k) {
    static uint8_t body[BODY];
    dnstap_msg_t m;
    memset(body, 0xAB, sizeof body);
    memcpy(body, &k, 4);
    memset(&m, 0, sizeof m);
    m.type = DNSTAP_CLIENT_QUERY;
    m.query_message.data = body;
    m.query_message.len = sizeof body;
    if (dnstap_log(&tap, &m) != DNSTAP_OK) fail("tap: a message was refused");
}

static void polls(int n) {
    int i;
    for (i = 0; i < n; i++) { (void)dnstap_poll(&tap, dnstap_clock_ms()); usleep(2000); }
}

int main(int argc, char **argv) {
    const int idle = argc > 3 && strcmp(argv[3], "idle") == 0;
    int renegotiate = !(argc > 3 && strcmp(argv[3], "plain") == 0);
    int fd, one = 1, small = 65536, accepted = 0, handshaken = 0, i;
    struct sockaddr_in a;
    socklen_t alen = sizeof a;
    char ep[64];
    dnstap_desc_t d;
    dnstap_stats_t st;
    uint32_t k;
    if (argc < 3) fail("usage: tls_renego CERT KEY [plain | idle]");
    mbedtls_ssl_init(&ssl);
    mbedtls_ssl_config_init(&conf);
    mbedtls_x509_crt_init(&crt);
    mbedtls_pk_init(&key);
    mbedtls_entropy_init(&entropy);
    mbedtls_ctr_drbg_init(&drbg);
    if (mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, NULL, 0) != 0 ||
        mbedtls_x509_crt_parse_file(&crt, argv[1]) != 0 ||
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
        mbedtls_pk_parse_keyfile(&key, argv[2], NULL, mbedtls_ctr_drbg_random, &drbg) != 0)
#else
        mbedtls_pk_parse_keyfile(&key, argv[2], NULL) != 0)
#endif
        fail("server: certificate or key");
    mbedtls_ssl_config_defaults(&conf, MBEDTLS_SSL_IS_SERVER, MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
    mbedtls_ssl_conf_rng(&conf, mbedtls_ctr_drbg_random, &drbg);
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
    mbedtls_ssl_conf_max_tls_version(&conf, MBEDTLS_SSL_VERSION_TLS1_2);   /* renegotiation is TLS 1.2's */
#else
    mbedtls_ssl_conf_max_version(&conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
#endif
    if (mbedtls_ssl_conf_own_cert(&conf, &crt, &key) != 0) fail("server: own certificate");
    mbedtls_ssl_conf_renegotiation(&conf, MBEDTLS_SSL_RENEGOTIATION_ENABLED);
    mbedtls_ssl_conf_renegotiation_enforced(&conf, -1);   /* keeps reading data while it waits */
    if (mbedtls_ssl_setup(&ssl, &conf) != 0) fail("server: setup");

    fd = socket(AF_INET, SOCK_STREAM, 0);
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(0x7f000001);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 4) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &alen) != 0)
        fail("server: listen");
    listener.fd = fd;
    snprintf(ep, sizeof ep, "tls://127.0.0.1:%d", ntohs(a.sin_port));

    memset(&d, 0, sizeof d);
    d.endpoint = ep;
    d.full = true;
    d.queue = queue;
    d.queue_size = sizeof queue;
    d.skipverify = true;
    d.tls_state = &tap_tls;
    d.write_buffer = 65536;
    d.flush_bytes = DNSTAP_FLUSH_AT_ONCE;
    if (dnstap_init(&tap, &d) != DNSTAP_OK) fail("tap: init");
    dnstap_reader_init(&rd, rbuf, sizeof rbuf);

    /* connect, TLS and Frame Streams handshakes */
    for (i = 0; i < 20000 && !(handshaken && dnstap_stats(&tap).connects); i++) {
        (void)dnstap_poll(&tap, dnstap_clock_ms());
        if (!accepted && mbedtls_net_accept(&listener, &peer, NULL, 0, NULL) == 0) {
            accepted = 1;
            mbedtls_net_set_nonblock(&peer);
            (void)setsockopt(peer.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
            mbedtls_ssl_set_bio(&ssl, &peer, mbedtls_net_send, mbedtls_net_recv, NULL);
        }
        if (accepted && !handshaken && mbedtls_ssl_handshake(&ssl) == 0) handshaken = 1;
        if (handshaken) server_read();
        usleep(200);
    }
    if (!dnstap_stats(&tap).connects) fail("tap: no connection");

    if (idle) {   /* the request is read while the tap's socket takes nothing */
        int r;
        full_fd = dnstap_io(&tap, dnstap_clock_ms()).fd;
        r = mbedtls_ssl_renegotiate(&ssl);
        if (r != 0 && r != MBEDTLS_ERR_SSL_WANT_READ && r != MBEDTLS_ERR_SSL_WANT_WRITE) fail("server: renegotiate");
        usleep(20000);
        polls(20);   /* the tap reads the request; its refusal cannot go out */
        for (k = 0; k < 100; k++) log_frame(k);
        polls(20);   /* the first write would block */
        full_fd = -1;
        polls(20);
        for (; k < 110; k++) { log_frame(k); polls(3); }
        renegotiate = 0;
    } else {   /* the receiver does not read: the tap's writes block */
        for (k = 0; k < FRAMES; k++) log_frame(k);
    }
    for (i = 0; i < 200 && !dnstap_io(&tap, dnstap_clock_ms()).want_write; i++) {
        (void)dnstap_poll(&tap, dnstap_clock_ms());
        usleep(1000);
    }
    if (!idle && !dnstap_io(&tap, dnstap_clock_ms()).want_write) fail("tap: its write never blocked");

    /* a HelloRequest, then the receiver reads while the tap polls */
    if (renegotiate) {
        int r = mbedtls_ssl_renegotiate(&ssl);   /* the HelloRequest is sent, or on its way */
        if (r != 0 && r != MBEDTLS_ERR_SSL_WANT_READ && r != MBEDTLS_ERR_SSL_WANT_WRITE) fail("server: renegotiate");
        /* the request waits, readable, while the write is blocked: a host that
           polled for reads too would wake at once, for ever */
        (void)dnstap_poll(&tap, dnstap_clock_ms());
        if (dnstap_io(&tap, dnstap_clock_ms()).want_write && dnstap_io(&tap, dnstap_clock_ms()).want_read)
            fail("tap: asks for reads while its write waits inside Mbed TLS (the host loop would spin)");
    }
    for (i = 0; i < 100; i++) { server_read(); usleep(1000); }
    for (i = 0; i < 5000 && dnstap_stats(&tap).queued; i++) {
        server_read();
        (void)dnstap_poll(&tap, dnstap_clock_ms());
        usleep(200);
    }
    for (i = 0; i < 200; i++) { server_read(); usleep(1000); }
    st = dnstap_stats(&tap);
    printf("%s: tap logged %llu, sent %llu, queued %llu; receiver: %ld frames, %ld broken, %ld out of order\n",
           idle ? "renegotiation asked of an idle tap whose socket is full" :
           renegotiate ? "renegotiation asked" : "no renegotiation", (unsigned long long)st.logged,
           (unsigned long long)st.sent, (unsigned long long)st.queued, frames, broken, out_of_order);
    dnstap_close_now(&tap);
    dnstap_tls_free(&tap_tls);
    return broken == 0 && out_of_order == 0 && st.sent > 0 && (unsigned long long)frames == st.sent ? 0 : 1;
}
