/* Which keys a query may see, shared by both attention implementations.
 *
 * For query i of a sequence with `valid` real tokens the allowed keys always
 * form one interval [lo, hi): keys at or past `valid` are padding, and a sliding
 * window keeps |i - j| <= window / 2 (ModernBERT builds its local mask as
 * abs(i - j) <= local_attention // 2). Both bounds grow with i, which the
 * blocked loops use to skip whole blocks. An empty interval (lo >= hi) is a
 * fully masked row: its output is defined as zero. */
#ifndef GREENTUNE_NN_ATTENTION_MASK_H
#define GREENTUNE_NN_ATTENTION_MASK_H

#include <stdint.h>

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

#endif
