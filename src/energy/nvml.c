/* NVIDIA GPUs through NVML, loaded at run time with dlopen so that greentune
 * builds and runs without the driver. $GREENTUNE_NVML_LIB replaces
 * libnvidia-ml.so.1 (tests load a fake library this way).
 *
 * Volta and newer GPUs have a total-energy counter (millijoules, 64 bits);
 * older ones only report power, which is integrated between reads with the
 * trapezoid rule, so its accuracy depends on the sampling interval. */
#include "energy/internal.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NVML_GPUS_MAX 64
#define NVML_SUCCESS 0

typedef int nvml_return;
typedef void *nvml_device;

typedef struct {
    nvml_device handle;
    int has_counter;           /* total-energy counter, else power integration */
    unsigned long long first_mj;
    double last_power_w, last_t;
    double integrated_j;
} nvml_gpu;

typedef struct {
    backend base;
    void *lib;
    nvml_return (*shutdown)(void);
    nvml_return (*total_energy)(nvml_device, unsigned long long *);
    nvml_return (*power_usage)(nvml_device, unsigned int *);
    const char *(*error_string)(nvml_return);
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
        if (g->has_counter) {
            unsigned long long mj;
            nvml_return r = n->total_energy(g->handle, &mj);
            if (r != NVML_SUCCESS)
                return gt_error_set(err, GT_ERR_IO, "nvml: GPU %d: nvmlDeviceGetTotalEnergyConsumption: %s", i,
                                    nvml_error(n, r));
            joules[GT_GPU] += (double)(mj - g->first_mj) * 1e-3;
        } else {
            double w = 0;
            gt_status s = power_w(n, i, &w, err);
            if (s != GT_OK)
                return s;
            if (now_s > g->last_t)
                g->integrated_j += 0.5 * (w + g->last_power_w) * (now_s - g->last_t);
            g->last_power_w = w;
            g->last_t = now_s;
            joules[GT_GPU] += g->integrated_j;
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
    for (unsigned int i = 0; i < gpus; i++) {
        nvml_gpu *g = &n->gpus[i];
        if ((r = handle(i, &g->handle)) != NVML_SUCCESS)
            return gt_error_set(err, GT_ERR_IO, "nvml: GPU %u: nvmlDeviceGetHandleByIndex: %s", i, nvml_error(n, r));
        n->count = (int)i + 1;
        g->has_counter = n->total_energy && n->total_energy(g->handle, &g->first_mj) == NVML_SUCCESS;
        counters += g->has_counter;
        if (!g->has_counter) {
            gt_status s = power_w(n, (int)i, &g->last_power_w, err);
            if (s != GT_OK)
                return s;
            g->last_t = now_s;
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
