/* What `sweep` and `search` share: loading an experiment with its database,
 * stopping cleanly on Ctrl-C/SIGTERM/SIGHUP, the progress bar, and the
 * summary table printed at the end. */
#ifndef GREENTUNE_EXPERIMENT_CLI_H
#define GREENTUNE_EXPERIMENT_CLI_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include "greentune/experiment.h"

typedef struct {
    gt_experiment exp;
    char *db_path;
    gt_store *db;
    int64_t experiment_id;
    gt_progress *progress;
    gt_sweep_options sweep;
} experiment_session;

/* Loads the experiment and picks its database — db_path, or the experiment
 * file's name with .db beside it. Returns 0, or the exit code (2: a bad
 * file) after printing one line. */
int experiment_session_load(experiment_session *s, const char *path, const char *db_path, int quiet);
/* Opens (or creates) the database and records the experiment and its plan. */
int experiment_session_open_db(experiment_session *s);
void experiment_session_close(experiment_session *s);

/* The database a sweep of path uses by default: demo.yaml -> demo.db beside it. */
char *experiment_default_db(const char *path);

/* Lines saying which variants will fail because a knob is not built yet. */
void experiment_note_unbuilt_knobs(const gt_experiment *exp);

/* From here until experiment_signals_restore, SIGINT/SIGTERM/SIGHUP set
 * *s->sweep.stop: the run under way stops and the command ends. */
void experiment_signals_install(experiment_session *s);
void experiment_signals_restore(void);

/* The per-variant summary of what the database holds (Table I in short), and
 * where the full report comes from. */
void experiment_print_summary(experiment_session *s, FILE *out);

#endif
