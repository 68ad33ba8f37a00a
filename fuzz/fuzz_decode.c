/* fuzz_decode.c - dnstap_decode() on arbitrary bytes, and the round trip
   decode -> encode -> decode.

   Invariants:
   - dnstap_decode() returns OK or one of DECODE, MISSING, ENUM.
   - On OK: the message type is present, and every bytes field points inside
     the input (the decoder is documented as zero copy).
   - Re-encoding (encoder with an empty desc) succeeds unless an enum holds a
     value outside the schema (the decoder keeps those, the encoder refuses
     them with DNSTAP_ERR_ENUM) or a value breaks a reader's rule (an
     address, port or nanoseconds field: DNSTAP_ERR_INVALID); the canonical
     encoding is never longer than the input.
   - The direct writer and nanopb produce the same bytes; encoded_size and
     encode_frame agree with them; exact cap and exact payload_max succeed,
     one byte less fails (NOSPACE / TOO_LONG) and leaves the buffer alone.
   - Decoding the re-encoded payload gives equal values, and encoding those
     again gives identical bytes. */
#define DNSTAP_IMPLEMENTATION
#include "../dnstap.h"
#include "fuzz_common.h"

#define CANARY 0xA5

static int untouched(const uint8_t *p, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) if (p[i] != CANARY) return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    dnstap_encoder_t enc, enc2;
    dnstap_encoder_desc_t desc;
    dnstap_msg_t m, m2, m3;
    dnstap_result_t r, r2;
    const char *where;
    uint8_t *in, *a, *b, *fr;
    size_t cap, na = 0, nb = 0, nf = 0, ns = 0;

    /* A private copy of exactly size bytes, so that ASan sees any read past it. */
    in = (uint8_t *)malloc(size ? size : 1);
    if (size) memcpy(in, data, size);

    r = dnstap_decode(size ? in : NULL, size, &m);
    FUZZ_CHECK(r == DNSTAP_OK || r == DNSTAP_ERR_DECODE || r == DNSTAP_ERR_MISSING || r == DNSTAP_ERR_ENUM,
               "dnstap_decode returned %d", (int)r);
    if (r != DNSTAP_OK) { free(in); return 0; }

    FUZZ_CHECK((int)m.type != 0, "decoded message without type");
    where = fz_bytes_outside(&m, in, size);
    FUZZ_CHECK(where == NULL, "decoded field %s does not point into the %zu-byte payload", where, size);
    /* decoding is deterministic */
    r2 = dnstap_decode(in, size, &m2);
    FUZZ_CHECK(r2 == DNSTAP_OK, "second decode of the same bytes returned %d", (int)r2);
    where = fz_msg_diff(&m, &m2);
    FUZZ_CHECK(where == NULL, "two decodes of the same bytes differ in %s", where);

    memset(&desc, 0, sizeof desc);
    r = dnstap_encoder_init(&enc, &desc);
    FUZZ_CHECK(r == DNSTAP_OK, "encoder_init(empty) returned %d", (int)r);

    cap = size + 64;
    a = (uint8_t *)malloc(cap);
    b = (uint8_t *)malloc(cap);
    fr = (uint8_t *)malloc(cap + 4);
    memset(a, CANARY, cap);
    memset(b, CANARY, cap);
    memset(fr, CANARY, cap + 4);

    r = dnstap_encode(&enc, &m, a, cap, &na);
    r2 = dnstap_encode_nanopb(&enc, &m, b, cap, &nb);
    FUZZ_CHECK(r == r2, "dnstap_encode %d, dnstap_encode_nanopb %d", (int)r, (int)r2);
    if (fz_msg_enum_bad(&m)) {
        FUZZ_CHECK(r == DNSTAP_ERR_ENUM, "message with an out-of-schema enum encoded with result %d", (int)r);
        FUZZ_CHECK(untouched(a, cap) && untouched(b, cap), "failed encode wrote into the buffer");
        goto out;
    }
    if (fz_readers_reject(&m)) {
        FUZZ_CHECK(r == DNSTAP_ERR_INVALID, "message breaking a reader's rule encoded with result %d", (int)r);
        FUZZ_CHECK(untouched(a, cap) && untouched(b, cap), "failed encode wrote into the buffer");
        goto out;
    }
    /* inputs are below the default payload_max in practice; only then is TOO_LONG impossible */
    if (size > DNSTAP_PAYLOAD_MAX_DEFAULT && r == DNSTAP_ERR_TOO_LONG) goto out;
    FUZZ_CHECK(r == DNSTAP_OK, "re-encoding a decoded message failed: %d (%s)", (int)r, dnstap_result_str(r));
    FUZZ_CHECK(na == nb && memcmp(a, b, na) == 0, "direct writer (%zu bytes) and nanopb (%zu bytes) differ", na, nb);
    FUZZ_CHECK(na <= size, "canonical re-encoding (%zu) longer than the input (%zu)", na, size);
    FUZZ_CHECK(untouched(a + na, cap - na) && untouched(b + nb, cap - nb), "encoder wrote past *len");

    r = dnstap_encoded_size(&enc, &m, &ns);
    FUZZ_CHECK(r == DNSTAP_OK && ns == na, "encoded_size %d/%zu, encode %zu", (int)r, ns, na);
    r = dnstap_encode_frame(&enc, &m, fr, cap + 4, &nf);
    FUZZ_CHECK(r == DNSTAP_OK && nf == na + 4, "encode_frame %d/%zu, encode %zu", (int)r, nf, na);
    FUZZ_CHECK(fr[0] == (uint8_t)(na >> 24) && fr[1] == (uint8_t)(na >> 16) && fr[2] == (uint8_t)(na >> 8) &&
               fr[3] == (uint8_t)na && memcmp(fr + 4, a, na) == 0, "frame is not BE32 length + payload");

    /* exact cap works, one byte less is NOSPACE with nothing written */
    memset(b, CANARY, cap);
    r = dnstap_encode(&enc, &m, b, na, &nb);
    FUZZ_CHECK(r == DNSTAP_OK && nb == na && memcmp(a, b, na) == 0, "encode with cap == size: %d", (int)r);
    memset(b, CANARY, cap);
    r = dnstap_encode(&enc, &m, b, na - 1, &nb);
    FUZZ_CHECK(r == DNSTAP_ERR_NOSPACE && untouched(b, cap), "encode with cap == size-1: %d", (int)r);
    r = dnstap_encode_nanopb(&enc, &m, b, na - 1, &nb);
    FUZZ_CHECK(r == DNSTAP_ERR_NOSPACE && untouched(b, cap), "nanopb with cap == size-1: %d", (int)r);

    /* exact payload_max works, one less is TOO_LONG (when init allows it) */
    desc.payload_max = (uint32_t)na;
    r = dnstap_encoder_init(&enc2, &desc);
    FUZZ_CHECK(r == DNSTAP_OK, "encoder_init(payload_max=%zu) %d", na, (int)r);
    r = dnstap_encode(&enc2, &m, b, cap, &nb);
    FUZZ_CHECK(r == DNSTAP_OK && nb == na && memcmp(a, b, na) == 0, "encode at payload_max == size: %d", (int)r);
    if (na - 1 >= 6) {
        desc.payload_max = (uint32_t)(na - 1);
        r = dnstap_encoder_init(&enc2, &desc);
        FUZZ_CHECK(r == DNSTAP_OK, "encoder_init(payload_max=%zu) %d", na - 1, (int)r);
        memset(b, CANARY, cap);
        r = dnstap_encode(&enc2, &m, b, cap, &nb);
        FUZZ_CHECK(r == DNSTAP_ERR_TOO_LONG && untouched(b, cap), "encode at payload_max == size-1: %d", (int)r);
        r = dnstap_encode_nanopb(&enc2, &m, b, cap, &nb);
        FUZZ_CHECK(r == DNSTAP_ERR_TOO_LONG && untouched(b, cap), "nanopb at payload_max == size-1: %d", (int)r);
    }

    /* the round trip */
    r = dnstap_decode(a, na, &m2);
    FUZZ_CHECK(r == DNSTAP_OK, "decoding the re-encoded payload failed: %d", (int)r);
    where = fz_bytes_outside(&m2, a, na);
    FUZZ_CHECK(where == NULL, "re-decoded field %s outside the payload", where);
    where = fz_msg_diff(&m, &m2);
    FUZZ_CHECK(where == NULL, "round trip changed %s", where);
    memset(b, CANARY, cap);
    r = dnstap_encode(&enc, &m2, b, cap, &nb);
    FUZZ_CHECK(r == DNSTAP_OK && nb == na && memcmp(a, b, na) == 0, "encoding is not idempotent: %d %zu/%zu",
               (int)r, nb, na);
    r = dnstap_decode(b, nb, &m3);
    FUZZ_CHECK(r == DNSTAP_OK && fz_msg_diff(&m2, &m3) == NULL, "second round trip differs");

out:
    free(fr);
    free(b);
    free(a);
    free(in);
    return 0;
}
