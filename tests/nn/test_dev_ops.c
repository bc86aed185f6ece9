/* Every op of the device interface (src/nn/cuda/dev.h) against the CPU
 * engine's op (ops.h, optimizer.c, precision.c) or a double-precision loop, on
 * random data with padding, windows and odd sizes. Outputs that an op writes
 * are filled with NaN first, so an element it forgets to write fails.
 *
 * Without an argument the host backend runs (it delegates many ops to the CPU
 * ops themselves; this checks the rest: matmul layouts, grouping, head
 * layouts, masked softmax, optimizer chunks, int8); with "cuda" the CUDA
 * kernels run, and the test reports itself skipped (77) without a GPU.
 *
 * Tolerances (largest difference over the reference's largest magnitude):
 * fp32 ops 2e-5 on the GPU (other exp/erfc and summation orders), exact where
 * the arithmetic is the same (masks, int8, conversions, copies); matmuls 1e-5
 * against double on the same rounded inputs (products of 16-bit values are
 * exact in fp32), tf32 5e-3. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "nn/cuda/dev.h"
#include "nn/optimizer.h"
#include "nn/precision.h"
#include "test_support.h"

#define SKIPPED 77

static dev *D;
static double TOL;  /* fp32 ops */
static gc_rng rng = {12345};

/* ---- device memory helpers ------------------------------------------------------------ */

static void *up(const void *host, size_t bytes)
{
    void *p = D->alloc(D, bytes);
    if (p && host)
        D->upload(D, p, host, bytes);
    return p;
}

/* A device buffer of n floats, all NaN: what an op must overwrite. */
static float *nans(long n)
{
    float *h = gc_floats(n);
    for (long i = 0; i < n; i++)
        h[i] = NAN;
    float *p = up(h, (size_t)n * sizeof(float));
    free(h);
    return p;
}

static float *randoms(long n, float lo, float hi)
{
    float *h = gc_floats(n);
    gc_fill(&rng, h, n, lo, hi);
    return h;
}

static void down(void *host, const void *p, size_t bytes)
{
    D->download(D, host, p, bytes);
}

static void done_op(const char *what)
{
    D->sync(D);
    gt_error err = {0};
    CHECK_MSG(dev_take_error(D, &err) == GT_OK, "%s: %s", what, err.message);
}

/* Downloads n floats from p and compares with want. */
static void expect(const char *what, const float *p, const float *want, long n, double tol)
{
    float *got = gc_floats(n);
    down(got, p, (size_t)n * sizeof(float));
    double diff = gc_max_abs_diff(got, want, n), scale = gc_max_abs(want, n);
    double rel = scale > 0 ? diff / scale : diff;
    CHECK_MSG(rel <= tol, "%s: differs by %.3g of its scale %.3g (tolerance %.3g)", what, rel, scale, tol);
    free(got);
}

static void release(void *p)
{
    D->release(D, p);
}

/* ---- matmuls and conversions ----------------------------------------------------------- */

static float rounded(float x, dev_type t)
{
    return t == DEV_BF16 ? bf16_to_float(bf16_from_float(x)) : t == DEV_F16 ? (float)(_Float16)x : x;
}

/* A host array of n values of type t from floats (already rounded to t). */
static void *typed(const float *x, long n, dev_type t)
{
    void *h = gc_alloc(n * (long)dev_type_size(t));
    for (long i = 0; i < n; i++) {
        if (t == DEV_BF16)
            ((uint16_t *)h)[i] = bf16_from_float(x[i]);
        else if (t == DEV_F16)
            ((_Float16 *)h)[i] = (_Float16)x[i];
        else
            ((float *)h)[i] = x[i];
    }
    return h;
}

static void check_gemm(dev_type t, int tf32, int ta, int tb, int M, int N, int K, int batch, int bias, float beta)
{
    long lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 1, ldc = N + 2; /* padded rows: strides are honoured */
    long sa = lda * (ta ? K : M) + 5, sb = ldb * (tb ? N : K) + 7, sc = ldc * M + 1;
    float *A = randoms(sa * batch, -1, 1), *B = randoms(sb * batch, -1, 1), *C0 = randoms(sc * batch, -1, 1);
    float *bv = randoms(N, -1, 1);
    for (long i = 0; i < sa * batch; i++)
        A[i] = rounded(A[i], t);
    for (long i = 0; i < sb * batch; i++)
        B[i] = rounded(B[i], t);
    float *want = gc_floats(sc * batch);
    memcpy(want, C0, (size_t)(sc * batch) * sizeof(float));
    float alpha = 0.75f;
    for (int z = 0; z < batch; z++)
        for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++) {
                double acc = 0;
                for (int k = 0; k < K; k++)
                    acc += (double)A[z * sa + (ta ? (long)k * lda + m : (long)m * lda + k)] *
                           B[z * sb + (tb ? (long)n * ldb + k : (long)k * ldb + n)];
                float *c = &want[z * sc + (long)m * ldc + n];
                *c = (float)(alpha * acc + beta * *c + (bias ? bv[n] : 0.0));
            }
    void *hA = typed(A, sa * batch, t), *hB = typed(B, sb * batch, t);
    size_t es = dev_type_size(t);
    void *dA = up(hA, (size_t)(sa * batch) * es), *dB = up(hB, (size_t)(sb * batch) * es);
    float *dC = beta != 0.0f ? up(C0, (size_t)(sc * batch) * sizeof(float)) : nans(sc * batch), *dbias = up(bv, N * 4);
    if (beta == 0.0f) /* the padding between rows is not written: compare the rest */
        for (long i = 0; i < sc * batch; i++)
            if (i % sc >= (long)M * ldc || i % sc % ldc >= N)
                want[i] = NAN;
    dev_gemm g = {.type = t, .tf32 = tf32, .ta = ta, .tb = tb, .M = M, .N = N, .K = K, .A = dA, .lda = lda,
                  .stride_a = sa, .B = dB, .ldb = ldb, .stride_b = sb, .C = dC, .ldc = ldc, .stride_c = sc,
                  .alpha = alpha, .beta = beta, .bias = bias ? dbias : NULL, .batch = batch};
    D->gemm(D, &g);
    char what[160];
    snprintf(what, sizeof what, "gemm type %d tf32 %d ta %d tb %d %dx%dx%d batch %d bias %d beta %g", t, tf32, ta, tb,
             M, N, K, batch, bias, beta);
    done_op(what);
    float *got = gc_floats(sc * batch);
    down(got, dC, (size_t)(sc * batch) * sizeof(float));
    double diff = 0, scale = 0;
    for (long i = 0; i < sc * batch; i++) {
        if (want[i] != want[i]) /* unwritten padding (NaN in both) */
            continue;
        diff = fmax(diff, fabs((double)got[i] - want[i]));
        if (got[i] != got[i])
            diff = INFINITY;
        scale = fmax(scale, fabs(want[i]));
    }
    double tol = tf32 ? 5e-3 : 1e-5;
    CHECK_MSG(diff <= tol * scale, "%s: differs by %.3g (scale %.3g)", what, diff, scale);
    free(A), free(B), free(C0), free(bv), free(want), free(hA), free(hB), free(got);
    release(dA), release(dB), release(dC), release(dbias);
}

static void test_dev_gemm_layouts(void)
{
    for (int t = 0; t < 3; t++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                check_gemm((dev_type)t, 0, ta, tb, 7, 5, 9, 1, 0, 0.0f);
                check_gemm((dev_type)t, 0, ta, tb, 13, 6, 4, 3, 0, 1.0f);
            }
    /* the shapes the models give cuBLASLt: aligned, with bias, accumulating, batched heads */
    for (int t = 0; t < 3; t++) {
        check_gemm((dev_type)t, 0, 0, 1, 64, 96, 32, 1, 1, 0.0f);
        check_gemm((dev_type)t, 0, 0, 0, 64, 32, 96, 1, 0, 1.0f);
        check_gemm((dev_type)t, 0, 1, 0, 96, 32, 64, 1, 0, 1.0f);
        check_gemm((dev_type)t, 0, 0, 1, 16, 16, 8, 6, 0, 0.0f);
    }
    check_gemm(DEV_F32, 1, 0, 1, 64, 96, 32, 1, 1, 0.0f);
    check_gemm(DEV_F32, 1, 1, 0, 33, 17, 65, 2, 0, 1.0f);
}

static void test_dev_conversions_round_to_nearest_even(void)
{
    const long n = 1000;
    float *x = randoms(n, -3, 3);
    x[0] = 1.0f + 1.0f / 256; /* a bf16 tie */
    x[1] = 65504.0f * 2;      /* fp16 overflow */
    x[2] = -0.0f;
    float *dx = up(x, n * 4);
    for (int t = 1; t < 3; t++) {
        void *dy = up(NULL, (size_t)n * 2);
        D->convert(D, dy, (dev_type)t, dx, n);
        done_op("convert");
        void *want = typed(x, n, (dev_type)t), *got = gc_alloc(n * 2);
        down(got, dy, (size_t)n * 2);
        CHECK_MSG(memcmp(got, want, (size_t)n * 2) == 0, "convert to type %d: not bit-identical to the host rounding",
                  t);
        free(want), free(got);
        release(dy);
    }
    free(x);
    release(dx);
}

/* ---- embeddings and sums ------------------------------------------------------------------- */

static void test_dev_embeddings(void)
{
    const int V = 13, N = 37, C = 19, B = 2, T = 5;
    int32_t ids[37];
    for (int i = 0; i < N; i++)
        ids[i] = (int)gc_uniform(&rng, 0, V - 0.01f);
    ids[3] = ids[9] = ids[30] = 4; /* repeats */
    float *table = randoms((long)V * C, -1, 1), *g = randoms((long)N * C, -1, 1);
    float *want = gc_floats((long)N * C);
    embedding_forward(want, ids, table, N, C);
    int32_t *dids = up(ids, sizeof ids);
    float *dtable = up(table, (size_t)V * C * 4), *out = nans((long)N * C);
    D->embed_fwd(D, out, dids, dtable, N, C);
    done_op("embed_fwd");
    expect("embed_fwd", out, want, (long)N * C, 0);

    /* backward: rows grouped by token, in order */
    int32_t order[37], start[38], seg[37];
    int nseg = 0, k = 0;
    for (int v = 0; v < V; v++) {
        int first = k;
        for (int n = 0; n < N; n++)
            if (ids[n] == v)
                order[k++] = n;
        if (k > first) {
            seg[nseg] = v;
            start[nseg++] = first;
        }
    }
    start[nseg] = k;
    float *dwant = randoms((long)V * C, -1, 1);
    float *dtab = up(dwant, (size_t)V * C * 4);
    embedding_backward(dwant, g, ids, N, C);
    float *dg = up(g, (size_t)N * C * 4);
    int32_t *dorder = up(order, sizeof order), *dstart = up(start, sizeof start), *dseg = up(seg, sizeof seg);
    D->embed_bwd(D, dtab, dg, dorder, dstart, dseg, nseg, C);
    done_op("embed_bwd");
    expect("embed_bwd", dtab, dwant, (long)V * C, 1e-6);

    /* positions: forward adds, backward sums over the batch; colsum */
    float *pos = randoms((long)T * C, -1, 1), *x = randoms((long)B * T * C, -1, 1);
    float *dpos = up(pos, (size_t)T * C * 4), *dxp = up(x, (size_t)B * T * C * 4);
    position_embedding_forward(x, pos, B, T, C);
    D->rows_add_fwd(D, dxp, dpos, B, T, C);
    done_op("rows_add_fwd");
    expect("rows_add_fwd", dxp, x, (long)B * T * C, 0);
    position_embedding_backward(pos, x, B, T, C);
    D->rows_add_bwd(D, dpos, dxp, B, T, C);
    done_op("rows_add_bwd");
    expect("rows_add_bwd", dpos, pos, (long)T * C, 1e-6);
    float col[19], *dcol = up(NULL, sizeof col), *scratch = up(NULL, (size_t)DEV_GROUPS * C * 4);
    for (int c = 0; c < C; c++) {
        double s = 0;
        for (int n = 0; n < N; n++)
            s += g[(long)n * C + c];
        col[c] = (float)(s + 0.5);
    }
    float halves[19];
    for (int c = 0; c < C; c++)
        halves[c] = 0.5f;
    D->upload(D, dcol, halves, sizeof halves);
    D->colsum(D, dcol, dg, N, C, scratch);
    done_op("colsum");
    expect("colsum (accumulates)", dcol, col, C, 1e-5);
    free(table), free(g), free(want), free(dwant), free(pos), free(x);
    void *ps[] = {dids, dtable, out, dtab, dg, dorder, dstart, dseg, dpos, dxp, dcol, scratch};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++)
        release(ps[i]);
}

/* ---- normalization, dropout, elementwise ---------------------------------------------------- */

static void test_dev_layernorm(void)
{
    const int N = 45, C = 77;
    for (int with_bias = 0; with_bias < 2; with_bias++) {
        float *x = randoms((long)N * C, -2, 3), *w = randoms(C, 0.5f, 1.5f), *b = randoms(C, -1, 1);
        float *dy = randoms((long)N * C, -1, 1);
        for (long i = 0; i < (long)N * C; i += 7)
            x[i] += 50.0f; /* a large mean: the two-pass variance matters */
        float *y = gc_floats((long)N * C), *mean = gc_floats(N), *rstd = gc_floats(N), *dx = gc_floats((long)N * C);
        float *dw = randoms(C, -1, 1), *db = randoms(C, -1, 1), *scratch = gc_floats(dev_ln_scratch_floats(C));
        float *ddw = up(dw, C * 4), *ddb = up(db, C * 4);
        layernorm_forward(y, mean, rstd, x, w, with_bias ? b : NULL, N, C, 1e-5f);
        layernorm_backward(dx, dw, with_bias ? db : NULL, dy, x, w, mean, rstd, scratch, N, C);
        float *dX = up(x, (size_t)N * C * 4), *dW = up(w, C * 4), *dB = up(b, C * 4), *dDY = up(dy, (size_t)N * C * 4);
        float *dY = nans((long)N * C), *dM = nans(N), *dR = nans(N), *dDX = nans((long)N * C);
        float *dS = up(NULL, (size_t)dev_ln_scratch_floats(C) * 4);
        D->ln_fwd(D, dY, dM, dR, dX, dW, with_bias ? dB : NULL, N, C, 1e-5f);
        done_op("ln_fwd");
        expect("ln_fwd y", dY, y, (long)N * C, TOL);
        expect("ln_fwd mean", dM, mean, N, TOL);
        expect("ln_fwd rstd", dR, rstd, N, TOL);
        D->ln_bwd(D, dDX, ddw, with_bias ? ddb : NULL, dDY, dX, dW, dM, dR, dS, N, C);
        done_op("ln_bwd");
        expect("ln_bwd dx", dDX, dx, (long)N * C, TOL);
        expect("ln_bwd dw (accumulates)", ddw, dw, C, TOL);
        expect("ln_bwd db (accumulates)", ddb, db, C, TOL);
        free(x), free(w), free(b), free(dy), free(y), free(mean), free(rstd), free(dx), free(dw), free(db),
            free(scratch);
        void *ps[] = {ddw, ddb, dX, dW, dB, dDY, dY, dM, dR, dDX, dS};
        for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++)
            release(ps[i]);
    }
}

/* The device draws exactly the CPU's mask (same generator, seed and offset). */
static void test_dev_dropout_masks_match_the_cpu(void)
{
    const long n = 5000;
    float *x = randoms(n, -1, 1), *r = randoms(n, -1, 1), *y = gc_floats(n), *dx = gc_floats(n);
    uint8_t *mask = gc_alloc(n), *got = gc_alloc(n);
    float *dX = up(x, n * 4), *dR = up(r, n * 4), *dY = nans(n), *dDX = nans(n);
    uint8_t *dM = up(NULL, n);
    for (int res = 0; res < 2; res++) {
        if (res)
            dropout_residual_forward(y, mask, x, r, n, 0.3f, 77, 1ull << 40);
        else
            dropout_forward(y, mask, x, n, 0.3f, 77, 1ull << 40);
        D->dropout_fwd(D, dY, dM, dX, res ? dR : NULL, n, 0.3f, 77, 1ull << 40);
        done_op("dropout_fwd");
        down(got, dM, n);
        CHECK_MSG(memcmp(got, mask, n) == 0, "dropout (residual %d): masks differ", res);
        expect("dropout_fwd", dY, y, n, 1e-6);
    }
    dropout_backward(dx, mask, x, n, 0.3f);
    D->dropout_bwd(D, dDX, dM, dX, n, 0.3f);
    done_op("dropout_bwd");
    expect("dropout_bwd", dDX, dx, n, 1e-6);
    residual_forward(y, x, r, n);
    D->add(D, dX, dX, dR, n); /* in place */
    done_op("add");
    expect("add", dX, y, n, 0);
    free(x), free(r), free(y), free(dx), free(mask), free(got);
    release(dX), release(dR), release(dY), release(dDX), release(dM);
}

static void test_dev_activations(void)
{
    const int N = 33, F = 29;
    const long n = (long)N * F;
    float *x = randoms(2 * n, -6, 6), *dy = randoms(2 * n, -1, 1);
    float *y = gc_floats(2 * n), *dx = gc_floats(2 * n);
    float *dX = up(x, 2 * n * 4), *dDY = up(dy, 2 * n * 4), *dY = nans(2 * n), *dDX = nans(2 * n);
    for (int k = 0; k < 3; k++) {
        char what[64];
        activation_forward(y, x, n, (activation_kind)k);
        D->act_fwd(D, dY, dX, n, (activation_kind)k);
        snprintf(what, sizeof what, "act_fwd %d", k);
        done_op(what);
        expect(what, dY, y, n, TOL);
        activation_backward(dx, x, dy, n, (activation_kind)k);
        D->act_bwd(D, dDX, dX, dDY, n, (activation_kind)k);
        snprintf(what, sizeof what, "act_bwd %d", k);
        done_op(what);
        expect(what, dDX, dx, n, TOL);
        geglu_forward(y, x, N, F, (activation_kind)k);
        D->geglu_fwd(D, dY, dX, N, F, (activation_kind)k);
        snprintf(what, sizeof what, "geglu_fwd %d", k);
        done_op(what);
        expect(what, dY, y, n, TOL);
        geglu_backward(dx, x, dy, N, F, (activation_kind)k);
        D->geglu_bwd(D, dDX, dX, dDY, N, F, (activation_kind)k);
        snprintf(what, sizeof what, "geglu_bwd %d", k);
        done_op(what);
        expect(what, dDX, dx, 2 * n, TOL);
    }
    tanh_forward(y, x, n);
    D->tanh_fwd(D, dY, dX, n);
    done_op("tanh_fwd");
    expect("tanh_fwd", dY, y, n, TOL);
    tanh_backward(dx, y, dy, n);
    D->tanh_bwd(D, dDX, dY, dDY, n);
    done_op("tanh_bwd");
    expect("tanh_bwd", dDX, dx, n, TOL);
    free(x), free(dy), free(y), free(dx);
    release(dX), release(dDY), release(dY), release(dDX);
}

static void test_dev_rope_pool_loss(void)
{
    const int B = 3, T = 7, H = 2, Dh = 6, C = H * Dh;
    long n = (long)B * T * 3 * C;
    float *qkv = randoms(n, -1, 1), *cs = gc_floats((long)T * Dh / 2), *sn = gc_floats((long)T * Dh / 2);
    rope_tables(cs, sn, T, Dh, 10000.0);
    float *dq = up(qkv, n * 4), *dc = up(cs, (size_t)T * Dh / 2 * 4), *ds = up(sn, (size_t)T * Dh / 2 * 4);
    for (int inv = 0; inv < 2; inv++) {
        if (inv)
            rope_backward(qkv, cs, sn, B, T, 2 * H, Dh, 3 * C);
        else
            rope_forward(qkv, cs, sn, B, T, 2 * H, Dh, 3 * C);
        D->rope(D, dq, dc, ds, B, T, 2 * H, Dh, 3 * C, inv);
        done_op("rope");
        expect(inv ? "rope inverse" : "rope", dq, qkv, n, 1e-6);
    }
    int32_t valid[3] = {7, 3, 0};
    float *x = randoms((long)B * T * C, -1, 1), *pooled = gc_floats((long)B * C), *dp = randoms((long)B * C, -1, 1);
    float *dx = randoms((long)B * T * C, -1, 1);
    float *dX = up(x, (size_t)B * T * C * 4), *dP = nans((long)B * C), *dDP = up(dp, (size_t)B * C * 4);
    float *dDX = up(dx, (size_t)B * T * C * 4);
    int32_t *dV = up(valid, sizeof valid);
    for (int mean = 0; mean < 2; mean++) {
        if (mean) {
            mean_pool_forward(pooled, x, valid, B, T, C);
            mean_pool_backward(dx, dp, valid, B, T, C);
        } else {
            cls_pool_forward(pooled, x, B, T, C);
            cls_pool_backward(dx, dp, B, T, C);
        }
        D->pool_fwd(D, dP, dX, dV, B, T, C, mean);
        D->pool_bwd(D, dDX, dDP, dV, B, T, C, mean);
        done_op("pool");
        expect(mean ? "mean pool" : "cls pool", dP, pooled, (long)B * C, 1e-6);
        expect(mean ? "mean pool backward (accumulates)" : "cls pool backward (accumulates)", dDX, dx,
               (long)B * T * C, 1e-6);
    }
    const int L = 5;
    int32_t labels[3] = {4, 0, 2};
    float *logits = randoms((long)B * L, -8, 8), losses[3], probs[15], dl[15];
    cross_entropy_forward(losses, probs, logits, labels, B, L);
    cross_entropy_backward(dl, probs, labels, B, L, 0.25f);
    float *dLg = up(logits, sizeof probs), *dLs = nans(B), *dPr = nans(B * L), *dDl = nans(B * L);
    int32_t *dLab = up(labels, sizeof labels);
    D->ce_fwd(D, dLs, dPr, dLg, dLab, B, L);
    D->ce_bwd(D, dDl, dPr, dLab, B, L, 0.25f);
    done_op("cross-entropy");
    expect("ce losses", dLs, losses, B, TOL);
    expect("ce probs", dPr, probs, B * L, TOL);
    expect("ce backward", dDl, dl, B * L, TOL);
    free(qkv), free(cs), free(sn), free(x), free(pooled), free(dp), free(dx), free(logits);
    void *ps[] = {dq, dc, ds, dX, dP, dDP, dDX, dV, dLg, dLs, dPr, dDl, dLab};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++)
        release(ps[i]);
}

/* ---- attention ------------------------------------------------------------------------------- */

/* Fused attention against the CPU's fused kernels, for every register layout
 * of the device kernel (head sizes 4 to 100), with padding and windows. */
static void check_fused_attention(int Dh, int T, int window)
{
    attention_shape s = {.B = 2, .T = T, .H = 3, .D = Dh, .window = window, .scale = 1.0f / sqrtf((float)Dh)};
    int32_t valid[2] = {T, T / 2};
    long HD = (long)s.H * Dh, n = (long)s.B * T * 3 * HD, no = (long)s.B * T * HD, nl = (long)s.B * s.H * T;
    float *qkv = randoms(n, -1.5f, 1.5f), *dout = randoms(no, -1, 1);
    float *out = gc_floats(no), *lse = gc_floats(nl), *dqkv = gc_floats(n);
    float *scratch = gc_floats(fused_attention_scratch_floats(s));
    fused_attention_forward(out, lse, qkv, valid, scratch, s);
    fused_attention_backward(dqkv, dout, out, qkv, lse, valid, scratch, s);
    float *dQ = up(qkv, n * 4), *dDO = up(dout, no * 4), *dO = nans(no), *dL = nans(nl), *dDQ = nans(n);
    float *delta = up(NULL, nl * 4);
    int32_t *dV = up(valid, sizeof valid);
    char what[96];
    D->attn_fwd(D, dO, dL, dQ, dV, s);
    snprintf(what, sizeof what, "fused attention D %d T %d window %d", Dh, T, window);
    done_op(what);
    expect(what, dO, out, no, TOL);
    /* lse: compare where finite (a fully masked row has -inf on both) */
    float *got = gc_floats(nl);
    down(got, dL, nl * 4);
    for (long i = 0; i < nl; i++)
        CHECK_MSG(got[i] == lse[i] || fabs(got[i] - lse[i]) <= TOL * fmax(1, fabs(lse[i])), "%s: lse[%ld] %g vs %g",
                  what, i, got[i], lse[i]);
    D->attn_bwd(D, dDQ, dDO, dO, dQ, dL, dV, delta, s);
    snprintf(what, sizeof what, "fused attention backward D %d T %d window %d", Dh, T, window);
    done_op(what);
    expect(what, dDQ, dqkv, n, 4 * TOL);
    free(qkv), free(dout), free(out), free(lse), free(dqkv), free(scratch), free(got);
    void *ps[] = {dQ, dDO, dO, dL, dDQ, delta, dV};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++)
        release(ps[i]);
}

static void test_dev_fused_attention(void)
{
    const int dims[] = {4, 32, 48, 64, 100};
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++) {
        check_fused_attention(dims[i], 9, 0);
        check_fused_attention(dims[i], 33, 8);
    }
}

/* The standard attention's pieces: head layouts, and the masked softmax and
 * its backward against attention.c's definitions (computed here in double). */
static void test_dev_attention_pieces(void)
{
    attention_shape s = {.B = 2, .T = 11, .H = 3, .D = 5, .window = 4, .scale = 0.7f};
    int32_t valid[2] = {11, 6};
    long rows = (long)s.B * s.H * s.T, HD = (long)s.H * s.D, n = (long)s.B * s.T * 3 * HD;
    float *qkv = randoms(n, -1, 1), *S = randoms(rows * s.T, -4, 4), *dP = randoms(rows * s.T, -1, 1);
    float *P = gc_floats(rows * s.T), *dS = gc_floats(rows * s.T);
    for (long r = 0; r < rows; r++) {
        int b = (int)(r / s.T / s.H), i = (int)(r % s.T);
        int lo = 0, hi = valid[b];
        lo = i - s.window / 2 > lo ? i - s.window / 2 : lo;
        hi = i + s.window / 2 + 1 < hi ? i + s.window / 2 + 1 : hi;
        double mx = -INFINITY, sum = 0, dot = 0;
        for (int j = lo; j < hi; j++)
            mx = fmax(mx, S[r * s.T + j] * s.scale);
        for (int j = lo; j < hi; j++)
            sum += exp(S[r * s.T + j] * s.scale - mx);
        for (int j = 0; j < s.T; j++)
            P[r * s.T + j] = j >= lo && j < hi ? (float)(exp(S[r * s.T + j] * s.scale - mx) / sum) : 0.0f;
        for (int j = 0; j < s.T; j++)
            dot += (double)P[r * s.T + j] * dP[r * s.T + j];
        for (int j = 0; j < s.T; j++)
            dS[r * s.T + j] = (float)(P[r * s.T + j] * (dP[r * s.T + j] - dot) * s.scale);
    }
    float *dQKV = up(qkv, n * 4), *dSc = up(S, rows * s.T * 4), *dDP = up(dP, rows * s.T * 4);
    int32_t *dV = up(valid, sizeof valid);
    for (int t = 0; t < 3; t++) {
        char what[64];
        long hn = (long)s.B * s.H * s.T * s.D;
        void *heads = up(NULL, hn * dev_type_size((dev_type)t)), *Pd = up(NULL, rows * s.T * dev_type_size((dev_type)t));
        float *merged = nans(n);
        /* k of every head out (rounded to the type) and back into place */
        D->heads_split(D, heads, (dev_type)t, dQKV + HD, 3 * (int)HD, s.B, s.T, s.H, s.D);
        float *hf = gc_floats(hn), *hk = gc_floats(hn);
        for (int b = 0; b < s.B; b++)
            for (int h = 0; h < s.H; h++)
                for (int i = 0; i < s.T; i++)
                    for (int e = 0; e < s.D; e++)
                        hk[(((long)b * s.H + h) * s.T + i) * s.D + e] =
                            rounded(qkv[((long)b * s.T + i) * 3 * HD + HD + h * s.D + e], (dev_type)t);
        void *hh = gc_alloc(hn * (long)dev_type_size((dev_type)t));
        down(hh, heads, hn * dev_type_size((dev_type)t));
        void *want_h = typed(hk, hn, (dev_type)t);
        CHECK_MSG(memcmp(hh, want_h, hn * dev_type_size((dev_type)t)) == 0, "heads_split type %d: wrong layout", t);
        if (t == DEV_F32) {
            D->heads_merge(D, merged + HD, 3 * (int)HD, heads, s.B, s.T, s.H, s.D);
            done_op("heads");
            float *want = gc_floats(n), *got = gc_floats(n);
            down(got, merged, n * 4);
            for (long i = 0; i < n; i++)
                want[i] = (i / HD) % 3 == 1 ? qkv[i] : NAN;
            for (long i = 0; i < n; i++)
                CHECK_MSG((want[i] != want[i] && got[i] != got[i]) || want[i] == got[i],
                          "heads split/merge: element %ld is %g, expected %g", i, got[i], want[i]);
            free(want), free(got);
        }
        free(hf), free(hk), free(hh), free(want_h);
        D->softmax_fwd(D, Pd, (dev_type)t, dSc, dV, s);
        snprintf(what, sizeof what, "softmax type %d", t);
        done_op(what);
        void *hp = gc_alloc(rows * s.T * (long)dev_type_size((dev_type)t));
        down(hp, Pd, rows * s.T * dev_type_size((dev_type)t));
        float *pf = gc_floats(rows * s.T);
        for (long i = 0; i < rows * s.T; i++)
            pf[i] = t == DEV_BF16 ? bf16_to_float(((uint16_t *)hp)[i]) : t == DEV_F16 ? (float)((_Float16 *)hp)[i]
                                                                                    : ((float *)hp)[i];
        double tol = t == DEV_F32 ? TOL : t == DEV_BF16 ? 4e-3 : 5e-4;
        CHECK_MSG(gc_max_abs_diff(pf, P, rows * s.T) <= tol, "%s: differs by %g", what, gc_max_abs_diff(pf, P, rows * s.T));
        /* backward from the device's own P */
        void *dSd = up(NULL, rows * s.T * dev_type_size((dev_type)t));
        D->softmax_bwd(D, dSd, dDP, Pd, (dev_type)t, s);
        done_op("softmax backward");
        float *wantS = gc_floats(rows * s.T);
        for (long r = 0; r < rows; r++) {
            double dot = 0;
            for (int j = 0; j < s.T; j++)
                dot += (double)pf[r * s.T + j] * dP[r * s.T + j];
            for (int j = 0; j < s.T; j++)
                wantS[r * s.T + j] = (float)(pf[r * s.T + j] * (dP[r * s.T + j] - dot) * s.scale);
        }
        down(hp, dSd, rows * s.T * dev_type_size((dev_type)t));
        for (long i = 0; i < rows * s.T; i++)
            pf[i] = t == DEV_BF16 ? bf16_to_float(((uint16_t *)hp)[i]) : t == DEV_F16 ? (float)((_Float16 *)hp)[i]
                                                                                    : ((float *)hp)[i];
        CHECK_MSG(gc_max_abs_diff(pf, wantS, rows * s.T) <= (t == DEV_F32 ? TOL : 1e-2) * gc_max_abs(wantS, rows * s.T),
                  "softmax backward type %d: differs by %g", t, gc_max_abs_diff(pf, wantS, rows * s.T));
        free(hp), free(pf), free(wantS);
        release(heads), release(Pd), release(merged), release(dSd);
    }
    free(qkv), free(S), free(dP), free(P), free(dS);
    release(dQKV), release(dSc), release(dDP), release(dV);
}

/* ---- optimizer ---------------------------------------------------------------------------------- */

/* The chunked AdamW and SGD against optimizer.c on a two-tensor param_set
 * (one decays, one not; the second spans several chunks). */
static void test_dev_optimizers(void)
{
    for (int kind = 0; kind < 2; kind++) {
        param_set ps;
        params_init(&ps);
        gt_error err = {0};
        int64_t s1[2] = {3, 5}, s2[1] = {DEV_CHUNK * 2 + 17};
        CHECK_EQ_INT(params_add(&ps, "w", 2, s1, 0, NULL, &err), GT_OK);
        CHECK_EQ_INT(params_add(&ps, "b", 1, s2, PARAM_NO_DECAY, NULL, &err), GT_OK);
        CHECK_EQ_INT(params_finalize(&ps, &err), GT_OK);
        gc_fill(&rng, ps.data, (long)ps.data_floats, -1, 1);
        gc_fill(&rng, ps.grad, (long)ps.grad_floats, -1, 1);
        optimizer_config oc = optimizer_defaults(kind ? OPTIMIZER_SGD : OPTIMIZER_ADAMW);
        oc.momentum = kind ? 0.9 : 0.0;
        oc.weight_decay = 0.05;
        optimizer o;
        CHECK_EQ_INT(optimizer_init(&o, &ps, &oc, &err), GT_OK);
        float *dp = up(ps.data, ps.data_floats * 4), *dg = up(ps.grad, ps.grad_floats * 4);
        float *dm = up(NULL, ps.grad_floats * 4), *dv = up(NULL, ps.grad_floats * 4);
        D->zero(D, dm, ps.grad_floats * 4);
        D->zero(D, dv, ps.grad_floats * 4);
        dev_chunk chunks[16];
        int nc = 0;
        for (int t = 0; t < ps.count; t++)
            for (size_t i = 0; i < ps.tensors[t].numel; i += DEV_CHUNK)
                chunks[nc++] = (dev_chunk){(int64_t)(ps.tensors[t].offset + i), (int64_t)(ps.tensors[t].grad_offset + i),
                                           (int32_t)(ps.tensors[t].numel - i < DEV_CHUNK ? ps.tensors[t].numel - i
                                                                                          : DEV_CHUNK),
                                           ps.tensors[t].decay};
        dev_chunk *dc = up(chunks, (size_t)nc * sizeof *chunks);
        for (int step = 1; step <= 3; step++) {
            optimizer_step(&o, &ps, 0.01);
            if (kind) {
                dev_sgd c = {.wd = 0.05f, .momentum = 0.9f, .damp = 1.0f, .neg_lr = -0.01f, .first = step == 1};
                D->sgd(D, dp, dg, dm, dc, nc, &c);
            } else {
                adamw_consts k = adamw_step_consts(&oc, 0.01, step, 1);
                dev_adamw c = {k.beta1, k.one_minus_beta1, k.beta2, k.one_minus_beta2, k.bc2_sqrt, k.neg_step, k.eps,
                               k.decay};
                D->adamw(D, dp, dg, dm, dv, dc, nc, &c);
            }
        }
        done_op(kind ? "sgd" : "adamw");
        expect(kind ? "sgd, 3 steps" : "adamw, 3 steps", dp, ps.data, (long)ps.data_floats, 1e-6);
        expect(kind ? "sgd momentum" : "adamw m", dm, o.m, (long)ps.grad_floats, 1e-6);
        /* the gradient norm in double, and clipping's scale */
        double norm = grad_norm(&ps), *dn = up(NULL, 8), *scratch = up(NULL, 8 * (dev_sumsq_scratch(ps.grad_floats) + 1));
        double got = 0;
        D->sumsq(D, dn, dg, (long)ps.grad_floats, scratch);
        down(&got, dn, 8);
        done_op("sumsq");
        CHECK_MSG(fabs(sqrt(got) - norm) <= 1e-12 * norm, "gradient norm %.17g vs %.17g", sqrt(got), norm);
        params_scale_grad(&ps, 0.5f);
        D->scale(D, dg, (long)ps.grad_floats, 0.5f);
        done_op("scale");
        expect("scale", dg, ps.grad, (long)ps.grad_floats, 0);
        optimizer_free(&o);
        params_free(&ps);
        release(dp), release(dg), release(dm), release(dv), release(dc), release(dn), release(scratch);
    }
}

/* ---- int8 ------------------------------------------------------------------------------------------ */

static void test_dev_int8(void)
{
    const int M = 9, N = 12, K = 20;
    float *w = randoms((long)N * K, -1, 1), *x = randoms((long)M * K, -2, 2), *bias = randoms(N, -1, 1);
    for (int k = 0; k < K; k++)
        w[k] = 0.0f; /* an all-zero row gets scale 1 */
    int8_t *qw = gc_alloc((long)N * K), *qx = gc_alloc((long)M * K), *got = gc_alloc((long)N * K);
    float sw[12], gsw[12];
    quantize_weights(qw, sw, w, N, K, 127);
    float *dW = up(w, (size_t)N * K * 4), *dS = nans(N), *dX = up(x, (size_t)M * K * 4), *dXs = nans(1);
    float *scratch = up(NULL, 4096 * 4);
    int8_t *dQW = up(NULL, (size_t)N * K), *dQX = up(NULL, (size_t)M * K);
    D->quant_rows(D, dQW, dS, dW, N, K);
    done_op("quant_rows");
    down(got, dQW, (size_t)N * K);
    down(gsw, dS, sizeof gsw);
    CHECK_MSG(memcmp(got, qw, (size_t)N * K) == 0 && memcmp(gsw, sw, sizeof sw) == 0,
              "int8 weights differ from quantize_weights");
    /* activations: one scale, absmax / 127 */
    float absmax = 0;
    for (long i = 0; i < (long)M * K; i++)
        absmax = fmaxf(absmax, fabsf(x[i]));
    float xs = absmax / 127.0f;
    for (long i = 0; i < (long)M * K; i++) {
        float q = rintf(x[i] * (1.0f / xs));
        qx[i] = (int8_t)(q > 127 ? 127 : q < -127 ? -127 : q);
    }
    D->act_quant(D, dQX, dXs, dX, (long)M * K, scratch);
    done_op("act_quant");
    down(got, dQX, (size_t)M * K);
    float gxs;
    down(&gxs, dXs, 4);
    CHECK_MSG(gxs == xs && memcmp(got, qx, (size_t)M * K) == 0, "int8 activations differ (scale %g vs %g)", gxs, xs);
    /* matmul in integers, then the scales and bias */
    int32_t *c = gc_alloc((long)M * N * 4), *gc = gc_alloc((long)M * N * 4);
    float *y = gc_floats((long)M * N);
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            int32_t acc = 0;
            for (int k = 0; k < K; k++)
                acc += qx[m * K + k] * qw[n * K + k];
            c[m * N + n] = acc;
            y[m * N + n] = 1.0f + (float)acc * (xs * sw[n]) + bias[n];
        }
    int32_t *dC = up(NULL, (size_t)M * N * 4);
    float *dB = up(bias, N * 4), *ones = gc_floats((long)M * N);
    for (long i = 0; i < (long)M * N; i++)
        ones[i] = 1.0f;
    float *dY = up(ones, (size_t)M * N * 4);
    D->gemm_s8(D, dC, dQX, dQW, M, N, K);
    D->dequant(D, dY, dC, dXs, dS, dB, M, N, 1);
    done_op("int8 matmul");
    down(gc, dC, (size_t)M * N * 4);
    CHECK_MSG(memcmp(gc, c, (size_t)M * N * 4) == 0, "int8 matmul differs from integer loops");
    expect("dequant (accumulates)", dY, y, (long)M * N, 1e-6);
    free(w), free(x), free(bias), free(qw), free(qx), free(got), free(c), free(gc), free(y), free(ones);
    void *ps[] = {dW, dS, dX, dXs, scratch, dQW, dQX, dC, dB, dY};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++)
        release(ps[i]);
}

int main(int argc, char **argv)
{
    gt_error err = {0};
    int on_gpu = argc > 1 && !strcmp(argv[1], "cuda");
    gt_nn_device_info info;
    if (on_gpu && dev_cuda_open(&D, &info, &err) != GT_OK) {
        printf("skipped: %s\n", err.message);
        return SKIPPED;
    }
    if (!on_gpu && dev_host_open(&D, &err) != GT_OK) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    if (on_gpu)
        printf("device: %s, compute capability %d.%d, %s\n", info.name, info.cc_major, info.cc_minor, info.runtime);
    TOL = on_gpu ? 2e-5 : 1e-6;
    RUN(test_dev_gemm_layouts);
    RUN(test_dev_conversions_round_to_nearest_even);
    RUN(test_dev_embeddings);
    RUN(test_dev_layernorm);
    RUN(test_dev_dropout_masks_match_the_cpu);
    RUN(test_dev_activations);
    RUN(test_dev_rope_pool_loss);
    RUN(test_dev_fused_attention);
    RUN(test_dev_attention_pieces);
    RUN(test_dev_optimizers);
    RUN(test_dev_int8);
    if (on_gpu)
        printf("matmuls on the plain kernel (no cuBLASLt algorithm): %ld\n", dev_cuda_fallbacks(D, NULL));
    dev_close(D);
    return test_summary();
}
