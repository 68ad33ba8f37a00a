/* lwip_tap.c - examples/lwip_transport.c end to end, for tests/lwip.sh:
   Debian's liblwip (unix port, NO_SYS=0, LWIP_TCPIP_CORE_LOCKING) on a TAP
   interface, logging to a Frame Streams receiver through dnstap.h with the
   lwIP transport, bidirectional.

   lwip_tap LOCAL_IP GATEWAY RECEIVER_IP PORT MESSAGES
   (PRECONFIGURED_TAPIF names the TAP interface, set up beforehand.)

   Message i (0, 1, ...) is a CLIENT_QUERY whose query_address is
   10.x.y.z with x.y.z the 24 bits of i, so that any reader can tell which
   messages arrived, and in which order.
   1. Logs the first half, 20 messages per millisecond, then waits until
      the queue is empty and the receiver's TCP has acknowledged every byte;
      prints "paused sent=N" (the test then stops the receiver).
   2. Waits until lwIP sees the receiver close, then logs the second half at
      the same pace: the first ones queue while no receiver listens
      (KEEP), the tap reconnects when a new receiver is there.
   3. dnstap_shutdown(): STOP, FINISH, close.
   The application thread calls dnstap_log() without a lock and
   dnstap_poll() under LOCK_TCPIP_CORE(), as lwip_transport.h says; lwIP's
   callbacks run in its tcpip thread. Prints the final counters as
   key=value lines; exit status 0 if logged == sent + dropped + queued and
   the tap closed cleanly, 1 if not, 2 on setup errors or a run over 60 s. */
#define DNSTAP_IMPLEMENTATION
#include "../dnstap.h"
#include "../examples/lwip_transport.h"

#include "lwip/init.h"
#include "lwip/netif.h"
#include "lwip/sys.h"
#include "lwip/tcpip.h"
#include "netif/tapif.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define PER_MS 20u

static void on_log(void *ctx, dnstap_log_level_t level, const char *message) {
    (void)ctx;
    fprintf(stderr, "%llu %s %s\n", (unsigned long long)dnstap_clock_ms(),
            level == DNSTAP_LOG_ERROR ? "ERROR" : level == DNSTAP_LOG_WARN ? "WARN" : "INFO", message);
}

static void tcpip_ready(void *arg) { sys_sem_signal((sys_sem_t *)arg); }

static void log_message(dnstap_t *tap, uint32_t i) {
    static const uint8_t receiver[4] = { 10, 53, 0, 2 };
    uint8_t client[4];
    dnstap_msg_t m;
    client[0] = 10;
    client[1] = (uint8_t)(i >> 16);
    client[2] = (uint8_t)(i >> 8);
    client[3] = (uint8_t)i;
    memset(&m, 0, sizeof m);
    m.type = DNSTAP_CLIENT_QUERY;
    m.socket_family = DNSTAP_INET;
    m.socket_protocol = DNSTAP_UDP;
    m.query_address.data = client; m.query_address.len = 4;
    m.response_address.data = receiver; m.response_address.len = 4;
    m.query_port = 1024u + i % 60000u; m.response_port = 53;
    m.has = DNSTAP_HAS_QUERY_PORT | DNSTAP_HAS_RESPONSE_PORT;
    dnstap_msg_set_query_time(&m, 1700000000u + i / 1000u, (i % 1000u) * 1000000u);
    (void)dnstap_log(tap, &m);               /* refusals are counted in the stats */
}

int main(int argc, char **argv) {
    static dnstap_lwip_t lwip;
    static dnstap_t tap;
    static struct netif netif;
    ip4_addr_t local, mask, gw;
    ip_addr_t receiver;
    sys_sem_t ready;
    dnstap_desc_t d;
    dnstap_stats_t s;
    uint32_t total, half, seq = 0;
    uint64_t start, dropped;
    void *queue;
    enum { FIRST_HALF, PAUSED, SECOND_HALF, SHUTTING_DOWN } phase = FIRST_HALF;
    int ok;

    if (argc != 6 || !ip4addr_aton(argv[1], &local) || !ip4addr_aton(argv[2], &gw) ||
        !ipaddr_aton(argv[3], &receiver) || atoi(argv[4]) <= 0 || atoi(argv[4]) > 65535 || atol(argv[5]) < 2) {
        fprintf(stderr, "usage: lwip_tap LOCAL_IP GATEWAY RECEIVER_IP PORT MESSAGES\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    total = (uint32_t)atol(argv[5]);
    half = total / 2u;
    IP4_ADDR(&mask, 255, 255, 255, 0);

    if (sys_sem_new(&ready, 0) != ERR_OK) return 2;
    tcpip_init(tcpip_ready, &ready);
    sys_sem_wait(&ready);
    LOCK_TCPIP_CORE();
    if (netif_add(&netif, &local, &mask, &gw, NULL, tapif_init, tcpip_input) == NULL) {
        UNLOCK_TCPIP_CORE();
        fprintf(stderr, "lwip_tap: netif_add failed\n");
        return 2;
    }
    netif_set_default(&netif);
    netif_set_up(&netif);
    UNLOCK_TCPIP_CORE();

    queue = malloc(16u << 20);               /* holds the whole second half while no receiver listens */
    if (queue == NULL) return 2;
    memset(&d, 0, sizeof d);
    dnstap_lwip_init(&lwip, &receiver, (u16_t)atoi(argv[4]), &d.transport);
    d.queue = queue;
    d.queue_size = 16u << 20;
    d.identity = dnstap_str("lwip_tap");
    d.backoff_min_ms = 100;
    d.backoff_max_ms = 400;
    d.logger.func = on_log;
    if (dnstap_init(&tap, &d) != DNSTAP_OK) {
        fprintf(stderr, "lwip_tap: dnstap_init failed\n");
        return 2;
    }

    start = dnstap_clock_ms();
    for (;;) {
        uint64_t now = dnstap_clock_ms();
        int drained, receiver_gone;
        uint32_t k;
        if (now > start + 60000u) {
            fprintf(stderr, "lwip_tap: no end after 60 s\n");
            return 2;
        }
        if (phase == FIRST_HALF || phase == SECOND_HALF)
            for (k = 0; k < PER_MS && seq < (phase == FIRST_HALF ? half : total); k++) log_message(&tap, seq++);
        LOCK_TCPIP_CORE();
        (void)dnstap_poll(&tap, now);
        s = dnstap_stats(&tap);
        drained = s.queued == 0 && dnstap_lwip_drained(&lwip);
        receiver_gone = lwip.eof || lwip.pcb == NULL;
        if (phase == SECOND_HALF && seq == total) {
            dnstap_shutdown(&tap, now);
            phase = SHUTTING_DOWN;
        }
        UNLOCK_TCPIP_CORE();
        if (phase == FIRST_HALF && seq == half && drained) {
            printf("paused sent=%llu\n", (unsigned long long)s.sent);
            phase = PAUSED;
        } else if (phase == PAUSED && receiver_gone) {
            printf("receiver gone\n");
            phase = SECOND_HALF;
        } else if (phase == SHUTTING_DOWN && dnstap_closed(&tap)) {
            break;
        }
        usleep(1000);
    }

    s = dnstap_stats(&tap);
    dropped = s.dropped_full + s.dropped_too_big + s.dropped_invalid + s.dropped_disconnected +
              s.dropped_write_error;
    printf("logged=%llu\nsent=%llu\nsent_bytes=%llu\ndropped=%llu\nqueued=%llu\nconnects=%llu\n"
           "reconnects=%llu\ntimeouts=%llu\nhandshake_failures=%llu\nelapsed_ms=%llu\n",
           (unsigned long long)s.logged, (unsigned long long)s.sent, (unsigned long long)s.sent_bytes,
           (unsigned long long)dropped, (unsigned long long)s.queued, (unsigned long long)s.connects,
           (unsigned long long)s.reconnects, (unsigned long long)s.timeouts,
           (unsigned long long)s.handshake_failures, (unsigned long long)(dnstap_clock_ms() - start));
    ok = s.logged == total && s.logged == s.sent + dropped + s.queued && s.queued == 0;
    printf("invariant=%s\n", ok ? "ok" : "broken");
    free(queue);
    return ok ? 0 : 1;
}
