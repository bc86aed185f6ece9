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

/* Element (r, k) of the left operand: A[r][k], or A[k][r] when it is stored
 * transposed (the (K, M) matrix whose transpose is multiplied). */
static inline __attribute__((always_inline)) float a_at(const float *A, int lda, int a_trans, int r, int k)
{
    return a_trans ? A[(long)k * lda + r] : A[(long)r * lda + k];
}

/* An (mr, 16 * nv) block of C; mr, nv and a_trans are constants at every call
 * site, so the loops unroll and the accumulators live in registers. */
static inline __attribute__((always_inline)) void micro_kernel(int mr, int nv, int a_trans, float *C, int ldc,
                                                                const float *A, int lda, const float *B, int ldb,
                                                                int K, int accumulate)
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
            float a = a_at(A, lda, a_trans, r, k);
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
static void scalar_columns(int a_trans, float *C, int ldc, const float *A, int lda, const float *B, int ldb,
                           int mr, int j, int N, int K, int accumulate)
{
    for (int r = 0; r < mr; r++)
        for (int jj = j; jj < N; jj++) {
            float s = accumulate ? C[(long)r * ldc + jj] : 0.0f;
            for (int k = 0; k < K; k++)
                s += a_at(A, lda, a_trans, r, k) * B[(long)k * ldb + jj];
            C[(long)r * ldc + jj] = s;
        }
}

/* TILE_MR (or fewer) rows of C: 64-column blocks, then 32, 16, then scalars. */
static inline __attribute__((always_inline)) void row_block(int mr, int a_trans, float *C, int ldc, const float *A,
                                                             int lda, const float *B, int ldb, int N, int K,
                                                             int accumulate)
{
    int j = 0;
    for (; j + 64 <= N; j += 64)
        micro_kernel(mr, 4, a_trans, C + j, ldc, A, lda, B + j, ldb, K, accumulate);
    if (j + 32 <= N) {
        micro_kernel(mr, 2, a_trans, C + j, ldc, A, lda, B + j, ldb, K, accumulate);
        j += 32;
    }
    if (j + 16 <= N) {
        micro_kernel(mr, 1, a_trans, C + j, ldc, A, lda, B + j, ldb, K, accumulate);
        j += 16;
    }
    scalar_columns(a_trans, C, ldc, A, lda, B, ldb, mr, j, N, K, accumulate);
}

/* Row i of the left operand starts at A + i * lda, or at A + i (column i)
 * when it is stored transposed. */
static inline __attribute__((always_inline)) void gemm(int a_trans, float *C, int ldc, const float *A, int lda,
                                                        const float *B, int ldb, int M, int N, int K, int accumulate)
{
    int i = 0;
    long a_step = a_trans ? 1 : lda;
    for (; i + TILE_MR <= M; i += TILE_MR)
        row_block(TILE_MR, a_trans, C + (long)i * ldc, ldc, A + i * a_step, lda, B, ldb, N, K, accumulate);
    float *Ci = C + (long)i * ldc;
    const float *Ai = A + i * a_step;
    switch (M - i) {
    case 5: row_block(5, a_trans, Ci, ldc, Ai, lda, B, ldb, N, K, accumulate); break;
    case 4: row_block(4, a_trans, Ci, ldc, Ai, lda, B, ldb, N, K, accumulate); break;
    case 3: row_block(3, a_trans, Ci, ldc, Ai, lda, B, ldb, N, K, accumulate); break;
    case 2: row_block(2, a_trans, Ci, ldc, Ai, lda, B, ldb, N, K, accumulate); break;
    case 1: row_block(1, a_trans, Ci, ldc, Ai, lda, B, ldb, N, K, accumulate); break;
    default: break;
    }
}

void tile_gemm(float *C, int ldc, const float *A, int lda, const float *B, int ldb, int M, int N, int K,
               int accumulate)
{
    gemm(0, C, ldc, A, lda, B, ldb, M, N, K, accumulate);
}

void tile_gemm_at(float *C, int ldc, const float *A, int lda, const float *B, int ldb, int M, int N, int K,
                  int accumulate)
{
    gemm(1, C, ldc, A, lda, B, ldb, M, N, K, accumulate);
}

#define LANES(...) __VA_ARGS__

/* Rows i and i + s of a round: the off-diagonal s x s blocks change places.
 * `lo` and `hi` are the lane lists (0-15 from row i, 16-31 from row i + s) of
 * the two new rows, in parentheses. */
#define SWAP_BLOCKS(r, i, s, lo, hi)                                                                           \
    do {                                                                                                       \
        v16 a_ = r[i], b_ = r[i + s];                                                                          \
        r[i] = __builtin_shufflevector(a_, b_, LANES lo);                                                      \
        r[i + s] = __builtin_shufflevector(a_, b_, LANES hi);                                                  \
    } while (0)

/* Transposes 16 rows of 16 floats in registers: four rounds of swapping the
 * off-diagonal s x s blocks of every 2s x 2s block (s = 8, 4, 2, 1); each new
 * row is one two-source lane permute. */
static inline void transpose16(v16 r[16])
{
    for (int i = 0; i < 16; i++)
        if (!(i & 8))
            SWAP_BLOCKS(r, i, 8, (0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23),
                        (8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31));
    for (int i = 0; i < 16; i++)
        if (!(i & 4))
            SWAP_BLOCKS(r, i, 4, (0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27),
                        (4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31));
    for (int i = 0; i < 16; i++)
        if (!(i & 2))
            SWAP_BLOCKS(r, i, 2, (0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29),
                        (2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31));
    for (int i = 0; i < 16; i++)
        if (!(i & 1))
            SWAP_BLOCKS(r, i, 1, (0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30),
                        (1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31));
}

/* Full 16 x 16 blocks in registers, the ragged edges element by element. */
void tile_transpose(float *dst, int ldd, const float *src, int lds, int rows, int cols)
{
    int i0 = 0;
    for (; i0 + 16 <= rows; i0 += 16) {
        int j0 = 0;
        for (; j0 + 16 <= cols; j0 += 16) {
            v16 r[16];
            for (int i = 0; i < 16; i++)
                r[i] = load16(src + (long)(i0 + i) * lds + j0);
            transpose16(r);
            for (int j = 0; j < 16; j++)
                store16(dst + (long)(j0 + j) * ldd + i0, r[j]);
        }
        for (int j = j0; j < cols; j++)
            for (int i = i0; i < i0 + 16; i++)
                dst[(long)j * ldd + i] = src[(long)i * lds + j];
    }
    for (int i = i0; i < rows; i++)
        for (int j = 0; j < cols; j++)
            dst[(long)j * ldd + i] = src[(long)i * lds + j];
}
