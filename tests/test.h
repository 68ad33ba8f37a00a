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
#endif
