/* lwip_transport.h - dnstap.h over lwIP's raw TCP API: a transport to copy
   into a firmware (with lwip_transport.c).

   It implements dnstap.h's TRANSPORT CONTRACT on one struct tcp_pcb:
     connect()  tcp_new_ip_type() + tcp_connect(); DNSTAP_ERR_AGAIN until
                lwIP's connected callback, DNSTAP_ERR_CONNECT once lwIP
                reports the attempt failed (refused, timed out)
     write()    takes min(len, tcp_sndbuf()) bytes with tcp_write(COPY) and
                pushes them with tcp_output(); DNSTAP_ERR_AGAIN when the send
                buffer or the segment queue is full; never waits
     read()     copies from a queue of pbufs that lwIP's recv callback
                fills, and reopens the window (tcp_recved()) for what was
                taken; 0 once the receiver has closed its side
     close()    tcp_close() (tcp_abort() if lwIP is out of memory)
   lwIP's err callback marks the connection dead (it has freed the pcb):
   the next call returns an error and dnstap.h reconnects after its backoff.
   Frames handed to tcp_write() are counted as sent by dnstap.h; if the
   receiver dies while they are in flight they are lost, as with any TCP
   transport (dnstap.h checks the connection after an idle spell before
   writing into it).

       static dnstap_lwip_t lwip;
       static dnstap_t tap;
       ip_addr_t collector;
       dnstap_desc_t d = {0};
       IP_ADDR4(&collector, 192, 0, 2, 10);
       dnstap_lwip_init(&lwip, &collector, 6000, &d.transport);
       d.queue = queue; d.queue_size = sizeof queue;
       dnstap_init(&tap, &d);            // bidirectional Frame Streams
       ...
       dnstap_log(&tap, &m);             // any thread, no lock
       ...
       LOCK_TCPIP_CORE();                // see LOCKING
       dnstap_poll(&tap, sys_now());     // every few ms, or on tcp_sent/recv
       UNLOCK_TCPIP_CORE();

   LOCKING. lwIP's raw API is not thread-safe: every tcp_* call and every
   callback runs in the context that owns the stack. The transport calls lwIP
   only from dnstap_poll(), and lwIP calls it back only from the stack's
   context, so (dnstap_shutdown() and dnstap_stats() share dnstap_poll()'s
   state: call them where and as it is called):
   - NO_SYS=0 with LWIP_TCPIP_CORE_LOCKING=1 (FreeRTOS and other RTOS ports,
     Debian's unix port): hold the core lock around dnstap_poll():
     LOCK_TCPIP_CORE(); dnstap_poll(...); UNLOCK_TCPIP_CORE(). The tcpip thread holds the same lock while it runs
     the callbacks, so they never overlap. A build with
     LWIP_ASSERT_CORE_LOCKED() defined catches a call made without it.
   - NO_SYS=0 without core locking: call dnstap_poll() in the tcpip thread
     only: tcpip_callback(fn, tap) from the application, or a
     sys_timeout() handler that re-arms itself every few milliseconds.
   - NO_SYS=1 (no OS): one context runs everything. Call dnstap_poll() from
     the main loop, beside sys_check_timeouts() and the network driver's
     input polling; no lock. Never from an interrupt handler: neither lwIP
     nor dnstap_poll() may run there.
   dnstap_log() never calls the transport and needs no lock in any of them.
   dnstap_poll() is cheap when there is nothing to do; call it after logging
   and when lwIP reports progress (tcp_sent, tcp_recv), or every few ms.

   Memory: the struct below, lwIP's pcb and its send buffer (TCP_SND_BUF),
   and at most TCP_WND bytes of received pbufs (a receiver sends only ACCEPT
   and FINISH, a few dozen bytes). Nothing is allocated here. */
#ifndef DNSTAP_LWIP_TRANSPORT_H
#define DNSTAP_LWIP_TRANSPORT_H

#include "lwip/ip_addr.h"
#include "lwip/pbuf.h"
#include "lwip/tcp.h"
#include "../dnstap.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dnstap_lwip_t {
    ip_addr_t addr;            /* the receiver */
    u16_t port;
    struct tcp_pcb *pcb;       /* NULL: no connection (or lwIP freed it) */
    int state;                 /* idle, connecting, connected, dead */
    err_t error;               /* lwIP's reason for the last failure */
    struct pbuf *rx;           /* received, not read yet */
    int eof;                   /* the receiver closed its side */
} dnstap_lwip_t;

/* Set t up for the receiver at addr:port and fill *tr with its callbacks
   (give tr = &desc.transport). Calls nothing in lwIP. */
void dnstap_lwip_init(dnstap_lwip_t *t, const ip_addr_t *addr, u16_t port, dnstap_transport_t *tr);

/* Connected, and everything written has been acknowledged by the receiver's
   TCP (nothing unsent or unacknowledged in lwIP). Same locking as
   dnstap_poll(). */
int dnstap_lwip_drained(const dnstap_lwip_t *t);

#ifdef __cplusplus
}
#endif
#endif
