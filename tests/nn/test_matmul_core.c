/* The oneDNN matmul wrapper against reference matmuls in double.
 *
 * Error bounds, with mag(i, j) = sum_k |a_ik b_kj|:
 *   fp32: |C - exact| <= 1e-5 mag (fp32 accumulation over K <= 512 terms;
 *         the worst case is K 2^-24 mag = 3e-5 mag, the typical one far lower).
 *   bf16: each input rounded to bf16 is off by at most 2^-8 relative (8
 *         significant bits), so each product by at most 2^-7 + 2^-16; hence
 *         |C - exact| <= (2^-7 + 2^-16 + 1e-5) mag.
 *         And with fp32 accumulation, C equals the exact product of the
 *         bf16-rounded inputs within 1e-5 mag (bf16 accumulation would not).
 *   int8: integer inputs give exact s32 sums, so C = scale (sum + bias) up to
 *         the fp32 rounding of the final multiply (1e-6 relative). */
#include <string.h>

#include "core_test_util.h"
#include "nn/arena.h"
#include "nn/matmul.h"
#include "nn/precision.h"
#include "test_support.h"

static mm_ctx *ctx;

/* Counts the entries of C outside |C - ref| <= rel * mag + abs_tol. */
static int count_outside(const float *C, const double *ref, const double *mag, long n, double rel, double abs_tol)
{
    int bad = 0;
    for (long i = 0; i < n; i++)
        if (!(fabs(C[i] - ref[i]) <= rel * mag[i] + abs_tol))
            bad++;
    return bad;
}

static void check_fp32(int M, int N, int K, int a_trans, int b_trans, int bias, int accumulate)
{
    float *A = test_random((long)M * K, 1.0, 1), *B = test_random((long)K * N, 1.0, 2);
    float *b = test_random(N, 1.0, 3), *C = test_random((long)M * N, 1.0, 4);
    double *ref = malloc(sizeof(double) * M * N), *mag = malloc(sizeof(double) * M * N);
    test_matmul_ref(ref, mag, A, B, M, N, K, a_trans, b_trans);
    for (long i = 0; i < (long)M * N; i++) {
        ref[i] += (bias ? b[i % N] : 0.0) + (accumulate ? C[i] : 0.0);
        mag[i] += (bias ? fabs(b[i % N]) : 0.0) + (accumulate ? fabs(C[i]) : 0.0);
    }
    mm_desc d = {.M = M, .N = N, .K = K, .a = MM_F32, .b = MM_F32, .a_trans = a_trans, .b_trans = b_trans,
                 .bias = bias, .accumulate = accumulate};
    gt_error err = {0};
    CHECK_EQ_INT(mm_run(ctx, &d, C, A, B, bias ? b : NULL, NULL, &err), GT_OK);
    int bad = count_outside(C, ref, mag, (long)M * N, 1e-5, 0.0);
    CHECK_MSG(bad == 0, "fp32 %dx%dx%d trans %d%d bias %d acc %d: %d entries off", M, N, K, a_trans, b_trans, bias,
              accumulate, bad);
    free(A), free(B), free(b), free(C), free(ref), free(mag);
}

/* fp32 C = op(A) op(B) for every transpose combination, odd sizes included. */
static void test_fp32_matches_double_reference(void)
{
    for (int at = 0; at < 2; at++)
        for (int bt = 0; bt < 2; bt++) {
            check_fp32(37, 29, 53, at, bt, 0, 0);
            check_fp32(128, 96, 256, at, bt, 1, 0);
        }
}

/* With accumulate, C += A B (the sum post-op): what backward needs to add into gradients. */
static void test_fp32_accumulates_into_output(void)
{
    check_fp32(64, 48, 80, 0, 0, 0, 1);
    check_fp32(48, 64, 512, 1, 0, 0, 1);   /* the dW layout: A read transposed */
    check_fp32(33, 17, 9, 0, 1, 1, 1);
}

static void test_bf16_within_format_bound(void)
{
    if (gt_nn_check_precision(GT_NN_BF16, NULL, NULL) != GT_OK) {
        gt_error err = {0};
        mm_desc d = {.M = 8, .N = 8, .K = 8, .a = MM_BF16, .b = MM_BF16};
        float c[64];
        bf16 a[64] = {0}, b[64] = {0};
        CHECK_EQ_INT(mm_run(ctx, &d, c, a, b, NULL, NULL, &err), GT_ERR_UNSUPPORTED);
        printf("bf16 not supported on this CPU; checked the documented refusal: %s\n", err.message);
        return;
    }
    for (int at = 0; at < 2; at++)
        for (int bt = 0; bt < 2; bt++) {
            int M = 96, N = 80, K = 200;
            float *A = test_random((long)M * K, 1.0, 5 + at), *B = test_random((long)K * N, 1.0, 7 + bt);
            bf16 *Ah = malloc(sizeof(bf16) * M * K), *Bh = malloc(sizeof(bf16) * K * N);
            bf16_from_fp32(Ah, A, (long)M * K);
            bf16_from_fp32(Bh, B, (long)K * N);
            float *C = malloc(sizeof(float) * M * N), *Ar = malloc(sizeof(float) * M * K),
                  *Br = malloc(sizeof(float) * K * N);
            bf16_to_fp32(Ar, Ah, (long)M * K);
            bf16_to_fp32(Br, Bh, (long)K * N);
            double *ref = malloc(sizeof(double) * M * N), *mag = malloc(sizeof(double) * M * N),
                   *ref_r = malloc(sizeof(double) * M * N);
            test_matmul_ref(ref, mag, A, B, M, N, K, at, bt);
            test_matmul_ref(ref_r, NULL, Ar, Br, M, N, K, at, bt);
            mm_desc d = {.M = M, .N = N, .K = K, .a = MM_BF16, .b = MM_BF16, .a_trans = at, .b_trans = bt};
            gt_error err = {0};
            CHECK_EQ_INT(mm_run(ctx, &d, C, Ah, Bh, NULL, NULL, &err), GT_OK);
            CHECK_EQ_INT(count_outside(C, ref, mag, (long)M * N, 1.0 / 128 + 1.0 / 65536 + 1e-5, 0.0), 0);
            CHECK_EQ_INT(count_outside(C, ref_r, mag, (long)M * N, 1e-5, 0.0), 0);
            free(A), free(B), free(Ah), free(Bh), free(C), free(Ar), free(Br), free(ref), free(mag), free(ref_r);
        }
}

/* u8 and s8 activations times s8 weights, per-column scales, bias: exact integer sums. */
static void test_int8_exact_on_integers(void)
{
    int M = 50, N = 40, K = 300;
    for (int is_u8 = 0; is_u8 < 2; is_u8++) {
        int8_t *As = malloc((size_t)M * K), *B = malloc((size_t)K * N);
        uint8_t *Au = malloc((size_t)M * K);
        uint64_t s = 11;
        for (long i = 0; i < (long)M * K; i++) {
            As[i] = (int8_t)(test_uniform(&s) * 255 - 127);
            Au[i] = (uint8_t)(test_uniform(&s) * 255);
        }
        for (long i = 0; i < (long)K * N; i++)
            B[i] = (int8_t)(test_uniform(&s) * 255 - 127);
        float scales[40], bias[40], C[50 * 40];
        for (int j = 0; j < N; j++) {
            scales[j] = 0.001f * (j + 1);
            bias[j] = (float)(j - 20);
        }
        mm_desc d = {.M = M, .N = N, .K = K, .a = is_u8 ? MM_U8 : MM_S8, .b = MM_S8, .b_trans = 1, .bias = 1,
                     .scaled = 1};
        gt_error err = {0};
        CHECK_EQ_INT(mm_run(ctx, &d, C, is_u8 ? (void *)Au : (void *)As, B, bias, scales, &err), GT_OK);
        int bad = 0;
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                long acc = 0;
                for (int k = 0; k < K; k++)
                    acc += (long)(is_u8 ? Au[(long)i * K + k] : As[(long)i * K + k]) * B[(long)j * K + k];
                double want = (double)scales[j] * (acc + bias[j]);
                if (fabs(C[i * N + j] - want) > 1e-6 * fabs(want) + 1e-6)
                    bad++;
            }
        CHECK_MSG(bad == 0, "int8 %s: %d entries differ from the exact result", is_u8 ? "u8" : "s8", bad);
        free(As), free(Au), free(B);
    }
}

/* The same problem reuses its primitive; a new shape or thread count makes one. */
static void test_primitive_cache_reuses(void)
{
    float A[16 * 24], B[24 * 8], C[16 * 8];
    memset(A, 0, sizeof A), memset(B, 0, sizeof B);
    mm_desc d = {.M = 16, .N = 8, .K = 24, .a = MM_F32, .b = MM_F32};
    CHECK_EQ_INT(mm_run(ctx, &d, C, A, B, NULL, NULL, NULL), GT_OK);
    int size = mm_cache_size(ctx);
    mm_stats before = mm_ctx_stats(ctx);
    for (int i = 0; i < 5; i++)
        CHECK_EQ_INT(mm_run(ctx, &d, C, A, B, NULL, NULL, NULL), GT_OK);
    mm_stats after = mm_ctx_stats(ctx);
    CHECK_EQ_INT(mm_cache_size(ctx), size);
    CHECK_EQ_INT(after.cache_hits - before.cache_hits, 5);
    CHECK_EQ_INT(after.cache_misses, before.cache_misses);
    CHECK_NEAR(after.flops[GT_NN_FP32] - before.flops[GT_NN_FP32], 5 * 2.0 * 16 * 8 * 24, 0.5);
    CHECK_EQ_INT(after.calls[GT_NN_FP32] - before.calls[GT_NN_FP32], 5);

    mm_desc other = d;
    other.M = 8;
    CHECK_EQ_INT(mm_run(ctx, &other, C, A, B, NULL, NULL, NULL), GT_OK);
    CHECK_EQ_INT(mm_cache_size(ctx), size + 1);
    int threads = gt_nn_threads();
    gt_nn_set_threads(threads + 1, NULL);
    CHECK_EQ_INT(mm_run(ctx, &d, C, A, B, NULL, NULL, NULL), GT_OK);
    CHECK_EQ_INT(mm_cache_size(ctx), size + 2);
    gt_nn_set_threads(threads, NULL);
}

/* Many shapes grow the table past its first size without losing entries. */
static void test_cache_grows(void)
{
    float *A = test_random(64 * 64, 1.0, 1), *B = test_random(64 * 64, 1.0, 2), C[64 * 64];
    int size = mm_cache_size(ctx);
    for (int m = 1; m <= 48; m++) {
        mm_desc d = {.M = m, .N = 16, .K = 16, .a = MM_F32, .b = MM_F32};
        CHECK_EQ_INT(mm_run(ctx, &d, C, A, B, NULL, NULL, NULL), GT_OK);
    }
    CHECK_EQ_INT(mm_cache_size(ctx), size + 48);
    mm_stats before = mm_ctx_stats(ctx);
    for (int m = 1; m <= 48; m++) {
        mm_desc d = {.M = m, .N = 16, .K = 16, .a = MM_F32, .b = MM_F32};
        mm_run(ctx, &d, C, A, B, NULL, NULL, NULL);
    }
    CHECK_EQ_INT(mm_ctx_stats(ctx).cache_misses, before.cache_misses);
    free(A), free(B);
}

/* Packed weights give the plain result, are reused while the epoch stands
 * and are repacked when it moves. */
static void test_packed_weights_follow_epoch(void)
{
    int M = 64, N = 48, K = 96;
    float *A = test_random((long)M * K, 1.0, 21), *W = test_random((long)N * K, 1.0, 22);
    float *plain = malloc(sizeof(float) * M * N), *packed = malloc(sizeof(float) * M * N);
    mm_desc d = {.M = M, .N = N, .K = K, .a = MM_F32, .b = MM_F32, .b_trans = 1};
    CHECK_EQ_INT(mm_run(ctx, &d, plain, A, W, NULL, NULL, NULL), GT_OK);
    mm_packed p = {0};
    const void *wp;
    mm_desc dp = d;
    dp.b_packed = 1;
    CHECK_EQ_INT(mm_pack(ctx, &p, &dp, W, 1, &wp, NULL), GT_OK);
    CHECK_EQ_INT(mm_run(ctx, &dp, packed, A, wp, NULL, NULL, NULL), GT_OK);
    for (long i = 0; i < (long)M * N; i++)
        CHECK_CLOSE(packed[i], plain[i], 1e-5, 1e-5);

    /* Same epoch: the stored copy is used even though W changed underneath. */
    const void *again;
    W[0] += 100.0f;
    long allocs = nn_alloc_count();
    CHECK_EQ_INT(mm_pack(ctx, &p, &dp, W, 1, &again, NULL), GT_OK);
    CHECK(again == wp);
    CHECK_EQ_INT(mm_run(ctx, &dp, packed, A, again, NULL, NULL, NULL), GT_OK);
    CHECK_CLOSE(packed[0], plain[0], 1e-5, 1e-5);
    /* New epoch: repacked, in place, without allocating. */
    CHECK_EQ_INT(mm_pack(ctx, &p, &dp, W, 2, &again, NULL), GT_OK);
    CHECK_EQ_INT(nn_alloc_count(), allocs);
    CHECK_EQ_INT(mm_run(ctx, &dp, packed, A, again, NULL, NULL, NULL), GT_OK);
    CHECK_CLOSE(packed[0], plain[0] + 100.0 * A[0], 1e-4, 1e-4);
    mm_packed_free(&p);
    free(A), free(W), free(plain), free(packed);
}

/* Bad problems fail with one line naming the matmul, and the context keeps it. */
static void test_invalid_problem_reports_error(void)
{
    mm_ctx *c;
    CHECK_EQ_INT(mm_ctx_create(&c, NULL), GT_OK);
    float x[4] = {0};
    gt_error err = {0};
    mm_desc zero = {.M = 0, .N = 2, .K = 2, .a = MM_F32, .b = MM_F32};
    CHECK_EQ_INT(mm_run(c, &zero, x, x, x, NULL, NULL, &err), GT_ERR_INVALID);
    CHECK(strstr(err.message, "matmul 0x2") != NULL);
    CHECK(mm_ctx_error(c) != NULL);
    mm_desc mixed = {.M = 2, .N = 2, .K = 2, .a = MM_F32, .b = MM_S8};
    CHECK_EQ_INT(mm_run(c, &mixed, x, x, x, NULL, NULL, &err), GT_ERR_INVALID);
    mm_desc no_bias = {.M = 2, .N = 2, .K = 2, .a = MM_F32, .b = MM_F32, .bias = 1};
    CHECK_EQ_INT(mm_run(c, &no_bias, x, x, x, NULL, NULL, &err), GT_ERR_INVALID);
    CHECK(strstr(err.message, "missing") != NULL);
    CHECK_EQ_INT(mm_cache_size(c), 0);
    mm_ctx_clear_error(c);
    CHECK(mm_ctx_error(c) == NULL);
    mm_ctx_destroy(c);
}

/* The forward and both backward layouts of a linear layer run on brgemm where
 * the CPU has AVX-512 (Debian's oneDNN 2.6 has brgemm matmuls only there). */
static void test_linear_layouts_use_brgemm(void)
{
    gt_nn_precision_info fp32, bf16i;
    gt_nn_check_precision(GT_NN_FP32, &fp32, NULL);
    int have_bf16 = gt_nn_check_precision(GT_NN_BF16, &bf16i, NULL) == GT_OK;
    int avx512 = strstr(fp32.isa, "avx512_core") != NULL;
    int rows = 512, in = 256, out = 768;
    for (int t = 0; t < 2; t++) {
        if (t == 1 && !have_bf16)
            break;
        mm_type ty = t ? MM_BF16 : MM_F32;
        mm_desc fwd = {.M = rows, .K = in, .N = out, .a = ty, .b = ty, .b_trans = 1, .bias = 1};
        mm_desc dx = {.M = rows, .K = out, .N = in, .a = ty, .b = ty, .accumulate = 1};
        mm_desc dw = {.M = out, .K = rows, .N = in, .a = ty, .b = ty, .a_trans = 1, .accumulate = 1};
        const mm_desc *all[3] = {&fwd, &dx, &dw};
        for (int i = 0; i < 3; i++) {
            const char *impl = mm_impl(ctx, all[i], NULL);
            CHECK(impl != NULL);
            printf("%s %s: %s\n", t ? "bf16" : "fp32", i == 0 ? "forward" : i == 1 ? "dx" : "dw",
                   impl ? impl : "?");
            if (avx512 && impl)
                CHECK_MSG(strstr(impl, "brg") != NULL, "%s", impl);
        }
    }
}

int main(void)
{
    ctx = test_mm_ctx();
    RUN(test_fp32_matches_double_reference);
    RUN(test_fp32_accumulates_into_output);
    RUN(test_bf16_within_format_bound);
    RUN(test_int8_exact_on_integers);
    RUN(test_primitive_cache_reuses);
    RUN(test_cache_grows);
    RUN(test_packed_weights_follow_epoch);
    RUN(test_invalid_problem_reports_error);
    RUN(test_linear_layouts_use_brgemm);
    mm_ctx_destroy(ctx);
    return test_summary();
}
