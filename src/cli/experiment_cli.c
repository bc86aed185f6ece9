/* Shared pieces of `greentune sweep` and `greentune search`. */
#include "experiment_cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "greentune/analysis.h"
#include "greentune/knobs.h"

static volatile sig_atomic_t stop_requested;
static struct sigaction old_actions[3];
static const int handled[3] = {SIGINT, SIGTERM, SIGHUP};

static void on_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
}

void experiment_signals_install(experiment_session *s)
{
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_stop;
    sigemptyset(&action.sa_mask);
    for (int i = 0; i < 3; i++)
        sigaction(handled[i], &action, &old_actions[i]);
    /* Inherited SIGCHLD ignored would reap the runs behind the sweep's back
     * and hide how they ended. */
    signal(SIGCHLD, SIG_DFL);
    s->sweep.stop = &stop_requested;
}

void experiment_signals_restore(void)
{
    for (int i = 0; i < 3; i++)
        sigaction(handled[i], &old_actions[i], NULL);
}

char *experiment_default_db(const char *path)
{
    size_t n = strlen(path);
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(path, '.');
    if (dot && (!slash || dot > slash + 1))
        n = (size_t)(dot - path);
    char *db = malloc(n + 4);
    if (db)
        snprintf(db, n + 4, "%.*s.db", (int)n, path);
    return db;
}

/* A note over the progress bar's line; the bar comes back with the next
 * update. The phase goes on (ending it would reset the bar's rate and ETA). */
static void log_over_bar(void *ctx, const char *line)
{
    (void)ctx;
    fprintf(stderr, "\r\033[K");
    fprintf(stderr, "greentune: %s\n", line);
}

static void log_plain(void *ctx, const char *line)
{
    (void)ctx;
    fprintf(stderr, "greentune: %s\n", line);
}

int experiment_session_load(experiment_session *s, const char *path, const char *db_path, int quiet)
{
    memset(s, 0, sizeof *s);
    gt_error err = {0};
    if (gt_experiment_load(path, &s->exp, &err) != GT_OK)
        return cli_fail(CLI_EXIT_USAGE, "%s", err.message);
    s->db_path = db_path ? strdup(db_path) : experiment_default_db(path);
    if (!s->db_path)
        return cli_fail(CLI_EXIT_FAILURE, "out of memory");
    gt_sweep_options_init(&s->sweep);
    /* On a terminal, a bar with the run under way and its stage; elsewhere
     * (a log file, CI) the per-run lines alone, which carry the ETA. */
    gt_progress_options po = {.tty = 1, .unit = "run"};
    s->progress = quiet || !cli_stderr_is_tty() ? NULL : gt_progress_new(&po);
    if (s->progress)
        s->sweep.progress = gt_progress_sink_of(s->progress);
    if (!quiet)
        s->sweep.log = s->progress ? log_over_bar : log_plain;
    return 0;
}

int experiment_session_open_db(experiment_session *s)
{
    gt_error err = {0};
    if (!cli_check_output("--db", s->db_path))
        return CLI_EXIT_USAGE;
    if (gt_store_open(&s->db, s->db_path, NULL, &err) != GT_OK ||
        gt_sweep_prepare(s->db, &s->exp, &s->experiment_id, &err) != GT_OK)
        return cli_fail_error(&err);
    return 0;
}

void experiment_session_close(experiment_session *s)
{
    gt_progress_free(s->progress);
    gt_store_close(s->db);
    gt_experiment_free(&s->exp);
    free(s->db_path);
    memset(s, 0, sizeof *s);
}

void experiment_note_unbuilt_knobs(const gt_experiment *exp)
{
    for (size_t i = 0; i < exp->n_variants; i++) {
        const cJSON *k;
        cJSON_ArrayForEach(k, exp->variants[i].knobs) {
            const gt_knob_def *def = gt_knob_find(k->string);
            if (def && def->effect == GT_KNOB_PENDING && !cJSON_IsFalse(k)) {
                fprintf(stderr,
                        "greentune: note: variant '%s': knob \"%s\" is not built yet — its runs will fail, "
                        "each one recorded, and the sweep goes on\n",
                        exp->variants[i].name, k->string);
                break;
            }
        }
    }
}

/* "412.3 ± 10.1" (or without ± for a single run) into buf. */
static const char *with_ci(const gt_summary *s, int decimals, char *buf, size_t size)
{
    if (s->n == 0 || isnan(s->mean))
        snprintf(buf, size, "-");
    else if (isnan(s->ci_hi))
        snprintf(buf, size, "%.*f", decimals, s->mean);
    else
        snprintf(buf, size, "%.*f ± %.*f", decimals, s->mean, decimals, (s->ci_hi - s->ci_lo) / 2);
    return buf;
}

static const char *delta_text(const gt_delta *d, char *buf, size_t size)
{
    if (isnan(d->pct))
        snprintf(buf, size, "-");
    else if (isnan(d->ci_lo))
        snprintf(buf, size, "%+.1f%s", d->pct, d->tested ? "" : " ‡");
    else
        snprintf(buf, size, "%+.1f [%+.1f, %+.1f]%s", d->pct, d->ci_lo, d->ci_hi, d->significant ? "" : " †");
    return buf;
}

/* text left-aligned in width columns (printf pads by bytes, not characters) */
static void print_cell(FILE *out, const char *text, int width)
{
    int columns = cli_display_width(text);
    fprintf(out, "%s%*s ", text, width > columns ? width - columns : 0, "");
}

static void print_table(const gt_analysis *a, FILE *out)
{
    const gt_variant_summary *base = a->baseline != GT_NONE ? &a->variants[a->baseline] : NULL;
    fprintf(out, "%-20s %7s  ", "variant", "runs");
    print_cell(out, "energy J", 18);
    print_cell(out, "Δ energy %", 26);
    print_cell(out, "time s", 14);
    fprintf(out, "%-7s %s\n", "F1", "Δ F1 pts");
    for (size_t i = 0; i < a->n_variants; i++) {
        const gt_variant_summary *v = &a->variants[i];
        char runs[32], energy[48], delta[64], time[48], f1[16] = "-", df1[16] = "-";
        snprintf(runs, sizeof runs, "%zu/%zu", v->runs, v->runs + v->failed + v->pending);
        if (v->has_metrics && !isnan(v->f1.mean))
            snprintf(f1, sizeof f1, "%.3f", v->f1.mean);
        if (base && v != base && v->has_metrics && base->has_metrics && !isnan(v->f1.mean) && !isnan(base->f1.mean))
            snprintf(df1, sizeof df1, "%+.2f", 100 * (v->f1.mean - base->f1.mean));
        fprintf(out, "%-20.20s %7s  ", v->name, runs);
        print_cell(out, with_ci(&v->energy, 1, energy, sizeof energy), 18);
        print_cell(out, v == base ? "(baseline)" : delta_text(&v->d_energy, delta, sizeof delta), 26);
        print_cell(out, with_ci(&v->duration, 1, time, sizeof time), 14);
        fprintf(out, "%-7s %s%s\n", f1, df1, v->external ? "  (external)" : "");
        if (v->failed && v->first_error)
            fprintf(out, "%-20s   %zu failed: %.150s\n", "", v->failed, v->first_error);
    }
    fprintf(out, "energy: meter %s%s; ± is the 95 %% CI half-width, [..] the 95 %% CI of the change; "
                 "† not significant, ‡ untested (fewer than 2 runs)\n",
            a->meter, a->estimated ? " — ESTIMATED, not measured" : " (hardware counters)");
}

void experiment_print_summary(experiment_session *s, FILE *out)
{
    gt_error err = {0};
    gt_experiment_data data;
    gt_analysis a;
    if (gt_store_load(s->db, s->exp.name, &data, &err) != GT_OK) {
        fprintf(stderr, "greentune: %s\n", err.message);
        return;
    }
    gt_status st = gt_analyze(&data, &a, &err);
    gt_experiment_data_free(&data);
    if (st != GT_OK) {
        fprintf(stderr, "greentune: %s\n", err.message);
        return;
    }
    fprintf(out, "\n%s (%s)\n", s->exp.name, s->db_path);
    print_table(&a, out);
    fprintf(out, "full report: greentune report %s --out report.html   (or --format md|csv|json)\n", s->db_path);
    gt_analysis_free(&a);
}
