/* The report as JSON: design.md's contract (experiment, meter, estimated,
 * baseline, variants, bundles, pareto) plus the intervals, tests and warnings
 * behind every number. NAN becomes null. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "report_internal.h"

static void add_number(cJSON *o, const char *key, double v)
{
    if (isfinite(v))
        cJSON_AddNumberToObject(o, key, v);
    else
        cJSON_AddNullToObject(o, key);
}

static void add_interval(cJSON *o, const char *key, double lo, double hi)
{
    if (isnan(lo) || isnan(hi)) {
        cJSON_AddNullToObject(o, key);
        return;
    }
    double pair[2] = {lo, hi};
    cJSON_AddItemToObject(o, key, cJSON_CreateDoubleArray(pair, 2));
}

static cJSON *summary_json(const gt_summary *s)
{
    cJSON *o = cJSON_CreateObject();
    add_number(o, "mean", s->mean);
    add_number(o, "std", s->std);
    add_interval(o, "ci95", s->ci_lo, s->ci_hi);
    cJSON_AddNumberToObject(o, "n", (double)s->n);
    return o;
}

static cJSON *test_json(const gt_delta *d)
{
    cJSON *o = cJSON_CreateObject();
    add_number(o, "delta_pct", d->pct);
    add_interval(o, "ci95", d->ci_lo, d->ci_hi);
    add_number(o, "p_value", d->p_value);
    add_number(o, "p_value_mann_whitney", d->p_mann_whitney);
    cJSON_AddBoolToObject(o, "tested", d->tested);
    cJSON_AddBoolToObject(o, "significant", d->significant);
    return o;
}

static cJSON *knobs_json(const gt_variant_summary *v)
{
    cJSON *list = cJSON_CreateArray();
    for (size_t k = 0; k < v->n_knobs; k++) {
        cJSON *knob = cJSON_CreateObject();
        cJSON_AddStringToObject(knob, "name", v->knobs[k].name);
        cJSON *params = cJSON_Parse(v->knobs[k].params);
        cJSON_AddItemToObject(knob, "params", params ? params : cJSON_CreateObject());
        cJSON_AddItemToArray(list, knob);
    }
    return list;
}

static cJSON *stages_json(const gt_variant_summary *v)
{
    cJSON *stages = cJSON_CreateObject();
    for (int s = 0; s < GT_RUN_STAGE_COUNT; s++) {
        cJSON *st = cJSON_CreateObject();
        cJSON_AddItemToObject(st, "energy_j", summary_json(&v->stage_energy[s]));
        cJSON_AddItemToObject(st, "duration_s", summary_json(&v->stage_duration[s]));
        add_number(st, "delta_energy_pct", v->d_stage_energy[s].pct);
        add_interval(st, "delta_energy_ci95", v->d_stage_energy[s].ci_lo, v->d_stage_energy[s].ci_hi);
        add_number(st, "delta_time_pct", v->d_stage_time[s].pct);
        add_interval(st, "delta_time_ci95", v->d_stage_time[s].ci_lo, v->d_stage_time[s].ci_hi);
        cJSON_AddItemToObject(stages, gt_run_stage_name((gt_run_stage)s), st);
    }
    return stages;
}

static cJSON *warnings_json(const gt_analysis *a, size_t i)
{
    char w[REPORT_WARNINGS_MAX][REPORT_WARNING_MAX];
    size_t n = report_warnings(a, i, w, REPORT_WARNINGS_MAX);
    cJSON *list = cJSON_CreateArray();
    for (size_t k = 0; k < n; k++)
        cJSON_AddItemToArray(list, cJSON_CreateString(w[k]));
    return list;
}

/* "delta_<name>_pct" and "delta_<name>_ci95" for one delta. */
static void add_delta(cJSON *o, const char *name, const gt_delta *d)
{
    char key[64];
    snprintf(key, sizeof key, "delta_%s_pct", name);
    add_number(o, key, d->pct);
    snprintf(key, sizeof key, "delta_%s_ci95", name);
    add_interval(o, key, d->ci_lo, d->ci_hi);
}

static cJSON *variant_json(const gt_analysis *a, size_t i)
{
    const gt_variant_summary *v = &a->variants[i];
    static const char *const quadrants[] = {"both worse", "mixed", "both better"};
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", v->name);
    cJSON_AddItemToObject(o, "knobs", knobs_json(v));
    cJSON_AddBoolToObject(o, "external", v->external);
    cJSON_AddNumberToObject(o, "runs", (double)v->runs);
    cJSON_AddNumberToObject(o, "failed", (double)v->failed);
    cJSON_AddNumberToObject(o, "pending", (double)v->pending);
    cJSON_AddStringToObject(o, "meter", v->meter);
    cJSON_AddBoolToObject(o, "estimated", v->estimated);
    cJSON_AddItemToObject(o, "energy_j", summary_json(&v->energy));
    cJSON_AddItemToObject(o, "duration_s", summary_json(&v->duration));
    cJSON_AddItemToObject(o, "stages", stages_json(v));
    add_delta(o, "energy", &v->d_energy);
    add_delta(o, "time", &v->d_time);
    add_delta(o, "eval_energy", &v->d_stage_energy[GT_RUN_STAGE_EVAL]);
    add_delta(o, "eval_time", &v->d_stage_time[GT_RUN_STAGE_EVAL]);
    add_number(o, "f1", v->f1.mean);
    add_interval(o, "f1_ci95", v->f1.ci_lo, v->f1.ci_hi);
    add_number(o, "f1_weighted", v->f1_weighted.mean);
    add_number(o, "mcc", v->mcc.mean);
    add_number(o, "accuracy", v->accuracy.mean);
    add_number(o, "delta_f1", v->d_f1.pct);
    add_interval(o, "delta_f1_ci95", v->d_f1.ci_lo, v->d_f1.ci_hi);
    add_number(o, "delta_f1_weighted", v->d_f1_weighted.pct);
    add_number(o, "delta_mcc", v->d_mcc);
    add_number(o, "p_value", v->d_energy.p_value);
    cJSON_AddBoolToObject(o, "significant", v->d_energy.significant);
    cJSON *tests = cJSON_CreateObject();
    cJSON_AddItemToObject(tests, "energy", test_json(&v->d_energy));
    cJSON_AddItemToObject(tests, "time", test_json(&v->d_time));
    cJSON_AddItemToObject(tests, "eval_energy", test_json(&v->d_stage_energy[GT_RUN_STAGE_EVAL]));
    cJSON_AddItemToObject(tests, "eval_time", test_json(&v->d_stage_time[GT_RUN_STAGE_EVAL]));
    cJSON_AddItemToObject(tests, "f1", test_json(&v->d_f1));
    cJSON_AddItemToObject(tests, "f1_weighted", test_json(&v->d_f1_weighted));
    cJSON_AddItemToObject(o, "tests", tests);
    int q = quadrant(a, i);
    if (q == 2)
        cJSON_AddNullToObject(o, "quadrant");
    else
        cJSON_AddStringToObject(o, "quadrant", quadrants[q + 1]);
    cJSON_AddNumberToObject(o, "single_class_runs", (double)v->single_class_runs);
    cJSON_AddItemToObject(o, "warnings", warnings_json(a, i));
    return o;
}

static char *label_of(const gt_knob_ref *k)
{
    rbuf b = {0};
    knob_label(&b, k);
    return b.data;
}

static cJSON *bundle_json(const gt_analysis *a, const gt_bundle *bundle)
{
    const gt_variant_summary *v = &a->variants[bundle->variant];
    const gt_cascade *c = &bundle->cascade;
    cJSON *o = cJSON_CreateObject(), *names = cJSON_CreateArray(), *singles = cJSON_CreateArray(),
          *missing = cJSON_CreateArray();
    cJSON_AddStringToObject(o, "name", v->name);
    for (size_t k = 0; k < v->n_knobs; k++) {
        char *label = label_of(&v->knobs[k]);
        cJSON_AddItemToArray(names, cJSON_CreateString(v->knobs[k].name));
        cJSON *single = cJSON_CreateObject();
        cJSON_AddStringToObject(single, "knob", label ? label : v->knobs[k].name);
        if (bundle->singles[k] == GT_NONE) {
            cJSON_AddNullToObject(single, "variant");
            cJSON_AddItemToArray(missing, cJSON_CreateString(label ? label : v->knobs[k].name));
        } else {
            const gt_variant_summary *s = &a->variants[bundle->singles[k]];
            cJSON_AddStringToObject(single, "variant", s->name);
            add_number(single, "saving_pct", -s->d_energy.pct);
        }
        cJSON_AddItemToArray(singles, single);
        free(label);
    }
    cJSON_AddItemToObject(o, "knobs", names);
    cJSON_AddItemToObject(o, "knob_params", knobs_json(v));
    cJSON_AddItemToObject(o, "singles", singles);
    cJSON_AddItemToObject(o, "missing_single", missing);
    add_number(o, "expected_saving_pct", c->expected_saving_pct);
    add_number(o, "measured_saving_pct", c->measured_saving_pct);
    add_number(o, "difference_pct", c->difference_pct);
    add_interval(o, "difference_ci95", c->difference_ci_lo, c->difference_ci_hi);
    add_number(o, "interaction_ratio", c->ratio);
    add_interval(o, "interaction_ratio_ci95", c->ratio_ci_lo, c->ratio_ci_hi);
    cJSON_AddStringToObject(o, "interaction", gt_interaction_name(c->interaction));
    cJSON_AddStringToObject(o, "interaction_basis", c->interaction == GT_INTERACTION_UNKNOWN ? "none"
                                                    : c->from_ci                          ? "ci95"
                                                                                          : "point estimate");
    return o;
}

static cJSON *names_json(const gt_analysis *a, const size_t *indices, size_t n)
{
    cJSON *list = cJSON_CreateArray();
    for (size_t k = 0; k < n; k++)
        cJSON_AddItemToArray(list, cJSON_CreateString(a->variants[indices[k]].name));
    return list;
}

cJSON *report_json(const gt_analysis *a)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "experiment", a->experiment);
    cJSON_AddStringToObject(root, "meter", a->meter);
    cJSON_AddBoolToObject(root, "estimated", a->estimated);
    if (a->baseline == GT_NONE)
        cJSON_AddNullToObject(root, "baseline");
    else
        cJSON_AddStringToObject(root, "baseline", a->variants[a->baseline].name);
    cJSON_AddNumberToObject(root, "hosts", (double)a->hosts);
    cJSON *idle = cJSON_CreateObject();
    add_number(idle, "power_w", a->idle_power_w);
    cJSON_AddStringToObject(idle, "meter", a->idle_meter);
    cJSON_AddBoolToObject(idle, "estimated", a->idle_estimated);
    cJSON_AddItemToObject(root, "idle", idle);
    cJSON *units = cJSON_CreateObject();
    cJSON_AddStringToObject(units, "energy", "J");
    cJSON_AddStringToObject(units, "time", "s");
    cJSON_AddStringToObject(units, "delta", "percent of the baseline's mean (delta_f1 too: relative)");
    cJSON_AddStringToObject(units, "ci95", "Student t for means, Fieller for deltas, delta method for bundles");
    cJSON_AddStringToObject(units, "significance", "Welch's t-test, two-sided, p < 0.05");
    cJSON_AddItemToObject(root, "units", units);
    cJSON *variants = cJSON_CreateArray();
    for (size_t i = 0; i < a->n_variants; i++)
        cJSON_AddItemToArray(variants, variant_json(a, i));
    cJSON_AddItemToObject(root, "variants", variants);
    cJSON *bundles = cJSON_CreateArray();
    for (size_t i = 0; i < a->n_bundles; i++)
        cJSON_AddItemToArray(bundles, bundle_json(a, &a->bundles[i]));
    cJSON_AddItemToObject(root, "bundles", bundles);
    if (a->best_bundle == GT_NONE)
        cJSON_AddNullToObject(root, "best_bundle");
    else
        cJSON_AddStringToObject(root, "best_bundle", a->variants[a->best_bundle].name);
    cJSON_AddItemToObject(root, "pareto", names_json(a, a->pareto_f1, a->n_pareto_f1));
    cJSON_AddItemToObject(root, "pareto_energy_time", names_json(a, a->pareto_time, a->n_pareto_time));
    cJSON_AddItemToObject(root, "warnings", warnings_json(a, GT_NONE));
    return root;
}
