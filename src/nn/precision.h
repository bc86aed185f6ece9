/* Number formats: fp32 <-> bf16 conversion and int8 quantization.
 *
 * bf16 keeps fp32's 8-bit exponent and the top 7 of its 23 stored mantissa bits
 * (8 significant bits), so a conversion rounds to nearest (ties to even) with a
 * relative error of at most 2^-8 (0.39 %) for normal values; NaN stays NaN,
 * infinities and the fp32 range are kept (values beyond the largest bf16,
 * 3.3895e38, by more than half a step round to infinity, as IEEE rounding says).
 *
 * int8 is symmetric (no zero points): q = round(x / s), s = absmax / 127 for
 * signed data (weights, activations with negative values) and absmax / 255 for
 * activations with no negative value (u8). Rounding error per element is at
 * most s / 2. */
#ifndef GREENTUNE_NN_PRECISION_H
#define GREENTUNE_NN_PRECISION_H

#include <stdint.h>
#include <string.h>

#include "greentune/nn.h"

typedef uint16_t bf16;

/* One value, round to nearest even; NaN -> quiet NaN of the same sign. */
static inline bf16 bf16_from_float(float x)
{
    uint32_t bits;
    memcpy(&bits, &x, sizeof bits);
    uint32_t rounded = (bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16;
    uint32_t nan = (bits >> 16) | 0x40u;
    return (bf16)((bits & 0x7fffffffu) > 0x7f800000u ? nan : rounded);
}

static inline float bf16_to_float(bf16 h)
{
    uint32_t bits = (uint32_t)h << 16;
    float x;
    memcpy(&x, &bits, sizeof x);
    return x;
}

/* out[i] = bf16(in[i]), (n) each; parallel and vectorised for large n. */
void bf16_from_fp32(bf16 *out, const float *in, long n);
void bf16_to_fp32(float *out, const bf16 *in, long n);

/* Dynamic per-tensor activation quantization. Writes q (n bytes): u8 with
 * s = max / 255 when no x is negative, else s8 with s = absmax / 127; returns s
 * (1 for an all-zero x, so scales are never 0) and sets *is_unsigned. */
float quantize_activations(void *q, int *is_unsigned, const float *x, long n);

/* Per-output-channel symmetric weight quantization of a torch-layout (out, in)
 * matrix: scales[o] = absmax(w[o, :]) / qmax (1 for an all-zero row),
 * q[o, i] = round(w[o, i] / scales[o]) in [-qmax, qmax]. */
void quantize_weights(int8_t *q, float *scales, const float *w, int out, int in, int qmax);

/* The weight range int8 matmuls can use on this CPU: 127 with VNNI; 63
 * without, where oneDNN multiplies u8 by s8 with vpmaddubsw, whose 16-bit sum
 * of two products saturates unless |w| <= 63 (255 * 63 * 2 < 32767) — the
 * same reason PyTorch reduces the range on such CPUs. */
int int8_weight_qmax(void);

/* fp32 = q * scale, for tests and for dequantizing weights. */
void dequantize_s8(float *out, const int8_t *q, float scale, long n);

#endif
