/* Reading an experiment back: its variants, every run with its stages folded
 * into the six pipeline stages plus "other", and the idle measurements. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

/* Grows *items (of size elem) to hold one more; returns the new slot, zeroed. */
static void *append(void **items, size_t *count, size_t *cap, size_t elem)
{
    if (*count == *cap) {
        size_t bigger = *cap ? *cap * 2 : 16;
        void *p = realloc(*items, bigger * elem);
        if (!p)
            return NULL;
        *items = p;
        *cap = bigger;
    }
    void *slot = (char *)*items + (*count)++ * elem;
    memset(slot, 0, elem);
    return slot;
}

static gt_status load_header(gt_store *store, int64_t id, gt_experiment_data *data, gt_error *err)
{
    sqlite3_stmt *stmt;
    gt_status st = store_prepare(store, "SELECT name, baseline, spec_hash, created FROM experiments WHERE id = ?1",
                                 &stmt, err);
    if (st != GT_OK)
        return st;
    sqlite3_bind_int64(stmt, 1, id);
    if (sqlite3_step(stmt) == SQLITE_ROW) {
        data->id = id;
        store_column_copy(stmt, 0, data->name, sizeof data->name);
        store_column_copy(stmt, 1, data->baseline, sizeof data->baseline);
        store_column_copy(stmt, 2, data->spec_hash, sizeof data->spec_hash);
        store_column_copy(stmt, 3, data->created, sizeof data->created);
    } else {
        st = store_sql_error(store, err, "reading the experiment");
    }
    sqlite3_finalize(stmt);
    return st;
}

/* Runs sql (with ?1 = the experiment's id) and appends one item of elem bytes
 * per row to *items, filled by read_row. */
static gt_status load_rows(gt_store *store, const char *sql, int64_t id, void **items, size_t *count, size_t elem,
                           void (*read_row)(sqlite3_stmt *stmt, void *item), const char *doing, gt_error *err)
{
    *items = NULL;
    *count = 0;
    sqlite3_stmt *stmt;
    gt_status st = store_prepare(store, sql, &stmt, err);
    if (st != GT_OK)
        return st;
    sqlite3_bind_int64(stmt, 1, id);
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        void *item = append(items, count, &cap, elem);
        if (!item) {
            st = gt_error_set(err, GT_ERR_NOMEM, "%s: out of memory %s", store->path, doing);
            break;
        }
        read_row(stmt, item);
    }
    if (st == GT_OK && rc != SQLITE_DONE)
        st = store_sql_error(store, err, doing);
    sqlite3_finalize(stmt);
    return st;
}

static void read_variant_row(sqlite3_stmt *stmt, void *item)
{
    gt_variant_record *v = item;
    store_column_copy(stmt, 0, v->name, sizeof v->name);
    v->position = sqlite3_column_int(stmt, 1);
    v->knobs_json = store_column_strdup(stmt, 2);
    v->command_json = store_column_strdup(stmt, 3);
}

static void read_idle_row(sqlite3_stmt *stmt, void *item)
{
    gt_idle_record *m = item;
    store_column_copy(stmt, 0, m->meter, sizeof m->meter);
    m->estimated = sqlite3_column_int(stmt, 1);
    m->duration_s = sqlite3_column_double(stmt, 2);
    m->energy_j = sqlite3_column_double(stmt, 3);
    store_column_copy(stmt, 4, m->measured, sizeof m->measured);
}

static int stage_index(const char *name)
{
    for (int s = 0; s < GT_RUN_STAGE_COUNT; s++)
        if (!strcmp(name, gt_run_stage_name((gt_run_stage)s)))
            return s;
    return GT_RUN_STAGE_OTHER;
}

static double add_known(double sum, double value)
{
    return isnan(sum) ? value : sum + value;
}

/* Folds the run's stage rows into the fixed stages. Stages of other names go
 * to "other"; unless the run reported "other" itself, "other" also takes what
 * the total holds beyond all its stages (never negative: meters read stage
 * boundaries and the total separately, and may differ by rounding). */
static gt_status load_stages(gt_store *store, gt_run_record *run, gt_error *err)
{
    for (int s = 0; s < GT_RUN_STAGE_COUNT; s++)
        run->stages[s].energy_j = run->stages[s].duration_s = NAN;
    sqlite3_stmt *stmt;
    gt_status st = store_prepare(store, "SELECT stage, energy_j, duration_s FROM stages WHERE run_id = ?1",
                                 &stmt, err);
    if (st != GT_OK)
        return st;
    sqlite3_bind_int64(stmt, 1, run->id);
    int explicit_other = 0, rc;
    double staged_e = 0, staged_t = 0;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(stmt, 0);
        double e = store_column_number(stmt, 1), t = store_column_number(stmt, 2);
        gt_stage_value *v = &run->stages[stage_index(name ? name : "")];
        v->energy_j = add_known(v->energy_j, e);
        v->duration_s = add_known(v->duration_s, t);
        explicit_other |= name && !strcmp(name, "other");
        staged_e += isnan(e) ? 0 : e;
        staged_t += isnan(t) ? 0 : t;
    }
    if (rc != SQLITE_DONE)
        st = store_sql_error(store, err, "reading stages");
    sqlite3_finalize(stmt);
    if (st != GT_OK || run->status != GT_RUN_DONE || explicit_other)
        return st;
    gt_stage_value *other = &run->stages[GT_RUN_STAGE_OTHER];
    double rest_e = run->total.energy_j - staged_e, rest_t = run->total.duration_s - staged_t;
    other->energy_j = add_known(other->energy_j, rest_e > 0 ? rest_e : 0);
    other->duration_s = add_known(other->duration_s, rest_t > 0 ? rest_t : 0);
    return GT_OK;
}

static void read_run_row(sqlite3_stmt *stmt, void *item)
{
    gt_run_record *r = item;
    r->id = sqlite3_column_int64(stmt, 0);
    store_column_copy(stmt, 1, r->variant, sizeof r->variant);
    r->repeat = sqlite3_column_int(stmt, 2);
    r->order = sqlite3_column_int(stmt, 3);
    const char *status = (const char *)sqlite3_column_text(stmt, 4);
    for (int i = 0; i < 4; i++)
        if (status && !strcmp(status, gt_run_status_name((gt_run_status)i)))
            r->status = (gt_run_status)i;
    r->attempts = sqlite3_column_int(stmt, 5);
    store_column_copy(stmt, 6, r->machine.hostname, sizeof r->machine.hostname);
    store_column_copy(stmt, 7, r->machine.cpu_model, sizeof r->machine.cpu_model);
    r->machine.cores = sqlite3_column_int(stmt, 8);
    store_column_copy(stmt, 9, r->meter, sizeof r->meter);
    r->estimated = sqlite3_column_int(stmt, 10);
    double *numbers[] = {&r->total.energy_j, &r->total.duration_s, &r->cpu_j, &r->dram_j, &r->gpu_j,
                         &r->accuracy, &r->precision, &r->recall, &r->f1, &r->f1_weighted, &r->mcc};
    for (int i = 0; i < (int)(sizeof numbers / sizeof numbers[0]); i++)
        *numbers[i] = store_column_number(stmt, 11 + i);
    char *confusion = store_column_strdup(stmt, 22);
    r->n_classes = store_parse_confusion(confusion, r->confusion);
    free(confusion);
    r->knobs_json = store_column_strdup(stmt, 23);
    r->error = store_column_strdup(stmt, 24);
    r->stderr_tail = store_column_strdup(stmt, 25);
    store_column_copy(stmt, 26, r->started, sizeof r->started);
    store_column_copy(stmt, 27, r->finished, sizeof r->finished);
    /* Metrics are present when any of them is. */
    r->has_metrics = !isnan(r->accuracy) || !isnan(r->f1) || !isnan(r->f1_weighted) || !isnan(r->mcc) ||
                     r->n_classes > 0;
}

static gt_status load_runs(gt_store *store, gt_experiment_data *data, gt_error *err)
{
    void *rows;
    gt_status st = load_rows(
        store,
        "SELECT r.id, r.variant, r.repeat, r.planned_order, r.status, r.attempts, r.hostname, r.cpu_model, r.cores, "
        "r.meter, r.estimated, r.energy_j, r.duration_s, r.cpu_j, r.dram_j, r.gpu_j, r.accuracy, r.precision, "
        "r.recall, r.f1, r.f1_weighted, r.mcc, r.confusion, r.knobs, r.error, r.stderr_tail, r.started, r.finished "
        "FROM runs r JOIN variants v ON v.experiment_id = r.experiment_id AND v.name = r.variant "
        "WHERE r.experiment_id = ?1 ORDER BY v.position, r.repeat",
        data->id, &rows, &data->n_runs, sizeof *data->runs, read_run_row, "reading runs", err);
    data->runs = rows;
    for (size_t i = 0; st == GT_OK && i < data->n_runs; i++)
        st = load_stages(store, &data->runs[i], err);
    return st;
}

gt_status gt_store_load(gt_store *store, const char *experiment, gt_experiment_data *data, gt_error *err)
{
    memset(data, 0, sizeof *data);
    int64_t id;
    /* One read transaction: a sweep writing meanwhile cannot tear the view. */
    if (sqlite3_exec(store->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        return store_sql_error(store, err, "starting to read");
    gt_status st = gt_store_find_experiment(store, experiment, &id, err);
    if (st == GT_OK)
        st = load_header(store, id, data, err);
    void *rows = NULL;
    if (st == GT_OK) {
        st = load_rows(store, "SELECT name, position, knobs, command FROM variants WHERE experiment_id = ?1 "
                              "ORDER BY position",
                       id, &rows, &data->n_variants, sizeof *data->variants, read_variant_row, "reading variants",
                       err);
        data->variants = rows;
    }
    if (st == GT_OK)
        st = load_runs(store, data, err);
    if (st == GT_OK) {
        st = load_rows(store, "SELECT meter, estimated, duration_s, energy_j, measured FROM idle "
                              "WHERE experiment_id = ?1 ORDER BY id",
                       id, &rows, &data->n_idle, sizeof *data->idle, read_idle_row, "reading idle measurements",
                       err);
        data->idle = rows;
    }
    store_rollback(store);
    if (st != GT_OK)
        gt_experiment_data_free(data);
    return st;
}

void gt_experiment_data_free(gt_experiment_data *data)
{
    for (size_t i = 0; i < data->n_variants; i++) {
        free(data->variants[i].knobs_json);
        free(data->variants[i].command_json);
    }
    for (size_t i = 0; i < data->n_runs; i++) {
        free(data->runs[i].knobs_json);
        free(data->runs[i].error);
        free(data->runs[i].stderr_tail);
    }
    free(data->variants);
    free(data->runs);
    free(data->idle);
    memset(data, 0, sizeof *data);
}
