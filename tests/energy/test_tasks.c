/* Tasks inside one measurement, driven by a fake RAPL counter that the test
 * advances by known joules between boundaries; and the result as JSON. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "fake_rapl.h"
#include "greentune/energy.h"
#include "test_support.h"

static const char *root;
static uint64_t counter_uj;

/* Adds joules to the fake package counter. */
static void burn(double joules)
{
    counter_uj += (uint64_t)(joules * 1e6 + 0.5);
    fake_rapl_set(root, "intel-rapl:0", counter_uj);
}

static gt_measurement *start(int interval_ms)
{
    static int trees;
    char name[32];
    snprintf(name, sizeof name, "tree-%d", trees++);
    root = test_path(name);
    counter_uj = 1000;
    return fake_rapl_measurement(root, counter_uj, interval_ms);
}

/* A task run twice sums both windows and nothing between them; two tasks may
 * overlap; the total has everything. Same with and without the sampler. */
static void check_repeated_and_overlapping(int interval_ms)
{
    gt_measurement *m = start(interval_ms);
    if (!m)
        return;
    burn(1);
    fake_rapl_task(m, 1, "train");
    burn(5);
    fake_rapl_task(m, 0, "train");
    burn(100);
    fake_rapl_task(m, 1, "train");
    burn(3);
    fake_rapl_task(m, 0, "train");
    fake_rapl_task(m, 1, "a");
    burn(1);
    fake_rapl_task(m, 1, "b");
    burn(2);
    fake_rapl_task(m, 0, "a");
    burn(4);
    fake_rapl_task(m, 0, "b");
    gt_energy_result r;
    gt_error err = {0};
    CHECK_MSG(gt_measurement_finish(m, &r, &err) == GT_OK, "finish: %s", err.message);
    CHECK_EQ_INT(r.task_count, 3);
    const gt_task_result *train = fake_rapl_find(&r, "train"), *a = fake_rapl_find(&r, "a"), *b = fake_rapl_find(&r, "b");
    if (train && a && b) {
        CHECK_NEAR(train->window.energy_j, 8.0, 1e-9);
        CHECK_NEAR(train->window.joules[GT_CPU], 8.0, 1e-9);
        CHECK_EQ_INT(train->runs, 2);
        CHECK_NEAR(a->window.energy_j, 3.0, 1e-9);
        CHECK_NEAR(b->window.energy_j, 6.0, 1e-9);
        CHECK(train->window.duration_s >= 0 && train->window.duration_s <= r.total.duration_s);
    }
    CHECK_NEAR(r.total.energy_j, 116.0, 1e-9);
    CHECK_EQ_STR(r.meter, "rapl");
    CHECK_EQ_INT(r.estimated, 0);
    CHECK_EQ_STR(r.sources[GT_CPU], "rapl");
    CHECK_EQ_STR(r.sources[GT_GPU], "");
    CHECK_EQ_INT(r.tasks[0].open_at_finish, 0);
    gt_energy_result_free(&r);
}

static void test_repeated_and_overlapping_tasks(void) { check_repeated_and_overlapping(0); }
static void test_tasks_do_not_depend_on_the_sampler(void) { check_repeated_and_overlapping(1); }

static void test_task_misuse_is_refused(void)
{
    gt_measurement *m = start(0);
    if (!m)
        return;
    gt_error err = {0};
    CHECK_EQ_INT(gt_measurement_task_stop(m, "never", &err), GT_ERR_INVALID);
    CHECK(strstr(err.message, "stop without a start") != NULL);
    fake_rapl_task(m, 1, "x");
    CHECK_EQ_INT(gt_measurement_task_start(m, "x", &err), GT_ERR_INVALID);
    CHECK(strstr(err.message, "already running") != NULL);
    const char *bad[] = {"", "two words", "new\nline", "quote\"", "caf\xc3\xa9",
                         "0123456789012345678901234567890123456789012345678901234567890123"}; /* 64 chars */
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_MSG(gt_measurement_task_start(m, bad[i], &err) == GT_ERR_INVALID, "accepted name '%s'", bad[i]);
    CHECK_EQ_INT(gt_measurement_task_start(m, NULL, &err), GT_ERR_INVALID);
    fake_rapl_task(m, 1, "ok_name-1.2:3/4+5");
    fake_rapl_task(m, 1, "012345678901234567890123456789012345678901234567890123456789012"); /* 63 chars */
    gt_measurement_abort(m);
}

/* A task still running at the end is closed there, marked, and noted. */
static void test_open_task_is_closed_at_finish(void)
{
    gt_measurement *m = start(0);
    if (!m)
        return;
    fake_rapl_task(m, 1, "eval");
    burn(2.5);
    gt_energy_result r;
    gt_error err = {0};
    CHECK_EQ_INT(gt_measurement_finish(m, &r, &err), GT_OK);
    const gt_task_result *eval = fake_rapl_find(&r, "eval");
    if (eval) {
        CHECK_NEAR(eval->window.energy_j, 2.5, 1e-9);
        CHECK_EQ_INT(eval->open_at_finish, 1);
        CHECK_EQ_INT(eval->runs, 1);
    }
    int noted = 0;
    for (int i = 0; i < r.note_count; i++)
        noted |= strstr(r.notes[i], "'eval': still running") != NULL;
    CHECK(noted);
    gt_energy_result_free(&r);
}

static double number(const cJSON *o, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(o, key);
    CHECK_MSG(cJSON_IsNumber(item), "no number '%s'", key);
    return cJSON_IsNumber(item) ? item->valuedouble : -1;
}

/* The JSON has design.md's measure keys; emissions = J / 3.6e6 x g/kWh x PUE. */
static void test_json_follows_the_measure_contract(void)
{
    gt_measurement *m = start(0);
    if (!m)
        return;
    fake_rapl_task(m, 1, "train");
    burn(36);
    fake_rapl_task(m, 0, "train");
    burn(0.5);
    gt_energy_result r;
    gt_error err = {0};
    CHECK_EQ_INT(gt_measurement_finish(m, &r, &err), GT_OK);
    gt_carbon carbon;
    CHECK_EQ_INT(gt_carbon_resolve("fra", -1, 1.5, &carbon, &err), GT_OK);
    cJSON *o = gt_energy_result_to_json(&r, &carbon);
    CHECK(o != NULL);
    if (!o)
        return;
    CHECK_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItem(o, "meter")), "rapl");
    CHECK(cJSON_IsFalse(cJSON_GetObjectItem(o, "estimated")));
    CHECK_NEAR(number(o, "energy_j"), 36.5, 1e-6);
    CHECK(number(o, "duration_s") >= 0);
    CHECK(number(o, "avg_power_w") >= 0);
    const cJSON *components = cJSON_GetObjectItem(o, "components");
    CHECK_NEAR(number(components, "cpu_j"), 36.5, 1e-6);
    CHECK_NEAR(number(components, "dram_j"), 0, 0);
    CHECK_NEAR(number(components, "gpu_j"), 0, 0);
    CHECK_NEAR(number(o, "carbon_intensity_g_per_kwh"), 56.039, 1e-9); /* France, OWID 2023 */
    CHECK_CLOSE(number(o, "emissions_g"), 36.5 / 3.6e6 * 56.039 * 1.5, 1e-5, 0);
    const cJSON *train = cJSON_GetObjectItem(cJSON_GetObjectItem(o, "tasks"), "train");
    CHECK_NEAR(number(train, "energy_j"), 36, 1e-6);
    CHECK(number(train, "duration_s") >= 0);
    CHECK_CLOSE(number(train, "emissions_g"), 36 / 3.6e6 * 56.039 * 1.5, 1e-5, 0);
    CHECK(cJSON_IsFalse(cJSON_GetObjectItem(train, "estimated")));
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "sources"), "gpu")));
    cJSON_Delete(o);
    gt_energy_result_free(&r);
}

/* A task started inside another is its child; three levels deep, each with
 * its own energy; the JSON names the parent. */
static void test_nested_tasks_have_parents(void)
{
    gt_measurement *m = start(0);
    if (!m)
        return;
    fake_rapl_task(m, 1, "epoch-1");
    burn(1);
    fake_rapl_task(m, 1, "train");
    burn(2);
    fake_rapl_task(m, 1, "step");
    burn(4);
    fake_rapl_task(m, 0, "step");
    fake_rapl_task(m, 0, "train");
    burn(8);
    fake_rapl_task(m, 0, "epoch-1");
    fake_rapl_task(m, 1, "eval"); /* after epoch-1 ended: top level */
    burn(16);
    fake_rapl_task(m, 0, "eval");
    gt_energy_result r;
    gt_error err = {0};
    CHECK_EQ_INT(gt_measurement_finish(m, &r, &err), GT_OK);
    const gt_task_result *epoch = fake_rapl_find(&r, "epoch-1"), *train = fake_rapl_find(&r, "train"),
                         *step = fake_rapl_find(&r, "step"), *eval = fake_rapl_find(&r, "eval");
    if (epoch && train && step && eval) {
        CHECK_EQ_STR(epoch->parent, "");
        CHECK_EQ_STR(train->parent, "epoch-1");
        CHECK_EQ_STR(step->parent, "train");
        CHECK_EQ_STR(eval->parent, "");
        CHECK_NEAR(epoch->window.energy_j, 15, 1e-9);
        CHECK_NEAR(train->window.energy_j, 6, 1e-9);
        CHECK_NEAR(step->window.energy_j, 4, 1e-9);
        CHECK_NEAR(eval->window.energy_j, 16, 1e-9);
    }
    cJSON *o = gt_energy_result_to_json(&r, NULL);
    const cJSON *tasks = cJSON_GetObjectItem(o, "tasks");
    CHECK_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(tasks, "step"), "parent")), "train");
    CHECK(cJSON_GetObjectItem(cJSON_GetObjectItem(tasks, "epoch-1"), "parent") == NULL);
    cJSON_Delete(o);
    gt_energy_result_free(&r);
}

static int noted(const gt_energy_result *r, const char *words)
{
    for (int i = 0; i < r->note_count; i++)
        if (strstr(r->notes[i], words))
            return 1;
    return 0;
}

/* Windows that overlap without nesting are not parent and child: a child
 * outliving its parent, or running again outside it, goes to the top level. */
static void test_overlapping_tasks_do_not_nest(void)
{
    gt_measurement *m = start(0);
    if (!m)
        return;
    fake_rapl_task(m, 1, "a");
    fake_rapl_task(m, 1, "b"); /* b inside a, for now */
    burn(1);
    fake_rapl_task(m, 0, "a"); /* ... but a ends first */
    burn(2);
    fake_rapl_task(m, 0, "b");
    fake_rapl_task(m, 1, "p");
    fake_rapl_task(m, 1, "c");
    fake_rapl_task(m, 0, "c");
    fake_rapl_task(m, 0, "p");
    fake_rapl_task(m, 1, "c"); /* c again, outside p */
    fake_rapl_task(m, 0, "c");
    gt_energy_result r;
    gt_error err = {0};
    CHECK_EQ_INT(gt_measurement_finish(m, &r, &err), GT_OK);
    const gt_task_result *b = fake_rapl_find(&r, "b"), *c = fake_rapl_find(&r, "c");
    if (b && c) {
        CHECK_EQ_STR(b->parent, "");
        CHECK_NEAR(b->window.energy_j, 3, 1e-9);
        CHECK_EQ_STR(c->parent, "");
        CHECK_EQ_INT(c->runs, 2);
    }
    CHECK(noted(&r, "task 'b': keeps running after 'a'"));
    CHECK(noted(&r, "task 'c': runs again outside 'p'"));
    gt_energy_result_free(&r);
}

/* The sync hook (cudaDeviceSynchronize in real use) runs before each boundary
 * reads the counters: work it waits for lands in the task that queued it. */
static int syncs;
static double pending_gpu_work;
static void sync_hook(void *ctx)
{
    (void)ctx;
    syncs++;
    burn(pending_gpu_work);
    pending_gpu_work = 0;
}

static void test_sync_hook_runs_before_boundaries(void)
{
    gt_measurement *m = start(0);
    if (!m)
        return;
    syncs = 0;
    gt_measurement_set_sync(m, sync_hook, NULL);
    pending_gpu_work = 1; /* queued before the task: not the task's */
    fake_rapl_task(m, 1, "train");
    burn(3);
    pending_gpu_work = 2; /* queued by the task, done by the time stop returns */
    fake_rapl_task(m, 0, "train");
    CHECK_EQ_INT(syncs, 2);
    gt_forecast f;
    gt_error err = {0};
    fake_rapl_task(m, 1, "eval");
    CHECK_EQ_INT(gt_measurement_progress(m, "eval", 0.5, &f, &err), GT_OK);
    CHECK_EQ_INT(syncs, 4);
    gt_energy_result r;
    CHECK_EQ_INT(gt_measurement_finish(m, &r, &err), GT_OK);
    CHECK_EQ_INT(syncs, 5); /* the finish too */
    const gt_task_result *train = fake_rapl_find(&r, "train");
    if (train)
        CHECK_NEAR(train->window.energy_j, 5, 1e-9);
    CHECK_NEAR(r.total.energy_j, 6, 1e-9);
    gt_energy_result_free(&r);
}

/* A snapshot sees running tasks up to now and ends nothing. */
static void test_snapshot_sees_running_tasks(void)
{
    gt_measurement *m = start(0);
    if (!m)
        return;
    fake_rapl_task(m, 1, "train");
    burn(3);
    gt_energy_result snap;
    gt_error err = {0};
    CHECK_EQ_INT(gt_measurement_snapshot(m, &snap, &err), GT_OK);
    const gt_task_result *t = fake_rapl_find(&snap, "train");
    if (t) {
        CHECK_EQ_INT(t->running, 1);
        CHECK_NEAR(t->window.energy_j, 3, 1e-9);
        CHECK_EQ_INT(t->runs, 0);
    }
    CHECK_NEAR(snap.total.energy_j, 3, 1e-9);
    gt_energy_result_free(&snap);
    burn(1);
    fake_rapl_task(m, 0, "train"); /* still running after the snapshot */
    gt_energy_result r;
    CHECK_EQ_INT(gt_measurement_finish(m, &r, &err), GT_OK);
    t = fake_rapl_find(&r, "train");
    if (t) {
        CHECK_NEAR(t->window.energy_j, 4, 1e-9);
        CHECK_EQ_INT(t->running, 0);
        CHECK_EQ_INT(t->runs, 1);
    }
    gt_energy_result_free(&r);
}

/* Control lines drive the same calls; a bad one is an error, not a crash. */
static void test_control_lines(void)
{
    gt_measurement *m = start(0);
    if (!m)
        return;
    gt_error err = {0};
    CHECK_EQ_INT(gt_measurement_control(m, "start a", &err), GT_OK);
    burn(2);
    CHECK_EQ_INT(gt_measurement_control(m, "progress a 50%", &err), GT_OK);
    CHECK_EQ_INT(gt_measurement_control(m, "stop a", &err), GT_OK);
    CHECK_EQ_INT(gt_measurement_control(m, "  ", &err), GT_OK);
    CHECK_EQ_INT(gt_measurement_control(m, "explode a", &err), GT_ERR_INVALID);
    CHECK(strstr(err.message, "unknown command") != NULL);
    CHECK_EQ_INT(gt_measurement_control(m, "progress a 0.5", &err), GT_ERR_INVALID); /* a has stopped */
    CHECK(strstr(err.message, "not running") != NULL);
    gt_energy_result r;
    CHECK_EQ_INT(gt_measurement_finish(m, &r, &err), GT_OK);
    const gt_task_result *a = fake_rapl_find(&r, "a");
    if (a) {
        CHECK_NEAR(a->window.energy_j, 2, 1e-9);
        CHECK_NEAR(a->progress, 0.5, 0);
    }
    gt_energy_result_free(&r);
}

int main(void)
{
    setenv("GREENTUNE_NVML_LIB", "/nonexistent/libnvidia-ml.so.1", 1);
    RUN(test_repeated_and_overlapping_tasks);
    RUN(test_tasks_do_not_depend_on_the_sampler);
    RUN(test_task_misuse_is_refused);
    RUN(test_open_task_is_closed_at_finish);
    RUN(test_json_follows_the_measure_contract);
    RUN(test_nested_tasks_have_parents);
    RUN(test_overlapping_tasks_do_not_nest);
    RUN(test_sync_hook_runs_before_boundaries);
    RUN(test_snapshot_sees_running_tasks);
    RUN(test_control_lines);
    return test_summary();
}
