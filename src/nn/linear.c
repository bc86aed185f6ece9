#include "nn/linear.h"

#include <string.h>

#include "nn/arena.h"

void linear_weight_init(linear_weight *lw, float *w, int out, int in, const uint64_t *epoch)
{
    memset(lw, 0, sizeof *lw);
    lw->w = w;
    lw->out = out;
    lw->in = in;
    lw->epoch = epoch;
}

void linear_weight_free(linear_weight *lw)
{
    nn_free(lw->w_bf16);
    nn_free(lw->w_s8);
    nn_free(lw->w_scale);
    nn_free(lw->w_deq);
    mm_packed_free(&lw->packed);
    lw->w_bf16 = NULL;
    lw->w_s8 = NULL;
    lw->w_scale = NULL;
    lw->w_deq = NULL;
}

size_t linear_weight_extra_bytes(const linear_weight *lw)
{
    size_t n = (size_t)lw->out * lw->in;
    size_t bytes = (lw->w_bf16 ? n * sizeof(bf16) : 0) + (lw->w_s8 ? n + lw->out * sizeof(float) : 0) +
                   (lw->w_deq ? n * sizeof(float) : 0);
    for (int i = 0; i < MM_PACK_SLOTS; i++)
        bytes += lw->packed.slot[i].bytes;
    return bytes;
}

double linear_forward_flops(int N, int in, int out)
{
    return 2.0 * N * (double)in * out;
}

static gt_status check_shape(const linear_weight *w, int N, gt_error *err)
{
    if (N > 0 && w->out > 0 && w->in > 0 && w->w && w->epoch && *w->epoch)
        return GT_OK;
    return gt_error_set(err, GT_ERR_INVALID,
                        "linear %dx%d on %d rows: sizes must be positive and the weights set (linear_weight_init)",
                        w->out, w->in, N);
}

/* The bf16 copy of W for the current epoch. */
static gt_status refresh_bf16(linear_weight *w, gt_error *err)
{
    if (w->w_bf16 && w->bf16_epoch == *w->epoch)
        return GT_OK;
    size_t n = (size_t)w->out * w->in;
    if (!w->w_bf16 && !(w->w_bf16 = nn_alloc(n * sizeof(bf16))))
        return gt_error_set(err, GT_ERR_NOMEM, "linear %dx%d: out of memory for the bf16 weight copy", w->out,
                            w->in);
    bf16_from_fp32(w->w_bf16, w->w, (long)n);
    w->bf16_epoch = *w->epoch;
    return GT_OK;
}

/* The per-channel int8 copy of W for the current epoch. */
static gt_status refresh_s8(linear_weight *w, gt_error *err)
{
    if (w->w_s8 && w->s8_epoch == *w->epoch)
        return GT_OK;
    size_t n = (size_t)w->out * w->in;
    if (!w->w_s8 || !w->w_scale) {
        nn_free(w->w_s8);
        nn_free(w->w_scale);
        w->w_s8 = nn_alloc(n);
        w->w_scale = nn_alloc((size_t)w->out * sizeof(float));
        if (!w->w_s8 || !w->w_scale) {
            nn_free(w->w_s8);
            nn_free(w->w_scale);
            w->w_s8 = NULL;
            w->w_scale = NULL;
            return gt_error_set(err, GT_ERR_NOMEM, "linear %dx%d: out of memory for the int8 weight copy",
                                w->out, w->in);
        }
    }
    quantize_weights(w->w_s8, w->w_scale, w->w, w->out, w->in, int8_weight_qmax());
    w->s8_epoch = *w->epoch;
    return GT_OK;
}

/* The fp32 image of the int8 copy, for dx = dy . W through a frozen int8 weight. */
static gt_status refresh_deq(linear_weight *w, gt_error *err)
{
    gt_status st = refresh_s8(w, err);
    if (st != GT_OK || (w->w_deq && w->deq_epoch == w->s8_epoch))
        return st;
    if (!w->w_deq && !(w->w_deq = nn_alloc((size_t)w->out * w->in * sizeof(float))))
        return gt_error_set(err, GT_ERR_NOMEM, "linear %dx%d: out of memory for the dequantized weight", w->out,
                            w->in);
    for (int o = 0; o < w->out; o++)
        for (int i = 0; i < w->in; i++)
            w->w_deq[(size_t)o * w->in + i] = (float)w->w_s8[(size_t)o * w->in + i] * w->w_scale[o];
    w->deq_epoch = w->s8_epoch;
    return GT_OK;
}

/* Carves NN_ALIGN-aligned pieces out of one mm_scratch buffer. */
static void *scratch_carve(mm_ctx *mm, const size_t *sizes, int count, void **parts, gt_error *err)
{
    size_t total = 0;
    for (int i = 0; i < count; i++)
        total += nn_align_up(sizes[i]);
    unsigned char *base = mm_scratch(mm, total ? total : NN_ALIGN, err);
    if (!base)
        return NULL;
    size_t offset = 0;
    for (int i = 0; i < count; i++) {
        parts[i] = base + offset;
        offset += nn_align_up(sizes[i]);
    }
    return base;
}

static gt_status forward_int8(mm_ctx *mm, float *y, const float *x, linear_weight *w, const float *b, int N,
                              int flags, mm_eltwise act, gt_error *err)
{
    gt_status st = refresh_s8(w, err);
    if (st != GT_OK)
        return st;
    size_t sizes[3] = {(size_t)N * w->in, (size_t)w->out * sizeof(float), (size_t)w->out * sizeof(float)};
    void *parts[3];
    if (!scratch_carve(mm, sizes, 3, parts, err))
        return GT_ERR_NOMEM;
    int is_unsigned;
    float sx = quantize_activations(parts[0], &is_unsigned, x, (long)N * w->in);
    float *scales = parts[1], *bias = parts[2];
    /* y = sx sw[o] (qx . qw^T) + b[o]; oneDNN 2.x scales the bias as well, so it gets b / scale. */
    for (int o = 0; o < w->out; o++) {
        scales[o] = sx * w->w_scale[o];
        if (b)
            bias[o] = b[o] / scales[o];
    }
    mm_desc d = {.M = N, .K = w->in, .N = w->out, .a = is_unsigned ? MM_U8 : MM_S8, .b = MM_S8, .b_trans = 1,
                 .bias = b != NULL, .scaled = 1, .b_packed = 1, .accumulate = flags & LINEAR_Y_ACCUMULATE,
                 .eltwise = act};
    const void *wq;
    if ((st = mm_pack(mm, &w->packed, &d, w->w_s8, w->s8_epoch, &wq, err)) != GT_OK)
        return st;
    return mm_run(mm, &d, y, parts[0], wq, b ? bias : NULL, scales, err);
}

static gt_status forward(mm_ctx *mm, float *y, const float *x, bf16 *x_bf16, linear_weight *w, const float *b,
                         int N, gt_nn_precision p, int flags, mm_eltwise act, gt_error *err)
{
    gt_status st = check_shape(w, N, err);
    if (st != GT_OK)
        return st;
    if (p == GT_NN_INT8)
        return forward_int8(mm, y, x, w, b, N, flags, act, err);

    mm_desc d = {.M = N, .K = w->in, .N = w->out, .a = MM_F32, .b = MM_F32, .b_trans = 1, .bias = b != NULL,
                 .accumulate = flags & LINEAR_Y_ACCUMULATE, .eltwise = act};
    const void *a = x, *wt = w->w;
    uint64_t epoch = *w->epoch;
    if (p == GT_NN_BF16) {
        if ((st = refresh_bf16(w, err)) != GT_OK)
            return st;
        if (!x_bf16) {
            size_t bytes = (size_t)N * w->in * sizeof(bf16);
            if (!(x_bf16 = mm_scratch(mm, bytes, err)))
                return GT_ERR_NOMEM;
        }
        bf16_from_fp32(x_bf16, x, (long)N * w->in);
        d.a = d.b = MM_BF16;
        a = x_bf16;
        wt = w->w_bf16;
    } else if (p != GT_NN_FP32) {
        return gt_error_set(err, GT_ERR_INVALID, "linear: unknown precision %d", (int)p);
    }
    if (w->prepack) {
        d.b_packed = 1;
        if ((st = mm_pack(mm, &w->packed, &d, wt, epoch, &wt, err)) != GT_OK)
            return st;
    }
    return mm_run(mm, &d, y, a, wt, b, NULL, err);
}

/* db[o] += sum_n dy[n, o], in column blocks: each block is summed by one
 * thread in row order, so the result does not depend on the thread count. */
static void bias_backward(float *db, const float *dy, int N, int out)
{
    enum { COLS = 64 };
    int blocks = (out + COLS - 1) / COLS;
#pragma omp parallel for schedule(static)
    for (int blk = 0; blk < blocks; blk++) {
        int c0 = blk * COLS, c1 = c0 + COLS < out ? c0 + COLS : out;
        double acc[COLS] = {0};
        for (int n = 0; n < N; n++) {
            const float *row = dy + (long)n * out;
            for (int c = c0; c < c1; c++)
                acc[c - c0] += row[c];
        }
        for (int c = c0; c < c1; c++)
            db[c] += (float)acc[c - c0];
    }
}

static gt_status backward(mm_ctx *mm, float *dx, float *dw, float *db, const float *dy, const float *x,
                          const bf16 *x_bf16, linear_weight *w, int N, int flags, gt_nn_precision p,
                          gt_error *err)
{
    gt_status st = check_shape(w, N, err);
    if (st != GT_OK)
        return st;
    if (p == GT_NN_INT8) {
        if (dw || db)
            return gt_error_set(err, GT_ERR_UNSUPPORTED,
                                "linear %dx%d: int8 weights do not train (int8 is for inference and frozen weights)",
                                w->out, w->in);
        if (!dx || (st = refresh_deq(w, err)) != GT_OK)
            return st;
        mm_desc d = {.M = N, .K = w->out, .N = w->in, .a = MM_F32, .b = MM_F32,
                     .accumulate = flags & LINEAR_DX_ACCUMULATE};
        return mm_run(mm, &d, dx, dy, w->w_deq, NULL, NULL, err);
    }
    if (p != GT_NN_FP32 && p != GT_NN_BF16)
        return gt_error_set(err, GT_ERR_INVALID, "linear: unknown precision %d", (int)p);
    if (db)
        bias_backward(db, dy, N, w->out);
    if (!dx && !dw)
        return GT_OK;

    mm_type t = MM_F32;
    const void *g = dy, *a = x, *wt = w->w;
    if (p == GT_NN_BF16) {
        t = MM_BF16;
        if ((st = refresh_bf16(w, err)) != GT_OK)
            return st;
        size_t sizes[2] = {(size_t)N * w->out * sizeof(bf16), x_bf16 || !dw ? 0 : (size_t)N * w->in * sizeof(bf16)};
        void *parts[2];
        if (!scratch_carve(mm, sizes, 2, parts, err))
            return GT_ERR_NOMEM;
        bf16_from_fp32(parts[0], dy, (long)N * w->out);
        g = parts[0];
        if (dw && !x_bf16)
            bf16_from_fp32(parts[1], x, (long)N * w->in);
        a = x_bf16 ? (const void *)x_bf16 : parts[1];
        wt = w->w_bf16;
    }
    if (dx) {
        /* dx(N, in) = dy(N, out) . W(out, in) */
        mm_desc d = {.M = N, .K = w->out, .N = w->in, .a = t, .b = t, .accumulate = flags & LINEAR_DX_ACCUMULATE};
        if ((st = mm_run(mm, &d, dx, g, wt, NULL, NULL, err)) != GT_OK)
            return st;
    }
    if (dw) {
        /* dW(out, in) += dy^T(out, N) . x(N, in) */
        mm_desc d = {.M = w->out, .K = N, .N = w->in, .a = t, .b = t, .a_trans = 1, .accumulate = 1};
        if ((st = mm_run(mm, &d, dw, g, a, NULL, NULL, err)) != GT_OK)
            return st;
    }
    return GT_OK;
}

/* The public pair: errors are also kept in the context so a model may check once per step. */
gt_status linear_forward(mm_ctx *mm, float *y, const float *x, bf16 *x_bf16, linear_weight *w, const float *b,
                         int N, gt_nn_precision p, gt_error *err)
{
    return linear_forward_fused(mm, y, x, x_bf16, w, b, N, p, 0, MM_ELTWISE_NONE, err);
}

gt_status linear_forward_fused(mm_ctx *mm, float *y, const float *x, bf16 *x_bf16, linear_weight *w,
                               const float *b, int N, gt_nn_precision p, int flags, mm_eltwise act, gt_error *err)
{
    gt_error local = {0};
    gt_status st = forward(mm, y, x, x_bf16, w, b, N, p, flags, act, err ? err : &local);
    if (st != GT_OK)
        mm_ctx_note_error(mm, err ? err : &local);
    return st;
}

gt_status linear_backward(mm_ctx *mm, float *dx, float *dw, float *db, const float *dy, const float *x,
                          const bf16 *x_bf16, linear_weight *w, int N, int flags, gt_nn_precision p,
                          gt_error *err)
{
    gt_error local = {0};
    gt_status st = backward(mm, dx, dw, db, dy, x, x_bf16, w, N, flags, p, err ? err : &local);
    if (st != GT_OK)
        mm_ctx_note_error(mm, err ? err : &local);
    return st;
}
