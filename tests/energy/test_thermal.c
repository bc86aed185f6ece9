/* The thermal gate on a fake hwmon tree (GREENTUNE_SYSFS_ROOT) and the fake
 * NVML, with a fake clock whose sleep cools the sensors by a known step, so
 * the wait is exact: from 60 C, 1.5 C per 1 s poll, to within 2 C of a 45 C
 * idle takes 9 polls. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "greentune/energy.h"
#include "test_support.h"

static const char *root;
static double now_s, cpu_c, gpu_c, cool_per_s;

static void put(const char *rel, const char *text)
{
    char path[1024], dir[1024];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = '\0';
    char *argv[] = {"mkdir", "-p", dir, NULL};
    test_run(argv, NULL, NULL);
    test_write_file(path, text, strlen(text));
}

static void set_temperatures(void)
{
    char text[64];
    snprintf(text, sizeof text, "%ld\n", lround(cpu_c * 1000));
    put("class/hwmon/hwmon1/temp1_input", text); /* k10temp Tctl */
    snprintf(text, sizeof text, "%ld\n", lround((cpu_c - 5) * 1000));
    put("class/hwmon/hwmon1/temp3_input", text); /* a cooler CCD */
    snprintf(text, sizeof text, "counter 1\n0 0 %ld\n", lround(gpu_c));
    test_write_file(getenv("FAKE_NVML_STATE"), text, strlen(text));
}

static double fake_clock(void *ctx)
{
    (void)ctx;
    return now_s;
}

static void fake_sleep(void *ctx, double seconds)
{
    (void)ctx;
    now_s += seconds;
    cpu_c -= cool_per_s * seconds;
    gpu_c -= cool_per_s * seconds;
    set_temperatures();
}

static void fresh_tree(const char *name)
{
    root = test_path(name);
    setenv("GREENTUNE_SYSFS_ROOT", root, 1);
    put("class/hwmon/hwmon0/name", "nvme\n"); /* not a CPU: ignored */
    put("class/hwmon/hwmon0/temp1_input", "99000\n");
    put("class/hwmon/hwmon1/name", "k10temp\n");
    now_s = 100;
}

static gt_thermal_options options(double band, double timeout, double idle_cpu, double idle_gpu)
{
    gt_thermal_options o;
    memset(&o, 0, sizeof o);
    o.band_c = band;
    o.timeout_s = timeout;
    o.poll_ms = 1000;
    o.idle.cpu_c = idle_cpu;
    o.idle.gpu_c = idle_gpu;
    o.clock = fake_clock;
    o.sleep = fake_sleep;
    return o;
}

static void test_reads_cpu_and_gpu_sensors(void)
{
    fresh_tree("read");
    cpu_c = 52.5;
    gpu_c = 61;
    set_temperatures();
    gt_temperatures t;
    gt_temperatures_read(&t);
    CHECK_NEAR(t.cpu_c, 52.5, 1e-9); /* the hottest k10temp input, not the NVMe */
    CHECK_EQ_INT(t.cpu_sensors, 2);
    CHECK_NEAR(t.gpu_c, 61, 0);
    CHECK_EQ_INT(t.gpu_sensors, 1);
}

/* 60 C cooling 1.5 C/s: 47 C (45 + 2) after 8.67 s, seen at the 9th poll. */
static void test_waits_until_within_the_band(void)
{
    fresh_tree("wait");
    cpu_c = 60;
    gpu_c = 50;
    cool_per_s = 1.5;
    set_temperatures();
    gt_thermal_options o = options(2, 600, 45, 70);
    gt_thermal_report r;
    gt_error err = {0};
    CHECK_MSG(gt_thermal_wait(&o, &r, &err) == GT_OK, "%s", err.message);
    CHECK_EQ_INT(r.checked, 1);
    CHECK_EQ_INT(r.timed_out, 0);
    CHECK_NEAR(r.waited_s, 9, 1e-9);
    CHECK_NEAR(r.start.cpu_c, 60, 1e-9);
    CHECK_NEAR(r.end.cpu_c, 60 - 13.5, 1e-3);
    CHECK(r.end.gpu_c <= 72);
}

/* A machine that does not cool down in time: the gate gives up, says so. */
static void test_times_out(void)
{
    fresh_tree("timeout");
    cpu_c = 80;
    gpu_c = 30;
    cool_per_s = 0.1;
    set_temperatures();
    gt_thermal_options o = options(2, 5, 45, NAN); /* no GPU reference: the GPU is not waited for */
    gt_thermal_report r;
    gt_error err = {0};
    CHECK_EQ_INT(gt_thermal_wait(&o, &r, &err), GT_OK);
    CHECK_EQ_INT(r.timed_out, 1);
    CHECK_NEAR(r.waited_s, 5, 1e-9);
}

/* Already cool: no wait at all. A reference without sensors: an error. */
static void test_no_wait_and_no_sensor(void)
{
    fresh_tree("cool");
    cpu_c = 44;
    gpu_c = 40;
    set_temperatures();
    gt_thermal_options o = options(2, 60, 45, 41);
    gt_thermal_report r;
    gt_error err = {0};
    CHECK_EQ_INT(gt_thermal_wait(&o, &r, &err), GT_OK);
    CHECK_NEAR(r.waited_s, 0, 0);
    fresh_tree("bare");
    char *argv[] = {"rm", "-rf", (char *)test_path("bare/class/hwmon/hwmon1"), NULL};
    test_run(argv, NULL, NULL);
    CHECK_EQ_INT(gt_thermal_wait(&o, &r, &err), GT_ERR_UNSUPPORTED);
    CHECK(strstr(err.message, "no CPU temperature sensor") != NULL);
    o.idle.cpu_c = o.idle.gpu_c = NAN;
    CHECK_EQ_INT(gt_thermal_wait(&o, &r, &err), GT_ERR_INVALID);
    CHECK(strstr(err.message, "no idle temperature") != NULL);
}

int main(void)
{
    setenv("GREENTUNE_NVML_LIB", test_env("FAKE_NVML_LIB"), 1);
    setenv("FAKE_NVML_STATE", test_path("gpus.txt"), 1);
    RUN(test_reads_cpu_and_gpu_sensors);
    RUN(test_waits_until_within_the_band);
    RUN(test_times_out);
    RUN(test_no_wait_and_no_sensor);
    return test_summary();
}
