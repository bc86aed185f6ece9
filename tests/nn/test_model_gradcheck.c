/* Whole-model gradient checks: every parameter gradient of a tiny bert and a
 * tiny modernbert (with padding, both pooling kinds, both attention kernels,
 * local layers whose window is shorter than the sequence) against central
 * differences of the loss, which the test computes itself in double from the
 * model's logits. Dropout is off; one thread (the check runs thousands of
 * tiny forward passes). Tolerance: gradcheck.h's default (h = 1e-2 with
 * Richardson extrapolation, |numeric - analytic| <= 1e-4 + 1e-3 |numeric|). */
#include <math.h>

#include "model_test_util.h"

#define B 2
#define T 7

typedef struct {
    gt_nn_model *m;
    int32_t ids[B * T], labels[B], valid[B];
} model_case;

/* Mean cross-entropy from the logits, in double. */
static double model_loss(void *ctx)
{
    model_case *c = ctx;
    float logits[B * 8];
    gt_error err = {0};
    params_touch(&c->m->params);
    if (gt_nn_forward(c->m, c->ids, c->valid, c->labels, B, T, logits, NULL, &err) != GT_OK) {
        test_fail(__FILE__, __LINE__, "forward: %s", err.message);
        return NAN;
    }
    int L = c->m->cfg.num_labels;
    double total = 0.0;
    for (int b = 0; b < B; b++)
        total += row_cross_entropy(logits + b * L, L, c->labels[b]);
    return total / B;
}

static void check_model(const char *what, gt_nn_config cfg, gt_nn_attention attention, int fused)
{
    model_case c = {.valid = {T, 4}};
    c.m = tiny_model(&cfg, 7);
    randomize_weights(c.m, 11);
    random_batch(c.ids, c.labels, c.valid, B, T, &cfg, 13);
    gt_error err = {0};
    gt_nn_options opt = {.attention = attention, .fused = fused};
    CHECK(gt_nn_model_set_options(c.m, &opt, &err) == GT_OK);

    float loss;
    gt_nn_zero_grad(c.m);
    CHECK(gt_nn_forward(c.m, c.ids, c.valid, c.labels, B, T, NULL, &loss, &err) == GT_OK);
    CHECK(gt_nn_backward(c.m, 1.0f, &err) == GT_OK);
    CHECK_NEAR(loss, model_loss(&c), 1e-5);
    param_set *ps = &c.m->params;
    float *grads = malloc(ps->grad_floats * sizeof *grads);
    memcpy(grads, ps->grad, ps->grad_floats * sizeof *grads);

    double worst = 0.0;
    long checked = 0;
    for (int i = 0; i < ps->count; i++) {
        char name[200];
        snprintf(name, sizeof name, "%s %s", what, ps->tensors[i].name);
        float *g = grads + ps->tensors[i].grad_offset;
        double w = gc_check(name, model_loss, &c, params_data(ps, i), g, (long)ps->tensors[i].numel,
                            gc_default_tolerance());
        worst = w > worst ? w : worst;
        checked += (long)ps->tensors[i].numel;
    }
    printf("%-40s %ld parameters, worst error / tolerance %.3f\n", what, checked, worst);
    free(grads);
    gt_nn_model_free(c.m);
}

/* post-norm, learned positions, padding, CLS pooler */
static void test_model_gradcheck_bert(void)
{
    check_model("bert", tiny_config(GT_NN_BERT), GT_NN_ATTN_STANDARD, 0);
}

/* the slope-keeping GELU (fused kernels), the fused attention kernel, mean pooling, tanh GELU */
static void test_model_gradcheck_bert_fused_mean(void)
{
    gt_nn_config c = tiny_config(GT_NN_BERT);
    c.pooling = GT_NN_POOL_MEAN;
    c.act = GT_NN_GELU_TANH;
    check_model("bert fused mean", c, GT_NN_ATTN_FUSED, 1);
}

/* pre-norm, RoPE, GeGLU, global and local layers, mean pooling */
static void test_model_gradcheck_modernbert(void)
{
    gt_nn_config c = tiny_config(GT_NN_MODERNBERT);
    c.pooling = GT_NN_POOL_MEAN;
    check_model("modernbert mean", c, GT_NN_ATTN_STANDARD, 0);
}

static void test_model_gradcheck_modernbert_fused_cls(void)
{
    gt_nn_config c = tiny_config(GT_NN_MODERNBERT);
    c.head_act = GT_NN_GELU_TANH;
    check_model("modernbert fused cls", c, GT_NN_ATTN_FUSED, 1);
}

int main(void)
{
    gt_nn_set_threads(1, NULL);
    RUN(test_model_gradcheck_bert);
    RUN(test_model_gradcheck_bert_fused_mean);
    RUN(test_model_gradcheck_modernbert);
    RUN(test_model_gradcheck_modernbert_fused_cls);
    return test_summary();
}
