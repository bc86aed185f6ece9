/* The sampler: it catches counter wraparounds that boundary reads alone would
 * miss, and its trace adds up to the measured total. A helper thread advances
 * a fake RAPL counter while the measurement runs. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fake_rapl.h"
#include "greentune/energy.h"
#include "test_support.h"

#define RANGE_UJ 10000000ull /* the counter wraps every 10 J */
#define STEP_UJ 1000000ull   /* the helper adds 1 J per step: a wrap every 10 steps */
#define STEPS 60             /* 60 J in all: six laps */
#define STEP_MS 25

static const char *root;

static void sleep_ms(int ms)
{
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) != 0)
        ;
}

static void *advance(void *arg)
{
    (void)arg;
    uint64_t v = 0;
    for (int i = 0; i < STEPS; i++) {
        sleep_ms(STEP_MS);
        v = (v + STEP_UJ) % RANGE_UJ;
        fake_rapl_set(root, "intel-rapl:0", v);
    }
    return NULL;
}

/* Measures while the helper runs; returns the total joules. */
static double measure(int interval_ms, gt_energy_result *r)
{
    fake_rapl_zone(root, "intel-rapl:0", "package-0", RANGE_UJ, 0);
    gt_measure_options o;
    gt_measure_options_init(&o);
    o.meter = "rapl";
    o.interval_ms = interval_ms;
    o.keep_trace = 1;
    gt_measurement *m = NULL;
    gt_error err = {0};
    if (gt_measurement_start(&o, &m, &err) != GT_OK) {
        test_fail(__FILE__, __LINE__, "start: %s", err.message);
        return -1;
    }
    pthread_t helper;
    pthread_create(&helper, NULL, advance, NULL);
    pthread_join(helper, NULL);
    CHECK_MSG(gt_measurement_finish(m, r, &err) == GT_OK, "finish: %s", err.message);
    return r->total.energy_j;
}

/* Reading every 5 ms sees each 10 J lap (one every 250 ms; only a 250 ms stall
 * of the sampler could miss one): the total is the helper's 60 J exactly. */
static void test_sampler_catches_every_wrap(void)
{
    gt_energy_result r;
    double total = measure(5, &r);
    CHECK_NEAR(total, STEPS * STEP_UJ * 1e-6, 1e-6);
    CHECK(r.sample_count > 10);
    /* the trace: times rise, energy never falls, its last point is the total */
    CHECK(r.trace_count >= 2);
    for (long i = 1; i < r.trace_count; i++) {
        CHECK(r.trace[i].t_s >= r.trace[i - 1].t_s);
        CHECK(r.trace[i].joules[GT_CPU] >= r.trace[i - 1].joules[GT_CPU]);
    }
    if (r.trace_count)
        CHECK_NEAR(r.trace[r.trace_count - 1].joules[GT_CPU], total, 1e-9);
    CHECK_NEAR(r.trace[0].t_s, 0, 1e-9);
    /* 1 J arrives within one 5 ms interval: the peak is far above the mean */
    CHECK(r.peak_power_w > r.avg_power_w);
    CHECK(r.sampler_cpu_s >= 0);
    gt_energy_result_free(&r);
}

/* Without the sampler only the start and the end are read, and the six laps
 * between them are invisible: this is why the sampler exists. */
static void test_without_sampler_laps_are_lost(void)
{
    gt_energy_result r;
    double total = measure(0, &r);
    CHECK_NEAR(total, 0.0, 1e-9); /* 60 J is exactly six laps of 10 J */
    CHECK_EQ_INT(r.sample_count, 0);
    gt_energy_result_free(&r);
}

/* The trace CSV has its header, one row per point, and says estimated or not. */
static void test_trace_csv(void)
{
    gt_energy_result r;
    measure(5, &r);
    const char *path = test_path("trace.csv");
    FILE *f = fopen(path, "w");
    gt_error err = {0};
    CHECK_EQ_INT(gt_energy_trace_csv(&r, f, &err), GT_OK);
    fclose(f);
    char *text = test_read_file(path, NULL);
    CHECK(text && !strncmp(text, "t_s,cpu_j,dram_j,gpu_j,power_w,meter,estimated\n", 47));
    long rows = 0;
    for (char *p = text; p && *p; p++)
        rows += *p == '\n';
    CHECK_EQ_INT(rows, r.trace_count + 1);
    CHECK(text && strstr(text, ",rapl,false\n") != NULL);
    free(text);
    gt_energy_result_free(&r);
}

int main(void)
{
    root = test_path("sysfs");
    setenv("GREENTUNE_SYSFS_ROOT", root, 1);
    setenv("GREENTUNE_NVML_LIB", "/nonexistent/libnvidia-ml.so.1", 1);
    RUN(test_sampler_catches_every_wrap);
    RUN(test_without_sampler_laps_are_lost);
    RUN(test_trace_csv);
    return test_summary();
}
