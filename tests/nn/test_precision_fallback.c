/* On a CPU without bf16 and VNNI instructions (simulated by capping oneDNN's
 * instruction set at AVX2 before its first use): bf16 is refused with one
 * clear line, int8 runs on the documented slower path, fp32 still works. */
#include <dnnl.h>
#include <string.h>

#include "core_test_util.h"
#include "nn/linear.h"
#include "test_support.h"

static void test_bf16_refused_with_a_clear_message(void)
{
    gt_nn_precision_info info;
    gt_error err = {0};
    CHECK_EQ_INT(gt_nn_check_precision(GT_NN_BF16, &info, &err), GT_ERR_UNSUPPORTED);
    CHECK(!info.supported);
    CHECK_EQ_STR(info.isa, "avx2");
    CHECK(strstr(err.message, "precision bf16") && strstr(err.message, "use fp32"));
    printf("%s\n", err.message);

    mm_ctx *ctx;
    CHECK_EQ_INT(mm_ctx_create(&ctx, NULL), GT_OK);
    uint64_t epoch = 1;
    float w[16] = {0}, x[16] = {0}, y[16];
    linear_weight lw;
    linear_weight_init(&lw, w, 4, 4, &epoch);
    gt_error lerr = {0};
    CHECK_EQ_INT(linear_forward(ctx, y, x, NULL, &lw, NULL, 4, GT_NN_BF16, &lerr), GT_ERR_UNSUPPORTED);
    CHECK(strstr(lerr.message, "bf16") != NULL);
    CHECK(mm_ctx_error(ctx) != NULL);
    linear_weight_free(&lw);
    mm_ctx_destroy(ctx);
}

static void test_int8_takes_the_slower_path(void)
{
    gt_nn_precision_info info;
    CHECK_EQ_INT(gt_nn_check_precision(GT_NN_INT8, &info, NULL), GT_OK);
    CHECK(info.supported && !info.native);
    CHECK(strstr(info.detail, "no VNNI") != NULL);

    /* ... and computes the right thing there. */
    mm_ctx *ctx;
    CHECK_EQ_INT(mm_ctx_create(&ctx, NULL), GT_OK);
    uint64_t epoch = 1;
    int N = 16, in = 32, out = 8;
    float *x = test_random((long)N * in, 1.0, 1), *w = test_random((long)out * in, 1.0, 2);
    float y8[128], y32[128];
    linear_weight lw;
    linear_weight_init(&lw, w, out, in, &epoch);
    CHECK_EQ_INT(linear_forward(ctx, y8, x, NULL, &lw, NULL, N, GT_NN_INT8, NULL), GT_OK);
    CHECK_EQ_INT(linear_forward(ctx, y32, x, NULL, &lw, NULL, N, GT_NN_FP32, NULL), GT_OK);
    /* Weights in 7 bits here; per element |error| <= sum_k (sx/2 |w| + sw/2 |x| + sx sw/4)
     * with sx <= 1/127 and sw <= 1/63 since |x|, |w| <= 1. */
    CHECK_EQ_INT(int8_weight_qmax(), 63);
    for (int i = 0; i < N * out; i++)
        CHECK_NEAR(y8[i], y32[i], in * (0.5 / 127 + 0.5 / 63 + 0.25 / (127 * 63)));
    mm_desc d = {.M = N, .K = in, .N = out, .a = MM_F32, .b = MM_F32, .b_trans = 1};
    const char *impl = mm_impl(ctx, &d, NULL);
    CHECK(impl && !strstr(impl, "avx512"));
    printf("fp32 on the capped ISA: %s\n", impl ? impl : "?");
    linear_weight_free(&lw);
    mm_ctx_destroy(ctx);
    free(x), free(w);
}

int main(void)
{
    if (dnnl_set_max_cpu_isa(dnnl_cpu_isa_avx2) != dnnl_success) {
        fprintf(stderr, "oneDNN refused to cap its instruction set (called after first use?)\n");
        return 1;
    }
    RUN(test_bf16_refused_with_a_clear_message);
    RUN(test_int8_takes_the_slower_path);
    return test_summary();
}
