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

int main(void)
{
    setenv("GREENTUNE_NVML_LIB", "/nonexistent/libnvidia-ml.so.1", 1);
    RUN(test_repeated_and_overlapping_tasks);
    RUN(test_tasks_do_not_depend_on_the_sampler);
    RUN(test_task_misuse_is_refused);
    RUN(test_open_task_is_closed_at_finish);
    RUN(test_json_follows_the_measure_contract);
    return test_summary();
}
