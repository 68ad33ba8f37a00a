/* dnstap.h - v0.1.0 - dnstap logging for embedded DNS servers
   SPDX-License-Identifier: MIT
   See end of file for license text.

   dnstap.h lets a DNS server log every query and response in the dnstap
   format (protobuf messages in Frame Streams), straight into memory the
   caller owns. It never allocates. One header; the only dependency is the
   nanopb runtime (pb.h, pb_encode.c, pb_decode.c, pb_common.c, 0.4.x).

   Do this:
       #define DNSTAP_IMPLEMENTATION
       #include "dnstap.h"
   in *one* C or C++ file; include "dnstap.h" without the define elsewhere.

   The descriptor and message structs are zero-initialised (zero means
   default / absent): `= {0}` in C, `= {}` in C++ (g++ -Wextra warns about
   `{0}` there), and `= DNSTAP_ZERO` in code built as both.

   TL;DR
   -----
       static dnstap_encoder_t enc;
       static uint8_t buf[8192];
       static dnstap_file_t log;

       dnstap_encoder_desc_t d = {0};
       d.identity = dnstap_str("resolver1");
       d.version  = dnstap_str("my-dns 1.0");
       dnstap_encoder_init(&enc, &d);          // identity/version encoded once
       dnstap_file_open(&log, &enc, buf, sizeof buf, "/var/log/dns.dnstap");

       // for each DNS event:
       dnstap_msg_t m = {0};                   // zero: every field absent
       m.type = DNSTAP_CLIENT_QUERY;
       m.socket_protocol = DNSTAP_UDP;
       dnstap_msg_set_query_sockaddr(&m, (struct sockaddr *)&client);
       dnstap_msg_set_response_sockaddr(&m, (struct sockaddr *)&local);
       dnstap_now(&sec, &nsec);
       dnstap_msg_set_query_time(&m, sec, nsec);
       m.query_message.data = wire; m.query_message.len = wire_len;
       dnstap_file_log(&log, &m);              // encodes into buf, no copy
       ...
       dnstap_file_close(&log);                // STOP frame, flush, close

   Or encode one complete Frame Streams data frame into any buffer:
       size_t n;
       if (dnstap_encode_frame(&enc, &m, out, cap, &n) == DNSTAP_OK) send(out, n);

   LAYERS (top to bottom, each usable alone)
   ------
   schema   the nanopb types and descriptors generated from dnstap.proto,
            embedded below between ">>schema" markers (`make regen`).
   encode   dnstap_msg_t -> Dnstap protobuf payload or complete data frame.
            The default writer is specialised for the schema and writes
            tags, varints and bytes straight into the caller's buffer; its
            output is byte-identical to nanopb's pb_encode(), which remains
            the encoder of record (DNSTAP_ENCODER_NANOPB selects it, and the
            tests compare the two on thousands of random messages).
   decode   Dnstap payload -> dnstap_msg_t, zero copy (pointers into input).
   fstrm    Frame Streams control frames (READY, ACCEPT, START, STOP, FINISH)
            and an incremental reader fed any chunk sizes, even 1 byte.
   file     unidirectional Frame Streams writer (START, data, STOP) over a
            write callback, buffered in caller memory; POSIX path helper.
   queue    dnstap_t: one ring per producer thread over caller memory,
            holding finished frames exactly as they go on the wire.
            dnstap_log() encodes straight into it; it never blocks, never
            allocates, never calls the transport; drops are counted.
   connect  the Frame Streams writer state machine, driven by dnstap_poll():
            READY -> ACCEPT -> START, data, STOP -> FINISH, with timeouts,
            capped exponential backoff with jitter, and frame-exact resends.
   transport callbacks (TRANSPORT CONTRACT below); stock unix socket, TCP and
            file transports on POSIX; TLS through Mbed TLS when enabled.

   LIVE LOGGING
   ------------
       static uint8_t queue[1 << 20];
       static dnstap_t tap;
       dnstap_desc_t d = {0};
       d.endpoint = "tcp://192.0.2.10:6000";   // or "/run/dnstap.sock", "file:/tmp/x"
       d.full = true;                          // CoreDNS's `full`
       d.queue = queue; d.queue_size = sizeof queue;
       dnstap_init(&tap, &d);
       ...
       dnstap_log(&tap, &m);                   // query path: O(message), no syscall
       ...
       dnstap_poll(&tap, dnstap_clock_ms());   // event loop; dnstap_io() tells
                                               // what to wait for and until when
       ...
       dnstap_shutdown(&tap, dnstap_clock_ms()); dnstap_run(&tap, 5000);

   Accounting: dnstap_stats() gives logged, sent, dropped by cause and queued,
   with logged == sent + dropped + queued at every quiet moment.

   dnstap_init() checks the endpoint (and resolves a host name) but does not
   connect: the first connection is made by dnstap_poll(). A server that
   drops privileges after dnstap_init() connects as the unprivileged user, so
   a unix socket must be writable by that user (else the log says "cannot
   connect (Permission denied)"). tls:// loads its certificates and keys in
   dnstap_init(), while still privileged.

   Forking servers (a child per TCP connection, as dnsmasq): the child calls
   dnstap_forget() first, then logs over its own connection (dnstap_init()
   again), hands encoded frames to the parent (dnstap_encode_frame() in the
   child, dnstap_log_frame() in the parent), or logs nothing. See FORKING
   SERVERS at dnstap_forget() below; examples/dnsmasq does the second.

   LOG LINES
   ---------
   desc.logger gets one line per event (no newline) and its level, from
   dnstap_poll() (tls:// also from dnstap_init()). Every line starts with
   "dnstap: ":
     INFO   dnstap: connected to ENDPOINT
     WARN   dnstap: ENDPOINT: RESULT[ (SYSTEM ERROR)]; reconnecting in N ms
     ERROR  dnstap: ENDPOINT: RESULT[ (SYSTEM ERROR)]   (shutting down: no retry)
     WARN   dnstap: Dropped dnstap messages: N   (CoreDNS's words; at most once
                                                  per drop_report_ms)
     ERROR/WARN  dnstap: ENDPOINT: ...   tls:// setup, certificate and
                                         handshake failures with Mbed TLS's reason
   RESULT is dnstap_result_str() of the failure ("cannot connect", "write
   failed", "connection closed by peer", "timed out", ...); SYSTEM ERROR is
   strerror() of the failed system call's errno, given for the stock
   transports. For example:
     dnstap: unix:///run/dnstap.sock: cannot connect (Permission denied); reconnecting in 85 ms

   Connection. While connected, the receiver has nothing to say until
   FINISH: dnstap_io() asks for readability and dnstap_poll() reads (before
   every write, and at most once a millisecond between writes), so a FINISH
   or end of stream closes the connection at the next poll, also while
   frames flow. A lost connection is retried after a backoff
   (backoff_min_ms, doubling up to backoff_max_ms, +-25 % jitter) that starts
   over only once a connection has stayed up backoff_reset_ms (5000): a
   receiver that accepts and drops connections at once meets a growing delay.
   Shutdown is bounded: shutdown_timeout_ms (5000) after dnstap_shutdown()
   the tap is closed whatever the receiver does; frames still queued then
   are dropped (counted in dropped_disconnected), STOP is written only if
   the transport takes it at once. dnstap_run() and dnstap_thread_stop()
   end within that limit. dnstap_close_now() ends a tap at once.

   FLUSH POLICY
   ------------
   dnstap_log() only queues; dnstap_poll() writes. It writes when
     - flush_bytes are queued (all queues together; DNSTAP_FLUSH_BYTES,
       32 KiB), or
     - the oldest queued frame has waited flush_ms (DNSTAP_FLUSH_MS, 10 ms),
       counted from the dnstap_poll() that first saw it (dnstap_log() reads
       no clock), or
     - a queue is more than half full, or dnstap_shutdown() was called,
   whichever comes first, and then it writes everything queued: with the
   stock transports in one sendmsg()/writev() per poll (each ring's frames
   before and after its wrap, every queue), with others one write() per
   contiguous run. dnstap_io().deadline_ms is when the next of these is
   due, so a server loop that sleeps until it writes once per flush, not
   once per query:
       for (;;) {
           dnstap_io_t io = dnstap_io(&tap, dnstap_clock_ms());
           // wait for your sockets, and io.fd for io.want_read/want_write,
           // until io.deadline_ms at the latest (UINT64_MAX: no deadline)
           // handle what arrived, calling dnstap_log(&tap, &m) for each event
           dnstap_poll(&tap, dnstap_clock_ms());   // after logging, every turn
       }
   A dnstap_poll() with nothing due makes no system call (it reads the
   receiver's side at most once a millisecond), so calling it on every turn
   is cheap; it must come after logging, as that is when it notes the new
   frames' time. Delay added: a frame waits at most flush_ms after the
   first dnstap_poll() that follows its dnstap_log(), plus however late the
   loop polls after deadline_ms; under load less, the time it takes to
   queue flush_bytes (32 KiB is about 140 queries logged as CLIENT_QUERY and
   CLIENT_RESPONSE with `full`). libfstrm, for comparison, writes when its
   8 KiB buffer hint fills or its 1 s flush timeout passes. Settings:
     flush_bytes = DNSTAP_FLUSH_AT_ONCE   every frame at the first
                                          dnstap_poll() after it: one write
                                          per poll (the behaviour before
                                          this policy);
     a smaller flush_ms                   less delay, more writes at low
                                          rates;
     a larger flush_bytes                 fewer writes at high rates; keep
                                          it under half a queue
                                          (queue_size / queues / 2), above
                                          which a queue is written at once.
   `make bench` prints CPU and writes per query of such a loop at 20,000
   queries/s for the defaults, DNSTAP_FLUSH_AT_ONCE, libfstrm's defaults and
   other settings (tests/bench_flush.c); stats.writes counts the writes.
   Shutdown writes everything at once. The writer thread (DNSTAP_WITH_THREAD)
   follows the same policy, looking every millisecond while frames wait.

   What dnstap_io() answers, state by state (fd is -1 without a connection;
   "now" means call dnstap_poll() at once):
     state                                 want_read want_write deadline_ms
     before the first dnstap_poll(), and   no        no         when to connect
       backing off after a failure                              (0 at first)
     connecting (TCP, TLS handshake)       transport's want(),   connect start +
                                           else write only       connect_timeout_ms
     READY, START or STOP would block      no        yes        that step's timeout
     READY written, waiting for ACCEPT     yes       no         + handshake_timeout_ms
     connected, nothing queued             yes       no         UINT64_MAX
     frames queued, not seen by a poll     yes       no         now
     frames queued below the thresholds    yes       no         first seen + flush_ms
     flush_bytes reached, a queue past     yes       no         now
       half full, a write under way
     a write would block                   yes (1)   yes        last progress +
                                                                write_timeout_ms
     shutting down, frames to write        yes       no         now
     STOP written, waiting for FINISH      yes       no         + finish_timeout_ms
     closed                                no        no         UINT64_MAX
   (1) no when the transport's want() answers without DNSTAP_WANT_READ:
   reads wait for the write (TLS with a record half sent).
   After dnstap_shutdown() no deadline is later than its call +
   shutdown_timeout_ms; while drops wait to be logged, none is later than
   the next drop report. tests/test_tap.c (test_io_states) checks each row.

   TLS
   ---
   tls://host:port (or tls://[v6]:port) is Frame Streams over TLS 1.2+ through
   Mbed TLS 2.28 or 3.x (tests/tls.sh passes with 2.28 and 3.6): define
   DNSTAP_WITH_MBEDTLS where the implementation is built (and wherever
   dnstap_tls_t is used) and link with -lmbedtls -lmbedx509 -lmbedcrypto.
   With 3.x, dnstap_init() calls psa_crypto_init(); the application may free
   PSA's global state with mbedtls_psa_crypto_free() once, at exit.
       static dnstap_tls_t tls;                // Mbed TLS's contexts, your memory
       d.endpoint = "tls://192.0.2.10:6000";
       d.tls_ca_file = "/etc/dnstap/ca.pem";   // and/or d.tls_ca_path (a directory)
       d.tls_state = &tls;
       dnstap_init(&tap, &d);                  // loads certificates and keys here
       ...                                     // dnstap_log() / dnstap_poll() as above
       dnstap_shutdown(...); dnstap_run(...);  // close_notify, then close
       dnstap_tls_free(&tls);                  // after dnstap_closed()
   Verified by default, with no switch: the server's certificate chain up to
   a CA of tls_ca_file/tls_ca_path, its dates, its key usage, and its name:
   a host name endpoint (or tls_server_name) must be among the certificate's
   DNS names and is sent as SNI; an IP address endpoint must be among its
   iPAddress names (checked here, as Mbed TLS 2.x does not; no SNI is sent).
   dnstap_init() refuses (DNSTAP_ERR_INVALID) a tls:// endpoint with neither a
   CA nor a pin nor skipverify, and any file it cannot load.
     tls_cert_file, tls_key_file   client certificate and key (mutual TLS).
     tls_pin_sha256   32 bytes: SHA-256 of the server's SubjectPublicKeyInfo
                      (DER), as given by: openssl x509 -in server.pem -pubkey
                      -noout | openssl pkey -pubin -outform der | openssl dgst
                      -sha256. With a CA, chain and name are checked too; with
                      no CA, the pin alone decides (no chain, date or name
                      check): for devices without a CA store or a clock.
     skipverify       no certificate check at all (CoreDNS's skipverify);
                      dnstap_init() and every connection log a WARN line. A
                      pin, if given, is still enforced.
     tls_ciphersuites the suites offered. Default: TLS 1.3's three (3.x) and,
                      for TLS 1.2, ECDHE (forward secrecy) with AES-GCM or
                      ChaCha20-Poly1305 only, as modern server profiles; a
                      server that offers nothing else (static RSA, CBC,
                      SHA-1 MACs) is refused. To widen or narrow it, a list
                      separated by ':', ',' or spaces of IANA names
                      (TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, TLS_AES_128_GCM_SHA256),
                      Mbed TLS names (TLS-ECDHE-RSA-WITH-AES-128-CBC-SHA) or
                      numbers (0xC013), at most DNSTAP_TLS_SUITES_MAX; a name
                      Mbed TLS does not know or was built without is
                      DNSTAP_ERR_INVALID. With 3.x, TLS 1.3 (1.2) is offered
                      only if the list has a suite for it.
   CoreDNS's `dnstap tls://192.0.2.10:6000 full { skipverify }` is
   d.endpoint = "tls://192.0.2.10:6000", d.full = true, d.skipverify = true.
   The TCP connect and then the handshake run inside the connection state
   machine, one non-blocking step per dnstap_poll(); connect_timeout_ms bounds
   both together (a late handshake counts in stats.timeouts). A handshake
   that fails (certificate refused, alert, reset) counts in
   stats.handshake_failures, is logged with Mbed TLS's reason and retried
   after the backoff: nothing is written to the connection before the server
   is verified. A peer that does not speak TLS (a plain TCP receiver at a
   tls:// endpoint: it sends bytes that are no TLS record, closes, or never
   answers the ClientHello, the last noticed at connect_timeout_ms less
   min(1/4 of it, 250 ms)) is such a failure, logged as "does not speak TLS". A handshake step takes the CPU for its public-key operations
   (ECDHE + ECDSA P-256: 5-20 ms on x86-64 with Debian's Mbed TLS 2.28);
   with MBEDTLS_ECP_RESTARTABLE and mbedtls_ecp_set_max_ops() they are cut
   into short steps (CRYPTO_IN_PROGRESS is "would block" here).
   Memory: dnstap.h allocates nothing; Mbed TLS allocates, through
   mbedtls_calloc(). Measured with Mbed TLS 2.28, TLS 1.2, P-256 keys:
     dnstap_init()   19 allocations, 37.7 KB kept: the two record buffers
                     (MBEDTLS_SSL_IN_CONTENT_LEN + MBEDTLS_SSL_OUT_CONTENT_LEN,
                     16 KB each by default) and the parsed CA, certificate and
                     key (a few KB each; Debian's 144-certificate system bundle
                     alone keeps 445 KB);
     each handshake  ~24,000 short-lived allocations (bignum temporaries),
                     peak 6.6 KB above that, freed by the end of the handshake
                     or at the next connection;
     each message    none: records are encrypted in the output buffer;
     dnstap_tls_free() returns all of it.
   MBEDTLS_SSL_OUT_CONTENT_LEN may be lowered (e.g. 4096) to save memory; the
   input buffer must hold the largest record the receiver sends (16 KB unless
   it honours max_fragment_length). To serve Mbed TLS from a static pool
   instead of the heap, build it with MBEDTLS_PLATFORM_MEMORY and
   MBEDTLS_MEMORY_BUFFER_ALLOC_C and, before dnstap_init():
       static unsigned char pool[64 * 1024];   // ~45 KB peak + allocator overhead
       mbedtls_memory_buffer_alloc_init(pool, sizeof pool);
   (MBEDTLS_MEMORY_DEBUG adds mbedtls_memory_buffer_alloc_max_get() to size it.)
   Firmware also needs an entropy source for Mbed TLS (e.g. a hardware RNG
   through MBEDTLS_ENTROPY_HARDWARE_ALT) and, for date checks, a clock
   (MBEDTLS_HAVE_TIME_DATE); without a clock, use a pin. Certificates and
   keys are read from files (MBEDTLS_FS_IO); without a file system only a
   pin (or skipverify) can be used, and file fields give
   DNSTAP_ERR_UNSUPPORTED. The dnstap_tls_t is used by the thread that calls
   dnstap_poll() only.

   MESSAGES
   --------
   dnstap_msg_t holds every field of the dnstap Message (and the identity,
   version and extra of the enclosing Dnstap). Presence is explicit:
     - bytes fields (dnstap_bytes_t) are present when .data != NULL; a
       present field may be empty (.len == 0). They point into the caller's
       memory; nothing is copied until the message is encoded.
     - enum fields are absent when 0 (no dnstap enum has a value 0).
     - integers (ports, times) are present when their DNSTAP_HAS_* bit is set
       in .has: port 0 and no port are different things.
     - the policy sub-message is present when DNSTAP_HAS_POLICY is set or
       any of its fields is present.
   identity, version and extra belong to the encoder: they are encoded once
   in dnstap_encoder_init(). Setting them in a message overrides the
   encoder's value for that one message.

   ERRORS
   ------
   Every function that can fail returns a dnstap_result_t: DNSTAP_OK (0) or
   a negative DNSTAP_ERR_*; dnstap_result_str() names each one. On error
   nothing is written that could pass for a valid frame: the encoders check
   every limit before they write the first byte.

   LIMITS
   ------
   Data frame payloads are limited by the encoder's payload_max (default
   DNSTAP_PAYLOAD_MAX_DEFAULT = DNSTAP_PAYLOAD_MAX_GOLANG = 98,304 bytes: the
   largest payload golang-dnstap's `dnstap` takes; above it, it drops the
   connection and the frames in flight with it). Every receiver tested takes
   that much: `dnstap`, fstrm_capture (frames up to 4 + 262,140 bytes) and
   the capture example. It holds any single DNS message (65,535 bytes at
   most) with its metadata, and a query with its response when the two add
   up to less than about 98,000 bytes. For receivers that take more
   (fstrm_capture: DNSTAP_PAYLOAD_MAX_FSTRM = 262,140, enough for two
   65,535-byte messages) set payload_max, up to DNSTAP_PAYLOAD_MAX_LIMIT.
   A message above the limit is refused with DNSTAP_ERR_TOO_LONG rather than
   written for the receiver to drop.
   Queues: a live tap's queue of N bytes (queue_size / queues; less
   DNSTAP_EXTRA_MAX with extra_fn, which writes there) takes, when
   empty, any frame of up to N bytes (4 + payload), wherever its ring stood.
   Frames never straddle the ring's end, so a queue already holding frames
   takes a frame only if a contiguous run of free bytes fits it: size queues
   at several times the largest frame (with `full`, a frame is about 100
   bytes plus the DNS messages). A frame larger than N is refused with
   DNSTAP_ERR_TOO_LONG (dropped_too_big), one that finds no room with
   DNSTAP_ERR_FULL (dropped_full).
   Control frames are at most 512 bytes and content types at most 256 bytes,
   as in libfstrm; the reader enforces both.

   CONFIGURATION (define before including the implementation)
   -------------
   DNSTAP_ENCODER_NANOPB        dnstap_encode*() use nanopb's pb_encode()
   DNSTAP_NO_NANOPB_ENCODE      leave out dnstap_encode_nanopb() (no pb_encode.c)
   DNSTAP_NO_DECODE             leave out dnstap_decode() (no pb_decode.c)
   DNSTAP_FREESTANDING          no POSIX helpers (files, sockaddr, clock); with
                                DNSTAP_NO_DECODE and DNSTAP_NO_NANOPB_ENCODE the
                                code needs only memcpy and memset (build with
                                -ffreestanding, or the compiler may turn a loop
                                into a strlen call)
   DNSTAP_NOW(sec, nsec)        statement that stores the current time into
                                the uint64_t sec and uint32_t nsec lvalues;
                                default clock_gettime(CLOCK_REALTIME) on POSIX
   DNSTAP_MEMCPY(d,s,n)         default memcpy
   DNSTAP_MEMSET(d,v,n)         default memset
   DNSTAP_PREFIX_MAX            bytes reserved in dnstap_encoder_t for the
                                encoded identity, version and extra (512;
                                freestanding 128)
   DNSTAP_STATIC                make every function static
   DNSTAP_MAX_QUEUES            producer queues per tap (8; freestanding 1)
   DNSTAP_EXTRA_MAX             bytes of each queue set aside for extra_fn (256)
   DNSTAP_REPLY_MAX             bytes for the receiver's ACCEPT or FINISH
                                (512; freestanding 128: up to 3 content types)
   DNSTAP_LOG_LINE_MAX          longest log line, cut there; on dnstap_poll()'s
                                stack (320; freestanding 112)
   DNSTAP_SMALL_ENCODER         1: the table-driven encoder: less code, the same
                                bytes, slower and more stack (0)
   DNSTAP_NO_LOG_TEXT           no log lines: desc.logger is never called
   DNSTAP_UNIDIRECTIONAL_ONLY   every tap is desc.unidirectional; the code for
                                READY/ACCEPT/FINISH and the reader is left out
   DNSTAP_FLUSH_BYTES           default flush_bytes (32768) and flush_ms (10)
   DNSTAP_FLUSH_MS              of the FLUSH POLICY
   DNSTAP_NO_SOCKETS            leave out the stock POSIX transports, or one
   DNSTAP_NO_UNIX_SOCKET        of them: unix://, tcp:// (and so tls://), file:
   DNSTAP_NO_TCP                (dnstap_init() answers DNSTAP_ERR_UNSUPPORTED)
   DNSTAP_NO_FILE_TRANSPORT
   DNSTAP_WITH_THREAD           the optional POSIX writer thread (-pthread)
   DNSTAP_WITH_MBEDTLS          the TLS transport (tls:// endpoints, see TLS);
                                link -lmbedtls -lmbedx509 -lmbedcrypto

   MEMORY
   ------
   Nothing here allocates. Objects are plain structs the caller places
   anywhere (static, stack, inside their own structs); buffers are the
   caller's. dnstap_encoder_t is DNSTAP_PREFIX_MAX + 12 bytes.
   (Mbed TLS, for tls:// endpoints, allocates: see TLS.) The macros that size
   dnstap_t and dnstap_encoder_t (DNSTAP_PREFIX_MAX, DNSTAP_MAX_QUEUES,
   DNSTAP_REPLY_MAX, DNSTAP_UNIDIRECTIONAL_ONLY, and DNSTAP_FREESTANDING,
   which changes their defaults) must be the same in every file that
   includes dnstap.h.

   SIZE (firmware)
   ----
   `make size` prints what each part and each option costs on a Cortex-M4
   and on rv32imac, and the stack of dnstap_log() and dnstap_poll() (the
   README's "Code size" section is its output). What the options give up:
     DNSTAP_SMALL_ENCODER=1       speed and some stack (dnstap_log()'s
                                  calls go deeper): the same bytes and errors
     DNSTAP_NO_LOG_TEXT           the log lines (connections, failures,
                                  drops); dnstap_stats() still counts all
     DNSTAP_UNIDIRECTIONAL_ONLY   bidirectional receivers (fstrm_capture,
                                  `dnstap -u`, which wait for READY): for a
                                  UART, a file, a collector that takes
                                  START alone; any byte from the receiver
                                  is then an error (reconnect)
     DNSTAP_NO_DECODE, DNSTAP_NO_NANOPB_ENCODE   dnstap_decode(),
                                  dnstap_encode_nanopb() and nanopb
     DNSTAP_MAX_QUEUES, DNSTAP_PREFIX_MAX, DNSTAP_REPLY_MAX,
     DNSTAP_LOG_LINE_MAX          RAM and stack only (their limits)
   A clock without 64-bit division. dnstap_poll() takes milliseconds in a
   uint64_t and DNSTAP_NOW seconds and nanoseconds. On a 32-bit core,
   `ticks * 1000 / hz` or `ms / 1000` on a uint64_t calls the compiler's
   64-bit division (__aeabi_uldivmod on ARM, __udivdi3/__umoddi3 on RISC-V,
   more than a kilobyte of libgcc on rv32imac). Count in the tick interrupt
   instead, as examples/baremetal.c does: the seconds and the milliseconds
   within the second as two uint32_t (a tick of N ms, N dividing 1000, adds
   N; read both again if the seconds changed meanwhile); then
   now_ms = (uint64_t)s * 1000 + ms needs only a multiplication, and
   DNSTAP_NOW is sec = epoch + s, nsec = ms * 1000000. dnstap.h itself
   divides nothing in 64 bits.

   THREAD SAFETY
   -------------
   An encoder is read-only after dnstap_encoder_init(): any number of threads
   may encode with it at once. A dnstap_file_t or dnstap_reader_t must be used
   by one thread at a time. A dnstap_t takes one producer thread per queue
   (dnstap_log_queue(tap, q, msg)) and one thread calling dnstap_poll(), with
   no lock: each queue is a single-producer, single-consumer ring.

   DEPENDENCIES
   ------------
   nanopb 0.4.x (tested with 0.4.7), default build options. The ">>schema"
   block is the output of `nanopb_generator.py dnstap.proto`, unchanged except
   that the .pb.c part follows the .pb.h part without its #include line.
   A build that only encodes (DNSTAP_NO_DECODE and DNSTAP_NO_NANOPB_ENCODE,
   live tap included) needs no nanopb header and no nanopb runtime.

   BUILDING INTO A HOST
   --------------------
   The implementation compiles before or after the host's own headers, with
   _GNU_SOURCE, _DEFAULT_SOURCE or neither defined. Included first with none
   of them, it defines _DEFAULT_SOURCE (what gcc and clang give by default),
   so the host's headers still declare what the host uses (e.g. `uint`).
   Feature macros count only before the first system header: a host that
   defines them in a header of its own (dnsmasq.h defines _GNU_SOURCE)
   includes that header before dnstap.h, or defines them with -D. Under
   strict -std=c99 with no feature macro, dnstap.h included after system
   headers finds POSIX hidden and stops with an #error saying so.
*/

/* The implementation's POSIX helpers need POSIX declarations, which a
   strict -std=c99 build shows only if a feature macro comes before the first
   system header. When dnstap.h comes first and the host set none, ask for
   _DEFAULT_SOURCE: what a default gcc/clang build has anyway (POSIX plus the
   BSD/SVID names host code uses, such as `uint`), so the host's own headers
   see no less than they would without dnstap.h. */
#if defined(DNSTAP_IMPLEMENTATION) && !defined(DNSTAP_FREESTANDING) && !defined(_POSIX_C_SOURCE) && \
    !defined(_XOPEN_SOURCE) && !defined(_GNU_SOURCE) && !defined(_DEFAULT_SOURCE) && \
    !defined(_BSD_SOURCE) && (defined(__unix__) || defined(__APPLE__))
#define _DEFAULT_SOURCE 1
#endif

#ifndef DNSTAP_H_INCLUDED
#define DNSTAP_H_INCLUDED

#define DNSTAP_VERSION_MAJOR 0
#define DNSTAP_VERSION_MINOR 1
#define DNSTAP_VERSION_PATCH 0
#define DNSTAP_VERSION_STRING "0.1.0"

/* Zero initialiser for dnstap_desc_t, dnstap_encoder_desc_t, dnstap_msg_t and
   the other plain structs, without warnings in C and C++:
   dnstap_desc_t d = DNSTAP_ZERO; */
#ifdef __cplusplus
#define DNSTAP_ZERO {}
#else
#define DNSTAP_ZERO {0}
#endif

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#ifdef DNSTAP_WITH_MBEDTLS
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>
#include <mbedtls/pk.h>
#include <mbedtls/entropy.h>
#include <mbedtls/ctr_drbg.h>
#endif

#ifndef DNSTAP_API
#ifdef DNSTAP_STATIC
#define DNSTAP_API static
#else
#define DNSTAP_API extern
#endif
#endif

/* Whether the POSIX parts are built (not freestanding, on a unix). */
#if !defined(DNSTAP_FREESTANDING) && (defined(__unix__) || defined(__APPLE__))
#define DNSTAP__POSIX 1
#else
#define DNSTAP__POSIX 0
#endif

#ifndef DNSTAP_PREFIX_MAX
#if DNSTAP__POSIX
#define DNSTAP_PREFIX_MAX 512
#else
#define DNSTAP_PREFIX_MAX 128     /* firmware: identity and version fit; see MEMORY */
#endif
#endif

/* Payload limits (the length in a data frame's 4-byte header). */
#define DNSTAP_PAYLOAD_MAX_GOLANG  98304u   /* golang-dnstap `dnstap` */
#define DNSTAP_PAYLOAD_MAX_FSTRM   262140u  /* fstrm_capture keeps 4 + 262,140 */
#define DNSTAP_PAYLOAD_MAX_DEFAULT DNSTAP_PAYLOAD_MAX_GOLANG  /* every receiver takes it */
#define DNSTAP_PAYLOAD_MAX_LIMIT   (1u << 26) /* largest payload_max accepted */

/* Frame Streams constants. */
#define DNSTAP_CONTENT_TYPE        "protobuf:dnstap.Dnstap"
#define DNSTAP_CONTROL_MAX         512u  /* control frame body, libfstrm's limit */
#define DNSTAP_CONTENT_TYPE_MAX    256u  /* one CONTENT_TYPE field, libfstrm's limit */

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------
   Results
   ------------------------------------------------------------------------ */
typedef enum dnstap_result_t {
    DNSTAP_OK                 =   0,
    DNSTAP_ERR_AGAIN          =  -1, /* would block, or reader needs more input */
    DNSTAP_ERR_INVALID        =  -2, /* bad argument or call in the wrong state */
    DNSTAP_ERR_NOSPACE        =  -3, /* caller's buffer too small; nothing written */
    DNSTAP_ERR_TOO_LONG       =  -4, /* field or message exceeds the payload limit */
    DNSTAP_ERR_ENUM           =  -5, /* enum field holds a value the schema lacks */
    DNSTAP_ERR_MISSING        =  -6, /* required field missing (message type) */
    DNSTAP_ERR_IO             =  -7, /* write callback failed */
    DNSTAP_ERR_DECODE         =  -8, /* payload is not a valid Dnstap protobuf */
    DNSTAP_ERR_FRAME_TOO_BIG  =  -9, /* data frame above the reader's limit */
    DNSTAP_ERR_CONTROL_TOO_BIG= -10, /* control frame above 512 bytes */
    DNSTAP_ERR_CONTROL_TYPE   = -11, /* unknown control frame type */
    DNSTAP_ERR_CONTROL_FIELD  = -12, /* malformed or disallowed control field */
    DNSTAP_ERR_CONTENT_TYPE_TOO_LONG = -13, /* content type above 256 bytes */
    DNSTAP_ERR_CONTENT_TYPE   = -14, /* content type is not the expected one */
    DNSTAP_ERR_SEQUENCE       = -15, /* frame not allowed at this point */
    DNSTAP_ERR_TRUNCATED      = -16, /* input ended inside a frame */
    DNSTAP_ERR_UNFINISHED     = -17, /* input ended before the STOP frame */
    DNSTAP_ERR_UNSUPPORTED    = -18, /* not available in this build */
    DNSTAP_ERR_FULL           = -19, /* queue full: message dropped (counted) */
    DNSTAP_ERR_DISCONNECTED   = -20, /* not connected, DROP policy: dropped (counted) */
    DNSTAP_ERR_TIMEOUT        = -21, /* connect, handshake, write, FINISH or shutdown timed out */
    DNSTAP_ERR_HANDSHAKE      = -22, /* receiver did not ACCEPT our content type */
    DNSTAP_ERR_CLOSED         = -23, /* peer closed the connection */
    DNSTAP_ERR_CONNECT        = -24, /* cannot connect: refused, unreachable, unresolved */
    DNSTAP_ERR_TLS            = -25  /* TLS handshake or certificate check failed */
} dnstap_result_t;
#define DNSTAP__ERR_LOWEST DNSTAP_ERR_TLS

/* ------------------------------------------------------------------------
   Schema enums (values exactly as in dnstap.proto)
   ------------------------------------------------------------------------ */
typedef enum dnstap_message_type_t {
    DNSTAP_AUTH_QUERY = 1,       DNSTAP_AUTH_RESPONSE = 2,
    DNSTAP_RESOLVER_QUERY = 3,   DNSTAP_RESOLVER_RESPONSE = 4,
    DNSTAP_CLIENT_QUERY = 5,     DNSTAP_CLIENT_RESPONSE = 6,
    DNSTAP_FORWARDER_QUERY = 7,  DNSTAP_FORWARDER_RESPONSE = 8,
    DNSTAP_STUB_QUERY = 9,       DNSTAP_STUB_RESPONSE = 10,
    DNSTAP_TOOL_QUERY = 11,      DNSTAP_TOOL_RESPONSE = 12,
    DNSTAP_UPDATE_QUERY = 13,    DNSTAP_UPDATE_RESPONSE = 14
} dnstap_message_type_t;

typedef enum dnstap_socket_family_t {
    DNSTAP_INET = 1, DNSTAP_INET6 = 2
} dnstap_socket_family_t;

typedef enum dnstap_socket_protocol_t {
    DNSTAP_UDP = 1, DNSTAP_TCP = 2, DNSTAP_DOT = 3, DNSTAP_DOH = 4,
    DNSTAP_DNSCRYPT_UDP = 5, DNSTAP_DNSCRYPT_TCP = 6, DNSTAP_DOQ = 7
} dnstap_socket_protocol_t;

typedef enum dnstap_http_protocol_t {
    DNSTAP_HTTP1 = 1, DNSTAP_HTTP2 = 2, DNSTAP_HTTP3 = 3
} dnstap_http_protocol_t;

typedef enum dnstap_policy_action_t {
    DNSTAP_ACTION_NXDOMAIN = 1, DNSTAP_ACTION_NODATA = 2, DNSTAP_ACTION_PASS = 3,
    DNSTAP_ACTION_DROP = 4, DNSTAP_ACTION_TRUNCATE = 5, DNSTAP_ACTION_LOCAL_DATA = 6
} dnstap_policy_action_t;

typedef enum dnstap_policy_match_t {
    DNSTAP_MATCH_QNAME = 1, DNSTAP_MATCH_CLIENT_IP = 2, DNSTAP_MATCH_RESPONSE_IP = 3,
    DNSTAP_MATCH_NS_NAME = 4, DNSTAP_MATCH_NS_IP = 5
} dnstap_policy_match_t;

/* ------------------------------------------------------------------------
   Messages
   ------------------------------------------------------------------------ */

/* Bytes in the caller's memory. Present when data != NULL (len may be 0).
   Any len is safe to pass: one that does not fit the payload limit (up to
   SIZE_MAX, alone or summed with others) is DNSTAP_ERR_TOO_LONG, and
   nothing is read. */
typedef struct dnstap_bytes_t {
    const uint8_t *data;
    size_t len;
} dnstap_bytes_t;

/* Bits of dnstap_msg_t.has: presence of the integer fields. */
#define DNSTAP_HAS_QUERY_PORT          0x01u
#define DNSTAP_HAS_RESPONSE_PORT       0x02u
#define DNSTAP_HAS_QUERY_TIME_SEC      0x04u
#define DNSTAP_HAS_QUERY_TIME_NSEC     0x08u
#define DNSTAP_HAS_RESPONSE_TIME_SEC   0x10u
#define DNSTAP_HAS_RESPONSE_TIME_NSEC  0x20u
#define DNSTAP_HAS_POLICY              0x40u /* policy present even if empty */
#define DNSTAP_HAS_QUERY_TIME     (DNSTAP_HAS_QUERY_TIME_SEC | DNSTAP_HAS_QUERY_TIME_NSEC)
#define DNSTAP_HAS_RESPONSE_TIME  (DNSTAP_HAS_RESPONSE_TIME_SEC | DNSTAP_HAS_RESPONSE_TIME_NSEC)

typedef struct dnstap_policy_t {
    dnstap_bytes_t type;             /* string, e.g. "RPZ" */
    dnstap_bytes_t rule;
    dnstap_policy_action_t action;   /* 0: absent */
    dnstap_policy_match_t match;     /* 0: absent */
    dnstap_bytes_t value;
} dnstap_policy_t;

/* One dnstap event. Zero-initialise, then fill what you know. The encoders
   refuse with DNSTAP_ERR_INVALID the values marked "else INVALID", which
   dnstap readers reject or misread; fields marked absent are not checked. */
typedef struct dnstap_msg_t {
    dnstap_message_type_t type;                /* required */
    dnstap_socket_family_t socket_family;      /* 0: absent */
    dnstap_socket_protocol_t socket_protocol;  /* 0: absent */
    uint32_t has;                              /* DNSTAP_HAS_* bits */
    dnstap_bytes_t query_address;              /* network order: 4 bytes (INET) or 16 (INET6), either */
    dnstap_bytes_t response_address;           /*   when socket_family is 0; else INVALID */
    uint32_t query_port;                       /* 0 to 65535, else INVALID */
    uint32_t response_port;                    /* 0 to 65535, else INVALID */
    uint64_t query_time_sec;
    uint32_t query_time_nsec;                  /* below 1,000,000,000, else INVALID */
    uint32_t response_time_nsec;               /* below 1,000,000,000, else INVALID */
    uint64_t response_time_sec;
    dnstap_bytes_t query_message;              /* DNS wire format */
    dnstap_bytes_t query_zone;                 /* wire-format name */
    dnstap_bytes_t response_message;           /* DNS wire format */
    dnstap_policy_t policy;
    dnstap_http_protocol_t http_protocol;      /* 0: absent */
    /* Of the enclosing Dnstap message. When set they replace the encoder's
       values for this message; the decoder fills them from the input. */
    dnstap_bytes_t identity;
    dnstap_bytes_t version;
    dnstap_bytes_t extra;
} dnstap_msg_t;

/* ------------------------------------------------------------------------
   Encoder
   ------------------------------------------------------------------------ */

/* Zero-initialise; zero means default. */
typedef struct dnstap_encoder_desc_t {
    dnstap_bytes_t identity;   /* absent if .data == NULL */
    dnstap_bytes_t version;    /* absent if .data == NULL */
    dnstap_bytes_t extra;      /* absent if .data == NULL */
    uint32_t payload_max;      /* default DNSTAP_PAYLOAD_MAX_DEFAULT */
} dnstap_encoder_desc_t;

/* Pre-encoded identity, version and extra fields, plus the limit.
   Read-only after dnstap_encoder_init(). */
typedef struct dnstap_encoder_t {
    uint32_t payload_max;
    uint16_t seg_off[4];       /* identity, version, extra fields; [3] = end */
    uint8_t prefix[DNSTAP_PREFIX_MAX];
} dnstap_encoder_t;

/* Encode identity, version and extra once. DNSTAP_ERR_TOO_LONG if they need
   more than DNSTAP_PREFIX_MAX bytes; DNSTAP_ERR_INVALID for a payload_max
   above DNSTAP_PAYLOAD_MAX_LIMIT. desc may be NULL (all defaults). */
DNSTAP_API dnstap_result_t dnstap_encoder_init(dnstap_encoder_t *enc, const dnstap_encoder_desc_t *desc);

/* Encode msg as one Dnstap protobuf payload into buf[0..cap).
   Returns: DNSTAP_OK and *len; DNSTAP_ERR_MISSING (type 0), DNSTAP_ERR_ENUM,
   DNSTAP_ERR_INVALID (a value readers reject: see dnstap_msg_t),
   DNSTAP_ERR_TOO_LONG (payload above payload_max), DNSTAP_ERR_NOSPACE
   (cap too small). Writes nothing unless it returns DNSTAP_OK.
   Thread safety: any number of threads may share one encoder.
   Allocates: never. */
DNSTAP_API dnstap_result_t dnstap_encode(const dnstap_encoder_t *enc, const dnstap_msg_t *msg,
                                         uint8_t *buf, size_t cap, size_t *len);

/* As dnstap_encode(), but writes a complete Frame Streams data frame: the
   4-byte big-endian payload length, then the payload. */
DNSTAP_API dnstap_result_t dnstap_encode_frame(const dnstap_encoder_t *enc, const dnstap_msg_t *msg,
                                               uint8_t *buf, size_t cap, size_t *len);

/* Size of the payload dnstap_encode() would write, with the same checks. */
DNSTAP_API dnstap_result_t dnstap_encoded_size(const dnstap_encoder_t *enc, const dnstap_msg_t *msg,
                                               size_t *len);

/* The encoder of record: the same payload through nanopb's pb_encode() over
   pb_ostream_from_buffer(). Same checks and results as dnstap_encode(). */
DNSTAP_API dnstap_result_t dnstap_encode_nanopb(const dnstap_encoder_t *enc, const dnstap_msg_t *msg,
                                                uint8_t *buf, size_t cap, size_t *len);

/* Decode one Dnstap payload. Bytes fields of *msg point into payload: keep
   it alive while you use msg. Enum values outside the schema are kept as
   they are (a newer writer may know more types); an explicit 0 is
   DNSTAP_ERR_ENUM. Returns DNSTAP_ERR_DECODE for malformed protobuf,
   DNSTAP_ERR_MISSING when a required field or the Message is missing.
   Stricter than protobuf's lenient rules, which no dnstap writer needs
   (golang-dnstap reads such payloads): DNSTAP_ERR_DECODE for a known field
   with another wire type, a 32-bit field or enum whose varint does not fit
   32 bits (negative enums too), DNSTAP_ERR_MISSING when a second Message
   field lacks the type (protobuf would merge the two), DNSTAP_ERR_ENUM for
   a Dnstap.type other than MESSAGE. One thing is more lenient: an unknown
   field is skipped by nanopb, which takes a varint of any length there
   (protobuf refuses one of more than 10 bytes).
   Allocates: never. */
DNSTAP_API dnstap_result_t dnstap_decode(const uint8_t *payload, size_t len, dnstap_msg_t *msg);

/* ------------------------------------------------------------------------
   Message helpers
   ------------------------------------------------------------------------ */

/* Bytes of a NUL-terminated string (NULL gives an absent field). */
DNSTAP_API dnstap_bytes_t dnstap_str(const char *s);

DNSTAP_API void dnstap_msg_set_query_time(dnstap_msg_t *msg, uint64_t sec, uint32_t nsec);
DNSTAP_API void dnstap_msg_set_response_time(dnstap_msg_t *msg, uint64_t sec, uint32_t nsec);

/* Current time from DNSTAP_NOW (default: the POSIX real-time clock).
   DNSTAP_ERR_UNSUPPORTED (and zeros) in a freestanding build without it. */
DNSTAP_API dnstap_result_t dnstap_now(uint64_t *sec, uint32_t *nsec);

/* Address, port and family from an AF_INET or AF_INET6 socket address
   (POSIX builds). The address points into *sa: keep it alive until the
   message is encoded. DNSTAP_ERR_INVALID for other families. */
struct sockaddr;
DNSTAP_API dnstap_result_t dnstap_msg_set_query_sockaddr(dnstap_msg_t *msg, const struct sockaddr *sa);
DNSTAP_API dnstap_result_t dnstap_msg_set_response_sockaddr(dnstap_msg_t *msg, const struct sockaddr *sa);

/* Names: "CLIENT_QUERY", "INET6", "UDP", ... ; "?" for unknown values. */
DNSTAP_API const char *dnstap_result_str(dnstap_result_t r);
DNSTAP_API const char *dnstap_message_type_str(dnstap_message_type_t type);
DNSTAP_API const char *dnstap_socket_family_str(dnstap_socket_family_t family);
DNSTAP_API const char *dnstap_socket_protocol_str(dnstap_socket_protocol_t protocol);
DNSTAP_API const char *dnstap_http_protocol_str(dnstap_http_protocol_t protocol);
DNSTAP_API const char *dnstap_policy_action_str(dnstap_policy_action_t action);
DNSTAP_API const char *dnstap_policy_match_str(dnstap_policy_match_t match);

/* ------------------------------------------------------------------------
   Frame Streams
   ------------------------------------------------------------------------ */
typedef enum dnstap_control_t {
    DNSTAP_CONTROL_ACCEPT = 1,
    DNSTAP_CONTROL_START  = 2,
    DNSTAP_CONTROL_STOP   = 3,
    DNSTAP_CONTROL_READY  = 4,
    DNSTAP_CONTROL_FINISH = 5
} dnstap_control_t;

/* Write a complete control frame (escape, length, type, CONTENT_TYPE
   fields) into buf. START takes at most one content type, STOP and FINISH
   none, READY and ACCEPT any number. Each content type is at most 256 bytes
   and the frame body at most 512. */
DNSTAP_API dnstap_result_t dnstap_control_frame(uint8_t *buf, size_t cap, dnstap_control_t type,
                                                const char *const *content_types, size_t n,
                                                size_t *len);

typedef enum dnstap_frame_kind_t {
    DNSTAP_FRAME_DATA = 1,
    DNSTAP_FRAME_CONTROL = 2
} dnstap_frame_kind_t;

/* A frame yielded by the reader. data points into the reader's buffer or
   into the input chunk; it stays valid until the next dnstap_reader_feed(). */
typedef struct dnstap_frame_t {
    dnstap_frame_kind_t kind;
    dnstap_control_t control;       /* control frames */
    const uint8_t *data;            /* data: the payload; control: its fields */
    size_t len;
    size_t content_types;           /* control: number of CONTENT_TYPE fields */
    dnstap_bytes_t content_type;    /* control: the first one, if any */
} dnstap_frame_t;

/* Which side of a stream the reader is on. */
typedef enum dnstap_reader_role_t {
    DNSTAP_READ_WRITER_STREAM = 0,   /* a receiver reading a writer on a socket:
                                        READY* START data* STOP (READY only
                                        when bidirectional; lenient for files) */
    DNSTAP_READ_RECEIVER_REPLIES = 1, /* a writer reading its receiver: ACCEPT FINISH */
    DNSTAP_READ_FILE = 2             /* a file: START data* STOP, strictly; READY
                                        is DNSTAP_ERR_SEQUENCE, as in libfstrm
                                        and golang-dnstap */
} dnstap_reader_role_t;

typedef struct dnstap_reader_t {
    /* set by dnstap_reader_init(), may be changed before the first feed */
    uint8_t *buf;                   /* caller's assembly buffer */
    size_t cap;
    uint32_t payload_max;           /* data frames above this are refused */
    const char *content_type;       /* a START that names types must name it (NULL: any) */
    dnstap_reader_role_t role;
    /* private */
    uint8_t hdr[8];
    uint32_t hdr_have, need, have;
    uint8_t phase, started, stopped;
    dnstap_result_t err;
} dnstap_reader_t;

/* Prepare a reader. buf holds frames that arrive in pieces: cap must be at
   least DNSTAP_CONTROL_MAX; data frames up to min(cap, payload limit) are
   accepted. Content type defaults to DNSTAP_CONTENT_TYPE. */
DNSTAP_API dnstap_result_t dnstap_reader_init(dnstap_reader_t *r, uint8_t *buf, size_t cap);

/* Feed input. Returns DNSTAP_OK with *frame when a frame completes (*used
   tells how much input it took: feed the rest next), DNSTAP_ERR_AGAIN when
   all input was taken and more is needed, or an error, which sticks: the
   stream cannot be resumed after it. */
DNSTAP_API dnstap_result_t dnstap_reader_feed(dnstap_reader_t *r, const uint8_t *in, size_t len,
                                              size_t *used, dnstap_frame_t *frame);

/* Call at end of input: DNSTAP_OK if the stream ended cleanly (after STOP
   for a writer stream, after FINISH for replies), DNSTAP_ERR_TRUNCATED
   inside a frame, DNSTAP_ERR_UNFINISHED at a frame boundary before that. */
DNSTAP_API dnstap_result_t dnstap_reader_end(const dnstap_reader_t *r);

/* Whether a control frame lists the given content type. */
DNSTAP_API bool dnstap_frame_has_content_type(const dnstap_frame_t *f, const char *content_type);

/* ------------------------------------------------------------------------
   Unidirectional writer (dnstap files)
   ------------------------------------------------------------------------ */

/* Write callback: returns how many bytes it took (0 < n <= len) or a
   negative dnstap_result_t. Partial writes are resumed; the file writer
   treats 0 and DNSTAP_ERR_AGAIN as failures, so give it a blocking sink. */
typedef int (*dnstap_write_fn)(void *ctx, const uint8_t *buf, size_t len);

typedef struct dnstap_file_t {
    const dnstap_encoder_t *enc;
    dnstap_write_fn write;
    void *ctx;
    uint8_t *buf;                    /* caller's buffer: frames wait here */
    size_t cap, used;
    dnstap_result_t err;             /* first write error; sticks */
    int fd;                          /* dnstap_file_open(): the file, else -1 */
    uint8_t state;
    uint64_t written;                /* bytes the write callback has taken (after a failed
                                        write: those that remain in the file) */
    uint64_t frames;                 /* data frames the write callback has taken whole */
} dnstap_file_t;

/* Start a file: the START frame goes into buf (cap >= 64), frames are
   collected there and written when it is full, on flush and on close.
   enc may be NULL for a file of frames made elsewhere (then
   dnstap_file_log() is refused and payloads are limited to
   DNSTAP_PAYLOAD_MAX_DEFAULT). */
DNSTAP_API dnstap_result_t dnstap_file_init(dnstap_file_t *f, const dnstap_encoder_t *enc,
                                            uint8_t *buf, size_t cap,
                                            dnstap_write_fn write, void *ctx);

/* Encode msg into the buffer (flushing first if it does not fit).
   DNSTAP_ERR_NOSPACE: the frame is larger than the whole buffer. */
DNSTAP_API dnstap_result_t dnstap_file_log(dnstap_file_t *f, const dnstap_msg_t *msg);

/* Append a complete data frame made elsewhere (e.g. by dnstap_encode_frame). */
DNSTAP_API dnstap_result_t dnstap_file_write_frame(dnstap_file_t *f, const uint8_t *frame, size_t len);

/* Append a data frame given its payload only (e.g. one a dnstap_reader_t
   handed out): the 4-byte length is written here. */
DNSTAP_API dnstap_result_t dnstap_file_write_payload(dnstap_file_t *f, const uint8_t *payload, size_t len);

DNSTAP_API dnstap_result_t dnstap_file_flush(dnstap_file_t *f);

/* Append STOP, flush, and close the file of dnstap_file_open().
   A write that fails (a full disk) sticks and is returned by every later
   call. A file of dnstap_file_open() is then cut back to its last whole
   frame and ended with STOP (when 12 more bytes fit), so that readers take
   it whole; f->frames and f->written say what it holds. */
DNSTAP_API dnstap_result_t dnstap_file_close(dnstap_file_t *f);

/* POSIX: create or truncate path and start a file on it. */
DNSTAP_API dnstap_result_t dnstap_file_open(dnstap_file_t *f, const dnstap_encoder_t *enc,
                                            uint8_t *buf, size_t cap, const char *path);

/* POSIX write callback for a blocking descriptor; ctx points to an int fd. */
DNSTAP_API int dnstap_fd_write(void *ctx, const uint8_t *buf, size_t len);

/* ------------------------------------------------------------------------
   Live logging: queue, connection, transports
   ------------------------------------------------------------------------ */

/* The sizes of dnstap_t's parts (MEMORY). Freestanding builds default to
   what firmware needs: one queue, no room for the stock transports or a
   host name, a reply buffer for ACCEPT and FINISH only. */
#ifndef DNSTAP_MAX_QUEUES
#if DNSTAP__POSIX
#define DNSTAP_MAX_QUEUES 8       /* producer queues (threads) per tap */
#else
#define DNSTAP_MAX_QUEUES 1
#endif
#endif
#ifndef DNSTAP_EXTRA_MAX
#define DNSTAP_EXTRA_MAX 256      /* bytes of each queue set aside for extra_fn's output */
#endif
#ifndef DNSTAP_STOCK_TRANSPORT_SIZE
#if DNSTAP__POSIX && !defined(DNSTAP_NO_SOCKETS)
#define DNSTAP_STOCK_TRANSPORT_SIZE 1024  /* room for the stock POSIX transport's state */
#else
#define DNSTAP_STOCK_TRANSPORT_SIZE 8     /* no stock transport */
#endif
#endif
#ifndef DNSTAP_REPLY_MAX
#if defined(DNSTAP_UNIDIRECTIONAL_ONLY)
#define DNSTAP_REPLY_MAX 1u       /* nothing is read */
#elif DNSTAP__POSIX
#define DNSTAP_REPLY_MAX DNSTAP_CONTROL_MAX   /* the receiver's ACCEPT or FINISH, as libfstrm */
#else
#define DNSTAP_REPLY_MAX 128u     /* ACCEPT naming up to 3 content types of our length */
#endif
#endif
#if DNSTAP__POSIX
#define DNSTAP__HOSTNAME_MAX 256  /* the default identity */
#else
#define DNSTAP__HOSTNAME_MAX 1
#endif

/* TRANSPORT CONTRACT. A transport is these callbacks and ctx.
   1. write() may take fewer bytes than len; it returns how many it took.
   2. A call that would block returns DNSTAP_ERR_AGAIN; so does write()
      returning 0 for len > 0. There is no other "would block" value.
   3. After DNSTAP_ERR_AGAIN the library calls again with the *same* buf and
      len (what mbedtls_ssl_write() requires); after a partial write of n it
      continues with buf + n, len - n.
   4. The library calls the transport only from dnstap_poll() and
      dnstap_close_now() (and the POSIX helpers built on them), never from
      dnstap_log(), never re-entrantly.
   5. Any other negative value means the connection is dead: the library
      calls close() once, then connect() again after a backoff.
   6. connect() starts or continues connecting: DNSTAP_OK once connected,
      DNSTAP_ERR_AGAIN while in progress, negative on failure. read() returns
      bytes read, DNSTAP_ERR_AGAIN, 0 at end of stream, or negative.
   7. fd() (optional) gives a descriptor for the host's poll()/epoll, or -1;
      want() (optional) says whether a connect() in progress waits to read
      or to write (a TLS handshake mostly reads), so the host does not spin;
      while a write would block, an answer without DNSTAP_WANT_READ means
      reads must wait for that write (TLS: a record half sent).
   8. Callbacks must not call back into dnstap.
   9. writev() (optional) takes several buffers as one write, in order, and
      returns how many bytes it took from their start; rules 1, 2, 4, 5 and
      8 apply. Rule 3 does not: after DNSTAP_ERR_AGAIN or a partial write the
      library calls again from the first byte not taken, possibly with more
      buffers after it. So give it only for transports that keep no state
      between calls (a plain socket: sendmsg(), writev()); a TLS transport
      gives write() alone. When present it carries every data write: each
      queue's frames as at most two buffers (before and after the ring's
      wrap), all queues in one call; control frames go through write(). */
typedef struct dnstap_iovec_t {
    const uint8_t *base;
    size_t len;
} dnstap_iovec_t;

typedef struct dnstap_transport_t {
    dnstap_result_t (*connect)(void *ctx);
    int (*write)(void *ctx, const uint8_t *buf, size_t len);
    int (*read)(void *ctx, uint8_t *buf, size_t len);
    void (*close)(void *ctx);
    int (*fd)(void *ctx);
    int (*want)(void *ctx);   /* optional: while connect() is in progress, what it
                                 waits for: DNSTAP_WANT_READ | DNSTAP_WANT_WRITE;
                                 while a write would block, without READ: reads
                                 must wait for it (dnstap_io() then asks for
                                 writability alone) */
    void *ctx;
    int (*writev)(void *ctx, const dnstap_iovec_t *iov, int iovcnt);   /* optional (rule 9) */
} dnstap_transport_t;

#define DNSTAP_WANT_READ  1
#define DNSTAP_WANT_WRITE 2

/* Flush policy defaults (FLUSH POLICY in the manual). */
#ifndef DNSTAP_FLUSH_BYTES
#define DNSTAP_FLUSH_BYTES 32768u
#endif
#ifndef DNSTAP_FLUSH_MS
#define DNSTAP_FLUSH_MS 10u
#endif
#define DNSTAP_FLUSH_AT_ONCE 1u   /* as flush_bytes: every frame is written as soon as it is seen */

typedef enum dnstap_log_level_t {
    DNSTAP_LOG_ERROR = 1, DNSTAP_LOG_WARN = 2, DNSTAP_LOG_INFO = 3
} dnstap_log_level_t;

/* Messages about connections and drops; called from dnstap_poll() and
   dnstap_close_now() only (and, for tls:// endpoints, from dnstap_init():
   setup errors, skipverify). */
typedef struct dnstap_logger_t {
    void (*func)(void *ctx, dnstap_log_level_t level, const char *message);
    void *ctx;
} dnstap_logger_t;

/* Per-message extra (CoreDNS's extra template): write up to cap bytes into
   buf and return how many, or return (size_t)-1 for no extra. Called from
   dnstap_log(), so it must be fast and must not block. cap is
   DNSTAP_EXTRA_MAX; buf lies in the queue's memory, past its ring. */
typedef size_t (*dnstap_extra_fn)(void *ctx, const dnstap_msg_t *msg, uint8_t *buf, size_t cap);

typedef enum dnstap_disconnected_t {
    DNSTAP_KEEP_WHILE_DISCONNECTED = 0,  /* queue, send after reconnecting */
    DNSTAP_DROP_WHILE_DISCONNECTED = 1   /* drop (counted) until connected */
} dnstap_disconnected_t;

/* Zero-initialise; zero means default. CoreDNS's option for each field is
   named in brackets. */
typedef struct dnstap_desc_t {
    const char *endpoint;      /* [SOCKET] "/path", "unix:///path", "tcp://host:port",
                                  "tcp://[v6]:port" (port 1..65535, IPv6 in brackets),
                                  "file:/path" (opened non-blocking, once: a FIFO
                                  without a reader, or whose reader left, closes the
                                  tap; no SIGPIPE; a failed write, as on a full disk,
                                  closes it too, the file cut back to its last whole
                                  frame and ended with STOP if it fits); NULL with
                                  .transport */
    bool full;                 /* [full] include query/response wire messages */
    void *queue;               /* [queue] caller memory for the queues (required) */
    size_t queue_size;         /* its size in bytes, split evenly among queues; an empty
                                  queue takes any frame up to its share (LIMITS) */
    unsigned queues;           /* producer queues, one per logging thread (1) */
    uint32_t write_buffer;     /* [writebuffer] SO_SNDBUF bytes for TCP (system default) */
    dnstap_bytes_t identity;   /* [identity] default: the host name, where there is one */
    dnstap_bytes_t version;    /* [version] default: "dnstap.h " DNSTAP_VERSION_STRING */
    dnstap_bytes_t extra;      /* [extra] fixed extra for every message */
    dnstap_extra_fn extra_fn;  /* [extra template] per-message extra; wins over .extra */
    void *extra_ctx;
    uint32_t payload_max;      /* largest payload sent (DNSTAP_PAYLOAD_MAX_DEFAULT) */
    dnstap_disconnected_t while_disconnected;   /* KEEP */
    bool unidirectional;       /* no READY/ACCEPT/FINISH (files: always) */
    uint32_t backoff_min_ms;   /* first reconnect delay (100), doubles ... */
    uint32_t backoff_max_ms;   /* ... up to this (10000); +-25 % jitter */
    uint32_t backoff_reset_ms; /* a connection up this long starts the backoff over (5000) */
    uint32_t connect_timeout_ms;    /* [dial timeout] 4000 */
    uint32_t handshake_timeout_ms;  /* READY -> ACCEPT 4000 */
    uint32_t write_timeout_ms;      /* no write progress while data waits: 4000 */
    uint32_t finish_timeout_ms;     /* STOP -> FINISH at shutdown: 4000 */
    uint32_t shutdown_timeout_ms;   /* dnstap_shutdown() -> closed, at most: 5000; what is
                                       still queued then is dropped (dropped_disconnected) */
    uint32_t drop_report_ms;        /* drops logged at most this often (10000) */
    uint32_t thread_wake_ms;        /* writer thread, when idle: looks for new frames this often (10) */
    uint32_t flush_bytes;           /* FLUSH POLICY: write once this many bytes are queued ... */
    uint32_t flush_ms;              /* ... or the oldest frame has waited this long (defaults:
                                       DNSTAP_FLUSH_BYTES, DNSTAP_FLUSH_MS); flush_bytes =
                                       DNSTAP_FLUSH_AT_ONCE: write every frame at once */
    dnstap_logger_t logger;
    dnstap_transport_t transport;   /* your own transport; wins over .endpoint */
    /* TLS, for tls:// endpoints (DNSTAP_WITH_MBEDTLS) */
    const char *tls_ca_file;        /* [tls CA] PEM bundle of trusted CAs */
    const char *tls_ca_path;        /* directory of PEM CA certificates */
    const char *tls_cert_file;      /* [tls CERT] client certificate (mutual TLS) */
    const char *tls_key_file;       /* [tls KEY] its private key */
    const uint8_t *tls_pin_sha256;  /* 32 bytes: SHA-256 of the server's SubjectPublicKeyInfo */
    const char *tls_server_name;    /* name verified and sent as SNI (default: endpoint host) */
    const char *tls_ciphersuites;   /* suites offered (default: ECDHE + AEAD only), see TLS */
    bool skipverify;                /* [skipverify] no certificate checks; logged loudly */
    void *tls_state;                /* your dnstap_tls_t: Mbed TLS contexts live there */
} dnstap_desc_t;

#ifdef DNSTAP_WITH_MBEDTLS
#ifndef DNSTAP_TLS_SUITES_MAX
#define DNSTAP_TLS_SUITES_MAX 32     /* entries of desc.tls_ciphersuites */
#endif
/* State of a tls:// endpoint (see TLS in the manual above): the Mbed TLS
   contexts, in memory you own. Pass a pointer in desc.tls_state; dnstap_init()
   sets it up, dnstap_poll() uses it (one thread), dnstap_tls_free() releases
   what Mbed TLS allocated inside it. Do not touch the fields. */
typedef struct dnstap_tls_t {
    mbedtls_ssl_context ssl;
    mbedtls_ssl_config conf;
    mbedtls_x509_crt ca;             /* tls_ca_file + tls_ca_path */
    mbedtls_x509_crt cert;           /* tls_cert_file */
    mbedtls_pk_context key;          /* tls_key_file */
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    /* private */
    dnstap_transport_t inner;        /* the TCP connection under TLS */
    dnstap_logger_t logger;
    const char *endpoint;
    uint8_t pin[32];
    uint8_t ip[16];                  /* the endpoint is an IP address: its iPAddress name */
    size_t ip_len;
    int state, used, verify, has_pin, pin_only, pin_ok;
    int want;                        /* what the handshake waits for: DNSTAP_WANT_* */
    int write_pending;               /* a record of a write that would block is still in Mbed TLS */
    int suites[DNSTAP_TLS_SUITES_MAX + 1];   /* offered, 0-terminated */
    uint64_t attempt_ms;             /* this connection attempt began, + 1 (0: none) */
    uint32_t answer_ms;              /* no byte from the peer by then: not TLS */
    int rx_first;                    /* the peer's first byte (-1: none yet) */
} dnstap_tls_t;

/* Free what Mbed TLS allocated in *tls: after dnstap_closed(), before the
   memory is reused or dnstap_init() is called again with it. A failed
   dnstap_init() has already done it. Safe on a zeroed dnstap_tls_t. */
DNSTAP_API void dnstap_tls_free(dnstap_tls_t *tls);
#endif

/* Invariant: logged == sent + all dropped_* + queued. */
typedef struct dnstap_stats_t {
    uint64_t logged;               /* dnstap_log() calls (including refused ones) */
    uint64_t sent;                 /* frames written whole to the transport */
    uint64_t sent_bytes;
    uint64_t writes;               /* data writes the transport took (write() or writev() calls) */
    uint64_t dropped_full;         /* queue full */
    uint64_t dropped_too_big;      /* above payload_max or the queue size */
    uint64_t dropped_invalid;      /* missing type, bad enum value, INVALID value */
    uint64_t dropped_disconnected; /* DROP policy while disconnected; or left at close */
    uint64_t dropped_write_error;  /* DROP policy: the frame being written when it failed */
    uint64_t queued;               /* frames waiting in the queues */
    uint64_t queued_bytes;
    uint64_t connects;             /* handshakes completed */
    uint64_t reconnects;           /* connections lost or refused, then retried */
    uint64_t handshake_failures;   /* ACCEPT missing, wrong or late */
    uint64_t timeouts;             /* connect, handshake, write, FINISH or shutdown timeouts */
} dnstap_stats_t;

/* What the host's event loop should wait for before the next dnstap_poll(). */
typedef struct dnstap_io_t {
    int fd;                        /* -1: none */
    bool want_read, want_write;
    uint64_t deadline_ms;          /* call dnstap_poll() by then, at the latest */
} dnstap_io_t;

/* One producer queue: a ring of finished frames. Cache-line aligned by
   padding so producers on different queues do not share lines. */
typedef struct dnstap_queue_t {
    uint8_t *buf;
    uint32_t cap;
    uint32_t head;                 /* producer's */
    uint32_t wrap;                 /* producer's: where data ends before the wrap */
    uint32_t tail;                 /* consumer's */
    uint8_t *made;                 /* producer's: dnstap_log_all()'s frame here, for the next tap to copy */
    uint64_t logged, dropped_full, dropped_too_big, dropped_invalid, dropped_disconnected;
    uint8_t pad[8];
} dnstap_queue_t;

typedef struct dnstap_t {
    dnstap_desc_t desc;            /* as given, its timeouts, backoff, flush policy and
                                      queues filled in with their defaults */
    dnstap_encoder_t enc;          /* full messages */
    dnstap_transport_t tr;
    dnstap_queue_t q[DNSTAP_MAX_QUEUES];
    /* private: connection state */
    int state, accepting, shutting_down, open, reconnect;
    uint64_t deadline_ms, next_connect_ms, last_progress_ms, last_report_ms;
    uint64_t shutdown_ms;          /* closed by then at the latest, after dnstap_shutdown() */
    uint64_t connected_ms;         /* when the connection began to carry data */
    uint32_t backoff_ms, rng;
    unsigned tx_queue;             /* queue being sent from */
    uint32_t tx_off;               /* bytes of the current run already written */
    const uint8_t *again_buf;      /* retry with the same arguments after AGAIN */
    size_t again_len;
    bool data_blocked;             /* a data write would block: wait until writable */
    uint64_t pending_since_ms;     /* dnstap_poll() first saw frames waiting (DNSTAP__NONE: none) */
    uint64_t probed_ms;            /* the receiver's side last read while connected */
    uint64_t writes;
    uint8_t ctl[64];               /* control frame being sent: READY, START (42 bytes), STOP */
    size_t ctl_len, ctl_off;
    int ctl_next;                  /* state after the control frame is sent */
    dnstap_reader_t reader;        /* ACCEPT / FINISH */
    uint8_t reader_buf[DNSTAP_REPLY_MAX];
    uint8_t rx[64];
    uint64_t sent, sent_bytes, dropped_disconnected, dropped_write_error;
    uint64_t connects, reconnects, handshake_failures, timeouts, reported_drops;
    dnstap_result_t last_error;
    uint8_t identity_buf[DNSTAP__HOSTNAME_MAX];
    union { uint8_t bytes[DNSTAP_STOCK_TRANSPORT_SIZE]; uint64_t u; void *p; } stock;
    union { uint8_t bytes[32]; uint64_t u; void *p; } thread;   /* pthread_t */
    int thread_stop, thread_running;
#if DNSTAP__POSIX
    int thread_wake[2];               /* a pipe: a stop request wakes the writer thread */
#endif
} dnstap_t;

/* Set up a tap. Resolves a host name here, outside the query path; does not
   connect (dnstap_poll() does). Copies the endpoint, identity, version and
   extra: the caller's strings may go. May be called again on a tap that is
   closed (dnstap_closed()) or forgotten (dnstap_forget()). Errors:
   DNSTAP_ERR_INVALID (no queue memory, bad endpoint), DNSTAP_ERR_UNSUPPORTED
   (endpoint kind not built in), DNSTAP_ERR_TOO_LONG (identity etc.),
   DNSTAP_ERR_CONNECT (host name not resolved). A tap that failed is closed
   and inert: dnstap_log() gives DNSTAP_ERR_INVALID, dnstap_poll() and
   dnstap_run() do nothing. */
DNSTAP_API dnstap_result_t dnstap_init(dnstap_t *tap, const dnstap_desc_t *desc);

/* Queue one message on queue 0: encodes it straight into the queue.
   Returns DNSTAP_OK, or why it was dropped (all counted in the stats):
   DNSTAP_ERR_FULL, DNSTAP_ERR_TOO_LONG, DNSTAP_ERR_ENUM, DNSTAP_ERR_MISSING,
   DNSTAP_ERR_DISCONNECTED (DROP policy while not connected, or after
   dnstap_shutdown()), DNSTAP_ERR_INVALID (bad arguments).
   Never blocks, never allocates, never calls the transport.
   Thread safety: one thread per queue; see dnstap_log_queue(). */
DNSTAP_API dnstap_result_t dnstap_log(dnstap_t *tap, const dnstap_msg_t *msg);

/* As dnstap_log() on queue q (0 <= q < desc.queues): threads that log at the
   same time each use their own queue; no lock is taken. */
DNSTAP_API dnstap_result_t dnstap_log_queue(dnstap_t *tap, unsigned q, const dnstap_msg_t *msg);

/* Queue an already encoded Dnstap payload on queue q as it is, for a relay
   that forwards what it received (the bytes are copied, not checked).
   Results and accounting as dnstap_log_queue(); DNSTAP_ERR_TOO_LONG above
   payload_max. */
DNSTAP_API dnstap_result_t dnstap_log_payload(dnstap_t *tap, unsigned q, const uint8_t *payload, size_t len);

/* Log one event to several taps (each on queue q), encoding it once per
   distinct encoding (e.g. once for all `full` taps with the same identity)
   and copying the frame to the others. Returns the first error, if any. */
DNSTAP_API dnstap_result_t dnstap_log_all(dnstap_t *const *taps, size_t n, unsigned q,
                                          const dnstap_msg_t *msg);

/* FORKING SERVERS. A child of fork() inherits the tap and its connection,
   which still belongs to the parent: a byte written there lands inside the
   parent's stream, and a shutdown() or TLS close_notify ends it. In the
   child, call dnstap_forget(tap) before anything else touches the tap. It
   sends nothing: it closes the child's copy of the stock transport's
   descriptor (close(), never shutdown(), no TLS close_notify), calls no
   callback of a custom transport (close your copy yourself), counts the
   frames inherited in the queues as dropped_disconnected (the parent sends
   its own copies), and leaves the tap closed: dnstap_log() then drops with
   DNSTAP_ERR_DISCONNECTED. tap->enc still encodes. The child may then
     - log nothing;
     - dnstap_init() the same tap again, for a connection of its own
       (allowed on a tap after dnstap_forget() or dnstap_closed(); for
       tls://, dnstap_tls_free() the inherited dnstap_tls_t first: that sends
       nothing either);
     - or encode frames with dnstap_encode_frame(&tap->enc, ...) and pass
       them to the parent (e.g. up a pipe), which queues them with
       dnstap_log_frame().
   A writer thread (DNSTAP_WITH_THREAD) does not survive fork(): the child
   must not call dnstap_thread_stop() on the inherited tap. In the process
   that runs the thread, stop it first: dnstap_forget() is not for a tap
   whose thread is polling it. */
DNSTAP_API void dnstap_forget(dnstap_t *tap);

/* Queue an already-encoded data frame on queue q: a 4-byte big-endian
   payload length, then a Dnstap payload (what dnstap_encode_frame() makes),
   e.g. one a forked child sent up a pipe. dnstap_log_payload() of the
   payload once the frame's length field is checked: the bytes are copied
   and sent as they are (the tap's `full`, identity and extra do not apply).
   Counted like dnstap_log(): logged, then sent, dropped or queued. Refused
   and counted as dropped: len < 5 or a length field other than len - 4
   (DNSTAP_ERR_INVALID, dropped_invalid); a payload above payload_max or the
   queue (DNSTAP_ERR_TOO_LONG, dropped_too_big); also DNSTAP_ERR_FULL and
   DNSTAP_ERR_DISCONNECTED as dnstap_log(). Not counted: tap or frame NULL,
   or q out of range (DNSTAP_ERR_INVALID). Thread rules of dnstap_log_queue(). */
DNSTAP_API dnstap_result_t dnstap_log_frame(dnstap_t *tap, unsigned q, const uint8_t *frame, size_t len);

/* Drive the connection: connect, handshake, send queued frames, time out,
   reconnect, shut down. now_ms: a monotonic clock in milliseconds
   (dnstap_clock_ms() on POSIX) that never goes back: a 32-bit tick that
   wraps (HAL_GetTick() after 49.7 days) would hold every timer, the flush
   age, reconnects and the shutdown limit until it passed its old value
   again; widen it to 64 bits (the manual's clock without 64-bit division,
   as examples/baremetal.c does). Call it when dnstap_io() says so, and after
   logging (dnstap_log() wakes nobody: it makes no system call).
   Returns DNSTAP_OK, or the error that just closed the connection.
   Thread safety: one thread polls a tap. Allocates: never (Mbed TLS does,
   inside a TLS handshake). */
DNSTAP_API dnstap_result_t dnstap_poll(dnstap_t *tap, uint64_t now_ms);

/* What to wait for before the next dnstap_poll(): the descriptor, whether
   to wait until it is readable and/or writable, and a deadline (UINT64_MAX:
   nothing pending). Queued frames set the deadline by the flush policy
   (FLUSH POLICY in the manual, with a table of the answers by state). */
DNSTAP_API dnstap_io_t dnstap_io(const dnstap_t *tap, uint64_t now_ms);

/* Begin an orderly end: send what is queued, STOP, wait for FINISH (within
   finish_timeout_ms), close. Keep calling dnstap_poll() until
   dnstap_closed(): it is closed by now_ms + shutdown_timeout_ms at the
   latest (the poll at that time drops what is still queued, writes STOP
   only if the transport takes it at once, and closes). Frames still queued
   at the end count as dropped. A zeroed tap that dnstap_init() never set
   up counts as closed (dnstap_poll() answers DNSTAP_ERR_INVALID). */
DNSTAP_API void dnstap_shutdown(dnstap_t *tap, uint64_t now_ms);
DNSTAP_API bool dnstap_closed(const dnstap_t *tap);

/* End now, for a program that must exit at once: drop what is queued
   (counted), write STOP only if the transport takes it at once, close.
   Call it from the thread that polls the tap; with the writer thread
   running, call it instead of dnstap_thread_stop(): it stops and joins the
   thread. Afterwards dnstap_closed() is true. */
DNSTAP_API void dnstap_close_now(dnstap_t *tap);

/* Counters, from the thread that calls dnstap_poll() (or when quiet). */
DNSTAP_API dnstap_stats_t dnstap_stats(const dnstap_t *tap);

/* POSIX: a monotonic clock in milliseconds; and a blocking loop that polls
   the tap until it is closed or timeout_ms passed (for programs ending).
   After dnstap_shutdown() it returns by the shutdown limit at the latest;
   DNSTAP_ERR_TIMEOUT if the tap is still open (dnstap_close_now() ends it). */
DNSTAP_API uint64_t dnstap_clock_ms(void);
DNSTAP_API dnstap_result_t dnstap_run(dnstap_t *tap, uint64_t timeout_ms);

/* POSIX with DNSTAP_WITH_THREAD (link with -pthread): a writer thread that
   calls dnstap_poll() for the tap, for programs without an event loop.
   dnstap_log() makes no system call to wake it, so it looks for new frames
   every thread_wake_ms (every millisecond while frames wait, writing them
   by the flush policy), and sleeps until the next attempt while the
   receiver is away; a stop request wakes it at once (a pipe: two file
   descriptors while it runs). Do not call dnstap_poll() yourself meanwhile.
   dnstap_thread_stop() shuts the tap down (within shutdown_timeout_ms) and
   joins the thread; it returns the last connection error, if any.
   dnstap_shutdown() meanwhile asks the thread to shut the tap down, and
   returns; dnstap_thread_stop() still joins it. */
DNSTAP_API dnstap_result_t dnstap_thread_start(dnstap_t *tap);
DNSTAP_API dnstap_result_t dnstap_thread_stop(dnstap_t *tap);

#ifdef __cplusplus
}
#endif
#endif /* DNSTAP_H_INCLUDED */

/* ========================================================================
   IMPLEMENTATION
   ======================================================================== */
#if defined(DNSTAP_IMPLEMENTATION) && !defined(DNSTAP__IMPLEMENTED)
#define DNSTAP__IMPLEMENTED

/* >>platform (DNSTAP__POSIX is set with the public types) ---------------- */
#if DNSTAP__POSIX
#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <netinet/in.h>
#if defined(__GLIBC__) && !defined(__USE_XOPEN2K)
#error "dnstap.h: a strict C build (-std=c99) hid the POSIX declarations: include dnstap.h before other headers, or define _DEFAULT_SOURCE (or _POSIX_C_SOURCE 200809L) before the first #include"
#endif
#endif

#if !defined(DNSTAP_MEMCPY) || !defined(DNSTAP_MEMSET) || DNSTAP__POSIX
#include <string.h>
#endif
#ifndef DNSTAP_MEMCPY
#define DNSTAP_MEMCPY(d, s, n) memcpy((d), (s), (n))
#endif
#ifndef DNSTAP_MEMSET
#define DNSTAP_MEMSET(d, v, n) memset((d), (v), (n))
#endif

#if defined(__GNUC__) || defined(__clang__)
#define DNSTAP__CHECKRETURN __attribute__((warn_unused_result))
#define DNSTAP__MAYBE_UNUSED __attribute__((unused))
#define DNSTAP__LIKELY(x) __builtin_expect(!!(x), 1)
#define DNSTAP__UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define DNSTAP__CHECKRETURN
#define DNSTAP__MAYBE_UNUSED
#define DNSTAP__LIKELY(x) (x)
#define DNSTAP__UNLIKELY(x) (x)
#endif

#if defined(DNSTAP_ENCODER_NANOPB) && defined(DNSTAP_NO_NANOPB_ENCODE)
#error "DNSTAP_ENCODER_NANOPB needs nanopb's encoder: drop DNSTAP_NO_NANOPB_ENCODE"
#endif

#if DNSTAP_PREFIX_MAX > 0xFFFF
#error "DNSTAP_PREFIX_MAX must fit in 16 bits"
#endif

/* >>schema: the nanopb types and descriptors generated from dnstap.proto.
   `make regen` rewrites the two blocks below; `make test` fails when they
   differ from what the installed nanopb_generator.py produces. */
/* An encode-only build (DNSTAP_NO_NANOPB_ENCODE and DNSTAP_NO_DECODE) uses
   none of it: no nanopb header is needed to compile it. */
#if !defined(DNSTAP_NO_NANOPB_ENCODE) || !defined(DNSTAP_NO_DECODE)
/* >>schema-h: BEGIN dnstap.pb.h */
/* Automatically generated nanopb header */
/* Generated by nanopb-0.4.7 */

#ifndef PB_DNSTAP_DNSTAP_PB_H_INCLUDED
#define PB_DNSTAP_DNSTAP_PB_H_INCLUDED
#include <pb.h>

#if PB_PROTO_HEADER_VERSION != 40
#error Regenerate this file with the current version of nanopb generator.
#endif

/* Enum definitions */
/* Address family of the sockets the DNS message travelled on. */
typedef enum _dnstap_SocketFamily {
    dnstap_SocketFamily_INET = 1, /* IPv4: addresses are 4 bytes, network order */
    dnstap_SocketFamily_INET6 = 2 /* IPv6: addresses are 16 bytes, network order */
} dnstap_SocketFamily;

/* Transport the DNS message travelled on. */
typedef enum _dnstap_SocketProtocol {
    dnstap_SocketProtocol_UDP = 1,
    dnstap_SocketProtocol_TCP = 2,
    dnstap_SocketProtocol_DOT = 3, /* DNS over TLS */
    dnstap_SocketProtocol_DOH = 4, /* DNS over HTTPS */
    dnstap_SocketProtocol_DNSCryptUDP = 5,
    dnstap_SocketProtocol_DNSCryptTCP = 6,
    dnstap_SocketProtocol_DOQ = 7 /* DNS over QUIC */
} dnstap_SocketProtocol;

/* HTTP version, for DNS over HTTPS. */
typedef enum _dnstap_HttpProtocol {
    dnstap_HttpProtocol_HTTP1 = 1,
    dnstap_HttpProtocol_HTTP2 = 2,
    dnstap_HttpProtocol_HTTP3 = 3
} dnstap_HttpProtocol;

typedef enum _dnstap_Dnstap_Type {
    dnstap_Dnstap_Type_MESSAGE = 1
} dnstap_Dnstap_Type;

typedef enum _dnstap_Policy_Action {
    dnstap_Policy_Action_NXDOMAIN = 1,
    dnstap_Policy_Action_NODATA = 2,
    dnstap_Policy_Action_PASS = 3,
    dnstap_Policy_Action_DROP = 4,
    dnstap_Policy_Action_TRUNCATE = 5,
    dnstap_Policy_Action_LOCAL_DATA = 6
} dnstap_Policy_Action;

typedef enum _dnstap_Policy_Match {
    dnstap_Policy_Match_QNAME = 1,
    dnstap_Policy_Match_CLIENT_IP = 2,
    dnstap_Policy_Match_RESPONSE_IP = 3,
    dnstap_Policy_Match_NS_NAME = 4,
    dnstap_Policy_Match_NS_IP = 5
} dnstap_Policy_Match;

typedef enum _dnstap_Message_Type {
    dnstap_Message_Type_AUTH_QUERY = 1, /* authoritative server received a query */
    dnstap_Message_Type_AUTH_RESPONSE = 2, /* authoritative server sent a response */
    dnstap_Message_Type_RESOLVER_QUERY = 3, /* resolver sent a query upstream */
    dnstap_Message_Type_RESOLVER_RESPONSE = 4, /* resolver received the upstream response */
    dnstap_Message_Type_CLIENT_QUERY = 5, /* server received a query from a client */
    dnstap_Message_Type_CLIENT_RESPONSE = 6, /* server sent a response to a client */
    dnstap_Message_Type_FORWARDER_QUERY = 7, /* forwarder sent a query upstream */
    dnstap_Message_Type_FORWARDER_RESPONSE = 8, /* forwarder received the upstream response */
    dnstap_Message_Type_STUB_QUERY = 9, /* stub resolver sent a query */
    dnstap_Message_Type_STUB_RESPONSE = 10, /* stub resolver received a response */
    dnstap_Message_Type_TOOL_QUERY = 11, /* a tool (dig, kdig) sent a query */
    dnstap_Message_Type_TOOL_RESPONSE = 12, /* a tool received a response */
    dnstap_Message_Type_UPDATE_QUERY = 13, /* server received a dynamic update */
    dnstap_Message_Type_UPDATE_RESPONSE = 14 /* server answered a dynamic update */
} dnstap_Message_Type;

/* Struct definitions */
/* What a response policy (RPZ or similar) did to a message. */
typedef struct _dnstap_Policy {
    /* Kind of policy engine, e.g. "RPZ". */
    pb_callback_t type;
    /* The rule that matched, in the engine's own notation. */
    pb_callback_t rule;
    bool has_action;
    dnstap_Policy_Action action;
    bool has_match;
    dnstap_Policy_Match match;
    /* The value that matched (a name in wire format or an address). */
    pb_callback_t value;
} dnstap_Policy;

/* One DNS event: a query or a response seen at one point of the resolution. */
typedef struct _dnstap_Message {
    dnstap_Message_Type type;
    bool has_socket_family;
    dnstap_SocketFamily socket_family;
    bool has_socket_protocol;
    dnstap_SocketProtocol socket_protocol;
    /* The initiator's address and port (the client for CLIENT_*, this
 server for RESOLVER_* and FORWARDER_*). */
    pb_callback_t query_address;
    /* The responder's address and port. */
    pb_callback_t response_address;
    bool has_query_port;
    uint32_t query_port;
    bool has_response_port;
    uint32_t response_port;
    /* When the query was sent or received: seconds and nanoseconds since
 the Unix epoch. */
    bool has_query_time_sec;
    uint64_t query_time_sec;
    bool has_query_time_nsec;
    uint32_t query_time_nsec;
    /* The query in DNS wire format. */
    pb_callback_t query_message;
    /* The zone the query was sent to, as a wire-format name (resolvers). */
    pb_callback_t query_zone;
    /* When the response was sent or received. */
    bool has_response_time_sec;
    uint64_t response_time_sec;
    bool has_response_time_nsec;
    uint32_t response_time_nsec;
    /* The response in DNS wire format. */
    pb_callback_t response_message;
    bool has_policy;
    dnstap_Policy policy;
    bool has_http_protocol;
    dnstap_HttpProtocol http_protocol;
} dnstap_Message;

/* One Dnstap message is the payload of one Frame Streams data frame
 (content type "protobuf:dnstap.Dnstap"). */
typedef struct _dnstap_Dnstap {
    /* Which server wrote this (CoreDNS uses the host name). */
    pb_callback_t identity;
    /* Which software and version wrote this. */
    pb_callback_t version;
    /* Anything else the operator wants attached to each message. */
    pb_callback_t extra;
    /* The only payload type defined so far. */
    bool has_message;
    dnstap_Message message;
    dnstap_Dnstap_Type type;
} dnstap_Dnstap;

#ifdef __cplusplus
extern "C" {
#endif

/* Helper constants for enums */
#define _dnstap_SocketFamily_MIN dnstap_SocketFamily_INET
#define _dnstap_SocketFamily_MAX dnstap_SocketFamily_INET6
#define _dnstap_SocketFamily_ARRAYSIZE ((dnstap_SocketFamily)(dnstap_SocketFamily_INET6+1))

#define _dnstap_SocketProtocol_MIN dnstap_SocketProtocol_UDP
#define _dnstap_SocketProtocol_MAX dnstap_SocketProtocol_DOQ
#define _dnstap_SocketProtocol_ARRAYSIZE ((dnstap_SocketProtocol)(dnstap_SocketProtocol_DOQ+1))

#define _dnstap_HttpProtocol_MIN dnstap_HttpProtocol_HTTP1
#define _dnstap_HttpProtocol_MAX dnstap_HttpProtocol_HTTP3
#define _dnstap_HttpProtocol_ARRAYSIZE ((dnstap_HttpProtocol)(dnstap_HttpProtocol_HTTP3+1))

#define _dnstap_Dnstap_Type_MIN dnstap_Dnstap_Type_MESSAGE
#define _dnstap_Dnstap_Type_MAX dnstap_Dnstap_Type_MESSAGE
#define _dnstap_Dnstap_Type_ARRAYSIZE ((dnstap_Dnstap_Type)(dnstap_Dnstap_Type_MESSAGE+1))

#define _dnstap_Policy_Action_MIN dnstap_Policy_Action_NXDOMAIN
#define _dnstap_Policy_Action_MAX dnstap_Policy_Action_LOCAL_DATA
#define _dnstap_Policy_Action_ARRAYSIZE ((dnstap_Policy_Action)(dnstap_Policy_Action_LOCAL_DATA+1))

#define _dnstap_Policy_Match_MIN dnstap_Policy_Match_QNAME
#define _dnstap_Policy_Match_MAX dnstap_Policy_Match_NS_IP
#define _dnstap_Policy_Match_ARRAYSIZE ((dnstap_Policy_Match)(dnstap_Policy_Match_NS_IP+1))

#define _dnstap_Message_Type_MIN dnstap_Message_Type_AUTH_QUERY
#define _dnstap_Message_Type_MAX dnstap_Message_Type_UPDATE_RESPONSE
#define _dnstap_Message_Type_ARRAYSIZE ((dnstap_Message_Type)(dnstap_Message_Type_UPDATE_RESPONSE+1))

#define dnstap_Dnstap_type_ENUMTYPE dnstap_Dnstap_Type

#define dnstap_Policy_action_ENUMTYPE dnstap_Policy_Action
#define dnstap_Policy_match_ENUMTYPE dnstap_Policy_Match

#define dnstap_Message_type_ENUMTYPE dnstap_Message_Type
#define dnstap_Message_socket_family_ENUMTYPE dnstap_SocketFamily
#define dnstap_Message_socket_protocol_ENUMTYPE dnstap_SocketProtocol
#define dnstap_Message_http_protocol_ENUMTYPE dnstap_HttpProtocol

/* Initializer values for message structs */
#define dnstap_Dnstap_init_default               {{{NULL}, NULL}, {{NULL}, NULL}, {{NULL}, NULL}, false, dnstap_Message_init_default, _dnstap_Dnstap_Type_MIN}
#define dnstap_Policy_init_default               {{{NULL}, NULL}, {{NULL}, NULL}, false, _dnstap_Policy_Action_MIN, false, _dnstap_Policy_Match_MIN, {{NULL}, NULL}}
#define dnstap_Message_init_default              {_dnstap_Message_Type_MIN, false, _dnstap_SocketFamily_MIN, false, _dnstap_SocketProtocol_MIN, {{NULL}, NULL}, {{NULL}, NULL}, false, 0, false, 0, false, 0, false, 0, {{NULL}, NULL}, {{NULL}, NULL}, false, 0, false, 0, {{NULL}, NULL}, false, dnstap_Policy_init_default, false, _dnstap_HttpProtocol_MIN}
#define dnstap_Dnstap_init_zero                  {{{NULL}, NULL}, {{NULL}, NULL}, {{NULL}, NULL}, false, dnstap_Message_init_zero, _dnstap_Dnstap_Type_MIN}
#define dnstap_Policy_init_zero                  {{{NULL}, NULL}, {{NULL}, NULL}, false, _dnstap_Policy_Action_MIN, false, _dnstap_Policy_Match_MIN, {{NULL}, NULL}}
#define dnstap_Message_init_zero                 {_dnstap_Message_Type_MIN, false, _dnstap_SocketFamily_MIN, false, _dnstap_SocketProtocol_MIN, {{NULL}, NULL}, {{NULL}, NULL}, false, 0, false, 0, false, 0, false, 0, {{NULL}, NULL}, {{NULL}, NULL}, false, 0, false, 0, {{NULL}, NULL}, false, dnstap_Policy_init_zero, false, _dnstap_HttpProtocol_MIN}

/* Field tags (for use in manual encoding/decoding) */
#define dnstap_Policy_type_tag                   1
#define dnstap_Policy_rule_tag                   2
#define dnstap_Policy_action_tag                 3
#define dnstap_Policy_match_tag                  4
#define dnstap_Policy_value_tag                  5
#define dnstap_Message_type_tag                  1
#define dnstap_Message_socket_family_tag         2
#define dnstap_Message_socket_protocol_tag       3
#define dnstap_Message_query_address_tag         4
#define dnstap_Message_response_address_tag      5
#define dnstap_Message_query_port_tag            6
#define dnstap_Message_response_port_tag         7
#define dnstap_Message_query_time_sec_tag        8
#define dnstap_Message_query_time_nsec_tag       9
#define dnstap_Message_query_message_tag         10
#define dnstap_Message_query_zone_tag            11
#define dnstap_Message_response_time_sec_tag     12
#define dnstap_Message_response_time_nsec_tag    13
#define dnstap_Message_response_message_tag      14
#define dnstap_Message_policy_tag                15
#define dnstap_Message_http_protocol_tag         16
#define dnstap_Dnstap_identity_tag               1
#define dnstap_Dnstap_version_tag                2
#define dnstap_Dnstap_extra_tag                  3
#define dnstap_Dnstap_message_tag                14
#define dnstap_Dnstap_type_tag                   15

/* Struct field encoding specification for nanopb */
#define dnstap_Dnstap_FIELDLIST(X, a) \
X(a, CALLBACK, OPTIONAL, BYTES,    identity,          1) \
X(a, CALLBACK, OPTIONAL, BYTES,    version,           2) \
X(a, CALLBACK, OPTIONAL, BYTES,    extra,             3) \
X(a, STATIC,   OPTIONAL, MESSAGE,  message,          14) \
X(a, STATIC,   REQUIRED, UENUM,    type,             15)
#define dnstap_Dnstap_CALLBACK pb_default_field_callback
#define dnstap_Dnstap_DEFAULT (const pb_byte_t*)"\x78\x01\x00"
#define dnstap_Dnstap_message_MSGTYPE dnstap_Message

#define dnstap_Policy_FIELDLIST(X, a) \
X(a, CALLBACK, OPTIONAL, STRING,   type,              1) \
X(a, CALLBACK, OPTIONAL, BYTES,    rule,              2) \
X(a, STATIC,   OPTIONAL, UENUM,    action,            3) \
X(a, STATIC,   OPTIONAL, UENUM,    match,             4) \
X(a, CALLBACK, OPTIONAL, BYTES,    value,             5)
#define dnstap_Policy_CALLBACK pb_default_field_callback
#define dnstap_Policy_DEFAULT (const pb_byte_t*)"\x18\x01\x20\x01\x00"

#define dnstap_Message_FIELDLIST(X, a) \
X(a, STATIC,   REQUIRED, UENUM,    type,              1) \
X(a, STATIC,   OPTIONAL, UENUM,    socket_family,     2) \
X(a, STATIC,   OPTIONAL, UENUM,    socket_protocol,   3) \
X(a, CALLBACK, OPTIONAL, BYTES,    query_address,     4) \
X(a, CALLBACK, OPTIONAL, BYTES,    response_address,   5) \
X(a, STATIC,   OPTIONAL, UINT32,   query_port,        6) \
X(a, STATIC,   OPTIONAL, UINT32,   response_port,     7) \
X(a, STATIC,   OPTIONAL, UINT64,   query_time_sec,    8) \
X(a, STATIC,   OPTIONAL, FIXED32,  query_time_nsec,   9) \
X(a, CALLBACK, OPTIONAL, BYTES,    query_message,    10) \
X(a, CALLBACK, OPTIONAL, BYTES,    query_zone,       11) \
X(a, STATIC,   OPTIONAL, UINT64,   response_time_sec,  12) \
X(a, STATIC,   OPTIONAL, FIXED32,  response_time_nsec,  13) \
X(a, CALLBACK, OPTIONAL, BYTES,    response_message,  14) \
X(a, STATIC,   OPTIONAL, MESSAGE,  policy,           15) \
X(a, STATIC,   OPTIONAL, UENUM,    http_protocol,    16)
#define dnstap_Message_CALLBACK pb_default_field_callback
#define dnstap_Message_DEFAULT (const pb_byte_t*)"\x08\x01\x10\x01\x18\x01\x80\x01\x01\x00"
#define dnstap_Message_policy_MSGTYPE dnstap_Policy

extern const pb_msgdesc_t dnstap_Dnstap_msg;
extern const pb_msgdesc_t dnstap_Policy_msg;
extern const pb_msgdesc_t dnstap_Message_msg;

/* Defines for backwards compatibility with code written before nanopb-0.4.0 */
#define dnstap_Dnstap_fields &dnstap_Dnstap_msg
#define dnstap_Policy_fields &dnstap_Policy_msg
#define dnstap_Message_fields &dnstap_Message_msg

/* Maximum encoded size of messages (where known) */
/* dnstap_Dnstap_size depends on runtime parameters */
/* dnstap_Policy_size depends on runtime parameters */
/* dnstap_Message_size depends on runtime parameters */

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif
/* >>schema-h: END */
/* >>schema-c: BEGIN dnstap.pb.c without its #include line */
/* Automatically generated nanopb constant definitions */
/* Generated by nanopb-0.4.7 */

#if PB_PROTO_HEADER_VERSION != 40
#error Regenerate this file with the current version of nanopb generator.
#endif

PB_BIND(dnstap_Dnstap, dnstap_Dnstap, 2)

PB_BIND(dnstap_Policy, dnstap_Policy, AUTO)

PB_BIND(dnstap_Message, dnstap_Message, 2)

/* >>schema-c: END */
#endif

#ifndef DNSTAP_NO_NANOPB_ENCODE
#include <pb_encode.h>
#endif
#ifndef DNSTAP_NO_DECODE
#include <pb_decode.h>
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* >>encode --------------------------------------------------------------
   The direct writer. Field numbers below 16 take a one-byte tag
   (number << 3 | wire type); http_protocol (16) takes two. */

#define DNSTAP__WT_VARINT 0u
#define DNSTAP__WT_BYTES  2u
#define DNSTAP__WT_FIXED32 5u
#define DNSTAP__TAG(num, wt) ((uint8_t)(((num) << 3) | (wt)))

/* Dnstap */
#define DNSTAP__TAG_IDENTITY   DNSTAP__TAG(1, DNSTAP__WT_BYTES)
#define DNSTAP__TAG_VERSION    DNSTAP__TAG(2, DNSTAP__WT_BYTES)
#define DNSTAP__TAG_EXTRA      DNSTAP__TAG(3, DNSTAP__WT_BYTES)
#define DNSTAP__TAG_MESSAGE    DNSTAP__TAG(14, DNSTAP__WT_BYTES)
#define DNSTAP__TAG_TYPE       DNSTAP__TAG(15, DNSTAP__WT_VARINT)
/* Message */
#define DNSTAP__TAG_M_TYPE     DNSTAP__TAG(1, DNSTAP__WT_VARINT)
#define DNSTAP__TAG_M_FAMILY   DNSTAP__TAG(2, DNSTAP__WT_VARINT)
#define DNSTAP__TAG_M_PROTO    DNSTAP__TAG(3, DNSTAP__WT_VARINT)
#define DNSTAP__TAG_M_QADDR    DNSTAP__TAG(4, DNSTAP__WT_BYTES)
#define DNSTAP__TAG_M_RADDR    DNSTAP__TAG(5, DNSTAP__WT_BYTES)
#define DNSTAP__TAG_M_QPORT    DNSTAP__TAG(6, DNSTAP__WT_VARINT)
#define DNSTAP__TAG_M_RPORT    DNSTAP__TAG(7, DNSTAP__WT_VARINT)
#define DNSTAP__TAG_M_QSEC     DNSTAP__TAG(8, DNSTAP__WT_VARINT)
#define DNSTAP__TAG_M_QNSEC    DNSTAP__TAG(9, DNSTAP__WT_FIXED32)
#define DNSTAP__TAG_M_QMSG     DNSTAP__TAG(10, DNSTAP__WT_BYTES)
#define DNSTAP__TAG_M_QZONE    DNSTAP__TAG(11, DNSTAP__WT_BYTES)
#define DNSTAP__TAG_M_RSEC     DNSTAP__TAG(12, DNSTAP__WT_VARINT)
#define DNSTAP__TAG_M_RNSEC    DNSTAP__TAG(13, DNSTAP__WT_FIXED32)
#define DNSTAP__TAG_M_RMSG     DNSTAP__TAG(14, DNSTAP__WT_BYTES)
#define DNSTAP__TAG_M_POLICY   DNSTAP__TAG(15, DNSTAP__WT_BYTES)
#define DNSTAP__TAG_M_HTTP0    0x80u /* field 16, varint: 0x80 0x01 */
#define DNSTAP__TAG_M_HTTP1    0x01u
/* Policy */
#define DNSTAP__TAG_P_TYPE     DNSTAP__TAG(1, DNSTAP__WT_BYTES)
#define DNSTAP__TAG_P_RULE     DNSTAP__TAG(2, DNSTAP__WT_BYTES)
#define DNSTAP__TAG_P_ACTION   DNSTAP__TAG(3, DNSTAP__WT_VARINT)
#define DNSTAP__TAG_P_MATCH    DNSTAP__TAG(4, DNSTAP__WT_VARINT)
#define DNSTAP__TAG_P_VALUE    DNSTAP__TAG(5, DNSTAP__WT_BYTES)

/* Hot-path helpers are forced inline: one call per field would cost more
   than the field. */
/* 1: the table-driven encoder (>>small encoder), for firmware that counts
   bytes of code more than instructions or bytes of stack. */
#ifndef DNSTAP_SMALL_ENCODER
#define DNSTAP_SMALL_ENCODER 0
#endif
#if (defined(__GNUC__) || defined(__clang__)) && !defined(__OPTIMIZE_SIZE__)
#define DNSTAP__INLINE static inline __attribute__((always_inline))
#else   /* -Os: let the compiler choose (firmware counts bytes) */
#define DNSTAP__INLINE static inline
#endif

#if DNSTAP_SMALL_ENCODER
static size_t dnstap__small_varint(uint8_t *p, uint64_t v);
#endif

/* Bytes a varint needs, one to ten: by the number of leading zeros. */
DNSTAP__INLINE size_t dnstap__varint_len(uint64_t v) {
#if DNSTAP_SMALL_ENCODER
    return dnstap__small_varint(NULL, v);
#elif defined(__GNUC__) || defined(__clang__)
    static const uint8_t by_clz[64] = {
        10, 9, 9, 9, 9, 9, 9, 9, 8, 8, 8, 8, 8, 8, 8, 7, 7, 7, 7, 7, 7, 7, 6, 6, 6, 6, 6, 6, 6,
        5, 5, 5, 5, 5, 5, 5, 4, 4, 4, 4, 4, 4, 4, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2,
        1, 1, 1, 1, 1, 1, 1 };
    return by_clz[__builtin_clzll(v | 1)];
#else
    size_t n = 1;
    while (v >= 0x80u) { v >>= 7; n++; }
    return n;
#endif
}

/* Unrolled: no loop counter, one test per byte. */
/* Seconds since 1978 and before 3058 take five bytes: skip the lookup. */
DNSTAP__INLINE size_t dnstap__time_len(uint64_t v) {
    return v - (1u << 28) < (((uint64_t)1 << 35) - (1u << 28)) ? 5u : dnstap__varint_len(v);
}

DNSTAP__INLINE uint8_t *dnstap__put_varint32(uint8_t *p, uint32_t v) {
    if (v < (1u << 7)) { p[0] = (uint8_t)v; return p + 1; }
    p[0] = (uint8_t)(v | 0x80u);
    if (v < (1u << 14)) { p[1] = (uint8_t)(v >> 7); return p + 2; }
    p[1] = (uint8_t)((v >> 7) | 0x80u);
    if (v < (1u << 21)) { p[2] = (uint8_t)(v >> 14); return p + 3; }
    p[2] = (uint8_t)((v >> 14) | 0x80u);
    if (v < (1u << 28)) { p[3] = (uint8_t)(v >> 21); return p + 4; }
    p[3] = (uint8_t)((v >> 21) | 0x80u);
    p[4] = (uint8_t)(v >> 28);
    return p + 5;
}

DNSTAP__INLINE uint8_t *dnstap__put_varint64(uint8_t *p, uint64_t v) {
    if (v - (1u << 28) < (((uint64_t)1 << 35) - (1u << 28))) {   /* 5 bytes: Unix times until 3058 */
        /* the first four bytes as one word: 7 bits each, continuation bits set */
        uint32_t lo = (uint32_t)v;
        uint32_t w = (lo & 0x7fu) | ((lo << 1) & 0x7f00u) | ((lo << 2) & 0x7f0000u) | ((lo << 3) & 0x7f000000u) |
                     0x80808080u;
        p[0] = (uint8_t)w; p[1] = (uint8_t)(w >> 8); p[2] = (uint8_t)(w >> 16); p[3] = (uint8_t)(w >> 24);
        p[4] = (uint8_t)(v >> 28);
        return p + 5;
    }
    if ((v >> 32) == 0) return dnstap__put_varint32(p, (uint32_t)v);
    while (v >= 0x80u) { *p++ = (uint8_t)(v | 0x80u); v >>= 7; }
    *p++ = (uint8_t)v;
    return p;
}

DNSTAP__INLINE uint8_t *dnstap__put_fixed32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
    return p + 4;
}

static void dnstap__put_be32(uint8_t *p, uint32_t v) {
#ifdef __OPTIMIZE_SIZE__   /* -Os: the loop is smaller; elsewhere the stores are faster */
    unsigned i;
    for (i = 4; i--; v >>= 8) p[i] = (uint8_t)v;
#else
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
#endif
}

static uint32_t dnstap__get_be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

/* memcmp() == 0 without libc, for freestanding builds. */
static bool dnstap__equal(const void *a, const void *b, size_t n) {
    const uint8_t *x = (const uint8_t *)a, *y = (const uint8_t *)b;
    while (n--) if (*x++ != *y++) return false;
    return true;
}

/* 0 leaves out the checks of lengths and of the readers' rules below, for
   tests/bench.sh to measure what they cost. Never 0 elsewhere: a wrapped
   length then corrupts memory. */
#ifndef DNSTAP__VALUE_CHECKS
#define DNSTAP__VALUE_CHECKS 1
#endif

/* Size of a bytes field (tag, length, value) or 0 when absent. Its length
   is OR-ed into *check, for the one test that keeps the sums from wrapping. */
DNSTAP__INLINE uint64_t dnstap__bytes_field_len(const dnstap_bytes_t *b, uint64_t *check) {
    if (b->data == NULL) return 0;
    if (DNSTAP__VALUE_CHECKS) *check |= b->len;
    return 1u + (b->len < 0x80u ? 1u : dnstap__varint_len(b->len)) + (uint64_t)b->len;
}

/* Nanoseconds of 1e9 or more carry into bit 32 when this is added. */
#define DNSTAP__NSEC_CARRY (((uint64_t)1 << 32) - 1000000000u)

/* 1 where an address of that length (0 to 16 bytes; longer ones are
   looked up as 0) does not fit the socket family: 4 bytes for INET, 16
   for INET6, either when the family is absent. */
static const uint8_t dnstap__bad_address[3][17] = {
    { 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0 },
    { 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 },
    { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0 } };

/* Size of an address field or 0 when absent; bit 32 of *check set unless
   its length fits the family (bad_len: the family's row of
   dnstap__bad_address). */
DNSTAP__INLINE uint64_t dnstap__address_field_len(const dnstap_bytes_t *b, const uint8_t *bad_len, uint64_t *check) {
    if (b->data == NULL) return 0;
    if (DNSTAP__VALUE_CHECKS) *check |= (uint64_t)bad_len[b->len <= 16u ? b->len : 0u] << 32;
    return 2u + (uint64_t)b->len;
}

/* Whether m breaks a reader's rule (written out here; dnstap__measure()
   tests the same by bit tricks, and asks this only when refusing m, to
   tell DNSTAP_ERR_INVALID from DNSTAP_ERR_TOO_LONG). */
static DNSTAP__MAYBE_UNUSED bool dnstap__breaks_reader_rule(const dnstap_msg_t *m) {
    const uint32_t has = m->has;
    const uint8_t *bad_len = dnstap__bad_address[m->socket_family];
    const dnstap_bytes_t *a[2];
    unsigned i;
    a[0] = &m->query_address; a[1] = &m->response_address;
    for (i = 0; i < 2; i++)
        if (a[i]->data && (a[i]->len > 16u || bad_len[a[i]->len])) return true;
    return ((has & DNSTAP_HAS_QUERY_PORT) && m->query_port > 0xFFFFu) ||
           ((has & DNSTAP_HAS_RESPONSE_PORT) && m->response_port > 0xFFFFu) ||
           ((has & DNSTAP_HAS_QUERY_TIME_NSEC) && m->query_time_nsec >= 1000000000u) ||
           ((has & DNSTAP_HAS_RESPONSE_TIME_NSEC) && m->response_time_nsec >= 1000000000u);
}

DNSTAP__INLINE uint8_t *dnstap__put_bytes_field(uint8_t *p, uint8_t tag, const dnstap_bytes_t *b) {
    size_t n = b->len;
    if (b->data == NULL) return p;
    *p++ = tag;
#if DNSTAP_SMALL_ENCODER
    p += dnstap__small_varint(p, n);
#else
    p = dnstap__put_varint32(p, (uint32_t)n);
#endif
    if (n) DNSTAP_MEMCPY(p, b->data, n);
    return p + n;
}

/* Addresses: 4 or 16 bytes (measured), copied inline rather than by a call. */
DNSTAP__INLINE uint8_t *dnstap__put_address_field(uint8_t *p, uint8_t tag, const dnstap_bytes_t *b) {
    if (b->data == NULL) return p;
    p[0] = tag;
    if (b->len == 4) {
        p[1] = 4;
        DNSTAP_MEMCPY(p + 2, b->data, 4);
        return p + 6;
    }
    p[1] = 16;
    DNSTAP_MEMCPY(p + 2, b->data, 16);
    return p + 18;
}

/* Size of identity (i = 0), version (1) or extra (2): b's when given,
   else the encoder's. */
DNSTAP__INLINE uint64_t dnstap__head_field_len(const dnstap_encoder_t *enc, unsigned i, const dnstap_bytes_t *b,
                                               uint64_t *check) {
    return b->data ? dnstap__bytes_field_len(b, check) : (uint64_t)(enc->seg_off[i + 1] - enc->seg_off[i]);
}

/* The sizes of one message, computed arithmetically (no sizing pass). */
typedef struct dnstap__sizes_t {
    size_t policy;     /* Policy body */
    size_t message;    /* Message body */
    size_t payload;    /* whole Dnstap */
    bool has_policy;
    bool overrides;    /* identity, version or extra given in the message */
} dnstap__sizes_t;

/* Presence tests OR-ed without branches: cheaper than short circuits. */
DNSTAP__INLINE bool dnstap__has_policy(const dnstap_msg_t *m) {
    const dnstap_policy_t *p = &m->policy;
    return ((m->has & DNSTAP_HAS_POLICY) | (uintptr_t)p->type.data | (uintptr_t)p->rule.data |
            (uintptr_t)p->value.data | (unsigned)p->action | (unsigned)p->match) != 0;
}

#if !DNSTAP_SMALL_ENCODER
/* wire: include the query and response messages (a tap that is not `full`
   leaves them out); extra: the extra field to use, m->extra or one made
   for this message. Constants in the common callers, folded away. */
DNSTAP__INLINE DNSTAP__CHECKRETURN dnstap_result_t dnstap__measure(const dnstap_encoder_t *enc, const dnstap_msg_t *m,
                                                                   bool wire, const dnstap_bytes_t *extra,
                                                                   dnstap__sizes_t *sz) {
    const uint32_t has = m->has;
    /* Sums in 64 bits cannot wrap once each length is below 2^32: at most
       14 of them add up to less than 2^36. A caller's length can be
       anything (end - p with p past end), so the lengths are OR-ed into
       `check`, tested once at the end. What dnstap readers reject sets bit
       32 or above of `check` too: an address that does not fit the family,
       a port above 16 bits, nanoseconds of 1e9 or more. */
    uint64_t n, p = 0, payload, check = 0;
    const uint8_t *bad_len;
    /* enums: the type is required, the others absent (0) or in range */
    if ((unsigned)m->type - 1u >= 14u) return m->type == 0 ? DNSTAP_ERR_MISSING : DNSTAP_ERR_ENUM;
    if (((unsigned)m->socket_family > 2u) | ((unsigned)m->socket_protocol > 7u) | ((unsigned)m->http_protocol > 3u))
        return DNSTAP_ERR_ENUM;
    n = 2 + (m->socket_family ? 2u : 0u) + (m->socket_protocol ? 2u : 0u) + (m->http_protocol ? 3u : 0u);
    bad_len = dnstap__bad_address[m->socket_family];
    n += dnstap__address_field_len(&m->query_address, bad_len, &check) +
         dnstap__address_field_len(&m->response_address, bad_len, &check);
    if (has & DNSTAP_HAS_QUERY_PORT) {
        n += 1 + dnstap__varint_len(m->query_port);
        if (DNSTAP__VALUE_CHECKS) check |= (uint64_t)m->query_port << 16;
    }
    if (has & DNSTAP_HAS_RESPONSE_PORT) {
        n += 1 + dnstap__varint_len(m->response_port);
        if (DNSTAP__VALUE_CHECKS) check |= (uint64_t)m->response_port << 16;
    }
    if (has & DNSTAP_HAS_QUERY_TIME_NSEC) {
        n += 5;
        if (DNSTAP__VALUE_CHECKS) check |= (uint64_t)m->query_time_nsec + DNSTAP__NSEC_CARRY;
    }
    if (has & DNSTAP_HAS_RESPONSE_TIME_NSEC) {
        n += 5;
        if (DNSTAP__VALUE_CHECKS) check |= (uint64_t)m->response_time_nsec + DNSTAP__NSEC_CARRY;
    }
    if (has & DNSTAP_HAS_QUERY_TIME_SEC) n += 1 + dnstap__time_len(m->query_time_sec);
    if (has & DNSTAP_HAS_RESPONSE_TIME_SEC) n += 1 + dnstap__time_len(m->response_time_sec);
    n += dnstap__bytes_field_len(&m->query_zone, &check);
    if (wire)
        n += dnstap__bytes_field_len(&m->query_message, &check) + dnstap__bytes_field_len(&m->response_message, &check);
    sz->has_policy = dnstap__has_policy(m);
    if (sz->has_policy) {
        const dnstap_policy_t *pol = &m->policy;
        if ((unsigned)pol->action > 6u || (unsigned)pol->match > 5u) return DNSTAP_ERR_ENUM;
        p = (pol->action ? 2u : 0u) + (pol->match ? 2u : 0u) + dnstap__bytes_field_len(&pol->type, &check) +
            dnstap__bytes_field_len(&pol->rule, &check) + dnstap__bytes_field_len(&pol->value, &check);
        n += 1 + dnstap__varint_len(p) + p;
    }
    /* identity, version, extra; the Message field; type = MESSAGE */
    sz->overrides = ((uintptr_t)m->identity.data | (uintptr_t)m->version.data | (uintptr_t)extra->data) != 0;
    if (DNSTAP__LIKELY(!sz->overrides)) {
        payload = enc->seg_off[3];
    } else {
        payload = dnstap__head_field_len(enc, 0, &m->identity, &check) +
                  dnstap__head_field_len(enc, 1, &m->version, &check) + dnstap__head_field_len(enc, 2, extra, &check);
    }
    payload += 1 + (n < 0x80u ? 1u : dnstap__varint_len(n)) + n + 2;
    /* one test for all, the total above the limit included (it carries
       into bit 32 when added) */
    if (DNSTAP__UNLIKELY(DNSTAP__VALUE_CHECKS ? ((check | (payload + (0xFFFFFFFFu - enc->payload_max))) >> 32) != 0
                                              : payload > enc->payload_max))
        return dnstap__breaks_reader_rule(m) ? DNSTAP_ERR_INVALID : DNSTAP_ERR_TOO_LONG;
    sz->policy = (size_t)p;       /* all below payload_max <= 2^26 now */
    sz->message = (size_t)n;
    sz->payload = (size_t)payload;
    return DNSTAP_OK;
}
#else
/* >>small encoder -------------------------------------------------------
   DNSTAP_SMALL_ENCODER: the same bytes and the same answers as the
   writer above, from one table of the fields in wire order, walked once
   to check and size them and once to write them: about a third of the
   code, at some speed. No recursion: the two nested messages (Message,
   Policy) are a BEGIN and an END around their fields. */

enum { DNSTAP__K_ADDR, DNSTAP__K_BYTES, DNSTAP__K_WIRE, DNSTAP__K_ENUM, DNSTAP__K_PORT, DNSTAP__K_TIME, DNSTAP__K_NSEC,
       DNSTAP__K_PREFIX, DNSTAP__K_BEGIN, DNSTAP__K_END, DNSTAP__K_ONE };
enum { DNSTAP__W_TOO_LONG = 1, DNSTAP__W_INVALID = 2, DNSTAP__W_ENUM = 4 };

/* A field: its number, kind (WIRE: a DNS message, left out when the tap is
   not `full`), arg (ENUM: largest value; PORT, TIME, NSEC: its DNSTAP_HAS_*
   bit; PREFIX: which of identity, version, extra), and where it is in
   dnstap_msg_t (size, offset). */
typedef struct dnstap__field_t {
    uint8_t number_kind;   /* (number - 1) << 4 | kind */
    uint8_t arg, off;
} dnstap__field_t;

/* Three bytes a field: the width of a value follows from its kind (TIME
   8 bytes, ENUM that of the enums, which are all of one width, others 4),
   and every offset is below 256. */
typedef char dnstap__enums_one_width[sizeof(dnstap_message_type_t) == sizeof(dnstap_socket_family_t) &&
                                     sizeof(dnstap_message_type_t) == sizeof(dnstap_socket_protocol_t) &&
                                     sizeof(dnstap_message_type_t) == sizeof(dnstap_http_protocol_t) &&
                                     sizeof(dnstap_message_type_t) == sizeof(dnstap_policy_action_t) &&
                                     sizeof(dnstap_message_type_t) == sizeof(dnstap_policy_match_t) &&
                                     offsetof(dnstap_msg_t, extra) < 256 ? 1 : -1];

#define DNSTAP__F(number, kind, arg, member) \
    { (uint8_t)(((number) - 1) << 4 | DNSTAP__K_##kind), arg, (uint8_t)offsetof(dnstap_msg_t, member) }
#define DNSTAP__MARK(number, kind) { (uint8_t)(((number) - 1) << 4 | DNSTAP__K_##kind), 0, 0 }
static const dnstap__field_t dnstap__fields[] = {
    DNSTAP__F(1, PREFIX, 0, identity), DNSTAP__F(2, PREFIX, 1, version), DNSTAP__F(3, PREFIX, 2, extra),
    DNSTAP__MARK(14, BEGIN),   /* Message */
    DNSTAP__F(1, ENUM, 14, type), DNSTAP__F(2, ENUM, 2, socket_family), DNSTAP__F(3, ENUM, 7, socket_protocol),
    DNSTAP__F(4, ADDR, 0, query_address), DNSTAP__F(5, ADDR, 0, response_address),
    DNSTAP__F(6, PORT, DNSTAP_HAS_QUERY_PORT, query_port), DNSTAP__F(7, PORT, DNSTAP_HAS_RESPONSE_PORT, response_port),
    DNSTAP__F(8, TIME, DNSTAP_HAS_QUERY_TIME_SEC, query_time_sec),
    DNSTAP__F(9, NSEC, DNSTAP_HAS_QUERY_TIME_NSEC, query_time_nsec),
    DNSTAP__F(10, WIRE, 0, query_message), DNSTAP__F(11, BYTES, 0, query_zone),
    DNSTAP__F(12, TIME, DNSTAP_HAS_RESPONSE_TIME_SEC, response_time_sec),
    DNSTAP__F(13, NSEC, DNSTAP_HAS_RESPONSE_TIME_NSEC, response_time_nsec),
    DNSTAP__F(14, WIRE, 0, response_message),
    DNSTAP__MARK(15, BEGIN),   /* Policy, when dnstap__has_policy() */
    DNSTAP__F(1, BYTES, 0, policy.type), DNSTAP__F(2, BYTES, 0, policy.rule), DNSTAP__F(3, ENUM, 6, policy.action),
    DNSTAP__F(4, ENUM, 5, policy.match), DNSTAP__F(5, BYTES, 0, policy.value),
    DNSTAP__MARK(15, END),
    DNSTAP__F(16, ENUM, 3, http_protocol),
    DNSTAP__MARK(14, END),
    DNSTAP__MARK(15, ONE) };   /* Dnstap.type = MESSAGE */
#undef DNSTAP__F
#undef DNSTAP__MARK

/* A varint at p (NULL: only counted); its length. */
static size_t dnstap__small_varint(uint8_t *p, uint64_t v) {
    size_t n = 1;
    for (; v >= 0x80u; v >>= 7, n++)
        if (p) *p++ = (uint8_t)(v | 0x80u);
    if (p) *p = (uint8_t)v;
    return n;
}

/* An integer field's value into *v, DNSTAP__W_* bits for what is wrong
   with it, or -1 when absent (enums: 0; ports, times: no DNSTAP_HAS_* bit). */
static int dnstap__small_value(const dnstap_msg_t *m, unsigned kind, unsigned arg, const uint8_t *at, uint64_t *v) {
    uint32_t u;
    if (kind != DNSTAP__K_ENUM && !(m->has & arg)) return -1;
    if (kind == DNSTAP__K_TIME) { *v = *(const uint64_t *)(const void *)at; return 0; }
    if (kind != DNSTAP__K_ENUM || sizeof(dnstap_message_type_t) == 4) u = *(const uint32_t *)(const void *)at;
    else u = sizeof(dnstap_message_type_t) == 2 ? *(const uint16_t *)(const void *)at : *at;
    *v = u;
    if (kind == DNSTAP__K_ENUM) return u == 0 ? -1 : u > arg ? DNSTAP__W_ENUM : 0;
    return (kind == DNSTAP__K_PORT && u > 0xFFFFu) || (kind == DNSTAP__K_NSEC && u >= 1000000000u)
               ? DNSTAP__W_INVALID : 0;
}

/* The whole payload: its size, and its bytes at p unless NULL. sub[]
   holds the Message and Policy body sizes: found when p is NULL (with
   *flags: DNSTAP__W_* for what is wrong), used when writing. */
static size_t dnstap__small_walk(const dnstap_encoder_t *enc, const dnstap_msg_t *m, bool wire,
                                 const dnstap_bytes_t *extra, size_t sub[2], unsigned *flags, uint8_t *p) {
    const dnstap__field_t *f = dnstap__fields;
    const unsigned family = (unsigned)m->socket_family;
    size_t total = 0, start[2] = { 0, 0 };   /* where the open Message and Policy bodies began */
    unsigned depth = 0;
    for (; f < dnstap__fields + sizeof dnstap__fields / sizeof dnstap__fields[0]; f++) {
        const unsigned kind = f->number_kind & 15u, arg = f->arg;
        const uint8_t *at = (const uint8_t *)m + f->off;
        const dnstap_bytes_t *b = kind == DNSTAP__K_PREFIX && arg == 2 ? extra : (const dnstap_bytes_t *)(const void *)at;
        const uint8_t *data = NULL;
        uint8_t *out = p ? p + total : NULL;
        uint32_t key = (uint32_t)((f->number_kind >> 4) + 1u) << 3 | 2u;   /* length-delimited, unless changed below */
        uint64_t v = 1;                                 /* DNSTAP__K_ONE: Dnstap.type MESSAGE */
        size_t k;
        if (kind == DNSTAP__K_BEGIN) {   /* key and length written here, counted at END */
            if (depth == 1 && !dnstap__has_policy(m)) {
                while ((f->number_kind & 15u) != DNSTAP__K_END) f++;
                continue;
            }
            if (out) {
                k = dnstap__small_varint(out, key);
                total += k + dnstap__small_varint(out + k, sub[depth]);
            }
            start[depth++] = total;
            continue;
        }
        if (kind == DNSTAP__K_END) {
            k = total - start[--depth];
            if (p == NULL) {
                sub[depth] = k;
                total += dnstap__small_varint(NULL, key) + dnstap__small_varint(NULL, k);
            }
            continue;
        }
        if (kind == DNSTAP__K_PREFIX && b->data == NULL) {   /* the encoder's own, encoded */
            k = (size_t)(enc->seg_off[arg + 1] - enc->seg_off[arg]);
            if (out) DNSTAP_MEMCPY(out, enc->prefix + enc->seg_off[arg], k);
            total += k;
            continue;
        }
        if (kind <= DNSTAP__K_WIRE || kind == DNSTAP__K_PREFIX) {   /* ADDR, BYTES, WIRE, PREFIX */
            if (b->data == NULL || (kind == DNSTAP__K_WIRE && !wire)) continue;
            data = b->data;
            v = b->len;
            /* 4 bytes unless INET6, 16 unless INET */
            if (kind == DNSTAP__K_ADDR && !(v == 4 ? family != DNSTAP_INET6 : v == 16 && family != DNSTAP_INET))
                *flags |= DNSTAP__W_INVALID;
            if (v > enc->payload_max) { *flags |= DNSTAP__W_TOO_LONG; v = 0; }   /* the sums stay small */
        } else if (kind != DNSTAP__K_ONE) {   /* ENUM, PORT, TIME, NSEC */
            int e = dnstap__small_value(m, kind, arg, at, &v);
            if (e < 0) continue;
            *flags |= (unsigned)e;
            key ^= kind == DNSTAP__K_NSEC ? 7u : 2u;   /* wire type 5 (fixed32) or 0 (varint) */
        } else {
            key ^= 2u;
        }
        /* key, then: 4 little-endian bytes (NSEC), or a varint and the data */
        k = dnstap__small_varint(out, key);
        if (kind == DNSTAP__K_NSEC) {
            if (out) dnstap__put_fixed32(out + k, (uint32_t)v);
            total += k + 4;
            continue;
        }
        k += dnstap__small_varint(out ? out + k : NULL, v);
        if (data && out && v) DNSTAP_MEMCPY(out + k, data, (size_t)v);
        total += k + (data ? (size_t)v : 0u);
    }
    return total;
}

static DNSTAP__CHECKRETURN dnstap_result_t dnstap__measure(const dnstap_encoder_t *enc, const dnstap_msg_t *m,
                                                           bool wire, const dnstap_bytes_t *extra,
                                                           dnstap__sizes_t *sz) {
    size_t sub[2] = { 0, 0 }, payload;
    unsigned flags = 0;
    if (m->type == 0) return DNSTAP_ERR_MISSING;
    payload = dnstap__small_walk(enc, m, wire, extra, sub, &flags, NULL);
    if (flags & DNSTAP__W_ENUM) return DNSTAP_ERR_ENUM;
    if (flags & DNSTAP__W_INVALID) return DNSTAP_ERR_INVALID;
    if ((flags & DNSTAP__W_TOO_LONG) || payload > enc->payload_max) return DNSTAP_ERR_TOO_LONG;
    sz->message = sub[0];
    sz->policy = sub[1];
    sz->payload = payload;
    return DNSTAP_OK;
}

static DNSTAP__MAYBE_UNUSED uint8_t *dnstap__write(uint8_t *p, const dnstap_encoder_t *enc, const dnstap_msg_t *m,
                                                   bool wire, const dnstap_bytes_t *extra,
                                                   const dnstap__sizes_t *sz) {
    size_t sub[2];
    unsigned flags = 0;
    sub[0] = sz->message;
    sub[1] = sz->policy;
    return p + dnstap__small_walk(enc, m, wire, extra, sub, &flags, p);
}
#endif   /* DNSTAP_SMALL_ENCODER */

/* The same, out of line, for callers off the hot path (smaller code). */
static DNSTAP__CHECKRETURN dnstap_result_t dnstap__measure_cold(const dnstap_encoder_t *enc,
                                                                const dnstap_msg_t *m, dnstap__sizes_t *sz) {
    return dnstap__measure(enc, m, true, &m->extra, sz);
}

#if !DNSTAP_SMALL_ENCODER
/* The encoder's identity, version and extra, encoded by
   dnstap_encoder_init(): in 16-byte pieces, the last one ending exactly at
   its end. */
DNSTAP__INLINE uint8_t *dnstap__put_prefix(uint8_t *p, const dnstap_encoder_t *enc) {
    size_t n = enc->seg_off[3], i;
    if (n >= 16) {
        for (i = 0; i + 16 < n; i += 16) DNSTAP_MEMCPY(p + i, enc->prefix + i, 16);
        DNSTAP_MEMCPY(p + n - 16, enc->prefix + n - 16, 16);
    } else {
        for (i = 0; i < n; i++) p[i] = enc->prefix[i];
    }
    return p + n;
}

/* The measured Message body, its first field to its last, then
   Dnstap.type. */
DNSTAP__INLINE uint8_t *dnstap__write_body(uint8_t *p, const dnstap_msg_t *m, bool wire, const dnstap__sizes_t *sz) {
    const uint32_t has = m->has;
    p[0] = DNSTAP__TAG_M_TYPE;
    p[1] = (uint8_t)m->type;
    p += 2;
    if (m->socket_family) { p[0] = DNSTAP__TAG_M_FAMILY; p[1] = (uint8_t)m->socket_family; p += 2; }
    if (m->socket_protocol) { p[0] = DNSTAP__TAG_M_PROTO; p[1] = (uint8_t)m->socket_protocol; p += 2; }
    p = dnstap__put_address_field(p, DNSTAP__TAG_M_QADDR, &m->query_address);
    p = dnstap__put_address_field(p, DNSTAP__TAG_M_RADDR, &m->response_address);
    if (has & DNSTAP_HAS_QUERY_PORT) { *p++ = DNSTAP__TAG_M_QPORT; p = dnstap__put_varint32(p, m->query_port); }
    if (has & DNSTAP_HAS_RESPONSE_PORT) { *p++ = DNSTAP__TAG_M_RPORT; p = dnstap__put_varint32(p, m->response_port); }
    if (has & DNSTAP_HAS_QUERY_TIME_SEC) { *p++ = DNSTAP__TAG_M_QSEC; p = dnstap__put_varint64(p, m->query_time_sec); }
    if (has & DNSTAP_HAS_QUERY_TIME_NSEC) { *p++ = DNSTAP__TAG_M_QNSEC; p = dnstap__put_fixed32(p, m->query_time_nsec); }
    if (wire) p = dnstap__put_bytes_field(p, DNSTAP__TAG_M_QMSG, &m->query_message);
    p = dnstap__put_bytes_field(p, DNSTAP__TAG_M_QZONE, &m->query_zone);
    if (has & DNSTAP_HAS_RESPONSE_TIME_SEC) { *p++ = DNSTAP__TAG_M_RSEC; p = dnstap__put_varint64(p, m->response_time_sec); }
    if (has & DNSTAP_HAS_RESPONSE_TIME_NSEC) { *p++ = DNSTAP__TAG_M_RNSEC; p = dnstap__put_fixed32(p, m->response_time_nsec); }
    if (wire) p = dnstap__put_bytes_field(p, DNSTAP__TAG_M_RMSG, &m->response_message);
    if (sz->has_policy) {
        const dnstap_policy_t *pol = &m->policy;
        *p++ = DNSTAP__TAG_M_POLICY;
        p = dnstap__put_varint32(p, (uint32_t)sz->policy);
        p = dnstap__put_bytes_field(p, DNSTAP__TAG_P_TYPE, &pol->type);
        p = dnstap__put_bytes_field(p, DNSTAP__TAG_P_RULE, &pol->rule);
        if (pol->action) { p[0] = DNSTAP__TAG_P_ACTION; p[1] = (uint8_t)pol->action; p += 2; }
        if (pol->match) { p[0] = DNSTAP__TAG_P_MATCH; p[1] = (uint8_t)pol->match; p += 2; }
        p = dnstap__put_bytes_field(p, DNSTAP__TAG_P_VALUE, &pol->value);
    }
    if (m->http_protocol) {
        p[0] = DNSTAP__TAG_M_HTTP0; p[1] = DNSTAP__TAG_M_HTTP1; p[2] = (uint8_t)m->http_protocol;
        p += 3;
    }
    p[0] = DNSTAP__TAG_TYPE;
    p[1] = 1; /* Dnstap.Type MESSAGE */
    return p + 2;
}

/* Write a measured message. The caller has checked the space.
   (Unused when DNSTAP_ENCODER_NANOPB selects nanopb's encoder.) */
DNSTAP__INLINE DNSTAP__MAYBE_UNUSED uint8_t *dnstap__write(uint8_t *p, const dnstap_encoder_t *enc,
                                                           const dnstap_msg_t *m, bool wire,
                                                           const dnstap_bytes_t *extra, const dnstap__sizes_t *sz) {
    if (DNSTAP__LIKELY(!sz->overrides)) {
        p = dnstap__put_prefix(p, enc);
    } else {
        static const uint8_t tags[3] = { DNSTAP__TAG_IDENTITY, DNSTAP__TAG_VERSION, DNSTAP__TAG_EXTRA };
        const dnstap_bytes_t *o[3];
        unsigned i;
        o[0] = &m->identity; o[1] = &m->version; o[2] = extra;
        for (i = 0; i < 3; i++) {
            size_t n = (size_t)(enc->seg_off[i + 1] - enc->seg_off[i]);
            if (o[i]->data) { p = dnstap__put_bytes_field(p, tags[i], o[i]); continue; }
            if (n) DNSTAP_MEMCPY(p, enc->prefix + enc->seg_off[i], n);
            p += n;
        }
    }
    *p++ = DNSTAP__TAG_MESSAGE;
    p = dnstap__put_varint32(p, (uint32_t)sz->message);
    return dnstap__write_body(p, m, wire, sz);
}
#endif

DNSTAP_API dnstap_result_t dnstap_encoder_init(dnstap_encoder_t *enc, const dnstap_encoder_desc_t *desc) {
    static const uint8_t tags[3] = { DNSTAP__TAG_IDENTITY, DNSTAP__TAG_VERSION, DNSTAP__TAG_EXTRA };
    dnstap_encoder_desc_t zero;
    const dnstap_bytes_t *fields[3];
    size_t off = 0;
    unsigned i;
    if (enc == NULL) return DNSTAP_ERR_INVALID;
    if (desc == NULL) { DNSTAP_MEMSET(&zero, 0, sizeof zero); desc = &zero; }
    if (desc->payload_max > DNSTAP_PAYLOAD_MAX_LIMIT) return DNSTAP_ERR_INVALID;
    DNSTAP_MEMSET(enc, 0, sizeof *enc);
    enc->payload_max = desc->payload_max ? desc->payload_max : DNSTAP_PAYLOAD_MAX_DEFAULT;
    fields[0] = &desc->identity; fields[1] = &desc->version; fields[2] = &desc->extra;
    for (i = 0; i < 3; i++) {
        const dnstap_bytes_t *b = fields[i];
        enc->seg_off[i] = (uint16_t)off;
        if (b->data == NULL) continue;
        if (b->len > DNSTAP_PREFIX_MAX || off + 1 + dnstap__varint_len(b->len) + b->len > DNSTAP_PREFIX_MAX)
            return DNSTAP_ERR_TOO_LONG;
        off = (size_t)(dnstap__put_bytes_field(enc->prefix + off, tags[i], b) - enc->prefix);
    }
    enc->seg_off[3] = (uint16_t)off;
    /* the smallest message must fit: prefix + Message{type} + type */
    if (off + 6 > enc->payload_max) return DNSTAP_ERR_TOO_LONG;
    return DNSTAP_OK;
}

DNSTAP_API dnstap_result_t dnstap_encoded_size(const dnstap_encoder_t *enc, const dnstap_msg_t *msg,
                                               size_t *len) {
    dnstap__sizes_t sz;
    dnstap_result_t r;
    if (enc == NULL || msg == NULL || len == NULL) return DNSTAP_ERR_INVALID;
    r = dnstap__measure_cold(enc, msg, &sz);
    *len = r == DNSTAP_OK ? sz.payload : 0;
    return r;
}

/* Write a measured payload with the selected encoder; space is checked. */
DNSTAP__INLINE void dnstap__emit(const dnstap_encoder_t *enc, const dnstap_msg_t *msg, bool wire,
                                 const dnstap_bytes_t *extra, const dnstap__sizes_t *sz, uint8_t *out) {
#ifdef DNSTAP_ENCODER_NANOPB
    dnstap_msg_t m = *msg;   /* nanopb's encoder reads the message as given */
    size_t n;
    if (!wire) m.query_message.data = m.response_message.data = NULL;
    m.extra = *extra;
    (void)dnstap_encode_nanopb(enc, &m, out, sz->payload, &n);   /* same checks already passed */
#else
    (void)dnstap__write(out, enc, msg, wire, extra, sz);
#endif
}

/* Payload at buf + hdr, after hdr bytes the caller fills (0 or 4). */
DNSTAP__INLINE dnstap_result_t dnstap__encode_at(const dnstap_encoder_t *enc, const dnstap_msg_t *msg,
                                         uint8_t *buf, size_t cap, size_t hdr, size_t *len) {
    dnstap__sizes_t sz;
    dnstap_result_t r;
    if (enc == NULL || msg == NULL || len == NULL || (buf == NULL && cap)) return DNSTAP_ERR_INVALID;
    *len = 0;
    r = dnstap__measure(enc, msg, true, &msg->extra, &sz);
    if (r != DNSTAP_OK) return r;
    if (cap < hdr || sz.payload > cap - hdr) return DNSTAP_ERR_NOSPACE;
    dnstap__emit(enc, msg, true, &msg->extra, &sz, buf + hdr);
    if (hdr) dnstap__put_be32(buf, (uint32_t)sz.payload);
    *len = hdr + sz.payload;
    return DNSTAP_OK;
}

DNSTAP_API dnstap_result_t dnstap_encode(const dnstap_encoder_t *enc, const dnstap_msg_t *msg,
                                         uint8_t *buf, size_t cap, size_t *len) {
    return dnstap__encode_at(enc, msg, buf, cap, 0, len);
}

DNSTAP_API dnstap_result_t dnstap_encode_frame(const dnstap_encoder_t *enc, const dnstap_msg_t *msg,
                                               uint8_t *buf, size_t cap, size_t *len) {
    return dnstap__encode_at(enc, msg, buf, cap, 4, len);
}

/* >>nanopb --------------------------------------------------------------
   The encoder of record and the decoder, through nanopb's runtime. Bytes
   fields are callbacks in the generated types; theirs point at a
   dnstap_bytes_t. */

#ifndef DNSTAP_NO_NANOPB_ENCODE
static bool dnstap__pb_put_bytes(pb_ostream_t *s, const pb_field_t *field, void *const *arg) {
    const dnstap_bytes_t *b = (const dnstap_bytes_t *)*arg;
    if (b->data == NULL) return true;
    return pb_encode_tag_for_field(s, field) && pb_encode_string(s, b->data, b->len);
}

static void dnstap__pb_out(pb_callback_t *cb, dnstap_bytes_t *b) {
    cb->funcs.encode = dnstap__pb_put_bytes;
    cb->arg = b;
}

DNSTAP_API dnstap_result_t dnstap_encode_nanopb(const dnstap_encoder_t *enc, const dnstap_msg_t *msg,
                                                uint8_t *buf, size_t cap, size_t *len) {
    /* Copies, so that the callbacks' non-const arg need no cast. */
    dnstap_bytes_t b[11];
    dnstap_Dnstap pb;
    dnstap_Message *pm = &pb.message;
    dnstap__sizes_t sz;
    pb_ostream_t os;
    size_t size = 0;
    unsigned i;
    dnstap_result_t r;

    if (enc == NULL || msg == NULL || len == NULL || (buf == NULL && cap)) return DNSTAP_ERR_INVALID;
    *len = 0;
    r = dnstap__measure_cold(enc, msg, &sz);   /* the same validation as the direct writer */
    if (r != DNSTAP_OK) return r;

    DNSTAP_MEMSET(&pb, 0, sizeof pb);
    b[0] = msg->identity; b[1] = msg->version; b[2] = msg->extra;
    for (i = 0; i < 3; i++) {
        if (b[i].data == NULL && enc->seg_off[i + 1] > enc->seg_off[i]) {   /* the encoder's: tag, length, value */
            const uint8_t *v = enc->prefix + enc->seg_off[i] + 1;
            while (*v++ & 0x80u) continue;
            b[i].data = v;
            b[i].len = (size_t)(enc->prefix + enc->seg_off[i + 1] - v);
        }
    }
    b[3] = msg->query_address; b[4] = msg->response_address; b[5] = msg->query_message;
    b[6] = msg->query_zone; b[7] = msg->response_message; b[8] = msg->policy.type;
    b[9] = msg->policy.rule; b[10] = msg->policy.value;
    dnstap__pb_out(&pb.identity, &b[0]);
    dnstap__pb_out(&pb.version, &b[1]);
    dnstap__pb_out(&pb.extra, &b[2]);
    pb.type = dnstap_Dnstap_Type_MESSAGE;
    pb.has_message = true;
    pm->type = (dnstap_Message_Type)msg->type;
    pm->has_socket_family = msg->socket_family != 0;
    pm->socket_family = (dnstap_SocketFamily)msg->socket_family;
    pm->has_socket_protocol = msg->socket_protocol != 0;
    pm->socket_protocol = (dnstap_SocketProtocol)msg->socket_protocol;
    dnstap__pb_out(&pm->query_address, &b[3]);
    dnstap__pb_out(&pm->response_address, &b[4]);
    pm->has_query_port = (msg->has & DNSTAP_HAS_QUERY_PORT) != 0;
    pm->query_port = msg->query_port;
    pm->has_response_port = (msg->has & DNSTAP_HAS_RESPONSE_PORT) != 0;
    pm->response_port = msg->response_port;
    pm->has_query_time_sec = (msg->has & DNSTAP_HAS_QUERY_TIME_SEC) != 0;
    pm->query_time_sec = msg->query_time_sec;
    pm->has_query_time_nsec = (msg->has & DNSTAP_HAS_QUERY_TIME_NSEC) != 0;
    pm->query_time_nsec = msg->query_time_nsec;
    dnstap__pb_out(&pm->query_message, &b[5]);
    dnstap__pb_out(&pm->query_zone, &b[6]);
    pm->has_response_time_sec = (msg->has & DNSTAP_HAS_RESPONSE_TIME_SEC) != 0;
    pm->response_time_sec = msg->response_time_sec;
    pm->has_response_time_nsec = (msg->has & DNSTAP_HAS_RESPONSE_TIME_NSEC) != 0;
    pm->response_time_nsec = msg->response_time_nsec;
    dnstap__pb_out(&pm->response_message, &b[7]);
    pm->has_policy = dnstap__has_policy(msg);
    dnstap__pb_out(&pm->policy.type, &b[8]);
    dnstap__pb_out(&pm->policy.rule, &b[9]);
    pm->policy.has_action = msg->policy.action != 0;
    pm->policy.action = (dnstap_Policy_Action)msg->policy.action;
    pm->policy.has_match = msg->policy.match != 0;
    pm->policy.match = (dnstap_Policy_Match)msg->policy.match;
    dnstap__pb_out(&pm->policy.value, &b[10]);
    pm->has_http_protocol = msg->http_protocol != 0;
    pm->http_protocol = (dnstap_HttpProtocol)msg->http_protocol;

    /* nanopb's own sizing pass decides; the limits are checked before the
       first byte is written. */
    if (!pb_get_encoded_size(&size, dnstap_Dnstap_fields, &pb)) return DNSTAP_ERR_INVALID;
    if (size > enc->payload_max) return DNSTAP_ERR_TOO_LONG;
    if (size > cap) return DNSTAP_ERR_NOSPACE;
    os = pb_ostream_from_buffer(buf, cap);
    if (!pb_encode(&os, dnstap_Dnstap_fields, &pb)) return DNSTAP_ERR_NOSPACE;
    *len = os.bytes_written;
    return DNSTAP_OK;
}
#else
DNSTAP_API dnstap_result_t dnstap_encode_nanopb(const dnstap_encoder_t *enc, const dnstap_msg_t *msg,
                                                uint8_t *buf, size_t cap, size_t *len) {
    (void)enc; (void)msg; (void)buf; (void)cap;
    if (len) *len = 0;
    return DNSTAP_ERR_UNSUPPORTED;
}
#endif /* DNSTAP_NO_NANOPB_ENCODE */

#ifndef DNSTAP_NO_DECODE
/* Zero copy: on a buffer stream, state is the read position. nanopb also
   calls a bytes callback for a field sent with a scalar wire type, on a
   copy of the value on its own stack: only a range inside the input is a
   real bytes field, anything else is malformed input. */
typedef struct dnstap__pb_dst_t {
    dnstap_bytes_t *dst;
    uintptr_t begin, end;     /* the payload */
} dnstap__pb_dst_t;

static bool dnstap__pb_get_bytes(pb_istream_t *s, const pb_field_t *field, void **arg) {
    dnstap__pb_dst_t *d = (dnstap__pb_dst_t *)*arg;
    uintptr_t at = (uintptr_t)s->state;
    (void)field;
    if (at < d->begin || at > d->end || s->bytes_left > d->end - at) return false;
    d->dst->data = (const uint8_t *)s->state;
    d->dst->len = s->bytes_left;
    return pb_read(s, NULL, s->bytes_left);
}

static void dnstap__pb_in(pb_callback_t *cb, dnstap__pb_dst_t *d, dnstap_bytes_t *b, const uint8_t *payload,
                          size_t len) {
    d->dst = b;
    d->begin = (uintptr_t)payload;
    d->end = (uintptr_t)payload + len;
    cb->funcs.decode = dnstap__pb_get_bytes;
    cb->arg = d;
}

DNSTAP_API dnstap_result_t dnstap_decode(const uint8_t *payload, size_t len, dnstap_msg_t *msg) {
    dnstap_Dnstap pb;
    dnstap_Message *pm = &pb.message;
    dnstap__pb_dst_t d[11];
    pb_istream_t is;
    if (msg == NULL || (payload == NULL && len)) return DNSTAP_ERR_INVALID;
    DNSTAP_MEMSET(msg, 0, sizeof *msg);
    DNSTAP_MEMSET(&pb, 0, sizeof pb);
    dnstap__pb_in(&pb.identity, &d[0], &msg->identity, payload, len);
    dnstap__pb_in(&pb.version, &d[1], &msg->version, payload, len);
    dnstap__pb_in(&pb.extra, &d[2], &msg->extra, payload, len);
    dnstap__pb_in(&pm->query_address, &d[3], &msg->query_address, payload, len);
    dnstap__pb_in(&pm->response_address, &d[4], &msg->response_address, payload, len);
    dnstap__pb_in(&pm->query_message, &d[5], &msg->query_message, payload, len);
    dnstap__pb_in(&pm->query_zone, &d[6], &msg->query_zone, payload, len);
    dnstap__pb_in(&pm->response_message, &d[7], &msg->response_message, payload, len);
    dnstap__pb_in(&pm->policy.type, &d[8], &msg->policy.type, payload, len);
    dnstap__pb_in(&pm->policy.rule, &d[9], &msg->policy.rule, payload, len);
    dnstap__pb_in(&pm->policy.value, &d[10], &msg->policy.value, payload, len);
    is = pb_istream_from_buffer(payload, len);
    if (!pb_decode(&is, dnstap_Dnstap_fields, &pb)) {
        dnstap_result_t r = DNSTAP_ERR_DECODE;
#ifndef PB_NO_ERRMSG
        static const char missing[] = "missing required field";
        if (is.errmsg && dnstap__equal(is.errmsg, missing, sizeof missing)) r = DNSTAP_ERR_MISSING;
#endif
        DNSTAP_MEMSET(msg, 0, sizeof *msg);
        return r;
    }
    if (pb.type != dnstap_Dnstap_Type_MESSAGE || !pb.has_message ||
        (int)pm->type == 0 || (pm->has_socket_family && (int)pm->socket_family == 0) ||
        (pm->has_socket_protocol && (int)pm->socket_protocol == 0) ||
        (pm->has_http_protocol && (int)pm->http_protocol == 0) ||
        (pm->has_policy && ((pm->policy.has_action && (int)pm->policy.action == 0) ||
                            (pm->policy.has_match && (int)pm->policy.match == 0)))) {
        dnstap_result_t r = (pb.type == dnstap_Dnstap_Type_MESSAGE && !pb.has_message) ? DNSTAP_ERR_MISSING
                                                                                     : DNSTAP_ERR_ENUM;
        DNSTAP_MEMSET(msg, 0, sizeof *msg);
        return r;
    }
    msg->type = (dnstap_message_type_t)pm->type;
    if (pm->has_socket_family) msg->socket_family = (dnstap_socket_family_t)pm->socket_family;
    if (pm->has_socket_protocol) msg->socket_protocol = (dnstap_socket_protocol_t)pm->socket_protocol;
    if (pm->has_http_protocol) msg->http_protocol = (dnstap_http_protocol_t)pm->http_protocol;
    if (pm->has_query_port) { msg->has |= DNSTAP_HAS_QUERY_PORT; msg->query_port = pm->query_port; }
    if (pm->has_response_port) { msg->has |= DNSTAP_HAS_RESPONSE_PORT; msg->response_port = pm->response_port; }
    if (pm->has_query_time_sec) { msg->has |= DNSTAP_HAS_QUERY_TIME_SEC; msg->query_time_sec = pm->query_time_sec; }
    if (pm->has_query_time_nsec) { msg->has |= DNSTAP_HAS_QUERY_TIME_NSEC; msg->query_time_nsec = pm->query_time_nsec; }
    if (pm->has_response_time_sec) { msg->has |= DNSTAP_HAS_RESPONSE_TIME_SEC; msg->response_time_sec = pm->response_time_sec; }
    if (pm->has_response_time_nsec) { msg->has |= DNSTAP_HAS_RESPONSE_TIME_NSEC; msg->response_time_nsec = pm->response_time_nsec; }
    if (pm->has_policy) {
        msg->has |= DNSTAP_HAS_POLICY;
        if (pm->policy.has_action) msg->policy.action = (dnstap_policy_action_t)pm->policy.action;
        if (pm->policy.has_match) msg->policy.match = (dnstap_policy_match_t)pm->policy.match;
    }
    return DNSTAP_OK;
}
#else
DNSTAP_API dnstap_result_t dnstap_decode(const uint8_t *payload, size_t len, dnstap_msg_t *msg) {
    (void)payload; (void)len; (void)msg;
    return DNSTAP_ERR_UNSUPPORTED;
}
#endif /* DNSTAP_NO_DECODE */

/* >>helpers ------------------------------------------------------------- */

DNSTAP_API dnstap_bytes_t dnstap_str(const char *s) {
    dnstap_bytes_t b;
    b.data = (const uint8_t *)s;
    b.len = 0;
    if (s) while (s[b.len]) b.len++;
    return b;
}

DNSTAP_API void dnstap_msg_set_query_time(dnstap_msg_t *msg, uint64_t sec, uint32_t nsec) {
    msg->query_time_sec = sec;
    msg->query_time_nsec = nsec;
    msg->has |= DNSTAP_HAS_QUERY_TIME;
}

DNSTAP_API void dnstap_msg_set_response_time(dnstap_msg_t *msg, uint64_t sec, uint32_t nsec) {
    msg->response_time_sec = sec;
    msg->response_time_nsec = nsec;
    msg->has |= DNSTAP_HAS_RESPONSE_TIME;
}

#if !defined(DNSTAP_NOW) && DNSTAP__POSIX
#define DNSTAP_NOW(sec, nsec) do { struct timespec dnstap__ts; \
        clock_gettime(CLOCK_REALTIME, &dnstap__ts); \
        (sec) = (uint64_t)dnstap__ts.tv_sec; (nsec) = (uint32_t)dnstap__ts.tv_nsec; } while (0)
#endif

DNSTAP_API dnstap_result_t dnstap_now(uint64_t *sec, uint32_t *nsec) {
    uint64_t s = 0;
    uint32_t ns = 0;
    dnstap_result_t r = DNSTAP_OK;
#ifdef DNSTAP_NOW
    DNSTAP_NOW(s, ns);
#else
    r = DNSTAP_ERR_UNSUPPORTED;
#endif
    if (sec) *sec = s;
    if (nsec) *nsec = ns;
    return r;
}

#if DNSTAP__POSIX
static uint32_t dnstap__get_be16(const void *p) {
    const uint8_t *b = (const uint8_t *)p;
    return ((uint32_t)b[0] << 8) | b[1];
}

static dnstap_result_t dnstap__from_sockaddr(dnstap_msg_t *msg, const struct sockaddr *sa,
                                             dnstap_bytes_t *addr, uint32_t *port, uint32_t has) {
    if (msg == NULL || sa == NULL) return DNSTAP_ERR_INVALID;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        addr->data = (const uint8_t *)&in->sin_addr;
        addr->len = 4;
        *port = dnstap__get_be16(&in->sin_port);
        msg->socket_family = DNSTAP_INET;
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        addr->data = (const uint8_t *)&in6->sin6_addr;
        addr->len = 16;
        *port = dnstap__get_be16(&in6->sin6_port);
        msg->socket_family = DNSTAP_INET6;
    } else {
        return DNSTAP_ERR_INVALID;
    }
    msg->has |= has;
    return DNSTAP_OK;
}

DNSTAP_API dnstap_result_t dnstap_msg_set_query_sockaddr(dnstap_msg_t *msg, const struct sockaddr *sa) {
    return msg ? dnstap__from_sockaddr(msg, sa, &msg->query_address, &msg->query_port, DNSTAP_HAS_QUERY_PORT)
               : DNSTAP_ERR_INVALID;
}

DNSTAP_API dnstap_result_t dnstap_msg_set_response_sockaddr(dnstap_msg_t *msg, const struct sockaddr *sa) {
    return msg ? dnstap__from_sockaddr(msg, sa, &msg->response_address, &msg->response_port, DNSTAP_HAS_RESPONSE_PORT)
               : DNSTAP_ERR_INVALID;
}
#else
DNSTAP_API dnstap_result_t dnstap_msg_set_query_sockaddr(dnstap_msg_t *msg, const struct sockaddr *sa) {
    (void)msg; (void)sa;
    return DNSTAP_ERR_UNSUPPORTED;
}
DNSTAP_API dnstap_result_t dnstap_msg_set_response_sockaddr(dnstap_msg_t *msg, const struct sockaddr *sa) {
    (void)msg; (void)sa;
    return DNSTAP_ERR_UNSUPPORTED;
}
#endif

/* >>fstrm --------------------------------------------------------------- */

#define DNSTAP__FIELD_CONTENT_TYPE 1u

static bool dnstap__control_fields_ok(dnstap_control_t type, size_t n) {
    if (type == DNSTAP_CONTROL_START) return n <= 1;
    if (type == DNSTAP_CONTROL_STOP || type == DNSTAP_CONTROL_FINISH) return n == 0;
    return true;
}

DNSTAP_API dnstap_result_t dnstap_control_frame(uint8_t *buf, size_t cap, dnstap_control_t type,
                                                const char *const *content_types, size_t n,
                                                size_t *len) {
    size_t body = 4, i, off;
    if (len == NULL || (buf == NULL && cap) || (content_types == NULL && n)) return DNSTAP_ERR_INVALID;
    *len = 0;
    if ((int)type < 1 || (int)type > 5) return DNSTAP_ERR_CONTROL_TYPE;
    if (!dnstap__control_fields_ok(type, n)) return DNSTAP_ERR_CONTROL_FIELD;
    for (i = 0; i < n; i++) {
        size_t l;
        if (content_types[i] == NULL) return DNSTAP_ERR_INVALID;
        l = dnstap_str(content_types[i]).len;
        if (l > DNSTAP_CONTENT_TYPE_MAX) return DNSTAP_ERR_CONTENT_TYPE_TOO_LONG;
        body += 8 + l;
        if (body > DNSTAP_CONTROL_MAX) return DNSTAP_ERR_CONTROL_TOO_BIG;
    }
    if (cap < 8 + body) return DNSTAP_ERR_NOSPACE;
    dnstap__put_be32(buf, 0);
    dnstap__put_be32(buf + 4, (uint32_t)body);
    dnstap__put_be32(buf + 8, (uint32_t)type);
    off = 12;
    for (i = 0; i < n; i++) {
        dnstap_bytes_t ct = dnstap_str(content_types[i]);
        dnstap__put_be32(buf + off, DNSTAP__FIELD_CONTENT_TYPE);
        dnstap__put_be32(buf + off + 4, (uint32_t)ct.len);
        if (ct.len) DNSTAP_MEMCPY(buf + off + 8, ct.data, ct.len);
        off += 8 + ct.len;
    }
    *len = off;
    return DNSTAP_OK;
}

/* Walk the fields of a control frame body (after the type word). */
static dnstap_result_t dnstap__control_parse(dnstap_control_t type, const uint8_t *p, size_t len,
                                             size_t *count, dnstap_bytes_t *first) {
    size_t n = 0;
    first->data = NULL;
    first->len = 0;
    while (len) {
        uint32_t ftype, flen;
        if (len < 8) return DNSTAP_ERR_CONTROL_FIELD;
        ftype = dnstap__get_be32(p);
        flen = dnstap__get_be32(p + 4);
        if (ftype != DNSTAP__FIELD_CONTENT_TYPE) return DNSTAP_ERR_CONTROL_FIELD;
        if (flen > DNSTAP_CONTENT_TYPE_MAX) return DNSTAP_ERR_CONTENT_TYPE_TOO_LONG;
        if (flen > len - 8) return DNSTAP_ERR_CONTROL_FIELD;
        if (n == 0) { first->data = p + 8; first->len = flen; }
        n++;
        p += 8 + flen;
        len -= 8 + flen;
    }
    if (!dnstap__control_fields_ok(type, n)) return DNSTAP_ERR_CONTROL_FIELD;
    *count = n;
    return DNSTAP_OK;
}

DNSTAP_API bool dnstap_frame_has_content_type(const dnstap_frame_t *f, const char *content_type) {
    dnstap_bytes_t want = dnstap_str(content_type);
    const uint8_t *p;
    size_t len;
    if (f == NULL || f->kind != DNSTAP_FRAME_CONTROL || content_type == NULL) return false;
    p = f->data;
    len = f->len;
    while (len >= 8) {
        uint32_t flen = dnstap__get_be32(p + 4);
        if (flen > len - 8) return false;
        if (flen == want.len && dnstap__equal(p + 8, want.data, flen)) return true;
        p += 8 + flen;
        len -= 8 + flen;
    }
    return false;
}

enum { DNSTAP__R_LEN = 0, DNSTAP__R_CLEN, DNSTAP__R_BODY, DNSTAP__R_CBODY };

/* Any cap: the tap reads its receiver's replies into DNSTAP_REPLY_MAX bytes,
   refusing longer ones as DNSTAP_ERR_CONTROL_TOO_BIG. */
static void dnstap__reader_setup(dnstap_reader_t *r, uint8_t *buf, size_t cap) {
    DNSTAP_MEMSET(r, 0, sizeof *r);
    r->buf = buf;
    r->cap = cap;
    r->payload_max = cap < DNSTAP_PAYLOAD_MAX_LIMIT ? (uint32_t)cap : DNSTAP_PAYLOAD_MAX_LIMIT;
    r->content_type = DNSTAP_CONTENT_TYPE;
    r->role = DNSTAP_READ_WRITER_STREAM;
}

DNSTAP_API dnstap_result_t dnstap_reader_init(dnstap_reader_t *r, uint8_t *buf, size_t cap) {
    if (r == NULL || buf == NULL || cap < DNSTAP_CONTROL_MAX) return DNSTAP_ERR_INVALID;
    dnstap__reader_setup(r, buf, cap);
    return DNSTAP_OK;
}

/* Check a complete frame against the stream's sequence rules. */
static dnstap_result_t dnstap__reader_accept(dnstap_reader_t *r, dnstap_frame_t *f) {
    bool writer = r->role != DNSTAP_READ_RECEIVER_REPLIES;   /* a writer's stream or a file */
    if (r->stopped) return DNSTAP_ERR_SEQUENCE;
    if (f->kind == DNSTAP_FRAME_DATA) {
        if (!writer || !r->started) return DNSTAP_ERR_SEQUENCE;
        return DNSTAP_OK;
    }
    {
        dnstap_result_t e;
        uint32_t type;
        if (f->len < 4) return DNSTAP_ERR_CONTROL_FIELD;
        type = dnstap__get_be32(f->data);
        if (type < 1 || type > 5) return DNSTAP_ERR_CONTROL_TYPE;
        f->control = (dnstap_control_t)type;
        f->data += 4;
        f->len -= 4;
        e = dnstap__control_parse(f->control, f->data, f->len, &f->content_types, &f->content_type);
        if (e != DNSTAP_OK) return e;
    }
    if (writer) {
        switch (f->control) {
        case DNSTAP_CONTROL_READY:
            if (r->started || r->role == DNSTAP_READ_FILE) return DNSTAP_ERR_SEQUENCE;
            return DNSTAP_OK;
        case DNSTAP_CONTROL_START:   /* its content type is optional (as libfstrm and golang read it) */
            if (r->started) return DNSTAP_ERR_SEQUENCE;
            if (r->content_type && f->content_types && !dnstap_frame_has_content_type(f, r->content_type))
                return DNSTAP_ERR_CONTENT_TYPE;
            r->started = 1;
            return DNSTAP_OK;
        case DNSTAP_CONTROL_STOP:
            if (!r->started) return DNSTAP_ERR_SEQUENCE;
            r->stopped = 1;
            return DNSTAP_OK;
        default:
            return DNSTAP_ERR_SEQUENCE;
        }
    }
    switch (f->control) {
    case DNSTAP_CONTROL_ACCEPT:
        if (r->started) return DNSTAP_ERR_SEQUENCE;
        r->started = 1;
        return DNSTAP_OK;
    case DNSTAP_CONTROL_FINISH:
        r->stopped = 1;
        return DNSTAP_OK;
    default:
        return DNSTAP_ERR_SEQUENCE;
    }
}

DNSTAP_API dnstap_result_t dnstap_reader_feed(dnstap_reader_t *r, const uint8_t *in, size_t len,
                                              size_t *used, dnstap_frame_t *frame) {
    size_t pos = 0;
    if (used) *used = 0;
    if (r == NULL || used == NULL || frame == NULL || (in == NULL && len)) return DNSTAP_ERR_INVALID;
    if (r->err != DNSTAP_OK) return r->err;
    while (pos < len) {
        if (r->stopped) { r->err = DNSTAP_ERR_SEQUENCE; break; }
        if (r->phase == DNSTAP__R_LEN || r->phase == DNSTAP__R_CLEN) {
            uint32_t want = r->phase == DNSTAP__R_LEN ? 4u : 8u;
            while (r->hdr_have < want && pos < len) r->hdr[r->hdr_have++] = in[pos++];
            if (r->hdr_have < want) break;
            if (r->phase == DNSTAP__R_LEN) {
                uint32_t n = dnstap__get_be32(r->hdr);
                if (n == 0) { r->phase = DNSTAP__R_CLEN; continue; }
                if (n > r->payload_max || n > r->cap) { r->err = DNSTAP_ERR_FRAME_TOO_BIG; break; }
                r->need = n;
                r->phase = DNSTAP__R_BODY;
            } else {
                uint32_t n = dnstap__get_be32(r->hdr + 4);
                if (n > DNSTAP_CONTROL_MAX || n > r->cap) { r->err = DNSTAP_ERR_CONTROL_TOO_BIG; break; }
                if (n < 4) { r->err = DNSTAP_ERR_CONTROL_FIELD; break; }
                r->need = n;
                r->phase = DNSTAP__R_CBODY;
            }
            r->have = 0;
            continue;
        }
        /* a body: take it in place when the chunk holds all of it */
        {
            size_t take = len - pos;
            dnstap_result_t e;
            if (take > r->need - r->have) take = r->need - r->have;
            DNSTAP_MEMSET(frame, 0, sizeof *frame);
            if (r->have == 0 && take == r->need) {
                frame->data = in + pos;
            } else {
                DNSTAP_MEMCPY(r->buf + r->have, in + pos, take);
                frame->data = r->buf;
            }
            r->have += (uint32_t)take;
            pos += take;
            if (r->have < r->need) break;
            frame->kind = r->phase == DNSTAP__R_BODY ? DNSTAP_FRAME_DATA : DNSTAP_FRAME_CONTROL;
            frame->len = r->need;
            r->phase = DNSTAP__R_LEN;
            r->hdr_have = 0;
            r->have = r->need = 0;
            e = dnstap__reader_accept(r, frame);
            if (e != DNSTAP_OK) { r->err = e; *used = pos; return e; }
            *used = pos;
            return DNSTAP_OK;
        }
    }
    *used = pos;
    return r->err != DNSTAP_OK ? r->err : DNSTAP_ERR_AGAIN;
}

DNSTAP_API dnstap_result_t dnstap_reader_end(const dnstap_reader_t *r) {
    if (r == NULL) return DNSTAP_ERR_INVALID;
    if (r->err != DNSTAP_OK) return r->err;
    if (r->hdr_have || r->phase != DNSTAP__R_LEN) return DNSTAP_ERR_TRUNCATED;
    return r->stopped ? DNSTAP_OK : DNSTAP_ERR_UNFINISHED;
}

/* >>file ---------------------------------------------------------------- */

enum { DNSTAP__F_OPEN = 1, DNSTAP__F_CLOSED = 2 };

/* The first n bytes of buf, from a frame boundary: how many of them are
   whole frames; *data counts the data frames among those. */
static size_t dnstap__whole_frames(const uint8_t *buf, size_t n, uint64_t *data) {
    size_t at = 0, size;
    while (n - at >= 4) {
        uint32_t len = dnstap__get_be32(buf + at);
        if (len == 0) {   /* control frame: escape, length, body */
            if (n - at < 8 || dnstap__get_be32(buf + at + 4) > n - at - 8) break;
            size = 8 + (size_t)dnstap__get_be32(buf + at + 4);
        } else {
            if (len > n - at - 4) break;
            size = 4 + (size_t)len;
            ++*data;
        }
        at += size;
    }
    return at;
}

#if DNSTAP__POSIX
/* A regular file whose write failed `cut` bytes into a frame (0: between
   two), as on a full disk: those bytes are taken back, so that the file
   ends with its last whole frame, then STOP is added when asked and when
   it fits. Returns the file's size after, or -1 when it cannot be cut (a
   pipe, a FIFO: left as it is). errno is kept for the caller's message. */
static int64_t dnstap__fd_end_whole(int fd, uint64_t cut, bool stop) {
    /* STOP as dnstap_control_frame() writes it; a constant, so that the
       live tap's file: endpoint does not link that function */
    static const uint8_t stop_frame[12] = { 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, DNSTAP_CONTROL_STOP };
    int saved = errno;
    off_t end = lseek(fd, 0, SEEK_CUR);
    ssize_t n = -1;
    if (end < 0 || (uint64_t)end < cut) { errno = saved; return -1; }
    end -= (off_t)cut;
    if (ftruncate(fd, end) != 0 || lseek(fd, end, SEEK_SET) != end) { errno = saved; return -1; }
    if (stop) { do n = write(fd, stop_frame, sizeof stop_frame); while (n < 0 && errno == EINTR); }
    if (n == (ssize_t)sizeof stop_frame) end += n;
    else if (stop && ftruncate(fd, end) == 0) (void)lseek(fd, end, SEEK_SET);   /* no part of STOP */
    errno = saved;
    return (int64_t)end;
}
#endif

static dnstap_result_t dnstap__file_drain(dnstap_file_t *f) {
    size_t off = 0;
    if (f->err != DNSTAP_OK) return f->err;
    while (off < f->used) {
        size_t chunk = f->used - off;
        int n;
        if (chunk > 0x40000000u) chunk = 0x40000000u;
        n = f->write(f->ctx, f->buf + off, chunk);
        if (n <= 0 || (size_t)n > chunk) {
            uint64_t whole = 0;
            size_t keep = dnstap__whole_frames(f->buf, off, &whole);
            f->err = (n < 0 && n >= DNSTAP__ERR_LOWEST && n != DNSTAP_ERR_AGAIN) ? (dnstap_result_t)n
                                                                                    : DNSTAP_ERR_IO;
            f->frames += whole;
#if DNSTAP__POSIX
            if (f->fd >= 0) {   /* a file of dnstap_file_open(): its whole frames, then STOP
                                   unless START itself was cut (no file to end) */
                int64_t size = dnstap__fd_end_whole(f->fd, off - keep, f->written > off - keep);
                if (size >= 0) { f->written = (uint64_t)size; off = keep; }
            }
#else
            (void)keep;
#endif
            /* keep what was not written, so nothing queued is silently lost
               (written already counts what was taken) */
            if (off) {   /* rare: a byte loop, not memmove, keeps libc needs minimal */
                size_t i;
                for (i = off; i < f->used; i++) f->buf[i - off] = f->buf[i];
                f->used -= off;
            }
            return f->err;
        }
        off += (size_t)n;
        f->written += (uint64_t)n;
    }
    (void)dnstap__whole_frames(f->buf, f->used, &f->frames);   /* all written: count its data frames */
    f->used = 0;
    return DNSTAP_OK;
}

DNSTAP_API dnstap_result_t dnstap_file_init(dnstap_file_t *f, const dnstap_encoder_t *enc,
                                            uint8_t *buf, size_t cap,
                                            dnstap_write_fn write, void *ctx) {
    static const char *const ct[1] = { DNSTAP_CONTENT_TYPE };
    if (f == NULL || buf == NULL || write == NULL || cap < 64) return DNSTAP_ERR_INVALID;
    DNSTAP_MEMSET(f, 0, sizeof *f);
    f->enc = enc;
    f->write = write;
    f->ctx = ctx;
    f->buf = buf;
    f->cap = cap;
    f->fd = -1;
    f->state = DNSTAP__F_OPEN;
    return dnstap_control_frame(buf, cap, DNSTAP_CONTROL_START, ct, 1, &f->used);
}

DNSTAP_API dnstap_result_t dnstap_file_log(dnstap_file_t *f, const dnstap_msg_t *msg) {
    dnstap_result_t r;
    size_t n;
    if (f == NULL || f->state != DNSTAP__F_OPEN || f->enc == NULL) return DNSTAP_ERR_INVALID;
    if (f->err != DNSTAP_OK) return f->err;
    r = dnstap_encode_frame(f->enc, msg, f->buf + f->used, f->cap - f->used, &n);
    if (r == DNSTAP_ERR_NOSPACE && f->used) {
        r = dnstap__file_drain(f);
        if (r != DNSTAP_OK) return r;
        r = dnstap_encode_frame(f->enc, msg, f->buf, f->cap, &n);
    }
    if (r != DNSTAP_OK) return r;
    f->used += n;
    return DNSTAP_OK;
}

/* Room for len bytes at the end of the buffer, draining it first if need be. */
static dnstap_result_t dnstap__file_room(dnstap_file_t *f, size_t len) {
    if (len > f->cap - f->used) {
        dnstap_result_t r = dnstap__file_drain(f);
        if (r != DNSTAP_OK) return r;
        if (len > f->cap) return DNSTAP_ERR_NOSPACE;
    }
    return DNSTAP_OK;
}

static dnstap_result_t dnstap__file_append(dnstap_file_t *f, const uint8_t *payload, size_t len, bool framed) {
    size_t total = framed ? len : 4 + len, payload_len = framed ? len - 4 : len;
    uint32_t max = f->enc ? f->enc->payload_max : DNSTAP_PAYLOAD_MAX_DEFAULT;
    dnstap_result_t r;
    if (f->state != DNSTAP__F_OPEN || payload == NULL || payload_len == 0 || payload_len > max ||
        (framed && (len < 5 || dnstap__get_be32(payload) != len - 4)))
        return DNSTAP_ERR_INVALID;
    if (f->err != DNSTAP_OK) return f->err;
    r = dnstap__file_room(f, total);
    if (r != DNSTAP_OK) return r;
    if (!framed) { dnstap__put_be32(f->buf + f->used, (uint32_t)len); f->used += 4; }
    DNSTAP_MEMCPY(f->buf + f->used, payload, len);
    f->used += len;
    return DNSTAP_OK;
}

DNSTAP_API dnstap_result_t dnstap_file_write_frame(dnstap_file_t *f, const uint8_t *frame, size_t len) {
    return f ? dnstap__file_append(f, frame, len, true) : DNSTAP_ERR_INVALID;
}

DNSTAP_API dnstap_result_t dnstap_file_write_payload(dnstap_file_t *f, const uint8_t *payload, size_t len) {
    return f ? dnstap__file_append(f, payload, len, false) : DNSTAP_ERR_INVALID;
}

DNSTAP_API dnstap_result_t dnstap_file_flush(dnstap_file_t *f) {
    if (f == NULL || f->state != DNSTAP__F_OPEN) return DNSTAP_ERR_INVALID;
    return dnstap__file_drain(f);
}

DNSTAP_API dnstap_result_t dnstap_file_close(dnstap_file_t *f) {
    dnstap_result_t r;
    size_t n;
    if (f == NULL || f->state != DNSTAP__F_OPEN) return DNSTAP_ERR_INVALID;
    r = f->err;
    if (r == DNSTAP_OK && f->cap - f->used < 12) r = dnstap__file_drain(f);
    if (r == DNSTAP_OK) r = dnstap_control_frame(f->buf + f->used, f->cap - f->used, DNSTAP_CONTROL_STOP, NULL, 0, &n);
    if (r == DNSTAP_OK) { f->used += n; r = dnstap__file_drain(f); }
    f->state = DNSTAP__F_CLOSED;
#if DNSTAP__POSIX
    if (f->fd >= 0) {
        if (fsync(f->fd) != 0 && errno != EINVAL && r == DNSTAP_OK) r = DNSTAP_ERR_IO;
        if (close(f->fd) != 0 && r == DNSTAP_OK) r = DNSTAP_ERR_IO;
        f->fd = -1;
    }
#endif
    return r;
}

#if DNSTAP__POSIX
DNSTAP_API int dnstap_fd_write(void *ctx, const uint8_t *buf, size_t len) {
    int fd = *(const int *)ctx;
    ssize_t n;
    if (len > 0x40000000u) len = 0x40000000u;
    do n = write(fd, buf, len); while (n < 0 && errno == EINTR);
    if (n < 0) return (errno == EAGAIN || errno == EWOULDBLOCK) ? DNSTAP_ERR_AGAIN : DNSTAP_ERR_IO;
    return (int)n;
}

DNSTAP_API dnstap_result_t dnstap_file_open(dnstap_file_t *f, const dnstap_encoder_t *enc,
                                            uint8_t *buf, size_t cap, const char *path) {
    dnstap_result_t r;
    int fd;
    if (f == NULL || path == NULL) return DNSTAP_ERR_INVALID;
    r = dnstap_file_init(f, enc, buf, cap, dnstap_fd_write, NULL);
    if (r != DNSTAP_OK) return r;
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) { f->state = DNSTAP__F_CLOSED; return DNSTAP_ERR_IO; }
    f->fd = fd;
    f->ctx = &f->fd;
    return DNSTAP_OK;
}
#else
DNSTAP_API int dnstap_fd_write(void *ctx, const uint8_t *buf, size_t len) {
    (void)ctx; (void)buf; (void)len;
    return DNSTAP_ERR_UNSUPPORTED;
}
DNSTAP_API dnstap_result_t dnstap_file_open(dnstap_file_t *f, const dnstap_encoder_t *enc,
                                            uint8_t *buf, size_t cap, const char *path) {
    (void)f; (void)enc; (void)buf; (void)cap; (void)path;
    return DNSTAP_ERR_UNSUPPORTED;
}
#endif

/* >>queue ---------------------------------------------------------------
   One ring per producer, holding finished frames exactly as they go on the
   wire, so the writer sends straight from it. Single producer, single
   consumer: the producer owns head and wrap, the consumer owns tail. Frames
   never straddle the end: a frame that does not fit there starts at 0 and
   wrap marks where the data before it ends. Each index carries a lap bit
   that the producer flips when it wraps and the consumer when it follows:
   head == tail is empty, equal offsets on different laps are full. The
   consumer may lag at the wrap with nothing left before it; the producer
   then counts the ring from 0, so an empty ring takes a frame of any size
   up to cap wherever its indices stand. */

#if defined(__GNUC__) || defined(__clang__)
#define DNSTAP__LOAD_ACQ(p)     __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define DNSTAP__STORE_REL(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define DNSTAP__LOAD_RLX(p)     __atomic_load_n((p), __ATOMIC_RELAXED)
#define DNSTAP__STORE_RLX(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#else /* no atomics known: one thread only */
#define DNSTAP__LOAD_ACQ(p)     (*(p))
#define DNSTAP__STORE_REL(p, v) (*(p) = (v))
#define DNSTAP__LOAD_RLX(p)     (*(p))
#define DNSTAP__STORE_RLX(p, v) (*(p) = (v))
#endif
/* 64-bit counters: atomic where that is free, else plain (a stats reader on
   another thread may then see a torn value; the counts themselves stay exact). */
#if (defined(__GNUC__) || defined(__clang__)) && defined(__GCC_ATOMIC_LLONG_LOCK_FREE) && \
    __GCC_ATOMIC_LLONG_LOCK_FREE == 2
#define DNSTAP__GET64(p)  __atomic_load_n((p), __ATOMIC_RELAXED)
#define DNSTAP__INC64(p)  __atomic_store_n((p), __atomic_load_n((p), __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED)
#else
#define DNSTAP__GET64(p)  (*(p))
#define DNSTAP__INC64(p)  ((*(p))++)
#endif

#define DNSTAP__LAP 0x80000000u
#define DNSTAP__OFF(i) ((i) & ~DNSTAP__LAP)
#define DNSTAP__QUEUE_CAP_MAX 0x7FFFFFF0u   /* offsets and the lap bit share 32 bits */

static uint8_t *dnstap__q_reserve(dnstap_queue_t *q, uint32_t need, uint32_t *new_head) {
    uint32_t h = q->head, t = DNSTAP__LOAD_ACQ(&q->tail);
    uint32_t ho = DNSTAP__OFF(h), to = DNSTAP__OFF(t);
    if ((h ^ t) & DNSTAP__LAP) {
        /* wrapped: free space lies between head and tail, unless the
           consumer has taken all before the wrap and not yet followed */
        if (to != q->wrap) {
            if (to - ho >= need) { *new_head = h + need; return q->buf + ho; }
            return NULL;
        }
        to = 0;
    }
    if (q->cap - ho >= need) { *new_head = h + need; return q->buf + ho; }
    if (need <= to || h == t) {    /* start the next lap at 0 */
        DNSTAP__STORE_RLX(&q->wrap, ho);
        *new_head = ((h ^ DNSTAP__LAP) & DNSTAP__LAP) | need;
        return q->buf;
    }
    return NULL;
}

/* The consumer's next contiguous run of whole frames: [*start, *start + n),
   and *after, the bytes at the ring's start past the wrap that follow it:
   both from one look at head, which a producer may move meanwhile. */
static uint32_t dnstap__q_runs(dnstap_queue_t *q, uint32_t *start, uint32_t *after) {
    uint32_t h = DNSTAP__LOAD_ACQ(&q->head), t = q->tail;
    *after = 0;
    if ((h ^ t) & DNSTAP__LAP) {
        uint32_t wrap = DNSTAP__LOAD_RLX(&q->wrap);
        if (DNSTAP__OFF(t) != wrap) {
            *start = DNSTAP__OFF(t);
            *after = DNSTAP__OFF(h);
            return wrap - *start;
        }
        t = h & DNSTAP__LAP;   /* follow the producer to the next lap */
        DNSTAP__STORE_REL(&q->tail, t);
    }
    *start = DNSTAP__OFF(t);
    return DNSTAP__OFF(h) - *start;
}

static uint32_t dnstap__q_run(dnstap_queue_t *q, uint32_t *start) {
    uint32_t after;
    return dnstap__q_runs(q, start, &after);
}

static uint32_t dnstap__frame_len_at(const uint8_t *p) { return 4 + dnstap__get_be32(p); }

/* Consumer: release the frame at the tail. */
static void dnstap__q_pop(dnstap_queue_t *q, uint32_t len) {
    DNSTAP__STORE_REL(&q->tail, q->tail + len);
}

/* Frames and bytes queued now: a read-only walk from tail to head. */
static uint64_t dnstap__q_count(const dnstap_queue_t *q, uint64_t *bytes) {
    uint64_t frames = 0;
    uint32_t t = q->tail, h = DNSTAP__LOAD_ACQ(&q->head);
    while (t != h) {
        uint32_t l;
        if (((h ^ t) & DNSTAP__LAP) && DNSTAP__OFF(t) == DNSTAP__LOAD_RLX(&q->wrap)) { t = h & DNSTAP__LAP; continue; }
        l = dnstap__frame_len_at(q->buf + DNSTAP__OFF(t));
        t += l;
        frames++;
        *bytes += l;
    }
    return frames;
}

/* Consumer: bytes queued in q now, from its indices. */
static uint32_t dnstap__q_bytes(const dnstap_queue_t *q) {
    uint32_t h = DNSTAP__LOAD_ACQ(&q->head), t = q->tail;
    if ((h ^ t) & DNSTAP__LAP) return DNSTAP__LOAD_RLX(&q->wrap) - DNSTAP__OFF(t) + DNSTAP__OFF(h);
    return DNSTAP__OFF(h) - DNSTAP__OFF(t);
}

/* Consumer: drop every frame queued now; returns how many. */
static uint64_t dnstap__q_discard(dnstap_queue_t *q) {
    uint64_t frames = 0;
    uint32_t start, n;
    while ((n = dnstap__q_run(q, &start)) != 0) {
        uint32_t off = 0;
        while (off < n) { off += dnstap__frame_len_at(q->buf + start + off); frames++; }
        dnstap__q_pop(q, n);
    }
    return frames;
}

/* >>tap -----------------------------------------------------------------
   Producer side: dnstap_log*(). */

enum { DNSTAP__S_IDLE = 0, DNSTAP__S_CONNECTING, DNSTAP__S_CTL, DNSTAP__S_ACCEPT,
       DNSTAP__S_RUNNING, DNSTAP__S_FINISH, DNSTAP__S_CLOSED };
enum { DNSTAP__STOP_SHUTDOWN = 1, DNSTAP__STOP_NOW = 2 };   /* writer thread's thread_stop */

/* dnstap__q_claim() when there is no room right after head. */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((noinline))
#endif
static uint8_t *dnstap__q_claim_rest(dnstap_queue_t *q, uint32_t need, uint32_t *new_head, dnstap_result_t *r) {
    uint8_t *dst;
    if (need > q->cap) { DNSTAP__INC64(&q->dropped_too_big); *r = DNSTAP_ERR_TOO_LONG; return NULL; }
    dst = dnstap__q_reserve(q, need, new_head);
    if (dst == NULL) { DNSTAP__INC64(&q->dropped_full); *r = DNSTAP_ERR_FULL; }
    return dst;
}

/* Reserve need bytes on q for a frame, counting a drop when they are not
   there. First the common case: room right after head, up to the end on
   the same lap, up to the tail once wrapped (head may be past a tail
   that lags at the wrap: dnstap__q_reserve() then decides). */
DNSTAP__INLINE uint8_t *dnstap__q_claim(dnstap_queue_t *q, uint32_t need, uint32_t *new_head, dnstap_result_t *r) {
    uint32_t h = q->head, t = DNSTAP__LOAD_ACQ(&q->tail), ho = DNSTAP__OFF(h);
    uint32_t end = (h ^ t) & DNSTAP__LAP ? DNSTAP__OFF(t) : q->cap;
    if (end >= ho && end - ho >= need) {
        *new_head = h + need;
        return q->buf + ho;
    }
    return dnstap__q_claim_rest(q, need, new_head, r);
}

/* Encode m straight into q and publish it: its wire messages unless wire
   is false, with extra as its extra field. */
DNSTAP__INLINE dnstap_result_t dnstap__enqueue(dnstap_t *tap, dnstap_queue_t *q, const dnstap_msg_t *m, bool wire,
                                               const dnstap_bytes_t *extra, uint8_t **made) {
    dnstap__sizes_t sz;
    uint32_t nh;
    uint8_t *dst;
    dnstap_result_t r = dnstap__measure(&tap->enc, m, wire, extra, &sz);
    if (DNSTAP__UNLIKELY(r != DNSTAP_OK)) {
        if (r == DNSTAP_ERR_TOO_LONG) DNSTAP__INC64(&q->dropped_too_big);
        else DNSTAP__INC64(&q->dropped_invalid);
        return r;
    }
    dst = dnstap__q_claim(q, 4 + (uint32_t)sz.payload, &nh, &r);
    if (dst == NULL) return r;
    dnstap__put_be32(dst, (uint32_t)sz.payload);
    dnstap__emit(&tap->enc, m, wire, extra, &sz, dst + 4);
    DNSTAP__STORE_REL(&q->head, nh);   /* publish: the writer may send it now */
    *made = dst;
    return DNSTAP_OK;
}

/* A tap that is not `full` leaves the wire messages out; one with extra_fn
   has it write the extra into the DNSTAP_EXTRA_MAX bytes set aside after
   the queue's ring (dnstap_init()), so nothing of the message is copied
   onto the stack. Out of line: the common path keeps its own code. */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((noinline))
#endif
static dnstap_result_t dnstap__enqueue_adjusted(dnstap_t *tap, dnstap_queue_t *q, const dnstap_msg_t *msg,
                                                uint8_t **made) {
    const dnstap_bytes_t *extra = &msg->extra;
    dnstap_bytes_t made_extra;
    if (tap->desc.extra_fn && !msg->extra.data) {
        uint8_t *buf = q->buf + q->cap;
        size_t n = tap->desc.extra_fn(tap->desc.extra_ctx, msg, buf, DNSTAP_EXTRA_MAX);
        if (n <= DNSTAP_EXTRA_MAX) { made_extra.data = buf; made_extra.len = n; extra = &made_extra; }
    }
    return dnstap__enqueue(tap, q, msg, tap->desc.full, extra, made);
}

/* The checks of every dnstap_log*() call: the queue to log msg (a message,
   a frame or a payload) on, or NULL and why (a drop counted where there is
   a queue to count it on). */
DNSTAP__INLINE dnstap_queue_t *dnstap__admit(dnstap_t *tap, unsigned qi, const void *msg, dnstap_result_t *r) {
    dnstap_queue_t *q;
    if (tap == NULL || msg == NULL || qi >= tap->desc.queues) { *r = DNSTAP_ERR_INVALID; return NULL; }
    q = &tap->q[qi];
    DNSTAP__INC64(&q->logged);
    if (DNSTAP__UNLIKELY(DNSTAP__LOAD_RLX(&tap->shutting_down) ||
                         (tap->desc.while_disconnected == DNSTAP_DROP_WHILE_DISCONNECTED &&
                          !DNSTAP__LOAD_ACQ(&tap->accepting)))) {
        DNSTAP__INC64(&q->dropped_disconnected);
        *r = DNSTAP_ERR_DISCONNECTED;
        return NULL;
    }
    return q;
}

/* Queue msg on tap's queue qi, encoded straight into the ring. *made
   receives where the frame went. */
DNSTAP__INLINE dnstap_result_t dnstap__log_msg(dnstap_t *tap, unsigned qi, const dnstap_msg_t *msg, uint8_t **made) {
    dnstap_result_t r;
    dnstap_queue_t *q = dnstap__admit(tap, qi, msg, &r);
    if (q == NULL) return r;
    if (DNSTAP__UNLIKELY(!tap->desc.full || tap->desc.extra_fn)) return dnstap__enqueue_adjusted(tap, q, msg, made);
    return dnstap__enqueue(tap, q, msg, true, &msg->extra, made);
}

/* dnstap_log_all(): queue msg on tap's queue qi, or copy the frame made
   for a tap with the same encoding. */
static dnstap_result_t dnstap__log(dnstap_t *tap, unsigned qi, const dnstap_msg_t *msg,
                                   const uint8_t *frame, uint8_t **made) {
    dnstap_queue_t *q;
    uint32_t len, nh;
    dnstap_result_t r;
    uint8_t *dst;
    *made = NULL;
    if (frame == NULL) return dnstap__log_msg(tap, qi, msg, made);
    q = dnstap__admit(tap, qi, frame, &r);
    if (q == NULL) return r;
    len = dnstap__frame_len_at(frame);
    dst = dnstap__q_claim(q, len, &nh, &r);
    if (dst == NULL) return r;
    DNSTAP_MEMCPY(dst, frame, len);
    DNSTAP__STORE_REL(&q->head, nh);
    *made = dst;
    return DNSTAP_OK;
}

DNSTAP_API dnstap_result_t dnstap_log_queue(dnstap_t *tap, unsigned q, const dnstap_msg_t *msg) {
    uint8_t *made;
    return dnstap__log_msg(tap, q, msg, &made);
}

DNSTAP_API dnstap_result_t dnstap_log(dnstap_t *tap, const dnstap_msg_t *msg) {
    return dnstap_log_queue(tap, 0, msg);
}

DNSTAP_API dnstap_result_t dnstap_log_frame(dnstap_t *tap, unsigned qi, const uint8_t *frame, size_t len) {
    dnstap_queue_t *q;
    uint8_t *made;
    if (tap == NULL || frame == NULL || qi >= tap->desc.queues) return DNSTAP_ERR_INVALID;
    q = &tap->q[qi];
    if (len < 5 || dnstap__get_be32(frame) != len - 4) {   /* length 0 would be a control frame */
        DNSTAP__INC64(&q->logged);
        DNSTAP__INC64(&q->dropped_invalid);
        return DNSTAP_ERR_INVALID;
    }
    if (len - 4 > tap->enc.payload_max) {
        DNSTAP__INC64(&q->logged);
        DNSTAP__INC64(&q->dropped_too_big);
        return DNSTAP_ERR_TOO_LONG;
    }
    return dnstap__log(tap, qi, NULL, frame, &made);
}

DNSTAP_API dnstap_result_t dnstap_log_payload(dnstap_t *tap, unsigned qi, const uint8_t *payload, size_t len) {
    dnstap_queue_t *q;
    dnstap_result_t r;
    uint32_t nh;
    uint8_t *dst;
    q = dnstap__admit(tap, qi, len ? payload : NULL, &r);
    if (q == NULL) return r;
    if (len > tap->enc.payload_max) { DNSTAP__INC64(&q->dropped_too_big); return DNSTAP_ERR_TOO_LONG; }
    dst = dnstap__q_claim(q, 4 + (uint32_t)len, &nh, &r);
    if (dst == NULL) return r;
    dnstap__put_be32(dst, (uint32_t)len);
    DNSTAP_MEMCPY(dst + 4, payload, len);
    DNSTAP__STORE_REL(&q->head, nh);
    return DNSTAP_OK;
}

/* Taps whose frames for the same message are the same bytes. */
static bool dnstap__same_encoding(const dnstap_t *a, const dnstap_t *b) {
    return a->desc.full == b->desc.full && !a->desc.extra_fn && !b->desc.extra_fn &&
           a->enc.payload_max == b->enc.payload_max && a->enc.seg_off[3] == b->enc.seg_off[3] &&
           dnstap__equal(a->enc.prefix, b->enc.prefix, a->enc.seg_off[3]);
}

DNSTAP_API dnstap_result_t dnstap_log_all(dnstap_t *const *taps, size_t n, unsigned q,
                                          const dnstap_msg_t *msg) {
    dnstap_result_t first = DNSTAP_OK;
    size_t i, j;
    /* the frames made are kept in queue q, which only this thread fills:
       producers of other queues log to the same taps meanwhile */
    if ((taps == NULL && n) || q >= DNSTAP_MAX_QUEUES) return DNSTAP_ERR_INVALID;
    for (i = 0; i < n; i++) {
        dnstap_result_t r;
        uint8_t *made = NULL;
        const uint8_t *frame = NULL;
        for (j = 0; j < i && frame == NULL; j++) {
            if (taps[j] && taps[j]->q[q].made && taps[i] && dnstap__same_encoding(taps[i], taps[j]))
                frame = taps[j]->q[q].made;
        }
        r = dnstap__log(taps[i], q, msg, frame, &made);
        if (taps[i]) taps[i]->q[q].made = made;
        if (r != DNSTAP_OK && first == DNSTAP_OK) first = r;
    }
    for (i = 0; i < n; i++) if (taps[i]) taps[i]->q[q].made = NULL;
    return first;
}

/* >>connection ----------------------------------------------------------
   The Frame Streams writer, driven by dnstap_poll(): connect, READY ->
   ACCEPT -> START (or START alone when unidirectional), data, STOP ->
   FINISH, close; on any failure close and reconnect after a backoff. */

/* Log lines, built without printf (freestanding), cut at
   DNSTAP_LOG_LINE_MAX - 1 characters. The buffer is on dnstap_poll()'s
   stack: firmware, whose endpoint is "(custom transport)", needs less. */
#ifndef DNSTAP_LOG_LINE_MAX
#if DNSTAP__POSIX
#define DNSTAP_LOG_LINE_MAX 320
#else
#define DNSTAP_LOG_LINE_MAX 112
#endif
#endif
#ifdef DNSTAP_NO_LOG_TEXT
#ifdef DNSTAP_WITH_MBEDTLS
#error "DNSTAP_NO_LOG_TEXT leaves out the log lines that DNSTAP_WITH_MBEDTLS reports its failures with"
#endif
/* No lines: the logger is never called, and the text is not linked. */
typedef struct dnstap__line_t { size_t n; } dnstap__line_t;
static inline dnstap__line_t *dnstap__add(dnstap__line_t *l, const char *s) { (void)s; return l; }
static inline dnstap__line_t *dnstap__addu(dnstap__line_t *l, uint64_t v) { (void)v; return l; }
static inline void dnstap__say(dnstap_t *tap, dnstap_log_level_t level, const dnstap__line_t *l) {
    (void)tap; (void)level; (void)l;
}
#else
typedef struct dnstap__line_t { char s[DNSTAP_LOG_LINE_MAX]; size_t n; } dnstap__line_t;

static dnstap__line_t *dnstap__add(dnstap__line_t *l, const char *s) {
    while (s && *s && l->n < sizeof l->s - 1) l->s[l->n++] = *s++;
    l->s[l->n] = 0;
    return l;
}

/* p / 10 for a power of ten p, by shifts and adds (exact for these). */
static uint64_t dnstap__div10(uint64_t p) {
    uint64_t q = 1;
    while (q * 10 < p) q *= 10;
    return q;
}

/* Decimal by subtracting powers of ten: no division at all, so 32-bit
   firmware links no 64-bit division helper for a log line. */
static dnstap__line_t *dnstap__addu(dnstap__line_t *l, uint64_t v) {
    uint64_t p = 10000000000000000000u;
    bool started = false;
    while (p) {
        char digit = '0';
        while (v >= p) { v -= p; digit++; }
        if (digit != '0' || started || p == 1) {
            started = true;
            if (l->n < sizeof l->s - 1) l->s[l->n++] = digit;
        }
        p = p == 1 ? 0 : dnstap__div10(p);
    }
    l->s[l->n] = 0;
    return l;
}

static void dnstap__say(dnstap_t *tap, dnstap_log_level_t level, const dnstap__line_t *l) {
    if (tap->desc.logger.func) tap->desc.logger.func(tap->desc.logger.ctx, level, l->s);
}
#endif   /* DNSTAP_NO_LOG_TEXT */

static const char *dnstap__endpoint(const dnstap_t *tap) {
    return tap->desc.endpoint ? tap->desc.endpoint : "(custom transport)";
}

/* All drops so far: counters only. (dnstap_stats() also walks the queues to
   count what waits there; dnstap_io() asks this on every call.) */
static uint64_t dnstap__dropped(const dnstap_t *tap) {
    uint64_t d = tap->dropped_disconnected + tap->dropped_write_error;
    unsigned i;
    for (i = 0; i < tap->desc.queues; i++) {
        const dnstap_queue_t *q = &tap->q[i];
        d += DNSTAP__GET64(&q->dropped_full) + DNSTAP__GET64(&q->dropped_too_big) +
             DNSTAP__GET64(&q->dropped_invalid) + DNSTAP__GET64(&q->dropped_disconnected);
    }
    return d;
}

static void dnstap__discard_queued(dnstap_t *tap) {
    unsigned i;
    for (i = 0; i < tap->desc.queues; i++) tap->dropped_disconnected += dnstap__q_discard(&tap->q[i]);
}

#if DNSTAP__POSIX && !defined(DNSTAP_NO_SOCKETS) && !defined(DNSTAP_NO_FILE_TRANSPORT)
#define DNSTAP__FILE_ENDPOINT 1
static void dnstap__file_endpoint_failed(dnstap_t *tap, int state);
#else
#define DNSTAP__FILE_ENDPOINT 0
#endif

static void dnstap__close_transport(dnstap_t *tap) {
    if (tap->open && tap->tr.close) tap->tr.close(tap->tr.ctx);
    tap->open = 0;
    DNSTAP__STORE_REL(&tap->accepting, 0);
    tap->tx_off = 0;
    tap->again_buf = NULL;
    tap->again_len = 0;
    tap->data_blocked = false;
    tap->ctl_len = tap->ctl_off = 0;
}

static void dnstap__close_final(dnstap_t *tap) {
    dnstap__close_transport(tap);
    DNSTAP__STORE_REL(&tap->shutting_down, 1);
    dnstap__discard_queued(tap);
    tap->state = DNSTAP__S_CLOSED;
}

/* ": cause" of a failure: the result's name, then the system's text for
   errno when a stock transport's system call failed (dnstap_poll() clears
   errno first, so it is not a stale one). */
static void dnstap__add_cause(const dnstap_t *tap, dnstap__line_t *l, dnstap_result_t why, int err) {
#ifdef DNSTAP_NO_LOG_TEXT
    (void)tap; (void)l; (void)why; (void)err;
    return;
#endif
    dnstap__add(dnstap__add(dnstap__add(dnstap__add(l, "dnstap: "), dnstap__endpoint(tap)), ": "),
                dnstap_result_str(why));
#if DNSTAP__POSIX
    if ((why == DNSTAP_ERR_CONNECT || why == DNSTAP_ERR_IO || why == DNSTAP_ERR_CLOSED) &&
        tap->desc.transport.write == NULL && err != 0 && err != EAGAIN && err != EWOULDBLOCK &&
        err != EINPROGRESS && err != EINTR)
        dnstap__add(dnstap__add(dnstap__add(l, " ("), strerror(err)), ")");
#else
    (void)err;
#endif
}

static dnstap_result_t dnstap__fail(dnstap_t *tap, dnstap_result_t why, uint64_t now) {
    uint32_t delay, jitter;
    int was = tap->state;
#if DNSTAP__POSIX
    int err = errno;
#else
    int err = 0;
#endif
    if (why == DNSTAP_ERR_AGAIN || why == DNSTAP_OK) why = DNSTAP_ERR_IO;
    tap->last_error = why;
    if (why == DNSTAP_ERR_TIMEOUT) tap->timeouts++;
    if (was == DNSTAP__S_ACCEPT || (was == DNSTAP__S_CTL && tap->ctl_next != DNSTAP__S_FINISH &&
                                    tap->ctl_next != DNSTAP__S_CLOSED && tap->ctl_next != DNSTAP__S_RUNNING) ||
        why == DNSTAP_ERR_HANDSHAKE || why == DNSTAP_ERR_TLS)
        tap->handshake_failures++;
#if DNSTAP__FILE_ENDPOINT
    dnstap__file_endpoint_failed(tap, was);
#endif
    if (tap->desc.while_disconnected == DNSTAP_DROP_WHILE_DISCONNECTED && was == DNSTAP__S_RUNNING &&
        tap->tx_off > 0) {
        /* the frame cut by the failure is dropped under the DROP policy */
        dnstap_queue_t *q = &tap->q[tap->tx_queue];
        uint32_t start;
        if (dnstap__q_run(q, &start)) {
            dnstap__q_pop(q, dnstap__frame_len_at(q->buf + start));
            tap->dropped_write_error++;
        }
    }
    dnstap__close_transport(tap);
    if (tap->shutting_down || !tap->reconnect) {
        dnstap__line_t l;
        l.n = 0;
        dnstap__add_cause(tap, &l, why, err);
        dnstap__say(tap, DNSTAP_LOG_ERROR, &l);
        dnstap__close_final(tap);
        return why;
    }
    tap->reconnects++;
    if (tap->desc.while_disconnected == DNSTAP_DROP_WHILE_DISCONNECTED) dnstap__discard_queued(tap);
    /* capped exponential backoff with +-25 % jitter; it starts over only
       after a connection that lasted, so a receiver that accepts and drops
       every connection at once is not hammered */
    if (was == DNSTAP__S_RUNNING && now >= tap->connected_ms + tap->desc.backoff_reset_ms)
        tap->backoff_ms = tap->desc.backoff_min_ms;
    tap->rng = tap->rng * 1103515245u + 12345u;
    jitter = tap->backoff_ms / 2 ? (tap->rng >> 8) % (tap->backoff_ms / 2) : 0;
    delay = tap->backoff_ms - tap->backoff_ms / 4 + jitter;
    tap->next_connect_ms = now + delay;
    tap->backoff_ms = tap->backoff_ms > tap->desc.backoff_max_ms / 2 ? tap->desc.backoff_max_ms : tap->backoff_ms * 2;
    tap->state = DNSTAP__S_IDLE;
    {
        dnstap__line_t l;
        l.n = 0;
        dnstap__add_cause(tap, &l, why, err);
        dnstap__add(dnstap__addu(dnstap__add(&l, "; reconnecting in "), delay), " ms");
        dnstap__say(tap, DNSTAP_LOG_WARN, &l);
    }
    return why;
}

typedef char dnstap__ctl_fits[20 + sizeof DNSTAP_CONTENT_TYPE - 1 <= sizeof(((dnstap_t *)0)->ctl) ? 1 : -1];

/* READY, START (with our content type) or STOP: what dnstap_control_frame()
   writes, from constants (firmware links neither it nor strlen()). */
static void dnstap__start_ctl(dnstap_t *tap, dnstap_control_t type, int next) {
    static const char ct[] = DNSTAP_CONTENT_TYPE;
    const uint32_t body = type == DNSTAP_CONTROL_STOP ? 4u : 12u + (uint32_t)(sizeof ct - 1);
    dnstap__put_be32(tap->ctl, 0);   /* escape */
    dnstap__put_be32(tap->ctl + 4, body);
    dnstap__put_be32(tap->ctl + 8, (uint32_t)type);
    if (type != DNSTAP_CONTROL_STOP) {
        dnstap__put_be32(tap->ctl + 12, 1);   /* CONTENT_TYPE */
        dnstap__put_be32(tap->ctl + 16, (uint32_t)(sizeof ct - 1));
        DNSTAP_MEMCPY(tap->ctl + 20, ct, sizeof ct - 1);
    }
    tap->ctl_len = 8 + body;
    tap->ctl_off = 0;
    tap->ctl_next = next;
    tap->state = DNSTAP__S_CTL;
}

/* One write under rule 3 of the contract. */
static int dnstap__xwrite(dnstap_t *tap, const uint8_t *buf, size_t len) {
    int n;
    if (tap->again_buf) { buf = tap->again_buf; len = tap->again_len; }
    if (len > 0x40000000u) len = 0x40000000u;
    n = tap->tr.write(tap->tr.ctx, buf, len);
    if (n == DNSTAP_ERR_AGAIN || n == 0) {
        tap->again_buf = buf;
        tap->again_len = len;
        return DNSTAP_ERR_AGAIN;
    }
    tap->again_buf = NULL;
    tap->again_len = 0;
    if (n < 0) return n < DNSTAP__ERR_LOWEST ? DNSTAP_ERR_IO : n;
    if ((size_t)n > len) return DNSTAP_ERR_IO;
    return n;
}

/* writev() under rule 9 of the contract. */
static int dnstap__xwritev(dnstap_t *tap, const dnstap_iovec_t *iov, int k) {
    size_t total = 0;
    int i, n;
    for (i = 0; i < k; i++) total += iov[i].len;
    n = tap->tr.writev(tap->tr.ctx, iov, k);
    if (n == DNSTAP_ERR_AGAIN || n == 0) return DNSTAP_ERR_AGAIN;
    if (n < 0) return n < DNSTAP__ERR_LOWEST ? DNSTAP_ERR_IO : n;
    if ((size_t)n > total) return DNSTAP_ERR_IO;
    return n;
}

#define DNSTAP__IOV_MAX (2 * DNSTAP_MAX_QUEUES)
#ifndef DNSTAP__WRITE_MAX   /* set lower only by tests/, to reach the cap with small queues */
#define DNSTAP__WRITE_MAX 0x40000000u   /* bytes per write call: fits an int */
#endif

/* Tests only: where the consumer may be preempted while a producer logs
   (tests/test_tap.c runs a producer there). */
#ifndef DNSTAP__TEST_CONSUMER_PAUSE
#define DNSTAP__TEST_CONSUMER_PAUSE() ((void)0)
#endif

/* What is queued now, in sending order: the queue being sent from (past
   the tx_off bytes already written), then the others in turn; each as its
   run before the ring's wrap and its run after it. iq[] gets each buffer's
   queue. Returns how many buffers. */
static int dnstap__gather(dnstap_t *tap, dnstap_iovec_t *iov, unsigned *iq) {
    int k = 0;
    unsigned i;
    size_t total = 0;
    for (i = 0; i < tap->desc.queues && total < DNSTAP__WRITE_MAX; i++) {
        unsigned qi = (tap->tx_queue + i) % tap->desc.queues;
        dnstap_queue_t *q = &tap->q[qi];
        uint32_t start, after, run = dnstap__q_runs(q, &start, &after), skip = i == 0 ? tap->tx_off : 0;
        DNSTAP__TEST_CONSUMER_PAUSE();
        if (run == 0) continue;
        iov[k].base = q->buf + start + skip;
        iov[k].len = run - skip;
        iq[k++] = qi;
        if (after) {   /* more after the wrap */
            iov[k].base = q->buf;
            iov[k].len = after;
            iq[k++] = qi;
        }
        total += run - skip + after;
    }
    for (i = 0, total = 0; i < (unsigned)k; i++) {   /* at most DNSTAP__WRITE_MAX in all */
        if (iov[i].len > DNSTAP__WRITE_MAX - total) iov[i].len = DNSTAP__WRITE_MAX - total;
        total += iov[i].len;
        if (total == DNSTAP__WRITE_MAX) return (int)i + 1;
    }
    return k;
}

/* n bytes of the gathered buffers were written: release the frames now
   written whole, and move on to the next queue after a queue's last. */
static void dnstap__written(dnstap_t *tap, const dnstap_iovec_t *iov, const unsigned *iq, int k, size_t n) {
    int j;
    for (j = 0; j < k && n > 0; j++) {
        dnstap_queue_t *q = &tap->q[iq[j]];
        uint32_t start, take = n < iov[j].len ? (uint32_t)n : (uint32_t)iov[j].len;
        uint32_t t0, t, off;
        uint64_t frames = 0;
        (void)dnstap__q_run(q, &start);   /* past the wrap, for the buffer after it */
        t0 = t = q->tail;
        tap->tx_queue = iq[j];
        off = tap->tx_off + take;
        n -= take;
        /* in locals, the tail stored once: a frame never spans the wrap */
        while (off > 0) {
            uint32_t l = dnstap__frame_len_at(q->buf + DNSTAP__OFF(t));
            if (off < l) break;
            t += l;
            off -= l;
            frames++;
        }
        tap->tx_off = off;
        if (frames) {
            DNSTAP__STORE_REL(&q->tail, t);
            tap->sent += frames;
            tap->sent_bytes += t - t0;
        }
        /* fair turns: the next queue once this one's buffers are written,
           unless a write cut short (DNSTAP__WRITE_MAX) left a frame half sent */
        if (take == iov[j].len && off == 0 && (j + 1 == k || iq[j + 1] != iq[j]))
            tap->tx_queue = (iq[j] + 1) % tap->desc.queues;
    }
}

/* Send queued frames until all are sent or the transport would block:
   with writev(), everything queued in one call; else one run per write(). */
static dnstap_result_t dnstap__send_data(dnstap_t *tap, uint64_t now, bool *blocked) {
    dnstap_iovec_t iov[DNSTAP__IOV_MAX];
    unsigned iq[DNSTAP__IOV_MAX];
    int k, n;
    *blocked = false;
    while ((k = dnstap__gather(tap, iov, iq)) > 0) {
        tap->tx_queue = iq[0];   /* where a write that would block resumes (rule 3) */
        if (tap->tr.writev) n = dnstap__xwritev(tap, iov, k);
        else n = dnstap__xwrite(tap, iov[0].base, iov[0].len);   /* rule 3: after AGAIN, its own buf */
        tap->data_blocked = n == DNSTAP_ERR_AGAIN;
        if (n == DNSTAP_ERR_AGAIN) { *blocked = true; return DNSTAP_OK; }
        if (n < 0) return (dnstap_result_t)n;
        tap->writes++;
        tap->last_progress_ms = now;
        dnstap__written(tap, iov, iq, tap->tr.writev ? k : 1, (size_t)n);
    }
    return DNSTAP_OK;
}

#ifdef DNSTAP_UNIDIRECTIONAL_ONLY
#define DNSTAP__BIDIRECTIONAL 0   /* no READY/ACCEPT/FINISH: the reader is not linked */
#else
#define DNSTAP__BIDIRECTIONAL 1
#endif

/* Read what the receiver sent and feed it to the reader; *frame set when a
   control frame is complete. */
static dnstap_result_t dnstap__read_control(dnstap_t *tap, dnstap_frame_t *frame, bool *got) {
    int n;
    size_t used = 0;
    dnstap_result_t r;
    *got = false;
    if (tap->tr.read == NULL) return DNSTAP_ERR_UNSUPPORTED;
    /* small reads: the receiver sends nothing past ACCEPT until FINISH. The
       frame may point into rx, so rx lives in the tap, not on this stack. */
    n = tap->tr.read(tap->tr.ctx, tap->rx, sizeof tap->rx);
    if (n == DNSTAP_ERR_AGAIN) return DNSTAP_ERR_AGAIN;
    if (n == 0) return DNSTAP_ERR_CLOSED;
    if (n > (int)sizeof tap->rx) return DNSTAP_ERR_IO;   /* a transport that over-reports */
    if (n < 0) return n < DNSTAP__ERR_LOWEST ? DNSTAP_ERR_IO : (dnstap_result_t)n;
    if (!DNSTAP__BIDIRECTIONAL) return DNSTAP_ERR_HANDSHAKE;   /* a unidirectional receiver sends nothing */
    r = dnstap_reader_feed(&tap->reader, tap->rx, (size_t)n, &used, frame);
    if (r == DNSTAP_OK) { *got = true; return DNSTAP_OK; }
    if (r == DNSTAP_ERR_AGAIN) return DNSTAP_ERR_AGAIN;
    return DNSTAP_ERR_HANDSHAKE;
}

/* Something is waiting in a queue. */
static bool dnstap__queued(const dnstap_t *tap) {
    unsigned i;
    for (i = 0; i < tap->desc.queues; i++)
        if (DNSTAP__LOAD_ACQ(&tap->q[i].head) != tap->q[i].tail) return true;
    return false;
}

#define DNSTAP__NONE UINT64_MAX

/* The flush policy: when the queued frames are to be written. UINT64_MAX:
   nothing queued; now: at once (flush_bytes reached, a queue past half
   full, a write under way, shutting down, or frames dnstap_poll() has not
   seen yet, so that it notes when); else when the oldest reaches flush_ms,
   counted from when dnstap_poll() first saw it. */
static uint64_t dnstap__flush_at(const dnstap_t *tap, uint64_t now) {
    uint64_t bytes = 0;
    unsigned i;
    for (i = 0; i < tap->desc.queues; i++) {
        uint32_t b = dnstap__q_bytes(&tap->q[i]);
        if (b > tap->q[i].cap / 2) return now;
        bytes += b;
    }
    if (bytes == 0) return DNSTAP__NONE;
    if (bytes >= tap->desc.flush_bytes || tap->tx_off || tap->shutting_down || tap->pending_since_ms == DNSTAP__NONE)
        return now;
    return tap->pending_since_ms + tap->desc.flush_ms;
}

/* A receiver sends nothing between ACCEPT and FINISH: FINISH or end of
   stream now means it has gone (DNSTAP_ERR_CLOSED), anything else that the
   stream is broken. A frame not yet whole waits for the next call. */
static dnstap_result_t dnstap__probe(dnstap_t *tap) {
    dnstap_frame_t f;
    bool got;
    dnstap_result_t e;
    if (tap->tr.read == NULL) return DNSTAP_OK;
    e = dnstap__read_control(tap, &f, &got);
    if (e == DNSTAP_ERR_AGAIN) return DNSTAP_OK;
    if (e == DNSTAP_ERR_HANDSHAKE) return DNSTAP_ERR_SEQUENCE;
    if (e != DNSTAP_OK) return e;
    return f.kind == DNSTAP_FRAME_CONTROL && f.control == DNSTAP_CONTROL_FINISH ? DNSTAP_ERR_CLOSED
                                                                               : DNSTAP_ERR_SEQUENCE;
}

/* The end that does not wait (the shutdown limit, dnstap_close_now()): what
   is queued is dropped and counted; STOP (or the rest of a STOP under way)
   is written if the stream is at a frame boundary and the transport takes
   it at once; then close. */
static void dnstap__end_now(dnstap_t *tap, const char *why) {
    uint64_t before = tap->dropped_disconnected;
    dnstap__line_t l;
    DNSTAP__STORE_REL(&tap->shutting_down, 1);
    if (tap->state == DNSTAP__S_RUNNING && tap->tx_off == 0 && tap->again_buf == NULL)
        dnstap__start_ctl(tap, DNSTAP_CONTROL_STOP, DNSTAP__S_CLOSED);
    if (tap->state == DNSTAP__S_CTL && (tap->ctl_next == DNSTAP__S_FINISH || tap->ctl_next == DNSTAP__S_CLOSED)) {
        while (tap->ctl_off < tap->ctl_len) {
            int n = dnstap__xwrite(tap, tap->ctl + tap->ctl_off, tap->ctl_len - tap->ctl_off);
            if (n <= 0) break;
            tap->ctl_off += (size_t)n;
        }
    }
    dnstap__close_final(tap);
    l.n = 0;
    dnstap__add(dnstap__add(dnstap__add(dnstap__add(&l, "dnstap: "), dnstap__endpoint(tap)), ": "), why);
    dnstap__add(dnstap__addu(dnstap__add(&l, "; closed, dropping "), tap->dropped_disconnected - before),
                " queued messages");
    dnstap__say(tap, DNSTAP_LOG_WARN, &l);
}

/* Out of line: its line buffer stays off dnstap_poll()'s own frame. */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((noinline))
#endif
static void dnstap__report_drops(dnstap_t *tap, uint64_t now) {
    uint64_t d;
    if (now < tap->last_report_ms + tap->desc.drop_report_ms) return;
    d = dnstap__dropped(tap);
    if (d > tap->reported_drops) {
        dnstap__line_t l;
        l.n = 0;
        dnstap__addu(dnstap__add(&l, "dnstap: Dropped dnstap messages: "), d - tap->reported_drops);
        dnstap__say(tap, DNSTAP_LOG_WARN, &l);
        tap->reported_drops = d;
    }
    tap->last_report_ms = now;
}

DNSTAP_API dnstap_result_t dnstap_poll(dnstap_t *tap, uint64_t now) {
    dnstap_result_t r = DNSTAP_OK;
    unsigned steps;
    if (tap == NULL || tap->desc.queues == 0) return DNSTAP_ERR_INVALID;   /* never set up */
#if DNSTAP__POSIX
    errno = 0;   /* what a failure below leaves is its cause (see dnstap__add_cause) */
#endif
    if (tap->shutting_down && tap->state != DNSTAP__S_CLOSED && now >= tap->shutdown_ms) {
        tap->timeouts++;
        tap->last_error = DNSTAP_ERR_TIMEOUT;
        dnstap__end_now(tap, "shutdown_timeout_ms reached");
        return DNSTAP_ERR_TIMEOUT;
    }
    if (tap->desc.while_disconnected == DNSTAP_DROP_WHILE_DISCONNECTED && tap->state != DNSTAP__S_RUNNING &&
        tap->state != DNSTAP__S_CLOSED)
        dnstap__discard_queued(tap);
    for (steps = 0; steps < 16; steps++) {
        switch (tap->state) {
        case DNSTAP__S_IDLE:
            if (now < tap->next_connect_ms) goto out;
            tap->state = DNSTAP__S_CONNECTING;
            tap->open = 1;
            tap->deadline_ms = now + tap->desc.connect_timeout_ms;
            continue;
        case DNSTAP__S_CONNECTING:
            r = tap->tr.connect ? tap->tr.connect(tap->tr.ctx) : DNSTAP_OK;
            if (r == DNSTAP_ERR_AGAIN) {
                r = DNSTAP_OK;
                if (now >= tap->deadline_ms) r = dnstap__fail(tap, DNSTAP_ERR_TIMEOUT, now);
                goto out;
            }
            if (r != DNSTAP_OK) {   /* a custom transport's own code reads as "cannot connect" */
                r = dnstap__fail(tap, r < DNSTAP__ERR_LOWEST || r > DNSTAP_OK ? DNSTAP_ERR_CONNECT : r, now);
                goto out;
            }
            dnstap__reader_setup(&tap->reader, tap->reader_buf, sizeof tap->reader_buf);
            tap->reader.role = DNSTAP_READ_RECEIVER_REPLIES;
            tap->deadline_ms = now + tap->desc.handshake_timeout_ms;
            if (!DNSTAP__BIDIRECTIONAL || tap->desc.unidirectional)
                dnstap__start_ctl(tap, DNSTAP_CONTROL_START, DNSTAP__S_RUNNING);
            else dnstap__start_ctl(tap, DNSTAP_CONTROL_READY, DNSTAP__S_ACCEPT);
            continue;
        case DNSTAP__S_CTL: {
            int n = dnstap__xwrite(tap, tap->ctl + tap->ctl_off, tap->ctl_len - tap->ctl_off);
            if (n == DNSTAP_ERR_AGAIN) {
                if (now >= tap->deadline_ms) { r = dnstap__fail(tap, DNSTAP_ERR_TIMEOUT, now); goto out; }
                goto out;
            }
            if (n < 0) { r = dnstap__fail(tap, (dnstap_result_t)n, now); goto out; }
            tap->ctl_off += (size_t)n;
            if (tap->ctl_off < tap->ctl_len) continue;
            tap->state = tap->ctl_next;
            if (tap->state == DNSTAP__S_RUNNING) {
                tap->connects++;
                tap->connected_ms = now;
                tap->last_progress_ms = now;
                DNSTAP__STORE_REL(&tap->accepting, 1);
                dnstap__line_t l;
                l.n = 0;
                dnstap__add(dnstap__add(&l, "dnstap: connected to "), dnstap__endpoint(tap));
                dnstap__say(tap, DNSTAP_LOG_INFO, &l);
            } else if (tap->state == DNSTAP__S_CLOSED) {
                dnstap__close_final(tap);
                goto out;
            }
            continue;
        }
        case DNSTAP__S_ACCEPT:
        case DNSTAP__S_FINISH: {
            dnstap_frame_t f;
            bool got;
            dnstap_result_t e;
            if (!DNSTAP__BIDIRECTIONAL) goto out;   /* never here */
            e = dnstap__read_control(tap, &f, &got);
            if (e == DNSTAP_ERR_AGAIN) {
                if (now >= tap->deadline_ms) {
                    if (tap->state == DNSTAP__S_FINISH) { tap->timeouts++; dnstap__close_final(tap); goto out; }
                    r = dnstap__fail(tap, DNSTAP_ERR_TIMEOUT, now);
                }
                goto out;
            }
            if (tap->state == DNSTAP__S_FINISH) {   /* FINISH, or anything else: we are done */
                if (e != DNSTAP_OK) tap->last_error = e;
                dnstap__close_final(tap);
                goto out;
            }
            if (e != DNSTAP_OK) { r = dnstap__fail(tap, e, now); goto out; }
            if (!got) continue;
            if (f.control != DNSTAP_CONTROL_ACCEPT || !dnstap_frame_has_content_type(&f, DNSTAP_CONTENT_TYPE)) {
                r = dnstap__fail(tap, DNSTAP_ERR_HANDSHAKE, now);
                goto out;
            }
            dnstap__start_ctl(tap, DNSTAP_CONTROL_START, DNSTAP__S_RUNNING);
            continue;
        }
        case DNSTAP__S_RUNNING: {
            bool blocked, due;
            dnstap_result_t e;
            if (tap->pending_since_ms == DNSTAP__NONE && dnstap__queued(tap)) tap->pending_since_ms = now;
            due = tap->shutting_down || tap->data_blocked || dnstap__flush_at(tap, now) <= now;
            /* before every write: a receiver that sent FINISH or left is seen
               before more is written into a dead connection (over TCP such
               writes "succeed" and their frames vanish); between writes at
               most once a millisecond, so a host that polls after every
               query makes no system call for it */
            if (due || now != tap->probed_ms) {
                tap->probed_ms = now;
                e = dnstap__probe(tap);
                if (e != DNSTAP_OK) { r = dnstap__fail(tap, e, now); goto out; }
            }
            if (!due) {
                tap->last_progress_ms = now;   /* held back by the flush policy, not blocked */
                goto out;
            }
            e = dnstap__send_data(tap, now, &blocked);
            if (e != DNSTAP_OK) { r = dnstap__fail(tap, e, now); goto out; }
            if (blocked) {
                if (now >= tap->last_progress_ms + tap->desc.write_timeout_ms)
                    r = dnstap__fail(tap, DNSTAP_ERR_TIMEOUT, now);
                goto out;
            }
            tap->last_progress_ms = now;
            tap->pending_since_ms = dnstap__queued(tap) ? now : DNSTAP__NONE;
            if (!tap->shutting_down) goto out;
            tap->deadline_ms = now + tap->desc.finish_timeout_ms;
            dnstap__start_ctl(tap, DNSTAP_CONTROL_STOP,
                              !DNSTAP__BIDIRECTIONAL || tap->desc.unidirectional ? DNSTAP__S_CLOSED : DNSTAP__S_FINISH);
            continue;
        }
        default:
            goto out;
        }
    }
out:
    if (tap->state != DNSTAP__S_CLOSED) dnstap__report_drops(tap, now);
    return r;
}

DNSTAP_API dnstap_io_t dnstap_io(const dnstap_t *tap, uint64_t now) {
    dnstap_io_t io;
    io.fd = -1;
    io.want_read = io.want_write = false;
    io.deadline_ms = UINT64_MAX;   /* idle: nothing to wake up for (call dnstap_poll() after logging) */
    if (tap == NULL || tap->desc.queues == 0) return io;
    if (tap->open && tap->tr.fd) io.fd = tap->tr.fd(tap->tr.ctx);
    switch (tap->state) {
    case DNSTAP__S_IDLE:
        io.deadline_ms = tap->next_connect_ms;
        break;
    case DNSTAP__S_CONNECTING:
        if (tap->tr.want) {
            int w = tap->tr.want(tap->tr.ctx);
            io.want_read = (w & DNSTAP_WANT_READ) != 0;
            io.want_write = (w & DNSTAP_WANT_WRITE) != 0;
        } else {
            io.want_write = true;
        }
        io.deadline_ms = tap->deadline_ms;
        break;
    case DNSTAP__S_CTL:
        io.want_write = true;
        io.deadline_ms = tap->deadline_ms;
        break;
    case DNSTAP__S_ACCEPT: case DNSTAP__S_FINISH:
        io.want_read = true;
        io.deadline_ms = tap->deadline_ms;
        break;
    case DNSTAP__S_RUNNING:
        io.want_read = tap->tr.read != NULL;   /* FINISH or end of stream: dnstap_poll() reads it */
        if (tap->again_buf || tap->data_blocked) {
            io.want_write = true;
            if (tap->tr.want && !(tap->tr.want(tap->tr.ctx) & DNSTAP_WANT_READ)) io.want_read = false;
            io.deadline_ms = tap->last_progress_ms + tap->desc.write_timeout_ms;
            break;
        }
        io.deadline_ms = tap->shutting_down ? now : dnstap__flush_at(tap, now);
        break;
    default:
        io.deadline_ms = UINT64_MAX;
        break;
    }
    if (tap->shutting_down && tap->state != DNSTAP__S_CLOSED && tap->shutdown_ms < io.deadline_ms)
        io.deadline_ms = tap->shutdown_ms;
    if (tap->state != DNSTAP__S_CLOSED && io.deadline_ms > tap->last_report_ms + tap->desc.drop_report_ms &&
        dnstap__dropped(tap) > tap->reported_drops)
        io.deadline_ms = tap->last_report_ms + tap->desc.drop_report_ms;
    return io;
}

static void dnstap__shutdown(dnstap_t *tap, uint64_t now);

#if DNSTAP__POSIX && defined(DNSTAP_WITH_THREAD)
/* The writer thread's wake-up: a byte in its pipe (a full pipe is awake). */
static void dnstap__thread_wake(dnstap_t *tap) {
    if (write(tap->thread_wake[1], "", 1) < 0) {}
}

static void dnstap__thread_wake_close(dnstap_t *tap) {
    (void)close(tap->thread_wake[0]);
    (void)close(tap->thread_wake[1]);
}
#endif

DNSTAP_API void dnstap_shutdown(dnstap_t *tap, uint64_t now) {
    if (tap == NULL) return;
#if DNSTAP__POSIX && defined(DNSTAP_WITH_THREAD)
    /* the writer thread owns the state: it is asked, and does it itself */
    if (tap->thread_running) {
        if (!DNSTAP__LOAD_ACQ(&tap->thread_stop)) DNSTAP__STORE_REL(&tap->thread_stop, DNSTAP__STOP_SHUTDOWN);
        dnstap__thread_wake(tap);
        return;
    }
#endif
    dnstap__shutdown(tap, now);
}

static void dnstap__shutdown(dnstap_t *tap, uint64_t now) {
    if (tap->shutting_down) return;
    DNSTAP__STORE_REL(&tap->shutting_down, 1);
    tap->shutdown_ms = now + tap->desc.shutdown_timeout_ms;   /* closed by then, whatever happens */
    if (tap->state == DNSTAP__S_IDLE) tap->next_connect_ms = now;   /* one last attempt to connect */
}

DNSTAP_API void dnstap_forget(dnstap_t *tap) {
    if (tap == NULL) return;
#if DNSTAP__POSIX
    if (tap->open && tap->desc.transport.write == NULL && tap->tr.fd) {   /* stock transport */
        int fd = tap->tr.fd(tap->tr.ctx);
        if (fd >= 0) close(fd);
    }
#endif
    tap->open = 0;                     /* so no close() callback runs */
    dnstap__close_transport(tap);
    DNSTAP__STORE_REL(&tap->shutting_down, 1);
    dnstap__discard_queued(tap);
#if DNSTAP__POSIX && defined(DNSTAP_WITH_THREAD)
    if (tap->thread_running) dnstap__thread_wake_close(tap);   /* the child's copies */
#endif
    tap->thread_running = 0;
    tap->state = DNSTAP__S_CLOSED;
}

/* A tap never set up (all zero: dnstap_init() not called yet) counts as
   closed: it has no queue and no transport, as after a failed init. */
DNSTAP_API bool dnstap_closed(const dnstap_t *tap) {
    return tap == NULL || tap->state == DNSTAP__S_CLOSED || tap->desc.queues == 0;
}

DNSTAP_API dnstap_stats_t dnstap_stats(const dnstap_t *tap) {
    dnstap_stats_t s;
    unsigned i;
    DNSTAP_MEMSET(&s, 0, sizeof s);
    if (tap == NULL) return s;
    for (i = 0; i < tap->desc.queues; i++) {
        const dnstap_queue_t *q = &tap->q[i];
        s.logged += DNSTAP__GET64(&q->logged);
        s.dropped_full += DNSTAP__GET64(&q->dropped_full);
        s.dropped_too_big += DNSTAP__GET64(&q->dropped_too_big);
        s.dropped_invalid += DNSTAP__GET64(&q->dropped_invalid);
        s.dropped_disconnected += DNSTAP__GET64(&q->dropped_disconnected);
        s.queued += dnstap__q_count(q, &s.queued_bytes);
    }
    s.sent = tap->sent;
    s.sent_bytes = tap->sent_bytes;
    s.writes = tap->writes;
    s.dropped_disconnected += tap->dropped_disconnected;
    s.dropped_write_error = tap->dropped_write_error;
    s.connects = tap->connects;
    s.reconnects = tap->reconnects;
    s.handshake_failures = tap->handshake_failures;
    s.timeouts = tap->timeouts;
    return s;
}

/* Set up everything but the transport. */
static dnstap_result_t dnstap__init_common(dnstap_t *tap, const dnstap_desc_t *desc) {
    dnstap_encoder_desc_t ed;
    dnstap_result_t r;
    size_t per, ring;
    unsigned i;
    uint8_t *mem;
    DNSTAP_MEMSET(tap, 0, sizeof *tap);
    tap->desc = *desc;
    if (!DNSTAP__BIDIRECTIONAL) tap->desc.unidirectional = true;
    if (tap->desc.queues == 0) tap->desc.queues = 1;
    if (tap->desc.queues > DNSTAP_MAX_QUEUES || desc->queue == NULL) return DNSTAP_ERR_INVALID;
    per = desc->queue_size / tap->desc.queues;
    if (per > DNSTAP__QUEUE_CAP_MAX) per = DNSTAP__QUEUE_CAP_MAX;
    /* extra_fn writes into DNSTAP_EXTRA_MAX bytes after each ring */
    if (per < 128 + (desc->extra_fn ? DNSTAP_EXTRA_MAX : 0u)) return DNSTAP_ERR_INVALID;
    ring = desc->extra_fn ? per - DNSTAP_EXTRA_MAX : per;
#define DNSTAP__DEFAULT(field, value) if (tap->desc.field == 0) tap->desc.field = (value)
    DNSTAP__DEFAULT(backoff_min_ms, 100);
    DNSTAP__DEFAULT(backoff_max_ms, 10000);
    DNSTAP__DEFAULT(backoff_reset_ms, 5000);
    DNSTAP__DEFAULT(connect_timeout_ms, 4000);
    DNSTAP__DEFAULT(handshake_timeout_ms, 4000);
    DNSTAP__DEFAULT(write_timeout_ms, 4000);
    DNSTAP__DEFAULT(finish_timeout_ms, 4000);
    DNSTAP__DEFAULT(shutdown_timeout_ms, 5000);
    DNSTAP__DEFAULT(drop_report_ms, 10000);
    DNSTAP__DEFAULT(thread_wake_ms, 10);
    DNSTAP__DEFAULT(flush_bytes, DNSTAP_FLUSH_BYTES);
    DNSTAP__DEFAULT(flush_ms, DNSTAP_FLUSH_MS);
#undef DNSTAP__DEFAULT
    if (tap->desc.backoff_max_ms < tap->desc.backoff_min_ms) tap->desc.backoff_max_ms = tap->desc.backoff_min_ms;
    mem = (uint8_t *)desc->queue;
    for (i = 0; i < tap->desc.queues; i++) {
        tap->q[i].buf = mem + per * i;
        tap->q[i].cap = (uint32_t)ring;
    }
    DNSTAP_MEMSET(&ed, 0, sizeof ed);
    ed.identity = desc->identity;
    ed.version = desc->version;
    ed.extra = desc->extra;
    ed.payload_max = desc->payload_max;
#if DNSTAP__POSIX
    if (ed.identity.data == NULL && gethostname((char *)tap->identity_buf, sizeof tap->identity_buf - 1) == 0)
        ed.identity = dnstap_str((const char *)tap->identity_buf);
#endif
    if (ed.version.data == NULL) {   /* a constant's length: no strlen() for firmware */
        static const char version[] = "dnstap.h " DNSTAP_VERSION_STRING;
        ed.version.data = (const uint8_t *)version;
        ed.version.len = sizeof version - 1;
    }
    r = dnstap_encoder_init(&tap->enc, &ed);
    if (r != DNSTAP_OK) return r;
    tap->backoff_ms = tap->desc.backoff_min_ms;
    tap->pending_since_ms = tap->probed_ms = DNSTAP__NONE;
    tap->rng = (uint32_t)(uintptr_t)tap ^ 0x9E3779B9u;
    tap->reconnect = 1;
    tap->last_error = DNSTAP_OK;
    return DNSTAP_OK;
}

#if DNSTAP__POSIX
/* An endpoint that cannot be used: say why, at init, where the caller can
   fix it; returns r. */
static dnstap_result_t dnstap__endpoint_error(dnstap_t *tap, const char *why, dnstap_result_t r) {
    dnstap__line_t l;
    l.n = 0;
    dnstap__add(dnstap__add(dnstap__add(dnstap__add(&l, "dnstap: "), dnstap__endpoint(tap)), ": "), why);
    dnstap__say(tap, DNSTAP_LOG_ERROR, &l);
    return r;
}

static DNSTAP__MAYBE_UNUSED dnstap_result_t dnstap__endpoint_invalid(dnstap_t *tap, const char *why) {
    return dnstap__endpoint_error(tap, why, DNSTAP_ERR_INVALID);
}
#endif

/* >>posix ---------------------------------------------------------------
   Stock transports: unix socket, TCP, file. Non-blocking sockets. */
#if DNSTAP__POSIX && !defined(DNSTAP_NO_SOCKETS)
#include <poll.h>
#include <netdb.h>
#include <signal.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <netinet/tcp.h>

enum { DNSTAP__K_UNIX = 1, DNSTAP__K_TCP, DNSTAP__K_FILE };

typedef struct dnstap__sock_t {
    int fd, kind, in_progress, resolved;
    uint32_t sndbuf;
    socklen_t addrlen;
    struct sockaddr_storage addr;
    char path[256];      /* unix socket or file */
    char host[256];
    char port[8];
    char endpoint[272];  /* the endpoint as given, for log lines: the caller's may go */
} dnstap__sock_t;

typedef char dnstap__sock_fits[sizeof(dnstap__sock_t) <= DNSTAP_STOCK_TRANSPORT_SIZE ? 1 : -1];

static bool dnstap__prefix(const char *s, const char *p, const char **rest) {
    size_t n = dnstap_str(p).len;
    if (!dnstap__equal(s, p, n)) return false;
    *rest = s + n;
    return true;
}

static bool dnstap__copy(char *dst, size_t cap, const char *src, size_t n) {
    if (n >= cap) return false;
    DNSTAP_MEMCPY(dst, src, n);
    dst[n] = 0;
    return true;
}

DNSTAP__MAYBE_UNUSED static void dnstap__set_nonblock(int fd) {
    int fl = fcntl(fd, F_GETFL, 0);
    if (fl >= 0) (void)fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
#ifdef SO_NOSIGPIPE
    { int one = 1; (void)setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one); }
#endif
}

static bool dnstap__resolve(dnstap__sock_t *s) {
    struct addrinfo hints, *res = NULL;
    struct sockaddr_in *in4 = (struct sockaddr_in *)(void *)&s->addr;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)(void *)&s->addr;
    long port = 0;
    const char *p = s->port;
    while (*p) port = port * 10 + (*p++ - '0');
    DNSTAP_MEMSET(&s->addr, 0, sizeof s->addr);
    if (inet_pton(AF_INET, s->host, &in4->sin_addr) == 1) {      /* literals: no allocation */
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        s->addrlen = sizeof *in4;
        s->resolved = 1;
        return true;
    }
    if (inet_pton(AF_INET6, s->host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        s->addrlen = sizeof *in6;
        s->resolved = 1;
        return true;
    }
    DNSTAP_MEMSET(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(s->host, s->port, &hints, &res) != 0 || res == NULL) return false;
    if (res->ai_addrlen <= sizeof s->addr) {
        DNSTAP_MEMCPY(&s->addr, res->ai_addr, res->ai_addrlen);
        s->addrlen = (socklen_t)res->ai_addrlen;
        s->resolved = 1;
    }
    freeaddrinfo(res);
    return s->resolved != 0;
}

static void dnstap__sock_close(void *ctx) {
    dnstap__sock_t *s = (dnstap__sock_t *)ctx;
    if (s->fd >= 0) close(s->fd);
    s->fd = -1;
    s->in_progress = 0;
}

/* A non-blocking connect() that did not complete at once. */
DNSTAP__MAYBE_UNUSED static dnstap_result_t dnstap__sock_pending(dnstap__sock_t *s) {
    if (errno == EINPROGRESS || errno == EINTR) { s->in_progress = 1; return DNSTAP_ERR_AGAIN; }
    dnstap__sock_close(s);
    return DNSTAP_ERR_CONNECT;
}

static dnstap_result_t dnstap__sock_connect(void *ctx) {
    dnstap__sock_t *s = (dnstap__sock_t *)ctx;
    if (s->fd >= 0 && s->in_progress) {
        struct pollfd pfd;
        int err = 0;
        socklen_t len = sizeof err;
        pfd.fd = s->fd;
        pfd.events = POLLOUT;
        pfd.revents = 0;
        if (poll(&pfd, 1, 0) == 0) return DNSTAP_ERR_AGAIN;
        if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return DNSTAP_ERR_CONNECT;
        if (err != 0) { errno = err; return DNSTAP_ERR_CONNECT; }   /* the log line names it */
        s->in_progress = 0;
        return DNSTAP_OK;
    }
    if (s->fd >= 0) return DNSTAP_OK;
#ifndef DNSTAP_NO_FILE_TRANSPORT
    if (s->kind == DNSTAP__K_FILE) {
        /* non-blocking: a FIFO without a reader fails at once (ENXIO) instead
           of stalling the host in open(), and a full pipe says "again" */
        s->fd = open(s->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NONBLOCK, 0644);
        return s->fd >= 0 ? DNSTAP_OK : DNSTAP_ERR_CONNECT;
    }
#endif
#ifndef DNSTAP_NO_UNIX_SOCKET
    if (s->kind == DNSTAP__K_UNIX) {
        struct sockaddr_un un;
        DNSTAP_MEMSET(&un, 0, sizeof un);
        un.sun_family = AF_UNIX;
        DNSTAP_MEMCPY(un.sun_path, s->path, dnstap_str(s->path).len + 1);
        s->fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (s->fd < 0) return DNSTAP_ERR_CONNECT;
        dnstap__set_nonblock(s->fd);
        return connect(s->fd, (struct sockaddr *)(void *)&un, sizeof un) == 0 ? DNSTAP_OK : dnstap__sock_pending(s);
    }
#endif
#ifndef DNSTAP_NO_TCP
    if (s->kind == DNSTAP__K_TCP) {
        if (!s->resolved) return DNSTAP_ERR_CONNECT;
        s->fd = socket(s->addr.ss_family, SOCK_STREAM, 0);
        if (s->fd < 0) return DNSTAP_ERR_CONNECT;
        dnstap__set_nonblock(s->fd);
        {   /* small frames and STOP go out at once, not after a delayed ACK */
            int one = 1;
            (void)setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        }
        if (s->sndbuf) {
            int v = s->sndbuf > 0x7FFFFFFFu ? 0x7FFFFFFF : (int)s->sndbuf;
            (void)setsockopt(s->fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof v);
        }
        return connect(s->fd, (struct sockaddr *)(void *)&s->addr, s->addrlen) == 0 ? DNSTAP_OK
                                                                                     : dnstap__sock_pending(s);
    }
#endif
    return DNSTAP_ERR_UNSUPPORTED;
}

/* A file's write. Into a FIFO (or a pipe as /dev/stdout) whose reader has
   gone, write() raises SIGPIPE, which ends a host that does not ignore it
   (sockets have MSG_NOSIGNAL): held blocked for the call, and taken back
   if this write raised it. Three system calls more per write, which the
   flush policy makes rare. */
static ssize_t dnstap__file_writev(const dnstap__sock_t *s, const struct iovec *v, int n) {
    sigset_t sigpipe, before, pending;
    ssize_t r;
    int err, was_pending;
    sigemptyset(&sigpipe);
    sigaddset(&sigpipe, SIGPIPE);
    was_pending = sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1;
    (void)sigprocmask(SIG_BLOCK, &sigpipe, &before);   /* this thread's mask (Linux, BSDs) */
    do r = writev(s->fd, v, n); while (r < 0 && errno == EINTR);
    err = errno;
    if (r < 0 && err == EPIPE && !was_pending) {
        struct timespec none;
        none.tv_sec = 0;
        none.tv_nsec = 0;
        (void)sigtimedwait(&sigpipe, NULL, &none);
    }
    (void)sigprocmask(SIG_SETMASK, &before, NULL);
    errno = err;
    return r;
}

#if DNSTAP__FILE_ENDPOINT
/* A file: endpoint's write failed (a full disk): the file is cut back to
   its last whole frame, then ended with STOP once START went out. */
static void dnstap__file_endpoint_failed(dnstap_t *tap, int state) {
    const dnstap__sock_t *s = (const dnstap__sock_t *)(const void *)tap->stock.bytes;
    bool stop;
    if (tap->tr.ctx != (void *)tap->stock.bytes || s->kind != DNSTAP__K_FILE || s->fd < 0 || !tap->open) return;
    stop = state == DNSTAP__S_RUNNING || (state == DNSTAP__S_CTL && dnstap__get_be32(tap->ctl + 8) == DNSTAP_CONTROL_STOP);
    (void)dnstap__fd_end_whole(s->fd, state == DNSTAP__S_RUNNING ? tap->tx_off : tap->ctl_off, stop);
}
#endif

static int dnstap__sock_write(void *ctx, const uint8_t *buf, size_t len) {
    dnstap__sock_t *s = (dnstap__sock_t *)ctx;
    ssize_t n;
#ifdef MSG_NOSIGNAL
    int flags = MSG_NOSIGNAL;
#else
    int flags = 0;
#endif
    if (s->kind == DNSTAP__K_FILE) {
        struct iovec v;
        v.iov_base = (void *)(uintptr_t)buf;   /* writev() does not write it */
        v.iov_len = len;
        n = dnstap__file_writev(s, &v, 1);
    } else {
        do n = send(s->fd, buf, len, flags); while (n < 0 && errno == EINTR);
    }
    if (n >= 0) return (int)n;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return DNSTAP_ERR_AGAIN;
    if (errno == EPIPE || errno == ECONNRESET) return DNSTAP_ERR_CLOSED;
    return DNSTAP_ERR_IO;
}

static int dnstap__sock_writev(void *ctx, const dnstap_iovec_t *iov, int iovcnt) {
    dnstap__sock_t *s = (dnstap__sock_t *)ctx;
    struct iovec v[2 * DNSTAP_MAX_QUEUES];
    struct msghdr mh;
    ssize_t n;
    int i;
#ifdef MSG_NOSIGNAL
    int flags = MSG_NOSIGNAL;
#else
    int flags = 0;
#endif
    if (iovcnt > (int)(sizeof v / sizeof v[0])) iovcnt = (int)(sizeof v / sizeof v[0]);
    for (i = 0; i < iovcnt; i++) {
        v[i].iov_base = (void *)(uintptr_t)iov[i].base;   /* sendmsg() does not write it */
        v[i].iov_len = iov[i].len;
    }
    DNSTAP_MEMSET(&mh, 0, sizeof mh);
    mh.msg_iov = v;
    for (i = 0; i < iovcnt; i++) mh.msg_iovlen++;   /* size_t or int, by system */
    if (s->kind == DNSTAP__K_FILE) n = dnstap__file_writev(s, v, iovcnt);
    else do n = sendmsg(s->fd, &mh, flags); while (n < 0 && errno == EINTR);
    if (n >= 0) return (int)n;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return DNSTAP_ERR_AGAIN;
    if (errno == EPIPE || errno == ECONNRESET) return DNSTAP_ERR_CLOSED;
    return DNSTAP_ERR_IO;
}

static int dnstap__sock_read(void *ctx, uint8_t *buf, size_t len) {
    dnstap__sock_t *s = (dnstap__sock_t *)ctx;
    ssize_t n;
    do n = recv(s->fd, buf, len, 0); while (n < 0 && errno == EINTR);
    if (n >= 0) return (int)n;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return DNSTAP_ERR_AGAIN;
    return errno == ECONNRESET ? DNSTAP_ERR_CLOSED : DNSTAP_ERR_IO;
}

static int dnstap__sock_fd(void *ctx) { return ((dnstap__sock_t *)ctx)->fd; }

#ifdef DNSTAP_WITH_MBEDTLS
static dnstap_result_t dnstap__tls_setup(dnstap_t *tap, dnstap__sock_t *s);   /* >>tls */
#endif


/* Parse an endpoint into the stock transport. */
static dnstap_result_t dnstap__sock_setup(dnstap_t *tap, const char *ep) {
    dnstap__sock_t *s = (dnstap__sock_t *)(void *)tap->stock.bytes;
    const char *rest;
    bool tls = dnstap__prefix(ep, "tls://", &rest);   /* TLS over the TCP transport */
    DNSTAP_MEMSET(s, 0, sizeof *s);
    s->fd = -1;
    s->sndbuf = tap->desc.write_buffer;
    if (!dnstap__copy(s->endpoint, sizeof s->endpoint, ep, dnstap_str(ep).len))
        return dnstap__endpoint_invalid(tap, "longer than any endpoint can be");
    tap->desc.endpoint = s->endpoint;   /* the tap's own copy */
#ifndef DNSTAP_WITH_MBEDTLS
    if (tls) return dnstap__endpoint_error(tap, "tls:// needs a build with DNSTAP_WITH_MBEDTLS", DNSTAP_ERR_UNSUPPORTED);
#endif
    if (dnstap__prefix(ep, "unix://", &rest) || (ep[0] == '/' && (rest = ep) != NULL)) {
        struct sockaddr_un un;
#ifdef DNSTAP_NO_UNIX_SOCKET
        return dnstap__endpoint_error(tap, "unix sockets are left out of this build (DNSTAP_NO_UNIX_SOCKET)",
                                      DNSTAP_ERR_UNSUPPORTED);
#endif
        if (rest[0] != '/' || !dnstap__copy(s->path, sizeof un.sun_path, rest, dnstap_str(rest).len))
            return dnstap__endpoint_invalid(tap, "needs an absolute path short enough for a unix socket address");
        s->kind = DNSTAP__K_UNIX;
    } else if (tls || dnstap__prefix(ep, "tcp://", &rest)) {
        const char *colon = NULL, *p, *host = rest, *host_end;
        unsigned colons = 0;
        uint32_t port = 0;
#ifdef DNSTAP_NO_TCP
        return dnstap__endpoint_error(tap, "TCP is left out of this build (DNSTAP_NO_TCP)", DNSTAP_ERR_UNSUPPORTED);
#endif
        if (*rest == '[') {
            host = rest + 1;
            host_end = host;
            while (*host_end && *host_end != ']') host_end++;
            if (*host_end != ']' || host_end[1] != ':') return dnstap__endpoint_invalid(tap, "needs [v6]:port");
            colon = host_end + 1;
        } else {
            for (p = rest; *p; p++) if (*p == ':') { colon = p; colons++; }
            if (colons > 1)   /* 2001:db8::1 or 2001:db8::1:6000: which is the port? */
                return dnstap__endpoint_invalid(tap, "an IPv6 address needs brackets: [2001:db8::1]:6000");
            if (colon == NULL) return dnstap__endpoint_invalid(tap, "needs host:port");
            host_end = colon;
        }
        if (host_end == host || !dnstap__copy(s->host, sizeof s->host, host, (size_t)(host_end - host)))
            return dnstap__endpoint_invalid(tap, "bad host");
        for (p = colon + 1; *p >= '0' && *p <= '9' && port <= 65535; p++) port = port * 10 + (uint32_t)(*p - '0');
        if (*p || port < 1 || port > 65535 || !dnstap__copy(s->port, sizeof s->port, colon + 1, (size_t)(p - colon - 1)))
            return dnstap__endpoint_invalid(tap, "the port must be a number from 1 to 65535");
        s->kind = DNSTAP__K_TCP;
        /* here, once: never in dnstap_poll(), where a lookup would stall the
           host's event loop (on a router, possibly waiting on itself) */
        if (!dnstap__resolve(s))   /* said as such: "cannot connect" would hide it */
            return dnstap__endpoint_error(tap, "the host name does not resolve", DNSTAP_ERR_CONNECT);
    } else if (dnstap__prefix(ep, "file://", &rest) || dnstap__prefix(ep, "file:", &rest)) {
#ifdef DNSTAP_NO_FILE_TRANSPORT
        return dnstap__endpoint_error(tap, "files are left out of this build (DNSTAP_NO_FILE_TRANSPORT)",
                                      DNSTAP_ERR_UNSUPPORTED);
#endif
        if (!rest[0] || !dnstap__copy(s->path, sizeof s->path, rest, dnstap_str(rest).len))
            return dnstap__endpoint_invalid(tap, "needs a file name that fits the transport's buffer");
        s->kind = DNSTAP__K_FILE;
        tap->desc.unidirectional = true;   /* files are unidirectional ... */
        tap->reconnect = 0;                /* ... and a reopen would truncate them */
    } else {
        return dnstap__endpoint_invalid(tap, "unknown kind: use unix:///path, tcp://host:port, tls://host:port "
                                             "or file:///path");
    }
    tap->tr.connect = dnstap__sock_connect;
    tap->tr.write = dnstap__sock_write;
    tap->tr.writev = dnstap__sock_writev;
    tap->tr.read = dnstap__sock_read;
    tap->tr.close = dnstap__sock_close;
    tap->tr.fd = dnstap__sock_fd;
    tap->tr.ctx = s;
    if (s->kind == DNSTAP__K_FILE) tap->tr.read = NULL;   /* nothing to read from a file */
#ifdef DNSTAP_WITH_MBEDTLS
    if (tls) return dnstap__tls_setup(tap, s);   /* wraps tap->tr */
#endif
    return DNSTAP_OK;
}
#elif DNSTAP__POSIX
static dnstap_result_t dnstap__sock_setup(dnstap_t *tap, const char *ep) {
    (void)ep;
    return dnstap__endpoint_error(tap, "the stock transports are left out of this build (DNSTAP_NO_SOCKETS)",
                                  DNSTAP_ERR_UNSUPPORTED);
}
#else
static dnstap_result_t dnstap__sock_setup(dnstap_t *tap, const char *ep) {
    (void)tap; (void)ep;
    return DNSTAP_ERR_UNSUPPORTED;
}
#endif /* posix sockets */

/* >>posix helpers: the clock, dnstap_run(), the writer thread (POSIX, with
   or without the stock transports) */
#if DNSTAP__POSIX
#include <poll.h>

DNSTAP_API uint64_t dnstap_clock_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

DNSTAP_API dnstap_result_t dnstap_run(dnstap_t *tap, uint64_t timeout_ms) {
    uint64_t now = dnstap_clock_ms(), end = timeout_ms < UINT64_MAX - now ? now + timeout_ms : UINT64_MAX;
    if (tap == NULL) return DNSTAP_ERR_INVALID;
    while (!dnstap_closed(tap) && now < end) {
        dnstap_io_t io = dnstap_io(tap, now);
        uint64_t until = io.deadline_ms < end ? io.deadline_ms : end;
        int wait = until > now ? (until - now > 1000 ? 1000 : (int)(until - now)) : 0;
        if (io.fd >= 0 && (io.want_read || io.want_write)) {
            struct pollfd pfd;
            pfd.fd = io.fd;
            pfd.events = (short)((io.want_read ? POLLIN : 0) | (io.want_write ? POLLOUT : 0));
            pfd.revents = 0;
            (void)poll(&pfd, 1, wait);
        } else if (wait > 0) {
            (void)poll(NULL, 0, wait);
        }
        now = dnstap_clock_ms();
        (void)dnstap_poll(tap, now);
    }
    if (!dnstap_closed(tap)) (void)dnstap_poll(tap, now);   /* a shutdown limit due now closes it */
    return dnstap_closed(tap) ? DNSTAP_OK : DNSTAP_ERR_TIMEOUT;
}

#ifdef DNSTAP_WITH_THREAD
#include <pthread.h>
typedef char dnstap__thread_fits[sizeof(pthread_t) <= 32 ? 1 : -1];

/* dnstap_log() does not wake this thread (no system call on the query
   path), so while frames flow it looks every millisecond (under
   DNSTAP_FLUSH_AT_ONCE: without pause) whether the flush policy wants them
   written, keeps looking every millisecond for a while after they stop,
   and only then sleeps thread_wake_ms. */
static void *dnstap__writer_main(void *arg) {
    dnstap_t *tap = (dnstap_t *)arg;
    unsigned quiet = 0;         /* polls in a row that found nothing queued or sent */
    uint64_t busy_nap = tap->desc.flush_bytes <= DNSTAP_FLUSH_AT_ONCE ? 0 : 1;
    while (!dnstap_closed(tap)) {
        uint64_t now = dnstap_clock_ms(), sent = tap->sent;
        dnstap_io_t io;
        uint64_t wait, nap = quiet == 0 ? busy_nap : quiet < 20 ? 1 : tap->desc.thread_wake_ms;
        int stop = DNSTAP__LOAD_ACQ(&tap->thread_stop);
        if (stop == DNSTAP__STOP_NOW) { dnstap__end_now(tap, "dnstap_close_now()"); break; }
        if (stop && !tap->shutting_down) dnstap__shutdown(tap, now);
        io = dnstap_io(tap, now);
        wait = io.deadline_ms > now ? io.deadline_ms - now : 0;
        /* new frames wake nobody: nap while connected and no write waits,
           even when the connection is watched for reads; while away (backing
           off, connecting, handshaking) nothing can be written before the
           deadline */
        if (wait > nap && !io.want_write && tap->state == DNSTAP__S_RUNNING) wait = nap;
        if (wait > tap->desc.thread_wake_ms) wait = tap->desc.thread_wake_ms;
        if (wait > 0x7FFFFFFFu) wait = 0x7FFFFFFFu;   /* poll() takes an int */
        if (wait) {
            struct pollfd pfd[2];
            char drained[16];
            pfd[0].fd = tap->thread_wake[0];   /* a stop request */
            pfd[0].events = POLLIN;
            pfd[1].fd = io.fd;
            pfd[1].events = (short)((io.want_read ? POLLIN : 0) | (io.want_write ? POLLOUT : 0));
            pfd[0].revents = pfd[1].revents = 0;
            (void)poll(pfd, io.fd >= 0 && pfd[1].events ? 2 : 1, (int)wait);
            if (pfd[0].revents) while (read(tap->thread_wake[0], drained, sizeof drained) > 0) {}
        }
        (void)dnstap_poll(tap, dnstap_clock_ms());
        quiet = tap->sent != sent || dnstap__queued(tap) ? 0 : quiet + 1;
    }
    return NULL;
}

DNSTAP_API dnstap_result_t dnstap_thread_start(dnstap_t *tap) {
    pthread_t th;
    int i;
    if (tap == NULL || tap->thread_running) return DNSTAP_ERR_INVALID;
    DNSTAP__STORE_REL(&tap->thread_stop, 0);
    if (pipe(tap->thread_wake) != 0) return DNSTAP_ERR_IO;
    for (i = 0; i < 2; i++) {
        (void)fcntl(tap->thread_wake[i], F_SETFL, fcntl(tap->thread_wake[i], F_GETFL, 0) | O_NONBLOCK);
        (void)fcntl(tap->thread_wake[i], F_SETFD, FD_CLOEXEC);
    }
    if (pthread_create(&th, NULL, dnstap__writer_main, tap) != 0) {
        dnstap__thread_wake_close(tap);
        return DNSTAP_ERR_IO;
    }
    DNSTAP_MEMCPY(tap->thread.bytes, &th, sizeof th);
    tap->thread_running = 1;
    return DNSTAP_OK;
}

/* Ask the writer thread to stop (DNSTAP__STOP_SHUTDOWN or _NOW) and join it. */
static dnstap_result_t dnstap__thread_join(dnstap_t *tap, int how) {
    pthread_t th;
    if (tap == NULL || !tap->thread_running) return DNSTAP_ERR_INVALID;
    DNSTAP__STORE_REL(&tap->thread_stop, how);
    dnstap__thread_wake(tap);
    DNSTAP_MEMCPY(&th, tap->thread.bytes, sizeof th);
    (void)pthread_join(th, NULL);
    tap->thread_running = 0;
    dnstap__thread_wake_close(tap);
    return tap->last_error;
}

DNSTAP_API dnstap_result_t dnstap_thread_stop(dnstap_t *tap) {
    return dnstap__thread_join(tap, DNSTAP__STOP_SHUTDOWN);
}
#endif /* DNSTAP_WITH_THREAD */
#else
DNSTAP_API uint64_t dnstap_clock_ms(void) { return 0; }
DNSTAP_API dnstap_result_t dnstap_run(dnstap_t *tap, uint64_t timeout_ms) {
    (void)tap; (void)timeout_ms;
    return DNSTAP_ERR_UNSUPPORTED;
}
#endif /* posix helpers */

#if !(DNSTAP__POSIX && defined(DNSTAP_WITH_THREAD))
DNSTAP_API dnstap_result_t dnstap_thread_start(dnstap_t *tap) { (void)tap; return DNSTAP_ERR_UNSUPPORTED; }
DNSTAP_API dnstap_result_t dnstap_thread_stop(dnstap_t *tap) { (void)tap; return DNSTAP_ERR_UNSUPPORTED; }
#endif

DNSTAP_API void dnstap_close_now(dnstap_t *tap) {
    if (tap == NULL) return;
#if DNSTAP__POSIX && defined(DNSTAP_WITH_THREAD)
    if (tap->thread_running) { (void)dnstap__thread_join(tap, DNSTAP__STOP_NOW); return; }
#endif
    if (tap->state != DNSTAP__S_CLOSED) dnstap__end_now(tap, "dnstap_close_now()");
}

/* >>tls -----------------------------------------------------------------
   tls:// endpoints: Mbed TLS (2.28 or 3.x) over the stock TCP transport,
   which stays underneath as the "inner" transport. connect() first runs the
   TCP connect, then the handshake, one non-blocking step per call, so the
   connection state machine's connect timeout bounds both. WANT_READ and
   WANT_WRITE become DNSTAP_ERR_AGAIN; the library then calls again with the
   same arguments, which is what mbedtls_ssl_write() requires. */
#ifdef DNSTAP_WITH_MBEDTLS

DNSTAP_API void dnstap_tls_free(dnstap_tls_t *t) {
    if (t == NULL) return;
    mbedtls_ssl_free(&t->ssl);
    mbedtls_ssl_config_free(&t->conf);
    mbedtls_x509_crt_free(&t->ca);
    mbedtls_x509_crt_free(&t->cert);
    mbedtls_pk_free(&t->key);
    mbedtls_ctr_drbg_free(&t->drbg);
    mbedtls_entropy_free(&t->entropy);
    t->state = 0;
}

#if DNSTAP__POSIX && !defined(DNSTAP_NO_SOCKETS)
#include <mbedtls/version.h>
#include <mbedtls/error.h>
#include <mbedtls/asn1.h>
#include <mbedtls/sha256.h>
#include <mbedtls/net_sockets.h>   /* only for the MBEDTLS_ERR_NET_* values */
#if MBEDTLS_VERSION_NUMBER >= 0x03000000 && defined(MBEDTLS_PSA_CRYPTO_C)
#include <psa/crypto.h>
#endif

#if MBEDTLS_VERSION_NUMBER < 0x02070000
#error "DNSTAP_WITH_MBEDTLS needs Mbed TLS 2.7 or later (tested with 2.28; 3.x supported)"
#endif
#if !defined(MBEDTLS_SSL_CLI_C) || !defined(MBEDTLS_X509_CRT_PARSE_C) || !defined(MBEDTLS_CTR_DRBG_C) || \
    !defined(MBEDTLS_ENTROPY_C) || !defined(MBEDTLS_SHA256_C)
#error "DNSTAP_WITH_MBEDTLS needs MBEDTLS_SSL_CLI_C, X509_CRT_PARSE_C, CTR_DRBG_C, ENTROPY_C and SHA256_C"
#endif

/* The certificate's SubjectPublicKeyInfo, DER, as it is in the certificate
   (private in 3.0.x only). */
#if MBEDTLS_VERSION_NUMBER >= 0x03000000 && MBEDTLS_VERSION_NUMBER < 0x03010000
#define DNSTAP__TLS_PK_RAW(crt) ((crt)->MBEDTLS_PRIVATE(pk_raw))
#else
#define DNSTAP__TLS_PK_RAW(crt) ((crt)->pk_raw)
#endif
/* Bytes of records Mbed TLS has still to send (private in 3.x). */
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
#define DNSTAP__TLS_OUT_LEFT(ssl) ((ssl)->MBEDTLS_PRIVATE(out_left))
#else
#define DNSTAP__TLS_OUT_LEFT(ssl) ((ssl)->out_left)
#endif

enum { DNSTAP__TLS_TCP = 0, DNSTAP__TLS_HANDSHAKE, DNSTAP__TLS_OPEN, DNSTAP__TLS_BROKEN };

/* "Call again" results. */
static bool dnstap__tls_again(int ret) {
    if (ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE) return true;
#ifdef MBEDTLS_ERR_SSL_ASYNC_IN_PROGRESS
    if (ret == MBEDTLS_ERR_SSL_ASYNC_IN_PROGRESS) return true;
#endif
#ifdef MBEDTLS_ERR_SSL_CRYPTO_IN_PROGRESS
    if (ret == MBEDTLS_ERR_SSL_CRYPTO_IN_PROGRESS) return true;
#endif
    return false;
}

/* TLS 1.3 (3.x): a session ticket was processed; call again at once. */
static bool dnstap__tls_ticket(int ret) {
#ifdef MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET
    return ret == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET;
#else
    (void)ret;
    return false;
#endif
}

/* Mbed TLS's text for an error code, and the code as -0xNNNN. */
static void dnstap__tls_adderr(dnstap__line_t *l, int err) {
    char hex[8];
    unsigned v = err < 0 ? (unsigned)-err : (unsigned)err, k;
#if defined(MBEDTLS_ERROR_C) || defined(MBEDTLS_ERROR_STRERROR_DUMMY)
    char buf[160];
    mbedtls_strerror(err, buf, sizeof buf);
    dnstap__add(dnstap__add(l, buf), " (");
#else
    dnstap__add(l, "(");
#endif
    for (k = 0; k < 4; k++) hex[k] = "0123456789abcdef"[(v >> (12 - 4 * k)) & 15u];
    hex[4] = 0;
    dnstap__add(dnstap__add(dnstap__add(l, err < 0 ? "-0x" : "0x"), hex), ")");
}

static void dnstap__tls_log(const dnstap_tls_t *t, dnstap_log_level_t level, const dnstap__line_t *l) {
    if (t->logger.func) t->logger.func(t->logger.ctx, level, l->s);
}

static void dnstap__tls_head(const dnstap_tls_t *t, dnstap__line_t *l, const char *what) {
    l->n = 0;
    dnstap__add(dnstap__add(dnstap__add(dnstap__add(l, "dnstap: "), t->endpoint), ": "), what);
}

/* The inner transport as Mbed TLS's BIO. */
static int dnstap__tls_send(void *ctx, const unsigned char *buf, size_t len) {
    dnstap_tls_t *t = (dnstap_tls_t *)ctx;
    int n = t->inner.write(t->inner.ctx, buf, len);
    if (n > 0) return n;
    if (n == 0 || n == DNSTAP_ERR_AGAIN) return MBEDTLS_ERR_SSL_WANT_WRITE;
    return n == DNSTAP_ERR_CLOSED ? MBEDTLS_ERR_NET_CONN_RESET : MBEDTLS_ERR_NET_SEND_FAILED;
}

static int dnstap__tls_recv(void *ctx, unsigned char *buf, size_t len) {
    dnstap_tls_t *t = (dnstap_tls_t *)ctx;
    int n = t->inner.read(t->inner.ctx, buf, len);
    if (n > 0 && t->rx_first < 0) t->rx_first = buf[0];
    if (n >= 0) return n;   /* 0: end of stream */
    if (n == DNSTAP_ERR_AGAIN) return MBEDTLS_ERR_SSL_WANT_READ;
    return n == DNSTAP_ERR_CLOSED ? MBEDTLS_ERR_NET_CONN_RESET : MBEDTLS_ERR_NET_RECV_FAILED;
}

static bool dnstap__tls_san_ip(const mbedtls_x509_crt *crt, const uint8_t *ip, size_t len) {
    const mbedtls_x509_sequence *san;
    for (san = &crt->subject_alt_names; san != NULL; san = san->next)
        if (san->buf.tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7) && san->buf.p != NULL && san->buf.len == len &&
            dnstap__equal(san->buf.p, ip, len))
            return true;
    return false;
}

/* Called by Mbed TLS for each certificate of the chain, the server's last
   (depth 0). Adds the checks Mbed TLS does not make: the iPAddress name of
   an IP endpoint and the key pin; and with a pin and no CA (or skipverify),
   lets the pin decide alone. */
static int dnstap__tls_verify(void *ctx, mbedtls_x509_crt *crt, int depth, uint32_t *flags) {
    dnstap_tls_t *t = (dnstap_tls_t *)ctx;
    if (t->pin_only) *flags = 0;
    if (depth != 0) return 0;
    if (t->ip_len && !t->pin_only && !dnstap__tls_san_ip(crt, t->ip, t->ip_len))
        *flags |= (uint32_t)MBEDTLS_X509_BADCERT_CN_MISMATCH;
    if (t->has_pin) {
        unsigned char h[32];
        const mbedtls_x509_buf *spki = &DNSTAP__TLS_PK_RAW(crt);
        int e = -1;
        if (spki->p != NULL) {
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
            e = mbedtls_sha256(spki->p, spki->len, h, 0);
#else
            e = mbedtls_sha256_ret(spki->p, spki->len, h, 0);
#endif
        }
        t->pin_ok = e == 0 && dnstap__equal(h, t->pin, sizeof h);
        if (!t->pin_ok) *flags |= (uint32_t)MBEDTLS_X509_BADCERT_OTHER;
    }
    return 0;
}

static void dnstap__tls_handshake_failed(dnstap_tls_t *t, int ret) {
    dnstap__line_t l;
    uint32_t flags = mbedtls_ssl_get_verify_result(&t->ssl);
    dnstap__tls_head(t, &l, "TLS handshake failed: ");
    dnstap__tls_adderr(&l, ret);
    if (t->rx_first >= 0 && (t->rx_first < 20 || t->rx_first > 23)) {   /* TLS record types are 20..23 */
        char hex[3];
        hex[0] = "0123456789abcdef"[(t->rx_first >> 4) & 15];
        hex[1] = "0123456789abcdef"[t->rx_first & 15];
        hex[2] = 0;
        dnstap__add(dnstap__add(dnstap__add(&l, "; the peer does not speak TLS: its first byte, 0x"), hex),
                    ", begins no TLS record (a plain TCP receiver at a tls:// endpoint?)");
    } else if (t->rx_first < 0 && (ret == MBEDTLS_ERR_SSL_CONN_EOF || ret == MBEDTLS_ERR_NET_CONN_RESET)) {
        dnstap__add(&l, "; the peer closed the connection without a TLS answer: it does not speak TLS "
                        "(a plain TCP receiver at a tls:// endpoint?)");
    }
    if (t->has_pin && !t->pin_ok && flags != (uint32_t)-1 && (flags & (uint32_t)MBEDTLS_X509_BADCERT_OTHER))
        dnstap__add(&l, "; the server's key does not match tls_pin_sha256");
#if !defined(MBEDTLS_X509_REMOVE_INFO)
    if (t->verify && flags != 0 && flags != (uint32_t)-1) {
        char info[256];
        char *p;
        if (mbedtls_x509_crt_verify_info(info, sizeof info, " ", flags) > 0) {
            for (p = info; *p; p++) if (*p == '\n') *p = p[1] ? ';' : 0;
            dnstap__add(dnstap__add(&l, "; certificate:"), info);
        }
    }
#endif
    dnstap__tls_log(t, DNSTAP_LOG_WARN, &l);
}

static dnstap_result_t dnstap__tls_connect(void *ctx) {
    dnstap_tls_t *t = (dnstap_tls_t *)ctx;
    int ret;
    if (t->state == DNSTAP__TLS_OPEN) return DNSTAP_OK;
    if (t->state != DNSTAP__TLS_HANDSHAKE) {
        dnstap_result_t r;
        if (t->attempt_ms == 0) t->attempt_ms = dnstap_clock_ms() + 1;   /* + 1: never 0 */
        r = t->inner.connect(t->inner.ctx);
        t->want = DNSTAP_WANT_WRITE;
        t->rx_first = -1;
        if (r != DNSTAP_ERR_AGAIN && r != DNSTAP_OK) t->attempt_ms = 0;
        if (r != DNSTAP_OK) return r;   /* TCP: in progress, or refused (not a handshake failure) */
        if (t->used && (ret = mbedtls_ssl_session_reset(&t->ssl)) != 0) {
            dnstap__tls_handshake_failed(t, ret);
            return DNSTAP_ERR_IO;
        }
        t->used = 1;
        t->pin_ok = 0;
        t->state = DNSTAP__TLS_HANDSHAKE;
    }
    do ret = mbedtls_ssl_handshake(&t->ssl); while (dnstap__tls_ticket(ret));
    if (dnstap__tls_again(ret)) {
        t->want = ret == MBEDTLS_ERR_SSL_WANT_WRITE ? DNSTAP_WANT_WRITE
                : ret == MBEDTLS_ERR_SSL_WANT_READ ? DNSTAP_WANT_READ : DNSTAP_WANT_READ | DNSTAP_WANT_WRITE;
        /* A TLS server answers a ClientHello at once; a plain TCP receiver
           (a Frame Streams one waits for READY) never does. Say so before
           the connect timeout would call it a mere timeout. */
        if (t->rx_first < 0 && t->answer_ms && dnstap_clock_ms() + 1 >= t->attempt_ms + t->answer_ms) {
            dnstap__line_t l;
            dnstap__tls_head(t, &l, "TLS handshake failed: no answer to the ClientHello in ");
            dnstap__add(dnstap__addu(&l, t->answer_ms), " ms: the peer does not speak TLS (a plain TCP "
                                                         "receiver at a tls:// endpoint?)");
            dnstap__tls_log(t, DNSTAP_LOG_WARN, &l);
            t->state = DNSTAP__TLS_BROKEN;
            t->attempt_ms = 0;
            return DNSTAP_ERR_TLS;
        }
        return DNSTAP_ERR_AGAIN;
    }
    t->attempt_ms = 0;
    if (ret == 0 && ((t->verify && mbedtls_ssl_get_verify_result(&t->ssl) != 0) || (t->has_pin && !t->pin_ok)))
        ret = MBEDTLS_ERR_X509_CERT_VERIFY_FAILED;   /* not reached with VERIFY_REQUIRED; never trust it */
    if (ret != 0) {
        t->state = DNSTAP__TLS_BROKEN;
        dnstap__tls_handshake_failed(t, ret);
        return DNSTAP_ERR_TLS;
    }
    t->state = DNSTAP__TLS_OPEN;
    {
        dnstap__line_t l;
        dnstap__tls_head(t, &l, "TLS ");
        dnstap__add(dnstap__add(dnstap__add(&l, mbedtls_ssl_get_version(&t->ssl)), " "),
                    mbedtls_ssl_get_ciphersuite(&t->ssl));
        if (!t->verify) {
            dnstap__add(&l, "; skipverify: the receiver is NOT authenticated");
            dnstap__tls_log(t, DNSTAP_LOG_WARN, &l);
        } else {
            dnstap__add(&l, t->pin_only ? "; server key matches the pin" : "; server certificate verified");
            dnstap__tls_log(t, DNSTAP_LOG_INFO, &l);
        }
    }
    return DNSTAP_OK;
}

/* An error that ends the connection: logged unless it is a plain close. */
static int dnstap__tls_error(dnstap_tls_t *t, int ret, const char *what) {
    t->state = DNSTAP__TLS_BROKEN;
    if (ret == MBEDTLS_ERR_NET_CONN_RESET || ret == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY || ret == MBEDTLS_ERR_SSL_CONN_EOF)
        return DNSTAP_ERR_CLOSED;
    {
        dnstap__line_t l;
        dnstap__tls_head(t, &l, what);
        dnstap__tls_adderr(&l, ret);
        dnstap__tls_log(t, DNSTAP_LOG_WARN, &l);
    }
    return DNSTAP_ERR_IO;
}

/* A write that would block leaves its record in Mbed TLS, which the retry
   (same bytes, rule 3) sends. Anything else that flushes Mbed TLS's output
   meanwhile (an alert a read answers with, such as the refusal of a
   renegotiation, or close_notify) sends the record first, and the retry
   would then encrypt the same bytes again: so no read and no close_notify
   until the write is through. The other way round, an alert that a read
   could not send waits in Mbed TLS, and a write would send only it and
   answer len: it goes out first, by a write of nothing. */
static int dnstap__tls_write(void *ctx, const uint8_t *buf, size_t len) {
    dnstap_tls_t *t = (dnstap_tls_t *)ctx;
    int ret;
    if (!t->write_pending && DNSTAP__TLS_OUT_LEFT(&t->ssl) != 0) {
        do ret = mbedtls_ssl_write(&t->ssl, buf, 0); while (dnstap__tls_ticket(ret));
        if (ret < 0) return dnstap__tls_again(ret) ? DNSTAP_ERR_AGAIN : dnstap__tls_error(t, ret, "TLS write failed: ");
    }
    do ret = mbedtls_ssl_write(&t->ssl, buf, len); while (dnstap__tls_ticket(ret));
    t->write_pending = ret < 0 && dnstap__tls_again(ret);
    if (ret >= 0) return ret;
    if (dnstap__tls_again(ret)) return DNSTAP_ERR_AGAIN;
    return dnstap__tls_error(t, ret, "TLS write failed: ");
}

static int dnstap__tls_read(void *ctx, uint8_t *buf, size_t len) {
    dnstap_tls_t *t = (dnstap_tls_t *)ctx;
    int ret;
    if (t->write_pending) return DNSTAP_ERR_AGAIN;
    do ret = mbedtls_ssl_read(&t->ssl, buf, len); while (dnstap__tls_ticket(ret));
    if (ret >= 0) return ret;
    if (ret == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) return 0;
    if (dnstap__tls_again(ret)) return DNSTAP_ERR_AGAIN;
    return dnstap__tls_error(t, ret, "TLS read failed: ");
}

/* close_notify (one non-blocking attempt: the alert is small and the
   socket's buffer almost always takes it), then close the TCP connection.
   The session is reset at the next connect. */
static void dnstap__tls_close(void *ctx) {
    dnstap_tls_t *t = (dnstap_tls_t *)ctx;
    if (t->state == DNSTAP__TLS_OPEN && !t->write_pending) (void)mbedtls_ssl_close_notify(&t->ssl);
    if (t->inner.close) t->inner.close(t->inner.ctx);
    t->write_pending = 0;
    t->state = DNSTAP__TLS_TCP;
    t->attempt_ms = 0;
}

static int dnstap__tls_fd(void *ctx) {
    dnstap_tls_t *t = (dnstap_tls_t *)ctx;
    return t->inner.fd ? t->inner.fd(t->inner.ctx) : -1;
}

/* Offered by default: TLS 1.3's suites (3.x), and for TLS 1.2 only ECDHE
   (forward secrecy) with AEAD ciphers, as modern server profiles do; no CBC,
   no SHA-1 MAC, no static RSA key exchange. Suites not built into Mbed TLS
   are left out of the ClientHello. */
static const int dnstap__tls_default_suites[] = {
#ifdef MBEDTLS_TLS1_3_AES_128_GCM_SHA256
    MBEDTLS_TLS1_3_AES_128_GCM_SHA256, MBEDTLS_TLS1_3_AES_256_GCM_SHA384, MBEDTLS_TLS1_3_CHACHA20_POLY1305_SHA256,
#endif
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, 0
};

/* desc.tls_ciphersuites into t->suites: names separated by ':', ',' or
   spaces, in IANA spelling (TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
   TLS_AES_128_GCM_SHA256) or Mbed TLS's (TLS-ECDHE-RSA-WITH-AES-128-GCM-SHA256,
   TLS1-3-AES-128-GCM-SHA256), or IANA numbers (0xC02F). NULL when all are
   known and built in, else the first bad name (cut to fit *bad). */
static const char *dnstap__tls_suites(dnstap_tls_t *t, const char *list, char *bad, size_t bad_cap) {
    size_t n = 0;
    if (list == NULL) {
        while (dnstap__tls_default_suites[n]) { t->suites[n] = dnstap__tls_default_suites[n]; n++; }
        t->suites[n] = 0;
        return NULL;
    }
    while (*list) {
        char name[80];
        size_t k = 0, len = 0;
        int id = 0;
        while (*list == ':' || *list == ',' || *list == ' ' || *list == '\t') list++;
        while (list[len] && list[len] != ':' && list[len] != ',' && list[len] != ' ' && list[len] != '\t') len++;
        if (len == 0) break;
        if (len < sizeof name) {
            for (k = 0; k < len; k++) {
                char c = list[k];
                name[k] = c == '_' ? '-' : (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
            }
            name[len] = 0;
            if (name[0] == '0' && name[1] == 'X') {   /* an IANA number */
                for (k = 2; name[k] && k < 6; k++) {
                    char c = name[k];
                    int v = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
                    if (v < 0) break;
                    id = id * 16 + v;
                }
                if (name[k] || k == 2 || mbedtls_ssl_ciphersuite_from_id(id) == NULL) id = 0;
            } else {
                const char *rest;
                if ((dnstap__prefix(name, "TLS-AES-", &rest) || dnstap__prefix(name, "TLS-CHACHA20-", &rest)) &&
                    len + 3 < sizeof name) {   /* TLS 1.3's IANA names: Mbed TLS says TLS1-3-... */
                    for (k = len + 1; k-- > 3;) name[k + 3] = name[k];
                    DNSTAP_MEMCPY(name, "TLS1-3", 6);
                }
                id = mbedtls_ssl_get_ciphersuite_id(name);
            }
        }
        if (id == 0 || n == DNSTAP_TLS_SUITES_MAX) {
            if (!dnstap__copy(bad, bad_cap, list, len)) dnstap__copy(bad, bad_cap, list, bad_cap - 1);
            return bad;
        }
        t->suites[n++] = id;
        list += len;
    }
    t->suites[n] = 0;
    if (n == 0) { dnstap__copy(bad, bad_cap, "(empty list)", 12); return bad; }
    return NULL;
}

/* Setup failure: log, free what Mbed TLS allocated, return r. */
static dnstap_result_t dnstap__tls_setup_failed(dnstap_tls_t *t, dnstap_result_t r, const char *what,
                                                const char *arg, int ret) {
    dnstap__line_t l;
    dnstap__tls_head(t, &l, what);
    if (arg) dnstap__add(dnstap__add(dnstap__add(&l, " "), arg), ":");
    if (ret) dnstap__tls_adderr(dnstap__add(&l, " "), ret);
    dnstap__tls_log(t, DNSTAP_LOG_ERROR, &l);
    dnstap_tls_free(t);
    return r;
}

static int dnstap__tls_want(void *ctx) {
    const dnstap_tls_t *t = (const dnstap_tls_t *)ctx;
    if (t->state == DNSTAP__TLS_OPEN) return t->write_pending ? DNSTAP_WANT_WRITE : DNSTAP_WANT_READ | DNSTAP_WANT_WRITE;
    return t->want;
}

static dnstap_result_t dnstap__tls_setup(dnstap_t *tap, dnstap__sock_t *s) {
    const dnstap_desc_t *d = &tap->desc;
    dnstap_tls_t *t = (dnstap_tls_t *)d->tls_state;
    const char *name = d->tls_server_name && d->tls_server_name[0] ? d->tls_server_name : s->host;
    bool have_ca = d->tls_ca_file != NULL || d->tls_ca_path != NULL;
    static const unsigned char pers[] = "dnstap.h tls";
    int ret;
    if (t == NULL) {
        dnstap__line_t l;
        l.n = 0;
        dnstap__add(dnstap__add(dnstap__add(&l, "dnstap: "), dnstap__endpoint(tap)),
                    ": tls:// needs desc.tls_state (a dnstap_tls_t)");
        dnstap__say(tap, DNSTAP_LOG_ERROR, &l);
        return DNSTAP_ERR_INVALID;
    }
    DNSTAP_MEMSET(t, 0, sizeof *t);
    mbedtls_ssl_init(&t->ssl);
    mbedtls_ssl_config_init(&t->conf);
    mbedtls_x509_crt_init(&t->ca);
    mbedtls_x509_crt_init(&t->cert);
    mbedtls_pk_init(&t->key);
    mbedtls_entropy_init(&t->entropy);
    mbedtls_ctr_drbg_init(&t->drbg);
    t->inner = tap->tr;
    t->logger = d->logger;
    t->endpoint = dnstap__endpoint(tap);
    t->verify = !d->skipverify || d->tls_pin_sha256 != NULL;
    t->has_pin = d->tls_pin_sha256 != NULL;
    t->pin_only = t->has_pin && (d->skipverify || !have_ca);
    if (t->has_pin) DNSTAP_MEMCPY(t->pin, d->tls_pin_sha256, sizeof t->pin);
    if (!have_ca && !t->has_pin && !d->skipverify)
        return dnstap__tls_setup_failed(t, DNSTAP_ERR_INVALID,
                                        "tls:// needs tls_ca_file, tls_ca_path or tls_pin_sha256 (or skipverify)",
                                        NULL, 0);
    if ((d->tls_cert_file == NULL) != (d->tls_key_file == NULL))
        return dnstap__tls_setup_failed(t, DNSTAP_ERR_INVALID, "tls_cert_file and tls_key_file go together",
                                        NULL, 0);
#if MBEDTLS_VERSION_NUMBER >= 0x03000000 && defined(MBEDTLS_PSA_CRYPTO_C)
    if (psa_crypto_init() != PSA_SUCCESS)
        return dnstap__tls_setup_failed(t, DNSTAP_ERR_IO, "TLS: psa_crypto_init() failed", NULL, 0);
#endif
    ret = mbedtls_ctr_drbg_seed(&t->drbg, mbedtls_entropy_func, &t->entropy, pers, sizeof pers - 1);
    if (ret != 0) return dnstap__tls_setup_failed(t, DNSTAP_ERR_IO, "TLS: no entropy for the DRBG", NULL, ret);
#ifndef MBEDTLS_FS_IO   /* no file system: only a pin (or skipverify) can be used */
    if (have_ca || d->tls_cert_file)
        return dnstap__tls_setup_failed(t, DNSTAP_ERR_UNSUPPORTED, "TLS: certificate files need MBEDTLS_FS_IO",
                                        NULL, 0);
#else
    if (d->tls_ca_file) {
        ret = mbedtls_x509_crt_parse_file(&t->ca, d->tls_ca_file);
        if (ret < 0 || t->ca.version == 0)
            return dnstap__tls_setup_failed(t, DNSTAP_ERR_INVALID, "TLS: tls_ca_file", d->tls_ca_file,
                                            ret < 0 ? ret : MBEDTLS_ERR_X509_INVALID_FORMAT);
    }
    if (d->tls_ca_path) {
        ret = mbedtls_x509_crt_parse_path(&t->ca, d->tls_ca_path);
        if (ret < 0 || t->ca.version == 0)
            return dnstap__tls_setup_failed(t, DNSTAP_ERR_INVALID, "TLS: tls_ca_path", d->tls_ca_path,
                                            ret < 0 ? ret : MBEDTLS_ERR_X509_INVALID_FORMAT);
    }
    if (d->tls_cert_file) {
        ret = mbedtls_x509_crt_parse_file(&t->cert, d->tls_cert_file);
        if (ret != 0)
            return dnstap__tls_setup_failed(t, DNSTAP_ERR_INVALID, "TLS: tls_cert_file", d->tls_cert_file,
                                            ret < 0 ? ret : MBEDTLS_ERR_X509_INVALID_FORMAT);
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
        ret = mbedtls_pk_parse_keyfile(&t->key, d->tls_key_file, NULL, mbedtls_ctr_drbg_random, &t->drbg);
#else
        ret = mbedtls_pk_parse_keyfile(&t->key, d->tls_key_file, NULL);
#endif
        if (ret != 0)
            return dnstap__tls_setup_failed(t, DNSTAP_ERR_INVALID, "TLS: tls_key_file", d->tls_key_file, ret);
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
        ret = mbedtls_pk_check_pair(&t->cert.pk, &t->key, mbedtls_ctr_drbg_random, &t->drbg);
#else
        ret = mbedtls_pk_check_pair(&t->cert.pk, &t->key);
#endif
        if (ret != 0)
            return dnstap__tls_setup_failed(t, DNSTAP_ERR_INVALID, "TLS: tls_key_file does not match tls_cert_file",
                                            NULL, ret);
    }
#endif /* MBEDTLS_FS_IO */
    ret = mbedtls_ssl_config_defaults(&t->conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                      MBEDTLS_SSL_PRESET_DEFAULT);
    if (ret != 0) return dnstap__tls_setup_failed(t, DNSTAP_ERR_INVALID, "TLS: configuration", NULL, ret);
    {
        char bad[64];
        if (dnstap__tls_suites(t, d->tls_ciphersuites, bad, sizeof bad) != NULL)
            return dnstap__tls_setup_failed(t, DNSTAP_ERR_INVALID,
                                            "TLS: tls_ciphersuites: unknown, not built into Mbed TLS, or too many:",
                                            bad, 0);
        mbedtls_ssl_conf_ciphersuites(&t->conf, t->suites);
#if MBEDTLS_VERSION_NUMBER >= 0x03020000 && defined(MBEDTLS_SSL_PROTO_TLS1_3) && defined(MBEDTLS_SSL_PROTO_TLS1_2)
        {   /* offer a version only with suites for it: a TLS 1.2 server that
               knows 1.3 marks its answer as a downgrade, which ends the handshake */
            bool v13 = false, v12 = false;
            int *p;
            for (p = t->suites; *p; p++) {
                if ((*p & 0xFF00) == 0x1300) v13 = true;
                else v12 = true;
            }
            if (!v13) mbedtls_ssl_conf_max_tls_version(&t->conf, MBEDTLS_SSL_VERSION_TLS1_2);
            if (!v12) mbedtls_ssl_conf_min_tls_version(&t->conf, MBEDTLS_SSL_VERSION_TLS1_3);
        }
#endif
    }
    /* no answer to the ClientHello by then: not a TLS server (see connect) */
    t->answer_ms = d->connect_timeout_ms - (d->connect_timeout_ms / 4 < 250 ? d->connect_timeout_ms / 4 : 250);
#if MBEDTLS_VERSION_NUMBER < 0x03000000
    mbedtls_ssl_conf_min_version(&t->conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3); /* TLS 1.2 */
#endif
    mbedtls_ssl_conf_rng(&t->conf, mbedtls_ctr_drbg_random, &t->drbg);
    /* REQUIRED: a certificate that fails a check ends the handshake with an
       alert, before a byte of Frame Streams is sent. */
    mbedtls_ssl_conf_authmode(&t->conf, t->verify ? MBEDTLS_SSL_VERIFY_REQUIRED : MBEDTLS_SSL_VERIFY_NONE);
    mbedtls_ssl_conf_ca_chain(&t->conf, &t->ca, NULL);   /* may be empty with a pin */
    mbedtls_ssl_conf_verify(&t->conf, dnstap__tls_verify, t);
    if (d->tls_cert_file) {
        ret = mbedtls_ssl_conf_own_cert(&t->conf, &t->cert, &t->key);
        if (ret != 0) return dnstap__tls_setup_failed(t, DNSTAP_ERR_INVALID, "TLS: client certificate", NULL, ret);
    }
    ret = mbedtls_ssl_setup(&t->ssl, &t->conf);
    if (ret != 0) return dnstap__tls_setup_failed(t, DNSTAP_ERR_INVALID, "TLS: mbedtls_ssl_setup", NULL, ret);
    /* The name checked and sent as SNI. An IP address is matched against
       the certificate's iPAddress names here (Mbed TLS 2.x does not), and
       is not sent as SNI (RFC 6066 allows only host names). */
    if (inet_pton(AF_INET, name, t->ip) == 1) t->ip_len = 4;
    else if (inet_pton(AF_INET6, name, t->ip) == 1) t->ip_len = 16;
    ret = mbedtls_ssl_set_hostname(&t->ssl, t->ip_len ? NULL : name);
    if (ret != 0) return dnstap__tls_setup_failed(t, DNSTAP_ERR_INVALID, "TLS: server name", name, ret);
    mbedtls_ssl_set_bio(&t->ssl, t, dnstap__tls_send, dnstap__tls_recv, NULL);
    if (d->skipverify) {
        dnstap__line_t l;
        dnstap__tls_head(t, &l, t->has_pin
            ? "WARNING: skipverify: no CA, date or name checks; only the server key pin is checked"
            : "WARNING: skipverify: the receiver's certificate is NOT verified; anyone on the path can read and "
              "alter this dnstap stream");
        dnstap__tls_log(t, DNSTAP_LOG_WARN, &l);
    }
    tap->tr.connect = dnstap__tls_connect;
    tap->tr.write = dnstap__tls_write;
    tap->tr.read = dnstap__tls_read;
    tap->tr.close = dnstap__tls_close;
    tap->tr.fd = dnstap__tls_fd;
    tap->tr.want = dnstap__tls_want;
    tap->tr.writev = NULL;   /* records go through write() (rule 9) */
    tap->tr.ctx = t;
    return DNSTAP_OK;
}
#endif /* POSIX sockets */
#endif /* DNSTAP_WITH_MBEDTLS */

DNSTAP_API dnstap_result_t dnstap_init(dnstap_t *tap, const dnstap_desc_t *desc) {
    dnstap_result_t r;
    if (tap == NULL || desc == NULL) return DNSTAP_ERR_INVALID;
    r = dnstap__init_common(tap, desc);
    if (r == DNSTAP_OK) {
        if (desc->transport.write) tap->tr = desc->transport;
        else r = desc->endpoint ? dnstap__sock_setup(tap, desc->endpoint) : DNSTAP_ERR_INVALID;
    }
    if (r != DNSTAP_OK) {   /* closed, with no queue: nothing logs, polls or connects */
        DNSTAP_MEMSET(tap, 0, sizeof *tap);
        tap->state = DNSTAP__S_CLOSED;
        tap->shutting_down = 1;
    }
    return r;
}

/* >>names --------------------------------------------------------------- */

DNSTAP_API const char *dnstap_result_str(dnstap_result_t r) {
    switch (r) {
    case DNSTAP_OK: return "ok";
    case DNSTAP_ERR_AGAIN: return "would block / need more input";
    case DNSTAP_ERR_INVALID: return "invalid argument or state";
    case DNSTAP_ERR_NOSPACE: return "buffer too small";
    case DNSTAP_ERR_TOO_LONG: return "field or message longer than the payload limit";
    case DNSTAP_ERR_ENUM: return "enum value not in the dnstap schema";
    case DNSTAP_ERR_MISSING: return "required field missing";
    case DNSTAP_ERR_IO: return "write failed";
    case DNSTAP_ERR_DECODE: return "malformed Dnstap protobuf";
    case DNSTAP_ERR_FRAME_TOO_BIG: return "data frame larger than the limit";
    case DNSTAP_ERR_CONTROL_TOO_BIG: return "control frame larger than 512 bytes";
    case DNSTAP_ERR_CONTROL_TYPE: return "unknown control frame type";
    case DNSTAP_ERR_CONTROL_FIELD: return "malformed or disallowed control frame field";
    case DNSTAP_ERR_CONTENT_TYPE_TOO_LONG: return "content type longer than 256 bytes";
    case DNSTAP_ERR_CONTENT_TYPE: return "unexpected content type";
    case DNSTAP_ERR_SEQUENCE: return "frame out of sequence";
    case DNSTAP_ERR_TRUNCATED: return "input ends inside a frame";
    case DNSTAP_ERR_UNFINISHED: return "input ends before STOP";
    case DNSTAP_ERR_UNSUPPORTED: return "not available in this build";
    case DNSTAP_ERR_FULL: return "queue full";
    case DNSTAP_ERR_DISCONNECTED: return "not connected";
    case DNSTAP_ERR_TIMEOUT: return "timed out";
    case DNSTAP_ERR_HANDSHAKE: return "receiver did not ACCEPT protobuf:dnstap.Dnstap";
    case DNSTAP_ERR_CONNECT: return "cannot connect";
    case DNSTAP_ERR_TLS: return "TLS handshake or certificate check failed";
    case DNSTAP_ERR_CLOSED: return "connection closed by peer";
    }
    return "?";
}

static const char *dnstap__name(const char *const *names, size_t n, int v) {
    return v >= 1 && (size_t)v <= n ? names[v - 1] : "?";
}

DNSTAP_API const char *dnstap_message_type_str(dnstap_message_type_t type) {
    static const char *const names[14] = {
        "AUTH_QUERY", "AUTH_RESPONSE", "RESOLVER_QUERY", "RESOLVER_RESPONSE",
        "CLIENT_QUERY", "CLIENT_RESPONSE", "FORWARDER_QUERY", "FORWARDER_RESPONSE",
        "STUB_QUERY", "STUB_RESPONSE", "TOOL_QUERY", "TOOL_RESPONSE",
        "UPDATE_QUERY", "UPDATE_RESPONSE" };
    return dnstap__name(names, 14, (int)type);
}

DNSTAP_API const char *dnstap_socket_family_str(dnstap_socket_family_t family) {
    static const char *const names[2] = { "INET", "INET6" };
    return dnstap__name(names, 2, (int)family);
}

DNSTAP_API const char *dnstap_socket_protocol_str(dnstap_socket_protocol_t protocol) {
    static const char *const names[7] = { "UDP", "TCP", "DOT", "DOH", "DNSCryptUDP", "DNSCryptTCP", "DOQ" };
    return dnstap__name(names, 7, (int)protocol);
}

DNSTAP_API const char *dnstap_http_protocol_str(dnstap_http_protocol_t protocol) {
    static const char *const names[3] = { "HTTP1", "HTTP2", "HTTP3" };
    return dnstap__name(names, 3, (int)protocol);
}

DNSTAP_API const char *dnstap_policy_action_str(dnstap_policy_action_t action) {
    static const char *const names[6] = { "NXDOMAIN", "NODATA", "PASS", "DROP", "TRUNCATE", "LOCAL_DATA" };
    return dnstap__name(names, 6, (int)action);
}

DNSTAP_API const char *dnstap_policy_match_str(dnstap_policy_match_t match) {
    static const char *const names[5] = { "QNAME", "CLIENT_IP", "RESPONSE_IP", "NS_NAME", "NS_IP" };
    return dnstap__name(names, 5, (int)match);
}

#ifdef __cplusplus
}
#endif

#undef DNSTAP__TAG
#endif /* DNSTAP_IMPLEMENTATION */

/*
------------------------------------------------------------------------------
MIT License

Copyright (c) 2026 The dnstap.h authors

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
------------------------------------------------------------------------------
*/
