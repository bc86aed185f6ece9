/* Multi-head self-attention, the straightforward way: every head's full (T, T)
 * probability matrix is computed, kept for the backward pass and used as is.
 * It is the reference the fused version (fused_attention.c) is tested against,
 * and the faster of the two when T is small.
 *
 * Per (sequence b, head h), q/k/v are (T, D) strided views of the packed qkv:
 *   S = q k^T            (T, T)
 *   P = softmax_row(S * scale over the allowed keys), 0 elsewhere
 *   out = P v            (T, D)
 * Heads are independent, so the (b, h) loop is the parallel one and each head's
 * arithmetic runs in one thread in a fixed order: results do not depend on the
 * number of threads. */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "nn/attention_rows.h"
#include "nn/ops.h"
#include "nn/tile_gemm.h"

/* Per thread: a transposed k or v (D, T) and dP/dS (T, T). */
static long attention_thread_floats(attention_shape s)
{
    return (long)s.D * s.T + (long)s.T * s.T;
}

long attention_scratch_floats(attention_shape s)
{
    return attention_thread_floats(s) * omp_get_max_threads();
}

/* Softmax of one score row over the allowed keys [lo, hi); the rest become 0.
 * A row with no allowed key is all zeros. */
static void softmax_row(float *p, int T, int lo, int hi, float scale)
{
    float sum = attention_row_exp(p, T, lo, hi, scale, nn_max(p, lo, hi) * scale);
    float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
#pragma omp simd
    for (int j = lo; j < hi; j++)
        p[j] *= inv;
}

void attention_forward(float *out, float *probs, const float *qkv, const int32_t *valid, float *scratch,
                       attention_shape s)
{
    const int T = s.T, D = s.D, HD = s.H * s.D, ld = 3 * HD;
#pragma omp parallel for schedule(static)
    for (int bh = 0; bh < s.B * s.H; bh++) {
        int b = bh / s.H, h = bh % s.H;
        int nvalid = valid_tokens(valid, b, T);
        const float *q = qkv + attention_qkv_offset(s, b, h), *k = q + HD, *v = q + 2 * HD;
        float *kt = scratch + attention_thread_floats(s) * omp_get_thread_num();
        float *P = probs + (long)bh * T * T;
        tile_transpose(kt, T, k, ld, T, D);
        tile_gemm(P, T, q, ld, kt, T, T, T, D, 0);
        for (int i = 0; i < T; i++) {
            int lo, hi;
            attention_key_range(&lo, &hi, i, nvalid, s.window);
            softmax_row(P + (long)i * T, T, lo, hi, s.scale);
        }
        tile_gemm(out + attention_out_offset(s, b, h), HD, P, T, v, ld, T, D, T, 0);
    }
}

/* With dP = dout v^T, the softmax backward per row is
 *   dS_ij = P_ij (dP_ij - sum_k P_ik dP_ik),
 * and then dq = scale dS k, dk = scale dS^T q, dv = P^T dout. */
void attention_backward(float *dqkv, const float *dout, const float *qkv, const float *probs,
                        const int32_t *valid, float *scratch, attention_shape s)
{
    const int T = s.T, D = s.D, HD = s.H * s.D, ld = 3 * HD;
    (void)valid; /* the mask is already in probs: masked entries are 0 */
#pragma omp parallel for schedule(static)
    for (int bh = 0; bh < s.B * s.H; bh++) {
        int b = bh / s.H, h = bh % s.H;
        const float *q = qkv + attention_qkv_offset(s, b, h), *k = q + HD, *v = q + 2 * HD;
        const float *dO = dout + attention_out_offset(s, b, h);
        float *dq = dqkv + attention_qkv_offset(s, b, h), *dk = dq + HD, *dv = dq + 2 * HD;
        const float *P = probs + (long)bh * T * T;
        float *vt = scratch + attention_thread_floats(s) * omp_get_thread_num();
        float *dS = vt + (long)D * T;

        tile_transpose(vt, T, v, ld, T, D);
        tile_gemm(dS, T, dO, HD, vt, T, T, T, D, 0);
        for (int i = 0; i < T; i++) {
            const float *Pi = P + (long)i * T;
            float *dSi = dS + (long)i * T;
            float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
            for (int j = 0; j < T; j++)
                dot += Pi[j] * dSi[j];
#pragma omp simd
            for (int j = 0; j < T; j++)
                dSi[j] = Pi[j] * (dSi[j] - dot) * s.scale;
        }
        tile_gemm_at(dv, ld, P, T, dO, HD, T, D, T, 0);
        tile_gemm(dq, ld, dS, T, k, ld, T, D, T, 0);
        tile_gemm_at(dk, ld, dS, T, q, ld, T, D, T, 0);
    }
}
