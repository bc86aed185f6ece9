/* Linear layers in fp32 and int8: forward and backward against the textbook
 * formulas in double and against finite differences.
 *
 *   y = x W^T + b,  dx = dy W,  dW += dy^T x,  db += sum_n dy[n]
 *
 * fp32 tolerance: 1e-5 of sum |terms| (see test_matmul_core.c).
 * int8 bound, from the formats: x = sx qx + ex with |ex| <= sx/2, w = sw qw + ew
 * with |ew| <= sw/2 (sw = absmax / 127, or / 63 without VNNI), so |y_int8 - y| <= sum_k (sx/2 |w_k| + sw/2 |x_k| + sx sw / 4)
 * plus fp32 rounding. */
#include <string.h>

#include "core_test_util.h"
#include "nn/arena.h"
#include "nn/linear.h"
#include "test_support.h"

static mm_ctx *ctx;
static uint64_t epoch = 1;

typedef struct {
    int N, in, out;
    float *x, *w, *b, *dy;
    linear_weight lw;
} fixture;

static fixture make(int N, int in, int out, uint64_t seed)
{
    fixture f = {.N = N, .in = in, .out = out};
    f.x = test_random((long)N * in, 1.0, seed);
    f.w = test_random((long)out * in, 0.5, seed + 1);
    f.b = test_random(out, 1.0, seed + 2);
    f.dy = test_random((long)N * out, 1.0, seed + 3);
    linear_weight_init(&f.lw, f.w, out, in, &epoch);
    return f;
}

static void drop(fixture *f)
{
    linear_weight_free(&f->lw);
    free(f->x), free(f->w), free(f->b), free(f->dy);
}

/* y = x W^T + b. */
static void test_forward_matches_formula(void)
{
    fixture f = make(33, 70, 45, 1);
    float *y = malloc(sizeof(float) * f.N * f.out);
    double *ref = malloc(sizeof(double) * f.N * f.out), *mag = malloc(sizeof(double) * f.N * f.out);
    CHECK_EQ_INT(linear_forward(ctx, y, f.x, NULL, &f.lw, f.b, f.N, GT_NN_FP32, NULL), GT_OK);
    test_matmul_ref(ref, mag, f.x, f.w, f.N, f.out, f.in, 0, 1);
    for (int n = 0; n < f.N; n++)
        for (int o = 0; o < f.out; o++) {
            long i = (long)n * f.out + o;
            CHECK_NEAR(y[i], ref[i] + f.b[o], 1e-5 * (mag[i] + fabs(f.b[o])));
        }
    /* Without bias. */
    CHECK_EQ_INT(linear_forward(ctx, y, f.x, NULL, &f.lw, NULL, f.N, GT_NN_FP32, NULL), GT_OK);
    CHECK_NEAR(y[5], ref[5], 1e-5 * mag[5]);
    free(y), free(ref), free(mag);
    drop(&f);
}

/* dx = dy W (written or accumulated), dW += dy^T x, db += column sums of dy. */
static void test_backward_matches_formula(void)
{
    fixture f = make(40, 24, 56, 11);
    float *dx = test_random((long)f.N * f.in, 1.0, 90), *dx0 = malloc(sizeof(float) * f.N * f.in);
    float *dw = test_random((long)f.out * f.in, 1.0, 91), *dw0 = malloc(sizeof(float) * f.out * f.in);
    float *db = test_random(f.out, 1.0, 92), *db0 = malloc(sizeof(float) * f.out);
    memcpy(dx0, dx, sizeof(float) * f.N * f.in);
    memcpy(dw0, dw, sizeof(float) * f.out * f.in);
    memcpy(db0, db, sizeof(float) * f.out);
    CHECK_EQ_INT(linear_backward(ctx, dx, dw, db, f.dy, f.x, NULL, &f.lw, f.N, LINEAR_DX_ACCUMULATE, GT_NN_FP32,
                                 NULL), GT_OK);
    double *ref = malloc(sizeof(double) * f.out * f.in * 4), *mag = malloc(sizeof(double) * f.out * f.in * 4);
    test_matmul_ref(ref, mag, f.dy, f.w, f.N, f.in, f.out, 0, 0);
    for (long i = 0; i < (long)f.N * f.in; i++)
        CHECK_NEAR(dx[i], dx0[i] + ref[i], 1e-5 * (mag[i] + fabs(dx0[i])));
    test_matmul_ref(ref, mag, f.dy, f.x, f.out, f.in, f.N, 1, 0);
    for (long i = 0; i < (long)f.out * f.in; i++)
        CHECK_NEAR(dw[i], dw0[i] + ref[i], 1e-5 * (mag[i] + fabs(dw0[i])));
    for (int o = 0; o < f.out; o++) {
        double s = db0[o];
        for (int n = 0; n < f.N; n++)
            s += f.dy[(long)n * f.out + o];
        CHECK_NEAR(db[o], s, 1e-5 * (f.N + 1));
    }
    /* Without the flag dx is overwritten. */
    CHECK_EQ_INT(linear_backward(ctx, dx, NULL, NULL, f.dy, f.x, NULL, &f.lw, f.N, 0, GT_NN_FP32, NULL), GT_OK);
    test_matmul_ref(ref, mag, f.dy, f.w, f.N, f.in, f.out, 0, 0);
    for (long i = 0; i < (long)f.N * f.in; i++)
        CHECK_NEAR(dx[i], ref[i], 1e-5 * mag[i]);
    free(dx), free(dx0), free(dw), free(dw0), free(db), free(db0), free(ref), free(mag);
    drop(&f);
}

/* L = sum(y * r) computed through linear_forward, in double. */
static double loss(fixture *f, const float *r, float *y)
{
    linear_forward(ctx, y, f->x, NULL, &f->lw, f->b, f->N, GT_NN_FP32, NULL);
    double s = 0.0;
    for (long i = 0; i < (long)f->N * f->out; i++)
        s += (double)y[i] * r[i];
    return s;
}

/* Central difference of loss() in one float; exact up to rounding since L is linear in it. */
static double numeric(fixture *f, const float *r, float *y, float *v)
{
    const float h = 1e-2f;
    float saved = *v;
    *v = saved + h;
    epoch++;
    double up = loss(f, r, y);
    *v = saved - h;
    epoch++;
    double down = loss(f, r, y);
    *v = saved;
    epoch++;
    return (up - down) / (2.0 * h);
}

static void test_backward_matches_finite_differences(void)
{
    fixture f = make(6, 9, 7, 31);
    float *r = f.dy;   /* dL/dy = r */
    float *y = malloc(sizeof(float) * f.N * f.out);
    float *dx = calloc((size_t)f.N * f.in, sizeof(float)), *dw = calloc((size_t)f.out * f.in, sizeof(float));
    float *db = calloc((size_t)f.out, sizeof(float));
    CHECK_EQ_INT(linear_backward(ctx, dx, dw, db, r, f.x, NULL, &f.lw, f.N, 0, GT_NN_FP32, NULL), GT_OK);
    for (long i = 0; i < (long)f.N * f.in; i++)
        CHECK_NEAR(dx[i], numeric(&f, r, y, &f.x[i]), 1e-3);
    for (long i = 0; i < (long)f.out * f.in; i++)
        CHECK_NEAR(dw[i], numeric(&f, r, y, &f.w[i]), 1e-3);
    for (int o = 0; o < f.out; o++)
        CHECK_NEAR(db[o], numeric(&f, r, y, &f.b[o]), 1e-3);
    free(y), free(dx), free(dw), free(db);
    drop(&f);
}

/* int8 forward within the bound derived from the formats, for signed (s8) and
 * non-negative (u8) activations. */
static void test_int8_within_quantization_bound(void)
{
    for (int nonneg = 0; nonneg < 2; nonneg++) {
        fixture f = make(64, 128, 96, 41 + nonneg);
        if (nonneg)
            for (long i = 0; i < (long)f.N * f.in; i++)
                f.x[i] = fabsf(f.x[i]);
        float *y = malloc(sizeof(float) * f.N * f.out);
        CHECK_EQ_INT(linear_forward(ctx, y, f.x, NULL, &f.lw, f.b, f.N, GT_NN_INT8, NULL), GT_OK);
        float xmax = 0.0f;
        for (long i = 0; i < (long)f.N * f.in; i++)
            xmax = fmaxf(xmax, fabsf(f.x[i]));
        double sx = xmax / (nonneg ? 255.0 : 127.0);
        int bad = 0;
        for (int o = 0; o < f.out; o++) {
            double wmax = 0.0;
            for (int k = 0; k < f.in; k++)
                wmax = fmax(wmax, fabs(f.w[(long)o * f.in + k]));
            double sw = wmax / int8_weight_qmax();
            for (int n = 0; n < f.N; n++) {
                double exact = f.b[o], bound = 0.0, mag = fabs(f.b[o]);
                for (int k = 0; k < f.in; k++) {
                    double xv = f.x[(long)n * f.in + k], wv = f.w[(long)o * f.in + k];
                    exact += xv * wv;
                    mag += fabs(xv * wv);
                    bound += sx / 2 * fabs(wv) + sw / 2 * fabs(xv) + sx * sw / 4;
                }
                if (fabs(y[(long)n * f.out + o] - exact) > bound + 1e-5 * mag)
                    bad++;
            }
        }
        CHECK_MSG(bad == 0, "int8 (%s activations): %d outputs outside the bound", nonneg ? "u8" : "s8", bad);
        mm_stats st = mm_ctx_stats(ctx);
        CHECK(st.calls[GT_NN_INT8] >= 1);
        free(y);
        drop(&f);
    }
}

/* int8 weights are requantized when the epoch moves, not before. */
static void test_int8_weights_follow_epoch(void)
{
    fixture f = make(16, 32, 8, 51);
    float *y1 = malloc(sizeof(float) * f.N * f.out), *y2 = malloc(sizeof(float) * f.N * f.out);
    CHECK_EQ_INT(linear_forward(ctx, y1, f.x, NULL, &f.lw, NULL, f.N, GT_NN_INT8, NULL), GT_OK);
    for (long i = 0; i < (long)f.out * f.in; i++)
        f.w[i] = -f.w[i];
    CHECK_EQ_INT(linear_forward(ctx, y2, f.x, NULL, &f.lw, NULL, f.N, GT_NN_INT8, NULL), GT_OK);
    CHECK(y2[0] == y1[0]);   /* stale copy: the epoch did not move */
    epoch++;
    CHECK_EQ_INT(linear_forward(ctx, y2, f.x, NULL, &f.lw, NULL, f.N, GT_NN_INT8, NULL), GT_OK);
    for (long i = 0; i < (long)f.N * f.out; i++)
        CHECK_NEAR(y2[i], -y1[i], 1e-4);
    free(y1), free(y2);
    drop(&f);
}

/* Prepacked fp32 weights give the same outputs as plain ones. */
static void test_prepacked_forward_matches(void)
{
    fixture f = make(128, 64, 80, 61);
    float *plain = malloc(sizeof(float) * f.N * f.out), *packed = malloc(sizeof(float) * f.N * f.out);
    CHECK_EQ_INT(linear_forward(ctx, plain, f.x, NULL, &f.lw, f.b, f.N, GT_NN_FP32, NULL), GT_OK);
    f.lw.prepack = 1;
    CHECK_EQ_INT(linear_forward(ctx, packed, f.x, NULL, &f.lw, f.b, f.N, GT_NN_FP32, NULL), GT_OK);
    for (long i = 0; i < (long)f.N * f.out; i++)
        CHECK_CLOSE(packed[i], plain[i], 1e-5, 1e-5);
    CHECK(linear_weight_extra_bytes(&f.lw) >= sizeof(float) * f.out * f.in);
    free(plain), free(packed);
    drop(&f);
}

/* Bad input: one clear error, no crash, kept in the context. */
static void test_bad_input_is_an_error(void)
{
    fixture f = make(4, 8, 8, 71);
    float y[64];
    gt_error err = {0};
    mm_ctx_clear_error(ctx);
    CHECK_EQ_INT(linear_forward(ctx, y, f.x, NULL, &f.lw, NULL, 0, GT_NN_FP32, &err), GT_ERR_INVALID);
    CHECK(strstr(err.message, "linear 8x8 on 0 rows") != NULL);
    CHECK(mm_ctx_error(ctx) != NULL);
    mm_ctx_clear_error(ctx);
    float dw[64];
    CHECK_EQ_INT(linear_backward(ctx, y, dw, NULL, f.dy, f.x, NULL, &f.lw, f.N, 0, GT_NN_INT8, &err),
                 GT_ERR_UNSUPPORTED);
    CHECK(strstr(err.message, "do not train") != NULL);
    CHECK_EQ_INT(linear_forward(ctx, y, f.x, NULL, &f.lw, NULL, f.N, (gt_nn_precision)7, &err), GT_ERR_INVALID);
    mm_ctx_clear_error(ctx);
    drop(&f);
}

/* A forward and a backward count 2 N in out FLOPs per matmul. */
static void test_flops_are_counted(void)
{
    fixture f = make(20, 30, 40, 81);
    float *y = malloc(sizeof(float) * f.N * f.out), *dx = malloc(sizeof(float) * f.N * f.in);
    float *dw = calloc((size_t)f.out * f.in, sizeof(float));
    mm_ctx_reset_stats(ctx);
    linear_forward(ctx, y, f.x, NULL, &f.lw, f.b, f.N, GT_NN_FP32, NULL);
    linear_backward(ctx, dx, dw, NULL, f.dy, f.x, NULL, &f.lw, f.N, 0, GT_NN_FP32, NULL);
    mm_stats s = mm_ctx_stats(ctx);
    CHECK_NEAR(s.flops[GT_NN_FP32], 3 * linear_forward_flops(f.N, f.in, f.out), 0.5);
    CHECK_EQ_INT(s.calls[GT_NN_FP32], 3);
    CHECK_NEAR(s.flops[GT_NN_BF16] + s.flops[GT_NN_INT8], 0.0, 0.0);
    free(y), free(dx), free(dw);
    drop(&f);
}

int main(void)
{
    ctx = test_mm_ctx();
    RUN(test_forward_matches_formula);
    RUN(test_backward_matches_formula);
    RUN(test_backward_matches_finite_differences);
    RUN(test_int8_within_quantization_bound);
    RUN(test_int8_weights_follow_epoch);
    RUN(test_prepacked_forward_matches);
    RUN(test_bad_input_is_an_error);
    RUN(test_flops_are_counted);
    mm_ctx_destroy(ctx);
    return test_summary();
}
