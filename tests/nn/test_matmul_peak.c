/* The measured GEMM peak and its cache file (short timings: the numbers are
 * not checked for speed, only for being measured, cached and keyed right). */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "greentune/nn.h"
#include "test_support.h"

static gt_nn_peak_options quick(const char *dir)
{
    gt_nn_peak_options o = {.cache_dir = dir, .seconds_per_shape = 0.01};
    return o;
}

/* Measured once, then read back from the cache; the file names the CPU,
 * threads and precision. */
static void test_measured_then_cached(void)
{
    gt_nn_peak_options o = quick(test_path("cache"));
    gt_nn_peak p1, p2;
    gt_error err = {0};
    CHECK_EQ_INT(gt_nn_gemm_peak(GT_NN_FP32, 1, &o, &p1, &err), GT_OK);
    CHECK(p1.gflops > 0.1);
    CHECK_EQ_INT(p1.cached, 0);
    CHECK(p1.impl[0] != '\0');
    CHECK_EQ_INT(gt_nn_gemm_peak(GT_NN_FP32, 1, &o, &p2, &err), GT_OK);
    CHECK_EQ_INT(p2.cached, 1);
    CHECK_NEAR(p2.gflops, p1.gflops, 0.051);   /* written with one decimal */
    CHECK_EQ_STR(p2.impl, p1.impl);
    /* Another thread count or precision is another entry. */
    gt_nn_peak p3;
    CHECK_EQ_INT(gt_nn_gemm_peak(GT_NN_FP32, 2, &o, &p3, &err), GT_OK);
    CHECK_EQ_INT(p3.cached, 0);
    CHECK_EQ_INT(gt_nn_gemm_peak(GT_NN_INT8, 1, &o, &p3, &err), GT_OK);
    CHECK_EQ_INT(p3.cached, 0);
    char *text = test_read_file(test_path("cache/gemm-peak.tsv"), NULL);
    CHECK(text != NULL);
    if (text) {
        int lines = 0;
        for (char *c = text; *c; c++)
            lines += *c == '\n';
        CHECK_EQ_INT(lines, 3);
        CHECK(strstr(text, "\t1\tfp32\t") && strstr(text, "\t2\tfp32\t") && strstr(text, "\t1\tint8\t"));
        free(text);
    }
    /* refresh measures again and replaces the line. */
    o.refresh = 1;
    CHECK_EQ_INT(gt_nn_gemm_peak(GT_NN_FP32, 1, &o, &p2, &err), GT_OK);
    CHECK_EQ_INT(p2.cached, 0);
    text = test_read_file(test_path("cache/gemm-peak.tsv"), NULL);
    int fp32_1 = 0;
    for (char *c = text; c && (c = strstr(c, "\t1\tfp32\t")); c++)
        fp32_1++;
    CHECK_EQ_INT(fp32_1, 1);
    free(text);
}

/* A damaged cache file is ignored line by line and rewritten, never a crash. */
static void test_damaged_cache(void)
{
    const char *dir = test_path("damaged");
    mkdir(dir, 0755);
    const char *junk = "garbage\n\t\t\t\n\xff\xfe binary\nno newline at the end";
    test_write_file(test_path("damaged/gemm-peak.tsv"), junk, strlen(junk));
    gt_nn_peak_options o = quick(dir);
    gt_nn_peak p;
    gt_error err = {0};
    CHECK_EQ_INT(gt_nn_gemm_peak(GT_NN_FP32, 1, &o, &p, &err), GT_OK);
    CHECK_EQ_INT(p.cached, 0);
    CHECK_EQ_INT(gt_nn_gemm_peak(GT_NN_FP32, 1, &o, &p, &err), GT_OK);
    CHECK_EQ_INT(p.cached, 1);
}

/* XDG_CACHE_HOME is honoured when no directory is given. */
static void test_xdg_cache_home(void)
{
    setenv("XDG_CACHE_HOME", test_path("xdg"), 1);
    gt_nn_peak_options o = {.seconds_per_shape = 0.01};
    gt_nn_peak p;
    CHECK_EQ_INT(gt_nn_gemm_peak(GT_NN_FP32, 1, &o, &p, NULL), GT_OK);
    struct stat st;
    CHECK_EQ_INT(stat(test_path("xdg/greentune/gemm-peak.tsv"), &st), 0);
}

static void test_bad_input(void)
{
    gt_nn_peak p;
    gt_error err = {0};
    gt_nn_peak_options o = quick(test_path("cache"));
    CHECK_EQ_INT(gt_nn_gemm_peak(GT_NN_FP32, 0, &o, &p, &err), GT_ERR_INVALID);
    CHECK(strstr(err.message, "threads 0") != NULL);
    /* A cache directory that cannot be created: one line naming it. */
    test_write_file(test_path("file"), "x", 1);
    gt_nn_peak_options bad = quick(test_path("file/sub"));
    CHECK(gt_nn_gemm_peak(GT_NN_FP32, 1, &bad, &p, &err) != GT_OK);
    CHECK(strstr(err.message, "file/sub") != NULL);
}

int main(void)
{
    RUN(test_measured_then_cached);
    RUN(test_damaged_cache);
    RUN(test_xdg_cache_home);
    RUN(test_bad_input);
    return test_summary();
}
