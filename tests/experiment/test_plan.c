/* The execution order of a sweep: randomized rounds (every variant once per
 * round, shuffled from the seed), sequential blocks, and an order that the
 * store keeps across resumes. */
#include <stdlib.h>
#include <string.h>

#include "greentune/experiment.h"
#include "test_support.h"

static const char pipeline_yaml[] = "data: {format: jsonl, path: data.jsonl}\nsystem: {meter: estimate}\n";

static int load(const char *name, const char *order, unsigned seed, int repeats, gt_experiment *exp)
{
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "pipeline: pipeline.yaml\nrepeats: %d\norder: %s\nseed: %u\n"
             "variants: [{name: A}, {name: B, set: {train.epochs: 2}}, {name: C, knobs: {threads: 1}},\n"
             "           {name: D}, {name: E}, {name: F}]\n",
             repeats, order, seed);
    test_write_file(test_path("pipeline.yaml"), pipeline_yaml, strlen(pipeline_yaml));
    test_write_file(test_path(name), yaml, strlen(yaml));
    gt_error err = {0};
    int ok = gt_experiment_load(test_path(name), exp, &err) == GT_OK;
    CHECK_MSG(ok, "%s", err.message);
    return ok;
}

static gt_run_plan *plan_of(const gt_experiment *exp)
{
    gt_run_plan *plan = calloc(exp->n_variants * (size_t)exp->repeats, sizeof *plan);
    gt_experiment_plan(exp, plan);
    return plan;
}

/* Randomized: round r holds every variant's repeat r exactly once, and the
 * positions count up from 0. */
static void test_randomized_rounds_hold_every_variant_once(void)
{
    gt_experiment exp;
    if (!load("r.yaml", "randomized", 7, 4, &exp))
        return;
    gt_run_plan *plan = plan_of(&exp);
    size_t n = exp.n_variants;
    for (int r = 0; r < 4; r++) {
        int seen[6] = {0};
        for (size_t i = 0; i < n; i++) {
            const gt_run_plan *p = &plan[(size_t)r * n + i];
            CHECK_EQ_INT(p->repeat, r);
            CHECK_EQ_INT(p->order, (long long)((size_t)r * n + i));
            seen[p->variant[0] - 'A']++;
        }
        for (int v = 0; v < 6; v++)
            CHECK_EQ_INT(seen[v], 1);
    }
    free(plan);
    gt_experiment_free(&exp);
}

/* The same seed gives the same order; another seed another one; and the
 * rounds are not all alike (the shuffle is redone per round). */
static void test_randomized_order_follows_the_seed(void)
{
    gt_experiment a, b, c;
    if (!load("a.yaml", "randomized", 7, 3, &a) || !load("b.yaml", "randomized", 7, 3, &b) ||
        !load("c.yaml", "randomized", 8, 3, &c))
        return;
    gt_run_plan *pa = plan_of(&a), *pb = plan_of(&b), *pc = plan_of(&c);
    int same_ab = 1, same_ac = 1, rounds_alike = 1;
    for (size_t i = 0; i < 18; i++) {
        same_ab &= !strcmp(pa[i].variant, pb[i].variant);
        same_ac &= !strcmp(pa[i].variant, pc[i].variant);
        if (i >= 6)
            rounds_alike &= !strcmp(pa[i].variant, pa[i % 6].variant);
    }
    CHECK(same_ab);
    CHECK(!same_ac);
    CHECK(!rounds_alike);
    free(pa), free(pb), free(pc);
    gt_experiment_free(&a), gt_experiment_free(&b), gt_experiment_free(&c);
}

/* Sequential: each variant's repeats back to back, in file order. */
static void test_sequential_runs_variants_in_file_order(void)
{
    gt_experiment exp;
    if (!load("s.yaml", "sequential", 7, 2, &exp))
        return;
    gt_run_plan *plan = plan_of(&exp);
    for (size_t i = 0; i < 12; i++) {
        CHECK_EQ_INT(plan[i].variant[0], 'A' + (int)(i / 2));
        CHECK_EQ_INT(plan[i].repeat, (int)(i % 2));
        CHECK_EQ_INT(plan[i].order, (int)i);
    }
    free(plan);
    gt_experiment_free(&exp);
}

/* Preparing the sweep again (a resume) keeps every run's planned position. */
static void test_a_resumed_sweep_keeps_its_order(void)
{
    gt_experiment exp;
    if (!load("k.yaml", "randomized", 11, 2, &exp))
        return;
    gt_store *db = NULL;
    gt_error err = {0};
    int64_t id = 0, id2 = 0;
    gt_run_ref *first = NULL, *second = NULL;
    size_t n1 = 0, n2 = 0;
    CHECK(gt_store_open(&db, test_path("k.db"), NULL, &err) == GT_OK);
    CHECK(gt_sweep_prepare(db, &exp, &id, &err) == GT_OK);
    CHECK(gt_store_pending_runs(db, id, 0, &first, &n1, &err) == GT_OK);
    CHECK(gt_sweep_prepare(db, &exp, &id2, &err) == GT_OK);
    CHECK(gt_store_pending_runs(db, id2, 0, &second, &n2, &err) == GT_OK);
    CHECK_EQ_INT(id, id2);
    CHECK_EQ_INT(n1, 12);
    CHECK_EQ_INT(n2, 12);
    gt_run_plan *plan = plan_of(&exp);
    for (size_t i = 0; i < n1 && i < n2; i++) {
        CHECK_EQ_STR(first[i].variant, second[i].variant);
        CHECK_EQ_INT(first[i].order, second[i].order);
        CHECK_EQ_STR(first[i].variant, plan[i].variant);
        CHECK_EQ_INT(first[i].repeat, plan[i].repeat);
    }
    free(plan);
    free(first);
    free(second);
    gt_store_close(db);
    gt_experiment_free(&exp);
}

int main(void)
{
    RUN(test_randomized_rounds_hold_every_variant_once);
    RUN(test_randomized_order_follows_the_seed);
    RUN(test_sequential_runs_variants_in_file_order);
    RUN(test_a_resumed_sweep_keeps_its_order);
    return test_summary();
}
