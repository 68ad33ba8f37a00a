/* fuzz_common.h - helpers shared by the dnstap.h fuzz targets.
   Included by each target after dnstap.h (with DNSTAP_IMPLEMENTATION). */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Invariant failure: say what and where, then abort() so that libFuzzer,
   AFL++ and the standalone driver all record the input. */
#define FUZZ_CHECK(cond, ...)                                                    \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "%s:%d: invariant failed: %s: ", __FILE__, __LINE__, \
                    #cond);                                                      \
            fprintf(stderr, __VA_ARGS__);                                        \
            fputc('\n', stderr);                                                 \
            abort();                                                             \
        }                                                                        \
    } while (0)

static inline int fz_result_known(dnstap_result_t r) {
    return r <= DNSTAP_OK && r >= DNSTAP_ERR_UNSUPPORTED;
}

/* Bytes fields: same presence and same content. */
static inline int fz_bytes_eq(const dnstap_bytes_t *a, const dnstap_bytes_t *b) {
    if ((a->data == NULL) != (b->data == NULL)) return 0;
    if (a->data == NULL) return 1;
    if (a->len != b->len) return 0;
    return a->len == 0 || memcmp(a->data, b->data, a->len) == 0;
}

/* First field in which two messages differ, or NULL. Integers are compared
   only when present; bytes by presence and content; enums by value. */
static inline const char *fz_msg_diff(const dnstap_msg_t *a, const dnstap_msg_t *b) {
    uint32_t ha = a->has, hb = b->has;
    if ((int)a->type != (int)b->type) return "type";
    if ((int)a->socket_family != (int)b->socket_family) return "socket_family";
    if ((int)a->socket_protocol != (int)b->socket_protocol) return "socket_protocol";
    if ((int)a->http_protocol != (int)b->http_protocol) return "http_protocol";
    if (ha != hb) return "has";
    if ((ha & DNSTAP_HAS_QUERY_PORT) && a->query_port != b->query_port) return "query_port";
    if ((ha & DNSTAP_HAS_RESPONSE_PORT) && a->response_port != b->response_port) return "response_port";
    if ((ha & DNSTAP_HAS_QUERY_TIME_SEC) && a->query_time_sec != b->query_time_sec) return "query_time_sec";
    if ((ha & DNSTAP_HAS_QUERY_TIME_NSEC) && a->query_time_nsec != b->query_time_nsec) return "query_time_nsec";
    if ((ha & DNSTAP_HAS_RESPONSE_TIME_SEC) && a->response_time_sec != b->response_time_sec) return "response_time_sec";
    if ((ha & DNSTAP_HAS_RESPONSE_TIME_NSEC) && a->response_time_nsec != b->response_time_nsec) return "response_time_nsec";
    if (!fz_bytes_eq(&a->query_address, &b->query_address)) return "query_address";
    if (!fz_bytes_eq(&a->response_address, &b->response_address)) return "response_address";
    if (!fz_bytes_eq(&a->query_message, &b->query_message)) return "query_message";
    if (!fz_bytes_eq(&a->query_zone, &b->query_zone)) return "query_zone";
    if (!fz_bytes_eq(&a->response_message, &b->response_message)) return "response_message";
    if (!fz_bytes_eq(&a->policy.type, &b->policy.type)) return "policy.type";
    if (!fz_bytes_eq(&a->policy.rule, &b->policy.rule)) return "policy.rule";
    if ((int)a->policy.action != (int)b->policy.action) return "policy.action";
    if ((int)a->policy.match != (int)b->policy.match) return "policy.match";
    if (!fz_bytes_eq(&a->policy.value, &b->policy.value)) return "policy.value";
    if (!fz_bytes_eq(&a->identity, &b->identity)) return "identity";
    if (!fz_bytes_eq(&a->version, &b->version)) return "version";
    if (!fz_bytes_eq(&a->extra, &b->extra)) return "extra";
    return NULL;
}

/* dnstap_decode() is zero copy: every present bytes field must lie inside
   the payload it was decoded from. Returns the name of the first field that
   does not, or NULL. */
static inline const char *fz_bytes_outside(const dnstap_msg_t *m, const uint8_t *p, size_t n) {
    const dnstap_bytes_t *f[11];
    static const char *const names[11] = {
        "identity", "version", "extra", "query_address", "response_address", "query_message",
        "query_zone", "response_message", "policy.type", "policy.rule", "policy.value" };
    uintptr_t lo = (uintptr_t)p, hi = (uintptr_t)p + n;
    unsigned i;
    f[0] = &m->identity; f[1] = &m->version; f[2] = &m->extra;
    f[3] = &m->query_address; f[4] = &m->response_address; f[5] = &m->query_message;
    f[6] = &m->query_zone; f[7] = &m->response_message; f[8] = &m->policy.type;
    f[9] = &m->policy.rule; f[10] = &m->policy.value;
    for (i = 0; i < 11; i++) {
        uintptr_t d = (uintptr_t)f[i]->data;
        if (f[i]->data == NULL) continue;
        if (d < lo || d > hi || f[i]->len > hi - d) return names[i];
    }
    return NULL;
}

static inline int fz_enum_bad(int v, int max) { return v != 0 && (v < 1 || v > max); }

/* The readers' rules the encoders enforce (DNSTAP_ERR_INVALID): addresses
   of the family's length (4 or 16 bytes, either without a family), ports
   of 16 bits, nanoseconds below 1e9. */
static inline int fz_address_bad(const dnstap_bytes_t *a, int family) {
    if (a->data == NULL) return 0;
    if (family == DNSTAP_INET) return a->len != 4;
    if (family == DNSTAP_INET6) return a->len != 16;
    return a->len != 4 && a->len != 16;
}

static inline int fz_readers_reject(const dnstap_msg_t *m) {
    return fz_address_bad(&m->query_address, (int)m->socket_family) ||
           fz_address_bad(&m->response_address, (int)m->socket_family) ||
           ((m->has & DNSTAP_HAS_QUERY_PORT) && m->query_port > 65535) ||
           ((m->has & DNSTAP_HAS_RESPONSE_PORT) && m->response_port > 65535) ||
           ((m->has & DNSTAP_HAS_QUERY_TIME_NSEC) && m->query_time_nsec >= 1000000000u) ||
           ((m->has & DNSTAP_HAS_RESPONSE_TIME_NSEC) && m->response_time_nsec >= 1000000000u);
}

/* Whether a message holds an enum value dnstap_encode() must refuse. */
static inline int fz_msg_enum_bad(const dnstap_msg_t *m) {
    return (int)m->type < 1 || (int)m->type > 14 ||
           fz_enum_bad((int)m->socket_family, 2) || fz_enum_bad((int)m->socket_protocol, 7) ||
           fz_enum_bad((int)m->http_protocol, 3) || fz_enum_bad((int)m->policy.action, 6) ||
           fz_enum_bad((int)m->policy.match, 5);
}

/* FNV-1a, to fingerprint frames. */
static inline uint64_t fz_hash(const uint8_t *p, size_t n, uint64_t h) {
    while (n--) { h ^= *p++; h *= 1099511628211ull; }
    return h;
}

#endif /* FUZZ_COMMON_H */
