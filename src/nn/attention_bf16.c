/* Attention with bf16 products on oneDNN (see attention_bf16.h).
 *
 *   Q, K, V (B*H, T, D) bf16   gathered from the packed qkv, head-major
 *   S = Q K^T (B*H, T, T) fp32 one batched matmul (K read transposed in place)
 *   P = softmax(S * scale) over each query's allowed keys, written as bf16
 *   O = P V   (B*H, T, D) fp32 one batched matmul
 *   out[b, t, h] = O[b*H + h, t]                                              */
#include "nn/attention_bf16.h"

#include "nn/arena.h"
#include "nn/attention_rows.h"
#include "nn/precision.h"

typedef struct {
    bf16 *q, *k, *v, *p;
    float *scores, *o;
} bf16_work;

static size_t part(size_t n, size_t elem)
{
    return nn_align_up(n * elem);
}

static bf16_work carve(void *work, attention_shape s)
{
    size_t heads = (size_t)s.B * s.H, hd = heads * s.T * s.D, tt = heads * s.T * s.T;
    char *p = work;
    bf16_work w;
    w.q = (bf16 *)p;
    p += part(hd, sizeof(bf16));
    w.k = (bf16 *)p;
    p += part(hd, sizeof(bf16));
    w.v = (bf16 *)p;
    p += part(hd, sizeof(bf16));
    w.p = (bf16 *)p;
    p += part(tt, sizeof(bf16));
    w.scores = (float *)p;
    p += part(tt, sizeof(float));
    w.o = (float *)p;
    return w;
}

size_t attention_bf16_bytes(attention_shape s)
{
    size_t heads = (size_t)s.B * s.H, hd = heads * s.T * s.D, tt = heads * s.T * s.T;
    return 3 * part(hd, sizeof(bf16)) + part(tt, sizeof(bf16)) + part(tt, sizeof(float)) + part(hd, sizeof(float));
}

/* A row, inside the callers' parallel loops (bf16_from_fp32 opens a region of its own). */
static inline void row_to_bf16(bf16 *dst, const float *src, int n)
{
#pragma omp simd
    for (int i = 0; i < n; i++)
        dst[i] = bf16_from_float(src[i]);
}

/* Q, K, V of head bh, row t, from the packed layout, rounded to bf16. */
static void gather(bf16_work *w, const float *qkv, attention_shape s)
{
    const int HD = s.H * s.D;
#pragma omp parallel for schedule(static)
    for (int bh = 0; bh < s.B * s.H; bh++) {
        int b = bh / s.H, h = bh % s.H;
        const float *src = qkv + attention_qkv_offset(s, b, h);
        size_t dst = (size_t)bh * s.T * s.D;
        for (int t = 0; t < s.T; t++, src += 3 * HD, dst += s.D) {
            row_to_bf16(w->q + dst, src, s.D);
            row_to_bf16(w->k + dst, src + HD, s.D);
            row_to_bf16(w->v + dst, src + 2 * HD, s.D);
        }
    }
}

/* P = the masked softmax of each score row, in bf16. */
static void softmax(bf16_work *w, const int32_t *valid, attention_shape s)
{
#pragma omp parallel for schedule(static)
    for (int bh = 0; bh < s.B * s.H; bh++) {
        int nvalid = valid_tokens(valid, bh / s.H, s.T);
        for (int i = 0; i < s.T; i++) {
            size_t row = ((size_t)bh * s.T + i) * s.T;
            float *sc = w->scores + row;
            int lo, hi;
            attention_key_range(&lo, &hi, i, nvalid, s.window);
            float sum = attention_row_exp(sc, s.T, lo, hi, s.scale, lo < hi ? nn_max(sc, lo, hi) * s.scale : 0.0f);
            float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
            bf16 *p = w->p + row;
#pragma omp simd
            for (int j = 0; j < s.T; j++)
                p[j] = bf16_from_float(sc[j] * inv);
        }
    }
}

static void scatter(float *out, const bf16_work *w, attention_shape s)
{
#pragma omp parallel for schedule(static)
    for (int bh = 0; bh < s.B * s.H; bh++) {
        float *dst = out + attention_out_offset(s, bh / s.H, bh % s.H);
        const float *src = w->o + (size_t)bh * s.T * s.D;
        for (int t = 0; t < s.T; t++)
            memcpy(dst + (size_t)t * s.H * s.D, src + (size_t)t * s.D, sizeof(float) * s.D);
    }
}

gt_status attention_bf16_forward(mm_ctx *mm, float *out, const float *qkv, const int32_t *valid, void *work,
                                 attention_shape s, gt_error *err)
{
    bf16_work w = carve(work, s);
    gather(&w, qkv, s);
    mm_desc scores = {.M = s.T, .N = s.T, .K = s.D, .a = MM_BF16, .b = MM_BF16, .b_trans = 1, .batch = s.B * s.H};
    gt_status st = mm_run(mm, &scores, w.scores, w.q, w.k, NULL, NULL, err);
    if (st != GT_OK)
        return st;
    softmax(&w, valid, s);
    mm_desc values = {.M = s.T, .N = s.D, .K = s.T, .a = MM_BF16, .b = MM_BF16, .batch = s.B * s.H};
    if ((st = mm_run(mm, &values, w.o, w.p, w.v, NULL, NULL, err)) != GT_OK)
        return st;
    scatter(out, &w, s);
    return GT_OK;
}
