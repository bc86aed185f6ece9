/* A measurement: one meter over a window, split into named tasks.
 *
 * The counters are read at the start, at every task boundary and at the end;
 * a task's energy is the difference of its two boundary readings, summed over
 * its runs (and so is the process tree's share, when the meter attributes).
 * The sampler thread runs beside this for the power trace.
 *
 * Nesting: a task's parent is the innermost task running when it first
 * starts (the one started last); if a later run starts outside the parent,
 * or the parent stops first, the two overlap rather than nest and the task
 * is reported at the top level, with a note.
 *
 * Forecasts (forecast.c does the arithmetic): progress reports of a task's
 * current run extrapolate its energy and time; the first one that reaches
 * forecast_at is kept in the result and compared with the outcome.
 *
 * A meter that fails mid-measurement (a counter file vanished, NVML lost)
 * loses no result: a reading that fails becomes the meter's last good one
 * (joules and process share), with the real time, so the energy after it is
 * missing, never invented. Windows closed on such a reading are marked
 * incomplete (lower bounds), and a run whose start reading was lost counts its
 * time but no energy. Windows whose own boundaries were read stay exact, since
 * the counters are cumulative. */
#include "energy/internal.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define TASKS_MAX 1024

typedef struct {
    gt_task_result result;
    int running;
    double t_start, j_start[GT_COMPONENTS], p_start[GT_COMPONENTS];
    int start_lost;     /* the meter failed at the current run's start: the run counts no energy */
    long start_seq;     /* when the current run started, in task starts */
    int parent;         /* index, -1 at the top level */
    run_progress progress;
    int forecast_run;   /* the run (0-based) whose forecast was kept, -1 none */
} task;

struct gt_measurement {
    gt_meter *meter;
    gt_measure_options opt;
    pthread_mutex_t lock; /* tasks and notes: task calls may come from several threads */
    double t0, j0[GT_COMPONENTS], p0[GT_COMPONENTS];
    task *tasks;
    int task_count;
    long starts;
    char **notes;
    int note_count;
    sampler *sampler;
    int lost_count;      /* readings that failed after the start, */
    gt_error lost;       /* the first one's error */
    double lost_after_s; /* and the time of the last good reading before it */
};

void gt_measure_options_init(gt_measure_options *o)
{
    memset(o, 0, sizeof *o);
    o->meter = "auto";
    o->scope = GT_SCOPE_PROCESS;
    o->interval_ms = 100;
    o->forecast_at = 0.1;
}

/* One reading of the meter: time, joules, the tree's share. */
typedef struct {
    double t, j[GT_COMPONENTS], p[GT_COMPONENTS];
} reading;

static gt_status read_now(gt_measurement *m, reading *r, gt_error *err)
{
    return meter_read_all(m->meter, &r->t, r->j, r->p, err);
}

/* The reading r (its time already the real one) failed: it becomes the
 * meter's last good one; the first failure is kept for the result's note. */
static void reading_lost(gt_measurement *m, const gt_error *why, reading *r)
{
    double good_t = m->t0;
    if (!meter_last_good(m->meter, &good_t, r->j, r->p)) {
        memcpy(r->j, m->j0, sizeof r->j);
        memcpy(r->p, m->p0, sizeof r->p);
    }
    if (m->lost_count++ == 0) {
        m->lost = *why;
        m->lost_after_s = good_t - m->t0;
    }
}

/* Reads the counters after the start (a task boundary, a progress report, a
 * snapshot); 0 when the meter failed there and r is the last good reading. */
static int boundary_read(gt_measurement *m, reading *r)
{
    gt_error err = {0};
    if (read_now(m, r, &err) == GT_OK)
        return 1;
    reading_lost(m, &err, r);
    return 0;
}

gt_status gt_measurement_start(const gt_measure_options *o, gt_measurement **out, gt_error *err)
{
    *out = NULL;
    if (o->interval_ms < 0 || o->interval_ms > 3600 * 1000)
        return gt_error_set(err, GT_ERR_INVALID, "interval_ms: %d is outside [0, 3600000]", o->interval_ms);
    if (!(o->forecast_at >= 0 && o->forecast_at <= 1))
        return gt_error_set(err, GT_ERR_INVALID, "forecast_at: %g is outside [0, 1]", o->forecast_at);
    gt_measurement *m = calloc(1, sizeof *m);
    if (!m)
        return gt_error_set(err, GT_ERR_NOMEM, "measurement: out of memory");
    m->opt = *o;
    pthread_mutex_init(&m->lock, NULL);
    gt_status s = gt_meter_open(o, &m->meter, err);
    reading r;
    if (s == GT_OK && (s = read_now(m, &r, err)) == GT_OK) {
        m->t0 = r.t;
        memcpy(m->j0, r.j, sizeof m->j0);
        memcpy(m->p0, r.p, sizeof m->p0);
    }
    if (s == GT_OK && o->interval_ms > 0)
        s = sampler_start(m->meter, o->interval_ms, o->keep_trace, m->t0, m->j0, &m->sampler, err);
    if (s != GT_OK) {
        gt_measurement_abort(m);
        return s;
    }
    *out = m;
    return GT_OK;
}

void gt_measurement_set_sync(gt_measurement *m, void (*sync)(void *ctx), void *ctx)
{
    pthread_mutex_lock(&m->lock);
    m->opt.sync = sync;
    m->opt.sync_ctx = ctx;
    pthread_mutex_unlock(&m->lock);
}

/* Queued GPU work belongs before the boundary: wait for it first. */
static void sync_device(gt_measurement *m)
{
    pthread_mutex_lock(&m->lock);
    void (*sync)(void *) = m->opt.sync;
    void *ctx = m->opt.sync_ctx;
    pthread_mutex_unlock(&m->lock);
    if (sync)
        sync(ctx);
}

static task *find_task(gt_measurement *m, const char *name)
{
    for (int i = 0; i < m->task_count; i++)
        if (!strcmp(m->tasks[i].result.name, name))
            return &m->tasks[i];
    return NULL;
}

static gt_status check_name(const char *name, gt_error *err)
{
    if (!name || !energy_task_name_valid(name, strlen(name)))
        return gt_error_set(err, GT_ERR_INVALID,
                            "task '%.64s': use 1 to %d characters from A-Z a-z 0-9 _ . : / + -",
                            name ? name : "(null)", GT_TASK_NAME_MAX);
    return GT_OK;
}

/* The running task started last, other than skip; -1 when none runs. */
static int innermost_running(const gt_measurement *m, const task *skip)
{
    int best = -1;
    for (int i = 0; i < m->task_count; i++)
        if (m->tasks[i].running && &m->tasks[i] != skip && (best < 0 || m->tasks[i].start_seq > m->tasks[best].start_seq))
            best = i;
    return best;
}

/* The task does not nest in its parent after all: report it at the top level. */
static void unnest(gt_measurement *m, task *k, const char *why)
{
    energy_note_add(&m->notes, &m->note_count, "task '%s': %s '%s', so it overlaps rather than nests; reported at "
                    "the top level", k->result.name, why, m->tasks[k->parent].result.name);
    k->parent = -1;
    k->result.parent[0] = '\0';
}

static gt_status new_task(gt_measurement *m, const char *name, task **out, gt_error *err)
{
    if (m->task_count == TASKS_MAX)
        return gt_error_set(err, GT_ERR_NOMEM, "task '%s': more than %d task names in one measurement", name,
                            TASKS_MAX);
    task *bigger = realloc(m->tasks, (size_t)(m->task_count + 1) * sizeof *bigger);
    if (!bigger)
        return gt_error_set(err, GT_ERR_NOMEM, "task '%s': out of memory", name);
    m->tasks = bigger;
    task *t = &m->tasks[m->task_count];
    memset(t, 0, sizeof *t);
    snprintf(t->result.name, sizeof t->result.name, "%s", name);
    t->result.progress = -1;
    t->forecast_run = -1;
    t->parent = innermost_running(m, NULL);
    if (t->parent >= 0)
        snprintf(t->result.parent, sizeof t->result.parent, "%s", m->tasks[t->parent].result.name);
    m->task_count++;
    *out = t;
    return GT_OK;
}

gt_status gt_measurement_task_start(gt_measurement *m, const char *name, gt_error *err)
{
    gt_status s = check_name(name, err);
    if (s != GT_OK)
        return s;
    sync_device(m);
    pthread_mutex_lock(&m->lock);
    task *t = find_task(m, name);
    reading r;
    if (t && t->running)
        s = gt_error_set(err, GT_ERR_INVALID, "task '%s': already running (stop it before starting it again)", name);
    else if (!t)
        s = new_task(m, name, &t, err);
    else if (t->parent >= 0 && !m->tasks[t->parent].running)
        unnest(m, t, "runs again outside");
    if (s == GT_OK) {
        t->start_lost = !boundary_read(m, &r);
        t->result.incomplete |= t->start_lost;
        t->running = 1;
        t->start_seq = ++m->starts;
        t->t_start = r.t;
        memcpy(t->j_start, r.j, sizeof t->j_start);
        memcpy(t->p_start, r.p, sizeof t->p_start);
        memset(&t->progress, 0, sizeof t->progress);
    }
    pthread_mutex_unlock(&m->lock);
    return s;
}

static double sum(const double v[GT_COMPONENTS]) { return v[GT_CPU] + v[GT_DRAM] + v[GT_GPU]; }

/* The window of k's current run up to the reading r. A run whose start
 * reading was lost has its time but no energy: any figure would include
 * energy from before it began. */
static void run_window(const task *k, const reading *r, gt_energy_window *w, gt_energy_window *process)
{
    const double *j0 = k->start_lost ? r->j : k->j_start, *p0 = k->start_lost ? r->p : k->p_start;
    for (int c = 0; c < GT_COMPONENTS; c++) {
        w->joules[c] = r->j[c] - j0[c];
        process->joules[c] = r->p[c] - p0[c];
    }
    w->energy_j = sum(w->joules);
    process->energy_j = sum(process->joules);
    w->duration_s = process->duration_s = r->t - k->t_start;
}

static void add_window(gt_energy_window *to, const gt_energy_window *w)
{
    for (int c = 0; c < GT_COMPONENTS; c++)
        to->joules[c] += w->joules[c];
    to->energy_j += w->energy_j;
    to->duration_s += w->duration_s;
}

/* Adds the current run up to r and stops it. */
static void close_task(gt_measurement *m, task *k, const reading *r)
{
    gt_energy_window w, process;
    run_window(k, r, &w, &process);
    add_window(&k->result.window, &w);
    add_window(&k->result.process, &process);
    if (k->forecast_run == k->result.runs && !k->result.incomplete) /* a lower bound is no outcome */
        forecast_score(&k->result.forecast, &k->result.window);
    k->result.runs++;
    k->running = 0;
    for (int i = 0; i < m->task_count; i++) /* children still running do not nest in this run */
        if (m->tasks[i].running && m->tasks[i].parent == (int)(k - m->tasks))
            unnest(m, &m->tasks[i], "keeps running after");
}

gt_status gt_measurement_task_stop(gt_measurement *m, const char *name, gt_error *err)
{
    gt_status s = check_name(name, err);
    if (s != GT_OK)
        return s;
    sync_device(m);
    pthread_mutex_lock(&m->lock);
    task *k = find_task(m, name);
    reading r;
    if (!k || !k->running)
        s = gt_error_set(err, GT_ERR_INVALID, "task '%s': stop without a start", name);
    else {
        k->result.incomplete |= !boundary_read(m, &r);
        close_task(m, k, &r);
    }
    pthread_mutex_unlock(&m->lock);
    return s;
}

/* The rest of every top-level running task with a forecast, as of r: the
 * extra energy and the longest extra time the run can expect. */
static void remaining(const gt_measurement *m, const reading *r, double *energy_j, double *time_s)
{
    *energy_j = *time_s = 0;
    for (int i = 0; i < m->task_count; i++) {
        const task *k = &m->tasks[i];
        if (!k->running || !k->progress.predicted)
            continue;
        int covered = 0; /* an ancestor's forecast already holds this one */
        for (int a = k->parent; a >= 0 && !covered; a = m->tasks[a].parent)
            covered = m->tasks[a].running && m->tasks[a].progress.predicted;
        if (covered)
            continue;
        gt_energy_window w, process;
        run_window(k, r, &w, &process);
        *energy_j += fmax(0, k->progress.run_energy_j - w.energy_j);
        *time_s = fmax(*time_s, k->progress.run_duration_s - w.duration_s);
    }
}

gt_status gt_measurement_progress(gt_measurement *m, const char *name, double fraction, gt_forecast *out,
                                  gt_error *err)
{
    gt_status s = check_name(name, err);
    if (s != GT_OK)
        return s;
    if (!(fraction >= 0 && fraction <= 1))
        return gt_error_set(err, GT_ERR_INVALID, "task '%s': progress %g is outside [0, 1]", name, fraction);
    sync_device(m);
    pthread_mutex_lock(&m->lock);
    task *k = find_task(m, name);
    reading r;
    gt_forecast f;
    int made = 0;
    if (!k || !k->running)
        s = gt_error_set(err, GT_ERR_INVALID, "task '%s': progress of a task that is not running", name);
    else if (!boundary_read(m, &r) || k->start_lost)
        k->result.progress = fraction; /* no forecast: the run's energy so far is not known */
    else {
        gt_energy_window w, process;
        run_window(k, &r, &w, &process);
        k->result.progress = fraction;
        made = forecast_update(&k->progress, fraction, w.energy_j, w.duration_s);
        if (made) {
            memset(&f, 0, sizeof f);
            snprintf(f.task, sizeof f.task, "%s", k->result.name);
            f.fraction = fraction;
            f.at_s = r.t - m->t0;
            f.elapsed_s = k->result.window.duration_s + w.duration_s;
            f.energy_j = k->result.window.energy_j + w.energy_j;
            f.task_energy_j = k->result.window.energy_j + k->progress.run_energy_j;
            f.task_duration_s = k->result.window.duration_s + k->progress.run_duration_s;
            double extra_j, extra_s;
            remaining(m, &r, &extra_j, &extra_s);
            f.run_energy_j = sum(r.j) - sum(m->j0) + extra_j;
            f.run_duration_s = f.at_s + extra_s;
            f.estimated = gt_meter_is_estimate(m->meter);
            if (k->forecast_run < 0 && fraction >= m->opt.forecast_at) {
                k->result.forecast = f;
                k->result.has_forecast = 1;
                k->forecast_run = k->result.runs;
            }
        }
    }
    void (*report)(void *, const gt_forecast *) = m->opt.on_forecast;
    void *ctx = m->opt.forecast_ctx;
    pthread_mutex_unlock(&m->lock);
    if (made && out)
        *out = f;
    else if (out)
        memset(out, 0, sizeof *out);
    if (made && report)
        report(ctx, &f);
    return s;
}

gt_status gt_measurement_control(gt_measurement *m, const char *line, gt_error *err)
{
    char name[GT_TASK_NAME_MAX + 1];
    double value;
    size_t len = strlen(line);
    if (len > CONTROL_LINE_MAX)
        return gt_error_set(err, GT_ERR_INVALID, "control: %s", control_kind_text(CONTROL_TOO_LONG));
    control_kind kind = control_parse_line(line, len, name, &value);
    switch (kind) {
    case CONTROL_START: return gt_measurement_task_start(m, name, err);
    case CONTROL_STOP: return gt_measurement_task_stop(m, name, err);
    case CONTROL_PROGRESS: return gt_measurement_progress(m, name, value, NULL, err);
    case CONTROL_EMPTY: return GT_OK;
    default: return gt_error_set(err, GT_ERR_INVALID, "control: %s", control_kind_text(kind));
    }
}

/* The result as of the reading r; complete: r itself was read (not the last
 * good reading standing in for a failed one). */
static void fill_result(gt_measurement *m, const reading *r, int complete, gt_energy_result *res)
{
    snprintf(res->meter, sizeof res->meter, "%s", gt_meter_name(m->meter));
    res->estimated = gt_meter_is_estimate(m->meter);
    res->scope = GT_SCOPE_MACHINE;
    for (int c = 0; c < GT_COMPONENTS; c++) {
        snprintf(res->sources[c], sizeof res->sources[c], "%s", gt_meter_source(m->meter, (gt_component)c));
        res->total.joules[c] = r->j[c] - m->j0[c];
        res->process.window.joules[c] = r->p[c] - m->p0[c];
    }
    res->total.energy_j = sum(res->total.joules);
    res->process.window.energy_j = sum(res->process.window.joules);
    snprintf(res->description, sizeof res->description, "%s", gt_meter_describe(m->meter));
    res->total.duration_s = res->process.window.duration_s = r->t - m->t0;
    res->process.attributed = meter_process(m->meter, &res->process.pid, res->process.method);
    res->avg_power_w = res->total.duration_s > 0 ? res->total.energy_j / res->total.duration_s : 0;
    res->interval_ms = m->opt.interval_ms;
    estimate_machine_info(res->cpu_model, sizeof res->cpu_model, &res->cpu_count, &res->ram_total_gb);
    meter_gpu_info(m->meter, &res->gpu_count, res->gpu_model, sizeof res->gpu_model);
    for (int i = 0; i < gt_meter_note_count(m->meter); i++)
        energy_note_add(&res->notes, &res->note_count, "%s", gt_meter_note(m->meter, i));
    for (int i = 0; i < m->note_count; i++)
        energy_note_add(&res->notes, &res->note_count, "%s", m->notes[i]);
    res->incomplete = !complete;
    if (m->lost_count)
        energy_note_add(&res->notes, &res->note_count,
                        "meter: %d reading(s) failed (first: %s); energy after %.3f s stops at the last good "
                        "reading, so what is marked incomplete is a lower bound",
                        m->lost_count, m->lost.message, m->lost_after_s);
}

/* Moves the sampler's figures into r, times and joules relative to the start. */
static void take_samples(gt_measurement *m, const sampler_stats *st, gt_energy_result *r)
{
    r->sample_count = st->samples;
    r->peak_power_w = st->peak_w;
    r->sampler_cpu_s = st->cpu_s;
    r->trace = st->trace;
    r->trace_count = st->trace_count;
    for (long i = 0; i < st->trace_count; i++) {
        r->trace[i].t_s -= m->t0;
        for (int c = 0; c < GT_COMPONENTS; c++)
            r->trace[i].joules[c] -= m->j0[c];
    }
    if (st->errors)
        energy_note_add(&r->notes, &r->note_count, "sampler: %d reading(s) failed; first: %s", st->errors,
                        st->first_error.message);
    if (st->late)
        energy_note_add(&r->notes, &r->note_count,
                        "sampler: %ld tick(s) came more than one interval late (a loaded machine); the trace has gaps",
                        st->late);
}

/* Copies the tasks into r; running ones (snapshots) include their run so far,
 * and are incomplete when now is a lost reading (r->incomplete). */
static gt_status copy_tasks(gt_measurement *m, const reading *now, gt_energy_result *r, gt_error *err)
{
    if (m->task_count && !(r->tasks = calloc((size_t)m->task_count, sizeof *r->tasks)))
        return gt_error_set(err, GT_ERR_NOMEM, "measurement: out of memory");
    for (int i = 0; i < m->task_count; i++) {
        const task *k = &m->tasks[i];
        r->tasks[i] = k->result;
        if (k->running) {
            gt_energy_window w, process;
            run_window(k, now, &w, &process);
            add_window(&r->tasks[i].window, &w);
            add_window(&r->tasks[i].process, &process);
            r->tasks[i].running = 1;
            r->tasks[i].incomplete |= r->incomplete;
        }
    }
    r->task_count = m->task_count;
    return GT_OK;
}

gt_status gt_measurement_snapshot(gt_measurement *m, gt_energy_result *r, gt_error *err)
{
    memset(r, 0, sizeof *r);
    pthread_mutex_lock(&m->lock);
    reading now;
    int complete = boundary_read(m, &now);
    fill_result(m, &now, complete, r);
    if (m->sampler)
        sampler_power(m->sampler, r->power_w);
    gt_status s = copy_tasks(m, &now, r, err);
    pthread_mutex_unlock(&m->lock);
    if (s != GT_OK)
        gt_energy_result_free(r);
    return s;
}

gt_status gt_measurement_finish(gt_measurement *m, gt_energy_result *r, gt_error *err)
{
    memset(r, 0, sizeof *r);
    sync_device(m);
    reading end;
    sampler_stats st = {0};
    pthread_mutex_lock(&m->lock);
    gt_status s;
    gt_error final = {0};
    if (m->sampler) { /* the sampler's last point is the final reading */
        s = sampler_stop(m->sampler, &end.t, end.j, end.p, &st, &final);
        m->sampler = NULL;
    } else {
        s = read_now(m, &end, &final);
    }
    int complete = s == GT_OK; /* a meter that failed at the end still leaves what it measured before */
    if (!complete)
        reading_lost(m, &final, &end);
    for (int i = 0; i < m->task_count; i++)
        if (m->tasks[i].running) {
            m->tasks[i].result.incomplete |= !complete;
            close_task(m, &m->tasks[i], &end);
            m->tasks[i].result.open_at_finish = 1;
            m->tasks[i].result.forecast.has_error = 0; /* cut short: no outcome to compare with */
            energy_note_add(&m->notes, &m->note_count, "task '%s': still running at the end; closed there",
                            m->tasks[i].result.name);
        }
    fill_result(m, &end, complete, r);
    take_samples(m, &st, r);
    s = copy_tasks(m, &end, r, err);
    pthread_mutex_unlock(&m->lock);
    gt_measurement_abort(m);
    if (s != GT_OK) {
        if (r->trace != st.trace)
            free(st.trace);
        gt_energy_result_free(r);
    }
    return s;
}

void gt_measurement_abort(gt_measurement *m)
{
    if (!m)
        return;
    if (m->sampler) {
        double t, j[GT_COMPONENTS];
        sampler_stats st;
        sampler_stop(m->sampler, &t, j, NULL, &st, NULL);
        free(st.trace);
    }
    gt_meter_close(m->meter);
    free(m->tasks);
    energy_notes_free(m->notes, m->note_count);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

void gt_energy_result_free(gt_energy_result *r)
{
    if (!r)
        return;
    free(r->tasks);
    free(r->trace);
    energy_notes_free(r->notes, r->note_count);
    memset(r, 0, sizeof *r);
}

gt_status gt_measure_idle(const gt_measure_options *o, double seconds, gt_energy_result *r, gt_error *err)
{
    memset(r, 0, sizeof *r);
    if (!(seconds > 0 && seconds <= 3600))
        return gt_error_set(err, GT_ERR_INVALID, "idle: %g s is outside (0, 3600]", seconds);
    gt_measure_options idle = *o;
    idle.scope = GT_SCOPE_MACHINE;
    idle.keep_trace = 0;
    gt_measurement *m;
    gt_status s = gt_measurement_start(&idle, &m, err);
    if (s != GT_OK)
        return s;
    energy_sleep(seconds);
    return gt_measurement_finish(m, r, err);
}

void gt_energy_result_set_idle(gt_energy_result *r, const gt_energy_result *idle, int subtract)
{
    gt_idle_baseline *b = &r->idle;
    memset(b, 0, sizeof *b);
    double d = idle->total.duration_s;
    b->measured = d > 0;
    b->power_w = idle->avg_power_w;
    for (int c = 0; c < GT_COMPONENTS; c++)
        b->component_w[c] = d > 0 ? idle->total.joules[c] / d : 0;
    b->duration_s = d;
    snprintf(b->meter, sizeof b->meter, "%s", idle->meter);
    b->estimated = idle->estimated;
    b->subtract = subtract;
}
