/* Multi-head self-attention without the (T, T) matrix (flash-attention style).
 *
 * Forward, per (sequence b, head h) and block of queries: walk the blocks of
 * keys that the block may see, keeping per query the running
 * maximum m and sum l of the exponentials and an unnormalised output:
 *   S = q_i k_j^T * scale,  m' = max(m, rowmax S),  P = exp(S - m'),
 *   l = l exp(m - m') + rowsum P,  out_i = out_i exp(m - m') + P v_j.
 * At the end out_i /= l and lse = m + log l is saved: it is all the backward
 * pass needs to rebuild any block of probabilities, P = exp(S - lse).
 *
 * Backward, per head, key block j outermost (so dk_j and dv_j finish in one
 * sweep) and query blocks inside, with Delta_i = rowsum(dout_i * out_i):
 *   dv_j += P^T dout_i,   dS = P * (dout_i v_j^T - Delta_i),
 *   dq_i += scale dS k_j, dk_j += scale dS^T q_i.
 * Blocks the window or the padding rule out entirely are never computed.
 *
 * Scratch per thread is O(T D + block^2): one head's operands, copied out of the
 * packed buffers into contiguous rows (see pack_rows), plus a few blocks. Heads
 * run in parallel, each in one thread in a fixed order, so the results do not
 * depend on the number of threads. */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "nn/attention_rows.h"
#include "nn/ops.h"
#include "nn/tile_gemm.h"

/* Square blocks of queries x keys. 128 amortises the online-softmax
 * bookkeeping best; with a sliding window, 64 skips more of the area outside
 * the band. (Measured at T = 256, D = 64: docs/performance.md.) A caller may
 * pick another size (the attention knob's block), up to BLOCK_MAX. */
enum { BLOCK_AUTO = 128, BLOCK_MAX = 256 };

static int block_size(attention_shape s)
{
    int bs = s.block > 0 ? (s.block < BLOCK_MAX ? s.block : BLOCK_MAX)
                         : s.window > 0 && s.window < 2 * s.T ? 64 : BLOCK_AUTO;
    int whole = (s.T + 15) / 16 * 16;   /* a block past the sequence only costs scratch */
    return bs < whole ? bs : whole;
}

/* Row stride of a transposed (D, T) operand: T rounded up to whole vectors,
 * and not a multiple of 1 KiB, so that the D rows of a key block do not all
 * fall into a few cache sets. */
static int transposed_stride(int T)
{
    int ld = (T + 15) / 16 * 16;
    return ld % 256 == 0 ? ld + 16 : ld;
}

/* Per thread (the backward's need, the larger): q, k, dout rows (T, D),
 * k^T and v^T (D, ldt), Delta (T), two blocks. */
static long fused_thread_floats(attention_shape s)
{
    long bs = block_size(s);
    return 3L * s.T * s.D + 2L * s.D * transposed_stride(s.T) + s.T + 2L * bs * bs;
}

long fused_attention_scratch_floats(attention_shape s)
{
    return fused_thread_floats(s) * omp_get_max_threads();
}

/* Keys [*k0, *k1) that any query in [i0, i1) may see (the bounds are monotone
 * in the query index, so the first and last query decide). */
static void block_key_span(int *k0, int *k1, int i0, int i1, int nvalid, int window)
{
    int lo, hi, lo_last, hi_last;
    attention_key_range(&lo, &hi, i0, nvalid, window);
    attention_key_range(&lo_last, &hi_last, i1 - 1, nvalid, window);
    *k0 = lo;
    *k1 = hi_last;
}

/* Allowed columns [*a, *b) of query i within the key block [j0, j0 + nk),
 * relative to j0; *b <= *a when none. */
static void row_span(int *a, int *b, int i, int j0, int nk, int nvalid, int window)
{
    int lo, hi;
    attention_key_range(&lo, &hi, i, nvalid, window);
    *a = (lo > j0 ? lo : j0) - j0;
    *b = (hi < j0 + nk ? hi : j0 + nk) - j0;
}

/* One key block of the online softmax for query block rows [i0, i0 + nq):
 * turns the raw scores S (nq, nk; row stride bs) into P in place, rescales the rows of the
 * running output (row stride ldo) and updates m and l. */
static void online_softmax_block(float *S, int bs, float *o, int ldo, float *m, float *l, int i0, int nq, int j0,
                                 int nk, int nvalid, attention_shape s)
{
    for (int r = 0; r < nq; r++) {
        float *Sr = S + (long)r * bs;
        int a, b;
        row_span(&a, &b, i0 + r, j0, nk, nvalid, s.window);
        if (a >= b) { /* nothing allowed here: m and l stay */
            memset(Sr, 0, sizeof(float) * nk);
            continue;
        }
        float mx = nn_max(Sr, a, b) * s.scale;
        float m_new = mx > m[r] ? mx : m[r];
        float alpha = nn_expf(m[r] - m_new); /* 0 on the first block: m = -inf */
        l[r] = l[r] * alpha + attention_row_exp(Sr, nk, a, b, s.scale, m_new);
        m[r] = m_new;
        if (alpha != 1.0f) {
            float *orow = o + (long)r * ldo;
#pragma omp simd
            for (int d = 0; d < s.D; d++)
                orow[d] *= alpha;
        }
    }
}

/* Copies rows (T, D) of a strided view (stride lds) into contiguous rows.
 * The views' strides (3HD, HD floats) are multiples of 1 KiB at the usual
 * shapes, and a 64-row block of them falls into a handful of cache sets; the
 * copy costs T D moves against the T^2 D multiply-adds that reuse it. */
static void pack_rows(float *dst, const float *src, int lds, int T, int D)
{
    for (int t = 0; t < T; t++)
        memcpy(dst + (long)t * D, src + (long)t * lds, sizeof(float) * D);
}

/* One head's forward. o: (T, D) rows ldo apart; lse: (T). */
static void head_forward(float *o, int ldo, float *lse, const float *q, int nvalid, float *scratch,
                         attention_shape s)
{
    const int T = s.T, D = s.D, ld = 3 * s.H * s.D, ldt = transposed_stride(T);
    float *kt = scratch, *v = kt + (long)D * ldt, *S = v + (long)T * D;
    const int bs = block_size(s);
    float m[BLOCK_MAX], l[BLOCK_MAX];
    tile_transpose(kt, ldt, q + s.H * s.D, ld, T, D);
    pack_rows(v, q + 2 * s.H * s.D, ld, T, D);
    for (int i0 = 0; i0 < T; i0 += bs) {
        int nq = T - i0 < bs ? T - i0 : bs;
        for (int r = 0; r < nq; r++) {
            m[r] = -INFINITY;
            l[r] = 0.0f;
            memset(o + (long)(i0 + r) * ldo, 0, sizeof(float) * D);
        }
        int k0, k1;
        block_key_span(&k0, &k1, i0, i0 + nq, nvalid, s.window);
        for (int j0 = k0; j0 < k1; j0 += bs) {
            int nk = k1 - j0 < bs ? k1 - j0 : bs;
            tile_gemm(S, bs, q + (long)i0 * ld, ld, kt + j0, ldt, nq, nk, D, 0);
            online_softmax_block(S, bs, o + (long)i0 * ldo, ldo, m, l, i0, nq, j0, nk, nvalid, s);
            tile_gemm(o + (long)i0 * ldo, ldo, S, bs, v + (long)j0 * D, D, nq, D, nk, 1);
        }
        for (int r = 0; r < nq; r++) {
            float *orow = o + (long)(i0 + r) * ldo;
            if (l[r] > 0.0f) {
                float inv = 1.0f / l[r];
#pragma omp simd
                for (int d = 0; d < D; d++)
                    orow[d] *= inv;
                lse[i0 + r] = m[r] + logf(l[r]);
            } else {
                lse[i0 + r] = -INFINITY; /* fully masked row: output stays 0 */
            }
        }
    }
}

void fused_attention_forward(float *out, float *lse, const float *qkv, const int32_t *valid, float *scratch,
                             attention_shape s)
{
    const int HD = s.H * s.D;
#pragma omp parallel for schedule(static)
    for (int bh = 0; bh < s.B * s.H; bh++) {
        int b = bh / s.H, h = bh % s.H;
        head_forward(out + attention_out_offset(s, b, h), HD, lse + (long)bh * s.T,
                     qkv + attention_qkv_offset(s, b, h), valid_tokens(valid, b, s.T),
                     scratch + fused_thread_floats(s) * omp_get_thread_num(), s);
    }
}

/* Rebuilds P = exp(S * scale - lse) for the block in place (0 where masked). */
static void recompute_probs(float *S, int bs, const float *lse, int i0, int nq, int j0, int nk, int nvalid,
                            attention_shape s)
{
    for (int r = 0; r < nq; r++) {
        float *Sr = S + (long)r * bs;
        int a, b;
        row_span(&a, &b, i0 + r, j0, nk, nvalid, s.window);
        attention_row_exp(Sr, nk, a, b, s.scale, lse[i0 + r]);
    }
}

/* Grads of one head; dq/dk/dv are views of dqkv like q/k/v of qkv. */
static void head_backward(float *dq, const float *dout, const float *o, int ldo, const float *qkv_head,
                          const float *lse, int nvalid, float *scratch, attention_shape s)
{
    const int T = s.T, D = s.D, HD = s.H * s.D, ld = 3 * HD, ldt = transposed_stride(T);
    float *dk = dq + HD, *dv = dq + 2 * HD;
    float *q = scratch, *k = q + (long)T * D, *dO = k + (long)T * D;
    float *kt = dO + (long)T * D, *vt = kt + (long)D * ldt, *delta = vt + (long)D * ldt;
    const int bs = block_size(s);
    float *P = delta + T, *dS = P + bs * bs;

    pack_rows(q, qkv_head, ld, T, D);
    pack_rows(k, qkv_head + HD, ld, T, D);
    pack_rows(dO, dout, ldo, T, D);
    tile_transpose(kt, ldt, qkv_head + HD, ld, T, D);
    tile_transpose(vt, ldt, qkv_head + 2 * HD, ld, T, D);
    for (int i = 0; i < T; i++) {
        const float *a = dO + (long)i * D, *b = o + (long)i * ldo;
        float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
        for (int d = 0; d < D; d++)
            dot += a[d] * b[d];
        delta[i] = dot;
        memset(dq + (long)i * ld, 0, sizeof(float) * D);
    }
    for (int j0 = 0; j0 < T; j0 += bs) {
        int nk = T - j0 < bs ? T - j0 : bs;
        for (int j = j0; j < j0 + nk; j++) {
            memset(dk + (long)j * ld, 0, sizeof(float) * D);
            memset(dv + (long)j * ld, 0, sizeof(float) * D);
        }
        for (int i0 = 0; i0 < T; i0 += bs) {
            int nq = T - i0 < bs ? T - i0 : bs;
            int k0, k1;
            block_key_span(&k0, &k1, i0, i0 + nq, nvalid, s.window);
            if (k0 >= j0 + nk || k1 <= j0)
                continue;
            tile_gemm(P, bs, q + (long)i0 * D, D, kt + j0, ldt, nq, nk, D, 0);
            recompute_probs(P, bs, lse, i0, nq, j0, nk, nvalid, s);
            tile_gemm_at(dv + (long)j0 * ld, ld, P, bs, dO + (long)i0 * D, D, nk, D, nq, 1);
            tile_gemm(dS, bs, dO + (long)i0 * D, D, vt + j0, ldt, nq, nk, D, 0);
            for (int r = 0; r < nq; r++) {
                float *dSr = dS + (long)r * bs;
                const float *Pr = P + (long)r * bs;
                float dr = delta[i0 + r];
#pragma omp simd
                for (int j = 0; j < nk; j++)
                    dSr[j] = Pr[j] * (dSr[j] - dr) * s.scale;
            }
            tile_gemm(dq + (long)i0 * ld, ld, dS, bs, k + (long)j0 * D, D, nq, D, nk, 1);
            tile_gemm_at(dk + (long)j0 * ld, ld, dS, bs, q + (long)i0 * D, D, nk, D, nq, 1);
        }
    }
}

void fused_attention_backward(float *dqkv, const float *dout, const float *out, const float *qkv,
                              const float *lse, const int32_t *valid, float *scratch, attention_shape s)
{
    const int HD = s.H * s.D;
#pragma omp parallel for schedule(static)
    for (int bh = 0; bh < s.B * s.H; bh++) {
        int b = bh / s.H, h = bh % s.H;
        head_backward(dqkv + attention_qkv_offset(s, b, h), dout + attention_out_offset(s, b, h),
                      out + attention_out_offset(s, b, h), HD, qkv + attention_qkv_offset(s, b, h),
                      lse + (long)bh * s.T, valid_tokens(valid, b, s.T),
                      scratch + fused_thread_floats(s) * omp_get_thread_num(), s);
    }
}
