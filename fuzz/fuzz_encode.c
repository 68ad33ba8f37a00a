/* fuzz_encode.c - dnstap_encode() (the direct writer) against
   dnstap_encode_nanopb() (the encoder of record) on messages built from the
   input bytes.

   The input is consumed as a little program (missing bytes read as 0):
     encoder desc: identity, version, extra (bytes specs), payload_max spec
     message: type, family, protocol, http, action, match (enum specs),
              has (u8, sometimes with undefined high bits), ports and times
              (value specs), the 8 bytes fields and 3 overrides (bytes specs),
              cap spec
   A bytes spec is one byte: bit 0 present, bits 1-2 length class (0: empty,
   or hostile when bit 7 is also set; 1: < 33, for an address 4 or 16 bytes
   unless bit 4 is set; 2: < 1024; 3: large, 60,000 to 300,000 when bit 7
   is also set and the field may be large, else < 256); the value bytes
   follow (at most 64 for a large field; the rest is filled with a
   pattern). Every bytes field gets its own allocation of exactly its
   length, so that ASan sees any read past it. A hostile length is one no
   message can hold, over a real 8-byte allocation: SIZE_MAX - k, a power
   of two from 2^27 up, SIZE_MAX / k + 1 (k of them wrap a sum), or
   just above DNSTAP_PAYLOAD_MAX_LIMIT; one more spec byte chooses.

   Invariants:
   - dnstap_encoder_init() fails exactly when it must (INVALID: payload_max
     above the limit; TOO_LONG: prefix above DNSTAP_PREFIX_MAX or no room for
     the smallest message).
   - Both encoders return the same result, one of the errors that apply to
     the message (MISSING, ENUM, INVALID by the readers' rules (written out in
     fuzz_common.h), TOO_LONG from an independent size model or a hostile length,
     NOSPACE from cap), or OK when none applies; a hostile length is never
     OK (nor NOSPACE) and never read; on OK byte-identical output
     of the size the model predicts; on error the buffer is untouched (canary),
     and on OK nothing is written past *len.
   - dnstap_encoded_size() and dnstap_encode_frame() agree.
   - On OK the payload decodes to exactly the input message (identity,
     version, extra: the override if set, else the encoder's). */
#define DNSTAP_IMPLEMENTATION
#include "../dnstap.h"
#include "fuzz_common.h"

#define CANARY 0x5A
#define NALLOC 14

typedef struct {
    const uint8_t *p;
    size_t n;
    void *alloc[NALLOC];
    unsigned nalloc;
} fz_t;

static uint8_t u8(fz_t *f) {
    uint8_t v;
    if (f->n == 0) return 0;
    v = *f->p++;
    f->n--;
    return v;
}

static uint32_t u32n(fz_t *f, unsigned bytes) {
    uint32_t v = 0;
    while (bytes--) v = (v << 8) | u8(f);
    return v;
}

static uint64_t u64(fz_t *f) {
    uint64_t hi = u32n(f, 4);
    return (hi << 32) | u32n(f, 4);
}

/* Enum: mostly 0 (absent) .. max, sometimes just above, sometimes anything. */
static int enum_val(fz_t *f, int max) {
    uint8_t s = u8(f);
    if (s < 0xA0) return s % (max + 1);
    if (s < 0xC0) return max + 1 + (s & 0x1f);
    if (s < 0xF0) return (int)u32n(f, 4);
    return s == 0xF0 ? -1 : 0;
}

/* An integer of varied magnitude, hitting every varint length. */
static uint64_t int_val(fz_t *f) {
    uint8_t s = u8(f);
    switch (s & 7) {
    case 0: return s >> 3;
    case 1: return u32n(f, 1);
    case 2: return u32n(f, 2);
    case 3: return u32n(f, 3);
    case 4: return u32n(f, 4);
    case 5: return u64(f);
    case 6: return ((uint64_t)1 << (s >> 2)) - (s >> 7); /* powers of two, and one below */
    default: return UINT64_MAX - (s >> 3);
    }
}

/* A length no message can hold (all above DNSTAP_PAYLOAD_MAX_LIMIT). */
static size_t hostile_len(fz_t *f) {
    const unsigned bits = (unsigned)sizeof(size_t) * 8u;
    uint8_t h = u8(f);
    switch (h & 3) {
    case 0: return SIZE_MAX - (size_t)u32n(f, 2);                 /* end - p with p past end */
    case 1: return (size_t)1 << (27u + (h >> 2) % (bits - 27u));  /* 2^27 .. 2^63 */
    case 2: return SIZE_MAX / (2u + (h >> 2) % 12u) + 1u;         /* k of them wrap the sum */
    default: return (size_t)DNSTAP_PAYLOAD_MAX_LIMIT + 1u + (size_t)u32n(f, 3);
    }
}

static dnstap_bytes_t bytes_val(fz_t *f, int big_ok, int address, int *hostile) {
    dnstap_bytes_t b;
    uint8_t s = u8(f), *d;
    size_t len, take, limit = (size_t)-1;
    b.data = NULL;
    b.len = 0;
    if (!(s & 1)) return b;
    if (((s >> 1) & 3) == 0 && (s & 0x80)) {
        d = (uint8_t *)malloc(8);
        f->alloc[f->nalloc++] = d;
        memset(d, s, 8);
        b.data = d;
        b.len = hostile_len(f);
        *hostile = 1;
        return b;
    }
    switch ((s >> 1) & 3) {
    case 0: len = 0; break;
    case 1: len = address && !(s & 0x10) ? (s & 8 ? 16u : 4u) : u8(f) % 33; break;
    case 2: len = u32n(f, 2) % 1024; break;
    default:
        if (big_ok && (s & 0x80)) { len = 60000 + u32n(f, 3) % 240000; limit = 64; }
        else len = u8(f);
        break;
    }
    d = (uint8_t *)malloc(len ? len : 1);
    f->alloc[f->nalloc++] = d;
    take = len < f->n ? len : f->n;
    if (take > limit) take = limit;
    if (take) memcpy(d, f->p, take);
    f->p += take;
    f->n -= take;
    if (len > take) memset(d + take, s, len - take);
    b.data = d;
    b.len = len;
    return b;
}

/* ---- an independent size model, straight from the schema ---- */
static size_t vlen(uint64_t v) {
    size_t n = 1;
    while (v >= 0x80) { v >>= 7; n++; }
    return n;
}

/* (a hostile length: a sentinel, so that sums in size_t cannot wrap;
   such messages are judged by the hostile flag, not by their size) */
static size_t bfield(const dnstap_bytes_t *b) {
    size_t len = b->len > DNSTAP_PAYLOAD_MAX_LIMIT ? (size_t)DNSTAP_PAYLOAD_MAX_LIMIT + 1u : b->len;
    return b->data ? 1 + vlen(len) + len : 0;
}

static size_t efield(int v, size_t tag) {
    return v ? tag + vlen((uint32_t)v) : 0;
}

static int has_policy(const dnstap_msg_t *m) {
    return (m->has & DNSTAP_HAS_POLICY) || m->policy.type.data || m->policy.rule.data || m->policy.action ||
           m->policy.match || m->policy.value.data;
}

static size_t model_size(const dnstap_msg_t *m, const dnstap_encoder_desc_t *d) {
    size_t n = 1 + vlen((uint32_t)m->type), p, total;
    n += efield((int)m->socket_family, 1) + efield((int)m->socket_protocol, 1);
    n += bfield(&m->query_address) + bfield(&m->response_address);
    if (m->has & DNSTAP_HAS_QUERY_PORT) n += 1 + vlen(m->query_port);
    if (m->has & DNSTAP_HAS_RESPONSE_PORT) n += 1 + vlen(m->response_port);
    if (m->has & DNSTAP_HAS_QUERY_TIME_SEC) n += 1 + vlen(m->query_time_sec);
    if (m->has & DNSTAP_HAS_QUERY_TIME_NSEC) n += 5;
    n += bfield(&m->query_message) + bfield(&m->query_zone);
    if (m->has & DNSTAP_HAS_RESPONSE_TIME_SEC) n += 1 + vlen(m->response_time_sec);
    if (m->has & DNSTAP_HAS_RESPONSE_TIME_NSEC) n += 5;
    n += bfield(&m->response_message);
    if (has_policy(m)) {
        p = bfield(&m->policy.type) + bfield(&m->policy.rule) + efield((int)m->policy.action, 1) +
            efield((int)m->policy.match, 1) + bfield(&m->policy.value);
        n += 1 + vlen(p) + p;
    }
    n += efield((int)m->http_protocol, 2);
    total = bfield(m->identity.data ? &m->identity : &d->identity) +
            bfield(m->version.data ? &m->version : &d->version) +
            bfield(m->extra.data ? &m->extra : &d->extra);
    return total + 1 + vlen(n) + n + 2;
}

static int untouched(const uint8_t *p, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) if (p[i] != CANARY) return 0;
    return 1;
}

static const dnstap_bytes_t *pick(const dnstap_bytes_t *override, const dnstap_bytes_t *dflt) {
    return override->data ? override : dflt;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_t f;
    dnstap_encoder_desc_t desc;
    dnstap_encoder_t enc;
    dnstap_msg_t m, d;
    dnstap_result_t r, r2, rs, rf;
    size_t model, cap, n1 = 0, n2 = 0, ns = 0, nf = 0, prefix, eff_max;
    uint8_t s, *b1, *b2, *bf;
    int want_missing, want_enum, want_invalid, want_too_long, want_nospace, init_fail, hostile = 0;
    const char *where;
    unsigned i;

    memset(&f, 0, sizeof f);
    f.p = data;
    f.n = size;
    memset(&desc, 0, sizeof desc);
    memset(&m, 0, sizeof m);

    /* encoder */
    desc.identity = bytes_val(&f, 0, 0, &hostile);
    desc.version = bytes_val(&f, 0, 0, &hostile);
    desc.extra = bytes_val(&f, 0, 0, &hostile);
    s = u8(&f);
    if (s < 0x80) desc.payload_max = 0;
    else if (s < 0xC0) desc.payload_max = u32n(&f, 2) % 2048;
    else if (s < 0xE0) desc.payload_max = u32n(&f, 4);
    else if (s < 0xF0) desc.payload_max = DNSTAP_PAYLOAD_MAX_LIMIT + (s & 1);
    else desc.payload_max = s & 1 ? DNSTAP_PAYLOAD_MAX_GOLANG : 6u + (s & 7u);

    eff_max = desc.payload_max ? desc.payload_max : DNSTAP_PAYLOAD_MAX_DEFAULT;
    prefix = bfield(&desc.identity) + bfield(&desc.version) + bfield(&desc.extra);
    r = dnstap_encoder_init(&enc, &desc);
    if (desc.payload_max > DNSTAP_PAYLOAD_MAX_LIMIT) {
        FUZZ_CHECK(r == DNSTAP_ERR_INVALID, "payload_max %u above the limit: init %d", desc.payload_max, (int)r);
        init_fail = 1;
    } else if (prefix > DNSTAP_PREFIX_MAX || prefix + 6 > eff_max) {
        FUZZ_CHECK(r == DNSTAP_ERR_TOO_LONG, "prefix %zu, payload_max %zu: init %d", prefix, eff_max, (int)r);
        init_fail = 1;
    } else {
        FUZZ_CHECK(r == DNSTAP_OK, "prefix %zu, payload_max %zu: init %d", prefix, eff_max, (int)r);
        init_fail = 0;
    }
    if (init_fail) goto out;

    /* message */
    m.type = (dnstap_message_type_t)enum_val(&f, 14);
    m.socket_family = (dnstap_socket_family_t)enum_val(&f, 2);
    m.socket_protocol = (dnstap_socket_protocol_t)enum_val(&f, 7);
    m.http_protocol = (dnstap_http_protocol_t)enum_val(&f, 3);
    m.policy.action = (dnstap_policy_action_t)enum_val(&f, 6);
    m.policy.match = (dnstap_policy_match_t)enum_val(&f, 5);
    s = u8(&f);
    m.has = s & 0x7f;
    if (s & 0x80) m.has |= (uint32_t)u8(&f) << 7; /* undefined bits must be ignored */
    m.query_port = (uint32_t)int_val(&f);
    m.response_port = (uint32_t)int_val(&f);
    m.query_time_sec = int_val(&f);
    m.query_time_nsec = (uint32_t)int_val(&f);
    m.response_time_sec = int_val(&f);
    m.response_time_nsec = (uint32_t)int_val(&f);
    m.query_address = bytes_val(&f, 0, 1, &hostile);
    m.response_address = bytes_val(&f, 0, 1, &hostile);
    m.query_message = bytes_val(&f, 1, 0, &hostile);
    m.query_zone = bytes_val(&f, 0, 0, &hostile);
    m.response_message = bytes_val(&f, 1, 0, &hostile);
    m.policy.type = bytes_val(&f, 0, 0, &hostile);
    m.policy.rule = bytes_val(&f, 0, 0, &hostile);
    m.policy.value = bytes_val(&f, 0, 0, &hostile);
    m.identity = bytes_val(&f, 0, 0, &hostile);
    m.version = bytes_val(&f, 0, 0, &hostile);
    m.extra = bytes_val(&f, 0, 0, &hostile);

    model = model_size(&m, &desc);
    s = u8(&f);
    if (hostile) cap = s < 0xF0 ? u32n(&f, 2) % 4096 : 0;           /* a real buffer: never written */
    else if (s < 0xA0) cap = model + (s & 7) - (model >= 3 ? 3 : model); /* around the exact size */
    else if (s < 0xE0) cap = u32n(&f, 2) % 4096;
    else if (s < 0xF0) cap = 0;
    else cap = model + 100;

    want_missing = m.type == 0;
    want_enum = (m.type != 0 && ((int)m.type < 1 || (int)m.type > 14)) || fz_enum_bad((int)m.socket_family, 2) ||
                fz_enum_bad((int)m.socket_protocol, 7) || fz_enum_bad((int)m.http_protocol, 3) ||
                fz_enum_bad((int)m.policy.action, 6) || fz_enum_bad((int)m.policy.match, 5);
    want_invalid = fz_readers_reject(&m);
    want_too_long = hostile || model > enc.payload_max;
    want_nospace = model > cap;

    /* exact-size buffers (ASan catches writes past cap), canary-filled */
    b1 = cap ? (uint8_t *)malloc(cap) : NULL;
    b2 = cap ? (uint8_t *)malloc(cap) : NULL;
    bf = (uint8_t *)malloc(cap + 4);
    if (cap) { memset(b1, CANARY, cap); memset(b2, CANARY, cap); }
    memset(bf, CANARY, cap + 4);

    r = dnstap_encode(&enc, &m, b1, cap, &n1);
    r2 = dnstap_encode_nanopb(&enc, &m, b2, cap, &n2);
    rs = dnstap_encoded_size(&enc, &m, &ns);
    rf = dnstap_encode_frame(&enc, &m, bf, cap + 4, &nf);

    FUZZ_CHECK(r == r2, "direct writer %d (%s), nanopb %d (%s)", (int)r, dnstap_result_str(r), (int)r2,
               dnstap_result_str(r2));
    FUZZ_CHECK(r == rf, "encode %d, encode_frame (cap+4) %d", (int)r, (int)rf);
    FUZZ_CHECK(rs == r || (r == DNSTAP_ERR_NOSPACE && rs == DNSTAP_OK), "encode %d, encoded_size %d", (int)r,
               (int)rs);
    FUZZ_CHECK(!hostile || r == DNSTAP_ERR_TOO_LONG || r == DNSTAP_ERR_INVALID || r == DNSTAP_ERR_ENUM ||
               r == DNSTAP_ERR_MISSING, "a hostile length gave %d (%s)", (int)r, dnstap_result_str(r));
    if (r == DNSTAP_OK) {
        FUZZ_CHECK(!want_missing && !want_enum && !want_invalid && !want_too_long && !want_nospace,
                   "OK although missing=%d enum=%d invalid=%d too_long=%d (model %zu, max %u) nospace=%d (cap %zu)",
                   want_missing, want_enum, want_invalid, want_too_long, model, enc.payload_max, want_nospace, cap);
        FUZZ_CHECK(n1 == model, "encoded %zu bytes, model says %zu", n1, model);
        FUZZ_CHECK(n1 == n2 && memcmp(b1, b2, n1) == 0, "direct writer and nanopb output differ (%zu/%zu bytes)",
                   n1, n2);
        FUZZ_CHECK(untouched(b1 + n1, cap - n1) && untouched(b2 + n2, cap - n2), "encoder wrote past *len");
        FUZZ_CHECK(ns == n1, "encoded_size %zu, encode %zu", ns, n1);
        FUZZ_CHECK(nf == n1 + 4 && bf[0] == (uint8_t)(n1 >> 24) && bf[1] == (uint8_t)(n1 >> 16) &&
                   bf[2] == (uint8_t)(n1 >> 8) && bf[3] == (uint8_t)n1 && memcmp(bf + 4, b1, n1) == 0,
                   "encode_frame is not BE32 length + payload");
        FUZZ_CHECK(n1 <= enc.payload_max, "payload %zu above payload_max %u", n1, enc.payload_max);

        r = dnstap_decode(b1, n1, &d);
        FUZZ_CHECK(r == DNSTAP_OK, "decoding our own output failed: %d", (int)r);
        where = fz_bytes_outside(&d, b1, n1);
        FUZZ_CHECK(where == NULL, "decoded %s outside the payload", where);
        /* expected: the input, with identity/version/extra resolved and the
           presence bits normalised */
        {
            int pol = has_policy(&m);
            m.has &= DNSTAP_HAS_QUERY_PORT | DNSTAP_HAS_RESPONSE_PORT | DNSTAP_HAS_QUERY_TIME |
                     DNSTAP_HAS_RESPONSE_TIME;
            if (pol) m.has |= DNSTAP_HAS_POLICY;
        }
        m.identity = *pick(&m.identity, &desc.identity);
        m.version = *pick(&m.version, &desc.version);
        m.extra = *pick(&m.extra, &desc.extra);
        where = fz_msg_diff(&m, &d);
        FUZZ_CHECK(where == NULL, "decoded message differs from the input in %s", where);
    } else {
        FUZZ_CHECK((r == DNSTAP_ERR_MISSING && want_missing) || (r == DNSTAP_ERR_ENUM && want_enum) ||
                   (r == DNSTAP_ERR_INVALID && want_invalid) || (r == DNSTAP_ERR_TOO_LONG && want_too_long) ||
                   (r == DNSTAP_ERR_NOSPACE && want_nospace),
                   "result %d (%s) but missing=%d enum=%d invalid=%d too_long=%d (model %zu, max %u) nospace=%d "
                   "(cap %zu)", (int)r, dnstap_result_str(r), want_missing, want_enum, want_invalid, want_too_long,
                   model, enc.payload_max, want_nospace, cap);
        FUZZ_CHECK(untouched(b1, cap), "direct writer wrote into the buffer and returned %d", (int)r);
        FUZZ_CHECK(untouched(b2, cap), "nanopb wrote into the buffer and returned %d", (int)r);
        FUZZ_CHECK(untouched(bf, cap + 4), "encode_frame wrote into the buffer and returned %d", (int)r);
    }

    free(bf);
    free(b2);
    free(b1);
out:
    for (i = 0; i < f.nalloc; i++) free(f.alloc[i]);
    return 0;
}
