/* Attention on the device.
 *
 * Fused (fused_attention.c's contract): one warp per query row walks the keys
 * that row may see with an online softmax (running maximum m and sum l), so no
 * (T, T) matrix exists; lse = m + log l is kept for the backward pass, which
 * rebuilds each probability as exp(s - lse). Lane L holds dimensions L, L+32,
 * ... of the head (D <= 128: DPL = ceil(D / 32) of them); a score is a warp
 * sum. The backward runs as three passes without atomics: Delta_i = dO_i . O_i
 * per query; dq per query (over its keys); dk and dv per key (over the
 * queries that see it). Every loop bound depends only on the row, so all 32
 * lanes take part in every shuffle.
 *
 * Standard (attention.c's contract with the probabilities kept): the batched
 * matmuls run on cuBLASLt (gpu_model.c); here are the layout changes around
 * them and the masked softmax and its backward, one warp per row. */
#include <math.h>

#include "nn/cuda/cuda_common.cuh"

#define ATTN_THREADS 128

/* Row r = (b h) T + i of B*H*T rows: sequence b, head h, query i. */
struct attn_row {
    int b, h, i;
};

__device__ __forceinline__ attn_row row_of(long r, int T, int H)
{
    attn_row a;
    a.i = (int)(r % T);
    long bh = r / T;
    a.h = (int)(bh % H);
    a.b = (int)(bh / H);
    return a;
}

/* Lane-strided dimensions of one head row into registers (0 past D). */
template <int DPL> __device__ __forceinline__ void load_head(float *r, const float *src, int D, int lane)
{
#pragma unroll
    for (int u = 0; u < DPL; u++) {
        int d = lane + WARP * u;
        r[u] = d < D ? src[d] : 0.0f;
    }
}

template <int DPL> __device__ __forceinline__ void store_head(float *dst, const float *r, float scale, int D, int lane)
{
#pragma unroll
    for (int u = 0; u < DPL; u++) {
        int d = lane + WARP * u;
        if (d < D)
            dst[d] = r[u] * scale;
    }
}

/* The dot product of a head row in registers with one in memory: all lanes get it. */
template <int DPL> __device__ __forceinline__ float dot_head(const float *r, const float *src, int D, int lane)
{
    float s = 0.0f;
#pragma unroll
    for (int u = 0; u < DPL; u++) {
        int d = lane + WARP * u;
        if (d < D)
            s += r[u] * src[d];
    }
    return warp_sum(s);
}

template <int DPL>
__global__ void k_attn_fwd(float *out, float *lse, const float *qkv, const int32_t *valid, attention_shape a)
{
    int lane = threadIdx.x % WARP;
    long rows = (long)a.B * a.H * a.T, warps = (long)gridDim.x * blockDim.x / WARP;
    int HD = a.H * a.D, ld = 3 * HD;
    for (long r = ((long)blockIdx.x * blockDim.x + threadIdx.x) / WARP; r < rows; r += warps) {
        attn_row w = row_of(r, a.T, a.H);
        const float *seq = qkv + (long)w.b * a.T * ld + w.h * a.D; /* q of token 0 of this head */
        float q[DPL], o[DPL];
        load_head<DPL>(q, seq + (long)w.i * ld, a.D, lane);
#pragma unroll
        for (int u = 0; u < DPL; u++)
            o[u] = 0.0f;
        int lo, hi;
        key_range(&lo, &hi, w.i, valid_of(valid, w.b, a.T), a.window);
        float m = -INFINITY, l = 0.0f;
        for (int j = lo; j < hi; j++) {
            const float *k = seq + (long)j * ld + HD, *v = k + HD;
            float s = dot_head<DPL>(q, k, a.D, lane) * a.scale;
            float m_new = fmaxf(m, s);
            float alpha = expf(m - m_new); /* 0 on the first key: m = -inf */
            float p = expf(s - m_new);
            l = l * alpha + p;
#pragma unroll
            for (int u = 0; u < DPL; u++) {
                int d = lane + WARP * u;
                o[u] = o[u] * alpha + (d < a.D ? p * v[d] : 0.0f);
            }
            m = m_new;
        }
        float *orow = out + ((long)w.b * a.T + w.i) * HD + w.h * a.D;
        /* a row with no allowed key: output 0, lse -inf (ops.h) */
        store_head<DPL>(orow, o, l > 0.0f ? 1.0f / l : 0.0f, a.D, lane);
        if (lane == 0)
            lse[r] = l > 0.0f ? m + logf(l) : -INFINITY;
    }
}

/* Delta_i = dO_i . O_i, one warp per query row. */
template <int DPL>
__global__ void k_attn_delta(float *delta, const float *dout, const float *out, attention_shape a)
{
    int lane = threadIdx.x % WARP;
    long rows = (long)a.B * a.H * a.T, warps = (long)gridDim.x * blockDim.x / WARP;
    int HD = a.H * a.D;
    for (long r = ((long)blockIdx.x * blockDim.x + threadIdx.x) / WARP; r < rows; r += warps) {
        attn_row w = row_of(r, a.T, a.H);
        long at = ((long)w.b * a.T + w.i) * HD + w.h * a.D;
        float o[DPL];
        load_head<DPL>(o, out + at, a.D, lane);
        float dot = dot_head<DPL>(o, dout + at, a.D, lane);
        if (lane == 0)
            delta[r] = dot;
    }
}

/* dq_i = scale sum_j P_ij (dO_i . v_j - Delta_i) k_j over the keys query i sees. */
template <int DPL>
__global__ void k_attn_dq(float *dqkv, const float *dout, const float *qkv, const float *lse, const float *delta,
                          const int32_t *valid, attention_shape a)
{
    int lane = threadIdx.x % WARP;
    long rows = (long)a.B * a.H * a.T, warps = (long)gridDim.x * blockDim.x / WARP;
    int HD = a.H * a.D, ld = 3 * HD;
    for (long r = ((long)blockIdx.x * blockDim.x + threadIdx.x) / WARP; r < rows; r += warps) {
        attn_row w = row_of(r, a.T, a.H);
        const float *seq = qkv + (long)w.b * a.T * ld + w.h * a.D;
        float q[DPL], dO[DPL], dq[DPL];
        load_head<DPL>(q, seq + (long)w.i * ld, a.D, lane);
        load_head<DPL>(dO, dout + ((long)w.b * a.T + w.i) * HD + w.h * a.D, a.D, lane);
#pragma unroll
        for (int u = 0; u < DPL; u++)
            dq[u] = 0.0f;
        float lse_i = lse[r], delta_i = delta[r];
        int lo, hi;
        key_range(&lo, &hi, w.i, valid_of(valid, w.b, a.T), a.window);
        for (int j = lo; j < hi; j++) {
            const float *k = seq + (long)j * ld + HD, *v = k + HD;
            float p = expf(dot_head<DPL>(q, k, a.D, lane) * a.scale - lse_i);
            float ds = p * (dot_head<DPL>(dO, v, a.D, lane) - delta_i) * a.scale;
#pragma unroll
            for (int u = 0; u < DPL; u++) {
                int d = lane + WARP * u;
                dq[u] += d < a.D ? ds * k[d] : 0.0f;
            }
        }
        store_head<DPL>(dqkv + ((long)w.b * a.T + w.i) * ld + w.h * a.D, dq, 1.0f, a.D, lane);
    }
}

/* dv_j = sum_i P_ij dO_i and dk_j = scale sum_i dS_ij q_i over the queries i
 * that see key j: j < valid and, with a window, |i - j| <= window / 2. */
template <int DPL>
__global__ void k_attn_dkv(float *dqkv, const float *dout, const float *qkv, const float *lse, const float *delta,
                           const int32_t *valid, attention_shape a)
{
    int lane = threadIdx.x % WARP;
    long rows = (long)a.B * a.H * a.T, warps = (long)gridDim.x * blockDim.x / WARP;
    int HD = a.H * a.D, ld = 3 * HD;
    for (long r = ((long)blockIdx.x * blockDim.x + threadIdx.x) / WARP; r < rows; r += warps) {
        attn_row w = row_of(r, a.T, a.H); /* w.i is the key j here */
        int j = w.i;
        const float *seq = qkv + (long)w.b * a.T * ld + w.h * a.D;
        float k[DPL], v[DPL], dk[DPL], dv[DPL];
        load_head<DPL>(k, seq + (long)j * ld + HD, a.D, lane);
        load_head<DPL>(v, seq + (long)j * ld + 2 * HD, a.D, lane);
#pragma unroll
        for (int u = 0; u < DPL; u++)
            dk[u] = dv[u] = 0.0f;
        int i0 = 0, i1 = j < valid_of(valid, w.b, a.T) ? a.T : 0;
        if (a.window > 0 && i1 > 0) {
            int half = a.window / 2;
            i0 = j - half > 0 ? j - half : 0;
            i1 = j + half + 1 < a.T ? j + half + 1 : a.T;
        }
        long bh_rows = r - j; /* row index of query 0 of this head */
        for (int i = i0; i < i1; i++) {
            const float *q = seq + (long)i * ld;
            const float *dO = dout + ((long)w.b * a.T + i) * HD + w.h * a.D;
            float p = expf(dot_head<DPL>(k, q, a.D, lane) * a.scale - lse[bh_rows + i]);
            float ds = p * (dot_head<DPL>(v, dO, a.D, lane) - delta[bh_rows + i]) * a.scale;
#pragma unroll
            for (int u = 0; u < DPL; u++) {
                int d = lane + WARP * u;
                if (d < a.D) {
                    dv[u] += p * dO[d];
                    dk[u] += ds * q[d];
                }
            }
        }
        float *dkj = dqkv + ((long)w.b * a.T + j) * ld + w.h * a.D + HD;
        store_head<DPL>(dkj, dk, 1.0f, a.D, lane);
        store_head<DPL>(dkj + HD, dv, 1.0f, a.D, lane);
    }
}

static unsigned row_blocks(attention_shape a)
{
    return blocks_for((long)a.B * a.H * a.T * WARP, ATTN_THREADS);
}

#define WITH_DPL(D, ...)                                                                                       \
    do {                                                                                                       \
        if ((D) <= 32) { const int DPL = 1; __VA_ARGS__; }                                                     \
        else if ((D) <= 64) { const int DPL = 2; __VA_ARGS__; }                                                \
        else if ((D) <= 96) { const int DPL = 3; __VA_ARGS__; }                                                \
        else { const int DPL = 4; __VA_ARGS__; }                                                               \
    } while (0)

void launch_attn_fwd(cudaStream_t s, float *out, float *lse, const float *qkv, const int32_t *valid, attention_shape a)
{
    if ((long)a.B * a.H * a.T <= 0 || a.D > ATTN_MAX_D)
        return;
    WITH_DPL(a.D, (k_attn_fwd<DPL><<<row_blocks(a), ATTN_THREADS, 0, s>>>(out, lse, qkv, valid, a)));
}

void launch_attn_bwd(cudaStream_t s, float *dqkv, const float *dout, const float *out, const float *qkv,
                     const float *lse, const int32_t *valid, float *delta, attention_shape a)
{
    if ((long)a.B * a.H * a.T <= 0 || a.D > ATTN_MAX_D)
        return;
    WITH_DPL(a.D, {
        k_attn_delta<DPL><<<row_blocks(a), ATTN_THREADS, 0, s>>>(delta, dout, out, a);
        k_attn_dq<DPL><<<row_blocks(a), ATTN_THREADS, 0, s>>>(dqkv, dout, qkv, lse, delta, valid, a);
        k_attn_dkv<DPL><<<row_blocks(a), ATTN_THREADS, 0, s>>>(dqkv, dout, qkv, lse, delta, valid, a);
    });
}

/* ---- standard attention's pieces ------------------------------------------------------- */

/* dst (B, H, T, D) of type ET = src rows (B, T, .) of stride `stride`, head h at h D. */
template <typename ET>
__global__ void k_heads_split(ET *dst, const float *src, int stride, int T, int H, int D, long n)
{
    GRID_STRIDE(idx, n) {
        long e = idx % D, rest = idx / D;
        long t = rest % T;
        rest /= T;
        long h = rest % H, b = rest / H;
        dst[idx] = from_f<ET>(src[(b * T + t) * stride + h * D + e]);
    }
}

__global__ void k_heads_merge(float *dst, int stride, const float *src, int T, int H, int D, long n)
{
    GRID_STRIDE(idx, n) {
        long e = idx % D, rest = idx / D;
        long t = rest % T;
        rest /= T;
        long h = rest % H, b = rest / H;
        dst[(b * T + t) * stride + h * D + e] = src[idx];
    }
}

void launch_heads_split(cudaStream_t s, void *dst, dev_type t, const float *src, int stride, int B, int T, int H, int D)
{
    long n = (long)B * H * T * D;
    if (n > 0)
        WITH_TYPE(t, (k_heads_split<ET><<<blocks_for(n, THREADS), THREADS, 0, s>>>((ET *)dst, src, stride, T, H, D, n)));
}

void launch_heads_merge(cudaStream_t s, float *dst, int stride, const float *src, int B, int T, int H, int D)
{
    long n = (long)B * H * T * D;
    if (n > 0)
        k_heads_merge<<<blocks_for(n, THREADS), THREADS, 0, s>>>(dst, stride, src, T, H, D, n);
}

/* P = softmax of S * scale over each query's allowed keys, 0 elsewhere; one
 * warp per row. P may be S (fp32): lanes read element j before writing it, and
 * the last shuffle orders every read of the sum pass before the writes. */
template <typename ET>
__global__ void k_softmax_fwd(ET *P, const float *S, const int32_t *valid, attention_shape a)
{
    int lane = threadIdx.x % WARP;
    long rows = (long)a.B * a.H * a.T, warps = (long)gridDim.x * blockDim.x / WARP;
    for (long r = ((long)blockIdx.x * blockDim.x + threadIdx.x) / WARP; r < rows; r += warps) {
        attn_row w = row_of(r, a.T, a.H);
        const float *sr = S + r * a.T;
        ET *pr = P + r * a.T;
        int lo, hi;
        key_range(&lo, &hi, w.i, valid_of(valid, w.b, a.T), a.window);
        float mx = -INFINITY;
        for (int j = lo + lane; j < hi; j += WARP)
            mx = fmaxf(mx, sr[j]);
        mx = warp_max(mx) * a.scale;
        float sum = 0.0f;
        for (int j = lo + lane; j < hi; j += WARP)
            sum += expf(sr[j] * a.scale - mx);
        sum = warp_sum(sum);
        float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
        for (int j = lane; j < a.T; j += WARP)
            pr[j] = from_f<ET>(j >= lo && j < hi ? expf(sr[j] * a.scale - mx) * inv : 0.0f);
    }
}

/* dS = P (dP - sum_j P dP) scale, one warp per row; dS may be dP (fp32). */
template <typename ET>
__global__ void k_softmax_bwd(ET *dS, const float *dP, const ET *P, attention_shape a)
{
    int lane = threadIdx.x % WARP;
    long rows = (long)a.B * a.H * a.T, warps = (long)gridDim.x * blockDim.x / WARP;
    for (long r = ((long)blockIdx.x * blockDim.x + threadIdx.x) / WARP; r < rows; r += warps) {
        const float *dpr = dP + r * a.T;
        const ET *pr = P + r * a.T;
        float dot = 0.0f;
        for (int j = lane; j < a.T; j += WARP)
            dot += to_f<ET>(pr[j]) * dpr[j];
        dot = warp_sum(dot);
        ET *dsr = dS + r * a.T;
        for (int j = lane; j < a.T; j += WARP)
            dsr[j] = from_f<ET>(to_f<ET>(pr[j]) * (dpr[j] - dot) * a.scale);
    }
}

void launch_softmax_fwd(cudaStream_t s, void *P, dev_type t, const float *S, const int32_t *valid, attention_shape a)
{
    if ((long)a.B * a.H * a.T <= 0)
        return;
    WITH_TYPE(t, (k_softmax_fwd<ET><<<row_blocks(a), ATTN_THREADS, 0, s>>>((ET *)P, S, valid, a)));
}

void launch_softmax_bwd(cudaStream_t s, void *dS, const float *dP, const void *P, dev_type t, attention_shape a)
{
    if ((long)a.B * a.H * a.T <= 0)
        return;
    WITH_TYPE(t, (k_softmax_bwd<ET><<<row_blocks(a), ATTN_THREADS, 0, s>>>((ET *)dS, dP, (const ET *)P, a)));
}
