/* Inverted dropout with a counter-based generator.
 *
 * Element i's keep/drop decision is a pure function of (seed, offset + i): the
 * splitmix64 output for that counter. No generator state moves between threads
 * or calls, so any thread count and any split of the work give the same mask,
 * and the caller picks `offset` so that every dropout site of a step (and every
 * step, through the seed) draws fresh numbers. */
#include <string.h>

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
