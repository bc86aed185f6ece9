/* The device interface the GPU models run on (src/nn/cuda).
 *
 * A dev is a table of operations on device memory: allocation and copies, one
 * matmul (cuBLASLt on the GPU), and the engine's ops as kernels. Two backends
 * implement it:
 *   cuda  dev_cuda.cu and the kernels (*.cu): the real thing, built when nvcc
 *         was found (dev_cuda_stub.c says why not otherwise);
 *   host  dev_host.c: ordinary memory and reference loops (mostly the CPU ops
 *         of ops.h), so the GPU model code — plans, the order of ops, gradient
 *         flow, the optimizer tables, the matmul layouts — runs and is tested
 *         on machines without a GPU.
 *
 * Conventions: pointers are device pointers; tensors are fp32 and row-major
 * unless a dev_type says otherwise; shapes follow ops.h (outputs first, then
 * inputs, then sizes). Ops are asynchronous and return nothing: the first
 * failure is kept in d->status / d->err (sticky until dev_clear) and the
 * caller checks it after a step, like the CPU's mm_ctx_error. Only download
 * and sync wait for the device. Parameter gradients are ACCUMULATED (+=),
 * input gradients written, as in ops.h. */
#ifndef GREENTUNE_NN_CUDA_DEV_H
#define GREENTUNE_NN_CUDA_DEV_H

#include <stddef.h>
#include <stdint.h>

#include "greentune/nn.h"
#include "nn/ops.h"

/* Element type of a matmul operand or a stored copy. */
typedef enum { DEV_F32 = 0, DEV_BF16 = 1, DEV_F16 = 2 } dev_type;

static inline size_t dev_type_size(dev_type t)
{
    return t == DEV_F32 ? 4 : 2;
}

/* C = alpha op(A) op(B) + beta C (+ bias on every row), all row-major, batch
 * times with the given strides (elements). op(A) is (M, K): A is stored (M, K)
 * with row stride lda, or (K, M) when ta. op(B) is (K, N): B is stored (K, N),
 * or (N, K) when tb. A and B are of `type` (fp32 on TF32 tensor cores when
 * tf32), C is fp32; accumulation is fp32. beta = 0 never reads C. */
typedef struct {
    dev_type type;
    int tf32;
    int ta, tb;
    int M, N, K;
    const void *A;
    long lda, stride_a;
    const void *B;
    long ldb, stride_b;
    float *C;
    long ldc, stride_c;
    float alpha, beta;
    const float *bias;        /* (N), or NULL; not with batch > 1 */
    int batch;                /* >= 1 */
    int attention;            /* profiling: one of attention's products (else a linear layer's) */
} dev_gemm;

/* The optimizer's work list: a chunk of one tensor (at most DEV_CHUNK values),
 * its offsets in the parameter and gradient blocks, and whether it decays. */
#define DEV_CHUNK 4096
typedef struct {
    int64_t data_off, grad_off;
    int32_t n, decay;
} dev_chunk;

/* torch.optim.AdamW's per-step constants (see optimizer.c); decay applies to
 * chunks with decay = 1, the others keep p. */
typedef struct {
    float beta1, one_minus_beta1, beta2, one_minus_beta2, bc2_sqrt, neg_step, eps, decay;
} dev_adamw;

/* torch.optim.SGD's: wd applies to chunks with decay = 1. */
typedef struct {
    float wd, momentum, damp, neg_lr;
    int nesterov, first;
} dev_sgd;

/* Where device time goes, when d->profiling is set (the CUDA backend times
 * every op with events; the host backend with the clock). */
typedef enum {
    PROF_GEMM, PROF_ATTENTION_GEMM, PROF_ATTENTION, PROF_NORM, PROF_ELEMENTWISE, PROF_EMBED, PROF_LOSS,
    PROF_OPTIMIZER, PROF_COPY, PROF_KINDS
} dev_prof_kind;

const char *dev_prof_name(dev_prof_kind k);

/* LayerNorm backward and column sums reduce rows in this many fixed groups
 * (scratch: dev_ln_scratch_floats / DEV_GROUPS * C), so results do not depend
 * on the device. */
#define DEV_GROUPS 64
static inline long dev_ln_scratch_floats(int C)
{
    return 2L * DEV_GROUPS * C;
}

/* Sum of squares: one partial per DEV_SUMSQ_CHUNK values (scratch doubles). */
#define DEV_SUMSQ_CHUNK 65536
static inline long dev_sumsq_scratch(long n)
{
    return (n + DEV_SUMSQ_CHUNK - 1) / DEV_SUMSQ_CHUNK;
}

typedef struct dev dev;

struct dev {
    const char *name;                 /* "cuda", "host" */
    gt_status status;                 /* the first failure, GT_OK if none */
    gt_error err;
    int profiling;                    /* 1: accumulate prof_ms per op kind */
    double prof_ms[PROF_KINDS];
    long prof_calls[PROF_KINDS];
    void *impl;

    void (*close)(dev *d);
    /* memory */
    void *(*alloc)(dev *d, size_t bytes);          /* NULL (and d->status) when it fails */
    void (*release)(dev *d, void *p);
    void (*upload)(dev *d, void *dst, const void *src, size_t bytes);
    void (*download)(dev *d, void *dst, const void *src, size_t bytes); /* waits */
    void (*zero)(dev *d, void *p, size_t bytes);
    void (*copy)(dev *d, void *dst, const void *src, size_t bytes);
    void (*sync)(dev *d);                           /* waits for everything queued */
    size_t (*free_bytes)(dev *d);
    /* timing of queued work: flushes the profile of what ran since the last call */
    void (*profile_flush)(dev *d);

    /* matmuls and conversions */
    void (*gemm)(dev *d, const dev_gemm *g);
    /* dst (n) of type t = src (n) rounded to nearest even. */
    void (*convert)(dev *d, void *dst, dev_type t, const float *src, long n);

    /* embeddings: out (N, C) = table[ids]. */
    void (*embed_fwd)(dev *d, float *out, const int32_t *ids, const float *table, int N, int C);
    /* dtable[seg_id[s]] += sum of dout[order[k]] for k in [seg_start[s], seg_start[s+1]),
     * in that order: rows grouped by token (order ascending within a group). */
    void (*embed_bwd)(dev *d, float *dtable, const float *dout, const int32_t *order, const int32_t *seg_start,
                      const int32_t *seg_id, int nseg, int C);
    /* out (B, T, C) += rows (T, C) broadcast over b; and drows[t] += sum_b dout[b, t]. */
    void (*rows_add_fwd)(dev *d, float *out, const float *rows, int B, int T, int C);
    void (*rows_add_bwd)(dev *d, float *drows, const float *dout, int B, int T, int C);
    /* out (C) += column sums of x (R, C); scratch DEV_GROUPS * C. */
    void (*colsum)(dev *d, float *out, const float *x, int R, int C, float *scratch);

    /* normalization, as ops.h's layernorm (scratch dev_ln_scratch_floats(C)). */
    void (*ln_fwd)(dev *d, float *y, float *mean, float *rstd, const float *x, const float *w, const float *b,
                   int N, int C, float eps);
    void (*ln_bwd)(dev *d, float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                   const float *mean, const float *rstd, float *scratch, int N, int C);

    /* y = (residual ? residual : 0) + dropout(x), mask saved: the generator of
     * ops.h's dropout_forward (the same mask for the same seed and offset). */
    void (*dropout_fwd)(dev *d, float *y, uint8_t *mask, const float *x, const float *residual, long n, float p,
                        uint64_t seed, uint64_t offset);
    void (*dropout_bwd)(dev *d, float *dx, const uint8_t *mask, const float *dy, long n, float p);
    /* y = a + b (y may be a or b). */
    void (*add)(dev *d, float *y, const float *a, const float *b, long n);

    /* activations, as ops.h (dx may equal dy). */
    void (*act_fwd)(dev *d, float *y, const float *x, long n, activation_kind k);
    void (*act_bwd)(dev *d, float *dx, const float *x, const float *dy, long n, activation_kind k);
    void (*geglu_fwd)(dev *d, float *y, const float *x, int N, int F, activation_kind k);
    void (*geglu_bwd)(dev *d, float *dx, const float *x, const float *dy, int N, int F, activation_kind k);
    void (*tanh_fwd)(dev *d, float *y, const float *x, long n);
    void (*tanh_bwd)(dev *d, float *dx, const float *y, const float *dy, long n);
    /* ops.h's rope_forward (inverse = 0) or rope_backward (1), in place. */
    void (*rope)(dev *d, float *x, const float *cos, const float *sin, int B, int T, int H, int D, int stride,
                 int inverse);

    /* pooling: cls (mean = 0) or mean over valid tokens; backward accumulates. */
    void (*pool_fwd)(dev *d, float *out, const float *x, const int32_t *valid, int B, int T, int C, int mean);
    void (*pool_bwd)(dev *d, float *dx, const float *dout, const int32_t *valid, int B, int T, int C, int mean);
    /* ops.h's cross_entropy_forward without the mean (the host sums losses). */
    void (*ce_fwd)(dev *d, float *losses, float *probs, const float *logits, const int32_t *labels, int B, int L);
    void (*ce_bwd)(dev *d, float *dlogits, const float *probs, const int32_t *labels, int B, int L, float scale);

    /* attention, fused: ops.h's fused_attention_forward/backward (online
     * softmax, lse saved); delta: (B, H, T) scratch. */
    void (*attn_fwd)(dev *d, float *out, float *lse, const float *qkv, const int32_t *valid, attention_shape s);
    void (*attn_bwd)(dev *d, float *dqkv, const float *dout, const float *out, const float *qkv, const float *lse,
                     const int32_t *valid, float *delta, attention_shape s);
    /* attention, standard (batched matmuls around these):
     *   heads_split: dst (B, H, T, D) of type t = src rows (B, T, .) with row
     *                stride `stride`, head h at h*D;
     *   heads_merge: dst rows (B, T, .) with row stride `stride`, head h at h*D
     *                = src (B, H, T, D);
     *   softmax_fwd: P (B, H, T, T) of type t = softmax over each query's
     *                allowed keys of S * scale, 0 elsewhere (S may be P when t is fp32);
     *   softmax_bwd: dS (type t) = P (dP - rowsum(P dP)) * scale (dS may be dP when fp32). */
    void (*heads_split)(dev *d, void *dst, dev_type t, const float *src, int stride, int B, int T, int H, int D);
    void (*heads_merge)(dev *d, float *dst, int stride, const float *src, int B, int T, int H, int D);
    void (*softmax_fwd)(dev *d, void *P, dev_type t, const float *S, const int32_t *valid, attention_shape s);
    void (*softmax_bwd)(dev *d, void *dS, const float *dP, const void *P, dev_type t, attention_shape s);

    /* optimizer steps over a chunk list (device memory), and gradient norms:
     * *out (a device double) = sum of x^2, in a fixed order (scratch doubles). */
    void (*adamw)(dev *d, float *params, const float *grads, float *m, float *v, const dev_chunk *chunks,
                  int nchunks, const dev_adamw *c);
    void (*sgd)(dev *d, float *params, const float *grads, float *buf, const dev_chunk *chunks, int nchunks,
                const dev_sgd *c);
    void (*sumsq)(dev *d, double *out, const float *x, long n, double *scratch);
    void (*scale)(dev *d, float *x, long n, float s);

    /* int8 inference: q (rows, cols) s8 with scales (rows) = per-row absmax / 127;
     * act_quant: q (n) s8 = x / s with s = absmax(x) / 127 written to *scale
     * (1 when x is all 0); gemm_s8: C (M, N) s32 = A (M, K) . B^T with B
     * stored (N, K); dequant: y (M, N) = (accumulate ? y : 0) + C * (*xs) * ws[n] + bias[n]. */
    void (*quant_rows)(dev *d, int8_t *q, float *scales, const float *w, int rows, int cols);
    void (*act_quant)(dev *d, int8_t *q, float *scale, const float *x, long n, float *scratch);
    void (*gemm_s8)(dev *d, int32_t *C, const int8_t *A, const int8_t *B, int M, int N, int K);
    void (*dequant)(dev *d, float *y, const int32_t *C, const float *xs, const float *ws, const float *bias, int M,
                    int N, int accumulate);
};

/* Records the first failure (later ones are dropped); returns its status. */
gt_status dev_fail(dev *d, gt_status status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* d->status, with its message copied to err; then clears it. */
gt_status dev_take_error(dev *d, gt_error *err);

/* The backends. dev_cuda_open fails with one line when the build has no CUDA
 * or the machine no usable GPU; info may be NULL. */
gt_status dev_cuda_open(dev **out, gt_nn_device_info *info, gt_error *err);
gt_status dev_cuda_probe(gt_nn_device_info *info, gt_error *err);
gt_status dev_host_open(dev **out, gt_error *err);
/* The device models run on for device cuda: the CUDA backend, or the host
 * backend when GREENTUNE_CUDA_EMULATE=1 (tests; device.c). */
gt_status dev_open_device(dev **out, gt_nn_device_info *info, gt_error *err);
/* The cuBLASLt peak of the GPU (dev_cuda_open'ed), GFLOP/s, and the shape that gave it. */
gt_status dev_cuda_gemm_peak(dev *d, gt_nn_precision p, double seconds_per_shape, double *gflops, char *impl,
                             size_t impl_size, gt_error *err);

/* Matmuls the CUDA backend ran on its plain kernel because cuBLASLt had no
 * algorithm for their shape, and their GFLOP (0 for other backends). */
long dev_cuda_fallbacks(dev *d, double *gflop);

static inline void dev_close(dev *d)
{
    if (d)
        d->close(d);
}

#endif
