/* Sequence pooling for classification: the first ([CLS]) token, or the mean
 * of the real (non-padding) tokens. */
#include <string.h>

#include "nn/ops.h"

/* out: (B, C), x: (B, T, C). */
void cls_pool_forward(float *out, const float *x, int B, int T, int C)
{
    for (int b = 0; b < B; b++)
        memcpy(out + (long)b * C, x + (long)b * T * C, sizeof(float) * C);
}

/* dx: (B, T, C), only rows t = 0 accumulated; dout: (B, C). */
void cls_pool_backward(float *dx, const float *dout, int B, int T, int C)
{
    for (int b = 0; b < B; b++) {
        float *d = dx + (long)b * T * C;
        const float *g = dout + (long)b * C;
#pragma omp simd
        for (int c = 0; c < C; c++)
            d[c] += g[c];
    }
}

/* out: (B, C), x: (B, T, C), valid: (B) or NULL (all T). A sequence with no
 * real token pools to zeros. */
void mean_pool_forward(float *out, const float *x, const int32_t *valid, int B, int T, int C)
{
#pragma omp parallel for schedule(static)
    for (int b = 0; b < B; b++) {
        float *o = out + (long)b * C;
        int n = valid_tokens(valid, b, T);
        memset(o, 0, sizeof(float) * C);
        for (int t = 0; t < n; t++) {
            const float *xr = x + ((long)b * T + t) * C;
#pragma omp simd
            for (int c = 0; c < C; c++)
                o[c] += xr[c];
        }
        float inv = n > 0 ? 1.0f / n : 0.0f;
#pragma omp simd
        for (int c = 0; c < C; c++)
            o[c] *= inv;
    }
}

/* dx: (B, T, C), rows t < valid[b] accumulated; dout: (B, C). */
void mean_pool_backward(float *dx, const float *dout, const int32_t *valid, int B, int T, int C)
{
#pragma omp parallel for schedule(static)
    for (int b = 0; b < B; b++) {
        int n = valid_tokens(valid, b, T);
        if (n == 0)
            continue;
        float inv = 1.0f / n;
        const float *g = dout + (long)b * C;
        for (int t = 0; t < n; t++) {
            float *d = dx + ((long)b * T + t) * C;
#pragma omp simd
            for (int c = 0; c < C; c++)
                d[c] += g[c] * inv;
        }
    }
}
