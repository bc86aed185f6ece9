#include "gradcheck.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "test_support.h"

gc_tolerance gc_default_tolerance(void)
{
    return (gc_tolerance){.h = 1e-2, .rtol = 1e-3, .atol = 1e-4, .max_checks = 0};
}

/* Central difference with the steps actually representable around x[i]. */
static double central_difference(gc_loss_fn loss, void *ctx, float *x, long i, double h)
{
    float x0 = x[i];
    float xp = (float)(x0 + h), xm = (float)(x0 - h);
    x[i] = xp;
    double lp = loss(ctx);
    x[i] = xm;
    double lm = loss(ctx);
    x[i] = x0;
    return (lp - lm) / ((double)xp - (double)xm);
}

double gc_check(const char *what, gc_loss_fn loss, void *ctx, float *x, const float *grad, long n,
                gc_tolerance tol)
{
    long checks = tol.max_checks > 0 && tol.max_checks < n ? tol.max_checks : n;
    double worst = 0.0;
    int reported = 0;
    for (long c = 0; c < checks; c++) {
        long i = checks == n ? c : c * n / checks;
        double d1 = central_difference(loss, ctx, x, i, tol.h);
        double d2 = central_difference(loss, ctx, x, i, 2.0 * tol.h);
        double numeric = (4.0 * d1 - d2) / 3.0;
        double err = fabs(numeric - grad[i]);
        double ratio = err / (tol.atol + tol.rtol * fabs(numeric));
        if (ratio > worst)
            worst = ratio;
        if (!(ratio <= 1.0) && reported++ < 5)
            test_fail(__FILE__, __LINE__, "%s[%ld]: analytic %.9g, numeric %.9g (|diff| %.3g > %.3g + %.3g * |numeric|)",
                      what, i, grad[i], numeric, err, tol.atol, tol.rtol);
    }
    if (getenv("GC_VERBOSE"))
        fprintf(stderr, "  %-40s %ld elements, worst error / tolerance %.3f\n", what, checks, worst);
    return worst;
}

static double op_loss(void *ctx)
{
    gc_op *op = ctx;
    op->forward(op);
    return gc_dot(op->out, op->upstream, op->out_n);
}

double gc_check_op(const char *what, gc_op *op, gc_tolerance tol, uint64_t seed)
{
    gc_rng rng = {seed};
    float *grads[GC_MAX_INPUTS];
    gc_fill(&rng, op->upstream, op->out_n, -1.0f, 1.0f);
    for (int i = 0; i < op->n_inputs; i++) {
        grads[i] = gc_floats(op->sizes[i]);
        for (long j = 0; j < op->sizes[i]; j++)
            grads[i][j] = op->accumulates[i] ? GC_ACCUMULATE_START : NAN;
    }
    op->forward(op);
    op->backward(op, grads);
    double worst = 0.0;
    for (int i = 0; i < op->n_inputs; i++) {
        char name[128];
        snprintf(name, sizeof name, "%s d%s", what, op->names[i]);
        if (op->accumulates[i])
            for (long j = 0; j < op->sizes[i]; j++)
                grads[i][j] -= GC_ACCUMULATE_START;
        double w = gc_check(name, op_loss, op, op->inputs[i], grads[i], op->sizes[i], tol);
        worst = w > worst ? w : worst;
        free(grads[i]);
    }
    return worst;
}

static uint64_t next64(gc_rng *rng)
{
    uint64_t z = (rng->state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

float gc_uniform(gc_rng *rng, float lo, float hi)
{
    double u = (double)(next64(rng) >> 11) / 9007199254740992.0;
    return (float)(lo + (hi - lo) * u);
}

void gc_fill(gc_rng *rng, float *x, long n, float lo, float hi)
{
    for (long i = 0; i < n; i++)
        x[i] = gc_uniform(rng, lo, hi);
}

void gc_fill_away_from_zero(gc_rng *rng, float *x, long n, float lo, float hi, float gap)
{
    for (long i = 0; i < n; i++) {
        do
            x[i] = gc_uniform(rng, lo, hi);
        while (fabsf(x[i]) < gap);
    }
}

double gc_dot(const float *a, const float *b, long n)
{
    double s = 0.0;
    for (long i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return s;
}

double gc_max_abs(const float *a, long n)
{
    double m = 0.0;
    for (long i = 0; i < n; i++)
        m = fmax(m, fabs(a[i]));
    return m;
}

double gc_max_abs_diff(const float *a, const float *b, long n)
{
    double worst = 0.0;
    for (long i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= worst) && worst == worst)
            worst = d; /* NaN sticks: once worst is NaN, no later number replaces it */
    }
    return worst;
}

void *gc_alloc(long bytes)
{
    void *p = calloc(1, bytes > 0 ? (size_t)bytes : 1);
    if (!p) {
        fprintf(stderr, "gradcheck: out of memory allocating %ld bytes\n", bytes);
        abort();
    }
    return p;
}

float *gc_floats(long n)
{
    return gc_alloc(n * (long)sizeof(float));
}
