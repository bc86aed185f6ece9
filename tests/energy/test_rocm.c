/* AMD GPUs through AMD SMI and ROCm SMI, against a fake library
 * (tests/energy/fake_amdsmi.c) that speaks both. GPU joules are the sum of
 * the accumulator's counts since open x its resolution in microjoules. */
#include <stdlib.h>
#include <string.h>

#include "energy/internal.h"
#include "test_support.h"

static void gpus(const char *text) { test_write_file(getenv("FAKE_AMD_STATE"), text, strlen(text)); }

/* Which library the meter finds: AMD SMI, or only ROCm SMI. */
static void use(int amdsmi)
{
    const char *lib = test_env("FAKE_AMDSMI_LIB");
    setenv("GREENTUNE_AMDSMI_LIB", amdsmi ? lib : "/nonexistent/libamd_smi.so", 1);
    setenv("GREENTUNE_ROCM_SMI_LIB", amdsmi ? "/nonexistent/librocm_smi64.so" : lib, 1);
}

static backend *open_rocm(double now)
{
    backend *b = NULL;
    gt_error err = {0};
    CHECK_MSG(rocm_open(now, &b, &err) == GT_OK, "rocm_open: %s", err.message);
    return b;
}

static double gpu_joules(backend *b, double now)
{
    double j[GT_COMPONENTS] = {0};
    gt_error err = {0};
    CHECK_MSG(b->read(b, now, j, &err) == GT_OK, "read: %s", err.message);
    return j[GT_GPU];
}

/* Two GPUs, 15.3 uJ per count: +1,000,000 and +500,000 counts = 22.95 J. */
static void check_two_gpus(int amdsmi)
{
    use(amdsmi);
    gpus("counter 2\n1000 15.3 0\n0 15.3 0\n");
    backend *b = open_rocm(0);
    if (!b)
        return;
    CHECK(b->components == COMPONENT_BIT(GT_GPU));
    CHECK_EQ_INT(b->gpu_count, 2);
    CHECK(strstr(b->description, amdsmi ? "through amd-smi" : "through rocm-smi") != NULL);
    CHECK(strstr(b->description, "2 with an energy counter") != NULL);
    gpus("counter 2\n1001000 15.3 0\n500000 15.3 0\n");
    CHECK_NEAR(gpu_joules(b, 1), (1000000.0 + 500000.0) * 15.3e-6, 1e-6);
    b->close(b);
}

static void test_amdsmi_counters(void) { check_two_gpus(1); }
static void test_rocm_smi_counters(void) { check_two_gpus(0); }

/* A 32-bit accumulator that wraps between reads still adds up. */
static void test_counter_wraps_at_32_bits(void)
{
    use(1);
    gpus("counter 1\n4294967000 1 0\n");
    backend *b = open_rocm(0);
    if (!b)
        return;
    gpus("counter 1\n704 1 0\n"); /* 296 counts to the wrap, 704 after: 1000 uJ */
    CHECK_NEAR(gpu_joules(b, 1), 1000e-6, 1e-12);
    b->close(b);
}

/* ROCm SMI without an accumulator: average power integrated, 50 W rising
 * to 70 W over 2 s is 120 J. */
static void test_power_integration_under_rocm_smi(void)
{
    use(0);
    gpus("power 1\n0 1 50000000\n");
    backend *b = open_rocm(10);
    if (!b)
        return;
    CHECK(strstr(b->description, "1 by integrating power samples") != NULL);
    gpus("power 1\n0 1 70000000\n");
    CHECK_NEAR(gpu_joules(b, 12), 120, 1e-9);
    b->close(b);
}

static void test_failures_are_explained(void)
{
    backend *b = NULL;
    gt_error err = {0};
    use(1);
    gpus("noinit 0\n");
    CHECK_EQ_INT(rocm_open(0, &b, &err), GT_ERR_UNSUPPORTED);
    CHECK_MSG(strstr(err.message, "amd-smi init: AMDSMI_STATUS_INIT_ERROR") != NULL, "%s", err.message);
    gpus("counter 0\n");
    CHECK_EQ_INT(rocm_open(0, &b, &err), GT_ERR_UNSUPPORTED);
    CHECK(strstr(err.message, "no AMD GPU") != NULL);
    gpus("power 1\n0 1 5\n"); /* AMD SMI has no power fallback here */
    CHECK_EQ_INT(rocm_open(0, &b, &err), GT_ERR_UNSUPPORTED);
    CHECK(strstr(err.message, "no energy counter") != NULL);
    setenv("GREENTUNE_AMDSMI_LIB", "/nonexistent/libamd_smi.so", 1);
    setenv("GREENTUNE_ROCM_SMI_LIB", "/nonexistent/librocm_smi64.so", 1);
    CHECK_EQ_INT(rocm_open(0, &b, &err), GT_ERR_UNSUPPORTED);
    CHECK_MSG(strstr(err.message, "cannot load AMD SMI or ROCm SMI") != NULL, "%s", err.message);
}

/* In a meter: "rocm" measures the GPU beside a CPU source; with NVML too,
 * both add up and the source says so. */
static void test_rocm_in_a_meter(void)
{
    use(1);
    gpus("counter 1\n0 1000000 0\n");
    setenv("GREENTUNE_SYSFS_ROOT", test_path("no-sysfs"), 1);
    gt_measure_options o;
    gt_measure_options_init(&o);
    o.meter = "estimate+rocm";
    o.scope = GT_SCOPE_MACHINE;
    o.calibration = "";
    gt_meter *m = NULL;
    gt_error err = {0};
    CHECK_MSG(gt_meter_open(&o, &m, &err) == GT_OK, "open: %s", err.message);
    if (!m)
        return;
    CHECK_EQ_STR(gt_meter_name(m), "estimate+rocm");
    CHECK_EQ_STR(gt_meter_source(m, GT_GPU), "rocm");
    gpus("counter 1\n7 1000000 0\n");
    double j[GT_COMPONENTS];
    CHECK_EQ_INT(gt_meter_read(m, j, &err), GT_OK);
    CHECK_NEAR(j[GT_GPU], 7, 1e-9);
    gt_meter_close(m);
    CHECK_EQ_INT(gt_meter_spec_check("rocm+nvml", &err), GT_OK);
    CHECK_EQ_INT(gt_meter_spec_check("rocm+rocm", &err), GT_ERR_INVALID);
}

int main(void)
{
    setenv("FAKE_AMD_STATE", test_path("amd.txt"), 1);
    RUN(test_amdsmi_counters);
    RUN(test_rocm_smi_counters);
    RUN(test_counter_wraps_at_32_bits);
    RUN(test_power_integration_under_rocm_smi);
    RUN(test_failures_are_explained);
    RUN(test_rocm_in_a_meter);
    return test_summary();
}
