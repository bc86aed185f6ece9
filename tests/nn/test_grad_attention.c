/* Finite-difference gradient checks of both attention implementations, with
 * padding, sliding windows and fully masked rows. */
#include <math.h>
#include <stdlib.h>

#include "gradcheck.h"
#include "nn/ops.h"
#include "test_support.h"

typedef struct {
    attention_shape s;
    const int32_t *valid;
    int fused;
    float *saved;   /* probs (straightforward) or lse (fused) */
    float *scratch;
} attention_ctx;

static void attention_fwd(gc_op *op)
{
    attention_ctx *c = op->ctx;
    if (c->fused)
        fused_attention_forward(op->out, c->saved, op->inputs[0], c->valid, c->scratch, c->s);
    else
        attention_forward(op->out, c->saved, op->inputs[0], c->valid, c->scratch, c->s);
}

static void attention_bwd(gc_op *op, float **g)
{
    attention_ctx *c = op->ctx;
    if (c->fused)
        fused_attention_backward(g[0], op->upstream, op->out, op->inputs[0], c->saved, c->valid, c->scratch, c->s);
    else
        attention_backward(g[0], op->upstream, op->inputs[0], c->saved, c->valid, c->scratch, c->s);
}

/* Checks both implementations on one configuration, qkv uniform in
 * [-range, range]. */
static void check_attention(const char *what, attention_shape s, const int32_t *valid, float range, gc_tolerance tol,
                            uint64_t seed)
{
    long n = (long)s.B * s.T * s.H * s.D;
    for (int fused = 0; fused <= 1; fused++) {
        gc_rng rng = {seed};
        attention_ctx ctx = {.s = s, .valid = valid, .fused = fused};
        ctx.saved = gc_floats((long)s.B * s.H * s.T * s.T);
        ctx.scratch = gc_floats(fused ? fused_attention_scratch_floats(s) : attention_scratch_floats(s));
        gc_op op = {.n_inputs = 1, .sizes = {3 * n}, .names = {"qkv"}, .out_n = n, .forward = attention_fwd,
                    .backward = attention_bwd, .ctx = &ctx};
        op.inputs[0] = gc_floats(3 * n);
        op.out = gc_floats(n);
        op.upstream = gc_floats(n);
        gc_fill(&rng, op.inputs[0], 3 * n, -range, range);
        char name[128];
        snprintf(name, sizeof name, "%s %s", fused ? "fused_attention" : "attention", what);
        CHECK(gc_check_op(name, &op, tol, seed + 1) <= 1.0);
        free(op.inputs[0]);
        free(op.out);
        free(op.upstream);
        free(ctx.saved);
        free(ctx.scratch);
    }
}

/* Small shapes: qkv in [-1.5, 1.5] with D = 4 gives scores of a few units,
 * softmax far from uniform. */
static void check_small(const char *what, attention_shape s, const int32_t *valid, uint64_t seed)
{
    check_attention(what, s, valid, 1.5f, gc_default_tolerance(), seed);
}

static void test_global_attention_gradient(void)
{
    attention_shape s = {2, 7, 2, 4, 0, 0.5f, 0};
    check_small("global", s, NULL, 200);
}

/* Sequence 1 has 4 real tokens of 7: keys 4..6 are masked for every query. */
static void test_padded_attention_gradient(void)
{
    attention_shape s = {2, 7, 2, 4, 0, 0.5f, 0};
    int32_t valid[2] = {7, 4};
    check_small("padded", s, valid, 210);
}

/* window 4: query i sees keys i-2..i+2, combined with padding. */
static void test_sliding_window_attention_gradient(void)
{
    attention_shape s = {2, 9, 2, 4, 4, 0.5f, 0};
    int32_t valid[2] = {9, 6};
    check_small("window", s, valid, 220);
}

/* An empty sequence and padding queries out of the window's reach of every
 * real token have no allowed key: zero output, zero gradient, no NaN. */
static void test_fully_masked_rows_gradient(void)
{
    attention_shape s = {2, 7, 1, 4, 2, 0.5f, 0};
    int32_t valid[2] = {0, 2};
    check_small("fully masked rows", s, valid, 230);
}

/* Longer than one block of the fused version (64 keys with a window, 128
 * without), D not a multiple of the vector width: the blocked paths are
 * exercised; a sample of elements is checked to keep the run short. Sums over
 * ~100 tokens put more rounding noise in the loss, so the step is larger. */
static void test_multi_block_attention_gradient(void)
{
    gc_tolerance tol = gc_default_tolerance();
    tol.max_checks = 400;
    tol.h = 5e-2;
    attention_shape local = {1, 75, 1, 20, 70, 1.0f / sqrtf(20.0f), 0};
    int32_t valid_local[1] = {71};
    check_attention("multi-block window", local, valid_local, 2.0f, tol, 240);
    attention_shape global = {1, 131, 1, 8, 0, 1.0f / sqrtf(8.0f), 0};
    int32_t valid_global[1] = {130};
    check_attention("multi-block global", global, valid_global, 2.0f, tol, 250);
}

int main(void)
{
    RUN(test_global_attention_gradient);
    RUN(test_padded_attention_gradient);
    RUN(test_sliding_window_attention_gradient);
    RUN(test_fully_masked_rows_gradient);
    RUN(test_multi_block_attention_gradient);
    return test_summary();
}
