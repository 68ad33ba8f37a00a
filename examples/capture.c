/* capture.c - receive dnstap from DNS servers and write it to a file.

   The receiver side of Frame Streams, like fstrm_capture: it listens on a
   unix socket and/or TCP (IPv4 or IPv6), serves several producers at once
   from one poll(2) loop (non-blocking sockets, one dnstap_reader_t per
   connection, no threads, no allocation after start-up), runs the
   bidirectional handshake with each (READY -> ACCEPT naming
   protobuf:dnstap.Dnstap only if READY offers it, START checked, data
   frames, STOP -> FINISH; a writer that starts with START is served
   unidirectionally), checks every data frame with dnstap_decode() and
   appends it to one dnstap file (START, the frames of all connections,
   STOP) through dnstap_file_t.

   Unlike `dnstap -u -w`, the file is always complete: buffered frames are
   written at least once a second, and SIGINT/SIGTERM close it with STOP
   (an output still blocked 2 s later is given up: exit status 1). A
   peer that misbehaves (garbage, a frame above CAPTURE_FRAME_MAX, the wrong
   content type, no handshake within 2 s) is disconnected with the reason
   logged; the other connections carry on. Peers that connect and stay
   silent cannot lock producers out: when every slot is taken, a new
   connection evicts a peer that never sent a byte, else one that has not
   finished its handshake, else the producer idle longest (no byte received
   for the longest time); a working producer outlasts any number of silent
   newcomers.

   Rotation: with -r BYTES, a file is closed (with STOP) before a frame
   would make it larger than BYTES, and the capture continues in FILE.1,
   then FILE.2, ... (the first file is FILE itself; existing files are
   overwritten). SIGHUP rotates at once. Every file is a complete dnstap file.

   Build:  cc -std=c99 -O2 -I. examples/capture.c -o capture -lprotobuf-nanopb
   Run:    capture -u /run/dnstap.sock -w /var/log/dns.dnstap
           capture -l [::]:6000 -u /tmp/tap.sock -w dns.dnstap -r 10M
   Options: -u PATH and -l HOST:PORT (up to 4 listeners in all; "[v6]:port",
   ":port" for any address), -w FILE ("-": standard output, no rotation),
   -r BYTES (suffix k, M or G), -n SLOTS (connections at once, 16 by default,
   at most CAPTURE_MAX_CONN), -i MS (close a connection silent for MS
   milliseconds), -q (log errors only). On exit it prints
   "capture: N connections, N frames, N bytes, N files" on stderr.

   Memory: CAPTURE_MAX_CONN slots (64) with a CAPTURE_FRAME_MAX (the
   libfstrm limit, 262,140 bytes) frame buffer each, all static; pages are
   only touched as connections and large frames arrive. Build with
   -DCAPTURE_FRAME_MAX=... to trade the largest accepted frame for memory.

   TLS: built with -DDNSTAP_WITH_MBEDTLS (link -lmbedtls -lmbedx509
   -lmbedcrypto), -c CERT -k KEY make every TCP listener a TLS listener
   (unix sockets stay plain); -a CA also requires client certificates
   signed by CA. All connection bytes go through four transport hooks
   (conn_accepted, conn_recv, conn_send, conn_close), which is all TLS
   changes.

   Fuzzing: fuzz/fuzz_capture.c includes this file with -DCAPTURE_FUZZ; it
   supplies the transport hooks itself and calls conn_new() and conn_event()
   as poll() would; main() becomes capture_main().

   The dtap tool (examples/dtap.c) includes this file with -DCAPTURE_EMBEDDED:
   it runs capture_main() as its receiver and, when it prints or relays
   instead of writing a dnstap file, takes the output through the four
   CAPTURE_OUT_* hooks (start, one frame's payload, SIGHUP, end). -i MS closes a
   connection that sent nothing for MS milliseconds (dtap -t). */
#define DNSTAP_IMPLEMENTATION
#define DNSTAP_NO_NANOPB_ENCODE
#include "../dnstap.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#ifndef MSG_NOSIGNAL   /* not everywhere; SIGPIPE is ignored anyway */
#define MSG_NOSIGNAL 0
#endif

#ifndef CAPTURE_FRAME_MAX
#define CAPTURE_FRAME_MAX DNSTAP_PAYLOAD_MAX_FSTRM
#endif
#ifndef CAPTURE_NAME
#define CAPTURE_NAME "capture"   /* what the messages on stderr start with */
#endif
#ifndef CAPTURE_MAX_CONN
#define CAPTURE_MAX_CONN 64
#endif
#define DEFAULT_SLOTS 16
#define MAX_LISTEN 4
#define HANDSHAKE_MS 2000
#define FLUSH_MS 1000

typedef struct conn_t {
    int fd;                        /* -1: slot free */
    int bidir;                     /* READY seen: answer ACCEPT, FINISH */
    int heard;                     /* a byte received */
    int started, stopped;          /* START, STOP seen */
    int stopping;                  /* STOP seen or refused: close once out is sent */
    uint64_t deadline_ms;          /* handshake must be done by then; 0 after START */
    uint64_t active_ms;            /* last byte received (or accepted then) */
    uint8_t out[64];               /* ACCEPT / FINISH waiting to be sent */
    size_t out_len;
    unsigned long long frames, bad;
    char name[128];
#ifdef DNSTAP_WITH_MBEDTLS
    int tls;                       /* a TLS connection: ssl is set up */
    mbedtls_ssl_context ssl;
#endif
    dnstap_reader_t rd;
    uint8_t buf[4 + CAPTURE_FRAME_MAX];   /* 4 bytes of headroom, then the reader's buffer */
} conn_t;

static conn_t conns[CAPTURE_MAX_CONN];
static int slots = CAPTURE_MAX_CONN < DEFAULT_SLOTS ? CAPTURE_MAX_CONN : DEFAULT_SLOTS;   /* -n */
static uint8_t rx[4 + 65536];             /* 4 bytes of headroom, then received bytes */
static int quiet;                  /* 1: errors only (-q); 2: nothing (fuzzing) */
static uint64_t loop_ms;           /* the clock when poll() returned */
static uint64_t idle_ms;           /* -i: close a connection silent this long (0: never) */
/* A data frame that dnstap_decode() does not take: capture's file holds
   checked frames only (a frame that is not a Dnstap protobuf closes the
   connection, one of a Dnstap it cannot use is skipped); a program that
   includes this file may skip both (printing) or pass every frame on as
   it came (a copy of the stream). */
enum { FRAMES_CHECKED, FRAMES_SKIP_BAD, FRAMES_AS_THEY_CAME };
static int frame_policy = FRAMES_CHECKED;

/* the output file(s) */
static dnstap_encoder_t enc;
static dnstap_file_t file;
static uint8_t fbuf[4 + CAPTURE_FRAME_MAX];   /* holds at least one whole frame */
static const char *base_path;
static char path[4096];
static int out_fd = 1;             /* -w -: standard output */
static unsigned long seq, nfiles;
static int file_is_open;
static uint64_t rotate_bytes, file_bytes, file_frames, last_flush_ms;
static int file_failed;   /* a write to this file failed, and was said */
static unsigned long long total_conns, total_frames, total_bytes;

static void logmsg(int err, const char *fmt, ...) {
    va_list ap;
    if (quiet > 1 || (quiet && !err)) return;
    va_start(ap, fmt);
    fputs(CAPTURE_NAME ": ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* ---- transport hooks --------------------------------------------------
   The only functions that touch a connection's bytes: plain sockets, or
   Mbed TLS on top of them. "Would block" is errno EAGAIN either way; a TLS
   handshake in progress is simply "no data yet". */
#ifdef DNSTAP_WITH_MBEDTLS
#include <mbedtls/net_sockets.h>   /* for the MBEDTLS_ERR_NET_* values only */
static int tls_on;
static mbedtls_ssl_config tls_conf;
static mbedtls_x509_crt tls_cert, tls_ca;
static mbedtls_pk_context tls_key;
static mbedtls_entropy_context tls_entropy;
static mbedtls_ctr_drbg_context tls_drbg;

static int tls_bio_send(void *ctx, const unsigned char *b, size_t n) {
    ssize_t r = send(*(int *)ctx, b, n, MSG_NOSIGNAL);
    if (r >= 0) return (int)r;
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? MBEDTLS_ERR_SSL_WANT_WRITE
                                                                       : MBEDTLS_ERR_NET_SEND_FAILED;
}

static int tls_bio_recv(void *ctx, unsigned char *b, size_t n) {
    ssize_t r = recv(*(int *)ctx, b, n, 0);
    if (r >= 0) return (int)r;
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? MBEDTLS_ERR_SSL_WANT_READ
                                                                       : MBEDTLS_ERR_NET_RECV_FAILED;
}

static int tls_fail(const char *what, int ret) {
    char e[128];
    mbedtls_strerror(ret, e, sizeof e);
    logmsg(1, "TLS: %s: %s", what, e);
    return -1;
}

/* -c CERT -k KEY [-a CA]: the server side, set up once. */
static int tls_setup(const char *cert, const char *key, const char *ca) {
    static const unsigned char pers[] = "dnstap.h capture";
    int ret;
    mbedtls_ssl_config_init(&tls_conf);
    mbedtls_x509_crt_init(&tls_cert);
    mbedtls_x509_crt_init(&tls_ca);
    mbedtls_pk_init(&tls_key);
    mbedtls_entropy_init(&tls_entropy);
    mbedtls_ctr_drbg_init(&tls_drbg);
#if MBEDTLS_VERSION_NUMBER >= 0x03000000 && defined(MBEDTLS_PSA_CRYPTO_C)
    if (psa_crypto_init() != PSA_SUCCESS) return tls_fail("psa_crypto_init", 0);   /* TLS 1.3 needs it */
#endif
    if ((ret = mbedtls_ctr_drbg_seed(&tls_drbg, mbedtls_entropy_func, &tls_entropy, pers, sizeof pers - 1)) != 0)
        return tls_fail("random generator", ret);
    if ((ret = mbedtls_x509_crt_parse_file(&tls_cert, cert)) != 0) return tls_fail(cert, ret);
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
    ret = mbedtls_pk_parse_keyfile(&tls_key, key, NULL, mbedtls_ctr_drbg_random, &tls_drbg);
#else
    ret = mbedtls_pk_parse_keyfile(&tls_key, key, NULL);
#endif
    if (ret != 0) return tls_fail(key, ret);
    if ((ret = mbedtls_ssl_config_defaults(&tls_conf, MBEDTLS_SSL_IS_SERVER, MBEDTLS_SSL_TRANSPORT_STREAM,
                                           MBEDTLS_SSL_PRESET_DEFAULT)) != 0)
        return tls_fail("configuration", ret);
    mbedtls_ssl_conf_rng(&tls_conf, mbedtls_ctr_drbg_random, &tls_drbg);
    if ((ret = mbedtls_ssl_conf_own_cert(&tls_conf, &tls_cert, &tls_key)) != 0) return tls_fail("certificate", ret);
    if (ca) {   /* mutual TLS: producers must show a certificate from CA */
        if ((ret = mbedtls_x509_crt_parse_file(&tls_ca, ca)) != 0) return tls_fail(ca, ret);
        mbedtls_ssl_conf_ca_chain(&tls_conf, &tls_ca, NULL);
        mbedtls_ssl_conf_authmode(&tls_conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    } else {
        mbedtls_ssl_conf_authmode(&tls_conf, MBEDTLS_SSL_VERIFY_NONE);
    }
    tls_on = 1;
    return 0;
}

/* errno for a TLS result that is not data: EAGAIN while it waits, else EPROTO */
static ssize_t tls_result(conn_t *c, int ret, const char *what) {
    if (ret >= 0) return ret;
    if (ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE) { errno = EAGAIN; return -1; }
    if (ret == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) return 0;
    {
        char e[128];
        mbedtls_strerror(ret, e, sizeof e);
        logmsg(1, "%s: TLS %s: %s", c->name, what, e);
    }
    errno = EPROTO;
    return -1;
}
#endif

#ifndef CAPTURE_FUZZ
static int conn_accepted(conn_t *c) {
#ifdef DNSTAP_WITH_MBEDTLS
    if (c->tls) {
        mbedtls_ssl_init(&c->ssl);
        if (mbedtls_ssl_setup(&c->ssl, &tls_conf) != 0) { mbedtls_ssl_free(&c->ssl); c->tls = 0; return -1; }
        mbedtls_ssl_set_bio(&c->ssl, &c->fd, tls_bio_send, tls_bio_recv, NULL);
    }
#endif
    (void)c;
    return 0;
}

static ssize_t conn_recv(conn_t *c, uint8_t *b, size_t n) {
#ifdef DNSTAP_WITH_MBEDTLS
    if (c->tls) return tls_result(c, mbedtls_ssl_read(&c->ssl, b, n), "read");
#endif
    return recv(c->fd, b, n, 0);
}

static ssize_t conn_send(conn_t *c, const uint8_t *b, size_t n) {
#ifdef DNSTAP_WITH_MBEDTLS
    if (c->tls) return tls_result(c, mbedtls_ssl_write(&c->ssl, b, n), "write");   /* same args on a retry */
#endif
    return send(c->fd, b, n, MSG_NOSIGNAL);
}

/* Bytes the TLS layer has decrypted already: poll() cannot see them. */
static int conn_pending(conn_t *c) {
#ifdef DNSTAP_WITH_MBEDTLS
    if (c->tls) return mbedtls_ssl_get_bytes_avail(&c->ssl) > 0;
#endif
    (void)c;
    return 0;
}

static void conn_close(conn_t *c, int err, const char *why) {
    if (c->bad) logmsg(err, "%s: %s (%llu frames, %llu skipped)", c->name, why, c->frames, c->bad);
    else logmsg(err, "%s: %s (%llu frames)", c->name, why, c->frames);
#ifdef DNSTAP_WITH_MBEDTLS
    if (c->tls) {
        (void)mbedtls_ssl_close_notify(&c->ssl);   /* best effort: the socket is non-blocking */
        mbedtls_ssl_free(&c->ssl);
        c->tls = 0;
    }
#endif
    close(c->fd);
    c->fd = -1;
}
#ifdef CAPTURE_EMBEDDED   /* examples/dtap.c runs the receiver as its own */
#define main capture_main
int capture_main(int argc, char **argv);
#endif
#else   /* fuzz/fuzz_capture.c defines the hooks */
static int conn_accepted(conn_t *c);
static ssize_t conn_recv(conn_t *c, uint8_t *b, size_t n);
static ssize_t conn_send(conn_t *c, const uint8_t *b, size_t n);
static int conn_pending(conn_t *c);
static void conn_close(conn_t *c, int err, const char *why);
#define main capture_main
int capture_main(int argc, char **argv);
#endif

/* ---- files ---- */
static int file_start(void) {
    dnstap_result_t r;
    if (strcmp(base_path, "-") == 0) {
        r = dnstap_file_init(&file, &enc, fbuf, sizeof fbuf, dnstap_fd_write, &out_fd);
        snprintf(path, sizeof path, "standard output");
    } else {
        if (seq == 0) snprintf(path, sizeof path, "%s", base_path);
        else snprintf(path, sizeof path, "%s.%lu", base_path, seq);
        r = dnstap_file_open(&file, &enc, fbuf, sizeof fbuf, path);
    }
    file_failed = 0;
    if (r == DNSTAP_OK) { file_is_open = 1; r = dnstap_file_flush(&file); }   /* START on disk at once */
    if (r != DNSTAP_OK) { logmsg(1, "%s: %s", path, r == DNSTAP_ERR_IO ? strerror(errno) : dnstap_result_str(r)); return -1; }
    file_bytes = 42;   /* the START frame */
    file_frames = 0;
    nfiles++;
    logmsg(0, "writing %s", path);
    return 0;
}

static int file_end(void) {
    dnstap_result_t r;
    if (!file_is_open) return -1;
    file_is_open = 0;
    r = dnstap_file_close(&file);
    if (r != DNSTAP_OK && !file_failed)   /* the close's own writes failed: say why */
        logmsg(1, "%s: %s", path, r == DNSTAP_ERR_IO ? strerror(errno) : dnstap_result_str(r));
    /* what the file holds: after a failed write, its whole frames (and
       STOP if it fitted), not what was received */
    total_frames += file.frames;
    total_bytes += file.written;
    logmsg(r != DNSTAP_OK, "closed %s%s: %llu frames, %llu bytes", path, r != DNSTAP_OK ? " after a write error" : "",
           (unsigned long long)file.frames, (unsigned long long)file.written);
    return r == DNSTAP_OK ? 0 : -1;
}

static int file_rotate(void) {
    if (file_end() != 0) return -1;
    seq++;
    return file_start();
}

/* SIGHUP: the next file at once (standard output goes on). */
static int file_hup(void) { return strcmp(base_path, "-") == 0 ? 0 : file_rotate(); }

/* Append one data frame; p points to its payload, which has 4 bytes of our
   own memory in front for the length (no copy but the one into fbuf). */
static int file_append(uint8_t *p, size_t len) {
    dnstap_result_t r;
    if (rotate_bytes && file_frames && strcmp(base_path, "-") != 0 && file_bytes + 4 + len + 12 > rotate_bytes &&
        file_rotate() != 0)
        return -1;
    p -= 4;
    p[0] = (uint8_t)(len >> 24); p[1] = (uint8_t)(len >> 16); p[2] = (uint8_t)(len >> 8); p[3] = (uint8_t)len;
    if ((r = dnstap_file_write_frame(&file, p, len + 4)) != DNSTAP_OK) {
        logmsg(1, "%s: %s", path, r == DNSTAP_ERR_IO ? strerror(errno) : dnstap_result_str(r));
        file_failed = r == DNSTAP_ERR_IO;
        return -1;
    }
    file_bytes += 4 + len;
    file_frames++;
    return 0;
}

/* The output: this dnstap file, unless a program that includes this file
   takes the frames itself (examples/dtap.c). */
#ifndef CAPTURE_OUT_START
#define CAPTURE_OUT_START file_start
#define CAPTURE_OUT_FRAME file_append
#define CAPTURE_OUT_HUP file_hup
#define CAPTURE_OUT_END file_end
#endif

/* ---- connections ---- */
static int set_nonblock(int fd) {
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Queue a control frame for the peer. 0, or -1 when it does not fit: the
   peer is not reading what we answer, and a reply must never be dropped. */
static int conn_control(conn_t *c, dnstap_control_t type, const char *ct) {
    const char *cts[1];
    size_t n;
    cts[0] = ct;
    if (dnstap_control_frame(c->out + c->out_len, sizeof c->out - c->out_len, type, cts, ct ? 1u : 0u, &n) !=
        DNSTAP_OK)
        return -1;
    c->out_len += n;
    return 0;
}

/* 0: all sent, 1: some left (wait for POLLOUT), -1: dead */
static int conn_flush(conn_t *c) {
    while (c->out_len) {
        ssize_t n = conn_send(c, c->out, c->out_len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 1;
        if (n <= 0) return -1;
        memmove(c->out, c->out + n, c->out_len - (size_t)n);
        c->out_len -= (size_t)n;
    }
    return 0;
}

/* Where the frame's payload lies in memory we own (with headroom), or NULL. */
static uint8_t *payload_ptr(conn_t *c, const dnstap_frame_t *f, size_t got) {
    uintptr_t d = (uintptr_t)f->data;
    if (d == (uintptr_t)(c->buf + 4)) return c->buf + 4;
    if (d >= (uintptr_t)(rx + 4) && d + f->len <= (uintptr_t)(rx + 4 + got)) return rx + (d - (uintptr_t)rx);
    return NULL;
}

/* Read what is there and act on every complete frame. -1: file failed. */
static int conn_input(conn_t *c) {
    ssize_t n = conn_recv(c, rx + 4, sizeof rx - 4);
    size_t pos = 0;
    if (n > 0) { c->active_ms = loop_ms; c->heard = 1; }
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
    if (n < 0) { conn_close(c, 1, strerror(errno)); return 0; }
    if (n == 0) {
        conn_close(c, c->started, c->started ? "closed without STOP" : "closed before START");
        return 0;
    }
    while (pos < (size_t)n && !c->stopping) {
        dnstap_frame_t f;
        size_t used;
        dnstap_result_t r = dnstap_reader_feed(&c->rd, rx + 4 + pos, (size_t)n - pos, &used, &f);
        pos += used;
        if (r == DNSTAP_ERR_AGAIN) break;
        if (r != DNSTAP_OK) { conn_close(c, 1, dnstap_result_str(r)); return 0; }
        if (f.kind == DNSTAP_FRAME_DATA) {
            dnstap_msg_t m;
            uint8_t *p = payload_ptr(c, &f, (size_t)n);
            if (p == NULL) { conn_close(c, 1, "internal error: frame outside our buffers"); return 0; }
            r = frame_policy == FRAMES_AS_THEY_CAME ? DNSTAP_OK : dnstap_decode(p, f.len, &m);
            if (r == DNSTAP_ERR_DECODE && frame_policy == FRAMES_CHECKED) {
                conn_close(c, 1, "data frame is not a Dnstap protobuf");
                return 0;
            }
            if (r != DNSTAP_OK) {   /* skipped: reported once, counted at the close */
                if (c->bad++ == 0)
                    logmsg(1, "%s: frame skipped: %s", c->name,
                           r == DNSTAP_ERR_DECODE ? "not a Dnstap protobuf" : dnstap_result_str(r));
                continue;
            }
            c->frames++;
            if (CAPTURE_OUT_FRAME(p, f.len) != 0) return -1;
        } else if (f.control == DNSTAP_CONTROL_READY) {
            int offered = dnstap_frame_has_content_type(&f, DNSTAP_CONTENT_TYPE);
            c->bidir = 1;
            if (conn_control(c, DNSTAP_CONTROL_ACCEPT, offered ? DNSTAP_CONTENT_TYPE : NULL) != 0) {
                conn_close(c, 1, "no room for ACCEPT");
                return 0;
            }
            if (!offered) {
                logmsg(1, "%s: READY does not offer " DNSTAP_CONTENT_TYPE, c->name);
                c->stopping = 1;
            }
        } else if (f.control == DNSTAP_CONTROL_START) {
            c->started = 1;
            c->deadline_ms = 0;
            logmsg(0, "%s: started%s", c->name, c->bidir ? "" : " (unidirectional)");
        } else if (f.control == DNSTAP_CONTROL_STOP) {
            if (c->bidir && conn_control(c, DNSTAP_CONTROL_FINISH, NULL) != 0) {
                conn_close(c, 1, "no room for FINISH: the peer does not read");
                return 0;
            }
            c->stopped = c->stopping = 1;
        }
    }
    return 0;
}

/* A free slot for a new connection on fd, reset; NULL if all are taken. */
static conn_t *conn_new(int fd, uint64_t now) {
    conn_t *c;
    int i;
    for (i = 0; i < slots && conns[i].fd >= 0; i++) {}
    if (i == slots) return NULL;
    c = &conns[i];
    c->fd = fd;
    c->heard = c->bidir = c->started = c->stopped = c->stopping = 0;
    c->out_len = 0;
    c->frames = c->bad = 0;
    c->deadline_ms = now + HANDSHAKE_MS;
    c->active_ms = now;
    total_conns++;
    dnstap_reader_init(&c->rd, c->buf + 4, sizeof c->buf - 4);
    return c;
}

/* How much a connection has shown that it is a producer: 0 not a byte
   yet, 1 some bytes but no START, 2 started. */
static int conn_standing(const conn_t *c) { return c->started ? 2 : c->heard; }

/* Every slot is taken: free one, so that peers which connect and say
   nothing cannot lock producers out, and a burst of them cannot push out a
   producer either: the lowest standing goes first, idle longest among
   equals. */
static void conn_evict(uint64_t now) {
    conn_t *idle = NULL;
    int i;
    for (i = 0; i < slots; i++) {
        conn_t *c = &conns[i];
        if (c->fd < 0) continue;
        if (idle == NULL || conn_standing(c) < conn_standing(idle) ||
            (conn_standing(c) == conn_standing(idle) && c->active_ms < idle->active_ms))
            idle = c;
    }
    if (idle == NULL) return;
    logmsg(1, "%s: evicted after %llu ms idle%s: all %d slots taken", idle->name,
           (unsigned long long)(now - idle->active_ms),
           idle->started ? "" : idle->heard ? ", no START" : ", not a byte sent", slots);
    conn_close(idle, 1, "evicted");
}

static void conn_accept(int lfd, int is_unix, uint64_t now) {
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int fd = accept(lfd, (struct sockaddr *)&ss, &sl);
    const char *why = NULL;
    conn_t *c = NULL;
    if (fd < 0) return;
    if (set_nonblock(fd) != 0) why = strerror(errno);
    else if ((c = conn_new(fd, now)) == NULL) {
        conn_evict(now);
        if ((c = conn_new(fd, now)) == NULL) why = "too many";
    }
    if (why) {
        logmsg(1, "refusing a connection: %s", why);
        close(fd);
        return;
    }
    {
        char host[64] = "unix", port[16] = "";
        if (!is_unix && getnameinfo((struct sockaddr *)&ss, sl, host, sizeof host, port, sizeof port,
                                    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
            strcpy(host, "?");
        snprintf(c->name, sizeof c->name, "#%llu %s%s%s", total_conns, host, port[0] ? " port " : "", port);
    }
#ifdef DNSTAP_WITH_MBEDTLS
    c->tls = tls_on && !is_unix;
#endif
    if (conn_accepted(c) != 0) { conn_close(c, 1, "transport setup failed"); return; }
    logmsg(0, "%s: connected", c->name);
}

/* poll() says c's socket is ready (revents): take its input, send the
   replies, close it when it is done. -1: the output file failed. */
static int conn_event(conn_t *c, int revents) {
    int status = 0;
    if ((revents & (POLLIN | POLLHUP | POLLERR)) && !c->stopping && conn_input(c) != 0) status = -1;
    while (status == 0 && c->fd >= 0 && !c->stopping && conn_pending(c))
        if (conn_input(c) != 0) status = -1;
    if (c->fd < 0) return status;
    if (c->out_len && conn_flush(c) < 0) conn_close(c, 1, "send failed");
    else if (c->stopping && c->out_len == 0) conn_close(c, !c->stopped, c->stopped ? "finished" : "refused");
    else if (c->stopping && (revents & (POLLHUP | POLLERR))) conn_close(c, 1, "hung up");
    return status;
}

/* -u PATH or -l HOST:PORT */
static int listen_on(const char *spec, int is_unix) {
    int fd = -1, one = 1;
    if (is_unix) {
        struct sockaddr_un sa;
        struct stat st;
        if (strlen(spec) >= sizeof sa.sun_path) { logmsg(1, "%s: path too long", spec); return -1; }
        memset(&sa, 0, sizeof sa);
        sa.sun_family = AF_UNIX;
        memcpy(sa.sun_path, spec, strlen(spec));
        if (lstat(spec, &st) == 0 && S_ISSOCK(st.st_mode)) unlink(spec);   /* a stale socket */
        if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
            logmsg(1, "%s: %s", spec, strerror(errno));
            if (fd >= 0) close(fd);
            return -1;
        }
    } else {
        char host[256];
        const char *colon = strrchr(spec, ':');
        size_t hl;
        struct addrinfo hints, *res = NULL, *ai;
        int err;
        if (!colon || (hl = (size_t)(colon - spec)) >= sizeof host) { logmsg(1, "%s: want HOST:PORT", spec); return -1; }
        memcpy(host, spec, hl);
        host[hl] = 0;
        if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') { memmove(host, host + 1, hl - 2); host[hl - 2] = 0; }
        memset(&hints, 0, sizeof hints);
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_PASSIVE;
        err = getaddrinfo(host[0] && strcmp(host, "*") ? host : NULL, colon + 1, &hints, &res);
        if (err) { logmsg(1, "%s: %s", spec, gai_strerror(err)); return -1; }
        for (ai = res; ai; ai = ai->ai_next) {
            if ((fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol)) < 0) continue;
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
            if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0) break;
            close(fd);
            fd = -1;
        }
        if (fd < 0) logmsg(1, "%s: %s", spec, strerror(errno));
        freeaddrinfo(res);
        if (fd < 0) return -1;
    }
    if (listen(fd, 64) != 0 || set_nonblock(fd) != 0) {
        logmsg(1, "%s: %s", spec, strerror(errno));
        close(fd);
        return -1;
    }
    if (!is_unix) {   /* name the port actually bound (for port 0) */
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        char h[64], p[16];
        if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 &&
            getnameinfo((struct sockaddr *)&ss, sl, h, sizeof h, p, sizeof p, NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
            logmsg(0, "listening on %s port %s", h, p);
            return fd;
        }
    }
    logmsg(0, "listening on %s", spec);
    return fd;
}

/* ---- signals: a self-pipe wakes poll() ----
   SIGINT/SIGTERM also start a time limit on the way out: an output that
   blocks (standard output to a reader that stopped reading) must not keep
   the process alive; when it runs out, the process gives up and exits 1. */
static int sigfd[2] = { -1, -1 };
static volatile sig_atomic_t got_stop, got_hup;
static unsigned stop_limit_s = 2;   /* a program that includes this file may need more */
static void on_signal(int sig) {
    int e = errno;
    if (sig == SIGHUP) got_hup = 1;
    else if (sig == SIGALRM) {
        static const char msg[] = CAPTURE_NAME ": output still blocked after the time limit: giving up\n";
        if (write(2, msg, sizeof msg - 1) < 0) {}
        _exit(1);
    } else if (!got_stop) {
        got_stop = 1;
        alarm(stop_limit_s);
    }
    if (write(sigfd[1], "", 1) < 0) {}
    errno = e;
}

static uint64_t parse_size(const char *s) {
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s) return 0;
    switch (*end) {
    case 'k': case 'K': v <<= 10; end++; break;
    case 'm': case 'M': v <<= 20; end++; break;
    case 'g': case 'G': v <<= 30; end++; break;
    default: break;
    }
    return *end ? 0 : (uint64_t)v;
}

static int usage(void) {
    fprintf(stderr, "usage: capture (-u PATH | -l HOST:PORT)... -w FILE [-r BYTES] [-n SLOTS] [-i MS] [-q]"
#ifdef DNSTAP_WITH_MBEDTLS
                    " [-c CERT -k KEY [-a CA]]"
#endif
                    "\n");
    return 2;
}

int main(int argc, char **argv) {
    struct { const char *spec; int is_unix, fd; } lst[MAX_LISTEN];
    struct pollfd pfd[1 + MAX_LISTEN + CAPTURE_MAX_CONN];
    int nl = 0, i, opt, status = 0;
    dnstap_encoder_desc_t ed;
    struct sigaction sa;

    const char *tls_cert_file = NULL, *tls_key_file = NULL, *tls_ca_file = NULL;
    while ((opt = getopt(argc, argv, "u:l:w:r:n:i:qc:k:a:")) != -1) {
        switch (opt) {
        case 'u': case 'l':
            if (nl == MAX_LISTEN) return usage();
            lst[nl].spec = optarg; lst[nl].is_unix = opt == 'u'; lst[nl++].fd = -1;
            break;
        case 'w': base_path = optarg; break;
        case 'r': if ((rotate_bytes = parse_size(optarg)) == 0) return usage(); break;
        case 'n':
            slots = atoi(optarg);
            if (slots < 1 || slots > CAPTURE_MAX_CONN) return usage();
            break;
        case 'i': idle_ms = strtoull(optarg, NULL, 10); break;
        case 'q': quiet = 1; break;
        case 'c': tls_cert_file = optarg; break;
        case 'k': tls_key_file = optarg; break;
        case 'a': tls_ca_file = optarg; break;
        default: return usage();
        }
    }
    if (nl == 0 || base_path == NULL || optind != argc) return usage();
    if (tls_cert_file || tls_key_file || tls_ca_file) {
#ifdef DNSTAP_WITH_MBEDTLS
        if (!tls_cert_file || !tls_key_file) return usage();
        if (tls_setup(tls_cert_file, tls_key_file, tls_ca_file) != 0) return 1;
#else
        logmsg(1, "TLS needs a build with -DDNSTAP_WITH_MBEDTLS");
        return 2;
#endif
    }

    if (pipe(sigfd) != 0 || set_nonblock(sigfd[0]) != 0 || set_nonblock(sigfd[1]) != 0) { perror("capture: pipe"); return 1; }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGALRM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    memset(&ed, 0, sizeof ed);
    ed.payload_max = CAPTURE_FRAME_MAX;
    if (dnstap_encoder_init(&enc, &ed) != DNSTAP_OK) return 1;
    for (i = 0; i < CAPTURE_MAX_CONN; i++) conns[i].fd = -1;
    for (i = 0; i < nl; i++) if ((lst[i].fd = listen_on(lst[i].spec, lst[i].is_unix)) < 0) return 1;
    if (CAPTURE_OUT_START() != 0) return 1;
    last_flush_ms = dnstap_clock_ms();

    while (!got_stop) {
        uint64_t now = dnstap_clock_ms();
        int np = 0, timeout = -1, idx[1 + MAX_LISTEN + CAPTURE_MAX_CONN];
        if (file.used) timeout = now - last_flush_ms >= FLUSH_MS ? 0 : (int)(last_flush_ms + FLUSH_MS - now);
        pfd[np].fd = sigfd[0]; pfd[np].events = POLLIN; idx[np++] = -1;
        for (i = 0; i < nl; i++) { pfd[np].fd = lst[i].fd; pfd[np].events = POLLIN; idx[np++] = -2 - i; }
        for (i = 0; i < slots; i++) {
            conn_t *c = &conns[i];
            if (c->fd < 0) continue;
            if (c->deadline_ms && now >= c->deadline_ms) { conn_close(c, 1, "no handshake within 2 s"); continue; }
            if (idle_ms && now - c->active_ms >= idle_ms) { conn_close(c, 1, "idle timeout"); continue; }
            if (idle_ms && (timeout < 0 || c->active_ms + idle_ms - now < (uint64_t)timeout))
                timeout = (int)(c->active_ms + idle_ms - now);
            if (c->deadline_ms && (timeout < 0 || c->deadline_ms - now < (uint64_t)timeout))
                timeout = (int)(c->deadline_ms - now);
            pfd[np].fd = c->fd;
            pfd[np].events = (short)((c->stopping ? 0 : POLLIN) | (c->out_len ? POLLOUT : 0));
            idx[np++] = i;
        }
        if (poll(pfd, (nfds_t)np, timeout) < 0 && errno != EINTR) { perror("capture: poll"); status = 1; break; }
        now = loop_ms = dnstap_clock_ms();
        if (pfd[0].revents) { char b[16]; while (read(sigfd[0], b, sizeof b) > 0) {} }
        if (got_stop) break;
        if (got_hup) {
            got_hup = 0;
            if (CAPTURE_OUT_HUP() != 0) { status = 1; break; }
        }
        for (i = 1; i < np && status == 0; i++) {
            conn_t *c;
            if (pfd[i].revents == 0) continue;
            if (idx[i] < -1) { conn_accept(pfd[i].fd, lst[-2 - idx[i]].is_unix, now); continue; }
            c = &conns[idx[i]];
            if (c->fd >= 0 && conn_event(c, pfd[i].revents) != 0) status = 1;
        }
        if (status == 0 && file.used && now - last_flush_ms >= FLUSH_MS) {
            if (!file_failed && dnstap_file_flush(&file) != DNSTAP_OK) {
                logmsg(1, "%s: %s", path, strerror(errno));
                file_failed = 1;
                status = 1;
            }
            last_flush_ms = now;
        }
        if (status) break;
    }

    for (i = 0; i < CAPTURE_MAX_CONN; i++) if (conns[i].fd >= 0) conn_close(&conns[i], 0, "shutting down");
    for (i = 0; i < nl; i++) {
        close(lst[i].fd);
        if (lst[i].is_unix) unlink(lst[i].spec);
    }
    if (CAPTURE_OUT_END() != 0) status = 1;
    fprintf(stderr, CAPTURE_NAME ": %llu connections, %llu frames, %llu bytes, %lu file%s\n", total_conns, total_frames,
            total_bytes, nfiles, nfiles == 1 ? "" : "s");
    alarm(0);   /* the output is done: what follows (e.g. a leak check at exit) has no time limit */
    return status;
}
