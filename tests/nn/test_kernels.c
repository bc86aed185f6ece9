/* The building blocks under the ops: the vectorizable exp against
 * double-precision libm, and the small blocked GEMM against a plain triple loop.
 * (erfc is checked where it is used, through GELU, in test_values.c.) */
#include <math.h>
#include <stdlib.h>

#include "gradcheck.h"
#include "nn/fastmath.h"
#include "nn/tile_gemm.h"
#include "test_support.h"

/* Relative error below 2e-7 over the whole normal range. */
static void test_expf_matches_libm(void)
{
    double worst = 0;
    for (double x = -87.3; x < 88.3; x += 1e-3) {
        float xf = (float)x;
        double e = exp((double)xf);
        worst = fmax(worst, fabs(nn_expf(xf) - e) / e);
    }
    CHECK_MSG(worst < 2e-7, "nn_expf: worst relative error %.3g", worst);
}

/* What softmax and the sigmoids rely on: exp(-inf) = 0, exp(0) = 1 exactly,
 * tiny -> 0, huge -> inf, NaN stays NaN. */
static void test_expf_special_values(void)
{
    CHECK(nn_expf(-INFINITY) == 0.0f);
    CHECK(isinf(nn_expf(100.0f)) && isinf(nn_expf(INFINITY)));
    CHECK(nn_expf(-200.0f) == 0.0f);
    CHECK(nn_expf(0.0f) == 1.0f);
    CHECK(isnan(nn_expf(NAN)));
}

/* C = A B and C += A B for shapes that hit every kernel path (6-row blocks and
 * their 1..5-row tails; 64/32/16-column vectors and scalar columns), with
 * strides wider than the rows. */
static void test_tile_gemm_matches_triple_loop(void)
{
    int shapes[][3] = {{1, 1, 1}, {6, 64, 64}, {7, 113, 9}, {13, 48, 70}, {64, 17, 64}, {5, 80, 3}, {12, 16, 0}};
    gc_rng rng = {400};
    for (unsigned s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        int lda = K + 3, ldb = N + 5, ldc = N + 2;
        float *A = gc_floats((long)M * lda + 1), *Bm = gc_floats((long)(K + 1) * ldb), *Cm = gc_floats((long)M * ldc);
        gc_fill(&rng, A, (long)M * lda + 1, -1, 1);
        gc_fill(&rng, Bm, (long)(K + 1) * ldb, -1, 1);
        for (int accumulate = 0; accumulate <= 1; accumulate++) {
            gc_fill(&rng, Cm, (long)M * ldc, -1, 1);
            float *before = gc_floats((long)M * ldc);
            for (long i = 0; i < (long)M * ldc; i++)
                before[i] = Cm[i];
            tile_gemm(Cm, ldc, A, lda, Bm, ldb, M, N, K, accumulate);
            double worst = 0;
            for (int i = 0; i < M; i++)
                for (int j = 0; j < ldc; j++) {
                    double want = before[(long)i * ldc + j];
                    if (j < N) {
                        want = accumulate ? want : 0.0;
                        for (int k = 0; k < K; k++)
                            want += (double)A[(long)i * lda + k] * Bm[(long)k * ldb + j];
                    }
                    /* sums of K products of |.| <= 1: error bounded by K ulps */
                    worst = fmax(worst, fabs(Cm[(long)i * ldc + j] - want));
                }
            CHECK_MSG(worst <= 1e-6 * (K + 1), "tile_gemm M=%d N=%d K=%d accumulate=%d: max error %.3g", M, N, K,
                      accumulate, worst);
            free(before);
        }
        free(A);
        free(Bm);
        free(Cm);
    }
}

static void test_tile_transpose(void)
{
    float src[3 * 5], dst[5 * 4];
    for (int i = 0; i < 15; i++)
        src[i] = (float)i;
    for (int i = 0; i < 20; i++)
        dst[i] = -1;
    tile_transpose(dst, 4, src, 5, 3, 5); /* (3, 5) -> (5, 3) with stride 4 */
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 5; j++)
            CHECK_EQ_INT(dst[j * 4 + i], src[i * 5 + j]);
    CHECK_EQ_INT(dst[3], -1); /* padding column untouched */
}

int main(void)
{
    RUN(test_expf_matches_libm);
    RUN(test_expf_special_values);
    RUN(test_tile_gemm_matches_triple_loop);
    RUN(test_tile_transpose);
    return test_summary();
}
