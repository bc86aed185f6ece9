/* Finite-difference gradient checks of the elementwise ops: GELU (erf, tanh),
 * ReLU, GeGLU with each activation, tanh, residual and dropout. */
#include <stdlib.h>

#include "gradcheck.h"
#include "nn/ops.h"
#include "test_support.h"

enum { N = 6, F = 10, LEN = N * F };

typedef struct {
    activation_kind kind;
    float p; /* dropout */
    uint8_t mask[2 * LEN];
    float y[2 * LEN]; /* saved output (tanh) */
} elementwise_ctx;

/* One op with one input of in_n and an output of out_n elements. */
static void check_unary(const char *what, int in_n, int out_n, elementwise_ctx *ctx,
                        void (*forward)(gc_op *), void (*backward)(gc_op *, float **), uint64_t seed)
{
    gc_rng rng = {seed};
    gc_op op = {.n_inputs = 1, .sizes = {in_n}, .names = {"x"}, .out_n = out_n, .forward = forward,
                .backward = backward, .ctx = ctx};
    op.inputs[0] = gc_floats(in_n);
    op.out = gc_floats(out_n);
    op.upstream = gc_floats(out_n);
    /* Away from ReLU's kink at 0 (the steps go up to 2h = 0.02); the range
     * covers GELU's curved region and both tails. */
    gc_fill_away_from_zero(&rng, op.inputs[0], in_n, -4.0f, 4.0f, 0.05f);
    CHECK(gc_check_op(what, &op, gc_default_tolerance(), seed + 1) <= 1.0);
    free(op.inputs[0]);
    free(op.out);
    free(op.upstream);
}

static void act_fwd(gc_op *op)
{
    elementwise_ctx *c = op->ctx;
    activation_forward(op->out, op->inputs[0], op->out_n, c->kind);
}

static void act_bwd(gc_op *op, float **g)
{
    elementwise_ctx *c = op->ctx;
    activation_backward(g[0], op->inputs[0], op->upstream, op->out_n, c->kind);
}

static void geglu_fwd(gc_op *op)
{
    elementwise_ctx *c = op->ctx;
    geglu_forward(op->out, op->inputs[0], N, F, c->kind);
}

static void geglu_bwd(gc_op *op, float **g)
{
    elementwise_ctx *c = op->ctx;
    geglu_backward(g[0], op->inputs[0], op->upstream, N, F, c->kind);
}

static void test_activation_gradients(void)
{
    const char *names[] = {"gelu_erf", "gelu_tanh", "relu"};
    for (int k = 0; k < 3; k++) {
        elementwise_ctx ctx = {.kind = (activation_kind)k};
        check_unary(names[k], LEN, LEN, &ctx, act_fwd, act_bwd, 10 + k);
    }
}

/* GeGLU: act on the first half of each row, times the second half. */
static void test_geglu_gradients(void)
{
    const char *names[] = {"geglu_erf", "geglu_tanh", "reglu"};
    for (int k = 0; k < 3; k++) {
        elementwise_ctx ctx = {.kind = (activation_kind)k};
        check_unary(names[k], 2 * LEN, LEN, &ctx, geglu_fwd, geglu_bwd, 20 + k);
    }
}

static void tanh_fwd(gc_op *op)
{
    elementwise_ctx *c = op->ctx;
    tanh_forward(op->out, op->inputs[0], op->out_n);
    for (long i = 0; i < op->out_n; i++)
        c->y[i] = op->out[i];
}

static void tanh_bwd(gc_op *op, float **g)
{
    elementwise_ctx *c = op->ctx;
    tanh_backward(g[0], c->y, op->upstream, op->out_n);
}

static void test_tanh_gradient(void)
{
    elementwise_ctx ctx = {0};
    check_unary("tanh", LEN, LEN, &ctx, tanh_fwd, tanh_bwd, 30);
}

/* The same seed and offset give the same mask on every forward call, so the
 * op is linear in x for the finite differences. */
static void dropout_fwd(gc_op *op)
{
    elementwise_ctx *c = op->ctx;
    dropout_forward(op->out, c->mask, op->inputs[0], op->out_n, c->p, 1234, 77);
}

static void dropout_bwd(gc_op *op, float **g)
{
    elementwise_ctx *c = op->ctx;
    dropout_backward(g[0], c->mask, op->upstream, op->out_n, c->p);
}

static void test_dropout_gradient(void)
{
    float ps[] = {0.0f, 0.3f, 1.0f};
    for (int k = 0; k < 3; k++) {
        elementwise_ctx ctx = {.p = ps[k]};
        check_unary("dropout", LEN, LEN, &ctx, dropout_fwd, dropout_bwd, 40 + k);
    }
}

static void residual_fwd(gc_op *op)
{
    residual_forward(op->out, op->inputs[0], op->inputs[1], op->out_n);
}

static void residual_bwd(gc_op *op, float **g)
{
    residual_backward(g[0], g[1], op->upstream, op->out_n);
}

/* Both branches of a residual receive the upstream gradient, added. */
static void test_residual_gradient(void)
{
    gc_rng rng = {50};
    gc_op op = {.n_inputs = 2, .sizes = {LEN, LEN}, .names = {"a", "b"}, .accumulates = {1, 1}, .out_n = LEN,
                .forward = residual_fwd, .backward = residual_bwd};
    op.inputs[0] = gc_floats(LEN);
    op.inputs[1] = gc_floats(LEN);
    op.out = gc_floats(LEN);
    op.upstream = gc_floats(LEN);
    gc_fill(&rng, op.inputs[0], LEN, -1, 1);
    gc_fill(&rng, op.inputs[1], LEN, -1, 1);
    CHECK(gc_check_op("residual", &op, gc_default_tolerance(), 51) <= 1.0);
    for (int i = 0; i < 2; i++)
        free(op.inputs[i]);
    free(op.out);
    free(op.upstream);
}

int main(void)
{
    RUN(test_activation_gradients);
    RUN(test_geglu_gradients);
    RUN(test_tanh_gradient);
    RUN(test_dropout_gradient);
    RUN(test_residual_gradient);
    return test_summary();
}
