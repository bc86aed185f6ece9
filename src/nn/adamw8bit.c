#include "nn/adamw8bit.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

/* Grids: m has 127 magnitudes at 8 per octave, r = sqrt(v) 255 at 16 per octave. */
#define M_MAX 127
#define M_STEPS 8
#define R_MAX 255
#define R_STEPS 16
/* Rounding log2 of a mantissa to 1/steps of an octave, looked up by its top 10 bits. */
#define FRAC_BITS 10

static float lut_m[M_MAX + 1], lut_r[R_MAX + 1];
static uint8_t frac_m[1 << FRAC_BITS], frac_r[1 << FRAC_BITS];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static void fill_frac(uint8_t *frac, int steps)
{
    for (int i = 0; i < 1 << FRAC_BITS; i++)
        frac[i] = (uint8_t)lrint(steps * log2(1.0 + (i + 0.5) / (1 << FRAC_BITS)));
}

static void make_tables(void)
{
    for (int k = 1; k <= M_MAX; k++)
        lut_m[k] = (float)exp2((k - M_MAX) / (double)M_STEPS);
    for (int k = 1; k <= R_MAX; k++)
        lut_r[k] = (float)exp2((k - R_MAX) / (double)R_STEPS);
    fill_frac(frac_m, M_STEPS);
    fill_frac(frac_r, R_STEPS);
}

/* The grid index of t = |x| / scale in (0, 1]: kmax + round(steps * log2 t),
 * read from t's exponent and the top bits of its mantissa; 0 below half the
 * smallest grid value. */
static inline int log_code(float t, const uint8_t *frac, int steps, int kmax, float lowest)
{
    if (!(t >= 0.5f * lowest))
        return 0;
    uint32_t bits;
    memcpy(&bits, &t, sizeof bits);
    int e = (int)(bits >> 23) - 127;
    int k = kmax + steps * e + frac[(bits >> (23 - FRAC_BITS)) & ((1u << FRAC_BITS) - 1)];
    return k < 1 ? 1 : k > kmax ? kmax : k;
}

uint8_t adamw8bit_encode_m(float m, float scale)
{
    pthread_once(&tables_once, make_tables);
    if (!(scale > 0.0f))
        return 0;
    int k = log_code(fabsf(m) * (1.0f / scale), frac_m, M_STEPS, M_MAX, lut_m[1]);
    return (uint8_t)(k | (m < 0.0f && k ? 0x80 : 0));
}

float adamw8bit_decode_m(uint8_t code, float scale)
{
    pthread_once(&tables_once, make_tables);
    float mag = lut_m[code & 0x7f] * scale;
    return code & 0x80 ? -mag : mag;
}

uint8_t adamw8bit_encode_r(float r, float scale)
{
    pthread_once(&tables_once, make_tables);
    if (!(scale > 0.0f))
        return 0;
    return (uint8_t)log_code(r * (1.0f / scale), frac_r, R_STEPS, R_MAX, lut_r[1]);
}

float adamw8bit_decode_r(uint8_t code, float scale)
{
    pthread_once(&tables_once, make_tables);
    return lut_r[code] * scale;
}

void adamw8bit_block(float *p, const float *g, uint8_t *qm, uint8_t *qv, float *m_scale, float *r_scale, int n,
                     const adamw_consts *c)
{
    pthread_once(&tables_once, make_tables);
    float m[ADAMW8_BLOCK], r[ADAMW8_BLOCK];
    float ms = *m_scale, rs = *r_scale, m_max = 0.0f, r_max = 0.0f;
    for (int i = 0; i < n; i++) {
        float mi = qm[i] & 0x80 ? -lut_m[qm[i] & 0x7f] * ms : lut_m[qm[i] & 0x7f] * ms;
        float ri = lut_r[qv[i]] * rs;
        /* The same operations, in the same order, as the fp32 AdamW in optimizer.c. */
        float pi = p[i] * c->decay;
        mi = mi * c->beta1 + c->one_minus_beta1 * g[i];
        float vi = ri * ri * c->beta2 + c->one_minus_beta2 * g[i] * g[i];
        ri = sqrtf(vi);
        float denom = ri / c->bc2_sqrt + c->eps;
        p[i] = pi + c->neg_step * mi / denom;
        m[i] = mi;
        r[i] = ri;
        m_max = fmaxf(m_max, fabsf(mi));
        r_max = fmaxf(r_max, ri);
    }
    float m_inv = m_max > 0.0f ? 1.0f / m_max : 0.0f, r_inv = r_max > 0.0f ? 1.0f / r_max : 0.0f;
    for (int i = 0; i < n; i++) {
        int k = log_code(fabsf(m[i]) * m_inv, frac_m, M_STEPS, M_MAX, lut_m[1]);
        qm[i] = (uint8_t)(k | (m[i] < 0.0f && k ? 0x80 : 0));
        qv[i] = (uint8_t)log_code(r[i] * r_inv, frac_r, R_STEPS, R_MAX, lut_r[1]);
    }
    *m_scale = m_max;
    *r_scale = r_max;
}
