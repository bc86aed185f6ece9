/* A stand-in for libnvidia-ml.so.1, loaded by the NVML tests through
 * GREENTUNE_NVML_LIB. Its GPUs are described by the file named in
 * $FAKE_NVML_STATE, re-read on every call so a test can change them:
 *
 *   counter 2          mode (counter | power | noinit) and number of GPUs
 *   123456 50000       per GPU: total energy in mJ, power in mW, and optionally
 *   0 30000 61 100:30 200:10    its temperature in C and per-process SM
 *                               utilisation samples (pid:percent)
 *
 * "power" GPUs have no energy counter (NVML_ERROR_NOT_SUPPORTED), like
 * pre-Volta parts; "noinit" fails nvmlInit as a machine without a driver.
 *
 * Power limits (the power_cap knob) live in the file named by
 * $FAKE_NVML_LIMITS, one line per GPU, rewritten by every successful set:
 *
 *   GPU-fake-0 700000 200000 700000        uuid, limit, minimum, maximum (mW)
 *   GPU-fake-1 650000 200000 700000 deny   set fails: NVML_ERROR_NO_PERMISSION
 *   GPU-fake-2 650000 200000 700000 stuck  set succeeds, the limit stays */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#define NVML_SUCCESS 0
#define NVML_ERROR_NOT_SUPPORTED 3
#define NVML_ERROR_INVALID_ARGUMENT 2
#define NVML_ERROR_NOT_FOUND 6
#define NVML_ERROR_INSUFFICIENT_SIZE 7
#define NVML_ERROR_DRIVER_NOT_LOADED 9
#define NVML_ERROR_NO_PERMISSION 4
#define GPUS_MAX 8
#define SAMPLES_MAX 8

typedef struct {
    unsigned int pid;
    unsigned long long time_stamp;
    unsigned int sm_util, mem_util, enc_util, dec_util;
} process_sample; /* nvmlProcessUtilizationSample_t */

typedef struct {
    char mode[16];
    unsigned gpus;
    unsigned long long energy_mj[GPUS_MAX];
    unsigned power_mw[GPUS_MAX];
    int temp_c[GPUS_MAX];
    unsigned samples[GPUS_MAX], pid[GPUS_MAX][SAMPLES_MAX], sm[GPUS_MAX][SAMPLES_MAX];
} state;

static state load(void)
{
    state s;
    memset(&s, 0, sizeof s);
    strcpy(s.mode, "noinit");
    const char *path = getenv("FAKE_NVML_STATE");
    FILE *f = path ? fopen(path, "r") : NULL;
    char line[512];
    if (!f)
        return s;
    if (!fgets(line, sizeof line, f) || sscanf(line, "%15s %u", s.mode, &s.gpus) != 2 || s.gpus > GPUS_MAX)
        s.gpus = 0;
    for (unsigned i = 0; i < s.gpus; i++) {
        int used = 0;
        s.temp_c[i] = -1;
        if (!fgets(line, sizeof line, f) ||
            sscanf(line, "%llu %u %n", &s.energy_mj[i], &s.power_mw[i], &used) < 2) {
            s.gpus = i;
            break;
        }
        char *p = line + used;
        int n = 0;
        if (sscanf(p, "%d %n", &s.temp_c[i], &n) >= 1)
            p += n;
        while (s.samples[i] < SAMPLES_MAX && sscanf(p, "%u:%u %n", &s.pid[i][s.samples[i]], &s.sm[i][s.samples[i]],
                                                    &n) >= 2) {
            s.samples[i]++;
            p += n;
        }
    }
    fclose(f);
    return s;
}

static int index_of(void *device) { return (int)(intptr_t)device - 1; }

int nvmlInit_v2(void) { return strcmp(load().mode, "noinit") ? NVML_SUCCESS : NVML_ERROR_DRIVER_NOT_LOADED; }
int nvmlShutdown(void) { return NVML_SUCCESS; }

int nvmlDeviceGetCount_v2(unsigned *count)
{
    *count = load().gpus;
    return NVML_SUCCESS;
}

int nvmlDeviceGetHandleByIndex_v2(unsigned i, void **device)
{
    if (i >= load().gpus)
        return NVML_ERROR_INVALID_ARGUMENT;
    *device = (void *)(intptr_t)(i + 1);
    return NVML_SUCCESS;
}

int nvmlDeviceGetTotalEnergyConsumption(void *device, unsigned long long *mj)
{
    state s = load();
    if (strcmp(s.mode, "counter"))
        return NVML_ERROR_NOT_SUPPORTED;
    *mj = s.energy_mj[index_of(device)];
    return NVML_SUCCESS;
}

int nvmlDeviceGetPowerUsage(void *device, unsigned *mw)
{
    *mw = load().power_mw[index_of(device)];
    return NVML_SUCCESS;
}

int nvmlDeviceGetName(void *device, char *name, unsigned length)
{
    snprintf(name, length, "Fake GPU %d", index_of(device));
    return NVML_SUCCESS;
}

const char *nvmlErrorString(int r)
{
    return r == NVML_ERROR_DRIVER_NOT_LOADED ? "Driver Not Loaded"
           : r == NVML_ERROR_NOT_SUPPORTED   ? "Not Supported"
           : r == NVML_ERROR_NO_PERMISSION   ? "Insufficient Permissions"
                                             : "Unknown Error";
}

int nvmlDeviceGetTemperature(void *device, int sensor, unsigned *celsius)
{
    state s = load();
    int t = s.temp_c[index_of(device)];
    if (sensor != 0 || t < 0)
        return NVML_ERROR_NOT_SUPPORTED;
    *celsius = (unsigned)t;
    return NVML_SUCCESS;
}

/* Every listed sample, stamped now (so each call sees them as new). */
int nvmlDeviceGetProcessUtilization(void *device, process_sample *out, unsigned *count, unsigned long long last_seen)
{
    (void)last_seen;
    state s = load();
    int i = index_of(device);
    if (s.samples[i] == 0)
        return NVML_ERROR_NOT_FOUND;
    if (!out || *count < s.samples[i]) {
        *count = s.samples[i];
        return NVML_ERROR_INSUFFICIENT_SIZE;
    }
    struct timeval now;
    gettimeofday(&now, NULL);
    for (unsigned k = 0; k < s.samples[i]; k++) {
        memset(&out[k], 0, sizeof out[k]);
        out[k].pid = s.pid[i][k];
        out[k].sm_util = s.sm[i][k];
        out[k].time_stamp = (unsigned long long)now.tv_sec * 1000000ull + (unsigned long long)now.tv_usec + k;
    }
    *count = s.samples[i];
    return NVML_SUCCESS;
}

/* ---- power limits ------------------------------------------------------------------ */

typedef struct {
    unsigned count;
    char uuid[GPUS_MAX][64];
    unsigned limit[GPUS_MAX], min[GPUS_MAX], max[GPUS_MAX];
    char flag[GPUS_MAX][16];
} limits;

static int load_limits(limits *l)
{
    memset(l, 0, sizeof *l);
    const char *path = getenv("FAKE_NVML_LIMITS");
    FILE *f = path ? fopen(path, "r") : NULL;
    if (!f)
        return 0;
    char line[256];
    while (l->count < GPUS_MAX && fgets(line, sizeof line, f)) {
        unsigned i = l->count;
        if (sscanf(line, "%63s %u %u %u %15s", l->uuid[i], &l->limit[i], &l->min[i], &l->max[i], l->flag[i]) >= 4)
            l->count++;
    }
    fclose(f);
    return 1;
}

static void save_limits(const limits *l)
{
    const char *path = getenv("FAKE_NVML_LIMITS");
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return;
    for (unsigned i = 0; i < l->count; i++)
        fprintf(f, "%s %u %u %u %s\n", l->uuid[i], l->limit[i], l->min[i], l->max[i], l->flag[i]);
    fclose(f);
    rename(tmp, path);
}

int nvmlDeviceGetUUID(void *device, char *uuid, unsigned length)
{
    limits l;
    int i = index_of(device);
    if (load_limits(&l) && (unsigned)i < l.count)
        snprintf(uuid, length, "%s", l.uuid[i]);
    else
        snprintf(uuid, length, "GPU-fake-%d", i);
    return NVML_SUCCESS;
}

int nvmlDeviceGetHandleByUUID(const char *uuid, void **device)
{
    limits l;
    load_limits(&l);
    for (unsigned i = 0; i < l.count && i < load().gpus; i++)
        if (!strcmp(l.uuid[i], uuid)) {
            *device = (void *)(intptr_t)(i + 1);
            return NVML_SUCCESS;
        }
    return NVML_ERROR_NOT_FOUND;
}

int nvmlDeviceGetPowerManagementLimit(void *device, unsigned *mw)
{
    limits l;
    unsigned i = (unsigned)index_of(device);
    if (!load_limits(&l) || i >= l.count)
        return NVML_ERROR_NOT_SUPPORTED;
    *mw = l.limit[i];
    return NVML_SUCCESS;
}

int nvmlDeviceGetPowerManagementLimitConstraints(void *device, unsigned *min, unsigned *max)
{
    limits l;
    unsigned i = (unsigned)index_of(device);
    if (!load_limits(&l) || i >= l.count)
        return NVML_ERROR_NOT_SUPPORTED;
    *min = l.min[i];
    *max = l.max[i];
    return NVML_SUCCESS;
}

int nvmlDeviceSetPowerManagementLimit(void *device, unsigned mw)
{
    limits l;
    unsigned i = (unsigned)index_of(device);
    if (!load_limits(&l) || i >= l.count)
        return NVML_ERROR_NOT_SUPPORTED;
    if (!strcmp(l.flag[i], "deny"))
        return NVML_ERROR_NO_PERMISSION;
    if (mw < l.min[i] || mw > l.max[i])
        return NVML_ERROR_INVALID_ARGUMENT;
    if (strcmp(l.flag[i], "stuck")) {
        l.limit[i] = mw;
        save_limits(&l);
    }
    return NVML_SUCCESS;
}
