/* A stand-in for libnvidia-ml.so.1, loaded by the NVML tests through
 * GREENTUNE_NVML_LIB. Its GPUs are described by the file named in
 * $FAKE_NVML_STATE, re-read on every call so a test can change them:
 *
 *   counter 2          mode (counter | power | noinit) and number of GPUs
 *   123456 50000       per GPU: total energy in mJ, power in mW
 *   0 30000
 *
 * "power" GPUs have no energy counter (NVML_ERROR_NOT_SUPPORTED), like
 * pre-Volta parts; "noinit" fails nvmlInit as a machine without a driver. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NVML_SUCCESS 0
#define NVML_ERROR_NOT_SUPPORTED 3
#define NVML_ERROR_INVALID_ARGUMENT 2
#define NVML_ERROR_DRIVER_NOT_LOADED 9
#define GPUS_MAX 8

typedef struct {
    char mode[16];
    unsigned gpus;
    unsigned long long energy_mj[GPUS_MAX];
    unsigned power_mw[GPUS_MAX];
} state;

static state load(void)
{
    state s = {"noinit", 0, {0}, {0}};
    const char *path = getenv("FAKE_NVML_STATE");
    FILE *f = path ? fopen(path, "r") : NULL;
    if (!f)
        return s;
    if (fscanf(f, "%15s %u", s.mode, &s.gpus) != 2 || s.gpus > GPUS_MAX)
        s.gpus = 0;
    for (unsigned i = 0; i < s.gpus; i++)
        if (fscanf(f, "%llu %u", &s.energy_mj[i], &s.power_mw[i]) != 2)
            s.gpus = i;
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
    return r == NVML_ERROR_DRIVER_NOT_LOADED ? "Driver Not Loaded" : r == NVML_ERROR_NOT_SUPPORTED ? "Not Supported"
                                                                                                  : "Unknown Error";
}
