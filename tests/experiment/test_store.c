/* The run store: round trips of run JSON, uniqueness, the resume queries,
 * orphaned runs, and one clear line for corrupted and locked databases. */
#include <cjson/cJSON.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "greentune/store.h"
#include "test_support.h"

/* A `greentune run` record as design.md specifies it. */
static const char run_json[] =
    "{\"stages\": {\"data\": {\"energy_j\": 1.5, \"duration_s\": 0.1},"
    "  \"tokenize\": {\"energy_j\": 2.5, \"duration_s\": 0.2},"
    "  \"load\": {\"energy_j\": 3, \"duration_s\": 0.3},"
    "  \"train\": {\"energy_j\": 80, \"duration_s\": 6, \"components\": {\"cpu_j\": 70, \"dram_j\": 10}},"
    "  \"save\": {\"energy_j\": 1, \"duration_s\": 0.05},"
    "  \"eval\": {\"energy_j\": 10, \"duration_s\": 1}},"
    " \"total\": {\"energy_j\": 100, \"duration_s\": 8},"
    " \"meter\": \"rapl\", \"estimated\": false,"
    " \"metrics\": {\"accuracy\": 0.9, \"precision\": 0.8, \"recall\": 0.7, \"f1\": 0.75,"
    "   \"f1_weighted\": 0.88, \"mcc\": 0.6, \"confusion\": [[50, 5], [8, 37]]},"
    " \"knobs\": [{\"name\": \"seq_trim\", \"params\": {\"max_len\": 128},"
    "   \"evidence\": {\"mean_tokens_before\": 611, \"mean_tokens_after\": 122}}],"
    " \"model\": {\"params\": 1000, \"trainable_params\": 1000, \"layers\": 4}}";

static cJSON *parse(const char *text)
{
    cJSON *j = cJSON_Parse(text);
    if (!j) {
        fprintf(stderr, "test fixture: bad JSON\n");
        exit(2);
    }
    return j;
}

static gt_store *open_store(const char *name)
{
    gt_error err = {0};
    gt_store *db = NULL;
    gt_store_options options = {0, 200};
    if (gt_store_open(&db, test_path(name), &options, &err) != GT_OK) {
        fprintf(stderr, "test: cannot open %s: %s\n", name, err.message);
        exit(2);
    }
    return db;
}

static int64_t make_experiment(gt_store *db, const char *name)
{
    gt_variant_spec variants[] = {{"V0", NULL, NULL}, {"V8", "{\"seq_trim\":64}", NULL}};
    gt_experiment_spec spec = {name, "name: demo\n", "V0", variants, 2};
    gt_error err = {0};
    int64_t id = -1;
    CHECK_EQ_INT(gt_store_experiment(db, &spec, &id, &err), GT_OK);
    return id;
}

/* The error is one line naming the file. */
static void check_one_line(const gt_error *err, const char *path, const char *needle)
{
    CHECK_MSG(strchr(err->message, '\n') == NULL, "two lines: %s", err->message);
    CHECK_MSG(strstr(err->message, path) != NULL, "no path in: %s", err->message);
    CHECK_MSG(strstr(err->message, needle) != NULL, "'%s' not in: %s", needle, err->message);
}

static void test_run_json_round_trip(void)
{
    gt_store *db = open_store("round.db");
    int64_t exp = make_experiment(db, "demo");
    gt_error err = {0};
    cJSON *run = parse(run_json);
    CHECK_EQ_INT(gt_store_add_run_from_json(db, exp, "V8", 0, run, &err), GT_OK);
    cJSON_Delete(run);

    gt_experiment_data data;
    CHECK_EQ_INT(gt_store_load(db, "demo", &data, &err), GT_OK);
    CHECK_EQ_STR(data.name, "demo");
    CHECK_EQ_STR(data.baseline, "V0");
    CHECK_EQ_INT(data.n_variants, 2);
    CHECK_EQ_STR(data.variants[1].knobs_json, "{\"seq_trim\":64}");
    CHECK_EQ_INT(data.n_runs, 1);
    gt_run_record *r = &data.runs[0];
    CHECK_EQ_STR(r->variant, "V8");
    CHECK_EQ_INT(r->status, GT_RUN_DONE);
    CHECK_EQ_STR(r->meter, "rapl");
    CHECK_EQ_INT(r->estimated, 0);
    CHECK_NEAR(r->stages[GT_RUN_STAGE_TRAIN].energy_j, 80, 0);
    CHECK_NEAR(r->stages[GT_RUN_STAGE_EVAL].duration_s, 1, 0);
    /* other = total - sum of the six: 100 - 98 J, 8 - 7.65 s */
    CHECK_NEAR(r->stages[GT_RUN_STAGE_OTHER].energy_j, 2, 1e-12);
    CHECK_NEAR(r->stages[GT_RUN_STAGE_OTHER].duration_s, 0.35, 1e-12);
    CHECK_NEAR(r->total.energy_j, 100, 0);
    CHECK_NEAR(r->f1, 0.75, 0);
    CHECK_NEAR(r->f1_weighted, 0.88, 0);
    CHECK_NEAR(r->mcc, 0.6, 0);
    CHECK_EQ_INT(r->n_classes, 2);
    CHECK_EQ_INT(r->confusion[1][1], 37);
    CHECK_EQ_INT(r->confusion[0][1], 5);
    CHECK(r->knobs_json && strstr(r->knobs_json, "\"max_len\":128"));
    CHECK(isnan(r->cpu_j));
    CHECK(r->machine.cores > 0 && r->machine.hostname[0]);
    CHECK(r->finished[0] != '\0');
    gt_experiment_data_free(&data);
    gt_store_close(db);
}

/* A `greentune measure` record: top-level total, "tasks" as stages. */
static void test_measure_json_is_accepted(void)
{
    gt_store *db = open_store("measure.db");
    int64_t exp = make_experiment(db, "demo");
    gt_error err = {0};
    cJSON *run = parse("{\"command\": [\"python3\"], \"exit_code\": 0, \"duration_s\": 2, \"meter\": \"estimate\","
                       " \"estimated\": true, \"energy_j\": 40, \"components\": {\"cpu_j\": 35, \"dram_j\": 5},"
                       " \"tasks\": {\"train\": {\"energy_j\": 30, \"duration_s\": 1.5},"
                       "            \"prepare\": {\"energy_j\": 4, \"duration_s\": 0.2}}}");
    CHECK_EQ_INT(gt_store_add_run_from_json(db, exp, "torch", 0, run, &err), GT_OK);
    cJSON_Delete(run);
    gt_experiment_data data;
    CHECK_EQ_INT(gt_store_load(db, NULL, &data, &err), GT_OK);
    CHECK_EQ_INT(data.n_variants, 3);
    gt_run_record *r = &data.runs[0];
    CHECK_EQ_INT(r->estimated, 1);
    CHECK_NEAR(r->cpu_j, 35, 0);
    CHECK_NEAR(r->stages[GT_RUN_STAGE_TRAIN].energy_j, 30, 0);
    CHECK(isnan(r->stages[GT_RUN_STAGE_EVAL].energy_j));
    /* "prepare" (4 J) plus the unstaged rest (40 - 34 J) */
    CHECK_NEAR(r->stages[GT_RUN_STAGE_OTHER].energy_j, 10, 1e-12);
    CHECK_EQ_INT(r->has_metrics, 0);
    gt_experiment_data_free(&data);
    gt_store_close(db);
}

static void test_bad_run_json_names_the_key(void)
{
    gt_store *db = open_store("bad.db");
    int64_t exp = make_experiment(db, "demo");
    struct {
        const char *json, *needle;
    } cases[] = {
        {"{\"total\": {\"energy_j\": 1, \"duration_s\": 1}, \"estimated\": false}", "\"meter\""},
        {"{\"total\": {\"energy_j\": 1, \"duration_s\": 1}, \"meter\": \"rapl\"}", "\"estimated\""},
        {"{\"stages\": {\"train\": {\"energy_j\": -3, \"duration_s\": 1}}, \"meter\": \"rapl\", \"estimated\": false}",
         "stages.train.energy_j"},
        {"{\"meter\": \"rapl\", \"estimated\": false}", "nothing to store"},
        {"{\"total\": {\"energy_j\": 1, \"duration_s\": 1}, \"meter\": \"rapl\", \"estimated\": false,"
         " \"metrics\": {\"confusion\": [[1, 2], [3]]}}",
         "metrics.confusion"},
        {"{\"total\": {\"energy_j\": 1, \"duration_s\": 1}, \"meter\": \"rapl\", \"estimated\": false,"
         " \"metrics\": {\"f1\": 1.5}}",
         "metrics.f1"},
        {"[1, 2]", "expected an object"},
        /* Each stage finite, their sum not: stored, the total would be infinity. */
        {"{\"stages\": {\"train\": {\"energy_j\": 1e308, \"duration_s\": 1},"
         " \"eval\": {\"energy_j\": 1e308, \"duration_s\": 1}}, \"meter\": \"rapl\", \"estimated\": false}",
         "stages.train.energy_j: expected a number in [0, 1e+15]"},
        {"{\"total\": {\"energy_j\": 1, \"duration_s\": 1e300}, \"meter\": \"rapl\", \"estimated\": false}",
         "total.duration_s"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gt_error err = {0};
        cJSON *run = parse(cases[i].json);
        CHECK_EQ_INT(gt_store_add_run_from_json(db, exp, "V0", (int)i, run, &err), GT_ERR_INVALID);
        CHECK_MSG(strstr(err.message, cases[i].needle) != NULL, "case %zu: '%s' not in: %s", i, cases[i].needle,
                  err.message);
        cJSON_Delete(run);
    }
    gt_error err = {0};
    gt_run_ref *pending;
    size_t n;
    /* Nothing half-written: the failed imports left no done runs. */
    CHECK_EQ_INT(gt_store_pending_runs(db, exp, 1, &pending, &n, &err), GT_OK);
    CHECK_EQ_INT(n, 0);
    free(pending);
    gt_store_close(db);
}

static void test_a_run_is_never_counted_twice(void)
{
    gt_store *db = open_store("twice.db");
    int64_t exp = make_experiment(db, "demo");
    gt_error err = {0};
    cJSON *run = parse(run_json);
    CHECK_EQ_INT(gt_store_add_run_from_json(db, exp, "V0", 0, run, &err), GT_OK);
    CHECK_EQ_INT(gt_store_add_run_from_json(db, exp, "V0", 0, run, &err), GT_ERR_INVALID);
    CHECK(strstr(err.message, "already recorded") != NULL);
    /* Planning it again changes nothing either. */
    gt_run_plan plan[] = {{"V0", 0, 7}};
    CHECK_EQ_INT(gt_store_plan_runs(db, exp, plan, 1, &err), GT_OK);
    cJSON_Delete(run);
    gt_experiment_data data;
    CHECK_EQ_INT(gt_store_load(db, "demo", &data, &err), GT_OK);
    CHECK_EQ_INT(data.n_runs, 1);
    CHECK_EQ_INT(data.runs[0].status, GT_RUN_DONE);
    gt_experiment_data_free(&data);
    gt_store_close(db);
}

/* Plans V0 x 2 and V8 x 2 in an interleaved order. */
static void plan_four(gt_store *db, int64_t exp)
{
    gt_run_plan plan[] = {{"V0", 0, 0}, {"V8", 0, 1}, {"V8", 1, 2}, {"V0", 1, 3}};
    gt_error err = {0};
    CHECK_EQ_INT(gt_store_plan_runs(db, exp, plan, 4, &err), GT_OK);
}

static size_t pending_count(gt_store *db, int64_t exp, int retry_failed, gt_run_ref *first)
{
    gt_error err = {0};
    gt_run_ref *runs = NULL;
    size_t n = 0;
    CHECK_EQ_INT(gt_store_pending_runs(db, exp, retry_failed, &runs, &n, &err), GT_OK);
    if (first && n)
        *first = runs[0];
    free(runs);
    return n;
}

/* A fresh store with V0 x 2 and V8 x 2 planned; *first is the first pending run. */
static gt_store *planned_store(const char *name, int64_t *exp, gt_run_ref *first)
{
    gt_store *db = open_store(name);
    *exp = make_experiment(db, "demo");
    plan_four(db, *exp);
    pending_count(db, *exp, 0, first);
    return db;
}

static void test_resume_walks_the_plan_in_order(void)
{
    gt_store *db = open_store("resume.db");
    int64_t exp = make_experiment(db, "demo");
    plan_four(db, exp);
    plan_four(db, exp);   /* idempotent */
    gt_error err = {0};
    gt_run_ref first;
    CHECK_EQ_INT(pending_count(db, exp, 0, &first), 4);
    CHECK_EQ_STR(first.variant, "V0");
    CHECK_EQ_INT(first.order, 0);

    int claimed = 0;
    CHECK_EQ_INT(gt_store_claim_run(db, first.id, 0, &claimed, &err), GT_OK);
    CHECK(claimed);
    /* Claimed by this (live) process: neither pending nor claimable again. */
    CHECK_EQ_INT(pending_count(db, exp, 0, NULL), 3);
    CHECK_EQ_INT(gt_store_claim_run(db, first.id, 0, &claimed, &err), GT_OK);
    CHECK(!claimed);

    cJSON *run = parse(run_json);
    CHECK_EQ_INT(gt_store_finish_run(db, first.id, run, &err), GT_OK);
    CHECK_EQ_INT(pending_count(db, exp, 0, &first), 3);
    CHECK_EQ_STR(first.variant, "V8");
    CHECK_EQ_INT(first.repeat, 0);
    /* A run nobody claimed cannot be finished. */
    CHECK_EQ_INT(gt_store_finish_run(db, first.id, run, &err), GT_ERR_INVALID);
    CHECK(strstr(err.message, "not claimed") != NULL);
    cJSON_Delete(run);
    gt_store_close(db);
}

static void test_failed_runs_are_kept_and_retried_on_request(void)
{
    int64_t exp;
    gt_run_ref first;
    gt_store *db = planned_store("failed.db", &exp, &first);
    gt_error err = {0};
    int claimed;
    CHECK_EQ_INT(gt_store_claim_run(db, first.id, 0, &claimed, &err), GT_OK);
    char *noise = malloc(20000);
    memset(noise, 'x', 19999);
    noise[19999] = '\0';
    CHECK_EQ_INT(gt_store_fail_run(db, first.id, "train: loss is NaN", noise, &err), GT_OK);
    free(noise);
    CHECK_EQ_INT(pending_count(db, exp, 0, NULL), 3);
    CHECK_EQ_INT(pending_count(db, exp, 1, NULL), 4);
    CHECK_EQ_INT(gt_store_claim_run(db, first.id, 0, &claimed, &err), GT_OK);
    CHECK(!claimed);

    gt_experiment_data data;
    CHECK_EQ_INT(gt_store_load(db, "demo", &data, &err), GT_OK);
    gt_run_record *failed = NULL;
    for (size_t i = 0; i < data.n_runs; i++)
        if (data.runs[i].id == first.id)
            failed = &data.runs[i];
    CHECK(failed && failed->status == GT_RUN_FAILED);
    if (failed) {
        CHECK_EQ_STR(failed->error, "train: loss is NaN");
        CHECK(failed->stderr_tail && strlen(failed->stderr_tail) <= 4096);
    }
    gt_experiment_data_free(&data);

    CHECK_EQ_INT(gt_store_claim_run(db, first.id, 1, &claimed, &err), GT_OK);
    CHECK(claimed);
    gt_store_close(db);
}

/* A child claims a run and dies without finishing it (as under kill -9): the
 * next sweep sees the run as pending and redoes it, as a second attempt. */
static void test_a_run_left_running_by_a_dead_process_is_redone(void)
{
    int64_t exp;
    gt_run_ref first;
    gt_store *db = planned_store("orphan.db", &exp, &first);
    gt_store_close(db);

    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        gt_store *child = open_store("orphan.db");
        gt_error err = {0};
        int claimed = 0;
        gt_store_claim_run(child, first.id, 0, &claimed, &err);
        _exit(claimed ? 9 : 1);   /* no close, no finish */
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK_EQ_INT(WEXITSTATUS(status), 9);

    db = open_store("orphan.db");
    gt_run_ref again;
    CHECK_EQ_INT(pending_count(db, exp, 0, &again), 4);
    CHECK_EQ_INT(again.id, first.id);
    CHECK_EQ_INT(again.status, GT_RUN_RUNNING);
    CHECK_EQ_INT(again.attempts, 1);
    gt_error err = {0};
    int claimed = 0;
    CHECK_EQ_INT(gt_store_claim_run(db, first.id, 0, &claimed, &err), GT_OK);
    CHECK(claimed);
    cJSON *run = parse(run_json);
    CHECK_EQ_INT(gt_store_finish_run(db, first.id, run, &err), GT_OK);
    cJSON_Delete(run);
    CHECK_EQ_INT(pending_count(db, exp, 0, &again), 3);
    gt_experiment_data data;
    CHECK_EQ_INT(gt_store_load(db, "demo", &data, &err), GT_OK);
    int done = 0;
    for (size_t i = 0; i < data.n_runs; i++)
        if (data.runs[i].id == first.id) {
            done = data.runs[i].status == GT_RUN_DONE;
            CHECK_EQ_INT(data.runs[i].attempts, 2);
        }
    CHECK(done);
    gt_experiment_data_free(&data);
    gt_store_close(db);
}

/* Rewrites the owner columns of a run claimed by this process, to stand for
 * another process: a reused pid, a reboot, another machine. */
static void set_owner(const char *db_name, const char *assignment)
{
    sqlite3 *raw;
    char sql[256];
    snprintf(sql, sizeof sql, "UPDATE runs SET %s WHERE status = 'running'", assignment);
    CHECK_EQ_INT(sqlite3_open(test_path(db_name), &raw), SQLITE_OK);
    CHECK_EQ_INT(sqlite3_exec(raw, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(raw);
}

static void test_owner_identity_beyond_the_pid(void)
{
    int64_t exp;
    gt_run_ref first;
    gt_store *db = planned_store("owner.db", &exp, &first);
    gt_error err = {0};
    int claimed;
    CHECK_EQ_INT(gt_store_claim_run(db, first.id, 0, &claimed, &err), GT_OK);
    CHECK_EQ_INT(pending_count(db, exp, 0, NULL), 3);

    /* Our pid, but a process started at another time: the pid was reused. */
    set_owner("owner.db", "owner_start = owner_start + 12345");
    CHECK_EQ_INT(pending_count(db, exp, 0, NULL), 4);
    CHECK_EQ_INT(gt_store_claim_run(db, first.id, 0, &claimed, &err), GT_OK);
    CHECK(claimed);
    /* Claimed before the last boot. */
    set_owner("owner.db", "owner_boot = 'another-boot'");
    CHECK_EQ_INT(pending_count(db, exp, 0, NULL), 4);
    CHECK_EQ_INT(gt_store_claim_run(db, first.id, 0, &claimed, &err), GT_OK);
    /* Claimed on another host: it may still be running there, left alone. */
    set_owner("owner.db", "owner_host = 'elsewhere', owner_pid = 1");
    CHECK_EQ_INT(pending_count(db, exp, 0, NULL), 3);
    gt_store_close(db);
}

static void test_edited_experiment_file_is_refused(void)
{
    gt_store *db = open_store("edited.db");
    make_experiment(db, "demo");
    gt_experiment_spec spec = {"demo", "name: demo\nrepeats: 5\n", "V0", NULL, 0};
    gt_error err = {0};
    int64_t id;
    CHECK_EQ_INT(gt_store_experiment(db, &spec, &id, &err), GT_ERR_INVALID);
    check_one_line(&err, "edited.db", "different experiment file");
    /* The same spec again finds the same experiment. */
    int64_t again = make_experiment(db, "demo");
    CHECK_EQ_INT(gt_store_find_experiment(db, "demo", &id, &err), GT_OK);
    CHECK_EQ_INT(id, again);
    make_experiment(db, "other");
    CHECK_EQ_INT(gt_store_find_experiment(db, NULL, &id, &err), GT_ERR_INVALID);
    check_one_line(&err, "edited.db", "demo, other");
    CHECK_EQ_INT(gt_store_find_experiment(db, "nope", &id, &err), GT_ERR_NOT_FOUND);
    gt_store_close(db);
}

static void test_idle_round_trip(void)
{
    gt_store *db = open_store("idle.db");
    int64_t exp = make_experiment(db, "demo");
    gt_error err = {0};
    gt_idle_measurement idle = {"rapl", 0, 5.0, 16.0};
    CHECK_EQ_INT(gt_store_add_idle(db, exp, &idle, &err), GT_OK);
    gt_idle_measurement unsourced = {NULL, 0, 5.0, 16.0};
    CHECK_EQ_INT(gt_store_add_idle(db, exp, &unsourced, &err), GT_ERR_INVALID);
    gt_experiment_data data;
    CHECK_EQ_INT(gt_store_load(db, "demo", &data, &err), GT_OK);
    CHECK_EQ_INT(data.n_idle, 1);
    CHECK_EQ_STR(data.idle[0].meter, "rapl");
    CHECK_NEAR(data.idle[0].energy_j, 16, 0);
    gt_experiment_data_free(&data);
    gt_store_close(db);
}

static gt_status try_open(const char *name, int readonly, gt_error *err)
{
    gt_store *db = NULL;
    gt_store_options options = {readonly, 200};
    gt_status st = gt_store_open(&db, test_path(name), &options, err);
    gt_store_close(db);
    return st;
}

static void test_garbage_file_gives_one_clear_line(void)
{
    const char garbage[] = "this is not a database, just some text that someone passed as --db\n";
    test_write_file(test_path("garbage.db"), garbage, sizeof garbage - 1);
    gt_error err = {0};
    CHECK_EQ_INT(try_open("garbage.db", 0, &err), GT_ERR_PARSE);
    check_one_line(&err, "garbage.db", "not a greentune database, or corrupted");
    CHECK_EQ_INT(try_open("garbage.db", 1, &err), GT_ERR_PARSE);
    /* Opening did not overwrite it. */
    char *after = test_read_file(test_path("garbage.db"), NULL);
    CHECK_EQ_STR(after, garbage);
    free(after);
}

/* A real store with a page overwritten in the middle. */
static void test_damaged_pages_give_one_clear_line(void)
{
    gt_store *db = open_store("damaged.db");
    int64_t exp = make_experiment(db, "demo");
    gt_error err = {0};
    cJSON *run = parse(run_json);
    for (int i = 0; i < 40; i++)
        CHECK_EQ_INT(gt_store_add_run_from_json(db, exp, "V0", i, run, &err), GT_OK);
    cJSON_Delete(run);
    gt_store_close(db);   /* the last connection checkpoints the WAL into the file */

    size_t len = 0;
    char *bytes = test_read_file(test_path("damaged.db"), &len);
    CHECK(len >= 4 * 4096);
    if (len >= 4 * 4096)
        memset(bytes + 2 * 4096, 0x5a, 4096);
    test_write_file(test_path("damaged.db"), bytes, len);
    free(bytes);
    CHECK(try_open("damaged.db", 1, &err) != GT_OK);
    check_one_line(&err, "damaged.db", "corrupted");
}

static void test_another_programs_database_is_refused(void)
{
    sqlite3 *raw;
    CHECK_EQ_INT(sqlite3_open(test_path("foreign.db"), &raw), SQLITE_OK);
    CHECK_EQ_INT(sqlite3_exec(raw, "CREATE TABLE t (x)", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(raw);
    gt_error err = {0};
    CHECK_EQ_INT(try_open("foreign.db", 0, &err), GT_ERR_INVALID);
    check_one_line(&err, "foreign.db", "not greentune's");

    gt_store *db = open_store("newer.db");
    gt_store_close(db);
    CHECK_EQ_INT(sqlite3_open(test_path("newer.db"), &raw), SQLITE_OK);
    CHECK_EQ_INT(sqlite3_exec(raw, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(raw);
    CHECK_EQ_INT(try_open("newer.db", 0, &err), GT_ERR_UNSUPPORTED);
    check_one_line(&err, "newer.db", "newer greentune");
}

static void test_missing_file_for_reading(void)
{
    gt_error err = {0};
    CHECK_EQ_INT(try_open("absent.db", 1, &err), GT_ERR_NOT_FOUND);
    check_one_line(&err, "absent.db", "greentune sweep");
    CHECK(access(test_path("absent.db"), F_OK) != 0);
}

/* Another connection holds the write lock: writing waits the busy timeout,
 * then says the database is locked. Readers go on (WAL). */
static void test_locked_database_gives_one_clear_line(void)
{
    int64_t exp;
    gt_run_ref first;
    gt_store *db = planned_store("locked.db", &exp, &first);

    sqlite3 *other;
    CHECK_EQ_INT(sqlite3_open(test_path("locked.db"), &other), SQLITE_OK);
    CHECK_EQ_INT(sqlite3_exec(other, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
    gt_error err = {0};
    int claimed = 1;
    CHECK_EQ_INT(gt_store_claim_run(db, first.id, 0, &claimed, &err), GT_ERR_IO);
    CHECK(!claimed);
    check_one_line(&err, "locked.db", "locked by another process");
    CHECK_EQ_INT(pending_count(db, exp, 0, NULL), 4);
    sqlite3_exec(other, "COMMIT", NULL, NULL, NULL);
    gt_store_close(db);

    /* A connection in exclusive locking mode shuts out readers too. */
    CHECK_EQ_INT(sqlite3_exec(other, "PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE; COMMIT", NULL, NULL, NULL),
                 SQLITE_OK);
    CHECK(try_open("locked.db", 1, &err) != GT_OK);
    check_one_line(&err, "locked.db", "locked by another process");
    sqlite3_close(other);
    CHECK_EQ_INT(try_open("locked.db", 1, &err), GT_OK);
}

int main(void)
{
    RUN(test_run_json_round_trip);
    RUN(test_measure_json_is_accepted);
    RUN(test_bad_run_json_names_the_key);
    RUN(test_a_run_is_never_counted_twice);
    RUN(test_resume_walks_the_plan_in_order);
    RUN(test_failed_runs_are_kept_and_retried_on_request);
    RUN(test_a_run_left_running_by_a_dead_process_is_redone);
    RUN(test_owner_identity_beyond_the_pid);
    RUN(test_edited_experiment_file_is_refused);
    RUN(test_idle_round_trip);
    RUN(test_garbage_file_gives_one_clear_line);
    RUN(test_damaged_pages_give_one_clear_line);
    RUN(test_another_programs_database_is_refused);
    RUN(test_missing_file_for_reading);
    RUN(test_locked_database_gives_one_clear_line);
    return test_summary();
}
