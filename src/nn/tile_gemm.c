#include "nn/tile_gemm.h"

#include <string.h>

/* 16 floats: one AVX-512 register (two AVX2 registers elsewhere). */
typedef float v16 __attribute__((vector_size(64)));

/* Rows of C computed together: TILE_MR rows x 4 vectors = 24 accumulators plus
 * 4 rows of B fit the 32 vector registers of AVX-512. */
#define TILE_MR 6
#define TILE_NV 4

static inline v16 load16(const float *p)
{
    v16 v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void store16(float *p, v16 v)
{
    memcpy(p, &v, sizeof v);
}

/* An (mr, 16 * nv) block of C; mr and nv are constants at every call site, so
 * the loops unroll and the accumulators live in registers. */
static inline __attribute__((always_inline)) void micro_kernel(int mr, int nv, float *C, int ldc, const float *A,
                                                                int lda, const float *B, int ldb, int K, int accumulate)
{
    v16 c[TILE_MR][TILE_NV];
#pragma GCC unroll 8
    for (int r = 0; r < mr; r++)
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++)
            c[r][v] = accumulate ? load16(C + (long)r * ldc + 16 * v) : (v16){0};
    for (int k = 0; k < K; k++) {
        v16 b[TILE_NV];
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++)
            b[v] = load16(B + (long)k * ldb + 16 * v);
#pragma GCC unroll 8
        for (int r = 0; r < mr; r++) {
            float a = A[(long)r * lda + k];
#pragma GCC unroll 4
            for (int v = 0; v < nv; v++)
                c[r][v] += a * b[v];
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < mr; r++)
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++)
            store16(C + (long)r * ldc + 16 * v, c[r][v]);
}

/* Columns [j, N) that do not fill a vector, one dot product each. */
static void scalar_columns(float *C, int ldc, const float *A, int lda, const float *B, int ldb, int mr, int j,
                           int N, int K, int accumulate)
{
    for (int r = 0; r < mr; r++)
        for (int jj = j; jj < N; jj++) {
            float s = accumulate ? C[(long)r * ldc + jj] : 0.0f;
            for (int k = 0; k < K; k++)
                s += A[(long)r * lda + k] * B[(long)k * ldb + jj];
            C[(long)r * ldc + jj] = s;
        }
}

/* TILE_MR (or fewer) rows of C: 64-column blocks, then 32, 16, then scalars. */
static inline __attribute__((always_inline)) void row_block(int mr, float *C, int ldc, const float *A, int lda,
                                                             const float *B, int ldb, int N, int K, int accumulate)
{
    int j = 0;
    for (; j + 64 <= N; j += 64)
        micro_kernel(mr, 4, C + j, ldc, A, lda, B + j, ldb, K, accumulate);
    if (j + 32 <= N) {
        micro_kernel(mr, 2, C + j, ldc, A, lda, B + j, ldb, K, accumulate);
        j += 32;
    }
    if (j + 16 <= N) {
        micro_kernel(mr, 1, C + j, ldc, A, lda, B + j, ldb, K, accumulate);
        j += 16;
    }
    scalar_columns(C, ldc, A, lda, B, ldb, mr, j, N, K, accumulate);
}

void tile_gemm(float *C, int ldc, const float *A, int lda, const float *B, int ldb, int M, int N, int K,
               int accumulate)
{
    int i = 0;
    for (; i + TILE_MR <= M; i += TILE_MR)
        row_block(TILE_MR, C + (long)i * ldc, ldc, A + (long)i * lda, lda, B, ldb, N, K, accumulate);
    float *Ci = C + (long)i * ldc;
    const float *Ai = A + (long)i * lda;
    switch (M - i) {
    case 5: row_block(5, Ci, ldc, Ai, lda, B, ldb, N, K, accumulate); break;
    case 4: row_block(4, Ci, ldc, Ai, lda, B, ldb, N, K, accumulate); break;
    case 3: row_block(3, Ci, ldc, Ai, lda, B, ldb, N, K, accumulate); break;
    case 2: row_block(2, Ci, ldc, Ai, lda, B, ldb, N, K, accumulate); break;
    case 1: row_block(1, Ci, ldc, Ai, lda, B, ldb, N, K, accumulate); break;
    default: break;
    }
}

void tile_transpose(float *dst, int ldd, const float *src, int lds, int rows, int cols)
{
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++)
            dst[(long)j * ldd + i] = src[(long)i * lds + j];
}
