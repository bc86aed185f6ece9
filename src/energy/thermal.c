/* The thermal gate: before a run, wait until the CPUs and GPUs have cooled
 * back to within a band of their idle temperature, so that a run does not
 * inherit the heat (and the higher leakage power, and the throttling) of the
 * one before it. No tracker does this; energy comparisons of back-to-back
 * runs need it.
 *
 *   CPU  hwmon chips coretemp (Intel), k10temp and zenpower (AMD), cpu_thermal
 *        (ARM SoCs): the hottest temp*_input
 *   GPU  hwmon chips amdgpu, radeon, nouveau; NVML (nvmlDeviceGetTemperature)
 *
 * read under $GREENTUNE_SYSFS_ROOT/class/hwmon/hwmon*, millidegrees Celsius. */
#include "energy/internal.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "util/sysfs.h"

static int is_cpu_chip(const char *name)
{
    return !strcmp(name, "coretemp") || !strcmp(name, "k10temp") || !strcmp(name, "zenpower") ||
           !strcmp(name, "cpu_thermal");
}

static int is_gpu_chip(const char *name)
{
    return !strcmp(name, "amdgpu") || !strcmp(name, "radeon") || !strcmp(name, "nouveau");
}

static void note_max(double *max_c, int *count, double c)
{
    if (!*count || c > *max_c)
        *max_c = c;
    (*count)++;
}

/* The hottest temp*_input of one hwmon directory. */
static void chip_max(const char *dir, double *max_c, int *count)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (strncmp(e->d_name, "temp", 4) || n < 11 || strcmp(e->d_name + n - 6, "_input"))
            continue;
        char path[GT_SYSFS_PATH_MAX + 64];
        uint64_t milli;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (gt_sysfs_read_u64(path, &milli, NULL) == GT_OK && milli < 200000) /* above 200 C: a broken sensor */
            note_max(max_c, count, (double)milli / 1000.0);
    }
    closedir(d);
}

static void read_hwmon(gt_temperatures *t)
{
    char base[GT_SYSFS_PATH_MAX];
    if (gt_sysfs_path(base, sizeof base, NULL, "class/hwmon") != GT_OK)
        return;
    DIR *d = opendir(base);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "hwmon", 5))
            continue;
        char dir[GT_SYSFS_PATH_MAX + 32], path[GT_SYSFS_PATH_MAX + 64], name[64];
        snprintf(dir, sizeof dir, "%s/%s", base, e->d_name);
        snprintf(path, sizeof path, "%s/name", dir);
        if (gt_sysfs_read_string(path, name, sizeof name, NULL) != GT_OK)
            continue;
        if (is_cpu_chip(name))
            chip_max(dir, &t->cpu_c, &t->cpu_sensors);
        else if (is_gpu_chip(name))
            chip_max(dir, &t->gpu_c, &t->gpu_sensors);
    }
    closedir(d);
}

static void read_all(gt_temperatures *t, backend *nvml)
{
    t->cpu_c = t->gpu_c = NAN;
    t->cpu_sensors = t->gpu_sensors = 0;
    read_hwmon(t);
    double c;
    int n;
    if (nvml && nvml_temperature(nvml, &c, &n) == GT_OK && n > 0) {
        note_max(&t->gpu_c, &t->gpu_sensors, c);
        t->gpu_sensors += n - 1;
    }
}

void gt_temperatures_read(gt_temperatures *t)
{
    backend *nvml = NULL;
    gt_error ignored = {0};
    if (nvml_open(energy_now(), &nvml, &ignored) != GT_OK)
        nvml = NULL;
    read_all(t, nvml);
    if (nvml)
        nvml->close(nvml);
}

static int cool_enough(const gt_temperatures *now, const gt_temperatures *idle, double band)
{
    int cpu = !isfinite(idle->cpu_c) || (now->cpu_sensors && now->cpu_c <= idle->cpu_c + band);
    int gpu = !isfinite(idle->gpu_c) || (now->gpu_sensors && now->gpu_c <= idle->gpu_c + band);
    return cpu && gpu;
}

static double clock_now(const gt_thermal_options *o) { return o->clock ? o->clock(o->clock_ctx) : energy_now(); }

static void pause_for(const gt_thermal_options *o, double seconds)
{
    if (o->sleep) {
        o->sleep(o->clock_ctx, seconds);
        return;
    }
    energy_sleep(seconds);
}

gt_status gt_thermal_wait(const gt_thermal_options *o, gt_thermal_report *r, gt_error *err)
{
    memset(r, 0, sizeof *r);
    if (!(o->band_c > 0 && o->band_c <= 100) || !(o->timeout_s >= 0 && o->timeout_s <= 86400))
        return gt_error_set(err, GT_ERR_INVALID, "thermal gate: band %g C and timeout %g s must be in (0, 100] and "
                            "[0, 86400]", o->band_c, o->timeout_s);
    if (!isfinite(o->idle.cpu_c) && !isfinite(o->idle.gpu_c))
        return gt_error_set(err, GT_ERR_INVALID, "thermal gate: no idle temperature to return to; measure one "
                            "first (greentune measure --idle 10 -- true) or give --idle-temp C");
    backend *nvml = NULL;
    gt_error ignored = {0};
    if (isfinite(o->idle.gpu_c) && nvml_open(energy_now(), &nvml, &ignored) != GT_OK)
        nvml = NULL;
    r->checked = 1;
    r->band_c = o->band_c;
    r->idle = o->idle;
    read_all(&r->start, nvml);
    gt_status s = GT_OK;
    char sysfs[GT_SYSFS_PATH_MAX] = "";
    gt_sysfs_path(sysfs, sizeof sysfs, NULL, "class/hwmon");
    if (isfinite(o->idle.cpu_c) && !r->start.cpu_sensors)
        s = gt_error_set(err, GT_ERR_UNSUPPORTED, "thermal gate: no CPU temperature sensor (hwmon coretemp, k10temp, "
                         "zenpower) under %s; drop --thermal-gate on this machine", sysfs);
    else if (isfinite(o->idle.gpu_c) && !r->start.gpu_sensors)
        s = gt_error_set(err, GT_ERR_UNSUPPORTED, "thermal gate: no GPU temperature (hwmon amdgpu or NVML) although "
                         "the idle reference has one");
    double t0 = clock_now(o), poll_s = (o->poll_ms > 0 ? o->poll_ms : 1000) * 1e-3;
    r->end = r->start;
    while (s == GT_OK && !cool_enough(&r->end, &o->idle, o->band_c)) {
        if (clock_now(o) - t0 >= o->timeout_s) {
            r->timed_out = 1;
            break;
        }
        pause_for(o, poll_s);
        read_all(&r->end, nvml);
    }
    r->waited_s = clock_now(o) - t0;
    if (nvml)
        nvml->close(nvml);
    if (s != GT_OK)
        r->checked = 0;
    return s;
}
