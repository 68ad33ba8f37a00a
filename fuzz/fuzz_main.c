/* fuzz_main.c - a standalone driver for the fuzz targets (no libFuzzer).

   fuzz_X [-t SECONDS] [-s SEED] [-o CRASH_DIR] [-m MAX_LEN] FILES_OR_DIRS...

   Runs LLVMFuzzerTestOneInput() on every file given (directories: every
   regular file in them, sorted, recursively; names starting with '.' are
   skipped). Then, with -t, mutates corpus inputs at random (bit flips,
   byte sets, inserts, deletes, duplicated blocks, interesting values,
   splices) for that many seconds. Prints "N executions" at the end.

   A crash (abort(), or a sanitizer error: their default options are set to
   abort) during mutation writes the input to CRASH_DIR/crash-<hash>
   (default: the current directory) before the process dies.

   AFL++: `fuzz_X FILE` runs one file; with no file it reads stdin. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Make sanitizer reports fatal through abort(), so that the SIGABRT
   handler below can save the input. Harmless without sanitizers. */
const char *__asan_default_options(void);
const char *__ubsan_default_options(void);
const char *__asan_default_options(void) { return "abort_on_error=1:detect_leaks=1:detect_stack_use_after_return=1"; }
const char *__ubsan_default_options(void) { return "abort_on_error=1:halt_on_error=1:print_stacktrace=1"; }

typedef struct {
    uint8_t *data;
    size_t len;
    char *name;
} input_t;

static input_t *corpus;
static size_t ncorpus, corpus_cap;

/* what is running now, for the crash handler */
static const uint8_t *volatile cur_data;
static volatile size_t cur_len;
static volatile int mutating;
static char crash_dir[1024] = ".";

static void die(const char *what, const char *arg) {
    fprintf(stderr, "fuzz_main: %s %s: %s\n", what, arg ? arg : "", strerror(errno));
    exit(2);
}

static int read_all(int fd, uint8_t **out, size_t *outlen) {
    size_t cap = 4096, len = 0;
    uint8_t *buf = (uint8_t *)malloc(cap);
    for (;;) {
        ssize_t n;
        if (len == cap) {
            uint8_t *nb;
            cap *= 2;
            nb = (uint8_t *)realloc(buf, cap);
            if (nb == NULL) { free(buf); return -1; }
            buf = nb;
        }
        n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) { free(buf); return -1; }
        if (n == 0) break;
        len += (size_t)n;
    }
    *out = buf;
    *outlen = len;
    return 0;
}

static void add_input(uint8_t *data, size_t len, const char *name) {
    if (ncorpus == corpus_cap) {
        corpus_cap = corpus_cap ? 2 * corpus_cap : 64;
        corpus = (input_t *)realloc(corpus, corpus_cap * sizeof *corpus);
        if (corpus == NULL) die("out of memory", NULL);
    }
    corpus[ncorpus].data = data;
    corpus[ncorpus].len = len;
    corpus[ncorpus].name = (char *)malloc(strlen(name) + 1);
    strcpy(corpus[ncorpus].name, name);
    ncorpus++;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void load_path(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) die("cannot stat", path);
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *e;
        char **names = NULL;
        size_t n = 0, cap = 0, i;
        if (d == NULL) die("cannot open directory", path);
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.') continue;
            if (n == cap) {
                cap = cap ? 2 * cap : 64;
                names = (char **)realloc(names, cap * sizeof *names);
            }
            names[n] = (char *)malloc(strlen(path) + strlen(e->d_name) + 2);
            sprintf(names[n], "%s/%s", path, e->d_name);
            n++;
        }
        closedir(d);
        if (n) qsort(names, n, sizeof *names, cmp_str);
        for (i = 0; i < n; i++) { load_path(names[i]); free(names[i]); }
        free(names);
    } else if (S_ISREG(st.st_mode)) {
        uint8_t *data;
        size_t len;
        int fd = open(path, O_RDONLY);
        if (fd < 0) die("cannot open", path);
        if (read_all(fd, &data, &len) != 0) die("cannot read", path);
        close(fd);
        add_input(data, len, path);
    }
}

/* Run one input from a private exact-size copy (ASan sees overreads). */
static void execute(const uint8_t *data, size_t len) {
    uint8_t *copy = (uint8_t *)malloc(len ? len : 1);
    if (len) memcpy(copy, data, len);
    cur_data = copy;
    cur_len = len;
    LLVMFuzzerTestOneInput(copy, len);
    cur_data = NULL;
    cur_len = 0;
    free(copy);
}

/* ---- crash saving (async-signal-safe) ---- */
static void on_crash(int sig) {
    const uint8_t *d = cur_data;
    size_t n = cur_len, i, pl;
    uint64_t h = 14695981039346656037ull;
    char path[1100];
    static const char hex[] = "0123456789abcdef";
    if (d != NULL && mutating) {
        int fd;
        for (i = 0; i < n; i++) { h ^= d[i]; h *= 1099511628211ull; }
        pl = 0;
        for (i = 0; crash_dir[i] && pl < 1024; i++) path[pl++] = crash_dir[i];
        memcpy(path + pl, "/crash-", 7);
        pl += 7;
        for (i = 0; i < 16; i++) path[pl++] = hex[(h >> (60 - 4 * i)) & 15];
        path[pl] = 0;
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            size_t off = 0;
            while (off < n) {
                ssize_t w = write(fd, d + off, n - off);
                if (w <= 0) break;
                off += (size_t)w;
            }
            close(fd);
            (void)!write(2, "fuzz_main: crashing input saved to ", 35);
            (void)!write(2, path, pl);
            (void)!write(2, "\n", 1);
        }
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

/* ---- the mutator ---- */
static uint64_t rng;

static uint64_t rnd(void) {
    /* xorshift64* */
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 2685821657736338717ull;
}

static size_t below(size_t n) { return n ? (size_t)(rnd() % n) : 0; }

static size_t mutate(uint8_t *buf, size_t len, size_t max) {
    static const uint8_t interesting[] = { 0x00, 0x01, 0x02, 0x04, 0x7f, 0x80, 0xff, 0x10, 0x16, 0x22,
                                           0x08, 0x0a, 0x12, 0x72, 0x78, 0x7a, 0x01, 0x05, 0x0f, 0x20 };
    unsigned rounds = 1 + (unsigned)below(6), i;
    for (i = 0; i < rounds; i++) {
        switch (below(10)) {
        case 0: /* bit flip */
            if (len) buf[below(len)] ^= (uint8_t)(1u << below(8));
            break;
        case 1: /* random byte */
            if (len) buf[below(len)] = (uint8_t)rnd();
            break;
        case 2: /* interesting byte */
            if (len) buf[below(len)] = interesting[below(sizeof interesting)];
            break;
        case 3: { /* insert bytes */
            size_t at = below(len + 1), n = 1 + below(8), k;
            if (len + n > max) break;
            memmove(buf + at + n, buf + at, len - at);
            for (k = 0; k < n; k++) buf[at + k] = (uint8_t)rnd();
            len += n;
            break;
        }
        case 4: { /* delete bytes */
            size_t at, n;
            if (!len) break;
            at = below(len);
            n = 1 + below(len - at < 16 ? len - at : 16);
            memmove(buf + at, buf + at + n, len - at - n);
            len -= n;
            break;
        }
        case 5: { /* duplicate a block */
            uint8_t tmp[64];
            size_t from, n, at;
            if (!len) break;
            from = below(len);
            n = 1 + below(len - from < sizeof tmp ? len - from : sizeof tmp);
            if (len + n > max) break;
            memcpy(tmp, buf + from, n);
            at = below(len + 1);
            memmove(buf + at + n, buf + at, len - at);
            memcpy(buf + at, tmp, n);
            len += n;
            break;
        }
        case 6: { /* big-endian 32-bit value (frame lengths) */
            uint32_t v;
            size_t at;
            if (len < 4) break;
            at = below(len - 3);
            switch (below(4)) {
            case 0: v = 0; break;
            case 1: v = (uint32_t)below(600); break;
            case 2: v = 0xffffffffu - (uint32_t)below(4); break;
            default: v = (uint32_t)rnd(); break;
            }
            buf[at] = (uint8_t)(v >> 24); buf[at + 1] = (uint8_t)(v >> 16);
            buf[at + 2] = (uint8_t)(v >> 8); buf[at + 3] = (uint8_t)v;
            break;
        }
        case 7: { /* splice: a piece of another corpus input */
            const input_t *o;
            size_t from, n, at;
            if (!ncorpus) break;
            o = &corpus[below(ncorpus)];
            if (!o->len) break;
            from = below(o->len);
            n = 1 + below(o->len - from < 256 ? o->len - from : 256);
            at = below(len + 1);
            if (below(2)) { /* overwrite */
                if (at + n > max) break;
                memcpy(buf + at, o->data + from, n);
                if (at + n > len) len = at + n;
            } else { /* insert */
                if (len + n > max) break;
                memmove(buf + at + n, buf + at, len - at);
                memcpy(buf + at, o->data + from, n);
                len += n;
            }
            break;
        }
        case 8: /* truncate */
            if (len) len = below(len + 1);
            break;
        default: /* add or subtract a small number */
            if (len) {
                size_t at = below(len);
                buf[at] = (uint8_t)(buf[at] + (below(2) ? 1 : -1) * (int)(1 + below(16)));
            }
            break;
        }
    }
    return len;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(const char *argv0) {
    fprintf(stderr, "usage: %s [-t SECONDS] [-s SEED] [-o CRASH_DIR] [-m MAX_LEN] FILES_OR_DIRS...\n", argv0);
    exit(2);
}

int main(int argc, char **argv) {
    double seconds = 0, t0, tend;
    uint64_t seed = 0;
    int have_seed = 0, i, opt;
    unsigned long long execs = 0;
    size_t max_len = 0, k;

    while ((opt = getopt(argc, argv, "t:s:o:m:h")) != -1) {
        switch (opt) {
        case 't': seconds = atof(optarg); break;
        case 's': seed = strtoull(optarg, NULL, 0); have_seed = 1; break;
        case 'o':
            if (strlen(optarg) >= sizeof crash_dir) usage(argv[0]);
            strcpy(crash_dir, optarg);
            break;
        case 'm': max_len = (size_t)strtoull(optarg, NULL, 0); break;
        default: usage(argv[0]);
        }
    }
    signal(SIGABRT, on_crash);

    t0 = now();
    if (optind >= argc) {
        uint8_t *data;
        size_t len;
        if (read_all(0, &data, &len) != 0) die("cannot read", "stdin");
        add_input(data, len, "<stdin>");
    }
    for (i = optind; i < argc; i++) load_path(argv[i]);

    for (k = 0; k < ncorpus; k++) {
        execute(corpus[k].data, corpus[k].len);
        execs++;
    }
    fprintf(stderr, "fuzz_main: replayed %zu inputs\n", ncorpus);

    if (seconds > 0) {
        uint8_t *buf;
        size_t pool_n = 0, pool_next = 0;
        enum { POOL = 64 };
        uint8_t *pool[POOL];
        size_t pool_len[POOL];
        if (!have_seed) seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
        fprintf(stderr, "fuzz_main: mutating for %.0f s, seed %llu\n", seconds, (unsigned long long)seed);
        rng = seed ? seed : 0x9E3779B97F4A7C15ull;
        if (max_len == 0) {
            max_len = 4096;
            for (k = 0; k < ncorpus; k++)
                if (corpus[k].len * 2 > max_len) max_len = corpus[k].len * 2;
            if (max_len > (1u << 20)) max_len = 1u << 20;
        }
        buf = (uint8_t *)malloc(max_len);
        for (k = 0; k < POOL; k++) { pool[k] = (uint8_t *)malloc(max_len); pool_len[k] = 0; }
        tend = now() + seconds;
        mutating = 1;
        for (;;) {
            size_t len;
            /* start from a corpus input or a recent mutant (stacking) */
            if (pool_n && below(3) == 0) {
                size_t p = below(pool_n);
                len = pool_len[p];
                memcpy(buf, pool[p], len);
            } else if (ncorpus) {
                const input_t *in = &corpus[below(ncorpus)];
                len = in->len < max_len ? in->len : max_len;
                memcpy(buf, in->data, len);
            } else {
                len = 0;
            }
            len = mutate(buf, len, max_len);
            execute(buf, len);
            execs++;
            memcpy(pool[pool_next], buf, len);
            pool_len[pool_next] = len;
            pool_next = (pool_next + 1) % POOL;
            if (pool_n < POOL) pool_n++;
            if ((execs & 63) == 0) {
                double t = now();
                if (t >= tend) break;
            }
        }
        mutating = 0;
        for (k = 0; k < POOL; k++) free(pool[k]);
        free(buf);
    }
    {
        double dt = now() - t0;
        printf("%llu executions in %.1f s (%.0f/s)\n", execs, dt, dt > 0 ? (double)execs / dt : 0.0);
    }
    for (k = 0; k < ncorpus; k++) { free(corpus[k].data); free(corpus[k].name); }
    free(corpus);
    return 0;
}
