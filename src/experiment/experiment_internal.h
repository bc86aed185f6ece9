/* Shared by the experiment files: sweep, executor, search (not public API). */
#ifndef GREENTUNE_EXPERIMENT_INTERNAL_H
#define GREENTUNE_EXPERIMENT_INTERNAL_H

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

#endif
