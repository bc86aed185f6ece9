/* What both attention implementations share: which keys a query may see,
 * where a head's rows are, and the masked softmax pieces of one score row.
 *
 * For query i of a sequence with `valid` real tokens the allowed keys always
 * form one interval [lo, hi): keys at or past `valid` are padding, and a sliding
 * window keeps |i - j| <= window / 2 (ModernBERT builds its local mask as
 * abs(i - j) <= local_attention // 2). Both bounds grow with i, which the
 * blocked loops use to skip whole blocks. An empty interval (lo >= hi) is a
 * fully masked row: its output is defined as zero. */
#ifndef GREENTUNE_NN_ATTENTION_ROWS_H
#define GREENTUNE_NN_ATTENTION_ROWS_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "nn/fastmath.h"
#include "nn/ops.h"

/* Allowed keys [*lo, *hi) of query i; *hi <= *lo when none. */
static inline void attention_key_range(int *lo, int *hi, int i, int valid, int window)
{
    int l = 0, h = valid;
    if (window > 0) {
        int r = window / 2;
        if (i - r > l)
            l = i - r;
        if (i + r + 1 < h)
            h = i + r + 1;
    }
    *lo = l;
    *hi = h;
}

/* Offsets of head h of sequence b: q rows in the packed (B, T, 3, H, D) qkv
 * buffer (k is +H*D, v is +2*H*D from there, rows 3*H*D apart) and rows of the
 * (B, T, H, D) output (H*D apart). */
static inline long attention_qkv_offset(attention_shape s, int b, int h)
{
    return (long)b * s.T * 3 * s.H * s.D + (long)h * s.D;
}

static inline long attention_out_offset(attention_shape s, int b, int h)
{
    return (long)b * s.T * s.H * s.D + (long)h * s.D;
}

/* row[j] = exp(row[j] * scale - shift) for j in [a, b), 0 for the rest of
 * [0, n): the probabilities of one row of raw scores, masked. Returns their
 * sum. b <= a (a fully masked row, a and b possibly outside [0, n)) zeroes it. */
static inline float attention_row_exp(float *row, int n, int a, int b, float scale, float shift)
{
    if (a >= b) {
        memset(row, 0, sizeof(float) * n);
        return 0.0f;
    }
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int j = a; j < b; j++) {
        row[j] = nn_expf(row[j] * scale - shift);
        sum += row[j];
    }
    memset(row, 0, sizeof(float) * a);
    memset(row + b, 0, sizeof(float) * (n - b));
    return sum;
}

#endif
