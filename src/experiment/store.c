/* The run store: opening a database (creating or migrating its schema), turning
 * SQLite's failures into one clear line, experiments and idle measurements.
 * The life of a run is in store_runs.c, reading back in store_load.c. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "store_internal.h"

/* "GTun": marks the file as greentune's, so another program's SQLite file is
 * refused instead of being written into. */
#define STORE_APPLICATION_ID 0x4754756e

/* Schema version 1. A later version adds a migration: migrations[v] takes a
 * version-v database to v+1, and user_version records where a file stands. */
static const char schema_v1[] =
    "CREATE TABLE experiments ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  spec TEXT NOT NULL,"
    "  spec_hash TEXT NOT NULL,"
    "  baseline TEXT,"
    "  created TEXT NOT NULL);"
    "CREATE TABLE variants ("
    "  experiment_id INTEGER NOT NULL REFERENCES experiments(id),"
    "  name TEXT NOT NULL,"
    "  position INTEGER NOT NULL,"
    "  knobs TEXT,"
    "  command TEXT,"
    "  PRIMARY KEY (experiment_id, name));"
    "CREATE TABLE idle ("
    "  id INTEGER PRIMARY KEY,"
    "  experiment_id INTEGER NOT NULL REFERENCES experiments(id),"
    "  hostname TEXT, meter TEXT NOT NULL, estimated INTEGER NOT NULL,"
    "  duration_s REAL NOT NULL, energy_j REAL NOT NULL, measured TEXT NOT NULL);"
    "CREATE TABLE runs ("
    "  id INTEGER PRIMARY KEY,"
    "  experiment_id INTEGER NOT NULL,"
    "  variant TEXT NOT NULL,"
    "  repeat INTEGER NOT NULL,"
    "  planned_order INTEGER NOT NULL,"
    "  status TEXT NOT NULL CHECK (status IN ('planned', 'running', 'done', 'failed')),"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  owner_host TEXT, owner_pid INTEGER, owner_start INTEGER, owner_boot TEXT,"
    "  hostname TEXT, cpu_model TEXT, cores INTEGER, meter TEXT, estimated INTEGER,"
    "  energy_j REAL, duration_s REAL, cpu_j REAL, dram_j REAL, gpu_j REAL,"
    "  accuracy REAL, precision REAL, recall REAL, f1 REAL, f1_weighted REAL, mcc REAL,"
    "  confusion TEXT, knobs TEXT, model TEXT, result TEXT,"
    "  error TEXT, stderr_tail TEXT, started TEXT, finished TEXT,"
    "  UNIQUE (experiment_id, variant, repeat),"
    "  FOREIGN KEY (experiment_id, variant) REFERENCES variants(experiment_id, name));"
    "CREATE TABLE stages ("
    "  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    "  stage TEXT NOT NULL,"
    "  energy_j REAL, duration_s REAL, cpu_j REAL, dram_j REAL, gpu_j REAL,"
    "  PRIMARY KEY (run_id, stage));"
    "CREATE INDEX runs_by_status ON runs (experiment_id, status, planned_order);";

static const char *const migrations[] = {
    schema_v1,   /* 0 -> 1: a new file */
};

const char *gt_run_status_name(gt_run_status status)
{
    static const char *const names[] = {"planned", "running", "done", "failed"};
    return (unsigned)status < 4 ? names[status] : "unknown";
}

const char *gt_run_stage_name(gt_run_stage stage)
{
    static const char *const names[] = {"data", "tokenize", "load", "train", "save", "eval", "other"};
    return (unsigned)stage < GT_RUN_STAGE_COUNT ? names[stage] : "unknown";
}

gt_status store_sql_error(gt_store *store, gt_error *err, const char *doing)
{
    int code = sqlite3_extended_errcode(store->db) & 0xff;
    const char *msg = sqlite3_errmsg(store->db);
    switch (code) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return gt_error_set(err, GT_ERR_IO,
                            "%s: database is locked by another process (waited %.1f s while %s) — "
                            "wait for the other sweep or report to finish, or stop it",
                            store->path, store->busy_timeout_ms / 1000.0, doing);
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
        return gt_error_set(err, GT_ERR_PARSE,
                            "%s: not a greentune database, or corrupted (%s) — check the path, or move the "
                            "file aside and run the sweep again",
                            store->path, msg);
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_CANTOPEN:
        return gt_error_set(err, GT_ERR_PERMISSION,
                            "%s: cannot open or write the database (%s) — check the file's and its "
                            "directory's permissions",
                            store->path, msg);
    case SQLITE_FULL:
        return gt_error_set(err, GT_ERR_IO, "%s: disk full while %s — free space and rerun", store->path, doing);
    case SQLITE_IOERR: {
        /* SQLite's "disk I/O error", with the system's reason when it kept one. */
        int sys = sqlite3_system_errno(store->db);
        return gt_error_set(err, GT_ERR_IO, "%s: I/O error while %s (%s) — check the disk's space and health, then "
                            "rerun (stored runs are kept)", store->path, doing, sys ? strerror(sys) : msg);
    }
    case SQLITE_NOMEM:
        return gt_error_set(err, GT_ERR_NOMEM, "%s: out of memory while %s", store->path, doing);
    default:
        return gt_error_set(err, GT_ERR_IO, "%s: %s: %s", store->path, doing, msg);
    }
}

static gt_status exec_sql(gt_store *store, const char *sql, const char *doing, gt_error *err)
{
    if (sqlite3_exec(store->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return store_sql_error(store, err, doing);
    return GT_OK;
}

gt_status store_begin(gt_store *store, gt_error *err)
{
    return exec_sql(store, "BEGIN IMMEDIATE", "starting a transaction", err);
}

gt_status store_end(gt_store *store, gt_status st, gt_error *err)
{
    if (st == GT_OK)
        st = exec_sql(store, "COMMIT", "committing", err);
    if (st != GT_OK)
        store_rollback(store);
    return st;
}

void store_rollback(gt_store *store)
{
    if (!sqlite3_get_autocommit(store->db))
        sqlite3_exec(store->db, "ROLLBACK", NULL, NULL, NULL);
}

gt_status store_prepare(gt_store *store, const char *sql, sqlite3_stmt **stmt, gt_error *err)
{
    if (sqlite3_prepare_v2(store->db, sql, -1, stmt, NULL) != SQLITE_OK)
        return store_sql_error(store, err, "preparing a query");
    return GT_OK;
}

gt_status store_exec_stmt(gt_store *store, sqlite3_stmt *stmt, const char *doing, gt_error *err)
{
    int rc = sqlite3_step(stmt);
    gt_status st = rc == SQLITE_DONE || rc == SQLITE_ROW ? GT_OK : store_sql_error(store, err, doing);
    sqlite3_finalize(stmt);
    return st;
}

void store_bind_number(sqlite3_stmt *stmt, int index, double value)
{
    if (value != value)
        sqlite3_bind_null(stmt, index);
    else
        sqlite3_bind_double(stmt, index, value);
}

double store_column_number(sqlite3_stmt *stmt, int index)
{
    return sqlite3_column_type(stmt, index) == SQLITE_NULL ? (double)NAN : sqlite3_column_double(stmt, index);
}

void store_column_copy(sqlite3_stmt *stmt, int index, char *buf, size_t size)
{
    const unsigned char *text = sqlite3_column_text(stmt, index);
    snprintf(buf, size, "%s", text ? (const char *)text : "");
}

char *store_column_strdup(sqlite3_stmt *stmt, int index)
{
    const unsigned char *text = sqlite3_column_text(stmt, index);
    return text ? strdup((const char *)text) : NULL;
}

void store_now(char out[32])
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static gt_status pragma_int(gt_store *store, const char *sql, int *value, gt_error *err)
{
    sqlite3_stmt *stmt;
    gt_status st = store_prepare(store, sql, &stmt, err);
    if (st != GT_OK)
        return st;
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        *value = sqlite3_column_int(stmt, 0);
    else if (rc != SQLITE_DONE)
        st = store_sql_error(store, err, "reading the database header");
    sqlite3_finalize(stmt);
    return st;
}

/* Creates the schema in a new file or brings an older one up to date, in one
 * transaction. */
static gt_status migrate(gt_store *store, int version, gt_error *err)
{
    gt_status st = store_begin(store, err);
    if (st != GT_OK)
        return st;
    for (int v = version; v < GT_STORE_SCHEMA_VERSION && st == GT_OK; v++)
        st = exec_sql(store, migrations[v], "creating the schema", err);
    char sql[96];
    snprintf(sql, sizeof sql, "PRAGMA application_id = %d; PRAGMA user_version = %d", STORE_APPLICATION_ID,
             GT_STORE_SCHEMA_VERSION);
    if (st == GT_OK)
        st = exec_sql(store, sql, "writing the schema version", err);
    return store_end(store, st, err);
}

/* Checks what the file is: ours and current (or migratable), new (empty),
 * another program's, from a newer greentune, or corrupted. */
static gt_status check_schema(gt_store *store, gt_error *err)
{
    int app = 0, version = 0, tables = 0;
    gt_status st = pragma_int(store, "PRAGMA application_id", &app, err);
    if (st == GT_OK)
        st = pragma_int(store, "PRAGMA user_version", &version, err);
    if (st == GT_OK)
        st = pragma_int(store, "SELECT count(*) FROM sqlite_master", &tables, err);
    if (st != GT_OK)
        return st;
    if (app == 0 && version == 0 && tables == 0) {
        if (store->readonly)
            return gt_error_set(err, GT_ERR_INVALID, "%s: empty database — run `greentune sweep` to fill it",
                                store->path);
        return migrate(store, 0, err);
    }
    if (app != STORE_APPLICATION_ID)
        return gt_error_set(err, GT_ERR_INVALID,
                            "%s: an SQLite database, but not greentune's — pick another file for --db",
                            store->path);
    if (version > GT_STORE_SCHEMA_VERSION)
        return gt_error_set(err, GT_ERR_UNSUPPORTED,
                            "%s: written by a newer greentune (schema %d, this one reads up to %d) — "
                            "upgrade greentune",
                            store->path, version, GT_STORE_SCHEMA_VERSION);
    if (version < GT_STORE_SCHEMA_VERSION) {
        if (store->readonly)
            return gt_error_set(err, GT_ERR_UNSUPPORTED,
                                "%s: schema %d is older than %d — run `greentune sweep` once to upgrade it",
                                store->path, version, GT_STORE_SCHEMA_VERSION);
        return migrate(store, version, err);
    }
    return GT_OK;
}

/* A damaged page may sit anywhere: quick_check reads every page once (cheap
 * for run stores of a few MB) so damage is reported at open, not mid-sweep. */
static gt_status check_integrity(gt_store *store, gt_error *err)
{
    sqlite3_stmt *stmt;
    gt_status st = store_prepare(store, "PRAGMA quick_check(1)", &stmt, err);
    if (st != GT_OK)
        return st;
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        const char *result = (const char *)sqlite3_column_text(stmt, 0);
        if (!result || strcmp(result, "ok") != 0) {
            /* SQLite's report spans lines; an error is one. */
            char what[160];
            snprintf(what, sizeof what, "%s", result ? result : "no result");
            for (char *c = what; *c; c++)
                if (*c == '\n' || *c == '\r')
                    *c = ' ';
            st = gt_error_set(err, GT_ERR_PARSE,
                              "%s: the database is corrupted (%s) — move it aside and run the sweep again",
                              store->path, what);
        }
    } else if (rc != SQLITE_DONE) {
        st = store_sql_error(store, err, "checking the database");
    }
    sqlite3_finalize(stmt);
    return st;
}

gt_status gt_store_open(gt_store **out, const char *path, const gt_store_options *options, gt_error *err)
{
    *out = NULL;
    gt_store_options defaults = {0, 0};
    if (!options)
        options = &defaults;
    struct stat sb;
    if (options->readonly && stat(path, &sb) != 0)
        return gt_error_set(err, errno == ENOENT ? GT_ERR_NOT_FOUND : GT_ERR_IO,
                            "%s: %s — run `greentune sweep EXPERIMENT.yaml --db %s` first", path, strerror(errno),
                            path);
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        return gt_error_set(err, GT_ERR_INVALID, "%s: is a directory, expected a database file", path);

    gt_store *store = calloc(1, sizeof *store);
    if (!store)
        return gt_error_set(err, GT_ERR_NOMEM, "%s: out of memory", path);
    snprintf(store->path, sizeof store->path, "%s", path);
    store->readonly = options->readonly;
    store->busy_timeout_ms = options->busy_timeout_ms > 0 ? options->busy_timeout_ms : 5000;
    int flags = options->readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    if (sqlite3_open_v2(path, &store->db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        gt_status st = store->db ? store_sql_error(store, err, "opening")
                                 : gt_error_set(err, GT_ERR_NOMEM, "%s: out of memory", path);
        gt_store_close(store);
        return st;
    }
    sqlite3_extended_result_codes(store->db, 1);
    sqlite3_busy_timeout(store->db, store->busy_timeout_ms);

    gt_status st = exec_sql(store, "PRAGMA foreign_keys = ON", "configuring", err);
    if (st == GT_OK)
        st = check_schema(store, err);
    if (st == GT_OK)
        st = check_integrity(store, err);
    /* WAL: readers (report) never block the sweep's writes; FULL: a finished run
     * survives a power cut, not only a crash. */
    if (st == GT_OK && !store->readonly)
        st = exec_sql(store, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL", "switching to WAL", err);
    if (st != GT_OK) {
        gt_store_close(store);
        return st;
    }
    *out = store;
    return GT_OK;
}

void gt_store_close(gt_store *store)
{
    if (!store)
        return;
    sqlite3_close(store->db);
    free(store);
}

/* 64-bit FNV-1a of the spec text, in hex: detects an edited experiment file
 * (not a security measure). */
static void spec_hash(const char *text, char out[17])
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ull;
    }
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

gt_status store_ensure_variant(gt_store *store, int64_t experiment_id, const char *variant,
                               const char *knobs_json, const char *command_json, gt_error *err)
{
    if (!variant || !*variant || strlen(variant) >= GT_NAME_MAX)
        return gt_error_set(err, GT_ERR_INVALID, "variant name '%.40s': empty or longer than %d bytes",
                            variant ? variant : "", GT_NAME_MAX - 1);
    sqlite3_stmt *stmt;
    gt_status st = store_prepare(store,
                                 "INSERT OR IGNORE INTO variants (experiment_id, name, position, knobs, command) "
                                 "VALUES (?1, ?2, (SELECT coalesce(max(position) + 1, 0) FROM variants "
                                 "WHERE experiment_id = ?1), ?3, ?4)",
                                 &stmt, err);
    if (st != GT_OK)
        return st;
    sqlite3_bind_int64(stmt, 1, experiment_id);
    sqlite3_bind_text(stmt, 2, variant, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(stmt, 3, knobs_json, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(stmt, 4, command_json, -1, SQLITE_TRANSIENT);
    return store_exec_stmt(store, stmt, "recording a variant", err);
}

/* Finds the experiment by name: GT_OK with *id, or GT_ERR_NOT_FOUND (err
 * filled) with *stored_hash "" when there is none. */
static gt_status lookup_experiment(gt_store *store, const char *name, int64_t *id, char stored_hash[17],
                                   gt_error *err)
{
    sqlite3_stmt *stmt;
    gt_status st = store_prepare(store, "SELECT id, spec_hash FROM experiments WHERE name = ?1", &stmt, err);
    if (st != GT_OK)
        return st;
    sqlite3_bind_text(stmt, 1, name, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(stmt);
    stored_hash[0] = '\0';
    if (rc == SQLITE_ROW) {
        *id = sqlite3_column_int64(stmt, 0);
        store_column_copy(stmt, 1, stored_hash, 17);
    } else if (rc == SQLITE_DONE) {
        st = gt_error_set(err, GT_ERR_NOT_FOUND, "%s: no experiment named '%s'", store->path, name);
    } else {
        st = store_sql_error(store, err, "looking up the experiment");
    }
    sqlite3_finalize(stmt);
    return st;
}

static gt_status insert_experiment(gt_store *store, const gt_experiment_spec *spec, const char *hash,
                                   int64_t *id, gt_error *err)
{
    sqlite3_stmt *stmt;
    gt_status st = store_prepare(store,
                                 "INSERT INTO experiments (name, spec, spec_hash, baseline, created) "
                                 "VALUES (?1, ?2, ?3, ?4, ?5)",
                                 &stmt, err);
    if (st != GT_OK)
        return st;
    char now[32];
    store_now(now);
    sqlite3_bind_text(stmt, 1, spec->name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(stmt, 2, spec->spec_text ? spec->spec_text : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(stmt, 3, hash, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(stmt, 4, spec->baseline, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(stmt, 5, now, -1, SQLITE_TRANSIENT);
    st = store_exec_stmt(store, stmt, "recording the experiment", err);
    if (st == GT_OK)
        *id = sqlite3_last_insert_rowid(store->db);
    return st;
}

gt_status gt_store_experiment(gt_store *store, const gt_experiment_spec *spec, int64_t *experiment_id,
                              gt_error *err)
{
    if (!spec->name || !*spec->name || strlen(spec->name) >= GT_NAME_MAX)
        return gt_error_set(err, GT_ERR_INVALID, "experiment name: empty or longer than %d bytes",
                            GT_NAME_MAX - 1);
    char hash[17], stored[17];
    spec_hash(spec->spec_text ? spec->spec_text : "", hash);
    gt_status st = store_begin(store, err);
    if (st != GT_OK)
        return st;
    gt_error lookup_err = {0};
    st = lookup_experiment(store, spec->name, experiment_id, stored, &lookup_err);
    if (st == GT_ERR_NOT_FOUND)
        st = insert_experiment(store, spec, hash, experiment_id, err);
    else if (st != GT_OK)
        *err = lookup_err;
    else if (strcmp(stored, hash) != 0)
        st = gt_error_set(err, GT_ERR_INVALID,
                          "%s: experiment '%s' was run from a different experiment file (spec hash %s, now %s) — "
                          "use another --db, or rename the experiment",
                          store->path, spec->name, stored, hash);
    for (size_t i = 0; st == GT_OK && i < spec->n_variants; i++)
        st = store_ensure_variant(store, *experiment_id, spec->variants[i].name, spec->variants[i].knobs_json,
                                  spec->variants[i].command_json, err);
    return store_end(store, st, err);
}

/* Joins the experiment names for a message ("demo, paper"). */
static gt_status experiment_names(gt_store *store, char *out, size_t size, int *count, gt_error *err)
{
    sqlite3_stmt *stmt;
    gt_status st = store_prepare(store, "SELECT name FROM experiments ORDER BY id", &stmt, err);
    if (st != GT_OK)
        return st;
    out[0] = '\0';
    *count = 0;
    size_t used = 0;
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(stmt, 0);
        int n = snprintf(out + used, size - used, "%s%s", *count ? ", " : "", name ? name : "");
        if (n > 0 && (size_t)n < size - used)
            used += (size_t)n;
        ++*count;
    }
    if (rc != SQLITE_DONE)
        st = store_sql_error(store, err, "listing experiments");
    sqlite3_finalize(stmt);
    return st;
}

gt_status gt_store_find_experiment(gt_store *store, const char *name, int64_t *experiment_id, gt_error *err)
{
    char names[GT_ERROR_MESSAGE_MAX / 2], hash[17];
    int count = 0;
    if (name)
        return lookup_experiment(store, name, experiment_id, hash, err);
    gt_status st = experiment_names(store, names, sizeof names, &count, err);
    if (st != GT_OK)
        return st;
    if (count == 0)
        return gt_error_set(err, GT_ERR_NOT_FOUND, "%s: holds no experiment yet — run `greentune sweep` first",
                            store->path);
    if (count > 1)
        return gt_error_set(err, GT_ERR_INVALID, "%s: holds %d experiments (%s) — pick one with --experiment NAME",
                            store->path, count, names);
    return lookup_experiment(store, names, experiment_id, hash, err);
}

gt_status gt_store_add_idle(gt_store *store, int64_t experiment_id, const gt_idle_measurement *idle,
                            gt_error *err)
{
    return gt_store_add_idle_on(store, experiment_id, idle, NULL, err);
}

gt_status gt_store_add_idle_on(gt_store *store, int64_t experiment_id, const gt_idle_measurement *idle,
                               const char *hostname, gt_error *err)
{
    if (!idle->meter || !*idle->meter)
        return gt_error_set(err, GT_ERR_INVALID, "idle measurement: no meter named — every energy number needs "
                                                 "its source");
    if (!(idle->duration_s > 0) || !(idle->energy_j >= 0))
        return gt_error_set(err, GT_ERR_INVALID, "idle measurement: duration %g s, energy %g J — both must be "
                                                 "positive", idle->duration_s, idle->energy_j);
    gt_machine machine;
    gt_machine_read(&machine);
    char now[32];
    store_now(now);
    sqlite3_stmt *stmt;
    gt_status st = store_prepare(store,
                                 "INSERT INTO idle (experiment_id, hostname, meter, estimated, duration_s, "
                                 "energy_j, measured) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                                 &stmt, err);
    if (st != GT_OK)
        return st;
    sqlite3_bind_int64(stmt, 1, experiment_id);
    sqlite3_bind_text(stmt, 2, hostname ? hostname : machine.hostname, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(stmt, 3, idle->meter, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(stmt, 4, idle->estimated != 0);
    sqlite3_bind_double(stmt, 5, idle->duration_s);
    sqlite3_bind_double(stmt, 6, idle->energy_j);
    sqlite3_bind_text(stmt, 7, now, -1, SQLITE_TRANSIENT);
    return store_exec_stmt(store, stmt, "recording the idle measurement", err);
}
