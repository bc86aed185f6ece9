/* greentune/knobs.h — the knob catalog, knob sets, and the machine-state knobs.
 *
 * A knob is a named, parameterized change to one or more pipeline stages. The
 * registry holds every knob of the catalog (docs/knob-catalog.md): its phase, the
 * resource it targets, typed parameters with defaults and ranges, the stages it
 * changes, the knobs it conflicts with and the evidence keys it records.
 *
 * A knob set is what one run applies: knobs parsed from `--knob` specs or from a
 * YAML `knobs:` mapping (as cJSON), validated (unknown names, parameters, types,
 * ranges, duplicates and conflicts each fail with one line).
 *
 *   gt_knob_set set;
 *   gt_knob_set_init(&set);
 *   if (gt_knob_set_add_spec(&set, "prune_layers={n: 2, from: bottom}", &err) != GT_OK) ...
 *   long n = gt_knob_int(gt_knob_set_find(&set, "prune_layers"), "n");
 *   gt_knob_set_free(&set);
 *
 * The system-phase knobs that change machine state (power_cap, cpu_freq, threads,
 * pin_cores) and carbon_aware are applied here, before the pipeline starts, by
 * gt_knobs_apply_machine; they are restored by gt_knobs_restore_machine, on
 * SIGINT/SIGTERM/SIGHUP/SIGQUIT, at exit, and — after a kill -9 — by
 * gt_machine_state_recover at the next start (a journal is written before any
 * change). Every other knob's effect is provided by the pipeline and the engine. */
#ifndef GREENTUNE_KNOBS_H
#define GREENTUNE_KNOBS_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdio.h>

#include "greentune/common.h"

/* Phases (a knob lives in the file of its first phase: src/knobs/<phase>.c). */
enum {
    GT_PHASE_DATA = 1u << 0,
    GT_PHASE_MODEL = 1u << 1,
    GT_PHASE_TRAIN = 1u << 2,
    GT_PHASE_SYSTEM = 1u << 3,
    GT_PHASE_INFER = 1u << 4,
};

/* The resource a knob targets. */
enum {
    GT_RESOURCE_COMPUTE = 1u << 0,
    GT_RESOURCE_MEMORY = 1u << 1,
    GT_RESOURCE_PRECISION = 1u << 2,
    GT_RESOURCE_DATA_VOLUME = 1u << 3,
    GT_RESOURCE_IO = 1u << 4,
    GT_RESOURCE_HARDWARE = 1u << 5, /* hardware state */
    GT_RESOURCE_CARBON = 1u << 6,
};

/* The six pipeline stages. */
enum {
    GT_STAGE_DATA = 1u << 0,
    GT_STAGE_TOKENIZE = 1u << 1,
    GT_STAGE_LOAD = 1u << 2,
    GT_STAGE_TRAIN = 1u << 3,
    GT_STAGE_SAVE = 1u << 4,
    GT_STAGE_EVAL = 1u << 5,
    GT_STAGE_ALL = (1u << 6) - 1,
};

typedef enum {
    GT_PARAM_INT,
    GT_PARAM_FLOAT,
    GT_PARAM_BOOL,
    GT_PARAM_STRING,
    GT_PARAM_ENUM,     /* one of choices */
    GT_PARAM_LIST,     /* a set of choices: [q, v] or "q,v"; stored as an array */
    GT_PARAM_DURATION, /* seconds: 90, "90s", "15m", "6h", "1d"; stored in seconds */
} gt_param_type;

/* The default of a parameter that is optional but has no default value: it is
 * absent from the parameters unless given. */
#define GT_PARAM_OPTIONAL ""

typedef struct {
    const char *name;
    gt_param_type type;
    /* The default, written as on the command line ("128", "top", "q,k,v,o,ffn");
     * NULL when the parameter is required; GT_PARAM_OPTIONAL when it may be absent. */
    const char *fallback;
    double min, max;            /* INT, FLOAT, DURATION: the allowed range */
    const char *const *choices; /* ENUM, LIST: NULL-terminated */
    int shorthand;              /* a bare value (seq_trim=128) may fill this parameter */
    const char *help;
} gt_knob_param;

/* Two knobs that cannot be combined. `when` (on the knob that declares the
 * conflict) and `other_when` (on the other knob) optionally narrow it to some
 * parameter values: "param=a|b" or "param!=a". */
typedef struct {
    const char *knob;
    const char *when;
    const char *other_when;
    const char *why;
} gt_knob_conflict;

/* Where a knob's effect lives. */
typedef enum {
    GT_KNOB_PENDING,  /* defined; its effect will be provided by the pipeline (not built yet) */
    GT_KNOB_PIPELINE, /* applied by the pipeline and the engine */
    GT_KNOB_MACHINE,  /* applied here, before the pipeline: machine state or start time */
} gt_knob_effect;

struct gt_knob_hooks;

typedef struct {
    const char *name;
    unsigned phases;    /* GT_PHASE_* */
    unsigned resources; /* GT_RESOURCE_* */
    unsigned stages;    /* GT_STAGE_* it changes; 0 for the start time only */
    const char *paper;  /* the variant(s) of the paper's Table I, or "survey", ... */
    const char *summary;
    const gt_knob_param *params;       /* terminated by an entry with name == NULL */
    const gt_knob_conflict *conflicts; /* terminated by an entry with knob == NULL */
    const char *const *evidence;       /* keys it records in the run JSON; NULL-terminated */
    gt_knob_effect effect;
    const struct gt_knob_hooks *hooks; /* internal: validation, dry run, effect */
} gt_knob_def;

/* --- the registry ----------------------------------------------------------- */

GT_API size_t gt_knob_count(void);
GT_API const gt_knob_def *gt_knob_at(size_t index);
GT_API const gt_knob_def *gt_knob_find(const char *name);
/* The registered knob nearest to a misspelt name, or NULL when none is close. */
GT_API const gt_knob_def *gt_knob_suggest(const char *name);
GT_API const gt_knob_param *gt_knob_find_param(const gt_knob_def *def, const char *name);

/* Names of a mask's bits joined with '/' ("model/infer"), into buf. */
GT_API const char *gt_knob_phase_names(unsigned phases, char *buf, size_t size);
GT_API const char *gt_knob_resource_names(unsigned resources, char *buf, size_t size);
GT_API const char *gt_knob_stage_names(unsigned stages, char *buf, size_t size);
GT_API const char *gt_knob_param_type_name(gt_param_type type);
GT_API const char *gt_knob_effect_name(gt_knob_effect effect);

/* The whole catalog as JSON: {"knobs": [{"name", "phase": [..], "resource": [..],
 * "stages": [..], "paper", "summary", "params": [{"name", "type", "default",
 * "required", "min", "max", "choices", "shorthand", "help"}], "conflicts":
 * [{"knob", "when", "other_when", "why"}] (both directions), "evidence": [..],
 * "effect"}]}. The caller frees it with cJSON_Delete. */
GT_API cJSON *gt_knob_catalog_json(void);

/* --- knob sets ------------------------------------------------------------- */

#define GT_KNOB_SET_MAX 64

typedef struct {
    const gt_knob_def *def;
    cJSON *params;   /* object: every given or defaulted parameter, canonical types */
    cJSON *evidence; /* object: what the run measured to show the knob took effect */
    void *state;     /* internal: what an applied knob must remember to restore */
} gt_knob_use;

typedef struct {
    gt_knob_use items[GT_KNOB_SET_MAX];
    size_t count;
} gt_knob_set;

GT_API void gt_knob_set_init(gt_knob_set *set);
GT_API void gt_knob_set_free(gt_knob_set *set);

/* Adds one `--knob` spec: "name", "name=value" or "name={k: v, ...}" (a flow
 * mapping, as in YAML). A bare value fills the knob's shorthand parameter
 * (seq_trim=128 is max_len=128); "name=false" turns the knob off (adds nothing). */
GT_API gt_status gt_knob_set_add_spec(gt_knob_set *set, const char *spec, gt_error *err);
/* Adds one knob from a parsed YAML/JSON value: true or null (defaults), false
 * (off), a scalar (the shorthand parameter) or an object of parameters. */
GT_API gt_status gt_knob_set_add_json(gt_knob_set *set, const char *name, const cJSON *value,
                                      gt_error *err);
/* Adds every member of a YAML `knobs:` mapping (a cJSON object). */
GT_API gt_status gt_knob_set_add_object(gt_knob_set *set, const cJSON *knobs, gt_error *err);

GT_API gt_knob_use *gt_knob_set_find(const gt_knob_set *set, const char *name);

/* Parameter values of a knob in a set (the parameter must be registered; a
 * missing optional parameter reads as 0, false or NULL). */
GT_API long gt_knob_int(const gt_knob_use *use, const char *param);
GT_API double gt_knob_double(const gt_knob_use *use, const char *param);
GT_API int gt_knob_bool(const gt_knob_use *use, const char *param);
GT_API const char *gt_knob_string(const gt_knob_use *use, const char *param);
GT_API int gt_knob_has(const gt_knob_use *use, const char *param);

/* Fails with one line for the first knob of the set whose effect is not built
 * yet, so a run never silently ignores a knob. */
GT_API gt_status gt_knob_set_check_available(const gt_knob_set *set, gt_error *err);
/* Fails with one line for the first knob that did not record one of its
 * evidence keys (it may not have taken effect). */
GT_API gt_status gt_knob_set_check_evidence(const gt_knob_set *set, gt_error *err);

/* The run JSON's "knobs" array: [{"name", "params", "evidence"}]. */
GT_API cJSON *gt_knob_set_to_json(const gt_knob_set *set);

/* --- applying the machine-state knobs --------------------------------------- */

/* A clock that tests can replace: wall-clock seconds since the Unix epoch, and
 * a sleep that returns 0 when the time has passed, non-zero when interrupted. */
typedef struct {
    double (*now)(void *ctx);
    int (*sleep)(void *ctx, double seconds);
    void *ctx;
} gt_clock;

GT_API const gt_clock *gt_clock_system(void);

struct gt_pipeline_spec;

typedef struct {
    const gt_clock *clock;     /* NULL: the system clock */
    const char *base_dir;      /* relative file parameters (forecast) start here; NULL: cwd */
    void (*log)(void *ctx, const char *line); /* progress lines (may be NULL) */
    void *log_ctx;
    const struct gt_pipeline_spec *pipeline; /* the run's pipeline: a dry run says what changes in it (may be NULL) */
} gt_knob_context;

/* Writes what each knob of the set would change, one paragraph per knob, without
 * changing anything (files the machine knobs would write, with their current
 * values; the wait carbon_aware would choose). */
GT_API gt_status gt_knob_set_describe(const gt_knob_set *set, const gt_knob_context *ctx,
                                      FILE *out, gt_error *err);

/* Applies the set's machine knobs in order: carbon_aware (waits), threads,
 * pin_cores, cpu_freq, power_cap. On failure, whatever was applied is restored
 * before returning. Evidence lands in each knob's `evidence`. */
GT_API gt_status gt_knobs_apply_machine(gt_knob_set *set, const gt_knob_context *ctx, gt_error *err);
/* Reads the machine state back while the run goes on (call it at the end of a
 * stage); fails if something else changed a value the knobs set. */
GT_API gt_status gt_knobs_verify_machine(gt_knob_set *set, gt_error *err);
/* Restores every original value, removes the journal, and records what was
 * restored as evidence. Safe to call more than once. */
GT_API gt_status gt_knobs_restore_machine(gt_knob_set *set, gt_error *err);

/* The directory of the crash-safe journal: $GREENTUNE_STATE_DIR, or
 * /var/lib/greentune for root, or $XDG_STATE_HOME/greentune
 * (~/.local/state/greentune). */
GT_API gt_status gt_machine_state_dir(char *buf, size_t size, gt_error *err);

/* Replays a journal left by a greentune that was killed before it could restore
 * (kill -9, power loss): writes back the original values and removes it. Sets
 * *restored to the number of values written back and fills summary with one
 * line saying what was restored (empty when nothing was left). A journal that
 * belongs to a greentune still running is left alone. */
GT_API gt_status gt_machine_state_recover(int *restored, char *summary, size_t size, gt_error *err);

#endif
