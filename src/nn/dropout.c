/* Inverted dropout with a counter-based generator.
 *
 * Element i's keep/drop decision is a pure function of (seed, offset + i): the
 * splitmix64 output for that counter. No generator state moves between threads
 * or calls, so any thread count and any split of the work give the same mask,
 * and the caller picks `offset` so that every dropout site of a step (and every
 * step, through the seed) draws fresh numbers. */
#include <string.h>

#include "nn/layernorm_row.h"
#include "nn/ops.h"

/* splitmix64's finaliser on counter c (Steele, Lea, Flood 2014). */
static inline uint64_t mix64(uint64_t seed, uint64_t c)
{
    uint64_t z = seed + (c + 1) * 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* y, mask, x: (n). Element kept with probability 1 - p (its top 32 random bits
 * at or above p * 2^32); p >= 1 drops everything. */
void dropout_forward(float *y, uint8_t *mask, const float *x, long n, float p, uint64_t seed, uint64_t offset)
{
    if (p <= 0.0f) {
        if (y != x)
            memmove(y, x, sizeof(float) * n);
        memset(mask, 1, n);
        return;
    }
    if (p >= 1.0f) {
        memset(y, 0, sizeof(float) * n);
        memset(mask, 0, n);
        return;
    }
    const uint64_t threshold = (uint64_t)((double)p * 4294967296.0);
    const float scale = 1.0f / (1.0f - p);
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) {
        uint8_t keep = (mix64(seed, offset + (uint64_t)i) >> 32) >= threshold;
        mask[i] = keep;
        y[i] = keep ? x[i] * scale : 0.0f;
    }
}

/* y, mask, x, residual: (n). */
void dropout_residual_forward(float *y, uint8_t *mask, const float *x, const float *residual, long n, float p,
                              uint64_t seed, uint64_t offset)
{
    if (p <= 0.0f || p >= 1.0f) {
        dropout_forward(y, mask, x, n, p, seed, offset);
        residual_forward(y, y, residual, n);
        return;
    }
    const uint64_t threshold = (uint64_t)((double)p * 4294967296.0);
    const float scale = 1.0f / (1.0f - p);
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) {
        uint8_t keep = (mix64(seed, offset + (uint64_t)i) >> 32) >= threshold;
        mask[i] = keep;
        y[i] = (keep ? x[i] * scale : 0.0f) + residual[i];
    }
}

/* dx, mask, dy: (n); dx may equal dy. */
void dropout_backward(float *dx, const uint8_t *mask, const float *dy, long n, float p)
{
    const float scale = p >= 1.0f ? 0.0f : 1.0f / (1.0f - p);
#pragma omp parallel for simd schedule(static)
    for (long i = 0; i < n; i++)
        dx[i] = mask[i] ? dy[i] * scale : 0.0f;
}

/* Row by row: the residual sum (with dropout) of a row, then its LayerNorm
 * while the row is still in cache. Element i of the flat (N, C) arrays uses
 * counter offset + i, as dropout_residual_forward. */
void residual_layernorm_forward(float *res, float *y, float *mean, float *rstd, uint8_t *mask, const float *x,
                                const float *residual, const float *w, const float *b, int N, int C, float eps,
                                float p, uint64_t seed, uint64_t offset)
{
    int drop = mask && p > 0.0f;
    const uint64_t threshold = (uint64_t)((double)p * 4294967296.0);
    const float scale = p >= 1.0f ? 0.0f : 1.0f / (1.0f - p);
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        long r0 = (long)n * C;
        float *rr = res + r0;
        if (!drop) {
#pragma omp simd
            for (int c = 0; c < C; c++)
                rr[c] = x[r0 + c] + residual[r0 + c];
        } else if (p >= 1.0f) {
            memset(mask + r0, 0, (size_t)C);
            for (int c = 0; c < C; c++)
                rr[c] = 0.0f + residual[r0 + c];
        } else {
            for (int c = 0; c < C; c++) {
                uint8_t keep = (mix64(seed, offset + (uint64_t)(r0 + c)) >> 32) >= threshold;
                mask[r0 + c] = keep;
                rr[c] = (keep ? x[r0 + c] * scale : 0.0f) + residual[r0 + c];
            }
        }
        layernorm_row(y + r0, mean ? mean + n : NULL, rstd ? rstd + n : NULL, rr, w, b, C, eps);
    }
}
