/* The perf_event "power" PMU: the same RAPL counters through the kernel's perf
 * interface, which keeps 64-bit totals (no wraparound here) and needs only
 * CAP_PERFMON or kernel.perf_event_paranoid <= 0 rather than root.
 *
 *   <sysfs>/bus/event_source/devices/power/type           PMU type number
 *   .../power/cpumask                                       one CPU per package: "0,18"
 *   .../power/events/energy-pkg, energy-ram, energy-cores  "event=0x02"
 *   .../power/events/energy-pkg.scale                       joules per count
 *
 * energy-pkg is the CPU figure; energy-cores is a part of it and is used only
 * where a machine has no energy-pkg. energy-ram is DRAM. */
#include "energy/internal.h"

#include <errno.h>
#include <limits.h>
#include <linux/perf_event.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PERF_CPUS_MAX 64
#define PERF_COUNTERS_MAX (PERF_CPUS_MAX * 2)

typedef struct {
    int fd;
    gt_component component;
    double scale; /* joules per count */
} perf_counter;

typedef struct {
    backend base;
    perf_counter counters[PERF_COUNTERS_MAX];
    int count;
} perf_meter;

/* "event=0x02" (the only term the power PMU uses) -> 2. */
static gt_status parse_event(const char *path, const char *text, uint64_t *config, gt_error *err)
{
    char *end;
    if (strncmp(text, "event=", 6))
        return gt_error_set(err, GT_ERR_PARSE, "%s: '%.40s' is not an 'event=0x..' description", path, text);
    errno = 0;
    unsigned long long v = strtoull(text + 6, &end, 0);
    while (*end == '\n' || *end == ' ')
        end++;
    if (errno || end == text + 6 || *end)
        return gt_error_set(err, GT_ERR_PARSE, "%s: '%.40s' is not an 'event=0x..' description", path, text);
    *config = v;
    return GT_OK;
}

/* "0,18" or "0-1" -> cpus[]. */
static int parse_cpumask(const char *text, int cpus[PERF_CPUS_MAX])
{
    int n = 0;
    const char *p = text;
    while (*p && *p != '\n') {
        char *end;
        long a = strtol(p, &end, 10), b = a;
        if (end == p || a < 0)
            return -1;
        if (*end == '-') {
            p = end + 1;
            b = strtol(p, &end, 10);
            if (end == p || b < a)
                return -1;
        }
        for (long c = a; c <= b; c++) {
            if (n == PERF_CPUS_MAX)
                return -1;
            cpus[n++] = (int)c;
        }
        p = *end == ',' ? end + 1 : end;
        if (*end != ',' && *end != '\n' && *end != '\0')
            return -1;
    }
    return n;
}

static void perf_close(backend *b)
{
    perf_meter *p = (perf_meter *)b;
    for (int i = 0; i < p->count; i++)
        close(p->counters[i].fd);
    free(p);
}

static gt_status perf_read(backend *b, double now_s, double joules[GT_COMPONENTS], gt_error *err)
{
    (void)now_s;
    perf_meter *p = (perf_meter *)b;
    for (int c = 0; c < GT_COMPONENTS; c++)
        joules[c] = 0;
    for (int i = 0; i < p->count; i++) {
        uint64_t count;
        ssize_t got = read(p->counters[i].fd, &count, sizeof count);
        if (got != (ssize_t)sizeof count)
            return gt_error_set(err, GT_ERR_IO, "perf: reading an energy counter failed: %s",
                                got < 0 ? strerror(errno) : "short read");
        joules[p->counters[i].component] += (double)count * p->counters[i].scale;
    }
    return GT_OK;
}

/* Opens one event on every package's CPU. Returns GT_ERR_NOT_FOUND when the PMU
 * does not have the event. */
static gt_status open_event(perf_meter *p, const char *dir, int type, const char *event, gt_component component,
                            const int *cpus, int ncpus, gt_error *err)
{
    char path[512], text[128];
    snprintf(path, sizeof path, "%s/events/%s", dir, event);
    gt_status s = energy_read_text(path, text, sizeof text, err);
    if (s != GT_OK)
        return s;
    uint64_t config = 0;
    if ((s = parse_event(path, text, &config, err)) != GT_OK)
        return s;
    snprintf(path, sizeof path, "%s/events/%s.scale", dir, event);
    if ((s = energy_read_text(path, text, sizeof text, err)) != GT_OK)
        return s;
    char *end;
    double scale = strtod(text, &end);
    if (end == text || !(scale > 0) || !isfinite(scale)) /* "inf" would make every reading infinite */
        return gt_error_set(err, GT_ERR_PARSE, "%s: '%.40s' is not a positive scale", path, text);
    for (int i = 0; i < ncpus; i++) {
        if (p->count == PERF_COUNTERS_MAX)
            return gt_error_set(err, GT_ERR_UNSUPPORTED, "perf: more than %d energy counters", PERF_COUNTERS_MAX);
        struct perf_event_attr attr;
        memset(&attr, 0, sizeof attr);
        attr.type = (uint32_t)type;
        attr.size = sizeof attr;
        attr.config = config;
        long fd = syscall(SYS_perf_event_open, &attr, -1, cpus[i], -1, PERF_FLAG_FD_CLOEXEC);
        if (fd < 0) {
            int e = errno;
            if (e == EACCES || e == EPERM)
                return gt_error_set(err, GT_ERR_PERMISSION,
                                    "perf: %s on CPU %d: permission denied: system-wide energy events need root, "
                                    "CAP_PERFMON, or 'sudo sysctl kernel.perf_event_paranoid=0'",
                                    event, cpus[i]);
            return gt_error_set(err, GT_ERR_UNSUPPORTED, "perf: %s on CPU %d (PMU type %d): perf_event_open: %s", event,
                                cpus[i], type, strerror(e));
        }
        p->counters[p->count++] = (perf_counter){(int)fd, component, scale};
    }
    return GT_OK;
}

gt_status perf_open(backend **out, gt_error *err)
{
    *out = NULL;
    char dir[400], path[512], text[256];
    snprintf(dir, sizeof dir, "%s/bus/event_source/devices/power", energy_sysfs_root());
    snprintf(path, sizeof path, "%s/type", dir);
    gt_status s = energy_read_text(path, text, sizeof text, err);
    if (s == GT_ERR_NOT_FOUND)
        return gt_error_set(err, GT_ERR_UNSUPPORTED, "perf: %s is not present (no power PMU; a VM or container?)",
                            dir);
    if (s != GT_OK)
        return s;
    char *end;
    long type = strtol(text, &end, 10);
    if (end == text || type < 0 || type > INT_MAX || (*end && *end != '\n'))
        return gt_error_set(err, GT_ERR_PARSE, "%s: '%.40s' is not a PMU type number", path, text);
    snprintf(path, sizeof path, "%s/cpumask", dir);
    if ((s = energy_read_text(path, text, sizeof text, err)) != GT_OK)
        return s;
    int cpus[PERF_CPUS_MAX];
    int ncpus = parse_cpumask(text, cpus);
    if (ncpus <= 0)
        return gt_error_set(err, GT_ERR_PARSE, "%s: '%.40s' is not a CPU list", path, text);

    perf_meter *p = calloc(1, sizeof *p);
    if (!p)
        return gt_error_set(err, GT_ERR_NOMEM, "perf: out of memory");
    p->base.name = "perf";
    p->base.read = perf_read;
    p->base.close = perf_close;
    s = open_event(p, dir, (int)type, "energy-pkg", GT_CPU, cpus, ncpus, err);
    const char *cpu_event = "energy-pkg";
    if (s == GT_ERR_NOT_FOUND) {
        cpu_event = "energy-cores";
        s = open_event(p, dir, (int)type, cpu_event, GT_CPU, cpus, ncpus, err);
    }
    int has_ram = 0;
    if (s == GT_OK) {
        s = open_event(p, dir, (int)type, "energy-ram", GT_DRAM, cpus, ncpus, err);
        has_ram = s == GT_OK;
        if (s == GT_ERR_NOT_FOUND)
            s = GT_OK;
    }
    if (s != GT_OK) {
        perf_close(&p->base);
        return s == GT_ERR_NOT_FOUND ? gt_error_set(err, GT_ERR_UNSUPPORTED, "perf: %s has no energy-pkg or "
                                                    "energy-cores event", dir)
                                     : s;
    }
    p->base.components = COMPONENT_BIT(GT_CPU) | (has_ram ? COMPONENT_BIT(GT_DRAM) : 0);
    snprintf(p->base.description, sizeof p->base.description, "perf: %s%s on %d package(s)", cpu_event,
             has_ram ? " + energy-ram" : "", ncpus);
    *out = &p->base;
    return GT_OK;
}
