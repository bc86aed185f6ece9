/* Training and inference behaviour of the models: determinism, no
 * allocation once set up, gradient accumulation, the kernels' agreement,
 * learning, and one clear error for every bad input or shape. */
#include <math.h>
#include <string.h>

#include "nn/arena.h"
#include "model_test_util.h"

#define B 3
#define T 9

typedef struct {
    int32_t ids[B * T], labels[B], valid[B];
} batch;

static batch make_batch(const gt_nn_config *c, uint64_t seed)
{
    batch x = {.valid = {T, 6, 2}};
    random_batch(x.ids, x.labels, x.valid, B, T, c, seed);
    return x;
}

static int train_step(gt_nn_model *m, const batch *x, float *loss)
{
    gt_error err = {0};
    gt_nn_zero_grad(m);
    int ok = gt_nn_forward(m, x->ids, x->valid, x->labels, B, T, NULL, loss, &err) == GT_OK &&
             gt_nn_backward(m, 1.0f, &err) == GT_OK && gt_nn_step(m, 1e-2, 1.0, NULL, &err) == GT_OK;
    if (!ok)
        test_fail(__FILE__, __LINE__, "train step: %s", err.message);
    return ok;
}

/* max |a - b| / max |b| */
static double scaled_diff(const float *a, const float *b, size_t n)
{
    double d = 0, s = 0;
    for (size_t i = 0; i < n; i++) {
        d = fmax(d, fabs((double)a[i] - b[i]));
        s = fmax(s, fabs((double)b[i]));
    }
    return s > 0 ? d / s : d;
}

/* Mean and standard deviation of a tensor, and its largest magnitude. */
static void moments(const float *x, size_t n, double *mean, double *std, double *maxabs)
{
    double s = 0, ss = 0, mx = 0;
    for (size_t i = 0; i < n; i++) {
        s += x[i];
        ss += (double)x[i] * x[i];
        mx = fmax(mx, fabs(x[i]));
    }
    *mean = s / n;
    *std = sqrt(fmax(ss / n - *mean * *mean, 0));
    *maxabs = mx;
}

static const float *tensor(const gt_nn_model *m, const char *name, size_t *n)
{
    int i = params_find(&m->params, name);
    CHECK_MSG(i >= 0, "%s missing", name);
    *n = i >= 0 ? m->params.tensors[i].numel : 0;
    return i >= 0 ? params_data(&m->params, i) : NULL;
}

/* Initial weights follow HF's _init_weights: bert normal(0, 0.02) with a zero
 * padding row; modernbert truncated at 2 std, output projections scaled by
 * 1/sqrt(2 layers), classifier dim^-0.5; LayerNorm gains 1, biases 0. The
 * standard deviation of a normal truncated at +-2 std is 0.880 std. */
static void test_model_train_initial_weights(void)
{
    gt_nn_config c;
    gt_nn_config_default(&c, GT_NN_BERT);
    c.layers = 2, c.dim = 128, c.heads = 2, c.ffn = 256, c.vocab = 500, c.max_len = 64;
    gt_nn_model *m = tiny_model(&c, 5);
    double mean, std, mx;
    size_t n;
    const float *w = tensor(m, "bert.encoder.layer.1.intermediate.dense.weight", &n);
    moments(w, n, &mean, &std, &mx);
    CHECK_NEAR(mean, 0, 0.001);
    CHECK_NEAR(std, 0.02, 0.0005);
    w = tensor(m, "bert.embeddings.word_embeddings.weight", &n);
    for (int k = 0; k < c.dim; k++)
        CHECK(w[k] == 0.0f);   /* pad id 0 */
    moments(w + c.dim, n - c.dim, &mean, &std, &mx);
    CHECK_NEAR(std, 0.02, 0.0005);
    w = tensor(m, "bert.encoder.layer.0.attention.output.LayerNorm.weight", &n);
    moments(w, n, &mean, &std, &mx);
    CHECK(mean == 1.0 && std == 0.0);
    w = tensor(m, "bert.encoder.layer.0.attention.self.qkv.bias", &n);
    moments(w, n, &mean, &std, &mx);
    CHECK(mx == 0.0);
    gt_nn_model_free(m);

    gt_nn_config_default(&c, GT_NN_MODERNBERT);
    c.layers = 8, c.dim = 128, c.heads = 2, c.ffn = 256, c.vocab = 500, c.max_len = 64;
    m = tiny_model(&c, 5);
    struct {
        const char *name;
        double std;
    } cases[] = {{"model.layers.3.attn.Wqkv.weight", 0.02}, {"model.layers.3.mlp.Wi.weight", 0.02},
                 {"model.embeddings.tok_embeddings.weight", 0.02}, {"model.layers.3.attn.Wo.weight", 0.005},
                 {"model.layers.5.mlp.Wo.weight", 0.005}, {"head.dense.weight", 0.005}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        w = tensor(m, cases[i].name, &n);
        moments(w, n, &mean, &std, &mx);
        CHECK_MSG(fabs(std - 0.880 * cases[i].std) < 0.04 * cases[i].std, "%s: std %g, expected %g", cases[i].name,
                  std, 0.880 * cases[i].std);
        CHECK_MSG(mx <= 2.0 * cases[i].std * (1 + 1e-6) && mx > 1.9 * cases[i].std, "%s: max %g", cases[i].name, mx);
    }
    w = tensor(m, "classifier.weight", &n);
    moments(w, n, &mean, &std, &mx);
    CHECK(mx <= 2.0 / sqrt(128.0) * (1 + 1e-6));
    CHECK_NEAR(std, 0.880 / sqrt(128.0), 0.1 / sqrt(128.0));
    w = tensor(m, "model.final_norm.weight", &n);
    moments(w, n, &mean, &std, &mx);
    CHECK(mean == 1.0 && std == 0.0);
    CHECK(params_find(&m->params, "model.layers.0.attn_norm.weight") < 0);
    CHECK(params_find(&m->params, "model.layers.1.attn_norm.weight") >= 0);
    gt_nn_model_free(m);
}

/* Same seed and thread count: bit-identical losses, dropout included. */
static void test_model_train_deterministic(void)
{
    for (int arch = 0; arch < 2; arch++) {
        gt_nn_config c = tiny_config((gt_nn_arch)arch);
        c.drop_embedding = c.drop_attn_out = c.drop_ffn = c.drop_classifier = 0.1f;
        batch x = make_batch(&c, 3);
        float losses[3][4];
        uint64_t seeds[3] = {42, 42, 43};
        for (int run = 0; run < 3; run++) {
            gt_nn_model *m = tiny_model(&c, seeds[run]);
            for (int s = 0; s < 4; s++)
                train_step(m, &x, &losses[run][s]);
            gt_nn_model_free(m);
        }
        CHECK_MSG(memcmp(losses[0], losses[1], sizeof losses[0]) == 0, "%s: same seed, different losses",
                  gt_nn_arch_name(c.arch));
        CHECK_MSG(memcmp(losses[0], losses[2], sizeof losses[0]) != 0, "%s: another seed, the same losses",
                  gt_nn_arch_name(c.arch));
    }
}

/* Once the first steps have made primitives, packed weights and optimizer
 * state, training and inference steps allocate nothing. */
static void test_model_train_no_allocation_in_steps(void)
{
    gt_nn_config c = tiny_config(GT_NN_BERT);
    c.drop_ffn = 0.1f;
    gt_nn_model *m = tiny_model(&c, 1);
    batch x = make_batch(&c, 4);
    float loss, logits[B * 3];
    gt_error err = {0};
    gt_nn_options opt = {.fused = 1};
    CHECK(gt_nn_model_set_options(m, &opt, &err) == GT_OK);
    for (int i = 0; i < 2; i++) {
        train_step(m, &x, &loss);
        CHECK(gt_nn_infer(m, x.ids, x.valid, B, T, logits, &err) == GT_OK);
    }
    long before = nn_alloc_count();
    for (int i = 0; i < 3; i++) {
        train_step(m, &x, &loss);
        CHECK(gt_nn_infer(m, x.ids, x.valid, B, T, logits, &err) == GT_OK);
    }
    CHECK_EQ_INT(nn_alloc_count() - before, 0);
    gt_nn_model_info info;
    gt_nn_model_info_get(m, &info);
    CHECK(info.arena_peak > 0 && info.arena_peak <= info.arena_bytes);
    CHECK(info.optimizer_bytes == 2 * info.grad_bytes);
    gt_nn_model_free(m);
}

/* Two backward passes of half the loss give the gradients of one full pass. */
static void test_model_train_gradient_accumulation(void)
{
    gt_nn_config c = tiny_config(GT_NN_MODERNBERT);
    gt_nn_model *m = tiny_model(&c, 1);
    randomize_weights(m, 2);
    batch x = make_batch(&c, 5);
    gt_error err = {0};
    size_t n = m->params.grad_floats;
    float *once = malloc(n * sizeof *once);
    gt_nn_zero_grad(m);
    CHECK(gt_nn_forward(m, x.ids, x.valid, x.labels, B, T, NULL, NULL, &err) == GT_OK);
    CHECK(gt_nn_backward(m, 1.0f, &err) == GT_OK);
    memcpy(once, m->params.grad, n * sizeof *once);
    gt_nn_zero_grad(m);
    for (int k = 0; k < 2; k++) {
        CHECK(gt_nn_forward(m, x.ids, x.valid, x.labels, B, T, NULL, NULL, &err) == GT_OK);
        CHECK(gt_nn_backward(m, 0.5f, &err) == GT_OK);
    }
    CHECK_NEAR(scaled_diff(m->params.grad, once, n), 0, 1e-6);
    /* a second backward without a forward is refused, not accumulated twice */
    CHECK(gt_nn_backward(m, 1.0f, &err) == GT_ERR_INVALID);
    CHECK_MSG(strstr(err.message, "gt_nn_forward first") != NULL, "%s", err.message);
    free(once);
    gt_nn_model_free(m);
}

/* The inference path (no backward state, packed weights, fused epilogues)
 * computes what an eval-mode training forward does, and the fused attention
 * kernel what the straightforward one does. */
static void test_model_train_paths_agree(void)
{
    for (int arch = 0; arch < 2; arch++) {
        gt_nn_config c = tiny_config((gt_nn_arch)arch);
        c.drop_ffn = 0.2f;
        gt_nn_model *m = tiny_model(&c, 1);
        randomize_weights(m, 6);
        batch x = make_batch(&c, 7);
        gt_error err = {0};
        float eval[B * 3], infer[B * 3], fused[B * 3], trained[B * 3];
        gt_nn_model_set_training(m, 0);
        CHECK(gt_nn_forward(m, x.ids, x.valid, x.labels, B, T, eval, NULL, &err) == GT_OK);
        CHECK(gt_nn_infer(m, x.ids, x.valid, B, T, infer, &err) == GT_OK);
        CHECK_NEAR(scaled_diff(infer, eval, B * 3), 0, 1e-6);
        gt_nn_options opt = {.attention = GT_NN_ATTN_FUSED, .fused = 1};
        CHECK(gt_nn_model_set_options(m, &opt, &err) == GT_OK);
        CHECK(gt_nn_infer(m, x.ids, x.valid, B, T, fused, &err) == GT_OK);
        CHECK_NEAR(scaled_diff(fused, eval, B * 3), 0, 1e-5);
        /* training mode applies dropout: different logits */
        gt_nn_model_set_training(m, 1);
        CHECK(gt_nn_forward(m, x.ids, x.valid, x.labels, B, T, trained, NULL, &err) == GT_OK);
        CHECK(scaled_diff(trained, eval, B * 3) > 1e-3);
        gt_nn_model_free(m);
    }
}

/* The activation kept with its slope is the activation; the slope gives activation_backward's gradient. */
static void test_model_train_activation_slope(void)
{
    enum { N = 1000 };
    float x[N], y[N], y2[N], dy[N], dx[N], dx2[N], slope[N];
    gc_rng rng = {3};
    gc_fill(&rng, x, N, -6.0f, 6.0f);
    gc_fill(&rng, dy, N, -1.0f, 1.0f);
    for (int k = 0; k < 3; k++) {
        activation_forward(y, x, N, (activation_kind)k);
        activation_backward(dx, x, dy, N, (activation_kind)k);
        memcpy(slope, x, sizeof x);
        activation_forward_slope(y2, slope, slope, N, (activation_kind)k);
        activation_backward_slope(dx2, slope, dy, N);
        CHECK(memcmp(y, y2, sizeof y) == 0);
        CHECK(memcmp(dx, dx2, sizeof dx) == 0);
    }
}

/* The dropout before a residual add, in one pass, is dropout then the add:
 * the same mask, the same values up to the one rounding a fused
 * multiply-add saves. */
static void test_model_train_dropout_residual(void)
{
    enum { N = 5000 };
    static float x[N], r[N], y[N], y2[N];
    static uint8_t mask[N], mask2[N];
    gc_rng rng = {4};
    gc_fill(&rng, x, N, -2.0f, 2.0f);
    gc_fill(&rng, r, N, -2.0f, 2.0f);
    float probs[] = {0.0f, 0.1f, 0.5f};
    for (int k = 0; k < 3; k++) {
        dropout_forward(y, mask, x, N, probs[k], 77, 1000);
        residual_forward(y, y, r, N);
        dropout_residual_forward(y2, mask2, x, r, N, probs[k], 77, 1000);
        CHECK_NEAR(scaled_diff(y2, y, N), 0, 3e-7);
        CHECK(memcmp(mask, mask2, sizeof mask) == 0);
    }
}

/* A few AdamW steps on one batch bring its loss down (both architectures, fp32 and bf16). */
static void test_model_train_learns(void)
{
    for (int arch = 0; arch < 2; arch++) {
        for (int p = 0; p < 2; p++) {
            gt_error err = {0};
            if (p == 1 && gt_nn_check_precision(GT_NN_BF16, NULL, &err) != GT_OK) {
                /* no bf16 instructions: bf16 is refused with a reason instead */
                CHECK_MSG(strstr(err.message, "bf16") != NULL, "%s", err.message);
                continue;
            }
            gt_nn_config c = tiny_config((gt_nn_arch)arch);
            gt_nn_model *m = tiny_model(&c, 1);
            gt_nn_options opt = {.train_precision = (gt_nn_precision)p};
            CHECK(gt_nn_model_set_options(m, &opt, &err) == GT_OK);
            batch x = make_batch(&c, 8);
            float first = 0, loss = 0;
            for (int s = 0; s < 30; s++) {
                train_step(m, &x, &loss);
                if (s == 0)
                    first = loss;
            }
            CHECK_MSG(isfinite(loss) && loss < 0.5f * first, "%s %s: loss %g -> %g", gt_nn_arch_name(c.arch),
                      p ? "bf16" : "fp32", first, loss);
            gt_nn_model_free(m);
        }
    }
}

/* The smallest shapes work: one sequence of one token, then a longer batch
 * (the memory is laid out again), and back. */
static void test_model_train_smallest_shapes(void)
{
    for (int arch = 0; arch < 2; arch++) {
        gt_nn_config c = tiny_config((gt_nn_arch)arch);
        c.pooling = arch ? GT_NN_POOL_MEAN : GT_NN_POOL_CLS;
        gt_nn_model *m = tiny_model(&c, 1);
        gt_error err = {0};
        int32_t one[1] = {5}, label[1] = {2};
        float loss = NAN, logits[3];
        gt_nn_zero_grad(m);
        CHECK_MSG(gt_nn_forward(m, one, NULL, label, 1, 1, logits, &loss, &err) == GT_OK, "%s", err.message);
        CHECK(gt_nn_backward(m, 1.0f, &err) == GT_OK);
        CHECK(isfinite(loss) && isfinite(logits[0]));
        float again[3];
        CHECK(gt_nn_infer(m, one, NULL, 1, 1, again, &err) == GT_OK);
        CHECK_NEAR(scaled_diff(again, logits, 3), 0, 1e-6);
        batch x = make_batch(&c, 2);
        CHECK(train_step(m, &x, &loss) && isfinite(loss));
        CHECK(gt_nn_infer(m, one, NULL, 1, 1, again, &err) == GT_OK && isfinite(again[0]));
        gt_nn_model_free(m);
    }
}

/* Each bad input is one clear error; the model stays usable afterwards. */
static void test_model_train_bad_inputs(void)
{
    gt_nn_config c = tiny_config(GT_NN_BERT);
    gt_nn_model *m = tiny_model(&c, 1);
    batch x = make_batch(&c, 9);
    gt_error err = {0};
    float loss;

    x.ids[T + 4] = 11;
    CHECK(gt_nn_forward(m, x.ids, x.valid, x.labels, B, T, NULL, &loss, &err) == GT_ERR_INVALID);
    CHECK_MSG(strstr(err.message, "token id 11 at [1, 4]: outside the vocabulary [0, 11)"), "%s", err.message);
    x.ids[T + 4] = 1;
    x.labels[2] = 3;
    CHECK(gt_nn_forward(m, x.ids, x.valid, x.labels, B, T, NULL, &loss, &err) == GT_ERR_INVALID);
    CHECK_MSG(strstr(err.message, "label 3 of sequence 2") != NULL, "%s", err.message);
    x.labels[2] = 0;
    x.valid[1] = 0;
    CHECK(gt_nn_forward(m, x.ids, x.valid, x.labels, B, T, NULL, &loss, &err) == GT_ERR_INVALID);
    CHECK_MSG(strstr(err.message, "valid[1] = 0") != NULL, "%s", err.message);
    x.valid[1] = 6;
    CHECK(gt_nn_forward(m, x.ids, x.valid, NULL, B, T, NULL, &loss, &err) == GT_ERR_INVALID);
    CHECK(gt_nn_forward(m, x.ids, x.valid, x.labels, 0, T, NULL, &loss, &err) == GT_ERR_INVALID);

    int32_t long_ids[17] = {0};
    CHECK(gt_nn_infer(m, long_ids, NULL, 1, 17, NULL, &err) == GT_ERR_INVALID);
    CHECK_MSG(strstr(err.message, "seq 17: above the model's 16 positions") != NULL, "%s", err.message);

    gt_nn_options opt = {.train_precision = GT_NN_INT8};
    CHECK(gt_nn_model_set_options(m, &opt, &err) == GT_ERR_INVALID);
    CHECK_MSG(strstr(err.message, "int8: inference only") != NULL, "%s", err.message);

    CHECK(train_step(m, &x, &loss) && isfinite(loss));
    CHECK(gt_nn_step(m, NAN, 0, NULL, &err) == GT_ERR_INVALID);
    gt_nn_model_free(m);
}

/* A shape far beyond the machine's memory is refused before anything is
 * allocated; so is one whose tensors would overflow 32-bit sizes. */
static void test_model_train_absurd_shapes(void)
{
    gt_nn_config c = tiny_config(GT_NN_BERT);
    c.max_len = 4096;
    c.dim = 64;
    c.heads = 2;
    gt_nn_model *m = tiny_model(&c, 1);
    int32_t ids[1] = {1};
    gt_error err = {0};
    /* 100000 x 2 heads x 4096^2 attention probabilities: 13 TB */
    CHECK(gt_nn_forward(m, ids, NULL, ids, 100000, 4096, NULL, NULL, &err) != GT_OK);
    CHECK_MSG(strstr(err.message, "batch 100000 x seq 4096") != NULL, "%s", err.message);
    CHECK_EQ_INT(err.status, GT_ERR_NOMEM);
    /* 20000 x 2 heads x 512^2: 42 GB of probabilities, more than the test machines have */
    CHECK(gt_nn_forward(m, ids, NULL, ids, 20000, 512, NULL, NULL, &err) == GT_ERR_NOMEM);
    CHECK_MSG(strstr(err.message, "GiB") && strstr(err.message, "reduce batch or seq"), "%s", err.message);
    /* the refused shapes left the model working */
    batch x = make_batch(&c, 1);
    float loss;
    CHECK(train_step(m, &x, &loss) && isfinite(loss));
    gt_nn_model_free(m);
}

/* FLOPs per step, counted here from the shapes: linear layers 2 N in out
 * each (x3 for training), attention 4 D per query-key pair and head. */
static void test_model_train_flop_count(void)
{
    gt_nn_config c;
    gt_nn_config_default(&c, GT_NN_BERT);
    c.layers = 4, c.dim = 256, c.heads = 4, c.ffn = 1024, c.vocab = 8192, c.max_len = 256;
    double N = 16.0 * 256;
    double linear = 4 * 2 * N * (256.0 * 768 + 256.0 * 256 + 256.0 * 1024 + 1024.0 * 256) + 2 * 16 * 256.0 * (256 + 2);
    double attention = 4 * 4.0 * 16 * 256 * 256 * 256;
    CHECK_NEAR(gt_nn_step_flops(&c, 16, 256, 1), 3 * (linear + attention), 1);
    CHECK_NEAR(gt_nn_step_flops(&c, 16, 256, 0), linear + attention, 1);
    CHECK(fabs(gt_nn_step_flops(&c, 16, 256, 1) / 1e9 - 90.2) < 0.1);

    /* modernbert: Wi is 2F wide; local layers see |i - j| <= 64 */
    gt_nn_config_default(&c, GT_NN_MODERNBERT);
    c.layers = 3, c.dim = 64, c.heads = 2, c.ffn = 96, c.max_len = 300, c.num_labels = 2;
    int Tm = 300;
    double pairs = 0;
    for (int i = 0; i < Tm; i++)
        for (int j = 0; j < Tm; j++)
            pairs += abs(i - j) <= 64;
    double Nm = 2.0 * Tm;
    double lin = 3 * 2 * Nm * (64.0 * 192 + 64.0 * 64 + 64.0 * 192 + 96.0 * 64) + 2 * 2 * 64.0 * (64 + 2);
    double att = 4.0 * 2 * 64 * ((double)Tm * Tm + 2 * pairs);
    CHECK_NEAR(gt_nn_step_flops(&c, 2, Tm, 0), lin + att, 1);
}

int main(void)
{
    gt_nn_set_threads(2, NULL);
    RUN(test_model_train_initial_weights);
    RUN(test_model_train_deterministic);
    RUN(test_model_train_no_allocation_in_steps);
    RUN(test_model_train_gradient_accumulation);
    RUN(test_model_train_paths_agree);
    RUN(test_model_train_activation_slope);
    RUN(test_model_train_dropout_residual);
    RUN(test_model_train_learns);
    RUN(test_model_train_smallest_shapes);
    RUN(test_model_train_bad_inputs);
    RUN(test_model_train_absurd_shapes);
    RUN(test_model_train_flop_count);
    return test_summary();
}
