/* Helpers shared by the nn core tests (matmul, linear, optimizer): a seeded generator and reference
 * matmuls in double precision (independent of oneDNN). */
#ifndef GREENTUNE_TESTS_NN_CORE_TEST_UTIL_H
#define GREENTUNE_TESTS_NN_CORE_TEST_UTIL_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "nn/matmul.h"

/* xorshift64*: the same numbers on every machine. */
static inline double test_uniform(uint64_t *state)
{
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return (double)((*state * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

/* n values uniform in [-scale, scale). */
static inline float *test_random(long n, double scale, uint64_t seed)
{
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    float *x = malloc((size_t)n * sizeof *x);
    for (long i = 0; i < n; i++)
        x[i] = (float)((2.0 * test_uniform(&s) - 1.0) * scale);
    return x;
}

/* C(M, N) = op(A) op(B) in double; mag(M, N) = sum_k |a_ik b_kj|, the scale of
 * the rounding error of any floating-point evaluation of the same sum.
 * A stored (M, K) or (K, M) when a_trans; B stored (K, N) or (N, K) when b_trans. */
static inline void test_matmul_ref(double *C, double *mag, const float *A, const float *B, int M, int N, int K,
                                   int a_trans, int b_trans)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0.0, m = 0.0;
            for (int k = 0; k < K; k++) {
                double a = a_trans ? A[(long)k * M + i] : A[(long)i * K + k];
                double b = b_trans ? B[(long)j * K + k] : B[(long)k * N + j];
                s += a * b;
                m += fabs(a * b);
            }
            C[(long)i * N + j] = s;
            if (mag)
                mag[(long)i * N + j] = m;
        }
}

/* A matmul context, or exit(1) with oneDNN's reason (nothing can be tested without it). */
static inline mm_ctx *test_mm_ctx(void)
{
    mm_ctx *ctx;
    gt_error err = {0};
    if (mm_ctx_create(&ctx, &err) != GT_OK) {
        fprintf(stderr, "%s\n", err.message);
        exit(1);
    }
    return ctx;
}

#endif
