/* AMD GPUs through AMD SMI (libamd_smi.so, ROCm 6 and later) or, where that
 * is missing, its predecessor ROCm SMI (librocm_smi64.so), both loaded at run
 * time with dlopen so that greentune builds and runs without ROCm.
 * $GREENTUNE_AMDSMI_LIB and $GREENTUNE_ROCM_SMI_LIB replace the library names
 * (tests load a fake library this way).
 *
 * Both expose the GPU's energy accumulator: a count and its resolution in
 * microjoules (amdsmi_get_energy_count, rsmi_dev_energy_count_get). Some
 * GPUs keep it in 32 bits: a count that goes down below 2^32 has wrapped.
 * Under ROCm SMI a GPU without the accumulator falls back to integrating
 * rsmi_dev_power_ave_get (microwatts) with the trapezoid rule. */
#include "energy/internal.h"

#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AMD_GPUS_MAX 64
#define AMD_SOCKETS_MAX 64
#define AMD_SUCCESS 0
#define AMDSMI_INIT_AMD_GPUS (1u << 1)

typedef int amd_status;
typedef void *amd_handle;

typedef struct {
    amd_handle handle; /* AMD SMI */
    uint32_t index;    /* ROCm SMI */
    int has_counter;
    uint64_t last_count;
    double total_j;
    power_integral power; /* without the accumulator */
} amd_gpu;

typedef struct {
    backend base;
    void *lib;
    int amdsmi; /* 1: AMD SMI, 0: ROCm SMI */
    amd_status (*shutdown)(void);
    amd_status (*energy_amdsmi)(amd_handle, uint64_t *, float *, uint64_t *);
    amd_status (*energy_rsmi)(uint32_t, uint64_t *, float *, uint64_t *);
    amd_status (*power_rsmi)(uint32_t, uint32_t, uint64_t *);
    amd_status (*status_string)(amd_status, const char **);
    amd_gpu gpus[AMD_GPUS_MAX];
    int count;
} rocm_meter;

static const char *amd_error(const rocm_meter *r, amd_status st)
{
    const char *text = NULL;
    if (r->status_string && r->status_string(st, &text) == AMD_SUCCESS && text)
        return text;
    return "unknown error";
}

static const char *api_name(const rocm_meter *r) { return r->amdsmi ? "amd-smi" : "rocm-smi"; }

static amd_status read_counter(const rocm_meter *r, const amd_gpu *g, uint64_t *count, double *uj_per_count)
{
    float resolution = 0;
    uint64_t timestamp;
    amd_status st = r->amdsmi ? r->energy_amdsmi(g->handle, count, &resolution, &timestamp)
                              : r->energy_rsmi(g->index, count, &resolution, &timestamp);
    *uj_per_count = resolution;
    return st;
}

static gt_status power_w(rocm_meter *r, int i, double *w, gt_error *err)
{
    uint64_t uw = 0;
    amd_status st = r->power_rsmi ? r->power_rsmi(r->gpus[i].index, 0, &uw) : -1;
    if (st != AMD_SUCCESS)
        return gt_error_set(err, GT_ERR_IO, "rocm: GPU %d: no energy counter and rsmi_dev_power_ave_get: %s", i,
                            r->power_rsmi ? amd_error(r, st) : "missing");
    *w = (double)uw * 1e-6;
    return GT_OK;
}

static gt_status rocm_read(backend *b, double now_s, double joules[GT_COMPONENTS], gt_error *err)
{
    rocm_meter *r = (rocm_meter *)b;
    for (int c = 0; c < GT_COMPONENTS; c++)
        joules[c] = 0;
    for (int i = 0; i < r->count; i++) {
        amd_gpu *g = &r->gpus[i];
        if (g->has_counter) {
            uint64_t count;
            double uj;
            amd_status st = read_counter(r, g, &count, &uj);
            if (st != AMD_SUCCESS)
                return gt_error_set(err, GT_ERR_IO, "rocm: GPU %d: %s energy count: %s", i, api_name(r),
                                    amd_error(r, st));
            uint64_t d = count >= g->last_count ? count - g->last_count
                         : g->last_count < (1ull << 32) ? (1ull << 32) - g->last_count + count
                                                        : count; /* a reset */
            g->total_j += (double)d * uj * 1e-6;
            g->last_count = count;
        } else {
            double w = 0;
            gt_status s = power_w(r, i, &w, err);
            if (s != GT_OK)
                return s;
            power_integral_add(&g->power, now_s, w);
            g->total_j = g->power.joules;
        }
        joules[GT_GPU] += g->total_j;
    }
    return GT_OK;
}

static void rocm_close(backend *b)
{
    rocm_meter *r = (rocm_meter *)b;
    if (r->shutdown)
        r->shutdown();
    if (r->lib)
        dlclose(r->lib);
    free(r);
}

/* AMD SMI: GPUs are the processors of its sockets. */
static gt_status find_gpus_amdsmi(rocm_meter *r, gt_error *err)
{
    amd_status (*sockets)(uint32_t *, amd_handle *) = dlsym(r->lib, "amdsmi_get_socket_handles");
    amd_status (*processors)(amd_handle, uint32_t *, amd_handle *) = dlsym(r->lib, "amdsmi_get_processor_handles");
    if (!sockets || !processors || !r->energy_amdsmi)
        return gt_error_set(err, GT_ERR_UNSUPPORTED, "rocm: the AMD SMI library lacks amdsmi_get_socket_handles/"
                            "amdsmi_get_processor_handles/amdsmi_get_energy_count (too old?)");
    amd_handle socket[AMD_SOCKETS_MAX];
    uint32_t n = AMD_SOCKETS_MAX;
    amd_status st = sockets(&n, socket);
    if (st != AMD_SUCCESS)
        return gt_error_set(err, GT_ERR_IO, "rocm: amdsmi_get_socket_handles: %s", amd_error(r, st));
    for (uint32_t s = 0; s < n && s < AMD_SOCKETS_MAX; s++) {
        amd_handle found[AMD_GPUS_MAX];
        uint32_t k = AMD_GPUS_MAX;
        if ((st = processors(socket[s], &k, found)) != AMD_SUCCESS)
            return gt_error_set(err, GT_ERR_IO, "rocm: amdsmi_get_processor_handles: %s", amd_error(r, st));
        for (uint32_t i = 0; i < k && i < AMD_GPUS_MAX && r->count < AMD_GPUS_MAX; i++)
            r->gpus[r->count++].handle = found[i];
    }
    return GT_OK;
}

static gt_status find_gpus_rsmi(rocm_meter *r, gt_error *err)
{
    amd_status (*devices)(uint32_t *) = dlsym(r->lib, "rsmi_num_monitor_devices");
    if (!devices || (!r->energy_rsmi && !r->power_rsmi))
        return gt_error_set(err, GT_ERR_UNSUPPORTED, "rocm: the ROCm SMI library lacks rsmi_num_monitor_devices/"
                            "rsmi_dev_energy_count_get (too old?)");
    uint32_t n = 0;
    amd_status st = devices(&n);
    if (st != AMD_SUCCESS)
        return gt_error_set(err, GT_ERR_IO, "rocm: rsmi_num_monitor_devices: %s", amd_error(r, st));
    for (uint32_t i = 0; i < n && r->count < AMD_GPUS_MAX; i++)
        r->gpus[r->count++].index = i;
    return GT_OK;
}

static gt_status open_gpus(rocm_meter *r, double now_s, gt_error *err)
{
    amd_status (*init)(uint64_t) = dlsym(r->lib, r->amdsmi ? "amdsmi_init" : "rsmi_init");
    r->shutdown = dlsym(r->lib, r->amdsmi ? "amdsmi_shut_down" : "rsmi_shut_down");
    r->status_string = dlsym(r->lib, r->amdsmi ? "amdsmi_status_code_to_string" : "rsmi_status_string");
    r->energy_amdsmi = dlsym(r->lib, "amdsmi_get_energy_count");
    r->energy_rsmi = dlsym(r->lib, "rsmi_dev_energy_count_get");
    r->power_rsmi = dlsym(r->lib, "rsmi_dev_power_ave_get");
    if (!init || !r->shutdown)
        return gt_error_set(err, GT_ERR_UNSUPPORTED, "rocm: the %s library has no init/shut_down", api_name(r));
    amd_status st = init(r->amdsmi ? AMDSMI_INIT_AMD_GPUS : 0);
    if (st != AMD_SUCCESS) {
        r->shutdown = NULL;
        return gt_error_set(err, GT_ERR_UNSUPPORTED, "rocm: %s init: %s (no amdgpu driver?)", api_name(r),
                            amd_error(r, st));
    }
    gt_status s = r->amdsmi ? find_gpus_amdsmi(r, err) : find_gpus_rsmi(r, err);
    if (s != GT_OK)
        return s;
    if (r->count == 0)
        return gt_error_set(err, GT_ERR_UNSUPPORTED, "rocm: no AMD GPU");
    int counters = 0;
    for (int i = 0; i < r->count; i++) {
        amd_gpu *g = &r->gpus[i];
        double uj;
        g->has_counter = (r->amdsmi ? r->energy_amdsmi != NULL : r->energy_rsmi != NULL) &&
                         read_counter(r, g, &g->last_count, &uj) == AMD_SUCCESS && uj > 0;
        counters += g->has_counter;
        if (!g->has_counter && r->amdsmi)
            return gt_error_set(err, GT_ERR_UNSUPPORTED, "rocm: GPU %d has no energy counter under amd-smi", i);
        double w = 0;
        if (!g->has_counter) {
            if ((s = power_w(r, i, &w, err)) != GT_OK)
                return s;
            power_integral_start(&g->power, now_s, w);
        }
    }
    char model[64] = "AMD GPU";
    amd_status (*name)(uint32_t, char *, size_t) = r->amdsmi ? NULL : dlsym(r->lib, "rsmi_dev_name_get");
    if (name && name(0, model, sizeof model) != AMD_SUCCESS)
        snprintf(model, sizeof model, "AMD GPU");
    model[sizeof model - 1] = '\0';
    r->base.gpu_count = r->count;
    snprintf(r->base.gpu_model, sizeof r->base.gpu_model, "%d x %s", r->count, model);
    snprintf(r->base.description, sizeof r->base.description,
             "rocm: %d AMD GPU(s) (%s) through %s, %d with an energy counter, %d by integrating power samples",
             r->count, model, api_name(r), counters, r->count - counters);
    return GT_OK;
}

/* dlopen of $env, else of the first name that loads. */
static void *load(const char *env, const char *const *names, const char **loaded, char *why, size_t size)
{
    const char *path = getenv(env);
    const char *one[] = {path, NULL};
    const char *const *list = path && *path ? one : names;
    for (int i = 0; list[i]; i++) {
        void *lib = dlopen(list[i], RTLD_NOW | RTLD_LOCAL);
        if (lib) {
            *loaded = list[i];
            return lib;
        }
        const char *e = dlerror();
        snprintf(why, size, "%s", e ? e : list[i]);
    }
    return NULL;
}

gt_status rocm_open(double now_s, backend **out, gt_error *err)
{
    *out = NULL;
    static const char *const amdsmi_names[] = {"libamd_smi.so", "/opt/rocm/lib/libamd_smi.so", NULL};
    static const char *const rsmi_names[] = {"librocm_smi64.so", "/opt/rocm/lib/librocm_smi64.so", NULL};
    rocm_meter *r = calloc(1, sizeof *r);
    if (!r)
        return gt_error_set(err, GT_ERR_NOMEM, "rocm: out of memory");
    r->base.name = "rocm";
    r->base.components = COMPONENT_BIT(GT_GPU);
    r->base.read = rocm_read;
    r->base.close = rocm_close;
    const char *loaded = NULL;
    char why_amdsmi[256] = "", why_rsmi[256] = "";
    r->amdsmi = 1;
    r->lib = load("GREENTUNE_AMDSMI_LIB", amdsmi_names, &loaded, why_amdsmi, sizeof why_amdsmi);
    if (!r->lib) {
        r->amdsmi = 0;
        r->lib = load("GREENTUNE_ROCM_SMI_LIB", rsmi_names, &loaded, why_rsmi, sizeof why_rsmi);
    }
    if (!r->lib) {
        free(r);
        /* "No such file" is the usual case, a machine without ROCm: say just that. */
        int absent = strstr(why_amdsmi, "No such file") && strstr(why_rsmi, "No such file");
        return gt_error_set(err, GT_ERR_UNSUPPORTED,
                            "rocm: cannot load AMD SMI or ROCm SMI (libamd_smi.so, librocm_smi64.so; no ROCm?)%s%s%s%s",
                            absent ? "" : ": ", absent ? "" : why_amdsmi, absent ? "" : "; ", absent ? "" : why_rsmi);
    }
    gt_status s = open_gpus(r, now_s, err);
    if (s != GT_OK) {
        rocm_close(&r->base);
        return s;
    }
    size_t used = strlen(r->base.description);
    snprintf(r->base.description + used, sizeof r->base.description - used, " from %s", loaded);
    *out = &r->base;
    return GT_OK;
}
