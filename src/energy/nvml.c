/* NVIDIA GPUs through NVML, loaded at run time with dlopen so that greentune
 * builds and runs without the driver. $GREENTUNE_NVML_LIB replaces
 * libnvidia-ml.so.1 (tests load a fake library this way).
 *
 * Volta and newer GPUs have a total-energy counter (millijoules, 64 bits);
 * older ones only report power, which is integrated between reads with the
 * trapezoid rule, so its accuracy depends on the sampling interval.
 *
 * A process tree's share of a GPU's energy is its share of the SM
 * utilisation in nvmlDeviceGetProcessUtilization's per-process samples since
 * the previous share (the GPU's idle energy, when no process used it, is no
 * process's). */
#include "energy/internal.h"

#include <dlfcn.h>
#include <stdio.h>
#include <sys/time.h>
#include <stdlib.h>
#include <string.h>

#define NVML_GPUS_MAX 64
#define NVML_SUCCESS 0
#define NVML_ERROR_NOT_FOUND 6
#define NVML_ERROR_INSUFFICIENT_SIZE 7
#define NVML_TEMPERATURE_GPU 0
#define NVML_SAMPLES_MAX 1024

typedef int nvml_return;
typedef void *nvml_device;

/* nvmlProcessUtilizationSample_t */
typedef struct {
    unsigned int pid;
    unsigned long long time_stamp; /* microseconds */
    unsigned int sm_util, mem_util, enc_util, dec_util;
} nvml_process_sample;

typedef struct {
    nvml_device handle;
    int has_counter;           /* total-energy counter, else power integration */
    unsigned long long first_mj;
    power_integral power;      /* without a counter */
    double last_j;             /* this GPU's joules at the previous read */
    double unshared_j;         /* added since the last attribute call */
    unsigned long long seen_us; /* newest process sample already counted */
} nvml_gpu;

typedef struct {
    backend base;
    void *lib;
    nvml_return (*shutdown)(void);
    nvml_return (*total_energy)(nvml_device, unsigned long long *);
    nvml_return (*power_usage)(nvml_device, unsigned int *);
    nvml_return (*process_utilization)(nvml_device, nvml_process_sample *, unsigned int *, unsigned long long);
    nvml_return (*temperature)(nvml_device, int, unsigned int *);
    const char *(*error_string)(nvml_return);
    nvml_process_sample samples[NVML_SAMPLES_MAX];
    nvml_gpu gpus[NVML_GPUS_MAX];
    int count;
} nvml_meter;

static const char *nvml_error(nvml_meter *n, nvml_return r)
{
    const char *s = n->error_string ? n->error_string(r) : NULL;
    return s ? s : "unknown NVML error";
}

static void nvml_close(backend *b)
{
    nvml_meter *n = (nvml_meter *)b;
    if (n->shutdown)
        n->shutdown();
    if (n->lib)
        dlclose(n->lib);
    free(n);
}

static gt_status power_w(nvml_meter *n, int i, double *w, gt_error *err)
{
    unsigned int mw;
    nvml_return r = n->power_usage(n->gpus[i].handle, &mw);
    if (r != NVML_SUCCESS)
        return gt_error_set(err, GT_ERR_IO, "nvml: GPU %d: nvmlDeviceGetPowerUsage: %s", i, nvml_error(n, r));
    *w = mw * 1e-3;
    return GT_OK;
}

static gt_status nvml_read(backend *b, double now_s, double joules[GT_COMPONENTS], gt_error *err)
{
    nvml_meter *n = (nvml_meter *)b;
    for (int c = 0; c < GT_COMPONENTS; c++)
        joules[c] = 0;
    for (int i = 0; i < n->count; i++) {
        nvml_gpu *g = &n->gpus[i];
        double j;
        if (g->has_counter) {
            unsigned long long mj;
            nvml_return r = n->total_energy(g->handle, &mj);
            if (r != NVML_SUCCESS)
                return gt_error_set(err, GT_ERR_IO, "nvml: GPU %d: nvmlDeviceGetTotalEnergyConsumption: %s", i,
                                    nvml_error(n, r));
            j = (double)(mj - g->first_mj) * 1e-3;
        } else {
            double w = 0;
            gt_status s = power_w(n, i, &w, err);
            if (s != GT_OK)
                return s;
            power_integral_add(&g->power, now_s, w);
            j = g->power.joules;
        }
        g->unshared_j += j - g->last_j;
        g->last_j = j;
        joules[GT_GPU] += j;
    }
    return GT_OK;
}

static int in_list(unsigned int pid, const int *pids, int count)
{
    for (int i = 0; i < count; i++)
        if ((unsigned int)pids[i] == pid)
            return 1;
    return 0;
}

/* This GPU's samples since the last call: SM % of the tree and of everyone. */
static int gpu_shares(nvml_meter *n, nvml_gpu *g, const int *pids, int count, double *tree, double *all)
{
    unsigned int k = NVML_SAMPLES_MAX;
    nvml_return r = n->process_utilization(g->handle, n->samples, &k, g->seen_us);
    *tree = *all = 0;
    if (r == NVML_ERROR_NOT_FOUND)
        return 1; /* no process ran on it since */
    if (r != NVML_SUCCESS && r != NVML_ERROR_INSUFFICIENT_SIZE)
        return 0;
    for (unsigned int i = 0; i < k && i < NVML_SAMPLES_MAX; i++) {
        const nvml_process_sample *p = &n->samples[i];
        if (p->time_stamp <= g->seen_us)
            continue;
        *all += p->sm_util;
        if (in_list(p->pid, pids, count))
            *tree += p->sm_util;
    }
    for (unsigned int i = 0; i < k && i < NVML_SAMPLES_MAX; i++)
        if (n->samples[i].time_stamp > g->seen_us)
            g->seen_us = n->samples[i].time_stamp;
    return 1;
}

static void nvml_attribute(backend *b, const int *pids, int count, double *joules, char *method, size_t size)
{
    nvml_meter *n = (nvml_meter *)b;
    *joules = 0;
    int shared = 0;
    for (int i = 0; i < n->count; i++) {
        nvml_gpu *g = &n->gpus[i];
        double tree, all;
        if (n->process_utilization && gpu_shares(n, g, pids, count, &tree, &all)) {
            shared++;
            *joules += all > 0 ? g->unshared_j * tree / all : 0;
        }
        g->unshared_j = 0;
    }
    if (shared == n->count)
        snprintf(method, size, "nvml process utilisation share (tree SM %% / all processes' SM %%)");
    else
        snprintf(method, size, "not attributed on %d of %d GPU(s): no nvmlDeviceGetProcessUtilization",
                 n->count - shared, n->count);
}

gt_status nvml_temperature(backend *b, double *max_c, int *sensors)
{
    nvml_meter *n = (nvml_meter *)b;
    *sensors = 0;
    for (int i = 0; i < n->count && n->temperature; i++) {
        unsigned int c;
        if (n->temperature(n->gpus[i].handle, NVML_TEMPERATURE_GPU, &c) == NVML_SUCCESS) {
            if (!*sensors || c > *max_c)
                *max_c = c;
            (*sensors)++;
        }
    }
    return GT_OK;
}

/* dlsym of the first name that exists (NVML versions its entry points). */
static void *symbol(void *lib, const char *name, const char *fallback)
{
    void *p = dlsym(lib, name);
    return p || !fallback ? p : dlsym(lib, fallback);
}

static gt_status open_gpus(nvml_meter *n, double now_s, gt_error *err)
{
    nvml_return (*init)(void) = symbol(n->lib, "nvmlInit_v2", "nvmlInit");
    nvml_return (*count)(unsigned int *) = symbol(n->lib, "nvmlDeviceGetCount_v2", "nvmlDeviceGetCount");
    nvml_return (*handle)(unsigned int, nvml_device *) =
        symbol(n->lib, "nvmlDeviceGetHandleByIndex_v2", "nvmlDeviceGetHandleByIndex");
    nvml_return (*name)(nvml_device, char *, unsigned int) = symbol(n->lib, "nvmlDeviceGetName", NULL);
    n->shutdown = symbol(n->lib, "nvmlShutdown", NULL);
    n->total_energy = symbol(n->lib, "nvmlDeviceGetTotalEnergyConsumption", NULL);
    n->power_usage = symbol(n->lib, "nvmlDeviceGetPowerUsage", NULL);
    n->error_string = symbol(n->lib, "nvmlErrorString", NULL);
    n->process_utilization = symbol(n->lib, "nvmlDeviceGetProcessUtilization", NULL);
    n->temperature = symbol(n->lib, "nvmlDeviceGetTemperature", NULL);
    if (!init || !count || !handle || !n->shutdown || !n->power_usage)
        return gt_error_set(err, GT_ERR_UNSUPPORTED, "nvml: the library lacks nvmlInit/nvmlDeviceGetCount/"
                            "nvmlDeviceGetHandleByIndex/nvmlDeviceGetPowerUsage (too old a driver?)");
    nvml_return r = init();
    if (r != NVML_SUCCESS) {
        n->shutdown = NULL; /* nothing to shut down */
        return gt_error_set(err, GT_ERR_UNSUPPORTED, "nvml: nvmlInit: %s", nvml_error(n, r));
    }
    unsigned int gpus = 0;
    if ((r = count(&gpus)) != NVML_SUCCESS)
        return gt_error_set(err, GT_ERR_IO, "nvml: nvmlDeviceGetCount: %s", nvml_error(n, r));
    if (gpus == 0)
        return gt_error_set(err, GT_ERR_UNSUPPORTED, "nvml: no NVIDIA GPU");
    if (gpus > NVML_GPUS_MAX)
        gpus = NVML_GPUS_MAX;
    int counters = 0;
    struct timeval now; /* process samples carry CPU wall-clock microseconds: older ones are not ours */
    gettimeofday(&now, NULL);
    for (unsigned int i = 0; i < gpus; i++) {
        nvml_gpu *g = &n->gpus[i];
        g->seen_us = (unsigned long long)now.tv_sec * 1000000ull + (unsigned long long)now.tv_usec;
        if ((r = handle(i, &g->handle)) != NVML_SUCCESS)
            return gt_error_set(err, GT_ERR_IO, "nvml: GPU %u: nvmlDeviceGetHandleByIndex: %s", i, nvml_error(n, r));
        n->count = (int)i + 1;
        g->has_counter = n->total_energy && n->total_energy(g->handle, &g->first_mj) == NVML_SUCCESS;
        counters += g->has_counter;
        if (!g->has_counter) {
            double w = 0;
            gt_status s = power_w(n, (int)i, &w, err);
            if (s != GT_OK)
                return s;
            power_integral_start(&g->power, now_s, w);
        }
    }
    char model[96] = "";
    if (!name || name(n->gpus[0].handle, model, sizeof model) != NVML_SUCCESS)
        snprintf(model, sizeof model, "NVIDIA GPU");
    model[sizeof model - 1] = '\0';
    n->base.gpu_count = n->count;
    snprintf(n->base.gpu_model, sizeof n->base.gpu_model, "%d x %s", n->count, model);
    snprintf(n->base.description, sizeof n->base.description,
             "nvml: %d GPU(s) (%s), %d with an energy counter, %d by integrating power samples", n->count, model,
             counters, n->count - counters);
    return GT_OK;
}

gt_status nvml_open(double now_s, backend **out, gt_error *err)
{
    *out = NULL;
    const char *path = getenv("GREENTUNE_NVML_LIB");
    if (!path || !*path)
        path = "libnvidia-ml.so.1";
    nvml_meter *n = calloc(1, sizeof *n);
    if (!n)
        return gt_error_set(err, GT_ERR_NOMEM, "nvml: out of memory");
    n->base.name = "nvml";
    n->base.components = COMPONENT_BIT(GT_GPU);
    n->base.read = nvml_read;
    n->base.close = nvml_close;
    n->base.attribute = nvml_attribute;
    n->lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!n->lib) {
        const char *why = dlerror();
        if (why && !strncmp(why, path, strlen(path)) && !strncmp(why + strlen(path), ": ", 2))
            why += strlen(path) + 2; /* dlerror repeats the name */
        free(n);
        return gt_error_set(err, GT_ERR_UNSUPPORTED, "nvml: cannot load %s (no NVIDIA driver?): %s", path,
                            why ? why : "unknown error");
    }
    gt_status s = open_gpus(n, now_s, err);
    if (s != GT_OK) {
        nvml_close(&n->base);
        return s;
    }
    *out = &n->base;
    return GT_OK;
}
