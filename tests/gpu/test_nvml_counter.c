/* The NVML meter on real GPUs: over the same window, each GPU's total-energy
 * counter against the integral (trapezoid rule) of its power samples read
 * every 10 ms, idle and under load (large matmuls on GPU 0 through the CUDA
 * backend). They must agree within 10 % (and within 3 J for a quiet window),
 * and the energy library's "nvml" meter must report the counters' sum. The
 * power reading is an average over a short window on recent boards, so each
 * window starts after the load has settled.
 *
 * Reports itself skipped (77) without an NVIDIA driver, a GPU, or an energy
 * counter (pre-Volta boards have none). */
#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "greentune/energy.h"
#include "nn/cuda/dev.h"
#include "nn/precision.h"
#include "test_support.h"

#define SKIPPED 77
#define GPUS_MAX 16
#define SAMPLES_MAX 4096

typedef struct {
    void *lib;
    int (*power)(void *, unsigned *);
    int (*energy)(void *, unsigned long long *);
    void *dev[GPUS_MAX];
    unsigned n;
} nvml;

static nvml nv;

/* Power samples of every GPU, taken by a thread until stop is set. */
typedef struct {
    double t[SAMPLES_MAX];
    double w[GPUS_MAX][SAMPLES_MAX];
    int count;
    atomic_int stop;
} samples;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void *sampler(void *arg)
{
    samples *s = arg;
    while (!atomic_load(&s->stop) && s->count < SAMPLES_MAX) {
        int k = s->count;
        s->t[k] = now_s();
        for (unsigned g = 0; g < nv.n; g++) {
            unsigned mw = 0;
            nv.power(nv.dev[g], &mw);
            s->w[g][k] = mw / 1e3;
        }
        s->count = k + 1;
        usleep(10000);
    }
    return NULL;
}

/* Joules of GPU g between t0 and t1 by the trapezoid rule over the samples
 * (the ends interpolated). */
static double integrate(const samples *s, unsigned g, double t0, double t1)
{
    double j = 0;
    for (int k = 1; k < s->count; k++) {
        double a = s->t[k - 1], b = s->t[k];
        if (b <= t0 || a >= t1 || b <= a)
            continue;
        double wa = s->w[g][k - 1], wb = s->w[g][k];
        double lo = a < t0 ? t0 : a, hi = b > t1 ? t1 : b;
        double w_lo = wa + (wb - wa) * (lo - a) / (b - a), w_hi = wa + (wb - wa) * (hi - a) / (b - a);
        j += 0.5 * (w_lo + w_hi) * (hi - lo);
    }
    return j;
}

static void counters(unsigned long long *mj)
{
    for (unsigned g = 0; g < nv.n; g++)
        nv.energy(nv.dev[g], &mj[g]);
}

/* Keeps GPU 0 busy with bf16 matmuls until deadline (a few queued at a time). */
static void busy_until(dev *d, const dev_gemm *g, double deadline)
{
    while (now_s() < deadline) {
        for (int i = 0; i < 8; i++)
            d->gemm(d, g);
        d->sync(d);
    }
}

static void check_window(const char *what, dev *d, const dev_gemm *g, gt_meter *meter, double settle, double length)
{
    samples *s = calloc(1, sizeof *s);
    pthread_t th;
    double start = now_s();
    pthread_create(&th, NULL, sampler, s);
    if (g)
        busy_until(d, g, start + settle);
    else
        usleep((useconds_t)(settle * 1e6));
    unsigned long long c0[GPUS_MAX], c1[GPUS_MAX];
    double m0[GT_COMPONENTS], m1[GT_COMPONENTS];
    gt_error err = {0};
    counters(c0);
    double t0 = now_s();
    CHECK_MSG(gt_meter_read(meter, m0, &err) == GT_OK, "meter: %s", err.message);
    if (g)
        busy_until(d, g, t0 + length);
    else
        usleep((useconds_t)(length * 1e6));
    counters(c1);
    double t1 = now_s();
    CHECK_MSG(gt_meter_read(meter, m1, &err) == GT_OK, "meter: %s", err.message);
    usleep(50000); /* a sample past t1 */
    atomic_store(&s->stop, 1);
    pthread_join(th, NULL);
    double sum = 0;
    for (unsigned k = 0; k < nv.n; k++) {
        double counted = (double)(c1[k] - c0[k]) * 1e-3, integrated = integrate(s, k, t0, t1);
        double gap = counted > 0 ? (integrated - counted) / counted : 1;
        sum += counted;
        printf("nvml gpu %u, %s: counter %.1f J, integrated power %.1f J over %.2f s (%d samples): %+.1f %%\n", k,
               what, counted, integrated, t1 - t0, s->count, 100 * gap);
        CHECK_MSG(fabs(integrated - counted) <= 0.10 * counted || fabs(integrated - counted) <= 3.0,
                  "gpu %u %s: counter %.1f J vs integrated power %.1f J", k, what, counted, integrated);
    }
    double metered = m1[GT_GPU] - m0[GT_GPU];
    printf("nvml meter, %s: %.1f J, the counters %.1f J\n", what, metered, sum);
    /* the meter reads its counters a moment after ours: a few watts times that */
    CHECK_MSG(fabs(metered - sum) <= 0.02 * sum + 2.0, "%s: the nvml meter says %.1f J, the counters %.1f J", what,
              metered, sum);
    free(s);
}

int main(void)
{
    const char *path = getenv("GREENTUNE_NVML_LIB");
    if (!path || !*path)
        path = "libnvidia-ml.so.1";
    if (!(nv.lib = dlopen(path, RTLD_NOW | RTLD_LOCAL))) {
        printf("skipped: no NVIDIA driver (%s)\n", dlerror());
        return SKIPPED;
    }
    int (*init)(void) = dlsym(nv.lib, "nvmlInit_v2");
    int (*count)(unsigned *) = dlsym(nv.lib, "nvmlDeviceGetCount_v2");
    int (*handle)(unsigned, void **) = dlsym(nv.lib, "nvmlDeviceGetHandleByIndex_v2");
    nv.power = dlsym(nv.lib, "nvmlDeviceGetPowerUsage");
    nv.energy = dlsym(nv.lib, "nvmlDeviceGetTotalEnergyConsumption");
    if (!init || !count || !handle || !nv.power || !nv.energy || init() != 0 || count(&nv.n) != 0 || nv.n == 0) {
        printf("skipped: NVML has no GPU or lacks the power and energy functions\n");
        return SKIPPED;
    }
    nv.n = nv.n > GPUS_MAX ? GPUS_MAX : nv.n;
    for (unsigned g = 0; g < nv.n; g++) {
        unsigned long long mj;
        if (handle(g, &nv.dev[g]) != 0 || nv.energy(nv.dev[g], &mj) != 0) {
            printf("skipped: GPU %u has no total-energy counter (pre-Volta)\n", g);
            return SKIPPED;
        }
    }
    gt_measure_options o;
    gt_measure_options_init(&o);
    o.meter = "nvml";
    gt_meter *meter;
    gt_error err = {0};
    if (gt_meter_open(&o, &meter, &err) != GT_OK) {
        test_fail(__FILE__, __LINE__, "the nvml meter does not open where NVML works: %s", err.message);
        return test_summary();
    }
    printf("%s\n", gt_meter_describe(meter));
    test_current = "nvml_counter_idle";
    check_window("idle", NULL, NULL, meter, 1.0, 2.0);
    dev *d = NULL;
    if (dev_cuda_open(&d, NULL, &err) != GT_OK) {
        printf("no load: %s (the busy window is left out)\n", err.message);
    } else {
        const int n = 8192;
        void *a = d->alloc(d, (size_t)n * n * 2), *b = d->alloc(d, (size_t)n * n * 2);
        float *c = d->alloc(d, (size_t)n * n * 4);
        /* random operands: matmuls on zeros draw less power than real ones */
        uint16_t *h = malloc((size_t)n * n * 2);
        uint64_t x = 88172645463325252ull;
        for (size_t i = 0; h && i < (size_t)n * n; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            h[i] = bf16_from_float((float)(x >> 40) / 8388608.0f - 1.0f);
        }
        if (h && a && b) {
            d->upload(d, a, h, (size_t)n * n * 2);
            d->upload(d, b, h, (size_t)n * n * 2);
            d->sync(d);
        }
        free(h);
        dev_gemm g = {.type = DEV_BF16, .tb = 1, .M = n, .N = n, .K = n, .A = a, .lda = n, .B = b, .ldb = n, .C = c,
                      .ldc = n, .alpha = 1.0f, .batch = 1};
        test_current = "nvml_counter_busy";
        check_window("busy (bf16 matmuls on GPU 0)", d, &g, meter, 1.5, 3.0);
        CHECK_MSG(dev_take_error(d, &err) == GT_OK, "load: %s", err.message);
        d->release(d, a), d->release(d, b), d->release(d, c);
        dev_close(d);
    }
    gt_meter_close(meter);
    return test_summary();
}
