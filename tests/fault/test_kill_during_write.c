/* kill -9 at any moment of a write: a child process replaces a checkpoint
 * and stores runs in a loop, the parent kills it after a different delay each
 * round. Afterwards the checkpoint is one whole version (never a torn mix),
 * the database opens clean, every run in it is whole, and storing goes on
 * from where it stopped without counting a run twice. A killed writer may
 * leave its temporary file (name.tmp-XXXXXX) behind: it is never read. */
#include <cjson/cJSON.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "greentune/safetensors.h"
#include "greentune/store.h"
#include "test_support.h"

#define VALUES 65536 /* 256 KiB of F32: long enough to be caught mid-write */

/* Writes the checkpoint with every value equal to v. */
static gt_status write_version(const char *path, float v, float *buf)
{
    for (int i = 0; i < VALUES; i++)
        buf[i] = v;
    static const uint64_t shape[1] = {VALUES};
    gt_tensor_desc t = {"w", GT_DTYPE_F32, 1, shape, buf};
    gt_error err = {0};
    return gt_safetensors_write(path, &t, 1, NULL, 0, &err);
}

/* The version the checkpoint holds, or -1 when it is torn or unreadable. */
static float version_of(const char *path, float *buf)
{
    gt_safetensors *st = NULL;
    gt_error err = {0};
    if (gt_safetensors_open(path, &st, &err) != GT_OK)
        return -1;
    const gt_tensor_info *t = gt_safetensors_find(st, "w");
    float v = -1;
    if (t && t->numel == VALUES && gt_tensor_to_f32(buf, t, VALUES, &err) == GT_OK) {
        v = buf[0];
        for (int i = 1; i < VALUES; i++)
            if (buf[i] != v)
                v = -1;
    }
    gt_safetensors_close(st);
    return v;
}

/* Kills a child running body after delay_us; returns its wait status. */
static int kill_after(void (*body)(void), useconds_t delay_us)
{
    pid_t pid = fork();
    if (pid == 0) {
        body();
        _exit(0);
    }
    usleep(delay_us);
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    return status;
}

static const char *checkpoint;

static void rewrite_forever(void)
{
    static float buf[VALUES];
    for (int v = 2;; v = v == 2 ? 3 : 2)
        if (write_version(checkpoint, (float)v, buf) != GT_OK)
            _exit(3);
}

static void test_checkpoint_is_never_torn(void)
{
    static float buf[VALUES];
    checkpoint = test_path("model.safetensors");
    CHECK_EQ_INT(write_version(checkpoint, 1, buf), GT_OK);
    int killed = 0;
    for (int round = 0; round < 20; round++) {
        int status = kill_after(rewrite_forever, (useconds_t)(round * 1500 + 500));
        killed += WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
        float v = version_of(checkpoint, buf);
        CHECK_MSG(v == 1 || v == 2 || v == 3, "round %d: the checkpoint is torn or unreadable", round);
    }
    CHECK_EQ_INT(killed, 20);
}

static const char *database;

static cJSON *record(int repeat)
{
    char text[256];
    snprintf(text, sizeof text,
             "{\"stages\": {\"train\": {\"energy_j\": %d, \"duration_s\": 1}, \"eval\": {\"energy_j\": 1, "
             "\"duration_s\": 1}}, \"meter\": \"rapl\", \"estimated\": false}",
             repeat);
    return cJSON_Parse(text);
}

/* Adds runs of V0 from the first repeat not yet done; returns the next one. */
static int store_from_where_it_stopped(int limit)
{
    gt_store *db = NULL;
    gt_error err = {0};
    gt_store_options options = {0, 2000};
    if (gt_store_open(&db, database, &options, &err) != GT_OK)
        return -1;
    gt_variant_spec variant = {"V0", NULL, NULL};
    gt_experiment_spec spec = {"kill", "name: kill\n", "V0", &variant, 1};
    int64_t exp;
    gt_experiment_data data;
    int next = -1;
    if (gt_store_experiment(db, &spec, &exp, &err) == GT_OK && gt_store_load(db, "kill", &data, &err) == GT_OK) {
        next = 0;
        for (size_t i = 0; i < data.n_runs; i++)
            if (data.runs[i].status == GT_RUN_DONE && data.runs[i].repeat >= next)
                next = data.runs[i].repeat + 1;
        gt_experiment_data_free(&data);
    }
    for (; next >= 0 && next < limit; next++) {
        cJSON *run = record(next);
        gt_status st = gt_store_add_run_from_json(db, exp, "V0", next, run, &err);
        cJSON_Delete(run);
        if (st != GT_OK) {
            next = -1;
            break;
        }
    }
    gt_store_close(db);
    return next;
}

static void store_forever(void)
{
    store_from_where_it_stopped(1 << 30);
    _exit(4);
}

static void test_store_survives_kill_9(void)
{
    database = test_path("kill.db");
    for (int round = 0; round < 12; round++) {
        int status = kill_after(store_forever, (useconds_t)(round * 7000 + 3000));
        CHECK_MSG(WIFSIGNALED(status), "round %d: the writer ended on its own (status %d)", round, status);
        gt_store *db = NULL;
        gt_error err = {0};
        CHECK_MSG(gt_store_open(&db, database, NULL, &err) == GT_OK, "round %d: %s", round, err.message);
        gt_experiment_data data;
        if (db && gt_store_load(db, "kill", &data, &err) == GT_OK) {
            /* Done runs are 0..n-1, each whole: both stages and the total they sum to. */
            for (size_t i = 0; i < data.n_runs; i++) {
                const gt_run_record *r = &data.runs[i];
                if (r->status != GT_RUN_DONE)
                    continue;
                CHECK_EQ_INT(r->repeat, (int)i);
                CHECK_NEAR(r->stages[GT_RUN_STAGE_TRAIN].energy_j, r->repeat, 0);
                CHECK_NEAR(r->total.energy_j, r->repeat + 1, 0);
            }
            gt_experiment_data_free(&data);
        }
        gt_store_close(db);
    }
    /* Storing resumes where the last kill stopped it, with no run twice. */
    int next = store_from_where_it_stopped(0);
    CHECK(next > 0);
    CHECK_EQ_INT(store_from_where_it_stopped(next + 3), next + 3);
}

int main(void)
{
    RUN(test_checkpoint_is_never_torn);
    RUN(test_store_survives_kill_9);
    return test_summary();
}
