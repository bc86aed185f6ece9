/* The host backend of the device interface: "device" memory is ordinary
 * memory and every op is a reference loop, mostly the CPU engine's own op from
 * ops.h. It exists so that the GPU model code (gpu_*.c) — its memory plan, the
 * order of its ops, the matmul layouts it hands to cuBLASLt, the optimizer's
 * chunk tables, the copies between host and device — runs on machines without
 * a GPU and is checked there against the CPU model (tests/nn/test_gpu_model.c).
 * Speed is no concern: the models it runs in tests are tiny. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/arena.h"
#include "nn/attention_rows.h"
#include "nn/cuda/dev.h"
#include "nn/optimizer.h"
#include "nn/precision.h"

typedef struct {
    float *scratch;          /* the CPU fused attention's per-thread scratch */
    long scratch_floats;
} host_impl;

static host_impl *impl_of(dev *d)
{
    return d->impl;
}

/* ---- memory --------------------------------------------------------------- */

static void *host_alloc(dev *d, size_t bytes)
{
    void *p = nn_alloc(bytes ? bytes : 1);
    if (!p)
        dev_fail(d, GT_ERR_NOMEM, "device host: out of memory for %.1f MiB", bytes / 1048576.0);
    return p;
}

static void host_release(dev *d, void *p)
{
    (void)d;
    nn_free(p);
}

static void host_copy(dev *d, void *dst, const void *src, size_t bytes)
{
    (void)d;
    if (bytes)
        memmove(dst, src, bytes);
}

static void host_zero(dev *d, void *p, size_t bytes)
{
    (void)d;
    if (bytes)
        memset(p, 0, bytes);
}

static void host_nothing(dev *d)
{
    (void)d;
}

static size_t host_free_bytes(dev *d)
{
    (void)d;
    return NN_ALLOC_MAX;
}

static void host_close(dev *d)
{
    nn_free(impl_of(d)->scratch);
    free(d->impl);
    free(d);
}

/* ---- numbers ---------------------------------------------------------------- */

static float load(const void *p, dev_type t, long i)
{
    if (t == DEV_BF16)
        return bf16_to_float(((const uint16_t *)p)[i]);
    if (t == DEV_F16)
        return (float)((const _Float16 *)p)[i];
    return ((const float *)p)[i];
}

static void store(void *p, dev_type t, long i, float x)
{
    if (t == DEV_BF16)
        ((uint16_t *)p)[i] = bf16_from_float(x);
    else if (t == DEV_F16)
        ((_Float16 *)p)[i] = (_Float16)x;
    else
        ((float *)p)[i] = x;
}

static void host_convert(dev *d, void *dst, dev_type t, const float *src, long n)
{
    (void)d;
    for (long i = 0; i < n; i++)
        store(dst, t, i, src[i]);
}

/* The row-major contract of dev_gemm, element by element (tf32 is computed in fp32). */
static void host_gemm(dev *d, const dev_gemm *g)
{
    (void)d;
    size_t es = dev_type_size(g->type);
    for (int b = 0; b < g->batch; b++) {
        const char *A = (const char *)g->A + (size_t)b * g->stride_a * es;
        const char *B = (const char *)g->B + (size_t)b * g->stride_b * es;
        float *C = g->C + (long)b * g->stride_c;
#pragma omp parallel for schedule(static)
        for (int m = 0; m < g->M; m++) {
            for (int n = 0; n < g->N; n++) {
                float acc = 0.0f;
                for (int k = 0; k < g->K; k++) {
                    float a = load(A, g->type, g->ta ? (long)k * g->lda + m : (long)m * g->lda + k);
                    float v = load(B, g->type, g->tb ? (long)n * g->ldb + k : (long)k * g->ldb + n);
                    acc += a * v;
                }
                float *c = &C[(long)m * g->ldc + n];
                float out = g->alpha * acc + (g->beta != 0.0f ? g->beta * *c : 0.0f);
                *c = g->bias ? out + g->bias[n] : out;
            }
        }
    }
}

/* ---- embeddings and sums ----------------------------------------------------- */

static void host_embed_fwd(dev *d, float *out, const int32_t *ids, const float *table, int N, int C)
{
    (void)d;
    embedding_forward(out, ids, table, N, C);
}

static void host_embed_bwd(dev *d, float *dtable, const float *dout, const int32_t *order, const int32_t *seg_start,
                           const int32_t *seg_id, int nseg, int C)
{
    (void)d;
    for (int s = 0; s < nseg; s++) {
        float *row = dtable + (long)seg_id[s] * C;
        for (int k = seg_start[s]; k < seg_start[s + 1]; k++)
            for (int c = 0; c < C; c++)
                row[c] += dout[(long)order[k] * C + c];
    }
}

static void host_rows_add_fwd(dev *d, float *out, const float *rows, int B, int T, int C)
{
    (void)d;
    position_embedding_forward(out, rows, B, T, C);
}

static void host_rows_add_bwd(dev *d, float *drows, const float *dout, int B, int T, int C)
{
    (void)d;
    position_embedding_backward(drows, dout, B, T, C);
}

static void host_colsum(dev *d, float *out, const float *x, int R, int C, float *scratch)
{
    (void)d;
    (void)scratch;
    for (int c = 0; c < C; c++) {
        float s = 0.0f;
        for (int r = 0; r < R; r++)
            s += x[(long)r * C + c];
        out[c] += s;
    }
}

/* ---- the CPU ops ----------------------------------------------------------------- */

static void host_ln_fwd(dev *d, float *y, float *mean, float *rstd, const float *x, const float *w, const float *b,
                        int N, int C, float eps)
{
    (void)d;
    layernorm_forward(y, mean, rstd, x, w, b, N, C, eps);
}

static void host_ln_bwd(dev *d, float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                        const float *mean, const float *rstd, float *scratch, int N, int C)
{
    (void)d;
    layernorm_backward(dx, dw, db, dy, x, w, mean, rstd, scratch, N, C);
}

static void host_dropout_fwd(dev *d, float *y, uint8_t *mask, const float *x, const float *residual, long n,
                             float p, uint64_t seed, uint64_t offset)
{
    (void)d;
    if (residual)
        dropout_residual_forward(y, mask, x, residual, n, p, seed, offset);
    else
        dropout_forward(y, mask, x, n, p, seed, offset);
}

static void host_dropout_bwd(dev *d, float *dx, const uint8_t *mask, const float *dy, long n, float p)
{
    (void)d;
    dropout_backward(dx, mask, dy, n, p);
}

static void host_add(dev *d, float *y, const float *a, const float *b, long n)
{
    (void)d;
    residual_forward(y, a, b, n);
}

static void host_act_fwd(dev *d, float *y, const float *x, long n, activation_kind k)
{
    (void)d;
    activation_forward(y, x, n, k);
}

static void host_act_bwd(dev *d, float *dx, const float *x, const float *dy, long n, activation_kind k)
{
    (void)d;
    activation_backward(dx, x, dy, n, k);
}

static void host_geglu_fwd(dev *d, float *y, const float *x, int N, int F, activation_kind k)
{
    (void)d;
    geglu_forward(y, x, N, F, k);
}

static void host_geglu_bwd(dev *d, float *dx, const float *x, const float *dy, int N, int F, activation_kind k)
{
    (void)d;
    geglu_backward(dx, x, dy, N, F, k);
}

static void host_tanh_fwd(dev *d, float *y, const float *x, long n)
{
    (void)d;
    tanh_forward(y, x, n);
}

static void host_tanh_bwd(dev *d, float *dx, const float *y, const float *dy, long n)
{
    (void)d;
    tanh_backward(dx, y, dy, n);
}

static void host_rope(dev *d, float *x, const float *cos, const float *sin, int B, int T, int H, int D, int stride,
                      int inverse)
{
    (void)d;
    if (inverse)
        rope_backward(x, cos, sin, B, T, H, D, stride);
    else
        rope_forward(x, cos, sin, B, T, H, D, stride);
}

static void host_pool_fwd(dev *d, float *out, const float *x, const int32_t *valid, int B, int T, int C, int mean)
{
    (void)d;
    if (mean)
        mean_pool_forward(out, x, valid, B, T, C);
    else
        cls_pool_forward(out, x, B, T, C);
}

static void host_pool_bwd(dev *d, float *dx, const float *dout, const int32_t *valid, int B, int T, int C, int mean)
{
    (void)d;
    if (mean)
        mean_pool_backward(dx, dout, valid, B, T, C);
    else
        cls_pool_backward(dx, dout, B, T, C);
}

static void host_ce_fwd(dev *d, float *losses, float *probs, const float *logits, const int32_t *labels, int B, int L)
{
    (void)d;
    cross_entropy_forward(losses, probs, logits, labels, B, L);
}

static void host_ce_bwd(dev *d, float *dlogits, const float *probs, const int32_t *labels, int B, int L, float scale)
{
    (void)d;
    cross_entropy_backward(dlogits, probs, labels, B, L, scale);
}

/* ---- attention ------------------------------------------------------------------------ */

static float *attention_scratch(dev *d, attention_shape s)
{
    host_impl *h = impl_of(d);
    long need = fused_attention_scratch_floats(s);
    if (need > h->scratch_floats) {
        nn_free(h->scratch);
        h->scratch = host_alloc(d, (size_t)need * sizeof(float));
        h->scratch_floats = h->scratch ? need : 0;
    }
    return h->scratch;
}

static void host_attn_fwd(dev *d, float *out, float *lse, const float *qkv, const int32_t *valid, attention_shape s)
{
    float *scratch = attention_scratch(d, s);
    if (scratch)
        fused_attention_forward(out, lse, qkv, valid, scratch, s);
}

static void host_attn_bwd(dev *d, float *dqkv, const float *dout, const float *out, const float *qkv,
                          const float *lse, const int32_t *valid, float *delta, attention_shape s)
{
    (void)delta;
    float *scratch = attention_scratch(d, s);
    if (scratch)
        fused_attention_backward(dqkv, dout, out, qkv, lse, valid, scratch, s);
}

static void host_heads_split(dev *d, void *dst, dev_type t, const float *src, int stride, int B, int T, int H, int D)
{
    (void)d;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int i = 0; i < T; i++)
                for (int e = 0; e < D; e++)
                    store(dst, t, (((long)b * H + h) * T + i) * D + e, src[((long)b * T + i) * stride + h * D + e]);
}

static void host_heads_merge(dev *d, float *dst, int stride, const float *src, int B, int T, int H, int D)
{
    (void)d;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int i = 0; i < T; i++)
                for (int e = 0; e < D; e++)
                    dst[((long)b * T + i) * stride + h * D + e] = src[(((long)b * H + h) * T + i) * D + e];
}

static void host_softmax_fwd(dev *d, void *P, dev_type t, const float *S, const int32_t *valid, attention_shape s)
{
    (void)d;
    for (int bh = 0; bh < s.B * s.H; bh++) {
        int nvalid = valid_tokens(valid, bh / s.H, s.T);
        for (int i = 0; i < s.T; i++) {
            long row = ((long)bh * s.T + i) * s.T;
            int lo, hi;
            attention_key_range(&lo, &hi, i, nvalid, s.window);
            float mx = -INFINITY, sum = 0.0f;
            for (int j = lo; j < hi; j++)
                mx = fmaxf(mx, S[row + j] * s.scale);
            for (int j = lo; j < hi; j++)
                sum += expf(S[row + j] * s.scale - mx);
            float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
            for (int j = 0; j < s.T; j++)
                store(P, t, row + j, j >= lo && j < hi ? expf(S[row + j] * s.scale - mx) * inv : 0.0f);
        }
    }
}

static void host_softmax_bwd(dev *d, void *dS, const float *dP, const void *P, dev_type t, attention_shape s)
{
    (void)d;
    for (long r = 0; r < (long)s.B * s.H * s.T; r++) {
        long row = r * s.T;
        float dot = 0.0f;
        for (int j = 0; j < s.T; j++)
            dot += load(P, t, row + j) * dP[row + j];
        for (int j = 0; j < s.T; j++)
            store(dS, t, row + j, load(P, t, row + j) * (dP[row + j] - dot) * s.scale);
    }
}

/* ---- optimizer ------------------------------------------------------------------------- */

/* optimizer.c's own AdamW, chunk by chunk; sgd_tensor's formulas for SGD. */
static void host_adamw(dev *d, float *params, const float *grads, float *m, float *v, const dev_chunk *chunks,
                       int nchunks, const dev_adamw *c)
{
    (void)d;
    for (int k = 0; k < nchunks; k++) {
        adamw_consts a = {.decay = chunks[k].decay ? c->decay : 1.0f, .beta1 = c->beta1,
                          .one_minus_beta1 = c->one_minus_beta1, .beta2 = c->beta2,
                          .one_minus_beta2 = c->one_minus_beta2, .bc2_sqrt = c->bc2_sqrt, .neg_step = c->neg_step,
                          .eps = c->eps};
        adamw_tensor(params + chunks[k].data_off, grads + chunks[k].grad_off, m + chunks[k].grad_off,
                     v + chunks[k].grad_off, chunks[k].n, &a);
    }
}

static void host_sgd(dev *d, float *params, const float *grads, float *buf, const dev_chunk *chunks, int nchunks,
                     const dev_sgd *c)
{
    (void)d;
    for (int k = 0; k < nchunks; k++) {
        float *p = params + chunks[k].data_off;
        const float *g = grads + chunks[k].grad_off;
        float wd = chunks[k].decay ? c->wd : 0.0f;
        for (int i = 0; i < chunks[k].n; i++) {
            float dv = wd != 0.0f ? g[i] + wd * p[i] : g[i];
            if (buf) {
                float *bk = buf + chunks[k].grad_off;
                float b = c->first ? dv : bk[i] * c->momentum + c->damp * dv;
                bk[i] = b;
                dv = c->nesterov ? dv + c->momentum * b : b;
            }
            p[i] = p[i] + c->neg_lr * dv;
        }
    }
}

static void host_sumsq(dev *d, double *out, const float *x, long n, double *scratch)
{
    (void)d;
    long chunks = dev_sumsq_scratch(n);
    for (long k = 0; k < chunks; k++) {
        double s = 0.0;
        long hi = (k + 1) * DEV_SUMSQ_CHUNK < n ? (k + 1) * DEV_SUMSQ_CHUNK : n;
        for (long i = k * DEV_SUMSQ_CHUNK; i < hi; i++)
            s += (double)x[i] * x[i];
        scratch[k] = s;
    }
    double total = 0.0;
    for (long k = 0; k < chunks; k++)
        total += scratch[k];
    *out = total;
}

static void host_scale(dev *d, float *x, long n, float s)
{
    (void)d;
    for (long i = 0; i < n; i++)
        x[i] *= s;
}

/* ---- int8 ------------------------------------------------------------------------------ */

static int8_t quantize_one(float x, float inv)
{
    float q = rintf(x * inv);
    return (int8_t)(q > 127.0f ? 127.0f : q < -127.0f ? -127.0f : q);
}

static void host_quant_rows(dev *d, int8_t *q, float *scales, const float *w, int rows, int cols)
{
    (void)d;
    for (int r = 0; r < rows; r++) {
        float absmax = 0.0f;
        for (int c = 0; c < cols; c++)
            absmax = fmaxf(absmax, fabsf(w[(long)r * cols + c]));
        float s = absmax > 0.0f ? absmax / 127.0f : 1.0f;
        scales[r] = s;
        for (int c = 0; c < cols; c++)
            q[(long)r * cols + c] = quantize_one(w[(long)r * cols + c], 1.0f / s);
    }
}

static void host_act_quant(dev *d, int8_t *q, float *scale, const float *x, long n, float *scratch)
{
    (void)d;
    (void)scratch;
    float absmax = 0.0f;
    for (long i = 0; i < n; i++)
        absmax = fmaxf(absmax, fabsf(x[i]));
    float s = absmax > 0.0f ? absmax / 127.0f : 1.0f;
    *scale = s;
    for (long i = 0; i < n; i++)
        q[i] = quantize_one(x[i], 1.0f / s);
}

static void host_gemm_s8(dev *d, int32_t *C, const int8_t *A, const int8_t *B, int M, int N, int K)
{
    (void)d;
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            int32_t acc = 0;
            for (int k = 0; k < K; k++)
                acc += (int32_t)A[(long)m * K + k] * B[(long)n * K + k];
            C[(long)m * N + n] = acc;
        }
}

static void host_dequant(dev *d, float *y, const int32_t *C, const float *xs, const float *ws, const float *bias,
                         int M, int N, int accumulate)
{
    (void)d;
    for (long i = 0; i < (long)M * N; i++) {
        int n = (int)(i % N);
        float v = (float)C[i] * (xs[0] * ws[n]) + (bias ? bias[n] : 0.0f);
        y[i] = accumulate ? y[i] + v : v;
    }
}

gt_status dev_host_open(dev **out, gt_error *err)
{
    *out = NULL;
    dev *d = calloc(1, sizeof *d);
    host_impl *h = calloc(1, sizeof *h);
    if (!d || !h) {
        free(d);
        free(h);
        return gt_error_set(err, GT_ERR_NOMEM, "device host: out of memory");
    }
    d->name = "host";
    d->impl = h;
    d->close = host_close;
    d->alloc = host_alloc;
    d->release = host_release;
    d->upload = host_copy;
    d->download = host_copy;
    d->zero = host_zero;
    d->copy = host_copy;
    d->sync = host_nothing;
    d->free_bytes = host_free_bytes;
    d->profile_flush = host_nothing;
    d->gemm = host_gemm;
    d->convert = host_convert;
    d->embed_fwd = host_embed_fwd;
    d->embed_bwd = host_embed_bwd;
    d->rows_add_fwd = host_rows_add_fwd;
    d->rows_add_bwd = host_rows_add_bwd;
    d->colsum = host_colsum;
    d->ln_fwd = host_ln_fwd;
    d->ln_bwd = host_ln_bwd;
    d->dropout_fwd = host_dropout_fwd;
    d->dropout_bwd = host_dropout_bwd;
    d->add = host_add;
    d->act_fwd = host_act_fwd;
    d->act_bwd = host_act_bwd;
    d->geglu_fwd = host_geglu_fwd;
    d->geglu_bwd = host_geglu_bwd;
    d->tanh_fwd = host_tanh_fwd;
    d->tanh_bwd = host_tanh_bwd;
    d->rope = host_rope;
    d->pool_fwd = host_pool_fwd;
    d->pool_bwd = host_pool_bwd;
    d->ce_fwd = host_ce_fwd;
    d->ce_bwd = host_ce_bwd;
    d->attn_fwd = host_attn_fwd;
    d->attn_bwd = host_attn_bwd;
    d->heads_split = host_heads_split;
    d->heads_merge = host_heads_merge;
    d->softmax_fwd = host_softmax_fwd;
    d->softmax_bwd = host_softmax_bwd;
    d->adamw = host_adamw;
    d->sgd = host_sgd;
    d->sumsq = host_sumsq;
    d->scale = host_scale;
    d->quant_rows = host_quant_rows;
    d->act_quant = host_act_quant;
    d->gemm_s8 = host_gemm_s8;
    d->dequant = host_dequant;
    *out = d;
    return GT_OK;
}
