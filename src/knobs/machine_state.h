/* Machine state the knobs change (power limits, cpufreq), saved and restored.
 *
 * Before the first write the module takes a lock (one greentune changes machine
 * state at a time), replays a journal a killed run left behind, and installs
 * handlers for SIGINT/SIGTERM/SIGHUP/SIGQUIT and an atexit hook. Before each
 * file's first write its original value is saved in memory and in the journal
 * (written atomically); ms_restore writes every original back in reverse order
 * and removes the journal. Only files of the known powercap and cpufreq
 * patterns under $GREENTUNE_SYSFS_ROOT may be written, by a run or by a replay. */
#ifndef GREENTUNE_MACHINE_STATE_H
#define GREENTUNE_MACHINE_STATE_H

#include <stddef.h>

#include "greentune/common.h"

/* Takes the lock, replays a journal a killed run left, installs the handlers;
 * does nothing when already begun. ms_write begins on its own; a knob calls
 * this first when it reads original values before writing. */
gt_status ms_begin(const char *knob, gt_error *err);

/* Writes value to a knob-owned sysfs file, saving its original value first.
 * `knob` names the knob in error messages. */
gt_status ms_write(const char *knob, const char *path, const char *value, gt_error *err);

/* Saves the original of a setting that is not a file (a GPU's power limit,
 * key "nvml:<uuid>/power_limit_mw") before the knob changes it itself: in
 * memory and in the journal, restored like the files. Once per key. */
gt_status ms_record(const char *knob, const char *path, const char *original, gt_error *err);

/* Restores every saved value (reverse order), removes the journal, releases the
 * lock and the signal handlers. When a value cannot be written back the journal
 * stays, so the next start retries, and the error says so. */
gt_status ms_restore(gt_error *err);

/* One line saying what the last replay of a leftover journal restored (empty
 * when none happened); reading it clears it. */
const char *ms_take_replay_note(void);

/* True when a path is one a knob may write: <root>/class/powercap/intel-rapl:N/
 * {constraint_0_power_limit_uw,enabled} or <root>/devices/system/cpu/cpufreq/
 * policyN/{scaling_governor,scaling_max_freq}, or a GPU's power limit key. */
int ms_path_allowed(const char *path);

#endif
