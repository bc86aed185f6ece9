/* Activations: GELU (erf, as torch.nn.functional.gelu, and tanh, as
 * gelu(approximate='tanh')), ReLU, GeGLU (ModernBERT's MLP) and tanh (BERT's
 * pooler).
 *
 * GELU erf is x Phi(x) with Phi(x) = erfc(-x / sqrt 2) / 2, evaluated from
 * erfc of |x| so that the negative tail keeps its relative accuracy:
 *   x >= 0: Phi = 1 - erfc(x / sqrt 2) / 2,  x < 0: Phi = erfc(-x / sqrt 2) / 2.
 * GELU tanh is x (1 + tanh u) / 2 = x sigmoid(2u), u = sqrt(2/pi)(x + 0.044715 x^3),
 * written with the sigmoid for the same reason. */
#include <math.h>
#include <omp.h>

#include "nn/fastmath.h"
#include "nn/ops.h"

#define INV_SQRT2 0.70710678118654752f
#define INV_SQRT_2PI 0.39894228040143268f
#define SQRT_2_OVER_PI 0.79788456080286536f
#define GELU_TANH_C 0.044715f

/* act(x) and, when slope is non-NULL, act'(x). kind is a constant at every
 * call site (the callers switch on it outside their loops), so this inlines
 * into a branch-free vectorized loop body. */
static inline __attribute__((always_inline)) float act_eval(activation_kind kind, float x, float *slope)
{
    switch (kind) {
    case ACTIVATION_GELU_ERF: {
        float half_erfc = 0.5f * nn_erfcf((x < 0.0f ? -x : x) * INV_SQRT2);
        float phi = x < 0.0f ? half_erfc : 1.0f - half_erfc;
        if (slope)
            *slope = phi + x * INV_SQRT_2PI * nn_expf(-0.5f * x * x);
        return x * phi;
    }
    case ACTIVATION_GELU_TANH: {
        float u = SQRT_2_OVER_PI * (x + GELU_TANH_C * x * x * x);
        float e = nn_expf(-2.0f * u);
        float sig = 1.0f / (1.0f + e);
        /* 1 - sig as e * sig: the subtraction would round to 0 for x > 4.5
         * (and e * sig is inf * 0 once e overflows, where 1 - sig is 1). */
        float one_minus_sig = e > 1e30f ? 1.0f : e * sig;
        if (slope)
            *slope = sig + 2.0f * x * sig * one_minus_sig * SQRT_2_OVER_PI * (1.0f + 3.0f * GELU_TANH_C * x * x);
        return x * sig;
    }
    default: /* ACTIVATION_RELU; the gradient at 0 is 0, as in PyTorch */
        if (slope)
            *slope = x > 0.0f ? 1.0f : 0.0f;
        return x > 0.0f ? x : 0.0f;
    }
}

/* This thread's share [*lo, *hi) of n items inside a parallel region. The
 * functions below switch on the kind inside the region, once per thread
 * (WITH_KIND), so that each case inlines act_eval with a literal kind and
 * vectorizes: a kind captured by an outlined `omp parallel for` body stays a
 * variable, and the switch inside act_eval stops the vectorizer. */
static inline void thread_share(long n, long *lo, long *hi)
{
    long nt = omp_get_num_threads(), t = omp_get_thread_num();
    *lo = n * t / nt;
    *hi = n * (t + 1) / nt;
}

/* Runs `call` with K bound to kind as a compile-time constant. */
#define WITH_KIND(kind, call)                                                                                  \
    switch (kind) {                                                                                            \
    case ACTIVATION_GELU_ERF: { const activation_kind K = ACTIVATION_GELU_ERF; call; } break;                \
    case ACTIVATION_GELU_TANH: { const activation_kind K = ACTIVATION_GELU_TANH; call; } break;              \
    default: { const activation_kind K = ACTIVATION_RELU; call; } break;                                     \
    }

static inline __attribute__((always_inline)) void act_forward_span(activation_kind kind, float *y, const float *x,
                                                                   long lo, long hi)
{
#pragma omp simd
    for (long i = lo; i < hi; i++)
        y[i] = act_eval(kind, x[i], NULL);
}

static inline __attribute__((always_inline)) void act_backward_span(activation_kind kind, float *dx,
                                                                    const float *x, const float *dy, long lo,
                                                                    long hi)
{
#pragma omp simd
    for (long i = lo; i < hi; i++) {
        float slope;
        act_eval(kind, x[i], &slope);
        dx[i] = dy[i] * slope;
    }
}

/* y, x: (n). */
void activation_forward(float *y, const float *x, long n, activation_kind kind)
{
#pragma omp parallel
    {
        long lo, hi;
        thread_share(n, &lo, &hi);
        WITH_KIND(kind, act_forward_span(K, y, x, lo, hi));
    }
}

/* dx, x, dy: (n). */
void activation_backward(float *dx, const float *x, const float *dy, long n, activation_kind kind)
{
#pragma omp parallel
    {
        long lo, hi;
        thread_share(n, &lo, &hi);
        WITH_KIND(kind, act_backward_span(K, dx, x, dy, lo, hi));
    }
}

static inline __attribute__((always_inline)) void act_slope_span(activation_kind kind, float *y, float *slope,
                                                                 const float *x, long lo, long hi)
{
#pragma omp simd
    for (long i = lo; i < hi; i++) {
        float s, a = act_eval(kind, x[i], &s);
        y[i] = a;
        slope[i] = s;
    }
}

/* y, slope, x: (n); slope may equal x: each element is read before it is written. */
void activation_forward_slope(float *y, float *slope, const float *x, long n, activation_kind kind)
{
#pragma omp parallel
    {
        long lo, hi;
        thread_share(n, &lo, &hi);
        WITH_KIND(kind, act_slope_span(K, y, slope, x, lo, hi));
    }
}

/* dx, slope, dy: (n). */
void activation_backward_slope(float *dx, const float *slope, const float *dy, long n)
{
#pragma omp parallel for simd schedule(static)
    for (long i = 0; i < n; i++)
        dx[i] = dy[i] * slope[i];
}

/* Rows [lo, hi) of y: (N, F) = act(x[:, :F]) * x[:, F:], x: (N, 2F) —
 * ModernBERT's `input, gate = Wi(h).chunk(2, dim=-1); act(input) * gate`. */
static inline __attribute__((always_inline)) void geglu_forward_rows(activation_kind kind, float *y,
                                                                     const float *x, long lo, long hi, int F)
{
    for (long n = lo; n < hi; n++) {
        const float *in = x + 2 * n * F, *gate = in + F;
        float *out = y + n * F;
#pragma omp simd
        for (int j = 0; j < F; j++)
            out[j] = act_eval(kind, in[j], NULL) * gate[j];
    }
}

/* Rows [lo, hi) of dx: (N, 2F): d input = dy gate act'(input), d gate = dy act(input). */
static inline __attribute__((always_inline)) void geglu_backward_rows(activation_kind kind, float *dx,
                                                                      const float *x, const float *dy, long lo,
                                                                      long hi, int F)
{
    for (long n = lo; n < hi; n++) {
        const float *in = x + 2 * n * F, *gate = in + F, *g = dy + n * F;
        float *din = dx + 2 * n * F, *dgate = din + F;
#pragma omp simd
        for (int j = 0; j < F; j++) {
            float slope, a = act_eval(kind, in[j], &slope);
            din[j] = g[j] * gate[j] * slope;
            dgate[j] = g[j] * a;
        }
    }
}

void geglu_forward(float *y, const float *x, int N, int F, activation_kind kind)
{
#pragma omp parallel
    {
        long lo, hi;
        thread_share(N, &lo, &hi);
        WITH_KIND(kind, geglu_forward_rows(K, y, x, lo, hi, F));
    }
}

void geglu_backward(float *dx, const float *x, const float *dy, int N, int F, activation_kind kind)
{
#pragma omp parallel
    {
        long lo, hi;
        thread_share(N, &lo, &hi);
        WITH_KIND(kind, geglu_backward_rows(K, dx, x, dy, lo, hi, F));
    }
}

/* y, x: (n). Small (BERT's pooler: B x C), so libm's tanhf is fine. */
void tanh_forward(float *y, const float *x, long n)
{
    for (long i = 0; i < n; i++)
        y[i] = tanhf(x[i]);
}

/* dx, y, dy: (n); dx may equal dy. */
void tanh_backward(float *dx, const float *y, const float *dy, long n)
{
#pragma omp simd
    for (long i = 0; i < n; i++)
        dx[i] = dy[i] * (1.0f - y[i] * y[i]);
}
