/* matrix_check.c - validate the byte stream examples/baremetal.c sends out
   of its "UART": one Frame Streams stream (START with the dnstap content
   type, data frames, STOP), read with the library's incremental reader in
   odd chunk sizes (1 to 13 bytes, then the rest); every data frame decodes
   as a Dnstap message from "m4-router", CLIENT_QUERY or CLIENT_RESPONSE with
   the DNS message(s) in it, DNS ids never going backwards, each response
   answering its query; and re-encoding each decoded message gives the
   frame's payload byte for byte.
   Usage: matrix_check FILE EXPECTED_DATA_FRAMES
   Prints "PASS: ..." or "FAIL: ..." lines; exit status 0 only on PASS. */
#define DNSTAP_IMPLEMENTATION
#include "../dnstap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failed;

static void fail(const char *what, unsigned long frame) {
    printf("FAIL: baremetal stream: frame %lu: %s\n", frame, what);
    failed = 1;
}

static int bytes_is(dnstap_bytes_t b, const char *s) {
    return b.data != NULL && b.len == strlen(s) && memcmp(b.data, s, b.len) == 0;
}

static unsigned dns_id(dnstap_bytes_t b) { return b.len >= 12 ? (unsigned)(b.data[0] << 8 | b.data[1]) : 0x10000u; }

int main(int argc, char **argv) {
    static uint8_t rbuf[65536], payload_copy[65536], again[65536];
    dnstap_reader_t r;
    dnstap_encoder_t plain;
    FILE *fp;
    uint8_t *in;
    long size;
    size_t pos = 0, chunk = 1;
    unsigned long frames = 0, expected, queries = 0, responses = 0, controls = 0;
    unsigned last_id = 0;
    dnstap_result_t e;
    if (argc != 3) { fprintf(stderr, "usage: matrix_check FILE EXPECTED_DATA_FRAMES\n"); return 2; }
    expected = strtoul(argv[2], NULL, 10);
    fp = fopen(argv[1], "rb");
    if (fp == NULL || fseek(fp, 0, SEEK_END) != 0 || (size = ftell(fp)) < 0 || fseek(fp, 0, SEEK_SET) != 0) {
        printf("FAIL: baremetal stream: cannot read %s\n", argv[1]);
        return 1;
    }
    in = (uint8_t *)malloc((size_t)size + 1);
    if (in == NULL || fread(in, 1, (size_t)size, fp) != (size_t)size) {
        printf("FAIL: baremetal stream: cannot read %s\n", argv[1]);
        return 1;
    }
    fclose(fp);
    if (dnstap_reader_init(&r, rbuf, sizeof rbuf) != DNSTAP_OK || dnstap_encoder_init(&plain, NULL) != DNSTAP_OK) {
        printf("FAIL: baremetal stream: init\n");
        return 1;
    }
    while (pos < (size_t)size && !failed) {
        size_t n = (size_t)size - pos, used = 0;
        dnstap_frame_t f;
        if (chunk <= 13 && n > chunk) n = chunk;
        chunk++;
        e = dnstap_reader_feed(&r, in + pos, n, &used, &f);
        pos += used;
        if (e == DNSTAP_ERR_AGAIN) continue;
        if (e != DNSTAP_OK) { fail(dnstap_result_str(e), frames); break; }
        if (f.kind == DNSTAP_FRAME_CONTROL) {
            controls++;
            if ((controls == 1 && f.control != DNSTAP_CONTROL_START) ||
                (controls == 2 && f.control != DNSTAP_CONTROL_STOP) || controls > 2)
                fail("unexpected control frame", frames);
            continue;
        }
        {
            dnstap_msg_t m;
            size_t len;
            unsigned id;
            frames++;
            if (f.len > sizeof payload_copy) { fail("frame too big", frames); break; }
            memcpy(payload_copy, f.data, f.len);    /* f.data is valid until the next feed only */
            e = dnstap_decode(payload_copy, f.len, &m);
            if (e != DNSTAP_OK) { fail(dnstap_result_str(e), frames); break; }
            if (!bytes_is(m.identity, "m4-router")) fail("identity is not m4-router", frames);
            if (m.version.data == NULL || m.version.len < 12 || memcmp(m.version.data, "baremetal.c ", 12) != 0)
                fail("version is not baremetal.c's", frames);
            if (m.socket_family != DNSTAP_INET || m.socket_protocol != DNSTAP_UDP ||
                m.query_address.len != 4 || m.response_address.len != 4 || m.response_port != 53 ||
                (m.has & DNSTAP_HAS_QUERY_TIME) != DNSTAP_HAS_QUERY_TIME)
                fail("addresses, ports or query time missing", frames);
            id = dns_id(m.query_message);
            if (id > 0xffffu) { fail("no query message", frames); continue; }
            if (m.type == DNSTAP_CLIENT_QUERY) {
                queries++;
                if (m.response_message.data != NULL) fail("query with a response message", frames);
            } else if (m.type == DNSTAP_CLIENT_RESPONSE) {
                responses++;
                if (dns_id(m.response_message) != id || (m.response_message.data[2] & 0x80) == 0 ||
                    (m.has & DNSTAP_HAS_RESPONSE_TIME) != DNSTAP_HAS_RESPONSE_TIME)
                    fail("response does not answer its query", frames);
            } else {
                fail("neither CLIENT_QUERY nor CLIENT_RESPONSE", frames);
            }
            if (frames > 1 && id < last_id) fail("DNS ids go backwards", frames);
            last_id = id;
            /* identity and version come back as per-message overrides: the
               plain encoder then writes exactly the same payload */
            e = dnstap_encode(&plain, &m, again, sizeof again, &len);
            if (e != DNSTAP_OK || len != f.len || memcmp(again, payload_copy, len) != 0)
                fail("re-encoding the decoded message differs", frames);
        }
    }
    e = dnstap_reader_end(&r);
    if (!failed && e != DNSTAP_OK) fail(dnstap_result_str(e), frames);
    if (!failed && frames != expected) {
        printf("FAIL: baremetal stream: %lu data frames, the example reported %lu sent\n", frames, expected);
        failed = 1;
    }
    if (!failed)
        printf("PASS: baremetal stream: START, %lu data frames (%lu CLIENT_QUERY, %lu CLIENT_RESPONSE), STOP; "
               "%ld bytes read in 1..13-byte chunks, each decoded and re-encoded identically\n",
               frames, queries, responses, size);
    free(in);
    return failed;
}
