/* Finite-difference gradient checks and test data for the nn ops.
 *
 * A check perturbs one input element at a time and compares the change of a
 * scalar loss with the gradient the op's backward pass produced. The loss is
 * L = sum(out * G) for a random upstream gradient G, accumulated in double, so
 * dL/dx is exactly what backward computes from dout = G.
 *
 * The derivative is estimated by central differences at steps h and 2h combined
 * by Richardson extrapolation, (4 D(h) - D(2h)) / 3, whose truncation error is
 * O(h^4): with h = 1e-2 the estimate is limited by the float rounding of the
 * forward pass (about 1e-7 |out| / h), so tolerances can be tight. Steps are
 * measured as the float actually stored (x + h rounds), not assumed. */
#ifndef GREENTUNE_TESTS_NN_GRADCHECK_H
#define GREENTUNE_TESTS_NN_GRADCHECK_H

#include <stdint.h>

/* Element i passes when |numeric - analytic| <= atol + rtol * |numeric|. */
typedef struct {
    double h;         /* step */
    double rtol, atol;
    long max_checks;  /* check at most this many elements, evenly spread; 0 = all */
} gc_tolerance;

/* The default for O(1) inputs and outputs: h = 1e-2, rtol = 1e-3, atol = 1e-4. */
gc_tolerance gc_default_tolerance(void);

/* Runs the forward from the current inputs and returns the loss. */
typedef double (*gc_loss_fn)(void *ctx);

/* Checks grad (n) against finite differences of loss with respect to x (n);
 * x is restored afterwards. Fails the current test (test_fail) for each bad
 * element, naming `what` and the index; returns the worst
 * |numeric - analytic| / (atol + rtol |numeric|) (<= 1 means pass). */
double gc_check(const char *what, gc_loss_fn loss, void *ctx, float *x, const float *grad, long n,
                gc_tolerance tol);

/* An op under test: its inputs, output and how to run it. gc_check_op fills
 * the upstream gradient, runs forward and backward once, then checks every
 * input against finite differences. It also checks the ops.h contract on
 * gradients: inputs marked `accumulates` (parameter grads, residual fan-out)
 * must be added to (they start at GC_ACCUMULATE_START), the others written
 * (they start as NaN, which must not survive). */
#define GC_MAX_INPUTS 4
#define GC_ACCUMULATE_START 0.5f

typedef struct gc_op {
    int n_inputs;
    float *inputs[GC_MAX_INPUTS];
    long sizes[GC_MAX_INPUTS];
    const char *names[GC_MAX_INPUTS];
    int accumulates[GC_MAX_INPUTS];
    float *out;  /* (out_n) */
    long out_n;
    float *upstream; /* (out_n), filled by gc_check_op */
    void (*forward)(struct gc_op *op);
    /* Gradients of the loss for inputs[i] into grads[i], from op->upstream. */
    void (*backward)(struct gc_op *op, float **grads);
    void *ctx; /* the test's own state (shapes, saved activations) */
} gc_op;

/* Returns the worst error / tolerance over all inputs (<= 1 means pass). */
double gc_check_op(const char *what, gc_op *op, gc_tolerance tol, uint64_t seed);

/* Deterministic pseudo-random test data (splitmix64 from a seed). */
typedef struct {
    uint64_t state;
} gc_rng;

float gc_uniform(gc_rng *rng, float lo, float hi);
void gc_fill(gc_rng *rng, float *x, long n, float lo, float hi);
/* Like gc_fill, but no value closer than `gap` to 0 (for kinks such as ReLU's). */
void gc_fill_away_from_zero(gc_rng *rng, float *x, long n, float lo, float hi, float gap);

/* sum(a * b) in double. */
double gc_dot(const float *a, const float *b, long n);

/* max |a|: a tensor's scale. */
double gc_max_abs(const float *a, long n);
/* max |a - b| (NaN if any element is NaN). */
double gc_max_abs_diff(const float *a, const float *b, long n);

/* malloc that aborts the test program when memory runs out (a broken test
 * machine, not a test failure); zero-filled. */
void *gc_alloc(long bytes);
float *gc_floats(long n);

#endif
