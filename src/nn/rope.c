/* Rotary position embedding, GPT-NeoX "rotate half" convention (ModernBERT,
 * HF transformers' rotate_half): dimension i < D/2 of a head is paired with
 * i + D/2 and the pair is rotated by angle(t, i) = t * theta^(-2i/D):
 *   x'[i]       = x[i] cos - x[i + D/2] sin
 *   x'[i + D/2] = x[i + D/2] cos + x[i] sin
 * (HF writes this as x * cat(cos, cos) + rotate_half(x) * cat(sin, sin)). */
#include <math.h>

#include "nn/ops.h"

/* The angles are computed the way PyTorch does in float32: inv_freq = 1 /
 * theta^(2i/D) and t * inv_freq each rounded to float. Exact (double) angles
 * would be "better" but differ from ModernBERT's tables by up to t * 2^-24 rad
 * (1.5e-5 at t = 256), more than the parity tolerance. */
void rope_tables(float *cos_table, float *sin_table, int T, int D, double theta)
{
    int half = D / 2;
    for (int i = 0; i < half; i++) {
        float inv_freq = 1.0f / powf((float)theta, (float)(2 * i) / (float)D);
        for (int t = 0; t < T; t++) {
            float angle = (float)t * inv_freq;
            cos_table[(long)t * half + i] = (float)cos((double)angle);
            sin_table[(long)t * half + i] = (float)sin((double)angle);
        }
    }
}

/* Rotates every head of every token by +angle (direction 1) or -angle (-1). */
static void rotate(float *x, const float *cos_table, const float *sin_table, int B, int T, int H, int D, int stride,
                   float direction)
{
    int half = D / 2;
#pragma omp parallel for schedule(static)
    for (int bt = 0; bt < B * T; bt++) {
        const float *c = cos_table + (long)(bt % T) * half;
        const float *sn = sin_table + (long)(bt % T) * half;
        for (int h = 0; h < H; h++) {
            float *p = x + (long)bt * stride + (long)h * D;
#pragma omp simd
            for (int i = 0; i < half; i++) {
                float x1 = p[i], x2 = p[i + half], s = direction * sn[i];
                p[i] = x1 * c[i] - x2 * s;
                p[i + half] = x2 * c[i] + x1 * s;
            }
        }
    }
}

void rope_forward(float *x, const float *cos_table, const float *sin_table, int B, int T, int H, int D, int stride)
{
    rotate(x, cos_table, sin_table, B, T, H, D, stride, 1.0f);
}

/* The rotation is orthogonal, so its gradient is the opposite rotation. */
void rope_backward(float *dx, const float *cos_table, const float *sin_table, int B, int T, int H, int D,
                   int stride)
{
    rotate(dx, cos_table, sin_table, B, T, H, D, stride, -1.0f);
}
