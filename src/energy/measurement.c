/* A measurement: one meter over a window, split into named tasks.
 *
 * The counters are read at the start, at every task boundary and at the end;
 * a task's energy is the difference of its two boundary readings, summed over
 * its runs. The sampler thread runs beside this for the power trace. */
#include "energy/internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TASKS_MAX 1024

typedef struct {
    gt_task_result result;
    int running;
    int start_lost; /* the meter failed at the start: this run counts no energy */
    double t_start, j_start[GT_COMPONENTS];
} task;

struct gt_measurement {
    gt_meter *meter;
    gt_measure_options opt;
    pthread_mutex_t lock; /* tasks and notes: task calls may come from several threads */
    double t0, j0[GT_COMPONENTS];
    task *tasks;
    int task_count;
    sampler *sampler;
    int lost_count;      /* boundary readings that failed, */
    gt_error lost;       /* the first one's error */
    double lost_after_s; /* and the time of the last good reading before it */
};

void gt_measure_options_init(gt_measure_options *o)
{
    memset(o, 0, sizeof *o);
    o->meter = "auto";
    o->scope = GT_SCOPE_PROCESS;
    o->interval_ms = 100;
}

gt_status gt_measurement_start(const gt_measure_options *o, gt_measurement **out, gt_error *err)
{
    *out = NULL;
    if (o->interval_ms < 0 || o->interval_ms > 3600 * 1000)
        return gt_error_set(err, GT_ERR_INVALID, "interval_ms: %d is outside [0, 3600000]", o->interval_ms);
    gt_measurement *m = calloc(1, sizeof *m);
    if (!m)
        return gt_error_set(err, GT_ERR_NOMEM, "measurement: out of memory");
    m->opt = *o;
    pthread_mutex_init(&m->lock, NULL);
    gt_status s = gt_meter_open(o, &m->meter, err);
    if (s == GT_OK)
        s = meter_read_timed(m->meter, &m->t0, m->j0, err);
    if (s == GT_OK && o->interval_ms > 0)
        s = sampler_start(m->meter, o->interval_ms, o->keep_trace, m->t0, m->j0, &m->sampler, err);
    if (s != GT_OK) {
        gt_measurement_abort(m);
        return s;
    }
    *out = m;
    return GT_OK;
}

/* A boundary reading failed (a counter file vanished, NVML lost): the reading
 * becomes the meter's last good one, so the energy after it is missing, never
 * invented; the first failure is kept for the result's note. */
static void reading_lost(gt_measurement *m, const gt_error *why, double j[GT_COMPONENTS])
{
    double good_t = m->t0;
    if (!meter_last_good(m->meter, &good_t, j))
        memcpy(j, m->j0, sizeof m->j0);
    if (m->lost_count++ == 0) {
        m->lost = *why;
        m->lost_after_s = good_t - m->t0;
    }
}

/* Reads the counters at a task boundary; 0 when the meter failed there (the
 * reading is then the last good one, with the real time). */
static int boundary_read(gt_measurement *m, double *t, double j[GT_COMPONENTS])
{
    gt_error err = {0};
    if (meter_read_timed(m->meter, t, j, &err) == GT_OK)
        return 1;
    reading_lost(m, &err, j);
    return 0;
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
                            "task name '%.64s': use 1 to %d characters from A-Z a-z 0-9 _ . : / + -",
                            name ? name : "(null)", GT_TASK_NAME_MAX);
    return GT_OK;
}

gt_status gt_measurement_task_start(gt_measurement *m, const char *name, gt_error *err)
{
    gt_status s = check_name(name, err);
    if (s != GT_OK)
        return s;
    pthread_mutex_lock(&m->lock);
    task *t = find_task(m, name);
    if (t && t->running) {
        s = gt_error_set(err, GT_ERR_INVALID, "task '%s': already running (stop it before starting it again)", name);
    } else if (!t && m->task_count == TASKS_MAX) {
        s = gt_error_set(err, GT_ERR_NOMEM, "task '%s': more than %d task names in one measurement", name,
                         TASKS_MAX);
    } else if (!t) {
        task *bigger = realloc(m->tasks, (size_t)(m->task_count + 1) * sizeof *bigger);
        if (!bigger) {
            s = gt_error_set(err, GT_ERR_NOMEM, "task '%s': out of memory", name);
        } else {
            m->tasks = bigger;
            t = &m->tasks[m->task_count++];
            memset(t, 0, sizeof *t);
            snprintf(t->result.name, sizeof t->result.name, "%s", name);
        }
    }
    if (s == GT_OK) {
        t->start_lost = !boundary_read(m, &t->t_start, t->j_start);
        t->result.incomplete |= t->start_lost;
        t->running = 1;
    }
    pthread_mutex_unlock(&m->lock);
    return s;
}

/* Adds the window from the task's start to (t, j) and stops it. A run whose
 * start reading was lost adds its time but no energy: any figure would
 * include energy from before it began. */
static void close_task(task *k, double t, const double j[GT_COMPONENTS])
{
    gt_energy_window *w = &k->result.window;
    if (k->start_lost)
        memcpy(k->j_start, j, sizeof k->j_start);
    for (int c = 0; c < GT_COMPONENTS; c++) {
        w->joules[c] += j[c] - k->j_start[c];
        w->energy_j += j[c] - k->j_start[c];
    }
    w->duration_s += t - k->t_start;
    k->result.runs++;
    k->running = 0;
}

gt_status gt_measurement_task_stop(gt_measurement *m, const char *name, gt_error *err)
{
    gt_status s = check_name(name, err);
    if (s != GT_OK)
        return s;
    pthread_mutex_lock(&m->lock);
    task *k = find_task(m, name);
    double t, j[GT_COMPONENTS];
    if (!k || !k->running) {
        s = gt_error_set(err, GT_ERR_INVALID, "task '%s': stop without a start", name);
    } else {
        k->result.incomplete |= !boundary_read(m, &t, j);
        close_task(k, t, j);
    }
    pthread_mutex_unlock(&m->lock);
    return s;
}

static void fill_result(gt_measurement *m, double t, const double j[GT_COMPONENTS], gt_energy_result *r)
{
    snprintf(r->meter, sizeof r->meter, "%s", gt_meter_name(m->meter));
    r->estimated = gt_meter_is_estimate(m->meter);
    r->scope = r->estimated ? m->opt.scope : GT_SCOPE_MACHINE;
    for (int c = 0; c < GT_COMPONENTS; c++) {
        snprintf(r->sources[c], sizeof r->sources[c], "%s", gt_meter_source(m->meter, (gt_component)c));
        r->total.joules[c] = j[c] - m->j0[c];
        r->total.energy_j += r->total.joules[c];
    }
    snprintf(r->description, sizeof r->description, "%s", gt_meter_describe(m->meter));
    r->total.duration_s = t - m->t0;
    r->avg_power_w = r->total.duration_s > 0 ? r->total.energy_j / r->total.duration_s : 0;
    r->interval_ms = m->opt.interval_ms;
    estimate_machine_info(r->cpu_model, sizeof r->cpu_model, &r->cpu_count, &r->ram_total_gb);
    meter_gpu_info(m->meter, &r->gpu_count, r->gpu_model, sizeof r->gpu_model);
    for (int i = 0; i < gt_meter_note_count(m->meter); i++)
        energy_note_add(&r->notes, &r->note_count, "%s", gt_meter_note(m->meter, i));
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

gt_status gt_measurement_finish(gt_measurement *m, gt_energy_result *r, gt_error *err)
{
    memset(r, 0, sizeof *r);
    double t, j[GT_COMPONENTS];
    sampler_stats st = {0};
    pthread_mutex_lock(&m->lock);
    gt_error final = {0};
    gt_status s = m->sampler ? sampler_stop(m->sampler, &t, j, &st, &final) : meter_read_timed(m->meter, &t, j, &final);
    m->sampler = NULL;
    /* A meter that failed at the end still leaves what it measured before. */
    int complete = s == GT_OK;
    if (!complete)
        reading_lost(m, &final, j);
    s = GT_OK;
    {
        fill_result(m, t, j, r);
        take_samples(m, &st, r);
        r->incomplete = !complete;
        if (m->lost_count)
            energy_note_add(&r->notes, &r->note_count,
                            "meter: %d reading(s) failed (first: %s); energy after %.3f s stops at the last good "
                            "reading, so what is marked incomplete is a lower bound",
                            m->lost_count, m->lost.message, m->lost_after_s);
        for (int i = 0; i < m->task_count; i++)
            if (m->tasks[i].running) {
                close_task(&m->tasks[i], t, j);
                m->tasks[i].result.incomplete |= !complete;
                m->tasks[i].result.open_at_finish = 1;
                energy_note_add(&r->notes, &r->note_count, "task '%s': still running at the end; closed there",
                                m->tasks[i].result.name);
            }
        if (m->task_count && !(r->tasks = calloc((size_t)m->task_count, sizeof *r->tasks)))
            s = gt_error_set(err, GT_ERR_NOMEM, "measurement: out of memory");
        for (int i = 0; i < m->task_count && r->tasks; i++)
            r->tasks[i] = m->tasks[i].result;
        r->task_count = r->tasks ? m->task_count : 0;
    }
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
        sampler_stop(m->sampler, &t, j, &st, NULL);
        free(st.trace);
    }
    gt_meter_close(m->meter);
    free(m->tasks);
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
    struct timespec left = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    while (nanosleep(&left, &left) != 0 && errno == EINTR)
        ;
    return gt_measurement_finish(m, r, err);
}
