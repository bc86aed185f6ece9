/* A full disk or a failing device while the run store writes (SQLite, WAL,
 * synchronous=FULL): the failing call gives one clear line, every run stored
 * before survives with its values, the run being stored is not counted, the
 * database opens clean afterwards, and the run can be stored again. */
#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

#include "fault.h"
#include "greentune/store.h"
#include "test_support.h"

static const char *db_path;

static cJSON *run_json(double energy_j)
{
    char text[512];
    snprintf(text, sizeof text,
             "{\"stages\": {\"train\": {\"energy_j\": %.17g, \"duration_s\": 2}, \"eval\": {\"energy_j\": 1, "
             "\"duration_s\": 0.5}}, \"total\": {\"energy_j\": %.17g, \"duration_s\": 2.5}, \"meter\": \"rapl\", "
             "\"estimated\": false, \"metrics\": {\"f1\": 0.75}}",
             energy_j - 1, energy_j);
    return cJSON_Parse(text);
}

static gt_store *open_db(void)
{
    gt_store *db = NULL;
    gt_error err = {0};
    gt_store_options options = {0, 200};
    CHECK_MSG(gt_store_open(&db, db_path, &options, &err) == GT_OK, "reopen: %s", err.message);
    return db;
}

/* A new database in the test's directory holding the experiment "faults"
 * (variants V0, V1); NULL with a failed check when it cannot be made. */
static gt_store *new_db(const char *name, int64_t *experiment)
{
    db_path = test_path(name);
    gt_store *db = open_db();
    if (!db)
        return NULL;
    gt_variant_spec variants[] = {{"V0", NULL, NULL}, {"V1", "{\"bf16\":true}", NULL}};
    gt_experiment_spec spec = {"faults", "name: faults\n", "V0", variants, 2};
    gt_error err = {0};
    *experiment = -1;
    CHECK_MSG(gt_store_experiment(db, &spec, experiment, &err) == GT_OK, "experiment: %s", err.message);
    return db;
}

/* The done runs, as (repeat -> energy) of variant V0, must be exactly `want`
 * (energy 0 = not done). */
static void check_done(gt_store *db, const double *want, int n)
{
    gt_experiment_data data;
    gt_error err = {0};
    if (gt_store_load(db, "faults", &data, &err) != GT_OK) {
        test_fail(__FILE__, __LINE__, "load: %s", err.message);
        return;
    }
    int done = 0;
    for (size_t i = 0; i < data.n_runs; i++) {
        const gt_run_record *r = &data.runs[i];
        if (r->status != GT_RUN_DONE || strcmp(r->variant, "V0"))
            continue;
        done++;
        CHECK_MSG(r->repeat < n && want[r->repeat] > 0, "repeat %d is done but should not be", r->repeat);
        if (r->repeat < n)
            CHECK_NEAR(r->total.energy_j, want[r->repeat], 1e-9);
    }
    int expected = 0;
    for (int i = 0; i < n; i++)
        expected += want[i] > 0;
    CHECK_EQ_INT(done, expected);
    gt_experiment_data_free(&data);
}

/* The k-th write or sync of the database (its WAL included) fails with EIO,
 * then with ENOSPC, for every k a stored run makes: each time the runs
 * stored before are intact after reopening, and a failed run is not done. */
static void test_every_write_point_keeps_stored_runs(void)
{
    int64_t exp;
    gt_store *db = new_db("runs.db", &exp);
    if (!db)
        return;
    double want[64] = {0};
    int next = 0;
    gt_error err = {0};
    for (; next < 3; next++) { /* three runs stored before any fault */
        cJSON *run = run_json(100 + next);
        CHECK_EQ_INT(gt_store_add_run_from_json(db, exp, "V0", next, run, &err), GT_OK);
        want[next] = 100 + next;
        cJSON_Delete(run);
    }
    static const char *const errnos[] = {"EIO", "ENOSPC"};
    int failures = 0, passes = 0;
    for (int e = 0; e < 2; e++) {
        for (int k = 0; k < 24 && next < 64; k++, next++) {
            char plan[128];
            snprintf(plan, sizeof plan, "write,pwrite,pwrite64,fsync,fdatasync:%d:%s:runs.db", k, errnos[e]);
            cJSON *run = run_json(200 + next);
            fault_plan(plan);
            gt_status status = gt_store_add_run_from_json(db, exp, "V0", next, run, &err);
            long failed = fault_failed();
            fault_plan("");
            cJSON_Delete(run);
            if (status == GT_OK) {
                want[next] = 200 + next;
                passes++;
            } else {
                failures++;
                CHECK_MSG(failed >= 1, "%s: failed without a fault: %s", plan, err.message);
                CHECK_MSG(strstr(err.message, "runs.db") && !strpbrk(err.message, "\r\n"), "%s: %s", plan,
                          err.message);
                /* A write that finds the disk full says so; a failed sync is an I/O error. */
                CHECK_MSG(strstr(err.message, "I/O error while") || (e && strstr(err.message, "disk full while")),
                          "%s: %s", plan, err.message);
            }
            /* Close (a checkpoint) and reopen (integrity check) before looking. */
            gt_store_close(db);
            db = open_db();
            if (!db)
                return;
            check_done(db, want, 64);
            if (status == GT_OK && failed == 0) {
                next++;
                break; /* k is past the last write this run makes */
            }
        }
    }
    CHECK(failures >= 4);
    CHECK_EQ_INT(passes, 2);
    gt_store_close(db);
}

/* gt_store_finish_run under a full disk: the claimed run stays claimed (not
 * done, not lost), and once space is back the same call stores it. */
static void test_finish_run_retries_after_disk_full(void)
{
    int64_t exp;
    gt_store *db = new_db("finish.db", &exp);
    if (!db)
        return;
    gt_error err = {0};
    cJSON *first = run_json(50);
    CHECK_EQ_INT(gt_store_add_run_from_json(db, exp, "V0", 0, first, &err), GT_OK);
    cJSON_Delete(first);
    gt_run_plan plan[1] = {{"V1", 0, 1}};
    CHECK_EQ_INT(gt_store_plan_runs(db, exp, plan, 1, &err), GT_OK);
    gt_run_ref *todo = NULL;
    size_t n = 0;
    CHECK_EQ_INT(gt_store_pending_runs(db, exp, 0, &todo, &n, &err), GT_OK);
    CHECK_EQ_INT(n, 1);
    if (n != 1) {
        free(todo);
        gt_store_close(db);
        return;
    }
    int claimed = 0;
    CHECK_EQ_INT(gt_store_claim_run(db, todo[0].id, 0, &claimed, &err), GT_OK);
    CHECK(claimed);
    cJSON *run = run_json(70);
    fault_plan("pwrite64,pwrite,write:0:ENOSPC:finish.db");
    CHECK_EQ_INT(gt_store_finish_run(db, todo[0].id, run, &err), GT_ERR_IO);
    fault_plan("");
    CHECK_MSG(strstr(err.message, "finish.db: disk full") != NULL, "%s", err.message);
    gt_store_close(db);
    db = open_db();
    if (db) {
        gt_run_ref *again = NULL;
        size_t m = 0;
        /* Still claimed by this live process: not pending, not done. */
        CHECK_EQ_INT(gt_store_pending_runs(db, exp, 0, &again, &m, &err), GT_OK);
        CHECK_EQ_INT(m, 0);
        free(again);
        CHECK_EQ_INT(gt_store_finish_run(db, todo[0].id, run, &err), GT_OK);
        gt_experiment_data data;
        CHECK_EQ_INT(gt_store_load(db, "faults", &data, &err), GT_OK);
        int done = 0;
        for (size_t i = 0; i < data.n_runs; i++)
            done += data.runs[i].status == GT_RUN_DONE;
        CHECK_EQ_INT(done, 2);
        gt_experiment_data_free(&data);
        gt_store_close(db);
    }
    cJSON_Delete(run);
    free(todo);
}

/* The checkpoint at close fails: the WAL keeps the runs, and the next open
 * finds them all. */
static void test_failed_checkpoint_at_close_loses_nothing(void)
{
    int64_t exp;
    gt_store *db = new_db("close.db", &exp);
    if (!db)
        return;
    gt_error err = {0};
    double want[4] = {0};
    for (int i = 0; i < 4; i++) {
        cJSON *run = run_json(10 + i);
        CHECK_EQ_INT(gt_store_add_run_from_json(db, exp, "V0", i, run, &err), GT_OK);
        want[i] = 10 + i;
        cJSON_Delete(run);
    }
    fault_plan("pwrite64,pwrite,write,fdatasync,fsync:0:EIO:close.db");
    gt_store_close(db);
    long failed = fault_failed();
    fault_plan("");
    CHECK_MSG(failed >= 1, "the close wrote nothing to fail");
    db = open_db();
    if (db) {
        check_done(db, want, 4);
        gt_store_close(db);
    }
}

int main(void)
{
    RUN(test_every_write_point_keeps_stored_runs);
    RUN(test_finish_run_retries_after_disk_full);
    RUN(test_failed_checkpoint_at_close_loses_nothing);
    return test_summary();
}
