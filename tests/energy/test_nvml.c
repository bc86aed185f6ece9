/* The NVML meter against a fake libnvidia-ml (tests/energy/fake_nvml.c). */
#include <stdlib.h>
#include <string.h>

#include "energy/internal.h"
#include "test_support.h"

static void gpus(const char *text) { test_write_file(getenv("FAKE_NVML_STATE"), text, strlen(text)); }

static backend *open_nvml(double now)
{
    backend *b = NULL;
    gt_error err = {0};
    CHECK_MSG(nvml_open(now, &b, &err) == GT_OK, "nvml_open: %s", err.message);
    return b;
}

static double gpu_joules(backend *b, double now)
{
    double j[GT_COMPONENTS] = {0};
    gt_error err = {0};
    CHECK_MSG(b->read(b, now, j, &err) == GT_OK, "read: %s", err.message);
    CHECK_NEAR(j[GT_CPU] + j[GT_DRAM], 0, 0);
    return j[GT_GPU];
}

/* Energy counters: GPU joules are the sum of the millijoule deltas since open. */
static void test_energy_counters_of_two_gpus(void)
{
    gpus("counter 2\n1000000 50000\n42 30000\n");
    backend *b = open_nvml(0);
    if (!b)
        return;
    CHECK(b->components == COMPONENT_BIT(GT_GPU));
    CHECK_EQ_INT(b->gpu_count, 2);
    CHECK_EQ_STR(b->gpu_model, "2 x Fake GPU 0");
    CHECK(strstr(b->description, "2 with an energy counter") != NULL);
    gpus("counter 2\n1012500 50000\n7542 30000\n"); /* +12.5 J and +7.5 J */
    CHECK_NEAR(gpu_joules(b, 1), 20.0, 1e-9);
    b->close(b);
}

/* No counter (older GPUs): power is integrated with the trapezoid rule,
 * 50 W rising to 70 W over 2 s is 120 J, then 70 W for 1 s more is 190 J. */
static void test_power_integration_without_counter(void)
{
    gpus("power 1\n0 50000\n");
    backend *b = open_nvml(10.0);
    if (!b)
        return;
    CHECK(strstr(b->description, "1 by integrating power samples") != NULL);
    gpus("power 1\n0 70000\n");
    CHECK_NEAR(gpu_joules(b, 12.0), 120.0, 1e-9);
    CHECK_NEAR(gpu_joules(b, 13.0), 190.0, 1e-9);
    b->close(b);
}

/* No driver, no GPU, no library: unsupported, with NVML's own words. */
static void test_failures_are_explained(void)
{
    backend *b = NULL;
    gt_error err = {0};
    gpus("noinit 0\n");
    CHECK_EQ_INT(nvml_open(0, &b, &err), GT_ERR_UNSUPPORTED);
    CHECK_MSG(strstr(err.message, "nvmlInit: Driver Not Loaded") != NULL, "message: %s", err.message);
    gpus("counter 0\n");
    CHECK_EQ_INT(nvml_open(0, &b, &err), GT_ERR_UNSUPPORTED);
    CHECK(strstr(err.message, "no NVIDIA GPU") != NULL);
    const char *lib = getenv("GREENTUNE_NVML_LIB");
    setenv("GREENTUNE_NVML_LIB", "/nonexistent/libnvidia-ml.so.1", 1);
    CHECK_EQ_INT(nvml_open(0, &b, &err), GT_ERR_UNSUPPORTED);
    CHECK(strstr(err.message, "cannot load /nonexistent/libnvidia-ml.so.1") != NULL);
    setenv("GREENTUNE_NVML_LIB", lib, 1);
}

/* --meter auto adds the GPU to the CPU source; the GPU component says nvml. */
static void test_auto_adds_the_gpu(void)
{
    gpus("counter 1\n5000 1000\n");
    setenv("GREENTUNE_SYSFS_ROOT", test_path("no-sysfs"), 1);
    gt_measure_options o;
    gt_measure_options_init(&o);
    gt_meter *m = NULL;
    gt_error err = {0};
    CHECK_MSG(gt_meter_open(&o, &m, &err) == GT_OK, "open: %s", err.message);
    if (!m)
        return;
    CHECK_EQ_STR(gt_meter_name(m), "estimate+nvml");
    CHECK_EQ_STR(gt_meter_source(m, GT_GPU), "nvml");
    CHECK_EQ_STR(gt_meter_source(m, GT_CPU), "estimate");
    CHECK(gt_meter_is_estimate(m));
    gpus("counter 1\n8000 1000\n");
    double j[GT_COMPONENTS];
    CHECK_EQ_INT(gt_meter_read(m, j, &err), GT_OK);
    CHECK_NEAR(j[GT_GPU], 3.0, 1e-9);
    gt_meter_close(m);
}

/* The process tree's share of a GPU is its share of the SM utilisation in
 * the per-process samples: 10 J while pids 100 (30 %) and 200 (10 %) ran,
 * of which the tree {100, 300} gets 30/40; a GPU no process used since the
 * last share gives the tree nothing. */
static void test_process_share_of_gpu_energy(void)
{
    gpus("counter 2\n1000 1000\n0 1000\n");
    backend *b = open_nvml(0);
    if (!b)
        return;
    CHECK(b->attribute != NULL);
    gpus("counter 2\n11000 1000 50 100:30 200:10\n4000 1000\n"); /* GPU 1: +4 J, no samples */
    CHECK_NEAR(gpu_joules(b, 1), 14.0, 1e-9);
    int pids[] = {100, 300};
    double j = -1;
    char method[96] = "";
    b->attribute(b, pids, 2, &j, method, sizeof method);
    CHECK_NEAR(j, 10.0 * 30 / 40, 1e-9);
    CHECK(strstr(method, "nvml process utilisation share") != NULL);
    b->attribute(b, pids, 2, &j, method, sizeof method); /* nothing new since */
    CHECK_NEAR(j, 0, 0);
    b->close(b);
}

/* Temperatures for the thermal gate: the hottest GPU that reports one. */
static void test_gpu_temperature(void)
{
    gpus("counter 3\n0 0 41\n0 0 67\n0 0\n");
    backend *b = open_nvml(0);
    if (!b)
        return;
    double c = 0;
    int n = 0;
    CHECK_EQ_INT(nvml_temperature(b, &c, &n), GT_OK);
    CHECK_EQ_INT(n, 2);
    CHECK_NEAR(c, 67, 0);
    b->close(b);
}

int main(void)
{
    setenv("GREENTUNE_NVML_LIB", test_env("FAKE_NVML_LIB"), 1);
    setenv("FAKE_NVML_STATE", test_path("gpus.txt"), 1);
    RUN(test_energy_counters_of_two_gpus);
    RUN(test_power_integration_without_counter);
    RUN(test_failures_are_explained);
    RUN(test_auto_adds_the_gpu);
    RUN(test_process_share_of_gpu_energy);
    RUN(test_gpu_temperature);
    return test_summary();
}
