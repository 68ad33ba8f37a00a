/* fuzz_capture.c - the receiver side of examples/capture.c: its per-connection
   input handler (conn_input: handshake, reader, decode, file append), reply
   sending (conn_flush) and closing logic (conn_event), fed by producers that
   send anything.

   examples/capture.c is included with -DCAPTURE_FUZZ: its transport hooks
   (conn_recv, conn_send, conn_pending, conn_accepted, conn_close) are the
   ones below, and the harness calls conn_new() and conn_event() where its
   poll() loop would. The output file goes to a memory sink through
   dnstap_file_t (no rotation: -w -). CAPTURE_FRAME_MAX is 1024 here (as
   -DCAPTURE_FRAME_MAX=1024 would give) so that oversized frames and full
   file buffers are reached with small inputs.

   Input: operations from the front, the results of send() and of the file
   sink from the back (when the two meet: everything succeeds).
     configuration (1 byte): file sink mode (whole writes, partial writes,
       failure after some bytes), send() behaviour bias
     operations: accept a connection; queue on connection k: READY (0..3
       content types: ours, another, empty, with a NUL, a longer name,
       256/257 bytes, a wrong field type), START (variants), a valid
       Dnstap data frame (sizes around the 1024 limit), an invalid one
       (garbage, unknown enum, missing type), STOP (with or without a
       field), ACCEPT/FINISH/unknown/oversized control frames, raw bytes;
       deliver queued bytes in chosen chunk sizes (one to three recv()
       results per event: the later ones through conn_pending(), as with
       TLS), EOF, recv() errors (ECONNRESET, EAGAIN, EINTR); POLLOUT and
       POLLHUP events; move the clock (handshake deadline, as main() checks
       it); flush the file.
   At the end: every open connection gets the rest of its bytes with a
   cooperative send(), then the capture shuts down as main() does
   (conn_close "shutting down", file_end()).

   Invariants (abort on violation):
   - ASan/UBSan clean; conn_close() only on open connections, never with
     "internal error"; conn_send() always sends from the connection's out
     buffer.
   - An oracle per connection reads the bytes capture received with the
     library's reader (writer-stream role, same limit) and applies the
     Frame Streams receiver rules. What capture sends is a sequence of
     exact control frames, each justified when sent: ACCEPT naming
     protobuf:dnstap.Dnstap only for a READY that offered it, an empty
     ACCEPT only for a READY that did not (and nothing after it), FINISH
     only after STOP on a bidirectional connection, nothing after FINISH.
   - A connection closed as "finished" saw STOP and (bidirectional) sent
     its FINISH whole; "refused" saw a READY without our type and sent the
     empty ACCEPT whole; a reader or decode error, or a reply that does not
     fit in the 64-byte out buffer (a peer that sends READY again and again
     without reading), closes it at once.
   - capture's per-connection state (bidir, started, frames, bad) matches
     the oracle after every event.
   - The output file, read with the library's reader: START naming our
     type, the data frames capture accepted (each one byte-identical to
     a frame the oracle decoded, per connection in order, exactly the
     oracle's frames), STOP; total_bytes equals its size. When the sink
     failed, a valid prefix of that. */
#define CAPTURE_FUZZ
#ifndef CAPTURE_FRAME_MAX
#define CAPTURE_FRAME_MAX 1024
#endif
#ifndef CAPTURE_MAX_CONN
#define CAPTURE_MAX_CONN 3
#endif
#include "../examples/capture.c"
#include "fuzz_common.h"

/* ---- the script -------------------------------------------------------- */
static const uint8_t *in_d;
static size_t in_lo, in_hi;
static int in_empty(void) { return in_lo >= in_hi; }
static uint8_t op_byte(void) { return in_lo < in_hi ? in_d[in_lo++] : 0; }
static uint8_t tr_byte(void) { return in_lo < in_hi ? in_d[--in_hi] : 0; }

/* ---- replies capture may send (exact bytes) ------------------------------ */
enum { R_ACCEPT_CT, R_ACCEPT_EMPTY, R_FINISH, R_N };
static uint8_t rtok[R_N][64];
static size_t rtok_len[R_N];

/* ---- one producer connection ----------------------------------------- */
#define PBUF_CAP 16384
#define NPREP 3
enum { ST_RUNNING = 0, ST_STOP, ST_REFUSED, ST_BROKEN };
typedef struct {
    int used;                  /* a connection lives in this slot */
    int closed;
    const char *why;           /* conn_close() reason */
    /* bytes the producer has queued, not yet received by capture */
    uint8_t pbuf[PBUF_CAP];
    size_t plen, poff;
    /* recv() results for the event being delivered: >0 chunk size, 0 all,
       -1 EOF, -2.. errors */
    int prep[NPREP];
    int nprep, iprep;
    /* the oracle */
    dnstap_reader_t rd;
    uint8_t rbuf[CAPTURE_FRAME_MAX];
    int state, bidir, started, readys_ct, readys_noct;
    unsigned long long frames, bad;
    uint8_t *fr;               /* frames for the file: (4-byte length + payload)... */
    size_t fr_len, fr_cap, fr_moved;   /* fr_moved: bytes of fr capture has appended */
    unsigned long long nfr, appended;
    /* replies */
    uint8_t rep[4096];
    size_t rep_len, rep_done;  /* rep_done: bytes parsed into whole tokens */
    int sent[R_N];
} pc_t;

static pc_t P[CAPTURE_MAX_CONN];
static int coop;   /* file_failed: capture.c's, set here too when the sink fails */
static int dbg;                /* FZ_DEBUG=1: trace events and closes on stderr */
static uint64_t now_ms;

/* output file sink */
static uint8_t *out;
static size_t out_len, out_cap;
static int sink_mode;
static size_t sink_fail_at;
/* the frames capture appended, in order, as the oracles saw them */
static uint8_t *expf;
static size_t expf_len, expf_cap, nexp;

static pc_t *pc_of(const conn_t *c) {
    ptrdiff_t i = c - conns;
    FUZZ_CHECK(i >= 0 && i < CAPTURE_MAX_CONN, "connection outside conns[]");
    return &P[i];
}

static void grow(uint8_t **p, size_t *cap, size_t need) {
    if (need <= *cap) return;
    if (*cap == 0) *cap = 1024;
    while (*cap < need) *cap *= 2;
    *p = (uint8_t *)realloc(*p, *cap);
    FUZZ_CHECK(*p != NULL, "out of memory");
}

/* ---- the oracle ---------------------------------------------------------- */
/* The frames of n received bytes, as a receiver must take them. out is
   what capture still has to send: a reply that does not fit in its out
   buffer closes the connection (a reply is never dropped). */
static void oracle_frames(pc_t *p, const uint8_t *b, size_t n, size_t out, size_t out_cap) {
    size_t pos = 0;
    while (pos < n && p->state == ST_RUNNING) {
        dnstap_frame_t f;
        size_t used = 0;
        dnstap_result_t r = dnstap_reader_feed(&p->rd, b + pos, n - pos, &used, &f);
        pos += used;
        if (r == DNSTAP_ERR_AGAIN) break;
        if (r != DNSTAP_OK) { p->state = ST_BROKEN; break; }
        if (f.kind == DNSTAP_FRAME_DATA) {
            dnstap_msg_t m;
            dnstap_result_t d = dnstap_decode(f.data, f.len, &m);
            if (d == DNSTAP_ERR_DECODE) { p->state = ST_BROKEN; break; }
            if (d != DNSTAP_OK) { p->bad++; continue; }
            p->frames++;
            grow(&p->fr, &p->fr_cap, p->fr_len + 4 + f.len);
            p->fr[p->fr_len] = (uint8_t)(f.len >> 24);
            p->fr[p->fr_len + 1] = (uint8_t)(f.len >> 16);
            p->fr[p->fr_len + 2] = (uint8_t)(f.len >> 8);
            p->fr[p->fr_len + 3] = (uint8_t)f.len;
            memcpy(p->fr + p->fr_len + 4, f.data, f.len);
            p->fr_len += 4 + f.len;
            p->nfr++;
        } else if (f.control == DNSTAP_CONTROL_READY) {
            int offered = dnstap_frame_has_content_type(&f, DNSTAP_CONTENT_TYPE);
            size_t need = rtok_len[offered ? R_ACCEPT_CT : R_ACCEPT_EMPTY];
            p->bidir = 1;
            if (out + need > out_cap) { p->state = ST_BROKEN; break; }
            out += need;
            if (offered) p->readys_ct++;
            else { p->readys_noct++; p->state = ST_REFUSED; }
        } else if (f.control == DNSTAP_CONTROL_START) {
            p->started = 1;
        } else if (f.control == DNSTAP_CONTROL_STOP) {
            if (p->bidir && out + rtok_len[R_FINISH] > out_cap) { p->state = ST_BROKEN; break; }
            p->state = ST_STOP;
        }
    }
}

/* ---- transport hooks for capture.c ------------------------------------- */
static int conn_accepted(conn_t *c) { (void)c; return 0; }

static ssize_t conn_recv(conn_t *c, uint8_t *b, size_t n) {
    pc_t *p = pc_of(c);
    int k;
    size_t avail, take;
    FUZZ_CHECK(c->fd >= 0 && p->used && !p->closed, "recv on a closed connection");
    FUZZ_CHECK(b == rx + 4 && n == sizeof rx - 4, "recv into an unexpected buffer");
    if (p->iprep >= p->nprep) { errno = EAGAIN; return -1; }
    k = p->prep[p->iprep++];
    if (k == -1) return 0;
    if (k == -2) { errno = ECONNRESET; return -1; }
    if (k == -3) { errno = EAGAIN; return -1; }
    if (k == -4) { errno = EINTR; return -1; }
    avail = p->plen - p->poff;
    take = k == 0 ? avail : (size_t)k;
    if (take > avail) take = avail;
    if (take > n) take = n;
    if (take == 0) { errno = EAGAIN; return -1; }
    memcpy(b, p->pbuf + p->poff, take);
    p->poff += take;
    if (p->poff == p->plen) p->poff = p->plen = 0;
    oracle_frames(p, b, take, c->out_len, sizeof c->out);
    return (ssize_t)take;
}

/* More "decrypted" input waiting: the next prepared recv() result. */
static int conn_pending(conn_t *c) {
    pc_t *p = pc_of(c);
    return p->iprep < p->nprep;
}

static void check_replies(pc_t *p) {
    for (;;) {
        size_t left = p->rep_len - p->rep_done;
        int t, match = -1, prefix = 0;
        for (t = 0; t < R_N; t++) {
            size_t m = left < rtok_len[t] ? left : rtok_len[t];
            if (memcmp(p->rep + p->rep_done, rtok[t], m) != 0) continue;
            if (left >= rtok_len[t]) { match = t; break; }
            prefix = 1;
        }
        if (match < 0) {
            FUZZ_CHECK(left == 0 || prefix, "capture sent bytes that are not ACCEPT or FINISH (offset %zu)",
                       p->rep_done);
            return;
        }
        FUZZ_CHECK(p->sent[R_FINISH] == 0, "reply after FINISH");
        FUZZ_CHECK(p->sent[R_ACCEPT_EMPTY] == 0, "reply after an ACCEPT without content type");
        switch (match) {
        case R_ACCEPT_CT:
            FUZZ_CHECK(p->sent[R_ACCEPT_CT] < p->readys_ct,
                       "ACCEPT naming protobuf:dnstap.Dnstap without a READY offering it (%d sent, %d READY)",
                       p->sent[R_ACCEPT_CT] + 1, p->readys_ct);
            break;
        case R_ACCEPT_EMPTY:
            FUZZ_CHECK(p->readys_noct > 0, "empty ACCEPT without a READY lacking our type");
            break;
        default:
            FUZZ_CHECK(p->state == ST_STOP && p->bidir, "FINISH before STOP or without READY");
            break;
        }
        p->sent[match]++;
        p->rep_done += rtok_len[match];
    }
}

static ssize_t conn_send(conn_t *c, const uint8_t *b, size_t n) {
    pc_t *p = pc_of(c);
    size_t k = n;
    uint8_t m;
    FUZZ_CHECK(c->fd >= 0 && p->used && !p->closed, "send on a closed connection");
    FUZZ_CHECK(b == c->out && n == c->out_len && n > 0 && n <= sizeof c->out, "send(%zu) not from out", n);
    m = coop ? 0 : tr_byte();
    switch (m & 7) {
    case 1: k = 1 + (size_t)(m >> 3) % n; break;
    case 2: errno = EAGAIN; return -1;
    case 3: errno = EPIPE; return -1;
    case 4: return 0;
    case 5: errno = EINTR; return -1;
    default: break;
    }
    FUZZ_CHECK(p->rep_len + k <= sizeof p->rep, "more than %zu reply bytes", sizeof p->rep);
    memcpy(p->rep + p->rep_len, b, k);
    p->rep_len += k;
    check_replies(p);
    return (ssize_t)k;
}

static void conn_close(conn_t *c, int err, const char *why) {
    pc_t *p = pc_of(c);
    (void)err;
    FUZZ_CHECK(c->fd >= 0 && p->used && !p->closed, "conn_close on a closed connection (%s)", why);
    if (dbg)
        fprintf(stderr, "close %d: %s state %d bidir %d readys %d/%d sent %d/%d/%d rep %zu/%zu out_len %zu\n",
                (int)(c - conns), why, p->state, p->bidir, p->readys_ct, p->readys_noct, p->sent[0], p->sent[1],
                p->sent[2], p->rep_done, p->rep_len, c->out_len);
    FUZZ_CHECK(strncmp(why, "internal error", 14) != 0, "capture: %s", why);
    p->closed = 1;
    p->why = why;
    c->fd = -1;
    if (strcmp(why, "finished") == 0) {
        FUZZ_CHECK(p->state == ST_STOP, "closed as finished without STOP");
        if (p->bidir)
            FUZZ_CHECK(p->sent[R_FINISH] == 1 && p->rep_done == p->rep_len, "finished without FINISH sent");
    } else if (strcmp(why, "refused") == 0) {
        FUZZ_CHECK(p->state == ST_REFUSED, "closed as refused without a READY lacking our type");
        FUZZ_CHECK(p->sent[R_ACCEPT_EMPTY] == 1 && p->rep_done == p->rep_len, "refused without the empty ACCEPT");
    }
}

/* ---- the output file sink ----------------------------------------------- */
static int sink_write(void *ctx, const uint8_t *b, size_t n) {
    size_t k = n;
    (void)ctx;
    FUZZ_CHECK(b != NULL && n > 0, "file write of %zu bytes", n);
    if (sink_mode == 2 && !coop) {
        if (out_len >= sink_fail_at) return DNSTAP_ERR_IO;
        if (k > sink_fail_at - out_len) k = sink_fail_at - out_len;
    }
    if (sink_mode == 1 && !coop && k > 1) k = 1 + (size_t)tr_byte() % k;
    grow(&out, &out_cap, out_len + k);
    memcpy(out + out_len, b, k);
    out_len += k;
    return (int)k;
}

/* ---- producer frames ----------------------------------------------------- */
static void put(pc_t *p, const void *b, size_t n) {
    if (p->plen + n > PBUF_CAP) return;
    memcpy(p->pbuf + p->plen, b, n);
    p->plen += n;
}

static void put32(uint8_t *b, uint32_t v) {
    b[0] = (uint8_t)(v >> 24); b[1] = (uint8_t)(v >> 16); b[2] = (uint8_t)(v >> 8); b[3] = (uint8_t)v;
}

/* A control frame with nf content-type fields picked by the script. */
static void put_control(pc_t *p, uint32_t type, unsigned nf, int oversized) {
    static const char *const cts[6] = { DNSTAP_CONTENT_TYPE, "protobuf:other.Type", "", "protobuf:dnstap.Dnstapx",
                                         "protobuf:dnstap", "protobuf:dnstap.Dnstap\0!" };
    uint8_t f[1400];
    size_t fl = 12;
    unsigned i;
    for (i = 0; i < nf; i++) {
        uint8_t s = op_byte();
        uint32_t ftype = 1;
        size_t len;
        const char *txt = NULL;
        switch (s & 7) {
        case 6: len = (s & 8) ? 257 : 256; break;
        case 7: txt = cts[0]; len = strlen(txt); ftype = (uint32_t)(s >> 3); break;
        case 5: txt = cts[5]; len = 24; break;
        default: txt = cts[s & 7]; len = strlen(txt); break;
        }
        put32(f + fl, ftype);
        put32(f + fl + 4, (uint32_t)len);
        if (txt) memcpy(f + fl + 8, txt, len);
        else memset(f + fl + 8, 'x', len);
        fl += 8 + len;
    }
    put32(f, 0);
    put32(f + 4, oversized ? 513u + 4u * op_byte() : (uint32_t)(fl - 8));
    put32(f + 8, type);
    put(p, f, fl);
}

static dnstap_encoder_t penc;
static const uint8_t wire[2048] = { 0x4e, 0x21, 0x01, 0x00, 0x00, 0x01 };
static const uint8_t addr4[4] = { 192, 0, 2, 1 };

static void put_data(pc_t *p, uint8_t b, uint8_t b2) {
    dnstap_msg_t m;
    uint8_t f[4 + 2300];
    size_t n = 0;
    memset(&m, 0, sizeof m);
    m.type = (dnstap_message_type_t)(1 + b2 % 14);
    m.socket_family = DNSTAP_INET;
    m.socket_protocol = DNSTAP_UDP;
    m.query_address.data = addr4;
    m.query_address.len = 4;
    m.query_time_nsec = (uint32_t)nexp * 7919u + b2;
    m.has = DNSTAP_HAS_QUERY_TIME_NSEC;
    m.query_message.data = wire;
    m.query_message.len = (b & 0x80) ? 900 + (size_t)(b & 0x7f) * 2 : b;
    if (dnstap_encode_frame(&penc, &m, f, sizeof f, &n) == DNSTAP_OK) put(p, f, n);
}

static void put_bad_data(pc_t *p, uint8_t b) {
    static const uint8_t enum_bad[6] = { 0x72, 0x02, 0x08, 0x0f, 0x78, 0x01 };   /* Message.type 15 */
    static const uint8_t missing[2] = { 0x78, 0x01 };                            /* no message */
    static const uint8_t junk[7] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x07 };
    uint8_t f[4 + 300];
    size_t n, i;
    switch (b & 3) {
    case 0: n = sizeof enum_bad; memcpy(f + 4, enum_bad, n); break;
    case 1: n = sizeof missing; memcpy(f + 4, missing, n); break;
    case 2: n = sizeof junk; memcpy(f + 4, junk, n); break;
    default:
        n = 1 + (size_t)(b >> 2);
        for (i = 0; i < n; i++) f[4 + i] = op_byte();
        break;
    }
    put32(f, (uint32_t)n);
    put(p, f, 4 + n);
}

/* ---- driving capture ----------------------------------------------------- */
static void check_conn(pc_t *p, const conn_t *c) {
    if (file_failed) return;
    /* capture hangs up on a peer that does not read its replies (no room
       left for ACCEPT or FINISH) and ignores the rest of what it received:
       the oracle, which read all of it, has nothing to compare then */
    if (p->closed && p->why && strncmp(p->why, "no room", 7) == 0) return;
    FUZZ_CHECK(c->frames == p->frames && c->bad == p->bad, "capture took %llu frames (%llu refused), oracle %llu (%llu)",
               c->frames, c->bad, p->frames, p->bad);
    FUZZ_CHECK(p->appended == p->nfr, "%llu frames appended to the file, oracle decoded %llu", p->appended, p->nfr);
    FUZZ_CHECK(c->bidir == p->bidir && c->started == p->started, "bidir %d/%d started %d/%d", c->bidir, p->bidir,
               c->started, p->started);
    if (p->state == ST_BROKEN)
        FUZZ_CHECK(p->closed, "capture kept a connection whose stream is broken");
    if (!p->closed && p->state != ST_RUNNING) FUZZ_CHECK(c->stopping, "not stopping after STOP or a refused READY");
}

static void event(int k, int revents) {
    conn_t *c = &conns[k];
    pc_t *p = &P[k];
    unsigned long long before = file_frames, i;
    int r;
    if (!p->used || p->closed) { p->nprep = p->iprep = 0; return; }
    if (dbg)
        fprintf(stderr, "event %d revents %d prep %d: out_len %zu stopping %d readys %d/%d\n", k, revents, p->nprep,
                c->out_len, c->stopping, p->readys_ct, p->readys_noct);
    r = conn_event(c, revents);
    if (dbg)
        fprintf(stderr, "  after: out_len %zu stopping %d readys %d/%d sent %d/%d/%d\n", c->out_len, c->stopping,
                p->readys_ct, p->readys_noct, p->sent[0], p->sent[1], p->sent[2]);
    for (i = before; i < file_frames; i++) {   /* the frames this event appended: the oracle's next ones */
        size_t len;
        FUZZ_CHECK(p->fr_moved + 4 <= p->fr_len, "capture appended a frame the oracle did not accept");
        len = 4 + ((size_t)p->fr[p->fr_moved] << 24 | (size_t)p->fr[p->fr_moved + 1] << 16 |
                   (size_t)p->fr[p->fr_moved + 2] << 8 | p->fr[p->fr_moved + 3]);
        grow(&expf, &expf_cap, expf_len + len);
        memcpy(expf + expf_len, p->fr + p->fr_moved, len);
        expf_len += len;
        p->fr_moved += len;
        nexp++;
        p->appended++;
    }
    p->nprep = p->iprep = 0;
    if (r != 0) { file_failed = 1; return; }
    FUZZ_CHECK(file_is_open, "file closed");
    check_conn(p, c);
}

static void new_conn(void) {
    conn_t *c;
    int k;
    for (k = 0; k < CAPTURE_MAX_CONN; k++) if (!P[k].used || P[k].closed) break;
    c = conn_new(100 + k, now_ms);
    if (k == CAPTURE_MAX_CONN) {
        FUZZ_CHECK(c == NULL, "conn_new gave a slot when all are taken");
        return;
    }
    FUZZ_CHECK(c == &conns[k], "conn_new chose slot %d, slot %d is free", (int)(c ? c - conns : -1), k);
    free(P[k].fr);
    memset(&P[k], 0, sizeof P[k]);
    P[k].used = 1;
    snprintf(c->name, sizeof c->name, "#%llu fuzz", total_conns);
    FUZZ_CHECK(dnstap_reader_init(&P[k].rd, P[k].rbuf, sizeof P[k].rbuf) == DNSTAP_OK, "reader_init");
    if (conn_accepted(c) != 0) conn_close(c, 1, "transport setup failed");
}

/* Read the output file and compare it with what the oracles expect. */
static void check_file(int complete) {
    dnstap_reader_t r;
    static uint8_t b[CAPTURE_FRAME_MAX + 8];
    size_t pos = 0, nframes = 0, eoff = 0;
    int seen_start = 0, k;
    dnstap_result_t e = DNSTAP_OK;
    FUZZ_CHECK(dnstap_reader_init(&r, b, sizeof b) == DNSTAP_OK, "reader_init");
    while (pos < out_len) {
        dnstap_frame_t f;
        size_t used = 0;
        e = dnstap_reader_feed(&r, out + pos, out_len - pos, &used, &f);
        pos += used;
        if (e == DNSTAP_ERR_AGAIN) break;
        FUZZ_CHECK(e == DNSTAP_OK, "output file is not a dnstap file at %zu: %s", pos, dnstap_result_str(e));
        if (f.kind == DNSTAP_FRAME_CONTROL) {
            if (f.control == DNSTAP_CONTROL_START) seen_start = 1;
            continue;
        }
        FUZZ_CHECK(seen_start && nframes < nexp, "output frame %zu not appended by capture", nframes);
        FUZZ_CHECK(eoff + 4 + f.len <= expf_len && memcmp(expf + eoff + 4, f.data, f.len) == 0 &&
                   ((size_t)expf[eoff] << 24 | (size_t)expf[eoff + 1] << 16 | (size_t)expf[eoff + 2] << 8 | expf[eoff + 3]) == f.len,
                   "output frame %zu (%zu bytes) is not the frame capture took from its connection", nframes, f.len);
        eoff += 4 + f.len;
        nframes++;
    }
    e = dnstap_reader_end(&r);
    if (complete) {
        FUZZ_CHECK(e == DNSTAP_OK, "output file does not end with STOP: %s", dnstap_result_str(e));
        FUZZ_CHECK(nframes == nexp && nframes == total_frames, "output has %zu frames, capture appended %zu (%llu)",
                   nframes, nexp, total_frames);
        FUZZ_CHECK(total_bytes == out_len, "total_bytes %llu, file %zu bytes", total_bytes, out_len);
        for (k = 0; k < CAPTURE_MAX_CONN; k++)
            if (P[k].used && !(P[k].why && strncmp(P[k].why, "no room", 7) == 0))   /* see check_conn() */
                FUZZ_CHECK(P[k].fr_moved == P[k].fr_len, "connection %d: frames missing from the file", k);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int inited;
    dnstap_encoder_desc_t ed;
    uint8_t cfg;
    int k;

    if (!inited) {
        static const char *const ct[1] = { DNSTAP_CONTENT_TYPE };
        inited = 1;
        dbg = getenv("FZ_DEBUG") != NULL;
        FUZZ_CHECK(dnstap_control_frame(rtok[R_ACCEPT_CT], 64, DNSTAP_CONTROL_ACCEPT, ct, 1, &rtok_len[R_ACCEPT_CT]) ==
                   DNSTAP_OK, "control_frame");
        FUZZ_CHECK(dnstap_control_frame(rtok[R_ACCEPT_EMPTY], 64, DNSTAP_CONTROL_ACCEPT, NULL, 0,
                                        &rtok_len[R_ACCEPT_EMPTY]) == DNSTAP_OK, "control_frame");
        FUZZ_CHECK(dnstap_control_frame(rtok[R_FINISH], 64, DNSTAP_CONTROL_FINISH, NULL, 0, &rtok_len[R_FINISH]) ==
                   DNSTAP_OK, "control_frame");
        memset(&ed, 0, sizeof ed);
        ed.identity = dnstap_str("producer");
        FUZZ_CHECK(dnstap_encoder_init(&penc, &ed) == DNSTAP_OK, "encoder_init");
    }
    in_d = data;
    in_lo = 0;
    in_hi = size;
    coop = file_failed = 0;
    now_ms = 1000;
    out_len = 0;
    expf_len = nexp = 0;
    for (k = 0; k < CAPTURE_MAX_CONN; k++) {
        free(P[k].fr);
        memset(&P[k], 0, sizeof P[k]);
        conns[k].fd = -1;
    }

    /* capture's globals, as main() sets them for -w - -q */
    quiet = 2;
    base_path = "-";
    rotate_bytes = 0;
    seq = nfiles = 0;
    total_conns = total_frames = total_bytes = 0;
    memset(&ed, 0, sizeof ed);
    ed.payload_max = CAPTURE_FRAME_MAX;
    FUZZ_CHECK(dnstap_encoder_init(&enc, &ed) == DNSTAP_OK, "encoder_init");

    cfg = op_byte();
    sink_mode = cfg & 3;   /* 0, 3: whole writes; 1: partial writes; 2: failure after sink_fail_at bytes */
    sink_fail_at = 42 + (size_t)(cfg >> 2) * 37;

    /* file_start() for -w -, into the sink */
    FUZZ_CHECK(dnstap_file_init(&file, &enc, fbuf, sizeof fbuf, sink_write, NULL) == DNSTAP_OK, "file_init");
    file_is_open = 1;
    if (dnstap_file_flush(&file) != DNSTAP_OK) {
        FUZZ_CHECK(sink_mode == 2, "START flush failed");
        file_failed = 1;
    }
    file_bytes = 42;
    file_frames = 0;
    nfiles = 1;   /* total_frames and total_bytes: what file_end() finds in the file */
    last_flush_ms = now_ms;

    while (!in_empty() && !file_failed) {
        uint8_t op = op_byte(), a;
        pc_t *p;
        k = (op >> 4) % CAPTURE_MAX_CONN;
        p = &P[k];
        switch (op & 15) {
        case 0: new_conn(); break;
        case 1: a = op_byte(); put_control(p, DNSTAP_CONTROL_READY, a & 3, 0); break;
        case 2: a = op_byte(); put_control(p, DNSTAP_CONTROL_START, a & 3, 0); break;
        case 3: case 4: a = op_byte(); put_data(p, a, op_byte()); break;
        case 5: put_bad_data(p, op_byte()); break;
        case 6: a = op_byte(); put_control(p, DNSTAP_CONTROL_STOP, (a & 7) == 7 ? 1 : 0, 0); break;
        case 7: {
            static const uint32_t types[8] = { 1, 5, 0, 6, 0xffffffffu, 4, 2, 3 };
            a = op_byte();
            put_control(p, types[a & 7], (a >> 3) & 1, (a >> 4) & 1);
            break;
        }
        case 8: {
            size_t n = op_byte(), i;
            for (i = 0; i < n && !in_empty(); i++) { uint8_t x = op_byte(); put(p, &x, 1); }
            break;
        }
        case 9: case 10: case 11: {   /* deliver: 1..3 recv() results */
            int i, nres = 1 + (op & 15) - 9;
            for (i = 0; i < nres; i++) {
                uint8_t s = op_byte();
                p->prep[i] = s == 0 ? 0 : (s & 0x80) ? (int)(s & 0x7f) * 64 + 1 : (int)s;
            }
            p->nprep = nres;
            event(k, POLLIN);
            break;
        }
        case 12: {   /* EOF or an error */
            static const int res[4] = { -1, -2, -3, -4 };
            p->prep[0] = res[op_byte() & 3];
            p->nprep = 1;
            event(k, POLLIN);
            break;
        }
        case 13: a = op_byte(); event(k, (a & 1) ? POLLOUT : (a & 2) ? POLLHUP : POLLERR | POLLOUT); break;
        case 14: {   /* time passes: main()'s handshake deadline */
            int i;
            now_ms += (uint64_t)op_byte() * 50;
            for (i = 0; i < CAPTURE_MAX_CONN; i++) {
                conn_t *c = &conns[i];
                if (c->fd < 0) continue;
                if (c->deadline_ms && now_ms >= c->deadline_ms) {
                    FUZZ_CHECK(!c->started, "handshake deadline after START");
                    conn_close(c, 1, "no handshake within 5 s");
                }
            }
            break;
        }
        default:
            if (file.used && dnstap_file_flush(&file) != DNSTAP_OK) file_failed = 1;
            last_flush_ms = now_ms;
            break;
        }
    }

    /* the end: whatever is queued arrives, replies go out, then shutdown */
    coop = 1;
    if (!file_failed) {
        for (k = 0; k < CAPTURE_MAX_CONN && !file_failed; k++) {
            pc_t *p = &P[k];
            if (!p->used || p->closed) continue;
            if (p->plen > p->poff) {
                p->prep[0] = 0;
                p->nprep = 1;
                event(k, POLLIN);
            }
            if (!file_failed && !p->closed && conns[k].out_len) event(k, POLLOUT);
            if (!file_failed && !p->closed) {
                FUZZ_CHECK(p->state == ST_RUNNING, "connection left open after %s",
                           p->state == ST_STOP ? "STOP" : "a refused READY");
            }
        }
    }
    for (k = 0; k < CAPTURE_MAX_CONN; k++)
        if (conns[k].fd >= 0) conn_close(&conns[k], 0, "shutting down");
    if (file_end() != 0) {
        FUZZ_CHECK(file_failed || sink_mode == 2, "file_end failed with a working sink");
        file_failed = 1;
    }
    check_file(!file_failed);
    return 0;
}
