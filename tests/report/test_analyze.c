/* gt_analyze on the fixture experiment (tests/fixtures/report/make_fixture.py
 * lists its numbers): summaries, deltas, bundles, warnings' raw material,
 * fronts — checked against hand computation. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "greentune/analysis.h"
#include "test_support.h"

static gt_analysis analysis;

static void load_fixture(void)
{
    gt_error err = {0};
    const char *db_path = test_path("fixture.db");
    if (fixture_build_db(test_env("GREENTUNE_REPORT_FIXTURE"), db_path, &err) != GT_OK) {
        fprintf(stderr, "fixture: %s\n", err.message);
        exit(2);
    }
    gt_store *db;
    gt_store_options ro = {1, 0};
    gt_experiment_data data;
    if (gt_store_open(&db, db_path, &ro, &err) != GT_OK || gt_store_load(db, NULL, &data, &err) != GT_OK ||
        gt_analyze(&data, &analysis, &err) != GT_OK) {
        fprintf(stderr, "fixture: %s\n", err.message);
        exit(2);
    }
    gt_experiment_data_free(&data);
    gt_store_close(db);
}

static const gt_variant_summary *variant(const char *name)
{
    for (size_t i = 0; i < analysis.n_variants; i++)
        if (!strcmp(analysis.variants[i].name, name))
            return &analysis.variants[i];
    test_fail(__FILE__, __LINE__, "no variant %s", name);
    exit(1);
}

static void test_experiment_facts(void)
{
    CHECK_EQ_STR(analysis.experiment, "fixture");
    CHECK_EQ_INT(analysis.n_variants, 10);
    CHECK_EQ_STR(analysis.variants[analysis.baseline].name, "V0");
    CHECK_EQ_STR(analysis.meter, "estimate");
    CHECK_EQ_INT(analysis.estimated, 1);
    CHECK_EQ_INT(analysis.hosts, 1);
    CHECK_NEAR(analysis.idle_power_w, 5, 1e-12);   /* 50 J over 10 s */
}

/* V0 totals 100, 102.5, 97.5 J: mean 100, s = 2.5, CI 100 -+ 4.302653 * 2.5 / sqrt 3. */
static void test_baseline_summary(void)
{
    const gt_variant_summary *v = variant("V0");
    CHECK_EQ_INT(v->runs, 3);
    CHECK_NEAR(v->energy.mean, 100, 1e-9);
    CHECK_NEAR(v->energy.std, 2.5, 1e-9);
    CHECK_NEAR(v->energy.ci_hi, 100 + 4.302652730 * 2.5 / sqrt(3), 1e-6);
    CHECK_NEAR(v->stage_energy[GT_RUN_STAGE_TRAIN].mean, 82, 1e-9);
    CHECK_NEAR(v->stage_energy[GT_RUN_STAGE_OTHER].mean, 1, 1e-9);
    CHECK_NEAR(v->stage_duration[GT_RUN_STAGE_EVAL].mean, 1, 1e-9);
    CHECK_NEAR(v->duration.mean, 10, 1e-9);
    CHECK_NEAR(v->f1.mean, 0.90, 1e-12);
    CHECK_NEAR(v->d_energy.pct, 0, 1e-12);
    CHECK_EQ_INT(v->n_knobs, 0);
}

/* V1: 54 J against 100 J, -46 %, clearly significant; eval energy 5 vs 10 J. */
static void test_single_knob_deltas(void)
{
    const gt_variant_summary *v = variant("V1");
    CHECK_NEAR(v->d_energy.pct, -46, 1e-9);
    CHECK(v->d_energy.tested && v->d_energy.significant);
    CHECK(v->d_energy.ci_lo < -46 && v->d_energy.ci_hi > -46);
    CHECK_NEAR(v->d_stage_energy[GT_RUN_STAGE_EVAL].pct, -50, 1e-9);
    CHECK_NEAR(v->d_stage_time[GT_RUN_STAGE_EVAL].pct, -50, 1e-9);
    CHECK_NEAR(v->d_f1.pct, 100 * (0.88 / 0.90 - 1), 1e-9);
    CHECK_NEAR(v->d_mcc, -0.04, 1e-9);
    CHECK_EQ_INT(v->n_knobs, 1);
    CHECK_EQ_STR(v->knobs[0].name, "seq_trim");
    CHECK_EQ_STR(v->knobs[0].params, "{\"max_len\":64}");
    /* Same F1 as the baseline in every repeat: no difference to find. */
    const gt_variant_summary *v3 = variant("V3");
    CHECK_NEAR(v3->d_f1.pct, 0, 1e-12);
    CHECK(v3->d_f1.tested && !v3->d_f1.significant);
}

static void test_runs_that_did_not_finish(void)
{
    const gt_variant_summary *v = variant("V8");
    CHECK_EQ_INT(v->runs, 1);
    CHECK_EQ_INT(v->failed, 1);
    CHECK_EQ_INT(v->pending, 1);
    CHECK(v->first_error && strstr(v->first_error, "int8"));
    CHECK(isnan(v->energy.ci_lo));
    CHECK_NEAR(v->d_energy.pct, -5, 1e-9);
    CHECK(!v->d_energy.tested && !v->d_energy.significant);
    CHECK(isnan(v->d_energy.ci_lo));
}

static void test_single_class_and_external(void)
{
    CHECK_EQ_INT(variant("V7")->single_class_runs, 2);
    CHECK_EQ_INT(variant("V0")->single_class_runs, 0);
    const gt_variant_summary *ext = variant("V9");
    CHECK(ext->external);
    CHECK(!ext->has_metrics);
    CHECK_NEAR(ext->energy.mean, 90, 1e-9);
    CHECK_NEAR(ext->stage_energy[GT_RUN_STAGE_EVAL].mean, 11, 1e-9);
}

static const gt_bundle *bundle(const char *name)
{
    for (size_t i = 0; i < analysis.n_bundles; i++)
        if (!strcmp(analysis.variants[analysis.bundles[i].variant].name, name))
            return &analysis.bundles[i];
    test_fail(__FILE__, __LINE__, "no bundle %s", name);
    exit(1);
}

/* V4 = seq_trim (keeps 54 %) + prune_layers (keeps 77.5 %, parameters written
 * in another key order): expected 1 - .54 * .775 = 58.15 %, measured 65 %. */
static void test_bundles_under_the_cascade_model(void)
{
    CHECK_EQ_INT(analysis.n_bundles, 4);
    const gt_bundle *b = bundle("V4");
    CHECK_EQ_STR(analysis.variants[b->singles[0]].name, "V1");
    CHECK_EQ_STR(analysis.variants[b->singles[1]].name, "V2");
    CHECK_NEAR(b->cascade.expected_saving_pct, 58.15, 1e-9);
    CHECK_NEAR(b->cascade.measured_saving_pct, 65, 1e-9);
    CHECK_EQ_STR(gt_interaction_name(b->cascade.interaction), "synergistic");
    /* V5: expected 1 - .54 * .86 = 53.56 %, measured 48 % */
    CHECK_NEAR(bundle("V5")->cascade.expected_saving_pct, 53.56, 1e-9);
    CHECK_EQ_STR(gt_interaction_name(bundle("V5")->cascade.interaction), "antagonistic");
    /* V6: expected 1 - .775 * .86 = 33.35 %, measured 33.35 % with noise */
    CHECK_NEAR(bundle("V6")->cascade.measured_saving_pct, 33.35, 1e-9);
    CHECK_EQ_STR(gt_interaction_name(bundle("V6")->cascade.interaction), "additive");
    /* V7: lora has no single-knob run */
    const gt_bundle *b7 = bundle("V7");
    CHECK_EQ_STR(gt_interaction_name(b7->cascade.interaction), "unknown");
    CHECK_EQ_STR(analysis.variants[b7->singles[0]].name, "V1");
    CHECK(b7->singles[1] == GT_NONE);
    CHECK_NEAR(b7->cascade.measured_saving_pct, 70, 1e-9);
    CHECK_EQ_STR(analysis.variants[analysis.best_bundle].name, "V7");
}

/* (energy, F1) means: V7 30/0, V4 35/.87, V5 52/.88, V1 54/.88, V6 66.65/.90,
 * V2 77.5/.895, V3 86/.90, V9 90/-, V8 95/.89, V0 100/.90. */
static void test_pareto_fronts(void)
{
    const char *want[] = {"V7", "V4", "V5", "V6"};
    CHECK_EQ_INT(analysis.n_pareto_f1, 4);
    for (size_t i = 0; i < 4 && i < analysis.n_pareto_f1; i++)
        CHECK_EQ_STR(analysis.variants[analysis.pareto_f1[i]].name, want[i]);
    /* V7 has both the least energy and the least time. */
    CHECK_EQ_INT(analysis.n_pareto_time, 1);
    CHECK_EQ_STR(analysis.variants[analysis.pareto_time[0]].name, "V7");
}

int main(void)
{
    load_fixture();
    RUN(test_experiment_facts);
    RUN(test_baseline_summary);
    RUN(test_single_knob_deltas);
    RUN(test_runs_that_did_not_finish);
    RUN(test_single_class_and_external);
    RUN(test_bundles_under_the_cascade_model);
    RUN(test_pareto_fronts);
    gt_analysis_free(&analysis);
    return test_summary();
}
