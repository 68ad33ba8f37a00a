/* fuzz_print.c - the text printers of examples/reader.c (reader's and
   dtap's -y, -j and -q output): the dnstap fields and, in dig style, the
   DNS messages inside them, which come from the network and may be
   anything.

   examples/reader.c is included with READER_EMBEDDED (no main()); its
   output goes to /dev/null.

   Input: the first byte picks the shape of the rest.
     even: a Dnstap payload; when dnstap_decode() takes it, it is printed
       in the three formats.
     odd: a DNS message (any bytes), carried as both the query and the
       response message of a CLIENT_RESPONSE whose addresses, ports, times
       and socket family come from the first byte's other bits and the
       message's first bytes; printed in the three formats.

   Invariants (abort on violation): ASan/UBSan clean; every printer
   returns, each having written something. */
#define READER_EMBEDDED
#include "../examples/reader.c"
#include "fuzz_common.h"

static unsigned long long written;   /* bytes the printers gave the output buffer */

static void print_all(const dnstap_msg_t *m) {
    static const int formats[3] = { F_YAML, F_JSON, F_QUIET };
    unsigned i;
    for (i = 0; i < 3; i++) {
        size_t before = olen;
        fmt = formats[i];
        if (fmt == F_YAML) print_yaml(m);
        else if (fmt == F_JSON) print_json(m);
        else print_quiet(m);
        written += olen >= before ? olen - before : olen;   /* olen restarts when the buffer is flushed */
        FUZZ_CHECK(olen > 0, "format %u wrote nothing", i);
        oflush();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int quiet;
    dnstap_msg_t m;
    uint8_t shape;
    (void)read_file;   /* the file side of reader.c is fuzz_reader's */
    if (!quiet) {   /* the printers' output is not looked at */
        quiet = freopen("/dev/null", "w", stdout) != NULL;
        FUZZ_CHECK(quiet, "cannot send stdout to /dev/null");
    }
    if (size == 0) return 0;
    shape = data[0];
    data++;
    size--;
    if ((shape & 1) == 0) {
        if (dnstap_decode(data, size, &m) == DNSTAP_OK) print_all(&m);
        return 0;
    }
    {
        static const uint8_t v4[4] = { 192, 0, 2, 1 }, v6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
        uint64_t t = 0;
        size_t i;
        for (i = 0; i < 8 && i < size; i++) t = t << 8 | data[i];   /* any time, extremes included */
        memset(&m, 0, sizeof m);
        m.type = DNSTAP_CLIENT_RESPONSE;
        m.socket_family = (shape & 2) ? DNSTAP_INET6 : DNSTAP_INET;
        m.socket_protocol = (shape & 4) ? DNSTAP_TCP : DNSTAP_UDP;
        m.query_address.data = m.response_address.data = (shape & 2) ? v6 : v4;
        m.query_address.len = m.response_address.len = (shape & 2) ? 16 : 4;
        m.query_port = 53000;
        m.response_port = 53;
        m.has = DNSTAP_HAS_QUERY_PORT | DNSTAP_HAS_RESPONSE_PORT;
        if (shape & 8) dnstap_msg_set_query_time(&m, t, (uint32_t)(t % 1000000000u));
        if (shape & 16) dnstap_msg_set_response_time(&m, t >> (shape >> 5), 999999999u);
        m.query_message.data = m.response_message.data = data;
        m.query_message.len = m.response_message.len = size;
        print_all(&m);
    }
    return 0;
}
