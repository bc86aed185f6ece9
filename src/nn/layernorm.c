/* LayerNorm over the last dimension, as torch.nn.LayerNorm: biased variance,
 * eps inside the square root, optional bias. */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "nn/layernorm_row.h"
#include "nn/ops.h"

/* y: (N, C), mean/rstd: (N) (may be NULL in inference), x: (N, C), w: (C),
 * b: (C) or NULL. */
void layernorm_forward(float *y, float *mean, float *rstd, const float *x, const float *w, const float *b,
                       int N, int C, float eps)
{
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++)
        layernorm_row(y + (long)n * C, mean ? mean + n : NULL, rstd ? rstd + n : NULL, x + (long)n * C, w, b, C,
                      eps);
}

/* Rows are summed into dw/db in LAYERNORM_GROUPS fixed groups (each group's
 * rows in order, then the groups in order), so the result is the same for any
 * thread count and the scratch size does not depend on it. */
#define LAYERNORM_GROUPS 64

long layernorm_scratch_floats(int C)
{
    return 2L * LAYERNORM_GROUPS * C;
}

/* With xhat = (x - mean) rstd and g = dy w:
 *   dx = rstd (g - mean(g) - xhat mean(g xhat)),  dw += dy xhat,  db += dy. */
void layernorm_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                        const float *mean, const float *rstd, float *scratch, int N, int C)
{
#pragma omp parallel for schedule(static)
    for (int g = 0; g < LAYERNORM_GROUPS; g++) {
        float *gdw = scratch + 2L * g * C, *gdb = gdw + C;
        memset(gdw, 0, sizeof(float) * 2 * C);
        int n0 = (int)((long)N * g / LAYERNORM_GROUPS), n1 = (int)((long)N * (g + 1) / LAYERNORM_GROUPS);
        for (int n = n0; n < n1; n++) {
            const float *xr = x + (long)n * C, *dyr = dy + (long)n * C;
            float *dxr = dx + (long)n * C;
            float mu = mean[n], rs = rstd[n];
            float sum_g = 0.0f, sum_gx = 0.0f;
#pragma omp simd reduction(+ : sum_g, sum_gx)
            for (int c = 0; c < C; c++) {
                float xhat = (xr[c] - mu) * rs, gc = dyr[c] * w[c];
                sum_g += gc;
                sum_gx += gc * xhat;
            }
            float mean_g = sum_g / C, mean_gx = sum_gx / C;
#pragma omp simd
            for (int c = 0; c < C; c++) {
                float xhat = (xr[c] - mu) * rs;
                dxr[c] = rs * (dyr[c] * w[c] - mean_g - xhat * mean_gx);
                gdw[c] += dyr[c] * xhat;
                gdb[c] += dyr[c];
            }
        }
    }
    for (int g = 0; g < LAYERNORM_GROUPS; g++) {
        const float *gdw = scratch + 2L * g * C, *gdb = gdw + C;
#pragma omp simd
        for (int c = 0; c < C; c++)
            dw[c] += gdw[c];
        if (db) {
#pragma omp simd
            for (int c = 0; c < C; c++)
                db[c] += gdb[c];
        }
    }
}
