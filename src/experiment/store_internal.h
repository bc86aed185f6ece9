/* Shared by the store's files: the handle, SQL helpers, the parsed form of a
 * run's JSON record, and the identity of the process that owns a running run. */
#ifndef GREENTUNE_STORE_INTERNAL_H
#define GREENTUNE_STORE_INTERNAL_H

#include <sqlite3.h>
#include <stdint.h>

#include "greentune/store.h"

struct gt_store {
    sqlite3 *db;
    char path[1024];
    int busy_timeout_ms;
    int readonly;
};

/* Turns the connection's last SQLite error into one line: locked, corrupted or
 * not a database, read-only, disk full, or "<doing>: <sqlite message>". */
gt_status store_sql_error(gt_store *store, gt_error *err, const char *doing);

/* BEGIN IMMEDIATE (takes the write lock now, waiting up to the busy timeout). */
gt_status store_begin(gt_store *store, gt_error *err);
/* Ends the transaction: COMMIT when st is GT_OK, else ROLLBACK; returns the
 * outcome (st, or the commit's failure). */
gt_status store_end(gt_store *store, gt_status st, gt_error *err);
void store_rollback(gt_store *store);

/* Prepares sql or fills err. */
gt_status store_prepare(gt_store *store, const char *sql, sqlite3_stmt **stmt, gt_error *err);
/* Steps a statement that returns no rows, finalizes it. */
gt_status store_exec_stmt(gt_store *store, sqlite3_stmt *stmt, const char *doing, gt_error *err);

/* Binds a double, or NULL for NAN. */
void store_bind_number(sqlite3_stmt *stmt, int index, double value);
/* A column as double, NAN for NULL. */
double store_column_number(sqlite3_stmt *stmt, int index);
/* Copies a text column into buf ("" for NULL); malloc'd copy (NULL for NULL). */
void store_column_copy(sqlite3_stmt *stmt, int index, char *buf, size_t size);
char *store_column_strdup(sqlite3_stmt *stmt, int index);

/* The current time, ISO 8601 UTC ("2024-06-11T03:17:08Z"). */
void store_now(char out[32]);

/* Ensures the variant row exists (appended after the last position). */
gt_status store_ensure_variant(gt_store *store, int64_t experiment_id, const char *variant,
                               const char *knobs_json, const char *command_json, gt_error *err);

/* --- a run's JSON record, parsed and checked (run_json.c) ------------------- */

#define STORE_MAX_STAGES 32
#define STORE_MAX_JSON (4u << 20)
/* The largest energy and duration one run may report: far beyond any real run
 * (1e15 J is 280 GWh, 1e9 s is 31 years), small enough that sums over stages,
 * runs and experiments stay finite (two stages of 1e308 J summed to infinity). */
#define STORE_MAX_ENERGY_J 1e15
#define STORE_MAX_DURATION_S 1e9

typedef struct {
    char name[64];
    double energy_j, duration_s;
    double cpu_j, dram_j, gpu_j;
} store_stage_input;

typedef struct {
    store_stage_input stages[STORE_MAX_STAGES];
    size_t n_stages;
    double energy_j, duration_s;          /* the total */
    double cpu_j, dram_j, gpu_j;
    char meter[32];
    int estimated;
    gt_machine machine;
    int has_metrics;
    double accuracy, precision, recall, f1, f1_weighted, mcc;
    char *confusion_json;                 /* malloc'd, or NULL */
    char *knobs_json;
    char *model_json;
    char *result_json;                    /* the whole record */
} store_run_input;

/* Reads and checks a `greentune run` (or `measure`) record. The machine facts
 * come from its "machine" object if it has one, else from this machine. */
gt_status store_run_input_parse(store_run_input *in, const struct cJSON *run, gt_error *err);
void store_run_input_free(store_run_input *in);

/* Writes a parsed run into row run_id and marks it done (inside a transaction
 * the caller holds). */
gt_status store_write_run(gt_store *store, int64_t run_id, const store_run_input *in, gt_error *err);

/* Parses a confusion matrix in JSON ([[tn, fp], [fn, tp]]); 0 classes if absent
 * or malformed. */
int store_parse_confusion(const char *json, long matrix[GT_MAX_CLASSES][GT_MAX_CLASSES]);

/* --- who owns a running run (owner.c) ------------------------------------- */

typedef struct {
    char host[256];
    long pid;
    unsigned long long start_ticks;   /* /proc/<pid>/stat field 22: survives pid reuse checks */
    char boot_id[64];
} store_owner;

void store_owner_self(store_owner *owner);
/* 0 when the owner is certainly gone (same host: rebooted since, no such pid, or
 * the pid now belongs to a process started at another time); 1 when alive or
 * unknowable (another host). */
int store_owner_alive(const store_owner *owner);

#endif
