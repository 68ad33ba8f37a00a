/* fuzz_conn.c - the writer's connection state machine (dnstap_init with a
   custom transport, dnstap_log*, dnstap_poll, dnstap_io, dnstap_shutdown).

   The input is a script read from both ends:
     front  configuration, then operations: poll (after moving the clock by
            a chosen step: small, large, backwards, huge jumps, wrap), log a
            message (valid or not, any queue, big or small), shutdown,
            dnstap_io, a burst of logs;
     back   the transport's results, one decision per call:
            connect  OK / AGAIN / an error (dnstap codes and others);
            write    take all / 1 byte / n bytes / AGAIN / 0 / an error /
                     an over-long count;
            read     AGAIN / EOF / an error / raw input bytes / a made-up
                     control frame (ACCEPT, START, STOP, READY, FINISH,
                     unknown types; content types: ours, another, empty,
                     256 and 257 bytes, a NUL inside, wrong field type,
                     bad field length; an oversized body) / a data frame /
                     the proper reply (ACCEPT after READY, FINISH after
                     STOP), each queued on the peer's side and served in
                     chosen chunk sizes.
   When the two ends meet the script is over: the tap is shut down (if it
   was not) and polled with a cooperative transport (connect OK, writes
   take everything, reads give the proper replies) and a clock moving
   forwards from the highest value seen.

   Configuration (front bytes 0..5):
     0  bit 0 unidirectional, bit 1 DROP policy, bit 2 full, bits 3-4
        queues - 1, bit 5 no read callback, bit 6 no connect callback,
        bit 7 per-message extra callback
     1  queue size per queue (a table of small sizes, one below the minimum)
     2  payload_max (default or small)
     3  timeouts and backoff (tables of small values and the defaults)
     4  seed of the backoff jitter (tap->rng, otherwise from the address)
     5  bit 0 fixed extra, bit 1 a long one, bit 2 a want() callback,
        bits 3-4 what it returns, bits 5-6 the flush policy (defaults, at
        once, 200 bytes or 1 ms, 1 MiB or 50 ms), bit 7 a writev() callback

   Invariants (abort on violation):
   - ASan/UBSan clean; the transport is called only from dnstap_poll()
     (rule 4), connect/write/read only on an opened connection, close()
     once per opened connection, write() never with len 0.
   - Contract rule 3: after AGAIN (or 0) the next write on that connection
     has the same buf and len.
   - The bytes each connection accepted, read with the library's reader in
     the writer-stream role (a copy of them): READY (exactly one, naming
     only protobuf:dnstap.Dnstap) then START, or START alone when
     unidirectional; nothing after READY before the peer delivered an
     ACCEPT naming our content type; data frames that decode, carry a
     logged message, in order per queue (no gap under KEEP), none twice;
     STOP only at the end (no write after it). A connection may end inside
     a frame or without STOP only when the dnstap_poll() that closed it
     returned an error; otherwise it ended with STOP.
   - Reads happen only while waiting for ACCEPT, between frames while
     running (the idle probe), or after STOP (FINISH) - never mid-frame.
   - After every dnstap_log()/dnstap_poll(): logged == sent + dropped +
     queued; sent == whole data frames accepted over all connections,
     sent_bytes their bytes; connects == connections that sent START.
   - dnstap_log() results: INVALID without counting for a bad queue or
     NULL message; otherwise exactly one counter moves, DISCONNECTED
     exactly after shutdown or under DROP while not running, MISSING/ENUM/
     TOO_LONG exactly as dnstap_encoded_size() and the queue size say.
   - With the cooperative transport, dnstap_closed() within 300 polls
     (100 ms apart); then nothing queued, no connection open, and further
     polls call no callback. */
#define DNSTAP_IMPLEMENTATION
#include "../dnstap.h"
#include "fuzz_common.h"

#include <limits.h>

/* ---- the script ---------------------------------------------------------- */
static const uint8_t *in_d;
static size_t in_lo, in_hi;
static int in_empty(void) { return in_lo >= in_hi; }
static uint8_t op_byte(void) { return in_lo < in_hi ? in_d[in_lo++] : 0; }
static uint8_t tr_byte(void) { return in_lo < in_hi ? in_d[--in_hi] : 0; }

/* ---- the model of the current connection ------------------------------- */
#define PEND_CAP 4096
#define RBUF_CAP 65536
typedef struct {
    int opened;                 /* connect() called (or implied) since the last close() */
    int up;                     /* connect() said OK */
    /* tap -> peer, as accepted */
    uint8_t *log;
    size_t log_len, log_cap;
    size_t frame_end;           /* offset where the last complete frame ended */
    dnstap_reader_t rd;
    int ready, start, stop;     /* complete frames seen */
    /* peer -> tap */
    dnstap_reader_t rr;         /* what the peer sent, as the tap's reader sees it */
    uint8_t rrbuf[DNSTAP_CONTROL_MAX];
    int rr_frames, rr_dead;
    int accept_ok;              /* the first frame delivered was an ACCEPT naming our type */
    int accept_queued, finish_queued;
    uint8_t pend[PEND_CAP];
    size_t pend_len, pend_off;
    /* rule 3 */
    int again;
    const uint8_t *again_buf;
    size_t again_len;
    int closed_now;             /* close() during the current poll */
    int closed_clean;           /* ... with the stream ended by STOP */
    int closed_mid_frame;
} conn_t;

typedef struct {
    uint32_t q;                 /* queue it was logged on */
    int ok;                     /* dnstap_log() said OK */
} issued_t;

static struct {
    int bidir, drop, full, queues, has_read, has_connect, has_extra_fn, has_want;
    int in_poll, coop;
    unsigned calls;             /* transport callbacks, all kinds */
    conn_t c;
    uint64_t whole, whole_bytes;   /* data frames accepted whole, all connections */
    uint64_t started;           /* connections whose START was accepted whole */
    int shutdown;
    issued_t *iss;
    size_t niss, iss_cap;
    uint32_t *okseq[DNSTAP_MAX_QUEUES];    /* seqs logged OK, per queue */
    size_t nok[DNSTAP_MAX_QUEUES], sent_idx[DNSTAP_MAX_QUEUES];
    int64_t last_seq[DNSTAP_MAX_QUEUES];
    dnstap_result_t last_connect_err;
    uint8_t extra_buf[300];
    size_t extra_ret;           /* what the extra callback returns next */
} M;

static uint8_t rbuf[RBUF_CAP];
static volatile uint64_t sink;

/* ---- helpers ----------------------------------------------------------- */
static void log_append(const uint8_t *p, size_t n) {
    conn_t *c = &M.c;
    if (c->log_len + n > c->log_cap) {
        size_t cap = c->log_cap ? c->log_cap : 256;
        while (cap < c->log_len + n) cap *= 2;
        c->log = (uint8_t *)realloc(c->log, cap);
        FUZZ_CHECK(c->log != NULL, "out of memory");
        c->log_cap = cap;
    }
    memcpy(c->log + c->log_len, p, n);
    c->log_len += n;
}

static void conn_begin(void) {
    conn_t *c = &M.c;
    uint8_t *keep = c->log;
    size_t keep_cap = c->log_cap;
    memset(c, 0, sizeof *c);
    c->log = keep;
    c->log_cap = keep_cap;
    c->opened = 1;
    FUZZ_CHECK(dnstap_reader_init(&c->rd, rbuf, sizeof rbuf) == DNSTAP_OK, "reader_init");
    c->rd.role = DNSTAP_READ_WRITER_STREAM;
    c->rd.payload_max = DNSTAP_PAYLOAD_MAX_LIMIT;
    FUZZ_CHECK(dnstap_reader_init(&c->rr, c->rrbuf, sizeof c->rrbuf) == DNSTAP_OK, "reader_init");
    c->rr.role = DNSTAP_READ_RECEIVER_REPLIES;
}

/* A data frame the tap sent whole. */
static void data_frame(const dnstap_frame_t *f) {
    dnstap_msg_t m;
    dnstap_result_t d = dnstap_decode(f->data, f->len, &m);
    uint32_t seq, q;
    FUZZ_CHECK(d == DNSTAP_OK, "sent data frame of %zu bytes does not decode: %s", f->len, dnstap_result_str(d));
    FUZZ_CHECK((m.has & DNSTAP_HAS_QUERY_TIME_NSEC) && (m.has & DNSTAP_HAS_QUERY_PORT),
               "sent data frame without our sequence number");
    seq = m.query_time_nsec;
    q = m.query_port;
    FUZZ_CHECK(seq < M.niss && M.iss[seq].ok && M.iss[seq].q == q,
               "sent frame seq %u queue %u was not logged OK there", seq, q);
    FUZZ_CHECK((int64_t)seq > M.last_seq[q], "queue %u: frame seq %u sent after seq %lld (repeat or reorder)", q, seq,
               (long long)M.last_seq[q]);
    if (!M.drop) {
        FUZZ_CHECK(M.sent_idx[q] < M.nok[q] && M.okseq[q][M.sent_idx[q]] == seq,
                   "queue %u, KEEP policy: frame seq %u sent, seq %u expected (a gap)", q, seq,
                   M.sent_idx[q] < M.nok[q] ? M.okseq[q][M.sent_idx[q]] : 0u);
    }
    while (M.sent_idx[q] < M.nok[q] && M.okseq[q][M.sent_idx[q]] <= seq) M.sent_idx[q]++;
    M.last_seq[q] = seq;
    M.whole++;
    M.whole_bytes += 4 + f->len;
}

/* Feed the newly accepted bytes [from, log_len) to the stream checker. */
static void check_stream(size_t from) {
    conn_t *c = &M.c;
    size_t pos = from;
    while (pos < c->log_len) {
        dnstap_frame_t f;
        size_t used = 0;
        dnstap_result_t r = dnstap_reader_feed(&c->rd, c->log + pos, c->log_len - pos, &used, &f);
        pos += used;
        if (r == DNSTAP_ERR_AGAIN) break;
        FUZZ_CHECK(r == DNSTAP_OK, "the tap's stream is not Frame Streams at offset %zu: %s", pos,
                   dnstap_result_str(r));
        c->frame_end = pos;
        if (f.kind == DNSTAP_FRAME_DATA) {
            FUZZ_CHECK(c->start && !c->stop, "data frame outside START..STOP");
            data_frame(&f);
            continue;
        }
        switch (f.control) {
        case DNSTAP_CONTROL_READY:
            FUZZ_CHECK(M.bidir, "READY on a unidirectional connection");
            FUZZ_CHECK(!c->ready && !c->start, "second READY");
            FUZZ_CHECK(f.content_types == 1 && dnstap_frame_has_content_type(&f, DNSTAP_CONTENT_TYPE),
                       "READY offers %zu content types, not just ours", f.content_types);
            c->ready = 1;
            break;
        case DNSTAP_CONTROL_START:
            FUZZ_CHECK(!M.bidir || c->ready, "START without READY on a bidirectional connection");
            FUZZ_CHECK(!M.bidir || c->accept_ok, "START before the peer delivered a valid ACCEPT");
            c->start = 1;
            M.started++;
            break;
        case DNSTAP_CONTROL_STOP:
            c->stop = 1;
            break;
        default:
            FUZZ_CHECK(0, "control frame %d from the tap", (int)f.control);
        }
    }
}

/* Bytes served to the tap: what its own reader will make of them. */
static void peer_served(const uint8_t *p, size_t n) {
    conn_t *c = &M.c;
    size_t pos = 0;
    while (pos < n && !c->rr_dead) {
        dnstap_frame_t f;
        size_t used = 0;
        dnstap_result_t r = dnstap_reader_feed(&c->rr, p + pos, n - pos, &used, &f);
        pos += used;
        if (r == DNSTAP_ERR_AGAIN) break;
        if (r != DNSTAP_OK) { c->rr_dead = 1; break; }
        if (c->rr_frames++ == 0)
            c->accept_ok = f.control == DNSTAP_CONTROL_ACCEPT && dnstap_frame_has_content_type(&f, DNSTAP_CONTENT_TYPE);
    }
}

static void pend_put(const void *p, size_t n) {
    conn_t *c = &M.c;
    if (c->pend_len + n > PEND_CAP) return;
    memcpy(c->pend + c->pend_len, p, n);
    c->pend_len += n;
}

static void pend_be32(uint32_t v) {
    uint8_t b[4];
    b[0] = (uint8_t)(v >> 24); b[1] = (uint8_t)(v >> 16); b[2] = (uint8_t)(v >> 8); b[3] = (uint8_t)v;
    pend_put(b, 4);
}

/* The reply a correct receiver owes now, queued once. */
static void pend_proper(void) {
    conn_t *c = &M.c;
    static const char *const ct[1] = { DNSTAP_CONTENT_TYPE };
    uint8_t b[64];
    size_t n = 0;
    if (M.bidir && c->ready && !c->accept_queued) {
        c->accept_queued = 1;
        if (dnstap_control_frame(b, sizeof b, DNSTAP_CONTROL_ACCEPT, ct, 1, &n) == DNSTAP_OK) pend_put(b, n);
    }
    if (M.bidir && c->stop && !c->finish_queued) {
        c->finish_queued = 1;
        if (dnstap_control_frame(b, sizeof b, DNSTAP_CONTROL_FINISH, NULL, 0, &n) == DNSTAP_OK) pend_put(b, n);
    }
}

/* A made-up control frame, good or bad, from the script. */
static void pend_control(void) {
    static const uint32_t types[8] = { 1, 1, 2, 3, 4, 5, 0, 6 };
    uint8_t body[1200];
    size_t bl = 0;
    uint8_t b = tr_byte();
    uint32_t type = types[b & 7], nf = (b >> 3) & 3, i, declared;
    if ((b & 7) == 7) type = tr_byte();
    memset(body, 0, sizeof body);
    for (i = 0; i < nf; i++) {
        uint8_t s = tr_byte();
        uint32_t ftype = 1, flen;
        const char *txt = NULL;
        size_t tl = 0, extra_len = 0;
        switch (s & 7) {
        case 0: txt = DNSTAP_CONTENT_TYPE; break;
        case 1: txt = "protobuf:other.Type"; break;
        case 2: txt = ""; break;
        case 3: tl = 256; break;
        case 4: tl = 257; break;
        case 5: txt = "protobuf:dnstap.Dnstap\0x"; tl = 24; break;
        case 6: txt = DNSTAP_CONTENT_TYPE; ftype = (uint32_t)(s >> 3); break;
        default: txt = DNSTAP_CONTENT_TYPE; extra_len = (size_t)(s >> 3) + 1; break;
        }
        if (txt && !tl) tl = strlen(txt);
        flen = (uint32_t)(tl + extra_len);
        if ((s & 7) == 7 && (s & 0x80)) flen = (uint32_t)tl - 1;
        body[bl++] = (uint8_t)(ftype >> 24); body[bl++] = (uint8_t)(ftype >> 16);
        body[bl++] = (uint8_t)(ftype >> 8); body[bl++] = (uint8_t)ftype;
        body[bl++] = (uint8_t)(flen >> 24); body[bl++] = (uint8_t)(flen >> 16);
        body[bl++] = (uint8_t)(flen >> 8); body[bl++] = (uint8_t)flen;
        if (txt) memcpy(body + bl, txt, tl);
        else memset(body + bl, 'x', tl);
        bl += tl;
    }
    declared = (uint32_t)(4 + bl);
    if (b & 0x20) declared = 513 + 4u * tr_byte();   /* oversized */
    if (b & 0x40) declared = (uint32_t)(declared > 0 ? declared - 1 - (tr_byte() & 3) : 0);
    pend_be32(0);
    pend_be32(declared);
    pend_be32(type);
    pend_put(body, bl);
}

static void pend_data(void) {
    uint8_t b[256];
    size_t n = (size_t)tr_byte() + 1, i;
    for (i = 0; i < n; i++) b[i] = (uint8_t)(i * 37 + 11);
    pend_be32((uint32_t)n);
    pend_put(b, n);
}

static const int errs[12] = { DNSTAP_ERR_IO, DNSTAP_ERR_CLOSED, DNSTAP_ERR_TIMEOUT, DNSTAP_ERR_CONNECT,
                              DNSTAP_ERR_TLS, DNSTAP_ERR_HANDSHAKE, DNSTAP_ERR_INVALID, DNSTAP_ERR_FULL,
                              DNSTAP__ERR_LOWEST - 1, -1000, INT_MIN, -(1 << 30) };

/* ---- the transport ------------------------------------------------------- */
static dnstap_result_t t_connect(void *ctx) {
    uint8_t b;
    (void)ctx;
    M.calls++;
    FUZZ_CHECK(M.in_poll, "connect() outside dnstap_poll()");
    FUZZ_CHECK(!M.c.up, "connect() on a connection already up");
    if (!M.c.opened) conn_begin();
    if (M.coop) b = 0;
    else b = tr_byte();
    switch (b & 3) {
    case 1: return DNSTAP_ERR_AGAIN;
    case 2: M.last_connect_err = (dnstap_result_t)errs[tr_byte() % 12]; return M.last_connect_err;
    default: M.c.up = 1; return DNSTAP_OK;
    }
}

/* No connect callback: the connection is up once the tap uses it. */
static void implied_connect(void) {
    if (!M.has_connect && !M.c.opened) { conn_begin(); M.c.up = 1; }
}

static int t_write(void *ctx, const uint8_t *buf, size_t len) {
    conn_t *c = &M.c;
    uint8_t b;
    size_t n;
    (void)ctx;
    M.calls++;
    FUZZ_CHECK(M.in_poll, "write() outside dnstap_poll()");
    implied_connect();
    FUZZ_CHECK(c->opened && c->up, "write() without a connection");
    FUZZ_CHECK(buf != NULL && len > 0, "write(%p, %zu)", (const void *)buf, len);
    sink = fz_hash(buf, len, sink);   /* every byte offered must be readable */
    FUZZ_CHECK(!c->again || (buf == c->again_buf && len == c->again_len),
               "contract rule 3: write(%p, %zu) after AGAIN on write(%p, %zu)", (const void *)buf, len,
               (const void *)c->again_buf, c->again_len);
    FUZZ_CHECK(!c->stop, "write() after STOP");
    c->again = 0;
    b = M.coop ? 4 : tr_byte();
    switch (b & 7) {
    case 0: case 1:
        c->again = 1;
        c->again_buf = buf;
        c->again_len = len;
        return (b & 7) ? 0 : DNSTAP_ERR_AGAIN;
    case 2: return errs[tr_byte() % 12];
    case 3: {   /* more than offered: the tap must treat it as an error */
        size_t over = len + 1 + tr_byte();
        return over > INT_MAX ? INT_MAX : (int)over;
    }
    case 4: n = len; break;
    case 5: n = 1; break;
    case 6: n = (size_t)tr_byte() + 1; break;
    default: n = (size_t)(b >> 3) + 1; break;
    }
    if (n > len) n = len;
    if (M.bidir && c->ready)
        FUZZ_CHECK(c->accept_ok, "bytes written after READY before the peer delivered a valid ACCEPT");
    {
        size_t from = c->log_len;
        log_append(buf, n);
        check_stream(from);
    }
    return (int)n;
}

/* writev(): the buffers joined, then as write(); rule 3 does not bind it */
static int t_writev(void *ctx, const dnstap_iovec_t *iov, int iovcnt) {
    static uint8_t flat[1 << 20];
    size_t total = 0;
    int i, n;
    FUZZ_CHECK(iovcnt >= 1 && iovcnt <= 2 * DNSTAP_MAX_QUEUES, "writev() with %d buffers", iovcnt);
    for (i = 0; i < iovcnt; i++) {
        FUZZ_CHECK(iov[i].base != NULL && iov[i].len > 0 && iov[i].len <= sizeof flat - total,
                   "writev() buffer %d: %zu bytes", i, iov[i].len);
        memcpy(flat + total, iov[i].base, iov[i].len);
        total += iov[i].len;
    }
    M.c.again = 0;
    n = t_write(ctx, flat, total);
    M.c.again = 0;
    return n;
}

static int t_read(void *ctx, uint8_t *buf, size_t len) {
    conn_t *c = &M.c;
    uint8_t b;
    size_t n, chunk = 0;
    (void)ctx;
    M.calls++;
    FUZZ_CHECK(M.in_poll, "read() outside dnstap_poll()");
    implied_connect();
    FUZZ_CHECK(c->opened && c->up, "read() without a connection");
    FUZZ_CHECK(buf != NULL && len > 0, "read(%p, %zu)", (const void *)buf, len);
    /* reads may come between the pieces of a frame: the receiver's side is
       watched while data flows, so a FINISH or EOF is seen mid-frame too */
    FUZZ_CHECK((M.bidir && c->ready && !c->start) || (c->start && !c->stop) || (M.bidir && c->stop),
               "read() at an unexpected point (ready %d start %d stop %d)", c->ready, c->start, c->stop);
    b = M.coop ? 6 : tr_byte();
    switch (b & 7) {
    case 0: return DNSTAP_ERR_AGAIN;
    case 1: return 0;
    case 2: return errs[tr_byte() % 12];
    case 3: {   /* raw bytes straight from the script */
        size_t want = tr_byte(), i;
        if (want > len) want = len;
        for (i = 0; i < want && !in_empty(); i++) buf[i] = tr_byte();
        if (i == 0) return DNSTAP_ERR_AGAIN;
        peer_served(buf, i);
        return (int)i;
    }
    case 4: pend_control(); break;
    case 5: pend_data(); break;
    case 6: pend_proper(); break;
    default: chunk = (size_t)(b >> 3); break;
    }
    n = c->pend_len - c->pend_off;
    if (n == 0) return DNSTAP_ERR_AGAIN;
    if (chunk && n > chunk) n = chunk;
    if (n > len) n = len;
    memcpy(buf, c->pend + c->pend_off, n);
    c->pend_off += n;
    if (c->pend_off == c->pend_len) c->pend_off = c->pend_len = 0;
    peer_served(buf, n);
    return (int)n;
}

static void t_close(void *ctx) {
    conn_t *c = &M.c;
    dnstap_result_t e;
    (void)ctx;
    M.calls++;
    FUZZ_CHECK(M.in_poll, "close() outside dnstap_poll()");
    implied_connect();   /* a connection that never wrote: nothing to check */
    FUZZ_CHECK(c->opened, "close() without connect()");
    e = dnstap_reader_end(&c->rd);
    c->closed_now = 1;
    c->closed_clean = c->stop && e == DNSTAP_OK;
    c->closed_mid_frame = c->log_len != c->frame_end;
    if (c->stop) FUZZ_CHECK(e == DNSTAP_OK, "stream with STOP does not end cleanly: %s", dnstap_result_str(e));
    c->opened = c->up = 0;
    c->again = 0;
}

static int t_fd(void *ctx) { (void)ctx; return 7; }

static int want_value;
static int t_want(void *ctx) {
    (void)ctx;
    FUZZ_CHECK(!M.in_poll, "want() from dnstap_poll()");
    return want_value;
}

static size_t extra_cb(void *ctx, const dnstap_msg_t *msg, uint8_t *buf, size_t cap) {
    size_t n = M.extra_ret;
    (void)ctx;
    (void)msg;
    FUZZ_CHECK(!M.in_poll, "extra callback from dnstap_poll()");
    if (n != (size_t)-1 && n <= cap) memcpy(buf, M.extra_buf, n);
    return n;
}

static void logger_cb(void *ctx, dnstap_log_level_t level, const char *message) {
    (void)ctx;
    FUZZ_CHECK(M.in_poll, "logger called outside dnstap_poll()");
    FUZZ_CHECK(level >= DNSTAP_LOG_ERROR && level <= DNSTAP_LOG_INFO, "log level %d", (int)level);
    FUZZ_CHECK(message != NULL && strlen(message) < 320, "log line");
}

/* ---- checks after each call ------------------------------------------- */
static void check_stats(const dnstap_t *tap, const char *after) {
    dnstap_stats_t s = dnstap_stats(tap);
    uint64_t dropped = s.dropped_full + s.dropped_too_big + s.dropped_invalid + s.dropped_disconnected +
                       s.dropped_write_error;
    FUZZ_CHECK(s.logged == s.sent + dropped + s.queued,
               "after %s: logged %llu != sent %llu + dropped %llu + queued %llu", after,
               (unsigned long long)s.logged, (unsigned long long)s.sent, (unsigned long long)dropped,
               (unsigned long long)s.queued);
    FUZZ_CHECK(s.sent == M.whole, "after %s: sent %llu, but %llu whole data frames were accepted", after,
               (unsigned long long)s.sent, (unsigned long long)M.whole);
    FUZZ_CHECK(s.sent_bytes == M.whole_bytes, "after %s: sent_bytes %llu, accepted %llu", after,
               (unsigned long long)s.sent_bytes, (unsigned long long)M.whole_bytes);
    FUZZ_CHECK(s.connects == M.started, "after %s: connects %llu, %llu connections sent START", after,
               (unsigned long long)s.connects, (unsigned long long)M.started);
}

static uint64_t clock_now, clock_max;
static int dbg;   /* FZ_DEBUG=1: trace polls on stderr */

static dnstap_result_t do_poll(dnstap_t *tap) {
    dnstap_result_t r;
    int was_closed = dnstap_closed(tap);
    unsigned calls = M.calls;   /* want() and fd() are not counted: dnstap_io() may call them */
    M.c.closed_now = 0;
    M.in_poll = 1;
    r = dnstap_poll(tap, clock_now);
    M.in_poll = 0;
    if (dbg) {
        dnstap_stats_t s = dnstap_stats(tap);
        fprintf(stderr, "poll @%llu: %s state %d%s; logged %llu sent %llu queued %llu connects %llu reconnects %llu%s\n",
                (unsigned long long)clock_now, dnstap_result_str(r), tap->state, M.coop ? " (coop)" : "",
                (unsigned long long)s.logged, (unsigned long long)s.sent, (unsigned long long)s.queued,
                (unsigned long long)s.connects, (unsigned long long)s.reconnects, M.c.closed_now ? "; closed" : "");
    }
    FUZZ_CHECK((r <= DNSTAP_OK && r >= DNSTAP__ERR_LOWEST) || r == M.last_connect_err, "dnstap_poll returned %d", (int)r);
    if (M.c.closed_now) {
        if (r == DNSTAP_OK)
            FUZZ_CHECK(M.c.closed_clean, "connection closed without error but %s",
                       M.c.closed_mid_frame ? "inside a frame" : "without STOP");
    }
    if (was_closed) FUZZ_CHECK(M.calls == calls, "transport called after dnstap_closed()");
    if (dnstap_closed(tap)) {
        FUZZ_CHECK(!M.c.opened, "dnstap_closed() with the connection open");
        FUZZ_CHECK(dnstap_stats(tap).queued == 0, "dnstap_closed() with frames queued");
    }
    check_stats(tap, "dnstap_poll");
    return r;
}

static void step_clock(uint8_t c) {
    if (c < 100) clock_now += c;
    else if (c < 160) clock_now += (uint64_t)(c - 100) * 50;
    else if (c < 200) clock_now += (uint64_t)(c - 160) * 1000;
    else if (c < 220) { uint64_t x = (uint64_t)(c - 199) * 100; clock_now -= clock_now < x ? clock_now : x; }
    else if (c < 230) clock_now += 1ull << (30 + (c - 220) * 3);
    else if (c < 240) clock_now = UINT64_MAX - (uint64_t)(c - 230) * 1000;
    else if (c < 250) clock_now = (uint64_t)(c - 240);
    else clock_now -= 1ull << 40;   /* wraps when small */
    if (clock_now > clock_max) clock_max = clock_now;
}

static const uint8_t pattern[1024] = { 0x4e, 0x21, 0x01, 0x00, 0x00, 0x01 };
static const uint8_t addr4[4] = { 192, 0, 2, 1 };

static void issue(uint32_t q, int ok) {
    if (M.niss == M.iss_cap) {
        M.iss_cap = M.iss_cap ? 2 * M.iss_cap : 64;
        M.iss = (issued_t *)realloc(M.iss, M.iss_cap * sizeof *M.iss);
        FUZZ_CHECK(M.iss != NULL, "out of memory");
    }
    M.iss[M.niss].q = q;
    M.iss[M.niss].ok = ok;
    M.niss++;
}

static size_t okcap[DNSTAP_MAX_QUEUES];

static void do_log(dnstap_t *tap, uint8_t b0, uint8_t b1, uint8_t b2, uint8_t b3) {
    dnstap_msg_t m, adj;
    dnstap_stats_t before, after;
    dnstap_result_t r, want_meas;
    unsigned q;
    uint32_t seq = (uint32_t)M.niss;
    size_t payload = 0;
    int null_msg = b0 == 0xfe, accepting, was_empty;

    q = b0 == 0xff ? (unsigned)M.queues + (b3 & 1) * 100 : (unsigned)(b0 % M.queues);
    memset(&m, 0, sizeof m);
    switch (b1 & 15) {
    case 0: m.type = (dnstap_message_type_t)0; break;
    case 15: m.type = (dnstap_message_type_t)(15 + (b1 >> 4)); break;
    default: m.type = (dnstap_message_type_t)(b1 & 15); break;
    }
    m.socket_family = (dnstap_socket_family_t)((b1 >> 4) & 3);
    if ((b1 >> 6) == 3) m.socket_protocol = (dnstap_socket_protocol_t)(b3 & 0x80 ? 8 : 2);
    else m.socket_protocol = (dnstap_socket_protocol_t)(b1 >> 6);
    m.query_address.data = addr4;
    m.query_address.len = 4;
    m.query_port = q;
    m.has = DNSTAP_HAS_QUERY_PORT | DNSTAP_HAS_QUERY_TIME_NSEC;
    m.query_time_nsec = seq;
    m.query_message.data = pattern;
    m.query_message.len = (b3 & 0x40) ? (size_t)b2 * 4 : b2;
    if (b3 & 0x02) { m.response_message.data = pattern; m.response_message.len = b2 / 2; }
    if (b3 & 0x04) { m.policy.type = dnstap_str("rpz"); m.policy.action = (dnstap_policy_action_t)((b3 >> 3) & 7); }
    if (b3 & 0x20) m.extra = dnstap_str("own extra");
    M.extra_ret = (b2 & 3) == 3 ? (size_t)-1 : (b2 & 3) == 2 ? 300 : (size_t)(b2 >> 2);

    /* what the tap will encode */
    adj = m;
    if (!M.full) adj.query_message.data = adj.response_message.data = NULL;
    if (M.has_extra_fn && !m.extra.data && M.extra_ret <= DNSTAP_EXTRA_MAX) {
        adj.extra.data = M.extra_buf;
        adj.extra.len = M.extra_ret;
    }
    want_meas = dnstap_encoded_size(&tap->enc, &adj, &payload);
    accepting = M.c.up && M.c.start && !M.c.stop;

    before = dnstap_stats(tap);
    was_empty = q < DNSTAP_MAX_QUEUES && tap->q[q].head == tap->q[q].tail;
    if (null_msg) r = dnstap_log_queue(tap, q, NULL);
    else if (q == 0 && (b3 & 8)) r = dnstap_log(tap, &m);
    else r = dnstap_log_queue(tap, q, &m);
    after = dnstap_stats(tap);
    issue(q, r == DNSTAP_OK);

    if (null_msg || q >= (unsigned)M.queues) {
        FUZZ_CHECK(r == DNSTAP_ERR_INVALID, "log on queue %u (of %d) / NULL message: %d", q, M.queues, (int)r);
        FUZZ_CHECK(after.logged == before.logged, "refused call counted as logged");
        check_stats(tap, "dnstap_log");
        return;
    }
    FUZZ_CHECK(after.logged == before.logged + 1, "dnstap_log not counted");
    if (M.shutdown || (M.drop && !accepting)) {
        FUZZ_CHECK(r == DNSTAP_ERR_DISCONNECTED, "log %s: %s, DISCONNECTED expected",
                   M.shutdown ? "after shutdown" : "under DROP while not running", dnstap_result_str(r));
        FUZZ_CHECK(after.dropped_disconnected == before.dropped_disconnected + 1, "DISCONNECTED not counted");
    } else if (want_meas != DNSTAP_OK) {
        FUZZ_CHECK(r == want_meas, "log: %s, dnstap_encoded_size said %s", dnstap_result_str(r),
                   dnstap_result_str(want_meas));
        if (r == DNSTAP_ERR_TOO_LONG)
            FUZZ_CHECK(after.dropped_too_big == before.dropped_too_big + 1, "TOO_LONG not counted");
        else
            FUZZ_CHECK(after.dropped_invalid == before.dropped_invalid + 1, "%s not counted", dnstap_result_str(r));
    } else if (4 + payload > tap->q[q].cap) {
        FUZZ_CHECK(r == DNSTAP_ERR_TOO_LONG, "log of a %zu-byte frame on a %u-byte queue: %s", 4 + payload,
                   tap->q[q].cap, dnstap_result_str(r));
        FUZZ_CHECK(after.dropped_too_big == before.dropped_too_big + 1, "TOO_LONG not counted");
    } else if (r == DNSTAP_OK) {
        FUZZ_CHECK(after.queued == before.queued + 1 && after.queued_bytes == before.queued_bytes + 4 + payload,
                   "logged frame not queued as %zu bytes", 4 + payload);
        if (M.nok[q] == okcap[q]) {
            okcap[q] = okcap[q] ? 2 * okcap[q] : 64;
            M.okseq[q] = (uint32_t *)realloc(M.okseq[q], okcap[q] * sizeof(uint32_t));
            FUZZ_CHECK(M.okseq[q] != NULL, "out of memory");
        }
        M.okseq[q][M.nok[q]++] = seq;
    } else {
        FUZZ_CHECK(r == DNSTAP_ERR_FULL, "log: %s for a valid message that fits", dnstap_result_str(r));
        FUZZ_CHECK(!was_empty, "an empty %u-byte queue refused a %zu-byte frame", tap->q[q].cap, 4 + payload);
        FUZZ_CHECK(after.dropped_full == before.dropped_full + 1, "FULL not counted");
    }
    check_stats(tap, "dnstap_log");
}

static void check_io(const dnstap_t *tap) {
    dnstap_io_t io = dnstap_io(tap, clock_now);
    if (dnstap_closed(tap)) {
        FUZZ_CHECK(io.fd == -1 && !io.want_read && !io.want_write, "dnstap_io on a closed tap");
    } else {
        FUZZ_CHECK(io.fd == (tap->open ? 7 : -1), "dnstap_io fd %d", io.fd);
        if (tap->state == DNSTAP__S_CONNECTING && M.has_want)
            FUZZ_CHECK(io.want_read == ((want_value & DNSTAP_WANT_READ) != 0) &&
                       io.want_write == ((want_value & DNSTAP_WANT_WRITE) != 0), "dnstap_io ignores want()");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const size_t qsizes[8] = { 127, 128, 160, 256, 400, 700, 1500, 4096 };
    static const uint32_t pmax[8] = { 0, 0, 0, 40, 64, 100, 200, 1000 };
    static const uint32_t touts[4] = { 0, 1, 50, 700 };
    static const uint32_t backoffs[4] = { 0, 1, 30, 5000 };
    dnstap_desc_t d;
    dnstap_t *tap;
    void *qmem;
    size_t qsize;
    uint8_t c0, c1, c2, c3, c4, c5;
    dnstap_result_t r;
    int i, shutdown_polls;

    memset(&M, 0, sizeof M);
    dbg = getenv("FZ_DEBUG") != NULL;
    memset(okcap, 0, sizeof okcap);
    for (i = 0; i < DNSTAP_MAX_QUEUES; i++) M.last_seq[i] = -1;
    M.last_connect_err = DNSTAP_OK;
    memset(M.extra_buf, 'e', sizeof M.extra_buf);
    in_d = data;
    in_lo = 0;
    in_hi = size;
    clock_now = clock_max = 1000;

    c0 = op_byte(); c1 = op_byte(); c2 = op_byte(); c3 = op_byte(); c4 = op_byte(); c5 = op_byte();
    M.bidir = !(c0 & 1);
    M.drop = (c0 >> 1) & 1;
    M.full = (c0 >> 2) & 1;
    M.queues = ((c0 >> 3) & 3) + 1;
    M.has_read = !((c0 >> 5) & 1);
    M.has_connect = !((c0 >> 6) & 1);
    M.has_extra_fn = (c0 >> 7) & 1;

    qsize = qsizes[c1 & 7] * (size_t)M.queues;
    qmem = malloc(qsize);
    tap = (dnstap_t *)malloc(sizeof *tap);
    FUZZ_CHECK(qmem && tap, "out of memory");
    memset(&d, 0, sizeof d);
    d.queue = qmem;
    d.queue_size = qsize;
    d.queues = (unsigned)M.queues;
    d.full = M.full != 0;
    d.identity = dnstap_str("fz");
    d.payload_max = pmax[c2 & 7];
    d.while_disconnected = M.drop ? DNSTAP_DROP_WHILE_DISCONNECTED : DNSTAP_KEEP_WHILE_DISCONNECTED;
    d.unidirectional = !M.bidir;
    d.connect_timeout_ms = touts[c3 & 3];
    d.handshake_timeout_ms = touts[(c3 >> 2) & 3];
    d.write_timeout_ms = touts[(c3 >> 4) & 3];
    d.finish_timeout_ms = touts[(c3 >> 6) & 3];
    d.backoff_min_ms = backoffs[c2 >> 6];
    d.backoff_max_ms = backoffs[(c2 >> 4) & 3];
    d.drop_report_ms = (c2 & 8) ? 1 : 0;
    if (c5 & 1) d.extra = dnstap_str("fixed extra");
    if (c5 & 2) { d.extra.data = pattern; d.extra.len = 400; }   /* too long for a small payload_max */
    if (M.has_extra_fn) d.extra_fn = extra_cb;
    d.logger.func = logger_cb;
    d.transport.connect = M.has_connect ? t_connect : NULL;
    d.transport.write = t_write;
    d.transport.read = M.has_read ? t_read : NULL;
    d.transport.close = t_close;
    d.transport.fd = t_fd;
    M.has_want = (c5 >> 2) & 1;
    d.transport.want = M.has_want ? t_want : NULL;
    want_value = (c5 >> 3) & 3;
    switch ((c5 >> 5) & 3) {
    case 1: d.flush_bytes = DNSTAP_FLUSH_AT_ONCE; break;
    case 2: d.flush_bytes = 200; d.flush_ms = 1; break;
    case 3: d.flush_bytes = 1u << 20; d.flush_ms = 50; break;
    default: break;
    }
    if (c5 & 0x80) d.transport.writev = t_writev;

    r = dnstap_init(tap, &d);
    /* each queue needs 128 bytes, and DNSTAP_EXTRA_MAX more for extra_fn's output */
    if (qsize / (size_t)M.queues < 128u + (d.extra_fn ? DNSTAP_EXTRA_MAX : 0u)) {
        FUZZ_CHECK(r == DNSTAP_ERR_INVALID, "dnstap_init with %zu-byte queues: %d", qsize / (size_t)M.queues, (int)r);
        goto done;
    }
    if (r != DNSTAP_OK) {
        /* only the encoder can refuse: the prefix does not fit payload_max */
        dnstap_encoder_t e;
        dnstap_encoder_desc_t ed;
        memset(&ed, 0, sizeof ed);
        ed.identity = d.identity;
        ed.version = dnstap_str("dnstap.h " DNSTAP_VERSION_STRING);
        ed.extra = d.extra;
        ed.payload_max = d.payload_max;
        FUZZ_CHECK(dnstap_encoder_init(&e, &ed) == r, "dnstap_init: %s, the encoder agrees not",
                   dnstap_result_str(r));
        goto done;
    }
    tap->rng = (uint32_t)c4 * 2654435761u;   /* jitter independent of the address */
    check_stats(tap, "dnstap_init");

    while (!in_empty()) {
        uint8_t op = op_byte();
        switch (op & 7) {
        case 0: case 1: case 2:
            step_clock(op_byte());
            (void)do_poll(tap);
            break;
        case 3: case 4: {
            uint8_t b0 = op_byte(), b1 = op_byte(), b2 = op_byte(), b3 = op_byte();
            do_log(tap, b0, b1, b2, b3);
            break;
        }
        case 5:
            if ((op & 0x80) && !M.shutdown) {
                M.shutdown = 1;
                dnstap_shutdown(tap, clock_now);
            } else {
                check_io(tap);
            }
            break;
        case 6: {
            int k = 2 + (op >> 3) % 8;
            uint8_t b1 = op_byte(), b2 = op_byte();
            for (i = 0; i < k; i++) do_log(tap, (uint8_t)i, b1, (uint8_t)(b2 + i), 0);
            break;
        }
        default:
            check_io(tap);
            break;
        }
    }

    /* the end: shut down, cooperative transport, a forward clock */
    M.coop = 1;
    clock_now = clock_max;
    if (!M.shutdown) {
        M.shutdown = 1;
        dnstap_shutdown(tap, clock_now);
    }
    for (shutdown_polls = 0; shutdown_polls < 300 && !dnstap_closed(tap); shutdown_polls++) {
        clock_now = clock_now > UINT64_MAX - 100 ? UINT64_MAX : clock_now + 100;
        (void)do_poll(tap);
    }
    FUZZ_CHECK(dnstap_closed(tap), "not closed after %d polls with a cooperative transport", shutdown_polls);
    (void)do_poll(tap);
    check_io(tap);
    do_log(tap, 0, 5, 10, 0);

done:
    free(tap);
    free(qmem);
    free(M.c.log);
    free(M.iss);
    for (i = 0; i < DNSTAP_MAX_QUEUES; i++) free(M.okseq[i]);
    return 0;
}
