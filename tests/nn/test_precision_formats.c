/* Number formats: fp32 -> bf16 rounding against an independent rounding rule,
 * int8 quantization helpers, and what this CPU supports. */
#include <float.h>
#include <string.h>

#include "core_test_util.h"
#include "nn/precision.h"
#include "test_support.h"

static uint32_t bits_of(float x)
{
    uint32_t b;
    memcpy(&b, &x, sizeof b);
    return b;
}

/* The bf16 nearest to x, ties to the even one, by comparing the two
 * candidates around x in double (an independent statement of the rule). */
static bf16 reference_bf16(float x)
{
    uint32_t b = bits_of(x);
    if ((b & 0x7fffffffu) > 0x7f800000u)
        return (bf16)((b >> 16) | 0x40);   /* NaN stays NaN, made quiet */
    bf16 down = (bf16)(b >> 16);           /* truncation: toward zero */
    bf16 up = (bf16)(down + 1);            /* next magnitude away from zero */
    if ((down & 0x7fff) == 0x7f80)         /* infinity: nothing above */
        return down;
    /* Past the largest finite bf16, IEEE rounds as if the exponent went on:
     * the value above 0x7f7f is then 2^128. */
    double above = (up & 0x7fff) == 0x7f80 ? copysign(ldexp(1.0, 128), x) : bf16_to_float(up);
    double d_down = fabs((double)x - bf16_to_float(down));
    double d_up = fabs((double)x - above);
    if (d_down < d_up)
        return down;
    if (d_up < d_down)
        return up;
    return (down & 1) ? up : down;
}

static void test_bf16_rounding_matches_rule(void)
{
    float special[] = {0.0f, -0.0f, 1.0f, -1.0f, FLT_MAX, -FLT_MAX, FLT_MIN, 1e-40f, -1e-45f, INFINITY, -INFINITY,
                       1.00390625f /* 1 + 2^-8: a tie, rounds to even (1) */,
                       1.01171875f /* 1 + 3 * 2^-8: a tie, rounds up to even */,
                       3.3895314e38f /* the largest bf16 */, 3.397e38f /* past half a step above it */};
    for (size_t i = 0; i < sizeof special / sizeof special[0]; i++)
        CHECK_EQ_INT(bf16_from_float(special[i]), reference_bf16(special[i]));
    CHECK_EQ_INT(bf16_from_float(1.00390625f), 0x3f80);
    CHECK_EQ_INT(bf16_from_float(1.01171875f), 0x3f82);
    CHECK_EQ_INT(bf16_from_float(3.3895314e38f), 0x7f7f);
    CHECK_EQ_INT(bf16_from_float(3.397e38f), 0x7f80);
    CHECK_EQ_INT(bf16_from_float(FLT_MAX), 0x7f80);
    float nan = NAN;
    CHECK(isnan(bf16_to_float(bf16_from_float(nan))));
    CHECK(isnan(bf16_to_float(bf16_from_float(-nan))));

    /* Random bit patterns over the whole range, through the vectorised path. */
    long n = 1 << 20;
    float *x = malloc(sizeof(float) * n);
    bf16 *h = malloc(sizeof(bf16) * n);
    float *back = malloc(sizeof(float) * n);
    uint64_t s = 3;
    for (long i = 0; i < n; i++) {
        uint32_t b = (uint32_t)(test_uniform(&s) * 4294967296.0);
        memcpy(&x[i], &b, sizeof b);
    }
    bf16_from_fp32(h, x, n);
    bf16_to_fp32(back, h, n);
    int bad = 0, bad_err = 0;
    for (long i = 0; i < n; i++) {
        if (h[i] != reference_bf16(x[i]))
            bad++;
        /* Relative error at most 2^-8 for normal, finite results. */
        if (isfinite(back[i]) && fabsf(x[i]) >= FLT_MIN && fabs(back[i] - (double)x[i]) > fabs(x[i]) / 256.0)
            bad_err++;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(bad_err, 0);
    free(x), free(h), free(back);
}

/* Weights: per-row scale absmax/127, error at most half a step. */
static void test_weight_quantization_per_channel(void)
{
    int out = 5, in = 33;
    float *w = test_random((long)out * in, 1.0, 9);
    for (int i = 0; i < in; i++)
        w[2 * in + i] = 0.0f;              /* an all-zero row */
    w[3 * in + 4] = -7.0f;                 /* a row with a large value */
    int8_t q[5 * 33];
    float scales[5], back[33];
    quantize_weights(q, scales, w, out, in, 127);
    CHECK_NEAR(scales[2], 1.0, 0.0);
    CHECK_NEAR(scales[3], 7.0 / 127.0, 1e-9);
    CHECK_EQ_INT(q[3 * in + 4], -127);
    for (int o = 0; o < out; o++) {
        dequantize_s8(back, q + o * in, scales[o], in);
        for (int i = 0; i < in; i++) {
            CHECK(q[o * in + i] >= -127 && q[o * in + i] <= 127);
            CHECK_NEAR(back[i], w[o * in + i], scales[o] / 2 * (1 + 1e-6));
        }
    }
    /* The reduced range for CPUs without VNNI. */
    quantize_weights(q, scales, w, out, in, 63);
    CHECK_EQ_INT(q[3 * in + 4], -63);
    CHECK_NEAR(scales[3], 7.0 / 63.0, 1e-9);
    free(w);
}

/* Activations: u8 with max/255 when nothing is negative, s8 with absmax/127 otherwise. */
static void test_activation_quantization_picks_type(void)
{
    float pos[4] = {0.0f, 0.5f, 1.0f, 2.55f}, mixed[4] = {-1.27f, 0.0f, 0.5f, 1.0f}, zero[3] = {0};
    uint8_t qu[4];
    int8_t qs[4];
    int is_unsigned;
    float s = quantize_activations(qu, &is_unsigned, pos, 4);
    CHECK_EQ_INT(is_unsigned, 1);
    CHECK_NEAR(s, 0.01, 1e-8);
    CHECK_EQ_INT(qu[3], 255);
    CHECK_EQ_INT(qu[1], 50);
    s = quantize_activations(qs, &is_unsigned, mixed, 4);
    CHECK_EQ_INT(is_unsigned, 0);
    CHECK_NEAR(s, 0.01, 1e-8);
    CHECK_EQ_INT(qs[0], -127);
    CHECK_EQ_INT(qs[3], 100);
    s = quantize_activations(qu, &is_unsigned, zero, 3);
    CHECK_NEAR(s, 1.0, 0.0);
    CHECK_EQ_INT(qu[0], 0);
}

/* Names parse both ways; an unknown name is one clear error. */
static void test_precision_names(void)
{
    gt_nn_precision p;
    gt_error err = {0};
    for (int i = 0; i < GT_NN_PRECISIONS; i++) {
        CHECK_EQ_INT(gt_nn_precision_parse(gt_nn_precision_name((gt_nn_precision)i), &p, NULL), GT_OK);
        CHECK_EQ_INT(p, i);
    }
    CHECK_EQ_INT(gt_nn_precision_parse("fp8", &p, &err), GT_ERR_INVALID);
    CHECK(strstr(err.message, "fp8") && strstr(err.message, "bf16"));
    /* fp16 and tf32 are names of GPU precisions: known, refused on a CPU */
    CHECK_EQ_INT(gt_nn_precision_parse("fp16", &p, &err), GT_OK);
    CHECK_EQ_INT(gt_nn_check_precision(p, NULL, &err), GT_ERR_UNSUPPORTED);
    CHECK(strstr(err.message, "GPU only") != NULL);
    CHECK_EQ_INT(gt_nn_set_threads(0, &err), GT_ERR_INVALID);
}

/* What oneDNN says agrees with the CPU's own flags. */
static void test_cpu_support_agrees_with_cpuinfo(void)
{
    char *info = test_read_file("/proc/cpuinfo", NULL);
    CHECK(info != NULL);
    if (!info)
        return;
    gt_nn_precision_info p;
    CHECK_EQ_INT(gt_nn_check_precision(GT_NN_FP32, &p, NULL), GT_OK);
    CHECK(p.supported);
    int has_bf16 = strstr(info, " avx512_bf16") != NULL;
    int has_vnni = strstr(info, " avx512_vnni") != NULL || strstr(info, " avx_vnni") != NULL;
    gt_error err = {0};
    CHECK_EQ_INT(gt_nn_check_precision(GT_NN_BF16, &p, &err) == GT_OK, has_bf16);
    CHECK_EQ_INT(p.native, has_bf16);
    CHECK_EQ_INT(gt_nn_check_precision(GT_NN_INT8, &p, &err), GT_OK);
    CHECK_EQ_INT(p.native, has_vnni);
    printf("isa %s, bf16 %d, int8 vnni %d: %s\n", p.isa, has_bf16, has_vnni, p.detail);
    free(info);
}

int main(void)
{
    RUN(test_bf16_rounding_matches_rule);
    RUN(test_weight_quantization_per_channel);
    RUN(test_activation_quantization_picks_type);
    RUN(test_precision_names);
    RUN(test_cpu_support_agrees_with_cpuinfo);
    return test_summary();
}
