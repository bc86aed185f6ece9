/* Mixed-precision (bf16) linear layers: outputs and gradients close to fp32.
 *
 * Bound, from the format: every matmul input rounded to bf16 is off by at most
 * 2^-8 relative (8 significant bits), so each product by at most 2^-7 + 2^-16,
 * and with fp32 accumulation |bf16 result - exact| <= (2^-7 + 2^-16 + 1e-5)
 * sum |terms|.
 *
 * Runs when oneDNN has bf16 instructions on this CPU. Where it has not, the
 * documented behaviour is a refusal (GT_ERR_UNSUPPORTED with a message), and
 * that is what this test checks there; a CPU that lists avx512_bf16 in
 * /proc/cpuinfo must take the full path. */
#include <string.h>

#include "core_test_util.h"
#include "nn/linear.h"
#include "test_support.h"

static mm_ctx *ctx;
static uint64_t epoch = 1;

#define BOUND (1.0 / 128 + 1.0 / 65536 + 1e-5)

static int cpuinfo_has_bf16(void)
{
    char *info = test_read_file("/proc/cpuinfo", NULL);
    int has = info && strstr(info, " avx512_bf16") != NULL;
    free(info);
    return has;
}

/* |got - ref| <= BOUND * mag everywhere. */
static int outside(const float *got, const double *ref, const double *mag, long n)
{
    int bad = 0;
    for (long i = 0; i < n; i++)
        if (!(fabs(got[i] - ref[i]) <= BOUND * mag[i] + 1e-6))
            bad++;
    return bad;
}

static void test_forward_and_backward_close_to_fp32(void)
{
    int N = 96, in = 80, out = 112;
    float *x = test_random((long)N * in, 1.0, 1), *w = test_random((long)out * in, 0.5, 2);
    float *b = test_random(out, 1.0, 3), *dy = test_random((long)N * out, 1.0, 4);
    float *y = malloc(sizeof(float) * N * out), *dx = malloc(sizeof(float) * N * in);
    float *dw = calloc((size_t)out * in, sizeof(float)), *db = calloc((size_t)out, sizeof(float));
    bf16 *xb = malloc(sizeof(bf16) * N * in);
    double *ref = malloc(sizeof(double) * N * out * 2), *mag = malloc(sizeof(double) * N * out * 2);
    linear_weight lw;
    linear_weight_init(&lw, w, out, in, &epoch);

    CHECK_EQ_INT(linear_forward(ctx, y, x, xb, &lw, b, N, GT_NN_BF16, NULL), GT_OK);
    test_matmul_ref(ref, mag, x, w, N, out, in, 0, 1);
    for (long i = 0; i < (long)N * out; i++)
        ref[i] += b[i % out];
    CHECK_EQ_INT(outside(y, ref, mag, (long)N * out), 0);
    /* The kept copy of x is x rounded to bf16. */
    CHECK(xb[7] == bf16_from_float(x[7]));

    CHECK_EQ_INT(linear_backward(ctx, dx, dw, db, dy, x, xb, &lw, N, 0, GT_NN_BF16, NULL), GT_OK);
    test_matmul_ref(ref, mag, dy, w, N, in, out, 0, 0);
    CHECK_EQ_INT(outside(dx, ref, mag, (long)N * in), 0);
    test_matmul_ref(ref, mag, dy, x, out, in, N, 1, 0);
    CHECK_EQ_INT(outside(dw, ref, mag, (long)out * in), 0);
    /* The bias gradient never touches bf16: exact fp32 column sums. */
    double s = 0.0;
    for (int n = 0; n < N; n++)
        s += dy[(long)n * out + 3];
    CHECK_NEAR(db[3], s, 1e-5 * N);

    /* Without the kept copy, backward rounds x itself: the same dW bit for bit. */
    float *dw2 = calloc((size_t)out * in, sizeof(float));
    CHECK_EQ_INT(linear_backward(ctx, NULL, dw2, NULL, dy, x, NULL, &lw, N, 0, GT_NN_BF16, NULL), GT_OK);
    CHECK(memcmp(dw, dw2, sizeof(float) * out * in) == 0);

    mm_stats st = mm_ctx_stats(ctx);
    CHECK_NEAR(st.flops[GT_NN_BF16], 4 * 2.0 * N * in * out, 0.5);
    free(x), free(w), free(b), free(dy), free(y), free(dx), free(dw), free(dw2), free(db), free(xb), free(ref),
        free(mag);
    linear_weight_free(&lw);
}

/* The bf16 copy of W follows the master weights once the epoch moves. */
static void test_bf16_copy_refreshed_after_update(void)
{
    int N = 8, in = 16, out = 8;
    float *x = test_random((long)N * in, 1.0, 5), *w = test_random((long)out * in, 0.5, 6);
    float y1[64], y2[64];
    linear_weight lw;
    linear_weight_init(&lw, w, out, in, &epoch);
    CHECK_EQ_INT(linear_forward(ctx, y1, x, NULL, &lw, NULL, N, GT_NN_BF16, NULL), GT_OK);
    for (int i = 0; i < out * in; i++)
        w[i] *= 2.0f;   /* exact in bf16 too */
    epoch++;
    CHECK_EQ_INT(linear_forward(ctx, y2, x, NULL, &lw, NULL, N, GT_NN_BF16, NULL), GT_OK);
    for (int i = 0; i < N * out; i++)
        CHECK_NEAR(y2[i], 2.0f * y1[i], 1e-5 * fabs(y1[i]) + 1e-6);
    free(x), free(w);
    linear_weight_free(&lw);
}

/* Weight gradients agree in direction with fp32: cosine similarity above
 * 0.9999 (bf16 rounding errors, at most 0.4 % per value, mostly cancel). */
static void test_gradients_align_with_fp32(void)
{
    int N = 256, in = 64, out = 32;
    float *x = test_random((long)N * in, 1.0, 7), *w = test_random((long)out * in, 0.5, 8);
    float *dy = test_random((long)N * out, 1.0, 9);
    float *g32 = calloc((size_t)out * in, sizeof(float)), *g16 = calloc((size_t)out * in, sizeof(float));
    linear_weight lw;
    linear_weight_init(&lw, w, out, in, &epoch);
    linear_backward(ctx, NULL, g32, NULL, dy, x, NULL, &lw, N, 0, GT_NN_FP32, NULL);
    linear_backward(ctx, NULL, g16, NULL, dy, x, NULL, &lw, N, 0, GT_NN_BF16, NULL);
    double dot = 0, n32 = 0, n16 = 0;
    for (long i = 0; i < (long)out * in; i++) {
        dot += (double)g32[i] * g16[i];
        n32 += (double)g32[i] * g32[i];
        n16 += (double)g16[i] * g16[i];
    }
    CHECK(dot / sqrt(n32 * n16) > 0.9999);
    free(x), free(w), free(dy), free(g32), free(g16);
    linear_weight_free(&lw);
}

int main(void)
{
    ctx = test_mm_ctx();
    gt_error err = {0};
    gt_nn_precision_info info;
    if (gt_nn_check_precision(GT_NN_BF16, &info, &err) != GT_OK) {
        /* The documented fallback: a clear refusal, from the layer too. */
        CHECK(!cpuinfo_has_bf16());
        CHECK_EQ_INT(err.status, GT_ERR_UNSUPPORTED);
        CHECK(strstr(err.message, "bf16") != NULL);
        float w[4] = {0}, x[4] = {0}, y[4];
        linear_weight lw;
        linear_weight_init(&lw, w, 2, 2, &epoch);
        gt_error lerr = {0};
        CHECK_EQ_INT(linear_forward(ctx, y, x, NULL, &lw, NULL, 2, GT_NN_BF16, &lerr), GT_ERR_UNSUPPORTED);
        linear_weight_free(&lw);
        printf("bf16 is not supported on this CPU; checked the documented refusal: %s\n", lerr.message);
    } else {
        printf("bf16: %s\n", info.detail);
        RUN(test_forward_and_backward_close_to_fp32);
        RUN(test_bf16_copy_refreshed_after_update);
        RUN(test_gradients_align_with_fp32);
    }
    mm_ctx_destroy(ctx);
    return test_summary();
}
