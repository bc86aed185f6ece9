/* The perf power-PMU meter on a fake sysfs description of the PMU. The
 * counters themselves come from the kernel, so the read path is tested with
 * a PMU that every Linux has: the software PMU (type 1), whose cpu-clock event
 * (0) counts nanoseconds; with a scale of 1e-9 it "measures" seconds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "energy/internal.h"
#include "test_support.h"

static const char *pmu;

static void put(const char *name, const char *text)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", pmu, name);
    test_write_file(path, text, strlen(text));
}

/* A fresh <root>/bus/event_source/devices/power with its events directory. */
static void fresh_pmu(const char *name, const char *type, const char *cpumask)
{
    const char *root = test_path(name);
    setenv("GREENTUNE_SYSFS_ROOT", root, 1);
    static char dir[1024];
    snprintf(dir, sizeof dir, "%s/bus/event_source/devices/power", root);
    pmu = dir;
    char events[1100];
    snprintf(events, sizeof events, "%s/events", dir);
    char *argv[] = {"mkdir", "-p", events, NULL};
    test_run(argv, NULL, NULL);
    put("type", type);
    put("cpumask", cpumask);
}

static gt_status open_perf(backend **b, gt_error *err)
{
    *b = NULL;
    return perf_open(b, err);
}

static void test_software_pmu_reads_scaled_counts(void)
{
    fresh_pmu("software", "1\n", "0\n");
    put("events/energy-pkg", "event=0x0\n");
    put("events/energy-pkg.scale", "1e-9\n");
    put("events/energy-ram", "event=0x00\n");
    put("events/energy-ram.scale", "2e-9\n");
    backend *b;
    gt_error err = {0};
    gt_status s = open_perf(&b, &err);
    if (s == GT_ERR_PERMISSION) { /* not root, no CAP_PERFMON: the error must say how to fix it */
        CHECK_MSG(strstr(err.message, "energy-pkg on CPU 0: permission denied") &&
                      strstr(err.message, "perf_event_paranoid"), "message: %s", err.message);
        return;
    }
    CHECK_MSG(s == GT_OK, "perf_open: %s", err.message);
    if (!b)
        return;
    CHECK(b->components == (COMPONENT_BIT(GT_CPU) | COMPONENT_BIT(GT_DRAM)));
    CHECK(strstr(b->description, "energy-pkg + energy-ram on 1 package(s)") != NULL);
    double j0[GT_COMPONENTS], j1[GT_COMPONENTS];
    CHECK_EQ_INT(b->read(b, 0, j0, &err), GT_OK);
    struct timespec pause = {0, 50000000};
    nanosleep(&pause, NULL);
    CHECK_EQ_INT(b->read(b, 0, j1, &err), GT_OK);
    /* CPU 0's clock ran for at most the 50 ms (plus slack) we slept */
    CHECK(j1[GT_CPU] >= j0[GT_CPU] && j1[GT_CPU] - j0[GT_CPU] < 1.0);
    /* the same count, scaled by 2e-9 instead of 1e-9 */
    CHECK_CLOSE(j1[GT_DRAM] / 2, j1[GT_CPU], 0.05, 1e-4);
    b->close(b);
}

static void test_missing_pmu_is_unsupported(void)
{
    setenv("GREENTUNE_SYSFS_ROOT", test_path("nothing"), 1);
    backend *b;
    gt_error err = {0};
    CHECK_EQ_INT(open_perf(&b, &err), GT_ERR_UNSUPPORTED);
    CHECK(strstr(err.message, "devices/power is not present") != NULL);
}

/* Malformed descriptions are parse errors naming the file. */
static void test_malformed_descriptions(void)
{
    backend *b;
    gt_error err = {0};
    fresh_pmu("bad-type", "power\n", "0\n");
    CHECK_EQ_INT(open_perf(&b, &err), GT_ERR_PARSE);
    CHECK(strstr(err.message, "power/type: 'power") != NULL);
    fresh_pmu("bad-mask", "1\n", "0-x\n");
    CHECK_EQ_INT(open_perf(&b, &err), GT_ERR_PARSE);
    CHECK(strstr(err.message, "is not a CPU list") != NULL);
    fresh_pmu("bad-event", "1\n", "0\n");
    put("events/energy-pkg", "umask=0x3\n");
    CHECK_EQ_INT(open_perf(&b, &err), GT_ERR_PARSE);
    CHECK(strstr(err.message, "events/energy-pkg: 'umask=0x3") != NULL);
    fresh_pmu("bad-scale", "1\n", "0\n");
    put("events/energy-pkg", "event=0x0\n");
    put("events/energy-pkg.scale", "-1\n");
    CHECK_EQ_INT(open_perf(&b, &err), GT_ERR_PARSE);
    CHECK(strstr(err.message, "not a positive scale") != NULL);
    put("events/energy-pkg.scale", "inf\n"); /* every reading would be infinite joules */
    CHECK_EQ_INT(open_perf(&b, &err), GT_ERR_PARSE);
    CHECK(strstr(err.message, "'inf") && strstr(err.message, "not a positive scale"));
    fresh_pmu("huge-type", "4294967297\n", "0\n"); /* 2^32 + 1 would be type 1 as an int */
    CHECK_EQ_INT(open_perf(&b, &err), GT_ERR_PARSE);
    CHECK(strstr(err.message, "not a PMU type number") != NULL);
    fresh_pmu("no-events", "1\n", "0\n");
    CHECK_EQ_INT(open_perf(&b, &err), GT_ERR_UNSUPPORTED);
    CHECK(strstr(err.message, "no energy-pkg or energy-cores event") != NULL);
}

/* A PMU type the kernel does not know: perf_event_open's refusal, explained. */
static void test_unknown_pmu_type(void)
{
    fresh_pmu("unknown-type", "987654\n", "0\n");
    put("events/energy-pkg", "event=0x2\n");
    put("events/energy-pkg.scale", "2.3283064365386962890625e-10\n");
    backend *b;
    gt_error err = {0};
    gt_status s = open_perf(&b, &err);
    CHECK_MSG(s == GT_ERR_UNSUPPORTED || s == GT_ERR_PERMISSION, "status %d: %s", s, err.message);
    CHECK(strstr(err.message, "energy-pkg on CPU 0") != NULL);
}

int main(void)
{
    RUN(test_software_pmu_reads_scaled_counts);
    RUN(test_missing_pmu_is_unsupported);
    RUN(test_malformed_descriptions);
    RUN(test_unknown_pmu_type);
    return test_summary();
}
