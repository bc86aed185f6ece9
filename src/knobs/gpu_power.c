/* NVIDIA GPU power limits through NVML (gpu_power.h). */
#include "gpu_power.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NVML_SUCCESS 0
#define NVML_ERROR_NO_PERMISSION 4

typedef int nvml_return;
typedef void *nvml_device;

static struct {
    void *lib;
    int ready;
    nvml_return (*count)(unsigned *);
    nvml_return (*by_index)(unsigned, nvml_device *);
    nvml_return (*by_uuid)(const char *, nvml_device *);
    nvml_return (*uuid)(nvml_device, char *, unsigned);
    nvml_return (*name)(nvml_device, char *, unsigned);
    nvml_return (*limit)(nvml_device, unsigned *);
    nvml_return (*range)(nvml_device, unsigned *, unsigned *);
    nvml_return (*set)(nvml_device, unsigned);
    const char *(*error_string)(nvml_return);
} nv;

static const char *nvml_error(nvml_return r)
{
    const char *s = nv.error_string ? nv.error_string(r) : NULL;
    return s ? s : "unknown NVML error";
}

static void *sym(const char *name, const char *fallback)
{
    void *p = dlsym(nv.lib, name);
    return p || !fallback ? p : dlsym(nv.lib, fallback);
}

/* Loads and initialises NVML once; it stays loaded for the signal handler. */
static gt_status load(gt_error *err)
{
    if (nv.ready)
        return GT_OK;
    const char *path = getenv("GREENTUNE_NVML_LIB");
    if (!path || !*path)
        path = "libnvidia-ml.so.1";
    if (!nv.lib && !(nv.lib = dlopen(path, RTLD_NOW | RTLD_LOCAL))) {
        const char *why = dlerror();
        return gt_error_set(err, GT_ERR_UNSUPPORTED,
                            "power_cap: cannot load %s (no NVIDIA driver?): %s; use device=cpu or pick another knob",
                            path, why ? why : "unknown error");
    }
    nvml_return (*init)(void) = sym("nvmlInit_v2", "nvmlInit");
    nv.count = sym("nvmlDeviceGetCount_v2", "nvmlDeviceGetCount");
    nv.by_index = sym("nvmlDeviceGetHandleByIndex_v2", "nvmlDeviceGetHandleByIndex");
    nv.by_uuid = sym("nvmlDeviceGetHandleByUUID", NULL);
    nv.uuid = sym("nvmlDeviceGetUUID", NULL);
    nv.name = sym("nvmlDeviceGetName", NULL);
    nv.limit = sym("nvmlDeviceGetPowerManagementLimit", NULL);
    nv.range = sym("nvmlDeviceGetPowerManagementLimitConstraints", NULL);
    nv.set = sym("nvmlDeviceSetPowerManagementLimit", NULL);
    nv.error_string = sym("nvmlErrorString", NULL);
    if (!init || !nv.count || !nv.by_index || !nv.by_uuid || !nv.uuid || !nv.limit || !nv.range || !nv.set)
        return gt_error_set(err, GT_ERR_UNSUPPORTED,
                            "power_cap: %s lacks NVML's power limit functions (too old a driver?); use device=cpu",
                            path);
    nvml_return r = init();
    if (r != NVML_SUCCESS)
        return gt_error_set(err, GT_ERR_UNSUPPORTED, "power_cap: nvmlInit: %s; use device=cpu or pick another knob",
                            nvml_error(r));
    nv.ready = 1;
    return GT_OK;
}

gt_status gpu_power_list(gpu_power_info *out, int cap, int *count, gt_error *err)
{
    *count = 0;
    gt_status st = load(err);
    if (st != GT_OK)
        return st;
    unsigned n = 0;
    nvml_return r = nv.count(&n);
    if (r != NVML_SUCCESS)
        return gt_error_set(err, GT_ERR_IO, "power_cap: nvmlDeviceGetCount: %s", nvml_error(r));
    if (n == 0)
        return gt_error_set(err, GT_ERR_UNSUPPORTED, "power_cap: NVML sees no NVIDIA GPU; use device=cpu");
    for (unsigned i = 0; i < n && (int)i < cap; i++) {
        gpu_power_info *g = &out[i];
        nvml_device dv;
        memset(g, 0, sizeof *g);
        g->index = (int)i;
        if ((r = nv.by_index(i, &dv)) != NVML_SUCCESS || (r = nv.uuid(dv, g->uuid, sizeof g->uuid)) != NVML_SUCCESS ||
            (r = nv.limit(dv, &g->limit_mw)) != NVML_SUCCESS ||
            (r = nv.range(dv, &g->min_mw, &g->max_mw)) != NVML_SUCCESS)
            return gt_error_set(err, GT_ERR_UNSUPPORTED,
                                "power_cap: GPU %u: reading its power limit: %s (a GPU without power management?); "
                                "use device=cpu", i, nvml_error(r));
        g->uuid[sizeof g->uuid - 1] = '\0';
        if (!nv.name || nv.name(dv, g->name, sizeof g->name) != NVML_SUCCESS)
            snprintf(g->name, sizeof g->name, "NVIDIA GPU");
        g->name[sizeof g->name - 1] = '\0';
        (*count)++;
    }
    return GT_OK;
}

static gt_status handle(const char *uuid, nvml_device *dv, gt_error *err)
{
    gt_status st = load(err);
    if (st != GT_OK)
        return st;
    nvml_return r = nv.by_uuid(uuid, dv);
    if (r != NVML_SUCCESS)
        return gt_error_set(err, GT_ERR_NOT_FOUND, "power_cap: GPU %s: %s (was it removed?)", uuid, nvml_error(r));
    return GT_OK;
}

gt_status gpu_power_get(const char *uuid, unsigned *mw, gt_error *err)
{
    nvml_device dv;
    gt_status st = handle(uuid, &dv, err);
    if (st != GT_OK)
        return st;
    nvml_return r = nv.limit(dv, mw);
    if (r != NVML_SUCCESS)
        return gt_error_set(err, GT_ERR_IO, "power_cap: GPU %s: nvmlDeviceGetPowerManagementLimit: %s", uuid,
                            nvml_error(r));
    return GT_OK;
}

gt_status gpu_power_set(const char *uuid, unsigned mw, gt_error *err)
{
    nvml_device dv;
    gt_status st = handle(uuid, &dv, err);
    if (st != GT_OK)
        return st;
    nvml_return r = nv.set(dv, mw);
    if (r == NVML_ERROR_NO_PERMISSION)
        return gt_error_set(err, GT_ERR_PERMISSION,
                            "power_cap: GPU %s: setting its power limit needs root (nvmlDeviceSetPowerManagementLimit: "
                            "%s); run as root or pick another knob", uuid, nvml_error(r));
    if (r != NVML_SUCCESS)
        return gt_error_set(err, GT_ERR_IO, "power_cap: GPU %s: nvmlDeviceSetPowerManagementLimit(%u mW): %s", uuid,
                            mw, nvml_error(r));
    return GT_OK;
}

int gpu_power_restore_raw(const char *uuid, unsigned mw)
{
    nvml_device dv;
    unsigned now;
    if (!nv.ready || nv.by_uuid(uuid, &dv) != NVML_SUCCESS)
        return -1;
    if (nv.limit(dv, &now) == NVML_SUCCESS && now == mw)
        return 0; /* never changed (its set failed): nothing to put back */
    return nv.set(dv, mw) == NVML_SUCCESS ? 0 : -1;
}

gt_status gpu_power_restore(const char *uuid, unsigned mw, gt_error *err)
{
    unsigned now;
    gt_status st = gpu_power_get(uuid, &now, err);
    return st != GT_OK || now == mw ? st : gpu_power_set(uuid, mw, err);
}

int gpu_power_key_uuid(const char *key, char *buf, unsigned size)
{
    const char *prefix = GPU_POWER_KEY_PREFIX, *suffix = GPU_POWER_KEY_SUFFIX;
    unsigned i = 0;
    for (; prefix[i]; i++)
        if (key[i] != prefix[i])
            return 0;
    const char *u = key + i;
    unsigned n = 0;
    while ((u[n] >= 'A' && u[n] <= 'Z') || (u[n] >= 'a' && u[n] <= 'z') || (u[n] >= '0' && u[n] <= '9') ||
           u[n] == '-')
        n++;
    if (n == 0 || n >= size)
        return 0;
    for (unsigned k = 0; suffix[k]; k++)
        if (u[n + k] != suffix[k])
            return 0;
    if (u[n + strlen(suffix)] != '\0')
        return 0;
    memcpy(buf, u, n);
    buf[n] = '\0';
    return 1;
}
