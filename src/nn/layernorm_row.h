/* One row of LayerNorm, shared by layernorm_forward and the fused
 * residual + LayerNorm (dropout.c): one definition of the arithmetic. */
#ifndef GREENTUNE_NN_LAYERNORM_ROW_H
#define GREENTUNE_NN_LAYERNORM_ROW_H

#include <math.h>

/* yr = (xr - mean) rstd w + b over C values (b may be NULL); two passes (mean,
 * then squared deviations): the one-pass E[x^2] - E[x]^2 loses digits when
 * |mean| >> std. */
static inline void layernorm_row(float *yr, float *mean, float *rstd, const float *xr, const float *w,
                                 const float *b, int C, float eps)
{
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int c = 0; c < C; c++)
        sum += xr[c];
    float mu = sum / C;
    float ss = 0.0f;
#pragma omp simd reduction(+ : ss)
    for (int c = 0; c < C; c++)
        ss += (xr[c] - mu) * (xr[c] - mu);
    float rs = 1.0f / sqrtf(ss / C + eps);
    if (b) {
#pragma omp simd
        for (int c = 0; c < C; c++)
            yr[c] = (xr[c] - mu) * rs * w[c] + b[c];
    } else {
#pragma omp simd
        for (int c = 0; c < C; c++)
            yr[c] = (xr[c] - mu) * rs * w[c];
    }
    if (mean)
        *mean = mu;
    if (rstd)
        *rstd = rs;
}

#endif
