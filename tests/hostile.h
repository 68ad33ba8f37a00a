/* hostile.h - lengths no dnstap message can hold, and the message fields
   they go into, for the tests of every encode path (test_unit.c,
   test_tap.c). Include after dnstap.h.

   A caller's `end - p` with p past end is near SIZE_MAX; fields of 2^63
   bytes (2^31 on 32-bit targets) add up to a multiple of SIZE_MAX + 1. The
   data pointer of such a field points at hostile_data, a few real bytes,
   so that reading past them is an ASan report, not a silent read. */
#ifndef HOSTILE_H
#define HOSTILE_H
#include <stdint.h>
#include <stddef.h>

static const uint8_t hostile_data[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };

#define HOSTILE_NEAR_MAX 301u   /* SIZE_MAX - k for k in 0..300 */
#define HOSTILE_WIDE 8u
#define HOSTILE_LENS (HOSTILE_NEAR_MAX + HOSTILE_WIDE)

/* The i-th hostile length, i < HOSTILE_LENS; 0 when size_t cannot hold it
   (2^32 and up on 32-bit targets): skip those. */
static size_t hostile_len(unsigned i) {
    static const uint64_t wide[HOSTILE_WIDE] = {
        (uint64_t)1 << 32, (uint64_t)1 << 40, (uint64_t)1 << 63, ((uint64_t)1 << 32) - 1,
        (uint64_t)1 << 31, ((uint64_t)1 << 31) - 1, (uint64_t)DNSTAP_PAYLOAD_MAX_LIMIT + 1,
        (uint64_t)SIZE_MAX / 3 + 1 };
    if (i < HOSTILE_NEAR_MAX) return SIZE_MAX - i;
    i -= HOSTILE_NEAR_MAX;
    return i < HOSTILE_WIDE && wide[i] <= SIZE_MAX ? (size_t)wide[i] : 0;
}

/* The bytes fields the encoder copies from the caller (addresses apart:
   their length is checked against 4 and 16 first). */
#define HOSTILE_FIELDS 9u
static dnstap_bytes_t *hostile_field(dnstap_msg_t *m, unsigned i) {
    switch (i) {
    case 0: return &m->query_message;
    case 1: return &m->response_message;
    case 2: return &m->query_zone;
    case 3: return &m->policy.type;
    case 4: return &m->policy.rule;
    case 5: return &m->policy.value;
    case 6: return &m->identity;
    case 7: return &m->version;
    default: return &m->extra;
    }
}

static void hostile_set(dnstap_msg_t *m, unsigned field, size_t len) {
    dnstap_bytes_t *b = hostile_field(m, field);
    b->data = hostile_data;
    b->len = len;
}

/* Combinations of several huge fields whose sum wraps (or comes close):
   combination c < HOSTILE_COMBOS sets some fields of m. */
#define HOSTILE_COMBOS (6u + 2u * HOSTILE_NEAR_MAX)
static void hostile_combo(dnstap_msg_t *m, unsigned c) {
    const size_t half = SIZE_MAX / 2 + 1;   /* 2^63, or 2^31 */
    unsigned f;
    if (c == 0) { hostile_set(m, 0, half); hostile_set(m, 1, half); return; }
    if (c == 1) { hostile_set(m, 3, half); hostile_set(m, 5, half); return; }
    if (c == 2) { hostile_set(m, 6, half); hostile_set(m, 0, half); return; }
    if (c == 3) { for (f = 0; f < 3; f++) hostile_set(m, f, SIZE_MAX / 3 + 1); return; }
    if (c == 4) { for (f = 0; f < HOSTILE_FIELDS; f++) hostile_set(m, f, SIZE_MAX / HOSTILE_FIELDS + 1); return; }
    if (c == 5) { for (f = 0; f < HOSTILE_FIELDS; f++) hostile_set(m, f, SIZE_MAX - f); return; }
    c -= 6;
    /* SIZE_MAX - k next to a real field of up to 8 bytes, or to one of
       2^31: the sum of the message's lengths wraps to a few bytes for
       some k */
    if (c < HOSTILE_NEAR_MAX) {
        hostile_set(m, 1, SIZE_MAX - c);
        hostile_set(m, 4, c % (sizeof hostile_data + 1));
    } else {
        hostile_set(m, 5, SIZE_MAX - (c - HOSTILE_NEAR_MAX));
        hostile_set(m, 8, (size_t)1 << 31);
    }
}

/* Whether combination c makes only the DNS messages (query_message,
   response_message) hostile: a tap that leaves them out accepts it. */
#define HOSTILE_COMBO_DNS_ONLY(c) ((c) == 0 || ((c) >= 6 && (c) < 6 + HOSTILE_NEAR_MAX))
#endif
