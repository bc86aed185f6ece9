/* LoRA adapters (Hu et al. 2021), as PEFT builds them: a targeted projection
 * y = x W^T + b becomes
 *
 *   y = x W^T + b + h B^T,   h = (alpha / r) drop(x) A^T
 *
 * with W frozen, A (r, in) kaiming-uniform (a = sqrt(5): bound 1/sqrt(in)) and
 * B (rows, r) zero, so a fresh adapter leaves the model as it was. bert's and
 * modernbert's packed query/key/value block (3C, C) gets one adapter per
 * named target on its rows: q [0, C), k [C, 2C), v [2C, 3C). Adapters run in
 * fp32 whatever the base's precision (bf16, or int8 under QLoRA).
 *
 * Adapter tensors are declared after every Hugging Face tensor (m->base_tensors
 * marks the boundary), so loading and saving see the HF tensors only; saving
 * writes W + B A (alpha / r) instead of W (lora_merged_rows). Names follow
 * PEFT's: "<module>.lora_A.weight", with bert's query/key/value modules, and
 * "<...>.attn.Wqkv.q" style modules for modernbert's packed block.
 *
 * Memory: each adapter keeps its h (N, r) for backward and, with dropout, its
 * mask (N, in); the dropped-out input, the adapter's output rows and dh share
 * three step buffers (s.lora_x, s.lora_y, s.lora_h). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "nn/model.h"

static const char *const target_names[GT_NN_LORA_TARGETS] = {"q", "k", "v", "o", "ffn"};
enum { TARGET_Q, TARGET_K, TARGET_V, TARGET_O, TARGET_FFN };

const char *gt_nn_lora_target_name(int i)
{
    return i >= 0 && i < GT_NN_LORA_TARGETS ? target_names[i] : "?";
}

static float lora_scale(const gt_nn_model *m)
{
    return m->lora.alpha / (float)m->lora.rank;
}

static int lora_dropout_active(const gt_nn_model *m)
{
    return m->mode == MODEL_TRAIN && m->training && m->lora.dropout > 0.0f;
}

/* The PEFT module name of an adapter on l: the weight's name without
 * ".weight"; bert's packed block as its query/key/value module. */
static void module_name(const gt_nn_model *m, const model_linear *l, int target, int packed, char *buf, size_t size)
{
    const char *w = m->params.tensors[l->w].name;
    int len = (int)strlen(w) - 7; /* ".weight" */
    const char *qkv = strstr(w, ".attention.self.qkv.");
    static const char *const bert_parts[3] = {"query", "key", "value"};
    if (packed && qkv)
        snprintf(buf, size, "%.*s.attention.self.%s", (int)(qkv - w), w, bert_parts[target]);
    else if (packed)
        snprintf(buf, size, "%.*s.%s", len, w, target_names[target]);
    else
        snprintf(buf, size, "%.*s", len, w);
}

static gt_status add_adapter(gt_nn_model *m, model_linear *l, int target, int packed, int row0, int rows,
                             gt_error *err)
{
    const param_tensor *t = &m->params.tensors[l->w];
    char module[PARAM_NAME_MAX], name[PARAM_NAME_MAX + 16];
    module_name(m, l, target, packed, module, sizeof module);
    model_adapter *ad = &m->adapters[m->n_adapters];
    *ad = (model_adapter){.row0 = row0, .rows = rows, .in = (int)t->shape[1], .target = target, .w = l->w,
                          .site = dropout_site(m->cfg.layers, 1) + m->n_adapters};
    snprintf(name, sizeof name, "%s.lora_A.weight", module);
    gt_status st = model_add(m, name, m->lora.rank, ad->in, 0, &ad->a, err);
    snprintf(name, sizeof name, "%s.lora_B.weight", module);
    if (st == GT_OK)
        st = model_add(m, name, rows, m->lora.rank, 0, &ad->b, err);
    if (st != GT_OK)
        return st;
    if (!l->nlora)
        l->lora0 = m->n_adapters;
    l->nlora++;
    m->n_adapters++;
    return GT_OK;
}

/* Every base tensor frozen but the classifier (and the head with train_head). */
static gt_status freeze_base(gt_nn_model *m, gt_error *err)
{
    int keep[] = {m->classifier.w, m->classifier.b, -1, -1, -1};
    if (m->lora.train_head) {
        keep[2] = m->head.w;
        keep[3] = m->head.b;
        keep[4] = m->head_norm_w;
    }
    for (int i = 0; i < m->base_tensors; i++) {
        int trainable = 0;
        for (size_t k = 0; k < sizeof keep / sizeof keep[0]; k++)
            trainable |= keep[k] == i;
        gt_status st = params_set_trainable(&m->params, i, trainable, err);
        if (st != GT_OK)
            return st;
    }
    return GT_OK;
}

gt_status lora_declare(gt_nn_model *m, gt_error *err)
{
    m->base_tensors = m->params.count;
    if (m->lora.rank <= 0)
        return GT_OK;
    const int C = m->cfg.dim;
    unsigned t = m->lora.targets;
    if (!(m->adapters = nn_alloc((size_t)m->cfg.layers * 6 * sizeof *m->adapters)))
        return gt_error_set(err, GT_ERR_NOMEM, "lora: out of memory");
    gt_status st = freeze_base(m, err);
    for (int l = 0; l < m->cfg.layers && st == GT_OK; l++) {
        model_layer *L = &m->layers[l];
        for (int q = TARGET_Q; q <= TARGET_V && st == GT_OK; q++)
            if (t & (1u << q))
                st = add_adapter(m, &L->qkv, q, 1, q * C, C, err);
        if (st == GT_OK && (t & GT_NN_LORA_O))
            st = add_adapter(m, &L->attn_out, TARGET_O, 0, 0, C, err);
        if (st == GT_OK && (t & GT_NN_LORA_FFN))
            st = add_adapter(m, &L->ffn_in, TARGET_FFN, 0, 0, (int)m->params.tensors[L->ffn_in.w].shape[0], err);
        if (st == GT_OK && (t & GT_NN_LORA_FFN))
            st = add_adapter(m, &L->ffn_out, TARGET_FFN, 0, 0, C, err);
    }
    return st;
}

/* splitmix64, a stream of its own so the base weights are those of the same seed without LoRA. */
static uint64_t next_u64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void lora_init(gt_nn_model *m, uint64_t seed)
{
    uint64_t state = seed ^ 0x10AA10AA10AA10AAull;
    for (int i = 0; i < m->n_adapters; i++) {
        const model_adapter *ad = &m->adapters[i];
        float *a = model_data(m, ad->a);
        /* kaiming_uniform_(a = sqrt(5)): gain sqrt(1/3), bound gain sqrt(3 / fan_in) = 1/sqrt(fan_in) */
        double bound = 1.0 / sqrt((double)ad->in);
        for (long k = 0; k < (long)m->lora.rank * ad->in; k++)
            a[k] = (float)(((double)(next_u64(&state) >> 11) / 9007199254740992.0 * 2.0 - 1.0) * bound);
        memset(model_data(m, ad->b), 0, sizeof(float) * (size_t)ad->rows * m->lora.rank);
    }
}

void lora_plan(gt_nn_model *m, nn_arena *a)
{
    if (!m->n_adapters)
        return;
    size_t N = (size_t)model_rows(m), r = (size_t)m->lora.rank, widest_in = 0, widest_out = 0;
    int train = m->mode == MODEL_TRAIN, drop = train && m->lora.dropout > 0.0f;
    for (int i = 0; i < m->n_adapters; i++) {
        model_adapter *ad = &m->adapters[i];
        widest_in = (size_t)ad->in > widest_in ? (size_t)ad->in : widest_in;
        widest_out = (size_t)ad->rows > widest_out ? (size_t)ad->rows : widest_out;
        ad->h = plan_floats(a, N * r, train);
        ad->mask = plan_bytes(a, N * (size_t)ad->in, drop);
    }
    m->s.lora_x = plan_floats(a, N * widest_in, drop);
    m->s.lora_y = plan_floats(a, N * widest_out, 1);
    m->s.lora_h = plan_floats(a, N * r, 1);
}

/* y[:, row0 + j] += t[:, j] for an adapter covering part of y's columns. */
static void add_columns(float *y, int ldy, const float *t, int rows, int row0, int N)
{
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++)
        for (int j = 0; j < rows; j++)
            y[(long)n * ldy + row0 + j] += t[(long)n * rows + j];
}

void lora_forward(gt_nn_model *m, const model_linear *l, float *y, const float *x, int N)
{
    const int r = m->lora.rank, out = l->lw.out;
    const float scale = lora_scale(m);
    for (int k = 0; k < l->nlora; k++) {
        model_adapter *ad = &m->adapters[l->lora0 + k];
        const float *xin = x;
        if (lora_dropout_active(m)) {
            model_dropout_forward(m, m->s.lora_x, ad->mask, x, (long)N * ad->in, m->lora.dropout, ad->site);
            xin = m->s.lora_x;
        }
        float *h = m->mode == MODEL_TRAIN ? ad->h : m->s.lora_h;
        mm_desc down = {.M = N, .K = ad->in, .N = r, .a = MM_F32, .b = MM_F32, .b_trans = 1};
        mm_run(m->mm, &down, h, xin, model_data(m, ad->a), NULL, NULL, NULL);
#pragma omp parallel for simd schedule(static)
        for (long i = 0; i < (long)N * r; i++)
            h[i] *= scale;
        int whole = ad->row0 == 0 && ad->rows == out;
        mm_desc up = {.M = N, .K = r, .N = ad->rows, .a = MM_F32, .b = MM_F32, .b_trans = 1, .accumulate = whole};
        mm_run(m->mm, &up, whole ? y : m->s.lora_y, h, model_data(m, ad->b), NULL, NULL, NULL);
        if (!whole)
            add_columns(y, out, m->s.lora_y, ad->rows, ad->row0, N);
    }
}

void lora_backward(gt_nn_model *m, const model_linear *l, float *dx, const float *dy, const float *x, int N)
{
    const int r = m->lora.rank, out = l->lw.out;
    const float scale = lora_scale(m), p = m->lora.dropout;
    float *dh = m->s.lora_h;
    for (int k = 0; k < l->nlora; k++) {
        const model_adapter *ad = &m->adapters[l->lora0 + k];
        const long NI = (long)N * ad->in;
        const float *dys = dy;
        if (ad->row0 != 0 || ad->rows != out) {
            float *t = m->s.lora_y;
#pragma omp parallel for schedule(static)
            for (int n = 0; n < N; n++)
                memcpy(t + (long)n * ad->rows, dy + (long)n * out + ad->row0, sizeof(float) * (size_t)ad->rows);
            dys = t;
        }
        /* dB (rows, r) += dys^T h;  dh (N, r) = dys B, then the scale h carries */
        mm_desc db = {.M = ad->rows, .K = N, .N = r, .a = MM_F32, .b = MM_F32, .a_trans = 1, .accumulate = 1};
        mm_run(m->mm, &db, model_grad(m, ad->b), dys, ad->h, NULL, NULL, NULL);
        mm_desc dhd = {.M = N, .K = ad->rows, .N = r, .a = MM_F32, .b = MM_F32};
        mm_run(m->mm, &dhd, dh, dys, model_data(m, ad->b), NULL, NULL, NULL);
#pragma omp parallel for simd schedule(static)
        for (long i = 0; i < (long)N * r; i++)
            dh[i] *= scale;
        /* dA (r, in) += dh^T drop(x) */
        const float *xin = x;
        const int drop = lora_dropout_active(m);
        if (drop) {
            dropout_backward(m->s.lora_x, ad->mask, x, NI, p); /* x * mask / (1 - p): the forward's input */
            xin = m->s.lora_x;
        }
        mm_desc da = {.M = r, .K = N, .N = ad->in, .a = MM_F32, .b = MM_F32, .a_trans = 1, .accumulate = 1};
        mm_run(m->mm, &da, model_grad(m, ad->a), dh, xin, NULL, NULL, NULL);
        if (!dx)
            continue;
        /* dx += drop'(dh A) */
        mm_desc dxd = {.M = N, .K = r, .N = ad->in, .a = MM_F32, .b = MM_F32, .accumulate = !drop};
        mm_run(m->mm, &dxd, drop ? m->s.lora_x : dx, dh, model_data(m, ad->a), NULL, NULL, NULL);
        if (drop) {
            dropout_backward(m->s.lora_x, ad->mask, m->s.lora_x, NI, p);
            residual_backward(dx, NULL, m->s.lora_x, NI);
        }
    }
}

int lora_merged_rows(const gt_nn_model *m, int index, int64_t row0, int64_t rows, float *out)
{
    const param_tensor *t = &m->params.tensors[index];
    const int64_t cols = t->ndim == 2 ? t->shape[1] : 1, r = m->lora.rank;
    int touched = 0;
    for (int i = 0; i < m->n_adapters; i++) {
        const model_adapter *ad = &m->adapters[i];
        int64_t lo = row0 > ad->row0 ? row0 : ad->row0;
        int64_t hi = row0 + rows < ad->row0 + ad->rows ? row0 + rows : ad->row0 + ad->rows;
        if (ad->w != index || lo >= hi)
            continue;
        if (!out)
            return 1;
        if (!touched)
            memcpy(out, model_data(m, index) + row0 * cols, sizeof(float) * (size_t)(rows * cols));
        touched = 1;
        const float *A = model_data(m, ad->a), *B = model_data(m, ad->b);
        const float scale = lora_scale(m);
        for (int64_t row = lo; row < hi; row++) {
            float *o = out + (row - row0) * cols;
            const float *b = B + (row - ad->row0) * r;
            for (int64_t k = 0; k < r; k++) {
                float f = scale * b[k];
                const float *a = A + k * cols;
                for (int64_t c = 0; c < cols; c++)
                    o[c] += f * a[c];
            }
        }
    }
    return touched;
}

void gt_nn_lora_info_get(const gt_nn_model *m, gt_nn_lora_info *info)
{
    memset(info, 0, sizeof *info);
    for (int i = 0; i < m->n_adapters; i++) {
        const model_adapter *ad = &m->adapters[i];
        info->adapters[ad->target]++;
        info->adapter_params +=
            (long)(m->params.tensors[ad->a].numel + m->params.tensors[ad->b].numel);
    }
    info->frozen_params = (long)(params_count(&m->params, 0) - params_count(&m->params, 1));
}
