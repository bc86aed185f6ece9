/* The life of a run in the store: planned -> running -> done | failed, each
 * move one transaction, so a sweep killed at any point resumes cleanly. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

#define STDERR_TAIL_MAX 4096
#define ERROR_MAX 1024

gt_status gt_store_plan_runs(gt_store *store, int64_t experiment_id, const gt_run_plan *plan, size_t n,
                             gt_error *err)
{
    gt_status st = store_begin(store, err);
    for (size_t i = 0; st == GT_OK && i < n; i++) {
        if (plan[i].repeat < 0)
            st = gt_error_set(err, GT_ERR_INVALID, "variant '%s': repeat %d is negative", plan[i].variant,
                              plan[i].repeat);
        if (st == GT_OK)
            st = store_ensure_variant(store, experiment_id, plan[i].variant, NULL, NULL, err);
        sqlite3_stmt *stmt;
        if (st == GT_OK)
            st = store_prepare(store,
                               "INSERT OR IGNORE INTO runs (experiment_id, variant, repeat, planned_order, status) "
                               "VALUES (?1, ?2, ?3, ?4, 'planned')",
                               &stmt, err);
        if (st == GT_OK) {
            sqlite3_bind_int64(stmt, 1, experiment_id);
            sqlite3_bind_text(stmt, 2, plan[i].variant, -1, SQLITE_TRANSIENT);
            sqlite3_bind_int(stmt, 3, plan[i].repeat);
            sqlite3_bind_int(stmt, 4, plan[i].order);
            st = store_exec_stmt(store, stmt, "planning runs", err);
        }
    }
    return store_end(store, st, err);
}

static gt_run_status parse_status(const char *s)
{
    if (!s)
        return GT_RUN_PLANNED;
    for (int i = 0; i < 4; i++)
        if (!strcmp(s, gt_run_status_name((gt_run_status)i)))
            return (gt_run_status)i;
    return GT_RUN_PLANNED;
}

/* Columns 0..9 of RUN_STATE_SQL into a ref and its owner. */
#define RUN_STATE_SQL                                                                                        \
    "SELECT id, variant, repeat, planned_order, status, attempts, owner_host, owner_pid, owner_start, "      \
    "owner_boot FROM runs"

static void read_run_state(sqlite3_stmt *stmt, gt_run_ref *ref, store_owner *owner)
{
    memset(ref, 0, sizeof *ref);
    memset(owner, 0, sizeof *owner);
    ref->id = sqlite3_column_int64(stmt, 0);
    store_column_copy(stmt, 1, ref->variant, sizeof ref->variant);
    ref->repeat = sqlite3_column_int(stmt, 2);
    ref->order = sqlite3_column_int(stmt, 3);
    ref->status = parse_status((const char *)sqlite3_column_text(stmt, 4));
    ref->attempts = sqlite3_column_int(stmt, 5);
    store_column_copy(stmt, 6, owner->host, sizeof owner->host);
    owner->pid = (long)sqlite3_column_int64(stmt, 7);
    owner->start_ticks = (unsigned long long)sqlite3_column_int64(stmt, 8);
    store_column_copy(stmt, 9, owner->boot_id, sizeof owner->boot_id);
}

static int is_pending(const gt_run_ref *ref, const store_owner *owner, int retry_failed)
{
    switch (ref->status) {
    case GT_RUN_PLANNED: return 1;
    case GT_RUN_FAILED: return retry_failed;
    case GT_RUN_RUNNING: return !store_owner_alive(owner);
    default: return 0;
    }
}

gt_status gt_store_pending_runs(gt_store *store, int64_t experiment_id, int retry_failed, gt_run_ref **runs,
                                size_t *count, gt_error *err)
{
    *runs = NULL;
    *count = 0;
    sqlite3_stmt *stmt;
    gt_status st = store_prepare(store, RUN_STATE_SQL " WHERE experiment_id = ?1 AND status != 'done' "
                                                      "ORDER BY planned_order, id",
                                 &stmt, err);
    if (st != GT_OK)
        return st;
    sqlite3_bind_int64(stmt, 1, experiment_id);
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        gt_run_ref ref;
        store_owner owner;
        read_run_state(stmt, &ref, &owner);
        if (!is_pending(&ref, &owner, retry_failed))
            continue;
        if (*count == cap) {
            cap = cap ? cap * 2 : 64;
            gt_run_ref *bigger = realloc(*runs, cap * sizeof **runs);
            if (!bigger) {
                st = gt_error_set(err, GT_ERR_NOMEM, "%s: out of memory listing runs", store->path);
                break;
            }
            *runs = bigger;
        }
        (*runs)[(*count)++] = ref;
    }
    if (st == GT_OK && rc != SQLITE_DONE)
        st = store_sql_error(store, err, "listing pending runs");
    sqlite3_finalize(stmt);
    if (st != GT_OK) {
        free(*runs);
        *runs = NULL;
        *count = 0;
    }
    return st;
}

/* Reads one run's state (inside the caller's transaction). */
static gt_status load_run_state(gt_store *store, int64_t run_id, gt_run_ref *ref, store_owner *owner,
                                gt_error *err)
{
    sqlite3_stmt *stmt;
    gt_status st = store_prepare(store, RUN_STATE_SQL " WHERE id = ?1", &stmt, err);
    if (st != GT_OK)
        return st;
    sqlite3_bind_int64(stmt, 1, run_id);
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        read_run_state(stmt, ref, owner);
    else if (rc == SQLITE_DONE)
        st = gt_error_set(err, GT_ERR_NOT_FOUND, "%s: no run with id %lld", store->path, (long long)run_id);
    else
        st = store_sql_error(store, err, "reading a run");
    sqlite3_finalize(stmt);
    return st;
}

gt_status gt_store_claim_run(gt_store *store, int64_t run_id, int retry_failed, int *claimed, gt_error *err)
{
    *claimed = 0;
    gt_status st = store_begin(store, err);
    if (st != GT_OK)
        return st;
    gt_run_ref ref;
    store_owner owner, self;
    st = load_run_state(store, run_id, &ref, &owner, err);
    if (st != GT_OK || !is_pending(&ref, &owner, retry_failed)) {
        store_rollback(store);
        return st;
    }
    store_owner_self(&self);
    char now[32];
    store_now(now);
    sqlite3_stmt *stmt;
    st = store_prepare(store,
                       "UPDATE runs SET status = 'running', attempts = attempts + 1, owner_host = ?2, "
                       "owner_pid = ?3, owner_start = ?4, owner_boot = ?5, started = ?6, finished = NULL, "
                       "error = NULL, stderr_tail = NULL WHERE id = ?1",
                       &stmt, err);
    if (st == GT_OK) {
        sqlite3_bind_int64(stmt, 1, run_id);
        sqlite3_bind_text(stmt, 2, self.host, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(stmt, 3, self.pid);
        sqlite3_bind_int64(stmt, 4, (sqlite3_int64)self.start_ticks);
        sqlite3_bind_text(stmt, 5, self.boot_id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(stmt, 6, now, -1, SQLITE_TRANSIENT);
        st = store_exec_stmt(store, stmt, "claiming a run", err);
    }
    st = store_end(store, st, err);
    *claimed = st == GT_OK;
    return st;
}

/* Only the process that claimed a run may finish or fail it: a second sweep
 * that raced for the same run must not overwrite the first one's result. */
static gt_status check_owned(gt_store *store, int64_t run_id, gt_error *err)
{
    gt_run_ref ref;
    store_owner owner, self;
    gt_status st = load_run_state(store, run_id, &ref, &owner, err);
    if (st != GT_OK)
        return st;
    store_owner_self(&self);
    if (ref.status != GT_RUN_RUNNING || owner.pid != self.pid || strcmp(owner.host, self.host) != 0 ||
        owner.start_ticks != self.start_ticks)
        return gt_error_set(err, GT_ERR_INVALID,
                            "%s: run %lld (variant '%s', repeat %d) is %s and not claimed by this process — "
                            "claim it first",
                            store->path, (long long)run_id, ref.variant, ref.repeat, gt_run_status_name(ref.status));
    return GT_OK;
}

static gt_status write_stage(gt_store *store, int64_t run_id, const store_stage_input *s, gt_error *err)
{
    sqlite3_stmt *stmt;
    gt_status st = store_prepare(store,
                                 "INSERT INTO stages (run_id, stage, energy_j, duration_s, cpu_j, dram_j, gpu_j) "
                                 "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                                 &stmt, err);
    if (st != GT_OK)
        return st;
    sqlite3_bind_int64(stmt, 1, run_id);
    sqlite3_bind_text(stmt, 2, s->name, -1, SQLITE_TRANSIENT);
    store_bind_number(stmt, 3, s->energy_j);
    store_bind_number(stmt, 4, s->duration_s);
    store_bind_number(stmt, 5, s->cpu_j);
    store_bind_number(stmt, 6, s->dram_j);
    store_bind_number(stmt, 7, s->gpu_j);
    return store_exec_stmt(store, stmt, "storing a stage", err);
}

gt_status store_write_run(gt_store *store, int64_t run_id, const store_run_input *in, gt_error *err)
{
    char now[32];
    store_now(now);
    sqlite3_stmt *stmt;
    gt_status st = store_prepare(
        store,
        "UPDATE runs SET status = 'done', hostname = ?2, cpu_model = ?3, cores = ?4, meter = ?5, estimated = ?6, "
        "energy_j = ?7, duration_s = ?8, cpu_j = ?9, dram_j = ?10, gpu_j = ?11, accuracy = ?12, precision = ?13, "
        "recall = ?14, f1 = ?15, f1_weighted = ?16, mcc = ?17, confusion = ?18, knobs = ?19, model = ?20, "
        "result = ?21, error = NULL, stderr_tail = NULL, started = coalesce(started, ?22), finished = ?22 "
        "WHERE id = ?1",
        &stmt, err);
    if (st != GT_OK)
        return st;
    sqlite3_bind_int64(stmt, 1, run_id);
    sqlite3_bind_text(stmt, 2, in->machine.hostname, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(stmt, 3, in->machine.cpu_model, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(stmt, 4, in->machine.cores);
    sqlite3_bind_text(stmt, 5, in->meter, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(stmt, 6, in->estimated);
    const double numbers[] = {in->energy_j, in->duration_s, in->cpu_j, in->dram_j, in->gpu_j, in->accuracy,
                              in->precision, in->recall, in->f1, in->f1_weighted, in->mcc};
    for (int i = 0; i < (int)(sizeof numbers / sizeof numbers[0]); i++)
        store_bind_number(stmt, 7 + i, numbers[i]);
    const char *texts[] = {in->confusion_json, in->knobs_json, in->model_json, in->result_json, now};
    for (int i = 0; i < 5; i++)
        sqlite3_bind_text(stmt, 18 + i, texts[i], -1, SQLITE_TRANSIENT);
    st = store_exec_stmt(store, stmt, "storing a run", err);

    /* A redone run replaces whatever stages an earlier attempt left. */
    if (st == GT_OK && (st = store_prepare(store, "DELETE FROM stages WHERE run_id = ?1", &stmt, err)) == GT_OK) {
        sqlite3_bind_int64(stmt, 1, run_id);
        st = store_exec_stmt(store, stmt, "storing a run", err);
    }
    for (size_t i = 0; st == GT_OK && i < in->n_stages; i++)
        st = write_stage(store, run_id, &in->stages[i], err);
    return st;
}

gt_status gt_store_finish_run(gt_store *store, int64_t run_id, const cJSON *run, gt_error *err)
{
    store_run_input in;
    gt_status st = store_run_input_parse(&in, run, err);
    if (st != GT_OK)
        return st;
    st = store_begin(store, err);
    if (st == GT_OK) {
        st = check_owned(store, run_id, err);
        if (st == GT_OK)
            st = store_write_run(store, run_id, &in, err);
        st = store_end(store, st, err);
    }
    store_run_input_free(&in);
    return st;
}

/* The last max bytes of text, starting at a line boundary when one is near. */
static const char *tail_of(const char *text, size_t max)
{
    size_t n = strlen(text);
    if (n <= max)
        return text;
    const char *start = text + n - max;
    const char *newline = memchr(start, '\n', max / 4);
    return newline ? newline + 1 : start;
}

/* Runs sql (?1: the run's id, ?2...: texts) on a run this process claimed,
 * in one transaction. */
static gt_status update_owned(gt_store *store, int64_t run_id, const char *sql, const char *const *texts, int n,
                              const char *doing, gt_error *err)
{
    gt_status st = store_begin(store, err);
    if (st != GT_OK)
        return st;
    st = check_owned(store, run_id, err);
    sqlite3_stmt *stmt;
    if (st == GT_OK)
        st = store_prepare(store, sql, &stmt, err);
    if (st == GT_OK) {
        sqlite3_bind_int64(stmt, 1, run_id);
        for (int i = 0; i < n; i++)
            sqlite3_bind_text(stmt, 2 + i, texts[i], -1, SQLITE_TRANSIENT);
        st = store_exec_stmt(store, stmt, doing, err);
    }
    return store_end(store, st, err);
}

gt_status gt_store_fail_run(gt_store *store, int64_t run_id, const char *message, const char *stderr_tail,
                            gt_error *err)
{
    char now[32], error[ERROR_MAX];
    store_now(now);
    snprintf(error, sizeof error, "%s", message && *message ? message : "failed (no message)");
    const char *texts[] = {error, stderr_tail ? tail_of(stderr_tail, STDERR_TAIL_MAX) : NULL, now};
    return update_owned(store, run_id,
                        "UPDATE runs SET status = 'failed', error = ?2, stderr_tail = ?3, finished = ?4 WHERE id = ?1",
                        texts, 3, "recording a failed run", err);
}

gt_status gt_store_release_run(gt_store *store, int64_t run_id, gt_error *err)
{
    return update_owned(store, run_id,
                        "UPDATE runs SET status = 'planned', owner_host = NULL, owner_pid = NULL, owner_start = NULL, "
                        "owner_boot = NULL, started = NULL WHERE id = ?1",
                        NULL, 0, "releasing a run", err);
}

/* The id of (experiment, variant, repeat), planning the run first if needed. */
static gt_status plan_one(gt_store *store, int64_t experiment_id, const char *variant, int repeat,
                          int64_t *run_id, gt_error *err)
{
    sqlite3_stmt *stmt;
    gt_status st = store_ensure_variant(store, experiment_id, variant, NULL, NULL, err);
    if (st == GT_OK)
        st = store_prepare(store,
                           "INSERT OR IGNORE INTO runs (experiment_id, variant, repeat, planned_order, status) "
                           "VALUES (?1, ?2, ?3, (SELECT coalesce(max(planned_order) + 1, 0) FROM runs "
                           "WHERE experiment_id = ?1), 'planned')",
                           &stmt, err);
    if (st != GT_OK)
        return st;
    sqlite3_bind_int64(stmt, 1, experiment_id);
    sqlite3_bind_text(stmt, 2, variant, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(stmt, 3, repeat);
    if ((st = store_exec_stmt(store, stmt, "planning a run", err)) != GT_OK)
        return st;
    if ((st = store_prepare(store, "SELECT id FROM runs WHERE experiment_id = ?1 AND variant = ?2 AND repeat = ?3",
                            &stmt, err)) != GT_OK)
        return st;
    sqlite3_bind_int64(stmt, 1, experiment_id);
    sqlite3_bind_text(stmt, 2, variant, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(stmt, 3, repeat);
    if (sqlite3_step(stmt) == SQLITE_ROW)
        *run_id = sqlite3_column_int64(stmt, 0);
    else
        st = store_sql_error(store, err, "planning a run");
    sqlite3_finalize(stmt);
    return st;
}

gt_status gt_store_add_run_from_json(gt_store *store, int64_t experiment_id, const char *variant, int repeat,
                                     const cJSON *run, gt_error *err)
{
    if (repeat < 0)
        return gt_error_set(err, GT_ERR_INVALID, "variant '%s': repeat %d is negative", variant, repeat);
    store_run_input in;
    gt_status st = store_run_input_parse(&in, run, err);
    if (st != GT_OK)
        return st;
    if ((st = store_begin(store, err)) != GT_OK) {
        store_run_input_free(&in);
        return st;
    }
    int64_t run_id = 0;
    gt_run_ref ref;
    store_owner owner;
    st = plan_one(store, experiment_id, variant, repeat, &run_id, err);
    if (st == GT_OK)
        st = load_run_state(store, run_id, &ref, &owner, err);
    if (st == GT_OK && ref.status == GT_RUN_DONE)
        st = gt_error_set(err, GT_ERR_INVALID,
                          "%s: variant '%s' repeat %d is already recorded — a run is never counted twice",
                          store->path, variant, repeat);
    if (st == GT_OK)
        st = store_write_run(store, run_id, &in, err);
    st = store_end(store, st, err);
    store_run_input_free(&in);
    return st;
}

gt_status gt_store_run_counts(gt_store *store, int64_t experiment_id, const char *variant, size_t counts[4],
                              gt_error *err)
{
    memset(counts, 0, 4 * sizeof *counts);
    sqlite3_stmt *stmt;
    gt_status st = store_prepare(store,
                                 "SELECT status, count(*) FROM runs WHERE experiment_id = ?1 "
                                 "AND (?2 IS NULL OR variant = ?2) GROUP BY status",
                                 &stmt, err);
    if (st != GT_OK)
        return st;
    sqlite3_bind_int64(stmt, 1, experiment_id);
    sqlite3_bind_text(stmt, 2, variant, -1, SQLITE_TRANSIENT);
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
        counts[parse_status((const char *)sqlite3_column_text(stmt, 0))] += (size_t)sqlite3_column_int64(stmt, 1);
    if (rc != SQLITE_DONE)
        st = store_sql_error(store, err, "counting runs");
    sqlite3_finalize(stmt);
    return st;
}
