/* GFLOP/s of the engine's linear layers at the reference model's shapes
 * (B*T = 4096 rows; dim 256, ffn 1024: qkv 256->768, out 256->256, up
 * 256->1024, down 1024->256), forward and backward, in fp32, bf16 and int8,
 * next to the machine's measured matmul peak (gt_nn_gemm_peak, cached).
 *
 *   bench_matmul [--threads T] [--rows N] [--seconds S]
 *
 * Backward is dx = dy W plus dW += dy^T x plus db (4 N in out FLOPs). Each
 * figure is the fastest call in --seconds (default 0.3). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "greentune/nn.h"
#include "nn/arena.h"
#include "nn/linear.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static float *filled(size_t n, float scale)
{
    float *p = nn_alloc(n * sizeof(float));
    for (size_t i = 0; p && i < n; i++)
        p[i] = scale * (float)((int)(i * 2654435761u % 2001u) - 1000) / 1000.0f;
    return p;
}

typedef struct {
    mm_ctx *mm;
    linear_weight *w;
    float *x, *y, *b, *dy, *dx, *dw, *db;
    bf16 *xb;
    int N;
    gt_nn_precision p;
} bench_case;

static gt_status run_forward(bench_case *c)
{
    return linear_forward(c->mm, c->y, c->x, c->xb, c->w, c->b, c->N, c->p, NULL);
}

static gt_status run_backward(bench_case *c)
{
    return linear_backward(c->mm, c->dx, c->dw, c->db, c->dy, c->x, c->xb, c->w, c->N, 0, c->p, NULL);
}

/* GFLOP/s of the fastest of the calls made in `seconds` (after two warm-up
 * calls): the machine is shared, and other work only ever slows a call down.
 * 0 on error. */
static double timed(gt_status (*fn)(bench_case *), bench_case *c, double flops, double seconds)
{
    for (int i = 0; i < 2; i++)
        if (fn(c) != GT_OK)
            return 0.0;
    double start = now_s(), best = 1e30;
    while (now_s() - start < seconds) {
        double t0 = now_s();
        fn(c);
        double elapsed = now_s() - t0;
        best = elapsed < best ? elapsed : best;
    }
    return flops / best / 1e9;
}

int main(int argc, char **argv)
{
    int threads = 2, rows = 4096;
    double seconds = 0.3;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--threads"))
            threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--rows"))
            rows = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--seconds"))
            seconds = atof(argv[i + 1]);
        else {
            fprintf(stderr, "usage: bench_matmul [--threads T] [--rows N] [--seconds S]\n");
            return 2;
        }
    }
    gt_error err = {0};
    if (rows < 1 || gt_nn_set_threads(threads, &err) != GT_OK) {
        fprintf(stderr, "bench_matmul: %s\n", rows < 1 ? "--rows must be positive" : err.message);
        return 2;
    }
    mm_ctx *mm;
    if (mm_ctx_create(&mm, &err) != GT_OK) {
        fprintf(stderr, "bench_matmul: %s\n", err.message);
        return 1;
    }
    static const int shapes[][2] = {{256, 768}, {256, 256}, {256, 1024}, {1024, 256}};
    printf("linear layers, %d rows, %d threads (GFLOP/s of the fastest call; %% of the measured peak)\n", rows,
           threads);
    uint64_t epoch = 1;
    for (int p = 0; p < GT_NN_PRECISIONS; p++) {
        gt_nn_precision prec = (gt_nn_precision)p;
        gt_nn_peak peak;
        if (gt_nn_check_precision(prec, NULL, &err) != GT_OK ||
            gt_nn_gemm_peak(prec, threads, NULL, &peak, &err) != GT_OK) {
            printf("%s: %s\n", gt_nn_precision_name(prec), err.message);
            continue;
        }
        printf("%s peak %.0f GFLOP/s (%s%s)\n", gt_nn_precision_name(prec), peak.gflops, peak.impl,
               peak.cached ? ", cached" : "");
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            int in = shapes[s][0], out = shapes[s][1];
            linear_weight w;
            float *wdata = filled((size_t)out * in, 0.05f);
            linear_weight_init(&w, wdata, out, in, &epoch);
            bench_case c = {.mm = mm, .w = &w, .N = rows, .p = prec};
            c.x = filled((size_t)rows * in, 1.0f);
            c.dy = filled((size_t)rows * out, 1.0f);
            c.b = filled(out, 0.1f);
            c.y = nn_alloc((size_t)rows * out * sizeof(float));
            c.dx = nn_alloc((size_t)rows * in * sizeof(float));
            c.dw = nn_alloc((size_t)out * in * sizeof(float));
            c.db = nn_alloc((size_t)out * sizeof(float));
            c.xb = nn_alloc((size_t)rows * in * sizeof(bf16));
            double f = linear_forward_flops(rows, in, out);
            double fwd = timed(run_forward, &c, f, seconds);
            double bwd = prec == GT_NN_INT8 ? 0.0 : timed(run_backward, &c, 2 * f, seconds);
            printf("  %4d -> %-4d  forward %6.0f (%3.0f%%)", in, out, fwd, 100 * fwd / peak.gflops);
            if (prec != GT_NN_INT8)
                printf("   backward %6.0f (%3.0f%%)", bwd, 100 * bwd / peak.gflops);
            printf("\n");
            if (mm_ctx_error(mm)) {
                printf("  error: %s\n", mm_ctx_error(mm)->message);
                mm_ctx_clear_error(mm);
            }
            linear_weight_free(&w);
            nn_free(wdata), nn_free(c.x), nn_free(c.dy), nn_free(c.b), nn_free(c.y), nn_free(c.dx);
            nn_free(c.dw), nn_free(c.db), nn_free(c.xb);
        }
    }
    /* The kernels oneDNN picked for the three matmuls of a training step, and for int8 inference. */
    for (int t = 0; t < 2; t++) {
        mm_type ty = t ? MM_BF16 : MM_F32;
        mm_desc fwd = {.M = rows, .K = 256, .N = 768, .a = ty, .b = ty, .b_trans = 1, .bias = 1};
        mm_desc dx = {.M = rows, .K = 768, .N = 256, .a = ty, .b = ty};
        mm_desc dw = {.M = 768, .K = rows, .N = 256, .a = ty, .b = ty, .a_trans = 1, .accumulate = 1};
        const char *i1 = mm_impl(mm, &fwd, NULL), *i2 = mm_impl(mm, &dx, NULL), *i3 = mm_impl(mm, &dw, NULL);
        printf("%s kernels: forward %s, dx %s, dW %s\n", t ? "bf16" : "fp32", i1 ? i1 : "-", i2 ? i2 : "-",
               i3 ? i3 : "-");
    }
    mm_desc q = {.M = rows, .K = 256, .N = 768, .a = MM_S8, .b = MM_S8, .b_trans = 1, .bias = 1, .scaled = 1,
                 .b_packed = 1};
    const char *iq = mm_impl(mm, &q, NULL);
    printf("int8 kernel: forward %s\n", iq ? iq : "-");
    mm_ctx_destroy(mm);
    return 0;
}
