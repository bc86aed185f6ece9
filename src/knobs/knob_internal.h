/* Internal pieces shared by the knob files: the per-phase definition tables,
 * the hooks a knob may provide, and parameter helpers. */
#ifndef GREENTUNE_KNOB_INTERNAL_H
#define GREENTUNE_KNOB_INTERNAL_H

#include "greentune/knobs.h"

/* What a knob may do beyond its declarative definition. Every hook is optional. */
struct gt_knob_hooks {
    /* Rules across parameters (n or fraction, start <= max), at parse time. */
    gt_status (*validate)(const gt_knob_def *def, const cJSON *params, gt_error *err);
    /* Dry run: details of what apply would change, read from the machine. */
    gt_status (*plan)(const gt_knob_use *use, const gt_knob_set *set, const gt_knob_context *ctx,
                      FILE *out, gt_error *err);
    /* Machine knobs: change the state, record evidence. */
    gt_status (*apply)(gt_knob_use *use, const gt_knob_set *set, const gt_knob_context *ctx,
                       gt_error *err);
    /* Read the state back while running. */
    gt_status (*verify)(gt_knob_use *use, gt_error *err);
    /* After the machine state was written back: undo process-local changes and
     * record what was restored. */
    gt_status (*restore)(gt_knob_use *use, gt_error *err);
    /* Pipeline knobs: what the knob changes at each stage (src/pipeline/stage_hooks.h). */
    const struct gt_stage_hooks *stage;
    /* Pipeline knobs: whether the knob can change anything in this pipeline
     * (seq_trim no shorter than its sequences), before any stage runs and in
     * the dry run. */
    gt_status (*check)(const gt_knob_use *use, const struct gt_pipeline_spec *pipeline, gt_error *err);
};

/* Runs every knob's check against the pipeline: the first that cannot apply fails. */
gt_status knob_set_check_pipeline(const gt_knob_set *set, const struct gt_pipeline_spec *pipeline, gt_error *err);

/* One table per phase file; each ends with an entry whose name is NULL. */
extern const gt_knob_def gt_knobs_data[];
extern const gt_knob_def gt_knobs_model[];
extern const gt_knob_def gt_knobs_train[];
extern const gt_knob_def gt_knobs_system[];
extern const gt_knob_def gt_knobs_infer[];

/* Converts a user value for one parameter to its canonical cJSON form (a number,
 * bool, string, or array of strings), checking type, range and choices. Returns
 * NULL with err filled ("knob "x": param ..."). */
cJSON *knob_param_value(const gt_knob_def *def, const gt_knob_param *param, const cJSON *value,
                        gt_error *err);
/* Parses the small YAML flow subset of `--knob` values ({k: v}, [a, b], scalars)
 * into cJSON. `what` names the value in errors. */
cJSON *knob_flow_parse(const char *text, const char *what, gt_error *err);
/* A plain scalar typed as YAML does: true/false, null, a number, else a string. */
cJSON *knob_plain_scalar(const char *text, size_t len);
/* A duration in seconds from 90, "90s", "15m", "6h" or "1d"; -1 when malformed. */
double knob_parse_duration(const char *text);

/* The name among names nearest to a misspelt one, or NULL when none is close. */
const char *knob_suggest_among(const char *typed, const char *const *names, size_t count);
/* Does a knob's parameter set match a conflict condition ("p=a|b", "p!=a")? */
int knob_condition_holds(const cJSON *params, const char *condition);
/* text with control characters written as \n, \t, \xNN: messages stay one line. */
const char *knob_escape(const char *text, char *buf, size_t size);
/* A parameter value rendered as text for messages and conditions. */
const char *knob_value_text(const cJSON *value, char *buf, size_t size);

/* Evidence helpers. */
void knob_evidence_number(gt_knob_use *use, const char *key, double value);
void knob_evidence_string(gt_knob_use *use, const char *key, const char *value);
void knob_evidence_bool(gt_knob_use *use, const char *key, int value);
/* Sets key to item (replacing an earlier value); takes ownership of item. */
void knob_evidence_item(gt_knob_use *use, const char *key, cJSON *item);
/* A number recorded earlier in the run (a value a later hook compares with), or fallback. */
double knob_evidence_get(const gt_knob_use *use, const char *key, double fallback);

#endif
