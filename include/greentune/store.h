/* greentune/store.h — the SQLite run store behind `sweep`, `search` and `report`.
 *
 * One database file holds experiments, their variants, idle measurements and
 * one row per run (experiment, variant, repeat). A run row moves
 *     planned -> running -> done | failed
 * and each move is one transaction (WAL mode, synchronous=FULL), so a sweep
 * killed at any moment leaves every finished run intact and at most one run
 * "running". That run is redone by the next sweep when the process that
 * claimed it is gone (same host: pid not alive, or alive but started at another
 * time, or the machine rebooted). Runs claimed on another host are left alone.
 * (experiment, variant, repeat) is unique: a run is never counted twice.
 *
 *   gt_store *db;
 *   gt_store_open(&db, "demo.db", NULL, &err);
 *   gt_store_experiment(db, &spec, &exp, &err);
 *   gt_store_plan_runs(db, exp, plan, n, &err);             // idempotent
 *   gt_store_pending_runs(db, exp, 0, &todo, &ntodo, &err); // planned, or orphaned
 *   gt_store_claim_run(db, todo[i].id, 0, &claimed, &err);
 *   ... run it ...
 *   gt_store_finish_run(db, todo[i].id, run_json, &err);    // or gt_store_fail_run
 *
 * A file that is not a greentune database, is corrupted, or stays locked by
 * another process beyond the busy timeout gives one clear error line. */
#ifndef GREENTUNE_STORE_H
#define GREENTUNE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "greentune/common.h"

struct cJSON;

#define GT_STORE_SCHEMA_VERSION 1
#define GT_NAME_MAX 128           /* experiment and variant names, bytes with the NUL */
#define GT_MAX_CLASSES 16         /* confusion matrices up to 16 x 16 */

typedef struct gt_store gt_store;

typedef enum { GT_RUN_PLANNED, GT_RUN_RUNNING, GT_RUN_DONE, GT_RUN_FAILED } gt_run_status;
GT_API const char *gt_run_status_name(gt_run_status status);

/* The stages of a run in pipeline order. OTHER is the part of the total outside
 * the six named stages (and any stage of another name). */
typedef enum {
    GT_RUN_STAGE_DATA, GT_RUN_STAGE_TOKENIZE, GT_RUN_STAGE_LOAD, GT_RUN_STAGE_TRAIN, GT_RUN_STAGE_SAVE,
    GT_RUN_STAGE_EVAL, GT_RUN_STAGE_OTHER, GT_RUN_STAGE_COUNT
} gt_run_stage;
GT_API const char *gt_run_stage_name(gt_run_stage stage);

typedef struct {
    int readonly;          /* never create or change the file (report) */
    int busy_timeout_ms;   /* how long to wait for another process's lock; 0: 5000 */
} gt_store_options;

/* Opens (or, unless readonly, creates) the database. options may be NULL. */
GT_API gt_status gt_store_open(gt_store **store, const char *path, const gt_store_options *options,
                               gt_error *err);
GT_API void gt_store_close(gt_store *store);

/* --- experiments ---------------------------------------------------------- */

typedef struct {
    const char *name;
    const char *knobs_json;    /* the variant's knobs as written in the experiment file (JSON object), or NULL */
    const char *command_json;  /* an external command (JSON array of strings), or NULL */
} gt_variant_spec;

typedef struct {
    const char *name;
    const char *spec_text;     /* the experiment file as read; its hash detects edits */
    const char *baseline;      /* a variant name, or NULL */
    const gt_variant_spec *variants;
    size_t n_variants;
} gt_experiment_spec;

/* Creates the experiment, or finds the one of that name and adds any variants it
 * lacks. An existing experiment whose spec text differs is refused: its runs were
 * measured under the old spec. */
GT_API gt_status gt_store_experiment(gt_store *store, const gt_experiment_spec *spec, int64_t *experiment_id,
                                     gt_error *err);
/* The experiment's id by name; name NULL picks the only experiment (an error
 * lists the names when there are several). */
GT_API gt_status gt_store_find_experiment(gt_store *store, const char *name, int64_t *experiment_id,
                                          gt_error *err);

/* --- the life of a run ---------------------------------------------------- */

typedef struct {
    const char *variant;
    int repeat;
    int order;                 /* position in the (randomized) execution order */
} gt_run_plan;

/* Adds the planned runs that are not already there (one transaction); runs that
 * exist keep their status and order. */
GT_API gt_status gt_store_plan_runs(gt_store *store, int64_t experiment_id, const gt_run_plan *plan, size_t n,
                                    gt_error *err);

typedef struct {
    int64_t id;
    char variant[GT_NAME_MAX];
    int repeat, order, attempts;
    gt_run_status status;
} gt_run_ref;

/* The runs still to do, in planned order: planned ones, running ones whose
 * process is gone, and (retry_failed) failed ones. *runs is malloc'd. */
GT_API gt_status gt_store_pending_runs(gt_store *store, int64_t experiment_id, int retry_failed,
                                       gt_run_ref **runs, size_t *count, gt_error *err);

/* Marks the run running for this process, atomically and only if it is still
 * pending (see above); *claimed says whether it was. Counts an attempt and
 * records the owner (host, pid, process start time, boot id). */
GT_API gt_status gt_store_claim_run(gt_store *store, int64_t run_id, int retry_failed, int *claimed,
                                    gt_error *err);

/* Stores a finished run from its `greentune run` JSON record (or a `greentune
 * measure` record: top-level energy_j/duration_s with "tasks" as stages) and
 * marks it done, in one transaction. The run must be running for this process. */
GT_API gt_status gt_store_finish_run(gt_store *store, int64_t run_id, const struct cJSON *run, gt_error *err);

/* Marks a running run failed with its error and the tail of its stderr (kept to
 * the last 4 KiB). */
GT_API gt_status gt_store_fail_run(gt_store *store, int64_t run_id, const char *message, const char *stderr_tail,
                                   gt_error *err);

/* Puts a run this process claimed back to planned, as if never started: a
 * sweep stopped by Ctrl-C leaves no run "running" behind. */
GT_API gt_status gt_store_release_run(gt_store *store, int64_t run_id, gt_error *err);

/* How many runs of the experiment (of one variant, or all when variant is
 * NULL) are in each state, indexed by gt_run_status. */
GT_API gt_status gt_store_run_counts(gt_store *store, int64_t experiment_id, const char *variant, size_t counts[4],
                                     gt_error *err);

/* Records a finished run directly (import, tests): plans it if needed and stores
 * it as done. A run already done for (experiment, variant, repeat) is refused. */
GT_API gt_status gt_store_add_run_from_json(gt_store *store, int64_t experiment_id, const char *variant,
                                            int repeat, const struct cJSON *run, gt_error *err);

/* --- idle power ----------------------------------------------------------- */

typedef struct {
    const char *meter;
    int estimated;
    double duration_s, energy_j;
} gt_idle_measurement;

GT_API gt_status gt_store_add_idle(gt_store *store, int64_t experiment_id, const gt_idle_measurement *idle,
                                   gt_error *err);

/* --- the machine ---------------------------------------------------------- */

typedef struct {
    char hostname[256];
    char cpu_model[256];
    int cores;                 /* online logical CPUs */
} gt_machine;

/* This machine's facts (best effort: "unknown" where /proc says nothing). */
GT_API void gt_machine_read(gt_machine *machine);

/* --- reading back --------------------------------------------------------- */

typedef struct {
    double energy_j, duration_s;   /* NAN when the run did not report it */
} gt_stage_value;

typedef struct {
    int64_t id;
    char variant[GT_NAME_MAX];
    int repeat, order, attempts;
    gt_run_status status;
    gt_machine machine;
    char meter[32];
    int estimated;
    gt_stage_value stages[GT_RUN_STAGE_COUNT];
    gt_stage_value total;
    double cpu_j, dram_j, gpu_j;   /* components of the total; NAN when unknown */
    int has_metrics;
    double accuracy, precision, recall, f1, f1_weighted, mcc;   /* NAN when absent */
    int n_classes;                 /* 0: no confusion matrix */
    long confusion[GT_MAX_CLASSES][GT_MAX_CLASSES];   /* [true][predicted] */
    char *knobs_json;              /* the run's "knobs" array as JSON, or NULL */
    char *error;                   /* failed runs: why */
    char *stderr_tail;
    char started[32], finished[32];   /* ISO 8601 UTC, "" when unknown */
} gt_run_record;

typedef struct {
    char name[GT_NAME_MAX];
    int position;
    char *knobs_json, *command_json;   /* as given to gt_store_experiment, or NULL */
} gt_variant_record;

typedef struct {
    char meter[32];
    int estimated;
    double duration_s, energy_j;
    char measured[32];
} gt_idle_record;

typedef struct {
    int64_t id;
    char name[GT_NAME_MAX];
    char baseline[GT_NAME_MAX];    /* "" when the experiment named none */
    char spec_hash[17];
    char created[32];
    gt_variant_record *variants;   /* in experiment-file order */
    size_t n_variants;
    gt_run_record *runs;           /* by variant position, then repeat */
    size_t n_runs;
    gt_idle_record *idle;
    size_t n_idle;
} gt_experiment_data;

/* Everything stored for one experiment (name NULL: the only one). */
GT_API gt_status gt_store_load(gt_store *store, const char *experiment, gt_experiment_data *data,
                               gt_error *err);
GT_API void gt_experiment_data_free(gt_experiment_data *data);

#endif
