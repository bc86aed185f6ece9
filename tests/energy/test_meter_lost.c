/* A meter that disappears mid-measurement (the RAPL counter file removed from a
 * fake sysfs tree, as when a driver is unloaded or a container loses the
 * mount): the measurement still finishes, the windows the meter missed are
 * marked incomplete and hold only what was measured before it went, and the
 * windows it measured whole keep their exact energy. Nothing is invented. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fake_rapl.h"
#include "greentune/energy.h"
#include "test_support.h"

static const char *root;
static uint64_t counter_uj;

static void burn(double joules)
{
    counter_uj += (uint64_t)(joules * 1e6 + 0.5);
    fake_rapl_set(root, "intel-rapl:0", counter_uj);
}

static gt_measurement *start(const char *tree, int interval_ms)
{
    root = test_path(tree);
    counter_uj = 5000000;
    return fake_rapl_measurement(root, counter_uj, interval_ms);
}

static void vanish(void)
{
    CHECK_EQ_INT(unlink(fake_rapl_file(root, "intel-rapl:0", "energy_uj")), 0);
}

/* Moves the counter file aside (away) or back: the meter fails meanwhile. */
static void counter_away(int away)
{
    char path[4200], moved[4200];
    snprintf(path, sizeof path, "%s", fake_rapl_file(root, "intel-rapl:0", "energy_uj"));
    snprintf(moved, sizeof moved, "%s.away", path);
    CHECK_EQ_INT(away ? rename(path, moved) : rename(moved, path), 0);
}

/* Each task's process share (scope process, this test's own tree on the real
 * /proc) is part of its window, and none where the window has no energy. */
static void check_process_shares(const gt_energy_result *r)
{
    for (int i = 0; i < r->task_count; i++) {
        const gt_task_result *k = &r->tasks[i];
        CHECK_MSG(k->process.energy_j >= 0 && k->process.energy_j <= k->window.energy_j + 1e-9,
                  "task '%s': process share %.9g J of %.9g J", k->name, k->process.energy_j, k->window.energy_j);
        if (k->window.energy_j == 0)
            CHECK_NEAR(k->process.energy_j, 0, 0);
    }
    CHECK(r->process.window.energy_j >= 0 && r->process.window.energy_j <= r->total.energy_j + 1e-9);
}

/* data is measured whole; train loses its meter halfway: it keeps the 7 J
 * measured before, flagged; eval starts after the loss and counts no energy.
 * The total stops at the last good reading (2 + 7 J) and says so. */
static void check_vanishing_counter(int interval_ms)
{
    char tree[32];
    snprintf(tree, sizeof tree, "lost-%d", interval_ms);
    gt_measurement *m = start(tree, interval_ms);
    if (!m)
        return;
    fake_rapl_task(m, 1, "data");
    burn(2);
    fake_rapl_task(m, 0, "data");
    fake_rapl_task(m, 1, "train");
    burn(7);
    if (interval_ms)
        usleep(20 * 1000 * (useconds_t)interval_ms); /* let the sampler take the last good reading */
    vanish();
    fake_rapl_task(m, 0, "train");
    fake_rapl_task(m, 1, "eval");
    fake_rapl_task(m, 0, "eval");
    gt_energy_result r;
    gt_error err = {0};
    CHECK_MSG(gt_measurement_finish(m, &r, &err) == GT_OK, "finish: %s", err.message);
    const gt_task_result *data = fake_rapl_find(&r, "data"), *train = fake_rapl_find(&r, "train"), *eval = fake_rapl_find(&r, "eval");
    if (data && train && eval) {
        CHECK_NEAR(data->window.energy_j, 2, 1e-9);
        CHECK_EQ_INT(data->incomplete, 0);
        CHECK_EQ_INT(train->incomplete, 1);
        CHECK_EQ_INT(eval->incomplete, 1);
        CHECK_NEAR(eval->window.energy_j, 0, 1e-9);
        CHECK(eval->window.duration_s >= 0);
        /* Without a sampler the last good reading is train's start (0 J kept);
         * with one it is normally a sample after the 7 J (a loaded machine may
         * delay it past the loss): either way only measured energy, and the
         * total is data's 2 J plus what train kept. */
        double kept = train->window.energy_j;
        if (interval_ms)
            CHECK_MSG(fabs(kept - 7) < 1e-9 || fabs(kept) < 1e-9, "train kept %.9g J", kept);
        else
            CHECK_NEAR(kept, 0, 1e-9);
        CHECK_NEAR(r.total.energy_j, 2 + kept, 1e-9);
    }
    check_process_shares(&r);
    CHECK_EQ_INT(r.incomplete, 1);
    CHECK(r.total.duration_s > 0);
    int noted = 0;
    for (int i = 0; i < r.note_count; i++)
        noted |= strstr(r.notes[i], "lower bound") && strstr(r.notes[i], "energy_uj");
    CHECK_MSG(noted, "no note names the lost counter and the lower bound");
    cJSON *json = gt_energy_result_to_json(&r, NULL);
    const cJSON *tasks = cJSON_GetObjectItem(json, "tasks");
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(json, "incomplete")));
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(tasks, "train"), "incomplete")));
    CHECK(cJSON_GetObjectItem(cJSON_GetObjectItem(tasks, "data"), "incomplete") == NULL);
    cJSON_Delete(json);
    gt_energy_result_free(&r);
}

static void test_vanishing_counter_without_sampler(void) { check_vanishing_counter(0); }
static void test_vanishing_counter_with_sampler(void) { check_vanishing_counter(5); }

/* A meter that fails for a while and comes back: a task measured across the
 * gap is exact (the counters are cumulative) and the total is complete. */
static void test_transient_failure_leaves_complete_windows(void)
{
    gt_measurement *m = start("transient", 0);
    if (!m)
        return;
    fake_rapl_task(m, 1, "a");
    burn(3);
    counter_away(1);
    fake_rapl_task(m, 1, "b"); /* its start is lost: b counts no energy */
    counter_away(0);
    burn(4);
    fake_rapl_task(m, 0, "a");
    fake_rapl_task(m, 0, "b");
    gt_energy_result r;
    gt_error err = {0};
    CHECK_MSG(gt_measurement_finish(m, &r, &err) == GT_OK, "finish: %s", err.message);
    const gt_task_result *a = fake_rapl_find(&r, "a"), *b = fake_rapl_find(&r, "b");
    if (a && b) {
        CHECK_NEAR(a->window.energy_j, 7, 1e-9);
        CHECK_EQ_INT(a->incomplete, 0);
        CHECK_EQ_INT(b->incomplete, 1);
        CHECK_NEAR(b->window.energy_j, 0, 1e-9);
    }
    CHECK_EQ_INT(r.incomplete, 0);
    CHECK_NEAR(r.total.energy_j, 7, 1e-9);
    gt_energy_result_free(&r);
}

/* Nested tasks with the meter gone for a while: the child measured before is
 * exact, the child started during the gap counts nothing (nor does its
 * process share), and the parent, whose own boundaries were read, is exact
 * and still the parent of both. A snapshot during the gap is marked
 * incomplete; a progress report during it makes no forecast, one after does. */
static void test_nested_tasks_across_a_gap(void)
{
    gt_measurement *m = start("nested", 0);
    if (!m)
        return;
    fake_rapl_task(m, 1, "epoch");
    burn(1);
    fake_rapl_task(m, 1, "train");
    burn(2);
    fake_rapl_task(m, 0, "train");
    counter_away(1);
    gt_energy_result snap;
    gt_error err = {0};
    CHECK_MSG(gt_measurement_snapshot(m, &snap, &err) == GT_OK, "snapshot: %s", err.message);
    CHECK_EQ_INT(snap.incomplete, 1);
    CHECK_NEAR(snap.total.energy_j, 3, 1e-9); /* train's stop, the last good reading */
    const gt_task_result *epoch = fake_rapl_find(&snap, "epoch");
    if (epoch)
        CHECK(epoch->running && epoch->incomplete);
    gt_energy_result_free(&snap);
    gt_forecast f;
    CHECK_MSG(gt_measurement_progress(m, "epoch", 0.5, &f, &err) == GT_OK, "progress: %s", err.message);
    CHECK(f.task[0] == '\0'); /* no forecast from a lost reading */
    fake_rapl_task(m, 1, "eval");
    fake_rapl_task(m, 0, "eval");
    counter_away(0);
    burn(4);
    CHECK_MSG(gt_measurement_progress(m, "epoch", 0.875, &f, &err) == GT_OK, "progress: %s", err.message);
    CHECK_EQ_STR(f.task, "epoch");
    CHECK_NEAR(f.energy_j, 7, 1e-9);
    fake_rapl_task(m, 0, "epoch");
    gt_energy_result r;
    CHECK_MSG(gt_measurement_finish(m, &r, &err) == GT_OK, "finish: %s", err.message);
    const gt_task_result *train = fake_rapl_find(&r, "train"), *eval = fake_rapl_find(&r, "eval");
    epoch = fake_rapl_find(&r, "epoch");
    if (epoch && train && eval) {
        CHECK_NEAR(epoch->window.energy_j, 7, 1e-9);
        CHECK_EQ_INT(epoch->incomplete, 0);
        CHECK_NEAR(epoch->progress, 0.875, 0);
        CHECK_EQ_INT(epoch->has_forecast, 1);
        CHECK_NEAR(epoch->forecast.fraction, 0.875, 0);
        CHECK_NEAR(train->window.energy_j, 2, 1e-9);
        CHECK_EQ_INT(train->incomplete, 0);
        CHECK_EQ_STR(train->parent, "epoch");
        CHECK_NEAR(eval->window.energy_j, 0, 0);
        CHECK_EQ_INT(eval->incomplete, 1);
        CHECK_EQ_STR(eval->parent, "epoch");
    }
    CHECK_EQ_INT(r.incomplete, 0);
    CHECK_NEAR(r.total.energy_j, 7, 1e-9);
    check_process_shares(&r);
    int noted = 0; /* the snapshot, the progress report, eval's start and stop */
    for (int i = 0; i < r.note_count; i++)
        noted |= strstr(r.notes[i], "meter: 4 reading(s) failed") != NULL;
    CHECK_MSG(noted, "no note counts the 4 lost readings");
    gt_energy_result_free(&r);
}

static void gpus(const char *text) { test_write_file(getenv("FAKE_NVML_STATE"), text, strlen(text)); }

/* An NVML call that starts failing mid-run (the fake GPU loses its energy
 * counter): the window measured before stays exact, the next one and the
 * total are marked incomplete and hold only what was read. */
static void test_nvml_failing_mid_run(void)
{
    setenv("GREENTUNE_NVML_LIB", test_env("FAKE_NVML_LIB"), 1);
    setenv("FAKE_NVML_STATE", test_path("gpus.txt"), 1);
    gpus("counter 1\n1000 0\n");
    gt_measure_options o;
    gt_measure_options_init(&o);
    o.meter = "nvml";
    o.interval_ms = 0;
    gt_measurement *m = NULL;
    gt_error err = {0};
    CHECK_MSG(gt_measurement_start(&o, &m, &err) == GT_OK, "start: %s", err.message);
    if (!m)
        return;
    fake_rapl_task(m, 1, "train");
    gpus("counter 1\n6000 0\n"); /* +5 J */
    fake_rapl_task(m, 0, "train");
    fake_rapl_task(m, 1, "eval");
    gpus("power 1\n0 0\n"); /* the energy counter call now fails */
    fake_rapl_task(m, 0, "eval");
    gt_energy_result r;
    CHECK_MSG(gt_measurement_finish(m, &r, &err) == GT_OK, "finish: %s", err.message);
    const gt_task_result *train = fake_rapl_find(&r, "train"), *eval = fake_rapl_find(&r, "eval");
    if (train && eval) {
        CHECK_NEAR(train->window.joules[GT_GPU], 5, 1e-9);
        CHECK_EQ_INT(train->incomplete, 0);
        CHECK_EQ_INT(eval->incomplete, 1);
        CHECK_NEAR(eval->window.energy_j, 0, 1e-9);
    }
    CHECK_EQ_INT(r.incomplete, 1);
    CHECK_NEAR(r.total.joules[GT_GPU], 5, 1e-9);
    gt_energy_result_free(&r);
}

int main(void)
{
    RUN(test_nvml_failing_mid_run);
    RUN(test_vanishing_counter_without_sampler);
    RUN(test_vanishing_counter_with_sampler);
    RUN(test_transient_failure_leaves_complete_windows);
    RUN(test_nested_tasks_across_a_gap);
    return test_summary();
}
