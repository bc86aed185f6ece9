/* The fused (blocked, online-softmax) attention agrees with the straightforward
 * one: outputs and all three input gradients within 1e-5 relative, over shapes
 * that cross the 64-query/64-key block edges, with padding and windows. */
#include <math.h>
#include <stdlib.h>

#include "gradcheck.h"
#include "nn/ops.h"
#include "test_support.h"

/* Differences are relative to the tensor's scale: max |a - b| / max |a| over
 * each of out, dq, dk and dv. (Element by element, sums that cancel to nearly
 * zero differ by a few float roundings of their terms — e.g. dk of a sequence
 * with one real token, exactly 0 in exact arithmetic.) Observed: up to 2e-6. */
#define TOLERANCE 1e-5

typedef struct {
    float *out, *dqkv;
} attention_result;

static double relative(double diff, double scale)
{
    return diff == 0.0 ? 0.0 : diff / scale;
}

static attention_result run(int fused, const float *qkv, const float *dout, const int32_t *valid, attention_shape s)
{
    long n = (long)s.B * s.T * s.H * s.D;
    attention_result r = {gc_floats(n), gc_floats(3 * n)};
    if (fused) {
        float *lse = gc_floats((long)s.B * s.H * s.T), *scratch = gc_floats(fused_attention_scratch_floats(s));
        fused_attention_forward(r.out, lse, qkv, valid, scratch, s);
        fused_attention_backward(r.dqkv, dout, r.out, qkv, lse, valid, scratch, s);
        free(lse);
        free(scratch);
    } else {
        float *probs = gc_floats((long)s.B * s.H * s.T * s.T), *scratch = gc_floats(attention_scratch_floats(s));
        attention_forward(r.out, probs, qkv, valid, scratch, s);
        attention_backward(r.dqkv, dout, qkv, probs, valid, scratch, s);
        free(probs);
        free(scratch);
    }
    return r;
}

/* qkv: (3n) uniform in [-2, 2], dout: (n) in [-1, 1]. */
static void random_inputs(float **qkv, float **dout, long n, uint64_t seed)
{
    gc_rng rng = {seed};
    *qkv = gc_floats(3 * n);
    *dout = gc_floats(n);
    gc_fill(&rng, *qkv, 3 * n, -2.0f, 2.0f);
    gc_fill(&rng, *dout, n, -1.0f, 1.0f);
}

static void compare(attention_shape s, const int32_t *valid, uint64_t seed)
{
    long n = (long)s.B * s.T * s.H * s.D;
    float *qkv, *dout;
    random_inputs(&qkv, &dout, n, seed);
    attention_result a = run(0, qkv, dout, valid, s), f = run(1, qkv, dout, valid, s);
    double d_out = relative(gc_max_abs_diff(a.out, f.out, n), gc_max_abs(a.out, n));
    /* q, k and v gradients separately: each has its own code path and scale. */
    double diff[3] = {0, 0, 0}, scale[3] = {0, 0, 0};
    long hd = (long)s.H * s.D;
    for (long row = 0; row < (long)s.B * s.T; row++)
        for (int part = 0; part < 3; part++) {
            long off = (row * 3 + part) * hd;
            scale[part] = fmax(scale[part], gc_max_abs(a.dqkv + off, hd));
            diff[part] = fmax(diff[part], gc_max_abs_diff(a.dqkv + off, f.dqkv + off, hd));
        }
    double d_q = relative(diff[0], scale[0]), d_k = relative(diff[1], scale[1]), d_v = relative(diff[2], scale[2]);
    CHECK_MSG(d_out <= TOLERANCE && d_q <= TOLERANCE && d_k <= TOLERANCE && d_v <= TOLERANCE,
              "B=%d T=%d H=%d D=%d window=%d: max relative difference out %.2g dq %.2g dk %.2g dv %.2g", s.B, s.T,
              s.H, s.D, s.window, d_out, d_q, d_k, d_v);
    free(qkv);
    free(dout);
    free(a.out);
    free(a.dqkv);
    free(f.out);
    free(f.dqkv);
}

/* One block, several blocks, and T not a multiple of the block size (64 with
 * a window, 128 without). */
static void test_fused_matches_straightforward_global(void)
{
    int Ts[] = {2, 17, 64, 100, 129, 300};
    for (int i = 0; i < 6; i++) {
        attention_shape s = {2, Ts[i], 2, 16, 0, 0.25f, 0};
        compare(s, NULL, 300 + i);
    }
}

/* D values that take the vector paths (64, 32) and the scalar tails (8, 20). */
static void test_fused_matches_straightforward_head_sizes(void)
{
    int Ds[] = {8, 20, 32, 64};
    for (int i = 0; i < 4; i++) {
        attention_shape s = {1, 90, 2, Ds[i], 0, 1.0f / sqrtf((float)Ds[i]), 0};
        compare(s, NULL, 310 + i);
    }
}

static void test_fused_matches_straightforward_padding(void)
{
    attention_shape s = {4, 130, 2, 16, 0, 0.25f, 0};
    int32_t valid[4] = {130, 64, 65, 1};
    compare(s, valid, 320);
}

/* ModernBERT's local window (128 = +-64) and a small one, with padding; T = 200
 * makes whole key blocks fall outside the window. */
static void test_fused_matches_straightforward_windows(void)
{
    int32_t valid[3] = {200, 150, 7};
    attention_shape s = {3, 200, 2, 16, 128, 0.25f, 0};
    compare(s, valid, 330);
    s.window = 10;
    compare(s, valid, 331);
}

/* With a single key (T = 1) the softmax is 1 whatever the scores: the output
 * is v, dv is dout, and dq, dk are zero in exact arithmetic. The fused version
 * computes them from dout.v - dout.out, which cancels to rounding noise (its
 * Delta is a differently ordered sum), so they are bounded, not compared. */
static void test_single_key_gradients_vanish(void)
{
    attention_shape s = {2, 1, 2, 16, 0, 0.25f, 0};
    long n = (long)s.B * s.T * s.H * s.D, hd = (long)s.H * s.D;
    float *qkv, *dout;
    random_inputs(&qkv, &dout, n, 350);
    for (int fused = 0; fused <= 1; fused++) {
        attention_result r = run(fused, qkv, dout, NULL, s);
        double out_err = 0, dv_err = 0, dqk = 0;
        for (int b = 0; b < s.B; b++) {
            const float *v = qkv + b * 3 * hd + 2 * hd, *dv = r.dqkv + b * 3 * hd + 2 * hd;
            out_err = fmax(out_err, gc_max_abs_diff(r.out + b * hd, v, hd));
            dv_err = fmax(dv_err, gc_max_abs_diff(dv, dout + b * hd, hd));
            dqk = fmax(dqk, gc_max_abs(r.dqkv + b * 3 * hd, 2 * hd));
        }
        CHECK_MSG(out_err <= 1e-6 && dv_err <= 1e-6 && dqk <= 1e-5,
                  "%s: |out - v| %.3g, |dv - dout| %.3g, |dq|, |dk| %.3g", fused ? "fused" : "straightforward",
                  out_err, dv_err, dqk);
        free(r.out);
        free(r.dqkv);
    }
    free(qkv);
    free(dout);
}

/* Rows with no allowed key: both give exactly zero output and gradient, and
 * the fused lse is -inf. */
static void test_fully_masked_rows_are_zero(void)
{
    attention_shape s = {2, 80, 1, 8, 4, 0.5f, 0};
    int32_t valid[2] = {0, 3};
    long n = (long)s.B * s.T * s.D;
    float *qkv, *dout;
    random_inputs(&qkv, &dout, n, 340);
    for (int fused = 0; fused <= 1; fused++) {
        attention_result r = run(fused, qkv, dout, valid, s);
        int bad = 0;
        for (int b = 0; b < 2; b++)
            for (int t = 0; t < s.T; t++) {
                /* sequence 1: queries past t = 4 are more than 2 away from keys 0..2 */
                int masked = b == 0 || t > 4;
                for (int d = 0; d < s.D; d++) {
                    float o = r.out[((long)b * s.T + t) * s.D + d];
                    float dq = r.dqkv[((long)b * s.T + t) * 3 * s.D + d];
                    bad += isnan(o) || isnan(dq) || (masked && (o != 0.0f || dq != 0.0f));
                }
            }
        CHECK_MSG(bad == 0, "%s: %d bad values in fully masked rows", fused ? "fused" : "straightforward", bad);
        free(r.out);
        free(r.dqkv);
    }
    float *out = gc_floats(n), *lse = gc_floats(2L * s.T), *scratch = gc_floats(fused_attention_scratch_floats(s));
    fused_attention_forward(out, lse, qkv, valid, scratch, s);
    CHECK(isinf(lse[0]) && lse[0] < 0);
    CHECK(isfinite(lse[s.T + 4]) && isinf(lse[s.T + 5]));
    free(out);
    free(lse);
    free(scratch);
    free(qkv);
    free(dout);
}

int main(void)
{
    RUN(test_fused_matches_straightforward_global);
    RUN(test_fused_matches_straightforward_head_sizes);
    RUN(test_fused_matches_straightforward_padding);
    RUN(test_fused_matches_straightforward_windows);
    RUN(test_single_key_gradients_vanish);
    RUN(test_fully_masked_rows_are_zero);
    return test_summary();
}
