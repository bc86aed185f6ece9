/* The engine's knob features on tiny models: LoRA (gradients against central
 * differences, a fresh adapter leaves the model unchanged, what trains, the
 * merged checkpoint), QLoRA's int8 base, gradient checkpointing (bit-identical
 * gradients, less activation memory), fused training kernels (the same
 * results), the fused attention's block size, distillation (loss and gradient
 * against differences of a loss the test computes itself), plan sizes, layer
 * maps. PyTorch comparisons of LoRA and pruning: test_knob_parity.py. */
#include <math.h>

#include "greentune/safetensors.h"
#include "model_test_util.h"

#define B 2
#define T 7

typedef struct {
    gt_nn_model *m;
    int32_t ids[B * T], labels[B], valid[B];
    const float *teacher_logits;   /* distillation: the teacher's logits, or NULL */
    double temperature, alpha;
} model_case;

/* The loss from the logits, in double: cross-entropy, or with a teacher
 * alpha T^2 KL(softmax(t/T) || softmax(s/T)) + (1 - alpha) CE. */
static double case_loss(void *ctx)
{
    model_case *c = ctx;
    float logits[B * 8];
    gt_error err = {0};
    params_touch(&c->m->params);
    gt_nn_model *teacher = c->m->teacher;
    c->m->teacher = NULL;   /* the test computes the teacher's part itself */
    gt_status st = gt_nn_forward(c->m, c->ids, c->valid, c->labels, B, T, logits, NULL, &err);
    c->m->teacher = teacher;
    if (st != GT_OK) {
        test_fail(__FILE__, __LINE__, "forward: %s", err.message);
        return NAN;
    }
    int L = c->m->cfg.num_labels;
    double total = 0.0;
    for (int b = 0; b < B; b++) {
        const float *s = logits + b * L;
        double ce = row_cross_entropy(s, L, c->labels[b]);
        if (!c->teacher_logits) {
            total += ce;
            continue;
        }
        const float *t = c->teacher_logits + b * L;
        double Tm = c->temperature, zs = 0.0, zt = 0.0, kl = 0.0;
        for (int j = 0; j < L; j++) {
            zs += exp(s[j] / Tm);
            zt += exp(t[j] / Tm);
        }
        for (int j = 0; j < L; j++) {
            double pt = exp(t[j] / Tm) / zt, ps = exp(s[j] / Tm) / zs;
            kl += pt * (log(pt) - log(ps));
        }
        total += c->alpha * Tm * Tm * kl + (1.0 - c->alpha) * ce;
    }
    return total / B;
}

static void case_init(model_case *c, gt_nn_model *m, const gt_nn_config *cfg)
{
    memset(c, 0, sizeof *c);
    c->m = m;
    c->valid[0] = T;
    c->valid[1] = 4;
    random_batch(c->ids, c->labels, c->valid, B, T, cfg, 13);
}

/* Every trainable tensor's gradient against central differences; returns how many values were checked. */
static long gradcheck_trainable(const char *what, model_case *c)
{
    gt_error err = {0};
    float loss;
    gt_nn_zero_grad(c->m);
    CHECK(gt_nn_forward(c->m, c->ids, c->valid, c->labels, B, T, NULL, &loss, &err) == GT_OK);
    CHECK(gt_nn_backward(c->m, 1.0f, &err) == GT_OK);
    CHECK_NEAR(loss, case_loss(c), 1e-5);
    param_set *ps = &c->m->params;
    float *grads = malloc(ps->grad_floats * sizeof *grads);
    memcpy(grads, ps->grad, ps->grad_floats * sizeof *grads);
    long checked = 0;
    double worst = 0.0;
    for (int i = 0; i < ps->count; i++) {
        if (!ps->tensors[i].trainable)
            continue;
        char name[200];
        snprintf(name, sizeof name, "%s %s", what, ps->tensors[i].name);
        double w = gc_check(name, case_loss, c, params_data(ps, i), grads + ps->tensors[i].grad_offset,
                            (long)ps->tensors[i].numel, gc_default_tolerance());
        worst = w > worst ? w : worst;
        checked += (long)ps->tensors[i].numel;
    }
    printf("%-36s %ld trainable values, worst error / tolerance %.3f\n", what, checked, worst);
    free(grads);
    return checked;
}

static gt_nn_model *lora_model(const gt_nn_config *cfg, unsigned targets, int head)
{
    gt_nn_lora lora = {.rank = 2, .alpha = 4.0f, .targets = targets, .train_head = head};
    gt_nn_model *m = NULL;
    gt_error err = {0};
    CHECK_MSG(gt_nn_model_create_lora(cfg, &lora, 7, &m, &err) == GT_OK, "%s", err.message);
    return m;
}

/* B random (a fresh adapter's is zero): every adapter carries signal both ways. */
static void randomize_adapters(gt_nn_model *m, uint64_t seed)
{
    gc_rng rng = {seed};
    for (int i = m->base_tensors; i < m->params.count; i++)
        gc_fill(&rng, params_data(&m->params, i), (long)m->params.tensors[i].numel, -0.5f, 0.5f);
    params_touch(&m->params);
}

/* ---- LoRA ------------------------------------------------------------------------------ */

static void check_lora_gradients(const char *what, gt_nn_arch arch, unsigned targets, int head)
{
    gt_nn_config cfg = tiny_config(arch);
    gt_nn_model *m = lora_model(&cfg, targets, head);
    randomize_weights(m, 11);
    randomize_adapters(m, 12);
    model_case c;
    case_init(&c, m, &cfg);
    CHECK(gradcheck_trainable(what, &c) > 0);
    gt_nn_model_free(m);
}

static void test_lora_gradients(void)
{
    unsigned all = GT_NN_LORA_Q | GT_NN_LORA_K | GT_NN_LORA_V | GT_NN_LORA_O | GT_NN_LORA_FFN;
    check_lora_gradients("bert lora all targets", GT_NN_BERT, all, 0);
    check_lora_gradients("bert lora k,v + head", GT_NN_BERT, GT_NN_LORA_K | GT_NN_LORA_V, 1);
    check_lora_gradients("modernbert lora all targets", GT_NN_MODERNBERT, all, 1);
}

/* B = 0 at the start: the LoRA model computes what the base model does. */
static void test_lora_starts_at_the_base_model(void)
{
    gt_nn_config cfg = tiny_config(GT_NN_BERT);
    gt_nn_model *base = tiny_model(&cfg, 7), *m = lora_model(&cfg, GT_NN_LORA_Q | GT_NN_LORA_FFN, 0);
    int32_t ids[B * T], labels[B], valid[B] = {T, 5};
    random_batch(ids, labels, valid, B, T, &cfg, 3);
    float a[B * 3], b[B * 3];
    gt_error err = {0};
    CHECK(gt_nn_infer(base, ids, valid, B, T, a, &err) == GT_OK);
    CHECK(gt_nn_infer(m, ids, valid, B, T, b, &err) == GT_OK);
    CHECK(memcmp(a, b, sizeof a) == 0);
    gt_nn_model_free(base);
    gt_nn_model_free(m);
}

/* What trains: adapters per target as asked, the classifier (and the head with
 * train_head), nothing else. Counted from the model's tensors, not the info. */
static void test_lora_trainable_tensors(void)
{
    gt_nn_config cfg = tiny_config(GT_NN_BERT);   /* C 8, F 12, 2 layers, rank 2 */
    gt_nn_model *m = lora_model(&cfg, GT_NN_LORA_Q | GT_NN_LORA_V | GT_NN_LORA_FFN, 0);
    long adapters = 0, other = 0;
    for (int i = 0; i < m->params.count; i++) {
        const param_tensor *t = &m->params.tensors[i];
        if (!t->trainable)
            continue;
        if (strstr(t->name, ".lora_"))
            adapters += (long)t->numel;
        else
            CHECK_MSG(!strncmp(t->name, "classifier.", 11), "%s trains", t->name);
        other += strstr(t->name, ".lora_") ? 0 : (long)t->numel;
    }
    /* per layer: q and v 2 (8 + 8) each; ffn in 2 (8 + 12), out 2 (12 + 8) */
    CHECK_EQ_INT(adapters, 2 * (32 + 32 + 40 + 40));
    CHECK_EQ_INT(other, 3 * 8 + 3);
    gt_nn_lora_info li;
    gt_nn_lora_info_get(m, &li);
    CHECK_EQ_INT(li.adapters[0], 2);
    CHECK_EQ_INT(li.adapters[1], 0);
    CHECK_EQ_INT(li.adapters[2], 2);
    CHECK_EQ_INT(li.adapters[3], 0);
    CHECK_EQ_INT(li.adapters[4], 4);
    CHECK_EQ_INT(li.adapter_params, adapters);
    gt_nn_model_info info;
    gt_nn_model_info_get(m, &info);
    CHECK_EQ_INT(info.trainable_params, adapters + other);
    CHECK_EQ_INT(li.frozen_params, info.params - info.trainable_params);
    CHECK(params_find(&m->params, "bert.encoder.layer.1.attention.self.value.lora_B.weight") >= 0);
    gt_nn_model_free(m);
}

/* The checkpoint holds W + B A alpha/r: a plain model loaded from it predicts
 * what the LoRA model predicts; the file has no adapter tensors. */
static void test_lora_checkpoint_is_merged(void)
{
    gt_nn_config cfg = tiny_config(GT_NN_MODERNBERT);
    gt_nn_model *m = lora_model(&cfg, GT_NN_LORA_K | GT_NN_LORA_O | GT_NN_LORA_FFN, 1);
    randomize_weights(m, 21);
    randomize_adapters(m, 22);
    gt_error err = {0};
    const char *path = test_path("merged.safetensors");
    CHECK(gt_nn_model_save(m, path, &err) == GT_OK);
    gt_nn_model *plain = tiny_model(&cfg, 1);
    gt_nn_load_report rep;
    CHECK(gt_nn_model_load(plain, path, 1, &rep, &err) == GT_OK);
    CHECK_EQ_INT(rep.unused, 0);
    int32_t ids[B * T], labels[B], valid[B] = {T, 3};
    random_batch(ids, labels, valid, B, T, &cfg, 5);
    float a[B * 3], b[B * 3];
    CHECK(gt_nn_infer(m, ids, valid, B, T, a, &err) == GT_OK);
    CHECK(gt_nn_infer(plain, ids, valid, B, T, b, &err) == GT_OK);
    CHECK(gc_max_abs_diff(a, b, B * 3) <= 1e-5 * (1.0 + gc_max_abs(a, B * 3)));
    gt_nn_model_free(plain);
    gt_nn_model_free(m);
}

static void test_lora_bad_settings(void)
{
    gt_nn_config cfg = tiny_config(GT_NN_BERT);
    gt_nn_model *m = NULL;
    gt_error err = {0};
    gt_nn_lora bad[] = {{.rank = -1, .alpha = 1, .targets = 1}, {.rank = 2, .alpha = 0, .targets = 1},
                        {.rank = 2, .alpha = 1, .targets = 0}, {.rank = 2, .alpha = 1, .targets = 1, .dropout = 1}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(gt_nn_model_create_lora(&cfg, &bad[i], 1, &m, &err) == GT_ERR_INVALID);
        CHECK(m == NULL && strstr(err.message, "lora") != NULL);
    }
}

/* QLoRA: the frozen base runs int8 matmuls in training, made once (the
 * optimizer steps leave the frozen weights' copies alone); adapters train. */
static void test_qlora_trains_on_int8_base(void)
{
    gt_nn_config cfg = tiny_config(GT_NN_BERT);
    gt_nn_model *m = lora_model(&cfg, GT_NN_LORA_Q | GT_NN_LORA_V | GT_NN_LORA_O | GT_NN_LORA_FFN, 0);
    randomize_weights(m, 31);
    gt_nn_options o = gt_nn_model_options(m);
    o.frozen_int8 = 1;
    gt_error err = {0};
    CHECK(gt_nn_model_set_options(m, &o, &err) == GT_OK);
    model_case c;
    case_init(&c, m, &cfg);
    float first = 0, loss = 0;
    uint64_t s8_epoch = 0;
    for (int step = 0; step < 30; step++) {
        gt_nn_zero_grad(m);
        CHECK(gt_nn_forward(m, c.ids, c.valid, c.labels, B, T, NULL, &loss, &err) == GT_OK);
        CHECK(gt_nn_backward(m, 1.0f, &err) == GT_OK);
        CHECK(gt_nn_step(m, 1e-2, 1.0, NULL, &err) == GT_OK);
        if (step == 0) {
            first = loss;
            s8_epoch = m->layers[0].qkv.lw.s8_epoch;
        }
    }
    gt_nn_model_info info;
    gt_nn_model_info_get(m, &info);
    CHECK(info.matmul_calls[GT_NN_INT8] >= 30 * 2 * 4);   /* 4 base projections per layer, 2 layers */
    CHECK(info.int8_weights >= 8 && info.int8_weight_bytes < info.int8_source_bytes);
    CHECK_EQ_INT(m->layers[0].qkv.lw.s8_epoch, s8_epoch);
    CHECK_MSG(loss < 0.5f * first, "loss %g after 30 steps from %g", loss, first);
    gt_nn_model_free(m);
}

/* ---- gradient checkpointing ---------------------------------------------------------------- */

/* Gradients after one step with and without recomputation, dropout on: the same bits. */
static void check_checkpoint(gt_nn_arch arch, int every, gt_nn_attention attention)
{
    gt_nn_config cfg = tiny_config(arch);
    cfg.drop_embedding = cfg.drop_attn_out = cfg.drop_ffn = cfg.drop_classifier = 0.2f;
    cfg.layers = 2 * every;   /* at least two checkpointed layers share one set of buffers */
    gt_nn_model *m[2];
    float loss[2];
    model_case c;
    gt_error err = {0};
    size_t bytes[2];
    for (int k = 0; k < 2; k++) {
        m[k] = tiny_model(&cfg, 5);
        randomize_weights(m[k], 9);
        gt_nn_options o = {.attention = attention, .checkpoint_every = k ? every : 0};
        CHECK(gt_nn_model_set_options(m[k], &o, &err) == GT_OK);
        case_init(&c, m[k], &cfg);
        for (int step = 0; step < 2; step++) {   /* the second step uses new dropout masks */
            gt_nn_zero_grad(m[k]);
            CHECK(gt_nn_forward(m[k], c.ids, c.valid, c.labels, B, T, NULL, &loss[k], &err) == GT_OK);
            CHECK(gt_nn_backward(m[k], 1.0f, &err) == GT_OK);
        }
        gt_nn_model_info info;
        gt_nn_model_info_get(m[k], &info);
        bytes[k] = info.train_activation_bytes;
        CHECK(k == 0 ? info.recompute_flops == 0 : info.recompute_flops > 0);
    }
    CHECK(loss[0] == loss[1]);
    CHECK(m[0]->params.grad_floats == m[1]->params.grad_floats);
    CHECK_MSG(memcmp(m[0]->params.grad, m[1]->params.grad, m[0]->params.grad_floats * sizeof(float)) == 0,
              "%s every %d: gradients differ", gt_nn_arch_name(arch), every);
    CHECK_MSG(bytes[1] < bytes[0], "activation bytes %zu with checkpointing, %zu without", bytes[1], bytes[0]);
    printf("%-11s checkpoint every %d (%s attention): activations %zu -> %zu bytes, same gradients\n",
           gt_nn_arch_name(arch), every, gt_nn_attention_name(attention), bytes[0], bytes[1]);
    gt_nn_model_free(m[0]);
    gt_nn_model_free(m[1]);
}

static void test_checkpointing_keeps_gradients(void)
{
    check_checkpoint(GT_NN_BERT, 1, GT_NN_ATTN_STANDARD);
    check_checkpoint(GT_NN_BERT, 2, GT_NN_ATTN_FUSED);
    check_checkpoint(GT_NN_MODERNBERT, 1, GT_NN_ATTN_FUSED);
    check_checkpoint(GT_NN_MODERNBERT, 3, GT_NN_ATTN_STANDARD);
}

/* With LoRA (adapters keep their own h) and bf16 the gradients stay the same too. */
static void test_checkpointing_with_lora(void)
{
    gt_nn_config cfg = tiny_config(GT_NN_MODERNBERT);
    gt_nn_model *m[2];
    model_case c;
    gt_error err = {0};
    for (int k = 0; k < 2; k++) {
        m[k] = lora_model(&cfg, GT_NN_LORA_Q | GT_NN_LORA_FFN, 1);
        m[k]->lora.dropout = 0.3f;
        randomize_weights(m[k], 9);
        randomize_adapters(m[k], 10);
        gt_nn_options o = {.checkpoint_every = k};
        CHECK(gt_nn_model_set_options(m[k], &o, &err) == GT_OK);
        case_init(&c, m[k], &cfg);
        gt_nn_zero_grad(m[k]);
        CHECK(gt_nn_forward(m[k], c.ids, c.valid, c.labels, B, T, NULL, NULL, &err) == GT_OK);
        CHECK(gt_nn_backward(m[k], 1.0f, &err) == GT_OK);
    }
    CHECK(memcmp(m[0]->params.grad, m[1]->params.grad, m[0]->params.grad_floats * sizeof(float)) == 0);
    gt_nn_model_free(m[0]);
    gt_nn_model_free(m[1]);
}

/* ---- fused kernels ------------------------------------------------------------------------- */

/* residual + LayerNorm in one pass: the two ops' mask and, within rounding
 * (fused multiply-adds may form differently), their values. */
static void test_fused_residual_layernorm_is_the_two_ops(void)
{
    enum { N = 37, C = 24 };
    gc_rng rng = {4};
    float x[N * C], r[N * C], w[C], b[C];
    gc_fill(&rng, x, N * C, -2, 2);
    gc_fill(&rng, r, N * C, -2, 2);
    gc_fill(&rng, w, C, 0.5f, 1.5f);
    gc_fill(&rng, b, C, -0.5f, 0.5f);
    for (int drop = 0; drop < 2; drop++) {
        float res1[N * C], y1[N * C], mean1[N], rstd1[N], res2[N * C], y2[N * C], mean2[N], rstd2[N];
        uint8_t mask1[N * C], mask2[N * C];
        float p = drop ? 0.3f : 0.0f;
        if (drop)
            dropout_residual_forward(res1, mask1, x, r, N * C, p, 77, 1000);
        else
            residual_forward(res1, x, r, N * C);
        layernorm_forward(y1, mean1, rstd1, res1, w, b, N, C, 1e-5f);
        residual_layernorm_forward(res2, y2, mean2, rstd2, drop ? mask2 : NULL, x, r, w, b, N, C, 1e-5f, p, 77, 1000);
        CHECK(gc_max_abs_diff(res1, res2, N * C) <= 1e-6 * gc_max_abs(res1, N * C));
        CHECK(gc_max_abs_diff(y1, y2, N * C) <= 1e-5 * gc_max_abs(y1, N * C));
        CHECK(gc_max_abs_diff(mean1, mean2, N) <= 1e-6 && gc_max_abs_diff(rstd1, rstd2, N) <= 1e-5);
        CHECK(!drop || memcmp(mask1, mask2, sizeof mask1) == 0);
    }
}

/* Training and inference with fused kernels against the plain path (dropout
 * on): losses and gradients within 1e-5 of their scale, and ops ran fused. */
static void check_fused(gt_nn_arch arch)
{
    gt_nn_config cfg = tiny_config(arch);
    cfg.drop_embedding = cfg.drop_attn_out = cfg.drop_ffn = cfg.drop_classifier = 0.1f;
    gt_nn_model *m[2];
    float loss[2], logits[2][B * 3];
    model_case c;
    gt_error err = {0};
    long fused_ops[2];
    for (int k = 0; k < 2; k++) {
        m[k] = tiny_model(&cfg, 5);
        randomize_weights(m[k], 9);
        gt_nn_options o = {.attention = k ? GT_NN_ATTN_FUSED : GT_NN_ATTN_STANDARD, .fused = k};
        CHECK(gt_nn_model_set_options(m[k], &o, &err) == GT_OK);
        case_init(&c, m[k], &cfg);
        gt_nn_zero_grad(m[k]);
        CHECK(gt_nn_forward(m[k], c.ids, c.valid, c.labels, B, T, NULL, &loss[k], &err) == GT_OK);
        CHECK(gt_nn_backward(m[k], 1.0f, &err) == GT_OK);
        CHECK(gt_nn_infer(m[k], c.ids, c.valid, B, T, logits[k], &err) == GT_OK);
        gt_nn_model_info info;
        gt_nn_model_info_get(m[k], &info);
        fused_ops[k] = info.fused_ops;
    }
    CHECK_CLOSE(loss[0], loss[1], 1e-5, 0);
    long n = (long)m[0]->params.grad_floats;
    double scale = gc_max_abs(m[0]->params.grad, n);
    CHECK_MSG(gc_max_abs_diff(m[0]->params.grad, m[1]->params.grad, n) <= 1e-5 * scale, "%s gradients",
              gt_nn_arch_name(arch));
    CHECK(gc_max_abs_diff(logits[0], logits[1], B * 3) <= 1e-5 * gc_max_abs(logits[0], B * 3));
    CHECK_EQ_INT(fused_ops[0], 0);
    /* per layer: attention forward twice (train, infer), residual+norm (bert 2, modernbert 1) */
    CHECK(fused_ops[1] >= cfg.layers * (arch == GT_NN_BERT ? 5 : 4));
    gt_nn_model_free(m[0]);
    gt_nn_model_free(m[1]);
}

static void test_fused_matches_plain(void)
{
    check_fused(GT_NN_BERT);
    check_fused(GT_NN_MODERNBERT);
}

/* ---- attention ----------------------------------------------------------------------------- */

/* The fused kernel with any block size computes the straightforward kernel's
 * logits; its memory holds no (T, T) matrix. */
static void test_attention_block_sizes(void)
{
    gt_nn_config cfg = tiny_config(GT_NN_MODERNBERT);
    cfg.max_len = 64;
    enum { BB = 2, TT = 40 };
    int32_t ids[BB * TT], labels[BB], valid[BB] = {TT, 23};
    random_batch(ids, labels, valid, BB, TT, &cfg, 8);
    gt_nn_model *m = tiny_model(&cfg, 3);
    randomize_weights(m, 4);
    gt_error err = {0};
    float want[BB * 3], got[BB * 3];
    CHECK(gt_nn_infer(m, ids, valid, BB, TT, want, &err) == GT_OK);
    size_t standard, standard_attention;
    CHECK(gt_nn_plan_bytes(m, BB, TT, 1, NULL, &standard, &standard_attention, &err) == GT_OK);
    static const int blocks[] = {16, 24, 256};
    for (size_t i = 0; i < sizeof blocks / sizeof blocks[0]; i++) {
        gt_nn_options o = {.attention = GT_NN_ATTN_FUSED, .attention_block = blocks[i]};
        CHECK(gt_nn_model_set_options(m, &o, &err) == GT_OK);
        CHECK(gt_nn_infer(m, ids, valid, BB, TT, got, &err) == GT_OK);
        CHECK_MSG(gc_max_abs_diff(want, got, BB * 3) <= 1e-5 * gc_max_abs(want, BB * 3), "block %d", blocks[i]);
        size_t total, attention;
        CHECK(gt_nn_plan_bytes(m, BB, TT, 1, NULL, &total, &attention, &err) == GT_OK);
        CHECK(attention < standard_attention && total < standard);
    }
    gt_nn_options bad = {.attention = GT_NN_ATTN_FUSED, .attention_block = 8};
    CHECK(gt_nn_model_set_options(m, &bad, &err) == GT_ERR_INVALID && strstr(err.message, "block 8"));
    gt_nn_model_free(m);
}

/* gt_nn_plan_bytes says what a step then takes. */
static void test_plan_bytes_is_what_a_step_takes(void)
{
    gt_nn_config cfg = tiny_config(GT_NN_BERT);
    gt_nn_model *m = tiny_model(&cfg, 3);
    model_case c;
    case_init(&c, m, &cfg);
    gt_error err = {0};
    size_t planned, attention;
    CHECK(gt_nn_plan_bytes(m, B, T, 1, NULL, &planned, &attention, &err) == GT_OK);
    CHECK(gt_nn_forward(m, c.ids, c.valid, c.labels, B, T, NULL, NULL, &err) == GT_OK);
    gt_nn_model_info info;
    gt_nn_model_info_get(m, &info);
    CHECK_EQ_INT(info.train_activation_bytes, planned);
    CHECK_EQ_INT(info.train_attention_bytes, attention);
    /* two layers of (B, H, T, T) probabilities at least */
    CHECK(attention >= 2u * B * 2 * T * T * sizeof(float));
    CHECK(info.train_B == B && info.train_T == T);
    long n;
    CHECK(gt_nn_config_params(&cfg, &n, &err) == GT_OK && n == info.params);
    gt_nn_model_free(m);
}

/* ---- distillation -------------------------------------------------------------------------- */

/* Rows of 3 logits, temperature 2.5; the teacher's logits are fixed (op->ctx). */
static void distill_fwd(gc_op *op)
{
    float ps[12], pt[12];
    distill_forward(op->out, ps, pt, op->inputs[0], op->ctx, 4, 3, 2.5f);
}

static void distill_bwd(gc_op *op, float **g)
{
    float loss[4], ps[12], pt[12];
    distill_forward(loss, ps, pt, op->inputs[0], op->ctx, 4, 3, 2.5f);
    /* each row's gradient scaled by its upstream gradient */
    for (int b = 0; b < 4; b++) {
        memset(g[0] + 3 * b, 0, 3 * sizeof(float));
        distill_backward(g[0] + 3 * b, ps + 3 * b, pt + 3 * b, 1, 3, 2.5f, op->upstream[b]);
    }
}

static void test_distill_loss_gradient(void)
{
    gc_rng rng = {17};
    float s[12], t[12], out[4], up[4];
    gc_fill(&rng, s, 12, -3, 3);
    gc_fill(&rng, t, 12, -3, 3);
    gc_op op = {.n_inputs = 1, .inputs = {s}, .sizes = {12}, .names = {"student"}, .out = out, .out_n = 4,
                .upstream = up, .forward = distill_fwd, .backward = distill_bwd, .ctx = t};
    CHECK(gc_check_op("distill", &op, gc_default_tolerance(), 18) <= 1.0);
    /* a textbook value: s = 0, t = (log 2, 0) at T = 1 gives KL((2/3, 1/3) || (1/2, 1/2)) */
    float s2[2] = {0, 0}, t2[2] = {logf(2.0f), 0}, loss[1], ps[2], pt[2];
    double kl = 2.0 / 3 * log(4.0 / 3) + 1.0 / 3 * log(2.0 / 3);
    CHECK_NEAR(distill_forward(loss, ps, pt, s2, t2, 1, 2, 1.0f), kl, 1e-6);
    /* the same logits: no loss, no gradient */
    float ds[12] = {0}, ps3[12], pt3[12], loss3[4];
    CHECK_NEAR(distill_forward(loss3, ps3, pt3, s, s, 4, 3, 2.0f), 0.0, 1e-6);
    distill_backward(ds, ps3, pt3, 4, 3, 2.0f, 1.0f);
    CHECK(gc_max_abs(ds, 12) <= 1e-6);
}

/* A student distilled from a teacher: every gradient against central
 * differences of the combined loss computed by the test. */
static void test_distill_model_gradients(void)
{
    gt_nn_config cfg = tiny_config(GT_NN_BERT), tcfg = tiny_config(GT_NN_BERT);
    cfg.layers = 1;
    gt_nn_model *student = tiny_model(&cfg, 5), *teacher = tiny_model(&tcfg, 6);
    randomize_weights(student, 7);
    randomize_weights(teacher, 8);
    gt_error err = {0};
    CHECK(gt_nn_set_teacher(student, teacher, 2.0f, 0.7f, &err) == GT_OK);
    model_case c;
    case_init(&c, student, &cfg);
    float tl[B * 3];
    CHECK(gt_nn_infer(teacher, c.ids, c.valid, B, T, tl, &err) == GT_OK);
    c.teacher_logits = tl;
    c.temperature = 2.0;
    c.alpha = 0.7;
    gradcheck_trainable("bert student of a 2-layer teacher", &c);
    gt_nn_model_info info;
    gt_nn_model_info_get(student, &info);
    CHECK(info.distill_steps >= 1 && info.distill_kd_sum > 0 && info.distill_kd_sum < info.distill_loss_sum);
    CHECK(gt_nn_set_teacher(student, student, 2.0f, 0.5f, &err) == GT_ERR_INVALID);
    tcfg.num_labels = 2;
    gt_nn_model *other = tiny_model(&tcfg, 9);
    CHECK(gt_nn_set_teacher(student, other, 2.0f, 0.5f, &err) == GT_ERR_INVALID && strstr(err.message, "labels"));
    gt_nn_model_free(other);
    gt_nn_model_free(student);
    gt_nn_model_free(teacher);
}

/* ---- layer maps ---------------------------------------------------------------------------- */

/* A pruned bert takes its layers from the map; a map entry past the file's layers is a clear error. */
static void test_layer_map(void)
{
    gt_nn_config full = tiny_config(GT_NN_BERT), small = full;
    full.layers = 3;
    small.layers = 1;
    gt_nn_model *m = tiny_model(&full, 1), *p = tiny_model(&small, 2);
    randomize_weights(m, 3);
    gt_error err = {0};
    const char *path = test_path("full.safetensors");
    CHECK(gt_nn_model_save(m, path, &err) == GT_OK);
    int map[1] = {2};
    gt_nn_load_report rep;
    CHECK(gt_nn_model_load_layers(p, path, map, 1, &rep, &err) == GT_OK);
    CHECK(rep.unused == 2 * 16);   /* two layers of 16 HF tensors left out */
    int qkv = params_find(&p->params, "bert.encoder.layer.0.attention.self.qkv.weight");
    int src = params_find(&m->params, "bert.encoder.layer.2.attention.self.qkv.weight");
    CHECK(memcmp(params_data(&p->params, qkv), params_data(&m->params, src), 3 * 8 * 8 * sizeof(float)) == 0);
    map[0] = 5;
    CHECK(gt_nn_model_load_layers(p, path, map, 1, &rep, &err) == GT_ERR_NOT_FOUND);
    CHECK_MSG(strstr(err.message, "bert.encoder.layer.0.") != NULL, "%s", err.message);
    gt_nn_model_free(m);
    gt_nn_model_free(p);
}

int main(void)
{
    gt_nn_set_threads(1, NULL);
    RUN(test_lora_gradients);
    RUN(test_lora_starts_at_the_base_model);
    RUN(test_lora_trainable_tensors);
    RUN(test_lora_checkpoint_is_merged);
    RUN(test_lora_bad_settings);
    RUN(test_qlora_trains_on_int8_base);
    RUN(test_checkpointing_keeps_gradients);
    RUN(test_checkpointing_with_lora);
    RUN(test_fused_residual_layernorm_is_the_two_ops);
    RUN(test_fused_matches_plain);
    RUN(test_attention_block_sizes);
    RUN(test_plan_bytes_is_what_a_step_takes);
    RUN(test_distill_loss_gradient);
    RUN(test_distill_model_gradients);
    RUN(test_layer_map);
    return test_summary();
}
