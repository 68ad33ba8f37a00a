/* dtap.c - golang-dnstap's `dnstap` command line, on dnstap.h.

   The same flags and the same output as `dnstap` 0.4.0, so that what its
   users type works with only the program name changed:

     dtap -u /tmp/dnstap.sock                     print what a server sends
     dtap -u /tmp/dnstap.sock -w /tmp/july.dnstap save it as a dnstap file
     dtap -r /tmp/july.dnstap -y                  read that file back as YAML
     dtap -l 127.0.0.1:6000                       receive over TCP

   Input, one kind:  -r FILE (repeatable; "-": standard input), or -u PATH
                     and/or -l HOST:PORT (up to 4 listeners; several
                     producers at once; the bidirectional handshake).
   Output, one:      text on standard output: -q quiet lines (the default),
                     -y YAML, -j JSON (one object per line), byte for byte
                     as `dnstap` prints them;
                     -w FILE: with -y/-j/-q the text goes to FILE (-a
                     appends), without them FILE is a dnstap file (Frame
                     Streams: START, data frames, STOP);
                     -U PATH / -T HOST:PORT: relay every payload unchanged
                     to a collector (unix socket / TCP, full Frame Streams
                     handshake, reconnecting).
   -t DURATION       (Go syntax: 500ms, 10s, 1m) receiving: close a
                     connection silent that long; relaying: the connect,
                     handshake and write timeouts.
   TLS (built with -DDNSTAP_WITH_MBEDTLS): -c CERT -k KEY make every -l a
   TLS listener; -A CA also requires client certificates signed by CA.

   Unlike `dnstap -u -w`, SIGINT and SIGTERM leave a complete file: the data
   received so far, then STOP; an output that still blocks 2 s after the
   signal (a reader that stopped reading) is given up. SIGHUP opens the -w
   text file again by its name, as `dnstap` does (logrotate: mv FILE
   FILE.old; kill -HUP), and continues a dnstap file in FILE.1, FILE.2, ...
   Exit status: 0; 1 if an input was broken or output failed; 2 for usage
   errors.

   One implementation of each job: receiving (handshake, TLS, several
   producers, dnstap files) is examples/capture.c, run through
   capture_main(); reading files and printing is examples/reader.c; relaying
   is the library's own tap (dnstap_log_payload(), a writer thread). This
   file only maps the flags onto them.

   Build:  cc -std=c99 -O2 -I. examples/dtap.c -o dtap -lprotobuf-nanopb -pthread
           (with TLS: -DDNSTAP_WITH_MBEDTLS ... -lmbedtls -lmbedx509 -lmbedcrypto) */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <stddef.h>
#include <stdint.h>

#define DNSTAP_WITH_THREAD
/* examples/capture.c: the receiver, its output taken by the four out_*() */
#define CAPTURE_EMBEDDED
#define CAPTURE_NAME "dtap"
#define CAPTURE_OUT_START out_start
#define CAPTURE_OUT_FRAME out_frame
#define CAPTURE_OUT_HUP out_hup
#define CAPTURE_OUT_END out_end
static int out_start(void);
static int out_frame(uint8_t *p, size_t len);
static int out_hup(void);
static int out_end(void);
#include "capture.c"
#undef main

/* examples/reader.c: file reading and the three text formats */
#define READER_EMBEDDED
#define READER_PROGRAM "dtap"
#define READER_ON_DATA file_frame
static dnstap_result_t file_frame(const uint8_t *p, size_t len);
#include "reader.c"

enum { OUT_TEXT, OUT_FILE, OUT_RELAY };
static int out_mode = OUT_TEXT;
static char *out_path;                     /* -w */
static int out_append;                     /* -a */
static char relay_endpoint[512];            /* -U / -T, as a dnstap.h endpoint */
static uint32_t timeout_ms;                /* -t */
static dnstap_t relay;
static uint8_t relay_queue[4u << 20];
static unsigned long long relay_waits;

/* ---- output --------------------------------------------------------- */
static int out_start(void) {
    if (out_mode == OUT_FILE) return file_start();   /* capture.c's writer, base_path = -w */
    if (out_mode == OUT_RELAY) {
        dnstap_desc_t d;
        dnstap_result_t r;
        memset(&d, 0, sizeof d);
        d.endpoint = relay_endpoint;
        d.full = true;
        d.queue = relay_queue;
        d.queue_size = sizeof relay_queue;
        d.payload_max = DNSTAP_PAYLOAD_MAX_FSTRM;
        d.connect_timeout_ms = d.handshake_timeout_ms = d.write_timeout_ms = timeout_ms;
        if ((r = dnstap_init(&relay, &d)) != DNSTAP_OK || (r = dnstap_thread_start(&relay)) != DNSTAP_OK) {
            fprintf(stderr, "dtap: %s: %s\n", relay_endpoint, dnstap_result_str(r));
            return -1;
        }
    }
    return 0;
}

/* One payload to the relay. The tool is not a DNS server: when the queue
   is full it waits for the writer thread (up to the write timeout) instead
   of dropping. */
static int relay_payload(const uint8_t *p, size_t len) {
    uint64_t until = dnstap_clock_ms() + (timeout_ms ? timeout_ms : 4000);
    dnstap_result_t r;
    while ((r = dnstap_log_payload(&relay, 0, p, len)) == DNSTAP_ERR_FULL && dnstap_clock_ms() < until) {
        struct timespec ts = { 0, 1000000 };
        relay_waits++;
        nanosleep(&ts, NULL);
    }
    if (r != DNSTAP_OK) fprintf(stderr, "dtap: relay to %s: %s\n", relay_endpoint, dnstap_result_str(r));
    return 0;   /* counted and reported at the end; the receiver goes on */
}

/* A checked data frame from a live producer (capture.c); p has 4 bytes of
   headroom, which capture.c's file writer uses. */
static int out_frame(uint8_t *p, size_t len) {
    if (out_mode == OUT_FILE) return file_append(p, len);   /* counts the frame itself */
    total_frames++;
    total_bytes += 4 + len;
    if (out_mode == OUT_RELAY) return relay_payload(p, len);
    (void)on_data(p, len);
    oflush();   /* live: each message as it comes */
    return out_failed ? -1 : 0;   /* the output is gone (EPIPE): the receiver ends, status 1 */
}

/* A data frame of a file (-r, reader.c); into a dnstap file, counted as
   capture.c counts its frames. A write that fails is said once: the rest
   is not written either. */
static dnstap_result_t file_frame(const uint8_t *p, size_t len) {
    dnstap_result_t r;
    if (out_mode == OUT_TEXT) return on_data(p, len);
    if (out_mode == OUT_RELAY) return relay_payload(p, len) == 0 ? DNSTAP_OK : DNSTAP_ERR_IO;
    if (file_failed) return DNSTAP_ERR_IO;
    if ((r = dnstap_file_write_payload(&file, p, len)) != DNSTAP_OK) {
        fprintf(stderr, "dtap: %s: %s\n", path, r == DNSTAP_ERR_IO ? strerror(errno) : dnstap_result_str(r));
        status = 1;
        file_failed = 1;
        return r;
    }
    file_frames++;
    file_bytes += 4 + len;
    return r;
}

/* SIGHUP: a dnstap file goes on in the next one (capture.c's rotation);
   a text file is opened again by its name, as golang's dnstap does (after
   logrotate renamed it, a new one; truncated unless -a). */
static int out_hup(void) {
    if (out_mode == OUT_FILE) return file_hup();
    if (out_mode != OUT_TEXT || out_path == NULL || strcmp(out_path, "-") == 0) return 0;
    oflush();
    if (freopen(out_path, out_append ? "a" : "w", stdout) == NULL) {
        fprintf(stderr, "dtap: %s: %s\n", out_path, strerror(errno));
        return -1;
    }
    return 0;
}

static int out_end(void) {
    oflush();
    if (out_mode == OUT_FILE) return file_end();
    if (out_mode == OUT_RELAY) {
        dnstap_stats_t st;
        dnstap_result_t r = dnstap_thread_stop(&relay);   /* sends what is queued, STOP, FINISH */
        unsigned long long dropped;
        st = dnstap_stats(&relay);
        dropped = st.dropped_full + st.dropped_too_big + st.dropped_invalid + st.dropped_disconnected +
                  st.dropped_write_error;
        fprintf(stderr, "dtap: relayed %llu of %llu messages to %s%s%s\n", (unsigned long long)st.sent,
                (unsigned long long)st.logged, relay_endpoint, r != DNSTAP_OK ? ": " : "",
                r != DNSTAP_OK ? dnstap_result_str(r) : "");
        return dropped || st.queued || st.sent != st.logged ? -1 : 0;
    }
    return out_failed ? -1 : 0;   /* oflush() said why */
}

/* ---- command line ---------------------------------------------------- */
/* Go's time.ParseDuration, as -t takes it: "0", or a sequence of decimal
   numbers (a fraction allowed: "1.5h", ".5s") each with a unit: ns, us (or
   µs, μs), ms, s, m, h; e.g. "1m30s", "500ms". No exponents, no hex, no
   spaces: Go refuses those. Into *ms (0: no timeout; rounded up to 1 ms,
   capped at 2^32 - 1 ms; a negative one, a deadline already passed for Go,
   is 1 ms); -1 on a syntax Go refuses. */
static int parse_duration(const char *s, uint32_t *ms) {
    static const struct { const char *name; double ms; } units[] = {
        { "ns", 1e-6 }, { "us", 1e-3 }, { "\xc2\xb5s", 1e-3 }, { "\xce\xbcs", 1e-3 },
        { "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 } };
    double total = 0;
    int negative = *s == '-';
    if (*s == '+' || *s == '-') s++;
    if (strcmp(s, "0") == 0) { *ms = 0; return 0; }
    if (*s == 0) return -1;
    while (*s) {
        double v = 0, scale = 1;
        int digits = 0;
        size_t u, best = 0, best_len = 0;
        for (; *s >= '0' && *s <= '9'; s++, digits++) v = v * 10 + (*s - '0');
        if (*s == '.')
            for (s++; *s >= '0' && *s <= '9'; s++, digits++) v += (*s - '0') * (scale /= 10);
        if (digits == 0) return -1;
        for (u = 0; u < sizeof units / sizeof units[0]; u++) {   /* the longest unit that matches */
            size_t n = strlen(units[u].name);
            if (strncmp(s, units[u].name, n) == 0 && n > best_len) { best = u; best_len = n; }
        }
        if (best_len == 0) return -1;
        s += best_len;
        total += v * units[best].ms;
    }
    *ms = total >= 4294967295.0 ? 4294967295u : total > 0 && (total < 1 || negative) ? 1u : (uint32_t)total;
    return 0;
}

static int dtap_usage(void) {
    fprintf(stderr,
            "usage: dtap (-r FILE... | -u PATH | -l HOST:PORT ...) [-y | -j | -q] [-w FILE [-a]]\n"
            "            [-U PATH | -T HOST:PORT] [-t DURATION]"
#ifdef DNSTAP_WITH_MBEDTLS
            " [-c CERT -k KEY [-A CA]]"
#endif
            "\n"
            "  -r FILE      read a dnstap file (\"-\": standard input); repeatable\n"
            "  -u PATH      receive on a unix socket; -l HOST:PORT on TCP (\"[v6]:port\", \":port\")\n"
            "  -q -y -j     quiet text (default), YAML, JSON, as golang-dnstap's dnstap prints them\n"
            "  -w FILE      write to FILE: the text with -q/-y/-j, else a dnstap file; -a appends text\n"
            "  -U PATH      relay the payloads to a collector on a unix socket; -T HOST:PORT over TCP\n"
            "  -t DURATION  I/O timeout (500ms, 10s, 1m): idle connections, relay connect and writes\n"
#ifdef DNSTAP_WITH_MBEDTLS
            "  -c -k -A     TLS on every -l: certificate, key, CA required of clients\n"
#endif
            "Quiet text output format mnemonics:\n"
            "    AQ: AUTH_QUERY     AR: AUTH_RESPONSE      RQ: RESOLVER_QUERY   RR: RESOLVER_RESPONSE\n"
            "    CQ: CLIENT_QUERY   CR: CLIENT_RESPONSE    FQ: FORWARDER_QUERY  FR: FORWARDER_RESPONSE\n"
            "    SQ: STUB_QUERY     SR: STUB_RESPONSE      TQ: TOOL_QUERY       TR: TOOL_RESPONSE\n");
    return 2;
}

int main(int argc, char **argv) {
    const char *files[64], *relay_unix = NULL, *relay_tcp = NULL;
    char *cert = NULL, *key = NULL, *ca = NULL;
    char *cap[2 * MAX_LISTEN + 16], idle[24];
    int ninputs = 0, ncap = 1, nlisten = 0, format = 0, opt, i;
    cap[0] = argv[0];
    while ((opt = getopt(argc, argv, "r:u:l:w:yjqaU:T:t:c:k:A:h")) != -1) {
        switch (opt) {
        case 'r':
            if (ninputs == (int)(sizeof files / sizeof files[0])) return dtap_usage();
            files[ninputs++] = optarg;
            break;
        case 'u': case 'l':
            if (nlisten == MAX_LISTEN) return dtap_usage();
            cap[ncap++] = opt == 'u' ? "-u" : "-l";
            cap[ncap++] = optarg;
            nlisten++;
            break;
        case 'w': out_path = optarg; break;
        case 'y': fmt = F_YAML; format++; break;
        case 'j': fmt = F_JSON; format++; break;
        case 'q': fmt = F_QUIET; format++; break;
        case 'a': out_append = 1; break;
        case 'U': relay_unix = optarg; break;
        case 'T': relay_tcp = optarg; break;
        case 't': if (parse_duration(optarg, &timeout_ms) != 0) return dtap_usage(); break;
        case 'c': cert = optarg; break;
        case 'k': key = optarg; break;
        case 'A': ca = optarg; break;
        default: return dtap_usage();
        }
    }
    if (optind != argc || (ninputs == 0) == (nlisten == 0) || format > 1 || (relay_unix && relay_tcp)) {
        if (ninputs && nlisten) fprintf(stderr, "dtap: -r reads files; -u and -l receive: one or the other\n");
        return dtap_usage();
    }
    if (relay_unix || relay_tcp) {
        if (out_path || format || out_append) {
            fprintf(stderr, "dtap: -U/-T relay the payloads; -w, -y, -j, -q and -a do not apply\n");
            return 2;
        }
        out_mode = OUT_RELAY;
        snprintf(relay_endpoint, sizeof relay_endpoint, "%s%s", relay_unix ? "unix://" : "tcp://",
                 relay_unix ? relay_unix : relay_tcp);
    } else if (out_path && strcmp(out_path, "-") != 0 && !format) {
        if (out_append) { fprintf(stderr, "dtap: -a appends text; a dnstap file is written whole\n"); return 2; }
        out_mode = OUT_FILE;
        base_path = out_path;
    } else {
        if (!format) fmt = F_QUIET;
        if (out_path && strcmp(out_path, "-") != 0 && freopen(out_path, out_append ? "a" : "w", stdout) == NULL) {
            fprintf(stderr, "dtap: %s: %s\n", out_path, strerror(errno));
            return 1;
        }
    }

    if (ninputs) {
        dnstap_encoder_desc_t ed;
        memset(&ed, 0, sizeof ed);
        ed.payload_max = CAPTURE_FRAME_MAX;
        if (dnstap_encoder_init(&enc, &ed) != DNSTAP_OK || out_start() != 0) return 1;
        for (i = 0; i < ninputs; i++) if (read_file(files[i]) != 0) status = 1;
        if (out_end() != 0) status = 1;
        return status;
    }
    /* live: capture.c's receiver, with its output routed through out_*();
       as golang's dnstap, a producer is not disconnected for a frame that is
       not a Dnstap protobuf: printing, it is skipped (reported once per
       connection, counted); a dnstap file or a relay takes it as it came */
    frame_policy = out_mode == OUT_TEXT ? FRAMES_SKIP_BAD : FRAMES_AS_THEY_CAME;
    /* after SIGTERM: the relay may wait for its queue (the write timeout)
       and then shut down (5 s at most) */
    if (out_mode == OUT_RELAY) stop_limit_s = 6 + (timeout_ms ? timeout_ms : 4000) / 1000;
    cap[ncap++] = "-w";
    cap[ncap++] = out_mode == OUT_FILE ? out_path : "-";
    if (timeout_ms) {
        snprintf(idle, sizeof idle, "%lu", (unsigned long)timeout_ms);
        cap[ncap++] = "-i";
        cap[ncap++] = idle;
    }
    if (cert) { cap[ncap++] = "-c"; cap[ncap++] = cert; }
    if (key) { cap[ncap++] = "-k"; cap[ncap++] = key; }
    if (ca) { cap[ncap++] = "-a"; cap[ncap++] = ca; }
    cap[ncap] = NULL;
    optind = 1;
    i = capture_main(ncap, cap);
    return i ? i : status;
}
