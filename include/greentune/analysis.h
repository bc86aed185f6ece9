/* greentune/analysis.h — from stored runs to decisions.
 *
 * gt_analyze() turns an experiment's runs (gt_store_load) into one summary per
 * variant (mean, std, 95 % CI of every stage's energy and time, F1, MCC), the
 * change of each against the baseline with its own interval and test, the
 * cascade model for bundles, and the Pareto fronts. Definitions (all in
 * docs/analysis.md):
 *
 *   delta %        100 (mean_v / mean_baseline - 1), 95 % CI by Fieller,
 *                  significant when Welch's two-sided p < 0.05 (an exact
 *                  Mann-Whitney p is given alongside); untested with < 2 runs.
 *   delta F1 %     the same ratio on F1 (relative, as the paper's Table I).
 *   cascade        a bundle's knobs' single-knob savings s_i predict the saving
 *                  1 - prod(1 - s_i) if the knobs act independently. The
 *                  interaction ratio Q = (E_bundle / E_0) / prod(E_i / E_0)
 *                  gets a 95 % CI by the delta method on log Q (Welch-
 *                  Satterthwaite df). Q's CI below 1: synergistic (the bundle
 *                  saves more than predicted); above 1: antagonistic; containing
 *                  1: additive. With fewer than 2 runs anywhere there is no CI:
 *                  the label then comes from the point estimate (additive when
 *                  |Q - 1| <= 2 %) and says so (from_ci = 0).
 *   pareto         non-dominated variants for (energy down, F1 up) and
 *                  (energy down, time down), by mean.
 */
#ifndef GREENTUNE_ANALYSIS_H
#define GREENTUNE_ANALYSIS_H

#include <stddef.h>

#include "greentune/common.h"
#include "greentune/stats.h"
#include "greentune/store.h"

#define GT_NONE ((size_t)-1)

/* A change against the baseline. */
typedef struct {
    double pct, ci_lo, ci_hi;   /* percent; NAN where unavailable */
    double p_value;             /* Welch's t-test, two-sided */
    double p_mann_whitney;      /* exact rank-sum test, two-sided */
    int tested;                 /* both sides had >= 2 runs */
    int significant;            /* tested and p_value < GT_ALPHA */
} gt_delta;

/* A knob as a variant applies it: its name and its parameters as canonical
 * JSON (object keys sorted), so equal knobs compare equal as strings. */
typedef struct {
    char name[64];
    char *params;
} gt_knob_ref;

typedef struct {
    char name[GT_NAME_MAX];
    size_t runs, failed, pending;       /* done, failed, not (yet) run */
    gt_knob_ref *knobs;
    size_t n_knobs;
    int external;                       /* an external command, not knobs */
    char meter[32];                     /* "mixed" when its runs disagree */
    int estimated;                      /* any of its runs estimated */
    gt_summary energy, duration;        /* the total */
    gt_summary stage_energy[GT_RUN_STAGE_COUNT], stage_duration[GT_RUN_STAGE_COUNT];
    int has_metrics;
    gt_summary accuracy, f1, f1_weighted, mcc;
    gt_delta d_energy, d_time, d_f1, d_f1_weighted;
    gt_delta d_stage_energy[GT_RUN_STAGE_COUNT], d_stage_time[GT_RUN_STAGE_COUNT];
    double d_mcc;                       /* mean MCC minus the baseline's (MCC may be <= 0: no ratio) */
    size_t single_class_runs;           /* runs whose model predicted one class only */
    char *first_error;                  /* why its first failed run failed, or NULL */
} gt_variant_summary;

typedef enum {
    GT_INTERACTION_UNKNOWN,             /* a knob without a single-knob run, or no energy */
    GT_INTERACTION_SYNERGISTIC,
    GT_INTERACTION_ADDITIVE,
    GT_INTERACTION_ANTAGONISTIC
} gt_interaction;
GT_API const char *gt_interaction_name(gt_interaction interaction);

/* What the cascade model says about one bundle. Savings in percent. */
typedef struct {
    double expected_saving_pct;         /* 100 (1 - prod(1 - s_i)) */
    double measured_saving_pct;         /* 100 (1 - E_bundle / E_0) */
    double difference_pct;              /* measured - expected, percentage points */
    double difference_ci_lo, difference_ci_hi;
    double ratio, ratio_ci_lo, ratio_ci_hi;   /* Q and its 95 % CI */
    gt_interaction interaction;
    int from_ci;                        /* 1: label from Q's CI; 0: from the point estimate */
} gt_cascade;

/* 1 - prod(1 - s_i), savings as fractions. */
GT_API double gt_cascade_expected_saving(const double *savings, size_t n);
/* The model for a bundle from the summaries of its energy, the baseline's and
 * each of its n knobs' single-knob variants. */
GT_API gt_cascade gt_cascade_classify(const gt_summary *bundle, const gt_summary *baseline,
                                      const gt_summary *singles, size_t n);

typedef struct {
    size_t variant;                     /* index into gt_analysis.variants */
    size_t *singles;                    /* per knob of the bundle: its single-knob variant, or GT_NONE */
    gt_cascade cascade;                 /* interaction UNKNOWN when a single is missing */
} gt_bundle;

/* The non-dominated points of (x to minimize, y to maximize when y_up, else
 * to minimize); points with a NAN coordinate take no part. Writes their
 * indices into front (room for n) by ascending x; returns how many. */
GT_API size_t gt_pareto_front(const double *x, const double *y, size_t n, int y_up, size_t *front);

typedef struct {
    char experiment[GT_NAME_MAX];
    char meter[32];                     /* of all done runs; "mixed" when they differ, "none" when none */
    int estimated;                      /* any done run estimated */
    size_t hosts;                       /* distinct machines among done runs */
    size_t baseline;                    /* index, or GT_NONE when there are no variants */
    gt_variant_summary *variants;       /* in experiment-file order */
    size_t n_variants;
    gt_bundle *bundles;
    size_t n_bundles;
    size_t best_bundle;                 /* the bundle variant with the least energy, or GT_NONE */
    size_t *pareto_f1, n_pareto_f1;     /* variant indices by ascending energy */
    size_t *pareto_time, n_pareto_time;
    double idle_power_w;                /* mean idle power, NAN when not measured */
    char idle_meter[32];
    int idle_estimated;
} gt_analysis;

GT_API gt_status gt_analyze(const gt_experiment_data *data, gt_analysis *analysis, gt_error *err);
GT_API void gt_analysis_free(gt_analysis *analysis);

#endif
