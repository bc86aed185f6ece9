/* Shared by the experiment files: sweep, executor, search (not public API). */
#ifndef GREENTUNE_EXPERIMENT_INTERNAL_H
#define GREENTUNE_EXPERIMENT_INTERNAL_H

#include "greentune/energy.h"
#include "greentune/experiment.h"

/* Loads the pipeline file with the variant's overrides and knobs, as its runs
 * will; an error is prefixed with the variant's place in the file. */
gt_status exp_variant_check_pipeline(const gt_experiment *exp, const gt_sweep_variant *v, gt_error *err);

/* Records the experiment and its variants in the store (no runs planned). */
gt_status exp_store_experiment(gt_store *store, const gt_experiment *exp, int64_t *experiment_id, gt_error *err);

/* Sleeps up to seconds; returns early (non-zero) when *stop is set. */
int exp_sleep(double seconds, volatile sig_atomic_t *stop);

/* Seconds on the monotonic clock. */
double exp_now(void);

/* --- what the sweep and the sweep over MPI ranks (src/mpi) share ----------------- */

/* Stores what became of a run: done (its record), failed (error and output
 * tail), or back to planned (interrupted); counts it in s and logs the line
 * "<label>: done, 412.3 J (estimate, estimated), 61.2 s, F1 0.951". An error
 * only when the store itself failed. */
gt_status exp_store_outcome(gt_store *store, const gt_run_ref *ref, gt_run_outcome *out, const char *label,
                            const gt_sweep_options *o, gt_sweep_summary *s, gt_error *err);

/* ", ETA 1:02:03" from the mean time of the runs carried out since started
 * (cooldowns included); "" before the first one. */
void exp_eta_text(double started, size_t executed, uint64_t finished, uint64_t total, char *buf, size_t size);

/* The experiment's idle measurement (its meter, idle_s) on this machine. */
gt_status exp_measure_idle(const gt_experiment *exp, gt_energy_result *r, gt_error *err);

/* The pause between two runs: cooldown_s, then (thermal_band_c, while
 * *thermal_ok) until temperatures are back near idle; a note through log
 * when the gate cannot work or gives up. */
void exp_cool_down(const gt_experiment *exp, volatile sig_atomic_t *stop, const gt_temperatures *idle,
                   int *thermal_ok, void (*log)(void *ctx, const char *line), void *log_ctx);

#endif
