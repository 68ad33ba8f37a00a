/* consumer.c - a program that uses an installed dnstap.h, built by
   tests/consumers.sh through CMake (find_package, add_subdirectory) and
   pkg-config. It writes a one-message dnstap file: consumer FILE IDENTITY.
   Built with DNSTAP_WITH_MBEDTLS (dnstap::dnstap_mbedtls, dnstap-mbedtls.pc)
   it also sets up a tls:// tap whose CA file is missing: Mbed TLS's loader
   refuses it (DNSTAP_ERR_INVALID; a build without TLS answers
   DNSTAP_ERR_UNSUPPORTED), so the TLS code is compiled and linked in. */
#define DNSTAP_IMPLEMENTATION
#include <dnstap.h>
#include <stdio.h>

int main(int argc, char **argv) {
    static dnstap_encoder_t enc;
    static uint8_t buf[4096];
    static dnstap_file_t out;
    dnstap_encoder_desc_t ed = DNSTAP_ZERO;
    dnstap_msg_t m = DNSTAP_ZERO;
    if (argc != 3) return 2;
    ed.identity = dnstap_str(argv[2]);
    if (dnstap_encoder_init(&enc, &ed) != DNSTAP_OK ||
        dnstap_file_open(&out, &enc, buf, sizeof buf, argv[1]) != DNSTAP_OK) return 1;
    m.type = DNSTAP_CLIENT_QUERY;
    m.socket_protocol = DNSTAP_UDP;
    dnstap_msg_set_query_time(&m, 1700000000, 0);
    if (dnstap_file_log(&out, &m) != DNSTAP_OK || dnstap_file_close(&out) != DNSTAP_OK) return 1;
    printf("consumer: wrote %s\n", argv[1]);
#ifdef DNSTAP_WITH_MBEDTLS
    {
        static uint8_t queue[4096];
        static dnstap_t tap;
        static dnstap_tls_t tls;
        dnstap_desc_t d = DNSTAP_ZERO;
        dnstap_result_t r;
        d.endpoint = "tls://127.0.0.1:853";
        d.queue = queue;
        d.queue_size = sizeof queue;
        d.tls_state = &tls;
        d.tls_ca_file = "/nonexistent/ca.pem";
        r = dnstap_init(&tap, &d);
        printf("consumer: tls:// with a missing CA file: %s\n", dnstap_result_str(r));
        if (r != DNSTAP_ERR_INVALID) return 1;
    }
#endif
    return 0;
}
