/* Times each nn op, forward + backward, at the engine's reference shape
 * (B=16, T=256, C=256, H=4, F=1024, vocab 8192) and prints the time, the memory
 * traffic rate (elementwise and row ops, which are memory-bound) or the
 * arithmetic rate (attention), and what one BERT-style layer's ops add up to.
 *
 *   build/bench_ops [runs]      threads: OMP_NUM_THREADS (default: all cores)
 *
 * Bytes are the tensors each pass must read and write once (4 bytes a float);
 * attention FLOPs are the dense count 12 B H T^2 D (2 products forward, 4
 * backward), also for the fused version, which recomputes one more, and for
 * windowed attention, which skips blocks (its rate is "dense-equivalent"). */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nn/ops.h"

enum { B = 16, T = 256, C = 256, H = 4, D = C / H, F = 1024, V = 8192, N = B * T };

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static float *buffer(long n)
{
    float *p = malloc(sizeof(float) * (size_t)n);
    if (!p) {
        fprintf(stderr, "bench_ops: out of memory (%ld floats)\n", n);
        exit(1);
    }
    for (long i = 0; i < n; i++)
        p[i] = (float)((i * 2654435761u) % 2001) / 1000.0f - 1.0f; /* [-1, 1], no denormals */
    return p;
}

/* All tensors of the benchmark, allocated once. */
static struct {
    float *x, *y, *dx, *dy, *x2, *dx2, *w, *b, *dw, *db, *mean, *rstd, *ln_scratch;
    float *table, *dtable, *positions, *dpositions, *cos, *sin;
    float *qkv, *dqkv, *out, *dout, *probs, *lse, *att_scratch, *fused_scratch;
    float *logits, *dlogits, *ce_probs, *losses;
    uint8_t *mask;
    int32_t *ids, *valid, *labels;
} t;

static int repeats = 5;
static attention_shape shape = {B, T, H, D, 0, 0.125f, 0};

static void op_embedding(void)
{
    embedding_forward(t.y, t.ids, t.table, N, C);
    embedding_backward(t.dtable, t.dy, t.ids, N, C);
}

static void op_positions(void)
{
    position_embedding_forward(t.y, t.positions, B, T, C);
    position_embedding_backward(t.dpositions, t.dy, B, T, C);
}

static void op_rope(void)
{
    rope_forward(t.qkv, t.cos, t.sin, B, T, 2 * H, D, 3 * C);
    rope_backward(t.dqkv, t.cos, t.sin, B, T, 2 * H, D, 3 * C);
}

static void op_layernorm(void)
{
    layernorm_forward(t.y, t.mean, t.rstd, t.x, t.w, t.b, N, C, 1e-12f);
    layernorm_backward(t.dx, t.dw, t.db, t.dy, t.x, t.w, t.mean, t.rstd, t.ln_scratch, N, C);
}

static void op_gelu_erf(void)
{
    activation_forward(t.x2, t.dx2, (long)N * F, ACTIVATION_GELU_ERF);
    activation_backward(t.dx2, t.dx2, t.x2, (long)N * F, ACTIVATION_GELU_ERF);
}

static void op_gelu_tanh(void)
{
    activation_forward(t.x2, t.dx2, (long)N * F, ACTIVATION_GELU_TANH);
    activation_backward(t.dx2, t.dx2, t.x2, (long)N * F, ACTIVATION_GELU_TANH);
}

static void op_geglu(void)
{
    geglu_forward(t.x2, t.dx2, N, F / 2, ACTIVATION_GELU_ERF);
    geglu_backward(t.dx2, t.dx2, t.x2, N, F / 2, ACTIVATION_GELU_ERF);
}

static void op_residual(void)
{
    residual_forward(t.y, t.x, t.dy, (long)N * C);
    residual_backward(t.dx, t.dw, t.dy, (long)N * C);
}

static void op_dropout(void)
{
    dropout_forward(t.y, t.mask, t.x, (long)N * C, 0.1f, 1, 0);
    dropout_backward(t.dx, t.mask, t.dy, (long)N * C, 0.1f);
}

static void op_attention(void)
{
    attention_forward(t.out, t.probs, t.qkv, t.valid, t.att_scratch, shape);
    attention_backward(t.dqkv, t.dout, t.qkv, t.probs, t.valid, t.att_scratch, shape);
}

static void op_fused_attention(void)
{
    fused_attention_forward(t.out, t.lse, t.qkv, t.valid, t.fused_scratch, shape);
    fused_attention_backward(t.dqkv, t.dout, t.out, t.qkv, t.lse, t.valid, t.fused_scratch, shape);
}

static void op_mean_pool(void)
{
    mean_pool_forward(t.y, t.x, t.valid, B, T, C);
    mean_pool_backward(t.dx, t.dy, t.valid, B, T, C);
}

static void op_cross_entropy(void)
{
    cross_entropy_forward(t.losses, t.ce_probs, t.logits, t.labels, N, V);
    cross_entropy_backward(t.dlogits, t.ce_probs, t.labels, N, V, 1.0f / N);
}

/* Best and median of `repeats` timed runs after one warm-up, in seconds. On
 * a shared machine the best is the op's own speed; the median says how much
 * the neighbours took. */
static double time_op(void (*op)(void), double *median)
{
    double times[64];
    int n = repeats < 64 ? repeats : 64;
    op();
    for (int r = 0; r < n; r++) {
        double t0 = now();
        op();
        times[r] = now() - t0;
    }
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && times[j] < times[j - 1]; j--) {
            double tmp = times[j];
            times[j] = times[j - 1];
            times[j - 1] = tmp;
        }
    *median = times[n / 2];
    return times[0];
}

/* Prints one row (rate from the best time); bytes > 0 gives GB/s, flops > 0
 * GFLOP/s. Returns the best time in ms. */
static double report(const char *name, void (*op)(void), double bytes, double flops)
{
    double median, s = time_op(op, &median);
    if (flops > 0)
        printf("%-36s %9.3f %9.3f %9.1f GFLOP/s\n", name, 1e3 * s, 1e3 * median, flops / s / 1e9);
    else
        printf("%-36s %9.3f %9.3f %9.1f GB/s\n", name, 1e3 * s, 1e3 * median, bytes / s / 1e9);
    return 1e3 * s;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        repeats = atoi(argv[1]) > 0 ? atoi(argv[1]) : 5;
    long nc = (long)N * C, nf = (long)N * F;
    t.x = buffer(nc), t.y = buffer(nc), t.dx = buffer(nc), t.dy = buffer(nc);
    t.x2 = buffer(nf), t.dx2 = buffer(nf);
    t.w = buffer(C), t.b = buffer(C), t.dw = buffer(nc), t.db = buffer(C);
    t.mean = buffer(N), t.rstd = buffer(N), t.ln_scratch = buffer(layernorm_scratch_floats(C));
    t.table = buffer((long)V * C), t.dtable = buffer((long)V * C);
    t.positions = buffer((long)T * C), t.dpositions = buffer((long)T * C);
    t.cos = buffer((long)T * D / 2), t.sin = buffer((long)T * D / 2);
    rope_tables(t.cos, t.sin, T, D, 10000.0);
    t.qkv = buffer(3 * nc), t.dqkv = buffer(3 * nc), t.out = buffer(nc), t.dout = buffer(nc);
    t.probs = buffer((long)B * H * T * T), t.lse = buffer((long)B * H * T);
    t.att_scratch = buffer(attention_scratch_floats(shape));
    t.fused_scratch = buffer(fused_attention_scratch_floats(shape));
    t.logits = buffer((long)N * V), t.dlogits = buffer((long)N * V), t.ce_probs = buffer((long)N * V);
    t.losses = buffer(N);
    t.mask = malloc(nc);
    t.ids = malloc(sizeof(int32_t) * N), t.valid = malloc(sizeof(int32_t) * B), t.labels = malloc(sizeof(int32_t) * N);
    if (!t.mask || !t.ids || !t.valid || !t.labels) {
        fprintf(stderr, "bench_ops: out of memory\n");
        return 1;
    }
    for (int i = 0; i < N; i++) {
        t.ids[i] = (int32_t)((i * 7919L) % V);
        t.labels[i] = (int32_t)((i * 31L) % V);
    }
    for (int b = 0; b < B; b++)
        t.valid[b] = T;

    printf("bench_ops: B=%d T=%d C=%d H=%d D=%d F=%d vocab=%d, %d threads, %d runs\n", B, T, C, H, D, F, V,
           omp_get_max_threads(), repeats);
    printf("%-36s %9s %9s %9s\n", "op (forward + backward)", "best ms", "median", "rate");
    double fl = 12.0 * B * H * (double)T * T * D;
    double ms_attention = report("attention (straightforward)", op_attention, 0, fl);
    double ms_fused = report("fused_attention", op_fused_attention, 0, fl);
    shape.window = 128;
    double ms_local = report("fused_attention window 128", op_fused_attention, 0, fl);
    report("attention window 128", op_attention, 0, fl);
    shape.window = 0;
    double ms_ln = report("layernorm", op_layernorm, 4.0 * (2 * nc + 4 * nc), 0);
    double ms_gelu = report("gelu erf (N x F)", op_gelu_erf, 4.0 * (2 * nf + 3 * nf), 0);
    report("gelu tanh (N x F)", op_gelu_tanh, 4.0 * (2 * nf + 3 * nf), 0);
    double ms_geglu = report("geglu erf (N x 2F/2 -> F/2)", op_geglu, 4.0 * (1.5 * nf + 2.5 * nf), 0);
    double ms_res = report("residual", op_residual, 4.0 * (3 * nc + 4 * nc), 0);
    double ms_drop = report("dropout p=0.1", op_dropout, 4.0 * (2 * nc + 2 * nc) + 2.0 * nc, 0);
    double ms_rope = report("rope (q and k)", op_rope, 4.0 * (4 * 2 * nc), 0);
    report("embedding (vocab 8192)", op_embedding, 4.0 * (2 * nc + 3 * nc), 0);
    report("position embedding", op_positions, 4.0 * (2 * nc + nc), 0);
    report("mean pool", op_mean_pool, 4.0 * (nc + nc), 0);
    report("cross_entropy (N x vocab, MLM-size)", op_cross_entropy, 4.0 * 3 * (double)N * V, 0);

    /* A bert layer: attention, 2 layernorms, GELU, 2 residuals, 3 dropouts.
     * A modernbert layer: attention (1/3 global, 2/3 window 128), RoPE,
     * 2 layernorms, GeGLU (over F), 2 residuals. */
    printf("per bert layer (ops only, best times): %.1f ms with straightforward attention, %.1f ms fused\n",
           ms_attention + 2 * ms_ln + ms_gelu + 2 * ms_res + 3 * ms_drop,
           ms_fused + 2 * ms_ln + ms_gelu + 2 * ms_res + 3 * ms_drop);
    printf("per modernbert layer (ops only, best times, fused attention): %.1f ms\n",
           (ms_fused + 2 * ms_local) / 3 + ms_rope + 2 * ms_ln + 2 * ms_geglu + 2 * ms_res);
    return 0;
}
