/* A small test harness: tests read like specifications.
 *
 *   static void test_counter_wraps(void) { CHECK_EQ_INT(...); }
 *   int main(void) { RUN(test_counter_wraps); return test_summary(); }
 *
 * A failed CHECK prints the file, line and both values, marks the test failed and
 * goes on (so one run shows every failure); test_summary() returns non-zero when
 * anything failed. */
#ifndef GREENTUNE_TEST_SUPPORT_H
#define GREENTUNE_TEST_SUPPORT_H

#include <stddef.h>
#include <stdio.h>

extern int test_failures;
extern const char *test_current;

void test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int test_summary(void);

#define RUN(fn) do { test_current = #fn; fn(); } while (0)

#define CHECK(cond) do { if (!(cond)) test_fail(__FILE__, __LINE__, "%s", #cond); } while (0)
#define CHECK_MSG(cond, ...) do { if (!(cond)) test_fail(__FILE__, __LINE__, __VA_ARGS__); } while (0)
#define CHECK_EQ_INT(a, b) do { long long a_ = (long long)(a), b_ = (long long)(b); \
    if (a_ != b_) test_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, a_, b_); } while (0)
#define CHECK_EQ_STR(a, b) do { const char *a_ = (a), *b_ = (b); \
    if (!a_ || !b_ || strcmp(a_, b_) != 0) test_fail(__FILE__, __LINE__, "%s == %s: \"%s\" != \"%s\"", \
        #a, #b, a_ ? a_ : "(null)", b_ ? b_ : "(null)"); } while (0)
/* |a - b| <= tol. */
#define CHECK_NEAR(a, b, tol) do { double a_ = (double)(a), b_ = (double)(b), t_ = (double)(tol); \
    if (!(a_ - b_ <= t_ && b_ - a_ <= t_)) test_fail(__FILE__, __LINE__, "%s ~ %s: %.9g vs %.9g (tol %.3g)", \
        #a, #b, a_, b_, t_); } while (0)
/* |a - b| <= rel * max(|a|, |b|) + abs_tol. */
#define CHECK_CLOSE(a, b, rel, abs_tol) do { double a_ = (double)(a), b_ = (double)(b); \
    double m_ = a_ < 0 ? -a_ : a_; double n_ = b_ < 0 ? -b_ : b_; if (n_ > m_) m_ = n_; \
    double d_ = a_ - b_; if (d_ < 0) d_ = -d_; \
    if (!(d_ <= (rel) * m_ + (abs_tol))) test_fail(__FILE__, __LINE__, "%s ~ %s: %.9g vs %.9g (rel %.3g)", \
        #a, #b, a_, b_, (double)(rel)); } while (0)

/* A fresh private directory for this test (removed by test_summary when all
 * passed, kept for inspection otherwise). */
const char *test_tmpdir(void);
/* Path join into a static rotating buffer: test_path("a.json") -> tmpdir/a.json. */
const char *test_path(const char *name);
/* Writes a whole file; aborts the test program if it cannot (a broken fixture). */
void test_write_file(const char *path, const char *data, size_t len);
/* Reads a whole file into a malloc'd NUL-terminated buffer, or NULL. */
char *test_read_file(const char *path, size_t *len);
/* Environment variable or abort with a message (GREENTUNE_BIN etc.). */
const char *test_env(const char *name);
/* Runs argv (no shell), capturing stdout and stderr into malloc'd strings when the
 * pointers are non-NULL; returns the exit status (128+signal when killed). */
int test_run(char *const argv[], char **out, char **err);

#endif
