/* NVIDIA GPU power limits through NVML, for the power_cap knob (device=gpu)
 * and machine_state.c, which restores them. NVML is loaded at run time
 * ($GREENTUNE_NVML_LIB, else libnvidia-ml.so.1, as the energy meter does) and
 * stays loaded, so that a signal handler can put a limit back. GPUs are named
 * by UUID: indices can change between a killed run and the next start. */
#ifndef GREENTUNE_KNOBS_GPU_POWER_H
#define GREENTUNE_KNOBS_GPU_POWER_H

#include "greentune/common.h"

#define GPU_POWER_MAX 64
#define GPU_UUID_MAX 96

typedef struct {
    int index;
    char uuid[GPU_UUID_MAX];
    char name[96];
    unsigned limit_mw, min_mw, max_mw;   /* the limit now and the range the board accepts */
} gpu_power_info;

/* Every GPU with its limit and range; one line when NVML or a GPU is missing. */
gt_status gpu_power_list(gpu_power_info *out, int cap, int *count, gt_error *err);
gt_status gpu_power_get(const char *uuid, unsigned *mw, gt_error *err);
/* Needs root; the error says so. */
gt_status gpu_power_set(const char *uuid, unsigned mw, gt_error *err);
/* Puts a saved limit back; a GPU already at it is left alone (its set failed,
 * perhaps for want of root). gpu_power_restore_raw is for a signal handler: it
 * only calls into NVML when already loaded, formats nothing; 0 when done. */
gt_status gpu_power_restore(const char *uuid, unsigned mw, gt_error *err);
int gpu_power_restore_raw(const char *uuid, unsigned mw);

/* machine_state's key for a GPU's limit: "nvml:<uuid>/power_limit_mw". */
#define GPU_POWER_KEY_PREFIX "nvml:"
#define GPU_POWER_KEY_SUFFIX "/power_limit_mw"
/* The UUID in a key (into buf, at most size - 1 characters); 0 when key is not one. */
int gpu_power_key_uuid(const char *key, char *buf, unsigned size);

#endif
