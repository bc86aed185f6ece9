/* A stand-in for AMD SMI (libamd_smi.so) and ROCm SMI (librocm_smi64.so) at
 * once, loaded by the ROCm tests through GREENTUNE_AMDSMI_LIB or
 * GREENTUNE_ROCM_SMI_LIB. Its GPUs are described by the file named in
 * $FAKE_AMD_STATE, re-read on every call:
 *
 *   counter 2          mode (counter | power | noinit) and number of GPUs
 *   1000 15.3 90000000 per GPU: energy accumulator count, its resolution in
 *   0 15.3 50000000    microjoules, and the average power in microwatts
 *
 * "power" GPUs have no accumulator (not supported). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OK 0
#define NOT_SUPPORTED 2
#define INVALID 1
#define NOT_INIT 8
#define GPUS_MAX 8

typedef struct {
    char mode[16];
    unsigned gpus;
    unsigned long long count[GPUS_MAX];
    float resolution[GPUS_MAX];
    unsigned long long power_uw[GPUS_MAX];
} state;

static state load(void)
{
    state s;
    memset(&s, 0, sizeof s);
    strcpy(s.mode, "noinit");
    const char *path = getenv("FAKE_AMD_STATE");
    FILE *f = path ? fopen(path, "r") : NULL;
    if (!f)
        return s;
    if (fscanf(f, "%15s %u", s.mode, &s.gpus) != 2 || s.gpus > GPUS_MAX)
        s.gpus = 0;
    for (unsigned i = 0; i < s.gpus; i++)
        if (fscanf(f, "%llu %f %llu", &s.count[i], &s.resolution[i], &s.power_uw[i]) != 3)
            s.gpus = i;
    fclose(f);
    return s;
}

static int init(void) { return strcmp(load().mode, "noinit") ? OK : NOT_INIT; }

static int energy(unsigned i, uint64_t *count, float *resolution, uint64_t *timestamp)
{
    state s = load();
    if (i >= s.gpus)
        return INVALID;
    if (strcmp(s.mode, "counter"))
        return NOT_SUPPORTED;
    *count = s.count[i];
    *resolution = s.resolution[i];
    *timestamp = 0;
    return OK;
}

static int describe(int status, const char **text)
{
    *text = status == NOT_INIT ? "AMDSMI_STATUS_INIT_ERROR" : status == NOT_SUPPORTED ? "not supported" : "error";
    return OK;
}

/* --- AMD SMI: one socket holding every GPU; handles are index + 1 --- */
int amdsmi_init(uint64_t flags) { return flags == 2 ? init() : INVALID; }
int amdsmi_shut_down(void) { return OK; }
int amdsmi_status_code_to_string(int status, const char **text) { return describe(status, text); }

int amdsmi_get_socket_handles(uint32_t *count, void **sockets)
{
    if (sockets && *count >= 1)
        sockets[0] = (void *)(intptr_t)0x50c;
    *count = 1;
    return OK;
}

int amdsmi_get_processor_handles(void *socket, uint32_t *count, void **handles)
{
    state s = load();
    if (socket != (void *)(intptr_t)0x50c)
        return INVALID;
    for (unsigned i = 0; handles && i < s.gpus && i < *count; i++)
        handles[i] = (void *)(intptr_t)(i + 1);
    *count = s.gpus;
    return OK;
}

int amdsmi_get_energy_count(void *handle, uint64_t *count, float *resolution, uint64_t *timestamp)
{
    return energy((unsigned)((intptr_t)handle - 1), count, resolution, timestamp);
}

/* --- ROCm SMI: GPUs by index --- */
int rsmi_init(uint64_t flags) { return flags == 0 ? init() : INVALID; }
int rsmi_shut_down(void) { return OK; }
int rsmi_status_string(int status, const char **text) { return describe(status, text); }

int rsmi_num_monitor_devices(uint32_t *count)
{
    *count = load().gpus;
    return OK;
}

int rsmi_dev_energy_count_get(uint32_t i, uint64_t *count, float *resolution, uint64_t *timestamp)
{
    return energy(i, count, resolution, timestamp);
}

int rsmi_dev_power_ave_get(uint32_t i, uint32_t sensor, uint64_t *uw)
{
    state s = load();
    if (i >= s.gpus || sensor != 0)
        return INVALID;
    *uw = s.power_uw[i];
    return OK;
}

int rsmi_dev_name_get(uint32_t i, char *name, size_t length)
{
    snprintf(name, length, "Fake Instinct %u", i);
    return OK;
}
