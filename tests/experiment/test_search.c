/* The knob search on a fake executor: a deterministic energy and F1 model per
 * knob, with one synergistic pair (seq_trim + fused save more together) and
 * one antagonistic pair (prune_layers + bf16 save less), so the bundle the
 * plain cascade model prefers is not the best one. The test finds the true
 * optimum by brute force over every combination (its own list of which knobs
 * may combine) and checks the search reaches it with far fewer runs. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "greentune/experiment.h"
#include "test_support.h"

#define K 8

static const char *const knob_names[K] = {"seq_trim", "subsample", "prune_layers", "attention",
                                          "bf16",     "early_stop", "fused",       "infer_engine"};
static const double ratio[K] = {0.55, 0.50, 0.60, 0.80, 0.70, 0.75, 0.85, 0.90}; /* E_i / E_0 */
static const double drop[K] = {0.30, 0.70, 0.40, 0.05, 0.20, 0.60, 0.00, 0.05};  /* F1 points lost */
#define SYNERGY 0.70    /* seq_trim + fused */
#define ANTAGONISM 1.50 /* prune_layers + bf16 */
#define BASE_ENERGY 1000.0
#define BASE_F1 0.95

static const char experiment_yaml[] =
    "name: fake\n"
    "pipeline: pipeline.yaml\n"
    "repeats: 2\n"
    "baseline: V0\n"
    "variants:\n"
    "  - {name: V0}\n"
    "  - {name: trim, knobs: {seq_trim: 64}}\n"
    "  - {name: sub, knobs: {subsample: 0.5}}\n"
    "  - {name: prune, knobs: {prune_layers: 1}}\n"
    "  - {name: flash, knobs: {attention: flash}}\n"
    "  - {name: bf16, knobs: {bf16: true}}\n"
    "  - {name: early, knobs: {early_stop: 3}}\n"
    "  - {name: fused, knobs: {fused: true}}\n"
    "  - {name: engine, knobs: {infer_engine: auto}}\n";

static const char pipeline_yaml[] =
    "data: {format: jsonl, path: data.jsonl}\n"
    "model: {arch: bert, layers: 2, dim: 32, heads: 2, ffn: 64, max_len: 32}\n"
    "system: {meter: estimate}\n";

static int knob_index(const char *name)
{
    for (int i = 0; i < K; i++)
        if (!strcmp(knob_names[i], name))
            return i;
    return -1;
}

/* The true effect of a set of knobs (bit i: knob i). */
static double true_ratio(unsigned mask)
{
    double r = 1;
    for (int i = 0; i < K; i++)
        if (mask >> i & 1)
            r *= ratio[i];
    if ((mask & 0x41u) == 0x41u) /* seq_trim (0) and fused (6) */
        r *= SYNERGY;
    if ((mask & 0x14u) == 0x14u) /* prune_layers (2) and bf16 (4) */
        r *= ANTAGONISM;
    return r;
}

static double true_drop(unsigned mask)
{
    double d = 0;
    for (int i = 0; i < K; i++)
        if (mask >> i & 1)
            d += drop[i];
    return d;
}

/* Which knobs may combine, written out by hand: the same phase and resource
 * (seq_trim/subsample: data volume of the data phase; prune_layers/attention:
 * the model's compute) or a declared conflict (attention/fused). */
static int allowed(unsigned mask)
{
    static const unsigned forbidden[] = {0x03u, 0x0Cu, 0x48u};
    for (size_t i = 0; i < sizeof forbidden / sizeof forbidden[0]; i++)
        if ((mask & forbidden[i]) == forbidden[i])
            return 0;
    return 1;
}

static unsigned brute_force_optimum(double budget)
{
    unsigned best = 0;
    for (unsigned mask = 1; mask < (1u << K); mask++)
        if (allowed(mask) && true_drop(mask) <= budget + 1e-12 && true_ratio(mask) < true_ratio(best))
            best = mask;
    return best;
}

typedef struct {
    int calls;
} fake;

/* A small deterministic wobble (+-0.4 %) per variant and repeat, so repeats
 * differ and intervals exist. */
static double wobble(const char *name, int repeat)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *p = name; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    h = (h ^ (uint64_t)repeat) * 1099511628211ull;
    return 1 + 0.004 * ((double)(h % 2001) / 1000.0 - 1);
}

/* The knobs of a {"knob": params} object, as a mask. */
static unsigned mask_of(const char *knobs_json)
{
    unsigned mask = 0;
    cJSON *knobs = knobs_json ? cJSON_Parse(knobs_json) : NULL;
    const cJSON *k;
    cJSON_ArrayForEach(k, knobs) mask |= 1u << knob_index(k->string);
    cJSON_Delete(knobs);
    return mask;
}

static gt_status fake_run(void *ctx, const gt_experiment *exp, const gt_sweep_variant *v, int repeat,
                          const gt_progress_sink *progress, volatile sig_atomic_t *stop, gt_run_outcome *out,
                          gt_error *err)
{
    (void)exp, (void)progress, (void)stop, (void)err;
    ((fake *)ctx)->calls++;
    unsigned mask = mask_of(v->knobs_json);
    double energy = BASE_ENERGY * true_ratio(mask) * wobble(v->name, repeat);
    double f1 = BASE_F1 - true_drop(mask) / 100 + 0.0002 * (wobble(v->name, repeat + 100) - 1) / 0.004;
    char text[2048];
    snprintf(text, sizeof text,
             "{\"meter\": \"fake\", \"estimated\": true,"
             " \"stages\": {\"train\": {\"energy_j\": %.17g, \"duration_s\": %.17g},"
             "              \"eval\": {\"energy_j\": %.17g, \"duration_s\": %.17g}},"
             " \"total\": {\"energy_j\": %.17g, \"duration_s\": %.17g},"
             " \"metrics\": {\"f1\": %.17g, \"f1_weighted\": %.17g}}",
             0.8 * energy, energy / 50, 0.2 * energy, energy / 200, energy, energy / 40, f1, f1);
    out->record = cJSON_Parse(text);
    /* The record lists the knobs as a run applies them (canonical params). */
    cJSON *knobs = cJSON_AddArrayToObject(out->record, "knobs");
    cJSON *spec = v->knobs_json ? cJSON_Parse(v->knobs_json) : NULL;
    const cJSON *k;
    cJSON_ArrayForEach(k, spec) {
        cJSON *item = cJSON_CreateObject();
        cJSON_AddStringToObject(item, "name", k->string);
        cJSON_AddItemToObject(item, "params", cJSON_Duplicate(k, 1));
        cJSON_AddItemToArray(knobs, item);
    }
    cJSON_Delete(spec);
    return GT_OK;
}

static gt_status load(gt_experiment *exp)
{
    test_write_file(test_path("pipeline.yaml"), pipeline_yaml, strlen(pipeline_yaml));
    test_write_file(test_path("fake.yaml"), experiment_yaml, strlen(experiment_yaml));
    gt_error err = {0};
    gt_status st = gt_experiment_load(test_path("fake.yaml"), exp, &err);
    CHECK_MSG(st == GT_OK, "load: %s", err.message);
    return st;
}

static gt_status search(const char *db_name, long budget, fake *f, gt_search_result *r)
{
    gt_experiment exp;
    if (load(&exp) != GT_OK)
        return GT_ERR_INVALID;
    gt_store *db = NULL;
    gt_error err = {0};
    gt_status st = gt_store_open(&db, test_path(db_name), NULL, &err);
    gt_run_executor executor = {fake_run, f};
    gt_search_options o;
    gt_search_options_init(&o);
    o.max_f1_drop = 1.0;
    o.budget = budget;
    o.sweep.executor = &executor;
    if (st == GT_OK)
        st = gt_search(db, &exp, &o, r, &err);
    CHECK_MSG(st == GT_OK, "search: %s", err.message);
    gt_store_close(db);
    gt_experiment_free(&exp);
    return st;
}

/* The plain cascade model would pick the five-knob bundle with bf16; the true
 * optimum leaves bf16 out (it fights prune_layers). */
static void test_search_finds_the_true_optimum_with_few_runs(void)
{
    unsigned optimum = brute_force_optimum(1.0);
    CHECK_EQ_INT(optimum, 0x01u | 0x04u | 0x40u | 0x80u); /* seq_trim, prune_layers, fused, infer_engine */
    fake f = {0};
    gt_search_result r;
    if (search("optimum.db", 0, &f, &r) != GT_OK)
        return;
    CHECK(r.found);
    CHECK_EQ_INT(mask_of(r.best_knobs_json), optimum);
    CHECK_CLOSE(r.saving_pct, 100 * (1 - true_ratio(optimum)), 0.01, 0);
    CHECK_NEAR(r.f1_drop, true_drop(optimum), 0.05);
    CHECK(r.saving_ci_lo <= r.saving_pct && r.saving_pct <= r.saving_ci_hi);
    CHECK_EQ_INT(r.runs_new, f.calls);
    CHECK_EQ_INT(r.singles, K);
    CHECK_EQ_INT(r.runs_exhaustive, ((1u << K) - 1) * 2);
    CHECK_MSG(r.runs_new * 4 < r.runs_exhaustive, "%zu runs vs %zu exhaustive", r.runs_new, r.runs_exhaustive);
    CHECK(r.runs_used >= r.runs_new);
    CHECK(r.bundles_tried >= 2);
    CHECK(!r.budget_exhausted && !r.interrupted);
    gt_search_result_free(&r);
}

/* A search run again on the same database reuses every run. */
static void test_search_again_reuses_every_run(void)
{
    fake f = {0};
    gt_search_result first, again;
    if (search("again.db", 0, &f, &first) != GT_OK)
        return;
    int calls = f.calls;
    if (search("again.db", 0, &f, &again) != GT_OK)
        return;
    CHECK_EQ_INT(f.calls, calls);
    CHECK_EQ_INT(again.runs_new, 0);
    CHECK_EQ_STR(again.best, first.best);
    CHECK_EQ_INT(again.runs_used, first.runs_used);
    gt_search_result_free(&first);
    gt_search_result_free(&again);
}

/* With a run budget the search stops there and says so. */
static void test_search_stops_at_the_budget(void)
{
    fake f = {0};
    gt_search_result r;
    if (search("budget.db", 22, &f, &r) != GT_OK)
        return;
    CHECK(r.budget_exhausted);
    CHECK(r.runs_new <= 22);
    CHECK_EQ_INT(r.runs_new, f.calls);
    gt_search_result_free(&r);
}

/* A baseline run cannot be missing: the singles' savings are measured against it. */
static void test_search_refuses_a_baseline_with_knobs(void)
{
    static const char yaml[] = "pipeline: pipeline.yaml\nbaseline: B\n"
                               "variants: [{name: B, knobs: {bf16: true}}, {name: F, knobs: {fused: true}}]\n";
    test_write_file(test_path("pipeline.yaml"), pipeline_yaml, strlen(pipeline_yaml));
    test_write_file(test_path("bad.yaml"), yaml, strlen(yaml));
    gt_experiment exp;
    gt_error err = {0};
    if (gt_experiment_load(test_path("bad.yaml"), &exp, &err) != GT_OK) {
        CHECK_MSG(0, "load: %s", err.message);
        return;
    }
    gt_store *db = NULL;
    gt_store_open(&db, test_path("bad.db"), NULL, &err);
    fake f = {0};
    gt_run_executor executor = {fake_run, &f};
    gt_search_options o;
    gt_search_options_init(&o);
    o.sweep.executor = &executor;
    gt_search_result r;
    CHECK(gt_search(db, &exp, &o, &r, &err) == GT_ERR_INVALID);
    CHECK_MSG(strstr(err.message, "baseline 'B'") != NULL, "%s", err.message);
    CHECK_EQ_INT(f.calls, 0);
    gt_store_close(db);
    gt_experiment_free(&exp);
}

int main(void)
{
    RUN(test_search_finds_the_true_optimum_with_few_runs);
    RUN(test_search_again_reuses_every_run);
    RUN(test_search_stops_at_the_budget);
    RUN(test_search_refuses_a_baseline_with_knobs);
    return test_summary();
}
