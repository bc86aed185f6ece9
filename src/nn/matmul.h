/* Matrix multiplication through oneDNN (2.6, v2 C API).
 *
 *   C(M, N) (+)= op(A)(M, K) . op(B)(K, N) (+ bias(N))
 *
 * All matrices are row-major and contiguous. A is stored (M, K), or (K, M) with
 * a_trans; B is stored (K, N), or (N, K) with b_trans — the layout of a
 * torch.nn.Linear weight, so y = x W^T is b_trans = 1. C is always fp32.
 *
 * Types: fp32 x fp32; bf16 x bf16 (fp32 accumulation); u8 or s8 x s8 (s32
 * accumulation) with an optional per-column output scale: C = scale[n] *
 * (A B + bias) — oneDNN 2.x scales the bias too, the caller divides it first.
 *
 * A primitive is made once per problem (shape, types, transposes, bias,
 * accumulation, scaling, packing, thread count) and kept in a hash table in the
 * mm_ctx; later calls with the same problem only bind pointers and run. Scratch
 * memory is owned by the context, so running a known problem allocates nothing
 * (in the engine: oneDNN 2.6 itself makes a few small allocations per call for
 * its argument map). A context serves one thread at a time; the matmuls inside
 * use the OpenMP team (gt_nn_set_threads).
 *
 * Weights that stay fixed for many calls (inference, frozen layers) can be
 * packed once into the layout the primitive prefers (b_packed): mm_packed holds
 * those copies, remade when the weights' epoch changes. */
#ifndef GREENTUNE_NN_MATMUL_H
#define GREENTUNE_NN_MATMUL_H

#include <dnnl.h>
#include <stdint.h>

#include "greentune/nn.h"

typedef enum { MM_F32, MM_BF16, MM_S8, MM_U8, MM_S32 } mm_type;

/* An activation applied to C after everything else (bias, scales, sum), as a
 * oneDNN post-op: a linear layer and its activation in one pass (inference). */
typedef enum { MM_ELTWISE_NONE, MM_ELTWISE_GELU_ERF, MM_ELTWISE_GELU_TANH, MM_ELTWISE_RELU } mm_eltwise;

/* One problem. Build it with designated initialisers (unused fields zero):
 *   mm_desc d = {.M = N, .K = in, .N = out, .a = MM_F32, .b = MM_F32, .b_trans = 1, .bias = 1}; */
typedef struct {
    int M, N, K;
    mm_type a, b;    /* element types of A and B */
    mm_type c;       /* MM_F32 (the default, 0 is read as MM_F32) or MM_S32 */
    int a_trans;     /* A stored (K, M) */
    int b_trans;     /* B stored (N, K); with b_packed: the layout mm_pack reads */
    int bias;        /* add bias (N), fp32 */
    int accumulate;  /* C += result instead of C = result */
    int scaled;      /* int8: multiply by scales (N) given at run time */
    int b_packed;    /* B is in the primitive's preferred layout (see mm_pack) */
    mm_eltwise eltwise; /* activation post-op (MM_ELTWISE_NONE: none) */
    int batch;       /* > 1: that many independent products, each matrix of A, B
                        and C stored one after another (a batched matmul, e.g.
                        attention's heads); no bias, scales or packing then */
    int threads;     /* filled in by mm_run: primitives are made for a thread count */
} mm_desc;

typedef struct mm_ctx mm_ctx;

/* Work done, by precision (fp32 / bf16 / int8, from the type of A):
 * the evidence of the bf16 and int8 knobs. */
typedef struct {
    double flops[GT_NN_PRECISIONS];    /* 2 M N K (times batch) per call */
    long calls[GT_NN_PRECISIONS];
    long cache_hits, cache_misses;     /* primitive reuse */
} mm_stats;

gt_status mm_ctx_create(mm_ctx **ctx, gt_error *err);
void mm_ctx_destroy(mm_ctx *ctx);

/* Runs one matmul. scales: (N) when d->scaled, else NULL; bias: (N) when
 * d->bias. On failure fills err and also keeps the first error in the context
 * (mm_ctx_error), so a model can check once after a whole step. */
gt_status mm_run(mm_ctx *ctx, const mm_desc *d, float *C, const void *A, const void *B, const float *bias,
                 const float *scales, gt_error *err);

/* The first error of any call since creation (or the last mm_ctx_clear_error), or NULL. */
const gt_error *mm_ctx_error(const mm_ctx *ctx);
void mm_ctx_clear_error(mm_ctx *ctx);
/* Keeps e as the context's error unless one is kept already (for layers built on mm_run). */
void mm_ctx_note_error(mm_ctx *ctx, const gt_error *e);

mm_stats mm_ctx_stats(const mm_ctx *ctx);
void mm_ctx_reset_stats(mm_ctx *ctx);

/* The implementation oneDNN chose for a problem ("brg:avx512_core"), creating
 * the primitive if needed; NULL on error. For benchmarks and tests. */
const char *mm_impl(mm_ctx *ctx, const mm_desc *d, gt_error *err);
/* Number of primitives in the cache. */
int mm_cache_size(const mm_ctx *ctx);

/* A scratch buffer owned by the context, at least bytes long, NN_ALIGN-aligned;
 * grows (allocates) only when a larger request comes. Valid until the next
 * call to mm_scratch. */
void *mm_scratch(mm_ctx *ctx, size_t bytes, gt_error *err);

/* Packed copies of one weight matrix, one per layout asked for (different
 * problems may prefer different layouts). */
#define MM_PACK_SLOTS 4
typedef struct {
    struct {
        void *data;
        size_t bytes;
        dnnl_memory_desc_t md;
        uint64_t epoch;      /* the weights' epoch when packed; 0: empty */
    } slot[MM_PACK_SLOTS];
    int next;
} mm_packed;

/* B for problem d (d->b_packed = 1) in the layout its primitive wants, packed
 * from b_plain (stored as d->b_trans says) unless a copy of this epoch exists. */
gt_status mm_pack(mm_ctx *ctx, mm_packed *p, const mm_desc *d, const void *b_plain, uint64_t epoch,
                  const void **b_out, gt_error *err);
void mm_packed_free(mm_packed *p);

#endif
