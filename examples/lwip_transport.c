/* lwip_transport.c - dnstap.h over lwIP's raw TCP API (see lwip_transport.h
   for the contract and the locking). */
#include "lwip_transport.h"

#include <string.h>

enum { DNSTAP_LWIP_IDLE, DNSTAP_LWIP_CONNECTING, DNSTAP_LWIP_CONNECTED, DNSTAP_LWIP_DEAD };

/* lwIP has freed the pcb (reset, retransmissions exhausted, out of memory). */
static void dnstap_lwip_on_err(void *arg, err_t err) {
    dnstap_lwip_t *t = (dnstap_lwip_t *)arg;
    t->pcb = NULL;
    t->state = DNSTAP_LWIP_DEAD;
    t->error = err;
}

static err_t dnstap_lwip_on_connected(void *arg, struct tcp_pcb *pcb, err_t err) {
    dnstap_lwip_t *t = (dnstap_lwip_t *)arg;
    (void)pcb;
    (void)err;                               /* always ERR_OK: failures come to on_err */
    t->state = DNSTAP_LWIP_CONNECTED;
    return ERR_OK;
}

/* Queue what arrives until read() takes it; the window reopens only then,
   so the queue stays within TCP_WND. p == NULL: the receiver closed. */
static err_t dnstap_lwip_on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err) {
    dnstap_lwip_t *t = (dnstap_lwip_t *)arg;
    (void)pcb;
    (void)err;                               /* always ERR_OK in lwIP 2.x */
    if (p == NULL) {
        t->eof = 1;
        return ERR_OK;
    }
    if (t->rx == NULL) {
        t->rx = p;
    } else {
        if ((u32_t)t->rx->tot_len + p->tot_len > 0xFFFFu)
            return ERR_MEM;                  /* lwIP keeps p and offers it again later */
        pbuf_cat(t->rx, p);
    }
    return ERR_OK;
}

static dnstap_result_t dnstap_lwip_connect(void *ctx) {
    dnstap_lwip_t *t = (dnstap_lwip_t *)ctx;
    struct tcp_pcb *pcb;
    switch (t->state) {
    case DNSTAP_LWIP_CONNECTED: return DNSTAP_OK;
    case DNSTAP_LWIP_CONNECTING: return DNSTAP_ERR_AGAIN;
    case DNSTAP_LWIP_DEAD: return DNSTAP_ERR_CONNECT;
    default: break;
    }
    pcb = tcp_new_ip_type(IP_GET_TYPE(&t->addr));
    if (pcb == NULL) {
        t->error = ERR_MEM;
        return DNSTAP_ERR_CONNECT;           /* retried after the backoff */
    }
    t->eof = 0;
    t->error = ERR_OK;
    tcp_arg(pcb, t);
    tcp_err(pcb, dnstap_lwip_on_err);
    tcp_recv(pcb, dnstap_lwip_on_recv);
    t->error = tcp_connect(pcb, &t->addr, t->port, dnstap_lwip_on_connected);
    if (t->error != ERR_OK) {                /* no route, no memory: the pcb is still ours */
        tcp_arg(pcb, NULL);
        tcp_err(pcb, NULL);
        if (tcp_close(pcb) != ERR_OK) tcp_abort(pcb);
        return DNSTAP_ERR_CONNECT;
    }
    t->pcb = pcb;
    t->state = DNSTAP_LWIP_CONNECTING;
    return DNSTAP_ERR_AGAIN;
}

static int dnstap_lwip_write(void *ctx, const uint8_t *buf, size_t len) {
    dnstap_lwip_t *t = (dnstap_lwip_t *)ctx;
    size_t n;
    err_t e;
    if (t->state != DNSTAP_LWIP_CONNECTED || t->pcb == NULL) return DNSTAP_ERR_IO;
    if (t->eof) return DNSTAP_ERR_CLOSED;    /* nobody will read it */
    n = tcp_sndbuf(t->pcb);
    if (n > len) n = len;
    if (n > 0xFFFFu) n = 0xFFFFu;            /* tcp_write() takes a u16_t */
    if (n == 0 || tcp_sndqueuelen(t->pcb) >= TCP_SND_QUEUELEN) {
        (void)tcp_output(t->pcb);
        return DNSTAP_ERR_AGAIN;
    }
    e = tcp_write(t->pcb, buf, (u16_t)n, TCP_WRITE_FLAG_COPY);
    if (e == ERR_MEM) {                      /* out of segments or pbufs for now */
        (void)tcp_output(t->pcb);
        return DNSTAP_ERR_AGAIN;
    }
    if (e != ERR_OK) {
        t->error = e;
        return DNSTAP_ERR_IO;
    }
    (void)tcp_output(t->pcb);                /* queued even if this fails: lwIP's timers retry */
    return (int)n;
}

static int dnstap_lwip_read(void *ctx, uint8_t *buf, size_t len) {
    dnstap_lwip_t *t = (dnstap_lwip_t *)ctx;
    u16_t n;
    if (t->rx != NULL) {
        n = len < t->rx->tot_len ? (u16_t)len : t->rx->tot_len;
        n = pbuf_copy_partial(t->rx, buf, n, 0);
        t->rx = pbuf_free_header(t->rx, n);   /* frees the pbufs read whole */
        if (t->pcb != NULL) tcp_recved(t->pcb, n);
        return n;
    }
    if (t->eof) return 0;
    if (t->state == DNSTAP_LWIP_DEAD) return DNSTAP_ERR_IO;
    return DNSTAP_ERR_AGAIN;
}

static void dnstap_lwip_close(void *ctx) {
    dnstap_lwip_t *t = (dnstap_lwip_t *)ctx;
    if (t->pcb != NULL) {
        tcp_arg(t->pcb, NULL);
        tcp_err(t->pcb, NULL);
        tcp_recv(t->pcb, NULL);              /* lwIP discards what still arrives */
        if (tcp_close(t->pcb) != ERR_OK) tcp_abort(t->pcb);
        t->pcb = NULL;
    }
    if (t->rx != NULL) pbuf_free(t->rx);
    t->rx = NULL;
    t->eof = 0;
    t->state = DNSTAP_LWIP_IDLE;
}

void dnstap_lwip_init(dnstap_lwip_t *t, const ip_addr_t *addr, u16_t port, dnstap_transport_t *tr) {
    memset(t, 0, sizeof *t);
    ip_addr_copy(t->addr, *addr);
    t->port = port;
    t->state = DNSTAP_LWIP_IDLE;
    memset(tr, 0, sizeof *tr);
    tr->connect = dnstap_lwip_connect;
    tr->write = dnstap_lwip_write;
    tr->read = dnstap_lwip_read;
    tr->close = dnstap_lwip_close;
    tr->ctx = t;
}

int dnstap_lwip_drained(const dnstap_lwip_t *t) {
    return t->state == DNSTAP_LWIP_CONNECTED && t->pcb != NULL && t->pcb->unsent == NULL &&
           t->pcb->unacked == NULL;
}
