/* fuzz_reader.c - the incremental Frame Streams reader (dnstap_reader_*).

   The input is a raw byte stream (so real dnstap files are seeds as they
   are). It is read under three configurations:
     A  writer-stream role, 64 KiB buffer, defaults
     B  receiver-replies role, the minimum 512-byte buffer
     C  role, buffer size, payload_max (default, smaller, larger than the
        buffer, 0) and expected content type (default, NULL = any, another)
        chosen from a hash of the input
   and each configuration is fed three ways: one big chunk, 1-byte chunks,
   and chunk sizes taken from the input bytes (with zero-length feeds).
   Every chunk is its own exact-size allocation, so ASan sees reads past it.

   Invariants, on every feed:
   - *used <= len; DNSTAP_ERR_AGAIN takes everything; a frame takes >= 1 byte.
   - A frame's bytes lie in the chunk or in the reader's buffer, and are
     exactly the bytes of the stream it ended at (payload of a data frame,
     fields of a control frame), with a matching header.
   - Data frames: 1 <= len <= min(payload_max, cap), writer role only,
     between START and STOP; each is passed to dnstap_decode(), whose result
     is recorded and whose bytes fields must point into the frame.
   - Control frames: body <= 512, type 1..5 allowed for the role and at this
     point of the stream, the CONTENT_TYPE count and first content type
     agree with the fields, content types <= 256 bytes, START names the
     expected content type or none (it is optional); re-encoding it with
     dnstap_control_frame() gives
     the same bytes.
   - An error sticks: later feeds (empty or not) return it taking nothing,
     and dnstap_reader_end() returns it.
   - dnstap_reader_end() is OK only after STOP (writer) / FINISH (replies).
   - All three chunkings give the same frames, decode results, final result
     and amount of input taken. */
#define DNSTAP_IMPLEMENTATION
#include "../dnstap.h"
#include "fuzz_common.h"

typedef struct {
    dnstap_reader_role_t role;
    size_t cap;
    int set_max;
    uint32_t payload_max;
    const char *ct;
} cfg_t;

typedef struct {
    int kind, control, dec;
    size_t len, cts, end;
    uint64_t h;
} ev_t;

typedef struct {
    ev_t *ev;
    size_t nev, evcap;
    dnstap_result_t final; /* the sticky error, or dnstap_reader_end() */
    size_t taken;          /* input taken when it stopped */
} run_t;

static uint32_t be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static int inside(const uint8_t *p, size_t n, const uint8_t *lo, size_t lon) {
    uintptr_t a = (uintptr_t)p, b = (uintptr_t)lo;
    return a >= b && a <= b + lon && n <= b + lon - a;
}

static void push(run_t *run, const ev_t *e) {
    if (run->nev == run->evcap) {
        run->evcap = run->evcap ? 2 * run->evcap : 16;
        run->ev = (ev_t *)realloc(run->ev, run->evcap * sizeof *run->ev);
        FUZZ_CHECK(run->ev != NULL, "out of memory");
    }
    run->ev[run->nev++] = *e;
}

/* Stream state the checks keep, independent of the reader's. */
typedef struct {
    int started, stopped;
} seen_t;

static void check_frame(const cfg_t *c, const dnstap_reader_t *r, const dnstap_frame_t *fr, const uint8_t *chunk,
                        size_t chunk_len, const uint8_t *all, size_t end, seen_t *seen, ev_t *ev) {
    size_t limit = r->payload_max < c->cap ? r->payload_max : c->cap;
    memset(ev, 0, sizeof *ev);
    ev->kind = (int)fr->kind;
    ev->len = fr->len;
    ev->end = end;
    FUZZ_CHECK(!seen->stopped, "frame handed out after STOP/FINISH (end offset %zu)", end);
    FUZZ_CHECK(fr->len == 0 || inside(fr->data, fr->len, chunk, chunk_len) || inside(fr->data, fr->len, r->buf, c->cap),
               "frame of %zu bytes outside both the chunk and the reader buffer", fr->len);

    if (fr->kind == DNSTAP_FRAME_DATA) {
        dnstap_msg_t m;
        dnstap_result_t d;
        const char *where;
        FUZZ_CHECK(fr->len >= 1 && fr->len <= limit, "data frame of %zu bytes, limit %zu", fr->len, limit);
        FUZZ_CHECK(c->role == DNSTAP_READ_WRITER_STREAM, "data frame in the replies role");
        FUZZ_CHECK(seen->started, "data frame before START");
        FUZZ_CHECK(end >= fr->len + 4 && be32(all + end - fr->len - 4) == fr->len &&
                   memcmp(fr->data, all + end - fr->len, fr->len) == 0,
                   "data frame (%zu bytes ending at %zu) is not the stream's bytes", fr->len, end);
        d = dnstap_decode(fr->data, fr->len, &m);
        FUZZ_CHECK(d == DNSTAP_OK || d == DNSTAP_ERR_DECODE || d == DNSTAP_ERR_MISSING || d == DNSTAP_ERR_ENUM,
                   "dnstap_decode returned %d", (int)d);
        if (d == DNSTAP_OK) {
            where = fz_bytes_outside(&m, fr->data, fr->len);
            FUZZ_CHECK(where == NULL, "decoded %s does not point into the data frame", where);
        }
        ev->dec = (int)d;
        ev->h = fz_hash(fr->data, fr->len, 14695981039346656037ull);
        return;
    }

    FUZZ_CHECK(fr->kind == DNSTAP_FRAME_CONTROL, "frame kind %d", (int)fr->kind);
    ev->control = (int)fr->control;
    ev->cts = fr->content_types;
    FUZZ_CHECK(fr->control >= DNSTAP_CONTROL_ACCEPT && fr->control <= DNSTAP_CONTROL_FINISH, "control type %d",
               (int)fr->control);
    FUZZ_CHECK(fr->len + 4 <= DNSTAP_CONTROL_MAX, "control frame body %zu > 512", fr->len + 4);
    FUZZ_CHECK(end >= fr->len + 12 && be32(all + end - fr->len - 12) == 0 &&
               be32(all + end - fr->len - 8) == fr->len + 4 && be32(all + end - fr->len - 4) == (uint32_t)fr->control &&
               (fr->len == 0 || memcmp(fr->data, all + end - fr->len, fr->len) == 0),
               "control frame (%zu field bytes ending at %zu) is not the stream's bytes", fr->len, end);
    {
        /* walk the fields independently */
        const uint8_t *p = fr->data;
        size_t left = fr->len, n = 0, i;
        int has_nul = 0, has_want = 0;
        const char *cts[130];
        char store[520];
        size_t so = 0;
        while (left) {
            uint32_t ft, fl;
            FUZZ_CHECK(left >= 8, "control frame accepted with a %zu-byte trailing field", left);
            ft = be32(p);
            fl = be32(p + 4);
            FUZZ_CHECK(ft == 1, "control frame accepted with field type %u", ft);
            FUZZ_CHECK(fl <= DNSTAP_CONTENT_TYPE_MAX, "content type of %u bytes accepted", fl);
            FUZZ_CHECK(fl <= left - 8, "field runs past the frame");
            if (n == 0)
                FUZZ_CHECK(fr->content_type.data == p + 8 && fr->content_type.len == fl,
                           "first content type is not the first field");
            if (memchr(p + 8, 0, fl)) has_nul = 1;
            if (c->ct && strlen(c->ct) == fl && memcmp(c->ct, p + 8, fl) == 0) has_want = 1;
            if (n < 130 && so + fl + 1 <= sizeof store) {
                memcpy(store + so, p + 8, fl);
                store[so + fl] = 0;
                cts[n] = store + so;
                so += fl + 1;
            }
            n++;
            p += 8 + fl;
            left -= 8 + fl;
        }
        FUZZ_CHECK(n == fr->content_types, "content_types %zu, fields %zu", fr->content_types, n);
        if (n == 0) FUZZ_CHECK(fr->content_type.data == NULL, "content type without CONTENT_TYPE field");
        if (fr->control == DNSTAP_CONTROL_START) FUZZ_CHECK(n <= 1, "START with %zu content types", n);
        if (fr->control == DNSTAP_CONTROL_STOP || fr->control == DNSTAP_CONTROL_FINISH)
            FUZZ_CHECK(n == 0, "STOP/FINISH with %zu content types", n);
        if (n >= 1 && !has_nul)
            FUZZ_CHECK(dnstap_frame_has_content_type(fr, cts[0]), "frame_has_content_type misses the first type");
        if (fr->control == DNSTAP_CONTROL_START && c->ct && n > 0)
            FUZZ_CHECK(has_want, "START accepted naming another content type");
        if (!has_nul && n < 130) {
            /* re-encode: the same bytes */
            uint8_t out[DNSTAP_CONTROL_MAX + 8];
            size_t olen = 0;
            dnstap_result_t e = dnstap_control_frame(out, sizeof out, fr->control, cts, n, &olen);
            FUZZ_CHECK(e == DNSTAP_OK && olen == fr->len + 12 && memcmp(out, all + end - olen, olen) == 0,
                       "dnstap_control_frame does not rebuild the frame: %d, %zu/%zu", (int)e, olen, fr->len + 12);
        }
        for (i = 0; i < n && i < 130; i++) ev->h = fz_hash((const uint8_t *)cts[i], strlen(cts[i]), ev->h + i);
    }
    if (c->role == DNSTAP_READ_WRITER_STREAM) {
        switch (fr->control) {
        case DNSTAP_CONTROL_READY:
            FUZZ_CHECK(!seen->started, "READY after START");
            break;
        case DNSTAP_CONTROL_START:
            FUZZ_CHECK(!seen->started, "second START");
            seen->started = 1;
            break;
        case DNSTAP_CONTROL_STOP:
            FUZZ_CHECK(seen->started, "STOP before START");
            seen->stopped = 1;
            break;
        default:
            FUZZ_CHECK(0, "control type %d in a writer stream", (int)fr->control);
        }
    } else {
        switch (fr->control) {
        case DNSTAP_CONTROL_ACCEPT:
            FUZZ_CHECK(!seen->started, "second ACCEPT");
            seen->started = 1;
            break;
        case DNSTAP_CONTROL_FINISH:
            seen->stopped = 1;
            break;
        default:
            FUZZ_CHECK(0, "control type %d in receiver replies", (int)fr->control);
        }
    }
}

/* mode 0: one chunk; 1: 1-byte chunks; 2: sizes from the input bytes */
static void run_reader(const cfg_t *c, const uint8_t *all, size_t size, int mode, run_t *run) {
    dnstap_reader_t r;
    dnstap_frame_t fr;
    dnstap_result_t e;
    uint8_t *rbuf = (uint8_t *)malloc(c->cap);
    size_t pos = 0, k = 0, chunk_cap = (size_t)-1;
    uint8_t *chunk = NULL;
    int first = mode == 2, last_zero = 0;
    seen_t seen = { 0, 0 };

    memset(run, 0, sizeof *run);
    e = dnstap_reader_init(&r, rbuf, c->cap);
    FUZZ_CHECK(e == DNSTAP_OK, "reader_init(cap %zu) %d", c->cap, (int)e);
    r.role = c->role;
    r.content_type = c->ct;
    if (c->set_max) r.payload_max = c->payload_max;

    while (pos < size || first) {
        size_t len, off = 0;
        if (mode == 0) len = size;
        else if (mode == 1) len = 1;
        else {
            /* sizes from the input; a zero-length feed first and at 0x40 */
            uint8_t b = size ? all[(k * 7 + 3) % size] : 0;
            k++;
            if (first || (b == 0x40 && !last_zero)) {
                len = 0;
                last_zero = 1;
            } else {
                len = (b & 0x80) ? (size_t)(b & 0x7f) * 13 + 1 : (size_t)(b & 0x0f) + 1;
                last_zero = 0;
            }
        }
        first = 0;
        if (len > size - pos) len = size - pos;
        if (len != chunk_cap) { /* an allocation of exactly len bytes, reused while len repeats */
            free(chunk);
            chunk = (uint8_t *)malloc(len ? len : 1);
            chunk_cap = len;
        }
        if (len) memcpy(chunk, all + pos, len);
        do {
            size_t used = (size_t)-1, have = len - off;
            e = dnstap_reader_feed(&r, len ? chunk + off : chunk, have, &used, &fr);
            FUZZ_CHECK(used <= have, "used %zu of %zu", used, have);
            if (e == DNSTAP_OK) {
                ev_t ev;
                FUZZ_CHECK(used >= 1, "frame completed with 0 bytes taken");
                check_frame(c, &r, &fr, chunk + off, used, all, pos + off + used, &seen, &ev);
                push(run, &ev);
                off += used;
                continue;
            }
            if (e == DNSTAP_ERR_AGAIN) {
                FUZZ_CHECK(used == have, "AGAIN but only %zu of %zu taken", used, have);
                off = len;
                break;
            }
            /* an error: it must stick */
            {
                dnstap_result_t e2;
                size_t u2 = 1;
                FUZZ_CHECK(fz_result_known(e) && e != DNSTAP_ERR_INVALID, "reader_feed returned %d", (int)e);
                off += used;
                run->final = e;
                run->taken = pos + off;
                e2 = dnstap_reader_feed(&r, chunk + off, len - off, &u2, &fr);
                FUZZ_CHECK(e2 == e && u2 == 0, "error %d did not stick: %d, used %zu", (int)e, (int)e2, u2);
                u2 = 1;
                e2 = dnstap_reader_feed(&r, all, size, &u2, &fr);
                FUZZ_CHECK(e2 == e && u2 == 0, "error %d did not stick: %d, used %zu", (int)e, (int)e2, u2);
                u2 = 1;
                e2 = dnstap_reader_feed(&r, NULL, 0, &u2, &fr);
                FUZZ_CHECK(e2 == e && u2 == 0, "error %d did not stick on an empty feed: %d", (int)e, (int)e2);
                e2 = dnstap_reader_end(&r);
                FUZZ_CHECK(e2 == e, "reader_end %d after error %d", (int)e2, (int)e);
                free(chunk);
                free(rbuf);
                return;
            }
        } while (off < len);
        pos += len;
    }
    free(chunk);
    run->final = dnstap_reader_end(&r);
    run->taken = size;
    FUZZ_CHECK(run->final == DNSTAP_OK || run->final == DNSTAP_ERR_TRUNCATED || run->final == DNSTAP_ERR_UNFINISHED,
               "reader_end %d without an error from feed", (int)run->final);
    if (run->final == DNSTAP_OK) FUZZ_CHECK(seen.stopped, "reader_end OK without STOP/FINISH");
    if (seen.stopped) FUZZ_CHECK(run->final == DNSTAP_OK, "reader_end %d after STOP/FINISH", (int)run->final);
    free(rbuf);
}

static void compare(const run_t *a, const run_t *b, int mode, char cfgname) {
    size_t i;
    FUZZ_CHECK(a->nev == b->nev, "config %c: %zu frames in one chunk, %zu in chunking %d", cfgname, a->nev, b->nev,
               mode);
    for (i = 0; i < a->nev; i++) {
        const ev_t *x = &a->ev[i], *y = &b->ev[i];
        FUZZ_CHECK(x->kind == y->kind && x->control == y->control && x->len == y->len && x->cts == y->cts &&
                   x->end == y->end && x->h == y->h && x->dec == y->dec,
                   "config %c: frame %zu differs between one chunk and chunking %d", cfgname, i, mode);
    }
    FUZZ_CHECK(a->final == b->final, "config %c: final result %d in one chunk, %d in chunking %d", cfgname,
               (int)a->final, (int)b->final, mode);
    FUZZ_CHECK(a->taken == b->taken, "config %c: %zu bytes taken in one chunk, %zu in chunking %d", cfgname,
               a->taken, b->taken, mode);
}

static void run_config(const cfg_t *c, const uint8_t *data, size_t size, char name) {
    run_t runs[3];
    int mode;
    for (mode = 0; mode < 3; mode++) run_reader(c, data, size, mode, &runs[mode]);
    compare(&runs[0], &runs[1], 1, name);
    compare(&runs[0], &runs[2], 2, name);
    for (mode = 0; mode < 3; mode++) free(runs[mode].ev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const size_t caps[4] = { 512, 513, 700, 4096 };
    cfg_t c;
    uint64_t h = fz_hash(data, size, 14695981039346656037ull);

    memset(&c, 0, sizeof c);
    c.role = DNSTAP_READ_WRITER_STREAM;
    c.cap = 65536;
    c.ct = DNSTAP_CONTENT_TYPE;
    run_config(&c, data, size, 'A');

    c.role = DNSTAP_READ_RECEIVER_REPLIES;
    c.cap = 512;
    run_config(&c, data, size, 'B');

    c.role = (h & 1) ? DNSTAP_READ_RECEIVER_REPLIES : DNSTAP_READ_WRITER_STREAM;
    c.cap = caps[(h >> 1) & 3];
    switch ((h >> 3) & 3) {
    case 0: c.set_max = 0; break;
    case 1: c.set_max = 1; c.payload_max = (uint32_t)((h >> 8) % c.cap) + 1; break;
    case 2: c.set_max = 1; c.payload_max = UINT32_MAX; break;
    default: c.set_max = 1; c.payload_max = 0; break;
    }
    switch ((h >> 5) & 3) {
    case 2: c.ct = NULL; break;
    case 3: c.ct = "protobuf:other.Type"; break;
    default: c.ct = DNSTAP_CONTENT_TYPE; break;
    }
    run_config(&c, data, size, 'C');
    return 0;
}
