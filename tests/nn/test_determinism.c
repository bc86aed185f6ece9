/* Same inputs give bit-identical outputs and gradients: run twice with the
 * same thread count, and (a stronger property the ops are built for, ops.h)
 * with 1 and 3 threads too. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "nn/ops.h"
#include "test_support.h"

enum { B = 3, T = 70, H = 2, D = 24, C = H * D, F = 96, V = 50, L = 5, MAX_RESULTS = 40 };

typedef struct {
    const char *name[MAX_RESULTS];
    float *data[MAX_RESULTS];
    long n[MAX_RESULTS];
    int count;
} results;

static float *keep(results *r, const char *name, long n)
{
    r->name[r->count] = name;
    r->n[r->count] = n;
    return r->data[r->count++] = gc_floats(n);
}

/* Every op forward and backward on fixed pseudo-random inputs. */
static void run_all(results *r, int threads)
{
    omp_set_num_threads(threads);
    gc_rng rng = {7};
    long N = (long)B * T;
    float *x = gc_floats(N * 2 * F), *dy = gc_floats(N * 2 * F), *qkv = gc_floats(N * 3 * C);
    gc_fill(&rng, x, N * 2 * F, -3, 3);
    gc_fill(&rng, dy, N * 2 * F, -1, 1);
    gc_fill(&rng, qkv, N * 3 * C, -2, 2);
    int32_t ids[B * T], valid[B] = {T, 40, 3}, labels[B] = {1, 0, 4};
    for (int i = 0; i < B * T; i++)
        ids[i] = (i * 7) % V;

    float *table = gc_floats((long)V * C), *positions = gc_floats((long)T * C);
    gc_fill(&rng, table, (long)V * C, -1, 1);
    gc_fill(&rng, positions, (long)T * C, -1, 1);
    float *emb = keep(r, "embedding", N * C), *dtable = keep(r, "dtable", (long)V * C);
    embedding_forward(emb, ids, table, (int)N, C);
    position_embedding_forward(emb, positions, B, T, C);
    embedding_backward(dtable, dy, ids, (int)N, C);
    position_embedding_backward(keep(r, "dpositions", (long)T * C), dy, B, T, C);

    float cosb[T * D / 2], sinb[T * D / 2];
    rope_tables(cosb, sinb, T, D, 160000.0);
    float *roped = keep(r, "rope", N * 3 * C);
    memcpy(roped, qkv, sizeof(float) * N * 3 * C);
    rope_forward(roped, cosb, sinb, B, T, 2 * H, D, 3 * C);
    rope_backward(roped, cosb, sinb, B, T, H, D, 3 * C);

    float *mean = gc_floats(N), *rstd = gc_floats(N), *scratch = gc_floats(layernorm_scratch_floats(C));
    float *y = keep(r, "layernorm", N * C);
    layernorm_forward(y, mean, rstd, x, table, table + C, (int)N, C, 1e-5f);
    layernorm_backward(keep(r, "layernorm dx", N * C), keep(r, "layernorm dw", C), keep(r, "layernorm db", C), dy,
                       x, table, mean, rstd, scratch, (int)N, C);

    for (int k = 0; k < 3; k++) {
        activation_forward(keep(r, "activation", N * F), x, N * F, (activation_kind)k);
        activation_backward(keep(r, "activation dx", N * F), x, dy, N * F, (activation_kind)k);
        geglu_forward(keep(r, "geglu", N * F), x, (int)N, F, (activation_kind)k);
        geglu_backward(keep(r, "geglu dx", N * 2 * F), x, dy, (int)N, F, (activation_kind)k);
    }
    tanh_forward(keep(r, "tanh", N), x, N);
    residual_forward(keep(r, "residual", N), x, dy, N);
    uint8_t *mask = gc_alloc(N * F);
    float *dropped = keep(r, "dropout", N * F);
    dropout_forward(dropped, mask, x, N * F, 0.1f, 99, 12345);
    dropout_backward(keep(r, "dropout dx", N * F), mask, dy, N * F, 0.1f);

    for (int window = 0; window <= 20; window += 20) {
        attention_shape s = {B, T, H, D, window, 0.2f, 0};
        float *probs = gc_floats(N * H * T), *lse = gc_floats(N * H);
        float *sa = gc_floats(attention_scratch_floats(s)), *sf = gc_floats(fused_attention_scratch_floats(s));
        float *out = keep(r, "attention", N * C), *fout = keep(r, "fused attention", N * C);
        attention_forward(out, probs, qkv, valid, sa, s);
        attention_backward(keep(r, "attention dqkv", N * 3 * C), dy, qkv, probs, valid, sa, s);
        fused_attention_forward(fout, lse, qkv, valid, sf, s);
        fused_attention_backward(keep(r, "fused attention dqkv", N * 3 * C), dy, fout, qkv, lse, valid, sf, s);
        free(probs);
        free(lse);
        free(sa);
        free(sf);
    }

    mean_pool_forward(keep(r, "mean pool", (long)B * C), x, valid, B, T, C);
    mean_pool_backward(keep(r, "mean pool dx", N * C), dy, valid, B, T, C);
    float *probs = gc_floats((long)B * L), *losses = keep(r, "losses", B);
    *keep(r, "loss", 1) = cross_entropy_forward(losses, probs, x, labels, B, L);
    cross_entropy_backward(keep(r, "dlogits", (long)B * L), probs, labels, B, L, 1.0f / B);

    free(x);
    free(dy);
    free(qkv);
    free(table);
    free(positions);
    free(mean);
    free(rstd);
    free(scratch);
    free(mask);
    free(probs);
}

static void check_identical(const results *a, const results *b, const char *what)
{
    CHECK_EQ_INT(a->count, b->count);
    for (int i = 0; i < a->count && i < b->count; i++)
        CHECK_MSG(memcmp(a->data[i], b->data[i], sizeof(float) * a->n[i]) == 0, "%s: %s (result %d) differs", what,
                  a->name[i], i);
}

static void release(results *r)
{
    for (int i = 0; i < r->count; i++)
        free(r->data[i]);
}

static void test_same_thread_count_is_bit_identical(void)
{
    results a = {0}, b = {0};
    run_all(&a, 2);
    run_all(&b, 2);
    check_identical(&a, &b, "2 threads, twice");
    release(&a);
    release(&b);
}

static void test_thread_count_does_not_change_results(void)
{
    results a = {0}, b = {0};
    run_all(&a, 1);
    run_all(&b, 3);
    check_identical(&a, &b, "1 thread vs 3 threads");
    release(&a);
    release(&b);
}

int main(void)
{
    RUN(test_same_thread_count_is_bit_identical);
    RUN(test_thread_count_does_not_change_results);
    return test_summary();
}
