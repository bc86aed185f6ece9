/* Optimizers on hand-computable cases, the 8-bit AdamW against fp32 AdamW,
 * clipping, schedules and the rules around frozen and no-decay tensors.
 * (Step-by-step agreement with torch.optim is test_optimizer_torch.py.) */
#include <string.h>

#include "core_test_util.h"
#include "greentune/nn.h"
#include "nn/adamw8bit.h"
#include "nn/optimizer.h"
#include "test_support.h"

/* A param set of tensors with the given sizes and flags, values from seed. */
static void make_params(param_set *ps, int count, const int64_t *sizes, const int *flags, uint64_t seed)
{
    params_init(ps);
    for (int i = 0; i < count; i++) {
        char name[16];
        snprintf(name, sizeof name, "p%d", i);
        CHECK_EQ_INT(params_add(ps, name, 1, &sizes[i], flags ? flags[i] : 0, NULL, NULL), GT_OK);
    }
    CHECK_EQ_INT(params_finalize(ps, NULL), GT_OK);
    float *v = test_random((long)ps->data_floats, 1.0, seed);
    memcpy(ps->data, v, ps->data_floats * sizeof(float));
    free(v);
}

static void init_opt(optimizer *o, const param_set *ps, optimizer_kind kind, double wd)
{
    optimizer_config c = optimizer_defaults(kind);
    c.weight_decay = wd;
    CHECK_EQ_INT(optimizer_init(o, ps, &c, NULL), GT_OK);
}

/* First AdamW step: m_hat = g, v_hat = g^2, so p <- p (1 - lr wd) - lr g / (|g| + eps). */
static void test_adamw_first_step_textbook(void)
{
    param_set ps;
    int64_t n[1] = {3};
    make_params(&ps, 1, n, NULL, 1);
    float p0[3];
    memcpy(p0, ps.data, sizeof p0);
    float g[3] = {0.5f, -2.0f, 1e-3f};
    memcpy(ps.grad, g, sizeof g);
    optimizer o;
    init_opt(&o, &ps, OPTIMIZER_ADAMW, 0.1);
    uint64_t epoch = ps.epoch;
    optimizer_step(&o, &ps, 0.01);
    for (int i = 0; i < 3; i++)
        CHECK_NEAR(ps.data[i], p0[i] * (1 - 0.01 * 0.1) - 0.01 * g[i] / (fabs(g[i]) + 1e-8), 1e-6);
    CHECK(ps.epoch == epoch + 1);
    CHECK_EQ_INT(optimizer_state_bytes(&o), 2 * ps.grad_floats * sizeof(float));
    optimizer_free(&o);
    params_free(&ps);
}

/* SGD with momentum 0.9, lr 0.1, constant gradient 0.5 from p = 1:
 * plain: buf 0.5, 0.95 -> p 0.95, 0.855; nesterov: d 0.95, 1.355 -> p 0.905, 0.7695. */
static void test_sgd_momentum_by_hand(void)
{
    for (int nesterov = 0; nesterov < 2; nesterov++) {
        param_set ps;
        int64_t n[1] = {1};
        make_params(&ps, 1, n, NULL, 1);
        ps.data[0] = 1.0f;
        optimizer_config c = optimizer_defaults(OPTIMIZER_SGD);
        c.momentum = 0.9;
        c.nesterov = nesterov;
        optimizer o;
        CHECK_EQ_INT(optimizer_init(&o, &ps, &c, NULL), GT_OK);
        ps.grad[0] = 0.5f;
        optimizer_step(&o, &ps, 0.1);
        CHECK_NEAR(ps.data[0], nesterov ? 0.905 : 0.95, 1e-6);
        optimizer_step(&o, &ps, 0.1);
        CHECK_NEAR(ps.data[0], nesterov ? 0.7695 : 0.855, 1e-6);
        CHECK_EQ_INT(optimizer_state_bytes(&o), ps.grad_floats * sizeof(float));
        optimizer_free(&o);
        params_free(&ps);
    }
}

/* Frozen tensors have no gradient and never move; no-decay tensors are not
 * decayed; with zero gradients AdamW only decays: p <- p (1 - lr wd). */
static void test_frozen_and_no_decay(void)
{
    optimizer_kind kinds[3] = {OPTIMIZER_ADAMW, OPTIMIZER_ADAMW_8BIT, OPTIMIZER_SGD};
    for (int k = 0; k < 3; k++) {
        param_set ps;
        int64_t n[3] = {300, 40, 50};
        int flags[3] = {0, PARAM_NO_DECAY, PARAM_FROZEN};
        make_params(&ps, 3, n, flags, 2);
        CHECK(params_grad(&ps, 2) == NULL);
        float *before = malloc(ps.data_floats * sizeof(float));
        memcpy(before, ps.data, ps.data_floats * sizeof(float));
        optimizer o;
        init_opt(&o, &ps, kinds[k], 0.1);
        params_zero_grad(&ps);
        optimizer_step(&o, &ps, 0.5);
        for (int i = 0; i < 300; i++)
            CHECK_NEAR(params_data(&ps, 0)[i], before[i] * (1.0f - 0.05f), 1e-6);
        CHECK(memcmp(params_data(&ps, 1), before + ps.tensors[1].offset, 40 * sizeof(float)) == 0);
        CHECK(memcmp(params_data(&ps, 2), before + ps.tensors[2].offset, 50 * sizeof(float)) == 0);
        free(before);
        optimizer_free(&o);
        params_free(&ps);
    }
}

/* 0.5 sum a_i (x_i - t_i)^2 with curvatures a_i from 1e-3 to 1: gradients
 * spanning three decades inside each 256-value block. */
typedef struct {
    int n;
    float *t, *a;
} quadratic;

static double quadratic_loss(const quadratic *q, const float *x)
{
    double s = 0.0;
    for (int i = 0; i < q->n; i++)
        s += 0.5 * q->a[i] * ((double)x[i] - q->t[i]) * ((double)x[i] - q->t[i]);
    return s;
}

static void quadratic_grad(const quadratic *q, param_set *ps)
{
    for (int i = 0; i < q->n; i++)
        ps->grad[i] = q->a[i] * (ps->data[i] - q->t[i]);
}

/* 8-bit AdamW follows fp32 AdamW for 100 steps (lr 1e-2): the loss within
 * 2 %, the parameters' RMS distance from fp32's within 5 % of how far fp32
 * moved them; and it keeps ~4x less state (1 byte per moment value plus 4
 * bytes per 256-value block, against 4). */
static void test_adamw8bit_tracks_fp32(void)
{
    quadratic q = {.n = 4096};
    q.t = test_random(q.n, 1.0, 3);
    q.a = test_random(q.n, 1.0, 4);
    for (int i = 0; i < q.n; i++)
        q.a[i] = powf(10.0f, -1.5f * (q.a[i] + 1.0f));
    param_set ps32, ps8;
    int64_t n[1] = {q.n};
    make_params(&ps32, 1, n, NULL, 5);
    make_params(&ps8, 1, n, NULL, 5);
    float *x0 = malloc(sizeof(float) * q.n);
    memcpy(x0, ps32.data, sizeof(float) * q.n);
    optimizer o32, o8;
    init_opt(&o32, &ps32, OPTIMIZER_ADAMW, 0.0);
    init_opt(&o8, &ps8, OPTIMIZER_ADAMW_8BIT, 0.0);
    double start = quadratic_loss(&q, x0);
    for (int s = 0; s < 100; s++) {
        quadratic_grad(&q, &ps32);
        quadratic_grad(&q, &ps8);
        optimizer_step(&o32, &ps32, 1e-2);
        optimizer_step(&o8, &ps8, 1e-2);
    }
    double l32 = quadratic_loss(&q, ps32.data), l8 = quadratic_loss(&q, ps8.data);
    double moved = 0.0, apart = 0.0;
    for (int i = 0; i < q.n; i++) {
        moved += pow(ps32.data[i] - x0[i], 2);
        apart += pow(ps32.data[i] - ps8.data[i], 2);
    }
    printf("loss %.3f -> fp32 %.4f, 8-bit %.4f; RMS apart / RMS moved = %.4f; state %zu vs %zu bytes\n", start, l32,
           l8, sqrt(apart / moved), optimizer_state_bytes(&o32), optimizer_state_bytes(&o8));
    CHECK(l32 < 0.2 * start);
    CHECK_CLOSE(l8, l32, 0.02, 0.0);
    CHECK(sqrt(apart / moved) < 0.05);
    double ratio = (double)optimizer_state_bytes(&o32) / optimizer_state_bytes(&o8);
    CHECK(ratio > 3.9 && ratio <= 4.0);
    optimizer_free(&o32), optimizer_free(&o8);
    params_free(&ps32), params_free(&ps8);
    free(q.t), free(q.a), free(x0);
}

/* The grids: round to nearest (u = 0.5) within half a grid step (m: 2^(1/8),
 * r: 2^(1/16) apart), zero stays zero, a tiny nonzero r stays nonzero, and
 * stochastic rounding is right on average. */
static void test_8bit_grids(void)
{
    int bad_m = 0, bad_r = 0;
    for (double t = 2e-5; t <= 1.0; t *= 1.013) {
        float m = (float)(-t), r = (float)t;
        float dm = adamw8bit_decode_m(adamw8bit_encode_m(m, 1.0f, 0.5f), 1.0f);
        float dr = adamw8bit_decode_r(adamw8bit_encode_r(r, 1.0f, 0.5f), 1.0f);
        if (!(fabs(dm - m) <= (pow(2, 1.0 / 8) - 1) / 2 * t * 1.0001) || dm > 0)
            bad_m++;
        if (!(fabs(dr - r) <= (pow(2, 1.0 / 16) - 1) / 2 * t * 1.0001))
            bad_r++;
    }
    CHECK_EQ_INT(bad_m, 0);
    CHECK_EQ_INT(bad_r, 0);
    CHECK_EQ_INT(adamw8bit_encode_m(0.0f, 1.0f, 0.5f), 0);
    CHECK_EQ_INT(adamw8bit_encode_r(0.0f, 1.0f, 0.5f), 0);
    CHECK_EQ_INT(adamw8bit_encode_m(1e-7f, 1.0f, 0.5f), 0);
    CHECK(adamw8bit_encode_r(1e-7f, 1.0f, 0.99f) >= 1);
    CHECK_NEAR(adamw8bit_decode_m(adamw8bit_encode_m(-3.0f, 3.0f, 0.5f), 3.0f), -3.0, 0.0);
    /* Stochastic rounding: the mean of many roundings is the value. */
    uint64_t s = 9;
    double sum = 0.0;
    int trials = 20000;
    for (int i = 0; i < trials; i++)
        sum += adamw8bit_decode_r(adamw8bit_encode_r(0.3f, 1.0f, (float)test_uniform(&s)), 1.0f);
    CHECK_NEAR(sum / trials, 0.3, 0.3 * 0.002);
}

/* The same steps give bit-identical parameters with 1 and 2 threads. */
static void test_thread_count_independent(void)
{
    optimizer_kind kinds[2] = {OPTIMIZER_ADAMW, OPTIMIZER_ADAMW_8BIT};
    int threads = gt_nn_threads();
    for (int k = 0; k < 2; k++) {
        param_set ps[2];
        int64_t n[2] = {70000, 300};
        for (int t = 0; t < 2; t++) {
            gt_nn_set_threads(t + 1, NULL);
            make_params(&ps[t], 2, n, NULL, 6);
            optimizer o;
            init_opt(&o, &ps[t], kinds[k], 0.01);
            float *g = test_random((long)ps[t].grad_floats, 1.0, 7);
            for (int s = 0; s < 3; s++) {
                memcpy(ps[t].grad, g, ps[t].grad_floats * sizeof(float));
                optimizer_step(&o, &ps[t], 1e-3);
            }
            free(g);
            optimizer_free(&o);
        }
        CHECK(memcmp(ps[0].data, ps[1].data, ps[0].data_floats * sizeof(float)) == 0);
        params_free(&ps[0]), params_free(&ps[1]);
    }
    gt_nn_set_threads(threads, NULL);
}

/* clip_grad_norm: the norm is sqrt(sum g^2) over all trainable tensors;
 * above max_norm the gradients are scaled to it, below they stay. */
static void test_clip_grad_norm(void)
{
    param_set ps;
    int64_t n[3] = {1000, 77, 200000};
    int flags[3] = {0, 0, 0};
    make_params(&ps, 3, n, flags, 8);
    /* Gradients in the tensors; the alignment padding between them stays zero. */
    float *g = test_random((long)ps.grad_floats, 1.0, 9);
    for (int t = 0; t < 3; t++)
        memcpy(params_grad(&ps, t), g + ps.tensors[t].grad_offset, (size_t)n[t] * sizeof(float));
    memcpy(g, ps.grad, ps.grad_floats * sizeof(float));
    double want = 0.0;
    for (int t = 0; t < 3; t++)
        for (long i = 0; i < n[t]; i++)
            want += pow(params_grad(&ps, t)[i], 2);
    want = sqrt(want);
    CHECK_CLOSE(grad_norm(&ps), want, 1e-12, 0.0);
    CHECK_CLOSE(clip_grad_norm(&ps, 2.0 * want), want, 1e-12, 0.0);
    CHECK(memcmp(ps.grad, g, ps.grad_floats * sizeof(float)) == 0);
    CHECK_CLOSE(clip_grad_norm(&ps, 1.0), want, 1e-12, 0.0);
    CHECK_CLOSE(grad_norm(&ps), 1.0, 1e-5, 0.0);
    CHECK_CLOSE(params_grad(&ps, 1)[5], g[ps.tensors[1].grad_offset + 5] / (want + 1e-6), 1e-6, 0.0);
    free(g);
    params_free(&ps);
}

/* Warmup then decay, at hand-computed points (base 1, warmup 10, total 110). */
static void test_schedules_textbook(void)
{
    CHECK_NEAR(lr_at(LR_LINEAR, 1.0, 0, 10, 110), 0.0, 1e-15);
    CHECK_NEAR(lr_at(LR_LINEAR, 1.0, 5, 10, 110), 0.5, 1e-15);
    CHECK_NEAR(lr_at(LR_LINEAR, 1.0, 10, 10, 110), 1.0, 1e-15);
    CHECK_NEAR(lr_at(LR_LINEAR, 1.0, 60, 10, 110), 0.5, 1e-15);
    CHECK_NEAR(lr_at(LR_LINEAR, 1.0, 110, 10, 110), 0.0, 1e-15);
    CHECK_NEAR(lr_at(LR_LINEAR, 1.0, 200, 10, 110), 0.0, 1e-15);
    CHECK_NEAR(lr_at(LR_COSINE, 2.0, 60, 10, 110), 1.0, 1e-12);
    CHECK_NEAR(lr_at(LR_COSINE, 1.0, 35, 10, 110), 0.5 * (1 + cos(M_PI / 4)), 1e-12);
    CHECK_NEAR(lr_at(LR_COSINE, 1.0, 110, 10, 110), 0.0, 1e-12);
    CHECK_NEAR(lr_at(LR_CONSTANT, 3.0, 5, 10, 110), 1.5, 1e-15);
    CHECK_NEAR(lr_at(LR_CONSTANT, 3.0, 500, 10, 110), 3.0, 1e-15);
    CHECK_NEAR(lr_at(LR_LINEAR, 1.0, 0, 0, 4), 1.0, 1e-15);   /* no warmup starts at the full rate */
}

/* Bad settings: one clear line each. */
static void test_bad_config(void)
{
    param_set ps;
    int64_t n[1] = {4};
    make_params(&ps, 1, n, NULL, 1);
    optimizer o;
    gt_error err = {0};
    optimizer_config c = optimizer_defaults(OPTIMIZER_ADAMW);
    c.beta2 = 1.0;
    CHECK_EQ_INT(optimizer_init(&o, &ps, &c, &err), GT_ERR_INVALID);
    CHECK(strstr(err.message, "betas") != NULL);
    c = optimizer_defaults(OPTIMIZER_SGD);
    c.nesterov = 1;
    CHECK_EQ_INT(optimizer_init(&o, &ps, &c, &err), GT_ERR_INVALID);
    CHECK(strstr(err.message, "nesterov") != NULL);
    optimizer_kind kind;
    CHECK_EQ_INT(optimizer_parse("adamw8bit", &kind, NULL), GT_OK);
    CHECK_EQ_INT(kind, OPTIMIZER_ADAMW_8BIT);
    CHECK_EQ_INT(optimizer_parse("adafactor", &kind, NULL), GT_OK);
    CHECK_EQ_INT(kind, OPTIMIZER_ADAFACTOR);
    CHECK_EQ_INT(optimizer_parse("lamb", &kind, &err), GT_ERR_INVALID);
    CHECK(strstr(err.message, "lamb") && strstr(err.message, "adafactor"));
    lr_schedule sched;
    CHECK_EQ_INT(lr_schedule_parse("cosine", &sched, NULL), GT_OK);
    CHECK_EQ_INT(sched, LR_COSINE);
    CHECK_EQ_INT(lr_schedule_parse("step", &sched, &err), GT_ERR_INVALID);
    param_set open;
    params_init(&open);
    CHECK_EQ_INT(optimizer_init(&o, &open, &c, &err), GT_ERR_INVALID);
    params_free(&ps);
}

/* What gradient accumulation needs: zeroing and scaling the whole block. */
static void test_grad_helpers(void)
{
    param_set ps;
    int64_t n[2] = {5, 300};
    make_params(&ps, 2, n, NULL, 1);
    for (size_t i = 0; i < ps.grad_floats; i++)
        ps.grad[i] = 2.0f;
    params_scale_grad(&ps, 0.25f);
    CHECK_NEAR(params_grad(&ps, 1)[299], 0.5, 0.0);
    params_zero_grad(&ps);
    CHECK_NEAR(grad_norm(&ps), 0.0, 0.0);
    params_free(&ps);
}

int main(void)
{
    RUN(test_adamw_first_step_textbook);
    RUN(test_sgd_momentum_by_hand);
    RUN(test_frozen_and_no_decay);
    RUN(test_adamw8bit_tracks_fp32);
    RUN(test_8bit_grids);
    RUN(test_thread_count_independent);
    RUN(test_clip_grad_norm);
    RUN(test_schedules_textbook);
    RUN(test_bad_config);
    RUN(test_grad_helpers);
    return test_summary();
}
