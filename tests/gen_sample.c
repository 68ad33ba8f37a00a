/* gen_sample - write a dnstap file that covers the whole schema, and a JSON
   description of every message in it, for tests/interop.sh.

       gen_sample OUT.dnstap OUT.json

   OUT.json is written from the values put into dnstap_msg_t (and into the
   encoder descriptions), never from the encoded bytes, so that a tool which
   decodes OUT.dnstap and agrees with OUT.json shows the encoder right.

   OUT.json is an array with one object per message, in file order. Keys are
   the field names of dnstap.proto: identity, version and extra of Dnstap
   (the values the message carries: the encoder's, or the message's
   override), then the Message fields, with "policy" an object of Policy
   fields. Bytes are lower-case hex, enums and integers are numbers, absent
   fields are left out. Two keys are not fields: "label" names the message in
   reports, and "dns" says how the DNS messages and the zone were built
   (header values, question, records in presentation format) so that what a
   tool prints of them can be checked.

   Everything is fixed (no clock, a fixed-seed PRNG): every run writes the
   same bytes. */
#define DNSTAP_IMPLEMENTATION
#include "../dnstap.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("gen_sample: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

/* ------------------------------------------------------------------------
   DNS wire messages, built by hand so that dnstap -y can render them. Each
   record is given in presentation format; the same text goes to the JSON.
   ------------------------------------------------------------------------ */
enum { SEC_QUESTION, SEC_ANSWER, SEC_AUTHORITY, SEC_ADDITIONAL };
static const char *const section_names[4] = { "question", "answer", "authority", "additional" };

#define F_QR 0x8000u
#define F_AA 0x0400u
#define F_TC 0x0200u
#define F_RD 0x0100u
#define F_RA 0x0080u
#define F_AD 0x0020u
#define F_CD 0x0010u
#define OP_QUERY  0u
#define OP_UPDATE 5u
#define RC_NOERROR  0u
#define RC_SERVFAIL 2u
#define RC_NXDOMAIN 3u
#define RC_REFUSED  5u

#define RR_MAX 8

typedef struct rr_text_t {
    int section;
    char owner[256];
    uint32_t ttl;
    const char *type;
    char rdata[600];
} rr_text_t;

typedef struct wire_t {
    uint8_t b[65535];
    size_t n;
    int section;              /* section of the last record: order is enforced */
    unsigned count[4];
    /* what was built, for the JSON */
    unsigned id, opcode, flags, rcode;
    char qname[256];
    const char *qtype;
    unsigned nrr;
    rr_text_t rr[RR_MAX];
    int edns;
    unsigned udp;
    long padding;             /* -1: no padding option */
} wire_t;

static const struct { const char *name; unsigned code; } rr_types[] = {
    { "A", 1 }, { "NS", 2 }, { "SOA", 6 }, { "MX", 15 }, { "AAAA", 28 }
};

static unsigned rr_type_code(const char *name) {
    size_t i;
    for (i = 0; i < sizeof rr_types / sizeof rr_types[0]; i++)
        if (strcmp(rr_types[i].name, name) == 0) return rr_types[i].code;
    die("unknown RR type %s", name);
    return 0;
}

static void put8(wire_t *w, unsigned v) {
    if (w->n >= sizeof w->b) die("DNS message over 65535 bytes");
    w->b[w->n++] = (uint8_t)(v & 0xffu);
}

static void put16(wire_t *w, unsigned v) { put8(w, v >> 8); put8(w, v); }

static void put32(wire_t *w, uint32_t v) { put16(w, (unsigned)(v >> 16)); put16(w, (unsigned)(v & 0xffffu)); }

static void put_bytes(wire_t *w, const uint8_t *p, size_t n) {
    if (n > sizeof w->b - w->n) die("DNS message over 65535 bytes");
    memcpy(w->b + w->n, p, n);
    w->n += n;
}

static void patch16(wire_t *w, size_t at, size_t v) {
    if (v > 0xffffu) die("16-bit field overflow");
    w->b[at] = (uint8_t)(v >> 8);
    w->b[at + 1] = (uint8_t)(v & 0xffu);
}

/* Wire form of an absolute name in presentation format ("www.example.com."
   or "."), no escapes. */
static size_t name_to_wire(const char *name, uint8_t *out, size_t cap) {
    size_t n = 0, len = strlen(name);
    const char *p = name;
    if (len == 0 || name[len - 1] != '.') die("name not absolute: %s", name);
    if (strcmp(name, ".") != 0) {
        while (*p) {
            const char *dot = strchr(p, '.');
            size_t l = (size_t)(dot - p);
            if (l == 0 || l > 63 || n + 1 + l + 1 > cap || n + 1 + l + 1 > 255) die("bad name %s", name);
            out[n++] = (uint8_t)l;
            memcpy(out + n, p, l);
            n += l;
            p = dot + 1;
        }
    }
    out[n++] = 0;
    return n;
}

/* Names ending in the question name are compressed to a pointer to it (at
   offset 12), as servers do, so that readers must follow pointers. */
static void put_name(wire_t *w, const char *name) {
    uint8_t tmp[255];
    size_t nl = strlen(name), ql = w->count[SEC_QUESTION] ? strlen(w->qname) : 0;
    if (ql > 1 && nl >= ql && strcmp(name + nl - ql, w->qname) == 0 &&
        (nl == ql || name[nl - ql - 1] == '.')) {
        size_t n;
        if (nl > ql) {
            char prefix[256];
            memcpy(prefix, name, nl - ql);
            prefix[nl - ql] = '\0';
            n = name_to_wire(prefix, tmp, sizeof tmp);
            put_bytes(w, tmp, n - 1);  /* labels without the root */
        }
        put16(w, 0xc000u | 12u);
        return;
    }
    put_bytes(w, tmp, name_to_wire(name, tmp, sizeof tmp));
}

static void w_begin(wire_t *w, unsigned id, unsigned opcode, unsigned flags, unsigned rcode) {
    memset(w, 0, sizeof *w);
    w->id = id;
    w->opcode = opcode;
    w->flags = flags;
    w->rcode = rcode;
    w->padding = -1;
    put16(w, id);
    put16(w, flags | (opcode << 11) | rcode);
    put16(w, 0); put16(w, 0); put16(w, 0); put16(w, 0);   /* counts: w_end() */
}

static void w_question(wire_t *w, const char *name, const char *type) {
    if (w->count[SEC_QUESTION] || w->section != SEC_QUESTION) die("one question, first");
    put_name(w, name);
    put16(w, rr_type_code(type));
    put16(w, 1);  /* IN */
    w->count[SEC_QUESTION] = 1;
    strcpy(w->qname, name);
    w->qtype = type;
}

static void w_rr(wire_t *w, int section, const char *owner, const char *type, uint32_t ttl, const char *rdata) {
    unsigned code = rr_type_code(type);
    uint8_t addr[16];
    size_t rdlen_at;
    rr_text_t *t;
    if (section < w->section || section == SEC_QUESTION || w->nrr == RR_MAX) die("record order");
    w->section = section;
    put_name(w, owner);
    put16(w, code);
    put16(w, 1);
    put32(w, ttl);
    rdlen_at = w->n;
    put16(w, 0);
    if (code == 1 || code == 28) {
        if (inet_pton(code == 1 ? AF_INET : AF_INET6, rdata, addr) != 1) die("bad address %s", rdata);
        put_bytes(w, addr, code == 1 ? 4 : 16);
    } else if (code == 2) {
        put_name(w, rdata);
    } else if (code == 15) {
        unsigned pref;
        char exch[256];
        if (sscanf(rdata, "%u %255s", &pref, exch) != 2) die("bad MX %s", rdata);
        put16(w, pref);
        put_name(w, exch);
    } else {
        char mname[256], rname[256];
        uint32_t v[5];
        int i;
        if (sscanf(rdata, "%255s %255s %" SCNu32 " %" SCNu32 " %" SCNu32 " %" SCNu32 " %" SCNu32,
                   mname, rname, &v[0], &v[1], &v[2], &v[3], &v[4]) != 7)
            die("bad SOA %s", rdata);
        put_name(w, mname);
        put_name(w, rname);
        for (i = 0; i < 5; i++) put32(w, v[i]);
    }
    patch16(w, rdlen_at, w->n - rdlen_at - 2);
    w->count[section]++;
    t = &w->rr[w->nrr++];
    t->section = section;
    strcpy(t->owner, owner);
    t->ttl = ttl;
    t->type = type;
    if (strlen(rdata) >= sizeof t->rdata) die("rdata text too long");
    strcpy(t->rdata, rdata);
}

/* EDNS OPT record; padding >= 0 adds an RFC 7830 Padding option of that many
   zero bytes (how the large messages get their exact sizes). */
static void w_opt(wire_t *w, unsigned udp, long padding) {
    if (w->edns) die("one OPT");
    w->section = SEC_ADDITIONAL;
    put8(w, 0);          /* root owner */
    put16(w, 41);
    put16(w, udp);
    put32(w, 0);         /* extended rcode, version 0, no flags */
    if (padding < 0) {
        put16(w, 0);
    } else {
        size_t i;
        put16(w, 4u + (unsigned)padding);
        put16(w, 12);    /* Padding */
        put16(w, (unsigned)padding);
        for (i = 0; i < (size_t)padding; i++) put8(w, 0);
    }
    w->count[SEC_ADDITIONAL]++;
    w->edns = 1;
    w->udp = udp;
    w->padding = padding;
}

static void w_end(wire_t *w) {
    int i;
    for (i = 0; i < 4; i++) patch16(w, 4u + 2u * (unsigned)i, w->count[i]);
}

static dnstap_bytes_t wire_bytes(const wire_t *w) {
    dnstap_bytes_t b;
    b.data = w->b;
    b.len = w->n;
    return b;
}

/* A query, as a client sends it. */
static void dns_query(wire_t *w, unsigned id, unsigned flags, const char *name, const char *type) {
    w_begin(w, id, OP_QUERY, flags, RC_NOERROR);
    w_question(w, name, type);
    w_end(w);
}

/* ------------------------------------------------------------------------
   Output: the dnstap file and the JSON description
   ------------------------------------------------------------------------ */
static dnstap_encoder_desc_t g_desc[3];
static dnstap_encoder_t g_enc[3];
static dnstap_file_t g_file;
static uint8_t g_filebuf[1u << 18];
static uint8_t g_frame[DNSTAP_PAYLOAD_MAX_GOLANG + 4];
static FILE *g_json;
static unsigned g_count;
static int g_first;   /* no member written yet in the open JSON object */

static void j_key(const char *key) {
    fprintf(g_json, "%s\"%s\":", g_first ? "" : ",", key);
    g_first = 0;
}

static void j_hex(const char *key, dnstap_bytes_t b) {
    size_t i;
    if (b.data == NULL) return;
    j_key(key);
    fputc('"', g_json);
    for (i = 0; i < b.len; i++) fprintf(g_json, "%02x", (unsigned)b.data[i]);
    fputc('"', g_json);
}

static void j_uint(const char *key, uint64_t v, bool present) {
    if (!present) return;
    j_key(key);
    fprintf(g_json, "%" PRIu64, v);
}

/* Texts written here are ours: ASCII without quotes or backslashes. */
static void j_wire(const char *key, const wire_t *w) {
    static const unsigned flag_bits[7] = { F_QR, F_AA, F_TC, F_RD, F_RA, F_AD, F_CD };
    static const char *const flag_names[7] = { "qr", "aa", "tc", "rd", "ra", "ad", "cd" };
    unsigned i;
    int first = 1;
    fprintf(g_json, "\"%s\":{\"id\":%u,\"opcode\":%u,\"rcode\":%u,\"flags\":[", key, w->id, w->opcode, w->rcode);
    for (i = 0; i < 7; i++) {
        if (!(w->flags & flag_bits[i])) continue;
        fprintf(g_json, "%s\"%s\"", first ? "" : ",", flag_names[i]);
        first = 0;
    }
    fprintf(g_json, "],\"qdcount\":%u,\"ancount\":%u,\"nscount\":%u,\"arcount\":%u", w->count[0], w->count[1],
            w->count[2], w->count[3]);
    if (w->count[SEC_QUESTION])
        fprintf(g_json, ",\"question\":{\"name\":\"%s\",\"class\":\"IN\",\"type\":\"%s\"}", w->qname, w->qtype);
    fputs(",\"records\":[", g_json);
    for (i = 0; i < w->nrr; i++) {
        const rr_text_t *t = &w->rr[i];
        fprintf(g_json, "%s{\"section\":\"%s\",\"name\":\"%s\",\"ttl\":%" PRIu32 ",\"class\":\"IN\",\"type\":\"%s\",\"rdata\":\"%s\"}",
                i ? "," : "", section_names[t->section], t->owner, t->ttl, t->type, t->rdata);
    }
    fputc(']', g_json);
    if (w->edns) fprintf(g_json, ",\"edns\":{\"udp\":%u,\"padding\":%ld}", w->udp, w->padding);
    fputc('}', g_json);
}

/* Log m through encoder e (0: the file's own, through dnstap_file_log();
   others: dnstap_encode_frame() + dnstap_file_write_frame()), and describe
   it. q and r say how query_message and response_message were built (NULL
   when they are not DNS messages of ours); zone is query_zone's text. */
static void emit(const char *label, unsigned e, const dnstap_msg_t *m, const wire_t *q, const wire_t *r,
                 const char *zone) {
    const dnstap_policy_t *p = &m->policy;
    dnstap_result_t res;
    int sep = 0;

    if (q && m->query_message.data != q->b) die("%s: query_message is not the wire described", label);
    if (r && m->response_message.data != r->b) die("%s: response_message is not the wire described", label);
    if (e == 0) {
        res = dnstap_file_log(&g_file, m);
    } else {
        size_t n;
        res = dnstap_encode_frame(&g_enc[e], m, g_frame, sizeof g_frame, &n);
        if (res == DNSTAP_OK) res = dnstap_file_write_frame(&g_file, g_frame, n);
    }
    if (res != DNSTAP_OK) die("%s: %s", label, dnstap_result_str(res));

    fprintf(g_json, "%s{\"label\":\"%02u-%s\"", g_count ? ",\n" : "", g_count + 1, label);
    g_first = 0;
    j_hex("identity", m->identity.data ? m->identity : g_desc[e].identity);
    j_hex("version", m->version.data ? m->version : g_desc[e].version);
    j_hex("extra", m->extra.data ? m->extra : g_desc[e].extra);
    j_uint("type", (uint64_t)m->type, true);
    j_uint("socket_family", (uint64_t)m->socket_family, m->socket_family != 0);
    j_uint("socket_protocol", (uint64_t)m->socket_protocol, m->socket_protocol != 0);
    j_hex("query_address", m->query_address);
    j_hex("response_address", m->response_address);
    j_uint("query_port", m->query_port, (m->has & DNSTAP_HAS_QUERY_PORT) != 0);
    j_uint("response_port", m->response_port, (m->has & DNSTAP_HAS_RESPONSE_PORT) != 0);
    j_uint("query_time_sec", m->query_time_sec, (m->has & DNSTAP_HAS_QUERY_TIME_SEC) != 0);
    j_uint("query_time_nsec", m->query_time_nsec, (m->has & DNSTAP_HAS_QUERY_TIME_NSEC) != 0);
    j_hex("query_message", m->query_message);
    j_hex("query_zone", m->query_zone);
    j_uint("response_time_sec", m->response_time_sec, (m->has & DNSTAP_HAS_RESPONSE_TIME_SEC) != 0);
    j_uint("response_time_nsec", m->response_time_nsec, (m->has & DNSTAP_HAS_RESPONSE_TIME_NSEC) != 0);
    j_hex("response_message", m->response_message);
    /* the documented rule: present when flagged or when any field is */
    if ((m->has & DNSTAP_HAS_POLICY) || p->type.data || p->rule.data || p->action || p->match || p->value.data) {
        j_key("policy");
        fputc('{', g_json);
        g_first = 1;
        j_hex("type", p->type);
        j_hex("rule", p->rule);
        j_uint("action", (uint64_t)p->action, p->action != 0);
        j_uint("match", (uint64_t)p->match, p->match != 0);
        j_hex("value", p->value);
        fputc('}', g_json);
        g_first = 0;
    }
    j_uint("http_protocol", (uint64_t)m->http_protocol, m->http_protocol != 0);
    j_key("dns");
    fputc('{', g_json);
    if (q) { j_wire("query_message", q); sep = 1; }
    if (r) { fputs(sep ? "," : "", g_json); j_wire("response_message", r); sep = 1; }
    if (zone) fprintf(g_json, "%s\"query_zone\":\"%s\"", sep ? "," : "", zone);
    fputs("}}", g_json);
    g_count++;
}

/* ------------------------------------------------------------------------
   Message helpers
   ------------------------------------------------------------------------ */
static uint8_t g_qaddr[16], g_raddr[16], g_zone[256];

static dnstap_bytes_t bytes_of(const void *p, size_t n) {
    dnstap_bytes_t b;
    b.data = (const uint8_t *)p;
    b.len = n;
    return b;
}

static const uint8_t g_empty[1] = { 0 };
#define EMPTY bytes_of(g_empty, 0)   /* present, zero length */

static dnstap_bytes_t ip(uint8_t *store, const char *text) {
    int v6 = strchr(text, ':') != NULL;
    if (inet_pton(v6 ? AF_INET6 : AF_INET, text, store) != 1) die("bad address %s", text);
    return bytes_of(store, v6 ? 16 : 4);
}

/* Ports below 0 are absent. */
static void endpoints(dnstap_msg_t *m, dnstap_socket_family_t fam, dnstap_socket_protocol_t proto,
                      const char *qa, int64_t qp, const char *ra, int64_t rp) {
    m->socket_family = fam;
    m->socket_protocol = proto;
    if (qa) m->query_address = ip(g_qaddr, qa);
    if (ra) m->response_address = ip(g_raddr, ra);
    if (qp >= 0) { m->query_port = (uint32_t)qp; m->has |= DNSTAP_HAS_QUERY_PORT; }
    if (rp >= 0) { m->response_port = (uint32_t)rp; m->has |= DNSTAP_HAS_RESPONSE_PORT; }
}

static const char *zone(dnstap_msg_t *m, const char *text) {
    m->query_zone = bytes_of(g_zone, name_to_wire(text, g_zone, sizeof g_zone));
    return text;
}

/* Fixed-seed xorshift32: binary field contents, same on every run. */
static uint32_t g_rng = 0x2545f491u;
static void fill_random(uint8_t *p, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) {
        g_rng ^= g_rng << 13;
        g_rng ^= g_rng >> 17;
        g_rng ^= g_rng << 5;
        p[i] = (uint8_t)(g_rng >> 24);
    }
}

#define T0 UINT64_C(1700000000)   /* 2023-11-14T22:13:20Z */

static wire_t g_q, g_r;

int main(int argc, char **argv) {
    static const dnstap_message_type_t all_types[14] = {
        DNSTAP_AUTH_QUERY, DNSTAP_AUTH_RESPONSE, DNSTAP_RESOLVER_QUERY, DNSTAP_RESOLVER_RESPONSE,
        DNSTAP_CLIENT_QUERY, DNSTAP_CLIENT_RESPONSE, DNSTAP_FORWARDER_QUERY, DNSTAP_FORWARDER_RESPONSE,
        DNSTAP_STUB_QUERY, DNSTAP_STUB_RESPONSE, DNSTAP_TOOL_QUERY, DNSTAP_TOOL_RESPONSE,
        DNSTAP_UPDATE_QUERY, DNSTAP_UPDATE_RESPONSE
    };
    static uint8_t big_identity[1000], big_version[300], big_extra[2000], big_value[1000], big_rule[255];
    static const uint8_t bin_identity[] = { 'b', 'i', 'n', 0x00, 0xff, 0x01, 'i', 'd' };
    static const uint8_t bin_version[] = { 'v', 0x7f, 0x80, '1' };
    dnstap_msg_t m;
    const char *z;
    dnstap_result_t res;
    unsigned i;

    if (argc != 3) {
        fprintf(stderr, "usage: gen_sample OUT.dnstap OUT.json\n");
        return 2;
    }

    /* Three encoders: identity + version (the file's), nothing at all, and
       identity + version + extra. All stop where golang-dnstap does. */
    g_desc[0].identity = dnstap_str("ns1.gen-sample.test");
    g_desc[0].version = dnstap_str("dnstap.h " DNSTAP_VERSION_STRING);
    g_desc[2].identity = dnstap_str("resolver-2");
    g_desc[2].version = dnstap_str("v2");
    g_desc[2].extra = dnstap_str("encoder extra");
    for (i = 0; i < 3; i++) {
        g_desc[i].payload_max = DNSTAP_PAYLOAD_MAX_GOLANG;
        res = dnstap_encoder_init(&g_enc[i], &g_desc[i]);
        if (res != DNSTAP_OK) die("encoder %u: %s", i, dnstap_result_str(res));
    }
    res = dnstap_file_open(&g_file, &g_enc[0], g_filebuf, sizeof g_filebuf, argv[1]);
    if (res != DNSTAP_OK) die("%s: %s", argv[1], dnstap_result_str(res));
    g_json = fopen(argv[2], "w");
    if (g_json == NULL) die("%s: cannot create", argv[2]);
    fputs("[\n", g_json);

    /* --- every message type, each with a transport it typically has ------ */
    memset(&m, 0, sizeof m);
    m.type = all_types[0];
    endpoints(&m, DNSTAP_INET, DNSTAP_UDP, "192.0.2.10", 53001, "192.0.2.53", 53);
    dnstap_msg_set_query_time(&m, T0, 123456789);
    dns_query(&g_q, 0x1234, 0, "www.example.com.", "A");
    m.query_message = wire_bytes(&g_q);
    z = zone(&m, "example.com.");
    emit("auth-query-v4-udp", 0, &m, &g_q, NULL, z);

    memset(&m, 0, sizeof m);
    m.type = all_types[1];
    endpoints(&m, DNSTAP_INET, DNSTAP_UDP, "192.0.2.10", 53001, "192.0.2.53", 53);
    dnstap_msg_set_query_time(&m, T0, 123456789);
    dnstap_msg_set_response_time(&m, T0, 124000000);
    m.query_message = wire_bytes(&g_q);
    w_begin(&g_r, 0x1234, OP_QUERY, F_QR | F_AA, RC_NOERROR);
    w_question(&g_r, "www.example.com.", "A");
    w_rr(&g_r, SEC_ANSWER, "www.example.com.", "A", 300, "192.0.2.80");
    w_rr(&g_r, SEC_ANSWER, "www.example.com.", "A", 300, "192.0.2.81");
    w_end(&g_r);
    m.response_message = wire_bytes(&g_r);
    z = zone(&m, "example.com.");
    emit("auth-response-v4-udp", 0, &m, &g_q, &g_r, z);

    memset(&m, 0, sizeof m);
    m.type = all_types[2];
    endpoints(&m, DNSTAP_INET6, DNSTAP_TCP, "2001:db8::53", 40000, "2001:db8:1:2:3:4:5:6", 53);
    dnstap_msg_set_query_time(&m, T0 + 1, 5);
    dns_query(&g_q, 0xbeef, 0, "ipv6.example.net.", "AAAA");
    m.query_message = wire_bytes(&g_q);
    z = zone(&m, "example.net.");
    emit("resolver-query-v6-tcp", 0, &m, &g_q, NULL, z);

    memset(&m, 0, sizeof m);
    m.type = all_types[3];
    endpoints(&m, DNSTAP_INET6, DNSTAP_TCP, "2001:db8::53", 40000, "2001:db8:1:2:3:4:5:6", 53);
    dnstap_msg_set_query_time(&m, T0 + 1, 5);
    dnstap_msg_set_response_time(&m, T0 + 1, 987654321);
    m.query_message = wire_bytes(&g_q);
    w_begin(&g_r, 0xbeef, OP_QUERY, F_QR | F_AA, RC_NOERROR);
    w_question(&g_r, "ipv6.example.net.", "AAAA");
    w_rr(&g_r, SEC_ANSWER, "ipv6.example.net.", "AAAA", 3600, "2001:db8::80");
    w_rr(&g_r, SEC_AUTHORITY, "example.net.", "NS", 3600, "ns1.example.net.");
    w_rr(&g_r, SEC_ADDITIONAL, "ns1.example.net.", "A", 3600, "198.51.100.53");
    w_rr(&g_r, SEC_ADDITIONAL, "ns1.example.net.", "AAAA", 3600, "2001:db8::35");
    w_end(&g_r);
    m.response_message = wire_bytes(&g_r);
    z = zone(&m, "example.net.");
    emit("resolver-response-v6-tcp", 0, &m, &g_q, &g_r, z);

    memset(&m, 0, sizeof m);
    m.type = all_types[4];
    endpoints(&m, DNSTAP_INET, DNSTAP_DOT, "198.51.100.7", 41234, "198.51.100.1", 853);
    dnstap_msg_set_query_time(&m, T0 + 2, 0);
    w_begin(&g_q, 7, OP_QUERY, F_RD | F_AD, RC_NOERROR);
    w_question(&g_q, "example.org.", "MX");
    w_opt(&g_q, 1232, -1);
    w_end(&g_q);
    m.query_message = wire_bytes(&g_q);
    m.extra = dnstap_str("per-message extra");
    emit("client-query-v4-dot-extra-override", 2, &m, &g_q, NULL, NULL);

    memset(&m, 0, sizeof m);
    m.type = all_types[5];
    endpoints(&m, DNSTAP_INET, DNSTAP_DOT, "198.51.100.7", 41234, "198.51.100.1", 853);
    dnstap_msg_set_query_time(&m, T0 + 2, 0);
    dnstap_msg_set_response_time(&m, T0 + 2, 1000);
    m.query_message = wire_bytes(&g_q);
    w_begin(&g_r, 7, OP_QUERY, F_QR | F_RD | F_RA, RC_NOERROR);
    w_question(&g_r, "example.org.", "MX");
    w_rr(&g_r, SEC_ANSWER, "example.org.", "MX", 600, "10 mail.example.org.");
    w_rr(&g_r, SEC_ANSWER, "example.org.", "MX", 600, "20 backup.example.org.");
    w_rr(&g_r, SEC_ADDITIONAL, "mail.example.org.", "A", 600, "203.0.113.25");
    w_opt(&g_r, 1232, -1);
    w_end(&g_r);
    m.response_message = wire_bytes(&g_r);
    m.extra = EMPTY;   /* replaces the encoder's extra with an empty one */
    emit("client-response-v4-dot-empty-extra", 2, &m, &g_q, &g_r, NULL);

    memset(&m, 0, sizeof m);
    m.type = all_types[6];
    endpoints(&m, DNSTAP_INET6, DNSTAP_DOH, "2001:db8:aa::1", 50000, "2001:db8:bb::2", 443);
    m.http_protocol = DNSTAP_HTTP1;
    dnstap_msg_set_query_time(&m, T0 + 3, 999999999);
    dns_query(&g_q, 0xffff, F_RD, "nonexistent.example.com.", "A");
    m.query_message = wire_bytes(&g_q);
    z = zone(&m, "example.com.");
    emit("forwarder-query-v6-doh-http1", 0, &m, &g_q, NULL, z);

    memset(&m, 0, sizeof m);
    m.type = all_types[7];
    endpoints(&m, DNSTAP_INET6, DNSTAP_DOH, "2001:db8:aa::1", 50000, "2001:db8:bb::2", 443);
    m.http_protocol = DNSTAP_HTTP2;
    dnstap_msg_set_query_time(&m, T0 + 3, 999999999);
    dnstap_msg_set_response_time(&m, T0 + 4, 1);
    m.query_message = wire_bytes(&g_q);
    w_begin(&g_r, 0xffff, OP_QUERY, F_QR | F_RD | F_RA, RC_NXDOMAIN);
    w_question(&g_r, "nonexistent.example.com.", "A");
    w_rr(&g_r, SEC_AUTHORITY, "example.com.", "SOA", 900,
         "ns1.example.com. hostmaster.example.com. 2024010101 7200 3600 1209600 900");
    w_end(&g_r);
    m.response_message = wire_bytes(&g_r);
    z = zone(&m, "example.com.");
    emit("forwarder-response-v6-doh-http2-nxdomain", 0, &m, &g_q, &g_r, z);

    memset(&m, 0, sizeof m);
    m.type = all_types[8];
    endpoints(&m, DNSTAP_INET, DNSTAP_DOH, "10.0.0.2", 33333, "10.0.0.1", 443);
    m.http_protocol = DNSTAP_HTTP3;
    dnstap_msg_set_query_time(&m, T0 + 5, 100);
    dns_query(&g_q, 0, F_RD | F_CD, ".", "NS");
    m.query_message = wire_bytes(&g_q);
    z = zone(&m, ".");
    emit("stub-query-v4-doh-http3-root", 0, &m, &g_q, NULL, z);

    memset(&m, 0, sizeof m);
    m.type = all_types[9];
    endpoints(&m, DNSTAP_INET, DNSTAP_DNSCRYPT_UDP, "10.0.0.2", 33334, "10.0.0.1", 443);
    dnstap_msg_set_query_time(&m, T0 + 6, 0);
    dnstap_msg_set_response_time(&m, T0 + 6, 500000000);
    dns_query(&g_q, 0x0102, F_RD, "www.example.com.", "A");
    m.query_message = wire_bytes(&g_q);
    w_begin(&g_r, 0x0102, OP_QUERY, F_QR | F_RD | F_RA, RC_SERVFAIL);
    w_question(&g_r, "www.example.com.", "A");
    w_end(&g_r);
    m.response_message = wire_bytes(&g_r);
    emit("stub-response-v4-dnscryptudp-servfail", 0, &m, &g_q, &g_r, NULL);

    memset(&m, 0, sizeof m);
    m.type = all_types[10];
    endpoints(&m, DNSTAP_INET6, DNSTAP_DNSCRYPT_TCP, "::1", 45678, "::1", 5353);
    dnstap_msg_set_query_time(&m, T0 + 7, 7);
    dns_query(&g_q, 0x8000, F_RD, "tool.example.", "AAAA");
    m.query_message = wire_bytes(&g_q);
    emit("tool-query-v6-dnscrypttcp", 0, &m, &g_q, NULL, NULL);

    memset(&m, 0, sizeof m);
    m.type = all_types[11];
    endpoints(&m, DNSTAP_INET6, DNSTAP_DOQ, "::1", 45678, "::1", 853);
    dnstap_msg_set_query_time(&m, T0 + 7, 7);
    dnstap_msg_set_response_time(&m, T0 + 7, 8);
    dns_query(&g_q, 0x8001, F_RD, "tool.example.", "AAAA");
    m.query_message = wire_bytes(&g_q);
    w_begin(&g_r, 0x8001, OP_QUERY, F_QR | F_RD | F_RA | F_AD, RC_NOERROR);
    w_question(&g_r, "tool.example.", "AAAA");
    w_rr(&g_r, SEC_ANSWER, "tool.example.", "AAAA", 60, "2001:db8::7");
    w_end(&g_r);
    m.response_message = wire_bytes(&g_r);
    emit("tool-response-v6-doq", 0, &m, &g_q, &g_r, NULL);

    /* RFC 2136: the zone in the question section, the update in authority */
    memset(&m, 0, sizeof m);
    m.type = all_types[12];
    endpoints(&m, DNSTAP_INET, DNSTAP_TCP, "192.0.2.200", 60000, "192.0.2.53", 53);
    dnstap_msg_set_query_time(&m, T0 + 8, 800);
    w_begin(&g_q, 0x2136, OP_UPDATE, 0, RC_NOERROR);
    w_question(&g_q, "example.com.", "SOA");
    w_rr(&g_q, SEC_AUTHORITY, "host.example.com.", "A", 300, "192.0.2.99");
    w_end(&g_q);
    m.query_message = wire_bytes(&g_q);
    z = zone(&m, "example.com.");
    emit("update-query-v4-tcp", 0, &m, &g_q, NULL, z);

    memset(&m, 0, sizeof m);
    m.type = all_types[13];
    endpoints(&m, DNSTAP_INET, DNSTAP_TCP, "192.0.2.200", 60000, "192.0.2.53", 53);
    dnstap_msg_set_query_time(&m, T0 + 8, 800);
    dnstap_msg_set_response_time(&m, T0 + 8, 900);
    m.query_message = wire_bytes(&g_q);
    w_begin(&g_r, 0x2136, OP_UPDATE, F_QR, RC_REFUSED);
    w_question(&g_r, "example.com.", "SOA");
    w_end(&g_r);
    m.response_message = wire_bytes(&g_r);
    z = zone(&m, "example.com.");
    emit("update-response-v4-tcp-refused", 0, &m, &g_q, &g_r, z);

    /* --- policy: all five fields; every action and every match ----------- */
    for (i = 0; i < 6; i++) {
        static const char *const names[6] = { "nxdomain", "nodata", "pass", "drop", "truncate", "local-data" };
        static uint8_t value[255];
        static char label[64];
        dnstap_policy_match_t match = (dnstap_policy_match_t)(i % 5 + 1);
        const char *qname = "blocked.example.com.";
        memset(&m, 0, sizeof m);
        m.type = DNSTAP_CLIENT_RESPONSE;
        if (i % 2)
            endpoints(&m, DNSTAP_INET6, DNSTAP_UDP, "2001:db8::c1", 10000 + i, "2001:db8::53", 53);
        else
            endpoints(&m, DNSTAP_INET, DNSTAP_UDP, "192.0.2.66", 10000 + i, "192.0.2.53", 53);
        dnstap_msg_set_query_time(&m, T0 + 10 + i, 1);
        dnstap_msg_set_response_time(&m, T0 + 10 + i, 2);
        dns_query(&g_q, 0x5000 + i, F_RD, qname, "A");
        m.query_message = wire_bytes(&g_q);
        m.policy.type = dnstap_str("RPZ");
        m.policy.rule = dnstap_str("blocked.example.com.rpz.example.");
        m.policy.action = (dnstap_policy_action_t)(i + 1);
        m.policy.match = match;
        switch (match) {   /* what matched: a name in wire form or an address */
        case DNSTAP_MATCH_QNAME: m.policy.value = bytes_of(value, name_to_wire(qname, value, sizeof value)); break;
        case DNSTAP_MATCH_CLIENT_IP: m.policy.value = m.query_address; break;
        case DNSTAP_MATCH_RESPONSE_IP: m.policy.value = ip(value, "192.0.2.13"); break;
        case DNSTAP_MATCH_NS_NAME: m.policy.value = bytes_of(value, name_to_wire("ns.bad.example.", value, sizeof value)); break;
        case DNSTAP_MATCH_NS_IP: m.policy.value = ip(value, "2001:db8:bad::53"); break;
        }
        /* the response the action produces; DROP sends none */
        if (m.policy.action != DNSTAP_ACTION_DROP) {
            unsigned flags = F_QR | F_RD | F_RA | (m.policy.action == DNSTAP_ACTION_TRUNCATE ? F_TC : 0u);
            w_begin(&g_r, 0x5000 + i, OP_QUERY, flags,
                    m.policy.action == DNSTAP_ACTION_NXDOMAIN ? RC_NXDOMAIN : RC_NOERROR);
            w_question(&g_r, qname, "A");
            if (m.policy.action == DNSTAP_ACTION_PASS)
                w_rr(&g_r, SEC_ANSWER, qname, "A", 120, "203.0.113.5");
            if (m.policy.action == DNSTAP_ACTION_LOCAL_DATA)
                w_rr(&g_r, SEC_ANSWER, qname, "A", 5, "127.0.0.1");
            w_end(&g_r);
            m.response_message = wire_bytes(&g_r);
        }
        sprintf(label, "policy-%s-match%d", names[i], (int)match);
        emit(label, i % 3, &m, &g_q, m.response_message.data ? &g_r : NULL, NULL);
    }

    memset(&m, 0, sizeof m);
    m.type = DNSTAP_CLIENT_QUERY;
    m.has = DNSTAP_HAS_POLICY;   /* an empty Policy message */
    emit("policy-present-empty", 0, &m, NULL, NULL, NULL);

    memset(&m, 0, sizeof m);
    m.type = DNSTAP_CLIENT_QUERY;
    m.policy.type = EMPTY;
    m.policy.rule = EMPTY;
    m.policy.value = EMPTY;
    emit("policy-empty-fields", 0, &m, NULL, NULL, NULL);

    /* --- presence ------------------------------------------------------- */
    memset(&m, 0, sizeof m);
    m.type = DNSTAP_TOOL_QUERY;
    emit("minimal-type-only-no-identity", 1, &m, NULL, NULL, NULL);

    memset(&m, 0, sizeof m);
    m.type = DNSTAP_STUB_RESPONSE;
    m.socket_family = DNSTAP_INET;   /* addresses are 4 bytes or absent: never empty */
    m.query_message = EMPTY;
    m.query_zone = EMPTY;
    m.response_message = EMPTY;
    m.identity = EMPTY;
    m.version = EMPTY;
    m.extra = EMPTY;
    emit("empty-bytes-everywhere", 1, &m, NULL, NULL, NULL);

    memset(&m, 0, sizeof m);
    m.type = DNSTAP_AUTH_QUERY;
    endpoints(&m, DNSTAP_INET, DNSTAP_UDP, "0.0.0.0", 0, "255.255.255.255", 0);
    dnstap_msg_set_query_time(&m, T0 + 20, 0);
    emit("ports-zero", 0, &m, NULL, NULL, NULL);

    memset(&m, 0, sizeof m);
    m.type = DNSTAP_AUTH_RESPONSE;
    endpoints(&m, DNSTAP_INET, DNSTAP_UDP, "192.0.2.1", -1, "192.0.2.2", -1);
    emit("ports-absent", 0, &m, NULL, NULL, NULL);

    memset(&m, 0, sizeof m);
    m.type = DNSTAP_RESOLVER_QUERY;
    endpoints(&m, DNSTAP_INET, DNSTAP_UDP, "192.0.2.1", 65535, "192.0.2.2", 65535);
    emit("ports-max", 0, &m, NULL, NULL, NULL);

    /* --- times ---------------------------------------------------------- */
    memset(&m, 0, sizeof m);
    m.type = DNSTAP_CLIENT_RESPONSE;
    m.query_time_sec = T0;
    m.response_time_nsec = 42;
    m.has = DNSTAP_HAS_QUERY_TIME_SEC | DNSTAP_HAS_RESPONSE_TIME_NSEC;
    emit("time-halves", 0, &m, NULL, NULL, NULL);

    memset(&m, 0, sizeof m);
    m.type = DNSTAP_CLIENT_RESPONSE;
    dnstap_msg_set_query_time(&m, 0, 0);
    dnstap_msg_set_response_time(&m, 0, 1);
    emit("time-zero", 0, &m, NULL, NULL, NULL);

    memset(&m, 0, sizeof m);
    m.type = DNSTAP_RESOLVER_RESPONSE;
    dnstap_msg_set_query_time(&m, UINT64_C(1) << 32, 1);
    dnstap_msg_set_response_time(&m, UINT64_C(253402300799), 999999999);   /* 9999-12-31T23:59:59 */
    emit("time-2106-and-9999", 0, &m, NULL, NULL, NULL);

    memset(&m, 0, sizeof m);
    m.type = DNSTAP_RESOLVER_RESPONSE;
    dnstap_msg_set_query_time(&m, UINT64_C(1) << 40, 500000000);   /* year 36812 */
    dnstap_msg_set_response_time(&m, UINT64_MAX, 0);               /* 10-byte varint */
    emit("time-large", 0, &m, NULL, NULL, NULL);

    memset(&m, 0, sizeof m);
    m.type = DNSTAP_FORWARDER_RESPONSE;
    dnstap_msg_set_query_time(&m, T0, 999999999);   /* 1e9 and more: INVALID, readers misread it */
    dnstap_msg_set_response_time(&m, T0 + 1, 999999999);
    emit("time-nsec-max", 0, &m, NULL, NULL, NULL);

    /* --- sizes ---------------------------------------------------------- */
    {
        static const char long_name[] =   /* 255 bytes in wire form, the most a name may have */
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."
            "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb."
            "ccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc."
            "ddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd.";
        for (i = 0; i < sizeof big_identity; i++) big_identity[i] = (uint8_t)('a' + i % 26);
        for (i = 0; i < sizeof big_version; i++) big_version[i] = (uint8_t)('0' + i % 10);
        for (i = 0; i < sizeof big_rule; i++) big_rule[i] = (uint8_t)('A' + i % 26);
        fill_random(big_extra, sizeof big_extra);
        fill_random(big_value, sizeof big_value);
        memset(&m, 0, sizeof m);
        m.type = DNSTAP_RESOLVER_QUERY;
        endpoints(&m, DNSTAP_INET6, DNSTAP_TCP, "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", 1,
                  "2001:db8::", 65535);
        dnstap_msg_set_query_time(&m, T0 + 30, 30);
        dns_query(&g_q, 0x0255, 0, long_name, "A");
        m.query_message = wire_bytes(&g_q);
        z = zone(&m, long_name);
        m.identity = bytes_of(big_identity, sizeof big_identity);
        m.version = bytes_of(big_version, sizeof big_version);
        m.extra = bytes_of(big_extra, sizeof big_extra);
        m.policy.type = dnstap_str("RPZ");
        m.policy.rule = bytes_of(big_rule, sizeof big_rule);
        m.policy.action = DNSTAP_ACTION_PASS;
        m.policy.match = DNSTAP_MATCH_QNAME;
        m.policy.value = bytes_of(big_value, sizeof big_value);
        emit("large-fields-and-longest-name", 0, &m, &g_q, NULL, z);
    }

    memset(&m, 0, sizeof m);
    m.type = DNSTAP_CLIENT_QUERY;
    endpoints(&m, DNSTAP_INET, DNSTAP_UDP, "192.0.2.9", 5300, "192.0.2.53", 53);
    m.identity = bytes_of(bin_identity, sizeof bin_identity);
    m.version = bytes_of(bin_version, sizeof bin_version);
    emit("binary-identity-version", 0, &m, NULL, NULL, NULL);

    memset(&m, 0, sizeof m);
    m.type = DNSTAP_CLIENT_QUERY;
    endpoints(&m, DNSTAP_INET6, DNSTAP_UDP, "::ffff:192.0.2.1", 53, "::", 53);
    emit("v6-mapped-and-unspecified", 0, &m, NULL, NULL, NULL);

    /* The largest DNS message (65535 bytes) as the response, and a query
       padded so that the payload is exactly golang-dnstap's limit. */
    {
        size_t size = 0, target = DNSTAP_PAYLOAD_MAX_GOLANG;
        long qpad = 0;
        int tries;
        memset(&m, 0, sizeof m);
        m.type = DNSTAP_CLIENT_RESPONSE;
        endpoints(&m, DNSTAP_INET, DNSTAP_UDP, "192.0.2.77", 6553, "192.0.2.53", 53);
        dnstap_msg_set_query_time(&m, T0 + 40, 1);
        dnstap_msg_set_response_time(&m, T0 + 40, 2);
        for (tries = 0; tries < 2; tries++) {   /* first pass measures, second builds */
            long pad = tries ? (long)(65535u - size) : 0;
            w_begin(&g_r, 0xfade, OP_QUERY, F_QR | F_AA | F_RD, RC_NOERROR);
            w_question(&g_r, "big.example.com.", "A");
            w_rr(&g_r, SEC_ANSWER, "big.example.com.", "A", 1, "192.0.2.255");
            w_opt(&g_r, 65535, pad);
            w_end(&g_r);
            size = g_r.n;
        }
        if (g_r.n != 65535) die("big response is %zu bytes", g_r.n);
        m.response_message = wire_bytes(&g_r);
        for (tries = 0; tries < 4; tries++) {
            w_begin(&g_q, 0xfade, OP_QUERY, F_RD, RC_NOERROR);
            w_question(&g_q, "big.example.com.", "A");
            w_opt(&g_q, 65535, qpad);
            w_end(&g_q);
            m.query_message = wire_bytes(&g_q);
            res = dnstap_encoded_size(&g_enc[0], &m, &size);
            if (res == DNSTAP_ERR_TOO_LONG) size = target + 1;
            else if (res != DNSTAP_OK) die("big: %s", dnstap_result_str(res));
            if (size == target) break;
            qpad += (long)target - (long)size;
        }
        if (size != target) die("big: payload %zu, wanted %zu", size, target);
        emit("largest-payload-98304", 0, &m, &g_q, &g_r, NULL);
    }

    /* The POSIX helper: address, port and family from socket addresses. */
    {
        struct sockaddr_in6 qa, ra;
        memset(&qa, 0, sizeof qa);
        memset(&ra, 0, sizeof ra);
        qa.sin6_family = AF_INET6;
        ra.sin6_family = AF_INET6;
        qa.sin6_port = htons(5353);
        ra.sin6_port = htons(53);
        if (inet_pton(AF_INET6, "2001:db8::abcd", &qa.sin6_addr) != 1 ||
            inet_pton(AF_INET6, "fe80::1", &ra.sin6_addr) != 1)
            die("inet_pton");
        memset(&m, 0, sizeof m);
        m.type = DNSTAP_CLIENT_QUERY;
        m.socket_protocol = DNSTAP_UDP;
        if (dnstap_msg_set_query_sockaddr(&m, (const struct sockaddr *)(const void *)&qa) != DNSTAP_OK ||
            dnstap_msg_set_response_sockaddr(&m, (const struct sockaddr *)(const void *)&ra) != DNSTAP_OK)
            die("sockaddr");
        dnstap_msg_set_query_time(&m, T0 + 50, 50);
        dns_query(&g_q, 0xabcd, F_RD, "sockaddr.example.", "A");
        m.query_message = wire_bytes(&g_q);
        emit("sockaddr-helpers", 0, &m, &g_q, NULL, NULL);
    }

    res = dnstap_file_close(&g_file);
    if (res != DNSTAP_OK) die("%s: %s", argv[1], dnstap_result_str(res));
    fputs("\n]\n", g_json);
    if (ferror(g_json)) die("%s: write failed", argv[2]);
    if (fclose(g_json) != 0) die("%s: write failed", argv[2]);
    return 0;
}
