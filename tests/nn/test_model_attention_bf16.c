/* The bf16 attention of the bf16/int8 inference paths against the fp32
 * straightforward kernel (itself checked against PyTorch): padding, sliding
 * windows, fully masked rows, odd sizes. Tolerance: bf16 keeps 8 significant
 * bits, so q k^T and the probabilities carry ~2^-9 relative rounding each;
 * with O(1) inputs the outputs agree within 2e-2 of their scale. */
#include <math.h>
#include <string.h>

#include "core_test_util.h"
#include "gradcheck.h"
#include "nn/arena.h"
#include "nn/attention_bf16.h"
#include "test_support.h"

static double scaled_error(const float *got, const float *want, long n)
{
    double d = 0, s = 0;
    for (long i = 0; i < n; i++) {
        d = fmax(d, fabs((double)got[i] - want[i]));
        s = fmax(s, fabs((double)want[i]));
    }
    return s > 0 ? d / s : d;
}

static void check_shape(mm_ctx *mm, attention_shape s, const int32_t *valid)
{
    long n_qkv = (long)s.B * s.T * 3 * s.H * s.D, n_out = (long)s.B * s.T * s.H * s.D;
    float *qkv = gc_floats(n_qkv), *want = gc_floats(n_out), *got = gc_floats(n_out);
    float *probs = gc_floats((long)s.B * s.H * s.T * s.T), *scratch = gc_floats(attention_scratch_floats(s));
    void *work = nn_alloc(attention_bf16_bytes(s));
    gc_rng rng = {(uint64_t)(s.T * 31 + s.window)};
    gc_fill(&rng, qkv, n_qkv, -1.5f, 1.5f);
    attention_forward(want, probs, qkv, valid, scratch, s);
    gt_error err = {0};
    memset(got, 0xff, sizeof(float) * n_out);   /* NaN: every output must be written */
    CHECK_MSG(attention_bf16_forward(mm, got, qkv, valid, work, s, &err) == GT_OK, "%s", err.message);
    double e = scaled_error(got, want, n_out);
    CHECK_MSG(e <= 2e-2, "B=%d T=%d H=%d D=%d window=%d: error %.3g of the output scale", s.B, s.T, s.H, s.D,
              s.window, e);
    /* masked-out queries (a window with no real key) give zeros, as attention_forward does */
    for (long i = 0; i < n_out; i++)
        if (want[i] == 0.0f && got[i] != 0.0f) {
            test_fail(__FILE__, __LINE__, "output %ld: %g where the fp32 kernel gives 0", i, got[i]);
            break;
        }
    free(qkv);
    free(want);
    free(got);
    free(probs);
    free(scratch);
    nn_free(work);
}

static void test_model_attention_bf16_matches_fp32(void)
{
    if (gt_nn_check_precision(GT_NN_BF16, NULL, NULL) != GT_OK) {
        printf("no bf16 instructions: the models use the fp32 kernel for inference (checked in test_model_train)\n");
        return;
    }
    mm_ctx *mm = test_mm_ctx();
    int32_t valid3[3] = {37, 20, 5};
    /* global with padding; a window shorter than the sequence; a padding
     * query far from every real token (window 4, 5 real tokens, T 37) */
    check_shape(mm, (attention_shape){.B = 3, .T = 37, .H = 2, .D = 16, .window = 0, .scale = 0.25f}, valid3);
    check_shape(mm, (attention_shape){.B = 3, .T = 37, .H = 2, .D = 16, .window = 8, .scale = 0.25f}, valid3);
    check_shape(mm, (attention_shape){.B = 3, .T = 37, .H = 2, .D = 16, .window = 4, .scale = 0.25f}, valid3);
    check_shape(mm, (attention_shape){.B = 2, .T = 64, .H = 4, .D = 64, .window = 0, .scale = 0.125f}, NULL);
    check_shape(mm, (attention_shape){.B = 1, .T = 1, .H = 3, .D = 6, .window = 0, .scale = 0.4f}, NULL);
    mm_ctx_destroy(mm);
}

int main(void)
{
    RUN(test_model_attention_bf16_matches_fp32);
    return test_summary();
}
