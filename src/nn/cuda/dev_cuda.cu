/* The CUDA backend of dev.h: the GPU, its stream, cuBLASLt for the matmuls,
 * and the kernels of kernels.cu and attention.cu behind the op table.
 *
 * One stream per device: every op is queued on it, so ops run in order
 * without further synchronization; download and sync wait. Each launch is
 * checked right away (a bad configuration) and errors that surface later (a
 * fault in a kernel) at the next wait; the first one sticks in d->status.
 *
 * Matmuls: cublasLtMatmul with descriptors and the heuristic's algorithm cached
 * per shape (a step repeats a few dozen shapes), the bias in the epilogue,
 * alignments declared from the actual pointers. A shape cuBLASLt has no
 * algorithm for (odd leading dimensions with 16-bit data, say) runs on a
 * plain kernel instead and is counted (d_fallbacks), so a slow path shows. */
#include <cublasLt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nn/cuda/cuda_common.cuh"

#define WORKSPACE_BYTES (32u << 20)
#define PLAN_CACHE 96
#define PROF_EVENTS 4096

typedef struct {
    int type, tf32, ta, tb, M, N, K, batch, bias, beta, align_a, align_b, align_c, s8;
    long lda, ldb, ldc, sa, sb, sc;
} gemm_key;

typedef struct {
    gemm_key key;
    int used, usable;
    cublasLtMatmulDesc_t op;
    cublasLtMatrixLayout_t la, lb, lc;
    cublasLtMatmulAlgo_t algo;
} gemm_plan;

typedef struct {
    int device;
    cudaStream_t stream;
    cublasLtHandle_t lt;
    void *workspace;
    gemm_plan plans[PLAN_CACHE];
    int next_plan;
    long fallbacks;
    double fallback_flops;
    cudaEvent_t ev[2 * PROF_EVENTS];
    int ev_kind[PROF_EVENTS];
    int ev_count, ev_ready;
} cuda_impl;

static cuda_impl *impl_of(dev *d)
{
    return (cuda_impl *)d->impl;
}

/* ---- errors ---------------------------------------------------------------------------- */

static int cuda_ok(dev *d, cudaError_t e, const char *what)
{
    if (e == cudaSuccess)
        return 1;
    dev_fail(d, e == cudaErrorMemoryAllocation ? GT_ERR_NOMEM : GT_ERR_IO, "device cuda: %s: %s", what,
             cudaGetErrorString(e));
    return 0;
}

static int lt_ok(dev *d, cublasStatus_t s, const char *what)
{
    if (s == CUBLAS_STATUS_SUCCESS)
        return 1;
    dev_fail(d, GT_ERR_IO, "device cuda: %s: cuBLASLt status %d", what, (int)s);
    return 0;
}

/* After a launch: a bad grid or an earlier fault shows here. */
#define LAUNCHED(d, what) cuda_ok(d, cudaGetLastError(), what)

/* ---- profiling: a pair of events around each op ------------------------------------------- */

static void profile_flush(dev *d)
{
    cuda_impl *c = impl_of(d);
    if (!c->ev_count)
        return;
    cuda_ok(d, cudaStreamSynchronize(c->stream), "profile");
    for (int i = 0; i < c->ev_count; i++) {
        float ms = 0.0f;
        if (cudaEventElapsedTime(&ms, c->ev[2 * i], c->ev[2 * i + 1]) == cudaSuccess) {
            d->prof_ms[c->ev_kind[i]] += ms;
            d->prof_calls[c->ev_kind[i]]++;
        }
    }
    c->ev_count = 0;
}

/* Returns the slot of the op's events, or -1 when not profiling. */
static int prof_begin(dev *d, dev_prof_kind kind)
{
    cuda_impl *c = impl_of(d);
    if (!d->profiling)
        return -1;
    if (!c->ev_ready) {
        for (int i = 0; i < 2 * PROF_EVENTS; i++)
            if (!cuda_ok(d, cudaEventCreate(&c->ev[i]), "profile events"))
                return -1;
        c->ev_ready = 1;
    }
    if (c->ev_count == PROF_EVENTS)
        profile_flush(d);
    int slot = c->ev_count++;
    c->ev_kind[slot] = kind;
    cudaEventRecord(c->ev[2 * slot], c->stream);
    return slot;
}

static void prof_end(dev *d, int slot)
{
    if (slot >= 0)
        cudaEventRecord(impl_of(d)->ev[2 * slot + 1], impl_of(d)->stream);
}

/* Wraps one op: profiled as `kind`, its launches checked as `what`. */
#define OP(d, kind, what, body)                                                                                \
    do {                                                                                                       \
        int slot_ = prof_begin(d, kind);                                                                       \
        cudaStream_t s_ = impl_of(d)->stream;                                                                  \
        (void)s_;                                                                                              \
        body;                                                                                                  \
        prof_end(d, slot_);                                                                                    \
        LAUNCHED(d, what);                                                                                     \
    } while (0)

/* ---- memory ----------------------------------------------------------------------------- */

static size_t cu_free_bytes(dev *d)
{
    size_t free_b = 0, total = 0;
    (void)d;
    return cudaMemGetInfo(&free_b, &total) == cudaSuccess ? free_b : 0;
}

static void *cu_alloc(dev *d, size_t bytes)
{
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, bytes ? bytes : 1);
    if (e == cudaSuccess)
        return p;
    cudaGetLastError(); /* an allocation failure is not sticky: clear it */
    dev_fail(d, GT_ERR_NOMEM, "device cuda: cannot allocate %.2f GiB of GPU memory (%s; %.2f GiB free)",
             bytes / 1073741824.0, cudaGetErrorString(e), cu_free_bytes(d) / 1073741824.0);
    return NULL;
}

static void cu_release(dev *d, void *p)
{
    if (p)
        cuda_ok(d, cudaFree(p), "cudaFree");
}

static void cu_upload(dev *d, void *dst, const void *src, size_t bytes)
{
    if (bytes)
        OP(d, PROF_COPY, "copy to the GPU", cuda_ok(d, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, s_),
                                                     "cudaMemcpy to the GPU"));
}

static void cu_download(dev *d, void *dst, const void *src, size_t bytes)
{
    if (bytes)
        OP(d, PROF_COPY, "copy from the GPU",
           cuda_ok(d, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, s_), "cudaMemcpy from the GPU"));
    cuda_ok(d, cudaStreamSynchronize(impl_of(d)->stream), "waiting for the GPU");
}

static void cu_zero(dev *d, void *p, size_t bytes)
{
    if (bytes)
        OP(d, PROF_COPY, "cudaMemset", cuda_ok(d, cudaMemsetAsync(p, 0, bytes, s_), "cudaMemset"));
}

static void cu_copy(dev *d, void *dst, const void *src, size_t bytes)
{
    if (bytes)
        OP(d, PROF_COPY, "copy on the GPU",
           cuda_ok(d, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, s_), "cudaMemcpy on the GPU"));
}

static void cu_sync(dev *d)
{
    cuda_ok(d, cudaStreamSynchronize(impl_of(d)->stream), "waiting for the GPU");
}

/* ---- matmuls ------------------------------------------------------------------------------ */

/* The largest power of two (<= 256) that the address and every stride in
 * bytes are multiples of: what cuBLASLt may assume about an operand. */
static int alignment(const void *p, long ld, long stride, size_t elem)
{
    uintptr_t bits = (uintptr_t)p | (uintptr_t)(ld * (long)elem) | (uintptr_t)(stride * (long)elem);
    int a = 256;
    while (a > 1 && bits % (uintptr_t)a)
        a >>= 1;
    return a;
}

static gemm_key key_of(const dev_gemm *g)
{
    gemm_key k;
    memset(&k, 0, sizeof k); /* padding too: keys are compared with memcmp */
    size_t es = dev_type_size(g->type);
    k.type = g->type;
    k.tf32 = g->tf32;
    k.ta = g->ta;
    k.tb = g->tb;
    k.M = g->M;
    k.N = g->N;
    k.K = g->K;
    k.batch = g->batch;
    k.bias = g->bias != NULL;
    k.beta = g->beta != 0.0f;
    k.lda = g->lda;
    k.ldb = g->ldb;
    k.ldc = g->ldc;
    k.sa = g->batch > 1 ? g->stride_a : 0;
    k.sb = g->batch > 1 ? g->stride_b : 0;
    k.sc = g->batch > 1 ? g->stride_c : 0;
    k.align_a = alignment(g->A, g->lda, k.sa, es);
    k.align_b = alignment(g->B, g->ldb, k.sb, es);
    k.align_c = alignment(g->C, g->ldc, k.sc, 4);
    if (g->bias && alignment(g->bias, 0, 0, 4) < k.align_c)
        k.align_c = alignment(g->bias, 0, 0, 4);
    return k;
}

static void plan_destroy(gemm_plan *p)
{
    if (!p->used)
        return;
    cublasLtMatmulDescDestroy(p->op);
    cublasLtMatrixLayout_t ls[3] = {p->la, p->lb, p->lc};
    for (int i = 0; i < 3; i++)
        if (ls[i]) /* a plan that failed half way has some still NULL */
            cublasLtMatrixLayoutDestroy(ls[i]);
    memset(p, 0, sizeof *p);
}

static cublasStatus_t set_batch(cublasLtMatrixLayout_t l, int batch, long stride)
{
    int64_t s64 = stride;
    cublasStatus_t st = cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &batch, sizeof batch);
    if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &s64, sizeof s64);
    return st;
}

/* Row-major C (M, N) = op(A) op(B) is column-major C^T (N, M) = op(B)^T op(A)^T:
 * cuBLASLt's first operand is our B, its second our A, m = N, n = M. Our
 * row-major B (K, N) is its column-major (N, K): op N; stored (N, K) (tb) it
 * is column-major (K, N): op T. Likewise for A with ta. */
static int plan_make(dev *d, gemm_plan *p, const gemm_key *k)
{
    cuda_impl *c = impl_of(d);
    memset(p, 0, sizeof *p);
    p->key = *k;
    cublasComputeType_t compute = k->s8 ? CUBLAS_COMPUTE_32I : k->tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    cudaDataType_t scale = k->s8 ? CUDA_R_32I : CUDA_R_32F;
    cudaDataType_t ab = k->s8 ? CUDA_R_8I : k->type == DEV_BF16 ? CUDA_R_16BF : k->type == DEV_F16 ? CUDA_R_16F : CUDA_R_32F;
    cudaDataType_t ct = k->s8 ? CUDA_R_32I : CUDA_R_32F;
    cublasOperation_t opa = k->tb ? CUBLAS_OP_T : CUBLAS_OP_N, opb = k->ta ? CUBLAS_OP_T : CUBLAS_OP_N;
    cublasStatus_t st = cublasLtMatmulDescCreate(&p->op, compute, scale);
    if (st != CUBLAS_STATUS_SUCCESS)
        return lt_ok(d, st, "cublasLtMatmulDescCreate");
    p->used = 1;
    st = cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSA, &opa, sizeof opa);
    if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSB, &opb, sizeof opb);
    if (st == CUBLAS_STATUS_SUCCESS && k->bias) {
        cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
        cudaDataType_t bt = CUDA_R_32F;
        st = cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi);
        if (st == CUBLAS_STATUS_SUCCESS)
            st = cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bt, sizeof bt);
    }
    if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatrixLayoutCreate(&p->la, ab, k->tb ? k->K : k->N, k->tb ? k->N : k->K, k->ldb);
    if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatrixLayoutCreate(&p->lb, ab, k->ta ? k->M : k->K, k->ta ? k->K : k->M, k->lda);
    if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatrixLayoutCreate(&p->lc, ct, k->N, k->M, k->ldc);
    if (st == CUBLAS_STATUS_SUCCESS && k->batch > 1)
        st = set_batch(p->la, k->batch, k->sb);
    if (st == CUBLAS_STATUS_SUCCESS && k->batch > 1)
        st = set_batch(p->lb, k->batch, k->sa);
    if (st == CUBLAS_STATUS_SUCCESS && k->batch > 1)
        st = set_batch(p->lc, k->batch, k->sc);
    if (st != CUBLAS_STATUS_SUCCESS)
        return lt_ok(d, st, "describing a matmul");
    cublasLtMatmulPreference_t pref;
    if ((st = cublasLtMatmulPreferenceCreate(&pref)) != CUBLAS_STATUS_SUCCESS)
        return lt_ok(d, st, "cublasLtMatmulPreferenceCreate");
    uint64_t ws = WORKSPACE_BYTES;
    uint32_t al[4] = {(uint32_t)k->align_b, (uint32_t)k->align_a, (uint32_t)k->align_c, (uint32_t)k->align_c};
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws);
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al[0], sizeof al[0]);
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al[1], sizeof al[1]);
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al[2], sizeof al[2]);
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al[3], sizeof al[3]);
    cublasLtMatmulHeuristicResult_t result;
    int found = 0;
    st = cublasLtMatmulAlgoGetHeuristic(c->lt, p->op, p->la, p->lb, p->lc, p->lc, pref, 1, &result, &found);
    cublasLtMatmulPreferenceDestroy(pref);
    /* no algorithm (or a shape it refuses): the plain kernel will do it */
    p->usable = st == CUBLAS_STATUS_SUCCESS && found > 0;
    if (p->usable)
        p->algo = result.algo;
    return 1;
}

static gemm_plan *plan_for(dev *d, const gemm_key *k)
{
    cuda_impl *c = impl_of(d);
    for (int i = 0; i < PLAN_CACHE; i++)
        if (c->plans[i].used && !memcmp(&c->plans[i].key, k, sizeof *k))
            return &c->plans[i];
    gemm_plan *p = &c->plans[c->next_plan];
    c->next_plan = (c->next_plan + 1) % PLAN_CACHE;
    plan_destroy(p);
    if (!plan_make(d, p, k)) {
        plan_destroy(p);
        return NULL;
    }
    return p;
}

static void cu_gemm(dev *d, const dev_gemm *g)
{
    cuda_impl *c = impl_of(d);
    if (g->M <= 0 || g->N <= 0 || g->batch <= 0)
        return;
    gemm_key k = key_of(g);
    gemm_plan *p = g->K > 0 ? plan_for(d, &k) : NULL;
    if (!p || !p->usable) {
        c->fallbacks++;
        c->fallback_flops += 2.0 * g->M * g->N * g->K * g->batch;
        OP(d, g->attention ? PROF_ATTENTION_GEMM : PROF_GEMM, "matmul (plain kernel)", launch_gemm_simple(s_, g));
        return;
    }
    if (g->bias)
        lt_ok(d, cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &g->bias, sizeof g->bias),
              "matmul bias");
    OP(d, g->attention ? PROF_ATTENTION_GEMM : PROF_GEMM, "cublasLtMatmul",
       lt_ok(d, cublasLtMatmul(c->lt, p->op, &g->alpha, g->B, p->la, g->A, p->lb, &g->beta, g->C, p->lc, g->C, p->lc,
                               &p->algo, c->workspace, WORKSPACE_BYTES, s_),
             "cublasLtMatmul"));
}

/* C (M, N) s32 = A (M, K) B^T: cuBLASLt's int8 kernels want the "TN" form,
 * which is this one (B stored (N, K) is our tb). */
static void cu_gemm_s8(dev *d, int32_t *C, const int8_t *A, const int8_t *B, int M, int N, int K)
{
    cuda_impl *c = impl_of(d);
    if (M <= 0 || N <= 0)
        return;
    dev_gemm g = {.type = DEV_F32, .tb = 1, .M = M, .N = N, .K = K, .A = A, .lda = K, .B = B, .ldb = K,
                  .C = (float *)C, .ldc = N, .batch = 1};
    gemm_key k = key_of(&g);
    k.s8 = 1;
    k.align_a = alignment(A, K, 0, 1);
    k.align_b = alignment(B, K, 0, 1);
    gemm_plan *p = K > 0 ? plan_for(d, &k) : NULL;
    if (!p || !p->usable) {
        c->fallbacks++;
        c->fallback_flops += 2.0 * M * N * K;
        OP(d, PROF_GEMM, "int8 matmul (plain kernel)", launch_gemm_s8_simple(s_, C, A, B, M, N, K));
        return;
    }
    int32_t one = 1, zero = 0;
    OP(d, PROF_GEMM, "cublasLtMatmul int8",
       lt_ok(d, cublasLtMatmul(c->lt, p->op, &one, B, p->la, A, p->lb, &zero, C, p->lc, C, p->lc, &p->algo,
                               c->workspace, WORKSPACE_BYTES, s_),
             "cublasLtMatmul int8"));
}

static void cu_convert(dev *d, void *dst, dev_type t, const float *src, long n)
{
    OP(d, PROF_ELEMENTWISE, "convert", launch_convert(s_, dst, t, src, n));
}

/* ---- the ops --------------------------------------------------------------------------- */

static void cu_embed_fwd(dev *d, float *out, const int32_t *ids, const float *table, int N, int C)
{
    OP(d, PROF_EMBED, "embedding", launch_embed_fwd(s_, out, ids, table, N, C));
}

static void cu_embed_bwd(dev *d, float *dtable, const float *dout, const int32_t *order, const int32_t *seg_start,
                         const int32_t *seg_id, int nseg, int C)
{
    OP(d, PROF_EMBED, "embedding backward", launch_embed_bwd(s_, dtable, dout, order, seg_start, seg_id, nseg, C));
}

static void cu_rows_add_fwd(dev *d, float *out, const float *rows, int B, int T, int C)
{
    OP(d, PROF_EMBED, "positions", launch_rows_add_fwd(s_, out, rows, B, T, C));
}

static void cu_rows_add_bwd(dev *d, float *drows, const float *dout, int B, int T, int C)
{
    OP(d, PROF_EMBED, "positions backward", launch_rows_add_bwd(s_, drows, dout, B, T, C));
}

static void cu_colsum(dev *d, float *out, const float *x, int R, int C, float *scratch)
{
    OP(d, PROF_ELEMENTWISE, "column sums", launch_colsum(s_, out, x, R, C, scratch));
}

static void cu_ln_fwd(dev *d, float *y, float *mean, float *rstd, const float *x, const float *w, const float *b, int N,
                      int C, float eps)
{
    OP(d, PROF_NORM, "layernorm", launch_ln_fwd(s_, y, mean, rstd, x, w, b, N, C, eps));
}

static void cu_ln_bwd(dev *d, float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                      const float *mean, const float *rstd, float *scratch, int N, int C)
{
    OP(d, PROF_NORM, "layernorm backward", launch_ln_bwd(s_, dx, dw, db, dy, x, w, mean, rstd, scratch, N, C));
}

static void cu_dropout_fwd(dev *d, float *y, uint8_t *mask, const float *x, const float *residual, long n, float p,
                           uint64_t seed, uint64_t offset)
{
    OP(d, PROF_ELEMENTWISE, "dropout", launch_dropout_fwd(s_, y, mask, x, residual, n, p, seed, offset));
}

static void cu_dropout_bwd(dev *d, float *dx, const uint8_t *mask, const float *dy, long n, float p)
{
    OP(d, PROF_ELEMENTWISE, "dropout backward", launch_dropout_bwd(s_, dx, mask, dy, n, p));
}

static void cu_add(dev *d, float *y, const float *a, const float *b, long n)
{
    OP(d, PROF_ELEMENTWISE, "add", launch_add(s_, y, a, b, n));
}

static void cu_act_fwd(dev *d, float *y, const float *x, long n, activation_kind k)
{
    OP(d, PROF_ELEMENTWISE, "activation", launch_act_fwd(s_, y, x, n, (int)k));
}

static void cu_act_bwd(dev *d, float *dx, const float *x, const float *dy, long n, activation_kind k)
{
    OP(d, PROF_ELEMENTWISE, "activation backward", launch_act_bwd(s_, dx, x, dy, n, (int)k));
}

static void cu_geglu_fwd(dev *d, float *y, const float *x, int N, int F, activation_kind k)
{
    OP(d, PROF_ELEMENTWISE, "geglu", launch_geglu_fwd(s_, y, x, N, F, (int)k));
}

static void cu_geglu_bwd(dev *d, float *dx, const float *x, const float *dy, int N, int F, activation_kind k)
{
    OP(d, PROF_ELEMENTWISE, "geglu backward", launch_geglu_bwd(s_, dx, x, dy, N, F, (int)k));
}

static void cu_tanh_fwd(dev *d, float *y, const float *x, long n)
{
    OP(d, PROF_ELEMENTWISE, "tanh", launch_tanh_fwd(s_, y, x, n));
}

static void cu_tanh_bwd(dev *d, float *dx, const float *y, const float *dy, long n)
{
    OP(d, PROF_ELEMENTWISE, "tanh backward", launch_tanh_bwd(s_, dx, y, dy, n));
}

static void cu_rope(dev *d, float *x, const float *cos_t, const float *sin_t, int B, int T, int H, int D, int stride,
                    int inverse)
{
    OP(d, PROF_ELEMENTWISE, "rope", launch_rope(s_, x, cos_t, sin_t, B, T, H, D, stride, inverse));
}

static void cu_pool_fwd(dev *d, float *out, const float *x, const int32_t *valid, int B, int T, int C, int mean)
{
    OP(d, PROF_ELEMENTWISE, "pooling", launch_pool_fwd(s_, out, x, valid, B, T, C, mean));
}

static void cu_pool_bwd(dev *d, float *dx, const float *dout, const int32_t *valid, int B, int T, int C, int mean)
{
    OP(d, PROF_ELEMENTWISE, "pooling backward", launch_pool_bwd(s_, dx, dout, valid, B, T, C, mean));
}

static void cu_ce_fwd(dev *d, float *losses, float *probs, const float *logits, const int32_t *labels, int B, int L)
{
    OP(d, PROF_LOSS, "cross-entropy", launch_ce_fwd(s_, losses, probs, logits, labels, B, L));
}

static void cu_ce_bwd(dev *d, float *dlogits, const float *probs, const int32_t *labels, int B, int L, float scale)
{
    OP(d, PROF_LOSS, "cross-entropy backward", launch_ce_bwd(s_, dlogits, probs, labels, B, L, scale));
}

static void cu_attn_fwd(dev *d, float *out, float *lse, const float *qkv, const int32_t *valid, attention_shape a)
{
    if (a.D > ATTN_MAX_D) {
        dev_fail(d, GT_ERR_UNSUPPORTED, "device cuda: fused attention: head size %d above %d (use standard attention)",
                 a.D, ATTN_MAX_D);
        return;
    }
    OP(d, PROF_ATTENTION, "fused attention", launch_attn_fwd(s_, out, lse, qkv, valid, a));
}

static void cu_attn_bwd(dev *d, float *dqkv, const float *dout, const float *out, const float *qkv, const float *lse,
                        const int32_t *valid, float *delta, attention_shape a)
{
    if (a.D > ATTN_MAX_D) {
        dev_fail(d, GT_ERR_UNSUPPORTED, "device cuda: fused attention: head size %d above %d (use standard attention)",
                 a.D, ATTN_MAX_D);
        return;
    }
    OP(d, PROF_ATTENTION, "fused attention backward", launch_attn_bwd(s_, dqkv, dout, out, qkv, lse, valid, delta, a));
}

static void cu_heads_split(dev *d, void *dst, dev_type t, const float *src, int stride, int B, int T, int H, int D)
{
    OP(d, PROF_ATTENTION, "attention heads", launch_heads_split(s_, dst, t, src, stride, B, T, H, D));
}

static void cu_heads_merge(dev *d, float *dst, int stride, const float *src, int B, int T, int H, int D)
{
    OP(d, PROF_ATTENTION, "attention heads", launch_heads_merge(s_, dst, stride, src, B, T, H, D));
}

static void cu_softmax_fwd(dev *d, void *P, dev_type t, const float *S, const int32_t *valid, attention_shape a)
{
    OP(d, PROF_ATTENTION, "attention softmax", launch_softmax_fwd(s_, P, t, S, valid, a));
}

static void cu_softmax_bwd(dev *d, void *dS, const float *dP, const void *P, dev_type t, attention_shape a)
{
    OP(d, PROF_ATTENTION, "attention softmax backward", launch_softmax_bwd(s_, dS, dP, P, t, a));
}

static void cu_adamw(dev *d, float *params, const float *grads, float *m, float *v, const dev_chunk *chunks,
                     int nchunks, const dev_adamw *c)
{
    OP(d, PROF_OPTIMIZER, "adamw", launch_adamw(s_, params, grads, m, v, chunks, nchunks, c));
}

static void cu_sgd(dev *d, float *params, const float *grads, float *buf, const dev_chunk *chunks, int nchunks,
                   const dev_sgd *c)
{
    OP(d, PROF_OPTIMIZER, "sgd", launch_sgd(s_, params, grads, buf, chunks, nchunks, c));
}

static void cu_sumsq(dev *d, double *out, const float *x, long n, double *scratch)
{
    OP(d, PROF_OPTIMIZER, "gradient norm", launch_sumsq(s_, out, x, n, scratch));
}

static void cu_scale(dev *d, float *x, long n, float v)
{
    OP(d, PROF_OPTIMIZER, "gradient clipping", launch_scale(s_, x, n, v));
}

static void cu_quant_rows(dev *d, int8_t *q, float *scales, const float *w, int rows, int cols)
{
    OP(d, PROF_ELEMENTWISE, "int8 weights", launch_quant_rows(s_, q, scales, w, rows, cols));
}

static void cu_act_quant(dev *d, int8_t *q, float *scale, const float *x, long n, float *scratch)
{
    OP(d, PROF_ELEMENTWISE, "int8 activations", launch_act_quant(s_, q, scale, x, n, scratch));
}

static void cu_dequant(dev *d, float *y, const int32_t *C, const float *xs, const float *ws, const float *bias, int M,
                       int N, int accumulate)
{
    OP(d, PROF_ELEMENTWISE, "int8 output", launch_dequant(s_, y, C, xs, ws, bias, M, N, accumulate));
}

/* ---- the device -------------------------------------------------------------------------- */

static void cu_close(dev *d)
{
    cuda_impl *c = impl_of(d);
    if (c) {
        if (c->stream)
            cudaStreamSynchronize(c->stream);
        for (int i = 0; i < PLAN_CACHE; i++)
            plan_destroy(&c->plans[i]);
        if (c->ev_ready)
            for (int i = 0; i < 2 * PROF_EVENTS; i++)
                cudaEventDestroy(c->ev[i]);
        if (c->workspace)
            cudaFree(c->workspace);
        if (c->lt)
            cublasLtDestroy(c->lt);
        if (c->stream)
            cudaStreamDestroy(c->stream);
        free(c);
    }
    free(d);
}

__global__ void k_probe(int *x)
{
    if (x)
        *x = 1;
}

gt_status dev_cuda_probe(gt_nn_device_info *info, gt_error *err)
{
    memset(info, 0, sizeof *info);
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count == 0) {
        const char *why = e == cudaSuccess ? "no CUDA GPU" : cudaGetErrorString(e);
        cudaGetLastError();
        return gt_error_set(err, GT_ERR_UNSUPPORTED,
                            "device cuda: no usable NVIDIA GPU here (cudaGetDeviceCount: %s); use device cpu", why);
    }
    cudaDeviceProp prop;
    if ((e = cudaGetDeviceProperties(&prop, 0)) != cudaSuccess)
        return gt_error_set(err, GT_ERR_UNSUPPORTED, "device cuda: cudaGetDeviceProperties: %s; use device cpu",
                            cudaGetErrorString(e));
    snprintf(info->name, sizeof info->name, "%s", prop.name);
    info->cc_major = prop.major;
    info->cc_minor = prop.minor;
    info->multiprocessors = prop.multiProcessorCount;
    info->memory_gib = prop.totalGlobalMem / 1073741824.0;
    int driver = 0, runtime = 0;
    cudaDriverGetVersion(&driver);
    cudaRuntimeGetVersion(&runtime);
    snprintf(info->runtime, sizeof info->runtime, "CUDA runtime %d.%d, driver %d.%d, cuBLASLt %zu", runtime / 1000,
             runtime % 1000 / 10, driver / 1000, driver % 1000 / 10, cublasLtGetVersion());
    /* the build's kernels must run on this GPU (they are compiled for CMAKE_CUDA_ARCHITECTURES) */
    cudaFuncAttributes attr;
    if ((e = cudaFuncGetAttributes(&attr, k_probe)) != cudaSuccess) {
        cudaGetLastError();
        return gt_error_set(err, GT_ERR_UNSUPPORTED,
                            "device cuda: %s (compute capability %d.%d) cannot run this build's kernels (%s); rebuild "
                            "with -DCMAKE_CUDA_ARCHITECTURES=%d%d, or use device cpu", prop.name, prop.major,
                            prop.minor, cudaGetErrorString(e), prop.major, prop.minor);
    }
    return GT_OK;
}

gt_status dev_cuda_open(dev **out, gt_nn_device_info *info, gt_error *err)
{
    gt_nn_device_info local;
    *out = NULL;
    gt_status st = dev_cuda_probe(info ? info : &local, err);
    if (st != GT_OK)
        return st;
    dev *d = (dev *)calloc(1, sizeof *d);
    cuda_impl *c = (cuda_impl *)calloc(1, sizeof *c);
    if (!d || !c) {
        free(d);
        free(c);
        return gt_error_set(err, GT_ERR_NOMEM, "device cuda: out of memory");
    }
    d->name = "cuda";
    d->impl = c;
    d->close = cu_close;
    cudaError_t e = cudaSetDevice(0);
    if (e == cudaSuccess)
        e = cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking);
    if (e == cudaSuccess)
        e = cudaMalloc(&c->workspace, WORKSPACE_BYTES);
    cublasStatus_t ls = e == cudaSuccess ? cublasLtCreate(&c->lt) : CUBLAS_STATUS_SUCCESS;
    if (e != cudaSuccess || ls != CUBLAS_STATUS_SUCCESS) {
        cu_close(d);
        if (e != cudaSuccess)
            return gt_error_set(err, GT_ERR_IO, "device cuda: setting up the GPU: %s", cudaGetErrorString(e));
        return gt_error_set(err, GT_ERR_IO, "device cuda: cublasLtCreate: status %d", (int)ls);
    }
    const char *prof = getenv("GREENTUNE_CUDA_PROFILE");
    d->profiling = prof && !strcmp(prof, "1");
    d->alloc = cu_alloc;
    d->release = cu_release;
    d->upload = cu_upload;
    d->download = cu_download;
    d->zero = cu_zero;
    d->copy = cu_copy;
    d->sync = cu_sync;
    d->free_bytes = cu_free_bytes;
    d->profile_flush = profile_flush;
    d->gemm = cu_gemm;
    d->convert = cu_convert;
    d->embed_fwd = cu_embed_fwd;
    d->embed_bwd = cu_embed_bwd;
    d->rows_add_fwd = cu_rows_add_fwd;
    d->rows_add_bwd = cu_rows_add_bwd;
    d->colsum = cu_colsum;
    d->ln_fwd = cu_ln_fwd;
    d->ln_bwd = cu_ln_bwd;
    d->dropout_fwd = cu_dropout_fwd;
    d->dropout_bwd = cu_dropout_bwd;
    d->add = cu_add;
    d->act_fwd = cu_act_fwd;
    d->act_bwd = cu_act_bwd;
    d->geglu_fwd = cu_geglu_fwd;
    d->geglu_bwd = cu_geglu_bwd;
    d->tanh_fwd = cu_tanh_fwd;
    d->tanh_bwd = cu_tanh_bwd;
    d->rope = cu_rope;
    d->pool_fwd = cu_pool_fwd;
    d->pool_bwd = cu_pool_bwd;
    d->ce_fwd = cu_ce_fwd;
    d->ce_bwd = cu_ce_bwd;
    d->attn_fwd = cu_attn_fwd;
    d->attn_bwd = cu_attn_bwd;
    d->heads_split = cu_heads_split;
    d->heads_merge = cu_heads_merge;
    d->softmax_fwd = cu_softmax_fwd;
    d->softmax_bwd = cu_softmax_bwd;
    d->adamw = cu_adamw;
    d->sgd = cu_sgd;
    d->sumsq = cu_sumsq;
    d->scale = cu_scale;
    d->quant_rows = cu_quant_rows;
    d->act_quant = cu_act_quant;
    d->gemm_s8 = cu_gemm_s8;
    d->dequant = cu_dequant;
    *out = d;
    return GT_OK;
}

long dev_cuda_fallbacks(dev *d, double *gflop)
{
    int cuda = d && !strcmp(d->name, "cuda");
    if (gflop)
        *gflop = cuda ? impl_of(d)->fallback_flops / 1e9 : 0;
    return cuda ? impl_of(d)->fallbacks : 0;
}

/* ---- the measured peak -------------------------------------------------------------------- */

/* The fastest run of a large square matmul on random data (2 warmups first,
 * then runs for `seconds`, each timed with events). */
gt_status dev_cuda_gemm_peak(dev *d, gt_nn_precision p, double seconds, double *gflops, char *impl, size_t impl_size,
                             gt_error *err)
{
    cuda_impl *c = impl_of(d);
    const int n = 8192;
    int s8 = p == GT_NN_INT8;
    dev_type t = p == GT_NN_BF16 ? DEV_BF16 : p == GT_NN_FP16 ? DEV_F16 : DEV_F32;
    size_t es = s8 ? 1 : dev_type_size(t), elems = (size_t)n * n;
    void *a = d->alloc(d, elems * es), *b = d->alloc(d, elems * es), *cc = d->alloc(d, elems * 4);
    cudaEvent_t e0 = NULL, e1 = NULL;
    double best = 1e30;
    if (a && b && cc && cuda_ok(d, cudaEventCreate(&e0), "events") && cuda_ok(d, cudaEventCreate(&e1), "events")) {
        if (s8) {
            launch_fill_random_s8(c->stream, (int8_t *)a, (long)elems, 1);
            launch_fill_random_s8(c->stream, (int8_t *)b, (long)elems, 2);
        } else {
            launch_fill_random(c->stream, a, t, (long)elems, 1);
            launch_fill_random(c->stream, b, t, (long)elems, 2);
        }
        LAUNCHED(d, "random fill");
        dev_gemm g = {.type = t, .tf32 = p == GT_NN_TF32, .tb = 1, .M = n, .N = n, .K = n, .A = a, .lda = n, .B = b,
                      .ldb = n, .C = (float *)cc, .ldc = n, .alpha = 1.0f, .beta = 0.0f, .batch = 1};
        long before = c->fallbacks;
        struct timespec start, now;
        clock_gettime(CLOCK_MONOTONIC, &start);
        for (int run = 0; d->status == GT_OK; run++) {
            cudaEventRecord(e0, c->stream);
            if (s8)
                cu_gemm_s8(d, (int32_t *)cc, (const int8_t *)a, (const int8_t *)b, n, n, n);
            else
                cu_gemm(d, &g);
            cudaEventRecord(e1, c->stream);
            float ms = 0.0f;
            if (!cuda_ok(d, cudaEventSynchronize(e1), "timing") ||
                !cuda_ok(d, cudaEventElapsedTime(&ms, e0, e1), "timing"))
                break;
            if (run >= 2 && ms > 0.0f && ms * 1e-3 < best)
                best = ms * 1e-3;
            clock_gettime(CLOCK_MONOTONIC, &now);
            double elapsed = (double)(now.tv_sec - start.tv_sec) + (now.tv_nsec - start.tv_nsec) * 1e-9;
            if (run >= 5 && elapsed > seconds)
                break;
        }
        if (c->fallbacks != before)
            dev_fail(d, GT_ERR_UNSUPPORTED, "device cuda: cuBLASLt has no %s matmul kernel for the peak shape",
                     gt_nn_precision_name(p));
    }
    if (e0)
        cudaEventDestroy(e0);
    if (e1)
        cudaEventDestroy(e1);
    d->release(d, a);
    d->release(d, b);
    d->release(d, cc);
    gt_status st = dev_take_error(d, err);
    if (st != GT_OK)
        return st;
    *gflops = 2.0 * n * (double)n * n / best / 1e9;
    snprintf(impl, impl_size, "cublasLt %dx%dx%d %s", n, n, n,
             s8 ? "s8 x s8 -> s32" : p == GT_NN_TF32 ? "tf32" : t == DEV_F32 ? "fp32" : t == DEV_BF16 ? "bf16 -> f32"
                                                                                                   : "fp16 -> f32");
    return GT_OK;
}
