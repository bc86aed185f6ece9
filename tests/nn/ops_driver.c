/* Runs one nn op forward and backward on raw float32/int32 files, for
 * test_ops_torch.py, which writes the inputs, runs this and compares the
 * outputs with PyTorch.
 *
 *   nn_ops_driver OP DIR SIZES...
 *
 * Arrays are DIR/<name>.f32 (float32) or DIR/<name>.i32 (int32), native byte
 * order, row-major, with the element counts the sizes imply. Every op reads its
 * upstream gradient from dy.f32 and writes the output and the input gradients:
 *   gelu_erf|gelu_tanh|relu n          x, dy            -> y, dx
 *   geglu_erf|geglu_tanh N F           x (N,2F), dy     -> y, dx
 *   layernorm N C has_bias eps         x, w, [b], dy    -> y, dx, dw, [db]
 *   rope B T H D theta                 x (B,T,H,D), dy  -> y, dx, cos, sin
 *   attention|fused_attention B T H D window
 *                                      qkv, valid.i32, dy -> y, dx
 *   cross_entropy B L                  x, labels.i32    -> y (losses), loss, dx
 *   mean_pool B T C                    x, valid.i32, dy -> y, dx
 * Exit status 0 on success, 2 on a usage or file error (message on stderr). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/ops.h"

static const char *dir;

/* Every buffer, freed together at exit (the sanitizer build checks leaks). */
static void *owned[64];
static int n_owned;

static void release_all(void)
{
    while (n_owned > 0)
        free(owned[--n_owned]);
}

static void fail(const char *fmt, const char *arg)
{
    release_all();
    fprintf(stderr, "nn_ops_driver: ");
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    exit(2);
}

/* Zero-filled, owned (freed by release_all). */
static void *allocate(long count, size_t elem)
{
    void *p = n_owned < 64 ? calloc((size_t)count + 1, elem) : NULL;
    if (!p)
        fail("%s", "out of memory");
    return owned[n_owned++] = p;
}

static void *read_array(const char *name, long count, size_t elem)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail("%s: cannot open", path);
    void *p = allocate(count, elem);
    size_t got = fread(p, elem, (size_t)count + 1, f);
    fclose(f);
    if (got != (size_t)count)
        fail("%s: wrong number of elements for the sizes given", path);
    return p;
}

static float *in_f32(const char *name, long n)
{
    char file[256];
    snprintf(file, sizeof file, "%s.f32", name);
    return read_array(file, n, sizeof(float));
}

static int32_t *in_i32(const char *name, long n)
{
    char file[256];
    snprintf(file, sizeof file, "%s.i32", name);
    return read_array(file, n, sizeof(int32_t));
}

static void out_f32(const char *name, const float *p, long n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.f32", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, sizeof(float), (size_t)n, f) != (size_t)n || fclose(f) != 0)
        fail("%s: cannot write", path);
}

static float *zeros(long n)
{
    return allocate(n, sizeof(float));
}

static long size_arg(int argc, char **argv, int i)
{
    if (i >= argc)
        fail("%s: missing size argument", argv[1]);
    char *end;
    errno = 0;
    long v = strtol(argv[i], &end, 10);
    if (errno || *end || v < 0 || v > 1L << 24)
        fail("%s: bad size argument", argv[i]);
    return v;
}

static void run_activation(activation_kind kind, long n)
{
    float *x = in_f32("x", n), *dy = in_f32("dy", n), *y = zeros(n), *dx = zeros(n);
    activation_forward(y, x, n, kind);
    activation_backward(dx, x, dy, n, kind);
    out_f32("y", y, n);
    out_f32("dx", dx, n);
}

static void run_geglu(activation_kind kind, int N, int F)
{
    float *x = in_f32("x", 2L * N * F), *dy = in_f32("dy", (long)N * F);
    float *y = zeros((long)N * F), *dx = zeros(2L * N * F);
    geglu_forward(y, x, N, F, kind);
    geglu_backward(dx, x, dy, N, F, kind);
    out_f32("y", y, (long)N * F);
    out_f32("dx", dx, 2L * N * F);
}

static void run_layernorm(int N, int C, int has_bias, float eps)
{
    long n = (long)N * C;
    float *x = in_f32("x", n), *w = in_f32("w", C), *b = has_bias ? in_f32("b", C) : NULL, *dy = in_f32("dy", n);
    float *y = zeros(n), *mean = zeros(N), *rstd = zeros(N), *dx = zeros(n), *dw = zeros(C), *db = zeros(C);
    float *scratch = zeros(layernorm_scratch_floats(C));
    layernorm_forward(y, mean, rstd, x, w, b, N, C, eps);
    layernorm_backward(dx, dw, has_bias ? db : NULL, dy, x, w, mean, rstd, scratch, N, C);
    out_f32("y", y, n);
    out_f32("dx", dx, n);
    out_f32("dw", dw, C);
    if (has_bias)
        out_f32("db", db, C);
}

static void run_rope(int B, int T, int H, int D, double theta)
{
    long n = (long)B * T * H * D, tn = (long)T * (D / 2);
    float *y = in_f32("x", n), *dx = in_f32("dy", n), *c = zeros(tn), *s = zeros(tn);
    rope_tables(c, s, T, D, theta);
    rope_forward(y, c, s, B, T, H, D, H * D);
    rope_backward(dx, c, s, B, T, H, D, H * D);
    out_f32("y", y, n);
    out_f32("dx", dx, n);
    out_f32("cos", c, tn);
    out_f32("sin", s, tn);
}

static void run_attention(int fused, attention_shape s)
{
    long n = (long)s.B * s.T * s.H * s.D;
    float *qkv = in_f32("qkv", 3 * n), *dy = in_f32("dy", n);
    int32_t *valid = in_i32("valid", s.B);
    float *y = zeros(n), *dx = zeros(3 * n);
    if (fused) {
        float *lse = zeros((long)s.B * s.H * s.T), *scratch = zeros(fused_attention_scratch_floats(s));
        fused_attention_forward(y, lse, qkv, valid, scratch, s);
        fused_attention_backward(dx, dy, y, qkv, lse, valid, scratch, s);
    } else {
        float *probs = zeros((long)s.B * s.H * s.T * s.T), *scratch = zeros(attention_scratch_floats(s));
        attention_forward(y, probs, qkv, valid, scratch, s);
        attention_backward(dx, dy, qkv, probs, valid, scratch, s);
    }
    out_f32("y", y, n);
    out_f32("dx", dx, 3 * n);
}

static void run_cross_entropy(int B, int L)
{
    float *x = in_f32("x", (long)B * L), *losses = zeros(B), *probs = zeros((long)B * L), *dx = zeros((long)B * L);
    int32_t *labels = in_i32("labels", B);
    for (int b = 0; b < B; b++)
        if (labels[b] < 0 || labels[b] >= L)
            fail("%s: label out of range", "labels.i32");
    float loss = cross_entropy_forward(losses, probs, x, labels, B, L);
    cross_entropy_backward(dx, probs, labels, B, L, 1.0f / B);
    out_f32("y", losses, B);
    out_f32("loss", &loss, 1);
    out_f32("dx", dx, (long)B * L);
}

static void run_mean_pool(int B, int T, int C)
{
    long n = (long)B * T * C;
    float *x = in_f32("x", n), *dy = in_f32("dy", (long)B * C), *y = zeros((long)B * C), *dx = zeros(n);
    int32_t *valid = in_i32("valid", B);
    mean_pool_forward(y, x, valid, B, T, C);
    mean_pool_backward(dx, dy, valid, B, T, C);
    out_f32("y", y, (long)B * C);
    out_f32("dx", dx, n);
}

int main(int argc, char **argv)
{
    if (argc < 3)
        fail("%s", "usage: nn_ops_driver OP DIR SIZES...");
    const char *op = argv[1];
    dir = argv[2];
    if (!strcmp(op, "gelu_erf") || !strcmp(op, "gelu_tanh") || !strcmp(op, "relu")) {
        activation_kind kind = !strcmp(op, "gelu_erf") ? ACTIVATION_GELU_ERF
                               : !strcmp(op, "gelu_tanh") ? ACTIVATION_GELU_TANH : ACTIVATION_RELU;
        run_activation(kind, size_arg(argc, argv, 3));
    } else if (!strcmp(op, "geglu_erf") || !strcmp(op, "geglu_tanh")) {
        run_geglu(!strcmp(op, "geglu_erf") ? ACTIVATION_GELU_ERF : ACTIVATION_GELU_TANH,
                  (int)size_arg(argc, argv, 3), (int)size_arg(argc, argv, 4));
    } else if (!strcmp(op, "layernorm")) {
        if (argc < 7)
            fail("%s: needs N C has_bias eps", op);
        run_layernorm((int)size_arg(argc, argv, 3), (int)size_arg(argc, argv, 4), (int)size_arg(argc, argv, 5),
                      strtof(argv[6], NULL));
    } else if (!strcmp(op, "rope")) {
        if (argc < 8)
            fail("%s: needs B T H D theta", op);
        run_rope((int)size_arg(argc, argv, 3), (int)size_arg(argc, argv, 4), (int)size_arg(argc, argv, 5),
                 (int)size_arg(argc, argv, 6), strtod(argv[7], NULL));
    } else if (!strcmp(op, "attention") || !strcmp(op, "fused_attention")) {
        attention_shape s = {(int)size_arg(argc, argv, 3), (int)size_arg(argc, argv, 4),
                             (int)size_arg(argc, argv, 5), (int)size_arg(argc, argv, 6),
                             (int)size_arg(argc, argv, 7), 0.0f, 0};
        if (s.D == 0)
            fail("%s: D must be positive", op);
        s.scale = 1.0f / sqrtf((float)s.D);
        run_attention(!strcmp(op, "fused_attention"), s);
    } else if (!strcmp(op, "cross_entropy")) {
        run_cross_entropy((int)size_arg(argc, argv, 3), (int)size_arg(argc, argv, 4));
    } else if (!strcmp(op, "mean_pool")) {
        run_mean_pool((int)size_arg(argc, argv, 3), (int)size_arg(argc, argv, 4), (int)size_arg(argc, argv, 5));
    } else {
        fail("%s: unknown op", op);
    }
    release_all();
    return 0;
}
