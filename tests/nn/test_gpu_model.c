/* The GPU model against the CPU model: the same tiny bert and modernbert
 * (dropout on, padded sequences, local attention) trained side by side, one
 * on the CPU in fp32 and one with options.device = cuda, compared after every
 * stage: logits and loss, every gradient, the gradient norm, the weights after
 * an AdamW step, inference logits, and the weights after the model comes home
 * and trains on (its optimizer state came with it).
 *
 * Without an argument the cuda model runs on the host backend
 * (GREENTUNE_CUDA_EMULATE=1): the GPU model's plan, op order, matmul layouts,
 * 16-bit copies and optimizer tables are checked on any machine. With "cuda"
 * it runs on the GPU, and reports itself skipped (exit 77) when there is none.
 *
 * Tolerances: the largest difference in a tensor over its largest magnitude.
 * fp32 1e-5 (host) / 2e-4 (GPU: other summation orders, fp32 throughout);
 * tf32 1e-2; fp16 2e-2; bf16 4e-2 (8 significant bits); int8 inference 0.15
 * (per-tensor activation scales), all against the fp32 CPU model. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model_test_util.h"
#include "nn/cuda/gpu_model.h"

#define B 3
#define T 9
#define SKIPPED 77
/* weights after an optimizer step from equal gradients: rounding only */
#define STEP_TOL 1e-6

static int on_gpu;

typedef struct {
    const char *name;
    gt_nn_precision train, infer;
    gt_nn_attention attention;
    double tol;                  /* training comparisons */
    double infer_tol;
} parity_case;

/* max |a - b| / max |b| */
static double scaled_diff(const float *a, const float *b, size_t n)
{
    double d = 0, s = 0;
    for (size_t i = 0; i < n; i++) {
        if (a[i] != a[i] || b[i] != b[i])
            return INFINITY; /* a NaN never passes (fmax would skip it) */
        d = fmax(d, fabs((double)a[i] - b[i]));
        s = fmax(s, fabs((double)b[i]));
    }
    return s > 0 ? d / s : d;
}

static void check_close(const char *what, const char *stage, const float *got, const float *want, size_t n,
                        double tol)
{
    double diff = scaled_diff(got, want, n);
    CHECK_MSG(diff <= tol, "%s: %s differs by %.3g of its scale (tolerance %.3g)", stage, what, diff, tol);
}

/* Every trainable tensor's gradient (grads = 1) or weight. */
static void check_params(const gt_nn_model *dut, const gt_nn_model *ref, int grads, const char *stage, double tol)
{
    for (int i = 0; i < ref->params.count; i++) {
        const param_tensor *t = &ref->params.tensors[i];
        if (grads && t->grad_offset == PARAM_NO_GRAD)
            continue;
        const float *a = grads ? params_grad(&dut->params, i) : params_data(&dut->params, i);
        const float *b = grads ? params_grad(&ref->params, i) : params_data(&ref->params, i);
        char what[PARAM_NAME_MAX + 16];
        snprintf(what, sizeof what, "%s %s", grads ? "d" : "", t->name);
        check_close(what, stage, a, b, t->numel, tol);
    }
}

static void sync_home(gt_nn_model *m)
{
    gt_error err = {0};
    CHECK_MSG(gpu_sync_host(m, &err) == GT_OK, "sync: %s", err.message);
}

static gt_nn_config parity_config(gt_nn_arch arch, int wide)
{
    gt_nn_config c = tiny_config(arch);
    c.drop_embedding = c.drop_attn_out = c.drop_ffn = c.drop_classifier = 0.1f;
    if (wide) { /* sizes the GPU's fast matmul paths take (multiples of 8 and 16) */
        c.dim = 64;
        c.heads = 4;
        c.ffn = arch == GT_NN_BERT ? 128 : 64;
        c.vocab = 40;
        c.max_len = 32;
        c.local_window = 8;
    }
    return c;
}

/* randomize_weights' O(0.5) weights, matrices scaled by sqrt(8 / dim): the
 * wide model's activations then stay as tame as the tiny one's (unscaled, its
 * softmaxes saturate and fp32 rounding alone moves gradients by 1e-5). */
static void parity_weights(gt_nn_model *m, int dim)
{
    randomize_weights(m, 7);
    float s = sqrtf(8.0f / (float)dim);
    for (int i = 0; i < m->params.count; i++) {
        const param_tensor *t = &m->params.tensors[i];
        float *x = params_data(&m->params, i);
        for (size_t j = 0; t->ndim == 2 && j < t->numel; j++)
            x[j] *= s;
    }
    params_touch(&m->params);
}

static void set_options(gt_nn_model *m, gt_nn_options o)
{
    gt_error err = {0};
    CHECK_MSG(gt_nn_model_set_options(m, &o, &err) == GT_OK, "set_options: %s", err.message);
}

static void run_case(gt_nn_arch arch, int wide, const parity_case *k)
{
    gt_nn_config c = parity_config(arch, wide);
    const int t = wide ? 16 : T;
    gt_nn_model *ref = tiny_model(&c, 42), *dut = tiny_model(&c, 42);
    parity_weights(ref, c.dim);
    parity_weights(dut, c.dim);
    set_options(ref, (gt_nn_options){.attention = k->attention});
    set_options(dut, (gt_nn_options){.train_precision = k->train, .infer_precision = k->infer,
                                     .attention = k->attention, .device = GT_NN_CUDA});
    gt_error err = {0};
    CHECK_EQ_INT(gt_nn_model_set_optimizer(ref, NULL, &err), GT_OK);
    CHECK_EQ_INT(gt_nn_model_set_optimizer(dut, NULL, &err), GT_OK);
    int32_t ids[B * 16], labels[B], valid[B] = {t, t - 3, 2};
    float lr = 1e-3f;
    char stage[160];
    for (int step = 0; step < 2; step++) {
        random_batch(ids, labels, valid, B, t, &c, 100 + step);
        float lref[B * 8], ldut[B * 8], loss_ref = 0, loss_dut = 0;
        double norm_ref = 0, norm_dut = 0;
        snprintf(stage, sizeof stage, "%s %s %s step %d", gt_nn_arch_name(arch), wide ? "wide" : "tiny", k->name,
                 step);
        gt_nn_zero_grad(ref);
        gt_nn_zero_grad(dut);
        CHECK_EQ_INT(gt_nn_forward(ref, ids, valid, labels, B, t, lref, &loss_ref, &err), GT_OK);
        CHECK_MSG(gt_nn_forward(dut, ids, valid, labels, B, t, ldut, &loss_dut, &err) == GT_OK, "%s: forward: %s",
                  stage, err.message);
        check_close("logits", stage, ldut, lref, (size_t)B * c.num_labels, k->tol);
        check_close("loss", stage, &loss_dut, &loss_ref, 1, k->tol);
        CHECK_EQ_INT(gt_nn_backward(ref, 1.0f, &err), GT_OK);
        CHECK_MSG(gt_nn_backward(dut, 1.0f, &err) == GT_OK, "%s: backward: %s", stage, err.message);
        sync_home(dut);
        check_params(dut, ref, 1, stage, k->tol);
        /* The step from the reference's gradients: AdamW divides by the
         * gradient's own size, so parameters with (numerically) zero gradient
         * (bert's key bias) would move by +-lr on rounding noise alone. From
         * equal gradients, the weights stay equal up to rounding. */
        memcpy(dut->params.grad, ref->params.grad, ref->params.grad_floats * sizeof(float));
        CHECK_EQ_INT(gpu_load_grads(dut, &err), GT_OK);
        CHECK_EQ_INT(gt_nn_step(ref, lr, 1.0, &norm_ref, &err), GT_OK);
        CHECK_MSG(gt_nn_step(dut, lr, 1.0, &norm_dut, &err) == GT_OK, "%s: step: %s", stage, err.message);
        CHECK_MSG(fabs(norm_dut - norm_ref) <= 1e-6 * norm_ref, "%s: gradient norm %.9g vs %.9g", stage, norm_dut,
                  norm_ref);
        sync_home(dut);
        check_params(dut, ref, 0, stage, STEP_TOL);
    }

    /* inference: the CPU model in fp32 is the reference for every precision */
    float iref[B * 8], idut[B * 8];
    snprintf(stage, sizeof stage, "%s %s %s inference", gt_nn_arch_name(arch), wide ? "wide" : "tiny", k->name);
    CHECK_EQ_INT(gt_nn_infer(ref, ids, valid, B, t, iref, &err), GT_OK);
    CHECK_MSG(gt_nn_infer(dut, ids, valid, B, t, idut, &err) == GT_OK, "%s: %s", stage, err.message);
    check_close("logits", stage, idut, iref, (size_t)B * c.num_labels, k->infer_tol);

    gt_nn_model_info info;
    gt_nn_model_info_get(dut, &info);
    CHECK_MSG(info.arena_bytes > 0 && info.matmul_flops[k->train] > 0, "%s: info: %zu bytes, %g flops", stage,
              info.arena_bytes, info.matmul_flops[k->train]);

    /* home again: weights and AdamW's moments come back, and training goes on alike */
    set_options(dut, (gt_nn_options){.attention = k->attention});
    snprintf(stage, sizeof stage, "%s %s %s back on the cpu", gt_nn_arch_name(arch), wide ? "wide" : "tiny", k->name);
    check_params(dut, ref, 0, stage, STEP_TOL);
    float loss_ref, loss_dut;
    gt_nn_zero_grad(ref);
    gt_nn_zero_grad(dut);
    CHECK_EQ_INT(gt_nn_forward(ref, ids, valid, labels, B, t, NULL, &loss_ref, &err), GT_OK);
    CHECK_EQ_INT(gt_nn_forward(dut, ids, valid, labels, B, t, NULL, &loss_dut, &err), GT_OK);
    check_close("loss", stage, &loss_dut, &loss_ref, 1, on_gpu ? 2e-4 : 1e-5);
    CHECK_EQ_INT(gt_nn_backward(ref, 1.0f, &err), GT_OK);
    CHECK_EQ_INT(gt_nn_backward(dut, 1.0f, &err), GT_OK);
    /* from equal gradients, AdamW's moments decide: they must have come home */
    memcpy(dut->params.grad, ref->params.grad, ref->params.grad_floats * sizeof(float));
    CHECK_EQ_INT(gt_nn_step(ref, lr, 1.0, NULL, &err), GT_OK);
    CHECK_EQ_INT(gt_nn_step(dut, lr, 1.0, NULL, &err), GT_OK);
    check_params(dut, ref, 0, stage, STEP_TOL);
    CHECK_EQ_INT(dut->optim.step, ref->optim.step);
    gt_nn_model_free(ref);
    gt_nn_model_free(dut);
}

static void test_gpu_model_matches_cpu_model(void)
{
    double fp32 = on_gpu ? 2e-4 : 1e-5;
    const parity_case cases[] = {
        {"fp32 standard", GT_NN_FP32, GT_NN_FP32, GT_NN_ATTN_STANDARD, fp32, fp32},
        {"fp32 fused", GT_NN_FP32, GT_NN_FP32, GT_NN_ATTN_FUSED, fp32, fp32},
        {"tf32 standard", GT_NN_TF32, GT_NN_TF32, GT_NN_ATTN_STANDARD, 1e-2, 1e-2},
        {"bf16 standard", GT_NN_BF16, GT_NN_BF16, GT_NN_ATTN_STANDARD, 4e-2, 4e-2},
        {"fp16 fused", GT_NN_FP16, GT_NN_FP16, GT_NN_ATTN_FUSED, 2e-2, 2e-2},
        {"fp16 standard, int8 inference", GT_NN_FP16, GT_NN_INT8, GT_NN_ATTN_STANDARD, 2e-2, 0.15},
    };
    for (int arch = 0; arch < 2; arch++)
        for (int wide = 0; wide < 2; wide++)
            for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
                run_case((gt_nn_arch)arch, wide, &cases[i]);
}

/* Weights live on the device, load and save on the host: a save writes the
 * device's newest weights, and a load reaches the device before its next use. */
static void test_gpu_model_saves_and_loads_through_the_host(void)
{
    gt_nn_config c = parity_config(GT_NN_MODERNBERT, 0);
    gt_nn_model *m = tiny_model(&c, 3), *copy = tiny_model(&c, 4);
    randomize_weights(m, 9);
    set_options(m, (gt_nn_options){.device = GT_NN_CUDA});
    int32_t ids[B * T], labels[B], valid[B] = {T, 5, 1};
    random_batch(ids, labels, valid, B, T, &c, 5);
    gt_error err = {0};
    float loss;
    CHECK_EQ_INT(gt_nn_forward(m, ids, valid, labels, B, T, NULL, &loss, &err), GT_OK);
    CHECK_EQ_INT(gt_nn_backward(m, 1.0f, &err), GT_OK);
    CHECK_EQ_INT(gt_nn_step(m, 1e-2, 0.0, NULL, &err), GT_OK);
    /* save: the device's newest weights; load into a CPU model: the same logits */
    const char *path = test_path("model.safetensors");
    CHECK_MSG(gt_nn_model_save(m, path, &err) == GT_OK, "save: %s", err.message);
    CHECK_MSG(gt_nn_model_load(copy, path, 1, NULL, &err) == GT_OK, "load: %s", err.message);
    float a[B * 8], b[B * 8];
    CHECK_EQ_INT(gt_nn_infer(m, ids, valid, B, T, a, &err), GT_OK);
    CHECK_EQ_INT(gt_nn_infer(copy, ids, valid, B, T, b, &err), GT_OK);
    check_close("logits", "after save and load", a, b, (size_t)B * c.num_labels, on_gpu ? 2e-4 : 1e-5);
    /* a load into the GPU model reaches the device before its next step */
    gt_nn_model *fresh = tiny_model(&c, 11);
    const char *path2 = test_path("fresh.safetensors");
    CHECK_EQ_INT(gt_nn_model_save(fresh, path2, &err), GT_OK);
    CHECK_EQ_INT(gt_nn_model_load(m, path2, 1, NULL, &err), GT_OK);
    CHECK_EQ_INT(gt_nn_infer(m, ids, valid, B, T, a, &err), GT_OK);
    CHECK_EQ_INT(gt_nn_infer(fresh, ids, valid, B, T, b, &err), GT_OK);
    check_close("logits", "after loading into the GPU model", a, b, (size_t)B * c.num_labels, on_gpu ? 2e-4 : 1e-5);
    gt_nn_model_free(m);
    gt_nn_model_free(copy);
    gt_nn_model_free(fresh);
}

/* What the device refuses, in one line each. */
static void test_gpu_model_refusals(void)
{
    gt_nn_config c = parity_config(GT_NN_BERT, 0);
    gt_nn_model *m = tiny_model(&c, 3);
    gt_error err = {0};
    gt_nn_options o = {.train_precision = GT_NN_INT8, .device = GT_NN_CUDA};
    CHECK_EQ_INT(gt_nn_model_set_options(m, &o, &err), GT_ERR_INVALID);
    CHECK(strstr(err.message, "int8: inference only") != NULL);
    /* the CPU-only engine features: refused on the device, not ignored */
    o = (gt_nn_options){.device = GT_NN_CUDA, .checkpoint_every = 1};
    CHECK_EQ_INT(gt_nn_model_set_options(m, &o, &err), GT_ERR_UNSUPPORTED);
    CHECK(strstr(err.message, "device cuda: gradient checkpointing run on the cpu only") != NULL);
    o = (gt_nn_options){.device = GT_NN_CUDA, .frozen_int8 = 1};
    CHECK_EQ_INT(gt_nn_model_set_options(m, &o, &err), GT_ERR_UNSUPPORTED);
    CHECK(strstr(err.message, "QLoRA") != NULL);
    set_options(m, (gt_nn_options){.device = GT_NN_CUDA});
    gt_nn_optimizer_config oc;
    CHECK_EQ_INT(gt_nn_optimizer_defaults("adamw8bit", &oc, &err), GT_OK);
    CHECK_EQ_INT(gt_nn_model_set_optimizer(m, &oc, &err), GT_OK);
    int32_t ids[B * T], labels[B];
    random_batch(ids, labels, NULL, B, T, &c, 5);
    CHECK_EQ_INT(gt_nn_backward(m, 1.0f, &err), GT_ERR_INVALID);
    CHECK(strstr(err.message, "no training forward pass") != NULL);
    CHECK_EQ_INT(gt_nn_forward(m, ids, NULL, labels, B, T, NULL, NULL, &err), GT_OK);
    CHECK_EQ_INT(gt_nn_backward(m, 1.0f, &err), GT_OK);
    CHECK_EQ_INT(gt_nn_step(m, 1e-3, 1.0, NULL, &err), GT_ERR_UNSUPPORTED);
    CHECK_EQ_STR(err.message, "optimizer adamw8bit: not available on device cuda (use adamw or sgd there)");
    CHECK_EQ_INT(gt_nn_optimizer_defaults("adafactor", &oc, &err), GT_OK);
    CHECK_EQ_INT(gt_nn_model_set_optimizer(m, &oc, &err), GT_OK);
    CHECK_EQ_INT(gt_nn_step(m, 1e-3, 1.0, NULL, &err), GT_ERR_UNSUPPORTED);
    CHECK_EQ_STR(err.message, "optimizer adafactor: not available on device cuda (use adamw or sgd there)");
    ids[4] = c.vocab;
    CHECK_EQ_INT(gt_nn_forward(m, ids, NULL, labels, B, T, NULL, NULL, &err), GT_ERR_INVALID);
    CHECK(strstr(err.message, "outside the vocabulary") != NULL);
    gt_nn_model_free(m);
}

/* SGD with momentum on the device takes the same steps as on the CPU. */
static void test_gpu_model_sgd(void)
{
    gt_nn_config c = parity_config(GT_NN_BERT, 0);
    gt_nn_model *ref = tiny_model(&c, 1), *dut = tiny_model(&c, 1);
    set_options(dut, (gt_nn_options){.device = GT_NN_CUDA});
    gt_nn_optimizer_config oc;
    gt_error err = {0};
    CHECK_EQ_INT(gt_nn_optimizer_defaults("sgd", &oc, &err), GT_OK);
    oc.momentum = 0.9;
    oc.weight_decay = 0.01;
    CHECK_EQ_INT(gt_nn_model_set_optimizer(ref, &oc, &err), GT_OK);
    CHECK_EQ_INT(gt_nn_model_set_optimizer(dut, &oc, &err), GT_OK);
    int32_t ids[B * T], labels[B];
    random_batch(ids, labels, NULL, B, T, &c, 8);
    for (int s = 0; s < 3; s++) {
        gt_nn_model *ms[2] = {ref, dut};
        for (int i = 0; i < 2; i++) {
            gt_nn_zero_grad(ms[i]);
            CHECK_EQ_INT(gt_nn_forward(ms[i], ids, NULL, labels, B, T, NULL, NULL, &err), GT_OK);
            CHECK_EQ_INT(gt_nn_backward(ms[i], 0.5f, &err), GT_OK);
            CHECK_EQ_INT(gt_nn_step(ms[i], 0.1, 0.0, NULL, &err), GT_OK);
        }
    }
    sync_home(dut);
    check_params(dut, ref, 0, "sgd, 3 steps", on_gpu ? 2e-4 : 1e-5);
    gt_nn_model_free(ref);
    gt_nn_model_free(dut);
}

int main(int argc, char **argv)
{
    on_gpu = argc > 1 && !strcmp(argv[1], "cuda");
    if (!on_gpu) {
        setenv("GREENTUNE_CUDA_EMULATE", "1", 1);
    } else {
        gt_error err = {0};
        gt_nn_device_info info;
        if (gt_nn_device_check(GT_NN_CUDA, &info, &err) != GT_OK) {
            printf("skipped: %s\n", err.message);
            return SKIPPED;
        }
        printf("device: %s, compute capability %d.%d, %s\n", info.name, info.cc_major, info.cc_minor, info.runtime);
    }
    RUN(test_gpu_model_matches_cpu_model);
    RUN(test_gpu_model_saves_and_loads_through_the_host);
    RUN(test_gpu_model_refusals);
    RUN(test_gpu_model_sgd);
    return test_summary();
}
