/* dnstap.c - dnstap logging for dnsmasq, through dnstap.h.
   SPDX-License-Identifier: MIT (this file and dnstap.h; dnsmasq itself is
   GPL-2.0-only or GPL-3.0-only, and so is the dnsmasq built with them).

   examples/dnsmasq/build.sh copies this file into dnsmasq's src/ and
   dnsmasq-dnstap.patch calls it:
     tap_option()      --dnstap=ENDPOINT, --dnstap-identity, --dnstap-version,
                       --dnstap-full
     tap_start()       after the options, before privileges are dropped
                       (loads TLS certificates; connects later, in tap_poll())
     tap_listen()      before dnsmasq's poll(): the tap's descriptor and deadline
     tap_poll()        after it: dnstap_poll(), no thread
     tap_client()      CLIENT_QUERY / CLIENT_RESPONSE, UDP and TCP
     tap_forwarder()   FORWARDER_QUERY / FORWARDER_RESPONSE, UDP and TCP
     tap_child()       in a forked TCP child: forget the parent's connection;
                       its events then go up the child's pipe to the parent
     tap_pipe_frame()  the parent queues a frame a child sent up the pipe
     tap_report()      counters to the log (SIGUSR1, exit)
     tap_stop()        at SIGTERM: send what is queued, STOP, FINISH */

#include "dnsmasq.h"   /* first: it sets _GNU_SOURCE for everything after */

#ifdef HAVE_DNSTAP

#define DNSTAP_IMPLEMENTATION

#define DNSTAP_NO_DECODE         /* encode only: no nanopb runtime, no nanopb header */
#define DNSTAP_NO_NANOPB_ENCODE
#include "dnstap.h"

#define TAP_QUEUE_BYTES (1u << 20)
#define TAP_FRAME_MAX   (4u + 2u * 65535u + 4096u)   /* two DNS messages and the rest */

static dnstap_t tap;
static dnstap_desc_t desc;
static int tap_on, tap_in_child;
static unsigned char *tap_queue;
#ifdef DNSTAP_WITH_MBEDTLS
static dnstap_tls_t tap_tls;
#endif

static char *tap_strdup(const char *s)
{
  char *d = whine_malloc(strlen(s) + 1);
  if (d)
    strcpy(d, s);
  return d;
}

/* dnstap.h's log lines already start with "dnstap: ". */
static void tap_log(void *ctx, dnstap_log_level_t level, const char *message)
{
  (void)ctx;
  my_syslog(level == DNSTAP_LOG_ERROR ? LOG_ERR : level == DNSTAP_LOG_WARN ? LOG_WARNING : LOG_INFO,
	    "%s", message);
}

int tap_option(int which, const char *arg)
{
  switch (which)
    {
    case TAP_OPT_ENDPOINT: desc.endpoint = tap_strdup(arg); break;
    case TAP_OPT_IDENTITY: desc.identity = dnstap_str(tap_strdup(arg)); break;
    case TAP_OPT_VERSION:  desc.version = dnstap_str(tap_strdup(arg)); break;
    case TAP_OPT_FULL:     desc.full = true; break;
#ifdef DNSTAP_WITH_MBEDTLS
    case TAP_OPT_TLS_CA:   desc.tls_ca_file = tap_strdup(arg); break;
    case TAP_OPT_TLS_SKIPVERIFY: desc.skipverify = true; break;
#endif
    default: return 0;
    }
  return 1;
}

static void tap_log_stderr(void *ctx, dnstap_log_level_t level, const char *message)
{
  (void)ctx; (void)level;
  fprintf(stderr, "dnsmasq: %s\n", message);
}

/* The tap as configured, not connected yet; dies with the cause (which
   dnstap.h has logged) when the options cannot work. */
static void tap_init(void)
{
  dnstap_result_t r;
  if (!(tap_queue = whine_malloc(TAP_QUEUE_BYTES)))
    die(_("cannot allocate the dnstap queue"), NULL, EC_NOMEM);
  desc.queue = tap_queue;
  desc.queue_size = TAP_QUEUE_BYTES;
  if (!desc.version.data)
    desc.version = dnstap_str("dnsmasq-" VERSION);
#ifdef DNSTAP_WITH_MBEDTLS
  desc.tls_state = &tap_tls;
#endif
  if ((r = dnstap_init(&tap, &desc)) != DNSTAP_OK)
    die(_("bad --dnstap: %s"), (char *)dnstap_result_str(r), EC_BADCONF);
}

void tap_start(void)
{
  if (!desc.endpoint)
    return;
  desc.logger.func = tap_log;
  tap_init();
  tap_on = 1;
  my_syslog(LOG_INFO, _("dnstap: logging to %s%s"), desc.endpoint, desc.full ? " (full)" : "");
}

/* --test: refuse what tap_start() would refuse, saying why on stderr
   (dnsmasq's log is not open yet). Nothing connects. */
void tap_check(void)
{
  if (!desc.endpoint)
    return;
  desc.logger.func = tap_log_stderr;
  tap_init();
  tap.desc.logger.func = NULL;   /* closing a tap that never ran is not news */
  dnstap_close_now(&tap);
}

void tap_listen(int *timeout)
{
  dnstap_io_t io;
  uint64_t now;
  if (!tap_on || tap_in_child)
    return;
  now = dnstap_clock_ms();
  io = dnstap_io(&tap, now);
  if (io.fd >= 0 && (io.want_read || io.want_write))
    poll_listen(io.fd, (io.want_read ? POLLIN : 0) | (io.want_write ? POLLOUT : 0));
  if (io.deadline_ms != UINT64_MAX)
    {
      uint64_t wait = io.deadline_ms > now ? io.deadline_ms - now : 0;
      if (*timeout < 0 || wait < (uint64_t)*timeout)
	*timeout = (int)wait;
    }
}

void tap_poll(void)
{
  if (tap_on && !tap_in_child)
    (void)dnstap_poll(&tap, dnstap_clock_ms());
}

static void tap_sockaddr(dnstap_msg_t *m, int query_side, const union mysockaddr *sa)
{
  if (query_side)
    (void)dnstap_msg_set_query_sockaddr(m, &sa->sa);
  else
    (void)dnstap_msg_set_response_sockaddr(m, &sa->sa);
}

/* A child sends the frame up its pipe, the parent queues it; otherwise it
   goes straight into the queue. The pipe message: (ssize_t)-2, then the
   frame's length (uint32_t), then the frame. */
static void tap_emit(dnstap_msg_t *m)
{
  static uint8_t frame[TAP_FRAME_MAX];
  size_t len;
  if (!desc.full)
    m->query_message.data = m->response_message.data = NULL;
  if (!tap_in_child)
    {
      (void)dnstap_log(&tap, m);
      return;
    }
  if (daemon->pipe_to_parent != -1 &&
      dnstap_encode_frame(&tap.enc, m, frame, sizeof frame, &len) == DNSTAP_OK)
    {
      ssize_t mark = TAP_PIPE_FRAME;
      uint32_t n = (uint32_t)len;
      read_write(daemon->pipe_to_parent, (unsigned char *)&mark, sizeof mark, 0);
      read_write(daemon->pipe_to_parent, (unsigned char *)&n, sizeof n, 0);
      read_write(daemon->pipe_to_parent, frame, len, 0);
    }
}

static void tap_now(dnstap_msg_t *m, int response)
{
  uint64_t sec;
  uint32_t nsec;
  if (dnstap_now(&sec, &nsec) != DNSTAP_OK)
    return;
  if (response)
    dnstap_msg_set_response_time(m, sec, nsec);
  else
    dnstap_msg_set_query_time(m, sec, nsec);
}

/* The event's time and DNS message, then out to the tap. */
static void tap_send(dnstap_msg_t *m, int response, const void *packet, size_t len)
{
  dnstap_bytes_t *wire = response ? &m->response_message : &m->query_message;
  tap_now(m, response);
  wire->data = packet;
  wire->len = len;
  tap_emit(m);
}

/* client: the client's address and port; local: the address it sent to
   (port: dnsmasq's); local NULL or unspecified: ask the socket fd. */
void tap_client(int response, int tcp, const void *packet, size_t len,
		const union mysockaddr *client, const union all_addr *local, int fd)
{
  dnstap_msg_t m;
  union mysockaddr here;
  if (!tap_on)
    return;
  memset(&m, 0, sizeof m);
  m.type = response ? DNSTAP_CLIENT_RESPONSE : DNSTAP_CLIENT_QUERY;
  m.socket_protocol = tcp ? DNSTAP_TCP : DNSTAP_UDP;
  tap_sockaddr(&m, 1, client);
  memset(&here, 0, sizeof here);
  if (local && (client->sa.sa_family == AF_INET6 ? !IN6_IS_ADDR_UNSPECIFIED(&local->addr6)
		: local->addr4.s_addr != 0))
    {
      here.sa.sa_family = client->sa.sa_family;
      if (here.sa.sa_family == AF_INET6)
	{
	  here.in6.sin6_addr = local->addr6;
	  here.in6.sin6_port = htons(daemon->port);
	}
      else
	{
	  here.in.sin_addr = local->addr4;
	  here.in.sin_port = htons(daemon->port);
	}
    }
  else
    {
      socklen_t sl = sizeof here;
      if (getsockname(fd, &here.sa, &sl) != 0)
	here.sa.sa_family = AF_UNSPEC;
    }
  if (here.sa.sa_family != AF_UNSPEC)
    tap_sockaddr(&m, 0, &here);
  tap_send(&m, response, packet, len);
}

/* server: the upstream's address; fd: our socket to it (its local address
   and port are the query address and port). */
void tap_forwarder(int response, int tcp, const void *packet, size_t len,
		   const union mysockaddr *server, int fd)
{
  dnstap_msg_t m;
  union mysockaddr here;
  socklen_t sl = sizeof here;
  if (!tap_on)
    return;
  memset(&m, 0, sizeof m);
  m.type = response ? DNSTAP_FORWARDER_RESPONSE : DNSTAP_FORWARDER_QUERY;
  m.socket_protocol = tcp ? DNSTAP_TCP : DNSTAP_UDP;
  tap_sockaddr(&m, 0, server);
  if (fd >= 0 && getsockname(fd, &here.sa, &sl) == 0)
    {
      tap_sockaddr(&m, 1, &here);
      /* a UDP socket bound to the wildcard address: the port alone is known */
      if (here.sa.sa_family == AF_INET6 ? IN6_IS_ADDR_UNSPECIFIED(&here.in6.sin6_addr)
	  : here.in.sin_addr.s_addr == INADDR_ANY)
	m.query_address.data = NULL;
    }
  tap_send(&m, response, packet, len);
}

/* In a forked TCP child: the connection is the parent's. */
void tap_child(void)
{
  if (!tap_on)
    return;
  dnstap_forget(&tap);
  tap_in_child = 1;
}

/* Parent: a frame a child sent; returns 0 if the pipe broke. */
int tap_pipe_frame(int fd)
{
  static uint8_t frame[TAP_FRAME_MAX];
  uint32_t n;
  if (!read_write(fd, (unsigned char *)&n, sizeof n, 1) || n > sizeof frame ||
      !read_write(fd, frame, n, 1))
    return 0;
  if (tap_on)
    (void)dnstap_log_frame(&tap, 0, frame, n);
  return 1;
}

void tap_report(void)
{
  dnstap_stats_t s;
  if (!tap_on || tap_in_child)
    return;
  s = dnstap_stats(&tap);
  my_syslog(LOG_INFO, "dnstap: logged %llu sent %llu dropped %llu queued %llu connects %llu reconnects %llu "
	    "writes %llu",
	    (unsigned long long)s.logged, (unsigned long long)s.sent,
	    (unsigned long long)(s.dropped_full + s.dropped_too_big + s.dropped_invalid +
				 s.dropped_disconnected + s.dropped_write_error),
	    (unsigned long long)s.queued, (unsigned long long)s.connects, (unsigned long long)s.reconnects,
	    (unsigned long long)s.writes);
}

void tap_stop(void)
{
  if (!tap_on || tap_in_child)
    return;
  dnstap_shutdown(&tap, dnstap_clock_ms());
  (void)dnstap_run(&tap, 3000);
  tap_report();
#ifdef DNSTAP_WITH_MBEDTLS
  dnstap_tls_free(&tap_tls);
#endif
}

#endif /* HAVE_DNSTAP */
