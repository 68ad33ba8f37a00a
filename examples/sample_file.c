/* sample_file.c - write a dnstap file of a small resolver's day.

   A forwarder on 192.0.2.53 / 2001:db8::53 answers clients over UDP and TCP,
   asking its upstream 198.51.100.1 when it must. For each exchange it logs
   what CoreDNS's `dnstap ... full` logs: CLIENT_QUERY, FORWARDER_QUERY,
   FORWARDER_RESPONSE and CLIENT_RESPONSE, with real DNS wire messages (A,
   AAAA, MX and an NXDOMAIN), addresses, ports and times.

   The file is written through dnstap_file_t: a buffer we own, encoded into
   in place, flushed with write(2). Read it with any dnstap reader:
       sample_file out.dnstap && dnstap -r out.dnstap -y

   Usage: sample_file FILE */
#define DNSTAP_IMPLEMENTATION
#include "../dnstap.h"

#include <stdio.h>
#include <string.h>

/* ---- a tiny DNS message builder (just enough for the sample) ---- */
typedef struct wire_t { uint8_t b[512]; size_t n; } wire_t;

static void put8(wire_t *w, unsigned v) { w->b[w->n++] = (uint8_t)v; }
static void put16(wire_t *w, unsigned v) { put8(w, v >> 8); put8(w, v & 0xff); }
static void put32(wire_t *w, unsigned long v) { put16(w, (unsigned)(v >> 16)); put16(w, (unsigned)(v & 0xffff)); }

static void put_name(wire_t *w, const char *name) {
    while (*name) {
        const char *dot = strchr(name, '.');
        size_t len = dot ? (size_t)(dot - name) : strlen(name);
        put8(w, (unsigned)len);
        memcpy(w->b + w->n, name, len);
        w->n += len;
        name += len + (dot ? 1 : 0);
    }
    put8(w, 0);
}

enum { T_A = 1, T_MX = 15, T_AAAA = 28 };

static void build_query(wire_t *w, unsigned id, const char *name, unsigned type) {
    w->n = 0;
    put16(w, id); put16(w, 0x0100);               /* RD */
    put16(w, 1); put16(w, 0); put16(w, 0); put16(w, 0);
    put_name(w, name); put16(w, type); put16(w, 1);
}

/* A response to q: rcode 0 with one answer, or NXDOMAIN (3) with none. */
static void build_response(wire_t *w, const wire_t *q, unsigned type, unsigned rcode) {
    memcpy(w->b, q->b, q->n);
    w->n = q->n;
    w->b[2] = 0x81;                               /* QR RD */
    w->b[3] = (uint8_t)(0x80 | rcode);            /* RA, rcode */
    if (rcode) return;
    w->b[7] = 1;                                  /* ANCOUNT */
    put16(w, 0xc00c); put16(w, type); put16(w, 1); put32(w, 3600);
    if (type == T_A) { put16(w, 4); put32(w, 0xc0000221ul); }           /* 192.0.2.33 */
    else if (type == T_AAAA) {
        static const uint8_t v6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x33 };
        put16(w, 16); memcpy(w->b + w->n, v6, 16); w->n += 16;
    } else {                                      /* MX 10 mail.<qname> */
        put16(w, 9); put16(w, 10); put8(w, 4); memcpy(w->b + w->n, "mail", 4); w->n += 4; put16(w, 0xc00c);
    }
}

/* ---- the sample traffic ---- */
static const uint8_t client4[4] = { 192, 0, 2, 10 }, server4[4] = { 192, 0, 2, 53 };
static const uint8_t upstream4[4] = { 198, 51, 100, 1 };
static const uint8_t client6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10 };
static const uint8_t server6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x53 };

static void addr(dnstap_bytes_t *b, const uint8_t *a, size_t len) { b->data = a; b->len = len; }

int main(int argc, char **argv) {
    static const struct { const char *name; unsigned type, rcode; int v6, tcp, cached; } ex[] = {
        { "www.example.org", T_A, 0, 0, 0, 0 },
        { "www.example.org", T_AAAA, 0, 1, 0, 0 },
        { "example.org", T_MX, 0, 0, 1, 0 },
        { "nosuchname.example.org", T_A, 3, 1, 1, 0 },
        { "www.example.org", T_A, 0, 0, 0, 1 },    /* answered from cache */
    };
    static dnstap_encoder_t enc;
    static uint8_t buf[16384];
    static dnstap_file_t file;
    dnstap_encoder_desc_t desc;
    dnstap_result_t r;
    uint64_t sec;
    uint32_t nsec;
    size_t i;
    int logged = 0;

    if (argc != 2) { fprintf(stderr, "usage: %s FILE\n", argv[0]); return 2; }
    memset(&desc, 0, sizeof desc);
    desc.identity = dnstap_str("forwarder1.example");
    desc.version = dnstap_str("dnstap.h sample " DNSTAP_VERSION_STRING);
    if ((r = dnstap_encoder_init(&enc, &desc)) != DNSTAP_OK ||
        (r = dnstap_file_open(&file, &enc, buf, sizeof buf, argv[1])) != DNSTAP_OK) {
        fprintf(stderr, "%s: %s\n", argv[1], dnstap_result_str(r));
        return 1;
    }
    dnstap_now(&sec, &nsec);

    for (i = 0; i < sizeof ex / sizeof ex[0]; i++) {
        wire_t q, resp;
        dnstap_msg_t cm, fm;     /* client side, forwarder side */
        uint32_t t = nsec % 500000000u + (uint32_t)i * 1000000u;   /* ns within the second */
        build_query(&q, 0x1000u + (unsigned)i, ex[i].name, ex[i].type);
        build_response(&resp, &q, ex[i].type, ex[i].rcode);

        memset(&cm, 0, sizeof cm);
        cm.type = DNSTAP_CLIENT_QUERY;
        cm.socket_family = ex[i].v6 ? DNSTAP_INET6 : DNSTAP_INET;
        cm.socket_protocol = ex[i].tcp ? DNSTAP_TCP : DNSTAP_UDP;
        addr(&cm.query_address, ex[i].v6 ? client6 : client4, ex[i].v6 ? 16 : 4);
        addr(&cm.response_address, ex[i].v6 ? server6 : server4, ex[i].v6 ? 16 : 4);
        cm.query_port = 40000u + (uint32_t)i; cm.response_port = 53;
        cm.has |= DNSTAP_HAS_QUERY_PORT | DNSTAP_HAS_RESPONSE_PORT;
        dnstap_msg_set_query_time(&cm, sec, t);
        cm.query_message.data = q.b; cm.query_message.len = q.n;
        if (dnstap_file_log(&file, &cm) == DNSTAP_OK) logged++;

        if (!ex[i].cached) {
            memset(&fm, 0, sizeof fm);
            fm.type = DNSTAP_FORWARDER_QUERY;
            fm.socket_family = DNSTAP_INET;
            fm.socket_protocol = DNSTAP_UDP;
            addr(&fm.query_address, server4, 4);
            addr(&fm.response_address, upstream4, 4);
            fm.query_port = 50000u + (uint32_t)i; fm.response_port = 53;
            fm.has |= DNSTAP_HAS_QUERY_PORT | DNSTAP_HAS_RESPONSE_PORT;
            dnstap_msg_set_query_time(&fm, sec, t + 50000u);
            fm.query_message.data = q.b; fm.query_message.len = q.n;
            if (dnstap_file_log(&file, &fm) == DNSTAP_OK) logged++;
            fm.type = DNSTAP_FORWARDER_RESPONSE;
            dnstap_msg_set_response_time(&fm, sec, t + 350000u);
            fm.response_message.data = resp.b; fm.response_message.len = resp.n;
            if (dnstap_file_log(&file, &fm) == DNSTAP_OK) logged++;
        }

        cm.type = DNSTAP_CLIENT_RESPONSE;
        dnstap_msg_set_response_time(&cm, sec, t + (ex[i].cached ? 20000u : 400000u));
        cm.response_message.data = resp.b; cm.response_message.len = resp.n;
        if (dnstap_file_log(&file, &cm) == DNSTAP_OK) logged++;
    }
    if ((r = dnstap_file_close(&file)) != DNSTAP_OK) {
        fprintf(stderr, "%s: %s\n", argv[1], dnstap_result_str(r));
        return 1;
    }
    fprintf(stderr, "sample_file: %d messages written to %s\n", logged, argv[1]);
    return 0;
}
