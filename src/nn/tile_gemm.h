/* Small dense matrix blocks for attention: the Q K^T, P V and gradient
 * products of one head, register-blocked in plain C (GCC vector extensions).
 *
 * Ops do not call oneDNN: these blocks are tiny (tens to hundreds of rows), come
 * in strided views of the packed qkv buffer and sit between softmax steps, where
 * a library call per block would cost more than the arithmetic. */
#ifndef GREENTUNE_NN_TILE_GEMM_H
#define GREENTUNE_NN_TILE_GEMM_H

/* C = A B (accumulate = 0) or C += A B (accumulate = 1).
 * C: (M, N) with row stride ldc, A: (M, K) stride lda, B: (K, N) stride ldb,
 * all row-major floats. The k loop runs in order 0..K-1 for every element, so
 * results do not depend on M, N or the caller's blocking. */
void tile_gemm(float *C, int ldc, const float *A, int lda, const float *B, int ldb, int M, int N, int K,
               int accumulate);

/* C = A^T B or C += A^T B, with A stored as its (K, M) transpose, stride lda:
 * the products P^T dout and dS^T q of attention's backward pass, without
 * transposing P or dS first. */
void tile_gemm_at(float *C, int ldc, const float *A, int lda, const float *B, int ldb, int M, int N, int K,
                  int accumulate);

/* dst = src^T.  dst: (cols, rows) with stride ldd, src: (rows, cols) stride lds. */
void tile_transpose(float *dst, int ldd, const float *src, int lds, int rows, int cols);

#endif
