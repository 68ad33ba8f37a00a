/* test.h - the smallest test harness that says what failed.
   Each TEST() prints "PASS: name" or one "FAIL: name: file:line: expr" per
   failed check; tests/run.sh adds the lines up. TEST_ONLY=name in the
   environment runs that test alone (for a slow tool such as valgrind). */
#ifndef TEST_H
#define TEST_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_passed, test_failed, test_case_failed;
static const char *test_name;

#define CHECK(c) do { if (!(c)) { \
        printf("FAIL: %s: %s:%d: %s\n", test_name, __FILE__, __LINE__, #c); \
        test_case_failed = 1; } } while (0)
#define CHECK_EQ(a, b) do { long long a_ = (long long)(a), b_ = (long long)(b); if (a_ != b_) { \
        printf("FAIL: %s: %s:%d: %s == %s (%lld != %lld)\n", test_name, __FILE__, __LINE__, #a, #b, a_, b_); \
        test_case_failed = 1; } } while (0)

static void test_run(const char *name, void (*fn)(void)) {
    const char *only = getenv("TEST_ONLY");
    if (only && *only && strcmp(only, name) != 0) return;
    test_name = name;
    test_case_failed = 0;
    fn();
    if (test_case_failed) test_failed++;
    else { test_passed++; printf("PASS: %s\n", name); }
    fflush(stdout);
}
#define TEST(fn) test_run(#fn, fn)
#define TEST_EXIT() (test_failed ? 1 : 0)

#ifdef TEST_FULL_DISK
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
/* A disk that fills up: child(limit, result) runs in a process whose
   files may not grow past limit bytes (write() takes what fits, then
   fails with EFBIG, as with ENOSPC on a full disk) and fills result
   (n bytes), which comes back here; then the file at path is read into
   buf. Returns its length, or (size_t)-1 (a failed check) when the child
   failed (its status) or the file cannot be read. */
static size_t test_full_disk_run(unsigned limit, int (*child)(unsigned limit, void *result), void *result,
                                 size_t n, const char *path, unsigned char *buf, size_t cap) {
    int fds[2], status = 0;
    pid_t pid;
    FILE *in;
    size_t len;
    if (pipe(fds) != 0) return (size_t)-1;
    pid = fork();
    if (pid == 0) {
        struct rlimit rl;
        int r;
        signal(SIGXFSZ, SIG_IGN);
        rl.rlim_cur = rl.rlim_max = limit;
        if (setrlimit(RLIMIT_FSIZE, &rl) != 0) _exit(2);
        if ((r = child(limit, result)) != 0) _exit(r);
        _exit(write(fds[1], result, n) == (ssize_t)n ? 0 : 5);
    }
    close(fds[1]);
    if (read(fds[0], result, n) != (ssize_t)n) status = -1;
    close(fds[0]);
    waitpid(pid, status ? NULL : &status, 0);
    if (status != 0) { printf("  limit %u: the child failed (%d)\n", limit, status); return (size_t)-1; }
    if ((in = fopen(path, "rb")) == NULL) return (size_t)-1;
    len = fread(buf, 1, cap, in);
    fclose(in);
    return len;
}
#endif
#endif
