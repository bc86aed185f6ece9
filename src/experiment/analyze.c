/* gt_analyze: an experiment's stored runs -> per-variant summaries, deltas
 * against the baseline, bundles under the cascade model, Pareto fronts. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "greentune/analysis.h"

/* The per-run values a variant is summarized over, one sample array each. */
enum {
    M_ENERGY, M_TIME, M_ACCURACY, M_F1, M_F1W, M_MCC,
    M_STAGE_ENERGY,                               /* + stage */
    M_STAGE_TIME = M_STAGE_ENERGY + GT_RUN_STAGE_COUNT, /* + stage */
    M_COUNT = M_STAGE_TIME + GT_RUN_STAGE_COUNT
};

typedef struct {
    double *v[M_COUNT];
    size_t n[M_COUNT];
} samples;

static void add_sample(samples *s, int metric, double value)
{
    if (!isnan(value))
        s->v[metric][s->n[metric]++] = value;
}

static void samples_free(samples *s)
{
    for (int m = 0; m < M_COUNT; m++)
        free(s->v[m]);
}

/* --- knobs ----------------------------------------------------------------- */

/* A deep copy with every object's keys sorted, so that two spellings of the
 * same parameters print the same. */
static cJSON *canonical(const cJSON *item, int depth)
{
    if (depth > 32)
        return NULL;
    if (cJSON_IsArray(item)) {
        cJSON *out = cJSON_CreateArray();
        const cJSON *child;
        cJSON_ArrayForEach(child, item) {
            cJSON *c = canonical(child, depth + 1);
            if (!c || !out) {
                cJSON_Delete(c);
                cJSON_Delete(out);
                return NULL;
            }
            cJSON_AddItemToArray(out, c);
        }
        return out;
    }
    if (!cJSON_IsObject(item))
        return cJSON_Duplicate(item, 1);
    size_t n = (size_t)cJSON_GetArraySize(item), k = 0;
    const cJSON **children = malloc((n ? n : 1) * sizeof *children);
    cJSON *out = cJSON_CreateObject();
    if (!children || !out) {
        free(children);
        cJSON_Delete(out);
        return NULL;
    }
    const cJSON *child;
    cJSON_ArrayForEach(child, item) {
        size_t j = k++;
        while (j > 0 && strcmp(children[j - 1]->string, child->string) > 0) {
            children[j] = children[j - 1];
            j--;
        }
        children[j] = child;
    }
    for (size_t i = 0; i < k && out; i++) {
        cJSON *c = canonical(children[i], depth + 1);
        if (!c) {
            cJSON_Delete(out);
            out = NULL;
            break;
        }
        cJSON_AddItemToObject(out, children[i]->string, c);
    }
    free(children);
    return out;
}

static char *canonical_text(const cJSON *item)
{
    if (!item)
        return strdup("{}");
    cJSON *c = canonical(item, 0);
    char *text = c ? cJSON_PrintUnformatted(c) : NULL;
    cJSON_Delete(c);
    return text;
}

static int add_knob(gt_variant_summary *v, const char *name, const cJSON *params)
{
    if (!name || !*name)
        return 1;
    gt_knob_ref *bigger = realloc(v->knobs, (v->n_knobs + 1) * sizeof *bigger);
    if (!bigger)
        return 0;
    v->knobs = bigger;
    gt_knob_ref *k = &v->knobs[v->n_knobs];
    snprintf(k->name, sizeof k->name, "%s", name);
    k->params = canonical_text(params);
    if (!k->params)
        return 0;
    v->n_knobs++;
    return 1;
}

/* The knobs a variant applied: from a run's record ([{"name", "params"}]) if
 * it has one, else as the experiment file wrote them ({"name": params}). */
static int read_knobs(gt_variant_summary *v, const char *run_knobs, const char *spec_knobs)
{
    cJSON *j = cJSON_Parse(run_knobs ? run_knobs : spec_knobs ? spec_knobs : "[]");
    int ok = 1;
    const cJSON *item;
    if (cJSON_IsArray(j)) {
        cJSON_ArrayForEach(item, j) {
            const cJSON *name = cJSON_GetObjectItemCaseSensitive(item, "name");
            if (cJSON_IsString(name))
                ok &= add_knob(v, name->valuestring, cJSON_GetObjectItemCaseSensitive(item, "params"));
        }
    } else if (cJSON_IsObject(j)) {
        cJSON_ArrayForEach(item, j) ok &= add_knob(v, item->string, item);
    }
    cJSON_Delete(j);
    return ok;
}

/* --- one variant ------------------------------------------------------------ */

/* The model predicted a single class: at most one confusion column has any
 * predictions in it. */
static int single_class(const gt_run_record *r)
{
    if (r->n_classes < 2)
        return 0;
    int used = 0;
    for (int p = 0; p < r->n_classes; p++) {
        long column = 0;
        for (int t = 0; t < r->n_classes; t++)
            column += r->confusion[t][p];
        used += column > 0;
    }
    return used <= 1;
}

static void note_meter(char *meter, size_t size, const char *run_meter)
{
    if (!meter[0] || !strcmp(meter, "none"))
        snprintf(meter, size, "%s", run_meter);
    else if (strcmp(meter, run_meter) != 0)
        snprintf(meter, size, "mixed");
}

static void collect_run(gt_variant_summary *v, samples *s, const gt_run_record *r)
{
    add_sample(s, M_ENERGY, r->total.energy_j);
    add_sample(s, M_TIME, r->total.duration_s);
    for (int st = 0; st < GT_RUN_STAGE_COUNT; st++) {
        add_sample(s, M_STAGE_ENERGY + st, r->stages[st].energy_j);
        add_sample(s, M_STAGE_TIME + st, r->stages[st].duration_s);
    }
    if (r->has_metrics) {
        v->has_metrics = 1;
        add_sample(s, M_ACCURACY, r->accuracy);
        add_sample(s, M_F1, r->f1);
        add_sample(s, M_F1W, r->f1_weighted);
        add_sample(s, M_MCC, r->mcc);
    }
    v->single_class_runs += (size_t)single_class(r);
    note_meter(v->meter, sizeof v->meter, r->meter);
    v->estimated |= r->estimated;
}

/* Fills v from the runs of variant `name` (data->runs is grouped by variant). */
static gt_status summarize_variant(const gt_experiment_data *data, const gt_variant_record *spec,
                                   gt_variant_summary *v, samples *s, gt_error *err)
{
    snprintf(v->name, sizeof v->name, "%s", spec->name);
    v->external = spec->command_json != NULL;
    size_t done = 0;
    for (size_t i = 0; i < data->n_runs; i++)
        done += !strcmp(data->runs[i].variant, spec->name) && data->runs[i].status == GT_RUN_DONE;
    for (int m = 0; m < M_COUNT; m++)
        if (!(s->v[m] = malloc((done ? done : 1) * sizeof(double))))
            return gt_error_set(err, GT_ERR_NOMEM, "analysis: out of memory");
    const char *run_knobs = NULL;
    for (size_t i = 0; i < data->n_runs; i++) {
        const gt_run_record *r = &data->runs[i];
        if (strcmp(r->variant, spec->name) != 0)
            continue;
        if (r->status == GT_RUN_DONE) {
            v->runs++;
            collect_run(v, s, r);
            if (!run_knobs)
                run_knobs = r->knobs_json;
        } else if (r->status == GT_RUN_FAILED) {
            v->failed++;
            if (!v->first_error && r->error)
                v->first_error = strdup(r->error);
        } else {
            v->pending++;
        }
    }
    if (!v->meter[0])
        snprintf(v->meter, sizeof v->meter, "none");
    if (!read_knobs(v, run_knobs, spec->knobs_json))
        return gt_error_set(err, GT_ERR_NOMEM, "analysis: out of memory");

    v->energy = gt_summarize(s->v[M_ENERGY], s->n[M_ENERGY]);
    v->duration = gt_summarize(s->v[M_TIME], s->n[M_TIME]);
    v->accuracy = gt_summarize(s->v[M_ACCURACY], s->n[M_ACCURACY]);
    v->f1 = gt_summarize(s->v[M_F1], s->n[M_F1]);
    v->f1_weighted = gt_summarize(s->v[M_F1W], s->n[M_F1W]);
    v->mcc = gt_summarize(s->v[M_MCC], s->n[M_MCC]);
    for (int st = 0; st < GT_RUN_STAGE_COUNT; st++) {
        v->stage_energy[st] = gt_summarize(s->v[M_STAGE_ENERGY + st], s->n[M_STAGE_ENERGY + st]);
        v->stage_duration[st] = gt_summarize(s->v[M_STAGE_TIME + st], s->n[M_STAGE_TIME + st]);
    }
    return GT_OK;
}

static gt_delta compare(const samples *v, const samples *base, int metric)
{
    const double *x = v->v[metric], *b = base->v[metric];
    size_t nx = v->n[metric], nb = base->n[metric];
    gt_ratio_ci r = gt_delta_pct(x, nx, b, nb);
    gt_welch w = gt_welch_test(x, nx, b, nb);
    gt_mann_whitney mw = gt_mann_whitney_test(x, nx, b, nb);
    gt_delta d = {r.pct, r.ci_lo, r.ci_hi, w.p, mw.tested ? mw.p : NAN, w.tested, 0};
    d.significant = w.tested && w.p < GT_ALPHA;
    return d;
}

static void compare_to_baseline(gt_variant_summary *v, const samples *s, const gt_variant_summary *base,
                                const samples *bs)
{
    v->d_energy = compare(s, bs, M_ENERGY);
    v->d_time = compare(s, bs, M_TIME);
    v->d_f1 = compare(s, bs, M_F1);
    v->d_f1_weighted = compare(s, bs, M_F1W);
    for (int st = 0; st < GT_RUN_STAGE_COUNT; st++) {
        v->d_stage_energy[st] = compare(s, bs, M_STAGE_ENERGY + st);
        v->d_stage_time[st] = compare(s, bs, M_STAGE_TIME + st);
    }
    v->d_mcc = v->mcc.mean - base->mcc.mean;
}

/* --- the experiment ---------------------------------------------------------- */

static size_t pick_baseline(const gt_experiment_data *data, const gt_analysis *a)
{
    for (size_t i = 0; i < a->n_variants; i++)
        if (data->baseline[0] && !strcmp(a->variants[i].name, data->baseline))
            return i;
    for (size_t i = 0; i < a->n_variants; i++)
        if (a->variants[i].n_knobs == 0 && !a->variants[i].external)
            return i;
    return a->n_variants ? 0 : GT_NONE;
}

static size_t find_single(const gt_analysis *a, const gt_knob_ref *knob)
{
    for (size_t i = 0; i < a->n_variants; i++) {
        const gt_variant_summary *v = &a->variants[i];
        if (v->n_knobs == 1 && !v->external && v->runs > 0 && !strcmp(v->knobs[0].name, knob->name) &&
            !strcmp(v->knobs[0].params, knob->params))
            return i;
    }
    return GT_NONE;
}

static gt_status find_bundles(gt_analysis *a, gt_error *err)
{
    a->best_bundle = GT_NONE;
    if (a->baseline == GT_NONE)
        return GT_OK;
    const gt_summary *base = &a->variants[a->baseline].energy;
    for (size_t i = 0; i < a->n_variants; i++) {
        gt_variant_summary *v = &a->variants[i];
        if (v->n_knobs < 2 || v->external || v->runs == 0)
            continue;
        gt_bundle *bigger = realloc(a->bundles, (a->n_bundles + 1) * sizeof *bigger);
        size_t *singles = malloc(v->n_knobs * sizeof *singles);
        gt_summary *single_energy = malloc(v->n_knobs * sizeof *single_energy);
        if (!bigger || !singles || !single_energy) {
            if (bigger)
                a->bundles = bigger;
            free(singles);
            free(single_energy);
            return gt_error_set(err, GT_ERR_NOMEM, "analysis: out of memory");
        }
        a->bundles = bigger;
        gt_bundle *b = &a->bundles[a->n_bundles++];
        b->variant = i;
        b->singles = singles;
        int complete = 1;
        for (size_t k = 0; k < v->n_knobs; k++) {
            singles[k] = find_single(a, &v->knobs[k]);
            complete &= singles[k] != GT_NONE;
            if (singles[k] != GT_NONE)
                single_energy[k] = a->variants[singles[k]].energy;
        }
        memset(&b->cascade, 0, sizeof b->cascade);
        if (complete) {
            b->cascade = gt_cascade_classify(&v->energy, base, single_energy, v->n_knobs);
        } else {
            gt_cascade unknown = {NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN, GT_INTERACTION_UNKNOWN, 0};
            unknown.measured_saving_pct = base->mean > 0 ? 100 * (1 - v->energy.mean / base->mean) : NAN;
            b->cascade = unknown;
        }
        free(single_energy);
        if (a->best_bundle == GT_NONE || v->energy.mean < a->variants[a->best_bundle].energy.mean)
            a->best_bundle = i;
    }
    return GT_OK;
}

static gt_status find_fronts(gt_analysis *a, gt_error *err)
{
    size_t n = a->n_variants;
    double *energy = malloc((n ? n : 1) * sizeof *energy), *f1 = malloc((n ? n : 1) * sizeof *f1),
           *time = malloc((n ? n : 1) * sizeof *time);
    a->pareto_f1 = malloc((n ? n : 1) * sizeof *a->pareto_f1);
    a->pareto_time = malloc((n ? n : 1) * sizeof *a->pareto_time);
    gt_status st = GT_OK;
    if (!energy || !f1 || !time || !a->pareto_f1 || !a->pareto_time) {
        st = gt_error_set(err, GT_ERR_NOMEM, "analysis: out of memory");
    } else {
        for (size_t i = 0; i < n; i++) {
            energy[i] = a->variants[i].energy.mean;
            f1[i] = a->variants[i].f1.mean;
            time[i] = a->variants[i].duration.mean;
        }
        a->n_pareto_f1 = gt_pareto_front(energy, f1, n, 1, a->pareto_f1);
        a->n_pareto_time = gt_pareto_front(energy, time, n, 0, a->pareto_time);
    }
    free(energy);
    free(f1);
    free(time);
    return st;
}

static void summarize_machine(const gt_experiment_data *data, gt_analysis *a)
{
    snprintf(a->meter, sizeof a->meter, "none");
    for (size_t i = 0; i < data->n_runs; i++) {
        const gt_run_record *r = &data->runs[i];
        if (r->status != GT_RUN_DONE)
            continue;
        note_meter(a->meter, sizeof a->meter, r->meter);
        a->estimated |= r->estimated;
        size_t j = 0;
        while (j < i && (data->runs[j].status != GT_RUN_DONE ||
                         strcmp(data->runs[j].machine.hostname, r->machine.hostname) != 0))
            j++;
        a->hosts += j == i;
    }
    double energy = 0, duration = 0;
    a->idle_power_w = NAN;
    for (size_t i = 0; i < data->n_idle; i++) {
        energy += data->idle[i].energy_j;
        duration += data->idle[i].duration_s;
        note_meter(a->idle_meter, sizeof a->idle_meter, data->idle[i].meter);
        a->idle_estimated |= data->idle[i].estimated;
    }
    if (duration > 0)
        a->idle_power_w = energy / duration;
}

gt_status gt_analyze(const gt_experiment_data *data, gt_analysis *a, gt_error *err)
{
    memset(a, 0, sizeof *a);
    snprintf(a->experiment, sizeof a->experiment, "%s", data->name);
    a->baseline = a->best_bundle = GT_NONE;
    summarize_machine(data, a);
    size_t n = data->n_variants;
    a->variants = calloc(n ? n : 1, sizeof *a->variants);
    samples *s = calloc(n ? n : 1, sizeof *s);
    gt_status st = a->variants && s ? GT_OK : gt_error_set(err, GT_ERR_NOMEM, "analysis: out of memory");
    for (size_t i = 0; st == GT_OK && i < n; i++) {
        a->n_variants++;
        st = summarize_variant(data, &data->variants[i], &a->variants[i], &s[i], err);
    }
    if (st == GT_OK) {
        a->baseline = pick_baseline(data, a);
        for (size_t i = 0; a->baseline != GT_NONE && i < n; i++)
            compare_to_baseline(&a->variants[i], &s[i], &a->variants[a->baseline], &s[a->baseline]);
        st = find_bundles(a, err);
    }
    if (st == GT_OK)
        st = find_fronts(a, err);
    for (size_t i = 0; s && i < n; i++)
        samples_free(&s[i]);
    free(s);
    if (st != GT_OK)
        gt_analysis_free(a);
    return st;
}

void gt_analysis_free(gt_analysis *a)
{
    for (size_t i = 0; a->variants && i < a->n_variants; i++) {
        for (size_t k = 0; k < a->variants[i].n_knobs; k++)
            free(a->variants[i].knobs[k].params);
        free(a->variants[i].knobs);
        free(a->variants[i].first_error);
    }
    for (size_t i = 0; i < a->n_bundles; i++)
        free(a->bundles[i].singles);
    free(a->variants);
    free(a->bundles);
    free(a->pareto_f1);
    free(a->pareto_time);
    memset(a, 0, sizeof *a);
    a->baseline = a->best_bundle = GT_NONE;
}
