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

/* C = A B and C += A B (and A^T B, with A stored transposed) for shapes that
 * hit every kernel path (6-row blocks and their 1..5-row tails; 64/32/16-column
 * vectors and scalar columns), with strides wider than the rows. */
static void test_tile_gemm_matches_triple_loop(void)
{
    int shapes[][3] = {{1, 1, 1}, {6, 64, 64}, {7, 113, 9}, {13, 48, 70}, {64, 17, 64}, {5, 80, 3}, {12, 16, 0}};
    gc_rng rng = {400};
    for (unsigned s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int a_trans = 0; a_trans <= 1; a_trans++) {
            int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
            int lda = (a_trans ? M : K) + 3, ldb = N + 5, ldc = N + 2;
            long a_size = (long)(a_trans ? K + 1 : M) * lda;
            float *A = gc_floats(a_size), *Bm = gc_floats((long)(K + 1) * ldb), *Cm = gc_floats((long)M * ldc);
            gc_fill(&rng, A, a_size, -1, 1);
            gc_fill(&rng, Bm, (long)(K + 1) * ldb, -1, 1);
            for (int accumulate = 0; accumulate <= 1; accumulate++) {
                gc_fill(&rng, Cm, (long)M * ldc, -1, 1);
                float *before = gc_floats((long)M * ldc);
                for (long i = 0; i < (long)M * ldc; i++)
                    before[i] = Cm[i];
                if (a_trans)
                    tile_gemm_at(Cm, ldc, A, lda, Bm, ldb, M, N, K, accumulate);
                else
                    tile_gemm(Cm, ldc, A, lda, Bm, ldb, M, N, K, accumulate);
                double worst = 0;
                for (int i = 0; i < M; i++)
                    for (int j = 0; j < ldc; j++) {
                        double want = before[(long)i * ldc + j];
                        if (j < N) {
                            want = accumulate ? want : 0.0;
                            for (int k = 0; k < K; k++) {
                                float a = a_trans ? A[(long)k * lda + i] : A[(long)i * lda + k];
                                want += (double)a * Bm[(long)k * ldb + j];
                            }
                        }
                        /* sums of K products of |.| <= 1: error bounded by K ulps */
                        worst = fmax(worst, fabs(Cm[(long)i * ldc + j] - want));
                    }
                CHECK_MSG(worst <= 1e-6 * (K + 1), "tile_gemm%s M=%d N=%d K=%d accumulate=%d: max error %.3g",
                          a_trans ? "_at" : "", M, N, K, accumulate, worst);
                free(before);
            }
            free(A);
            free(Bm);
            free(Cm);
        }
}

/* Full 16 x 16 register blocks and ragged edges, strided source and
 * destination; the destination's padding columns stay untouched. */
static void test_tile_transpose(void)
{
    enum { rows = 37, cols = 50, lds = 53, ldd = 41 };
    float *src = gc_floats(rows * lds), *dst = gc_floats(cols * ldd);
    for (int i = 0; i < rows * lds; i++)
        src[i] = (float)i;
    for (int i = 0; i < cols * ldd; i++)
        dst[i] = -1;
    tile_transpose(dst, ldd, src, lds, rows, cols);
    int wrong = 0;
    for (int j = 0; j < cols; j++)
        for (int i = 0; i < ldd; i++)
            wrong += dst[j * ldd + i] != (i < rows ? src[i * lds + j] : -1.0f);
    CHECK_EQ_INT(wrong, 0);
    free(src);
    free(dst);
}

int main(void)
{
    RUN(test_expf_matches_libm);
    RUN(test_expf_special_values);
    RUN(test_tile_gemm_matches_triple_loop);
    RUN(test_tile_transpose);
    return test_summary();
}
