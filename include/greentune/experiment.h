/* greentune/experiment.h — experiment files, sweeps that survive anything, and
 * the knob search.
 *
 * An experiment file (design.md) lists variants over a base pipeline: knob
 * sets, --set overrides, or external commands. gt_experiment_load checks all of
 * it before anything runs — every key, every variant's knobs and overrides
 * against the pipeline file — and names file:line on the first problem.
 *
 *   gt_experiment exp;
 *   gt_experiment_load("demo.yaml", &exp, &err);
 *   gt_store *db;
 *   gt_store_open(&db, "demo.db", NULL, &err);
 *   int64_t id;
 *   gt_sweep_prepare(db, &exp, &id, &err);          // experiment + planned runs, idempotent
 *   gt_sweep_options o;
 *   gt_sweep_options_init(&o);
 *   gt_sweep_summary s;
 *   gt_sweep_execute(db, &exp, id, exp.variants, exp.n_variants, &o, &s, &err);
 *
 * Each run executes in a forked child process (docs/experiments.md): a crash,
 * a knob that is not built, or an out-of-memory in one run is recorded as that
 * run's failure (error and the tail of its output) and the sweep goes on. The
 * store makes the sweep resumable: run it again after Ctrl-C or kill -9 and it
 * continues with the runs not yet done, redoing the interrupted one. */
#ifndef GREENTUNE_EXPERIMENT_H
#define GREENTUNE_EXPERIMENT_H

#include <cjson/cJSON.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "greentune/common.h"
#include "greentune/config.h"
#include "greentune/progress.h"
#include "greentune/store.h"

#define GT_EXPERIMENT_MAX_VARIANTS 4096
#define GT_EXPERIMENT_MAX_REPEATS 1000

/* --- the experiment file ---------------------------------------------------- */

typedef struct {
    char name[GT_NAME_MAX];
    char where[160];       /* "demo.yaml:12:5", for messages */
    cJSON *knobs;          /* the knobs as written (a mapping; owned), or NULL */
    char *knobs_json;      /* canonical {"knob": {params}} with defaults filled (the store's), or NULL */
    size_t n_knobs;        /* knobs it turns on */
    char **sets;           /* what the run applies to the pipeline file, in order: the experiment's set:,
                              the variant's set:, then knobs.NAME=VALUE for each of its knobs */
    size_t n_sets;
    size_t n_own_sets;     /* of them, from the variant's own set: */
    char **command;        /* an external command's argv, NULL-terminated; NULL for pipeline runs */
    char *command_json;
} gt_sweep_variant;

typedef struct {
    gt_config *config;
    char *path;            /* the experiment file */
    char *spec_text;       /* its text and the pipeline file's: the store refuses runs from an edited one */
    char name[GT_NAME_MAX];
    char *pipeline;        /* the pipeline file, resolved against the experiment file's directory */
    int repeats;
    int randomized;        /* order: randomized (1) or sequential (0) */
    uint64_t seed;
    double cooldown_s;     /* pause between runs */
    double idle_s;         /* idle power measured this long before a sweep; 0: not measured */
    double timeout_s;      /* a run taking longer is stopped and recorded failed; 0: no limit */
    double thermal_band_c; /* > 0: after the cooldown, wait until temperatures are within this of idle */
    char baseline[GT_NAME_MAX]; /* a variant name (the first variant when the file names none) */
    char meter[256];       /* the base pipeline's system.meter (or the file's meter:): idle and external
                              commands are measured with it too */
    int interval_ms;
    gt_sweep_variant *variants;
    size_t n_variants;
} gt_experiment;

/* Loads and checks an experiment file: keys (an unknown one names the closest
 * known), repeats, order, the pipeline file, every variant (a unique name; its
 * knobs against the knob registry; the pipeline file with its overrides and
 * knobs, as its runs will load it), the baseline. Knobs whose effect is not
 * built yet pass: their runs fail, each one recorded. */
GT_API gt_status gt_experiment_load(const char *path, gt_experiment *exp, gt_error *err);
GT_API void gt_experiment_free(gt_experiment *exp);
GT_API const gt_sweep_variant *gt_experiment_find(const gt_experiment *exp, const char *name);

/* Builds a variant of exp that applies knobs (a mapping; copied), as the
 * search does for the bundles it proposes; checked like a file's variant. */
GT_API gt_status gt_experiment_make_variant(const gt_experiment *exp, const char *name, const cJSON *knobs,
                                            gt_sweep_variant *v, gt_error *err);
GT_API void gt_sweep_variant_free(gt_sweep_variant *v);

/* The execution order of every (variant, repeat): `randomized` runs the
 * repeats in rounds — round r holds every variant's repeat r, shuffled with a
 * generator seeded by exp->seed and r (so drift over time spreads evenly over
 * the variants); `sequential` runs each variant's repeats back to back in file
 * order. plan must hold n_variants x repeats entries; its names point into exp. */
GT_API void gt_experiment_plan(const gt_experiment *exp, gt_run_plan *plan);

/* --- running ---------------------------------------------------------------- */

/* What became of one run. */
typedef struct {
    cJSON *record;         /* done: the run record (design.md's run JSON, or a measure record) */
    char *error;           /* failed: why, one line */
    char *output_tail;     /* the last lines the run printed (stderr and stdout), or NULL */
    int interrupted;       /* it stopped because the sweep was asked to stop: neither done nor failed */
} gt_run_outcome;

GT_API void gt_run_outcome_free(gt_run_outcome *out);

/* Runs one repeat of a variant. Returns GT_OK when the run was carried out,
 * whether it ended done, failed or interrupted (out says which); an error only
 * when the sweep itself cannot go on. The default executes in a child process;
 * tests pass a fake. progress gets the run's own stages. */
typedef struct {
    gt_status (*run)(void *ctx, const gt_experiment *exp, const gt_sweep_variant *v, int repeat,
                     const gt_progress_sink *progress, volatile sig_atomic_t *stop, gt_run_outcome *out,
                     gt_error *err);
    void *ctx;
} gt_run_executor;

/* The default executor: each run in a forked child process (the pipeline
 * in-process there, or gt_measure_command for an external command), its
 * output captured, its progress and record sent back over a pipe. */
GT_API const gt_run_executor *gt_run_executor_fork(void);

typedef struct {
    int retry_failed;                  /* failed runs are run again */
    const gt_run_executor *executor;   /* NULL: gt_run_executor_fork() */
    int measure_idle;                  /* measure idle power first when exp->idle_s > 0 (default 1) */
    /* Progress of the sweep: label "sweep", done/total in runs, status naming
     * the run under way and its stage. */
    gt_progress_sink progress;
    void (*log)(void *ctx, const char *line); /* one line per finished run, and notes (may be NULL) */
    void *log_ctx;
    volatile sig_atomic_t *stop;       /* set (a signal handler): the run under way stops, the sweep ends */
} gt_sweep_options;

GT_API void gt_sweep_options_init(gt_sweep_options *o);

typedef struct {
    size_t planned;        /* runs of the experiment */
    size_t done_before;    /* already done when this sweep started */
    size_t done, failed;   /* by this sweep */
    size_t remaining;      /* not done when it ended (failed ones included) */
    int interrupted;       /* stopped by o->stop; the run under way went back to planned */
} gt_sweep_summary;

/* Records the experiment (refusing one of the same name run from another
 * file) and its planned runs; idempotent, so a resumed sweep keeps its order. */
GT_API gt_status gt_sweep_prepare(gt_store *store, const gt_experiment *exp, int64_t *experiment_id,
                                  gt_error *err);

/* Runs the pending runs (planned; running ones whose process is gone; failed
 * ones with retry_failed) of the given variants, in planned order: claim, run,
 * store done or failed — one transaction each — then cool down. */
GT_API gt_status gt_sweep_execute(gt_store *store, const gt_experiment *exp, int64_t experiment_id,
                                  const gt_sweep_variant *variants, size_t n_variants, const gt_sweep_options *o,
                                  gt_sweep_summary *summary, gt_error *err);

/* --- the knob search -------------------------------------------------------- */

typedef struct {
    double max_f1_drop;    /* percentage points of F1 (metrics.f1): 1 allows 0.954 -> 0.944 */
    long budget;           /* new runs at most; 0: no limit */
    int beam;              /* bundles kept per size while proposing (default 32) */
    gt_sweep_options sweep;
} gt_search_options;

GT_API void gt_search_options_init(gt_search_options *o);

typedef struct {
    int found;                   /* a variant other than the baseline meets the budget and saves energy */
    char best[GT_NAME_MAX];      /* its name (the baseline when none was found) */
    char *best_knobs_json;       /* its knobs, canonical, or NULL */
    double saving_pct, saving_ci_lo, saving_ci_hi;        /* of total energy vs. the baseline, 95 % CI */
    double f1_drop, f1_drop_ci_lo, f1_drop_ci_hi;         /* points of F1 below the baseline, 95 % CI */
    size_t singles;              /* single-knob variants considered (k) */
    size_t candidates;           /* of them, usable: done, saving energy, within the F1 budget */
    size_t bundles_tried;        /* bundles measured by the search */
    size_t runs_new;             /* runs this search executed */
    size_t runs_used;            /* runs its decisions rest on (reused ones included) */
    size_t runs_exhaustive;      /* (2^k - 1) x repeats: every combination of the k knobs */
    int budget_exhausted;
    int interrupted;
    char stop_reason[160];
} gt_search_result;

GT_API void gt_search_result_free(gt_search_result *r);

/* Finds the variant with the least energy whose F1 stays within
 * max_f1_drop points of the baseline's: runs (or reuses) the baseline and the
 * single-knob variants, then proposes bundles of orthogonal knobs by the
 * cascade model (expected energy ratio prod(E_i / E_0), refined by every
 * bundle measured so far), measures the most promising one with the
 * experiment's repeats, and stops when no proposal is predicted to beat the
 * best measured variant, or at the budget. docs/experiments.md has the rules. */
GT_API gt_status gt_search(gt_store *store, const gt_experiment *exp, const gt_search_options *o,
                           gt_search_result *r, gt_error *err);

#endif
