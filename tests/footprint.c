/* What a program links of dnstap.h: tests/size.sh builds this with each
   FP_PART and subtracts the text of FP_PART=0, the same program without
   dnstap.h (it calls memcpy and memset too, as any firmware does).
     FP_PART=0  no dnstap.h
     FP_PART=1  encode-only firmware: dnstap_encoder_init() + dnstap_encode_frame()
     FP_PART=2  live tap over a custom transport (connect/read/write/close):
                dnstap_init(), dnstap_log(), dnstap_poll()
     FP_PART=3  live tap as a server links it, POSIX: the endpoint (tcp:// or
                unix://) from argv[1], dnstap_init(), dnstap_log(),
                dnstap_poll(), dnstap_io(), dnstap_shutdown(), dnstap_run() */
#ifndef FP_PART
#define FP_PART 0
#endif
#if FP_PART
#define DNSTAP_IMPLEMENTATION
#endif
#include "../dnstap.h"
#include <string.h>

volatile uint32_t fp_tick, fp_port, fp_sink;
static uint8_t fp_buf[512];
static const uint8_t fp_addr[4] = { 192, 0, 2, 1 };

#if FP_PART == 1
static dnstap_encoder_t fp_enc;
#elif FP_PART >= 2
static dnstap_t fp_tap;
static uint8_t fp_queue[2048];
#endif
#if FP_PART == 2
static int fp_write(void *ctx, const uint8_t *buf, size_t len) {
    (void)ctx;
    fp_sink = buf[0];
    return (int)len;
}
static int fp_read(void *ctx, uint8_t *buf, size_t len) {
    (void)ctx; (void)len;
    buf[0] = (uint8_t)fp_sink;
    return (int)fp_sink;
}
static dnstap_result_t fp_connect(void *ctx) {
    (void)ctx;
    return fp_sink ? DNSTAP_OK : DNSTAP_ERR_AGAIN;
}
static void fp_close(void *ctx) {
    (void)ctx;
    fp_sink = 0;
}
#endif

int main(int argc, char **argv);
int main(int argc, char **argv) {
    static const char id[] = "fw";
    dnstap_msg_t m;
    (void)argc; (void)argv;
    memset(&m, 0, sizeof m);
    /* calls the compiler cannot drop (a length it cannot know): the
       baseline links memcpy and memset as the parts do */
    memcpy(fp_buf, fp_addr, fp_port & 3u);
    memset(fp_buf + 4, 0, fp_port & 0xffu);
    m.type = DNSTAP_CLIENT_QUERY;
    m.query_address.data = fp_addr;
    m.query_address.len = 4;
    m.query_port = fp_port;
    m.has = DNSTAP_HAS_QUERY_PORT;
    m.query_message.data = fp_buf;
    m.query_message.len = fp_port;
#if FP_PART == 1
    {
        dnstap_encoder_desc_t d;
        size_t n;
        memset(&d, 0, sizeof d);
        d.identity.data = (const uint8_t *)id;
        d.identity.len = sizeof id - 1;
        (void)dnstap_encoder_init(&fp_enc, &d);
        if (dnstap_encode_frame(&fp_enc, &m, fp_buf, sizeof fp_buf, &n) == DNSTAP_OK) fp_sink = (uint32_t)n;
    }
#elif FP_PART >= 2
    {
        dnstap_desc_t d;
        memset(&d, 0, sizeof d);
        d.identity.data = (const uint8_t *)id;
        d.identity.len = sizeof id - 1;
        d.queue = fp_queue;
        d.queue_size = sizeof fp_queue;
#if FP_PART == 2
        d.transport.connect = fp_connect;
        d.transport.write = fp_write;
        d.transport.read = fp_read;
        d.transport.close = fp_close;
#else
        d.endpoint = argc > 1 ? argv[1] : "unix:///run/dnstap.sock";
#endif
        if (dnstap_init(&fp_tap, &d) != DNSTAP_OK) return 1;
        while (fp_tick != 1) {
            (void)dnstap_log(&fp_tap, &m);
            (void)dnstap_poll(&fp_tap, fp_tick);
#if FP_PART == 3
            fp_sink = (uint32_t)dnstap_io(&fp_tap, fp_tick).deadline_ms;
#endif
        }
#if FP_PART == 3
        dnstap_shutdown(&fp_tap, fp_tick);
        (void)dnstap_run(&fp_tap, 1000);
#endif
    }
#else
    fp_sink = m.query_port + (uint32_t)sizeof id;
    while (fp_tick != 1) fp_sink = fp_tick;
#endif
    return 0;
}
