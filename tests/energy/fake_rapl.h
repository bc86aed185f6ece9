/* A fake powercap tree for the RAPL tests: zones are directories with name,
 * max_energy_range_uj and energy_uj files under <root>/class/powercap. Counter
 * updates are written to a temporary file and renamed, as the kernel's reads
 * are atomic, so a reader never sees half a number. */
#ifndef FAKE_RAPL_H
#define FAKE_RAPL_H

#include <stdint.h>

#include "greentune/energy.h"

/* zone: "intel-rapl:0" (a top-level zone) or "intel-rapl:0:2" (inside intel-rapl:0). */
void fake_rapl_zone(const char *root, const char *zone, const char *name, uint64_t max_uj, uint64_t energy_uj);
void fake_rapl_set(const char *root, const char *zone, uint64_t energy_uj);
/* Path of one of the zone's files, for tests that break it. */
const char *fake_rapl_file(const char *root, const char *zone, const char *file);

/* The task tests' measurement: a fresh tree at root with one package zone
 * (intel-rapl:0) whose counter starts at counter_uj, GREENTUNE_SYSFS_ROOT
 * pointing at it, and the rapl meter sampled every interval_ms (0: no
 * sampler). NULL, with a failed check, when it cannot start. */
gt_measurement *fake_rapl_measurement(const char *root, uint64_t counter_uj, int interval_ms);
/* Starts (begin) or stops the task, checking that it worked. */
void fake_rapl_task(gt_measurement *m, int begin, const char *name);
/* The task of that name in r, or NULL with a failed check. */
const gt_task_result *fake_rapl_find(const gt_energy_result *r, const char *name);

#endif
