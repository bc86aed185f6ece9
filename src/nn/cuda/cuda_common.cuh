/* What the CUDA sources share: the C interface they implement, number types,
 * warp reductions, launch sizes, and the launchers each .cu file defines for
 * dev_cuda.cu. Kernels are plain and checked by reading: one thread per
 * element, or one warp per row with every lane in every shuffle. */
#ifndef GREENTUNE_NN_CUDA_COMMON_CUH
#define GREENTUNE_NN_CUDA_COMMON_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdint.h>

extern "C" {
#include "nn/cuda/dev.h"
}

#define THREADS 256
#define WARP 32
#define FULL_MASK 0xffffffffu

/* Blocks for n items at `threads` per block; kernels loop (grid stride), so the
 * grid is capped. n must be > 0 (launchers return early on empty work). */
static inline unsigned blocks_for(long n, int threads)
{
    long b = (n + threads - 1) / threads;
    return (unsigned)(b < (1L << 20) ? b : (1L << 20));
}

#define GRID_STRIDE(i, n) for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < (n); i += (long)gridDim.x * blockDim.x)

/* ---- number types ------------------------------------------------------------------- */

template <typename T> __device__ __forceinline__ float to_f(T x);
template <> __device__ __forceinline__ float to_f<float>(float x) { return x; }
template <> __device__ __forceinline__ float to_f<__nv_bfloat16>(__nv_bfloat16 x) { return __bfloat162float(x); }
template <> __device__ __forceinline__ float to_f<__half>(__half x) { return __half2float(x); }

template <typename T> __device__ __forceinline__ T from_f(float x);
template <> __device__ __forceinline__ float from_f<float>(float x) { return x; }
template <> __device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }
template <> __device__ __forceinline__ __half from_f<__half>(float x) { return __float2half_rn(x); }

/* Runs `body` with ET bound to the element type of a dev_type. */
#define WITH_TYPE(t, ...)                                                                                      \
    do {                                                                                                       \
        if ((t) == DEV_BF16) { typedef __nv_bfloat16 ET; __VA_ARGS__; }                                        \
        else if ((t) == DEV_F16) { typedef __half ET; __VA_ARGS__; }                                           \
        else { typedef float ET; __VA_ARGS__; }                                                                \
    } while (0)

/* ---- reductions over a warp (all 32 lanes must call) ------------------------------------ */

__device__ __forceinline__ float warp_sum(float v)
{
    for (int o = WARP / 2; o > 0; o >>= 1)
        v += __shfl_xor_sync(FULL_MASK, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v)
{
    for (int o = WARP / 2; o > 0; o >>= 1)
        v = fmaxf(v, __shfl_xor_sync(FULL_MASK, v, o));
    return v;
}

/* ops.h's valid_tokens and attention_key_range, on the device. */
__device__ __forceinline__ int valid_of(const int32_t *valid, int b, int T)
{
    int v = valid ? valid[b] : T;
    return v < 0 ? 0 : v > T ? T : v;
}

__device__ __forceinline__ void key_range(int *lo, int *hi, int i, int nvalid, int window)
{
    int l = 0, h = nvalid;
    if (window > 0) {
        int r = window / 2;
        l = i - r > l ? i - r : l;
        h = i + r + 1 < h ? i + r + 1 : h;
    }
    *lo = l;
    *hi = h;
}

/* ---- launchers (kernels.cu, attention.cu) ----------------------------------------------- */

void launch_convert(cudaStream_t s, void *dst, dev_type t, const float *src, long n);
void launch_embed_fwd(cudaStream_t s, float *out, const int32_t *ids, const float *table, int N, int C);
void launch_embed_bwd(cudaStream_t s, float *dtable, const float *dout, const int32_t *order, const int32_t *seg_start,
                      const int32_t *seg_id, int nseg, int C);
void launch_rows_add_fwd(cudaStream_t s, float *out, const float *rows, int B, int T, int C);
void launch_rows_add_bwd(cudaStream_t s, float *drows, const float *dout, int B, int T, int C);
void launch_colsum(cudaStream_t s, float *out, const float *x, int R, int C, float *scratch);
void launch_ln_fwd(cudaStream_t s, float *y, float *mean, float *rstd, const float *x, const float *w, const float *b,
                   int N, int C, float eps);
void launch_ln_bwd(cudaStream_t s, float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                   const float *mean, const float *rstd, float *scratch, int N, int C);
void launch_dropout_fwd(cudaStream_t s, float *y, uint8_t *mask, const float *x, const float *residual, long n, float p,
                        uint64_t seed, uint64_t offset);
void launch_dropout_bwd(cudaStream_t s, float *dx, const uint8_t *mask, const float *dy, long n, float p);
void launch_add(cudaStream_t s, float *y, const float *a, const float *b, long n);
void launch_act_fwd(cudaStream_t s, float *y, const float *x, long n, int kind);
void launch_act_bwd(cudaStream_t s, float *dx, const float *x, const float *dy, long n, int kind);
void launch_geglu_fwd(cudaStream_t s, float *y, const float *x, int N, int F, int kind);
void launch_geglu_bwd(cudaStream_t s, float *dx, const float *x, const float *dy, int N, int F, int kind);
void launch_tanh_fwd(cudaStream_t s, float *y, const float *x, long n);
void launch_tanh_bwd(cudaStream_t s, float *dx, const float *y, const float *dy, long n);
void launch_rope(cudaStream_t s, float *x, const float *cos, const float *sin, int B, int T, int H, int D, int stride,
                 int inverse);
void launch_pool_fwd(cudaStream_t s, float *out, const float *x, const int32_t *valid, int B, int T, int C, int mean);
void launch_pool_bwd(cudaStream_t s, float *dx, const float *dout, const int32_t *valid, int B, int T, int C, int mean);
void launch_ce_fwd(cudaStream_t s, float *losses, float *probs, const float *logits, const int32_t *labels, int B,
                   int L);
void launch_ce_bwd(cudaStream_t s, float *dlogits, const float *probs, const int32_t *labels, int B, int L, float scale);
void launch_adamw(cudaStream_t s, float *params, const float *grads, float *m, float *v, const dev_chunk *chunks,
                  int nchunks, const dev_adamw *c);
void launch_sgd(cudaStream_t s, float *params, const float *grads, float *buf, const dev_chunk *chunks, int nchunks,
                const dev_sgd *c);
void launch_sumsq(cudaStream_t s, double *out, const float *x, long n, double *scratch);
void launch_scale(cudaStream_t s, float *x, long n, float v);
void launch_quant_rows(cudaStream_t s, int8_t *q, float *scales, const float *w, int rows, int cols);
void launch_act_quant(cudaStream_t s, int8_t *q, float *scale, const float *x, long n, float *scratch);
void launch_dequant(cudaStream_t s, float *y, const int32_t *C, const float *xs, const float *ws, const float *bias,
                    int M, int N, int accumulate);
void launch_fill_random(cudaStream_t s, void *p, dev_type t, long n, uint64_t seed);
void launch_fill_random_s8(cudaStream_t s, int8_t *p, long n, uint64_t seed);
void launch_gemm_simple(cudaStream_t s, const dev_gemm *g);
void launch_gemm_s8_simple(cudaStream_t s, int32_t *C, const int8_t *A, const int8_t *B, int M, int N, int K);

/* attention.cu; the fused kernels need D <= ATTN_MAX_D. */
#define ATTN_MAX_D 128
void launch_attn_fwd(cudaStream_t s, float *out, float *lse, const float *qkv, const int32_t *valid, attention_shape a);
void launch_attn_bwd(cudaStream_t s, float *dqkv, const float *dout, const float *out, const float *qkv,
                     const float *lse, const int32_t *valid, float *delta, attention_shape a);
void launch_heads_split(cudaStream_t s, void *dst, dev_type t, const float *src, int stride, int B, int T, int H, int D);
void launch_heads_merge(cudaStream_t s, float *dst, int stride, const float *src, int B, int T, int H, int D);
void launch_softmax_fwd(cudaStream_t s, void *P, dev_type t, const float *S, const int32_t *valid, attention_shape a);
void launch_softmax_bwd(cudaStream_t s, void *dS, const float *dP, const void *P, dev_type t, attention_shape a);

#endif
