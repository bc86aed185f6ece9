/* Finite-difference gradient checks of the row-wise ops: embeddings, learned
 * positions, RoPE, LayerNorm with and without bias, CLS and mean pooling with
 * padding, and softmax cross-entropy. */
#include <math.h>
#include <stdlib.h>

#include "gradcheck.h"
#include "nn/ops.h"
#include "test_support.h"

enum { B = 3, T = 5, C = 8, V = 7, H = 2, D = 6, L = 5 };

typedef struct {
    int32_t ids[B * T];
    int32_t valid[B];
    int32_t labels[B];
    float mean[B * T], rstd[B * T];
    float scratch[2 * 64 * C];
    float cos[T * D / 2], sin[T * D / 2];
    float probs[B * L], losses[B];
    int has_bias;
    float *x_work;
} rows_ctx;

/* Allocates inputs of the given sizes filled with uniform values in [-1, 1]
 * (scaled), an output and its upstream; runs the check; frees everything. */
static void check(const char *what, gc_op *op, uint64_t seed, float scale)
{
    gc_rng rng = {seed};
    for (int i = 0; i < op->n_inputs; i++) {
        op->inputs[i] = gc_floats(op->sizes[i]);
        gc_fill(&rng, op->inputs[i], op->sizes[i], -scale, scale);
    }
    op->out = gc_floats(op->out_n);
    op->upstream = gc_floats(op->out_n);
    CHECK(gc_check_op(what, op, gc_default_tolerance(), seed + 1) <= 1.0);
    for (int i = 0; i < op->n_inputs; i++)
        free(op->inputs[i]);
    free(op->out);
    free(op->upstream);
}

/* Token ids repeat (V < B*T), so dtable rows collect several tokens. */
static void embedding_fwd(gc_op *op)
{
    rows_ctx *c = op->ctx;
    embedding_forward(op->out, c->ids, op->inputs[0], B * T, C);
}

static void embedding_bwd(gc_op *op, float **g)
{
    rows_ctx *c = op->ctx;
    embedding_backward(g[0], op->upstream, c->ids, B * T, C);
}

static void test_embedding_gradient(void)
{
    rows_ctx ctx = {0};
    for (int i = 0; i < B * T; i++)
        ctx.ids[i] = (i * 5 + 2) % V;
    gc_op op = {.n_inputs = 1, .sizes = {V * C}, .names = {"table"}, .accumulates = {1}, .out_n = B * T * C,
                .forward = embedding_fwd, .backward = embedding_bwd, .ctx = &ctx};
    check("embedding", &op, 100, 1.0f);
}

/* The table has more rows (T + 2) than are used: unused rows get no gradient. */
static void positions_fwd(gc_op *op)
{
    for (long i = 0; i < op->out_n; i++)
        op->out[i] = op->inputs[0][i];
    position_embedding_forward(op->out, op->inputs[1], B, T, C);
}

static void positions_bwd(gc_op *op, float **g)
{
    for (long i = 0; i < op->out_n; i++)
        g[0][i] = op->upstream[i];
    position_embedding_backward(g[1], op->upstream, B, T, C);
}

static void test_position_embedding_gradient(void)
{
    gc_op op = {.n_inputs = 2, .sizes = {B * T * C, (T + 2) * C}, .names = {"x", "positions"},
                .accumulates = {0, 1}, .out_n = B * T * C, .forward = positions_fwd, .backward = positions_bwd};
    check("position_embedding", &op, 110, 1.0f);
}

/* RoPE rotates in place: the forward copies x into the output first. Heads
 * sit inside rows of stride 3*H*D like q in a packed qkv buffer; the rest of
 * each row must stay untouched. */
static void rope_fwd(gc_op *op)
{
    rows_ctx *c = op->ctx;
    for (long i = 0; i < op->out_n; i++)
        op->out[i] = op->inputs[0][i];
    rope_forward(op->out, c->cos, c->sin, B, T, H, D, 3 * H * D);
}

static void rope_bwd(gc_op *op, float **g)
{
    rows_ctx *c = op->ctx;
    for (long i = 0; i < op->out_n; i++)
        g[0][i] = op->upstream[i];
    rope_backward(g[0], c->cos, c->sin, B, T, H, D, 3 * H * D);
}

static void test_rope_gradient(void)
{
    rows_ctx ctx = {0};
    rope_tables(ctx.cos, ctx.sin, T, D, 10000.0);
    gc_op op = {.n_inputs = 1, .sizes = {B * T * 3 * H * D}, .names = {"x"}, .out_n = B * T * 3 * H * D,
                .forward = rope_fwd, .backward = rope_bwd, .ctx = &ctx};
    check("rope", &op, 120, 1.0f);
}

static void layernorm_fwd(gc_op *op)
{
    rows_ctx *c = op->ctx;
    layernorm_forward(op->out, c->mean, c->rstd, op->inputs[0], op->inputs[1], c->has_bias ? op->inputs[2] : NULL,
                      B * T, C, 1e-5f);
}

static void layernorm_bwd(gc_op *op, float **g)
{
    rows_ctx *c = op->ctx;
    layernorm_backward(g[0], g[1], c->has_bias ? g[2] : NULL, op->upstream, op->inputs[0], op->inputs[1], c->mean,
                       c->rstd, c->scratch, B * T, C);
}

static void test_layernorm_gradient(void)
{
    for (int bias = 0; bias <= 1; bias++) {
        rows_ctx ctx = {.has_bias = bias};
        gc_op op = {.n_inputs = 2 + bias, .sizes = {B * T * C, C, C}, .names = {"x", "w", "b"},
                    .accumulates = {0, 1, 1}, .out_n = B * T * C, .forward = layernorm_fwd,
                    .backward = layernorm_bwd, .ctx = &ctx};
        check(bias ? "layernorm (bias)" : "layernorm (no bias)", &op, 130 + bias, 1.0f);
    }
}

static void cls_fwd(gc_op *op)
{
    cls_pool_forward(op->out, op->inputs[0], B, T, C);
}

static void cls_bwd(gc_op *op, float **g)
{
    cls_pool_backward(g[0], op->upstream, B, T, C);
}

static void mean_fwd(gc_op *op)
{
    rows_ctx *c = op->ctx;
    mean_pool_forward(op->out, op->inputs[0], c->valid, B, T, C);
}

static void mean_bwd(gc_op *op, float **g)
{
    rows_ctx *c = op->ctx;
    mean_pool_backward(g[0], op->upstream, c->valid, B, T, C);
}

/* Mean pooling over 5, 2 and 0 real tokens: padding rows get no gradient, and
 * the empty sequence pools to zeros. */
static void test_pooling_gradients(void)
{
    rows_ctx ctx = {.valid = {T, 2, 0}};
    gc_op cls = {.n_inputs = 1, .sizes = {B * T * C}, .names = {"x"}, .accumulates = {1}, .out_n = B * C,
                 .forward = cls_fwd, .backward = cls_bwd};
    check("cls_pool", &cls, 140, 1.0f);
    gc_op mean = {.n_inputs = 1, .sizes = {B * T * C}, .names = {"x"}, .accumulates = {1}, .out_n = B * C,
                  .forward = mean_fwd, .backward = mean_bwd, .ctx = &ctx};
    check("mean_pool", &mean, 141, 1.0f);
}

/* The loss is a scalar; its "output" here is the per-example losses, whose
 * upstream weights play the role of 1/B (backward's scale) per example — so
 * backward is run per example with scale = upstream[b]. */
static void ce_fwd(gc_op *op)
{
    rows_ctx *c = op->ctx;
    cross_entropy_forward(op->out, c->probs, op->inputs[0], c->labels, B, L);
}

static void ce_bwd(gc_op *op, float **g)
{
    rows_ctx *c = op->ctx;
    for (int b = 0; b < B; b++)
        cross_entropy_backward(g[0] + b * L, c->probs + b * L, c->labels + b, 1, L, op->upstream[b]);
}

static void test_cross_entropy_gradient(void)
{
    rows_ctx ctx = {.labels = {0, 4, 2}};
    gc_op op = {.n_inputs = 1, .sizes = {B * L}, .names = {"logits"}, .out_n = B, .forward = ce_fwd,
                .backward = ce_bwd, .ctx = &ctx};
    check("cross_entropy", &op, 150, 3.0f);
}

/* The mean loss is the mean of the per-example losses and its gradient is
 * (probs - onehot) / B; large logits (1e4) do not overflow. */
static void test_cross_entropy_mean_and_stability(void)
{
    float logits[2 * 3] = {1e4f, 0.0f, -1e4f, 2.0f, 2.0f, 2.0f}, losses[2], probs[6], d[6];
    int32_t labels[2] = {1, 2};
    float loss = cross_entropy_forward(losses, probs, logits, labels, 2, 3);
    CHECK_CLOSE(losses[0], 1e4, 1e-6, 0);
    CHECK_CLOSE(losses[1], log(3.0), 1e-6, 0);
    CHECK_CLOSE(loss, (1e4 + log(3.0)) / 2, 1e-6, 0);
    cross_entropy_backward(d, probs, labels, 2, 3, 0.5f);
    CHECK_CLOSE(d[0], 0.5, 1e-6, 0);
    CHECK_CLOSE(d[1], -0.5, 1e-6, 0);
    CHECK_CLOSE(d[5], (1.0 / 3 - 1) * 0.5, 1e-6, 0);
}

int main(void)
{
    RUN(test_embedding_gradient);
    RUN(test_position_embedding_gradient);
    RUN(test_rope_gradient);
    RUN(test_layernorm_gradient);
    RUN(test_pooling_gradients);
    RUN(test_cross_entropy_gradient);
    RUN(test_cross_entropy_mean_and_stability);
    return test_summary();
}
