#include "nn/adamw8bit.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

/* Grids: m has 127 magnitudes at 8 per octave, r = sqrt(v) 255 at 16 per octave. */
#define M_MAX 127
#define M_STEPS 8
#define R_MAX 255
#define R_STEPS 16
/* floor(steps * log2(mantissa)), looked up by the mantissa's top 10 bits. */
#define FRAC_BITS 10

static float lut_m[M_MAX + 2], lut_r[R_MAX + 2];
static uint8_t floor_m[1 << FRAC_BITS], floor_r[1 << FRAC_BITS];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static void fill(float *lut, uint8_t *flo, int kmax, int steps)
{
    for (int k = 1; k <= kmax; k++)
        lut[k] = (float)exp2((k - kmax) / (double)steps);
    lut[kmax + 1] = 2.0f;   /* a sentinel above the top */
    for (int i = 0; i < 1 << FRAC_BITS; i++)
        flo[i] = (uint8_t)floor(steps * log2(1.0 + (double)i / (1 << FRAC_BITS)));
}

static void make_tables(void)
{
    fill(lut_m, floor_m, M_MAX, M_STEPS);
    fill(lut_r, floor_r, R_MAX, R_STEPS);
}

/* The grid index of t = |x| / scale in [0, 1], rounding up with probability
 * u-threshold equal to t's linear position between its two neighbouring grid
 * values (stochastic rounding when u is uniform noise, round to nearest when
 * u = 0.5). Nonzero values of r never round to zero (keep_nonzero): a zero
 * denominator would turn Adam's step into m / eps. */
static inline int grid_code(float t, const float *lut, const uint8_t *flo, int steps, int kmax, float u,
                            int keep_nonzero)
{
    if (!(t > 0.0f))
        return 0;
    if (t >= 1.0f)
        return kmax;
    int k = 0;
    if (t >= lut[1]) {
        uint32_t bits;
        memcpy(&bits, &t, sizeof bits);
        k = kmax + steps * ((int)(bits >> 23) - 127) + flo[(bits >> (23 - FRAC_BITS)) & ((1u << FRAC_BITS) - 1)];
        /* The table floors per bucket of mantissas: fix the rare off-by-one. */
        k = k < 1 ? 1 : k > kmax ? kmax : k;
        if (t < lut[k])
            k--;
        else if (t >= lut[k + 1])
            k++;
        if (k >= kmax)
            return kmax;
    }
    float lo = k ? lut[k] : 0.0f, hi = lut[k + 1];
    k += u < (t - lo) / (hi - lo);
    return k == 0 && keep_nonzero ? 1 : k;
}

/* splitmix64: the rounding noise of value `index` at step `seed`, the same
 * for any thread count. */
static inline uint64_t mix(uint64_t z)
{
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static inline float unit(uint64_t h)
{
    return (float)(h >> 40) * (1.0f / 16777216.0f);
}

uint8_t adamw8bit_encode_m(float m, float scale, float u)
{
    pthread_once(&tables_once, make_tables);
    if (!(scale > 0.0f))
        return 0;
    int k = grid_code(fabsf(m) * (1.0f / scale), lut_m, floor_m, M_STEPS, M_MAX, u, 0);
    return (uint8_t)(k | (m < 0.0f && k ? 0x80 : 0));
}

float adamw8bit_decode_m(uint8_t code, float scale)
{
    pthread_once(&tables_once, make_tables);
    float mag = (code & 0x7f) ? lut_m[code & 0x7f] * scale : 0.0f;
    return code & 0x80 ? -mag : mag;
}

uint8_t adamw8bit_encode_r(float r, float scale, float u)
{
    pthread_once(&tables_once, make_tables);
    if (!(scale > 0.0f))
        return 0;
    return (uint8_t)grid_code(r * (1.0f / scale), lut_r, floor_r, R_STEPS, R_MAX, u, 1);
}

float adamw8bit_decode_r(uint8_t code, float scale)
{
    pthread_once(&tables_once, make_tables);
    return code ? lut_r[code] * scale : 0.0f;
}

int adamw8bit_block(float *p, const float *g, uint8_t *qm, uint8_t *qv, float *m_scale, float *r_scale, int n,
                    uint64_t first, const adamw_consts *c)
{
    pthread_once(&tables_once, make_tables);
    float m[ADAMW8_BLOCK], r[ADAMW8_BLOCK];
    float ms = *m_scale, rs = *r_scale, m_max = 0.0f, r_max = 0.0f;
    int skipped = 0;
    for (int i = 0; i < n; i++) {
        float mag = (qm[i] & 0x7f) ? lut_m[qm[i] & 0x7f] * ms : 0.0f;
        float mi = qm[i] & 0x80 ? -mag : mag;
        float ri = qv[i] ? lut_r[qv[i]] * rs : 0.0f;
        if (fabsf(g[i]) < c->threshold) {
            skipped++;
        } else {
            /* The same operations, in the same order, as the fp32 AdamW in optimizer.c. */
            float pi = p[i] * c->decay;
            mi = mi * c->beta1 + c->one_minus_beta1 * g[i];
            float vi = ri * ri * c->beta2 + c->one_minus_beta2 * g[i] * g[i];
            ri = sqrtf(vi);
            float denom = ri / c->bc2_sqrt + c->eps;
            p[i] = pi + c->neg_step * mi / denom;
        }
        m[i] = mi;
        r[i] = ri;
        m_max = fmaxf(m_max, fabsf(mi));
        r_max = fmaxf(r_max, ri);
    }
    float m_inv = m_max > 0.0f ? 1.0f / m_max : 0.0f, r_inv = r_max > 0.0f ? 1.0f / r_max : 0.0f;
    for (int i = 0; i < n; i++) {
        uint64_t h = mix(c->seed ^ (first + (uint64_t)i));
        int k = grid_code(fabsf(m[i]) * m_inv, lut_m, floor_m, M_STEPS, M_MAX, unit(h), 0);
        qm[i] = (uint8_t)(k | (m[i] < 0.0f && k ? 0x80 : 0));
        qv[i] = (uint8_t)grid_code(r[i] * r_inv, lut_r, floor_r, R_STEPS, R_MAX, unit(mix(h)), 1);
    }
    *m_scale = m_max;
    *r_scale = r_max;
    return skipped;
}
