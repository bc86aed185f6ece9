/* A sweep: the experiment and its plan into the store, then every pending run
 * claimed, executed and stored — one transaction per move — so that a sweep
 * stopped at any moment (Ctrl-C, kill -9, power loss) resumes by running the
 * same command again. Ctrl-C and SIGTERM stop cleanly: the run under way is
 * stopped and put back to planned. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "experiment_internal.h"
#include "greentune/energy.h"

double exp_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int exp_sleep(double seconds, volatile sig_atomic_t *stop)
{
    double end = exp_now() + seconds;
    for (;;) {
        if (stop && *stop)
            return 1;
        double left = end - exp_now();
        if (left <= 0)
            return 0;
        if (left > 0.1)
            left = 0.1;
        struct timespec ts = {0, (long)(left * 1e9)};
        nanosleep(&ts, NULL);
    }
}

void gt_sweep_options_init(gt_sweep_options *o)
{
    memset(o, 0, sizeof *o);
    o->measure_idle = 1;
}

gt_status exp_store_experiment(gt_store *store, const gt_experiment *exp, int64_t *experiment_id, gt_error *err)
{
    gt_variant_spec *variants = calloc(exp->n_variants, sizeof *variants);
    if (!variants)
        return gt_error_set(err, GT_ERR_NOMEM, "sweep: out of memory");
    for (size_t i = 0; i < exp->n_variants; i++)
        variants[i] = (gt_variant_spec){exp->variants[i].name, exp->variants[i].knobs_json,
                                        exp->variants[i].command_json};
    gt_experiment_spec spec = {exp->name, exp->spec_text, exp->baseline, variants, exp->n_variants};
    gt_status st = gt_store_experiment(store, &spec, experiment_id, err);
    free(variants);
    return st;
}

gt_status gt_sweep_prepare(gt_store *store, const gt_experiment *exp, int64_t *experiment_id, gt_error *err)
{
    gt_run_plan *plan = calloc(exp->n_variants * (size_t)exp->repeats, sizeof *plan);
    if (!plan)
        return gt_error_set(err, GT_ERR_NOMEM, "sweep: out of memory");
    gt_status st = exp_store_experiment(store, exp, experiment_id, err);
    if (st == GT_OK) {
        gt_experiment_plan(exp, plan);
        st = gt_store_plan_runs(store, *experiment_id, plan, exp->n_variants * (size_t)exp->repeats, err);
    }
    free(plan);
    return st;
}

/* --- reporting ------------------------------------------------------------------ */

static void note(const gt_sweep_options *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(const gt_sweep_options *o, const char *fmt, ...)
{
    if (!o->log)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    o->log(o->log_ctx, line);
}

typedef struct {
    const gt_sweep_options *o;
    uint64_t finished, total;    /* runs */
    char run[GT_NAME_MAX + 32];  /* "V8 #2" */
    double started;              /* this sweep's first run */
    size_t executed;             /* runs this sweep carried out */
} sweep_progress;

static void show(const sweep_progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void show(const sweep_progress *p, const char *fmt, ...)
{
    char text[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    gt_progress_report(&p->o->progress, "sweep", p->finished, p->total, "%s", text);
}

/* "1:02:03" left, from the mean time of the runs this sweep has carried out
 * (cooldowns included); "" before the first one. */
static void eta_text(const sweep_progress *p, char *buf, size_t size)
{
    buf[0] = '\0';
    if (!p->executed || p->finished >= p->total)
        return;
    long s = (long)((exp_now() - p->started) / (double)p->executed * (double)(p->total - p->finished) + 0.5);
    if (s >= 3600)
        snprintf(buf, size, ", ETA %ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(buf, size, ", ETA %ld:%02ld", s / 60, s % 60);
}

/* The run's own progress (a stage and its share) as the sweep's status. */
static void run_progress(void *ctx, const char *label, uint64_t done, uint64_t total, const char *status)
{
    (void)status;
    sweep_progress *p = ctx;
    if (total)
        show(p, "%s: %s %.0f%%", p->run, label, 100.0 * (double)done / (double)total);
    else
        show(p, "%s: %s", p->run, label);
}

static double json_number(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* "412.3 J (estimate, estimated), 61.2 s, F1 0.951" */
static void describe_record(const cJSON *record, char *buf, size_t size)
{
    const cJSON *total = cJSON_GetObjectItemCaseSensitive(record, "total");
    const cJSON *where = cJSON_IsObject(total) ? total : record;
    const cJSON *meter = cJSON_GetObjectItemCaseSensitive(record, "meter");
    int estimated = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(record, "estimated"));
    double f1 = json_number(cJSON_GetObjectItemCaseSensitive(record, "metrics"), "f1");
    int n = snprintf(buf, size, "%.1f J (%s%s), %.1f s", json_number(where, "energy_j"),
                     cJSON_IsString(meter) ? meter->valuestring : "?", estimated ? ", estimated" : "",
                     json_number(where, "duration_s"));
    if (!isnan(f1) && n > 0 && (size_t)n < size)
        snprintf(buf + n, size - (size_t)n, ", F1 %.3f", f1);
}

/* --- before the runs ------------------------------------------------------------- */

static gt_status measure_idle(gt_store *store, const gt_experiment *exp, int64_t id, const sweep_progress *p,
                              gt_error *err)
{
    const gt_sweep_options *o = p->o;
    gt_measure_options mo;
    gt_measure_options_init(&mo);
    mo.meter = exp->meter;
    mo.interval_ms = exp->interval_ms;
    show(p, "measuring idle power for %g s", exp->idle_s);
    gt_energy_result r;
    gt_status st = gt_measure_idle(&mo, exp->idle_s, &r, err);
    if (st != GT_OK)
        return gt_error_prefix(err, "idle measurement: ");
    gt_idle_measurement idle = {r.meter, r.estimated, r.total.duration_s, r.total.energy_j};
    st = gt_store_add_idle(store, id, &idle, err);
    if (st == GT_OK)
        note(o, "idle power %.2f W over %.1f s (%s%s)", r.avg_power_w, r.total.duration_s, r.meter,
             r.estimated ? ", estimated" : "");
    gt_energy_result_free(&r);
    return st;
}

/* Cooldown, then (thermal_band_c) temperatures back near their idle values. */
static void cool_down(const gt_experiment *exp, const sweep_progress *p, const gt_temperatures *idle,
                      int *thermal_ok)
{
    const gt_sweep_options *o = p->o;
    if (exp->cooldown_s > 0) {
        show(p, "cooling down for %g s", exp->cooldown_s);
        exp_sleep(exp->cooldown_s, o->stop);
    }
    if (exp->thermal_band_c <= 0 || !*thermal_ok || (o->stop && *o->stop))
        return;
    gt_thermal_options to = {exp->thermal_band_c, exp->cooldown_s * 10 > 60 ? exp->cooldown_s * 10 : 60, 0,
                             *idle, NULL, NULL, NULL};
    gt_thermal_report tr;
    gt_error err = {0};
    if (gt_thermal_wait(&to, &tr, &err) != GT_OK) {
        note(o, "thermal_band_c: %s — runs go on without the thermal gate", err.message);
        *thermal_ok = 0;
    } else if (tr.timed_out) {
        note(o, "thermal gate: still above idle + %g °C after %.0f s; going on", exp->thermal_band_c, tr.waited_s);
    }
}

/* --- the runs ------------------------------------------------------------------- */

static const gt_sweep_variant *find_in(const gt_sweep_variant *variants, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(variants[i].name, name))
            return &variants[i];
    return NULL;
}

/* Stores what became of a run: done (its record), failed (error and output
 * tail), or back to planned (interrupted). */
static gt_status store_outcome(gt_store *store, const gt_run_ref *ref, gt_run_outcome *out, const char *label,
                               const gt_sweep_options *o, gt_sweep_summary *s, gt_error *err)
{
    if (out->interrupted) {
        s->interrupted = 1;
        note(o, "%s: stopped; it goes back to the plan", label);
        return gt_store_release_run(store, ref->id, err);
    }
    if (out->record) {
        gt_error bad = {0};
        gt_status st = gt_store_finish_run(store, ref->id, out->record, &bad);
        if (st == GT_OK) {
            char what[256];
            describe_record(out->record, what, sizeof what);
            s->done++;
            note(o, "%s: done, %s", label, what);
            return GT_OK;
        }
        if (st != GT_ERR_INVALID) { /* the store itself failed: the sweep cannot go on */
            *err = bad;
            return st;
        }
        out->error = strdup(bad.message); /* a record the store refuses fails its run */
    }
    const char *why = out->error ? out->error : "failed without a message";
    gt_status st = gt_store_fail_run(store, ref->id, why, out->output_tail, err);
    if (st == GT_OK) {
        s->failed++;
        note(o, "%s: failed: %s", label, why);
    }
    return st;
}

static gt_status count_runs(gt_store *store, int64_t id, const gt_sweep_variant *variants, size_t n,
                            size_t counts[4], gt_error *err)
{
    memset(counts, 0, 4 * sizeof *counts);
    for (size_t i = 0; i < n; i++) {
        size_t c[4];
        gt_status st = gt_store_run_counts(store, id, variants[i].name, c, err);
        if (st != GT_OK)
            return st;
        for (int k = 0; k < 4; k++)
            counts[k] += c[k];
    }
    return GT_OK;
}

gt_status gt_sweep_execute(gt_store *store, const gt_experiment *exp, int64_t experiment_id,
                           const gt_sweep_variant *variants, size_t n_variants, const gt_sweep_options *o,
                           gt_sweep_summary *s, gt_error *err)
{
    memset(s, 0, sizeof *s);
    const gt_run_executor *executor = o->executor ? o->executor : gt_run_executor_fork();
    size_t counts[4];
    gt_run_ref *pending = NULL;
    size_t n_pending = 0;
    gt_status st = count_runs(store, experiment_id, variants, n_variants, counts, err);
    if (st == GT_OK)
        st = gt_store_pending_runs(store, experiment_id, o->retry_failed, &pending, &n_pending, err);
    if (st != GT_OK)
        return st;
    s->planned = counts[GT_RUN_PLANNED] + counts[GT_RUN_RUNNING] + counts[GT_RUN_DONE] + counts[GT_RUN_FAILED];
    s->done_before = counts[GT_RUN_DONE];
    size_t todo = 0;
    for (size_t i = 0; i < n_pending; i++)
        if (find_in(variants, n_variants, pending[i].variant))
            pending[todo++] = pending[i];

    sweep_progress progress = {o, s->planned - todo, s->planned, "", exp_now(), 0};
    gt_progress_sink run_sink = {run_progress, &progress};
    gt_temperatures idle_temperatures;
    int thermal_ok = exp->thermal_band_c > 0;
    if (thermal_ok)
        gt_temperatures_read(&idle_temperatures);
    if (todo && o->measure_idle && exp->idle_s > 0 && !(o->stop && *o->stop))
        st = measure_idle(store, exp, experiment_id, &progress, err);

    int ran = 0;
    for (size_t i = 0; st == GT_OK && i < todo && !(o->stop && *o->stop); i++) {
        const gt_run_ref *ref = &pending[i];
        int claimed = 0;
        if ((st = gt_store_claim_run(store, ref->id, o->retry_failed, &claimed, err)) != GT_OK || !claimed)
            continue; /* another sweep of the same database took it */
        if (ran++)
            cool_down(exp, &progress, &idle_temperatures, &thermal_ok);
        else
            progress.started = exp_now();
        snprintf(progress.run, sizeof progress.run, "%s #%d", ref->variant, ref->repeat + 1);
        show(&progress, "%s: starting", progress.run);
        gt_run_outcome out;
        memset(&out, 0, sizeof out);
        st = executor->run(executor->ctx, exp, find_in(variants, n_variants, ref->variant), ref->repeat, &run_sink,
                           o->stop, &out, err);
        if (st == GT_OK) {
            if (!out.interrupted)
                progress.finished++, progress.executed++;
            char label[GT_NAME_MAX + 96], eta[32];
            eta_text(&progress, eta, sizeof eta);
            snprintf(label, sizeof label, "[%llu/%llu%s] %s", (unsigned long long)progress.finished,
                     (unsigned long long)progress.total, eta, progress.run);
            st = store_outcome(store, ref, &out, label, o, s, err);
            show(&progress, "%s: %s", progress.run,
                   out.interrupted ? "stopped" : out.record && !out.error ? "done" : "failed");
        } else {
            gt_error ignored = {0};
            gt_store_release_run(store, ref->id, &ignored);
        }
        int interrupted = out.interrupted;
        gt_run_outcome_free(&out);
        if (interrupted)
            break;
    }
    free(pending);
    if (o->stop && *o->stop)
        s->interrupted = 1;
    size_t after[4];
    gt_error count_err = {0};
    if (count_runs(store, experiment_id, variants, n_variants, after, &count_err) == GT_OK)
        s->remaining = s->planned - after[GT_RUN_DONE];
    return st;
}
