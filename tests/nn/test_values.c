/* Values, not gradients: textbook numbers and double-precision libm formulas
 * for the conventions a gradient check cannot see (which half GeGLU gates,
 * RoPE's pairing and angles, the window's edge, the variance's bias). The same
 * conventions are compared with PyTorch in test_ops_torch.py. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "nn/ops.h"
#include "test_support.h"

static double gelu_erf_ref(double x)
{
    return 0.5 * x * erfc(-x / sqrt(2.0));
}

/* 0.5 x (1 + tanh u) written as x / (1 + exp(-2u)): in the negative tail
 * 1 + tanh(u) cancels to nothing even in double. */
static double gelu_tanh_ref(double x)
{
    return x / (1.0 + exp(-2.0 * sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
}

/* Relative error of GELU below 2e-6 on [-5, 12] and 2e-5 on [-12, -5], the
 * negative tail where gelu(x) -> 0 like x Phi(x) (gelu(-5) = -1.4e-6; further
 * out the float rounding of x^2 / 2 inside exp sets the error). */
static void test_gelu_matches_formula(void)
{
    enum { n = 240001 };
    float *x = gc_floats(n), *y = gc_floats(n);
    for (int i = 0; i < n; i++)
        x[i] = -12.0f + 24.0f * i / (n - 1);
    for (int k = 0; k < 2; k++) {
        activation_forward(y, x, n, k == 0 ? ACTIVATION_GELU_ERF : ACTIVATION_GELU_TANH);
        double worst = 0, worst_tail = 0;
        for (int i = 0; i < n; i++) {
            double want = k == 0 ? gelu_erf_ref(x[i]) : gelu_tanh_ref(x[i]);
            double err = fabs(y[i] - want) / fmax(fabs(want), 1e-30);
            if (x[i] >= -5.0f)
                worst = fmax(worst, err);
            else
                worst_tail = fmax(worst_tail, err);
        }
        const char *name = k == 0 ? "gelu erf" : "gelu tanh";
        CHECK_MSG(worst < 4e-6, "%s: worst relative error on [-5, 12] %.3g", name, worst);
        CHECK_MSG(worst_tail < 2e-5, "%s: worst relative error on [-12, -5) %.3g", name, worst_tail);
    }
    free(x);
    free(y);
}

/* gelu(1) = Phi(1) = 0.8413447460685429; gelu_tanh(1) = 0.8411919906082768. */
static void test_gelu_textbook_values(void)
{
    float x[3] = {1.0f, -1.0f, 0.0f}, y[3];
    activation_forward(y, x, 3, ACTIVATION_GELU_ERF);
    CHECK_CLOSE(y[0], 0.8413447460685429, 1e-6, 0);
    CHECK_CLOSE(y[1], -0.15865525393145707, 1e-6, 0);
    CHECK(y[2] == 0.0f);
    activation_forward(y, x, 3, ACTIVATION_GELU_TANH);
    CHECK_CLOSE(y[0], 0.8411919906082768, 1e-6, 0);
    activation_forward(y, x, 3, ACTIVATION_RELU);
    CHECK(y[0] == 1.0f && y[1] == 0.0f && y[2] == 0.0f);
}

/* Far tails give the limits (0 and x, slopes 0 and 1), never inf or NaN. */
static void test_activations_finite_at_extremes(void)
{
    float x[6] = {-1e4f, -100.0f, -20.0f, 20.0f, 100.0f, 1e4f}, y[6], dx[6], ones[6] = {1, 1, 1, 1, 1, 1};
    for (int k = 0; k < 3; k++) {
        activation_forward(y, x, 6, (activation_kind)k);
        activation_backward(dx, x, ones, 6, (activation_kind)k);
        for (int i = 0; i < 6; i++) {
            CHECK_MSG(y[i] == (x[i] > 0 ? x[i] : 0.0f), "kind %d: act(%g) = %g", k, x[i], y[i]);
            CHECK_MSG(dx[i] == (x[i] > 0 ? 1.0f : 0.0f), "kind %d: act'(%g) = %g", k, x[i], dx[i]);
        }
    }
}

/* GeGLU gates with the second half: y = gelu(first half) * second half. */
static void test_geglu_gates_with_second_half(void)
{
    float x[4] = {1.0f, 2.0f, 3.0f, 5.0f}, y[2]; /* one row, F = 2 */
    geglu_forward(y, x, 1, 2, ACTIVATION_GELU_ERF);
    CHECK_CLOSE(y[0], gelu_erf_ref(1.0) * 3.0, 1e-6, 0);
    CHECK_CLOSE(y[1], gelu_erf_ref(2.0) * 5.0, 1e-6, 0);
}

/* [1, 2, 3, 4]: mean 2.5, biased variance 1.25 (not 5/3). */
static void test_layernorm_uses_biased_variance(void)
{
    float x[4] = {1, 2, 3, 4}, w[4] = {1, 1, 2, 1}, b[4] = {0, 0, 0, 10}, y[4], mean, rstd;
    layernorm_forward(y, &mean, &rstd, x, w, b, 1, 4, 1e-5f);
    double s = 1.0 / sqrt(1.25 + 1e-5);
    CHECK_CLOSE(mean, 2.5, 1e-7, 0);
    CHECK_CLOSE(rstd, s, 1e-6, 0);
    CHECK_CLOSE(y[0], -1.5 * s, 1e-6, 0);
    CHECK_CLOSE(y[2], 2 * 0.5 * s, 1e-6, 0);
    CHECK_CLOSE(y[3], 1.5 * s + 10, 1e-6, 0);
    layernorm_forward(y, NULL, NULL, x, w, NULL, 1, 4, 1e-5f);
    CHECK_CLOSE(y[3], 1.5 * s, 1e-6, 0);
}

/* D = 4, theta = 100: pair (0, 2) turns by t rad, pair (1, 3) by t / 10 rad. */
static void test_rope_pairs_halves(void)
{
    enum { T = 3, D = 4 };
    float c[T * D / 2], s[T * D / 2];
    rope_tables(c, s, T, D, 100.0);
    float x[T * D];
    for (int t = 0; t < T; t++) {
        float row[D] = {1.0f, 2.0f, 3.0f, 4.0f};
        memcpy(x + t * D, row, sizeof row);
    }
    rope_forward(x, c, s, 1, T, 1, D, D);
    for (int t = 0; t < T; t++) {
        double a0 = t, a1 = t / 10.0;
        CHECK_CLOSE(x[t * D + 0], 1 * cos(a0) - 3 * sin(a0), 1e-6, 1e-7);
        CHECK_CLOSE(x[t * D + 2], 3 * cos(a0) + 1 * sin(a0), 1e-6, 1e-7);
        CHECK_CLOSE(x[t * D + 1], 2 * cos(a1) - 4 * sin(a1), 1e-6, 1e-7);
        CHECK_CLOSE(x[t * D + 3], 4 * cos(a1) + 2 * sin(a1), 1e-6, 1e-7);
    }
    rope_backward(x, c, s, 1, T, 1, D, D); /* the inverse rotation restores x */
    CHECK_CLOSE(x[2 * D + 1], 2.0, 1e-6, 0);
    CHECK_CLOSE(x[2 * D + 3], 4.0, 1e-6, 0);
}

/* window = 128: query i sees key j exactly when |i - j| <= 64 and j is real. */
static void test_window_edge_is_half_window_inclusive(void)
{
    attention_shape s = {1, 200, 1, 4, 128, 0.5f, 0};
    int32_t valid[1] = {180};
    float *qkv = gc_floats(3L * s.T * s.D), *out = gc_floats((long)s.T * s.D);
    float *probs = gc_floats((long)s.T * s.T), *scratch = gc_floats(attention_scratch_floats(s));
    gc_rng rng = {500};
    gc_fill(&rng, qkv, 3L * s.T * s.D, -1, 1);
    attention_forward(out, probs, qkv, valid, scratch, s);
    int wrong = 0;
    for (int i = 0; i < s.T; i++)
        for (int j = 0; j < s.T; j++) {
            int allowed = abs(i - j) <= 64 && j < 180;
            wrong += allowed != (probs[(long)i * s.T + j] > 0.0f);
        }
    CHECK_EQ_INT(wrong, 0);
    free(qkv);
    free(out);
    free(probs);
    free(scratch);
}

/* Dropout keeps about 1 - p of the elements, scales them by 1 / (1 - p), and
 * its mask is a function of (seed, offset + i) only: two half-size calls with
 * offsets 0 and n/2 reproduce one full call, with any thread count. */
static void test_dropout_is_counter_based(void)
{
    enum { n = 100000 };
    float *x = gc_floats(n), *y = gc_floats(n), *y2 = gc_floats(n);
    uint8_t *mask = gc_alloc(n), *mask2 = gc_alloc(n);
    for (int i = 0; i < n; i++)
        x[i] = 1.0f;
    dropout_forward(y, mask, x, n, 0.25f, 42, 1000);
    long kept = 0;
    for (int i = 0; i < n; i++) {
        kept += mask[i];
        CHECK(y[i] == (mask[i] ? 1.0f / 0.75f : 0.0f));
    }
    /* binomial(1e5, 0.75): standard deviation 137 */
    CHECK_MSG(labs(kept - 75000) < 800, "kept %ld of %d", kept, n);
    int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    dropout_forward(y2, mask2, x, n / 2, 0.25f, 42, 1000);
    omp_set_num_threads(3);
    dropout_forward(y2 + n / 2, mask2 + n / 2, x, n / 2, 0.25f, 42, 1000 + n / 2);
    omp_set_num_threads(threads);
    CHECK(memcmp(mask, mask2, n) == 0);
    dropout_forward(y2, mask2, x, n, 0.25f, 43, 1000); /* another seed, another mask */
    CHECK(memcmp(mask, mask2, n) != 0);
    free(x);
    free(y);
    free(y2);
    free(mask);
    free(mask2);
}

/* Mean pooling averages only the real tokens. */
static void test_mean_pool_ignores_padding(void)
{
    float x[2 * 3 * 1] = {1, 2, 100, 4, 5, 6}, out[2];
    int32_t valid[2] = {2, 3};
    mean_pool_forward(out, x, valid, 2, 3, 1);
    CHECK_CLOSE(out[0], 1.5, 1e-7, 0);
    CHECK_CLOSE(out[1], 5.0, 1e-7, 0);
}

int main(void)
{
    RUN(test_gelu_matches_formula);
    RUN(test_gelu_textbook_values);
    RUN(test_activations_finite_at_extremes);
    RUN(test_geglu_gates_with_second_half);
    RUN(test_layernorm_uses_biased_variance);
    RUN(test_rope_pairs_halves);
    RUN(test_window_edge_is_half_window_inclusive);
    RUN(test_dropout_is_counter_based);
    RUN(test_mean_pool_ignores_padding);
    return test_summary();
}
