/* Forecasts from progress, on a fake clock and a fake RAPL counter that the
 * test advances at known powers, so every prediction is exact arithmetic
 * worked out here: after a warm-up the task draws a steady power, and its
 * total is what has been used plus the rest of the work at the rate seen
 * since the first report. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "fake_rapl.h"
#include "greentune/energy.h"
#include "test_support.h"

static const char *root;
static uint64_t counter_uj;
static double now_s;
static int forecasts;
static gt_forecast last;

static double fake_clock(void *ctx)
{
    (void)ctx;
    return now_s;
}

/* seconds at watts: the clock and the counter move together. */
static void run_for(double seconds, double watts)
{
    now_s += seconds;
    counter_uj += (uint64_t)(seconds * watts * 1e6 + 0.5);
    fake_rapl_set(root, "intel-rapl:0", counter_uj);
}

static void on_forecast(void *ctx, const gt_forecast *f)
{
    (void)ctx;
    forecasts++;
    last = *f;
}

static gt_measurement *start(double forecast_at)
{
    static int trees;
    char name[32];
    snprintf(name, sizeof name, "tree-%d", trees++);
    root = test_path(name);
    counter_uj = 0;
    now_s = 1000;
    forecasts = 0;
    fake_rapl_zone(root, "intel-rapl:0", "package-0", 1ull << 40, 0);
    setenv("GREENTUNE_SYSFS_ROOT", root, 1);
    gt_measure_options o;
    gt_measure_options_init(&o);
    o.meter = "rapl";
    o.scope = GT_SCOPE_MACHINE;
    o.interval_ms = 0;
    o.forecast_at = forecast_at;
    o.clock = fake_clock;
    o.on_forecast = on_forecast;
    gt_measurement *m = NULL;
    gt_error err = {0};
    CHECK_MSG(gt_measurement_start(&o, &m, &err) == GT_OK, "start: %s", err.message);
    return m;
}

static void call(gt_status s, const gt_error *err)
{
    CHECK_MSG(s == GT_OK, "%s", err->message);
}

static gt_forecast progress(gt_measurement *m, const char *task, double fraction)
{
    gt_forecast f;
    gt_error err = {0};
    call(gt_measurement_progress(m, task, fraction, &f, &err), &err);
    return f;
}

/* 4 J before the task; a 2 s, 10 J warm-up ended by "progress 0"; then 5 W.
 * At 10 % (1 s after the warm-up): the task has used 15 J in 3 s, and 90 %
 * of the work at 5 J and 1 s per 10 % is left: 60 J in 12 s. The run: the
 * 19 J used so far plus the task's 45 J to come, 9 s from now. */
static void test_forecast_after_the_first_tenth(void)
{
    gt_measurement *m = start(0.1);
    if (!m)
        return;
    gt_error err = {0};
    run_for(1, 4);
    call(gt_measurement_task_start(m, "train", &err), &err);
    run_for(2, 5); /* warm-up: 10 J */
    gt_forecast f = progress(m, "train", 0);
    CHECK_NEAR(f.task_energy_j, 0, 0); /* no forecast from 0 % */
    CHECK_EQ_INT(forecasts, 0);
    run_for(1, 5);
    f = progress(m, "train", 0.1);
    CHECK_EQ_INT(forecasts, 1);
    CHECK_EQ_STR(f.task, "train");
    CHECK_NEAR(f.energy_j, 15, 1e-9);
    CHECK_NEAR(f.elapsed_s, 3, 1e-9);
    CHECK_NEAR(f.task_energy_j, 60, 1e-9);
    CHECK_NEAR(f.task_duration_s, 12, 1e-9);
    CHECK_NEAR(f.run_energy_j, 19 + 45, 1e-9);
    CHECK_NEAR(f.at_s, 4, 1e-9);
    CHECK_NEAR(f.run_duration_s, 4 + 9, 1e-9);
    CHECK_EQ_INT(f.estimated, 0);
    CHECK_NEAR(last.task_energy_j, 60, 1e-9); /* the callback saw the same */
    /* the work goes on at 5 W to 100 % */
    for (int i = 2; i <= 10; i++) {
        run_for(1, 5);
        f = progress(m, "train", i / 10.0);
        CHECK_NEAR(f.task_energy_j, 60, 1e-9);
    }
    call(gt_measurement_task_stop(m, "train", &err), &err);
    gt_energy_result r;
    call(gt_measurement_finish(m, &r, &err), &err);
    CHECK_EQ_INT(r.task_count, 1);
    const gt_task_result *t = &r.tasks[0];
    CHECK_EQ_INT(t->has_forecast, 1);
    CHECK_NEAR(t->forecast.fraction, 0.1, 0);
    CHECK_NEAR(t->forecast.task_energy_j, 60, 1e-9); /* the kept one: made at 10 % */
    CHECK_NEAR(t->window.energy_j, 60, 1e-9);
    CHECK_EQ_INT(t->forecast.has_error, 1);
    CHECK_NEAR(t->forecast.energy_error_pct, 0, 1e-9);
    CHECK_NEAR(t->forecast.duration_error_pct, 0, 1e-9);
    gt_carbon carbon;
    call(gt_carbon_resolve(NULL, 400, 1.5, &carbon, &err), &err);
    cJSON *o = gt_energy_result_to_json(&r, &carbon);
    const cJSON *fj = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "tasks"), "train"), "forecast");
    CHECK_NEAR(cJSON_GetNumberValue(cJSON_GetObjectItem(fj, "task_energy_j")), 60, 1e-9);
    CHECK_NEAR(cJSON_GetNumberValue(cJSON_GetObjectItem(fj, "task_emissions_g")), 60 / 3.6e6 * 400 * 1.5, 1e-12);
    CHECK_NEAR(cJSON_GetNumberValue(cJSON_GetObjectItem(fj, "energy_error_pct")), 0, 1e-9);
    cJSON_Delete(o);
    gt_energy_result_free(&r);
}

/* Without a 0 % report the run is extrapolated from its start: 8 J in 2 s at
 * 25 % is 32 J in 8 s. When the second half then runs at twice the power
 * (32 J in its 4 s, 48 J in all), the kept forecast was a third low. */
static void test_forecast_from_the_start_and_its_error(void)
{
    gt_measurement *m = start(0.25);
    if (!m)
        return;
    gt_error err = {0};
    call(gt_measurement_task_start(m, "train", &err), &err);
    run_for(2, 4);
    gt_forecast f = progress(m, "train", 0.25);
    CHECK_NEAR(f.task_energy_j, 32, 1e-9);
    CHECK_NEAR(f.task_duration_s, 8, 1e-9);
    run_for(2, 4);
    f = progress(m, "train", 0.5); /* slope since 25 %: 8 J per 25 % */
    CHECK_NEAR(f.task_energy_j, 32, 1e-9);
    run_for(4, 8); /* the second half: 32 J in 4 s */
    call(gt_measurement_task_stop(m, "train", &err), &err);
    gt_energy_result r;
    call(gt_measurement_finish(m, &r, &err), &err);
    const gt_task_result *t = &r.tasks[0];
    CHECK_NEAR(t->window.energy_j, 48, 1e-9);
    CHECK_NEAR(t->forecast.energy_error_pct, (32.0 - 48) / 48 * 100, 1e-9);
    CHECK_NEAR(t->forecast.duration_error_pct, 0, 1e-9);
    gt_energy_result_free(&r);
}

/* Nested tasks with progress: the run's forecast counts the outer one only
 * (its forecast already holds the inner's rest). */
static void test_run_forecast_counts_top_level_tasks(void)
{
    gt_measurement *m = start(0.1);
    if (!m)
        return;
    gt_error err = {0};
    call(gt_measurement_task_start(m, "train", &err), &err);
    call(gt_measurement_task_start(m, "epoch-1", &err), &err);
    run_for(1, 10);
    progress(m, "train", 0.1);   /* train: 10 J -> 100 J */
    gt_forecast f = progress(m, "epoch-1", 0.5); /* epoch-1: 10 J -> 20 J */
    CHECK_NEAR(f.task_energy_j, 20, 1e-9);
    CHECK_NEAR(f.run_energy_j, 100, 1e-9); /* not 100 + 10 */
    CHECK_NEAR(f.run_duration_s, 10, 1e-9);
    gt_energy_result r;
    call(gt_measurement_finish(m, &r, &err), &err);
    CHECK_EQ_INT(r.tasks[0].has_forecast && r.tasks[1].has_forecast, 1);
    CHECK_EQ_INT(r.tasks[0].forecast.has_error, 0); /* still running at the end: no outcome to compare */
    gt_energy_result_free(&r);
}

static void test_progress_misuse_is_refused(void)
{
    gt_measurement *m = start(0.1);
    if (!m)
        return;
    gt_error err = {0};
    gt_forecast f;
    CHECK_EQ_INT(gt_measurement_progress(m, "nothing", 0.5, &f, &err), GT_ERR_INVALID);
    call(gt_measurement_task_start(m, "t", &err), &err);
    CHECK_EQ_INT(gt_measurement_progress(m, "t", 1.5, &f, &err), GT_ERR_INVALID);
    CHECK(strstr(err.message, "outside [0, 1]") != NULL);
    CHECK_EQ_INT(gt_measurement_progress(m, "t", -0.1, &f, &err), GT_ERR_INVALID);
    gt_measurement_abort(m);
}

int main(void)
{
    setenv("GREENTUNE_NVML_LIB", "/nonexistent/libnvidia-ml.so.1", 1);
    RUN(test_forecast_after_the_first_tenth);
    RUN(test_forecast_from_the_start_and_its_error);
    RUN(test_run_forecast_counts_top_level_tasks);
    RUN(test_progress_misuse_is_refused);
    return test_summary();
}
