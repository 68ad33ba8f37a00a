/* Unit tests of the core layers: encoder (against nanopb's pb_encode() as
   the oracle), decoder, Frame Streams writer and reader, file writer, and
   the real-server files in the shared test data.
   Usage: test_unit [TESTDATA_DIR]   (default tests/testdata) */
#define DNSTAP_IMPLEMENTATION
#include "../dnstap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>

#define TEST_FULL_DISK
#include "test.h"
#include "hostile.h"

static const char *testdata_dir = "tests/testdata";

/* ---- the benchmark workload message (../shared/docs/bench-workload.md) ---- */
static const uint8_t wl_query[29] = {
    0x4e, 0x21, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'o', 'r', 'g', 0, 0x00, 0x01, 0x00, 0x01 };
static const uint8_t wl_response[45] = {
    0x4e, 0x21, 0x81, 0x80, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
    7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'o', 'r', 'g', 0, 0x00, 0x01, 0x00, 0x01,
    0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01, 0x00, 0x01, 0x51, 0x43, 0x00, 0x04, 0x5d, 0xb8, 0xd8, 0x22 };
static const uint8_t wl_qaddr[4] = { 192, 0, 2, 1 };
static const uint8_t wl_raddr[4] = { 192, 0, 2, 53 };

static void workload_encoder(dnstap_encoder_t *enc) {
    dnstap_encoder_desc_t d;
    memset(&d, 0, sizeof d);
    d.identity = dnstap_str("resolver1");
    d.version = dnstap_str("dnstap-bench 1.0");
    if (dnstap_encoder_init(enc, &d) != DNSTAP_OK) abort();
}

static void workload_msg(dnstap_msg_t *m, int response) {
    memset(m, 0, sizeof *m);
    m->type = response ? DNSTAP_CLIENT_RESPONSE : DNSTAP_CLIENT_QUERY;
    m->socket_family = DNSTAP_INET;
    m->socket_protocol = DNSTAP_UDP;
    m->query_address.data = wl_qaddr; m->query_address.len = 4;
    m->response_address.data = wl_raddr; m->response_address.len = 4;
    m->query_port = 53000; m->response_port = 53;
    m->has |= DNSTAP_HAS_QUERY_PORT | DNSTAP_HAS_RESPONSE_PORT;
    dnstap_msg_set_query_time(m, 1700000000, 0);
    m->query_message.data = wl_query; m->query_message.len = sizeof wl_query;
    if (response) {
        dnstap_msg_set_response_time(m, 1700000000, 137000);
        m->response_message.data = wl_response; m->response_message.len = sizeof wl_response;
    }
}

/* ---- field-by-field comparison of two messages ---- */
static int bytes_eq(dnstap_bytes_t a, dnstap_bytes_t b) {
    if ((a.data == NULL) != (b.data == NULL)) return 0;
    if (a.data == NULL) return 1;
    return a.len == b.len && (a.len == 0 || memcmp(a.data, b.data, a.len) == 0);
}

static int policy_present(const dnstap_msg_t *m) {
    return (m->has & DNSTAP_HAS_POLICY) || m->policy.type.data || m->policy.rule.data ||
           m->policy.value.data || m->policy.action || m->policy.match;
}

/* Equal as dnstap messages; identity/version/extra compared separately. */
static int msg_eq(const dnstap_msg_t *a, const dnstap_msg_t *b) {
    uint32_t ints = DNSTAP_HAS_QUERY_PORT | DNSTAP_HAS_RESPONSE_PORT | DNSTAP_HAS_QUERY_TIME |
                    DNSTAP_HAS_RESPONSE_TIME;
    if (a->type != b->type || a->socket_family != b->socket_family ||
        a->socket_protocol != b->socket_protocol || a->http_protocol != b->http_protocol) return 0;
    if ((a->has & ints) != (b->has & ints)) return 0;
    if ((a->has & DNSTAP_HAS_QUERY_PORT) && a->query_port != b->query_port) return 0;
    if ((a->has & DNSTAP_HAS_RESPONSE_PORT) && a->response_port != b->response_port) return 0;
    if ((a->has & DNSTAP_HAS_QUERY_TIME_SEC) && a->query_time_sec != b->query_time_sec) return 0;
    if ((a->has & DNSTAP_HAS_QUERY_TIME_NSEC) && a->query_time_nsec != b->query_time_nsec) return 0;
    if ((a->has & DNSTAP_HAS_RESPONSE_TIME_SEC) && a->response_time_sec != b->response_time_sec) return 0;
    if ((a->has & DNSTAP_HAS_RESPONSE_TIME_NSEC) && a->response_time_nsec != b->response_time_nsec) return 0;
    if (!bytes_eq(a->query_address, b->query_address) || !bytes_eq(a->response_address, b->response_address) ||
        !bytes_eq(a->query_message, b->query_message) || !bytes_eq(a->query_zone, b->query_zone) ||
        !bytes_eq(a->response_message, b->response_message)) return 0;
    if (policy_present(a) != policy_present(b)) return 0;
    if (!bytes_eq(a->policy.type, b->policy.type) || !bytes_eq(a->policy.rule, b->policy.rule) ||
        !bytes_eq(a->policy.value, b->policy.value) || a->policy.action != b->policy.action ||
        a->policy.match != b->policy.match) return 0;
    return 1;
}

/* ---- a small deterministic PRNG ---- */
static uint64_t rng_state = 0x9E3779B97F4A7C15u;
static uint32_t rnd(void) {
    rng_state ^= rng_state << 13; rng_state ^= rng_state >> 7; rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}
static uint32_t rnd_below(uint32_t n) { return n ? rnd() % n : 0; }

static uint8_t pool[200000];   /* random bytes that fields point into */

static dnstap_bytes_t rnd_bytes(uint32_t chance, size_t maxlen) {
    dnstap_bytes_t b = { NULL, 0 };
    if (rnd_below(100) < chance) {
        uint32_t shape = rnd_below(12), edge = 7u << rnd_below(2);   /* 7 or 14 bits */
        b.len = shape == 0 ? 0 : shape == 1 ? maxlen : rnd_below((uint32_t)maxlen + 1);
        /* a length at a varint boundary: 127, 128, 129, 16383, 16384, 16385 */
        if (shape >= 10 && ((size_t)1 << edge) + 1 <= maxlen) b.len = ((size_t)1 << edge) + rnd_below(3) - 1;
        b.data = pool + rnd_below((uint32_t)(sizeof pool - b.len));
    }
    return b;
}

/* Values at the edges where a varint grows a byte (2^7k - 1, 2^7k,
   2^7k + 1) come often: an encoder off by one there writes what no reader
   takes. */
static uint64_t rnd_u64(void) {
    switch (rnd_below(6)) {
    case 0: return 0;
    case 1: return rnd_below(200);
    case 2: return ((uint64_t)rnd() << 32) | rnd();
    case 3: return ((uint64_t)1 << rnd_below(64)) - 1;
    case 4: return (uint64_t)1 << rnd_below(64);
    default: return ((uint64_t)1 << (7 * (1 + rnd_below(9)))) + rnd_below(3) - 1;
    }
}

static uint32_t rnd_u32(void) {
    switch (rnd_below(5)) {
    case 0: return 0;
    case 1: return 0xFFFFFFFFu;
    case 2: return rnd_below(200);
    case 3: return (uint32_t)((1u << (7 * (1 + rnd_below(4)))) + rnd_below(3) - 1);   /* varint edges */
    default: return rnd() >> rnd_below(32);
    }
}

static void rnd_msg(dnstap_msg_t *m, size_t maxlen) {
    memset(m, 0, sizeof *m);
    m->type = (dnstap_message_type_t)(1 + rnd_below(14));
    if (rnd_below(2)) m->socket_family = (dnstap_socket_family_t)(1 + rnd_below(2));
    if (rnd_below(2)) m->socket_protocol = (dnstap_socket_protocol_t)(1 + rnd_below(7));
    if (rnd_below(4) == 0) m->http_protocol = (dnstap_http_protocol_t)(1 + rnd_below(3));
    m->has = rnd() & (DNSTAP_HAS_QUERY_PORT | DNSTAP_HAS_RESPONSE_PORT | DNSTAP_HAS_QUERY_TIME |
                      DNSTAP_HAS_RESPONSE_TIME);
    /* mostly what readers accept (16-bit ports, nanoseconds below 1e9,
       addresses of the family's length), at times not */
    m->query_port = rnd_u32() % (rnd_below(8) ? 65536u : 0xFFFFFFFFu);
    m->response_port = rnd_u32() % (rnd_below(8) ? 65536u : 0xFFFFFFFFu);
    m->query_time_sec = rnd_u64(); m->response_time_sec = rnd_u64();
    m->query_time_nsec = rnd_u32() % (rnd_below(8) ? 1000000000u : 0xFFFFFFFFu);
    m->response_time_nsec = rnd_u32() % (rnd_below(8) ? 1000000000u : 0xFFFFFFFFu);
    m->query_address = rnd_bytes(60, 16);
    m->response_address = rnd_bytes(60, 16);
    if (rnd_below(8)) {
        size_t len = m->socket_family == DNSTAP_INET6 || (!m->socket_family && rnd_below(2)) ? 16 : 4;
        if (m->query_address.data) { m->query_address.data = pool + 16 * rnd_below(1000); m->query_address.len = len; }
        if (m->response_address.data) { m->response_address.data = pool + 16 * rnd_below(1000); m->response_address.len = len; }
    }
    m->query_message = rnd_bytes(60, maxlen);
    m->query_zone = rnd_bytes(20, 255);
    m->response_message = rnd_bytes(50, maxlen);
    if (rnd_below(4) == 0) {
        if (rnd_below(2)) m->has |= DNSTAP_HAS_POLICY;
        m->policy.type = rnd_bytes(50, 40);
        m->policy.rule = rnd_bytes(50, 300);
        m->policy.value = rnd_bytes(50, 300);
        if (rnd_below(2)) m->policy.action = (dnstap_policy_action_t)(1 + rnd_below(6));
        if (rnd_below(2)) m->policy.match = (dnstap_policy_match_t)(1 + rnd_below(5));
    }
    if (rnd_below(8) == 0) m->identity = rnd_bytes(100, 50);
    if (rnd_below(8) == 0) m->version = rnd_bytes(100, 50);
    if (rnd_below(4) == 0) m->extra = rnd_bytes(100, 300);
}

/* ======================================================================== */

static void test_workload_frame_sizes(void) {
    dnstap_encoder_t enc;
    dnstap_msg_t m;
    uint8_t buf[512] = { 0 };
    size_t n = 0;
    workload_encoder(&enc);
    workload_msg(&m, 1);
    CHECK_EQ(dnstap_encode_frame(&enc, &m, buf, sizeof buf, &n), DNSTAP_OK);
    CHECK_EQ(n, 161);                          /* bench-workload.md */
    CHECK_EQ(buf[0] | buf[1] | buf[2], 0);
    CHECK_EQ(buf[3], 157);
    workload_msg(&m, 0);
    CHECK_EQ(dnstap_encode_frame(&enc, &m, buf, sizeof buf, &n), DNSTAP_OK);
    CHECK_EQ(n, 103);
    CHECK_EQ(dnstap_encoded_size(&enc, &m, &n), DNSTAP_OK);
    CHECK_EQ(n, 99);
}

static void test_start_frame_bytes(void) {
    /* the 42-byte START example of docs/protocol.md */
    static const uint8_t want[42] = {
        0, 0, 0, 0, 0, 0, 0, 0x22, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0x16,
        'p', 'r', 'o', 't', 'o', 'b', 'u', 'f', ':', 'd', 'n', 's', 't', 'a', 'p', '.',
        'D', 'n', 's', 't', 'a', 'p' };
    static const char *const ct[1] = { DNSTAP_CONTENT_TYPE };
    uint8_t buf[64];
    size_t n = 0;
    CHECK_EQ(dnstap_control_frame(buf, sizeof buf, DNSTAP_CONTROL_START, ct, 1, &n), DNSTAP_OK);
    CHECK_EQ(n, 42);
    CHECK(memcmp(buf, want, 42) == 0);
    CHECK_EQ(dnstap_control_frame(buf, 41, DNSTAP_CONTROL_START, ct, 1, &n), DNSTAP_ERR_NOSPACE);
    CHECK_EQ(dnstap_control_frame(buf, sizeof buf, DNSTAP_CONTROL_STOP, NULL, 0, &n), DNSTAP_OK);
    CHECK_EQ(n, 12);
    CHECK(buf[7] == 4 && buf[11] == 3);
}

/* The tap builds READY, START and STOP from constants (no strlen() in
   firmware): the same bytes as dnstap_control_frame(). */
static void test_tap_control_frames(void) {
    static const char *const ct[1] = { DNSTAP_CONTENT_TYPE };
    static const dnstap_control_t types[3] = { DNSTAP_CONTROL_READY, DNSTAP_CONTROL_START, DNSTAP_CONTROL_STOP };
    static dnstap_t tap;
    uint8_t want[64];
    size_t i, n = 0;
    for (i = 0; i < 3; i++) {
        CHECK_EQ(dnstap_control_frame(want, sizeof want, types[i], ct, types[i] == DNSTAP_CONTROL_STOP ? 0 : 1, &n),
                 DNSTAP_OK);
        memset(&tap, 0xA5, sizeof tap);
        dnstap__start_ctl(&tap, types[i], DNSTAP__S_RUNNING);
        CHECK_EQ(tap.ctl_len, n);
        CHECK(memcmp(tap.ctl, want, n) == 0);
    }
}

/* The tap reads its receiver's replies into DNSTAP_REPLY_MAX bytes (128 on
   firmware): a control frame that does not fit is refused, whole or in
   pieces, and one that fits is read in pieces. */
static void test_small_reply_buffer(void) {
    static const char *const ct[1] = { DNSTAP_CONTENT_TYPE };
    static const char *const many[3] = { DNSTAP_CONTENT_TYPE, "protobuf:other.Type.Name.Long", "x" };
    uint8_t buf[64], in[200];
    dnstap_reader_t r;
    dnstap_frame_t f;
    size_t n = 0, used, i;
    dnstap_result_t e = DNSTAP_ERR_AGAIN;
    CHECK_EQ(dnstap_control_frame(in, sizeof in, DNSTAP_CONTROL_ACCEPT, ct, 1, &n), DNSTAP_OK);
    dnstap__reader_setup(&r, buf, 48);
    r.role = DNSTAP_READ_RECEIVER_REPLIES;
    for (i = 0; i < n && e == DNSTAP_ERR_AGAIN; i++) e = dnstap_reader_feed(&r, in + i, 1, &used, &f);
    CHECK_EQ(e, DNSTAP_OK);
    CHECK(i == n && f.control == DNSTAP_CONTROL_ACCEPT && dnstap_frame_has_content_type(&f, DNSTAP_CONTENT_TYPE));
    /* a second ACCEPT is out of sequence */
    CHECK_EQ(dnstap_reader_feed(&r, in, n, &used, &f), DNSTAP_ERR_SEQUENCE);
    /* 3 content types: a body of 4 + 3 * 8 + 22 + 29 + 1 = 80 bytes, above 48 */
    CHECK_EQ(dnstap_control_frame(in, sizeof in, DNSTAP_CONTROL_ACCEPT, many, 3, &n), DNSTAP_OK);
    dnstap__reader_setup(&r, buf, 48);
    r.role = DNSTAP_READ_RECEIVER_REPLIES;
    e = DNSTAP_ERR_AGAIN;
    for (i = 0; i < n && e == DNSTAP_ERR_AGAIN; i++) e = dnstap_reader_feed(&r, in + i, 1, &used, &f);
    CHECK_EQ(e, DNSTAP_ERR_CONTROL_TOO_BIG);
    dnstap__reader_setup(&r, buf, 48);
    r.role = DNSTAP_READ_RECEIVER_REPLIES;
    CHECK_EQ(dnstap_reader_feed(&r, in, n, &used, &f), DNSTAP_ERR_CONTROL_TOO_BIG);
}

/* Every value of every enum, encoded by both writers and decoded back. */
static void roundtrip_one(const dnstap_encoder_t *enc, const dnstap_msg_t *m) {
    uint8_t a[70000], b[70000];
    size_t na = 0, nb = 0;
    dnstap_msg_t d;
    CHECK_EQ(dnstap_encode(enc, m, a, sizeof a, &na), DNSTAP_OK);
    CHECK_EQ(dnstap_encode_nanopb(enc, m, b, sizeof b, &nb), DNSTAP_OK);
    CHECK(na == nb && memcmp(a, b, na) == 0);
    CHECK_EQ(dnstap_decode(a, na, &d), DNSTAP_OK);
    CHECK(msg_eq(m, &d));
}

static void test_roundtrip_every_value(void) {
    dnstap_encoder_t enc;
    dnstap_msg_t m, d;
    uint8_t buf[512];
    size_t n = 0;
    static const uint8_t v6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x53 };
    int v;
    workload_encoder(&enc);
    workload_msg(&m, 1);
    for (v = 1; v <= 14; v++) { m.type = (dnstap_message_type_t)v; roundtrip_one(&enc, &m); }
    for (v = 1; v <= 2; v++) {
        m.socket_family = (dnstap_socket_family_t)v;
        m.query_address.data = v == 1 ? wl_qaddr : v6;
        m.query_address.len = v == 1 ? 4 : 16;
        m.response_address = m.query_address;
        roundtrip_one(&enc, &m);
    }
    for (v = 1; v <= 7; v++) { m.socket_protocol = (dnstap_socket_protocol_t)v; roundtrip_one(&enc, &m); }
    for (v = 1; v <= 3; v++) { m.http_protocol = (dnstap_http_protocol_t)v; roundtrip_one(&enc, &m); }
    m.policy.type = dnstap_str("RPZ");
    m.policy.rule = dnstap_str("bad.example.rpz.");
    m.policy.value = dnstap_str("\3bad\7example\0");
    for (v = 1; v <= 6; v++) { m.policy.action = (dnstap_policy_action_t)v; roundtrip_one(&enc, &m); }
    for (v = 1; v <= 5; v++) { m.policy.match = (dnstap_policy_match_t)v; roundtrip_one(&enc, &m); }
    m.query_zone = dnstap_str("\7example\3org");
    roundtrip_one(&enc, &m);
    /* identity and version come back as configured */
    CHECK_EQ(dnstap_encode(&enc, &m, buf, 10, &n), DNSTAP_ERR_NOSPACE);
    workload_msg(&m, 1);
    CHECK_EQ(dnstap_encode(&enc, &m, buf, sizeof buf, &n), DNSTAP_OK);
    CHECK_EQ(dnstap_decode(buf, n, &d), DNSTAP_OK);
    CHECK(bytes_eq(d.identity, dnstap_str("resolver1")));
    CHECK(bytes_eq(d.version, dnstap_str("dnstap-bench 1.0")));
    CHECK(d.extra.data == NULL);
    /* the decoder points into its input: no copy */
    CHECK(d.query_message.data >= buf && d.query_message.data + d.query_message.len <= buf + n);
}

/* Presence is explicit: port 0 is not an absent port; empty is not absent. */
static void test_presence(void) {
    dnstap_encoder_t enc;
    dnstap_msg_t m, d;
    uint8_t a[256], b[256];
    size_t na = 0, nb = 0;
    dnstap_encoder_init(&enc, NULL);
    memset(&m, 0, sizeof m);
    m.type = DNSTAP_AUTH_QUERY;
    CHECK_EQ(dnstap_encode(&enc, &m, a, sizeof a, &na), DNSTAP_OK);
    m.has = DNSTAP_HAS_QUERY_PORT;       /* port 0, present */
    CHECK_EQ(dnstap_encode(&enc, &m, b, sizeof b, &nb), DNSTAP_OK);
    CHECK_EQ(nb, na + 2);
    CHECK_EQ(dnstap_decode(b, nb, &d), DNSTAP_OK);
    CHECK((d.has & DNSTAP_HAS_QUERY_PORT) && d.query_port == 0);
    CHECK_EQ(dnstap_decode(a, na, &d), DNSTAP_OK);
    CHECK(!(d.has & DNSTAP_HAS_QUERY_PORT));
    m.has = 0;
    m.query_message.data = (const uint8_t *)"";   /* present, empty */
    CHECK_EQ(dnstap_encode(&enc, &m, b, sizeof b, &nb), DNSTAP_OK);
    CHECK_EQ(nb, na + 2);
    CHECK_EQ(dnstap_decode(b, nb, &d), DNSTAP_OK);
    CHECK(d.query_message.data != NULL && d.query_message.len == 0);
    m.query_message.data = NULL;
    m.has = DNSTAP_HAS_POLICY;                    /* empty policy, present */
    CHECK_EQ(dnstap_encode(&enc, &m, b, sizeof b, &nb), DNSTAP_OK);
    CHECK_EQ(nb, na + 2);
    CHECK_EQ(dnstap_decode(b, nb, &d), DNSTAP_OK);
    CHECK(d.has & DNSTAP_HAS_POLICY);
}

/* Thousands of random messages: identical bytes from both writers. */
static void test_differential_random(void) {
    static uint8_t a[300000], b[300000];
    dnstap_encoder_t encs[4];
    dnstap_encoder_desc_t d;
    unsigned i, same = 0, ok = 0;
    for (i = 0; i < sizeof pool; i++) pool[i] = (uint8_t)rnd();
    memset(&d, 0, sizeof d);
    dnstap_encoder_init(&encs[0], &d);
    d.identity = dnstap_str("ns1.example");
    d.version = dnstap_str("");
    dnstap_encoder_init(&encs[1], &d);
    d.extra.data = pool; d.extra.len = 300;
    dnstap_encoder_init(&encs[2], &d);
    d.payload_max = 600;
    dnstap_encoder_init(&encs[3], &d);
    for (i = 0; i < 20000; i++) {
        dnstap_msg_t m, dm;
        const dnstap_encoder_t *enc = &encs[i % 4];
        size_t na = 0, nb = 0, cap = rnd_below(8) ? sizeof a : rnd_below(700);
        dnstap_result_t ra, rb;
        rnd_msg(&m, i % 50 == 0 ? 131000 : rnd_below(2) ? 512 : 65535);
        ra = dnstap_encode(enc, &m, a, cap, &na);
        rb = dnstap_encode_nanopb(enc, &m, b, cap, &nb);
        if (ra != rb || na != nb || memcmp(a, b, na) != 0) {
            printf("  message %u: direct %d/%zu nanopb %d/%zu\n", i, ra, na, rb, nb);
            CHECK(0);
            break;
        }
        same++;
        if (ra != DNSTAP_OK) continue;
        ok++;
        CHECK_EQ(dnstap_decode(a, na, &dm), DNSTAP_OK);
        if (!msg_eq(&m, &dm)) { printf("  message %u: decode differs\n", i); CHECK(0); break; }
    }
    CHECK_EQ(same, 20000);
    CHECK(ok > 10000);   /* most of them must be real encodings, not errors */
}

static void test_encode_errors(void) {
    dnstap_encoder_t enc;
    dnstap_encoder_desc_t d;
    dnstap_msg_t m;
    static uint8_t buf[300000], big[300000];
    size_t n = 123, need, cap;
    workload_encoder(&enc);
    workload_msg(&m, 1);
    m.type = (dnstap_message_type_t)0;
    CHECK_EQ(dnstap_encode(&enc, &m, buf, sizeof buf, &n), DNSTAP_ERR_MISSING);
    CHECK_EQ(n, 0);
    CHECK_EQ(dnstap_encode_nanopb(&enc, &m, buf, sizeof buf, &n), DNSTAP_ERR_MISSING);
    m.type = (dnstap_message_type_t)15;
    CHECK_EQ(dnstap_encode(&enc, &m, buf, sizeof buf, &n), DNSTAP_ERR_ENUM);
    workload_msg(&m, 1); m.socket_family = (dnstap_socket_family_t)3;
    CHECK_EQ(dnstap_encode(&enc, &m, buf, sizeof buf, &n), DNSTAP_ERR_ENUM);
    workload_msg(&m, 1); m.socket_protocol = (dnstap_socket_protocol_t)8;
    CHECK_EQ(dnstap_encode(&enc, &m, buf, sizeof buf, &n), DNSTAP_ERR_ENUM);
    workload_msg(&m, 1); m.http_protocol = (dnstap_http_protocol_t)-1;
    CHECK_EQ(dnstap_encode(&enc, &m, buf, sizeof buf, &n), DNSTAP_ERR_ENUM);
    workload_msg(&m, 1); m.policy.action = (dnstap_policy_action_t)7;
    CHECK_EQ(dnstap_encode(&enc, &m, buf, sizeof buf, &n), DNSTAP_ERR_ENUM);
    workload_msg(&m, 1); m.policy.match = (dnstap_policy_match_t)6;
    CHECK_EQ(dnstap_encode_nanopb(&enc, &m, buf, sizeof buf, &n), DNSTAP_ERR_ENUM);

    /* too long for the frame limit vs. too long for the caller's buffer */
    workload_msg(&m, 1);
    m.response_message.data = big;
    m.response_message.len = DNSTAP_PAYLOAD_MAX_DEFAULT;
    CHECK_EQ(dnstap_encode(&enc, &m, buf, sizeof buf, &n), DNSTAP_ERR_TOO_LONG);
    CHECK_EQ(dnstap_encode_nanopb(&enc, &m, buf, sizeof buf, &n), DNSTAP_ERR_TOO_LONG);
    m.response_message.len = 65535;
    CHECK_EQ(dnstap_encode(&enc, &m, buf, 1000, &n), DNSTAP_ERR_NOSPACE);
    memset(&d, 0, sizeof d);
    d.payload_max = DNSTAP_PAYLOAD_MAX_GOLANG;
    dnstap_encoder_init(&enc, &d);
    m.query_message.data = big; m.query_message.len = 40000;
    CHECK_EQ(dnstap_encode(&enc, &m, buf, sizeof buf, &n), DNSTAP_ERR_TOO_LONG);
    m.query_message.len = 30000;
    CHECK_EQ(dnstap_encode(&enc, &m, buf, sizeof buf, &n), DNSTAP_OK);
    CHECK(n <= DNSTAP_PAYLOAD_MAX_GOLANG);

    /* every capacity short of the need fails and leaves the buffer alone */
    workload_encoder(&enc);
    workload_msg(&m, 1);
    CHECK_EQ(dnstap_encode_frame(&enc, &m, buf, sizeof buf, &need), DNSTAP_OK);
    for (cap = 0; cap < need; cap++) {
        memset(buf, 0xA5, need + 1);
        if (dnstap_encode_frame(&enc, &m, buf, cap, &n) != DNSTAP_ERR_NOSPACE ||
            dnstap_encode_nanopb(&enc, &m, buf, cap > 4 ? cap - 4 : 0, &n) != DNSTAP_ERR_NOSPACE ||
            n != 0) { CHECK(0); break; }
        for (n = 0; n <= need; n++) if (buf[n] != 0xA5) break;
        if (n != need + 1) { printf("  cap %zu wrote byte %zu\n", cap, n); CHECK(0); break; }
    }

    /* encoder configuration limits */
    memset(&d, 0, sizeof d);
    d.identity.data = big; d.identity.len = DNSTAP_PREFIX_MAX;
    CHECK_EQ(dnstap_encoder_init(&enc, &d), DNSTAP_ERR_TOO_LONG);
    d.identity.len = 100;
    d.payload_max = DNSTAP_PAYLOAD_MAX_LIMIT + 1;
    CHECK_EQ(dnstap_encoder_init(&enc, &d), DNSTAP_ERR_INVALID);
    d.payload_max = 50;
    CHECK_EQ(dnstap_encoder_init(&enc, &d), DNSTAP_ERR_TOO_LONG);
    CHECK_EQ(dnstap_encoder_init(NULL, &d), DNSTAP_ERR_INVALID);
    /* the smallest message must fit payload_max: the encoder's prefix + 6
       bytes is taken, one byte less is not */
    memset(&d, 0, sizeof d);
    d.identity = dnstap_str("x");   /* 3 bytes encoded */
    d.payload_max = 3 + 6;
    CHECK_EQ(dnstap_encoder_init(&enc, &d), DNSTAP_OK);
    d.payload_max = 3 + 5;
    CHECK_EQ(dnstap_encoder_init(&enc, &d), DNSTAP_ERR_TOO_LONG);
}

/* identity, version and extra: configured once, overridable per message */
static void test_prefix_overrides(void) {
    dnstap_encoder_t enc;
    dnstap_encoder_desc_t d;
    dnstap_msg_t m, dm;
    uint8_t a[512], b[512];
    size_t na = 0, nb = 0;
    memset(&d, 0, sizeof d);
    d.identity = dnstap_str("host-a");
    d.extra = dnstap_str("site=1");
    CHECK_EQ(dnstap_encoder_init(&enc, &d), DNSTAP_OK);
    workload_msg(&m, 0);
    CHECK_EQ(dnstap_encode(&enc, &m, a, sizeof a, &na), DNSTAP_OK);
    CHECK_EQ(dnstap_decode(a, na, &dm), DNSTAP_OK);
    CHECK(bytes_eq(dm.identity, dnstap_str("host-a")) && dm.version.data == NULL &&
          bytes_eq(dm.extra, dnstap_str("site=1")));
    m.extra = dnstap_str("client=7");
    m.version = dnstap_str("v2");
    CHECK_EQ(dnstap_encode(&enc, &m, a, sizeof a, &na), DNSTAP_OK);
    CHECK_EQ(dnstap_encode_nanopb(&enc, &m, b, sizeof b, &nb), DNSTAP_OK);
    CHECK(na == nb && memcmp(a, b, na) == 0);
    CHECK_EQ(dnstap_decode(a, na, &dm), DNSTAP_OK);
    CHECK(bytes_eq(dm.identity, dnstap_str("host-a")) && bytes_eq(dm.version, dnstap_str("v2")) &&
          bytes_eq(dm.extra, dnstap_str("client=7")));
}

static void test_decode_errors(void) {
    dnstap_msg_t m;
    /* hand-made protobuf: field numbers and wire types from the schema */
    static const uint8_t no_type[] = { 0x0a, 0x01, 'x' };                     /* identity only */
    static const uint8_t no_message[] = { 0x78, 0x01 };                       /* type only */
    static const uint8_t msg_no_type[] = { 0x72, 0x02, 0x10, 0x01, 0x78, 0x01 };
    static const uint8_t ok_min[] = { 0x72, 0x02, 0x08, 0x05, 0x78, 0x01 };
    static const uint8_t truncated[] = { 0x72, 0x05, 0x08, 0x05, 0x78, 0x01 };
    static const uint8_t bad_wire[] = { 0x72, 0x02, 0x0b, 0x05, 0x78, 0x01 }; /* wire type 3 */
    static const uint8_t enum_zero[] = { 0x72, 0x04, 0x08, 0x05, 0x10, 0x00, 0x78, 0x01 };
    static const uint8_t type_two[] = { 0x72, 0x02, 0x08, 0x05, 0x78, 0x02 };
    /* an explicit 0 in every other enum: protocol, http_protocol, policy action and match */
    static const uint8_t zeros[4][10] = { { 0x72, 0x04, 0x08, 0x05, 0x18, 0x00, 0x78, 0x01 },
                                          { 0x72, 0x05, 0x08, 0x05, 0x80, 0x01, 0x00, 0x78, 0x01 },
                                          { 0x72, 0x06, 0x08, 0x05, 0x7a, 0x02, 0x18, 0x00, 0x78, 0x01 },
                                          { 0x72, 0x06, 0x08, 0x05, 0x7a, 0x02, 0x20, 0x00, 0x78, 0x01 } };
    static const size_t zero_len[4] = { 8, 9, 10, 10 };
    unsigned z;
    static const uint8_t future_type[] = { 0x72, 0x02, 0x08, 0x0f, 0x78, 0x01 };
    /* bytes fields sent with a scalar wire type (found by fuzzing: nanopb
       hands such a value to the callback from its own stack) */
    static const uint8_t identity_varint[] = { 0x08, 0x05, 0x72, 0x02, 0x08, 0x05, 0x78, 0x01 };
    static const uint8_t qmsg_fixed32[] = { 0x72, 0x07, 0x08, 0x05, 0x55, 1, 2, 3, 4, 0x78, 0x01 };
    static const uint8_t garbage[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    CHECK_EQ(dnstap_decode(ok_min, sizeof ok_min, &m), DNSTAP_OK);
    CHECK_EQ(m.type, DNSTAP_CLIENT_QUERY);
    CHECK_EQ(dnstap_decode(no_type, sizeof no_type, &m), DNSTAP_ERR_MISSING);
    CHECK_EQ(dnstap_decode(no_message, sizeof no_message, &m), DNSTAP_ERR_MISSING);
    CHECK_EQ(dnstap_decode(msg_no_type, sizeof msg_no_type, &m), DNSTAP_ERR_MISSING);
    CHECK_EQ(dnstap_decode(truncated, sizeof truncated, &m), DNSTAP_ERR_DECODE);
    CHECK_EQ(dnstap_decode(bad_wire, sizeof bad_wire, &m), DNSTAP_ERR_DECODE);
    CHECK_EQ(dnstap_decode(enum_zero, sizeof enum_zero, &m), DNSTAP_ERR_ENUM);
    CHECK_EQ(dnstap_decode(type_two, sizeof type_two, &m), DNSTAP_ERR_ENUM);
    for (z = 0; z < 4; z++) {
        uint8_t one[10];
        memcpy(one, zeros[z], zero_len[z]);
        CHECK_EQ(dnstap_decode(one, zero_len[z], &m), DNSTAP_ERR_ENUM);
        one[zero_len[z] - 3] = 1;   /* the same with 1: taken */
        CHECK_EQ(dnstap_decode(one, zero_len[z], &m), DNSTAP_OK);
    }
    CHECK_EQ(dnstap_decode(garbage, sizeof garbage, &m), DNSTAP_ERR_DECODE);
    CHECK_EQ(dnstap_decode(identity_varint, sizeof identity_varint, &m), DNSTAP_ERR_DECODE);
    CHECK_EQ(dnstap_decode(qmsg_fixed32, sizeof qmsg_fixed32, &m), DNSTAP_ERR_DECODE);
    CHECK(m.identity.data == NULL && m.query_message.data == NULL);
    CHECK_EQ(dnstap_decode(NULL, 0, &m), DNSTAP_ERR_MISSING);
    /* an unknown future message type is kept, not rejected */
    CHECK_EQ(dnstap_decode(future_type, sizeof future_type, &m), DNSTAP_OK);
    CHECK_EQ(m.type, 15);
    CHECK_EQ(m.type == 15 ? 0 : 1, 0);
    CHECK(strcmp(dnstap_message_type_str(m.type), "?") == 0);
}

/* ---- a memory sink for the file writer ---- */
typedef struct sink_t {
    uint8_t data[1 << 20];
    size_t len;
    size_t max_per_call;   /* partial writes: take at most this much */
    size_t fail_after;     /* fail once this many bytes were taken (0: never) */
    int calls;
} sink_t;

static int sink_write(void *ctx, const uint8_t *buf, size_t len) {
    sink_t *s = (sink_t *)ctx;
    size_t n = len;
    s->calls++;
    if (s->max_per_call && n > s->max_per_call) n = s->max_per_call;
    if (s->fail_after && s->len + n > s->fail_after) {
        if (s->len >= s->fail_after) return DNSTAP_ERR_IO;
        n = s->fail_after - s->len;
    }
    if (s->len + n > sizeof s->data) return DNSTAP_ERR_IO;
    memcpy(s->data + s->len, buf, n);
    s->len += n;
    return (int)n;
}

static sink_t sink_a, sink_b;
static int read_stream(const uint8_t *in, size_t len, size_t chunk, dnstap_result_t *end,
                       int *data_frames, uint32_t *nsec_sum);

/* A stream of nmsg workload messages through the file writer. */
static void write_stream(sink_t *s, size_t bufsize, int nmsg) {
    static dnstap_encoder_t enc;
    static uint8_t buf[4096];
    dnstap_file_t f;
    dnstap_msg_t m;
    int i;
    workload_encoder(&enc);
    CHECK_EQ(dnstap_file_init(&f, &enc, buf, bufsize, sink_write, s), DNSTAP_OK);
    for (i = 0; i < nmsg; i++) {
        workload_msg(&m, i & 1);
        m.query_time_nsec = (uint32_t)i;
        CHECK_EQ(dnstap_file_log(&f, &m), DNSTAP_OK);
    }
    CHECK_EQ(dnstap_file_close(&f), DNSTAP_OK);
}

static void test_file_writer(void) {
    static dnstap_encoder_t enc;
    static uint8_t buf[4096], frame[512];
    dnstap_file_t f;
    dnstap_msg_t m;
    size_t n;
    memset(&sink_a, 0, sizeof sink_a);
    memset(&sink_b, 0, sizeof sink_b);
    write_stream(&sink_a, sizeof buf, 100);
    CHECK_EQ(sink_a.len, 42 + 50 * 161 + 50 * 103 + 12);
    sink_b.max_per_call = 1;   /* one byte per call: same stream */
    write_stream(&sink_b, 200, 100);
    CHECK(sink_a.len == sink_b.len && memcmp(sink_a.data, sink_b.data, sink_a.len) == 0);
    CHECK(sink_b.calls == (int)sink_b.len);

    /* a failing sink: the error sticks, unwritten bytes stay in the buffer */
    memset(&sink_b, 0, sizeof sink_b);
    sink_b.fail_after = 100;
    workload_encoder(&enc);
    workload_msg(&m, 1);
    CHECK_EQ(dnstap_file_init(&f, &enc, buf, 400, sink_write, &sink_b), DNSTAP_OK);
    CHECK_EQ(dnstap_file_log(&f, &m), DNSTAP_OK);    /* 42 + 161 */
    CHECK_EQ(dnstap_file_log(&f, &m), DNSTAP_OK);    /* 364 */
    CHECK_EQ(dnstap_file_log(&f, &m), DNSTAP_ERR_IO);
    CHECK_EQ(sink_b.len, 100);
    CHECK_EQ(f.written, 100);   /* what the sink took, counted once */
    CHECK_EQ(f.used, 364 - 100);
    CHECK_EQ(dnstap_file_log(&f, &m), DNSTAP_ERR_IO);
    CHECK_EQ(dnstap_file_close(&f), DNSTAP_ERR_IO);
    CHECK_EQ(dnstap_file_log(&f, &m), DNSTAP_ERR_INVALID);

    /* frames larger than the buffer; pre-encoded frames */
    memset(&sink_b, 0, sizeof sink_b);
    CHECK_EQ(dnstap_file_init(&f, &enc, buf, 100, sink_write, &sink_b), DNSTAP_OK);
    CHECK_EQ(dnstap_file_log(&f, &m), DNSTAP_ERR_NOSPACE);
    CHECK_EQ(dnstap_encode_frame(&enc, &m, frame, sizeof frame, &n), DNSTAP_OK);
    CHECK_EQ(dnstap_file_write_frame(&f, frame, n), DNSTAP_ERR_NOSPACE);
    CHECK_EQ(dnstap_file_write_frame(&f, frame, n - 1), DNSTAP_ERR_INVALID);
    workload_msg(&m, 0);
    CHECK_EQ(dnstap_encode_frame(&enc, &m, frame, sizeof frame, &n), DNSTAP_OK);
    CHECK_EQ(dnstap_file_write_frame(&f, frame, n), DNSTAP_ERR_NOSPACE);
    CHECK_EQ(dnstap_file_close(&f), DNSTAP_OK);
    CHECK_EQ(sink_b.len, 42 + 12);
    CHECK_EQ(dnstap_file_init(&f, &enc, buf, 63, sink_write, &sink_b), DNSTAP_ERR_INVALID);

    /* a file of payloads made elsewhere: no encoder needed; bytes counted */
    memset(&sink_b, 0, sizeof sink_b);
    workload_msg(&m, 1);
    CHECK_EQ(dnstap_encode(&enc, &m, frame, sizeof frame, &n), DNSTAP_OK);
    CHECK_EQ(dnstap_file_init(&f, NULL, buf, 300, sink_write, &sink_b), DNSTAP_OK);
    CHECK_EQ(dnstap_file_log(&f, &m), DNSTAP_ERR_INVALID);
    CHECK_EQ(dnstap_file_write_payload(&f, frame, n), DNSTAP_OK);
    CHECK_EQ(dnstap_file_write_payload(&f, frame, n), DNSTAP_OK);   /* drains the first two frames */
    CHECK_EQ(dnstap_file_write_payload(&f, frame, 0), DNSTAP_ERR_INVALID);
    CHECK_EQ(dnstap_file_close(&f), DNSTAP_OK);
    CHECK_EQ(sink_b.len, 42 + 2 * (4 + n) + 12);
    CHECK_EQ(f.written, sink_b.len);
    {
        dnstap_result_t end = DNSTAP_ERR_INVALID;
        int data = 0;
        uint32_t sum = 0;
        CHECK_EQ(read_stream(sink_b.data, sink_b.len, 7, &end, &data, &sum), 4);
        CHECK_EQ(end, DNSTAP_OK);
        CHECK_EQ(data, 2);
    }
    /* a frame that does not fit after a small one: the buffer is written first */
    memset(&sink_b, 0, sizeof sink_b);
    CHECK_EQ(dnstap_file_init(&f, &enc, buf, 164, sink_write, &sink_b), DNSTAP_OK);
    CHECK_EQ(dnstap_file_flush(&f), DNSTAP_OK);
    CHECK_EQ(dnstap_file_write_payload(&f, (const uint8_t *)"\x0a", 1), DNSTAP_OK);   /* 5 bytes */
    workload_msg(&m, 1);
    CHECK_EQ(dnstap_file_log(&f, &m), DNSTAP_OK);   /* 161: fits only once the 5 are written */
    CHECK_EQ(f.used, 161);
    CHECK_EQ(dnstap_file_close(&f), DNSTAP_OK);
    /* a file that is no regular file (/dev/null: fsync() says EINVAL) closes without an error */
    CHECK_EQ(dnstap_file_open(&f, &enc, buf, sizeof buf, "/dev/null"), DNSTAP_OK);
    workload_msg(&m, 1);
    CHECK_EQ(dnstap_file_log(&f, &m), DNSTAP_OK);
    CHECK_EQ(dnstap_file_close(&f), DNSTAP_OK);
}

/* A disk that fills up (here a file size limit: write() takes what fits,
   then fails with EFBIG, as ENOSPC does): the file must end with the last
   frame written whole, then STOP when 12 bytes fit, and f.frames must say
   how many data frames it holds. Each limit cuts the stream elsewhere. */
static dnstap_encoder_t full_disk_enc;
static char full_disk_path[64];

/* The child: log until the file fails, close it; what it holds. */
static int full_disk_file(unsigned limit, void *result) {
    static uint8_t buf[512];
    unsigned long long *got = (unsigned long long *)result;   /* f.frames, f.written */
    dnstap_file_t f;
    dnstap_msg_t m;
    unsigned i;
    (void)limit;
    if (dnstap_file_open(&f, &full_disk_enc, buf, sizeof buf, full_disk_path) != DNSTAP_OK) return 3;
    for (i = 0; i < 100; i++) {
        workload_msg(&m, (int)(i % 3 == 0));
        if (dnstap_file_log(&f, &m) != DNSTAP_OK) break;
    }
    if (i == 100 || dnstap_file_close(&f) != DNSTAP_ERR_IO) return 4;   /* the error is told */
    got[0] = f.frames;
    got[1] = f.written;
    return 0;
}

static void test_file_full_disk(void) {
    static uint8_t file[8192];
    unsigned limit;
    int cases = 0, stopped = 0;
    workload_encoder(&full_disk_enc);
    snprintf(full_disk_path, sizeof full_disk_path, "/tmp/dnstap-full-%d.fstrm", (int)getpid());
    for (limit = 0; limit < 3000; limit += limit < 60 ? 1 : 37) {   /* every cut of START too */
        unsigned long long got[2] = { 0, 0 };   /* f.frames, f.written */
        int frames_read = 0;
        size_t len = test_full_disk_run(limit, full_disk_file, got, sizeof got, full_disk_path, file, sizeof file);
        dnstap_result_t end = DNSTAP_ERR_INVALID;
        uint32_t sum = 0;
        if (len == (size_t)-1) { CHECK(0); return; }
        CHECK(len <= limit);
        CHECK_EQ(len, got[1]);
        if (limit < 42) {   /* START cut: an empty file (a lone STOP is no file either) */
            CHECK_EQ(len, 0);
            CHECK_EQ(got[0], 0);
            cases++;
            continue;
        }
        CHECK(read_stream(file, len, 0, &end, &frames_read, &sum) >= 1);
        CHECK_EQ(frames_read, got[0]);
        /* whole frames, then STOP unless fewer than 12 bytes were left */
        if (limit - len >= 12 || end == DNSTAP_OK) CHECK_EQ(end, DNSTAP_OK);
        else CHECK_EQ(end, DNSTAP_ERR_UNFINISHED);
        stopped += end == DNSTAP_OK;
        cases++;
        if (test_case_failed) { printf("  (limit %u: %zu bytes, end %d)\n", limit, len, (int)end); break; }
    }
    unlink(full_disk_path);
    CHECK(cases > 120 && stopped > (cases - 42) / 2);
}

/* dnstap_file_close() with the buffer filled to every level around the
   12 bytes of STOP: always OK, and the stream ends with STOP. */
static void test_file_close_at_every_fill(void) {
    static dnstap_encoder_t enc;
    static uint8_t buf[300], payload[300];
    dnstap_msg_t m;
    size_t n = 0;
    unsigned k;
    workload_encoder(&enc);
    workload_msg(&m, 1);
    CHECK_EQ(dnstap_encode(&enc, &m, payload, sizeof payload, &n), DNSTAP_OK);
    for (k = 0; k <= 20; k++) {
        dnstap_file_t f;
        dnstap_result_t end = DNSTAP_ERR_INVALID;
        int data = 0;
        uint32_t sum = 0;
        size_t cap = 42 + 4 + n + k;   /* k bytes free after START and one frame */
        memset(&sink_b, 0, sizeof sink_b);
        CHECK_EQ(dnstap_file_init(&f, NULL, buf, cap, sink_write, &sink_b), DNSTAP_OK);
        CHECK_EQ(dnstap_file_write_payload(&f, payload, n), DNSTAP_OK);
        CHECK_EQ(f.used, cap - k);
        CHECK_EQ(dnstap_file_close(&f), DNSTAP_OK);
        CHECK_EQ(sink_b.len, cap - k + 12);
        CHECK_EQ(read_stream(sink_b.data, sink_b.len, 7, &end, &data, &sum), 3);
        CHECK_EQ(end, DNSTAP_OK);
        CHECK_EQ(data, 1);
        if (test_case_failed) { printf("  %u bytes free\n", k); return; }
    }
}

/* Read a stream in the given chunk pattern; returns frames seen or -1. */
static int read_stream(const uint8_t *in, size_t len, size_t chunk, dnstap_result_t *end,
                       int *data_frames, uint32_t *nsec_sum) {
    static uint8_t rbuf[300000];
    dnstap_reader_t r;
    dnstap_frame_t fr;
    size_t pos = 0;
    int frames = 0;
    *data_frames = 0;
    *nsec_sum = 0;
    if (dnstap_reader_init(&r, rbuf, sizeof rbuf) != DNSTAP_OK) return -1;
    while (pos < len) {
        size_t c = chunk ? chunk : 1 + rnd_below(300);
        size_t used = 0;
        dnstap_result_t e;
        if (c > len - pos) c = len - pos;
        e = dnstap_reader_feed(&r, in + pos, c, &used, &fr);
        if (used > c) return -1;
        pos += used;
        if (e == DNSTAP_ERR_AGAIN) continue;
        if (e != DNSTAP_OK) { *end = e; return frames; }
        frames++;
        if (fr.kind == DNSTAP_FRAME_DATA) {
            dnstap_msg_t m;
            if (dnstap_decode(fr.data, fr.len, &m) != DNSTAP_OK) return -1;
            (*data_frames)++;
            *nsec_sum += m.query_time_nsec;
        }
    }
    *end = dnstap_reader_end(&r);
    return frames;
}

static void test_reader_chunks(void) {
    static const size_t chunks[] = { 1, 2, 3, 4, 5, 7, 8, 13, 161, 4096, 0, 0, 0 };
    size_t i;
    memset(&sink_a, 0, sizeof sink_a);
    write_stream(&sink_a, 4096, 100);
    for (i = 0; i < sizeof chunks / sizeof chunks[0]; i++) {
        dnstap_result_t end = DNSTAP_ERR_INVALID;
        int data = 0;
        uint32_t sum = 0;
        int frames = read_stream(sink_a.data, sink_a.len, chunks[i], &end, &data, &sum);
        CHECK_EQ(frames, 102);
        CHECK_EQ(data, 100);
        CHECK_EQ(sum, 99 * 100 / 2);
        CHECK_EQ(end, DNSTAP_OK);
    }
}

/* Builders for hand-made Frame Streams input. */
static size_t put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
    return 4;
}

static size_t control(uint8_t *p, uint32_t type, const char *ct1, const char *ct2) {
    size_t n = 12;
    uint32_t body = 4;
    const char *cts[2];
    int i;
    cts[0] = ct1; cts[1] = ct2;
    for (i = 0; i < 2; i++) if (cts[i]) body += 8 + (uint32_t)strlen(cts[i]);
    put32(p, 0); put32(p + 4, body); put32(p + 8, type);
    for (i = 0; i < 2; i++) {
        if (!cts[i]) continue;
        n += put32(p + n, 1);
        n += put32(p + n, (uint32_t)strlen(cts[i]));
        memcpy(p + n, cts[i], strlen(cts[i]));
        n += strlen(cts[i]);
    }
    return n;
}

static dnstap_result_t feed_all(dnstap_reader_t *r, const uint8_t *in, size_t len, int *frames) {
    size_t pos = 0;
    *frames = 0;
    while (pos < len) {
        dnstap_frame_t fr;
        size_t used = 0;
        dnstap_result_t e = dnstap_reader_feed(r, in + pos, 1, &used, &fr);  /* byte by byte */
        pos += used;
        if (e == DNSTAP_OK) { (*frames)++; continue; }
        if (e != DNSTAP_ERR_AGAIN) return e;
    }
    return dnstap_reader_end(r);
}

static dnstap_result_t read_bytes(const uint8_t *in, size_t len, dnstap_reader_role_t role) {
    static uint8_t rbuf[1024];
    dnstap_reader_t r;
    int frames;
    dnstap_reader_init(&r, rbuf, sizeof rbuf);
    r.role = role;
    return feed_all(&r, in, len, &frames);
}

static void test_reader_errors(void) {
    static uint8_t s[4096];
    char longct[300];
    size_t n, good;
    dnstap_reader_t r;
    dnstap_frame_t fr;
    size_t used;
    uint8_t rbuf[1024];
    int frames;
    memset(longct, 'x', sizeof longct - 1);
    longct[sizeof longct - 1] = 0;

    /* good: START, one data frame, STOP */
    n = control(s, 2, DNSTAP_CONTENT_TYPE, NULL);
    n += put32(s + n, 6); memcpy(s + n, "\x72\x02\x08\x05\x78\x01", 6); n += 6;
    good = n;
    n += control(s + n, 3, NULL, NULL);
    CHECK_EQ(read_bytes(s, n, DNSTAP_READ_WRITER_STREAM), DNSTAP_OK);
    CHECK_EQ(read_bytes(s, n - 1, DNSTAP_READ_WRITER_STREAM), DNSTAP_ERR_TRUNCATED);
    CHECK_EQ(read_bytes(s, good, DNSTAP_READ_WRITER_STREAM), DNSTAP_ERR_UNFINISHED);
    CHECK_EQ(read_bytes(s, good - 3, DNSTAP_READ_WRITER_STREAM), DNSTAP_ERR_TRUNCATED);
    CHECK_EQ(read_bytes(s, 2, DNSTAP_READ_WRITER_STREAM), DNSTAP_ERR_TRUNCATED);
    /* anything after STOP */
    s[n] = 0;
    CHECK_EQ(read_bytes(s, n + 1, DNSTAP_READ_WRITER_STREAM), DNSTAP_ERR_SEQUENCE);
    /* READY before START is fine in a writer stream (bidirectional) */
    n = control(s, 4, DNSTAP_CONTENT_TYPE, "other");
    n += control(s + n, 2, DNSTAP_CONTENT_TYPE, NULL);
    n += control(s + n, 3, NULL, NULL);
    CHECK_EQ(read_bytes(s, n, DNSTAP_READ_WRITER_STREAM), DNSTAP_OK);
    /* ... but not in a file (libfstrm and golang-dnstap refuse it too); a
       file with START first reads as in a writer stream */
    CHECK_EQ(read_bytes(s, n, DNSTAP_READ_FILE), DNSTAP_ERR_SEQUENCE);
    CHECK_EQ(read_bytes(s, control(s, 4, DNSTAP_CONTENT_TYPE, NULL), DNSTAP_READ_FILE), DNSTAP_ERR_SEQUENCE);
    n = control(s, 2, DNSTAP_CONTENT_TYPE, NULL);
    n += put32(s + n, 6); memcpy(s + n, "\x72\x02\x08\x05\x78\x01", 6); n += 6;
    n += control(s + n, 3, NULL, NULL);
    CHECK_EQ(read_bytes(s, n, DNSTAP_READ_FILE), DNSTAP_OK);
    n = control(s, 2, DNSTAP_CONTENT_TYPE, NULL);
    n += control(s + n, 4, DNSTAP_CONTENT_TYPE, NULL);
    CHECK_EQ(read_bytes(s, n, DNSTAP_READ_FILE), DNSTAP_ERR_SEQUENCE);

    /* wrong content type; none (optional in Frame Streams: libfstrm's
       fstrm_dump and golang's dnstap read such a file); two in START */
    n = control(s, 2, "protobuf:other.Thing", NULL);
    CHECK_EQ(read_bytes(s, n, DNSTAP_READ_WRITER_STREAM), DNSTAP_ERR_CONTENT_TYPE);
    n = control(s, 2, NULL, NULL);
    n += put32(s + n, 6); memcpy(s + n, "\x72\x02\x08\x05\x78\x01", 6); n += 6;
    n += control(s + n, 3, NULL, NULL);
    CHECK_EQ(read_bytes(s, n, DNSTAP_READ_WRITER_STREAM), DNSTAP_OK);
    CHECK_EQ(read_bytes(s, n, DNSTAP_READ_FILE), DNSTAP_OK);
    n = control(s, 2, DNSTAP_CONTENT_TYPE, DNSTAP_CONTENT_TYPE);
    CHECK_EQ(read_bytes(s, n, DNSTAP_READ_WRITER_STREAM), DNSTAP_ERR_CONTROL_FIELD);
    /* content type above 256 bytes */
    n = control(s, 4, longct, NULL);
    CHECK_EQ(read_bytes(s, n, DNSTAP_READ_WRITER_STREAM), DNSTAP_ERR_CONTENT_TYPE_TOO_LONG);
    /* the limits themselves: a content type of 256 bytes and a control
       frame of 512 are taken (READY alone: the stream is unfinished), one
       byte more is not; the writer makes the one and refuses the other */
    CHECK_EQ(strlen(longct + 43), 256);
    n = control(s, 4, longct + 43, NULL);
    CHECK_EQ(read_bytes(s, n, DNSTAP_READ_WRITER_STREAM), DNSTAP_ERR_UNFINISHED);
    n = control(s, 4, longct + 42, NULL);
    CHECK_EQ(read_bytes(s, n, DNSTAP_READ_WRITER_STREAM), DNSTAP_ERR_CONTENT_TYPE_TOO_LONG);
    n = control(s, 4, longct + 53, longct + 53);
    CHECK_EQ(n - 8, 512);
    CHECK_EQ(read_bytes(s, n, DNSTAP_READ_WRITER_STREAM), DNSTAP_ERR_UNFINISHED);
    n = control(s, 4, longct + 53, longct + 52);
    CHECK_EQ(read_bytes(s, n, DNSTAP_READ_WRITER_STREAM), DNSTAP_ERR_CONTROL_TOO_BIG);
    {
        const char *ct = longct + 43;
        uint8_t cf[600];
        size_t cl = 0;
        CHECK_EQ(dnstap_control_frame(cf, sizeof cf, DNSTAP_CONTROL_READY, &ct, 1, &cl), DNSTAP_OK);
        CHECK_EQ(cl, 8 + 4 + 8 + 256);
        ct = longct + 42;
        CHECK_EQ(dnstap_control_frame(cf, sizeof cf, DNSTAP_CONTROL_READY, &ct, 1, &cl), DNSTAP_ERR_CONTENT_TYPE_TOO_LONG);
    }
    /* control frame above 512 bytes */
    n = control(s, 4, longct + 50, longct + 50);
    CHECK(n - 8 > 512);
    CHECK_EQ(read_bytes(s, n, DNSTAP_READ_WRITER_STREAM), DNSTAP_ERR_CONTROL_TOO_BIG);
    /* unknown control types */
    n = control(s, 6, NULL, NULL);
    CHECK_EQ(read_bytes(s, n, DNSTAP_READ_WRITER_STREAM), DNSTAP_ERR_CONTROL_TYPE);
    n = control(s, 0, NULL, NULL);
    CHECK_EQ(read_bytes(s, n, DNSTAP_READ_WRITER_STREAM), DNSTAP_ERR_CONTROL_TYPE);
    /* STOP with a field; unknown field type; field longer than the frame; no type */
    n = control(s, 2, DNSTAP_CONTENT_TYPE, NULL);
    n += control(s + n, 3, "x", NULL);
    CHECK_EQ(read_bytes(s, n, DNSTAP_READ_WRITER_STREAM), DNSTAP_ERR_CONTROL_FIELD);
    n = control(s, 4, "abc", NULL);
    put32(s + 12, 2);
    CHECK_EQ(read_bytes(s, n, DNSTAP_READ_WRITER_STREAM), DNSTAP_ERR_CONTROL_FIELD);
    n = control(s, 4, "abc", NULL);
    put32(s + 16, 4);
    CHECK_EQ(read_bytes(s, n, DNSTAP_READ_WRITER_STREAM), DNSTAP_ERR_CONTROL_FIELD);
    n = control(s, 4, "abc", NULL);
    put32(s + 4, 5);   /* 1 byte of a field header */
    CHECK_EQ(read_bytes(s, 13, DNSTAP_READ_WRITER_STREAM), DNSTAP_ERR_CONTROL_FIELD);
    put32(s, 0); put32(s + 4, 2);
    CHECK_EQ(read_bytes(s, 10, DNSTAP_READ_WRITER_STREAM), DNSTAP_ERR_CONTROL_FIELD);
    /* data before START; ACCEPT or FINISH in a writer stream; START twice */
    n = put32(s, 3); memcpy(s + n, "abc", 3); n += 3;
    CHECK_EQ(read_bytes(s, n, DNSTAP_READ_WRITER_STREAM), DNSTAP_ERR_SEQUENCE);
    n = control(s, 1, DNSTAP_CONTENT_TYPE, NULL);
    CHECK_EQ(read_bytes(s, n, DNSTAP_READ_WRITER_STREAM), DNSTAP_ERR_SEQUENCE);
    n = control(s, 2, DNSTAP_CONTENT_TYPE, NULL);
    n += control(s + n, 5, NULL, NULL);
    CHECK_EQ(read_bytes(s, n, DNSTAP_READ_WRITER_STREAM), DNSTAP_ERR_SEQUENCE);
    n = control(s, 2, DNSTAP_CONTENT_TYPE, NULL);
    n += control(s + n, 2, DNSTAP_CONTENT_TYPE, NULL);
    CHECK_EQ(read_bytes(s, n, DNSTAP_READ_WRITER_STREAM), DNSTAP_ERR_SEQUENCE);
    /* the replies a writer reads: ACCEPT then FINISH, nothing else */
    n = control(s, 1, DNSTAP_CONTENT_TYPE, NULL);
    n += control(s + n, 5, NULL, NULL);
    CHECK_EQ(read_bytes(s, n, DNSTAP_READ_RECEIVER_REPLIES), DNSTAP_OK);
    CHECK_EQ(read_bytes(s, n - 12, DNSTAP_READ_RECEIVER_REPLIES), DNSTAP_ERR_UNFINISHED);
    n = control(s, 2, DNSTAP_CONTENT_TYPE, NULL);
    CHECK_EQ(read_bytes(s, n, DNSTAP_READ_RECEIVER_REPLIES), DNSTAP_ERR_SEQUENCE);
    n = put32(s, 3); memcpy(s + n, "abc", 3); n += 3;
    CHECK_EQ(read_bytes(s, n, DNSTAP_READ_RECEIVER_REPLIES), DNSTAP_ERR_SEQUENCE);

    /* data frame above the limit: refused from the length alone */
    dnstap_reader_init(&r, rbuf, sizeof rbuf);
    r.payload_max = 100;
    n = control(s, 2, DNSTAP_CONTENT_TYPE, NULL);
    n += put32(s + n, 101);
    CHECK_EQ(feed_all(&r, s, n, &frames), DNSTAP_ERR_FRAME_TOO_BIG);
    CHECK_EQ(frames, 1);
    /* errors stick */
    CHECK_EQ(dnstap_reader_feed(&r, s, 1, &used, &fr), DNSTAP_ERR_FRAME_TOO_BIG);
    CHECK_EQ(used, 0);
    CHECK_EQ(dnstap_reader_end(&r), DNSTAP_ERR_FRAME_TOO_BIG);
    /* the buffer must hold a control frame */
    CHECK_EQ(dnstap_reader_init(&r, rbuf, 511), DNSTAP_ERR_INVALID);
    /* has_content_type sees every listed type */
    n = control(s, 4, "a", DNSTAP_CONTENT_TYPE);
    dnstap_reader_init(&r, rbuf, sizeof rbuf);
    CHECK_EQ(dnstap_reader_feed(&r, s, n, &used, &fr), DNSTAP_OK);
    CHECK_EQ(fr.kind, DNSTAP_FRAME_CONTROL);
    CHECK_EQ(fr.control, DNSTAP_CONTROL_READY);
    CHECK_EQ(fr.content_types, 2);
    CHECK(fr.content_type.len == 1 && fr.content_type.data[0] == 'a');
    CHECK(dnstap_frame_has_content_type(&fr, DNSTAP_CONTENT_TYPE));
    CHECK(!dnstap_frame_has_content_type(&fr, "protobuf:dnstap"));
    /* writers refuse what readers would refuse */
    {
        const char *cts[3];
        cts[0] = longct; cts[1] = DNSTAP_CONTENT_TYPE; cts[2] = longct + 60;
        CHECK_EQ(dnstap_control_frame(s, sizeof s, DNSTAP_CONTROL_READY, cts, 1, &n), DNSTAP_ERR_CONTENT_TYPE_TOO_LONG);
        CHECK_EQ(dnstap_control_frame(s, sizeof s, DNSTAP_CONTROL_START, cts + 1, 2, &n), DNSTAP_ERR_CONTROL_FIELD);
        CHECK_EQ(dnstap_control_frame(s, sizeof s, DNSTAP_CONTROL_READY, cts, 3, &n), DNSTAP_ERR_CONTENT_TYPE_TOO_LONG);
        CHECK_EQ(dnstap_control_frame(s, sizeof s, DNSTAP_CONTROL_READY, cts + 1, 2, &n), DNSTAP_OK);
        cts[0] = longct + 60;
        CHECK_EQ(dnstap_control_frame(s, sizeof s, DNSTAP_CONTROL_READY, cts, 3, &n), DNSTAP_ERR_CONTROL_TOO_BIG);
        CHECK_EQ(dnstap_control_frame(s, sizeof s, DNSTAP_CONTROL_FINISH, cts + 1, 1, &n), DNSTAP_ERR_CONTROL_FIELD);
        CHECK_EQ(dnstap_control_frame(s, sizeof s, (dnstap_control_t)9, NULL, 0, &n), DNSTAP_ERR_CONTROL_TYPE);
    }
}

/* The real-server files: counts from tests/testdata/README.md. */
typedef struct expect_t {
    const char *file;
    int messages, types[15], v4, v6, udp, tcp;
    int field_number_order;   /* the writer emits fields in field-number order */
} expect_t;

static void check_testdata_file(const expect_t *e) {
    static uint8_t in[1 << 20], rbuf[300000], out[300000];
    char path[512];
    FILE *fp;
    size_t len, pos = 0;
    dnstap_reader_t r;
    dnstap_encoder_t enc;
    int types[15], v4 = 0, v6 = 0, udp = 0, tcp = 0, messages = 0, same_bytes = 0, same_values = 0, t;
    memset(types, 0, sizeof types);
    snprintf(path, sizeof path, "%s/%s", testdata_dir, e->file);
    fp = fopen(path, "rb");
    if (!fp) { printf("  cannot open %s\n", path); CHECK(0); return; }
    len = fread(in, 1, sizeof in, fp);
    fclose(fp);
    dnstap_reader_init(&r, rbuf, sizeof rbuf);
    dnstap_encoder_init(&enc, NULL);
    while (pos < len) {
        dnstap_frame_t fr;
        dnstap_msg_t m;
        size_t used = 0, c = 1 + rnd_below(97), n = 0;
        dnstap_result_t res;
        if (c > len - pos) c = len - pos;
        res = dnstap_reader_feed(&r, in + pos, c, &used, &fr);
        pos += used;
        if (res == DNSTAP_ERR_AGAIN) continue;
        if (res != DNSTAP_OK) { printf("  %s: reader: %s\n", e->file, dnstap_result_str(res)); CHECK(0); return; }
        if (fr.kind != DNSTAP_FRAME_DATA) continue;
        res = dnstap_decode(fr.data, fr.len, &m);
        if (res != DNSTAP_OK) { printf("  %s: decode: %s\n", e->file, dnstap_result_str(res)); CHECK(0); return; }
        messages++;
        if (m.type >= 1 && m.type <= 14) types[m.type]++;
        v4 += m.socket_family == DNSTAP_INET && m.query_address.len == 4;
        v6 += m.socket_family == DNSTAP_INET6 && m.query_address.len == 16;
        udp += m.socket_protocol == DNSTAP_UDP;
        tcp += m.socket_protocol == DNSTAP_TCP;
        /* re-encoding what another implementation wrote gives the same
           values back, and its very bytes when it orders fields as we do */
        if (dnstap_encode(&enc, &m, out, sizeof out, &n) == DNSTAP_OK) {
            dnstap_msg_t again;
            if (n == fr.len && memcmp(out, fr.data, n) == 0) same_bytes++;
            if (dnstap_decode(out, n, &again) == DNSTAP_OK && msg_eq(&m, &again) &&
                bytes_eq(m.identity, again.identity) && bytes_eq(m.version, again.version) &&
                bytes_eq(m.extra, again.extra)) same_values++;
        }
    }
    CHECK_EQ(dnstap_reader_end(&r), DNSTAP_OK);
    CHECK_EQ(messages, e->messages);
    for (t = 1; t <= 14; t++) CHECK_EQ(types[t], e->types[t]);
    CHECK_EQ(v4, e->v4);
    CHECK_EQ(v6, e->v6);
    CHECK_EQ(udp, e->udp);
    CHECK_EQ(tcp, e->tcp);
    printf("  %s: %d messages, %d re-encoded to equal values, %d byte for byte\n", e->file, messages,
           same_values, same_bytes);
    CHECK_EQ(same_values, messages);
    CHECK_EQ(same_bytes, e->field_number_order ? messages : 0);
}

static void test_testdata_unbound(void) {
    expect_t e = { "unbound-udp.dnstap", 40, { 0, 0, 0, 0, 0, 13, 13, 7, 7, 0, 0, 0, 0, 0, 0 }, 28, 12, 40, 0, 1 };
    check_testdata_file(&e);
}

static void test_testdata_bind(void) {
    expect_t e = { "named-tcp.dnstap", 40, { 0, 0, 0, 7, 7, 13, 13, 0, 0, 0, 0, 0, 0, 0, 0 }, 28, 12, 14, 26, 1 };
    check_testdata_file(&e);
}

static void test_testdata_dnsdist(void) {
    /* dnsdist writes Dnstap.type before message and family after protocol */
    expect_t e = { "dnsdist-udp.dnstap", 26, { 0, 0, 0, 0, 0, 13, 13, 0, 0, 0, 0, 0, 0, 0, 0 }, 14, 12, 26, 0, 0 };
    check_testdata_file(&e);
}

static void test_sockaddr_and_time(void) {
    struct sockaddr_in in4;
    struct sockaddr_in6 in6;
    dnstap_msg_t m;
    uint64_t sec = 0;
    uint32_t nsec = 0;
    memset(&m, 0, sizeof m);
    memset(&in4, 0, sizeof in4);
    memset(&in6, 0, sizeof in6);
    in4.sin_family = AF_INET;
    in4.sin_port = htons(53000);
    memcpy(&in4.sin_addr, wl_qaddr, 4);
    in6.sin6_family = AF_INET6;
    in6.sin6_port = htons(53);
    in6.sin6_addr.s6_addr[0] = 0x20; in6.sin6_addr.s6_addr[15] = 1;
    CHECK_EQ(dnstap_msg_set_query_sockaddr(&m, (struct sockaddr *)&in4), DNSTAP_OK);
    CHECK(m.socket_family == DNSTAP_INET && m.query_address.len == 4 &&
          memcmp(m.query_address.data, wl_qaddr, 4) == 0 && m.query_port == 53000 &&
          (m.has & DNSTAP_HAS_QUERY_PORT));
    CHECK_EQ(dnstap_msg_set_response_sockaddr(&m, (struct sockaddr *)&in6), DNSTAP_OK);
    CHECK(m.socket_family == DNSTAP_INET6 && m.response_address.len == 16 &&
          m.response_address.data[0] == 0x20 && m.response_address.data[15] == 1 &&
          m.response_port == 53 && (m.has & DNSTAP_HAS_RESPONSE_PORT));
    in4.sin_family = AF_UNIX;
    CHECK_EQ(dnstap_msg_set_query_sockaddr(&m, (struct sockaddr *)&in4), DNSTAP_ERR_INVALID);
    CHECK_EQ(dnstap_now(&sec, &nsec), DNSTAP_OK);
    CHECK(sec > 1700000000u && nsec < 1000000000u);
    CHECK(strcmp(dnstap_message_type_str(DNSTAP_UPDATE_RESPONSE), "UPDATE_RESPONSE") == 0);
    CHECK(strcmp(dnstap_socket_protocol_str(DNSTAP_DOQ), "DOQ") == 0);
    CHECK(strcmp(dnstap_socket_family_str(DNSTAP_INET6), "INET6") == 0);
    CHECK(strcmp(dnstap_http_protocol_str(DNSTAP_HTTP3), "HTTP3") == 0);
    CHECK(strcmp(dnstap_policy_action_str(DNSTAP_ACTION_LOCAL_DATA), "LOCAL_DATA") == 0);
    CHECK(strcmp(dnstap_policy_match_str(DNSTAP_MATCH_NS_IP), "NS_IP") == 0);
    CHECK(strcmp(dnstap_policy_match_str((dnstap_policy_match_t)0), "?") == 0);
    CHECK(strcmp(dnstap_result_str(DNSTAP_ERR_CONTENT_TYPE), "unexpected content type") == 0);
    CHECK(strcmp(dnstap_result_str((dnstap_result_t)-99), "?") == 0);
}

/* ---- every encode path, by one signature ---- */
typedef dnstap_result_t (*encode_path_fn)(const dnstap_encoder_t *enc, const dnstap_msg_t *m, uint8_t *buf,
                                          size_t cap, size_t *len);
static dnstap_result_t path_size(const dnstap_encoder_t *enc, const dnstap_msg_t *m, uint8_t *buf, size_t cap,
                                 size_t *len) {
    (void)buf; (void)cap;
    return dnstap_encoded_size(enc, m, len);
}
static sink_t sink_path;
/* dnstap_file_log() into buf; *len: the bytes it added after START */
static dnstap_result_t path_file(const dnstap_encoder_t *enc, const dnstap_msg_t *m, uint8_t *buf, size_t cap,
                                 size_t *len) {
    dnstap_file_t f;
    dnstap_result_t r;
    *len = 0;
    sink_path.len = 0;
    if (dnstap_file_init(&f, enc, buf, cap, sink_write, &sink_path) != DNSTAP_OK) return DNSTAP_ERR_IO;
    r = dnstap_file_log(&f, m);
    *len = f.used - 42 + sink_path.len;
    return r;
}
static const struct { const char *name; encode_path_fn fn; } encode_paths[] = {
    { "dnstap_encode_frame", dnstap_encode_frame }, { "dnstap_encode", dnstap_encode },
    { "dnstap_file_log", path_file }, { "dnstap_encode_nanopb", dnstap_encode_nanopb },
    { "dnstap_encoded_size", path_size } };
#define ENCODE_PATHS (sizeof encode_paths / sizeof encode_paths[0])

/* m must be refused with want on every path, writing nothing. */
static int refused_everywhere(const dnstap_encoder_t *enc, const dnstap_msg_t *m, dnstap_result_t want,
                              const char *what, size_t what_n) {
    static uint8_t out[4096];
    size_t p, i;
    for (p = 0; p < ENCODE_PATHS; p++) {
        size_t n = 123;
        dnstap_result_t r;
        memset(out, 0xA5, sizeof out);
        r = encode_paths[p].fn(enc, m, out, sizeof out, &n);
        for (i = encode_paths[p].fn == path_file ? 42 : 0; i < sizeof out && out[i] == 0xA5; i++) {}
        if (r != want || n != 0 || i != sizeof out) {
            printf("  %s (%s %zu): result %d (want %d), length %zu, wrote byte %zu\n", encode_paths[p].name,
                   what, what_n, r, want, n, i);
            return 0;
        }
    }
    return 1;
}

/* Issue 10, item 1: lengths whose sum wraps are TOO_LONG, never copied. */
static void test_wrapped_lengths(void) {
    dnstap_encoder_t enc;
    dnstap_msg_t m;
    unsigned f, i, c, tried = 0;
    size_t n = 0;
    int ok = 1;
    workload_encoder(&enc);
    for (f = 0; f < HOSTILE_FIELDS && ok; f++) {
        for (i = 0; i < HOSTILE_LENS && ok; i++) {
            size_t len = hostile_len(i);
            if (len == 0) continue;
            workload_msg(&m, 1);
            hostile_set(&m, f, len);
            ok = refused_everywhere(&enc, &m, DNSTAP_ERR_TOO_LONG, "field", f);
            if (!ok) printf("  length %zu\n", len);
            tried++;
        }
    }
    for (c = 0; c < HOSTILE_COMBOS && ok; c++) {
        workload_msg(&m, 1);
        hostile_combo(&m, c);
        ok = refused_everywhere(&enc, &m, DNSTAP_ERR_TOO_LONG, "combination", c);
        tried++;
    }
    /* an address of such a length is not 4 or 16 bytes: invalid */
    for (i = 0; i < HOSTILE_LENS && ok; i++) {
        size_t len = hostile_len(i);
        if (len == 0) continue;
        workload_msg(&m, 1);
        m.response_address.data = hostile_data;
        m.response_address.len = len;
        ok = refused_everywhere(&enc, &m, DNSTAP_ERR_INVALID, "address length index", i);
    }
    CHECK(ok);
    if (ok) CHECK(tried >= HOSTILE_FIELDS * (HOSTILE_NEAR_MAX + 4) + HOSTILE_COMBOS);
    /* the encoder's own identity, version and extra: the same lengths are
       refused before a byte is read (one near SIZE_MAX wrapped the sum and
       was copied) */
    for (f = 0; f < 3 && ok; f++) {
        for (i = 0; i < HOSTILE_LENS; i++) {
            dnstap_encoder_desc_t d;
            dnstap_bytes_t *b = f == 0 ? &d.identity : f == 1 ? &d.version : &d.extra;
            size_t len = hostile_len(i);
            if (len == 0) continue;
            memset(&d, 0, sizeof d);
            b->data = hostile_data;
            b->len = len;
            if (dnstap_encoder_init(&enc, &d) != DNSTAP_ERR_TOO_LONG) {
                printf("  encoder field %u, length %zu: not refused\n", f, len);
                ok = 0;
                break;
            }
        }
    }
    CHECK(ok);
    workload_encoder(&enc);
    /* absent fields: their length is not looked at */
    workload_msg(&m, 1);
    m.query_zone.len = SIZE_MAX;
    m.extra.len = SIZE_MAX - 20;
    CHECK_EQ(dnstap_encoded_size(&enc, &m, &n), DNSTAP_OK);
    CHECK_EQ(n, 157);
}

/* Issue 10, item 4: what dnstap readers reject or misread, refused on
   every path; the values at the edges still pass. */
static void test_reader_rules(void) {
    static const uint8_t v6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
    static const uint8_t five[5] = { 192, 0, 2, 1, 9 };
    dnstap_encoder_t enc;
    dnstap_msg_t m, d;
    uint8_t a[512], b[512];
    size_t na = 0, nb = 0;
    unsigned k, len;
    workload_encoder(&enc);
    for (k = 0; k < 14; k++) {
        workload_msg(&m, 1);
        switch (k) {
        case 0: m.query_address.data = five; m.query_address.len = 5; break;
        case 1: m.response_address.len = 0; break;
        case 2: m.query_address.data = v6; m.query_address.len = 16; break;             /* INET, 16 bytes */
        case 3: m.socket_family = DNSTAP_INET6; break;                                   /* INET6, 4 bytes */
        case 4: m.socket_family = DNSTAP_INET6; m.query_address.data = v6; m.query_address.len = 16; break;
        case 5: m.socket_family = (dnstap_socket_family_t)0; m.query_address.len = 3; break;
        case 6: m.query_time_nsec = 1000000000u; break;
        case 7: m.response_time_nsec = 1000000000u; break;
        case 8: m.query_time_nsec = 0xFFFFFFFFu; break;
        case 9: m.query_port = 65536; break;
        case 10: m.response_port = 0xFFFFFFFFu; break;
        case 11: m.policy.value = dnstap_str("x"); m.query_address.data = pool; m.query_address.len = 17; break;
        case 12: m.response_address.data = v6; m.response_address.len = 16;
                 m.socket_family = (dnstap_socket_family_t)0; m.query_address.data = pool; m.query_address.len = 8;
                 break;
        default: m.has &= ~(uint32_t)DNSTAP_HAS_QUERY_TIME_NSEC; m.query_port = 70000; break;
        }
        if (!refused_everywhere(&enc, &m, DNSTAP_ERR_INVALID, "reader rule", k)) CHECK(0);
    }
    /* the edges, and values of fields marked absent, are accepted */
    for (k = 0; k < 6; k++) {
        workload_msg(&m, 1);
        switch (k) {
        case 0: m.query_time_nsec = 999999999u; m.response_time_nsec = 999999999u; break;
        case 1: m.query_port = 65535; m.response_port = 0; break;
        case 2: m.socket_family = (dnstap_socket_family_t)0; m.query_address.data = v6; m.query_address.len = 16; break;
        case 3: m.socket_family = DNSTAP_INET6; m.query_address.data = v6; m.query_address.len = 16;
                m.response_address = m.query_address; break;
        case 4: m.has &= ~(uint32_t)(DNSTAP_HAS_QUERY_PORT | DNSTAP_HAS_RESPONSE_TIME_NSEC);
                m.query_port = 0xFFFFFFFFu; m.response_time_nsec = 0xFFFFFFFFu; break;
        default: m.query_address.data = NULL; m.query_address.len = 5; break;
        }
        CHECK_EQ(dnstap_encode(&enc, &m, a, sizeof a, &na), DNSTAP_OK);
        CHECK_EQ(dnstap_encode_nanopb(&enc, &m, b, sizeof b, &nb), DNSTAP_OK);
        CHECK(na == nb && memcmp(a, b, na) == 0);
        CHECK_EQ(dnstap_decode(a, na, &d), DNSTAP_OK);
        CHECK(msg_eq(&m, &d));
    }
    /* every address length but 4 and 16, on both addresses */
    for (len = 0; len <= 64; len++) {
        if (len == 4 || len == 16) continue;
        workload_msg(&m, 0);
        m.socket_family = (dnstap_socket_family_t)0;
        (len & 1 ? &m.query_address : &m.response_address)->data = pool;
        (len & 1 ? &m.query_address : &m.response_address)->len = len;
        if (!refused_everywhere(&enc, &m, DNSTAP_ERR_INVALID, "address length", len)) { CHECK(0); break; }
    }
}

int main(int argc, char **argv) {
    if (argc > 1) testdata_dir = argv[1];
    TEST(test_workload_frame_sizes);
    TEST(test_start_frame_bytes);
    TEST(test_roundtrip_every_value);
    TEST(test_presence);
    TEST(test_differential_random);
    TEST(test_encode_errors);
    TEST(test_prefix_overrides);
    TEST(test_decode_errors);
    TEST(test_file_writer);
    TEST(test_file_full_disk);
    TEST(test_file_close_at_every_fill);
    TEST(test_reader_chunks);
    TEST(test_reader_errors);
    TEST(test_testdata_unbound);
    TEST(test_testdata_bind);
    TEST(test_testdata_dnsdist);
    TEST(test_sockaddr_and_time);
    TEST(test_wrapped_lengths);
    TEST(test_reader_rules);
    TEST(test_tap_control_frames);
    TEST(test_small_reply_buffer);
    return TEST_EXIT();
}
