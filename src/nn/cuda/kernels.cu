/* The engine's ops as CUDA kernels (everything but attention and the
 * matmuls): the device side of dev.h, with the CPU op each mirrors named in
 * its comment (src/nn/<op>.c). Numbers follow the CPU's formulas in the same
 * order of operations; sums run in a fixed order (no atomics), so a result
 * depends only on the inputs. */
#include <math.h>

#include "nn/cuda/cuda_common.cuh"

/* ---- conversions and random fills ---------------------------------------------------- */

template <typename ET> __global__ void k_convert(ET *dst, const float *src, long n)
{
    GRID_STRIDE(i, n)
        dst[i] = from_f<ET>(src[i]);
}

void launch_convert(cudaStream_t s, void *dst, dev_type t, const float *src, long n)
{
    if (n <= 0)
        return;
    WITH_TYPE(t, (k_convert<ET><<<blocks_for(n, THREADS), THREADS, 0, s>>>((ET *)dst, src, n)));
}

/* splitmix64's finaliser (ops.h's dropout uses the same). */
__device__ __forceinline__ uint64_t mix64(uint64_t seed, uint64_t c)
{
    uint64_t z = seed + (c + 1) * 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Uniform in [-1, 1): benchmarks must not run on zeros. */
template <typename ET> __global__ void k_fill_random(ET *p, long n, uint64_t seed)
{
    GRID_STRIDE(i, n)
        p[i] = from_f<ET>((float)(mix64(seed, (uint64_t)i) >> 40) * (2.0f / 16777216.0f) - 1.0f);
}

void launch_fill_random(cudaStream_t s, void *p, dev_type t, long n, uint64_t seed)
{
    if (n <= 0)
        return;
    WITH_TYPE(t, (k_fill_random<ET><<<blocks_for(n, THREADS), THREADS, 0, s>>>((ET *)p, n, seed)));
}

__global__ void k_fill_random_s8(int8_t *p, long n, uint64_t seed)
{
    GRID_STRIDE(i, n)
        p[i] = (int8_t)((int)(mix64(seed, (uint64_t)i) % 255) - 127);
}

void launch_fill_random_s8(cudaStream_t s, int8_t *p, long n, uint64_t seed)
{
    if (n > 0)
        k_fill_random_s8<<<blocks_for(n, THREADS), THREADS, 0, s>>>(p, n, seed);
}

/* ---- embeddings and sums (embedding.c) ---------------------------------------------- */

__global__ void k_embed_fwd(float *out, const int32_t *ids, const float *table, int N, int C)
{
    GRID_STRIDE(i, (long)N * C) {
        long n = i / C, c = i - n * C;
        out[i] = table[(long)ids[n] * C + c];
    }
}

void launch_embed_fwd(cudaStream_t s, float *out, const int32_t *ids, const float *table, int N, int C)
{
    long n = (long)N * C;
    if (n > 0)
        k_embed_fwd<<<blocks_for(n, THREADS), THREADS, 0, s>>>(out, ids, table, N, C);
}

/* One block per token: its rows summed into its table row in row order, as
 * embedding_backward adds them (distinct tokens, distinct rows: no races). */
__global__ void k_embed_bwd(float *dtable, const float *dout, const int32_t *order, const int32_t *seg_start,
                            const int32_t *seg_id, int C)
{
    int seg = blockIdx.x;
    float *row = dtable + (long)seg_id[seg] * C;
    int k0 = seg_start[seg], k1 = seg_start[seg + 1];
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        float acc = row[c];
        for (int k = k0; k < k1; k++)
            acc += dout[(long)order[k] * C + c];
        row[c] = acc;
    }
}

void launch_embed_bwd(cudaStream_t s, float *dtable, const float *dout, const int32_t *order, const int32_t *seg_start,
                      const int32_t *seg_id, int nseg, int C)
{
    if (nseg > 0 && C > 0)
        k_embed_bwd<<<nseg, 128, 0, s>>>(dtable, dout, order, seg_start, seg_id, C);
}

__global__ void k_rows_add_fwd(float *out, const float *rows, int T, int C, long n)
{
    GRID_STRIDE(i, n) {
        long c = i % C, t = (i / C) % T;
        out[i] += rows[t * C + c];
    }
}

void launch_rows_add_fwd(cudaStream_t s, float *out, const float *rows, int B, int T, int C)
{
    long n = (long)B * T * C;
    if (n > 0)
        k_rows_add_fwd<<<blocks_for(n, THREADS), THREADS, 0, s>>>(out, rows, T, C, n);
}

/* position_embedding_backward: each (t, c) sums over b in order. */
__global__ void k_rows_add_bwd(float *drows, const float *dout, int B, int T, int C)
{
    GRID_STRIDE(i, (long)T * C) {
        long t = i / C, c = i - t * C;
        float acc = drows[i];
        for (int b = 0; b < B; b++)
            acc += dout[((long)b * T + t) * C + c];
        drows[i] = acc;
    }
}

void launch_rows_add_bwd(cudaStream_t s, float *drows, const float *dout, int B, int T, int C)
{
    long n = (long)T * C;
    if (n > 0 && B > 0)
        k_rows_add_bwd<<<blocks_for(n, THREADS), THREADS, 0, s>>>(drows, dout, B, T, C);
}

/* Column sums in DEV_GROUPS fixed row groups, then the groups in order.
 * grid (columns / THREADS, DEV_GROUPS): thread c of group g writes
 * scratch[g C + c]. */
__global__ void k_colsum_groups(float *scratch, const float *x, int R, int C)
{
    int c = blockIdx.x * blockDim.x + threadIdx.x, g = blockIdx.y;
    if (c >= C)
        return;
    long r0 = (long)R * g / DEV_GROUPS, r1 = (long)R * (g + 1) / DEV_GROUPS;
    float acc = 0.0f;
    for (long r = r0; r < r1; r++)
        acc += x[r * C + c];
    scratch[(long)g * C + c] = acc;
}

__global__ void k_colsum_total(float *out, const float *scratch, int C)
{
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C)
        return;
    float acc = 0.0f;
    for (int g = 0; g < DEV_GROUPS; g++)
        acc += scratch[(long)g * C + c];
    out[c] += acc;
}

void launch_colsum(cudaStream_t s, float *out, const float *x, int R, int C, float *scratch)
{
    if (C <= 0)
        return;
    unsigned cols = (unsigned)((C + THREADS - 1) / THREADS);
    k_colsum_groups<<<dim3(cols, DEV_GROUPS), THREADS, 0, s>>>(scratch, x, R, C);
    k_colsum_total<<<cols, THREADS, 0, s>>>(out, scratch, C);
}

/* ---- LayerNorm (layernorm.c) -------------------------------------------------------- */

/* One warp per row (rows in a warp-stride loop: a warp's lanes agree on the
 * row, so every lane takes part in every shuffle): two passes, mean and then
 * squared deviations, as the CPU. */
__global__ void k_ln_fwd(float *y, float *mean, float *rstd, const float *x, const float *w, const float *b, int N,
                         int C, float eps)
{
    int lane = threadIdx.x % WARP;
    long warps = (long)gridDim.x * blockDim.x / WARP;
    for (long row = ((long)blockIdx.x * blockDim.x + threadIdx.x) / WARP; row < N; row += warps) {
        const float *xr = x + row * C;
        float *yr = y + row * C;
        float sum = 0.0f;
        for (int c = lane; c < C; c += WARP)
            sum += xr[c];
        float mu = warp_sum(sum) / C;
        float ss = 0.0f;
        for (int c = lane; c < C; c += WARP)
            ss += (xr[c] - mu) * (xr[c] - mu);
        float rs = 1.0f / sqrtf(warp_sum(ss) / C + eps);
        for (int c = lane; c < C; c += WARP)
            yr[c] = b ? (xr[c] - mu) * rs * w[c] + b[c] : (xr[c] - mu) * rs * w[c];
        if (lane == 0) {
            if (mean)
                mean[row] = mu;
            if (rstd)
                rstd[row] = rs;
        }
    }
}

void launch_ln_fwd(cudaStream_t s, float *y, float *mean, float *rstd, const float *x, const float *w, const float *b,
                   int N, int C, float eps)
{
    if (N > 0)
        k_ln_fwd<<<blocks_for((long)N * WARP, THREADS), THREADS, 0, s>>>(y, mean, rstd, x, w, b, N, C, eps);
}

/* dx = rstd (g - mean(g) - xhat mean(g xhat)) with g = dy w, one warp per row. */
__global__ void k_ln_bwd_dx(float *dx, const float *dy, const float *x, const float *w, const float *mean,
                            const float *rstd, int N, int C)
{
    int lane = threadIdx.x % WARP;
    long warps = (long)gridDim.x * blockDim.x / WARP;
    for (long row = ((long)blockIdx.x * blockDim.x + threadIdx.x) / WARP; row < N; row += warps) {
        const float *xr = x + row * C, *dyr = dy + row * C;
        float mu = mean[row], rs = rstd[row];
        float sum_g = 0.0f, sum_gx = 0.0f;
        for (int c = lane; c < C; c += WARP) {
            float xhat = (xr[c] - mu) * rs, gc = dyr[c] * w[c];
            sum_g += gc;
            sum_gx += gc * xhat;
        }
        float mean_g = warp_sum(sum_g) / C, mean_gx = warp_sum(sum_gx) / C;
        for (int c = lane; c < C; c += WARP) {
            float xhat = (xr[c] - mu) * rs;
            dx[row * C + c] = rs * (dyr[c] * w[c] - mean_g - xhat * mean_gx);
        }
    }
}

/* dw and db partial sums per row group: scratch[g 2C + c] and [g 2C + C + c]. */
__global__ void k_ln_bwd_groups(float *scratch, const float *dy, const float *x, const float *mean, const float *rstd,
                                int N, int C)
{
    int c = blockIdx.x * blockDim.x + threadIdx.x, g = blockIdx.y;
    if (c >= C)
        return;
    long r0 = (long)N * g / DEV_GROUPS, r1 = (long)N * (g + 1) / DEV_GROUPS;
    float gw = 0.0f, gb = 0.0f;
    for (long r = r0; r < r1; r++) {
        float d = dy[r * C + c];
        gw += d * ((x[r * C + c] - mean[r]) * rstd[r]);
        gb += d;
    }
    scratch[2L * g * C + c] = gw;
    scratch[2L * g * C + C + c] = gb;
}

/* One thread per column adds the groups in order to dw, then db (dw and db may
 * be the same dummy buffer: one thread touches both). */
__global__ void k_ln_bwd_total(float *dw, float *db, const float *scratch, int C)
{
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C)
        return;
    float gw = 0.0f, gb = 0.0f;
    for (int g = 0; g < DEV_GROUPS; g++) {
        gw += scratch[2L * g * C + c];
        gb += scratch[2L * g * C + C + c];
    }
    dw[c] += gw;
    if (db)
        db[c] += gb;
}

void launch_ln_bwd(cudaStream_t s, float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                   const float *mean, const float *rstd, float *scratch, int N, int C)
{
    if (N <= 0 || C <= 0)
        return;
    k_ln_bwd_dx<<<blocks_for((long)N * WARP, THREADS), THREADS, 0, s>>>(dx, dy, x, w, mean, rstd, N, C);
    unsigned cols = (unsigned)((C + THREADS - 1) / THREADS);
    k_ln_bwd_groups<<<dim3(cols, DEV_GROUPS), THREADS, 0, s>>>(scratch, dy, x, mean, rstd, N, C);
    k_ln_bwd_total<<<cols, THREADS, 0, s>>>(dw, db, scratch, C);
}

/* ---- dropout and residuals (dropout.c, residual.c) ---------------------------------- */

/* Element i kept when the top 32 bits of mix64(seed, offset + i) reach
 * threshold = p 2^32 (threshold 2^32: nothing kept). */
__global__ void k_dropout_fwd(float *y, uint8_t *mask, const float *x, const float *residual, long n,
                              uint64_t threshold, float scale, uint64_t seed, uint64_t offset)
{
    GRID_STRIDE(i, n) {
        uint8_t keep = (mix64(seed, offset + (uint64_t)i) >> 32) >= threshold;
        mask[i] = keep;
        float v = keep ? x[i] * scale : 0.0f;
        y[i] = residual ? v + residual[i] : v;
    }
}

void launch_dropout_fwd(cudaStream_t s, float *y, uint8_t *mask, const float *x, const float *residual, long n, float p,
                        uint64_t seed, uint64_t offset)
{
    if (n <= 0)
        return;
    uint64_t threshold = p <= 0.0f ? 0 : p >= 1.0f ? (1ULL << 32) : (uint64_t)((double)p * 4294967296.0);
    float scale = p >= 1.0f ? 0.0f : 1.0f / (1.0f - (p > 0.0f ? p : 0.0f));
    k_dropout_fwd<<<blocks_for(n, THREADS), THREADS, 0, s>>>(y, mask, x, residual, n, threshold, scale, seed, offset);
}

__global__ void k_dropout_bwd(float *dx, const uint8_t *mask, const float *dy, long n, float scale)
{
    GRID_STRIDE(i, n)
        dx[i] = mask[i] ? dy[i] * scale : 0.0f;
}

void launch_dropout_bwd(cudaStream_t s, float *dx, const uint8_t *mask, const float *dy, long n, float p)
{
    if (n > 0)
        k_dropout_bwd<<<blocks_for(n, THREADS), THREADS, 0, s>>>(dx, mask, dy, n, p >= 1.0f ? 0.0f : 1.0f / (1.0f - p));
}

__global__ void k_add(float *y, const float *a, const float *b, long n)
{
    GRID_STRIDE(i, n)
        y[i] = a[i] + b[i];
}

void launch_add(cudaStream_t s, float *y, const float *a, const float *b, long n)
{
    if (n > 0)
        k_add<<<blocks_for(n, THREADS), THREADS, 0, s>>>(y, a, b, n);
}

/* ---- activations (activation.c) --------------------------------------------------------- */

#define INV_SQRT2 0.70710678118654752f
#define INV_SQRT_2PI 0.39894228040143268f
#define SQRT_2_OVER_PI 0.79788456080286536f
#define GELU_TANH_C 0.044715f

/* act(x) and act'(x): activation.c's act_eval, with libdevice's erfcf and expf. */
__device__ __forceinline__ float act_eval(int kind, float x, float *slope)
{
    if (kind == ACTIVATION_GELU_ERF) {
        float half_erfc = 0.5f * erfcf(fabsf(x) * INV_SQRT2);
        float phi = x < 0.0f ? half_erfc : 1.0f - half_erfc;
        *slope = phi + x * INV_SQRT_2PI * expf(-0.5f * x * x);
        return x * phi;
    }
    if (kind == ACTIVATION_GELU_TANH) {
        float u = SQRT_2_OVER_PI * (x + GELU_TANH_C * x * x * x);
        float e = expf(-2.0f * u);
        float sig = 1.0f / (1.0f + e);
        float one_minus_sig = e > 1e30f ? 1.0f : e * sig;
        *slope = sig + 2.0f * x * sig * one_minus_sig * SQRT_2_OVER_PI * (1.0f + 3.0f * GELU_TANH_C * x * x);
        return x * sig;
    }
    *slope = x > 0.0f ? 1.0f : 0.0f;
    return x > 0.0f ? x : 0.0f;
}

__global__ void k_act_fwd(float *y, const float *x, long n, int kind)
{
    float slope;
    GRID_STRIDE(i, n)
        y[i] = act_eval(kind, x[i], &slope);
}

__global__ void k_act_bwd(float *dx, const float *x, const float *dy, long n, int kind)
{
    float slope;
    GRID_STRIDE(i, n) {
        act_eval(kind, x[i], &slope);
        dx[i] = dy[i] * slope;
    }
}

void launch_act_fwd(cudaStream_t s, float *y, const float *x, long n, int kind)
{
    if (n > 0)
        k_act_fwd<<<blocks_for(n, THREADS), THREADS, 0, s>>>(y, x, n, kind);
}

void launch_act_bwd(cudaStream_t s, float *dx, const float *x, const float *dy, long n, int kind)
{
    if (n > 0)
        k_act_bwd<<<blocks_for(n, THREADS), THREADS, 0, s>>>(dx, x, dy, n, kind);
}

/* GeGLU: y (N, F) = act(x[:, :F]) x[:, F:], x (N, 2F). */
__global__ void k_geglu_fwd(float *y, const float *x, int F, long n, int kind)
{
    float slope;
    GRID_STRIDE(i, n) {
        long r = i / F, j = i - r * F;
        const float *in = x + 2 * r * F;
        y[i] = act_eval(kind, in[j], &slope) * in[F + j];
    }
}

/* dx (N, 2F): d input = dy gate act'(input), d gate = dy act(input). */
__global__ void k_geglu_bwd(float *dx, const float *x, const float *dy, int F, long n, int kind)
{
    float slope;
    GRID_STRIDE(i, n) {
        long r = i / F, j = i - r * F;
        const float *in = x + 2 * r * F;
        float a = act_eval(kind, in[j], &slope);
        dx[2 * r * F + j] = dy[i] * in[F + j] * slope;
        dx[2 * r * F + F + j] = dy[i] * a;
    }
}

void launch_geglu_fwd(cudaStream_t s, float *y, const float *x, int N, int F, int kind)
{
    long n = (long)N * F;
    if (n > 0)
        k_geglu_fwd<<<blocks_for(n, THREADS), THREADS, 0, s>>>(y, x, F, n, kind);
}

void launch_geglu_bwd(cudaStream_t s, float *dx, const float *x, const float *dy, int N, int F, int kind)
{
    long n = (long)N * F;
    if (n > 0)
        k_geglu_bwd<<<blocks_for(n, THREADS), THREADS, 0, s>>>(dx, x, dy, F, n, kind);
}

__global__ void k_tanh_fwd(float *y, const float *x, long n)
{
    GRID_STRIDE(i, n)
        y[i] = tanhf(x[i]);
}

__global__ void k_tanh_bwd(float *dx, const float *y, const float *dy, long n)
{
    GRID_STRIDE(i, n)
        dx[i] = dy[i] * (1.0f - y[i] * y[i]);
}

void launch_tanh_fwd(cudaStream_t s, float *y, const float *x, long n)
{
    if (n > 0)
        k_tanh_fwd<<<blocks_for(n, THREADS), THREADS, 0, s>>>(y, x, n);
}

void launch_tanh_bwd(cudaStream_t s, float *dx, const float *y, const float *dy, long n)
{
    if (n > 0)
        k_tanh_bwd<<<blocks_for(n, THREADS), THREADS, 0, s>>>(dx, y, dy, n);
}

/* ---- RoPE (rope.c) ------------------------------------------------------------------- */

/* One thread per (token, head, pair i < D/2): the pair (i, i + D/2) is the
 * thread's own, so the in-place rotation has no races. */
__global__ void k_rope(float *x, const float *cos_t, const float *sin_t, int T, int H, int D, int stride,
                       float direction, long n)
{
    int half = D / 2;
    GRID_STRIDE(idx, n) {
        long i = idx % half, rest = idx / half;
        long h = rest % H, bt = rest / H, t = bt % T;
        float *p = x + bt * stride + h * D;
        float c = cos_t[t * half + i], sn = direction * sin_t[t * half + i];
        float x1 = p[i], x2 = p[i + half];
        p[i] = x1 * c - x2 * sn;
        p[i + half] = x2 * c + x1 * sn;
    }
}

void launch_rope(cudaStream_t s, float *x, const float *cos_t, const float *sin_t, int B, int T, int H, int D, int stride,
                 int inverse)
{
    long n = (long)B * T * H * (D / 2);
    if (n > 0)
        k_rope<<<blocks_for(n, THREADS), THREADS, 0, s>>>(x, cos_t, sin_t, T, H, D, stride, inverse ? -1.0f : 1.0f, n);
}

/* ---- pooling (pooling.c) ------------------------------------------------------------- */

/* out (B, C): x[b, 0], or the mean of x[b, t] over t < valid[b] (0 when none). */
__global__ void k_pool_fwd(float *out, const float *x, const int32_t *valid, int B, int T, int C, int mean)
{
    GRID_STRIDE(i, (long)B * C) {
        long b = i / C, c = i - b * C;
        const float *xb = x + b * T * C + c;
        if (!mean) {
            out[i] = xb[0];
            continue;
        }
        int n = valid_of(valid, (int)b, T);
        float acc = 0.0f;
        for (int t = 0; t < n; t++)
            acc += xb[(long)t * C];
        out[i] = acc * (n > 0 ? 1.0f / n : 0.0f);
    }
}

/* dx (B, T, C) += dout (B, C) on row 0, or / valid[b] on rows t < valid[b]. */
__global__ void k_pool_bwd(float *dx, const float *dout, const int32_t *valid, int B, int T, int C, int mean)
{
    GRID_STRIDE(i, (long)B * T * C) {
        long c = i % C, t = (i / C) % T, b = i / ((long)T * C);
        if (!mean) {
            if (t == 0)
                dx[i] += dout[b * C + c];
            continue;
        }
        int n = valid_of(valid, (int)b, T);
        if (t < n)
            dx[i] += dout[b * C + c] * (1.0f / n);
    }
}

void launch_pool_fwd(cudaStream_t s, float *out, const float *x, const int32_t *valid, int B, int T, int C, int mean)
{
    long n = (long)B * C;
    if (n > 0)
        k_pool_fwd<<<blocks_for(n, THREADS), THREADS, 0, s>>>(out, x, valid, B, T, C, mean);
}

void launch_pool_bwd(cudaStream_t s, float *dx, const float *dout, const int32_t *valid, int B, int T, int C, int mean)
{
    long n = (long)B * T * C;
    if (n > 0)
        k_pool_bwd<<<blocks_for(n, THREADS), THREADS, 0, s>>>(dx, dout, valid, B, T, C, mean);
}

/* ---- cross-entropy (cross_entropy.c) ------------------------------------------------------ */

/* One thread per sequence (a handful of classes each). */
__global__ void k_ce_fwd(float *losses, float *probs, const float *logits, const int32_t *labels, int B, int L)
{
    int b = blockIdx.x * blockDim.x + threadIdx.x;
    if (b >= B)
        return;
    const float *z = logits + (long)b * L;
    float *p = probs + (long)b * L;
    float mx = -INFINITY;
    for (int j = 0; j < L; j++)
        mx = fmaxf(mx, z[j]);
    float sum = 0.0f;
    for (int j = 0; j < L; j++) {
        p[j] = expf(z[j] - mx);
        sum += p[j];
    }
    float inv = 1.0f / sum;
    for (int j = 0; j < L; j++)
        p[j] *= inv;
    losses[b] = mx + logf(sum) - z[labels[b]];
}

__global__ void k_ce_bwd(float *dlogits, const float *probs, const int32_t *labels, int B, int L, float scale)
{
    GRID_STRIDE(i, (long)B * L) {
        long b = i / L, j = i - b * L;
        float d = probs[i] * scale;
        dlogits[i] = j == labels[b] ? d - scale : d;
    }
}

void launch_ce_fwd(cudaStream_t s, float *losses, float *probs, const float *logits, const int32_t *labels, int B, int L)
{
    if (B > 0)
        k_ce_fwd<<<(B + 127) / 128, 128, 0, s>>>(losses, probs, logits, labels, B, L);
}

void launch_ce_bwd(cudaStream_t s, float *dlogits, const float *probs, const int32_t *labels, int B, int L, float scale)
{
    long n = (long)B * L;
    if (n > 0)
        k_ce_bwd<<<blocks_for(n, THREADS), THREADS, 0, s>>>(dlogits, probs, labels, B, L, scale);
}

/* ---- optimizers (optimizer.c) ---------------------------------------------------------- */

/* One block per chunk of a tensor; torch.optim.AdamW's single-tensor formulas. */
__global__ void k_adamw(float *params, const float *grads, float *m, float *v, const dev_chunk *chunks, dev_adamw c)
{
    dev_chunk k = chunks[blockIdx.x];
    float *p = params + k.data_off;
    const float *g = grads + k.grad_off;
    float *mk = m + k.grad_off, *vk = v + k.grad_off;
    float decay = k.decay ? c.decay : 1.0f;
    for (int i = threadIdx.x; i < k.n; i += blockDim.x) {
        float pi = p[i] * decay;
        float mi = mk[i] * c.beta1 + c.one_minus_beta1 * g[i];
        float vi = vk[i] * c.beta2 + c.one_minus_beta2 * g[i] * g[i];
        float denom = sqrtf(vi) / c.bc2_sqrt + c.eps;
        p[i] = pi + c.neg_step * mi / denom;
        mk[i] = mi;
        vk[i] = vi;
    }
}

/* torch.optim.SGD: momentum buffer (buf may be NULL), nesterov, L2 decay. */
__global__ void k_sgd(float *params, const float *grads, float *buf, const dev_chunk *chunks, dev_sgd c)
{
    dev_chunk k = chunks[blockIdx.x];
    float *p = params + k.data_off;
    const float *g = grads + k.grad_off;
    float wd = k.decay ? c.wd : 0.0f;
    for (int i = threadIdx.x; i < k.n; i += blockDim.x) {
        float d = wd != 0.0f ? g[i] + wd * p[i] : g[i];
        if (buf) {
            float *bk = buf + k.grad_off;
            float b = c.first ? d : bk[i] * c.momentum + c.damp * d;
            bk[i] = b;
            d = c.nesterov ? d + c.momentum * b : b;
        }
        p[i] = p[i] + c.neg_lr * d;
    }
}

void launch_adamw(cudaStream_t s, float *params, const float *grads, float *m, float *v, const dev_chunk *chunks,
                  int nchunks, const dev_adamw *c)
{
    if (nchunks > 0)
        k_adamw<<<nchunks, THREADS, 0, s>>>(params, grads, m, v, chunks, *c);
}

void launch_sgd(cudaStream_t s, float *params, const float *grads, float *buf, const dev_chunk *chunks, int nchunks,
                const dev_sgd *c)
{
    if (nchunks > 0)
        k_sgd<<<nchunks, THREADS, 0, s>>>(params, grads, buf, chunks, *c);
}

/* Sum of squares in double: one block per DEV_SUMSQ_CHUNK values, reduced in
 * shared memory by a fixed tree, then the chunks in order by one thread. */
__global__ void k_sumsq_chunks(double *scratch, const float *x, long n)
{
    __shared__ double part[THREADS];
    long lo = (long)blockIdx.x * DEV_SUMSQ_CHUNK, hi = lo + DEV_SUMSQ_CHUNK < n ? lo + DEV_SUMSQ_CHUNK : n;
    double acc = 0.0;
    for (long i = lo + threadIdx.x; i < hi; i += THREADS)
        acc += (double)x[i] * x[i];
    part[threadIdx.x] = acc;
    __syncthreads();
    for (int w = THREADS / 2; w > 0; w >>= 1) {
        if (threadIdx.x < w)
            part[threadIdx.x] += part[threadIdx.x + w];
        __syncthreads();
    }
    if (threadIdx.x == 0)
        scratch[blockIdx.x] = part[0];
}

__global__ void k_sumsq_total(double *out, const double *scratch, long chunks)
{
    double acc = 0.0;
    for (long k = 0; k < chunks; k++)
        acc += scratch[k];
    *out = acc;
}

void launch_sumsq(cudaStream_t s, double *out, const float *x, long n, double *scratch)
{
    long chunks = dev_sumsq_scratch(n);
    if (chunks > 0)
        k_sumsq_chunks<<<(unsigned)chunks, THREADS, 0, s>>>(scratch, x, n);
    k_sumsq_total<<<1, 1, 0, s>>>(out, scratch, chunks);
}

__global__ void k_scale(float *x, long n, float v)
{
    GRID_STRIDE(i, n)
        x[i] *= v;
}

void launch_scale(cudaStream_t s, float *x, long n, float v)
{
    if (n > 0)
        k_scale<<<blocks_for(n, THREADS), THREADS, 0, s>>>(x, n, v);
}

/* ---- int8 inference -------------------------------------------------------------------- */

__device__ __forceinline__ int8_t quantize_one(float x, float inv)
{
    float q = rintf(x * inv);
    return (int8_t)(q > 127.0f ? 127.0f : q < -127.0f ? -127.0f : q);
}

/* Block max of v over THREADS threads (every thread gets it). */
__device__ float block_max(float v)
{
    __shared__ float part[THREADS];
    part[threadIdx.x] = v;
    __syncthreads();
    for (int w = THREADS / 2; w > 0; w >>= 1) {
        if (threadIdx.x < w)
            part[threadIdx.x] = fmaxf(part[threadIdx.x], part[threadIdx.x + w]);
        __syncthreads();
    }
    float m = part[0];
    __syncthreads(); /* part is reused by the next call */
    return m;
}

/* One block per weight row: scale = absmax / 127 (1 for a zero row). */
__global__ void k_quant_rows(int8_t *q, float *scales, const float *w, int cols)
{
    const float *row = w + (long)blockIdx.x * cols;
    float m = 0.0f;
    for (int c = threadIdx.x; c < cols; c += THREADS)
        m = fmaxf(m, fabsf(row[c]));
    m = block_max(m);
    float sc = m > 0.0f ? m / 127.0f : 1.0f;
    if (threadIdx.x == 0)
        scales[blockIdx.x] = sc;
    float inv = 1.0f / sc;
    for (int c = threadIdx.x; c < cols; c += THREADS)
        q[(long)blockIdx.x * cols + c] = quantize_one(row[c], inv);
}

void launch_quant_rows(cudaStream_t s, int8_t *q, float *scales, const float *w, int rows, int cols)
{
    if (rows > 0)
        k_quant_rows<<<rows, THREADS, 0, s>>>(q, scales, w, cols);
}

/* The activations' absmax: per-block maxima, then one block over them. */
#define QUANT_BLOCKS 1024
__global__ void k_absmax_blocks(float *scratch, const float *x, long n)
{
    float m = 0.0f;
    GRID_STRIDE(i, n)
        m = fmaxf(m, fabsf(x[i]));
    m = block_max(m);
    if (threadIdx.x == 0)
        scratch[blockIdx.x] = m;
}

__global__ void k_absmax_scale(float *scale, const float *scratch, int blocks)
{
    float m = 0.0f;
    for (int i = threadIdx.x; i < blocks; i += THREADS)
        m = fmaxf(m, scratch[i]);
    m = block_max(m);
    if (threadIdx.x == 0)
        *scale = m > 0.0f ? m / 127.0f : 1.0f;
}

__global__ void k_quantize(int8_t *q, const float *scale, const float *x, long n)
{
    float inv = 1.0f / *scale;
    GRID_STRIDE(i, n)
        q[i] = quantize_one(x[i], inv);
}

void launch_act_quant(cudaStream_t s, int8_t *q, float *scale, const float *x, long n, float *scratch)
{
    if (n <= 0)
        return;
    unsigned blocks = blocks_for(n, THREADS);
    blocks = blocks < QUANT_BLOCKS ? blocks : QUANT_BLOCKS;
    k_absmax_blocks<<<blocks, THREADS, 0, s>>>(scratch, x, n);
    k_absmax_scale<<<1, THREADS, 0, s>>>(scale, scratch, (int)blocks);
    k_quantize<<<blocks_for(n, THREADS), THREADS, 0, s>>>(q, scale, x, n);
}

__global__ void k_dequant(float *y, const int32_t *C, const float *xs, const float *ws, const float *bias, int N, long n,
                          int accumulate)
{
    float sx = *xs;
    GRID_STRIDE(i, n) {
        long col = i % N;
        float v = (float)C[i] * (sx * ws[col]) + (bias ? bias[col] : 0.0f);
        y[i] = accumulate ? y[i] + v : v;
    }
}

void launch_dequant(cudaStream_t s, float *y, const int32_t *C, const float *xs, const float *ws, const float *bias,
                    int M, int N, int accumulate)
{
    long n = (long)M * N;
    if (n > 0)
        k_dequant<<<blocks_for(n, THREADS), THREADS, 0, s>>>(y, C, xs, ws, bias, N, n, accumulate);
}

/* ---- fallback matmuls: one thread per output, for shapes cuBLASLt refuses -------------------- */

template <typename ET>
__global__ void k_gemm_simple(dev_gemm g)
{
    const ET *A = (const ET *)g.A, *B = (const ET *)g.B;
    long per = (long)g.M * g.N;
    GRID_STRIDE(idx, per * g.batch) {
        long bz = idx / per, r = idx - bz * per;
        long m = r / g.N, n = r - m * g.N;
        const ET *a = A + bz * g.stride_a;
        const ET *b = B + bz * g.stride_b;
        float acc = 0.0f;
        for (int k = 0; k < g.K; k++)
            acc += to_f<ET>(g.ta ? a[(long)k * g.lda + m] : a[m * g.lda + k]) *
                   to_f<ET>(g.tb ? b[n * g.ldb + k] : b[(long)k * g.ldb + n]);
        float *c = g.C + bz * g.stride_c + m * g.ldc + n;
        float out = g.alpha * acc + (g.beta != 0.0f ? g.beta * *c : 0.0f);
        *c = g.bias ? out + g.bias[n] : out;
    }
}

void launch_gemm_simple(cudaStream_t s, const dev_gemm *g)
{
    long n = (long)g->M * g->N * g->batch;
    if (n > 0)
        WITH_TYPE(g->type, (k_gemm_simple<ET><<<blocks_for(n, THREADS), THREADS, 0, s>>>(*g)));
}

/* C (M, N) s32 = A (M, K) . B^T, B stored (N, K). */
__global__ void k_gemm_s8_simple(int32_t *C, const int8_t *A, const int8_t *B, int N, int K, long n)
{
    GRID_STRIDE(idx, n) {
        long m = idx / N, c = idx - m * N;
        int32_t acc = 0;
        for (int k = 0; k < K; k++)
            acc += (int32_t)A[m * K + k] * (int32_t)B[c * K + k];
        C[idx] = acc;
    }
}

void launch_gemm_s8_simple(cudaStream_t s, int32_t *C, const int8_t *A, const int8_t *B, int M, int N, int K)
{
    long n = (long)M * N;
    if (n > 0)
        k_gemm_s8_simple<<<blocks_for(n, THREADS), THREADS, 0, s>>>(C, A, B, N, K, n);
}
